/*
 * ti.c - `koban ti import|list|remove|lookup`: the threat-intelligence indicators in
 * koban.db (store/meta.h), read from lists and CSV (enrich/tiread.h), matched through the
 * same snapshot the workers use (enrich/tisnap.h); `koban ti hunt`: one retro-hunt pass
 * (enrich/retrohunt.h). docs/threatintel.md.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/retrohunt.h"
#include "enrich/ti.h"
#include "enrich/tifeed.h"
#include "enrich/tiread.h"
#include "enrich/timatch.h"
#include "enrich/tisnap.h"
#include "soc/alert.h"
#include "store/meta.h"
#include "store/store.h"

#define IMPORT_USAGE "ti import --source NAME [--tenant T] [--format list|csv|stix|misp] " \
	"[--columns MAP] FILE"
#define LIST_USAGE "ti list [--tenant T] [--source S] [--json]"
#define REMOVE_USAGE "ti remove --source NAME [--tenant T] [VALUE...]"
#define LOOKUP_USAGE "ti lookup [--tenant T] [--json] VALUE"
#define FEEDS_USAGE "ti feeds [--json]"
#define FETCH_USAGE "ti fetch [NAME...]"
#define HUNT_USAGE "ti hunt [--days N] [--tenant T]"
#define IMPORT_FILE_MAX ((size_t)1 << 30)
#define SNIFF_BYTES 4096
#define REMOVE_VALUES_MAX 64
#define LINE_MAX_JSON ((size_t)1 << 20)

/* Exit statuses of import beyond 0/1/2: some lines were rejected, the rest stored. */
#define EXIT_SOME_REJECTED 3

static const struct cli_verb ti_verbs[] = {
	{ "import", IMPORT_USAGE,
	  "Stores the indicators of FILE under source NAME, global or for tenant T. Formats:\n"
	  "list (one value per line, its type recognised; '#' comments), csv (--columns\n"
	  "value=1,type=2,confidence=3,tags=4,description=5,first_seen=6,last_seen=7,\n"
	  "expires=8,ref=9, or a header line naming them), stix and misp; detected when not\n"
	  "given. An indicator imported again is updated (last seen). Prints the counts and\n"
	  "each rejected line; exit 0 when every one was taken, 3 when some were rejected,\n"
	  "1 when none was taken." },
	{ "list", LIST_USAGE,
	  "Lists the indicators: every scope, or with --tenant the global ones and T's.\n"
	  "--json: one JSON object per indicator and line." },
	{ "remove", REMOVE_USAGE,
	  "Removes source NAME's indicators from one scope (global, or tenant T): all of\n"
	  "them, or only the VALUEs given (types recognised as import does)." },
	{ "lookup", LOOKUP_USAGE,
	  "Prints the indicators VALUE matches for tenant T (global ones without --tenant):\n"
	  "an address inside a listed network, a sub-domain of a listed domain, a URL or a\n"
	  "hash in any case. Exit 0 on a match, 1 when nothing matches." },
	{ "feeds", FEEDS_USAGE,
	  "Lists the feeds of the configuration (ti.feeds) with their state in koban.db:\n"
	  "URL, last success, indicators, next refresh and the last error.\n"
	  "--json: one JSON object per feed and line." },
	{ "fetch", FETCH_USAGE,
	  "Fetches the feeds NAME (every enabled one when none is given) now and prints\n"
	  "what each brought. Exit 0 when every fetch succeeded, 1 when one failed (its\n"
	  "last good set is kept)." },
	{ "hunt", HUNT_USAGE,
	  "Runs one retro-hunt pass now: the indicators added since the last hunt are\n"
	  "searched for in the stored events of the last N days (--days N for every source;\n"
	  "default 30), in every tenant or only T. Prints each alert raised (id, tenant,\n"
	  "title) and the counts; a pass reads a bounded number of events and says when\n"
	  "there is more to read. serve's koban-retrohunt thread does the same by itself." },
};

