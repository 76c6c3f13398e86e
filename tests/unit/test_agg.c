/* Unit tests of the pipes (store/agg): stats, timechart, sort, head, fields, on rows and events. */
#include "store/agg.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/match.h"
#include "store/query.h"
#include "t.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define HOUR (3600 * NS_PER_SEC)
#define T0 INT64_C(1796083200000000000) /* 2026-12-01T00:00:00Z */
#define N_EVENTS 10

static struct arena arena;
static struct event events[N_EVENTS];
static struct buf out;
static size_t n_out;

/*
 * Ten events: ports 443 x5, 80 x3, 22 x2; actions allow/deny; sources 10.0.0.1-3;
 * bytes 100..1000; one hour apart from T0; user.name on the even ones only.
 */
static void make_events(void)
{
	static const int ports[N_EVENTS] = { 443, 80, 443, 22, 443, 80, 443, 22, 80, 443 };

	arena_init(&arena, 1 << 16, 1 << 22);
	for (int i = 0; i < N_EVENTS; i++) {
		struct event *ev = &events[i];
		struct ipaddr ip;
		char addr[16];

		event_init(ev, &arena);
		snprintf(addr, sizeof(addr), "10.0.0.%d", i % 3 + 1);
		ipaddr_parse(&ip, addr, strlen(addr));
		event_set_time(ev, FIELD_TIMESTAMP, T0 + i * HOUR);
		event_set_int(ev, FIELD_DESTINATION_PORT, ports[i]);
		event_set_ip(ev, FIELD_SOURCE_IP, &ip);
		event_set_int(ev, FIELD_NETWORK_BYTES, (i + 1) * 100);
		event_set_str(ev, FIELD_EVENT_ACTION, i < 4 ? "allow" : "deny", i < 4 ? 5 : 4);
		if (i % 2 == 0)
			event_set_str(ev, FIELD_USER_NAME, i % 4 ? "bob" : "alice", i % 4 ? 3 : 5);
	}
}

static int on_row(void *ctx, const struct agg_row *row)
{
	n_out++;
	if (agg_row_write_json(row, &out) < 0 || buf_addch(&out, '\n') < 0)
		return -ENOSPC;
	return 0;
}

static int on_event(void *ctx, const struct event *ev)
{
	n_out++;
	if (event_write_json(ev, &out) < 0 || buf_addch(&out, '\n') < 0)
		return -ENOSPC;
	return 0;
}

/*
 * Runs text over evs[0..n) into out; between the adds and agg_finish, reuse(arg) when not
 * NULL (the reader's memory used again). Returns the first failure, its message in e.
 */
static int run_on(const char *text, const struct event *evs, size_t n, void (*reuse)(void *),
		  void *arg, struct err *e)
{
	struct arena qa;
	struct query q;
	struct match *m;
	struct agg *g = NULL;
	int rc;

	buf_reset(&out);
	n_out = 0;
	arena_init(&qa, 4096, 1 << 20);
	rc = query_parse(&q, text, strlen(text), &qa, e);
	if (!rc)
		rc = match_compile(&m, q.filter, T0, &qa, e);
	if (!rc)
		rc = agg_new(&g, &q, on_event, on_row, NULL, e);
	for (size_t i = 0; !rc && i < n; i++)
		if (match_event(m, &evs[i]))
			rc = agg_add(g, &evs[i], e);
	if (reuse)
		reuse(arg);
	if (rc >= 0)
		rc = agg_finish(g, e);
	agg_free(g);
	arena_release(&qa);
	return rc;
}

/* Runs text over the events; returns the output lines, or "ERR: ..." . */
static const char *run(const char *text)
{
	struct err e = ERR_INIT;

	if (run_on(text, events, N_EVENTS, NULL, NULL, &e) < 0) {
		buf_reset(&out);
		buf_addf(&out, "ERR: %s", e.msg);
	}
	return out.p;
}

