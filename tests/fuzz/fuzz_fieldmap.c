/*
 * fuzz_fieldmap.c - libFuzzer target for the field-map loader (detect/fieldmap).
 *
 * Any input either loads as a map or fails with a message and leaves the maps as they were;
 * it is loaded alone and after the bundled maps (so clashes of logsources and datasets are
 * exercised), then a few names are resolved and data sets looked up. Allocation failures
 * (the Nth, from the first byte) must be clean errors.
 */
#include "detect/fieldmap.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void use(struct fieldmap *m)
{
	static const char *const names[] = { "dst_ip", "ResultType", "properties.x", "a.b",
					     "source.ip", "panos.app", "x" };
	static const char *const ls[][3] = { { "firewall", NULL, NULL }, { NULL, "azure", "signinlogs" },
					     { "x", NULL, NULL }, { NULL, "x", "y" } };
	static const char *const datasets[] = { "panos.traffic", "x", "x.y", "a.b.c", "" };
	const char *c, *p, *s;

	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++)
		for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++) {
			struct err e = ERR_INIT;

			if (!fieldmap_resolve(m, ls[i][0], ls[i][1], ls[i][2], names[j], &e) &&
			    !e.msg[0])
				abort();
		}
	for (size_t i = 0; i < sizeof(datasets) / sizeof(datasets[0]); i++)
		if (fieldmap_logsource(m, datasets[i], strlen(datasets[i]), &c, &p, &s) &&
		    !c && !p && !s)
			abort();
}

/* Loads the input into m; a failure must say why and leave m's count as it was. */
static int load(struct fieldmap *m, const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	size_t before = fieldmap_count(m);
	int rc = fieldmap_load_mem(m, "fuzz.yml", (const char *)data, size, &e);

	if (rc < 0 && (!e.msg[0] || fieldmap_count(m) != before))
		abort();
	if (rc == 0 && fieldmap_count(m) != before + 1)
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fieldmap *m = NULL;
	struct err e = ERR_INIT;

	if (fieldmap_new(&m) < 0)
		abort();
	load(m, data, size);
	use(m);
	fieldmap_free(m);

	if (fieldmap_new(&m) < 0 || fieldmap_load_bundled(m, &e) < 0)
		abort();
	load(m, data, size);
	use(m);
	fieldmap_free(m);

	if (size) {
		int rc;

		mem_fail_after(data[0] % 32);
		rc = fieldmap_new(&m);
		if (rc == 0) {
			rc = fieldmap_load_mem(m, "fuzz.yml", (const char *)data, size, &e);
			fieldmap_free(m);
		}
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM && rc != -EINVAL && rc != -E2BIG)
			abort();
	}
	return 0;
}
