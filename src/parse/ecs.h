/*
 * ecs.h - one ECS JSON object (a line as `koban parse` prints it) decoded into an event.
 *
 * Input: a JSON object whose keys are ECS field names, nested ({"source":{"ip":...}}),
 * dotted ({"source.ip":...}) or both; nested keys are joined with '.', so
 * {"a":{"b.c":1}} is field "a.b.c". Values are typed by the field (core/field.h):
 *
 *   FT_STR   a string; a number, true or false is kept as its JSON text
 *   FT_INT   a JSON integer within int64_t (no fraction, no exponent, not a string)
 *   FT_TIME  an RFC 3339 string: YYYY-MM-DD(T|t| )hh:mm:ss[.fraction](Z|z|+hh:mm|-hh:mm);
 *            fraction digits past the ninth are dropped; second 60 is refused
 *   FT_IP    a string holding an IPv4 or IPv6 address
 *   FT_BOOL  true or false
 *   FT_OBJ   an object, or an array of objects (threat.enrichments): each object is
 *            kept as its exact text (validated), one value each; null elements skipped
 *
 * A name outside the known table is registered as a string field (field_intern) unless
 * it is known already, in which case it keeps the type it has in this process; a new
 * name is registered only while fewer than ECS_FIELD_BUDGET vendor names exist (-ENOSPC
 * after that). null, [] and {} leave the field absent. An array gives a multi-valued
 * field (event_add_str, event_add_ip): several values only for string and IP fields, one
 * element for the others; objects and arrays inside arrays are refused. A field given
 * twice (as nested and dotted keys, or repeated) is refused. A name has at most FIELD_NAME_MAX bytes and
 * fewer than ECS_DEPTH_MAX dots (so that it nests no deeper than allowed when written
 * back; a syslog structured-data name has at most 68), and objects nest at most
 * ECS_DEPTH_MAX deep.
 *
 * Round trip: this accepts what event_write_json writes, and writing the decoded event
 * gives the same bytes. Across processes that holds while vendor fields are strings (all
 * of them today): a vendor field that another process registered as an integer comes
 * back here as a string holding the number's text, unless this process registered the
 * name with the same type first.
 *
 * Errors: -EINVAL for malformed JSON or a value that does not fit its field, -E2BIG for a
 * line longer than ECS_LINE_MAX, -ENOSPC for too many values or vendor names, -ENOMEM;
 * e says "column C: field NAME: expected ..., found ..." (JSON errors by jsonin's
 * rules). On error the event is left as it was before the call.
 *
 * Memory: string values point into line (zero copy) or, for strings with escapes, into
 * the event's arena: line must outlive the event. Any thread (one event per thread).
 */
#ifndef PARSE_ECS_H
#define PARSE_ECS_H

#include <stddef.h>
#include <stdint.h>

#include "core/field.h"

struct event;
struct err;

/*
 * koban parse reads lines of up to 1 MiB and prints the line twice (event.original and
 * message), escaped: a control character takes 6 bytes. 16 MiB holds the worst case.
 */
#define ECS_LINE_MAX (16u << 20)
#define ECS_DEPTH_MAX 128 /* objects, the outermost included */
#define ECS_FIELD_BUDGET (FIELD_DYNAMIC_MAX / 4)

int ecs_decode(struct event *ev, const char *line, size_t len, struct err *e);

/*
 * ecs_decode with flags. ECS_FLATTEN_ARRAYS (`koban rule test` events, any JSON): objects
 * and arrays inside arrays are flattened instead of refused, each of their fields one more
 * value of the dotted name ({"a":[{"b":1},{"b":2}]} is a.b with the values 1 and 2), so a
 * rule on a.b matches when any element matches. Only string and IP fields take several.
 */
#define ECS_FLATTEN_ARRAYS 1u
/*
 * ECS_CHECK_RANGES (events from outside: `koban ingest --format ecs`): an integer its
 * field cannot hold (field_int_valid: a port 0-65535, a count or size 0 or more) is
 * refused as the decoders leave such a number out. Stored events are read without it,
 * so that whatever an older koban stored still reads back.
 */
#define ECS_CHECK_RANGES 2u
int ecs_decode_flags(struct event *ev, const char *line, size_t len, unsigned flags,
		     struct err *e);

#endif
