/*
 * fuzz_tilist.c - libFuzzer target for the plain-list reader of indicators (enrich/tiread).
 *
 * Any input is read to its end; every indicator given to the sink is in canonical form
 * (normalising it again gives the same bytes) and every rejected line exists in the input.
 */
#include "enrich/tiread.h"
#include "core/err.h"
#include "enrich/ti.h"

#include "fuzz_ti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ti_lines c;
	struct ti_sink sink = { fuzz_ti_canonical_add, fuzz_ti_line_reject, &c };
	struct err e = ERR_INIT;

	fuzz_ti_count_lines(&c, data, size);
	if (ti_read_list((const char *)data, size, &sink, &e) != 0)
		abort(); /* the sink never stops it */
	return 0;
}
