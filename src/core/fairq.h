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
#include <stddef.h>
#include <stdint.h>

struct err;
struct msg;

#define FAIRQ_MAX_TENANTS 4096
#define FAIRQ_MAX_LISTENERS 32

enum drop_reason {
	DROP_QUEUE_FULL,   /* tenant queue at capacity (UDP, which cannot wait) */
	DROP_RATE_LIMIT,   /* over the tenant's EPS limit (UDP) */
	DROP_NO_MEMORY,
	DROP_SHUTDOWN,     /* still queued when the drain deadline passed */
	DROP_REASON_COUNT
};

/* The metric label of a drop reason ("queue_full", ...). */
const char *fairq_drop_reason_name(enum drop_reason r);

/* Counters of one tenant; updated with relaxed atomics, read by /metrics. */
struct tenant_stats {
	atomic_uint_fast64_t received[FAIRQ_MAX_LISTENERS]; /* by listener index */
	atomic_uint_fast64_t parsed;        /* decoded into an event */
	atomic_uint_fast64_t parse_failed;  /* kept raw, with the parse error noted */
	atomic_uint_fast64_t truncated;     /* longer than the maximum, cut */
	atomic_uint_fast64_t throttled;     /* times a TCP/TLS sender was paused */
	atomic_uint_fast64_t dropped[DROP_REASON_COUNT];
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

/* Slot of tenant name[0..len), created on first use; -ENOSPC when all slots are taken. */
int fairq_slot(struct fairq *q, const char *name, size_t len);
const char *fairq_slot_name(const struct fairq *q, unsigned slot);
unsigned fairq_slot_count(const struct fairq *q);
struct tenant_stats *fairq_stats(struct fairq *q, unsigned slot);
/* EPS limit of slot (0 = unlimited); takes effect at once. */
void fairq_set_eps(struct fairq *q, unsigned slot, uint32_t eps);
unsigned fairq_depth(const struct fairq *q, unsigned slot);

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
 * timeout_ms (-1: forever) for work. Returns the number popped; 0 on timeout, or when
 * the queue is closed and empty (fairq_closed() tells which).
 */
size_t fairq_pop(struct fairq *q, struct msg **out, size_t max, int timeout_ms);
/* Refuses further pushes and wakes every waiting consumer. */
void fairq_close(struct fairq *q);
int fairq_closed(const struct fairq *q);
/* Messages queued in all tenants. */
size_t fairq_total_depth(const struct fairq *q);

#endif
