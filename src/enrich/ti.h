/*
 * ti.h - threat-intelligence indicators: their types, the sink that feed readers fill,
 * and the recognition of a bare value's type.
 *
 * A reader (plain list, CSV, STIX, MISP) turns a document into calls of a struct ti_sink:
 * add() for each indicator it read, reject() for each it refused, with the line (or the
 * object's index) and the reason. Every pointer in a struct ti_indicator belongs to the
 * caller and is valid during the add() call only: a sink that keeps one copies it.
 *
 * ti_normalize() gives the canonical form every indicator is stored and looked up by:
 *   TI_IP      "192.0.2.7", "2001:db8::1", or a network "198.51.100.0/24" (host bits
 *              cleared; a /32 or /128 is the bare address); IPv4-mapped IPv6 reads as IPv4
 *   TI_DOMAIN  lower-case ASCII, without the trailing dot; IDN (bytes >= 0x80, or xn--
 *              labels) left as given
 *   TI_URL     scheme and host lower-case, the scheme's default port removed, no
 *              fragment, "/" for an empty path; path and query as given
 *   TI_MD5 TI_SHA1 TI_SHA256  lower-case hex of 32, 40, 64 digits
 *   TI_EMAIL   lower-case, LOCAL@DOMAIN with the domain as TI_DOMAIN
 *
 * Plain values and functions without state: any thread.
 */
#ifndef ENRICH_TI_H
#define ENRICH_TI_H

#include <stddef.h>
#include <stdint.h>

struct err;

enum ti_type { TI_IP /* address or CIDR, v4 or v6 */, TI_DOMAIN, TI_URL, TI_MD5, TI_SHA1,
               TI_SHA256, TI_EMAIL };
struct ti_indicator {            /* every pointer the caller's, read during the call only */
	enum ti_type type;
	const char *value; size_t len; /* as given; ti_normalize() makes the canonical form */
	int confidence;              /* 0..100, -1: unknown (the source's default applies) */
	int64_t first_seen_ns, last_seen_ns, expires_ns; /* 0: unknown / never */
	const char *const *tags; size_t n_tags;
	const char *description;     /* NULL: none */
	const char *ref;             /* the feed's own id of it (STIX id, MISP uuid), NULL: none */
};
/* What a parser gives for each indicator it read, and each it refused (line or index, reason). */
struct ti_sink {
	int (*add)(void *ctx, const struct ti_indicator *ind);   /* < 0 stops the parse */
	void (*reject)(void *ctx, unsigned line, const char *reason);
	void *ctx;
};
/* Recognises the type of a bare value (plain lists): 0, or -EINVAL with e saying why. */
int ti_guess_type(const char *s, size_t len, enum ti_type *type, struct err *e);

#define TI_VALUE_MAX 2048 /* bytes of a value, given or canonical */
#define TI_VALUE_BUF (TI_VALUE_MAX + 8) /* room for ti_normalize() to work in */
#define TI_N_TYPES (TI_EMAIL + 1)

/*
 * Writes the canonical form of (s, len) as type into out[TI_VALUE_BUF] (NUL-ended),
 * its length in *out_len. 0, or -EINVAL with e saying what was expected.
 */
int ti_normalize(enum ti_type type, const char *s, size_t len, char *out, size_t *out_len,
		 struct err *e);
/* "ip", "domain", "url", "md5", "sha1", "sha256", "email". */
const char *ti_type_name(enum ti_type type);
/* The type of a name ti_type_name() gives (any case; "ipv4", "ipv6", "cidr", "hostname",
 * "sha-1", "sha-256" too); -EINVAL for others. */
int ti_type_parse(const char *name, size_t len, enum ti_type *type);

#endif
