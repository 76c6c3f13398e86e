/*
 * rule.c - `koban rule check|test|list`: Sigma rules (detect/sigma.h) from the command line.
 *
 * check loads rule files and says what was rejected or is unsupported, and why; test runs
 * rules over JSON lines (or raw logs with --format) and prints each match; list shows the
 * rules a configuration loads. See docs/detection.md, "Sigma rules".
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "detect/correl.h"
#include "detect/detect.h"
#include "detect/sigma.h"
#include "enrich/timatch.h"
#include "enrich/tisnap.h"
#include "parse/decoder.h"
#include "parse/ecs.h"
#include "pipeline/pipeline.h"
#include "store/meta.h"

#include <limits.h>
#include <unistd.h>

#define CHECK_USAGE "rule check [-c FILE] FILES..."
#define TEST_USAGE "rule test [--json] [--format F] [-c FILE] RULES... EVENTS"
#define LIST_USAGE "rule list [--json] [-c FILE] [FILES...]"
#define ARGS_MAX 4096
#define LINE_MAX_BYTES (ECS_LINE_MAX)
#define EVENT_ARENA_MAX (64u << 20)

static const struct cli_verb rule_verbs[] = {
	{ "check", CHECK_USAGE,
	  "Loads every Sigma rule of FILES (files, or directories searched for *.yml and\n"
	  "*.yaml) and prints FILE:LINE: ID: REASON for each rejected rule or unsupported\n"
	  "feature, then \"N rules, N correlations, N filters, N rejected\". Exit 0 when\n"
	  "nothing was rejected, 1 otherwise." },
	{ "test", TEST_USAGE,
	  "Runs the rules of RULES (files or directories) over EVENTS, the last argument:\n"
	  "JSON lines (any JSON object per line, nested objects flattened with dots, arrays\n"
	  "of objects into multi-valued fields; every rule applies to them), or raw logs with\n"
	  "--format F, decoded as `koban parse --format F` does. Prints one line\n"
	  "per match in event order; with --json {\"rule\": ID, \"title\": T, \"line\": N}.\n"
	  "Exit 1 when a rule was rejected or an event line could not be read." },
	{ "list", LIST_USAGE,
	  "Lists the rules the configuration loads (detect.rules) and those of FILES: id,\n"
	  "title, level, logsource, status, file." },
};

static const struct cli_command rule_command = {
	"rule", CHECK_USAGE "\n       koban " TEST_USAGE "\n       koban " LIST_USAGE,
	"Sigma detection rules (docs/detection.md). Per tenant: koban rule\n"
	"enable|disable|tune|policy|history (`koban help rule enable`).\n"
	"`koban help rule VERB` describes one sub-command.",
	rule_verbs, ARRAY_SIZE(rule_verbs),
};

/* Where rejected rules are reported: stdout for check, stderr for test and list. */
static void print_report(void *ctx, const char *file, unsigned line, const char *id,
			 const char *reason)
{
	FILE *f = ctx;

	if (line)
		fprintf(f, "%s:%u: %s: %s\n", file, line, id, reason);
	else
		fprintf(f, "%s: %s: %s\n", file, id, reason);
}

/* A set with the configuration's placeholders and disabled ids, reporting to f. */
static int new_set(struct sigma_set **s, const struct config *c, FILE *f,
		   struct sigma_placeholder **ph, struct detect_correlations *corr, struct err *e)
{
	struct sigma_options opt = { .correlation = detect_collect_correlation,
				     .correlation_ctx = corr };
	int rc;

	if ((rc = detect_placeholders(c, ph)) < 0)
		return err_set(e, rc, "out of memory");
	opt.placeholders = *ph;
	opt.n_placeholders = c->n_detect_placeholders;
	opt.disable = (const char *const *)c->detect_disable;
	opt.n_disable = c->n_detect_disable;
	opt.report = print_report;
	opt.report_ctx = f;
	if ((rc = sigma_set_new(s, &opt)) < 0)
		return err_set(e, rc, "out of memory");
	return 0;
}

