/*
 * search.c - `koban search`: a query (docs/query.md) over one tenant's stored events.
 *
 * Without --json: events as "TIME  TEXT" lines (the raw line, else the message), newest first,
 * or as a table of the fields a `fields` pipe keeps; rows as an aligned table under their
 * column names; at most --limit (default 100) of either, and a line on stderr when more
 * matched.
 * Text from events prints escaped (cli_add_text): a control character in a value can neither
 * fake another line nor send the terminal an escape sequence, and a NUL shows in a cell.
 * With --json: one ECS event, or one JSON object per result row, per line, and every match
 * unless --limit says otherwise; --limit 0 prints nothing and reads nothing. A search that
 * reads is written to DATA_DIR/audit.log.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <pwd.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/event.h"
#include "core/field.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "portal/control.h"
#include "store/meta.h"
#include "store/query.h"
#include "store/store.h"

#define USAGE                                                                              \
	"search [-c FILE] --tenant NAME [--from TIME] [--to TIME] [--limit N] [--json]\n"       \
	"                    QUERY..."
#define TABLE_LIMIT 100
#define MAX_QUERY_WORDS 256
#define TABLE_CELL_MAX 4096

struct search_out {
	FILE *out;          /* stdout, or the control socket's client */
	int reader;         /* the descriptor whose reader may leave: stdout, the connection */
	bool json;
	uint64_t limit, shown;
	const char *cut;    /* "events" or "rows" when a table or lines left some out, or NULL */
	struct buf line;
	/* a table of rows is printed at the end, once its widths are known */
	size_t n_cols;
	char **cells;       /* n_rows * n_cols, mem_alloc'ed */
	size_t n_rows, cap_rows;
	char *names[64];     /* copies: a row's names live only during the callback */
	int fields[64];      /* events as a table: the ids of a `fields` pipe's names, -1 unknown yet */
	bool event_table;    /* events print as a table of fields[0..n_cols) under names */
	int error;
};

/* o->line and a newline; a write error (the client went away) stops the search. */
static int write_line(struct search_out *o)
{
	if (buf_addch(&o->line, '\n') < 0 ||
	    fwrite(o->line.p, 1, o->line.len, o->out) != o->line.len)
		return (o->error = -EPIPE);
	return 0;
}

static int keep_event_cells(struct search_out *o, const struct event *ev);

/*
 * A result past the limit: the search stops. Without --json the reader is told that some
 * were left out (the default limit of 100 would otherwise cut a table without a word); JSON
 * readers asked for their --limit and get a clean stream.
 */
static int limit_reached(struct search_out *o, const char *what)
{
	if (!o->json)
		o->cut = what;
	return -ECANCELED;
}

static int print_event(void *ctx, const struct event *ev)
{
	struct search_out *o = ctx;
	char when[TIME_RFC3339_LEN] = "-";
	const struct event_value *t = event_get(ev, FIELD_TIMESTAMP);
	const char *text = "";
	size_t len = 0;

	if (o->shown == o->limit)
		return limit_reached(o, "events");
	o->shown++;
	buf_reset(&o->line);
	if (o->json) {
		if ((o->error = event_write_json(ev, &o->line)) < 0)
			return o->error;
		return write_line(o);
	}
	if (o->event_table)
		return (o->error = keep_event_cells(o, ev));
	if (t)
		time_format_rfc3339(t->v.i, when);
	if (!event_get_str(ev, FIELD_EVENT_ORIGINAL, &text, &len))
		(void)event_get_str(ev, FIELD_MESSAGE, &text, &len); /* none: an empty text */
	if ((o->error = buf_addf(&o->line, "%s  ", when)) < 0 ||
	    (o->error = cli_add_text(&o->line, text, len)) < 0)
		return o->error;
	return write_line(o);
}

