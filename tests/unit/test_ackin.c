/*
 * Unit tests of the acknowledged-input path: raw messages decoded into events on the sink's
 * ack shard and made durable (counted per tenant), decoding failures stored as events and
 * counted, long messages cut and flagged, a large batch in several records, an unknown
 * tenant, busy decoding slots (back-pressure), and a failed append (quota) that fails the
 * batch and counts the rest as dropped.
 */
#include "ingest/ackin.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/mem.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "store/meta.h"
#include "store/sink.h"
#include "store/wal.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

struct fixture {
	char data[600];
	struct fairq *q;
	struct config cfg;
	struct sink *s;
	struct ackin *a;
	unsigned slot_a, slot_ghost;
	uint64_t id_a;
};

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(uint64_t *)ctx = (uint64_t)t->id;
}

static int setup(struct fixture *f, const char *name, const char *yaml, unsigned slots)
{
	struct fairq_config fq = { 1000, 1 << 20, 64 };
	struct sink_config sc = { 0 };
	struct ackin_config ac = { 0 };
	struct err e = ERR_INIT;
	struct meta *m = NULL;
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->data, sizeof(f->data), "%s/%s", t_tmp_dir(), name);
	mkdir(f->data, 0750);
	CHECK_INT(meta_open(&m, f->data, &e), 0);
	if (!m)
		return -1;
	CHECK_INT(meta_tenant_add(m, "alpha", &e), 0);
	CHECK_INT(meta_tenant_add(m, "beta", &e), 0);
	CHECK_INT(meta_tenant_get(m, "alpha", take_id, &f->id_a, &e), 0);
	meta_close(m);
	CHECK_INT(fairq_new(&f->q, &fq, &e), 0);
	f->slot_a = (unsigned)fairq_slot(f->q, "alpha", 5);
	f->slot_ghost = (unsigned)fairq_slot(f->q, "ghost", 5); /* not in koban.db */
	CHECK_INT(config_load_mem(&f->cfg, yaml, strlen(yaml), "t.yaml", &e), 0);
	sc.data_dir = f->data;
	sc.workers = 1;
	sc.commit_interval_ms = 2;
	sc.q = f->q;
	sc.cfg = &f->cfg;
	CHECK_INT(rc = sink_open(&f->s, &sc, &e), 0);
	if (rc < 0)
		return rc;
	ac.sink = f->s;
	ac.q = f->q;
	ac.data_dir = f->data;
	ac.slots = slots;
	ac.max_message_size = 512;
	ac.fixed_now_ns = 1700000000LL * NS_PER_SEC;
	ac.clock_skew_max_ns = 60 * NS_PER_SEC; /* the pipeline keeps the source's name */
	CHECK_INT(rc = ackin_new(&f->a, &ac, &e), 0);
	CHECK_STR(e.msg, "");
	return rc;
}

static void teardown(struct fixture *f)
{
	ackin_free(f->a);
	sink_close(f->s);
	fairq_free(f->q);
	config_release(&f->cfg);
}

static struct ackin_origin origin_of(unsigned slot, const char *format)
{
	struct ackin_origin o = { .tenant = slot, .source = "fw" };

	o.format = (unsigned)decoder_find(format, strlen(format));
	return o;
}

static int add_str(struct ackin_batch *b, const char *s)
{
	return ackin_add(b, s, strlen(s), 1700000000LL * NS_PER_SEC);
}