static int load_paths(struct sigma_set *s, const char *const *paths, size_t n, struct err *e)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = sigma_set_load_path(s, paths[i], e);
	return rc < 0 ? rc : sigma_set_finish(s, e);
}

/* Detection over the given rule files only, inline (one thread), reporting to f. */
static int new_detect(struct detect **d, const struct config *c, const char *const *paths,
		      size_t n, bool as_given, FILE *f,
		      void (*on_result)(void *, const struct detect_result *), void *ctx,
		      struct timatch *ti, struct err *e)
{
	struct detect_config dc = {
		.cfg = c, .workers = 1, .mode = DETECT_INLINE, .paths = paths, .n_paths = n,
		.only_paths = true, .fields_as_given = as_given, .on_result = on_result,
		.result_ctx = ctx, .report = print_report, .report_ctx = f, .ti = ti,
	};

	return detect_new(d, &dc, e);
}

static int rule_check(const struct config *c, const char *const *files, size_t n,
		      struct err *e)
{
	struct detect_counts k;
	struct detect *d = NULL;
	int rc;

	if ((rc = new_detect(&d, c, files, n, false, stdout, NULL, NULL, NULL, e)) < 0)
		return rc;
	detect_counts(d, &k);
	printf("%zu rules, %zu correlations, %zu filters, %zu rejected\n", k.rules,
	       k.correlations, k.filters, k.rejected);
	detect_free(d);
	return k.rejected ? 1 : 0;
}

/* ---- test ---- */

struct test_run {
	struct detect *detect;
	const char *events;  /* the file's name */
	bool json;
	int write_rc;        /* the first failure to print a result */
	struct arena arena;
	struct buf out;
	bool failed;         /* an unreadable line */
	/* --format: raw lines through the pipeline of `koban parse` */
	struct pipeline *pipeline;
	struct msg *msg;     /* the current line, room for max bytes */
	size_t max;
	size_t lineno;
	bool match;          /* the second pass: match and print */
	struct ti_snapshot *indicators; /* koban.db's global indicators, when it exists */
	struct timatch *ti;
};

static int print_head(struct test_run *t, const struct detect_result *r)
{
	int rc = 0;

	if (!t->json)
		return buf_addf(&t->out, "%s: %s%s%s%s", r->rule_id, r->title,
				*r->level ? " (" : "", r->level, *r->level ? ")" : "");
	rc = err_first(rc, buf_adds(&t->out, "{\"rule\": "));
	rc = err_first(rc, json_add_string(&t->out, r->rule_id, strlen(r->rule_id)));
	rc = err_first(rc, buf_adds(&t->out, ", \"title\": "));
	return err_first(rc, json_add_string(&t->out, r->title, strlen(r->title)));
}

static int print_correlation(struct test_run *t, const struct detect_result *r)
{
	int rc = buf_adds(&t->out, t->json ? ", \"group\": {" : " [");

	for (size_t i = 0; i < r->ngroup; i++) {
		const char *f = r->group_fields[i];

		rc = err_first(rc, buf_adds(&t->out, i ? ", " : ""));
		if (t->json) {
			rc = err_first(rc, json_add_string(&t->out, f, strlen(f)));
			rc = err_first(rc, buf_adds(&t->out, ": "));
			rc = err_first(rc, json_add_string(&t->out, r->group_values[i],
							   r->group_lens[i]));
		} else {
			rc = err_first(rc, buf_addf(&t->out, "%s=%.*s", f, (int)r->group_lens[i],
						    r->group_values[i]));
		}
	}
	rc = err_first(rc, buf_adds(&t->out, t->json ? "}, \"lines\": [" : "] lines "));
	for (size_t i = 0; i < r->nrefs; i++)
		rc = err_first(rc, buf_addf(&t->out, "%s%llu", i ? (t->json ? ", " : ",") : "",
					    (unsigned long long)r->refs[i]));
	return err_first(rc, buf_adds(&t->out, t->json ? "]}\n" : "\n"));
}

