#include "store/held.h"
#include "core/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
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

struct held {
	int fd;
	char path[PATH_LEN], dir[PATH_LEN];
	uint64_t size;                     /* whole records end here */
	uint64_t last[WAL_MAX_SHARDS];     /* the last LSN held of each shard */
	uint64_t events;
	bool made, dirty, broken;
};

int held_path(char *out, size_t size, const char *dir, struct err *e)
{
	int n = snprintf(out, size, "%s/" HELD_NAME, dir);

	if (n < 0 || (size_t)n >= size)
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, HELD_NAME);
	return 0;
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
	le_put32(h, crc32c(crc32c(0, h + 4, HELD_HEADER - 4), payload, len));
}

/* One record at off (before end) into h and *payload: 0, 1 torn (ends the file), or < 0. */
static int record_read(int fd, const char *path, uint64_t off, uint64_t end,
		       unsigned char h[HELD_HEADER], unsigned char **payload, size_t *cap,
		       struct err *e)
{
	uint32_t len;
	int rc;

	if (end - off < HELD_HEADER)
		return 1;
	if ((rc = fileio_pread_all(fd, h, HELD_HEADER, off)) < 0)
		return err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
	if (!rc)
		return 1;
	len = le_get32(h + 24);
	if (end - off - HELD_HEADER < len)
		return 1; /* past the end: being appended, or torn */
	if (len > WAL_MAX_PAYLOAD)
		return err_set(e, -EBADMSG, "%s: offset %llu: a record of %u bytes (at most %u)",
			       path, (unsigned long long)off, len, WAL_MAX_PAYLOAD);
	if (len > *cap) {
		unsigned char *np = mem_realloc(*payload, len);

		if (!np)
			return err_set(e, -ENOMEM, "out of memory");
		*payload = np;
		*cap = len;
	}
	if (len && (rc = fileio_pread_all(fd, *payload, len, off + HELD_HEADER)) < 0)
		return err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
	if (len && !rc)
		return 1;
	if (le_get32(h) != crc32c(crc32c(0, h + 4, HELD_HEADER - 4), *payload, len)) {
		if (off + HELD_HEADER + len == end)
			return 1; /* the last record, torn by a crash */
		return err_set(e, -EBADMSG, "%s: offset %llu: a damaged record (checksum) with "
			       "more after it", path, (unsigned long long)off);
	}
	return 0;
}

int held_scan(int fd, const char *path, uint64_t end, uint64_t tenant, const uint64_t *upto,
	      unsigned n, wal_replay_fn *fn, void *ctx, uint64_t *valid, struct err *e)
{
	unsigned char magic[MAGIC_LEN], h[HELD_HEADER], *payload = NULL;
	size_t cap = 0;
	uint64_t off = MAGIC_LEN;
	int rc;

	if (valid)
		*valid = 0;
	if (end < MAGIC_LEN)
		return 0; /* its magic was being written */
	if ((rc = fileio_pread_all(fd, magic, MAGIC_LEN, 0)) < 0)
		return err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
	if (!rc)
		return 0;
	if (memcmp(magic, HELD_MAGIC, MAGIC_LEN))
		return err_set(e, -EBADMSG, "%s: not a held log (expected %s first)", path,
			       HELD_MAGIC);
	while ((rc = record_read(fd, path, off, end, h, &payload, &cap, e)) == 0) {
		unsigned shard = le_get32(h + 4);
		uint64_t lsn = le_get64(h + 8);
		uint32_t len = le_get32(h + 24);

		if (shard < n && lsn <= upto[shard] &&
		    (rc = fn(ctx, shard, lsn, tenant, le_get32(h + 16), le_get32(h + 20),
			     payload, len)) < 0)
			break;
		off += HELD_HEADER + len;
	}
	mem_free(payload);
	if (valid)
		*valid = off;
	return rc < 0 ? rc : 0;
}

