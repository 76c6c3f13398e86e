/*
 * cef.h - ArcSight Common Event Format (CEF 0 and 1), and what CEF, LEEF and A10 share.
 *
 * `[syslog header] CEF:Version|Vendor|Product|Device Version|Signature ID|Name|Severity|Extension`
 * becomes one event: the header in observer.*, event.code, event.severity and message,
 * every extension `key=value` under `cef.KEY` (the key as the spec's short name, so `src`
 * and `sourceAddress` are the same field), a labelled custom field (`cs1Label=Rule
 * cs1=allow-web`) under `cef.LABEL` (`cef.Rule`), and the keys ECS knows in their ECS
 * fields (docs/parsing.md, "CEF"). CEF from A10 Thunder (vendor `A10`) is handed to
 * a10_cef_map() for the CGN classes.
 *
 * The header's `\|` and `\\` and the extension's `\=`, `\\`, `\n` and `\r` are unescaped
 * into the event's arena; everything else points into the message (zero copy), so msg
 * must outlive the event. The RFC 3164 tag trap (`<134>CEF:0|...` read as TAG `CEF`) is
 * handled by the syslog header parser; a payload that lost its `CEF:` to such a relay
 * (`0|A10|...`) is accepted when the format is chosen explicitly (not sniffed).
 *
 * Names chosen by senders (labels, vendor keys) take from the syslog name budget
 * (syslog_name_budget_take()); past it the value stays in event.original only and
 * is counted in koban_decoder_values_dropped_total{decoder,reason}.
 *
 * Any thread: decode depends only on its arguments, the field registry and atomic
 * counters; configure runs on the main thread at start.
 */
#ifndef PARSE_CEF_H
#define PARSE_CEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/timeutil.h"

struct config;
struct decode_opts;
struct err;
struct event;
struct tz;

/* Escapes a span may hold (the header and the extension escape differently). */
enum { CEF_ESC_NONE, CEF_ESC_HEADER, CEF_ESC_EXT };

/* A piece of the message; esc says whether and how it must be unescaped before use. */
struct cef_span {
	const char *p;
	uint32_t len;
	uint8_t esc; /* CEF_ESC_*: how to unescape */
};

#define CEF_MAX_PAIRS 256 /* extension pairs kept per message; more are counted and dropped */

/* One extension pair after label resolution; key is the canonical (short) key. */
struct cef_pair {
	struct cef_span key;
	struct cef_span value;
	struct cef_span label; /* csNLabel's value for csN, else len 0 */
	bool is_label;         /* csNLabel of a csN in the record: names it, no field */
	int16_t def;           /* the decoder's key table index, -1: a key it does not know */
};

/* A parsed CEF record: spans into the message (cef_text() gives their values). */
struct cef_record {
	struct cef_span version, vendor, product, dev_version, sig_id, name, severity;
	struct cef_pair pairs[CEF_MAX_PAIRS];
	unsigned n;
};

/* Cheap check: "CEF:<digit>" within the first few hundred bytes. */
bool cef_sniff(const char *msg, size_t len);
int cef_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
	       struct err *e);
/* Registers the decoders' shared metrics (once per process); the registry's .configure. */
int cef_configure(const struct config *c, struct err *e);

/* ---- shared by the key-value decoders (cef, leef, a10) ---- */

enum cef_drop_reason {
	CEF_DROP_NAME_BUDGET, /* a sender-chosen name past the budget */
	CEF_DROP_TOO_MANY,    /* more than CEF_MAX_PAIRS values in one message */
	CEF_DROP_BAD_NAME,    /* a name that cannot be a field (longer than FIELD_NAME_MAX) */
	CEF_DROP_REASONS
};
enum cef_decoder_id { CEF_ID_CEF, CEF_ID_LEEF, CEF_ID_A10, CEF_IDS };

/* Counts n values of decoder that were not extracted for reason. */
void cef_count_drop(enum cef_decoder_id decoder, enum cef_drop_reason reason, unsigned n);

/*
 * Field id of PREFIX + name (name sanitised: bytes other than letters, digits, '_' and
 * '-' become '_'; a name with non-ASCII bytes also gets '_' and the FNV-1a hash of its
 * bytes in 8 hex digits, as two Japanese names of one byte length would be one; such a
 * name too long for FIELD_NAME_MAX keeps as many of its first bytes as fit before the hash),
 * registering it as a string field within the sender name budget; a thread-local cache
 * makes repeated names cheap. prefix is a short constant ("cef."). -ENOSPC when the
 * budget is spent (or the name exists with another type), -EINVAL for an empty name or
 * an ASCII one too long.
 */
int cef_name_field(const char *prefix, const char *name, size_t len,
		   const struct decode_opts *o);

#define CEF_SNIFF_WINDOW 512 /* bytes searched for an anchor: a syslog header fits */

/*
 * The first tag ("CEF:", "LEEF:") in p[0..len) within CEF_SNIFF_WINDOW bytes that starts
 * the text or follows a space or a PRI's '>' (with digit: and is followed by a digit), or
 * NULL.
 */
const char *cef_find_anchor(const char *p, size_t len, const char *tag, bool digit);

/*
 * Adds v[0..n) to the vendor field that cef_name_field() gave (field), or, when it gave
 * an error, counts the value as dropped for decoder (its reason by the error). 0, or
 * -ENOMEM / the event's error.
 */
