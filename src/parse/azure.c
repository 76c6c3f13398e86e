/*
 * azure.c - Azure Monitor resource-log records into events.
 *
 * One pass over the record with core/jsonin: every leaf becomes a vendor field under the
 * data set's prefix and, when its path is one the mappers read, a capture. The data set
 * (the prefix) is known once `category` (and for AuditLogs `resourceId`) has been read;
 * members read before that (usually a few scalars, as records list `category` early) are
 * kept aside and written when it is known, so the record is parsed once. The ECS mapping
 * of each data set then reads the captures only.
 */
#include "parse/azure.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/drops.h"
#include "parse/jsonrec.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>

#define LOG_MODULE "azure"

#define PENDING_MAX 160    /* members kept aside until the data set is known */
#define EXPAND_DEPTH_MAX 2 /* JSON inside a string inside a string... */
#define SNIFF_WINDOW 1024
#define TIME_TEXT_MAX 64
/* values an event keeps free of vendor fields for the ECS mapping and the pipeline */
#define ECS_RESERVE 128

/* ---- data sets ---- */

enum ds {
	DS_SIGNIN,
	DS_AUDIT,
	DS_IDP,
	DS_ACTIVITY,
	DS_FIREWALL,
	DS_APPGW,
	DS_BASTION,
	DS_INTUNE_AUDIT,
	DS_INTUNE_OPS,
	DS_PLATFORM,
	DS_COUNT,
};

static const char *const ds_names[DS_COUNT] = {
	[DS_SIGNIN] = "azure.signinlogs",
	[DS_AUDIT] = "azure.auditlogs",
	[DS_IDP] = "azure.identity_protection",
	[DS_ACTIVITY] = "azure.activitylogs",
	[DS_FIREWALL] = "azure.firewall_logs",
	[DS_APPGW] = "azure.application_gateway",
	[DS_BASTION] = "azure.bastion",
	[DS_INTUNE_AUDIT] = "azure.intune_audit",
	[DS_INTUNE_OPS] = "azure.intune_operational",
	[DS_PLATFORM] = "azure.platformlogs",
};

static const struct {
	const char *category;
	enum ds ds;
	bool prefix; /* category starts with this */
} categories[] = {
	{ "SignInLogs", DS_SIGNIN, false },
	{ "NonInteractiveUserSignInLogs", DS_SIGNIN, false },
	{ "ServicePrincipalSignInLogs", DS_SIGNIN, false },
	{ "ManagedIdentitySignInLogs", DS_SIGNIN, false },
	{ "ADFSSignInLogs", DS_SIGNIN, false },
	{ "AuditLogs", DS_AUDIT, false },
	{ "UserRiskEvents", DS_IDP, false },
	{ "RiskyUsers", DS_IDP, false },
	{ "RiskyServicePrincipals", DS_IDP, false },
	{ "ServicePrincipalRiskEvents", DS_IDP, false },
	{ "Administrative", DS_ACTIVITY, false },
	{ "Security", DS_ACTIVITY, false },
	{ "ServiceHealth", DS_ACTIVITY, false },
	{ "Alert", DS_ACTIVITY, false },
	{ "Recommendation", DS_ACTIVITY, false },
	{ "Policy", DS_ACTIVITY, false },
	{ "Autoscale", DS_ACTIVITY, false },
	{ "ResourceHealth", DS_ACTIVITY, false },
	{ "Action", DS_ACTIVITY, false },
	{ "AzureFirewall", DS_FIREWALL, true },
	{ "AZFW", DS_FIREWALL, true },
	{ "ApplicationGatewayAccessLog", DS_APPGW, false },
	{ "ApplicationGatewayFirewallLog", DS_APPGW, false },
	{ "ApplicationGatewayPerformanceLog", DS_APPGW, false },
	{ "BastionAuditLogs", DS_BASTION, false },
	{ "OperationalLogs", DS_INTUNE_OPS, false },
};

/* Log Analytics tables (the `Type` of a row) of the same data. */
static const struct {
	const char *table;
	enum ds ds;
	bool prefix;
} tables[] = {
	{ "SigninLogs", DS_SIGNIN, false },
	{ "AADNonInteractiveUserSignInLogs", DS_SIGNIN, false },
	{ "AADServicePrincipalSignInLogs", DS_SIGNIN, false },
	{ "AADManagedIdentitySignInLogs", DS_SIGNIN, false },
	{ "ADFSSignInLogs", DS_SIGNIN, false },
	{ "AuditLogs", DS_AUDIT, false },
	{ "AADUserRiskEvents", DS_IDP, false },
	{ "AADRiskyUsers", DS_IDP, false },
	{ "AADRiskyServicePrincipals", DS_IDP, false },
	{ "AADServicePrincipalRiskEvents", DS_IDP, false },
	{ "AzureActivity", DS_ACTIVITY, false },
	{ "AZFW", DS_FIREWALL, true },
	{ "AGWAccessLogs", DS_APPGW, false },
	{ "AGWFirewallLogs", DS_APPGW, false },
	{ "MicrosoftAzureBastionAuditLogs", DS_BASTION, false },
	{ "IntuneAuditLogs", DS_INTUNE_AUDIT, false },
	{ "IntuneOperationalLogs", DS_INTUNE_OPS, false },
};

/* ---- captures: the paths the mappers read ---- */

#define CLAIMS "identity.claims."
#define XMLSOAP_CLAIMS CLAIMS "http://schemas_xmlsoap_org/ws/2005/05/identity/claims/"

#define CAPTURES(X)                                                          \
	X(TIME, "time")                                                      \
	X(TIMESTAMP, "timestamp")                                            \
	X(TIMESTAMP2, "timeStamp")                                           \
	X(CATEGORY, "category")                                              \
	X(OPERATION, "operationName")                                        \
	X(RESULT_TYPE, "resultType")                                         \
	X(RESULT_DESC, "resultDescription")                                  \
	X(RESOURCE_ID, "resourceId")                                         \
	X(TENANT_ID, "tenantId")                                             \
	X(CORRELATION_ID, "correlationId")                                   \
	X(CALLER_IP, "callerIpAddress")                                      \
	X(LEVEL, "level")                                                    \
	X(LEVEL2, "Level")                                                   \
	X(LOCATION, "location")                                              \
	X(DURATION_MS, "durationMs")                                         \
	X(IDENTITY, "identity")                                              \
	X(TYPE, "Type")                                                      \
	X(CALLER, "Caller")                                                  \
	X(P_ID, "properties.id")                                             \
	X(P_UPN, "properties.userPrincipalName")                             \
	X(P_USER_ID, "properties.userId")                                    \
	X(P_USER_DISPLAY, "properties.userDisplayName")                      \
	X(P_IP, "properties.ipAddress")                                      \
	X(P_USER_AGENT, "properties.userAgent")                              \
	X(P_ERROR_CODE, "properties.status.errorCode")                       \
	X(P_FAILURE, "properties.status.failureReason")                      \
	X(P_DETAILS, "properties.status.additionalDetails")                  \
	X(P_CITY, "properties.location.city")                                \
	X(P_STATE, "properties.location.state")                              \
	X(P_COUNTRY, "properties.location.countryOrRegion")                  \
	X(P_LAT, "properties.location.geoCoordinates.latitude")              \
	X(P_LON, "properties.location.geoCoordinates.longitude")             \
	X(P_APP, "properties.appDisplayName")                                \
	X(P_ACTIVITY, "properties.activityDisplayName")                      \
	X(P_OPTYPE, "properties.operationType")                              \
	X(P_RESULT, "properties.result")                                     \
	X(P_RESULT_REASON, "properties.resultReason")                        \
	X(P_INIT_UPN, "properties.initiatedBy.user.userPrincipalName")       \
	X(P_INIT_UID, "properties.initiatedBy.user.id")                      \
	X(P_INIT_IP, "properties.initiatedBy.user.ipAddress")                \
	X(P_INIT_APP, "properties.initiatedBy.app.displayName")              \
	X(P_TARGET_UPN, "properties.targetResources.userPrincipalName")      \
	X(P_RISK_EVENT, "properties.riskEventType")                          \
	X(P_MESSAGE, "properties.message")                                   \
	X(CLAIM_UPN, XMLSOAP_CLAIMS "upn")                                   \
	X(CLAIM_NAME, XMLSOAP_CLAIMS "name")                                 \
	X(CLAIM_APPID, CLAIMS "appid")                                       \
	X(CLAIM_IPADDR, CLAIMS "ipaddr")                                     \
	X(P_MSG, "properties.msg")                                           \
	X(FW_SRC_IP, "properties.SourceIp")                                  \
	X(FW_SRC_PORT, "properties.SourcePort")                              \
	X(FW_DST_IP, "properties.DestinationIp")                             \
	X(FW_DST_PORT, "properties.DestinationPort")                         \
	X(FW_PROTO, "properties.Protocol")                                   \
	X(FW_ACTION, "properties.Action")                                    \
	X(FW_REASON, "properties.ActionReason")                              \
	X(FW_RULE, "properties.Rule")                                        \
	X(FW_RC, "properties.RuleCollection")                                \
	X(FW_FQDN, "properties.Fqdn")                                        \
	X(FW_TARGET_URL, "properties.TargetUrl")                             \
	X(FW_URL, "properties.Url")                                          \
	X(FW_WEBCAT, "properties.WebCategory")                               \
	X(FW_THREAT, "properties.ThreatDescription")                         \
	X(FW_SIG, "properties.SignatureId")                                  \
	X(FW_SIG_CAT, "properties.Category")                                 \
	X(FW_SIG_DESC, "properties.Description")                             \
	X(FW_SEVERITY, "properties.Severity")                                \
	X(FW_QNAME, "properties.QueryName")                                  \
	X(FW_QTYPE, "properties.QueryType")                                  \
	X(FW_QCLASS, "properties.QueryClass")                                \
	X(FW_RCODE, "properties.ResponseCode")                               \
	X(FW_QID, "properties.QueryId")                                      \
	X(FW_NAT_IP, "properties.TranslatedIp")                              \
	X(FW_NAT_PORT, "properties.TranslatedPort")                          \
	X(AG_CLIENT_IP, "properties.clientIP")                               \
	X(AG_CLIENT_IP2, "properties.clientIp")                              \
	X(CLIENT_PORT, "properties.clientPort")                              \
	X(AG_METHOD, "properties.httpMethod")                                \
	X(AG_URI, "properties.requestUri")                                   \
	X(AG_QUERY, "properties.requestQuery")                               \
	X(AG_STATUS, "properties.httpStatus")                                \
	X(AG_VERSION, "properties.httpVersion")                              \
	X(AG_RECEIVED, "properties.receivedBytes")                           \
	X(AG_SENT, "properties.sentBytes")                                   \
	X(AG_TIME_TAKEN, "properties.timeTaken")                             \
	X(AG_HOST, "properties.host")                                        \
	X(AG_HOSTNAME, "properties.hostname")                                \
	X(AG_RULE_ID, "properties.ruleId")                                   \
	X(AG_RULESET, "properties.ruleSetType")                              \
	X(AG_ACTION, "properties.action")                                    \
	X(B_USER, "properties.userName")                                     \
	X(B_CLIENT_IP, "properties.clientIpAddress")                         \
	X(B_PROTOCOL, "properties.protocol")                                 \
	X(B_TARGET_IP, "properties.targetVMIPAddress")                       \
	X(B_START, "properties.sessionStartTime")                            \
	X(B_END, "properties.sessionEndTime")                                \
	X(I_ACTOR_UPN, "properties.Actor.UPN")                               \
	X(I_AUDIT_ID, "properties.AuditEventId")

