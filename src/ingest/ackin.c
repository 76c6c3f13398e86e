/*
 * ackin.c - acknowledged inputs: decode through a pipeline of our own, append to the sink's
 * ack shard, wait for the commit.
 */
#include "ingest/ackin.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define LOG_MODULE "ackin"
#include "core/buf.h"
#include "core/fairq.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "store/meta.h"
#include "store/sink.h"
#include "store/wal.h"
#include "store/spool.h"

/* koban_ackin_events_total{result} */
enum ackin_result { ACKIN_WRITTEN, ACKIN_FAILED, ACKIN_REFUSED, ACKIN_RESULTS };

static const char *const result_names[ACKIN_RESULTS] = { "written", "failed", "refused" };

/*
 * A tenant's koban.db id, looked up again when its fair-queue slot changes generation and
 * at least every ID_TTL_NS (a tenant removed and added again keeps its name and slot, not
 * its id).
 */
#define ID_TTL_NS (5 * NS_PER_SEC)

struct id_entry {
	bool valid;
	unsigned gen;
	int64_t until_ns;  /* time_mono_ns() after which it is looked up again */
	uint64_t id;
};

struct ackin_slot {
	bool busy;
	struct ackin_batch *batch; /* the batch decoding on it */
	struct msg *scratch;       /* ackin_add's message, max_message_size bytes of room */
	struct buf copy;           /* output.file: the appended lines, for spool_deliver */
};

#define SOURCE_NAMES_MAX 4096   /* distinct source names kept for the pipeline's life */
#define SOURCE_OTHER "_other"   /* the name of sources past that */

struct ackin {
	struct ackin_config cfg;
	struct pipeline *p;
	struct meta *meta;         /* under id_lock */
	pthread_mutex_t lock;      /* slots */
	pthread_cond_t freed;
	pthread_mutex_t id_lock;   /* meta, ids */
	struct ackin_slot slot[ACKIN_SLOTS_MAX];
	/* fairness between tenants (take_slot), under lock */
	unsigned share;                    /* slots a tenant holds while another waits */
	uint8_t held[FAIRQ_MAX_TENANTS];   /* decoding slots held, by tenant slot */
	uint16_t waiting[FAIRQ_MAX_TENANTS]; /* batches waiting for one, by tenant slot */
	unsigned starving;                 /* tenants waiting while below their share */
	struct id_entry ids[FAIRQ_MAX_TENANTS];
	char *names[SOURCE_NAMES_MAX]; /* under id_lock: the batches' source names (msg.source) */
	unsigned n_names;
	atomic_uint_fast64_t events[ACKIN_RESULTS];
	bool metrics;
};

static void count(struct ackin *a, enum ackin_result r, uint64_t n)
{
	if (n)
		atomic_fetch_add_explicit(&a->events[r], n, memory_order_relaxed);
}

static int collect_events(struct metrics_out *o, void *ctx)
{
	struct ackin *a = ctx;
	int rc = 0;

	for (unsigned i = 0; i < ACKIN_RESULTS && !rc; i++)
		rc = metrics_sample(o, atomic_load_explicit(&a->events[i], memory_order_relaxed),
				    "result", result_names[i], NULL);
	return rc;
}

/* ---- the pipeline's output: lines into the ack shard ---- */

