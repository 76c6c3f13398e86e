/*
 * fuzz_azure.c - libFuzzer target for the Azure Monitor decoder and its container split
 * (parse/azure, parse/jsonrec).
 *
 * The first input byte picks: bit 0, split the message first (jsonrec_split, as the pipeline
 * does) or decode it whole; bit 7, an allocation failure (the Nth from bits 5-6). Every
 * record handed out by the split must lie within the message; every decoded event, failed
 * or not, must keep event.original and write as JSON that the strict reader accepts whole.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "parse/azure.h"
#include "parse/decoder.h"
#include "parse/jsonrec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	const char *msg;
	size_t len;
	struct arena a;
};

static int one(void *p, const char *rec, size_t len)
{
	struct ctx *c = p;
	struct decode_opts o = { .received_ns = INT64_C(1773543600000000000) };
	struct buf out = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	struct event ev;
	struct jsonin j;

	if (rec < c->msg || rec + len > c->msg + c->len)
		abort();
	arena_clear(&c->a);
	event_init(&ev, &c->a);
	(void)azure_decode(&ev, rec, len, &o, &e); /* either result is fine */
	if (ev.n && !event_get(&ev, FIELD_EVENT_ORIGINAL))
		abort();
	if (event_write_json(&ev, &out) == 0) {
		jsonin_init(&j, out.p, out.len, NULL, 0);
		if (jsonin_skip_value(&j) < 0 || jsonin_finish(&j, NULL) < 0)
			abort();
	}
	buf_release(&out);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c;
	struct err e = ERR_INIT;
	uint8_t sel;

	if (size == 0)
		return 0;
	sel = data[0];
	c.msg = (const char *)data + 1;
	c.len = size - 1;
	arena_init(&c.a, 4096, 1 << 24);
	if (sel & 0x80)
		mem_fail_after((sel >> 5) & 3);
	if (!(sel & 1) || jsonrec_split(c.msg, c.len, one, &c, &e) < 0)
		one(&c, c.msg, c.len);
	mem_fail_after(-1);
	arena_release(&c.a);
	return 0;
}