enum cap_id {
#define CAP_ENUM(id, path) C_##id,
	CAPTURES(CAP_ENUM)
#undef CAP_ENUM
	C_COUNT
};

static const char *const cap_paths[C_COUNT] = {
#define CAP_PATH(id, path) [C_##id] = path,
	CAPTURES(CAP_PATH)
#undef CAP_PATH
};

#define HASH_SEED UINT64_C(0x9e3779b97f4a7c15)
#define HASH_MUL UINT64_C(0xff51afd7ed558ccd)

/*
 * Extends h by s[0..len), eight bytes at a time. A name's hash is the hash of its
 * segments in order ("azure.xxx." then ".key"...), and a name splits into segments one
 * way only (keys hold no '.'), so equal names get equal hashes; the cache compares the
 * names anyway.
 */
static uint64_t hash_more(uint64_t h, const char *s, size_t len)
{
	uint64_t x;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&x, s, 8);
		h = (h ^ x) * HASH_MUL;
		h ^= h >> 29;
	}
	x = len;
	for (size_t i = 0; i < len; i++)
		x |= (uint64_t)(uint8_t)s[i] << (8 * (i + 1) % 64);
	h = (h ^ x) * HASH_MUL;
	return h ^ (h >> 32);
}

/* Hash of a capture path as the walk computes it: segment by segment, '.' included. */
static uint64_t path_hash(const char *path, size_t len)
{
	const char *seg = path, *end = path + len, *dot;
	uint64_t h = HASH_SEED;

	while ((dot = memchr(seg + 1, '.', (size_t)(end - seg - 1)))) {
		h = hash_more(h, seg, (size_t)(dot - seg));
		seg = dot;
	}
	return hash_more(h, seg, (size_t)(end - seg));
}

/* Captures by path hash, built once: a leaf costs one probe (and a compare on a hit). */
#define CAP_SLOTS 1024
static struct {
	uint64_t hash;
	const char *path; /* as indexed (a capture's path or an alias) */
	uint8_t id1;      /* capture id + 1, 0: empty */
	uint8_t len;      /* of path */
} cap_index[CAP_SLOTS];
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

/*
 * Log Analytics rows (the pollers' records, docs/pollers.md) carry the same facts as
 * columns: PascalCase names at the top level, no `properties`. Each path below, and each
 * capture path with its "properties." dropped, finds the same capture; the first path
 * indexed wins when two would collide (the mappers then read both captures).
 */
static const struct {
	const char *path;
	enum cap_id id;
} cap_aliases[] = {
	{ "TimeGenerated", C_TIME },
	{ "OperationName", C_OPERATION },
	{ "ResultType", C_RESULT_TYPE },
	{ "ActivityStatusValue", C_RESULT_TYPE },
	{ "ResultDescription", C_RESULT_DESC },
	{ "ResourceId", C_RESOURCE_ID },
	{ "_ResourceId", C_RESOURCE_ID },
	{ "TenantId", C_TENANT_ID },
	{ "CorrelationId", C_CORRELATION_ID },
	{ "CallerIpAddress", C_CALLER_IP },
	{ "DurationMs", C_DURATION_MS },
	{ "Identity", C_IDENTITY },
	{ "Location", C_LOCATION },
	{ "Id", C_P_ID },
	{ "UserPrincipalName", C_P_UPN },
	{ "UserId", C_P_USER_ID },
	{ "UserDisplayName", C_P_USER_DISPLAY },
	{ "IPAddress", C_P_IP },
	{ "IpAddress", C_P_IP },
	{ "UserAgent", C_P_USER_AGENT },
	{ "properties.additionalInfo.userAgent", C_P_USER_AGENT },
	{ "properties.additionalDetails.User-Agent", C_P_USER_AGENT },
	{ "AdditionalInfo.userAgent", C_P_USER_AGENT },
	{ "AdditionalDetails.User-Agent", C_P_USER_AGENT },
	{ "Status.errorCode", C_P_ERROR_CODE },
	{ "Status.failureReason", C_P_FAILURE },
	{ "Status.additionalDetails", C_P_DETAILS },
	{ "LocationDetails.city", C_P_CITY },
	{ "LocationDetails.state", C_P_STATE },
	{ "LocationDetails.countryOrRegion", C_P_COUNTRY },
	{ "Location.city", C_P_CITY },
	{ "Location.state", C_P_STATE },
	{ "Location.countryOrRegion", C_P_COUNTRY },
	{ "LocationDetails.geoCoordinates.latitude", C_P_LAT },
	{ "LocationDetails.geoCoordinates.longitude", C_P_LON },
	{ "Location.geoCoordinates.latitude", C_P_LAT },
	{ "Location.geoCoordinates.longitude", C_P_LON },
	{ "AppDisplayName", C_P_APP },
	{ "ActivityDisplayName", C_P_ACTIVITY },
	{ "Result", C_P_RESULT },
	{ "ResultReason", C_P_RESULT_REASON },
	{ "InitiatedBy.user.userPrincipalName", C_P_INIT_UPN },
	{ "InitiatedBy.user.id", C_P_INIT_UID },
	{ "InitiatedBy.user.ipAddress", C_P_INIT_IP },
	{ "InitiatedBy.app.displayName", C_P_INIT_APP },
	{ "TargetResources.userPrincipalName", C_P_TARGET_UPN },
	{ "RiskEventType", C_P_RISK_EVENT },
	{ "Message", C_P_MESSAGE },
	{ "ClientIp", C_AG_CLIENT_IP2 },
	{ "ClientPort", C_CLIENT_PORT },
	{ "HttpMethod", C_AG_METHOD },
	{ "RequestUri", C_AG_URI },
	{ "RequestQuery", C_AG_QUERY },
	{ "HttpStatus", C_AG_STATUS },
	{ "HttpVersion", C_AG_VERSION },
	{ "ReceivedBytes", C_AG_RECEIVED },
	{ "SentBytes", C_AG_SENT },
	{ "TimeTaken", C_AG_TIME_TAKEN },
	{ "Host", C_AG_HOST },
	{ "Hostname", C_AG_HOSTNAME },
	{ "RuleId", C_AG_RULE_ID },
	{ "RuleSetType", C_AG_RULESET },
	{ "UserName", C_B_USER },
	{ "ClientIpAddress", C_B_CLIENT_IP },
	{ "TargetVMIPAddress", C_B_TARGET_IP },
	{ "SessionStartTime", C_B_START },
	{ "SessionEndTime", C_B_END },
};

static void index_path(const char *path, size_t len, unsigned id)
{
	uint64_t h = path_hash(path, len);
	unsigned s = (unsigned)h & (CAP_SLOTS - 1);

	for (; cap_index[s].id1; s = (s + 1) & (CAP_SLOTS - 1))
		if (cap_index[s].hash == h && cap_index[s].len == len &&
		    !memcmp(cap_index[s].path, path, len))
			return; /* indexed already: the first path wins */
	cap_index[s].hash = h;
	cap_index[s].path = path;
	cap_index[s].id1 = (uint8_t)(id + 1);
	cap_index[s].len = (uint8_t)len;
}

static void build_index(void)
{
	static const char props[] = "properties.";

	for (unsigned i = 0; i < C_COUNT; i++)
		index_path(cap_paths[i], strlen(cap_paths[i]), i);
	for (size_t i = 0; i < ARRAY_SIZE(cap_aliases); i++)
		index_path(cap_aliases[i].path, strlen(cap_aliases[i].path), cap_aliases[i].id);
	for (unsigned i = 0; i < C_COUNT; i++)
		if (!strncmp(cap_paths[i], props, sizeof(props) - 1))
			index_path(cap_paths[i] + sizeof(props) - 1,
				   strlen(cap_paths[i]) - (sizeof(props) - 1), i);
}

_Static_assert(C_COUNT < 256, "capture ids fit a byte");
_Static_assert(sizeof(XMLSOAP_CLAIMS "upn") < 256, "capture paths fit a byte");

/* ---- counters ---- */

enum drop_reason { DROP_NAME_LONG, DROP_BUDGET, DROP_EVENT_FULL, DROP_COUNT };
static const char *const drop_names[DROP_COUNT] = { "name_too_long", "name_budget",
						    "event_full" };
static _Atomic uint64_t dropped[DROP_COUNT];
static struct drops azure_drops = DROPS_INIT("azure", drop_names, dropped);
static _Atomic unsigned interned; /* vendor names this decoder registered */

uint64_t azure_fields_dropped(void)
{
	return drops_total(&azure_drops);
}

int azure_configure(const struct config *c, struct err *e)
{
	return drops_register(&azure_drops, e);
}

/* ---- the walk ---- */

struct cap {
	const char *s;
	uint32_t len;
	uint8_t type; /* enum jsonin_type; JSONIN_NONE: not seen */
};

struct pending {
	const char *key; /* in the record or the arena, or a literal */
	size_t klen;
	struct jsonin_value v; /* a scalar, or raw text of a container in s/len */
	bool raw;
};

struct walk {
	struct event *ev;
	int ds; /* enum ds, or -1 while not known */
	size_t prefix;  /* length of "azure.xxx." in name */
	unsigned npend;
	unsigned expand_depth;
	bool full; /* the event has no room for more values */
	struct cap cap[C_COUNT];
	/* not cleared per record: */
	char name[FIELD_NAME_MAX + 1];
	uint64_t hash[FIELD_NAME_MAX + 1]; /* hash[i]: of name[0..i), along the path */
	struct pending pend[PENDING_MAX];
};

static size_t skip_ws(const char *p, size_t i, size_t len)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

static bool eq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && !memcmp(s, lit, n);
}

static bool ieq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && !strncasecmp(s, lit, n);
}

