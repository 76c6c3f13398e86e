/*
 * correl.h - Sigma correlation rules (specification 2.1): the parser of `correlation:`
 * documents and the engine that keeps their windowed state.
 *
 * Parsing: correl_rule_parse() reads one YAML document (libfyaml) holding a `correlation:`
 * section into a struct correl_rule, or fails with FILE:LINE: reason in e. The rule owns
 * every string it points to; correl_rule_free() releases it.
 *
 * The engine, in the order a caller uses it:
 *   correl_engine_new()   limits from struct correl_config;
 *   correl_engine_add()   every parsed correlation (the engine takes the rule);
 *   correl_engine_base()  every loaded base (detection) rule: returns the input handle the
 *                         caller keeps beside that rule (or -ENOENT when no correlation
 *                         names it), after resolving through the caller's callback the
 *                         fields that correlation reads from the rule's events (group-by,
 *                         through aliases, and condition.field) to caller-chosen field ids;
 *   correl_engine_link()  binds the remaining references to other correlations (chaining),
 *                         rejects what cannot work (unknown rule, cycle, field missing from
 *                         an inner correlation's group-by) and reports each rejection;
 *   correl_feed()         for each event a base rule matched: the results it completes
 *                         are passed to the emit callback (inner correlations feed outer
 *                         ones in the same call);
 *   correl_flush()        at the end of a finite run (`koban rule test`): evaluates the
 *                         windows of lt/lte-only conditions that are still open;
 *   correl_snapshot_*()   the whole state to and from bytes or a file; correl_reload()
 *                         moves the state of surviving correlations into a new engine.
 *
 * Semantics (docs/detection.md, "Correlations"): time is the event time; a window is any
 * interval of length timespan, both ends included; the windows examined are those that
 * begin or end at a matching event's time. A condition with gt, gte or eq fires as soon as
 * an event makes a window that contains it satisfy the condition; the window's events are
 * listed in the result and consumed. Conditions made only of lt, lte and neq are evaluated
 * when a window closes: the windows that begin at each event, once the tenant's
 * watermark (its latest event time minus lateness) has passed their end. Events older
 * than the watermark are late: not counted, correl_feed() returns 1. State per tenant is
 * bounded (max_groups, max_events); the least recently used group is evicted first and
 * its events are counted (koban_correlation_dropped_total{reason="evicted"}).
 *
 * Building (new, add, base, link) fails only for memory or a duplicate id; after -ENOMEM
 * from correl_engine_base or correl_engine_link the engine must be freed, not used.
 *
 * Memory: the engine owns its rules and state. Results passed to emit point into the
 * engine and are valid only during the callback.
 *
 * Threads: the engine is fed from ONE thread (the detection loop), so it takes no locks;
 * every function except the metrics callbacks must be called from that thread. The
 * metrics families read counters with relaxed atomic loads from the admin thread.
 */
#ifndef DETECT_CORREL_H
#define DETECT_CORREL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

struct buf;
struct err;
struct fy_document;

enum correl_type {
	CORREL_EVENT_COUNT,
	CORREL_VALUE_COUNT,
	CORREL_TEMPORAL,
	CORREL_TEMPORAL_ORDERED,
	CORREL_VALUE_SUM,
	CORREL_VALUE_AVG,
	CORREL_VALUE_PERCENTILE,
};

enum correl_op { CORREL_GT, CORREL_GTE, CORREL_LT, CORREL_LTE, CORREL_EQ, CORREL_NEQ };

#define CORREL_MAX_OPS 6      /* one of each operator at most */
#define CORREL_MAX_RULES 64   /* entries of correlation.rules */
#define CORREL_MAX_GROUP_BY 16

struct correl_cond {
	enum correl_op op;
	double value;
};

/* One entry of an alias: in events of rule `rule` (id or name), the alias is `field`. */
struct correl_alias_map {
	char *rule;
	char *field;
};

