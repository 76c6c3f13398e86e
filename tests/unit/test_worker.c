/* Unit tests of the worker pool: every message processed once, stop after the drain. */
#include "core/worker.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/msg.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum { TENANTS = 3, PER_TENANT = 20000, THREADS = 4 };

struct seen {
	atomic_uchar count[TENANTS * PER_TENANT]; /* times each message was processed */
	atomic_uint batches_by[WORKERS_MAX];      /* batches each worker index handled */
	atomic_int bad_index;
	atomic_int mixed_batch;
};

static void process(void *ctx, unsigned index, struct msg **msgs, size_t n)
{
	struct seen *s = ctx;
	uint32_t id;

	if (index >= WORKERS_MAX)
		atomic_store(&s->bad_index, 1);
	else
		atomic_fetch_add(&s->batches_by[index], 1);
	for (size_t i = 0; i < n; i++) {
		memcpy(&id, msgs[i]->data, sizeof(id));
		if (msgs[i]->tenant != msgs[0]->tenant)
			atomic_store(&s->mixed_batch, 1);
		if (id < TENANTS * PER_TENANT)
			atomic_fetch_add(&s->count[id], 1);
	}
	for (size_t i = 0; i < n; i++)
		msg_free(msgs[i]);
}

static struct fairq *new_queue(void)
{
	struct fairq_config cfg = { 1000, 1 << 20, 64 };
	struct err e = ERR_INIT;
	struct fairq *q = NULL;

	CHECK_INT(fairq_new(&q, &cfg, &e), 0);
	return q;
}

/* Pushes one message, waiting while the tenant's queue is full. */
static void push_wait(struct fairq *q, unsigned slot, uint32_t id)
{
	struct msg *m = msg_new(&id, sizeof(id));
	struct timespec pause = { 0, 100000 };
	size_t taken;

	if (!m)
		return;
	m->tenant = (uint16_t)slot;
	while (fairq_push(q, slot, &m, 1, &taken) == FAIRQ_FULL)
		nanosleep(&pause, NULL);
}

static void test_each_message_once(void)
{
	static struct seen s;
	struct fairq *q = new_queue();
	struct workers *w = NULL;
	struct err e = ERR_INIT;
	unsigned slots[TENANTS];
	char name[8];
	int once = 1;

	for (int t = 0; t < TENANTS; t++) {
		snprintf(name, sizeof(name), "t%d", t);
		slots[t] = (unsigned)fairq_slot(q, name, strlen(name));
	}
	CHECK_INT(workers_start(&w, q, THREADS, process, &s, &e), 0);
	CHECK_INT(workers_count(w), THREADS);
	for (uint32_t i = 0; i < PER_TENANT; i++)
		for (int t = 0; t < TENANTS; t++)
			push_wait(q, slots[t], (uint32_t)t * PER_TENANT + i);
	/* Close with work still queued: stop must wait for the workers to drain it. */
	fairq_close(q);
	workers_stop(w);
	CHECK_INT(fairq_total_depth(q), 0);
	for (size_t i = 0; i < TENANTS * PER_TENANT; i++)
		once &= atomic_load(&s.count[i]) == 1;
	CHECK(once);
	CHECK(!atomic_load(&s.bad_index));
	CHECK(!atomic_load(&s.mixed_batch));
	for (int i = THREADS; i < WORKERS_MAX; i++)
		CHECK_INT(atomic_load(&s.batches_by[i]), 0);
	fairq_free(q);
}

static void test_default_count_and_idle_stop(void)
{
	static struct seen s;
	struct fairq *q = new_queue();
	struct workers *w = NULL;
	struct err e = ERR_INIT;

	CHECK_INT(workers_start(&w, q, 0, process, &s, &e), 0);
	CHECK(workers_count(w) >= 1 && workers_count(w) <= WORKERS_MAX);
	/* Idle workers notice the close while waiting and exit. */
	fairq_close(q);
	workers_stop(w);
	fairq_free(q);
}

static void test_too_many(void)
{
	struct fairq *q = new_queue();
	struct workers *w = NULL;
	struct err e = ERR_INIT;

	CHECK_INT(workers_start(&w, q, WORKERS_MAX + 1, process, NULL, &e), -EINVAL);
	CHECK(w == NULL);
	CHECK(strstr(e.msg, "at most") != NULL);
	fairq_free(q);
}

int main(void)
{
	T_RUN(test_each_message_once);
	T_RUN(test_default_count_and_idle_stop);
	T_RUN(test_too_many);
	return t_done();
}
