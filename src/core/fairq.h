/*
 * fairq.h - per-tenant bounded queues served by deficit round-robin.
 *
 * Every tenant has a slot (a small integer, stable for the life of the process) with its
 * own bounded queue (by count and bytes), an events-per-second token bucket, and its
 * counters (struct tenant_stats). Producers (listener threads) push messages into a
 * tenant's queue; consumers (worker threads) pop batches, taking at most `quantum`
 * messages from one tenant before the next active tenant gets its turn, so a flooding
 * tenant only fills its own queue and never delays another's messages.
 *
 * Ownership: a pushed message belongs to the queue; a popped one to the caller, which
 * frees it with msg_free(). fairq_free() frees messages still queued.
 *
 * Thread safety: every function may be called from any thread, except fairq_new/free.
 */
#ifndef CORE_FAIRQ_H
#define CORE_FAIRQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct msg;

#define FAIRQ_MAX_TENANTS 4096
#define FAIRQ_MAX_LISTENERS 32
#define FAIRQ_NAME_MAX 63

enum drop_reason {
	DROP_QUEUE_FULL,   /* tenant queue at capacity (UDP, which cannot wait) */
	DROP_RATE_LIMIT,   /* over the tenant's EPS limit (UDP) */
	DROP_NO_MEMORY,
	DROP_SHUTDOWN,     /* still queued when the drain deadline passed */
	DROP_OUTPUT_ERROR, /* queue full while the tenant's output fails (UDP), or held by a
			      failing output when the drain deadline passed */
	DROP_QUOTA,        /* parsed, but the tenant is over its store quota (store.quota) */
	DROP_TOO_LARGE,    /* parsed, but its JSON did not fit the worker's batch buffer */
	DROP_REASON_COUNT
};

/* The metric label of a drop reason ("queue_full", ...). */
const char *fairq_drop_reason_name(enum drop_reason r);

/* Counters of one tenant; updated with relaxed atomics, read by /metrics. */
struct tenant_stats {
	atomic_uint_fast64_t received[FAIRQ_MAX_LISTENERS]; /* by listener index */
	atomic_uint_fast64_t routed;        /* given this slot by the router (see below) */
	atomic_uint_fast64_t parsed;        /* decoded into an event */
	atomic_uint_fast64_t parse_failed;  /* kept raw, with the parse error noted */
	atomic_uint_fast64_t truncated;     /* longer than the maximum, cut */
	atomic_uint_fast64_t throttled;     /* times a TCP/TLS sender was paused */
	atomic_uint_fast64_t dropped[DROP_REASON_COUNT];
	/*
	 * Events the output dropped after they were parsed (output_error at the drain
	 * deadline, quota): already counted in parsed/parse_failed, so not part of the
	 * reclaim rule below; koban_events_dropped_total shows the sum of both arrays.
	 */
	atomic_uint_fast64_t output_dropped[DROP_REASON_COUNT];
};

struct fairq_config {
	unsigned capacity;   /* messages per tenant */
	size_t max_bytes;    /* bytes of message data per tenant */
	unsigned quantum;    /* messages per turn */
};

enum fairq_push_result {
	FAIRQ_OK = 0,
	FAIRQ_FULL = -1,         /* queue at capacity */
	FAIRQ_RATE_LIMITED = -2, /* no EPS tokens left this second */
	FAIRQ_CLOSED = -3,
	FAIRQ_OUTPUT_BLOCKED = -4, /* queue at capacity while the tenant's output is failing */
};

struct fairq;

int fairq_new(struct fairq **q, const struct fairq_config *cfg, struct err *e);
/* Unregisters q's metrics (if registered), then frees it. */
void fairq_free(struct fairq *q);
/*
 * Registers the per-tenant families with the metrics registry (core/metrics.h):
 * koban_events_{parsed,parse_failed,truncated,throttled}_total{tenant},
 * koban_events_dropped_total{tenant,reason} and koban_queue_depth{tenant}. One fair queue
 * per process registers (the daemon's); a second gets -EEXIST.
 */
int fairq_metrics_register(struct fairq *q);

