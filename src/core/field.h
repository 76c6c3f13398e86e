/*
 * field.h - event field names interned to small integer ids.
 *
 * Known ECS fields come from one X-macro table (FIELD_TABLE) and have fixed ids
 * FIELD_<NAME>; vendor fields (panos.*, log.syslog.structured_data.*, ...) are registered
 * on first sight with field_intern() and get ids from FIELD_COUNT up. Rules, queries and
 * decoders resolve names to ids once, so an event never compares field-name strings.
 *
 * Every field has a type that says how its values are stored and printed. Interned
 * names live until the process exits.
 *
 * Ids are per process: known ids follow this table and change when a field is added,
 * vendor ids follow the order in which names were first seen. Anything that outlives the
 * process (the event store, spool files, rule caches) persists field NAMES, never ids,
 * and resolves them again with field_intern()/field_lookup() after a start.
 *
 * Every name here is an ECS 8.17 field except the deliberate extensions listed in
 * docs/parsing.md, "Fields outside ECS" (log.source.address, log.flags, koban.*).
 *
 * Thread safety: field_intern, field_lookup, field_name and field_type may be called
 * from any thread; registration takes a lock, reads of known ids do not.
 */
#ifndef CORE_FIELD_H
#define CORE_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum field_type {
	FT_STR,  /* UTF-8 text */
	FT_INT,  /* signed 64-bit integer */
	FT_TIME, /* nanoseconds since the Unix epoch, printed as RFC 3339 UTC */
	FT_IP,   /* struct ipaddr */
	FT_BOOL,
	FT_OBJ,  /* one JSON object, kept as its text (with array=1: a JSON array of objects) */
};

