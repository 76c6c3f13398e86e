/*
 * bench/triage - the SOC engine (soc/soc.h) with triage (soc/triage.h) against a large store.
 *
 * Generates N PAN-OS-like TRAFFIC events (default 10,000,000; --events N) of one tenant
 * over four days into its store (store_import, like bench/store), then stores M alerts
 * (default 5,000; --alerts M) through the alert sink whose subscriber is the threaded engine,
 * as in `koban serve`. Each alert is an exploit alert on one of the generated sessions (the
 * event of that session, event.kind alert), with its own victim, so each makes its own
 * incident and is triaged against the store (the same session's traffic, the victim's later
 * traffic, ...). Two phases, each on a fresh set of sessions:
 *   - burst: all M alerts pushed at once; prints alerts/s from the first push until the last
 *     incident has its first decision (sustained rate of the engine);
 *   - paced: M alerts at --rate R per second (default 1,000, the goal); prints the p50, p99
 *     and maximum from each alert's detection to its incident's first level decision.
 *
 *   build/release/bench/triage [--events N] [--alerts M] [--rate R] [--dir DIR] [--keep]
 *                              [--import-only | --from SRC]
 *
 * DIR (default: a fresh /tmp directory) is removed at the end unless --keep or --dir.
 * To measure again without importing again: --import-only --dir SRC once, then --from SRC
 * copies SRC/data (cp -a) instead of importing (N must be the same).
 */
#include "core/compat.h"

#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "soc/alert.h"
#include "soc/soc.h"
#include "store/meta.h"
#include "store/store.h"

#include "lib/gen.h"

#define DAYS 4
#define TENANT "bench"
#define WAIT_MAX_S 3600.0

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path);
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "triage: %s: %s\n", what, why);
	exit(1);
}

struct decided {
	int64_t *lat;                /* decided - detected, ns */
	size_t n, cap;
	int64_t first_id;            /* only incidents with a higher id (this phase's) */
};

static void see_incident(void *ctx, const struct meta_incident *inc)
{
	struct decided *d = ctx;

	if (inc->id <= d->first_id || !inc->decided_ns || d->n == d->cap)
		return;
	d->lat[d->n++] = inc->decided_ns - inc->detected_ns;
}

/* The incidents of this phase with their first decision. */
static size_t count_decided(struct meta *m, struct decided *d)
{
	const struct meta_incident_filter f = { .min_level = -2, .limit = META_INCIDENT_LIST_MAX };
	struct err e = ERR_INIT;

	d->n = 0;
	if (meta_incident_list(m, TENANT, &f, see_incident, d, &e) < 0)
		die("incidents", e.msg);
	return d->n;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Waits until want incidents of the phase are decided; the seconds it took since t0. */
static double wait_decided(struct meta *m, struct decided *d, size_t want, double t0)
{
	while (count_decided(m, d) < want) {
		if (bench_now_s() - t0 > WAIT_MAX_S)
			die("wait", "the incidents were not decided within an hour");
		usleep(200000); /* a full list: rarely, so the engine keeps the CPU */
	}
	return bench_now_s() - t0;
}

/* The alert of session row i: the generated event as the exploit's alert. */
static void push_alert(struct alert_sink *sink, const struct bench_gen *g, struct arena *a,
		       unsigned long i, unsigned long n, struct buf *json, struct buf *keys)
{
	static const char *const tags[] = { "attack.initial_access", "attack.t1190" };
	char line[2048];
	struct bench_row row;
	struct alert_event ae;
	struct event ev;
	struct err e = ERR_INIT;
	struct alert al;

	arena_clear(a);
	bench_gen_event(g, &ev, a, i, n, line, sizeof(line), &row);
	event_set_str(&ev, FIELD_EVENT_KIND, "alert", 5);
	buf_reset(json);
	buf_reset(keys);
	if (event_write_json(&ev, json) < 0 ||
	    buf_addf(keys, "{\"source.ip\":\"%s\",\"destination.ip\":\"%s\"}", row.src,
		     row.dst) < 0)
		die("alert", "cannot format");
	ae = (struct alert_event){ json->p, json->len };
	al = (struct alert){
		.tenant = TENANT, .kind = ALERT_SIGMA, .rule_id = "bench-exploit",
		.rule_title = "Exploit attempt (bench)", .rule_level = "critical",
		.tags = tags, .n_tags = 2, .event_ns = row.ts, .key_fields = keys->p,
		.events = &ae, .n_events = 1,
	};
	if (alert_sink_push(sink, &al, &e) < 0)
		die("alert", e.msg);
}

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(uint64_t *)ctx = (uint64_t)t->id;
}

