/*
 * Unit tests of store/evcodec: events of every value type survive a batch unchanged (checked
 * as their JSON), times and addresses take their compact forms, events decode on their own
 * in any order, a full buffer leaves the batch as it was, a vendor field typed differently
 * by the reading process, and damaged batches (every cut, every flipped byte) are refused
 * or read without overrunning.
 */
#include "store/evcodec.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define T0 (INT64_C(1773543600) * 1000000000) /* 2026-03-15T03:00:00Z */

static void make_event(struct event *ev, int i)
{
	struct ipaddr v4, v6;
	char *msg = arena_alloc(ev->arena, 64);
	int n = snprintf(msg, 64, "line %d \"quoted\"\n\ttab \xc3\xa9 \\ end", i);
	int vendor = field_intern("panos.rule_uuid", 15, FT_STR);

	CHECK_INT(ipaddr_parse(&v4, "10.1.2.3", 8), 0);
	CHECK_INT(ipaddr_parse(&v6, "2001:db8::7", 11), 0);
	CHECK_INT(event_set_time(ev, FIELD_TIMESTAMP, T0 + i * INT64_C(1000000)), 0);
	CHECK_INT(event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, (size_t)n), 0);
	CHECK_INT(event_set_time(ev, FIELD_EVENT_INGESTED, T0 - 5), 0);
	CHECK_INT(event_set_int(ev, FIELD_SOURCE_PORT, 40000 + i), 0);
	CHECK_INT(event_set_int(ev, FIELD_KOBAN_CLOCK_SKEW_SECONDS, -3600 - i), 0);
	CHECK_INT(event_set_ip(ev, FIELD_SOURCE_IP, &v4), 0);
	CHECK_INT(event_set_ip(ev, FIELD_DESTINATION_IP, &v6), 0);
	CHECK_INT(event_add_str(ev, FIELD_EVENT_CATEGORY, "network", 7), 0);
	CHECK_INT(event_add_str(ev, FIELD_EVENT_CATEGORY, "", 0), 0);
	if (i % 2)
		CHECK_INT(event_add_str(ev, (unsigned)vendor, "u-1", 3), 0);
}

static void json_of(const struct event *ev, struct buf *out)
{
	buf_reset(out);
	CHECK_INT(event_write_json(ev, out), 0);
}

static void test_round_trip(void)
{
	struct evcodec_writer w;
	struct evcodec_reader r;
	struct buf b = BUF_INIT(1 << 20), want = BUF_INIT(1 << 16), got = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	struct arena a;
	const void *evp[8];
	size_t evlen[8];
	struct event ev;

	arena_init(&a, 1 << 16, 1 << 20);
	evcodec_writer_init(&w);
	evcodec_reader_init(&r);
	CHECK_INT(buf_adds(&b, "prefix"), 0); /* a batch may start anywhere in the buffer */
	CHECK_INT(evcodec_begin(&w, &b), 0);
	for (int i = 0; i < 8; i++) {
		arena_clear(&a);
		event_init(&ev, &a);
		make_event(&ev, i);
		CHECK_INT(evcodec_add(&w, &b, &ev), 0);
	}
	CHECK_INT(evcodec_count(&w), 8);
	CHECK_INT(evcodec_finish(&w, &b), 0);
	CHECK_INT(evcodec_open(&r, b.p + 6, b.len - 6, &e), 0);
	CHECK_INT(evcodec_events(&r), 8);
	for (int i = 0; i < 8; i++)
		CHECK_INT(evcodec_next(&r, &evp[i], &evlen[i], &e), 1);
	CHECK_INT(evcodec_next(&r, &evp[0], &evlen[0], &e), 0);
	for (int i = 7; i >= 0; i--) { /* newest first, each on its own */
		arena_clear(&a);
		event_init(&ev, &a);
		make_event(&ev, i);
		json_of(&ev, &want);
		arena_clear(&a);
		event_init(&ev, &a);
		CHECK_INT(evcodec_decode(&r, evp[i], evlen[i], &ev, &e), 0);
		json_of(&ev, &got);
		CHECK_STR(got.p, want.p);
	}
	/* compact: the names once, the addresses 4 and 16 bytes, no JSON quoting */
	CHECK(b.len - 6 < 8 * want.len / 2);
	/* a second batch in the same writer starts with an empty name table */
	buf_reset(&b);
	CHECK_INT(evcodec_begin(&w, &b), 0);
	CHECK_INT(evcodec_finish(&w, &b), 0);
	CHECK_INT(evcodec_open(&r, b.p, b.len, &e), 0);
	CHECK_INT(evcodec_events(&r), 0);
	CHECK_INT(r.n_names, 0);
	CHECK_INT(evcodec_next(&r, &evp[0], &evlen[0], &e), 0);
	evcodec_reader_release(&r);
	evcodec_writer_release(&w);
	arena_release(&a);
	buf_release(&b);
	buf_release(&want);
	buf_release(&got);
}