/* X(ID, "ecs.name", type, array); array 1: always printed as a JSON array (ECS arrays) */
#define FIELD_TABLE(X)                                                          \
	X(TIMESTAMP, "@timestamp", FT_TIME, 0)                                  \
	X(MESSAGE, "message", FT_STR, 0)                                        \
	X(ECS_VERSION, "ecs.version", FT_STR, 0)                                \
	X(EVENT_ORIGINAL, "event.original", FT_STR, 0)                          \
	X(EVENT_INGESTED, "event.ingested", FT_TIME, 0)                         \
	X(EVENT_CREATED, "event.created", FT_TIME, 0)                           \
	X(EVENT_KIND, "event.kind", FT_STR, 0)                                  \
	X(EVENT_CATEGORY, "event.category", FT_STR, 1)                          \
	X(EVENT_TYPE, "event.type", FT_STR, 1)                                  \
	X(EVENT_ACTION, "event.action", FT_STR, 0)                              \
	X(EVENT_OUTCOME, "event.outcome", FT_STR, 0)                            \
	X(EVENT_SEVERITY, "event.severity", FT_INT, 0)                          \
	X(EVENT_DATASET, "event.dataset", FT_STR, 0)                            \
	X(EVENT_MODULE, "event.module", FT_STR, 0)                              \
	X(EVENT_TIMEZONE, "event.timezone", FT_STR, 0)                          \
	X(ERROR_MESSAGE, "error.message", FT_STR, 0)                            \
	X(ORGANIZATION_ID, "organization.id", FT_STR, 0)                        \
	X(ORGANIZATION_NAME, "organization.name", FT_STR, 0)                    \
	X(LOG_FLAGS, "log.flags", FT_STR, 1)                                    \
	X(LOG_SOURCE_ADDRESS, "log.source.address", FT_STR, 0)                  \
	X(LOG_SYSLOG_PRIORITY, "log.syslog.priority", FT_INT, 0)                \
	X(LOG_SYSLOG_FACILITY_CODE, "log.syslog.facility.code", FT_INT, 0)      \
	X(LOG_SYSLOG_FACILITY_NAME, "log.syslog.facility.name", FT_STR, 0)      \
	X(LOG_SYSLOG_SEVERITY_CODE, "log.syslog.severity.code", FT_INT, 0)      \
	X(LOG_SYSLOG_SEVERITY_NAME, "log.syslog.severity.name", FT_STR, 0)      \
	X(LOG_SYSLOG_VERSION, "log.syslog.version", FT_STR, 0)                  \
	X(LOG_SYSLOG_HOSTNAME, "log.syslog.hostname", FT_STR, 0)                \
	X(LOG_SYSLOG_APPNAME, "log.syslog.appname", FT_STR, 0)                  \
	X(LOG_SYSLOG_PROCID, "log.syslog.procid", FT_STR, 0)                    \
	X(LOG_SYSLOG_MSGID, "log.syslog.msgid", FT_STR, 0)                      \
	X(HOST_NAME, "host.name", FT_STR, 0)                                    \
	X(PROCESS_NAME, "process.name", FT_STR, 0)                              \
	X(PROCESS_PID, "process.pid", FT_INT, 0)                                \
	X(OBSERVER_VENDOR, "observer.vendor", FT_STR, 0)                        \
	X(OBSERVER_PRODUCT, "observer.product", FT_STR, 0)                      \
	X(OBSERVER_NAME, "observer.name", FT_STR, 0)                            \
	X(OBSERVER_SERIAL_NUMBER, "observer.serial_number", FT_STR, 0)          \
	X(SOURCE_IP, "source.ip", FT_IP, 0)                                     \
	X(SOURCE_PORT, "source.port", FT_INT, 0)                                \
	X(SOURCE_NAT_IP, "source.nat.ip", FT_IP, 0)                             \
	X(SOURCE_NAT_PORT, "source.nat.port", FT_INT, 0)                        \
	X(DESTINATION_IP, "destination.ip", FT_IP, 0)                           \
	X(DESTINATION_PORT, "destination.port", FT_INT, 0)                      \
	X(DESTINATION_NAT_IP, "destination.nat.ip", FT_IP, 0)                   \
	X(DESTINATION_NAT_PORT, "destination.nat.port", FT_INT, 0)              \
	X(NETWORK_TRANSPORT, "network.transport", FT_STR, 0)                    \
	X(NETWORK_BYTES, "network.bytes", FT_INT, 0)                            \
	X(USER_NAME, "user.name", FT_STR, 0)                                    \
	X(URL_ORIGINAL, "url.original", FT_STR, 0)                              \
	X(URL_DOMAIN, "url.domain", FT_STR, 0)                                  \
	X(URL_PATH, "url.path", FT_STR, 0)                                      \
	X(HTTP_REQUEST_METHOD, "http.request.method", FT_STR, 0)                \
	X(HTTP_RESPONSE_STATUS_CODE, "http.response.status_code", FT_INT, 0)    \
	X(DNS_QUESTION_NAME, "dns.question.name", FT_STR, 0)                    \
	X(RULE_ID, "rule.id", FT_STR, 0)                                        \
	X(RULE_NAME, "rule.name", FT_STR, 0)                                    \
	X(EVENT_ID, "event.id", FT_STR, 0)                                      \
	X(EVENT_CODE, "event.code", FT_STR, 0)                                  \
	X(EVENT_PROVIDER, "event.provider", FT_STR, 0)                          \
	X(EVENT_REASON, "event.reason", FT_STR, 0)                              \
	X(EVENT_URL, "event.url", FT_STR, 0)                                    \
	X(EVENT_START, "event.start", FT_TIME, 0)                               \
	X(EVENT_END, "event.end", FT_TIME, 0)                                   \
	X(EVENT_DURATION, "event.duration", FT_INT, 0)                          \
	X(EVENT_SEQUENCE, "event.sequence", FT_INT, 0)                          \
	X(EVENT_RISK_SCORE, "event.risk_score", FT_INT, 0)                      \
	X(LOG_LEVEL, "log.level", FT_STR, 0)                                    \
	X(TAGS, "tags", FT_STR, 1)                                              \
	X(OBSERVER_TYPE, "observer.type", FT_STR, 0)                            \
	X(OBSERVER_HOSTNAME, "observer.hostname", FT_STR, 0)                    \
	X(OBSERVER_VERSION, "observer.version", FT_STR, 0)                      \
	X(OBSERVER_IP, "observer.ip", FT_IP, 1)                                 \
	X(OBSERVER_INGRESS_ZONE, "observer.ingress.zone", FT_STR, 0)            \
	X(OBSERVER_EGRESS_ZONE, "observer.egress.zone", FT_STR, 0)              \
	X(OBSERVER_INGRESS_INTERFACE_NAME, "observer.ingress.interface.name", FT_STR, 0) \
	X(OBSERVER_EGRESS_INTERFACE_NAME, "observer.egress.interface.name", FT_STR, 0) \
	X(SOURCE_ADDRESS, "source.address", FT_STR, 0)                          \
	X(SOURCE_DOMAIN, "source.domain", FT_STR, 0)                            \
	X(SOURCE_MAC, "source.mac", FT_STR, 0)                                  \
	X(SOURCE_BYTES, "source.bytes", FT_INT, 0)                              \
	X(SOURCE_PACKETS, "source.packets", FT_INT, 0)                          \
	X(SOURCE_USER_NAME, "source.user.name", FT_STR, 0)                      \
	X(SOURCE_USER_DOMAIN, "source.user.domain", FT_STR, 0)                  \
	X(SOURCE_GEO_NAME, "source.geo.name", FT_STR, 0)                        \
	X(SOURCE_GEO_COUNTRY_ISO_CODE, "source.geo.country_iso_code", FT_STR, 0) \
	X(SOURCE_GEO_CITY_NAME, "source.geo.city_name", FT_STR, 0)              \
	X(SOURCE_GEO_REGION_NAME, "source.geo.region_name", FT_STR, 0)          \
	X(SOURCE_GEO_LOCATION, "source.geo.location", FT_OBJ, 0)               \
	X(SOURCE_AS_NUMBER, "source.as.number", FT_INT, 0)                      \
	X(DESTINATION_ADDRESS, "destination.address", FT_STR, 0)                \
	X(DESTINATION_DOMAIN, "destination.domain", FT_STR, 0)                  \
	X(DESTINATION_MAC, "destination.mac", FT_STR, 0)                        \
	X(DESTINATION_BYTES, "destination.bytes", FT_INT, 0)                    \
	X(DESTINATION_PACKETS, "destination.packets", FT_INT, 0)                \
	X(DESTINATION_USER_NAME, "destination.user.name", FT_STR, 0)            \
	X(DESTINATION_USER_DOMAIN, "destination.user.domain", FT_STR, 0)        \
	X(DESTINATION_GEO_NAME, "destination.geo.name", FT_STR, 0)              \
	X(CLIENT_ADDRESS, "client.address", FT_STR, 0)                          \
	X(CLIENT_IP, "client.ip", FT_IP, 0)                                     \
	X(CLIENT_PORT, "client.port", FT_INT, 0)                                \
	X(SERVER_ADDRESS, "server.address", FT_STR, 0)                          \
	X(SERVER_IP, "server.ip", FT_IP, 0)                                     \
	X(SERVER_PORT, "server.port", FT_INT, 0)                                \
	X(NETWORK_TYPE, "network.type", FT_STR, 0)                              \
	X(NETWORK_IANA_NUMBER, "network.iana_number", FT_STR, 0)                \
	X(NETWORK_PROTOCOL, "network.protocol", FT_STR, 0)                      \
	X(NETWORK_APPLICATION, "network.application", FT_STR, 0)                \
	X(NETWORK_DIRECTION, "network.direction", FT_STR, 0)                    \
	X(NETWORK_PACKETS, "network.packets", FT_INT, 0)                        \
	X(NETWORK_COMMUNITY_ID, "network.community_id", FT_STR, 0)              \
	X(USER_DOMAIN, "user.domain", FT_STR, 0)                                \
	X(USER_ID, "user.id", FT_STR, 0)                                        \
	X(USER_EMAIL, "user.email", FT_STR, 0)                                  \
	X(USER_FULL_NAME, "user.full_name", FT_STR, 0)                          \
	X(USER_TARGET_NAME, "user.target.name", FT_STR, 0)                      \
	X(USER_AGENT_ORIGINAL, "user_agent.original", FT_STR, 0)                \
	X(RELATED_IP, "related.ip", FT_IP, 1)                                   \
	X(RELATED_USER, "related.user", FT_STR, 1)                              \
	X(RELATED_HOSTS, "related.hosts", FT_STR, 1)                            \
	X(RELATED_HASH, "related.hash", FT_STR, 1)                              \
	X(HOST_HOSTNAME, "host.hostname", FT_STR, 0)                            \
	X(HOST_ID, "host.id", FT_STR, 0)                                        \
	X(HOST_IP, "host.ip", FT_IP, 1)                                         \
	X(HOST_OS_NAME, "host.os.name", FT_STR, 0)                              \
	X(URL_FULL, "url.full", FT_STR, 0)                                      \
	X(URL_SCHEME, "url.scheme", FT_STR, 0)                                  \
	X(URL_QUERY, "url.query", FT_STR, 0)                                    \
	X(URL_PORT, "url.port", FT_INT, 0)                                      \
	X(URL_EXTENSION, "url.extension", FT_STR, 0)                            \
	X(HTTP_VERSION, "http.version", FT_STR, 0)                              \
	X(HTTP_REQUEST_REFERRER, "http.request.referrer", FT_STR, 0)            \
	X(HTTP_REQUEST_BODY_BYTES, "http.request.body.bytes", FT_INT, 0)        \
	X(HTTP_RESPONSE_BODY_BYTES, "http.response.body.bytes", FT_INT, 0)      \
	X(HTTP_RESPONSE_BYTES, "http.response.bytes", FT_INT, 0)                \
	X(DNS_TYPE, "dns.type", FT_STR, 0)                                      \
	X(DNS_ID, "dns.id", FT_STR, 0)                                          \
	X(DNS_QUESTION_TYPE, "dns.question.type", FT_STR, 0)                    \
	X(DNS_QUESTION_CLASS, "dns.question.class", FT_STR, 0)                  \
	X(DNS_RESPONSE_CODE, "dns.response_code", FT_STR, 0)                    \
	X(DNS_HEADER_FLAGS, "dns.header_flags", FT_STR, 1)                      \
	X(DNS_RESOLVED_IP, "dns.resolved_ip", FT_IP, 1)                         \
	X(FILE_NAME, "file.name", FT_STR, 0)                                    \
	X(FILE_PATH, "file.path", FT_STR, 0)                                    \
	X(FILE_EXTENSION, "file.extension", FT_STR, 0)                          \
	X(FILE_MIME_TYPE, "file.mime_type", FT_STR, 0)                          \
	X(FILE_SIZE, "file.size", FT_INT, 0)                                    \
	X(FILE_HASH_MD5, "file.hash.md5", FT_STR, 0)                            \
	X(FILE_HASH_SHA1, "file.hash.sha1", FT_STR, 0)                          \
	X(FILE_HASH_SHA256, "file.hash.sha256", FT_STR, 0)                      \
	X(PROCESS_EXECUTABLE, "process.executable", FT_STR, 0)                  \
	X(PROCESS_COMMAND_LINE, "process.command_line", FT_STR, 0)              \
	X(PROCESS_HASH_SHA256, "process.hash.sha256", FT_STR, 0)                \
	X(PROCESS_HASH_MD5, "process.hash.md5", FT_STR, 0)                      \
	X(PROCESS_HASH_SHA1, "process.hash.sha1", FT_STR, 0)                    \
	X(EMAIL_LOCAL_ID, "email.local_id", FT_STR, 0)                          \
	X(EMAIL_MESSAGE_ID, "email.message_id", FT_STR, 0)                      \
	X(EMAIL_SUBJECT, "email.subject", FT_STR, 0)                            \
	X(EMAIL_DIRECTION, "email.direction", FT_STR, 0)                        \
	X(EMAIL_FROM_ADDRESS, "email.from.address", FT_STR, 1)                  \
	X(EMAIL_TO_ADDRESS, "email.to.address", FT_STR, 1)                      \
	X(EMAIL_SENDER_ADDRESS, "email.sender.address", FT_STR, 0)              \
	X(RULE_UUID, "rule.uuid", FT_STR, 0)                                    \
	X(RULE_CATEGORY, "rule.category", FT_STR, 0)                            \
	X(RULE_RULESET, "rule.ruleset", FT_STR, 0)                              \
	X(RULE_DESCRIPTION, "rule.description", FT_STR, 0)                      \
	X(THREAT_TACTIC_NAME, "threat.tactic.name", FT_STR, 1)                  \
	X(THREAT_TECHNIQUE_ID, "threat.technique.id", FT_STR, 1)                \
	X(THREAT_ENRICHMENTS, "threat.enrichments", FT_OBJ, 1)                  \
	X(VULNERABILITY_ID, "vulnerability.id", FT_STR, 0)                      \
	X(CLOUD_PROVIDER, "cloud.provider", FT_STR, 0)                          \
	X(CLOUD_ACCOUNT_ID, "cloud.account.id", FT_STR, 0)                      \
	X(CLOUD_REGION, "cloud.region", FT_STR, 0)                              \
	X(SERVICE_NAME, "service.name", FT_STR, 0)                              \
	X(KOBAN_LOG_SOURCE_IP, "koban.log.source.ip", FT_IP, 0)                 \
	X(KOBAN_CLOCK_SKEW_SECONDS, "koban.clock_skew_seconds", FT_INT, 0)

