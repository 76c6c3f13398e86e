/* Unit tests of the fair queue: bounds, EPS buckets, DRR fairness, close and drain. */
#include "core/fairq.h"
#include "core/err.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "core/msg.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static struct fairq *new_queue(unsigned capacity, size_t max_bytes, unsigned quantum)
{
	struct fairq_config cfg = { capacity, max_bytes, quantum };
	struct err e = ERR_INIT;
	struct fairq *q = NULL;

	CHECK_INT(fairq_new(&q, &cfg, &e), 0);
	return q;
}

static struct msg *msg_of(size_t len)
{
	static const char filler[256];
	struct msg *m = msg_new(filler, (uint32_t)len);

	CHECK(m != NULL);
	return m;
}

/* Pushes n messages of len bytes one by one; returns how many were taken, *why the last
 * refusal. Refused messages are freed here. */
static size_t push_n(struct fairq *q, unsigned slot, size_t n, size_t len, int *why)
{
	size_t accepted = 0, taken;

	*why = FAIRQ_OK;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msg_of(len);
		int rc;

		m->tenant = (uint16_t)slot;
		rc = fairq_push(q, slot, &m, 1, &taken);

		accepted += taken;
		if (rc != FAIRQ_OK) {
			*why = rc;
			msg_free(m);
		}
	}
	return accepted;
}

