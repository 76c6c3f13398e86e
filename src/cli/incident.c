/*
 * incident.c - `koban incident list|show|update|comment|suppress|purge`: the tenants'
 * incidents in koban.db (store/meta.h, soc/incident.h). docs/incidents.md.
 *
 * Every verb but list and suppress list names the tenant: an incident or suppression is
 * read, changed or removed only through its own tenant. Changes are recorded on the
 * incident's timeline with who made them (--by, default the login name and uid).
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "soc/incident.h"
#include "soc/level.h"
#include "soc/sla.h"
#include "store/meta.h"

#define LIST_USAGE "incident list [--tenant T] [--status S|open] [--level N] [--since TIME] " \
	"[--limit N] [--json]"
#define SHOW_USAGE "incident show --tenant T [--json] ID"
#define UPDATE_USAGE "incident update --tenant T [--status S] [--owner O] [--level N] " \
	"[--why TEXT] [--by NAME] ID"
#define COMMENT_USAGE "incident comment --tenant T [--by NAME] ID TEXT"
#define SUPPRESS_USAGE "incident suppress list [--tenant T] [--json]\n" \
	"       koban incident suppress add --tenant T --incident ID --why TEXT [--keys F,F] " \
	"[--expires TIME] [--by NAME]\n" \
	"       koban incident suppress remove --tenant T ID"
#define PURGE_USAGE "incident purge --tenant T ID"
#define LINE_MAX_JSON ((size_t)4 << 20)
#define WHO_MAX 128

static const struct cli_verb incident_verbs[] = {
	{ "list", LIST_USAGE,
	  "Lists the incidents of tenant T (of every tenant without --tenant), newest\n"
	  "first: --status one status or open (neither resolved nor false-positive),\n"
	  "--level the lowest level (0-3, a configured name or number), --since TIME\n"
	  "detected at or after (2026-11-30, -7d), --limit N (default 1000).\n"
	  "--json: one JSON object per incident and line (docs/incidents.md)." },
	{ "show", SHOW_USAGE,
	  "Shows one incident with its evidence, alerts and timeline. --json: one object\n"
	  "{\"incident\": ..., \"alerts\": [...], \"timeline\": [...]}." },
	{ "update", UPDATE_USAGE,
	  "Changes the status (new, triaged, investigating, contained, resolved,\n"
	  "false-positive: forward only; reopening a closed incident needs --why), the\n"
	  "owner (\"\" none) or the level (0-3 or a configured name; needs --why). A level\n"
	  "set here sticks: the engine may raise it later, never lower it." },
	{ "comment", COMMENT_USAGE, "Adds a comment to the incident's timeline." },
	{ "suppress", SUPPRESS_USAGE,
	  "list: the suppressions. add: marks incident ID false-positive and suppresses\n"
	  "later alerts of its rule whose key fields (--keys, default all of them) have\n"
	  "the values of its first alert, until --expires TIME (+30d, 2027-01-01; default\n"
	  "never). remove: removes suppression ID." },
	{ "purge", PURGE_USAGE,
	  "Removes the incident with its alert links, timeline and everything kept with\n"
	  "it. The alerts themselves stay until their retention." },
};

static const struct cli_command incident_command = {
	"incident", LIST_USAGE "\n       koban " SHOW_USAGE "\n       koban " UPDATE_USAGE
	"\n       koban " COMMENT_USAGE "\n       koban " SUPPRESS_USAGE "\n       koban "
	PURGE_USAGE "\n       koban incident report show|edit|approve ...",
	"The tenants' incidents (docs/incidents.md) and their first reports (docs/firstreport.md).\n"
	"`koban help incident VERB` describes one sub-command; `koban incident report --help` the\n"
	"first reports.",
	incident_verbs, ARRAY_SIZE(incident_verbs),
};

enum { LIST, SHOW, UPDATE, COMMENT, SUPPRESS, PURGE, N_VERBS };

struct incident_opts {
	const char *tenant, *status, *owner, *level, *why, *by, *since, *limit;
	const char *incident, *keys, *expires;
	bool json;
	const char *pos[2];
	char who[WHO_MAX];
	const struct sla *sla; /* the configured SLA policies (cmd_incident) */
};

