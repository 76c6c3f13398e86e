#include "store/wal.h"
#include "core/compat.h"

#include "core/le.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define LOG_MODULE "wal"
#include "core/buf.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define FILE_MAGIC "KOBANWAL"
/*
 * Read: 1 to FILE_VERSION. Written: FILE_VERSION_PLAIN, and FILE_VERSION_GIVEN_UP for a file
 * that begins with a given-up record (below). 1: records summed with zlib's CRC-32. 3: as 2, for
 * batches of event batch version 2 (store/evcodec.h), so that a koban that cannot read those
 * refuses the file (at start, naming it) instead of skipping its events as unreadable. 4: as
 * 3, with a given-up record first, so that a koban that would read that record and the ones
 * it names as events refuses the file instead; every other file stays 3, which older kobans
 * read.
 */
#define FILE_VERSION 4
#define FILE_VERSION_PLAIN 3
#define FILE_VERSION_GIVEN_UP 4
/*
 * The flag of a given-up record: the first record of a file started while records given up
 * by a failed commit (fail_pending) are not yet behind a durable commit, or at a replay that
 * found records missing (name_missing). Tenant 0, count 0, payload u64 first and u64 last LSN
 * given up (after a failed commit all of them since the last durable commit, ending where the
 * file starts; missing ones end below an older file's name). Readers (the replay, wal_scan_*) hand
 * over neither it nor the records it names, so a record whose sender was told "not stored" is
 * never sealed nor found, after a restart too. Never handed to the writer's callers either:
 * wal_append refuses it.
 */
#define FLAG_GIVEN_UP (1u << 31)
#define GIVEN_UP_LEN 16
#define FILE_HEADER 24
#define RECORD_HEADER 32
#define DEFAULT_FILE_MAX (64u << 20)
#define PENDING_MAX (1u << 16) /* records awaiting their commit, per shard */
#define FAILED_MAX 16          /* failed commits remembered per shard for their waiters */
#define PATH_MAX_LEN 4096

/*
 * Locking, per shard: `lock` guards the writer state (fd, sizes, LSNs, pending records,
 * file list); `sync_lock` is held across an fdatasync and across a switch to a new file,
 * so the commit thread never syncs a descriptor the writer is closing. Order: sync_lock,
 * then lock. durable_lsn is read without a lock.
 */
struct pending {
	uint64_t lsn;
	uint64_t tenant;
	uint32_t count;
};

struct lsn_range {
	uint64_t lo, hi;
};

/* The ranges named by the given-up records of a shard's files, as a reader collects them. */
struct given_up {
	struct lsn_range *r; /* mem_realloc'ed */
	size_t n;
};

struct wal_shard {
	pthread_mutex_t lock;
	pthread_mutex_t sync_lock;
	char *dir;
	int fd;              /* current file, -1 until the first append */
	bool rotate;         /* the file ends in a record that could not be cut: start a new one */
	bool given_up;       /* a commit of the file failed: its records are lost, no sync left */
	size_t file_bytes;   /* of the current file */
	size_t file_start;   /* its bytes before the first appended record (a given-up record) */
	uint64_t next_lsn;
	uint64_t appended_lsn;
	atomic_uint_fast64_t durable_lsn;
	uint64_t checkpoint_lsn;
	/*
	 * Events of the records after the checkpoint at open: up to appended_lsn (under lock),
	 * up to durable_lsn (stored before it, so a reader of durable_lsn finds at least its
	 * count), up to checkpoint_lsn (as the caller of wal_checkpoint counted them).
	 */
	uint64_t appended_events;
	atomic_uint_fast64_t durable_events, checkpoint_events;
	struct pending *pending; /* ring of PENDING_MAX */
	size_t p_head, p_count;
	uint64_t *files;     /* first LSNs of the files on disk, ascending */
	size_t n_files, files_cap;
	uint64_t *file_sizes;
	/*
	 * The LSN ranges whose commit failed, the newest FAILED_MAX: wal_wait_durable says -EIO
	 * for them even once later records are durable. failed_hi is the highest LSN failed.
	 * Written under sync_lock and lock (fail_pending), so either one is enough to read.
	 */
	struct lsn_range failed[FAILED_MAX];
	unsigned n_failed; /* failures so far; failed[n_failed % FAILED_MAX] is the next slot */
	uint64_t failed_hi;
};

struct wal {
	struct wal_config cfg;
	size_t file_max;
	unsigned n_shards;   /* shards on disk or configured, whichever is more */
	struct wal_shard shards[WAL_MAX_SHARDS];

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t wait_lock;
	pthread_cond_t wake;      /* commit thread: stop */
	pthread_cond_t committed; /* wal_wait_durable */
	bool stopping;

	atomic_uint_fast64_t appended_records, appended_bytes, commits, commit_ns, write_errors,
		sync_errors, replayed_records, torn_bytes, cut_records_kept, missing_records,
		bytes_on_disk;
};

#define COUNT(c, k) atomic_fetch_add_explicit(&(c), (k), memory_order_relaxed)

/*
 * The checksum of a record (its header from the LSN on, then its payload) in a file of the
 * given version: CRC-32C from version 2 on, four times zlib's CRC-32 on a worker's small
 * records (the workers' largest cost after encoding), zlib's CRC-32 in version 1 files.
 */
static uint32_t record_crc(uint32_t version, const unsigned char *hdr, const void *payload,
			   size_t len)
{
	uLong crc;

	if (version >= 2)
		return crc32c(crc32c(0, hdr + 8, RECORD_HEADER - 8), payload, len);
	crc = crc32(0L, hdr + 8, RECORD_HEADER - 8);
	/*
	 * zlib takes uInt lengths; payloads stay far below 4 GiB (WAL_MAX_PAYLOAD). An empty
	 * payload adds nothing: crc32() given a NULL buffer returns 0, not crc, so it is not
	 * called (a writer's NULL and a reader's mapped pointer must give the same sum).
	 */
	return len ? (uint32_t)crc32(crc, payload, (uInt)len) : (uint32_t)crc;
}

/*
 * Whether h (FILE_HEADER bytes) heads a WAL file of shard whose first LSN is first, in a
 * version this code reads (1 to FILE_VERSION).
 */
static bool header_ok(const unsigned char *h, unsigned shard, uint64_t first)
{
	uint32_t version = le_get32(h + 8);

	return !memcmp(h, FILE_MAGIC, 8) && version >= 1 && version <= FILE_VERSION &&
	       le_get32(h + 12) == shard && le_get64(h + 16) == first;
}

static int path_of(char out[PATH_MAX_LEN], const char *dir, const char *name, struct err *e)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX_LEN)
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	return 0;
}

/* ---- the shard's list of files ---- */

static int files_add(struct wal_shard *s, uint64_t first_lsn, uint64_t size)
{
	if (s->n_files == s->files_cap) {
		size_t cap = s->files_cap ? 2 * s->files_cap : 16;
		uint64_t *f = mem_realloc(s->files, cap * sizeof(*f));
		uint64_t *z;

		if (!f)
			return -ENOMEM;
		s->files = f;
		z = mem_realloc(s->file_sizes, cap * sizeof(*z));
		if (!z)
			return -ENOMEM;
		s->file_sizes = z;
		s->files_cap = cap;
	}
	s->files[s->n_files] = first_lsn;
	s->file_sizes[s->n_files++] = size;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A name of 16 lower-case hex digits and ".wal": its first LSN, else 0. */
static uint64_t file_first_lsn(const char *name)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	return strcmp(name + 16, ".wal") ? 0 : v;
}

static void file_name(char out[32], uint64_t first_lsn)
{
	snprintf(out, 32, "%016llx.wal", (unsigned long long)first_lsn);
}

static int list_files(struct wal_shard *s, struct err *e)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return err_set(e, -errno, "cannot read %s: %s", s->dir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		uint64_t first = file_first_lsn(de->d_name);

		if (first && (rc = files_add(s, first, 0)))
			err_set(e, rc, "out of memory");
	}
	closedir(d);
	if (!rc && s->n_files > 1) /* sizes are all 0 here: only the LSNs need sorting */
		qsort(s->files, s->n_files, sizeof(*s->files), cmp_u64);
	return rc;
}

/* ---- checkpoint ---- */

/* The LSN in dir's checkpoint file: 0 when there is none. */
static int checkpoint_read_dir(const char *dir, uint64_t *lsn, struct err *e)
{
	char path[PATH_MAX_LEN];
	unsigned char b[12];
	ssize_t n;
	int fd, rc;

	*lsn = 0;
	if ((rc = path_of(path, dir, "checkpoint", e)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, -errno, "cannot open %s: %s", path, strerror(errno));
	}
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n != (ssize_t)sizeof(b) || (uint32_t)crc32(0L, b, 8) != le_get32(b + 8))
		return err_set(e, -EBADMSG, "%s: damaged checkpoint (expected 12 bytes with a "
				 "matching CRC)", path);
	*lsn = le_get64(b);
	return 0;
}

static int checkpoint_read(struct wal_shard *s, struct err *e)
{
	return checkpoint_read_dir(s->dir, &s->checkpoint_lsn, e);
}

/* Replaces dir's checkpoint file with lsn. */
static int checkpoint_put(const char *dir, uint64_t lsn, struct err *e)
{
	unsigned char b[12];

	le_put64(b, lsn);
	le_put32(b + 8, (uint32_t)crc32(0L, b, 8));
	return fileio_replace(dir, "checkpoint", b, sizeof(b), 0640, 0, e);
}

static int checkpoint_write(struct wal_shard *s, uint64_t lsn, uint64_t events, struct err *e)
{
	int rc;

	if ((rc = checkpoint_put(s->dir, lsn, e)))
		return rc;
	s->checkpoint_lsn = lsn;
	atomic_store(&s->checkpoint_events, events);
	return 0;
}

/* ---- given-up records (FLAG_GIVEN_UP) ---- */

/*
 * Whether the file fd of shard, named by its first LSN, begins with a given-up record: 1 with
 * *r the range it names, 0 when it does not (or not whole yet: a file being started), or a
 * negative errno.
 */
