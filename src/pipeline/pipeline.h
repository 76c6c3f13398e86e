/*
 * pipeline.h - the worker chain: decode -> normalize (ECS) -> output, one batch at a time.
 *
 * `koban serve` runs one pipeline with one worker slot per worker thread; `koban parse`
 * runs one with a single slot; both therefore print the same events for the same bytes.
 * For every message the pipeline
 *   1. picks the decoder of the message's format (parse/decoder.h; "auto" sniffs) and
 *      decodes it into an event; a message cut to the maximum size (truncated) loses the
 *      UTF-8 character the cut split (json_utf8_cut), so no text of it ends in half of one;
 *   2. normalizes: ecs.version, event.kind (`event`, or `pipeline_error` with
 *      error.message when decoding failed), event.dataset (the decoder's, unless it set
 *      one), event.ingested, organization.id/name (the tenant), log.source.address and
 *      koban.log.source.ip (the sender), log.flags ["truncated"], and
 *      koban.clock_skew_seconds when the device time is more than clock_skew_max away
 *      from the receive time (counted in koban_events_clock_skew_total{tenant,source});
 *   3. shows the finished event to the inspector, when one is set (struct pipeline_inspect:
 *      detection, src/detect), which may add fields to it;
 *   4. appends the event as one JSON line to the worker's buffer and hands the buffer to
 *      the output (struct pipeline_output) past flush_bytes and at the end of a batch.
 *
 * Memory: the pipeline owns per-worker arenas and buffers (bounded by max_message_size);
 * pipeline_batch() takes ownership of the messages and frees each with msg_free() once its
 * event is written; pipeline_event() does not. The output gets the lines only for the
 * duration of the call.
 *
 * Threads: pipeline_new/pipeline_free from one thread while no worker runs; worker slot w
 * (pipeline_event/batch/flush with that w) from one thread at a time; different slots
 * concurrently. The clock-skew metric is registered with core/metrics when `metrics` is set.
 */
#ifndef PIPELINE_PIPELINE_H
#define PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct msg;
struct pipeline;

#define PIPELINE_ECS_VERSION "8.17.0"

/*
 * Where finished events go. write() gets the buffered JSON lines (each ending in '\n') of
 * tenant slot `slot`; it may consume them (the spool empties what reached its file) and
 * returns 0 or a negative code; on failure the batch's events are counted as output_failed
 * (what the output retries or drops is its own business). Whatever is left in lines after
 * the call is discarded. too_large(), when set, is told of each event that could not be
 * written because its JSON did not fit the worker's buffer (the output counts it per tenant).
 * write_lines(), when set, is called instead of write() with the worker slot the lines were
 * made on (an output with per-worker state: the event store's WAL shard) and the number of
 * lines (events) in the buffer. event(), when set, replaces both: each finished event is
 * handed over as it is (valid during the call only), never formatted as JSON (`koban ingest`
 * stores events without encoding and decoding them again); a negative return counts the
 * event as output_failed. flush(), when set with event(), is called by pipeline_flush (the
 * end of a batch): an output that batches events hands them on (serve's sink); it counts
 * its own failures.
 */
struct event;
struct buf;

struct pipeline_output {
	int (*write)(void *ctx, unsigned slot, struct buf *lines);
	void (*too_large)(void *ctx, unsigned slot, size_t bytes);
	void *ctx;
	int (*write_lines)(void *ctx, unsigned worker, unsigned slot, struct buf *lines,
			   uint32_t count);
	int (*event)(void *ctx, unsigned worker, unsigned slot, struct event *ev);
	void (*flush)(void *ctx, unsigned worker);
};

/*
 * Where an event came from, for the inspector: the tenant slot, the matched source's name
 * (NULL: none), the decoder that built it and the receive time.
 */
struct decoder;

struct pipeline_origin {
	unsigned slot;
	const char *source;
	const struct decoder *decoder;
	int64_t received_ns;
};

/*
 * The stage between normalization and output (detection). event() is called on worker slot
 * `worker`'s thread with every finished event, pipeline errors included; it may add fields
 * to the event (they are stored with it) and must not keep pointers into it after the call.
 * It cannot fail the event: what it loses it counts itself.
 */
struct pipeline_inspect {
	void (*event)(void *ctx, unsigned worker, const struct pipeline_origin *o, struct event *ev);
	void *ctx;
};

struct pipeline_config {
	unsigned workers;            /* worker slots, >= 1 */
	size_t max_message_size;     /* largest message (sizes arenas and buffers) */
	size_t flush_bytes;          /* hand buffered lines to the output past this */
	int64_t clock_skew_max_ns;   /* 0: no skew check */
	int64_t fixed_now_ns;        /* event.ingested; 0: the clock (set for reproducible runs) */
	/* Tenant name of a slot for organization.*; NULL function or result: no organization. */
	const char *(*tenant_name)(void *ctx, unsigned slot);
	/* Generation of a slot (fairq_slot_gen) for per-tenant budgets; NULL: always 0. */
	unsigned (*tenant_gen)(void *ctx, unsigned slot);
	void *tenant_ctx;
	struct pipeline_output output; /* write NULL: events are built, then discarded */
	struct pipeline_inspect inspect; /* event NULL: no inspection */
	bool metrics;                /* register koban_events_clock_skew_total */
};

/* What one batch did; pipeline_batch() adds to it. */
struct pipeline_counts {
	uint64_t parsed;         /* decoded (events of kind "event") */
	uint64_t failed;         /* not decoded: written as kind "pipeline_error" */
	uint64_t too_large;      /* not written: the event did not fit the worker's buffer */
	uint64_t output_failed;  /* events in buffers the output refused */
	uint64_t clock_skew;     /* events marked with koban.clock_skew_seconds */
};

int pipeline_new(struct pipeline **p, const struct pipeline_config *c, struct err *e);
/* Unregisters the metric and frees everything; NULL is a no-op. */
void pipeline_free(struct pipeline *p);

/*
 * Builds m's event on worker slot w and buffers its JSON line (flushing first when the
 * buffer holds another tenant's lines or is past flush_bytes). Returns 0 when decoded, the
 * decoder's negative code (reason in e, the event still written as a pipeline_error), or
 * -ENOSPC when the event could not be written (counted in c as too_large). Counts go to c.
 */
int pipeline_event(struct pipeline *p, unsigned w, const struct msg *m,
		   struct pipeline_counts *c, struct err *e);
/* Hands worker slot w's buffered lines to the output. */
void pipeline_flush(struct pipeline *p, unsigned w, struct pipeline_counts *c);
/* pipeline_event() for each message, msg_free() after each, then pipeline_flush(). */
void pipeline_batch(struct pipeline *p, unsigned w, struct msg **msgs, size_t n,
		    struct pipeline_counts *c);

/* Changes clock_skew_max (ns, 0 = off) while workers run (SIGHUP); any thread. */
void pipeline_set_clock_skew_max(struct pipeline *p, int64_t ns);

/* Events counted in koban_events_clock_skew_total for (tenant, source) so far; source NULL = none. */
uint64_t pipeline_clock_skew_count(struct pipeline *p, const char *tenant, const char *source);

#endif
