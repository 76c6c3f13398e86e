#include "core/fairq.h"
#include "core/compat.h"

#include <pthread.h>
#include <time.h>

#define LOG_MODULE "fairq"
#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"

/*
 * Locking: one mutex (q->lock) guards every ring, token bucket and the active list. It is
 * held only to move arrays of pointers, never while allocating a slot or touching message
 * bytes, so with batches of tens of messages it is taken a few tens of thousands of times
 * per second at millions of messages per second. Slot creation has its own mutex
 * (q->slot_lock) so that a reload creating tenants never stalls the data path.
 *
 * What /metrics and the workers read without the lock (depths, the closed flag, the slot
 * count) is mirrored in atomics written under the lock.
 */

#define RING_INITIAL 64
#define NAME_HASH_SIZE (2 * FAIRQ_MAX_TENANTS) /* power of two, at most half full */

enum slot_state { SLOT_FREE, SLOT_LIVE, SLOT_RETIRED };

struct fairq_slot {
	/* Written under q->slot_lock, only while no message of the slot exists (see fairq.h). */
	char name[FAIRQ_NAME_MAX + 1];
	size_t name_len;
	struct tenant_stats stats;
	atomic_int state;       /* enum slot_state */
	atomic_uint gen;        /* bumped each time the slot is given to another tenant */

	/* Under q->lock. */
	struct msg **ring;      /* grows by doubling up to the capacity */
	unsigned ring_size;
	unsigned head;          /* index of the oldest message */
	unsigned count;
	size_t bytes;
	unsigned deficit;
	bool active;            /* in the active list */
	struct fairq_slot *next_active;
	uint32_t eps;           /* 0 = unlimited */
	double tokens;          /* at most eps */
	int64_t refill_ns;      /* monotonic time of the last refill */

	atomic_uint depth;      /* = count, for lock-free readers */
	atomic_bool output_blocked; /* fairq_set_output_blocked */
};

struct fairq {
	struct fairq_config cfg;

	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	struct fairq_slot *active_head, *active_tail;
	unsigned waiters;
	atomic_size_t total;
	atomic_uint output_blocked; /* slots whose output holds them back */
	atomic_int closed;

	pthread_mutex_t slot_lock;
	atomic_uint n_slots;    /* slots ever made (free ones included) */
	/* Published with a release store of n_slots; never moved or freed before fairq_free. */
	struct fairq_slot *slots[FAIRQ_MAX_TENANTS];
	uint16_t name_hash[NAME_HASH_SIZE]; /* slot + 1, 0 = empty; under slot_lock */
};

int fairq_new(struct fairq **qp, const struct fairq_config *cfg, struct err *e)
{
	struct fairq *q;
	pthread_condattr_t ca;

	*qp = NULL;
	if (!cfg->capacity || !cfg->max_bytes || !cfg->quantum)
		return err_set(e, -EINVAL, "fair queue: capacity, max_bytes and quantum must be "
			       "positive (got %u, %zu, %u)", cfg->capacity, cfg->max_bytes,
			       cfg->quantum);
	q = mem_calloc(1, sizeof(*q));
	if (!q)
		return err_set(e, -ENOMEM, "fair queue: out of memory");
	q->cfg = *cfg;
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->slot_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->nonempty, &ca);
	pthread_condattr_destroy(&ca);
	*qp = q;
	return 0;
}

static void slot_free(struct fairq_slot *s)
{
	for (unsigned i = 0; i < s->count; i++)
		msg_free(s->ring[(s->head + i) % s->ring_size]);
	mem_free(s->ring);
	mem_free(s);
}

void fairq_free(struct fairq *q)
{
	if (!q)
		return;
	metrics_unregister(q);
	for (unsigned i = 0; i < atomic_load(&q->n_slots); i++)
		slot_free(q->slots[i]);
	pthread_cond_destroy(&q->nonempty);
	pthread_mutex_destroy(&q->slot_lock);
	pthread_mutex_destroy(&q->lock);
	mem_free(q);
}

/* FNV-1a: tenant names are short and chosen by the operator, not by senders. */
static unsigned name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h & (NAME_HASH_SIZE - 1);
}

static void slot_name_set(struct fairq_slot *s, const char *name, size_t len)
{
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	s->name_len = len;
}

