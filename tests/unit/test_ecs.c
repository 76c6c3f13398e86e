/*
 * Unit tests of parse/ecs: nested and dotted keys, typed values, arrays, absent values,
 * RFC 3339 times, errors with their columns, limits, allocation failures, and the round
 * trip event -> event_write_json -> ecs_decode -> event_write_json (same bytes) on
 * generated events, on every line of tests/data/parse/ *.json, and on what the syslog
 * parser makes of tests/data/parse/ *.log and the shared PAN-OS, A10 and server samples.
 */
#include "parse/ecs.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/syslog.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct arena arena;
static struct event ev;

static int decode(const char *s, struct err *e)
{
	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(e);
	return ecs_decode(&ev, s, strlen(s), e);
}

/* Decodes s and checks that writing it gives want. */
static void check_json(const char *s, const char *want, int line)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int rc = decode(s, &e);

	if (rc == 0)
		rc = event_write_json(&ev, &out);
	t_check(rc == 0 && !strcmp(out.p, want), __FILE__, line, "%s: want %s, got %d %s %s", s,
		want, rc, out.p, e.msg);
	buf_release(&out);
}
#define CHECK_JSON(s, want) check_json(s, want, __LINE__)

static void check_error(const char *s, const char *want, int line)
{
	struct err e = ERR_INIT;
	int rc = decode(s, &e);

	t_check(rc < 0 && strstr(e.msg, want) && ev.n == 0, __FILE__, line,
		"%s: want \"%s\", got %d \"%s\" (%u values)", s, want, rc, e.msg, ev.n);
}
#define CHECK_ERROR(s, want) check_error(s, want, __LINE__)

static void test_types(void)
{
	struct err e = ERR_INIT;
	const struct event_value *v;
	const char *s;
	size_t n;
	char ip[IPADDR_STRLEN];
	static const char line[] =
		"{\"@timestamp\":\"2026-03-15T12:00:00.5+09:00\",\"source\":{\"ip\":\"2001:db8::1\","
		"\"port\":443},\"destination.ip\":\"10.1.2.3\",\"message\":\"plain\","
		"\"user\":{\"name\":\"a\\u00e9\"},\"vendor\":{\"flag\":true,\"n\":12.5}}";

	CHECK_INT(decode(line, &e), 0);
	v = event_get(&ev, FIELD_TIMESTAMP);
	CHECK(v && v->v.i == INT64_C(1773543600500000000)); /* 2026-03-15T03:00:00.5Z */
	v = event_get(&ev, FIELD_SOURCE_IP);
	CHECK(v != NULL);
	if (v) {
		ipaddr_format(&v->v.ip, ip);
		CHECK_STR(ip, "2001:db8::1");
	}
	v = event_get(&ev, FIELD_DESTINATION_IP);
	CHECK(v && ipaddr_is_v4(&v->v.ip));
	v = event_get(&ev, FIELD_SOURCE_PORT);
	CHECK(v && v->v.i == 443);
	CHECK_INT(event_get_str(&ev, FIELD_MESSAGE, &s, &n), 1);
	CHECK(s == line + strlen("{\"@timestamp\":\"2026-03-15T12:00:00.5+09:00\",\"source\":{"
				 "\"ip\":\"2001:db8::1\",\"port\":443},\"destination.ip\":"
				 "\"10.1.2.3\",\"message\":\"")); /* zero copy */
	CHECK_INT(event_get_str(&ev, FIELD_USER_NAME, &s, &n), 1);
	CHECK_MEM(s, n, "a\xc3\xa9");
	/* unknown names become string fields holding the JSON text */
	CHECK_INT(event_get_str(&ev, (unsigned)field_lookup("vendor.flag", 11), &s, &n), 1);
	CHECK_MEM(s, n, "true");
	CHECK_INT(event_get_str(&ev, (unsigned)field_lookup("vendor.n", 8), &s, &n), 1);
	CHECK_MEM(s, n, "12.5");
	CHECK_INT(field_type((unsigned)field_lookup("vendor.n", 8)), FT_STR);

	CHECK_JSON(line, "{\"@timestamp\":\"2026-03-15T03:00:00.500Z\",\"destination\":{\"ip\":"
			 "\"10.1.2.3\"},\"message\":\"plain\",\"source\":{\"ip\":\"2001:db8::1\","
			 "\"port\":443},\"user\":{\"name\":\"a\xc3\xa9\"},\"vendor\":{\"flag\":"
			 "\"true\",\"n\":\"12.5\"}}");
	/* a number or boolean in a known string field is its text */
	CHECK_JSON("{\"host.name\":42,\"rule\":{\"id\":false}}",
		   "{\"host\":{\"name\":\"42\"},\"rule\":{\"id\":\"false\"}}");
	CHECK_JSON("{\"event\":{\"severity\":-3}}", "{\"event\":{\"severity\":-3}}");
}

