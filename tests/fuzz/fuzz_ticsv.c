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

#include "fuzz_ti.h"

static const char *const maps[] = {
	NULL,
	"value=1,type=2,confidence=3,tags=4,description=5,first_seen=6,last_seen=7,expires=8,ref=9",
	"value=2,type=1",
	"value=3,tags=1,expires=2",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ti_lines c;
	struct ti_sink sink = { fuzz_ti_canonical_add, fuzz_ti_line_reject, &c };
	struct ti_csv_columns cols;
	struct err e = ERR_INIT;
	const char *map;
	int rc;

	if (size < 1)
		return 0;
	map = maps[data[0] % 4];
	if (map && ti_csv_columns_parse(map, &cols, &e) < 0)
		abort();
	fuzz_ti_count_lines(&c, data + 1, size - 1);
	if ((data[0] >> 2) % 4 == 0)
		mem_fail_after(data[0] >> 4);
	rc = ti_read_csv((const char *)data + 1, size - 1, map ? &cols : NULL, &sink, &e);
	mem_fail_after(-1);
	if (rc != 0 && rc != -ENOMEM)
		abort();
	return 0;
}
