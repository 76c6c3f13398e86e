/*
 * fuzz_correl.h - what the two correlation fuzz targets share: an engine built from YAML
 * correlation documents with base rules a, b and c, and a few events fed through it.
 */
#ifndef FUZZ_CORREL_H
#define FUZZ_CORREL_H

#include "core/err.h"
#include "core/json.h"
#include "detect/correl.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

/* Field ids: any name resolves, to one of four slots (the events below have them all). */
static int fz_resolve(void *ctx, const char *name, struct err *e)
{
	return (int)(strlen(name) % 4);
}

static int fz_value(void *ctx, int field, const char **s, size_t *len)
{
	static const char *const v[] = { "alice", "10.0.0.1", "42", "" };
	const int *ev = ctx;

	if (field == 3 && *ev % 3 == 0)
		return 0; /* sometimes absent */
	*s = v[field];
	*len = strlen(*s);
	return 1;
}

static int fz_emit(void *ctx, const struct correl_result *r)
{
	/* touch what a caller prints */
	for (size_t i = 0; i < r->ngroup; i++)
		if (r->group_lens[i] && !r->group_values[i])
			abort();
	for (size_t i = 1; i < r->nrefs; i++)
		if (r->refs[i].time < r->refs[i - 1].time)
			abort();
	return 0;
}

/*
 * Whether text is valid UTF-8. libfyaml 0.7.12 (Debian 12) loops for ever on a directive
 * line holding an invalid byte ("%tit\x89"), so whoever reads rule files checks this first;
 * the target does the same.
 */
static bool fz_utf8(const char *text, size_t len)
{
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		n = json_utf8_len((const unsigned char *)text + i, len - i);
		if (!n)
			return false;
	}
	return true;
}

/* Parses one YAML document into r (NULL when it is not a valid correlation). */
static struct correl_rule *fz_parse(const char *text, size_t len)
{
	struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET };
	struct fy_document *doc;
	struct correl_rule *r = NULL;
	struct err e = ERR_INIT;

	if (!fz_utf8(text, len))
		return NULL;
	doc = fy_document_build_from_string(&cfg, text, len);
	if (!doc)
		return NULL;
	if (correl_rule_parse(doc, "fuzz.yml", &r, &e) < 0 && !e.msg[0])
		abort(); /* every failure says why */
	fy_document_destroy(doc);
	return r;
}

/* An engine of rules (taken), linked against base rules a, b, c; handles into in[3]. */
static struct correl_engine *fz_engine(struct correl_rule **rules, size_t n, int in[3])
{
	static const char *const bases[] = { "a", "b", "c" };
	struct correl_config cfg = { 60 * INT64_C(1000000000), 8, 32 };
	struct correl_engine *en;
	struct err e = ERR_INIT;
	bool silenced;

	if (correl_engine_new(&en, &cfg, &e) < 0)
		abort();
	for (size_t i = 0; i < n; i++)
		(void)correl_engine_add(en, rules[i], &e); /* a duplicate id is refused */
	for (int i = 0; i < 3; i++)
		in[i] = correl_engine_base(en, bases[i], NULL, fz_resolve, NULL, &silenced, &e);
	if (correl_engine_link(en, NULL, NULL) < 0)
		abort();
	return en;
}

/* Events of every base rule, in and out of order, one late. */
static void fz_feed(struct correl_engine *en, const int in[3])
{
	static const int64_t secs[] = { 0, 5, 3, 70, 200, 1, 201, 202, 400 };

	for (int i = 0; i < (int)(sizeof(secs) / sizeof(secs[0])); i++) {
		int ev = i;
		struct correl_event ce = { secs[i] * INT64_C(1000000000), (uint64_t)i, fz_value, &ev };

		if (in[i % 3] >= 0 && correl_feed(en, i % 2 ? "t1" : "t2", in[i % 3], &ce, fz_emit,
						  NULL) < 0)
			abort();
	}
}

#endif
