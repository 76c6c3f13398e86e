/*
 * Unit tests of the segment files: exact round trips of generated firewall events, time and
 * min/max skipping, blooms (never a false negative, measured false-positive rate), the
 * inverted index, keys, edits of the clear text (the MAC, relabelled versions), damage anywhere
 * in a file, unfinished files, allocation failures.
 */
#include "store/segment.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "store/keys.h"
#include "t.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define T0 1764460800000000000LL /* 2025-11-30T00:00:00Z */
#define DAY0 20422u              /* its day number */
#define TENANT 7

static struct keys_data_key key1, key2;
static int f_related, f_panos_rule, f_panos_session, f_panos_flag, f_hash, f_category;
static char dir[600];

static void fresh(const char *name)
{
	char cmd[1400];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	CHECK_INT(system(cmd), 0);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static const char *const actions[] = { "allow", "deny", "drop", "reset-both" };
static const char *const users[] = { "alice", "bob", "carol", "svc-backup", "Dave" };
static const char *const apps[] = { "ssl", "web-browsing", "dns", "ssh", "ms-rdp" };
static const int ports[] = { 443, 80, 53, 22, 3389, 8080, 25 };

/* Event i of a deterministic stream of PAN-OS-like traffic logs, built in a. */
static void gen(struct event *ev, struct arena *a, unsigned i)
{
	uint64_t r = mix(i);
	struct ipaddr src, dst, nat;
	char text[64], line[600];
	const char *action = actions[r % 4], *app = apps[(r >> 8) % 5];
	int sport = 1024 + (int)((r >> 16) % 60000), dport = ports[(r >> 32) % 7];
	int64_t ts = T0 + (int64_t)i * 1000000 + (int64_t)((r >> 40) % 5000000); /* not in order */
	int n;

	event_init(ev, a);
	snprintf(text, sizeof(text), "10.%u.%u.%u", (unsigned)(r % 4), (unsigned)((r >> 3) % 250),
		 (unsigned)((r >> 11) % 250)); /* a thousand or so sources */
	ipaddr_parse(&src, text, strlen(text));
	snprintf(text, sizeof(text), "%u.%u.%u.%u", 20 + (unsigned)((r >> 20) % 180),
		 (unsigned)((r >> 28) % 256), (unsigned)((r >> 36) % 256), (unsigned)((r >> 44) % 256));
	ipaddr_parse(&dst, text, strlen(text));
	if (i % 97 == 0)
		ipaddr_parse(&dst, "2001:db8::1", 11);
	ipaddr_parse(&nat, "203.0.113.7", 11);
	if (i % 1000 != 999)
		event_set_time(ev, FIELD_TIMESTAMP, ts);
	event_set_ip(ev, FIELD_SOURCE_IP, &src);
	event_set_int(ev, FIELD_SOURCE_PORT, sport);
	event_set_ip(ev, FIELD_DESTINATION_IP, &dst);
	event_set_int(ev, FIELD_DESTINATION_PORT, dport);
	event_set_ip(ev, FIELD_SOURCE_NAT_IP, &nat);
	event_add_ip(ev, (unsigned)f_related, &dst);
	if (i % 4 == 0) /* a second value: found by the index too */
		event_add_ip(ev, (unsigned)f_related, &src);
	event_set_str(ev, FIELD_EVENT_ACTION, action, strlen(action));
	event_set_str(ev, FIELD_EVENT_OUTCOME, r & 1 ? "success" : "failure", r & 1 ? 7 : 7);
	event_add_str(ev, (unsigned)f_category, "network", 7);
	if (i % 5 == 0)
		event_add_str(ev, (unsigned)f_category, "intrusion_detection", 19);
	if (i % 3)
		event_set_str(ev, FIELD_USER_NAME, users[(r >> 50) % 5], strlen(users[(r >> 50) % 5]));
	event_set_str(ev, FIELD_HOST_NAME, i % 2 ? "fw-01" : "fw-02", 5);
	event_set_str(ev, FIELD_NETWORK_TRANSPORT, "tcp", 3);
	event_set_int(ev, FIELD_NETWORK_BYTES, (int64_t)(r % 100000) - 10);
	event_set_str(ev, FIELD_OBSERVER_VENDOR, "Palo Alto Networks", 18);
	event_set_str(ev, (unsigned)f_panos_rule, app, strlen(app));
	event_set_int(ev, (unsigned)f_panos_session, (int64_t)(r >> 20));
	event_set_bool(ev, (unsigned)f_panos_flag, (r >> 5) & 1);
	if (i % 7 == 0) {
		snprintf(text, sizeof(text), "%016llx%016llx", (unsigned long long)r,
			 (unsigned long long)mix(r));
		event_set_strdup(ev, (unsigned)f_hash, text, strlen(text));
	}
	if (i % 11 == 0)
		event_set_str(ev, FIELD_URL_DOMAIN, "", 0); /* an empty string survives too */
	else if (i % 4 == 0)
		event_set_str(ev, FIELD_URL_DOMAIN, "example.org", 11);
	n = snprintf(line, sizeof(line),
		     "<14>Nov 30 00:00:00 fw-0%u 1,2025/11/30 00:00:00,0123456789,TRAFFIC,end,2561,"
		     "2025/11/30 00:00:00,%s,%s,203.0.113.7,0.0.0.0,rule-%u,%s,,%s,vsys1,trust,"
		     "untrust,ethernet1/1,ethernet1/2,Forward,%llu,1,%d,%d,0,0,0x19,tcp,%s,%llu",
		     i % 2 + 1, "SRC", "DST", i % 40, i % 3 ? users[(r >> 50) % 5] : "", app,
		     (unsigned long long)(r >> 20), sport, dport, action,
		     (unsigned long long)(r % 100000));
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
}

/* Every value of every field equal, in the same order per field. */
static int same_event(const struct event *a, const struct event *b, unsigned i)
{
	if (a->n != b->n)
		return t_check(0, __FILE__, __LINE__, "event %u: %u values, decoded %u", i, a->n, b->n);
	for (uint32_t j = 0; j < a->n; j++) {
		const struct event_value *x = &a->vals[j];
		uint32_t nth = 0, k, seen = 0;

		for (k = 0; k < j; k++)
			nth += a->vals[k].field == x->field;
		for (k = 0; k < b->n; k++)
			if (b->vals[k].field == x->field && seen++ == nth)
				break;
		if (k == b->n)
			return t_check(0, __FILE__, __LINE__, "event %u: %s missing", i,
				       field_name(x->field));
		const struct event_value *y = &b->vals[k];
		bool eq;

		switch (field_type(x->field)) {
		case FT_STR:
			eq = x->len == y->len && !memcmp(x->v.s, y->v.s, x->len);
			break;
		case FT_IP:
			eq = !memcmp(&x->v.ip, &y->v.ip, sizeof(x->v.ip));
			break;
		default:
			eq = x->v.i == y->v.i;
			break;
		}
		if (!eq)
			return t_check(0, __FILE__, __LINE__, "event %u: %s differs", i,
				       field_name(x->field));
	}
	return 1;
}

static int write_segment(uint32_t seq, unsigned count, const struct keys_data_key *k,
			 struct err *e)
{
	struct segment_writer *w = NULL;
	struct arena a;
	struct event ev;
	int rc;

	arena_init(&a, 1 << 16, 1 << 24);
	rc = segment_writer_open(&w, dir, TENANT, DAY0, seq, k, e);
	for (unsigned i = 0; rc == 0 && i < count; i++) {
		gen(&ev, &a, i);
		rc = segment_writer_add(w, &ev, e);
		arena_clear(&a);
	}
	if (rc == 0)
		rc = segment_writer_finish(w, e);
	segment_writer_free(w);
	arena_release(&a);
	return rc;
}

static void seg_path(char *out, size_t size, uint32_t seq)
{
	char name[SEGMENT_NAME_MAX];

	segment_name(name, DAY0, seq);
	snprintf(out, size, "%s/%s", dir, name);
}

#define N_EVENTS 10000

static void test_names(void)
{
	char name[SEGMENT_NAME_MAX];
	uint32_t day, seq;

	CHECK_INT(segment_name(name, DAY0, 1), 0);
	CHECK_STR(name, "2025-11-30-0001.seg");
	CHECK_INT(segment_name_parse(name, &day, &seq), 0);
	CHECK_INT(day, DAY0);
	CHECK_INT(seq, 1);
	CHECK_INT(segment_name(name, 0, 12345), 0);
	CHECK_STR(name, "1970-01-01-12345.seg");
	CHECK_INT(segment_name_parse(".2025-11-30-0001.seg.tmp", &day, &seq), -EINVAL);
	CHECK_INT(segment_name_parse("2025-02-30-0001.seg", &day, &seq), -EINVAL);
	CHECK_INT(segment_name_parse("2025-11-30-01.seg", &day, &seq), -EINVAL);
	CHECK_INT(segment_name_parse("2025-11-30-0001.segx", &day, &seq), -EINVAL);
}

static void test_round_trip(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a, ga;
	char path[700];
	unsigned next = 0;
	uint64_t raw = 0;

	fresh("roundtrip");
	CHECK_INT(write_segment(1, N_EVENTS, &key1, &e), 0);
	if (e.msg[0])
		printf("  %s\n", e.msg);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	segment_get_info(s, &info);
	CHECK_INT(info.events, N_EVENTS);
	CHECK_INT(info.blocks, (N_EVENTS + SEGMENT_BLOCK_EVENTS - 1) / SEGMENT_BLOCK_EVENTS);
	CHECK_INT(info.day, DAY0);
	CHECK_INT(info.seq, 1);
	CHECK(info.tmin >= T0 && info.tmax < T0 + (int64_t)N_EVENTS * 1000000 + 5000000);
	arena_init(&a, 1 << 20, 1 << 28);
	arena_init(&ga, 1 << 16, 1 << 24);
	for (unsigned b = 0; b < info.blocks; b++) {
		struct event *evs;
		uint32_t n;

		CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
		for (uint32_t i = 0; i < n; i++, next++) {
			struct event want;

			gen(&want, &ga, next);
			raw += event_get(&want, FIELD_EVENT_ORIGINAL)->len;
			if (!same_event(&want, &evs[i], next))
				break;
			arena_clear(&ga);
		}
		arena_clear(&a);
	}
	CHECK_INT(next, N_EVENTS);
	CHECK_INT(info.raw_bytes, raw);
	CHECK_INT(segment_verify(s, &e), 0);
	/* Only the fields asked for; the multi-valued event.category comes whole from its
	 * column and the row area. */
	{
		unsigned f[] = { FIELD_TIMESTAMP, FIELD_SOURCE_IP, (unsigned)f_category,
				 (unsigned)f_panos_rule };
		struct event *evs;
		uint32_t n;

		CHECK_INT(segment_block_read(s, 0, f, 4, &a, &evs, &n, &e), 0);
		for (uint32_t i = 0; i < n; i++) {
			struct event want;
			unsigned cats = 0;

			gen(&want, &ga, i);
			for (uint32_t j = 0; j < evs[i].n; j++) {
				unsigned fid = evs[i].vals[j].field;

				CHECK(fid == f[0] || fid == f[1] || fid == f[2] || fid == f[3]);
				cats += fid == (unsigned)f_category;
			}
			CHECK_INT(cats, i % 5 == 0 ? 2 : 1);
			CHECK((event_get(&evs[i], FIELD_TIMESTAMP) != NULL) == (i % 1000 != 999));
			CHECK(!memcmp(&event_get(&evs[i], FIELD_SOURCE_IP)->v.ip,
				      &event_get(&want, FIELD_SOURCE_IP)->v.ip, 16));
			arena_clear(&ga);
		}
	}
	segment_close(s);
	arena_release(&a);
	arena_release(&ga);
}

/* Row-selective reads: only the rows asked for, whole or some fields, in their order. */
static void test_read_rows(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct arena a, ga;
	char path[700];
	uint32_t rows[] = { 0, 1, 5, 777, 4000, 4095 }, bad[] = { 5, 5 }, past[] = { 4096 };
	unsigned f[] = { FIELD_SOURCE_IP, (unsigned)f_category, FIELD_EVENT_ORIGINAL };
	struct event *evs;
	uint32_t n;

	fresh("readrows");
	CHECK_INT(write_segment(1, N_EVENTS, &key1, &e), 0);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	arena_init(&a, 1 << 20, 1 << 28);
	arena_init(&ga, 1 << 16, 1 << 24);
	for (unsigned b = 0; b < 3; b++) { /* the last block has 1808 events */
		size_t nr = b == 2 ? 4 : sizeof(rows) / sizeof(rows[0]);

		CHECK_INT(segment_block_read_rows(s, b, rows, nr, NULL, 0, &a, &evs, &n, &e), 0);
		CHECK_INT(n, nr);
		for (uint32_t i = 0; i < n; i++) {
			struct event want;
			unsigned row = b * SEGMENT_BLOCK_EVENTS + rows[i];

			gen(&want, &ga, row);
			same_event(&want, &evs[i], row);
			arena_clear(&ga);
		}
		arena_clear(&a);
		CHECK_INT(segment_block_read_rows(s, b, rows, nr, f, 3, &a, &evs, &n, &e), 0);
		CHECK_INT(n, nr);
		for (uint32_t i = 0; i < n; i++) {
			struct event want;
			unsigned row = b * SEGMENT_BLOCK_EVENTS + rows[i];
			const struct event_value *o = event_get(&evs[i], FIELD_EVENT_ORIGINAL), *wo;

			gen(&want, &ga, row);
			wo = event_get(&want, FIELD_EVENT_ORIGINAL);
			CHECK_INT(evs[i].n, (row % 5 == 0 ? 4u : 3u));
			CHECK(o && o->len == wo->len && !memcmp(o->v.s, wo->v.s, o->len));
			CHECK(!memcmp(&event_get(&evs[i], FIELD_SOURCE_IP)->v.ip,
				      &event_get(&want, FIELD_SOURCE_IP)->v.ip, 16));
			arena_clear(&ga);
		}
		arena_clear(&a);
	}
	CHECK_INT(segment_block_read_rows(s, 0, rows, 0, NULL, 0, &a, &evs, &n, &e), 0);
	CHECK_INT(n, 0);
	CHECK_INT(segment_block_read_rows(s, 0, bad, 2, NULL, 0, &a, &evs, &n, &e), -EINVAL);
	CHECK(strstr(e.msg, "ascending") != NULL);
	CHECK_INT(segment_block_read_rows(s, 0, past, 1, NULL, 0, &a, &evs, &n, &e), -EINVAL);
	CHECK_INT(segment_block_read_rows(s, 2, rows, 6, NULL, 0, &a, &evs, &n, &e), -EINVAL);
	segment_close(s);
	arena_release(&a);
	arena_release(&ga);
}

/* Lines of event i of the text-column test (some with tricky bytes), and its values. */
static size_t text_line(unsigned i, char *line, size_t size)
{
	static const char *const odd[] = {
		"",                                        /* empty */
		"only text without any digit",
		"\x11\x12\x13\x14 placeholder bytes 42 deny", /* stored whole */
		"nul\0inside 7 deny",                      /* a NUL byte inside */
		"-5 -0 007 +3 9223372036854775807 9223372036854775808 -9223372036854775808",
		"same 10.1.2.3 10.1.2.3 x=abc1 y=abc1 abc1 010.1.2.3 ::1 0:0::1",
		"rule-7 deny 443 fw1 corp\\alice 10.1.2.3:443 [10.1.2.3]",
	};
	size_t k = i % 10;

	if (k == 7 || k == 8) { /* many variables, repeated near and far; a long line */
		size_t n = 0;

		for (unsigned j = 0; j < (k == 7 ? 300u : 3000u) && n + 64 < size; j++)
			n += (size_t)snprintf(line + n, size - n, "%s%u:%c%u ", j % 3 ? "x" : "",
					      (j * 7 + i) % 45, j % 5 ? 'a' : 'b', j % 40);
		return n;
	}
	if (k < sizeof(odd) / sizeof(odd[0])) {
		size_t n = k == 2 ? 30 : k == 3 ? 17 : strlen(odd[k]);

		memcpy(line, odd[k], n);
		return n;
	}
	return (size_t)snprintf(line, size, "<%u>t=%u src=10.1.2.%u dport=%d user=corp\\alice act=%s "
				"n=%d hex=0x%x rule-%u", i % 30, i, i % 7, 443 + (int)(i % 3),
				i % 2 ? "deny" : "allow", -(int)i, i * 2654435761u, i % 5);
}

static void text_event(struct event *ev, struct arena *a, unsigned i)
{
	static char line[40000];
	char text[32];
	struct ipaddr ip;
	size_t n = text_line(i, line, sizeof(line));

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i);
	snprintf(text, sizeof(text), "10.1.2.%u", i % 10 < 7 ? 3 : i % 7);
	ipaddr_parse(&ip, text, strlen(text));
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	event_set_int(ev, FIELD_DESTINATION_PORT, 443 + (int)(i % 3));
	event_set_str(ev, FIELD_EVENT_ACTION, i % 2 ? "deny" : "allow", i % 2 ? 4 : 5);
	event_set_str(ev, FIELD_USER_NAME, "corp\\alice", 10);
	event_set_strdup(ev, (unsigned)f_panos_rule, "rule-7", 6); /* row area */
	event_set_int(ev, (unsigned)f_panos_session, -(int64_t)i);
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, n);
	if (i % 13 == 0) /* a second value: both go to the row area, in order */
		event_add_str(ev, FIELD_EVENT_ORIGINAL, "second 1", 8);
	if (i % 4 == 0)
		event_set_strdup(ev, FIELD_MESSAGE, line, n);
}