enum field_id {
#define FIELD_ENUM(id, name, type, arr) FIELD_##id,
	FIELD_TABLE(FIELD_ENUM)
#undef FIELD_ENUM
	FIELD_COUNT
};

#define FIELD_NAME_MAX 256
#define FIELD_DYNAMIC_MAX 65536 /* vendor fields one process may register */

/*
 * Id of name[0..len), registering it with type when new. A known name keeps its own
 * type. Returns -EINVAL for an empty or too long name, -ENOSPC when the registry is
 * full, -ENOMEM.
 */
int field_intern(const char *name, size_t len, enum field_type type);
/* Id of an already known name, or -ENOENT. */
int field_lookup(const char *name, size_t len);
/*
 * Id of the first known name equal to name[0..len) ignoring ASCII case, or -ENOENT. A
 * linear scan: for compiling rules (Sigma field names), not per event.
 */
int field_lookup_nocase(const char *name, size_t len);
const char *field_name(unsigned id);
enum field_type field_type(unsigned id);
/*
 * The type the event store writes a value of type t as: an object as its text (FT_STR),
 * so that it is stored, indexed and searched as a string; others as they are.
 */
static inline enum field_type field_store_type(enum field_type t)
{
	return t == FT_OBJ ? FT_STR : t;
}
/*
 * Whether v is a value integer field id can hold as ECS means it: a port (source.port,
 * destination.port, their .nat.port, client.port, server.port, url.port) from 0 to 65535;
 * a count or size (.bytes, .packets of source, destination and network, the http body
 * and response bytes, file.size) 0 or more; any value for every other field. Decoders
 * ask before they map a number they read from text, so that `spt=-1` stays in the
 * vendor field only.
 */
bool field_int_valid(unsigned id, int64_t v);
/*
 * What field_int_valid accepts for id, in words for an error message after "expected"
 * ("an integer from 0 to 65535 (a port)"); static text.
 */
const char *field_int_range(unsigned id);
/* Whether values of id are always printed as a JSON array (known fields only). */
int field_is_array(unsigned id);
/* Number of ids handed out so far (FIELD_COUNT + registered vendor fields). */
unsigned field_count(void);

#endif
