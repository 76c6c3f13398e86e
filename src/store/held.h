/*
 * held.h - a tenant's held log: the WAL records the sealer could not seal because the
 * tenant's data key did not open (a damaged, unreadable or foreign key file), kept verbatim
 * in DATA_DIR/tenants/N/held.log until the key opens again. The sealer then moves them into
 * the WAL's committed state without stalling every other tenant behind one broken key.
 *
 * File: the magic "KOBANHL1", then records, each a 32-byte header (little-endian):
 *   u32 CRC-32C of the header's bytes 4..31 and the payload, u32 shard, u64 LSN, u32 count,
 *   u32 flags (the WAL's), u32 payload length, u32 CRC-32C of bytes 4..27 (the header's own:
 *   a damaged length is damage, not a torn end); then the payload as the WAL held it (sealed
 *   records stay sealed with the tenant's key).
 * A record counts only while its LSN is at most the sealer's committed LSN of its shard:
 * one past it was appended by a generation that was not committed, and the WAL still holds
 * it. Appending skips a record whose LSN is not above the last one of its shard, so that a
 * generation read again after a rollback or a crash appends nothing twice.
 *
 * Memory: a struct held is the caller's (held_close frees it); payloads passed to the scan's
 * callback are valid during the call. Threads: a struct held is used by one thread at a
 * time (the sealer lane that owns the tenant); held_scan may run in any thread and process
 * while another appends (it reads what was whole when it started, up to end).
 */
#ifndef STORE_HELD_H
#define STORE_HELD_H

#include "store/wal.h"

#include <stdbool.h>
#include <stdint.h>

struct err;
struct held;

#define HELD_NAME "held.log"
#define HELD_MAGIC "KOBANHL1"
#define HELD_HEADER 32

/*
 * Which records a scan hands over (those whose LSN is at most lsn[shard], shard < n: the
 * sealer's committed state; with all, every record) and which are committed: a committed
 * record cut short or damaged is damage, never a torn end.
 */
struct held_bound {
	const uint64_t *lsn;
	unsigned n;
	bool all;
};

/* Whether the record of shard at lsn is committed by b (its all aside). */
bool held_bound_commits(const struct held_bound *b, unsigned shard, uint64_t lsn);

/*
 * Opens DIR/held.log for appending, made when missing (DIR must exist). A torn end (a record
 * a crash cut while it was appended: not committed by b) is cut off. A damaged log (b says
 * what is committed) is salvaged: its whole records, before and after the damage (found again
 * by their headers' checksums), go to a new held.log, the damaged file is kept as
 * held.log.damaged-UNIXTIME, and an error is logged. The salvage's new file left by a crash
 * (DIR/.held.log.salvage: a copy of records held.log still holds) is removed, logged.
 */
int held_open(struct held **hp, const char *dir, const struct held_bound *b, struct err *e);
/*
 * Appends one WAL record: 0, or 1 when its LSN is not above the last one held of its shard
 * (held already). On a failed write the file is cut back to its last whole record; should
 * that fail too, the caller closes h (the next open cuts the torn end).
 */
int held_append(struct held *h, unsigned shard, uint64_t lsn, uint32_t count, uint32_t flags,
		const void *payload, size_t len, struct err *e);
/* held_scan of the whole records h holds (from any thread while h's own is not appending). */
int held_replay(struct held *h, uint64_t tenant, const struct held_bound *b, wal_replay_fn *fn,
		void *ctx, struct err *e);
/* Makes what was appended durable (the file; a new one's name and its directory's too). */
int held_sync(struct held *h, struct err *e);
/* The events of every record in the file (committed or not). */
uint64_t held_events(const struct held *h);
/* Whether h's file was removed (its tenant erased). */
bool held_gone(const struct held *h);
void held_close(struct held *h);

/*
 * Calls fn(ctx, shard, lsn, tenant, ...) for each whole record of the held log open as fd
 * (path names it in messages), read from its start up to end bytes, in file order, that b
 * hands over. A torn end (a header not whole, zeros, or a record b does not commit whose
 * payload is cut or, last, does not match) ends the scan without error; a bad magic or any
 * other fault gives -EBADMSG naming path and offset; fn's negative return stops the scan and
 * is returned. *valid (may be NULL) is set to the offset after the last whole record.
 */
int held_scan(int fd, const char *path, uint64_t end, uint64_t tenant,
	      const struct held_bound *b, wal_replay_fn *fn, void *ctx, uint64_t *valid,
	      struct err *e);
/*
 * Opens DIR's held log for reading as it is now: 1 with *fd (the caller closes it) and *end
 * (its size: what was whole then is read, appends after it were not committed), 0 when there
 * is none, or < 0 (e naming the file). Its name goes to path (size bytes). Any thread.
 */
int held_open_read(const char *dir, char *path, size_t size, int *fd, uint64_t *end,
		   struct err *e);
/*
 * Whether name (in a tenant's directory) is a damaged held log a salvage kept aside,
 * HELD_NAME.damaged-UNIXTIME[.N]: `koban store verify` names it, a backup copies it.
 */
bool held_damaged_name(const char *name);
/* The path of DIR's held log into out (size bytes): 0 or -ENAMETOOLONG (e set). */
int held_path(char *out, size_t size, const char *dir, struct err *e);

#endif
