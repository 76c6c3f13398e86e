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

#define ARENA_CHUNK (1u << 20)
#define ARENA_MAX ((size_t)2 << 30) /* copies of kept events and group keys */

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

struct agg {
	const struct query *q;
	agg_event_fn *event_fn;
	agg_row_fn *row_fn;
	void *ctx;
	struct arena arena;

	/* Event stage: the pipes before the first stats/timechart. */
	size_t stage_end;      /* index of the stats/timechart pipe, or n_pipes */
	bool keep_events;      /* a sort in the event stage: events are kept for agg_finish */
	uint64_t *head_seen;   /* per pipe: events that passed a head so far */
	struct event *kept;
	size_t n_kept, cap_kept;
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

/* A copy of ev in the agg's arena (values and their text). */
static int event_keep(struct agg *g, const struct event *ev, struct event *out)
{
	struct event_value *vals = arena_alloc(&g->arena, (ev->n ? ev->n : 1) * sizeof(*vals));

	if (!vals)
		return -E2BIG;
	*out = *ev;
	out->arena = &g->arena;
	out->vals = vals;
	out->cap = ev->n;
	for (uint32_t i = 0; i < ev->n; i++) {
		enum field_type t = field_type(ev->vals[i].field);

		vals[i] = ev->vals[i];
		if (t == FT_STR || t == FT_OBJ) { /* text in the reader's arena: copied */
			char *s = arena_strndup(&g->arena, ev->vals[i].v.s, ev->vals[i].len);

			if (!s)
				return -E2BIG;
			vals[i].v.s = s;
		}
	}
	return 0;
}

static int keep_event(struct agg *g, const struct event *ev, struct err *e)
{
	if (g->n_kept == AGG_MAX_KEPT)
		return too_big(e, "events to sort", AGG_MAX_KEPT);
	if (g->n_kept == g->cap_kept) {
		size_t cap = g->cap_kept ? 2 * g->cap_kept : 1024;
		struct event *k = mem_realloc(g->kept, cap * sizeof(*k));

		if (!k)
			return err_set(e, -ENOMEM, "out of memory");
		g->kept = k;
		g->cap_kept = cap;
	}
	if (event_keep(g, ev, &g->kept[g->n_kept]) < 0)
		return too_big(e, "bytes of events", ARENA_MAX);
	g->n_kept++;
	return 0;
}

/*
 * Emits ev, keeping only the projected fields when a `fields` pipe asked for it. The fields
 * are distinct (narrow_fields), so each of ev's values is kept at most once: vals holds them.
 */
static int emit_event(struct agg *g, const struct event *ev)
{
	struct event_value vals[EVENT_MAX_VALUES];
	struct event p;
	uint32_t n = 0;

	if (!g->project)
		return g->event_fn(g->ctx, ev);
	p = *ev;
	memset(p.known_pos, 0, sizeof(p.known_pos));
	for (size_t f = 0; f < g->n_fields; f++)
		for (uint32_t i = 0; i < ev->n; i++)
			if (ev->vals[i].field == (uint32_t)g->fields[f]) {
				if (ev->vals[i].field < FIELD_COUNT && !p.known_pos[ev->vals[i].field])
					p.known_pos[ev->vals[i].field] = (uint16_t)(n + 1);
				vals[n++] = ev->vals[i];
			}
	p.vals = vals;
	p.n = p.cap = n;
	return g->event_fn(g->ctx, &p);
}

static int add_to_groups(struct agg *g, const struct event *ev, struct err *e);

/* After the event stage: into the groups, or out. */
static int pass_on(struct agg *g, const struct event *ev, struct err *e)
{
	if (g->stats)
		return add_to_groups(g, ev, e);
	return emit_event(g, ev);
}

/*
 * Runs the event-stage heads on one streamed event: 1 when it is past a head (and so is
 * every later one), else 0.
 */
static int past_head(struct agg *g)
{
	for (size_t i = 0; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind != QUERY_HEAD)
			continue;
		if (g->head_seen[i] >= p->head)
			return 1;
		g->head_seen[i]++;
	}
	return 0;
}

