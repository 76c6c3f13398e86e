/*
 * sla.h - the SOC's service-level clocks of an incident: how long it may take to decide its
 * level, to approve the first report, to reach a person, to be acknowledged and contained,
 * whether each goal was met or breached, and the check that records and counts breaches.
 *
 * Each clock (enum sla_clock, in the order of enum meta_incident_clock in store/meta.h) starts
 * at one of the incident's times, is due a configured duration later (config `soc.sla`, with
 * per-tenant overrides) and stops at its met time:
 *
 *   decide        detected_ns -> decided_ns      default 1 h
 *   first_report  detected_ns -> reported_ns     default 2 h
 *   contact       decided_ns  -> contacted_ns    default 15 min, only while the level is >= 2
 *   acknowledge   detected_ns -> acknowledged_ns no goal by default
 *   contain       detected_ns -> contained_ns    no goal by default
 *
 * A clock with no goal (due 0), or whose start has not happened, does not apply. A clock is
 * breached when it was met after its due time, or is still unmet after it. A closed incident
 * (closed_ns set) keeps its met clocks; an unmet clock whose due time came before the closing
 * stays breached, any other unmet clock stops applying.
 *
 * sla_check() turns computed breaches into records: the bit (1 << clock) in the incident's
 * sla_breached, a timeline entry (actor "sla", action "sla-breach"), the counter
 * koban_incident_sla_breaches_total{tenant,clock} and a call of the caller's function, once
 * per incident and clock. It also sets the gauges koban_incident_sla_open{clock} (open
 * incidents with the clock running) and koban_incident_sla_remaining_seconds{clock} (the
 * least time left over them, negative when overdue).
 *
 * Memory: struct sla owns copies of the configured policies; sla_policy() returns a pointer
 * into it, valid until sla_free(). sla_compute() and sla_write_json() only read the incident.
 *
 * Threads: sla_new() and sla_free() from one (the main) thread; sla_policy(), sla_compute(),
 * sla_clock_name() and sla_write_json() from any thread (the policies never change after
 * sla_new); sla_check() from one thread at a time (the SOC thread).
 */
#ifndef SOC_SLA_H
#define SOC_SLA_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct config;
struct err;
struct meta;
struct meta_incident;

enum sla_clock { SLA_DECIDE, SLA_FIRST_REPORT, SLA_CONTACT, SLA_ACKNOWLEDGE, SLA_CONTAIN, SLA_CLOCKS };
struct sla_policy { int64_t due_ns[SLA_CLOCKS]; };   /* 0: no goal for that clock */
struct sla_state { bool applies; int64_t start_ns, due_ns, met_ns; bool breached; };
struct sla;                      /* the configured policies (defaults + per tenant) and the metrics */
/* c NULL: the seed defaults. metrics: register the metrics above (one struct sla at a time). */
int sla_new(struct sla **out, const struct config *c, bool metrics, struct err *e);
/* The tenant's policy, or the default one when the tenant has no override (tenant may be NULL). */
const struct sla_policy *sla_policy(const struct sla *s, const char *tenant);
const char *sla_clock_name(enum sla_clock k);   /* "decide" "first_report" "contact" "acknowledge" "contain" */
void sla_compute(const struct sla_policy *p, const struct meta_incident *inc, int64_t now_ns,
		 struct sla_state out[SLA_CLOCKS]);
/* {"decide": {"start","due","met","breached","remaining_s"}, ...} for `incident show` and the API. */
int sla_write_json(const struct sla *s, const struct meta_incident *inc, int64_t now_ns, struct buf *out);
typedef void sla_breach_fn(void *ctx, const struct meta_incident *inc, enum sla_clock k);
/* Checks the open incidents of every tenant at now_ns: each clock newly breached is marked in
 * sla_breached, logged on the timeline (actor "sla", action "sla-breach"), counted, and passed to fn
 * (the notification issue subscribes). Thread: the SOC thread. */
int sla_check(struct sla *s, struct meta *m, int64_t now_ns, sla_breach_fn *fn, void *ctx, struct err *e);
void sla_free(struct sla *s);

#endif