static uint32_t count_lines(const char *p, size_t len)
{
	uint32_t n = 0;

	for (const char *end = p + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		n++;
	return n;
}

/* Lines of lines[0..len) that fit one sink_write, and their bytes; 0 lines: one too long. */
static size_t chunk_of(const char *p, size_t len, uint32_t *n)
{
	size_t used = 0;

	*n = 0;
	while (used < len) {
		const char *nl = memchr(p + used, '\n', len - used);
		size_t next = nl ? (size_t)(nl - p) + 1 : len;

		if (next > SINK_RECORD_MAX)
			break;
		used = next;
		(*n)++;
	}
	return used;
}

static void batch_fail(struct ackin_batch *b, int rc, const struct err *e)
{
	if (b->rc)
		return;
	b->rc = rc;
	b->e = *e;
	if (!b->e.msg[0])
		err_set(&b->e, rc, "the events could not be written: %s", strerror(-rc));
}

/* Appends n whole lines p[0..len) of b's tenant to the ack shard: 0, or b's failure. */
static int write_chunk(struct ackin *a, struct ackin_batch *b, const char *p, size_t len,
		       uint32_t n)
{
	/* a view of the lines: sink_write leaves the buffer as it was */
	struct buf chunk = { .p = (char *)p, .len = len, .cap = len, .max = len };
	struct err e = ERR_INIT;
	uint64_t lsn;
	int rc;

	if ((rc = sink_write(a->cfg.sink, sink_ack_shard(a->cfg.sink), b->tenant_id, &chunk, n,
			     &lsn, &e)) < 0) {
		batch_fail(b, rc, &e);
		return rc;
	}
	if (!b->first_lsn)
		b->first_lsn = lsn;
	b->lsn = lsn;
	b->events += n;
	count(a, ACKIN_WRITTEN, n);
	return 0;
}

/*
 * output.file: lines appended to the WAL also go to the tenant's JSON file, as the workers'
 * do. spool_deliver retries and counts its own failures (koban_output_errors_total), and
 * the events are stored whatever the file does: its result does not fail the batch.
 */
static void file_copy(struct ackin *a, unsigned worker, unsigned slot, const char *lines,
		      size_t len)
{
	struct buf *copy = &a->slot[worker].copy;

	buf_reset(copy);
	if (buf_add(copy, lines, len) < 0) {
		spool_count_too_large(a->cfg.spool, slot, fairq_slot_name(a->cfg.q, slot), len);
		return;
	}
	if (spool_deliver(a->cfg.spool, slot, fairq_slot_name(a->cfg.q, slot), copy) < 0)
		log_debug("the JSON file output failed (counted in koban_output_errors_total)");
}

/*
 * struct pipeline_output.write_lines: the batch decoding on `worker` appends its lines, in
 * records of at most SINK_RECORD_MAX bytes; after a failure the rest is counted as failed.
 */
static int write_lines(void *ctx, unsigned worker, unsigned slot, struct buf *lines,
		       uint32_t count_hint)
{
	struct ackin *a = ctx;
	struct ackin_batch *b = a->slot[worker].batch;
	size_t off = 0;

	while (off < lines->len && !b->rc) {
		uint32_t n;
		size_t used = chunk_of(lines->p + off, lines->len - off, &n);
		struct err e = ERR_INIT;

		if (!n) {
			batch_fail(b, err_set(&e, -EMSGSIZE, "an event of more than %u bytes of "
					      "JSON", SINK_RECORD_MAX), &e);
			break;
		}
		if (write_chunk(a, b, lines->p + off, used, n) < 0)
			break;
		if (a->cfg.spool)
			file_copy(a, worker, slot, lines->p + off, used);
		off += used;
	}
	if (off < lines->len)
		count(a, ACKIN_FAILED, count_lines(lines->p + off, lines->len - off));
	return b->rc;
}

static void too_large(void *ctx, unsigned slot, size_t bytes)
{
	struct ackin *a = ctx;

	sink_count_too_large(a->cfg.sink, slot, bytes);
}

static const char *tenant_name(void *ctx, unsigned slot)
{
	return fairq_slot_name(ctx, slot);
}

static unsigned tenant_gen(void *ctx, unsigned slot)
{
	return fairq_slot_gen(ctx, slot);
}

/* ---- tenants ---- */

int ackin_tenant_id(struct ackin *a, const char *name, uint64_t *id, struct err *e)
{
	char esc[META_ESCAPE_MAX];
	int64_t found = -1;
	int rc;

	pthread_mutex_lock(&a->id_lock);
	rc = meta_tenant_id(a->meta, name, &found, e);
	pthread_mutex_unlock(&a->id_lock);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (found < 0)
		return err_set(e, -ENOENT, "no tenant %s in koban.db", meta_escape(name, esc));
	*id = (uint64_t)found;
	return 0;
}

/* The koban.db id of fair-queue slot's tenant, remembered (struct id_entry). */
static int slot_tenant_id(struct ackin *a, unsigned slot, uint64_t *id, struct err *e)
{
	struct id_entry *x;
	unsigned gen;
	int rc;

	if (slot >= FAIRQ_MAX_TENANTS || slot >= fairq_slot_count(a->cfg.q))
		return err_set(e, -EINVAL, "tenant slot %u does not exist", slot);
	gen = fairq_slot_gen(a->cfg.q, slot);
	x = &a->ids[slot];
	pthread_mutex_lock(&a->id_lock);
	if (x->valid && x->gen == gen && time_mono_ns() < x->until_ns) {
		*id = x->id;
		pthread_mutex_unlock(&a->id_lock);
		return 0;
	}
	pthread_mutex_unlock(&a->id_lock);
	if ((rc = ackin_tenant_id(a, fairq_slot_name(a->cfg.q, slot), id, e)) < 0)
		return rc;
	pthread_mutex_lock(&a->id_lock);
	*x = (struct id_entry){ .valid = true, .gen = gen, .until_ns = time_mono_ns() + ID_TTL_NS,
				.id = *id };
	pthread_mutex_unlock(&a->id_lock);
	return 0;
}

/* A tenant removed and made again keeps its slot but not its id: look it up afresh. */
static void forget_id(struct ackin *a, unsigned slot)
{
	pthread_mutex_lock(&a->id_lock);
	a->ids[slot].valid = false;
	pthread_mutex_unlock(&a->id_lock);
}

/*
 * The pipeline keeps source names (clock-skew counters, struct msg's contract): a copy that
 * lives as long as ackin, made once per name. NULL stays NULL.
 */
static const char *source_name(struct ackin *a, const char *name)
{
	const char *found = NULL;

	if (!name)
		return NULL;
	pthread_mutex_lock(&a->id_lock);
	for (unsigned i = 0; i < a->n_names && !found; i++)
		if (!strcmp(a->names[i], name))
			found = a->names[i];
	if (!found && a->n_names < SOURCE_NAMES_MAX && (a->names[a->n_names] = mem_strdup(name)))
		found = a->names[a->n_names++];
	pthread_mutex_unlock(&a->id_lock);
	return found ? found : SOURCE_OTHER;
}

/* ---- batches ---- */

/* A free slot's index, or -1. Under a->lock. */
static int free_slot(struct ackin *a)
{
	for (unsigned i = 0; i < a->cfg.slots; i++)
		if (!a->slot[i].busy)
			return (int)i;
	return -1;
}

/*
 * Fairness between tenants: a tenant takes a free slot while it holds fewer than its share
 * (half the slots, rounded up), or beyond that only while no tenant below its share waits;
 * one tenant alone can use every slot, a flood of one cannot keep another out.
 */
static bool starves(const struct ackin *a, unsigned t)
{
	return a->waiting[t] && a->held[t] < a->share;
}

/* Changes tenant t's slots held and batches waiting, keeping a->starving right. */
static void tenant_change(struct ackin *a, unsigned t, int held, int waiting)
{
	bool before = starves(a, t);

	a->held[t] = (uint8_t)(a->held[t] + held);
	a->waiting[t] = (uint16_t)(a->waiting[t] + waiting);
	a->starving = a->starving + starves(a, t) - before;
}

static bool may_take(const struct ackin *a, unsigned t)
{
	return a->held[t] < a->share || a->starving == 0;
}

/* A decoding slot for tenant t, waiting up to wait_ms (-1: no limit); -1 when none. */
static int take_slot(struct ackin *a, unsigned t, int wait_ms)
{
	int64_t end = time_mono_ns() + (int64_t)(wait_ms > 0 ? wait_ms : 0) * 1000000;
	struct timespec until = { end / 1000000000, end % 1000000000 };
	int i;

	pthread_mutex_lock(&a->lock);
	tenant_change(a, t, 0, 1);
	while ((i = free_slot(a)) < 0 || !may_take(a, t)) {
		i = -1;
		if (wait_ms < 0)
			pthread_cond_wait(&a->freed, &a->lock);
		else if (!wait_ms || pthread_cond_timedwait(&a->freed, &a->lock, &until) == ETIMEDOUT)
			break;
	}
	tenant_change(a, t, 0, -1);
	if (i >= 0) {
		a->slot[i].busy = true;
		tenant_change(a, t, 1, 0);
	} else {
		pthread_cond_broadcast(&a->freed); /* one starving waiter less: others may go */
	}
	pthread_mutex_unlock(&a->lock);
	return i;
}

unsigned ackin_waiting(struct ackin *a)
{
	unsigned n = 0;

	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < FAIRQ_MAX_TENANTS; i++)
		n += a->waiting[i];
	pthread_mutex_unlock(&a->lock);
	return n;
}

