/* Unit tests of the write-ahead log: group commit, replay, torn tails, damage, checkpoints. */
#include "store/wal.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/mem.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/le.h"

#define MAX_SEEN 4096

struct seen {
	unsigned n;
	unsigned shard[MAX_SEEN];
	uint64_t lsn[MAX_SEEN];
	uint64_t tenant[MAX_SEEN];
	uint32_t count[MAX_SEEN];
	char payload[MAX_SEEN][32];
	atomic_ulong durable_events[4]; /* by tenant */
	atomic_ulong lost_events[4];
};

static int on_replay(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		     uint32_t flags, const void *payload, size_t len)
{
	struct seen *s = ctx;

	if (s->n == MAX_SEEN || len >= sizeof(s->payload[0]))
		return -ENOSPC;
	if (tenant < 2 && flags != tenant) /* append_range writes tenant i % 2 with flags i % 2 */
		return -EPROTO;
	s->shard[s->n] = shard;
	s->lsn[s->n] = lsn;
	s->tenant[s->n] = tenant;
	s->count[s->n] = count;
	memcpy(s->payload[s->n], payload, len);
	s->payload[s->n][len] = '\0';
	s->n++;
	return 0;
}

static void on_durable(void *ctx, uint64_t tenant, uint32_t count)
{
	struct seen *s = ctx;

	atomic_fetch_add(&s->durable_events[tenant % 4], count);
}

static void on_lost(void *ctx, uint64_t tenant, uint32_t count)
{
	struct seen *s = ctx;

	atomic_fetch_add(&s->lost_events[tenant % 4], count);
}

static char dir[512];

static void fresh_dir(const char *name)
{
	char cmd[1100];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

static struct wal *open_wal(unsigned shards, unsigned interval_ms, size_t file_max,
			    struct seen *s, struct err *e)
{
	struct wal_config cfg = { .dir = dir, .shards = shards, .commit_interval_ms = interval_ms,
				   .file_max_bytes = file_max, .replay = on_replay,
				   .durable = on_durable, .lost = on_lost, .ctx = s };
	struct wal *w = NULL;

	memset(s, 0, sizeof(*s));
	if (wal_open(&w, &cfg, e) < 0)
		return NULL;
	return w;
}

/* Appends n records "r<i>" to shard i % shards, tenant i % 2, count i % 3 + 1. */
static void append_n(struct wal *w, unsigned shards, unsigned from, unsigned n)
{
	struct err e = ERR_INIT;

	for (unsigned i = from; i < from + n; i++) {
		char p[32];
		int len = snprintf(p, sizeof(p), "r%u", i);
		uint64_t lsn = 0;

		CHECK_INT(wal_append(w, i % shards, i % 2, i % 3 + 1, i % 2, p, (size_t)len, &lsn, &e), 0);
		CHECK(lsn > 0);
	}
}

/* The events append_n(..., from, n) wrote. */
static uint64_t events_of(unsigned from, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = from; i < from + n; i++)
		sum += i % 3 + 1;
	return sum;
}

static unsigned files_in(const char *shard_dir)
{
	DIR *d = opendir(shard_dir);
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d)))
		n += strstr(de->d_name, ".wal") != NULL;
	if (d)
		closedir(d);
	return n;
}

static char *last_file(unsigned shard, char *out, size_t size)
{
	char sd[600];
	DIR *d;
	struct dirent *de;
	char best[256] = "";

	snprintf(sd, sizeof(sd), "%s/shard-%02u", dir, shard);
	d = opendir(sd);
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".wal") && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	if (d)
		closedir(d);
	snprintf(out, size, "%s/%s", sd, best);
	return out;
}

static void test_append_commit_replay(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	unsigned by_shard[2] = { 0, 0 };
	char sd[600];

	fresh_dir("roundtrip");
	w = open_wal(2, 5, 512, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 2, 0, 600);
	CHECK_INT(wal_wait_durable(w, 0, 300, 5000), 0);
	CHECK_INT(wal_wait_durable(w, 1, 300, 5000), 0);
	CHECK_INT(wal_durable_lsn(w, 0), 300);
	/* tenant 0 is every even i: counts 1,3,2,1,3,2,... */
	CHECK_INT(atomic_load(&s.durable_events[0]) + atomic_load(&s.durable_events[1]), 1200);
	CHECK_INT(wal_durable_events(w, 0) + wal_durable_events(w, 1), 1200);
	wal_stats(w, &st);
	CHECK_INT(st.appended_records, 600);
	CHECK(st.commits >= 1);
	CHECK_INT(st.write_errors, 0);
	wal_close(w);
	snprintf(sd, sizeof(sd), "%s/shard-00", dir);
	CHECK(files_in(sd) > 5); /* 512-byte files: the log rotated */

	w = open_wal(2, 5, 512, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 600);
	for (unsigned k = 0; k < s.n; k++) {
		unsigned i;

		CHECK(sscanf(s.payload[k], "r%u", &i) == 1);
		CHECK_INT(s.shard[k], i % 2);
		CHECK_INT(s.tenant[k], i % 2);
		CHECK_INT(s.count[k], i % 3 + 1);
		CHECK_INT(s.lsn[k], ++by_shard[s.shard[k]]);
	}
	wal_stats(w, &st);
	CHECK_INT(st.replayed_records, 600);
	CHECK_INT(st.torn_bytes, 0);
	/* the replayed records are durable, and counted (no checkpoint: from the start) */
	CHECK_INT(wal_durable_events(w, 0) + wal_durable_events(w, 1), 1200);
	CHECK_INT(wal_checkpoint_events(w, 0), 0);
	/* Appending goes on after the replayed LSNs. */
	append_n(w, 2, 600, 2);
	CHECK_INT(wal_wait_durable(w, 0, 301, 5000), 0);
	CHECK_INT(wal_wait_durable(w, 1, 301, 5000), 0);
	CHECK_INT(wal_durable_events(w, 0) + wal_durable_events(w, 1), 1200 + events_of(600, 2));
	wal_close(w);
	w = open_wal(2, 5, 512, &s, &e);
	CHECK_INT(s.n, 602);
	wal_close(w);
}

/*
 * A file of the given version, written here byte by byte: 1, as koban wrote them before
 * CRC-32C (records summed with zlib's CRC-32), or 2, before event batches of version 2 (the
 * same records as now); 5, from a koban newer than this one. A scan and a replay read the
 * records of the older ones, and appends after them go to a new file of the current version
 * that both read too; a newer one is refused.
 */
