/*
 * bench/fairq - push+pop throughput of the fair queue.
 *
 * Two producer threads push batches of 64 messages into 8 tenants (unlimited EPS) while
 * two consumer threads pop batches of 64 and free them, as listeners and workers do.
 * Message allocation and freeing are included. Prints one line: "fairq: N msgs/s".
 *
 *   build/release/bench/fairq [MESSAGES]     (default 20,000,000)
 */
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/err.h"
#include "core/fairq.h"
#include "core/msg.h"

#define BATCH 64
#define TENANTS 8
#define PRODUCERS 2
#define CONSUMERS 2

static struct fairq *q;
static long per_producer;
static atomic_long consumed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *producer(void *arg)
{
	unsigned first = (unsigned)(uintptr_t)arg;
	struct msg *m[BATCH];
	long sent = 0;

	for (unsigned t = first; sent < per_producer; t = (t + 1) % TENANTS) {
		size_t n = 0, taken;

		for (; n < BATCH; n++) {
			m[n] = msg_new("<13>Nov 25 12:00:00 host app: a benchmark message", 50);
			if (!m[n]) {
				fprintf(stderr, "fairq: out of memory\n");
				exit(1);
			}
		}
		for (size_t off = 0; off < n; off += taken)
			if (fairq_push(q, t, m + off, n - off, &taken) != FAIRQ_OK)
				sched_yield(); /* full: let the consumers catch up */
		sent += BATCH;
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct msg *m[BATCH];
	size_t n;

	while ((n = fairq_pop(q, m, BATCH, 100)) || !fairq_closed(q)) {
		for (size_t i = 0; i < n; i++)
			msg_free(m[i]);
		atomic_fetch_add_explicit(&consumed, (long)n, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct fairq_config cfg = { .capacity = 4096, .max_bytes = 64 << 20, .quantum = BATCH };
	pthread_t prod[PRODUCERS], cons[CONSUMERS];
	long total = argc > 1 ? atol(argv[1]) : 20000000;
	struct err e = ERR_INIT;
	char name[16];
	double t0, dt;

	if (total < BATCH * PRODUCERS || fairq_new(&q, &cfg, &e) < 0) {
		fprintf(stderr, "fairq: %s\n", e.msg[0] ? e.msg : "usage: fairq [MESSAGES]");
		return 1;
	}
	for (int i = 0; i < TENANTS; i++) {
		snprintf(name, sizeof(name), "tenant%d", i);
		fairq_slot(q, name, strlen(name));
	}
	per_producer = total / PRODUCERS / BATCH * BATCH;
	t0 = now_s();
	for (int i = 0; i < CONSUMERS; i++)
		pthread_create(&cons[i], NULL, consumer, NULL);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&prod[i], NULL, producer, (void *)(uintptr_t)(i * TENANTS / 2));
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(prod[i], NULL);
	fairq_close(q);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(cons[i], NULL);
	dt = now_s() - t0;
	printf("fairq: %.2f M msgs/s (%ld messages, batches of %d, %d producers, "
	       "%d consumers, %d tenants, %.2f s)\n", atomic_load(&consumed) / dt / 1e6,
	       atomic_load(&consumed), BATCH, PRODUCERS, CONSUMERS, TENANTS, dt);
	fairq_free(q);
	return atomic_load(&consumed) == per_producer * PRODUCERS ? 0 : 1;
}