static void test_stats(void)
{
	CHECK_STR(run("| stats count() by destination.port | sort -count | head 2"),
		  "{\"destination.port\":443,\"count\":5}\n{\"destination.port\":80,\"count\":3}\n");
	CHECK_STR(run("| stats count() by destination.port"),
		  "{\"destination.port\":443,\"count\":5}\n{\"destination.port\":80,\"count\":3}\n"
		  "{\"destination.port\":22,\"count\":2}\n");
	CHECK_STR(run("| stats count() by destination.port | sort destination.port"),
		  "{\"destination.port\":22,\"count\":2}\n{\"destination.port\":80,\"count\":3}\n"
		  "{\"destination.port\":443,\"count\":5}\n");
	CHECK_STR(run("event.action: deny | stats count(), dc(source.ip), sum(network.bytes), "
		      "avg(network.bytes), min(network.bytes), max(source.ip)"),
		  "{\"count\":6,\"dc(source.ip)\":3,\"sum(network.bytes)\":4500,"
		  "\"avg(network.bytes)\":750,\"min(network.bytes)\":500,"
		  "\"max(source.ip)\":\"10.0.0.3\"}\n");
	/* A group for events without the field: null, sorted last either way. */
	CHECK_STR(run("| stats count() by user.name | sort user.name"),
		  "{\"user.name\":\"alice\",\"count\":3}\n{\"user.name\":\"bob\",\"count\":2}\n"
		  "{\"user.name\":null,\"count\":5}\n");
	CHECK_STR(run("| stats count() by user.name | sort -user.name"),
		  "{\"user.name\":\"bob\",\"count\":2}\n{\"user.name\":\"alice\",\"count\":3}\n"
		  "{\"user.name\":null,\"count\":5}\n");
	CHECK_STR(run("| stats count() by event.action, destination.port | sort -count | "
		      "fields destination.port, count | head 1"),
		  "{\"destination.port\":443,\"count\":3}\n");
	CHECK_STR(run("| stats avg(user.name), min(no.such.field) by event.action | head 1"),
		  "{\"event.action\":\"allow\",\"avg(user.name)\":null,"
		  "\"min(no.such.field)\":null}\n");
	CHECK_STR(run("nothing.matches: x | stats count()"), "{\"count\":0}\n");
	CHECK_STR(run("nothing.matches: x | stats count() by user.name"), "");
	CHECK_STR(run("nothing.matches: x | stats min(network.bytes)"),
		  "{\"min(network.bytes)\":null}\n");
	/* over no value: count 0, every other aggregation null, sum and dc too */
	CHECK_STR(run("nothing.matches: x | stats count(), dc(source.ip), sum(network.bytes), "
		      "avg(network.bytes), min(network.bytes), max(network.bytes)"),
		  "{\"count\":0,\"dc(source.ip)\":null,\"sum(network.bytes)\":null,"
		  "\"avg(network.bytes)\":null,\"min(network.bytes)\":null,"
		  "\"max(network.bytes)\":null}\n");
	/* port 80 (events 1, 5, 8) has one user.name, alice; port 22 (events 3, 7) none */
	CHECK_STR(run("destination.port: 22 or destination.port: 80 | stats count(), "
		      "dc(user.name), sum(network.bytes), sum(user.name), max(user.name) "
		      "by destination.port"),
		  "{\"destination.port\":80,\"count\":3,\"dc(user.name)\":1,"
		  "\"sum(network.bytes)\":1700,\"sum(user.name)\":null,\"max(user.name)\":\"alice\"}\n"
		  "{\"destination.port\":22,\"count\":2,\"dc(user.name)\":null,"
		  "\"sum(network.bytes)\":1200,\"sum(user.name)\":null,\"max(user.name)\":null}\n");
}

static void test_timechart(void)
{
	CHECK_STR(run("destination.port: 22 or destination.port: 80 | timechart span=4h count()"),
		  "{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"count\":2}\n"
		  "{\"@timestamp\":\"2026-12-01T04:00:00Z\",\"count\":2}\n"
		  "{\"@timestamp\":\"2026-12-01T08:00:00Z\",\"count\":1}\n");
	CHECK_STR(run("| timechart span=4h count() by event.action"),
		  "{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"event.action\":\"allow\",\"count\":4}\n"
		  "{\"@timestamp\":\"2026-12-01T04:00:00Z\",\"event.action\":\"deny\",\"count\":4}\n"
		  "{\"@timestamp\":\"2026-12-01T08:00:00Z\",\"event.action\":\"deny\",\"count\":2}\n");
	CHECK_STR(run("| timechart span=1d sum(network.bytes)"),
		  "{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"sum(network.bytes)\":5500}\n");
	/* weeks run Monday to Monday: Tuesday 2026-12-01 is in the week of Monday 11-30 */
	CHECK_STR(run("| timechart span=1w count()"),
		  "{\"@timestamp\":\"2026-11-30T00:00:00Z\",\"count\":10}\n");
}

/* `fields` before a stats or timechart leaves them only the fields it keeps: the others are null. */
static void test_fields_before_stats(void)
{
	CHECK_STR(run("| fields network.bytes | stats count(), sum(network.bytes) by event.action"),
		  "{\"event.action\":null,\"count\":10,\"sum(network.bytes)\":5500}\n");
	CHECK_STR(run("| fields event.action, user.name | fields user.name, network.bytes | "
		      "stats count(), dc(user.name), sum(network.bytes) by event.action"),
		  "{\"event.action\":null,\"count\":10,\"dc(user.name)\":2,"
		  "\"sum(network.bytes)\":null}\n");
	CHECK_STR(run("destination.port: 22 | fields event.action | stats count() by event.action"),
		  "{\"event.action\":\"allow\",\"count\":1}\n{\"event.action\":\"deny\",\"count\":1}\n");
	/* a timechart puts events by @timestamp: without it, none is on the chart */
	CHECK_STR(run("| fields event.action | timechart span=1d count()"), "");
	CHECK_STR(run("| fields @timestamp | timechart span=1d count() by event.action"),
		  "{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"event.action\":null,\"count\":10}\n");
}

