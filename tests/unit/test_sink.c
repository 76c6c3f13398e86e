/*
 * Unit tests of the serve sink: lines into sealed WAL records of binary event batches on the
 * worker's shard (read back with wal_scan, opened with the tenant's key and decoded back into
 * the same JSON lines), counts made durable, a large buffer cut into several batches, the acknowledged shard (sink_write, sink_wait) and its errors, quotas
 * (dropped and counted, lifted by a new configuration), back-pressure while appends fail (a
 * file size limit) and the give-up at the stop deadline.
 */
#include "store/sink.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/fairq.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/evcodec.h"
#include "store/keys.h"
#include "store/meta.h"
#include "store/wal.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char data[600], waldir[700];
	struct fairq *q;
	struct config cfg;
	struct sink *s;
	unsigned slot_a, slot_b;
	uint64_t id_a, id_b;
};

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(uint64_t *)ctx = (uint64_t)t->id;
}

static int setup(struct fixture *f, const char *name, const char *yaml)
{
	struct fairq_config fq = { 1000, 1 << 20, 64 };
	struct sink_config sc = { 0 };
	struct err e = ERR_INIT;
	struct meta *m = NULL;
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->data, sizeof(f->data), "%s/%s", t_tmp_dir(), name);
	snprintf(f->waldir, sizeof(f->waldir), "%s/wal", f->data);
	mkdir(f->data, 0750);
	CHECK_INT(meta_open(&m, f->data, &e), 0);
	if (!m)
		return -1;
	CHECK_INT(meta_tenant_add(m, "alpha", &e), 0);
	CHECK_INT(meta_tenant_add(m, "beta", &e), 0);
	CHECK_INT(meta_tenant_get(m, "alpha", take_id, &f->id_a, &e), 0);
	CHECK_INT(meta_tenant_get(m, "beta", take_id, &f->id_b, &e), 0);
	meta_close(m);
	CHECK_INT(fairq_new(&f->q, &fq, &e), 0);
	f->slot_a = (unsigned)fairq_slot(f->q, "alpha", 5);
	f->slot_b = (unsigned)fairq_slot(f->q, "beta", 4);
	CHECK_INT(config_load_mem(&f->cfg, yaml, strlen(yaml), "t.yaml", &e), 0);
	sc.data_dir = f->data;
	sc.workers = 2;
	sc.commit_interval_ms = 2;
	sc.q = f->q;
	sc.cfg = &f->cfg;
	rc = sink_open(&f->s, &sc, &e);
	CHECK_INT(rc, 0);
	CHECK_STR(e.msg, "");
	return rc;
}

static void teardown(struct fixture *f)
{
	sink_close(f->s);
	fairq_free(f->q);
	config_release(&f->cfg);
}

static void lines_of(struct buf *b, const char *tag, unsigned n)
{
	buf_reset(b);
	for (unsigned i = 0; i < n; i++)
		CHECK_INT(buf_addf(b, "{\"message\":\"%s %u\"}\n", tag, i), 0);
}

struct scan {
	char data[600];
	unsigned records, events, bad;
	uint64_t tenant;
	struct buf text;   /* the records' lines, unsealed, in order (one shard) */
};

/* A record's event batch back into JSON lines, appended to sc->text. */
static void batch_to_lines(struct scan *sc, const char *p, size_t len, uint32_t count)
{
	struct evcodec_reader rd;
	struct err e = ERR_INIT;
	struct arena a;
	const void *evp;
	size_t evlen;
	uint32_t n = 0;
	int rc;

	evcodec_reader_init(&rd);
	arena_init(&a, 1 << 16, 1 << 26);
	CHECK_INT(evcodec_open(&rd, p, len, &e), 0);
	CHECK_INT(evcodec_events(&rd), count);
	while ((rc = evcodec_next(&rd, &evp, &evlen, &e)) > 0) {
		struct event ev;

		arena_clear(&a);
		event_init(&ev, &a);
		CHECK_INT(evcodec_decode(&rd, evp, evlen, &ev, &e), 0);
		CHECK_INT(event_write_json(&ev, &sc->text), 0);
		CHECK_INT(buf_addch(&sc->text, '\n'), 0);
		n++;
	}
	CHECK_INT(rc, 0);
	CHECK_INT(n, count);
	arena_release(&a);
	evcodec_reader_release(&rd);
}

