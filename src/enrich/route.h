/*
 * route.h - tenant attribution: which tenant a received message belongs to.
 *
 * A route table is built from the sources in the metadata store and the configuration
 * (listener names, EPS limits). A message is matched by its listener, its sender address
 * (CIDR) and its syslog HOSTNAME; among the sources whose given criteria all match, the
 * most specific wins (more criteria; then the longer prefix; then the lower source id).
 * Anything unmatched goes to tenant "_unassigned", counted there like any tenant.
 *
 * struct router holds the current table and swaps in a new one on reload (SIGHUP)
 * while listener threads keep routing: router_route() may be called from any thread
 * concurrently with router_reload() (called from the main thread).
 */
#ifndef ENRICH_ROUTE_H
#define ENRICH_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct fairq;
struct ipaddr;
struct meta;
struct tz;

struct route {
	uint16_t tenant;      /* fair-queue slot */
	uint8_t format;       /* decoder id (parse/decoder.h), DECODER_AUTO when unset */
	const struct tz *tz;  /* source zone, or the configured default */
	const char *source;   /* name of the matched source (lives for the process), or NULL */
};

struct router;

/* Creates a router on q whose tenants get slots there; reload to fill it. */
int router_new(struct router **r, struct fairq *q, struct err *e);
void router_free(struct router *r);
/*
 * Rebuilds the table from the tenants and sources in m and the config (default zone,
 * listener names, EPS limits applied with fairq_set_eps). On error the old table stays.
 */
int router_reload(struct router *r, struct meta *m, const struct config *c, struct err *e);
/* Routes one message received on listener index `listener` from peer. */
void router_route(struct router *r, unsigned listener, const struct ipaddr *peer,
		  const char *msg, size_t len, struct route *out);

#endif