static const struct cli_command ti_command = {
	"ti", IMPORT_USAGE "\n       koban " LIST_USAGE "\n       koban " REMOVE_USAGE
	"\n       koban " LOOKUP_USAGE "\n       koban " FEEDS_USAGE "\n       koban " FETCH_USAGE
	"\n       koban " HUNT_USAGE,
	"Threat-intelligence indicators (docs/threatintel.md).\n"
	"`koban help ti VERB` describes one sub-command.",
	ti_verbs, ARRAY_SIZE(ti_verbs),
};

enum { IMPORT, LIST, REMOVE, LOOKUP, FEEDS, FETCH, HUNT, N_VERBS };

struct ti_opts {
	const char *source, *tenant, *format, *columns, *days;
	bool json;
	const char *pos[REMOVE_VALUES_MAX];
};

/* ---- import ---- */

/* JSON documents are STIX bundles ("type": "bundle") or MISP; text with commas is CSV. */
static enum config_ti_format sniff_format(const char *text, size_t len)
{
	size_t n = MIN(len, SNIFF_BYTES), at = 0;

	while (at < n && strchr(" \t\r\n", text[at]))
		at++;
	if (at < n && (text[at] == '{' || text[at] == '['))
		return memmem(text, n, "\"bundle\"", 8) ? TI_FEED_STIX : TI_FEED_MISP;
	for (size_t i = at; i < n;) {
		const char *nl = memchr(text + i, '\n', n - i);
		size_t line = nl ? (size_t)(nl - (text + i)) : n - i;

		if (line && text[i] != '#')
			return memchr(text + i, ',', line) ? TI_FEED_CSV : TI_FEED_LIST;
		i += line + 1;
	}
	return TI_FEED_LIST;
}

struct import {
	const char *file;
	struct meta_indicator_put *put;
	struct buf tags;
	int64_t now_ns;
	unsigned read, added, updated, rejected;
	struct err *e;
};

static void import_reject(void *ctx, unsigned line, const char *reason)
{
	struct import *im = ctx;

	im->read++;
	im->rejected++;
	if (line)
		fprintf(stderr, "%s:%u: %s\n", im->file, line, reason);
	else
		fprintf(stderr, "%s: %s\n", im->file, reason);
}

/*
 * Stores one indicator. One the store refuses (a value, tag or text out of shape: readers
 * other than tiread's may give such) is rejected, without a line; a database error stops.
 */
static int import_add(void *ctx, const struct ti_indicator *ind)
{
	struct import *im = ctx;
	char canon[TI_VALUE_BUF];
	struct err why = ERR_INIT;
	bool added;
	int rc;

	rc = tifeed_put(im->put, ind, im->now_ns, -1, &im->tags, canon, &added, &why);
	if (rc == 0) {
		import_reject(im, 0, why.msg);
		return 0;
	}
	if (rc < 0)
		return err_set(im->e, rc, "%s", why.msg);
	im->read++;
	if (added)
		im->added++;
	else
		im->updated++;
	return 0;
}

static int import_status(const struct import *im)
{
	if (im->added + im->updated == 0)
		return 1;
	return im->rejected ? EXIT_SOME_REJECTED : 0;
}

static int ti_import(const struct config *c, const struct ti_opts *op, struct err *e)
{
	struct import im = { .file = op->pos[0], .tags = BUF_INIT(META_TI_TAGS_MAX),
			     .now_ns = time_now_ns(), .e = e };
	struct ti_sink sink = { import_add, import_reject, &im };
	struct ti_csv_columns cols;
	struct meta *m = NULL;
	enum config_ti_format f = TI_FEED_LIST;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (op->format) {
		for (f = TI_FEED_LIST;
		     f <= TI_FEED_MISP && strcmp(op->format, config_ti_format_name(f)); f++)
			;
		if (f > TI_FEED_MISP)
			return cli_usage_error("ti import", IMPORT_USAGE, "--format '%s': expected "
					       "list, csv, stix or misp", op->format);
	}
	if (op->columns && ti_csv_columns_parse(op->columns, &cols, e) < 0)
		return cli_usage_error("ti import", IMPORT_USAGE, "--columns: %s", e->msg);
	if ((rc = config_read_file(op->pos[0], "indicator", IMPORT_FILE_MAX, &text, &len, e)) < 0)
		goto fail;
	if (!op->format)
		f = sniff_format(text, len);
	if (op->columns && f != TI_FEED_CSV) {
		rc = err_set(e, -EINVAL, "--columns applies to CSV, and %s is read as %s",
			     op->pos[0], config_ti_format_name(f));
		goto fail;
	}
	if ((rc = meta_open(&m, c->data_dir, e)) < 0 ||
	    (rc = meta_indicator_put_begin(m, op->source, op->tenant, &im.put, e)) < 0)
		goto fail;
	rc = tifeed_read_document(f, text, len, op->columns ? &cols : NULL, &sink, e);
	rc = err_first(rc, meta_indicator_put_end(im.put, rc == 0 && im.added + im.updated, e));
	if (rc < 0)
		goto fail;
	printf("%s: %u read, %u new, %u updated, %u rejected (source %s, %s%s)\n", op->pos[0],
	       im.read, im.added, im.updated, im.rejected, op->source,
	       op->tenant ? "tenant " : "global", op->tenant ? op->tenant : "");
fail:
	buf_release(&im.tags);
	mem_free(text);
	meta_close(m);
	return rc < 0 ? cli_fail(e) : import_status(&im);
}

