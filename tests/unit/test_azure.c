/*
 * Unit tests of parse/azure: the data-set dispatch, the ECS mapping of each data set, the
 * quirks (time keys and formats, numbers as strings, JSON inside strings, Level/level,
 * category after properties, Intune's Properties string), the legacy firewall text,
 * errors (malformed JSON, not an object, an unreadable time), sniffing and the limits.
 */
#include "parse/azure.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/jsonrec.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct arena arena;
static struct event ev;
static struct err err;
static char text[4096];

static int decode(const char *rec)
{
	struct decode_opts o = { .tz = NULL, .received_ns = INT64_C(1773543600000000000) };

	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(&err);
	return azure_decode(&ev, rec, strlen(rec), &o, &err);
}

/* The first value of a field as text ("" when absent): strings, ints, IPs and times. */
static const char *val(const char *name)
{
	int id = field_lookup(name, strlen(name));
	const struct event_value *v = id >= 0 ? event_get(&ev, (unsigned)id) : NULL;

	text[0] = 0;
	if (!v)
		return text;
	switch (field_type((unsigned)id)) {
	case FT_STR:
	case FT_OBJ:
		snprintf(text, sizeof(text), "%.*s", (int)v->len, v->v.s);
		break;
	case FT_INT:
	case FT_BOOL:
		snprintf(text, sizeof(text), "%lld", (long long)v->v.i);
		break;
	case FT_TIME:
		time_format_rfc3339(v->v.i, text);
		break;
	case FT_IP:
		ipaddr_format(&v->v.ip, text);
		break;
	}
	return text;
}

/* Every value of a string or IP field joined with ',' */
static const char *vals(const char *name)
{
	int id = field_lookup(name, strlen(name));
	size_t n = 0;

	text[0] = 0;
	for (uint32_t i = 0; id >= 0 && i < ev.n && n < sizeof(text); i++) {
		char ip[IPADDR_STRLEN];

		if (ev.vals[i].field != (uint32_t)id)
			continue;
		if (field_type((unsigned)id) == FT_IP) {
			ipaddr_format(&ev.vals[i].v.ip, ip);
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s", n ? "," : "", ip);
		} else {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%.*s", n ? "," : "",
					      (int)ev.vals[i].len, ev.vals[i].v.s);
		}
	}
	return text;
}

#define SIGNIN                                                                                 \
	"{\"time\":\"2019-10-18T09:45:48.0729893Z\",\"Level\":\"4\",\"category\":\"SignInLogs\"," \
	"\"operationName\":\"Sign-in activity\",\"resultType\":\"50126\",\"durationMs\":\"12\","  \
	"\"tenantId\":\"t-1\",\"callerIpAddress\":\"192.0.2.9\",\"properties\":{"                 \
	"\"id\":\"sid\",\"userPrincipalName\":\"alice@example.com\",\"userId\":\"u-1\","           \
	"\"userDisplayName\":\"Alice A\",\"ipAddress\":\"198.51.100.7\","                          \
	"\"userAgent\":\"Mozilla/5.0\",\"appDisplayName\":\"Office 365\","                         \
	"\"status\":{\"errorCode\":50126,\"failureReason\":\"Invalid password.\","               \
	"\"additionalDetails\":\"MFA required\"},"                                                \
	"\"location\":{\"city\":\"Kyoto\",\"state\":\"Kyoto\",\"countryOrRegion\":\"JP\"},"       \
	"\"appliedConditionalAccessPolicies\":[{\"id\":\"p1\",\"result\":\"notApplied\"},"        \
	"{\"id\":\"p2\",\"result\":\"success\"}]}}"

static void test_signin_failure(void)
{
	CHECK_INT(decode(SIGNIN), 0);
	CHECK_STR(val("event.dataset"), "azure.signinlogs");
	CHECK_STR(val("event.module"), "azure");
	CHECK_STR(val("@timestamp"), "2019-10-18T09:45:48.072989300Z"); /* 7 digits */
	CHECK_STR(vals("event.category"), "authentication");
	CHECK_STR(vals("event.type"), "info");
	CHECK_STR(val("event.outcome"), "failure");
	CHECK_STR(val("event.code"), "50126");
	CHECK_STR(val("event.reason"), "Invalid password. (MFA required)"); /* as message */
	CHECK_STR(val("message"), "Invalid password. (MFA required)");
	CHECK_STR(val("event.duration"), "12000000");
	CHECK_STR(val("user.name"), "alice");
	CHECK_STR(val("user.domain"), "example.com");
	CHECK_STR(val("user.email"), "alice@example.com");
	CHECK_STR(val("user.id"), "u-1");
	CHECK_STR(val("user.full_name"), "Alice A");
	CHECK_STR(val("source.ip"), "198.51.100.7"); /* properties.ipAddress before callerIp */
	CHECK_STR(vals("related.ip"), "198.51.100.7");
	CHECK_STR(vals("related.user"), "alice@example.com");
	CHECK_STR(val("source.geo.country_iso_code"), "JP");
	CHECK_STR(val("cloud.account.id"), "t-1");
	CHECK_STR(val("log.level"), "4");
	CHECK_STR(val("user_agent.original"), "Mozilla/5.0");
	/* vendor fields: every member, numbers as their text, arrays multi-valued */
	CHECK_STR(val("azure.signinlogs.properties.status.errorCode"), "50126");
	CHECK_STR(vals("azure.signinlogs.properties.appliedConditionalAccessPolicies.id"),
		  "p1,p2");
	CHECK_STR(val("azure.signinlogs.durationMs"), "12");
}