static void write_file_version(unsigned n, unsigned version)
{
	char path[700];
	unsigned char h[32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/shard-00", dir);
	CHECK_INT(mkdir(dir, 0750), 0);
	CHECK_INT(mkdir(path, 0750), 0);
	snprintf(path, sizeof(path), "%s/shard-00/%016llx.wal", dir, 1ull);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	memcpy(h, "KOBANWAL", 8);
	le_put32(h + 8, version);
	le_put32(h + 12, 0);
	le_put64(h + 16, 1);
	fwrite(h, 1, 24, f);
	for (unsigned i = 0; i < n; i++) {
		char p[32];
		int len = snprintf(p, sizeof(p), "r%u", i);
		uLong crc;

		le_put32(h, (uint32_t)len);
		le_put64(h + 8, i + 1);
		le_put64(h + 16, i % 2);
		le_put32(h + 24, i % 3 + 1);
		le_put32(h + 28, i % 2); /* flags as append_n() sets them */
		if (version == 1)
			crc = crc32(crc32(0L, h + 8, 24), (const Bytef *)p, (uInt)len);
		else
			crc = crc32c(crc32c(0, h + 8, 24), p, (size_t)len);
		le_put32(h + 4, (uint32_t)crc);
		fwrite(h, 1, 32, f);
		fwrite(p, 1, (size_t)len, f);
	}
	CHECK_INT(fclose(f), 0);
}

static int count_scanned(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
			 uint32_t count, uint32_t flags, const void *payload, size_t len)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static void old_file_is_read(unsigned version)
{
	static struct seen s;
	struct err e = ERR_INIT;
	unsigned scanned = 0;
	struct wal *w;

	fresh_dir(version == 1 ? "version1" : "version2");
	write_file_version(5, version);
	CHECK_INT(wal_scan(dir, NULL, 0, count_scanned, &scanned, &e), 0);
	CHECK_INT(scanned, 5);
	w = open_wal(1, 5, 1 << 20, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 5);
	CHECK_STR(s.payload[4], "r4");
	append_n(w, 1, 5, 3);
	CHECK_INT(wal_wait_durable(w, 0, 8, 5000), 0);
	wal_close(w);
	{ /* the appends went to a new file, of the current version */
		char path[700], h[24];
		FILE *f = fopen(last_file(0, path, sizeof(path)), "rb");

		CHECK(f != NULL && fread(h, 1, 24, f) == 24);
		CHECK(strstr(path, "0000000000000006.wal") != NULL);
		CHECK_INT(le_get32((const unsigned char *)h + 8), 3);
		if (f)
			fclose(f);
	}
	scanned = 0;
	CHECK_INT(wal_scan(dir, NULL, 0, count_scanned, &scanned, &e), 0);
	CHECK_INT(scanned, 8);
	w = open_wal(1, 5, 1 << 20, &s, &e);
	CHECK_INT(s.n, 8);
	CHECK_STR(s.payload[7], "r7");
	wal_close(w);
}

static void test_older_files_are_read(void)
{
	struct err e = ERR_INIT;
	unsigned scanned = 0;

	old_file_is_read(1);
	old_file_is_read(2);
	fresh_dir("version5");
	write_file_version(1, 5);
	CHECK(wal_scan(dir, NULL, 0, count_scanned, &scanned, &e) < 0);
	CHECK(strstr(e.msg, "not a koban WAL file") != NULL);
	CHECK_INT(scanned, 0);
}

/*
 * A fresh log in dir/name of one shard holding r0..r9 (records of 32 + 2 bytes: record i at
 * 24 + 34 * i) in one file, whose path goes to path.
 */
static bool ten_records(const char *name, char *path, size_t size)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;

	fresh_dir(name);
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return false;
	append_n(w, 1, 0, 10);
	wal_close(w);
	last_file(0, path, size);
	return true;
}

/* The one-shard log opened again: its replay in s, its statistics in st (NULL: it failed). */
static struct wal *reopen(struct seen *s, struct wal_stats *st)
{
	struct err e = ERR_INIT;
	struct wal *w = open_wal(1, 0, 0, s, &e);

	CHECK(w != NULL);
	if (w)
		wal_stats(w, st);
	return w;
}

static void test_torn_tail_is_cut(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	char path[700];
	struct stat before, after;
	int fd;

	if (!ten_records("torn", path, sizeof(path)))
		return;
	CHECK_INT(stat(path, &before), 0);
	/* Half a record header, as a crash in the middle of a write leaves it. */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "\x10\x00\x00\x00\xde\xad\xbe\xef\x0b", 9) == 9);
	close(fd);

	if (!(w = reopen(&s, &st)))
		return;
	CHECK_INT(s.n, 10);
	CHECK_INT(st.torn_bytes, 9);
	CHECK_INT(stat(path, &after), 0);
	CHECK_INT(after.st_size, before.st_size);
	append_n(w, 1, 10, 1);
	wal_close(w);
	w = open_wal(1, 0, 0, &s, &e);
	CHECK_INT(s.n, 11);
	CHECK_STR(s.payload[10], "r10");
	wal_close(w);
}

/* The whole content of path into buf (at most size bytes): its length. */
static size_t read_whole(const char *path, unsigned char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, size) : -1;

	if (fd >= 0)
		close(fd);
	CHECK(n >= 0);
	return n > 0 ? (size_t)n : 0;
}

/*
 * A committed record damaged in the middle of the last file (a bit flipped on the disk) looks
 * like a torn tail, but whole records follow it: the cut keeps the bytes it takes beside the
 * file, exactly, and counts the whole records after the damaged one.
 */
static void test_damaged_record_before_whole_ones_is_kept(void)
{
	static struct seen s;
	static unsigned char before[4096], kept[4096];
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	char path[700], found[700] = "";
	size_t n, k;
	struct stat sb;
	int fd;

	if (!ten_records("damaged-last", path, sizeof(path)))
		return;
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "X", 1, 24 + 34 * 4 + 32) == 1); /* the payload of LSN 5 */
	close(fd);
	n = read_whole(path, before, sizeof(before));
	CHECK_INT(n, 24 + 34 * 10);
	CHECK_INT(wal_find_kept(dir, found, sizeof(found), &e), 0);

	if (!(w = reopen(&s, &st)))
		return;
	CHECK_INT(s.n, 4);
	CHECK_INT(st.cut_records_kept, 5);
	CHECK_INT(st.torn_bytes, 34 * 6);
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_size, 24 + 34 * 4);
	CHECK_INT(wal_find_kept(dir, found, sizeof(found), &e), 1);
	CHECK(strstr(found, "/shard-00/0000000000000001.wal.cut-") != NULL);
	k = read_whole(found, kept, sizeof(kept));
	CHECK_INT(k, 34 * 6);
	CHECK(k == 34 * 6 && !memcmp(kept, before + 24 + 34 * 4, k));
	append_n(w, 1, 10, 1); /* takes LSN 5: the log goes on after the cut */
	wal_close(w);

	/* cut once: the next start finds a whole log, keeps nothing more */
	if (!(w = reopen(&s, &st)))
		return;
	CHECK_INT(s.n, 5);
	CHECK_STR(s.payload[4], "r10");
	CHECK_INT(st.cut_records_kept, 0);
	CHECK_INT(st.torn_bytes, 0);
	wal_close(w);
}

/*
 * Whole records after a damaged one that the checkpoint covers are in segments already: they
 * are not counted as kept, and with none after the checkpoint nothing is kept at all.
 */
