/*
 * explain.h - why a tenant's notification policy would (or would not) notify an incident:
 * `koban notify explain` and GET /api/v1/notify/explain (issue 11 part 1), and the JSON of
 * the stored policies and their history for the CLI and the API.
 *
 * explain_incident() reads the tenant's policy and the incident from koban.db (its level, its
 * detection rule, the tags of its alerts), counts the tenant's incidents of the same rule
 * within the matched policy rule's frequency window before the decision time, and plans the
 * notices with policy_plan(): which rule matched, which steps fire when (relative to the
 * decision time: --at, else the time the level was decided, else now) and the reasons, those
 * of the rules that did not match included.
 *
 * Memory: a struct explain lives in the caller's arena (strings and the plan); the policy it
 * planned with is kept in it and released by explain_release(). Threads: the caller's struct
 * meta's thread.
 */
#ifndef NOTIFY_EXPLAIN_H
#define NOTIFY_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify/policy.h"

struct arena;
struct buf;
struct err;
struct meta;
struct meta_notify_policy;
struct meta_notify_policy_change;

#define EXPLAIN_TAGS_MAX 64

struct explain {
	const char *tenant;
	int64_t incident;
	const char *title;
	int level;                  /* as stored; META_LEVEL_UNDECIDED planned as 0 */
	const char *rule;           /* the incident's detection rule id */
	const char **tags;          /* of its alerts, without duplicates */
	size_t n_tags;
	int64_t at_ns;              /* the decision time planned for */
	bool at_given;              /* --at, else decided_ns or now */
	uint64_t similar;           /* incidents of the rule within the window (this one too) */
	int64_t policy_version;
	struct policy *policy;      /* owned: explain_release() */
	struct policy_plan plan;
};

/*
 * Explains tenant's incident at at_ns (0: the time its level was decided, else now_ns).
 * -ENOENT: no such incident, or the tenant has no policy (the message says which).
 */
int explain_incident(struct meta *m, const char *tenant, int64_t incident, int64_t at_ns,
		     int64_t now_ns, struct arena *a, struct explain *out, struct err *e);
void explain_release(struct explain *x);
/* The explanation as one JSON object (docs/notify-policy.md). */
int explain_write_json(const struct explain *x, struct buf *out);
/* The explanation as lines a person reads. */
int explain_write_text(const struct explain *x, struct buf *out);
/* {"tenant","version","updated","actor","policy": {...}} of a stored policy. */
int explain_policy_json(const struct meta_notify_policy *p, struct buf *out);
/* {"version","at","actor","before","after"} of a change (before null for the first). */
int explain_change_json(const struct meta_notify_policy_change *c, struct buf *out);

#endif
