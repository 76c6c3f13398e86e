/*
 * rulepolicy.c - `koban rule enable|disable|tune|policy|history`: detection rules per
 * tenant, with the history of every change (who, when, why, before and after).
 *
 * The policy is kept in koban.db (store/meta.h, meta_rule_*); a running koban reads it
 * again on reload. The JSON lines of --json are those of GET /api/v1/rules/policy and
 * /history (detect/rulepolicy.h writes both). cli_rule_policy() is called with argv[0]
 * the command's name and argv[1] the verb.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <ctype.h>
#include <pwd.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "detect/rulepolicy.h"
#include "store/meta.h"

#define ENABLE_USAGE "rule enable --tenant T [--reason TEXT] [--by NAME] ID"
#define DISABLE_USAGE "rule disable --tenant T [--reason TEXT] [--by NAME] ID"
#define TUNE_USAGE "rule tune --tenant T (--filter FILE.yml | --clear) --reason TEXT [--by NAME] ID"
#define POLICY_USAGE "rule policy --tenant T [--json]"
#define HISTORY_USAGE "rule history --tenant T [--limit N] [--json] [ID]"
#define WHO_HELP "  --by NAME      who made the change (default: the login name and uid)"
#define HISTORY_DEFAULT_LIMIT 1000
#define LINE_MAX_BYTES (META_RULE_FILTER_MAX * 8 + 65536) /* two escaped filters and more */

enum verb { V_ENABLE, V_DISABLE, V_TUNE, V_POLICY, V_HISTORY };

static const struct cli_verb verbs[] = {
	[V_ENABLE] = { "enable", ENABLE_USAGE,
		       "Enables rule ID (its id, else its name) for tenant T, also when the\n"
		       "configuration's detect.disable turns it off for everyone.\n"
		       "  --reason TEXT  why, kept in the history\n" WHO_HELP },
	[V_DISABLE] = { "disable", DISABLE_USAGE,
			"Disables rule ID for tenant T: its events no longer raise it.\n"
			"  --reason TEXT  why, kept in the history\n" WHO_HELP },
	[V_TUNE] = { "tune", TUNE_USAGE,
		     "Sets the tuning filter of rule ID for tenant T: a Sigma detection (search\n"
		     "identifiers and a condition) in FILE.yml; the tenant's events for which\n"
		     "its condition holds no longer raise the rule. It replaces the previous\n"
		     "filter (the history keeps both); --clear removes it.\n"
		     "  --reason TEXT  why (required), kept in the history\n" WHO_HELP },
	[V_POLICY] = { "policy", POLICY_USAGE,
		       "What is on, off and tuned for tenant T now: the rules it has a setting\n"
		       "for (every other rule follows the configuration).\n"
		       "  --json  one JSON object per line (as GET /api/v1/rules/policy)" },
	[V_HISTORY] = { "history", HISTORY_USAGE,
			"The changes to tenant T's rules (of rule ID only, when given), newest\n"
			"first: when, who, what, why, and the filters before and after.\n"
			"  --limit N  at most N changes (default 1000)\n"
			"  --json     one JSON object per line (as GET /api/v1/rules/history)" },
};

static const struct cli_command rule_command = {
	"rule",
	ENABLE_USAGE "\n       koban " DISABLE_USAGE "\n       koban " TUNE_USAGE
	"\n       koban " POLICY_USAGE "\n       koban " HISTORY_USAGE,
	"Detection rules per tenant, with a history of every change.\n"
	"`koban help rule VERB` describes one sub-command.",
	verbs, ARRAY_SIZE(verbs),
};

struct rp_args {
	enum verb verb;
	const char *tenant, *reason, *by, *filter, *limit, *rule;
	bool clear, json;
	int64_t max_rows;
	char who[META_RULE_WHO_MAX + 1];
};

/* ---- changes ---- */

static void default_who(char *out, size_t size)
{
	const struct passwd *pw = getpwuid(getuid());

	snprintf(out, size, "%s (uid %ld)", pw ? pw->pw_name : "?", (long)getuid());
}

static const char *const done_words[] = {
	[META_RULE_ENABLE] = "enabled", [META_RULE_DISABLE] = "disabled",
	[META_RULE_TUNE] = "tuned", [META_RULE_UNTUNE] = "untuned",
};

