/*
 * wal.h - the write-ahead log: a batch of events is stored once its group commit has run.
 *
 * The log is split into shards so that writers never share a lock: each worker appends to
 * its own shard. A shard is a directory DIR/shard-NN holding files named by the first LSN
 * they contain (16 hex digits + ".wal") and a `checkpoint` file. LSNs (log sequence
 * numbers) count records per shard from 1 and never repeat. Format (little-endian; the
 * layout is described for operators in docs/store.md):
 *
 *   file header, 24 bytes:  "KOBANWAL" | u32 version (3, or 4 when the file begins with a
 *                            given-up record; 1 and 2 are read) | u32 shard | u64 first LSN
 *   record header, 32 bytes: u32 payload length | u32 CRC-32C (version 1: zlib's CRC-32)
 *                            of the rest of the header and the payload | u64 LSN | u64 tenant id |
 *                            u32 event count | u32 flags (WAL_FLAG_*; bit 31: the log's own)
 *   payload: the bytes given to wal_append (the caller's encoding of count events)
 *   given-up record: flags bit 31, tenant 0, count 0, payload u64 first | u64 last LSN of the
 *                            records given up by failed commits that it names (below)
 *
 * Durability: wal_append() writes the record into the page cache and returns its LSN; a
 * commit thread calls fdatasync on every shard with new records once per commit interval
 * (group commit), then publishes the shard's durable LSN, calls the durable callback with
 * the (tenant, count) of each record that became durable (koban_events_stored_total), and
 * wakes wal_wait_durable() callers (acknowledged inputs). A failed fdatasync gives up every
 * record not yet durable: the lost callback counts them, their waiters get -EIO, and a new
 * file starts at once (Linux may have dropped the failed pages and reports the error only
 * once, so the same file is never synced again to make them durable). Its first record, the
 * given-up record, names them, before any waiter is told, and its first commit makes that
 * durable: readers of the files (the replay, wal_scan_*) never hand over a given-up record nor
 * the records it names, so a record whose sender was told "not stored" is neither sealed nor
 * found, in this run or after a restart (what is left: docs/store.md). A write error (ENOSPC,
 * EIO, a file size limit) cuts the file back to the end of the last whole record, so the log
 * never holds half a record, and is returned to the caller, who keeps the batch and retries.
 *
 * Recovery: wal_open() replays every record after the shard's checkpoint through the replay
 * callback, in LSN order per shard, before anything can be appended; new records go to a new
 * file. A torn record at the end of a shard's last file (a crash in the middle of a write) is
 * cut off, logged and counted; when whole records follow it (a committed record damaged
 * where it lies looks the same), the bytes cut are first kept beside the file as
 * NAME.cut-UNIXTIME (synced), logged as an error and counted (cut_records_kept;
 * wal_find_kept finds such files); damage anywhere else is an error naming the file and offset,
 * never skipped silently, but in records given up (their given-up record is logged): the disk
 * failed to write them. Records missing between the checkpoint and the end (a file moved away)
 * are logged and counted (missing_records), and named in a given-up record of a new file,
 * made durable before wal_open() returns, so that every reader goes past them; a file that
 * starts before the one ahead of it ends is damage. wal_checkpoint() records that the owner
 * has everything up to an LSN elsewhere (sealed segments): replay starts after it and whole
 * files before it are deleted; when it covers every durable record of the current file, that
 * file goes too (an idle shard keeps no log the segments hold) and the next append starts a
 * new one.
 *
 * Ownership: the WAL copies nothing it is given beyond the call; payloads handed to the
 * replay callback are valid only during the call.
 *
 * Reading without opening (wal_scan_*): another thread or process reads the records after a
 * checkpoint straight from the files while the owner appends (the sealer, store/seal.h, and
 * the search of not-yet-sealed records). It opens every file first (a file a checkpoint
 * removes afterwards stays readable) and reads their given-up records, stops quietly at a
 * record still being written or torn, checks that LSNs follow each other, and never writes.
 *
 * Threads: wal_open/wal_close from one thread (the main thread). Each shard has one writer
 * at a time (wal_append: the worker that owns the shard); wal_checkpoint from one thread at a
 * time (the sealer), which may run beside the appends. wal_wait_durable, wal_durable_lsn,
 * wal_durable_events, wal_checkpoint_events, wal_shard_count and wal_stats from any thread.
 * A struct wal_scan from one thread at a time. The callbacks run on the commit thread
 * (durable, lost), a writer switching files (lost) or the opening thread (replay) and must
 * not call back into the WAL.
 */
#ifndef STORE_WAL_H
#define STORE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct wal;

#define WAL_MAX_SHARDS 64
#define WAL_MAX_PAYLOAD (64u << 20)

/*
 * Record flags, chosen by the writer and handed back by the replay. WAL_FLAG_SEALED: the
 * payload is keys_seal() output under the record's tenant's data key with block id
 * WAL_SEAL_BLOCK_ID, so a crypto-erased tenant's unsealed records are unreadable too.
 * Without it the payload is clear text (tests, tools).
 */
