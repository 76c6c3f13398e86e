/*
 * evkeep.h - evidence copies: the events of an incident kept with it, beyond the event
 * store's and the alerts' retention, until the incident is purged.
 *
 * Each event (an ECS JSON line, as given) is stored in koban.db (table incident_events,
 * migration 16, rows removed with their incident: ON DELETE CASCADE) encrypted with the
 * tenant's data key (store_tenant_key, store/keys.h): XChaCha20-Poly1305 with a random
 * nonce and the incident id and the copy's sequence number (1, 2, ... per incident) as
 * associated data, so a copy moved to another incident or place fails to open. A keyed
 * BLAKE2b hash of the bytes (keyed by the data key: no plain-text hash of an event is
 * stored) makes the same event kept once per incident: putting it again is 0, no new row.
 * Erasing the tenant's key (a deletion certificate) makes the copies unreadable with the
 * rest of its data.
 *
 * Errors: an incident of another tenant, or none, is -ENOENT; a copy that does not open
 * with the tenant's key (a wrong or replaced key, a damaged row) is -EBADMSG naming the
 * incident and sequence; a tenant without a data key is -ENOENT; a tenant_id that is not
 * koban.db's id of tenant is -EINVAL. At most EVKEEP_EVENT_MAX bytes an event (-EMSGSIZE)
 * and EVKEEP_EVENTS_MAX copies an incident (-ENOSPC): the caller counts what it could not
 * keep. Each evkeep_put is one koban.db transaction (about 0.1 ms of CPU for a 1 KB event),
 * or part of the caller's when one is open (the SOC engine keeps a batch's copies in one).
 *
 * Memory: the JSON evkeep_list() passes to fn is valid during the call only. Threads: st
 * and m from their own threads' rules (one caller at a time each).
 */
#ifndef SOC_EVKEEP_H
#define SOC_EVKEEP_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct meta;
struct store;

#define EVKEEP_EVENT_MAX (64 * 1024)
#define EVKEEP_EVENTS_MAX 10000

/* Keeps a copy of the event json[0..len) with the tenant's incident (once per same bytes). */
int evkeep_put(struct store *st, struct meta *m, const char *tenant, uint64_t tenant_id, int64_t incident,
	       const char *json, size_t len, struct err *e);
/* Calls fn with each copy, decrypted, in the order they were kept; fn's non-zero return stops
 * the walk and is returned. */
int evkeep_list(struct store *st, struct meta *m, const char *tenant, uint64_t tenant_id, int64_t incident,
		int (*fn)(void *ctx, const char *json, size_t len), void *ctx, struct err *e);

#endif
