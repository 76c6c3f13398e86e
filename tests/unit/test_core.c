/* Unit tests of the core building blocks: buf, arena, mem hook, event JSON, time. */
#include "core/arena.h"
#include "core/crc32c.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include <errno.h>

static void test_buf_max(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK_INT(buf_adds(&b, "12345"), 0);
	CHECK_INT(buf_adds(&b, "6789"), -ENOSPC);
	CHECK_STR(b.p, "12345");
	CHECK_INT(buf_addf(&b, "%d", 678), 0);
	CHECK_STR(b.p, "12345678");
	CHECK_INT(buf_addch(&b, 'x'), -ENOSPC);
	buf_reset(&b);
	CHECK_INT(buf_add_int(&b, INT64_MIN), -ENOSPC);
	CHECK_INT(buf_add_int(&b, -1234567), 0);
	CHECK_STR(b.p, "-1234567");
	buf_reset(&b);
	CHECK_INT(buf_add_int(&b, 0), 0);
	CHECK_STR(b.p, "0");
	buf_reset(&b);
	CHECK_INT(buf_adds(&b, "12345678"), 0);
	buf_consume(&b, 3);
	CHECK_STR(b.p, "45678");
	buf_release(&b);
}

static void test_mem_fail_hook(void)
{
	struct buf b;

	buf_init(&b, 1024);
	mem_fail_after(0);
	CHECK_INT(buf_adds(&b, "x"), -ENOMEM);
	CHECK_INT(b.len, 0);
	CHECK_INT(mem_failed_count(), 1);
	mem_fail_after(-1);
	CHECK_INT(buf_adds(&b, "x"), 0);
	buf_release(&b);
}

static void test_arena_limit(void)
{
	struct arena a;
	char *p;

	arena_init(&a, 64, 256);
	p = arena_strndup(&a, "hello", 5);
	CHECK_STR(p, "hello");
	CHECK(arena_alloc(&a, 300) == NULL);
	CHECK(arena_alloc(&a, 100) != NULL);
	arena_clear(&a);
	CHECK_INT(a.used, 0);
	CHECK(arena_alloc(&a, 200) != NULL);
	arena_release(&a);
}

/* A batch loop's chunks are reused after a clear, up to ARENA_KEEP_MAX bytes of them. */
static void test_arena_keeps_chunks(void)
{
	size_t chunk = ARENA_KEEP_MAX / 2;
	struct arena a;
	void *p[3], *q[3];

	arena_init(&a, chunk, 8 * chunk);
	for (int i = 0; i < 3; i++) /* three chunks */
		CHECK((p[i] = arena_alloc(&a, chunk)) != NULL);
	arena_clear(&a);
	CHECK_INT(a.used, 0);
	for (int i = 0; i < 3; i++)
		CHECK((q[i] = arena_alloc(&a, chunk)) != NULL);
	/* two were kept (ARENA_KEEP_MAX) and come back, the older first; the third is new */
	CHECK(q[0] == p[1]);
	CHECK(q[1] == p[2]);
	CHECK_INT(a.used, 3 * chunk);
	arena_clear(&a);
	CHECK(arena_alloc(&a, 2 * chunk) != NULL); /* larger than a chunk: its own */
	CHECK(arena_alloc(&a, 16) == p[2]);         /* then a kept one */
	arena_release(&a);
	CHECK(a.head == NULL && a.spare == NULL);
}

/* The allocator takes koban's settings (core/mem.h) on this C library. */
static void test_mem_tune(void)
{
	CHECK_INT(mem_tune(), 0);
}