static void damaged_under_checkpoint(const char *name, uint64_t checkpoint, uint64_t kept)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	char path[700], found[700] = "";
	int fd;

	if (!ten_records(name, path, sizeof(path)) || !(w = reopen(&s, &st)))
		return;
	CHECK_INT(wal_checkpoint(w, 0, checkpoint, checkpoint, &e), 0);
	wal_close(w);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "X", 1, 24 + 34 * 4 + 32) == 1); /* the payload of LSN 5 */
	close(fd);
	if (!(w = reopen(&s, &st)))
		return;
	CHECK_INT(s.n, 0); /* LSN 1 to 4 are before the checkpoint: not replayed */
	CHECK_INT(st.cut_records_kept, kept);
	CHECK_INT(st.torn_bytes, 34 * 6);
	CHECK_INT(wal_find_kept(dir, found, sizeof(found), &e), kept ? 1 : 0);
	wal_close(w);
}

/* A copy a crash interrupted before its rename is removed at the open, never reported. */
static void test_cut_copy_left_by_a_crash(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	char path[700], left[760], found[700] = "";
	int fd;

	if (!ten_records("cut-left", path, sizeof(path)))
		return;
	snprintf(left, sizeof(left), "%s.cut-1796341011.tmp.Ab12Cd", path);
	fd = open(left, O_WRONLY | O_CREAT | O_EXCL, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, "part", 4) == 4);
	close(fd);
	CHECK_INT(wal_find_kept(dir, found, sizeof(found), &e), 0);
	if (!(w = reopen(&s, &st)))
		return;
	CHECK_INT(s.n, 10);
	CHECK(access(left, F_OK) < 0 && errno == ENOENT);
	CHECK_INT(st.cut_records_kept, 0);
	wal_close(w);
}

static void test_damaged_record_before_sealed_ones(void)
{
	damaged_under_checkpoint("damaged-sealed-but-one", 9, 1);
	damaged_under_checkpoint("damaged-all-sealed", 10, 0);
}

/* A torn last record (a crash in the middle of its write) is cut as before: nothing kept. */
static void test_torn_last_record_keeps_nothing(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	char path[700], found[700] = "";

	if (!ten_records("torn-last", path, sizeof(path)))
		return;
	CHECK_INT(truncate(path, 24 + 34 * 10 - 1), 0);
	if (!(w = reopen(&s, &st)))
		return;
	CHECK_INT(s.n, 9);
	CHECK_INT(st.cut_records_kept, 0);
	CHECK_INT(st.torn_bytes, 33);
	CHECK_INT(wal_find_kept(dir, found, sizeof(found), &e), 0);
	CHECK_STR(found, "");
	wal_close(w);
}

static void test_damage_is_an_error(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	char first[700];
	int fd;

	fresh_dir("damage");
	w = open_wal(1, 0, 200, &s, &e);
	if (!w)
		return;
	append_n(w, 1, 0, 40);
	wal_close(w);
	/* Flip a payload byte of the first record of the first file: not a tail. */
	snprintf(first, sizeof(first), "%s/shard-00/%016x.wal", dir, 1);
	fd = open(first, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "X", 1, 24 + 32) == 1);
	close(fd);
	w = open_wal(1, 0, 200, &s, &e);
	CHECK(w == NULL);
	CHECK_INT(e.code, -EBADMSG);
	CHECK(strstr(e.msg, "0000000000000001.wal: offset 24: checksum mismatch") != NULL);
	wal_close(w);
}

static void test_checkpoint_removes_and_skips(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	char sd[600];
	unsigned before;

	fresh_dir("checkpoint");
	w = open_wal(1, 0, 200, &s, &e);
	if (!w)
		return;
	append_n(w, 1, 0, 50);
	CHECK_INT(wal_durable_events(w, 0), events_of(0, 50));
	snprintf(sd, sizeof(sd), "%s/shard-00", dir);
	before = files_in(sd);
	CHECK_INT(wal_checkpoint(w, 0, 40, events_of(0, 40), &e), 0);
	CHECK(files_in(sd) < before);
	CHECK(files_in(sd) >= 1);
	CHECK_INT(wal_checkpoint_events(w, 0), events_of(0, 40));
	CHECK_INT(wal_checkpoint(w, 0, 30, 1, &e), 0); /* backwards: nothing happens */
	CHECK_INT(wal_checkpoint_events(w, 0), events_of(0, 40));
	CHECK_INT(wal_durable_events(w, 0), events_of(0, 50));
	wal_close(w);
	w = open_wal(1, 0, 200, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 10);
	/* counted from the checkpoint: the records replayed */
	CHECK_INT(wal_durable_events(w, 0), events_of(40, 10));
	CHECK_INT(wal_checkpoint_events(w, 0), 0);
	CHECK_INT(s.lsn[0], 41);
	CHECK_STR(s.payload[0], "r40");
	append_n(w, 1, 50, 1);
	wal_close(w);
	w = open_wal(1, 0, 200, &s, &e);
	CHECK_INT(s.n, 11);
	CHECK_INT(s.lsn[10], 51);
	wal_close(w);
}

/* A checkpoint that covers everything durable removes the current file too; LSNs go on. */
static void test_checkpoint_of_everything_leaves_no_file(void)
{
	static struct seen s;
	struct wal_stats st;
	struct err e = ERR_INIT;
	struct wal *w;
	char sd[600];

	fresh_dir("checkpoint-all");
	w = open_wal(1, 0, 1 << 20, &s, &e); /* interval 0: every append is committed */
	if (!w)
		return;
	snprintf(sd, sizeof(sd), "%s/shard-00", dir);
	append_n(w, 1, 0, 20);
	CHECK_INT(files_in(sd), 1);
	CHECK_INT(wal_checkpoint(w, 0, 19, events_of(0, 19), &e), 0); /* the file stays */
	CHECK_INT(files_in(sd), 1);
	CHECK_INT(wal_checkpoint(w, 0, 20, events_of(0, 20), &e), 0);
	CHECK_INT(files_in(sd), 0);
	wal_stats(w, &st);
	CHECK_INT(st.bytes_on_disk, 0);
	append_n(w, 1, 20, 2); /* a new file, LSNs 21 and 22 */
	CHECK_INT(files_in(sd), 1);
	wal_close(w);
	w = open_wal(1, 0, 1 << 20, &s, &e);
	CHECK(w != NULL);
	CHECK_INT(s.n, 2);
	CHECK_INT(s.lsn[0], 21);
	CHECK_STR(s.payload[1], "r21");
	wal_close(w);
}

