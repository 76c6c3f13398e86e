/*
 * triage.c - `koban triage test|attackers`: the triage rules (soc/triage.h, docs/triage.md)
 * tried on one stored alert against the tenant's store, and the SOC-wide view of the
 * attackers seen in alerts of several tenants (store/meta.h, "Triage").
 *
 * `test` names the tenant and reads only its alert, its store and its assets; `attackers`
 * is SOC-wide on purpose (it is a command of the SOC's own shell, not of a tenant's API).
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/timeutil.h"
#include "soc/triage.h"
#include "store/meta.h"
#include "store/store.h"

#define TEST_USAGE "triage test --tenant T --alert ID [--rules DIR] [--now TIME] [--json]"
#define ATTACKERS_USAGE "triage attackers [--since TIME] [--min N] [--json]"
#define ATTACKERS_COLS 6
#define VERDICT_MAX ((size_t)64 << 20)

static const struct cli_verb triage_verbs[] = {
	{ "test", TEST_USAGE,
	  "Evaluates the triage rules (the bundled rules/triage, soc.triage.rules, or the YAML\n"
	  "files of DIR) on tenant T's alert ID, its events, T's stored events and assets,\n"
	  "and prints the level, why, and each evidence's sentence. --now TIME: the clock\n"
	  "(default now; evidence after it is not seen, as when the alert was new). --json:\n"
	  "one object"
	  " {\"level\", \"why\", \"complete\", \"recheck\", \"evidence\"}." },
	{ "attackers", ATTACKERS_USAGE,
	  "SOC-wide: the source addresses (the alerts' key field source.ip) in alerts of\n"
	  "at least N tenants (default 2) since TIME (default -7d), the most tenants first.\n"
	  "--json: one object per line {\"ip\", \"tenants\", \"alerts\", \"first\", \"last\",\n"
	  "\"tenant_names\"}." },
};

static const struct cli_command triage_command = {
	"triage", TEST_USAGE "\n       koban " ATTACKERS_USAGE,
	"Evidence-based incident levels (docs/triage.md).\n"
	"`koban help triage VERB` describes one sub-command.",
	triage_verbs, ARRAY_SIZE(triage_verbs),
};

enum { TEST, ATTACKERS, N_VERBS };

struct triage_opts {
	const char *tenant, *alert, *rules, *now, *since, *min;
	bool json;
};

/* ---- test ---- */

/* The alert, copied out of the row (its strings live only during the callback). */
struct alert_copy {
	struct arena *a;
	struct meta_alert al;
	bool found, nomem;
};

static const char *copy_text(struct alert_copy *c, const char *s)
{
	char *d = s ? arena_strndup(c->a, s, strlen(s)) : NULL;

	c->nomem |= s && !d;
	return d;
}

static void got_alert(void *ctx, const struct meta_alert *a)
{
	struct alert_copy *c = ctx;

	c->found = true;
	c->al = *a;
	c->al.tenant = copy_text(c, a->tenant);
	c->al.kind = copy_text(c, a->kind);
	c->al.rule_id = copy_text(c, a->rule_id);
	c->al.rule_title = copy_text(c, a->rule_title);
	c->al.rule_level = copy_text(c, a->rule_level);
	c->al.rule_author = copy_text(c, a->rule_author);
	c->al.rule_status = copy_text(c, a->rule_status);
	c->al.rule_link = copy_text(c, a->rule_link);
	c->al.rule_tags = copy_text(c, a->rule_tags);
	c->al.rule_references = copy_text(c, a->rule_references);
	c->al.group_fields = copy_text(c, a->group_fields);
	c->al.key_fields = copy_text(c, a->key_fields);
	c->al.events = copy_text(c, a->events);
}

