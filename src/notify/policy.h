/*
 * policy.h - a tenant's notification policy (issue 11 part 1): which incidents are notified,
 * to whom, over which channels, when, and how the chain escalates while nobody acknowledges.
 *
 * A policy is one JSON document per tenant (docs/notify-policy.md), stored in koban.db
 * (store/meta.h, "Notify policy") and edited with `koban notify policy` or the API. It holds
 * ordered rules; the first rule whose match holds decides. A rule matches on the detection
 * rule ids or tags of the incident, its level (min_level..max_level), the kind of day in
 * Japan (business, weekend, holiday, year_end, closure: notify/calendar.h) and the hours of
 * the day in Asia/Tokyo ("HH:MM-HH:MM", possibly crossing midnight). Maintenance windows
 * hold a rule's notices; a frequency (count within window) turns a burst of incidents of the
 * same detection rule into one aggregated notice, or escalates it (planned again at a higher
 * level). Steps name a channel, recipients (addresses, numbers or "rotation:NAME", an on-call
 * rotation resolved at the incident's time), a template, a language, whether an
 * acknowledgement is required, and how long to wait unacknowledged after the previous step.
 *
 * policy_parse() reads untrusted text (the API's body): strict JSON (core/jsonin.h), unknown
 * keys refused, every value checked; errors name the JSON path and what was expected:
 *   rules[2].steps[0].after: expected a duration like "5m" (found "5 minutes")
 * policy_plan() is pure: the same policy and facts give the same plan, and it says why in
 * sentences a person can read.
 *
 * Memory: a struct policy owns everything it points to (one arena), freed by policy_free().
 * A plan lives in the caller's arena, except rule_name and step strings, which point into the
 * policy: the plan is valid while both live.
 *
 * Threads: a parsed policy is read-only: policy_plan() may run on any thread at once.
 */
#ifndef NOTIFY_POLICY_H
#define NOTIFY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct err;
struct policy;

#define POLICY_TEXT_MAX (256 * 1024) /* bytes of a policy document */
#define POLICY_RULES_MAX 128
#define POLICY_STEPS_MAX 16          /* of one rule */
#define POLICY_TO_MAX 32             /* recipients of one step */
#define POLICY_LIST_MAX 256          /* rule ids, tags, closures, windows, holidays, people */
#define POLICY_STRING_MAX 256        /* bytes of one string value */

struct policy_facts {
	int level;                /* 0..3 */
	const char *rule;         /* the detection rule id of the incident, or NULL */
	const char *const *tags;  /* its detection rule tags */
	size_t n_tags;
	int64_t at_ns;            /* the decision time */
	uint64_t similar;         /* incidents of the same rule within the rule's window (this one
				     included): call once with 0 to learn window_ns, then count */
};

struct policy_step {
	const char *channel;
	const char *const *to;    /* recipients, rotations resolved */
	size_t n_to;
	const char *template;
	const char *lang;         /* "ja" or "en" */
	bool ack;                 /* an acknowledgement is required */
	int64_t after_ns;         /* wait after the previous step, unacknowledged */
};

struct policy_plan {
	const char *rule_name;    /* the matched rule, or NULL */
	bool matched, held /* maintenance window */,
		aggregate /* frequency reached: one aggregated notice */;
	int64_t window_ns;        /* the matched rule's frequency window, 0: none */
	int64_t held_until_ns;    /* held: the maintenance window's end (the steps are due from
				     then), else 0 */
	struct policy_step *steps;
	size_t n_steps;
	const char **reasons;     /* sentences, in order: every rule's verdict, then the plan's */
	size_t n_reasons;
};

/* Parses text[0..len); name (a file or "policy of TENANT", may be "") starts messages. */
int policy_parse(struct policy **out, const char *name, const char *text, size_t len, struct err *e);
void policy_free(struct policy *p);
/* Plans the notices of the incident f under p into out (memory from a). -ENOMEM, -EINVAL (f). */
int policy_plan(const struct policy *p, const struct policy_facts *f, struct arena *a,
		struct policy_plan *out, struct err *e);
/* Parses a duration "30s", "5m", "2h", "1d", "1h30m" (at most 30 days) into ns; -EINVAL. */
int policy_duration(const char *s, size_t len, int64_t *ns);
/* The number of rules of p (for messages). */
size_t policy_rules(const struct policy *p);

#endif
