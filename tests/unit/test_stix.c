/*
 * test_stix.c - STIX 2.1 bundles into indicators: every supported path and operator, the
 * indicator's fields, what is refused and why, malformed JSON, allocation failures.
 * The documents are written here for the purpose (STIX 2.1 §4.7, §9).
 */
#include "enrich/stix.h"

#include <errno.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "t.h"
#include "ti_seam.h"

#define JAN1 "1767225600000000000" /* 2026-01-01T00:00:00Z */

static int read_doc(const char *doc, struct ti_seam *s, struct stix_stats *st, struct err *e)
{
	ti_seam_init(s);
	return stix_bundle_read(doc, strlen(doc), &s->sink, st, e);
}

/* A bundle around the given objects. */
#define BUNDLE(objects) \
	"{\"type\": \"bundle\", \"id\": \"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\", " \
	"\"objects\": [" objects "]}"
#define IND(id, pattern, more) \
	"{\"type\": \"indicator\", \"spec_version\": \"2.1\", \"id\": \"indicator--" id "\", " \
	"\"pattern_type\": \"stix\", \"pattern\": \"" pattern "\"" more "}"

static void test_every_path(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	const char *doc = BUNDLE(
		IND("a1", "[ipv4-addr:value = '198.51.100.7']", "") ","
		IND("a2", "[ipv6-addr:value = '2001:db8::/32']", "") ","
		IND("a3", "[domain-name:value = 'bad.example']", "") ","
		IND("a4", "[url:value = 'https://bad.example/x?y=1']", "") ","
		IND("a5", "[file:hashes.MD5 = '0123456789abcdef0123456789ABCDEF']", "") ","
		IND("a6", "[file:hashes.'SHA-1' = 'aa']", "") ","
		IND("a7", "[file:hashes.'SHA-256' = 'bb']", "") ","
		IND("a8", "[email-addr:value = 'evil@bad.example']", "") ","
		IND("a9", "[email-message:from_ref.value = 'boss@bad.example']", "") ","
		IND("b1", "[file:hashes.sha256 = 'cc'] OR [file:hashes.\\\"SHA1\\\" = 'dd']", ""));

	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 11);
	CHECK_STR(s.got[0], "ip 198.51.100.7 ref=indicator--a1");
	CHECK_STR(s.got[1], "ip 2001:db8::/32 ref=indicator--a2");
	CHECK_STR(s.got[2], "domain bad.example ref=indicator--a3");
	CHECK_STR(s.got[3], "url https://bad.example/x?y=1 ref=indicator--a4");
	CHECK_STR(s.got[4], "md5 0123456789abcdef0123456789ABCDEF ref=indicator--a5");
	CHECK_STR(s.got[5], "sha1 aa ref=indicator--a6");
	CHECK_STR(s.got[6], "sha256 bb ref=indicator--a7");
	CHECK_STR(s.got[7], "email evil@bad.example ref=indicator--a8");
	CHECK_STR(s.got[8], "email boss@bad.example ref=indicator--a9");
	CHECK_STR(s.got[9], "sha256 cc ref=indicator--b1");
	CHECK_STR(s.got[10], "sha1 dd ref=indicator--b1");
	CHECK_INT(s.n_rejects, 0);
	CHECK_INT(st.objects, 10);
	CHECK_INT(st.indicators, 10);
	CHECK_INT(st.values, 11);
}

static void test_unions(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	const char *doc = BUNDLE(
		IND("c1", "[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value == '192.0.2.2'] OR "
			  "([domain-name:value IN ('a.example', 'b.example')] OR "
			  "[(url:value = 'http://c.example/')])", "") ","
		IND("c2", "[ipv4-addr:value ISSUBSET '203.0.113.0/24']", ""));

	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 6);
	CHECK_STR(s.got[0], "ip 192.0.2.1 ref=indicator--c1");
	CHECK_STR(s.got[1], "ip 192.0.2.2 ref=indicator--c1");
	CHECK_STR(s.got[2], "domain a.example ref=indicator--c1");
	CHECK_STR(s.got[3], "domain b.example ref=indicator--c1");
	CHECK_STR(s.got[4], "url http://c.example/ ref=indicator--c1");
	CHECK_STR(s.got[5], "ip 203.0.113.0/24 ref=indicator--c2");
	CHECK_INT(st.values, 6);
}