/* CRC-32C: the check value of the catalogue, chaining, and both ways of computing it. */
static void test_crc32c(void)
{
	unsigned char b[1100];
	uint32_t x = 12345;

	CHECK(crc32c(0, "123456789", 9) == 0xE3069283u);
	CHECK(crc32c_portable(0, "123456789", 9) == 0xE3069283u);
	CHECK(crc32c(0, "", 0) == 0);
	CHECK(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
	for (size_t i = 0; i < sizeof(b); i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(b); len += len < 40 ? 1 : 97)
			if (crc32c(7, b + off, len) != crc32c_portable(7, b + off, len)) {
				CHECK(!"the two ways differ");
				return;
			}
}

static void test_event_reserve(void)
{
	struct arena a;
	struct event ev;
	const struct event_value *vals;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	CHECK_INT(event_set_str(&ev, FIELD_MESSAGE, "m", 1), 0);
	CHECK_INT(event_reserve(&ev, 200), 0);
	CHECK(ev.cap >= 200);
	vals = ev.vals;
	for (int i = 0; i < 199; i++)
		CHECK_INT(event_add_str(&ev, FIELD_TAGS, "t", 1), 0);
	CHECK(ev.vals == vals); /* no growth: one allocation for the whole row */
	CHECK_INT(event_reserve(&ev, 10), 0); /* less than there is: nothing to do */
	CHECK_INT(event_reserve(&ev, EVENT_MAX_VALUES + 1), 0); /* clamped to the maximum */
	CHECK_INT(ev.cap, EVENT_MAX_VALUES);
	while (ev.n < EVENT_MAX_VALUES)
		CHECK_INT(event_add_str(&ev, FIELD_TAGS, "t", 1), 0);
	CHECK_INT(event_add_str(&ev, FIELD_TAGS, "t", 1), -ENOSPC);
	CHECK_INT(event_reserve(&ev, EVENT_MAX_VALUES + 1), -ENOSPC);
	arena_release(&a);
}

static void test_event_add_once(void)
{
	struct arena a;
	struct event ev;
	struct ipaddr ip, ip2;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	CHECK_INT(ipaddr_parse(&ip, "192.0.2.1", 9), 0);
	CHECK_INT(ipaddr_parse(&ip2, "2001:db8::1", 11), 0);
	CHECK_INT(event_add_ip_once(&ev, FIELD_RELATED_IP, &ip), 0);
	CHECK_INT(event_add_ip_once(&ev, FIELD_RELATED_IP, &ip2), 0);
	CHECK_INT(event_add_ip_once(&ev, FIELD_RELATED_IP, &ip), 0);
	CHECK_INT(event_add_str_once(&ev, FIELD_RELATED_USER, "alice", 5), 0);
	CHECK_INT(event_add_str_once(&ev, FIELD_RELATED_USER, "alice", 5), 0);
	CHECK_INT(event_add_str_once(&ev, FIELD_RELATED_USER, "alic", 4), 0);
	CHECK_INT(ev.n, 4); /* two addresses, two names */
	CHECK_INT(event_add_ip_once(&ev, FIELD_RELATED_USER, &ip), -EINVAL); /* a string field */
	arena_release(&a);
}

static void test_event_json_nested_sorted(void)
{
	struct arena a;
	struct event ev;
	struct buf out = BUF_INIT(4096);
	struct ipaddr ip;
	int sd = field_intern("log.syslog.structured_data.x@1.k", 32, FT_STR);

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	CHECK(sd >= FIELD_COUNT);
	CHECK_INT(event_set_str(&ev, FIELD_MESSAGE, "hi \"there\"\n", 11), 0);
	CHECK_INT(event_set_int(&ev, FIELD_LOG_SYSLOG_PRIORITY, 13), 0);
	CHECK_INT(event_set_str(&ev, FIELD_HOST_NAME, "h1", 2), 0);
	CHECK_INT(event_set_time(&ev, FIELD_TIMESTAMP, INT64_C(1700000000123000000)), 0);
	CHECK_INT(ipaddr_parse(&ip, "10.1.2.3", 8), 0);
	CHECK_INT(event_set_ip(&ev, FIELD_SOURCE_IP, &ip), 0);
	CHECK_INT(event_add_str(&ev, (unsigned)sd, "a", 1), 0);
	CHECK_INT(event_add_str(&ev, (unsigned)sd, "b\xff", 2), 0);
	CHECK_INT(event_set_str(&ev, FIELD_LOG_SYSLOG_PRIORITY, "x", 1), -EINVAL);
	CHECK_INT(event_write_json(&ev, &out), 0);
	CHECK_STR(out.p, "{\"@timestamp\":\"2023-11-14T22:13:20.123Z\",\"host\":{\"name\":\"h1\"},"
			 "\"log\":{\"syslog\":{\"priority\":13,\"structured_data\":{\"x@1\":{\"k\":"
			 "[\"a\",\"b\xef\xbf\xbd\"]}}}},\"message\":\"hi \\\"there\\\"\\n\","
			 "\"source\":{\"ip\":\"10.1.2.3\"}}");
	buf_release(&out);
	arena_release(&a);
}

/* Vendor fields sort between known ones by name, and among themselves. */
static void test_event_json_vendor_order(void)
{
	static const char *const names[] = { "zzz.v", "log.syslog.structured_data.b.k",
					     "aaa.v", "log.syslog.structured_data.a.k" };
	struct arena a;
	struct event ev;
	struct buf out = BUF_INIT(4096);

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		event_set_str(&ev, (unsigned)field_intern(names[i], strlen(names[i]), FT_STR), "x", 1);
	event_set_str(&ev, FIELD_LOG_SYSLOG_VERSION, "1", 1);
	event_set_int(&ev, FIELD_LOG_SYSLOG_SEVERITY_CODE, 3);
	event_set_str(&ev, FIELD_MESSAGE, "m", 1);
	CHECK_INT(event_write_json(&ev, &out), 0);
	CHECK_STR(out.p, "{\"aaa\":{\"v\":\"x\"},\"log\":{\"syslog\":{\"severity\":{\"code\":3},"
			 "\"structured_data\":{\"a\":{\"k\":\"x\"},\"b\":{\"k\":\"x\"}},"
			 "\"version\":\"1\"}},\"message\":\"m\",\"zzz\":{\"v\":\"x\"}}");
	buf_release(&out);
	arena_release(&a);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Hundreds of vendor fields in one gap between known names (a PAN-OS line's panos.*
 * columns), inserted out of order: the merge sort keeps name order, with names that
 * differ within the first 16 bytes and names that share a longer prefix, and keeps
 * repeated values in insertion order.
 */
static void test_event_json_many_vendor_fields(void)
{
	enum { N = 300 };
	static char names[N][64];
	const char *sorted[N];
	struct arena a;
	struct event ev;
	struct buf out = BUF_INIT(1 << 20), want = BUF_INIT(1 << 20);

	arena_init(&a, 1 << 16, 1 << 22);
	event_init(&ev, &a);
	for (unsigned i = 0; i < N; i++) {
		if (i % 2)
			snprintf(names[i], sizeof(names[i]), "a%u", i * 37 % 1000);
		else
			snprintf(names[i], sizeof(names[i]), "key_with_a_long_common_prefix_%03u",
				 (i * 7919) % N);
		sorted[i] = names[i];
	}
	for (unsigned k = 0; k < N; k++) {
		unsigned i = (k * 97) % N; /* out of order */
		char full[80];
		int id;

		snprintf(full, sizeof(full), "vsort.%s", names[i]);
		id = field_intern(full, strlen(full), FT_STR);
		CHECK(id >= 0);
		CHECK_INT(event_add_str(&ev, (unsigned)id, names[i], strlen(names[i])), 0);
		if (i == 4) /* a repeated field keeps its values' order */
			CHECK_INT(event_add_str(&ev, (unsigned)id, "second", 6), 0);
	}
	qsort(sorted, N, sizeof(sorted[0]), cmp_str);
	buf_adds(&want, "{\"vsort\":{");
	for (unsigned i = 0; i < N; i++) {
		buf_addf(&want, "%s\"%s\":", i ? "," : "", sorted[i]);
		if (sorted[i] == names[4])
			buf_addf(&want, "[\"%s\",\"second\"]", sorted[i]);
		else
			buf_addf(&want, "\"%s\"", sorted[i]);
	}
	buf_adds(&want, "}}");
	CHECK_INT(event_write_json(&ev, &out), 0);
	CHECK(out.len == want.len && !memcmp(out.p, want.p, out.len));
	buf_release(&out);
	buf_release(&want);
	arena_release(&a);
}

/* One special byte at every position of plain strings that span several 8-byte words. */
static void test_json_string_escapes_everywhere(void)
{
	static const struct { char c; const char *esc; } specials[] = {
		{ '"', "\\\"" }, { '\\', "\\\\" }, { '\n', "\\n" }, { 1, "\\u0001" },
		{ '\x80', "\xef\xbf\xbd" }, { 0x1f, "\\u001f" }, { ' ', " " },
	};
	struct buf out = BUF_INIT(256), want = BUF_INIT(256);
	char in[40];

	for (size_t s = 0; s < ARRAY_SIZE(specials); s++)
		for (size_t n = 1; n <= sizeof(in); n++)
			for (size_t k = 0; k < n; k++) {
				memset(in, 'a', n);
				in[k] = specials[s].c;
				buf_reset(&out);
				buf_reset(&want);
				json_add_string(&out, in, n);
				buf_addch(&want, '"');
				buf_add(&want, in, k);
				buf_adds(&want, specials[s].esc);
				buf_add(&want, in + k + 1, n - k - 1);
				buf_addch(&want, '"');
				if (!CHECK(out.len == want.len && !memcmp(out.p, want.p, out.len)))
					goto done;
			}
done:
	buf_release(&out);
	buf_release(&want);
}

static void test_civil_roundtrip(void)
{
	struct civil_time c = { 2024, 2, 29, 23, 59, 58, 5000 }, d;
	char s[TIME_RFC3339_LEN];
	int64_t ns = time_from_civil_utc(&c);

	time_to_civil_utc(ns, &d);
	CHECK_INT(d.year, 2024);
	CHECK_INT(d.month, 2);
	CHECK_INT(d.day, 29);
	CHECK_INT(d.sec, 58);
	CHECK_INT(d.nsec, 5000);
	time_format_rfc3339(ns, s);
	CHECK_STR(s, "2024-02-29T23:59:58.000005Z");
	time_format_rfc3339(-1, s);
	CHECK_STR(s, "1969-12-31T23:59:59.999999999Z");
}

static void test_cidr(void)
{
	struct ipaddr net, ip;
	unsigned p;

	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/8", 10), 0);
	CHECK_INT(p, 104);
	CHECK_INT(ipaddr_parse(&ip, "10.200.1.1", 10), 0);
	CHECK(ipaddr_in_prefix(&ip, &net, p));
	CHECK_INT(ipaddr_parse(&ip, "11.0.0.1", 8), 0);
	CHECK(!ipaddr_in_prefix(&ip, &net, p));
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "2001:db8::/33", 13), 0);
	CHECK_INT(p, 33);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/33", 11), -EINVAL);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "nonsense", 8), -EINVAL);
	{
		static const char *const texts[] = { "0.0.0.0", "255.255.255.255", "10.0.100.9",
						      "2001:db8::1", "::" };
		char out[IPADDR_STRLEN];

		for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
			CHECK_INT(ipaddr_parse(&ip, texts[i], strlen(texts[i])), 0);
			ipaddr_format(&ip, out);
			CHECK_STR(out, texts[i]);
		}
	}
}

