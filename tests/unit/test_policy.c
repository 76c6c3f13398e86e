/* Unit tests of notification policies (notify/policy.h): the example policy of the docs parsed
 * and planned on a national holiday at night, a business day's hours, lunch with a maintenance
 * window, frequency (aggregate and escalate), on-call rotations, hours across midnight,
 * validation messages that name the JSON path, durations, allocation failures. */
#include "core/arena.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/policy.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS 1000000000LL
#define JST (9 * 3600)

/* ns of a Tokyo wall-clock time. */
static int64_t jst(int y, int mo, int d, int h, int mi)
{
	return ((time_days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 - JST) * NS;
}

static struct policy *example(void)
{
	char path[512];
	struct policy *p = NULL;
	struct err e = ERR_INIT;
	size_t len = 0;
	char *text;

	snprintf(path, sizeof(path), "%s/notify/policy.json", t_data_dir());
	text = t_read_file(path, &len);
	CHECK(text != NULL);
	if (!text)
		return NULL;
	if (policy_parse(&p, "policy.json", text, len, &e) < 0)
		t_check(0, __FILE__, __LINE__, "parse: %s", e.msg);
	free(text);
	return p;
}

static void test_holiday_night(void)
{
	struct policy *p = example();
	struct policy_facts f = { .level = 3, .rule = "panos-threat-critical",
				  .at_ns = jst(2026, 5, 4, 2, 0) };
	struct policy_plan pl;
	struct arena a;
	struct err e = ERR_INIT;

	if (!p)
		return;
	CHECK_INT(policy_rules(p), 6);
	arena_init(&a, 4096, 1 << 20);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK(pl.matched);
	CHECK(!pl.held);
	CHECK(!pl.aggregate);
	CHECK_STR(pl.rule_name, "night-critical");
	CHECK_INT(pl.window_ns, 0);
	CHECK_INT(pl.n_reasons, 10); /* 6 rules, 4 steps */
	CHECK_STR(pl.reasons[0], "rule 'storm' did not match: level 3 (Critical) > 1");
	CHECK_STR(pl.reasons[1], "rule 'brute-force' did not match: level 3 (Critical) > 2");
	CHECK_STR(pl.reasons[2], "rule 'night-critical' matched: level 3 >= 2, 2026-05-04 (Monday) "
				 "is a national holiday (みどりの日)");
	CHECK_STR(pl.reasons[3], "rule 'after-hours' did not match: 2026-05-04 (Monday) is a national "
				 "holiday (みどりの日), not business");
	CHECK_STR(pl.reasons[5], "rule 'lunch' did not match: 02:00 JST is outside 12:00-13:00");
	CHECK_STR(pl.reasons[6], "step 1 at +0s: phone to +819011110002 (on call in rotation "
				 "'primary', 2 of 3), template critical, ja, acknowledgement required");
	CHECK_STR(pl.reasons[7], "step 2 at +5m (5m after step 1 when not acknowledged): phone to "
				 "+819022220001 (on call in rotation 'backup', 1 of 2), template "
				 "critical, ja, acknowledgement required");
	CHECK_INT(pl.n_steps, 4);
	if (pl.n_steps == 4) {
		CHECK_STR(pl.steps[0].channel, "phone");
		CHECK_INT(pl.steps[0].n_to, 1);
		CHECK_STR(pl.steps[0].to[0], "+819011110002");
		CHECK(pl.steps[0].ack);
		CHECK_INT(pl.steps[0].after_ns, 0);
		CHECK_STR(pl.steps[1].to[0], "+819022220001");
		CHECK_INT(pl.steps[1].after_ns, 300 * NS);
		CHECK_STR(pl.steps[2].channel, "mail");
		CHECK_INT(pl.steps[2].n_to, 2);
		CHECK_STR(pl.steps[2].template, "critical");
		CHECK_STR(pl.steps[2].lang, "ja");
		CHECK(!pl.steps[2].ack);
		CHECK_STR(pl.steps[3].lang, "en");
	}
	/* a week later the rotation has moved on (handover Monday 09:00) */
	f.at_ns = jst(2026, 5, 11, 10, 0);
	f.level = 2;
	arena_clear(&a);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "office-hours");
	f.at_ns = jst(2026, 5, 9, 9, 0); /* Saturday */
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "night-critical");
	CHECK_STR(pl.steps[0].to[0], "+819011110003");
	f.at_ns = jst(2026, 5, 11, 9, 0) - NS; /* Monday 08:59:59: still the old week; outside hours */
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "after-hours");
	CHECK_STR(pl.steps[0].to[0], "+819011110003");
	f.at_ns = jst(2026, 5, 11, 20, 0); /* week 18 of the rotation: the first person again */
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "after-hours");
	CHECK_STR(pl.steps[0].to[0], "+819011110001");
	CHECK_STR(pl.reasons[3], "rule 'after-hours' matched: level 2 >= 2, 2026-05-11 (Monday) is a "
				 "business day, 20:00 JST is outside the business hours 09:30-18:15");
	/* the tenant's closure, the operator's holiday, the year-end closure */
	f.at_ns = jst(2026, 8, 13, 10, 0);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "night-critical");
	CHECK_STR(pl.reasons[2], "rule 'night-critical' matched: level 2 >= 2, 2026-08-13 (Thursday) "
				 "is a tenant closure (お盆休み)");
	f.at_ns = jst(2026, 6, 15, 10, 0);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "night-critical");
	f.at_ns = jst(2026, 12, 30, 10, 0);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "night-critical");
	/* the policy's maintenance window holds everything */
	f.at_ns = jst(2026, 12, 6, 2, 0);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK(pl.held);
	CHECK_STR(pl.reasons[6], "held: the policy's maintenance window 'firewall upgrade' "
				 "(2026-12-06 01:00 JST to 2026-12-06 05:00 JST) is in effect: the "
				 "notices are held until it ends");
	CHECK_INT(pl.held_until_ns, jst(2026, 12, 6, 5, 0)); /* the window's end */
	arena_release(&a);
	policy_free(p);
}