static int on_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		     uint32_t flags, const void *payload, size_t len)
{
	struct scan *sc = ctx;
	struct keys_data_key dk;
	struct keys *k = NULL;
	struct err e = ERR_INIT;
	char kdir[700];
	char *clear;

	if (tenant != sc->tenant)
		return 0;
	sc->records++;
	sc->events += count;
	if (!(flags & WAL_FLAG_SEALED) || len < KEYS_SEAL_OVERHEAD) {
		sc->bad++;
		return 0;
	}
	snprintf(kdir, sizeof(kdir), "%s/keys", sc->data);
	if (keys_open(&k, kdir, KEYS_READ, &e) < 0 || keys_tenant(k, tenant, false, &dk, &e) < 0) {
		keys_close(k);
		sc->bad++;
		return 0;
	}
	keys_close(k);
	clear = mem_alloc(len - KEYS_SEAL_OVERHEAD + 1);
	if (clear && keys_unseal(&dk, WAL_SEAL_BLOCK_ID, payload, len, clear) == 0 &&
	    (flags & WAL_FLAG_EVCODEC))
		batch_to_lines(sc, clear, len - KEYS_SEAL_OVERHEAD, count);
	else
		sc->bad++;
	mem_free(clear);
	return 0;
}

static void scan_tenant(struct fixture *f, uint64_t tenant, struct scan *sc)
{
	struct err e = ERR_INIT;

	memset(sc, 0, sizeof(*sc));
	snprintf(sc->data, sizeof(sc->data), "%s", f->data);
	sc->tenant = tenant;
	buf_init(&sc->text, 64u << 20);
	CHECK_INT(wal_scan(f->waldir, NULL, 0, on_record, sc, &e), 0);
}

static void test_lines_become_sealed_records(void)
{
	struct fixture f;
	struct buf b = BUF_INIT(1 << 20), want = BUF_INIT(1 << 20);
	struct scan sc;

	if (setup(&f, "records", "workers: 2\n") < 0)
		return;
	lines_of(&b, "a", 3);
	CHECK_INT(buf_add(&want, b.p, b.len), 0);
	CHECK_INT(sink_deliver(f.s, 1, f.slot_a, &b, 3), 0);
	CHECK_INT(b.len, 0);
	lines_of(&b, "b", 2);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_b, &b, 2), 0);
	CHECK_INT(sink_flush(f.s, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), 3);
	CHECK_INT(sink_stored(f.s, f.id_b), 2);
	CHECK_INT(sink_ack_shard(f.s), 2);
	CHECK(sink_wal(f.s) != NULL);
	scan_tenant(&f, f.id_a, &sc);
	CHECK_INT(sc.records, 1);
	CHECK_INT(sc.events, 3);
	CHECK_INT(sc.bad, 0);
	CHECK_INT(sc.text.len, want.len);
	CHECK_MEM(sc.text.p, want.len, want.p);
	buf_release(&sc.text);
	/* not worker slots: refused and dropped */
	lines_of(&b, "x", 1);
	CHECK_INT(sink_deliver(f.s, 2, f.slot_a, &b, 1), -EINVAL);
	CHECK_INT(b.len, 0);
	teardown(&f);
	buf_release(&b);
	buf_release(&want);
}