/* Records v when path[0..len) (hash h, as path_hash computes it) is a capture. */
/* The capture that path[0..len) (hash h, as path_hash computes it) is, or -1. */
static int capture_id(const char *path, size_t len, uint64_t h)
{
	for (unsigned s = (unsigned)h & (CAP_SLOTS - 1); cap_index[s].id1;
	     s = (s + 1) & (CAP_SLOTS - 1))
		if (cap_index[s].hash == h && cap_index[s].len == len &&
		    !memcmp(cap_index[s].path, path, len))
			return cap_index[s].id1 - 1;
	return -1;
}

/* Records v as capture id (the first value seen wins). */
static void set_capture(struct walk *w, int id, const struct jsonin_value *v)
{
	if (id >= 0 && w->cap[id].type == JSONIN_NONE)
		w->cap[id] = (struct cap){ v->s, (uint32_t)v->len, (uint8_t)v->type };
}

/*
 * Vendor ids by name hash, per thread: field_lookup hashes the whole name under a lock,
 * while the walk extends a running hash by each key (w->hash), so a repeated name costs
 * a probe and one comparison. Zeroed slots are empty (id 0 is never a vendor field).
 */
#define ID_CACHE_SIZE 2048
static __thread struct {
	uint64_t hash;
	const char *name; /* the interned name (lives as long as the process) */
	int32_t id;       /* vendor field id, > 0 */
	int16_t cap;      /* capture id, -1: none */
	uint16_t len;
} id_cache[ID_CACHE_SIZE];

/* What a member's name stands for: its vendor field and its capture. */
struct name_ref {
	int id;  /* vendor field id, or negative: not kept (budget, another type, error) */
	int cap; /* capture id, or -1 */
};

/*
 * The vendor string field of name[0..len), registering it within the budget; -ENOSPC
 * past the budget, -EEXIST when another module registered the name with another type.
 */
static int vendor_id(const char *name, size_t len)
{
	int id = field_lookup(name, len);

	if (id == -ENOENT) {
		if (atomic_fetch_add_explicit(&interned, 1, memory_order_relaxed) >=
		    AZURE_FIELD_BUDGET) {
			atomic_fetch_sub_explicit(&interned, 1, memory_order_relaxed);
			drops_count(&azure_drops, DROP_BUDGET, 1);
			return -ENOSPC;
		}
		id = field_intern(name, len, FT_STR);
	}
	if (id >= 0 && field_type((unsigned)id) != FT_STR)
		return -EEXIST;
	return id;
}

/* Looks up name[0..end) (the cache first: one comparison answers both questions). */
static struct name_ref lookup_name(const struct walk *w, size_t end)
{
	uint64_t h = w->hash[end] ^ (uint64_t)(w->ds + 1) * HASH_SEED; /* per data set */
	unsigned slot = (unsigned)(h ^ (h >> 32)) & (ID_CACHE_SIZE - 1);
	struct name_ref r;

	if (id_cache[slot].hash == h && id_cache[slot].len == end &&
	    !memcmp(id_cache[slot].name, w->name, end))
		return (struct name_ref){ id_cache[slot].id, id_cache[slot].cap };
	r.cap = capture_id(w->name + w->prefix, end - w->prefix, w->hash[end]);
	r.id = vendor_id(w->name, end);
	if (r.id > 0) {
		id_cache[slot].hash = h;
		id_cache[slot].name = field_name((unsigned)r.id);
		id_cache[slot].id = r.id;
		id_cache[slot].cap = (int16_t)r.cap;
		id_cache[slot].len = (uint16_t)end;
	}
	return r;
}

/* A leaf at name[0..end): captured, and kept as a vendor field. */
static int leaf(struct walk *w, size_t end, const struct jsonin_value *v)
{
	struct name_ref r;
	int rc;

	if (v->type == JSONIN_NULL)
		return 0; /* absent, for the captures too */
	r = lookup_name(w, end);
	set_capture(w, r.cap, v);
	if (w->full || w->ev->n >= EVENT_MAX_VALUES - ECS_RESERVE) {
		w->full = true;
		drops_count(&azure_drops, DROP_EVENT_FULL, 1);
		return 0;
	}
	/* past the budget, or a name another module typed: event.original keeps it */
	if (r.id < 0)
		return r.id == -ENOSPC || r.id == -EEXIST ? 0 : r.id;
	rc = event_add_str(w->ev, (unsigned)r.id, v->s, v->len);
	if (rc == -ENOSPC) {
		w->full = true;
		drops_count(&azure_drops, DROP_EVENT_FULL, 1);
		return 0;
	}
	return rc;
}

/*
 * Appends ".key" (or "key" right after the prefix) to name at end and its hash at the new
 * end (w->hash[i] is the hash of name[0..i) for every end on the current path); returns
 * the new end, or -1 when the name would be too long.
 */
static long append_key(struct walk *w, size_t end, const char *k, size_t klen)
{
	size_t sep = end > w->prefix ? 1 : 0, at = end + sep;

	if (at + klen > FIELD_NAME_MAX || !klen) {
		drops_count(&azure_drops, DROP_NAME_LONG, 1);
		return -1;
	}
	if (sep)
		w->name[end] = '.';
	memcpy(w->name + at, k, klen);
	for (char *dot = memchr(w->name + at, '.', klen); dot; /* a '.' would nest when written */
	     dot = memchr(dot, '.', (size_t)(w->name + at + klen - dot)))
		*dot = '_';
	w->hash[at + klen] = hash_more(w->hash[end], w->name + end, sep + klen);
	return (long)(at + klen);
}

static int flatten(struct walk *w, struct jsonin *j, const struct jsonin_value *v, size_t end);
static int flatten_object(struct walk *w, struct jsonin *j, size_t end);

/* A string that holds a whole JSON object or array is read as one (once validated). */
static bool expand_string(struct walk *w, const struct jsonin_value *v, size_t end, int *rc)
{
	size_t i = skip_ws(v->s, 0, v->len);
	struct jsonin probe, j;
	struct jsonin_value inner;

	*rc = 0;
	if (w->expand_depth >= EXPAND_DEPTH_MAX || i >= v->len ||
	    (v->s[i] != '{' && v->s[i] != '['))
		return false;
	jsonin_init(&probe, v->s, v->len, NULL, JSONIN_REPLACE_SURROGATES);
	if (jsonin_skip_value(&probe) < 0 || jsonin_finish(&probe, NULL) < 0)
		return false;
	jsonin_init(&j, v->s, v->len, w->ev->arena, JSONIN_REPLACE_SURROGATES);
	w->expand_depth++;
	if ((*rc = jsonin_value(&j, &inner)) == 0 && (*rc = flatten(w, &j, &inner, end)) == 0)
		*rc = jsonin_finish(&j, NULL);
	w->expand_depth--;
	return true;
}

static bool is_scalar(const struct jsonin_value *v)
{
	return v->type != JSONIN_OBJECT && v->type != JSONIN_ARRAY && v->type != JSONIN_NULL;
}

/*
 * The members of the object just entered, under name[0..end). An object that is exactly
 * {"Key": NAME, "Value": V} (either case; Identity Protection's additionalInfo, audit
 * additionalDetails) also gives the field NAME = V under the same path.
 */
static int flatten_object(struct walk *w, struct jsonin *j, size_t end)
{
	struct jsonin_value k, x, kv_key = { .type = JSONIN_NONE }, kv_val = { .type = JSONIN_NONE };
	unsigned members = 0;
	long next;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		members++;
		next = append_key(w, end, k.s, k.len);
		if (next < 0) {
			rc = jsonin_skip_value(j);
		} else if ((rc = jsonin_value(j, &x)) == 0) {
			if ((jsonin_key_is(&k, "Key") || jsonin_key_is(&k, "key")) &&
			    x.type == JSONIN_STRING)
				kv_key = x;
			else if ((jsonin_key_is(&k, "Value") || jsonin_key_is(&k, "value")) &&
				 is_scalar(&x))
				kv_val = x;
			rc = flatten(w, j, &x, (size_t)next);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0 || members != 2 || kv_key.type == JSONIN_NONE || kv_val.type == JSONIN_NONE)
		return rc;
	next = append_key(w, end, kv_key.s, kv_key.len);
	return next < 0 ? 0 : leaf(w, (size_t)next, &kv_val);
}

/* Flattens v (just read from j) whose path is name[0..end). */
static int flatten(struct walk *w, struct jsonin *j, const struct jsonin_value *v, size_t end)
{
	struct jsonin_value x;
	int rc;

	switch (v->type) {
	case JSONIN_OBJECT:
		return flatten_object(w, j, end);
	case JSONIN_ARRAY:
		while ((rc = jsonin_more(j)) > 0)
			if ((rc = jsonin_value(j, &x)) < 0 || (rc = flatten(w, j, &x, end)) < 0)
				return rc;
		return rc;
	case JSONIN_STRING:
		if (expand_string(w, v, end, &rc))
			return rc;
		return leaf(w, end, v);
	default:
		return leaf(w, end, v);
	}
}

/* Flattens a top-level member given as its key and scalar or raw container text. */
static int flatten_member(struct walk *w, const struct pending *p)
{
	struct jsonin j;
	struct jsonin_value v;
	long end = append_key(w, w->prefix, p->key, p->klen);
	int rc;

	if (end < 0)
		return 0;
	if (!p->raw)
		return flatten(w, NULL, &p->v, (size_t)end);
	jsonin_init(&j, p->v.s, p->v.len, w->ev->arena, JSONIN_REPLACE_SURROGATES);
	if ((rc = jsonin_value(&j, &v)) < 0 || (rc = flatten(w, &j, &v, (size_t)end)) < 0)
		return rc;
	return jsonin_finish(&j, NULL);
}

static bool resource_is_intune(const struct walk *w)
{
	const struct cap *r = &w->cap[C_RESOURCE_ID];
	static const char needle[] = "/providers/microsoft.intune";
	size_t n = sizeof(needle) - 1;

	for (size_t i = 0; r->len >= n && i <= r->len - n; i++)
		if (!strncasecmp(r->s + i, needle, n))
			return true;
	return false;
}

static enum ds dataset_of(const struct walk *w)
{
	const struct cap *c = &w->cap[C_TYPE];

	if (c->type == JSONIN_STRING) /* a Log Analytics row */
		for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
			size_t n = strlen(tables[i].table);