/*
 * Segment 1 of a fresh directory holding the events make(i) makes for i < total, written
 * one at a time from ga (cleared after each); opened, or NULL (the failure is checked).
 */
static struct segment *write_one(const char *name, unsigned total,
				 void (*make)(struct event *, struct arena *, unsigned),
				 struct arena *ga)
{
	struct err e = ERR_INIT;
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	char path[700];

	fresh(name);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	if (!w)
		return NULL;
	for (unsigned i = 0; i < total; i++) {
		struct event ev;

		make(&ev, ga, i);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(ga);
	}
	CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	return s;
}

/*
 * Text columns (templates, variables, references): every line comes back byte for byte,
 * read whole, with only event.original asked for (its references decoded aside), and for
 * some rows only; its tokens are in the bloom.
 */
static void test_text_columns(void)
{
	struct err e = ERR_INIT;
	struct segment *s;
	struct arena a, ga;
	unsigned f[] = { FIELD_EVENT_ORIGINAL }, total = 5000;
	uint32_t rows[] = { 2, 3, 13, 26, 999 };

	arena_init(&a, 1 << 20, 1 << 28);
	arena_init(&ga, 1 << 16, 1 << 24);
	if (!(s = write_one("text", total, text_event, &ga)))
		return;
	for (unsigned b = 0, next = 0; b < 2; b++) {
		struct event *evs, *only;
		uint32_t n, n2;

		CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
		CHECK_INT(segment_block_read(s, b, f, 1, &a, &only, &n2, &e), 0);
		CHECK_INT(n2, n);
		for (uint32_t i = 0; i < n; i++, next++) {
			struct event want;
			const char *p, *end, *t;
			size_t tl;

			text_event(&want, &ga, next);
			if (!same_event(&want, &evs[i], next))
				break;
			CHECK_INT(only[i].n, event_get(&want, FIELD_EVENT_ORIGINAL) ? (next % 13 ? 1u : 2u) : 0u);
			for (uint32_t j = 0; j < only[i].n; j++) {
				const struct event_value *x = &only[i].vals[j], *y = &want.vals[0];

				for (uint32_t k = 0, seen = 0; k < want.n; k++)
					if (want.vals[k].field == FIELD_EVENT_ORIGINAL && seen++ == j)
						y = &want.vals[k];
				CHECK(x->len == y->len && !memcmp(x->v.s, y->v.s, x->len));
			}
			p = event_get(&want, FIELD_EVENT_ORIGINAL)->v.s;
			end = p + event_get(&want, FIELD_EVENT_ORIGINAL)->len;
			while (segment_token_next(&p, end, &t, &tl))
				CHECK(segment_block_may_contain(s, b, t, tl));
			arena_clear(&ga);
		}
		arena_clear(&a);
	}
	{
		struct event *evs;
		uint32_t n;

		CHECK_INT(segment_block_read_rows(s, 0, rows, 5, f, 1, &a, &evs, &n, &e), 0);
		CHECK_INT(n, 5);
		for (uint32_t i = 0; i < n; i++) {
			struct event want;
			const struct event_value *x = event_get(&evs[i], FIELD_EVENT_ORIGINAL), *y;

			text_event(&want, &ga, rows[i]);
			y = event_get(&want, FIELD_EVENT_ORIGINAL);
			CHECK(x && x->len == y->len && !memcmp(x->v.s, y->v.s, x->len));
			arena_clear(&ga);
		}
	}
	CHECK_INT(segment_verify(s, &e), 0);
	segment_close(s);
	arena_release(&a);
	arena_release(&ga);
}

/*
 * A line whose placeholder byte comes after variables in several streams is stored whole,
 * with those variables taken back: the lines around it, which use the same streams, come
 * back byte for byte.
 */
static const char *const placeholder_lines[] = {
	"a1 b2 7 9 x=3 y=4.5 deny 10.1.2.3",
	"a1 b2 7 9 x=3 y=4.5 \x12 then 11 more 12 variables",
	"a1 b2 8 9 x=3 y=4.6 deny 10.1.2.4",
	"c3 d4 \x14",
	"a1 b2 7 9 x=3 y=4.5 deny 10.1.2.3",
};
#define PLACEHOLDER_LINES (sizeof(placeholder_lines) / sizeof(placeholder_lines[0]))

static void placeholder_event(struct event *ev, struct arena *a, unsigned i)
{
	const char *l = placeholder_lines[i % PLACEHOLDER_LINES];

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i);
	event_set_str(ev, FIELD_EVENT_ORIGINAL, l, strlen(l));
}

static void test_placeholder_after_variables(void)
{
	unsigned total = 50 * PLACEHOLDER_LINES;
	struct err e = ERR_INIT;
	struct segment *s;
	struct arena a, ga;
	struct event *evs;
	uint32_t n;

	arena_init(&a, 1 << 20, 1 << 26);
	arena_init(&ga, 1 << 16, 1 << 20);
	if (!(s = write_one("placeholder", total, placeholder_event, &ga)))
		return;
	CHECK_INT(segment_block_read(s, 0, NULL, 0, &a, &evs, &n, &e), 0);
	CHECK_INT(n, total);
	for (uint32_t i = 0; i < n && i < total; i++) {
		const struct event_value *x = event_get(&evs[i], FIELD_EVENT_ORIGINAL);
		const char *l = placeholder_lines[i % PLACEHOLDER_LINES];

		if (!x || x->len != strlen(l) || memcmp(x->v.s, l, x->len)) {
			CHECK(!"a line came back otherwise");
			break;
		}
	}
	segment_close(s);
	arena_release(&a);
	arena_release(&ga);
}

/* Whether h holds n, ASCII case ignored (the search's full-text rule), by brute force. */
static bool icase_has(const char *h, size_t hl, const char *n, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++) {
		size_t k = 0;

		while (k < nl && tolower((unsigned char)h[i + k]) == tolower((unsigned char)n[k]))
			k++;
		if (k == nl)
			return true;
	}
	return false;
}

/*
 * Text search on templates and variables (segment_block_text_rows) against a reference
 * scan of the rebuilt lines: every row whose event.original holds the needle is given,
 * and for needles whose tokens cannot be an integer's or an address's text, exactly the
 * rows whose line holds each token, plus those whose event.original is in the row area.
 */