static void test_write_error_leaves_no_partial_record(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct rlimit old, small;
	struct wal *w;
	char path[700], big[3000];
	struct stat before, after;
	uint64_t lsn;

	fresh_dir("fsize");
	memset(big, 'x', sizeof(big));
	w = open_wal(1, 0, 0, &s, &e);
	if (!w)
		return;
	append_n(w, 1, 0, 3);
	last_file(0, path, sizeof(path));
	CHECK_INT(stat(path, &before), 0);
	/* A file size limit makes the kernel take part of the record, then refuse. */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	small = old;
	small.rlim_cur = (rlim_t)before.st_size + 1000;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	CHECK_INT(wal_append(w, 0, 1, 1, 1, big, sizeof(big), &lsn, &e), -EFBIG);
	CHECK(strstr(e.msg, "cannot append") != NULL);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_INT(stat(path, &after), 0);
	CHECK_INT(after.st_size, before.st_size);
	/* The batch is retried and goes in whole. */
	CHECK_INT(wal_append(w, 0, 1, 1, 1, "again", 5, &lsn, &e), 0);
	CHECK_INT(lsn, 4);
	wal_close(w);
	w = open_wal(1, 0, 0, &s, &e);
	CHECK_INT(s.n, 4);
	CHECK_STR(s.payload[3], "again");
	wal_close(w);
}

static void test_shard_count_change_replays_old_shards(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	uint64_t lsn;

	fresh_dir("reshard");
	w = open_wal(4, 0, 0, &s, &e);
	if (!w)
		return;
	CHECK_INT(wal_append(w, 3, 7, 1, 0, "s3", 2, &lsn, &e), 0);
	wal_close(w);
	w = open_wal(2, 0, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 1);
	CHECK_INT(s.shard[0], 3);
	CHECK(wal_append(w, 3, 7, 1, 0, "x", 1, &lsn, &e) == -EINVAL);
	CHECK_INT(wal_checkpoint(w, 3, 1, 1, &e), 0);
	wal_close(w);
	w = open_wal(2, 0, 0, &s, &e);
	CHECK_INT(s.n, 0);
	wal_close(w);
}

static void test_limits_and_errors(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	uint64_t lsn;

	fresh_dir("limits");
	CHECK(open_wal(0, 0, 0, &s, &e) == NULL);
	CHECK(strstr(e.msg, "expected 1 to 64") != NULL);
	w = open_wal(1, 1000, 0, &s, &e);
	if (!w)
		return;
	CHECK_INT(wal_append(w, 0, 1, 1, 1, "x", (size_t)WAL_MAX_PAYLOAD + 1, &lsn, &e), -EMSGSIZE);
	CHECK_INT(wal_append(w, 0, 1, 1, 1, "x", 1, &lsn, &e), 0);
	/* A commit every second: not durable within 1 ms, durable at close. */
	CHECK_INT(wal_wait_durable(w, 0, lsn, 1), -ETIMEDOUT);
	CHECK_INT(wal_wait_durable(w, 0, lsn, 5000), 0);
	wal_close(w);
	/* Allocation failures at open are clean errors. */
	for (long n = 0; n < 8; n++) {
		mem_fail_after(n);
		w = open_wal(2, 0, 0, &s, &e);
		mem_fail_after(-1);
		if (w)
			wal_close(w);
		else
			CHECK_INT(e.code, -ENOMEM);
	}
}

/* Records a scan hands over: their LSNs in order and their events. */
struct scanned {
	unsigned n;
	uint64_t lsn[MAX_SEEN];
	uint64_t events;
};

static int on_scanned(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		      uint32_t flags, const void *payload, size_t len)
{
	struct scanned *sc = ctx;

	if (sc->n == MAX_SEEN)
		return -ENOSPC;
	sc->lsn[sc->n++] = lsn;
	sc->events += count;
	return 0;
}

/* What a scan of the whole log hands over, as its LSNs ("1 2 3 6"). */
static const char *scan_lsns(char *out, size_t size)
{
	static struct scanned sc;
	struct err e = ERR_INIT;
	size_t at = 0;

	memset(&sc, 0, sizeof(sc));
	out[0] = '\0';
	CHECK_INT(wal_scan(dir, NULL, 0, on_scanned, &sc, &e), 0);
	for (unsigned i = 0; i < sc.n && at < size; i++)
		at += (size_t)snprintf(out + at, size - at, "%s%llu", i ? " " : "",
				       (unsigned long long)sc.lsn[i]);
	return out;
}

/* The replayed LSNs of s, as scan_lsns() gives them. */
static const char *replayed_lsns(const struct seen *s, char *out, size_t size)
{
	size_t at = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < s->n && at < size; i++)
		at += (size_t)snprintf(out + at, size - at, "%s%llu", i ? " " : "",
				       (unsigned long long)s->lsn[i]);
	return out;
}

/*
 * A failed fdatasync (a disk's write error): the records it covered are lost, not stored.
 * Linux reports the error once per file, so a later fdatasync of the same file would succeed
 * without the data: those records never become durable, their waiters get -EIO, the lost
 * callback counts them, and a new file starts at once, its first record (the given-up
 * record, LSN 5 here) naming them; the next append goes there and commits as usual.
 */
static void test_sync_failure_is_a_loss(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_stats st;
	struct wal *w;
	char sd[600];
	uint64_t lsn = 0, lost = 0, durable = 0, lsns[200];

	fresh_dir("syncfail");
	snprintf(sd, sizeof(sd), "%s/shard-00", dir);
	w = open_wal(1, 0, 0, &s, &e); /* every append commits at once */
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, 3); /* counts 1, 2, 3 */
	CHECK_INT(wal_durable_lsn(w, 0), 3);
	wal_fail_sync_after(0);
	CHECK_INT(wal_append(w, 0, 1, 5, 1, "r3", 2, &lsn, &e), -EIO);
	CHECK_INT(lsn, 4);
	CHECK_INT(atomic_load(&s.lost_events[1]), 5);
	CHECK_INT(wal_durable_lsn(w, 0), 3);
	CHECK_INT(wal_durable_events(w, 0), 6);
	CHECK_INT(wal_wait_durable(w, 0, 4, 1000), -EIO);
	CHECK_INT(files_in(sd), 2); /* the new file, started by the failure */
	CHECK_INT(wal_append(w, 0, 0, 7, 0, "r4", 2, &lsn, &e), 0);
	CHECK_INT(lsn, 6);
	CHECK_INT(files_in(sd), 2); /* the failed file is not written again */
	CHECK_INT(wal_durable_lsn(w, 0), 6);
	CHECK_INT(wal_wait_durable(w, 0, 6, 1000), 0);
	CHECK_INT(wal_wait_durable(w, 0, 4, 1000), -EIO); /* still lost, though 6 is durable */
	CHECK_INT(atomic_load(&s.durable_events[0]) + atomic_load(&s.durable_events[1]), 6 + 7);
	/* the lost record never counts: no reader of the files hands it over */
	CHECK_INT(wal_durable_events(w, 0), 6 + 7);
	wal_stats(w, &st);
	CHECK_INT(st.sync_errors, 1);
	wal_close(w);

	/* With the commit thread: each record ends durable or lost, never both, never neither. */
	fresh_dir("syncfail-thread");
	w = open_wal(1, 2, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	wal_fail_sync_after(0);
	for (unsigned i = 0; i < 200; i++) {
		CHECK_INT(wal_append(w, 0, 0, 1, 0, "x", 1, &lsns[i], &e), 0);
		if (i % 20 == 0)
			usleep(3000);
	}
	for (unsigned i = 0; i < 200; i++) {
		int rc = wal_wait_durable(w, 0, lsns[i], 5000);

		CHECK(rc == 0 || rc == -EIO);
		lost += rc == -EIO;
		durable += rc == 0;
	}
	CHECK(lost > 0);
	CHECK_INT(lost, atomic_load(&s.lost_events[0]));
	CHECK_INT(durable, atomic_load(&s.durable_events[0]));
	wal_stats(w, &st);
	CHECK_INT(st.sync_errors, 1);
	wal_close(w);
	wal_fail_sync_after(-1);
}