			if (tables[i].prefix ? c->len >= n && !strncasecmp(c->s, tables[i].table, n)
					     : ieq(c->s, c->len, tables[i].table))
				return tables[i].ds;
		}
	c = &w->cap[C_CATEGORY];
	if (c->type != JSONIN_STRING)
		return DS_PLATFORM;
	for (size_t i = 0; i < ARRAY_SIZE(categories); i++) {
		size_t n = strlen(categories[i].category);

		if (categories[i].prefix ? c->len >= n && !strncasecmp(c->s, categories[i].category, n)
					 : ieq(c->s, c->len, categories[i].category)) {
			if (categories[i].ds == DS_AUDIT && resource_is_intune(w))
				return DS_INTUNE_AUDIT;
			return categories[i].ds;
		}
	}
	return DS_PLATFORM;
}

/* Whether enough is known to pick the data set before the end of the record. */
static bool can_decide(const struct walk *w)
{
	const struct cap *c = &w->cap[C_CATEGORY];

	if (w->cap[C_TYPE].type != JSONIN_NONE) /* a Log Analytics row's table */
		return true;
	if (c->type == JSONIN_NONE)
		return false;
	return !ieq(c->s, c->len, "AuditLogs") || w->cap[C_RESOURCE_ID].type != JSONIN_NONE;
}

static int decide(struct walk *w)
{
	const char *n;
	int rc;

	w->ds = dataset_of(w);
	n = ds_names[w->ds];
	w->prefix = strlen(n) + 1;
	memcpy(w->name, n, w->prefix - 1);
	w->name[w->prefix - 1] = '.';
	w->hash[w->prefix] = HASH_SEED; /* paths hash alike in every data set */
	for (unsigned i = 0; i < w->npend; i++)
		if ((rc = flatten_member(w, &w->pend[i])) < 0)
			return rc;
	w->npend = 0;
	return 0;
}

/* Keeps a top-level member aside (the data set is not known yet). */
static int hold(struct walk *w, struct jsonin *j, const char *key, size_t klen)
{
	struct pending *p;
	size_t at = skip_ws(j->p, j->pos, j->len);
	int rc;

	if (w->npend == PENDING_MAX)
		return 1; /* no room: the caller decides now */
	p = &w->pend[w->npend];
	p->key = key;
	p->klen = klen;
	p->raw = at < j->len && (j->p[at] == '{' || j->p[at] == '[');
	if (p->raw) {
		p->v.type = JSONIN_OBJECT;
		rc = jsonin_raw_value(j, &p->v.s, &p->v.len);
	} else if ((rc = jsonin_value(j, &p->v)) == 0) {
		set_capture(w, capture_id(key, klen, hash_more(HASH_SEED, key, klen)), &p->v);
	}
	if (rc < 0)
		return rc;
	w->npend++;
	return 0;
}

/* Reads the record object; the walk's captures and vendor fields are filled. */
static int walk_record(struct walk *w, const char *p, size_t len, struct err *e)
{
	struct jsonin j;
	struct jsonin_value v, k;
	int rc;

	jsonin_init(&j, p, len, w->ev->arena, JSONIN_REPLACE_SURROGATES);
	if ((rc = jsonin_value(&j, &v)) < 0)
		goto fail;
	if (v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "byte %zu: expected a JSON object (an Azure record)",
			       v.offset);
	while ((rc = jsonin_key(&j, &k)) > 0) {
		/* Intune writes Properties */
		const char *key = eq(k.s, k.len, "Properties") ? "properties" : k.s;

		if (w->ds < 0) {
			if ((rc = hold(w, &j, key, k.len)) < 0)
				goto fail;
			if (rc == 0) { /* held: written when the data set is known */
				if (can_decide(w) && (rc = decide(w)) < 0)
					goto fail;
				continue;
			}
			if ((rc = decide(w)) < 0) /* no room to hold more: decide now */
				goto fail;
		}
		{
			long end = append_key(w, w->prefix, key, k.len);

			if (end < 0)
				rc = jsonin_skip_value(&j);
			else if ((rc = jsonin_value(&j, &v)) == 0)
				rc = flatten(w, &j, &v, (size_t)end);
		}
		if (rc < 0)
			goto fail;
	}
	if (rc < 0 || (rc = jsonin_finish(&j, e)) < 0)
		goto fail;
	if (w->ds < 0 && (rc = decide(w)) < 0)
		goto fail;
	return 0;
fail:
	if (j.rc)
		return jsonin_error(&j, e);
	return err_set(e, rc, "cannot build the event: %s", strerror(-rc));
}

/* ---- ECS helpers: they read captures ---- */

static const struct cap *get(const struct walk *w, enum cap_id id)
{
	const struct cap *c = &w->cap[id];

	return c->type == JSONIN_NONE || c->type == JSONIN_NULL || !c->len ? NULL : c;
}

/* The first present capture of a and b. */
static const struct cap *either(const struct walk *w, enum cap_id a, enum cap_id b)
{
	const struct cap *c = get(w, a);

	return c ? c : get(w, b);
}

static int put_lit(struct event *ev, unsigned f, const char *lit)
{
	return event_set_str(ev, f, lit, strlen(lit));
}

static int put_str(struct event *ev, unsigned f, const struct cap *c)
{
	return c ? event_set_str(ev, f, c->s, c->len) : 0;
}

/* An integer written as a JSON number or as a string of digits; false otherwise. */
static bool cap_int(const struct cap *c, int64_t *out)
{
	return c && (c->type == JSONIN_NUMBER || c->type == JSONIN_STRING) &&
	       jsonin_int(c->s, c->len, out) == 0;
}

/* An integer into f when it is a value f holds (field_int_valid: ports, counts). */
static int put_int(struct event *ev, unsigned f, const struct cap *c)
{
	int64_t x;

	return cap_int(c, &x) && field_int_valid(f, x) ? event_set_int(ev, f, x) : 0;
}

/* put_int for a number in text (absent when it is none). */
static int put_int_text(struct event *ev, unsigned f, const char *s, size_t len)
{
	int64_t x;

	if (jsonin_int(s, len, &x) < 0 || !field_int_valid(f, x))
		return 0;
	return event_set_int(ev, f, x);
}

/* An IP into f and related.ip; 1 when it was one, 0 when not an address. */
static int put_ip_text(struct event *ev, unsigned f, const char *s, size_t len)
{
	struct ipaddr ip;
	int rc;

	if (!len || ipaddr_parse(&ip, s, len) < 0)
		return 0;
	if ((rc = event_set_ip(ev, f, &ip)) < 0 || (rc = event_add_ip_once(ev, FIELD_RELATED_IP, &ip)) < 0)
		return rc;
	return 1;
}

static int put_ip(struct event *ev, unsigned f, const struct cap *c)
{
	return c ? put_ip_text(ev, f, c->s, c->len) : 0;
}

/* Source address: .address as written, then .ip (or .domain when not an address). */
static int put_endpoint(struct event *ev, bool source, const char *s, size_t len)
{
	int rc;

	if (!len)
		return 0;
	if ((rc = event_set_str(ev, source ? FIELD_SOURCE_ADDRESS : FIELD_DESTINATION_ADDRESS, s,
				len)) < 0 ||
	    (rc = put_ip_text(ev, source ? FIELD_SOURCE_IP : FIELD_DESTINATION_IP, s, len)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = event_set_str(ev, source ? FIELD_SOURCE_DOMAIN : FIELD_DESTINATION_DOMAIN, s,
				len)) < 0)
		return rc;
	return event_add_str_once(ev, FIELD_RELATED_HOSTS, s, len);
}

/* The captured source address (when present) into source.*. */
static int put_source(struct event *ev, const struct cap *c)
{
	return c ? put_endpoint(ev, true, c->s, c->len) : 0;
}

/*
 * A user as Entra writes it: `user@domain` gives user.name, user.domain and user.email;
 * `DOMAIN\user` gives user.name and user.domain; anything else is user.name whole. The
 * whole string goes to related.user.
 */
static int put_user(struct event *ev, const struct cap *c)
{
	const char *at, *bs;
	int rc;

	if (!c || c->type != JSONIN_STRING)
		return 0;
	if ((rc = event_add_str_once(ev, FIELD_RELATED_USER, c->s, c->len)) < 0)
		return rc;
	if ((at = memchr(c->s, '@', c->len)) && at > c->s && at < c->s + c->len - 1) {
		size_t nlen = (size_t)(at - c->s);

		if ((rc = event_set_str(ev, FIELD_USER_NAME, c->s, nlen)) < 0 ||
		    (rc = event_set_str(ev, FIELD_USER_DOMAIN, at + 1, c->len - nlen - 1)) < 0)
			return rc;
		return event_set_str(ev, FIELD_USER_EMAIL, c->s, c->len);
	}
	if ((bs = memchr(c->s, '\\', c->len)) && bs > c->s && bs < c->s + c->len - 1) {
		size_t dlen = (size_t)(bs - c->s);

		if ((rc = event_set_str(ev, FIELD_USER_DOMAIN, c->s, dlen)) < 0)
			return rc;
		return event_set_str(ev, FIELD_USER_NAME, bs + 1, c->len - dlen - 1);
	}
	return event_set_str(ev, FIELD_USER_NAME, c->s, c->len);
}

static int put_category(struct event *ev, const char *category, const char *type)
{
	int rc = event_add_str(ev, FIELD_EVENT_CATEGORY, category, strlen(category));

	return rc < 0 ? rc : event_add_str(ev, FIELD_EVENT_TYPE, type, strlen(type));
}

/* ---- times ---- */

static bool digits(const char **p, const char *end, int min, int max, int *out)
{
	int n = 0, v = 0;

	while (*p < end && **p >= '0' && **p <= '9' && n < max) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n >= min;
}

static bool lit(const char **p, const char *end, char c)
{
	if (*p < end && **p == c) {
		(*p)++;
		return true;
	}
	return false;
}

/* "8/22/2022 6:07:16 PM" (US locale, UTC, as Identity Protection writes it). */
static int parse_us_time(const char *s, size_t len, int64_t *ns)
{
	const char *p = s, *end = s + len;
	struct civil_time c = { 0 };

	if (!digits(&p, end, 1, 2, &c.month) || !lit(&p, end, '/') ||
	    !digits(&p, end, 1, 2, &c.day) || !lit(&p, end, '/') ||
	    !digits(&p, end, 4, 4, &c.year) || !lit(&p, end, ' ') ||
	    !digits(&p, end, 1, 2, &c.hour) || !lit(&p, end, ':') ||
	    !digits(&p, end, 2, 2, &c.min) || !lit(&p, end, ':') || !digits(&p, end, 2, 2, &c.sec))
		return -EINVAL;
	if (end - p == 3 && p[0] == ' ' && (p[2] == 'M' || p[2] == 'm')) {
		bool pm = p[1] == 'P' || p[1] == 'p';

		if ((!pm && p[1] != 'A' && p[1] != 'a') || c.hour < 1 || c.hour > 12)
			return -EINVAL;
		c.hour = c.hour % 12 + (pm ? 12 : 0);
		p = end;
	}
	/* 1678-2261: what 64-bit nanoseconds hold, as time_parse_rfc3339 */
	if (p != end || c.year < 1678 || c.year > 2261 || c.month < 1 || c.month > 12 || c.day < 1 ||
	    c.day > time_days_in_month(c.year, c.month) || c.hour > 23 || c.min > 59 ||
	    c.sec > 59)
		return -EINVAL;
	*ns = time_from_civil_utc(&c);
	return 0;
}

