/*
 * parse.c - `koban parse` and `koban ingest`: one message per input line in, through the same
 * pipeline (src/pipeline) as `koban serve`, so all three make the same event of the same
 * bytes. `parse` prints each event as one ECS JSON line; `ingest` stores them in a tenant's
 * segments (src/store/store.h), or with --format ecs takes ECS JSON lines as `parse` prints
 * them. Lines longer than syslog.max_message_size are cut and marked truncated, as a
 * listener does.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "detect/detect.h"
#include "enrich/timatch.h"
#include "enrich/tisnap.h"
#include "parse/decoder.h"
#include "parse/ecs.h"
#include "pipeline/pipeline.h"
#include "portal/control.h"
#include "soc/alert.h"
#include "notify/notify.h"
#include "soc/soc.h"
#include "store/meta.h"
#include "store/seal.h"
#include "store/sink.h"
#include "store/store.h"

#define USAGE                                                                      \
	"parse [-c FILE] [--format F] [--tz ZONE] [FILE|-]\n"                         \
	"                   F: auto|panos|cef|leef|a10|azure|m365|squid|combined|bind|unbound|postfix|json|syslog|rfc3164|rfc5424"
#define READ_CHUNK 65536
#define OUT_FLUSH 65536
#define REMOTE_BATCH (512u << 10) /* bytes of ECS lines per frame to the daemon */

struct parse_run {
	const char *name;          /* input name for messages */
	FILE *in;
	struct pipeline *pipeline;
	struct msg *msg;           /* the current line, room for max bytes */
	size_t max;                /* syslog.max_message_size */
	struct buf line;           /* unread input, at most one line plus a chunk */
	size_t lineno;
	bool skipping;             /* dropping the rest of a line that was too long */
	bool failed;               /* some line did not parse */
	int out_error;             /* first write error on stdout */

	/* ingest */
	struct store_import *imp;  /* NULL for parse */
	int remote_fd;             /* > 0: through the running daemon's control socket */
	struct buf batch;          /* ECS JSON lines not sent to the daemon yet */
	uint32_t batch_count;
	bool ecs;                  /* --format ecs: lines are events already */
	const char *tenant;        /* organization.id/name of what is stored */
	struct detect *detect;     /* ingest: the rules on every event, inline */
	struct alert_sink *alerts; /* ingest: what they raise, into koban.db */
	struct meta *meta;         /* ingest: the tenants' rule policy */
	struct ti_snapshot *indicators; /* ingest: koban.db's indicators, loaded once */
	struct timatch *ti;        /* ingest: matching them, first in detection */
	struct arena arena;        /* one event at a time */
	uint64_t rejected;         /* lines not stored */
};

/* KOBAN_PARSE_NOW: epoch seconds or RFC 3339 ("2026-03-15T03:00:00Z", "...+09:00"). */
static int parse_now(const char *s, int64_t *ns, struct err *e)
{
	char *end;
	long long secs = strtoll(s, &end, 10);
	size_t bad;

	if (*s && !*end && end != s) {
		*ns = (int64_t)secs * NS_PER_SEC;
		return 0;
	}
	if (time_parse_rfc3339(s, strlen(s), ns, &bad) == 0)
		return 0;
	return err_set(e, -EINVAL, "KOBAN_PARSE_NOW='%s': expected epoch seconds or an RFC 3339 "
		       "time such as 2026-03-15T03:00:00Z", s);
}

/* struct pipeline_output: standard output. */
static int write_stdout(void *ctx, unsigned slot, struct buf *lines)
{
	struct parse_run *r = ctx;

	if (fwrite(lines->p, 1, lines->len, stdout) != lines->len) {
		if (!r->out_error)
			r->out_error = -EIO;
		return -EIO;
	}
	return 0;
}

/* Sends the batch of lines to the daemon as one DATA frame. */
static int send_batch(struct parse_run *r, struct err *e)
{
	int rc;

	if (!r->batch.len)
		return 0;
	if ((rc = control_send(r->remote_fd, CONTROL_DATA, r->batch.p, r->batch.len, e)) < 0)
		return rc == -EPIPE || rc == -ECONNRESET ? err_set(e, -EIO, "the running koban "
								     "closed the connection (see its log)")
							 : rc;
	buf_reset(&r->batch);
	r->batch_count = 0;
	return 0;
}

