#include "core/event.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>

/*
 * Types of the known fields, from field.h's table: the setters check every value's type,
 * and field_type() is a call into field.c (about 8 % of a PAN-OS row's decoding).
 */
const uint8_t event_known_types[FIELD_COUNT] = {
#define KNOWN_TYPE(id, name, type, arr) [FIELD_##id] = type,
	FIELD_TABLE(KNOWN_TYPE)
#undef KNOWN_TYPE
};

static enum field_type type_of(unsigned field)
{
	return field < FIELD_COUNT ? (enum field_type)event_known_types[field] : field_type(field);
}

void event_init(struct event *ev, struct arena *arena)
{
	ev->arena = arena;
	event_clear(ev);
}

void event_clear(struct event *ev)
{
	ev->vals = NULL;
	ev->n = 0;
	ev->cap = 0;
	memset(ev->known_pos, 0, sizeof(ev->known_pos));
}

void event_truncate(struct event *ev, uint32_t n)
{
	for (uint32_t i = n; i < ev->n; i++) {
		uint32_t f = ev->vals[i].field;

		if (f < FIELD_COUNT && ev->known_pos[f] == i + 1)
			ev->known_pos[f] = 0;
	}
	if (n < ev->n)
		ev->n = n;
}

/* Room for cap values (at most EVENT_MAX_VALUES): 0, or -ENOSPC/-ENOMEM. */
static int grow(struct event *ev, uint32_t cap)
{
	struct event_value *nv;

	if (cap > EVENT_MAX_VALUES)
		cap = EVENT_MAX_VALUES;
	if (cap <= ev->cap)
		return ev->cap >= EVENT_MAX_VALUES ? -ENOSPC : 0;
	nv = arena_alloc(ev->arena, cap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	if (ev->n)
		memcpy(nv, ev->vals, ev->n * sizeof(*nv));
	ev->vals = nv;
	ev->cap = cap;
	return 0;
}

int event_reserve(struct event *ev, uint32_t n)
{
	return n <= ev->cap ? 0 : grow(ev, n);
}

/* The array doubled: slot_new's rare path, out of line so that the setters stay small. */
static __attribute__((noinline)) int grow_full(struct event *ev)
{
	return grow(ev, ev->cap ? ev->cap * 2 : 32);
}

static inline struct event_value *slot_new(struct event *ev, unsigned field)
{
	struct event_value *v;

	if (ev->n == ev->cap && grow_full(ev) < 0)
		return NULL;
	v = &ev->vals[ev->n++];
	memset(v, 0, sizeof(*v));
	v->field = field;
	if (field < FIELD_COUNT && !ev->known_pos[field])
		ev->known_pos[field] = (uint16_t)ev->n;
	return v;
}

/* First value of field, or NULL: known fields by index, vendor fields by a scan. */
static struct event_value *find(const struct event *ev, unsigned field)
{
	if (field < FIELD_COUNT)
		return ev->known_pos[field] ? &ev->vals[ev->known_pos[field] - 1] : NULL;
	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == field)
			return &ev->vals[i];
	return NULL;
}

/* slot_for for every case: vendor fields, a full array, a wrong type (*rc then). */
static __attribute__((noinline)) struct event_value *
slot_for_checked(struct event *ev, unsigned field, enum field_type want, int *rc)
{
	struct event_value *v;

	if ((field >= FIELD_COUNT && field >= field_count()) || type_of(field) != want) {
		*rc = -EINVAL;
		return NULL;
	}
	v = find(ev, field);
	if (v)
		return v;
	v = slot_new(ev, field);
	if (!v)
		*rc = ev->n >= EVENT_MAX_VALUES ? -ENOSPC : -ENOMEM;
	return v;
}

/*
 * Existing value of field to overwrite, or a new one: the common case inline
 * (event_slot_fast, event.h), the rest out of line.
 */
static inline struct event_value *slot_for(struct event *ev, unsigned field,
					   enum field_type want, int *rc)
{
	struct event_value *v = event_slot_fast(ev, field, want);

	return v ? v : slot_for_checked(ev, field, want, rc);
}