static void test_large_buffer_cut_into_batches(void)
{
	struct fixture f;
	struct buf b = BUF_INIT(32u << 20), want = BUF_INIT(32u << 20);
	unsigned n = (SINK_RECORD_MAX / 24) * 2 + 100; /* two records and a bit at ~30 bytes */
	struct scan sc;

	if (setup(&f, "large", "workers: 2\n") < 0)
		return;
	lines_of(&b, "large", n);
	CHECK(b.len > 2 * (size_t)SINK_RECORD_MAX);
	CHECK_INT(buf_add(&want, b.p, b.len), 0);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, n), 0);
	CHECK_INT(sink_flush(f.s, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), n);
	scan_tenant(&f, f.id_a, &sc);
	CHECK(sc.records > 2); /* batches of SINK_BATCH_BYTES */
	CHECK_INT(sc.events, n);
	CHECK_INT(sc.bad, 0);
	CHECK_INT(sc.text.len, want.len);
	CHECK_MEM(sc.text.p, want.len, want.p);
	buf_release(&sc.text);
	teardown(&f);
	buf_release(&b);
	buf_release(&want);
}

static void test_ack_shard(void)
{
	struct fixture f;
	struct buf b = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	uint64_t lsn = 0;
	struct scan sc;

	if (setup(&f, "ack", "workers: 2\n") < 0)
		return;
	lines_of(&b, "ack", 4);
	CHECK_INT(sink_write(f.s, sink_ack_shard(f.s), f.id_b, &b, 4, &lsn, &e), 0);
	CHECK_INT(lsn, 1);
	CHECK_INT(b.len > 0, 1); /* the caller's, unchanged */
	CHECK_INT(sink_wait(f.s, sink_ack_shard(f.s), lsn, lsn, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_b), 4);
	CHECK_INT(sink_write(f.s, 0, f.id_b, &b, 4, &lsn, &e), -EINVAL);
	CHECK(strstr(e.msg, "is a worker's") != NULL);
	CHECK_INT(sink_write(f.s, sink_ack_shard(f.s), 9999, &b, 4, &lsn, &e), -ENOENT);
	CHECK_STR(e.msg, "no tenant with id 9999 in koban.db");
	CHECK_INT(buf_adds(&b, "no newline"), 0);
	CHECK_INT(sink_write(f.s, sink_ack_shard(f.s), f.id_b, &b, 5, &lsn, &e), -EINVAL);
	scan_tenant(&f, f.id_b, &sc);
	CHECK_INT(sc.records, 1);
	CHECK_INT(sc.events, 4);
	CHECK_INT(sc.bad, 0);
	buf_release(&sc.text);
	teardown(&f);
	buf_release(&b);
}

static void test_quota(void)
{
	struct fixture f;
	struct buf b = BUF_INIT(1 << 20);
	struct config lifted;
	struct err e = ERR_INIT;
	struct tenant_stats *st;
	uint64_t lsn;

	if (setup(&f, "quota", "store:\n  tenants:\n    alpha: { quota: 1 }\n") < 0)
		return;
	st = fairq_stats(f.q, f.slot_a);
	/* nothing stored yet: the first batch goes in, then the tenant is over */
	lines_of(&b, "q", 10);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, 10), 0);
	lines_of(&b, "q", 7);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, 7), 0);
	CHECK_INT(b.len, 0);
	CHECK_INT(atomic_load(&st->output_dropped[DROP_QUOTA]), 7);
	CHECK_INT(atomic_load(&st->dropped[DROP_QUOTA]), 0); /* not in the reclaim rule */
	lines_of(&b, "q", 2);
	CHECK_INT(sink_write(f.s, sink_ack_shard(f.s), f.id_a, &b, 2, &lsn, &e), -EDQUOT);
	CHECK_STR(e.msg, "tenant alpha is over its store quota (1 bytes)");
	/* beta has no quota */
	lines_of(&b, "b", 5);
	CHECK_INT(sink_deliver(f.s, 1, f.slot_b, &b, 5), 0);
	/* a configuration without the quota lifts it at once */
	CHECK_INT(config_load_mem(&lifted, "workers: 2\n", 11, "t.yaml", &e), 0);
	sink_set_config(f.s, &lifted);
	lines_of(&b, "q", 3);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, 3), 0);
	CHECK_INT(sink_flush(f.s, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), 13);
	CHECK_INT(sink_stored(f.s, f.id_b), 5);
	CHECK_INT(atomic_load(&st->output_dropped[DROP_QUOTA]), 7);
	sink_count_too_large(f.s, f.slot_b, 100000);
	CHECK_INT(atomic_load(&fairq_stats(f.q, f.slot_b)->output_dropped[DROP_TOO_LARGE]), 1);
	teardown(&f);
	config_release(&lifted);
	buf_release(&b);
}

