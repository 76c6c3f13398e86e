/*
 * detect.h - the detection stage: every finished event of every tenant through the rules.
 *
 * A struct detect is what `koban serve`, `koban ingest` and `koban rule test` run (DESIGN.md
 * section 5). It loads the rules once (the bundled ones, config `detect.rules`, and paths the
 * caller adds; `detect.disable` and `detect.placeholders` applied), resolving their field names
 * through the field maps (detect/fieldmap), and hands the correlations (detect/correl) the base
 * rules they read. Then, for each event (detect_event, the pipeline's inspector):
 *
 *   1. its logsource: the source's configured one (config `logsources`), else the one the field
 *      maps give its event.dataset, else none (only rules naming no logsource key apply);
 *      JSON events of `rule test` (origin NULL) have none and every rule applies to them;
 *   2. the rules that apply to that logsource (a group, built once per distinct logsource)
 *      run their literals through one multi-pattern pass over the event's fields
 *      (detect/litset); only rules whose literals occur, and rules without any, are evaluated
 *      (sigma_rule_match), so most rules cost nothing on most events;
 *   3. a match becomes a result: an alert (soc/alert) unless every correlation using the rule
 *      says `generate: false`, and, when a correlation uses the rule, a record for the
 *      correlation engine (the event's JSON, its time, the tenant);
 *   4. the correlation engine runs on ONE thread: inline in the caller (DETECT_INLINE: `rule
 *      test`, `ingest`), or on the detection thread, fed through a bounded queue (serve). Its
 *      results become alerts too, with the events they counted (those still remembered).
 *
 * Nothing is lost silently: koban_detect_matches_total{level},
 * koban_detect_dropped_total{reason} (queue_full, no_memory, too_large, decode, reload) count
 * what did not reach the correlation engine or an alert.
 *
 * Reload (SIGHUP): detect_reload() builds a new rule set beside the running one, moves the
 * correlation state of surviving correlations into it (correl_reload) and swaps it in; a
 * worker finishes its event on the set it started with. Matches still queued for the
 * detection thread by the replaced set are dropped (reason reload). The correlation state is saved to
 * DATA_DIR/detect/correlation.state on stop and every snapshot_interval, and read at start.
 *
 * Memory: the detect owns its rules, groups, scratches and queue; results handed to on_result
 * are valid during the call only.
 *
 * Threads: detect_new, detect_reload, detect_stop and detect_free from one thread (main);
 * detect_event from the worker slots' threads (slot w from one thread at a time); with
 * DETECT_INLINE everything from one thread.
 */
#ifndef DETECT_DETECT_H
#define DETECT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alert_sink;
struct config;
struct meta;
struct err;
struct event;
struct pipeline_origin;
struct detect;
struct timatch;

/* One result, for callers that print them (`koban rule test`). */
struct detect_result {
	const char *rule_id;
	const char *title;
	const char *level;
	bool correlation;
	/* a detection match: the event's reference (detect_event's ref) */
	uint64_t ref;
	/* a correlation: the group-by fields and values, and the events' references in time order */
	size_t ngroup;
	const char *const *group_fields;
	const char *const *group_values;
	const uint32_t *group_lens;
	const uint64_t *refs;
	size_t nrefs;
};

enum detect_mode {
	DETECT_THREADED, /* correlations on the detection thread (serve) */
	DETECT_INLINE,   /* correlations on the caller's thread (rule test, ingest) */
};

struct detect_config {
	const struct config *cfg;      /* detect.*, logsources, the data directory */
	unsigned workers;              /* worker slots calling detect_event */
	enum detect_mode mode;
	const char *const *paths;      /* rule files or directories beside the configured ones */
	size_t n_paths;
	bool only_paths;               /* only paths: not the bundled nor the configured rules */
	bool fields_as_given;          /* no field maps: rules name the events' fields (rule test) */
	bool state;                    /* keep the correlation state in DATA_DIR/detect/ */
	struct alert_sink *alerts;     /* NULL: no alerts (results go to on_result only) */
	struct meta *meta;             /* the tenants' rule policy (read at load); NULL: none */
	/* Threat-intelligence matching (enrich/timatch.h), run first on every event so that
	 * rules and the store see threat.enrichments; its workers >= workers. NULL: none. */
	struct timatch *ti;
	/* The tenant name of a tenant slot (serve's fair-queue slots); NULL: tenant "" */
	const char *(*tenant_name)(void *ctx, unsigned slot);
	void *tenant_ctx;
	/* Every result, on the thread that made it; NULL: none. */
	void (*on_result)(void *ctx, const struct detect_result *r);
	void *result_ctx;
	/* Each rejected rule or unsupported feature; NULL: logged as warnings. */
	void (*report)(void *ctx, const char *file, unsigned line, const char *id,
		       const char *reason);
	void *report_ctx;
	bool metrics;                  /* register the koban_detect_* families */
};

/* What the rules' load gave (for `rule test` and the log). */
struct detect_counts {
	size_t rules, correlations, filters, rejected, disabled;
};

/*
 * Loads the rules and, in DETECT_THREADED mode, starts the detection thread. 0, or a
 * negative code with e filled (a path that cannot be read, -ENOMEM). Rejected rules are
 * reported and counted, not errors.
 */
int detect_new(struct detect **out, const struct detect_config *c, struct err *e);
void detect_counts(const struct detect *d, struct detect_counts *k);

/*
 * The pipeline's inspector (struct pipeline_inspect; ctx is the detect): runs the rules on
 * ev, made by worker slot `worker`. o NULL: an event without origin (rule test's JSON lines),
 * to which every rule applies. ref is what results name the event by (detect_event_ref).
 */
void detect_inspect(void *ctx, unsigned worker, const struct pipeline_origin *o,
		    struct event *ev);
void detect_event(struct detect *d, unsigned worker, const struct pipeline_origin *o,
		  struct event *ev, uint64_t ref);

/*
 * Correlation documents as the Sigma loader meets them: detect_collect_correlation is a
 * sigma_options.correlation callback (ctx: a struct detect_correlations) that parses each
 * with detect/correl and keeps it, in order. Release frees what was not taken (v[i] NULL).
 */
struct fy_document;
struct correl_rule;
struct detect_correlations {
	struct correl_rule **v;
	size_t n, cap;
};
int detect_collect_correlation(void *ctx, struct fy_document *doc, const char *file,
			       unsigned line, struct err *e);
void detect_correlations_release(struct detect_correlations *c);

/* detect.placeholders as the Sigma loader's table, pointing into c (mem_free it); -ENOMEM. */
struct sigma_placeholder;
int detect_placeholders(const struct config *c, struct sigma_placeholder **out);

/* koban's own rules (detect/bundled: rules/sigma/ in the binary) into s; sigma_set_load_buffer's codes. */
struct sigma_set;
int detect_load_bundled(struct sigma_set *s, struct err *e);

/* End of a finite run (inline): closes the open correlation windows (lt/lte conditions). */
int detect_finish(struct detect *d, struct err *e);

/*
 * Loads the rules again from c (SIGHUP). On an error the running rules stay and e says why.
 */
int detect_reload(struct detect *d, const struct config *c, struct err *e);

/* Drains the queue, saves the correlation state, stops the detection thread. */
void detect_stop(struct detect *d);
void detect_free(struct detect *d);

#endif
