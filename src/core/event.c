#include "core/event.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"

void event_init(struct event *ev, struct arena *arena)
{
	ev->arena = arena;
	ev->vals = NULL;
	ev->n = 0;
	ev->cap = 0;
}

void event_clear(struct event *ev)
{
	ev->vals = NULL;
	ev->n = 0;
	ev->cap = 0;
}

static struct event_value *slot_new(struct event *ev, unsigned field)
{
	struct event_value *v;

	if (ev->n == ev->cap) {
		uint32_t cap = ev->cap ? ev->cap * 2 : 32;
		struct event_value *nv;

		if (ev->cap >= EVENT_MAX_VALUES)
			return NULL;
		if (cap > EVENT_MAX_VALUES)
			cap = EVENT_MAX_VALUES;
		nv = arena_alloc(ev->arena, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		if (ev->n)
			memcpy(nv, ev->vals, ev->n * sizeof(*nv));
		ev->vals = nv;
		ev->cap = cap;
	}
	v = &ev->vals[ev->n++];
	memset(v, 0, sizeof(*v));
	v->field = field;
	return v;
}

/* Existing value of field to overwrite, or a new one. */
static struct event_value *slot_for(struct event *ev, unsigned field, enum field_type want,
				    int *rc)
{
	struct event_value *v;

	if (field >= field_count() || field_type(field) != want) {
		*rc = -EINVAL;
		return NULL;
	}
	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == field)
			return &ev->vals[i];
	v = slot_new(ev, field);
	if (!v)
		*rc = ev->n >= EVENT_MAX_VALUES ? -ENOSPC : -ENOMEM;
	return v;
}

int event_set_str(struct event *ev, unsigned field, const char *s, size_t len)
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

int event_add_str(struct event *ev, unsigned field, const char *s, size_t len)
{
	struct event_value *v;

	if (field >= field_count() || field_type(field) != FT_STR || len > UINT32_MAX)
		return -EINVAL;
	v = slot_new(ev, field);
	if (!v)
		return ev->n >= EVENT_MAX_VALUES ? -ENOSPC : -ENOMEM;
	v->v.s = s;
	v->len = (uint32_t)len;
	return 0;
}

static int set_i64(struct event *ev, unsigned field, enum field_type t, int64_t x)
{
	int rc = 0;
	struct event_value *v = slot_for(ev, field, t, &rc);

	if (!v)
		return rc;
	v->v.i = x;
	return 0;
}

int event_set_int(struct event *ev, unsigned field, int64_t v)
{
	return set_i64(ev, field, FT_INT, v);
}

int event_set_time(struct event *ev, unsigned field, int64_t ns)
{
	return set_i64(ev, field, FT_TIME, ns);
}

int event_set_bool(struct event *ev, unsigned field, bool v)
{
	return set_i64(ev, field, FT_BOOL, v);
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
	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == field)
			return &ev->vals[i];
	return NULL;
}

int event_get_str(const struct event *ev, unsigned field, const char **s, size_t *len)
{
	const struct event_value *v = event_get(ev, field);

	if (!v || field_type(field) != FT_STR)
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

static int value_order(const void *pa, const void *pb)
{
	const struct event_value *a = *(const struct event_value *const *)pa;
	const struct event_value *b = *(const struct event_value *const *)pb;
	int c = a->field == b->field ? 0 : name_cmp(field_name(a->field), field_name(b->field));

	if (c)
		return c;
	return a < b ? -1 : a > b; /* keep insertion order of repeated values */
}

static int write_value(struct buf *out, const struct event_value *v)
{
	char tmp[TIME_RFC3339_LEN > IPADDR_STRLEN ? TIME_RFC3339_LEN : IPADDR_STRLEN];
	size_t n;

	switch (field_type(v->field)) {
	case FT_STR:
		return json_add_string(out, v->v.s, v->len);
	case FT_INT:
		return buf_addf(out, "%lld", (long long)v->v.i);
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

/* Start of segment k of name (0-based), and its length in *len. */
static const char *segment(const char *name, size_t k, size_t *len)
{
	const char *p = name, *dot;

	while (k--)
		p = strchr(p, '.') + 1;
	dot = strchr(p, '.');
	*len = dot ? (size_t)(dot - p) : strlen(p);
	return p;
}

static size_t segment_count(const char *name)
{
	size_t n = 1;

	for (; *name; name++)
		n += *name == '.';
	return n;
}

int event_write_json(const struct event *ev, struct buf *out)
{
	const struct event_value **order;
	const char *prev = NULL;
	size_t depth = 0; /* open nested objects below the top level */
	int rc = buf_addch(out, '{');

	if (rc || ev->n == 0)
		return rc ? rc : buf_addch(out, '}');
	order = arena_alloc(ev->arena, ev->n * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < ev->n; i++)
		order[i] = &ev->vals[i];
	qsort(order, ev->n, sizeof(*order), value_order);

	for (uint32_t i = 0; i < ev->n && !rc; i++) {
		const char *name = field_name(order[i]->field);
		size_t segs = segment_count(name), keep = 0, len;
		const char *seg;
		uint32_t j;

		if (prev) {
			keep = common_segments(prev, name);
			if (keep > depth)
				keep = depth;
			if (keep > segs - 1)
				keep = segs - 1;
			for (; depth > keep; depth--)
				rc |= buf_addch(out, '}');
			rc |= buf_addch(out, ',');
		}
		for (; depth < segs - 1; depth++) {
			seg = segment(name, depth, &len);
			rc |= json_add_string(out, seg, len);
			rc |= buf_add(out, ":{", 2);
		}
		seg = segment(name, segs - 1, &len);
		rc |= json_add_string(out, seg, len);
		rc |= buf_addch(out, ':');
		for (j = i + 1; j < ev->n && order[j]->field == order[i]->field; j++)
			;
		if (j - i > 1) {
			rc |= buf_addch(out, '[');
			for (uint32_t k = i; k < j; k++) {
				if (k > i)
					rc |= buf_addch(out, ',');
				rc |= write_value(out, order[k]);
			}
			rc |= buf_addch(out, ']');
		} else {
			rc |= write_value(out, order[i]);
		}
		i = j - 1;
		prev = name;
	}
	for (; depth > 0; depth--)
		rc |= buf_addch(out, '}');
	rc |= buf_addch(out, '}');
	return rc ? -ENOSPC : 0;
}