static int quote(struct buf *b, const char *s)
{
	return json_add_string(b, s, strlen(s));
}

/* A positive id, or 0. */
static int64_t parse_id(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	return !errno && !*end && end != s && n > 0 && s[0] >= '0' && s[0] <= '9' ? n : 0;
}

static void set_who(struct incident_opts *op)
{
	const struct passwd *pw = getpwuid(getuid());

	if (op->by)
		snprintf(op->who, sizeof(op->who), "%s", op->by);
	else
		snprintf(op->who, sizeof(op->who), "%s (uid %ld)", pw ? pw->pw_name : "?",
			 (long)getuid());
}

/* ---- list ---- */

#define LIST_COLS 8

struct list_out {
	const struct sla *sla;
	bool json, print;
	size_t width[LIST_COLS];
	struct buf line;
	int rc;
};

static void list_row(void *ctx, const struct meta_incident *inc)
{
	struct list_out *o = ctx;
	char id[24], alerts[24], level[48], detected[TIME_RFC3339_LEN];
	const char *cells[LIST_COLS];

	if (o->json) {
		buf_reset(&o->line);
		if ((o->rc = err_first(o->rc, incident_write_json(inc, o->sla, time_now_ns(),
								   &o->line))) == 0)
			printf("%s\n", o->line.p);
		return;
	}
	snprintf(id, sizeof(id), "%lld", (long long)inc->id);
	snprintf(alerts, sizeof(alerts), "%lld", (long long)inc->n_alerts);
	if (inc->level == META_LEVEL_UNDECIDED)
		snprintf(level, sizeof(level), "%s", level_name(inc->level));
	else
		snprintf(level, sizeof(level), "%d %s", level_shown(inc->level),
			 level_name(inc->level));
	time_format_rfc3339(inc->detected_ns - inc->detected_ns % NS_PER_SEC, detected);
	cells[0] = id;
	cells[1] = inc->tenant;
	cells[2] = level;
	cells[3] = inc->status;
	cells[4] = *inc->owner ? inc->owner : NULL;
	cells[5] = alerts;
	cells[6] = detected;
	cells[7] = inc->title;
	if (o->print)
		cli_table_row(o->width, cells, LIST_COLS);
	else
		cli_table_widen(o->width, cells, LIST_COLS);
}

static int parse_filter(const struct incident_opts *op, struct meta_incident_filter *f,
			struct err *e)
{
	*f = (struct meta_incident_filter){ .status = op->status, .min_level = -2 };
	if (op->level && level_parse(op->level, &f->min_level) < 0)
		return err_set(e, -EINVAL, "--level '%s': expected 0 to 3 or a level's name",
			       op->level);
	if (op->since && time_parse(op->since, strlen(op->since), time_now_ns(), &f->since_ns) < 0)
		return err_set(e, -EINVAL, "--since '%s': expected a time (2026-11-30, -7d)",
			       op->since);
	if (op->limit && ((f->limit = parse_id(op->limit)) == 0 ||
			  f->limit > META_INCIDENT_LIST_MAX))
		return err_set(e, -EINVAL, "--limit '%s': expected 1 to %d", op->limit,
			       META_INCIDENT_LIST_MAX);
	return 0;
}

