/*
 * Unit tests of the spool output: whole lines only (short writes cut back), torn tails cut
 * on open, reopen after a rename, open/write failures counted with their reason, the
 * output-blocked flag of the fair queue, spool_deliver's retry and give-up, allocation
 * failures, and the rate-limited log helper it uses.
 */
#include "store/spool.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	char data_dir[512];
	char spool_dir[600];
	struct fairq *q;
	struct spool s;
	unsigned slot;
};

/* A fresh data dir per test, a queue with tenant "t" and an initialised spool. */
static int setup(struct fixture *fx)
{
	struct fairq_config cfg = { 4, 1 << 20, 4 };
	struct err e = ERR_INIT;
	int slot;

	snprintf(fx->data_dir, sizeof(fx->data_dir), "%s/%s", t_tmp_dir(), t_name());
	snprintf(fx->spool_dir, sizeof(fx->spool_dir), "%s/spool", fx->data_dir);
	CHECK_INT(mkdir(fx->data_dir, 0750), 0);
	CHECK_INT(fairq_new(&fx->q, &cfg, &e), 0);
	slot = fairq_slot(fx->q, "t", 1);
	CHECK_INT(slot, 0);
	fx->slot = (unsigned)slot;
	CHECK_INT(spool_init(&fx->s, fx->data_dir, fx->q, &e), 0);
	return fx->q ? 0 : -1;
}

static void teardown(struct fixture *fx)
{
	spool_release(&fx->s);
	fairq_free(fx->q);
}

static char *file_of(struct fixture *fx, const char *name, size_t *len)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", fx->spool_dir, name);
	return t_read_file(path, len);
}

static void check_file(struct fixture *fx, const char *name, const char *want)
{
	size_t len = 0;
	char *got = file_of(fx, name, &len);

	CHECK_MEM(got, len, want);
	free(got);
}

static void put(struct buf *b, const char *s)
{
	buf_reset(b);
	CHECK_INT(buf_adds(b, s), 0);
}

static void test_whole_lines(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);

	if (setup(&fx))
		return;
	put(&b, "{\"a\":1}\n{\"a\":2}\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	CHECK_INT(b.len, 0);
	put(&b, "{\"a\":3}\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	check_file(&fx, "t.ndjson", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
	/* a buffer that does not end a line is refused whole */
	put(&b, "{\"a\":4}\n{\"a\"");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), -EINVAL);
	CHECK_INT(b.len, 12);
	check_file(&fx, "t.ndjson", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
	/* so is a tenant name that is not a plain file name */
	put(&b, "x\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "../t", &b), -EINVAL);
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_WRITE), 0);
	buf_release(&b);
	teardown(&fx);
}

static void write_raw(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(fputs(content, f) >= 0, 1);
	CHECK_INT(fclose(f), 0);
}

static void test_torn_tail_cut_on_open(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	char path[700];
	unsigned u;

	if (setup(&fx))
		return;
	snprintf(path, sizeof(path), "%s/t.ndjson", fx.spool_dir);
	write_raw(path, "{\"a\":1}\n{\"a\":2}\n{\"a\":");
	put(&b, "{\"a\":3}\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	check_file(&fx, "t.ndjson", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
	/* a file that is one partial line is emptied; another tenant, another slot */
	u = (unsigned)fairq_slot(fx.q, "u", 1);
	snprintf(path, sizeof(path), "%s/u.ndjson", fx.spool_dir);
	write_raw(path, "no newline at all");
	put(&b, "{\"u\":1}\n");
	CHECK_INT(spool_write(&fx.s, u, "u", &b), 0);
	check_file(&fx, "u.ndjson", "{\"u\":1}\n");
	buf_release(&b);
	teardown(&fx);
}

static void test_reopen_after_rename(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	char from[700], to[700];

	if (setup(&fx))
		return;
	put(&b, "1\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	snprintf(from, sizeof(from), "%s/t.ndjson", fx.spool_dir);
	snprintf(to, sizeof(to), "%s/t.ndjson.1", fx.spool_dir);
	CHECK_INT(rename(from, to), 0);
	/* until the reopen, the open descriptor still writes to the renamed file */
	put(&b, "2\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	spool_reopen(&fx.s);
	put(&b, "3\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	check_file(&fx, "t.ndjson.1", "1\n2\n");
	check_file(&fx, "t.ndjson", "3\n");
	buf_release(&b);
	teardown(&fx);
}

/* A directory where the file should be: every open fails (EISDIR) until it is removed. */
static void test_open_failure_counted_and_blocks(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	char path[700];
	size_t taken;
	int why;

	if (setup(&fx))
		return;
	snprintf(path, sizeof(path), "%s/t.ndjson", fx.spool_dir);
	CHECK_INT(mkdir(path, 0750), 0);
	put(&b, "1\n2\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), -EISDIR);
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), -EISDIR);
	CHECK_INT(b.len, 4);
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_OPEN), 2);
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_WRITE), 0);
	CHECK(fairq_output_blocked(fx.q, fx.slot));
	/* a full queue of a blocked tenant names the output as the reason */
	for (int i = 0; i < 5; i++) {
		struct msg *m = msg_new("x", 1);

		m->tenant = (uint16_t)fx.slot;
		why = fairq_push(fx.q, fx.slot, &m, 1, &taken);
		if (!taken)
			msg_free(m);
	}
	CHECK_INT(why, FAIRQ_OUTPUT_BLOCKED);
	CHECK_INT(rmdir(path), 0);
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	CHECK(!fairq_output_blocked(fx.q, fx.slot));
	check_file(&fx, "t.ndjson", "1\n2\n");
	buf_release(&b);
	teardown(&fx);
}

