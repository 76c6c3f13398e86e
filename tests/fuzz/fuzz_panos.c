/*
 * fuzz_panos.c - libFuzzer target for the PAN-OS decoder (parse/panos).
 *
 * The first input byte picks the zone, the receive time and, with its top bit, an
 * allocation failure (a tiny arena); the rest is the message. Invariants: sniff and
 * decode never read outside the message (ASan); a decoded event has event.original,
 * @timestamp and event.dataset; a failure comes with a message and leaves exactly
 * event.original, message, event.created and @timestamp (or -ENOMEM); every event
 * written as JSON decodes again with parse/ecs and writes the same bytes.
 */
#include "parse/panos.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "parse/ecs.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = { NULL, "UTC", "Asia/Tokyo", "America/New_York" };

static const int64_t receive_times[] = {
	INT64_C(1773543600000000000), /* 2026-03-15T03:00:00Z */
	INT64_C(1767225600000000000), /* 2026-01-01T00:00:00Z: year rollover */
	0,
	INT64_C(4102444800000000000), /* 2100-01-01 */
};

/* The written event must be a fixed point of ecs_decode + event_write_json. */
static void check_json(struct event *ev, struct arena *a)
{
	struct buf once = BUF_INIT(1 << 24), twice = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	struct event back;

	if (event_write_json(ev, &once) == 0) {
		event_init(&back, a);
		if (ecs_decode(&back, once.p, once.len, &e) < 0 ||
		    event_write_json(&back, &twice) < 0 || once.len != twice.len ||
		    memcmp(once.p, twice.p, once.len))
			abort();
	}
	buf_release(&once);
	buf_release(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decode_opts o = { NULL, 0, 0, 0, NULL };
	struct err e = ERR_INIT;
	const char *zone, *msg = (const char *)data + 1;
	struct arena a;
	struct event ev;
	uint8_t sel;
	int rc;

	if (size == 0)
		return 0;
	sel = data[0];
	zone = zones[sel & 3];
	o.tz = zone ? tz_get(zone, strlen(zone), NULL) : NULL;
	o.received_ns = receive_times[(sel >> 2) & 3];
	(void)panos_sniff(msg, size - 1);
	arena_init(&a, 256, sel & 0x80 ? (size_t)(sel & 0x7f) * 64 : 1 << 24);
	event_init(&ev, &a);
	rc = panos_decode(&ev, msg, size - 1, &o, &e);
	if (rc == 0) {
		if (!event_get(&ev, FIELD_EVENT_ORIGINAL) || !event_get(&ev, FIELD_TIMESTAMP) ||
		    !event_get(&ev, FIELD_EVENT_DATASET))
			abort();
	} else {
		if (!e.msg[0])
			abort();
		if (rc != -ENOMEM && ev.n != 4)
			abort();
	}
	if (!(sel & 0x80))
		check_json(&ev, &a);
	arena_release(&a);
	return 0;
}
