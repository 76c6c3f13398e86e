/*
 * m365.c - Defender XDR records (Graph alerts_v2 and incidents, the Defender for Endpoint
 * alert API, AdvancedHunting streaming) into ECS events.
 *
 * A record is read twice with core/jsonin: first only its top-level keys until one of them
 * says which shape it is (usually the first: OData writes @odata.type before any property),
 * then once whole through that shape's member table. A member table lists the keys the
 * decoder knows, what each one feeds (an ECS field, related.*, an event time) and, for all
 * of them, a vendor field named after the key; other keys become text fields made from the
 * key (under a budget). Evidence is walked once, item by item: the item's type
 * (@odata.type or entityType, written first) says which ECS fields its values may fill;
 * every key's values also go into de-duplicated vendor arrays.
 *
 * Event times are collected while reading and set last, so a record that fails half-way
 * is truncated back to what decoder_syslog_payload() set (event.original, @timestamp).
 */
#include "parse/m365.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>

#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/jsonin.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/drops.h"

#define SNIFF_MAX 1024
#define GRAPH_TYPE_PREFIX "#microsoft.graph.security."
#define HUNTING_PREFIX "AdvancedHunting-"
#define EVIDENCE_DEPTH_MAX 4 /* nested objects inside one evidence item */
#define VALUES_RESERVE 48    /* event values kept free for the fields set after evidence */
#define KEY_MAX 64           /* longest key kept as part of a vendor field name */
#define VALUES_EXPECTED 160  /* values reserved per record */

enum shape { SH_NONE, SH_ALERT, SH_INCIDENT, SH_ENDPOINT, SH_HUNTING };

/* How a member's value is read and what it feeds besides its vendor field. */
enum conv {
	C_STR,        /* a string (a number or boolean as its text): the ECS field is set */
	C_ADD,        /* a string: the ECS field gets one more de-duplicated value */
	C_INT,        /* the ECS field is an integer (a number, or digits in a string) */
	C_IP,         /* the ECS field is an IP, set when the text is one */
	C_TIME,       /* an RFC 3339 time (kept as written), maybe an event time */
	C_SEV,        /* a severity word: event.severity */
	C_DIRECTION,  /* a mail direction word: email.direction in ECS's lowercase words */
	C_STRS,       /* an array of strings: vendor array, each added to the ECS field */
	C_TECHNIQUES, /* an array of MITRE ids ("T1564.001"): threat.technique.id */
	C_ATTACK,     /* a string holding a JSON array of "Name (T1078)": threat.technique.id */
	C_RAW,        /* any JSON value, kept as its text */
	C_EVIDENCE,   /* an alert's evidence: an array of items, or one item (MDE exports) */
	C_ALERTS,     /* an incident's alerts: an array, or one alert */
	C_RELUSER,    /* the MDE relatedUser object: its own member table */
	C_PROPS,      /* AdvancedHunting properties */
};

/* Which event time a C_TIME member gives. */
enum slot { S_NONE, S_TS, S_TS_FALLBACK, S_START, S_END, S_COUNT };

/* Values remembered while reading, used when the event is finished. */
enum note { N_NONE, N_DETERMINATION, N_CATEGORY, N_COUNT };

#define R_IP 1u
#define R_HOST 2u
#define R_USER 4u
#define R_HASH 8u

#define E(f) (FIELD_##f + 1) /* 0: no ECS field */

struct member {
	const char *key;
	uint8_t klen;  /* strlen(key), set once with vid */
	uint8_t conv;
	uint8_t slot;
	uint8_t rel;
	uint8_t note;
	unsigned ecs;  /* field id + 1, or 0 */
	unsigned logon_ecs; /* the field instead of ecs in a logon table (struct table), or 0 */
	int vid;       /* vendor field id (resolved once), -1: none */
};

static struct member alert_members[] = {
	{ .key = "id", .conv = C_STR, .ecs = E(EVENT_ID) },
	{ .key = "providerAlertId", .conv = C_STR },
	{ .key = "incidentId", .conv = C_STR },
	{ .key = "status", .conv = C_STR },
	{ .key = "severity", .conv = C_SEV },
	{ .key = "classification", .conv = C_STR },
	{ .key = "determination", .conv = C_STR, .note = N_DETERMINATION },
	{ .key = "serviceSource", .conv = C_STR, .ecs = E(EVENT_PROVIDER) },
	{ .key = "detectionSource", .conv = C_STR },
	{ .key = "productName", .conv = C_STR },
	{ .key = "detectorId", .conv = C_STR, .ecs = E(RULE_ID) },
	{ .key = "alertPolicyId", .conv = C_STR },
	{ .key = "tenantId", .conv = C_STR, .ecs = E(CLOUD_ACCOUNT_ID) },
	{ .key = "title", .conv = C_STR, .ecs = E(RULE_NAME) },
	{ .key = "description", .conv = C_STR, .ecs = E(MESSAGE) },
	{ .key = "recommendedActions", .conv = C_STR },
	{ .key = "category", .conv = C_ADD, .ecs = E(THREAT_TACTIC_NAME), .note = N_CATEGORY },
	{ .key = "assignedTo", .conv = C_STR },
	{ .key = "alertWebUrl", .conv = C_STR, .ecs = E(EVENT_URL) },
	{ .key = "incidentWebUrl", .conv = C_STR },
	{ .key = "actorDisplayName", .conv = C_STR },
	{ .key = "threatDisplayName", .conv = C_STR },
	{ .key = "threatFamilyName", .conv = C_STR },
	{ .key = "mitreTechniques", .conv = C_TECHNIQUES },
	{ .key = "createdDateTime", .conv = C_TIME, .slot = S_TS_FALLBACK },
	{ .key = "lastUpdateDateTime", .conv = C_TIME, .slot = S_TS },
	{ .key = "resolvedDateTime", .conv = C_TIME },
	{ .key = "firstActivityDateTime", .conv = C_TIME, .slot = S_START },
	{ .key = "lastActivityDateTime", .conv = C_TIME, .slot = S_END },
	{ .key = "comments", .conv = C_RAW },
	{ .key = "systemTags", .conv = C_STRS },
	{ .key = "additionalData", .conv = C_RAW },
	{ .key = "evidence", .conv = C_EVIDENCE },
};

/* Defender for Endpoint api/alerts; its vendor fields share the m365.alert prefix. */
static struct member endpoint_members[] = {
	{ .key = "id", .conv = C_STR, .ecs = E(EVENT_ID) },
	{ .key = "incidentId", .conv = C_STR },
	{ .key = "investigationId", .conv = C_STR },
	{ .key = "assignedTo", .conv = C_STR },
	{ .key = "severity", .conv = C_SEV },
	{ .key = "status", .conv = C_STR },
	{ .key = "classification", .conv = C_STR },
	{ .key = "determination", .conv = C_STR, .note = N_DETERMINATION },
	{ .key = "investigationState", .conv = C_STR },
	{ .key = "detectionSource", .conv = C_STR },
	{ .key = "detectorId", .conv = C_STR, .ecs = E(RULE_ID) },
	{ .key = "category", .conv = C_STR, .ecs = E(RULE_CATEGORY), .note = N_CATEGORY },
	{ .key = "threatFamilyName", .conv = C_STR },
	{ .key = "threatName", .conv = C_STR },
	{ .key = "title", .conv = C_STR, .ecs = E(RULE_NAME) },
	{ .key = "description", .conv = C_STR, .ecs = E(MESSAGE) },
	{ .key = "alertCreationTime", .conv = C_TIME, .slot = S_TS_FALLBACK },
	{ .key = "firstEventTime", .conv = C_TIME, .slot = S_START },
	{ .key = "lastEventTime", .conv = C_TIME, .slot = S_END },
	{ .key = "lastUpdateTime", .conv = C_TIME, .slot = S_TS },
	{ .key = "resolvedTime", .conv = C_TIME },
	{ .key = "machineId", .conv = C_STR, .ecs = E(HOST_ID) },
	{ .key = "computerDnsName", .conv = C_STR, .ecs = E(HOST_NAME), .rel = R_HOST },
	{ .key = "rbacGroupName", .conv = C_STR },
	{ .key = "aadTenantId", .conv = C_STR, .ecs = E(CLOUD_ACCOUNT_ID) },
	{ .key = "mitreTechniques", .conv = C_TECHNIQUES },
	{ .key = "relatedUser", .conv = C_RELUSER },
	{ .key = "comments", .conv = C_RAW },
	{ .key = "evidence", .conv = C_EVIDENCE },
};