/* The first free slot, or -1; under slot_lock. */
static int find_free(const struct fairq *q)
{
	unsigned n = atomic_load_explicit(&q->n_slots, memory_order_relaxed);

	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&q->slots[i]->state, memory_order_relaxed) == SLOT_FREE)
			return (int)i;
	return -1;
}

/* A slot for a new tenant: a freed one, else a new one; under slot_lock. */
static int slot_take(struct fairq *q, const char *name, size_t len)
{
	unsigned n = atomic_load_explicit(&q->n_slots, memory_order_relaxed);
	int i = find_free(q);
	struct fairq_slot *s;

	if (i >= 0) {
		s = q->slots[i];
		atomic_fetch_add_explicit(&s->gen, 1, memory_order_relaxed);
	} else if (n == FAIRQ_MAX_TENANTS) {
		return -ENOSPC;
	} else if (!(s = mem_calloc(1, sizeof(*s)))) {
		return -ENOMEM;
	} else {
		i = (int)n;
	}
	slot_name_set(s, name, len);
	s->refill_ns = time_mono_ns();
	atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
	if ((unsigned)i == n) {
		q->slots[n] = s;
		atomic_store_explicit(&q->n_slots, n + 1, memory_order_release);
	}
	return i;
}

int fairq_slot(struct fairq *q, const char *name, size_t len)
{
	unsigned h = name_hash(name, len);
	struct fairq_slot *s;
	int ret;

	if (len > FAIRQ_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&q->slot_lock);
	for (; q->name_hash[h]; h = (h + 1) & (NAME_HASH_SIZE - 1)) {
		s = q->slots[q->name_hash[h] - 1];
		if (s->name_len == len && !memcmp(s->name, name, len)) {
			ret = q->name_hash[h] - 1;
			/* A tenant added back before its slot was freed keeps its slot. */
			atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
			goto done;
		}
	}
	ret = slot_take(q, name, len);
	if (ret >= 0)
		q->name_hash[h] = (uint16_t)(ret + 1);
done:
	pthread_mutex_unlock(&q->slot_lock);
	return ret;
}

void fairq_slot_retire(struct fairq *q, unsigned slot)
{
	struct fairq_slot *s;

	pthread_mutex_lock(&q->slot_lock);
	s = slot < atomic_load_explicit(&q->n_slots, memory_order_relaxed) ? q->slots[slot] : NULL;
	if (s && atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_LIVE)
		atomic_store_explicit(&s->state, SLOT_RETIRED, memory_order_release);
	pthread_mutex_unlock(&q->slot_lock);
}

/* Every message the router gave the slot has met its end (see fairq.h). */
static bool slot_quiet(const struct fairq_slot *s)
{
	const struct tenant_stats *st = &s->stats;
	uint64_t done = atomic_load_explicit(&st->parsed, memory_order_acquire) +
			atomic_load_explicit(&st->parse_failed, memory_order_acquire);

	for (int r = 0; r < DROP_REASON_COUNT; r++)
		done += atomic_load_explicit(&st->dropped[r], memory_order_acquire);
	return done == atomic_load_explicit(&st->routed, memory_order_acquire);
}

/* Empties a quiet, unqueued slot for reuse; under slot_lock, q->lock taken here. */
static void slot_clear(struct fairq *q, struct fairq_slot *s)
{
	struct tenant_stats *st = &s->stats;

	pthread_mutex_lock(&q->lock);
	mem_free(s->ring);
	s->ring = NULL;
	s->ring_size = s->head = s->count = s->deficit = 0;
	s->bytes = 0;
	s->eps = 0;
	s->tokens = 0;
	pthread_mutex_unlock(&q->lock);
	for (int l = 0; l < FAIRQ_MAX_LISTENERS; l++)
		atomic_store_explicit(&st->received[l], 0, memory_order_relaxed);
	atomic_store_explicit(&st->routed, 0, memory_order_relaxed);
	atomic_store_explicit(&st->parsed, 0, memory_order_relaxed);
	atomic_store_explicit(&st->parse_failed, 0, memory_order_relaxed);
	atomic_store_explicit(&st->truncated, 0, memory_order_relaxed);
	atomic_store_explicit(&st->throttled, 0, memory_order_relaxed);
	for (int r = 0; r < DROP_REASON_COUNT; r++) {
		atomic_store_explicit(&st->dropped[r], 0, memory_order_relaxed);
		atomic_store_explicit(&st->output_dropped[r], 0, memory_order_relaxed);
	}
	atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
}