#define WAL_FLAG_SEALED 1u
/*
 * WAL_FLAG_EVCODEC: the (unsealed) payload is a batch of events in the binary encoding of
 * store/evcodec.h, as the sink writes it. Without it the payload is ECS JSON lines (tests,
 * tools); the sealer and the tail search read both.
 */
#define WAL_FLAG_EVCODEC 2u
#define WAL_SEAL_BLOCK_ID 0x4b4f42414e57414cull /* "KOBANWAL" */

/* Replay: one call per record, in LSN order within a shard. A negative return stops the replay
 * and wal_open returns it. */
typedef int wal_replay_fn(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
			  uint32_t count, uint32_t flags, const void *payload, size_t len);
/* Durable: count events of tenant are now on stable storage. */
typedef void wal_durable_fn(void *ctx, uint64_t tenant, uint32_t count);

struct wal_config {
	const char *dir;             /* created when missing (mode 0750) */
	unsigned shards;             /* 1..WAL_MAX_SHARDS; may differ from the last run's */
	unsigned commit_interval_ms; /* group commit period; 0 = fdatasync on every append */
	size_t file_max_bytes;       /* a shard starts a new file past this (0: 64 MiB) */
	wal_replay_fn *replay;       /* may be NULL: records are then only counted */
	wal_durable_fn *durable;     /* may be NULL */
	/*
	 * May be NULL: count events of tenant were appended but their commit failed (an
	 * fdatasync error); they are not known to be on disk and never become durable.
	 */
	wal_durable_fn *lost;
	void *ctx;                   /* passed to the callbacks */
};

struct wal_stats {
	uint64_t appended_records;
	uint64_t appended_bytes;   /* headers included */
	uint64_t commits;          /* fdatasync calls that succeeded */
	uint64_t commit_ns_total;  /* time spent in them */
	uint64_t write_errors;     /* appends refused by the file system */
	uint64_t sync_errors;      /* fdatasync failures */
	uint64_t replayed_records; /* at open */
	uint64_t torn_bytes;       /* cut off the end of a shard at open */
	/*
	 * Whole records found after a damaged one where a shard's last file was cut at open:
	 * the bytes cut were kept beside it (NAME.cut-UNIXTIME), not replayed.
	 */
	uint64_t cut_records_kept;
	uint64_t missing_records;  /* found missing at open (a file moved away), named since */
	uint64_t bytes_on_disk;    /* in the shards' files now */
};

/*
 * Opens (creating) the log in cfg->dir, replays what it holds (shards of an earlier run
 * with another shard count included) and starts the commit thread. e names the file and
 * offset of damage found by the replay.
 */
int wal_open(struct wal **w, const struct wal_config *cfg, struct err *e);
/* Commits what was appended, stops the commit thread and frees w. NULL: no-op. */
void wal_close(struct wal *w);

/*
 * Appends one record of count events of tenant to shard (< cfg->shards) and sets *lsn.
 * -EMSGSIZE past WAL_MAX_PAYLOAD, -EINVAL for flags with bit 31 (the log's own); a file
 * system error (-ENOSPC, -EIO, -EFBIG, ...) leaves the log as it was before the call.
 */
int wal_append(struct wal *w, unsigned shard, uint64_t tenant, uint32_t count, uint32_t flags,
	       const void *payload, size_t len, uint64_t *lsn, struct err *e);
/*
 * Blocks until lsn of shard is durable (0) or its commit failed (-EIO), or for at most
 * timeout_ms (-ETIMEDOUT; -1: no limit).
 */
int wal_wait_durable(struct wal *w, unsigned shard, uint64_t lsn, int timeout_ms);
/*
 * Whether the commit of any record first..last of shard failed. A writer whose records
 * first..last interleave with other writers' (the ack shard) asks this after waiting for
 * last: last may be durable in a new file while first was lost in the old one. Records
 * older than the last 16 failures count as failed (they cannot be told apart any more).
 */
bool wal_failed(struct wal *w, unsigned shard, uint64_t first, uint64_t last);
uint64_t wal_durable_lsn(struct wal *w, unsigned shard);
/*
 * Events (the records' counts) of shard's records after its checkpoint at wal_open, up to
 * wal_durable_lsn: read after wal_durable_lsn, at least that LSN's count. A record given up
 * by a failed commit never counts (no reader of the files hands it over). It only grows;
 * with the count at an LSN, the events after it are known without reading them (the
 * sealer's backlog). Kept per shard by the appends under the shard's lock and stored with
 * the durable LSN: no atomic on the append path.
 */
uint64_t wal_durable_events(struct wal *w, unsigned shard);
/*
 * Everything of shard up to lsn is kept elsewhere: stored in the checkpoint (atomically,
 * fsynced) and whole files up to it are removed. events is wal_durable_events' count at lsn
 * (the caller adds up the counts of the records it read), kept in memory for
 * wal_checkpoint_events. A checkpoint not past the current one changes nothing.
 */
