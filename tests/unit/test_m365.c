/*
 * Unit tests of parse/m365: the four record shapes, evidence into arrays, related.* and
 * the first-of-kind ECS fields, event times, the quirks (numbers as strings, PascalCase
 * enums, JSON inside strings, "0001-01-01" times), errors with their position, the limits,
 * sniffing and splitting through the registry.
 */
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/buf.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "parse/decoder.h"
#include "parse/ecs.h"
#include "parse/m365.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW_NS (1773543600LL * 1000000000LL) /* 2026-03-15T03:00:00Z */

static struct arena arena;
static struct event ev;
static struct err err;

static int decode(const char *rec)
{
	struct decode_opts o = { NULL, NOW_NS, 0, 0, NULL };

	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(&err);
	return m365_decode(&ev, rec, strlen(rec), &o, &err);
}

/* Number of values of the field named name. */
static unsigned count(const char *name)
{
	int id = field_lookup(name, strlen(name));
	unsigned n = 0;

	for (uint32_t i = 0; id >= 0 && i < ev.n; i++)
		n += ev.vals[i].field == (uint32_t)id;
	return n;
}

/* Whether the string (or IP) field name holds value (among its values). */
static bool has(const char *name, const char *value)
{
	int id = field_lookup(name, strlen(name));
	struct ipaddr ip;

	if (id >= 0 && field_type((unsigned)id) == FT_IP) {
		if (ipaddr_parse(&ip, value, strlen(value)) < 0)
			return false;
		for (uint32_t i = 0; i < ev.n; i++)
			if (ev.vals[i].field == (uint32_t)id && !memcmp(ev.vals[i].v.ip.b, ip.b, 16))
				return true;
		return false;
	}
	for (uint32_t i = 0; id >= 0 && i < ev.n; i++)
		if (ev.vals[i].field == (uint32_t)id && ev.vals[i].len == strlen(value) &&
		    !memcmp(ev.vals[i].v.s, value, ev.vals[i].len))
			return true;
	return false;
}

static int64_t int_of(unsigned f)
{
	const struct event_value *v = event_get(&ev, f);

	return v ? v->v.i : INT64_MIN;
}

static const char graph_alert[] =
	"{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"a1\","
	"\"incidentId\":\"7\",\"severity\":\"high\",\"status\":\"new\","
	"\"serviceSource\":\"microsoftDefenderForOffice365\",\"title\":\"Phish delivered\","
	"\"description\":\"A phish \\u00e9 reached a mailbox\",\"category\":\"InitialAccess\","
	"\"determination\":\"phishing\",\"tenantId\":\"t-1\","
	"\"mitreTechniques\":[\"T1566.001\",\"T1566.002\",\"T1078\"],"
	"\"createdDateTime\":\"2026-03-14T01:00:00.1234567Z\","
	"\"lastUpdateDateTime\":\"2026-03-14T02:00:00Z\","
	"\"firstActivityDateTime\":\"2026-03-14T00:00:00Z\","
	"\"lastActivityDateTime\":\"2026-03-14T00:00:10Z\","
	"\"resolvedDateTime\":\"0001-01-01T00:00:00Z\",\"comments\":[{\"comment\":\"seen\"}],"
	"\"evidence\":["
	"{\"@odata.type\":\"#microsoft.graph.security.analyzedMessageEvidence\","
	"\"internetMessageId\":\"<m1@example.com>\",\"subject\":\"Invoice\","
	"\"antiSpamDirection\":\"Inbound\",\"senderIp\":\"203.0.113.9\","
	"\"recipientEmailAddress\":\"bob@example.com\","
	"\"p1Sender\":{\"emailAddress\":\"eve@evil.example\",\"displayName\":\"Eve\"},"
	"\"urls\":[\"http://evil.example/x\"]},"
	"{\"@odata.type\":\"#microsoft.graph.security.mailboxEvidence\","
	"\"primaryAddress\":\"bob@example.com\",\"userAccount\":{\"accountName\":\"bob\"}},"
	"{\"@odata.type\":\"#microsoft.graph.security.userEvidence\","
	"\"userAccount\":{\"accountName\":\"bob\",\"domainName\":\"CORP\","
	"\"userSid\":\"S-1-5-21-1\",\"userPrincipalName\":\"bob@example.com\"}},"
	"{\"@odata.type\":\"#microsoft.graph.security.ipEvidence\",\"ipAddress\":\"203.0.113.9\","
	"\"countryLetterCode\":\"NL\"},"
	"{\"@odata.type\":\"#microsoft.graph.security.urlEvidence\",\"url\":\"http://evil.example/x\"},"
	"{\"@odata.type\":\"#microsoft.graph.security.cloudApplicationEvidence\",\"appId\":11161,"
	"\"displayName\":\"Office 365\"},"
	"{\"@odata.type\":\"#microsoft.graph.security.registryValueEvidence\","
	"\"registryKey\":\"SOFTWARE\\\\Run\",\"registryValueName\":\"x\",\"registryValue\":\"y\"},"
	"{\"@odata.type\":\"#microsoft.graph.security.ipEvidence\",\"ipAddress\":\"not an ip\"}"
	"]}";