static struct member incident_members[] = {
	{ .key = "id", .conv = C_STR, .ecs = E(EVENT_ID) },
	{ .key = "tenantId", .conv = C_STR, .ecs = E(CLOUD_ACCOUNT_ID) },
	{ .key = "status", .conv = C_STR },
	{ .key = "severity", .conv = C_SEV },
	{ .key = "classification", .conv = C_STR },
	{ .key = "determination", .conv = C_STR, .note = N_DETERMINATION },
	{ .key = "displayName", .conv = C_STR, .ecs = E(MESSAGE) },
	{ .key = "description", .conv = C_STR },
	{ .key = "summary", .conv = C_STR },
	{ .key = "assignedTo", .conv = C_STR },
	{ .key = "incidentWebUrl", .conv = C_STR, .ecs = E(EVENT_URL) },
	{ .key = "redirectIncidentId", .conv = C_STR },
	{ .key = "resolvingComment", .conv = C_STR },
	{ .key = "createdDateTime", .conv = C_TIME, .slot = S_TS_FALLBACK },
	{ .key = "lastUpdateDateTime", .conv = C_TIME, .slot = S_TS },
	{ .key = "customTags", .conv = C_STRS, .ecs = E(TAGS) },
	{ .key = "systemTags", .conv = C_STRS },
	{ .key = "comments", .conv = C_RAW },
	{ .key = "alerts", .conv = C_ALERTS },
};

static struct member related_user_members[] = {
	{ .key = "userName", .conv = C_STR, .ecs = E(USER_NAME), .rel = R_USER },
	{ .key = "domainName", .conv = C_STR, .ecs = E(USER_DOMAIN) },
};

/* An alert inside an incident: its values are added to arrays m365.incident.alerts.*. */
static struct member incident_alert_members[] = {
	{ .key = "id", .conv = C_STR },
	{ .key = "title", .conv = C_STR },
	{ .key = "severity", .conv = C_STR },
	{ .key = "status", .conv = C_STR },
	{ .key = "serviceSource", .conv = C_STR },
	{ .key = "detectionSource", .conv = C_STR },
	{ .key = "category", .conv = C_ADD, .ecs = E(THREAT_TACTIC_NAME), .note = N_CATEGORY },
	{ .key = "mitreTechniques", .conv = C_TECHNIQUES },
	{ .key = "evidence", .conv = C_EVIDENCE },
};

static struct member hunting_members[] = {
	{ .key = "time", .conv = C_TIME, .slot = S_TS_FALLBACK },
	{ .key = "tenantId", .conv = C_STR, .ecs = E(CLOUD_ACCOUNT_ID) },
	{ .key = "operationName", .conv = C_STR },
	{ .key = "category", .conv = C_STR },
	{ .key = "Tenant", .conv = C_STR },
	{ .key = "_TimeReceivedBySvc", .conv = C_TIME },
	{ .key = "properties", .conv = C_PROPS },
};

/* AdvancedHunting columns (the same name means the same thing in every table). */
static struct member hunting_columns[] = {
	{ .key = "Timestamp", .conv = C_TIME, .slot = S_TS },
	{ .key = "ActionType", .conv = C_STR, .ecs = E(EVENT_ACTION) },
	{ .key = "ReportId", .conv = C_STR },
	{ .key = "AlertId", .conv = C_STR },
	{ .key = "Title", .conv = C_STR, .ecs = E(RULE_NAME) },
	{ .key = "Category", .conv = C_ADD, .ecs = E(THREAT_TACTIC_NAME), .note = N_CATEGORY },
	{ .key = "Severity", .conv = C_SEV },
	{ .key = "ServiceSource", .conv = C_STR, .ecs = E(EVENT_PROVIDER) },
	{ .key = "DetectionSource", .conv = C_STR },
	{ .key = "AttackTechniques", .conv = C_ATTACK },
	{ .key = "EntityType", .conv = C_STR },
	{ .key = "EvidenceRole", .conv = C_STR },
	{ .key = "EvidenceDirection", .conv = C_STR },
	{ .key = "DeviceId", .conv = C_STR, .ecs = E(HOST_ID) },
	{ .key = "DeviceName", .conv = C_STR, .ecs = E(HOST_NAME), .rel = R_HOST },
	{ .key = "MachineGroup", .conv = C_STR },
	{ .key = "OSPlatform", .conv = C_STR, .ecs = E(HOST_OS_NAME) },
	{ .key = "AccountName", .conv = C_STR, .ecs = E(USER_NAME), .rel = R_USER },
	{ .key = "AccountDomain", .conv = C_STR, .ecs = E(USER_DOMAIN) },
	{ .key = "AccountSid", .conv = C_STR, .ecs = E(USER_ID) },
	{ .key = "AccountObjectId", .conv = C_STR },
	{ .key = "AccountUpn", .conv = C_STR, .rel = R_USER },
	{ .key = "AccountDisplayName", .conv = C_STR, .ecs = E(USER_FULL_NAME) },
	{ .key = "LogonType", .conv = C_STR },
	{ .key = "FileName", .conv = C_STR, .ecs = E(FILE_NAME) },
	{ .key = "FolderPath", .conv = C_STR },
	{ .key = "FileSize", .conv = C_INT, .ecs = E(FILE_SIZE) },
	{ .key = "SHA1", .conv = C_STR, .ecs = E(FILE_HASH_SHA1), .rel = R_HASH },
	{ .key = "SHA256", .conv = C_STR, .ecs = E(FILE_HASH_SHA256), .rel = R_HASH },
	{ .key = "MD5", .conv = C_STR, .ecs = E(FILE_HASH_MD5), .rel = R_HASH },
	{ .key = "ProcessId", .conv = C_INT, .ecs = E(PROCESS_PID) },
	{ .key = "ProcessCommandLine", .conv = C_STR, .ecs = E(PROCESS_COMMAND_LINE) },
	{ .key = "ProcessCreationTime", .conv = C_TIME },
	{ .key = "InitiatingProcessFileName", .conv = C_STR },
	{ .key = "InitiatingProcessFolderPath", .conv = C_STR },
	{ .key = "InitiatingProcessCommandLine", .conv = C_STR },
	{ .key = "InitiatingProcessId", .conv = C_STR },
	{ .key = "InitiatingProcessSHA1", .conv = C_STR, .rel = R_HASH },
	{ .key = "InitiatingProcessSHA256", .conv = C_STR, .rel = R_HASH },
	{ .key = "InitiatingProcessMD5", .conv = C_STR, .rel = R_HASH },
	{ .key = "InitiatingProcessAccountName", .conv = C_STR, .rel = R_USER },
	{ .key = "InitiatingProcessAccountDomain", .conv = C_STR },
	{ .key = "InitiatingProcessAccountSid", .conv = C_STR },
	{ .key = "InitiatingProcessParentFileName", .conv = C_STR },
	{ .key = "LocalIP", .conv = C_IP, .ecs = E(SOURCE_IP), .logon_ecs = E(DESTINATION_IP),
	  .rel = R_IP },
	{ .key = "LocalPort", .conv = C_INT, .ecs = E(SOURCE_PORT),
	  .logon_ecs = E(DESTINATION_PORT) },
	{ .key = "RemoteIP", .conv = C_IP, .ecs = E(DESTINATION_IP), .logon_ecs = E(SOURCE_IP),
	  .rel = R_IP },
	{ .key = "RemotePort", .conv = C_INT, .ecs = E(DESTINATION_PORT),
	  .logon_ecs = E(SOURCE_PORT) },
	{ .key = "RemoteUrl", .conv = C_STR, .ecs = E(URL_ORIGINAL) },
	{ .key = "RemoteIPType", .conv = C_STR },
	{ .key = "Protocol", .conv = C_STR },
	{ .key = "IPAddress", .conv = C_IP, .ecs = E(SOURCE_IP), .rel = R_IP },
	{ .key = "Port", .conv = C_INT, .ecs = E(SOURCE_PORT) },
	{ .key = "DestinationDeviceName", .conv = C_STR, .rel = R_HOST },
	{ .key = "DestinationIPAddress", .conv = C_IP, .ecs = E(DESTINATION_IP), .rel = R_IP },
	{ .key = "CountryCode", .conv = C_STR, .ecs = E(SOURCE_GEO_COUNTRY_ISO_CODE) },
	{ .key = "City", .conv = C_STR, .ecs = E(SOURCE_GEO_CITY_NAME) },
	{ .key = "ISP", .conv = C_STR },
	{ .key = "Location", .conv = C_STR },
	{ .key = "Application", .conv = C_STR },
	{ .key = "ApplicationId", .conv = C_STR },
	{ .key = "OAuthApplicationId", .conv = C_STR },
	{ .key = "UserAgent", .conv = C_STR, .ecs = E(USER_AGENT_ORIGINAL) },
	{ .key = "RegistryKey", .conv = C_STR },
	{ .key = "RegistryValueName", .conv = C_STR },
	{ .key = "RegistryValueData", .conv = C_STR },
	{ .key = "NetworkMessageId", .conv = C_STR },
	{ .key = "InternetMessageId", .conv = C_STR, .ecs = E(EMAIL_MESSAGE_ID) },
	{ .key = "Subject", .conv = C_STR, .ecs = E(EMAIL_SUBJECT) },
	{ .key = "EmailSubject", .conv = C_STR, .ecs = E(EMAIL_SUBJECT) },
	{ .key = "SenderFromAddress", .conv = C_ADD, .ecs = E(EMAIL_FROM_ADDRESS), .rel = R_USER },
	{ .key = "SenderMailFromAddress", .conv = C_STR },
	{ .key = "SenderIPv4", .conv = C_IP, .ecs = E(SOURCE_IP), .rel = R_IP },
	{ .key = "SenderIPv6", .conv = C_IP, .rel = R_IP },
	{ .key = "RecipientEmailAddress", .conv = C_ADD, .ecs = E(EMAIL_TO_ADDRESS), .rel = R_USER },
	{ .key = "EmailDirection", .conv = C_DIRECTION },
	{ .key = "DeliveryAction", .conv = C_STR },
	{ .key = "DeliveryLocation", .conv = C_STR },
	{ .key = "ThreatTypes", .conv = C_STR },
	{ .key = "ThreatNames", .conv = C_STR },
	{ .key = "ThreatFamily", .conv = C_STR },
	{ .key = "Url", .conv = C_STR, .ecs = E(URL_ORIGINAL) },
	{ .key = "AdditionalFields", .conv = C_STR },
};

