/* Unit tests of core/fileio: whole writes, directory sync, atomic replacement of a file. */
#include "core/fileio.h"
#include "core/err.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[600];

static void fresh(const char *name)
{
	char cmd[1400];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	CHECK_INT(system(cmd), 0);
}

static char *slurp(const char *name, size_t *len)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return t_read_file(path, len);
}

static int mode_of(const char *name)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* Entries of dir besides . and .. */
static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static void test_replace_creates_and_replaces(void)
{
	struct err e = ERR_INIT;
	size_t len = 0;
	char *p;

	fresh("replace");
	CHECK_INT(fileio_replace(dir, "state", "first", 5, 0640, 0, &e), 0);
	CHECK_INT(mode_of("state"), 0640);
	p = slurp("state", &len);
	CHECK(p && len == 5 && !memcmp(p, "first", 5));
	free(p);
	CHECK_INT(fileio_replace(dir, "state", "2nd", 3, 0600, 0, &e), 0);
	CHECK_INT(mode_of("state"), 0600); /* exact mode, whatever the umask */
	p = slurp("state", &len);
	CHECK(p && len == 3 && !memcmp(p, "2nd", 3));
	free(p);
	CHECK_INT(mode_of("state.tmp"), -1); /* no temporary file is left */
	CHECK_INT(fileio_replace(dir, "empty", "", 0, 0644, 0, &e), 0);
	p = slurp("empty", &len);
	CHECK(p && len == 0);
	free(p);
}

static void test_noreplace_keeps_the_old_file(void)
{
	struct err e = ERR_INIT;
	size_t len = 0;
	char *p;

	fresh("noreplace");
	CHECK_INT(fileio_replace(dir, "key", "secret", 6, 0600, FILEIO_NOREPLACE, &e), 0);
	CHECK_INT(fileio_replace(dir, "key", "other", 5, 0600, FILEIO_NOREPLACE, &e), -EEXIST);
	CHECK(strstr(e.msg, "key already exists") != NULL);
	p = slurp("key", &len);
	CHECK(p && len == 6 && !memcmp(p, "secret", 6));
	free(p);
	CHECK_INT(mode_of("key"), 0600);
	CHECK_INT(entries(), 1); /* no temporary file is left */
}