/*
 * properties.location.geoCoordinates (impossible travel reads them): source.geo.location, a
 * geo_point object with JSON numbers, when both are numbers (or strings of one) in range.
 */
static void test_signin_geo_point(void)
{
	static const char *const bad[] = {
		"{\"latitude\":91,\"longitude\":2}", "{\"latitude\":\"x\",\"longitude\":2}",
		"{\"latitude\":48.1}", "{\"latitude\":1e999,\"longitude\":2}",
		"{\"latitude\":48,\"longitude\":-180.5}", "{}",
		"{\"latitude\":\"+48\",\"longitude\":2}", "{\"latitude\":\"0x10\",\"longitude\":2}",
	};
	char rec[1024];

	snprintf(rec, sizeof(rec), "{\"time\":\"2019-10-18T09:45:48Z\",\"category\":\"SignInLogs\","
		 "\"properties\":{\"userPrincipalName\":\"a@example.com\",\"location\":{"
		 "\"city\":\"Paris\",\"geoCoordinates\":{\"latitude\":48.85,"
		 "\"longitude\":\"-2.35\"}}}}");
	CHECK_INT(decode(rec), 0);
	CHECK_STR(val("source.geo.location"), "{\"lat\":48.85,\"lon\":-2.35}");
	CHECK_STR(val("source.geo.city_name"), "Paris");
	/* a Log Analytics row: LocationDetails */
	CHECK_INT(decode("{\"Type\":\"SigninLogs\",\"TimeGenerated\":\"2019-10-18T09:45:48Z\","
			 "\"UserPrincipalName\":\"a@example.com\",\"LocationDetails\":{"
			 "\"geoCoordinates\":{\"latitude\":-33.9,\"longitude\":151.2}}}"), 0);
	CHECK_STR(val("source.geo.location"), "{\"lat\":-33.9,\"lon\":151.2}");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(rec, sizeof(rec), "{\"time\":\"2019-10-18T09:45:48Z\","
			 "\"category\":\"SignInLogs\",\"properties\":{\"location\":{"
			 "\"geoCoordinates\":%s}}}", bad[i]);
		CHECK_INT(decode(rec), 0);
		CHECK_STR(val("source.geo.location"), "");
	}
}

