/*
 * alert.c - `koban alert list|show|add`: one tenant's alerts in koban.db (soc/alert.h).
 *
 * list and show always name the tenant (store/meta.h: an alert is never read outside its
 * tenant). add imports alerts written as `alert show --json` prints them, one per line
 * (another koban's, or a detector outside koban's), through the same sink serve stores
 * detection's alerts with; the tenant of --tenant replaces any in the file.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "soc/alert.h"
#include "store/meta.h"

#define LIST_USAGE "alert list --tenant NAME [--since TIME] [--limit N] [--json]"
#define SHOW_USAGE "alert show --tenant NAME [--json] ID"
#define ADD_USAGE "alert add --tenant NAME FILE"
#define LIST_DEFAULT 100
#define ADD_FILE_MAX ((size_t)256 << 20)
#define JSON_LINE_MAX ((size_t)1 << 20)
#define ADD_FLUSH_EVERY 64     /* alerts pushed between waits for the writer */

static const struct cli_verb alert_verbs[] = {
	{ "list", LIST_USAGE,
	  "Lists the tenant's alerts, newest first: id, when detected, level, kind, rule id\n"
	  "and title. --since TIME (RFC 3339, a date, or relative: -24h, -7d) keeps those\n"
	  "detected since then; --limit N (1-10000, default 100). --json: one JSON object per\n"
	  "alert and line, without its events (docs/api.md)." },
	{ "show", SHOW_USAGE,
	  "Shows one of the tenant's alerts: the rule (with its author and where it comes\n"
	  "from), the times, group and key fields, and the matched events (ECS JSON).\n"
	  "--json: the alert as one JSON object, events included." },
	{ "add", ADD_USAGE,
	  "Stores alerts read from FILE: one JSON object per line, as `alert show --json`\n"
	  "prints them (id, tenant and detected are given anew), through the sink serve\n"
	  "stores detection's alerts with. Prints the new ids; stops at the first line that\n"
	  "is not an alert (the lines before it are stored)." },
};

static const struct cli_command alert_command = {
	"alert", LIST_USAGE "\n       koban " SHOW_USAGE "\n       koban " ADD_USAGE,
	"The alerts of detection, per tenant (docs/detection.md).\n"
	"`koban help alert VERB` describes one sub-command.",
	alert_verbs, ARRAY_SIZE(alert_verbs),
};

enum { LIST, SHOW, ADD };

struct alert_opts {
	const char *tenant, *since, *limit;
	bool json;
	const char *pos[1];
};

/* ---- list ---- */

#define LIST_COLS 6

struct list_out {
	bool json, print;
	size_t width[LIST_COLS];
	struct buf line;
	int rc;
};

static void list_row(void *ctx, const struct meta_alert *a)
{
	struct list_out *o = ctx;
	char id[24], when[TIME_RFC3339_LEN];
	const char *cells[LIST_COLS];

	if (o->json) {
		buf_reset(&o->line);
		if ((o->rc = err_first(o->rc, alert_write_json(a, &o->line))) == 0)
			printf("%s\n", o->line.p);
		return;
	}
	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	time_format_rfc3339(a->detected_ns - a->detected_ns % NS_PER_SEC, when);
	cells[0] = id;
	cells[1] = when;
	cells[2] = *a->rule_level ? a->rule_level : NULL;
	cells[3] = a->kind;
	cells[4] = a->rule_id;
	cells[5] = a->rule_title;
	if (o->print)
		cli_table_row(o->width, cells, LIST_COLS);
	else
		cli_table_widen(o->width, cells, LIST_COLS);
}

