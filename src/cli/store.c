/*
 * store.c - `koban store stats` and `koban store verify`: what the event store holds per
 * tenant and day, and whether every segment still reads back (checksums, seals, encoding).
 * Verification reports and never repairs.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "portal/control.h"
#include "store/meta.h"
#include "store/store.h"

#define STATS_USAGE "store stats [-c FILE] [--tenant NAME]"
#define VERIFY_USAGE "store verify [-c FILE] [--tenant NAME]"
#define MAX_TENANTS 4096

static const struct cli_verb store_verbs[] = {
	{ "stats", STATS_USAGE,
	  "Prints, per tenant and day, the segments, events and bytes on disk of the event\n"
	  "store (every tenant, or --tenant NAME)." },
	{ "verify", VERIFY_USAGE,
	  "Reads every segment back (checksums, encryption seals, encoding) and prints\n"
	  "\"ok\" or what is damaged, naming the file and offset. Nothing is repaired.\n"
	  "Exit status 1 when anything is damaged." },
};

static const struct cli_command store_command = {
	"store", STATS_USAGE "\n       koban " VERIFY_USAGE,
	"  stats   segments, events and bytes per tenant and day\n"
	"  verify  read every segment back and report damage (nothing is repaired)",
	store_verbs, ARRAY_SIZE(store_verbs),
};

struct tenant_ref {
	int64_t id;
	char name[64];
};

struct tenant_list {
	struct tenant_ref t[MAX_TENANTS];
	size_t n;
	const char *only; /* --tenant */
};

static void take_tenant(void *ctx, const struct meta_tenant *t)
{
	struct tenant_list *l = ctx;

	if (l->n < MAX_TENANTS && (!l->only || !strcmp(l->only, t->name))) {
		l->t[l->n].id = t->id;
		snprintf(l->t[l->n].name, sizeof(l->t[l->n].name), "%s", t->name);
		l->n++;
	}
}

/* One line per tenant and day: the segments of a day are summed. */
struct stats_run {
	FILE *out;
	const char *tenant;
	uint32_t day;
	uint64_t segments, events, bytes;
	bool header;
};

/* YYYY-MM-DD of a day number. */
static void day_text(uint32_t day, char out[TIME_RFC3339_LEN])
{
	time_format_rfc3339((int64_t)day * 86400 * NS_PER_SEC, out);
	out[10] = '\0';
}

static void stats_flush(struct stats_run *s)
{
	char day[TIME_RFC3339_LEN];

	if (!s->segments)
		return;
	if (!s->header) {
		fprintf(s->out, "%-20s %-10s %8s %12s %14s %8s\n", "TENANT", "DAY", "SEGMENTS",
			"EVENTS", "BYTES", "B/EVENT");
		s->header = true;
	}
	day_text(s->day, day);
	fprintf(s->out, "%-20s %-10s %8llu %12llu %14llu %8.1f\n", s->tenant, day,
		(unsigned long long)s->segments, (unsigned long long)s->events,
		(unsigned long long)s->bytes,
		s->events ? (double)s->bytes / (double)s->events : 0);
	s->segments = s->events = s->bytes = 0;
}

static int stats_segment(void *ctx, const struct store_segment_report *r)
{
	struct stats_run *s = ctx;

	if (s->segments && r->day != s->day)
		stats_flush(s);
	s->day = r->day;
	s->segments++;
	s->events += r->events;
	s->bytes += r->bytes;
	return 0;
}

static int verify_segment(void *ctx, const struct store_segment_report *r)
{
	const struct stats_run *s = ctx;
	char day[TIME_RFC3339_LEN];

	day_text(r->day, day);
	if (r->status)
		fprintf(s->out, "%s: DAMAGED: %s\n", s->tenant, r->error);
	else
		fprintf(s->out, "%s: %s segment %u: ok (%llu events)\n", s->tenant, day, r->seq,
			(unsigned long long)r->events);
	return 0;
}

static int run(struct store *st, const struct tenant_list *l, bool verify, FILE *out,
	       FILE *err, struct err *e)
{
	struct stats_run s = { .out = out };
	int status = 0;

	for (size_t i = 0; i < l->n; i++) {
		int rc;

		s.tenant = l->t[i].name;
		rc = store_segments(st, (uint64_t)l->t[i].id, verify,
				    verify ? verify_segment : stats_segment, &s, e);
		if (!verify)
			stats_flush(&s);
		if (rc == -EBADMSG && verify) {
			status = 1; /* listed: go on with the other tenants */
		} else if (rc < 0) {
			fprintf(err, "koban: %s\n", e->msg);
			status = 1;
		}
	}
	if (!verify && !s.header)
		fprintf(out, "the event store is empty\n");
	return fflush(out) ? 1 : status;
}

/*
 * stats or verify of every tenant (only: one), the same in the CLI and in the
 * daemon (for the control socket); returns the exit status.
 */
static int store_run(const struct config *c, const char *only, bool verify, FILE *out,
		     FILE *err)
{
	struct tenant_list *l = NULL;
	struct store *st = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	int rc = 1;

	if (!(l = mem_calloc(1, sizeof(*l)))) {
		err_set(&e, -ENOMEM, "out of memory");
		goto fail;
	}
	l->only = only;
	if (meta_open(&m, c->data_dir, &e) < 0 || meta_tenant_list(m, take_tenant, l, &e) < 0)
		goto fail;
	if (only && !l->n) {
		err_set(&e, -ENOENT, "no tenant '%s' in %s/koban.db", only, c->data_dir);
		goto fail;
	}
	if (store_open(&st, c->data_dir, &e) < 0)
		goto fail;
	rc = run(st, l, verify, out, err, &e);
	goto out;
fail:
	fprintf(err, "koban: %s\n", e.msg[0] ? e.msg : "failed");
out:
	store_close(st);
	if (m)
		meta_close(m);
	mem_free(l);
	return rc;
}

int cli_store_remote(const struct cli_remote *r, struct control_call *call)
{
	return store_run(r->cfg, control_call_get(call, "tenant"),
			 !strcmp(call->cmd, "store verify"), call->out, call->err);
}

int cmd_store(int argc, char **argv)
{
	const struct cli_verb *verb;
	const char *only = NULL;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &only) };
	struct cli_args a = { .opts = opts, .n_opts = ARRAY_SIZE(opts) };
	struct config c;
	int rc, fd;

	if ((rc = cli_verb(&argc, &argv, &store_command, &verb)) >= 0)
		return rc;
	a.cmd = verb == &store_verbs[0] ? "store stats" : "store verify";
	a.usage = verb->usage;
	a.about = verb->about;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	switch (cli_remote_connect(&c, &fd)) {
	case 1: {
		const char *keys[] = { "tenant" }, *values[] = { only };

		rc = cli_remote_run(fd, a.cmd, keys, values, ARRAY_SIZE(keys));
		break;
	}
	case 0:
		rc = store_run(&c, only, verb == &store_verbs[1], stdout, stderr);
		break;
	default:
		rc = 1;
		break;
	}
	config_release(&c);
	return rc;
}