static void test_events(void)
{
	struct err e = ERR_INIT;

	/* newest first: the deny at T0+7h before the allow at T0+3h */
	CHECK_STR(run("destination.port: 22 | fields destination.port, event.action"),
		  "{\"destination\":{\"port\":22},\"event\":{\"action\":\"deny\"}}\n"
		  "{\"destination\":{\"port\":22},\"event\":{\"action\":\"allow\"}}\n");
	CHECK_STR(run("destination.port: 22 | fields destination.port, event.action | "
		      "fields event.action, user.name"),
		  "{\"event\":{\"action\":\"deny\"}}\n{\"event\":{\"action\":\"allow\"}}\n");
	run("| head 3");
	CHECK_INT(n_out, 3);
	/* nothing matched: nothing to sort (found by fuzz_query under UBSan) */
	CHECK_STR(run("destination.port: 9999 | sort @timestamp"), "");
	run("| sort -network.bytes | head 2 | fields network.bytes");
	CHECK_STR(out.p, "{\"network\":{\"bytes\":1000}}\n{\"network\":{\"bytes\":900}}\n");
	/* the head before a stats takes the 4 newest (T0+6h..9h: deny) */
	CHECK_STR(run("| head 4 | stats count() by event.action"),
		  "{\"event.action\":\"deny\",\"count\":4}\n");
	CHECK_STR(run("| sort -user.name | head 2 | fields user.name"),
		  "{\"user\":{\"name\":\"bob\"}}\n{\"user\":{\"name\":\"bob\"}}\n");
	/*
	 * head keeps the newest: a full order gives the oldest it holds (agg_time_bound), so
	 * the reader can skip older events, and agg_newer_than() hands on what nothing to come
	 * precedes: agg_add or agg_newer_than says 1 once all that can matter went out.
	 */
	{
		struct arena qa;
		struct query q;
		struct agg *g;
		int64_t oldest = 0;

		arena_init(&qa, 4096, 1 << 20);
		CHECK_INT(query_parse(&q, "| head 2", 8, &qa, &e), 0);
		CHECK_INT(agg_new(&g, &q, on_event, on_row, NULL, &e), 0);
		buf_reset(&out);
		n_out = 0;
		CHECK_INT(agg_add(g, &events[5], &e), 0);
		CHECK_INT(agg_time_bound(g, &oldest), 0); /* not full yet */
		CHECK_INT(agg_add(g, &events[1], &e), 0);
		CHECK_INT(agg_time_bound(g, &oldest), 1);
		CHECK(oldest == T0 + 1 * HOUR);
		CHECK_INT(agg_add(g, &events[8], &e), 0); /* replaces T0+1h */
		CHECK_INT(agg_add(g, &events[0], &e), 0); /* older than both: dropped */
		CHECK_INT(agg_time_bound(g, &oldest), 1);
		CHECK(oldest == T0 + 5 * HOUR);
		CHECK_INT(agg_newer_than(g, T0 + 6 * HOUR, &e), 0); /* T0+8h goes out */
		CHECK_INT(n_out, 1);
		CHECK(strstr(out.p, "\"network\":{\"bytes\":900}") != NULL);
		CHECK_INT(agg_newer_than(g, T0 + 4 * HOUR, &e), 1); /* T0+5h too: done */
		CHECK_INT(n_out, 2);
		CHECK_INT(agg_finish(g, &e), 0);
		CHECK_INT(n_out, 2);
		CHECK_INT(agg_gives_rows(g), 0);
		agg_free(g);
		arena_release(&qa);
	}
}

static bool read_order; /* run_order: agg_read_order() */

/* Runs text over events[order[0..n)], with the caller's limit; the bytes of each result. */
static const char *run_order(const char *text, const int *order, size_t n, uint64_t limit)
{
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct agg *g = NULL;
	static char bytes[256];
	size_t len = 0;
	int rc;

	buf_reset(&out);
	n_out = 0;
	arena_init(&qa, 4096, 1 << 20);
	rc = query_parse(&q, text, strlen(text), &qa, &e);
	if (!rc)
		rc = agg_new(&g, &q, on_event, on_row, NULL, &e);
	if (!rc && read_order)
		agg_read_order(g);
	if (!rc)
		agg_set_limit(g, limit);
	for (size_t i = 0; !rc && i < n; i++)
		rc = agg_add(g, &events[order[i]], &e) < 0;
	if (!rc)
		rc = agg_finish(g, &e);
	agg_free(g);
	arena_release(&qa);
	bytes[0] = '\0';
	for (const char *p = out.p; !rc && (p = strstr(p, "\"bytes\":")); p++) {
		int v = atoi(p + 8);

		len += (size_t)snprintf(bytes + len, sizeof(bytes) - len, "%s%d", len ? " " : "",
					v);
	}
	return rc ? "ERR" : bytes;
}

/*
 * Events come newest first by @timestamp whatever order they came in (network.bytes is
 * 100 * (hour + 1)); head, the caller's limit and a sort by time keep the newest.
 */