/* The LSNs of lsns[0..n) that wal_wait_durable says are durable, as scan_lsns() gives them. */
static const char *durable_lsns(struct wal *w, const uint64_t *lsns, unsigned n,
				uint64_t *events, char *out, size_t size)
{
	size_t at = 0;

	out[0] = '\0';
	*events = 0;
	for (unsigned i = 0; i < n && at < size; i++) {
		int rc = wal_wait_durable(w, 0, lsns[i], 5000);

		CHECK(rc == 0 || rc == -EIO);
		if (rc)
			continue;
		*events += i % 3 + 1;
		at += (size_t)snprintf(out + at, size - at, "%s%llu", at ? " " : "",
				       (unsigned long long)lsns[i]);
	}
	return out;
}

/*
 * Records given up by a failed commit are never handed to a reader: not by a scan (the
 * sealer, a search of the records not yet sealed) from the moment their waiters are told,
 * not by the replay after a restart; the records after them are, and the WAL's count of
 * durable events leaves them out. Where they end a file they may be anything after a crash
 * (the disk failed to write them): not damage.
 */
static void test_given_up_records_are_skipped(void)
{
	static struct seen s;
	static struct scanned got_sc;
	static char want[4096], got[4096];
	struct err e = ERR_INIT;
	struct wal_scan *sc = NULL;
	struct wal_stats st;
	struct wal *w;
	char old[700];
	uint64_t lsn = 0, from = 3, last = 0, lsns[300], events;
	int fd;

	fresh_dir("givenup");
	w = open_wal(1, 0, 0, &s, &e); /* every append commits at once */
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, 3); /* LSNs 1 to 3, 6 events */
	CHECK_INT(wal_append(w, 0, 0, 1, 1u << 31, "x", 1, &lsn, &e), -EINVAL); /* the log's */
	wal_fail_sync_after(0);
	CHECK_INT(wal_append(w, 0, 1, 5, 1, "r3", 2, &lsn, &e), -EIO);
	wal_fail_sync_after(-1);
	CHECK_INT(lsn, 4);
	/* its waiter is told: readers skip it already (the given-up record, 5, is not synced) */
	CHECK_STR(scan_lsns(got, sizeof(got)), "1 2 3");
	CHECK_INT(wal_append(w, 0, 0, 7, 0, "r4", 2, &lsn, &e), 0);
	CHECK_INT(lsn, 6);
	CHECK_STR(scan_lsns(got, sizeof(got)), "1 2 3 6");
	CHECK_INT(wal_durable_events(w, 0), 6 + 7);
	/* a reader after LSN 3 up to 5 (the sealer) hands over nothing and goes past them */
	CHECK_INT(wal_scan_open(&sc, dir, &from, 1, &e), 0);
	if (sc) {
		memset(&got_sc, 0, sizeof(got_sc));
		CHECK_INT(wal_scan_shard(sc, 0, 5, on_scanned, &got_sc, &last, &e), 0);
		CHECK_INT(got_sc.n, 0);
		CHECK_INT(last, 5);
		CHECK_INT(wal_scan_shard(sc, 0, UINT64_MAX, on_scanned, &got_sc, &last, &e), 0);
		CHECK_INT(got_sc.n, 1);
		CHECK_INT(got_sc.events, 7);
		CHECK_INT(last, 6);
	}
	wal_scan_close(sc);
	wal_close(w);

	/* after a restart: the same */
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "1 2 3 6");
	CHECK_INT(wal_durable_lsn(w, 0), 6);
	CHECK_INT(wal_durable_events(w, 0), 6 + 7);
	wal_stats(w, &st);
	CHECK_INT(st.replayed_records, 4);
	wal_close(w);

	/* the record given up damaged (a crash after the failure): the rest of its file is not read */
	snprintf(old, sizeof(old), "%s/shard-00/%016x.wal", dir, 1);
	fd = open(old, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "\xff\xff\xff\xff", 4, 24 + 3 * 34) == 4); /* LSN 4's length */
	CHECK_STR(scan_lsns(got, sizeof(got)), "1 2 3 6");
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w != NULL);
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "1 2 3 6");
	wal_close(w);
	/* a record that was not given up, damaged the same way, still is damage */
	CHECK(pwrite(fd, "\xff\xff\xff\xff", 4, 24 + 2 * 34) == 4); /* LSN 3's length */
	close(fd);
	CHECK_INT(wal_scan(dir, NULL, 0, on_scanned, &got_sc, &e), -EBADMSG);
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w == NULL);
	CHECK_INT(e.code, -EBADMSG);
	wal_close(w);

	/*
	 * A failure where a full file is synced before the next one starts (a file per record
	 * here, no commit for a minute): the records since the last commit are given up, those
	 * of the file synced before included, and the next file, with its given-up record past
	 * the size, still takes a record.
	 */
	fresh_dir("givenup-switch");
	w = open_wal(1, 60000, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, 2); /* LSN 1 in the first file, 2 in the second (the first synced) */
	wal_fail_sync_after(0);
	CHECK_INT(wal_append(w, 0, 0, 7, 0, "r2", 2, &lsn, &e), -EIO);
	wal_fail_sync_after(-1);
	CHECK_INT(atomic_load(&s.lost_events[0]) + atomic_load(&s.lost_events[1]), 1 + 2);
	CHECK_INT(wal_append(w, 0, 0, 7, 0, "r2", 2, &lsn, &e), 0);
	CHECK_INT(lsn, 4); /* after the given-up record, 3, in the same file */
	CHECK_STR(scan_lsns(got, sizeof(got)), "4");
	wal_close(w);
	CHECK_INT(atomic_load(&s.durable_events[0]), 7);
	w = open_wal(1, 60000, 64, &s, &e);
	CHECK(w != NULL);
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "4");
	if (w)
		CHECK_INT(wal_durable_events(w, 0), 7);
	wal_close(w);

	/* With the commit thread and three failures: readers hand over the durable ones only. */
	fresh_dir("givenup-thread");
	w = open_wal(1, 2, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	for (unsigned i = 0; i < 300; i++) {
		if (i % 100 == 0)
			wal_fail_sync_after(0);
		CHECK_INT(wal_append(w, 0, 0, i % 3 + 1, 0, "x", 1, &lsns[i], &e), 0);
		if (i % 20 == 0)
			usleep(3000);
	}
	durable_lsns(w, lsns, 300, &events, want, sizeof(want));
	wal_fail_sync_after(-1);
	wal_stats(w, &st);
	CHECK_INT(st.sync_errors, 3);
	CHECK_INT(atomic_load(&s.durable_events[0]), events);
	CHECK_INT(atomic_load(&s.durable_events[0]) + atomic_load(&s.lost_events[0]),
		  events_of(0, 300));
	CHECK(atomic_load(&s.lost_events[0]) > 0);
	CHECK_INT(wal_durable_events(w, 0), events);
	CHECK_STR(scan_lsns(got, sizeof(got)), want);
	wal_close(w);
	w = open_wal(1, 2, 0, &s, &e);
	CHECK(w != NULL);
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), want);
	if (w)
		CHECK_INT(wal_durable_events(w, 0), events);
	wal_close(w);
}