static int given_up_read(int fd, unsigned shard, uint64_t first, struct lsn_range *r)
{
	unsigned char b[FILE_HEADER + RECORD_HEADER + GIVEN_UP_LEN];
	const unsigned char *h = b + FILE_HEADER;
	int rc = fileio_pread_all(fd, b, sizeof(b), 0);

	if (rc <= 0)
		return rc;
	if (!header_ok(b, shard, first) || le_get32(b + 8) < FILE_VERSION_GIVEN_UP ||
	    le_get32(h) != GIVEN_UP_LEN || !(le_get32(h + 28) & FLAG_GIVEN_UP) ||
	    le_get64(h + 8) != first ||
	    record_crc(FILE_VERSION_GIVEN_UP, h, h + RECORD_HEADER, GIVEN_UP_LEN) != le_get32(h + 4))
		return 0;
	r->lo = le_get64(h + RECORD_HEADER);
	r->hi = le_get64(h + RECORD_HEADER + 8);
	return r->lo && r->lo <= r->hi && r->hi < first;
}

static int given_up_push(struct given_up *g, uint64_t lo, uint64_t hi, struct err *e)
{
	struct lsn_range *n = mem_realloc(g->r, (g->n + 1) * sizeof(*n));

	if (!n)
		return err_set(e, -ENOMEM, "out of memory");
	g->r = n;
	g->r[g->n++] = (struct lsn_range){ lo, hi };
	return 0;
}

/*
 * When the file fd begins with a given-up record, adds the range it names (when that ends
 * after from) and its own LSN (after from): a reader skips those. Only this record, read
 * whole with its checksum, is taken for a given-up record: a record elsewhere with flag bit
 * 31 is read and checked as any other, so damage there is never skipped unread. 1 when the
 * range was added, 0 when not, or a negative errno.
 */
static int given_up_add(struct given_up *g, int fd, unsigned shard, uint64_t first,
			uint64_t from, const char *path, struct err *e)
{
	struct lsn_range r;
	int rc = given_up_read(fd, shard, first, &r);

	if (rc < 0)
		return err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
	if (!rc)
		return 0;
	if (first > from && (rc = given_up_push(g, first, first, e)) < 0)
		return rc;
	if (r.hi <= from)
		return 0;
	return (rc = given_up_push(g, r.lo, r.hi, e)) < 0 ? rc : 1;
}

/* Whether a reader skips the record lsn: a given-up record (given_up_add) or one it names. */
static bool given_up_has(const struct given_up *g, uint64_t lsn)
{
	for (size_t i = 0; i < g->n; i++)
		if (lsn >= g->r[i].lo && lsn <= g->r[i].hi)
			return true;
	return false;
}

/*
 * Whether every record from lo to hi is named by one given-up record: those may be anything
 * after a crash (the disk failed to write them), and are not damage where they end a file.
 */
static bool given_up_all(const struct given_up *g, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < g->n; i++)
		if (lo >= g->r[i].lo && hi <= g->r[i].hi)
			return true;
	return false;
}

/*
 * The ranges of the given-up records of the shard's files (s->files) after its checkpoint,
 * each logged: the replay skips them.
 */
static int given_up_collect(struct wal_shard *s, unsigned shard, struct given_up *g,
			    struct err *e)
{
	for (size_t i = 0; i < s->n_files; i++) {
		char path[PATH_MAX_LEN], name[32];
		int fd, rc;

		file_name(name, s->files[i]);
		if ((rc = path_of(path, s->dir, name, e)))
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return err_set(e, -errno, "cannot open %s: %s", path, strerror(errno));
		rc = given_up_add(g, fd, shard, s->files[i], s->checkpoint_lsn, path, e);
		close(fd);
		if (rc < 0)
			return rc;
		if (rc)
			log_warn("%s: records %llu to %llu were given up (by a failed commit: "
				 "counted as lost, their senders told to send them again; or found "
				 "missing at an earlier start): not replayed",
				 path, (unsigned long long)g->r[g->n - 1].lo,
				 (unsigned long long)g->r[g->n - 1].hi);
	}
	return 0;
}

/* ---- replay ---- */

struct replay_pos {
	const char *path;
	const unsigned char *p;
	size_t size;
	size_t off;
	uint32_t version;    /* the file's (check_file_header) */
	uint64_t expect_lsn; /* 0 until the first record */
	const struct given_up *given_up; /* records not replayed */
	uint64_t next_first; /* the next file's first LSN (0: the last file) */
};

/*
 * Whether the bytes at off can be a record whose LSN is lo..hi by its length and LSN alone
 * (cheap: no checksum). Returns its payload length, or -1 with *why set.
 */
static long record_plausible(const struct replay_pos *pos, size_t off, uint64_t lo,
			     uint64_t hi, const char **why)
{
	const unsigned char *h = pos->p + off;
	size_t left = pos->size - off;
	uint64_t lsn;
	uint32_t len;

	if (left < RECORD_HEADER) {
		*why = "short record header";
		return -1;
	}
	len = le_get32(h);
	if (len > WAL_MAX_PAYLOAD) {
		*why = "record length over the maximum";
		return -1;
	}
	if (left - RECORD_HEADER < len) {
		*why = "record shorter than its length";
		return -1;
	}
	lsn = le_get64(h + 8);
	if (lsn < lo || lsn > hi) {
		*why = "LSN out of sequence";
		return -1;
	}
	return (long)len;
}

/* Whether the record of len payload bytes at off matches its checksum. */
static bool record_sum_ok(const struct replay_pos *pos, size_t off, long len)
{
	const unsigned char *h = pos->p + off;

	return record_crc(pos->version, h, h + RECORD_HEADER, (size_t)len) == le_get32(h + 4);
}

/*
 * Checks the record at pos->off, the next in sequence. Returns its payload length, or -1
 * with *why set when the bytes there are not a whole, valid record.
 */
static long record_at(const struct replay_pos *pos, const char **why)
{
	long len = pos->expect_lsn
		? record_plausible(pos, pos->off, pos->expect_lsn, pos->expect_lsn, why)
		: record_plausible(pos, pos->off, 0, UINT64_MAX, why);

	if (len >= 0 && !record_sum_ok(pos, pos->off, len)) {
		*why = "checksum mismatch";
		return -1;
	}
	return len;
}

/* What whole_after found in the bytes after a damaged record. */
struct after_damage {
	uint64_t records, events; /* whole ones after the checkpoint: not in segments */
	uint64_t sealed;          /* whole ones at or before it: in segments already */
	bool unsure;              /* the search stopped at its bound: whole records may follow */
};

/*
 * Whole records in the rest of the file after the record at pos->off that is not valid:
 * every offset is tried (damage may have changed the bad record's length), and a record
 * found must carry an LSN after the last one before it (at least pos->expect_lsn, and at
 * most one more per RECORD_HEADER bytes from pos->off: a record takes at least that), must
 * not be the log's own given-up record (only ever a file's first) and must match its
 * checksum, computed only for an offset whose length and LSN are plausible (most offsets
 * of damage or of a torn end are not: one cheap pass); after a record, the next is looked
 * for where it ends. The bytes checksummed for candidates that fail are bounded (twice the
 * rest plus 1 MiB: crafted payloads full of plausible headers): past that, *a is unsure.
 * Records at or before checkpoint are counted apart: the segments hold them.
 */
static void whole_after(const struct replay_pos *pos, uint64_t checkpoint,
			struct after_damage *a)
{
	size_t budget = 2 * (pos->size - pos->off) + ((size_t)1 << 20);
	uint64_t lo = pos->expect_lsn;

	*a = (struct after_damage){ 0, 0, 0, false };
	for (size_t off = pos->off + 1; off + RECORD_HEADER <= pos->size;) {
		const unsigned char *h = pos->p + off;
		const char *why;
		long len = record_plausible(pos, off, lo,
					    pos->expect_lsn + (off - pos->off) / RECORD_HEADER,
					    &why);

		if (len < 0 || (le_get32(h + 28) & FLAG_GIVEN_UP)) {
			off++;
			continue;
		}
		if ((size_t)len > budget) {
			a->unsure = true;
			return;
		}
		if (!record_sum_ok(pos, off, len)) {
			budget -= (size_t)len;
			off++;
			continue;
		}
		if (le_get64(h + 8) > checkpoint) {
			a->records++;
			a->events += le_get32(h + 24);
		} else {
			a->sealed++;
		}
		lo = le_get64(h + 8) + 1;
		off += RECORD_HEADER + (size_t)len;
	}
}

static int replay_records(struct wal *w, unsigned shard, struct replay_pos *pos, bool last,
			  struct err *e)
{
	struct wal_shard *s = &w->shards[shard];

	while (pos->off < pos->size) {
		const unsigned char *h = pos->p + pos->off;
		const char *why = NULL;
		long len = record_at(pos, &why);
		uint64_t lsn;
		bool live;
		int rc;

		if (len < 0) {
			if (last)
				return 1; /* a torn tail: the caller cuts it */
			if (pos->next_first > pos->expect_lsn &&
			    given_up_all(pos->given_up, pos->expect_lsn, pos->next_first - 1))
				return 0; /* the rest was given up: left as it is, never read */
			/* all the rest is at or below the checkpoint: the segments hold it */
			if (pos->next_first - 1 <= s->checkpoint_lsn) {
				log_warn("%s: offset %zu: %s, before the checkpoint: not read",
					 pos->path, pos->off, why);
				return 0;
			}
			/*
			 * The next file holds this LSN: the writer started it after a write it could
			 * not cut back (undo_partial), so the rest is that write, never a record.
			 */
			if (pos->next_first == pos->expect_lsn) {
				log_warn("%s: offset %zu: part of a record that a failed write left "
					 "(%s), and the next file starts at its LSN: not read", pos->path,
					 pos->off, why);
				return 0;
			}
			return err_set(e, -EBADMSG, "%s: offset %zu: %s (the log is damaged; "
					 "see docs/store.md)", pos->path, pos->off, why);
		}
		lsn = le_get64(h + 8);
		/* checked whole: a record with flag bit 31 is the log's own, never replayed */
		live = lsn > s->checkpoint_lsn && !(le_get32(h + 28) & FLAG_GIVEN_UP) &&
		       !given_up_has(pos->given_up, lsn);
		if (live && w->cfg.replay) {
			rc = w->cfg.replay(w->cfg.ctx, shard, lsn, le_get64(h + 16), le_get32(h + 24),
					   le_get32(h + 28), h + RECORD_HEADER, (size_t)len);
			if (rc < 0)
				return err_set(e, rc, "%s: offset %zu: the record could not be "
						 "replayed", pos->path, pos->off);
		}
		if (live) {
			COUNT(w->replayed_records, 1);
			s->appended_events += le_get32(h + 24);
		}
		pos->expect_lsn = lsn + 1;
		pos->off += RECORD_HEADER + (size_t)len;
	}
	return 0;
}