/* ---- list and lookup output ---- */

struct out {
	bool json, print;
	bool lines;      /* lookup: one self-describing line per indicator, no table */
	size_t width[7];
	struct buf line;
	unsigned rows;
	int rc;
};

static int add_time(struct buf *b, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];
	int rc = buf_addf(b, ", \"%s\": ", key);

	if (!ns)
		return err_first(rc, buf_adds(b, "null"));
	time_format_rfc3339(ns, t);
	return err_first(rc, buf_addf(b, "\"%s\"", t));
}

static int add_field(struct buf *b, const char *key, const char *v)
{
	int rc = buf_addf(b, ", \"%s\": ", key);

	return err_first(rc, v ? json_add_string(b, v, strlen(v)) : buf_adds(b, "null"));
}

static int indicator_json(struct buf *b, const struct meta_indicator *ind)
{
	int rc;

	buf_reset(b);
	rc = buf_adds(b, "{\"type\": ");
	rc = err_first(rc, json_add_string(b, ind->type, strlen(ind->type)));
	rc = err_first(rc, add_field(b, "value", ind->value));
	rc = err_first(rc, add_field(b, "tenant", ind->tenant));
	rc = err_first(rc, add_field(b, "source", ind->source));
	rc = err_first(rc, ind->confidence < 0 ? buf_adds(b, ", \"confidence\": null")
					       : buf_addf(b, ", \"confidence\": %d", ind->confidence));
	rc = err_first(rc, add_time(b, "first_seen", ind->first_seen_ns));
	rc = err_first(rc, add_time(b, "last_seen", ind->last_seen_ns));
	rc = err_first(rc, add_time(b, "expires", ind->expires_ns));
	rc = err_first(rc, buf_addf(b, ", \"tags\": %s", ind->tags));
	rc = err_first(rc, add_field(b, "description", ind->description));
	rc = err_first(rc, add_field(b, "ref", ind->ref));
	return err_first(rc, buf_addf(b, ", \"imports\": %lld}", (long long)ind->imports));
}

static void row(void *ctx, const struct meta_indicator *ind)
{
	struct out *o = ctx;
	char conf[8], last[TIME_RFC3339_LEN], exp[TIME_RFC3339_LEN];
	const char *cells[7];

	o->rows++;
	if (o->json) {
		if ((o->rc = err_first(o->rc, indicator_json(&o->line, ind))) == 0)
			printf("%s\n", o->line.p);
		return;
	}
	snprintf(conf, sizeof(conf), "%d", ind->confidence);
	time_format_rfc3339(ind->last_seen_ns - ind->last_seen_ns % NS_PER_SEC, last);
	time_format_rfc3339(ind->expires_ns - ind->expires_ns % NS_PER_SEC, exp);
	cells[0] = ind->type;
	cells[1] = ind->value;
	cells[2] = ind->tenant ? ind->tenant : "global";
	cells[3] = ind->source;
	cells[4] = ind->confidence < 0 ? NULL : conf;
	cells[5] = last;
	cells[6] = ind->expires_ns ? exp : NULL;
	if (o->lines)
		printf("%s %s: scope %s, source %s, confidence %s, last seen %s, expires %s, "
		       "tags %s%s%s\n", cells[0], cells[1], cells[2], cells[3],
		       cells[4] ? cells[4] : "unknown", last, cells[6] ? cells[6] : "never",
		       ind->tags, ind->description ? ": " : "",
		       ind->description ? ind->description : "");
	else if (o->print)
		cli_table_row(o->width, cells, 7);
	else
		cli_table_widen(o->width, cells, 7);
}

