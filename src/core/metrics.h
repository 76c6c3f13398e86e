/*
 * metrics.h - the process's registry of counters and gauges, rendered by GET /metrics.
 *
 * A module registers each metric family once, with its name, type, help text and a collect
 * callback; the admin listener renders whatever is registered, so adding a stage never means
 * editing the admin module. At render time the registry calls every family's callback, in the
 * order they were registered, and the callback emits the samples it has now:
 *
 *   static int collect_dropped(struct metrics_out *o, void *ctx)
 *   {
 *           struct fairq *q = ctx;
 *           int rc = 0;
 *
 *           for (unsigned s = 0; s < fairq_slot_count(q) && !rc; s++)
 *                   rc = metrics_sample(o, load(...), "tenant", fairq_slot_name(q, s),
 *                                       "reason", "queue_full", NULL);
 *           return rc;
 *   }
 *   metrics_register("koban_events_dropped_total", METRICS_COUNTER,
 *                    "Messages of the tenant dropped, by reason.", collect_dropped, q);
 *   ...
 *   metrics_unregister(q); // before q is freed
 *
 * Labels are NULL-terminated (name, value) pairs of C strings; values are escaped as the
 * Prometheus text format (0.0.4) requires. A callback returns 0 or the first negative code
 * metrics_sample() gave it.
 *
 * Ownership: the registry keeps the name and help pointers (string literals in practice) and
 * ctx as given; it never frees them. The owner of ctx calls metrics_unregister(ctx) before it
 * frees ctx: unregistering waits for a render in progress, so a callback never sees freed
 * state. Rendering twice with nothing registered in between gives the same families.
 *
 * Threads: metrics_register/metrics_unregister from any thread (the main thread in practice);
 * metrics_render from any thread (the admin listener's). One mutex serialises them, so a
 * callback must not call register or unregister.
 */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct metrics_out;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

typedef int metrics_collect_fn(struct metrics_out *o, void *ctx);

/*
 * Adds a family. -EEXIST when name is already registered (by any ctx), -EINVAL when name
 * is not a valid metric name, -ENOSPC past METRICS_MAX_FAMILIES.
 */
#define METRICS_MAX_FAMILIES 256
int metrics_register(const char *name, enum metrics_type type, const char *help,
		     metrics_collect_fn *collect, void *ctx);
/* One family, for modules that register several with the same ctx at once. */
struct metrics_family {
	const char *name;
	enum metrics_type type;
	const char *help;
	metrics_collect_fn *collect;
};

/*
 * Registers fams[0..n) with ctx: all or none. On a failure the families already registered
 * with ctx are removed again (metrics_unregister(ctx)), the code is returned and *failed (may
 * be NULL) names the family that failed.
 */
int metrics_register_families(const struct metrics_family *fams, size_t n, void *ctx,
			      const char **failed);

/* Removes every family registered with ctx (none: no-op). */
void metrics_unregister(void *ctx);

/* Emits one sample of the family being collected: labels are (name, value) pairs, then NULL. */
int metrics_sample(struct metrics_out *o, uint64_t value, ...)
	__attribute__((sentinel));
/* The same for a value that is not a whole number (seconds, ratios). */
int metrics_sample_double(struct metrics_out *o, double value, ...)
	__attribute__((sentinel));

/*
 * The samples of a histogram family: NAME_bucket{...,le="B"} for each bound of bounds[0..n)
 * (ascending) and "+Inf", cumulative, then NAME_sum and NAME_count. counts[i] is the number
 * of observations in (bounds[i-1], bounds[i]], counts[n] those above the last bound.
 */
int metrics_sample_histogram(struct metrics_out *o, const double *bounds,
			     const uint64_t *counts, size_t n, double sum, ...)
	__attribute__((sentinel));

/* Renders every registered family into out; 0, or -ENOSPC/-ENOMEM from out. */
int metrics_render(struct buf *out);

#endif
