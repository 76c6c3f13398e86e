/*
 * ackin.h - the acknowledged-input path, shared by HTTP ingest (portal/ingest.h), RELP
 * (ingest/relp.h) and the pollers (ingest/poll.h): raw messages of one tenant are decoded
 * and normalised by a pipeline of ackin's own (the same decoders and ECS normalisation as
 * serve's workers, pipeline.h), the resulting ECS JSON lines are appended to the sink's
 * shard of acknowledged inputs (sink_write, store/sink.h), and the sender is acknowledged
 * only once ackin_wait() says the WAL commit that holds them is done.
 *
 *   struct ackin_batch b;
 *   if ((rc = ackin_begin(a, &b, &origin, wait_ms, &e)) == 0) {
 *           for (each message)
 *                   if ((rc = ackin_add(&b, data, len, received_ns)) < 0) break;
 *           rc = err_first(rc, ackin_end(&b, &e)); // writes the rest: b.lsn, b.events
 *   }
 *   if (rc == 0 && b.events)
 *           rc = ackin_wait(a, b.first_lsn, b.lsn, timeout_ms);  // durable: acknowledge
 *
 * A batch holds one of ackin's decoding slots (config `slots`, the number of callers that
 * decode at the same time) from ackin_begin to ackin_end; waiting for the commit does not
 * hold one, so many batches can wait for their commits while others decode. Tenants share
 * the slots fairly: one tenant may use them all, but while another tenant waits below its
 * share (half the slots, rounded up), a tenant at or above its share takes none. Lines are
 * appended to the WAL as the slot's buffer fills (about ACKIN_FLUSH_BYTES per record) and
 * at ackin_end; the LSN of the last record is the one to wait for (records of a shard become
 * durable in order). A failed append fails the batch: the first error is kept (b.rc, b.e),
 * later messages are not decoded, and records appended before it stay in the WAL (the
 * sender, not acknowledged, sends them again: at-least-once, counted as duplicates nowhere).
 *
 * Counting: every message given to ackin_add ends once in the tenant's fair-queue
 * statistics (koban_events_parsed_total / parse_failed_total: one per event the pipeline
 * built), or, when the batch had already failed, in dropped[output_error]. The caller counts
 * the message in `routed` (the router does for routed messages, fairq.h) before adding it.
 * A message ackin_add() cuts to max_message_size is also counted in the tenant's
 * `truncated` (koban_events_truncated_total); RELP's messages, added whole with
 * ackin_add_msg(), were counted so by the listener (ingest_msg_new) when they were cut.
 * koban_ackin_events_total{result} counts written, failed (the batch's append failed after
 * they were decoded) and refused (not decoded after a failure).
 *
 * Memory: struct ackin and its pipeline (one arena and one line buffer per slot, bounded by
 * max_message_size) are allocated by ackin_new and freed by ackin_free; a message's bytes
 * stay the caller's (copied into the slot's message when added with ackin_add).
 *
 * Threads: ackin_new/ackin_free on one thread while no batch is open; a batch belongs to
 * the thread that began it; ackin_begin, ackin_wait and ackin_tenant_id from any thread.
 */
#ifndef INGEST_ACKIN_H
#define INGEST_ACKIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/ipaddr.h"
#include "pipeline/pipeline.h"

struct ackin;
struct fairq;
struct msg;
struct sink;
struct spool;
struct tz;

#define ACKIN_FLUSH_BYTES (1u << 20) /* lines appended as one WAL record past this */
#define ACKIN_SLOTS_MAX 64

struct ackin_config {
	struct sink *sink;          /* the store's write side: sink_write on its ack shard */
	struct spool *spool;        /* output.file on: the lines also go to the tenant's JSON
	                               file once appended (store/spool.h); NULL: off */
	struct fairq *q;            /* tenant slots: names, generations, statistics */
	const char *data_dir;       /* koban.db, for the tenants' ids */
	unsigned slots;             /* batches decoding at once, 1..ACKIN_SLOTS_MAX */
	size_t max_message_size;    /* a longer message is cut and flagged truncated */
	int64_t clock_skew_max_ns;  /* as serve's pipeline (0: no check) */
	int64_t fixed_now_ns;       /* event.ingested for reproducible tests; 0: the clock */
	bool metrics;               /* register koban_ackin_events_total */
	struct pipeline_inspect inspect; /* detection on the decoding slots (0..slots-1) */
};

