/*
 * test_sigma.c - Sigma rules (detect/sigma, sigval, sigcond): every modifier, the escaping
 * rules, the condition grammar, filters, rejections and the prefilter literals. Expected
 * results are written from the specification (Sigma 2.1 and ../shared/ref/sigma.md).
 */
#include "detect/sigma.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "detect/sigcond.h"
#include "parse/ecs.h"
#include "t.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

static char last_reason[512];
static unsigned last_line;

static void on_report(void *ctx, const char *file, unsigned line, const char *id,
		      const char *reason)
{
	snprintf(last_reason, sizeof(last_reason), "%s", reason);
	last_line = line;
}

static const char *const dc_values[] = { "dc1", "dc2" };
static const struct sigma_placeholder placeholders[] = { { "dcs", dc_values, 2 } };

static struct sigma_set *load(const char *yaml)
{
	struct sigma_options opt = { .placeholders = placeholders, .n_placeholders = 1,
				     .report = on_report };
	struct sigma_set *s = NULL;
	struct err e = ERR_INIT;

	last_reason[0] = '\0';
	last_line = 0;
	if (sigma_set_new(&s, &opt) < 0)
		return NULL;
	if (sigma_set_load_buffer(s, "t.yml", yaml, strlen(yaml), &e) < 0 ||
	    sigma_set_finish(s, &e) < 0) {
		sigma_set_free(s);
		return NULL;
	}
	return s;
}

/*
 * 1 when the first rule of yaml matches the JSON event, 0 when not, -1 when no rule
 * loaded. The event is decoded first so its field names are known to the rule.
 */
static int run(const char *yaml, const char *json)
{
	struct sigma_scratch *sc = NULL;
	struct sigma_set *s;
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	int rc = -1;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	if (ecs_decode_flags(&ev, json, strlen(json), ECS_FLATTEN_ARRAYS, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "event %s: %s", json, e.msg);
		arena_release(&a);
		return -2;
	}
	s = load(yaml);
	if (s && sigma_set_size(s) && sigma_scratch_new(&sc, s) == 0)
		rc = sigma_rule_match(sigma_set_rule(s, 0), &ev, sc);
	sigma_scratch_free(sc);
	sigma_set_free(s);
	arena_release(&a);
	return rc;
}

/* A rule with one selection `sel` (YAML map text, indented by 4) and condition sel. */
#define RULE(sel) \
	"title: t\nid: r1\nlogsource: {product: p}\ndetection:\n  sel:\n" sel "  condition: sel\n"

static void test_plain_values(void)
{
	const char *r = RULE("    Image: 'C:\\Windows\\System32\\cmd.exe'\n");

	CHECK_INT(run(r, "{\"Image\": \"C:\\\\Windows\\\\System32\\\\cmd.exe\"}"), 1);
	CHECK_INT(run(r, "{\"Image\": \"c:\\\\windows\\\\system32\\\\CMD.EXE\"}"), 1);
	CHECK_INT(run(r, "{\"Image\": \"C:\\\\Windows\\\\System32\\\\cmd.exe2\"}"), 0);
	CHECK_INT(run(r, "{\"Other\": \"x\"}"), 0);
	/* lists are ORed, maps ANDed */
	r = RULE("    a: [x, y]\n    b: z\n");
	CHECK_INT(run(r, "{\"a\": \"y\", \"b\": \"z\"}"), 1);
	CHECK_INT(run(r, "{\"a\": \"y\", \"b\": \"w\"}"), 0);
	CHECK_INT(run(r, "{\"a\": \"w\", \"b\": \"z\"}"), 0);
}

static void test_canonical_strings(void)
{
	CHECK_INT(run(RULE("    ResultType: 50053\n"), "{\"ResultType\": \"50053\"}"), 1);
	CHECK_INT(run(RULE("    ResultType: 50053\n"), "{\"ResultType\": 50053}"), 1);
	CHECK_INT(run(RULE("    ResultType: 50053\n"), "{\"ResultType\": 500530}"), 0);
	CHECK_INT(run(RULE("    x.isCompliant: 'false'\n"), "{\"x\": {\"isCompliant\": false}}"), 1);
	CHECK_INT(run(RULE("    x.isCompliant: false\n"), "{\"x\": {\"isCompliant\": false}}"), 1);
	CHECK_INT(run(RULE("    x.isCompliant: false\n"), "{\"x\": {\"isCompliant\": true}}"), 0);
	/* typed ECS fields: an integer and an address compare as their text */
	CHECK_INT(run(RULE("    source.port: 443\n"), "{\"source\": {\"port\": 443}}"), 1);
	CHECK_INT(run(RULE("    source.ip: 10.1.2.3\n"), "{\"source\": {\"ip\": \"10.1.2.3\"}}"), 1);
}

