#include "store/held.h"
#include "core/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "held"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/le.h"
#include "core/log.h"
#include "core/mem.h"

#define MAGIC_LEN 8
#define PATH_LEN 4096
#define RESYNC_WINDOW ((size_t)1 << 20) /* bytes searched at a time for a record's header */

struct held {
	int fd;
	char path[PATH_LEN], dir[PATH_LEN];
	uint64_t size;                     /* whole records end here */
	uint64_t last[WAL_MAX_SHARDS];     /* the last LSN held of each shard */
	uint64_t events;
	bool made, dirty;
};

/* What record_read found at an offset. */
enum rec {
	REC_OK,
	REC_TORN,    /* the end: a record whose write a crash cut (never committed) */
	REC_DAMAGED, /* e says where and what */
};

int held_path(char *out, size_t size, const char *dir, struct err *e)
{
	int n = snprintf(out, size, "%s/" HELD_NAME, dir);

	if (n < 0 || (size_t)n >= size)
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, HELD_NAME);
	return 0;
}

static uint32_t header_crc(const unsigned char h[HELD_HEADER])
{
	return crc32c(0, h + 4, HELD_HEADER - 8);
}

static void header_put(unsigned char h[HELD_HEADER], unsigned shard, uint64_t lsn,
		       uint32_t count, uint32_t flags, const void *payload, uint32_t len)
{
	memset(h, 0, HELD_HEADER);
	le_put32(h + 4, shard);
	le_put64(h + 8, lsn);
	le_put32(h + 16, count);
	le_put32(h + 20, flags);
	le_put32(h + 24, len);
	le_put32(h + 28, header_crc(h));
	le_put32(h, crc32c(crc32c(0, h + 4, HELD_HEADER - 4), payload, len));
}

/* Salvage's reading: every whole record, none taken for committed (a cut one is an end). */
static const struct held_bound any_record = { NULL, 0, true };

static int read_failed(struct err *e, const char *path, int rc)
{
	return err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
}

bool held_bound_commits(const struct held_bound *b, unsigned shard, uint64_t lsn)
{
	return shard < b->n && lsn <= b->lsn[shard];
}

/* Whether [off, end) of fd holds zeros only (space a crash left unwritten): 1, 0 or -errno. */
static int zeros_to_end(int fd, uint64_t off, uint64_t end)
{
	unsigned char buf[4096];

	while (off < end) {
		size_t n = (size_t)MIN((uint64_t)sizeof(buf), end - off);
		int rc = fileio_pread_all(fd, buf, n, off);

		if (rc <= 0)
			return rc < 0 ? rc : 1; /* cut meanwhile: nothing more there */
		for (size_t i = 0; i < n; i++)
			if (buf[i])
				return 0;
		off += n;
	}
	return 1;
}

/*
 * The record at off (before end) into h and *payload. Torn, the end of what was written: a
 * header not whole, or zeros to the end, or a record not committed (by b) whose payload is
 * not whole or, last in the file, does not match its checksum. Any other fault is damage.
 */
static int record_read(int fd, const char *path, uint64_t off, uint64_t end,
		       const struct held_bound *b, unsigned char h[HELD_HEADER],
		       unsigned char **payload, size_t *cap, struct err *e)
{
	uint32_t len;
	uint64_t rec_end;
	bool mine;
	int rc;

	if (end - off < HELD_HEADER)
		return REC_TORN;
	if ((rc = fileio_pread_all(fd, h, HELD_HEADER, off)) <= 0)
		return rc < 0 ? read_failed(e, path, rc) : REC_TORN;
	if (le_get32(h + 28) != header_crc(h)) {
		if ((rc = zeros_to_end(fd, off, end)) != 0)
			return rc < 0 ? read_failed(e, path, rc)
				      : REC_TORN;
		err_set(e, -EBADMSG, "%s: offset %llu: a damaged record header", path,
			(unsigned long long)off);
		return REC_DAMAGED;
	}
	len = le_get32(h + 24);
	mine = held_bound_commits(b, le_get32(h + 4), le_get64(h + 8));
	if (len > WAL_MAX_PAYLOAD) {
		err_set(e, -EBADMSG, "%s: offset %llu: a record of %u bytes (at most %u)", path,
			(unsigned long long)off, len, WAL_MAX_PAYLOAD);
		return REC_DAMAGED;
	}
	rec_end = off + HELD_HEADER + len;
	if (rec_end > end) {
		if (!mine)
			return REC_TORN;
		err_set(e, -EBADMSG, "%s: offset %llu: a committed record cut short", path,
			(unsigned long long)off);
		return REC_DAMAGED;
	}
	if (len > *cap) {
		unsigned char *np = mem_realloc(*payload, len);

		if (!np)
			return err_set(e, -ENOMEM, "out of memory");
		*payload = np;
		*cap = len;
	}
	if (len && (rc = fileio_pread_all(fd, *payload, len, off + HELD_HEADER)) <= 0)
		return rc < 0 ? read_failed(e, path, rc) : REC_TORN;
	if (le_get32(h) == crc32c(crc32c(0, h + 4, HELD_HEADER - 4), *payload, len))
		return REC_OK;
	if (rec_end == end && !mine)
		return REC_TORN;
	err_set(e, -EBADMSG, "%s: offset %llu: a damaged record (checksum)", path,
		(unsigned long long)off);
	return REC_DAMAGED;
}