/* Room for one more row of cells. */
static int table_grow(struct search_out *o)
{
	if (o->n_rows == o->cap_rows) {
		size_t cap = o->cap_rows ? 2 * o->cap_rows : 64;
		char **c = mem_realloc(o->cells, cap * o->n_cols * sizeof(*c));

		if (!c)
			return -ENOMEM;
		o->cells = c;
		o->cap_rows = cap;
	}
	return 0;
}

static int keep_row_cells(struct search_out *o, const struct agg_row *row)
{
	int rc = table_grow(o);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < o->n_cols; i++) {
		const struct agg_value *v = &row->values[i];

		buf_reset(&o->line); /* text from events escaped: a cell is a C string */
		rc = v->kind == AGG_TEXT ? cli_add_text(&o->line, v->v.text.s, v->v.text.len)
					 : agg_value_write_text(v, &o->line);
		if (rc < 0)
			return rc;
		if (!(o->cells[o->n_rows * o->n_cols + i] = mem_strdup(o->line.p)))
			return -ENOMEM;
	}
	o->n_rows++;
	return 0;
}

/*
 * A cell of every value of field in ev, joined by ", " (at most TABLE_CELL_MAX bytes before
 * the escaping of control characters, which may make it up to six times longer).
 */
static int event_cell(struct search_out *o, const struct event *ev, int field, char **cell)
{
	int rc = 0;

	buf_reset(&o->line);
	for (uint32_t i = 0; field >= 0 && i < ev->n && !rc; i++) {
		char tmp[EVENT_VALUE_TEXT_MAX];
		const char *text;
		size_t len;

		if (ev->vals[i].field != (unsigned)field)
			continue;
		if (o->line.len && o->line.len + 2 >= TABLE_CELL_MAX)
			break; /* no room for another value */
		text = event_value_text(&ev->vals[i], tmp, &len);
		if (o->line.len)
			rc = buf_add(&o->line, ", ", 2);
		if (!rc)
			rc = cli_add_text(&o->line, text,
					  json_utf8_cut(text, len, TABLE_CELL_MAX - o->line.len));
	}
	if (!rc && !o->line.len)
		rc = buf_add(&o->line, "-", 1);
	if (rc < 0)
		return rc;
	return (*cell = mem_strndup(o->line.p, o->line.len)) ? 0 : -ENOMEM;
}

/* An event of a query ending in `fields a, b`: one table row of those fields' values. */
static int keep_event_cells(struct search_out *o, const struct event *ev)
{
	char **row;
	size_t i;
	int rc = table_grow(o);

	if (rc < 0)
		return rc;
	row = o->cells + o->n_rows * o->n_cols;
	for (i = 0; i < o->n_cols && !rc; i++) {
		if (o->fields[i] < 0) /* a name the search registered from the segments */
			o->fields[i] = field_lookup(o->names[i], strlen(o->names[i]));
		rc = event_cell(o, ev, o->fields[i], &row[i]);
	}
	if (rc < 0) { /* the row's cells so far: out_release frees whole rows only */
		while (--i > 0)
			mem_free(row[i - 1]);
		return rc;
	}
	o->n_rows++;
	return 0;
}

/*
 * Without --json, the events of a query whose pipes keep fields (`| fields a, b`) and give
 * no rows print as a table of those fields, as a reader of the query expects, instead of
 * their raw lines. A query that does not parse is left to the search to refuse.
 */
