/*
 * event.h - the normalized event (DESIGN.md section 3).
 *
 * An event is a list of (field id, typed value) pairs. Values are typed by their field
 * (field.h): strings as (pointer, length), integers and times as int64_t, IPs as
 * struct ipaddr. String values are zero-copy: event_set_str() keeps the caller's pointer,
 * which must stay valid as long as the event (usually it points into the received
 * message or into the batch arena); event_set_strdup() copies into the event's arena.
 *
 * Memory: the value array and copies come from the arena given to event_init(); nothing
 * is freed per event. event_clear() forgets the values so the struct can be reused after
 * the arena is cleared. An event holds at most EVENT_MAX_VALUES values.
 *
 * Thread safety: an event belongs to one thread (the worker that builds it).
 */
#ifndef CORE_EVENT_H
#define CORE_EVENT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/field.h"
#include "core/ipaddr.h"

struct arena;
struct buf;

#define EVENT_MAX_VALUES 1024

struct event_value {
	uint32_t field; /* field id */
	uint32_t len;   /* string length (FT_STR, FT_OBJ) */
	union {
		const char *s;     /* FT_STR, FT_OBJ: not NUL-terminated */
		int64_t i;         /* FT_INT, FT_TIME (ns), FT_BOOL (0/1) */
		struct ipaddr ip;  /* FT_IP */
	} v;
};

struct event {
	struct arena *arena;
	struct event_value *vals;
	uint32_t n;
	uint32_t cap;
	uint16_t known_pos[FIELD_COUNT]; /* 1 + index in vals of a known field's first value */
};

void event_init(struct event *ev, struct arena *arena);
/*
 * Room for n values in all (at most EVENT_MAX_VALUES) in one allocation, for a decoder that
 * knows it sets many (a PAN-OS row: about 160) and would otherwise grow the array several
 * times. 0, -ENOSPC (n past the maximum and the event full) or -ENOMEM.
 */
int event_reserve(struct event *ev, uint32_t n);
void event_clear(struct event *ev);
/* Forgets every value from index n on (n <= ev->n), as if they had never been set. */
void event_truncate(struct event *ev, uint32_t n);

/*
 * Setters replace an existing value of the field; the event_add_* forms append one more
 * value (a multi-valued field, printed as a JSON array). The value must match the
 * field's type: a string for an FT_INT field is an error (-EINVAL). Returns 0, -EINVAL,
 * -ENOSPC (too many values) or -ENOMEM (arena full).
 */
static inline int event_set_str(struct event *ev, unsigned field, const char *s, size_t len);
int event_set_strdup(struct event *ev, unsigned field, const char *s, size_t len);
static inline int event_set_int(struct event *ev, unsigned field, int64_t v);
static inline int event_set_time(struct event *ev, unsigned field, int64_t ns);
int event_set_ip(struct event *ev, unsigned field, const struct ipaddr *ip);
int event_set_bool(struct event *ev, unsigned field, bool v);
int event_add_str(struct event *ev, unsigned field, const char *s, size_t len);
int event_add_ip(struct event *ev, unsigned field, const struct ipaddr *ip);
/*
 * One more value of an FT_OBJ field: json[0..len) must be one valid JSON object (the
 * caller checked it: jsonin, or built it with core/json.h) and live as long as the event
 * (it is not copied); event_write_json writes it verbatim.
 */
int event_add_obj(struct event *ev, unsigned field, const char *json, size_t len);

/*
 * The setters' common case inline: a known field of the type given, already set (its value
 * is overwritten) or new with room left in the array. NULL sends the caller to the checked
 * path (event_set_*_checked: vendor fields, a wrong type, a full array), which gives the
 * same result as it always did. Inline because a decoder sets many ECS values a line (a
 * PAN-OS row about 50): without a call per value a row runs 5 % fewer instructions.
 */
extern const uint8_t event_known_types[FIELD_COUNT];