static const char *const header[7] = { "TYPE", "VALUE", "SCOPE", "SOURCE", "CONFIDENCE",
				       "LAST SEEN", "EXPIRES" };

/* Lists f's rows as a table (two passes: widths, then rows) or JSON lines. */
static int print_rows(struct meta *m, const struct meta_indicator_filter *f, struct out *o,
		      struct err *e)
{
	int rc;

	if (!o->json && !o->print) {
		cli_table_widen(o->width, header, 7);
		if ((rc = meta_indicator_list(m, f, row, o, e)) < 0)
			return rc;
		o->print = true;
		o->rows = 0;
		cli_table_row(o->width, header, 7);
	}
	rc = meta_indicator_list(m, f, row, o, e);
	if (rc == 0 && o->rc < 0)
		rc = err_set(e, o->rc, "an indicator too large to print");
	return rc;
}

static int ti_list(struct meta *m, const struct ti_opts *op, struct err *e)
{
	struct meta_indicator_filter f = { .scope = op->tenant ? META_TI_APPLIES : META_TI_EVERY,
					   .tenant = op->tenant, .source = op->source };
	struct out o = { .json = op->json, .line = BUF_INIT(LINE_MAX_JSON) };
	int rc = print_rows(m, &f, &o, e);

	buf_release(&o.line);
	return rc < 0 ? cli_fail(e) : 0;
}

/* ---- remove ---- */

/* The canonical (type, value) of a VALUE typed by the user, as import reads it. */
static int user_value(const char *v, enum ti_type *type, char *canon, struct err *e)
{
	size_t len;
	int rc;

	if ((rc = ti_guess_type(v, strlen(v), type, e)) < 0 ||
	    (rc = ti_normalize(*type, v, strlen(v), canon, &len, e)) < 0)
		return err_set(e, rc, "'%s': %s", v, e->msg);
	return 0;
}

static int ti_remove(struct meta *m, const struct ti_opts *op, struct err *e)
{
	struct meta_indicator_filter f = { .scope = op->tenant ? META_TI_TENANT : META_TI_GLOBAL,
					   .tenant = op->tenant, .source = op->source };
	char canon[TI_VALUE_BUF];
	int64_t removed = 0, n;
	enum ti_type type;
	int rc = 0;

	if (!op->pos[0]) {
		rc = meta_indicator_remove(m, &f, &removed, e);
	} else if ((rc = meta_begin(m, e)) == 0) {
		for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(op->pos) && op->pos[i]; i++) {
			if ((rc = user_value(op->pos[i], &type, canon, e)) < 0)
				break;
			f.type = ti_type_name(type);
			f.value = canon;
			if ((rc = meta_indicator_remove(m, &f, &n, e)) == 0)
				removed += n;
		}
		rc = rc < 0 ? (meta_rollback(m), rc) : meta_commit(m, e);
	}
	if (rc < 0)
		return cli_fail(e);
	printf("%lld indicator%s removed (source %s, %s%s)\n", (long long)removed,
	       removed == 1 ? "" : "s", op->source, op->tenant ? "tenant " : "global",
	       op->tenant ? op->tenant : "");
	return removed ? 0 : 1;
}

/* ---- lookup ---- */

static void no_tenant_row(void *ctx, const struct meta_tenant *t)
{
}

struct found {
	struct meta *m;
	struct out *o;
	struct err *e;
	int rc;
};

