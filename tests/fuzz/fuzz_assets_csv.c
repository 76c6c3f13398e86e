/*
 * fuzz_assets_csv.c - libFuzzer target for the asset CSV reader (enrich/assets: koban's
 * layout, Nessus and OpenVAS exports).
 *
 * The first byte picks the format and a column map, the rest is the CSV, merged into an
 * empty inventory of tenant "t". Every asset it makes must be one the store accepts
 * (meta_asset_check on its row, software names and versions paired); every rejected record has
 * a line within the text and a reason; allocation failures (on a quarter of the inputs) are
 * clean -ENOMEM errors, and a file that names no column a clean -EINVAL.
 */
#include "enrich/assets.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "store/meta.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const maps[] = {
	NULL,
	"name=1,hostnames=2,addresses=3,owner=4,criticality=5,role=6,software=7,cves=8",
	"addresses=1,cves=2",
	"hostnames=2,name=1",
};

struct lines {
	unsigned max;
};

static void on_reject(void *ctx, unsigned line, const char *why)
{
	const struct lines *l = ctx;

	if (!why || !*why || line < 1 || line > l->max)
		abort();
}

/* Each asset as the store will check it. */
static void check_assets(struct assets *a)
{
	struct buf b[4] = { BUF_INIT(META_ASSET_JSON_MAX + 1), BUF_INIT(META_ASSET_JSON_MAX + 1),
			    BUF_INIT(META_ASSET_JSON_MAX + 1), BUF_INIT(META_ASSET_JSON_MAX + 1) };
	struct buf *lists[4] = { &b[0], &b[1], &b[2], &b[3] };
	struct meta_asset row;
	struct err e = ERR_INIT;

	for (size_t i = 0; i < assets_count(a); i++) {
		const struct assets_entry *en = assets_at(a, i);

		if (assets_entry_row(en, lists, &row) < 0)
			continue; /* lists past the store's JSON limit: assets_store refuses them */
		if (meta_asset_check(&row, &e) < 0 || en->software_names.n !=
		    en->software_versions.n) {
			fprintf(stderr, "asset '%s' refused by the store: %s\n", en->name, e.msg);
			abort();
		}
	}
	for (int i = 0; i < 4; i++)
		buf_release(&b[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assets_import_stats st = { 0 };
	struct lines l = { 1 };
	struct assets_columns cols;
	struct assets *a = NULL;
	struct err e = ERR_INIT;
	enum assets_format f;
	const char *map;
	int rc;

	if (size < 1)
		return 0;
	f = (enum assets_format)(data[0] % 4);
	map = f == ASSETS_CSV ? maps[(data[0] >> 2) % 4] : NULL;
	if (map && assets_columns_parse(map, &cols, &e) < 0)
		abort();
	for (size_t i = 1; i < size; i++)
		l.max += data[i] == '\n';
	if (assets_new(&a, &e) < 0)
		abort();
	if ((data[0] >> 4) % 4 == 0)
		mem_fail_after(data[0] >> 6);
	rc = assets_merge_csv(a, "t", (const char *)data + 1, size - 1, f, map ? &cols : NULL,
			      on_reject, &l, &st, &e);
	mem_fail_after(-1);
	if (rc != 0 && rc != -ENOMEM && rc != -EINVAL)
		abort();
	if (rc == 0)
		check_assets(a);
	assets_free(a);
	return 0;
}