static void test_text_rows(void)
{
	static const char *const needles[] = {
		"alice", "Corp\\Alice act=DENY", "rule-7", "RULE-7 deny", "placeholder bytes",
		"x12:a3", "X12:A3 x", "zzz-nothing", "user=corp", "only text", "nul", "inside 7",
		"443", "10.1.2.3", "-17", "t=17 ", "9223372036854775807", "abc1 010", "::1",
		"0x", "deny", "=", "", "a", "same 10.1.2.3 10.1.2.3 x=abc1",
	};
	struct err e = ERR_INIT;
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct arena a, ga;
	char path[700];
	unsigned total = 5000;
	static uint32_t rows[SEGMENT_BLOCK_EVENTS];
	static bool want[SEGMENT_BLOCK_EVENTS], got[SEGMENT_BLOCK_EVENTS];

	fresh("textrows");
	arena_init(&a, 1 << 20, 1 << 28);
	arena_init(&ga, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	if (!w)
		return;
	for (unsigned i = 0; i < total; i++) {
		struct event ev;

		text_event(&ev, &ga, i);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(&ga);
	}
	CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	for (size_t k = 0; k < sizeof(needles) / sizeof(needles[0]); k++) {
		const char *nd = needles[k], *p, *end, *t;
		size_t ndl = strlen(nd), tl, given = 0, held = 0;
		unsigned fails = 0;
		bool exact = true;

		/* exact: every token has a byte that no integer's or address's text has */
		for (p = nd, end = nd + ndl; segment_token_next(&p, end, &t, &tl);) {
			bool other = false;

			for (size_t j = 0; j < tl; j++)
				other |= !strchr("0123456789abcdefABCDEF.:-", t[j]);
			exact &= other;
		}
		for (unsigned b = 0; b < 2; b++) {
			struct segment_block_info bi;
			struct event *evs;
			uint32_t n, nr = 0;

			segment_block_get_info(s, b, &bi);
			CHECK_INT(segment_block_text_rows(s, b, &nd, &ndl, 1, &a, rows, &nr, &e), 0);
			CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
			if (n != bi.count)
				break;
			memset(got, 0, sizeof(got));
			for (uint32_t i = 0; i < nr; i++) {
				CHECK(rows[i] < n && (!i || rows[i] > rows[i - 1]));
				if (rows[i] < n)
					got[rows[i]] = true;
			}
			for (uint32_t i = 0; i < n; i++) {
				const struct event_value *v = event_get(&evs[i], FIELD_EVENT_ORIGINAL);
				unsigned ev = (unsigned)bi.first_row + i;
				bool elsewhere = ev % 13 == 0, all = true;

				for (p = nd, end = nd + ndl; v && segment_token_next(&p, end, &t, &tl);)
					all &= icase_has(v->v.s, v->len, t, tl);
				want[i] = elsewhere || (v && all);
				if (v && icase_has(v->v.s, v->len, nd, ndl)) {
					held++;
					if (!got[i] && fails++ < 3)
						t_check(0, __FILE__, __LINE__, "needle '%s': row %u of block "
							"%u holds it but was not given", nd, i, b);
				}
				if (exact && got[i] != want[i] && fails++ < 3)
					t_check(0, __FILE__, __LINE__, "needle '%s': row %u of block %u "
						"given %d, expected %d", nd, i, b, got[i], want[i]);
			}
			given += nr;
			arena_clear(&a);
		}
		CHECK(given >= held);
	}
	{ /* several needles: the rows that may hold all of them */
		const char *nds[] = { "alice", "act=deny" };
		size_t lens[] = { 5, 8 };
		uint32_t nr = 0;

		CHECK_INT(segment_block_text_rows(s, 0, nds, lens, 2, &a, rows, &nr, &e), 0);
		CHECK(nr > 0 && nr < SEGMENT_BLOCK_EVENTS);
		arena_clear(&a);
	}
	CHECK_INT(segment_block_text_rows(s, 9, NULL, NULL, 0, &a, rows, &(uint32_t){ 0 }, &e),
		  -ERANGE);
	segment_close(s);
	arena_release(&a);
	arena_release(&ga);
}

/* Raw size: event.original's length, or the JSON's for an event without one; the tag. */
static void test_raw_bytes(void)
{
	struct err e = ERR_INIT;
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct segment_info info;
	struct buf json = BUF_INIT(1 << 20);
	struct arena a;
	struct event ev;
	char path[700];

	fresh("rawbytes");
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	if (!w)
		return;
	event_init(&ev, &a);
	event_set_time(&ev, FIELD_TIMESTAMP, T0);
	event_set_str(&ev, FIELD_EVENT_ORIGINAL, "hello world", 11);
	CHECK_INT(segment_writer_add(w, &ev, &e), 0);
	event_init(&ev, &a);
	event_set_time(&ev, FIELD_TIMESTAMP, T0);
	event_set_str(&ev, FIELD_EVENT_ACTION, "deny", 4);
	CHECK_INT(event_write_json(&ev, &json), 0);
	CHECK_INT(segment_writer_add(w, &ev, &e), 0);
	segment_writer_set_tag(w, 0x1234567890abcdefull);
	CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (s) {
		segment_get_info(s, &info);
		CHECK_INT(info.raw_bytes, 11 + json.len);
		CHECK(info.tag == 0x1234567890abcdefull);
		segment_close(s);
	}
	buf_release(&json);
	arena_release(&a);
}

#define SEGMENT -1 /* may_hold_*(): the whole segment, not a block */

/* Whether block (or the SEGMENT) may hold a value of field in [lo, hi]. */
static bool may_hold_ints(const struct segment *s, int block, const char *field, int64_t lo,
			  int64_t hi)
{
	struct value_range r = { .lo = lo, .hi = hi };
	int name = segment_name_number(s, field);

	return block == SEGMENT ? segment_may_hold_range(s, name, &r)
				: segment_block_may_hold_range(s, (unsigned)block, name, &r);
}

/* The same for an IP field and the addresses lo to hi. */
static bool may_hold_ips(const struct segment *s, int block, const char *field, const char *lo,
			 const char *hi)
{
	struct value_range r = { .ip = true };
	int name = segment_name_number(s, field);

	CHECK_INT(ipaddr_parse(&r.ip_lo, lo, strlen(lo)), 0);
	CHECK_INT(ipaddr_parse(&r.ip_hi, hi, strlen(hi)), 0);
	return block == SEGMENT ? segment_may_hold_range(s, name, &r)
				: segment_block_may_hold_range(s, (unsigned)block, name, &r);
}

static void test_skipping(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a;
	char path[700];
	int64_t from = T0 + 5000LL * 1000000, to = T0 + 5100LL * 1000000;
	unsigned skipped = 0, matched = 0, expect = 0, related_seconds = 0;
	int64_t port_max = INT64_MIN;

	fresh("skip");
	CHECK_INT(write_segment(2, N_EVENTS, &key1, &e), 0);
	seg_path(path, sizeof(path), 2);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	segment_get_info(s, &info);
	arena_init(&a, 1 << 20, 1 << 28);
	for (unsigned b = 0; b < info.blocks; b++) {
		struct event *evs;
		uint32_t n;
		int64_t pmin, pmax;
		struct ipaddr imin, imax, rmin, rmax;
		bool overlaps = segment_block_overlaps(s, b, from, to);

		CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
		CHECK_INT(segment_block_int_range(s, b, "source.port", &pmin, &pmax), 1);
		CHECK_INT(segment_block_ip_range(s, b, "destination.ip", &imin, &imax), 1);
		CHECK_INT(segment_block_int_range(s, b, "no.such.field", &pmin, &pmax), 0);
		CHECK_INT(segment_block_int_range(s, b, "event.action", &pmin, &pmax), 0);
		CHECK_INT(segment_block_int_range(s, b, "source.port", &pmin, &pmax), 1);
		/*
		 * Format 6: the statistics cover every value. related.ip's first value is the
		 * destination (20.x and up, or 2001:db8::1), every fourth event's second the
		 * 10.x source, in the row area: inside the range all the same.
		 */
		CHECK(segment_block_stats_complete(s, b));
		CHECK_INT(segment_block_ip_range(s, b, "related.ip", &rmin, &rmax), 1);
		CHECK(may_hold_ips(s, (int)b, "related.ip", "10.0.0.0", "10.255.255.255"));
		CHECK(!may_hold_ips(s, (int)b, "destination.ip", "10.0.0.0", "10.255.255.255"));
		CHECK(!may_hold_ints(s, (int)b, "source.port", 0, 1023)); /* ports from 1024 */
		CHECK(!may_hold_ints(s, (int)b, "source.port", pmax + 1, INT64_MAX));
		CHECK(may_hold_ints(s, (int)b, "source.port", pmax, pmax));
		CHECK(may_hold_ints(s, (int)b, "source.port", INT64_MIN, pmin));
		CHECK(!may_hold_ints(s, (int)b, "no.such.field", INT64_MIN, INT64_MAX));
		/* a string field: the block cannot tell */
		CHECK(may_hold_ints(s, (int)b, "event.action", 0, 0));
		port_max = pmax > port_max ? pmax : port_max;
		skipped += !overlaps;
		for (uint32_t i = 0; i < n; i++) {
			const struct event_value *t = event_get(&evs[i], FIELD_TIMESTAMP);
			const struct event_value *p = event_get(&evs[i], FIELD_SOURCE_PORT);
			const struct event_value *d = event_get(&evs[i], FIELD_DESTINATION_IP);

			if (t && t->v.i >= from && t->v.i <= to) {
				CHECK(overlaps); /* a skipped block never holds a match */
				matched++;
			}
			CHECK(p->v.i >= pmin && p->v.i <= pmax);
			CHECK(memcmp(&d->v.ip, &imin, 16) >= 0 && memcmp(&d->v.ip, &imax, 16) <= 0);
			for (uint32_t k = 0, nth = 0; k < evs[i].n; k++) {
				const struct ipaddr *ip = &evs[i].vals[k].v.ip;

				if (evs[i].vals[k].field != (uint32_t)f_related)
					continue;
				related_seconds += nth++ == 1 && memcmp(ip, &imin, 16) < 0;
				CHECK(memcmp(ip, &rmin, 16) >= 0 && memcmp(ip, &rmax, 16) <= 0);
			}
		}
		arena_clear(&a);
	}
	for (unsigned i = 0; i < N_EVENTS; i++) {
		int64_t ts = T0 + (int64_t)i * 1000000 + (int64_t)((mix(i) >> 40) % 5000000);

		expect += i % 1000 != 999 && ts >= from && ts <= to;
	}
	CHECK_INT(matched, expect);
	CHECK_INT(related_seconds, N_EVENTS / 4); /* second values below every first one */
	/* the segment's ranges: those of all its blocks */
	CHECK(!may_hold_ints(s, SEGMENT, "source.port", 0, 1023));
	CHECK(!may_hold_ints(s, SEGMENT, "source.port", port_max + 1, INT64_MAX));
	CHECK(may_hold_ints(s, SEGMENT, "source.port", port_max, port_max));
	CHECK(!may_hold_ints(s, SEGMENT, "no.such.field", INT64_MIN, INT64_MAX));
	CHECK(may_hold_ints(s, SEGMENT, "event.action", 0, 0));
	CHECK(may_hold_ips(s, SEGMENT, "related.ip", "10.0.0.0", "10.255.255.255"));
	CHECK(!may_hold_ips(s, SEGMENT, "destination.ip", "10.0.0.0", "10.255.255.255"));
	CHECK(may_hold_ips(s, SEGMENT, "destination.ip", "2001:db8::1", "2001:db8::1"));
	CHECK(!may_hold_ips(s, SEGMENT, "destination.ip", "2001:db8::2", "2001:db8::ffff"));
	CHECK(skipped >= 1);
	CHECK(!segment_block_overlaps(s, 0, T0 - 1000, T0 - 1));
	segment_close(s);
	arena_release(&a);
}

/* True when the index lists row among those of field's value ip (text). */
static bool index_has(struct segment *s, unsigned field, const char *ip, uint64_t row)
{
	struct err e = ERR_INIT;
	uint32_t *rows = NULL;
	size_t n = 0;
	bool found = false;

	if (segment_lookup(s, field_name(field), ip, strlen(ip), &rows, &n, &e) < 0)
		return false;
	for (size_t i = 0; i < n && !found; i++)
		found = rows[i] == row;
	mem_free(rows);
	return found;
}

/*
 * True when an address field of ev, row `row` of s, holds the address written tok and the
 * index lists the row under it: what a search asks for a text's address that no bloom has.
 */
static bool indexed_address(struct segment *s, const struct event *ev, uint64_t row,
			    const char *tok, size_t len)
{
	struct ipaddr ip;
	char text[IPADDR_STRLEN];

	if (ipaddr_parse(&ip, tok, len) < 0)
		return false;
	ipaddr_format(&ip, text);
	for (uint32_t j = 0; j < ev->n; j++)
		if (field_type(ev->vals[j].field) == FT_IP && !memcmp(ev->vals[j].v.ip.b, ip.b, 16))
			return index_has(s, ev->vals[j].field, text, row);
	return false;
}

/*
 * Every token of every string value is in its block's bloom but the addresses that are
 * values of address fields too; address values are found through the index (a sample of
 * them is looked up there), a bloom holds one only as another value's text.
 */
static void test_bloom(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a;
	char path[700];
	unsigned long tokens = 0, misses = 0, fp = 0, probes = 0, addrs = 0, in_bloom = 0;
	unsigned long not_indexed = 0;

	fresh("bloom");
	CHECK_INT(write_segment(3, N_EVENTS, &key1, &e), 0);
	seg_path(path, sizeof(path), 3);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	segment_get_info(s, &info);
	arena_init(&a, 1 << 20, 1 << 28);
	for (unsigned b = 0; b < info.blocks; b++) {
		struct event *evs;
		uint32_t n;
		struct segment_block_info bi;

		segment_block_get_info(s, b, &bi);
		CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
		for (uint32_t i = 0; i < n; i++) {
			for (uint32_t j = 0; j < evs[i].n; j++) {
				const struct event_value *v = &evs[i].vals[j];
				const char *p, *end, *t;
				char ip[IPADDR_STRLEN];
				size_t tl;

				if (field_type(v->field) == FT_IP) {
					ipaddr_format(&v->v.ip, ip);
					in_bloom += segment_block_may_contain(s, b, ip, strlen(ip));
					if (addrs++ % 97 == 0)
						not_indexed += !index_has(s, v->field, ip,
									  bi.first_row + i);
					continue;
				}
				if (field_type(v->field) != FT_STR)
					continue;
				p = v->v.s;
				end = p + v->len;
				while (segment_token_next(&p, end, &t, &tl)) {
					tokens++;
					if (!segment_block_may_contain(s, b, t, tl) &&
					    !indexed_address(s, &evs[i], bi.first_row + i, t, tl))
						misses++;
				}
			}
		}
		/* Case does not matter. */
		CHECK(segment_block_may_contain(s, b, "TRAFFIC", 7));
		CHECK(segment_block_may_contain(s, b, "traffic", 7));
		for (unsigned k = 0; k < 20000; k++) {
			char t[32];
			int tl = snprintf(t, sizeof(t), "absent%u-%u", b, k);

			probes++;
			fp += segment_block_may_contain(s, b, t, (size_t)tl);
		}
		arena_clear(&a);
	}
	CHECK(tokens > 100000);
	CHECK_INT(misses, 0); /* no false negative, ever */
	CHECK(addrs > 10000);
	CHECK_INT(not_indexed, 0);
	printf("  bloom: %lu tokens checked, false-positive rate %.3f%% (%lu of %lu probes); "
	       "%lu addresses, %lu in a bloom as text\n", tokens, 100.0 * (double)fp / (double)probes, fp,
	       probes, addrs, in_bloom);
	CHECK(fp * 100 < probes * 3);
	segment_close(s);
	arena_release(&a);
}

/*
 * Rows of the events make(i) makes for i < count whose field has value (a text value
 * ignoring ASCII case, as a filter compares), by making them again.
 */
static size_t brute(void (*make)(struct event *, struct arena *, unsigned), unsigned count,
		    unsigned field, const char *value, uint32_t *rows)
{
	struct arena a;
	size_t n = 0;

	arena_init(&a, 1 << 16, 1 << 24);
	for (unsigned i = 0; i < count; i++) {
		struct event ev;
		bool hit = false;

		make(&ev, &a, i);
		for (uint32_t j = 0; j < ev.n && !hit; j++) {
			const struct event_value *v = &ev.vals[j];
			char ip[IPADDR_STRLEN];

			if (v->field != field)
				continue;
			if (field_type(field) == FT_IP) {
				ipaddr_format(&v->v.ip, ip);
				hit = !strcmp(ip, value);
			} else {
				hit = v->len == strlen(value) && !strncasecmp(v->v.s, value, v->len);
			}
		}
		if (hit)
			rows[n++] = i;
		arena_clear(&a);
	}
	arena_release(&a);
	return n;
}

/*
 * The index gives brute()'s rows for field: value, each once and ascending, at least min
 * (count at most N_EVENTS).
 */
static void check_lookup_of(struct segment *s,
			    void (*make)(struct event *, struct arena *, unsigned), unsigned count,
			    unsigned field, const char *value, size_t min)
{
	static uint32_t want[N_EVENTS];
	struct err e = ERR_INIT;
	uint32_t *rows = NULL;
	size_t n = 0, nw = brute(make, count, field, value, want);

	CHECK_INT(segment_lookup(s, field_name(field), value, strlen(value), &rows, &n, &e), 0);
	CHECK_INT(n, nw);
	CHECK(nw >= min);
	if (n == nw && nw)
		CHECK(!memcmp(rows, want, n * sizeof(*rows)));
	for (size_t i = 1; i < n; i++)
		CHECK(rows[i] > rows[i - 1]);
	mem_free(rows);
}

static void check_lookup(struct segment *s, unsigned field, const char *value, size_t min)
{
	check_lookup_of(s, gen, N_EVENTS, field, value, min);
}

/* May a block hold field: value (the value sets, case ignored)? */
static bool may_hold(const struct segment *s, unsigned b, const char *field, const char *value)
{
	return segment_block_may_hold(s, b, segment_name_number(s, field),
				      segment_value_hash(s, value, strlen(value)));
}

static void test_value_sets(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a;
	char path[700];
	unsigned long values = 0, misses = 0;

	fresh("valueset");
	CHECK_INT(write_segment(4, N_EVENTS, &key1, &e), 0);
	seg_path(path, sizeof(path), 4);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	segment_get_info(s, &info);
	arena_init(&a, 1 << 20, 1 << 28);
	CHECK_INT(segment_name_number(s, "no.such.field"), -1);
	for (unsigned b = 0; b < info.blocks; b++) {
		struct event *evs;
		uint32_t n;

		CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < evs[i].n; j++) {
				const struct event_value *v = &evs[i].vals[j];
				int name = segment_name_number(s, field_name(v->field));

				if (field_type(v->field) != FT_STR)
					continue;
				values++;
				misses += !segment_block_may_hold(s, b, name,
								  segment_value_hash(s, v->v.s, v->len));
			}
		/* four actions, two outcomes, one transport: known, and case does not matter */
		CHECK(may_hold(s, b, "event.action", "allow"));
		CHECK(may_hold(s, b, "event.action", "Reset-Both"));
		CHECK(!may_hold(s, b, "event.action", "permit"));
		CHECK(!may_hold(s, b, "network.transport", "udp"));
		CHECK(!may_hold(s, b, "observer.vendor", "palo alto"));
		/* no list: five users, a category with a second value in some events */
		CHECK(may_hold(s, b, "user.name", "nobody"));
		CHECK(may_hold(s, b, "event.category", "absent"));
		/* a field no event of the segment has */
		CHECK(!may_hold(s, b, "no.such.field", "x"));
		arena_clear(&a);
	}
	CHECK(values > 50000);
	CHECK_INT(misses, 0); /* no false negative, ever */
	/* the whole segment: the union of its blocks' lists */
	CHECK(segment_may_hold(s, segment_name_number(s, "event.action"),
			       segment_value_hash(s, "DENY", 4)));
	CHECK(!segment_may_hold(s, segment_name_number(s, "event.action"),
				segment_value_hash(s, "permit", 6)));
	CHECK(!segment_may_hold(s, segment_name_number(s, "no.such.field"),
				segment_value_hash(s, "x", 1)));
	CHECK(segment_may_hold(s, segment_name_number(s, "user.name"),
			       segment_value_hash(s, "nobody", 6)));
	segment_close(s);
	arena_release(&a);
}