/* Prints the matched indicator's row (with its tags and description) from koban.db. */
static void matched(void *ctx, const struct ti_match *mt)
{
	struct found *fd = ctx;
	struct meta_indicator_filter f = {
		.scope = mt->tenant ? META_TI_TENANT : META_TI_GLOBAL, .tenant = mt->tenant,
		.source = mt->source, .type = ti_type_name(mt->type), .value = mt->value,
	};

	if (fd->rc == 0)
		fd->rc = print_rows(fd->m, &f, fd->o, fd->e);
}

static int ti_lookup_cmd(struct meta *m, const struct ti_opts *op, struct err *e)
{
	struct out o = { .json = op->json, .print = true, .lines = true,
			 .line = BUF_INIT(LINE_MAX_JSON) };
	struct found fd = { .m = m, .o = &o, .e = e };
	struct ti_snapshot *s = NULL;
	const char *v = op->pos[0];
	enum ti_type type;
	size_t hits = 0;
	int rc;

	if ((rc = ti_guess_type(v, strlen(v), &type, e)) < 0)
		return cli_usage_error("ti lookup", LOOKUP_USAGE, "'%s': %s", v, e->msg);
	if (op->tenant && (rc = meta_tenant_get(m, op->tenant, no_tenant_row, NULL, e)) < 0)
		return cli_fail(e);
	if ((rc = ti_snapshot_load(m, time_now_ns(), &s, e)) < 0)
		return cli_fail(e);
	hits = ti_lookup(s, op->tenant, type, v, strlen(v), matched, &fd);
	ti_snapshot_free(s);
	buf_release(&o.line);
	if (fd.rc < 0)
		return cli_fail(e);
	if (!hits)
		fprintf(stderr, "koban: ti lookup: %s matches no indicator%s%s\n", v,
			op->tenant ? " of tenant " : " (global ones; --tenant T adds T's)",
			op->tenant ? op->tenant : "");
	return hits ? 0 : 1;
}

/* ---- feeds and fetch ---- */

/* A feed's row in koban.db (copied: the strings live during the callback only). */
struct feed_row {
	bool found;
	int64_t last_success_ns, last_error_ns, failures, indicators, next_ns;
	char error[META_TI_FEED_TEXT_MAX + 1];
};

static void feed_row(void *ctx, const struct meta_ti_feed *f)
{
	struct feed_row *r = ctx;

	r->found = true;
	r->last_success_ns = f->last_success_ns;
	r->last_error_ns = f->last_error_ns;
	r->failures = f->failures;
	r->indicators = f->indicators;
	r->next_ns = f->next_ns;
	snprintf(r->error, sizeof(r->error), "%s", f->last_error ? f->last_error : "");
}

static void time_cell(int64_t ns, char out[TIME_RFC3339_LEN], const char *none)
{
	if (ns)
		time_format_rfc3339(ns - ns % NS_PER_SEC, out);
	else
		snprintf(out, TIME_RFC3339_LEN, "%s", none);
}

static int feed_json(struct buf *b, const struct config_ti_feed *f, const struct feed_row *r)
{
	int rc;

	buf_reset(b);
	rc = buf_adds(b, "{\"name\": ");
	rc = err_first(rc, json_add_string(b, f->name, strlen(f->name)));
	rc = err_first(rc, add_field(b, "url", f->url));
	rc = err_first(rc, add_field(b, "format", config_ti_format_name(f->format)));
	rc = err_first(rc, add_field(b, "tenant", f->tenant));
	rc = err_first(rc, buf_addf(b, ", \"enabled\": %s", f->enabled ? "true" : "false"));
	rc = err_first(rc, add_time(b, "last_success", r->last_success_ns));
	rc = err_first(rc, add_field(b, "last_error", r->error[0] ? r->error : NULL));
	rc = err_first(rc, add_time(b, "last_error_time", r->last_error_ns));
	rc = err_first(rc, buf_addf(b, ", \"failures\": %lld, \"indicators\": %lld",
				    (long long)r->failures, (long long)r->indicators));
	rc = err_first(rc, add_time(b, "next_refresh", r->found ? r->next_ns : 0));
	return err_first(rc, buf_addch(b, '}'));
}

#define FEED_COLS 6

