/*
 * Unit tests of detection rules per tenant: the store (meta_rule_*: settings, history,
 * tenant isolation, crafted rows), the tuning filter's checks and the JSON lines.
 */
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "detect/rulepolicy.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static int change(struct meta *m, const char *tenant, const char *rule,
		  enum meta_rule_action action, const char *filter, const char *reason,
		  bool *changed, struct err *e)
{
	const struct meta_rule_change c = {
		.tenant = tenant, .rule = rule, .action = action, .filter = filter,
		.who = "alice", .reason = reason,
	};

	return meta_rule_change(m, &c, changed, e);
}

/* Rows as "rule=state/tuned" words. */
struct text {
	char s[4096];
	int n;
};

static void add_word(struct text *t, const char *w)
{
	size_t len = strlen(t->s);

	snprintf(t->s + len, sizeof(t->s) - len, "%s%s", t->n++ ? " " : "", w);
}

static const char *state(int enabled)
{
	return enabled == META_RULE_DEFAULT ? "default" : enabled ? "on" : "off";
}

static void policy_word(void *ctx, const struct meta_rule_policy *p)
{
	char w[512];

	snprintf(w, sizeof(w), "%s=%s/%s", p->rule, state(p->enabled), p->filter ? "tuned" : "-");
	add_word(ctx, w);
}

static void history_word(void *ctx, const struct meta_rule_history *h)
{
	char w[512];

	snprintf(w, sizeof(w), "%s:%s:%s>%s:%s", h->rule, h->action, state(h->enabled_before),
		 state(h->enabled_after), h->reason);
	add_word(ctx, w);
}

static void test_enable_disable(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct text t = { .n = 0 };
	struct err e = ERR_INIT;
	bool changed = false;

	CHECK_INT(change(m, "city-a", "r1", META_RULE_DISABLE, NULL, "noisy", &changed, &e), 0);
	CHECK(changed);
	/* the same again changes nothing and writes no history */
	CHECK_INT(change(m, "city-a", "r1", META_RULE_DISABLE, NULL, "again", &changed, &e), 0);
	CHECK(!changed);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_ENABLE, NULL, NULL, &changed, &e), 0);
	CHECK(changed);
	CHECK_INT(change(m, "city-a", "r2", META_RULE_DISABLE, NULL, "", &changed, &e), 0);
	CHECK_INT(meta_rule_policy_list(m, "city-a", policy_word, &t, &e), 0);
	CHECK_STR(t.s, "r1=on/- r2=off/-");
	memset(&t, 0, sizeof(t));
	CHECK_INT(meta_rule_history_list(m, "city-a", NULL, 100, history_word, &t, &e), 0);
	CHECK_STR(t.s, "r2:disable:default>off: r1:enable:off>on: r1:disable:default>off:noisy");
	/* one rule's history, and a limit (newest first) */
	memset(&t, 0, sizeof(t));
	CHECK_INT(meta_rule_history_list(m, "city-a", "r1", 1, history_word, &t, &e), 0);
	CHECK_STR(t.s, "r1:enable:off>on:");
	meta_close(m);
}

