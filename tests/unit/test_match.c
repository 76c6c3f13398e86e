/* Unit tests of query evaluation (store/match) and of time_parse, which it relies on. */
#include "store/match.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/timeutil.h"
#include "store/query.h"
#include "store/token.h"
#include "t.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define NOW INT64_C(1796000000000000000) /* 2026-11-29T...Z */

static struct arena arena;
static struct event ev;

static int64_t t(const char *s)
{
	int64_t ns = 0;

	CHECK_INT(time_parse(s, strlen(s), NOW, &ns), 0);
	return ns;
}

static void test_time_parse(void)
{
	int64_t ns;

	CHECK_INT(t("1970-01-01T00:00:00Z"), 0);
	CHECK_INT(t("1970-01-01"), 0);
	CHECK_INT(t("1970-01-01T09:00:00+09:00"), 0);
	CHECK_INT(t("1970-01-01 00:00:01.5z"), 1500000000);
	CHECK_INT(t("1970-01-01T00:00:00.000000001Z"), 1);
	CHECK_INT(t("2026-11-30T00:00:00Z") - t("2026-11-29T00:00:00Z"), 86400 * NS_PER_SEC);
	CHECK_INT(t("now"), NOW);
	CHECK_INT(t("-24h"), NOW - 86400 * NS_PER_SEC);
	CHECK_INT(t("+30m"), NOW + 1800 * NS_PER_SEC);
	CHECK_INT(t("-7d"), NOW - 7 * 86400 * NS_PER_SEC);
	CHECK_INT(t("-1w"), NOW - 7 * 86400 * NS_PER_SEC);
	/* an upper bound: a date alone takes the whole day, any other form is the same */
	CHECK_INT(time_parse_end("1970-01-02", 10, NOW, &ns), 0);
	CHECK_INT(ns, 2 * 86400 * NS_PER_SEC - 1);
	CHECK_INT(time_parse_end("2261-12-31", 10, NOW, &ns), 0);
	CHECK_INT(ns, t("2261-12-31T23:59:59.999999999Z"));
	CHECK_INT(time_parse_end("1970-01-02T00:00:00Z", 20, NOW, &ns), 0);
	CHECK_INT(ns, 86400 * NS_PER_SEC);
	CHECK_INT(time_parse_end("-24h", 4, NOW, &ns), 0);
	CHECK_INT(ns, NOW - 86400 * NS_PER_SEC);
	CHECK_INT(time_parse_end("2026-02-30", 10, NOW, &ns), -EINVAL);
	static const char *const bad[] = {
		"", "yesterday", "-24", "-h", "2026-02-30", "2026-13-01", "2026-11-30T25:00:00Z",
		"2026-11-30T00:00:00", "2026-11-30T00:00:00+9:00", "2026-11-30T00:00Z",
		"2026-11-30T00:00:00.Z", "2026-11-30X", "-99999999999d", "9999-01-01", "1600-01-01",
		"-999999w",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		t_check(time_parse(bad[i], strlen(bad[i]), NOW, &ns) == -EINVAL, __FILE__, __LINE__,
			"time_parse('%s') should fail", bad[i]);
}

/* A firewall-like event: the values the queries below look at. */
static void make_event(void)
{
	struct ipaddr src, dst;
	static const char raw[] = "<14>Nov 30 10:00:00 fw1 DENY tcp 10.1.2.3:51234 -> "
				  "203.0.113.7:443 user=Alice Mimikatz detected";
	int vendor = field_intern("panos.rule", 10, FT_STR);

	arena_clear(&arena);
	event_init(&ev, &arena);
	ipaddr_parse(&src, "10.1.2.3", 8);
	ipaddr_parse(&dst, "203.0.113.7", 11);
	CHECK_INT(event_set_time(&ev, FIELD_TIMESTAMP, t("2026-11-30T01:00:00Z")), 0);
	CHECK_INT(event_set_ip(&ev, FIELD_SOURCE_IP, &src), 0);
	CHECK_INT(event_set_ip(&ev, FIELD_DESTINATION_IP, &dst), 0);
	CHECK_INT(event_set_int(&ev, FIELD_DESTINATION_PORT, 443), 0);
	CHECK_INT(event_set_str(&ev, FIELD_EVENT_ACTION, "deny", 4), 0);
	CHECK_INT(event_set_str(&ev, FIELD_USER_NAME, "Alice", 5), 0);
	CHECK_INT(event_add_str(&ev, FIELD_EVENT_CATEGORY, "network", 7), 0);
	CHECK_INT(event_add_str(&ev, FIELD_EVENT_CATEGORY, "intrusion_detection", 19), 0);
	CHECK_INT(event_set_str(&ev, FIELD_EVENT_ORIGINAL, raw, sizeof(raw) - 1), 0);
	CHECK(vendor >= 0);
	CHECK_INT(event_set_str(&ev, (unsigned)vendor, "block-all", 9), 0);
	vendor = field_intern("panos.bytes", 11, FT_STR);
	CHECK(vendor >= 0);
	CHECK_INT(event_set_str(&ev, (unsigned)vendor, "12", 2), 0);
	vendor = field_intern("panos.seqno", 11, FT_STR);
	CHECK(vendor >= 0);
	CHECK_INT(event_set_str(&ev, (unsigned)vendor, "7049273449123456789", 19), 0);
}

/* 1 match, 0 no match, -1 compile error (message in err). */
static int run(const char *text, struct err *e)
{
	struct arena qa;
	struct query q;
	struct match *m;
	int rc;

	arena_init(&qa, 4096, 1 << 20);
	err_clear(e);
	rc = query_parse(&q, text, strlen(text), &qa, e);
	if (!rc)
		rc = match_compile(&m, q.filter, NOW, &qa, e);
	rc = rc ? -1 : match_event(m, &ev);
	arena_release(&qa);
	return rc;
}

#define YES(q) t_check(run(q, &e) == 1, __FILE__, __LINE__, "should match: %s %s", q, e.msg)
#define NO(q) t_check(run(q, &e) == 0, __FILE__, __LINE__, "should not match: %s %s", q, e.msg)

static void test_fields(void)
{
	struct err e = ERR_INIT;

	make_event();
	YES("*");
	YES("");
	YES("event.action: deny");
	YES("event.action: DENY");
	NO("event.action: allow");
	YES("user.name: alice");
	YES("user.name: al*");
	YES("user.name: ?lice");
	NO("user.name: al");
	YES("source.ip: 10.1.2.3");
	YES("source.ip: 10.0.0.0/8");
	NO("source.ip: 192.168.0.0/16");
	YES("source.ip: 10.1.*");
	YES("destination.port: 443");
	NO("destination.port: 80");
	YES("destination.port >= 443 and destination.port < 1024");
	NO("destination.port > 443");
	YES("destination.port: 4*");
	YES("destination.ip > 203.0.113.6");
	/* a vendor number kept as text compares as a number with a number ("12" > "7") */
	YES("panos.bytes >= 10");
	YES("panos.bytes > 7");
	NO("panos.bytes > 100");
	YES("panos.bytes < 12.5 and panos.bytes > -1");
	YES("panos.bytes >= 012.000 and panos.bytes <= 12 and panos.bytes > 11.99");
	/* exactly, past a double's 53 bits: 19-digit counters differ in their last digit */
	YES("panos.seqno > 7049273449123456788");
	NO("panos.seqno > 7049273449123456789");
	NO("panos.seqno >= 7049273449123456790");
	YES("panos.seqno < 17049273449123456789");
	YES("panos.rule > a"); /* text that is no number: byte by byte */
	NO("panos.rule < 5");  /* "block-all" is not a number: 'b' sorts after '5' */
	YES("@timestamp >= 2026-11-30T00:00:00Z and @timestamp < 2026-11-30T02:00:00Z");
	YES("@timestamp: \"2026-11-30T10:00:00+09:00\"");
	NO("@timestamp > 2026-11-30T01:00:00Z");
	YES("event.category: intrusion_detection"); /* any value of a multi-valued field */
	YES("event.category: network");
	YES("panos.rule: block-all");
	YES("_exists_: user.name");
	NO("_exists_: url.domain");
	YES("not _exists_: url.domain");
	NO("no.such.field: x");
	YES("not no.such.field: x");
	NO("_exists_: no.such.field");
}

static void test_full_text(void)
{
	struct err e = ERR_INIT;

	make_event();
	YES("mimikatz");
	YES("MIMIKATZ");
	YES("mimi*");
	YES("\"Mimikatz detected\"");
	NO("\"detected Mimikatz\"");
	YES("203.0.113.7\\:443");
	NO("psexec");
	YES("event.original: \"user=alice\"");
	YES("mimikatz and not psexec");
	YES("psexec or (deny and source.ip: 10.0.0.0/8)");
	NO("psexec or (deny and not source.ip: 10.0.0.0/8)");
}

/* Position i of h lies between two token bytes. */
static bool splits_token(const char *h, size_t hlen, size_t i)
{
	const unsigned char *u = (const unsigned char *)h;

	return i > 0 && i < hlen && token_byte_at(u, hlen, i - 1) && token_byte_at(u, hlen, i);
}

/* Reference for a phrase in a text, ASCII case ignored, cutting no token at either end. */
static bool naive_has(const char *h, size_t hlen, const char *n, size_t nlen)
{
	for (size_t i = 0; i + nlen <= hlen; i++) {
		size_t k = 0;

		while (k < nlen && tolower((unsigned char)h[i + k]) == tolower((unsigned char)n[k]))
			k++;
		if (k == nlen && !splits_token(h, hlen, i) && !splits_token(h, hlen, i + nlen))
			return true;
	}
	return false;
}

/* The word-at-a-time phrase scan agrees with the reference at every offset and length. */
static void test_phrase_scan(void)
{
	static const char *const needles[] = { "a", "Ab", "x,,y", "user042,,ms-rdp", "@`", "9Z",
					       "\x80\xff", "zzzzzzzzzzzzzzzzz" };
	char text[96], query[64];
	struct err e = ERR_INIT;
	unsigned seed = 1;

	for (size_t ni = 0; ni < sizeof(needles) / sizeof(needles[0]); ni++) {
		const char *n = needles[ni];
		size_t nlen = strlen(n);

		for (size_t len = 0; len <= 40; len++)
			for (size_t at = 0; at + nlen <= len + nlen; at++) {
				/* filler of near misses: the needle's bytes and case flips */
				for (size_t i = 0; i < len; i++) {
					seed = seed * 1103515245u + 12345u;
					text[i] = n[(seed >> 16) % nlen] ^ ((seed >> 8) & 1 ? 0x20 : 0);
					if (!text[i])
						text[i] = '.';
				}
				if (at + nlen <= len && (seed >> 4) % 3) { /* plant it, case flipped */
					for (size_t i = 0; i < nlen; i++)
						text[at + i] = isalpha((unsigned char)n[i]) && (i & 1)
							       ? (char)(n[i] ^ 0x20) : n[i];
				}
				make_event();
				CHECK_INT(event_set_str(&ev, FIELD_EVENT_ORIGINAL, text, len), 0);
				snprintf(query, sizeof(query), "\"%s\"", n);
				t_check(run(query, &e) == (int)naive_has(text, len, n, nlen), __FILE__,
					__LINE__, "phrase %s in %.*s", n, (int)len, text);
			}
	}
}

/* An event of only these texts (either may be NULL). */
static void set_text(const char *original, const char *message)
{
	arena_clear(&arena);
	event_init(&ev, &arena);
	if (original)
		CHECK_INT(event_set_str(&ev, FIELD_EVENT_ORIGINAL, original, strlen(original)), 0);
	if (message)
		CHECK_INT(event_set_str(&ev, FIELD_MESSAGE, message, strlen(message)), 0);
}

/*
 * Bare words and phrases find whole tokens (store/token.h), as the segments' blooms hold
 * them: a word inside a longer token is not found, a phrase must start and end where tokens
 * do; wildcards give prefixes, suffixes and substrings.
 */
static void test_words_are_tokens(void)
{
	struct err e = ERR_INIT;

	set_text("run mimikatz now", NULL);
	YES("mimikatz");
	YES("MimiKatz");
	NO("imikat");
	NO("mimi");
	NO("katz");
	YES("\"run mimikatz\"");
	YES("\"mimikatz now\"");
	NO("\"un mimikatz\""); /* the start cuts "run" */
	NO("\"mimikatz no\"");  /* the end cuts "now" */
	/* wildcards: a token's start, its end, anywhere */
	YES("*imikat*");
	YES("mimi*");
	YES("*katz");
	YES("mi?ikatz");
	YES("m*z");
	NO("imi*");
	NO("*mika");
	NO("mi?ikat");
	set_text("MIMIKATZ", NULL);
	YES("mimikatz");
	set_text("xmimikatz", NULL);
	NO("mimi*");
	YES("*mimi*");
	/* '.' joins tokens, '-' separates them (docs/query.md's examples) */
	set_text("mimikatz.exe", NULL);
	NO("mimikatz");
	YES("mimikatz.exe");
	YES("mimi*");
	set_text("Invoke-Mimikatz", NULL);
	YES("mimikatz");
	YES("invoke");
	YES("*katz");
	YES("invoke-mimikatz");
	NO("voke-mimikatz");
	/* a '.' joins only between two token bytes: at a token's edge it separates */
	set_text("Access is denied. query evil.example.com. from 10.0.0.5. a..b .hidden", NULL);
	YES("denied");
	YES("\"is denied\"");
	YES("\"is denied.\"");
	YES("evil.example.com");
	YES("10.0.0.5");
	YES("hidden");
	YES("a");
	YES("b");
	NO("example.com");
	NO("evil.example");
	NO("\".exe\"");
	set_text("mimikatz.exe", NULL);
	NO("\".exe\""); /* its '.' joins: no token starts there */
	NO("\"mimikatz.\"");
	set_text("seq=93", NULL);
	YES("seq=9*");
	NO("\"seq=9\"");

	/* a phrase's boundaries, at each end */
	set_text("xtcp 10.2.100.150", NULL);
	NO("\"tcp 10.2.100.15\"");
	set_text("xtcp 10.2.100.15", NULL);
	NO("\"tcp 10.2.100.15\"");
	set_text("tcp 10.2.100.150", NULL);
	NO("\"tcp 10.2.100.15\"");
	NO("10.2.100.15");
	YES("10.2.100.15*");
	set_text("[TCP 10.2.100.15]", NULL);
	YES("\"tcp 10.2.100.15\"");
	YES("10.2.100.15"); /* one token of several bytes '.' joins */
	set_text("conn 10.2.100.15:443 outside:10.2.100.16/80", NULL);
	YES("10.2.100.15"); /* ':' separates: the address and the port are tokens */
	YES("10.2.100.16");
	YES("10.2.100.15\\:443");
	NO("10.2.100.1");
	YES("10.2.100.1*");
	YES("outside");

	/* a word of several tokens is a phrase; an end that is a delimiter asks nothing */
	set_text("login user042,,ms-rdp ok", NULL);
	YES("user042,,ms-rdp");
	YES("\",,ms-rdp ok\"");
	NO("user=*"); /* no run starts with "user=" */
	set_text("xuser042,,ms-rdp", NULL);
	NO("user042,,ms-rdp");
	set_text("user042,,ms-rdpx", NULL);
	NO("user042,,ms-rdp");
	set_text("user=alice", NULL);
	YES("user=alice");
	YES("\"=alice\"");
	NO("\"r=alice\"");
	NO("\"user=alic\"");
	YES("user=ali*");

	/* bytes >= 0x80 are token bytes: a UTF-8 word is one token */
	set_text("\xe3\x83\xad\xe3\x82\xb0\xe3\x82\xa4\xe3\x83\xb3\xe5\xa4\xb1\xe6\x95\x97 "
		 "user=\xe5\xa4\xaa\xe9\x83\x8e", NULL); /* ログイン失敗 user=太郎 */
	YES("\xe3\x83\xad\xe3\x82\xb0\xe3\x82\xa4\xe3\x83\xb3\xe5\xa4\xb1\xe6\x95\x97");
	NO("\xe3\x83\xad\xe3\x82\xb0\xe3\x82\xa4\xe3\x83\xb3"); /* ログイン */
	YES("\xe3\x83\xad\xe3\x82\xb0\xe3\x82\xa4\xe3\x83\xb3*");
	YES("*\xe5\xa4\xb1\xe6\x95\x97");
	YES("????\xe5\xa4\xb1\xe6\x95\x97"); /* ? is one character */
	YES("\xe5\xa4\xaa\xe9\x83\x8e");
	NO("\xe5\xa4\xaa");

	/* message when there is no event.original; phrases on text fields alike */
	set_text(NULL, "Logon failed for admin2");
	YES("admin2");
	NO("admin");
	YES("message: \"failed for\"");
	NO("message: \"ailed for\"");
	NO("message: admin*"); /* a field's wildcard: the whole value */
	YES("message: *admin*");
	set_text("Logon failed for admin2", NULL);
	NO("event.original: \"admin\"");
	YES("event.original: \"admin2\"");
}

/* Reference wildcard match of a whole text (ASCII; exponential, for short texts). */
static bool naive_glob(const char *p, const char *t, size_t tlen)
{
	if (!*p)
		return !tlen;
	if (*p == '*')
		return naive_glob(p + 1, t, tlen) || (tlen && naive_glob(p, t + 1, tlen - 1));
	return tlen && (*p == '?' || tolower((unsigned char)*p) == tolower((unsigned char)*t)) &&
	       naive_glob(p + 1, t + 1, tlen - 1);
}

/*
 * A full-text word, with or without wildcards, matches when some run of the text that
 * cuts no token matches it whole: random words and texts of a, b, A and the delimiter ','.
 */
static void test_word_runs(void)
{
	static const char pat_bytes[] = "ab,*?", text_bytes[] = "abA,";
	char pat[8], text[12];
	struct err e = ERR_INIT;
	unsigned seed = 7;

	for (int round = 0; round < 3000; round++) {
		size_t plen, tlen;
		bool want = false;

		seed = seed * 1103515245u + 12345u;
		plen = 1 + (seed >> 16) % 5;
		tlen = (seed >> 8) % 10;
		for (size_t i = 0; i < plen; i++) {
			seed = seed * 1103515245u + 12345u;
			pat[i] = pat_bytes[(seed >> 16) % 5];
		}
		pat[plen] = '\0';
		for (size_t i = 0; i < tlen; i++) {
			seed = seed * 1103515245u + 12345u;
			text[i] = text_bytes[(seed >> 16) % 4];
		}
		text[tlen] = '\0';
		for (size_t i = 0; i <= tlen && !want; i++)
			for (size_t j = i; j <= tlen && !want; j++)
				want = !splits_token(text, tlen, i) && !splits_token(text, tlen, j) &&
				       naive_glob(pat, text + i, j - i);
		set_text(text, NULL);
		t_check(run(pat, &e) == (int)want, __FILE__, __LINE__, "word %s in '%s': %s", pat,
			text, want ? "should match" : "should not match");
	}
}

/* The fields a filter reads: for projection. */
static void test_match_fields(void)
{
	struct arena qa;
	struct query q;
	struct match *m;
	struct err e = ERR_INIT;
	unsigned ids[8];
	size_t n;
	const char *text = "(source.ip: 10.0.0.0/8 or mimikatz) and not event.action: deny "
			   "and source.ip: 10.1.2.3";

	make_event();
	arena_init(&qa, 4096, 1 << 20);
	CHECK_INT(query_parse(&q, text, strlen(text), &qa, &e), 0);
	CHECK_INT(match_compile(&m, q.filter, NOW, &qa, &e), 0);
	CHECK_INT(match_fields(m, ids, 8, &n), 0);
	CHECK_INT((long long)n, 4);
	CHECK_INT(ids[0], FIELD_SOURCE_IP);
	CHECK_INT(ids[1], FIELD_EVENT_ORIGINAL);
	CHECK_INT(ids[2], FIELD_MESSAGE);
	CHECK_INT(ids[3], FIELD_EVENT_ACTION);
	CHECK_INT(match_fields(m, ids, 3, &n), -E2BIG);
	CHECK(!match_is_all(m));
	arena_clear(&qa);
	CHECK_INT(query_parse(&q, "*", 1, &qa, &e), 0);
	CHECK_INT(match_compile(&m, q.filter, NOW, &qa, &e), 0);
	CHECK(match_is_all(m));
	CHECK_INT(match_fields(m, ids, 8, &n), 0);
	CHECK_INT((long long)n, 0);
	arena_release(&qa);
}

static void test_type_errors(void)
{
	struct err e = ERR_INIT;

	make_event();
	CHECK_INT(run("destination.port: https", &e), -1);
	CHECK_STR(e.msg, "column 19: expected a whole number for destination.port, not 'https'");
	CHECK_INT(run("a and source.ip: 10.0.0", &e), -1);
	CHECK_STR(e.msg, "column 18: expected an IP address or a CIDR (10.0.0.0/8) for source.ip, "
			 "not '10.0.0'");
	CHECK_INT(run("@timestamp > yesterday", &e), -1);
	CHECK(strstr(e.msg, "expected a time for @timestamp") != NULL);
	/* a range's value is named where it stands, as a field: value's is */
	CHECK_INT(run("destination.port > https", &e), -1);
	CHECK_STR(e.msg, "column 20: expected a whole number for destination.port, not 'https'");
	CHECK_INT(run("source.ip >= 10/8", &e), -1);
	CHECK(strstr(e.msg, "expected an IP address to compare source.ip with") != NULL);
}

static void test_time_range_push_down(void)
{
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct match *m;
	int64_t from, to;
	const char *text = "@timestamp >= 2026-11-30 and x and @timestamp < -24h and "
			   "(@timestamp > 1999-01-01 or y)";

	arena_init(&qa, 4096, 1 << 20);
	CHECK_INT(query_parse(&q, text, strlen(text), &qa, &e), 0);
	CHECK_INT(match_compile(&m, q.filter, NOW, &qa, &e), 0);
	match_time_range(m, &from, &to);
	CHECK_INT(from, t("2026-11-30"));
	CHECK_INT(to, NOW - 86400 * NS_PER_SEC - 1);
	arena_clear(&qa);
	CHECK_INT(query_parse(&q, "a or @timestamp > now", 21, &qa, &e), 0);
	CHECK_INT(match_compile(&m, q.filter, NOW, &qa, &e), 0);
	match_time_range(m, &from, &to);
	CHECK(from == INT64_MIN && to == INT64_MAX); /* under `or`: no bound */
	arena_release(&qa);
}

static int collect(void *ctx, const char *field, const char *value, size_t len, bool whole)
{
	struct buf *b = ctx;

	buf_addf(b, "%s%s%.*s;", field ? field : "*", whole ? "==" : "=", (int)len, value);
	return 0;
}

static void test_literals(void)
{
	const char *text = "source.ip: 10.1.2.3 and mimikatz and (a or b) and user.name: alice and "
			   "not event.action: deny and destination.port: 443 and user.name: al* and "
			   "message: \"logon failed\" and *imikat* and mimi*";
	struct err e = ERR_INIT;
	struct buf b = BUF_INIT(4096);
	struct arena qa;
	struct query q;
	struct match *m;

	make_event();
	arena_init(&qa, 4096, 1 << 20);
	CHECK_INT(query_parse(&q, text, strlen(text), &qa, &e), 0);
	CHECK_INT(match_compile(&m, q.filter, NOW, &qa, &e), 0);
	CHECK_INT(match_literals(m, collect, &b), 0);
	/*
	 * or, not, numbers and wildcards give no literal every match must hold (a full-text
	 * wildcard's letters are not a whole token); == a whole value
	 */
	CHECK_STR(b.p, "source.ip=10.1.2.3;*=mimikatz;user.name==alice;message=logon failed;");
	buf_release(&b);
	arena_release(&qa);
}

static int collect_range(void *ctx, unsigned field, const struct value_range *r)
{
	struct buf *b = ctx;
	char lo[IPADDR_STRLEN], hi[IPADDR_STRLEN];

	if (r->ip) {
		ipaddr_format(&r->ip_lo, lo);
		ipaddr_format(&r->ip_hi, hi);
	} else {
		snprintf(lo, sizeof(lo), "%lld", (long long)r->lo);
		snprintf(hi, sizeof(hi), "%lld", (long long)r->hi);
	}
	buf_addf(b, "%s=%s..%s;", field_name(field), !r->ip && r->lo == INT64_MIN ? "min" : lo,
		 !r->ip && r->hi == INT64_MAX ? "max" : hi);
	return 0;
}

/* What match_ranges() gives for the filter text, into b. */
static void ranges_of(const char *text, struct buf *b)
{
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct match *m;

	buf_reset(b);
	arena_init(&qa, 4096, 1 << 20);
	if (t_check(query_parse(&q, text, strlen(text), &qa, &e) == 0 &&
			    match_compile(&m, q.filter, NOW, &qa, &e) == 0,
		    __FILE__, __LINE__, "%s: %s", text, e.msg))
		CHECK_INT(match_ranges(m, collect_range, b), 0);
	arena_release(&qa);
}

/*
 * Each comparison of an integer field gives its inclusive range, an address or a CIDR its
 * first and last address (IPv4 mapped, formatted back as a dotted quad); nothing under
 * `not` or `or`, no wildcard, no boolean, string or unknown field, no `> INT64_MAX`.
 */
static void test_ranges(void)
{
	struct buf b = BUF_INIT(4096);

	CHECK(field_intern("panos.decrypted", 15, FT_BOOL) >= 0);
	ranges_of("destination.port: 3389 and destination.port >= 1024 and destination.port > 1024 "
		  "and destination.port <= 2000 and destination.port < 2000 and "
		  "event.duration > -5", &b);
	CHECK_STR(b.p, "destination.port=3389..3389;destination.port=1024..max;"
		       "destination.port=1025..max;destination.port=min..2000;"
		       "destination.port=min..1999;event.duration=-4..max;");
	ranges_of("source.ip: 10.0.0.0/8 and destination.ip: 203.0.113.7 and "
		  "host.ip: 2001:db8:ff::/40 and source.ip: 10.1.2.3/32 and "
		  "destination.ip: 192.168.1.77/20", &b);
	CHECK_STR(b.p, "source.ip=10.0.0.0..10.255.255.255;destination.ip=203.0.113.7..203.0.113.7;"
		       "host.ip=2001:db8::..2001:db8:ff:ffff:ffff:ffff:ffff:ffff;"
		       "source.ip=10.1.2.3..10.1.2.3;"
		       "destination.ip=192.168.0.0..192.168.15.255;");
	ranges_of("source.ip >= 10.0.0.1 and source.ip < 10.0.0.9", &b);
	CHECK_STR(b.p, "source.ip=10.0.0.1..ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff;"
		       "source.ip=::..10.0.0.9;");
	ranges_of("@timestamp >= 1970-01-01T00:00:01Z and x", &b);
	CHECK_STR(b.p, "@timestamp=1000000000..max;");
	ranges_of("not destination.port: 80 and (destination.port: 1 or destination.port: 2) and "
		  "destination.port: (3 or 4) and destination.port: 44* and source.ip: 10.* and "
		  "event.action: deny and event.action >= a and no.such.field >= 3 and "
		  "panos.decrypted: true and panos.decrypted >= true and "
		  "destination.port > 9223372036854775807 and "
		  "destination.port < -9223372036854775808 and _exists_: destination.port and "
		  "not (source.ip: 10.0.0.0/8 and destination.port: 5)", &b);
	CHECK_STR(b.p, "");
	ranges_of("*", &b);
	CHECK_STR(b.p, "");
	buf_release(&b);
}

/*
 * Wildcards on an object field look at its JSON text, on a boolean at true/false (they were
 * formatted as integers: `threat.enrichments: *misp*` and `flag: tr*` never matched).
 */
static void test_object_and_bool_wildcards(void)
{
	static const char obj[] = "{\"indicator\":{\"ip\":\"10.1.2.3\"},\"matched\":"
				  "{\"atomic\":\"10.1.2.3\",\"type\":\"misp\"}}";
	int flag = field_intern("panos.decrypted", 15, FT_BOOL);
	struct err e = ERR_INIT;

	make_event();
	CHECK(flag >= 0);
	CHECK_INT(event_set_bool(&ev, (unsigned)flag, true), 0);
	CHECK_INT(event_add_obj(&ev, FIELD_THREAT_ENRICHMENTS, obj, sizeof(obj) - 1), 0);
	YES("threat.enrichments: *misp*");
	YES("threat.enrichments: *indicator*");
	NO("threat.enrichments: *otx*");
	YES("panos.decrypted: tr*");
	YES("panos.decrypted: true");
	NO("panos.decrypted: f*");
	NO("panos.decrypted: 1*");
}

int main(void)
{
	arena_init(&arena, 1 << 16, 1 << 20);
	T_RUN(test_time_parse);
	T_RUN(test_fields);
	T_RUN(test_full_text);
	T_RUN(test_phrase_scan);
	T_RUN(test_words_are_tokens);
	T_RUN(test_word_runs);
	T_RUN(test_match_fields);
	T_RUN(test_type_errors);
	T_RUN(test_time_range_push_down);
	T_RUN(test_literals);
	T_RUN(test_ranges);
	T_RUN(test_object_and_bool_wildcards);
	arena_release(&arena);
	return t_done();
}