static void test_full_buffer_keeps_batch(void)
{
	struct evcodec_writer w;
	struct evcodec_reader r;
	struct buf b = BUF_INIT(600);
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	int i, rc = 0;

	arena_init(&a, 1 << 16, 1 << 20);
	evcodec_writer_init(&w);
	evcodec_reader_init(&r);
	CHECK_INT(evcodec_begin(&w, &b), 0);
	for (i = 0; i < 100 && rc == 0; i++) {
		arena_clear(&a);
		event_init(&ev, &a);
		make_event(&ev, i);
		rc = evcodec_add(&w, &b, &ev);
	}
	CHECK_INT(rc, -ENOSPC);
	CHECK_INT(evcodec_count(&w), (uint32_t)(i - 1));
	b.max = 1 << 16; /* room for the names */
	CHECK_INT(evcodec_finish(&w, &b), 0);
	CHECK_INT(evcodec_open(&r, b.p, b.len, &e), 0);
	CHECK_INT(evcodec_events(&r), (uint32_t)(i - 1));
	evcodec_reader_release(&r);
	evcodec_writer_release(&w);
	arena_release(&a);
	buf_release(&b);
}

static void test_other_types_here(void)
{
	int as_int = field_intern("zz.test.count", 13, FT_INT);
	int as_str = field_intern("zz.test.text", 12, FT_STR);
	struct evcodec_writer w;
	struct evcodec_reader r;
	struct buf b = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	const void *evp;
	size_t evlen;
	char *name;
	const char *s;
	size_t len;

	CHECK(as_int >= 0 && as_str >= 0);
	arena_init(&a, 1 << 16, 1 << 20);
	evcodec_writer_init(&w);
	evcodec_reader_init(&r);
	/* written with zz.test.text as a string and zz.test.count as a number */
	event_init(&ev, &a);
	CHECK_INT(event_set_str(&ev, (unsigned)as_str, "abc", 3), 0);
	CHECK_INT(event_set_int(&ev, (unsigned)as_int, 42), 0);
	CHECK_INT(evcodec_begin(&w, &b), 0);
	CHECK_INT(evcodec_add(&w, &b, &ev), 0);
	CHECK_INT(evcodec_finish(&w, &b), 0);
	/* read by a process that types them the other way round: swap the names in place */
	name = memmem(b.p, b.len, "zz.test.text", 12);
	CHECK(name != NULL);
	memcpy(name, "zz.test.cxxx", 12);
	name = memmem(b.p, b.len, "zz.test.count", 13);
	CHECK(name != NULL);
	memcpy(name, "zz.test.textx", 13);
	CHECK(field_intern("zz.test.cxxx", 12, FT_INT) >= 0); /* a number here, a string there */
	CHECK(field_intern("zz.test.textx", 13, FT_STR) >= 0);
	CHECK_INT(evcodec_open(&r, b.p, b.len, &e), 0);
	CHECK_INT(evcodec_next(&r, &evp, &evlen, &e), 1);
	arena_clear(&a);
	event_init(&ev, &a);
	CHECK_INT(evcodec_decode(&r, evp, evlen, &ev, &e), -EBADMSG);
	CHECK(strstr(e.msg, "zz.test.cxxx") != NULL);
	/* a number stored where this process has text: read as its text */
	memcpy(name, "zz.test.texty", 13);
	name = memmem(b.p, b.len, "zz.test.cxxx", 12);
	memcpy(name, "zz.test.text", 12);
	CHECK(field_intern("zz.test.texty", 13, FT_STR) >= 0);
	CHECK_INT(evcodec_open(&r, b.p, b.len, &e), 0);
	CHECK_INT(evcodec_next(&r, &evp, &evlen, &e), 1);
	arena_clear(&a);
	event_init(&ev, &a);
	CHECK_INT(evcodec_decode(&r, evp, evlen, &ev, &e), 0);
	CHECK_INT(event_get_str(&ev, (unsigned)field_lookup("zz.test.texty", 13), &s, &len), 1);
	CHECK_MEM(s, len, "42");
	evcodec_reader_release(&r);
	evcodec_writer_release(&w);
	arena_release(&a);
	buf_release(&b);
}