static void test_no_descriptors_counted(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	struct rlimit old, low;
	int probe;

	if (setup(&fx))
		return;
	CHECK_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
	probe = dup(0);
	CHECK(probe >= 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe; /* the next descriptor would be past the limit */
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
	put(&b, "1\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), -EMFILE);
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_OPEN), 1);
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	check_file(&fx, "t.ndjson", "1\n");
	buf_release(&b);
	teardown(&fx);
}

/*
 * A write that stops short (here at RLIMIT_FSIZE, as ENOSPC would): the file keeps only the
 * whole lines, the caller's buffer keeps the rest, and the retry completes it exactly once.
 */
static void test_short_write_keeps_whole_lines(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	struct rlimit old, low;
	char want[64];

	if (setup(&fx))
		return;
	signal(SIGXFSZ, SIG_IGN);
	put(&b, "aaaa\nbbbb\ncccc\n");
	CHECK_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
	low = old;
	low.rlim_cur = 12; /* "aaaa\nbbbb\ncc" fits */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &low), 0);
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), -EFBIG);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	check_file(&fx, "t.ndjson", "aaaa\nbbbb\n");
	CHECK_MEM(b.p, b.len, "cccc\n");
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_WRITE), 1);
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), 0);
	snprintf(want, sizeof(want), "aaaa\nbbbb\ncccc\n");
	check_file(&fx, "t.ndjson", want);
	signal(SIGXFSZ, SIG_DFL);
	buf_release(&b);
	teardown(&fx);
}

/* ENOSPC itself, from /dev/full behind the tenant's file name. */
static void test_no_space_counted(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	char path[700];

	if (setup(&fx))
		return;
	snprintf(path, sizeof(path), "%s/t.ndjson", fx.spool_dir);
	if (access("/dev/full", W_OK)) {
		t_skip("no writable /dev/full");
		teardown(&fx);
		return;
	}
	CHECK_INT(symlink("/dev/full", path), 0);
	put(&b, "1\n");
	CHECK_INT(spool_write(&fx.s, fx.slot, "t", &b), -ENOSPC);
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_NO_SPACE), 1);
	CHECK_INT(b.len, 2);
	buf_release(&b);
	teardown(&fx);
}

struct deliver_arg {
	struct fixture *fx;
	struct buf *b;
	int rc;
};