static void test_business_day(void)
{
	struct policy *p = example();
	struct policy_facts f = { .level = 2, .rule = "x", .at_ns = jst(2026, 5, 7, 10, 0) };
	struct policy_plan pl;
	struct arena a;
	struct err e = ERR_INIT;

	if (!p)
		return;
	arena_init(&a, 4096, 1 << 20);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "office-hours");
	CHECK_STR(pl.reasons[4], "rule 'office-hours' matched: level 2 >= 2, 2026-05-07 (Thursday) is "
				 "a business day, 10:00 JST is within 09:30-12:00");
	CHECK_INT(pl.steps[1].after_ns, 900 * NS);
	f.at_ns = jst(2026, 5, 7, 12, 40);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "lunch");
	CHECK(!pl.held);
	CHECK_INT(pl.held_until_ns, 0);
	CHECK_STR(pl.reasons[4], "rule 'office-hours' did not match: 12:40 JST is outside 09:30-12:00, "
				 "13:00-18:15");
	f.at_ns = jst(2026, 5, 7, 12, 15); /* the rule's own maintenance window */
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "lunch");
	CHECK(pl.held);
	CHECK_STR(pl.reasons[6], "held: the rule's maintenance window 'lunch drill' (2026-05-07 12:00 "
				 "JST to 2026-05-07 12:30 JST) is in effect: the notices are held "
				 "until it ends");
	CHECK_INT(pl.held_until_ns, jst(2026, 5, 7, 12, 30));
	/* nothing matches an informational incident of another rule */
	f.level = 0;
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK(!pl.matched);
	CHECK(pl.rule_name == NULL);
	CHECK_INT(pl.n_steps, 0);
	CHECK_INT(pl.n_reasons, 7);
	CHECK_STR(pl.reasons[0], "rule 'storm' did not match: rule id 'x' is none of panos-scan-*");
	CHECK_STR(pl.reasons[6], "no rule matched: nothing is sent");
	f.level = 4;
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), -EINVAL);
	CHECK_STR(e.msg, "level 4: expected 0 to 3");
	arena_release(&a);
	policy_free(p);
}