int ackin_begin(struct ackin *a, struct ackin_batch *b, const struct ackin_origin *origin,
		int wait_ms, struct err *e)
{
	int rc, i;

	memset(b, 0, sizeof(*b));
	b->a = a;
	b->origin = *origin;
	b->origin.source = source_name(a, origin->source);
	if ((rc = slot_tenant_id(a, origin->tenant, &b->tenant_id, e)) < 0)
		return rc;
	if ((i = take_slot(a, origin->tenant, wait_ms)) < 0)
		return err_set(e, -EBUSY, "all %u decoding slots of acknowledged inputs are busy",
			       a->cfg.slots);
	b->slot = (unsigned)i;
	a->slot[i].batch = b;
	return 0;
}

/* Decodes m on the batch's slot and counts how it ended. */
static int add(struct ackin_batch *b, const struct msg *m)
{
	struct ackin *a = b->a;
	struct tenant_stats *st = fairq_stats(a->cfg.q, b->origin.tenant);
	struct pipeline_counts c = { 0 };
	int rc;

	b->messages++;
	if (b->rc) { /* the sender is told why: a quota is not an output failure */
		atomic_fetch_add_explicit(
			&st->dropped[b->rc == -EDQUOT ? DROP_QUOTA : DROP_OUTPUT_ERROR], 1,
			memory_order_relaxed);
		count(a, ACKIN_REFUSED, 1);
		return b->rc;
	}
	rc = pipeline_event(a->p, b->slot, m, &c, NULL);
	(void)rc; /* a decoding failure is an event too (pipeline_error); counted in c */
	atomic_fetch_add_explicit(&st->parsed, c.parsed, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->parse_failed, c.failed, memory_order_relaxed);
	b->counts.parsed += c.parsed;
	b->counts.failed += c.failed;
	b->counts.too_large += c.too_large;
	b->counts.output_failed += c.output_failed;
	b->counts.clock_skew += c.clock_skew;
	return b->rc;
}