static void test_batch_stored_after_commit(void)
{
	struct fixture f;
	struct ackin_origin o;
	struct ackin_batch b;
	struct err e = ERR_INIT;
	struct tenant_stats *st;

	char name[8] = "fw";

	if (setup(&f, "stored", "workers: 1\n", 2) < 0)
		return;
	o = origin_of(f.slot_a, "rfc5424");
	o.source = name; /* the caller's: ackin keeps its own copy */
	st = fairq_stats(f.q, f.slot_a);
	CHECK_INT(ackin_begin(f.a, &b, &o, 0, &e), 0);
	CHECK(b.origin.source != name);
	CHECK_STR(b.origin.source, "fw");
	CHECK_INT(b.tenant_id, f.id_a);
	CHECK_INT(add_str(&b, "<14>1 2024-05-01T10:00:00Z fw1 app - - - one"), 0);
	CHECK_INT(add_str(&b, "<14>1 2024-05-01T10:00:01Z fw1 app - - - two"), 0);
	CHECK_INT(add_str(&b, "not syslog at all"), 0); /* a pipeline_error event, not a failure */
	CHECK_INT(ackin_end(&b, &e), 0);
	CHECK_INT(b.events, 3);
	CHECK_INT(b.messages, 3);
	CHECK_INT(b.counts.parsed, 2);
	CHECK_INT(b.counts.failed, 1);
	CHECK(b.lsn > 0);
	CHECK_INT(ackin_wait(f.a, b.first_lsn, b.lsn, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), 3);
	CHECK_INT(atomic_load(&st->parsed), 2);
	CHECK_INT(atomic_load(&st->parse_failed), 1);
	/* an empty batch: nothing written, nothing to wait for */
	CHECK_INT(ackin_begin(f.a, &b, &o, 0, &e), 0);
	CHECK_INT(ackin_end(&b, &e), 0);
	CHECK_INT(b.events, 0);
	CHECK_INT(b.lsn, 0);
	teardown(&f);
}

static void test_long_message_cut_and_many_records(void)
{
	struct fixture f;
	struct ackin_origin o;
	struct ackin_batch b;
	struct err e = ERR_INIT;
	char line[2048];
	unsigned n = 0;

	if (setup(&f, "long", "workers: 1\n", 1) < 0)
		return;
	o = origin_of(f.slot_a, "auto");
	memset(line, 'x', sizeof(line));
	CHECK_INT(ackin_begin(f.a, &b, &o, -1, &e), 0);
	CHECK_INT(ackin_add(&b, line, sizeof(line), 1), 0); /* cut to 512 bytes, flagged */
	/* past ACKIN_FLUSH_BYTES of JSON lines: appended as several records */
	for (n = 1; n < 6000; n++)
		CHECK_INT(ackin_add(&b, line, 300, 1), 0);
	CHECK_INT(ackin_end(&b, &e), 0);
	CHECK_INT(b.events, n);
	CHECK(b.lsn > 1);
	CHECK_INT(ackin_wait(f.a, b.first_lsn, b.lsn, 5000), 0);
	CHECK_INT(sink_stored(f.s, f.id_a), n);
	CHECK_INT(atomic_load(&fairq_stats(f.q, f.slot_a)->parsed), n);
	teardown(&f);
}

static void test_unknown_tenant_and_built_messages(void)
{
	struct fixture f;
	struct ackin_origin o;
	struct ackin_batch b;
	struct err e = ERR_INIT;
	const char *text = "<13>May  1 10:00:00 host app: hello";
	struct msg *m = msg_new(text, (uint32_t)strlen(text));

	if (setup(&f, "ghost", "workers: 1\n", 1) < 0)
		return;
	o = origin_of(f.slot_ghost, "auto");
	CHECK_INT(ackin_begin(f.a, &b, &o, 0, &e), -ENOENT);
	CHECK_STR(e.msg, "no tenant ghost in koban.db");
	uint64_t id = 0;
	CHECK_INT(ackin_tenant_id(f.a, "alpha", &id, &e), 0);
	CHECK_INT(id, f.id_a);
	/* a message of another tenant fails the batch; one of its own is decoded */
	o = origin_of(f.slot_a, "auto");
	m->tenant = (uint16_t)f.slot_a;
	m->received_ns = 1;
	CHECK_INT(ackin_begin(f.a, &b, &o, 0, &e), 0);
	CHECK_INT(ackin_add_msg(&b, m), 0);
	CHECK_INT(ackin_end(&b, &e), 0);
	CHECK_INT(b.events, 1);
	m->tenant = (uint16_t)f.slot_ghost;
	CHECK_INT(ackin_begin(f.a, &b, &o, 0, &e), 0);
	CHECK_INT(ackin_add_msg(&b, m), -EINVAL);
	CHECK_INT(ackin_end(&b, &e), -EINVAL);
	CHECK(strstr(e.msg, "a message of tenant slot") != NULL);
	msg_free(m);
	teardown(&f);
}