/*
 * A block of more integer fields than it has columns (1,024): the last ones live in the
 * row area only and have their statistic all the same, and the statistics of an address
 * field cover its second and third values; a field the block lacks holds no value.
 */
static void test_full_stats(void)
{
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	struct ipaddr ip, lo, hi;
	char path[700], name[32];
	int64_t mn, mx;

	fresh("fullstats");
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	if (!w)
		goto out;
	for (unsigned k = 0; k < 2; k++) { /* 1,000 fields, then 100 more */
		event_init(&ev, &a);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + k);
		for (unsigned i = 1000 * k; i < (k ? 1100 : 1000); i++) {
			int f;

			snprintf(name, sizeof(name), "vendor.n%04u", i);
			f = field_intern(name, strlen(name), FT_INT);
			CHECK(f >= 0);
			event_set_int(&ev, (unsigned)f, i == 1099 ? -7 : (int64_t)i * 10);
		}
		ipaddr_parse(&ip, k ? "198.51.100.1" : "203.0.113.9", k ? 12 : 11);
		event_add_ip(&ev, (unsigned)f_related, &ip);
		if (!k) {
			ipaddr_parse(&ip, "10.9.9.9", 8);
			event_add_ip(&ev, (unsigned)f_related, &ip);
			ipaddr_parse(&ip, "2001:db8::5", 11);
			event_add_ip(&ev, (unsigned)f_related, &ip);
		}
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
	}
	CHECK_INT(segment_writer_finish(w, &e), 0);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		goto out;
	CHECK(segment_block_stats_complete(s, 0));
	CHECK_INT(segment_block_int_range(s, 0, "vendor.n1099", &mn, &mx), 1);
	CHECK(mn == -7 && mx == -7);
	CHECK_INT(segment_block_int_range(s, 0, "vendor.n0999", &mn, &mx), 1);
	CHECK(mn == 9990 && mx == 9990);
	CHECK(may_hold_ints(s, 0, "vendor.n1099", -7, -7));
	CHECK(!may_hold_ints(s, 0, "vendor.n1099", -6, 100000));
	CHECK(!may_hold_ints(s, SEGMENT, "vendor.n1099", -6, 100000));
	CHECK_INT(segment_block_ip_range(s, 0, "related.ip", &lo, &hi), 1);
	ipaddr_parse(&ip, "10.9.9.9", 8);
	CHECK(!memcmp(&lo, &ip, 16));
	ipaddr_parse(&ip, "2001:db8::5", 11);
	CHECK(!memcmp(&hi, &ip, 16));
	CHECK(may_hold_ips(s, 0, "related.ip", "10.9.0.0", "10.9.255.255"));
	CHECK(may_hold_ips(s, SEGMENT, "related.ip", "10.9.0.0", "10.9.255.255"));
	CHECK(!may_hold_ips(s, 0, "related.ip", "2001:db8::6", "2001:db8::ffff"));
	CHECK(!may_hold_ips(s, SEGMENT, "related.ip", "2001:db8::6", "2001:db8::ffff"));
	CHECK_INT(segment_verify(s, &e), 0);
out:
	segment_close(s);
	segment_writer_free(w);
	arena_release(&a);
}

/*
 * A block whose first event fills every column (1,024 fields, no time) before the next one
 * has a time: its times are all in the row area, and the block's time range still holds
 * them (it said "no time" before, and a search with time bounds skipped the block).
 */
static void test_time_in_row_area(void)
{
	const int64_t sec = 1000000000;
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct segment_block_info bi;
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	char path[700], name[32];

	fresh("rowtime");
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	if (!w)
		goto out;
	event_init(&ev, &a);
	for (unsigned i = 0; i < 1024; i++) {
		int f;

		snprintf(name, sizeof(name), "vendor.c%04u", i);
		f = field_intern(name, strlen(name), FT_INT);
		CHECK(f >= 0);
		event_set_int(&ev, (unsigned)f, (int64_t)i);
	}
	CHECK_INT(segment_writer_add(w, &ev, &e), 0);
	for (int k = 0; k < 2; k++) {
		event_init(&ev, &a);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + k * sec);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
	}
	CHECK_INT(segment_writer_finish(w, &e), 0);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		goto out;
	segment_block_get_info(s, 0, &bi);
	CHECK(bi.tmin == T0 && bi.tmax == T0 + sec);
	CHECK(segment_block_overlaps(s, 0, T0 + sec, T0 + 2 * sec));
	CHECK(!segment_block_overlaps(s, 0, T0 + 2 * sec, T0 + 3 * sec));
	CHECK_INT(segment_verify(s, &e), 0);
out:
	segment_close(s);
	segment_writer_free(w);
	arena_release(&a);
}

/*
 * A field listed in one block and not in the next (six values there): the segment cannot
 * rule a value out, its first block can.
 */
