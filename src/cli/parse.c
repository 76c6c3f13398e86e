/*
 * parse.c - `koban parse`: one syslog message per input line in, one ECS JSON event per
 * line out. For tests and debugging; later decoders plug in here.
 */
#include "cli/cli.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/syslog.h"

#define USAGE "parse [-c FILE] [--format auto|rfc3164|rfc5424] [--tz ZONE] [FILE|-]"
#define LINE_MAX_BYTES (1u << 20)  /* longer lines are cut and reported */
#define READ_CHUNK 65536
#define OUT_FLUSH 65536
#define ARENA_CHUNK 65536
#define ARENA_MAX (64u << 20)

struct parse_run {
	const char *name;          /* input name for messages */
	FILE *in;
	struct syslog_opts opts;
	struct arena arena;
	struct buf line;           /* unread input, at most one line plus a chunk */
	struct buf out;            /* JSON waiting for stdout */
	size_t lineno;
	bool skipping;             /* dropping the rest of a line that was too long */
	bool failed;               /* some line did not parse */
};

/* KOBAN_PARSE_NOW: epoch seconds or RFC 3339 ("2026-03-15T03:00:00Z", "...+09:00"). */
static int parse_now(const char *s, int64_t *ns, struct err *e)
{
	struct civil_time c = { 0 };
	int n = 0, oh = 0, om = 0;
	char sign = 'Z';
	char *end;
	long long secs = strtoll(s, &end, 10);

	if (*s && !*end && end != s) {
		*ns = (int64_t)secs * NS_PER_SEC;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &c.year, &c.month, &c.day, &c.hour, &c.min,
		   &c.sec, &n) == 6 && c.month >= 1 && c.month <= 12 && c.day >= 1 &&
	    c.day <= time_days_in_month(c.year, c.month) && c.hour < 24 && c.min < 60 &&
	    c.sec < 60 &&
	    (!strcmp(s + n, "Z") ||
	     (sscanf(s + n, "%c%2d:%2d", &sign, &oh, &om) == 3 && (sign == '+' || sign == '-') &&
	      strlen(s + n) == 6))) {
		int64_t off = (oh * 3600 + om * 60) * (sign == '-' ? -1 : 1);

		*ns = time_from_civil_utc(&c) - off * NS_PER_SEC;
		return 0;
	}
	return err_set(e, -EINVAL, "KOBAN_PARSE_NOW='%s': expected epoch seconds or an RFC 3339 "
		       "time such as 2026-03-15T03:00:00Z", s);
}

static int flush_out(struct parse_run *r, bool force)
{
	if (!force && r->out.len < OUT_FLUSH)
		return 0;
	if (r->out.len && fwrite(r->out.p, 1, r->out.len, stdout) != r->out.len)
		return -EIO;
	buf_reset(&r->out);
	return force && fflush(stdout) ? -EIO : 0;
}

/* Parses one line (without its LF) and queues its JSON; 0 or a fatal error code. */
static int parse_line(struct parse_run *r, const char *p, size_t n)
{
	struct event ev;
	struct err e = ERR_INIT;
	int rc;

	if (n && p[n - 1] == '\r')
		n--;
	if (!n)
		return 0;
	arena_clear(&r->arena);
	event_init(&ev, &r->arena);
	if (syslog_parse(&ev, p, n, &r->opts, &e) < 0) {
		fprintf(stderr, "koban: %s:%zu: %s\n", r->name, r->lineno, e.msg);
		r->failed = true;
	}
	rc = event_write_json(&ev, &r->out);
	if (!rc)
		rc = buf_addch(&r->out, '\n');
	if (rc) {
		fprintf(stderr, "koban: %s:%zu: cannot write the event as JSON (%s)\n", r->name,
			r->lineno, strerror(-rc));
		return rc;
	}
	return flush_out(r, false);
}

/* Parses every complete line in r->line; a full buffer without LF is cut. */
static int drain_lines(struct parse_run *r, bool at_eof)
{
	size_t used = 0;
	int rc = 0;

	while (!rc && used < r->line.len) {
		const char *p = r->line.p + used;
		size_t left = r->line.len - used;
		const char *nl = memchr(p, '\n', left);
		size_t n = nl ? (size_t)(nl - p) : left;

		if (!nl && !at_eof && left < LINE_MAX_BYTES && !r->skipping)
			break; /* wait for the rest of the line */
		if (!r->skipping) {
			r->lineno++;
			if (!nl && !at_eof) {
				fprintf(stderr, "koban: %s:%zu: line longer than %u bytes, cut\n",
					r->name, r->lineno, LINE_MAX_BYTES);
				r->failed = true;
			}
			rc = parse_line(r, p, n);
		}
		r->skipping = !nl && !at_eof;
		used += nl ? n + 1 : n;
	}
	buf_consume(&r->line, used);
	return rc;
}