static void test_graph_alert(void)
{
	const char *s;
	size_t n;

	CHECK_INT(decode(graph_alert), 0);
	CHECK(has("event.kind", "alert") && has("event.dataset", "m365.alert"));
	CHECK(has("event.module", "m365") && has("event.id", "a1"));
	CHECK_INT(int_of(FIELD_EVENT_SEVERITY), 4);
	CHECK(has("event.provider", "microsoftDefenderForOffice365"));
	CHECK(has("rule.name", "Phish delivered") && has("cloud.account.id", "t-1"));
	CHECK(has("cloud.provider", "azure"));
	CHECK(event_get_str(&ev, FIELD_MESSAGE, &s, &n) && n == strlen("A phish \xc3\xa9 reached a mailbox") &&
	      !memcmp(s, "A phish \xc3\xa9 reached a mailbox", n)); /* unescaped */
	/* technique ids without the sub-technique, de-duplicated; the vendor array whole */
	CHECK_INT(count("threat.technique.id"), 2);
	CHECK(has("threat.technique.id", "T1566") && has("threat.technique.id", "T1078"));
	CHECK_INT(count("m365.alert.mitreTechniques"), 3);
	CHECK(has("threat.tactic.name", "InitialAccess"));
	/* times: lastUpdate is @timestamp, activity is start/end, 0001-01-01 means unset */
	CHECK_INT(int_of(FIELD_TIMESTAMP), 1773453600LL * 1000000000LL);
	CHECK_INT(int_of(FIELD_EVENT_START), 1773446400LL * 1000000000LL);
	CHECK_INT(int_of(FIELD_EVENT_DURATION), 10LL * 1000000000LL);
	CHECK_INT(count("m365.alert.resolvedDateTime"), 0);
	CHECK(has("m365.alert.createdDateTime", "2026-03-14T01:00:00.1234567Z")); /* as written */
	CHECK(has("m365.alert.comments", "[{\"comment\":\"seen\"}]"));
	/* evidence: arrays, related.*, the message in email.* */
	CHECK_INT(count("m365.alert.evidence.type"), 7); /* ipEvidence once */
	CHECK(has("m365.alert.evidence.type", "analyzedMessageEvidence"));
	CHECK(has("email.message_id", "<m1@example.com>") && has("email.subject", "Invoice"));
	CHECK(has("email.from.address", "eve@evil.example"));
	CHECK(has("email.to.address", "bob@example.com") && has("email.direction", "inbound"));
	CHECK_INT(count("related.ip"), 1); /* de-duplicated; "not an ip" is no IP */
	CHECK(has("related.ip", "203.0.113.9"));
	CHECK(has("m365.alert.evidence.ipAddress", "not an ip"));
	CHECK(has("related.user", "bob") && has("related.user", "bob@example.com"));
	CHECK(has("user.name", "bob") && has("user.domain", "CORP") && has("user.id", "S-1-5-21-1"));
	CHECK(has("url.original", "http://evil.example/x"));
	CHECK(has("m365.alert.evidence.appId", "11161")); /* a number kept as its text */
	CHECK(has("m365.alert.evidence.registryKey", "SOFTWARE\\Run"));
	/* categories from the evidence types and the determination */
	CHECK(has("event.category", "iam") && has("event.category", "network"));
	CHECK(has("event.category", "email") && has("event.category", "registry"));
	CHECK_INT(count("event.category"), 4);
	CHECK(has("event.type", "info"));
	CHECK(event_get(&ev, FIELD_EVENT_ORIGINAL) != NULL);
}