int held_scan(int fd, const char *path, uint64_t end, uint64_t tenant,
	      const struct held_bound *b, wal_replay_fn *fn, void *ctx, uint64_t *valid,
	      struct err *e)
{
	unsigned char magic[MAGIC_LEN], h[HELD_HEADER], *payload = NULL;
	size_t cap = 0;
	uint64_t off = MAGIC_LEN;
	int rc;

	if (valid)
		*valid = 0;
	if (end < MAGIC_LEN)
		return 0; /* its magic was being written */
	if ((rc = fileio_pread_all(fd, magic, MAGIC_LEN, 0)) <= 0)
		return rc < 0 ? read_failed(e, path, rc) : 0;
	if (memcmp(magic, HELD_MAGIC, MAGIC_LEN))
		return err_set(e, -EBADMSG, "%s: not a held log (expected %s first)", path,
			       HELD_MAGIC);
	while ((rc = record_read(fd, path, off, end, b, h, &payload, &cap, e)) == REC_OK) {
		unsigned shard = le_get32(h + 4);
		uint64_t lsn = le_get64(h + 8);
		uint32_t len = le_get32(h + 24);

		if ((b->all || held_bound_commits(b, shard, lsn)) &&
		    (rc = fn(ctx, shard, lsn, tenant, le_get32(h + 16), le_get32(h + 20),
			     payload, len)) < 0)
			break;
		off += HELD_HEADER + len;
	}
	mem_free(payload);
	if (valid)
		*valid = off;
	if (rc == REC_DAMAGED)
		return -EBADMSG;
	return rc < 0 ? rc : 0;
}

/* held_scan's fn at open: the last LSN of each shard and the events. */
static int note_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
		       uint32_t count, uint32_t flags, const void *payload, size_t len)
{
	struct held *h = ctx;

	if (shard < WAL_MAX_SHARDS && lsn > h->last[shard])
		h->last[shard] = lsn;
	h->events += count;
	return 0;
}

/*
 * The offset of the next whole, undamaged record at or after from (before end): 1 with *at,
 * 0 when there is none, or < 0. Every offset is tried: a header's own checksum finds it.
 */
static int next_record(int fd, const char *path, uint64_t from, uint64_t end, uint64_t *at,
		       struct err *e)
{
	unsigned char *win = mem_alloc(RESYNC_WINDOW), h[HELD_HEADER], *payload = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!win)
		return err_set(e, -ENOMEM, "out of memory");
	for (uint64_t pos = from; pos + HELD_HEADER <= end && !rc;) {
		size_t n = (size_t)MIN((uint64_t)RESYNC_WINDOW, end - pos);

		if ((rc = fileio_pread_all(fd, win, n, pos)) <= 0) {
			rc = rc < 0 ? read_failed(e, path, rc) : 0;
			break;
		}
		rc = 0;
		for (size_t i = 0; i + HELD_HEADER <= n && !rc; i++) {
			struct err ignored = ERR_INIT;

			/* cheap refusals first: most offsets of damage fail these */
			if (le_get32(win + i + 4) >= WAL_MAX_SHARDS ||
			    le_get32(win + i + 24) > WAL_MAX_PAYLOAD ||
			    le_get32(win + i + 28) != header_crc(win + i))
				continue;
			rc = record_read(fd, path, pos + i, end, &any_record, h, &payload, &cap,
					 &ignored);
			if (rc == REC_OK) {
				*at = pos + i;
				rc = 1;
			} else if (rc > 0) {
				rc = 0;
			}
		}
		if (!rc)
			pos += n - (HELD_HEADER - 1); /* windows overlap by a header's length */
	}
	mem_free(win);
	mem_free(payload);
	return rc;
}