int ackin_add(struct ackin_batch *b, const char *data, size_t len, int64_t received_ns)
{
	struct msg *m = b->a->slot[b->slot].scratch;
	size_t max = b->a->cfg.max_message_size;

	m->received_ns = received_ns;
	m->peer = b->origin.peer;
	m->peer_port = b->origin.peer_port;
	m->listener = b->origin.listener;
	m->format = (uint8_t)b->origin.format;
	m->truncated = len > max;
	if (m->truncated) /* koban_events_truncated_total{tenant}, as listeners count it */
		atomic_fetch_add_explicit(&fairq_stats(b->a->cfg.q, b->origin.tenant)->truncated, 1,
					  memory_order_relaxed);
	m->tenant = (uint16_t)b->origin.tenant;
	m->tz = b->origin.tz;
	m->source = b->origin.source;
	m->len = (uint32_t)MIN(len, max);
	memcpy(m->data, data, m->len);
	return add(b, m);
}

int ackin_add_msg(struct ackin_batch *b, const struct msg *m)
{
	if (m->tenant != b->origin.tenant) {
		struct err e = ERR_INIT;

		err_set(&e, -EINVAL, "a message of tenant slot %u in a batch of slot %u",
			(unsigned)m->tenant, b->origin.tenant);
		batch_fail(b, -EINVAL, &e);
	}
	return add(b, m);
}

int ackin_end(struct ackin_batch *b, struct err *e)
{
	struct ackin *a = b->a;
	struct pipeline_counts c = { 0 };

	/*
	 * Always: after a failure the slot may still hold lines (the event built after the
	 * failed append); write_lines then counts them as failed and they are dropped here,
	 * never left for the slot's next batch, which may be another tenant's.
	 */
	pipeline_flush(a->p, b->slot, &c);
	if (b->rc == -ENOENT)
		forget_id(a, b->origin.tenant);
	pthread_mutex_lock(&a->lock);
	a->slot[b->slot].batch = NULL;
	a->slot[b->slot].busy = false;
	tenant_change(a, b->origin.tenant, -1, 0);
	pthread_cond_broadcast(&a->freed); /* the waiter the rule picks must see it */
	pthread_mutex_unlock(&a->lock);
	if (b->rc && e)
		*e = b->e;
	return b->rc;
}

