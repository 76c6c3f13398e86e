/*
 * seal.h - the sealer: moves what the write-ahead log holds into per tenant, per day segments.
 *
 * A thread reads the records after the sealer's checkpoint back FROM THE WAL FILES (wal_scan,
 * store/wal.h), never from memory, so sealing during a run, the replay after a crash and the
 * search of not-yet-sealed records (store_search) are one mechanism. For each durable record:
 * the tenant's data key (a tenant whose key was destroyed by crypto-erasure: the record is
 * skipped and counted, reason "erased"), keys_unseal, its events (store/evcodec.h, or ECS JSON
 * lines), into the tenant's segments of the event's UTC day (store_import of store/store.h, so
 * segment numbers are chosen race-free against concurrent `koban ingest` processes).
 *
 * Lanes: that work per record is done by the tenant's lane (tenant id mod the number of
 * lanes). With one lane the sealer's thread does it; with more, each lane is a thread with its
 * own store handle that takes copies of its tenants' records through a bounded queue (4 MiB),
 * so a SOC's tenants are sealed on as many cores. A tenant's records stay in WAL order.
 * Commits, rollbacks and merges wait until every lane is idle.
 *
 * Generations: the records read since the last commit form one generation. It is committed when
 * its events reach a size bound (SEAL_BATCH_EVENTS) or its oldest record an age bound
 * (SEAL_MAX_AGE_MS), on seal_now() and on seal_stop(): every open segment is finished, then the
 * sealer's state (generation, sealed LSN of every shard) is replaced atomically, then the WAL is
 * checkpointed (whole files up to it removed). Files in DATA_DIR, beside the WAL's directory
 * rather than in it, so that a full WAL disk does not stop the commits that free it
 * (docs/store.md):
 *   seal.state    "KOBANSST" | u32 version | u32 shards | u64 generation | u64 LSN per shard |
 *                 u32 CRC-32: what is in segments; written (tmp, fsync, rename) before any
 *                 wal_checkpoint, so it is never behind the WAL's own checkpoints
 *   seal.journal  the generation being written: its number, then one line per segment
 *                 (tenant, day, number) appended and fsynced when its number is reserved,
 *                 so before its temp file is made and long before it is renamed
 * Recovery (seal_start, and after any error in a generation): the segments named by a journal
 * of an uncommitted generation are removed, with their temp and number lock files; the records are then read
 * again from the state's LSNs. A crash between a segment's rename and the state's commit thus
 * never duplicates events, and a crash before the state's commit loses none (they are in the
 * WAL). A search (store_search) skips the journal's segments and reads those records from the
 * WAL, from the same state (store.c: the snapshot is taken again when a commit races it).
 *
 * Held logs (store/held.h): a tenant whose data key does not open (damaged, unreadable or
 * wrapped by another master key; not a destroyed one) would stop every generation, so every
 * tenant's sealing, until it did. Its lane appends its records verbatim to
 * DATA_DIR/tenants/N/held.log instead (synced before the commit, like its segments), and
 * the other tenants are sealed; logged, and counted by koban_store_held_events. At the start
 * of a generation, at most every SEAL_HELD_RETRY_MS (and on seal_now), the key of each
 * tenant with a held log is tried again; when it opens, the lane journals the log (an "HN"
 * line, N the tenant) and seals its records of committed LSNs (those past them are in the
 * WAL, read again) into the generation; the commit removes the log before the journal, and
 * recovery removes a log that a committed journal names. Until then every record of a held
 * tenant goes to its log, even once its key opens: one sealed from the WAL while an earlier
 * append of a rolled-back generation waits in the log would be sealed twice. A generation
 * that both holds and seals a tenant's log (its key failed again) is rolled back. A damaged
 * log is salvaged at its open (store/held.h). Searches read a held log's committed records
 * until a committed journal names it (store.c).
 *
 * Metrics (registered by seal_start, unregistered by seal_stop; sinkw: do not register these):
 *   koban_store_seal_backlog_events   gauge: events of the records durable in the WAL after
 *                                     the committed state's LSNs: read into the open
 *                                     generation or not read yet (a pause for the busy hook,
 *                                     a slow sealer, a start before its first pass), those of
 *                                     erased tenants and damaged records included until the
 *                                     generation that skips them commits. The WAL's count of
 *                                     durable events per shard (wal_durable_events) less the
 *                                     sealer's count at its committed LSNs (from the WAL's
 *                                     count at its checkpoint at the start, plus the records
 *                                     it has read since): nothing is read for it.
 *   koban_store_sealed_events_total   counter: events committed into segments, by tenant id
 *   koban_store_sealed_segments_total counter: segments committed
 *   koban_store_seal_skipped_total    counter: WAL events not sealed, by reason
 *                                     (erased: the tenant's key is destroyed; invalid: a line
 *                                     that is not ECS JSON, logged rate-limited; unreadable: a
 *                                     record that does not open with the tenant's key, logged)
 *   koban_store_seal_errors_total     counter: generations rolled back after an error (retried)
 *   koban_store_segments_merged_total counter: small segments replaced by merged ones
 *   koban_store_seal_yield_seconds_total counter: time paused for the busy hook (below)
 *   koban_store_held_events           gauge: events in held logs (a rolled-back generation's
 *                                     appends included), waiting for their tenant's key
 *
 * Merging: once a minute (and on seal_now), when everything read is committed, a generation of
 * its own merges the small segments (under 32 MiB) of the tenant-day that has the most of them
 * (at least 4; up to 512 MiB at once) into new segments (a failure pauses merging an hour), so a quiet tenant does not keep a segment per generation. The old
 * ones are journaled as replaced ("-" lines) before the merge, listed in DATA_DIR/seal.dropped
 * at the commit (skipped by searches from then on) and deleted 10 minutes later (a search
 * in progress may still read them).
 *
 * Memory: the sealer owns its store handles and buffers (a lane thread's: two buffers of the
 * queue's 4 MiB, kept, one of them grown for a record past that and then given back; one
 * unsealed record); w stays the caller's and must outlive the sealer (seal_stop before
 * wal_close).
 *
 * Threads: seal_start/seal_stop from one thread (serve's main thread); seal_now and seal_stats
 * from any thread. The sealer's own thread is the only caller of wal_checkpoint on w.
 * The sealer's thread and its lanes' (koban-seal, koban-seal0, ...) run at nice SEAL_NICE:
 * under a burst the workers (whose appends make events "stored") get the CPU first, and the
 * sealer catches up as it frees up (its backlog is koban_store_seal_backlog_events; it still
 * gets a share of a saturated CPU). A nice value alone still leaves it the moments a worker
 * waits for its queue (a quarter of two cores in a burst of syslog), so with a busy hook
 * (seal_set_busy: serve's says its fair queue holds at least what the workers take in a
 * round, no tenant's appends are held back and no tenant is within SEAL_YIELD_WAL_BYTES of
 * its quota) the thread also pauses between slices of records, SEAL_YIELD_MS at a time,
 * while the hook says so, the WAL's files hold less than SEAL_YIELD_WAL_BYTES and their file
 * system has SEAL_YIELD_FREE times that free: a burst is sealed after it (a generation then
 * stays open past SEAL_MAX_AGE_MS), and past the bound the sealer takes the nice value's
 * share as before. seal_now and seal_stop never wait on it. The time paused is
 * koban_store_seal_yield_seconds_total (seal_stats: yield_ns).
 */
