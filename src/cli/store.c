/*
 * store.c - `koban store stats`, `koban store verify` and `koban store retain`: what the
 * event store holds per tenant and day (events, raw bytes against stored bytes), whether
 * every segment still reads back (checksums, seals, encoding) and agrees with what searches
 * skip on (segment_verify()), and each tenant's retention
 * applied by hand, and a backup of the data directory (store/backup.h). Verification
 * reports and never repairs.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "portal/control.h"
#include "store/backup.h"
#include "store/meta.h"
#include "store/retention.h"
#include "store/store.h"

#define STATS_USAGE "store stats [-c FILE] [--tenant NAME]"
#define VERIFY_USAGE "store verify [-c FILE] [--tenant NAME]"
#define RETAIN_USAGE "store retain [-c FILE] [--tenant NAME] [--dry-run]"
#define BACKUP_USAGE "store backup [-c FILE] DIR"
#define MAX_TENANTS 4096

static const struct cli_verb store_verbs[] = {
	{ "stats", STATS_USAGE,
	  "Prints, per tenant and day, the segments and events of the event store, the\n"
	  "events' raw size (their original lines) against the bytes stored on disk, and\n"
	  "the ratio raw/stored (every tenant, or --tenant NAME; a total per tenant that\n"
	  "has several days)." },
	{ "verify", VERIFY_USAGE,
	  "Reads every segment back (checksums, encryption seals, encoding), checks that\n"
	  "the time ranges, statistics, value lists and index that searches skip blocks on\n"
	  "agree with the events, and prints \"ok\" or what is damaged, naming the file and\n"
	  "offset (and the block and field). Nothing is repaired. Exit status 1 when\n"
	  "anything is damaged." },
	{ "retain", RETAIN_USAGE,
	  "Applies each tenant's retention now (store.retention_days, or the tenant's own\n"
	  "under store.tenants; 0 keeps forever): drops every day, UTC, older than the last\n"
	  "retention_days days, today included, and prints what it dropped. --dry-run only\n"
	  "prints what would be dropped. `koban serve` does the same at start and daily.\n"
	  "Exit status 1 when a tenant's days could not all be dropped." },
	{ "backup", BACKUP_USAGE,
	  "Copies the data directory into DIR so that koban can use DIR as one once\n"
	  "master.key and signing.key are put back into its keys/ (they are kept apart\n"
	  "and not copied): the event store as of one committed sealer state, sealed or\n"
	  "still in the write-ahead log, koban.db and the other files, whether koban serve\n"
	  "runs or not. DIR is made when missing; one that holds an earlier backup is\n"
	  "updated in place (segments already there are kept, those gone since removed).\n"
	  "docs/store.md, \"Backup and restore\"." },
};

static const struct cli_command store_command = {
	"store", STATS_USAGE "\n       koban " VERIFY_USAGE "\n       koban " RETAIN_USAGE
		 "\n       koban " BACKUP_USAGE,
	"  stats   segments, events, raw and stored bytes per tenant and day\n"
	"  verify  read every segment back and report damage (nothing is repaired)\n"
	"  retain  drop the days older than each tenant's retention (--dry-run: only show)\n"
	"  backup  copy the data directory into DIR, consistent while koban serve runs",
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

/* One line per tenant and day: the segments of a day are summed; a total per tenant. */
struct stats_sum {
	uint64_t segments, events, raw, bytes;
};

struct stats_run {
	FILE *out;
	const char *tenant;
	uint32_t day;
	unsigned days;            /* of the current tenant */
	struct stats_sum d, t;    /* the current day, the current tenant */
	bool header;
};

/* YYYY-MM-DD of a day number. */
static void day_text(uint32_t day, char out[TIME_RFC3339_LEN])
{
	time_format_rfc3339((int64_t)day * 86400 * NS_PER_SEC, out);
	out[10] = '\0';
}

/* One line of x for day; the header first. x NULL: only the header. */
static void stats_line(struct stats_run *s, const char *day, const struct stats_sum *x)
{
	if (!s->header) {
		fprintf(s->out, "%-20s %-10s %8s %12s %14s %14s %7s %8s\n", "TENANT", "DAY",
			"SEGMENTS", "EVENTS", "RAW_BYTES", "STORED_BYTES", "RATIO", "B/EVENT");
		s->header = true;
	}
	if (!x)
		return;
	fprintf(s->out, "%-20s %-10s %8llu %12llu %14llu %14llu %7.2f %8.1f\n", s->tenant, day,
		(unsigned long long)x->segments, (unsigned long long)x->events,
		(unsigned long long)x->raw, (unsigned long long)x->bytes,
		x->bytes ? (double)x->raw / (double)x->bytes : 0,
		x->events ? (double)x->bytes / (double)x->events : 0);
}