static void test_frequency(void)
{
	static const char *const tags[] = { "attack.credential_access", "attack.t1110.001" };
	struct policy *p = example();
	struct policy_facts f = { .level = 1, .rule = "panos-scan-tcp",
				  .at_ns = jst(2026, 5, 7, 10, 0), .similar = 4 };
	struct policy_plan pl;
	struct arena a;
	struct err e = ERR_INIT;

	if (!p)
		return;
	arena_init(&a, 4096, 1 << 20);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "storm");
	CHECK(!pl.aggregate);
	CHECK_INT(pl.window_ns, 600 * NS);
	CHECK_STR(pl.reasons[6], "frequency: 4 incidents of rule id 'panos-scan-tcp' within 10m, "
				 "below the rule's limit of 5");
	f.similar = 5;
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK(pl.aggregate);
	CHECK_STR(pl.reasons[6], "frequency reached: 5 incidents of rule id 'panos-scan-tcp' within "
				 "10m (the rule's limit is 5): one aggregated notice");
	/* escalate: three brute-force incidents in 30 minutes are planned as Critical */
	f = (struct policy_facts){ .level = 2, .rule = "win-logon-fail", .tags = tags, .n_tags = 2,
				   .at_ns = jst(2026, 5, 7, 10, 0), .similar = 2 };
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "brute-force");
	CHECK_INT(pl.window_ns, 1800 * NS);
	CHECK_STR(pl.reasons[1], "rule 'brute-force' matched: level 2 >= 1, tag 'attack.t1110.001' "
				 "matches 'attack.t1110*'");
	f.similar = 3;
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.rule_name, "office-hours");
	CHECK_INT(pl.window_ns, 1800 * NS); /* the window the count was taken in */
	CHECK_STR(pl.reasons[6], "frequency reached: 3 incidents of rule id 'win-logon-fail' within "
				 "30m (the rule's limit is 3): escalated to level 3 (Critical)");
	CHECK_STR(pl.reasons[8], "after escalation: rule 'brute-force' did not match: level 3 "
				 "(Critical) > 2");
	CHECK_STR(pl.reasons[11], "after escalation: rule 'office-hours' matched: level 3 >= 2, "
				  "2026-05-07 (Thursday) is a business day, 10:00 JST is within 09:30-12:00");
	arena_release(&a);
	policy_free(p);
}

static void test_midnight(void)
{
	static const char text[] =
		"{\"rules\": [{\"name\": \"night\", \"match\": {\"hours\": \"22:00-06:00\"},"
		" \"steps\": [{\"channel\": \"phone\", \"to\": [\"+81311112222\"]}]}]}";
	struct policy *p = NULL;
	struct policy_facts f = { .level = 0 };
	struct policy_plan pl;
	struct arena a;
	struct err e = ERR_INIT;
	static const struct { int h, m; bool match; } cases[] = {
		{ 21, 59, false }, { 22, 0, true }, { 23, 59, true }, { 0, 0, true }, { 5, 59, true },
		{ 6, 0, false }, { 12, 0, false },
	};

	CHECK_INT(policy_parse(&p, "", text, strlen(text), &e), 0);
	arena_init(&a, 4096, 1 << 20);
	for (size_t i = 0; p && i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.at_ns = jst(2026, 11, 30, cases[i].h, cases[i].m);
		CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
		t_check(pl.matched == cases[i].match, __FILE__, __LINE__, "%02d:%02d: %s", cases[i].h,
			cases[i].m, pl.reasons[0]);
		CHECK_STR(pl.steps ? pl.steps[0].template : "default", "default");
	}
	arena_release(&a);
	policy_free(p);
}