static void test_signin_success_and_quirks(void)
{
	/* category after properties, timeStamp without zone, level as a number */
	CHECK_INT(decode("{\"properties\":{\"status\":{\"errorCode\":0},"
			 "\"userPrincipalName\":\"CORP\\\\bob\"},\"level\":4,"
			 "\"timeStamp\":\"2024-01-02T03:04:05.5\",\"category\":\"SignInLogs\"}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.signinlogs");
	CHECK_STR(val("event.outcome"), "success");
	CHECK_STR(vals("event.type"), "start");
	CHECK_STR(val("@timestamp"), "2024-01-02T03:04:05.500Z");
	CHECK_STR(val("user.name"), "bob");
	CHECK_STR(val("user.domain"), "CORP");
	CHECK_STR(val("log.level"), "4");
	CHECK_STR(val("azure.signinlogs.properties.userPrincipalName"), "CORP\\bob");
	CHECK_STR(val("message"), "");
}

static void test_us_locale_time(void)
{
	CHECK_INT(decode("{\"time\":\"8/22/2022 6:07:16 PM\",\"category\":\"UserRiskEvents\","
			 "\"properties\":{\"riskEventType\":\"anonymizedIPAddress\","
			 "\"ipAddress\":\"67.43.156.42\",\"userPrincipalName\":\"j@x.test\","
			 "\"additionalInfo\":\"[{\\\"Key\\\":\\\"userAgent\\\",\\\"Value\\\":\\\"UA\\\"}]\"}}"),
		  0);
	CHECK_STR(val("@timestamp"), "2022-08-22T18:07:16Z");
	CHECK_STR(val("event.dataset"), "azure.identity_protection");
	CHECK_STR(val("event.action"), "anonymizedIPAddress");
	CHECK_STR(vals("event.category"), "intrusion_detection");
	CHECK_STR(val("source.ip"), "67.43.156.42");
	/* the JSON inside the string is read as JSON */
	CHECK_STR(val("azure.identity_protection.properties.additionalInfo.Value"), "UA");
	/* a {"Key":K,"Value":V} pair also gives the field K */
	CHECK_STR(val("azure.identity_protection.properties.additionalInfo.userAgent"), "UA");
	CHECK_STR(val("user_agent.original"), "UA");
	CHECK_INT(decode("{\"time\":\"12/31/2022 12:00:00 AM\",\"category\":\"RiskyUsers\"}"), 0);
	CHECK_STR(val("@timestamp"), "2022-12-31T00:00:00Z");
	CHECK_INT(decode("{\"time\":\"1/1/2023 12:30:00 PM\",\"category\":\"RiskyUsers\"}"), 0);
	CHECK_STR(val("@timestamp"), "2023-01-01T12:30:00Z");
}

static void test_bad_time_keeps_the_rest(void)
{
	CHECK_INT(decode("{\"time\":\"2/30/2022 1:00:00 PM\",\"category\":\"SignInLogs\","
			 "\"properties\":{\"userPrincipalName\":\"a@b.c\"}}"),
		  -EINVAL);
	CHECK(strstr(err.msg, "field time") != NULL);
	CHECK(strstr(err.msg, "2/30/2022") != NULL);
	CHECK_STR(val("user.name"), "a");
	CHECK_STR(val("@timestamp"), "2026-03-15T03:00:00Z"); /* the receive time stays */
	CHECK(event_get(&ev, FIELD_EVENT_ORIGINAL) != NULL);
	/* a year past what nanoseconds hold (found by fuzz_azure under UBSan) */
	CHECK_INT(decode("{\"time\":\"8/22/2622 6:07:16 PM\",\"category\":\"RiskyUsers\"}"),
		  -EINVAL);
	CHECK_INT(decode("{\"time\":\"1/1/1677 1:00:00 AM\",\"category\":\"RiskyUsers\"}"),
		  -EINVAL);
}

static void test_errors_leave_a_bare_event(void)
{
	CHECK_INT(decode("{\"category\":\"SignInLogs\",\"properties\":{\"a\":1,}}"), -EINVAL);
	CHECK(strstr(err.msg, "column") != NULL);
	CHECK_STR(val("azure.signinlogs.category"), "");
	CHECK(event_get(&ev, FIELD_EVENT_ORIGINAL) != NULL);
	CHECK(event_get(&ev, FIELD_TIMESTAMP) != NULL);
	CHECK_INT(decode("[1,2]"), -EINVAL);
	CHECK(strstr(err.msg, "expected a JSON object") != NULL);
	CHECK_INT(decode(""), -EINVAL);
	CHECK_INT(decode("{\"category\":\"SignInLogs\"} x"), -EINVAL);
}

static void test_audit_and_activity(void)
{
	CHECK_INT(decode("{\"time\":\"2019-10-18T15:30:51.0273716Z\",\"category\":\"AuditLogs\","
			 "\"resourceId\":\"/tenants/t/providers/Microsoft.aadiam\","
			 "\"properties\":{\"id\":\"a1\",\"activityDisplayName\":\"Add member to role\","
			 "\"operationType\":\"Add\",\"result\":\"failure\",\"resultReason\":\"no\","
			 "\"initiatedBy\":{\"user\":{\"userPrincipalName\":\"adm@x.test\","
			 "\"ipAddress\":\"203.0.113.5\"}},"
			 "\"targetResources\":[{\"userPrincipalName\":\"eve@x.test\","
			 "\"modifiedProperties\":[{\"displayName\":\"Role\","
			 "\"newValue\":\"{\\\"role\\\":\\\"Global Administrator\\\"}\"}]}]}}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.auditlogs");
	CHECK_STR(val("event.action"), "Add member to role");
	CHECK_STR(vals("event.type"), "creation");
	CHECK_STR(val("event.outcome"), "failure");
	CHECK_STR(val("user.name"), "adm");
	CHECK_STR(val("user.target.name"), "eve@x.test");
	CHECK_STR(vals("related.user"), "adm@x.test,eve@x.test");
	CHECK_STR(val("source.ip"), "203.0.113.5");
	CHECK_STR(val("azure.auditlogs.properties.targetResources.modifiedProperties.newValue.role"),
		  "Global Administrator");

	CHECK_INT(decode("{\"time\":\"2019-10-24T00:13:46Z\",\"category\":\"Administrative\","
			 "\"resultType\":\"Failure\",\"location\":\"japaneast\","
			 "\"callerIpAddress\":\"192.0.2.1\","
			 "\"resourceId\":\"/SUBSCRIPTIONS/S-1/RESOURCEGROUPS/RG\","
			 "\"identity\":{\"claims\":{\"http://schemas.xmlsoap.org/ws/2005/05/identity/"
			 "claims/upn\":\"ops@x.test\"}},"
			 "\"properties\":{\"responseBody\":\"{\\\"code\\\":42}\"}}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.activitylogs");
	CHECK_STR(val("event.outcome"), "failure");
	CHECK_STR(val("cloud.region"), "japaneast");
	CHECK_STR(val("cloud.account.id"), "S-1"); /* no tenantId: the subscription */
	CHECK_STR(val("user.email"), "ops@x.test");
	CHECK_STR(val("source.ip"), "192.0.2.1");
	CHECK_STR(val("azure.activitylogs.properties.responseBody.code"), "42");
	/* a '.' inside a key would nest: it becomes '_' */
	CHECK_STR(val("azure.activitylogs.identity.claims.http://schemas_xmlsoap_org/ws/2005/05/"
		      "identity/claims/upn"),
		  "ops@x.test");
}

static void test_firewall_legacy(void)
{
	static const struct {
		const char *msg, *src, *sport, *dst, *dport, *types, *extra, *want;
	} cases[] = {
		{ "TCP request from 10.0.0.1:1234 to 10.0.0.2:443. Action: Deny. ", "10.0.0.1",
		  "1234", "10.0.0.2", "443", "connection,denied", "network.transport", "tcp" },
		{ "ICMP Type=8 request from 10.0.0.1 to 10.0.0.2. Action: Allow. ", "10.0.0.1", "",
		  "10.0.0.2", "", "connection,allowed", "network.iana_number", "1" },
		{ "TCP request from 10.0.0.1:5 to 192.0.2.1:3389 was DNAT'ed to 10.0.0.9:3389. "
		  "Policy: p. Rule Collection Group: g. Rule Collection: DNAT. Rule: r",
		  "10.0.0.1", "5", "192.0.2.1", "3389", "connection", "destination.nat.ip",
		  "10.0.0.9" },
		{ "TCP request from 10.0.0.1:5 to 192.0.2.1:443. Action: drop. Signature: 2028816. "
		  "IDS: JA3 Hash - [Abuse.ch] Possible Tofsee. Priority: 3. Classification: Unknown",
		  "10.0.0.1", "5", "192.0.2.1", "443", "connection,denied", "rule.name",
		  "JA3 Hash - [Abuse.ch] Possible Tofsee" },
		{ "HTTP request from 10.0.0.1:54314 to ocsp.example.com:80. Url: ocsp.example.com. "
		  "Action: Deny. ThreatIntel: Bot Networks",
		  "10.0.0.1", "54314", "", "80", "connection,denied", "destination.domain",
		  "ocsp.example.com" },
		{ "TCP request from 10.0.0.1:1 to 10.0.0.2:2. Action: Allow.. Rule Collection: C. "
		  "Rule: R",
		  "10.0.0.1", "1", "10.0.0.2", "2", "connection,allowed", "rule.ruleset", "C" },
		{ "ICMP request from 10.0.0.1: to 10.0.0.2:. Action: Deny", "10.0.0.1", "",
		  "10.0.0.2", "", "connection,denied", "rule.name", "" },
		{ "something else entirely", "", "", "", "", "connection", "source.ip", "" },
		/* IPv6: the last group is the port when the protocol always has one */
		{ "TCP request from 2001:db8::1:50306 to 2001:db8::2:443. Action: Deny. ",
		  "2001:db8::1", "50306", "2001:db8::2", "443", "connection,denied", "source.address",
		  "2001:db8::1" },
		{ "UDP request from [2001:db8::1]:50306 to [2001:db8::2]:53. Action: Allow. ",
		  "2001:db8::1", "50306", "2001:db8::2", "53", "connection,allowed",
		  "destination.address", "2001:db8::2" },
		{ "ICMP Type=128 request from 2001:db8::1 to 2001:db8::2:443. Action: Deny. ",
		  "2001:db8::1", "", "2001:db8::2:443", "", "connection,denied", "source.domain", "" },
		{ "ICMP request from 2001:db8::1: to 2001:db8::2:. Action: Deny", "2001:db8::1", "",
		  "2001:db8::2", "", "connection,denied", "destination.address", "2001:db8::2" },
		{ "TCP request from 2001:db8::1:5 to 2001:db8::2:3389 was DNAT'ed to "
		  "2001:db8::9:3389. Rule: r",
		  "2001:db8::1", "5", "2001:db8::2", "3389", "connection", "destination.nat.ip",
		  "2001:db8::9" },
		{ "TCP request from 2001:db8:1:2:3:4:5:6 to x.example:1. Action: Deny. ",
		  "2001:db8:1:2:3:4:5:6", "", "", "1", "connection,denied", "destination.domain",
		  "x.example" },
		/* text after the ']' other than ":PORT": no endpoint, kept whole */
		{ "TCP request from [2001:db8::1]:5 to [2001:db8::2]x:443. Action: Deny. ",
		  "2001:db8::1", "5", "", "", "connection,denied", "destination.domain",
		  "[2001:db8::2]x:443" },
	};
	char rec[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(rec, sizeof(rec),
			 "{\"category\":\"AzureFirewallNetworkRule\",\"time\":\"2022-06-08T20:40:56Z\","
			 "\"resourceId\":\"/SUBSCRIPTIONS/S/PROVIDERS/X/AZUREFIREWALLS/FW1\","
			 "\"properties\":{\"msg\":\"%s\"}}",
			 cases[i].msg);
		if (!t_check(decode(rec) == 0, __FILE__, __LINE__, "case %zu: %s", i, err.msg))
			continue;
		CHECK_STR(val("source.ip"), cases[i].src);
		CHECK_STR(val("source.port"), cases[i].sport);
		CHECK_STR(val("destination.ip"), cases[i].dst);
		CHECK_STR(val("destination.port"), cases[i].dport);
		CHECK_STR(vals("event.type"), cases[i].types);
		CHECK_STR(val(cases[i].extra), cases[i].want);
		CHECK_STR(val("observer.name"), "FW1");
		CHECK_STR(val("event.dataset"), "azure.firewall_logs");
	}
	snprintf(rec, sizeof(rec), "{\"category\":\"AzureFirewallNetworkRule\",\"properties\":"
				   "{\"msg\":\"TCP request from 1.2.3.4:5 to 6.7.8.9:10. Action: "
				   "drop. Signature: 1. IDS: x. Priority: 3. Classification: C\"}}");
	CHECK_INT(decode(rec), 0);
	CHECK_STR(val("rule.id"), "1");
	CHECK_STR(val("event.risk_score"), "3");
	CHECK_STR(val("rule.category"), "C");
	CHECK_STR(val("event.action"), "drop");
}

static void test_firewall_dns_proxy(void)
{
	CHECK_INT(decode("{\"category\":\"AzureFirewallDnsProxy\",\"properties\":{\"msg\":"
			 "\"DNS Request: 10.1.0.7:48197 \u2013 15676 AAAA IN a.example.com. tcp 55 "
			 "false 512 NXDOMAIN qr,rd,ra 190 0.5s\"}}"),
		  0);
	CHECK_STR(val("source.ip"), "10.1.0.7");
	CHECK_STR(val("source.port"), "48197");
	CHECK_STR(val("dns.id"), "15676");
	CHECK_STR(val("dns.question.name"), "a.example.com");
	CHECK_STR(val("dns.question.type"), "AAAA");
	CHECK_STR(val("dns.response_code"), "NXDOMAIN");
	CHECK_STR(vals("dns.header_flags"), "QR,RD,RA");
	CHECK_STR(val("network.transport"), "tcp");
	CHECK_STR(val("source.bytes"), "55");
	CHECK_STR(val("destination.bytes"), "190");
	CHECK_STR(val("event.duration"), "500000000");
	CHECK_STR(vals("event.type"), "protocol");
	/* cut short: what is there is mapped */
	CHECK_INT(decode("{\"category\":\"AzureFirewallDnsProxy\",\"properties\":{\"msg\":"
			 "\"DNS Request: 10.1.0.7:1 - 9\"}}"),
		  0);
	CHECK_STR(val("source.port"), "1");
	CHECK_STR(val("dns.id"), "");
}

static void test_firewall_structured(void)
{
	CHECK_INT(decode("{\"category\":\"AZFWApplicationRule\",\"time\":\"2024-03-20T23:39:59Z\","
			 "\"properties\":{\"Action\":\"Deny\",\"SourceIp\":\"10.1.1.1\","
			 "\"SourcePort\":\"4444\",\"DestinationIp\":\"\",\"DestinationPort\":443,"
			 "\"Fqdn\":\"bad.example\",\"Protocol\":\"HTTPS\",\"TargetUrl\":\"https://bad.example/x\","
			 "\"WebCategory\":\"Malware\",\"Rule\":\"r1\",\"RuleCollection\":\"rc\"}}"),
		  0);
	CHECK_STR(val("source.ip"), "10.1.1.1");
	CHECK_STR(val("source.port"), "4444"); /* a number written as a string */
	CHECK_STR(val("destination.port"), "443");
	CHECK_STR(val("destination.domain"), "bad.example");
	CHECK_STR(val("network.protocol"), "https");
	CHECK_STR(val("network.transport"), "tcp");
	CHECK_STR(vals("event.type"), "connection,denied");
	CHECK_STR(val("url.original"), "https://bad.example/x");
	CHECK_STR(val("rule.category"), "Malware");
	CHECK_INT(decode("{\"category\":\"AZFWDnsQuery\",\"properties\":{\"SourceIp\":\"10.0.0.4\","
			 "\"QueryName\":\"example.com.\",\"QueryType\":\"A\",\"ResponseCode\":"
			 "\"NOERROR\",\"QueryId\":1234}}"),
		  0);
	CHECK_STR(val("dns.question.name"), "example.com"); /* as the DNS proxy's text */
	CHECK_STR(val("dns.id"), "1234");
	CHECK_STR(val("dns.response_code"), "NOERROR");
	CHECK_STR(vals("event.type"), "protocol");
	CHECK_STR(val("network.protocol"), "dns");
	/* a query the firewall also acted on keeps its Action */
	CHECK_INT(decode("{\"category\":\"AZFWDnsQuery\",\"properties\":{\"SourceIp\":\"10.0.0.4\","
			 "\"QueryName\":\"example.com.\",\"Action\":\"Deny\"}}"),
		  0);
	CHECK_STR(val("event.action"), "Deny");
	CHECK_STR(vals("event.type"), "protocol,denied");
}

static void test_appgw_and_waf(void)
{
	CHECK_INT(decode("{\"category\":\"ApplicationGatewayAccessLog\",\"time\":\"2017-04-26T19:27:38Z\","
			 "\"properties\":{\"clientIP\":\"67.43.156.7\",\"clientPort\":\"46886\","
			 "\"httpMethod\":\"GET\",\"requestUri\":\"/a/b?x=1\",\"userAgent\":\"-\","
			 "\"httpStatus\":\"503\",\"httpVersion\":\"HTTP/1.1\",\"receivedBytes\":65,"
			 "\"sentBytes\":\"553\",\"timeTaken\":205,\"host\":\"www.example.com\"}}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.application_gateway");
	CHECK_STR(val("source.ip"), "67.43.156.7");
	CHECK_STR(val("source.port"), "46886");
	CHECK_STR(val("url.path"), "/a/b");
	CHECK_STR(val("url.query"), "x=1");
	CHECK_STR(val("http.response.status_code"), "503");
	CHECK_STR(val("http.version"), "1.1");
	CHECK_STR(val("event.outcome"), "failure");
	CHECK_STR(val("destination.bytes"), "553");
	CHECK_STR(val("event.duration"), "205000000");
	CHECK_STR(val("user_agent.original"), ""); /* "-" is no user agent */
	CHECK_INT(decode("{\"category\":\"ApplicationGatewayFirewallLog\",\"timeStamp\":"
			 "\"2023-01-20T21:25:55+00:00\",\"properties\":{\"clientIp\":\"67.43.156.7\","
			 "\"clientPort\":\"\",\"ruleId\":\"920320\",\"ruleSetType\":\"OWASP_CRS\","
			 "\"message\":\"Missing User Agent Header\",\"action\":\"Blocked\","
			 "\"details\":{\"line\":\"1335\"}}}"),
		  0);
	CHECK_STR(val("@timestamp"), "2023-01-20T21:25:55Z");
	CHECK_STR(val("rule.id"), "920320");
	CHECK_STR(val("source.port"), ""); /* "" is no port */
	CHECK_STR(vals("event.category"), "intrusion_detection,web");
	CHECK_STR(vals("event.type"), "info,denied");
	CHECK_STR(val("message"), "Missing User Agent Header");
}

static void test_bastion_and_intune(void)
{
	CHECK_INT(decode("{\"time\":\"2019-10-03T16:03:34.776Z\",\"category\":\"BastionAuditLogs\","
			 "\"operationName\":\"Microsoft.Network/BastionHost/connect\","
			 "\"properties\":{\"userName\":\"ashish\",\"clientIpAddress\":\"131.107.159.86\","
			 "\"clientPort\":24039,\"protocol\":\"SSH\",\"targetVMIPAddress\":\"172.16.1.5\","
			 "\"sessionEndTime\":\"2019-10-03T17:00:00Z\"}}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.bastion");
	CHECK_STR(vals("event.type"), "start");
	CHECK_STR(val("network.protocol"), "ssh");
	CHECK_STR(val("destination.ip"), "172.16.1.5");
	CHECK_STR(val("user.name"), "ashish");
	CHECK_STR(val("event.end"), "2019-10-03T17:00:00Z");
	/* Intune writes AuditLogs too: its resourceId tells; Properties is a JSON string */
	CHECK_INT(decode("{\"time\":\"2024-05-01T10:00:00Z\",\"category\":\"AuditLogs\","
			 "\"operationName\":\"Delete DeviceConfiguration\",\"resultType\":\"Success\","
			 "\"identity\":\"it@x.test\",\"Properties\":\"{\\\"AuditEventId\\\":\\\"e-1\\\","
			 "\\\"Actor\\\":{\\\"UPN\\\":\\\"admin@x.test\\\"}}\","
			 "\"resourceId\":\"/TENANTS/T/PROVIDERS/MICROSOFT.INTUNE\"}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.intune_audit");
	CHECK_STR(vals("event.type"), "deletion");
	CHECK_STR(val("event.outcome"), "success");
	CHECK_STR(val("event.id"), "e-1");
	CHECK_STR(val("user.email"), "admin@x.test");
	CHECK_STR(val("azure.intune_audit.properties.Actor.UPN"), "admin@x.test");
	CHECK_INT(decode("{\"category\":\"OperationalLogs\",\"identity\":\"op@x.test\"}"), 0);
	CHECK_STR(val("event.dataset"), "azure.intune_operational");
	CHECK_STR(val("user.name"), "op");
	/* Intune's operational logs say "Fail", not "Failure" */
	CHECK_INT(decode("{\"category\":\"OperationalLogs\",\"operationName\":\"Enrollment\","
			 "\"resultType\":\"Fail\"}"),
		  0);
	CHECK_STR(val("event.outcome"), "failure");
	CHECK_STR(vals("event.type"), "info");
	CHECK_INT(decode("{\"category\":\"SomethingNew\",\"callerIpAddress\":\"2001:db8::1\"}"), 0);
	CHECK_STR(val("event.dataset"), "azure.platformlogs");
	CHECK_STR(val("source.ip"), "2001:db8::1");
}

static void test_syslog_header(void)
{
	CHECK_INT(decode("<14>1 2024-01-01T00:00:00Z relay app - - - {\"category\":\"SignInLogs\","
			 "\"time\":\"2024-01-01T00:00:01Z\"}"),
		  0);
	CHECK_STR(val("host.name"), "relay");
	CHECK_STR(val("@timestamp"), "2024-01-01T00:00:01Z");
	CHECK_STR(val("message"), "");
}

static void test_sniff(void)
{
	static const struct {
		const char *s;
		bool want;
	} cases[] = {
		{ "{\"records\":[{\"category\":\"SignInLogs\"}]}", true },
		{ "{\"time\":\"x\",\"category\":\"AuditLogs\",\"resourceId\":\"/t\"}", true },
		{ "[{\"category\":\"AuditLogs\",\"operationName\":\"x\"}]", true },
		{ "<14>Jan  1 00:00:00 h t: {\"category\":\"a\",\"operationName\":\"x\"}", true },
		{ "{\"records\":[{\"category\":\"AdvancedHunting-DeviceEvents\"}]}", false },
		{ "{\"@odata.type\":\"#microsoft.graph.security.alert\",\"category\":\"x\"}", false },
		{ "{\"value\":[]}", false },
		{ "{\"category\":\"x\"}", false },
		{ "<14>Jan  1 00:00:00 h t: hello", false },
		{ "1,2024/01/01 00:00:00,0,TRAFFIC", false },
		{ "", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		t_check(azure_sniff(cases[i].s, strlen(cases[i].s)) == cases[i].want, __FILE__,
			__LINE__, "case %zu", i);
	CHECK_STR(decoder_pick(DECODER_AUTO, cases[0].s, strlen(cases[0].s))->name, "azure");
}

/* A record with more members than an event holds: the extra fields are dropped, counted. */
#define EVENT_FULL_SERIES "koban_decoder_values_dropped_total{decoder=\"azure\",reason=\"event_full\"}"
static void test_event_full_counted(void)
{
	struct buf b = BUF_INIT(1 << 20);
	uint64_t before = azure_fields_dropped();

	CHECK_INT(buf_adds(&b, "{\"category\":\"SignInLogs\",\"properties\":{\"a\":["), 0);
	for (int i = 0; i < 1500; i++)
		CHECK_INT(buf_adds(&b, i ? ",1" : "1"), 0);
	CHECK_INT(buf_adds(&b, "]},\"time\":\"2024-01-01T00:00:00Z\"}"), 0);
	arena_clear(&arena);
	event_init(&ev, &arena);
	CHECK_INT(azure_decode(&ev, b.p, b.len,
			       &(struct decode_opts){ .received_ns = 0 }, &err),
		  0);
	CHECK(azure_fields_dropped() > before);
	CHECK_STR(val("event.dataset"), "azure.signinlogs");
	/* the counter is on /metrics once configure() ran (twice is fine) */
	CHECK_INT(azure_configure(NULL, &err), 0);
	CHECK_INT(azure_configure(NULL, &err), 0);
	buf_reset(&b);
	CHECK_INT(metrics_render(&b), 0);
	CHECK(buf_addch(&b, 0) == 0 && strstr(b.p, EVENT_FULL_SERIES " ") != NULL);
	CHECK(strstr(b.p, EVENT_FULL_SERIES " 0") == NULL);
	buf_release(&b);
}

/* More members before category than can be held: decided early, nothing lost. */
static void test_many_members_before_category(void)
{
	struct buf b = BUF_INIT(1 << 20);

	CHECK_INT(buf_adds(&b, "{"), 0);
	for (int i = 0; i < 200; i++)
		CHECK_INT(buf_addf(&b, "\"k%d\":%d,", i, i), 0);
	CHECK_INT(buf_adds(&b, "\"category\":\"SignInLogs\",\"time\":\"2024-01-01T00:00:00Z\"}"), 0);
	arena_clear(&arena);
	event_init(&ev, &arena);
	CHECK_INT(azure_decode(&ev, b.p, b.len, &(struct decode_opts){ .received_ns = 0 }, &err), 0);
	CHECK_STR(val("event.dataset"), "azure.platformlogs");
	CHECK_STR(val("azure.platformlogs.k0"), "0");
	CHECK_STR(val("azure.platformlogs.k199"), "199");
	CHECK_STR(val("@timestamp"), "2024-01-01T00:00:00Z");
	buf_release(&b);
}

/* A Log Analytics row: the table in Type (last) picks the data set. */
static void test_log_analytics_row(void)
{
	CHECK_INT(decode("{\"TimeGenerated\":\"2026-03-14T22:40:00Z\",\"UserPrincipalName\":"
			 "\"a@b.test\",\"IPAddress\":\"192.0.2.1\",\"Status\":{\"errorCode\":0},"
			 "\"Type\":\"AADNonInteractiveUserSignInLogs\"}"),
		  0);
	CHECK_STR(val("event.dataset"), "azure.signinlogs");
	CHECK_STR(val("event.outcome"), "success");
	CHECK_STR(val("source.ip"), "192.0.2.1");
	CHECK_STR(val("azure.signinlogs.UserPrincipalName"), "a@b.test");
}

static int count_one(void *ctx, const char *rec, size_t len)
{
	(*(int *)ctx)++;
	return 0;
}

/* The split refuses an empty container, so that it is decoded (as an error event). */
static void test_split_refuses_empty(void)
{
	int n = 0;

	CHECK_INT(jsonrec_split("{\"records\":[]}", 14, count_one, &n, &err), -ENODATA);
	CHECK_INT(n, 0);
	CHECK_INT(jsonrec_split("[{},{}]", 7, count_one, &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_INT(decode("{\"records\":[]}"), -EINVAL);
	CHECK(strstr(err.msg, "empty record container") != NULL);
	CHECK_INT(decode("{\"records\":[1],\"x\":2}"), 0); /* a record with a records member */
	CHECK_STR(val("event.dataset"), "azure.platformlogs");
}

int main(void)
{
	arena_init(&arena, 1 << 16, 1 << 24);
	T_RUN(test_signin_failure);
	T_RUN(test_signin_success_and_quirks);
	T_RUN(test_signin_geo_point);
	T_RUN(test_us_locale_time);
	T_RUN(test_bad_time_keeps_the_rest);
	T_RUN(test_errors_leave_a_bare_event);
	T_RUN(test_audit_and_activity);
	T_RUN(test_firewall_legacy);
	T_RUN(test_firewall_dns_proxy);
	T_RUN(test_firewall_structured);
	T_RUN(test_appgw_and_waf);
	T_RUN(test_bastion_and_intune);
	T_RUN(test_syslog_header);
	T_RUN(test_sniff);
	T_RUN(test_event_full_counted);
	T_RUN(test_many_members_before_category);
	T_RUN(test_log_analytics_row);
	T_RUN(test_split_refuses_empty);
	arena_release(&arena);
	return t_done();
}