static void test_tenant_isolation(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct text t = { .n = 0 };
	struct err e = ERR_INIT;
	bool changed;

	CHECK_INT(change(m, "city-a", "r1", META_RULE_DISABLE, NULL, "a", &changed, &e), 0);
	CHECK_INT(meta_rule_policy_list(m, "city-b", policy_word, &t, &e), 0);
	CHECK_INT(meta_rule_history_list(m, "city-b", NULL, 100, history_word, &t, &e), 0);
	CHECK_INT(t.n, 0);
	/* tenants that do not exist or are malformed */
	CHECK_INT(change(m, "nosuch", "r1", META_RULE_DISABLE, NULL, "", &changed, &e), -ENOENT);
	CHECK_INT(change(m, "../city-a", "r1", META_RULE_DISABLE, NULL, "", &changed, &e),
		  -EINVAL);
	CHECK_INT(meta_rule_policy_list(m, "nosuch", policy_word, &t, &e), -ENOENT);
	CHECK_INT(meta_rule_history_list(m, "city-a%", NULL, 1, history_word, &t, &e), -EINVAL);
	/* removing the tenant removes its policy and history */
	CHECK_INT(meta_tenant_remove(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	CHECK_INT(meta_rule_policy_list(m, "city-a", policy_word, &t, &e), 0);
	CHECK_INT(meta_rule_history_list(m, "city-a", NULL, 100, history_word, &t, &e), 0);
	CHECK_INT(t.n, 0);
	meta_close(m);
}

static void keep_history(void *ctx, const struct meta_rule_history *h)
{
	char *out = ctx;

	snprintf(out, 512, "%s|%s|%s|%s", h->who, h->action,
		 h->filter_before ? h->filter_before : "(none)",
		 h->filter_after ? h->filter_after : "(none)");
}

static void test_tune(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct text t = { .n = 0 };
	struct err e = ERR_INIT;
	char last[512] = "";
	bool changed;
	const char *f1 = "x:\n  a: 1\ncondition: x\n", *f2 = "y:\n  b: 2\ncondition: y\n";

	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, f1, "scanner", &changed, &e), 0);
	CHECK(changed);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, f1, "scanner", &changed, &e), 0);
	CHECK(!changed);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, f2, "backup", &changed, &e), 0);
	CHECK_INT(meta_rule_history_list(m, "city-a", "r1", 1, keep_history, last, &e), 0);
	CHECK_STR(last, "alice|tune|x:\n  a: 1\ncondition: x\n|y:\n  b: 2\ncondition: y\n");
	CHECK_INT(meta_rule_policy_list(m, "city-a", policy_word, &t, &e), 0);
	CHECK_STR(t.s, "r1=default/tuned");
	/* a reason is required to tune */
	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, f1, NULL, &changed, &e), -EINVAL);
	CHECK(strstr(e.msg, "reason") != NULL);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_UNTUNE, NULL, "", &changed, &e), -EINVAL);
	/* untuned with no other setting: the row goes, the history stays */
	CHECK_INT(change(m, "city-a", "r1", META_RULE_UNTUNE, NULL, "done", &changed, &e), 0);
	CHECK(changed);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_UNTUNE, NULL, "done", &changed, &e), 0);
	CHECK(!changed);
	memset(&t, 0, sizeof(t));
	CHECK_INT(meta_rule_policy_list(m, "city-a", policy_word, &t, &e), 0);
	CHECK_INT(t.n, 0);
	CHECK_INT(meta_rule_history_list(m, "city-a", NULL, 100, history_word, &t, &e), 0);
	CHECK_INT(t.n, 3);
	/* disabled and tuned at once: untuning keeps the setting */
	CHECK_INT(change(m, "city-b", "r9", META_RULE_TUNE, f1, "x", &changed, &e), 0);
	CHECK_INT(change(m, "city-b", "r9", META_RULE_DISABLE, NULL, NULL, &changed, &e), 0);
	CHECK_INT(change(m, "city-b", "r9", META_RULE_UNTUNE, NULL, "x", &changed, &e), 0);
	memset(&t, 0, sizeof(t));
	CHECK_INT(meta_rule_policy_list(m, "city-b", policy_word, &t, &e), 0);
	CHECK_STR(t.s, "r9=off/-");
	meta_close(m);
}