static void test_wildcards_and_escapes(void)
{
	/* \\* is a backslash and a wildcard (a lone \* would be a literal star) */
	CHECK_INT(run(RULE("    a: 'C:\\Users\\\\*\\AppData\\\\*.exe'\n"),
		      "{\"a\": \"c:\\\\users\\\\bob\\\\appdata\\\\x\\\\y.EXE\"}"), 1);
	CHECK_INT(run(RULE("    a: 'C:\\Users\\\\*\\AppData\\\\*.exe'\n"),
		      "{\"a\": \"c:\\\\users\\\\bob\\\\x.exe\"}"), 0);
	CHECK_INT(run(RULE("    a: 'C:\\Users\\*'\n"), "{\"a\": \"C:\\\\Users*\"}"), 1);
	CHECK_INT(run(RULE("    a: 'C:\\Users\\*'\n"), "{\"a\": \"C:\\\\Users\\\\bob\"}"), 0);
	CHECK_INT(run(RULE("    a: 'ab?d'\n"), "{\"a\": \"abcd\"}"), 1);
	CHECK_INT(run(RULE("    a: 'ab?d'\n"), "{\"a\": \"abd\"}"), 0);
	CHECK_INT(run(RULE("    a: 'ab?d'\n"), "{\"a\": \"ab\xc3\xa9""d\"}"), 1); /* one character */
	/* \* is a literal star */
	CHECK_INT(run(RULE("    a: 'a\\*b'\n"), "{\"a\": \"a*b\"}"), 1);
	CHECK_INT(run(RULE("    a: 'a\\*b'\n"), "{\"a\": \"axb\"}"), 0);
	/* \? a literal question mark */
	CHECK_INT(run(RULE("    a: 'a\\?b'\n"), "{\"a\": \"a?b\"}"), 1);
	CHECK_INT(run(RULE("    a: 'a\\?b'\n"), "{\"a\": \"axb\"}"), 0);
	/* \\* is a backslash and a wildcard */
	CHECK_INT(run(RULE("    a: 'a\\\\*'\n"), "{\"a\": \"a\\\\xyz\"}"), 1);
	CHECK_INT(run(RULE("    a: 'a\\\\*'\n"), "{\"a\": \"axyz\"}"), 0);
	/* \\\* a backslash and a literal star */
	CHECK_INT(run(RULE("    a: 'a\\\\\\*'\n"), "{\"a\": \"a\\\\*\"}"), 1);
	CHECK_INT(run(RULE("    a: 'a\\\\\\*'\n"), "{\"a\": \"a\\\\x\"}"), 0);
	/* a trailing backslash, and one before another character, are literal */
	CHECK_INT(run(RULE("    a: 'dir\\'\n"), "{\"a\": \"dir\\\\\"}"), 1);
	CHECK_INT(run(RULE("    a: 'C:\\Windows\\x'\n"), "{\"a\": \"C:\\\\Windows\\\\x\"}"), 1);
	/* the shadow copy value of the SigmaHQ corpus */
	CHECK_INT(run(RULE("    a|startswith: '\\\\\\\\\\?\\\\GLOBALROOT\\\\Device\\\\HarddiskVolumeShadowCopy'\n"),
		      "{\"a\": \"\\\\\\\\?\\\\GLOBALROOT\\\\Device\\\\HarddiskVolumeShadowCopy1\\\\x\"}"), 1);
	CHECK_INT(run(RULE("    a|startswith: '\\\\\\\\\\?\\\\GLOBALROOT\\\\Device\\\\HarddiskVolumeShadowCopy'\n"),
		      "{\"a\": \"\\\\\\\\x\\\\GLOBALROOT\\\\Device\\\\HarddiskVolumeShadowCopy1\"}"), 0);
}

static void test_contains_startswith_endswith(void)
{
	CHECK_INT(run(RULE("    a|contains: mimi\n"), "{\"a\": \"run MIMIkatz now\"}"), 1);
	CHECK_INT(run(RULE("    a|contains: mimi\n"), "{\"a\": \"mim\"}"), 0);
	CHECK_INT(run(RULE("    a|startswith: run\n"), "{\"a\": \"Run it\"}"), 1);
	CHECK_INT(run(RULE("    a|startswith: run\n"), "{\"a\": \"it run\"}"), 0);
	CHECK_INT(run(RULE("    a|endswith: .exe\n"), "{\"a\": \"x.EXE\"}"), 1);
	CHECK_INT(run(RULE("    a|endswith: .exe\n"), "{\"a\": \"x.exe.txt\"}"), 0);
	CHECK_INT(run(RULE("    a|contains|all: [one, two]\n"), "{\"a\": \"two and one\"}"), 1);
	CHECK_INT(run(RULE("    a|contains|all: [one, two]\n"), "{\"a\": \"one only\"}"), 0);
	CHECK_INT(run(RULE("    a|contains|all: one\n"), "{\"a\": \"one\"}"), -1);
	CHECK(strstr(last_reason, "all: expected a list"));
	CHECK_INT(run(RULE("    a|contains: ''\n"), "{\"a\": \"x\"}"), 1);
}