struct correl_alias {
	char *name;
	struct correl_alias_map *maps;
	size_t nmaps;
};

/* A parsed correlation document. Read-only for everyone but this module. */
struct correl_rule {
	char *file;                 /* as given to correl_rule_parse */
	int line;                   /* 1-based line of the document's first key */
	char *id, *name, *title;    /* id and name may be NULL; title never */
	char *level, *status, *description, *author, *date, *modified; /* NULL when absent */
	char **tags, **references, **falsepositives;
	size_t ntags, nreferences, nfalsepositives;
	bool generate;              /* `generate: true`: the referenced rules alert on their own too */
	enum correl_type type;
	char **rules;               /* ids or names, as written */
	size_t nrules;
	char **group_by;
	size_t ngroup_by;
	struct correl_alias *aliases;
	size_t naliases;
	int64_t timespan_ns;
	struct correl_cond conds[CORREL_MAX_OPS]; /* ANDed */
	size_t nconds;
	char *field;                /* condition.field (value_* types), else NULL */
	double percentile;          /* condition.percentile (value_percentile), 0..100 */
};

/*
 * Parses doc, whose root mapping holds `correlation:`, read from file (used in messages and
 * kept in the rule). 0 and *out, -EINVAL with "FILE:LINE: what" in e, or -ENOMEM.
 */
int correl_rule_parse(struct fy_document *doc, const char *file, struct correl_rule **out,
		      struct err *e);
void correl_rule_free(struct correl_rule *r);
/* The identifier results carry: id, else name, else NULL (the caller uses FILE:LINE). */
const char *correl_rule_key(const struct correl_rule *r);
const char *correl_type_name(enum correl_type t);

struct correl_config {
	int64_t lateness_ns;  /* default 5 minutes */
	uint32_t max_groups;  /* per tenant */
	uint32_t max_events;  /* per tenant: events held in all groups */
};

#define CORREL_CONFIG_INIT { 300 * INT64_C(1000000000), 100000, 1000000 }

struct correl_engine;

/* 0 and *out, or -EINVAL (a zero limit) / -ENOMEM with e filled. */
int correl_engine_new(struct correl_engine **out, const struct correl_config *cfg,
		      struct err *e);
/* Unregisters the engine's metrics, then frees it with its rules and state. NULL is fine. */
void correl_engine_free(struct correl_engine *en);
/*
 * Adds a parsed correlation; the engine owns r from now on, also when this fails.
 * -EEXIST when another correlation has the same id or name (e says which), -ENOMEM.
 */
int correl_engine_add(struct correl_engine *en, struct correl_rule *r, struct err *e);

/*
 * The caller's field resolution: the id (>= 0) of field `name` in the events of the base
 * rule being declared, or a negative code with e filled. The id is given back to the
 * event's value callback; the engine never interprets it.
 */
typedef int correl_resolve_fn(void *ctx, const char *name, struct err *e);

/*
 * Declares base rule (id, name; either may be NULL). Returns its input handle (>= 0) when
 * some correlation names it in `rules`, -ENOENT when none does, or a negative code with e
 * filled when a field could not be resolved (the correlation that needs it is rejected).
 * *silenced says whether the rule's own matches must not be reported: every correlation
 * naming it has `generate: false`.
 */
int correl_engine_base(struct correl_engine *en, const char *id, const char *name,
		       correl_resolve_fn *resolve, void *ctx, bool *silenced, struct err *e);

/* A rejected correlation, with "FILE:LINE: id: reason". */
typedef void correl_report_fn(void *ctx, const struct correl_rule *r, const char *msg);

/*
 * Binds the references that no base rule took to other correlations and checks the
 * graph. Rejected correlations never fire; each is passed to report. Returns the number
 * rejected (0 when all are usable) or -ENOMEM. Call once, after every correl_engine_base.
 */
int correl_engine_link(struct correl_engine *en, correl_report_fn *report, void *ctx);