/* RFC 3339 with any fraction; without a zone it is UTC (Azure's times are); or US style. */
static int parse_time(const char *s, size_t len, int64_t *ns)
{
	char buf[TIME_TEXT_MAX + 1];
	size_t bad = 0;

	if (time_parse_rfc3339(s, len, ns, &bad) == 0)
		return 0;
	if (bad == len && len >= 19 && len < TIME_TEXT_MAX) {
		memcpy(buf, s, len);
		buf[len] = 'Z';
		if (time_parse_rfc3339(buf, len + 1, ns, &bad) == 0)
			return 0;
	}
	return parse_us_time(s, len, ns);
}

static int put_time(struct event *ev, unsigned f, const struct cap *c)
{
	int64_t ns;

	if (!c || c->type != JSONIN_STRING || parse_time(c->s, c->len, &ns) < 0)
		return 0;
	return event_set_time(ev, f, ns);
}

/* ---- the parts every data set shares ---- */

/* "/SUBSCRIPTIONS/<id>/..." gives the subscription id. */
static bool resource_part(const struct cap *r, const char *key, const char **s, size_t *len)
{
	size_t n = strlen(key);

	if (!r || r->len <= n || strncasecmp(r->s, key, n))
		return false;
	*s = r->s + n;
	*len = 0;
	while (*len < r->len - n && (*s)[*len] != '/')
		(*len)++;
	return *len > 0;
}

/* The last segment of a resource id: the firewall's, gateway's or bastion's name. */
static int put_resource_name(struct event *ev, unsigned f, const struct cap *r)
{
	const char *slash;

	if (!r || !(slash = memrchr(r->s, '/', r->len)) || slash == r->s + r->len - 1)
		return 0;
	return event_set_str(ev, f, slash + 1, (size_t)(r->s + r->len - slash - 1));
}

static int map_common(struct walk *w, struct err *e)
{
	struct event *ev = w->ev;
	const struct cap *t = get(w, C_TIME), *c;
	const char *sub;
	size_t sublen;
	int64_t ns;
	int rc;

	if (!t)
		t = either(w, C_TIMESTAMP, C_TIMESTAMP2);
	if ((rc = put_lit(ev, FIELD_EVENT_MODULE, "azure")) < 0 ||
	    (rc = put_lit(ev, FIELD_EVENT_DATASET, ds_names[w->ds])) < 0 ||
	    (rc = put_lit(ev, FIELD_CLOUD_PROVIDER, "azure")) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ACTION, get(w, C_OPERATION))) < 0 ||
	    (rc = put_str(ev, FIELD_LOG_LEVEL, either(w, C_LEVEL, C_LEVEL2))) < 0)
		return rc;
	if ((c = get(w, C_TENANT_ID)))
		rc = put_str(ev, FIELD_CLOUD_ACCOUNT_ID, c);
	else if (resource_part(get(w, C_RESOURCE_ID), "/subscriptions/", &sub, &sublen))
		rc = event_set_str(ev, FIELD_CLOUD_ACCOUNT_ID, sub, sublen);
	if (rc < 0)
		return rc;
	if (cap_int(get(w, C_DURATION_MS), &ns) && ns > 0 && ns < INT64_MAX / 1000000 &&
	    (rc = event_set_int(ev, FIELD_EVENT_DURATION, ns * 1000000)) < 0)
		return rc;
	if (!t)
		return 0; /* no time: the receive time stays */
	if (t->type != JSONIN_STRING || parse_time(t->s, t->len, &ns) < 0)
		return err_set(e, -EINVAL,
			       "field time: expected an RFC 3339 or M/d/yyyy h:mm:ss AM|PM "
			       "time, found '%.*s'",
			       (int)json_utf8_cut(t->s, t->len, 64), t->s);
	return event_set_time(ev, FIELD_TIMESTAMP, ns);
}

/* ECS outcome from a word the services use (success, Succeeded, Failure, Intune's Fail...). */
static const char *outcome_of(const struct cap *c)
{
	if (!c)
		return NULL;
	if (ieq(c->s, c->len, "success") || ieq(c->s, c->len, "succeeded") ||
	    ieq(c->s, c->len, "0"))
		return "success";
	if (ieq(c->s, c->len, "failure") || ieq(c->s, c->len, "failed") ||
	    ieq(c->s, c->len, "fail"))
		return "failure";
	return NULL;
}

static int put_outcome(struct event *ev, const char *o)
{
	return o ? put_lit(ev, FIELD_EVENT_OUTCOME, o) : 0;
}

/*
 * A coordinate written as a JSON number or a string of one, within [-limit, limit] degrees
 * (latitude 90, longitude 180); kept as written. Anything else is left out (the member
 * itself stays in azure.*).
 */
static bool cap_degrees(const struct cap *c, double limit)
{
	char text[40], *end;
	double x;

	if (!c || (c->type != JSONIN_NUMBER && c->type != JSONIN_STRING) || !c->len ||
	    c->len >= sizeof(text) || !jsonin_is_number(c->s, c->len))
		return false;
	memcpy(text, c->s, c->len);
	text[c->len] = '\0';
	errno = 0;
	x = strtod(text, &end);
	return !errno && end == text + c->len && isfinite(x) && fabs(x) <= limit;
}

/*
 * source.geo.location, ECS's geo_point {"lat":N,"lon":N} with the numbers as written (JSON
 * numbers, also when Azure sent strings): both coordinates or neither, half a point locates
 * nothing.
 */
static int put_geo_point(struct walk *w)
{
	static const char fmt[] = "{\"lat\":%.*s,\"lon\":%.*s}";
	const struct cap *lat = get(w, C_P_LAT), *lon = get(w, C_P_LON);
	size_t n;
	char *obj;

	if (!cap_degrees(lat, 90) || !cap_degrees(lon, 180))
		return 0;
	n = sizeof(fmt) + lat->len + lon->len; /* more than the text: %.*s twice is 8 bytes */
	if (!(obj = arena_alloc(w->ev->arena, n)))
		return -ENOMEM;
	n = (size_t)snprintf(obj, n, fmt, (int)lat->len, lat->s, (int)lon->len, lon->s);
	return event_add_obj(w->ev, FIELD_SOURCE_GEO_LOCATION, obj, n);
}

static int put_geo(struct walk *w)
{
	struct event *ev = w->ev;
	int rc;

	if ((rc = put_str(ev, FIELD_SOURCE_GEO_CITY_NAME, get(w, C_P_CITY))) < 0 ||
	    (rc = put_str(ev, FIELD_SOURCE_GEO_REGION_NAME, get(w, C_P_STATE))) < 0 ||
	    (rc = put_geo_point(w)) < 0)
		return rc;
	return put_str(ev, FIELD_SOURCE_GEO_COUNTRY_ISO_CODE, get(w, C_P_COUNTRY));
}

/* ---- data sets ---- */

static int map_signin(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *code = get(w, C_P_ERROR_CODE), *reason = get(w, C_P_FAILURE);
	const struct cap *details = get(w, C_P_DETAILS), *ip = either(w, C_P_IP, C_CALLER_IP);
	const char *outcome = "success";
	int64_t n;
	int rc;

	if (code ? !cap_int(code, &n) || n != 0 : get(w, C_RESULT_TYPE) &&
						    !ieq(w->cap[C_RESULT_TYPE].s,
							 w->cap[C_RESULT_TYPE].len, "0"))
		outcome = "failure";
	if ((rc = put_category(ev, "authentication", outcome[0] == 's' ? "start" : "info")) < 0 ||
	    (rc = put_outcome(ev, outcome)) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ID, get(w, C_P_ID))) < 0 ||
	    (rc = put_user(ev, get(w, C_P_UPN))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_ID, get(w, C_P_USER_ID))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_FULL_NAME, get(w, C_P_USER_DISPLAY))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_AGENT_ORIGINAL, get(w, C_P_USER_AGENT))) < 0 ||
	    (rc = put_str(ev, FIELD_SERVICE_NAME, get(w, C_P_APP))) < 0 ||
	    (rc = put_source(ev, ip)) < 0 ||
	    (rc = put_geo(w)) < 0)
		return rc;
	if (code && (rc = event_set_str(ev, FIELD_EVENT_CODE, code->s, code->len)) < 0)
		return rc;
	if (outcome[0] == 'f' && reason) {
		const char *text = reason->s;
		size_t len = reason->len;

		if (details) { /* "reason (details)" */
			char *m;

			len = reason->len + details->len + 3;
			if (!(m = arena_alloc(ev->arena, len)))
				return -ENOMEM;
			memcpy(m, reason->s, reason->len);
			memcpy(m + reason->len, " (", 2);
			memcpy(m + reason->len + 2, details->s, details->len);
			m[len - 1] = ')';
			text = m;
		}
		if ((rc = event_set_str(ev, FIELD_EVENT_REASON, text, len)) < 0)
			return rc;
		return event_set_str(ev, FIELD_MESSAGE, text, len);
	}
	return 0;
}

static const char *iam_type(const struct cap *optype)
{
	if (!optype)
		return "info";
	if (ieq(optype->s, optype->len, "Add") || ieq(optype->s, optype->len, "Create"))
		return "creation";
	if (ieq(optype->s, optype->len, "Delete") || ieq(optype->s, optype->len, "Remove"))
		return "deletion";
	return "change";
}

static int map_audit(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *target = get(w, C_P_TARGET_UPN);
	int rc;

	if ((rc = put_category(ev, "iam", iam_type(get(w, C_P_OPTYPE)))) < 0 ||
	    (rc = put_outcome(ev, outcome_of(get(w, C_P_RESULT)))) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ID, get(w, C_P_ID))) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ACTION, get(w, C_P_ACTIVITY))) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_REASON, get(w, C_P_RESULT_REASON))) < 0 ||
	    (rc = put_user(ev, get(w, C_P_INIT_UPN))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_ID, get(w, C_P_INIT_UID))) < 0 ||
	    (rc = put_str(ev, FIELD_SERVICE_NAME, get(w, C_P_INIT_APP))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_AGENT_ORIGINAL, get(w, C_P_USER_AGENT))) < 0 ||
	    (rc = put_ip(ev, FIELD_SOURCE_IP, get(w, C_P_INIT_IP))) < 0)
		return rc;
	if (target && ((rc = event_set_str(ev, FIELD_USER_TARGET_NAME, target->s, target->len)) < 0 ||
		       (rc = event_add_str_once(ev, FIELD_RELATED_USER, target->s, target->len)) < 0))
		return rc;
	return 0;
}