static void test_cased_exists_null_empty(void)
{
	CHECK_INT(run(RULE("    a|cased: Admin\n"), "{\"a\": \"Admin\"}"), 1);
	CHECK_INT(run(RULE("    a|cased: Admin\n"), "{\"a\": \"admin\"}"), 0);
	CHECK_INT(run(RULE("    a|contains|cased: Adm\n"), "{\"a\": \"xAdmx\"}"), 1);
	CHECK_INT(run(RULE("    a|contains|cased: Adm\n"), "{\"a\": \"xadmx\"}"), 0);
	CHECK_INT(run(RULE("    a|exists: true\n"), "{\"a\": \"\"}"), 1);
	CHECK_INT(run(RULE("    a|exists: true\n"), "{\"b\": \"x\"}"), 0);
	CHECK_INT(run(RULE("    a|exists: false\n"), "{\"b\": \"x\"}"), 1);
	CHECK_INT(run(RULE("    a|exists: yes\n"), "{\"b\": \"x\"}"), -1);
	CHECK_INT(run(RULE("    a|exists|contains: true\n"), "{\"b\": \"x\"}"), -1);
	CHECK_INT(run(RULE("    a: null\n"), "{\"b\": \"x\"}"), 1);
	CHECK_INT(run(RULE("    a: null\n"), "{\"a\": null}"), 1);
	CHECK_INT(run(RULE("    a: null\n"), "{\"a\": \"\"}"), 0);
	CHECK_INT(run(RULE("    a: ''\n"), "{\"a\": \"\"}"), 1);
	CHECK_INT(run(RULE("    a: ''\n"), "{\"b\": \"x\"}"), 0);
	CHECK_INT(run(RULE("    a: ''\n"), "{\"a\": \"x\"}"), 0);
	CHECK_INT(run(RULE("    a: []\n"), "{\"b\": \"x\"}"), 1); /* an empty list is null */
}

static void test_neq(void)
{
	CHECK_INT(run(RULE("    a|neq: x\n"), "{\"a\": \"y\"}"), 1);
	CHECK_INT(run(RULE("    a|neq: x\n"), "{\"a\": \"X\"}"), 0);
	CHECK_INT(run(RULE("    a|neq: [x, y]\n"), "{\"a\": \"y\"}"), 0);
	CHECK_INT(run(RULE("    a|neq: [x, y]\n"), "{\"a\": \"z\"}"), 1);
}

static void test_dotted_and_arrays(void)
{
	const char *r = RULE("    TargetResources.ModifiedProperties.NewValue|contains: Admin\n");

	CHECK_INT(run(r, "{\"TargetResources\": [{\"ModifiedProperties\": [{\"NewValue\": \"x\"}, "
		      "{\"NewValue\": \"Global Admin\"}]}]}"), 1);
	CHECK_INT(run(r, "{\"TargetResources\": [{\"ModifiedProperties\": [{\"NewValue\": \"x\"}]}]}"),
		  0);
	CHECK_INT(run(RULE("    tags: b\n"), "{\"tags\": [\"a\", \"b\"]}"), 1);
	CHECK_INT(run(RULE("    d.e: 1\n"), "{\"d.e\": \"1\"}"), 1);
	/* field names: exact first, then ignoring case */
	CHECK_INT(run(RULE("    resulttype: 1\n"), "{\"ResultType\": \"1\"}"), 1);
	CHECK_INT(run(RULE("    OPERATIONNAME: x\n"), "{\"operationName\": \"x\"}"), 1);
}

static void test_keywords(void)
{
	const char *r = "title: t\nlogsource: {product: p}\ndetection:\n  kw:\n    - 'Evil'\n"
			"    - 'b*d'\n  condition: kw\n";
	const char *all = "title: t\nlogsource: {product: p}\ndetection:\n  kw:\n"
			  "    '|all': [one, two]\n  condition: kw\n";

	CHECK_INT(run(r, "{\"event\": {\"original\": \"some EVIL line\"}, \"a\": \"x\"}"), 1);
	/* with event.original, only it is searched */
	CHECK_INT(run(r, "{\"event\": {\"original\": \"clean\"}, \"a\": \"evil\"}"), 0);
	/* without it, message and every string value */
	CHECK_INT(run(r, "{\"message\": \"so evil\"}"), 1);
	CHECK_INT(run(r, "{\"other\": \"abcd\"}"), 1);
	CHECK_INT(run(r, "{\"other\": \"clean\"}"), 0);
	CHECK_INT(run("title: t\ndetection:\n  kw: evil\n  condition: kw\n", "{\"m\": \"so EVIL\"}"),
		  1);
	CHECK_INT(run(all, "{\"message\": \"two then one\"}"), 1);
	CHECK_INT(run(all, "{\"message\": \"one\"}"), 0);
}