/*
 * A log of shard 0 whose record 4 was given up: LSNs 1 to 3 durable, then 4 given up, in
 * the first file (24 + 4 * 34 bytes); the second, 0000000000000005.wal, holds the given-up
 * record (5) and record 6. The first file's path in old.
 */
static void given_up_log(const char *name, char old[700])
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	uint64_t lsn = 0;

	fresh_dir(name);
	snprintf(old, 700, "%s/shard-00/%016x.wal", dir, 1);
	w = open_wal(1, 0, 0, &s, &e); /* every append commits at once */
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, 3);
	wal_fail_sync_after(0);
	CHECK_INT(wal_append(w, 0, 1, 5, 1, "r3", 2, &lsn, &e), -EIO);
	wal_fail_sync_after(-1);
	CHECK_INT(wal_append(w, 0, 0, 7, 0, "r4", 2, &lsn, &e), 0);
	CHECK_INT(lsn, 6);
	wal_close(w);
}

/*
 * Records given up that never reached the disk: after a crash the file that held them may
 * end before them (its size was never synced), at a record's end or in a header. That is no
 * gap for a scan (the sealer, a search), from the start or from a later LSN, nor for the
 * replay: what is missing was given up.
 */
static void test_given_up_records_never_written(void)
{
	static const off_t ends[] = { 24 + 3 * 34, 24 + 3 * 34 + 10 };
	static struct seen s;
	static struct scanned got_sc;
	static char got[4096];

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		struct err e = ERR_INIT;
		struct wal_scan *sc = NULL;
		struct wal *w;
		char old[700];
		uint64_t from = 3, last = 0;

		given_up_log("givenup-unwritten", old);
		CHECK_INT(truncate(old, ends[i]), 0);
		CHECK_STR(scan_lsns(got, sizeof(got)), "1 2 3 6");
		CHECK_INT(wal_scan_open(&sc, dir, &from, 1, &e), 0);
		if (sc) {
			memset(&got_sc, 0, sizeof(got_sc));
			CHECK_INT(wal_scan_shard(sc, 0, UINT64_MAX, on_scanned, &got_sc, &last, &e), 0);
			CHECK_INT(got_sc.n, 1);
			CHECK_INT(last, 6);
		}
		wal_scan_close(sc);
		w = open_wal(1, 0, 0, &s, &e);
		CHECK(w != NULL);
		CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "1 2 3 6");
		wal_close(w);
	}
}

/*
 * Only a file's first record, checked whole, is a given-up record: a record elsewhere whose
 * flags were damaged to bit 31 is damage for a scan as for the replay, never a record to skip
 * unread (the sealer would have gone past a stored record for good).
 */
static void test_given_up_flag_elsewhere_is_damage(void)
{
	static struct seen s;
	static struct scanned got_sc;
	struct err e = ERR_INIT;
	struct wal *w;
	char old[700];
	unsigned char b;
	int fd;

	given_up_log("givenup-flag", old);
	fd = open(old, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, 24 + 34 + 31) == 1); /* LSN 2's flags, their top byte */
	b |= 0x80;
	CHECK(pwrite(fd, &b, 1, 24 + 34 + 31) == 1);
	close(fd);
	memset(&got_sc, 0, sizeof(got_sc));
	CHECK_INT(wal_scan(dir, NULL, 0, on_scanned, &got_sc, &e), -EBADMSG);
	CHECK_INT(got_sc.n, 1);
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w == NULL);
	CHECK_INT(e.code, -EBADMSG);
	wal_close(w);
}

/*
 * A file that holds only its given-up record holds no record of a sender (the store's
 * first-use rule for keys): once the records it names are checkpointed, the log is empty.
 */
static void test_given_up_record_alone_is_no_record(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	char found[700] = "", sd[600];
	uint64_t lsn = 0;

	fresh_dir("givenup-alone");
	snprintf(sd, sizeof(sd), "%s/shard-00", dir);
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	wal_fail_sync_after(0);
	CHECK_INT(wal_append(w, 0, 1, 5, 1, "r0", 2, &lsn, &e), -EIO);
	wal_fail_sync_after(-1);
	CHECK_INT(wal_find_records(dir, found, sizeof(found), &e), 1); /* LSN 1 */
	wal_close(w); /* commits the given-up record, 2 */
	w = open_wal(1, 0, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 0);
	CHECK_INT(wal_durable_lsn(w, 0), 2);
	CHECK_INT(wal_checkpoint(w, 0, 2, 0, &e), 0); /* the sealer went past both */
	wal_close(w);
	CHECK_INT(files_in(sd), 1);
	found[0] = '\0';
	CHECK_INT(wal_find_records(dir, found, sizeof(found), &e), 0);
	CHECK_STR(found, "");
}

/*
 * A file the writer could not cut back after a failed write (undo_partial: ftruncate failed
 * too) ends in part of a record, and the next file starts at that record's LSN: not damage
 * for the replay, as it is none for a scan.
 */
static void test_uncut_file_is_replayed(void)
{
	static struct seen s;
	static char got[4096];
	struct err e = ERR_INIT;
	struct wal *w;
	char first[700];
	int fd;

	fresh_dir("uncut");
	w = open_wal(1, 0, 64, &s, &e); /* a file per record */
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, 2);
	wal_close(w);
	snprintf(first, sizeof(first), "%s/shard-00/%016x.wal", dir, 1);
	fd = open(first, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK(write(fd, "\x40\x00\x00\x00\x12\x34", 6) == 6); /* LSN 2 begun, never cut */
	close(fd);
	CHECK_STR(scan_lsns(got, sizeof(got)), "1 2");
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "1 2");
	wal_close(w);
}

/* A log of shard 0 (its directory in sd) with a file per record, LSNs 1 to n. */
static void file_per_record(const char *name, unsigned n, char sd[600])
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;

	fresh_dir(name);
	snprintf(sd, 600, "%s/shard-00", dir);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, n);
	wal_close(w);
}

