/*
 * drops.c - koban_decoder_values_dropped_total: the registered sets and their collector.
 */
#include "parse/drops.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/err.h"
#include "core/metrics.h"

/* The registered sets in registration order; the lock guards the list and the links. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct drops *head, **tail = &head;

static pthread_once_t family_once = PTHREAD_ONCE_INIT;
static int family_rc;

void drops_count(struct drops *d, unsigned reason, uint64_t n)
{
	atomic_fetch_add_explicit(&d->counts[reason], n, memory_order_relaxed);
}

uint64_t drops_get(const struct drops *d, unsigned reason)
{
	return atomic_load_explicit(&d->counts[reason], memory_order_relaxed);
}

uint64_t drops_total(const struct drops *d)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < d->n; i++)
		n += drops_get(d, i);
	return n;
}

void drops_reset(struct drops *d)
{
	for (unsigned i = 0; i < d->n; i++)
		atomic_store_explicit(&d->counts[i], 0, memory_order_relaxed);
}

/* Called by metrics_render (under the registry's mutex, never ours first: no cycle). */
static int collect(struct metrics_out *o, void *ctx)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	for (const struct drops *d = head; d && !rc; d = d->next)
		for (unsigned i = 0; i < d->n && !rc; i++)
			rc = metrics_sample(o, drops_get(d, i), "decoder", d->decoder, "reason",
					    d->reasons[i], NULL);
	pthread_mutex_unlock(&lock);
	return rc;
}

static void register_family(void)
{
	family_rc = metrics_register("koban_decoder_values_dropped_total", METRICS_COUNTER,
				     "Values decoders read but did not keep as fields (they stay "
				     "in event.original), by decoder and reason.",
				     collect, &head);
}

int drops_register(struct drops *d, struct err *e)
{
	pthread_once(&family_once, register_family);
	if (family_rc < 0)
		return err_set(e, family_rc, "%s: cannot register its metrics: %s", d->decoder,
			       strerror(-family_rc));
	pthread_mutex_lock(&lock);
	if (!d->linked) {
		d->linked = true;
		d->next = NULL;
		*tail = d;
		tail = &d->next;
	}
	pthread_mutex_unlock(&lock);
	return 0;
}