static int map_identity_protection(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *ip = either(w, C_P_IP, C_CALLER_IP);
	bool detection = get(w, C_P_RISK_EVENT) != NULL;
	int rc;

	if ((rc = detection ? put_category(ev, "intrusion_detection", "info")
			    : put_category(ev, "iam", "user")) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ID, get(w, C_P_ID))) < 0 ||
	    (detection && (rc = put_str(ev, FIELD_EVENT_ACTION, get(w, C_P_RISK_EVENT))) < 0) ||
	    (rc = put_user(ev, get(w, C_P_UPN))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_ID, get(w, C_P_USER_ID))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_FULL_NAME, get(w, C_P_USER_DISPLAY))) < 0 ||
	    (rc = put_str(ev, FIELD_USER_AGENT_ORIGINAL, get(w, C_P_USER_AGENT))) < 0 ||
	    (rc = put_source(ev, ip)) < 0)
		return rc;
	return put_geo(w);
}

static int map_activity(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *upn = get(w, C_CLAIM_UPN), *ip = get(w, C_CALLER_IP);
	const struct cap *rt = get(w, C_RESULT_TYPE);
	int rc;

	if (!ip)
		ip = get(w, C_CLAIM_IPADDR);
	if ((rc = put_outcome(ev, outcome_of(rt))) < 0 ||
	    (rc = put_str(ev, FIELD_CLOUD_REGION, get(w, C_LOCATION))) < 0 ||
	    (rc = put_str(ev, FIELD_MESSAGE, get(w, C_P_MESSAGE))) < 0 ||
	    (rc = put_source(ev, ip)) < 0)
		return rc;
	/* the caller: claims upn, else name, else the application id */
	if (upn || (upn = get(w, C_CLAIM_NAME)) || (upn = get(w, C_CALLER)))
		return put_user(ev, upn); /* Caller: the Log Analytics column */
	return put_str(ev, FIELD_USER_ID, get(w, C_CLAIM_APPID));
}

/* ---- Azure Firewall: both shapes fill the same facts ---- */

/*
 * "HOST:PORT", "[IPV6]:PORT", "HOST" or "HOST:" (an empty port) into the host (without
 * brackets) and the port. An IPv6 address without brackets has colons of its own, so its
 * last group is the port only when the text before it is an address and the line always
 * has a port there (port_always: every protocol but ICMP) or the port is empty.
 */
static void split_hostport(const char *s, size_t len, bool port_always, const char **host,
			   size_t *hlen, const char **port, size_t *plen)
{
	const char *colon = memrchr(s, ':', len), *close;
	struct ipaddr ip;

	*host = s;
	*hlen = len;
	*port = NULL;
	*plen = 0;
	if (len && s[0] == '[' && (close = memchr(s, ']', len))) {
		if (close + 1 < s + len && close[1] != ':')
			return; /* "[addr]x:443": not an endpoint, kept whole (a .domain) */
		*host = s + 1;
		*hlen = (size_t)(close - s - 1);
		if (close + 1 < s + len) {
			*port = close + 2;
			*plen = (size_t)(s + len - close - 2);
		}
		return;
	}
	if (!colon || (memchr(s, ':', (size_t)(colon - s)) &&
		       (!(port_always || colon + 1 == s + len) ||
			ipaddr_parse(&ip, s, (size_t)(colon - s)) < 0)))
		return;
	*hlen = (size_t)(colon - s);
	*port = colon + 1;
	*plen = len - *hlen - 1;
}

static int put_hostport(struct event *ev, bool source, const char *s, size_t len,
			bool port_always)
{
	const char *host, *port;
	size_t hlen, plen;
	int rc;

	split_hostport(s, len, port_always, &host, &hlen, &port, &plen);
	if ((rc = put_endpoint(ev, source, host, hlen)) < 0)
		return rc;
	return put_int_text(ev, source ? FIELD_SOURCE_PORT : FIELD_DESTINATION_PORT, port, plen);
}

static int put_transport(struct event *ev, const char *p, size_t len)
{
	static const struct {
		const char *word, *transport, *protocol, *iana;
	} protos[] = {
		{ "TCP", "tcp", NULL, "6" },     { "UDP", "udp", NULL, "17" },
		{ "ICMP", "icmp", NULL, "1" },   { "HTTP", "tcp", "http", "6" },
		{ "HTTPS", "tcp", "https", "6" }, { "MSSQL", "tcp", "tds", "6" },
	};
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		if (!ieq(p, len, protos[i].word))
			continue;
		if ((rc = put_lit(ev, FIELD_NETWORK_TRANSPORT, protos[i].transport)) < 0 ||
		    (rc = put_lit(ev, FIELD_NETWORK_IANA_NUMBER, protos[i].iana)) < 0)
			return rc;
		return protos[i].protocol ? put_lit(ev, FIELD_NETWORK_PROTOCOL, protos[i].protocol)
					  : 0;
	}
	return 0;
}

/* event.action and event.type allowed or denied from a firewall's Action (none: nothing). */
static int put_verdict(struct event *ev, const char *a, size_t len)
{
	bool allowed = ieq(a, len, "Allow") || ieq(a, len, "Alert");
	int rc;

	if (!len)
		return 0;
	if ((rc = event_set_str(ev, FIELD_EVENT_ACTION, a, len)) < 0)
		return rc;
	return event_add_str(ev, FIELD_EVENT_TYPE, allowed ? "allowed" : "denied",
			     allowed ? 7 : 6);
}

static int put_fw_action(struct event *ev, const char *a, size_t len)
{
	int rc = put_category(ev, "network", "connection");

	return rc < 0 ? rc : put_verdict(ev, a, len);
}

static const char *find(const char *s, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return end - s >= (ptrdiff_t)n ? memmem(s, (size_t)(end - s), lit, n) : NULL;
}

/* "0.023" seconds into nanoseconds: at most 9 fraction digits; false when not such. */
static bool text_seconds_ns(const char *s, size_t len, int64_t *ns)
{
	const char *dot = memchr(s, '.', len);
	int64_t whole, frac = 0;
	size_t fl;

	if (!dot || jsonin_int(s, (size_t)(dot - s), &whole) < 0 || whole < 0 ||
	    whole > 1000000000)
		return false;
	fl = len - (size_t)(dot - s) - 1;
	if (!fl || fl > 9)
		return false;
	for (size_t i = 0; i < 9; i++) {
		char d = i < fl ? dot[1 + i] : '0';

		if (d < '0' || d > '9')
			return false;
		frac = frac * 10 + (d - '0');
	}
	*ns = whole * 1000000000 + frac;
	return true;
}

/* The same for a captured number or string. */
static bool seconds_ns(const struct cap *c, int64_t *ns)
{
	return c && (c->type == JSONIN_NUMBER || c->type == JSONIN_STRING) &&
	       text_seconds_ns(c->s, c->len, ns);
}

/* "Key: value" clauses after the head; the ones ECS names are mapped. */
static int fw_clause(struct walk *w, const char *k, size_t klen, const char *v, size_t vlen)
{
	static const struct {
		const char *key;
		unsigned field;
	} keys[] = {
		{ "Signature", FIELD_RULE_ID },
		{ "IDS", FIELD_RULE_NAME },
		{ "Classification", FIELD_RULE_CATEGORY },
		{ "ThreatIntel", FIELD_RULE_NAME },
		{ "Url", FIELD_URL_ORIGINAL },
		{ "Rule Collection", FIELD_RULE_RULESET },
		{ "Rule", FIELD_RULE_NAME },
		{ "Web Category", FIELD_RULE_CATEGORY },
		{ "Reason", FIELD_EVENT_REASON },
	};
	int64_t prio;

	if (ieq(k, klen, "Action"))
		return put_fw_action(w->ev, v, vlen);
	if (ieq(k, klen, "Priority"))
		return jsonin_int(v, vlen, &prio) == 0 ? event_set_int(w->ev, FIELD_EVENT_RISK_SCORE,
								       prio)
						       : 0;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (ieq(k, klen, keys[i].key))
			return event_set_str(w->ev, keys[i].field, v, vlen);
	return 0;
}

/* The next space-separated word of [*p, end): false at the end. */
static bool next_word(const char **p, const char *end, const char **w, size_t *len)
{
	while (*p < end && **p == ' ')
		(*p)++;
	*w = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	*len = (size_t)(*p - *w);
	return *len > 0;
}

