/*
 * logtext.h - pieces shared by the text-log decoders of servers (squid, weblog, dns, postfix).
 *
 * A text log line is a syslog header (optional) and a payload of space-separated tokens.
 * These helpers find the payload, cut tokens, read numbers and decimals, and set the ECS
 * fields those decoders have in common (addresses with related.ip/hosts, users with
 * related.user, URLs split into url.*), so each decoder only knows its own layout.
 *
 * Memory: like every decoder, nothing is allocated except in the event's arena; spans
 * point into the message, so the message must outlive the event.
 *
 * Thread safety: every function depends only on its arguments (and the field registry);
 * any thread may call them.
 */
#ifndef PARSE_LOGTEXT_H
#define PARSE_LOGTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/field.h"

struct decode_opts;
struct err;
struct event;
struct ipaddr;

struct logtext_span {
	const char *p;
	size_t len; /* 0: absent */
};

/* Reading position in a payload; start is where offsets in error messages count from. */
struct logtext_cur {
	const char *start, *p, *end;
};

void logtext_cur_init(struct logtext_cur *c, const char *p, size_t len);
/* Offset of c's position from start, for error messages. */
size_t logtext_off(const struct logtext_cur *c);
/* Skips spaces; true when something follows. */
bool logtext_skip_spaces(struct logtext_cur *c);
/* The next token (after spaces) up to a space or the end; false when none is left. */
bool logtext_token(struct logtext_cur *c, struct logtext_span *t);
/* Whether the rest at c starts with lit; consumes it when it does. */
bool logtext_eat(struct logtext_cur *c, const char *lit);
/* Whether s equals the NUL-terminated lit. */
bool logtext_is(struct logtext_span s, const char *lit);

/* Exactly n digits at p (the caller checked that n bytes are there) as a number. */
bool logtext_digits(const char *p, int n, int *out);
/* 1..12 for "Jan".."Dec" at p (3 bytes, case as written), else 0. */
int logtext_month(const char *p);

/* A decimal integer of 1 to 18 digits, whole span; false otherwise. */
bool logtext_uint(struct logtext_span s, int64_t *out);
/*
 * A decimal "I[.F]" (at most 9 fraction digits kept, more refused) times unit_ns per unit,
 * so "1157689312.049" with NS_PER_SEC is that instant and "2864" with 1000000 is 2864 ms.
 * False for anything else or an overflow.
 */
bool logtext_decimal_ns(struct logtext_span s, int64_t unit_ns, int64_t *out);

/*
 * The payload of msg: after a syslog header (decoder_syslog_payload(), which also fills the
 * header fields and event.original), or after a BSD header without PRI ("May 20 16:29:19
 * host tag: ..."), as files written by syslog daemons carry; else the whole of msg.
 * A malformed header returns its negative code with e filled, ev as after a failed
 * syslog_parse() (event.original, message, @timestamp): the decoder returns that code.
 */
int logtext_payload(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		    struct logtext_span *payload, struct err *e);
/*
 * The failure path of a decoder: forgets every field but event.original, event.created and
 * @timestamp (the receive time), sets message to the whole of msg, and returns rc (the
 * reason is already in e). A failure to build even that is returned instead.
 */
int logtext_fail(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 int rc, struct err *e);
/*
 * The frame of a text decoder: logtext_payload(), then body() on the payload, then on
 * body's failure logtext_fail(). body returns 0 or a negative code with the reason in e.
 */
typedef int (*logtext_body_fn)(struct event *ev, const char *msg, struct logtext_span payload,
			       const struct decode_opts *o, struct err *e);
int logtext_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		   logtext_body_fn body, struct err *e);
/*
 * The frame of a sniff: whether at(p, n) is true at the start of msg or right after a space
 * within its first LOGTEXT_SNIFF_SPAN bytes (past any syslog header), asked only where such
 * a word starts with first (the byte a match starts with, found with memchr: `auto` sniffs
 * every line with every decoder, and most lines hold few of it). No allocation.
 */
#define LOGTEXT_SNIFF_SPAN 320
bool logtext_sniff(const char *msg, size_t len, char first,
		   bool (*at)(const char *p, size_t n));
/*
 * The first lit (litlen >= 1) in p[0..n), or NULL: memmem, as a memchr for lit's first byte
 * and a memcmp where it is. The sniffs of `auto` look for literals that most lines do not
 * hold, once per line and decoder, where glibc's memmem sets up a table on every call.
 */
static inline const char *logtext_find(const char *p, size_t n, const char *lit, size_t litlen)
{
	const char *end = p + n;

	while (n >= litlen && (p = memchr(p, lit[0], n - litlen + 1))) {
		if (!memcmp(p + 1, lit + 1, litlen - 1))
			return p;
		n = (size_t)(end - ++p);
	}
	return NULL;
}

/* The setters' failure (-ENOSPC, -ENOMEM) with its message in e. */
int logtext_set_failed(int rc, struct err *e);

/*
 * In a function with `int rc` and `struct err *e`: runs a setter and returns its failure
 * as logtext_set_failed() does.
 */
#define LOGTEXT_TRY(expr)                                          \
	do {                                                       \
		if ((rc = (expr)) < 0)                             \
			return logtext_set_failed(rc, e);          \
	} while (0)

/* Sets a string field when s is present and not "-". */
int logtext_set(struct event *ev, unsigned field, struct logtext_span s);
/* Sets a string field to a literal (static storage). */
int logtext_set_lit(struct event *ev, unsigned field, const char *lit);
/* Appends a literal to a multi-valued string field (event.category, event.type). */
int logtext_add_lit(struct event *ev, unsigned field, const char *lit);

/* The ECS fields of one end of a connection (source, destination, client, server). */
struct logtext_end {
	unsigned address, ip, domain, port; /* field ids; port may be 0 when it has none */
};

extern const struct logtext_end logtext_source, logtext_destination, logtext_client,
	logtext_server;

/*
 * Sets end.address to s as written and then end.ip (and related.ip) when s is an IP
 * literal (IPv6 in brackets too), else end.domain (and related.hosts). "-" and empty: nothing.
 */
int logtext_set_end(struct event *ev, const struct logtext_end *end, struct logtext_span s);
/* Sets end.ip from an IP literal (and related.ip); false when s is not one. */
int logtext_set_ip(struct event *ev, unsigned field, struct logtext_span s);

/*
 * A user as logged: "DOMAIN\user" is split into user.domain and user.name (ECS); "-" and
 * empty are no user. user.name also goes to related.user and, when source_user, to
 * source.user.name (and source.user.domain).
 */
int logtext_set_user(struct event *ev, struct logtext_span s, bool source_user);

/*
 * url.original = s and its parts: url.scheme, url.domain (an IPv6 address keeps its
 * brackets, as ECS says), url.port, url.path, url.query (without '?'), url.extension (of
 * the last path segment, without '.'). A CONNECT target "host:port" has only domain and
 * port; a bare path only path, query and extension; anything else (no scheme, no leading
 * '/') only url.original.
 */
int logtext_set_url(struct event *ev, struct logtext_span s);

/* As logtext_set_url, but a URL without a scheme starts with its host:
 * "host[:port][/path][?query]" (PAN-OS's url log). */
int logtext_set_url_host(struct event *ev, struct logtext_span s);

/* Vendor fields a decoder registers once (pthread_once) and then uses by id. */
struct logtext_field {
	const char *name;
	enum field_type type;
};
/* Interns defs[0..n) into ids[]; 0 or the first negative code of field_intern. */
int logtext_intern(const struct logtext_field *defs, int *ids, size_t n);

#endif