/* detect's on_result: one line per match or correlation result. */
static void print_result(void *ctx, const struct detect_result *r)
{
	struct test_run *t = ctx;
	int rc;

	buf_reset(&t->out);
	if (!t->json && !r->correlation)
		rc = buf_addf(&t->out, "%s:%llu: ", t->events, (unsigned long long)r->ref);
	else
		rc = t->json ? 0 : buf_addf(&t->out, "%s: ", t->events);
	rc = err_first(rc, print_head(t, r));
	if (r->correlation)
		rc = err_first(rc, print_correlation(t, r));
	else if (t->json)
		rc = err_first(rc, buf_addf(&t->out, ", \"line\": %llu}\n",
					    (unsigned long long)r->ref));
	else
		rc = err_first(rc, buf_addch(&t->out, '\n'));
	if (rc >= 0 && fwrite(t->out.p, 1, t->out.len, stdout) != t->out.len)
		rc = -EIO;
	if (rc < 0 && !t->write_rc)
		t->write_rc = rc;
}

/* struct pipeline_output: each event decoded from the current raw line, with its origin. */
static int on_decoded(void *ctx, unsigned worker, unsigned slot, struct event *ev)
{
	struct test_run *t = ctx;
	struct pipeline_origin o = { slot, NULL, NULL, t->msg->received_ns };

	if (t->match)
		detect_event(t->detect, 0, &o, ev, t->lineno);
	return 0;
}
/* One raw line (--format) through the pipeline; a line that does not decode is reported. */
static int raw_line(struct test_run *t, const char *line, size_t len, size_t lineno)
{
	struct pipeline_counts c = { 0 };
	struct err e = ERR_INIT;
	int rc;

	t->lineno = lineno;
	if (len > t->max && t->match) /* as a listener would: cut, marked in log.flags */
		fprintf(stderr, "%s:%zu: line longer than %zu bytes, cut\n", t->events, lineno,
			t->max);
	t->msg->truncated = len > t->max;
	t->msg->len = (uint32_t)MIN(len, t->max);
	memcpy(t->msg->data, line, t->msg->len);
	rc = pipeline_event(t->pipeline, 0, t->msg, &c, &e);
	if (rc < 0 && t->match) {
		fprintf(stderr, "%s:%zu: %s\n", t->events, lineno,
			e.msg[0] ? e.msg : "the event could not be made");
		t->failed = true;
	}
	return rc == -ENOMEM ? rc : 0;
}

/* One line: decoded (match: every rule run on it; else only its names interned). */
static int test_line(struct test_run *t, const char *line, size_t len, size_t lineno,
		     bool match)
{
	struct err e = ERR_INIT;
	struct event ev;
	int rc;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (!len)
		return 0;
	t->match = match;
	if (t->pipeline)
		return raw_line(t, line, len, lineno);
	arena_clear(&t->arena);
	event_init(&ev, &t->arena);
	if ((rc = ecs_decode_flags(&ev, line, len, ECS_FLATTEN_ARRAYS, &e)) < 0) {
		if (match) {
			fprintf(stderr, "%s:%zu: %s\n", t->events, lineno, e.msg);
			t->failed = true;
		}
		return rc == -ENOMEM ? rc : 0;
	}
	if (match)
		detect_event(t->detect, 0, NULL, &ev, lineno); /* JSON: every rule applies */
	return 0;
}

/* --format F: the pipeline of `koban parse` (one worker), its events handed to on_decoded. */
static int start_pipeline(struct test_run *t, const struct config *c, const char *format,
			  struct err *e)
{
	struct pipeline_config pc = {
		.workers = 1,
		.max_message_size = c->max_message_size,
		.flush_bytes = 1 << 16,
		.output = { .ctx = t, .event = on_decoded },
	};
	const char *zone = c->timezone;
	const struct tz *tz = NULL;
	int f, rc;