static void test_time_order(void)
{
	static const int shuffled[N_EVENTS] = { 3, 0, 9, 5, 1, 7, 2, 8, 4, 6 };

	CHECK_STR(run_order("*", shuffled, N_EVENTS, 0),
		  "1000 900 800 700 600 500 400 300 200 100");
	CHECK_INT(n_out, 10);
	CHECK_STR(run_order("| head 3", shuffled, N_EVENTS, 0), "1000 900 800");
	CHECK_STR(run_order("*", shuffled, N_EVENTS, 2), "1000 900");
	CHECK_STR(run_order("| head 5", shuffled, N_EVENTS, 2), "1000 900");
	CHECK_STR(run_order("| sort -@timestamp | head 2", shuffled, N_EVENTS, 0), "1000 900");
	CHECK_STR(run_order("| sort @timestamp | head 2", shuffled, N_EVENTS, 0), "100 200");
	/* a sort after the head orders the newest 3 by its field */
	CHECK_STR(run_order("| head 3 | sort network.bytes", shuffled, N_EVENTS, 0),
		  "800 900 1000");
	/* fields keeps the order */
	CHECK_STR(run_order("| fields network.bytes | head 2", shuffled, N_EVENTS, 0),
		  "1000 900");
	/* in read order (agg_read_order): as they came, a head takes the first */
	read_order = true;
	CHECK_STR(run_order("*", shuffled, N_EVENTS, 0), "400 100 1000 600 200 800 300 900 500 700");
	CHECK_STR(run_order("| head 2", shuffled, N_EVENTS, 0), "400 100");
	CHECK_STR(run_order("| sort -@timestamp | head 2", shuffled, N_EVENTS, 0), "1000 900");
	read_order = false;
	/* every allocation that fails is a clean error (the kept copies, the heap's array) */
	for (int n = 0;; n++) {
		const char *r;

		mem_fail_after(n);
		r = run_order("| head 3 | sort network.bytes", shuffled, N_EVENTS, 0);
		mem_fail_after(-1);
		if (strcmp(r, "ERR")) {
			CHECK_STR(r, "800 900 1000");
			CHECK(n > 3);
			break;
		}
	}
}

static int stop_calls;

/* An event_fn that says stop at its second event. */
static int stop_at_second(void *ctx, const struct event *ev)
{
	return ++stop_calls == 2 ? -ECANCELED : 0;
}

/*
 * A caller that said stop is never called again: the time order still holding events at
 * agg_finish does not hand them on (triage counted one evidence event too many).
 */
static void test_stop_sticks(void)
{
	static const int shuffled[N_EVENTS] = { 3, 0, 9, 5, 1, 7, 2, 8, 4, 6 };
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct agg *g = NULL;
	int rc = 0;

	stop_calls = 0;
	arena_init(&qa, 4096, 1 << 20);
	CHECK_INT(query_parse(&q, "*", 1, &qa, &e), 0);
	CHECK_INT(agg_new(&g, &q, stop_at_second, on_row, NULL, &e), 0);
	for (size_t i = 0; i < N_EVENTS && rc >= 0; i++)
		rc = agg_add(g, &events[shuffled[i]], &e);
	CHECK_INT(rc, 0); /* all held: nothing handed on yet */
	/* the store releases what nothing unread can beat: the caller stops at the second */
	CHECK_INT(agg_newer_than(g, T0 + 5 * HOUR, &e), -ECANCELED);
	CHECK_INT(stop_calls, 2);
	agg_finish(g, &e); /* the events still held are not handed on */
	CHECK_INT(stop_calls, 2);
	agg_free(g);
	arena_release(&qa);
}

/* Equal times keep the order they came in, with and without a bound. */
static void test_time_ties(void)
{
	struct arena ea;
	struct event tied[4];
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct agg *g;

	arena_init(&ea, 1 << 12, 1 << 16);
	arena_init(&qa, 4096, 1 << 20);
	for (int i = 0; i < 4; i++) {
		event_init(&tied[i], &ea);
		event_set_time(&tied[i], FIELD_TIMESTAMP, T0 + (i == 3) * HOUR);
		event_set_int(&tied[i], FIELD_DESTINATION_PORT, 1000 + i);
	}
	for (uint64_t limit = 0; limit <= 3; limit += 3) {
		buf_reset(&out);
		n_out = 0;
		CHECK_INT(query_parse(&q, "*", 1, &qa, &e), 0);
		CHECK_INT(agg_new(&g, &q, on_event, on_row, NULL, &e), 0);
		agg_set_limit(g, limit);
		for (int i = 0; i < 4; i++)
			CHECK_INT(agg_add(g, &tied[i], &e), 0);
		CHECK_INT(agg_finish(g, &e), 0);
		agg_free(g);
		CHECK_INT(n_out, limit ? 3 : 4);
		CHECK(strstr(out.p, limit ? "1003}}\n{\"@timestamp\":\"2026-12-01T00:00:00Z\","
				    "\"destination\":{\"port\":1000}}\n{\"@timestamp\":"
				    "\"2026-12-01T00:00:00Z\",\"destination\":{\"port\":1001}}\n"
				  : "1000}}\n{\"@timestamp\":\"2026-12-01T00:00:00Z\","
				    "\"destination\":{\"port\":1001}}\n{\"@timestamp\":"
				    "\"2026-12-01T00:00:00Z\",\"destination\":{\"port\":1002}}\n") !=
		      NULL);
	}
	arena_release(&qa);
	arena_release(&ea);
}