/*
 * Slots of removed tenants are reused. A slot is LIVE (its tenant exists), RETIRED (its
 * tenant was removed; messages of it may still be queued, held by a listener or in a
 * worker) or FREE (reusable; a new tenant gets it, with zeroed counters and a new
 * generation). The rule that makes freeing safe without a reference count per message:
 *
 *   - every message given a slot is counted in `routed` by the router while it holds the
 *     lock of its table, and every message's end is counted exactly once, after the last
 *     use of its slot (name, stats, spool): `parsed` or `parse_failed` by the worker,
 *     `dropped[reason]` by whoever frees it unprocessed;
 *   - the router retires a slot (fairq_slot_retire) only after it swapped in a table that
 *     no longer names the tenant, so `routed` of a retired slot no longer grows;
 *   - fairq_reclaim() frees a retired slot when its queue is empty and every routed
 *     message has ended (routed == parsed + parse_failed + dropped). The router calls it
 *     at the start of a reload, so a slot retired at one reload is freed at the next one
 *     at the earliest.
 *
 * Whatever keeps state by slot (spool files, per-tenant caches) compares
 * fairq_slot_gen() to tell a reused slot from the old tenant's. Slot structures are never
 * moved or freed before fairq_free(), so a stale slot number is never a dangling pointer.
 */

/*
 * Slot of tenant name[0..len), created on first use (or given a freed slot); a retired
 * slot of that name becomes live again. -ENOSPC when all slots are taken, -EINVAL when
 * len > FAIRQ_NAME_MAX.
 */
int fairq_slot(struct fairq *q, const char *name, size_t len);
/* Marks slot's tenant as removed (no-op unless live). Main thread (reload). */
void fairq_slot_retire(struct fairq *q, unsigned slot);
/* Frees the retired slots that are quiet (rule above); returns how many. Main thread. */
unsigned fairq_reclaim(struct fairq *q);
/* True when slot belongs to a current tenant: /metrics and listings skip the others. */
int fairq_slot_in_use(const struct fairq *q, unsigned slot);
/* Generation of slot: changes whenever the slot is given to another tenant. */
unsigned fairq_slot_gen(const struct fairq *q, unsigned slot);
/*
 * Name of slot. The name of a live or retired slot is stable; that of a free slot may be
 * rewritten by a later fairq_slot().
 */
const char *fairq_slot_name(const struct fairq *q, unsigned slot);
/* Slots ever made, free ones included: iterate with fairq_slot_in_use(). */
unsigned fairq_slot_count(const struct fairq *q);
struct tenant_stats *fairq_stats(struct fairq *q, unsigned slot);
/* EPS limit of slot (0 = unlimited); takes effect at once. */
void fairq_set_eps(struct fairq *q, unsigned slot, uint32_t eps);
unsigned fairq_depth(const struct fairq *q, unsigned slot);
/*
 * Set by the output stage while writing slot's events fails (and cleared when a write
 * succeeds again). Meanwhile fairq_pop leaves slot's messages queued (until the queue is
 * closed), so the worker retrying its batch is the only one held up by that tenant, and a
 * full queue of slot is refused with FAIRQ_OUTPUT_BLOCKED instead of FAIRQ_FULL, so that the
 * drop or pause is attributed to the output.
 */
void fairq_set_output_blocked(struct fairq *q, unsigned slot, bool blocked);
bool fairq_output_blocked(const struct fairq *q, unsigned slot);

/*
 * Pushes up to n messages of one tenant in order; *taken tells how many were accepted
 * (the rest still belong to the caller). Returns FAIRQ_OK when all were taken, else the
 * reason the first refused one was refused. Counts nothing: the caller counts drops.
 */
int fairq_push(struct fairq *q, unsigned slot, struct msg **m, size_t n, size_t *taken);
/* True when slot has room and tokens for at least one more message. */
int fairq_can_push(struct fairq *q, unsigned slot);

/*
 * Pops up to max messages, all of one tenant, by deficit round-robin. Waits up to
 * timeout_ms (-1: forever) for work. Returns the number popped; 0 on timeout (also when
 * every queued message belongs to a slot whose output is blocked), or when the queue is
 * closed and empty (fairq_closed() tells which).
 */
size_t fairq_pop(struct fairq *q, struct msg **out, size_t max, int timeout_ms);
/* Refuses further pushes and wakes every waiting consumer. */
void fairq_close(struct fairq *q);
int fairq_closed(const struct fairq *q);
/* Messages queued in all tenants. */
size_t fairq_total_depth(const struct fairq *q);
/* Slots held back by their output now (fairq_set_output_blocked); any thread. */
unsigned fairq_output_blocked_slots(const struct fairq *q);

#endif