/* Reads every event of a batch; returns how many decoded. */
static unsigned read_all(struct evcodec_reader *r, const char *p, size_t len, struct arena *a)
{
	struct err e = ERR_INIT;
	const void *evp;
	size_t evlen;
	unsigned n = 0;

	if (evcodec_open(r, p, len, &e) < 0) {
		CHECK(e.msg[0] != '\0');
		return 0;
	}
	while (evcodec_next(r, &evp, &evlen, &e) > 0) {
		struct event ev;

		arena_clear(a);
		event_init(&ev, a);
		if (evcodec_decode(r, evp, evlen, &ev, &e) == 0)
			n++;
	}
	return n;
}

static void test_damage(void)
{
	struct evcodec_writer w;
	struct evcodec_reader r;
	struct buf b = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	char *copy;

	arena_init(&a, 1 << 16, 1 << 20);
	evcodec_writer_init(&w);
	evcodec_reader_init(&r);
	CHECK_INT(evcodec_begin(&w, &b), 0);
	for (int i = 0; i < 3; i++) {
		arena_clear(&a);
		event_init(&ev, &a);
		make_event(&ev, i);
		CHECK_INT(evcodec_add(&w, &b, &ev), 0);
	}
	CHECK_INT(evcodec_finish(&w, &b), 0);
	CHECK_INT(read_all(&r, b.p, b.len, &a), 3);
	/* every cut: exactly sized copies so that the sanitizers see any overrun */
	for (size_t n = 0; n < b.len; n++) {
		copy = malloc(n ? n : 1);
		memcpy(copy, b.p, n);
		CHECK(read_all(&r, copy, n, &a) == 0);
		free(copy);
	}
	/* every byte flipped: refused, or read within bounds */
	copy = malloc(b.len);
	for (size_t i = 0; i < b.len; i++) {
		memcpy(copy, b.p, b.len);
		copy[i] ^= 0x5a;
		CHECK(read_all(&r, copy, b.len, &a) <= 3);
	}
	free(copy);
	CHECK_INT(evcodec_open(&r, "KE\x02", 16, &e), -EBADMSG);
	CHECK(strstr(e.msg, "version 2") != NULL);
	evcodec_reader_release(&r);
	evcodec_writer_release(&w);
	arena_release(&a);
	buf_release(&b);
}

int main(void)
{
	T_RUN(test_round_trip);
	T_RUN(test_full_buffer_keeps_batch);
	T_RUN(test_other_types_here);
	T_RUN(test_damage);
	return t_done();
}
