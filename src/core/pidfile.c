/*
 * pidfile.c - the data directory's lock and pid file.
 */
#include "core/pidfile.h"
#include "core/compat.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "pidfile"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define PIDFILE_TRIES 5 /* a file removed between open and lock is opened again */

static char *pid_path(const char *data_dir)
{
	size_t n = strlen(data_dir) + sizeof("/" PIDFILE_NAME);
	char *p = mem_alloc(n);

	if (p)
		snprintf(p, n, "%s/" PIDFILE_NAME, data_dir);
	return p;
}

/* The pid holding a write lock on fd's file, 0 when none. */
static pid_t lock_holder(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid > 0 ? fl.l_pid : -1;
}

/* The pid written in the file, or -1. */
static pid_t pid_in_file(int fd)
{
	char text[24];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	long v = 0;

	if (n <= 0)
		return -1;
	text[n] = '\0';
	for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9' && v < 1L << 30; i++)
		v = v * 10 + (text[i] - '0');
	return v > 0 ? (pid_t)v : -1;
}

static int write_pid(int fd)
{
	char text[24];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	ssize_t w;

	if (ftruncate(fd, 0) < 0)
		return -errno;
	w = pwrite(fd, text, (size_t)n, 0);
	if (w < 0)
		return -errno;
	return w == n ? 0 : -EIO;
}

/* True when fd is still the file at path (not removed by a daemon that stopped). */
static bool still_linked(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int pidfile_make_data_dir(const char *dir, struct err *e)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	struct stat sb;

	if (len == 0 || len >= sizeof(path))
		return err_set(e, -EINVAL, "data directory '%s': expected a path of 1-%d bytes",
			       dir, PATH_MAX - 1);
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) < 0 && errno != EEXIST)
			return err_set(e, -errno, "data directory %s: cannot create %s: %s", dir,
				       path, strerror(errno));
		path[i] = dir[i];
	}
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return err_set(e, -ENOTDIR, "data directory %s: not a directory", dir);
	return 0;
}

int pidfile_lock(struct pidfile *pf, const char *data_dir, struct err *e)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int rc, fd = -1;

	pf->fd = -1;
	pf->path = NULL;
	if ((rc = pidfile_make_data_dir(data_dir, e)) < 0)
		return rc;
	pf->path = pid_path(data_dir);
	if (!pf->path)
		return err_set(e, -ENOMEM, "out of memory");
	for (int i = 0; i < PIDFILE_TRIES; i++) {
		fd = open(pf->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0) {
			rc = err_set(e, -errno, "%s: cannot open: %s", pf->path, strerror(errno));
			goto fail;
		}
		if (fcntl(fd, F_SETLK, &fl) < 0) {
			int why = errno;
			pid_t holder;

			if (why != EAGAIN && why != EACCES) {
				rc = err_set(e, -why, "%s: cannot lock: %s", pf->path, strerror(why));
				goto fail;
			}
			holder = lock_holder(fd);
			if (holder <= 0)
				holder = pid_in_file(fd);
			rc = err_set(e, -EEXIST, "already running (pid %ld): data "
				     "directory %s is locked (%s)", (long)holder, data_dir,
				     pf->path);
			goto fail;
		}
		if (still_linked(fd, pf->path))
			break;
		close(fd); /* removed by a daemon that just stopped: take the new file */
		fd = -1;
	}
	if (fd < 0) {
		rc = err_set(e, -EAGAIN, "%s: the file keeps being replaced", pf->path);
		goto fail;
	}
	if ((rc = write_pid(fd)) < 0) {
		err_set(e, rc, "%s: cannot write the pid: %s", pf->path, strerror(-rc));
		goto fail;
	}
	pf->fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	mem_free(pf->path);
	pf->path = NULL;
	return rc;
}

void pidfile_release(struct pidfile *pf)
{
	if (pf->fd >= 0) {
		/* remove while still holding the lock: nobody reads a pid that is gone */
		if (unlink(pf->path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", pf->path, strerror(errno));
		close(pf->fd);
	}
	pf->fd = -1;
	mem_free(pf->path);
	pf->path = NULL;
}

int pidfile_running(const char *data_dir, pid_t *pid, struct err *e)
{
	char *path = pid_path(data_dir);
	pid_t holder;
	int rc = 0, fd;

	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = errno == ENOENT ? err_set(e, -ESRCH, "koban is not running with data directory "
					       "%s (no %s)", data_dir, path)
				     : err_set(e, -errno, "%s: cannot open: %s", path, strerror(errno));
		goto done;
	}
	holder = lock_holder(fd);
	if (holder < 0)
		holder = pid_in_file(fd);
	if (holder == 0)
		rc = err_set(e, -ESRCH, "koban is not running with data directory %s (%s is not "
			     "locked: a stale file from a crash)", data_dir, path);
	else if (holder < 0)
		rc = err_set(e, -ESRCH, "%s: locked, but holds no pid", path);
	else
		*pid = holder;
	close(fd);
done:
	mem_free(path);
	return rc;
}