/* ev as one ECS JSON line into the batch for the daemon, sent when it is full. */
static int send_event(struct parse_run *r, const struct event *ev, struct err *e)
{
	size_t mark = r->batch.len;
	int rc;

	if ((rc = event_write_json(ev, &r->batch)) < 0 || (rc = buf_addch(&r->batch, '\n')) < 0) {
		buf_truncate(&r->batch, mark);
		return err_set(e, -EIO, "an event too large to send (%s)", strerror(-rc));
	}
	r->batch_count++;
	return r->batch.len >= REMOTE_BATCH ? send_batch(r, e) : 0;
}

/* The event decoded from line into the import (or the daemon), with the tenant as its organization. */
static int store_line(struct parse_run *r, const char *line, size_t n, struct err *e)
{
	struct event ev;
	int rc;

	arena_clear(&r->arena);
	event_init(&ev, &r->arena);
	if ((rc = ecs_decode_flags(&ev, line, n, ECS_CHECK_RANGES, e)) < 0)
		return rc;
	if ((rc = event_set_str(&ev, FIELD_ORGANIZATION_ID, r->tenant, strlen(r->tenant))) < 0 ||
	    (rc = event_set_str(&ev, FIELD_ORGANIZATION_NAME, r->tenant, strlen(r->tenant))) < 0)
		return err_set(e, rc, "cannot set the tenant: %s", strerror(-rc));
	if (r->detect)
		detect_event(r->detect, 0, &(struct pipeline_origin){ .slot = 0 }, &ev, r->lineno);
	if (r->imp)
		return store_import_add(r->imp, &ev, e);
	return send_event(r, &ev, e);
}

/*
 * struct pipeline_output for ingest: each event the pipeline made (organization.* already
 * set from the tenant), into the store as it is, without a detour through JSON (or, through
 * the daemon, as one ECS JSON line of a batch).
 */
static int write_event(void *ctx, unsigned worker, unsigned slot, struct event *ev)
{
	struct parse_run *r = ctx;
	struct err e = ERR_INIT;
	int rc;

	if (r->out_error)
		return r->out_error; /* the store failed: the rest is not stored */
	rc = r->imp ? store_import_add(r->imp, ev, &e) : send_event(r, ev, &e);
	if (rc < 0) {
		fprintf(stderr, "koban: %s: cannot store an event: %s\n", r->name, e.msg);
		r->out_error = rc;
	}
	return rc;
}

/* --format ecs: the line is an event; one that does not decode is rejected and named. */
static int ingest_ecs_line(struct parse_run *r, const char *p, size_t n)
{
	struct err e = ERR_INIT;
	int rc = store_line(r, p, n, &e);

	if (rc == -ENOMEM || rc == -EIO || rc == -ENOSPC)
		return rc; /* the store failed: stop */
	if (rc < 0) {
		fprintf(stderr, "koban: %s:%zu: %s\n", r->name, r->lineno, e.msg);
		r->rejected++;
	}
	return 0;
}

/* Runs one line (without its LF) through the pipeline; 0 or a fatal error code. */
static int parse_line(struct parse_run *r, const char *p, size_t n, bool cut)
{
	struct pipeline_counts c = { 0 };
	struct err e = ERR_INIT;
	int rc;

	if (n && p[n - 1] == '\r' && !cut)
		n--;
	if (!n)
		return 0;
	if (n > r->max) {
		n = r->max;
		cut = true;
	}
	if (cut && r->ecs) {
		fprintf(stderr, "koban: %s:%zu: line longer than %zu bytes, rejected\n", r->name,
			r->lineno, r->max);
		r->rejected++;
		return 0;
	}
	if (cut) {
		fprintf(stderr, "koban: %s:%zu: line longer than %zu bytes, cut\n", r->name,
			r->lineno, r->max);
		r->failed = true;
	}
	if (r->ecs)
		return ingest_ecs_line(r, p, n);
	memcpy(r->msg->data, p, n);
	r->msg->len = (uint32_t)n;
	r->msg->truncated = cut;
	rc = pipeline_event(r->pipeline, 0, r->msg, &c, &e);
	if (rc == -ENOSPC && c.too_large) {
		fprintf(stderr, "koban: %s:%zu: cannot write the event as JSON\n", r->name,
			r->lineno);
		return rc;
	}
	if (rc < 0) {
		fprintf(stderr, "koban: %s:%zu: %s\n", r->name, r->lineno, e.msg);
		r->failed = true;
	}
	return r->out_error;
}