/* The name hash again from the slots that keep their names; under slot_lock. */
static void rehash(struct fairq *q)
{
	unsigned n = atomic_load_explicit(&q->n_slots, memory_order_relaxed);

	memset(q->name_hash, 0, sizeof(q->name_hash));
	for (unsigned i = 0; i < n; i++) {
		struct fairq_slot *s = q->slots[i];
		unsigned h = name_hash(s->name, s->name_len);

		if (atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_FREE)
			continue;
		while (q->name_hash[h])
			h = (h + 1) & (NAME_HASH_SIZE - 1);
		q->name_hash[h] = (uint16_t)(i + 1);
	}
}

unsigned fairq_reclaim(struct fairq *q)
{
	unsigned n, freed = 0;

	pthread_mutex_lock(&q->slot_lock);
	n = atomic_load_explicit(&q->n_slots, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++) {
		struct fairq_slot *s = q->slots[i];

		if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_RETIRED ||
		    atomic_load_explicit(&s->depth, memory_order_acquire) || !slot_quiet(s))
			continue;
		slot_clear(q, s);
		freed++;
	}
	if (freed)
		rehash(q);
	pthread_mutex_unlock(&q->slot_lock);
	return freed;
}

int fairq_slot_in_use(const struct fairq *q, unsigned slot)
{
	if (slot >= fairq_slot_count(q))
		return 0;
	return atomic_load_explicit(&q->slots[slot]->state, memory_order_acquire) == SLOT_LIVE;
}

unsigned fairq_slot_gen(const struct fairq *q, unsigned slot)
{
	if (slot >= fairq_slot_count(q))
		return 0;
	return atomic_load_explicit(&q->slots[slot]->gen, memory_order_acquire);
}

unsigned fairq_slot_count(const struct fairq *q)
{
	return atomic_load_explicit(&q->n_slots, memory_order_acquire);
}

static struct fairq_slot *slot_get(const struct fairq *q, unsigned slot)
{
	if (slot >= fairq_slot_count(q))
		return NULL;
	return q->slots[slot];
}

const char *fairq_slot_name(const struct fairq *q, unsigned slot)
{
	struct fairq_slot *s = slot_get(q, slot);

	return s ? s->name : NULL;
}

struct tenant_stats *fairq_stats(struct fairq *q, unsigned slot)
{
	struct fairq_slot *s = slot_get(q, slot);

	return s ? &s->stats : NULL;
}

unsigned fairq_depth(const struct fairq *q, unsigned slot)
{
	struct fairq_slot *s = slot_get(q, slot);

	return s ? atomic_load_explicit(&s->depth, memory_order_relaxed) : 0;
}

size_t fairq_total_depth(const struct fairq *q)
{
	return atomic_load_explicit(&q->total, memory_order_relaxed);
}

int fairq_closed(const struct fairq *q)
{
	return atomic_load_explicit(&q->closed, memory_order_acquire);
}

void fairq_set_output_blocked(struct fairq *q, unsigned slot, bool blocked)
{
	struct fairq_slot *s = slot_get(q, slot);

	if (!s || atomic_load_explicit(&s->output_blocked, memory_order_relaxed) == blocked)
		return;
	pthread_mutex_lock(&q->lock);
	if (atomic_load_explicit(&s->output_blocked, memory_order_relaxed) != blocked) {
		atomic_store_explicit(&s->output_blocked, blocked, memory_order_relaxed);
		if (blocked)
			atomic_fetch_add_explicit(&q->output_blocked, 1, memory_order_relaxed);
		else
			atomic_fetch_sub_explicit(&q->output_blocked, 1, memory_order_relaxed);
	}
	if (!blocked && s->active && q->waiters)
		pthread_cond_broadcast(&q->nonempty); /* its messages may be popped again */
	pthread_mutex_unlock(&q->lock);
}

unsigned fairq_output_blocked_slots(const struct fairq *q)
{
	return atomic_load_explicit(&q->output_blocked, memory_order_relaxed);
}

bool fairq_output_blocked(const struct fairq *q, unsigned slot)
{
	struct fairq_slot *s = slot_get(q, slot);

	return s && atomic_load_explicit(&s->output_blocked, memory_order_relaxed);
}

