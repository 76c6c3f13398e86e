/*
 * fuzz_decoder.h - the body of the libFuzzer targets of the decoders in the registry
 * (fuzz_squid, fuzz_weblog, fuzz_dns, fuzz_postfix, fuzz_jsonmap, fuzz_cef, fuzz_leef,
 * fuzz_a10, fuzz_panos): each defines FUZZ_FORMAT and includes this file. Optional, defined
 * before the include:
 *   FUZZ_FORMAT2        a second format, chosen by bit 0x40 of the first byte;
 *   FUZZ_SETUP          a statement run once before the first input (decoder settings,
 *                       say fuzz_configure(yaml, configure));
 *   FUZZ_SOURCES        four source names picked by bits 4-5 (tenant 0), instead of the
 *                       tenant slot (bit 4) and the source "fuzz" or none (bit 5);
 *   FUZZ_TINY_ARENA     the top bit gives the event a tiny arena ((sel & 0x7f) * 64 bytes)
 *                       instead of failing the (sel >> 5 & 3)th allocation, and such an
 *                       event is not written as JSON;
 *   FUZZ_ROUND_TRIP     the JSON written must read back through parse/ecs and write the
 *                       same bytes (instead of reading back strictly through core/jsonin);
 *   FUZZ_CHECK(ev, rc)  more invariants of the decoder's result: false aborts.
 *
 * The first input byte picks the zone (bits 0-1), the receive time (bits 2-3), the tenant
 * and source (bits 4-5) and, with its top bit, an allocation failure; the rest is the
 * message, which sniff and decode must never read outside (ASan). A decoded event keeps
 * event.original, a failure says why, and every event written as JSON passes the check
 * above. Single-threaded, as libFuzzer runs it; everything is freed before the next input.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/compat.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "parse/ecs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_zones[] = { NULL, "UTC", "America/New_York", "Asia/Tokyo" };

static const int64_t fuzz_times[] = {
	INT64_C(1773543600000000000), /* 2026-03-15T03:00:00Z */
	INT64_C(1767225599999999999), /* just before 2026 */
	0,
	INT64_C(4102444800000000000), /* 2100-01-01 */
};

#ifdef FUZZ_SOURCES
static const char *const fuzz_sources[4] = { FUZZ_SOURCES };
#endif

static const struct decoder *fuzz_decoder(const char *name)
{
	int id = decoder_find(name, strlen(name));

	if (id <= 0)
		abort();
	return decoder_get((unsigned)id);
}

/* Loads the NUL-terminated YAML text yaml as a configuration and hands it to configure
 * (decoder_configure, jsonmap_configure), for FUZZ_SETUP; aborts when either fails. */
UNUSED static void fuzz_configure(const char *yaml,
				  int (*configure)(const struct config *c, struct err *e))
{
	struct config c;
	struct err e = ERR_INIT;

	if (config_load_mem(&c, yaml, strlen(yaml), "fuzz", &e) < 0 || configure(&c, &e) < 0)
		abort();
	config_release(&c);
}

/* The JSON of ev must be read back: strictly by core/jsonin, or with FUZZ_ROUND_TRIP by
 * parse/ecs into an event that writes the same bytes. Aborts when it is not. */
static void fuzz_check_json(const struct event *ev)
{
#ifdef FUZZ_ROUND_TRIP
	struct buf once = BUF_INIT(1 << 24), twice = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	struct event back;
	struct arena a;

	arena_init(&a, 4096, 1 << 24);
	if (event_write_json(ev, &once) == 0) {
		event_init(&back, &a);
		if (ecs_decode(&back, once.p, once.len, &e) < 0 ||
		    event_write_json(&back, &twice) < 0 || once.len != twice.len ||
		    memcmp(once.p, twice.p, once.len))
			abort();
	}
	buf_release(&twice);
	arena_release(&a);
#else
	struct buf once = BUF_INIT(1 << 22);
	struct jsonin j;

	if (event_write_json(ev, &once) == 0) {
		jsonin_init(&j, once.p, once.len, NULL, 0);
		if (jsonin_skip_value(&j) < 0 || jsonin_finish(&j, NULL) < 0)
			abort();
	}
#endif
	buf_release(&once);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct decode_opts o = { NULL, 0, 0, 0, NULL };
	struct err e = ERR_INIT;
	const struct decoder *d;
	size_t arena_max = 1 << 22;
	struct arena a;
	struct event ev;
	const char *zone;
	uint8_t sel;
	int rc;

	if (!ready) {
#ifdef FUZZ_SETUP
		FUZZ_SETUP;
#endif
		ready = 1;
	}
	if (size == 0)
		return 0;
	sel = data[0];
	zone = fuzz_zones[sel & 3];
	o.tz = zone ? tz_get(zone, strlen(zone), NULL) : NULL;
	o.received_ns = fuzz_times[(sel >> 2) & 3];
#ifdef FUZZ_SOURCES
	o.source = fuzz_sources[(sel >> 4) & 3];
#else
	o.tenant = (sel >> 4) & 1;
	o.source = (sel & 0x20) ? "fuzz" : NULL;
#endif
#ifdef FUZZ_FORMAT2
	d = fuzz_decoder((sel & 0x40) ? FUZZ_FORMAT2 : FUZZ_FORMAT);
#else
	d = fuzz_decoder(FUZZ_FORMAT);
#endif
	if (d->sniff)
		(void)d->sniff((const char *)data + 1, size - 1);
#ifdef FUZZ_TINY_ARENA
	if (sel & 0x80)
		arena_max = (size_t)(sel & 0x7f) * 64;
#endif
	arena_init(&a, 256, arena_max);
	event_init(&ev, &a);
#ifndef FUZZ_TINY_ARENA
	if (sel & 0x80)
		mem_fail_after((sel >> 5) & 3);
#endif
	rc = d->decode(&ev, (const char *)data + 1, size - 1, &o, &e);
	mem_fail_after(-1);
	if (rc == 0 && !event_get(&ev, FIELD_EVENT_ORIGINAL))
		abort();
	if (rc < 0 && !e.msg[0])
		abort(); /* every failure says why */
#ifdef FUZZ_CHECK
	if (!(FUZZ_CHECK(&ev, rc)))
		abort();
#endif
#ifdef FUZZ_TINY_ARENA
	if (!(sel & 0x80))
#endif
		fuzz_check_json(&ev);
	arena_release(&a);
	return 0;
}
