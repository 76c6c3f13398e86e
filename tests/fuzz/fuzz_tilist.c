/*
 * fuzz_tilist.c - libFuzzer target for the plain-list reader of indicators (enrich/tiread).
 *
 * Any input is read to its end; every indicator given to the sink is in canonical form
 * (normalising it again gives the same bytes) and every rejected line exists in the input.
 */
#include "enrich/tiread.h"
#include "core/err.h"
#include "enrich/ti.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct check {
	unsigned lines;
};

static int add(void *ctx, const struct ti_indicator *ind)
{
	char again[TI_VALUE_BUF];
	size_t len;

	if (ti_normalize(ind->type, ind->value, ind->len, again, &len, NULL) < 0 ||
	    len != ind->len || memcmp(again, ind->value, len))
		abort(); /* not canonical */
	return 0;
}

static void reject(void *ctx, unsigned line, const char *reason)
{
	const struct check *c = ctx;

	if (line == 0 || line > c->lines || !reason[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct check c = { 1 };
	struct ti_sink sink = { add, reject, &c };
	struct err e = ERR_INIT;

	for (size_t i = 0; i < size; i++)
		c.lines += data[i] == '\n';
	if (ti_read_list((const char *)data, size, &sink, &e) != 0)
		abort(); /* the sink never stops it */
	return 0;
}