static void test_weekly_window(void)
{
	static const char text[] =
		"{\"maintenance\": [{\"from\": \"2026-01-04T02:00\", \"to\": \"2026-01-04T04:00\","
		" \"every\": \"weekly\", \"name\": \"sunday patch\"}],"
		" \"rules\": [{\"name\": \"all\", \"steps\": [{\"channel\": \"mail\", \"to\": [\"a@b.jp\"]}]}]}";
	static const struct { int y, mo, d, h, mi; bool held; } cases[] = {
		{ 2026, 5, 3, 3, 0, true }, { 2026, 5, 3, 2, 0, true }, { 2026, 5, 3, 4, 0, false },
		{ 2026, 5, 3, 1, 59, false }, { 2026, 5, 4, 3, 0, false }, { 2025, 12, 28, 3, 0, false },
		{ 2026, 1, 4, 3, 59, true },
	};
	struct policy *p = NULL;
	struct policy_facts f = { .level = 2 };
	struct policy_plan pl;
	struct arena a;
	struct err e = ERR_INIT;

	CHECK_INT(policy_parse(&p, "", text, strlen(text), &e), 0);
	arena_init(&a, 4096, 1 << 20);
	for (size_t i = 0; p && i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.at_ns = jst(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi);
		CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
		t_check(pl.held == cases[i].held, __FILE__, __LINE__, "case %zu: held %d", i, pl.held);
	}
	f.at_ns = jst(2026, 5, 3, 3, 0);
	CHECK_INT(policy_plan(p, &f, &a, &pl, &e), 0);
	CHECK_STR(pl.reasons[1], "held: the policy's maintenance window 'sunday patch' (2026-05-03 "
				 "02:00 JST to 2026-05-03 04:00 JST, every 7d) is in effect: the "
				 "notices are held until it ends");
	CHECK_INT(pl.held_until_ns, jst(2026, 5, 3, 4, 0)); /* this week's repetition's end */
	arena_release(&a);
	policy_free(p);
}

