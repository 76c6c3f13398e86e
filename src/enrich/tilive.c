#include "enrich/tilive.h"
#include "core/compat.h"

#define LOG_MODULE "ti"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "enrich/tisnap.h"
#include "store/meta.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>


struct tilive {
	struct ti_live *live;
	struct meta *meta;       /* the thread's own connection */
	int64_t generation;      /* of the running snapshot */
	pthread_t thread;
	bool started, registered;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping, kicked;   /* under lock */
	_Atomic uint64_t loads_ok, loads_failed, indicators;
};

/* Loads koban.db's indicators as of generation gen and swaps them in. */
static int load(struct tilive *t, int64_t gen, struct err *e)
{
	struct ti_snapshot *s = NULL;
	struct ti_snapshot_stats st;
	int64_t t0 = time_mono_ns();
	int rc = ti_snapshot_load(t->meta, time_now_ns(), &s, e);

	if (rc < 0) {
		atomic_fetch_add(&t->loads_failed, 1);
		return rc;
	}
	ti_snapshot_stats(s, &st);
	ti_live_swap(t->live, s);
	t->generation = gen;
	atomic_store(&t->indicators, st.indicators);
	atomic_fetch_add(&t->loads_ok, 1);
	log_info("indicators loaded: %zu (%zu expired left out), %.1f MB, %.3f s", st.indicators,
		 st.expired, (double)st.bytes / 1e6, (double)(time_mono_ns() - t0) / 1e9);
	return 0;
}

/* One poll: a load when the generation moved or a kick asked for one. */
static void poll_once(struct tilive *t, bool kicked)
{
	struct err e = ERR_INIT;
	int64_t gen = 0;

	if (meta_indicator_generation(t->meta, &gen, &e) < 0) {
		atomic_fetch_add(&t->loads_failed, 1);
		log_warn("indicators: generation not read, the running snapshot stays: %s", e.msg);
		return;
	}
	if ((gen != t->generation || kicked) && load(t, gen, &e) < 0)
		log_warn("indicators not reloaded, the running snapshot stays: %s", e.msg);
}

static void *tilive_thread(void *arg)
{
	struct tilive *t = arg;
	struct timespec ts;
	bool kicked;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += TILIVE_POLL_MS / 1000;
		ts.tv_nsec += (TILIVE_POLL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!t->kicked)
			pthread_cond_timedwait(&t->wake, &t->lock, &ts);
		if (t->stopping)
			break;
		kicked = t->kicked;
		t->kicked = false;
		pthread_mutex_unlock(&t->lock);
		poll_once(t, kicked);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int collect_loads(struct metrics_out *o, void *ctx)
{
	struct tilive *t = ctx;
	int rc = metrics_sample(o, atomic_load(&t->loads_ok), "result", "ok", NULL);

	return rc ? rc : metrics_sample(o, atomic_load(&t->loads_failed), "result", "failed", NULL);
}

static int collect_indicators(struct metrics_out *o, void *ctx)
{
	struct tilive *t = ctx;

	return metrics_sample(o, atomic_load(&t->indicators), NULL);
}

static const struct metrics_family families[] = {
	{ "koban_ti_snapshot_loads_total", METRICS_COUNTER,
	  "Loads of the indicators into the serving snapshot, by result (a failed one keeps "
	  "the running snapshot).", collect_loads },
	{ "koban_ti_indicators", METRICS_GAUGE,
	  "Indicators in the serving snapshot (unexpired when it was loaded).",
	  collect_indicators },
};

int tilive_start(struct tilive **out, const char *data_dir, unsigned readers, bool metrics,
		 struct err *e)
{
	struct tilive *t = mem_calloc(1, sizeof(*t));
	const char *failed = NULL;
	int64_t gen = 0;
	int rc;

	*out = NULL;
	if (!t)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	if ((rc = meta_open(&t->meta, data_dir, e)) < 0 ||
	    (rc = ti_live_new(&t->live, readers, e)) < 0 ||
	    (rc = meta_indicator_generation(t->meta, &gen, e)) < 0 || (rc = load(t, gen, e)) < 0)
		goto fail;
	if (metrics) {
		if ((rc = metrics_register_families(families, ARRAY_SIZE(families), t, &failed))) {
			rc = err_set(e, rc, "metric %s: %s", failed ? failed : "?", strerror(-rc));
			goto fail;
		}
		t->registered = true;
	}
	if ((rc = -pthread_create(&t->thread, NULL, tilive_thread, t)) < 0) {
		rc = err_set(e, rc, "cannot start the indicator thread: %s", strerror(-rc));
		goto fail;
	}
	pthread_setname_np(t->thread, "koban-ti");
	t->started = true;
	*out = t;
	return 0;
fail:
	tilive_free(t);
	return rc;
}

struct ti_live *tilive_live(struct tilive *t)
{
	return t->live;
}

void tilive_kick(struct tilive *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->kicked = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

void tilive_free(struct tilive *t)
{
	if (!t)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stopping = true;
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	if (t->registered)
		metrics_unregister(t);
	ti_live_free(t->live);
	meta_close(t->meta);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
	mem_free(t);
}
