/*
 * syslog.h - syslog decoders (RFC 3164 and RFC 5424) into the event model.
 *
 * syslog_parse() fills an event from one framed message: always event.original (the raw
 * bytes) and event.created; on success the header fields in ECS names (log.syslog.*,
 * host.name, process.name/pid, message, @timestamp; RFC 5424 structured data as
 * log.syslog.structured_data.SDID.PARAM). Values point into msg (zero copy) except where
 * escapes must be removed (copied into the event's arena), so msg must outlive the event.
 *
 * RFC 3164 stamps carry no year and no zone: the zone is opts->tz (the source's zone,
 * default Asia/Tokyo) and the year is the latest that puts the stamp at most 31 days
 * after the receive time (so a Dec 31 stamp received on Jan 1 is last year's, and an
 * Aug 24 stamp received in March is last August's).
 *
 * On malformed input the function still leaves a usable event (event.original, message
 * = the whole text, @timestamp = receive time), returns a negative code and says in e
 * what was wrong at which offset. It never reads outside msg[0..len).
 *
 * Pure functions on their arguments: any thread.
 */
#ifndef PARSE_SYSLOG_H
#define PARSE_SYSLOG_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct event;
struct tz;

enum syslog_format {
	SYSLOG_AUTO = 0, /* RFC 5424 when "<PRI>1 " starts the message, else RFC 3164 */
	SYSLOG_RFC3164,
	SYSLOG_RFC5424,
};

/* Format named name[0..len) ("auto", "rfc3164", "rfc5424"), or -EINVAL. */
int syslog_format_from_name(const char *name, size_t len);
const char *syslog_format_name(enum syslog_format f);

struct syslog_opts {
	enum syslog_format format;
	const struct tz *tz;   /* NULL: Asia/Tokyo */
	int64_t received_ns;   /* receive time: fallback @timestamp and RFC 3164 year */
};

int syslog_parse(struct event *ev, const char *msg, size_t len, const struct syslog_opts *opts,
		 struct err *e);

/*
 * The HOSTNAME of a message without a full parse, for attribution by host name in the
 * listener: 1 and (host, hlen) pointing into msg when found, else 0.
 */
int syslog_peek_host(const char *msg, size_t len, const char **host, size_t *hlen);

#endif