/* Copies s[0..len) upper-cased into the event's arena. */
static const char *upper_copy(struct event *ev, const char *s, size_t len)
{
	char *u = arena_alloc(ev->arena, len ? len : 1);

	for (size_t i = 0; u && i < len; i++)
		u[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	return u;
}

/*
 * A DNS query, the DNS proxy's text or an AZFWDnsQuery record alike: event.type protocol,
 * network.protocol dns and the name (when len) without its final dot.
 */
static int put_dns_query(struct event *ev, const char *name, size_t len)
{
	int rc;

	if ((rc = put_category(ev, "network", "protocol")) < 0 ||
	    (rc = put_lit(ev, FIELD_NETWORK_PROTOCOL, "dns")) < 0 || !len)
		return rc;
	return event_set_str(ev, FIELD_DNS_QUESTION_NAME, name,
			     len > 1 && name[len - 1] == '.' ? len - 1 : len);
}

/*
 * The DNS proxy line after "DNS Request: ": "CLIENT:PORT - ID TYPE CLASS NAME. PROTO
 * REQSIZE DO EDNSSIZE RCODE FLAGS RESPSIZE DURATIONs" (the dash may be an en dash).
 */
static int map_fw_dns(struct walk *w, const char *s, size_t len)
{
	enum { CLIENT, DASH, ID, TYPE, CLASS, NAME, PROTO, REQ, DO_BIT, EDNS, RCODE, FLAGS, RESP,
	       DURATION, WORDS };
	struct event *ev = w->ev;
	const char *p = s, *end = s + len, *wd[WORDS] = { 0 };
	size_t wl[WORDS] = { 0 }, n = 0;
	int64_t ns;
	int rc;

	while (n < WORDS && next_word(&p, end, &wd[n], &wl[n]))
		n++;
	if ((rc = put_dns_query(ev, wd[NAME], wl[NAME])) < 0 || n <= CLIENT ||
	    (rc = put_hostport(ev, true, wd[CLIENT], wl[CLIENT], true)) < 0 || n <= NAME)
		return rc;
	if ((rc = event_set_str(ev, FIELD_DNS_ID, wd[ID], wl[ID])) < 0 ||
	    (rc = event_set_str(ev, FIELD_DNS_QUESTION_TYPE, wd[TYPE], wl[TYPE])) < 0 ||
	    (rc = event_set_str(ev, FIELD_DNS_QUESTION_CLASS, wd[CLASS], wl[CLASS])) < 0)
		return rc;
	if (n > PROTO && (rc = put_transport(ev, wd[PROTO], wl[PROTO])) < 0)
		return rc;
	if (n > REQ && (rc = put_int_text(ev, FIELD_SOURCE_BYTES, wd[REQ], wl[REQ])) < 0)
		return rc;
	if (n > RCODE && (rc = event_set_str(ev, FIELD_DNS_RESPONSE_CODE, wd[RCODE], wl[RCODE])) < 0)
		return rc;
	for (const char *f = wd[FLAGS], *fe = f ? f + wl[FLAGS] : NULL, *c; f < fe; f = c + 1) {
		const char *u;

		c = memchr(f, ',', (size_t)(fe - f));
		if (!c)
			c = fe;
		if (c > f && (!(u = upper_copy(ev, f, (size_t)(c - f))) ||
			      (rc = event_add_str(ev, FIELD_DNS_HEADER_FLAGS, u, (size_t)(c - f))) < 0))
			return u ? rc : -ENOMEM;
	}
	if (n > RESP && (rc = put_int_text(ev, FIELD_DESTINATION_BYTES, wd[RESP], wl[RESP])) < 0)
		return rc;
	if (n > DURATION && wl[DURATION] > 1 && wd[DURATION][wl[DURATION] - 1] == 's' &&
	    text_seconds_ns(wd[DURATION], wl[DURATION] - 1, &ns))
		return event_set_int(ev, FIELD_EVENT_DURATION, ns);
	return 0;
}

/*
 * "TCP request from A:P to B:Q[ was DNAT'ed to N:M]. Key: value. Key: value" and its
 * variants: "ICMP Type=8 request from A to B.", empty ports, "Allow.." double dots.
 */
static int map_fw_msg(struct walk *w, const struct cap *msg)
{
	struct event *ev = w->ev;
	const char *s = msg->s, *end = msg->s + msg->len, *from, *to, *stop, *nat, *p;
	const char *word_end;
	bool saw_action = false, port_always;
	int rc;

	if (msg->len > 13 && !memcmp(s, "DNS Request: ", 13))
		return map_fw_dns(w, s + 13, msg->len - 13);
	if (!(from = find(s, end, " request from ")) || !(to = find(from + 14, end, " to ")))
		return put_category(ev, "network", "connection");
	word_end = memchr(s, ' ', (size_t)(from - s + 1));
	port_always = !(word_end - s >= 4 && !strncasecmp(s, "ICMP", 4)); /* ICMP: none or "" */
	if ((rc = put_transport(ev, s, (size_t)(word_end - s))) < 0 ||
	    (rc = put_hostport(ev, true, from + 14, (size_t)(to - from - 14), port_always)) < 0)
		return rc;
	p = to + 4;
	stop = find(p, end, ". ");
	if (!stop)
		stop = end > p && end[-1] == '.' ? end - 1 : end;
	nat = find(p, stop, " was DNAT'ed to ");
	if ((rc = put_hostport(ev, false, p, (size_t)((nat ? nat : stop) - p), port_always)) < 0)
		return rc;
	if (nat) {
		const char *host, *port;
		size_t hlen, plen;

		split_hostport(nat + 16, (size_t)(stop - nat - 16), port_always, &host, &hlen, &port,
			       &plen);
		if ((rc = put_ip_text(ev, FIELD_DESTINATION_NAT_IP, host, hlen)) < 0 ||
		    (rc = put_int_text(ev, FIELD_DESTINATION_NAT_PORT, port, plen)) < 0)
			return rc;
	}
	for (p = stop; p < end;) {
		const char *cend, *colon;
		size_t vlen;

		while (p < end && (*p == '.' || *p == ' '))
			p++;
		cend = find(p, end, ". ");
		if (!cend)
			cend = end;
		colon = find(p, cend, ": ");
		if (colon) {
			vlen = (size_t)(cend - colon - 2);
			while (vlen && colon[2 + vlen - 1] == '.')
				vlen--;
			saw_action |= ieq(p, (size_t)(colon - p), "Action");
			if ((rc = fw_clause(w, p, (size_t)(colon - p), colon + 2, vlen)) < 0)
				return rc;
		}
		p = cend;
	}
	return saw_action ? 0 : put_category(ev, "network", "connection");
}

static int map_fw_structured(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *c, *proto = get(w, C_FW_PROTO), *action = get(w, C_FW_ACTION);
	const struct cap *qname = get(w, C_FW_QNAME);
	int rc;

	if ((c = get(w, C_FW_SRC_IP)) && (rc = put_endpoint(ev, true, c->s, c->len)) < 0)
		return rc;
	if ((c = get(w, C_FW_DST_IP)) && (rc = put_endpoint(ev, false, c->s, c->len)) < 0)
		return rc;
	if ((c = get(w, C_FW_FQDN)) &&
	    (rc = event_set_str(ev, FIELD_DESTINATION_DOMAIN, c->s, c->len)) < 0)
		return rc;
	if ((rc = put_int(ev, FIELD_SOURCE_PORT, get(w, C_FW_SRC_PORT))) < 0 ||
	    (rc = put_int(ev, FIELD_DESTINATION_PORT, get(w, C_FW_DST_PORT))) < 0 ||
	    (rc = put_ip(ev, FIELD_DESTINATION_NAT_IP, get(w, C_FW_NAT_IP))) < 0 ||
	    (rc = put_int(ev, FIELD_DESTINATION_NAT_PORT, get(w, C_FW_NAT_PORT))) < 0 ||
	    (proto && (rc = put_transport(ev, proto->s, proto->len)) < 0) ||
	    (rc = qname ? put_dns_query(ev, qname->s, qname->len)
			: put_fw_action(ev, action ? action->s : "", action ? action->len : 0)) < 0 ||
	    /* a DNS query with an Action still says what was done with it */
	    (qname && action && (rc = put_verdict(ev, action->s, action->len)) < 0) ||
	    (rc = put_str(ev, FIELD_EVENT_REASON, get(w, C_FW_REASON))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_RULESET, get(w, C_FW_RC))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_NAME, get(w, C_FW_RULE))) < 0 ||
	    (rc = put_str(ev, FIELD_URL_ORIGINAL, either(w, C_FW_TARGET_URL, C_FW_URL))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_CATEGORY, either(w, C_FW_WEBCAT, C_FW_SIG_CAT))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_ID, get(w, C_FW_SIG))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_DESCRIPTION, either(w, C_FW_SIG_DESC, C_FW_THREAT))) < 0 ||
	    (rc = put_int(ev, FIELD_EVENT_SEVERITY, get(w, C_FW_SEVERITY))) < 0 ||
	    (rc = put_str(ev, FIELD_DNS_QUESTION_TYPE, get(w, C_FW_QTYPE))) < 0 ||
	    (rc = put_str(ev, FIELD_DNS_QUESTION_CLASS, get(w, C_FW_QCLASS))) < 0 ||
	    (rc = put_str(ev, FIELD_DNS_RESPONSE_CODE, get(w, C_FW_RCODE))) < 0)
		return rc;
	if ((c = get(w, C_FW_QID)) && (c->type == JSONIN_NUMBER || c->type == JSONIN_STRING))
		return event_set_str(ev, FIELD_DNS_ID, c->s, c->len);
	return 0;
}

static int map_firewall(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *msg = get(w, C_P_MSG);
	int rc;

	if ((rc = put_lit(ev, FIELD_OBSERVER_TYPE, "firewall")) < 0 ||
	    (rc = put_lit(ev, FIELD_OBSERVER_VENDOR, "Microsoft")) < 0 ||
	    (rc = put_lit(ev, FIELD_OBSERVER_PRODUCT, "Azure Firewall")) < 0 ||
	    (rc = put_resource_name(ev, FIELD_OBSERVER_NAME, get(w, C_RESOURCE_ID))) < 0)
		return rc;
	if (msg && msg->type == JSONIN_STRING)
		return map_fw_msg(w, msg);
	return map_fw_structured(w);
}

/* ---- Application Gateway: access log and WAF ---- */

static int put_uri(struct event *ev, const struct cap *uri)
{
	const char *q;
	int rc;

	if (!uri)
		return 0;
	if ((rc = event_set_str(ev, FIELD_URL_ORIGINAL, uri->s, uri->len)) < 0)
		return rc;
	q = memchr(uri->s, '?', uri->len);
	if ((rc = event_set_str(ev, FIELD_URL_PATH, uri->s, q ? (size_t)(q - uri->s) : uri->len)) < 0)
		return rc;
	return q && q + 1 < uri->s + uri->len
		       ? event_set_str(ev, FIELD_URL_QUERY, q + 1, (size_t)(uri->s + uri->len - q - 1))
		       : 0;
}