static void test_nested_evidence(void)
{
	/* evidence types without ECS fields of their own still give related.* through nesting */
	CHECK_INT(decode("{\"@odata.type\":\"#microsoft.graph.security.alert\",\"evidence\":["
			 "{\"@odata.type\":\"#microsoft.graph.security.networkConnectionEvidence\","
			 "\"sourceAddress\":{\"ipAddress\":\"10.0.0.9\"},\"sourcePort\":51000,"
			 "\"destinationAddress\":{\"ipAddress\":\"198.51.100.1\"},\"protocol\":\"tcp\"},"
			 "{\"@odata.type\":\"#microsoft.graph.security.hostLogonSessionEvidence\","
			 "\"account\":{\"userAccount\":{\"accountName\":\"eve\"}},"
			 "\"host\":{\"deviceDnsName\":\"pc9\"}}]}"),
		  0);
	CHECK(has("related.ip", "10.0.0.9") && has("related.ip", "198.51.100.1"));
	CHECK(has("related.user", "eve") && has("related.hosts", "pc9"));
	CHECK(has("event.category", "network"));
	CHECK(event_get(&ev, FIELD_USER_NAME) == NULL && event_get(&ev, FIELD_HOST_NAME) == NULL);
	CHECK(has("m365.alert.evidence.sourcePort", "51000")); /* an unlisted key, kept */
	CHECK(has("m365.alert.evidence.type", "hostLogonSessionEvidence"));
}

static void test_graph_alert_without_odata_type(void)
{
	/* a record whose first keys say nothing: the shape comes from a later key */
	CHECK_INT(decode("{\"id\":\"x\",\"severity\":\"Informational\",\"alertWebUrl\":\"u\"}"), 0);
	CHECK(has("event.dataset", "m365.alert"));
	CHECK_INT(int_of(FIELD_EVENT_SEVERITY), 1);
	/* with no time of its own, @timestamp stays the receive time */
	CHECK_INT(int_of(FIELD_TIMESTAMP), NOW_NS);
}

static void test_endpoint_alert(void)
{
	const char *rec =
		"{\"id\":\"da1\",\"detectorId\":\"d1\",\"incidentId\":11,\"severity\":\"Medium\",\"status\":\"New\","
		"\"category\":\"Malware\",\"title\":\"Exeselrun\","
		"\"alertCreationTime\":\"2020-06-30T10:09:01.1569718Z\","
		"\"lastUpdateTime\":\"2020-07-03T15:15:39.13Z\",\"machineId\":\"m1\","
		"\"computerDnsName\":\"ws4\",\"aadTenantId\":\"t2\","
		"\"relatedUser\":{\"userName\":\"admin1\",\"domainName\":\"WS4\"},"
		"\"evidence\":[{\"entityType\":\"File\",\"sha1\":\"aa\",\"sha256\":\"bb\","
		"\"fileName\":\"SB.xsl\",\"filePath\":\"C:\\\\Temp\"},"
		"{\"entityType\":\"Process\",\"fileName\":\"notepad.exe\",\"processId\":4104,"
		"\"processCommandLine\":\"notepad\",\"sha256\":\"cc\"},"
		"{\"entityType\":\"Ip\",\"ipAddress\":\"2001:db8::1\"},"
		"{\"entityType\":\"User\",\"accountName\":\"carol\",\"domainName\":\"CORP\"}]}";

	CHECK_INT(decode(rec), 0);
	CHECK(has("event.dataset", "m365.endpoint_alert") && has("event.kind", "alert"));
	CHECK_INT(int_of(FIELD_EVENT_SEVERITY), 3); /* PascalCase */
	CHECK(has("m365.alert.incidentId", "11"));   /* a number, kept as text */
	CHECK(has("host.name", "ws4") && has("host.id", "m1") && has("related.hosts", "ws4"));
	CHECK(has("user.name", "admin1") && has("user.domain", "WS4")); /* relatedUser first */
	CHECK(has("related.user", "admin1") && has("related.user", "carol"));
	CHECK(has("file.name", "SB.xsl") && has("file.hash.sha1", "aa"));
	CHECK(has("process.name", "notepad.exe") && has("process.hash.sha256", "cc"));
	CHECK_INT(int_of(FIELD_PROCESS_PID), 4104);
	CHECK(has("related.ip", "2001:db8::1"));
	CHECK_INT(count("related.hash"), 3);
	CHECK(has("rule.category", "Malware") && has("event.category", "malware"));
	CHECK(has("rule.id", "d1") && event_get(&ev, FIELD_THREAT_TACTIC_NAME) == NULL);
	CHECK(has("m365.alert.evidence.type", "File") && has("m365.alert.evidence.type", "Ip"));
	CHECK_INT(int_of(FIELD_TIMESTAMP), 1593789339130000000LL);
}