static void test_errors(void)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "{\"rules\": [{\"name\": \"a\", \"steps\": [{\"channel\": \"mail\", \"to\": [\"x\"], "
		  "\"after\": \"5 minutes\"}]}]}",
		  "p: rules[0].steps[0].after: expected a duration like \"5m\" (s, m, h, d; at most 30d) "
		  "(found \"5 minutes\")" },
		{ "{\"rules\": [{\"name\": \"a\", \"steps\": [{\"channel\": \"m\", \"to\": [\"x\"]}]},"
		  " {\"name\": \"b\", \"steps\": []}, {\"name\": \"c\", \"steps\": [{\"channel\": \"m\","
		  " \"to\": [\"x\"]}, {\"channel\": \"m\", \"to\": [\"y\"], \"after\": 5}]}]}",
		  "p: rules[1].steps: expected at least one step" },
		{ "{\"rules\": [{\"name\": \"c\", \"steps\": [{\"channel\": \"m\","
		  " \"to\": [\"x\"]}, {\"channel\": \"m\", \"to\": [\"y\"], \"after\": 5}]}]}",
		  "p: rules[0].steps[1].after: expected a duration like \"5m\" (s, m, h, d; at most 30d) "
		  "(found 5)" },
		{ "{\"rules\": [], \"rule\": []}",
		  "p: (the document): unknown key \"rule\" (expected one of: version, business_hours, "
		  "closures, holidays, maintenance, rotations, rules)" },
		{ "{\"version\": 1}", "p: (the document): expected \"rules\" (a list, may be empty)" },
		{ "{\"version\": 2, \"rules\": []}",
		  "p: version: expected an integer from 1 to 1 (found 2)" },
		{ "{\"rules\": [{\"name\": \"a\", \"steps\": [{\"channel\": \"phone\", "
		  "\"to\": [\"rotation:oncall\"]}]}]}",
		  "p: rules[0].steps[0].to[0]: no rotation \"oncall\" in \"rotations\"" },
		{ "{\"rules\": [{\"name\": \"a\", \"match\": {\"hours\": \"9:00-18:00\"}, \"steps\": []}]}",
		  "p: rules[0].match.hours: expected hours like \"18:15-09:30\" (HH:MM-HH:MM in "
		  "Asia/Tokyo, may cross midnight; or business, outside) (found \"9:00-18:00\")" },
		{ "{\"rules\": [{\"name\": \"a\", \"match\": {\"min_level\": 3, \"max_level\": 1}}]}",
		  "p: rules[0].match: min_level 3 is above max_level 1" },
		{ "{\"rules\": [{\"name\": \"a\", \"match\": {\"days\": [\"weekend\", \"sunday\"]}}]}",
		  "p: rules[0].match.days[1]: expected business, weekend, holiday, year_end or closure "
		  "(found \"sunday\")" },
		{ "{\"rules\": [{\"name\": \"a\", \"steps\": [{\"channel\": \"m\", \"to\": [\"x\"]}]},"
		  " {\"name\": \"a\", \"steps\": [{\"channel\": \"m\", \"to\": [\"x\"]}]}]}",
		  "p: rules[1].name: the name \"a\" is taken by rules[0]" },
		{ "{\"rules\": [{\"name\": \"a\", \"steps\": [{\"channel\": \"m\", \"to\": [\"x\"], "
		  "\"lang\": \"fr\"}]}]}",
		  "p: rules[0].steps[0].lang: expected ja or en (found \"fr\")" },
		{ "{\"rules\": [{\"name\": \"a\", \"frequency\": {\"count\": 5}, \"steps\": []}]}",
		  "p: rules[0].frequency: expected \"count\" and \"window\"" },
		{ "{\"rules\": [], \"closures\": [{\"from\": \"2026-02-30\", \"to\": \"2026-03-01\"}]}",
		  "p: closures[0].from: expected a date like \"2026-08-13\" (found \"2026-02-30\")" },
		{ "{\"rules\": [], \"maintenance\": [{\"from\": \"2026-12-06T05:00\", \"to\": "
		  "\"2026-12-06T01:00\"}]}",
		  "p: maintenance[0]: \"to\" must come after \"from\"" },
		{ "{\"rules\": [], \"rotations\": {\"a\": {\"every\": \"weekly\", \"start\": \"2026-01-05\","
		  " \"people\": []}}}",
		  "p: rotations.a: expected at least one person in \"people\"" },
		{ "{\"rules\": [], \"rotations\": {\"a\": {\"every\": \"weekly\", \"start\": \"2026-01-05\","
		  " \"people\": [\"x\", \"rotation:a\"]}}}",
		  "p: rotations.a: people[1]: a rotation cannot name another rotation (found "
		  "\"rotation:a\"); expected an address or a number" },
		{ "{\"rules\": [{\"name\": \"a\", \"steps\": [{\"channel\": \"m\", \"to\": [\"x\"]}],"
		  " \"steps\": []}]}",
		  "p: rules[0]: the key \"steps\" is given twice" },
		{ "{\"rules\": [{\"name\": \"bad name\", \"steps\": []}]}",
		  "p: rules[0].name: expected a name of 1-64 letters, digits, '-', '_', '.' (found \"bad "
		  "name\")" },
		{ "{\"rules\": [}", "p: column 12: expected a value (object, array, string, number, true, false or null), "
		  "found '}'" },
		{ "[]", "p: (the document): expected an object (found an array)" },
		{ "{\"rules\": [], \"maintenance\": [{\"from\": \"2026-01-04\", \"to\": \"2026-01-05\","
		  " \"every\": \"daily\"}]}",
		  "p: maintenance[0]: a window repeated every 86400s must be shorter than that" },
		{ "{\"rules\": [], \"rotations\": {\"a\": {\"every\": \"30s\", \"start\": \"2026-01-05\","
		  " \"people\": [\"x\"]}}}",
		  "p: rotations.a.every: expected weekly, daily or a duration like \"12h\" (at least 1m) "
		  "(found \"30s\")" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy *p = NULL;
		struct err e = ERR_INIT;
		int rc = policy_parse(&p, "p", cases[i].text, strlen(cases[i].text), &e);

		t_check(rc == -EINVAL && p == NULL, __FILE__, __LINE__, "case %zu: rc %d", i, rc);
		t_check(!strcmp(e.msg, cases[i].msg), __FILE__, __LINE__, "case %zu:\n  got  %s\n  want %s",
			i, e.msg, cases[i].msg);
		policy_free(p);
	}
}

