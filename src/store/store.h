/*
 * store.h - the event store: every tenant's events in sealed segments, imported and searched
 * through one API that always takes the tenant.
 *
 * Layout under the data directory (docs/store.md):
 *   DATA_DIR/keys/               the installation's keys (store/keys.h), made on first use
 *                                (a data directory with no stored data yet: store_keys_open)
 *   DATA_DIR/tenants/ID/         one directory per tenant (ID from koban.db), holding its
 *                                segments YYYY-MM-DD-NNNN.seg (store/segment.h)
 *   DATA_DIR/audit.log           one JSON line per search: when, who, tenant, query, rows
 *
 * Tenant isolation is enforced here, not by callers: a search reads only the directory of
 * the tenant it was given, opens each segment with that tenant's own data key and checks
 * the tenant id written in it, so no query text, name or path reaches another tenant's
 * events (a segment copied into another tenant's directory is refused, not read).
 *
 * Import: events are grouped by the UTC day of their @timestamp (the import time when they
 * have none) into one segment per day and import; store_import_finish() seals them all,
 * after which any process finds them. Search: newest segments and blocks first; a block is
 * read only when its time range, its bloom filter and the segment's index allow a match (the
 * query's literal values, store/match.h); only the fields the filter and the pipes read are
 * decoded (whole events only for the rows that matched), then the filter runs on each event
 * and the pipes (store/agg.h) on what matched. Events come out newest first by @timestamp
 * whatever order they were stored in: before each segment and block the search tells the
 * pipes' time order how new anything unread can be (a segment holds one day, a block header
 * its time range), and with a limit (store_search.limit, a head) a block or a day older than
 * all the events kept is not read. docs/store.md says how a search reads.
 *
 * Segment numbers are reserved race-free: a writer creates DIR/.YYYY-MM-DD-NNNN.seg.lock
 * with O_EXCL before it writes segment NNNN and removes it once the segment is sealed or
 * dropped, so importers and the sealer (store/seal.h) of one tenant never pick the same
 * number. A lock a crash left behind only makes its number skipped.
 *
 * Not-yet-sealed events: a search also reads the records of the tenant in the write-ahead log
 * (DATA_DIR/wal, store/wal.h) after the sealer's state (store/seal.h), and skips the segments
 * of a generation the sealer has not committed, so every event committed to the WAL is found
 * exactly once whether it is sealed or not, in the daemon or in another process.
 *
 * Searching again: a struct store keeps up to 8 segments open between searches (mapped, their
 * footers and index pages read, their decoders made) and its block readers' memory, so that
 * the triage engine's many small searches do not open every segment each time. A cached
 * segment is used only while the file under its name is the same file (device, inode,
 * size, modification and change times, as the handle mapped it) and the tenant's key is
 * the same key. One removed or replaced is closed at the next search or
 * store_release_idle() (the caller's idle tick), one unused for a minute too; erasure or
 * retention through the handle closes the tenant's at once (a removed file's space is freed
 * when its last mapping goes). It keeps 8 tenants' directory listings too, while each
 * directory is unchanged.
 *
 * Threads: a struct store from one thread at a time; open one per thread. A search that
 * reads two or more blocks of a segment starts one thread of its own for its duration
 * (when the machine has more than one CPU) that decodes every other block; the callbacks
 * are always called on the caller's thread, in order. Processes: any number may search and
 * import while the daemon seals (segments appear atomically).
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/agg.h"

struct err;
struct event;
struct store;
struct store_import;

/*
 * Opens the store for writing with every key in DATA_DIR/keys (made on first use:
 * store_keys_open).
 */
int store_open(struct store **st, const char *data_dir, struct err *e);
/*
 * The same with the master and signing keys where files says (the configuration's keys:
 * section; NULL members: DATA_DIR/keys). A key named there is never created. Without write
 * (search, store stats and verify, triage, the API) nothing is created or written, neither
 * DATA_DIR nor a key; a data directory without keys and without stored data then opens
 * with no keys, and its searches find nothing; importing and erasing need write.
 */
struct keys_files;
int store_open_keys(struct store **st, const char *data_dir, const struct keys_files *files,
		    bool write, struct err *e);
void store_close(struct store *st);

/*
 * The installation's keys for data_dir (DATA_DIR/keys, or where files says). They are made
 * on first use only: for a writer, when DATA_DIR/keys holds no master key, no master.id and
 * no data key, and DATA_DIR holds no stored data (store_data_find). A missing master key of
 * a data directory with stored data is -ENOENT naming the file, the data found and what to
 * do (restore keys/ from its backup, or name the key files in the configuration); never a
 * new key, which would open none of it. Without write nothing is written (no master.id
 * either) and a data directory without keys/ and without stored data gives *k NULL and 0.
 * Threads: any; the keys handle as store/keys.h says.
 */