int event_set_str_checked(struct event *ev, unsigned field, const char *s, size_t len)
{
	int rc = 0;
	struct event_value *v;

	if (len > UINT32_MAX)
		return -EINVAL;
	v = slot_for(ev, field, FT_STR, &rc);
	if (!v)
		return rc;
	v->v.s = s;
	v->len = (uint32_t)len;
	return 0;
}

int event_set_strdup(struct event *ev, unsigned field, const char *s, size_t len)
{
	char *copy = arena_strndup(ev->arena, s, len);

	return copy ? event_set_str(ev, field, copy, len) : -ENOMEM;
}

/* One more value of field, which must have type t. */
static struct event_value *slot_add(struct event *ev, unsigned field, enum field_type t,
				    int *rc)
{
	struct event_value *v;

	if ((field >= FIELD_COUNT && field >= field_count()) || type_of(field) != t) {
		*rc = -EINVAL;
		return NULL;
	}
	v = slot_new(ev, field);
	if (!v)
		*rc = ev->n >= EVENT_MAX_VALUES ? -ENOSPC : -ENOMEM;
	return v;
}

int event_add_str(struct event *ev, unsigned field, const char *s, size_t len)
{
	int rc = 0;
	struct event_value *v;

	if (len > UINT32_MAX)
		return -EINVAL;
	v = slot_add(ev, field, FT_STR, &rc);
	if (!v)
		return rc;
	v->v.s = s;
	v->len = (uint32_t)len;
	return 0;
}

int event_add_obj(struct event *ev, unsigned field, const char *json, size_t len)
{
	int rc = 0;
	struct event_value *v;

	if (len > UINT32_MAX)
		return -EINVAL;
	v = slot_add(ev, field, FT_OBJ, &rc);
	if (!v)
		return rc;
	v->v.s = json;
	v->len = (uint32_t)len;
	return 0;
}

int event_add_ip(struct event *ev, unsigned field, const struct ipaddr *ip)
{
	int rc = 0;
	struct event_value *v = slot_add(ev, field, FT_IP, &rc);

	if (!v)
		return rc;
	v->v.ip = *ip;
	return 0;
}

/* Index of field's first value (known fields: without a scan), or ev->n when it has none. */
static uint32_t first_value(const struct event *ev, unsigned field)
{
	if (field < FIELD_COUNT)
		return ev->known_pos[field] ? ev->known_pos[field] - 1u : ev->n;
	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == field)
			return i;
	return ev->n;
}

int event_add_str_once(struct event *ev, unsigned field, const char *s, size_t len)
{
	for (uint32_t i = first_value(ev, field); i < ev->n; i++)
		if (ev->vals[i].field == field && ev->vals[i].len == len &&
		    !memcmp(ev->vals[i].v.s, s, len))
			return 0;
	return event_add_str(ev, field, s, len);
}

int event_add_ip_once(struct event *ev, unsigned field, const struct ipaddr *ip)
{
	for (uint32_t i = first_value(ev, field); i < ev->n; i++)
		if (ev->vals[i].field == field && !memcmp(ev->vals[i].v.ip.b, ip->b, sizeof(ip->b)))
			return 0;
	return event_add_ip(ev, field, ip);
}

int event_set_i64_checked(struct event *ev, unsigned field, enum field_type t, int64_t x)
{
	int rc = 0;
	struct event_value *v = slot_for(ev, field, t, &rc);

	if (!v)
		return rc;
	v->v.i = x;
	return 0;
}

int event_set_bool(struct event *ev, unsigned field, bool v)
{
	return event_set_i64_checked(ev, field, FT_BOOL, v);
}

int event_set_ip(struct event *ev, unsigned field, const struct ipaddr *ip)
{
	int rc = 0;
	struct event_value *v = slot_for(ev, field, FT_IP, &rc);

	if (!v)
		return rc;
	v->v.ip = *ip;
	return 0;
}

const struct event_value *event_get(const struct event *ev, unsigned field)
{
	return find(ev, field);
}