struct deliver_job {
	struct fixture *f;
	struct buf *b;
	uint32_t n;
	int rc;
	atomic_int done;
};

static void *deliver_thread(void *arg)
{
	struct deliver_job *j = arg;

	j->rc = sink_deliver(j->f->s, 0, j->f->slot_a, j->b, j->n);
	atomic_store(&j->done, 1);
	return NULL;
}

static bool wait_for(bool (*cond)(void *), void *ctx)
{
	for (int i = 0; i < 2000; i++) {
		struct timespec ts = { 0, 5 * 1000000 };

		if (cond(ctx))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static bool is_blocked(void *ctx)
{
	struct fixture *f = ctx;

	return fairq_output_blocked(f->q, f->slot_a);
}

static bool is_done(void *ctx)
{
	return atomic_load(&((struct deliver_job *)ctx)->done);
}

/* A file size limit makes appends fail (EFBIG): held and retried, then given up at stop. */
static void test_back_pressure_and_give_up(void)
{
	struct fixture f;
	struct buf b = BUF_INIT(1 << 20);
	struct deliver_job j = { 0 };
	struct rlimit old, small;
	pthread_t t;

	if (setup(&f, "pressure", "workers: 2\n") < 0)
		return;
	signal(SIGXFSZ, SIG_IGN);
	CHECK_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
	lines_of(&b, "first", 5);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, 5), 0);
	CHECK_INT(sink_flush(f.s, 5000), 0);
	small = old;
	small.rlim_cur = 64; /* below the end of the shard's file */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);

	lines_of(&b, "held", 100);
	j.f = &f;
	j.b = &b;
	j.n = 100;
	CHECK_INT(pthread_create(&t, NULL, deliver_thread, &j), 0);
	CHECK(wait_for(is_blocked, &f));
	CHECK(!atomic_load(&j.done));
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0); /* room again: resumes by itself */
	CHECK(wait_for(is_done, &j));
	pthread_join(t, NULL);
	CHECK_INT(j.rc, 0);
	CHECK(!fairq_output_blocked(f.q, f.slot_a));
	CHECK_INT(sink_flush(f.s, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), 105);

	/* failing at stop: given up after the grace, counted as dropped */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	lines_of(&b, "lost", 9);
	atomic_store(&j.done, 0);
	j.n = 9;
	CHECK_INT(pthread_create(&t, NULL, deliver_thread, &j), 0);
	CHECK(wait_for(is_blocked, &f));
	sink_stop(f.s, 0);
	CHECK(wait_for(is_done, &j));
	pthread_join(t, NULL);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_INT(j.rc, -EFBIG);
	CHECK_INT(atomic_load(&fairq_stats(f.q, f.slot_a)->output_dropped[DROP_OUTPUT_ERROR]), 9);
	CHECK(!fairq_output_blocked(f.q, f.slot_a));
	teardown(&f);
	buf_release(&b);
}

static void test_open_errors(void)
{
	struct sink_config sc = { .workers = 0 };
	struct err e = ERR_INIT;
	struct sink *s = NULL;
	char file[600], dir[700];
	FILE *fp;

	snprintf(file, sizeof(file), "%s/a-file", t_tmp_dir());
	snprintf(dir, sizeof(dir), "%s/data", file); /* under a regular file: cannot exist */
	fp = fopen(file, "w");
	CHECK(fp != NULL);
	if (fp)
		fclose(fp);
	sc.data_dir = dir;

	CHECK_INT(sink_open(&s, &sc, &e), -EINVAL);
	CHECK(s == NULL);
	sc.workers = WAL_MAX_SHARDS;
	CHECK_INT(sink_open(&s, &sc, &e), -EINVAL);
	sc.workers = 1;
	CHECK(sink_open(&s, &sc, &e) < 0);
	CHECK(s == NULL);
	CHECK(e.msg[0] != '\0');
	sink_close(NULL);
}