/* Keys of evidence items kept in m365.alert.evidence.<key> arrays. */
static struct member evidence_keys[] = {
	{ .key = "verdict", .conv = C_STR },
	{ .key = "remediationStatus", .conv = C_STR },
	{ .key = "detectionStatus", .conv = C_STR },
	{ .key = "roles", .conv = C_STR },
	{ .key = "deviceDnsName", .conv = C_STR, .rel = R_HOST },
	{ .key = "hostName", .conv = C_STR, .rel = R_HOST },
	{ .key = "computerDnsName", .conv = C_STR, .rel = R_HOST },
	{ .key = "mdeDeviceId", .conv = C_STR },
	{ .key = "azureAdDeviceId", .conv = C_STR },
	{ .key = "osPlatform", .conv = C_STR },
	{ .key = "ipInterfaces", .conv = C_STR, .rel = R_IP },
	{ .key = "ipAddress", .conv = C_STR, .rel = R_IP },
	{ .key = "countryLetterCode", .conv = C_STR },
	{ .key = "url", .conv = C_STR },
	{ .key = "accountName", .conv = C_STR, .rel = R_USER },
	{ .key = "domainName", .conv = C_STR },
	{ .key = "userSid", .conv = C_STR },
	{ .key = "azureAdUserId", .conv = C_STR },
	{ .key = "aadUserId", .conv = C_STR },
	{ .key = "userPrincipalName", .conv = C_STR, .rel = R_USER },
	{ .key = "upn", .conv = C_STR, .rel = R_USER },
	{ .key = "primaryAddress", .conv = C_STR, .rel = R_USER },
	{ .key = "emailAddress", .conv = C_STR },
	{ .key = "sha1", .conv = C_STR, .rel = R_HASH },
	{ .key = "sha256", .conv = C_STR, .rel = R_HASH },
	{ .key = "md5", .conv = C_STR, .rel = R_HASH },
	{ .key = "fileName", .conv = C_STR },
	{ .key = "filePath", .conv = C_STR },
	{ .key = "processId", .conv = C_STR },
	{ .key = "parentProcessId", .conv = C_STR },
	{ .key = "processCommandLine", .conv = C_STR },
	{ .key = "registryKey", .conv = C_STR },
	{ .key = "registryHive", .conv = C_STR },
	{ .key = "registryValueName", .conv = C_STR },
	{ .key = "registryValue", .conv = C_STR },
	{ .key = "networkMessageId", .conv = C_STR },
	{ .key = "internetMessageId", .conv = C_STR },
	{ .key = "subject", .conv = C_STR },
	{ .key = "senderIp", .conv = C_STR, .rel = R_IP },
	{ .key = "recipientEmailAddress", .conv = C_STR },
	{ .key = "deliveryAction", .conv = C_STR },
	{ .key = "deliveryLocation", .conv = C_STR },
	{ .key = "antiSpamDirection", .conv = C_STR },
	{ .key = "appId", .conv = C_STR },
	{ .key = "instanceName", .conv = C_STR },
	{ .key = "resourceId", .conv = C_STR },
	{ .key = "resourceName", .conv = C_STR },
	{ .key = "securityGroupId", .conv = C_STR },
	{ .key = "query", .conv = C_STR },
	{ .key = "type", .conv = C_STR }, /* the item's @odata.type or entityType, short */
};

/* What an evidence item is, from its @odata.type (Graph) or entityType (MDE). */
enum ev_kind { EV_OTHER, EV_DEVICE, EV_FILE, EV_PROCESS, EV_USER, EV_IP, EV_URL, EV_MESSAGE };

/* event.category values, in the order they are written. */
enum cat { CAT_HOST, CAT_FILE, CAT_PROCESS, CAT_NETWORK, CAT_IAM, CAT_REGISTRY, CAT_EMAIL,
	   CAT_MALWARE, CAT_AUTHENTICATION, CAT_COUNT };

static const char *const cat_names[CAT_COUNT] = { "host", "file", "process", "network",
						  "iam", "registry", "email", "malware",
						  "authentication" };

#define NO_CAT CAT_COUNT

static const struct evidence_type {
	const char *graph; /* after #microsoft.graph.security. */
	const char *mde;   /* entityType, compared without case */
	uint8_t kind;
	uint8_t cat;
} evidence_types[] = {
	{ "deviceEvidence", "Machine", EV_DEVICE, CAT_HOST },
	{ "fileEvidence", "File", EV_FILE, CAT_FILE },
	{ "processEvidence", "Process", EV_PROCESS, CAT_PROCESS },
	{ "userEvidence", "User", EV_USER, CAT_IAM },
	{ "ipEvidence", "Ip", EV_IP, CAT_NETWORK },
	{ "urlEvidence", "Url", EV_URL, NO_CAT },
	{ "analyzedMessageEvidence", "MailMessage", EV_MESSAGE, CAT_EMAIL },
	{ "mailboxEvidence", "Mailbox", EV_OTHER, CAT_EMAIL },
	{ "mailClusterEvidence", "MailCluster", EV_OTHER, CAT_EMAIL },
	{ "registryKeyEvidence", "RegistryKey", EV_OTHER, CAT_REGISTRY },
	{ "registryValueEvidence", "RegistryValue", EV_OTHER, CAT_REGISTRY },
	{ "securityGroupEvidence", "SecurityGroup", EV_OTHER, CAT_IAM },
	{ "networkConnectionEvidence", "NetworkConnection", EV_OTHER, CAT_NETWORK },
	{ "dnsEvidence", "Dns", EV_OTHER, CAT_NETWORK },
};

/*
 * ECS fields an evidence value fills when none has yet (the first device, file... of the
 * alert wins): kind of item, the object the key is in ("" the item itself, NULL any), key.
 */