static void test_arrays_and_absent(void)
{
	CHECK_JSON("{\"event\":{\"category\":[\"network\",\"authentication\"],\"type\":[]}}",
		   "{\"event\":{\"category\":[\"network\",\"authentication\"]}}");
	CHECK_JSON("{\"tags\":[\"a\",null,\"b\",1]}", "{\"tags\":[\"a\",\"b\",\"1\"]}");
	CHECK_JSON("{\"source.port\":[80]}", "{\"source\":{\"port\":80}}");
	CHECK_JSON("{\"message\":null,\"host\":{},\"x\":[null]}", "{}");
	CHECK_JSON("{}", "{}");
	CHECK_JSON(" { } \r\n", "{}");
	CHECK_ERROR("{\"source.port\":[80,81]}",
		    "column 20: field source.port: expected one value (only string and IP fields "
		    "take several)");
	CHECK_ERROR("{\"tags\":[[\"a\"]]}", "column 10: field tags: expected strings, numbers or "
					       "booleans in an array, found an array");
	CHECK_ERROR("{\"tags\":[{\"a\":1}]}", "found an object");
}

static void test_names(void)
{
	char big[400];
	int n;

	/* nested and dotted keys name the same fields; dots inside keys are kept */
	CHECK_JSON("{\"log\":{\"syslog.facility\":{\"code\":4}},\"log.syslog.priority\":34}",
		   "{\"log\":{\"syslog\":{\"facility\":{\"code\":4},\"priority\":34}}}");
	/* empty keys inside objects are name segments */
	CHECK_JSON("{\"zz\":{\"\":{\"b\":\"1\"}},\"\":{\"lead\":\"2\"}}",
		   "{\"\":{\"lead\":\"2\"},\"zz\":{\"\":{\"b\":\"1\"}}}");
	CHECK_ERROR("{\"\":\"x\"}", "column 5: field (top level): expected a non-empty field name");
	CHECK_ERROR("{\"source\":{\"ip\":\"10.0.0.1\"},\"source.ip\":\"10.0.0.2\"}",
		    "column 41: field source.ip: expected each field once");
	CHECK_ERROR("{\"a\":\"1\",\"a\":\"2\"}", "field a: expected each field once");
	CHECK_ERROR("{\"a\\u0000b\":\"1\"}", "column 2: field (top level): expected a key without "
						"NUL characters");
	n = snprintf(big, sizeof(big), "{\"%0300d\":1}", 7);
	CHECK(n > 300);
	CHECK_ERROR(big, "column 2: field (top level): expected a field name of at most 256 bytes, "
			 "found 300");
	/* a name with unprintable bytes is shown safely in errors */
	CHECK_ERROR("{\"x\\n\\u001b[31m\":{\"port\":\"1\"},\"source.port\":\"1\"}",
		    "field source.port: expected an integer");
	CHECK_ERROR("{\"a\\tb\":{\"c\":[[1]]}}", "field a?b.c: expected strings");
}

