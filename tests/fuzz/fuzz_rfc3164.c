/*
 * fuzz_rfc3164.c - libFuzzer target for the RFC 3164 decoder (format forced).
 *
 * The first input byte picks the zone, the receive time and, with its top bit, an
 * allocation failure; the rest is the message. Every result must keep event.original
 * and serialize to well-formed JSON. fuzz_rfc5424.c reuses this file with
 * FUZZ_SYSLOG_FORMAT set to SYSLOG_RFC5424.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/syslog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_SYSLOG_FORMAT
#define FUZZ_SYSLOG_FORMAT SYSLOG_RFC3164
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = { NULL, "UTC", "America/New_York", "Australia/Sydney" };

static const int64_t receive_times[] = {
	INT64_C(1773543600000000000), /* 2026-03-15T03:00:00Z */
	INT64_C(1767225600000000000), /* 2026-01-01T00:00:00Z: year rollover */
	INT64_C(1767225599999999999), /* just before */
	INT64_C(1709251200000000000), /* 2024-03-01, after a Feb 29 */
	0,
	INT64_C(-1),
	INT64_C(4102444800000000000), /* 2100-01-01 */
	INT64_C(1700000000000000000),
};

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
	struct syslog_opts o = { FUZZ_SYSLOG_FORMAT, NULL, 0, 0, 0 };
	struct buf out = BUF_INIT(1 << 22);
	struct arena a;
	struct event ev;
	const char *zone, *host;
	size_t hlen;
	uint8_t sel;
	int rc;

	if (size == 0)
		return 0;
	sel = data[0];
	zone = zones[sel & 3];
	o.tz = zone ? tz_get(zone, strlen(zone), NULL) : NULL;
	o.received_ns = receive_times[(sel >> 2) & 7];
	arena_init(&a, 256, 1 << 22);
	event_init(&ev, &a);
	if (sel & 0x80)
		mem_fail_after((sel >> 5) & 3);
	rc = syslog_parse(&ev, (const char *)data + 1, size - 1, &o, NULL);
	mem_fail_after(-1);
	if (rc == 0 && !event_get(&ev, FIELD_EVENT_ORIGINAL))
		abort();
	if (event_write_json(&ev, &out) == 0 && !json_well_formed(out.p, out.len))
		abort();
	syslog_peek_host((const char *)data + 1, size - 1, &host, &hlen);
	buf_release(&out);
	arena_release(&a);
	return 0;
}
