/*
 * fileio.h - the durable-file steps the store repeats: writing a whole buffer, syncing a
 * directory after a name in it changed, and replacing a small file atomically
 * (write DIR/NAME.tmp, fdatasync, rename over DIR/NAME, fsync DIR), so that a crash
 * leaves either the old file or the new one, never a torn one.
 *
 * Memory: nothing is kept; callers own every buffer. Threads: any thread; two threads
 * must not replace the same DIR/NAME at once (they would share NAME.tmp), unless with
 * FILEIO_NOREPLACE (one wins, the others get -EEXIST).
 */
#ifndef CORE_FILEIO_H
#define CORE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct err;

/* fileio_replace() flags */
#define FILEIO_NOREPLACE 1u /* -EEXIST when DIR/NAME exists (it is left as it was); the
			     * temporary file is DIR/NAME.tmp.XXXXXX, unique to the call */

/* Writes all n bytes at fd's offset (retrying short writes and EINTR): 0 or -errno. */
int fileio_write_all(int fd, const void *p, size_t n);
/*
 * Writes all of iov[0..n) (retrying short writes and EINTR); iov is consumed (its bases
 * and lengths are advanced). 0 or -errno; -EIO when the kernel writes nothing.
 */
int fileio_writev_all(int fd, struct iovec *iov, int n);
/*
 * True when nobody reads fd any more: a pipe whose read end is closed, a socket whose peer
 * closed it (not one that only shut its writing half). Does not block.
 */
bool fileio_reader_gone(int fd);
/*
 * Reads n bytes of fd at off (pread, retrying short reads and EINTR): 1 when all were read,
 * 0 when the file ends before (a record being written, or torn), or -errno.
 */
int fileio_pread_all(int fd, void *p, size_t n, uint64_t off);
/* fsync() of directory dir, so that names created, renamed or removed in it last: 0 or -errno. */
int fileio_sync_dir(const char *dir);
/*
 * Makes DIR/NAME hold exactly data[0..len) with the given mode (umask does not apply),
 * through DIR/NAME.tmp (written by one thread at a time) and a rename, then syncs dir. On failure DIR/NAME is unchanged,
 * the temporary file is removed, and e says which step failed on which path.
 */
int fileio_replace(const char *dir, const char *name, const void *data, size_t len,
		   mode_t mode, unsigned flags, struct err *e);
/*
 * Creates directory path with mode (less the umask) unless it exists: 0, or -errno with e
 * naming path. An existing file of that name is not checked here: opening in it fails.
 */
int fileio_make_dir(const char *path, mode_t mode, struct err *e);
/*
 * Formats a path into out[0..size): 0, or -ENAMETOOLONG with e naming the start of the path
 * that did not fit.
 */
int fileio_path(char *out, size_t size, struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Makes DIR/NAME hold the first len bytes of src (read with pread from offset 0; src's own
 * offset is not moved) with the given mode, as fileio_replace() does: through DIR/NAME.tmp,
 * fdatasync and a rename. The directory is not synced: a caller copying many files syncs it
 * once. -EIO when src ends before len bytes (it was cut meanwhile).
 */
int fileio_copy(int src, uint64_t len, const char *dir, const char *name, mode_t mode,
		struct err *e);
/*
 * Reads the secret file path into out[0..size) NUL-terminated, trailing CR/LF cut: a regular
 * file (not followed through a symbolic link) of mode 0600 or stricter, not empty, shorter
 * than size. Errors name what (e.g. "notify.channels.mail.password_file") and the path,
 * never the content: -EPERM for a mode others may read (with the chmod to run), -EFBIG,
 * -EINVAL (empty, not a regular file), -errno of open/read.
 */
int fileio_read_secret(const char *path, const char *what, char *out, size_t size, struct err *e);

/*
 * Which file a stat() saw, and as it was then: two ids are equal only for the same file
 * (device, inode) unchanged since (size, modification and change times). A cache keyed by a
 * path checks it before it trusts what it kept of the file (the store's open segments, its
 * directory listings).
 */
struct fileio_id {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};
struct stat;
struct fileio_id fileio_id_of(const struct stat *sb);
bool fileio_id_same(const struct fileio_id *a, const struct fileio_id *b);

#endif