/* Where text stops being UTF-8 without NUL bytes, and the line and column of that byte. */
static void test_utf8_text(void)
{
	static const char ok[] = "a: 1\n\xe6\x97\xa5\xe6\x9c\xac: 2\n";
	static const char bad[] = "a: 1\n%\x89\n";
	static const char nul[] = "ab\ncd\0e";
	unsigned line;
	size_t col;

	CHECK_INT(json_utf8_text(ok, sizeof(ok) - 1, &line, &col), sizeof(ok) - 1);
	CHECK_INT(line, 3);
	CHECK_INT(json_utf8_text(bad, sizeof(bad) - 1, &line, &col), 6);
	CHECK_INT(line, 2);
	CHECK_INT(col, 2);
	CHECK_INT(json_utf8_text(nul, sizeof(nul) - 1, &line, &col), 5);
	CHECK_INT(line, 2);
	CHECK_INT(col, 3);
	CHECK_INT(json_utf8_text("\xed\xa0\x80", 3, &line, &col), 0); /* a surrogate */
}

/* Ports are 0..65535, counts and sizes 0 or more; other integer fields take any value. */
static void test_field_int_valid(void)
{
	CHECK(field_int_valid(FIELD_SOURCE_PORT, 0));
	CHECK(field_int_valid(FIELD_DESTINATION_NAT_PORT, 65535));
	CHECK(!field_int_valid(FIELD_DESTINATION_PORT, 65536));
	CHECK(!field_int_valid(FIELD_URL_PORT, -1));
	CHECK(field_int_valid(FIELD_SOURCE_BYTES, 0));
	CHECK(field_int_valid(FIELD_NETWORK_PACKETS, INT64_MAX));
	CHECK(!field_int_valid(FIELD_FILE_SIZE, -1));
	CHECK(field_int_valid(FIELD_KOBAN_CLOCK_SKEW_SECONDS, -5));
	CHECK(field_int_valid(FIELD_COUNT + 1, -1)); /* a vendor field */
	CHECK_STR(field_int_range(FIELD_CLIENT_PORT), "an integer from 0 to 65535 (a port)");
	CHECK_STR(field_int_range(FIELD_COUNT + 1), "an integer");
}