static void test_value_errors(void)
{
	CHECK_ERROR("{\"source\":{\"port\":\"80\"}}",
		    "column 19: field source.port: expected an integer, found a string");
	CHECK_ERROR("{\"source.port\":80.0}", "column 16: field source.port: expected an integer, "
						 "found 80.0");
	CHECK_ERROR("{\"source.port\":1e3}", "expected an integer, found 1e3");
	CHECK_ERROR("{\"network.bytes\":9223372036854775808}",
		    "field network.bytes: expected an integer within 64 bits");
	CHECK_ERROR("{\"source.ip\":\"10.0.0.256\"}",
		    "column 14: field source.ip: expected an IPv4 or IPv6 address, found "
		    "\"10.0.0.256\"");
	CHECK_ERROR("{\"source.ip\":\"\\u001b[2J\\n\"}", "found \"?[2J?\""); /* no escapes */
	CHECK_ERROR("{\"source.ip\":167772161}", "field source.ip: expected an IP address string, "
						"found a number");
	CHECK_ERROR("{\"@timestamp\":\"2026-02-30T00:00:00Z\"}",
		    "column 24: field @timestamp: expected an RFC 3339 time");
	CHECK_ERROR("{\"@timestamp\":\"2026-01-01T00:00:00\"}",
		    "column 35: field @timestamp: expected an RFC 3339 time");
	CHECK_ERROR("{\"@timestamp\":1700000000}", "field @timestamp: expected an RFC 3339 time "
						   "string, found a number");
	CHECK_ERROR("{\"@timestamp\":\"1600-01-01T00:00:00Z\"}",
		    "field @timestamp: expected a time between the years 1678 and 2262");
	CHECK_ERROR("{\"message\":{\"a\":1},\"message.a\":[1,2],\"x\":{}}",
		    "column 33: field message.a: expected each field once");
	CHECK_ERROR("[]", "column 1: expected an object, found an array");
	CHECK_ERROR("\"x\"", "column 1: expected an object, found a string");
	CHECK_ERROR("{\"a\":\"1\"} {}", "column 11: expected the end of the input");
	CHECK_ERROR("{\"a\":\"1\",}", "column 10: expected a key string after ','");
	CHECK_ERROR("{\"a\":\"\xff\"}", "column 7: invalid UTF-8");
	CHECK_ERROR("", "column 1: expected a value");
}

/* s decoded with ECS_CHECK_RANGES, as `koban ingest --format ecs` reads a line. */
static int decode_checked(const char *s, struct err *e)
{
	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(e);
	return ecs_decode_flags(&ev, s, strlen(s), ECS_CHECK_RANGES, e);
}

/* ECS_CHECK_RANGES (input from outside): ports and counts as the decoders check them. */
static void test_ranges(void)
{
	static const char *bad[] = { "{\"destination.port\":65536}", "{\"source\":{\"port\":-1}}",
				     "{\"network.bytes\":-5}" };
	struct err e = ERR_INIT;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(decode_checked(bad[i], &e), -EINVAL);
		CHECK_INT(ev.n, 0);
		CHECK_INT(decode(bad[i], &e), 0); /* a stored event reads back as it was */
	}
	CHECK_INT(decode_checked(bad[0], &e), -EINVAL);
	CHECK_STR(e.msg, "column 21: field destination.port: expected an integer from 0 to 65535 "
		  "(a port), found 65536");
	CHECK_INT(decode_checked(bad[2], &e), -EINVAL);
	CHECK(strstr(e.msg, "expected an integer 0 or more (a count or size), found -5") != NULL);
	CHECK_INT(decode_checked("{\"source.port\":0,\"network.bytes\":0,"
				 "\"koban.clock_skew_seconds\":-3}", &e), 0);
}

static int round_trip(const char *line, size_t len, struct buf *out, struct err *e);