struct keys;
int store_keys_open(struct keys **k, const char *data_dir, const struct keys_files *files,
		    bool write, struct err *e);
/*
 * Whether data_dir holds stored data: of tenant (NULL: of any), a segment in
 * DATA_DIR/tenants/ID; of any tenant, also a record in the write-ahead log (DATA_DIR/wal).
 * 1 (found gets the path of one, cut to size), 0 (none, or no such directory) or a
 * negative errno. Reads only; any thread or process.
 */
int store_data_find(const char *data_dir, const uint64_t *tenant, char *found, size_t size,
		    struct err *e);
/*
 * The data key of tenant for a writer (import, the sink): read, or made when the tenant has
 * none and no segment in DATA_DIR/tenants/ID (a tenant added again after an erasure has a
 * new id, so a new directory). A missing key of a tenant with segments is -ENOENT naming the
 * file and a segment. Two writers creating one tenant's key at once get the same key.
 * Threads: as keys_tenant (store/keys.h): one thread at a time per keys handle.
 */
struct keys_data_key;
int store_writer_key(struct keys *k, const char *data_dir, uint64_t tenant,
		     struct keys_data_key *out, struct err *e);

/* ---- import ---- */

struct store_import_stats {
	uint64_t events;   /* stored */
	uint64_t segments; /* sealed */
	uint64_t bytes;    /* of the sealed segment files */
};

int store_import_begin(struct store *st, uint64_t tenant, struct store_import **imp,
		       struct err *e);
/* Copies ev into the import (the caller may reuse ev's memory afterwards). */
int store_import_add(struct store_import *imp, const struct event *ev, struct err *e);
/* Seals every open segment and frees imp (also on error: what was sealed stays). */
int store_import_finish(struct store_import *imp, struct store_import_stats *out,
			struct err *e);
/* Drops what was not sealed yet and frees imp. */
void store_import_abort(struct store_import *imp);
/*
 * Called with each segment's (tenant, day, number) once its number is reserved, before its
 * file is made (so before it can be renamed to its final name); a negative return fails the
 * import (the sealer's journal).
 */
typedef int store_seal_hook_fn(void *ctx, uint64_t tenant, uint32_t day, uint32_t seq);
void store_import_set_hook(struct store_import *imp, store_seal_hook_fn *fn, void *ctx);
/* Events without @timestamp go to the day of ns (default: the import's start). */
void store_import_set_default_time(struct store_import *imp, int64_t ns);
/* Segments the import has open now (at most one per day, at most 16). */
size_t store_import_open_segments(const struct store_import *imp);

/* The data key of tenant (never created): -ENOENT when it has none (erased or never used). */
struct keys_data_key;
int store_tenant_key(struct store *st, uint64_t tenant, struct keys_data_key *out,
		     struct err *e);
/*
 * DATA_DIR/tenants/ID of tenant into out (4096 bytes), made (mode 0750) with create: 0 or < 0
 * (e set).
 */
int store_tenant_dir(struct store *st, uint64_t tenant, bool create, char *out, struct err *e);
/* Removes the segment (tenant, day, seq) and its number's lock, if there (the sealer's undo). */
int store_segment_remove(struct store *st, uint64_t tenant, uint32_t day, uint32_t seq,
			 struct err *e);

/* ---- search ---- */

struct store_search {
	uint64_t tenant;
	const char *query;      /* store/query.h; "" or "*" for every event */
	size_t query_len;
	int64_t from, to;       /* @timestamp bounds (ns, inclusive); INT64_MIN / INT64_MAX */
	int64_t now;            /* for relative times in the query */
	const char *who;        /* for the audit log: "alice (uid 1000)", "token ops-1" */
	uint64_t limit;         /* events the caller takes at most (0: every one); its
				   event_fn ends the search with -ECANCELED past them */
	bool read_order;        /* events in the order read, not newest first: for a caller
				   that takes every match and no order (the retro-hunt's scans),
				   which then costs no copy and no memory to order */
	agg_event_fn *event_fn; /* results, as store/agg.h gives them */
	agg_row_fn *row_fn;
	void *ctx;
	/*
	 * Optional, asked with ctx before each block's matches and each batch of unsealed
	 * records are handed on: true ends the search as a callback's -ECANCELED does (what was
	 * handed on stands). For a caller whose reader may leave while nothing matches for a
	 * long time (an API client that disconnects, a daemon stopping).
	 */
	bool (*gone)(void *ctx);
};

