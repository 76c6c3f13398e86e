/*
 * tenantfile.h - the tenants-and-sources file of `koban tenant import`, read and checked.
 *
 * The file is YAML or JSON (libyaml reads both): a mapping with the key `tenants`, a list of
 * tenants, each a mapping with `name` and an optional list `sources`, each source a mapping
 * with `name` and any of `cidr`, `host`, `listener`, `format`, `tz` (as `koban tenant export`
 * writes them). Every name and value is checked as the metadata store checks it
 * (meta_source_check, meta_tenant_check) and duplicates are refused (a tenant named
 * twice, a source named twice in one tenant; two tenants may each have a source of one
 * name), so a file that loads can be applied; errors name FILE:LINE.
 *
 * Ownership: struct tenantfile owns every string it hands out (they point into its parsed
 * document) until tenantfile_free(). Limits: TENANTFILE_MAX_BYTES of input, at most
 * TENANTFILE_MAX_TENANTS tenants and TENANTFILE_MAX_SOURCES sources.
 *
 * Any thread; a struct tenantfile is used by one thread.
 */
#ifndef STORE_TENANTFILE_H
#define STORE_TENANTFILE_H

#include <stddef.h>

#include "store/meta.h"

struct err;

#define TENANTFILE_MAX_BYTES (16u << 20)
#define TENANTFILE_MAX_TENANTS 4096
#define TENANTFILE_MAX_SOURCES 65536

struct tenantfile_tenant {
	const char *name;
	int line;
};

struct tenantfile_source {
	struct meta_source s; /* id and created_ns 0; format "auto" when not given */
	int line;
};

struct tenantfile {
	struct tenantfile_tenant *tenants;
	size_t n_tenants;
	struct tenantfile_source *sources; /* in file order; s.tenant names its tenant */
	size_t n_sources;
	struct tenantfile_doc *doc;        /* the parsed document the strings live in */
};

/* Parses data[0..len); name is used in messages ("tenants.yaml"). */
int tenantfile_parse(struct tenantfile **tf, const char *name, const char *data, size_t len,
		     struct err *e);
/* Reads and parses the regular file at path. */
int tenantfile_load(struct tenantfile **tf, const char *path, struct err *e);
void tenantfile_free(struct tenantfile *tf);

#endif