static int print_verdict(const struct triage_verdict *v, bool json)
{
	char recheck[TIME_RFC3339_LEN];
	struct buf b = BUF_INIT(VERDICT_MAX);
	int rc = 0;

	if (v->recheck_ns)
		time_format_rfc3339(v->recheck_ns, recheck);
	if (json) {
		rc = buf_addf(&b, "{\"level\": %d, \"why\": ", v->level);
		rc = err_first(rc, json_add_string(&b, v->why, strlen(v->why)));
		rc = err_first(rc, buf_addf(&b, ", \"complete\": %s, \"recheck\": ",
					    v->complete ? "true" : "false"));
		rc = err_first(rc, v->recheck_ns ? json_add_string(&b, recheck, strlen(recheck))
					      : buf_adds(&b, "null"));
		rc = err_first(rc, buf_adds(&b, ", \"evidence\": "));
		rc = err_first(rc, buf_adds(&b, v->evidence));
		rc = err_first(rc, buf_addch(&b, '}'));
		if (rc == 0)
			printf("%s\n", b.p);
	} else {
		printf("%-9s %d\n%-9s %s\n%-9s %s\n", "level", v->level, "why", v->why, "complete",
		       v->complete ? "yes" : "no (an evidence window is still open)");
		if (v->recheck_ns)
			printf("%-9s %s\n", "recheck", recheck);
		printf("%-9s %s\n", "evidence", v->evidence);
	}
	buf_release(&b);
	return rc;
}

static int triage_test(const struct config *c, struct meta *m, const struct triage_opts *op,
		       struct err *e)
{
	struct arena a;
	struct alert_copy copy = { .a = &a };
	struct triage_config tc = {
		.rules_dir = op->rules ? op->rules : c->soc_triage_rules, .data_dir = c->data_dir,
		.window_ns = (int64_t)c->soc_triage_window * NS_PER_SEC,
	};
	struct triage_input in = { .alerts = &copy.al, .n_alerts = 1 };
	struct triage_verdict v;
	struct triage *t = NULL;
	struct store *st = NULL;
	int64_t id, tenant_id = 0;
	int rc;

	if (jsonin_int(op->alert, strlen(op->alert), &id) < 0 || id < 1)
		return cli_usage_error("triage test", TEST_USAGE, "--alert '%s': expected an alert id",
				       op->alert);
	in.now_ns = time_now_ns();
	if (op->now && time_parse(op->now, strlen(op->now), in.now_ns, &in.now_ns) < 0)
		return cli_usage_error("triage test", TEST_USAGE, "--now '%s': expected RFC 3339, a "
				       "date or a relative time (-24h)", op->now);
	arena_init(&a, 64 << 10, VERDICT_MAX);
	if ((rc = meta_alert_get(m, op->tenant, id, got_alert, &copy, e)) < 0)
		goto out;
	if (copy.nomem) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_tenant_id(c, op->tenant, &tenant_id, e)) < 0 ||
	    (rc = cli_store_open(&st, c, false, e)) < 0)
		goto out;
	in.tenant_id = (uint64_t)tenant_id;
	tc.store = st;
	if ((rc = triage_new(&t, &tc, e)) < 0 || (rc = triage_evaluate(t, &in, &a, &v, e)) < 0)
		goto out;
	if ((rc = print_verdict(&v, op->json)) < 0)
		rc = err_set(e, rc, "the verdict is too long to print");
out:
	triage_free(t);
	if (st)
		store_close(st);
	arena_release(&a);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- attackers ---- */

struct attackers_out {
	bool json, print;
	size_t width[ATTACKERS_COLS];
	struct buf line;
	int rc;
};

