#include "store/agg.h"
#include "core/compat.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/query.h"

#include <stdio.h>
#include <stdlib.h>

#define ARENA_CHUNK (1u << 20)
#define ARENA_MAX ((size_t)2 << 30) /* copies of kept events and group keys */
/* An order's copies are compacted once this much (and more than the live ones) is dead. */
#define KEEP_DEAD_MIN ((size_t)16 << 20)
/* Their arena's own bound: none, as keep_bytes_ok() bounds the live and keep_tidy() the dead. */
#define KEEP_COPIES_MAX SIZE_MAX

/* One aggregation's running state in one group. */
struct acc {
	int64_t count;     /* count(); for sum/avg: values added */
	int64_t sum;
	double dsum;       /* sum once the integer sum would overflow */
	bool overflow;
	struct agg_value best; /* min, max */
	uint64_t *set;     /* dc: open addressing of value hashes (0 = empty) */
	size_t set_n, set_cap;
};

struct group {
	uint64_t hash;
	struct agg_value *key; /* n_keys values: [bucket time,] by-fields */
	struct acc *acc;       /* one per aggregation */
};

/* An event kept for an order: one piece of its keep's copies, with its values and text. */
struct kept {
	struct event ev;
	size_t bytes;
};

/*
 * A kept event's place in its order: the key beside the pointer, so that sorting and the
 * heap compare and move slots in one array and touch no event (an export orders 100,000
 * at a time, and each event read from its own allocation was a cache miss).
 */
struct slot {
	struct agg_value key; /* its value of the order's field (text in the kept copy) */
	uint64_t seq;         /* arrival: equal keys keep it */
	struct kept *kept;
};

/*
 * Events kept to be handed on in an order: by a sort's field, or by @timestamp newest first
 * (the time order of a query without a sort). Bounded by left, the events that can still
 * matter (the heads after it, the caller's limit): once it holds that many, its items are
 * a heap with the worst on top, which a better event replaces. Without such a bound a sort
 * keeps up to AGG_MAX_KEPT, the time order up to AGG_ORDER_WINDOW (then it hands them on).
 */
struct keep {
	size_t next;          /* the pipe its events go on to */
	int field;            /* -1: no event has it (every key null) */
	bool desc;
	bool window;          /* the time order: full, it hands its events on */
	uint64_t left;        /* events still to hand on that can matter; UINT64_MAX: all */
	struct slot *items;
	struct slot *tmp;     /* alloc more, for merging */
	size_t n, alloc, bytes;
	/*
	 * The kept events' copies, bump-allocated: a window of 100,000 freed one by one in
	 * time order, not the order they were allocated in, cost the allocator more than the
	 * copies. Emptied when no event is kept; dead: bytes of those handed on or replaced.
	 */
	struct arena copies;
	size_t dead;
	size_t sorted;        /* items[0..sorted) are sorted best first (not a heap) */
	bool heap;            /* n == left: items[0] is the worst */
	int64_t newest;       /* no item's key is a newer time (INT64_MIN: none is a time) */
	uint64_t seq;
};

struct agg {
	const struct query *q;
	agg_event_fn *event_fn;
	agg_row_fn *row_fn;
	void *ctx;
	struct arena arena;
	struct arena scratch;  /* of a kept event while it is handed on (event_write_json's) */
	bool stopped;          /* event_fn said stop: it is never called again */

	/* Event stage: the pipes before the first stats/timechart. */
	size_t stage_end;      /* index of the stats/timechart pipe, or n_pipes */
	uint64_t *head_seen;   /* per pipe: events that passed a head so far */
	struct keep *order;    /* the time order events enter first (NULL: none) */
	struct keep **keeps;   /* per pipe: a sort's kept events (NULL for other pipes) */
	struct keep *entry;    /* the keep events enter first: order, a leading sort, or NULL */
	uint64_t limit;        /* results the caller takes at most (agg_set_limit) */
	int *fields;           /* projection of the last `fields` in the event stage */
	size_t n_fields;
	bool project;

	/* Row stage. */
	const struct query_pipe *stats;
	int *by;               /* field ids of the by-fields (-1: unknown) */
	size_t n_keys;         /* by-fields, plus the bucket for timechart */
	int *agg_field;        /* per aggregation: its field id, or -1 */
	struct group **table;  /* open addressing on group hash */
	size_t table_cap;
	struct group **groups; /* in first-seen order */
	size_t n_groups, cap_groups;
	size_t distinct;       /* over all dc() sets */
};

/* ---- values ---- */

/* A field's id, or -1 when no event has had it (then it is null everywhere). */
static int resolve(const char *name)
{
	int id = field_lookup(name, strlen(name));

	return id < 0 ? -1 : id;
}

static struct agg_value value_of(const struct event_value *v)
{
	struct agg_value out = { AGG_NULL, { 0 } };

	switch (field_type(v->field)) {
	case FT_STR:
	case FT_OBJ:
		out.kind = AGG_TEXT;
		out.v.text.s = v->v.s;
		out.v.text.len = v->len;
		break;
	case FT_INT:
	case FT_BOOL:
		out.kind = AGG_INT;
		out.v.i = v->v.i;
		break;
	case FT_TIME:
		out.kind = AGG_TIME;
		out.v.i = v->v.i;
		break;
	case FT_IP:
		out.kind = AGG_IP;
		out.v.ip = v->v.ip;
		break;
	}
	return out;
}

/* The first value of field in ev (its others come after it), or NULL. */
static const struct event_value *first_value(const struct event *ev, int field)
{
	const struct event_value *v = field < 0 ? NULL : event_get(ev, (unsigned)field);

	if (!v && field >= 0) /* vendor fields have no index: look them up */
		for (uint32_t i = 0; i < ev->n && !v; i++)
			if (ev->vals[i].field == (uint32_t)field)
				v = &ev->vals[i];
	return v;
}

static struct agg_value field_value(const struct event *ev, int field)
{
	const struct event_value *v = first_value(ev, field);

	return v ? value_of(v) : (struct agg_value){ AGG_NULL, { 0 } };
}

static int cmp_num(double a, double b)
{
	return a < b ? -1 : a > b;
}