/* A cut never ends inside a UTF-8 character; text that is not UTF-8 is cut where asked. */
static void test_utf8_cut(void)
{
	static const char a3[] = "ab\xe3\x81\x82\xe3\x81\x84"; /* "abあい" */
	static const char emoji[] = "\xf0\x9f\x98\x80";          /* U+1F600 */
	static const char junk[] = "\x80\x80\x80\x80\x80";
	unsigned line;
	size_t col;
	struct err e = ERR_INIT;
	char big[700];

	CHECK_INT(json_utf8_cut(a3, 8, 8), 8);
	CHECK_INT(json_utf8_cut(a3, 8, 7), 5);
	CHECK_INT(json_utf8_cut(a3, 8, 6), 5);
	CHECK_INT(json_utf8_cut(a3, 8, 5), 5);
	CHECK_INT(json_utf8_cut(a3, 8, 4), 2);
	CHECK_INT(json_utf8_cut(a3, 8, 3), 2);
	CHECK_INT(json_utf8_cut(a3, 8, 100), 8);
	CHECK_INT(json_utf8_cut(a3, 7, 7), 5); /* the end of the text itself cut a character */
	CHECK_INT(json_utf8_cut(emoji, 4, 3), 0);
	CHECK_INT(json_utf8_cut(emoji, 4, 4), 4);
	CHECK_INT(json_utf8_cut(junk, 5, 4), 4);
	CHECK_INT(json_utf8_cut("abc", 3, 2), 2);
	/* err_set cuts a message past its room at a character's boundary too */
	for (size_t i = 0; i + 3 <= sizeof(big) - 1; i += 3)
		memcpy(big + i, "\xe3\x81\x82", 3);
	big[sizeof(big) - 1 - (sizeof(big) - 1) % 3] = '\0';
	err_set(&e, -EINVAL, "xy%s", big);
	CHECK_INT(strlen(e.msg), 509); /* "xy" and 169 characters: 511 would split the 170th */
	CHECK_INT(json_utf8_text(e.msg, strlen(e.msg), &line, &col), strlen(e.msg));
}

