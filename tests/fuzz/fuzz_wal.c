/*
 * fuzz_wal.c - libFuzzer target for the write-ahead log's replay (it reads bytes from disk
 * that a crash or a broken disk may have left in any state).
 *
 * The input becomes the last file of shard 0: after a valid file header when the first
 * byte's bit 0 is set (so the fuzzer explores records), of version 1 to 4 (bits 1-2), as it
 * is otherwise. Bits 3-5 put 0 to 7 whole records before it, in a file of their own, so that
 * the input's file starts at LSN 1 to 8 and a given-up record first in it (version 4) can
 * name records before it. Bit 6 starts the input's file one LSN later: a record missing before
 * it (a file moved away), which the open names in a file of its own. Opening must either fail
 * with a message or succeed; after a
 * successful open a scan of the files must hand over exactly the records replayed, and the
 * log must take a record and open again with exactly the records it replayed the first time
 * plus that one (and a scan agree again).
 */
#include "store/wal.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/le.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], shard_dir[96];

static int count_replay(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
			uint32_t count, uint32_t flags, const void *payload, size_t len)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

/* A file header of version 1 (records summed with zlib's CRC-32), 2 to 4 (CRC-32C). */
static void put_header(int fd, unsigned version, uint64_t first)
{
	unsigned char h[24] = "KOBANWAL";

	h[8] = (unsigned char)version;
	le_put64(h + 16, first);
	if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h))
		abort();
}

static int create_file(uint64_t first)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%016llx.wal", shard_dir, (unsigned long long)first);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	return fd;
}

/* The file of LSNs 1 to n (version 3): records of tenant 1, one event "x" each. */
static void put_earlier(unsigned n)
{
	int fd = create_file(1);

	put_header(fd, 3, 1);
	for (unsigned i = 1; i <= n; i++) {
		unsigned char r[33] = { 0 };

		le_put32(r, 1);
		le_put64(r + 8, i);
		le_put64(r + 16, 1);
		le_put32(r + 24, 1);
		r[32] = 'x';
		le_put32(r + 4, crc32c(crc32c(0, r + 8, 24), r + 32, 1));
		if (write(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
			abort();
	}
	close(fd);
}

static unsigned long scan_count(void)
{
	struct err e = ERR_INIT;
	unsigned long n = 0;

	if (wal_scan(dir, NULL, 0, count_replay, &n, &e) < 0)
		abort(); /* the log opened: a scan reads it too */
	return n;
}

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/koban-fuzz-wal-%d", (int)getpid());
	snprintf(shard_dir, sizeof(shard_dir), "%s/shard-00", dir);
	mkdir(dir, 0700);
	mkdir(shard_dir, 0700);
}

static struct wal *open_counting(unsigned long *n, struct err *e)
{
	struct wal_config cfg = { .dir = dir, .shards = 1, .replay = count_replay, .ctx = n };
	struct wal *w = NULL;

	*n = 0;
	if (wal_open(&w, &cfg, e) < 0)
		return NULL;
	return w;
}

static void clean(void)
{
	DIR *d = opendir(shard_dir);
	struct dirent *de;
	char path[400];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", shard_dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	unsigned long first = 0, again = 0;
	unsigned earlier, start;
	struct wal *w;
	uint64_t lsn;
	int fd;

	if (!size)
		return 0;
	setup();
	clean();
	earlier = (data[0] >> 3) & 7;
	if (earlier)
		put_earlier(earlier);
	start = earlier + 1 + ((data[0] >> 6) & 1);
	fd = create_file(start);
	if (data[0] & 1)
		put_header(fd, 1 + ((data[0] >> 1) & 3), start);
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(fd);

	w = open_counting(&first, &e);
	if (!w) {
		if (!e.msg[0])
			abort();
		return 0;
	}
	if (scan_count() != first)
		abort();
	if (wal_append(w, 0, 1, 1, 0, "x", 1, &lsn, &e) < 0)
		abort();
	wal_close(w);
	w = open_counting(&again, &e);
	if (!w || again != first + 1 || scan_count() != again)
		abort();
	wal_close(w);
	return 0;
}
