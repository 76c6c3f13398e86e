/*
 * jsonrec.h - the JSON record containers: one message that holds several records.
 *
 * Microsoft's services deliver records in a few envelopes, and each record must become one
 * event (decoder.h's split() contract). jsonrec recognises exactly three containers:
 *
 *   {"records":[R, R, ...]}         Azure Monitor diagnostic settings (Event Hub, storage)
 *   {"value":[R, ...], "@odata.*"}  a Microsoft Graph page (@odata.context, @odata.nextLink)
 *   [R, R, ...]                     a JSON array (HTTP ingest, Log Analytics rows turned
 *                                   into records, Defender for Endpoint exports)
 *
 * Besides its "records" or "value" array an envelope object may only carry keys that start
 * with "@odata." (skipped): an object with any other key is a record itself, so a single
 * record that happens to have a "value" member is never taken for a page. Anything else
 * (a lone object, a string, malformed JSON, trailing bytes) is not a container.
 *
 * jsonrec_split() is a decoder's split(): it first validates the whole message strictly
 * (core/jsonin: RFC 8259, UTF-8, depth and token limits); only then does it call each()
 * once per element, in order, with the element's exact bytes (from its first to its last
 * byte, within msg). So a message is either split completely or not at all. Elements are
 * handed over whatever their type: a decoder that expects objects reports the others as
 * its own decode errors, so they still become (pipeline_error) events. An empty container
 * is refused (-ENODATA, "an empty record container") without calling each(): the decoder
 * then decodes the message whole, so that every message received shows as an event.
 *
 * Memory: nothing is allocated; the records point into msg.
 *
 * Thread safety: no state; any thread may call these.
 */
#ifndef PARSE_JSONREC_H
#define PARSE_JSONREC_H

#include <stddef.h>

#include "parse/decoder.h"

struct err;

enum jsonrec_kind {
	JSONREC_NONE,    /* not a container (or not at first sight) */
	JSONREC_RECORDS, /* {"records":[...]} */
	JSONREC_VALUE,   /* {"value":[...]} with @odata.* keys */
	JSONREC_ARRAY,   /* [...] */
};

/*
 * Cheap guess from the first bytes only (no validation, no allocation), for sniff(): an
 * array, or an object whose first key is "records", "value" or "@odata.*". Leading
 * whitespace is skipped. JSONREC_NONE for anything else.
 */
enum jsonrec_kind jsonrec_peek(const char *msg, size_t len);

/*
 * The decoder split() contract (decoder.h): when msg is a container, validates it whole,
 * then calls each(ctx, rec, rlen) for every element and returns 0, or the first negative
 * return of each (the remaining elements are not visited). When msg is not a container or
 * is malformed: a negative code (-EINVAL, or -ENOMEM for an escaped key, which no
 * envelope has) and the reason with its position in e, before any call of each; an empty
 * container: -ENODATA.
 */
int jsonrec_split(const char *msg, size_t len, decoder_record_fn each, void *ctx,
		  struct err *e);

/* Like jsonrec_split, and *kind (when not NULL) says which container it was. */
int jsonrec_split_kind(const char *msg, size_t len, decoder_record_fn each, void *ctx,
		       enum jsonrec_kind *kind, struct err *e);

#endif