/* null sorts last; numbers by value; then by kind. */
static int value_cmp(const struct agg_value *a, const struct agg_value *b)
{
	bool an = a->kind == AGG_INT || a->kind == AGG_DOUBLE;
	bool bn = b->kind == AGG_INT || b->kind == AGG_DOUBLE;
	int c;

	if (a->kind == AGG_NULL || b->kind == AGG_NULL)
		return (a->kind == AGG_NULL) - (b->kind == AGG_NULL);
	if (an && bn) {
		if (a->kind == AGG_INT && b->kind == AGG_INT)
			return a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
		return cmp_num(a->kind == AGG_INT ? (double)a->v.i : a->v.d,
			       b->kind == AGG_INT ? (double)b->v.i : b->v.d);
	}
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	switch (a->kind) {
	case AGG_TIME: return a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
	case AGG_IP: return memcmp(a->v.ip.b, b->v.ip.b, sizeof(a->v.ip.b));
	case AGG_TEXT:
		c = MIN(a->v.text.len, b->v.text.len)
			    ? memcmp(a->v.text.s, b->v.text.s, MIN(a->v.text.len, b->v.text.len))
			    : 0;
		return c ? c : (a->v.text.len > b->v.text.len) - (a->v.text.len < b->v.text.len);
	default: return 0;
	}
}

/* Sort order: nulls last whichever the direction. */
static int sort_cmp(const struct agg_value *a, const struct agg_value *b, bool desc)
{
	int c;

	if (a->kind == AGG_NULL || b->kind == AGG_NULL)
		return (a->kind == AGG_NULL) - (b->kind == AGG_NULL);
	c = value_cmp(a, b);
	return desc ? -c : c;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL; /* FNV-1a */
	return h;
}

static uint64_t value_hash(uint64_t h, const struct agg_value *v)
{
	unsigned char kind = (unsigned char)v->kind;

	h = mix(h, &kind, 1);
	switch (v->kind) {
	case AGG_INT:
	case AGG_TIME: return mix(h, &v->v.i, sizeof(v->v.i));
	case AGG_DOUBLE: return mix(h, &v->v.d, sizeof(v->v.d));
	case AGG_IP: return mix(h, v->v.ip.b, sizeof(v->v.ip.b));
	case AGG_TEXT: return mix(h, v->v.text.s, v->v.text.len);
	default: return h;
	}
}

static bool value_eq(const struct agg_value *a, const struct agg_value *b)
{
	return a->kind == b->kind && value_cmp(a, b) == 0;
}

/* A copy whose text lives in the agg's arena. */
static int value_keep(struct agg *g, struct agg_value *v)
{
	char *s;

	if (v->kind != AGG_TEXT)
		return 0;
	s = arena_strndup(&g->arena, v->v.text.s, v->v.text.len);
	if (!s)
		return -E2BIG;
	v->v.text.s = s;
	return 0;
}

/* ---- the event stage ---- */

static int too_big(struct err *e, const char *what, unsigned long max)
{
	return err_set(e, -E2BIG, "the query keeps more than %lu %s; narrow the filter or the "
			 "time range", max, what);
}

/*
 * ev as the event stage's `fields` pipes leave it: in *p, with its values in vals, or ev
 * itself when none asked. The fields are distinct (narrow_fields), so each of ev's values is
 * kept at most once.
 */
static const struct event *project(const struct agg *g, const struct event *ev, struct event *p,
				   struct event_value *vals)
{
	uint32_t n = 0;

	if (!g->project)
		return ev;
	*p = *ev;
	memset(p->known_pos, 0, sizeof(p->known_pos));
	for (size_t f = 0; f < g->n_fields; f++)
		for (uint32_t i = 0; i < ev->n; i++)
			if (ev->vals[i].field == (uint32_t)g->fields[f]) {
				if (ev->vals[i].field < FIELD_COUNT && !p->known_pos[ev->vals[i].field])
					p->known_pos[ev->vals[i].field] = (uint16_t)(n + 1);
				vals[n++] = ev->vals[i];
			}
	p->vals = vals;
	p->n = p->cap = n;
	return p;
}

static int add_to_groups(struct agg *g, const struct event *ev, struct err *e);

/* After the event stage, with only the fields `fields` kept: into the groups, or out. */
static int pass_on(struct agg *g, const struct event *ev, struct err *e)
{
	struct event_value vals[EVENT_MAX_VALUES];
	struct event p;
	int rc;

	if (g->stopped) /* event_fn said stop */
		return -ECANCELED;
	ev = project(g, ev, &p, vals);
	if (g->stats)
		return add_to_groups(g, ev, e);
	rc = g->event_fn(g->ctx, ev);
	g->stopped = rc < 0;
	return rc;
}

/* ---- orders: the kept events ---- */

/* A copy of ev in one piece of a (the reader's memory is reused). */
static struct kept *kept_new(struct arena *a, const struct event *ev)
{
	size_t text = 0, size;
	struct kept *k;
	char *p;

	for (uint32_t i = 0; i < ev->n; i++)
		if (field_type(ev->vals[i].field) == FT_STR || field_type(ev->vals[i].field) == FT_OBJ)
			text += ev->vals[i].len;
	size = sizeof(*k) + ev->n * sizeof(*ev->vals) + text;
	if (!(k = arena_alloc(a, size)))
		return NULL;
	k->ev = *ev;
	k->ev.arena = NULL; /* the agg's scratch arena while it is handed on */
	k->ev.vals = (struct event_value *)(k + 1);
	k->ev.cap = ev->n;
	p = (char *)(k->ev.vals + ev->n);
	for (uint32_t i = 0; i < ev->n; i++) {
		enum field_type t = field_type(ev->vals[i].field);

		k->ev.vals[i] = ev->vals[i];
		if ((t == FT_STR || t == FT_OBJ) && ev->vals[i].len) {
			memcpy(p, ev->vals[i].v.s, ev->vals[i].len);
			k->ev.vals[i].v.s = p;
			p += ev->vals[i].len;
		}
	}
	k->bytes = size;
	return k;
}

