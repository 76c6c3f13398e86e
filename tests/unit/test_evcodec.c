/*
 * Unit tests of store/evcodec: events of every value type survive a batch unchanged (checked
 * as their JSON), times and addresses take their compact forms, events decode on their own
 * in any order, a full buffer leaves the batch as it was, a vendor field typed differently
 * by the reading process, strings written as their place in event.original (version 2) and
 * version 1 batches, and damaged batches (every cut, every flipped byte, references outside
 * event.original) are refused or read without overrunning.
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

/* One event's batch of ev into b (reset). */
static void batch_of(struct evcodec_writer *w, struct buf *b, const struct event *ev)
{
	buf_reset(b);
	CHECK_INT(evcodec_begin(w, b), 0);
	CHECK_INT(evcodec_add(w, b, ev), 0);
	CHECK_INT(evcodec_finish(w, b), 0);
}

/* The JSON of the one event of batch b, or "" when it does not decode (e says why). */
static void decode_one(const struct buf *b, struct arena *a, struct buf *json, struct err *e)
{
	struct evcodec_reader r;
	const void *evp;
	size_t evlen;
	struct event ev;

	buf_reset(json);
	evcodec_reader_init(&r);
	arena_clear(a);
	event_init(&ev, a);
	if (evcodec_open(&r, b->p, b->len, e) == 0 && evcodec_next(&r, &evp, &evlen, e) == 1 &&
	    evcodec_decode(&r, evp, evlen, &ev, e) == 0)
		CHECK_INT(event_write_json(&ev, json), 0);
	evcodec_reader_release(&r);
}

/*
 * A decoder's fields point into its raw line: written as their place in event.original, a
 * value before the original or too short to gain as its bytes; the same JSON comes back.
 */
static void test_references(void)
{
	/* the original is big's first sizeof(line) - 1 bytes: big goes on past it */
	static const char big[] = "<14>Mar 15 03:00:00 fw-01 sshd[42]: Failed password for root tail";
	static const char line[] = "<14>Mar 15 03:00:00 fw-01 sshd[42]: Failed password for root";
	struct evcodec_writer w;
	struct buf refs = BUF_INIT(1 << 16), copies = BUF_INIT(1 << 16);
	struct buf want = BUF_INIT(1 << 16), got = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	const char *msg = strstr(line, "Failed");

	arena_init(&a, 1 << 16, 1 << 20);
	evcodec_writer_init(&w);
	for (int copy = 0; copy < 2; copy++) {
		const char *l = copy ? arena_strndup(&a, line, sizeof(line) - 1) : big;

		event_init(&ev, &a);
		/* before the original: its bytes, whatever it points into */
		CHECK_INT(event_set_str(&ev, FIELD_LOG_SYSLOG_VERSION, big + 1, 2), 0);
		CHECK_INT(event_set_str(&ev, FIELD_EVENT_ORIGINAL, big, sizeof(line) - 1), 0);
		CHECK_INT(event_set_str(&ev, FIELD_HOST_NAME, l + 20, 5), 0);
		CHECK_INT(event_set_str(&ev, FIELD_PROCESS_NAME, l + 26, 4), 0);
		CHECK_INT(event_set_str(&ev, FIELD_USER_NAME, l + sizeof(line) - 5, 4), 0);
		CHECK_INT(event_set_str(&ev, FIELD_EVENT_OUTCOME, "failure", 7), 0);
		CHECK_INT(event_set_str(&ev, FIELD_EVENT_CODE, l + 23, 1), 0); /* 1 byte: as is */
		CHECK_INT(event_set_str(&ev, FIELD_MESSAGE, l + (msg - line), strlen(msg)), 0);
		CHECK_INT(event_add_str(&ev, FIELD_EVENT_ORIGINAL, l + 4, 15), 0); /* a second one */
		/* from inside the original to past its end: its bytes */
		CHECK_INT(event_set_str(&ev, FIELD_EVENT_REASON, big + sizeof(line) - 5, 9), 0);
		batch_of(&w, copy ? &copies : &refs, &ev);
		if (!copy) {
			CHECK_INT(event_write_json(&ev, &want), 0);
			arena_clear(&a);
		}
	}
	/* host, program, user, message and the second original: about their bytes smaller */
	CHECK(memmem(refs.p, refs.len, "password for root tail", 22) == NULL);
	CHECK(memmem(refs.p, refs.len, "root tail", 9) != NULL); /* the reason, past the end */
	CHECK(refs.len + 5 + 4 + 4 + strlen(msg) + 15 - 5 * 2 <= copies.len);
	decode_one(&refs, &a, &got, &e);
	CHECK_STR(got.p, want.p);
	decode_one(&copies, &a, &got, &e);
	CHECK_STR(got.p, want.p);
	{ /* decoded, written again (pointing into the batch) and decoded: the same */
		struct evcodec_reader r;
		const void *evp;
		size_t evlen;
		struct buf again = BUF_INIT(1 << 16);

		evcodec_reader_init(&r);
		arena_clear(&a);
		event_init(&ev, &a);
		CHECK_INT(evcodec_open(&r, refs.p, refs.len, &e), 0);
		CHECK_INT(evcodec_next(&r, &evp, &evlen, &e), 1);
		CHECK_INT(evcodec_decode(&r, evp, evlen, &ev, &e), 0);
		batch_of(&w, &again, &ev);
		CHECK(again.len == refs.len);
		decode_one(&again, &a, &got, &e);
		CHECK_STR(got.p, want.p);
		evcodec_reader_release(&r);
		buf_release(&again);
	}
	evcodec_writer_release(&w);
	arena_release(&a);
	buf_release(&refs);
	buf_release(&copies);
	buf_release(&want);
	buf_release(&got);
}

