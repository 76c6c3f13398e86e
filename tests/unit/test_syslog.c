/*
 * Unit tests of parse/syslog: both RFCs field by field, real-world RFC 3164 variants,
 * malformed input, the golden files in tests/data/parse and the shared samples.
 *
 * Golden files: NAME.log holds one message per line; an optional first line
 * "#! format=F tz=ZONE now=RFC3339" sets the options (defaults: auto, Asia/Tokyo,
 * 2026-03-15T03:00:00Z). NAME.json holds the expected event per message line and
 * NAME.err the expected "LINE: message" of every line that fails. Empty lines are
 * skipped. KOBAN_UPDATE_GOLDEN=1 rewrites the expected files from the current output.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/syslog.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW INT64_C(1773543600000000000) /* 2026-03-15T03:00:00Z */

static struct arena arena;
static struct event ev;
static struct err err;

static int parse_with(const char *msg, enum syslog_format f, const char *zone, int64_t now)
{
	struct syslog_opts o = { f, NULL, now, 0, 0 };

	if (zone)
		o.tz = tz_get(zone, strlen(zone), NULL);
	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(&err);
	return syslog_parse(&ev, msg, strlen(msg), &o, &err);
}

static int parse(const char *msg)
{
	return parse_with(msg, SYSLOG_AUTO, NULL, NOW);
}

/* The string value of field, or "(absent)". */
static const char *str(unsigned field)
{
	static char out[1024];
	const char *s;
	size_t n;

	if (!event_get_str(&ev, field, &s, &n))
		return "(absent)";
	snprintf(out, sizeof(out), "%.*s", (int)n, s);
	return out;
}

static long long num(unsigned field)
{
	const struct event_value *v = event_get(&ev, field);

	return v ? (long long)v->v.i : -1;
}

static const char *stamp(void)
{
	static char out[TIME_RFC3339_LEN];
	const struct event_value *v = event_get(&ev, FIELD_TIMESTAMP);

	if (!v)
		return "(absent)";
	time_format_rfc3339(v->v.i, out);
	return out;
}

static const char *json(void)
{
	static struct buf out = BUF_INIT(1 << 20);

	buf_reset(&out);
	if (event_write_json(&ev, &out) < 0)
		return "(json failed)";
	return out.p;
}

static void test_rfc5424_example_sd(void)
{
	const char *m = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
			"[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
			"eventID=\"1011\"][examplePriority@32473 class=\"high\"] \xEF\xBB\xBF"
			"An application event log entry...";
	int f;

	CHECK_INT(parse(m), 0);
	CHECK_INT(num(FIELD_LOG_SYSLOG_PRIORITY), 165);
	CHECK_INT(num(FIELD_LOG_SYSLOG_FACILITY_CODE), 20);
	CHECK_STR(str(FIELD_LOG_SYSLOG_FACILITY_NAME), "local4");
	CHECK_INT(num(FIELD_LOG_SYSLOG_SEVERITY_CODE), 5);
	CHECK_STR(str(FIELD_LOG_SYSLOG_SEVERITY_NAME), "notice");
	CHECK_STR(str(FIELD_LOG_SYSLOG_VERSION), "1");
	CHECK_STR(stamp(), "2003-10-11T22:14:15.003Z");
	CHECK_STR(str(FIELD_HOST_NAME), "mymachine.example.com");
	CHECK_STR(str(FIELD_LOG_SYSLOG_APPNAME), "evntslog");
	CHECK_STR(str(FIELD_LOG_SYSLOG_PROCID), "(absent)");
	CHECK_STR(str(FIELD_LOG_SYSLOG_MSGID), "ID47");
	CHECK_STR(str(FIELD_MESSAGE), "An application event log entry...");
	f = field_lookup("log.syslog.structured_data.exampleSDID@32473.eventSource", 56);
	CHECK(f >= FIELD_COUNT);
	if (f >= 0)
		CHECK_STR(str((unsigned)f), "Application");
	CHECK_INT(num(FIELD_EVENT_CREATED), NOW);
}

static void test_rfc5424_examples(void)
{
	CHECK_INT(parse("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
			"\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8"), 0);
	CHECK_STR(str(FIELD_LOG_SYSLOG_FACILITY_NAME), "auth");
	CHECK_STR(str(FIELD_LOG_SYSLOG_SEVERITY_NAME), "crit");
	CHECK_STR(str(FIELD_PROCESS_NAME), "su");
	CHECK_STR(str(FIELD_MESSAGE), "'su root' failed for lonvick on /dev/pts/8");

	CHECK_INT(parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
			"%% It's time to make the do-nuts."), 0);
	CHECK_STR(stamp(), "2003-08-24T12:14:15.000003Z");
	CHECK_STR(str(FIELD_LOG_SYSLOG_PROCID), "8710");
	CHECK_INT(num(FIELD_PROCESS_PID), 8710);
	CHECK_STR(str(FIELD_MESSAGE), "%% It's time to make the do-nuts.");

	/* no MSG at all, only structured data */
	CHECK_INT(parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
			"[exampleSDID@32473 iut=\"3\"]"), 0);
	CHECK_STR(str(FIELD_MESSAGE), "(absent)");
}