int ackin_wait(struct ackin *a, uint64_t first, uint64_t last, int timeout_ms)
{
	return sink_wait(a->cfg.sink, sink_ack_shard(a->cfg.sink), first, last, timeout_ms);
}

bool ackin_failed(struct ackin *a, uint64_t first, uint64_t last)
{
	return wal_failed(sink_wal(a->cfg.sink), sink_ack_shard(a->cfg.sink), first, last);
}

/* ---- life cycle ---- */

int ackin_new(struct ackin **out, const struct ackin_config *c, struct err *e)
{
	struct pipeline_config pc = {
		.workers = c->slots,
		.max_message_size = c->max_message_size,
		.flush_bytes = ACKIN_FLUSH_BYTES,
		.clock_skew_max_ns = c->clock_skew_max_ns,
		.fixed_now_ns = c->fixed_now_ns,
		.tenant_name = tenant_name,
		.tenant_gen = tenant_gen,
		.tenant_ctx = c->q,
		.metrics = false, /* serve's pipeline registers koban_events_clock_skew_total */
		.inspect = c->inspect,
	};
	struct ackin *a;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!c->slots || c->slots > ACKIN_SLOTS_MAX)
		return err_set(e, -EINVAL, "ackin: 1 to %d decoding slots, not %u", ACKIN_SLOTS_MAX,
			       c->slots);
	if (!c->sink || !c->q || !c->data_dir || !c->max_message_size ||
	    c->max_message_size > UINT32_MAX)
		return err_set(e, -EINVAL, "ackin: a sink, a fair queue, a data directory and a "
			       "message size are needed");
	if (!(a = mem_calloc(1, sizeof(*a))))
		return err_set(e, -ENOMEM, "out of memory");
	a->cfg = *c;
	a->share = (c->slots + 1) / 2;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->id_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->freed, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < ACKIN_RESULTS; i++)
		atomic_init(&a->events[i], 0);
	pc.output = (struct pipeline_output){ .too_large = too_large, .ctx = a,
					      .write_lines = write_lines };
	if ((rc = pipeline_new(&a->p, &pc, e)) < 0 || (rc = meta_open(&a->meta, c->data_dir, e)) < 0)
		goto fail;
	for (unsigned i = 0; i < c->slots; i++) {
		buf_init(&a->slot[i].copy, SINK_RECORD_MAX);
		if (!(a->slot[i].scratch = msg_new(NULL, (uint32_t)c->max_message_size))) {
			rc = err_set(e, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (c->metrics) {
		if ((rc = metrics_register("koban_ackin_events_total", METRICS_COUNTER,
					   "Events of acknowledged inputs (HTTP ingest, RELP) by "
					   "result: written to the WAL, failed (their append failed), "
					   "refused (not decoded after a failed append).",
					   collect_events, a)) < 0) {
			err_set(e, rc, "ackin: cannot register its metric: %s", strerror(-rc));
			goto fail;
		}
		a->metrics = true;
	}
	*out = a;
	return 0;
fail:
	ackin_free(a);
	return rc;
}

void ackin_free(struct ackin *a)
{
	if (!a)
		return;
	if (a->metrics)
		metrics_unregister(a);
	for (unsigned i = 0; i < ACKIN_SLOTS_MAX; i++) {
		if (a->slot[i].scratch)
			msg_free(a->slot[i].scratch);
		buf_release(&a->slot[i].copy);
	}
	meta_close(a->meta);
	pipeline_free(a->p);
	for (unsigned i = 0; i < a->n_names; i++)
		mem_free(a->names[i]);
	pthread_cond_destroy(&a->freed);
	pthread_mutex_destroy(&a->id_lock);
	pthread_mutex_destroy(&a->lock);
	mem_free(a);
}