/* < 0 when (a, sa) comes before (b, sb): by key, then by arrival. */
static int kept_cmp(const struct keep *k, const struct agg_value *a, uint64_t sa,
		    const struct agg_value *b, uint64_t sb)
{
	int c;

	if (a->kind == AGG_TIME && b->kind == AGG_TIME) { /* the time order's: as sort_cmp */
		c = (a->v.i > b->v.i) - (a->v.i < b->v.i);
		c = k->desc ? -c : c;
	} else {
		c = sort_cmp(a, b, k->desc);
	}
	return c ? c : (sa > sb) - (sa < sb);
}

static bool worse(const struct keep *k, size_t a, size_t b)
{
	return kept_cmp(k, &k->items[a].key, k->items[a].seq, &k->items[b].key,
			k->items[b].seq) > 0;
}

static void sift_down(struct keep *k, size_t i)
{
	for (;;) {
		size_t w = i, l = 2 * i + 1, r = l + 1;
		struct slot t;

		if (l < k->n && worse(k, l, w))
			w = l;
		if (r < k->n && worse(k, r, w))
			w = r;
		if (w == i)
			return;
		t = k->items[i];
		k->items[i] = k->items[w];
		k->items[w] = t;
		i = w;
	}
}

static int kept_order(const void *a, const void *b, void *arg)
{
	const struct slot *x = a, *y = b;

	return kept_cmp(arg, &x->key, x->seq, &y->key, y->seq);
}

static int stage_from(struct agg *g, size_t i, const struct event *ev, struct err *e);

/*
 * Sorts the items best first: all of a heap, else those added since the last sort, merged
 * with the sorted ones (a search hands on a few at a time from many kept).
 */
static void keep_sort(struct keep *k)
{
	size_t a = 0, b, t = 0;

	if (k->heap)
		k->sorted = 0;
	b = k->sorted;
	if (k->n - b > 1)
		qsort_r(k->items + b, k->n - b, sizeof(*k->items), kept_order, k);
	if (b && b < k->n) {
		while (a < k->sorted && b < k->n)
			k->tmp[t++] = kept_order(&k->items[b], &k->items[a], k) < 0 ? k->items[b++]
										   : k->items[a++];
		while (a < k->sorted)
			k->tmp[t++] = k->items[a++];
		while (b < k->n)
			k->tmp[t++] = k->items[b++];
		memcpy(k->items, k->tmp, k->n * sizeof(*k->items));
	}
	k->sorted = k->n;
}

/*
 * Copies the kept events into a fresh arena and lets the old one go, with what the events
 * handed on or replaced left dead in it. The slots change only once every copy is made.
 */
static int keep_compact(struct keep *k, struct err *e)
{
	struct arena fresh;

	arena_init(&fresh, ARENA_CHUNK, KEEP_COPIES_MAX);
	for (size_t i = 0; i < k->n; i++) {
		k->tmp[i] = k->items[i];
		if (!(k->tmp[i].kept = kept_new(&fresh, &k->items[i].kept->ev))) {
			arena_release(&fresh);
			return err_set(e, -ENOMEM, "out of memory");
		}
		k->tmp[i].key = field_value(&k->tmp[i].kept->ev, k->field); /* text in the copy */
	}
	memcpy(k->items, k->tmp, k->n * sizeof(*k->items));
	arena_release(&k->copies);
	k->copies = fresh;
	k->dead = 0;
	return 0;
}

/*
 * The copies' memory stays within the live ones' and KEEP_DEAD_MIN: all of it reused once
 * no event is kept (a window handed on), else compacted when more is dead than both.
 */
static int keep_tidy(struct keep *k, struct err *e)
{
	if (!k->n) {
		arena_clear(&k->copies);
		k->dead = 0;
		return 0;
	}
	return k->dead > MAX(k->bytes, KEEP_DEAD_MIN) ? keep_compact(k, e) : 0;
}

/*
 * Hands on, best first, the kept events whose key is a time newer than newer_than (every
 * one with all), then forgets them.
 */
static int keep_drain(struct agg *g, struct keep *k, bool all, int64_t newer_than,
		      struct err *e)
{
	size_t m = 0;
	int rc = 0;

	if (!all && k->newest <= newer_than)
		return 0; /* nothing to hand on: no sort */
	keep_sort(k);
	while (m < k->n && (all || (k->items[m].key.kind == AGG_TIME &&
				    k->items[m].key.v.i > newer_than)))
		m++;
	for (size_t i = 0; i < m; i++) {
		struct kept *c = k->items[i].kept;

		c->ev.arena = &g->scratch;
		if (!rc)
			rc = stage_from(g, k->next, &c->ev, e);
		arena_clear(&g->scratch);
		k->bytes -= c->bytes;
		k->dead += c->bytes;
	}
	if (m && m < k->n) /* none kept: items is NULL */
		memmove(k->items, k->items + m, (k->n - m) * sizeof(*k->items));
	k->n -= m;
	k->sorted = k->n;
	k->newest = k->n && k->items[0].key.kind == AGG_TIME ? k->items[0].key.v.i : INT64_MIN;
	if (k->left != UINT64_MAX)
		k->left -= m;
	k->heap = k->n && k->n == k->left;
	for (size_t i = k->n / 2; k->heap && i-- > 0;) /* sorted best first: made a heap again */
		sift_down(k, i);
	return rc ? rc : keep_tidy(k, e);
}

/*
 * Whether k's copies stay within their bound: a sort's ARENA_MAX, or for the time order
 * AGG_ORDER_WINDOW_BYTES, past which it must hand its window on, which it cannot while it
 * holds the N newest of a limit (any it handed on early could be older than one unread).
 */
static int keep_bytes_ok(const struct keep *k, struct err *e)
{
	if (!k->window && k->bytes > ARENA_MAX)
		return too_big(e, "bytes of events", ARENA_MAX);
	if (k->window && k->bytes > AGG_ORDER_WINDOW_BYTES)
		return too_big(e, "bytes of the newest events asked for (a lower --limit or head)",
			       AGG_ORDER_WINDOW_BYTES);
	return 0;
}

