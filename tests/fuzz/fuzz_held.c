/*
 * fuzz_held.c - libFuzzer target for a tenant's held log (store/held.h): the sealer and the
 * search read it from a file a crash or a broken disk may have left in any state.
 *
 * The input becomes DIR/held.log, after a valid magic when the first byte's bit 0 is set (so
 * the fuzzer explores records). A scan must either fail with a message or succeed; an open
 * for appending must do the same, and after a successful one the log must take a record of
 * the last possible LSN and scan again to exactly the records of the first scan
 * (a torn end cut off) plus that one.
 */
#include "store/held.h"
#include "core/err.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[96];
static const uint64_t all[WAL_MAX_SHARDS] = { [0 ... WAL_MAX_SHARDS - 1] = UINT64_MAX };

static int count(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t n,
		 uint32_t flags, const void *payload, size_t len)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

/* Records of the whole file, or -1 (with a message) when it is refused. */
static long scan_all(void)
{
	struct err e = ERR_INIT;
	unsigned long n = 0;
	struct stat sb;
	int fd = open(path, O_RDONLY), rc;

	if (fd < 0 || fstat(fd, &sb) < 0)
		abort();
	rc = held_scan(fd, path, (uint64_t)sb.st_size, 1, all, WAL_MAX_SHARDS, count, &n, NULL, &e);
	close(fd);
	if (rc < 0 && !e.msg[0])
		abort();
	return rc < 0 ? -1 : (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct held *h;
	long first;
	int fd, rc;

	if (!size)
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/koban-fuzz-held-%d", (int)getpid());
		snprintf(path, sizeof(path), "%s/" HELD_NAME, dir);
		mkdir(dir, 0700);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ((data[0] & 1) && write(fd, HELD_MAGIC, 8) != 8) ||
	    (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)))
		abort();
	close(fd);
	first = scan_all();
	if (held_open(&h, dir, &e) < 0) {
		if (!e.msg[0] || first >= 0) /* only what a scan refuses too */
			abort();
		return 0;
	}
	if (first < 0) /* the open accepted what the scan refused */
		abort();
	/* past every LSN it holds (held already when one is UINT64_MAX) */
	rc = held_append(h, 0, UINT64_MAX, 1, 0, "x", 1, &e);
	if (rc < 0 || held_sync(h, &e) < 0)
		abort();
	held_close(h);
	if (scan_all() != first + (rc == 0))
		abort();
	return 0;
}