static void feed_cells(const struct config_ti_feed *f, const struct feed_row *r,
		       char last[TIME_RFC3339_LEN], char next[TIME_RFC3339_LEN], char count[24],
		       const char *cells[FEED_COLS])
{
	time_cell(r->last_success_ns, last, "never");
	time_cell(f->enabled && r->found ? r->next_ns : 0, next, f->enabled ? "now" : "disabled");
	snprintf(count, 24, "%lld", (long long)r->indicators);
	cells[0] = f->name;
	cells[1] = f->url;
	cells[2] = last;
	cells[3] = count;
	cells[4] = next;
	cells[5] = r->error[0] ? r->error : "-";
}

static int ti_feeds(struct meta *m, const struct config *c, const struct ti_opts *op,
		    struct err *e)
{
	static const char *const head[FEED_COLS] = { "NAME", "URL", "LAST SUCCESS",
						     "INDICATORS", "NEXT REFRESH", "LAST ERROR" };
	struct feed_row *rows = c->n_ti_feeds ? mem_calloc(c->n_ti_feeds, sizeof(*rows)) : NULL;
	struct buf line = BUF_INIT(LINE_MAX_JSON);
	size_t width[FEED_COLS] = { 0 };
	int rc = 0;

	if (c->n_ti_feeds && !rows) {
		err_set(e, -ENOMEM, "out of memory");
		return cli_fail(e);
	}
	for (size_t i = 0; i < c->n_ti_feeds && rc == 0; i++)
		if ((rc = meta_ti_feed_get(m, c->ti_feeds[i].name, feed_row, &rows[i], e)) == -ENOENT)
			rc = 0;
	cli_table_widen(width, head, FEED_COLS);
	for (int pass = 0; pass < 2 && rc == 0 && !op->json; pass++) {
		if (pass)
			cli_table_row(width, head, FEED_COLS);
		for (size_t i = 0; i < c->n_ti_feeds; i++) {
			char last[TIME_RFC3339_LEN], next[TIME_RFC3339_LEN], count[24];
			const char *cells[FEED_COLS];

			feed_cells(&c->ti_feeds[i], &rows[i], last, next, count, cells);
			if (pass)
				cli_table_row(width, cells, FEED_COLS);
			else
				cli_table_widen(width, cells, FEED_COLS);
		}
	}
	for (size_t i = 0; i < c->n_ti_feeds && rc == 0 && op->json; i++)
		if ((rc = feed_json(&line, &c->ti_feeds[i], &rows[i])) == 0)
			printf("%s\n", line.p);
		else
			err_set(e, rc, "feed %s: too large to print", c->ti_feeds[i].name);
	if (!c->n_ti_feeds)
		fprintf(stderr, "koban: ti feeds: no feeds in the configuration (ti.feeds)\n");
	buf_release(&line);
	mem_free(rows);
	return rc < 0 ? cli_fail(e) : 0;
}

static int ti_fetch(const struct config *c, const struct ti_opts *op, struct err *e)
{
	struct tifeed_config tc = { .feeds = c->ti_feeds, .n_feeds = c->n_ti_feeds,
				    .data_dir = c->data_dir,
				    .default_confidence = (int)c->ti_default_confidence };
	struct tifeed *t = NULL;
	int failed = 0, rc;

	for (size_t i = 0; i < ARRAY_SIZE(op->pos) && op->pos[i]; i++) {
		bool known = false;

		for (size_t k = 0; k < c->n_ti_feeds; k++)
			known = known || !strcmp(c->ti_feeds[k].name, op->pos[i]);
		if (!known)
			return cli_usage_error("ti fetch", FETCH_USAGE, "no feed '%s' in the "
					       "configuration (ti.feeds)", op->pos[i]);
	}
	if ((rc = tifeed_new(&t, &tc, e)) < 0)
		return cli_fail(e);
	for (size_t i = 0; i < c->n_ti_feeds; i++) {
		const struct config_ti_feed *f = &c->ti_feeds[i];
		struct tifeed_result r;
		bool named = !op->pos[0];

		for (size_t k = 0; k < ARRAY_SIZE(op->pos) && op->pos[k]; k++)
			named = named || !strcmp(op->pos[k], f->name);
		if (!named || (!op->pos[0] && !f->enabled))
			continue;
		err_clear(e);
		if (tifeed_fetch(t, i, &r, e) < 0) {
			printf("%s: failed: %s\n", f->name, e->msg);
			failed++;
		} else if (r.unchanged) {
			printf("%s: unchanged, %lld indicators\n", f->name, (long long)r.indicators);
		} else {
			printf("%s: %u read, %u new, %u updated, %lld removed, %u rejected; %lld "
			       "indicators\n", f->name, r.read, r.added, r.updated,
			       (long long)r.removed, r.rejected, (long long)r.indicators);
		}
	}
	tifeed_free(t);
	return failed ? 1 : 0;
}

