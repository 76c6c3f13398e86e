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
#include "detect/sigma.h"
#include "parse/decoder.h"
#include "parse/ecs.h"
#include "pipeline/pipeline.h"

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
	"Sigma detection rules (docs/detection.md).\n"
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

/* detect.placeholders of the configuration as the loader's table. */
static int placeholders(const struct config *c, struct sigma_placeholder **out, size_t *n)
{
	*out = NULL;
	*n = c->n_detect_placeholders;
	if (!*n)
		return 0;
	*out = mem_calloc(*n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		(*out)[i].name = c->detect_placeholders[i].name;
		(*out)[i].values = (const char *const *)c->detect_placeholders[i].values;
		(*out)[i].n = c->detect_placeholders[i].n_values;
	}
	return 0;
}

/* A set with the configuration's placeholders and disabled ids, reporting to f. */
static int new_set(struct sigma_set **s, const struct config *c, FILE *f,
		   struct sigma_placeholder **ph, struct err *e)
{
	struct sigma_options opt = { 0 };
	int rc;

	if ((rc = placeholders(c, ph, &opt.n_placeholders)) < 0)
		return err_set(e, rc, "out of memory");
	opt.placeholders = *ph;
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

static int rule_check(struct sigma_set *s, const char *const *files, size_t n, struct err *e)
{
	struct sigma_counts k;
	int rc;

	if ((rc = load_paths(s, files, n, e)) < 0)
		return rc;
	sigma_set_counts(s, &k);
	printf("%zu rules, %zu correlations, %zu filters, %zu rejected\n", k.rules,
	       k.correlations, k.filters, k.rejected);
	return k.rejected ? 1 : 0;
}

/* ---- test ---- */

struct test_run {
	struct sigma_set *set;
	struct sigma_scratch *sc;
	const char *events;  /* the file's name */
	bool json;
	struct arena arena;
	struct buf out;
	bool failed;         /* an unreadable line */
	/* --format: raw lines through the pipeline of `koban parse` */
	struct pipeline *pipeline;
	struct msg *msg;     /* the current line, room for max bytes */
	size_t max;
	size_t lineno;
	bool match;          /* the second pass: match and print */
};

static int print_match(struct test_run *t, const struct sigma_rule *r, size_t lineno)
{
	const char *id = sigma_rule_id(r), *title = sigma_rule_title(r);
	int rc = 0;

	buf_reset(&t->out);
	if (t->json) {
		rc = err_first(rc, buf_adds(&t->out, "{\"rule\": "));
		rc = err_first(rc, json_add_string(&t->out, id, strlen(id)));
		rc = err_first(rc, buf_adds(&t->out, ", \"title\": "));
		rc = err_first(rc, json_add_string(&t->out, title, strlen(title)));
		rc = err_first(rc, buf_addf(&t->out, ", \"line\": %zu}\n", lineno));
	} else {
		rc = buf_addf(&t->out, "%s:%zu: %s: %s%s%s%s\n", t->events, lineno, id, title,
			      *sigma_rule_level(r) ? " (" : "", sigma_rule_level(r),
			      *sigma_rule_level(r) ? ")" : "");
	}
	if (rc < 0)
		return rc;
	return fwrite(t->out.p, 1, t->out.len, stdout) == t->out.len ? 0 : -EIO;
}

/*
 * Every rule on one event of line lineno. LEAD: decoded events (--format) get their
 * logsource here, from the field maps (fieldmap_logsource on event.dataset), and only the
 * rules it applies to are run (sigma_rule_applies); JSON events have none: every rule.
 */
static int match_event(struct test_run *t, const struct event *ev, size_t lineno)
{
	int rc;

	for (size_t i = 0; i < sigma_set_size(t->set); i++) {
		const struct sigma_rule *r = sigma_set_rule(t->set, i);

		if (sigma_rule_applies(r, NULL) && sigma_rule_match(r, ev, t->sc) &&
		    (rc = print_match(t, r, lineno)) < 0)
			return rc;
	}
	return 0;
}

/* struct pipeline_output: each event decoded from the current raw line. */
static int on_decoded(void *ctx, unsigned worker, unsigned slot, struct event *ev)
{
	struct test_run *t = ctx;

	return t->match ? match_event(t, ev, t->lineno) : 0;
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
	return match ? match_event(t, &ev, lineno) : 0;
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

static int rule_test(struct sigma_set *s, const struct config *c, const char *const *args,
		     size_t n, bool json, const char *format, struct err *e)
{
	struct test_run t = { .set = s, .events = args[n - 1], .json = json };
	struct sigma_counts k;
	int rc;

	arena_init(&t.arena, 64 << 10, EVENT_ARENA_MAX);
	buf_init(&t.out, 1 << 20);
	if (format && (rc = start_pipeline(&t, c, format, e)) < 0)
		goto done;
	/*
	 * The events' field names first: a rule's field name is resolved once, exact then
	 * ignoring case, against the names known when it is compiled.
	 */
	if ((rc = read_events(&t, false, e)) < 0 || (rc = load_paths(s, args, n - 1, e)) < 0)
		goto done;
	if ((rc = sigma_scratch_new(&t.sc, s)) < 0) {
		rc = err_set(e, rc, "out of memory");
		goto done;
	}
	if ((rc = read_events(&t, true, e)) < 0)
		goto done;
	if (fflush(stdout) != 0) {
		rc = err_set(e, -EIO, "cannot write the results");
		goto done;
	}
	sigma_set_counts(s, &k);
	rc = k.rejected || t.failed ? 1 : 0;
done:
	pipeline_free(t.pipeline);
	if (t.msg)
		msg_free(t.msg);
	sigma_scratch_free(t.sc);
	buf_release(&t.out);
	arena_release(&t.arena);
	return rc;
}

/* ---- list ---- */

static int list_json(struct buf *b, const struct sigma_rule *r)
{
	const struct sigma_logsource *ls = sigma_rule_logsource(r);
	const char *keys[] = { "category", "product", "service" };
	const char *vals[] = { ls->category, ls->product, ls->service };
	const char *meta[][2] = { { "id", sigma_rule_id(r) }, { "title", sigma_rule_title(r) },
				  { "level", sigma_rule_level(r) }, { "status", sigma_rule_status(r) },
				  { "file", sigma_rule_file(r) } };
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
				if (!vals[k])
					continue;
				rc = err_first(rc, buf_addf(b, "%s\"%s\": ", first ? "" : ", ", keys[k]));
				rc = err_first(rc, json_add_string(b, vals[k], strlen(vals[k])));
				first = false;
			}
			rc = err_first(rc, buf_addch(b, '}'));
		}
	}
	return err_first(rc, buf_adds(b, "}\n"));
}