static int64_t window_times[AGG_ORDER_WINDOW + 1];

static int on_window_event(void *ctx, const struct event *ev)
{
	const struct event_value *t = event_get(ev, FIELD_TIMESTAMP);

	if (n_out == AGG_ORDER_WINDOW + 1 || !t)
		return -ENOSPC;
	window_times[n_out++] = t->v.i;
	return 0;
}

/*
 * Without a bound the time order holds AGG_ORDER_WINDOW events: full, it hands them on
 * newest first and starts again, so every match comes out (ordered within each window).
 */
static void test_time_window(void)
{
	struct arena ea;
	struct event ev;
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct agg *g;
	size_t descending = 0;

	arena_init(&ea, 1 << 12, 1 << 16);
	arena_init(&qa, 4096, 1 << 20);
	n_out = 0;
	CHECK_INT(query_parse(&q, "*", 1, &qa, &e), 0);
	CHECK_INT(agg_new(&g, &q, on_window_event, on_row, NULL, &e), 0);
	for (int64_t i = 0; i <= AGG_ORDER_WINDOW; i++) { /* oldest first */
		event_init(&ev, &ea);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + i * NS_PER_SEC);
		CHECK_INT(agg_add(g, &ev, &e), 0);
		arena_clear(&ea);
		if (i == AGG_ORDER_WINDOW - 2)
			CHECK_INT(n_out, 0);
	}
	CHECK_INT(n_out, AGG_ORDER_WINDOW);
	CHECK_INT(agg_finish(g, &e), 0);
	agg_free(g);
	CHECK_INT(n_out, AGG_ORDER_WINDOW + 1);
	for (size_t i = 1; i < AGG_ORDER_WINDOW; i++)
		descending += window_times[i] == window_times[i - 1] - NS_PER_SEC;
	CHECK_INT(descending, AGG_ORDER_WINDOW - 1);
	CHECK(window_times[0] == T0 + (AGG_ORDER_WINDOW - 1) * NS_PER_SEC);
	CHECK(window_times[AGG_ORDER_WINDOW] == T0 + AGG_ORDER_WINDOW * NS_PER_SEC);
	arena_release(&qa);
	arena_release(&ea);
}

/*
 * The orders against a model: MODEL_N events (many equal times, some with no time or no
 * network.bytes) in random order, each order's output compared with a stable sort of what
 * it must hand on, with the store's agg_newer_than() between adds for the time order.
 */
#define MODEL_N 3000

static struct event model_ev[MODEL_N];
static int model_out[MODEL_N], model_want[MODEL_N];
static int model_arrival[MODEL_N]; /* per event: its place in the order added */
static size_t model_n_out;

static int on_model_event(void *ctx, const struct event *ev)
{
	const struct event_value *port = event_get(ev, FIELD_DESTINATION_PORT);

	if (model_n_out == MODEL_N || !port)
		return -ENOSPC;
	model_out[model_n_out++] = (int)port->v.i;
	return 0;
}

static int model_field;
static bool model_desc;

/* Order of event indices by model_field (nulls last either way), then by arrival. */
static int model_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b, c = 0;
	const struct event_value *vx = event_get(&model_ev[x], (unsigned)model_field);
	const struct event_value *vy = event_get(&model_ev[y], (unsigned)model_field);

	if (!vx || !vy)
		c = !vx - !vy;
	else if (vx->v.i != vy->v.i)
		c = (vx->v.i < vy->v.i ? -1 : 1) * (model_desc ? -1 : 1);
	return c ? c : model_arrival[x] - model_arrival[y];
}

/* Appends to model_want the sorted in[0..n). */
static void model_emit(int *in, size_t n, size_t *n_want)
{
	qsort(in, n, sizeof(*in), model_cmp);
	memcpy(model_want + *n_want, in, n * sizeof(*in));
	*n_want += n;
}

/*
 * Runs text (no limit when limit is 0) over the events in the order given; with drain, calls
 * agg_newer_than(T0 + drain_t[i]) after every 100th add and mirrors it in the model.
 */
