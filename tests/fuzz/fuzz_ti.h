/*
 * fuzz_ti.h - the struct ti_sink the feed readers' fuzz targets (fuzz_stix, fuzz_misp,
 * fuzz_taxii) give their parser: it checks each indicator the way the store will read it
 * (a known type, the value's bytes readable, confidence -1..100, tags and strings
 * NUL-terminated) and aborts on anything else, so a reader that hands out a bad
 * indicator is a crash libFuzzer reports.
 */
#ifndef FUZZ_TI_H
#define FUZZ_TI_H

#include <stdlib.h>
#include <string.h>

#include "enrich/ti.h"

static volatile size_t fuzz_ti_bytes; /* keeps the reads of every byte from being optimised out */

static int fuzz_ti_add(void *ctx, const struct ti_indicator *ind)
{
	if (ind->type > TI_EMAIL || (ind->len && !ind->value) || ind->confidence < -1 ||
	    ind->confidence > 100 || (ind->n_tags && !ind->tags))
		abort();
	for (size_t i = 0; i < ind->len; i++)
		fuzz_ti_bytes += (unsigned char)ind->value[i];
	for (size_t i = 0; i < ind->n_tags; i++)
		fuzz_ti_bytes += strlen(ind->tags[i]);
	if (ind->description)
		fuzz_ti_bytes += strlen(ind->description);
	if (ind->ref)
		fuzz_ti_bytes += strlen(ind->ref);
	return 0;
}

static void fuzz_ti_reject(void *ctx, unsigned line, const char *reason)
{
	if (!reason || !*reason)
		abort();
	fuzz_ti_bytes += strlen(reason);
}

static const struct ti_sink fuzz_ti_sink = { fuzz_ti_add, fuzz_ti_reject, NULL };

#endif
