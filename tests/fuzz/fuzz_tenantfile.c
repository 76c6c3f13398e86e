/*
 * fuzz_tenantfile.c - libFuzzer target for the file of `koban tenant import` (YAML or JSON
 * from a repository an operator may not fully control).
 *
 * Parsing must either fail with a message or succeed with every name and value passing the
 * metadata store's own checks, no tenant named twice and no source named twice in one tenant
 * (source names are scoped per tenant).
 */
#include "store/tenantfile.h"
#include "core/err.h"
#include "store/meta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tenantfile *tf = NULL;
	struct err e = ERR_INIT;

	if (tenantfile_parse(&tf, "fuzz.yaml", (const char *)data, size, &e) < 0) {
		if (!e.msg[0])
			abort(); /* a failure always says why */
		return 0;
	}
	for (size_t i = 0; i < tf->n_tenants; i++)
		if (meta_tenant_check(tf->tenants[i].name, &e) < 0)
			abort();
	for (size_t i = 0; i < tf->n_sources; i++) {
		if (meta_source_check(&tf->sources[i].s, &e) < 0)
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcmp(tf->sources[i].s.name, tf->sources[j].s.name) &&
			    !strcmp(tf->sources[i].s.tenant, tf->sources[j].s.tenant))
				abort();
	}
	tenantfile_free(tf);
	return 0;
}