static void test_duration(void)
{
	int64_t ns = -1;

	CHECK_INT(policy_duration("30s", 3, &ns), 0);
	CHECK_INT(ns, 30 * NS);
	CHECK_INT(policy_duration("1h30m", 5, &ns), 0);
	CHECK_INT(ns, 5400 * NS);
	CHECK_INT(policy_duration("30d", 3, &ns), 0);
	CHECK_INT(policy_duration("31d", 3, &ns), -EINVAL);
	CHECK_INT(policy_duration("5", 1, &ns), -EINVAL);
	CHECK_INT(policy_duration("m", 1, &ns), -EINVAL);
	CHECK_INT(policy_duration("5x", 2, &ns), -EINVAL);
	CHECK_INT(policy_duration("", 0, &ns), -EINVAL);
	CHECK_INT(policy_duration("99999999999s", 12, &ns), -EINVAL);
}

static void test_alloc_failures(void)
{
	char path[512];
	size_t len = 0;
	char *text;
	long n;

	snprintf(path, sizeof(path), "%s/notify/policy.json", t_data_dir());
	if (!(text = t_read_file(path, &len)))
		return;
	for (n = 0; n < 200; n++) {
		struct policy *p = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = policy_parse(&p, "p", text, len, &e);
		mem_fail_after(-1);
		if (rc == 0) {
			policy_free(p);
			break;
		}
		t_check(rc == -ENOMEM, __FILE__, __LINE__, "after %ld: %d %s", n, rc, e.msg);
	}
	CHECK(n < 200);
	free(text);
}

struct seen {
	int n;
	int64_t version;
	char body[256], actor[64], before[256];
	bool before_null;
};

static void got_policy(void *ctx, const struct meta_notify_policy *p)
{
	struct seen *s = ctx;

	s->n++;
	s->version = p->version;
	snprintf(s->body, sizeof(s->body), "%s", p->body);
	snprintf(s->actor, sizeof(s->actor), "%s", p->actor);
}

static void got_change(void *ctx, const struct meta_notify_policy_change *c)
{
	struct seen *s = ctx;

	if (s->n++ == 0) { /* the newest */
		s->version = c->version;
		snprintf(s->body, sizeof(s->body), "%s", c->after);
		snprintf(s->actor, sizeof(s->actor), "%s", c->actor);
		snprintf(s->before, sizeof(s->before), "%s", c->before ? c->before : "");
	}
	s->before_null = c->before == NULL;
}