static int check_file_header(struct replay_pos *pos, unsigned shard, uint64_t first)
{
	if (pos->size < FILE_HEADER || !header_ok(pos->p, shard, first))
		return 0;
	pos->version = le_get32(pos->p + 8);
	return 1;
}

/*
 * Keeps the bytes a cut would discard, pos->off to the end of the file, beside it as
 * NAME.cut-UNIXTIME (.N when that is taken), written, synced and named durably before the
 * cut (fileio_replace): at every moment the bytes are in one file or the other. Its path goes
 * to kept.
 */
static int keep_cut(const struct wal_shard *s, const struct replay_pos *pos,
		    char kept[PATH_MAX_LEN], struct err *e)
{
	const char *base = strrchr(pos->path, '/') + 1; /* path_of() made it DIR/NAME */
	long long now = (long long)time(NULL);
	char name[64];

	for (unsigned n = 0; n < 100; n++) {
		int rc;

		if (n)
			snprintf(name, sizeof(name), "%s.cut-%lld.%u", base, now, n);
		else
			snprintf(name, sizeof(name), "%s.cut-%lld", base, now);
		rc = fileio_replace(s->dir, name, pos->p + pos->off, pos->size - pos->off, 0640,
				    FILEIO_NOREPLACE, e);
		if (rc != -EEXIST)
			return rc ? rc : path_of(kept, s->dir, name, e);
	}
	return err_set(e, -EEXIST, "%s: 100 cuts kept in this second", pos->path);
}

/*
 * Cuts the end of the shard's last file at pos->off, where a record is not whole or not
 * valid (a file without a whole header goes entirely). A crash in the middle of a write
 * leaves a torn record there, never committed; but a committed record damaged where it lies
 * (a bit flipped on the disk) looks the same, and the cut would discard every record after
 * it. Unsynced writes may reach the disk out of order, so the two cannot be told apart for
 * sure: when whole records not sealed yet follow (whole_after), the bytes cut are kept
 * beside the file first (keep_cut), logged as an error and counted (cut_records_kept);
 * `koban store verify` names the file until it is removed. Whole records after it that the
 * checkpoint covers are in segments: said, not kept.
 */
static int cut_tail(struct wal *w, struct wal_shard *s, struct replay_pos *pos, struct err *e)
{
	size_t cut = pos->size - pos->off;
	struct after_damage a = { 0, 0, 0, false };
	const char *why = "short file header";
	char kept[PATH_MAX_LEN];
	int rc;

	if (pos->off >= FILE_HEADER) { /* the header was read: records can be checked */
		(void)record_at(pos, &why); /* not valid: replay_records stopped there */
		whole_after(pos, s->checkpoint_lsn, &a);
	}
	if (a.records || a.unsure) {
		if ((rc = keep_cut(s, pos, kept, e))) {
			struct err cause = *e;

			return err_set(e, rc, "%s: offset %zu: a damaged record with %llu%s whole "
				       "records not sealed yet after it: their bytes could not be "
				       "kept aside before the cut, so nothing is cut and the log does "
				       "not open (%s)", pos->path, pos->off,
				       (unsigned long long)a.records, a.unsure ? " or more" : "",
				       cause.msg);
		}
		log_error("%s: offset %zu: a damaged record, and %llu whole records (%llu events) "
			  "after it%s: not a crash's torn end alone; the %zu bytes from there are "
			  "cut off the log and kept in %s (not replayed; see docs/store.md, "
			  "\"What happens after a crash\")", pos->path, pos->off,
			  (unsigned long long)a.records, (unsigned long long)a.events,
			  a.unsure ? " at least (the search for more stopped at its bound)" : "",
			  cut, kept);
		COUNT(w->cut_records_kept, a.records);
	} else if (a.sealed) {
		log_warn("%s: offset %zu: %s, and %llu whole records after it that the checkpoint "
			 "covers (in segments already): the %zu bytes from there are cut off",
			 pos->path, pos->off, why, (unsigned long long)a.sealed, cut);
	} else {
		log_warn("%s: cutting %zu bytes of a record torn by a crash at offset %zu (%s)",
			 pos->path, cut, pos->off, why);
	}
	COUNT(w->torn_bytes, cut);
	if (pos->off <= FILE_HEADER) { /* no whole record: the file goes (its name is reused) */
		if (unlink(pos->path) < 0)
			return err_set(e, -errno, "cannot remove %s: %s", pos->path,
				       strerror(errno));
		s->n_files--;
		return 0;
	}
	if (truncate(pos->path, (off_t)pos->off) < 0)
		return err_set(e, -errno, "cannot truncate %s: %s", pos->path, strerror(errno));
	s->file_sizes[s->n_files - 1] = pos->off;
	return 0;
}

static int remove_empty_last(struct wal *w, struct wal_shard *s, const char *path,
			     struct err *e)
{
	if (unlink(path) < 0)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	s->n_files--;
	return 0;
}

/*
 * Replays the shard's file i; *end is the LSN its records stop before (where the next file
 * must start, unless the records between were given up).
 */
