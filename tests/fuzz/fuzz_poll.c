/*
 * fuzz_poll.c - libFuzzer target for what the pollers read from the network: a Graph page,
 * a Log Analytics query result, a token reply and an error body (poll_parse, poll.h).
 *
 * The first input byte picks the reader (even: Graph, odd: Log Analytics) and, with its top
 * bit, an allocation failure; the rest is the response body. Every record delivered must be
 * strict JSON (the strict reader, core/jsonin.h), a Log Analytics record an object, and
 * there must be as many as poll_parse counted.
 */
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "ingest/poll.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One record of the sequence: strict JSON, an object for Log Analytics. */
static void check_record(const char *p, size_t n, int type)
{
	struct jsonin j;

	jsonin_init(&j, p, n, NULL, 0);
	if (jsonin_skip_value(&j) < 0 || jsonin_finish(&j, NULL) < 0)
		abort(); /* not strict JSON */
	if (type == POLLER_LOGANALYTICS && p[0] != '{')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(64u << 20);
	struct err e = ERR_INIT;
	size_t records = 0, seen = 0;
	int partial = 0, type, rc;

	if (size < 1)
		return 0;
	type = data[0] & 1 ? POLLER_LOGANALYTICS : POLLER_GRAPH;
	if (data[0] & 0x80)
		mem_fail_after(data[0] & 0x3f);
	rc = poll_parse(type, (const char *)data + 1, size - 1, &out, &records, &partial, &e);
	mem_fail_after(-1);
	for (size_t i = 0; i < out.len;) {
		const char *end;

		if (out.p[i] != 0x1e)
			abort();
		end = memchr(out.p + i + 1, 0x1e, out.len - i - 1);
		end = end ? end : out.p + out.len;
		if (end[-1] != '\n' || end - 1 == out.p + i + 1)
			abort(); /* a record ends in LF and is not empty */
		check_record(out.p + i + 1, (size_t)(end - 1 - (out.p + i + 1)), type);
		seen++;
		i = (size_t)(end - out.p);
	}
	if (rc == 0 && seen != records)
		abort();
	buf_release(&out);
	return 0;
}
