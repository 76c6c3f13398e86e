/*
 * backup.h - a copy of the data directory that koban can open as one, taken while `koban
 * serve` runs or not (`koban store backup DIR`, docs/store.md "Backup and restore").
 *
 * The event store is copied as of one committed sealer state, as a search sees it (the state
 * is read before and after listing the segments, reading the journal and opening the WAL's
 * files; all is taken again when a commit came between): the segments of committed
 * generations, the WAL files that hold the records after that state (the last one of a shard
 * cut after its last whole record) with a checkpoint at the state, and the state itself. A
 * restore therefore replays exactly the records the copied segments lack. What `koban store
 * verify` names for a person (held logs' damaged copies, bytes the WAL's replay cut and kept)
 * is copied too, so that a restore names it as well. Then the data keys
 * (wrapped: not master.key nor signing.key, which are kept apart), koban.db through SQLite's
 * online backup, and every other regular file of the data directory but the optional clear
 * text output (spool/), the daemon's socket and pid file and temporary files.
 *
 * DIR is updated in place when it holds an earlier backup: a segment already there under its
 * name with the same size is kept (segments never change once sealed), segments and files no
 * longer in the data directory are removed. backup.partial marks a backup being written
 * (removed last), backup.info one that is complete (written last).
 *
 * Memory: nothing is kept after the call. Threads: any one thread; it never writes to
 * data_dir, so a daemon may run beside it.
 */
#ifndef STORE_BACKUP_H
#define STORE_BACKUP_H

#include <stdint.h>

struct err;

struct store_backup_stats {
	uint64_t segments;    /* in the backup */
	uint64_t copied;      /* of those, copied by this call (by any of its passes) */
	uint64_t kept;        /* of those, in DIR before this call */
	uint64_t removed;     /* segments removed from DIR (merged, dropped, erased since) */
	uint64_t log_records; /* WAL records after the state, in the backup */
	uint64_t log_files;
	uint64_t db_bytes;    /* koban.db (0: the data directory has none) */
	uint64_t other_files;
	uint64_t held_logs;   /* tenants' held logs (store/held.h) */
	uint64_t damaged_copies; /* kept aside for a person (verify names them): held logs'
				    damaged copies, bytes the WAL's replay cut and kept */
	uint64_t generation;  /* the sealer state copied */
};

/*
 * Backs data_dir up into dest (made when missing; refused with -ENOTEMPTY when it holds
 * other files and no backup.info or backup.partial). now: the time written in backup.info
 * (ns since the epoch). 0 with *out filled, or a negative code with e naming the file.
 */
int store_backup(const char *data_dir, const char *dest, int64_t now,
		 struct store_backup_stats *out, struct err *e);

/* Test hook: the next n segments to copy are taken as gone meanwhile (0: none). Tests only. */
void store_backup_test_vanish(unsigned n);

#endif