/* What the messages of one batch share (the sender, the source that matched it). */
struct ackin_origin {
	unsigned tenant;            /* fair-queue slot of the tenant */
	unsigned format;            /* decoder id (parse/decoder.h), DECODER_AUTO to sniff */
	const struct tz *tz;        /* zone of device-local times; NULL: the machine's */
	const char *source;         /* the source's name, or NULL (ackin keeps a copy) */
	struct ipaddr peer;         /* the sender; peer_port 0: none (log.source.* unset) */
	uint16_t peer_port;
	uint8_t listener;           /* listener index, for struct msg */
};

/* One caller's batch: its fields are read after ackin_end. */
struct ackin_batch {
	struct ackin *a;
	unsigned slot;              /* the decoding slot held */
	struct ackin_origin origin;
	uint64_t tenant_id;         /* koban.db id of the tenant */
	uint64_t first_lsn;         /* the first record appended */
	uint64_t lsn;               /* the last record appended (wait for it) */
	uint32_t events;            /* events appended to the WAL */
	uint32_t messages;          /* messages added */
	struct pipeline_counts counts; /* parsed, failed, too_large ... */
	int rc;                     /* the first failure (0: none) and its message */
	struct err e;
};

int ackin_new(struct ackin **a, const struct ackin_config *c, struct err *e);
/* Unregisters the metric, frees everything; NULL is a no-op. No batch may be open. */
void ackin_free(struct ackin *a);

/*
 * Starts a batch of origin's tenant: resolves its koban.db id (-ENOENT: no such tenant;
 * remembered per fair-queue slot for a few seconds) and
 * takes a free decoding slot, waiting up to wait_ms for one (-1: no limit); -EBUSY when none
 * was free in time (back-pressure: the caller asks the sender to retry later).
 */
int ackin_begin(struct ackin *a, struct ackin_batch *b, const struct ackin_origin *origin,
		int wait_ms, struct err *e);
/*
 * Decodes data[0..len) (one message, received at received_ns; cut to max_message_size,
 * flagged truncated and counted in the tenant's truncated when longer: HTTP ingest and the
 * pollers) into its event(s), appended to the WAL when the buffer is
 * full. 0, or the batch's failure (b->rc) once an append failed: stop adding then.
 * A message that does not decode is not a failure: it is stored as a pipeline_error event.
 */
int ackin_add(struct ackin_batch *b, const char *data, size_t len, int64_t received_ns);
/* The same for a message already built (its tenant must be the batch's); m stays the caller's. */
int ackin_add_msg(struct ackin_batch *b, const struct msg *m);
/*
 * Appends what is buffered and gives the slot back: 0 with b->lsn and b->events set (no
 * events: nothing to wait for), or the batch's first failure with its message in e.
 */
int ackin_end(struct ackin_batch *b, struct err *e);

/*
 * Waits until records first..last of the ack shard (a batch's first_lsn and lsn, or several
 * batches') are durable: 0; -EIO when the commit of any of them failed (a disk fault: they
 * were not stored, so do not acknowledge them); -ETIMEDOUT after timeout_ms.
 */
int ackin_wait(struct ackin *a, uint64_t first, uint64_t last, int timeout_ms);
/* Whether the commit of any record first..last of the ack shard failed (no wait). */
bool ackin_failed(struct ackin *a, uint64_t first, uint64_t last);

/* Batches waiting for a decoding slot now (tests, status). */
unsigned ackin_waiting(struct ackin *a);

/* The koban.db id of tenant name (-ENOENT with a message when there is none). */
int ackin_tenant_id(struct ackin *a, const char *name, uint64_t *id, struct err *e);

#endif