static int keep_add(struct agg *g, struct keep *k, const struct event *ev, struct err *e)
{
	struct agg_value key = field_value(ev, k->field);
	struct slot c;
	int rc;

	if (!k->left || (k->heap && kept_cmp(k, &key, k->seq, &k->items[0].key,
					     k->items[0].seq) >= 0)) {
		k->seq++;
		return 0; /* not among those that matter */
	}
	if (!k->heap && !k->window && k->n == AGG_MAX_KEPT)
		return too_big(e, "events to sort", AGG_MAX_KEPT);
	if (!k->heap && k->n == k->alloc) {
		size_t cap = k->alloc ? 2 * k->alloc : 1024;
		struct slot *items, *tmp;

		cap = (uint64_t)cap > k->left ? (size_t)k->left : cap;
		if (!(items = mem_realloc(k->items, cap * sizeof(*items))))
			return err_set(e, -ENOMEM, "out of memory");
		k->items = items;
		if (!(tmp = mem_realloc(k->tmp, cap * sizeof(*tmp))))
			return err_set(e, -ENOMEM, "out of memory");
		k->tmp = tmp;
		k->alloc = cap;
	}
	if (!(c.kept = kept_new(&k->copies, ev)))
		return err_set(e, -ENOMEM, "out of memory");
	c.key = field_value(&c.kept->ev, k->field); /* its text in the copy */
	c.seq = k->seq++;
	if (c.key.kind == AGG_TIME)
		k->newest = MAX(k->newest, c.key.v.i);
	if (k->heap) {
		k->bytes -= k->items[0].kept->bytes;
		k->dead += k->items[0].kept->bytes;
		k->items[0] = c;
		k->bytes += c.kept->bytes;
		sift_down(k, 0);
		if ((rc = keep_tidy(k, e)))
			return rc;
		return keep_bytes_ok(k, e); /* bigger events may replace smaller ones */
	}
	k->items[k->n++] = c;
	k->bytes += c.kept->bytes;
	if (k->n == k->left) {
		k->heap = true;
		for (size_t i = k->n / 2; i-- > 0;)
			sift_down(k, i);
		return keep_bytes_ok(k, e);
	}
	/* the time order hands a full window on; with a limit it holds, it must hold all N */
	if (k->window && k->left > AGG_ORDER_WINDOW &&
	    (k->n == AGG_ORDER_WINDOW || k->bytes > AGG_ORDER_WINDOW_BYTES))
		return keep_drain(g, k, true, 0, e);
	return keep_bytes_ok(k, e);
}

static void keep_free(struct keep *k)
{
	if (!k)
		return;
	arena_release(&k->copies);
	mem_free(k->items);
	mem_free(k->tmp);
	mem_free(k);
}

/* ---- the event stage ---- */

/*
 * Event ev through the event-stage pipes from pipe i on: heads count it (or drop it past
 * their number), a sort keeps it; past the stage, into the groups or out.
 */
static int stage_from(struct agg *g, size_t i, const struct event *ev, struct err *e)
{
	for (; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind == QUERY_HEAD) {
			if (g->head_seen[i] >= p->head)
				return 0;
			g->head_seen[i]++;
		} else if (p->kind == QUERY_SORT) {
			return keep_add(g, g->keeps[i], ev, e);
		}
	}
	return pass_on(g, ev, e);
}

/*
 * Whether no further event can change the result: the order events enter first handed on
 * all that can matter, or, without one (in read order), a head before any sort is full.
 */
static bool entry_done(const struct agg *g)
{
	if (g->entry)
		return g->entry->left == 0;
	for (size_t i = 0; i < g->stage_end && g->q->pipes[i].kind != QUERY_SORT; i++)
		if (g->q->pipes[i].kind == QUERY_HEAD && g->head_seen[i] >= g->q->pipes[i].head)
			return true;
	return false;
}

int agg_add(struct agg *g, const struct event *ev, struct err *e)
{
	int rc = g->order ? keep_add(g, g->order, ev, e) : stage_from(g, 0, ev, e);

	return rc < 0 ? rc : entry_done(g);
}

int agg_time_bound(const struct agg *g, int64_t *oldest)
{
	const struct keep *k = g->entry;

	if (!k || k->field != FIELD_TIMESTAMP || !k->desc || !k->heap ||
	    k->items[0].key.kind != AGG_TIME)
		return 0;
	*oldest = k->items[0].key.v.i;
	return 1;
}

int agg_newer_than(struct agg *g, int64_t t, struct err *e)
{
	struct keep *k = g->entry;
	int rc;

	if (!k || k->field != FIELD_TIMESTAMP || !k->desc)
		return 0;
	rc = keep_drain(g, k, false, t, e);
	return rc < 0 ? rc : entry_done(g);
}

/* ---- groups ---- */

/*
 * The start of t's bucket: spans are aligned to 1970-01-01 UTC, a span of whole weeks to
 * the Monday after it (1970-01-05), so that weekly charts run Monday to Monday.
 */
static int64_t bucket_start(int64_t t, int64_t span)
{
	int64_t origin = span % QUERY_WEEK_NS ? 0 : 4 * 86400000000000LL;
	int64_t d, r, start;

	if (__builtin_sub_overflow(t, origin, &d))
		return t; /* within days of the earliest time there is: its own bucket */
	r = d % span;
	if (r < 0)
		r += span;
	return __builtin_sub_overflow(t, r, &start) ? t : start;
}

static int group_key(struct agg *g, const struct event *ev, struct agg_value *key)
{
	size_t k = 0;

	if (g->stats->kind == QUERY_TIMECHART) {
		struct agg_value t = field_value(ev, FIELD_TIMESTAMP);
		if (t.kind != AGG_TIME)
			return 0; /* no time: not on the chart */
		key[k].kind = AGG_TIME;
		key[k++].v.i = bucket_start(t.v.i, g->stats->span_ns);
	}
	for (size_t i = 0; i < g->stats->n_names; i++)
		key[k++] = field_value(ev, g->by[i]);
	return 1;
}

static uint64_t key_hash(const struct agg_value *key, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = value_hash(h, &key[i]);
	return h ? h : 1;
}

static bool key_eq(const struct agg_value *a, const struct agg_value *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!value_eq(&a[i], &b[i]))
			return false;
	return true;
}

static int table_grow(struct agg *g)
{
	size_t cap = g->table_cap ? 2 * g->table_cap : 1024;
	struct group **t = mem_calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_groups; i++) {
		size_t j = g->groups[i]->hash & (cap - 1);

		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = g->groups[i];
	}
	mem_free(g->table);
	g->table = t;
	g->table_cap = cap;
	return 0;
}