/* Writes sd's checkpoint file as the WAL does: u64 LSN, u32 CRC-32 of those 8 bytes. */
static void put_checkpoint(const char *sd, uint64_t lsn)
{
	unsigned char b[12];
	char path[700];
	int fd;

	le_put64(b, lsn);
	le_put32(b + 8, (uint32_t)crc32(0L, b, 8));
	snprintf(path, sizeof(path), "%s/checkpoint", sd);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, b, sizeof(b)) == (ssize_t)sizeof(b));
	close(fd);
}

/* A log of shard 0 with a file per record, LSNs 1 to 6, whose files 1 and 3 were moved away. */
static void missing_log(const char *name, char sd[600])
{
	char path[700];

	file_per_record(name, 6, sd);
	for (unsigned lsn = 1; lsn <= 3; lsn += 2) {
		snprintf(path, sizeof(path), "%s/%016x.wal", sd, lsn);
		CHECK_INT(unlink(path), 0);
	}
}

/* The log opens again with the records want ("2 4 5") and finds none missing: all named. */
static void reopens_with(const char *want)
{
	static struct seen s;
	static char got[4096];
	struct wal_stats st;
	struct err e = ERR_INIT;
	struct wal *w = open_wal(1, 0, 64, &s, &e);

	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), want);
	wal_stats(w, &st);
	CHECK_INT(st.missing_records, 0);
	wal_close(w);
}

/*
 * Files moved away (as docs/store.md says to do with a damaged one): the records they held
 * are missing, before the first file as between two. The start goes on, counts them
 * (missing_records), and names each range in a given-up record of a file of its own (7 names
 * 1, 8 names 3), so that a scan goes past them, and the next start counts none.
 */
static void test_missing_files_are_named(void)
{
	static struct seen s;
	static char got[4096];
	struct wal_stats st;
	struct err e = ERR_INIT;
	struct wal *w;
	char sd[600];

	missing_log("missing", sd);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "2 4 5 6");
	wal_stats(w, &st);
	CHECK_INT(st.missing_records, 2);
	CHECK_INT(wal_durable_lsn(w, 0), 8);
	CHECK_INT(files_in(sd), 6);
	append_n(w, 1, 6, 1); /* into file 8, the shard's current one */
	CHECK_INT(wal_durable_lsn(w, 0), 9);
	wal_close(w);
	CHECK_INT(files_in(sd), 6);
	CHECK_STR(scan_lsns(got, sizeof(got)), "2 4 5 6 9");
	reopens_with("2 4 5 6 9");
}

/*
 * On a shard that gets nothing more, a checkpoint past the file naming missing records
 * removes it as any other (it stays the current file): an idle shard keeps no log.
 */
static void test_missing_named_then_checkpointed(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	char sd[600];

	missing_log("missing-idle", sd);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(wal_checkpoint(w, 0, 8, 8, &e), 0);
	CHECK_INT(files_in(sd), 0);
	wal_close(w);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 0);
	CHECK_INT(wal_durable_lsn(w, 0), 8);
	wal_close(w);
}

/*
 * What is not missing: records before the checkpoint (files left by a checkpoint that
 * removed nothing yet: 1 and 3 gone, the checkpoint at 4).
 */
static void test_not_missing(void)
{
	static struct seen s;
	static char got[4096];
	struct wal_stats st;
	struct err e = ERR_INIT;
	struct wal *w;
	char sd[600];

	missing_log("missing-checkpointed", sd);
	put_checkpoint(sd, 4);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "5 6");
	wal_stats(w, &st);
	CHECK_INT(st.missing_records, 0);
	wal_close(w);
}

/*
 * A file moved away before a last file that the replay removes whole (its header torn, its
 * first record torn, or only a header): the last file's name is an LSN the writer had
 * reached, so 2 is missing all the same, named in a file at 3, and new records go on at 4.
 */
static void test_missing_before_a_removed_last_file(void)
{
	static const off_t sizes[] = { 10, 24, 24 + 10 };
	static struct seen s;
	static char got[4096];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct wal_stats st;
		struct err e = ERR_INIT;
		struct wal *w;
		char sd[600], path[700];
		uint64_t lsn = 0;

		file_per_record("missing-torn-last", 3, sd);
		snprintf(path, sizeof(path), "%s/%016x.wal", sd, 2);
		CHECK_INT(unlink(path), 0);
		snprintf(path, sizeof(path), "%s/%016x.wal", sd, 3);
		CHECK_INT(truncate(path, sizes[k]), 0);
		w = open_wal(1, 0, 64, &s, &e);
		CHECK(w != NULL);
		if (!w)
			return;
		CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "1");
		wal_stats(w, &st);
		CHECK_INT(st.missing_records, 1);
		CHECK_INT(files_in(sd), 2);
		CHECK_INT(wal_append(w, 0, 0, 1, 0, "r", 1, &lsn, &e), 0);
		CHECK_INT(lsn, 4);
		wal_close(w);
		reopens_with("1 4");
	}
}

/*
 * A reader taking a few records at a time (the sealer's lanes take 4) goes past a named gap
 * wider than that, before the first file (1 to 6) as between two (8 to 14), instead of
 * stopping before it at every call.
 */
static void test_scan_in_slices_passes_wide_gaps(void)
{
	static struct seen s;
	static struct scanned got_sc;
	static char got[4096];
	struct err e = ERR_INIT;
	struct wal_scan *sc = NULL;
	struct wal *w;
	char path[700], sd[600];
	uint64_t last = 0, to;
	unsigned calls = 0;
	size_t at = 0;

	file_per_record("missing-wide", 16, sd);
	for (unsigned lsn = 1; lsn <= 14; lsn++) {
		if (lsn == 7)
			continue;
		snprintf(path, sizeof(path), "%s/shard-00/%016x.wal", dir, lsn);
		CHECK_INT(unlink(path), 0);
	}
	w = open_wal(1, 0, 64, &s, &e); /* names 1-6 (file 17) and 8-14 (file 18) */
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_STR(replayed_lsns(&s, got, sizeof(got)), "7 15 16");
	wal_close(w);
	memset(&got_sc, 0, sizeof(got_sc));
	CHECK_INT(wal_scan_open(&sc, dir, NULL, 0, &e), 0);
	if (!sc)
		return;
	do {
		to = last + 4;
		CHECK_INT(wal_scan_shard(sc, 0, to, on_scanned, &got_sc, &last, &e), 0);
	} while (last == to && ++calls < 20);
	wal_scan_close(sc);
	CHECK_INT(last, 18);
	got[0] = '\0';
	for (unsigned i = 0; i < got_sc.n; i++)
		at += (size_t)snprintf(got + at, sizeof(got) - at, "%s%llu", i ? " " : "",
				       (unsigned long long)got_sc.lsn[i]);
	CHECK_STR(got, "7 15 16");
}

