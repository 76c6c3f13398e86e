/*
 * fuzz_wal.c - libFuzzer target for the write-ahead log's replay (it reads bytes from disk
 * that a crash or a broken disk may have left in any state).
 *
 * The input becomes the one file of shard 0: after a valid file header when the first byte
 * is odd (so the fuzzer explores records), as it is otherwise. Opening must either fail
 * with a message or succeed; after a successful open the log must take a record and open
 * again with exactly the records it replayed the first time plus that one.
 */
#include "store/wal.h"
#include "core/err.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], shard_dir[96], file[160];

static int count_replay(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
			uint32_t count, uint32_t flags, const void *payload, size_t len)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

/* A file header of version 1 (records summed with zlib's CRC-32), 2 or 3 (CRC-32C). */
static void put_header(int fd, unsigned version)
{
	unsigned char h[24] = "KOBANWAL";

	h[8] = (unsigned char)version;
	h[16] = 1; /* first LSN */
	if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h))
		abort();
}

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/koban-fuzz-wal-%d", (int)getpid());
	snprintf(shard_dir, sizeof(shard_dir), "%s/shard-00", dir);
	snprintf(file, sizeof(file), "%s/0000000000000001.wal", shard_dir);
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
	struct wal *w;
	uint64_t lsn;
	int fd;

	if (!size)
		return 0;
	setup();
	clean();
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (data[0] & 1)
		put_header(fd, 1 + (data[0] >> 1) % 3);
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(fd);

	w = open_counting(&first, &e);
	if (!w) {
		if (!e.msg[0])
			abort();
		return 0;
	}
	if (wal_append(w, 0, 1, 1, 0, "x", 1, &lsn, &e) < 0)
		abort();
	wal_close(w);
	w = open_counting(&again, &e);
	if (!w || again != first + 1)
		abort();
	wal_close(w);
	return 0;
}