/*
 * Copies the records of src (at path) from off to out (appending) as long as they are whole,
 * undamaged and in LSN order within their shard (last: the last LSN copied of each; a
 * record found inside another's payload does not go back): *off is moved past them, *n
 * counts them.
 */
static int copy_run(int src, const char *path, uint64_t *off, uint64_t end, int out,
		    uint64_t last[WAL_MAX_SHARDS], uint64_t *n, struct err *e)
{
	unsigned char h[HELD_HEADER], *payload = NULL;
	size_t cap = 0;
	int rc;

	for (;;) {
		struct err ignored = ERR_INIT;
		uint32_t len;
		struct iovec iov[2];

		if ((rc = record_read(src, path, *off, end, &any_record, h, &payload, &cap, &ignored)))
			break;
		if (le_get32(h + 4) >= WAL_MAX_SHARDS || le_get64(h + 8) <= last[le_get32(h + 4)])
			break;
		last[le_get32(h + 4)] = le_get64(h + 8);
		len = le_get32(h + 24);
		iov[0] = (struct iovec){ h, HELD_HEADER };
		iov[1] = (struct iovec){ payload, len };
		if ((rc = fileio_writev_all(out, iov, 2)) < 0) {
			err_set(e, rc, "cannot write beside %s: %s", path, strerror(-rc));
			break;
		}
		*off += HELD_HEADER + len;
		(*n)++;
	}
	mem_free(payload);
	return rc < 0 ? rc : 0;
}

#define DAMAGED_PREFIX HELD_NAME ".damaged-"

bool held_damaged_name(const char *name)
{
	return !strncmp(name, DAMAGED_PREFIX, sizeof(DAMAGED_PREFIX) - 1);
}

/* A second name for the damaged held log at path, HELD_NAME.damaged-UNIXTIME[.N], in kept. */
static int keep_damaged(const char *path, char *kept, size_t size, struct err *e)
{
	long long now = (long long)time(NULL);

	for (unsigned n = 0; n < 100; n++) {
		int len = n ? snprintf(kept, size, "%s.damaged-%lld.%u", path, now, n)
			    : snprintf(kept, size, "%s.damaged-%lld", path, now);

		if (len < 0 || (size_t)len >= size)
			return err_set(e, -ENAMETOOLONG, "%s: path too long", path);
		if (link(path, kept) == 0)
			return 0;
		if (errno != EEXIST)
			return err_set(e, -errno, "cannot keep %s as %s: %s", path, kept,
				       strerror(errno));
	}
	return err_set(e, -EEXIST, "%s: 100 damaged copies of this second", path);
}

/* salvage()'s new file before it replaces held.log: DIR/.held.log.salvage, into out. */
static int salvage_path(char out[PATH_LEN], const char *dir, struct err *e)
{
	if (snprintf(out, PATH_LEN, "%s/." HELD_NAME ".salvage", dir) >= PATH_LEN)
		return err_set(e, -ENAMETOOLONG, "%s: path too long", dir);
	return 0;
}

/*
 * Removes the new file of a salvage that a crash interrupted. It never holds a record that
 * held.log lacks: salvage() only copies from held.log, which stays in place and whole (the
 * damaged file, until the new one, synced first, replaces it in one rename; a crash after
 * the rename leaves no new file behind), and the next open salvages again what needs it.
 */
static int drop_salvage_left(const char *dir, struct err *e)
{
	char tmp[PATH_LEN];
	int rc;

	if ((rc = salvage_path(tmp, dir, e)))
		return rc;
	if (unlink(tmp) == 0)
		log_info("%s: removed, the new file of a salvage a crash interrupted (%s/%s holds "
			 "every record it had)", tmp, dir, HELD_NAME);
	else if (errno != ENOENT)
		return err_set(e, -errno, "cannot remove %s: %s", tmp, strerror(errno));
	return 0;
}