static void test_busy_slots(void)
{
	struct fixture f;
	struct ackin_origin o;
	struct ackin_batch b1, b2, b3;
	struct err e = ERR_INIT;
	int64_t t;

	if (setup(&f, "busy", "workers: 1\n", 2) < 0)
		return;
	o = origin_of(f.slot_a, "auto");
	CHECK_INT(ackin_begin(f.a, &b1, &o, 0, &e), 0);
	CHECK_INT(ackin_begin(f.a, &b2, &o, 0, &e), 0);
	CHECK(b1.slot != b2.slot);
	CHECK_INT(ackin_begin(f.a, &b3, &o, 0, &e), -EBUSY);
	t = time_mono_ns();
	CHECK_INT(ackin_begin(f.a, &b3, &o, 30, &e), -EBUSY);
	CHECK(time_mono_ns() - t >= 25 * 1000000LL); /* it did wait */
	CHECK_STR(e.msg, "all 2 decoding slots of acknowledged inputs are busy");
	CHECK_INT(ackin_end(&b1, &e), 0);
	CHECK_INT(ackin_begin(f.a, &b3, &o, 0, &e), 0);
	CHECK_INT(b3.slot, b1.slot);
	CHECK_INT(ackin_end(&b3, &e), 0);
	CHECK_INT(ackin_end(&b2, &e), 0);
	teardown(&f);
}

static void test_failed_append_fails_the_batch(void)
{
	struct fixture f;
	struct ackin_origin o;
	struct ackin_batch b;
	struct err e = ERR_INIT;
	struct tenant_stats *st;
	char line[400];
	unsigned n;
	int rc = 0;

	if (setup(&f, "quota", "workers: 1\nstore:\n  tenants:\n    alpha: { quota: 1 }\n", 1) < 0)
		return;
	o = origin_of(f.slot_a, "auto");
	st = fairq_stats(f.q, f.slot_a);
	memset(line, 'q', sizeof(line));
	CHECK_INT(ackin_begin(f.a, &b, &o, 0, &e), 0);
	/* the first record fits (nothing stored yet), the second is over the quota */
	for (n = 0; n < 10000 && rc == 0; n++)
		rc = ackin_add(&b, line, sizeof(line), 1);
	CHECK_INT(rc, -EDQUOT);
	CHECK_INT(ackin_add(&b, line, sizeof(line), 1), -EDQUOT); /* refused, counted */
	CHECK_INT(ackin_end(&b, &e), -EDQUOT);
	CHECK_STR(e.msg, "tenant alpha is over its store quota (1 bytes)");
	CHECK(b.events > 0);
	CHECK(b.events < n);
	CHECK_INT(atomic_load(&st->dropped[DROP_QUOTA]), 1); /* the reason, not output_error */
	CHECK_INT(atomic_load(&st->dropped[DROP_OUTPUT_ERROR]), 0);
	CHECK_INT(atomic_load(&st->parsed), n);
	CHECK_INT(ackin_wait(f.a, b.first_lsn, b.lsn, 5000), 0); /* what was written is durable */
	CHECK_INT(sink_stored(f.s, f.id_a), b.events);
	/* the next batch on the slot is beta's: none of alpha's leftover lines go with it */
	{
		struct ackin_origin ob = origin_of((unsigned)fairq_slot(f.q, "beta", 4), "auto");
		uint32_t alpha = b.events;
		uint64_t id_b = 0;

		CHECK_INT(ackin_tenant_id(f.a, "beta", &id_b, &e), 0);
		CHECK_INT(ackin_begin(f.a, &b, &ob, 0, &e), 0);
		CHECK_INT(add_str(&b, "<13>May  1 10:00:00 h a: beta 1"), 0);
		CHECK_INT(add_str(&b, "<13>May  1 10:00:00 h a: beta 2"), 0);
		CHECK_INT(ackin_end(&b, &e), 0);
		CHECK_INT(b.events, 2);
		CHECK_INT(ackin_wait(f.a, b.first_lsn, b.lsn, 5000), 0);
		CHECK_INT(sink_stored(f.s, id_b), 2);
		CHECK_INT(sink_stored(f.s, f.id_a), alpha);
	}
	teardown(&f);
}