static void test_store(void)
{
	static const char v1[] = "{\"rules\": []}";
	static const char v2[] = "{\"rules\": [{\"name\": \"all\", \"steps\": [{\"channel\": "
				 "\"mail\", \"to\": [\"soc@example.jp\"]}]}]}";
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct err e = ERR_INIT;
	struct seen s = { 0 };
	int64_t version = 0, count = -1;
	bool changed = false;

	if (!m)
		return;
	CHECK_INT(meta_notify_policy_get(m, "alpha", got_policy, &s, &e), -ENOENT);
	CHECK_STR(e.msg, "tenant 'alpha' has no notification policy");
	CHECK_INT(meta_notify_policy_set(m, "alpha", v1, "ana", 1000, &version, &changed, &e), 0);
	CHECK_INT(version, 1);
	CHECK(changed);
	CHECK_INT(meta_notify_policy_set(m, "alpha", v1, "ana", 2000, &version, &changed, &e), 0);
	CHECK_INT(version, 1); /* the same text: no new version */
	CHECK(!changed);
	CHECK_INT(meta_notify_policy_set(m, "alpha", v2, "bob", 3000, &version, &changed, &e), 0);
	CHECK_INT(version, 2);
	/* validation before storing: the path of the mistake, nothing written */
	CHECK_INT(meta_notify_policy_set(m, "alpha", "{\"rules\": [{\"name\": \"x\"}]}", "eve", 4000,
					 &version, &changed, &e), -EINVAL);
	CHECK_STR(e.msg, "notification policy: rules[0]: expected \"steps\"");
	CHECK_INT(meta_notify_policy_get(m, "alpha", got_policy, &s, &e), 0);
	CHECK_INT(s.n, 1);
	CHECK_INT(s.version, 2);
	CHECK_STR(s.body, v2);
	CHECK_STR(s.actor, "bob");
	memset(&s, 0, sizeof(s));
	CHECK_INT(meta_notify_policy_history(m, "alpha", 10, got_change, &s, &e), 0);
	CHECK_INT(s.n, 2);
	CHECK_INT(s.version, 2);
	CHECK_STR(s.actor, "bob");
	CHECK_STR(s.before, v1);
	CHECK_STR(s.body, v2);
	CHECK(s.before_null); /* the oldest change had no policy before it */
	/* tenant isolation: beta sees and changes nothing of alpha's */
	memset(&s, 0, sizeof(s));
	CHECK_INT(meta_notify_policy_get(m, "beta", got_policy, &s, &e), -ENOENT);
	CHECK_INT(meta_notify_policy_history(m, "beta", 10, got_change, &s, &e), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(meta_notify_policy_set(m, "beta", v1, "mallory", 5000, &version, &changed, &e), 0);
	CHECK_INT(version, 1);
	memset(&s, 0, sizeof(s));
	CHECK_INT(meta_notify_policy_get(m, "alpha", got_policy, &s, &e), 0);
	CHECK_INT(s.version, 2);
	CHECK_STR(s.body, v2);
	CHECK_INT(meta_notify_policy_set(m, "gamma", v1, "x", 1, &version, &changed, &e), -ENOENT);
	CHECK_INT(meta_notify_policy_set(m, "../alpha", v1, "x", 1, &version, &changed, &e), -EINVAL);
	CHECK_INT(meta_notify_policy_history(m, "alpha", 0, got_change, &s, &e), -EINVAL);
	/* similar incidents count by tenant, rule and time */
	{
		struct meta_incident inc = {
			.tenant = "alpha", .title = "t", .rule_id = "r1", .group_key = "r1|a", .level = 2,
			.status = "new", .owner = "", .evidence = "[]", .entities = "{}", .terminal = "{}",
			.detected_ns = 100, .updated_ns = 100,
		};

		CHECK_INT(meta_incident_add(m, &inc, NULL, &e), 0);
		inc.detected_ns = 200;
		CHECK_INT(meta_incident_add(m, &inc, NULL, &e), 0);
		inc.rule_id = "r2";
		CHECK_INT(meta_incident_add(m, &inc, NULL, &e), 0);
		inc.tenant = "beta";
		inc.rule_id = "r1";
		CHECK_INT(meta_incident_add(m, &inc, NULL, &e), 0);
		CHECK_INT(meta_notify_similar(m, "alpha", "r1", 0, 1000, &count, &e), 0);
		CHECK_INT(count, 2);
		CHECK_INT(meta_notify_similar(m, "alpha", "r1", 150, 1000, &count, &e), 0);
		CHECK_INT(count, 1);
		CHECK_INT(meta_notify_similar(m, "beta", "r1", 0, 1000, &count, &e), 0);
		CHECK_INT(count, 1);
	}
	/* removing a tenant removes its policy and history; another's stays */
	CHECK_INT(meta_tenant_remove(m, "beta", &e), 0);
	CHECK_INT(meta_tenant_add(m, "beta", &e), 0);
	CHECK_INT(meta_notify_policy_get(m, "beta", NULL, NULL, &e), -ENOENT);
	memset(&s, 0, sizeof(s));
	CHECK_INT(meta_notify_policy_history(m, "beta", 10, got_change, &s, &e), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(meta_notify_policy_get(m, "alpha", NULL, NULL, &e), 0);
	meta_close(m);
}

int main(void)
{
	T_RUN(test_holiday_night);
	T_RUN(test_business_day);
	T_RUN(test_frequency);
	T_RUN(test_midnight);
	T_RUN(test_weekly_window);
	T_RUN(test_errors);
	T_RUN(test_duration);
	T_RUN(test_alloc_failures);
	T_RUN(test_store);
	return t_done();
}
