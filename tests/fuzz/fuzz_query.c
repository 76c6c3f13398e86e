/*
 * fuzz_query.c - libFuzzer target for the query parser.
 *
 * Any input either fails with a message or parses; a parsed query's canonical form must
 * parse again to the same canonical form (the formatter and the parser agree), and
 * allocation failures (the Nth, from the first byte) must be clean errors.
 */
#include "store/query.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf once = BUF_INIT(1 << 22), twice = BUF_INIT(1 << 22);
	struct err e = ERR_INIT;
	struct arena a;
	struct query q;
	int rc;

	arena_init(&a, 4096, 16 << 20);
	rc = query_parse(&q, (const char *)data, size, &a, &e);
	if (rc < 0) {
		if (!e.msg[0])
			abort();
		goto done;
	}
	if (query_format(&q, &once) < 0)
		abort();
	arena_clear(&a);
	if (query_parse(&q, once.p, once.len, &a, &e) < 0 || query_format(&q, &twice) < 0 ||
	    strcmp(once.p, twice.p))
		abort();
	if (size) {
		arena_clear(&a);
		mem_fail_after(data[0] % 16);
		rc = query_parse(&q, (const char *)data, size, &a, &e);
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM)
			abort();
	}
done:
	buf_release(&once);
	buf_release(&twice);
	arena_release(&a);
	return 0;
}