static void test_value_sets_partial(void)
{
	static const char *const six[] = { "a", "b", "c", "d", "e", "f" };
	struct segment_writer *w = NULL;
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct arena a;
	char path[700];
	int name;

	fresh("valueset-partial");
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 5, &key1, &e), 0);
	for (unsigned i = 0; w && i < SEGMENT_BLOCK_EVENTS + 100; i++) {
		const char *v = i < SEGMENT_BLOCK_EVENTS ? "a" : six[i % 6];
		struct event ev;

		event_init(&ev, &a);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + (int64_t)i);
		event_set_str(&ev, FIELD_EVENT_ACTION, v, 1);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(&a);
	}
	if (w)
		CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	arena_release(&a);
	seg_path(path, sizeof(path), 5);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	name = segment_name_number(s, "event.action");
	CHECK(!segment_block_may_hold(s, 0, name, segment_value_hash(s, "z", 1)));
	CHECK(segment_block_may_hold(s, 1, name, segment_value_hash(s, "z", 1)));
	CHECK(segment_may_hold(s, name, segment_value_hash(s, "z", 1)));
	CHECK(segment_may_hold(s, name, segment_value_hash(s, "f", 1)));
	segment_close(s);
}

static void test_lookup(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct arena a;
	char path[700], src[IPADDR_STRLEN], hash[IPADDR_STRLEN * 2], upper[IPADDR_STRLEN * 2];
	uint32_t *rows = NULL;
	size_t n = 0;

	fresh("lookup");
	CHECK_INT(write_segment(4, N_EVENTS, &key1, &e), 0);
	seg_path(path, sizeof(path), 4);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	arena_init(&a, 1 << 16, 1 << 24);
	{
		struct event ev;

		gen(&ev, &a, 1234);
		ipaddr_format(&event_get(&ev, FIELD_SOURCE_IP)->v.ip, src);
		arena_clear(&a);
		gen(&ev, &a, 7 * 300);
		snprintf(hash, sizeof(hash), "%.*s", (int)event_get(&ev, (unsigned)f_hash)->len,
			 event_get(&ev, (unsigned)f_hash)->v.s);
	}
	check_lookup(s, FIELD_SOURCE_IP, src, 1);
	check_lookup(s, FIELD_SOURCE_NAT_IP, "203.0.113.7", N_EVENTS);
	check_lookup(s, FIELD_DESTINATION_IP, "2001:db8::1", 10);
	check_lookup(s, (unsigned)f_related, "2001:db8::1", 10);
	check_lookup(s, FIELD_USER_NAME, "alice", 100);
	check_lookup(s, FIELD_USER_NAME, "Dave", 100);
	check_lookup(s, FIELD_USER_NAME, "DAVE", 100); /* from format 6, any case */
	check_lookup(s, FIELD_HOST_NAME, "FW-01", N_EVENTS / 2);
	check_lookup(s, FIELD_URL_DOMAIN, "Example.ORG", 100);
	check_lookup(s, FIELD_HOST_NAME, "fw-01", N_EVENTS / 2);
	check_lookup(s, FIELD_URL_DOMAIN, "example.org", 100);
	check_lookup(s, FIELD_URL_DOMAIN, "", 100);
	check_lookup(s, (unsigned)f_hash, hash, 1);
	for (size_t i = 0; i <= strlen(hash); i++)
		upper[i] = (char)toupper((unsigned char)hash[i]);
	check_lookup(s, (unsigned)f_hash, upper, 1);
	check_lookup(s, FIELD_USER_NAME, "mallory", 0);
	check_lookup(s, FIELD_SOURCE_IP, "192.0.2.1", 0);
	/* Row numbers map back to the right events. */
	CHECK_INT(segment_lookup(s, "source.ip", src, strlen(src), &rows, &n, &e), 0);
	for (size_t i = 0; i < n; i++) {
		struct segment_block_info bi;
		int b = segment_row_block(s, rows[i]);

		CHECK(b >= 0);
		segment_block_get_info(s, (unsigned)b, &bi);
		CHECK(rows[i] >= bi.first_row && rows[i] < bi.first_row + bi.count);
	}
	mem_free(rows);
	CHECK_INT(segment_row_block(s, N_EVENTS), -ERANGE);
	CHECK_INT(segment_lookup(s, "event.action", "allow", 5, &rows, &n, &e), -ENOTSUP);
	CHECK(strstr(e.msg, "event.action") != NULL);
	CHECK_INT(segment_lookup(s, "source.ip", "not-an-ip", 9, &rows, &n, &e), -EINVAL);
	{
		static char long_value[1100];

		memset(long_value, 'a', sizeof(long_value));
		CHECK_INT(segment_lookup(s, "user.name", long_value, sizeof(long_value), &rows, &n, &e),
			  -ENOTSUP);
		CHECK(strstr(e.msg, "not indexed") != NULL);
	}
	CHECK_INT(segment_lookup(s, "destination.domain", "x", 1, &rows, &n, &e), 0);
	CHECK_INT(n, 0);
	segment_close(s);
	arena_release(&a);
}

/* Event i of test_lookup_case(): user names in several cases, some twice in an event. */
static void case_event(struct event *ev, struct arena *a, unsigned i)
{
	static const char *const names[] = { "admin", "Admin", "ADMIN", "bob", "carol" };
	const char *u = i == 4321 ? "Zo\xc3\xab" : names[i % 5]; /* "Zoë": ASCII folds only */

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i);
	event_add_str(ev, FIELD_USER_NAME, u, strlen(u));
	if (i % 7 == 0) /* a second value (row area), the first's key for 3 in 5 */
		event_add_str(ev, FIELD_USER_NAME, "aDmIn", 5);
	if (i % 3 == 0) { /* two values, one key */
		event_add_str(ev, FIELD_RELATED_USER, "Bob", 3);
		event_add_str(ev, FIELD_RELATED_USER, "bob", 3);
	}
}

/*
 * From format 6 the index's string keys are lowercased: a lookup in any case finds every
 * case of the value, through a block's dictionary or its row area, each row once and in
 * order across blocks; only ASCII letters fold, as in a filter.
 */
static void test_lookup_case(void)
{
	const unsigned count = SEGMENT_BLOCK_EVENTS + 1000; /* two blocks */
	struct err e = ERR_INIT;
	struct segment *s;
	struct arena ga;

	arena_init(&ga, 1 << 16, 1 << 24);
	s = write_one("lookupcase", count, case_event, &ga);
	if (!s)
		goto out;
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "ADMIN", count * 3 / 5);
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "admin", count * 3 / 5);
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "Bob", count / 5);
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "CaRoL", count / 5);
	check_lookup_of(s, case_event, count, FIELD_RELATED_USER, "BOB", count / 3);
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "zo\xc3\xab", 1);
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "ZO\xc3\x8b", 0); /* "ZOË" */
	check_lookup_of(s, case_event, count, FIELD_USER_NAME, "mallory", 0);
	CHECK_INT(segment_verify(s, &e), 0);
	segment_close(s);
out:
	arena_release(&ga);
}

static void test_wrong_key_and_tenant(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct keys_data_key same_id = key2;
	char path[700];

	fresh("keys");
	CHECK_INT(write_segment(5, 100, &key1, &e), 0);
	seg_path(path, sizeof(path), 5);
	CHECK_INT(segment_open(&s, path, TENANT, &key2, &e), -EKEYREJECTED);
	CHECK(strstr(e.msg, path) && strstr(e.msg, "another data key"));
	CHECK_INT(segment_open(&s, path, TENANT + 1, &key1, &e), -EPERM);
	CHECK(strstr(e.msg, "tenant 7") != NULL);
	/* A key with the right id but other bytes: the MAC fails at open (format 6). */
	memcpy(same_id.id, key1.id, sizeof(same_id.id));
	CHECK_INT(segment_open(&s, path, TENANT, &same_id, &e), -EBADMSG);
	CHECK(strstr(e.msg, "segment authentication failed") != NULL);
	/* Format 5 (no MAC): it opens, and then nothing decrypts, and says so. */
	snprintf(path, sizeof(path), "%s/store/segment-v5/2025-11-30-0001.seg", t_data_dir());
	CHECK_INT(segment_open(&s, path, TENANT, &same_id, &e), -EBADMSG);
	CHECK(strstr(e.msg, "does not open as format 5") != NULL);
}

/* Opens, verifies and reads everything: 0 when all of it is good. */
static int read_all(const char *path, struct err *e)
{
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a;
	int rc;

	rc = segment_open(&s, path, TENANT, &key1, e);
	if (rc < 0)
		return rc;
	arena_init(&a, 1 << 20, 1 << 28);
	segment_get_info(s, &info);
	for (unsigned b = 0; rc == 0 && b < info.blocks; b++) {
		struct event *evs;
		uint32_t n;

		(void)segment_block_may_contain(s, b, "allow", 5);
		rc = segment_block_read(s, b, NULL, 0, &a, &evs, &n, e);
		arena_clear(&a);
	}
	if (rc == 0) {
		uint32_t *rows = NULL;
		size_t n;

		rc = segment_lookup(s, "user.name", "alice", 5, &rows, &n, e);
		mem_free(rows);
	}
	if (rc == 0)
		rc = segment_verify(s, e);
	arena_release(&a);
	segment_close(s);
	return rc;
}

/* Flips one bit of each stride-th byte in place (and back): every flip must be refused,
 * with the file named in the message. */
static void flip_check(const char *path, const unsigned char *orig, size_t len, size_t stride)
{
	unsigned long bad = 0, missed = 0, unnamed = 0;
	int fd = open(path, O_RDWR);

	CHECK(fd >= 0);
	for (size_t off = 0; fd >= 0 && off < len; off += stride) {
		struct err e = ERR_INIT;
		unsigned char c = orig[off] ^ 0x20;

		CHECK_INT(pwrite(fd, &c, 1, (off_t)off), 1);
		if (read_all(path, &e) == 0)
			missed++;
		else if (!strstr(e.msg, path))
			unnamed++;
		CHECK_INT(pwrite(fd, &orig[off], 1, (off_t)off), 1);
		bad++;
	}
	if (fd >= 0)
		close(fd);
	CHECK_INT(missed, 0);
	CHECK_INT(unnamed, 0);
	CHECK(bad > 0);
}

static void test_flipped_bytes(void)
{
	struct err e = ERR_INIT;
	char path[700];
	unsigned char *orig;
	size_t len;

	fresh("flip");
	/* Small: every byte. */
	CHECK_INT(write_segment(6, 12, &key1, &e), 0);
	seg_path(path, sizeof(path), 6);
	orig = (unsigned char *)t_read_file(path, &len);
	CHECK(orig != NULL);
	if (!orig)
		return;
	CHECK_INT(read_all(path, &e), 0);
	printf("  flipping each of the %zu bytes of a 12-event segment\n", len);
	flip_check(path, orig, len, 1);
	/* Truncated anywhere: refused. */
	for (size_t cut = 0; cut < len; cut += 97) {
		FILE *f = fopen(path, "wb");

		CHECK(f && fwrite(orig, 1, cut, f) == cut);
		if (f)
			fclose(f);
		CHECK(read_all(path, &e) < 0);
	}
	free(orig);
	/* Large (three blocks): 400 bytes spread over the file. */
	CHECK_INT(write_segment(7, N_EVENTS, &key1, &e), 0);
	seg_path(path, sizeof(path), 7);
	orig = (unsigned char *)t_read_file(path, &len);
	CHECK(orig != NULL);
	if (!orig)
		return;
	flip_check(path, orig, len, len / 400 + 1);
	free(orig);
}

static void test_unfinished(void)
{
	struct err e = ERR_INIT;
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct arena a;
	struct event ev;
	char path[700], tmp[700], name[SEGMENT_NAME_MAX];
	struct stat st;

	fresh("unfinished");
	seg_path(path, sizeof(path), 8);
	segment_name(name, DAY0, 8);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 8, &key1, &e), 0);
	for (unsigned i = 0; i < 5000; i++) {
		gen(&ev, &a, i);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(&a);
	}
	CHECK_INT(segment_writer_count(w), 5000);
	/* Mid-way (a crash now): a temp file with a block in it, nothing under the name. */
	CHECK_INT(stat(path, &st), -1);
	CHECK_INT(stat(tmp, &st), 0);
	CHECK(st.st_size > 1000);
	CHECK_INT(segment_open(&s, tmp, TENANT, &key1, &e), -EBADMSG);
	CHECK(strstr(e.msg, "trailer") != NULL);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), -ENOENT);
	segment_writer_free(w); /* abandoned: the temp file goes */
	CHECK_INT(stat(tmp, &st), -1);
	CHECK_INT(stat(path, &st), -1);
	/* Finished: the name appears, and is never replaced. */
	CHECK_INT(write_segment(8, 10, &key1, &e), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(stat(tmp, &st), -1);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 8, &key1, &e), -EEXIST);
	CHECK(strstr(e.msg, "never rewritten") != NULL);
	/* An empty segment is valid. */
	CHECK_INT(write_segment(9, 0, &key1, &e), 0);
	seg_path(path, sizeof(path), 9);
	CHECK_INT(read_all(path, &e), 0);
	arena_release(&a);
}