static void test_endpoint_single_evidence_object(void)
{
	/* Elastic's fixtures pre-split the array: evidence is one object */
	CHECK_INT(decode("{\"id\":\"d\",\"machineId\":\"m\",\"evidence\":{\"entityType\":\"Url\","
			 "\"url\":\"http://x.example/\"}}"),
		  0);
	CHECK(has("url.original", "http://x.example/"));
	CHECK(has("m365.alert.evidence.type", "Url"));
}

static void test_incident_with_alerts(void)
{
	const char *rec =
		"{\"@odata.type\":\"#microsoft.graph.security.incident\",\"id\":\"2972395\","
		"\"displayName\":\"Multi-stage incident\",\"status\":\"active\","
		"\"severity\":\"medium\",\"classification\":\"truePositive\","
		"\"determination\":\"multiStagedAttack\",\"tenantId\":\"t3\","
		"\"incidentWebUrl\":\"https://security.microsoft.com/incidents/2972395\","
		"\"createdDateTime\":\"2026-03-01T00:00:00Z\",\"customTags\":[\"vip\",\"vip\"],"
		"\"systemTags\":[\"Defender Experts\"],"
		"\"alerts\":[{\"id\":\"a1\",\"title\":\"T one\",\"category\":\"Execution\","
		"\"mitreTechniques\":[\"T1059.001\"],\"evidence\":[{\"@odata.type\":"
		"\"#microsoft.graph.security.deviceEvidence\",\"deviceDnsName\":\"pc1\","
		"\"ipInterfaces\":[\"10.0.0.5\",\"fe80::1\"]}]},"
		"{\"id\":\"a2\",\"title\":\"T two\",\"category\":\"Execution\",\"evidence\":[]}]}";

	CHECK_INT(decode(rec), 0);
	CHECK(has("event.dataset", "m365.incident") && has("event.kind", "alert"));
	CHECK(has("message", "Multi-stage incident") && has("event.id", "2972395"));
	CHECK(has("event.url", "https://security.microsoft.com/incidents/2972395"));
	CHECK_INT(count("tags"), 1);
	CHECK(has("tags", "vip") && has("m365.incident.systemTags", "Defender Experts"));
	CHECK_INT(count("m365.incident.alerts.id"), 2);
	CHECK(has("m365.incident.alerts.title", "T two"));
	CHECK_INT(count("threat.tactic.name"), 1);
	CHECK(has("threat.technique.id", "T1059"));
	CHECK(has("host.name", "pc1") && has("related.hosts", "pc1"));
	CHECK(has("related.ip", "10.0.0.5") && has("related.ip", "fe80::1"));
	CHECK(has("event.category", "host"));
	CHECK_INT(int_of(FIELD_TIMESTAMP), 1772323200LL * 1000000000LL); /* createdDateTime */
}