static int replay_file(struct wal *w, unsigned shard, size_t i, const struct given_up *g,
		       uint64_t *end, struct err *e)
{
	struct wal_shard *s = &w->shards[shard];
	bool last = i + 1 == s->n_files;
	struct replay_pos pos = { .given_up = g, .next_first = last ? 0 : s->files[i + 1] };
	char path[PATH_MAX_LEN], name[32];
	struct stat st;
	void *map = NULL;
	int fd, rc;

	file_name(name, s->files[i]);
	if ((rc = path_of(path, s->dir, name, e)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = err_set(e, -errno, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	pos.path = path;
	pos.size = (size_t)st.st_size;
	s->file_sizes[i] = pos.size;
	if (pos.size) {
		map = mmap(NULL, pos.size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			rc = err_set(e, -errno, "cannot map %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	pos.p = map;
	/* the writer named the file by its next LSN: every one before was taken, torn or not */
	pos.expect_lsn = s->files[i];
	if (!check_file_header(&pos, shard, s->files[i])) {
		rc = last && pos.size < FILE_HEADER ? 1
			: err_set(e, -EBADMSG, "%s: not a koban WAL file of shard %u starting at "
				  "LSN %llu", path, shard, (unsigned long long)s->files[i]);
	} else {
		pos.off = FILE_HEADER;
		rc = replay_records(w, shard, &pos, last, e);
	}
	if (rc == 1)
		rc = cut_tail(w, s, &pos, e);
	else if (!rc && last && pos.size == FILE_HEADER)
		rc = remove_empty_last(w, s, path, e); /* its name is the next file's */
	if (!rc && pos.expect_lsn > s->next_lsn)
		s->next_lsn = pos.expect_lsn;
	*end = pos.expect_lsn;
fail:
	if (map)
		munmap(map, pos.size);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Checks that the shard's file i starts where the log before it ended (expect: the end of
 * file i - 1, or the LSN after the checkpoint). LSNs between, after the checkpoint, that no
 * file holds and no given-up record names are missing (a file moved away, as docs/store.md
 * says to do with a damaged one, or lost): *gap (lo 0: none). A file that starts before is
 * damage: two files would hold the same records.
 */
static int check_continuity(const struct wal_shard *s, size_t i, uint64_t expect,
			    const struct given_up *g, struct lsn_range *gap, struct err *e)
{
	uint64_t lo = MAX(expect, s->checkpoint_lsn + 1);
	char name[32];

	*gap = (struct lsn_range){ 0, 0 };
	if (i && s->files[i] < expect) {
		file_name(name, s->files[i]);
		return err_set(e, -EBADMSG, "%s/%s: the file starts at LSN %llu, where the one "
				 "before holds records up to %llu (the log is damaged; see "
				 "docs/store.md)", s->dir, name, (unsigned long long)s->files[i],
				 (unsigned long long)expect - 1);
	}
	if (s->files[i] > lo && !given_up_all(g, lo, s->files[i] - 1))
		*gap = (struct lsn_range){ lo, s->files[i] - 1 };
	return 0;
}

/* Logs the gap (before the file named by LSN gap->hi + 1) and adds it to missing. */
static int note_missing(const struct wal_shard *s, const struct lsn_range *gap,
			struct given_up *missing, struct err *e)
{
	char name[32];

	file_name(name, gap->hi + 1);
	log_error("%s: records %llu to %llu are missing before %s (a file moved away or lost): "
		  "not replayed, and those not sealed yet are lost", s->dir,
		  (unsigned long long)gap->lo, (unsigned long long)gap->hi, name);
	return given_up_push(missing, gap->lo, gap->hi, e);
}

static int open_new_file(struct wal *w, struct wal_shard *s, unsigned shard,
			 const struct lsn_range *gone, struct err *e);
static int commit_sync(int fd);

/*
 * Removes the current file (just started by name_missing) after its fdatasync failed with
 * sync_errno: a record naming missing ones that is not durable must not outlive the start.
 */
static int drop_named(struct wal_shard *s, int sync_errno, struct err *e)
{
	char path[PATH_MAX_LEN], name[32];
	int rc;

	close(s->fd);
	s->fd = -1;
	file_name(name, s->files[s->n_files - 1]);
	if ((rc = path_of(path, s->dir, name, e)))
		return rc;
	if (unlink(path) < 0)
		log_error("cannot remove %s: %s", path, strerror(errno));
	else if ((rc = fileio_sync_dir(s->dir)) < 0)
		log_error("cannot sync %s: %s", s->dir, strerror(-rc));
	return err_set(e, -sync_errno, "%s: fdatasync of the file naming the missing records: "
		       "%s", path, strerror(sync_errno));
}

/*
 * Names each range of missing records (note_missing) in a given-up record of a file of its
 * own, made durable now, so that every reader (the sealer, a search, the next replay) goes
 * past them as it goes past records given up by a failed commit; counted in missing_records.
 * The last such file stays the shard's current one: appends go on there, and a checkpoint
 * past it retires it as any other (retire_current). One that cannot be made durable is
 * removed again and the start fails: the next one finds the records missing again.
 */
static int name_missing(struct wal *w, struct wal_shard *s, unsigned shard,
			const struct given_up *missing, struct err *e)
{
	for (size_t i = 0; i < missing->n; i++) {
		const struct lsn_range *r = &missing->r[i];
		int rc, sync_errno;

		if (s->fd >= 0) { /* the one named before, durable */
			close(s->fd);
			s->fd = -1;
		}
		if ((rc = open_new_file(w, s, shard, r, e)))
			return rc;
		if ((sync_errno = commit_sync(s->fd) < 0 ? errno : 0)) {
			COUNT(w->sync_errors, 1);
			return drop_named(s, sync_errno, e);
		}
		COUNT(w->missing_records, r->hi - r->lo + 1);
		log_warn("%s: records %llu to %llu named in the file that starts at LSN %llu: "
			 "readers go past them", s->dir, (unsigned long long)r->lo,
			 (unsigned long long)r->hi, (unsigned long long)s->next_lsn - 1);
	}
	return 0;
}

static int replay_shard(struct wal *w, unsigned shard, struct err *e)
{
	struct wal_shard *s = &w->shards[shard];
	struct given_up g = { NULL, 0 }, missing = { NULL, 0 };
	uint64_t expect;
	int rc;

	if ((rc = checkpoint_read(s, e)) || (rc = list_files(s, e)))
		return rc;
	s->next_lsn = expect = s->checkpoint_lsn + 1;
	/* A given-up record comes after the records it names: all are known before replaying. */
	rc = given_up_collect(s, shard, &g, e);
	for (size_t i = 0; i < s->n_files && !rc; i++) {
		struct lsn_range gap;

		if ((rc = check_continuity(s, i, expect, &g, &gap, e)))
			break;
		/*
		 * The last file may be removed whole (its header or first record torn, or no
		 * record): the next LSN stays its name all the same, so the gap before it is
		 * still named below the file that names it.
		 */
		rc = replay_file(w, shard, i, &g, &expect, e);
		if (!rc && gap.lo)
			rc = note_missing(s, &gap, &missing, e);
	}
	mem_free(g.r);
	for (size_t i = 0; i < s->n_files; i++)
		COUNT(w->bytes_on_disk, s->file_sizes[i]);
	if (!rc)
		rc = name_missing(w, s, shard, &missing, e);
	mem_free(missing.r);
	s->appended_lsn = s->next_lsn - 1;
	atomic_store(&s->durable_events, s->appended_events);
	atomic_store(&s->durable_lsn, s->appended_lsn);
	return rc;
}

/* ---- appending ---- */

/*
 * The records a failed commit gave up that are not behind a durable commit yet (failed_hi
 * past durable_lsn): every record since the last durable commit up to the last one given up,
 * in *r. NULL when there are none. Under lock.
 */
static const struct lsn_range *given_up_pending(struct wal_shard *s, struct lsn_range *r)
{
	uint64_t durable = atomic_load(&s->durable_lsn);

	if (s->failed_hi <= durable)
		return NULL;
	*r = (struct lsn_range){ durable + 1, s->failed_hi };
	return r;
}

/*
 * What the shard's next file names as given up: the records a failed commit gave up
 * (given_up_pending), and the LSN the last file is named by when it holds no record (a write
 * into it failed and could not be cut back, or its sync failed before any record): that name
 * is taken, so the next file starts one LSN later, and that LSN is given up with them (a
 * reader then takes what the write left there for records given up). Under lock.
 */
static const struct lsn_range *next_file_gone(struct wal_shard *s, struct lsn_range *r)
{
	const struct lsn_range *pending = given_up_pending(s, r);

	if (!s->n_files || s->files[s->n_files - 1] != s->next_lsn)
		return pending;
	/* records given up end where the file starts: one range (otherwise the name stays) */
	if (pending && pending->hi + 1 != s->next_lsn)
		return pending;
	*r = (struct lsn_range){ pending ? pending->lo : s->next_lsn, s->next_lsn };
	return r;
}

/*
 * Starts the shard's next file, named by its next LSN (or the one after, when gone names that
 * LSN: next_file_gone). With gone (next_file_gone(), or missing records at the replay), the
 * file begins with a given-up record naming those records, written with the header in one
 * write so that a reader who lists the file finds it, and made durable by the file's first
 * commit. Under lock.
 */
static int open_new_file(struct wal *w, struct wal_shard *s, unsigned shard,
			 const struct lsn_range *gone, struct err *e)
{
	unsigned char h[FILE_HEADER + RECORD_HEADER + GIVEN_UP_LEN];
	bool given_up = gone != NULL;
	uint64_t first = given_up && gone->hi >= s->next_lsn ? gone->hi + 1 : s->next_lsn;
	size_t n = given_up ? sizeof(h) : FILE_HEADER;
	char path[PATH_MAX_LEN], name[32];
	int fd, rc;

	file_name(name, first);
	if ((rc = path_of(path, s->dir, name, e)))
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return err_set(e, -errno, "cannot create %s: %s", path, strerror(errno));
	memcpy(h, FILE_MAGIC, 8);
	le_put32(h + 8, given_up ? FILE_VERSION_GIVEN_UP : FILE_VERSION_PLAIN);
	le_put32(h + 12, shard);
	le_put64(h + 16, first);
	if (given_up) {
		unsigned char *r = h + FILE_HEADER;

		le_put32(r, GIVEN_UP_LEN);
		le_put64(r + 8, first);
		le_put64(r + 16, 0);
		le_put32(r + 24, 0);
		le_put32(r + 28, FLAG_GIVEN_UP);
		le_put64(r + RECORD_HEADER, gone->lo);
		le_put64(r + RECORD_HEADER + 8, gone->hi);
		le_put32(r + 4, record_crc(FILE_VERSION_GIVEN_UP, r, r + RECORD_HEADER,
					   GIVEN_UP_LEN));
	}
	if (write(fd, h, n) != (ssize_t)n || (rc = fileio_sync_dir(s->dir)) < 0) {
		rc = err_set(e, rc < 0 ? rc : errno ? -errno : -ENOSPC, "cannot write %s: %s", path,
			     strerror(rc < 0 ? -rc : errno ? errno : ENOSPC));
		close(fd);
		unlink(path);
		return rc;
	}
	if ((rc = files_add(s, first, n))) {
		close(fd);
		unlink(path);
		return err_set(e, rc, "out of memory");
	}
	COUNT(w->bytes_on_disk, n);
	s->fd = fd;
	s->file_bytes = s->file_start = n;
	if (given_up) { /* not pending: it has no waiter and counts no event */
		s->appended_lsn = first;
		s->next_lsn = first + 1;
	}
	return 0;
}

/* Whether a record of n bytes goes into the shard's current file as it is. Under lock. */
static bool file_has_room(const struct wal *w, const struct wal_shard *s, size_t n)
{
	return s->fd >= 0 && !s->rotate &&
	       (s->file_bytes <= s->file_start || s->file_bytes + n <= w->file_max);
}

/* ---- test hooks ---- */

/* The number of fdatasyncs (commit_sync) and cut-backs (undo_partial) left before one fails. */
static atomic_long sync_fail_after = -1, cut_fail_after = -1;

void wal_fail_sync_after(long n)
{
	atomic_store(&sync_fail_after, n);
}

void wal_fail_cut_after(long n)
{
	atomic_store(&cut_fail_after, n);
}

/* A test hook's count down (wal_fail_*_after): true when this call is the one to fail. */
static bool fault_now(atomic_long *after)
{
	long left = atomic_load(after);

	while (left >= 0 && !atomic_compare_exchange_weak(after, &left, left - 1))
		;
	return left == 0;
}

static void fail_pending(struct wal *w, struct wal_shard *s);

/*
 * Makes sure the shard has a current file with room for a record of n bytes, starting a new
 * one (after syncing the old, so that later commits of the new file cover everything).
 * Called with sync_lock held and lock not held.
 */
static int ensure_file(struct wal *w, struct wal_shard *s, unsigned shard, size_t n,
		       struct err *e)
{
	struct lsn_range gone;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->fd >= 0 && !file_has_room(w, s, n)) {
		/* a file given up is not synced again: a disk that keeps failing would hold the shard */
		if (!s->given_up && commit_sync(s->fd) < 0) {
			rc = err_set(e, -errno, "%s: fdatasync: %s", s->dir, strerror(errno));
			COUNT(w->sync_errors, 1);
			s->rotate = s->given_up = true; /* even with none pending: never synced again */
			fail_pending(w, s); /* as a failed commit: the file's records are not sure */
		} else {
			close(s->fd);
			s->fd = -1;
			s->rotate = s->given_up = false;
		}
	}
	if (!rc && s->fd < 0)
		rc = open_new_file(w, s, shard, next_file_gone(s, &gone), e);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ftruncate(fd, size), or the failure the test hook asks for (wal_fail_cut_after). */
static int cut_back(int fd, off_t size)
{
	if (fault_now(&cut_fail_after)) {
		errno = EIO;
		return -1;
	}
	return ftruncate(fd, size);
}

/*
 * The record did not go in whole: cut the file back to its last whole record. When even
 * that fails, the next append starts a new file through ensure_file(), which syncs and
 * closes this one under sync_lock: closing it here could pull the descriptor from under a
 * commit in progress, and the records before the torn one would count as durable unsynced.
 */
static void undo_partial(struct wal_shard *s)
{
	if (cut_back(s->fd, (off_t)s->file_bytes) < 0) {
		log_error("%s: cannot cut a partial record: %s; starting a new file", s->dir,
			  strerror(errno));
		s->rotate = true;
	}
}

static int append_locked(struct wal *w, struct wal_shard *s, uint64_t tenant, uint32_t count,
			 uint32_t flags, const void *payload, size_t len, uint64_t *lsn)
{
	unsigned char h[RECORD_HEADER];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)payload, len } };
	struct pending *p;
	int rc;

	le_put32(h, (uint32_t)len);
	le_put64(h + 8, s->next_lsn);
	le_put64(h + 16, tenant);
	le_put32(h + 24, count);
	le_put32(h + 28, flags);
	le_put32(h + 4, record_crc(FILE_VERSION, h, payload, len));
	if ((rc = fileio_writev_all(s->fd, iov, len ? 2 : 1)) < 0) {
		undo_partial(s);
		return rc;
	}
	s->file_bytes += sizeof(h) + len;
	s->file_sizes[s->n_files - 1] = s->file_bytes;
	p = &s->pending[(s->p_head + s->p_count++) % PENDING_MAX];
	*p = (struct pending){ s->next_lsn, tenant, count };
	*lsn = s->appended_lsn = s->next_lsn++;
	s->appended_events += count;
	return 0;
}

static int commit_shard(struct wal *w, struct wal_shard *s);

int wal_append(struct wal *w, unsigned shard, uint64_t tenant, uint32_t count, uint32_t flags,
	       const void *payload, size_t len, uint64_t *lsn, struct err *e)
{
	struct wal_shard *s;
	bool full, room;
	int rc;

	if (shard >= w->cfg.shards)
		return err_set(e, -EINVAL, "WAL shard %u of %u", shard, w->cfg.shards);
	if (len > WAL_MAX_PAYLOAD)
		return err_set(e, -EMSGSIZE, "a WAL record of %zu bytes is over the maximum of %u",
			       len, WAL_MAX_PAYLOAD);
	if (flags & FLAG_GIVEN_UP)
		return err_set(e, -EINVAL, "WAL record flags 0x%x: bit 31 is the log's own",
			       (unsigned)flags);
	s = &w->shards[shard];
	pthread_mutex_lock(&s->lock);
	full = s->p_count == PENDING_MAX; /* only this writer adds: still true below */
	pthread_mutex_unlock(&s->lock);
	if (full && (rc = commit_shard(w, s)) < 0)
		return err_set(e, rc, "%s: fdatasync: %s", s->dir, strerror(-rc));
	for (;;) {
		pthread_mutex_lock(&s->lock);
		room = file_has_room(w, s, RECORD_HEADER + len);
		if (room)
			rc = append_locked(w, s, tenant, count, flags, payload, len, lsn);
		pthread_mutex_unlock(&s->lock);
		if (room)
			break;
		/*
		 * No file yet, or it is full or must go (or a checkpoint retired it meanwhile):
		 * switching files takes sync_lock, which a commit holds across its fdatasync, so
		 * that no commit syncs a descriptor being closed. Appends into a file with room
		 * take lock only and go on while a commit syncs.
		 */
		pthread_mutex_lock(&s->sync_lock);
		rc = ensure_file(w, s, shard, RECORD_HEADER + len, e);
		pthread_mutex_unlock(&s->sync_lock);
		if (rc)
			goto fail;
	}
	if (rc) {
		err_set(e, rc, "%s: cannot append: %s", s->dir, strerror(-rc));
		goto fail;
	}
	COUNT(w->appended_records, 1);
	COUNT(w->appended_bytes, RECORD_HEADER + len);
	COUNT(w->bytes_on_disk, RECORD_HEADER + len);
	if (!w->cfg.commit_interval_ms && (rc = commit_shard(w, s)) < 0)
		return err_set(e, rc, "%s: fdatasync: %s", s->dir, strerror(-rc));
	return 0;
fail:
	COUNT(w->write_errors, 1);
	return rc;
}

/* ---- group commit ---- */

/*
 * Calls fn (the durable or the lost callback) for every pending record up to lsn and lets
 * them go; returns their events. Under s->lock.
 */
static uint64_t release_pending(struct wal *w, struct wal_shard *s, uint64_t lsn,
				wal_durable_fn *fn)
{
	uint64_t events = 0;

	while (s->p_count && s->pending[s->p_head].lsn <= lsn) {
		const struct pending *p = &s->pending[s->p_head];

		if (fn)
			fn(w->cfg.ctx, p->tenant, p->count);
		events += p->count;
		s->p_head = (s->p_head + 1) % PENDING_MAX;
		s->p_count--;
	}
	return events;
}

/* fdatasync(fd), or the failure the test hook asks for (wal_fail_sync_after). */
static int commit_sync(int fd)
{
	if (fault_now(&sync_fail_after)) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

/*
 * After a failed commit that gave up appended records: the shard's next file starts at once,
 * beginning with the given-up record that names them (open_new_file), so that from now on
 * readers of the files (a search, the sealer, the replay after a restart) skip them. When it
 * cannot be started, the next append starts it (ensure_file). Under sync_lock (no fdatasync
 * of the old file is in progress) and lock.
 */
static void start_after_failure(struct wal *w, struct wal_shard *s)
{
	struct err e = ERR_INIT;
	struct lsn_range gone;
	int old = s->fd;

	if (open_new_file(w, s, (unsigned)(s - w->shards), next_file_gone(s, &gone), &e) < 0) {
		log_error("cannot start the file that names the records given up: %s (the next "
			  "append tries again; until then a search may still find them)", e.msg);
		return;
	}
	if (old >= 0)
		close(old);
	s->rotate = s->given_up = false;
}

/*
 * A failed fdatasync: whatever the shard's current file holds past the durable LSN may not
 * be on disk, and Linux may already have dropped those pages and will not report the error
 * again, so a second fdatasync of the file proves nothing. Every record not yet durable
 * (those appended since the commit began included) is given up: the lost callback counts
 * them, their waiters get -EIO, no later commit of this file makes them durable, their events
 * leave the count of the durable ones (wal_durable_events), and a new file naming them is
 * started (start_after_failure). A given-up record alone that failed starts none: the next
 * append does, so that a disk that keeps failing does not get a file per commit interval.
 * Under sync_lock and lock.
 */
static void fail_pending(struct wal *w, struct wal_shard *s)
{
	uint64_t lo = atomic_load(&s->durable_lsn) + 1, hi = s->appended_lsn;
	bool appended;

	if (hi < lo || hi <= s->failed_hi)
		return;
	lo = MAX(lo, s->failed_hi + 1);
	s->failed[s->n_failed++ % FAILED_MAX] = (struct lsn_range){ lo, hi };
	s->failed_hi = hi;
	s->rotate = s->given_up = true;
	appended = s->p_count && s->pending[s->p_head].lsn <= hi;
	s->appended_events -= release_pending(w, s, hi, w->cfg.lost);
	if (appended)
		start_after_failure(w, s);
}

/* Whether the commit of a record first..last failed (fail_pending). Under s->lock. */
static bool range_failed(const struct wal_shard *s, uint64_t first, uint64_t last)
{
	unsigned n = MIN(s->n_failed, FAILED_MAX);

	if (!n || !last || first > s->failed_hi) /* last 0: nothing was written */
		return false;
	for (unsigned i = 0; i < n; i++)
		if (first <= s->failed[i].hi && last >= s->failed[i].lo)
			return true;
	/*
	 * Before the oldest failure remembered (FAILED_MAX failures ago) it cannot be told:
	 * say failed, so that no waiter takes a lost record for a stored one (a sender retries).
	 */
	return n == FAILED_MAX && first < s->failed[s->n_failed % FAILED_MAX].lo;
}

/* Syncs what the shard appended so far; 0, or the negative errno of fdatasync. */
static int commit_shard(struct wal *w, struct wal_shard *s)
{
	uint64_t target, target_events;
	int64_t t0;
	int fd, rc = 0;

	pthread_mutex_lock(&s->sync_lock);
	pthread_mutex_lock(&s->lock);
	fd = s->fd;
	target = s->appended_lsn;
	target_events = s->appended_events;
	pthread_mutex_unlock(&s->lock);
	/* after a failure, only a new file's records can become durable (fail_pending) */
	if (target > atomic_load(&s->durable_lsn) && target > s->failed_hi && fd >= 0) {
		t0 = time_now_ns();
		if (commit_sync(fd) < 0) {
			rc = -errno;
			COUNT(w->sync_errors, 1);
			log_error("%s: fdatasync failed: %s; the records not yet committed are counted "
				  "as lost (koban_store_lost_events_total) and a new file is started",
				  s->dir, strerror(errno));
			pthread_mutex_lock(&s->lock);
			fail_pending(w, s);
			pthread_mutex_unlock(&s->lock);
		} else {
			COUNT(w->commits, 1);
			COUNT(w->commit_ns, (uint64_t)(time_now_ns() - t0));
			pthread_mutex_lock(&s->lock);
			atomic_store(&s->durable_events, target_events);
			atomic_store(&s->durable_lsn, target);
			/* their events are in target_events already */
			(void)release_pending(w, s, target, w->cfg.durable);
			pthread_mutex_unlock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->sync_lock);
	pthread_mutex_lock(&w->wait_lock); /* waiters of a failed commit learn it too */
	pthread_cond_broadcast(&w->committed);
	pthread_mutex_unlock(&w->wait_lock);
	return rc;
}

static void commit_all(struct wal *w)
{
	for (unsigned i = 0; i < w->cfg.shards; i++)
		(void)commit_shard(w, &w->shards[i]); /* failures are counted and logged there */
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *commit_thread(void *arg)
{
	struct wal *w = arg;
	bool stop = false;

	pthread_setname_np(pthread_self(), "koban-wal");
	while (!stop) {
		struct timespec ts;

		deadline_in(&ts, w->cfg.commit_interval_ms);
		pthread_mutex_lock(&w->wait_lock);
		while (!w->stopping &&
		       pthread_cond_timedwait(&w->wake, &w->wait_lock, &ts) != ETIMEDOUT)
			;
		stop = w->stopping;
		pthread_mutex_unlock(&w->wait_lock);
		commit_all(w);
	}
	return NULL;
}

/* range_failed() taking the shard's lock. */
static bool shard_failed(struct wal_shard *s, uint64_t first, uint64_t last)
{
	bool failed;

	pthread_mutex_lock(&s->lock);
	failed = range_failed(s, first, last);
	pthread_mutex_unlock(&s->lock);
	return failed;
}

/* 1: lsn is durable; -EIO: its commit failed; 0: neither yet. */
static int durable_or_failed(struct wal_shard *s, uint64_t lsn)
{
	if (shard_failed(s, lsn, lsn))
		return -EIO;
	return atomic_load(&s->durable_lsn) >= lsn;
}

int wal_wait_durable(struct wal *w, unsigned shard, uint64_t lsn, int timeout_ms)
{
	struct wal_shard *s = &w->shards[shard];
	struct timespec ts;
	int rc = 0;

	if (timeout_ms >= 0)
		deadline_in(&ts, (unsigned)timeout_ms);
	pthread_mutex_lock(&w->wait_lock);
	while (!rc && !(rc = durable_or_failed(s, lsn)))
		rc = timeout_ms < 0 ? pthread_cond_wait(&w->committed, &w->wait_lock)
				    : pthread_cond_timedwait(&w->committed, &w->wait_lock, &ts);
	pthread_mutex_unlock(&w->wait_lock);
	rc = durable_or_failed(s, lsn);
	return rc > 0 ? 0 : rc < 0 ? rc : -ETIMEDOUT;
}

bool wal_failed(struct wal *w, unsigned shard, uint64_t first, uint64_t last)
{
	return shard_failed(&w->shards[shard], first, last);
}

uint64_t wal_durable_lsn(struct wal *w, unsigned shard)
{
	return atomic_load(&w->shards[shard].durable_lsn);
}

uint64_t wal_durable_events(struct wal *w, unsigned shard)
{
	return atomic_load(&w->shards[shard].durable_events);
}

uint64_t wal_checkpoint_events(struct wal *w, unsigned shard)
{
	return atomic_load(&w->shards[shard].checkpoint_events);
}

/* ---- checkpoints ---- */

static int remove_file(struct wal *w, struct wal_shard *s, size_t i, struct err *e)
{
	char path[PATH_MAX_LEN], name[32];
	int rc;

	file_name(name, s->files[i]);
	if ((rc = path_of(path, s->dir, name, e)))
		return rc;
	if (unlink(path) < 0)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	atomic_fetch_sub(&w->bytes_on_disk, s->file_sizes[i]);
	return 0;
}

/*
 * When lsn covers every record the current file holds and they are all durable, the file
 * goes now rather than after the next one starts, so an idle shard keeps no log the segments
 * already hold (the next append opens a new file). Under sync_lock (no fdatasync of it is in
 * progress) and lock.
 */
static int retire_current(struct wal *w, struct wal_shard *s, uint64_t lsn, struct err *e)
{
	int rc;

	if (s->fd < 0 || !s->n_files || s->file_bytes <= FILE_HEADER || lsn < s->appended_lsn ||
	    atomic_load(&s->durable_lsn) < s->appended_lsn)
		return 0;
	if ((rc = remove_file(w, s, s->n_files - 1, e)))
		return rc;
	close(s->fd);
	s->fd = -1;
	s->rotate = s->given_up = false;
	s->n_files--;
	return 0;
}

int wal_checkpoint(struct wal *w, unsigned shard, uint64_t lsn, uint64_t events, struct err *e)
{
	struct wal_shard *s;
	size_t gone = 0;
	int rc;

	if (shard >= w->n_shards)
		return err_set(e, -EINVAL, "WAL shard %u of %u", shard, w->n_shards);
	s = &w->shards[shard];
	if (lsn <= s->checkpoint_lsn)
		return 0;
	if ((rc = checkpoint_write(s, lsn, events, e)))
		return rc;
	pthread_mutex_lock(&s->sync_lock);
	pthread_mutex_lock(&s->lock);
	/* A file goes when the next one starts at or before lsn + 1; the current one stays. */
	while (gone + 1 < s->n_files && s->files[gone + 1] <= lsn + 1 && !rc)
		if (!(rc = remove_file(w, s, gone, e)))
			gone++;
	memmove(s->files, s->files + gone, (s->n_files - gone) * sizeof(*s->files));
	memmove(s->file_sizes, s->file_sizes + gone, (s->n_files - gone) * sizeof(*s->files));
	s->n_files -= gone;
	if (!rc)
		rc = retire_current(w, s, lsn, e);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->sync_lock);
	return rc;
}

/* ---- life cycle ---- */

void wal_stats(struct wal *w, struct wal_stats *out)
{
	out->appended_records = atomic_load(&w->appended_records);
	out->appended_bytes = atomic_load(&w->appended_bytes);
	out->commits = atomic_load(&w->commits);
	out->commit_ns_total = atomic_load(&w->commit_ns);
	out->write_errors = atomic_load(&w->write_errors);
	out->sync_errors = atomic_load(&w->sync_errors);
	out->replayed_records = atomic_load(&w->replayed_records);
	out->torn_bytes = atomic_load(&w->torn_bytes);
	out->cut_records_kept = atomic_load(&w->cut_records_kept);
	out->missing_records = atomic_load(&w->missing_records);
	out->bytes_on_disk = atomic_load(&w->bytes_on_disk);
}

unsigned wal_shard_count(struct wal *w)
{
	return w->n_shards;
}

/* Shards of an earlier run: shard-NN directories, whatever the shard count was then. */
static unsigned shards_on_disk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d))) {
		unsigned k;
		char tail;

		if (sscanf(de->d_name, "shard-%2u%c", &k, &tail) == 1 && k < WAL_MAX_SHARDS &&
		    k + 1 > n)
			n = k + 1;
	}
	if (d)
		closedir(d);
	return n;
}

static int shard_init(struct wal_shard *s, const char *dir, unsigned i, struct err *e)
{
	struct buf path = BUF_INIT(PATH_MAX_LEN);
	int rc;

	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->sync_lock, NULL);
	s->fd = -1;
	s->pending = mem_calloc(PENDING_MAX, sizeof(*s->pending));
	if (!s->pending)
		return err_set(e, -ENOMEM, "out of memory");
	rc = buf_addf(&path, "%s/shard-%02u", dir, i);
	if (rc) {
		buf_release(&path);
		return err_set(e, rc, "%s: %s", dir, rc == -ENOMEM ? "out of memory"
								 : "path too long");
	}
	s->dir = path.p;
	return fileio_make_dir(s->dir, 0750, e);
}