	if ((f = decoder_check(format, e)) < 0)
		return f;
	if (zone && !(tz = tz_get(zone, strlen(zone), e)))
		return e->code < 0 ? e->code : -EINVAL;
	if ((rc = decoder_configure(c, e)) < 0)
		return rc;
	t->max = c->max_message_size;
	if (!(t->msg = msg_new(NULL, (uint32_t)t->max)))
		return err_set(e, -ENOMEM, "out of memory");
	t->msg->format = (uint8_t)f;
	t->msg->tz = tz;
	t->msg->received_ns = time_now_ns();
	return pipeline_new(&t->pipeline, &pc, e);
}

/*
 * The next line of f into line (without its newline), at most LINE_MAX_BYTES: 1, 0 at the
 * end, -E2BIG for a longer line (its rest is skipped), -EIO.
 */
static int next_line(FILE *f, struct buf *line)
{
	char chunk[65536];
	bool too_long = false;

	buf_reset(line);
	while (fgets(chunk, sizeof(chunk), f)) {
		size_t n = strlen(chunk);
		bool end = n && chunk[n - 1] == '\n';

		if (!too_long && buf_add(line, chunk, end ? n - 1 : n) < 0)
			too_long = true;
		if (end)
			return too_long ? -E2BIG : 1;
	}
	if (ferror(f))
		return -EIO;
	return too_long ? -E2BIG : line->len ? 1 : 0;
}

/* Every line of the events file through test_line. */
static int read_events(struct test_run *t, bool match, struct err *e)
{
	FILE *f = fopen(t->events, "rb");
	struct buf line = BUF_INIT(LINE_MAX_BYTES);
	size_t lineno = 0;
	int rc = 0, got;

	if (!f)
		return err_set(e, -errno, "%s: %s", t->events, strerror(errno));
	while (rc >= 0 && (got = next_line(f, &line)) != 0) {
		lineno++;
		if (got == -EIO) {
			rc = err_set(e, -EIO, "%s:%zu: read error", t->events, lineno);
		} else if (got == -E2BIG) {
			if (match) {
				fprintf(stderr, "%s:%zu: expected a line of at most %u bytes\n",
					t->events, lineno, LINE_MAX_BYTES);
				t->failed = true;
			}
		} else if ((rc = test_line(t, line.p, line.len, lineno, match)) < 0) {
			rc = err_set(e, rc, "%s:%zu: %s", t->events, lineno, strerror(-rc));
		}
	}
	buf_release(&line);
	fclose(f);
	return rc;
}

/*
 * The global indicators of the configuration's koban.db, when there is one (rule test makes
 * none), so that rules reading threat.enrichments see what serve would add.
 */
static int load_indicators(struct test_run *t, const struct config *c, struct err *e)
{
	struct meta *m = NULL;
	char path[PATH_MAX];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/koban.db", c->data_dir) >= sizeof(path) ||
	    access(path, F_OK) != 0)
		return 0;
	if ((rc = meta_open(&m, c->data_dir, e)) < 0)
		return rc;
	rc = cli_ti_matcher(c, m, NULL, &t->indicators, &t->ti, e);
	meta_close(m);
	return rc;
}

static int rule_test(const struct config *c, const char *const *args, size_t n, bool json,
		     const char *format, struct err *e)
{
	struct test_run t = { .events = args[n - 1], .json = json };
	struct detect_counts k;
	int rc;

	arena_init(&t.arena, 64 << 10, EVENT_ARENA_MAX);
	buf_init(&t.out, 1 << 20);
	if (format && (rc = start_pipeline(&t, c, format, e)) < 0)
		goto done;
	/*
	 * The events' field names first: a rule's field name is resolved once, exact then
	 * ignoring case, against the names known when it is compiled.
	 */
	if ((rc = read_events(&t, false, e)) < 0 || (rc = load_indicators(&t, c, e)) < 0 ||
	    (rc = new_detect(&t.detect, c, args, n - 1, !format, stderr, print_result, &t,
				 t.ti, e)) < 0 ||
	    (rc = read_events(&t, true, e)) < 0 || (rc = detect_finish(t.detect, e)) < 0)
		goto done;
	if (t.write_rc < 0 || fflush(stdout) != 0) {
		rc = err_set(e, -EIO, "cannot write the results");
		goto done;
	}
	detect_counts(t.detect, &k);
	rc = k.rejected || t.failed ? 1 : 0;
done:
	detect_free(t.detect);
	timatch_free(t.ti);
	ti_snapshot_free(t.indicators);
	pipeline_free(t.pipeline);
	if (t.msg)
		msg_free(t.msg);
	buf_release(&t.out);
	arena_release(&t.arena);
	return rc;
}

