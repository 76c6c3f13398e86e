/*
 * asset.c - `koban asset import|list|show|add|update|remove|unknown`: the tenants' asset
 * inventory in koban.db (store/meta.h, enrich/assets.h). docs/assets.md.
 *
 * Every verb but list names the tenant: an asset is read, changed or removed only through
 * its own tenant. An asset is named by its id (a number) or its name.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/assets.h"
#include "store/meta.h"

#define FIELD_OPTS "[--hostnames H] [--addresses A] [--owner O] [--criticality C] " \
	"[--role R] [--software S] [--cves C]"
#define IMPORT_USAGE "asset import --tenant T [--format auto|csv|nessus|openvas] " \
	"[--columns MAP] FILE"
#define LIST_USAGE "asset list [--tenant T] [--json]"
#define SHOW_USAGE "asset show --tenant T [--json] ID|NAME"
#define ADD_USAGE "asset add --tenant T " FIELD_OPTS " NAME"
#define UPDATE_USAGE "asset update --tenant T [--name NEW] " FIELD_OPTS " ID|NAME"
#define REMOVE_USAGE "asset remove --tenant T ID|NAME"
#define UNKNOWN_USAGE "asset unknown --tenant T [--since TIME] [--json]"
#define IMPORT_FILE_MAX ((size_t)1 << 30)
#define LINE_MAX_JSON ((size_t)4 << 20)

/* Exit status of import when some records were rejected and the others stored. */
#define EXIT_SOME_REJECTED 3

static const struct cli_verb asset_verbs[] = {
	{ "import", IMPORT_USAGE,
	  "Merges the assets of FILE into tenant T's inventory. Formats: csv (a header\n"
	  "naming the columns name, hostnames, addresses, owner, criticality, role,\n"
	  "software, cves, or --columns name=1,addresses=2,...), nessus (a Nessus CSV\n"
	  "export: Host, CVE, ...), openvas (an OpenVAS CSV export: IP, Hostname, CVEs);\n"
	  "auto (the default) tells them by the header. A record joins the asset of its\n"
	  "name, host name or address. Prints the counts and each rejected record; exit 0\n"
	  "when all were taken, 3 when some were rejected, 1 when none was taken." },
	{ "list", LIST_USAGE,
	  "Lists the assets of tenant T (of every tenant without --tenant).\n"
	  "--json: one JSON object per asset and line (docs/assets.md)." },
	{ "show", SHOW_USAGE, "Shows one asset of tenant T with every field." },
	{ "add", ADD_USAGE,
	  "Adds an asset. Lists (--hostnames, --addresses, --cves) are separated by ',',\n"
	  "';' or blanks; --software \"NAME VERSION; NAME VERSION\". --criticality low,\n"
	  "medium (default), high or critical; --role server, pc, network or other\n"
	  "(default)." },
	{ "update", UPDATE_USAGE,
	  "Changes the fields given (a list given replaces the list; \"\" empties it)." },
	{ "remove", REMOVE_USAGE, "Removes one asset of tenant T." },
	{ "unknown", UNKNOWN_USAGE,
	  "Lists the hosts named in tenant T's alerts (detected since TIME, default -30d)\n"
	  "that no asset covers: host names and internal addresses (RFC 1918,\n"
	  "100.64.0.0/10, link-local, fc00::/7), the most seen first." },
};

static const struct cli_command asset_command = {
	"asset", IMPORT_USAGE "\n       koban " LIST_USAGE "\n       koban " SHOW_USAGE
	"\n       koban " ADD_USAGE "\n       koban " UPDATE_USAGE "\n       koban "
	REMOVE_USAGE "\n       koban " UNKNOWN_USAGE,
	"The tenants' asset inventory (docs/assets.md).\n"
	"`koban help asset VERB` describes one sub-command.",
	asset_verbs, ARRAY_SIZE(asset_verbs),
};

enum { IMPORT, LIST, SHOW, ADD, UPDATE, REMOVE, UNKNOWN, N_VERBS };