static const struct first_rule {
	uint8_t kind;
	const char *parent;
	const char *key;
	uint8_t conv; /* C_STR, C_INT, C_ADD or C_DIRECTION */
	unsigned field;
} first_rules[] = {
	{ EV_DEVICE, "", "deviceDnsName", C_STR, FIELD_HOST_NAME },
	{ EV_DEVICE, "", "mdeDeviceId", C_STR, FIELD_HOST_ID },
	{ EV_DEVICE, "", "osPlatform", C_STR, FIELD_HOST_OS_NAME },
	{ EV_FILE, NULL, "fileName", C_STR, FIELD_FILE_NAME },
	{ EV_FILE, NULL, "sha1", C_STR, FIELD_FILE_HASH_SHA1 },
	{ EV_FILE, NULL, "sha256", C_STR, FIELD_FILE_HASH_SHA256 },
	{ EV_FILE, NULL, "md5", C_STR, FIELD_FILE_HASH_MD5 },
	{ EV_FILE, NULL, "fileSize", C_INT, FIELD_FILE_SIZE },
	{ EV_PROCESS, "", "processId", C_INT, FIELD_PROCESS_PID },
	{ EV_PROCESS, "", "processCommandLine", C_STR, FIELD_PROCESS_COMMAND_LINE },
	{ EV_PROCESS, "imageFile", "fileName", C_STR, FIELD_PROCESS_NAME },
	{ EV_PROCESS, "", "fileName", C_STR, FIELD_PROCESS_NAME },
	{ EV_PROCESS, "imageFile", "sha256", C_STR, FIELD_PROCESS_HASH_SHA256 },
	{ EV_PROCESS, "", "sha256", C_STR, FIELD_PROCESS_HASH_SHA256 },
	{ EV_USER, "userAccount", "accountName", C_STR, FIELD_USER_NAME },
	{ EV_USER, "userAccount", "domainName", C_STR, FIELD_USER_DOMAIN },
	{ EV_USER, "userAccount", "userSid", C_STR, FIELD_USER_ID },
	{ EV_USER, "", "accountName", C_STR, FIELD_USER_NAME },
	{ EV_USER, "", "domainName", C_STR, FIELD_USER_DOMAIN },
	{ EV_USER, "", "userSid", C_STR, FIELD_USER_ID },
	{ EV_URL, "", "url", C_STR, FIELD_URL_ORIGINAL },
	{ EV_MESSAGE, "", "internetMessageId", C_STR, FIELD_EMAIL_MESSAGE_ID },
	{ EV_MESSAGE, "", "subject", C_STR, FIELD_EMAIL_SUBJECT },
	{ EV_MESSAGE, "", "antiSpamDirection", C_DIRECTION, FIELD_EMAIL_DIRECTION },
	{ EV_MESSAGE, "p1Sender", "emailAddress", C_ADD, FIELD_EMAIL_FROM_ADDRESS },
	{ EV_MESSAGE, "", "recipientEmailAddress", C_ADD, FIELD_EMAIL_TO_ADDRESS },
};

/*
 * AdvancedHunting tables: event.dataset, kind and category by the record's category. A
 * logon table's record is a logon to the device from its Remote* end: RemoteIP/RemotePort
 * are the source (where the logon came from) and Local* the destination, the other way
 * round from a connection the device makes (member logon_ecs); and its ActionType
 * LogonSuccess / LogonFailed gives event.outcome. A logon is ECS's authentication, of
 * type start when it succeeded (info otherwise), as an Entra ID sign-in (azure.c).
 */
static const struct table {
	const char *name; /* after AdvancedHunting- */
	const char *dataset;
	bool alert;
	uint8_t cat;
	const char *type;
	bool logon;
} tables[] = {
	{ "AlertInfo", "m365.hunting.alert_info", true, NO_CAT, "info", false },
	{ "AlertEvidence", "m365.hunting.alert_evidence", true, NO_CAT, "info", false },
	{ "DeviceProcessEvents", "m365.hunting.device_process_events", false, CAT_PROCESS,
	  "start", false },
	{ "DeviceNetworkEvents", "m365.hunting.device_network_events", false, CAT_NETWORK,
	  "connection", false },
	{ "DeviceFileEvents", "m365.hunting.device_file_events", false, CAT_FILE, "info", false },
	{ "DeviceRegistryEvents", "m365.hunting.device_registry_events", false, CAT_REGISTRY,
	  "change", false },
	{ "DeviceLogonEvents", "m365.hunting.device_logon_events", false, CAT_AUTHENTICATION,
	  "info", true },
	{ "DeviceImageLoadEvents", "m365.hunting.device_image_load_events", false, NO_CAT,
	  "info", false },
	{ "DeviceEvents", "m365.hunting.device_events", false, CAT_HOST, "info", false },
	{ "DeviceInfo", "m365.hunting.device_info", false, CAT_HOST, "info", false },
	{ "DeviceNetworkInfo", "m365.hunting.device_network_info", false, CAT_HOST, "info",
	  false },
	{ "DeviceFileCertificateInfo", "m365.hunting.device_file_certificate_info", false,
	  CAT_FILE, "info", false },
	{ "EmailEvents", "m365.hunting.email_events", false, CAT_EMAIL, "info", false },
	{ "EmailAttachmentInfo", "m365.hunting.email_attachment_info", false, CAT_EMAIL, "info",
	  false },
	{ "EmailUrlInfo", "m365.hunting.email_url_info", false, CAT_EMAIL, "info", false },
	{ "EmailPostDeliveryEvents", "m365.hunting.email_post_delivery_events", false,
	  CAT_EMAIL, "info", false },
	{ "UrlClickEvents", "m365.hunting.url_click_events", false, CAT_NETWORK, "info", false },
	{ "IdentityLogonEvents", "m365.hunting.identity_logon_events", false,
	  CAT_AUTHENTICATION, "info", true },
	{ "IdentityQueryEvents", "m365.hunting.identity_query_events", false, NO_CAT, "info",
	  false },
	{ "IdentityDirectoryEvents", "m365.hunting.identity_directory_events", false, CAT_IAM,
	  "info", false },
	{ "CloudAppEvents", "m365.hunting.cloud_app_events", false, NO_CAT, "info", false },
};

/* Keys are found through a small open-addressing hash of their bytes, built once. */
#define INDEX_SLOTS 256 /* more than twice the largest table */

enum table_id { T_ALERT, T_ENDPOINT, T_RELATED_USER, T_INCIDENT, T_INCIDENT_ALERT, T_HUNTING,
		T_COLUMNS, T_EVIDENCE, T_COUNT };

/* The member tables, the prefix of their vendor fields and their key index. */
static struct member_table {
	struct member *m;
	size_t n;
	const char *prefix;
	uint8_t index[INDEX_SLOTS]; /* member index + 1, 0: empty */
} member_tables[T_COUNT] = {
	[T_ALERT] = { alert_members, ARRAY_SIZE(alert_members), "m365.alert.", { 0 } },
	[T_ENDPOINT] = { endpoint_members, ARRAY_SIZE(endpoint_members), "m365.alert.", { 0 } },
	[T_RELATED_USER] = { related_user_members, ARRAY_SIZE(related_user_members),
			     "m365.alert.relatedUser.", { 0 } },
	[T_INCIDENT] = { incident_members, ARRAY_SIZE(incident_members), "m365.incident.",
			 { 0 } },
	[T_INCIDENT_ALERT] = { incident_alert_members, ARRAY_SIZE(incident_alert_members),
			       "m365.incident.alerts.", { 0 } },
	[T_HUNTING] = { hunting_members, ARRAY_SIZE(hunting_members), "m365.hunting.", { 0 } },
	[T_COLUMNS] = { hunting_columns, ARRAY_SIZE(hunting_columns), "m365.hunting.", { 0 } },
	[T_EVIDENCE] = { evidence_keys, ARRAY_SIZE(evidence_keys), "m365.alert.evidence.",
			 { 0 } },
};

_Static_assert(ARRAY_SIZE(hunting_columns) < INDEX_SLOTS / 2, "index load at most 1/2");

static unsigned key_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h & (INDEX_SLOTS - 1);
}

static void index_add(struct member_table *t, size_t i)
{
	unsigned h = key_hash(t->m[i].key, t->m[i].klen);

	while (t->index[h])
		h = (h + 1) & (INDEX_SLOTS - 1);
	t->index[h] = (uint8_t)(i + 1);
}

static pthread_once_t fields_once = PTHREAD_ONCE_INIT;
static int fields_rc;
static int vid_evidence_type;

/* Values not kept as fields (they stay in event.original), by reason. */
enum drop { DROP_NAME_BUDGET, DROP_NAME_INVALID, DROP_NAME_TYPE, DROP_EVENT_FULL,
	    DROP_EVIDENCE, DROP_COUNT };

static const char *const drop_names[DROP_COUNT] = { "name_budget", "name_invalid", "name_type",
						    "event_full", "evidence_limit" };
static _Atomic uint64_t dropped[DROP_COUNT];
static struct drops m365_drops = DROPS_INIT("m365", drop_names, dropped);
static atomic_uint names_made; /* vendor names made from keys the tables do not list */

uint64_t m365_dropped(void)
{
	return drops_total(&m365_drops);
}

int m365_configure(const struct config *c, struct err *e)
{
	return drops_register(&m365_drops, e);
}

static int intern(const char *prefix, const char *key, enum field_type t)
{
	char name[FIELD_NAME_MAX];
	int n = snprintf(name, sizeof(name), "%s%s", prefix, key);

	if (n < 0 || (size_t)n >= sizeof(name))
		return -EINVAL;
	return field_intern(name, (size_t)n, t);
}

