/*
 * fuzz_ti.h - the struct ti_sink the indicator readers' fuzz targets (fuzz_stix, fuzz_misp,
 * fuzz_taxii; fuzz_tilist and fuzz_ticsv with the stricter line sink below) give their parser: it checks each indicator the way the store will read it
 * (a known type, the value's bytes readable, confidence -1..100, tags and strings
 * NUL-terminated) and aborts on anything else, so a reader that hands out a bad
 * indicator is a crash libFuzzer reports.
 */
#ifndef FUZZ_TI_H
#define FUZZ_TI_H

#include <stdint.h>
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

/*
 * The line readers' sink (fuzz_tilist, fuzz_ticsv): each indicator is also in canonical form
 * (normalising it again gives the same bytes) without empty tags, and each rejected line
 * exists in the input
 * (ctx: a struct fuzz_ti_lines counting the input's lines).
 */
struct fuzz_ti_lines {
	unsigned lines;
};

static void fuzz_ti_count_lines(struct fuzz_ti_lines *c, const uint8_t *p, size_t len)
{
	c->lines = 1;
	for (size_t i = 0; i < len; i++)
		c->lines += p[i] == '\n';
}

static int fuzz_ti_canonical_add(void *ctx, const struct ti_indicator *ind)
{
	char again[TI_VALUE_BUF];
	size_t len;

	if (fuzz_ti_add(ctx, ind) < 0 ||
	    ti_normalize(ind->type, ind->value, ind->len, again, &len, NULL) < 0 ||
	    len != ind->len || memcmp(again, ind->value, len))
		abort(); /* not canonical */
	for (size_t i = 0; i < ind->n_tags; i++)
		if (!ind->tags[i][0])
			abort(); /* an empty tag */
	return 0;
}

static void fuzz_ti_line_reject(void *ctx, unsigned line, const char *reason)
{
	const struct fuzz_ti_lines *c = ctx;

	if (line == 0 || line > c->lines)
		abort();
	fuzz_ti_reject(ctx, line, reason);
}

#endif