/* ---- list ---- */

/* One line of `rule list`: a detection rule or a correlation (which has no logsource). */
struct list_row {
	const char *id, *title, *level, *status, *file;
	const char *ls[3]; /* category, product, service; NULL: not named */
};

static int list_json(struct buf *b, const struct list_row *row)
{
	static const char *const keys[] = { "category", "product", "service" };
	const char *meta[][2] = { { "id", row->id }, { "title", row->title },
				  { "level", row->level }, { "status", row->status },
				  { "file", row->file } };
	bool first = true;
	int rc = buf_addch(b, '{');

	for (size_t i = 0; i < ARRAY_SIZE(meta); i++) {
		rc = err_first(rc, buf_adds(b, i ? ", \"" : "\""));
		rc = err_first(rc, buf_adds(b, meta[i][0]));
		rc = err_first(rc, buf_adds(b, "\": "));
		rc = err_first(rc, json_add_string(b, meta[i][1], strlen(meta[i][1])));
		if (i == 2) {
			rc = err_first(rc, buf_adds(b, ", \"logsource\": {"));
			for (size_t k = 0; k < 3; k++) {
				if (!row->ls[k])
					continue;
				rc = err_first(rc, buf_addf(b, "%s\"%s\": ", first ? "" : ", ", keys[k]));
				rc = err_first(rc, json_add_string(b, row->ls[k], strlen(row->ls[k])));
				first = false;
			}
			rc = err_first(rc, buf_addch(b, '}'));
		}
	}
	return err_first(rc, buf_adds(b, "}\n"));
}

static int list_row(struct buf *b, const struct list_row *row, bool json)
{
	int rc;

	buf_reset(b);
	if (json)
		rc = list_json(b, row);
	else
		rc = buf_addf(b, "%s\t%s\t%s\t%s/%s/%s\t%s\t%s\n", row->id, row->title, row->level,
			      row->ls[0] ? row->ls[0] : "-", row->ls[1] ? row->ls[1] : "-",
			      row->ls[2] ? row->ls[2] : "-", row->status, row->file);
	if (rc >= 0 && fwrite(b->p, 1, b->len, stdout) != b->len)
		rc = -EIO;
	return rc;
}

/* The correlations the loader met, after the rules. */
static int list_correlations(const struct detect_correlations *dc, struct buf *b, bool json)
{
	struct correl_rule **cr = dc->v;
	size_t n = dc->n;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		char where[4200];
		struct list_row row = { correl_rule_key(cr[i]), cr[i]->title,
					cr[i]->level ? cr[i]->level : "",
					cr[i]->status ? cr[i]->status : "", cr[i]->file,
					{ NULL, NULL, NULL } };

		if (!row.id) { /* FILE:LINE, as for rules without id or name */
			snprintf(where, sizeof(where), "%s:%d", cr[i]->file, cr[i]->line);
			row.id = where;
		}
		if (rc >= 0)
			rc = list_row(b, &row, json);
	}
	return rc;
}

static int rule_list(struct sigma_set *s, const struct detect_correlations *corr,
		     const struct config *c, const char *const *files, size_t n, bool json,
		     struct err *e)
{
	struct buf b = BUF_INIT(1 << 20);
	int rc = 0;

