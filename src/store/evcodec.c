/*
 * evcodec.c - the WAL's binary event batches (see evcodec.h).
 */
#include "store/evcodec.h"
#include "core/compat.h"

#define LOG_MODULE "evcodec"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/le.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/varint.h"

static const unsigned char v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ---- writing ---- */

void evcodec_writer_init(struct evcodec_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void evcodec_writer_release(struct evcodec_writer *w)
{
	mem_free(w->idx);
	mem_free(w->stamp);
	mem_free(w->type);
	mem_free(w->names);
	memset(w, 0, sizeof(*w));
}

int evcodec_begin(struct evcodec_writer *w, struct buf *out)
{
	static const unsigned char header[EVCODEC_HEADER] = { 'K', 'E', EVCODEC_VERSION, 0 };

	if (++w->gen == 0) { /* wrapped: forget every stamp */
		if (w->stamp)
			memset(w->stamp, 0, w->map_cap * sizeof(*w->stamp));
		w->gen = 1;
	}
	w->n_names = 0;
	w->n_events = 0;
	w->have_base = 0;
	w->base = 0;
	w->start = out->len;
	return buf_add(out, header, sizeof(header));
}

uint32_t evcodec_count(const struct evcodec_writer *w)
{
	return w->n_events;
}

/* The maps by field id (idx, stamp, type) grown to hold field; 0 or -ENOMEM. */
static int map_grow(struct evcodec_writer *w, uint32_t field)
{
	size_t cap = MAX((size_t)field + 1, MAX(w->map_cap * 2, (size_t)FIELD_COUNT + 64));
	uint32_t *ni = mem_realloc(w->idx, cap * sizeof(*ni));
	uint32_t *ns;
	uint8_t *nt;

	if (!ni)
		return -ENOMEM;
	w->idx = ni;
	if (!(ns = mem_realloc(w->stamp, cap * sizeof(*ns))))
		return -ENOMEM;
	memset(ns + w->map_cap, 0, (cap - w->map_cap) * sizeof(*ns));
	w->stamp = ns;
	if (!(nt = mem_realloc(w->type, cap)))
		return -ENOMEM;
	memset(nt + w->map_cap, 0, cap - w->map_cap);
	w->type = nt;
	w->map_cap = cap;
	return 0;
}

/*
 * The name index of field (below map_cap: evcodec_add() grew the maps), added to the
 * batch's table when new; -ENOSPC/-ENOMEM.
 */
static int64_t name_index(struct evcodec_writer *w, uint32_t field)
{
	if (w->stamp[field] == w->gen)
		return w->idx[field];
	if (w->n_names == EVCODEC_NAMES_MAX)
		return -ENOSPC;
	if (w->n_names == w->names_cap) {
		size_t cap = w->names_cap ? 2 * w->names_cap : 64;
		uint32_t *nn = mem_realloc(w->names, cap * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		w->names = nn;
		w->names_cap = cap;
	}
	w->names[w->n_names] = field;
	w->idx[field] = (uint32_t)w->n_names;
	w->stamp[field] = w->gen;
	return (int64_t)w->n_names++;
}

int evcodec_add(struct evcodec_writer *w, struct buf *out, const struct event *ev)
{
	size_t need = 4 + VARINT_MAX, mark = out->len, names_mark = w->n_names;
	unsigned char types[EVENT_MAX_VALUES]; /* of the values, looked up once */
	unsigned char *q, *body;
	uintptr_t orig = 0; /* the event's first event.original, once written (have_orig) */
	size_t orig_len = 0;
	bool have_orig = false;
	int64_t prev_time;
	int rc;

	if (ev->n > EVENT_MAX_VALUES)
		return -EINVAL;
	for (uint32_t i = 0; i < ev->n; i++) {
		uint32_t f = ev->vals[i].field;

		if (f >= w->map_cap && (rc = map_grow(w, f)) < 0)
			return rc;
		/*
		 * A field's type never changes once it has an id: looked up once per writer
		 * (field_type()'s call per value was 9% of evcodec_add())
		 */
		if (!w->type[f])
			w->type[f] = (uint8_t)(field_store_type(field_type(f)) + 1);
		types[i] = w->type[f] - 1;
		need += 2 * VARINT_MAX + 17 + (types[i] == FT_STR ? ev->vals[i].len : 0);
	}
	if ((rc = buf_grow(out, need + 1)) < 0)
		return rc;
	q = (unsigned char *)out->p + out->len;
	body = q + 4;
	q = varint_put(body, ev->n);
	if (!w->have_base) { /* the batch's base: its first time value */
		for (uint32_t i = 0; i < ev->n; i++)
			if (types[i] == FT_TIME) {
				w->base = ev->vals[i].v.i;
				w->have_base = 1;
				break;
			}
	}
	prev_time = w->base;
	for (uint32_t i = 0; i < ev->n; i++) {
		const struct event_value *v = &ev->vals[i];
		int64_t idx = name_index(w, v->field);

		if (idx < 0) {
			/* forget the names this event added: the batch stays as it was */
			for (size_t k = names_mark; k < w->n_names; k++)
				w->stamp[w->names[k]] = 0;
			w->n_names = names_mark;
			out->len = mark;
			out->p[mark] = '\0';
			return (int)idx;
		}
		q = varint_put(q, (uint64_t)idx);
		switch (types[i]) {
		case FT_STR: {
			uintptr_t at = (uintptr_t)v->v.s - orig;

			if (have_orig && (uintptr_t)v->v.s >= orig && at <= orig_len &&
			    v->len <= orig_len - at && v->len > varint_len(at)) {
				q = varint_put(q, (uint64_t)v->len << 1 | 1);
				q = varint_put(q, at);
				break;
			}
			q = varint_put(q, (uint64_t)v->len << 1);
			memcpy(q, v->v.s, v->len);
			q += v->len;
			if (!have_orig && v->field == FIELD_EVENT_ORIGINAL) {
				orig = (uintptr_t)v->v.s;
				orig_len = v->len;
				have_orig = true;
			}
			break;
		}
		case FT_TIME:
			q = varint_put(q, varint_zigzag((int64_t)((uint64_t)v->v.i -
								   (uint64_t)prev_time)));
			prev_time = v->v.i;
			break;
		case FT_IP:
			if (!memcmp(v->v.ip.b, v4_prefix, sizeof(v4_prefix))) {
				*q++ = 4;
				memcpy(q, v->v.ip.b + 12, 4);
				q += 4;
			} else {
				*q++ = 16;
				memcpy(q, v->v.ip.b, 16);
				q += 16;
			}
			break;
		case FT_INT:
		case FT_BOOL:
		default:
			q = varint_put(q, varint_zigzag(v->v.i));
			break;
		}
	}
	le_put32(body - 4, (uint32_t)(q - body));
	out->len = (size_t)((char *)q - out->p);
	out->p[out->len] = '\0';
	w->n_events++;
	return 0;
}

int evcodec_finish(struct evcodec_writer *w, struct buf *out)
{
	size_t names_off = out->len - w->start, need = 2 * VARINT_MAX + EVCODEC_TRAILER;
	unsigned char *q;
	int rc;

	if (names_off > UINT32_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < w->n_names; i++)
		need += 1 + VARINT_MAX + strlen(field_name(w->names[i]));
	if ((rc = buf_grow(out, need + 1)) < 0)
		return rc;
	q = (unsigned char *)out->p + out->len;
	q = varint_put(q, w->n_events);
	q = varint_put(q, w->n_names);
	for (size_t i = 0; i < w->n_names; i++) {
		const char *name = field_name(w->names[i]);
		size_t len = strlen(name);

		*q++ = (unsigned char)field_store_type(field_type(w->names[i]));
		q = varint_put(q, len);
		memcpy(q, name, len);
		q += len;
	}
	le_put64(q, (uint64_t)w->base);
	le_put32(q + 8, (uint32_t)names_off);
	q += EVCODEC_TRAILER;
	out->len = (size_t)((char *)q - out->p);
	out->p[out->len] = '\0';
	return 0;
}

/* ---- reading ---- */

void evcodec_reader_init(struct evcodec_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void evcodec_reader_release(struct evcodec_reader *r)
{
	mem_free(r->ids);
	mem_free(r->types);
	memset(r, 0, sizeof(*r));
}

static int bad(struct err *e, size_t off, const char *what)
{
	return err_set(e, -EBADMSG, "event batch: offset %zu: %s", off, what);
}

int evcodec_open(struct evcodec_reader *r, const void *data, size_t len, struct err *e)
{
	const unsigned char *p = data, *q, *end;
	uint64_t n_events, n_names;
	size_t names_off;

	r->p = p;
	r->n_names = 0;
	r->n_events = 0;
	r->pos = r->events_end = EVCODEC_HEADER;
	if (len < EVCODEC_HEADER + EVCODEC_TRAILER || p[0] != 'K' || p[1] != 'E')
		return bad(e, 0, "expected the header \"KE\" and a trailer");
	if (p[2] < 1 || p[2] > EVCODEC_VERSION)
		return err_set(e, -EBADMSG, "event batch: version %u (this koban reads 1 to %u)",
			       p[2], EVCODEC_VERSION);
	r->version = p[2];
	end = p + len - EVCODEC_TRAILER;
	r->base = (int64_t)le_get64(end);
	names_off = le_get32(end + 8);
	if (names_off < EVCODEC_HEADER || names_off > len - EVCODEC_TRAILER)
		return bad(e, len - 4, "names offset outside the batch");
	q = p + names_off;
	if (varint_get(&q, end, &n_events) < 0 || n_events > UINT32_MAX ||
	    varint_get(&q, end, &n_names) < 0)
		return bad(e, names_off, "expected the event and name counts");
	if (n_names > EVCODEC_NAMES_MAX || n_names > (size_t)(end - q) / 2)
		return bad(e, names_off, "too many names");
	if (n_names > r->cap) {
		uint32_t *ni = mem_realloc(r->ids, n_names * sizeof(*ni));
		unsigned char *nt;

		if (!ni)
			return err_set(e, -ENOMEM, "out of memory");
		r->ids = ni;
		if (!(nt = mem_realloc(r->types, n_names)))
			return err_set(e, -ENOMEM, "out of memory");
		r->types = nt;
		r->cap = n_names;
	}
	for (size_t i = 0; i < n_names; i++) {
		uint64_t nlen;
		unsigned type;
		int id;

		if (q >= end || (type = *q++) > FT_BOOL)
			return bad(e, (size_t)(q - p), "expected a field type (0 to 4)");
		if (varint_get(&q, end, &nlen) < 0 || nlen > (size_t)(end - q) ||
		    nlen > FIELD_NAME_MAX)
			return bad(e, (size_t)(q - p), "a field name running past the table");
		for (size_t k = 0; k < nlen; k++)
			if (q[k] < 0x20 || q[k] == 0x7f)
				return bad(e, (size_t)(q - p) + k, "a control character in a field name");
		if ((id = field_intern((const char *)q, (size_t)nlen, (enum field_type)type)) < 0)
			return err_set(e, id == -EINVAL ? -EBADMSG : id, "event batch: offset %zu: "
				       "field name '%.*s' refused: %s", (size_t)(q - p),
				       (int)MIN(nlen, 64), (const char *)q, strerror(-id));
		r->ids[i] = (uint32_t)id;
		r->types[i] = (unsigned char)type;
		q += nlen;
	}
	if (q != end)
		return bad(e, (size_t)(q - p), "bytes between the names and the trailer");
	r->n_names = n_names;
	r->n_events = (uint32_t)n_events;
	r->events_end = names_off;
	return 0;
}

uint32_t evcodec_events(const struct evcodec_reader *r)
{
	return r->n_events;
}

int evcodec_next(struct evcodec_reader *r, const void **ev, size_t *len, struct err *e)
{
	size_t n;

	if (r->pos >= r->events_end)
		return 0;
	if (r->events_end - r->pos < 4)
		return bad(e, r->pos, "an event's length cut short");
	n = le_get32(r->p + r->pos);
	if (n > r->events_end - r->pos - 4)
		return bad(e, r->pos, "an event running past the events");
	*ev = r->p + r->pos + 4;
	*len = n;
	r->pos += 4 + n;
	return 1;
}

/* A value this process types differently (a vendor field first seen with another type). */
static int add_as_text(struct event *ev, uint32_t id, unsigned type, int64_t i,
		       const struct ipaddr *ip)
{
	char text[TIME_RFC3339_LEN + IPADDR_STRLEN];
	size_t n;
	char *copy;

	if (field_type(id) != FT_STR)
		return -EBADMSG;
	if (type == FT_IP) {
		ipaddr_format(ip, text);
		n = strlen(text);
	} else if (type == FT_TIME) {
		n = time_format_rfc3339(i, text);
	} else if (type == FT_BOOL) {
		n = (size_t)snprintf(text, sizeof(text), "%s", i ? "true" : "false");
	} else {
		n = (size_t)snprintf(text, sizeof(text), "%lld", (long long)i);
	}
	if (!(copy = arena_strndup(ev->arena, text, n)))
		return -ENOMEM;
	return event_add_str(ev, id, copy, n);
}

/*
 * A string value at *p: its bytes in (*s, *len), there (0) or in the event's event.original
 * (orig, NULL before it; 1); *p moves past the value.
 */
static int read_text(const struct evcodec_reader *r, const unsigned char **p,
		     const unsigned char *end, const unsigned char *orig, size_t orig_len,
		     const unsigned char **s, uint64_t *len, struct err *e)
{
	uint64_t u, at;
	size_t off = (size_t)(*p - r->p);

	if (varint_get(p, end, &u) < 0)
		return bad(e, off, "expected a string's length");
	if (r->version < 2 || !(u & 1)) {
		u = r->version < 2 ? u : u >> 1;
		if (u > (size_t)(end - *p))
			return bad(e, off, "a string running past the event");
		*s = *p;
		*len = u;
		*p += u;
		return 0;
	}
	u >>= 1;
	if (varint_get(p, end, &at) < 0 || !orig || at > orig_len || u > orig_len - at)
		return bad(e, off, "a string outside the event's event.original");
	*s = orig + at;
	*len = u;
	return 1;
}

int evcodec_decode(const struct evcodec_reader *r, const void *data, size_t len,
		   struct event *ev, struct err *e)
{
	const unsigned char *p = data, *end = p + len, *orig = NULL, *s = NULL;
	size_t orig_len = 0;
	int64_t prev_time = r->base;
	uint64_t n;
	int rc = 0;

#define OFF ((size_t)(p - r->p))
	if (varint_get(&p, end, &n) < 0 || n > EVENT_MAX_VALUES)
		return bad(e, OFF, "expected a value count (at most 1024)");
	for (uint64_t k = 0; k < n; k++) {
		uint64_t idx, u = 0;
		unsigned type;
		uint32_t id;
		struct ipaddr ip;

		if (varint_get(&p, end, &idx) < 0 || idx >= r->n_names)
			return bad(e, OFF, "expected a name index within the table");
		type = r->types[idx];
		id = r->ids[idx];
		switch (type) {
		case FT_STR:
			if ((rc = read_text(r, &p, end, orig, orig_len, &s, &u, e)) < 0)
				return rc;
			if (!orig && id == FIELD_EVENT_ORIGINAL && rc == 0) {
				orig = s;
				orig_len = (size_t)u;
			}
			if (field_type(id) == FT_STR)
				rc = event_add_str(ev, id, (const char *)s, (size_t)u);
			else if (field_type(id) == FT_OBJ) /* stored as its text */
				rc = event_add_obj(ev, id, (const char *)s, (size_t)u);
			else
				rc = -EBADMSG;
			break;
		case FT_IP:
			if (p >= end || (*p != 4 && *p != 16) || (size_t)(end - p) < 1u + *p)
				return bad(e, OFF, "expected an address of 4 or 16 bytes");
			if (*p == 4) {
				memcpy(ip.b, v4_prefix, sizeof(v4_prefix));
				memcpy(ip.b + 12, p + 1, 4);
			} else {
				memcpy(ip.b, p + 1, 16);
			}
			p += 1 + *p;
			rc = field_type(id) == FT_IP ? event_add_ip(ev, id, &ip)
						     : add_as_text(ev, id, type, 0, &ip);
			break;
		default: /* FT_INT, FT_TIME, FT_BOOL */
			if (varint_get(&p, end, &u) < 0)
				return bad(e, OFF, "expected a number");
			if (type == FT_TIME) {
				prev_time = (int64_t)((uint64_t)prev_time + (uint64_t)varint_unzigzag(u));
				u = (uint64_t)prev_time;
			} else {
				u = (uint64_t)varint_unzigzag(u);
			}
			if (field_type(id) == type)
				rc = type == FT_TIME   ? event_set_time(ev, id, (int64_t)u)
				     : type == FT_BOOL ? event_set_bool(ev, id, u != 0)
						       : event_set_int(ev, id, (int64_t)u);
			else
				rc = add_as_text(ev, id, type, (int64_t)u, NULL);
			break;
		}
		if (rc == -EBADMSG || rc == -EINVAL)
			return err_set(e, -EBADMSG, "event batch: field %s is a %s here, "
				       "stored as another type", field_name(id),
				       field_type(id) == FT_INT ? "number" : "typed value");
		if (rc < 0)
			return err_set(e, rc, "event batch: an event too large (%s)",
				       strerror(-rc));
	}
	if (p != end)
		return bad(e, OFF, "bytes after the event's values");
#undef OFF
	return 0;
}
