/*
 * dns.h - DNS server query logs: BIND ("bind") and Unbound ("unbound").
 *
 * BIND's query log (category queries), alone or after a syslog header:
 *   [dd-Mon-yyyy hh:mm:ss.mmm ][queries: ][info: ]client [@0x...] IP#PORT [(NAME)]:
 *   [view V: ]query: NAME CLASS TYPE FLAGS (SERVER)
 * and Unbound's log-queries / log-replies lines, from syslog ("unbound: [pid:tid] info:
 * ..."), from its own log file ("[epoch] unbound[pid:tid] info: ...") or with
 * log-tag-queryreply ("query:" / "reply:"):
 *   CLIENT NAME. TYPE CLASS [RCODE SECONDS FROM_CACHE SIZE]
 * Other lines of either server (BIND's other categories, Unbound's notices) become events
 * with their text in message and their level in log.level (datasets bind.log, unbound.log),
 * not errors. docs/parsing.md has the mapping.
 *
 * Memory: values point into the message. Thread safety: any thread; vendor field ids are
 * registered once (pthread_once).
 */
#ifndef PARSE_DNS_H
#define PARSE_DNS_H

#include <stdbool.h>
#include <stddef.h>

struct decode_opts;
struct err;
struct event;

/* Whether msg has a BIND "client ... query: " line. */
bool dns_bind_sniff(const char *msg, size_t len);
int dns_bind_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		    struct err *e);
/* Whether msg comes from Unbound ("unbound:" or "unbound[pid:tid]"). */
bool dns_unbound_sniff(const char *msg, size_t len);
int dns_unbound_decode(struct event *ev, const char *msg, size_t len,
		       const struct decode_opts *o, struct err *e);

#endif