static void test_rfc5424_nil_and_escapes(void)
{
	int f;

	CHECK_INT(parse("<13>1 - - - - - [x@1 a=\"q\\\"b\\\\s\\]c\\n\" a=\"2\" e=\"\"] hi"), 0);
	CHECK_STR(stamp(), "2026-03-15T03:00:00Z"); /* NILVALUE: receive time */
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_STR(str(FIELD_LOG_SYSLOG_APPNAME), "(absent)");
	CHECK_STR(str(FIELD_LOG_SYSLOG_MSGID), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "hi");
	f = field_lookup("log.syslog.structured_data.x@1.a", 32);
	CHECK(f >= 0);
	CHECK(strstr(json(), "\"a\":[\"q\\\"b\\\\s]c\\\\n\",\"2\"],\"e\":\"\"") != NULL);
	/* a dot in a name does not add a nesting level */
	CHECK_INT(parse("<13>1 - h - - - [a.b c.d=\"v\"]"), 0);
	CHECK(strstr(json(), "\"structured_data\":{\"a_b\":{\"c_d\":\"v\"}}") != NULL);
	/* nine fractional digits, lower bound of offsets */
	CHECK_INT(parse("<0>1 2026-01-02T03:04:05.123456789+09:00 h a p m -"), 0);
	CHECK_STR(stamp(), "2026-01-01T18:04:05.123456789Z");
	CHECK_STR(str(FIELD_LOG_SYSLOG_FACILITY_NAME), "kern");
	CHECK_STR(str(FIELD_LOG_SYSLOG_SEVERITY_NAME), "emerg");
	CHECK_INT(parse("<191>1 2026-01-02T03:04:05Z h a p m -"), 0);
	CHECK_STR(str(FIELD_LOG_SYSLOG_FACILITY_NAME), "local7");
	CHECK_STR(str(FIELD_LOG_SYSLOG_SEVERITY_NAME), "debug");
}

/* A failed parse leaves original, created, receive time and message = whole text. */
static void check_fallback(const char *m, enum syslog_format f, const char *want_err)
{
	int rc = parse_with(m, f, NULL, NOW);

	t_check(rc < 0, __FILE__, __LINE__, "accepted: %s", m);
	t_check(strstr(err.msg, want_err) != NULL, __FILE__, __LINE__,
		"error \"%s\" lacks \"%s\"", err.msg, want_err);
	CHECK_STR(str(FIELD_EVENT_ORIGINAL), m);
	CHECK_STR(str(FIELD_MESSAGE), m);
	CHECK_STR(stamp(), "2026-03-15T03:00:00Z");
	CHECK_INT(num(FIELD_LOG_SYSLOG_PRIORITY), -1);
	CHECK_INT(ev.n, 4);
}

