/*
 * fuzz_pipeline.c - libFuzzer target for the whole worker chain: decoder registry
 * (every format id, "auto" sniffing), ECS normalization, JSON output.
 *
 * The first input byte picks the format id, the truncated flag and a tenant slot; the
 * rest is the message. Every message must give exactly one well-formed JSON line that
 * carries ecs.version and event.kind.
 */
#include "core/buf.h"
#include "core/err.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 65536

static struct buf out = BUF_INIT(1 << 24);

static int capture(void *ctx, unsigned slot, struct buf *lines)
{
	return buf_add(&out, lines->p, lines->len);
}

static const char *tenant_name(void *ctx, unsigned slot)
{
	return slot & 1 ? "tenant-a" : NULL;
}

static struct pipeline *pipeline(void)
{
	static struct pipeline *p;
	struct pipeline_config pc = {
		.workers = 1,
		.max_message_size = MAX_MESSAGE,
		.flush_bytes = 1 << 16,
		.clock_skew_max_ns = 7200 * NS_PER_SEC,
		.fixed_now_ns = INT64_C(1773543601000000000),
		.tenant_name = tenant_name,
		.output = { capture, NULL, NULL },
	};
	struct err e = ERR_INIT;

	if (!p && pipeline_new(&p, &pc, &e) < 0)
		abort();
	return p;
}

/* Balanced brackets outside strings, no raw control bytes inside them. */
static int json_well_formed(const char *s, size_t n)
{
	int depth = 0, in_str = 0;

	if (n < 2 || s[0] != '{' || s[n - 1] != '}')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (in_str) {
			if (c < 0x20)
				return 0;
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth < 0)
				return 0;
		}
	}
	return depth == 0 && !in_str;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_counts c = { 0 };
	struct pipeline *p = pipeline();
	struct msg *m;
	uint8_t sel;
	int rc;

	if (size == 0 || size - 1 > MAX_MESSAGE)
		return 0;
	sel = data[0];
	m = msg_new(data + 1, (uint32_t)(size - 1));
	if (!m)
		abort();
	m->format = (uint8_t)(sel % (decoder_count() + 1)); /* one unknown id too */
	m->truncated = (sel >> 4) & 1;
	m->tenant = (uint16_t)(sel >> 5);
	m->received_ns = INT64_C(1773543600000000000);
	m->peer_port = sel & 0x40 ? 514 : 0;
	buf_reset(&out);
	rc = pipeline_event(p, 0, m, &c, NULL);
	pipeline_flush(p, 0, &c);
	msg_free(m);
	if (rc == -ENOSPC)
		return 0;
	if (c.parsed + c.failed != 1 || out.len < 2 || out.p[out.len - 1] != '\n' ||
	    memchr(out.p, '\n', out.len - 1) || !json_well_formed(out.p, out.len - 1) ||
	    !memmem(out.p, out.len, "\"ecs\":{\"version\":", 17) ||
	    !memmem(out.p, out.len, "\"kind\":\"", 8))
		abort();
	return 0;
}
