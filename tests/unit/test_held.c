/*
 * Unit tests of store/held: a tenant's held log takes WAL records verbatim, skips those it
 * holds already, hands over only what the committed state covers, cuts a torn end at open and
 * refuses a damaged record with more after it.
 */
#include "store/held.h"
#include "core/err.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[600], path[700];

static void fresh(const char *name)
{
	char cmd[1400];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), name);
	snprintf(path, sizeof(path), "%s/" HELD_NAME, dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	CHECK_INT(system(cmd), 0);
}

struct seen {
	unsigned n;
	uint64_t lsn[16];
	unsigned shard[16];
	uint32_t count, flags;
	char text[256];
	uint64_t tenant;
};

static int note(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		uint32_t flags, const void *payload, size_t len)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->lsn[s->n] = lsn;
		s->shard[s->n] = shard;
	}
	s->n++;
	s->count += count;
	s->flags = flags;
	s->tenant = tenant;
	snprintf(s->text + strlen(s->text), sizeof(s->text) - strlen(s->text), "%.*s|", (int)len,
		 (const char *)payload);
	return 0;
}

static uint64_t file_size(void)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static const struct held_bound none = { NULL, 0, false }; /* nothing committed yet */

/* held_scan of the whole file: the records upto (n shards) commits. */
static int scan(const uint64_t *upto, unsigned n, struct seen *s, uint64_t *valid,
		struct err *e)
{
	const struct held_bound b = { upto, n, false };
	int fd = open(path, O_RDONLY);
	int rc;

	memset(s, 0, sizeof(*s));
	if (fd < 0)
		return -errno;
	rc = held_scan(fd, path, file_size(), 7, &b, note, s, valid, e);
	close(fd);
	return rc;
}

/* Files of dir whose name starts with prefix. */
static int files_with(const char *prefix)
{
	char cmd[1400], out[64] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '^%s'", dir, prefix);
	f = popen(cmd, "r");
	if (f && !fgets(out, sizeof(out), f))
		out[0] = 0;
	if (f)
		pclose(f);
	return atoi(out);
}

static void test_append_and_scan(void)
{
	static const uint64_t upto[2] = { 10, 3 };
	struct err e = ERR_INIT;
	struct held *h;
	struct seen s;

	fresh("held-append");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 5, 2, 3, "aa", 2, &e), 0);
	CHECK_INT(held_append(h, 1, 2, 1, 3, "b", 1, &e), 0);
	CHECK_INT(held_append(h, 0, 11, 4, 3, "cccc", 4, &e), 0); /* past the state */
	CHECK_INT(held_append(h, 0, 5, 2, 3, "aa", 2, &e), 1);    /* held already */
	CHECK_INT(held_append(h, 1, 1, 1, 3, "z", 1, &e), 1);     /* before the last of shard 1 */
	CHECK_INT((int)held_events(h), 7);
	CHECK_INT(held_sync(h, &e), 0);
	held_close(h);

	CHECK_INT(scan(upto, 2, &s, NULL, &e), 0);
	CHECK_INT((int)s.n, 2);
	CHECK_STR(s.text, "aa|b|");
	CHECK_INT((int)s.count, 3);
	CHECK_INT((int)s.flags, 3);
	CHECK_INT((int)s.tenant, 7);
	CHECK_INT(scan(upto, 1, &s, NULL, &e), 0); /* a state of one shard: shard 1 not covered */
	CHECK_STR(s.text, "aa|");

	/* open again: what it holds is known, so a replayed generation appends nothing twice */
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)held_events(h), 7);
	CHECK_INT(held_append(h, 0, 11, 4, 3, "cccc", 4, &e), 1);
	CHECK_INT(held_append(h, 0, 12, 1, 0, "d", 1, &e), 0);
	CHECK_INT(held_replay(h, 9, &(const struct held_bound){ NULL, 0, true }, note,
			      (memset(&s, 0, sizeof(s)), &s), &e), 0);
	CHECK_STR(s.text, "aa|b|cccc|d|");
	CHECK_INT((int)s.tenant, 9);
	held_close(h);
}