/* held_scan's fn at open: the last LSN of each shard and the events. */
static int note_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
		       uint32_t count, uint32_t flags, const void *payload, size_t len)
{
	struct held *h = ctx;

	if (lsn > h->last[shard])
		h->last[shard] = lsn;
	h->events += count;
	return 0;
}

/* A new file's magic, or the whole records of an existing one (a torn tail cut off). */
static int held_load(struct held *h, struct err *e)
{
	static const uint64_t all[WAL_MAX_SHARDS] = { [0 ... WAL_MAX_SHARDS - 1] = UINT64_MAX };
	struct stat sb;
	uint64_t valid;
	int rc;

	if (fstat(h->fd, &sb) < 0)
		return err_set(e, -errno, "cannot read %s: %s", h->path, strerror(errno));
	if ((uint64_t)sb.st_size < MAGIC_LEN) { /* new, or its magic torn */
		if (ftruncate(h->fd, 0) < 0 || (rc = fileio_write_all(h->fd, HELD_MAGIC,
								       MAGIC_LEN)) < 0)
			return err_set(e, errno ? -errno : -EIO, "cannot write %s: %s", h->path,
				       strerror(errno ? errno : EIO));
		h->size = MAGIC_LEN;
		h->made = h->dirty = true;
		return 0;
	}
	if ((rc = held_scan(h->fd, h->path, (uint64_t)sb.st_size, 0, all, WAL_MAX_SHARDS,
			    note_record, h, &valid, e)))
		return rc;
	if (valid < (uint64_t)sb.st_size) {
		if (ftruncate(h->fd, (off_t)valid) < 0)
			return err_set(e, -errno, "cannot cut the torn end of %s: %s", h->path,
				       strerror(errno));
		log_warn("%s: the last %llu bytes (a record torn by a crash) were cut off; that "
			 "record is still in the WAL", h->path,
			 (unsigned long long)((uint64_t)sb.st_size - valid));
		h->dirty = true;
	}
	h->size = valid;
	return 0;
}

int held_open(struct held **hp, const char *dir, struct err *e)
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
	h->fd = open(h->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (h->fd < 0) {
		rc = err_set(e, -errno, "cannot open %s: %s", h->path, strerror(errno));
		goto fail;
	}
	if ((rc = held_load(h, e)))
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
	if (h->broken)
		return err_set(e, -EIO, "%s: a failed write could not be cut off; not appended "
			       "to", h->path);
	header_put(hdr, shard, lsn, count, flags, payload, (uint32_t)len);
	iov[0] = (struct iovec){ hdr, HELD_HEADER };
	iov[1] = (struct iovec){ (void *)payload, len };
	if ((rc = fileio_writev_all(h->fd, iov, 2)) < 0) {
		if (ftruncate(h->fd, (off_t)h->size) < 0)
			h->broken = true; /* a torn record would have records after it */
		return err_set(e, rc, "cannot write %s: %s", h->path, strerror(-rc));
	}
	h->size += HELD_HEADER + len;
	h->last[shard] = lsn;
	h->events += count;
	h->dirty = true;
	return 0;
}

int held_replay(struct held *h, uint64_t tenant, const uint64_t *upto, unsigned n,
		wal_replay_fn *fn, void *ctx, struct err *e)
{
	return held_scan(h->fd, h->path, h->size, tenant, upto, n, fn, ctx, NULL, e);
}

int held_sync(struct held *h, struct err *e)
{
	int rc;

	if (!h->dirty)
		return 0;
	if (fdatasync(h->fd) < 0)
		return err_set(e, -errno, "cannot sync %s: %s", h->path, strerror(errno));
	if (h->made && (rc = fileio_sync_dir(h->dir)) < 0)
		return err_set(e, rc, "cannot sync %s: %s", h->dir, strerror(-rc));
	h->made = h->dirty = false;
	return 0;
}

uint64_t held_events(const struct held *h)
{
	return h->events;
}

void held_close(struct held *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	mem_free(h);
}