static int incident_list(struct meta *m, const struct incident_opts *op, struct err *e)
{
	static const char *const header[LIST_COLS] = { "ID", "TENANT", "LEVEL", "STATUS",
						       "OWNER", "ALERTS", "DETECTED", "TITLE" };
	struct list_out o = { .sla = op->sla, .json = op->json, .line = BUF_INIT(LINE_MAX_JSON) };
	struct meta_incident_filter f;
	int rc;

	if (parse_filter(op, &f, e) < 0) {
		buf_release(&o.line);
		return cli_usage_error("incident list", LIST_USAGE, "%s", e->msg);
	}
	if (!o.json) {
		cli_table_widen(o.width, header, LIST_COLS);
		if ((rc = meta_incident_list(m, op->tenant, &f, list_row, &o, e)) < 0)
			goto out;
		o.print = true;
		cli_table_row(o.width, header, LIST_COLS);
	}
	if ((rc = meta_incident_list(m, op->tenant, &f, list_row, &o, e)) == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "an incident too large to print");
out:
	buf_release(&o.line);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- show ---- */

static void print_time(const char *label, int64_t ns)
{
	char t[TIME_RFC3339_LEN];

	time_format_rfc3339(ns - ns % NS_PER_SEC, t);
	printf("%-13s %s\n", label, ns ? t : "-");
}

/* One line per SLA clock that applies: its due time and whether it was met or breached. */
static void print_sla(const struct sla *s, const struct meta_incident *inc)
{
	struct sla_state st[SLA_CLOCKS];
	int64_t now = time_now_ns();

	sla_compute(sla_policy(s, inc->tenant), inc, now, st);
	for (size_t k = 0; k < SLA_CLOCKS; k++) {
		char label[32], due[TIME_RFC3339_LEN], met[TIME_RFC3339_LEN];

		if (!st[k].applies)
			continue;
		snprintf(label, sizeof(label), "sla %s", sla_clock_name((enum sla_clock)k));
		time_format_rfc3339(st[k].due_ns - st[k].due_ns % NS_PER_SEC, due);
		time_format_rfc3339(st[k].met_ns - st[k].met_ns % NS_PER_SEC, met);
		printf("%-17s due %s, %s%s%s\n", label, due, st[k].met_ns ? "met " : "running",
		       st[k].met_ns ? met : "", st[k].breached ? " (BREACHED)" : "");
	}
}

static void show_incident(void *ctx, const struct meta_incident *inc)
{
	printf("%-13s %lld\n%-13s %s\n%-13s %s\n", "id", (long long)inc->id, "tenant",
	       inc->tenant, "title", inc->title);
	if (inc->level == META_LEVEL_UNDECIDED)
		printf("%-13s %s\n", "level", level_name(inc->level));
	else
		printf("%-13s %d %s\n", "level", level_shown(inc->level), level_name(inc->level));
	printf("%-13s %s\n%-13s %s\n%-13s %s\n%-13s %lld\n", "status", inc->status, "owner",
	       *inc->owner ? inc->owner : "-", "rule", inc->rule_id, "alerts",
	       (long long)inc->n_alerts);
	printf("%-13s %s\n%-13s %s\n%-13s %s\n", "evidence", inc->evidence, "entities",
	       inc->entities, "terminal", inc->terminal);
	print_time("first", inc->first_ns);
	print_time("last", inc->last_ns);
	print_time("detected", inc->detected_ns);
	print_time("decided", inc->decided_ns);
	print_time("reported", inc->reported_ns);
	print_time("contacted", inc->contacted_ns);
	print_time("acknowledged", inc->acknowledged_ns);
	print_time("contained", inc->contained_ns);
	print_time("closed", inc->closed_ns);
	print_time("updated", inc->updated_ns);
	print_sla(ctx, inc);
}

static void show_alert(void *ctx, const struct meta_alert *a)
{
	char t[TIME_RFC3339_LEN];

	time_format_rfc3339(a->detected_ns - a->detected_ns % NS_PER_SEC, t);
	printf("  alert %lld  %s  %s  %s  %s\n", (long long)a->id, t, a->rule_level,
	       a->rule_title, a->key_fields);
}

static void show_entry(void *ctx, const struct meta_incident_entry *en)
{
	char t[TIME_RFC3339_LEN];

	time_format_rfc3339(en->at_ns - en->at_ns % NS_PER_SEC, t);
	printf("  %s  %s  %s  %s%s%s\n", t, en->actor, en->action, en->detail,
	       *en->why ? "  " : "", en->why);
}

static int show_text(struct meta *m, const char *tenant, int64_t id, const struct sla *s,
		     struct err *e)
{
	int rc;

	if ((rc = meta_incident_get(m, tenant, id, show_incident, (void *)s, e)) < 0)
		return rc;
	printf("alerts (still kept):\n");
	if ((rc = meta_incident_alerts(m, tenant, id, show_alert, NULL, e)) < 0)
		return rc;
	printf("timeline:\n");
	return meta_incident_timeline(m, tenant, id, show_entry, NULL, e);
}

static int incident_show(struct meta *m, const struct incident_opts *op, int64_t id,
			 struct err *e)
{
	struct buf out = BUF_INIT(LINE_MAX_JSON);
	int rc;

	if (!op->json)
		rc = show_text(m, op->tenant, id, op->sla, e);
	else if ((rc = incident_show_json(m, op->tenant, id, op->sla, time_now_ns(), &out,
					  e)) == 0)
		printf("%s\n", out.p);
	buf_release(&out);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- update, comment, purge ---- */

static int incident_update(struct meta *m, const struct incident_opts *op, int64_t id,
			   struct err *e)
{
	struct incident_change c = { .actor = op->who, .why = op->why ? op->why : "",
				     .status = op->status, .owner = op->owner,
				     .level = INCIDENT_LEVEL_KEEP, .now_ns = time_now_ns() };
	bool changed = false;

	if (op->level && level_parse(op->level, &c.level) < 0)
		return cli_usage_error("incident update", UPDATE_USAGE, "--level '%s': expected "
				       "0 to 3 or a level's name", op->level);
	if (!op->status && !op->owner && !op->level)
		return cli_usage_error("incident update", UPDATE_USAGE, "nothing to change: give "
				       "--status, --owner or --level");
	if (incident_change(m, op->tenant, id, &c, &changed, e) < 0)
		return cli_fail(e);
	printf("incident %lld %s (tenant %s)\n", (long long)id, changed ? "updated" : "unchanged",
	       op->tenant);
	return 0;
}

static int incident_purge(struct meta *m, const struct incident_opts *op, int64_t id,
			  struct err *e)
{
	if (meta_incident_purge(m, op->tenant, id, e) < 0)
		return cli_fail(e);
	printf("incident %lld purged (tenant %s)\n", (long long)id, op->tenant);
	return 0;
}

/* ---- suppress ---- */

static void suppression_row(void *ctx, const struct meta_suppression *s)
{
	struct list_out *o = ctx;
	char created[TIME_RFC3339_LEN], expires[TIME_RFC3339_LEN];

	time_format_rfc3339(s->created_ns - s->created_ns % NS_PER_SEC, created);
	time_format_rfc3339(s->expires_ns - s->expires_ns % NS_PER_SEC, expires);
	if (o->json) {
		buf_reset(&o->line);
		o->rc = err_first(o->rc, buf_addf(&o->line, "{\"id\":%lld,\"tenant\":",
						  (long long)s->id));
		o->rc = err_first(o->rc, quote(&o->line, s->tenant));
		o->rc = err_first(o->rc, buf_adds(&o->line, ",\"rule_id\":"));
		o->rc = err_first(o->rc, quote(&o->line, s->rule_id));
		o->rc = err_first(o->rc, buf_adds(&o->line, ",\"keys\":"));
		o->rc = err_first(o->rc, buf_adds(&o->line, s->keys));
		o->rc = err_first(o->rc, buf_adds(&o->line, ",\"reason\":"));
		o->rc = err_first(o->rc, quote(&o->line, s->reason));
		o->rc = err_first(o->rc, buf_adds(&o->line, ",\"created_by\":"));
		o->rc = err_first(o->rc, quote(&o->line, s->created_by));
		o->rc = err_first(o->rc, buf_addf(&o->line, ",\"created\":\"%s\",\"expires\":",
						  created));
		o->rc = err_first(o->rc, s->expires_ns ? buf_addf(&o->line, "\"%s\"", expires)
						       : buf_adds(&o->line, "null"));
		o->rc = err_first(o->rc, buf_addf(&o->line, ",\"hits\":%lld,\"incident\":%lld}",
						  (long long)s->hits, (long long)s->incident));
		if (o->rc == 0)
			printf("%s\n", o->line.p);
		return;
	}
	printf("%lld  %s  %s  %s  hits %lld  expires %s  incident %lld  by %s: %s\n",
	       (long long)s->id, s->tenant, s->rule_id, s->keys, (long long)s->hits,
	       s->expires_ns ? expires : "never", (long long)s->incident, s->created_by,
	       s->reason);
}

/* --keys F,F into at most INCIDENT_FP_KEYS_MAX names (pointing into buf). */
static int split_keys(char *buf, const char **keys, size_t *n)
{
	*n = 0;
	for (char *p = buf, *next; p && *p; p = next) {
		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		if (!*p)
			continue;
		if (*n == INCIDENT_FP_KEYS_MAX)
			return -EINVAL;
		keys[(*n)++] = p;
	}
	return 0;
}

static int suppress_add(struct meta *m, const struct incident_opts *op, struct err *e)
{
	char keybuf[4096];
	const char *keys[INCIDENT_FP_KEYS_MAX];
	struct incident_fp fp = { .actor = op->who, .why = op->why, .keys = keys,
				  .now_ns = time_now_ns() };
	int64_t id = op->incident ? parse_id(op->incident) : 0, sid = 0;

	if (!id)
		return cli_usage_error("incident suppress", SUPPRESS_USAGE, "--incident ID is "
				       "required: the false-positive incident");
	if (!op->why)
		return cli_usage_error("incident suppress", SUPPRESS_USAGE, "--why TEXT is "
				       "required: the reason of the suppression");
	snprintf(keybuf, sizeof(keybuf), "%s", op->keys ? op->keys : "");
	if (split_keys(keybuf, keys, &fp.n_keys) < 0)
		return cli_usage_error("incident suppress", SUPPRESS_USAGE, "--keys: at most %u "
				       "fields", INCIDENT_FP_KEYS_MAX);
	if (op->expires && time_parse(op->expires, strlen(op->expires), fp.now_ns,
				      &fp.expires_ns) < 0)
		return cli_usage_error("incident suppress", SUPPRESS_USAGE, "--expires '%s': "
				       "expected a time (+30d, 2027-01-01)", op->expires);
	if (incident_false_positive(m, op->tenant, id, &fp, &sid, e) < 0)
		return cli_fail(e);
	printf("suppression %lld added; incident %lld is false-positive (tenant %s)\n",
	       (long long)sid, (long long)id, op->tenant);
	return 0;
}

static int incident_suppress(struct meta *m, const struct incident_opts *op, struct err *e)
{
	const char *action = op->pos[0];

	if (!strcmp(action, "list")) {
		struct list_out o = { .json = op->json, .line = BUF_INIT(LINE_MAX_JSON) };
		int rc = meta_suppression_list(m, op->tenant, suppression_row, &o, e);

		if (rc == 0 && o.rc < 0)
			rc = err_set(e, o.rc, "a suppression too large to print");
		buf_release(&o.line);
		return rc < 0 ? cli_fail(e) : 0;
	}
	if (!op->tenant)
		return cli_usage_error("incident suppress", SUPPRESS_USAGE, "--tenant T is "
				       "required");
	if (!strcmp(action, "add"))
		return suppress_add(m, op, e);
	if (!op->pos[1] || !parse_id(op->pos[1]))
		return cli_usage_error("incident suppress", SUPPRESS_USAGE, "remove: expected the "
				       "suppression's ID");
	if (meta_suppression_remove(m, op->tenant, parse_id(op->pos[1]), e) < 0)
		return cli_fail(e);
	printf("suppression %s removed (tenant %s)\n", op->pos[1], op->tenant);
	return 0;
}

/* ---- dispatch ---- */

static int check_args(int which, struct incident_opts *op, const struct cli_args *a,
		      int64_t *id)
{
	if (which == SUPPRESS) {
		const char *v = op->pos[0];

		if (strcmp(v, "list") && strcmp(v, "add") && strcmp(v, "remove"))
			return cli_usage_error(a->cmd, a->usage, "expected list, add or remove, "
					       "not '%s'", v);
		return (!strcmp(v, "remove") || !op->pos[1]) ? -1
			: cli_usage_error(a->cmd, a->usage, "unexpected argument '%s'", op->pos[1]);
	}
	if (which == LIST)
		return -1;
	if (!op->tenant)
		return cli_usage_error(a->cmd, a->usage, "--tenant T is required");
	if (!(*id = parse_id(op->pos[0])))
		return cli_usage_error(a->cmd, a->usage, "'%s': expected an incident id",
				       op->pos[0]);
	if (op->by && strlen(op->by) >= WHO_MAX)
		return cli_usage_error(a->cmd, a->usage, "--by: at most %d bytes", WHO_MAX - 1);
	return -1;
}

static void verb_args(int which, struct cli_args *a)
{
	static const char *const id_name[] = { "ID" }, *const comment_names[] = { "ID", "TEXT" },
			  *const suppress_names[] = { "list|add|remove", "ID" };
	static const char *const cmds[N_VERBS] = { "incident list", "incident show",
						   "incident update", "incident comment",
						   "incident suppress", "incident purge" };
	static const int min_pos[N_VERBS] = { 0, 1, 1, 2, 1, 1 };
	static const int max_pos[N_VERBS] = { 0, 1, 1, 2, 2, 1 };

	a->cmd = cmds[which];
	a->min_pos = min_pos[which];
	a->max_pos = max_pos[which];
	a->pos_names = which == COMMENT ? comment_names : which == SUPPRESS ? suppress_names
									    : id_name;
}

static int run(struct meta *m, int which, struct incident_opts *op, int64_t id, struct err *e)
{
	set_who(op);
	switch (which) {
	case LIST:
		return incident_list(m, op, e);
	case SHOW:
		return incident_show(m, op, id, e);
	case UPDATE:
		return incident_update(m, op, id, e);
	case COMMENT:
		if (incident_comment(m, op->tenant, id, op->who, op->pos[1], time_now_ns(), e) < 0)
			return cli_fail(e);
		printf("comment added to incident %lld (tenant %s)\n", (long long)id, op->tenant);
		return 0;
	case SUPPRESS:
		return incident_suppress(m, op, e);
	default:
		return incident_purge(m, op, id, e);
	}
}

int cmd_incident(int argc, char **argv)
{
	const struct cli_verb *verb;
	struct incident_opts op = { 0 };
	const struct cli_option list_opts[] = {
		CLI_VALUE("tenant", &op.tenant), CLI_VALUE("status", &op.status),
		CLI_VALUE("level", &op.level), CLI_VALUE("since", &op.since),
		CLI_VALUE("limit", &op.limit), CLI_FLAG("json", &op.json),
	};
	const struct cli_option show_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_FLAG("json", &op.json) };
	const struct cli_option update_opts[] = {
		CLI_VALUE("tenant", &op.tenant), CLI_VALUE("status", &op.status),
		CLI_VALUE("owner", &op.owner), CLI_VALUE("level", &op.level),
		CLI_VALUE("why", &op.why), CLI_VALUE("by", &op.by),
	};
	const struct cli_option comment_opts[] = { CLI_VALUE("tenant", &op.tenant),
						   CLI_VALUE("by", &op.by) };
	const struct cli_option suppress_opts[] = {
		CLI_VALUE("tenant", &op.tenant), CLI_VALUE("incident", &op.incident),
		CLI_VALUE("why", &op.why), CLI_VALUE("keys", &op.keys),
		CLI_VALUE("expires", &op.expires), CLI_VALUE("by", &op.by),
		CLI_FLAG("json", &op.json),
	};
	const struct cli_option *opts[N_VERBS] = { list_opts, show_opts, update_opts,
						   comment_opts, suppress_opts, show_opts };
	const size_t n_opts[N_VERBS] = { ARRAY_SIZE(list_opts), ARRAY_SIZE(show_opts),
					 ARRAY_SIZE(update_opts), ARRAY_SIZE(comment_opts),
					 ARRAY_SIZE(suppress_opts), 1 };
	struct cli_args a = { 0 };
	struct meta *m = NULL;
	struct sla *sla = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int64_t id = 0;
	int which, rc;

	if (argc >= 2 && !strcmp(argv[1], "report")) /* the first reports: cli/firstreport.c */
		return cmd_incident_report(argc - 1, argv + 1);
	if ((rc = cli_verb(&argc, &argv, &incident_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - incident_verbs);
	verb_args(which, &a);
	a.opts = opts[which];
	a.n_opts = n_opts[which];
	a.pos = op.pos;
	a.usage = verb->usage;
	a.about = verb->about;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0 || (rc = check_args(which, &op, &a, &id)) >= 0)
		return rc;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if (level_configure(&c, &e) < 0 || sla_new(&sla, &c, false, &e) < 0 ||
	    meta_open(&m, c.data_dir, &e) < 0) {
		rc = cli_fail(&e);
	} else {
		op.sla = sla;
		rc = run(m, which, &op, id, &e);
	}
	meta_close(m);
	sla_free(sla);
	config_release(&c);
	return rc;
}