static bool has_vendor_field(enum conv c)
{
	return c != C_EVIDENCE && c != C_ALERTS && c != C_PROPS && c != C_RELUSER;
}

static void fields_init(void)
{
	int rc = 0;

	for (size_t t = 0; t < T_COUNT && rc >= 0; t++) {
		for (size_t i = 0; i < member_tables[t].n && rc >= 0; i++) {
			struct member *m = &member_tables[t].m[i];

			m->vid = -1;
			m->klen = (uint8_t)strlen(m->key);
			index_add(&member_tables[t], i);
			if (!has_vendor_field(m->conv))
				continue;
			rc = intern(member_tables[t].prefix, m->key, FT_STR);
			/* a name registered before with another type is not used (put_vendor) */
			m->vid = rc >= 0 && field_type((unsigned)rc) != FT_STR ? -1 : rc;
		}
	}
	vid_evidence_type = evidence_keys[ARRAY_SIZE(evidence_keys) - 1].vid;
	fields_rc = rc < 0 ? rc : 0;
}

/* One record being decoded. */
struct rec {
	struct event *ev;
	struct jsonin j;
	enum shape shape;
	const struct table *table; /* SH_HUNTING: the record's table, NULL for one not listed */
	int64_t t[S_COUNT];
	bool has_t[S_COUNT];
	struct { const char *s; size_t len; } note[N_COUNT];
	unsigned cats;           /* bit per enum cat */
	unsigned evidence_n;     /* evidence items seen */
	bool evidence_truncated; /* items or values past the limits were skipped */
	struct err *e;
};

static bool eq_nocase(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && !strncasecmp(s, lit, len);
}

static bool has_prefix(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && !memcmp(s, lit, n);
}

static const struct member *find_member(const struct member_table *t,
					const struct jsonin_value *k)
{
	unsigned h = key_hash(k->s, k->len);

	for (; t->index[h]; h = (h + 1) & (INDEX_SLOTS - 1)) {
		const struct member *m = &t->m[t->index[h] - 1];

		if (m->klen == k->len && !memcmp(m->key, k->s, k->len))
			return m;
	}
	return NULL;
}

/* Whether a key may become part of a field name: one name part, no dots or spaces. */
static bool key_usable(const struct jsonin_value *k)
{
	if (!k->len || k->len > KEY_MAX)
		return false;
	for (size_t i = 0; i < k->len; i++) {
		unsigned char c = (unsigned char)k->s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '$' || c == '@'))
			return false;
	}
	return true;
}

/*
 * Names made from unlisted keys, per thread: ids never change in a process, and the
 * registry's lock is then taken once per key and thread, not once per value.
 */
#define NAME_CACHE_SLOTS 256

static __thread struct name_cache {
	const char *prefix; /* the member table's prefix (its pointer), NULL: empty */
	uint8_t len;
	char key[KEY_MAX];
	int id;
} name_cache[NAME_CACHE_SLOTS];

/*
 * The vendor field prefix + key for a key the tables do not list, made while fewer than
 * M365_NAME_BUDGET such names exist; -1 (and the drop counted) when it cannot be kept.
 */
static int unknown_field(const char *prefix, const struct jsonin_value *k)
{
	char name[FIELD_NAME_MAX];
	size_t pl = strlen(prefix);
	struct name_cache *c;
	int id;

	if (!key_usable(k) || pl + k->len >= sizeof(name)) {
		drops_count(&m365_drops, DROP_NAME_INVALID, 1);
		return -1;
	}
	c = &name_cache[(key_hash(k->s, k->len) + (uintptr_t)prefix) & (NAME_CACHE_SLOTS - 1)];
	if (c->prefix == prefix && c->len == k->len && !memcmp(c->key, k->s, k->len))
		return c->id;
	memcpy(name, prefix, pl);
	memcpy(name + pl, k->s, k->len);
	id = field_lookup(name, pl + k->len);
	if (id < 0) {
		if (atomic_load_explicit(&names_made, memory_order_relaxed) >= M365_NAME_BUDGET ||
		    (id = field_intern(name, pl + k->len, FT_STR)) < 0) {
			drops_count(&m365_drops, DROP_NAME_BUDGET, 1);
			return -1;
		}
		atomic_fetch_add_explicit(&names_made, 1, memory_order_relaxed);
	}
	if (field_type((unsigned)id) != FT_STR) {
		drops_count(&m365_drops, DROP_NAME_TYPE, 1);
		return -1;
	}
	c->prefix = prefix;
	c->len = (uint8_t)k->len;
	memcpy(c->key, k->s, k->len);
	c->id = id;
	return id;
}

static int add_related(struct event *ev, unsigned rel, const char *s, size_t len)
{
	struct ipaddr ip;

	if (rel & R_IP) /* a value that is no IP ("not-an-ip") stays in its vendor field */
		return ipaddr_parse(&ip, s, len) < 0 ? 0
							 : event_add_ip_once(ev, FIELD_RELATED_IP, &ip);
	if (rel & R_HOST)
		return event_add_str_once(ev, FIELD_RELATED_HOSTS, s, len);
	if (rel & R_USER)
		return event_add_str_once(ev, FIELD_RELATED_USER, s, len);
	if (rel & R_HASH)
		return event_add_str_once(ev, FIELD_RELATED_HASH, s, len);
	return 0;
}

/* informational 1, low 2, medium 3, high 4 (Graph camelCase and MDE PascalCase); else 0. */
static int severity_code(const char *s, size_t len)
{
	static const char *const words[] = { "informational", "low", "medium", "high" };

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (eq_nocase(s, len, words[i]))
			return (int)i + 1;
	return 0;
}

/*
 * email.direction in ECS's words from Graph's camelCase or AdvancedHunting's PascalCase
 * (inbound, outbound, intraOrg / Intra-org); NULL for other words (vendor field only).
 */
static const char *mail_direction(const char *s, size_t len)
{
	if (eq_nocase(s, len, "inbound"))
		return "inbound";
	if (eq_nocase(s, len, "outbound"))
		return "outbound";
	if (eq_nocase(s, len, "intraOrg") || eq_nocase(s, len, "intra-org"))
		return "internal";
	if (eq_nocase(s, len, "unknown"))
		return "unknown";
	return NULL;
}

static int set_direction(struct event *ev, const char *s, size_t len)
{
	const char *d = mail_direction(s, len);

	return d ? event_set_str(ev, FIELD_EMAIL_DIRECTION, d, strlen(d)) : 0;
}

/*
 * A number, or a string of digits, into integer field f when f can hold it
 * (field_int_valid: a port 0-65535, a size 0 or more); else nothing (the vendor field
 * keeps the text).
 */
static int set_int_value(struct event *ev, unsigned f, const char *s, size_t len)
{
	int64_t n;

	if (jsonin_int(s, len, &n) < 0 || !field_int_valid(f, n))
		return 0;
	return event_set_int(ev, f, n);
}

/* Sets (multi: adds) vendor field vid; a name of another type (-1) is counted instead. */
static int put_vendor(struct rec *r, int vid, const char *s, size_t len, bool multi)
{
	if (vid < 0) {
		drops_count(&m365_drops, DROP_NAME_TYPE, 1);
		return 0;
	}
	return multi ? event_add_str_once(r->ev, (unsigned)vid, s, len)
		     : event_set_str(r->ev, (unsigned)vid, s, len);
}

/* RFC 3339, or the same without a zone (Microsoft's times are UTC). */
static int parse_time(const char *s, size_t len, int64_t *ns)
{
	char utc[TIME_RFC3339_LEN + 8];
	size_t bad;
	int rc = time_parse_rfc3339(s, len, ns, &bad);

	if (rc != -EINVAL || bad != len || len + 1 > sizeof(utc))
		return rc;
	memcpy(utc, s, len);
	utc[len] = 'Z';
	return time_parse_rfc3339(utc, len + 1, ns, &bad);
}

/*
 * A time member: its vendor field (the text as written) and, by its slot, an event time.
 * A time out of range (0001-01-01T00:00:00Z) means "not set"; text that is no time stays
 * in the vendor field and gives no event time (one bad time must not fail an alert).
 */
static int put_time(struct rec *r, const struct member *m, const struct jsonin_value *v)
{
	int64_t ns;
	int rc = v->type == JSONIN_STRING ? parse_time(v->s, v->len, &ns) : -EINVAL;

	if (rc == -ERANGE)
		return 0;
	if (rc == 0 && m->slot && !r->has_t[m->slot]) {
		r->t[m->slot] = ns;
		r->has_t[m->slot] = true;
	}
	return put_vendor(r, m->vid, v->s, v->len, false);
}