static void test_windash(void)
{
	const char *r = RULE("    a|contains|windash: ' -exec -1'\n");

	CHECK_INT(run(r, "{\"a\": \"x -exec -1\"}"), 1);
	CHECK_INT(run(r, "{\"a\": \"x /exec /1\"}"), 1);
	CHECK_INT(run(r, "{\"a\": \"x \xe2\x80\x93""exec \xe2\x80\x94""1\"}"), 1);
	CHECK_INT(run(r, "{\"a\": \"x \xe2\x80\x95""exec -1\"}"), 1);
	CHECK_INT(run(r, "{\"a\": \"x +exec -1\"}"), 0);
	/* an inner dash is no flag: param-1 stays as written */
	r = RULE("    a|windash: '-param-1'\n");
	CHECK_INT(run(r, "{\"a\": \"/param-1\"}"), 1);
	CHECK_INT(run(r, "{\"a\": \"/param/1\"}"), 0);
}

static void test_regex(void)
{
	CHECK_INT(run(RULE("    a|re: 'ab+c'\n"), "{\"a\": \"xxabbbcxx\"}"), 1); /* unanchored */
	CHECK_INT(run(RULE("    a|re: '^ab+c$'\n"), "{\"a\": \"xxabbbcxx\"}"), 0);
	CHECK_INT(run(RULE("    a|re: 'ABC'\n"), "{\"a\": \"abc\"}"), 0); /* cased by default */
	CHECK_INT(run(RULE("    a|re|i: 'ABC'\n"), "{\"a\": \"abc\"}"), 1);
	CHECK_INT(run(RULE("    a|re: '^b$'\n"), "{\"a\": \"a\\nb\"}"), 0);
	CHECK_INT(run(RULE("    a|re|m: '^b$'\n"), "{\"a\": \"a\\nb\"}"), 1);
	CHECK_INT(run(RULE("    a|re: 'a.b'\n"), "{\"a\": \"a\\nb\"}"), 0);
	CHECK_INT(run(RULE("    a|re|s: 'a.b'\n"), "{\"a\": \"a\\nb\"}"), 1);
	CHECK_INT(run(RULE("    a|re: '\\d{3}\\s\\w'\n"), "{\"a\": \"x 123 y\"}"), 1);
	CHECK_INT(run(RULE("    a|re: '(unclosed'\n"), "{\"a\": \"x\"}"), -1);
	CHECK(strstr(last_reason, "re: column"));
	CHECK_INT(run(RULE("    a|i: 'x'\n"), "{\"a\": \"x\"}"), -1); /* i only after re */
	CHECK_INT(run(RULE("    a|re|contains: 'x'\n"), "{\"a\": \"x\"}"), -1);
}

static void test_base64_and_utf16(void)
{
	CHECK_INT(run(RULE("    a|base64: ping\n"), "{\"a\": \"cGluZw==\"}"), 1);
	CHECK_INT(run(RULE("    a|base64: ping\n"), "{\"a\": \"CGLUZW==\"}"), 0); /* with case */
	CHECK_INT(run(RULE("    a|base64|contains: ping\n"), "{\"a\": \"x cGluZw== y\"}"), 1);
	CHECK_INT(run(RULE("    a|base64: 'pi*'\n"), "{\"a\": \"x\"}"), -1);
	/* the test vector of ref/sigma.md: foobar at the three offsets */
	for (int i = 0; i < 3; i++) {
		static const char *const enc[] = { "Zm9vYmFy", "Zvb2Jhc", "mb29iYX" };
		char ev[64];

		snprintf(ev, sizeof(ev), "{\"a\": \"..%s..\"}", enc[i]);
		CHECK_INT(run(RULE("    a|base64offset|contains: foobar\n"), ev), 1);
	}
	CHECK_INT(run(RULE("    a|base64offset|contains: foobar\n"), "{\"a\": \"Zm9vYmF\"}"), 0);
	/* wide (UTF-16LE) then base64offset: PowerShell -EncodedCommand style */
	CHECK_INT(run(RULE("    a|wide|base64offset|contains: 'ping -n'\n"),
		      "{\"a\": \"-enc cABpAG4AZwAgAC0AbgAgADEA\"}"), 1);
	CHECK_INT(run(RULE("    a|utf16le|base64: cmd\n"), "{\"a\": \"YwBtAGQA\"}"), 1);
	CHECK_INT(run(RULE("    a|utf16be|base64: cmd\n"), "{\"a\": \"AGMAbQBk\"}"), 1);
	CHECK_INT(run(RULE("    a|utf16|base64: cmd\n"), "{\"a\": \"//5jAG0AZAA=\"}"), 1);
}