/* A batch by hand: event.original "hello" then message as string bytes s (n of them). */
static void hand_batch(struct buf *b, unsigned version, const char *s, size_t n)
{
	static const char names[] = "\x01\x02\x00\x0e"
				    "event.original"
				    "\x00\x07"
				    "message";
	size_t ev_at, names_at;
	unsigned char le[8] = { 0 };

	buf_reset(b);
	CHECK_INT(buf_add(b, "KE", 2), 0);
	CHECK_INT(buf_addch(b, (char)version), 0);
	CHECK_INT(buf_addch(b, 0), 0);
	ev_at = b->len;
	CHECK_INT(buf_add(b, "\0\0\0\0\x02\x00", 6), 0);
	CHECK_INT(buf_addch(b, version == 1 ? 5 : 10), 0);
	CHECK_INT(buf_add(b, "hello\x01", 6), 0);
	CHECK_INT(buf_add(b, s, n), 0);
	b->p[ev_at] = (char)(b->len - ev_at - 4);
	names_at = b->len;
	CHECK_INT(buf_add(b, names, sizeof(names) - 1), 0);
	CHECK_INT(buf_add(b, le, 8), 0);
	le[0] = (unsigned char)names_at;
	CHECK_INT(buf_add(b, le, 4), 0);
}

static void test_versions_and_bad_references(void)
{
	struct buf b = BUF_INIT(1 << 12), json = BUF_INIT(1 << 12);
	struct err e = ERR_INIT;
	struct arena a;

	arena_init(&a, 1 << 16, 1 << 20);
	hand_batch(&b, 1, "\x03llo", 4); /* version 1: a length, the bytes */
	decode_one(&b, &a, &json, &e);
	CHECK(strstr(json.p, "\"message\":\"llo\"") != NULL);
	hand_batch(&b, 2, "\x06llo", 4); /* version 2: twice the length */
	decode_one(&b, &a, &json, &e);
	CHECK(strstr(json.p, "\"message\":\"llo\"") != NULL);
	hand_batch(&b, 2, "\x07\x02", 2); /* 3 bytes at 2 of event.original */
	decode_one(&b, &a, &json, &e);
	CHECK(strstr(json.p, "\"message\":\"llo\"") != NULL);
	hand_batch(&b, 2, "\x0b\x00", 2); /* 5 bytes at 0: all of it */
	decode_one(&b, &a, &json, &e);
	CHECK(strstr(json.p, "\"message\":\"hello\"") != NULL);
	hand_batch(&b, 2, "\x07\x03", 2); /* 3 bytes at 3: past its end */
	decode_one(&b, &a, &json, &e);
	CHECK_STR(json.p, "");
	CHECK(strstr(e.msg, "outside the event's event.original") != NULL);
	hand_batch(&b, 2, "\x01\x06", 2); /* no bytes at 6 */
	decode_one(&b, &a, &json, &e);
	CHECK_STR(json.p, "");
	/* a reference before any event.original: the original is the message's name here */
	hand_batch(&b, 2, "\x07\x00", 2);
	b.p[4 + 4 + 1] = 1; /* the first value's name (after its u32 length, its count): message */
	decode_one(&b, &a, &json, &e);
	CHECK_STR(json.p, "");
	CHECK(strstr(e.msg, "outside the event's event.original") != NULL);
	arena_release(&a);
	buf_release(&b);
	buf_release(&json);
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
	CHECK_INT(evcodec_open(&r, "KE\x03", 16, &e), -EBADMSG);
	CHECK(strstr(e.msg, "version 3") != NULL);
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
	T_RUN(test_references);
	T_RUN(test_versions_and_bad_references);
	T_RUN(test_damage);
	return t_done();
}
