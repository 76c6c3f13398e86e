/*
 * pidfile.h - one daemon per data directory: an exclusive lock and DATA_DIR/koban.pid.
 *
 * pidfile_lock() creates the data directory when missing, opens DATA_DIR/koban.pid,
 * takes an exclusive POSIX record lock on it (fcntl F_SETLK, released by the kernel when
 * the process dies, so a crash leaves no stale lock) and writes the process id into it.
 * A second daemon on the same directory gets -EEXIST and "already running (pid N)", N
 * read from the lock itself. pidfile_release() removes the file and drops the lock at a
 * clean stop. pidfile_running() tells another process (`koban reload`) which pid holds
 * the lock.
 *
 * The lock belongs to the process: no other code of the daemon may open and close
 * koban.pid (closing any descriptor of a file drops the process's POSIX locks on it).
 * Main thread only.
 */
#ifndef CORE_PIDFILE_H
#define CORE_PIDFILE_H

#include <sys/types.h>

struct err;

#define PIDFILE_NAME "koban.pid"

struct pidfile {
	int fd;      /* -1 when not held */
	char *path;  /* DATA_DIR/koban.pid */
};

/*
 * Creates the data directory and its parents (mode 0750) when missing: the one place that
 * does, for the lock and the metadata store alike. -EINVAL for an empty or too long path,
 * -ENOTDIR when it exists as something else.
 */
int pidfile_make_data_dir(const char *dir, struct err *e);
/* 0, -EEXIST (another process holds it; message names its pid) or another -errno. */
int pidfile_lock(struct pidfile *pf, const char *data_dir, struct err *e);
/* Removes the file and drops the lock; harmless on a pidfile never locked. */
void pidfile_release(struct pidfile *pf);
/*
 * The pid of the daemon holding data_dir's lock; -ESRCH (not running, or a stale file
 * without a lock) or -errno. For other processes only: the holder's own locks are
 * invisible to it, and this open and close would drop them.
 */
int pidfile_running(const char *data_dir, pid_t *pid, struct err *e);

#endif
