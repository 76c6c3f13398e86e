/*
 * agg.h - runs a query's pipes (store/query.h) over the events its filter matched.
 *
 * Events go in one at a time (agg_add); results come out at agg_finish, in one of two forms:
 *   - events, when the query has no stats or timechart: newest first by @timestamp (events
 *     without one last; equal times in the order they came) unless a `sort` comes first,
 *     `| sort` orders them by a field, `| head N` keeps the first N, `| fields` keeps only
 *     the listed fields;
 *   - rows, from the first stats or timechart on: one row per group (per time bucket for
 *     timechart), with the by-fields and one column per aggregation named as written
 *     ("count", "dc(user.name)"); later sort, head and fields work on those rows.
 * Pipes before a stats (e.g. `| head 100 | stats count()`) apply to the events first; a
 * `fields` there leaves the stats only the fields it keeps (the others are null), while a
 * sort orders by whole events.
 *
 * Semantics: count() counts events; dc(f) counts distinct values of f (exact); sum and avg
 * add whole numbers (an event without the field, or with a value that is not a number, is
 * left out of them); min and max compare numbers, times and addresses by value and text by
 * bytes. These read every value of a field with several (related.ip). An aggregation but count() over no value is null: over no event (the one row of a
 * stats without by), and in a group none of whose events has a value for it. A group key takes each by-field's first value; an event without it groups under
 * null. Timechart buckets are span-aligned from the Unix epoch, in UTC; buckets with no event
 * are not emitted. Without a sort, rows come in the order their groups were first seen
 * (timechart: by time). Pipes before a stats see events newest first only when one of them
 * is a head (`| head 100 | stats count()` counts the 100 newest); equal sort keys keep the
 * order the events came in.
 *
 * Orders are bounded: an order followed by heads (or, for events, the caller's limit:
 * agg_set_limit) keeps only the events that can still matter, the best N in a heap, and
 * drops a worse one without copying it. The time order with no bound, or one above
 * AGG_ORDER_WINDOW, holds at most AGG_ORDER_WINDOW events (AGG_ORDER_WINDOW_BYTES of them):
 * full, it hands on what it holds, newest first, and starts again, so that every match still
 * comes out, ordered exactly only within such windows. agg_newer_than() lets the caller
 * hand on earlier what nothing still to come can precede, which keeps the window from
 * filling when the caller reads the newest first.
 *
 * Limits, so that a query cannot exhaust memory: at most AGG_MAX_GROUPS groups, AGG_MAX_DISTINCT
 * distinct values over all dc(), AGG_MAX_KEPT events kept for a sort without a head after it;
 * past them agg_add fails with -E2BIG and a message that says to narrow the query.
 *
 * Memory: the agg owns copies of what it keeps (events are copied, so the caller may reuse
 * its batch arena after agg_add). Rows and events handed to the callbacks are valid during
 * the call. Threads: one agg belongs to one thread.
 */
#ifndef STORE_AGG_H
#define STORE_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "core/ipaddr.h"

struct buf;
struct err;
struct event;
struct query;
struct agg;

#define AGG_MAX_GROUPS 1000000
#define AGG_MAX_DISTINCT 4000000
#define AGG_MAX_KEPT 1000000
#define AGG_ORDER_WINDOW 100000
#define AGG_ORDER_WINDOW_BYTES ((size_t)256 << 20)

enum agg_value_kind { AGG_NULL, AGG_INT, AGG_DOUBLE, AGG_TEXT, AGG_IP, AGG_TIME };

struct agg_value {
	enum agg_value_kind kind;
	union {
		int64_t i;     /* AGG_INT, AGG_TIME (ns) */
		double d;
		struct ipaddr ip;
		struct {
			const char *s;
			size_t len;
		} text;
	} v;
};

struct agg_row {
	size_t n;
	const char *const *names;      /* column names */
	const struct agg_value *values;
};

typedef int agg_event_fn(void *ctx, const struct event *ev);
typedef int agg_row_fn(void *ctx, const struct agg_row *row);

/*
 * Results go to event_fn or row_fn (the one agg_gives_rows() says). Events that need no
 * order (those feeding a stats without a head) are passed on from agg_add at once; ordered
 * ones when agg_newer_than() or a full window lets them go, the rest at agg_finish. A
 * callback's negative return stops the run and is passed on.
 */
int agg_new(struct agg **g, const struct query *q, agg_event_fn *event_fn, agg_row_fn *row_fn,
	    void *ctx, struct err *e);
void agg_free(struct agg *g);
/*
 * The caller takes at most limit events (0: every one), as event_fn's -ECANCELED would
 * say: the orders keep no more than that. Before the first agg_add.
 */
void agg_set_limit(struct agg *g, uint64_t limit);
/*
 * Events go on in the order they come, not newest first (heads take the first that come):
 * for a caller that wants every match and no order. Before the first agg_add.
 */
void agg_read_order(struct agg *g);
/*
 * 0, 1 when no further event can change the result (a head reached, or an order handed on
 * all it could), or a negative code.
 */
int agg_add(struct agg *g, const struct event *ev, struct err *e);
/*
 * For events entering in @timestamp order, newest first (the time order, or a leading
 * `sort -@timestamp`): 1 and *oldest when the order is full, holding the events of the
 * result, so that an event older than *oldest cannot be one (the caller may skip what holds
 * only such events); 0 otherwise.
 */
int agg_time_bound(const struct agg *g, int64_t *oldest);
/*
 * The caller says that no event still to come is newer than t: the ordered events newer
 * than t are handed on now. 0, 1 as agg_add, or a negative code.
 */
int agg_newer_than(struct agg *g, int64_t t, struct err *e);
/* Whether the result is rows (a stats or timechart) rather than events. */
int agg_gives_rows(const struct agg *g);
int agg_finish(struct agg *g, struct err *e);

/* `{"destination.port":443,"count":100094}`: flat dotted keys, in column order. */
int agg_row_write_json(const struct agg_row *row, struct buf *out);
/* A value as text (tables): numbers, RFC 3339 times, addresses; "-" for null. */
int agg_value_write_text(const struct agg_value *v, struct buf *out);

#endif