static int apply(struct meta *m, const struct rp_args *a, enum meta_rule_action action,
		 const char *filter, struct err *e)
{
	const struct meta_rule_change c = {
		.tenant = a->tenant, .rule = a->rule, .action = action, .filter = filter,
		.who = a->who, .reason = a->reason,
	};
	bool changed;
	int rc = meta_rule_change(m, &c, &changed, e);

	if (rc < 0)
		return rc;
	if (changed)
		printf("rule '%s' %s for tenant '%s'; reload a running koban with SIGHUP to "
		       "apply\n", a->rule, done_words[action], a->tenant);
	else
		printf("rule '%s' was already %s for tenant '%s': nothing changed\n", a->rule,
		       action == META_RULE_TUNE ? "tuned with this filter" : done_words[action],
		       a->tenant);
	return 0;
}

/* Reads and checks the filter file, then sets it. */
static int tune(struct meta *m, const struct rp_args *a, struct err *e)
{
	char *raw = NULL, *text = NULL;
	size_t len = 0;
	int rc;

	if (a->clear)
		return apply(m, a, META_RULE_UNTUNE, NULL, e);
	if ((rc = config_read_file(a->filter, "tuning filter", META_RULE_FILTER_MAX, &raw, &len,
				   e)) < 0)
		return rc;
	if ((rc = rulepolicy_filter_check(a->filter, raw, len, e)) < 0)
		goto fail;
	if (!(text = mem_strndup(raw, len))) {
		rc = err_set(e, -ENOMEM, "%s: out of memory", a->filter);
		goto fail;
	}
	rc = apply(m, a, META_RULE_TUNE, text, e);
fail:
	mem_free(text);
	mem_free(raw);
	return rc;
}

/* ---- what is set now ---- */

#define POLICY_COLUMNS 5

/* What the row callbacks of policy and history print with. */
struct rows_out {
	bool json, print;            /* print: the second pass of a table */
	size_t width[POLICY_COLUMNS];
	struct buf line;
	int rc;                      /* the first error writing a JSON line */
};

static const char *state_word(int enabled)
{
	return enabled == META_RULE_DEFAULT ? "default" : enabled == META_RULE_OFF ? "off" : "on";
}

/* Prints the JSON line just written into o->line (rc: how writing it went). */
static void print_json(struct rows_out *o, int rc)
{
	if (rc < 0) {
		if (!o->rc)
			o->rc = rc;
		return;
	}
	fwrite(o->line.p, 1, o->line.len, stdout);
	putchar('\n');
}

static void policy_row(void *ctx, const struct meta_rule_policy *p)
{
	struct rows_out *o = ctx;
	char changed[TIME_RFC3339_LEN];
	const char *cells[POLICY_COLUMNS];

	if (o->json) {
		buf_reset(&o->line);
		print_json(o, rulepolicy_write_policy(p, &o->line));
		return;
	}
	time_format_rfc3339(p->changed_ns - p->changed_ns % NS_PER_SEC, changed);
	cells[0] = p->rule;
	cells[1] = state_word(p->enabled);
	cells[2] = p->filter ? "yes" : "no";
	cells[3] = changed;
	cells[4] = p->changed_by;
	if (o->print)
		cli_table_row(o->width, cells, POLICY_COLUMNS);
	else
		cli_table_widen(o->width, cells, POLICY_COLUMNS);
}

static int policy(struct meta *m, const struct rp_args *a, struct err *e)
{
	static const char *const header[POLICY_COLUMNS] = {
		"RULE", "ENABLED", "TUNED", "CHANGED", "BY",
	};
	struct rows_out o = { .json = a->json };
	int rc;

	buf_init(&o.line, LINE_MAX_BYTES);
	if (!o.json) {
		cli_table_widen(o.width, header, POLICY_COLUMNS);
		if ((rc = meta_rule_policy_list(m, a->tenant, policy_row, &o, e)) < 0)
			goto out;
		o.print = true;
		cli_table_row(o.width, header, POLICY_COLUMNS);
	}
	if ((rc = meta_rule_policy_list(m, a->tenant, policy_row, &o, e)) == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "cannot write the policy as JSON: %s", strerror(-o.rc));
out:
	buf_release(&o.line);
	return rc;
}

/* ---- history ---- */

/* A filter's text, each line indented under its label. */
static void print_filter(const char *label, const char *filter)
{
	printf("    %s:%s\n", label, filter ? "" : " (none)");
	for (const char *s = filter; s && *s;) {
		size_t n = strcspn(s, "\n");

		printf("        %.*s\n", (int)n, s);
		s += n + (s[n] == '\n');
	}
}