static void test_hunting(void)
{
	const char *info =
		"{\"time\":\"2022-11-08T08:44:14.7934901Z\",\"tenantId\":\"t4\","
		"\"operationName\":\"Publish\",\"category\":\"AdvancedHunting-AlertInfo\","
		"\"properties\":{\"AlertId\":\"da6\",\"AttackTechniques\":"
		"\"[\\\"Valid Accounts (T1078)\\\",\\\"Cloud Accounts (T1078.004)\\\","
		"\\\"Odd\\\",7]\",\"Category\":\"Persistence\",\"Severity\":\"Medium\","
		"\"ServiceSource\":\"Microsoft Defender for Endpoint\",\"Title\":\"Silent exit\","
		"\"Timestamp\":\"2022-11-08T08:42:17.2954051Z\"}}";
	const char *net =
		"{\"properties\":{\"Timestamp\":\"2026-03-15T01:00:00Z\",\"DeviceName\":\"pc2\","
		"\"LocalIP\":\"10.1.1.1\",\"LocalPort\":\"51000\",\"RemoteIP\":\"198.51.100.7\","
		"\"RemotePort\":443,\"RemoteUrl\":\"evil.example\",\"ActionType\":\"ConnectionSuccess\","
		"\"InitiatingProcessAccountName\":\"dave\",\"AdditionalFields\":\"{\\\"a\\\":1}\"},"
		"\"category\":\"AdvancedHunting-DeviceNetworkEvents\"}";
	const char *other = "{\"category\":\"AdvancedHunting-SomeNewTable\",\"properties\":{}}";
	struct ipaddr ip;

	CHECK_INT(decode(info), 0);
	CHECK(has("event.dataset", "m365.hunting.alert_info") && has("event.kind", "alert"));
	CHECK_INT(count("threat.technique.id"), 1);
	CHECK(has("threat.technique.id", "T1078") && has("threat.tactic.name", "Persistence"));
	CHECK(has("rule.name", "Silent exit") && has("cloud.account.id", "t4"));
	CHECK_INT(int_of(FIELD_EVENT_SEVERITY), 3);
	CHECK_INT(int_of(FIELD_TIMESTAMP), 1667896937295405100LL); /* properties.Timestamp */

	CHECK_INT(decode(net), 0); /* category after properties */
	CHECK(has("event.dataset", "m365.hunting.device_network_events") && has("event.kind", "event"));
	CHECK(has("event.category", "network") && has("event.type", "connection"));
	CHECK_INT(int_of(FIELD_SOURCE_PORT), 51000); /* a number as a string */
	CHECK_INT(int_of(FIELD_DESTINATION_PORT), 443);
	CHECK(ipaddr_parse(&ip, "198.51.100.7", 12) == 0 &&
	      !memcmp(event_get(&ev, FIELD_DESTINATION_IP)->v.ip.b, ip.b, 16));
	CHECK(has("related.ip", "10.1.1.1") && has("related.user", "dave"));
	CHECK(has("event.action", "ConnectionSuccess") && has("url.original", "evil.example"));
	CHECK(has("m365.hunting.AdditionalFields", "{\"a\":1}"));
	CHECK(event_get(&ev, FIELD_CLOUD_PROVIDER) == NULL); /* no tenant id */

	CHECK_INT(decode(other), 0);
	CHECK(has("event.dataset", "m365.hunting") && has("event.kind", "event"));
	CHECK(has("m365.hunting.category", "AdvancedHunting-SomeNewTable"));
}

static void test_errors(void)
{
	uint32_t n;

	CHECK_INT(decode("{\"id\":\"x\",\"severity\":\"low\"}"), -EINVAL);
	CHECK(strstr(err.msg, "not a Defender record") != NULL);
	/* the event keeps only what the failed decode must keep */
	CHECK(event_get(&ev, FIELD_EVENT_ORIGINAL) && event_get(&ev, FIELD_TIMESTAMP));
	CHECK(event_get(&ev, FIELD_EVENT_ID) == NULL && event_get(&ev, FIELD_EVENT_DATASET) == NULL);
	n = ev.n;
	CHECK(n <= 3);

	CHECK_INT(decode("[1,2]"), -EINVAL);
	CHECK_STR(err.msg, "m365: byte 0: expected a JSON object, found an array");

	CHECK_INT(decode("{\"machineId\":\"m\",\"id\":\"x\",\"severity\":\"low\",}"), -EINVAL);
	CHECK_STR(err.msg, "m365: column 44: expected a key string after ',', found '}'");

	CHECK_INT(decode("{\"alertWebUrl\":\"u\"} x"), -EINVAL); /* trailing bytes */
	CHECK_INT(decode(""), -EINVAL);
}

