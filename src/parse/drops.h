/*
 * drops.h - koban_decoder_values_dropped_total{decoder,reason}: the one counter family of
 * values a decoder read but did not keep as fields (the event is still decoded; the values
 * stay in event.original). docs/metrics.md lists every decoder's reasons.
 *
 * A decoder defines one struct drops per decoder label, with its reason names and one
 * counter for each, counts into it while decoding and registers it from its configure():
 *
 *   static const char *const reasons[] = { "name_budget", "event_full" };
 *   static _Atomic uint64_t counts[ARRAY_SIZE(reasons)];
 *   static struct drops my_drops = DROPS_INIT("azure", reasons, counts);
 *
 *   drops_count(&my_drops, 1, 1);       // a decoding thread: one value, reason "event_full"
 *   rc = drops_register(&my_drops, e);  // configure(): its series appear on /metrics
 *
 * Counting needs no registration (unit tests decode without configure). Every (decoder,
 * reason) of a registered set is a series, zeros included, in registration order.
 *
 * Memory: drops_register keeps a pointer to d (static storage in practice) for the rest of
 * the process and links it into its list; nothing is allocated or freed.
 *
 * Threads: drops_count, drops_get and drops_total from any thread (relaxed atomics);
 * drops_register from any thread, any number of times per set (the first links it);
 * drops_reset only where the decoder starts its counts over itself (postfix's configure).
 */
#ifndef PARSE_DROPS_H
#define PARSE_DROPS_H

#include <stdbool.h>
#include <stdint.h>

struct err;

struct drops {
	const char *decoder;         /* the decoder label */
	const char *const *reasons;  /* n reason labels */
	_Atomic uint64_t *counts;    /* n counters, indexed like reasons */
	unsigned n;
	struct drops *next;          /* drops.c's list of registered sets */
	bool linked;                 /* in that list (under drops.c's lock) */
};

/* A static struct drops for decoder; reasons and counts are arrays of the same size. */
#define DROPS_INIT(decoder_, reasons_, counts_)                                           \
	{ .decoder = (decoder_), .reasons = (reasons_), .counts = (counts_),              \
	  .n = sizeof(reasons_) / sizeof((reasons_)[0]) }

/* Counts n values of d's decoder not kept for reason (an index into d->reasons). */
void drops_count(struct drops *d, unsigned reason, uint64_t n);
/* The count of one reason, and of all of them. */
uint64_t drops_get(const struct drops *d, unsigned reason);
uint64_t drops_total(const struct drops *d);
/* Sets d's counters to 0. */
void drops_reset(struct drops *d);

/*
 * Registers the family with the metrics registry (once per process) and adds d's series
 * to it (once per set). 0, or a negative error code with a message in e.
 */
int drops_register(struct drops *d, struct err *e);

#endif