/* What a scalar member feeds besides its vendor field. */
static int put_ecs(struct rec *r, const struct member *m, const char *s, size_t len)
{
	struct event *ev = r->ev;
	struct ipaddr ip;
	int rc = 0;

	if (m->conv == C_SEV) {
		int code = severity_code(s, len);

		return code ? event_set_int(ev, FIELD_EVENT_SEVERITY, code) : 0;
	}
	if (m->conv == C_DIRECTION)
		return set_direction(ev, s, len);
	if (m->ecs) {
		bool logon = r->table && r->table->logon && m->logon_ecs;
		unsigned f = (logon ? m->logon_ecs : m->ecs) - 1;

		if (m->conv == C_ADD)
			rc = event_add_str_once(ev, f, s, len);
		else if (m->conv == C_INT)
			rc = set_int_value(ev, f, s, len);
		else if (m->conv == C_IP)
			rc = ipaddr_parse(&ip, s, len) < 0 ? 0 : event_set_ip(ev, f, &ip);
		else
			rc = event_set_str(ev, f, s, len);
	}
	return rc < 0 ? rc : add_related(ev, m->rel, s, len);
}

/*
 * Whether one more array value fits beside the fields set at the end; when not, the value
 * is counted as dropped (it stays in event.original) instead of failing the record.
 */
static bool room_for_value(const struct rec *r)
{
	if (r->ev->n + VALUES_RESERVE < EVENT_MAX_VALUES)
		return true;
	drops_count(&m365_drops, DROP_EVENT_FULL, 1);
	return false;
}

/* A scalar value of member m. multi: the vendor field collects values (an array). */
static int put_scalar(struct rec *r, const struct member *m, const struct jsonin_value *v,
		      bool multi)
{
	int rc;

	if (v->type == JSONIN_NULL || !v->len)
		return 0;
	if (m->conv == C_TIME)
		return put_time(r, m, v);
	if (m->note) {
		r->note[m->note].s = v->s;
		r->note[m->note].len = v->len;
	}
	if (multi && !room_for_value(r))
		return 0;
	rc = put_vendor(r, m->vid, v->s, v->len, multi);
	return rc < 0 ? rc : put_ecs(r, m, v->s, v->len);
}

/* "T1564.001" -> threat.technique.id "T1564" (the technique of a sub-technique). */
static int add_technique(struct event *ev, const char *s, size_t len)
{
	const char *dot = memchr(s, '.', len);

	if (len < 2 || s[0] != 'T')
		return 0;
	return event_add_str_once(ev, FIELD_THREAT_TECHNIQUE_ID, s, dot ? (size_t)(dot - s) : len);
}