/* ---- hunt ---- */

static unsigned hunt_days(void *ctx, const char *source)
{
	return *(const unsigned *)ctx;
}

static unsigned config_days(void *ctx, const char *source)
{
	return config_ti_retrohunt_days(ctx, source);
}

void cli_retrohunt_config(const struct config *c, struct retrohunt_config *hc)
{
	hc->days = config_days;
	hc->days_ctx = (void *)c;
	hc->default_days = c->ti_retrohunt_days;
	hc->dedupe_window_ns = (int64_t)c->ti_dedupe_window * NS_PER_SEC;
}

static void hunt_found(void *ctx, const struct meta_alert *a)
{
	unsigned *stored = ctx;

	(*stored)++;
	printf("alert %lld\t%s\t%s\n", (long long)a->id, a->tenant, a->rule_title);
}

static int ti_hunt(const struct config *c, const struct ti_opts *op, struct err *e)
{
	struct retrohunt_config hc = { .metrics = false };
	struct retrohunt_stats st = { 0 };
	struct alert_sink *alerts = NULL;
	struct retrohunt *r = NULL;
	struct store *store = NULL;
	struct meta *m = NULL;
	unsigned days = 0, stored = 0;
	char *end = NULL;
	int rc;

	cli_retrohunt_config(c, &hc);
	if (op->days) {
		unsigned long v;

		errno = 0;
		v = strtoul(op->days, &end, 10);
		if (errno || *end || end == op->days || v < 1 || v > RETROHUNT_DAYS_MAX)
			return cli_usage_error("ti hunt", HUNT_USAGE, "--days '%s': expected 1 to %d",
					       op->days, RETROHUNT_DAYS_MAX);
		days = (unsigned)v;
		hc.days = hunt_days;
		hc.days_ctx = &days;
	}
	if ((rc = meta_open(&m, c->data_dir, e)) < 0 || (rc = cli_store_open(&store, c, false, e)) < 0 ||
	    (rc = alert_sink_new(&alerts, &(struct alert_sink_config){
					 .data_dir = c->data_dir,
					 .retention_days = c->alerts_retention_days,
					 .on_stored = hunt_found, .ctx = &stored }, e)) < 0)
		goto out;
	hc.meta = m;
	hc.store = store;
	hc.alerts = alerts;
	if ((rc = retrohunt_new(&r, &hc, e)) < 0)
		goto out;
	rc = retrohunt_pass(r, op->tenant, time_now_ns(), &st, e);
out:
	retrohunt_free(r);
	alert_sink_free(alerts); /* stores (and prints) every alert raised */
	store_close(store);
	meta_close(m);
	if (rc < 0)
		return cli_fail(e);
	printf("retro-hunt: %llu tenant%s, %llu new indicator%s, %llu events read, %llu with a "
	       "sighting, %u alert%s stored%s\n", (unsigned long long)st.tenants,
	       st.tenants == 1 ? "" : "s", (unsigned long long)st.indicators,
	       st.indicators == 1 ? "" : "s", (unsigned long long)st.events,
	       (unsigned long long)st.matched, stored, stored == 1 ? "" : "s",
	       st.done ? "; caught up" : "; more to read: run it again");
	if (st.undecodable)
		fprintf(stderr, "koban: ti hunt: %llu events could not be decoded (see the log)\n",
			(unsigned long long)st.undecodable);
	return 0;
}

/* ---- dispatch ---- */