/* A file that starts before the one ahead of it ends: two files hold LSN 2, damage. */
static void test_overlapping_files_are_damage(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal *w;
	char first[700], second[700], rec[128];
	ssize_t n;
	int fd;

	fresh_dir("overlap");
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	append_n(w, 1, 0, 3);
	wal_close(w);
	snprintf(first, sizeof(first), "%s/shard-00/%016x.wal", dir, 1);
	snprintf(second, sizeof(second), "%s/shard-00/%016x.wal", dir, 2);
	fd = open(second, O_RDONLY);
	CHECK(fd >= 0);
	n = pread(fd, rec, sizeof(rec), 24); /* record 2, after the file header */
	close(fd);
	CHECK(n > 32);
	fd = open(first, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK(write(fd, rec, (size_t)n) == n);
	close(fd);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w == NULL);
	CHECK_INT(e.code, -EBADMSG);
	CHECK(strstr(e.msg, "0000000000000002.wal: the file starts at LSN 2, where the one "
			    "before holds records up to 2") != NULL);
	wal_close(w);
}

/*
 * A log where a write into a file that holds no record yet (2) failed, and cutting it back
 * failed too; then "again" was appended (4). Before the fix, every append after the failure
 * failed with EEXIST until a restart: the next file took the name 2 again.
 */
static void uncut_empty_log(const char *name, char sd[600])
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct rlimit old, small;
	struct wal *w;
	char big[200];
	uint64_t lsn = 0;

	file_per_record(name, 1, sd);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	memset(big, 'x', sizeof(big));
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	small = old;
	small.rlim_cur = 24 + 40; /* file 2's header goes in, then part of the record */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	wal_fail_cut_after(0);
	CHECK_INT(wal_append(w, 0, 1, 1, 1, big, sizeof(big), &lsn, &e), -EFBIG);
	wal_fail_cut_after(-1);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(wal_append(w, 0, 1, 1, 1, "again", 5, &lsn, &e), 0);
	CHECK_INT(lsn, 4); /* 3: the given-up record of file 3, naming 2 */
	wal_close(w);
}

/*
 * The file after the one a failed write left without a record starts one LSN later and
 * gives that one up, so that readers take the part left for a record given up; also once a
 * checkpoint passed it (a crash before the checkpoint removed the file). A crash that took
 * the next file's given-up record leaves damage the start refuses: a single record cut in
 * its file, a plain file after it, is what a flipped length field leaves too.
 */
/*
 * wal_scan_copy (a backup): the records after the scan's start in a log of their own, the
 * record being written at the end of a shard's last file left out, so the copy replays
 * exactly those records and nothing torn.
 */
static void test_scan_copy(void)
{
	static struct seen s;
	struct err e = ERR_INIT;
	struct wal_scan *sc = NULL;
	struct wal_stats st;
	uint64_t from[2] = { 5, 0 }, records = 0, files = 0;
	char src[512], path[700];
	struct wal *w;
	int fd;

	fresh_dir("copy-src");
	w = open_wal(2, 0, 200, &s, &e); /* small files: each shard has several */
	if (!w)
		return;
	append_n(w, 2, 0, 40); /* 20 records per shard, LSNs 1 to 20 */
	wal_close(w);
	fd = open(last_file(1, path, sizeof(path)), O_WRONLY | O_APPEND);
	CHECK(write(fd, "\x10\x00\x00\x00\xde\xad", 6) == 6); /* a record being written */
	close(fd);
	snprintf(src, sizeof(src), "%s", dir);
	fresh_dir("copy-dest");
	CHECK_INT(wal_scan_open(&sc, src, from, 2, &e), 0);
	CHECK_INT(wal_scan_copy(sc, 0, dir, &records, &files, &e), 0);
	CHECK_INT(wal_scan_copy(sc, 1, dir, &records, &files, &e), 0);
	wal_scan_close(sc);
	CHECK_INT(records, 15 + 20);
	CHECK(files >= 4);
	snprintf(path, sizeof(path), "%s/shard-00", dir);
	records = files_in(path);
	snprintf(path, sizeof(path), "%s/shard-01", dir);
	CHECK_INT(files, records + files_in(path));
	w = open_wal(2, 0, 0, &s, &e);
	CHECK(w != NULL);
	if (!w)
		return;
	CHECK_INT(s.n, 35);
	CHECK_INT(s.shard[0], 0);
	CHECK_INT(s.lsn[0], 6);
	wal_stats(w, &st);
	CHECK_INT(st.torn_bytes, 0);
	wal_close(w);
}

static void test_uncut_empty_file_gives_up_its_lsn(void)
{
	static struct seen s;
	static char got[4096];
	struct err e = ERR_INIT;
	struct wal *w;
	char sd[600], path[700];

	uncut_empty_log("uncut-empty", sd);
	CHECK_INT(files_in(sd), 3);
	CHECK_STR(scan_lsns(got, sizeof(got)), "1 4");
	reopens_with("1 4");

	uncut_empty_log("uncut-empty-checkpointed", sd);
	put_checkpoint(sd, 4);
	reopens_with("");

	uncut_empty_log("uncut-empty-next-torn", sd);
	snprintf(path, sizeof(path), "%s/%016x.wal", sd, 3);
	CHECK_INT(truncate(path, 10), 0);
	w = open_wal(1, 0, 64, &s, &e);
	CHECK(w == NULL);
	CHECK_INT(e.code, -EBADMSG);
	wal_close(w);
}

int main(void)
{
	T_RUN(test_append_commit_replay);
	T_RUN(test_older_files_are_read);
	T_RUN(test_torn_tail_is_cut);
	T_RUN(test_damage_is_an_error);
	T_RUN(test_damaged_record_before_whole_ones_is_kept);
	T_RUN(test_torn_last_record_keeps_nothing);
	T_RUN(test_damaged_record_before_sealed_ones);
	T_RUN(test_cut_copy_left_by_a_crash);
	T_RUN(test_checkpoint_removes_and_skips);
	T_RUN(test_checkpoint_of_everything_leaves_no_file);
	T_RUN(test_write_error_leaves_no_partial_record);
	T_RUN(test_uncut_file_is_replayed);
	T_RUN(test_uncut_empty_file_gives_up_its_lsn);
	T_RUN(test_shard_count_change_replays_old_shards);
	T_RUN(test_limits_and_errors);
	T_RUN(test_sync_failure_is_a_loss);
	T_RUN(test_given_up_records_are_skipped);
	T_RUN(test_given_up_records_never_written);
	T_RUN(test_given_up_flag_elsewhere_is_damage);
	T_RUN(test_given_up_record_alone_is_no_record);
	T_RUN(test_missing_files_are_named);
	T_RUN(test_missing_named_then_checkpointed);
	T_RUN(test_not_missing);
	T_RUN(test_missing_before_a_removed_last_file);
	T_RUN(test_scan_in_slices_passes_wide_gaps);
	T_RUN(test_overlapping_files_are_damage);
	T_RUN(test_scan_copy);
	return t_done();
}