struct store_search_stats {
	uint64_t segments, blocks, blocks_read, events_read, matched;
	uint64_t results;       /* events or rows handed to the callbacks */
	uint64_t wal_records;   /* the tenant's WAL (and held) records read after the segments */
};

/*
 * The errors a search of query would give before it reads anything: its syntax, a value of
 * the wrong type for a field this process knows (`destination.port: https`, a /33), pipes
 * that cannot follow each other. For callers that must answer before they search (the API's
 * 400). Any thread.
 */
int store_query_check(const char *query, size_t len, int64_t now, struct err *e);
/* The same for a whole search: its time range (a to before its from) and its query. */
int store_search_check(const struct store_search *s, struct err *e);
/*
 * Bytes of the regular files in DATA_DIR/tenants/ID (its segments), as store quotas count
 * them; 0 when there is none. Any thread.
 */
uint64_t store_tenant_dir_bytes(const char *data_dir, uint64_t tenant);
/*
 * Runs the search. A callback returning -ECANCELED stops it early without error (a limit
 * reached); any other negative return stops it and is returned. Errors in the query name
 * their column; damaged segments name their file and offset.
 */
int store_search(struct store *st, const struct store_search *s, struct store_search_stats *out,
		 struct err *e);

/*
 * Searches a daemon runs at once for its clients, the API's and the control socket's
 * (`koban search` through a running serve) together, in one count per process: each may
 * hold 256 MiB of events it orders newest first. A client's search takes a slot before it
 * starts and gives it back when it ends; when none is free it is refused with
 * STORE_SEARCHES_BUSY (the API answers 503 with Retry-After). Any thread.
 */
#define STORE_CLIENT_SEARCHES_MAX 8
#define STORE_SEARCHES_BUSY "too many searches at once: try again"
bool store_search_slot_take(void);
void store_search_slot_give(void);
/* Test hook: slots there are (STORE_CLIENT_SEARCHES_MAX; 0 refuses every search). */
void store_test_max_searches(unsigned n);
/*
 * Closes the segments the handle keeps that are gone or another file now (an erasure or
 * retention elsewhere) or unused for a minute, and trims what the others keep of their
 * last read. Every search does it as it ends; a long-lived handle calls it now and then when
 * idle (the SOC engine every 10 s), so that no erased tenant's segment stays mapped.
 * NULL: nothing.
 */
void store_release_idle(struct store *st);

/* ---- erasure ---- */

struct store_erase_stats {
	uint64_t files, bytes;          /* every file of the tenant's directory, and its bytes */
	uint64_t events;                /* in the segments that open, wal_events, held_events */
	uint64_t wal_events;            /* durable in the write-ahead log and not sealed yet
					   (their records' headers say how many; no key needed):
					   left there, unreadable once the key is destroyed */
	uint64_t held_events;           /* in the tenant's held log (store/held.h), counted
					   the same way: removed with its files */
	uint64_t unreadable;            /* segments that do not open (damaged, another key's, no
					   key): their events are not counted */
	uint32_t first_day, last_day;   /* of the segments; first_day > last_day: none */
	bool has_key;                   /* store_erase_count: the tenant has a data key */
	bool key_destroyed;             /* store_erase_key: destroyed (false: there was none) */
	bool key_damaged;               /* the key file is damaged (keys_tenant_id_hash): its id
					   is lost, key_id_hash is of the file's bytes */
	unsigned char key_id_hash[32];  /* BLAKE2b-256 of the key's id */
};

/*
 * Crypto-erasure of a tenant's events, in three steps so that the caller can keep the
 * deletion certificate before the key is gone:
 * - store_erase_count() changes nothing: every file of the tenant's directory and its bytes,
 *   the events of the segments that open, of the write-ahead log's records that are not
 *   sealed yet and of the tenant's held log, apart (a log that cannot be read is logged,
 *   not counted), the segments that do
 *   not open (damage or a foreign
 *   key never stops an erasure), and the hash of the key's id when there is a key; a key
 *   file whose content is damaged does not stop it either (key_damaged, the hash of its
 *   bytes), but one that cannot be read (an I/O error, not a regular file, loose
 *   permissions) does: the key in it may be whole, and nothing is erased;
 * - store_erase_key() destroys the tenant's data key that out counted, damaged or not (every
 *   copy of the data, backups and the write-ahead log's records included, is unreadable from
 *   then on) and sets key_destroyed; a tenant without a key is not an error; -ESTALE, nothing
 *   destroyed, when the key is not the one counted any more (one was made meanwhile);
 * - store_erase_files() removes every file of the tenant's directory, going on past a file
 *   it cannot remove (the first is named in e), then the directory.
 * store_erase() runs the three.
 */