static void test_torn_end_is_cut(void)
{
	static const uint64_t all[1] = { 2 }; /* the third record is not committed */
	struct err e = ERR_INIT;
	struct held *h;
	struct seen s;
	uint64_t whole, valid;
	int fd;

	fresh("held-torn");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 1, 0, "one", 3, &e), 0);
	CHECK_INT(held_append(h, 0, 2, 1, 0, "two", 3, &e), 0);
	held_close(h);
	whole = file_size();
	/* a crash in the middle of the third record: its header and part of its payload */
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 3, 1, 0, "three", 5, &e), 0);
	held_close(h);
	CHECK_INT(truncate(path, (off_t)(whole + HELD_HEADER + 2)), 0);
	CHECK_INT(scan(all, 1, &s, &valid, &e), 0); /* a reader stops before it, no error */
	CHECK_STR(s.text, "one|two|");
	CHECK_INT((int)valid, (int)whole);
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)file_size(), (int)whole);
	CHECK_INT((int)held_events(h), 2);
	CHECK_INT(held_append(h, 0, 3, 1, 0, "three", 5, &e), 0); /* from the WAL again */
	held_close(h);
	CHECK_INT(scan((const uint64_t[]){ 3 }, 1, &s, NULL, &e), 0); /* now committed */
	CHECK_STR(s.text, "one|two|three|");

	/* a whole last record with a bad checksum is torn too (its write did not finish) */
	fd = open(path, O_WRONLY);
	CHECK(pwrite(fd, "X", 1, (off_t)file_size() - 1) == 1);
	close(fd);
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)held_events(h), 2);
	held_close(h);
	CHECK_INT(scan(all, 1, &s, NULL, &e), 0);
	CHECK_STR(s.text, "one|two|");
}

/* A record damaged inside: a reader refuses it; an open salvages the whole records around it. */
static void test_damage_is_salvaged(void)
{
	static const uint64_t all[1] = { UINT64_MAX };
	struct err e = ERR_INIT;
	struct held *h;
	struct seen s;
	int fd;

	fresh("held-damaged");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 1, 0, "one", 3, &e), 0);
	CHECK_INT(held_append(h, 0, 2, 2, 0, "two", 3, &e), 0);
	CHECK_INT(held_append(h, 0, 3, 4, 0, "three", 5, &e), 0);
	held_close(h);
	fd = open(path, O_WRONLY);
	CHECK(pwrite(fd, "X", 1, 8 + HELD_HEADER + 3 + HELD_HEADER) == 1); /* "two" */
	close(fd);
	CHECK_INT(scan(all, 1, &s, NULL, &e), -EBADMSG);
	CHECK(strstr(e.msg, path) && strstr(e.msg, "offset 43"));
	e = (struct err)ERR_INIT;
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)held_events(h), 5); /* "one" and "three" */
	CHECK_INT(held_append(h, 0, 3, 1, 0, "x", 1, &e), 1); /* "three" is still held */
	held_close(h);
	CHECK_INT(scan(all, 1, &s, NULL, &e), 0);
	CHECK_STR(s.text, "one|three|");
	CHECK_INT(files_with(HELD_NAME ".damaged-"), 1);

	/* a damaged length (a bit of the second record's header): damage, not a torn end */
	fresh("held-length");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 1, 0, "one", 3, &e), 0);
	CHECK_INT(held_append(h, 0, 2, 1, 0, "two", 3, &e), 0);
	CHECK_INT(held_append(h, 1, 3, 1, 0, "three", 5, &e), 0);
	held_close(h);
	fd = open(path, O_WRONLY);
	CHECK(pwrite(fd, "\x01", 1, 8 + HELD_HEADER + 3 + 26) == 1);
	close(fd);
	CHECK_INT(scan(all, 1, &s, NULL, &e), -EBADMSG);
	CHECK(strstr(e.msg, "damaged record header"));
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	held_close(h);
	CHECK_INT(scan((const uint64_t[]){ 9, 9 }, 2, &s, NULL, &e), 0);
	CHECK_STR(s.text, "one|three|");

	/* a bad magic: every record kept */
	fresh("held-magic");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 1, 0, "one", 3, &e), 0);
	held_close(h);
	fd = open(path, O_WRONLY);
	CHECK(pwrite(fd, "KOBANXX1", 8, 0) == 8);
	close(fd);
	CHECK_INT(scan(all, 1, &s, NULL, &e), -EBADMSG);
	CHECK(strstr(e.msg, "not a held log"));
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)held_events(h), 1);
	held_close(h);
}

