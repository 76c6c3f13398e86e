/*
 * misp.h - MISP feeds into threat-intelligence indicators.
 *
 * A MISP feed is a directory: manifest.json lists the events ({"<event uuid>": {"info",
 * "timestamp", "threat_level_id", ...}, ...}) and each event is <uuid>.json
 * ({"Event": {...}}). misp_manifest_read() gives the entries (a fetcher compares each
 * timestamp with the one it stored and fetches the newer events; a uuid is checked to be
 * a canonical UUID before anyone builds a path or URL from it); misp_event_read() reads
 * one event's attributes, in Event.Attribute and in every Event.Object[].Attribute, and
 * gives those that carry an indicator to a struct ti_sink:
 *
 *   ip-src, ip-dst (and |port: the address before the last '|')       TI_IP
 *   domain, hostname (and hostname|port)                               TI_DOMAIN
 *   domain|ip                                       TI_DOMAIN and TI_IP, two indicators
 *   url, uri, link                                                     TI_URL
 *   md5, sha1, sha256 (and filename|md5 etc.: the hash after the last '|')  the hash
 *   email, email-src, email-dst                                        TI_EMAIL
 *
 * Other types (AS, yara, user-agent, ...) are skipped and counted, by name in the
 * stats; to_ids false (context, not for detection) is skipped and counted unless the
 * options ask for it; deleted attributes and objects are skipped and counted. Booleans
 * are read as MISP producers write them: true/false, 0/1, "0"/"1".
 *
 * Each indicator: confidence from the event's threat_level_id (1 high: 90, 2 medium: 60,
 * 3 low: 30, 4 undefined or absent: -1, the source's default), tags = the event's tags
 * and the attribute's (at most MISP_TAGS_MAX; the rest counted), description = the
 * attribute's comment, else the event's info, ref = the attribute's uuid, first_seen /
 * last_seen from the attribute's (RFC 3339), last_seen else its timestamp.
 * An attribute that cannot be read goes to sink->reject with its 1-based position among
 * the event's attributes (Event.Attribute first, then the objects' in order) and the
 * reason; reading goes on. Malformed JSON stops the read with -EINVAL (line, column).
 *
 * Memory: the strings an indicator points to live until the next attribute; the sink
 * copies what it keeps. At most MISP_EVENT_MEM_MAX bytes per event.
 * Thread safety: none needed; every call is independent.
 */
#ifndef ENRICH_MISP_H
#define ENRICH_MISP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich/ti.h"

struct err;

#define MISP_TAGS_MAX 64
#define MISP_EVENT_MEM_MAX (64u << 20)

struct misp_options {
	bool include_non_ids; /* also attributes with to_ids false */
};

#define MISP_SKIPPED_TYPES_MAX 16 /* distinct skipped types counted by name */

/* A type that carries no indicator of ours, and how many attributes had it. */
struct misp_type_count {
	char name[32];
	size_t n;
};

struct misp_stats {
	size_t attributes;   /* attributes seen, objects' included */
	size_t values;       /* indicators given to the sink */
	size_t rejected;     /* attributes refused (each given to sink->reject) */
	size_t not_ids;      /* to_ids false, skipped */
	size_t deleted;      /* deleted attributes, and the attributes of deleted objects */
	size_t unsupported;  /* types that carry no indicator of ours */
	/* the first MISP_SKIPPED_TYPES_MAX of those types by name (for the import's report);
	 * the others, and names of 32 bytes or more, are only in unsupported */
	struct misp_type_count skipped[MISP_SKIPPED_TYPES_MAX];
	size_t n_skipped;
	size_t tags_dropped; /* tags beyond MISP_TAGS_MAX, or without a name */
};

/*
 * Reads one event document p[0..len) into sink; opt may be NULL (defaults), stats may be
 * NULL. 0 (rejects included), -EINVAL (malformed JSON, no "Event" object), -ENOMEM, or
 * the sink's code.
 */
int misp_event_read(const char *p, size_t len, const struct misp_options *opt,
		    const struct ti_sink *sink, struct misp_stats *stats, struct err *e);

struct misp_manifest_entry {
	char uuid[37];             /* canonical, lower case */
	int64_t timestamp;         /* Unix seconds of the event's last change */
	int threat_level;          /* 1..4, 0 when absent */
	const char *info;          /* NUL-terminated, "" when absent; valid during the call */
};

/*
 * Reads manifest.json p[0..len) and calls each() per event; each() returning < 0 stops
 * the read with that code. 0, or -EINVAL (malformed JSON, a key that is no UUID, an entry
 * without a timestamp) with e naming the entry, -ENOMEM.
 */
int misp_manifest_read(const char *p, size_t len,
		       int (*each)(void *ctx, const struct misp_manifest_entry *m), void *ctx,
		       struct err *e);

#endif
