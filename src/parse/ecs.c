#include "parse/ecs.h"
#include "core/compat.h"
#include "core/err.h"
#include "core/event.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/timeutil.h"

struct ecs_ctx {
	struct event *ev;
	struct jsonin j;
	struct err *e;
	size_t nlen;
	size_t dots; /* in name */
	unsigned flags;    /* ECS_FLATTEN_ARRAYS */
	unsigned in_array; /* > 0: inside an array of objects being flattened */
	char name[FIELD_NAME_MAX + 1];
};

/* ---- errors ---- */

/*
 * s[0..len) for an error message: bytes that are not printable ASCII shown as '?' (no
 * terminal escapes from input), cut to what out holds.
 */
static const char *shown(const char *s, size_t len, char *out, size_t n)
{
	size_t k = 0;

	for (; k < len && k + 1 < n; k++) {
		unsigned char ch = (unsigned char)s[k];

		out[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[k] = '\0';
	return out;
}

static const char *type_name(enum field_type t)
{
	switch (t) {
	case FT_STR: return "a string";
	case FT_INT: return "an integer";
	case FT_TIME: return "an RFC 3339 time string";
	case FT_IP: return "an IP address string";
	case FT_BOOL: return "true or false";
	case FT_OBJ: return "an object or an array of objects";
	}
	return "?";
}

static const char *json_type_name(enum jsonin_type t)
{
	switch (t) {
	case JSONIN_OBJECT: return "an object";
	case JSONIN_ARRAY: return "an array";
	case JSONIN_STRING: return "a string";
	case JSONIN_NUMBER: return "a number";
	case JSONIN_TRUE:
	case JSONIN_FALSE: return "a boolean";
	case JSONIN_NULL: return "null";
	case JSONIN_NONE: break;
	}
	return "nothing";
}

static int fail_at(struct ecs_ctx *c, int code, size_t off, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static int fail_at(struct ecs_ctx *c, int code, size_t off, const char *fmt, ...)
{
	char what[400], name[FIELD_NAME_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(c->e, code, "column %zu: field %s: %s", off + 1,
		       c->nlen ? shown(c->name, c->nlen, name, sizeof(name)) : "(top level)", what);
}

static int json_fail(struct ecs_ctx *c)
{
	return jsonin_error(&c->j, c->e);
}

/* ---- fields ---- */

/*
 * The id of the current name: known, or registered as a string field within the
 * budget. The only place where this decoder registers names.
 */
static int field_of(struct ecs_ctx *c, size_t off)
{
	int f = field_lookup(c->name, c->nlen);

	if (f >= 0)
		return f;
	if (f == -ENOENT) {
		if (field_count() - FIELD_COUNT >= ECS_FIELD_BUDGET)
			return fail_at(c, -ENOSPC, off,
				       "a new field name, but %u vendor field names are registered "
				       "already (the most this decoder registers)",
				       field_count() - FIELD_COUNT);
		f = field_intern(c->name, c->nlen, FT_STR);
	}
	if (f == -ENOMEM)
		return fail_at(c, f, off, "out of memory registering the name");
	if (f < 0)
		return fail_at(c, f, off, "the name cannot be registered (%s)", strerror(-f));
	return f;
}

static int set_failed(struct ecs_ctx *c, int rc, size_t off)
{
	if (rc == -ENOSPC)
		return fail_at(c, rc, off, "more than %d values in the event", EVENT_MAX_VALUES);
	if (rc == -ENOMEM)
		return fail_at(c, rc, off, "out of memory");
	return fail_at(c, rc, off, "the value cannot be set (%s)", strerror(-rc));
}

/* Sets (add: appends one more value to) the current field from a scalar v. */
static int set_scalar(struct ecs_ctx *c, const struct jsonin_value *v, bool add)
{
	enum field_type t;
	struct ipaddr ip;
	int64_t x;
	size_t bad;
	int f, rc;

	if (v->type == JSONIN_NULL)
		return 0;
	if (!c->nlen)
		return fail_at(c, -EINVAL, v->offset, "expected a non-empty field name");
	f = field_of(c, v->offset);
	if (f < 0)
		return f;
	t = field_type((unsigned)f);
	if (!add && c->in_array)
		add = event_get(c->ev, (unsigned)f) != NULL; /* one more value of the array */
	if (!add && event_get(c->ev, (unsigned)f))
		return fail_at(c, -EINVAL, v->offset,
			       "expected each field once, found a second value (nested and "
			       "dotted keys naming the same field?)");
	if (add && t != FT_STR && t != FT_IP)
		return fail_at(c, -EINVAL, v->offset,
			       "expected one value (only string and IP fields take several)");
	switch (t) {
	case FT_OBJ: /* objects are read whole by object_field */
		break;
	case FT_STR:
		if (v->type != JSONIN_STRING && v->type != JSONIN_NUMBER &&
		    v->type != JSONIN_TRUE && v->type != JSONIN_FALSE)
			break;
		rc = add ? event_add_str(c->ev, (unsigned)f, v->s, v->len)
			 : event_set_str(c->ev, (unsigned)f, v->s, v->len);
		return rc < 0 ? set_failed(c, rc, v->offset) : 0;
	case FT_INT:
		if (v->type != JSONIN_NUMBER)
			break;
		rc = jsonin_int(v->s, v->len, &x);
		if (rc == -ERANGE)
			return fail_at(c, -EINVAL, v->offset,
				       "expected an integer within 64 bits, found %.*s",
				       (int)json_utf8_cut(v->s, v->len, 64), v->s);
		if (rc < 0)
			return fail_at(c, -EINVAL, v->offset,
				       "expected an integer, found %.*s",
				       (int)json_utf8_cut(v->s, v->len, 64), v->s);
		if ((c->flags & ECS_CHECK_RANGES) && !field_int_valid((unsigned)f, x))
			return fail_at(c, -EINVAL, v->offset, "expected %s, found %.*s",
				       field_int_range((unsigned)f),
				       (int)json_utf8_cut(v->s, v->len, 64), v->s);
		rc = event_set_int(c->ev, (unsigned)f, x);
		return rc < 0 ? set_failed(c, rc, v->offset) : 0;
	case FT_BOOL:
		if (v->type != JSONIN_TRUE && v->type != JSONIN_FALSE)
			break;
		rc = event_set_bool(c->ev, (unsigned)f, v->type == JSONIN_TRUE);
		return rc < 0 ? set_failed(c, rc, v->offset) : 0;
	case FT_TIME:
		if (v->type != JSONIN_STRING)
			break;
		rc = time_parse_rfc3339(v->s, v->len, &x, &bad);
		if (rc == -ERANGE)
			return fail_at(c, -EINVAL, v->offset,
				       "expected a time between the years 1678 and 2262");
		if (rc < 0)
			return fail_at(c, -EINVAL, v->escaped ? v->offset : v->offset + 1 + bad,
				       "expected an RFC 3339 time "
				       "(YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm))");
		rc = event_set_time(c->ev, (unsigned)f, x);
		return rc < 0 ? set_failed(c, rc, v->offset) : 0;
	case FT_IP:
		if (v->type != JSONIN_STRING)
			break;
		if (ipaddr_parse(&ip, v->s, v->len) < 0) {
			char text[65];

			return fail_at(c, -EINVAL, v->offset,
				       "expected an IPv4 or IPv6 address, found \"%s\"",
				       shown(v->s, v->len, text, sizeof(text)));
		}
		rc = add ? event_add_ip(c->ev, (unsigned)f, &ip)
			 : event_set_ip(c->ev, (unsigned)f, &ip);
		return rc < 0 ? set_failed(c, rc, v->offset) : 0;
	}
	return fail_at(c, -EINVAL, v->offset, "expected %s, found %s", type_name(t),
		       json_type_name(v->type));
}

static int decode_object(struct ecs_ctx *c, unsigned depth);
static int decode_array(struct ecs_ctx *c, unsigned depth);

/* An object or array inside an array (ECS_FLATTEN_ARRAYS): its fields become values. */
static int flatten_in_array(struct ecs_ctx *c, const struct jsonin_value *v, unsigned depth)
{
	int rc;

	if (depth + 1 >= ECS_DEPTH_MAX)
		return fail_at(c, -EINVAL, v->offset, "expected objects nested at most %d deep",
			       ECS_DEPTH_MAX);
	c->in_array++;
	rc = v->type == JSONIN_OBJECT ? decode_object(c, depth + 1) : decode_array(c, depth + 1);
	c->in_array--;
	return rc;
}

static int decode_array(struct ecs_ctx *c, unsigned depth)
{
	struct jsonin_value v;
	bool any = false;
	int rc;

	while ((rc = jsonin_more(&c->j)) > 0) {
		if (jsonin_value(&c->j, &v) < 0)
			return json_fail(c);
		if ((v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) &&
		    (c->flags & ECS_FLATTEN_ARRAYS)) {
			if ((rc = flatten_in_array(c, &v, depth)) < 0)
				return rc;
			continue;
		}
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
			return fail_at(c, -EINVAL, v.offset,
				       "expected strings, numbers or booleans in an array, found %s",
				       json_type_name(v.type));
		if (v.type == JSONIN_NULL)
			continue;
		rc = set_scalar(c, &v, any);
		if (rc < 0)
			return rc;
		any = true;
	}
	return rc < 0 ? json_fail(c) : 0;
}

/* One element of an FT_OBJ field's value: an object kept as its text, null skipped. */
static int add_object(struct ecs_ctx *c, int f, const char *s, size_t len)
{
	size_t off = (size_t)(s - c->j.p);
	int rc;

	if (s[0] == 'n')
		return 0;
	if (s[0] != '{')
		return fail_at(c, -EINVAL, off, "expected an object or an array of objects");
	rc = event_add_obj(c->ev, (unsigned)f, s, len);
	return rc < 0 ? set_failed(c, rc, off) : 0;
}

/*
 * The value of an FT_OBJ field f (threat.enrichments): an object, or an array of
 * objects, each kept as its exact text (validated by jsonin) rather than decoded.
 */
static int object_field(struct ecs_ctx *c, int f, size_t off)
{
	struct jsonin arr;
	struct jsonin_value v;
	const char *s, *el;
	size_t len, el_len;
	int rc;

	if (event_get(c->ev, (unsigned)f))
		return fail_at(c, -EINVAL, off, "expected each field once, found a second value");
	if (jsonin_raw_value(&c->j, &s, &len) < 0)
		return json_fail(c);
	if (s[0] != '[')
		return add_object(c, f, s, len);
	jsonin_init(&arr, s, len, c->ev->arena, 0); /* valid already: read its elements */
	if (jsonin_value(&arr, &v) < 0)
		return jsonin_error(&arr, c->e);
	while ((rc = jsonin_more(&arr)) > 0) {
		if (jsonin_raw_value(&arr, &el, &el_len) < 0)
			return jsonin_error(&arr, c->e);
		if ((rc = add_object(c, f, el, el_len)) < 0)
			return rc;
	}
	return rc < 0 ? jsonin_error(&arr, c->e) : 0;
}

static int decode_object(struct ecs_ctx *c, unsigned depth)
{
	struct jsonin_value k, v;
	int rc, f;

	while ((rc = jsonin_key(&c->j, &k)) > 0) {
		size_t saved = c->nlen, saved_dots = c->dots;
		size_t need = saved + (depth ? 1 : 0) + k.len;

		if (memchr(k.s, '\0', k.len))
			return fail_at(c, -EINVAL, k.offset, "expected a key without NUL characters");
		if (need > FIELD_NAME_MAX)
			return fail_at(c, -EINVAL, k.offset,
				       "expected a field name of at most %d bytes, found %zu",
				       FIELD_NAME_MAX, need);
		if (depth) { /* even after an empty key: {"":{"a":1}} is ".a" */
			c->name[c->nlen++] = '.';
			c->dots++;
		}
		for (size_t i = 0; i < k.len; i++)
			c->dots += k.s[i] == '.';
		memcpy(c->name + c->nlen, k.s, k.len);
		c->nlen += k.len;
		if (c->dots >= ECS_DEPTH_MAX)
			return fail_at(c, -EINVAL, k.offset,
				       "expected a field name of at most %d dot-separated parts",
				       ECS_DEPTH_MAX);
		f = field_lookup(c->name, c->nlen);
		if (f >= 0 && field_type((unsigned)f) == FT_OBJ) {
			if ((rc = object_field(c, f, k.offset)) < 0)
				return rc;
			c->nlen = saved;
			c->dots = saved_dots;
			continue;
		}
		if (jsonin_value(&c->j, &v) < 0)
			return json_fail(c);
		if (v.type == JSONIN_OBJECT) {
			if (depth + 1 >= ECS_DEPTH_MAX)
				return fail_at(c, -EINVAL, v.offset,
					       "expected objects nested at most %d deep",
					       ECS_DEPTH_MAX);
			rc = decode_object(c, depth + 1);
		} else if (v.type == JSONIN_ARRAY) {
			rc = decode_array(c, depth);
		} else {
			rc = set_scalar(c, &v, false);
		}
		if (rc < 0)
			return rc;
		c->nlen = saved;
		c->dots = saved_dots;
	}
	return rc < 0 ? json_fail(c) : 0;
}

int ecs_decode(struct event *ev, const char *line, size_t len, struct err *e)
{
	return ecs_decode_flags(ev, line, len, 0, e);
}

int ecs_decode_flags(struct event *ev, const char *line, size_t len, unsigned flags,
		     struct err *e)
{
	struct ecs_ctx c;
	struct jsonin_value v;
	uint32_t n0 = ev->n;
	int rc;

	if (len > ECS_LINE_MAX)
		return err_set(e, -E2BIG, "line of %zu bytes, expected at most %u", len,
			       ECS_LINE_MAX);
	c.ev = ev;
	c.e = e;
	c.nlen = 0;
	c.dots = 0;
	c.flags = flags;
	c.in_array = 0;
	jsonin_init(&c.j, line, len, ev->arena, 0);
	c.j.max_depth = ECS_DEPTH_MAX + 1;
	if (jsonin_value(&c.j, &v) < 0) {
		rc = json_fail(&c);
		goto fail;
	}
	if (v.type != JSONIN_OBJECT) {
		rc = err_set(e, -EINVAL, "column %zu: expected an object, found %s",
			     v.offset + 1, json_type_name(v.type));
		goto fail;
	}
	rc = decode_object(&c, 0);
	if (rc < 0)
		goto fail;
	rc = jsonin_finish(&c.j, e);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	event_truncate(ev, n0);
	return rc;
}