static void model_run(const char *text, const int *order, uint64_t limit, bool drain)
{
	static int held[MODEL_N];
	struct err e = ERR_INIT;
	struct arena qa;
	struct query q;
	struct agg *g = NULL;
	size_t n_held = 0, n_want = 0;

	model_n_out = 0;
	arena_init(&qa, 4096, 1 << 20);
	CHECK_INT(query_parse(&q, text, strlen(text), &qa, &e), 0);
	CHECK_INT(agg_new(&g, &q, on_model_event, on_row, NULL, &e), 0);
	agg_set_limit(g, limit);
	for (size_t i = 0; i < MODEL_N; i++) {
		CHECK_INT(agg_add(g, &model_ev[order[i]], &e), 0);
		held[n_held++] = order[i];
		if (drain && i % 100 == 99) {
			int64_t t = T0 + (int64_t)(200 - i / 20) * NS_PER_SEC;
			size_t kept = 0, n_newer = 0;
			int newer[MODEL_N];

			CHECK_INT(agg_newer_than(g, t, &e), 0);
			for (size_t j = 0; j < n_held; j++) {
				const struct event_value *v =
					event_get(&model_ev[held[j]], FIELD_TIMESTAMP);

				if (v && v->v.i > t)
					newer[n_newer++] = held[j];
				else
					held[kept++] = held[j];
			}
			n_held = kept;
			model_emit(newer, n_newer, &n_want);
		}
	}
	CHECK_INT(agg_finish(g, &e), 0);
	agg_free(g);
	arena_release(&qa);
	model_emit(held, n_held, &n_want);
	if (limit && limit < n_want)
		n_want = (size_t)limit;
	CHECK_INT(model_n_out, n_want);
	CHECK(!memcmp(model_out, model_want, n_want * sizeof(*model_want)));
}

static void test_orders_as_a_model(void)
{
	static int order[MODEL_N];
	struct arena ea;

	arena_init(&ea, 1 << 16, 1 << 24);
	srand(6);
	for (int i = 0; i < MODEL_N; i++) {
		event_init(&model_ev[i], &ea);
		if (i % 37)
			event_set_time(&model_ev[i], FIELD_TIMESTAMP,
				       T0 + (rand() % 200) * NS_PER_SEC);
		if (i % 41)
			event_set_int(&model_ev[i], FIELD_NETWORK_BYTES, rand() % 50);
		event_set_int(&model_ev[i], FIELD_DESTINATION_PORT, i);
		order[i] = i;
	}
	for (int i = MODEL_N - 1; i > 0; i--) { /* arrival order: a shuffle */
		int j = rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < MODEL_N; i++)
		model_arrival[order[i]] = i;
	model_field = FIELD_TIMESTAMP;
	model_desc = true;
	model_run("*", order, 0, false);
	model_run("*", order, 0, true);
	model_run("*", order, 100, false);
	model_run("| sort -@timestamp", order, 0, false);
	model_desc = false;
	model_run("| sort @timestamp", order, 7, false);
	model_field = FIELD_NETWORK_BYTES;
	model_run("| sort network.bytes", order, 0, false);
	model_desc = true;
	model_run("| sort -network.bytes", order, 50, false);
	arena_release(&ea);
}

/* An event whose event.original is BIG_TEXT bytes of one letter, its port's. */
#define BIG_TEXT 40000
#define BIG_N 1200

static int on_big_event(void *ctx, const struct event *ev)
{
	const struct event_value *port = event_get(ev, FIELD_DESTINATION_PORT);
	const char *text;
	size_t len, same = 0;

	if (model_n_out == MODEL_N || !port ||
	    !event_get_str(ev, FIELD_EVENT_ORIGINAL, &text, &len))
		return -ENOSPC;
	while (same < len && text[same] == 'a' + port->v.i % 26)
		same++;
	if (len != BIG_TEXT || same != len)
		return -EIO;
	model_out[model_n_out++] = (int)port->v.i;
	return 0;
}

/*
 * The copies of kept events handed on or replaced are let go in bulk: with events of 40 KB,
 * a limit of 3 over ascending times (each event replaces the worst) and partial drains
 * that leave a third held both leave more than 16 MB dead, which is compacted; what is
 * handed on is whole and in order.
 */
static void test_order_compacts(void)
{
	static struct event big[BIG_N];
	struct err e = ERR_INIT;
	struct arena ea, qa;
	struct query q;
	struct agg *g;

	arena_init(&ea, 1 << 20, (size_t)1 << 30);
	arena_init(&qa, 4096, 1 << 20);
	for (int i = 0; i < BIG_N; i++) {
		char *text = arena_alloc(&ea, BIG_TEXT); /* an event's text is not copied */

		CHECK(text != NULL);
		memset(text, 'a' + i % 26, BIG_TEXT);
		event_init(&big[i], &ea);
		event_set_time(&big[i], FIELD_TIMESTAMP, T0 + (i % 3 ? i : 0) * NS_PER_SEC);
		event_set_int(&big[i], FIELD_DESTINATION_PORT, i);
		CHECK_INT(event_set_str(&big[i], FIELD_EVENT_ORIGINAL, text, BIG_TEXT), 0);
	}
	CHECK_INT(query_parse(&q, "*", 1, &qa, &e), 0);
	for (uint64_t limit = 0; limit <= 3; limit += 3) {
		model_n_out = 0;
		CHECK_INT(agg_new(&g, &q, on_big_event, on_row, NULL, &e), 0);
		agg_set_limit(g, limit);
		for (int i = 0; i < BIG_N; i++) {
			CHECK_INT(agg_add(g, &big[i], &e), 0);
			if (!limit && i % 100 == 99) /* the newer two thirds go, the T0 ones stay */
				CHECK_INT(agg_newer_than(g, T0, &e), 0);
		}
		CHECK_INT(agg_finish(g, &e), 0);
		agg_free(g);
		CHECK_INT(model_n_out, limit ? 3 : BIG_N);
		if (limit)
			CHECK(model_out[0] == BIG_N - 1 && model_out[1] == BIG_N - 2 &&
			      model_out[2] == BIG_N - 4);
		else /* each drain newest first (the first's: 98), the T0 ones last as they came */
			CHECK(model_out[0] == 98 && model_out[BIG_N - BIG_N / 3 - 1] == 1100 &&
			      model_out[BIG_N - BIG_N / 3] == 0 &&
			      model_out[BIG_N - 1] == BIG_N - 3);
	}
	arena_release(&qa);
	arena_release(&ea);
}