static void shard_release(struct wal_shard *s)
{
	if (s->fd >= 0)
		close(s->fd);
	mem_free(s->pending);
	mem_free(s->dir);
	mem_free(s->files);
	mem_free(s->file_sizes);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->sync_lock);
}

static int wal_start(struct wal *w, struct err *e)
{
	pthread_condattr_t ca;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->committed, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->wait_lock, NULL);
	if (!w->cfg.commit_interval_ms)
		return 0;
	rc = pthread_create(&w->thread, NULL, commit_thread, w);
	if (rc)
		return err_set(e, -rc, "cannot start the WAL commit thread: %s", strerror(rc));
	w->thread_started = true;
	return 0;
}

/* Removes the temporary files of keep_cut that a crash left (defined with the readers). */
static int drop_cut_left(const char *dir, struct err *e);

int wal_open(struct wal **wp, const struct wal_config *cfg, struct err *e)
{
	struct wal *w;
	unsigned inited;
	int rc;

	*wp = NULL;
	if (!cfg->shards || cfg->shards > WAL_MAX_SHARDS)
		return err_set(e, -EINVAL, "WAL shards: %u (expected 1 to %u)", cfg->shards,
			       WAL_MAX_SHARDS);
	if ((rc = fileio_make_dir(cfg->dir, 0750, e)))
		return rc;
	w = mem_calloc(1, sizeof(*w));
	if (!w)
		return err_set(e, -ENOMEM, "out of memory");
	w->cfg = *cfg;
	w->file_max = cfg->file_max_bytes ? cfg->file_max_bytes : DEFAULT_FILE_MAX;
	w->n_shards = MAX(cfg->shards, shards_on_disk(cfg->dir));
	rc = drop_cut_left(cfg->dir, e);
	for (inited = 0; inited < w->n_shards && !rc; inited++)
		if (!(rc = shard_init(&w->shards[inited], cfg->dir, inited, e)))
			rc = replay_shard(w, inited, e);
	if (!rc)
		rc = wal_start(w, e);
	if (rc) {
		for (unsigned i = 0; i < inited; i++)
			shard_release(&w->shards[i]);
		mem_free(w);
		return rc;
	}
	*wp = w;
	return 0;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	if (w->thread_started) {
		pthread_mutex_lock(&w->wait_lock);
		w->stopping = true;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->wait_lock);
		pthread_join(w->thread, NULL);
	}
	commit_all(w);
	for (unsigned i = 0; i < w->n_shards; i++)
		shard_release(&w->shards[i]);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->committed);
	pthread_mutex_destroy(&w->wait_lock);
	mem_free(w);
}