static void test_mem_fail(void)
{
	struct err e = ERR_INIT;
	char path[700];
	int ok = 0;

	fresh("memfail");
	seg_path(path, sizeof(path), 10);
	long tried = 0;

	for (long n = 0; n < 5000 && !ok; n++, tried++) {
		int rc;

		unlink(path); /* the writer removes its own temp file on failure */
		mem_fail_after(n);
		rc = write_segment(10, 40, &key1, &e);
		if (rc == 0)
			rc = read_all(path, &e);
		mem_fail_after(-1);
		if (rc < 0)
			CHECK(e.msg[0] != '\0');
		else
			ok = 1;
	}
	CHECK(ok);
	CHECK_INT(read_all(path, &e), 0);
	printf("  allocation failures injected at %ld points\n", tried);
}

/*
 * Integer columns stored as byte planes over the block's minimum (the widths 0 to 8, the
 * extremes of int64, values missing in some events) and vendor string fields as dictionary
 * columns come back exactly, whole and row by row.
 */
static int64_t plane_value(unsigned i, unsigned kind)
{
	uint64_t r = mix(i * 31 + kind);

	switch (kind) {
	case 0: return T0; /* the same in every event: width 0 */
	case 1: return i % 3 == 0 ? INT64_MIN : i % 3 == 1 ? INT64_MAX : (int64_t)r; /* width 8 */
	case 2: return 1024 + (int64_t)(r % 64000); /* width 2 */
	case 4: return 50 + (int64_t)(r % 133333); /* 17 bits: bit-packed */
	case 5: return INT64_MIN + (int64_t)(r >> 1); /* 63 bits, from int64's minimum */
	default: return -(int64_t)(r % 70000) - 5; /* negative, width 3 */
	}
}

static int f_bits17, f_bits63;

static void planes_event(struct event *ev, struct arena *a, unsigned i, int f_wide, int f_port,
			 int f_neg, int f_zone)
{
	static const char *const zones[] = { "trust", "untrust", "dmz", "" };

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, plane_value(i, 0));
	if (i % 5)
		event_set_int(ev, (unsigned)f_wide, plane_value(i, 1));
	event_set_int(ev, (unsigned)f_port, plane_value(i, 2));
	if (i % 7 != 3)
		event_set_int(ev, (unsigned)f_neg, plane_value(i, 3));
	event_set_str(ev, (unsigned)f_zone, zones[mix(i) % 4], strlen(zones[mix(i) % 4]));
	event_set_int(ev, (unsigned)f_bits17, plane_value(i, 4));
	if (i % 11 != 4)
		event_set_int(ev, (unsigned)f_bits63, plane_value(i, 5));
	if (i % 9 == 0)
		event_add_str(ev, (unsigned)f_zone, "second", 6);
}

static void test_int_planes(void)
{
	f_bits17 = field_intern("vendor.bits17", 13, FT_INT);
	f_bits63 = field_intern("vendor.bits63", 13, FT_INT);
	CHECK(f_bits17 > 0 && f_bits63 > 0);
	int f_wide = field_intern("vendor.wide", 11, FT_INT);
	int f_port = field_intern("vendor.port", 11, FT_INT);
	int f_neg = field_intern("vendor.neg", 10, FT_INT);
	int f_zone = field_intern("vendor.zone", 11, FT_STR);
	unsigned counts[] = { 1, 2, 5, 67, SEGMENT_BLOCK_EVENTS + 3 };
	struct err e = ERR_INIT;
	struct arena a, ga;
	char path[700];

	fresh("planes");
	arena_init(&a, 1 << 20, 1 << 28);
	arena_init(&ga, 1 << 16, 1 << 24);
	for (unsigned c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		struct segment_writer *w = NULL;
		struct segment *s = NULL;
		struct segment_info info;
		struct event ev, *evs;
		uint32_t n, rows[3] = { 0, 0, 0 };
		unsigned next = 0;

		CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, c + 1, &key1, &e), 0);
		for (unsigned i = 0; w && i < counts[c]; i++) {
			planes_event(&ev, &ga, i, f_wide, f_port, f_neg, f_zone);
			CHECK_INT(segment_writer_add(w, &ev, &e), 0);
			arena_clear(&ga);
		}
		if (w)
			CHECK_INT(segment_writer_finish(w, &e), 0);
		segment_writer_free(w);
		seg_path(path, sizeof(path), c + 1);
		CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
		if (!s)
			continue;
		segment_get_info(s, &info);
		for (unsigned b = 0; b < info.blocks; b++) {
			CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
			for (uint32_t i = 0; i < n; i++, next++) {
				struct event want;

				planes_event(&want, &ga, next, f_wide, f_port, f_neg, f_zone);
				if (!same_event(&want, &evs[i], next))
					break;
				arena_clear(&ga);
			}
			arena_clear(&a);
		}
		CHECK_INT(next, counts[c]);
		/* rows: the last ones of the first block, through the planes' positions */
		n = 0;
		for (unsigned k = 0; k < 3 && k < counts[c]; k++)
			rows[n++] = (counts[c] < SEGMENT_BLOCK_EVENTS ? counts[c] : SEGMENT_BLOCK_EVENTS) - 3 + k;
		if (counts[c] < 3) {
			n = 0;
			for (unsigned k = 0; k < counts[c]; k++)
				rows[n++] = k;
		}
		{
			uint32_t nrows = n, got = 0;

			CHECK_INT(segment_block_read_rows(s, 0, rows, nrows, NULL, 0, &a, &evs, &got, &e),
				  0);
			CHECK_INT(got, nrows);
			for (uint32_t i = 0; i < got; i++) {
				struct event want;

				planes_event(&want, &ga, rows[i], f_wide, f_port, f_neg, f_zone);
				same_event(&want, &evs[i], rows[i]);
				arena_clear(&ga);
			}
			arena_clear(&a);
		}
		CHECK_INT(segment_verify(s, &e), 0);
		segment_close(s);
	}
	arena_release(&a);
	arena_release(&ga);
}

/* ---- the MAC and relabelled files (format 6) ------------------------------------------ */