static void test_fields(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	const char *doc = BUNDLE(
		IND("d1", "[domain-name:value = 'c2.example']",
		    ", \"valid_from\": \"2026-01-01T00:00:00Z\", "
		    "\"valid_until\": \"2026-01-01T00:00:00.5Z\", \"confidence\": 85, "
		    "\"labels\": [\"apt\", \"c2\"], \"name\": \"C2 server\", "
		    "\"x_vendor\": {\"nested\": [1, 2]}, \"created\": \"2026-01-01T00:00:00Z\"") ","
		IND("d2", "[domain-name:value = 'd.example']",
		    ", \"name\": \"N\", \"description\": \"the description wins\", "
		    "\"confidence\": 0"));

	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 2);
	CHECK_STR(s.got[0], "domain c2.example conf=85 first=" JAN1
			    " expires=1767225600500000000 tags=apt,c2 desc=C2 server ref=indicator--d1");
	CHECK_STR(s.got[1], "domain d.example conf=0 desc=the description wins ref=indicator--d2");
}

static void test_escapes(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	/* JSON \\' is the pattern's \' (a quote); JSON \\\\ the pattern's \\ (a backslash) */
	const char *doc = BUNDLE(
		IND("e1", "[url:value = 'http://x.example/it\\\\'s\\\\\\\\a']", ""));

	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.got[0], "url http://x.example/it's\\a ref=indicator--e1");
}

static void test_skipped(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	const char *doc = BUNDLE(
		"{\"type\": \"identity\", \"id\": \"identity--1\", \"name\": \"ACME\"},"
		IND("f1", "[ipv4-addr:value = '192.0.2.9']", ", \"revoked\": true") ","
		IND("f2", "[ipv4-addr:value = '192.0.2.10']", ", \"revoked\": false") ","
		IND("f3", "[ipv4-addr:value = '192.0.2.11']",
		    ", \"indicator_types\": [\"anonymization\", \"benign\"]") ","
		IND("f4", "[ipv4-addr:value = '192.0.2.12']",
		    ", \"indicator_types\": [\"malicious-activity\"]") ","
		"{\"type\": \"relationship\", \"pattern\": 5}");

	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 2);
	CHECK_STR(s.got[0], "ip 192.0.2.10 ref=indicator--f2");
	CHECK_STR(s.got[1], "ip 192.0.2.12 ref=indicator--f4");
	CHECK_INT(st.objects, 6);
	CHECK_INT(st.other, 2);
	CHECK_INT(st.revoked, 1);
	CHECK_INT(st.benign, 1);
	CHECK_INT(st.indicators, 4);
	CHECK_INT(st.rejected, 0);
}

/* Each refused indicator: one reject with its index and reason, and the rest still read. */
static void test_refused(void)
{
	static const struct {
		const char *pattern, *more, *reason;
	} cases[] = {
		{ "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '1.2.3.5']", "",
		  "pattern byte 30: AND-ed comparisons are not supported (only OR)" },
		{ "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'x.example']", "",
		  "pattern byte 31: AND-ed observation expressions are not supported (only OR)" },
		{ "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']", "",
		  "pattern byte 31: FOLLOWEDBY is not supported" },
		{ "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS", "",
		  "pattern byte 31: the qualifier WITHIN is not supported" },
		{ "[ipv4-addr:value NOT = '1.2.3.4']", "", "pattern byte 18: NOT is not supported" },
		{ "[ipv4-addr:value != '1.2.3.4']", "",
		  "pattern byte 18: operator != is not supported" },
		{ "[url:value LIKE 'http://%']", "", "pattern byte 12: LIKE is not supported" },
		{ "[url:value MATCHES '^http']", "", "pattern byte 12: MATCHES is not supported" },
		{ "[EXISTS url:value]", "", "pattern byte 2: EXISTS is not supported" },
		{ "[domain-name:value ISSUBSET 'x.example']", "",
		  "pattern byte 20: expected an operator (=, IN, ISSUBSET)" },
		{ "[process:name = 'evil.exe']", "",
		  "pattern byte 2: object path not supported (ipv4-addr, ipv6-addr, domain-name, url, "
		  "email-addr :value; file:hashes MD5, SHA-1, SHA-256)" },
		{ "[file:hashes.'SHA-512' = 'aa']", "",
		  "pattern byte 2: object path not supported (ipv4-addr, ipv6-addr, domain-name, url, "
		  "email-addr :value; file:hashes MD5, SHA-1, SHA-256)" },
		{ "[ipv4-addr:value = 5]", "", "pattern byte 20: expected a string literal '...'" },
		{ "[ipv4-addr:value = '1.2.3.4'", "", "pattern byte 29: expected ']'" },
		{ "[ipv4-addr:value = '1.2.3.4", "", "pattern byte 28: unterminated string literal" },
		{ "[url:value = 'a\\\\nb']", "", "pattern byte 16: a string may only escape ' and \\" },
		{ "[ipv4-addr:value = '1.2.3.4'] x", "",
		  "pattern byte 31: unexpected text after the pattern" },
		{ "[ipv4-addr:value = '1.2.3.4']", ", \"valid_from\": \"2026-01-01T00:00:00+00:00\"",
		  "valid_from: expected a STIX timestamp (RFC 3339 with Z)" },
		{ "[ipv4-addr:value = '1.2.3.4']",
		  ", \"valid_from\": \"2026-01-02T00:00:00Z\", \"valid_until\": \"2026-01-02T00:00:00.000Z\"",
		  "valid_until is not later than valid_from" },
		{ "[ipv4-addr:value = '1.2.3.4']", ", \"confidence\": 101",
		  "confidence: expected an integer from 0 to 100" },
		{ "[ipv4-addr:value = '1.2.3.4']", ", \"labels\": [\"a\", 1]",
		  "labels: expected an array of strings" },
		{ "[ipv4-addr:value = '1.2.3.4']", ", \"revoked\": \"no\"",
		  "revoked: expected true or false" },
		{ "[ipv4-addr:value = '1.2.3.4']", ", \"name\": [\"n\"]", "name: expected a string" },
		{ "[ipv4-addr:value = '1.2.3.4']", ", \"indicator_types\": \"benign\"",
		  "indicator_types: expected an array of strings" },
	};
	char doc[2048], want[700];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ti_seam s;
		struct stix_stats st;
		struct err e = ERR_INIT;

		snprintf(doc, sizeof(doc),
			 BUNDLE("{\"type\": \"indicator\", \"id\": \"indicator--r\", \"pattern\": "
				"\"%s\"%s}, " IND("ok", "[domain-name:value = 'ok.example']", "")),
			 cases[i].pattern, cases[i].more);
		CHECK_INT(read_doc(doc, &s, &st, &e), 0);
		CHECK_INT(s.n_rejects, 1);
		snprintf(want, sizeof(want), "1: indicator--r: %s", cases[i].reason);
		CHECK_STR(s.rejects[0], want);
		CHECK_INT(s.n, 1);
		CHECK_STR(s.got[0], "domain ok.example ref=indicator--ok");
		CHECK_INT(st.rejected, 1);
	}
}