static void test_rfc5424_malformed(void)
{
	check_fallback("<192>1 - - - - - -", SYSLOG_AUTO, "PRI 192 out of range");
	check_fallback("<13>1 2026-13-01T00:00:00Z h a p m -", SYSLOG_AUTO, "offset 6: bad TIME");
	check_fallback("<13>1 2026-02-29T00:00:00Z h a p m -", SYSLOG_AUTO, "bad TIMESTAMP");
	check_fallback("<13>1 2026-01-01T00:00:00 h a p m -", SYSLOG_AUTO, "bad TIMESTAMP");
	check_fallback("<13>1 2026-01-01T24:00:00Z h a p m -", SYSLOG_AUTO, "bad TIMESTAMP");
	check_fallback("<13>1 2026-01-01T00:00:00.1234567890Z h a p m -", SYSLOG_AUTO,
		       "bad TIMESTAMP");
	check_fallback("<13>1 - h a p", SYSLOG_AUTO, "message ends after PROCID");
	check_fallback("<13>1 - h a p m", SYSLOG_AUTO, "message ends after MSGID");
	check_fallback("<13>1 - h a p m x", SYSLOG_AUTO, "STRUCTURED-DATA must be");
	check_fallback("<13>1 - h a p m [x a=\"1\"", SYSLOG_AUTO, "or ']'");
	check_fallback("<13>1 - h a p m [x a=\"1]", SYSLOG_AUTO, "no closing");
	check_fallback("<13>1 - h a p m [x a=1]", SYSLOG_AUTO, "expected =\"VALUE\"");
	check_fallback("<13>1 - h a p m [ a=\"1\"]", SYSLOG_AUTO, "SD-ID must be");
	check_fallback("<13>1 - h a p m []", SYSLOG_AUTO, "SD-ID must be");
	check_fallback("<13>1 - h a p m [x]x", SYSLOG_AUTO, "space before MSG");
	check_fallback("<13>1 - h a p 0123456789012345678901234567890123 -", SYSLOG_AUTO,
		       "MSGID must be");
	check_fallback("<13>1 - h 0123456789012345678901234567890123456789012345678 p m -",
		       SYSLOG_AUTO, "APP-NAME must be");
	check_fallback("<13>1 - h\x01 a p m -", SYSLOG_AUTO, "HOSTNAME has a non-printable");
	check_fallback("<13>2x - h a p m -", SYSLOG_RFC5424, "bad VERSION");
	check_fallback("Jan  1 00:00:00 h t: m", SYSLOG_RFC5424, "must start with <PRI>");
	check_fallback("<13", SYSLOG_RFC5424, "bad PRI");
	check_fallback("", SYSLOG_RFC5424, "must start with <PRI>");
}

