/*
 * sink.h - the serve sink: the pipeline's events into the write-ahead log, sealed with each
 * tenant's data key, made durable by group commit.
 *
 * Each worker encodes its events (sink_event, straight from the pipeline: never JSON) into a
 * batch of one tenant's events (store/evcodec.h); the batch becomes one WAL record
 * (store/wal.h) on the worker's own shard when the tenant changes, past SINK_BATCH_BYTES and
 * at the end of the worker's batch of messages (sink_commit): flags WAL_FLAG_SEALED |
 * WAL_FLAG_EVCODEC, payload keys_seal(tenant data key, WAL_SEAL_BLOCK_ID, batch), count =
 * the number of events, tenant = the tenant's id in koban.db. ECS JSON lines (sink_deliver,
 * and sink_write for acknowledged inputs) are decoded and encoded the same way. The WAL's
 * commit thread fsyncs every shard once per commit interval and then counts the records'
 * events in koban_events_stored_total{tenant}: an event is "stored" once it is on stable
 * storage, and the sealer (store/seal.h) reads it back from the WAL files into segments.
 * Shards: 0 .. workers-1 for the workers, then one more (sink_ack_shard) for acknowledged
 * inputs that are not workers (control socket and API ingest: sink_write, sink_wait).
 *
 * Back-pressure: when an append fails (ENOSPC, EIO, a file size limit) the WAL is left as it
 * was; sink_deliver marks the tenant's fair-queue slot output-blocked (its queue then fills,
 * TCP/TLS senders are paused, UDP drops are counted with reason output_error), counts the
 * error by reason in koban_store_write_errors_total, logs at a limited rate and retries with
 * a back-off (SINK_RETRY_MIN_MS doubling to SINK_RETRY_MAX_MS) until the append succeeds,
 * which unblocks the slot: writing resumes by itself once space returns. Only after
 * sink_stop()'s deadline are held events given up, counted as dropped (output_error).
 *
 * Quotas (store.quota, store.tenants.NAME.quota): a tenant's stored bytes are its segment
 * files (DATA_DIR/tenants/ID, counted again at most every SINK_RECOUNT_S seconds) plus the
 * bytes of the records it appended that are not known to be sealed: those since the last
 * count, and those before it until the sealer (sink_attach_sealer) has committed a
 * generation since that count. A batch arriving while that is at or above the quota is dropped, counted in koban_events_dropped_total{tenant,
 * reason="quota"} and logged at most once per SINK_LOG_INTERVAL_S per tenant. The check is
 * per batch, so a tenant may overshoot its quota by one batch (at most SINK_BATCH_MAX bytes).
 *
 * Memory: struct sink is allocated by sink_open and freed by sink_close; each worker owns a
 * batch buffer (at most SINK_BATCH_MAX) and an arena for decoding JSON lines; the lines given to
 * sink_deliver/sink_write stay the caller's (sink_deliver empties them). Data keys are held
 * per worker and wiped at close.
 *
 * Threads: sink_open, sink_stop, sink_flush and sink_close from the main thread;
 * sink_event, sink_commit and sink_deliver(worker) from that worker's thread only (one writer per shard); sink_write on
 * the ack shard from any thread (serialised inside); sink_wait, sink_set_config,
 * sink_forget_keys, sink_attach_sealer, sink_stored and sink_ack_shard from any thread.
 */
#ifndef STORE_SINK_H
#define STORE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct event;
struct err;
struct fairq;
struct keys_files;
struct sink;
struct wal;

#define SINK_RECORD_MAX (8u << 20)  /* bytes of JSON lines in one sink_write */
#define SINK_BATCH_BYTES (1u << 20) /* a worker's batch is appended past this */
#define SINK_BATCH_MAX SINK_RECORD_MAX /* an event that does not fit is dropped (too_large) */
#define SINK_RETRY_MIN_MS 10        /* first back-off after a failed append */
#define SINK_RETRY_MAX_MS 1000      /* back-off doubles up to this */
#define SINK_LOG_INTERVAL_S 10      /* one line per reason (per tenant for quotas) */
#define SINK_RECOUNT_S 10           /* a tenant's segment bytes are counted this often */
#define SINK_MAX_TENANTS 4096       /* tenants seen since the start (more: dropped, logged) */

struct sink_config {
	const char *data_dir;        /* DATA_DIR: wal/, keys/, tenants/ and koban.db */
	const struct keys_files *keys; /* master/signing key files (config keys:); NULL: keys/ */
	unsigned workers;            /* worker shards; the ack shard is number `workers` */
	unsigned commit_interval_ms; /* group commit period (store.commit_interval_ms) */
	size_t wal_file_max_bytes;   /* 0: the WAL's default */
	struct fairq *q;             /* slot names, stats, output-blocked flags; outlives the sink */
	const struct config *cfg;    /* quotas; sink_set_config replaces it at a reload */
	bool metrics;                /* register the metrics below */
};