static void test_numbers_and_time_parts(void)
{
	CHECK_INT(run(RULE("    n|gt: 10\n"), "{\"n\": \"11\"}"), 1);
	CHECK_INT(run(RULE("    n|gt: 10\n"), "{\"n\": 10}"), 0);
	CHECK_INT(run(RULE("    n|gte: 10\n"), "{\"n\": 10}"), 1);
	CHECK_INT(run(RULE("    n|lt: 10\n"), "{\"n\": \"9.5\"}"), 1);
	CHECK_INT(run(RULE("    n|lte: 10\n"), "{\"n\": \"11\"}"), 0);
	CHECK_INT(run(RULE("    n|lt: 10\n"), "{\"n\": \"abc\"}"), 0);
	CHECK_INT(run(RULE("    n|lt: ten\n"), "{\"n\": \"1\"}"), -1);
	CHECK_INT(run(RULE("    source.port|lt: 1024\n"), "{\"source\": {\"port\": 443}}"), 1);
	/* 2026-03-15 is a Sunday of ISO week 11 */
	const char *ev = "{\"@timestamp\": \"2026-03-15T03:04:05Z\"}";
	CHECK_INT(run(RULE("    '@timestamp|hour': 3\n"), ev), 1);
	CHECK_INT(run(RULE("    '@timestamp|hour': 4\n"), ev), 0);
	CHECK_INT(run(RULE("    '@timestamp|minute': 4\n"), ev), 1);
	CHECK_INT(run(RULE("    '@timestamp|day': 15\n"), ev), 1);
	CHECK_INT(run(RULE("    '@timestamp|week': 11\n"), ev), 1);
	CHECK_INT(run(RULE("    '@timestamp|month': 3\n"), ev), 1);
	CHECK_INT(run(RULE("    '@timestamp|year': 2026\n"), ev), 1);
	CHECK_INT(run(RULE("    '@timestamp|hour|lt': 6\n"), ev), 1);
	CHECK_INT(run(RULE("    t|hour: 22\n"), "{\"t\": \"2026-01-01T22:00:00+00:00\"}"), 1);
	CHECK_INT(run(RULE("    t|hour: 22\n"), "{\"t\": \"not a time\"}"), 0);
}

static void test_cidr(void)
{
	CHECK_INT(run(RULE("    source.ip|cidr: 10.0.0.0/8\n"), "{\"source\": {\"ip\": \"10.9.8.7\"}}"), 1);
	CHECK_INT(run(RULE("    source.ip|cidr: 10.0.0.0/8\n"), "{\"source\": {\"ip\": \"11.9.8.7\"}}"), 0);
	CHECK_INT(run(RULE("    ip|cidr: ['192.168.0.0/16', 'fd00::/8']\n"), "{\"ip\": \"fd12::1\"}"), 1);
	CHECK_INT(run(RULE("    ip|cidr: 'fd00::/8'\n"), "{\"ip\": \"fe80::1\"}"), 0);
	CHECK_INT(run(RULE("    ip|cidr: 'fd00::/8'\n"), "{\"ip\": \"not an address\"}"), 0);
	CHECK_INT(run(RULE("    ip|cidr: '10.0.0/8'\n"), "{\"ip\": \"10.0.0.1\"}"), -1);
}

static void test_expand_and_fieldref(void)
{
	CHECK_INT(run(RULE("    host|expand: '%dcs%'\n"), "{\"host\": \"DC2\"}"), 1);
	CHECK_INT(run(RULE("    host|expand: '%dcs%'\n"), "{\"host\": \"dc3\"}"), 0);
	CHECK_INT(run(RULE("    host|contains|expand: '.%dcs%.'\n"), "{\"host\": \"a.dc1.b\"}"), 1);
	CHECK_INT(run(RULE("    host|expand: '\\%dcs%'\n"), "{\"host\": \"%dcs%\"}"), 1);
	CHECK_INT(run(RULE("    host: '%dcs%'\n"), "{\"host\": \"%dcs%\"}"), 1); /* no expand */
	CHECK_INT(run(RULE("    host|expand: '%nope%'\n"), "{\"host\": \"x\"}"), -1);
	CHECK(strstr(last_reason, "placeholder %nope% has no values"));
	CHECK_INT(run(RULE("    a|fieldref: b\n"), "{\"a\": \"X\", \"b\": \"x\"}"), 1);
	CHECK_INT(run(RULE("    a|fieldref: b\n"), "{\"a\": \"x\", \"b\": \"y\"}"), 0);
	CHECK_INT(run(RULE("    a|fieldref: b\n"), "{\"a\": \"x\"}"), 0);
	CHECK_INT(run(RULE("    a|fieldref|contains: b\n"), "{\"a\": \"1x2\", \"b\": \"x\"}"), 1);
	CHECK_INT(run(RULE("    a|fieldref|neq: b\n"), "{\"a\": \"x\", \"b\": \"y\"}"), 1);
}

#define COND(c) "title: t\nlogsource: {product: p}\ndetection:\n  sel_a: {a: 1}\n" \
	"  sel_b: {b: 1}\n  _c: {c: 1}\n  condition: " c "\n"