static void test_refused_objects(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	const char *doc = BUNDLE(
		"{\"type\": \"indicator\", \"id\": \"indicator--p\", \"pattern_type\": \"pcre\", "
		"\"pattern\": \"^evil$\"},"
		"{\"type\": \"indicator\", \"id\": \"indicator--q\"},"
		"{\"type\": \"indicator\", \"pattern\": \"[url:value = 'http://no.id/']\"},"
		"[1, 2], {\"id\": \"indicator--t\"}, 7");

	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.got[0], "url http://no.id/");
	CHECK_INT(s.n_rejects, 5);
	CHECK_STR(s.rejects[0], "1: indicator--p: pattern_type 'pcre' is not supported (only stix)");
	CHECK_STR(s.rejects[1], "2: indicator--q: no pattern");
	CHECK_STR(s.rejects[2], "4: not a JSON object");
	CHECK_STR(s.rejects[3], "5: object without a type");
	CHECK_STR(s.rejects[4], "6: not a JSON object");
	CHECK_INT(st.rejected, 2);
	CHECK_INT(st.malformed, 3);
}

static void test_many_labels(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	char doc[4096];
	size_t k;

	k = (size_t)snprintf(doc, sizeof(doc), "{\"type\": \"bundle\", \"objects\": [{\"type\": "
			     "\"indicator\", \"pattern\": \"[url:value = 'u']\", \"labels\": [");
	for (int i = 0; i < STIX_TAGS_MAX + 3; i++)
		k += (size_t)snprintf(doc + k, sizeof(doc) - k, "%s\"l\"", i ? ", " : "");
	snprintf(doc + k, sizeof(doc) - k, "]}]}");
	CHECK_INT(read_doc(doc, &s, &st, &e), 0);
	CHECK_INT(s.n, 1);
	CHECK_INT(st.tags_dropped, 3);
}

