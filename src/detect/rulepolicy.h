/*
 * rulepolicy.h - detection rules per tenant: the tuning filter's checks and the JSON lines
 * of `koban rule policy|history --json` and GET /api/v1/rules/{policy,history}.
 *
 * The policy lives in koban.db (store/meta.h, meta_rule_*): per tenant and rule, enabled,
 * disabled or the global default, and an optional tuning filter, with a history of every
 * change. This module checks a tuning filter before it is stored and writes the rows as
 * JSON, so that the CLI and the API print the same lines. docs/detection.md, "Rule policy
 * per tenant", describes the commands and the filter.
 *
 * A tuning filter is the detection part of a Sigma filter (sigma-filters-specification):
 * a YAML mapping of search identifiers (each a map of fields or a list) and a `condition`
 * over them; the tenant's events for which the condition holds are left out of the rule's
 * matches, as if a Sigma filter document named the rule in its `rules:`. The check here is
 * its shape only (one YAML document, a mapping, a condition and at least one search
 * identifier); the detection stage compiles it with the Sigma loader.
 *
 * Memory: the writers append to the caller's buffer; nothing is kept. Thread safety: every
 * function may be called from any thread (the set below: read-only once loaded).
 */
#ifndef DETECT_RULEPOLICY_H
#define DETECT_RULEPOLICY_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct err;
struct meta_rule_history;
struct meta_rule_policy;

/*
 * Checks text[0..len) as a tuning filter; name (a file name) starts the messages:
 * "NAME:LINE: what was expected". 0 or -EINVAL (-ENOMEM) with e filled.
 */
int rulepolicy_filter_check(const char *name, const char *text, size_t len, struct err *e);

/*
 * One tenant's setting of a rule as one line of JSON, without the newline:
 * {"tenant": "T", "rule": "ID", "enabled": true|false|null, "filter": "YAML"|null,
 *  "changed": "RFC 3339", "by": "WHO"} (enabled null: the global default applies).
 */
int rulepolicy_write_policy(const struct meta_rule_policy *p, struct buf *out);

/*
 * One change as one line of JSON, without the newline: {"id": N, "tenant": "T", "rule":
 * "ID", "time": "RFC 3339", "by": "WHO", "action": "enable|disable|tune|untune", "reason":
 * "...", "before": {"enabled": ..., "filter": ...}, "after": {...}}.
 */
int rulepolicy_write_history(const struct meta_rule_history *h, struct buf *out);

/*
 * The policy of every tenant in memory, for the detection stage: loaded from koban.db at
 * start and on reload, then read-only, so any number of threads may look it up. The
 * detection stage compiles each entry's filter once (rulepolicy_set_each) with the Sigma
 * loader, as a filter naming the rule, and skips a disabled rule for the tenant.
 *
 * Memory: the set owns copies of every string; entries stay valid until
 * rulepolicy_set_free().
 */
struct meta;
struct rulepolicy_set;

#define RULEPOLICY_SET_MAX (1u << 20) /* settings of all tenants together */

struct rulepolicy_entry {
	const char *tenant;
	const char *rule;
	int enabled;            /* enum meta_rule_state (store/meta.h) */
	const char *filter;     /* NULL: not tuned; else the YAML text, NUL-terminated */
};

/* Every tenant's settings; -E2BIG past RULEPOLICY_SET_MAX, -ENOMEM, the store's errors. */
int rulepolicy_set_load(struct rulepolicy_set **s, struct meta *m, struct err *e);
void rulepolicy_set_free(struct rulepolicy_set *s);
/* The tenant's setting of rule, or NULL when it has none. */
const struct rulepolicy_entry *rulepolicy_set_get(const struct rulepolicy_set *s,
						  const char *tenant, const char *rule);
/*
 * Whether rule runs for tenant: on or off when the tenant says so, else default_on (the
 * configuration: false when detect.disable names the rule).
 */
bool rulepolicy_set_enabled(const struct rulepolicy_set *s, const char *tenant,
			    const char *rule, bool default_on);
/* Calls fn for every entry, ordered by tenant then rule; stops at fn's first error. */
int rulepolicy_set_each(const struct rulepolicy_set *s,
			int (*fn)(void *ctx, const struct rulepolicy_entry *en), void *ctx);
/* The number of entries. */
size_t rulepolicy_set_count(const struct rulepolicy_set *s);

#endif