static void test_errors(void)
{
	CHECK_STR(run("| stats count() | sort -total"),
		  "ERR: column 19: sort by 'total': the rows have no such column");
	CHECK_STR(run("| stats count() | stats count()"),
		  "ERR: column 19: one stats or timechart per query");
	/* a sort by what a `fields` before it dropped, on events or rows */
	CHECK_STR(run("| fields user.name | sort source.ip"),
		  "ERR: column 27: sort by 'source.ip': the '| fields' at column 3 dropped it "
		  "(sort before it, or keep the field)");
	CHECK_STR(run("* | fields a, b | head 2 | fields a | sort -b"),
		  "ERR: column 45: sort by 'b': the '| fields' at column 28 dropped it "
		  "(sort before it, or keep the field)");
	CHECK_STR(run("| stats count() by user.name | fields user.name | sort -count"),
		  "ERR: column 57: sort by 'count': the '| fields' at column 32 dropped it "
		  "(sort before it, or keep the field)");
	/* kept, before the stats that made the rows, or sorted before the fields: fine */
	CHECK_STR(run("event.action: deny | fields user.name | sort user.name | head 1"),
		  run("event.action: deny | sort user.name | fields user.name | head 1"));
	CHECK_STR(run("| fields user.name | stats count() by user.name | sort -count | head 1"),
		  "{\"user.name\":null,\"count\":5}\n");
}

static void test_text_values(void)
{
	struct agg_value v = { AGG_TIME, { .i = T0 } };
	struct buf b = BUF_INIT(256);

	CHECK_INT(agg_value_write_text(&v, &b), 0);
	CHECK_STR(b.p, "2026-12-01T00:00:00Z");
	buf_reset(&b);
	v.kind = AGG_NULL;
	CHECK_INT(agg_value_write_text(&v, &b), 0);
	CHECK_STR(b.p, "-");
	buf_reset(&b);
	v.kind = AGG_DOUBLE;
	v.v.d = 2.5;
	CHECK_INT(agg_value_write_text(&v, &b), 0);
	CHECK_STR(b.p, "2.5");
	/* the shortest decimal that reads back as the same double: 15, 16 or 17 digits */
	buf_reset(&b);
	v.v.d = 20801833.0 / 10000;
	CHECK_INT(agg_value_write_text(&v, &b), 0);
	CHECK_STR(b.p, "2080.1833");
	buf_reset(&b);
	v.v.d = 2.0 / 3;
	CHECK_INT(agg_value_write_text(&v, &b), 0);
	CHECK_STR(b.p, "0.6666666666666666");
	buf_reset(&b);
	v.v.d = 0.1 + 0.2;
	CHECK_INT(agg_value_write_text(&v, &b), 0);
	CHECK_STR(b.p, "0.30000000000000004");
	buf_release(&b);
}

/* avg in JSON: 0.1, not 0.10000000000000001 */
static void test_avg_digits(void)
{
	struct err e = ERR_INIT;
	struct event evs[10];

	for (int i = 0; i < 10; i++) {
		event_init(&evs[i], &arena);
		event_set_int(&evs[i], FIELD_NETWORK_BYTES, i == 0);
		event_set_int(&evs[i], FIELD_DESTINATION_PORT, i ? 0 : 20801833);
	}
	CHECK_INT(run_on("| stats avg(network.bytes), avg(destination.port)", evs, 10, NULL, NULL,
			 &e), 0);
	CHECK_STR(out.p, "{\"avg(network.bytes)\":0.1,\"avg(destination.port)\":2080183.3}\n");
}

/*
 * dc, min and max read every value of a field with several (they read only the first
 * before: dc 2 and max 192.0.2.2 here); a group takes a by-field's first value.
 */
