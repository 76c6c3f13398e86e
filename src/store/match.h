/*
 * match.h - a parsed query filter (store/query.h) compiled against the event schema and
 * evaluated on events: the one place that decides what `field: value` means.
 *
 * Compiling resolves each field name to its id once and turns each value into the field's
 * type, so evaluating an event compares ids and typed values, never names:
 *   - text fields: equal, ignoring ASCII case; wildcards * and ? (\ escapes them) on the
 *     whole value; a value or phrase on event.original, message or an object field (its
 *     JSON text) is found in the text as a full-text phrase is
 *   - IP fields: an address (equal) or a CIDR (inside it); wildcards on the address text
 *   - integer fields: an integer; time fields: a time as time_parse() reads it
 *   - full text (a bare word or phrase) in event.original (else message), ignoring ASCII
 *     case, as whole tokens (store/token.h, the tokens the segments' blooms hold): it must
 *     occur where it cuts no token, so where its first byte is a token byte the text's byte
 *     before must not be one, and likewise after its last byte. `mimikatz` finds "run
 *     MIMIKATZ now", not "mimikatz2"; `imikat` finds neither; `"tcp 10.2.100.15"` does not
 *     find "xtcp 10.2.100.150"; a word of several tokens (`user=alice`) is a phrase
 *   - full-text wildcards: a run of the text that cuts no token matches the word whole:
 *     `mimi*` a token's start, `*katz` its end, `*imikat*` anywhere (a substring)
 *   - ranges compare numbers, times and addresses by value, text by bytes
 *   - a multi-valued field matches when any of its values does
 * A value that cannot be of its field's type ("destination.port: http") is an error at
 * compile time naming the column. A field that no event has shown yet matches nothing
 * (`not` of it matches everything) and is not registered.
 *
 * Push-down: match_time_range() gives the @timestamp bounds every matching event lies in
 * (from the ranges joined by `and` at the top of the filter), so the store reads only those
 * days and blocks; match_ranges() gives the same bounds for every integer, time and IP
 * field, which a store tests against its blocks' minimum and maximum of the field.
 *
 * Memory: the compiled filter lives in the caller's arena, which must also outlive it.
 * Threads: compile on one thread; a compiled filter may then be evaluated from any number
 * of threads at once (it is read-only).
 */
#ifndef STORE_MATCH_H
#define STORE_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/range.h"

struct arena;
struct err;
struct event;
struct match;
struct query_node;

/* now_ns anchors relative times ("-24h"). */
int match_compile(struct match **m, const struct query_node *filter, int64_t now_ns,
		  struct arena *a, struct err *e);
bool match_event(const struct match *m, const struct event *ev);
/* [*from, *to] (ns, inclusive) holds every match; INT64_MIN / INT64_MAX when open. */
void match_time_range(const struct match *m, int64_t *from, int64_t *to);
/*
 * The values of a field every match lies in (store/range.h), the field by its id: the
 * ranges of the leaves joined by `and` at the top of the filter that bound an integer
 * or time field (`f: 3`, `f >= 3`, `f > 3`, `f <= 3`, `f < 3`) or an IP field (`f: 10.0.0.1`,
 * `f: 10.0.0.0/8`, `f >= 10.0.0.1`, ...), one call of fn per leaf (a field bounded twice
 * comes twice: each range holds on its own). Nothing under
 * `not` or `or` (`f: (1 or 2)` included), no wildcard, no other type (booleans, strings),
 * no field no event has shown yet: every event that matches has a value of each field fn
 * is called for inside its range. fn returning non-zero stops the walk; returns what fn
 * returned last (0 when not called). The range is fn's only during the call.
 */
int match_ranges(const struct match *m,
		 int (*fn)(void *ctx, unsigned field, const struct value_range *r), void *ctx);
/*
 * The ids of the fields match_event() reads (full text: event.original and message), each
 * once, into ids[0..*n): a store decodes only those to filter (projection). -E2BIG when
 * there are more than max (then decode every field).
 */
int match_fields(const struct match *m, unsigned *ids, size_t max, size_t *n);
/* True when the filter matches every event (`*` or nothing). */
bool match_is_all(const struct match *m);
/*
 * The literal values every match must contain, from the leaves joined by `and` at the top
 * of the filter: fn gets the field's name (NULL for full text), the value's text, for
 * exact text, phrases, words and single addresses, and whole: true when the value is a
 * string field's whole value (`event.dataset: x`, ASCII case ignored), false when a text
 * holds it (then each of its tokens is a whole token of the text) or it is an address.
 * Wildcards give none (their letters may be part of a token). A store skips blocks whose
 * bloom filter lacks one of their tokens or whose values of the field are known and
 * differ, and reads only the rows its index gives for an indexed field. fn returning
 * non-zero stops the walk. Returns what fn returned last (0 when not called).
 */
int match_literals(const struct match *m,
		   int (*fn)(void *ctx, const char *field, const char *value, size_t len,
			     bool whole),
		   void *ctx);

#endif
