/*
 * a10.h - A10 Networks Thunder (ACOS) logs: carrier-grade NAT (CGN) and the HTTP vport log.
 *
 * Three shapes, each optionally behind a syslog header:
 *   - CEF (ACOS 5/6): `CEF:0|A10|CFW|6.0.0-P1|CGN 100|Nat Port Allocated|5|...`, decoded by
 *     parse/cef, which hands records of vendor A10 to a10_cef_map() for the CGN classes
 *     100-107 (`a10.cgn`: source, source.nat, destination, the NAT port block);
 *   - the ASCII CGN forms: `NAT-TCP-C: 10.0.0.1:4000<-->192.0.2.1:5000 to 198.51.100.1:443`
 *     (port mapping), `NAT-TCP-C: in:port<->dst:port, nat:port<-->dst:port` (session) and
 *     `FIXED-NAT-PORTS 10.0.0.1->192.0.2.1:3000-4000` (`a10.cgn`);
 *   - the HTTP vport log in ACOS's default template:
 *     `CLIENT - - Mon Apr 23 23:38:13 2012 "GET / HTTP/1.0" 177 "-" "UA" vs:80`
 *     (`a10.http`; the stamp is read in the source's zone). Never sniffed: too plain for
 *     "auto"; a source gets it with --format a10.
 * Vendor fields are `a10.cgn.*` and `a10.http.*` (docs/parsing.md, "A10 Thunder").
 *
 * Memory: values point into msg (zero copy); msg must outlive the event. Any thread.
 */
#ifndef PARSE_A10_H
#define PARSE_A10_H

#include <stdbool.h>
#include <stddef.h>

struct cef_record;
struct decode_opts;
struct err;
struct event;

/* "NAT-PROTO-E:" or "FIXED-NAT-PORTS " within the first few hundred bytes. */
bool a10_sniff(const char *msg, size_t len);
int a10_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
	       struct err *e);
/* The A10 part of a CEF record of vendor A10 (module, dataset, CGN fields); 0 or -errno. */
int a10_cef_map(struct event *ev, const struct cef_record *r, const struct decode_opts *o);

#endif
