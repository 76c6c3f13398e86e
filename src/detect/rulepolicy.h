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
 * function may be called from any thread (no shared state).
 */
#ifndef DETECT_RULEPOLICY_H
#define DETECT_RULEPOLICY_H

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

#endif
