/*
 * spool.h - the ECS JSON file output (output.file, off by default): each tenant's events as
 * ECS JSON lines appended to DATA_DIR/spool/TENANT.ndjson, besides the event store.
 *
 * Guarantees:
 * - Whole lines only. A batch is appended with write(2) calls on an O_APPEND descriptor; when
 *   a write stops short (ENOSPC, EIO...), the file is cut back to the end of the last whole
 *   line that reached it, those lines are removed from the caller's buffer and the rest stays
 *   there for the next attempt, so a line is neither split, glued to the next one nor written
 *   twice. A file is also cut back to its last newline when it is opened (a torn tail left by
 *   kill -9 or a crash during a short write).
 * - Rotation: spool_reopen() (SIGHUP) closes every file; the next write of each tenant opens
 *   its path again, so after `mv TENANT.ndjson TENANT.ndjson.1` new lines go to a new file.
 * - Nothing is silently lost. Failures are counted per tenant in
 *   koban_output_errors_total{tenant,reason} (reason open, write, no_space, too_large) and
 *   logged at most once per SPOOL_LOG_INTERVAL_S per reason. spool_deliver() keeps retrying a
 *   failing batch (back-off up to SPOOL_RETRY_MAX_MS) while the tenant's fair queue fills;
 *   the queue then reports FAIRQ_OUTPUT_BLOCKED, which pauses TCP/TLS senders and counts UDP
 *   drops with reason output_error. Only after spool_stop()'s deadline has passed are held
 *   lines given up, counted as dropped with reason output_error.
 *
 * Memory: struct spool is the caller's; spool_init allocates the per-tenant state, freed by
 * spool_release. The line buffers passed in stay the caller's.
 *
 * Threads: spool_init, spool_stop and spool_release from the main thread; spool_reopen from
 * any thread (the signal-handling main thread in practice); spool_write, spool_deliver and
 * spool_count_too_large from any worker thread, concurrently. Writers of one tenant are
 * serialised by that tenant's lock, which spool_reopen also takes, so a reopen never closes
 * a descriptor in the middle of a write.
 */
#ifndef STORE_SPOOL_H
#define STORE_SPOOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct buf;
struct err;
struct fairq;
struct log_limit;
struct spool_file;

enum spool_reason {
	SPOOL_ERR_OPEN,      /* the file could not be opened (or its torn tail not cut) */
	SPOOL_ERR_WRITE,     /* write(2) failed, other than for space */
	SPOOL_ERR_NO_SPACE,  /* ENOSPC or EDQUOT */
	SPOOL_ERR_TOO_LARGE, /* an event's JSON did not fit its worker's batch buffer */
	SPOOL_REASON_COUNT
};

#define SPOOL_LOG_INTERVAL_S 10  /* one error line per reason per interval */
#define SPOOL_RETRY_MIN_MS 10    /* first back-off after a failed write */
#define SPOOL_RETRY_MAX_MS 1000  /* back-off doubles up to this */
#define SPOOL_TENANT_MAX 256     /* bytes of a tenant name, NUL included */

struct spool {
	char *dir;                             /* DATA_DIR/spool */
	struct fairq *q;                       /* slots, stats, the output-blocked flag */
	_Atomic(struct spool_file *) *files;   /* by slot, made on first use */
	pthread_mutex_t lock;                  /* creation of files; the back-off wait */
	pthread_cond_t wake;                   /* spool_reopen and spool_stop cut waits short */
	atomic_int_fast64_t give_up_ns;        /* 0: retry for ever (CLOCK_MONOTONIC) */
	atomic_uint_fast64_t given_up;         /* events dropped by spool_deliver */
	struct log_limit *log;                 /* by reason, then one for give-ups */
};

/*
 * Creates DATA_DIR/spool and registers koban_output_errors_total and koban_output_blocked.
 * q must outlive the spool.
 */
int spool_init(struct spool *s, const char *data_dir, struct fairq *q, struct err *e);
/*
 * Unregisters the metrics, closes the files, frees the state (workers stopped); logs how
 * many events were given up, if any.
 */
void spool_release(struct spool *s);

/*
 * One attempt to append lines (whole JSON lines, each ending in '\n') to tenant's file of
 * slot. Returns 0 with lines emptied, or a negative errno with the lines that reached the
 * file removed from the front of lines and the rest left there (counted in the metric,
 * logged at a limited rate). -EINVAL when lines does not end with a newline or the tenant
 * name cannot be a file name (nothing written).
 */
int spool_write(struct spool *s, unsigned slot, const char *tenant, struct buf *lines);
/*
 * spool_write until it succeeds (0), backing off between attempts, or until the deadline of
 * spool_stop has passed: then the lines still held are counted as dropped (output_error),
 * lines is emptied and the last error returned. Blocks the calling worker meanwhile: that is
 * the back-pressure.
 */
int spool_deliver(struct spool *s, unsigned slot, const char *tenant, struct buf *lines);
/* Counts an event whose JSON was too large for the batch buffer (too_large); logs limited. */
void spool_count_too_large(struct spool *s, unsigned slot, const char *tenant, size_t bytes);
/* Closes every open file, so that the next write reopens its path (log rotation). */
void spool_reopen(struct spool *s);
/* From now on, spool_deliver gives up once grace_ms from now have passed (0: at once). */
void spool_stop(struct spool *s, unsigned grace_ms);
/* Failed attempts of slot for reason so far (tests, diagnostics). */
uint64_t spool_errors(struct spool *s, unsigned slot, enum spool_reason reason);

#endif
