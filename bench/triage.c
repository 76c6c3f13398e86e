/*
 * bench/triage - the SOC engine (soc/soc.h) with triage (soc/triage.h) against a large store.
 *
 * Generates N PAN-OS-like TRAFFIC events (default 10,000,000; --events N) of one tenant
 * over four days into its store (store_import, like bench/store), then stores M alerts
 * (default 5,000; --alerts M) through the alert sink whose subscriber is the threaded engine,
 * as in `koban serve`. Each alert is an exploit alert on one of the generated sessions (the
 * event of that session, event.kind alert), with its own victim, so each makes its own
 * incident and is triaged against the store (the same session's traffic, the victim's later
 * traffic, ...). Three phases, the first two each on a fresh set of sessions:
 *   - burst: all M alerts pushed at once; prints alerts/s from the first push until the last
 *     incident has its first decision (sustained rate of the engine);
 *   - paced: M alerts at --rate R per second (default 1,000, the goal); prints the p50, p99
 *     and maximum from each alert's detection to its incident's first level decision;
 *   - late evidence (measured apart, as the issue asks): the victims of the first M/10 paced
 *     exploits call a sinkholed address a minute after them (events stored now), and the
 *     alert of each call, at 100 per second, makes the engine evaluate the exploit's
 *     incident again (another rule's open incident sharing the victim): prints the p50 and
 *     p99 from that alert to the commit of the exploit's incident raised to level 3 (the
 *     engine's level_decided call; with 100 incidents, the p99 is the maximum).
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
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
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

#define LATE_RATE 100.0            /* late-evidence alerts a second */
#define SINKHOLE "198.51.100.53"

/* The levels raised to 3, as the engine tells the notification engine (soc_config). */
struct raised {
	pthread_mutex_t lock;
	int64_t *ids, *at_ns;      /* incident and the wall time of its level's commit */
	size_t n, cap;
};

static void on_level(void *ctx, const char *tenant, int64_t incident, int from, int to,
		     int64_t at_ns)
{
	struct raised *r = ctx;

	if (to != 3)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->n < r->cap) {
		r->ids[r->n] = incident;
		r->at_ns[r->n++] = at_ns;
	}
	pthread_mutex_unlock(&r->lock);
}