int event_get_str(const struct event *ev, unsigned field, const char **s, size_t *len)
{
	const struct event_value *v = event_get(ev, field);

	if (!v || type_of(field) != FT_STR)
		return 0;
	*s = v->v.s;
	*len = v->len;
	return 1;
}

/* ---- JSON ---- */

/* Orders dotted names as nested objects would: '.' sorts before every other byte. */
static int name_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x == '.')
			x = 1;
		if (y == '.')
			y = 1;
		if (x != y || !x)
			return (int)x - (int)y;
	}
}

/*
 * Position of each known field in name order, so that sorting compares two integers,
 * and the shape of its name (dots, start of the last segment) for nesting.
 */
static uint16_t known_rank[FIELD_COUNT], known_sorted[FIELD_COUNT];
static uint8_t known_dots[FIELD_COUNT], known_leaf[FIELD_COUNT];
/* Sort keys of vendor fields, 0 until first needed (see sort_key). */
static atomic_uint vendor_key[FIELD_DYNAMIC_MAX];
static pthread_once_t rank_once = PTHREAD_ONCE_INIT;

static void name_shape(const char *name, unsigned *dots, unsigned *leaf)
{
	*dots = 0;
	*leaf = 0;
	for (unsigned i = 0; name[i]; i++)
		if (name[i] == '.') {
			(*dots)++;
			*leaf = i + 1;
		}
}

static int known_order(const void *pa, const void *pb)
{
	return name_cmp(field_name(*(const uint16_t *)pa), field_name(*(const uint16_t *)pb));
}

static void rank_known_fields(void)
{
	uint16_t ids[FIELD_COUNT];

	for (unsigned i = 0; i < FIELD_COUNT; i++)
		ids[i] = (uint16_t)i;
	qsort(ids, FIELD_COUNT, sizeof(ids[0]), known_order);
	memcpy(known_sorted, ids, sizeof(ids));
	for (unsigned i = 0; i < FIELD_COUNT; i++) {
		unsigned dots, leaf;

		known_rank[ids[i]] = (uint16_t)i;
		name_shape(field_name(i), &dots, &leaf);
		known_dots[i] = (uint8_t)dots;
		known_leaf[i] = (uint8_t)leaf;
	}
}

/*
 * An integer that orders fields by name: a known field of rank r has 2r + 2; a vendor
 * field has 2L + 1, where L known names sort before it, so it falls between its known
 * neighbours. Two vendor fields with the same key are told apart by their names.
 */
