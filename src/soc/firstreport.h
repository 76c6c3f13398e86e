/*
 * firstreport.h - the first report of an incident (issue 10 part 6): the short text the SOC
 * sends the customer (a municipality) once an incident is decided, drafted in Japanese and
 * English from the incident's alerts, evidence, entities, terminal and level.
 *
 * A draft comes from a template set (templates/firstreport/ja.txt and en.txt, compiled into
 * the binary; `soc.report.templates` names a directory of edited copies). The template
 * language ({{field}}, {{#each list}}...{{/each}}, {{#if field}}...{{/if}}) and the fields it
 * offers are described in docs/firstreport.md.
 *
 * Drafts are kept in koban.db (store/meta.h, section "Firstreport"), one per incident and
 * language, with status draft or approved. firstreport_refresh() redrafts an unedited draft
 * (the engine calls it on every level change) and never touches a report an analyst edited
 * or approved.
 *
 * Memory: firstreport_new() returns an object owning its parsed templates, freed by
 * firstreport_free(). firstreport_draft() appends to the caller's buffer; nothing it reads
 * is kept.
 *
 * Threads: a struct firstreport is read-only after firstreport_new(): firstreport_draft()
 * and firstreport_refresh() may run on any thread at once (firstreport_refresh() with the
 * caller's struct meta, which is one thread's). firstreport_new() and firstreport_free()
 * from one thread.
 */
#ifndef SOC_FIRSTREPORT_H
#define SOC_FIRSTREPORT_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct meta;
struct meta_alert;
struct meta_incident;

struct firstreport;             /* the templates (ja, en) */
int firstreport_new(struct firstreport **out, const char *templates_dir /* NULL: bundled */, struct err *e);
/* Drafts the first report of inc in lang ("ja" or "en") from its alerts, evidence, entities, terminal and
 * the tenant's assets (data_dir's koban.db may be NULL: no assets), into out (UTF-8 text). */
int firstreport_draft(const struct firstreport *fr, const struct meta_incident *inc,
		      const struct meta_alert *alerts, size_t n_alerts, const char *lang, struct buf *out,
		      struct err *e);
/* Drafts both languages and stores them as drafts unless a draft or approved report exists (the analyst's
 * edits are never overwritten; an unedited draft is refreshed). */
int firstreport_refresh(const struct firstreport *fr, struct meta *m, const struct meta_incident *inc,
			const struct meta_alert *alerts, size_t n_alerts, int64_t now_ns, struct err *e);
/* Approves the lang report (meta_report_approve), sets the incident's reported clock (the first approval
 * only) and logs action "report" on its timeline, by a user or token name. -ENOENT, -EALREADY as there. */
int firstreport_approve(struct meta *m, const char *tenant, int64_t incident, const char *lang,
			const char *by, int64_t now_ns, struct err *e);
/* Loads the tenant's incident and its alerts from koban.db and runs firstreport_refresh() on them (the CLI
 * and the API: a report asked for before the engine drafted one). -ENOENT: no such incident. */
int firstreport_refresh_stored(const struct firstreport *fr, struct meta *m, const char *tenant,
			       int64_t incident, int64_t now_ns, struct err *e);
/* {"incident","lang","status","edited","edited_by","approved_by","updated","approved","text"} of r
 * ("approved" null until approved; times RFC 3339), for `koban incident report show --json` and the API. */
struct meta_report;
int firstreport_write_json(const struct meta_report *r, struct buf *out);
void firstreport_free(struct firstreport *fr);

#endif
