#include "core/fileio.h"
#include "core/compat.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define FILEIO_PATH_MAX 4096

int fileio_write_all(int fd, const void *p, size_t n)
{
	const char *q = p;

	while (n) {
		ssize_t k = write(fd, q, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

int fileio_pread_all(int fd, void *p, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)p + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

int fileio_writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t got = writev(fd, iov, n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		while (n > 0 && (size_t)got >= iov->iov_len) {
			got -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	return 0;
}

bool fileio_reader_gone(int fd)
{
	/* no events asked: POLLERR (a pipe without readers) and POLLHUP are reported anyway */
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

int fileio_make_dir(const char *path, mode_t mode, struct err *e)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_set(e, -errno, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

int fileio_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Writes the temporary file's content: 0, or a negative code with e naming tmp. */
typedef int fill_fn(int fd, const char *tmp, void *ctx, struct err *e);

#define KEEP_DIR_UNSYNCED (1u << 31) /* replace_by(): the caller syncs dir once for many */

/*
 * Makes DIR/NAME hold what fill writes, with mode: DIR/NAME.tmp (or, FILEIO_NOREPLACE, a
 * temporary of the call's own), fdatasync, rename, then a sync of dir unless
 * KEEP_DIR_UNSYNCED. On failure DIR/NAME is unchanged and the temporary file removed.
 */
static int replace_by(const char *dir, const char *name, mode_t mode, unsigned flags,
		      fill_fn *fill, void *ctx, struct err *e)
{
	char path[FILEIO_PATH_MAX], tmp[FILEIO_PATH_MAX];
	bool unique = flags & FILEIO_NOREPLACE;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	int m = snprintf(tmp, sizeof(tmp), unique ? "%s/%s.tmp.XXXXXX" : "%s/%s.tmp", dir, name);
	int fd = -1, rc;

	if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(tmp))
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	/*
	 * Writers that must not replace may race for the same name: each gets a temporary
	 * file of its own (mkostemp: O_EXCL), so the loser's bytes never reach the winner's
	 * file. O_NOFOLLOW: a link planted at a fixed temporary name is not written through.
	 */
	if (unique)
		fd = mkostemp(tmp, O_CLOEXEC);
	else
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return err_set(e, -errno, "cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, mode) < 0 || ((rc = fill(fd, tmp, ctx, e)) == 0 && fdatasync(fd) < 0))
		rc = err_set(e, -errno, "cannot write %s: %s", tmp, strerror(errno));
	if (rc)
		goto fail;
	close(fd);
	fd = -1;
	if (flags & FILEIO_NOREPLACE)
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 ? -errno : 0;
	else
		rc = rename(tmp, path) < 0 ? -errno : 0;
	if (rc == -EEXIST) {
		err_set(e, rc, "%s already exists", path);
		goto fail;
	}
	if (rc) {
		err_set(e, rc, "cannot rename %s to %s: %s", tmp, path, strerror(-rc));
		goto fail;
	}
	if (!(flags & KEEP_DIR_UNSYNCED) && (rc = fileio_sync_dir(dir)) < 0)
		return err_set(e, rc, "cannot sync %s: %s", dir, strerror(-rc));
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

struct bytes {
	const void *p;
	size_t len;
};

static int fill_bytes(int fd, const char *tmp, void *ctx, struct err *e)
{
	const struct bytes *b = ctx;
	int rc = fileio_write_all(fd, b->p, b->len);

	return rc ? err_set(e, rc, "cannot write %s: %s", tmp, strerror(-rc)) : 0;
}

int fileio_replace(const char *dir, const char *name, const void *data, size_t len,
		   mode_t mode, unsigned flags, struct err *e)
{
	struct bytes b = { data, len };

	return replace_by(dir, name, mode, flags & FILEIO_NOREPLACE, fill_bytes, &b, e);
}

int fileio_path(char *out, size_t size, struct err *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return err_set(e, -ENAMETOOLONG, "a path is too long: %.64s...", out);
	return 0;
}

/* Copies src[0..len) to fd through buf[0..size). */
static int copy_bytes(int src, uint64_t len, int fd, char *buf, size_t size)
{
	for (uint64_t off = 0; off < len;) {
		size_t want = (size_t)MIN((uint64_t)size, len - off);
		ssize_t n = pread(src, buf, want, (off_t)off);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		if ((rc = fileio_write_all(fd, buf, (size_t)n)) < 0)
			return rc;
		off += (uint64_t)n;
	}
	return 0;
}

#define COPY_BUFFER ((size_t)1 << 20)

struct copy_from {
	int src;
	uint64_t len;
};

static int fill_copy(int fd, const char *tmp, void *ctx, struct err *e)
{
	const struct copy_from *f = ctx;
	char *buf = mem_alloc(COPY_BUFFER);
	int rc;

	if (!buf)
		return err_set(e, -ENOMEM, "out of memory");
	rc = copy_bytes(f->src, f->len, fd, buf, COPY_BUFFER);
	mem_free(buf);
	if (rc == -EIO)
		return err_set(e, rc, "cannot copy into %s: the source ended before its %llu bytes "
			       "(cut meanwhile), or an I/O error", tmp, (unsigned long long)f->len);
	return rc ? err_set(e, rc, "cannot write %s: %s", tmp, strerror(-rc)) : 0;
}

int fileio_copy(int src, uint64_t len, const char *dir, const char *name, mode_t mode,
		struct err *e)
{
	struct copy_from f = { src, len };

	return replace_by(dir, name, mode, KEEP_DIR_UNSYNCED, fill_copy, &f, e);
}

int fileio_read_secret(const char *path, const char *what, char *out, size_t size, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), rc = 0;
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return err_set(e, -errno, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(e, -EINVAL, "%s %s is not a regular file", what, path);
		goto fail;
	}
	if (st.st_mode & 077) {
		rc = err_set(e, -EPERM, "%s %s has mode %04o: others may read it (chmod 600 %s)",
			     what, path, (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	do
		n = read(fd, out, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n >= size - 1) {
		rc = err_set(e, n < 0 ? -errno : -EFBIG, "%s %s: %s", what, path,
			     n < 0 ? strerror(errno) : "too large");
		goto fail;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		n--;
	out[n] = '\0';
	if (n == 0)
		rc = err_set(e, -EINVAL, "%s %s is empty", what, path);
fail:
	close(fd);
	return rc;
}

struct fileio_id fileio_id_of(const struct stat *sb)
{
	return (struct fileio_id){ (uint64_t)sb->st_dev, (uint64_t)sb->st_ino, (uint64_t)sb->st_size,
				   time_ns_of(&sb->st_mtim), time_ns_of(&sb->st_ctim) };
}

bool fileio_id_same(const struct fileio_id *a, const struct fileio_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}
