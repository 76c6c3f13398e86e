/*
 * panos.h - the PAN-OS syslog decoder (format "panos"): Palo Alto Networks firewalls'
 * CSV logs (TRAFFIC, THREAT of every subtype, SYSTEM, CONFIG, GLOBALPROTECT, USERID,
 * AUTHENTICATION, DECRYPTION, HIPMATCH) into ECS events.
 *
 * A message is an optional syslog header (BSD with or without PRI and host, IETF), or an
 * octet-counted line as written by a TCP capture ("786 <14>1 ..."; the count is removed
 * when it equals the length of what follows), then the CSV payload, found by its anchor
 * "FUTURE_USE,receive_time,serial,TYPE," in the first PANOS_ANCHOR_WINDOW bytes. The CSV
 * is RFC 4180 with PAN-OS's exceptions: a `{...}` value (link_switches) is one column
 * with its commas, and rows end early on older releases (missing trailing columns are
 * absent fields). Every column with a value becomes `panos.NAME` as the device wrote it
 * (doubled quotes undone), and the important ones are mapped to ECS (docs/parsing.md,
 * "PAN-OS"). Device-local times are read in the source's zone (decode_opts.tz) unless
 * high_res_timestamp carries an offset.
 *
 * Memory: values point into the message or, for quoted values with doubled quotes, into
 * the event's arena; nothing else is allocated per event. The vendor field names are
 * registered once (field_intern) on first use.
 *
 * Thread safety: any thread; the functions depend only on their arguments and the field
 * registry.
 */
#ifndef PARSE_PANOS_H
#define PARSE_PANOS_H

#include <stdbool.h>
#include <stddef.h>

struct decode_opts;
struct err;
struct event;

#define PANOS_ANCHOR_WINDOW 512 /* the CSV must start within these bytes of the message */
#define PANOS_COLUMNS_MAX 256   /* a longer row is refused */

/* Whether msg holds a PAN-OS CSV log (cheap: a scan for the anchor, no allocation). */
bool panos_sniff(const char *msg, size_t len);

/*
 * Decodes msg into ev. On failure (no PAN-OS anchor, a malformed syslog header, an
 * unterminated quoted value, too many columns) returns a negative code with the offset and
 * the reason in e, and ev holds event.original, message (the whole text) and @timestamp
 * (the receive time) only.
 */
int panos_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 struct err *e);

#endif