/* ---- reading the files (any process) ---- */

struct scan_file {
	uint64_t first_lsn;
	uint32_t version; /* read from its header by the first scan_file() call */
	int fd;
	char path[PATH_MAX_LEN];
};

struct scan_shard {
	uint64_t from;
	struct scan_file *files;
	size_t n_files;
	/* Where the last wal_scan_shard call stopped (at_off 0: nothing read yet): the next
	 * call goes on from there. */
	uint64_t done;      /* the last LSN handed over, or from */
	size_t at_file;
	uint64_t at_off;    /* of the next record in files[at_file] */
	uint64_t at_expect; /* its LSN */
	uint64_t gap_hi;    /* the end of the last gap of given-up records gone past (pass_gap) */
	struct given_up given_up; /* the records not handed over (from the files' first records) */
};

struct wal_scan {
	unsigned n_shards;
	struct scan_shard shards[WAL_MAX_SHARDS];
	unsigned char *buf; /* one payload */
	size_t buf_cap;
	bool one_tenant;    /* wal_scan_tenant: others' payloads are not read */
	uint64_t tenant;
};

void wal_scan_tenant(struct wal_scan *sc, uint64_t tenant)
{
	sc->one_tenant = true;
	sc->tenant = tenant;
}

/*
 * Opens the files of dir that may hold records after from (the last before from + 1 on), and
 * reads the given-up records among their first: a given-up record comes after the records
 * it names, which are known before any is read. A file started later is not seen: a search
 * opened before a failure may hand over its records (as it hands over those not yet durable).
 */