static int group_new(struct agg *g, const struct agg_value *key, uint64_t hash,
		     struct group **out, struct err *e)
{
	struct group *gr;

	if (g->n_groups == AGG_MAX_GROUPS)
		return too_big(e, "groups", AGG_MAX_GROUPS);
	if ((g->n_groups + 1) * 2 > g->table_cap && table_grow(g) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	if (g->n_groups == g->cap_groups) {
		size_t cap = g->cap_groups ? 2 * g->cap_groups : 1024;
		struct group **gs = mem_realloc(g->groups, cap * sizeof(*gs));

		if (!gs)
			return err_set(e, -ENOMEM, "out of memory");
		g->groups = gs;
		g->cap_groups = cap;
	}
	gr = arena_alloc(&g->arena, sizeof(*gr));
	if (gr) {
		gr->key = arena_alloc(&g->arena, (g->n_keys ? g->n_keys : 1) * sizeof(*gr->key));
		gr->acc = arena_alloc(&g->arena, g->stats->n_aggs * sizeof(*gr->acc));
	}
	if (!gr || !gr->key || !gr->acc)
		return too_big(e, "bytes of groups", ARENA_MAX);
	gr->hash = hash;
	memcpy(gr->key, key, g->n_keys * sizeof(*key));
	for (size_t i = 0; i < g->n_keys; i++)
		if (value_keep(g, &gr->key[i]) < 0)
			return too_big(e, "bytes of groups", ARENA_MAX);
	memset(gr->acc, 0, g->stats->n_aggs * sizeof(*gr->acc));
	g->groups[g->n_groups++] = gr;
	*out = gr;
	return 0;
}

static int find_group(struct agg *g, const struct agg_value *key, struct group **out,
		      struct err *e)
{
	uint64_t h = key_hash(key, g->n_keys);
	size_t j;
	int rc;

	if (!g->table_cap && table_grow(g) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	for (j = h & (g->table_cap - 1); g->table[j]; j = (j + 1) & (g->table_cap - 1))
		if (g->table[j]->hash == h && key_eq(g->table[j]->key, key, g->n_keys)) {
			*out = g->table[j];
			return 0;
		}
	if ((rc = group_new(g, key, h, out, e)))
		return rc;
	for (j = h & (g->table_cap - 1); g->table[j]; j = (j + 1) & (g->table_cap - 1))
		;
	g->table[j] = *out;
	return 0;
}

/* dc(): adds the value's hash to the group's set; the set doubles at half full. */
static int set_add(struct agg *g, struct acc *a, uint64_t h, struct err *e)
{
	size_t j;

	if ((a->set_n + 1) * 2 > a->set_cap) {
		size_t cap = a->set_cap ? 2 * a->set_cap : 16;
		uint64_t *s = mem_calloc(cap, sizeof(*s));

		if (!s)
			return err_set(e, -ENOMEM, "out of memory");
		for (size_t i = 0; i < a->set_cap; i++)
			if (a->set[i]) {
				for (j = a->set[i] & (cap - 1); s[j]; j = (j + 1) & (cap - 1))
					;
				s[j] = a->set[i];
			}
		mem_free(a->set);
		a->set = s;
		a->set_cap = cap;
	}
	for (j = h & (a->set_cap - 1); a->set[j]; j = (j + 1) & (a->set_cap - 1))
		if (a->set[j] == h)
			return 0;
	if (g->distinct == AGG_MAX_DISTINCT)
		return too_big(e, "distinct values", AGG_MAX_DISTINCT);
	a->set[j] = h;
	a->set_n++;
	g->distinct++;
	return 0;
}

static void add_sum(struct acc *a, int64_t v)
{
	int64_t sum;

	a->count++;
	if (a->overflow) {
		a->dsum += (double)v;
	} else if (__builtin_add_overflow(a->sum, v, &sum)) {
		a->overflow = true; /* from here on in floating point */
		a->dsum = (double)a->sum + (double)v;
	} else {
		a->sum = sum;
	}
}

/* One value v of an aggregation's field into a, but for count(). */
static int accumulate_value(struct agg *g, struct acc *a, const struct query_agg *qa,
			    struct agg_value v, struct err *e)
{
	switch (qa->kind) {
	case QUERY_DC:
		return set_add(g, a, value_hash(0xcbf29ce484222325ULL, &v) | 1, e);
	case QUERY_SUM:
	case QUERY_AVG:
		if (v.kind == AGG_INT)
			add_sum(a, v.v.i);
		return 0;
	case QUERY_MIN:
	case QUERY_MAX:
		if (!a->count || (qa->kind == QUERY_MIN ? value_cmp(&v, &a->best) < 0
							: value_cmp(&v, &a->best) > 0)) {
			a->best = v;
			if (value_keep(g, &a->best) < 0)
				return too_big(e, "bytes of groups", ARENA_MAX);
		}
		a->count = 1;
		return 0;
	default:
		return 0;
	}
}

/* An event into a: count() counts it, the others take every value of their field. */
static int accumulate(struct agg *g, struct acc *a, const struct query_agg *qa, int field,
		      const struct event *ev, struct err *e)
{
	const struct event_value *v, *end = ev->vals + ev->n;
	int rc = 0;

	if (qa->kind == QUERY_COUNT) {
		a->count++;
		return 0;
	}
	for (v = first_value(ev, field); v && v < end && !rc; v++)
		if (v->field == (uint32_t)field)
			rc = accumulate_value(g, a, qa, value_of(v), e);
	return rc;
}

static int add_to_groups(struct agg *g, const struct event *ev, struct err *e)
{
	struct agg_value key[QUERY_MAX_ITEMS + 1];
	struct group *gr = NULL;
	int rc;

	if (!group_key(g, ev, key))
		return 0;
	if ((rc = find_group(g, key, &gr, e)))
		return rc;
	for (size_t i = 0; i < g->stats->n_aggs; i++)
		if ((rc = accumulate(g, &gr->acc[i], &g->stats->aggs[i], g->agg_field[i], ev, e)))
			return rc;
	return 0;
}

/* ---- rows ---- */

struct rowset {
	size_t n_cols;
	const char **names;
	struct agg_value *cells; /* n_rows * n_cols */
	size_t n_rows;
	size_t *order;           /* row indices, sorted and cut by the row pipes */
	size_t n_order;
	bool *shown;             /* per column: kept by `fields` */
};

/* An aggregation's result; but count, one over no value is null (docs/query.md). */
static struct agg_value acc_value(const struct acc *a, const struct query_agg *qa)
{
	static const struct agg_value null = { AGG_NULL, { 0 } };
	struct agg_value v = { AGG_INT, { 0 } };

