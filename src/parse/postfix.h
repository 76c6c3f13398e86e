/*
 * postfix.h - the Postfix mail log decoder ("postfix"), with queue-id correlation.
 *
 * Every line is one event (dataset postfix.log): the syslog header (postfix/smtpd[pid]),
 * the queue id in email.local_id, the line's own key=value pairs (client=, message-id=,
 * from=, size=, nrcpt=, to=, orig_to=, relay=, delay=, delays=, dsn=, status=, sasl_*=)
 * in email.*, source.*, destination.*, user.* and postfix.*, and the status in
 * event.action/outcome. NOQUEUE rejects, connect/disconnect and header/body-check lines
 * are decoded too.
 *
 * Correlation: what earlier lines of one message said (the client, the SASL user, the
 * Message-ID, the sender, the size, a header-check Subject) is kept in a process-wide
 * table keyed by (tenant, host, queue id), so that the delivery line (status=) carries
 * the whole email.* picture. The table is bounded: at most max_queue_ids ids (oldest
 * forgotten first when full) and each id for at most queue_id_ttl seconds of receive time
 * after its last line; "removed" forgets the id. Forgotten ids are counted in
 * koban_postfix_queue_ids_dropped_total{reason="full"|"expired"}, ids kept now in the gauge
 * koban_postfix_queue_ids, values too long to keep in
 * koban_decoder_values_dropped_total{decoder="postfix",reason="no_room"}.
 * Lines of one message decoded by different workers share the table (sharded locks).
 *
 * Memory: event values point into the message, except those taken from the table, which
 * are copied into the event's arena. The table is allocated on first use (about
 * 700 bytes per queue id) and lives until the process exits.
 *
 * Thread safety: any thread; postfix_configure() from the main thread before decoding.
 */
#ifndef PARSE_POSTFIX_H
#define PARSE_POSTFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct decode_opts;
struct err;
struct event;

#define POSTFIX_MAX_QUEUE_IDS_DEFAULT 16384
#define POSTFIX_QUEUE_ID_TTL_DEFAULT 86400 /* seconds */

/* Whether msg comes from a Postfix daemon (a "postfix/NAME" or "postfix-X/NAME" tag). */
bool postfix_sniff(const char *msg, size_t len);
int postfix_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		   struct err *e);
/* Reads the table's limits from c (decoders.postfix) and registers the metrics. */
int postfix_configure(const struct config *c, struct err *e);

/* What the table did so far (tests and metrics). */
struct postfix_stats {
	uint64_t tracked;        /* ids kept now */
	uint64_t dropped_full;   /* forgotten because the table was full */
	uint64_t dropped_expired;
	uint64_t values_dropped; /* values too long for an id's room */
};
void postfix_stats(struct postfix_stats *s);
/* Forgets every id and sets the limits (tests): max ids over all shards, ttl in seconds. */
void postfix_reset(unsigned max_queue_ids, unsigned ttl_seconds);

#endif