/* Token bucket, under q->lock: refills eps tokens per second, holding at most eps. */
static void bucket_refill(struct fairq_slot *s, int64_t now)
{
	if (!s->eps)
		return;
	if (now > s->refill_ns) {
		s->tokens += (double)(now - s->refill_ns) * s->eps / 1e9;
		if (s->tokens > s->eps)
			s->tokens = s->eps;
	}
	s->refill_ns = now;
}

void fairq_set_eps(struct fairq *q, unsigned slot, uint32_t eps)
{
	struct fairq_slot *s = slot_get(q, slot);

	if (!s)
		return;
	pthread_mutex_lock(&q->lock);
	bucket_refill(s, time_mono_ns());
	if (!s->eps || s->tokens > eps)
		s->tokens = eps; /* a new limit starts with a full burst, never more */
	s->eps = eps;
	pthread_mutex_unlock(&q->lock);
}

/*
 * Why one more message of len bytes cannot be queued in s, or FAIRQ_OK; under q->lock.
 * An empty queue takes any one message, so a message larger than max_bytes cannot
 * block a TCP sender forever.
 */
static int slot_refusal(const struct fairq *q, const struct fairq_slot *s, size_t len)
{
	if (s->count >= q->cfg.capacity || (s->count && s->bytes + len > q->cfg.max_bytes))
		return atomic_load_explicit(&s->output_blocked, memory_order_relaxed)
			       ? FAIRQ_OUTPUT_BLOCKED : FAIRQ_FULL;
	if (s->eps && s->tokens < 1.0)
		return FAIRQ_RATE_LIMITED;
	return FAIRQ_OK;
}