static int alert_list(struct meta *m, const struct alert_opts *op, struct err *e)
{
	static const char *const header[LIST_COLS] = { "ID", "DETECTED", "LEVEL", "KIND", "RULE",
						       "TITLE" };
	struct list_out o = { .json = op->json, .line = BUF_INIT(JSON_LINE_MAX) };
	int64_t since = INT64_MIN, limit = LIST_DEFAULT;
	char *end;
	int rc;

	if (op->since && time_parse(op->since, strlen(op->since), time_now_ns(), &since) < 0)
		return cli_usage_error("alert list", LIST_USAGE, "--since '%s': expected RFC 3339, "
				       "a date or a relative time (-24h)", op->since);
	if (op->limit) {
		errno = 0;
		limit = strtoll(op->limit, &end, 10);
		if (errno || *end || end == op->limit || limit < 1 || limit > META_ALERT_LIST_MAX)
			return cli_usage_error("alert list", LIST_USAGE, "--limit '%s': expected "
					       "1 to %d", op->limit, META_ALERT_LIST_MAX);
	}
	if (!o.json) {
		cli_table_widen(o.width, header, LIST_COLS);
		if ((rc = meta_alert_list(m, op->tenant, since, limit, list_row, &o, e)) < 0)
			goto out;
		o.print = true;
		cli_table_row(o.width, header, LIST_COLS);
	}
	rc = meta_alert_list(m, op->tenant, since, limit, list_row, &o, e);
	if (rc == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "an alert too large to print");
out:
	buf_release(&o.line);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- show ---- */

struct show_out {
	bool json;
	struct buf line;
	int rc;
};

static void print_time(const char *label, int64_t ns)
{
	char t[TIME_RFC3339_LEN];

	time_format_rfc3339(ns, t);
	printf("%-12s %s\n", label, ns ? t : "-");
}

static void show_alert(void *ctx, const struct meta_alert *a)
{
	struct show_out *o = ctx;

	if (o->json) {
		if ((o->rc = alert_write_json(a, &o->line)) == 0)
			printf("%s\n", o->line.p);
		return;
	}
	printf("%-12s %lld\n%-12s %s\n%-12s %s\n", "id", (long long)a->id, "tenant", a->tenant,
	       "kind", a->kind);
	printf("%-12s %s\n%-12s %s\n%-12s %s\n", "rule", a->rule_id, "title", a->rule_title,
	       "level", *a->rule_level ? a->rule_level : "-");
	printf("%-12s %s\n%-12s %s\n%-12s %s\n", "author", *a->rule_author ? a->rule_author : "-",
	       "status", *a->rule_status ? a->rule_status : "-", "link",
	       *a->rule_link ? a->rule_link : "-");
	printf("%-12s %s\n%-12s %s\n", "tags", a->rule_tags, "references", a->rule_references);
	print_time("event time", a->event_ns);
	print_time("detected", a->detected_ns);
	printf("%-12s %s\n%-12s %s\n", "group", a->group_fields, "keys", a->key_fields);
	printf("%-12s %lld kept, %lld more not kept\n", "events", (long long)a->n_events,
	       (long long)a->events_omitted);
	fputs(a->events, stdout);
}

static int alert_show(struct meta *m, const struct alert_opts *op, struct err *e)
{
	struct show_out o = { .json = op->json, .line = BUF_INIT(JSON_LINE_MAX) };
	char *end;
	long long id;
	int rc;

	errno = 0;
	id = strtoll(op->pos[0], &end, 10);
	if (errno || *end || end == op->pos[0] || id < 1)
		return cli_usage_error("alert show", SHOW_USAGE, "ID '%s': expected an alert id "
				       "(a number, as `alert list` prints it)", op->pos[0]);
	rc = meta_alert_get(m, op->tenant, id, show_alert, &o, e);
	if (rc == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "the alert is too large to print");
	buf_release(&o.line);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- add ---- */

static void ignore_tenant(void *ctx, const struct meta_tenant *t)
{
}

struct add_state {
	const char *file;
	unsigned lineno;
	unsigned pushed, stored;
};

static void added(void *ctx, const struct meta_alert *a)
{
	struct add_state *st = ctx;

	st->stored++;
	printf("%lld\n", (long long)a->id);
}

/* Pushes each line of text as an alert of tenant; stops at the first bad one. */
static int add_lines(struct alert_sink *s, const char *tenant, const char *text, size_t len,
		     struct add_state *st, struct err *e)
{
	struct arena ar;
	int rc = 0;

	arena_init(&ar, 1 << 16, 4 * JSON_LINE_MAX + (1u << 20));
	for (size_t at = 0; at < len && rc == 0;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
		struct alert a;
		struct err why = ERR_INIT;

		st->lineno++;
		arena_clear(&ar);
		if (n && (rc = alert_read_json(text + at, n, &ar, &a, &why)) == 0) {
			a.tenant = tenant;
			a.detected_ns = 0;
			if ((rc = alert_sink_push(s, &a, &why)) == 0 &&
			    ++st->pushed % ADD_FLUSH_EVERY == 0)
				alert_sink_flush(s); /* the queue's byte limit is never reached */
		}
		if (rc < 0)
			err_set(e, rc, "%s:%u: %s", st->file, st->lineno, why.msg);
		at += n + 1;
	}
	arena_release(&ar);
	return rc;
}

/* The tenant exists (cmd_alert checked): the sink would only count its alerts as dropped. */
static int alert_add(const struct config *c, const struct alert_opts *op, struct err *e)
{
	struct add_state st = { .file = op->pos[0] };
	struct alert_sink_config sc = { .data_dir = c->data_dir, .capacity = 1u << 20,
					.on_stored = added, .ctx = &st };
	struct alert_sink *s = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = config_read_file(op->pos[0], "alerts", ADD_FILE_MAX, &text, &len, e)) < 0 ||
	    (rc = alert_sink_new(&s, &sc, e)) < 0)
		goto fail;
	rc = add_lines(s, op->tenant, text, len, &st, e);
	alert_sink_free(s); /* stores what was pushed before any bad line */
	fprintf(stderr, "%u alert%s stored for tenant %s\n", st.stored, st.stored == 1 ? "" : "s",
		op->tenant);
	if (rc == 0 && st.stored < st.pushed)
		rc = err_set(e, -EIO, "%u alerts were not stored (see the log above)",
			     st.pushed - st.stored);
fail:
	mem_free(text);
	return rc < 0 ? cli_fail(e) : 0;
}