/* Pops everything that is queued now; returns the count. */
static size_t drain(struct fairq *q)
{
	struct msg *out[64];
	size_t n, total = 0;

	while ((n = fairq_pop(q, out, 64, 0)) > 0) {
		for (size_t i = 0; i < n; i++)
			msg_free(out[i]);
		total += n;
	}
	return total;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_config_checked(void)
{
	struct fairq_config cfg = { 0, 1024, 8 };
	struct err e = ERR_INIT;
	struct fairq *q = (struct fairq *)1;

	CHECK_INT(fairq_new(&q, &cfg, &e), -EINVAL);
	CHECK(q == NULL);
	CHECK(strstr(e.msg, "capacity") != NULL);
}

static void test_slots(void)
{
	struct fairq *q = new_queue(8, 1024, 4);
	struct tenant_stats *st;
	char name[32];
	int a, b;

	a = fairq_slot(q, "alpha", 5);
	b = fairq_slot(q, "beta-extra", 4); /* only "beta" */
	CHECK_INT(a, 0);
	CHECK_INT(b, 1);
	CHECK_INT(fairq_slot(q, "alpha", 5), a);
	CHECK_STR(fairq_slot_name(q, (unsigned)b), "beta");
	CHECK_INT(fairq_slot_count(q), 2);
	CHECK(fairq_slot_name(q, 2) == NULL);
	CHECK(fairq_stats(q, 2) == NULL);
	st = fairq_stats(q, (unsigned)a);
	atomic_fetch_add(&st->parsed, 3);
	for (int i = 2; i < FAIRQ_MAX_TENANTS; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		if (fairq_slot(q, name, strlen(name)) != i)
			break;
	}
	CHECK_INT(fairq_slot_count(q), FAIRQ_MAX_TENANTS);
	CHECK_INT(fairq_slot(q, "one-too-many", 12), -ENOSPC);
	CHECK_INT(fairq_slot(q, "t4095", 5), 4095);
	/* Slots never move: a stats pointer stays valid as slots are added. */
	CHECK(fairq_stats(q, (unsigned)a) == st);
	CHECK_INT(atomic_load(&st->parsed), 3);
	fairq_free(q);
}

static void test_slot_names_are_counted(void)
{
	struct fairq *q = new_queue(8, 1024, 4);

	/* Names are (pointer, length): an embedded NUL makes another name, found again. */
	CHECK_INT(fairq_slot(q, "alpha", 5), 0);
	CHECK_INT(fairq_slot(q, "alpha\0x", 7), 1);
	CHECK_INT(fairq_slot(q, "alpha\0x", 7), 1);
	CHECK_INT(fairq_slot(q, "", 0), 2);
	CHECK_INT(fairq_slot(q, "", 0), 2);
	fairq_free(q);
}

static void test_capacity_full(void)
{
	struct fairq *q = new_queue(4, 1 << 20, 16);
	unsigned s = (unsigned)fairq_slot(q, "a", 1);
	struct msg *m[6];
	size_t taken;

	for (int i = 0; i < 6; i++)
		m[i] = msg_of(10);
	CHECK_INT(fairq_push(q, s, m, 6, &taken), FAIRQ_FULL);
	CHECK_INT(taken, 4);
	CHECK_INT(fairq_depth(q, s), 4);
	CHECK_INT(fairq_total_depth(q), 4);
	CHECK(!fairq_can_push(q, s));
	CHECK_INT(drain(q), 4);
	CHECK_INT(fairq_depth(q, s), 0);
	CHECK(fairq_can_push(q, s));
	/* The refused ones still belong to us and can be pushed now. */
	CHECK_INT(fairq_push(q, s, m + 4, 2, &taken), FAIRQ_OK);
	CHECK_INT(taken, 2);
	fairq_free(q); /* frees the two still queued */
}

static void test_max_bytes(void)
{
	struct fairq *q = new_queue(100, 100, 16);
	unsigned s = (unsigned)fairq_slot(q, "a", 1);
	int why;

	CHECK_INT(push_n(q, s, 3, 40, &why), 2);
	CHECK_INT(why, FAIRQ_FULL);
	CHECK_INT(push_n(q, s, 1, 20, &why), 1);
	CHECK_INT(why, FAIRQ_OK);
	CHECK_INT(drain(q), 3);
	CHECK_INT(push_n(q, s, 1, 100, &why), 1);
	CHECK_INT(push_n(q, s, 1, 1, &why), 0);
	CHECK_INT(why, FAIRQ_FULL);
	CHECK_INT(drain(q), 1);
	/* An empty queue takes one message larger than the limit: it must not wait forever. */
	CHECK_INT(push_n(q, s, 2, 150, &why), 1);
	CHECK_INT(why, FAIRQ_FULL);
	CHECK_INT(drain(q), 1);
	fairq_free(q);
}

static void test_eps_limit(void)
{
	struct fairq *q = new_queue(1000, 1 << 20, 16);
	unsigned s = (unsigned)fairq_slot(q, "a", 1);
	size_t first, later;
	int64_t t0;
	int why;

	/*
	 * Burst = eps: 20 at once, then one more per 50 ms. Pushing takes microseconds, but a
	 * busy machine may pause this thread; the bound counts the tokens of the time it took.
	 */
	t0 = mono_ns();
	fairq_set_eps(q, s, 20);
	first = push_n(q, s, 50, 10, &why);
	CHECK(first >= 20 && first <= 21 + (size_t)((mono_ns() - t0) / 50000000));
	CHECK_INT(why, FAIRQ_RATE_LIMITED);
	CHECK(!fairq_can_push(q, s));
	CHECK_INT(drain(q), first); /* popping gives no tokens back: only time does */
	CHECK(!fairq_can_push(q, s));
	sleep_ms(200); /* 20/s: about 4 tokens come back */
	CHECK(fairq_can_push(q, s));
	CHECK_INT(push_n(q, s, 1, 10, &why), 1);
	/* 0 lifts the limit at once. */
	fairq_set_eps(q, s, 0);
	CHECK_INT(push_n(q, s, 200, 10, &why), 200);
	CHECK_INT(why, FAIRQ_OK);
	/* A lower limit takes effect at once too. */
	drain(q);
	t0 = mono_ns();
	fairq_set_eps(q, s, 5);
	later = push_n(q, s, 50, 10, &why);
	CHECK(later <= 6 + (size_t)((mono_ns() - t0) / 200000000)); /* 5 at once, 1 per 200 ms */
	CHECK_INT(why, FAIRQ_RATE_LIMITED);
	fairq_free(q);
}

static void test_drr_fairness(void)
{
	enum { QUANTUM = 10, A_COUNT = 100000, B_COUNT = 100 };
	struct fairq *q = new_queue(A_COUNT, (size_t)1 << 30, QUANTUM);
	unsigned a = (unsigned)fairq_slot(q, "a", 1), b = (unsigned)fairq_slot(q, "b", 1);
	size_t popped_b = 0, pops = 0, n;
	struct msg *out[1000];
	int why;

	CHECK_INT(push_n(q, a, A_COUNT, 1, &why), A_COUNT);
	CHECK_INT(push_n(q, b, B_COUNT, 1, &why), B_COUNT);
	while (popped_b < B_COUNT && (n = fairq_pop(q, out, 1000, 0)) > 0) {
		pops++;
		CHECK(n <= QUANTUM);
		for (size_t i = 0; i < n; i++) {
			CHECK_INT(out[i]->tenant, out[n - 1]->tenant); /* one tenant per batch */
			popped_b += out[i]->tenant == b;
			msg_free(out[i]);
		}
	}
	/* B takes one turn of QUANTUM per round of two tenants. */
	CHECK_INT(popped_b, B_COUNT);
	CHECK(pops <= 2 * (B_COUNT / QUANTUM) + 2);
	CHECK_INT(fairq_depth(q, b), 0);
	CHECK_INT(fairq_total_depth(q), A_COUNT - (pops - B_COUNT / QUANTUM) * QUANTUM);
	fairq_free(q);
}

static void test_small_batches_take_turns(void)
{
	struct fairq *q = new_queue(100, 1 << 20, 8);
	unsigned a = (unsigned)fairq_slot(q, "a", 1), b = (unsigned)fairq_slot(q, "b", 1);
	struct msg *out[2];
	int why;

	push_n(q, a, 20, 1, &why);
	push_n(q, b, 20, 1, &why);
	/* A consumer asking for fewer than a quantum still alternates between tenants. */
	for (int i = 0; i < 10; i++) {
		CHECK_INT(fairq_pop(q, out, 2, 0), 2);
		msg_free(out[0]);
		msg_free(out[1]);
		CHECK_INT(fairq_depth(q, a) + fairq_depth(q, b), 40 - 2 * (i + 1));
		CHECK(fairq_depth(q, b) - fairq_depth(q, a) <= 2); /* A went first */
		CHECK(fairq_depth(q, a) <= fairq_depth(q, b));
	}
	fairq_free(q);
}

static void test_pop_timeout(void)
{
	struct fairq *q = new_queue(10, 1024, 4);
	struct msg *out[4];

	CHECK_INT(fairq_pop(q, out, 4, 20), 0);
	CHECK(!fairq_closed(q));
	fairq_free(q);
}

static void *blocked_pop(void *arg)
{
	struct msg *out[4];

	return (void *)(uintptr_t)fairq_pop(arg, out, 4, -1);
}

static void test_close_wakes_consumers(void)
{
	struct fairq *q = new_queue(10, 1024, 4);
	pthread_t t[2];
	void *ret;

	for (int i = 0; i < 2; i++)
		CHECK_INT(pthread_create(&t[i], NULL, blocked_pop, q), 0);
	sleep_ms(20);
	fairq_close(q);
	for (int i = 0; i < 2; i++) {
		CHECK_INT(pthread_join(t[i], &ret), 0);
		CHECK(ret == NULL); /* nothing popped: woken by the close */
	}
	CHECK(fairq_closed(q));
	fairq_free(q);
}

static void test_close_drain(void)
{
	struct fairq *q = new_queue(10, 1024, 4);
	unsigned s = (unsigned)fairq_slot(q, "a", 1);
	struct msg *m = msg_of(1), *out[4];
	size_t taken;
	int why;

	push_n(q, s, 6, 1, &why);
	fairq_close(q);
	CHECK_INT(fairq_push(q, s, &m, 1, &taken), FAIRQ_CLOSED);
	CHECK_INT(taken, 0);
	msg_free(m);
	CHECK(!fairq_can_push(q, s));
	/* What was queued before the close is still handed out, then pop returns 0 at once. */
	CHECK_INT(drain(q), 6);
	CHECK_INT(fairq_pop(q, out, 4, -1), 0);
	CHECK_INT(fairq_total_depth(q), 0);
	fairq_free(q);
}

static void test_out_of_memory(void)
{
	struct fairq_config cfg = { 1000, 1 << 20, 8 };
	struct err e = ERR_INIT;
	struct fairq *q = NULL;
	struct msg *m[100];
	size_t taken;
	unsigned s;

	mem_fail_after(0);
	CHECK_INT(fairq_new(&q, &cfg, &e), -ENOMEM);
	mem_fail_after(-1);
	q = new_queue(1000, 1 << 20, 8);
	mem_fail_after(0);
	CHECK_INT(fairq_slot(q, "a", 1), -ENOMEM);
	mem_fail_after(-1);
	s = (unsigned)fairq_slot(q, "a", 1);
	for (int i = 0; i < 100; i++)
		m[i] = msg_of(1);
	/* The ring cannot grow: the messages stay the caller's. */
	log_set_level(LOG_LEVEL_ERROR);
	mem_fail_after(0);
	CHECK_INT(fairq_push(q, s, m, 100, &taken), FAIRQ_FULL);
	CHECK_INT(taken, 0);
	mem_fail_after(-1);
	log_set_level(LOG_LEVEL_INFO);
	CHECK_INT(fairq_push(q, s, m, 100, &taken), FAIRQ_OK);
	CHECK_INT(taken, 100);
	CHECK_INT(fairq_depth(q, s), 100);
	fairq_free(q);
}

/*
 * Flood: tenant A pushes at 20x its EPS limit into a queue it keeps full, tenant B sends a
 * steady trickle, two slow consumers. B's messages must all arrive, once and in order, and
 * none may wait behind A's backlog. The test counts instead of timing (two busy cores make
 * any delay or throughput ratio flaky): B's pushes and every pop happen under order_lock,
 * so for each B message we know exactly how many A messages were popped between its push
 * and its pop. Deficit round-robin with a quantum of 2 (and pops of at most 2) lets A take
 * at most one turn per B turn: a B message with k of B's messages ahead of it waits behind
 * at most QUANTUM * ((k + QUANTUM) / QUANTUM) of A's, however deep A's queue is. A FIFO
 * would have made the first one wait behind all FLOOD_CAPACITY of them.
 */
enum { FLOOD_EPS = 3000, FLOOD_PER_MS = FLOOD_EPS * 20 / 1000, B_MSGS = 100,
       FLOOD_CAPACITY = 800, FLOOD_QUANTUM = 2 };

struct flood {
	struct fairq *q;
	unsigned a, b;
	atomic_bool stop_a;
	size_t a_accepted, a_refused;
	pthread_mutex_t order_lock;   /* B's pushes and every pop, so the counts below are exact */
	size_t a_popped;              /* A messages popped so far, under order_lock */
	size_t a_popped_at[B_MSGS];   /* a_popped when B message seq was pushed */
	size_t b_ahead[B_MSGS];       /* B's queue depth when it was pushed */
	size_t a_depth_at[B_MSGS];    /* A's queue depth when it was pushed */
	size_t a_behind[B_MSGS];      /* A messages popped between its push and its pop */
	bool b_pushed[B_MSGS];
};

struct consumer_result {
	struct flood *f;
	size_t got[2];           /* by tenant: 0 = A, 1 = B */
	uint32_t last_b_seq;     /* B sequence numbers are seen in increasing order */
	bool b_in_order;
	bool b_seen[B_MSGS];
};

static struct msg *tagged(unsigned tenant, uint32_t seq)
{
	struct msg *m = msg_new(&seq, sizeof(seq));

	if (m)
		m->tenant = (uint16_t)tenant;
	return m;
}

static void flood_push(struct flood *f)
{
	struct msg *m[FLOOD_PER_MS];
	size_t taken;

	for (int i = 0; i < FLOOD_PER_MS; i++)
		m[i] = tagged(f->a, 0);
	fairq_push(f->q, f->a, m, FLOOD_PER_MS, &taken);
	f->a_accepted += taken;
	f->a_refused += FLOOD_PER_MS - taken;
	for (size_t i = taken; i < FLOOD_PER_MS; i++)
		msg_free(m[i]);
}

static void *flood_a(void *arg)
{
	struct flood *f = arg;

	while (!atomic_load(&f->stop_a)) {
		flood_push(f);
		sleep_ms(1);
	}
	return NULL;
}

static void push_b(struct flood *f, uint32_t seq)
{
	struct msg *m = tagged(f->b, seq);
	size_t taken;

	pthread_mutex_lock(&f->order_lock);
	f->a_popped_at[seq] = f->a_popped;
	f->b_ahead[seq] = fairq_depth(f->q, f->b);
	f->a_depth_at[seq] = fairq_depth(f->q, f->a);
	f->b_pushed[seq] = fairq_push(f->q, f->b, &m, 1, &taken) == FAIRQ_OK;
	pthread_mutex_unlock(&f->order_lock);
	if (!f->b_pushed[seq])
		msg_free(m);
}

static void *steady_b(void *arg)
{
	struct flood *f = arg;

	for (uint32_t seq = 1; seq < B_MSGS; seq++) { /* 0 was pushed before the threads */
		push_b(f, seq);
		sleep_ms(10);
	}
	return NULL;
}

static void *slow_consumer(void *arg)
{
	struct consumer_result *r = arg;
	struct flood *f = r->f;
	struct msg *out[FLOOD_QUANTUM];
	size_t n;

	r->b_in_order = true;
	for (;;) {
		pthread_mutex_lock(&f->order_lock);
		n = fairq_pop(f->q, out, FLOOD_QUANTUM, 50);
		for (size_t i = 0; i < n; i++) {
			uint32_t seq;

			if (out[i]->tenant != f->b) {
				f->a_popped++;
				continue;
			}
			memcpy(&seq, out[i]->data, sizeof(seq));
			if (seq < B_MSGS)
				f->a_behind[seq] = f->a_popped - f->a_popped_at[seq];
		}
		pthread_mutex_unlock(&f->order_lock);
		if (!n && fairq_closed(f->q))
			break;
		for (size_t i = 0; i < n; i++) {
			int is_b = out[i]->tenant == f->b;
			uint32_t seq;

			r->got[is_b]++;
			if (is_b) {
				memcpy(&seq, out[i]->data, sizeof(seq));
				if (seq < B_MSGS)
					r->b_seen[seq] = true;
				if (r->got[1] > 1 && seq <= r->last_b_seq)
					r->b_in_order = false;
				r->last_b_seq = seq;
			}
			msg_free(out[i]);
		}
		if (n)
			sleep_ms(2); /* processing: two consumers take ~1000 msgs/s, A offers more */
	}
	return NULL;
}

static void test_flood_does_not_delay_others(void)
{
	struct flood f = { .q = new_queue(FLOOD_CAPACITY, 1 << 24, FLOOD_QUANTUM) };
	struct consumer_result r[2];
	pthread_t ta, tb, tc[2];
	size_t got_a = 0, got_b = 0, worst = 0, pushed_b = 0;
	int64_t t0 = mono_ns();
	double seconds;

	memset(r, 0, sizeof(r));
	pthread_mutex_init(&f.order_lock, NULL);
	f.a = (unsigned)fairq_slot(f.q, "flood", 5);
	f.b = (unsigned)fairq_slot(f.q, "steady", 6);
	fairq_set_eps(f.q, f.a, FLOOD_EPS);
	/* A's queue is full before anything else happens: B's first message meets the whole backlog. */
	while (fairq_depth(f.q, f.a) < FLOOD_CAPACITY && f.a_refused == 0)
		flood_push(&f);
	CHECK_INT(fairq_depth(f.q, f.a), FLOOD_CAPACITY);
	CHECK(f.a_refused > 0);
	push_b(&f, 0);
	for (int i = 0; i < 2; i++) {
		r[i].f = &f;
		pthread_create(&tc[i], NULL, slow_consumer, &r[i]);
	}
	pthread_create(&ta, NULL, flood_a, &f);
	pthread_create(&tb, NULL, steady_b, &f);
	pthread_join(tb, NULL);
	atomic_store(&f.stop_a, true);
	pthread_join(ta, NULL);
	seconds = (double)(mono_ns() - t0) / 1e9;
	fairq_close(f.q);
	for (int i = 0; i < 2; i++) {
		pthread_join(tc[i], NULL);
		got_a += r[i].got[0];
		got_b += r[i].got[1];
		CHECK(r[i].b_in_order);
	}
	/* Every B message arrived exactly once; A got no more than its bucket allows. */
	for (int seq = 0; seq < B_MSGS; seq++) {
		CHECK(f.b_pushed[seq]);
		pushed_b += f.b_pushed[seq];
		CHECK(r[0].b_seen[seq] || r[1].b_seen[seq]);
	}
	CHECK_INT(got_b, B_MSGS);
	CHECK_INT(pushed_b, B_MSGS);
	CHECK_INT(got_a, f.a_accepted);
	CHECK(f.a_accepted <= (size_t)(FLOOD_EPS * (seconds + 1.0)));
	/* B's first message met A's full queue and was served after at most one turn of A's. */
	CHECK_INT(f.a_depth_at[0], FLOOD_CAPACITY);
	CHECK_INT(f.b_ahead[0], 0);
	CHECK(f.a_behind[0] <= FLOOD_QUANTUM);
	/* No B message waited behind more than A's turns between its own queue's turns. */
	for (int seq = 0; seq < B_MSGS; seq++) {
		size_t bound = FLOOD_QUANTUM * ((f.b_ahead[seq] + FLOOD_QUANTUM) / FLOOD_QUANTUM);

		t_check(f.a_behind[seq] <= bound, __FILE__, __LINE__,
			"B message %d (%zu of B's ahead) waited behind %zu of A's, more than %zu",
			seq, f.b_ahead[seq], f.a_behind[seq], bound);
		worst = f.a_behind[seq] > worst ? f.a_behind[seq] : worst;
	}
	printf("flood: A accepted %zu refused %zu; B %zu, each behind at most %zu of A's "
	       "(A's queue held %zu when B began)\n",
	       f.a_accepted, f.a_refused, got_b, worst, f.a_depth_at[0]);
	pthread_mutex_destroy(&f.order_lock);
	fairq_free(f.q);
}

/* What the router and a worker do: route n messages into slot, then pop and count them. */
static void route_n(struct fairq *q, unsigned slot, size_t n)
{
	int why;

	atomic_fetch_add(&fairq_stats(q, slot)->routed, n);
	CHECK_INT(push_n(q, slot, n, 10, &why), n);
}

static size_t work_all(struct fairq *q)
{
	struct msg *out[64];
	size_t n, total = 0;

	while ((n = fairq_pop(q, out, 64, 0)) > 0) {
		unsigned slot = out[0]->tenant;

		for (size_t i = 0; i < n; i++)
			msg_free(out[i]);
		atomic_fetch_add(&fairq_stats(q, slot)->parsed, n);
		total += n;
	}
	return total;
}

static void test_retired_slot_freed_only_when_quiet(void)
{
	struct fairq *q = new_queue(16, 4096, 4);
	int a = fairq_slot(q, "a", 1), b = fairq_slot(q, "b", 1), c;
	unsigned gen;

	route_n(q, (unsigned)a, 3);
	fairq_slot_retire(q, (unsigned)a);
	CHECK(!fairq_slot_in_use(q, (unsigned)a));
	CHECK(fairq_slot_in_use(q, (unsigned)b));
	/* Queued messages keep it. */
	CHECK_INT(fairq_reclaim(q), 0);
	CHECK_STR(fairq_slot_name(q, (unsigned)a), "a");
	/* Popped but not yet counted by the worker: still kept. */
	{
		struct msg *out[8];
		size_t n = fairq_pop(q, out, 8, 0);

		CHECK_INT(n, 3);
		CHECK_INT(fairq_reclaim(q), 0);
		for (size_t i = 0; i < n; i++)
			msg_free(out[i]);
		atomic_fetch_add(&fairq_stats(q, (unsigned)a)->parse_failed, 1);
		CHECK_INT(fairq_reclaim(q), 0);
		atomic_fetch_add(&fairq_stats(q, (unsigned)a)->parsed, 2);
	}
	/* A tenant added back before its slot is freed keeps it, counters and all. */
	CHECK_INT(fairq_slot(q, "a", 1), a);
	CHECK(fairq_slot_in_use(q, (unsigned)a));
	CHECK_INT(fairq_reclaim(q), 0);
	CHECK_INT(atomic_load(&fairq_stats(q, (unsigned)a)->parsed), 2);
	fairq_slot_retire(q, (unsigned)a);
	gen = fairq_slot_gen(q, (unsigned)a);
	CHECK_INT(fairq_reclaim(q), 1);
	CHECK(!fairq_slot_in_use(q, (unsigned)a));
	/* The next new tenant gets the freed slot, with a new generation and zero counters. */
	c = fairq_slot(q, "c", 1);
	CHECK_INT(c, a);
	CHECK_STR(fairq_slot_name(q, (unsigned)c), "c");
	CHECK(fairq_slot_gen(q, (unsigned)c) != gen);
	CHECK_INT(atomic_load(&fairq_stats(q, (unsigned)c)->parsed), 0);
	CHECK_INT(fairq_slot_count(q), 2);
	/* The old name is gone from the index: "a" is a new tenant now. */
	CHECK_INT(fairq_slot(q, "a", 1), 2);
	CHECK_INT(fairq_slot(q, "b", 1), b);
	CHECK_INT(fairq_slot(q, "x123456789x123456789x123456789x123456789x123456789x1234567890"
			      "1234", 64), -EINVAL);
	fairq_free(q);
}

/* A removed tenant leaves /metrics at once (its slot may still hold messages). */
static void test_removed_tenant_leaves_metrics(void)
{
	struct fairq *q = new_queue(16, 4096, 4);
	struct buf out = BUF_INIT(1 << 20);
	int a = fairq_slot(q, "gone-soon", 9);

	fairq_slot(q, "stays", 5);
	CHECK_INT(fairq_metrics_register(q), 0);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(out.len && memmem(out.p, out.len, "tenant=\"gone-soon\"", 18));
	fairq_slot_retire(q, (unsigned)a);
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(!memmem(out.p, out.len, "gone-soon", 9));
	CHECK(memmem(out.p, out.len, "tenant=\"stays\"", 14));
	buf_release(&out);
	fairq_free(q);
}

/* 5,000 tenants come and go through "reloads" with messages in flight: no slot leaks. */
static void test_tenant_churn(void)
{
	struct fairq *q = new_queue(16, 4096, 4);
	int live[4] = { -1, -1, -1, -1 };
	char name[32];
	size_t routed = 0, worked = 0;

	for (int t = 0; t < 5000; t++) {
		int slot;

		fairq_reclaim(q); /* start of a reload */
		snprintf(name, sizeof(name), "tenant-%d", t);
		slot = fairq_slot(q, name, strlen(name));
		if (slot < 0) {
			CHECK_INT(slot, 0);
			break;
		}
		route_n(q, (unsigned)slot, 2);
		routed += 2;
		/* the oldest of four live tenants is removed, its messages still queued */
		if (live[t % 4] >= 0)
			fairq_slot_retire(q, (unsigned)live[t % 4]);
		live[t % 4] = slot;
		if (t % 3 == 0)
			worked += work_all(q);
	}
	worked += work_all(q);
	CHECK_INT(worked, routed);
	CHECK(fairq_slot_count(q) <= 16);
	fairq_reclaim(q);
	for (unsigned i = 0, in_use = 0; i < fairq_slot_count(q); i++) {
		in_use += fairq_slot_in_use(q, i);
		if (i + 1 == fairq_slot_count(q))
			CHECK_INT(in_use, 4);
	}
	fairq_free(q);
}

/*
 * A slot whose output is blocked is left queued (its worker retries) while the others are
 * served; a full blocked slot refuses with FAIRQ_OUTPUT_BLOCKED; after the close, or once
 * unblocked, it is popped again.
 */
static void test_output_blocked_slot(void)
{
	struct fairq *q = new_queue(4, 1 << 20, 64);
	int a = fairq_slot(q, "a", 1), b = fairq_slot(q, "b", 1), why;
	struct msg *out[16];
	size_t n;

	CHECK_INT(push_n(q, (unsigned)a, 3, 10, &why), 3);
	CHECK_INT(push_n(q, (unsigned)b, 2, 10, &why), 2);
	fairq_set_output_blocked(q, (unsigned)a, true);
	CHECK(fairq_output_blocked(q, (unsigned)a));
	CHECK_INT(push_n(q, (unsigned)a, 2, 10, &why), 1);
	CHECK_INT(why, FAIRQ_OUTPUT_BLOCKED);
	CHECK_INT(push_n(q, (unsigned)b, 3, 10, &why), 2);
	CHECK_INT(why, FAIRQ_FULL);
	n = fairq_pop(q, out, 16, 0);
	CHECK_INT(n, 4);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(out[i]->tenant, b);
		msg_free(out[i]);
	}
	CHECK_INT(fairq_pop(q, out, 16, 10), 0); /* only a's, blocked: a timeout */
	CHECK_INT(fairq_depth(q, (unsigned)a), 4);
	fairq_set_output_blocked(q, (unsigned)a, false);
	CHECK_INT(fairq_pop(q, out, 2, 0), 2);
	msg_free(out[0]);
	msg_free(out[1]);
	fairq_set_output_blocked(q, (unsigned)a, true);
	CHECK_INT(fairq_pop(q, out, 16, 0), 0);
	fairq_close(q);
	CHECK_INT(drain(q), 2); /* closed: drained even while blocked */
	fairq_free(q);
}

int main(void)
{
	T_RUN(test_config_checked);
	T_RUN(test_slots);
	T_RUN(test_slot_names_are_counted);
	T_RUN(test_retired_slot_freed_only_when_quiet);
	T_RUN(test_tenant_churn);
	T_RUN(test_removed_tenant_leaves_metrics);
	T_RUN(test_capacity_full);
	T_RUN(test_max_bytes);
	T_RUN(test_eps_limit);
	T_RUN(test_drr_fairness);
	T_RUN(test_small_batches_take_turns);
	T_RUN(test_pop_timeout);
	T_RUN(test_close_wakes_consumers);
	T_RUN(test_close_drain);
	T_RUN(test_out_of_memory);
	T_RUN(test_flood_does_not_delay_others);
	T_RUN(test_output_blocked_slot);
	return t_done();
}