static void test_every_value(void)
{
	static const char *const ips[3][2] = {
		{ "192.0.2.1", "198.51.100.9" }, { "192.0.2.2", "198.51.100.10" }, { "198.51.100.9" },
	};
	static const char *const tags[3][2] = { { "web", "zeta" }, { "prod", "alpha" }, { "web" } };
	struct err e = ERR_INIT;
	struct event evs[3];

	for (int i = 0; i < 3; i++) {
		event_init(&evs[i], &arena);
		for (int k = 0; k < 2 && ips[i][k]; k++) {
			struct ipaddr ip;

			CHECK_INT(ipaddr_parse(&ip, ips[i][k], strlen(ips[i][k])), 0);
			CHECK_INT(event_add_ip(&evs[i], FIELD_RELATED_IP, &ip), 0);
			CHECK_INT(event_add_str(&evs[i], FIELD_TAGS, tags[i][k], strlen(tags[i][k])), 0);
		}
	}
	CHECK_INT(run_on("| stats count(), dc(related.ip), min(related.ip), max(related.ip), "
			 "dc(tags), min(tags), max(tags)", evs, 2, NULL, NULL, &e), 0);
	CHECK_STR(out.p, "{\"count\":2,\"dc(related.ip)\":4,\"min(related.ip)\":\"192.0.2.1\","
		  "\"max(related.ip)\":\"198.51.100.10\",\"dc(tags)\":4,\"min(tags)\":\"alpha\","
		  "\"max(tags)\":\"zeta\"}\n");
	/* the third event repeats values: still 4 distinct */
	CHECK_INT(run_on("| stats count(), dc(related.ip), dc(tags)", evs, 3, NULL, NULL, &e), 0);
	CHECK_STR(out.p, "{\"count\":3,\"dc(related.ip)\":4,\"dc(tags)\":4}\n");
	CHECK_INT(run_on("| stats count(), dc(related.ip), max(tags) by tags | sort tags", evs, 3,
			 NULL, NULL, &e), 0);
	CHECK_STR(out.p, "{\"tags\":\"prod\",\"count\":1,\"dc(related.ip)\":2,"
		  "\"max(tags)\":\"prod\"}\n"
		  "{\"tags\":\"web\",\"count\":2,\"dc(related.ip)\":2,\"max(tags)\":\"zeta\"}\n");
}

/* Runs text over the one event ev (see run_on); returns the first failure. */
static int run_one(const char *text, const struct event *ev, void (*reuse)(void *), void *arg)
{
	struct err e = ERR_INIT;

	return run_on(text, ev, 1, reuse, arg, &e);
}

/*
 * A field named twice in `fields` is kept once: an event with 600 tags came out with 1,200
 * values, past the 1,024 that pass_on's array holds (a stack overflow before the fix).
 */
static void test_fields_named_twice(void)
{
	struct arena ea;
	struct event ev;
	size_t tags = 0;

	arena_init(&ea, 1 << 16, 1 << 22);
	event_init(&ev, &ea);
	for (int i = 0; i < 600; i++) {
		char t[16];
		int n = snprintf(t, sizeof(t), "t%d", i);

		CHECK_INT(event_add_str(&ev, FIELD_TAGS, arena_strndup(&ea, t, (size_t)n), (size_t)n),
			  0);
	}
	event_set_int(&ev, FIELD_DESTINATION_PORT, 22);
	CHECK_INT(run_one("* | fields tags, destination.port, tags", &ev, NULL, NULL), 0);
	CHECK_INT(n_out, 1);
	for (const char *p = out.p; (p = strstr(p, "\"t")); p++)
		tags += p[2] >= '0' && p[2] <= '9'; /* "t0" .. "t599", not "tags" */
	CHECK_INT(tags, 600);
	CHECK(strstr(out.p, "\"port\":22") != NULL);
	arena_release(&ea);
}

/*
 * An event kept for a sort keeps its own copy of an object field's text: the reader's
 * memory it pointed into is reused before the sorted events go out.
 */
static void scribble(void *text)
{
	memset(text, 'X', strlen(text)); /* the reader's memory, used again */
}

static void test_sort_keeps_object_text(void)
{
	struct arena ea;
	struct event ev;
	char obj[] = "{\"matched\":{\"atomic\":\"10.0.0.9\"}}";

	arena_init(&ea, 1 << 12, 1 << 16);
	event_init(&ev, &ea);
	CHECK_INT(event_add_obj(&ev, FIELD_THREAT_ENRICHMENTS, obj, sizeof(obj) - 1), 0);
	CHECK_INT(event_set_int(&ev, FIELD_DESTINATION_PORT, 22), 0);
	CHECK_INT(run_one("* | sort destination.port | fields threat.enrichments", &ev, scribble,
			  obj), 0);
	CHECK_INT(n_out, 1);
	CHECK(strstr(out.p, "10.0.0.9") != NULL);
	CHECK(strstr(out.p, "XXXX") == NULL);
	arena_release(&ea);
}

int main(void)
{
	buf_init(&out, 1 << 20);
	make_events();
	T_RUN(test_stats);
	T_RUN(test_timechart);
	T_RUN(test_events);
	T_RUN(test_time_order);
	T_RUN(test_time_ties);
	T_RUN(test_stop_sticks);
	T_RUN(test_time_window);
	T_RUN(test_orders_as_a_model);
	T_RUN(test_order_compacts);
	T_RUN(test_errors);
	T_RUN(test_text_values);
	T_RUN(test_every_value);
	T_RUN(test_fields_named_twice);
	T_RUN(test_fields_before_stats);
	T_RUN(test_avg_digits);
	T_RUN(test_sort_keeps_object_text);
	arena_release(&arena);
	buf_release(&out);
	return t_done();
}