static void history_row(void *ctx, const struct meta_rule_history *h)
{
	struct rows_out *o = ctx;
	char when[TIME_RFC3339_LEN];

	if (o->json) {
		buf_reset(&o->line);
		print_json(o, rulepolicy_write_history(h, &o->line));
		return;
	}
	time_format_rfc3339(h->time_ns - h->time_ns % NS_PER_SEC, when);
	printf("%s  %s  %s  %s\n", when, h->rule, h->action, h->who);
	if (*h->reason)
		printf("    reason: %s\n", h->reason);
	if (h->enabled_before != h->enabled_after)
		printf("    enabled: %s -> %s\n", state_word(h->enabled_before),
		       state_word(h->enabled_after));
	if (!strcmp(h->action, "tune") || !strcmp(h->action, "untune")) {
		print_filter("filter before", h->filter_before);
		print_filter("filter after", h->filter_after);
	}
}

static int history(struct meta *m, const struct rp_args *a, struct err *e)
{
	struct rows_out o = { .json = a->json };
	int rc;

	buf_init(&o.line, LINE_MAX_BYTES);
	rc = meta_rule_history_list(m, a->tenant, a->rule, a->max_rows, history_row, &o, e);
	if (rc == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "cannot write the history as JSON: %s", strerror(-o.rc));
	buf_release(&o.line);
	return rc;
}

/* ---- the command ---- */

/* The options and arguments of the verb into a; -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, const struct cli_verb *verb, struct rp_args *a)
{
	static const char *const names[] = { "ID" };
	const struct cli_option change_opts[] = {
		CLI_VALUE("tenant", &a->tenant), CLI_VALUE("reason", &a->reason),
		CLI_VALUE("by", &a->by), CLI_VALUE("filter", &a->filter),
		CLI_FLAG("clear", &a->clear),
	};
	const struct cli_option list_opts[] = {
		CLI_VALUE("tenant", &a->tenant), CLI_FLAG("json", &a->json),
		CLI_VALUE("limit", &a->limit),
	};
	const char *pos[1];
	char cmd[32];
	bool change = a->verb <= V_TUNE;
	struct cli_args ca = {
		.cmd = cmd, .usage = verb->usage, .about = verb->about,
		.opts = change ? change_opts : list_opts,
		/* tune alone takes --filter and --clear, history alone --limit */
		.n_opts = a->verb == V_TUNE ? 5 : change ? 3 : a->verb == V_HISTORY ? 3 : 2,
		.pos = pos, .pos_names = names,
		.min_pos = change ? 1 : 0, .max_pos = a->verb == V_POLICY ? 0 : 1,
	};
	char *end;
	int rc;

	snprintf(cmd, sizeof(cmd), "rule %s", verb->name);
	if ((rc = cli_getopt(argc, argv, &ca)) >= 0)
		return rc;
	a->rule = pos[0];
	if (!a->tenant)
		return cli_usage_error(cmd, verb->usage, "missing --tenant T");
	if (a->verb == V_TUNE && !a->filter == !a->clear)
		return cli_usage_error(cmd, verb->usage, "expected either --filter FILE.yml or "
				       "--clear");
	if (a->verb == V_TUNE && !a->reason)
		return cli_usage_error(cmd, verb->usage, "missing --reason TEXT: a tuning "
				       "change says why");
	a->max_rows = HISTORY_DEFAULT_LIMIT;
	if (a->limit) {
		errno = 0;
		a->max_rows = strtoll(a->limit, &end, 10);
		if (errno || *end || a->max_rows < 1 || !isdigit((unsigned char)a->limit[0]))
			return cli_usage_error(cmd, verb->usage, "--limit: expected a number of "
					       "changes, 1 or more");
	}
	if (a->by && strlen(a->by) > META_RULE_WHO_MAX)
		return cli_usage_error(cmd, verb->usage, "--by: at most %d bytes",
				       META_RULE_WHO_MAX);
	if (a->by)
		snprintf(a->who, sizeof(a->who), "%s", a->by);
	else
		default_who(a->who, sizeof(a->who));
	return -1;
}

static int run(struct meta *m, const struct rp_args *a, struct err *e)
{
	switch (a->verb) {
	case V_ENABLE:
		return apply(m, a, META_RULE_ENABLE, NULL, e);
	case V_DISABLE:
		return apply(m, a, META_RULE_DISABLE, NULL, e);
	case V_TUNE:
		return tune(m, a, e);
	case V_POLICY:
		return policy(m, a, e);
	default:
		return history(m, a, e);
	}
}

int cli_rule_policy(int argc, char **argv)
{
	const struct cli_verb *verb;
	struct rp_args a = { 0 };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int rc;

	if ((rc = cli_verb(&argc, &argv, &rule_command, &verb)) >= 0)
		return rc;
	a.verb = (enum verb)(verb - verbs);
	if ((rc = parse_args(argc, argv, verb, &a)) >= 0)
		return rc;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) == 0)
		rc = run(m, &a, &e);
	rc = rc < 0 ? cli_fail(&e) : 0;
	meta_close(m);
	config_release(&c);
	return rc;
}
