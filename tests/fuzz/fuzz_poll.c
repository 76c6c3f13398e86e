/*
 * fuzz_poll.c - libFuzzer target for what the pollers read from the network: a Graph page,
 * a Log Analytics query result, a token reply and an error body (poll_parse, poll.h).
 *
 * The first input byte picks the reader (even: Graph, odd: Log Analytics) and, with its top
 * bit, an allocation failure; the rest is the response body. Every record delivered must
 * be non-empty and, for Log Analytics, a JSON object.
 */
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "ingest/poll.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(64u << 20);
	struct err e = ERR_INIT;
	size_t records = 0;
	int partial = 0, type;

	if (size < 1)
		return 0;
	type = data[0] & 1 ? POLLER_LOGANALYTICS : POLLER_GRAPH;
	if (data[0] & 0x80)
		mem_fail_after(data[0] & 0x3f);
	(void)poll_parse(type, (const char *)data + 1, size - 1, &out, &records, &partial, &e);
	mem_fail_after(-1);
	for (size_t i = 0, start = 0; i < out.len; i++) {
		if (out.p[i] != '\n')
			continue;
		if (i == start)
			abort(); /* an empty record */
		if (type == POLLER_LOGANALYTICS && (out.p[start] != '{' || out.p[i - 1] != '}'))
			abort();
		start = i + 1;
	}
	buf_release(&out);
	return 0;
}