static void test_condition(void)
{
	/* or < and: a or (b and c) */
	CHECK_INT(run(COND("sel_a or sel_b and _c"), "{\"a\": \"1\"}"), 1);
	CHECK_INT(run(COND("sel_a or sel_b and _c"), "{\"b\": \"1\"}"), 0);
	CHECK_INT(run(COND("(sel_a or sel_b) and _c"), "{\"a\": \"1\"}"), 0);
	/* and < not: (not a) and b */
	CHECK_INT(run(COND("not sel_a and sel_b"), "{\"b\": \"1\"}"), 1);
	CHECK_INT(run(COND("not sel_a and sel_b"), "{\"a\": \"1\", \"b\": \"1\"}"), 0);
	CHECK_INT(run(COND("not (sel_a and sel_b)"), "{\"a\": \"1\"}"), 1);
	CHECK_INT(run(COND("1 of sel_*"), "{\"b\": \"1\"}"), 1);
	CHECK_INT(run(COND("any of sel_*"), "{\"b\": \"1\"}"), 1);
	CHECK_INT(run(COND("all of sel_*"), "{\"b\": \"1\"}"), 0);
	CHECK_INT(run(COND("all of sel_*"), "{\"a\": \"1\", \"b\": \"1\"}"), 1);
	/* them leaves out names starting with _ */
	CHECK_INT(run(COND("all of them"), "{\"a\": \"1\", \"b\": \"1\"}"), 1);
	CHECK_INT(run(COND("1 of them"), "{\"c\": \"1\"}"), 0);
	CHECK_INT(run(COND("1 of _*"), "{\"c\": \"1\"}"), 1);
	CHECK_INT(run(COND("sel_a and not 1 of _*"), "{\"a\": \"1\", \"c\": \"1\"}"), 0);
	/* rejections */
	CHECK_INT(run(COND("sel_a and missing"), "{\"a\": \"1\"}"), -1);
	CHECK(strstr(last_reason, "'missing' is not a search identifier"));
	CHECK_INT(run(COND("1 of x*"), "{\"a\": \"1\"}"), -1);
	CHECK(strstr(last_reason, "matches no search identifier"));
	CHECK_INT(run(COND("sel_a | count() > 5"), "{\"a\": \"1\"}"), -1);
	CHECK(strstr(last_reason, "aggregations"));
	CHECK_INT(run(COND("sel_a and (sel_b"), "{\"a\": \"1\"}"), -1);
	CHECK_INT(run(COND("sel_a sel_b"), "{\"a\": \"1\"}"), -1);
	CHECK_INT(run(COND("sel_*"), "{\"a\": \"1\"}"), -1);
	/* a list of conditions is ORed */
	CHECK_INT(run("title: t\ndetection:\n  a: {a: 1}\n  b: {b: 1}\n  condition: [a, b]\n",
		      "{\"b\": \"1\"}"), 1);
}

static void test_sigcond_depth(void)
{
	static char text[SIGCOND_DEPTH_MAX * 8 + 16];
	const char *names[] = { "a" };
	struct sigcond c;
	struct err e = ERR_INIT;
	size_t n = 0;

	for (int i = 0; i < SIGCOND_DEPTH_MAX + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "(");
	n += (size_t)snprintf(text + n, sizeof(text) - n, "a");
	CHECK_INT(sigcond_parse(&c, text, n, names, 1, &e), -EINVAL);
	CHECK(strstr(e.msg, "nested"));
	CHECK_INT(sigcond_parse(&c, "not not a", 9, names, 1, &e), 0);
	sigcond_release(&c);
}

static void test_filters_and_logsource(void)
{
	const char *yaml = "title: base\nid: base-1\nlogsource: {product: azure}\ndetection:\n"
			   "  sel: {a|startswith: x}\n  condition: sel\n---\n"
			   "title: f\nlogsource: {product: azure}\nfilter:\n  rules: [base-1]\n"
			   "  sel: {user: svc}\n  condition: sel\n";
	struct sigma_logsource azure = { NULL, "azure", "signinlogs" }, fw = { "firewall", NULL, NULL };
	struct sigma_set *s = load(yaml);
	struct sigma_counts k;

	CHECK_INT(run(yaml, "{\"a\": \"x1\", \"user\": \"bob\"}"), 1);
	CHECK_INT(run(yaml, "{\"a\": \"x1\", \"user\": \"svc\"}"), 0);
	if (!s)
		return;
	sigma_set_counts(s, &k);
	CHECK_INT(k.rules, 1);
	CHECK_INT(k.filters, 1);
	CHECK(sigma_rule_applies(sigma_set_rule(s, 0), &azure));
	CHECK(!sigma_rule_applies(sigma_set_rule(s, 0), &fw));
	CHECK(sigma_rule_applies(sigma_set_rule(s, 0), NULL));
	CHECK(sigma_set_find(s, "base-1") == sigma_set_rule(s, 0));
	sigma_set_free(s);
	s = load("title: f\nlogsource: {product: azure}\nfilter:\n  rules: [nope]\n"
		 "  sel: {user: svc}\n  condition: sel\n");
	CHECK(strstr(last_reason, "rule nope is not loaded"));
	sigma_set_free(s);
}