/* An array of strings (entered already): the vendor array, and per conv the ECS field. */
static int read_strings(struct rec *r, struct jsonin *j, const struct member *m)
{
	struct jsonin_value v;
	int rc;

	while ((rc = jsonin_more(j)) > 0) {
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			rc = jsonin_skip(j);
		} else if (v.type != JSONIN_NULL && v.len && room_for_value(r)) {
			rc = put_vendor(r, m->vid, v.s, v.len, true);
			if (rc >= 0 && m->conv == C_TECHNIQUES)
				rc = add_technique(r->ev, v.s, v.len);
			else if (rc >= 0 && m->ecs)
				rc = event_add_str_once(r->ev, m->ecs - 1, v.s, v.len);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/*
 * AttackTechniques: a JSON array inside a string, e.g. ["Valid Accounts (T1078)", ...].
 * Each "(Tnnnn[.nnn])" at an element's end gives a threat.technique.id; text that is not
 * such an array is kept only in the vendor field.
 */
static int read_attack(struct rec *r, const struct jsonin_value *v)
{
	struct jsonin j;
	struct jsonin_value a, x;
	int rc;

	jsonin_init(&j, v->s, v->len, r->ev->arena, 0);
	if (jsonin_value(&j, &a) < 0 || a.type != JSONIN_ARRAY)
		return 0;
	while (jsonin_more(&j) > 0 && jsonin_value(&j, &x) == 0) {
		const char *open;

		if (x.type != JSONIN_STRING) {
			if ((x.type == JSONIN_OBJECT || x.type == JSONIN_ARRAY) && jsonin_skip(&j) < 0)
				break;
			continue;
		}
		open = x.len ? memrchr(x.s, '(', x.len) : NULL;
		if (open && x.s[x.len - 1] == ')' && room_for_value(r) &&
		    (rc = add_technique(r->ev, open + 1, (size_t)(x.s + x.len - 1 - (open + 1)))) < 0)
			return rc;
	}
	return 0;
}

/* Room left for evidence values (the fields set after them need VALUES_RESERVE). */
static bool evidence_room(struct rec *r)
{
	if (r->ev->n + VALUES_RESERVE < EVENT_MAX_VALUES)
		return true;
	r->evidence_truncated = true;
	return false;
}

/* The ECS fields an evidence value fills when it is the first of its kind. */
static int first_of_kind(struct rec *r, unsigned kind, const char *parent, const char *key,
			 size_t klen, const char *s, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(first_rules); i++) {
		const struct first_rule *f = &first_rules[i];

		if (!klen || f->kind != kind || f->key[0] != key[0] || strlen(f->key) != klen ||
		    memcmp(f->key, key, klen) ||
		    (f->parent && strcmp(f->parent, parent)))
			continue;
		if (f->conv == C_ADD)
			return event_add_str_once(r->ev, f->field, s, len);
		if (event_get(r->ev, f->field))
			return 0;
		if (f->conv == C_INT)
			return set_int_value(r->ev, f->field, s, len);
		if (f->conv == C_DIRECTION)
			return set_direction(r->ev, s, len);
		return event_set_str(r->ev, f->field, s, len);
	}
	return 0;
}

/* One scalar of an evidence item: vendor array, related.*, first-of-kind ECS fields. */
static int evidence_value(struct rec *r, unsigned kind, const char *parent,
			  const struct jsonin_value *k, const struct jsonin_value *v)
{
	const struct member *m;
	int id, rc;

	if (v->type == JSONIN_NULL || !v->len || !evidence_room(r))
		return 0;
	m = find_member(&member_tables[T_EVIDENCE], k);
	if (m && ((rc = put_vendor(r, m->vid, v->s, v->len, true)) < 0 ||
		  (rc = add_related(r->ev, m->rel, v->s, v->len)) < 0))
		return rc;
	if (!m && (id = unknown_field(member_tables[T_EVIDENCE].prefix, k)) >= 0 &&
	    (rc = event_add_str_once(r->ev, (unsigned)id, v->s, v->len)) < 0)
		return rc;
	return first_of_kind(r, kind, parent, k->s, k->len, v->s, v->len);
}

/* The item's @odata.type or entityType: its kind, evidence.type and event.category. */
static int evidence_type(struct rec *r, const struct jsonin_value *v, unsigned *kind)
{
	const char *s = v->s;
	size_t len = v->len;
	bool graph = has_prefix(s, len, GRAPH_TYPE_PREFIX);

	if (v->type != JSONIN_STRING || !len)
		return 0;
	if (graph) {
		s += strlen(GRAPH_TYPE_PREFIX);
		len -= strlen(GRAPH_TYPE_PREFIX);
	}
	for (size_t i = 0; i < ARRAY_SIZE(evidence_types); i++) {
		const struct evidence_type *t = &evidence_types[i];

		if (graph ? (strlen(t->graph) == len && !memcmp(t->graph, s, len))
			  : eq_nocase(s, len, t->mde)) {
			*kind = t->kind;
			if (t->cat != NO_CAT)
				r->cats |= 1u << t->cat;
			break;
		}
	}
	return evidence_room(r) ? put_vendor(r, vid_evidence_type, s, len, true) : 0;
}

static int evidence_object(struct rec *r, struct jsonin *j, unsigned depth, const char *parent,
			   unsigned *kind);

/*
 * An object or array (entered already) under key k of an evidence object: nested objects
 * are read with k as their parent, strings of an array as values of k.
 */
static int evidence_container(struct rec *r, struct jsonin *j, const struct jsonin_value *k,
			      enum jsonin_type type, unsigned depth, const char *parent,
			      unsigned *kind)
{
	struct jsonin_value x;
	char name[64];
	int rc;

	if (depth >= EVIDENCE_DEPTH_MAX || k->len >= sizeof(name))
		return jsonin_skip(j);
	memcpy(name, k->s, k->len);
	name[k->len] = 0;
	if (type == JSONIN_OBJECT)
		return evidence_object(r, j, depth + 1, name, kind);
	while ((rc = jsonin_more(j)) > 0) {
		if ((rc = jsonin_value(j, &x)) < 0)
			return rc;
		if (x.type == JSONIN_OBJECT)
			rc = evidence_object(r, j, depth + 1, name, kind);
		else if (x.type == JSONIN_ARRAY)
			rc = jsonin_skip(j);
		else
			rc = evidence_value(r, *kind, parent, k, &x);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/*
 * The members of one evidence object (entered already). depth 0 is the item itself,
 * whose type key comes first; nested objects (fileDetails, imageFile, userAccount...) are
 * read with their key as parent, deeper than EVIDENCE_DEPTH_MAX skipped.
 */
static int evidence_object(struct rec *r, struct jsonin *j, unsigned depth, const char *parent,
			   unsigned *kind)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
			rc = evidence_container(r, j, &k, v.type, depth, parent, kind);
		else if (!depth && (jsonin_key_is(&k, "@odata.type") ||
				    jsonin_key_is(&k, "entityType")))
			rc = evidence_type(r, &v, kind);
		else
			rc = evidence_value(r, *kind, parent, &k, &v);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* Called for each object of each_object(), entered already. */
typedef int (*object_fn)(struct rec *r, struct jsonin *j);

/*
 * A value that is one object or an array of objects (Microsoft sends both: evidence is an
 * array, one object in some exports): fn for each object; other values are skipped.
 */
static int each_object(struct rec *r, struct jsonin *j, object_fn fn)
{
	struct jsonin_value v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type == JSONIN_OBJECT)
		return fn(r, j);
	if (v.type != JSONIN_ARRAY)
		return 0;
	while ((rc = jsonin_more(j)) > 0) {
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		if (v.type == JSONIN_OBJECT)
			rc = fn(r, j);
		else if (v.type == JSONIN_ARRAY)
			rc = jsonin_skip(j);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int evidence_item(struct rec *r, struct jsonin *j)
{
	unsigned kind = EV_OTHER;

	if (++r->evidence_n > M365_EVIDENCE_MAX) {
		r->evidence_truncated = true;
		return jsonin_skip(j);
	}
	return evidence_object(r, j, 0, "", &kind);
}

static int read_members(struct rec *r, struct jsonin *j, const struct member_table *t,
			bool multi);

/* An incident's alert ($expand=alerts): its values are added to m365.incident.alerts.*. */
static int incident_alert(struct rec *r, struct jsonin *j)
{
	return read_members(r, j, &member_tables[T_INCIDENT_ALERT], true);
}

/* AdvancedHunting properties: one object of columns. */
static int hunting_properties(struct rec *r, struct jsonin *j)
{
	return read_members(r, j, &member_tables[T_COLUMNS], false);
}

/* MDE relatedUser {userName, domainName}: user.name, user.domain, related.user. */
static int related_user(struct rec *r, struct jsonin *j)
{
	return read_members(r, j, &member_tables[T_RELATED_USER], false);
}

static int read_member(struct rec *r, struct jsonin *j, const struct member *m, bool multi)
{
	struct jsonin_value v;
	const char *raw;
	size_t len;
	int rc;

	switch (m->conv) {
	case C_EVIDENCE:
		return each_object(r, j, evidence_item);
	case C_ALERTS:
		return each_object(r, j, incident_alert);
	case C_PROPS:
		return each_object(r, j, hunting_properties);
	case C_RELUSER:
		return each_object(r, j, related_user);
	case C_RAW:
		if ((rc = jsonin_raw_value(j, &raw, &len)) < 0)
			return rc;
		if ((len == 4 && !memcmp(raw, "null", 4)) || (len == 2 && raw[0] == '[') ||
		    (len == 2 && raw[0] == '{'))
			return 0;
		return put_vendor(r, m->vid, raw, len, false);
	default:
		break;
	}
	if ((rc = jsonin_value(j, &v)) < 0)
		return rc;
	if (v.type == JSONIN_ARRAY && (m->conv == C_STRS || m->conv == C_TECHNIQUES))
		return read_strings(r, j, m);
	if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
		return jsonin_skip(j); /* a container where a scalar was expected: kept in original */
	if ((rc = put_scalar(r, m, &v, multi)) < 0 || m->conv != C_ATTACK ||
	    v.type != JSONIN_STRING)
		return rc;
	return read_attack(r, &v);
}

/* Whether the next value of j is an object or an array (whitespace skipped). */
static bool next_is_container(const struct jsonin *j)
{
	size_t i = j->pos;

	while (i < j->len && (j->p[i] == ' ' || j->p[i] == '\t' || j->p[i] == '\n' ||
			      j->p[i] == '\r'))
		i++;
	return i < j->len && (j->p[i] == '{' || j->p[i] == '[');
}

/*
 * A key the table does not list: kept as prefix + key (a container as its JSON text),
 * except OData control information (@odata.*), which only says what the record is.
 */
static int read_unknown(struct rec *r, struct jsonin *j, const struct member_table *t,
			const struct jsonin_value *k, bool multi)
{
	struct jsonin_value v;
	const char *s;
	size_t len;
	int id, rc;

	if (has_prefix(k->s, k->len, "@odata."))
		return jsonin_skip_value(j);
	if (next_is_container(j)) {
		if ((rc = jsonin_raw_value(j, &s, &len)) < 0)
			return rc;
	} else {
		if ((rc = jsonin_value(j, &v)) < 0)
			return rc;
		s = v.s;
		len = v.type == JSONIN_NULL ? 0 : v.len;
	}
	if (!len || (len == 2 && (s[0] == '[' || s[0] == '{')) || !room_for_value(r))
		return 0;
	if ((id = unknown_field(t->prefix, k)) < 0)
		return 0;
	return multi ? event_add_str_once(r->ev, (unsigned)id, s, len)
		     : event_set_str(r->ev, (unsigned)id, s, len);
}

/* The members of an object (entered already) by table; unknown keys by read_unknown. */
static int read_members(struct rec *r, struct jsonin *j, const struct member_table *t,
			bool multi)
{
	struct jsonin_value k;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		const struct member *m = find_member(t, &k);

		if ((rc = m ? read_member(r, j, m, multi) : read_unknown(r, j, t, &k, multi)) < 0)
			return rc;
	}
	return rc;
}

/* A failure of reader j (its position) or of building the event. */
static int fail_json(struct rec *r, struct jsonin *j, int rc)
{
	struct err je = ERR_INIT;

	if (jsonin_error(j, &je) < 0)
		return err_set(r->e, rc, "m365: %s", je.msg);
	return err_set(r->e, rc, "m365: cannot build the event: %s", strerror(-rc));
}

static const struct table *find_table(const char *s, size_t len)
{
	if (!has_prefix(s, len, HUNTING_PREFIX))
		return NULL;
	s += strlen(HUNTING_PREFIX);
	len -= strlen(HUNTING_PREFIX);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		if (strlen(tables[i].name) == len && !memcmp(tables[i].name, s, len))
			return &tables[i];
	return NULL;
}

/* What a top-level key says about the shape (SH_NONE: nothing). */
static enum shape shape_of(const struct jsonin_value *k, const struct jsonin_value *v)
{
	static const struct { const char *key; enum shape shape; } decisive[] = {
		{ "providerAlertId", SH_ALERT },     { "serviceSource", SH_ALERT },
		{ "alertWebUrl", SH_ALERT },         { "productName", SH_ALERT },
		{ "displayName", SH_INCIDENT },      { "redirectIncidentId", SH_INCIDENT },
		{ "customTags", SH_INCIDENT },       { "alertCreationTime", SH_ENDPOINT },
		{ "machineId", SH_ENDPOINT },        { "computerDnsName", SH_ENDPOINT },
		{ "aadTenantId", SH_ENDPOINT },
	};
	bool str = v->type == JSONIN_STRING;

	if (jsonin_key_is(k, "@odata.type") && str) {
		if (v->len == strlen(GRAPH_TYPE_PREFIX "alert") &&
		    !memcmp(v->s, GRAPH_TYPE_PREFIX "alert", v->len))
			return SH_ALERT;
		if (v->len == strlen(GRAPH_TYPE_PREFIX "incident") &&
		    !memcmp(v->s, GRAPH_TYPE_PREFIX "incident", v->len))
			return SH_INCIDENT;
		return SH_NONE;
	}
	if (jsonin_key_is(k, "category"))
		return str && has_prefix(v->s, v->len, HUNTING_PREFIX) ? SH_HUNTING : SH_NONE;
	for (size_t i = 0; i < ARRAY_SIZE(decisive); i++)
		if (jsonin_key_is(k, decisive[i].key))
			return decisive[i].shape;
	return SH_NONE;
}

/* First pass: top-level keys until one tells the shape (no values kept). */
static int classify(struct rec *r, const char *p, size_t len)
{
	struct jsonin_value k, v;
	int rc;

	jsonin_init(&r->j, p, len, r->ev->arena, 0);
	if ((rc = jsonin_value(&r->j, &v)) < 0)
		goto fail;
	if (v.type != JSONIN_OBJECT)
		return err_set(r->e, -EINVAL, "m365: byte %zu: expected a JSON object, found %s",
			       v.offset, v.type == JSONIN_ARRAY ? "an array" : "a scalar");
	while ((rc = jsonin_key(&r->j, &k)) > 0) {
		if ((rc = jsonin_value(&r->j, &v)) < 0)
			goto fail;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			if ((rc = jsonin_skip(&r->j)) < 0)
				goto fail;
		} else if ((r->shape = shape_of(&k, &v)) != SH_NONE) {
			if (r->shape == SH_HUNTING)
				r->table = find_table(v.s, v.len);
			return 0;
		}
	}
	if (rc < 0)
		goto fail;
	return err_set(r->e, -EINVAL,
		       "m365: not a Defender record: expected @odata.type " GRAPH_TYPE_PREFIX
		       "alert or incident, a category " HUNTING_PREFIX "*, or a Defender for "
		       "Endpoint alert (alertCreationTime, machineId)");
fail:
	return fail_json(r, &r->j, rc);
}

static bool note_is(const struct rec *r, enum note n, const char *lit)
{
	return r->note[n].s && eq_nocase(r->note[n].s, r->note[n].len, lit);
}

/*
 * A logon's event.outcome from its ActionType (event.action): LogonSuccess, LogonFailed;
 * *type becomes "start" for a success.
 */
static int put_logon_outcome(struct event *ev, const char **type)
{
	const char *a;
	size_t n;

	if (!event_get_str(ev, FIELD_EVENT_ACTION, &a, &n))
		return 0;
	if (eq_nocase(a, n, "LogonSuccess")) {
		*type = "start";
		return event_set_str(ev, FIELD_EVENT_OUTCOME, "success", 7);
	}
	if (eq_nocase(a, n, "LogonFailed"))
		return event_set_str(ev, FIELD_EVENT_OUTCOME, "failure", 7);
	return 0;
}

/* event.module, dataset, kind, category and type, from the shape and what was read. */
static int classify_event(struct rec *r)
{
	static const char *const datasets[] = {
		[SH_ALERT] = "m365.alert", [SH_INCIDENT] = "m365.incident",
		[SH_ENDPOINT] = "m365.endpoint_alert", [SH_HUNTING] = "m365.hunting",
	};
	struct event *ev = r->ev;
	const char *dataset = datasets[r->shape], *type = "info";
	bool alert = r->shape != SH_HUNTING;
	int rc = 0;

	if (r->shape == SH_HUNTING) {
		const struct table *t = r->table;

		if (t) {
			dataset = t->dataset;
			alert = t->alert;
			type = t->type;
			if (t->cat != NO_CAT)
				r->cats |= 1u << t->cat;
		}
	}
	if (note_is(r, N_DETERMINATION, "malware") || note_is(r, N_CATEGORY, "malware"))
		r->cats |= 1u << CAT_MALWARE;
	if (note_is(r, N_DETERMINATION, "phishing"))
		r->cats |= 1u << CAT_EMAIL;
	rc = err_first(rc, event_set_str(ev, FIELD_EVENT_MODULE, "m365", 4));
	rc = err_first(rc, event_set_str(ev, FIELD_EVENT_DATASET, dataset, strlen(dataset)));
	rc = err_first(rc, event_set_str(ev, FIELD_EVENT_KIND, alert ? "alert" : "event", 5));
	if (rc >= 0 && r->table && r->table->logon)
		rc = put_logon_outcome(ev, &type);
	for (unsigned c = 0; c < CAT_COUNT && rc >= 0; c++)
		if (r->cats & (1u << c))
			rc = event_add_str(ev, FIELD_EVENT_CATEGORY, cat_names[c],
					   strlen(cat_names[c]));
	if (rc >= 0 && r->cats)
		rc = event_add_str(ev, FIELD_EVENT_TYPE, type, strlen(type));
	if (rc >= 0 && event_get(ev, FIELD_CLOUD_ACCOUNT_ID))
		rc = event_set_str(ev, FIELD_CLOUD_PROVIDER, "azure", 5);
	if (rc >= 0 && r->evidence_truncated) {
		drops_count(&m365_drops, DROP_EVIDENCE, 1);
		rc = event_add_str(ev, FIELD_LOG_FLAGS, "evidence_truncated", 18);
	}
	return rc;
}

/* @timestamp, event.start, event.end and event.duration from the times read. */
static int set_times(struct rec *r)
{
	struct event *ev = r->ev;
	int rc = 0;

	if (r->has_t[S_TS] || r->has_t[S_TS_FALLBACK])
		rc = event_set_time(ev, FIELD_TIMESTAMP,
				    r->has_t[S_TS] ? r->t[S_TS] : r->t[S_TS_FALLBACK]);
	if (rc >= 0 && r->has_t[S_START])
		rc = event_set_time(ev, FIELD_EVENT_START, r->t[S_START]);
	if (rc >= 0 && r->has_t[S_END])
		rc = event_set_time(ev, FIELD_EVENT_END, r->t[S_END]);
	if (rc >= 0 && r->has_t[S_START] && r->has_t[S_END] && r->t[S_END] >= r->t[S_START])
		rc = event_set_int(ev, FIELD_EVENT_DURATION, r->t[S_END] - r->t[S_START]);
	return rc;
}

static const struct member_table *shape_table(enum shape s)
{
	switch (s) {
	case SH_ALERT:
		return &member_tables[T_ALERT];
	case SH_ENDPOINT:
		return &member_tables[T_ENDPOINT];
	case SH_INCIDENT:
		return &member_tables[T_INCIDENT];
	default:
		return &member_tables[T_HUNTING];
	}
}

/* One record p[0..len): classify, read by the shape's table, finish. */
static int decode_record(struct rec *r, const char *p, size_t len)
{
	const struct member_table *t;
	struct jsonin_value v;
	int rc;

	if ((rc = classify(r, p, len)) < 0)
		return rc;
	t = shape_table(r->shape);
	jsonin_init(&r->j, p, len, r->ev->arena, 0);
	if ((rc = jsonin_value(&r->j, &v)) < 0 ||
	    (rc = read_members(r, &r->j, t, false)) < 0)
		return fail_json(r, &r->j, rc);
	if ((rc = jsonin_finish(&r->j, NULL)) < 0)
		return fail_json(r, &r->j, rc);
	if ((rc = set_times(r)) < 0 || (rc = classify_event(r)) < 0)
		return fail_json(r, &r->j, rc);
	return 0;
}

int m365_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		struct err *e)
{
	struct rec r = { .ev = ev, .e = e };
	const char *p;
	size_t plen;
	uint32_t mark;
	int rc;

	if ((rc = decoder_syslog_payload(ev, msg, len, o, &p, &plen, e)) < 0)
		return rc;
	pthread_once(&fields_once, fields_init);
	if (fields_rc < 0)
		return err_set(e, fields_rc, "m365: cannot register the vendor fields: %s",
			       strerror(-fields_rc));
	mark = ev->n;
	/* an alert sets about 100-200 values: one allocation instead of growing four times */
	if ((rc = event_reserve(ev, mark + VALUES_EXPECTED)) < 0)
		return err_set(e, rc, "m365: cannot build the event: %s", strerror(-rc));
	if ((rc = decode_record(&r, p, plen)) < 0)
		event_truncate(ev, mark);
	return rc;
}

/* Anchors one of which a Defender record or container shows in its first bytes. */
static const char *const anchors[] = {
	"\"" GRAPH_TYPE_PREFIX, /* @odata.type of an alert, incident or evidence */
	"$metadata#security/", /* @odata.context of an alerts_v2 or incidents page */
	"\"" HUNTING_PREFIX,
	"securitycenter.", /* @odata.context of a Defender for Endpoint page */
	"\"alertCreationTime\"",
	"\"machineId\"",
};

bool m365_sniff(const char *msg, size_t len)
{
	size_t n = MIN(len, SNIFF_MAX);
	const char *brace = memchr(msg, '{', n);

	if (!brace)
		return false;
	n -= (size_t)(brace - msg);
	for (size_t i = 0; i < ARRAY_SIZE(anchors); i++)
		if (memmem(brace, n, anchors[i], strlen(anchors[i])))
			return true;
	return false;
}