static int scan_shard_open(struct scan_shard *ss, unsigned shard, const char *dir,
			   struct err *e)
{
	struct wal_shard tmp = { .dir = (char *)dir };
	size_t first = 0;
	int rc;

	if ((rc = list_files(&tmp, e)))
		goto done;
	while (first + 1 < tmp.n_files && tmp.files[first + 1] <= ss->from + 1)
		first++;
	ss->files = mem_calloc(tmp.n_files - first + 1, sizeof(*ss->files));
	if (!ss->files) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = first; i < tmp.n_files && !rc; i++) {
		struct scan_file *f = &ss->files[ss->n_files];
		char name[32];

		file_name(name, tmp.files[i]);
		if ((rc = path_of(f->path, dir, name, e)))
			break;
		f->first_lsn = tmp.files[i];
		f->version = 0;
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0 && errno == ENOENT)
			continue; /* removed by a checkpoint meanwhile: a gap shows if it mattered */
		if (f->fd < 0)
			rc = err_set(e, -errno, "cannot open %s: %s", f->path, strerror(errno));
		else if ((rc = given_up_add(&ss->given_up, f->fd, shard, f->first_lsn, ss->from,
					    f->path, e)) < 0)
			close(f->fd);
		else
			ss->n_files++;
		rc = MIN(rc, 0); /* given_up_add's 1: a range added */
	}
done:
	mem_free(tmp.files);
	mem_free(tmp.file_sizes);
	return rc;
}

int wal_scan_open(struct wal_scan **scp, const char *dir, const uint64_t *from, unsigned nfrom,
		  struct err *e)
{
	struct wal_scan *sc = mem_calloc(1, sizeof(*sc));
	char sdir[PATH_MAX_LEN];
	int rc = 0;

	*scp = NULL;
	if (!sc)
		return err_set(e, -ENOMEM, "out of memory");
	sc->n_shards = shards_on_disk(dir);
	for (unsigned i = 0; i < sc->n_shards && !rc; i++) {
		struct scan_shard *ss = &sc->shards[i];
		int n = snprintf(sdir, sizeof(sdir), "%s/shard-%02u", dir, i);

		if (n < 0 || (size_t)n >= sizeof(sdir)) {
			rc = err_set(e, -ENAMETOOLONG, "%s: path too long", dir);
			break;
		}
		/* records up to the checkpoint are kept elsewhere: never read before it */
		if ((rc = checkpoint_read_dir(sdir, &ss->from, e)))
			break;
		if (from && i < nfrom && from[i] > ss->from)
			ss->from = from[i];
		ss->done = ss->from;
		if (access(sdir, F_OK) < 0 && errno == ENOENT)
			continue;
		rc = scan_shard_open(ss, i, sdir, e);
	}
	if (rc) {
		wal_scan_close(sc);
		return rc;
	}
	*scp = sc;
	return 0;
}

unsigned wal_scan_shards(const struct wal_scan *sc)
{
	return sc->n_shards;
}

uint64_t wal_scan_from(const struct wal_scan *sc, unsigned shard)
{
	return shard < sc->n_shards ? sc->shards[shard].from : 0;
}

void wal_scan_close(struct wal_scan *sc)
{
	if (!sc)
		return;
	for (unsigned i = 0; i < sc->n_shards; i++) {
		for (size_t k = 0; k < sc->shards[i].n_files; k++)
			close(sc->shards[i].files[k].fd);
		mem_free(sc->shards[i].files);
		mem_free(sc->shards[i].given_up.r);
	}
	mem_free(sc->buf);
	mem_free(sc);
}

/*
 * Walks one file's records from its header (*offp 0) or from offset *offp, handing those in
 * (from, to] to fn; *offp is left at the record where it stopped. *expect is the next LSN the
 * shard must hold (0: any). Returns 0 at the file's end or at a record that is not whole
 * (*end set: the rest of the file is not records), 1 when past to, or a negative code.
 */
static int scan_file(struct wal_scan *sc, unsigned shard, struct scan_file *f,
		     uint64_t from, uint64_t to, uint64_t *offp, uint64_t *expect,
		     wal_replay_fn *fn, void *ctx, uint64_t *last, bool *end, struct err *e)
{
	unsigned char h[RECORD_HEADER];
	uint64_t off = *offp;
	int rc;

	*end = false;
	if (off)
		goto records; /* the header was checked by the call that stopped here */
	off = FILE_HEADER;
	if ((rc = fileio_pread_all(f->fd, h, FILE_HEADER, 0)) < 0)
		return err_set(e, rc, "cannot read %s: %s", f->path, strerror(-rc));
	if (rc == 0) {
		*end = true; /* a file whose header is still being written */
		return 0;
	}
	if (!header_ok(h, shard, f->first_lsn))
		return err_set(e, -EBADMSG, "%s: not a koban WAL file of shard %u starting at LSN "
				 "%llu", f->path, shard, (unsigned long long)f->first_lsn);
	f->version = le_get32(h + 8);
	if (!*expect)
		*expect = f->first_lsn; /* the file's first record holds its name's LSN */
records:
	for (;;) {
		uint32_t len;
		uint64_t lsn;

		*offp = off;
		if ((rc = fileio_pread_all(f->fd, h, RECORD_HEADER, off)) < 0)
			return err_set(e, rc, "cannot read %s: %s", f->path, strerror(-rc));
		if (rc == 0)
			break; /* the end, or a header being written */
		len = le_get32(h);
		lsn = le_get64(h + 8);
		if (len > WAL_MAX_PAYLOAD || lsn != *expect) {
			*end = true;
			break;
		}
		if (lsn > to)
			return 1;
		if (lsn > from && given_up_has(&sc->shards[shard].given_up, lsn)) {
			*last = lsn; /* gone past: the sealer's LSN moves beyond it */
		} else if (lsn > from && (!sc->one_tenant || le_get64(h + 16) == sc->tenant)) {
			if (len > sc->buf_cap) {
				unsigned char *nb = mem_realloc(sc->buf, len);

				if (!nb)
					return err_set(e, -ENOMEM, "out of memory");
				sc->buf = nb;
				sc->buf_cap = len;
			}
			if ((rc = fileio_pread_all(f->fd, sc->buf, len, off + RECORD_HEADER)) < 0)
				return err_set(e, rc, "cannot read %s: %s", f->path, strerror(-rc));
			if (rc == 0 || record_crc(f->version, h, sc->buf, len) != le_get32(h + 4)) {
				*end = true; /* being written, or torn */
				break;
			}
			/* checked whole, as the replay: a record with flag bit 31 is the log's own */
			if (!(le_get32(h + 28) & FLAG_GIVEN_UP) &&
			    (rc = fn(ctx, shard, lsn, le_get64(h + 16), le_get32(h + 24),
				     le_get32(h + 28), sc->buf, len)) < 0)
				return rc;
			*last = lsn;
		}
		*expect = lsn + 1;
		off += RECORD_HEADER + len;
	}
	if (*end)
		log_debug("%s: offset %llu: the records end here", f->path,
			  (unsigned long long)off);
	return 0;
}

/* wal_scan_copy's count of the records it copies. */
static int count_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
			uint32_t flags, const void *payload, size_t len)
{
	uint64_t *records = ctx;

	(void)shard, (void)lsn, (void)tenant, (void)count, (void)flags, (void)payload, (void)len;
	(*records)++;
	return 0;
}

int wal_scan_copy(struct wal_scan *sc, unsigned shard, const char *dest, uint64_t *records,
		  uint64_t *files, struct err *e)
{
	struct scan_shard *ss;
	char sdir[PATH_MAX_LEN];
	int n, rc;

	if (shard >= sc->n_shards)
		return err_set(e, -EINVAL, "WAL shard %u of %u", shard, sc->n_shards);
	ss = &sc->shards[shard];
	n = snprintf(sdir, sizeof(sdir), "%s/shard-%02u", dest, shard);
	if (n < 0 || (size_t)n >= sizeof(sdir))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", dest);
	if ((rc = fileio_make_dir(dest, 0750, e)) || (rc = fileio_make_dir(sdir, 0750, e)))
		return rc;
	for (size_t i = 0; i < ss->n_files; i++) {
		struct scan_file *f = &ss->files[i];
		uint64_t off = 0, expect = 0, last = 0, size;
		struct stat sb;
		char name[32];
		bool end;

		if (fstat(f->fd, &sb) < 0)
			return err_set(e, -errno, "cannot stat %s: %s", f->path, strerror(errno));
		if ((rc = scan_file(sc, shard, f, ss->from, UINT64_MAX, &off, &expect, count_record,
				    records, &last, &end, e)) < 0)
			return rc;
		/* the last file may end in a record being written: cut after the last whole one;
		 * the others are copied as they are (damage after their header included, for the
		 * replay to judge; a damaged header fails the copy, as it fails koban's start) */
		size = i + 1 < ss->n_files ? (uint64_t)sb.st_size : off;
		if (size < FILE_HEADER)
			continue; /* its header was being written: it holds no record yet */
		file_name(name, f->first_lsn);
		if ((rc = fileio_copy(f->fd, size, sdir, name, 0640, e)))
			return rc;
		(*files)++;
	}
	return checkpoint_put(sdir, ss->from, e); /* which syncs sdir: the renames above too */
}