static int plan_event_table(struct search_out *o, const struct store_search *s)
{
	const struct query_pipe *keep = NULL;
	struct err e = ERR_INIT;
	struct arena a;
	struct query q;
	int rc = 0;

	if (o->json)
		return 0;
	arena_init(&a, 1 << 16, (size_t)4 << 20);
	if (query_parse(&q, s->query, s->query_len, &a, &e) < 0)
		goto out;
	for (size_t i = 0; i < q.n_pipes; i++)
		if (q.pipes[i].kind == QUERY_STATS || q.pipes[i].kind == QUERY_TIMECHART)
			goto out; /* rows: printed as a table already */
		else if (q.pipes[i].kind == QUERY_FIELDS)
			keep = &q.pipes[i];
	if (!keep)
		goto out;
	o->n_cols = MIN(keep->n_names, ARRAY_SIZE(o->names));
	for (size_t i = 0; i < o->n_cols && !rc; i++) {
		o->fields[i] = -1;
		if (!(o->names[i] = mem_strdup(keep->names[i])))
			rc = -ENOMEM;
	}
	o->event_table = true;
out:
	arena_release(&a);
	return rc;
}

static int print_row(void *ctx, const struct agg_row *row)
{
	struct search_out *o = ctx;

	if (o->shown == o->limit)
		return limit_reached(o, "rows");
	o->shown++;
	if (o->json) {
		buf_reset(&o->line);
		if ((o->error = agg_row_write_json(row, &o->line)) < 0)
			return o->error;
		return write_line(o);
	}
	if (!o->n_cols) {
		o->n_cols = MIN(row->n, ARRAY_SIZE(o->names));
		for (size_t i = 0; i < o->n_cols; i++)
			if (!(o->names[i] = mem_strdup(row->names[i])))
				return (o->error = -ENOMEM);
	}
	return (o->error = keep_row_cells(o, row));
}

static void print_table(const struct search_out *o)
{
	size_t width[ARRAY_SIZE(o->names)] = { 0 };

	if (!o->n_cols)
		return;
	cli_table_widen(width, (const char *const *)o->names, o->n_cols);
	for (size_t r = 0; r < o->n_rows; r++)
		cli_table_widen(width, (const char *const *)o->cells + r * o->n_cols, o->n_cols);
	cli_table_row_to(o->out, width, (const char *const *)o->names, o->n_cols);
	for (size_t r = 0; r < o->n_rows; r++)
		cli_table_row_to(o->out, width, (const char *const *)o->cells + r * o->n_cols,
				 o->n_cols);
}

static void out_release(struct search_out *o)
{
	for (size_t i = 0; i < o->n_rows * o->n_cols; i++)
		mem_free(o->cells[i]);
	for (size_t i = 0; i < o->n_cols; i++)
		mem_free(o->names[i]);
	mem_free(o->cells);
	buf_release(&o->line);
}

/* "alice (uid 1000)" for the audit log. */
static void who_am_i(char *out, size_t size)
{
	const struct passwd *pw = getpwuid(getuid());

	snprintf(out, size, "%s (uid %ld)", pw ? pw->pw_name : "?", (long)getuid());
}

struct search_args {
	const char *tenant, *from, *to, *limit;
	bool json;
	const char *words[MAX_QUERY_WORDS];
};

static int search_args(int argc, char **argv, struct search_args *a)
{
	static const char *const names[] = { "QUERY" };
	const struct cli_option opts[] = {
		CLI_VALUE("tenant", &a->tenant), CLI_VALUE("from", &a->from),
		CLI_VALUE("to", &a->to),         CLI_VALUE("limit", &a->limit),
		CLI_FLAG("json", &a->json),
	};
	const struct cli_args ca = {
		"search", USAGE,
		"Runs QUERY (docs/query.md; several words are joined by spaces, \"*\" or \"\" is\n"
		"every event) over the tenant's stored events, newest first. TIME is RFC 3339,\n"
		"a date, or relative (-24h, -7d, now), both bounds inclusive (a date as --to\n"
		"is its whole day, UTC); without --from/--to all time is searched.\n"
		"Without --json, events print as \"TIME  TEXT\" (with `| fields a, b`: a table\n"
		"of those fields) and rows as a table, at most --limit (default 100; stderr\n"
		"says when more matched), control characters escaped (\\n, \\xHH); with --json,\n"
		"one ECS event or one result row per line, all of them unless --limit is given.\n"
		"--limit 0 prints nothing and reads nothing (the tenant and the query checked).\n"
		"Every search that reads is written to DATA_DIR/audit.log.",
		opts, ARRAY_SIZE(opts), a->words, 0, MAX_QUERY_WORDS, names,
	};
	int rc = cli_getopt(argc, argv, &ca);

	if (rc >= 0)
		return rc;
	if (!a->tenant)
		return cli_usage_error("search", USAGE, "missing --tenant NAME");
	return -1;
}