static void test_documents(void)
{
	const char *yaml = "title: one\nname: n1\nlevel: high\nstatus: test\nauthor: A. B.\n"
			   "tags: [attack.t1110, attack.credential-access]\nreferences: [https://x]\n"
			   "logsource: {category: firewall}\ndetection:\n  s: {a: 1}\n  condition: s\n"
			   "---\n"
			   "title: corr\ncorrelation: {type: event_count, rules: [n1], timespan: 5m, "
			   "condition: {gte: 2}}\n"
			   "---\n"
			   "title: bad level\nlevel: severe\ndetection:\n  s: {a: 1}\n  condition: s\n"
			   "---\n"
			   "title: bad detection\ndetection:\n  s: {a: 1}\n";
	const char *const *tags;
	struct sigma_counts k;
	struct sigma_set *s = load(yaml);
	const struct sigma_rule *r;

	if (!CHECK(s))
		return;
	sigma_set_counts(s, &k);
	CHECK_INT(k.rules, 1);
	CHECK_INT(k.correlations, 1);
	CHECK_INT(k.rejected, 2);
	CHECK(strstr(last_reason, "expected a condition"));
	r = sigma_set_rule(s, 0);
	CHECK_STR(sigma_rule_id(r), "n1"); /* no id: the name */
	CHECK_STR(sigma_rule_title(r), "one");
	CHECK_STR(sigma_rule_level(r), "high");
	CHECK_STR(sigma_rule_status(r), "test");
	CHECK_STR(sigma_rule_author(r), "A. B.");
	CHECK_STR(sigma_rule_file(r), "t.yml");
	CHECK_INT(sigma_rule_line(r), 1);
	CHECK_INT(sigma_rule_tags(r, &tags), 2);
	CHECK_STR(tags[1], "attack.credential-access");
	CHECK_STR(sigma_rule_logsource(r)->category, "firewall");
	CHECK(!sigma_rule_logsource(r)->product);
	sigma_set_free(s);
	/* YAML syntax errors are reported with their line */
	s = load("title: x\ndetection:\n  s: {a: 1\n  condition: s\n");
	CHECK(s && strstr(last_reason, "YAML"));
	CHECK(last_line >= 3);
	sigma_set_free(s);
	/* text that is not UTF-8 is refused at its line (libfyaml may loop on it) */
	s = load("title: f\n%o\xc4""e: x\n");
	CHECK(s && strstr(last_reason, "expected UTF-8 text, found byte 0xc4") && last_line == 2);
	sigma_set_free(s);
	/* a second rule with an id already used is rejected, the first kept */
	s = load("title: a\nid: same\ndetection:\n  s: {a: 1}\n  condition: s\n---\n"
		 "title: b\nid: same\ndetection:\n  s: {a: 1}\n  condition: s\n---\n"
		 "title: c\nid: other\ndetection:\n  s: {a: 1}\n  condition: s\n---\n"
		 "title: d\nid: same\ndetection:\n  s: {a: 1}\n  condition: s\n");
	if (CHECK(s)) {
		sigma_set_counts(s, &k);
		CHECK_INT(k.rules, 2);
		CHECK_INT(k.rejected, 2);
		CHECK_INT(sigma_set_size(s), 2);
		CHECK_STR(sigma_rule_title(sigma_set_rule(s, 0)), "a");
		CHECK_STR(sigma_rule_title(sigma_set_rule(s, 1)), "c");
		CHECK_STR(last_reason, "id already used by the rule at t.yml:1");
		CHECK_INT(last_line, 19);
	}
	sigma_set_free(s);
	/* no id nor name: FILE:LINE */
	s = load("---\ntitle: x\ndetection:\n  s: {a: 1}\n  condition: s\n");
	CHECK(s && sigma_set_size(s) == 1 && !strcmp(sigma_rule_id(sigma_set_rule(s, 0)), "t.yml:2"));
	sigma_set_free(s);
}