static size_t raised_count(struct raised *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void take_group_key(void *ctx, const struct meta_incident *inc)
{
	snprintf(ctx, 128, "%s", inc->group_key);
}

/*
 * The call of session row i's victim to a sinkholed address a minute after the exploit: a
 * firewall event with the victim as source (no user: a server's call, which shares only
 * its address with the exploit's incident), added to imp; its JSON (an alert's event) in
 * json and its key fields in keys. Its time.
 */
static int64_t add_callback(struct store_import *imp, const struct bench_gen *g,
			    struct arena *a, unsigned long i, unsigned long n, struct buf *json,
			    struct buf *keys, char victim_out[24])
{
	char line[2048];
	struct bench_row row;
	struct ipaddr victim, sink;
	struct event ev;
	struct err e = ERR_INIT;

	arena_clear(a);
	bench_gen_event(g, &ev, a, i, n, line, sizeof(line), &row);
	event_init(&ev, a);
	if (ipaddr_parse(&victim, row.dst, strlen(row.dst)) < 0 ||
	    ipaddr_parse(&sink, SINKHOLE, strlen(SINKHOLE)) < 0 ||
	    event_set_time(&ev, FIELD_TIMESTAMP, row.ts + 60 * NS_PER_SEC) < 0 ||
	    event_set_ip(&ev, FIELD_SOURCE_IP, &victim) < 0 ||
	    event_set_ip(&ev, FIELD_DESTINATION_IP, &sink) < 0 ||
	    event_set_str(&ev, FIELD_EVENT_ACTION, "sinkhole", 8) < 0 ||
	    event_set_str(&ev, FIELD_EVENT_DATASET, "panos.threat", 12) < 0)
		die("callback", "cannot set its fields");
	if (store_import_add(imp, &ev, &e) < 0)
		die("callback", e.msg);
	snprintf(victim_out, 24, "%s", row.dst);
	event_set_str(&ev, FIELD_EVENT_KIND, "alert", 5);
	buf_reset(json);
	buf_reset(keys);
	if (event_write_json(&ev, json) < 0 ||
	    buf_addf(keys, "{\"source.ip\":\"%s\",\"destination.ip\":\"" SINKHOLE "\"}",
		     row.dst) < 0)
		die("callback", "cannot format");
	return row.ts + 60 * NS_PER_SEC;
}

/* The alert of a callback (json, keys). */
static void push_callback(struct alert_sink *sink, int64_t at_ns, const struct buf *json,
			  const struct buf *keys)
{
	static const char *const tags[] = { "attack.command_and_control" };
	struct alert_event ae = { json->p, json->len };
	struct err e = ERR_INIT;
	struct alert al = {
		.tenant = TENANT, .kind = ALERT_SIGMA, .rule_id = "bench-callback",
		.rule_title = "Call to a sinkholed address (bench)", .rule_level = "high",
		.tags = tags, .n_tags = 1, .event_ns = at_ns, .key_fields = keys->p,
		.events = &ae, .n_events = 1,
	};

	if (alert_sink_push(sink, &al, &e) < 0)
		die("callback alert", e.msg);
}

/*
 * The exploit session k (of `late`) whose victim incident id's grouping key names
 * ("bench-exploit|destination.ip=VICTIM"), or -1 for another incident.
 */
static long victim_of(struct meta *m, int64_t id, char (*victims)[24], unsigned long late)
{
	static const char prefix[] = "bench-exploit|destination.ip=";
	char key[128] = "";
	struct err e = ERR_INIT;

	if (meta_incident_get(m, TENANT, id, take_group_key, key, &e) < 0)
		die("incident", e.msg);
	if (strncmp(key, prefix, sizeof(prefix) - 1))
		return -1;
	for (unsigned long k = 0; k < late; k++)
		if (!strcmp(key + sizeof(prefix) - 1, victims[k]))
			return (long)k;
	return -1;
}

/*
 * Late evidence for the first `late` exploits of the paced phase (sessions k = 0, 1, ...):
 * their victims' callbacks stored, then alerted at LATE_RATE; p50 and p99 from each alert
 * to the commit of its exploit's incident raised to 3 (r: the engine's level changes).
 */
static void late_phase(struct alert_sink *sink, struct meta *m, struct store *st, uint64_t tid,
		       const struct bench_gen *g, struct arena *a, unsigned long n,
		       unsigned long alerts, struct raised *r)
{
	unsigned long late = alerts / 10 ? alerts / 10 : 1;
	int64_t *pushed = mem_calloc(late, sizeof(*pushed)), *lat = mem_calloc(late, sizeof(*lat));
	struct buf *jsons = mem_calloc(late, sizeof(*jsons)), *keyss = mem_calloc(late,
									       sizeof(*keyss));
	char (*victims)[24] = mem_calloc(late, sizeof(*victims));
	int64_t *at = mem_calloc(late, sizeof(*at));
	struct store_import *imp;
	struct store_import_stats is;
	struct err e = ERR_INIT;
	size_t nlat = 0, before = raised_count(r);
	double t0;

	if (!pushed || !lat || !jsons || !keyss || !victims || !at)
		die("memory", "out of memory");
	/* the calls stored first (a decoder commits an event before detection alerts on it) */
	if (store_import_begin(st, tid, &imp, &e) < 0)
		die("callback", e.msg);
	for (unsigned long k = 0; k < late; k++) {
		buf_init(&jsons[k], 1 << 16);
		buf_init(&keyss[k], 1 << 10);
		at[k] = add_callback(imp, g, a, n / 2 + k * (n / (2 * alerts)), n, &jsons[k],
				     &keyss[k], victims[k]);
	}
	if (store_import_finish(imp, &is, &e) < 0)
		die("callback", e.msg);
	t0 = bench_now_s();
	for (unsigned long k = 0; k < late; k++) {
		while (bench_now_s() < t0 + (double)k / LATE_RATE)
			usleep(200);
		pushed[k] = time_now_ns();
		push_callback(sink, at[k], &jsons[k], &keyss[k]);
	}
	while (raised_count(r) < before + late) {
		if (bench_now_s() - t0 > 120)
			die("late evidence", "not every incident was raised to 3 within 2 minutes");
		usleep(20000);
	}
	for (size_t i = before; i < before + late; i++) {
		long k = victim_of(m, r->ids[i], victims, late);

		if (k < 0)
			die("late evidence", "an incident of no callback was raised to 3");
		if (r->at_ns[i] > pushed[k]) /* else an earlier look found the call: left out */
			lat[nlat++] = r->at_ns[i] - pushed[k];
	}
	if (!nlat)
		die("late evidence", "every incident was raised before its callback's alert");
	qsort(lat, nlat, sizeof(*lat), cmp_i64);
	printf("  late evidence: %zu of %lu incidents raised to 3 by an alert of their victim's "
	       "callback (%.0f/s; the others by an earlier look), from the alert to the level's "
	       "commit: p50 %.3f s, p99 %.3f s, max %.3f s\n", nlat, late, LATE_RATE,
	       (double)lat[nlat / 2] / 1e9, (double)lat[(nlat * 99) / 100] / 1e9,
	       (double)lat[nlat - 1] / 1e9);
	for (unsigned long k = 0; k < late; k++) {
		buf_release(&jsons[k]);
		buf_release(&keyss[k]);
	}
	mem_free(jsons);
	mem_free(keyss);
	mem_free(victims);
	mem_free(at);
	mem_free(pushed);
	mem_free(lat);
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
	struct raised raised = { .lock = PTHREAD_MUTEX_INITIALIZER };
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

	raised.cap = 2 * alerts;
	raised.ids = mem_calloc(raised.cap, sizeof(*raised.ids));
	raised.at_ns = mem_calloc(raised.cap, sizeof(*raised.at_ns));
	if (!raised.ids || !raised.at_ns)
		die("memory", "out of memory");
	{
		const struct soc_config sc = { .cfg = &cfg, .store = st, .threaded = true,
					       .level_decided = on_level, .level_ctx = &raised };

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
	fflush(stdout);
	late_phase(sink, m, st, tid, &g, &a, n, alerts, &raised);

	alert_sink_free(sink);
	soc_free(soc);
	store_close(st);
	meta_close(m);
	mem_free(d.lat);
	mem_free(raised.ids);
	mem_free(raised.at_ns);
	buf_release(&json);
	buf_release(&keys);
	arena_release(&a);
	config_release(&cfg);
	if (!keep && !dir_arg)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