static void test_limits(void)
{
	struct buf line = BUF_INIT(32 << 20);
	struct err e = ERR_INIT;
	int depth;

	/* nesting: ECS_DEPTH_MAX objects are fine, one more is refused (empty keys keep
	 * the name short) */
	for (depth = 0; depth <= ECS_DEPTH_MAX; depth++)
		CHECK_INT(buf_adds(&line, "{\"\":"), 0);
	CHECK_INT(buf_adds(&line, "\"x\""), 0);
	for (int i = 0; i < depth; i++)
		CHECK_INT(buf_addch(&line, '}'), 0);
	CHECK_INT(decode(line.p, &e), -EINVAL);
	CHECK(strstr(e.msg, "expected objects nested at most 128 deep"));
	CHECK(strstr(e.msg, "column 513:"));
	buf_reset(&line);
	for (depth = 0; depth < ECS_DEPTH_MAX - 1; depth++)
		CHECK_INT(buf_adds(&line, "{\"\":"), 0);
	CHECK_INT(buf_adds(&line, "{\"b\":\"x\""), 0);
	for (int i = 0; i <= depth; i++)
		CHECK_INT(buf_addch(&line, '}'), 0);
	CHECK_INT(decode(line.p, &e), 0); /* 127 dots and a b: 128 objects */
	CHECK_INT(ev.n, 1);
	/* a dotted name that would nest deeper when written back */
	buf_reset(&line);
	CHECK_INT(buf_adds(&line, "{\"a"), 0);
	for (depth = 0; depth < ECS_DEPTH_MAX; depth++)
		CHECK_INT(buf_adds(&line, "."), 0);
	CHECK_INT(buf_adds(&line, "\":\"x\"}"), 0);
	CHECK_INT(decode(line.p, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 2: field a...."));
	CHECK(strstr(e.msg, "expected a field name of at most 128 dot-separated parts"));
	/* and one that nests exactly as deep as allowed round-trips */
	{
		struct buf out = BUF_INIT(1 << 12), again = BUF_INIT(1 << 12);

		buf_reset(&line);
		CHECK_INT(buf_adds(&line, "{\"a"), 0);
		for (depth = 0; depth < ECS_DEPTH_MAX - 2; depth++)
			CHECK_INT(buf_adds(&line, ".b"), 0);
		CHECK_INT(buf_adds(&line, "\":\"x\"}"), 0);
		CHECK_INT(decode(line.p, &e), 0);
		CHECK_INT(event_write_json(&ev, &out), 0);
		CHECK_INT(round_trip(out.p, out.len, &again, &e), 0);
		buf_release(&out);
		buf_release(&again);
	}

	/* a line over the maximum */
	{
		char *big = malloc(ECS_LINE_MAX + 2);
		size_t s_len;
		const char *s;

		CHECK(big != NULL);
		if (big) {
			memcpy(big, "{\"message\":\"", 12);
			memset(big + 12, 'm', ECS_LINE_MAX - 14);
			memcpy(big + ECS_LINE_MAX - 2, "\"}", 3);
			CHECK_INT(decode(big, &e), 0); /* exactly the maximum */
			CHECK_INT(event_get_str(&ev, FIELD_MESSAGE, &s, &s_len), 1);
			CHECK_INT(s_len, ECS_LINE_MAX - 14);
			memcpy(big + ECS_LINE_MAX - 2, "m\"}", 4);
			CHECK_INT(decode(big, &e), -E2BIG); /* one byte more */
			free(big);
		}
	}
	CHECK(strstr(e.msg, "expected at most 16777216"));

	/* too many values */
	buf_reset(&line);
	CHECK_INT(buf_adds(&line, "{\"tags\":["), 0);
	for (int i = 0; i <= EVENT_MAX_VALUES; i++)
		CHECK_INT(buf_addf(&line, "%s\"t%d\"", i ? "," : "", i), 0);
	CHECK_INT(buf_adds(&line, "]}"), 0);
	CHECK_INT(decode(line.p, &e), -ENOSPC);
	CHECK(strstr(e.msg, "field tags: more than 1024 values in the event"));
	CHECK_INT(ev.n, 0);
	buf_release(&line);
}

static void test_times(void)
{
	static const struct {
		const char *in;
		int64_t ns;
	} ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01t00:00:00z", 0 },
		{ "1970-01-01 00:00:01Z", NS_PER_SEC },
		{ "1970-01-01T09:00:00+09:00", 0 },
		{ "1969-12-31T19:30:00-04:30", 0 },
		{ "1969-12-31T23:59:59.999999999Z", -1 },
		{ "2024-02-29T00:00:00.1234567Z", INT64_C(1709164800123456700) },
		{ "2024-02-29T00:00:00.12345678912Z", INT64_C(1709164800123456789) },
		{ "2262-04-11T23:47:16.854775807Z", INT64_MAX },
		{ "1677-09-21T00:12:43.145224192Z", INT64_MIN },
	};
	static const char *bad[] = {
		"", "2026-01-01", "2026-01-01T00:00Z", "2026-1-01T00:00:00Z", "2026-01-01T24:00:00Z",
		"2026-01-01T23:60:00Z", "2026-12-31T23:59:60Z", "2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00+0900", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00Zx",
		"2026-01-01X00:00:00Z", "+2026-01-01T00:00:00Z", "2026-01-01T00:00:00 Z",
	};
	int64_t ns = 0;
	size_t at;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = time_parse_rfc3339(ok[i].in, strlen(ok[i].in), &ns, &at);

		t_check(rc == 0 && ns == ok[i].ns, __FILE__, __LINE__, "%s: %d %lld", ok[i].in, rc,
			(long long)ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		t_check(time_parse_rfc3339(bad[i], strlen(bad[i]), &ns, &at) == -EINVAL, __FILE__,
			__LINE__, "%s accepted", bad[i]);
	CHECK_INT(time_parse_rfc3339("2262-04-11T23:47:16.854775808Z", 30, &ns, &at), -ERANGE);
	CHECK_INT(time_parse_rfc3339("1677-09-21T00:12:43.145224191Z", 30, &ns, &at), -ERANGE);
	CHECK_INT(time_parse_rfc3339("2026-01-01T00:00:00+0900", 24, &ns, &at), -EINVAL);
	CHECK_INT(at, 22);
	CHECK_INT(time_parse_rfc3339("2026-02-30T00:00:00Z", 20, &ns, &at), -EINVAL);
	CHECK_INT(at, 8);
}

/* ---- round trips ---- */

static unsigned rnd_state = 1;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static uint64_t rnd64(void)
{
	uint64_t x = 0;

	for (int i = 0; i < 4; i++)
		x = (x << 16) | rnd(65536);
	return x;
}

/* A string with the bytes a log line may carry: text, quotes, controls, bad UTF-8. */
static const char *rnd_string(size_t *len)
{
	static const char *parts[] = { "abc", " ", "\"", "\\", "\n", "\t", "\x01", "\x7f",
				       "\xc3\xa9", "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xed\xa0\x80",
				       "\0", "/", "{}[],:", "10.0.0.1" };
	char *s = arena_alloc(&arena, 64);
	size_t n = 0, k = rnd(6);

	for (size_t i = 0; i < k; i++) {
		const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];
		size_t l = *p ? strlen(p) : 1;

		memcpy(s + n, p, l);
		n += l;
	}
	*len = n;
	return s;
}

static const char *vendor_names[] = {
	"vendor.a", "vendor.a.b", "vendor.a.c", "vendor.b", "host", "log.syslog.structured_data.x@1.p",
	"log.syslog.structured_data.x@1.p.q", "zz..y", "zz.", "\xc3\xa9t\xc3\xa9", "q\"uote",
	"event.zzz", "source.ipx", "source", "a.b.c.d.e.f.g",
};

static void random_event(struct event *e)
{
	unsigned nvals = rnd(20);

	for (unsigned i = 0; i < nvals; i++) {
		unsigned f;
		size_t len;
		const char *s;
		struct ipaddr ip;

		if (rnd(3) == 0) {
			const char *name = vendor_names[rnd(sizeof(vendor_names) /
							    sizeof(vendor_names[0]))];
			int id = field_intern(name, strlen(name), FT_STR);

			if (id < 0)
				continue;
			f = (unsigned)id;
		} else {
			f = rnd(FIELD_COUNT);
		}
		switch (field_type(f)) {
		case FT_STR:
			s = rnd_string(&len);
			if (event_get(e, f) && rnd(2))
				CHECK_INT(event_add_str(e, f, s, len), 0);
			else
				CHECK_INT(event_set_str(e, f, s, len), 0);
			break;
		case FT_INT:
			CHECK_INT(event_set_int(e, f, rnd(2) ? (int64_t)rnd64() : (int64_t)rnd(70000)),
				  0);
			break;
		case FT_TIME:
			CHECK_INT(event_set_time(e, f, rnd(4) ? (int64_t)rnd64()
							     : (int64_t)rnd(2000000) * 1000000000 +
								       rnd(3) * 1000000),
				  0);
			break;
		case FT_BOOL:
			CHECK_INT(event_set_bool(e, f, rnd(2)), 0);
			break;
		case FT_OBJ: {
			static const char *const objs[] = {
				"{}", "{\"a\":[1,{\"b\":null}]}",
				"{\"indicator\":{\"ip\":\"192.0.2.1\"},\"x\":\"\\u00e9\"}",
			};

			s = objs[rnd(3)];
			CHECK_INT(event_add_obj(e, f, s, strlen(s)), 0);
			break;
		}
		case FT_IP:
			memset(&ip, 0, sizeof(ip));
			if (rnd(2)) {
				ip.b[10] = ip.b[11] = 0xff;
				for (int b = 12; b < 16; b++)
					ip.b[b] = (uint8_t)rnd(256);
			} else {
				for (int b = 0; b < 16; b++)
					ip.b[b] = rnd(3) ? 0 : (uint8_t)rnd(256);
			}
			CHECK_INT(event_set_ip(e, f, &ip), 0);
			break;
		}
	}
}

/* write(line) == line after a decode: line must be event_write_json output. */
static int round_trip(const char *line, size_t len, struct buf *out, struct err *e)
{
	struct event back;

	event_init(&back, &arena);
	buf_reset(out);
	if (ecs_decode(&back, line, len, e) < 0)
		return -1;
	if (event_write_json(&back, out) < 0)
		return -2;
	return out->len == len && !memcmp(out->p, line, len) ? 0 : -3;
}

static void test_round_trip_generated(void)
{
	struct buf first = BUF_INIT(1 << 20), again = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int bad = 0;

	for (int i = 0; i < 20000; i++) {
		int rc;

		arena_clear(&arena);
		event_init(&ev, &arena);
		random_event(&ev);
		buf_reset(&first);
		CHECK_INT(event_write_json(&ev, &first), 0);
		rc = round_trip(first.p, first.len, &again, &e);
		if (rc && bad++ < 5)
			t_check(0, __FILE__, __LINE__, "round trip %d: %s\n  -> %s\n  %s", rc,
				first.p, again.p, e.msg);
	}
	CHECK_INT(bad, 0);
	buf_release(&first);
	buf_release(&again);
}

static void test_round_trip_golden(void)
{
	char dir[4096], path[4200];
	struct buf out = BUF_INIT(1 << 21);
	struct err e = ERR_INIT;
	struct dirent *d;
	unsigned lines = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/parse", t_data_dir());
	dp = opendir(dir);
	CHECK(dp != NULL);
	while (dp && (d = readdir(dp))) {
		size_t nl = strlen(d->d_name), len;
		char *text, *p, *end;

		if (nl < 6 || strcmp(d->d_name + nl - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		text = t_read_file(path, &len);
		CHECK(text != NULL);
		for (p = text; text && p < text + len; p = end + 1) {
			int rc;

			end = memchr(p, '\n', (size_t)(text + len - p));
			if (!end)
				end = text + len;
			if (end == p)
				continue;
			arena_clear(&arena);
			rc = round_trip(p, (size_t)(end - p), &out, &e);
			t_check(rc == 0, __FILE__, __LINE__, "%s line %u: %d %s\n%.*s\n%s", d->d_name,
				lines + 1, rc, e.msg, (int)(end - p), p, out.p);
			lines++;
		}
		free(text);
	}
	if (dp)
		closedir(dp);
	CHECK(lines > 20);
	buf_release(&out);
}

/* Lines of a directory's files through the syslog parser, then the round trip. */
static unsigned syslog_round_trips(const char *dir, const char *suffix)
{
	struct buf first = BUF_INIT(1 << 24), again = BUF_INIT(1 << 24);
	struct syslog_opts o = { .format = SYSLOG_AUTO, .received_ns = INT64_C(1773543600000000000) };
	struct err e = ERR_INIT;
	struct dirent *d;
	unsigned lines = 0;
	DIR *dp = opendir(dir);

	while (dp && (d = readdir(dp))) {
		size_t nl = strlen(d->d_name), sl = strlen(suffix), len;
		char path[4200], *text, *p, *end;

		if (nl <= sl || strcmp(d->d_name + nl - sl, suffix))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		text = t_read_file(path, &len);
		for (p = text; text && p < text + len; p = end + 1) {
			int rc;

			end = memchr(p, '\n', (size_t)(text + len - p));
			if (!end)
				end = text + len;
			if (end == p || *p == '#')
				continue;
			arena_clear(&arena);
			event_init(&ev, &arena);
			(void)!syslog_parse(&ev, p, (size_t)(end - p), &o, NULL); /* failures too */
			buf_reset(&first);
			CHECK_INT(event_write_json(&ev, &first), 0);
			rc = round_trip(first.p, first.len, &again, &e);
			t_check(rc == 0, __FILE__, __LINE__, "%s: %d %s\n%s\n%s", path, rc, e.msg,
				first.p, again.p);
			lines++;
		}
		free(text);
	}
	if (dp)
		closedir(dp);
	buf_release(&first);
	buf_release(&again);
	return lines;
}

static void test_round_trip_syslog(void)
{
	static const char *dirs[] = { "panos", "a10", "generic" };
	char dir[4096];
	unsigned n;

	snprintf(dir, sizeof(dir), "%s/parse", t_data_dir());
	CHECK(syslog_round_trips(dir, ".log") > 20);
	if (!t_shared_dir()) {
		t_skip("../shared/data is absent: only tests/data/parse was used");
		return;
	}
	n = 0;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/samples/%s", t_shared_dir(), dirs[i]);
		n += syslog_round_trips(dir, ".log");
		n += syslog_round_trips(dir, ".txt");
	}
	CHECK(n > 20);
}

/* ECS_FLATTEN_ARRAYS (koban rule test): arrays of objects become multi-valued dotted fields. */
static void test_flatten_arrays(void)
{
	const char *s = "{\"T\": [{\"M\": [{\"N\": \"a\"}, {\"N\": \"b\", \"O\": 1}]}, "
			"{\"M\": {\"N\": \"c\"}}, [\"x\"]], \"u\": 2}";
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;

	int n_values = 0, nf;

	CHECK_INT(decode(s, &e), -EINVAL); /* refused without the flag */
	arena_clear(&arena);
	event_init(&ev, &arena);
	CHECK_INT(ecs_decode_flags(&ev, s, strlen(s), ECS_FLATTEN_ARRAYS, &e), 0);
	nf = field_lookup("T.M.N", 5);
	for (uint32_t i = 0; i < ev.n; i++) {
		if ((int)ev.vals[i].field != nf)
			continue;
		CHECK_MEM(ev.vals[i].v.s, ev.vals[i].len, n_values == 0 ? "a" : n_values == 1 ? "b" : "c");
		n_values++;
	}
	CHECK_INT(n_values, 3);
	CHECK(event_get(&ev, (unsigned)field_lookup("T.M.O", 5)) != NULL);
	CHECK(event_get(&ev, (unsigned)field_lookup("T", 1)) != NULL);
	CHECK(event_get(&ev, (unsigned)field_lookup("u", 1)) != NULL);
	CHECK_INT(event_write_json(&ev, &out), 0);
	buf_release(&out);
	/* a non-string known field still takes one value */
	arena_clear(&arena);
	event_init(&ev, &arena);
	s = "{\"a\": [{\"source\": {\"port\": 1}}, {\"source\": {\"port\": 2}}]}";
	CHECK_INT(ecs_decode_flags(&ev, s, strlen(s), ECS_FLATTEN_ARRAYS, &e), 0);
	s = "{\"source\": [{\"port\": 1}, {\"port\": 2}]}";
	arena_clear(&arena);
	event_init(&ev, &arena);
	CHECK_INT(ecs_decode_flags(&ev, s, strlen(s), ECS_FLATTEN_ARRAYS, &e), -EINVAL);
	CHECK(strstr(e.msg, "expected one value"));
}

static void test_mem_fail(void)
{
	static const char line[] =
		"{\"newvendor\":{\"k1\":\"a\\nb\",\"k2\":[\"c\\td\",\"e\"]},\"message\":\"x\\u00e9\","
		"\"source\":{\"ip\":\"10.0.0.1\",\"port\":1}}";
	struct buf out = BUF_INIT(1 << 12);
	struct err e = ERR_INIT;
	int ok = 0, failed = 0;

	CHECK_INT(buf_grow(&out, 1024), 0);
	for (long n = 0; n < 40; n++) {
		struct arena a;
		struct event x;
		int rc;

		arena_init(&a, 8, 1 << 20);
		event_init(&x, &a);
		err_clear(&e);
		mem_fail_after(n);
		rc = ecs_decode(&x, line, sizeof(line) - 1, &e);
		mem_fail_after(-1);
		t_check(rc == 0 || (rc == -ENOMEM && strstr(e.msg, "out of memory") && x.n == 0),
			__FILE__, __LINE__, "after %ld: %d %s", n, rc, e.msg);
		if (rc == 0) {
			buf_reset(&out);
			CHECK_INT(event_write_json(&x, &out), 0);
			CHECK_STR(out.p, "{\"message\":\"x\xc3\xa9\",\"newvendor\":{\"k1\":\"a\\nb\","
					 "\"k2\":[\"c\\td\",\"e\"]},\"source\":{\"ip\":\"10.0.0.1\","
					 "\"port\":1}}");
			ok++;
		} else {
			failed++;
		}
		arena_release(&a);
	}
	CHECK(ok > 0 && failed > 0);
	buf_release(&out);
}

int main(void)
{
	arena_init(&arena, 1 << 16, 64 << 20);
	T_RUN(test_types);
	T_RUN(test_arrays_and_absent);
	T_RUN(test_names);
	T_RUN(test_value_errors);
	T_RUN(test_ranges);
	T_RUN(test_limits);
	T_RUN(test_times);
	T_RUN(test_round_trip_generated);
	T_RUN(test_round_trip_golden);
	T_RUN(test_round_trip_syslog);
	T_RUN(test_flatten_arrays);
	T_RUN(test_mem_fail);
	arena_release(&arena);
	return t_done();
}
