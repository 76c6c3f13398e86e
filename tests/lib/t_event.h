/*
 * t_event.h - decoding one message in a unit test and reading the event's fields by name
 * (shared by the decoder tests: test_squid, test_weblog, test_dns, test_postfix,
 * test_jsonmap, test_logtext).
 *
 * Header only, on purpose: every .c in tests/lib is linked into every unit test, and some of them
 * (test_route) replace the decoder registry with stubs, which a .c here would clash with.
 *
 * Memory: one event on the helper's arena, cleared by every t_decode(); strings returned by
 * t_str() live in a static buffer until the next call. Threads: the test's thread.
 */
#ifndef TESTS_T_EVENT_H
#define TESTS_T_EVENT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "t.h"

#define T_EVENT_NOW INT64_C(1773543600000000000) /* 2026-03-15T03:00:00Z */

/* The event of the last t_decode and its error. */
static struct event t_ev;
static struct err t_ev_err;
static struct arena t_ev_arena;
static int t_ev_arena_ready;
static char t_ev_text[8192];

/*
 * Decodes msg with the registered decoder named format (receive time T_EVENT_NOW, zone
 * Asia/Tokyo, tenant slot tenant, source name source or NULL); returns decode's result.
 */
static inline int t_decode(const char *format, const char *msg, unsigned tenant,
			   const char *source)
{
	struct decode_opts o = { tz_get("Asia/Tokyo", 10, NULL), T_EVENT_NOW, tenant, 0, source };
	int id = decoder_find(format, strlen(format));
	const struct decoder *d = decoder_get(id < 0 ? 0 : (unsigned)id);

	if (!t_ev_arena_ready) {
		arena_init(&t_ev_arena, 4096, 1 << 22);
		t_ev_arena_ready = 1;
	}
	arena_clear(&t_ev_arena);
	event_init(&t_ev, &t_ev_arena);
	err_clear(&t_ev_err);
	if (!t_check(d != NULL, __FILE__, __LINE__, "no decoder named %s", format))
		return -999;
	return d->decode(&t_ev, msg, strlen(msg), &o, &t_ev_err);
}

static inline const struct event_value *t_nth(const char *name, unsigned n)
{
	int f = field_lookup(name, strlen(name));

	if (f < 0)
		return NULL;
	for (uint32_t i = 0; i < t_ev.n; i++)
		if (t_ev.vals[i].field == (uint32_t)f && n-- == 0)
			return &t_ev.vals[i];
	return NULL;
}

/* The n-th value (0: the first) of string or IP field name as a C string, or NULL. */
static inline const char *t_str_at(const char *name, unsigned n)
{
	const struct event_value *v = t_nth(name, n);

	if (!v)
		return NULL;
	if (field_type(v->field) == FT_IP) {
		ipaddr_format(&v->v.ip, t_ev_text);
		return t_ev_text;
	}
	if (field_type(v->field) != FT_STR)
		return NULL;
	snprintf(t_ev_text, sizeof(t_ev_text), "%.*s", (int)v->len, v->v.s);
	return t_ev_text;
}
#define t_str(name) t_str_at((name), 0)

/* The integer (or time, bool) value of field name, or missing. */
static inline long long t_int(const char *name, long long missing)
{
	const struct event_value *v = t_nth(name, 0);

	return v && field_type(v->field) != FT_STR && field_type(v->field) != FT_IP ? v->v.i
										     : missing;
}

/* Number of values of field name. */
static inline unsigned t_count(const char *name)
{
	unsigned n = 0;

	while (t_nth(name, n))
		n++;
	return n;
}

/* The event as one JSON line (static buffer). */
static inline const char *t_json(void)
{
	struct buf out = BUF_INIT(sizeof(t_ev_text) - 1);

	t_ev_text[0] = '\0';
	if (event_write_json(&t_ev, &out) == 0)
		snprintf(t_ev_text, sizeof(t_ev_text), "%.*s", (int)out.len, out.p);
	buf_release(&out);
	return t_ev_text;
}

#endif
