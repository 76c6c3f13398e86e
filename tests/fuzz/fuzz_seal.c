/*
 * fuzz_seal.c - libFuzzer target for what the sealer and the search read from disk: the
 * sealer's state and journal files (store/seal.h) and the WAL read from outside (wal_scan).
 *
 * The first byte picks the file: 0 the state, 1 the journal, 2 the list of replaced
 * segments, else the one file of WAL shard 0 (after a valid file header when the byte is odd). The readers must fail with a message or
 * succeed; wal_scan must hand over exactly the records that the log's own replay (wal_open,
 * which cuts what is not whole) hands over.
 */
#include "store/seal.h"
#include "core/err.h"
#include "core/mem.h"
#include "store/wal.h"

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], wal_dir[96], shard_dir[128], file[200], state[200], journal[200],
	dropped[200];

static int count(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t n,
		 uint32_t flags, const void *payload, size_t len)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/koban-fuzz-seal-%d", (int)getpid());
	snprintf(wal_dir, sizeof(wal_dir), "%s/wal", dir);
	snprintf(shard_dir, sizeof(shard_dir), "%s/shard-00", wal_dir);
	snprintf(file, sizeof(file), "%s/0000000000000001.wal", shard_dir);
	snprintf(state, sizeof(state), "%s/seal.state", dir);
	snprintf(journal, sizeof(journal), "%s/seal.journal", dir);
	snprintf(dropped, sizeof(dropped), "%s/seal.dropped", dir);
	mkdir(dir, 0700);
	mkdir(wal_dir, 0700);
	mkdir(shard_dir, 0700);
}

static void put(const char *path, const uint8_t *data, size_t size, bool header)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	unsigned char h[24] = "KOBANWAL";

	if (fd < 0)
		abort();
	h[8] = 1;  /* version */
	h[16] = 1; /* first LSN */
	if (header && write(fd, h, sizeof(h)) != (ssize_t)sizeof(h))
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t lsn[WAL_MAX_SHARDS], g;
	struct seal_segment *segs = NULL;
	unsigned long scanned = 0, replayed = 0;
	struct err e = ERR_INIT;
	unsigned n;
	size_t ns;
	int rc;

	if (!size)
		return 0;
	setup();
	unlink(state);
	unlink(journal);
	unlink(dropped);
	unlink(file);
	if (data[0] == 0) {
		put(state, data + 1, size - 1, false);
		rc = seal_state_read(dir, &g, lsn, &n, &e);
		if ((rc && !e.msg[0]) || (!rc && n > WAL_MAX_SHARDS))
			abort();
	} else if (data[0] == 1 || data[0] == 2) {
		put(data[0] == 1 ? journal : dropped, data + 1, size - 1, false);
		for (g = 0; g < 2; g++) {
			rc = seal_journal_read(dir, g, &segs, &ns, &e);
			if ((rc && !e.msg[0]) || (rc && segs))
				abort();
			mem_free(segs);
			segs = NULL;
		}
	} else {
		struct wal_config cfg = { .dir = wal_dir, .shards = 1, .replay = count,
					  .ctx = &replayed };
		struct wal *w = NULL;

		put(file, data + 1, size - 1, data[0] & 1);
		rc = wal_scan(wal_dir, NULL, 0, count, &scanned, &e);
		if (rc && !e.msg[0])
			abort();
		if (wal_open(&w, &cfg, &e) == 0) {
			/* a log the replay accepts: the scan saw the same records */
			if (rc || scanned != replayed)
				abort();
			wal_close(w);
		}
	}
	return 0;
}