static uint32_t sort_key(uint32_t field)
{
	unsigned lo = 0, hi = FIELD_COUNT, key;
	const char *name;

	if (field < FIELD_COUNT)
		return 2u * known_rank[field] + 2;
	key = atomic_load_explicit(&vendor_key[field - FIELD_COUNT], memory_order_relaxed);
	if (key)
		return key;
	name = field_name(field);
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (name_cmp(field_name(known_sorted[mid]), name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	key = 2u * lo + 1;
	atomic_store_explicit(&vendor_key[field - FIELD_COUNT], key, memory_order_relaxed);
	return key;
}

struct sort_item {
	uint32_t key;
	const struct event_value *v;
	uint64_t head[2]; /* vendor fields: the name's first 16 bytes in name_cmp's order */
};

/*
 * Vendor names in one gap between known names share their key (a decoder's hundred
 * panos.* columns, say): their first 16 bytes, as two big-endian words with '.' as 1 (as
 * name_cmp sees them), order almost all of them without a string comparison.
 */
static uint64_t name_word(const char *name, unsigned *i)
{
	uint64_t w = 0;

	for (unsigned k = 0; k < 8; k++, (*i)++) {
		unsigned char c = (unsigned char)name[*i];

		w = w << 8 | (c == '.' ? 1 : c);
		if (!c) {
			w <<= 8 * (7 - k);
			break;
		}
	}
	return w;
}

static void name_head(const char *name, uint64_t head[2])
{
	unsigned i = 0;

	head[0] = name_word(name, &i);
	head[1] = i == 8 ? name_word(name, &i) : 0;
}

static struct sort_item sort_item_of(const struct event_value *v)
{
	struct sort_item it = { sort_key(v->field), v, { 0, 0 } };

	if (it.key & 1)
		name_head(field_name(v->field), it.head);
	return it;
}

static bool sorts_after(const struct sort_item *a, const struct sort_item *b)
{
	if (a->key != b->key)
		return a->key > b->key;
	if (a->head[0] != b->head[0])
		return a->head[0] > b->head[0];
	if (a->head[1] != b->head[1])
		return a->head[1] > b->head[1];
	return a->v->field != b->v->field &&
	       name_cmp(field_name(a->v->field), field_name(b->v->field)) > 0;
}

/* Insertion sort of v[0..n), stable: the fastest for a few dozen values. */
static void insertion_sort(struct sort_item *v, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		struct sort_item x = v[i];
		uint32_t j = i;

		for (; j > 0 && sorts_after(&v[j - 1], &x); j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void swap_items(struct sort_item **a, struct sort_item **b)
{
	struct sort_item *t = *a;

	*a = *b;
	*b = t;
}

/*
 * Sorts values by field name order, stable (repeated values keep their order). A few
 * dozen values take insertion sort on the precomputed keys; more (a PAN-OS line's 160,
 * many structured-data values) a bottom-up merge sort of runs of 32 through tmp[0..n),
 * so the cost stays n log n without qsort's call per comparison and copy.
 */
static void sort_values(struct sort_item *v, struct sort_item *tmp, uint32_t n)
{
	const uint32_t run = 32;
	struct sort_item *from = v, *to = tmp;

	for (uint32_t i = 0; i < n; i += run)
		insertion_sort(v + i, n - i < run ? n - i : run);
	for (uint32_t width = run; width < n; width *= 2) {
		for (uint32_t lo = 0; lo < n; lo += 2 * width) {
			uint32_t mid = lo + width < n ? lo + width : n;
			uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			uint32_t a = lo, b = mid, k = lo;

			while (a < mid && b < hi)
				to[k++] = sorts_after(&from[a], &from[b]) ? from[b++] : from[a++];
			while (a < mid)
				to[k++] = from[a++];
			while (b < hi)
				to[k++] = from[b++];
		}
		swap_items(&from, &to);
	}
	if (from != v)
		memcpy(v, from, n * sizeof(*v));
}

static int write_value(struct buf *out, const struct event_value *v)
{
	char tmp[TIME_RFC3339_LEN > IPADDR_STRLEN ? TIME_RFC3339_LEN : IPADDR_STRLEN];
	size_t n;

	switch (type_of(v->field)) {
	case FT_STR:
		return json_add_string(out, v->v.s, v->len);
	case FT_OBJ:
		return buf_add(out, v->v.s, v->len);
	case FT_INT:
		return buf_add_int(out, v->v.i);
	case FT_BOOL:
		return buf_adds(out, v->v.i ? "true" : "false");
	case FT_TIME:
		n = time_format_rfc3339(v->v.i, tmp);
		return json_add_string(out, tmp, n);
	case FT_IP:
		ipaddr_format(&v->v.ip, tmp);
		return json_add_string(out, tmp, strlen(tmp));
	}
	return -EINVAL;
}

/* Number of leading dot-separated segments that a and b share. */
static size_t common_segments(const char *a, const char *b)
{
	size_t n = 0, i = 0;

	for (;; i++) {
		if (a[i] != b[i])
			return n;
		if (a[i] == '.')
			n++;
		if (!a[i])
			return n;
	}
}

/* A key: known names are plain ASCII and need no escaping; vendor names may not be. */
static int add_key(struct buf *out, const char *s, size_t len, bool known)
{
	int rc;

	if (!known)
		return json_add_string(out, s, len);
	if ((rc = buf_addch(out, '"')) < 0 || (rc = buf_add(out, s, len)) < 0)
		return rc;
	return buf_addch(out, '"');
}

/*
 * Opens the objects of name's segments from *depth on, then writes its leaf key and
 * the colon; *depth becomes the number of objects the name sits in.
 */
static int open_path(struct buf *out, unsigned field, size_t *depth)
{
	const char *name = field_name(field), *p = name, *dot;
	bool known = field < FIELD_COUNT;
	unsigned dots, leaf;
	size_t d = 0;
	int rc;

	if (known) {
		dots = known_dots[field];
		leaf = known_leaf[field];
	} else {
		name_shape(name, &dots, &leaf);
	}
	if (*depth == dots) { /* a sibling of the previous field: only the key */
		if ((rc = add_key(out, name + leaf, strlen(name + leaf), known)) < 0)
			return rc;
		return buf_addch(out, ':');
	}
	while ((dot = strchr(p, '.'))) {
		if (d >= *depth && ((rc = add_key(out, p, (size_t)(dot - p), known)) < 0 ||
				    (rc = buf_add(out, ":{", 2)) < 0))
			return rc;
		d++;
		p = dot + 1;
	}
	*depth = d;
	if ((rc = add_key(out, p, strlen(p), known)) < 0)
		return rc;
	return buf_addch(out, ':');
}

/* A field's values from order[i] to order[j - 1] (one field), as a value or an array. */
static int write_values(struct buf *out, const struct sort_item *order, uint32_t i, uint32_t j)
{
	int rc;

	if (j - i == 1 && !field_is_array(order[i].v->field))
		return write_value(out, order[i].v);
	if ((rc = buf_addch(out, '[')) < 0)
		return rc;
	for (uint32_t k = i; k < j; k++)
		if ((k > i && (rc = buf_addch(out, ',')) < 0) ||
		    (rc = write_value(out, order[k].v)) < 0)
			return rc;
	return buf_addch(out, ']');
}

static int close_objects(struct buf *out, size_t *depth, size_t keep)
{
	int rc;

	for (; *depth > keep; (*depth)--)
		if ((rc = buf_addch(out, '}')) < 0)
			return rc;
	return 0;
}

int event_write_json(const struct event *ev, struct buf *out)
{
	struct sort_item *order;
	const char *prev = NULL;
	size_t depth = 0; /* open nested objects below the top level */
	int rc = buf_addch(out, '{');

	if (rc < 0 || ev->n == 0)
		return rc < 0 ? rc : buf_addch(out, '}');
	pthread_once(&rank_once, rank_known_fields);
	order = arena_alloc(ev->arena, 2 * (size_t)ev->n * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < ev->n; i++)
		order[i] = sort_item_of(&ev->vals[i]);
	sort_values(order, order + ev->n, ev->n);

	for (uint32_t i = 0; i < ev->n; i++) {
		const char *name = field_name(order[i].v->field);
		uint32_t j;

		/* close the objects this name does not share with the previous one */
		if (prev && ((rc = close_objects(out, &depth, common_segments(prev, name))) < 0 ||
			     (rc = buf_addch(out, ',')) < 0))
			return rc;
		if ((rc = open_path(out, order[i].v->field, &depth)) < 0)
			return rc;
		for (j = i + 1; j < ev->n && order[j].v->field == order[i].v->field; j++)
			;
		if ((rc = write_values(out, order, i, j)) < 0)
			return rc;
		i = j - 1;
		prev = name;
	}
	if ((rc = close_objects(out, &depth, 0)) < 0)
		return rc;
	return buf_addch(out, '}');
}

const char *event_value_text(const struct event_value *v, char tmp[EVENT_VALUE_TEXT_MAX],
			     size_t *len)
{
	switch (type_of(v->field)) {
	case FT_STR:
	case FT_OBJ:
		*len = v->len;
		return v->v.s;
	case FT_INT:
		*len = (size_t)snprintf(tmp, EVENT_VALUE_TEXT_MAX, "%lld", (long long)v->v.i);
		return tmp;
	case FT_BOOL:
		*len = v->v.i ? 4 : 5;
		return v->v.i ? "true" : "false";
	case FT_TIME:
		*len = time_format_rfc3339(v->v.i, tmp);
		return tmp;
	case FT_IP:
		ipaddr_format(&v->v.ip, tmp);
		*len = strlen(tmp);
		return tmp;
	}
	*len = 0;
	return "";
}