int agg_add(struct agg *g, const struct event *ev, struct err *e)
{
	int rc;

	if (g->keep_events)
		return keep_event(g, ev, e);
	if (past_head(g))
		return 1;
	rc = pass_on(g, ev, e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < g->stage_end; i++) /* the head that just filled up: done */
		if (g->q->pipes[i].kind == QUERY_HEAD && g->head_seen[i] >= g->q->pipes[i].head)
			return 1;
	return 0;
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

/* Sort order: nulls last whichever the direction. */
static int sort_cmp(const struct agg_value *a, const struct agg_value *b, bool desc)
{
	int c;

	if (a->kind == AGG_NULL || b->kind == AGG_NULL)
		return (a->kind == AGG_NULL) - (b->kind == AGG_NULL);
	c = value_cmp(a, b);
	return desc ? -c : c;
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
		for (size_t c = 0; c < rs->n_cols; c++) {
			rs->shown[c] = false;
			for (size_t i = 0; i < p->n_names; i++)
				rs->shown[c] |= !strcmp(rs->names[c], p->names[i]);
		}
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

struct event_order {
	int field;
	bool desc;
};

static int cmp_events(const void *a, const void *b, void *arg)
{
	const struct event_order *o = arg;
	struct agg_value x = field_value(a, o->field), y = field_value(b, o->field);

	return sort_cmp(&x, &y, o->desc);
}

/* The kept events through the event-stage pipes, in order, then on. */
static int finish_events(struct agg *g, struct err *e)
{
	size_t n = g->n_kept;
	int rc = 0;

	for (size_t i = 0; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind == QUERY_HEAD) {
			n = MIN(n, (size_t)MIN(p->head, (uint64_t)SIZE_MAX));
		} else if (p->kind == QUERY_SORT) {
			struct event_order o = { resolve(p->sort_key), p->descending };

			/* qsort_r is not stable: ties keep no order (events rarely tie on time) */
			if (o.field >= 0 && n > 1) /* none kept: g->kept is NULL */
				qsort_r(g->kept, n, sizeof(*g->kept), cmp_events, &o);
		}
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = pass_on(g, &g->kept[i], e);
	return rc;
}

int agg_finish(struct agg *g, struct err *e)
{
	int rc = 0;

	if (g->keep_events)
		rc = finish_events(g, e);
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

static int setup_event_stage(struct agg *g, struct err *e)
{
	g->head_seen = mem_calloc(g->stage_end ? g->stage_end : 1, sizeof(*g->head_seen));
	if (!g->head_seen)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < g->stage_end; i++) {
		const struct query_pipe *p = &g->q->pipes[i];

		if (p->kind == QUERY_SORT)
			g->keep_events = true;
		if (p->kind == QUERY_FIELDS && !g->stats && narrow_fields(g, p) < 0)
			return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
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

int agg_new(struct agg **gp, const struct query *q, agg_event_fn *event_fn, agg_row_fn *row_fn,
	    void *ctx, struct err *e)
{
	struct agg *g = mem_calloc(1, sizeof(*g));
	int rc;

	*gp = NULL;
	if (!g)
		return err_set(e, -ENOMEM, "out of memory");
	g->q = q;
	g->event_fn = event_fn;
	g->row_fn = row_fn;
	g->ctx = ctx;
	arena_init(&g->arena, ARENA_CHUNK, ARENA_MAX);
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
	mem_free(g->kept);
	mem_free(g->head_seen);
	mem_free(g->fields);
	mem_free(g->by);
	mem_free(g->agg_field);
	arena_release(&g->arena);
	mem_free(g);
}

int agg_gives_rows(const struct agg *g)
{
	return g->stats != NULL;
}

/* ---- output ---- */

int agg_value_write_text(const struct agg_value *v, struct buf *out)
{
	char tmp[TIME_RFC3339_LEN + IPADDR_STRLEN];

	switch (v->kind) {
	case AGG_NULL: return buf_addch(out, '-');
	case AGG_INT: return buf_add_int(out, v->v.i);
	case AGG_DOUBLE: return buf_addf(out, "%.6g", v->v.d);
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
	case AGG_DOUBLE: return buf_addf(out, "%.17g", v->v.d);
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
