/*
 * Unit tests of core/pidfile: the lock refuses a second process and names the first
 * one's pid, `reload` finds the pid through the lock, a clean release removes the file,
 * and a file left without a lock (a crash) is not mistaken for a running daemon.
 */
#include "core/pidfile.h"
#include "core/err.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void data_dir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", t_tmp_dir(), name);
}

/*
 * In a child process (POSIX locks belong to a process, and closing any descriptor of the
 * file drops them, so the holder itself cannot test them): 0 when the lock is refused
 * naming pid `want`, the file holds `want` and pidfile_running() finds it, else 1.
 */
static int child_checks_holder(const char *dir, pid_t want)
{
	struct pidfile pf;
	struct err e = ERR_INIT;
	char expect[64], path[600], text[32] = "";
	pid_t pid = 0;
	int fd, rc = pidfile_lock(&pf, dir, &e);

	snprintf(expect, sizeof(expect), "already running (pid %ld)", (long)want);
	if (rc != -EEXIST || !strstr(e.msg, expect)) {
		fprintf(stderr, "child: lock: %d: %s\n", rc, e.msg);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/koban.pid", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, text, sizeof(text) - 1) <= 0 || atol(text) != want) {
		fprintf(stderr, "child: file holds '%s'\n", text);
		return 1;
	}
	close(fd);
	if (pidfile_running(dir, &pid, &e) < 0 || pid != want) {
		fprintf(stderr, "child: running: %ld: %s\n", (long)pid, e.msg);
		return 1;
	}
	return 0;
}

/* In a child process: 0 when pidfile_running() says "not running". */
static int child_checks_stopped(const char *dir)
{
	struct err e = ERR_INIT;
	pid_t pid = 0;

	return pidfile_running(dir, &pid, &e) == -ESRCH && strstr(e.msg, "not running") ? 0 : 1;
}

static int in_child(int (*fn)(const char *, pid_t), const char *dir, pid_t arg)
{
	pid_t child = fork();
	int status = -1;

	if (child == 0)
		_exit(fn(dir, arg));
	if (child < 0 || waitpid(child, &status, 0) != child)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int stopped(const char *dir, pid_t unused)
{
	return child_checks_stopped(dir);
}

static void test_second_process_refused(void)
{
	struct pidfile pf;
	struct err e = ERR_INIT;
	char dir[512], path[600];

	data_dir(dir, sizeof(dir), "a/var");
	CHECK_INT(in_child(stopped, dir, 0), 0);
	CHECK_INT(pidfile_lock(&pf, dir, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(in_child(child_checks_holder, dir, getpid()), 0);
	pidfile_release(&pf);
	snprintf(path, sizeof(path), "%s/koban.pid", dir);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK_INT(in_child(stopped, dir, 0), 0);
	pidfile_release(&pf); /* twice is harmless */
}

/* A pid file without a lock is what a crash leaves: not running, and the next start takes it. */
static void test_stale_file(void)
{
	struct pidfile pf;
	struct err e = ERR_INIT;
	char dir[512], path[600];
	pid_t pid = 0;
	FILE *f;

	data_dir(dir, sizeof(dir), "stale");
	CHECK_INT(mkdir(dir, 0750), 0);
	snprintf(path, sizeof(path), "%s/koban.pid", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("999999\n", f);
		fclose(f);
	}
	CHECK_INT(pidfile_running(dir, &pid, &e), -ESRCH);
	CHECK(strstr(e.msg, "stale") != NULL);
	CHECK_INT(pidfile_lock(&pf, dir, &e), 0);
	CHECK_INT(in_child(child_checks_holder, dir, getpid()), 0);
	pidfile_release(&pf);
}

static void test_bad_data_dir(void)
{
	struct pidfile pf;
	struct err e = ERR_INIT;

	CHECK(pidfile_lock(&pf, "/dev/null/var", &e) < 0);
	CHECK(strstr(e.msg, "cannot create") != NULL);
	CHECK(pf.fd == -1 && pf.path == NULL);
	pidfile_release(&pf);
}

int main(void)
{
	T_RUN(test_second_process_refused);
	T_RUN(test_stale_file);
	T_RUN(test_bad_data_dir);
	return t_done();
}
