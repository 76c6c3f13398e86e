/*
 * triage.h - deciding an incident's level (0..3) from evidence, not from the signature's
 * severity alone: a set of YAML triage rules (docs/triage.md; bundled in rules/triage,
 * `soc.triage.rules`) is evaluated against an incident's alerts, their events, the tenant's
 * store (events before/after the alerts, found with the store query language, placeholders
 * such as {source.ip} filled from the alerts' events), the tenant's asset inventory and
 * other tenants' alerts (koban.db).
 *
 * Each rule that fires yields one evidence object (the pinned JSON form: rule, effect,
 * level, sentence, at, events) and an effect on the level: "min N" (at least N), "raise N"
 * (N more), "set N" (exactly N, the strongest), "cap N" (at most N) or "note" (no change).
 * The base level comes from the alerts' rule levels through the rule set's base table; the
 * effects then apply in a fixed order documented in docs/triage.md.
 *
 * triage_evaluate() reads the incident's tenant (input.incident may be NULL: then the
 * alerts' tenant; every alert must be of that tenant). It opens data_dir's koban.db on its
 * first need (assets, other tenants' alerts) and keeps it until triage_free().
 *
 * Memory: struct triage owns the loaded rules (triage_new .. triage_free). A verdict's
 * strings live in the caller's arena. The input is only read during the call.
 *
 * Threads: triage_new() and triage_free() from one thread; triage_evaluate() from one
 * caller at a time per struct triage (the SOC thread); distinct struct triage are
 * independent.
 */
#ifndef SOC_TRIAGE_H
#define SOC_TRIAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alert; struct arena; struct err; struct meta; struct meta_alert; struct meta_incident; struct store;

struct triage_config {
	const char *rules_dir;      /* YAML rules; NULL: the bundled rules/triage (soc.triage.rules) */
	const char *data_dir;       /* koban.db (assets, other tenants' alerts) */
	struct store *store;        /* evidence searches; NULL: only the alerts' own events */
	int64_t window_ns;          /* default evidence window around the alerts; 0: 24 h */
};
struct triage;
int triage_new(struct triage **out, const struct triage_config *c, struct err *e);
struct triage_input {
	const struct meta_incident *incident;  /* tenant, entities, times, the current level */
	uint64_t tenant_id;                    /* the store's id of incident->tenant */
	const struct meta_alert *alerts;       /* the incident's alerts, with their events */
	size_t n_alerts;
	int64_t now_ns;                        /* the clock (event time when replaying) */
};
struct triage_verdict {
	int level;                  /* 0..3 */
	const char *evidence;       /* JSON array text of evidence objects, in the arena */
	const char *why;            /* one sentence: which evidence set the level */
	bool complete;              /* false: some evidence window is still open (re-evaluate later) */
	int64_t recheck_ns;         /* when to evaluate again (0: never) */
};
/* Thread: one caller at a time per struct triage. */
int triage_evaluate(struct triage *t, const struct triage_input *in, struct arena *a,
		    struct triage_verdict *out, struct err *e);
void triage_free(struct triage *t);

/* ---- beyond the pinned interface: the loader's pieces (tests, the fuzz target, the CLI) ---- */

#define TRIAGE_FILE_MAX (1u << 20)   /* bytes of one rule file */
/* Adds the rules and settings of one YAML text (name for messages: NAME:LINE: ...). */
int triage_load_text(struct triage *t, const char *name, const char *text, size_t len,
		     struct err *e);
size_t triage_rule_count(const struct triage *t);
/*
 * Registers koban_triage_evaluations_total{level} and koban_triage_skipped_total{reason}
 * (serve: once, from the main thread); triage_free() removes them.
 */
int triage_metrics_register(struct triage *t, struct err *e);

#endif