int wal_checkpoint(struct wal *w, unsigned shard, uint64_t lsn, uint64_t events, struct err *e);
/*
 * wal_durable_events' count at the shard's checkpoint: 0 at wal_open (the count starts
 * there), then the events of the last wal_checkpoint that moved it. A new owner (a sealer
 * started again on the open log) takes it as the count of what it has.
 */
uint64_t wal_checkpoint_events(struct wal *w, unsigned shard);
void wal_stats(struct wal *w, struct wal_stats *out);
/*
 * Test hook: the (n+1)th fdatasync of a commit or a file switch from now fails with EIO, as
 * a disk's write error would (n = 0: the next one); -1 turns it off. Any thread.
 */
void wal_fail_sync_after(long n);
/*
 * Test hook: the (n+1)th cut-back of a partial record from now (after a write the file
 * system refused) fails with EIO, as ftruncate on a failing disk would; -1 turns it off.
 */
void wal_fail_cut_after(long n);
/* Shards of the log: the configured ones and those an earlier run left with more. */
unsigned wal_shard_count(struct wal *w);

/* ---- reading the files (any process) ---- */

/*
 * Whether the log in dir holds a record: 1 when a file of a shard is longer than its
 * header and, for a file that begins with a given-up record, than that record (found gets
 * its path, cut to size), 0 when none does or dir is missing, or a negative errno. Never
 * writes; any thread or process (the store's first-use rule for keys).
 */
int wal_find_records(const char *dir, char *found, size_t size, struct err *e);
/*
 * Whether the log in dir holds bytes a start cut off a shard and kept aside (NAME.cut-*: a
 * damaged record with whole records after it): 1 with the path of one in found (cut to
 * size), 0 when none does or dir is missing, or a negative errno. Never writes; any thread
 * or process (`koban store verify`).
 */
int wal_find_kept(const char *dir, char *found, size_t size, struct err *e);
/*
 * Copies every such file of the log in dir into dest's shard-NN (made when missing; a
 * backup's log, store/backup.h), synced, and adds them to *files. Never writes to dir.
 */
int wal_copy_kept(const char *dir, const char *dest, uint64_t *files, struct err *e);


struct wal_scan;

/*
 * Opens, read-only, every file of every shard of the log in dir that may hold a record after
 * from[shard] or the shard's checkpoint, whichever is later (from NULL or shard >= nfrom: the
 * checkpoint). A missing dir is a log without shards. The files stay open until
 * wal_scan_close.
 */
int wal_scan_open(struct wal_scan **sc, const char *dir, const uint64_t *from, unsigned nfrom,
		  struct err *e);
unsigned wal_scan_shards(const struct wal_scan *sc);
/* Hands over only tenant's records (the others' payloads are not even read). */
void wal_scan_tenant(struct wal_scan *sc, uint64_t tenant);
/* The LSN the shard's records are read after (from[shard] or its checkpoint). */
uint64_t wal_scan_from(const struct wal_scan *sc, unsigned shard);
/*
 * Calls fn (payload valid during the call) for each whole record of shard with an LSN after
 * the scan's start and up to to (UINT64_MAX: all), in order, but given-up records and those
 * they name, and sets *last (may be NULL) to the last LSN handed over or skipped as given up
 * (else an earlier call's, else the start); LSNs given up that no file holds count as skipped
 * once the scan has gone past everything before them, up to `to` in each call. A call goes on
 * after the last record an earlier call on this scan and shard looked at (handed over or
 * not). The end of what is written (a record being appended, or torn by a crash) ends the
 * scan without error; records missing (an LSN gap: e.g. files removed by a checkpoint before
 * they were opened) or damaged before the end (but records given up, damaged or missing where
 * they end a file) give -EBADMSG naming the file and offset; fn's negative return stops the
 * scan and is returned.
 */
int wal_scan_shard(struct wal_scan *sc, unsigned shard, uint64_t to, wal_replay_fn *fn,
		   void *ctx, uint64_t *last, struct err *e);
/*
 * Copies what shard holds after the scan's start into dest/shard-NN (dest: another log's
 * directory, made when missing): every file the scan opened, the last one cut after its last
 * whole record (one being appended is left out), through temporary names, and a checkpoint
 * at the scan's start, so that a log opened there replays exactly those records. Adds to
 * *records the records after the start (given-up ones not counted) and to *files the files
 * written. For a backup (store/backup.h); never writes to the scanned log.
 */
int wal_scan_copy(struct wal_scan *sc, unsigned shard, const char *dest, uint64_t *records,
		  uint64_t *files, struct err *e);
void wal_scan_close(struct wal_scan *sc);
/* wal_scan_open, wal_scan_shard of every shard, wal_scan_close. */
int wal_scan(const char *dir, const uint64_t *from, unsigned nfrom, wal_replay_fn *fn, void *ctx,
	     struct err *e);

#endif
