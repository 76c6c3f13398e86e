/*
 * azure.h - the "azure" decoder: one Azure Monitor resource-log record per event.
 *
 * Input: one record (a JSON object) as Azure Monitor's diagnostic settings write it to an
 * Event Hub or a storage blob, optionally behind a syslog header; a message holding
 * {"records":[...]} or a JSON array is split into its records first (parse/jsonrec via
 * the registry's split()). The record is read once with core/jsonin and dispatched on its
 * `category` (and, for AuditLogs, whether the resourceId is Intune's):
 *
 *   SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs,
 *   ManagedIdentitySignInLogs, ADFSSignInLogs            azure.signinlogs
 *   AuditLogs (Entra ID)                                  azure.auditlogs
 *   UserRiskEvents, RiskyUsers, RiskyServicePrincipals,
 *   ServicePrincipalRiskEvents                            azure.identity_protection
 *   Administrative, Security, ServiceHealth, Alert, Recommendation, Policy, Autoscale,
 *   ResourceHealth, Action (older exports)                azure.activitylogs
 *   AzureFirewall* (legacy `msg` text), AZFW* tables      azure.firewall_logs
 *   ApplicationGatewayAccessLog, ...FirewallLog (WAF)     azure.application_gateway
 *   BastionAuditLogs                                      azure.bastion
 *   AuditLogs / OperationalLogs of Microsoft.Intune       azure.intune_audit,
 *                                                         azure.intune_operational
 *   anything else                                         azure.platformlogs
 *
 * Every member of the record is kept as a string field `<dataset>.<path>` (the path as
 * written, '.'-joined; a '.' inside a key becomes '_'; arrays give multi-valued fields;
 * a string holding a JSON object or array is read as one), and the known members are
 * mapped to ECS (docs/parsing.md, "Azure Monitor"). AdvancedHunting-* records (Defender
 * XDR streaming) are handed to the "m365" decoder when the build has one.
 *
 * Memory: values point into msg or, unescaped, into the event's arena (decoder.h's
 * contract); nothing is allocated per event outside the arena. Vendor field names are
 * interned once per process (core/field.h) within a budget; fields beyond it are dropped
 * and counted (koban_decoder_values_dropped_total{decoder="azure"}, parse/drops.h).
 *
 * Thread safety: any thread may decode (one event per thread); azure_configure runs at
 * start from the main thread.
 */
#ifndef PARSE_AZURE_H
#define PARSE_AZURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse/decoder.h"

struct config;
struct err;
struct event;

/* The vendor names the decoder registers at most (new names past it are dropped). */
#define AZURE_FIELD_BUDGET 4096u

/* Whether msg looks like an Azure Monitor record or {"records":[...]} (no allocation). */
bool azure_sniff(const char *msg, size_t len);
/* Decodes one record (decoder.h's decode contract). */
int azure_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 struct err *e);
/* Registers the decoder's counters once (the registry's configure hook). */
int azure_configure(const struct config *c, struct err *e);
/* Fields dropped so far, all reasons (for tests). */
uint64_t azure_fields_dropped(void);

#endif