static void test_values_checked(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct err e = ERR_INIT;
	char big[META_RULE_MAX + 2];
	bool changed;
	struct meta_rule_change c = { .tenant = "city-a", .rule = "r1",
				      .action = META_RULE_DISABLE, .who = "" };

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(change(m, "city-a", big, META_RULE_DISABLE, NULL, NULL, &changed, &e), -EINVAL);
	CHECK_INT(change(m, "city-a", "has space", META_RULE_DISABLE, NULL, NULL, &changed, &e),
		  -EINVAL);
	CHECK_INT(change(m, "city-a", "", META_RULE_DISABLE, NULL, NULL, &changed, &e), -EINVAL);
	CHECK_INT(change(m, "city-a", NULL, META_RULE_DISABLE, NULL, NULL, &changed, &e), -EINVAL);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_DISABLE, NULL, "a\x1b[2Jb", &changed, &e),
		  -EINVAL);
	CHECK(strstr(e.msg, "control character 0x1b") != NULL);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, "", "x", &changed, &e), -EINVAL);
	CHECK_INT(change(m, "city-a", "r1", (enum meta_rule_action)9, NULL, "x", &changed, &e),
		  -EINVAL);
	CHECK_INT(meta_rule_change(m, &c, &changed, &e), -EINVAL); /* who is required */
	CHECK(strstr(e.msg, "who") != NULL);
	/* a filter keeps its line ends and tabs */
	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, "a:\n\t- 1\r\ncondition: a", "x",
			 &changed, &e), 0);
	meta_close(m);
}

/* Rows written behind koban's back are skipped, never printed. */
static void test_crafted_rows(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct text t = { .n = 0 };
	struct err e = ERR_INIT;
	bool changed;

	CHECK_INT(change(m, "city-a", "good", META_RULE_DISABLE, NULL, NULL, &changed, &e), 0);
	CHECK_INT(t_meta_exec("INSERT INTO rule_policy SELECT tenant_id, 'bad rule', 0, NULL,"
			      " 1, 'x' FROM rule_policy;"
			      "INSERT INTO rule_policy SELECT tenant_id, 'evil', 0, NULL, 1,"
			      " char(27) || '[2J' FROM rule_policy WHERE rule = 'good';"
			      "INSERT INTO rule_policy_history (tenant_id, rule, time_ns, who,"
			      " action, reason) SELECT tenant_id, 'r', 1, 'x', 'explode', ''"
			      " FROM rule_policy WHERE rule = 'good';"),
		  SQLITE_OK);
	CHECK_INT(meta_rule_policy_list(m, "city-a", policy_word, &t, &e), 0);
	CHECK_STR(t.s, "good=off/-");
	memset(&t, 0, sizeof(t));
	CHECK_INT(meta_rule_history_list(m, "city-a", NULL, 100, history_word, &t, &e), 0);
	CHECK_STR(t.s, "good:disable:default>off:");
	meta_close(m);
}

static void test_out_of_memory(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct text t = { .n = 0 };
	struct err e = ERR_INIT;
	bool changed;
	int rc = -ENOMEM;

	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, "a: [1]\ncondition: a", "x", &changed,
			 &e), 0);
	/* the tenant's filter is copied while the change is made */
	for (long n = 0; n < 50 && rc < 0; n++) {
		mem_fail_after(n);
		rc = change(m, "city-a", "r1", META_RULE_DISABLE, NULL, NULL, &changed, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM || rc == -EIO);
	}
	CHECK_INT(rc, 0);
	CHECK_INT(meta_rule_policy_list(m, "city-a", policy_word, &t, &e), 0);
	CHECK_STR(t.s, "r1=off/tuned");
	meta_close(m);
}

static int check_filter(const char *text, struct err *e)
{
	return rulepolicy_filter_check("f.yml", text, strlen(text), e);
}

