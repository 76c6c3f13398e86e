/*
 * m365.h - the "m365" decoder: Microsoft Defender XDR records as ECS events.
 *
 * One record (one JSON object) is one event. Four shapes are recognised, by their keys:
 *
 *   Graph security alert     @odata.type #microsoft.graph.security.alert (alerts_v2), or
 *                            keys only it has (providerAlertId, serviceSource, alertWebUrl,
 *                            productName)                              -> m365.alert
 *   Graph security incident  @odata.type #microsoft.graph.security.incident, or
 *                            displayName / redirectIncidentId / customTags -> m365.incident
 *   Defender for Endpoint    the api/alerts shape (alertCreationTime, machineId,
 *   API alert                computerDnsName, aadTenantId)             -> m365.endpoint_alert
 *   Defender XDR streaming   category "AdvancedHunting-<Table>" with properties
 *                            -> m365.hunting.<table> (m365.hunting for tables not listed)
 *
 * Containers ({"records":[...]}, a Graph {"value":[...]} page, a JSON array) are split by
 * parse/jsonrec (the decoder's split()), so each record is decoded here on its own. An
 * optional syslog header in front of a record is decoded as decoder_syslog_payload() does.
 *
 * What is kept: every key is kept as a vendor field named after the key as Microsoft
 * writes it (m365.alert.serviceSource, m365.hunting.DeviceName, ...), as text (times as
 * written). Keys the decoder lists have ECS mappings; others are kept as text too (a
 * container as its JSON text) while fewer than M365_NAME_BUDGET such names exist, so a
 * hostile record cannot fill the field registry; what is not kept is counted by reason
 * in koban_decoder_values_dropped_total{decoder="m365"} and stays in event.original. A time that is not
 * RFC 3339 gives no event time but stays in its vendor field. An alert's evidence is kept
 * in de-duplicated arrays m365.alert.evidence.<key> (type, deviceDnsName, ipAddress,
 * sha256, ...), its IPs, hosts, users and hashes in related.*, and the first device, file,
 * process, user, URL and message of the evidence in host.*, file.*, process.*, user.*,
 * url.* and email.*. The list of fields is in docs/parsing.md.
 *
 * Memory: values point into msg or, unescaped, into the event's arena (decoder.h).
 *
 * Thread safety: the vendor field names and the metric are registered once
 * (pthread_once); m365_configure runs from the main thread at start (decoder.h); every
 * other function may be called from any thread, one event per thread (a small per-thread
 * cache holds the names made from unlisted keys).
 */
#ifndef PARSE_M365_H
#define PARSE_M365_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

struct config;
struct decode_opts;
struct err;
struct event;

/* Most evidence items read from one record; the rest are skipped and flagged. */
#define M365_EVIDENCE_MAX 256
/* Most vendor names made from keys the decoder does not list, per process. */
#define M365_NAME_BUDGET 1024

/* Whether msg looks like a Defender record or a container of them (first 1 KiB only). */
bool m365_sniff(const char *msg, size_t len);
/* The decoder's configure() (decoder.h): registers its drop counts (parse/drops.h). */
int m365_configure(const struct config *c, struct err *e);
/* Values dropped so far, all reasons (the metric's sum), for tests. */
uint64_t m365_dropped(void);
/* The decoder's decode() (decoder.h): one record into ev. */
int m365_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		struct err *e);

#endif