static int run(struct parse_run *r)
{
	int rc = 0;

	for (;;) {
		size_t got;

		if ((rc = buf_grow(&r->line, READ_CHUNK)) < 0)
			break;
		got = fread(r->line.p + r->line.len, 1, READ_CHUNK, r->in);
		r->line.len += got;
		r->line.p[r->line.len] = '\0';
		if (got == 0) {
			if (ferror(r->in)) {
				fprintf(stderr, "koban: %s: read error\n", r->name);
				rc = -EIO;
			} else {
				rc = drain_lines(r, true);
			}
			break;
		}
		if ((rc = drain_lines(r, false)) < 0)
			break;
	}
	if (!rc && flush_out(r, true) < 0) {
		fprintf(stderr, "koban: writing standard output: %s\n", strerror(errno));
		rc = -EIO;
	}
	return rc;
}

/* Options after -c was taken out; 0 or the usage status. */
static int parse_args(int argc, char **argv, const char **format, const char **zone,
		      const char **path)
{
	const char *fmt = NULL;
	static const char *const names[] = { "FILE" };
	const struct cli_option opts[] = { CLI_VALUE("format", &fmt), CLI_VALUE("tz", zone) };
	const struct cli_args a = { "parse", USAGE, NULL, opts, ARRAY_SIZE(opts), path, 0, 1,
				    names };
	int rc = cli_getopt(argc, argv, &a);

	if (fmt)
		*format = fmt;
	return rc < 0 ? 0 : rc == 0 ? 2 : rc; /* --help was answered before */
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

int cmd_parse(int argc, char **argv)
{
	struct parse_run r = { .opts = { SYSLOG_AUTO, NULL, 0 } };
	const char *format = "auto", *zone = NULL, *path = NULL, *now = getenv("KOBAN_PARSE_NOW");
	struct config c;
	struct err e = ERR_INIT;
	int status, f;

	if (wants_help(argc, argv)) {
		printf("usage: koban " USAGE "\n\n"
		       "Reads one syslog message per line (FILE, or standard input) and prints each\n"
		       "as one ECS JSON object per line. RFC 3164 stamps are read in --tz ZONE\n"
		       "(default: the configuration's timezone). Lines that do not parse are still\n"
		       "printed and reported on standard error; the exit status is then 1.\n"
		       "KOBAN_PARSE_NOW=TIME fixes the receive time (epoch seconds or RFC 3339).\n");
		return 0;
	}
	if ((status = cli_load_config(&argc, argv, &c)) != 0)
		return status;
	if ((status = parse_args(argc, argv, &format, &zone, &path)) != 0)
		goto out;
	status = 1;
	if ((f = syslog_format_from_name(format, strlen(format))) < 0) {
		err_set(&e, -EINVAL, "unknown --format '%s' (expected auto, rfc3164 or rfc5424)",
			format);
		goto fail;
	}
	r.opts.format = (enum syslog_format)f;
	if (!zone)
		zone = c.timezone;
	if (zone && !(r.opts.tz = tz_get(zone, strlen(zone), &e)))
		goto fail;
	r.opts.received_ns = time_now_ns();
	if (now && parse_now(now, &r.opts.received_ns, &e) < 0)
		goto fail;
	r.name = path && strcmp(path, "-") ? path : "stdin";
	r.in = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!r.in) {
		err_set(&e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	arena_init(&r.arena, ARENA_CHUNK, ARENA_MAX);
	buf_init(&r.line, LINE_MAX_BYTES + READ_CHUNK);
	buf_init(&r.out, OUT_FLUSH + LINE_MAX_BYTES * 16); /* escapes, twice */
	status = run(&r) < 0 || r.failed;
	buf_release(&r.out);
	buf_release(&r.line);
	arena_release(&r.arena);
	if (r.in != stdin)
		fclose(r.in);
	goto out;
fail:
	cli_fail(&e);
out:
	config_release(&c);
	return status;
}