/* The query words joined by spaces into q. */
static int join_words(const struct search_args *a, struct buf *q)
{
	int rc = 0;

	for (size_t i = 0; i < MAX_QUERY_WORDS && a->words[i] && !rc; i++)
		rc = buf_addf(q, "%s%s", i ? " " : "", a->words[i]);
	return rc;
}

/* --from, --to, --limit into s and o; 0, or a usage error status. */
static int search_limits(const struct search_args *a, struct store_search *s,
			 struct search_out *o)
{
	char *end;

	if (a->from && time_parse(a->from, strlen(a->from), s->now, &s->from) < 0)
		return cli_usage_error("search", USAGE, "--from '%s': expected RFC 3339, a date or "
				       "a relative time (-24h)", a->from);
	if (a->to && time_parse_end(a->to, strlen(a->to), s->now, &s->to) < 0)
		return cli_usage_error("search", USAGE, "--to '%s': expected RFC 3339, a date or "
				       "a relative time (-24h)", a->to);
	o->limit = o->json ? UINT64_MAX : TABLE_LIMIT;
	if (a->limit) {
		errno = 0;
		o->limit = strtoull(a->limit, &end, 10);
		if (errno || *end || !*a->limit || a->limit[0] == '-')
			return cli_usage_error("search", USAGE, "--limit '%s': expected a number",
					       a->limit);
	}
	return 0;
}

/* store_search.gone: whoever reads the results left (`| head -1`, a client interrupted). */
static bool reader_gone(void *ctx)
{
	const struct search_out *o = ctx;

	return fileio_reader_gone(o->reader);
}

/*
 * The search itself, the same in the CLI and in the daemon (for the control socket): s has
 * its query, times and who; results go to o->out, an error to err. Returns the exit status.
 */
static int search_run(const struct config *c, const char *tenant, struct store_search *s,
		      struct search_out *o, FILE *err)
{
	struct store_search_stats st;
	struct err e = ERR_INIT;
	struct store *store = NULL;
	int64_t id;
	int status = 1;

