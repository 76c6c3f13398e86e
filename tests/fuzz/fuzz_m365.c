/*
 * fuzz_m365.c - libFuzzer target for the m365 decoder (Defender XDR records).
 *
 * The first input byte picks how the rest is decoded: bit 0 through the decoder's split()
 * (parse/jsonrec) with each record decoded as the pipeline does, else decode() of the
 * whole; bits 1-3 shrink the event's arena so that its exhaustion is reached half-way.
 * Invariants: a failure comes with a message and keeps event.original; a success has
 * event.module, event.dataset and event.kind; every event serializes to JSON that the
 * strict reader (core/jsonin) accepts.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/jsonin.h"
#include "parse/jsonrec.h"
#include "parse/m365.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	size_t arena_max;
	unsigned records;
};

static void check_json(const char *p, size_t len)
{
	struct jsonin j;

	jsonin_init(&j, p, len, NULL, 0);
	if (jsonin_skip_value(&j) < 0 || jsonin_finish(&j, NULL) < 0)
		abort();
}

static int decode_one(void *ctx, const char *rec, size_t len)
{
	struct run *r = ctx;
	struct decode_opts o = { NULL, INT64_C(1773543600000000000), 0, 0, NULL };
	struct buf out = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;
	int rc;

	r->records++;
	arena_init(&a, 256, r->arena_max);
	event_init(&ev, &a);
	rc = m365_decode(&ev, rec, len, &o, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	if (rc < 0 && rc != -ENOMEM && rc != -ENOSPC && !event_get(&ev, FIELD_EVENT_ORIGINAL))
		abort();
	if (rc == 0 && (!event_get(&ev, FIELD_EVENT_MODULE) || !event_get(&ev, FIELD_EVENT_DATASET) ||
			!event_get(&ev, FIELD_EVENT_KIND)))
		abort();
	if (event_write_json(&ev, &out) == 0)
		check_json(out.p, out.len);
	buf_release(&out);
	arena_release(&a);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { 0 };
	struct err e = ERR_INIT;
	const char *msg = (const char *)data + 1;
	uint8_t sel;

	if (size == 0)
		return 0;
	sel = data[0];
	size--;
	r.arena_max = (sel >> 1) & 7 ? (size_t)256 << ((sel >> 1) & 7) : 64u << 20;
	if (!(sel & 1) || jsonrec_split(msg, size, decode_one, &r, &e) < 0)
		decode_one(&r, msg, size);
	return 0;
}