static void test_times(void)
{
	uint64_t before = m365_dropped();

	/* text that is no time stays in its vendor field and gives no event time */
	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"lastUpdateDateTime\":\"yesterday\","
			 "\"createdDateTime\":5,\"firstActivityDateTime\":\"2026-03-15T01:00:00Z\"}"),
		  0);
	CHECK(m365_dropped() == before);
	CHECK(has("event.url", "u"));
	CHECK_INT(int_of(FIELD_TIMESTAMP), NOW_NS); /* neither time: the receive time */
	CHECK_INT(int_of(FIELD_EVENT_START), 1773536400LL * 1000000000LL);
	CHECK(has("m365.alert.lastUpdateDateTime", "yesterday"));
	CHECK(has("m365.alert.createdDateTime", "5"));
	/* without a zone: UTC, as Microsoft writes its times */
	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"lastUpdateDateTime\":\"2026-03-15T01:00:00.1234567\"}"),
		  0);
	CHECK_INT(int_of(FIELD_TIMESTAMP), 1773536400LL * 1000000000LL + 123456700);
	/* a time out of range means "not set" and is not counted */
	before = m365_dropped();
	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"resolvedDateTime\":\"0001-01-01T00:00:00Z\"}"), 0);
	CHECK(m365_dropped() == before);
	CHECK_INT(count("m365.alert.resolvedDateTime"), 0);
}

static void test_lenient_values(void)
{
	/* containers where scalars are due, nulls and empty strings: absent, not errors */
	CHECK_INT(decode("{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":{\"a\":1},"
			 "\"title\":[1],\"severity\":null,\"status\":\"\",\"evidence\":\"none\","
			 "\"mitreTechniques\":\"T1\",\"comments\":null,\"systemTags\":[null,[],{}]}"),
		  0);
	CHECK(event_get(&ev, FIELD_EVENT_ID) == NULL && event_get(&ev, FIELD_RULE_NAME) == NULL);
	CHECK(event_get(&ev, FIELD_EVENT_SEVERITY) == NULL);
	CHECK_INT(count("m365.alert.status"), 0);
	CHECK_INT(count("m365.alert.comments"), 0);
	CHECK_INT(count("m365.alert.mitreTechniques"), 1);
}

static void test_syslog_wrapped(void)
{
	CHECK_INT(decode("<14>Mar 15 12:00:00 relay1 defender: {\"@odata.type\":"
			 "\"#microsoft.graph.security.alert\",\"id\":\"s1\"}"),
		  0);
	CHECK(has("log.syslog.hostname", "relay1") || has("host.name", "relay1"));
	CHECK(has("event.id", "s1") && event_get(&ev, FIELD_MESSAGE) == NULL);
}

static void test_evidence_limits(void)
{
	size_t cap = 64 + (M365_EVIDENCE_MAX + 10) * 160, len = 0;
	char *rec = mem_alloc(cap);
	uint64_t before;

	len += (size_t)snprintf(rec + len, cap - len,
				"{\"@odata.type\":\"#microsoft.graph.security.alert\",\"evidence\":[");
	for (int i = 0; i < M365_EVIDENCE_MAX + 10; i++)
		len += (size_t)snprintf(rec + len, cap - len,
					"%s{\"@odata.type\":\"x\",\"ipAddress\":\"10.0.%d.%d\","
					"\"deviceDnsName\":\"h%d\",\"sha1\":\"s%d\"}",
					i ? "," : "", i / 256, i % 256, i, i);
	snprintf(rec + len, cap - len, "]}");
	CHECK_INT(decode(rec), 0);
	CHECK(has("log.flags", "evidence_truncated"));
	CHECK(ev.n < EVENT_MAX_VALUES); /* the value budget stopped it before the item cap */
	CHECK(count("related.ip") < M365_EVIDENCE_MAX);
	CHECK(has("event.kind", "alert")); /* the fields after the evidence still fit */
	len = (size_t)snprintf(rec, cap, "{\"alertWebUrl\":\"u\",\"evidence\":[");
	for (int i = 0; i < M365_EVIDENCE_MAX + 1; i++)
		len += (size_t)snprintf(rec + len, cap - len, "%s{}", i ? "," : "");
	snprintf(rec + len, cap - len, ",{\"@odata.type\":\"x\",\"ipAddress\":\"10.0.0.1\"}]}");
	CHECK_INT(decode(rec), 0); /* past the item cap */
	CHECK(has("log.flags", "evidence_truncated"));
	CHECK_INT(count("related.ip"), 0);

	/* arrays of the record itself past the event's values: dropped and counted */
	len = (size_t)snprintf(rec, cap, "{\"alertWebUrl\":\"u\",\"systemTags\":[");
	for (int i = 0; i < EVENT_MAX_VALUES; i++)
		len += (size_t)snprintf(rec + len, cap - len, "%s\"t%d\"", i ? "," : "", i);
	snprintf(rec + len, cap - len, "],\"status\":\"new\"}");
	before = m365_dropped();
	CHECK_INT(decode(rec), 0);
	CHECK(m365_dropped() > before);
	CHECK(has("m365.alert.status", "new") && has("event.kind", "alert"));
	mem_free(rec);

	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"evidence\":[{\"@odata.type\":\"x\",\"a\":{\"b\":"
			 "{\"c\":{\"d\":{\"e\":{\"ipAddress\":\"10.9.9.9\"}}}}}}]}"),
		  0);
	CHECK_INT(count("related.ip"), 0); /* nested deeper than the walk goes */
}