#ifndef STORE_SEAL_H
#define STORE_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/wal.h"

struct err;
struct seal;
struct wal;

#define SEAL_BATCH_EVENTS 200000u /* a generation is committed past this many events */
#define SEAL_MAX_AGE_MS 60000u     /* or when its oldest record is this old */
#define SEAL_TICK_MS 200u          /* the thread looks for new durable records this often */
#define SEAL_HELD_RETRY_MS 10000u  /* a held tenant's key is tried again this often */
#define SEAL_NICE 10               /* the thread's nice value: below the workers (0) */
#define SEAL_YIELD_MS 10u          /* a pause for the busy hook */
#define SEAL_YIELD_WAL_BYTES (1ull << 30) /* no pause once the WAL's files hold this much */
#define SEAL_YIELD_FREE 2u         /* nor with less than this many times that free */

struct seal_stats {
	uint64_t generation;       /* last committed */
	uint64_t backlog_events;   /* durable in the WAL, not in committed segments (the gauge) */
	uint64_t read_events;      /* of those, read into the open generation */
	uint64_t sealed_events;    /* committed since start */
	uint64_t sealed_segments;
	uint64_t skipped_erased;   /* events of tenants whose key is destroyed */
	uint64_t skipped_invalid;  /* lines that did not decode */
	uint64_t skipped_unreadable; /* events of records that do not open with the tenant's key */
	uint64_t errors;           /* generations rolled back */
	uint64_t merged_segments;  /* small segments replaced by merged ones */
	uint64_t yield_ns;         /* paused for the busy hook */
	uint64_t held_events;      /* in held logs (the gauge) */
};

