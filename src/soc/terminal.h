/*
 * terminal.h - who was really behind an address: the internal terminal (address, port, host,
 * user) that a firewall's NAT, a carrier-grade NAT or a web proxy hid behind the address an
 * alert names.
 *
 * terminal_resolve() searches the tenant's event store within +- window_ns of at_ns (0:
 * TERMINAL_WINDOW_DEFAULT) for the log that maps the outside address back to the inside one:
 *   - "panos-nat": a PAN-OS log whose source.nat.ip (and source.nat.port) is the address:
 *     the terminal is its source.ip / source.port, the user its source.user.name; or whose
 *     destination.ip (and destination.port) is the address of a destination NAT: the
 *     terminal is its destination.nat.ip / destination.nat.port;
 *   - "a10-cgn": an A10 Thunder CGN mapping (src/parse/a10.c, dataset a10.cgn) whose
 *     source.nat.ip is the address and source.nat.port the port, or whose port block
 *     (a10.cgn.nat_port_first..last) holds it: the terminal is the inside source.ip (and
 *     source.port, unknown for a block);
 * and only when no NAT log maps it, the proxies' logs of the address:
 *   - "proxy-xff": a web log (dataset weblog.access) of a request from the address whose
 *     X-Forwarded-For (weblog.x_forwarded_for) names another client first: that client;
 *   - "proxy-client": a proxy's log (observer.type proxy, e.g. Squid) of the address as its
 *     client that names the user (user.name) or the client's host name (source.domain):
 *     the terminal is the address itself, named by the proxy.
 * A log that matched the port asked wins over one that has no port to compare; then the
 * log nearest to at_ns; then the first found. Logs of other vendors are not read.
 *
 * The sentence starts with the outside endpoint ("203.0.113.5:40123 was 10.1.2.3:51514
 * (PC-042, user tanaka) behind the PAN-OS NAT at 2026-03-15T02:59:59Z"). The store does
 * not know the asset inventory: terminal_name_host() names the host afterwards from the
 * tenant's assets (enrich/assets.h), and terminal_direct() gives the terminal of an
 * address that is itself inside ("direct") when an asset covers it. docs/terminal.md has
 * each look-up and its fields.
 *
 * Memory: every string of struct terminal lives in the caller's arena (core/arena.h).
 * Threads: terminal_resolve() uses st, so from st's thread (store.h: one at a time); the
 * others are pure (the assets only read: any thread, assets.h).
 */
#ifndef SOC_TERMINAL_H
#define SOC_TERMINAL_H

#include <stdint.h>

#define TERMINAL_WINDOW_DEFAULT (INT64_C(15) * 60 * 1000000000) /* window_ns 0: 15 min */

struct arena;
struct assets;
struct buf;
struct err;
struct store;

struct terminal {               /* the internal terminal behind NAT or a proxy; strings in the arena */
	const char *ip;             /* the internal address */
	uint16_t port;              /* 0: unknown */
	const char *host;           /* host name when a log or the asset inventory names it, else NULL */
	const char *user;           /* user when a log names it, else NULL */
	const char *via;            /* "panos-nat", "a10-cgn", "proxy-xff", "proxy-client", "direct" */
	const char *sentence;       /* e.g. "203.0.113.5:40123 was 10.1.2.3:51514 (PC-042) behind the PAN-OS NAT" */
	int64_t at_ns;              /* time of the log that proved it */
};
/* Looks up who was behind ip[:port] (port 0: any) around at_ns (+- window_ns) in the tenant's store.
 * 0 found, -ENOENT nothing found (not an error), other negative: error in e. */
int terminal_resolve(struct store *st, uint64_t tenant_id, const char *ip, uint16_t port, int64_t at_ns,
		     int64_t window_ns, struct arena *a, struct terminal *out, struct err *e);
/* {"ip","port","host","user","via","sentence","at"} (absent members left out). */
int terminal_write_json(const struct terminal *t, struct buf *out);

/* Names t->host from the tenant's asset covering t->ip when no log did (its first host name,
 * else its name) and puts it in the sentence. 1 named, 0 no asset (or already named), -ENOMEM. */
int terminal_name_host(struct terminal *t, const struct assets *as, const char *tenant,
		       struct arena *a);
/* The terminal of an address no NAT or proxy log maps, as the asset inventory names it:
 * via "direct", at at_ns. 0, -ENOENT when no asset covers ip (or as is NULL), -ENOMEM. */
int terminal_direct(const char *ip, const struct assets *as, const char *tenant, int64_t at_ns,
		    struct arena *a, struct terminal *out);

#endif