static void test_unknown_keys(void)
{
	uint64_t before;
	struct err e = ERR_INIT;

	CHECK_INT(m365_configure(NULL, &e), 0);
	CHECK_INT(m365_configure(NULL, &e), 0); /* once per process, whatever the calls */
	/* keys the tables do not list: text (a container as its JSON text) */
	CHECK_INT(decode("{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"u\","
			 "\"newField\":\"v\",\"newNumber\":12,\"newObject\":{\"a\":[1,2]},"
			 "\"@odata.etag\":\"W/1\",\"evidence\":[{\"@odata.type\":\"x\","
			 "\"newEvidenceKey\":\"e1\"},{\"newEvidenceKey\":\"e2\"}]}"),
		  0);
	CHECK(has("m365.alert.newField", "v") && has("m365.alert.newNumber", "12"));
	CHECK(has("m365.alert.newObject", "{\"a\":[1,2]}"));
	CHECK_INT(count("m365.alert.evidence.newEvidenceKey"), 2);
	CHECK(field_lookup("m365.alert.@odata.etag", 22) < 0); /* OData control information */
	/* keys that cannot be a name part, and names of another type, are counted */
	before = m365_dropped();
	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"a.b\":\"x\",\"a b\":\"y\",\"\":\"z\"}"), 0);
	CHECK(m365_dropped() == before + 3);
	CHECK(field_lookup("m365.alert.a.b", 14) < 0);
	{
		static const char want[] = "koban_decoder_values_dropped_total{decoder=\"m365\","
					   "reason=\"name_invalid\"} 3";
		struct buf out = BUF_INIT(1 << 20);

		CHECK_INT(metrics_render(&out), 0);
		CHECK(memmem(out.p, out.len, want, sizeof(want) - 1) != NULL);
		buf_release(&out);
	}
	before = m365_dropped();
	CHECK(field_intern("m365.alert.counter", 18, FT_INT) >= 0); /* someone else's integer */
	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"counter\":\"seven\"}"), 0);
	CHECK(m365_dropped() == before + 1); /* not stored as text under an integer name */
	CHECK_INT(count("m365.alert.counter"), 0);
}

static void test_name_budget(void)
{
	char rec[128];
	uint64_t before = m365_dropped();
	unsigned kept = 0;

	/* distinct unknown keys past the budget are not registered, only counted */
	for (unsigned i = 0; i < M365_NAME_BUDGET + 5; i++) {
		char name[64];

		snprintf(rec, sizeof(rec), "{\"alertWebUrl\":\"u\",\"budget%u\":\"x\"}", i);
		CHECK_INT(decode(rec), 0);
		snprintf(name, sizeof(name), "m365.alert.budget%u", i);
		kept += has(name, "x");
	}
	CHECK(kept < M365_NAME_BUDGET); /* earlier tests made some names already */
	CHECK(m365_dropped() >= before + 5);
	CHECK_INT(decode("{\"alertWebUrl\":\"u\",\"budget0\":\"again\"}"), 0);
	CHECK(has("m365.alert.budget0", "again")); /* names made before stay usable */
}