int fairq_can_push(struct fairq *q, unsigned slot)
{
	struct fairq_slot *s = slot_get(q, slot);
	int ok;

	if (!s || fairq_closed(q))
		return 0;
	pthread_mutex_lock(&q->lock);
	bucket_refill(s, time_mono_ns());
	ok = slot_refusal(q, s, 0) == FAIRQ_OK;
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/* Makes room for `more` messages in the ring (up to the capacity); under q->lock. */
static int ring_reserve(struct fairq_slot *s, unsigned more, unsigned capacity)
{
	unsigned need = MIN(s->count + more, capacity);
	unsigned size = s->ring_size ? s->ring_size : MIN(RING_INITIAL, capacity);
	struct msg **ring;

	if (need <= s->ring_size)
		return 0;
	while (size < need)
		size = size > capacity / 2 ? capacity : size * 2;
	ring = mem_alloc(size * sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (unsigned i = 0; i < s->count; i++)
		ring[i] = s->ring[(s->head + i) % s->ring_size];
	mem_free(s->ring);
	s->ring = ring;
	s->ring_size = size;
	s->head = 0;
	return 0;
}

/*
 * Whether s may be popped; under q->lock. While a tenant's output fails, the worker that
 * holds its batch retries and the other workers leave its queue alone, so one tenant's
 * failing output blocks one worker, not all of them. Once the queue is closed everything is
 * popped, so that the drain ends.
 */
static bool poppable(const struct fairq *q, const struct fairq_slot *s)
{
	return !atomic_load_explicit(&s->output_blocked, memory_order_relaxed) ||
	       atomic_load_explicit(&q->closed, memory_order_relaxed);
}

/* The first active slot that may be popped, or NULL; under q->lock. */
static struct fairq_slot *first_poppable(const struct fairq *q)
{
	struct fairq_slot *s = q->active_head;

	while (s && !poppable(q, s))
		s = s->next_active;
	return s;
}

static void active_append(struct fairq *q, struct fairq_slot *s)
{
	s->next_active = NULL;
	if (q->active_tail)
		q->active_tail->next_active = s;
	else
		q->active_head = s;
	q->active_tail = s;
	s->active = true;
}

/* Takes the first poppable slot out of the active list (there is one); under q->lock. */
static struct fairq_slot *active_take_first(struct fairq *q)
{
	struct fairq_slot *prev = NULL, *s = q->active_head;

	while (!poppable(q, s)) {
		prev = s;
		s = s->next_active;
	}
	if (prev)
		prev->next_active = s->next_active;
	else
		q->active_head = s->next_active;
	if (q->active_tail == s)
		q->active_tail = prev;
	s->active = false;
	return s;
}

int fairq_push(struct fairq *q, unsigned slot, struct msg **m, size_t n, size_t *taken)
{
	struct fairq_slot *s = slot_get(q, slot);
	int ret = FAIRQ_OK;
	size_t i = 0;

	*taken = 0;
	if (!s)
		return FAIRQ_FULL;
	pthread_mutex_lock(&q->lock);
	if (atomic_load_explicit(&q->closed, memory_order_relaxed)) {
		ret = FAIRQ_CLOSED;
		goto out;
	}
	bucket_refill(s, time_mono_ns());
	if (ring_reserve(s, (unsigned)MIN(n, q->cfg.capacity), q->cfg.capacity) < 0) {
		log_warn("tenant %s: no memory to grow its queue", s->name);
		ret = FAIRQ_FULL;
		goto out;
	}
	for (; i < n; i++) {
		ret = slot_refusal(q, s, m[i]->len);
		if (ret != FAIRQ_OK)
			break;
		s->ring[(s->head + s->count) % s->ring_size] = m[i];
		s->count++;
		s->bytes += m[i]->len;
		if (s->eps)
			s->tokens -= 1.0;
	}
	if (i) {
		atomic_store_explicit(&s->depth, s->count, memory_order_relaxed);
		atomic_fetch_add_explicit(&q->total, i, memory_order_relaxed);
		if (!s->active)
			active_append(q, s);
		if (q->waiters)
			pthread_cond_signal(&q->nonempty);
	}
out:
	pthread_mutex_unlock(&q->lock);
	*taken = i;
	return ret;
}

/* Waits for work until deadline (NULL: forever); false on timeout or close. */
static bool wait_for_work(struct fairq *q, const struct timespec *deadline)
{
	while (!first_poppable(q) && !atomic_load_explicit(&q->closed, memory_order_relaxed)) {
		int rc;

		q->waiters++;
		rc = deadline ? pthread_cond_timedwait(&q->nonempty, &q->lock, deadline)
			      : pthread_cond_wait(&q->nonempty, &q->lock);
		q->waiters--;
		if (rc == ETIMEDOUT)
			break;
	}
	return first_poppable(q) != NULL;
}

/* One DRR turn of the head tenant: up to its deficit, at most max; under q->lock. */
static size_t pop_turn(struct fairq *q, struct msg **out, size_t max)
{
	struct fairq_slot *s = active_take_first(q);
	size_t n, bytes = 0;

	s->deficit += q->cfg.quantum;
	n = MIN(MIN((size_t)s->deficit, max), (size_t)s->count);
	for (size_t i = 0; i < n; i++) {
		out[i] = s->ring[s->head];
		bytes += out[i]->len;
		s->head = (s->head + 1) % s->ring_size;
	}
	s->count -= (unsigned)n;
	s->bytes -= bytes;
	s->deficit -= (unsigned)n;
	if (s->count) {
		/* A consumer asking for less than a quantum must not let credit pile up. */
		s->deficit = MIN(s->deficit, q->cfg.quantum);
		active_append(q, s);
	} else {
		s->deficit = 0;
	}
	atomic_store_explicit(&s->depth, s->count, memory_order_relaxed);
	atomic_fetch_sub_explicit(&q->total, n, memory_order_relaxed);
	return n;
}

size_t fairq_pop(struct fairq *q, struct msg **out, size_t max, int timeout_ms)
{
	struct timespec deadline;
	size_t n = 0;

	if (!max)
		return 0;
	if (timeout_ms >= 0) {
		int64_t t = time_mono_ns() + (int64_t)timeout_ms * 1000000;

		deadline.tv_sec = t / 1000000000;
		deadline.tv_nsec = t % 1000000000;
	}
	pthread_mutex_lock(&q->lock);
	if (wait_for_work(q, timeout_ms >= 0 ? &deadline : NULL)) {
		n = pop_turn(q, out, max);
		/* Pass the wake-up on: there is more work than this consumer took. */
		if (q->waiters && first_poppable(q))
			pthread_cond_signal(&q->nonempty);
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

void fairq_close(struct fairq *q)
{
	pthread_mutex_lock(&q->lock);
	atomic_store_explicit(&q->closed, 1, memory_order_release);
	pthread_cond_broadcast(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
}

/* ---- metrics ---- */

static const char *const drop_reason_names[] = {
	[DROP_QUEUE_FULL] = "queue_full",
	[DROP_RATE_LIMIT] = "rate_limit",
	[DROP_NO_MEMORY] = "no_memory",
	[DROP_SHUTDOWN] = "shutdown",
	[DROP_OUTPUT_ERROR] = "output_error",
	[DROP_QUOTA] = "quota",
	[DROP_TOO_LARGE] = "too_large",
};
_Static_assert(ARRAY_SIZE(drop_reason_names) == DROP_REASON_COUNT,
	       "a drop reason has no metric label");

const char *fairq_drop_reason_name(enum drop_reason r)
{
	return (unsigned)r < DROP_REASON_COUNT ? drop_reason_names[r] : "unknown";
}

/* One sample per tenant of the counter at `offset` in struct tenant_stats. */
static int collect_tenant_counter(struct metrics_out *o, struct fairq *q, size_t offset)
{
	unsigned n = fairq_slot_count(q);
	int rc = 0;

	for (unsigned s = 0; s < n && !rc; s++) {
		const atomic_uint_fast64_t *c;

		if (!fairq_slot_in_use(q, s))
			continue; /* a removed tenant's slot: gone from /metrics */
		c =
			(const atomic_uint_fast64_t *)((const char *)fairq_stats(q, s) + offset);

		rc = metrics_sample(o, atomic_load_explicit(c, memory_order_relaxed), "tenant",
				    fairq_slot_name(q, s), NULL);
	}
	return rc;
}

#define TENANT_COLLECTOR(field)                                                        \
	static int collect_##field(struct metrics_out *o, void *q)                      \
	{                                                                               \
		return collect_tenant_counter(o, q, offsetof(struct tenant_stats, field)); \
	}
TENANT_COLLECTOR(parsed)
TENANT_COLLECTOR(parse_failed)
TENANT_COLLECTOR(truncated)
TENANT_COLLECTOR(throttled)

static int collect_dropped(struct metrics_out *o, void *ctx)
{
	struct fairq *q = ctx;
	unsigned n = fairq_slot_count(q);
	int rc = 0;

	for (unsigned s = 0; s < n && !rc; s++)
		for (size_t r = 0; r < DROP_REASON_COUNT && !rc && fairq_slot_in_use(q, s); r++)
			rc = metrics_sample(o,
					    atomic_load_explicit(&fairq_stats(q, s)->dropped[r],
								 memory_order_relaxed) +
					    atomic_load_explicit(&fairq_stats(q, s)->output_dropped[r],
								 memory_order_relaxed),
					    "tenant", fairq_slot_name(q, s), "reason",
					    drop_reason_names[r], NULL);
	return rc;
}

static int collect_depth(struct metrics_out *o, void *ctx)
{
	struct fairq *q = ctx;
	unsigned n = fairq_slot_count(q);
	int rc = 0;

	for (unsigned s = 0; s < n && !rc; s++)
		if (fairq_slot_in_use(q, s))
			rc = metrics_sample(o, fairq_depth(q, s), "tenant", fairq_slot_name(q, s),
					    NULL);
	return rc;
}

static const struct {
	const char *name;
	enum metrics_type type;
	const char *help;
	metrics_collect_fn *collect;
} fairq_families[] = {
	{ "koban_events_parsed_total", METRICS_COUNTER,
	  "Messages of the tenant decoded into an event.", collect_parsed },
	{ "koban_events_parse_failed_total", METRICS_COUNTER,
	  "Messages of the tenant that could not be decoded; kept raw with the error noted.",
	  collect_parse_failed },
	{ "koban_events_truncated_total", METRICS_COUNTER,
	  "Messages of the tenant longer than the maximum size, cut to it.", collect_truncated },
	{ "koban_events_throttled_total", METRICS_COUNTER,
	  "Times a TCP/TLS sender of the tenant was paused because its queue was full or "
	  "over its EPS limit.", collect_throttled },
	{ "koban_events_dropped_total", METRICS_COUNTER,
	  "Messages of the tenant dropped, by reason.", collect_dropped },
	{ "koban_queue_depth", METRICS_GAUGE, "Messages waiting in the tenant's queue.",
	  collect_depth },
};

int fairq_metrics_register(struct fairq *q)
{
	for (size_t i = 0; i < ARRAY_SIZE(fairq_families); i++) {
		int rc = metrics_register(fairq_families[i].name, fairq_families[i].type,
					  fairq_families[i].help, fairq_families[i].collect, q);

		if (rc < 0) {
			if (i) /* roll back this call's families, not an earlier call's */
				metrics_unregister(q);
			return rc;
		}
	}
	return 0;
}