static uint32_t crc_of(const unsigned char *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void set32(unsigned char *p, uint32_t v)
{
	for (unsigned k = 0; k < 4; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

/* A segment file in memory, with its footer's place and its block table found. */
struct image {
	unsigned char *d;
	size_t len;
	size_t foot, foot_len;  /* the footer */
	size_t names;           /* its field-name table */
	size_t table;           /* its block table: u32 count, then 28 bytes per block */
};

static bool image_load(struct image *im, const char *path)
{
	size_t p;

	im->d = (unsigned char *)t_read_file(path, &im->len);
	CHECK(im->d && im->len > 52 + 24);
	if (!im->d || im->len <= 52 + 24)
		return false;
	im->foot = (size_t)get64(im->d + im->len - 24);
	im->foot_len = get32(im->d + im->len - 16);
	im->names = im->foot + 8;
	p = im->names + 4;
	for (uint32_t i = get32(im->d + im->names); i; i--)
		p += 3 + (im->d[p + 1] | (size_t)im->d[p + 2] << 8);
	im->table = p;
	return true;
}

/* Offset and length of block i's header. */
static size_t block_header(const struct image *im, uint32_t i, size_t *len)
{
	const unsigned char *ent = im->d + im->table + 4 + 28 * (size_t)i;

	*len = get32(ent + 8);
	return (size_t)get64(ent);
}

/* Every checksum recomputed (header, block headers, footer, trailer), the MAC left alone. */
static void image_recrc(struct image *im)
{
	unsigned char *t = im->d + im->len - 24;

	set32(im->d + 48, crc_of(im->d, 48));
	for (uint32_t i = 0; i < get32(im->d + im->table); i++) {
		size_t hl, off = block_header(im, i, &hl);

		set32(im->d + off + hl - 4, crc_of(im->d + off, hl - 4));
	}
	set32(im->d + im->foot + im->foot_len - 4, crc_of(im->d + im->foot, im->foot_len - 4));
	set32(t + 12, crc_of(t, 12));
}

static void image_save(const struct image *im, const char *path)
{
	FILE *f = fopen(path, "wb");

	CHECK(f && fwrite(im->d, 1, im->len, f) == im->len);
	if (f)
		fclose(f);
}

/* Number of field name in the footer's table, or -1. */
static int image_name(const struct image *im, const char *name)
{
	size_t p = im->names + 4;

	for (uint32_t i = 0; i < get32(im->d + im->names); i++) {
		size_t len = im->d[p + 1] | (size_t)im->d[p + 2] << 8;

		if (len == strlen(name) && !memcmp(im->d + p + 3, name, len))
			return (int)i;
		p += 3 + len;
	}
	CHECK(!"no such field name");
	return -1;
}

/*
 * Offset of block 0's first column statistic of kind (1 integer, 2 IP, 3 value hashes) of
 * field number name (-1: of any field).
 */
static size_t stat_of_kind(const struct image *im, int name, uint32_t kind)
{
	size_t hl, off = block_header(im, 0, &hl);
	uint32_t nstats = get32(im->d + off + 12);

	for (uint32_t j = 0; j < nstats; j++) {
		size_t st = off + 44 + 40 * (size_t)j;

		if (get32(im->d + st + 4) == kind && (name < 0 || get32(im->d + st) == (uint32_t)name))
			return st;
	}
	CHECK(!"no statistic of that kind");
	return off;
}

/* Byte of the clear text that each forgery changes, in block 0 or the footer. */
enum forgery { F_BLOOM, F_MINMAX, F_VALUE_HASH, F_TIME_RANGE, F_FIELD_NAME, F_BLOCK_TABLE, F_N };

static size_t forged_byte(const struct image *im, enum forgery f)
{
	size_t hl, off = block_header(im, 0, &hl);

	switch (f) {
	case F_BLOOM: return off + hl - 4 - 1; /* the bloom's last byte */
	case F_MINMAX: return stat_of_kind(im, -1, 1) + 8;
	case F_VALUE_HASH: return stat_of_kind(im, -1, 3) + 8;
	case F_TIME_RANGE: return im->table + 4 + 28 * (size_t)get32(im->d + im->table) + 8 + 8;
	case F_FIELD_NAME: return im->names + 4 + 3; /* the first name's first letter */
	default: return im->table + 4 + 16; /* block 0's first row */
	}
}

/*
 * Someone without the key edits the clear text (a bloom, an integer's min/max, a value
 * hash, the segment's time range, a field name, a block-table entry) and recomputes every
 * checksum: the MAC refuses the file at open. Rewritten with the key (segment_mac_rewrite),
 * the same edits open again: the MAC is what refused them. The MAC's own bytes are covered
 * by test_flipped_bytes.
 */
static void test_forged_clear_text(void)
{
	static const char *const what[F_N] = { "bloom", "min/max", "value hash", "time range",
					       "field name", "block table" };
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	char path[700];

	fresh("forged");
	CHECK_INT(write_segment(1, 300, &key1, &e), 0);
	seg_path(path, sizeof(path), 1);
	for (int f = 0; f < F_N; f++) {
		struct image im;

		if (!image_load(&im, path))
			return;
		im.d[forged_byte(&im, (enum forgery)f)] ^= 0x5a;
		image_recrc(&im);
		image_save(&im, path);
		CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), -EBADMSG);
		if (f == F_BLOCK_TABLE) /* refused by the table's own consistency first */
			CHECK(strstr(e.msg, "footer: entry of block 0") != NULL);
		else
			t_check(strstr(e.msg, "segment authentication failed") && strstr(e.msg, path),
				__FILE__, __LINE__, "%s: %s", what[f], e.msg);
		CHECK_INT(segment_mac_rewrite(im.d, im.len, &key1, &e),
			  f == F_BLOCK_TABLE ? -EBADMSG : 0);
		image_save(&im, path);
		if (f != F_BLOCK_TABLE) {
			CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
			segment_close(s);
			s = NULL;
		}
		im.d[forged_byte(&im, (enum forgery)f)] ^= 0x5a; /* back as written */
		image_recrc(&im);
		CHECK_INT(segment_mac_rewrite(im.d, im.len, &key1, &e), 0);
		image_save(&im, path);
		CHECK_INT(read_all(path, &e), 0);
		free(im.d);
	}
}

/* ---- verify: the clear text that skips blocks against the values (a writer's error) -- */

/* What each forgery changes: a statistic, a time range, a value list, the index. */
enum skip_forgery { V_PORT_RANGE, V_PORT_NONE, V_IP_RANGE, V_TIME_RANGE, V_VALUE_SET, V_INDEX,
		    V_SEG_TIME, V_N };

static void set64(unsigned char *p, uint64_t v)
{
	set32(p, (uint32_t)v);
	set32(p + 4, (uint32_t)(v >> 32));
}

/* The seal id of part n of kind (docs/store.md) of segment 1 of DAY0, format 6. */
static uint64_t seal_id_of(uint32_t kind, uint32_t n)
{
	unsigned char in[28], out[8];

	set64(in, TENANT);
	set32(in + 8, DAY0);
	set32(in + 12, 1);
	set32(in + 16, kind);
	set32(in + 20, n);
	set32(in + 24, 6);
	crypto_generichash(out, sizeof(out), in, sizeof(in), NULL, 0);
	return get64(out);
}

/*
 * Moves the first row of posting page 0's first list one row away (the list then names a
 * row without its value and misses one with it), as a writer's error could: unsealed,
 * changed, compressed again (padded to its length with a zstd skippable frame) and sealed
 * again with the key. The MAC covers no sealed byte.
 */
static void forge_posting(struct image *im)
{
	size_t pg = im->table + 4 + 28 * (size_t)get32(im->d + im->table) + 72;
	size_t off = (size_t)get64(im->d + pg), len = get32(im->d + pg + 8);
	size_t raw = get32(im->d + pg + 12), plain = len - KEYS_SEAL_OVERHEAD, z = 0;
	unsigned char *p = malloc(plain), *r = malloc(raw), *c = malloc(plain);
	uint64_t id = seal_id_of(2, 0);
	bool ok = p && r && c && keys_unseal(&key1, id, im->d + off, len, p) == 0 &&
		  ZSTD_decompress(r, raw, p, plain) == raw && r[0] < 0x80;

	if (ok) {
		r[0] = r[0] ? (unsigned char)(r[0] - 1) : 1; /* a one-byte varint still */
		z = ZSTD_compress(c, plain, r, raw, 19);
		ok = !ZSTD_isError(z) && (z == plain || z + 8 <= plain);
	}
	if (ok && z < plain) {
		set32(c + z, 0x184d2a50); /* a skippable frame */
		set32(c + z + 4, (uint32_t)(plain - z - 8));
		memset(c + z + 8, 0, plain - z - 8);
	}
	CHECK(ok && keys_seal(&key1, id, c, plain, im->d + off) == 0);
	free(p);
	free(r);
	free(c);
}

static void forge_skip(struct image *im, enum skip_forgery f)
{
	size_t hl, blk = block_header(im, 0, &hl);
	size_t port = stat_of_kind(im, image_name(im, "destination.port"), 1);

	switch (f) {
	case V_PORT_RANGE: /* the minimum made the maximum */
		memcpy(im->d + port + 8, im->d + port + 24, 8);
		break;
	case V_PORT_NONE: /* a kind readers ignore: no statistic of the field */
		set32(im->d + port + 4, 9);
		break;
	case V_IP_RANGE: /* the maximum made the minimum */
		memmove(im->d + stat_of_kind(im, image_name(im, "source.ip"), 2) + 24,
			im->d + stat_of_kind(im, image_name(im, "source.ip"), 2) + 8, 16);
		break;
	case V_TIME_RANGE: /* the minimum @timestamp made the maximum */
		memcpy(im->d + blk + 16, im->d + blk + 24, 8);
		break;
	case V_VALUE_SET: /* the first value's hash */
		im->d[stat_of_kind(im, image_name(im, "event.action"), 3) + 8] ^= 0x5a;
		break;
	case V_SEG_TIME: { /* the footer's minimum @timestamp (after the events) made its maximum */
		unsigned char *t = im->d + im->table + 4 + 28 * (size_t)get32(im->d + im->table) + 8;

		memcpy(t, t + 8, 8);
		break;
	}
	default:
		forge_posting(im);
		break;
	}
}

/*
 * A writer's error in what lets a search skip a block (a range statistic that excludes a
 * value or is missing, a time range, a value list, a posting list) is authenticated like
 * the rest, so the MAC cannot tell it: each is forged with the key (the MAC rewritten), the
 * file opens, and segment_verify() names the block, the field, the range and the value.
 * The segment as written verifies.
 */
static void test_verify_skip_data(void)
{
	static const char *const what[V_N] = { "port range", "port statistic", "address range",
					       "time range", "value list", "index",
					       "segment's time range" };
	char path[700], expect[V_N][300], lo[IPADDR_STRLEN], hi[IPADDR_STRLEN];
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct ipaddr ilo, ihi;
	struct image orig;
	int64_t mn = 0, mx = 0;

	fresh("verify");
	CHECK_INT(write_segment(1, 300, &key1, &e), 0);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s || !image_load(&orig, path))
		return;
	CHECK_INT(segment_verify(s, &e), 0);
	CHECK_INT(segment_block_int_range(s, 0, "destination.port", &mn, &mx), 1);
	CHECK_INT(segment_block_ip_range(s, 0, "source.ip", &ilo, &ihi), 1);
	CHECK(mn < mx && memcmp(&ilo, &ihi, 16));
	segment_close(s);
	ipaddr_format(&ilo, lo);
	ipaddr_format(&ihi, hi);
	snprintf(expect[V_PORT_RANGE], sizeof(expect[0]), "offset 52: block 0: field "
		 "destination.port: the block's statistics give the range [%lld, %lld], but the "
		 "block holds the value %lld (searches would skip it)", (long long)mx,
		 (long long)mx, (long long)mn);
	snprintf(expect[V_PORT_NONE], sizeof(expect[0]), "offset 52: block 0: field "
		 "destination.port: the block's statistics have no range of it, but the block "
		 "holds the value %lld", (long long)mn);
	snprintf(expect[V_IP_RANGE], sizeof(expect[0]), "offset 52: block 0: field source.ip: "
		 "the block's statistics give the range [%s, %s], but the block holds the value %s",
		 lo, lo, hi);
	snprintf(expect[V_TIME_RANGE], sizeof(expect[0]), "offset 52: block 0: row ");
	snprintf(expect[V_VALUE_SET], sizeof(expect[0]), "offset 52: block 0: field event.action: "
		 "the value \"%s\" is not in the block's list of the field's values",
		 actions[mix(0) % 4]);
	snprintf(expect[V_INDEX], sizeof(expect[0]), "the index does not list the values of field ");
	snprintf(expect[V_SEG_TIME], sizeof(expect[0]), "block 0: row ");
	for (int f = 0; f < V_N; f++) {
		struct image im = orig;

		im.d = malloc(orig.len);
		if (!im.d)
			break;
		memcpy(im.d, orig.d, orig.len);
		forge_skip(&im, (enum skip_forgery)f);
		image_recrc(&im);
		CHECK_INT(segment_mac_rewrite(im.d, im.len, &key1, &e), 0);
		image_save(&im, path);
		free(im.d);
		s = NULL;
		CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
		if (!s)
			continue;
		CHECK_INT(segment_verify(s, &e), -EBADMSG);
		t_check(strstr(e.msg, path) && strstr(e.msg, expect[f]), __FILE__, __LINE__,
			"%s: %s", what[f], e.msg);
		if (f == V_TIME_RANGE)
			CHECK(strstr(e.msg, "outside the block's time range") != NULL);
		if (f == V_SEG_TIME)
			CHECK(strstr(e.msg, "outside the footer's time range") != NULL);
		if (f == V_INDEX)
			CHECK(strstr(e.msg, "block 0 differs first") != NULL);
		segment_close(s);
	}
	image_save(&orig, path);
	CHECK_INT(read_all(path, &e), 0);
	free(orig.d);
}

/*
 * A row whose @timestamp is not on its segment's day (a writer's error: searches pick
 * segments by day, so one of that day would never open it) is named by segment_verify();
 * a time before 1970 belongs to day 0.
 */
static void test_verify_day(void)
{
	struct segment_writer *w = NULL;
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	char path[700];
	struct event ev;
	struct arena a;

	CHECK_INT(segment_day_of(T0), DAY0);
	CHECK_INT(segment_day_of(T0 - 1), DAY0 - 1);
	CHECK_INT(segment_day_of(-1), 0);
	CHECK_INT(segment_day_of(0), 0);
	fresh("verify-day");
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	for (unsigned i = 0; w && i < 10; i++) {
		gen(&ev, &a, i);
		if (i == 7) /* the next day's first nanosecond */
			CHECK_INT(event_set_time(&ev, FIELD_TIMESTAMP, T0 + 86400 * INT64_C(1000000000)),
				  0);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(&a);
	}
	CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	arena_release(&a);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		return;
	CHECK_INT(segment_verify(s, &e), -EBADMSG);
	CHECK(strstr(e.msg, "block 0: row 7 has @timestamp 2025-12-01T00:00:00Z, not on the "
			    "segment's day 2025-11-30 (searches of its time would not open this "
			    "segment)") != NULL);
	segment_close(s);
}

/* Rewrites a segment's format version in its header (and every checksum). */
static void set_version(const char *path, uint32_t version)
{
	struct image im;

	if (!image_load(&im, path))
		return;
	set32(im.d + 8, version);
	image_recrc(&im);
	image_save(&im, path);
	free(im.d);
}

/*
 * The downgrade: a version 6 file relabelled as version 5 (or 4, 3), its MAC cut out of
 * the footer and every length and checksum made to fit, would be read without a MAC; it is
 * refused at open because its seals do not open under the older version's ids, even when a
 * bloom was forged too (so the forged bloom never gets to skip a block). Versions 2 and 7
 * are refused as unknown.
 */
static void relabel(const char *path, uint32_t version, bool forge_bloom)
{
	struct image im;
	size_t mac;

	if (!image_load(&im, path))
		return;
	mac = im.foot + im.foot_len - 4 - 32;
	memmove(im.d + mac, im.d + mac + 32, im.len - mac - 32);
	im.len -= 32;
	im.foot_len -= 32;
	set32(im.d + im.len - 16, (uint32_t)im.foot_len);
	set32(im.d + 8, version);
	if (forge_bloom)
		im.d[forged_byte(&im, F_BLOOM)] = 0;
	image_recrc(&im);
	image_save(&im, path);
	free(im.d);
}

static void test_relabelled(void)
{
	struct err e = ERR_INIT;
	char path[700];

	fresh("relabel");
	seg_path(path, sizeof(path), 1);
	for (uint32_t v = 3; v <= 5; v++) {
		for (int forge = 0; forge < 2; forge++) {
			struct segment *s = NULL;

			unlink(path);
			CHECK_INT(write_segment(1, 300, &key1, &e), 0);
			relabel(path, v, forge);
			CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), -EBADMSG);
			CHECK(strstr(e.msg, "relabelled") != NULL);
			segment_close(s);
		}
	}
	for (uint32_t v = 2; v <= SEGMENT_VERSION + 1; v += SEGMENT_VERSION - 1) {
		struct segment *s = NULL;
		char says[64];

		set_version(path, v);
		CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), -EPROTO);
		snprintf(says, sizeof(says), "reads versions 3 to %d", SEGMENT_VERSION);
		CHECK(strstr(e.msg, says) != NULL);
		segment_close(s);
	}
}

/* A line whose numbers are random: their streams are bit-packed (17, 27 bits, negative). */
static void packed_event(struct event *ev, struct arena *a, unsigned i)
{
	char line[200];
	uint64_t r = mix(i + 77);
	int n = snprintf(line, sizeof(line),
			 "<14>fw1 sent=%llu seq=%llu delta=%lld pk=%u,%u end %s",
			 (unsigned long long)(r % 100000) + 50, (unsigned long long)(r >> 20) % 100000000,
			 -(long long)((r >> 50) % 5000) - 1, (unsigned)(r >> 40) % 150 + 1,
			 (unsigned)(r >> 40) % 150, i % 3 ? "ok" : "");

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i * 1000);
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
}