struct high_id {
	int64_t id;
};

static void see_high(void *ctx, const struct meta_incident *inc)
{
	struct high_id *h = ctx;

	if (inc->id > h->id)
		h->id = inc->id;
}

static int64_t highest_incident(struct meta *m)
{
	const struct meta_incident_filter f = { .min_level = -2, .limit = 1 };
	struct high_id h = { 0 };
	struct err e = ERR_INIT;

	if (meta_incident_list(m, TENANT, &f, see_high, &h, &e) < 0)
		die("incidents", e.msg);
	return h.id;
}

/* The n generated events into the tenant's store, sealed. */
static void import_events(struct store *st, uint64_t tid, const struct bench_gen *g,
			  struct arena *a, unsigned long n, const char *dir)
{
	struct store_import *imp;
	struct store_import_stats is;
	struct err e = ERR_INIT;
	double t0;

	printf("triage: importing %lu PAN-OS-like events of one tenant, %d days, into %s\n", n,
	       DAYS, dir);
	fflush(stdout);
	t0 = bench_now_s();
	if (store_import_begin(st, tid, &imp, &e) < 0)
		die("import", e.msg);
	for (unsigned long i = 0; i < n; i++) {
		char line[2048];
		struct bench_row row;
		struct event ev;

		bench_gen_event(g, &ev, a, i, n, line, sizeof(line), &row);
		if (store_import_add(imp, &ev, &e) < 0)
			die("import", e.msg);
		arena_clear(a);
	}
	if (store_import_finish(imp, &is, &e) < 0)
		die("import", e.msg);
	printf("  imported in %.1f s\n", bench_now_s() - t0);
}

/* SRC/data (an --import-only run's) as data, with cp -a, then sync. */
static void copy_store(const char *src, const char *data)
{
	char cmd[2048];

	if (strchr(src, '\'') || strchr(data, '\''))
		die(src, "no quote in --from or --dir");
	/* synced, so that the copy's writeback does not run beside the measured phases */
	snprintf(cmd, sizeof(cmd), "cp -a '%s/data' '%s' && sync", src, data);
	if (system(cmd) != 0)
		die(cmd, "failed");
}