/* Value of field id (from correl_resolve_fn) in the event: 1 and (s, len), or 0 when absent. */
typedef int correl_value_fn(void *ctx, int field, const char **s, size_t *len);

/*
 * A correl_value_fn over a struct event, for callers whose field ids are event field ids:
 * ctx is a struct correl_event_view. Gives the field's first value as its canonical text
 * (integers in decimal, booleans true/false, addresses as text, times in RFC 3339 UTC),
 * valid until the next call with the same view.
 */
struct event;
struct correl_event_view {
	const struct event *ev;
	char text[EVENT_VALUE_TEXT_MAX];
};
int correl_event_value(void *ctx, int field, const char **s, size_t *len);

struct correl_event {
	int64_t time;            /* ns since the epoch (0 when the event has none) */
	uint64_t ref;            /* the caller's reference: a line number, an event id */
	correl_value_fn *value;  /* the event's fields */
	void *ctx;
};

struct correl_ref {
	int64_t time;
	uint64_t ref;
};

struct correl_result {
	const struct correl_rule *rule;
	const char *tenant;
	size_t ngroup;                 /* rule->ngroup_by */
	const char *const *group_values; /* ngroup values, group_lens[i] bytes each */
	const uint32_t *group_lens;
	const struct correl_ref *refs; /* the contributing events, in time order */
	size_t nrefs;
	int64_t time;                  /* time of the last event */
	double value;                  /* the aggregate that met the condition */
	bool silenced;                 /* named by another correlation without generate: true */
};

/* Called for each result; a negative return stops the feed and is returned by it. */
typedef int correl_emit_fn(void *ctx, const struct correl_result *r);

/*
 * Base rule `input` (a handle from correl_engine_base) matched ev of tenant (its name; each
 * tenant has its own clock and state). Returns 0,
 * 1 when the event was late (not counted; counted in koban_correlation_dropped_total),
 * or a negative code (-ENOMEM; emit's own).
 */
int correl_feed(struct correl_engine *en, const char *tenant, int input,
		const struct correl_event *ev, correl_emit_fn *emit, void *ctx);
/* Closes every open window (lt/lte-only conditions) of every tenant: the end of a run. */
int correl_flush(struct correl_engine *en, correl_emit_fn *emit, void *ctx);

/*
 * Snapshots: the whole state, versioned and checksummed, with correlations named by their
 * key and inputs by the reference written in `rules`, so a snapshot outlives the process
 * and a rule reload. Restoring keeps what matches the engine's correlations, counts the
 * rest (reason "restore_unknown"), and changes nothing when the bytes are corrupt
 * (-EBADMSG with e filled).
 */
int correl_snapshot_write(struct correl_engine *en, struct buf *out);
int correl_snapshot_read(struct correl_engine *en, const void *p, size_t len, struct err *e);
/* DIR/NAME through a temporary file and a rename (core/fileio). */
int correl_snapshot_save(struct correl_engine *en, const char *dir, const char *name,
			 struct err *e);
/*
 * -ENOENT (no snapshot yet: nothing to do), -EBADMSG (corrupt: logged as a warning and
 * ignored, the state stays as it was), -errno.
 */
int correl_snapshot_load(struct correl_engine *en, const char *path, struct err *e);

/*
 * After a rule reload: moves into fresh (linked, no state yet) the state of every
 * correlation of old whose key survives, and carries the counters over; old keeps nothing
 * the caller needs afterwards (free it, which unregisters its metrics, then register
 * fresh's).
 */
int correl_reload(struct correl_engine *fresh, struct correl_engine *old, struct err *e);

/*
 * koban_correlation_results_total, koban_correlation_dropped_total{reason} (late, evicted,
 * no_group, no_value, restore_unknown), koban_correlation_groups and _events (gauges).
 * 0, or the registry's code (-EEXIST while another engine is registered).
 */
int correl_metrics_register(struct correl_engine *en);

#endif