	switch (qa->kind) {
	case QUERY_COUNT: v.v.i = a->count; break;
	case QUERY_DC:
		if (!a->set_n)
			return null;
		v.v.i = (int64_t)a->set_n;
		break;
	case QUERY_SUM:
		if (!a->count)
			return null;
		if (a->overflow) {
			v.kind = AGG_DOUBLE;
			v.v.d = a->dsum;
		} else {
			v.v.i = a->sum;
		}
		break;
	case QUERY_AVG:
		if (!a->count)
			return null;
		v.kind = AGG_DOUBLE;
		v.v.d = (a->overflow ? a->dsum : (double)a->sum) / (double)a->count;
		break;
	case QUERY_MIN:
	case QUERY_MAX:
		return a->count ? a->best : null;
	}
	return v;
}

static int rows_build(struct agg *g, struct rowset *rs, struct err *e)
{
	const struct query_pipe *st = g->stats;
	size_t k = 0;

	rs->n_cols = g->n_keys + st->n_aggs;
	rs->n_rows = g->n_groups;
	rs->names = arena_alloc(&g->arena, rs->n_cols * sizeof(*rs->names));
	rs->cells = mem_calloc(rs->n_rows ? rs->n_rows * rs->n_cols : 1, sizeof(*rs->cells));
	rs->order = mem_calloc(rs->n_rows ? rs->n_rows : 1, sizeof(*rs->order));
	rs->shown = arena_alloc(&g->arena, rs->n_cols * sizeof(*rs->shown));
	if (!rs->names || !rs->cells || !rs->order || !rs->shown)
		return err_set(e, -ENOMEM, "out of memory");
	if (st->kind == QUERY_TIMECHART)
		rs->names[k++] = "@timestamp";
	for (size_t i = 0; i < st->n_names; i++)
		rs->names[k++] = st->names[i];
	for (size_t i = 0; i < st->n_aggs; i++)
		rs->names[k++] = st->aggs[i].name;
	for (size_t c = 0; c < rs->n_cols; c++)
		rs->shown[c] = true;
	for (size_t r = 0; r < rs->n_rows; r++) {
		struct agg_value *row = rs->cells + r * rs->n_cols;
		const struct group *gr = g->groups[r];

		memcpy(row, gr->key, g->n_keys * sizeof(*row));
		for (size_t i = 0; i < st->n_aggs; i++)
			row[g->n_keys + i] = acc_value(&gr->acc[i], &st->aggs[i]);
		rs->order[r] = r;
	}
	rs->n_order = rs->n_rows;
	return 0;
}

static size_t column_of(const struct rowset *rs, const char *name)
{
	for (size_t c = 0; c < rs->n_cols; c++)
		if (!strcmp(rs->names[c], name))
			return c;
	return SIZE_MAX;
}

/* Stable merge sort of row indices by one column (qsort is not stable). */
static void sort_rows(const struct rowset *rs, size_t *idx, size_t *tmp, size_t n, size_t col,
		      bool desc)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	sort_rows(rs, idx, tmp, mid, col, desc);
	sort_rows(rs, idx + mid, tmp, n - mid, col, desc);
	while (i < mid && j < n) {
		bool take_right = sort_cmp(&rs->cells[idx[j] * rs->n_cols + col],
					   &rs->cells[idx[i] * rs->n_cols + col], desc) < 0;

		tmp[k++] = take_right ? idx[j++] : idx[i++];
	}
	while (i < mid)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

/* Whether the `fields` pipe p keeps name. */
static bool fields_keep(const struct query_pipe *p, const char *name)
{
	for (size_t i = 0; i < p->n_names; i++)
		if (!strcmp(p->names[i], name))
			return true;
	return false;
}

static int row_pipe(struct rowset *rs, const struct query_pipe *p, struct err *e)
{
	size_t col, *tmp;

	switch (p->kind) {
	case QUERY_SORT:
		col = column_of(rs, p->sort_key);
		if (col == SIZE_MAX)
			return err_set(e, -EINVAL, "column %u: sort by '%s': the rows have no such "
					 "column", p->column, p->sort_key);
		tmp = mem_calloc(rs->n_order ? rs->n_order : 1, sizeof(*tmp));
		if (!tmp)
			return err_set(e, -ENOMEM, "out of memory");
		sort_rows(rs, rs->order, tmp, rs->n_order, col, p->descending);
		mem_free(tmp);
		return 0;
	case QUERY_HEAD:
		rs->n_order = MIN(rs->n_order, (size_t)MIN(p->head, (uint64_t)SIZE_MAX));
		return 0;
	case QUERY_FIELDS:
		for (size_t c = 0; c < rs->n_cols; c++)
			rs->shown[c] = fields_keep(p, rs->names[c]);
		return 0;
	default:
		return err_set(e, -EINVAL, "column %u: one stats or timechart per query", p->column);
	}
}

static int emit_rows(struct agg *g, const struct rowset *rs)
{
	const char *names[2 * QUERY_MAX_ITEMS + 1];
	struct agg_value vals[2 * QUERY_MAX_ITEMS + 1];
	int rc = 0;

	for (size_t i = 0; i < rs->n_order && !rc; i++) {
		const struct agg_value *row = rs->cells + rs->order[i] * rs->n_cols;
		struct agg_row out = { 0, names, vals };

		for (size_t c = 0; c < rs->n_cols; c++)
			if (rs->shown[c]) {
				names[out.n] = rs->names[c];
				vals[out.n++] = row[c];
			}
		rc = g->row_fn(g->ctx, &out);
	}
	return rc;
}

/* Timechart rows come by time, then by the split field. */
static void chart_order(struct rowset *rs, bool split)
{
	size_t *tmp = mem_calloc(rs->n_order ? rs->n_order : 1, sizeof(*tmp));

	if (!tmp)
		return; /* first-seen order then: still every row */
	if (split)
		sort_rows(rs, rs->order, tmp, rs->n_order, 1, false);
	sort_rows(rs, rs->order, tmp, rs->n_order, 0, false);
	mem_free(tmp);
}

static int finish_rows(struct agg *g, struct err *e)
{
	struct rowset rs = { 0 };
	struct agg_value no_key[1];
	struct group *none;
	int rc = 0;

	/* `| stats count()` over no event still answers: one row, count 0 */
	if (!g->n_groups && g->stats->kind == QUERY_STATS && !g->stats->n_names)
		rc = find_group(g, no_key, &none, e);
	if (!rc)
		rc = rows_build(g, &rs, e);

	if (!rc && g->stats->kind == QUERY_TIMECHART)
		chart_order(&rs, g->stats->n_names > 0);
	for (size_t i = g->stage_end + 1; i < g->q->n_pipes && !rc; i++)
		rc = row_pipe(&rs, &g->q->pipes[i], e);
	if (!rc)
		rc = emit_rows(g, &rs);
	mem_free(rs.cells);
	mem_free(rs.order);
	return rc;
}

/* ---- finishing the event stage ---- */

/* What every order kept, in order: the time order's first, then each sort's. */
static int finish_events(struct agg *g, struct err *e)
{
	int rc = g->order ? keep_drain(g, g->order, true, 0, e) : 0;

	for (size_t i = 0; i < g->stage_end && !rc; i++)
		if (g->keeps[i])
			rc = keep_drain(g, g->keeps[i], true, 0, e);
	return rc;
}

int agg_finish(struct agg *g, struct err *e)
{
	int rc = finish_events(g, e);

	if (!rc && g->stats)
		rc = finish_rows(g, e);
	return rc;
}

/* ---- life cycle ---- */

static bool projected(const struct agg *g, int field)
{
	for (size_t i = 0; i < g->n_fields; i++)
		if (g->fields[i] == field)
			return true;
	return false;
}

/* `| fields a, b | fields b, c` keeps b: each fields pipe narrows what the previous kept. */
static int narrow_fields(struct agg *g, const struct query_pipe *p)
{
	int *f = mem_calloc(p->n_names ? p->n_names : 1, sizeof(*f));
	size_t n = 0;

	if (!f)
		return -ENOMEM;
	for (size_t k = 0; k < p->n_names; k++) {
		int id = resolve(p->names[k]);
		bool seen = false;

		for (size_t j = 0; j < n && !seen; j++) /* `fields tags, tags`: tags once */
			seen = f[j] == id;
		if (id >= 0 && !seen && (!g->project || projected(g, id)))
			f[n++] = id;
	}
	mem_free(g->fields);
	g->fields = f;
	g->n_fields = n;
	g->project = true;
	return 0;
}

/*
 * The events that can matter after the pipe before next: the heads up to the next sort, and
 * past the stage, for events, the caller's limit; UINT64_MAX: every one.
 */
static uint64_t left_after(const struct agg *g, size_t next)
{
	uint64_t left = UINT64_MAX;

	for (size_t i = next; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind == QUERY_SORT)
			return left;
		if (p->kind == QUERY_HEAD)
			left = MIN(left, p->head);
	}
	return g->stats ? left : MIN(left, g->limit);
}

static struct keep *keep_new(size_t next, int field, bool desc, bool window)
{
	struct keep *k = mem_calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->next = next;
	k->field = field;
	k->desc = desc;
	k->window = window;
	k->newest = INT64_MIN;
	arena_init(&k->copies, ARENA_CHUNK, KEEP_COPIES_MAX);
	return k;
}

/* Each order's bound, from the pipes after it and the caller's limit. */
static void set_bounds(struct agg *g)
{
	if (g->order)
		g->order->left = left_after(g, 0);
	for (size_t i = 0; i < g->stage_end; i++)
		if (g->keeps[i])
			g->keeps[i]->left = left_after(g, i + 1);
}

/*
 * Events enter in time order, newest first, unless the stage begins with a sort (which
 * orders them itself) or they only feed a stats with no head before it (no order shows).
 */
static bool needs_time_order(const struct agg *g)
{
	bool head = false;

	for (size_t i = 0; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind == QUERY_SORT && !head)
			return false;
		head |= p->kind == QUERY_HEAD;
	}
	return !g->stats || head;
}

