/*
 * fuzz_query.c - libFuzzer target for the query parser.
 *
 * Any input either fails with a message or parses; a parsed query's canonical form must
 * parse again to the same canonical form (the formatter and the parser agree), and
 * allocation failures (the Nth, from the first byte) must be clean errors. A parsed query is
 * also compiled (store/match) and run with its pipes (store/agg) over a few fixed events.
 */
#include "store/query.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "store/agg.h"
#include "store/match.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int on_event(void *ctx, const struct event *ev)
{
	return 0;
}

static int on_row(void *ctx, const struct agg_row *row)
{
	return 0;
}

/* Three events with text, address, number and time fields, the second without some. */
static void run(const struct query *q, struct arena *a)
{
	static const char line[] = "<14>Nov 30 fw1 deny 10.1.2.3 -> 203.0.113.7:443 Mimikatz";
	struct err e = ERR_INIT;
	struct match *m;
	struct agg *g;
	struct ipaddr ip;

	if (match_compile(&m, q->filter, 1796083200000000000LL, a, &e) < 0) {
		if (!e.msg[0])
			abort();
		return;
	}
	/* a sort by a column a `fields` before it dropped is refused here, with its reason */
	if (agg_new(&g, q, on_event, on_row, NULL, &e) < 0) {
		if (!e.msg[0])
			abort();
		return;
	}
	ipaddr_parse(&ip, "10.1.2.3", 8);
	for (int i = 0; i < 3; i++) {
		struct event ev;

		event_init(&ev, a);
		event_set_time(&ev, FIELD_TIMESTAMP, 1796083200000000000LL + i * 3600000000000LL);
		event_set_str(&ev, FIELD_EVENT_ORIGINAL, line, sizeof(line) - 1);
		if (i != 1) {
			event_set_ip(&ev, FIELD_SOURCE_IP, &ip);
			event_set_int(&ev, FIELD_DESTINATION_PORT, 443 + i);
			event_set_str(&ev, FIELD_USER_NAME, i ? "bob" : "alice", i ? 3 : 5);
		}
		if (match_event(m, &ev) && agg_add(g, &ev, &e) != 0)
			break;
	}
	(void)agg_finish(g, &e); /* a sort by a missing column is an error, not a crash */
	agg_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf once = BUF_INIT(1 << 22), twice = BUF_INIT(1 << 22);
	struct err e = ERR_INIT;
	struct arena a;
	struct query q;
	int rc;

	arena_init(&a, 4096, 16 << 20);
	rc = query_parse(&q, (const char *)data, size, &a, &e);
	if (rc < 0) {
		if (!e.msg[0])
			abort();
		goto done;
	}
	if (query_format(&q, &once) < 0)
		abort();
	run(&q, &a);
	arena_clear(&a);
	if (query_parse(&q, once.p, once.len, &a, &e) < 0 || query_format(&q, &twice) < 0 ||
	    strcmp(once.p, twice.p))
		abort();
	if (size) {
		arena_clear(&a);
		mem_fail_after(data[0] % 16);
		rc = query_parse(&q, (const char *)data, size, &a, &e);
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM)
			abort();
	}
done:
	buf_release(&once);
	buf_release(&twice);
	arena_release(&a);
	return 0;
}