struct asset_opts {
	const char *tenant, *format, *columns, *since, *name;
	const char *field[ASSETS_N_COLS]; /* --hostnames ... (name unused: positional) */
	bool json;
	const char *pos[1];
};

/* ---- import ---- */

struct import_out {
	const char *file;
};

static void import_reject(void *ctx, unsigned line, const char *why)
{
	const struct import_out *o = ctx;

	fprintf(stderr, "%s:%u: %s\n", o->file, line, why);
}

static int asset_import(struct meta *m, const struct asset_opts *op, struct err *e)
{
	struct import_out out = { op->pos[0] };
	struct assets_import_stats st = { 0 };
	enum assets_format f = ASSETS_AUTO;
	struct assets_columns cols;
	struct assets *a = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (op->format && assets_format_parse(op->format, &f, e) < 0)
		return cli_usage_error("asset import", IMPORT_USAGE, "--format: %s", e->msg);
	if (op->columns && assets_columns_parse(op->columns, &cols, e) < 0)
		return cli_usage_error("asset import", IMPORT_USAGE, "--columns: %s", e->msg);
	if (op->columns && f != ASSETS_CSV && f != ASSETS_AUTO)
		return cli_usage_error("asset import", IMPORT_USAGE, "--columns applies to "
				       "--format csv");
	if (op->columns)
		f = ASSETS_CSV;
	if ((rc = config_read_file(op->pos[0], "asset", IMPORT_FILE_MAX, &text, &len, e)) < 0 ||
	    (rc = assets_load(m, op->tenant, &a, e)) < 0 ||
	    (rc = assets_merge_csv(a, op->tenant, text, len, f, op->columns ? &cols : NULL,
				   import_reject, &out, &st, e)) < 0 ||
	    (rc = assets_store(a, m, &st, e)) < 0)
		goto out;
	printf("%s: %u records, %u new, %u updated, %u rejected (tenant %s)\n", op->pos[0],
	       st.records, st.added, st.updated, st.rejected, op->tenant);
out:
	assets_free(a);
	mem_free(text);
	if (rc < 0)
		return cli_fail(e);
	if (st.rejected && st.rejected == st.records)
		return 1;
	return st.rejected ? EXIT_SOME_REJECTED : 0;
}

/* ---- list and show ---- */

#define LIST_COLS 7

struct list_out {
	bool json, print;
	size_t width[LIST_COLS];
	struct buf line, cells;
	int rc;
};

/* A list joined by ',' into b (cleared), for a table cell. */
static const char *joined(struct buf *b, const struct assets_list *l)
{
	int rc = 0;

	buf_reset(b);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			rc = err_first(rc, buf_addch(b, ','));
		rc = err_first(rc, buf_adds(b, l->v[i]));
	}
	return rc < 0 || !l->n ? NULL : b->p;
}

static void list_entry(struct list_out *o, const struct assets_entry *en)
{
	char id[24];
	const char *cells[LIST_COLS];

	if (o->json) {
		buf_reset(&o->line);
		if ((o->rc = err_first(o->rc, assets_entry_write_json(en, &o->line))) == 0)
			printf("%s\n", o->line.p);
		return;
	}
	snprintf(id, sizeof(id), "%lld", (long long)en->id);
	cells[0] = id;
	cells[1] = en->tenant;
	cells[2] = en->name;
	cells[3] = en->criticality;
	cells[4] = en->role;
	cells[5] = *en->owner ? en->owner : NULL;
	cells[6] = joined(&o->cells, &en->addresses);
	if (o->print)
		cli_table_row(o->width, cells, LIST_COLS);
	else
		cli_table_widen(o->width, cells, LIST_COLS);
}