static void test_errors_name_the_path(void)
{
	struct err e = ERR_INIT;
	char missing[700], big[5000];

	fresh("errors");
	snprintf(missing, sizeof(missing), "%s/no/such", dir);
	CHECK_INT(fileio_replace(missing, "x", "y", 1, 0600, 0, &e), -ENOENT);
	CHECK(strstr(e.msg, "no/such/x.tmp") != NULL);
	CHECK_INT(fileio_sync_dir(missing), -ENOENT);
	CHECK_INT(fileio_sync_dir(dir), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(fileio_replace(dir, big, "y", 1, 0600, 0, &e), -ENAMETOOLONG);
}

static void test_make_dir(void)
{
	struct err e = ERR_INIT;
	char path[700];
	struct stat st;

	fresh("mkdir");
	snprintf(path, sizeof(path), "%s/d", dir);
	CHECK_INT(fileio_make_dir(path, 0700, &e), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	CHECK_INT(fileio_make_dir(path, 0750, &e), 0); /* there already: fine, left as it is */
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/no/such", dir);
	CHECK_INT(fileio_make_dir(path, 0700, &e), -ENOENT);
	CHECK(strstr(e.msg, "cannot create ") && strstr(e.msg, "no/such"));
}

static void test_write_all_and_writev_all(void)
{
	char path[700], a[3000], b[5000];
	struct iovec iov[3];
	size_t len = 0;
	char *p;
	int fd;

	fresh("write");
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	snprintf(path, sizeof(path), "%s/out", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(fileio_write_all(fd, a, sizeof(a)), 0);
	iov[0] = (struct iovec){ b, sizeof(b) };
	iov[1] = (struct iovec){ a, 0 };
	iov[2] = (struct iovec){ a, 7 };
	CHECK_INT(fileio_writev_all(fd, iov, 3), 0);
	close(fd);
	p = slurp("out", &len);
	CHECK_INT(len, sizeof(a) + sizeof(b) + 7);
	CHECK(p && p[0] == 'a' && p[sizeof(a)] == 'b' && p[len - 1] == 'a');
	free(p);
	CHECK_INT(fileio_write_all(-1, a, 1), -EBADF);
}

static struct fileio_id id_of(const char *name)
{
	char path[700];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&sb, 0, sizeof(sb));
	CHECK_INT(stat(path, &sb), 0);
	return fileio_id_of(&sb);
}

/* The same file unchanged has one id; one replaced under its name, or written to, another. */
/* fileio_copy: the first len bytes, the mode given, no temporary left; a short source. */
static void test_copy(void)
{
	struct err e = ERR_INIT;
	char path[700];
	size_t len;
	char *got;
	int fd;

	fresh("copy");
	CHECK_INT(fileio_replace(dir, "src", "0123456789", 10, 0644, 0, &e), 0);
	snprintf(path, sizeof(path), "%s/src", dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(lseek(fd, 3, SEEK_SET) == 3); /* pread: the offset does not matter */
	CHECK_INT(fileio_copy(fd, 7, dir, "dst", 0600, &e), 0);
	got = slurp("dst", &len);
	CHECK(got && len == 7 && !memcmp(got, "0123456", 7));
	free(got);
	CHECK_INT(mode_of("dst"), 0600);
	CHECK(!slurp("dst.tmp", &len));
	CHECK_INT(fileio_copy(fd, 11, dir, "short", 0600, &e), -EIO); /* cut meanwhile */
	CHECK(strstr(e.msg, "the source ended before its 11 bytes") != NULL);
	CHECK(!slurp("short", &len) && !slurp("short.tmp", &len));
	close(fd);
}

static void test_file_ids(void)
{
	struct fileio_id a, b;
	struct err e = ERR_INIT;
	char path[700];
	int fd;

	fresh("ids");
	CHECK_INT(fileio_replace(dir, "f", "one", 3, 0600, 0, &e), 0);
	a = id_of("f");
	b = id_of("f");
	CHECK(fileio_id_same(&a, &b));
	CHECK_INT(fileio_replace(dir, "f", "two", 3, 0600, 0, &e), 0); /* same size, new inode */
	b = id_of("f");
	CHECK(!fileio_id_same(&a, &b));
	a = b;
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "!", 1) == 1);
	if (fd >= 0)
		close(fd);
	b = id_of("f"); /* the same inode, written to */
	CHECK(!fileio_id_same(&a, &b));
}

/* A reader that left, as a search sees it (store_search.gone): pipes and sockets. */
static void test_reader_gone(void)
{
	int p[2], s[2];

	CHECK_INT(pipe(p), 0);
	CHECK(!fileio_reader_gone(p[1]));
	close(p[0]); /* `koban search | head -1` after head exits */
	CHECK(fileio_reader_gone(p[1]));
	close(p[1]);
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	CHECK(!fileio_reader_gone(s[0]));
	CHECK_INT(shutdown(s[1], SHUT_WR), 0); /* the client sent its request: still reading */
	CHECK(!fileio_reader_gone(s[0]));
	close(s[1]); /* the client was interrupted */
	CHECK(fileio_reader_gone(s[0]));
	close(s[0]);
}

int main(void)
{
	T_RUN(test_replace_creates_and_replaces);
	T_RUN(test_noreplace_keeps_the_old_file);
	T_RUN(test_errors_name_the_path);
	T_RUN(test_make_dir);
	T_RUN(test_write_all_and_writev_all);
	T_RUN(test_copy);
	T_RUN(test_file_ids);
	T_RUN(test_reader_gone);
	return t_done();
}
