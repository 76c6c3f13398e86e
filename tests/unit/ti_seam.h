/*
 * ti_seam.h - a struct ti_sink for the feed readers' unit tests (test_stix, test_misp,
 * test_taxii): it writes each indicator the reader gives as one line of text, so that a
 * test compares what a document yields with CHECK_STR, and each reject as "N: reason".
 *
 * Indicator lines: "TYPE value" then, only when set, " conf=N", " first=NS", " last=NS",
 * " expires=NS", " tags=a,b", " desc=TEXT", " ref=ID".
 */
#ifndef TESTS_TI_SEAM_H
#define TESTS_TI_SEAM_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "enrich/ti.h"

#define TI_SEAM_MAX 64

struct ti_seam {
	char got[TI_SEAM_MAX][512];
	size_t n;
	char rejects[TI_SEAM_MAX][600];
	size_t n_rejects;
	size_t stop_after; /* add() fails with -ECANCELED once this many were taken (0: never) */
	struct ti_sink sink;
};

static const char *ti_seam_type(enum ti_type t)
{
	static const char *const names[] = { "ip", "domain", "url", "md5", "sha1", "sha256",
					     "email" };

	return names[t];
}

static int ti_seam_add(void *ctx, const struct ti_indicator *ind)
{
	struct ti_seam *s = ctx;
	char *o;
	size_t room, k;

	if (s->stop_after && s->n == s->stop_after)
		return -ECANCELED;
	if (s->n == TI_SEAM_MAX)
		return -ENOSPC;
	o = s->got[s->n++];
	room = sizeof(s->got[0]);
	k = (size_t)snprintf(o, room, "%s %.*s", ti_seam_type(ind->type), (int)ind->len,
			     ind->value);
#define MORE(...) if (k < room) k += (size_t)snprintf(o + k, room - k, __VA_ARGS__)
	if (ind->confidence >= 0)
		MORE(" conf=%d", ind->confidence);
	if (ind->first_seen_ns)
		MORE(" first=%" PRId64, ind->first_seen_ns);
	if (ind->last_seen_ns)
		MORE(" last=%" PRId64, ind->last_seen_ns);
	if (ind->expires_ns)
		MORE(" expires=%" PRId64, ind->expires_ns);
	for (size_t i = 0; i < ind->n_tags; i++)
		MORE("%s%s", i ? "," : " tags=", ind->tags[i]);
	if (ind->description)
		MORE(" desc=%s", ind->description);
	if (ind->ref)
		MORE(" ref=%s", ind->ref);
#undef MORE
	return 0;
}

static void ti_seam_reject(void *ctx, unsigned line, const char *reason)
{
	struct ti_seam *s = ctx;

	if (s->n_rejects < TI_SEAM_MAX)
		snprintf(s->rejects[s->n_rejects++], sizeof(s->rejects[0]), "%u: %s", line, reason);
}

static inline void ti_seam_init(struct ti_seam *s)
{
	memset(s, 0, sizeof(*s));
	s->sink = (struct ti_sink){ ti_seam_add, ti_seam_reject, s };
}

#endif