	s->event_fn = print_event;
	s->row_fn = print_row;
	s->ctx = o;
	s->gone = reader_gone;
	if (cli_tenant_id(c, tenant, &id, &e) < 0)
		goto fail;
	if (!o->limit) { /* --limit 0: nothing to print, so nothing to read; the search checked */
		if (store_search_check(s, &e) < 0)
			goto fail;
		status = 0;
		goto out;
	}
	if (cli_store_open(&store, c, false, &e) < 0)
		goto fail;
	s->tenant = (uint64_t)id;
	/* one event more than shown without --json, to learn whether the limit cut any */
	s->limit = o->limit == UINT64_MAX ? 0 : o->limit + !o->json;
	if (plan_event_table(o, s) < 0) {
		err_set(&e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (store_search(store, s, &st, &e) < 0)
		goto fail;
	print_table(o);
	status = fflush(o->out) ? 1 : 0;
	if (o->cut) /* "events" or "rows": "event" or "row" after a 1 */
		fprintf(err, "koban: only the first %llu %.*s shown, more matched: use --limit N "
			"or --json for more\n", (unsigned long long)o->limit,
			(int)(strlen(o->cut) - (o->limit == 1)), o->cut);
	goto out;
fail:
	fprintf(err, "koban: %s\n", e.msg[0] ? e.msg : "failed");
out:
	store_close(store);
	return status;
}

/* Parses a decimal int64 control argument; false when missing or malformed. */
static bool arg_i64(const struct control_call *call, const char *key, int64_t *v)
{
	const char *s = control_call_get(call, key);
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !errno && !*end;
}

int cli_search_remote(const struct cli_remote *r, struct control_call *call)
{
	struct search_out o = { .out = call->out, .reader = call->fd };
	struct store_search s = { 0 };
	const char *tenant = control_call_get(call, "tenant");
	const char *query = control_call_get(call, "query");
	const char *json = control_call_get(call, "json");
	int64_t limit;
	int status;

	if (!tenant || !query || !json || !arg_i64(call, "from", &s.from) ||
	    !arg_i64(call, "to", &s.to) || !arg_i64(call, "now", &s.now) ||
	    !arg_i64(call, "limit", &limit)) {
		fprintf(call->err, "koban: search: a malformed request\n");
		return 1;
	}
	/* the daemon's searches for its clients, the API's included, are capped together */
	if (!store_search_slot_take()) {
		fprintf(call->err, "koban: %s\n", STORE_SEARCHES_BUSY);
		return 1;
	}
	o.json = !strcmp(json, "1");
	o.limit = limit < 0 ? UINT64_MAX : (uint64_t)limit;
	buf_init(&o.line, 1 << 26);
	s.query = query;
	s.query_len = strlen(query);
	s.who = call->who;
	status = search_run(r->cfg, tenant, &s, &o, call->err);
	out_release(&o);
	store_search_slot_give();
	return status;
}

/* Sends the search to the running daemon; returns the exit status. */
static int search_through(int fd, const char *tenant, const struct store_search *s,
			  const struct search_out *o)
{
	char from[24], to[24], now[24], limit[24];
	const char *keys[] = { "tenant", "query", "from", "to", "now", "limit", "json" };
	const char *values[] = { tenant, s->query, from, to, now, limit, o->json ? "1" : "0" };

	snprintf(from, sizeof(from), "%lld", (long long)s->from);
	snprintf(to, sizeof(to), "%lld", (long long)s->to);
	snprintf(now, sizeof(now), "%lld", (long long)s->now);
	snprintf(limit, sizeof(limit), "%lld",
		 o->limit == UINT64_MAX ? -1LL : (long long)MIN(o->limit, (uint64_t)INT64_MAX));
	return cli_remote_run(fd, "search", keys, values, ARRAY_SIZE(keys));
}

int cmd_search(int argc, char **argv)
{
	struct search_args a = { 0 };
	struct search_out o = { .out = stdout, .reader = STDOUT_FILENO };
	struct buf q = BUF_INIT(1 << 16);
	struct store_search s = { 0 };
	struct err e = ERR_INIT;
	struct config c;
	char who[128];
	int status, fd;

	if ((status = search_args(argc, argv, &a)) >= 0)
		return status;
	if ((status = cli_load_config(&argc, argv, &c)) != 0)
		return status;
	o.json = a.json;
	buf_init(&o.line, 1 << 26);
	s.now = time_now_ns();
	s.from = INT64_MIN;
	s.to = INT64_MAX;
	if ((status = search_limits(&a, &s, &o)) != 0)
		goto out;
	status = 1;
	if (join_words(&a, &q) < 0) {
		err_set(&e, -E2BIG, "the query is longer than %u bytes", 1u << 16);
		cli_fail(&e);
		goto out;
	}
	s.query = q.p;
	s.query_len = q.len;
	switch (cli_remote_connect(&c, &fd)) {
	case 1:
		status = search_through(fd, a.tenant, &s, &o);
		break;
	case 0:
		who_am_i(who, sizeof(who));
		s.who = who;
		status = search_run(&c, a.tenant, &s, &o, stderr);
		break;
	default:
		break;
	}
out:
	out_release(&o);
	buf_release(&q);
	config_release(&c);
	return status;
}