/* More tokens than jsonin's default limit: the limit follows the document's length. */
static void test_large_document(void)
{
	static const char head[] = "{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\", "
				   "\"pattern\": \"[url:value = 'u']\", \"labels\": [";
	size_t n = JSONIN_TOKENS_MAX + 1000, len = sizeof(head) - 1 + 4 * n + 8, k;
	char *doc = malloc(len);
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;

	if (!CHECK(doc))
		return;
	memcpy(doc, head, sizeof(head) - 1);
	k = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++, k += 4)
		memcpy(doc + k, i ? ",\"a\"" : " \"a\"", 4);
	memcpy(doc + k, "]}]}", 4);
	ti_seam_init(&s);
	CHECK_INT(stix_bundle_read(doc, k + 4, &s.sink, &st, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(s.n, 1);
	CHECK_INT(st.tags_dropped, n - STIX_TAGS_MAX);
	free(doc);
}

static void test_malformed(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;

	CHECK_INT(read_doc("{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\",}]}", &s,
			   &st, &e), -EINVAL);
	CHECK_STR(e.msg, "column 53: expected a key string after ',', found '}'");
	err_clear(&e);
	CHECK_INT(read_doc("[]", &s, &st, &e), -EINVAL);
	CHECK_STR(e.msg, "not a STIX bundle: expected a JSON object");
	err_clear(&e);
	CHECK_INT(read_doc("{\"objects\": []}", &s, &st, &e), -EINVAL);
	CHECK_STR(e.msg, "not a STIX bundle: expected \"type\": \"bundle\"");
	err_clear(&e);
	CHECK_INT(read_doc("{\"type\": \"bundle\", \"objects\": {}}", &s, &st, &e), -EINVAL);
	CHECK_STR(e.msg, "byte 31: \"objects\": expected an array");
	err_clear(&e);
	CHECK_INT(read_doc("{\"type\": \"bundle\"} x", &s, &st, &e), -EINVAL);
	CHECK_STR(e.msg, "column 20: expected the end of the input after the top-level value, "
			 "found 'x'");
	err_clear(&e);
	CHECK_INT(read_doc("{\"type\": \"bundle\"}", &s, &st, &e), 0);
	CHECK_INT(st.objects, 0);
}

static void test_sink_stops(void)
{
	struct ti_seam s;
	struct stix_stats st;
	struct err e = ERR_INIT;
	const char *doc = BUNDLE(
		IND("g1", "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2', '192.0.2.3')]", ""));

	ti_seam_init(&s);
	s.stop_after = 2;
	CHECK_INT(stix_bundle_read(doc, strlen(doc), &s.sink, &st, &e), -ECANCELED);
	CHECK_STR(e.msg, "object 1: the indicator was not taken");
	CHECK_INT(s.n, 2);
	CHECK_INT(st.values, 2);
}

static void test_pattern_limits(void)
{
	struct arena a;
	struct stix_value *v;
	struct err e = ERR_INIT;
	char pat[STIX_PATTERN_DEPTH_MAX * 2 + 64];
	size_t n, k = 0;

	arena_init(&a, 4096, 1 << 20);
	for (int i = 0; i <= STIX_PATTERN_DEPTH_MAX; i++)
		pat[k++] = '(';
	k += (size_t)snprintf(pat + k, sizeof(pat) - k, "[url:value = 'u']");
	for (int i = 0; i <= STIX_PATTERN_DEPTH_MAX; i++)
		pat[k++] = ')';
	CHECK_INT(stix_pattern_parse(pat, k, &a, &v, &n, &e), -EINVAL);
	CHECK_STR(e.msg, "pattern byte 33: parentheses nested too deeply");
	/* one level less is fine */
	CHECK_INT(stix_pattern_parse(pat + 1, k - 2, &a, &v, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(stix_pattern_parse("", 0, &a, &v, &n, &e), -EINVAL);
	arena_release(&a);
}

static void test_alloc_failures(void)
{
	const char *doc = BUNDLE(
		IND("h1", "[url:value IN ('http://a.example/it\\\\'s', 'b', 'c', 'd', 'e', 'f', "
			  "'g', 'h', 'i')]",
		    ", \"labels\": [\"x\", \"y\\u0041\"], \"description\": \"d\\u0041\""));
	int rc = -ENOMEM;

	for (long n = 0; rc == -ENOMEM && n < 1000; n++) {
		struct ti_seam s;
		struct stix_stats st;
		struct err e = ERR_INIT;

		mem_fail_after(n);
		rc = read_doc(doc, &s, &st, &e);
		mem_fail_after(-1);
		if (rc == -ENOMEM)
			CHECK(e.msg[0] != '\0');
		else
			CHECK_INT(s.n, 9);
	}
	CHECK_INT(rc, 0);
}

int main(void)
{
	T_RUN(test_every_path);
	T_RUN(test_unions);
	T_RUN(test_fields);
	T_RUN(test_escapes);
	T_RUN(test_skipped);
	T_RUN(test_refused);
	T_RUN(test_refused_objects);
	T_RUN(test_many_labels);
	T_RUN(test_large_document);
	T_RUN(test_malformed);
	T_RUN(test_sink_stops);
	T_RUN(test_pattern_limits);
	T_RUN(test_alloc_failures);
	return t_done();
}