static int map_appgw(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *ip = either(w, C_AG_CLIENT_IP, C_AG_CLIENT_IP2), *ver = get(w, C_AG_VERSION);
	const struct cap *ua = get(w, C_P_USER_AGENT), *c;
	const struct cap *action = either(w, C_AG_ACTION, C_FW_ACTION); /* "Action" in rows */
	bool waf = get(w, C_AG_RULE_ID) != NULL;
	int64_t status, taken;
	int rc;

	if ((rc = put_lit(ev, FIELD_OBSERVER_TYPE, "proxy")) < 0 ||
	    (rc = put_lit(ev, FIELD_OBSERVER_VENDOR, "Microsoft")) < 0 ||
	    (rc = put_lit(ev, FIELD_OBSERVER_PRODUCT, "Application Gateway")) < 0 ||
	    (rc = put_resource_name(ev, FIELD_OBSERVER_NAME, get(w, C_RESOURCE_ID))) < 0 ||
	    (rc = put_source(ev, ip)) < 0 ||
	    (rc = put_int(ev, FIELD_SOURCE_PORT, get(w, C_CLIENT_PORT))) < 0 ||
	    (rc = put_str(ev, FIELD_HTTP_REQUEST_METHOD, get(w, C_AG_METHOD))) < 0 ||
	    (rc = put_uri(ev, get(w, C_AG_URI))) < 0 ||
	    (rc = put_str(ev, FIELD_URL_DOMAIN, either(w, C_AG_HOST, C_AG_HOSTNAME))) < 0 ||
	    (rc = put_int(ev, FIELD_SOURCE_BYTES, get(w, C_AG_RECEIVED))) < 0 ||
	    (rc = put_int(ev, FIELD_DESTINATION_BYTES, get(w, C_AG_SENT))) < 0)
		return rc;
	if (ua && !eq(ua->s, ua->len, "-") &&
	    (rc = event_set_str(ev, FIELD_USER_AGENT_ORIGINAL, ua->s, ua->len)) < 0)
		return rc;
	if (ver && ver->len > 5 && !strncasecmp(ver->s, "HTTP/", 5) &&
	    (rc = event_set_str(ev, FIELD_HTTP_VERSION, ver->s + 5, ver->len - 5)) < 0)
		return rc;
	/* v1 writes timeTaken in whole milliseconds; v2 in seconds with a fraction */
	if (cap_int(get(w, C_AG_TIME_TAKEN), &taken) ? taken >= 0 && taken < INT64_MAX / 1000000 &&
							   (taken *= 1000000, true)
						     : seconds_ns(get(w, C_AG_TIME_TAKEN), &taken))
		if ((rc = event_set_int(ev, FIELD_EVENT_DURATION, taken)) < 0)
			return rc;
	if (cap_int(get(w, C_AG_STATUS), &status)) {
		if ((rc = event_set_int(ev, FIELD_HTTP_RESPONSE_STATUS_CODE, status)) < 0 ||
		    (rc = put_outcome(ev, status >= 400 ? "failure" : "success")) < 0)
			return rc;
	}
	if (!waf)
		return put_category(ev, "web", "access");
	if ((rc = put_str(ev, FIELD_RULE_ID, get(w, C_AG_RULE_ID))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_RULESET, get(w, C_AG_RULESET))) < 0 ||
	    (rc = put_str(ev, FIELD_RULE_DESCRIPTION, get(w, C_P_MESSAGE))) < 0 ||
	    (rc = put_str(ev, FIELD_MESSAGE, get(w, C_P_MESSAGE))) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ACTION, action)) < 0 ||
	    (rc = put_category(ev, "intrusion_detection", "info")) < 0 ||
	    (rc = event_add_str(ev, FIELD_EVENT_CATEGORY, "web", 3)) < 0)
		return rc;
	if ((c = action) && ieq(c->s, c->len, "Blocked"))
		return event_add_str(ev, FIELD_EVENT_TYPE, "denied", 6);
	if (c && ieq(c->s, c->len, "Allowed"))
		return event_add_str(ev, FIELD_EVENT_TYPE, "allowed", 7);
	return 0;
}

static int map_bastion(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *op = get(w, C_OPERATION), *ip;
	const struct cap *proto = either(w, C_B_PROTOCOL, C_FW_PROTO); /* "Protocol" in rows */
	const struct cap *user = get(w, C_B_USER), *ua = get(w, C_P_USER_AGENT);
	bool end = op && op->len >= 10 && !strncasecmp(op->s + op->len - 10, "disconnect", 10);
	int rc;

	ip = get(w, C_B_CLIENT_IP);
	if ((rc = put_category(ev, "session", end ? "end" : "start")) < 0 ||
	    (rc = put_resource_name(ev, FIELD_OBSERVER_NAME, get(w, C_RESOURCE_ID))) < 0 ||
	    (rc = put_lit(ev, FIELD_OBSERVER_VENDOR, "Microsoft")) < 0 ||
	    (rc = put_lit(ev, FIELD_OBSERVER_PRODUCT, "Azure Bastion")) < 0 ||
	    (rc = put_source(ev, ip)) < 0 ||
	    (rc = put_int(ev, FIELD_SOURCE_PORT, get(w, C_CLIENT_PORT))) < 0 ||
	    (rc = put_ip(ev, FIELD_DESTINATION_IP, get(w, C_B_TARGET_IP))) < 0 ||
	    (rc = put_user(ev, user)) < 0 ||
	    (rc = put_str(ev, FIELD_USER_AGENT_ORIGINAL, ua)) < 0 ||
	    (rc = put_str(ev, FIELD_MESSAGE, get(w, C_P_MESSAGE))) < 0 ||
	    (rc = put_time(ev, FIELD_EVENT_START, get(w, C_B_START))) < 0 ||
	    (rc = put_time(ev, FIELD_EVENT_END, get(w, C_B_END))) < 0 ||
	    (rc = put_str(ev, FIELD_CLOUD_REGION, get(w, C_LOCATION))) < 0)
		return rc;
	if (proto && proto->len < 16) { /* ECS wants network.protocol lowercase */
		char *low = arena_alloc(ev->arena, proto->len);

		if (!low)
			return -ENOMEM;
		for (size_t i = 0; i < proto->len; i++)
			low[i] = (char)((proto->s[i] >= 'A' && proto->s[i] <= 'Z') ? proto->s[i] + 32
										    : proto->s[i]);
		return event_set_str(ev, FIELD_NETWORK_PROTOCOL, low, proto->len);
	}
	return 0;
}

static int map_intune(struct walk *w)
{
	struct event *ev = w->ev;
	const struct cap *op = get(w, C_OPERATION), *actor = get(w, C_I_ACTOR_UPN);
	const char *type = "change";
	int rc;

	if (op && op->len >= 6 && !strncasecmp(op->s, "Create", 6))
		type = "creation";
	else if (op && op->len >= 6 && !strncasecmp(op->s, "Delete", 6))
		type = "deletion";
	if ((rc = put_category(ev, "configuration", w->ds == DS_INTUNE_AUDIT ? type : "info")) < 0 ||
	    (rc = put_outcome(ev, outcome_of(get(w, C_RESULT_TYPE)))) < 0 ||
	    (rc = put_str(ev, FIELD_EVENT_ID, get(w, C_I_AUDIT_ID))) < 0)
		return rc;
	if (!actor && (actor = get(w, C_IDENTITY)) && actor->type != JSONIN_STRING)
		actor = NULL;
	return put_user(ev, actor);
}

static int map_platform(struct walk *w)
{
	const struct cap *ip = get(w, C_CALLER_IP);

	return put_source(w->ev, ip);
}

static int (*const mappers[DS_COUNT])(struct walk *) = {
	[DS_SIGNIN] = map_signin,
	[DS_AUDIT] = map_audit,
	[DS_IDP] = map_identity_protection,
	[DS_ACTIVITY] = map_activity,
	[DS_FIREWALL] = map_firewall,
	[DS_APPGW] = map_appgw,
	[DS_BASTION] = map_bastion,
	[DS_INTUNE_AUDIT] = map_intune,
	[DS_INTUNE_OPS] = map_intune,
	[DS_PLATFORM] = map_platform,
};

/* ---- the decoder ---- */

/* Defender XDR streaming shares the envelope: its records belong to "m365". */
static bool is_advanced_hunting(const char *p, size_t len)
{
	static const char tag[] = "\"AdvancedHunting-";

	return memmem(p, len < SNIFF_WINDOW ? len : SNIFF_WINDOW, tag, sizeof(tag) - 1) != NULL;
}

/* Whether the quoted key appears within the sniffing window. */
static bool has_key(const char *p, size_t len, const char *key)
{
	return memmem(p, len < SNIFF_WINDOW ? len : SNIFF_WINDOW, key, strlen(key)) != NULL;
}

bool azure_sniff(const char *msg, size_t len)
{
	const char *p = msg;
	size_t start;
	enum jsonrec_kind k;

	if (len && msg[0] == '<') { /* a syslog header first: the JSON starts at its '{' */
		p = memchr(msg, '{', len < SNIFF_WINDOW ? len : SNIFF_WINDOW);
		if (!p)
			return false;
		len -= (size_t)(p - msg);
	}
	k = jsonrec_peek(p, len);
	if (k == JSONREC_VALUE || is_advanced_hunting(p, len) || has_key(p, len, "\"@odata."))
		return false; /* Graph pages and Defender XDR streaming are m365's */
	if (k == JSONREC_RECORDS)
		return true;
	start = skip_ws(p, 0, len);
	if (start >= len || (p[start] != '{' && p[start] != '['))
		return false;
	return has_key(p, len, "\"category\"") &&
	       (has_key(p, len, "\"resourceId\"") || has_key(p, len, "\"operationName\"") ||
		has_key(p, len, "\"correlationId\"") || has_key(p, len, "\"tenantId\""));
}

static int no_record(void *ctx, const char *rec, size_t len)
{
	return -ECANCELED; /* one record is enough to know */
}

/* Whether msg is a well-formed container without records. */
static bool is_empty_container(const char *msg, size_t len)
{
	return jsonrec_split(msg, len, no_record, NULL, NULL) == -ENODATA;
}

int azure_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 struct err *e)
{
	struct walk w;
	const struct cap *c;
	const char *p;
	size_t plen;
	uint32_t base;
	int rc;

	if ((rc = decoder_syslog_payload(ev, msg, len, o, &p, &plen, e)) < 0)
		return rc;
	pthread_once(&index_once, build_index);
	base = ev->n;
	memset(&w, 0, offsetof(struct walk, name));
	w.ev = ev;
	w.ds = -1;
	if ((rc = walk_record(&w, p, plen, e)) < 0) {
		event_truncate(ev, base); /* no half record */
		return rc;
	}
	if (jsonrec_peek(p, plen) != JSONREC_NONE && is_empty_container(p, plen)) {
		event_truncate(ev, base); /* what jsonrec_split refused: nothing to decode */
		return err_set(e, -EINVAL, "an empty record container: no Azure record in it");
	}
	if ((c = get(&w, C_CATEGORY)) && c->len > 16 && !memcmp(c->s, "AdvancedHunting-", 16)) {
		/* Defender XDR streaming shares the envelope: its records are m365's */
		int id = decoder_find("m365", 4);
		const struct decoder *d = id > 0 ? decoder_get((unsigned)id) : NULL;

		if (d && d->decode != azure_decode) {
			event_clear(ev);
			return d->decode(ev, msg, len, o, e);
		}
	}
	if ((rc = map_common(&w, e)) < 0) {
		if (rc != -EINVAL)
			return err_set(e, rc, "cannot build the event: %s", strerror(-rc));
		/* a time we cannot read: the rest is mapped, the event is marked */
		int mrc = mappers[w.ds](&w);

		return mrc < 0 ? err_set(e, mrc, "cannot build the event: %s", strerror(-mrc)) : rc;
	}
	if ((rc = mappers[w.ds](&w)) < 0)
		return err_set(e, rc, "cannot build the event: %s", strerror(-rc));
	return 0;
}