/* Senders on threads of their own share two decoding slots; each waits for its commits. */
#define SENDERS 4
#define BATCHES 20
#define PER_BATCH 50

struct sender {
	struct fixture *f;
	unsigned failures;
};

static void *send_batches(void *arg)
{
	struct sender *s = arg;
	struct ackin_origin o = origin_of(s->f->slot_a, "auto");
	struct err e = ERR_INIT;
	char line[64];

	for (int i = 0; i < BATCHES; i++) {
		struct ackin_batch b;
		int rc = ackin_begin(s->f->a, &b, &o, -1, &e);

		for (int j = 0; rc == 0 && j < PER_BATCH; j++) {
			snprintf(line, sizeof(line), "<13>May  1 10:00:00 h a: %d %d", i, j);
			rc = add_str(&b, line);
		}
		if (rc == 0 && (rc = ackin_end(&b, &e)) == 0)
			rc = ackin_wait(s->f->a, b.first_lsn, b.lsn, 10000);
		if (rc < 0 || b.events != PER_BATCH)
			s->failures++;
	}
	return NULL;
}

static void test_concurrent_batches(void)
{
	struct fixture f;
	struct sender s[SENDERS];
	pthread_t t[SENDERS];

	if (setup(&f, "threads", "workers: 1\n", 2) < 0)
		return;
	for (int i = 0; i < SENDERS; i++) {
		s[i] = (struct sender){ .f = &f };
		CHECK_INT(pthread_create(&t[i], NULL, send_batches, &s[i]), 0);
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(s[i].failures, 0);
	}
	CHECK_INT(sink_stored(f.s, f.id_a), SENDERS * BATCHES * PER_BATCH);
	CHECK_INT(atomic_load(&fairq_stats(f.q, f.slot_a)->parsed), SENDERS * BATCHES * PER_BATCH);
	teardown(&f);
}

/* A tenant waits for a slot on a thread of its own and holds it until told to let go. */
struct waiter {
	struct fixture *f;
	struct ackin_origin o;
	atomic_int got, release;
	int rc;
};

static void *wait_for_slot(void *arg)
{
	struct waiter *w = arg;
	struct ackin_batch b;
	struct err e = ERR_INIT;

	if ((w->rc = ackin_begin(w->f->a, &b, &w->o, 5000, &e)) == 0) {
		atomic_store(&w->got, 1);
		while (!atomic_load(&w->release))
			sched_yield();
		w->rc = ackin_end(&b, &e);
	}
	atomic_store(&w->got, 1);
	return NULL;
}