/*
 * A held log damaged at bad (of size bytes): its whole records before and after the damage
 * are written to a new held.log, and the damaged file is kept beside it as
 * held.log.damaged-UNIXTIME (`koban store verify` names it). h->fd is the new file's.
 */
static int salvage(struct held *h, uint64_t bad, uint64_t size, const char *why,
		   struct err *e)
{
	char tmp[PATH_LEN], kept[PATH_LEN];
	uint64_t off = MAGIC_LEN, records = 0, skipped = 0, gap = bad, at = 0;
	uint64_t last[WAL_MAX_SHARDS] = { 0 };
	int out, rc;

	if ((rc = salvage_path(tmp, h->dir, e)))
		return rc;
	if ((out = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640)) < 0)
		return err_set(e, -errno, "cannot make %s: %s", tmp, strerror(errno));
	if ((rc = fileio_write_all(out, HELD_MAGIC, MAGIC_LEN)) < 0) {
		err_set(e, rc, "cannot write %s: %s", tmp, strerror(-rc));
		goto fail;
	}
	if ((rc = copy_run(h->fd, h->path, &off, bad, out, last, &records, e)))
		goto fail;
	/* a bad magic: the first record may be whole; a bad record: the next byte on */
	for (uint64_t from = bad == MAGIC_LEN ? bad : bad + 1;
	     (rc = next_record(h->fd, h->path, from, size, &at, e)) > 0; from = off + 1) {
		skipped += at - gap;
		off = at;
		if ((rc = copy_run(h->fd, h->path, &off, size, out, last, &records, e)))
			goto fail;
		gap = off;
	}
	if (rc < 0)
		goto fail;
	skipped += size - MIN(gap, size);
	if (fdatasync(out) < 0) {
		rc = err_set(e, -errno, "cannot sync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* a held.log at every moment: the damaged one linked aside, then replaced at once */
	if ((rc = keep_damaged(h->path, kept, sizeof(kept), e)))
		goto fail;
	if (rename(tmp, h->path) < 0 || (rc = fileio_sync_dir(h->dir)) < 0) {
		rc = err_set(e, rc < 0 ? rc : -errno, "cannot put the salvaged %s in place: %s",
			     h->path, strerror(rc < 0 ? -rc : errno));
		goto fail;
	}
	log_error("%s; %llu whole records kept, %llu bytes could not be read (some events of "
		  "this tenant may be lost; the damaged file is %s, `koban store verify` names it)",
		  why, (unsigned long long)records, (unsigned long long)skipped, kept);
	close(h->fd);
	h->fd = out;
	return 0;
fail:
	close(out);
	unlink(tmp);
	return rc;
}

/*
 * A new file's magic, or the whole records of an existing one: a torn end (a record a crash
 * cut, not committed) cut off, damage salvaged around.
 */
static int held_load(struct held *h, const struct held_bound *committed_by, struct err *e)
{
	struct held_bound b = *committed_by;
	struct stat sb;
	uint64_t valid;
	struct err se = ERR_INIT;
	int rc;

	b.all = true;
	if (fstat(h->fd, &sb) < 0)
		return err_set(e, -errno, "cannot read %s: %s", h->path, strerror(errno));
	if ((uint64_t)sb.st_size < MAGIC_LEN) { /* new, or its magic torn */
		if (ftruncate(h->fd, 0) < 0)
			return err_set(e, -errno, "cannot write %s: %s", h->path, strerror(errno));
		if ((rc = fileio_write_all(h->fd, HELD_MAGIC, MAGIC_LEN)) < 0)
			return err_set(e, rc, "cannot write %s: %s", h->path, strerror(-rc));
		h->size = MAGIC_LEN;
		h->made = h->dirty = true;
		return 0;
	}
	rc = held_scan(h->fd, h->path, (uint64_t)sb.st_size, 0, &b, note_record, h, &valid, &se);
	if (rc == -EBADMSG) {
		memset(h->last, 0, sizeof(h->last));
		h->events = 0;
		if ((rc = salvage(h, MAX(valid, MAGIC_LEN), (uint64_t)sb.st_size, se.msg, e)))
			return rc;
		return held_load(h, committed_by, e); /* the salvaged file: whole records only */
	}
	if (rc) {
		*e = se;
		return rc;
	}
	/* not known to be synced (a rollback, a crash, a failed write): synced at the commit */
	h->dirty = valid > MAGIC_LEN;
	if (valid < (uint64_t)sb.st_size) {
		if (ftruncate(h->fd, (off_t)valid) < 0)
			return err_set(e, -errno, "cannot cut the torn end of %s: %s", h->path,
				       strerror(errno));
		log_warn("%s: the last %llu bytes (a record a crash cut, never committed) were "
			 "cut off", h->path, (unsigned long long)((uint64_t)sb.st_size - valid));
		h->dirty = true;
	}
	h->size = valid;
	return 0;
}

int held_open(struct held **hp, const char *dir, const struct held_bound *b, struct err *e)
{
	struct held *h;
	int rc;

	*hp = NULL;
	if (!(h = mem_calloc(1, sizeof(*h))))
		return err_set(e, -ENOMEM, "out of memory");
	h->fd = -1;
	if ((rc = held_path(h->path, sizeof(h->path), dir, e)))
		goto fail;
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	if ((rc = drop_salvage_left(dir, e)))
		goto fail;
	h->fd = open(h->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (h->fd < 0) {
		rc = err_set(e, -errno, "cannot open %s: %s", h->path, strerror(errno));
		goto fail;
	}
	if ((rc = held_load(h, b, e)))
		goto fail;
	*hp = h;
	return 0;
fail:
	held_close(h);
	return rc;
}

int held_append(struct held *h, unsigned shard, uint64_t lsn, uint32_t count, uint32_t flags,
		const void *payload, size_t len, struct err *e)
{
	unsigned char hdr[HELD_HEADER];
	struct iovec iov[2];
	int rc;

	if (shard >= WAL_MAX_SHARDS || len > WAL_MAX_PAYLOAD)
		return err_set(e, -EINVAL, "%s: shard %u, %zu bytes: not a WAL record", h->path,
			       shard, len);
	if (lsn <= h->last[shard])
		return 1;
	header_put(hdr, shard, lsn, count, flags, payload, (uint32_t)len);
	iov[0] = (struct iovec){ hdr, HELD_HEADER };
	iov[1] = (struct iovec){ (void *)payload, len };
	if ((rc = fileio_writev_all(h->fd, iov, 2)) < 0) {
		/* cut back; if that fails too, the caller closes h: its next open cuts it */
		if (ftruncate(h->fd, (off_t)h->size) < 0)
			log_warn("%s: cannot cut a failed write back: %s", h->path, strerror(errno));
		return err_set(e, rc, "cannot write %s: %s", h->path, strerror(-rc));
	}
	h->size += HELD_HEADER + len;
	h->last[shard] = lsn;
	h->events += count;
	h->dirty = true;
	return 0;
}

int held_replay(struct held *h, uint64_t tenant, const struct held_bound *b, wal_replay_fn *fn,
		void *ctx, struct err *e)
{
	return held_scan(h->fd, h->path, h->size, tenant, b, fn, ctx, NULL, e);
}

int held_sync(struct held *h, struct err *e)
{
	char parent[PATH_LEN];
	int rc;

	if (!h->dirty)
		return 0;
	if (fdatasync(h->fd) < 0)
		return err_set(e, -errno, "cannot sync %s: %s", h->path, strerror(errno));
	/* a new file: its name, and the tenant directory's, which may be new too */
	snprintf(parent, sizeof(parent), "%s", h->dir);
	if (h->made && ((rc = fileio_sync_dir(h->dir)) < 0 ||
			(rc = fileio_sync_dir(dirname(parent))) < 0))
		return err_set(e, rc, "cannot sync %s: %s", h->dir, strerror(-rc));
	h->made = h->dirty = false;
	return 0;
}

uint64_t held_events(const struct held *h)
{
	return h->events;
}

bool held_gone(const struct held *h)
{
	struct stat sb;

	return fstat(h->fd, &sb) == 0 && sb.st_nlink == 0;
}

int held_open_read(const char *dir, char *path, size_t size, int *fd, uint64_t *end,
		   struct err *e)
{
	struct stat sb;
	int rc;

	*fd = -1;
	if ((rc = held_path(path, size, dir, e)))
		return rc;
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot open %s: %s", path,
						     strerror(errno));
	if (fstat(*fd, &sb) < 0) {
		rc = err_set(e, -errno, "cannot read %s: %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
		return rc;
	}
	*end = (uint64_t)sb.st_size;
	return 1;
}

void held_close(struct held *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	mem_free(h);
}
