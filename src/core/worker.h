/*
 * worker.h - the pool of worker threads that drains the fair queue.
 *
 * Each of the N threads pops batches (all of one tenant) from the fair queue and passes
 * them to the processing function with its own index 0..N-1, so the function can keep
 * per-thread state (arena, output buffers) in an array indexed by it. The function owns
 * the messages it is given and must msg_free() them.
 *
 * The function may block, and should when its output fails (store/spool.h spool_deliver
 * retries until the write succeeds): a blocked worker pops nothing, its tenant's queue fills
 * and the listeners apply their back-pressure (TCP/TLS senders paused, UDP drops counted).
 * It must therefore not block for ever once the queue is closed: the output gives up at its
 * own drain deadline and counts what it held as dropped.
 *
 * workers_stop() is called after fairq_close(): the threads finish what is queued, then
 * exit and are joined (so it waits for a blocked function). Start and stop from the main
 * thread.
 */
#ifndef CORE_WORKER_H
#define CORE_WORKER_H

#include <stddef.h>

struct err;
struct fairq;
struct msg;
struct workers;

typedef void worker_fn(void *ctx, unsigned index, struct msg **msgs, size_t n);

#define WORKERS_MAX 64
#define WORKER_BATCH 256

/* Starts n threads (n = 0: one per online CPU, at most WORKERS_MAX). */
int workers_start(struct workers **w, struct fairq *q, unsigned n, worker_fn *fn, void *ctx,
		  struct err *e);
unsigned workers_count(const struct workers *w);
/* Joins every thread once the closed queue is empty, then frees w. */
void workers_stop(struct workers *w);

#endif
