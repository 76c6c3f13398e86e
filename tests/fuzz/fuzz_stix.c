/*
 * fuzz_stix.c - libFuzzer target for the STIX 2.1 reader: the input as a bundle, and as
 * a bare pattern (the recursive-descent part). Any input is read or refused with a
 * message; every indicator handed out passes fuzz_ti.h's checks.
 */
#include "enrich/stix.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>

#include "fuzz_ti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct stix_stats st;
	struct stix_value *v;
	struct arena a;
	size_t n;
	int rc;

	rc = stix_bundle_read((const char *)data, size, &fuzz_ti_sink, &st, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	if (st.values + st.rejected + st.revoked > st.objects * STIX_PATTERN_VALUES_MAX)
		abort();
	err_clear(&e);
	arena_init(&a, 4096, 1 << 20);
	rc = stix_pattern_parse((const char *)data, size, &a, &v, &n, &e);
	if ((rc < 0 && !e.msg[0]) || (rc == 0 && n == 0))
		abort();
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (v[i].type > TI_EMAIL || (v[i].len && !v[i].s))
			abort();
	arena_release(&a);
	return 0;
}