/*
 * The scan goes past records lo to hi that no file holds, all given up (lost by a failed
 * commit, or found missing at a replay): when everything before them was handed over or
 * skipped (*last), they count as skipped too, up to `to` now and the rest in the next calls
 * (gap_hi), so that a caller reading a few records at a time (the sealer's lanes) gets past a
 * gap wider than its slice instead of stopping before it for good.
 */
static void pass_gap(struct scan_shard *ss, uint64_t lo, uint64_t hi, uint64_t to,
		     uint64_t *last)
{
	if (*last + 1 < lo)
		return;
	ss->gap_hi = MAX(ss->gap_hi, hi);
	*last = ss->done = MAX(*last, MIN(to, hi));
}

int wal_scan_shard(struct wal_scan *sc, unsigned shard, uint64_t to, wal_replay_fn *fn,
		   void *ctx, uint64_t *last, struct err *e)
{
	struct scan_shard *ss;
	uint64_t expect = 0, dummy;
	int rc = 0;

	if (!last)
		last = &dummy;
	if (shard >= sc->n_shards)
		return err_set(e, -EINVAL, "WAL shard %u of %u", shard, sc->n_shards);
	ss = &sc->shards[shard];
	*last = ss->done;
	if (ss->gap_hi > *last) /* a gap an earlier call went past, beyond its to */
		*last = ss->done = MAX(*last, MIN(to, ss->gap_hi));
	expect = ss->at_expect;
	for (size_t i = ss->at_file; i < ss->n_files && !rc; i++) {
		struct scan_file *f = &ss->files[i];
		uint64_t off = i == ss->at_file ? ss->at_off : 0;
		bool end;

		/*
		 * A file must start where the previous one ended, and the first must hold from + 1
		 * (or what is missing before it was named at a replay: check_continuity).
		 */
		if (!off && (expect ? f->first_lsn != expect
				    : f->first_lsn > ss->from + 1 &&
					      !given_up_all(&ss->given_up, ss->from + 1,
							    f->first_lsn - 1)))
			return err_set(e, -EBADMSG, "%s: the log continues at LSN %llu where %llu was "
					 "expected (records are missing: removed by a checkpoint "
					 "meanwhile, or lost; see docs/store.md)", f->path,
					 (unsigned long long)f->first_lsn,
					 (unsigned long long)(expect ? expect : ss->from + 1));
		if (!off && !expect && f->first_lsn > ss->from + 1)
			pass_gap(ss, ss->from + 1, f->first_lsn - 1, to, last);
		rc = scan_file(sc, shard, f, ss->done, to, &off, &expect, fn, ctx, last, &end, e);
		if (rc >= 0) { /* the next call goes on from here */
			ss->at_file = i;
			ss->at_off = off;
			ss->at_expect = expect;
			ss->done = *last;
		}
		/*
		 * Records given up may be anything at the end of their file, or missing (a crash
		 * after the failure: the file's size was never synced): the next file takes over.
		 * Otherwise a record that is not whole ends a file only where a next file takes
		 * over (a file the writer could not cut) or at the end of the last one.
		 */
		if (!rc && i + 1 < ss->n_files && ss->files[i + 1].first_lsn > expect &&
		    given_up_all(&ss->given_up, expect, ss->files[i + 1].first_lsn - 1)) {
			pass_gap(ss, expect, ss->files[i + 1].first_lsn - 1, to, last);
			expect = ss->files[i + 1].first_lsn;
		}
		if (!rc && end && i + 1 < ss->n_files && ss->files[i + 1].first_lsn != expect)
			return err_set(e, -EBADMSG, "%s: damaged record before LSN %llu, in the "
					 "middle of the log", f->path, (unsigned long long)expect);
	}
	return rc < 0 ? rc : 0;
}

int wal_scan(const char *dir, const uint64_t *from, unsigned nfrom, wal_replay_fn *fn, void *ctx,
	     struct err *e)
{
	struct wal_scan *sc;
	int rc = wal_scan_open(&sc, dir, from, nfrom, e);

	for (unsigned i = 0; !rc && i < sc->n_shards; i++)
		rc = wal_scan_shard(sc, i, UINT64_MAX, fn, ctx, NULL, e);
	wal_scan_close(sc);
	return rc;
}

/*
 * Whether the file path of shard, named first, of size bytes, holds a record of a sender:
 * more than a header and, in a version 4 file, more than its given-up record.
 */
static bool file_holds_records(const char *path, unsigned shard, uint64_t first, off_t size)
{
	struct lsn_range r;
	int fd, rc;

	if (size <= FILE_HEADER)
		return false;
	if (size != FILE_HEADER + RECORD_HEADER + GIVEN_UP_LEN)
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* it is there: say so, the caller's rule errs on the safe side */
	rc = given_up_read(fd, shard, first, &r);
	close(fd);
	return rc != 1;
}

/* Whether the regular file path (name, of size bytes) in shard's directory is looked for. */
typedef bool file_wanted_fn(const char *path, const char *name, unsigned shard, off_t size);
/* each_file's call for a file looked for: 0 goes on, 1 stops (found), < 0 fails. */
typedef int file_fn(void *ctx, const char *path, const char *name, unsigned shard,
		    struct err *e);

/* fn for each regular file of a shard of the log in dir that want takes: 0, 1 or < 0 (fn's). */
static int each_file(const char *dir, file_wanted_fn *want, file_fn *fn, void *ctx,
		     struct err *e)
{
	unsigned n = shards_on_disk(dir);
	int rc = 0;

	for (unsigned i = 0; i < n && !rc; i++) {
		char sdir[PATH_MAX_LEN];
		struct dirent *de;
		DIR *d;

		if (snprintf(sdir, sizeof(sdir), "%s/shard-%02u", dir, i) >= (int)sizeof(sdir))
			return err_set(e, -ENAMETOOLONG, "%s: path too long", dir);
		if (!(d = opendir(sdir))) {
			if (errno == ENOENT)
				continue; /* shard numbers need not follow each other */
			return err_set(e, -errno, "cannot read %s: %s", sdir, strerror(errno));
		}
		while (!rc && (de = readdir(d))) {
			char path[PATH_MAX_LEN];
			struct stat sb;

			if (snprintf(path, sizeof(path), "%s/%s", sdir, de->d_name) >= (int)sizeof(path))
				rc = err_set(e, -ENAMETOOLONG, "%s: path too long", sdir);
			else if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
				 want(path, de->d_name, i, sb.st_size))
				rc = fn(ctx, path, de->d_name, i, e);
		}
		closedir(d);
	}
	return rc;
}

/* Where each_file's found goes. */
struct found_at {
	char *found;
	size_t size;
};

static int note_found(void *ctx, const char *path, const char *name, unsigned shard,
		      struct err *e)
{
	struct found_at *f = ctx;

	snprintf(f->found, f->size, "%s", path);
	return 1;
}

static bool holds_records(const char *path, const char *name, unsigned shard, off_t size)
{
	return file_first_lsn(name) && file_holds_records(path, shard, file_first_lsn(name), size);
}

int wal_find_records(const char *dir, char *found, size_t size, struct err *e)
{
	struct found_at f = { found, size };

	return each_file(dir, holds_records, note_found, &f, e);
}

/* keep_cut's NAME.cut-UNIXTIME[.N], not its temporary file (cut_left). */
static bool kept_cut(const char *path, const char *name, unsigned shard, off_t size)
{
	return strstr(name, ".wal.cut-") && !strstr(name, ".tmp.");
}

/* keep_cut's temporary file, left by a crash before its rename (and so before the cut). */
static bool cut_left(const char *path, const char *name, unsigned shard, off_t size)
{
	return strstr(name, ".wal.cut-") && strstr(name, ".tmp.");
}

static int remove_cut_left(void *ctx, const char *path, const char *name, unsigned shard,
			   struct err *e)
{
	if (unlink(path) < 0)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	log_info("%s: removed: a copy of bytes to cut that a crash interrupted (the bytes are "
		 "still in the log: the replay keeps them again)", path);
	return 0;
}

static int drop_cut_left(const char *dir, struct err *e)
{
	return each_file(dir, cut_left, remove_cut_left, NULL, e);
}

int wal_find_kept(const char *dir, char *found, size_t size, struct err *e)
{
	struct found_at f = { found, size };

	return each_file(dir, kept_cut, note_found, &f, e);
}

/* Where wal_copy_kept copies to, and its count. */
struct copy_to {
	const char *dest;
	uint64_t *files;
};

static int copy_kept(void *ctx, const char *path, const char *name, unsigned shard,
		     struct err *e)
{
	struct copy_to *c = ctx;
	char sdir[PATH_MAX_LEN];
	struct stat sb;
	int fd, rc;

	if (snprintf(sdir, sizeof(sdir), "%s/shard-%02u", c->dest, shard) >= (int)sizeof(sdir))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", c->dest);
	if ((rc = fileio_make_dir(sdir, 0750, e)))
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot open %s: %s", path,
						     strerror(errno)); /* removed: dealt with */
	if (fstat(fd, &sb) < 0)
		rc = err_set(e, -errno, "cannot stat %s: %s", path, strerror(errno));
	else if (!(rc = fileio_copy(fd, (uint64_t)sb.st_size, sdir, name, 0640, e)) &&
		 (rc = fileio_sync_dir(sdir)) < 0)
		rc = err_set(e, rc, "cannot sync %s: %s", sdir, strerror(-rc));
	close(fd);
	if (!rc)
		(*c->files)++;
	return rc;
}

int wal_copy_kept(const char *dir, const char *dest, uint64_t *files, struct err *e)
{
	struct copy_to c = { dest, files };

	return each_file(dir, kept_cut, copy_kept, &c, e);
}
