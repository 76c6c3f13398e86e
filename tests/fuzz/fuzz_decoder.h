/*
 * fuzz_decoder.h - the body of the libFuzzer targets of the server decoders (fuzz_squid,
 * fuzz_weblog, fuzz_dns, fuzz_postfix, fuzz_jsonmap): each defines FUZZ_FORMAT (and
 * optionally FUZZ_FORMAT2, chosen by a bit of the first byte, and FUZZ_SETUP) and includes
 * this file.
 *
 * The first input byte picks the zone, the receive time, the tenant slot and, with its top
 * bit, an allocation failure; the rest is the message. Every result must keep
 * event.original and serialize to JSON that core/jsonin reads back strictly.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/decoder.h"

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

static const struct decoder *fuzz_decoder(const char *name)
{
	int id = decoder_find(name, strlen(name));

	if (id <= 0)
		abort();
	return decoder_get((unsigned)id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct decode_opts o = { NULL, 0, 0, 0, NULL };
	struct buf out = BUF_INIT(1 << 22);
	struct err e = ERR_INIT;
	const struct decoder *d;
	struct arena a;
	struct event ev;
	struct jsonin j;
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
	o.tenant = (sel >> 4) & 1;
	o.source = (sel & 0x20) ? "fuzz" : NULL;
#ifdef FUZZ_FORMAT2
	d = fuzz_decoder((sel & 0x40) ? FUZZ_FORMAT2 : FUZZ_FORMAT);
#else
	d = fuzz_decoder(FUZZ_FORMAT);
#endif
	if (d->sniff)
		(void)d->sniff((const char *)data + 1, size - 1);
	arena_init(&a, 256, 1 << 22);
	event_init(&ev, &a);
	if (sel & 0x80)
		mem_fail_after((sel >> 5) & 3);
	rc = d->decode(&ev, (const char *)data + 1, size - 1, &o, &e);
	mem_fail_after(-1);
	if (rc == 0 && !event_get(&ev, FIELD_EVENT_ORIGINAL))
		abort();
	if (rc < 0 && !e.msg[0])
		abort(); /* every failure says why */
	if (event_write_json(&ev, &out) == 0) {
		jsonin_init(&j, out.p, out.len, NULL, 0);
		if (jsonin_skip_value(&j) < 0 || jsonin_finish(&j, NULL) < 0)
			abort();
	}
	buf_release(&out);
	arena_release(&a);
	return 0;
}
