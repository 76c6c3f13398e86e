/*
 * incident.h - what people do with incidents: their JSON form (`koban incident --json`,
 * /api/v1/incidents), the status lifecycle, changes by an analyst (status, owner, level,
 * each logged on the timeline with who and why), comments, and a false positive turned
 * into a suppression. The records themselves are store/meta.h's ("Incidents"); the engine
 * that makes incidents out of alerts is soc/soc.h.
 *
 * Lifecycle: new -> triaged -> investigating -> contained -> resolved; a step may skip
 * ahead (new -> investigating), never back; any open incident may become resolved or
 * false-positive. Reopening a closed one (resolved or false-positive -> an open status)
 * (or changing between resolved and false-positive) needs a reason. Moving to contained sets the contained clock; closing sets closed_ns,
 * reopening clears it.
 *
 * Levels set by a person stick: the change is logged with action "level", the person as
 * actor and detail {"from":F,"to":T,"manual":true}; incident_manual_level() reads the
 * latest such level back so that the engine raises an incident later but never lowers it
 * below what an analyst decided. Actors "koban", "triage" and "sla" are the engine's; a
 * person's level entry is told by its "manual": true, not by the actor's name.
 *
 * Memory: the caller's buffers; nothing is kept between calls. Threads: any thread with
 * its own struct meta (store/meta.h).
 */
#ifndef SOC_INCIDENT_H
#define SOC_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct meta;
struct meta_incident;
struct meta_incident_entry;
struct sla;

#define INCIDENT_LEVEL_KEEP (-2)      /* incident_change: leave the level as it is */
#define INCIDENT_FP_KEYS_MAX 16u       /* key fields a suppression may name */

/*
 * One JSON object: id, tenant, title, rule_id, group_key, level (0..3, -1 undecided),
 * level_name, level_shown, status, owner, alerts (the count), evidence (the array),
 * entities, terminal, first, last, detected, updated (RFC 3339 or null), clocks and
 * sla_breached. clocks: the raw clocks in ns (0: not yet) {"detected", "decided",
 * "reported", "contacted", "acknowledged", "contained", "closed"}; with s (the SLA
 * policies) also "sla": each clock's goal, due time and state at now_ns (sla_write_json).
 */
int incident_write_json(const struct meta_incident *inc, const struct sla *s, int64_t now_ns,
			struct buf *out);
/* A timeline entry: {"id","at","actor","action","detail" (the object),"why"}. */
int incident_entry_write_json(const struct meta_incident_entry *en, struct buf *out);

/*
 * The tenant's incident id with its alerts still kept and its timeline, as one object
 * {"incident": {...}, "alerts": [{"id","rule_id","title","level","detected","keys"}...],
 * "timeline": [entries...]} (`incident show --json`, GET /api/v1/incidents/ID); s as for
 * incident_write_json. -ENOENT: no such incident of the tenant; -ENOMEM: out grew past its
 * maximum.
 */
int incident_show_json(struct meta *m, const char *tenant, int64_t id, const struct sla *s,
		       int64_t now_ns, struct buf *out, struct err *e);

/* Whether from -> to is a step of the lifecycle (reopening is not: see incident_change). */
bool incident_status_ok(const char *from, const char *to);

struct incident_change {
	const char *actor;       /* a user or token name (required) */
	const char *why;         /* required for a level and for reopening; "" otherwise ok */
	const char *status;      /* NULL: unchanged */
	const char *owner;       /* NULL: unchanged; "" none */
	int level;               /* 0..3, or INCIDENT_LEVEL_KEEP */
	int64_t now_ns;
};
/*
 * Applies c to the tenant's incident id in one transaction, logging one timeline entry per
 * field that changed (and "clock" entries for the clocks it sets). -ENOENT: no such
 * incident of the tenant; -EINVAL: a status step the lifecycle refuses, a level out of
 * 0..3 or a missing reason (message in e). *changed (may be NULL): whether anything moved.
 */
int incident_change(struct meta *m, const char *tenant, int64_t id,
		    const struct incident_change *c, bool *changed, struct err *e);
/* Logs a comment {"text": text} by actor. */
int incident_comment(struct meta *m, const char *tenant, int64_t id, const char *actor,
		     const char *text, int64_t now_ns, struct err *e);
/*
 * The level a person set last, from the timeline: the latest "level" entry whose detail
 * says "manual": true. level -1 when none; overruled: the level it replaced (its "from",
 * -1 undecided).
 */
struct incident_manual {
	int level;
	int overruled;
};
int incident_manual_level(struct meta *m, const char *tenant, int64_t id,
			  struct incident_manual *out, struct err *e);

struct incident_fp {
	const char *actor;
	const char *why;                           /* the suppression's reason (required) */
	const char *const *keys;                   /* key fields of the first alert to match */
	size_t n_keys;                             /* 0: all of its key fields */
	int64_t expires_ns;                        /* 0: never */
	int64_t now_ns;
};
/*
 * Marks the incident false-positive and adds a suppression of its rule for the chosen key
 * fields with the values of its first alert still in koban.db, in one transaction; the
 * suppression's id in *suppression. -ENOENT: no such incident, or none of its alerts is
 * left to take the values from; -EINVAL: a key the alert does not have.
 */
int incident_false_positive(struct meta *m, const char *tenant, int64_t id,
			    const struct incident_fp *fp, int64_t *suppression, struct err *e);

#endif