/* The pipeline's events: one batch per run of a tenant's events, appended at sink_commit. */
static void test_events_batched_per_tenant(void)
{
	struct fixture f;
	struct arena a;
	struct event ev;
	struct scan sc;
	char text[32];
	const char *who[] = { "a0", "a1", "b0", "a2" };

	if (setup(&f, "events", "workers: 2\n") < 0)
		return;
	arena_init(&a, 1 << 16, 1 << 20);
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		int n = snprintf(text, sizeof(text), "event %s", who[i]);

		arena_clear(&a);
		event_init(&ev, &a);
		CHECK_INT(event_set_str(&ev, FIELD_MESSAGE, text, (size_t)n), 0);
		CHECK_INT(sink_event(f.s, 1, who[i][0] == 'a' ? f.slot_a : f.slot_b, &ev), 0);
	}
	CHECK_INT(sink_event(f.s, 2, f.slot_a, &ev), -EINVAL); /* not a worker */
	CHECK_INT(sink_commit(f.s, 1), 0);
	CHECK_INT(sink_commit(f.s, 1), 0); /* nothing open: nothing appended */
	CHECK_INT(sink_flush(f.s, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), 3);
	CHECK_INT(sink_stored(f.s, f.id_b), 1);
	scan_tenant(&f, f.id_a, &sc);
	CHECK_INT(sc.records, 2); /* a0 a1, then a2 after b0's record */
	CHECK_INT(sc.events, 3);
	CHECK_INT(sc.bad, 0);
	CHECK_STR(sc.text.p, "{\"message\":\"event a0\"}\n{\"message\":\"event a1\"}\n"
			     "{\"message\":\"event a2\"}\n");
	buf_release(&sc.text);
	scan_tenant(&f, f.id_b, &sc);
	CHECK_INT(sc.records, 1);
	CHECK_STR(sc.text.p, "{\"message\":\"event b0\"}\n");
	buf_release(&sc.text);
	arena_release(&a);
	teardown(&f);
}

/* After a tenant's key is destroyed, sink_forget_keys: new records use a new key. */
static void test_forget_keys(void)
{
	struct fixture f;
	struct buf b = BUF_INIT(1 << 20);
	unsigned char id_hash[32];
	struct keys *k = NULL;
	struct err e = ERR_INIT;
	char kdir[700];
	struct scan sc;

	if (setup(&f, "forget", "workers: 2\n") < 0)
		return;
	lines_of(&b, "old", 2);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, 2), 0);
	snprintf(kdir, sizeof(kdir), "%s/keys", f.data);
	CHECK_INT(keys_open(&k, kdir, KEYS_READ, &e), 0);
	CHECK_INT(keys_tenant_destroy(k, f.id_a, id_hash, NULL, NULL, &e), 0);
	keys_close(k);
	sink_forget_keys(f.s);
	lines_of(&b, "new", 3);
	CHECK_INT(sink_deliver(f.s, 0, f.slot_a, &b, 3), 0);
	CHECK_INT(sink_flush(f.s, 5000), 0);
	scan_tenant(&f, f.id_a, &sc);
	CHECK_INT(sc.records, 2);
	CHECK_INT(sc.bad, 1); /* the old record: its key is gone */
	CHECK(sc.text.len > 0 && strstr(sc.text.p, "new 2") != NULL);
	buf_release(&sc.text);
	teardown(&f);
	buf_release(&b);
}

int main(void)
{
	T_RUN(test_lines_become_sealed_records);
	T_RUN(test_large_buffer_cut_into_batches);
	T_RUN(test_ack_shard);
	T_RUN(test_events_batched_per_tenant);
	T_RUN(test_quota);
	T_RUN(test_forget_keys);
	T_RUN(test_back_pressure_and_give_up);
	T_RUN(test_open_errors);
	return t_done();
}