static void test_literals(void)
{
	const struct sigma_literal *l;
	struct sigma_set *s;

	s = load(RULE("    a|contains: [mimikatz, sekurlsa]\n    b: x\n"));
	/* the item with the longer shortest literal is picked */
	if (CHECK(s) && CHECK(sigma_rule_literals(sigma_set_rule(s, 0), &l) == 2)) {
		CHECK_MEM(l[0].s, l[0].len, "mimikatz");
		CHECK(!l[0].cased);
	}
	sigma_set_free(s);
	/* equally short: the longer literals on average, not the lone GET */
	s = load("title: t\ndetection:\n  m: {cs-method: GET}\n  kw: ['={{', '=${', 'execute']\n"
		 "  condition: m and kw\n");
	if (CHECK(s) && CHECK(sigma_rule_literals(sigma_set_rule(s, 0), &l) == 3))
		CHECK_INT(l[0].field, SIGMA_ANY_FIELD);
	sigma_set_free(s);
	s = load(COND("not sel_a"));
	CHECK(s && sigma_rule_literals(sigma_set_rule(s, 0), &l) == 0);
	sigma_set_free(s);
	s = load(COND("sel_a or sel_b"));
	CHECK(s && sigma_rule_literals(sigma_set_rule(s, 0), &l) == 2);
	sigma_set_free(s);
	s = load(RULE("    a|re: 'x+'\n"));
	CHECK(s && sigma_rule_literals(sigma_set_rule(s, 0), &l) == 0);
	sigma_set_free(s);
	s = load("title: t\ndetection:\n  kw: ['*evil*tool*']\n  condition: kw\n");
	if (CHECK(s) && CHECK(sigma_rule_literals(sigma_set_rule(s, 0), &l) == 1)) {
		CHECK_INT(l[0].field, SIGMA_ANY_FIELD);
		CHECK_MEM(l[0].s, l[0].len, "evil");
	}
	sigma_set_free(s);
	s = load(RULE("    a|base64: ping\n"));
	if (CHECK(s) && CHECK(sigma_rule_literals(sigma_set_rule(s, 0), &l) == 1))
		CHECK(l[0].cased);
	sigma_set_free(s);
}

/* The correlation hook: documents with correlation: go to it, its verdict counts. */
static int fake_correl(void *ctx, struct fy_document *doc, const char *file, unsigned line,
		       struct err *e)
{
	(*(int *)ctx)++;
	if (line > 5)
		return err_set(e, -EINVAL, "correlation: timespan: expected <number><s|m|h|d>");
	return 0;
}

static void test_correlation_hook(void)
{
	const char *yaml = "title: c1\ncorrelation: {type: event_count}\n---\n"
			   "title: c2\ncorrelation: {type: event_count}\n---\n"
			   "title: c3\ncorrelation: {type: event_count}\n";
	int calls = 0;
	struct sigma_options opt = { .correlation = fake_correl, .correlation_ctx = &calls,
				     .report = on_report };
	struct sigma_counts k;
	struct sigma_set *s = NULL;
	struct err e = ERR_INIT;

	if (!CHECK(sigma_set_new(&s, &opt) == 0))
		return;
	CHECK_INT(sigma_set_load_buffer(s, "c.yml", yaml, strlen(yaml), &e), 0);
	sigma_set_counts(s, &k);
	CHECK_INT(calls, 3);
	CHECK_INT(k.correlations, 2);
	CHECK_INT(k.rejected, 1);
	CHECK_STR(last_reason, "correlation: timespan: expected <number><s|m|h|d>");
	CHECK_INT(last_line, 7);
	sigma_set_free(s);
}

static void test_allocation_failures(void)
{
	const char *yaml = "title: t\nid: x\ntags: [a]\nlogsource: {product: p}\ndetection:\n"
			   "  sel: {a|contains|windash: ['-x', 'y'], b|re: 'z+', c|cidr: 10.0.0.0/8}\n"
			   "  kw: [evil]\n  condition: sel or kw\n";
	int failures = 0;

	for (long n = 0; n < 400; n++) {
		struct sigma_set *s = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = sigma_set_new(&s, NULL);
		if (rc == 0) {
			rc = sigma_set_load_buffer(s, "t.yml", yaml, strlen(yaml), &e);
			if (rc == 0)
				rc = sigma_set_finish(s, &e);
		}
		mem_fail_after(-1);
		if (rc < 0) {
			failures++;
			CHECK_INT(rc, -ENOMEM);
		}
		sigma_set_free(s);
	}
	CHECK(failures > 0);
}

int main(void)
{
	T_RUN(test_plain_values);
	T_RUN(test_canonical_strings);
	T_RUN(test_wildcards_and_escapes);
	T_RUN(test_contains_startswith_endswith);
	T_RUN(test_cased_exists_null_empty);
	T_RUN(test_neq);
	T_RUN(test_dotted_and_arrays);
	T_RUN(test_keywords);
	T_RUN(test_windash);
	T_RUN(test_regex);
	T_RUN(test_base64_and_utf16);
	T_RUN(test_numbers_and_time_parts);
	T_RUN(test_cidr);
	T_RUN(test_expand_and_fieldref);
	T_RUN(test_condition);
	T_RUN(test_sigcond_depth);
	T_RUN(test_filters_and_logsource);
	T_RUN(test_documents);
	T_RUN(test_literals);
	T_RUN(test_correlation_hook);
	T_RUN(test_allocation_failures);
	return t_done();
}