static void *deliver_thread(void *p)
{
	struct deliver_arg *a = p;

	a->rc = spool_deliver(&a->fx->s, a->fx->slot, "t", a->b);
	return NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

/* deliver blocks while the output fails and completes once it works again: nothing lost. */
static void test_deliver_retries_until_written(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	struct deliver_arg a = { &fx, &b, 1 };
	char path[700];
	pthread_t th;

	if (setup(&fx))
		return;
	snprintf(path, sizeof(path), "%s/t.ndjson", fx.spool_dir);
	CHECK_INT(mkdir(path, 0750), 0);
	put(&b, "1\n2\n3\n");
	CHECK_INT(pthread_create(&th, NULL, deliver_thread, &a), 0);
	/* poll the condition: at least three failed attempts */
	for (int i = 0; i < 10000 && spool_errors(&fx.s, fx.slot, SPOOL_ERR_OPEN) < 3; i++)
		sleep_ms(1);
	CHECK(spool_errors(&fx.s, fx.slot, SPOOL_ERR_OPEN) >= 3);
	CHECK(fairq_output_blocked(fx.q, fx.slot));
	CHECK_INT(rmdir(path), 0);
	spool_reopen(&fx.s); /* wakes the waiting worker at once */
	pthread_join(th, NULL);
	CHECK_INT(a.rc, 0);
	CHECK_INT(b.len, 0);
	CHECK(!fairq_output_blocked(fx.q, fx.slot));
	check_file(&fx, "t.ndjson", "1\n2\n3\n");
	CHECK_INT(atomic_load(&fairq_stats(fx.q, fx.slot)->output_dropped[DROP_OUTPUT_ERROR]), 0);
	buf_release(&b);
	teardown(&fx);
}

/* At the drain deadline what is held is given up and counted as dropped output_error. */
static void test_deliver_gives_up_at_stop(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	struct deliver_arg a = { &fx, &b, 1 };
	char path[700];
	pthread_t th;

	if (setup(&fx))
		return;
	snprintf(path, sizeof(path), "%s/t.ndjson", fx.spool_dir);
	CHECK_INT(mkdir(path, 0750), 0);
	put(&b, "1\n2\n3\n");
	CHECK_INT(pthread_create(&th, NULL, deliver_thread, &a), 0);
	for (int i = 0; i < 10000 && spool_errors(&fx.s, fx.slot, SPOOL_ERR_OPEN) < 1; i++)
		sleep_ms(1);
	spool_stop(&fx.s, 0);
	pthread_join(th, NULL);
	CHECK_INT(a.rc, -EISDIR);
	CHECK_INT(b.len, 0);
	CHECK_INT(atomic_load(&fairq_stats(fx.q, fx.slot)->output_dropped[DROP_OUTPUT_ERROR]), 3);
	buf_release(&b);
	teardown(&fx);
}

static void test_too_large_counted_in_metrics(void)
{
	struct fixture fx;
	struct buf out = BUF_INIT(1 << 20);

	if (setup(&fx))
		return;
	spool_count_too_large(&fx.s, fx.slot, "t", 70000);
	spool_count_too_large(&fx.s, fx.slot, "t", 70000);
	CHECK_INT(spool_errors(&fx.s, fx.slot, SPOOL_ERR_TOO_LARGE), 2);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_output_errors_total{tenant=\"t\",reason=\"too_large\"} 2\n"));
	CHECK(strstr(out.p, "koban_output_errors_total{tenant=\"t\",reason=\"open\"} 0\n"));
	CHECK(strstr(out.p, "koban_output_blocked{tenant=\"t\"} 0\n"));
	buf_release(&out);
	teardown(&fx);
	/* released: the families are gone */
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(!strstr(out.p, "koban_output_errors_total"));
	buf_release(&out);
}

/* Every allocation failure is reported cleanly (ASan checks for leaks). */
static void test_allocation_failures(void)
{
	struct fixture fx;
	struct buf b = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	struct spool s2;
	int rc = -ENOMEM;

	if (setup(&fx))
		return;
	for (long n = 0; n < 8; n++) {
		mem_fail_after(n);
		rc = spool_init(&s2, fx.data_dir, fx.q, &e);
		mem_fail_after(-1);
		if (rc != -ENOMEM)
			break;
	}
	CHECK_INT(rc, -EEXIST); /* fx.s holds the metric names: the first failure past memory */
	for (long n = 0; n < 8; n++) {
		put(&b, "1\n");
		mem_fail_after(n);
		rc = spool_write(&fx.s, fx.slot, "t", &b);
		mem_fail_after(-1);
		if (!rc)
			break;
		CHECK_INT(rc, -ENOMEM);
	}
	CHECK_INT(rc, 0);
	check_file(&fx, "t.ndjson", "1\n");
	buf_release(&b);
	teardown(&fx);
}

int main(void)
{
	if (!t_tmp_dir())
		return t_done();
	log_set_level(LOG_LEVEL_ERROR);
	T_RUN(test_whole_lines);
	T_RUN(test_torn_tail_cut_on_open);
	T_RUN(test_reopen_after_rename);
	T_RUN(test_open_failure_counted_and_blocks);
	T_RUN(test_no_descriptors_counted);
	T_RUN(test_short_write_keeps_whole_lines);
	T_RUN(test_no_space_counted);
	T_RUN(test_deliver_retries_until_written);
	T_RUN(test_deliver_gives_up_at_stop);
	T_RUN(test_too_large_counted_in_metrics);
	T_RUN(test_allocation_failures);
	return t_done();
}
