/*
 * route.h - tenant attribution: which tenant a received message belongs to.
 *
 * A route table is built from the sources in the metadata store and the configuration
 * (listener names, EPS limits). A message is matched by its listener, its sender address
 * (CIDR) and its syslog HOSTNAME; among the sources whose given criteria all match, the
 * most specific wins (more criteria; then the longer prefix; then the lower source id).
 * Anything unmatched goes to tenant "_unassigned", counted there like any tenant.
 * Order among sources with as many criteria: one with a listener before one without (a
 * tenant's dedicated listener beats another tenant's CIDR), then the longer CIDR prefix
 * (a CIDR beats a host name alone), then the older source. docs/tenants.md says the same.
 *
 * A reload retires the fair-queue slots of tenants that are gone and first frees those
 * retired earlier whose messages are all gone (fairq.h).
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

/*
 * Senders whose messages matched no source: the router keeps up to ROUTER_SENDERS_MAX of
 * them in a table where a new sender replaces the quietest of the few entries it may use
 * (constant cost per message; a flood of spoofed one-off addresses churns quiet entries and
 * does not push out a steady misconfigured device), and /metrics shows the
 * ROUTER_SENDERS_METRICS busiest as koban_unassigned_sender_messages{address}.
 */
#define ROUTER_SENDERS_MAX 256
#define ROUTER_SENDERS_METRICS 20

#define ROUTE_EXPLAIN_LOSERS 8

/* Why a message gets its tenant (router_explain). */
struct route_explain {
	struct route route;
	char tenant[64];
	char source[64];        /* the winning source, "" when none matched (_unassigned) */
	char criteria[512];     /* the winner's criteria as written */
	size_t candidates;      /* sources that can match on the listener */
	/* Other sources that match the message too and lose on specificity. */
	char losers[ROUTE_EXPLAIN_LOSERS][640];
	size_t n_losers;
};

/* Creates a router on q whose tenants get slots there; reload to fill it. */
int router_new(struct router **r, struct fairq *q, struct err *e);
void router_free(struct router *r);
/*
 * Rebuilds the table from the tenants and sources in m and the config (default zone,
 * listener names, EPS limits applied with fairq_set_eps). On error the old table stays.
 */
int router_reload(struct router *r, struct meta *m, const struct config *c, struct err *e);
/*
 * Routes one message received on listener index `listener` from peer (NULL: unknown).
 * Counts it in the slot's `routed` (fairq.h), and its sender when it goes to _unassigned.
 */
void router_route(struct router *r, unsigned listener, const struct ipaddr *peer,
		  const char *msg, size_t len, struct route *out);
/*
 * The decision router_route() would make, by the same code, with the reason; counts
 * nothing. For `koban source test`.
 */
void router_explain(struct router *r, unsigned listener, const struct ipaddr *peer,
		    const char *msg, size_t len, struct route_explain *x);
/*
 * Writes what was routed since the last flush into m in one transaction: per tenant the
 * message count and the time of this flush as its last-event time (so that is exact to
 * the flush interval), and the unassigned senders' counts. Main thread (serve calls it
 * every few seconds and at stop).
 */
int router_flush(struct router *r, struct meta *m, struct err *e);

#endif