static inline struct event_value *event_slot_fast(struct event *ev, unsigned field,
						  enum field_type want)
{
	struct event_value *v;

	if (field >= FIELD_COUNT || event_known_types[field] != want)
		return NULL;
	if (ev->known_pos[field])
		return &ev->vals[ev->known_pos[field] - 1];
	if (ev->n >= ev->cap)
		return NULL;
	v = &ev->vals[ev->n++];
	memset(v, 0, sizeof(*v));
	v->field = field;
	ev->known_pos[field] = (uint16_t)ev->n;
	return v;
}

int event_set_str_checked(struct event *ev, unsigned field, const char *s, size_t len);
int event_set_i64_checked(struct event *ev, unsigned field, enum field_type t, int64_t v);

static inline int event_set_str(struct event *ev, unsigned field, const char *s, size_t len)
{
	struct event_value *v;

	if (len <= UINT32_MAX && (v = event_slot_fast(ev, field, FT_STR))) {
		v->v.s = s;
		v->len = (uint32_t)len;
		return 0;
	}
	return event_set_str_checked(ev, field, s, len);
}

/* The common case of event_set_int and event_set_time (t FT_INT or FT_TIME). */
static inline int event_set_i64(struct event *ev, unsigned field, enum field_type t, int64_t i)
{
	struct event_value *v = event_slot_fast(ev, field, t);

	if (!v)
		return event_set_i64_checked(ev, field, t, i);
	v->v.i = i;
	return 0;
}

static inline int event_set_int(struct event *ev, unsigned field, int64_t i)
{
	return event_set_i64(ev, field, FT_INT, i);
}

static inline int event_set_time(struct event *ev, unsigned field, int64_t ns)
{
	return event_set_i64(ev, field, FT_TIME, ns);
}

/*
 * event_add_str for a decoder that appends many vendor strings at once (a PAN-OS row: 115
 * columns), without a call and a type check per value: field must be a vendor field
 * (>= FIELD_COUNT) the caller found to be FT_STR with field_type() once (types never
 * change), and room must have been made with event_reserve(). Returns 0, or -ENOSPC when
 * the reserved room is used up.
 */
static inline int event_add_vendor_str(struct event *ev, unsigned field, const char *s,
				       uint32_t len)
{
	struct event_value *v;

	if (ev->n >= ev->cap)
		return -ENOSPC;
	v = &ev->vals[ev->n++];
	memset(v, 0, sizeof(*v));
	v->field = field;
	v->len = len;
	v->v.s = s;
	return 0;
}
/*
 * Like event_add_str/event_add_ip, unless field already holds an equal value (0 then):
 * the related.* fields carry each value once, whichever part of the event it came from.
 */
int event_add_str_once(struct event *ev, unsigned field, const char *s, size_t len);
int event_add_ip_once(struct event *ev, unsigned field, const struct ipaddr *ip);

/* First value of field, or NULL. */
const struct event_value *event_get(const struct event *ev, unsigned field);
/*
 * The text of a value as rules, correlations and the multi-pattern pass compare it: a string
 * as it is, an object as its JSON text, an integer in decimal, a boolean as true or false, a time in RFC 3339 UTC, an
 * address as ipaddr_format writes it. Points at the value's own bytes or into tmp.
 */
#define EVENT_VALUE_TEXT_MAX 64
const char *event_value_text(const struct event_value *v, char tmp[EVENT_VALUE_TEXT_MAX],
			     size_t *len);

/* Convenience for string fields: 1 and (s, len) when present, else 0. */
int event_get_str(const struct event *ev, unsigned field, const char **s, size_t *len);

/*
 * Appends the event as one line of JSON without the newline: nested objects for dotted
 * names, keys sorted, repeated fields as arrays (and ECS array fields, field_is_array(),
 * always as arrays). Uses the event's arena for sorting.
 * Returns 0 or a negative error code.
 */
int event_write_json(const struct event *ev, struct buf *out);

#endif