static void test_filter_check(void)
{
	struct err e = ERR_INIT;

	CHECK_INT(check_filter("backup:\n  source.ip: 10.1.2.3\ncondition: backup\n", &e), 0);
	CHECK_INT(check_filter("a:\n  - x: 1\n  - y: 2\nb: [k1, k2]\n"
			       "condition:\n  - a\n  - not b\n", &e), 0);
	CHECK_INT(check_filter("", &e), -EINVAL);
	CHECK(strstr(e.msg, "f.yml: ") == e.msg);
	CHECK_INT(check_filter("a: [1\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "f.yml:2: not YAML") != NULL);
	CHECK_INT(check_filter("a:\n  x: 1\na:\n  y: 2\ncondition: a\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "f.yml:3: not YAML") != NULL);
	CHECK_INT(check_filter("- a\n- b\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "expected a mapping") != NULL);
	CHECK_INT(check_filter("a:\n  x: 1\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "no 'condition'") != NULL);
	CHECK_INT(check_filter("condition: a\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "no search identifier") != NULL);
	CHECK_INT(check_filter("a:\n  x: 1\ncondition: ''\n", &e), -EINVAL);
	CHECK_STR(e.msg, "f.yml:3: condition: expected a text such as 'selection' or "
		  "'a and not b', or a list of them");
	CHECK_INT(check_filter("a:\n  x: 1\ncondition: {b: c}\n", &e), -EINVAL);
	CHECK_INT(check_filter("a:\n  x: 1\ncondition: []\n", &e), -EINVAL);
	CHECK_INT(check_filter("a: 1\ncondition: a\n", &e), -EINVAL);
	CHECK_STR(e.msg, "f.yml:1: a: expected a map of fields or a list (a Sigma search "
		  "identifier)");
	CHECK_INT(check_filter("? [k]\n: {x: 1}\ncondition: a\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "as the key") != NULL);
	CHECK_INT(check_filter("a: {x: 1}\ncondition: a\n---\nb: {y: 2}\ncondition: b\n", &e),
		  -EINVAL);
	CHECK(strstr(e.msg, "more than one YAML document") != NULL);
	CHECK_INT(rulepolicy_filter_check("f.yml", "a: {x: 1}\0condition: a", 23, &e), -EINVAL);
	CHECK(strstr(e.msg, "NUL") != NULL);
	/* invalid UTF-8 never reaches libfyaml (0.7.12 hangs on "%\x89") */
	CHECK_INT(check_filter("%\x89", &e), -EINVAL);
	CHECK_STR(e.msg, "f.yml:1: not UTF-8: expected YAML text");
	CHECK_INT(check_filter("a: {x: 1}\ncondition: a\n# caf\xc3\xa9 \xed\xa0\x80\n", &e),
		  -EINVAL);
	CHECK_STR(e.msg, "f.yml:3: not UTF-8: expected YAML text");
	CHECK_INT(check_filter("a: {x: caf\xc3\xa9}\ncondition: a\n", &e), 0);
}

static void test_json(void)
{
	struct buf b = BUF_INIT(1 << 20);
	const struct meta_rule_policy p = {
		.tenant = "city-a", .rule = "r1", .enabled = META_RULE_OFF,
		.filter = "a:\n  x: \"q\"\ncondition: a\n", .changed_ns = 1000000000,
		.changed_by = "alice",
	};
	const struct meta_rule_history h = {
		.id = 7, .tenant = "city-a", .rule = "r1", .time_ns = 0, .who = "bob",
		.action = "enable", .reason = "needed", .enabled_before = META_RULE_DEFAULT,
		.enabled_after = META_RULE_ON,
	};

	CHECK_INT(rulepolicy_write_policy(&p, &b), 0);
	CHECK_STR(b.p, "{\"tenant\": \"city-a\", \"rule\": \"r1\", \"enabled\": false, \"filter\": "
		  "\"a:\\n  x: \\\"q\\\"\\ncondition: a\\n\", \"changed\": "
		  "\"1970-01-01T00:00:01Z\", \"by\": \"alice\"}");
	buf_reset(&b);
	CHECK_INT(rulepolicy_write_history(&h, &b), 0);
	CHECK_STR(b.p, "{\"id\": 7, \"tenant\": \"city-a\", \"rule\": \"r1\", \"time\": "
		  "\"1970-01-01T00:00:00Z\", \"by\": \"bob\", \"action\": \"enable\", "
		  "\"reason\": \"needed\", \"before\": {\"enabled\": null, \"filter\": null}, "
		  "\"after\": {\"enabled\": true, \"filter\": null}}");
	/* a buffer at its maximum: the error, never a cut line */
	buf_release(&b);
	buf_init(&b, 16);
	CHECK(rulepolicy_write_history(&h, &b) < 0);
	buf_release(&b);
}

static int entry_word(void *ctx, const struct rulepolicy_entry *en)
{
	char w[512];

	snprintf(w, sizeof(w), "%s/%s=%s/%s", en->tenant, en->rule, state(en->enabled),
		 en->filter ? en->filter : "-");
	add_word(ctx, w);
	return 0;
}

static int stop_at_second(void *ctx, const struct rulepolicy_entry *en)
{
	return ++*(int *)ctx == 2 ? -ECANCELED : 0;
}

/* Every tenant's policy in memory: lookups, the default, iteration, allocation failures. */
static void test_set(void)
{
	struct meta *m = t_meta_open("city-a", "city-b", NULL);
	struct rulepolicy_set *s = NULL;
	const struct rulepolicy_entry *en;
	struct text t = { .n = 0 };
	struct err e = ERR_INIT;
	bool changed;
	int calls = 0, rc = -ENOMEM;

	CHECK_INT(rulepolicy_set_load(&s, m, &e), 0); /* nothing set yet */
	CHECK_INT(rulepolicy_set_count(s), 0);
	CHECK(rulepolicy_set_get(s, "city-a", "r1") == NULL);
	CHECK(rulepolicy_set_enabled(s, "city-a", "r1", true));
	CHECK(!rulepolicy_set_enabled(s, "city-a", "r1", false));
	rulepolicy_set_free(s);
	CHECK_INT(change(m, "city-b", "r1", META_RULE_ENABLE, NULL, NULL, &changed, &e), 0);
	CHECK_INT(change(m, "city-a", "r2", META_RULE_DISABLE, NULL, NULL, &changed, &e), 0);
	CHECK_INT(change(m, "city-a", "r1", META_RULE_TUNE, "a: [x]\ncondition: a", "fp",
			 &changed, &e), 0);
	CHECK_INT(rulepolicy_set_load(&s, m, &e), 0);
	CHECK_INT(rulepolicy_set_count(s), 3);
	CHECK_INT(rulepolicy_set_each(s, entry_word, &t), 0);
	CHECK_STR(t.s, "city-a/r1=default/a: [x]\ncondition: a city-a/r2=off/- city-b/r1=on/-");
	CHECK_INT(rulepolicy_set_each(s, stop_at_second, &calls), -ECANCELED);
	CHECK_INT(calls, 2);
	/* enabled by the tenant even where the configuration turns it off, and the reverse */
	CHECK(rulepolicy_set_enabled(s, "city-b", "r1", false));
	CHECK(!rulepolicy_set_enabled(s, "city-a", "r2", true));
	CHECK(rulepolicy_set_enabled(s, "city-a", "r1", true)); /* tuned only */
	CHECK(!rulepolicy_set_enabled(s, "city-a", "r1", false));
	CHECK(rulepolicy_set_enabled(s, "city-b", "r2", true)); /* another tenant's setting */
	en = rulepolicy_set_get(s, "city-a", "r1");
	CHECK(en && en->filter && !strcmp(en->filter, "a: [x]\ncondition: a"));
	CHECK(rulepolicy_set_get(s, "city-c", "r1") == NULL);
	rulepolicy_set_free(s);
	/* allocation failures: a clean error, nothing leaked (ASan) */
	for (long n = 0; n < 60 && rc < 0; n++) {
		s = NULL;
		mem_fail_after(n);
		rc = rulepolicy_set_load(&s, m, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		CHECK((rc == 0) == (s != NULL));
		rulepolicy_set_free(s);
	}
	CHECK_INT(rc, 0);
	meta_close(m);
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	T_RUN(test_enable_disable);
	T_RUN(test_tenant_isolation);
	T_RUN(test_tune);
	T_RUN(test_values_checked);
	T_RUN(test_crafted_rows);
	T_RUN(test_out_of_memory);
	T_RUN(test_filter_check);
	T_RUN(test_json);
	T_RUN(test_set);
	return t_done();
}