static void test_fair_between_tenants(void)
{
	struct fixture f;
	struct ackin_origin oa, ob;
	struct ackin_batch b1, b2, b3;
	struct err e = ERR_INIT;
	struct waiter w;
	pthread_t t;
	int64_t t0;

	if (setup(&f, "fair", "workers: 1\n", 2) < 0)
		return;
	oa = origin_of(f.slot_a, "auto");
	ob = origin_of((unsigned)fairq_slot(f.q, "beta", 4), "auto");
	/* alone, a tenant uses every slot */
	CHECK_INT(ackin_begin(f.a, &b1, &oa, 0, &e), 0);
	CHECK_INT(ackin_begin(f.a, &b2, &oa, 0, &e), 0);
	/* beta waits; the slot alpha gives back is beta's, not alpha's next batch's */
	memset(&w, 0, sizeof(w));
	w.f = &f;
	w.o = ob;
	CHECK_INT(pthread_create(&t, NULL, wait_for_slot, &w), 0);
	t0 = time_mono_ns();
	while (ackin_waiting(f.a) != 1 && time_mono_ns() - t0 < 5 * NS_PER_SEC)
		sched_yield();
	CHECK_INT(ackin_waiting(f.a), 1);
	CHECK_INT(ackin_end(&b1, &e), 0);
	/* beta still waits (and is owed the slot) or holds it: either way none for alpha */
	CHECK_INT(ackin_begin(f.a, &b3, &oa, 0, &e), -EBUSY);
	t0 = time_mono_ns();
	while (!atomic_load(&w.got) && time_mono_ns() - t0 < 5 * NS_PER_SEC)
		sched_yield();
	atomic_store(&w.release, 1);
	pthread_join(t, NULL);
	CHECK_INT(w.rc, 0);
	CHECK_INT(ackin_begin(f.a, &b3, &oa, 0, &e), 0);
	CHECK_INT(ackin_end(&b3, &e), 0);
	CHECK_INT(ackin_end(&b2, &e), 0);
	teardown(&f);
}

static void test_config_checked(void)
{
	struct ackin_config ac = { 0 };
	struct ackin *a = (struct ackin *)&ac;
	struct err e = ERR_INIT;

	CHECK_INT(ackin_new(&a, &ac, &e), -EINVAL);
	CHECK(a == NULL);
	CHECK_STR(e.msg, "ackin: 1 to 64 decoding slots, not 0");
	ackin_free(NULL);
}

/*
 * A failed commit (fdatasync error, through the WAL's test hook): the batch it covered is
 * not stored and its wait says -EIO, as does a wait over a range that holds it even once a
 * later batch is durable in the shard's next file (a RELP connection's or a poll's).
 */
static void test_failed_commit_is_not_acknowledged(void)
{
	struct fixture f;
	struct ackin_origin o;
	struct ackin_batch b1, b2;
	struct err e = ERR_INIT;

	if (setup(&f, "syncfail", "workers: 1\n", 1) < 0)
		return;
	o = origin_of(f.slot_a, "rfc5424");
	wal_fail_sync_after(0);
	CHECK_INT(ackin_begin(f.a, &b1, &o, 0, &e), 0);
	CHECK_INT(add_str(&b1, "<14>1 2024-05-01T10:00:00Z fw1 app - - - lost"), 0);
	CHECK_INT(ackin_end(&b1, &e), 0);
	CHECK_INT(ackin_wait(f.a, b1.first_lsn, b1.lsn, 5000), -EIO);
	CHECK_INT(ackin_begin(f.a, &b2, &o, 0, &e), 0);
	CHECK_INT(add_str(&b2, "<14>1 2024-05-01T10:00:01Z fw1 app - - - stored"), 0);
	CHECK_INT(add_str(&b2, "<14>1 2024-05-01T10:00:02Z fw1 app - - - stored"), 0);
	CHECK_INT(ackin_end(&b2, &e), 0);
	CHECK(b2.first_lsn > b1.lsn);
	CHECK_INT(ackin_wait(f.a, b2.first_lsn, b2.lsn, 5000), 0);
	CHECK_INT(ackin_wait(f.a, b1.first_lsn, b2.lsn, 5000), -EIO);
	CHECK(ackin_failed(f.a, b1.first_lsn, b1.lsn));
	CHECK(!ackin_failed(f.a, b2.first_lsn, b2.lsn));
	CHECK_INT(sink_stored(f.s, f.id_a), 2);
	wal_fail_sync_after(-1);
	teardown(&f);
}

int main(void)
{
	T_RUN(test_batch_stored_after_commit);
	T_RUN(test_long_message_cut_and_many_records);
	T_RUN(test_unknown_tenant_and_built_messages);
	T_RUN(test_busy_slots);
	T_RUN(test_failed_append_fails_the_batch);
	T_RUN(test_concurrent_batches);
	T_RUN(test_fair_between_tenants);
	T_RUN(test_config_checked);
	T_RUN(test_failed_commit_is_not_acknowledged);
	return t_done();
}