static void verb_args(int which, struct ti_opts *op, struct cli_args *a,
		      const struct cli_option *opts[N_VERBS], const size_t n_opts[N_VERBS])
{
	static const char *const file_name[] = { "FILE" }, *const value_name[] = { "VALUE" },
			  *const feed_name[] = { "NAME" };
	static const char *const cmds[N_VERBS] = { "ti import", "ti list", "ti remove",
						   "ti lookup", "ti feeds", "ti fetch", "ti hunt" };

	a->cmd = cmds[which];
	a->min_pos = which == IMPORT || which == LOOKUP;
	a->max_pos = which == REMOVE || which == FETCH ? REMOVE_VALUES_MAX :
		     which == LIST || which == FEEDS || which == HUNT ? 0 : 1;
	a->pos_names = which == IMPORT ? file_name : which == FETCH ? feed_name : value_name;
	a->opts = opts[which];
	a->n_opts = n_opts[which];
	a->pos = op->pos;
}

int cmd_ti(int argc, char **argv)
{
	const struct cli_verb *verb;
	struct ti_opts op = { 0 };
	const struct cli_option import_opts[] = {
		CLI_VALUE("source", &op.source), CLI_VALUE("tenant", &op.tenant),
		CLI_VALUE("format", &op.format), CLI_VALUE("columns", &op.columns),
	};
	const struct cli_option list_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_VALUE("source", &op.source),
						CLI_FLAG("json", &op.json) };
	const struct cli_option remove_opts[] = { CLI_VALUE("source", &op.source),
						  CLI_VALUE("tenant", &op.tenant) };
	const struct cli_option lookup_opts[] = { CLI_VALUE("tenant", &op.tenant),
						  CLI_FLAG("json", &op.json) };
	const struct cli_option feeds_opts[] = { CLI_FLAG("json", &op.json) };
	const struct cli_option hunt_opts[] = { CLI_VALUE("days", &op.days),
						CLI_VALUE("tenant", &op.tenant) };
	const struct cli_option *opts[N_VERBS] = { import_opts, list_opts, remove_opts,
						   lookup_opts, feeds_opts, NULL, hunt_opts };
	const size_t n_opts[N_VERBS] = { ARRAY_SIZE(import_opts), ARRAY_SIZE(list_opts),
					 ARRAY_SIZE(remove_opts), ARRAY_SIZE(lookup_opts),
					 ARRAY_SIZE(feeds_opts), 0, ARRAY_SIZE(hunt_opts) };
	struct cli_args a = { 0 };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int which, rc;

	if ((rc = cli_verb(&argc, &argv, &ti_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - ti_verbs);
	verb_args(which, &op, &a, opts, n_opts);
	a.usage = verb->usage;
	a.about = verb->about;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if ((which == IMPORT || which == REMOVE) && !op.source)
		return cli_usage_error(a.cmd, a.usage, "--source NAME is required");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if (which == IMPORT)
		rc = ti_import(&c, &op, &e);
	else if (which == FETCH)
		rc = ti_fetch(&c, &op, &e);
	else if (which == HUNT)
		rc = ti_hunt(&c, &op, &e);
	else if ((rc = meta_open(&m, c.data_dir, &e)) < 0)
		rc = cli_fail(&e);
	else if (which == LIST)
		rc = ti_list(m, &op, &e);
	else if (which == REMOVE)
		rc = ti_remove(m, &op, &e);
	else if (which == FEEDS)
		rc = ti_feeds(m, &c, &op, &e);
	else
		rc = ti_lookup_cmd(m, &op, &e);
	meta_close(m);
	config_release(&c);
	return rc;
}

/* ---- the matcher of ingest and rule test ---- */

int cli_ti_matcher(const struct config *c, struct meta *m, struct alert_sink *alerts,
		   struct ti_snapshot **snap, struct timatch **t, struct err *e)
{
	struct timatch_config tc = { .workers = 1, .alerts = alerts,
				     .dedupe_window_ns = (int64_t)c->ti_dedupe_window * NS_PER_SEC };
	int rc;

	*t = NULL;
	if ((rc = ti_snapshot_load(m, time_now_ns(), snap, e)) < 0)
		return rc;
	tc.snapshot = *snap;
	if ((rc = timatch_new(t, &tc, e)) < 0) {
		ti_snapshot_free(*snap);
		*snap = NULL;
	}
	return rc;
}