static void attacker_row(void *ctx, const struct meta_triage_attacker *at)
{
	struct attackers_out *o = ctx;
	char tenants[24], alerts[24], first[TIME_RFC3339_LEN], last[TIME_RFC3339_LEN];
	const char *cells[ATTACKERS_COLS] = { at->ip, tenants, alerts, first, last,
					      at->tenant_names };
	int rc;

	snprintf(tenants, sizeof(tenants), "%lld", (long long)at->tenants);
	snprintf(alerts, sizeof(alerts), "%lld", (long long)at->alerts);
	time_format_rfc3339(at->first_ns - at->first_ns % NS_PER_SEC, first);
	time_format_rfc3339(at->last_ns - at->last_ns % NS_PER_SEC, last);
	if (!o->json) {
		if (o->print)
			cli_table_row(o->width, cells, ATTACKERS_COLS);
		else
			cli_table_widen(o->width, cells, ATTACKERS_COLS);
		return;
	}
	buf_reset(&o->line);
	rc = buf_adds(&o->line, "{\"ip\": ");
	rc = err_first(rc, json_add_string(&o->line, at->ip, strlen(at->ip)));
	rc = err_first(rc, buf_addf(&o->line, ", \"tenants\": %lld, \"alerts\": %lld, \"first\": "
				    "\"%s\", \"last\": \"%s\", \"tenant_names\": %s}",
				    (long long)at->tenants, (long long)at->alerts, first, last,
				    at->tenant_names));
	if ((o->rc = err_first(o->rc, rc)) == 0)
		printf("%s\n", o->line.p);
}

static int triage_attackers(struct meta *m, const struct triage_opts *op, struct err *e)
{
	static const char *const header[ATTACKERS_COLS] = { "ADDRESS", "TENANTS", "ALERTS",
							    "FIRST", "LAST", "TENANT NAMES" };
	struct attackers_out o = { .json = op->json, .line = BUF_INIT(1u << 20) };
	const char *since_text = op->since ? op->since : "-7d";
	int64_t since = 0, min = 2, now = time_now_ns();
	int rc;

	if (time_parse(since_text, strlen(since_text), now, &since) < 0)
		return cli_usage_error("triage attackers", ATTACKERS_USAGE, "--since '%s': expected "
				       "RFC 3339, a date or a relative time (-24h)", since_text);
	if (op->min && (jsonin_int(op->min, strlen(op->min), &min) < 0 || min < 1 || min > 100000))
		return cli_usage_error("triage attackers", ATTACKERS_USAGE, "--min '%s': expected "
				       "a number of tenants from 1 to 100000", op->min);
	if (!o.json) {
		cli_table_widen(o.width, header, ATTACKERS_COLS);
		if ((rc = meta_triage_attackers(m, NULL, since, INT64_MAX, min,
						META_TRIAGE_ATTACKERS_MAX, attacker_row, &o, e)) < 0)
			goto out;
		o.print = true;
		cli_table_row(o.width, header, ATTACKERS_COLS);
	}
	rc = meta_triage_attackers(m, NULL, since, INT64_MAX, min, META_TRIAGE_ATTACKERS_MAX,
				   attacker_row, &o, e);
	if (rc == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "an address too long to print");
out:
	buf_release(&o.line);
	return rc < 0 ? cli_fail(e) : 0;
}

int cmd_triage(int argc, char **argv)
{
	static const char *const cmds[N_VERBS] = { "triage test", "triage attackers" };
	const struct cli_verb *verb;
	struct triage_opts op = { 0 };
	const struct cli_option test_opts[] = {
		CLI_VALUE("tenant", &op.tenant), CLI_VALUE("alert", &op.alert),
		CLI_VALUE("rules", &op.rules), CLI_VALUE("now", &op.now), CLI_FLAG("json", &op.json),
	};
	const struct cli_option attackers_opts[] = {
		CLI_VALUE("since", &op.since), CLI_VALUE("min", &op.min), CLI_FLAG("json", &op.json),
	};
	struct cli_args a = { 0 };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int which, rc;

	if ((rc = cli_verb(&argc, &argv, &triage_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - triage_verbs);
	a.cmd = cmds[which];
	a.opts = which == TEST ? test_opts : attackers_opts;
	a.n_opts = which == TEST ? ARRAY_SIZE(test_opts) : ARRAY_SIZE(attackers_opts);
	a.usage = verb->usage;
	a.about = verb->about;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (which == TEST && (!op.tenant || !op.alert))
		return cli_usage_error(a.cmd, a.usage, "--tenant T and --alert ID are required");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) < 0)
		rc = cli_fail(&e);
	else if (which == TEST)
		rc = triage_test(&c, m, &op, &e);
	else
		rc = triage_attackers(m, &op, &e);
	meta_close(m);
	config_release(&c);
	return rc;
}
