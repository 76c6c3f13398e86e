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
 * default the machine's zone, tz_local()) and the year is the latest that puts the stamp at most 31 days
 * after the receive time (so a Dec 31 stamp received on Jan 1 is last year's, and an
 * Aug 24 stamp received in March is last August's).
 *
 * On malformed input the function still leaves a usable event (event.original, message
 * = the whole text, @timestamp = receive time), returns a negative code and says in e
 * what was wrong at which offset. It never reads outside msg[0..len).
 *
 * Any thread: the functions depend only on their arguments, except the process-wide
 * structured-data name budgets below (atomic counters) and the field registry.
 */
#ifndef PARSE_SYSLOG_H
#define PARSE_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/field.h"

struct err;
struct event;
struct tz;

enum syslog_format {
	SYSLOG_AUTO = 0, /* RFC 5424 when "<PRI>1 " starts the message, else RFC 3164 */
	SYSLOG_RFC3164,
	SYSLOG_RFC5424,
};

/* Format names live in the decoder registry (parse/decoder.h), not here. */
struct syslog_opts {
	enum syslog_format format;
	const struct tz *tz;   /* NULL: the machine's zone */
	int64_t received_ns;   /* receive time: fallback @timestamp and RFC 3164 year */
	unsigned tenant;       /* fair-queue slot whose structured-data name budget is charged */
	unsigned tenant_gen;   /* its generation (fairq_slot_gen): a reused slot starts afresh */
};

/*
 * Structured-data names are chosen by senders, so each tenant may register at most
 * SYSLOG_SD_TENANT_BUDGET new field names (names any tenant registered before are free),
 * and all tenants together at most SYSLOG_SD_TOTAL_BUDGET; past a budget the values stay
 * in event.original only. One tenant's sender cannot stop extraction for the others.
 */
#define SYSLOG_SD_TENANT_BUDGET 1024
#define SYSLOG_SD_TOTAL_BUDGET (FIELD_DYNAMIC_MAX / 2)
#define SYSLOG_SD_TENANTS 65536 /* tenant slots with a budget of their own (uint16) */
/*
 * A slot's count belongs to the generation that spent it: when the fair queue gives the
 * slot to another tenant (a new generation), the new tenant's first name starts a new
 * count instead of inheriting the removed tenant's.
 */

/*
 * Takes one new field name from tenant's budget (and the total): true when granted. Other
 * decoders whose field names senders choose (CEF/LEEF labels and keys) share it.
 */
bool syslog_name_budget_take(unsigned tenant, unsigned gen);

/* Whether msg starts like RFC 5424 ("<PRI>1 "): the decoder registry's sniff. */
bool syslog_looks_rfc5424(const char *msg, size_t len);

int syslog_parse(struct event *ev, const char *msg, size_t len, const struct syslog_opts *opts,
		 struct err *e);

/*
 * The HOSTNAME of a message without a full parse, for attribution by host name in the
 * listener: 1 and (host, hlen) pointing into msg when found, else 0.
 */
int syslog_peek_host(const char *msg, size_t len, const char **host, size_t *hlen);

#endif