int main(int argc, char **argv)
{
	unsigned long n = 10000000, alerts = 5000;
	double rate = 1000, t0, secs, c0;
	const char *dir_arg = NULL, *from = NULL;
	bool keep = false, import_only = false;
	char dir[512], data[600];
	struct config cfg;
	struct err e = ERR_INIT;
	struct bench_gen g;
	struct meta *m;
	struct store *st;
	struct arena a;
	struct buf json, keys;
	struct soc *soc;
	struct alert_sink *sink;
	struct decided d = { 0 };
	uint64_t tid = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--alerts") && i + 1 < argc)
			alerts = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir_arg = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = true;
		else if (!strcmp(argv[i], "--import-only"))
			import_only = keep = true;
		else if (!strcmp(argv[i], "--from") && i + 1 < argc)
			from = argv[++i];
		else
			die(argv[i], "usage: triage [--events N] [--alerts M] [--rate R] [--dir DIR] "
				     "[--keep] [--import-only | --from SRC]");
	}
	if (n < 4 * alerts || alerts < 1 || alerts > META_INCIDENT_LIST_MAX || rate <= 0)
		die("arguments", "need 1 <= alerts <= 10000, events >= 4 * alerts, rate > 0");
	if (dir_arg)
		snprintf(dir, sizeof(dir), "%s", dir_arg);
	else
		snprintf(dir, sizeof(dir), "/tmp/koban-bench-triage-%d", (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		die(dir, strerror(errno));
	snprintf(data, sizeof(data), "%s/data", dir);
	if (from)
		copy_store(from, data);
	if (config_defaults(&cfg, &e) < 0)
		die("config", e.msg);
	mem_free(cfg.data_dir);
	if (!(cfg.data_dir = mem_strdup(data)))
		die("config", "out of memory");
	if (bench_gen_init(&g, DAYS, false) < 0)
		die("fields", "cannot register the PAN-OS fields");
	if (meta_open(&m, data, &e) < 0 || (!from && meta_tenant_add(m, TENANT, &e) < 0))
		die("koban.db", e.msg);
	if (meta_tenant_get(m, TENANT, take_id, &tid, &e) < 0 || store_open(&st, data, &e) < 0)
		die("store", e.msg);
	arena_init(&a, 1 << 16, 1 << 24);
	buf_init(&json, 1 << 20);
	buf_init(&keys, 1 << 16);

	if (!from)
		import_events(st, tid, &g, &a, n, dir);
	if (import_only) {
		store_close(st);
		meta_close(m);
		return 0;
	}

	{
		const struct soc_config sc = { .cfg = &cfg, .store = st, .threaded = true };

		if (soc_new(&soc, &sc, &e) < 0)
			die("soc", e.msg);
	}
	if (alert_sink_new(&sink, &(struct alert_sink_config){ .data_dir = data,
			   .capacity = 65536, .on_stored = soc_alert_stored, .ctx = soc }, &e) < 0)
		die("alerts", e.msg);
	if (!(d.lat = mem_calloc(alerts, sizeof(*d.lat))))
		die("memory", "out of memory");
	d.cap = alerts;

	/* burst: every alert at once, sessions spread over the four days */
	d.first_id = highest_incident(m);
	t0 = bench_now_s();
	c0 = bench_proc_cpu_s();
	for (unsigned long k = 0; k < alerts; k++)
		push_alert(sink, &g, &a, k * (n / (2 * alerts)), n, &json, &keys);
	secs = wait_decided(m, &d, alerts, t0);
	printf("  burst: %lu alerts decided in %.2f s: %.0f alerts/s (%.2f CPU-s of the process)\n",
	       alerts, secs, (double)alerts / secs, bench_proc_cpu_s() - c0);

	/* paced: at the rate, the other half of the sessions */
	d.first_id = highest_incident(m);
	t0 = bench_now_s();
	for (unsigned long k = 0; k < alerts; k++) {
		double due = t0 + (double)k / rate;

		while (bench_now_s() < due)
			usleep(200);
		push_alert(sink, &g, &a, n / 2 + k * (n / (2 * alerts)), n, &json, &keys);
	}
	secs = wait_decided(m, &d, alerts, t0);
	qsort(d.lat, d.n, sizeof(*d.lat), cmp_i64);
	printf("  paced at %.0f/s: %lu alerts in %.2f s; detection to first decision: p50 %.3f s, "
	       "p99 %.3f s, max %.3f s\n", rate, alerts, secs,
	       (double)d.lat[d.n / 2] / 1e9, (double)d.lat[(d.n * 99) / 100] / 1e9,
	       (double)d.lat[d.n - 1] / 1e9);

	alert_sink_free(sink);
	soc_free(soc);
	store_close(st);
	meta_close(m);
	mem_free(d.lat);
	buf_release(&json);
	buf_release(&keys);
	arena_release(&a);
	config_release(&cfg);
	if (!keep && !dir_arg)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