/* The order events enter first: the time order, a leading sort, or none (NULL). */
static void set_entry(struct agg *g)
{
	g->entry = g->order;
	for (size_t i = 0; i < g->stage_end && !g->entry; i++) {
		if (g->q->pipes[i].kind == QUERY_HEAD)
			break;
		g->entry = g->keeps[i];
	}
}

static int setup_event_stage(struct agg *g, struct err *e)
{
	g->head_seen = mem_calloc(g->stage_end ? g->stage_end : 1, sizeof(*g->head_seen));
	g->keeps = mem_calloc(g->stage_end ? g->stage_end : 1, sizeof(*g->keeps));
	if (!g->head_seen || !g->keeps)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind == QUERY_SORT &&
		    !(g->keeps[i] = keep_new(i + 1, resolve(p->sort_key), p->descending, false)))
			return err_set(e, -ENOMEM, "out of memory");
		if (p->kind == QUERY_FIELDS && narrow_fields(g, p) < 0)
			return err_set(e, -ENOMEM, "out of memory");
	}
	if (needs_time_order(g) && !(g->order = keep_new(0, FIELD_TIMESTAMP, true, true)))
		return err_set(e, -ENOMEM, "out of memory");
	set_entry(g);
	g->limit = UINT64_MAX;
	set_bounds(g);
	return 0;
}

void agg_set_limit(struct agg *g, uint64_t limit)
{
	g->limit = limit ? limit : UINT64_MAX;
	set_bounds(g);
}

void agg_read_order(struct agg *g)
{
	keep_free(g->order);
	g->order = NULL;
	set_entry(g);
}