static void test_sniff(void)
{
	static const char *const yes[] = {
		"{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"1\"}",
		("{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2\","
		 "\"value\":[]}"),
		"{\"records\":[{\"time\":\"t\",\"category\":\"AdvancedHunting-DeviceEvents\"}]}",
		"[{\"id\":\"x\",\"alertCreationTime\":\"2020-01-01T00:00:00Z\"}]",
		"{\"@odata.context\":\"https://api.securitycenter.microsoft.com/api/$metadata#Alerts\"}",
		"<14>Mar 15 12:00:00 h t: {\"machineId\":\"m\"}",
	};
	static const char *const no[] = {
		"{\"records\":[{\"category\":\"SignInLogs\"}]}",
		"<14>Mar 15 12:00:00 h t: machineId",
		"1,2026/03/15 12:00:00,x,TRAFFIC,end",
		"",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CHECK(m365_sniff(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK(!m365_sniff(no[i], strlen(no[i])));
}

struct split_ctx {
	const struct decoder *d;
	unsigned events, failed;
};

static int each_record(void *ctx, const char *rec, size_t len)
{
	struct split_ctx *c = ctx;
	struct decode_opts o = { NULL, NOW_NS, 0, 0, NULL };
	struct err e = ERR_INIT;

	arena_clear(&arena);
	event_init(&ev, &arena);
	c->events++;
	c->failed += c->d->decode(&ev, rec, len, &o, &e) < 0;
	return 0;
}

static void test_split_through_registry(void)
{
	const char *page =
		"{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2\","
		"\"@odata.nextLink\":\"https://graph.microsoft.com/next\",\"value\":["
		"{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"1\"},"
		"{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"2\"},"
		"{\"id\":\"3\"}]}";
	struct split_ctx c = { 0 };
	struct err e = ERR_INIT;

	c.d = decoder_pick(DECODER_AUTO, page, strlen(page));
	CHECK_STR(c.d->name, "m365");
	CHECK(c.d->split != NULL);
	CHECK_INT(c.d->split(page, strlen(page), each_record, &c, &e), 0);
	CHECK_INT(c.events, 3);
	CHECK_INT(c.failed, 1); /* {"id":"3"} is no Defender record: a pipeline_error event */
}

static void test_allocation_failures(void)
{
	for (int i = 0; i < 4; i++) {
		struct arena small;
		struct decode_opts o = { NULL, NOW_NS, 0, 0, NULL };
		int rc;

		arena_init(&small, 64, 256 << i); /* the arena runs out half-way */
		event_init(&ev, &small);
		rc = m365_decode(&ev, graph_alert, strlen(graph_alert), &o, &err);
		CHECK(rc == 0 || rc == -ENOMEM || rc == -ENOSPC);
		arena_release(&small);
	}
}

/* The golden output reads back as ECS JSON into the same bytes (vendor fields are text). */
static void test_golden_round_trip(void)
{
	static const char *const names[] = { "graph", "endpoint", "hunting", "failed" };
	unsigned lines = 0;

	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		char path[1024];
		size_t len = 0;
		char *text;

		snprintf(path, sizeof(path), "%s/parse/m365/%s.json", t_data_dir(), names[f]);
		text = t_read_file(path, &len);
		CHECK(text != NULL);
		for (char *p = text, *nl; text && p < text + len; p = nl + 1) {
			struct buf out = BUF_INIT(1 << 22);

			nl = memchr(p, '\n', (size_t)(text + len - p));
			if (!nl)
				break;
			arena_clear(&arena);
			event_init(&ev, &arena);
			CHECK_INT(ecs_decode(&ev, p, (size_t)(nl - p), &err), 0);
			CHECK_INT(event_write_json(&ev, &out), 0);
			CHECK(out.len == (size_t)(nl - p) && !memcmp(out.p, p, out.len));
			buf_release(&out);
			lines++;
		}
		free(text);
	}
	CHECK_INT(lines, 32);
}

int main(void)
{
	arena_init(&arena, 4096, 8 << 20);
	T_RUN(test_graph_alert);
	T_RUN(test_nested_evidence);
	T_RUN(test_graph_alert_without_odata_type);
	T_RUN(test_endpoint_alert);
	T_RUN(test_endpoint_single_evidence_object);
	T_RUN(test_incident_with_alerts);
	T_RUN(test_hunting);
	T_RUN(test_errors);
	T_RUN(test_times);
	T_RUN(test_lenient_values);
	T_RUN(test_syslog_wrapped);
	T_RUN(test_evidence_limits);
	T_RUN(test_unknown_keys);
	T_RUN(test_name_budget);
	T_RUN(test_sniff);
	T_RUN(test_split_through_registry);
	T_RUN(test_allocation_failures);
	T_RUN(test_golden_round_trip);
	arena_release(&arena);
	return t_done();
}