/* Bit-packed variable streams (clp_pack()) come back exactly, whole and row by row. */
static void test_text_packed(void)
{
	struct err e = ERR_INIT;
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a, ga;
	struct event ev, *evs, want;
	char path[700];
	unsigned next = 0, count = SEGMENT_BLOCK_EVENTS + 1500;
	uint32_t n, rows[3] = { 0, 1000, 4095 };

	fresh("packed");
	arena_init(&a, 1 << 20, 1 << 28);
	arena_init(&ga, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	for (unsigned i = 0; w && i < count; i++) {
		packed_event(&ev, &ga, i);
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(&ga);
	}
	if (w)
		CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (!s)
		goto out;
	segment_get_info(s, &info);
	for (unsigned b = 0; b < info.blocks; b++) {
		CHECK_INT(segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e), 0);
		for (uint32_t i = 0; i < n; i++, next++) {
			packed_event(&want, &ga, next);
			if (!same_event(&want, &evs[i], next))
				break;
			arena_clear(&ga);
		}
		arena_clear(&a);
	}
	CHECK_INT(next, count);
	CHECK_INT(segment_block_read_rows(s, 0, rows, 3, NULL, 0, &a, &evs, &n, &e), 0);
	for (uint32_t i = 0; i < n && i < 3; i++) {
		packed_event(&want, &ga, rows[i]);
		same_event(&want, &evs[i], rows[i]);
		arena_clear(&ga);
	}
	arena_clear(&a);
	/* about 12 bytes of text per event: the numbers' bits, not their digits or varints */
	CHECK(info.file_bytes < (uint64_t)count * 16);
	printf("  text with random numbers: %.1f bytes per event\n", (double)info.file_bytes / count);
	CHECK_INT(segment_verify(s, &e), 0);
	segment_close(s);
out:
	arena_release(&a);
	arena_release(&ga);
}

/* Block 0 of an older format's fixture holds text_event() 0 to 59, whole and in order. */
static void check_fixture_events(struct segment *s, struct arena *a, struct arena *ga)
{
	struct err e = ERR_INIT;
	struct event *evs, want;
	uint32_t n = 0;

	CHECK_INT(segment_block_read(s, 0, NULL, 0, a, &evs, &n, &e), 0);
	CHECK_INT(n, 60);
	for (uint32_t i = 0; i < n; i++) {
		text_event(&want, ga, i);
		if (!same_event(&want, &evs[i], i))
			break;
		arena_clear(ga);
	}
	arena_clear(a);
}

/* The fixture's index finds the rows of its two source addresses. */
static void check_fixture_index(struct segment *s)
{
	struct err e = ERR_INIT;
	uint32_t *hits = NULL;
	size_t nh = 0, want_n = 0;

	CHECK_INT(segment_lookup(s, "source.ip", "10.1.2.3", 8, &hits, &nh, &e), 0);
	for (unsigned i = 0; i < 60; i++)
		want_n += i % 10 < 7 || i % 7 == 3;
	CHECK_INT(nh, want_n);
	mem_free(hits);
	hits = NULL;
	CHECK_INT(segment_lookup(s, "source.ip", "10.1.2.5", 8, &hits, &nh, &e), 0);
	want_n = 0;
	for (unsigned i = 0; i < 60; i++)
		want_n += i % 10 >= 7 && i % 7 == 5;
	CHECK_INT(nh, want_n);
	mem_free(hits);
}

/*
 * Opens the fixture tests/data/store/segment-vVERSION (text_event() 0 to 59 under key1, as a
 * koban of that format wrote it) with the two arenas the checks use, and checks that its
 * events read back (check_fixture_events). NULL (CHECKed) when it does not open; the caller
 * releases the arenas either way.
 */
static struct segment *fixture_open(int version, struct arena *a, struct arena *ga)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	char path[700];

	snprintf(path, sizeof(path), "%s/store/segment-v%d/2025-11-30-0001.seg", t_data_dir(),
		 version);
	arena_init(a, 1 << 20, 1 << 28);
	arena_init(ga, 1 << 16, 1 << 24);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	if (s)
		check_fixture_events(s, a, ga);
	return s;
}

/*
 * A segment that koban wrote in format 3 (tests/data/store/segment-v3: text_event() 0 to
 * 59 under key1, written by the version 3 writer, variables in streams by their number in
 * the line, lines of 300 and 3,000 variables among them) reads back line for line, whole,
 * row by row and through the phrase search of the templates.
 */
static void test_version3_text(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct arena a, ga;
	struct event *evs, want;
	uint32_t n = 0, rows[SEGMENT_BLOCK_EVENTS], nr = 0, pick[3] = { 7, 8, 59 };
	const char *needle = "deny";
	size_t nl = 4;

	s = fixture_open(3, &a, &ga);
	if (!s)
		goto out;
	CHECK_INT(segment_block_read_rows(s, 0, pick, 3, NULL, 0, &a, &evs, &n, &e), 0);
	CHECK_INT(n, 3);
	for (uint32_t i = 0; i < n && i < 3; i++) {
		text_event(&want, &ga, pick[i]);
		same_event(&want, &evs[i], pick[i]);
		arena_clear(&ga);
	}
	arena_clear(&a);
	CHECK_INT(segment_block_text_rows(s, 0, &needle, &nl, 1, &a, rows, &nr, &e), 0);
	CHECK(nr >= 20); /* every odd line's "act=deny", and the odd ones that say deny */
	check_fixture_index(s); /* format 3: keys as shared prefix and rest, never deltas */
	CHECK_INT(segment_verify(s, &e), 0);
	segment_close(s);
out:
	arena_release(&a);
	arena_release(&ga);
}

/*
 * A segment that koban wrote in format 4 (tests/data/store/segment-v4: text_event() 0 to 59
 * under key1, written by the version 4 writer): its index directory's entries one after
 * another (format 5: in streams) and its blooms holding the addresses, read as before.
 */
static void test_version4(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct arena a, ga;

	s = fixture_open(4, &a, &ga);
	if (!s)
		goto out;
	CHECK(segment_block_may_contain(s, 0, "10.1.2.3", 8)); /* format 4's blooms had them */
	/* its statistics cover first values only: no block is skipped on them */
	CHECK(!segment_block_stats_complete(s, 0));
	CHECK(may_hold_ints(s, 0, "destination.port", -5, -1));
	CHECK(may_hold_ints(s, SEGMENT, "destination.port", -5, -1));
	CHECK(may_hold_ips(s, SEGMENT, "source.ip", "192.0.2.0", "192.0.2.255"));
	check_fixture_index(s);
	{ /* its string keys kept their case, which a lookup ignores: scan */
		uint32_t *rows = NULL;
		size_t n = 0;

		CHECK_INT(segment_lookup(s, "user.name", "corp\\alice", 10, &rows, &n, &e), -ENOTSUP);
		CHECK(strstr(e.msg, "format 4") != NULL);
		CHECK(rows == NULL && n == 0);
	}
	CHECK_INT(segment_verify(s, &e), 0);
	segment_close(s);
out:
	arena_release(&a);
	arena_release(&ga);
}

/*
 * A segment that koban wrote in format 5 (tests/data/store/segment-v5: text_event() 0 to 59
 * under key1, written by the version 5 writer, before segments carried a MAC): read, looked
 * up and its addresses found through the index (format 5's blooms do not hold them), as
 * before.
 */
static void test_version5(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct arena a, ga;
	struct ipaddr ip;
	unsigned char blocks[1] = { 0 };

	s = fixture_open(5, &a, &ga);
	if (!s)
		goto out;
	check_fixture_index(s);
	ipaddr_parse(&ip, "10.1.2.5", 8);
	CHECK_INT(segment_address_blocks(s, &ip, blocks, &e), 0);
	CHECK_INT(blocks[0], 1);
	CHECK_INT(segment_verify(s, &e), 0);
	segment_close(s);
out:
	arena_release(&a);
	arena_release(&ga);
}

/*
 * Index keys that agree on their first 16 bytes or differ only in their length (the
 * writer sorts on 16-byte prefixes, then whole keys): every value is found, with its rows.
 */
static void long_key(char *out, size_t size, unsigned i)
{
	switch (i % 4) {
	case 0: snprintf(out, size, "a-user-name-sharing-its-start-%u", i % 37); break;
	case 1: snprintf(out, size, "0123456789abcdef"); break;  /* 16 bytes */
	case 2: snprintf(out, size, "0123456789abcdef0"); break; /* 17: the same prefix */
	default: snprintf(out, size, "0123456789abcde"); break;  /* 15 */
	}
}

static void test_lookup_long_keys(void)
{
	struct segment_writer *w = NULL;
	struct segment *s = NULL;
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	char path[700], key[64];
	const unsigned count = 5000;

	fresh("longkeys");
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(segment_writer_open(&w, dir, TENANT, DAY0, 1, &key1, &e), 0);
	for (unsigned i = 0; w && i < count; i++) {
		event_init(&ev, &a);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + i);
		long_key(key, sizeof(key), i);
		event_set_strdup(&ev, FIELD_USER_NAME, key, strlen(key));
		CHECK_INT(segment_writer_add(w, &ev, &e), 0);
		arena_clear(&a);
	}
	if (w)
		CHECK_INT(segment_writer_finish(w, &e), 0);
	segment_writer_free(w);
	seg_path(path, sizeof(path), 1);
	CHECK_INT(segment_open(&s, path, TENANT, &key1, &e), 0);
	for (unsigned k = 0; s && k < 4 * 37; k++) {
		uint32_t *rows = NULL;
		size_t n = 0, want = 0, j = 0;
		bool ok = true;

		long_key(key, sizeof(key), k);
		for (unsigned i = 0; i < count; i++) {
			char other[64];

			long_key(other, sizeof(other), i);
			want += !strcmp(other, key);
		}
		CHECK_INT(segment_lookup(s, "user.name", key, strlen(key), &rows, &n, &e), 0);
		CHECK_INT(n, want);
		for (unsigned i = 0; i < count && j < n; i++) {
			char other[64];

			long_key(other, sizeof(other), i);
			if (!strcmp(other, key))
				ok &= rows[j++] == i;
		}
		CHECK(ok);
		mem_free(rows);
	}
	segment_close(s);
	arena_release(&a);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(key1.key); i++) {
		key1.key[i] = (unsigned char)(mix(i) >> 7);
		key2.key[i] = (unsigned char)(mix(i + 100) >> 7);
	}
	for (size_t i = 0; i < sizeof(key1.id); i++) {
		key1.id[i] = (unsigned char)i;
		key2.id[i] = (unsigned char)(i + 1);
	}
	f_related = field_intern("related.ip", 10, FT_IP);
	f_panos_rule = field_intern("panos.app", 9, FT_STR);
	f_panos_session = field_intern("panos.session_id", 16, FT_INT);
	f_panos_flag = field_intern("panos.decrypted", 15, FT_BOOL);
	f_hash = field_intern("file.hash.sha256", 16, FT_STR);
	f_category = field_intern("event.category", 14, FT_STR);
	T_RUN(test_names);
	T_RUN(test_round_trip);
	T_RUN(test_raw_bytes);
	T_RUN(test_read_rows);
	T_RUN(test_text_columns);
	T_RUN(test_placeholder_after_variables);
	T_RUN(test_int_planes);
	T_RUN(test_forged_clear_text);
	T_RUN(test_verify_skip_data);
	T_RUN(test_verify_day);
	T_RUN(test_relabelled);
	T_RUN(test_version3_text);
	T_RUN(test_version4);
	T_RUN(test_version5);
	T_RUN(test_text_packed);
	T_RUN(test_text_rows);
	T_RUN(test_skipping);
	T_RUN(test_full_stats);
	T_RUN(test_time_in_row_area);
	T_RUN(test_bloom);
	T_RUN(test_value_sets);
	T_RUN(test_value_sets_partial);
	T_RUN(test_lookup);
	T_RUN(test_lookup_long_keys);
	T_RUN(test_lookup_case);
	T_RUN(test_wrong_key_and_tenant);
	T_RUN(test_flipped_bytes);
	T_RUN(test_unfinished);
	T_RUN(test_mem_fail);
	return t_done();
}