	rc = detect_load_bundled(s, e);
	for (size_t i = 0; i < c->n_detect_rules && rc >= 0; i++)
		rc = sigma_set_load_path(s, c->detect_rules[i], e);
	if (rc < 0 || (rc = load_paths(s, files, n, e)) < 0)
		return rc;
	for (size_t i = 0; i < sigma_set_size(s) && rc >= 0; i++) {
		const struct sigma_rule *r = sigma_set_rule(s, i);
		const struct sigma_logsource *ls = sigma_rule_logsource(r);
		struct list_row row = { sigma_rule_id(r), sigma_rule_title(r), sigma_rule_level(r),
					sigma_rule_status(r), sigma_rule_file(r),
					{ ls->category, ls->product, ls->service } };

		rc = list_row(&b, &row, json);
	}
	if (rc >= 0)
		rc = list_correlations(corr, &b, json);
	buf_release(&b);
	return rc < 0 ? err_set(e, rc, "cannot write the list (%s)", strerror(-rc)) : 0;
}

/*
 * Whether the command's verb (after -c FILE, or after help) is one of the rule policy's:
 * enable, disable, tune, policy, history (cli/rulepolicy.c).
 */
static bool policy_verb(int argc, char **argv)
{
	static const char *const verbs[] = { "enable", "disable", "tune", "policy", "history" };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
			i++;
			continue;
		}
		if (!strcmp(argv[i], "help") || argv[i][0] == '-')
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(verbs); k++)
			if (!strcmp(argv[i], verbs[k]))
				return true;
		return false;
	}
	return false;
}

int cmd_rule(int argc, char **argv)
{
	static const char *const names[] = { "FILES" };
	static const char *const test_names[] = { "RULES", "EVENTS" };
	const struct cli_verb *verb;
	const char *format = NULL;
	bool json = false;
	const struct cli_option test_opts[] = { CLI_FLAG("json", &json),
						CLI_VALUE("format", &format) };
	const struct cli_option list_opts[] = { CLI_FLAG("json", &json) };
	const char **pos = NULL;
	struct cli_args a = { .pos_names = names };
	struct sigma_placeholder *ph = NULL;
	struct sigma_set *s = NULL;
	struct detect_correlations corr = { NULL, 0, 0 };
	struct err e = ERR_INIT;
	struct config c;
	size_t n = 0;
	int rc;

	if (policy_verb(argc, argv))
		return cli_rule_policy(argc, argv);
	if ((rc = cli_verb(&argc, &argv, &rule_command, &verb)) >= 0)
		return rc;
	pos = mem_calloc(ARGS_MAX + 1, sizeof(*pos));
	if (!pos) {
		fprintf(stderr, "koban: rule: out of memory\n");
		return 1;
	}
	a.pos = pos;
	a.usage = verb->usage;
	a.about = verb->about;
	a.max_pos = ARGS_MAX;
	if (verb == &rule_verbs[0]) {
		a.cmd = "rule check";
		a.min_pos = 1;
	} else if (verb == &rule_verbs[1]) {
		a.cmd = "rule test";
		a.min_pos = 2;
		a.pos_names = test_names;
		a.opts = test_opts;
		a.n_opts = ARRAY_SIZE(test_opts);
	} else {
		a.cmd = "rule list";
		a.opts = list_opts;
		a.n_opts = ARRAY_SIZE(list_opts);
	}
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		goto out;
	while (n < ARGS_MAX && pos[n])
		n++;
	if (format && decoder_check(format, &e) < 0) {
		rc = cli_usage_error(a.cmd, a.usage, "--format: %s", e.msg);
		goto out;
	}
	if ((rc = cli_load_config(&argc, argv, &c)))
		goto out;
	if (verb == &rule_verbs[0])
		rc = rule_check(&c, pos, n, &e);
	else if (verb == &rule_verbs[1])
		rc = rule_test(&c, pos, n, json, format, &e);
	else if ((rc = new_set(&s, &c, stderr, &ph, &corr, &e)) == 0)
		rc = rule_list(s, &corr, &c, pos, n, json, &e);
	rc = rc < 0 ? cli_fail(&e) : rc;
	detect_correlations_release(&corr);
	sigma_set_free(s);
	mem_free(ph);
	config_release(&c);
out:
	mem_free(pos);
	return rc;
}