int cmd_alert(int argc, char **argv)
{
	static const char *const id_name[] = { "ID" }, *const file_name[] = { "FILE" };
	const struct cli_verb *verb;
	struct alert_opts op = { 0 };
	const struct cli_option list_opts[] = {
		CLI_VALUE("tenant", &op.tenant), CLI_VALUE("since", &op.since),
		CLI_VALUE("limit", &op.limit), CLI_FLAG("json", &op.json),
	};
	const struct cli_option show_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_FLAG("json", &op.json) };
	const struct cli_option add_opts[] = { CLI_VALUE("tenant", &op.tenant) };
	struct cli_args a = { .pos = op.pos };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int which, rc;

	if ((rc = cli_verb(&argc, &argv, &alert_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - alert_verbs);
	a.cmd = which == LIST ? "alert list" : which == SHOW ? "alert show" : "alert add";
	a.usage = verb->usage;
	a.about = verb->about;
	a.min_pos = a.max_pos = which == LIST ? 0 : 1;
	a.pos_names = which == SHOW ? id_name : file_name;
	a.opts = which == LIST ? list_opts : which == SHOW ? show_opts : add_opts;
	a.n_opts = which == LIST ? ARRAY_SIZE(list_opts) : which == SHOW ? ARRAY_SIZE(show_opts)
									 : ARRAY_SIZE(add_opts);
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (!op.tenant)
		return cli_usage_error(a.cmd, a.usage, "--tenant NAME is required: alerts are "
				       "read and written per tenant");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	/* every verb names an existing tenant */
	if ((rc = meta_open(&m, c.data_dir, &e)) < 0 ||
	    (rc = meta_tenant_get(m, op.tenant, ignore_tenant, NULL, &e)) < 0)
		rc = cli_fail(&e);
	else
		rc = which == LIST ? alert_list(m, &op, &e)
		     : which == SHOW ? alert_show(m, &op, &e) : alert_add(&c, &op, &e);
	meta_close(m);
	config_release(&c);
	return rc;
}
