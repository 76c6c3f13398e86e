/*
 * fuzz_ticsv.c - libFuzzer target for the CSV reader of indicators (enrich/tiread).
 *
 * The first byte picks a column map (or none: header or column 1), the rest is the CSV.
 * Every indicator given to the sink is canonical, with a confidence of -1..100 and its
 * tags NUL-ended; every rejected line exists; allocation failures (on a quarter of the
 * inputs) are clean -ENOMEM errors.
 */
#include "enrich/tiread.h"
#include "core/err.h"
#include "core/mem.h"
#include "enrich/ti.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const maps[] = {
	NULL,
	"value=1,type=2,confidence=3,tags=4,description=5,first_seen=6,last_seen=7,expires=8,ref=9",
	"value=2,type=1",
	"value=3,tags=1,expires=2",
};

struct check {
	unsigned lines;
};

static int add(void *ctx, const struct ti_indicator *ind)
{
	char again[TI_VALUE_BUF];
	size_t len;

	if (ti_normalize(ind->type, ind->value, ind->len, again, &len, NULL) < 0 ||
	    len != ind->len || memcmp(again, ind->value, len) || ind->confidence < -1 ||
	    ind->confidence > 100)
		abort();
	for (size_t i = 0; i < ind->n_tags; i++)
		if (!ind->tags[i][0] || strlen(ind->tags[i]) > TI_VALUE_MAX * 1024)
			abort();
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
	struct ti_csv_columns cols;
	struct err e = ERR_INIT;
	const char *map;
	int rc;

	if (size < 1)
		return 0;
	map = maps[data[0] % 4];
	if (map && ti_csv_columns_parse(map, &cols, &e) < 0)
		abort();
	for (size_t i = 1; i < size; i++)
		c.lines += data[i] == '\n';
	if ((data[0] >> 2) % 4 == 0)
		mem_fail_after(data[0] >> 4);
	rc = ti_read_csv((const char *)data + 1, size - 1, map ? &cols : NULL, &sink, &e);
	mem_fail_after(-1);
	if (rc != 0 && rc != -ENOMEM)
		abort();
	return 0;
}
