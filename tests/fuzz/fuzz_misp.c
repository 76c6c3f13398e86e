/*
 * fuzz_misp.c - libFuzzer target for the MISP feed reader: the input as an event (with
 * and without to_ids false attributes) and as a manifest. Any input is read or refused
 * with a message; indicators pass fuzz_ti.h's checks, manifest uuids are canonical.
 */
#include "enrich/misp.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int each(void *ctx, const struct misp_manifest_entry *m)
{
	if (strlen(m->uuid) != 36 || m->timestamp < 0 || !m->info || m->threat_level < 0 ||
	    m->threat_level > 4)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct misp_options all = { .include_non_ids = true };
	struct misp_stats st;
	struct err e = ERR_INIT;
	int rc;

	rc = misp_event_read((const char *)data, size, NULL, &fuzz_ti_sink, &st, &e);
	if ((rc < 0 && !e.msg[0]) || st.values > 2 * st.attributes)
		abort();
	err_clear(&e);
	rc = misp_event_read((const char *)data, size, &all, &fuzz_ti_sink, &st, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	err_clear(&e);
	rc = misp_manifest_read((const char *)data, size, each, NULL, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	return 0;
}