/* A deadline ns from now lies ns ahead of the clock, its nanoseconds always below a second. */
static void test_time_after(void)
{
	static const int64_t waits[] = { 0, 1, 999999999, NS_PER_SEC, 1500000000, 3600 * NS_PER_SEC };

	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		int64_t before = time_mono_ns();
		struct timespec t = time_after(CLOCK_MONOTONIC, waits[i]);
		int64_t after = time_mono_ns();

		CHECK(t.tv_nsec >= 0 && t.tv_nsec < NS_PER_SEC);
		CHECK(time_ns_of(&t) >= before + waits[i] && time_ns_of(&t) <= after + waits[i]);
	}
}

int main(void)
{
	T_RUN(test_utf8_text);
	T_RUN(test_utf8_cut);
	T_RUN(test_buf_max);
	T_RUN(test_mem_fail_hook);
	T_RUN(test_arena_limit);
	T_RUN(test_arena_keeps_chunks);
	T_RUN(test_crc32c);
	T_RUN(test_mem_tune);
	T_RUN(test_event_reserve);
	T_RUN(test_event_add_once);
	T_RUN(test_event_json_nested_sorted);
	T_RUN(test_event_json_vendor_order);
	T_RUN(test_event_json_many_vendor_fields);
	T_RUN(test_json_string_escapes_everywhere);
	T_RUN(test_civil_roundtrip);
	T_RUN(test_time_after);
	T_RUN(test_field_int_valid);
	T_RUN(test_cidr);
	return t_done();
}
