#include "core/worker.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define LOG_MODULE "worker"
#include "core/err.h"
#include "core/fairq.h"
#include "core/log.h"
#include "core/mem.h"

#define WORKER_POLL_MS 100

struct worker {
	struct workers *pool;
	unsigned index;
	pthread_t thread;
};

struct workers {
	struct fairq *q;
	worker_fn *fn;
	void *ctx;
	unsigned n;       /* threads started */
	atomic_bool abort; /* start failed half-way: exit without waiting for the close */
	struct worker w[WORKERS_MAX];
};

static void *worker_main(void *arg)
{
	struct worker *self = arg;
	struct workers *pool = self->pool;
	struct msg *batch[WORKER_BATCH];

	for (;;) {
		size_t n = fairq_pop(pool->q, batch, WORKER_BATCH, WORKER_POLL_MS);

		if (n)
			pool->fn(pool->ctx, self->index, batch, n);
		else if (atomic_load(&pool->abort) ||
			 (fairq_closed(pool->q) && !fairq_total_depth(pool->q)))
			break;
	}
	return NULL;
}

static unsigned default_count(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : (unsigned)MIN(cpus, WORKERS_MAX);
}

static void join_all(struct workers *w)
{
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->w[i].thread, NULL);
}

/* "koban-w3": names in top -H and in core dumps tell the threads apart. */
static void name_thread(struct worker *t)
{
	char name[16];

	snprintf(name, sizeof(name), "koban-w%u", t->index);
	pthread_setname_np(t->thread, name);
}

int workers_start(struct workers **wp, struct fairq *q, unsigned n, worker_fn *fn, void *ctx,
		  struct err *e)
{
	struct workers *w;
	int rc;

	*wp = NULL;
	if (!n)
		n = default_count();
	if (n > WORKERS_MAX)
		return err_set(e, -EINVAL, "workers: %u threads asked for, at most %d allowed",
			       n, WORKERS_MAX);
	w = mem_calloc(1, sizeof(*w));
	if (!w)
		return err_set(e, -ENOMEM, "workers: out of memory");
	w->q = q;
	w->fn = fn;
	w->ctx = ctx;
	for (; w->n < n; w->n++) {
		struct worker *t = &w->w[w->n];

		t->pool = w;
		t->index = w->n;
		rc = pthread_create(&t->thread, NULL, worker_main, t);
		if (rc) {
			err_set(e, -rc, "workers: cannot start thread %u of %u: %s", w->n + 1, n,
				strerror(rc));
			goto fail;
		}
		name_thread(t);
	}
	log_debug("%u worker threads started", n);
	*wp = w;
	return 0;
fail:
	/* The queue is the caller's: leave it open and let the started threads go. */
	atomic_store(&w->abort, true);
	join_all(w);
	mem_free(w);
	return -rc;
}

unsigned workers_count(const struct workers *w)
{
	return w->n;
}

void workers_stop(struct workers *w)
{
	if (!w)
		return;
	join_all(w);
	mem_free(w);
}