static int rule_list(struct sigma_set *s, const struct config *c, const char *const *files,
		     size_t n, bool json, struct err *e)
{
	struct buf b = BUF_INIT(1 << 20);
	int rc = 0;

	for (size_t i = 0; i < c->n_detect_rules && rc >= 0; i++)
		rc = sigma_set_load_path(s, c->detect_rules[i], e);
	if (rc < 0 || (rc = load_paths(s, files, n, e)) < 0)
		return rc;
	for (size_t i = 0; i < sigma_set_size(s) && rc >= 0; i++) {
		const struct sigma_rule *r = sigma_set_rule(s, i);
		const struct sigma_logsource *ls = sigma_rule_logsource(r);

		buf_reset(&b);
		if (json)
			rc = list_json(&b, r);
		else
			rc = buf_addf(&b, "%s\t%s\t%s\t%s/%s/%s\t%s\t%s\n", sigma_rule_id(r),
				      sigma_rule_title(r), sigma_rule_level(r),
				      ls->category ? ls->category : "-",
				      ls->product ? ls->product : "-",
				      ls->service ? ls->service : "-", sigma_rule_status(r),
				      sigma_rule_file(r));
		if (rc >= 0 && fwrite(b.p, 1, b.len, stdout) != b.len)
			rc = -EIO;
	}
	buf_release(&b);
	return rc < 0 ? err_set(e, rc, "cannot write the list (%s)", strerror(-rc)) : 0;
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
	struct err e = ERR_INIT;
	struct config c;
	size_t n = 0;
	int rc;

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
	if ((rc = new_set(&s, &c, verb == &rule_verbs[0] ? stdout : stderr, &ph, &e)) == 0) {
		if (verb == &rule_verbs[0])
			rc = rule_check(s, pos, n, &e);
		else if (verb == &rule_verbs[1])
			rc = rule_test(s, &c, pos, n, json, format, &e);
		else
			rc = rule_list(s, &c, pos, n, json, &e);
	}
	rc = rc < 0 ? cli_fail(&e) : rc;
	sigma_set_free(s);
	mem_free(ph);
	config_release(&c);
out:
	mem_free(pos);
	return rc;
}