int cef_put_vendor(struct event *ev, int field, const char *v, size_t n,
		   enum cef_decoder_id decoder);

/* Value of a span, unescaped into the event's arena when needed; NULL on ENOMEM. */
const char *cef_text(struct event *ev, const struct cef_span *s, size_t *len);

/*
 * Makes ev what a failed decode leaves (decoder.h): only event.original, event.created,
 * @timestamp (receive time) and message (the whole text). Returns code (negative), or
 * the event's own error when even that fails; e keeps the decoder's reason.
 */
int cef_keep_raw(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 int code);

/*
 * Device time stamps as CEF (rt, start, end) and LEEF (devTime) write them: milliseconds
 * since the epoch, `MMM dd [yyyy] HH:mm:ss[.SSS][ ZONE]` (ZONE: UTC, GMT, Z, +hh:mm,
 * +hhmm or an IANA name) or RFC 3339. Without a zone the stamp is read in zone z;
 * without a year the year is the latest that puts it at most 31 days after received_ns.
 * 0 and *ns (and *zoned: the text named its zone), or -EINVAL.
 */
int cef_parse_time(const char *s, size_t len, const struct tz *z, int64_t received_ns,
		   int64_t *ns, bool *zoned);

/* How a key's value goes into ECS (the CEF and LEEF key tables). */
enum cef_kind {
	CEF_KEEP,      /* only the vendor field */
	CEF_STR,       /* the ECS string field */
	CEF_LOWER,     /* the ECS string field, lower case */
	CEF_IP,        /* an IP field (+ related.ip) when the value is an address */
	CEF_INT,       /* an integer field when the value is a number */
	CEF_TIME,      /* a time field (cef_parse_time) */
	CEF_HOST,      /* a host name field (+ related.hosts) */
	CEF_MAC,       /* a MAC field, ECS style */
	CEF_SUSER,     /* source.user.name / .domain and user.* (+ related.user) */
	CEF_DUSER,     /* destination.user.name / .domain (+ related.user) */
	CEF_PROTO,     /* network.transport, network.iana_number */
	CEF_OUTCOME,   /* event.outcome when it is an ECS value */
	CEF_DIRECTION, /* network.direction from 0 (inbound) / 1 (outbound) */
	CEF_HASH,      /* related.hash */
	CEF_OBSIP,     /* observer.ip (an IP array, + related.ip) when the value is an address */
	CEF_REFERRER,  /* http.request.referrer when it is a URL */
	CEF_DTZ,       /* the zone of the other stamps (read before them) */
};

struct cef_key {
	const char *name, *full; /* key names (full: CEF's long form, or NULL) */
	enum cef_kind kind;
	unsigned field;          /* the ECS field, for the kinds that name one */
};

/* Stamps of one record: the zone they are read in, and whether one needed it. */
struct cef_times {
	const struct tz *zone;
	int64_t received_ns;
	bool zone_used;
};

/* Puts v[0..n) into ECS as k says; 0 (also when v does not fit the kind) or -errno. */
int cef_map_value(struct event *ev, struct cef_times *t, const struct cef_key *k,
		  const char *v, size_t n);
/* event.timezone when a stamp was read in t's zone. */
int cef_put_timezone(struct event *ev, const struct cef_times *t);
/* network.bytes = source.bytes + destination.bytes when both are there. */
int cef_put_network_bytes(struct event *ev);

/* A device stamp's pieces as read (CEF's forms, LEEF's devTimeFormat patterns). */
struct cef_stamp {
	struct civil_time c;   /* local civil time; year 0: none given */
	bool zoned;            /* the text named its offset or zone */
	int32_t offset;        /* seconds east of UTC, when zoned without a zone */
	const struct tz *zone; /* the zone it named, or NULL */
};

/*
 * ns of st: read in its own offset or zone, else in z; without a year, the latest year
 * that puts it at most 31 days after received_ns. -EINVAL for impossible fields or a year
 * outside 1900-2200.
 */
int cef_stamp_to_ns(const struct cef_stamp *st, const struct tz *z, int64_t received_ns,
		    int64_t *ns);
/* 1-12 for a month name's first three letters (any case), else 0. */
int cef_month(const char *s, size_t len);
/* A zone as stamps write it (UTC, GMT, Z, +hh:mm, +hhmm, an IANA name) into st; -EINVAL. */
int cef_zone(const char *s, size_t len, struct cef_stamp *st);

/* Sets an IP field (and related.ip) when s is an address; 1 set, 0 not an address. */
int cef_set_ip(struct event *ev, unsigned field, const char *s, size_t len);
/*
 * Sets an integer field when s is a decimal number that the field can hold
 * (field_int_valid: a port 0-65535, a count 0 or more); 1 set, 0 not such a number.
 */
int cef_set_int(struct event *ev, unsigned field, const char *s, size_t len);
/* network.transport (lower case) and network.iana_number from a name or number. */
int cef_set_transport(struct event *ev, const char *s, size_t len);
/* A user `DOMAIN\name` or `name`: into the field pair (name, domain), user.* and related.user. */
int cef_set_user(struct event *ev, unsigned name_field, unsigned domain_field, const char *s,
		 size_t len);

#endif