static void stats_flush(struct stats_run *s)
{
	char day[TIME_RFC3339_LEN];

	if (!s->d.segments)
		return;
	day_text(s->day, day);
	stats_line(s, day, &s->d);
	s->t.segments += s->d.segments;
	s->t.events += s->d.events;
	s->t.raw += s->d.raw;
	s->t.bytes += s->d.bytes;
	s->days++;
	memset(&s->d, 0, sizeof(s->d));
}

/* After a tenant's last day: its total when it has more than one day. */
static void stats_tenant_done(struct stats_run *s)
{
	stats_flush(s);
	if (s->days > 1)
		stats_line(s, "total", &s->t);
	memset(&s->t, 0, sizeof(s->t));
	s->days = 0;
}

static int stats_segment(void *ctx, const struct store_segment_report *r)
{
	struct stats_run *s = ctx;

	if (r->superseded)
		return 0; /* replaced by a merge, or its events are still in the WAL */
	if (r->status) { /* listed, as verify lists it; its events are not counted */
		stats_line(s, NULL, NULL);
		fprintf(s->out, "%s: DAMAGED: %s\n", s->tenant, r->error);
		return 0;
	}
	if (s->d.segments && r->day != s->day)
		stats_flush(s);
	s->day = r->day;
	s->d.segments++;
	s->d.events += r->events;
	s->d.raw += r->raw_bytes;
	s->d.bytes += r->bytes;
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

/*
 * The tenant's events in the write-ahead log, not in segments yet (the sealer commits
 * them within a minute): a line of their own, so that what was just stored shows.
 */
static int stats_unsealed(struct store *st, struct stats_run *s, uint64_t tenant,
			  struct err *e)
{
	struct store_unsealed u;
	int rc = store_unsealed(st, tenant, &u, e);
	uint64_t events = u.wal_events + u.held_events, bytes = u.wal_bytes + u.held_bytes;

	if (rc < 0 || !events)
		return rc;
	stats_line(s, NULL, NULL);
	fprintf(s->out, "%-20s %-10s %8s %12llu %14s %14llu %7s %8.1f\n", s->tenant, "unsealed",
		"-", (unsigned long long)events, "-", (unsigned long long)bytes, "-",
		(double)bytes / (double)events);
	return 0;
}

/*
 * verify's line for the tenant's held log (docs/store.md, Keys): its events wait for the
 * tenant's data key to open. -EBADMSG when the log is damaged (said on the line); another
 * failure (a file that cannot be read) in e.
 */
static int verify_held(struct store *st, struct stats_run *s, uint64_t tenant, struct err *e)
{
	struct err he = ERR_INIT;
	uint64_t events;
	int rc = store_held_verify(st, tenant, &events, &he);

	if (rc == -EBADMSG) {
		fprintf(s->out, "%s: held events: DAMAGED: %s\n", s->tenant, he.msg);
		return rc;
	}
	if (rc < 0) {
		*e = he;
		return rc;
	}
	if (events)
		fprintf(s->out, "%s: %llu events held: not sealed until the tenant's data key "
			"opens (docs/store.md, Keys)\n", s->tenant, (unsigned long long)events);
	return 0;
}

/*
 * verify's line for the write-ahead log's kept cuts (docs/store.md, "What happens after a
 * crash"): not one tenant's, so said whatever tenants are verified. 1 when one is there or
 * the log cannot be read.
 */
static int verify_wal(struct store *st, FILE *out, FILE *err)
{
	struct err we = ERR_INIT;
	int rc = store_wal_verify(st, &we);

	if (rc == -EBADMSG)
		fprintf(out, "write-ahead log: DAMAGED: %s\n", we.msg);
	else if (rc < 0)
		fprintf(err, "koban: %s\n", we.msg);
	return rc < 0;
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
			stats_tenant_done(&s);
		/*
		 * what is not sealed needs no key: said also when the segments could not be read
		 * (a key that does not open: its events are held, docs/store.md)
		 */
		if (!verify) {
			struct err ue = ERR_INIT;
			int urc = stats_unsealed(st, &s, (uint64_t)l->t[i].id, &ue);

			if (urc < 0 && rc == 0) {
				rc = urc;
				*e = ue;
			}
		}
		if (verify) {
			struct err he = ERR_INIT;
			int hrc = verify_held(st, &s, (uint64_t)l->t[i].id, &he);

			if (hrc < 0 && (rc == 0 || (rc == -EBADMSG && hrc != -EBADMSG))) {
				rc = hrc;
				*e = he;
			}
		}
		if (rc == -EBADMSG && verify) {
			status = 1; /* listed: go on with the other tenants */
		} else if (rc < 0) {
			fprintf(err, "koban: %s\n", e->msg);
			status = 1;
		}
	}
	if (verify && verify_wal(st, out, err))
		status = 1;
	if (!verify && !s.header && !status)
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
	if (cli_store_open(&st, c, false, &e) < 0)
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

/* ---- retain ---- */

struct retain_run {
	bool dry_run;
	uint64_t dropped;
};

static void print_retained(void *ctx, const struct retention_report *r)
{
	struct retain_run *rr = ctx;
	const struct store_retain_stats *x = &r->stats;
	char cut[TIME_RFC3339_LEN], first[TIME_RFC3339_LEN], last[TIME_RFC3339_LEN];

	if (r->status) {
		printf("%s: FAILED: %s\n", r->tenant, r->error);
		return;
	}
	if (!r->keep_days) {
		printf("%s: kept forever (retention_days 0)\n", r->tenant);
		return;
	}
	day_text(x->cutoff, cut);
	if (!x->segments) {
		printf("%s: keeps %u days (from %s): nothing older\n", r->tenant, r->keep_days,
		       x->cutoff ? cut : "the first day");
		return;
	}
	rr->dropped += x->segments;
	day_text(x->first_day, first);
	day_text(x->last_day, last);
	printf("%s: keeps %u days (from %s): %s %llu day%s (%s .. %s): %llu segments, %llu "
	       "events, %llu bytes\n", r->tenant, r->keep_days, cut,
	       rr->dry_run ? "would drop" : "dropped", (unsigned long long)x->days,
	       x->days == 1 ? "" : "s", first, last, (unsigned long long)x->segments,
	       (unsigned long long)x->events, (unsigned long long)x->bytes);
	if (x->unreadable)
		printf("%s: %llu of those segments could not be opened: their events are not "
		       "counted\n", r->tenant, (unsigned long long)x->unreadable);
}

static int retain(int argc, char **argv, const struct cli_verb *verb)
{
	const char *only = NULL;
	struct retain_run rr = { 0 };
	const struct cli_option opts[] = { CLI_VALUE("tenant", &only),
					   CLI_FLAG("dry-run", &rr.dry_run) };
	struct cli_args a = { "store retain", RETAIN_USAGE, verb->about, opts, ARRAY_SIZE(opts),
			      NULL, 0, 0, NULL };
	struct store *st = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if (meta_open(&m, c.data_dir, &e) < 0 || cli_store_open(&st, &c, true, &e) < 0 ||
	    (rc = retention_run(NULL, st, m, &c, only, time_now_ns(), rr.dry_run, print_retained,
				&rr, &e)) < 0) {
		rc = cli_fail(&e);
	} else {
		if (rr.dry_run)
			printf("dry run: nothing was removed\n");
		rc = rc ? 1 : 0; /* failed tenants are listed */
	}
	store_close(st);
	if (m)
		meta_close(m);
	config_release(&c);
	return rc;
}

/* ---- backup ---- */

static int backup(int argc, char **argv, const struct cli_verb *verb)
{
	static const char *const names[] = { "DIR" };
	const char *pos[1] = { NULL }, *dir;
	struct cli_args a = { "store backup", BACKUP_USAGE, verb->about, NULL, 0, pos, 1, 1,
			      names };
	struct store_backup_stats x;
	struct err e = ERR_INIT;
	struct config c;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	dir = pos[0];
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if (store_backup(c.data_dir, dir, time_now_ns(), &x, &e) < 0) {
		rc = cli_fail(&e);
	} else {
		printf("backup of %s into %s: %llu segments (%llu copied, %llu kept, %llu "
		       "removed), %llu log records in %llu log files, koban.db %llu bytes, %llu "
		       "other files%s", c.data_dir, dir, (unsigned long long)x.segments,
		       (unsigned long long)x.copied, (unsigned long long)x.kept,
		       (unsigned long long)x.removed, (unsigned long long)x.log_records,
		       (unsigned long long)x.log_files, (unsigned long long)x.db_bytes,
		       (unsigned long long)x.other_files, x.held_logs ? ", with held events" : "");
		if (x.damaged_copies) /* so that a restore's verify naming them is no surprise */
			printf(", %llu damaged file%s kept aside (koban store verify names them)",
			       (unsigned long long)x.damaged_copies, x.damaged_copies == 1 ? "" : "s");
		printf("\n");
		printf("master.key and signing.key are not in the backup: keep them apart "
		       "(docs/store.md, Backup and restore)\n");
		rc = fflush(stdout) ? 1 : 0;
	}
	config_release(&c);
	return rc;
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
	if (verb == &store_verbs[2])
		return retain(argc, argv, verb);
	if (verb == &store_verbs[3])
		return backup(argc, argv, verb);
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