/* A committed record cut short is damage (the disk lost it), never a torn end to cut. */
static void test_committed_cut_is_damage(void)
{
	static const uint64_t two[1] = { 2 };
	struct err e = ERR_INIT;
	struct held *h;
	struct seen s;

	fresh("held-cut");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 1, 0, "one", 3, &e), 0);
	CHECK_INT(held_append(h, 0, 2, 1, 0, "two", 3, &e), 0);
	held_close(h);
	CHECK_INT(truncate(path, (off_t)(file_size() - 1)), 0);
	CHECK_INT(scan((const uint64_t[]){ 1 }, 1, &s, NULL, &e), 0); /* LSN 2 not committed */
	CHECK_STR(s.text, "one|");
	CHECK_INT(scan(two, 1, &s, NULL, &e), -EBADMSG);
	CHECK(strstr(e.msg, "committed record cut short"));
	/* zeros where a crash left space unwritten: the end */
	fresh("held-zeros");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 1, 0, "one", 3, &e), 0);
	held_close(h);
	CHECK_INT(truncate(path, (off_t)(file_size() + 100)), 0);
	CHECK_INT(scan(two, 1, &s, NULL, &e), 0);
	CHECK_STR(s.text, "one|");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)file_size(), 8 + HELD_HEADER + 3);
	held_close(h);
}

/*
 * A crash inside a salvage leaves its new file beside a whole held.log (the damaged one, or
 * the salvaged one renamed over it): the next open removes it and reads held.log as it is.
 */
static void test_salvage_leftover_is_removed(void)
{
	static const uint64_t all[1] = { UINT64_MAX };
	struct err e = ERR_INIT;
	char left[800];
	struct held *h;
	struct seen s;
	int fd;

	fresh("held-salvage-left");
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(held_append(h, 0, 1, 2, 0, "one", 3, &e), 0);
	CHECK_INT(held_append(h, 0, 2, 3, 0, "two", 3, &e), 0);
	CHECK_INT(held_sync(h, &e), 0);
	held_close(h);
	/* the salvage had copied the magic and part of the first record when the crash came */
	snprintf(left, sizeof(left), "%s/." HELD_NAME ".salvage", dir);
	fd = open(left, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, HELD_MAGIC "\x01\x02", 10) == 10);
	close(fd);

	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT(access(left, F_OK), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT((int)held_events(h), 5);
	held_close(h);
	CHECK_INT(files_with(HELD_NAME ".damaged-"), 0);
	CHECK_INT(scan(all, 1, &s, NULL, &e), 0);
	CHECK_STR(s.text, "one|two|");
}

static void test_empty_and_new(void)
{
	static const uint64_t all[1] = { UINT64_MAX };
	struct err e = ERR_INIT;
	struct held *h;
	struct seen s;
	int fd;

	fresh("held-new");
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	CHECK(write(fd, "KOB", 3) == 3); /* its magic torn */
	close(fd);
	CHECK_INT(scan(all, 1, &s, NULL, &e), 0);
	CHECK_INT((int)s.n, 0);
	CHECK_INT(held_open(&h, dir, &none, &e), 0);
	CHECK_INT((int)file_size(), 8);
	CHECK_INT(held_append(h, 3, 1, 1, 0, "x", 1, &e), 0);
	CHECK_INT(held_append(h, 64, 1, 1, 0, "x", 1, &e), -EINVAL);
	CHECK_INT(held_sync(h, &e), 0);
	held_close(h);
	CHECK_INT(scan(all, 1, &s, NULL, &e), 0); /* shard 3 is past a state of one shard */
	CHECK_INT((int)s.n, 0);
}

int main(void)
{
	T_RUN(test_append_and_scan);
	T_RUN(test_torn_end_is_cut);
	T_RUN(test_damage_is_salvaged);
	T_RUN(test_committed_cut_is_damage);
	T_RUN(test_salvage_leftover_is_removed);
	T_RUN(test_empty_and_new);
	return t_done();
}