/*
 * Opens DATA_DIR/wal (replaying nothing: the sealer reads the records back), the keys and
 * koban.db, and registers koban_events_stored_total{tenant}, koban_store_blocked{tenant},
 * koban_store_tenant_bytes{tenant}, koban_store_quota_bytes{tenant},
 * koban_store_write_errors_total{reason}, koban_store_wal_bytes, koban_store_commits_total
 * and koban_store_commit_seconds_total.
 */
int sink_open(struct sink **s, const struct sink_config *c, struct err *e);
/* Unregisters the metrics, commits and closes the WAL, wipes the keys, frees s. NULL: no-op. */
void sink_close(struct sink *s);

/*
 * The pipeline's event output (struct pipeline_output.event): encodes ev (of the tenant of
 * fair-queue slot, made on worker) into the worker's batch, appending the batch first when
 * it holds another slot's events or is past SINK_BATCH_BYTES (that append may block:
 * back-pressure). 0, or the negative code of an event that could not be encoded (counted as
 * dropped, too_large or output_error). ev is not kept: its strings are copied.
 */
int sink_event(struct sink *s, unsigned worker, unsigned slot, const struct event *ev);
/*
 * Appends worker's batch, if any (struct pipeline_output.flush, at the end of a batch of
 * messages): blocks while appends fail; 0 once appended or dropped by the quota (both
 * counted), or the last error once given up at the stop deadline (counted as dropped).
 */
int sink_commit(struct sink *s, unsigned worker);

/*
 * ECS JSON lines into the WAL (tests, tools): count lines of the tenant of
 * fair-queue slot, made on worker, into the worker's shard. Blocks while appends fail
 * (back-pressure, above); returns 0 once appended or dropped by the quota (both counted), or
 * the last error once given up at the stop deadline (the events then counted as dropped).
 * lines is emptied either way.
 */
int sink_deliver(struct sink *s, unsigned worker, unsigned slot, struct buf *lines,
		 uint32_t count);

/*
 * For acknowledged inputs: appends count lines (each ending in '\n') of tenant (its koban.db
 * id) to shard (sink_ack_shard in practice) and sets *lsn; no retry: the error is returned
 * (-EDQUOT over the tenant's quota, -ENOENT for an unknown tenant, the WAL's errors) with a
 * message in e. lines stays the caller's and unchanged.
 */
int sink_write(struct sink *s, unsigned shard, uint64_t tenant, struct buf *lines,
	       uint32_t count, uint64_t *lsn, struct err *e);
/*
 * Waits until records first..last of shard (the caller's: others' may lie between them) are
 * durable: 0; -EIO when the commit of any of them failed (counted as lost: send them again);
 * -ETIMEDOUT after timeout_ms (-1: no limit).
 */
int sink_wait(struct sink *s, unsigned shard, uint64_t first, uint64_t last, int timeout_ms);
/* The shard of acknowledged inputs that are not workers (= workers). */
unsigned sink_ack_shard(const struct sink *s);
/* The log, for the sealer (seal_start) and for readers of its statistics. */
struct wal *sink_wal(struct sink *s);

/*
 * A tenant's data key was destroyed or replaced (tenant erase): every worker reads its
 * tenants' keys again before its next append, so that no new record is sealed with a
 * destroyed key (the sealer would skip it as erased).
 */
void sink_forget_keys(struct sink *s);
/*
 * The sealer whose commits tell which log bytes are now in segments (quotas); NULL detaches
 * it (before seal_stop). Without one, appended bytes count until the process ends.
 */
struct seal;
void sink_attach_sealer(struct sink *s, struct seal *seal);
/* The configuration whose quotas apply from now on (reload); must outlive its use. */
void sink_set_config(struct sink *s, const struct config *cfg);
/* From now on, sink_deliver gives up after grace_ms (0: at once) instead of retrying. */
void sink_stop(struct sink *s, unsigned grace_ms);
/* Waits (up to timeout_ms each) until every shard's last appended record is durable. */
int sink_flush(struct sink *s, int timeout_ms);
/*
 * Counts an event of slot that the pipeline could not write because its JSON did not fit
 * the worker's buffer: koban_events_dropped_total{reason="too_large"}, logged limited.
 */
void sink_count_too_large(struct sink *s, unsigned slot, size_t bytes);
/*
 * Whether the sealer is needed now whatever the load: a tenant's appends are held back (a
 * full disk, an I/O error) or, in the last second, a tenant's bytes came within
 * SEAL_YIELD_WAL_BYTES of its quota (the records not yet sealed count in a quota, and more
 * than their segments will; a tenant whose quota is under that counts as near whenever it
 * delivers). A tenant the sink cannot resolve is held back in the fair queue only (serve's
 * hook asks fairq_output_blocked_slots). Any thread; atomics only (seal.h's busy hook).
 */
bool sink_held(struct sink *s);
/* Events of tenant (id) made durable since open (tests, the report at stop). */
uint64_t sink_stored(struct sink *s, uint64_t tenant);

#endif
