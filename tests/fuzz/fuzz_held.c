/*
 * fuzz_held.c - libFuzzer target for a tenant's held log (store/held.h): the sealer and the
 * search read it from a file a crash or a broken disk may have left in any state.
 *
 * The input becomes DIR/held.log, after a valid magic when the first byte's bit 0 is set (so
 * the fuzzer explores records). A scan must either fail with a message or succeed. An open
 * for appending must succeed: it cuts a torn end (the records a scan read are all kept) or
 * salvages damage (those the scan read before it are kept, and may be more); the log must
 * then scan clean, take a record of the last possible LSN and scan again to one more.
 */
#include "store/held.h"
#include "core/err.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[96];
/* the records of shard 0 up to LSN 4 are committed (a cut in them is damage) */
static const uint64_t upto[1] = { 4 };
static const struct held_bound all = { upto, 1, true };

static int count(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t n,
		 uint32_t flags, const void *payload, size_t len)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

/* Records of the whole file that a scan hands over before it stops; *refused: with an error. */
static long scan_all(bool *refused)
{
	struct err e = ERR_INIT;
	unsigned long n = 0;
	struct stat sb;
	int fd = open(path, O_RDONLY), rc;

	if (fd < 0 || fstat(fd, &sb) < 0)
		abort();
	rc = held_scan(fd, path, (uint64_t)sb.st_size, 1, &all, count, &n, NULL, &e);
	close(fd);
	if (rc < 0 && !e.msg[0])
		abort();
	*refused = rc < 0;
	return (long)n;
}

/* Files in dir (the held log, and a damaged copy after a salvage), each removed. */
static void clean(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[400];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct held *h;
	bool refused, again;
	long first, kept;
	int fd, rc;

	if (!size)
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/koban-fuzz-held-%d", (int)getpid());
		snprintf(path, sizeof(path), "%s/" HELD_NAME, dir);
		mkdir(dir, 0700);
	}
	clean();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ((data[0] & 1) && write(fd, HELD_MAGIC, 8) != 8) ||
	    (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)))
		abort();
	close(fd);
	first = scan_all(&refused);
	/* an open cuts a torn end or salvages damage: it fails only on an I/O error */
	if (held_open(&h, dir, &(const struct held_bound){ upto, 1, false }, &e) < 0)
		abort();
	kept = scan_all(&again);
	if (again || kept < first || (!refused && kept != first))
		abort(); /* what a scan read before it stopped is kept, and nothing more unless salvaged */
	/* the last possible LSN (held already when one is UINT64_MAX) */
	rc = held_append(h, 0, UINT64_MAX, 1, 0, "x", 1, &e);
	if (rc < 0 || held_sync(h, &e) < 0)
		abort();
	held_close(h);
	if (scan_all(&again) != kept + (rc == 0) || again)
		abort();
	return 0;
}