static int asset_list(struct meta *m, const struct asset_opts *op, struct err *e)
{
	static const char *const header[LIST_COLS] = { "ID", "TENANT", "NAME", "CRITICALITY",
						       "ROLE", "OWNER", "ADDRESSES" };
	struct list_out o = { .json = op->json, .line = BUF_INIT(LINE_MAX_JSON),
			      .cells = BUF_INIT(LINE_MAX_JSON) };
	struct assets *a = NULL;
	int rc;

	if ((rc = assets_load(m, op->tenant, &a, e)) == 0) {
		if (!o.json) {
			cli_table_widen(o.width, header, LIST_COLS);
			for (size_t i = 0; i < assets_count(a); i++)
				list_entry(&o, assets_at(a, i));
			o.print = true;
			cli_table_row(o.width, header, LIST_COLS);
		}
		for (size_t i = 0; i < assets_count(a); i++)
			list_entry(&o, assets_at(a, i));
		if (o.rc < 0)
			rc = err_set(e, o.rc, "an asset too large to print");
	}
	assets_free(a);
	buf_release(&o.line);
	buf_release(&o.cells);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ID (a number) or NAME of an asset. */
/* The tenant's asset the first operand names (an id, else a name), read into a new *a. */
static int load_ref(struct meta *m, const struct asset_opts *op, struct assets **a,
		    struct assets_entry **en, struct err *e)
{
	const char *ref = op->pos[0], *name = ref;
	int64_t id = 0;
	char *end;
	long long n;

	errno = 0;
	n = strtoll(ref, &end, 10);
	if (!errno && !*end && end != ref && n > 0 && ref[0] != '+' && ref[0] != ' ') {
		id = n;
		name = NULL;
	}
	return assets_load_one(m, op->tenant, id, name, a, en, e);
}

static void print_time(const char *label, int64_t ns)
{
	char t[TIME_RFC3339_LEN];

	time_format_rfc3339(ns - ns % NS_PER_SEC, t);
	printf("%-12s %s\n", label, ns ? t : "-");
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

static void show_entry(const struct assets_entry *en, struct buf *b)
{
	printf("%-12s %lld\n%-12s %s\n%-12s %s\n", "id", (long long)en->id, "tenant",
	       en->tenant, "name", en->name);
	printf("%-12s %s\n", "hostnames", or_dash(joined(b, &en->hostnames)));
	printf("%-12s %s\n", "addresses", or_dash(joined(b, &en->addresses)));
	printf("%-12s %s\n%-12s %s\n%-12s %s\n", "owner", *en->owner ? en->owner : "-",
	       "criticality", en->criticality, "role", en->role);
	for (size_t i = 0; i < en->software_names.n; i++)
		printf("%-12s %s%s%s\n", i ? "" : "software", en->software_names.v[i],
		       *en->software_versions.v[i] ? " " : "", en->software_versions.v[i]);
	if (!en->software_names.n)
		printf("%-12s -\n", "software");
	printf("%-12s %s\n", "cves", or_dash(joined(b, &en->cves)));
	print_time("created", en->created_ns);
	print_time("updated", en->updated_ns);
}

static int asset_show(struct meta *m, const struct asset_opts *op, struct err *e)
{
	struct buf b = BUF_INIT(LINE_MAX_JSON);
	struct assets_entry *en;
	struct assets *a = NULL;
	int rc;

	if ((rc = load_ref(m, op, &a, &en, e)) == 0) {
		if (!op->json)
			show_entry(en, &b);
		else if ((rc = assets_entry_write_json(en, &b)) < 0)
			err_set(e, rc, "the asset is too large to print");
		else
			printf("%s\n", b.p);
	}
	assets_free(a);
	buf_release(&b);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- add, update, remove ---- */

/* The field options given, set on en (lists replaced). */
static int set_fields(struct assets *a, struct assets_entry *en, const struct asset_opts *op,
		      struct err *e)
{
	int rc;

	for (unsigned c = 0; c < ASSETS_N_COLS; c++) {
		const char *v = c == ASSETS_COL_NAME ? op->name : op->field[c];

		if (v && (rc = assets_entry_set(a, en, (enum assets_column)c, v, strlen(v), true,
						e)) < 0)
			return rc;
	}
	return 0;
}

static int asset_write(struct meta *m, int which, const struct asset_opts *op, struct err *e)
{
	struct assets_import_stats st = { 0 };
	struct assets_entry *en = NULL;
	struct assets *a = NULL;
	int rc;

	if (which == ADD) {
		if ((rc = assets_new(&a, e)) == 0)
			rc = assets_add_new(a, op->tenant, op->pos[0], &en, e);
	} else {
		rc = load_ref(m, op, &a, &en, e);
	}
	if (rc == 0 && set_fields(a, en, op, e) < 0) {
		assets_free(a);
		return cli_usage_error(which == ADD ? "asset add" : "asset update",
				       which == ADD ? ADD_USAGE : UPDATE_USAGE, "%s", e->msg);
	}
	if (rc == 0 && (rc = assets_store(a, m, &st, e)) == 0)
		printf("asset %lld %s (tenant %s)\n", (long long)en->id,
		       which == ADD ? "added" : st.updated ? "updated" : "unchanged", op->tenant);
	assets_free(a);
	return rc < 0 ? cli_fail(e) : 0;
}

static int asset_remove(struct meta *m, const struct asset_opts *op, struct err *e)
{
	struct assets_entry *en;
	struct assets *a = NULL;
	int rc;

	if ((rc = load_ref(m, op, &a, &en, e)) == 0 &&
	    (rc = meta_asset_remove(m, op->tenant, en->id, e)) == 0)
		printf("asset %lld removed (tenant %s)\n", (long long)en->id, op->tenant);
	assets_free(a);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- unknown ---- */

#define UNKNOWN_COLS 6

struct unknown_out {
	bool json, print;
	size_t width[UNKNOWN_COLS];
	struct buf line;
	int rc;
};

static void unknown_row(void *ctx, const struct assets_unknown *u)
{
	struct unknown_out *o = ctx;
	char n[24], first[TIME_RFC3339_LEN], last[TIME_RFC3339_LEN];
	const char *cells[UNKNOWN_COLS] = { u->value, u->kind, n, first, last, u->field };

	snprintf(n, sizeof(n), "%lld", (long long)u->alerts);
	time_format_rfc3339(u->first_ns - u->first_ns % NS_PER_SEC, first);
	time_format_rfc3339(u->last_ns - u->last_ns % NS_PER_SEC, last);
	if (o->json) {
		buf_reset(&o->line);
		if ((o->rc = err_first(o->rc, assets_unknown_write_json(u, &o->line))) == 0)
			printf("%s\n", o->line.p);
	} else if (o->print) {
		cli_table_row(o->width, cells, UNKNOWN_COLS);
	} else {
		cli_table_widen(o->width, cells, UNKNOWN_COLS);
	}
}

static int asset_unknown(struct meta *m, const struct asset_opts *op, struct err *e)
{
	static const char *const header[UNKNOWN_COLS] = { "HOST", "KIND", "ALERTS",
							  "FIRST SEEN", "LAST SEEN", "FIELD" };
	struct unknown_out o = { .json = op->json, .line = BUF_INIT(LINE_MAX_JSON) };
	const char *since_text = op->since ? op->since : "-30d";
	int64_t since = 0, dropped = 0;
	int rc;

	if (time_parse(since_text, strlen(since_text), time_now_ns(), &since) < 0)
		return cli_usage_error("asset unknown", UNKNOWN_USAGE, "--since '%s': expected "
				       "RFC 3339, a date or a relative time (-24h)", since_text);
	if (!o.json) {
		cli_table_widen(o.width, header, UNKNOWN_COLS);
		if ((rc = assets_unknown_list(m, op->tenant, since, unknown_row, &o, &dropped,
					      e)) < 0)
			goto out;
		o.print = true;
		cli_table_row(o.width, header, UNKNOWN_COLS);
	}
	rc = assets_unknown_list(m, op->tenant, since, unknown_row, &o, &dropped, e);
	if (rc == 0 && o.rc < 0)
		rc = err_set(e, o.rc, "a host too long to print");
	if (rc == 0 && dropped)
		fprintf(stderr, "koban: asset unknown: %lld more hosts not listed (the first %d "
			"are)\n", (long long)dropped, ASSETS_UNKNOWN_MAX);
out:
	buf_release(&o.line);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- dispatch ---- */

static void verb_args(int which, struct cli_args *a)
{
	static const char *const file_name[] = { "FILE" }, *const ref_name[] = { "ID|NAME" },
			  *const name_name[] = { "NAME" };
	static const char *const cmds[N_VERBS] = { "asset import", "asset list", "asset show",
						   "asset add", "asset update", "asset remove",
						   "asset unknown" };

	a->cmd = cmds[which];
	a->min_pos = a->max_pos = which == LIST || which == UNKNOWN ? 0 : 1;
	a->pos_names = which == IMPORT ? file_name : which == ADD ? name_name : ref_name;
}

int cmd_asset(int argc, char **argv)
{
	const struct cli_verb *verb;
	struct asset_opts op = { 0 };
	const struct cli_option import_opts[] = {
		CLI_VALUE("tenant", &op.tenant), CLI_VALUE("format", &op.format),
		CLI_VALUE("columns", &op.columns),
	};
	const struct cli_option list_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_FLAG("json", &op.json) };
	const struct cli_option field_opts[] = {
		CLI_VALUE("tenant", &op.tenant),
		CLI_VALUE("hostnames", &op.field[ASSETS_COL_HOSTNAMES]),
		CLI_VALUE("addresses", &op.field[ASSETS_COL_ADDRESSES]),
		CLI_VALUE("owner", &op.field[ASSETS_COL_OWNER]),
		CLI_VALUE("criticality", &op.field[ASSETS_COL_CRITICALITY]),
		CLI_VALUE("role", &op.field[ASSETS_COL_ROLE]),
		CLI_VALUE("software", &op.field[ASSETS_COL_SOFTWARE]),
		CLI_VALUE("cves", &op.field[ASSETS_COL_CVES]),
		CLI_VALUE("name", &op.name),
	};
	const struct cli_option remove_opts[] = { CLI_VALUE("tenant", &op.tenant) };
	const struct cli_option unknown_opts[] = { CLI_VALUE("tenant", &op.tenant),
						   CLI_VALUE("since", &op.since),
						   CLI_FLAG("json", &op.json) };
	const struct cli_option *opts[N_VERBS] = { import_opts, list_opts, list_opts,
						   field_opts, field_opts, remove_opts,
						   unknown_opts };
	const size_t n_opts[N_VERBS] = {
		ARRAY_SIZE(import_opts), ARRAY_SIZE(list_opts), ARRAY_SIZE(list_opts),
		ARRAY_SIZE(field_opts) - 1, ARRAY_SIZE(field_opts), ARRAY_SIZE(remove_opts),
		ARRAY_SIZE(unknown_opts),
	};
	struct cli_args a = { 0 };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int which, rc;

	if ((rc = cli_verb(&argc, &argv, &asset_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - asset_verbs);
	verb_args(which, &a);
	a.opts = opts[which];
	a.n_opts = n_opts[which];
	a.pos = op.pos;
	a.usage = verb->usage;
	a.about = verb->about;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (which != LIST && !op.tenant)
		return cli_usage_error(a.cmd, a.usage, "--tenant T is required");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) < 0)
		rc = cli_fail(&e);
	else if (which == IMPORT)
		rc = asset_import(m, &op, &e);
	else if (which == LIST)
		rc = asset_list(m, &op, &e);
	else if (which == SHOW)
		rc = asset_show(m, &op, &e);
	else if (which == ADD || which == UPDATE)
		rc = asset_write(m, which, &op, &e);
	else if (which == REMOVE)
		rc = asset_remove(m, &op, &e);
	else
		rc = asset_unknown(m, &op, &e);
	meta_close(m);
	config_release(&c);
	return rc;
}