static void test_rfc3164_examples(void)
{
	/* RFC 3164 section 5.4 */
	CHECK_INT(parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on "
			"/dev/pts/8"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "mymachine");
	CHECK_STR(str(FIELD_LOG_SYSLOG_HOSTNAME), "mymachine");
	CHECK_STR(str(FIELD_PROCESS_NAME), "su");
	CHECK_STR(str(FIELD_LOG_SYSLOG_APPNAME), "su");
	CHECK_STR(str(FIELD_MESSAGE), "'su root' failed for lonvick on /dev/pts/8");
	CHECK_STR(stamp(), "2025-10-11T13:14:15Z"); /* Tokyo, last October */
	CHECK_STR(str(FIELD_EVENT_TIMEZONE), "Asia/Tokyo");

	CHECK_INT(parse("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "10.0.0.99");
	CHECK_STR(str(FIELD_PROCESS_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "Use the BFG!");
	CHECK_STR(stamp(), "2026-02-05T08:32:18Z");

	/* no stamp: the whole text after PRI is MSG */
	CHECK_INT(parse("<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "CST");
	CHECK_INT(parse("<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
			"sched[0]: That's All Folks!"), 0);
	CHECK_STR(str(FIELD_MESSAGE), "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org "
				      "10.1.2.3 sched[0]: That's All Folks!");
	CHECK_STR(stamp(), "2026-03-15T03:00:00Z");
}

static void test_rfc3164_variants(void)
{
	/* no PRI: user.notice */
	CHECK_INT(parse("Nov 30 16:09:08 PA-220 1,2018/11/30 16:09:07,0128,TRAFFIC"), 0);
	CHECK_INT(num(FIELD_LOG_SYSLOG_PRIORITY), 13);
	CHECK_STR(str(FIELD_LOG_SYSLOG_FACILITY_NAME), "user");
	CHECK_STR(str(FIELD_LOG_SYSLOG_SEVERITY_NAME), "notice");
	CHECK_STR(str(FIELD_HOST_NAME), "PA-220");
	CHECK_STR(str(FIELD_PROCESS_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "1,2018/11/30 16:09:07,0128,TRAFFIC");
	CHECK_STR(stamp(), "2025-11-30T07:09:08Z");

	/* no host: CSV, CEF, LEEF, JSON, tags */
	CHECK_INT(parse("<14>Nov 30 16:09:08 1,2021/03/02 09:55:42,1234,GLOBALPROTECT"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "1,2021/03/02 09:55:42,1234,GLOBALPROTECT");
	CHECK_INT(parse("<14>Mar  1 10:00:00 CEF:0|A10|ADC|6.0.7|CGN 102|Nat|5|proto=UDP"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_STR(str(FIELD_PROCESS_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "CEF:0|A10|ADC|6.0.7|CGN 102|Nat|5|proto=UDP");
	CHECK_INT(parse("<14>Mar  1 10:00:00 fw1 CEF:0|A10|ADC|6.0.7|CGN 102|Nat|5|x=1"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "fw1");
	CHECK_STR(str(FIELD_PROCESS_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "CEF:0|A10|ADC|6.0.7|CGN 102|Nat|5|x=1");
	CHECK_INT(parse("<14>Mar  1 10:00:00 fw1 LEEF:1.0|Palo Alto Networks|PAN-OS|x"), 0);
	CHECK_STR(str(FIELD_MESSAGE), "LEEF:1.0|Palo Alto Networks|PAN-OS|x");
	CHECK_INT(parse("<14>Mar  1 10:00:00 {\"a\": 1}"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "{\"a\": 1}");
	CHECK_INT(parse("<38>Mar  1 10:00:00 sshd[4242]: Accepted publickey"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_STR(str(FIELD_PROCESS_NAME), "sshd");
	CHECK_INT(num(FIELD_PROCESS_PID), 4242);
	CHECK_STR(str(FIELD_MESSAGE), "Accepted publickey");
	CHECK_INT(parse("Nov 05 23:30:33 unbound[12636:0] query: 192.168.1.5 wikipedia.org. A IN"),
		  0);
	CHECK_STR(str(FIELD_PROCESS_NAME), "unbound");
	CHECK_STR(str(FIELD_LOG_SYSLOG_PROCID), "12636:0");
	CHECK_INT(num(FIELD_PROCESS_PID), -1);
	CHECK_STR(str(FIELD_MESSAGE), "query: 192.168.1.5 wikipedia.org. A IN");
	CHECK_INT(parse("<22>Mar  1 10:00:00 mx1 postfix/smtpd[99]: connect from x[1.2.3.4]"), 0);
	CHECK_STR(str(FIELD_PROCESS_NAME), "postfix/smtpd");
	CHECK_STR(str(FIELD_MESSAGE), "connect from x[1.2.3.4]");

	/* ISO and RFC 3339 stamps, fractions, year variant */
	CHECK_INT(parse("<13>2026-03-14T10:00:00.5+01:00 host app: m"), 0);
	CHECK_STR(stamp(), "2026-03-14T09:00:00.500Z");
	CHECK_STR(str(FIELD_EVENT_TIMEZONE), "(absent)");
	CHECK_INT(parse("<13>2026-03-14T10:00:00 host app: m"), 0);
	CHECK_STR(stamp(), "2026-03-14T01:00:00Z");
	CHECK_INT(parse("<13>2026-03-14 10:00:00.123456Z host app: m"), 0);
	CHECK_STR(stamp(), "2026-03-14T10:00:00.123456Z");
	CHECK_INT(parse("<13>Mar 14 10:00:00.250 host app: m"), 0);
	CHECK_STR(stamp(), "2026-03-14T01:00:00.250Z");
	CHECK_INT(parse("<13>Mar 14 2024 10:00:00 host app: m"), 0);
	CHECK_STR(stamp(), "2024-03-14T01:00:00Z");
	CHECK_STR(str(FIELD_HOST_NAME), "host");
	CHECK_INT(parse("<13>Mar  4 10:00:00 host app: m"), 0);
	CHECK_STR(stamp(), "2026-03-04T01:00:00Z");
	CHECK_INT(parse("<13>Mar 4 10:00:00 host app: m"), 0);
	CHECK_STR(stamp(), "2026-03-04T01:00:00Z");
	/* Cisco-style colon after the stamp */
	CHECK_INT(parse("<189>Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured"), 0);
	CHECK_STR(str(FIELD_PROCESS_NAME), "%SYS-5-CONFIG_I");
	CHECK_STR(str(FIELD_MESSAGE), "Configured");
}

static void test_rfc3164_year_and_zone(void)
{
	int64_t jan1 = INT64_C(1767225600000000000); /* 2026-01-01T00:00:00Z */
	int64_t dec31 = INT64_C(1767139200000000000); /* 2025-12-31T00:00:00Z */

	/* Dec 31 received on Jan 1 (Tokyo): last year */
	CHECK_INT(parse_with("<13>Dec 31 23:59:00 h a: m", SYSLOG_RFC3164, NULL, jan1), 0);
	CHECK_STR(stamp(), "2025-12-31T14:59:00Z");
	/* Jan 1 received on Dec 31 (clock skew): next year */
	CHECK_INT(parse_with("<13>Jan  1 00:01:00 h a: m", SYSLOG_RFC3164, "UTC", dec31), 0);
	CHECK_STR(stamp(), "2026-01-01T00:01:00Z");
	CHECK_STR(str(FIELD_EVENT_TIMEZONE), "UTC");
	/* Feb 29 picks the nearest leap year */
	CHECK_INT(parse_with("<13>Feb 29 12:00:00 h a: m", SYSLOG_RFC3164, "UTC",
			     INT64_C(1709251200000000000) /* 2024-03-01 */), 0);
	CHECK_STR(stamp(), "2024-02-29T12:00:00Z");
	CHECK(parse_with("<13>Feb 29 12:00:00 h a: m", SYSLOG_RFC3164, "UTC", NOW) < 0);
	/* New York: skipped and repeated hours */
	CHECK_INT(parse_with("<13>Mar  8 02:30:00 h a: m", SYSLOG_RFC3164, "America/New_York",
			     NOW), 0);
	CHECK_STR(stamp(), "2026-03-08T07:30:00Z");
	CHECK_INT(parse_with("<13>Nov  2 01:30:00 h a: m", SYSLOG_RFC3164, "America/New_York",
			     NOW), 0);
	CHECK_STR(stamp(), "2025-11-02T05:30:00Z");
	CHECK_INT(parse_with("<13>Nov  2 02:30:00 h a: m", SYSLOG_RFC3164, "America/New_York",
			     NOW), 0);
	CHECK_STR(stamp(), "2025-11-02T07:30:00Z");
}

static void test_rfc3164_malformed(void)
{
	check_fallback("<1000>Mar  1 10:00:00 h a: m", SYSLOG_AUTO, "bad PRI");
	check_fallback("<192>Mar  1 10:00:00 h a: m", SYSLOG_AUTO, "PRI 192 out of range");
	check_fallback("<x>Mar  1 10:00:00 h a: m", SYSLOG_RFC3164, "offset 1: bad PRI");
	check_fallback("<", SYSLOG_RFC3164, "bad PRI");
	check_fallback("<13", SYSLOG_RFC3164, "bad PRI");
	/* odd but accepted: stamp-like junk is message text */
	CHECK_INT(parse("<13>Mar 32 10:00:00 h a: m"), 0);
	CHECK_STR(str(FIELD_MESSAGE), "Mar 32 10:00:00 h a: m");
	CHECK_INT(parse("<13>Mar  1 25:00:00 h a: m"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_INT(parse("<13>"), 0);
	CHECK_STR(str(FIELD_MESSAGE), "(absent)");
	CHECK_INT(parse("<13>Mar  1 10:00:00"), 0);
	CHECK_STR(stamp(), "2026-03-01T01:00:00Z");
	CHECK_INT(parse("<13>Mar  1 10:00:00 lonely"), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_STR(str(FIELD_MESSAGE), "lonely");
}

/* Every prefix of valid messages: no crash, no read past the end (ASan), valid JSON. */
static void test_truncated(void)
{
	static const char *const msgs[] = {
		("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
		 "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\]\"] \xEF\xBB\xBFhi"),
		"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed",
		"<13>2026-03-14T10:00:00.5+01:00 host app: m",
		"<13>Mar 14 2024 10:00:00 host app: m",
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = strlen(msgs[i]);

		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
			struct syslog_opts o = { SYSLOG_AUTO, NULL, NOW, 0, 0 };
			const char *h;
			size_t hl;

			memcpy(copy, msgs[i], n);
			arena_clear(&arena);
			event_init(&ev, &arena);
			syslog_parse(&ev, copy, n, &o, NULL);
			t_check(event_get(&ev, FIELD_EVENT_ORIGINAL) != NULL, __FILE__, __LINE__,
				"no event.original for %zu bytes of message %zu", n, i);
			CHECK(json()[0] == '{');
			syslog_peek_host(copy, n, &h, &hl);
			free(copy);
		}
	}
}

static void test_garbage(void)
{
	unsigned seed = 12345;
	char msg[300];

	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(i % 300);
		struct syslog_opts o = { (enum syslog_format)(i % 3), NULL, NOW, 0, 0 };

		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			/* biased towards syntax characters so the parser goes deep */
			msg[k] = "<>1 -[]=\"\\:0123456789TZ+.abc"[(seed >> 16) % 29];
			if ((seed >> 8) % 7 == 0)
				msg[k] = (char)(seed >> 16);
		}
		arena_clear(&arena);
		event_init(&ev, &arena);
		syslog_parse(&ev, msg, n, &o, NULL);
		if (event_get(&ev, FIELD_EVENT_ORIGINAL) == NULL || json()[0] != '{') {
			CHECK(!"garbage input broke the event");
			break;
		}
	}
}

static void test_peek_host(void)
{
	const char *h = NULL;
	size_t n = 0;

	CHECK_INT(syslog_peek_host("<13>Mar  1 10:00:00 fw1 a: m", 28, &h, &n), 1);
	CHECK_MEM(h, n, "fw1");
	CHECK_INT(syslog_peek_host("<13>1 - web-7 a - - -", 21, &h, &n), 1);
	CHECK_MEM(h, n, "web-7");
	CHECK_INT(syslog_peek_host("<13>1 - - a - - -", 17, &h, &n), 0);
	CHECK_INT(syslog_peek_host("<13>Mar  1 10:00:00 1,2026/01/01", 32, &h, &n), 0);
	CHECK_INT(syslog_peek_host("garbage", 7, &h, &n), 0);
	CHECK_INT(syslog_peek_host("", 0, &h, &n), 0);
}

static void test_out_of_memory(void)
{
	const char *m = "<165>1 2003-10-11T22:14:15.003Z h app - ID47 [oom@1 k=\"a\\\"b\"] msg";
	struct arena small;

	/* the arena refuses: a clean error, never a crash */
	for (size_t max = 0; max < 4096; max += 64) {
		struct syslog_opts o = { SYSLOG_AUTO, NULL, NOW, 0, 0 };
		struct err e = ERR_INIT;
		int rc;

		arena_init(&small, 64, max);
		event_init(&ev, &small);
		rc = syslog_parse(&ev, m, strlen(m), &o, &e);
		t_check(rc == 0 || (rc < 0 && e.msg[0]), __FILE__, __LINE__,
			"max %zu: rc %d without message", max, rc);
		arena_release(&small);
	}
	/* heap allocations (field registry) refused */
	for (long n = 0; n < 8; n++) {
		arena_clear(&arena);
		event_init(&ev, &arena);
		mem_fail_after(n);
		parse_with("<13>1 - h a - - [oom@2 fresh=\"1\"] x", SYSLOG_AUTO, "UTC", NOW);
		mem_fail_after(-1);
	}
	CHECK(1);
}

/* ---- golden files ---- */

struct golden_opts {
	struct syslog_opts o;
	char zone[64];
};

static int golden_options(const char *line, size_t len, struct golden_opts *g)
{
	char copy[256], *save = NULL;

	snprintf(copy, sizeof(copy), "%.*s", (int)len, line + 2);
	for (char *kv = strtok_r(copy, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
		char *v = strchr(kv, '=');

		if (!v)
			return -1;
		*v++ = '\0';
		if (!strcmp(kv, "format")) {
			if (!strcmp(v, "auto"))
				g->o.format = SYSLOG_AUTO;
			else if (!strcmp(v, "rfc3164"))
				g->o.format = SYSLOG_RFC3164;
			else if (!strcmp(v, "rfc5424"))
				g->o.format = SYSLOG_RFC5424;
			else
				return -1;
		} else if (!strcmp(kv, "tz")) {
			snprintf(g->zone, sizeof(g->zone), "%s", v);
			g->o.tz = tz_get(v, strlen(v), NULL);
			if (!g->o.tz)
				return -1;
		} else if (!strcmp(kv, "now")) {
			g->o.received_ns = strtoll(v, NULL, 10) * NS_PER_SEC;
		} else {
			return -1;
		}
	}
	return 0;
}

static char *path_of(const char *dir, const char *base, const char *ext)
{
	static char p[3][2048];
	static int k;

	k = (k + 1) % 3;
	snprintf(p[k], sizeof(p[k]), "%s/%s%s", dir, base, ext);
	return p[k];
}

/* Parses every line of NAME.log; out gets the JSON lines, errs the error lines. */
static void golden_run(const char *log, size_t len, struct buf *out, struct buf *errs)
{
	struct golden_opts g = { { SYSLOG_AUTO, NULL, NOW, 0, 0 }, "" };
	size_t lineno = 0;

	for (const char *p = log, *end = log + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct err e = ERR_INIT;

		lineno++;
		if (lineno == 1 && n > 2 && !memcmp(p, "#!", 2)) {
			if (golden_options(p, n, &g) < 0)
				t_check(0, __FILE__, __LINE__, "bad option line in golden file");
		} else if (n) {
			arena_clear(&arena);
			event_init(&ev, &arena);
			if (syslog_parse(&ev, p, n, &g.o, &e) < 0)
				buf_addf(errs, "%zu: %s\n", lineno, e.msg);
			event_write_json(&ev, out);
			buf_addch(out, '\n');
		}
		p += n + 1;
	}
}

static void golden_compare(const char *path, const struct buf *got)
{
	size_t len = 0;
	char *want = t_read_file(path, &len);
	size_t line = 1, i = 0;

	if (getenv("KOBAN_UPDATE_GOLDEN")) {
		FILE *f = got->len ? fopen(path, "w") : NULL;

		if (!got->len)
			remove(path);
		if (f) {
			fwrite(got->p, 1, got->len, f);
			fclose(f);
		}
		free(want);
		return;
	}
	if (!want) {
		t_check(got->len == 0, __FILE__, __LINE__, "%s missing", path);
		return;
	}
	for (; i < len && i < got->len && want[i] == got->p[i]; i++)
		line += want[i] == '\n';
	t_check(i == len && i == got->len, __FILE__, __LINE__, "%s: line %zu differs", path, line);
	free(want);
}

static void test_golden(void)
{
	char dir[1024];
	DIR *d;
	struct dirent *de;
	int files = 0;

	snprintf(dir, sizeof(dir), "%s/parse", t_data_dir());
	d = opendir(dir);
	if (!d) {
		CHECK(!"tests/data/parse missing");
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), len = 0;
		struct buf out = BUF_INIT(1 << 24), errs = BUF_INIT(1 << 20);
		char base[256], *log;

		if (n < 5 || strcmp(de->d_name + n - 4, ".log"))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(n - 4), de->d_name);
		log = t_read_file(path_of(dir, base, ".log"), &len);
		if (!log)
			continue;
		golden_run(log, len, &out, &errs);
		golden_compare(path_of(dir, base, ".json"), &out);
		golden_compare(path_of(dir, base, ".err"), &errs);
		buf_release(&out);
		buf_release(&errs);
		free(log);
		files++;
	}
	closedir(d);
	CHECK(files >= 3);
}

/* Every line of the shared real-world samples parses without harm. */
static void test_shared_samples(void)
{
	static const char *const dirs[] = { "panos", "generic" };
	const char *root = t_shared_dir();
	int lines = 0;

	if (!root) {
		t_skip("shared samples absent");
		return;
	}
	for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
		char dir[1024];
		DIR *d;
		struct dirent *de;

		snprintf(dir, sizeof(dir), "%s/samples/%s", root, dirs[k]);
		if (!(d = opendir(dir)))
			continue;
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name), len = 0;
			char *log;

			if (n < 5 || strcmp(de->d_name + n - 4, ".log"))
				continue;
			log = t_read_file(path_of(dir, de->d_name, ""), &len);
			for (const char *p = log, *end = log + len; log && p < end;) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				size_t m = nl ? (size_t)(nl - p) : (size_t)(end - p);
				struct syslog_opts o = { SYSLOG_AUTO, NULL, NOW, 0, 0 };

				arena_clear(&arena);
				event_init(&ev, &arena);
				syslog_parse(&ev, p, m, &o, NULL);
				t_check(event_get(&ev, FIELD_EVENT_ORIGINAL) != NULL && json()[0] == '{',
					__FILE__, __LINE__, "%s line broke", de->d_name);
				lines++;
				p += m + 1;
			}
			free(log);
		}
		closedir(d);
	}
	CHECK(lines > 20);
}

/* Review findings: hostile structured data, out-of-range years, half offsets. */
static void test_hostile_structured_data(void)
{
	static char msg[64 * 1024];
	struct buf out = BUF_INIT(1 << 22);
	size_t n = (size_t)snprintf(msg, sizeof(msg), "<13>1 2024-01-01T00:00:00Z h a p m [x");
	unsigned sd = 0;

	for (int i = 1100; i > 0; i--) /* descending names: the worst order for sorting */
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, " p%d=\"v\"", i);
	snprintf(msg + n, sizeof(msg) - n, "] hello");
	CHECK_INT(parse(msg), 0);
	for (uint32_t i = 0; i < ev.n; i++)
		sd += ev.vals[i].field >= FIELD_COUNT;
	CHECK_INT(sd, 128);
	CHECK_INT(event_set_str(&ev, FIELD_ORGANIZATION_ID, "t", 1), 0); /* room is left */
	CHECK_STR(str(FIELD_MESSAGE), "hello");
	CHECK_INT(event_write_json(&ev, &out), 0);
	buf_release(&out);
}

/* Structured-data names registered by tenant's messages with prefix (each new). */
static unsigned sd_names_kept_gen(unsigned tenant, unsigned gen, const char *prefix, int count)
{
	static char msg[8192];
	unsigned kept = 0;

	for (int base = 0; base < count; base += 100) {
		size_t n = (size_t)snprintf(msg, sizeof(msg), "<13>1 2024-01-01T00:00:00Z h a p m [x");
		struct syslog_opts o = { SYSLOG_AUTO, NULL, NOW, tenant, gen };

		for (int i = base; i < base + 100 && i < count; i++)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, " %s%d=\"v\"", prefix, i);
		snprintf(msg + n, sizeof(msg) - n, "] hello");
		arena_clear(&arena);
		event_init(&ev, &arena);
		if (syslog_parse(&ev, msg, strlen(msg), &o, &err) < 0)
			return 0;
		for (uint32_t i = 0; i < ev.n; i++)
			kept += ev.vals[i].field >= FIELD_COUNT;
	}
	return kept;
}

static unsigned sd_names_kept(unsigned tenant, const char *prefix, int count)
{
	return sd_names_kept_gen(tenant, 0, prefix, count);
}

/* One tenant's sender spends its own structured-data name budget, not the others'. */
static void test_sd_budget_per_tenant(void)
{
	CHECK_INT(sd_names_kept(7, "flood", 3000), SYSLOG_SD_TENANT_BUDGET);
	CHECK_INT(sd_names_kept(7, "more", 10), 0);
	CHECK_INT(sd_names_kept(8, "other", 300), 300);
	/* a name some tenant registered costs nothing */
	CHECK_INT(sd_names_kept(7, "other", 300), 300);
}

/* A slot given to another tenant (a new generation) does not inherit the old count. */
static void test_sd_budget_reused_slot(void)
{
	CHECK_INT(sd_names_kept_gen(9, 1, "old", 1100), SYSLOG_SD_TENANT_BUDGET);
	CHECK_INT(sd_names_kept_gen(9, 1, "old_more", 5), 0);
	CHECK_INT(sd_names_kept_gen(9, 2, "new", 5), 5);
	CHECK_INT(sd_names_kept_gen(9, 2, "new_more", 2000), SYSLOG_SD_TENANT_BUDGET - 5);
	/* and so does the owner after it */
	CHECK_INT(sd_names_kept_gen(9, 3, "third", 7), 7);
}

static void test_stamp_ranges_and_offsets(void)
{
	CHECK(parse("<13>1 0000-01-01T00:00:00+23:59 h a p m - x") < 0);
	CHECK_STR(stamp(), "2026-03-15T03:00:00Z"); /* the receive time */
	CHECK(parse("<13>1 9999-12-31T23:59:59.999999999-23:59 h a p m - x") < 0);
	CHECK_INT(parse_with("<13>Jan  1 1000 00:00:00 h a: x", SYSLOG_RFC3164, "UTC", NOW), 0);
	/* not a year koban can hold, so no stamp: the text is the message */
	CHECK_STR(str(FIELD_MESSAGE), "Jan  1 1000 00:00:00 h a: x");
	CHECK_STR(stamp(), "2026-03-15T03:00:00Z");
	CHECK_INT(parse_with("<13>2024-01-01T00:00:00+09 myhost app: hi", SYSLOG_RFC3164, "UTC",
			     NOW), 0);
	CHECK_STR(stamp(), "2023-12-31T15:00:00Z");
	CHECK_STR(str(FIELD_HOST_NAME), "myhost");
	CHECK_INT(parse_with("<13>2024-01-01T00:00:00+0930 myhost app: hi", SYSLOG_RFC3164, "UTC",
			     NOW), 0);
	CHECK_STR(stamp(), "2023-12-31T14:30:00Z");
}

static void test_failed_parse_forgets_fields(void)
{
	/* a header that fails after setting fields: nothing of it may stay findable */
	CHECK(parse("<13>1 2024-01-01T00:00:00Z host app p m [bad") < 0);
	CHECK_STR(str(FIELD_HOST_NAME), "(absent)");
	CHECK_INT(event_set_str(&ev, FIELD_HOST_NAME, "h", 1), 0);
	CHECK_STR(str(FIELD_HOST_NAME), "h");
}

int main(void)
{
	/* RFC 3164 stamps default to the machine's zone: make it Tokyo, as the cases assume */
	setenv("TZ", "Asia/Tokyo", 1);
	arena_init(&arena, 1 << 16, 1 << 26);
	T_RUN(test_rfc5424_example_sd);
	T_RUN(test_rfc5424_examples);
	T_RUN(test_rfc5424_nil_and_escapes);
	T_RUN(test_rfc5424_malformed);
	T_RUN(test_rfc3164_examples);
	T_RUN(test_rfc3164_variants);
	T_RUN(test_rfc3164_year_and_zone);
	T_RUN(test_rfc3164_malformed);
	T_RUN(test_truncated);
	T_RUN(test_garbage);
	T_RUN(test_peek_host);
	T_RUN(test_out_of_memory);
	T_RUN(test_hostile_structured_data);
	T_RUN(test_stamp_ranges_and_offsets);
	T_RUN(test_failed_parse_forgets_fields);
	T_RUN(test_sd_budget_per_tenant);
	T_RUN(test_sd_budget_reused_slot);
	T_RUN(test_golden);
	T_RUN(test_shared_samples);
	arena_release(&arena);
	return t_done();
}