int store_erase_count(struct store *st, uint64_t tenant, struct store_erase_stats *out,
		      struct err *e);
int store_erase_key(struct store *st, uint64_t tenant, struct store_erase_stats *out,
		    struct err *e);
int store_erase_files(struct store *st, uint64_t tenant, struct err *e);
int store_erase(struct store *st, uint64_t tenant, struct store_erase_stats *out,
		struct err *e);

/* ---- retention ---- */

struct store_retain_stats {
	uint64_t days, segments, events, bytes; /* dropped (or, dry run, that would be) */
	uint32_t first_day, last_day;           /* of the dropped days; first > last: none */
	uint32_t cutoff;                        /* days before this one are dropped */
	uint64_t unreadable;                    /* dropped segments whose events were not counted */
};

/*
 * Retention by whole days: drops every segment of tenant whose UTC day is keep_days or
 * more before the day of now (ns), so the keep_days most recent days, today's included,
 * stay. keep_days 0 keeps everything. With dry_run only counts. A segment is counted
 * before it is removed (events from its footer; one that does not open, damaged or of an
 * erased key, is still removed and counted in unreadable). Segments are immutable and
 * removed with unlink(2): a search that has one open finishes reading it. A day's events
 * still in the write-ahead log are sealed into a new segment later, which a later run
 * drops.
 */
int store_retain(struct store *st, uint64_t tenant, unsigned keep_days, int64_t now,
		 bool dry_run, struct store_retain_stats *out, struct err *e);
/*
 * The ids of the tenants that have a directory under DATA_DIR/tenants (whether koban.db
 * still names them or not), ascending; *ids mem_alloc'ed (NULL when there is none).
 */
#define STORE_TENANTS_MAX 65536
int store_tenant_ids(struct store *st, uint64_t **ids, size_t *n, struct err *e);

/* Signs a deletion certificate (store/cert.h) with the installation's key into out. */
struct buf;
struct cert_info;
int store_sign_certificate(struct store *st, struct cert_info *ci, struct buf *out,
			   struct err *e);

/* ---- segments: stats and verification ---- */

struct store_segment_report {
	uint64_t tenant;
	uint32_t day, seq;       /* day: days since 1970-01-01 UTC */
	uint64_t events, bytes;  /* events in it, bytes of its file */
	uint64_t raw_bytes;      /* the events' raw size (segment_info.raw_bytes) */
	int64_t tmin, tmax;      /* @timestamp range */
	bool superseded;         /* replaced by a sealer merge (deleted soon) or written by a
				    generation not committed yet: its events are counted in
				    another segment or are still in the WAL (store/seal.h) */
	int status;              /* 0, or the negative code of what was found (verify) */
	const char *error;       /* the message for status, naming file and offset */
};

typedef int store_segment_fn(void *ctx, const struct store_segment_report *r);

/*
 * Calls fn for each segment of tenant, oldest first; with verify, after reading every block
 * and the index (checksums, seals, encoding: segment_verify), reporting what is found and
 * going on to the next segment: nothing is repaired. Returns fn's first non-zero return,
 * -EBADMSG when verify found damage, or an error that stopped the walk.
 */
int store_segments(struct store *st, uint64_t tenant, bool verify, store_segment_fn *fn,
		   void *ctx, struct err *e);

/*
 * verify of tenant's held log: every record's checksum is read; *events: those of the
 * records the committed state covers (held for the tenant's key). -EBADMSG (e naming the
 * file and offset) when a record is damaged, or when a salvaged log's damaged copy is there
 * (store/held.h); 0 with 0 events when there is no held log.
 */
int store_held_verify(struct store *st, uint64_t tenant, uint64_t *events, struct err *e);
/*
 * verify of the write-ahead log's kept cuts (store/wal.h, wal_find_kept): -EBADMSG with e
 * naming one when a start kept bytes it cut aside, else 0 (or an error reading the log).
 */
int store_wal_verify(struct store *st, struct err *e);

/* A tenant's events not in segments yet (store_unsealed), and their payloads' bytes. */
struct store_unsealed {
	uint64_t wal_events, wal_bytes;   /* in the write-ahead log after the committed state */
	uint64_t held_events, held_bytes; /* in its held log (store/held.h) up to that state */
};

/*
 * What tenant has in the write-ahead log after the sealer's committed state, and in its held
 * log up to that state: not in segments yet. From the records' headers (nothing is decoded),
 * as of one committed state.
 */
int store_unsealed(struct store *st, uint64_t tenant, struct store_unsealed *out,
		   struct err *e);

#endif