static int setup_stats(struct agg *g, struct err *e)
{
	const struct query_pipe *st = g->stats;

	g->n_keys = st->n_names + (st->kind == QUERY_TIMECHART);
	g->by = mem_calloc(st->n_names ? st->n_names : 1, sizeof(*g->by));
	g->agg_field = mem_calloc(st->n_aggs ? st->n_aggs : 1, sizeof(*g->agg_field));
	if (!g->by || !g->agg_field)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < st->n_names; i++)
		g->by[i] = resolve(st->names[i]);
	for (size_t i = 0; i < st->n_aggs; i++)
		g->agg_field[i] = st->aggs[i].field ? resolve(st->aggs[i].field) : -1;
	return 0;
}

/*
 * A sort by a name that a `fields` before it (since the stats or timechart that made the
 * rows, or since the start) dropped would order by what the reader no longer sees, or by
 * nothing: an error naming both, before anything is read.
 */
static int check_sort_keys(const struct query *q, struct err *e)
{
	size_t stage = 0;

	for (size_t i = 0; i < q->n_pipes; i++) {
		const struct query_pipe *p = &q->pipes[i];

		if (p->kind == QUERY_STATS || p->kind == QUERY_TIMECHART)
			stage = i + 1;
		for (size_t j = stage; p->kind == QUERY_SORT && j < i; j++) {
			const struct query_pipe *f = &q->pipes[j];

			if (f->kind == QUERY_FIELDS && !fields_keep(f, p->sort_key))
				return err_set(e, -EINVAL, "column %u: sort by '%s': the "
					       "'| fields' at column %u dropped it (sort before it, "
					       "or keep the field)", p->key_column, p->sort_key,
					       f->column);
		}
	}
	return 0;
}

int agg_new(struct agg **gp, const struct query *q, agg_event_fn *event_fn, agg_row_fn *row_fn,
	    void *ctx, struct err *e)
{
	struct agg *g;
	int rc;

	*gp = NULL;
	if ((rc = check_sort_keys(q, e)))
		return rc;
	if (!(g = mem_calloc(1, sizeof(*g))))
		return err_set(e, -ENOMEM, "out of memory");
	g->q = q;
	g->event_fn = event_fn;
	g->row_fn = row_fn;
	g->ctx = ctx;
	arena_init(&g->arena, ARENA_CHUNK, ARENA_MAX);
	arena_init(&g->scratch, ARENA_CHUNK, ARENA_MAX);
	for (g->stage_end = 0; g->stage_end < q->n_pipes; g->stage_end++)
		if (q->pipes[g->stage_end].kind == QUERY_STATS ||
		    q->pipes[g->stage_end].kind == QUERY_TIMECHART)
			break;
	if (g->stage_end < q->n_pipes)
		g->stats = &q->pipes[g->stage_end];
	rc = setup_event_stage(g, e);
	if (!rc && g->stats)
		rc = setup_stats(g, e);
	if (rc) {
		agg_free(g);
		return rc;
	}
	*gp = g;
	return 0;
}

void agg_free(struct agg *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_groups; i++)
		for (size_t a = 0; a < g->stats->n_aggs; a++)
			mem_free(g->groups[i]->acc[a].set);
	mem_free(g->groups);
	mem_free(g->table);
	keep_free(g->order);
	for (size_t i = 0; g->keeps && i < g->stage_end; i++)
		keep_free(g->keeps[i]);
	mem_free(g->keeps);
	mem_free(g->head_seen);
	mem_free(g->fields);
	mem_free(g->by);
	mem_free(g->agg_field);
	arena_release(&g->arena);
	arena_release(&g->scratch);
	mem_free(g);
}

int agg_gives_rows(const struct agg *g)
{
	return g->stats != NULL;
}

/* ---- output ---- */

/* d in the shortest of %.15g, %.16g and %.17g that reads back as d: 2080.1833, not ...01. */
static int add_double(struct buf *out, double d)
{
	char tmp[32];

	for (int digits = 15; digits < 17; digits++) {
		snprintf(tmp, sizeof(tmp), "%.*g", digits, d);
		if (strtod(tmp, NULL) == d)
			return buf_adds(out, tmp);
	}
	return buf_addf(out, "%.17g", d);
}

int agg_value_write_text(const struct agg_value *v, struct buf *out)
{
	char tmp[TIME_RFC3339_LEN + IPADDR_STRLEN];

	switch (v->kind) {
	case AGG_NULL: return buf_addch(out, '-');
	case AGG_INT: return buf_add_int(out, v->v.i);
	case AGG_DOUBLE: return add_double(out, v->v.d);
	case AGG_TEXT: return buf_add(out, v->v.text.s, v->v.text.len);
	case AGG_IP:
		ipaddr_format(&v->v.ip, tmp);
		return buf_adds(out, tmp);
	case AGG_TIME: return buf_add(out, tmp, time_format_rfc3339(v->v.i, tmp));
	}
	return -EINVAL;
}

static int value_write_json(const struct agg_value *v, struct buf *out)
{
	char tmp[TIME_RFC3339_LEN + IPADDR_STRLEN];

	switch (v->kind) {
	case AGG_NULL: return buf_adds(out, "null");
	case AGG_INT: return buf_add_int(out, v->v.i);
	case AGG_DOUBLE: return add_double(out, v->v.d);
	case AGG_TEXT: return json_add_string(out, v->v.text.s, v->v.text.len);
	case AGG_IP:
		ipaddr_format(&v->v.ip, tmp);
		return json_add_string(out, tmp, strlen(tmp));
	case AGG_TIME: return json_add_string(out, tmp, time_format_rfc3339(v->v.i, tmp));
	}
	return -EINVAL;
}

int agg_row_write_json(const struct agg_row *row, struct buf *out)
{
	int rc = buf_addch(out, '{');

	for (size_t i = 0; i < row->n && !rc; i++) {
		if (i)
			rc = buf_addch(out, ',');
		if (!rc)
			rc = json_add_string(out, row->names[i], strlen(row->names[i]));
		if (!rc)
			rc = buf_addch(out, ':');
		if (!rc)
			rc = value_write_json(&row->values[i], out);
	}
	return rc ? rc : buf_addch(out, '}');
}