/*
 * Recovers (journal, state, WAL checkpoints), then starts the thread. data_dir holds keys/,
 * tenants/ and wal/ (the log w was opened on DATA_DIR/wal). Everything durable in the WAL
 * after the state is sealed by the thread, the first generation right away.
 */
int seal_start(struct seal **sp, const char *data_dir, struct wal *w, struct err *e);
/*
 * The same with the master and signing keys where keys says (config keys:; NULL: keys/),
 * sealing on lanes threads (1 to 16; seal_start: 1): tenant id mod lanes picks the lane
 * that seals a tenant's records, so that many tenants are sealed on as many cores.
 */
struct keys_files;
int seal_start_files(struct seal **sp, const char *data_dir, const struct keys_files *keys,
		     struct wal *w, unsigned lanes, struct err *e);
/*
 * Whether ingest is behind: called by the sealer's thread before each slice of records and
 * every SEAL_YIELD_MS while it pauses, so it must be cheap and take no lock that a caller of
 * seal_now may hold.
 */
typedef bool seal_busy_fn(void *ctx);
/* Sets (fn NULL: clears) the busy hook; from any thread. */
void seal_set_busy(struct seal *s, seal_busy_fn *fn, void *ctx);
/* Seals everything durable (a last commit), stops the thread and frees s. NULL: no-op. */
void seal_stop(struct seal *s);
/*
 * Seals everything durable now and returns when it is committed: 0 or the error; then small
 * segments are merged (tests). seal_flush does the same without asking for the merge, which
 * stays on its minute: for `koban ingest` through the daemon, which must not rewrite merged
 * segments at every import. From any thread but the sealer's.
 */
int seal_now(struct seal *s, struct err *e);
int seal_flush(struct seal *s, struct err *e);
/*
 * Seals everything durable now, as seal_now, and then keeps the thread from starting another
 * pass (no generation open, none committed, no segment written or merged) until
 * seal_release(): what the store holds of a tenant stays as it was counted while the tenant
 * is erased (tenant erase through the daemon), and no open generation keeps writing its
 * segments with a key destroyed meanwhile. Held whatever the seal returned (the caller
 * decides whether to go on), and seal_release() must follow in every case. A second holder
 * waits for the first's release, and seal_now callers for the release too; the WAL fills
 * meanwhile. From any thread but the sealer's.
 */
int seal_hold(struct seal *s, struct err *e);
void seal_release(struct seal *s);
void seal_stats(struct seal *s, struct seal_stats *out);

/* ---- the sealer's files, for readers (store_search, any process) ---- */

struct seal_segment {
	uint64_t tenant;
	uint32_t day, seq;
	bool drop; /* (journal) replaced by a merged segment of the generation */
	bool held; /* (journal) the tenant's held log (store/held.h) is sealed by the
		    * generation: not a segment (day and seq 0) */
};

/* Whether list names segment (tenant, day, seq): held entries name none. */
bool seal_segment_listed(const struct seal_segment *list, size_t n, uint64_t tenant,
			 uint32_t day, uint32_t seq);
/* Whether list has tenant's held entry: its held log is sealed by a committed generation. */
bool seal_held_sealed(const struct seal_segment *list, size_t n, uint64_t tenant);

/*
 * The committed state of DATA_DIR: its generation and the sealed LSN of *n shards (0 and 0
 * when the sealer never committed: the WAL's checkpoints then tell where records start).
 */
int seal_state_read(const char *data_dir, uint64_t *generation, uint64_t lsn[WAL_MAX_SHARDS],
		    unsigned *n, struct err *e);
/*
 * The segments a search must skip when committed is the generation in seal.state: those a
 * journal of generation committed + 1 (not committed) wrote, or those a journal of generation
 * committed (committed, being cleaned up) replaced by merged ones; and the held logs that
 * committed generation sealed (held entries: the log is read no more, even when it is not
 * removed yet). *segs is mem_alloc'ed (NULL when *n is 0).
 */
int seal_journal_read(const char *data_dir, uint64_t committed, struct seal_segment **segs,
		      size_t *n, struct err *e);

/*
 * Test hook: the sealer calls _exit(99) when it reaches step (a crash point). Steps in order:
 * 1 after the first segment is journaled (before its file exists); 2 after the renames, before the state is
 * written; 3 after the state, before the journal is removed; 4 before the WAL checkpoints.
 * 0 (the default): never. Tests only.
 */
void seal_test_crash_at(int step);
/* Test hook: the busy hook pauses the sealer while the WAL holds less than this many bytes. */
void seal_test_yield_bound(uint64_t bytes);
/* Test hook: segments replaced by a merge are deleted this many seconds after (600). */
void seal_test_drop_grace(unsigned seconds);

#endif
