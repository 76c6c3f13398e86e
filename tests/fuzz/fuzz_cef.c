/*
 * fuzz_cef.c - libFuzzer target for the CEF decoder through the registry (format forced).
 *
 * The first input byte picks the zone, the receive time, the source (one with a LEEF
 * delimiter of its own) and, with its top bit, an allocation failure; the rest is the
 * message. A decoded event must keep event.original, a failure must say why, and every
 * result must be written as JSON that parse/ecs reads back to the same bytes. fuzz_leef.c
 * and fuzz_a10.c reuse this file with FUZZ_DECODER set.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "parse/ecs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_DECODER
#define FUZZ_DECODER "cef"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = { NULL, "UTC", "America/New_York", "Asia/Tokyo" };
static const char *const sources[] = { NULL, "pa", "other", "pa" };

static const int64_t receive_times[] = {
	INT64_C(1773543600000000000), /* 2026-03-15T03:00:00Z */
	INT64_C(1767225600000000000), /* 2026-01-01T00:00:00Z: year rollover */
	0,
	INT64_C(4102444800000000000), /* 2100-01-01 */
};

/* What event_write_json wrote reads back through parse/ecs and writes the same bytes. */
static void check_round_trip(const struct event *ev)
{
	struct buf once = BUF_INIT(1 << 24), twice = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	struct arena a;
	struct event back;

	arena_init(&a, 4096, 1 << 24);
	if (event_write_json(ev, &once) == 0) {
		event_init(&back, &a);
		if (ecs_decode(&back, once.p, once.len, &e) < 0 ||
		    event_write_json(&back, &twice) < 0 || once.len != twice.len ||
		    memcmp(once.p, twice.p, once.len))
			abort();
	}
	buf_release(&once);
	buf_release(&twice);
	arena_release(&a);
}

/* Once: the decoders' settings, a LEEF source with '|' and '^' for the others. */
static void configure(void)
{
	static int done;
	static const char yaml[] = "decoders:\n  leef:\n    delimiter: \"^\"\n    sources:\n"
				   "      pa: \"|\"\n";
	struct config c;
	struct err e = ERR_INIT;

	if (done++)
		return;
	if (config_load_mem(&c, yaml, sizeof(yaml) - 1, "fuzz", &e) < 0 ||
	    decoder_configure(&c, &e) < 0)
		abort();
	config_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct decoder *d = decoder_get((unsigned)decoder_find(FUZZ_DECODER,
								      strlen(FUZZ_DECODER)));
	struct decode_opts o = { NULL, 0, 0, 0, NULL };
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	const char *zone;
	uint8_t sel;
	int rc;

	configure();
	if (size == 0 || !d)
		return 0;
	sel = data[0];
	zone = zones[sel & 3];
	o.tz = zone ? tz_get(zone, strlen(zone), NULL) : NULL;
	o.received_ns = receive_times[(sel >> 2) & 3];
	o.source = sources[(sel >> 4) & 3];
	arena_init(&a, 256, 1 << 22);
	event_init(&ev, &a);
	if (sel & 0x80)
		mem_fail_after((sel >> 5) & 3);
	rc = d->decode(&ev, (const char *)data + 1, size - 1, &o, &e);
	mem_fail_after(-1);
	if (rc == 0 && !event_get(&ev, FIELD_EVENT_ORIGINAL))
		abort();
	if (rc < 0 && !e.msg[0])
		abort(); /* a failure always says why */
	check_round_trip(&ev);
	arena_release(&a);
	return 0;
}