/* Parses every complete line in r->line; a line longer than the maximum is cut. */
static int drain_lines(struct parse_run *r, bool at_eof)
{
	size_t used = 0;
	int rc = 0;

	while (!rc && used < r->line.len) {
		const char *p = r->line.p + used;
		size_t left = r->line.len - used;
		const char *nl = memchr(p, '\n', left);
		size_t n = nl ? (size_t)(nl - p) : left;

		if (!nl && !at_eof && left <= r->max && !r->skipping)
			break; /* wait for the rest of the line */
		if (!r->skipping) {
			r->lineno++;
			rc = parse_line(r, p, n, !nl && !at_eof);
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
	if (!rc) {
		struct pipeline_counts c = { 0 };

		pipeline_flush(r->pipeline, 0, &c);
		if (r->imp || r->remote_fd > 0) {
			rc = r->out_error;
		} else if (r->out_error || fflush(stdout)) {
			fprintf(stderr, "koban: writing standard output: %s\n", strerror(errno));
			rc = -EIO;
		}
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

/* The pipeline of `koban parse`: one worker, standard output, the clock fixed by now. */
static const char *run_tenant(void *ctx, unsigned slot)
{
	return ((struct parse_run *)ctx)->tenant;
}

static int start(struct parse_run *r, const struct config *c, int64_t now, struct err *e)
{
	struct pipeline_config pc = {
		.workers = 1,
		.max_message_size = c->max_message_size,
		.flush_bytes = OUT_FLUSH,
		.clock_skew_max_ns = (int64_t)c->clock_skew_max * NS_PER_SEC,
		.fixed_now_ns = now,
		.tenant_name = r->tenant ? run_tenant : NULL,
		.tenant_ctx = r,
		.output = { .write = r->imp || r->remote_fd > 0 ? NULL : write_stdout,
			    .ctx = r,
			    .event = r->imp || r->remote_fd > 0 ? write_event : NULL },
		.inspect = { r->detect ? detect_inspect : NULL, r->detect },
	};

	int rc;

	if ((rc = decoder_configure(c, e)) < 0)
		return rc;
	r->max = r->ecs ? ECS_LINE_MAX : c->max_message_size;
	if (!(r->msg = msg_new(NULL, (uint32_t)r->max)))
		return err_set(e, -ENOMEM, "out of memory");
	buf_init(&r->line, r->max + READ_CHUNK + 1);
	return pipeline_new(&r->pipeline, &pc, e);
}

/*
 * Reads path (or standard input) through the pipeline into r's output: the part `parse` and
 * `ingest` share. Returns -1 after printing an error, else what run() gave (0 or negative).
 */
static int process(struct parse_run *r, const struct config *c, const char *format,
		   const char *zone, const char *path)
{
	const char *now = getenv("KOBAN_PARSE_NOW");
	const struct tz *tz = NULL;
	struct err e = ERR_INIT;
	int64_t received, fixed = 0;
	int f = 0;

	if (!r->ecs && (f = decoder_check(format, &e)) < 0)
		goto fail;
	if (!zone)
		zone = c->timezone;
	if (zone && !(tz = tz_get(zone, strlen(zone), &e)))
		goto fail;
	received = time_now_ns();
	if (now && parse_now(now, &received, &e) < 0)
		goto fail;
	if (now)
		fixed = received;
	r->name = path && strcmp(path, "-") ? path : "stdin";
	r->in = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!r->in) {
		err_set(&e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (start(r, c, fixed, &e) < 0)
		goto fail;
	r->msg->format = (uint8_t)f;
	r->msg->tz = tz;
	r->msg->received_ns = received;
	return run(r);
fail:
	cli_fail(&e);
	return -1;
}

static void run_release(struct parse_run *r)
{
	if (r->in && r->in != stdin)
		fclose(r->in);
	pipeline_free(r->pipeline);
	buf_release(&r->line);
	if (r->msg)
		msg_free(r->msg);
	arena_release(&r->arena);
}

int cmd_parse(int argc, char **argv)
{
	struct parse_run r = { 0 };
	const char *format = "auto", *zone = NULL, *path = NULL;
	struct config c;
	int status;

	if (wants_help(argc, argv)) {
		printf("usage: koban " USAGE "\n\n"
		       "Reads one message per line (FILE, or standard input) and prints each as one\n"
		       "ECS JSON object per line, exactly as `koban serve` would store it (without\n"
		       "the tenant and sender fields). RFC 3164 stamps are read in --tz ZONE\n"
		       "(default: the configuration's timezone, normally this machine's zone).\n"
		       "Lines that do not parse are printed as events of kind pipeline_error and\n"
		       "reported on standard error; the exit status is then 1.\n"
		       "KOBAN_PARSE_NOW=TIME fixes the receive and ingest time (epoch seconds or\n"
		       "RFC 3339).\n");
		return 0;
	}
	if ((status = cli_load_config(&argc, argv, &c)) != 0)
		return status;
	if ((status = parse_args(argc, argv, &format, &zone, &path)) == 0)
		status = process(&r, &c, format, zone, path) < 0 || r.failed;
	run_release(&r);
	config_release(&c);
	return status;
}

/* ---- ingest ---- */

#define INGEST_USAGE                                                                       \
	"ingest [-c FILE] --tenant NAME [--format ecs|F] [--tz ZONE] [--notify] [--no-wait] [FILE|-]\n" \
	"                    F: auto|panos|cef|leef|a10|azure|m365|squid|combined|bind|unbound|postfix|json|syslog|rfc3164|rfc5424"

static int ingest_args(int argc, char **argv, const char **tenant, const char **format,
		       const char **zone, const char **path, bool *notify, bool *no_wait)
{
	static const char *const names[] = { "FILE" };
	const struct cli_option opts[] = { CLI_VALUE("tenant", tenant), CLI_VALUE("format", format),
					   CLI_VALUE("tz", zone), CLI_FLAG("notify", notify),
					   CLI_FLAG("no-wait", no_wait) };
	const struct cli_args a = {
		"ingest", INGEST_USAGE,
		"Stores the messages of FILE (or standard input), one per line, in the tenant's\n"
		"event store through the same pipeline as `koban serve`; with --format ecs the\n"
		"lines are ECS JSON events as `koban parse` prints them (@timestamp is the event\n"
		"time). When it returns, they are sealed in segments and any `koban search` finds\n"
		"them. While a `koban serve` holds the data directory they go through its control\n"
		"socket into its write-ahead log, and its sealer is asked to seal them; with\n"
		"--no-wait it returns once they are committed to the log (durable, found by every\n"
		"search), sealed by the daemon in its own time. Prints what was stored; lines it\n"
		"could not take are named with their line numbers. The incidents' notices\n"
		"(docs/notify.md) are planned and logged but not sent, unless --notify is given.\n"
		"Exit status: 0 all stored, 3 some lines rejected, 1 nothing stored or an error.",
		opts, ARRAY_SIZE(opts), path, 0, 1, names,
	};
	int rc = cli_getopt(argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (!*tenant)
		return cli_usage_error("ingest", INGEST_USAGE, "missing --tenant NAME");
	return -1;
}

static int ingest_status(const struct parse_run *r, const struct store_import_stats *st)
{
	printf("stored %llu events of %zu lines in %llu segments (%llu bytes)",
	       (unsigned long long)st->events, r->lineno, (unsigned long long)st->segments,
	       (unsigned long long)st->bytes);
	if (r->rejected)
		printf(", %llu lines rejected", (unsigned long long)r->rejected);
	printf("\n");
	if (!st->events && r->lineno)
		return 1;
	return r->rejected ? 3 : 0;
}

/* Through the daemon: rejects are printed here as they are found, the stored count comes back. */
static int ingest_through(struct parse_run *r, const struct config *c, int fd,
			  const char *format, const char *zone, const char *path, bool no_wait)
{
	const char *keys[] = { "tenant", "wait" };
	const char *values[] = { r->tenant, no_wait ? "committed" : NULL };
	struct err e = ERR_INIT;
	char *reply = NULL;
	size_t reply_len = 0;
	FILE *out = NULL;
	int status = 1, rc;
	unsigned long long stored = 0;

	r->remote_fd = fd;
	buf_init(&r->batch, CONTROL_FRAME_MAX);
	if (control_send_request(fd, "ingest", keys, values, ARRAY_SIZE(keys), &e) < 0)
		goto fail;
	if ((rc = process(r, c, format, zone, path)) < 0) {
		if (rc == -1)
			goto out; /* explained */
		if (!e.msg[0])
			err_set(&e, rc, "%s: %s", r->name, strerror(-rc));
		goto fail;
	}
	if (send_batch(r, &e) < 0 || control_send(fd, CONTROL_END, NULL, 0, &e) < 0)
		goto fail;
	if (!(out = open_memstream(&reply, &reply_len))) {
		err_set(&e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (control_relay(fd, out, stderr, &status, &e) < 0)
		goto fail;
	fclose(out);
	out = NULL;
	if (status != 0)
		goto out; /* the daemon said why */
	if (sscanf(reply ? reply : "", "%llu", &stored) != 1) {
		err_set(&e, -EBADMSG, "the running koban answered '%s'", reply ? reply : "");
		goto fail;
	}
	printf("stored %llu events of %zu lines (through the running koban: committed to its "
	       "write-ahead log%s)", stored, r->lineno,
	       strstr(reply, " unsealed") ? ", not sealed yet" : " and sealed into segments");
	if (r->rejected)
		printf(", %llu lines rejected", (unsigned long long)r->rejected);
	printf("\n");
	status = !stored && r->lineno ? 1 : r->rejected ? 3 : 0;
	goto out;
fail:
	cli_fail(&e);
	status = 1;
out:
	if (out)
		fclose(out);
	free(reply); /* open_memstream's buffer comes from the C library's malloc */
	buf_release(&r->batch);
	close(fd);
	return status;
}

/*
 * Ingest runs the detection of serve on what it stores (inline, event time as the clock):
 * the bundled and configured rules, alerts into koban.db. Correlation state starts empty
 * and is not kept: one file is one run.
 */
static int detect_begin(struct parse_run *r, const struct config *c, struct err *e)
{
	struct detect_config dc = {
		.cfg = c, .workers = 1, .mode = DETECT_INLINE, .tenant_name = run_tenant,
		.tenant_ctx = r,
	};
	int rc;

	if ((rc = alert_sink_new(&r->alerts, &(struct alert_sink_config){
					 .data_dir = c->data_dir,
					 .retention_days = c->alerts_retention_days }, e)) < 0 ||
	    (rc = meta_open(&r->meta, c->data_dir, e)) < 0)
		return rc;
	dc.alerts = r->alerts;
	dc.meta = r->meta;
	if ((rc = cli_ti_matcher(c, r->meta, r->alerts, &r->indicators, &r->ti, e)) < 0)
		return rc;
	dc.ti = r->ti;
	return detect_new(&r->detect, &dc, e);
}

/* Closes the open correlation windows and stores every alert raised. */
static void detect_end(struct parse_run *r)
{
	struct err e = ERR_INIT;

	if (r->detect && detect_finish(r->detect, &e) < 0)
		fprintf(stderr, "koban: %s: %s\n", r->name ? r->name : "ingest", e.msg);
	detect_free(r->detect);
	r->detect = NULL;
	timatch_free(r->ti);
	r->ti = NULL;
	ti_snapshot_free(r->indicators);
	r->indicators = NULL;
	alert_sink_free(r->alerts);
	r->alerts = NULL;
	meta_close(r->meta);
	r->meta = NULL;
}

/* The highest alert id before this run: the SOC engine takes the alerts after it. */
static int last_alert_id(const struct config *c, int64_t *id, struct err *e)
{
	struct meta *m;
	int rc;

	if ((rc = meta_open(&m, c->data_dir, e)) < 0)
		return rc;
	rc = meta_soc_last_alert(m, false, id, e);
	meta_close(m);
	return rc;
}

/*
 * The SOC engine on this run's alerts (soc/soc.h), once the events are sealed and the
 * alerts stored: in event-time order with the event time as the clock, so the evidence
 * searches see the run's own later events and a replay ends with the final levels.
 */
static int ingest_soc(const struct config *c, struct store *store, int64_t after_id,
		      bool send, struct err *e)
{
	/* the notices of the decisions: planned and logged, sent only with --notify */
	const struct notify_config nc = { .cfg = c, .send = send };
	struct soc_config sc = { .cfg = c, .store = store };
	struct soc_replay_stats st = { 0 };
	struct notify *notify = NULL;
	struct soc *soc;
	int rc, sent = 0;

	if (c->notify.enabled && (rc = notify_new(&notify, &nc, e)) < 0)
		return rc;
	sc.level_decided = notify_level_decided;
	sc.level_ctx = notify;
	if ((rc = soc_new(&soc, &sc, e)) < 0) {
		notify_free(notify);
		return rc;
	}
	rc = soc_replay(soc, after_id, &st, e);
	soc_free(soc);
	if (notify && rc == 0 && (sent = notify_run(notify, e)) < 0)
		rc = sent;
	notify_free(notify);
	if (sent > 0)
		printf("notices: %d %s\n", sent, send ? "sent" : "planned");
	if (st.alerts)
		printf("incidents: %llu alerts: %llu created, %llu linked, %llu suppressed, "
		       "%llu failed\n", (unsigned long long)st.alerts,
		       (unsigned long long)st.created, (unsigned long long)st.linked,
		       (unsigned long long)st.suppressed, (unsigned long long)st.failed);
	return rc;
}

/*
 * The tenant's store quota, checked as the daemon checks it before it takes a batch: an
 * ingest without a daemon refuses a tenant at or over its quota (-EDQUOT) instead of
 * writing past it. Like the daemon's, the check is made before writing: one file may take
 * the tenant past its quota, the next is refused.
 */
static int over_quota(const struct config *c, const char *tenant, int64_t id, struct err *e)
{
	uint64_t quota = 0, bytes;

	(void)config_store_tenant(c, tenant, &quota, NULL); /* 1 or 0: both fine */
	if (!quota || (bytes = store_tenant_dir_bytes(c->data_dir, (uint64_t)id)) < quota)
		return 0;
	return err_set(e, -EDQUOT, "tenant %s is over its store quota (%llu bytes; it stores "
		       "%llu): nothing stored", tenant, (unsigned long long)quota,
		       (unsigned long long)bytes);
}

int cmd_ingest(int argc, char **argv)
{
	struct parse_run r = { 0 };
	const char *tenant = NULL, *format = NULL, *zone = NULL, *path = NULL;
	struct store_import_stats st = { 0 };
	struct err e = ERR_INIT;
	struct store *store = NULL;
	struct config c;
	int64_t id, after = 0;
	bool notify = false, no_wait = false;
	int status, fd;

	if ((status = ingest_args(argc, argv, &tenant, &format, &zone, &path, &notify,
				  &no_wait)) >= 0)
		return status;
	if ((status = cli_load_config(&argc, argv, &c)) != 0)
		return status;
	status = 1;
	r.tenant = tenant;
	r.ecs = format && !strcmp(format, "ecs");
	arena_init(&r.arena, 1 << 16, 2 * ECS_LINE_MAX);
	if (cli_tenant_id(&c, tenant, &id, &e) < 0 || last_alert_id(&c, &after, &e) < 0 ||
	    detect_begin(&r, &c, &e) < 0) {
		cli_fail(&e);
		goto out;
	}
	switch (cli_remote_connect(&c, &fd)) {
	case 1:
		status = ingest_through(&r, &c, fd, format ? format : "auto", zone, path, no_wait);
		goto out;
	case 0:
		break;
	default:
		goto out;
	}
	if (over_quota(&c, tenant, id, &e) < 0 || cli_store_open(&store, &c, true, &e) < 0 ||
	    store_import_begin(store, (uint64_t)id, &r.imp, &e) < 0) {
		cli_fail(&e);
		goto out;
	}
	if (process(&r, &c, format ? format : "auto", zone, path) < 0) {
		store_import_abort(r.imp);
		goto out;
	}
	if (store_import_finish(r.imp, &st, &e) < 0) {
		cli_fail(&e);
		goto out;
	}
	status = ingest_status(&r, &st);
	detect_end(&r); /* every alert stored */
	if (ingest_soc(&c, store, after, notify, &e) < 0) {
		cli_fail(&e);
		status = 1;
	}
out:
	detect_end(&r);
	run_release(&r);
	store_close(store);
	config_release(&c);
	return status;
}

/*
 * The daemon's side: DATA frames of ECS JSON lines (checked again here: each must decode)
 * into the sink's shard of acknowledged inputs; at END, once the last record is durable,
 * the number of events stored goes back on standard output.
 */
#define REMOTE_WAIT_MS 60000

/* Counts the lines of data and checks that each decodes as an event. */
static int check_lines(const struct buf *data, struct arena *a, uint32_t *count,
		       struct err *e)
{
	const char *p = data->p, *end = data->p + data->len;

	*count = 0;
	if (!data->len || data->p[data->len - 1] != '\n')
		return err_set(e, -EBADMSG, "ingest: a batch that does not end with a line end");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct event ev;
		int rc;

		arena_clear(a);
		event_init(&ev, a);
		if ((rc = ecs_decode(&ev, p, (size_t)(nl - p), e)) < 0)
			return rc;
		(*count)++;
		p = nl + 1;
	}
	return 0;
}

/*
 * When ingest returns, its events are sealed into segments, through the daemon as without
 * one (unless --no-wait sent wait=committed): its sealer is asked for a pass over everything
 * durable. A pass that fails leaves them
 * durable in the WAL (found by searches, sealed by the next pass): said, not an error.
 */
static bool seal_stored(const struct cli_remote *r, struct control_call *call)
{
	struct err e = ERR_INIT;

	if (!r->seal || seal_flush(r->seal, &e) == 0)
		return true;
	fprintf(call->err, "koban: sealing the events into segments failed (the running koban "
		"retries; searches find them meanwhile): %s\n", e.msg);
	return false;
}

int cli_ingest_remote(const struct cli_remote *r, struct control_call *call)
{
	const char *tenant = control_call_get(call, "tenant");
	struct buf data = BUF_INIT(CONTROL_FRAME_MAX);
	struct arena a;
	struct err e = ERR_INIT, first = ERR_INIT;
	uint64_t stored = 0, lsn = 0, first_lsn = 0, last = 0;
	unsigned shard;
	bool wrote = false, sealed;
	int64_t id = -1;
	int rc;

	arena_init(&a, 1 << 16, 2 * ECS_LINE_MAX);
	if (!tenant)
		err_set(&first, -EBADMSG, "ingest: a malformed request");
	else if (!r->sink)
		err_set(&first, -ENOTSUP, "the running koban has no event store writer");
	else if (cli_tenant_id(r->cfg, tenant, &id, &first) < 0)
		id = -1;
	/* after an error the rest is read and dropped, so the client hears why */
	while ((rc = control_call_read(call, &data, &e)) > 0) {
		uint32_t count;

		if (first.code)
			continue;
		shard = sink_ack_shard(r->sink);
		if (check_lines(&data, &a, &count, &first) < 0 ||
		    sink_write(r->sink, shard, (uint64_t)id, &data, count, &lsn, &first) < 0)
			continue;
		stored += count;
		first_lsn = wrote ? first_lsn : lsn;
		last = lsn;
		wrote = true;
	}
	if (rc < 0) {
		arena_release(&a);
		buf_release(&data);
		return 1; /* the client is gone */
	}
	/* what was written is waited for even after an error: the summary says it is stored */
	if (wrote && (rc = sink_wait(r->sink, sink_ack_shard(r->sink), first_lsn, last,
				     REMOTE_WAIT_MS)) < 0) {
		if (!first.code)
			err_set(&first, rc, rc == -EIO ? "the commit of the events failed (a disk "
				"fault: see the daemon's log); they are counted as lost, send them "
				"again" : "the events were not committed within %d s",
				REMOTE_WAIT_MS / 1000);
		stored = 0; /* not known to be stored: no "sent before the error are stored" */
	}
	sealed = !stored || (!control_call_get(call, "wait") && seal_stored(r, call));
	arena_release(&a);
	buf_release(&data);
	if (first.code) {
		fprintf(call->err, "koban: %s%s\n", first.msg,
			stored ? " (events sent before the error are stored)" : "");
		return 1;
	}
	/* the count, and what the client's summary says of it */
	fprintf(call->out, "%llu%s\n", (unsigned long long)stored, sealed ? "" : " unsealed");
	return 0;
}
