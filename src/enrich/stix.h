/*
 * stix.h - STIX 2.1 indicators into threat-intelligence indicators.
 *
 * Reads a STIX 2.1 bundle ({"type": "bundle", "objects": [...]}) or, through
 * stix_reader_objects(), the "objects" array of any container (the TAXII 2.1 envelope,
 * enrich/taxii.h), and gives each indicator object's values to a struct ti_sink:
 *
 *   - only objects of type "indicator" are read; other types (identity, malware,
 *     relationship, marking-definition, ...) are skipped and counted;
 *   - pattern_type must be "stix" (absent: STIX 2.0 content, read as stix); the pattern
 *     must be a union: observation expressions [ ... ] joined by OR, each holding
 *     comparisons joined by OR, with = (==), IN ('a', 'b') or, on addresses,
 *     ISSUBSET '<cidr>'. Every value becomes one indicator. AND (between comparisons or
 *     observations), FOLLOWEDBY, NOT, !=, LIKE, MATCHES, EXISTS, ordering operators and
 *     qualifiers (WITHIN, REPEATS, START/STOP) are refused with the reason: a list of
 *     values cannot express them, and a broadened indicator would alert on what the
 *     producer did not mean;
 *   - the object paths read: ipv4-addr:value, ipv6-addr:value (TI_IP), domain-name:value,
 *     url:value, email-addr:value and email-message:from_ref.value, and
 *     file:hashes.'SHA-256' / 'SHA-1' / MD5 (the hash name in any case, with or without
 *     the dash: lenient towards STIX 2.0 producers); anything else is refused;
 *   - valid_from -> first_seen_ns, valid_until -> expires_ns (it must be later than
 *     valid_from), confidence (0..100), labels -> tags (at most STIX_TAGS_MAX, the rest
 *     counted in tags_dropped), description (else name) -> description, id -> ref;
 *     timestamps must be STIX timestamps (RFC 3339 in UTC with a Z);
 *   - revoked indicators, and those whose indicator_types say "benign" (known good:
 *     never something to alert on or block), are skipped and counted; an indicator
 *     that cannot be read (a field of the wrong type, a pattern refused) goes to
 *     sink->reject with its 1-based index in the objects array and the reason, and
 *     reading goes on.
 *
 * Values are given as the pattern has them (the STIX string escapes \' and \\ undone);
 * the store normalises them (ti_normalize). Malformed JSON stops the read with
 * -EINVAL and e saying where (line, column); a sink's add() returning < 0 stops it with
 * that code.
 *
 * Memory: the strings an indicator points to (value, tags, description, ref) live in
 * the reader's arena until the next object; the sink copies what it keeps. A reader
 * holds at most STIX_OBJECT_MEM_MAX bytes for one object.
 *
 * Thread safety: a reader belongs to one thread; distinct readers are independent.
 */
#ifndef ENRICH_STIX_H
#define ENRICH_STIX_H

#include <stddef.h>

#include "core/arena.h"
#include "enrich/ti.h"

struct err;
struct jsonin;

#define STIX_TAGS_MAX 64                   /* labels kept per indicator */
#define STIX_PATTERN_VALUES_MAX 10000      /* values in one pattern */
#define STIX_PATTERN_DEPTH_MAX 32          /* nested parentheses in one pattern */
#define STIX_OBJECT_MEM_MAX (64u << 20)    /* copies made for one object */

/* What a read saw: each object is one of indicators, other or malformed. */
struct stix_stats {
	size_t objects;      /* elements of the objects array */
	size_t indicators;   /* objects of type indicator */
	size_t values;       /* indicators given to the sink (one per value of a pattern) */
	size_t rejected;     /* indicator objects refused (each given to sink->reject) */
	size_t revoked;      /* revoked indicators skipped */
	size_t benign;       /* indicators typed "benign" (known good) skipped */
	size_t other;        /* objects of other types skipped */
	size_t malformed;    /* elements that are no STIX object (no type, not an object) */
	size_t tags_dropped; /* labels beyond STIX_TAGS_MAX */
};

struct stix_reader {
	const struct ti_sink *sink;
	struct stix_stats stats;
	struct arena arena; /* the JSON reader's unescaped strings and the copies of one object */
};

/* One value of a pattern: its type and its text (STIX escapes undone). */
struct stix_value {
	enum ti_type type;
	const char *s;
	size_t len;
};

void stix_reader_init(struct stix_reader *r, const struct ti_sink *sink);
void stix_reader_release(struct stix_reader *r);
/*
 * Starts a JSON reader over a feed document p[0..len) for r: its arena is r's, and its
 * token limit the document's length when that is above jsonin's default (a bundle of
 * 200,000 indicators holds more than four million tokens; the document's size is bounded
 * by whoever read it, and a token takes a byte at least).
 */
void stix_jsonin_init(struct jsonin *j, const char *p, size_t len, struct stix_reader *r);
/*
 * Reads the elements of an array that j has just entered (after a jsonin_value that
 * returned JSONIN_ARRAY) up to its closing bracket, one STIX object each. j must
 * have been started by stix_jsonin_init (r's arena is cleared after each object).
 */
int stix_reader_objects(struct stix_reader *r, struct jsonin *j, struct err *e);

/*
 * Reads a whole bundle document p[0..len) into sink; stats (may be NULL) receives the
 * counts. 0 (rejects included), -EINVAL (malformed JSON, not a bundle), -ENOMEM, or the
 * sink's code.
 */
int stix_bundle_read(const char *p, size_t len, const struct ti_sink *sink,
		     struct stix_stats *stats, struct err *e);

/*
 * Parses a STIX pattern s[0..len) into its values (*values allocated in a, *n of them).
 * 0, or -EINVAL with e saying why (the byte of the pattern where it went wrong), -ENOMEM
 * when a is full.
 */
int stix_pattern_parse(const char *s, size_t len, struct arena *a, struct stix_value **values,
		       size_t *n, struct err *e);

#endif
