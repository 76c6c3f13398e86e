/*
 * Unit tests of detect/fieldmap: the bundled maps load; rule field names resolve by the
 * documented order; events of each decoder get their logsource; malformed and clashing
 * maps are refused with FILE:LINE; allocation failures are clean; and every field that a
 * SigmaHQ rule of a mapped logsource names resolves or is listed as unsupported (when
 * ../shared is present).
 */
#include "detect/fieldmap.h"
#include "t.h"
#include "t_event.h"

#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/mem.h"

static struct fieldmap *bundled(void)
{
	struct err e = ERR_INIT;
	struct fieldmap *m = NULL;

	if (fieldmap_new(&m) < 0 || fieldmap_load_bundled(m, &e) < 0)
		t_check(0, __FILE__, __LINE__, "bundled maps: %s", e.msg);
	return m;
}

static void test_bundled_load(void)
{
	struct fieldmap *m = bundled();

	CHECK(fieldmap_bundled_count >= 16);
	CHECK_INT(fieldmap_count(m), fieldmap_bundled_count);
	for (size_t i = 0; i < fieldmap_bundled_count; i++) {
		CHECK(!strncmp(fieldmap_bundled[i].name, "rules/mappings/", 15));
		CHECK_INT(strlen((const char *)fieldmap_bundled[i].bytes), fieldmap_bundled[i].len);
	}
	fieldmap_free(m);
}

/* The directory beside the binary's sources: the same files as the bundled ones. */
static void test_dir_load(void)
{
	struct err e = ERR_INIT;
	struct fieldmap *m = NULL;

	CHECK_INT(fieldmap_new(&m), 0);
	t_check(fieldmap_load_dir(m, "rules/mappings", &e) == 0, __FILE__, __LINE__, "%s", e.msg);
	CHECK_INT(fieldmap_count(m), fieldmap_bundled_count);
	/* loading the same maps twice is a clash of logsources */
	CHECK_INT(fieldmap_load_bundled(m, &e), -EINVAL);
	CHECK(strstr(e.msg, "is already mapped by rules/mappings/") != NULL);
	CHECK_INT(fieldmap_count(m), fieldmap_bundled_count);
	CHECK_INT(fieldmap_load_dir(m, "/nonexistent-koban-dir", &e), -ENOENT);
	CHECK(strstr(e.msg, "/nonexistent-koban-dir: cannot read") != NULL);
	fieldmap_free(m);
}

#define RESOLVE(m, c, p, s, name) fieldmap_resolve((m), (c), (p), (s), (name), &e)

static void test_resolve(void)
{
	struct fieldmap *m = bundled();
	struct err e = ERR_INIT;

	/* taxonomy names */
	CHECK_STR(RESOLVE(m, "firewall", NULL, NULL, "dst_ip"), "destination.ip");
	CHECK_STR(RESOLVE(m, "firewall", "panos", NULL, "dst_port"), "destination.port");
	CHECK_STR(RESOLVE(m, "proxy", NULL, NULL, "c-useragent"), "user_agent.original");
	CHECK_STR(RESOLVE(m, "webserver", NULL, NULL, "cs-uri-query"), "url.original");
	CHECK_STR(RESOLVE(m, "dns", NULL, NULL, "query"), "dns.question.name");
	CHECK_STR(RESOLVE(m, "network", NULL, "dns", "dns.response.code"), "dns.response_code");
	CHECK_STR(RESOLVE(m, "network", NULL, "connection", "network.community_id"),
		  "network.community_id");
	CHECK(RESOLVE(m, "network", NULL, "connection", "network.state") == NULL);
	/* Microsoft names: exact, then without regard to case */
	CHECK_STR(RESOLVE(m, NULL, "azure", "signinlogs", "ResultType"), "event.code");
	CHECK_STR(RESOLVE(m, NULL, "azure", "signinlogs", "resultType"), "event.code");
	CHECK_STR(RESOLVE(m, NULL, "azure", "signinlogs", "Resultdescription"), "event.reason");
	CHECK_STR(RESOLVE(m, NULL, "azure", "signinlogs", "DeviceDetail.trusttype"),
		  "azure.signinlogs.properties.deviceDetail.trustType");
	CHECK_STR(RESOLVE(m, NULL, "azure", "auditlogs", "TargetResources.modifiedProperties.newValue"),
		  "azure.auditlogs.properties.targetResources.modifiedProperties.newValue");
	CHECK_STR(RESOLVE(m, NULL, "azure", "riskdetection", "riskEventType"), "event.action");
	CHECK_STR(RESOLVE(m, NULL, "m365", "threat_management", "eventName"), "rule.name");
	/* a renamed prefix: the record's own members */
	CHECK_STR(RESOLVE(m, NULL, "azure", "signinlogs", "properties.appId"),
		  "azure.signinlogs.properties.appId");
	CHECK_STR(RESOLVE(m, NULL, "azure", "activitylogs", "Properties.eventCategory"),
		  "azure.activitylogs.properties.eventCategory");
	err_clear(&e);
	CHECK(RESOLVE(m, NULL, "azure", "signinlogs", "properties.") == NULL);
	CHECK(strstr(e.msg, "expected a name after the prefix properties.") != NULL);
	/* an entry beats the prefix */
	CHECK_STR(RESOLVE(m, NULL, "azure", "activitylogs", "properties.message"), "message");
	/* ECS names and vendor names resolve to themselves */
	CHECK_STR(RESOLVE(m, "firewall", NULL, NULL, "source.nat.ip"), "source.nat.ip");
	CHECK_STR(RESOLVE(m, NULL, "panos", NULL, "panos.threat.name"), "panos.threat.name");
	CHECK_STR(RESOLVE(m, "firewall", "panos", NULL, "panos.app"), "panos.app");
	CHECK_STR(RESOLVE(m, NULL, "azure", "signinlogs", "azure.signinlogs.properties.id"),
		  "azure.signinlogs.properties.id");
	/* a logsource without a map: names as given */
	CHECK_STR(RESOLVE(m, "process_creation", "windows", NULL, "CommandLine"), "CommandLine");
	/* a logsource no decoded event has (m365 exchange): names as given, entries still apply */
	CHECK_STR(RESOLVE(m, NULL, "m365", "exchange", "eventSource"), "eventSource");
	CHECK_STR(RESOLVE(m, NULL, "azure", "pim", "riskEventType"), "event.action");
	CHECK_STR(RESOLVE(m, NULL, "azure", "pim", "alertId"), "alertId");
	CHECK_STR(fieldmap_resolve(NULL, "firewall", NULL, NULL, "dst_ip", &e), "dst_ip");
	/* unsupported: the map's reason */
	err_clear(&e);
	CHECK(RESOLVE(m, "firewall", NULL, NULL, "blocked") == NULL);
	CHECK(strstr(e.msg, "\"blocked\" has no counterpart in koban's category=firewall events: "
			    "koban's firewall events carry no blocked flag") != NULL);
	CHECK_INT(e.code, -ENOENT);
	/* unknown */
	err_clear(&e);
	CHECK(RESOLVE(m, NULL, "azure", "signinlogs", "NoSuchColumn") == NULL);
	CHECK(strstr(e.msg, "\"NoSuchColumn\" is unknown for logsource product=azure "
			    "service=signinlogs: not in the field map rules/mappings/azure-signinlogs.yml")
	      != NULL);
	err_clear(&e);
	CHECK(RESOLVE(m, NULL, "panos", NULL, "squid.result_code") == NULL); /* another vendor's */
	CHECK(RESOLVE(m, "firewall", NULL, NULL, "Source.Ip") == NULL); /* ECS names: exact */
	/* a map applies only when the rule names each of its keys */
	CHECK_STR(RESOLVE(m, NULL, NULL, "signinlogs", "ResultType"), "ResultType");
	fieldmap_free(m);
}

/* Decodes line with format and returns its logsource as "c/p/s" ("-" for none). */
static const char *logsource_of(const struct fieldmap *m, const char *format, const char *line)
{
	static char out[256];
	const char *c, *p, *s, *ds;

	out[0] = 0;
	if (!t_check(t_decode(format, line, 0, NULL) == 0, __FILE__, __LINE__, "%s: %s: %s",
		     format, line, t_ev_err.msg))
		return out;
	ds = t_str("event.dataset");
	if (!ds)
		return out;
	fieldmap_logsource(m, ds, strlen(ds), &c, &p, &s);
	snprintf(out, sizeof(out), "%s %s/%s/%s", ds, c ? c : "-", p ? p : "-", s ? s : "-");
	return out;
}

static void test_decoder_logsources(void)
{
	static const struct {
		const char *format, *line, *expect;
	} cases[] = {
		{ "panos",
		  "<14>Mar 15 11:59:59 pa 1,2026/03/15 11:59:59,0132,TRAFFIC,end,2561,2026/03/15 "
		  "11:59:59,10.10.1.20,203.0.113.80,198.51.100.4,203.0.113.80,allow-web,,,ssl,vsys1,"
		  "trust,untrust,ethernet1/2,ethernet1/1,fwd,2026/03/15 11:59:59,7001,1,52144,443,"
		  "40211,443,0x400053,tcp,allow,15734,2810,12924",
		  "panos.traffic firewall/panos/-" },
		{ "panos",
		  "1,2026/03/15 11:59:59,,SYSTEM,general,2561,2026/03/15 11:59:59,,general,,0,0,"
		  "general,informational,\"closed\",900001,0x0",
		  "panos.system -/panos/-" },
		{ "panos",
		  "1,2026/03/15 11:59:59,0132,THREAT,url,2561,2026/03/15 11:59:59,10.10.1.20,"
		  "203.0.113.80,198.51.100.4,203.0.113.80,allow-web,,,web-browsing,vsys1,trust,"
		  "untrust,ethernet1/2,ethernet1/1,fwd,2026/03/15 11:59:59,7001,1,52150,80,40300,80,"
		  "0x400053,tcp,block-url,\"www.example.com/login.php\",(9999),phishing,informational",
		  "panos.threat firewall/panos/-" },
		{ "a10",
		  "10.0.0.9 - - Sun Mar 15 12:00:09 2026 \"POST /login HTTP/1.1\" 2048 "
		  "\"https://portal.example/\" \"Mozilla/5.0 (X11)\" vs-portal:443",
		  "a10.http webserver/-/-" },
		{ "a10", "NAT-TCP-C: 100.64.1.10:40001<->198.51.100.80:443, 203.0.113.10:20001<-->"
			 "198.51.100.80:443",
		  "a10.cgn network/-/connection" },
		{ "squid",
		  "1773543000.123    250 192.0.2.10 TCP_MISS/200 5120 GET http://www.example.com/a "
		  "- HIER_DIRECT/198.51.100.7 text/html",
		  "squid.access proxy/-/-" },
		{ "combined",
		  "192.0.2.1 - alice [15/Mar/2026:11:00:00 +0900] \"GET /index.html HTTP/1.1\" 200 "
		  "1234 \"-\" \"curl/8.0\"",
		  "weblog.access webserver/-/-" },
		{ "bind",
		  "15-Mar-2026 11:59:00.123 queries: info: client @0x7f0000000001 192.0.2.53#41000 "
		  "(www.example.com): query: www.example.com IN A +E(0)K (192.0.2.1)",
		  "bind.query dns/-/-" },
		{ "unbound", "[1773543500] unbound[2001:0] info: 192.0.2.20 www.example.com. AAAA IN",
		  "unbound.query dns/-/-" },
		{ "azure",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"SignInLogs\",\"operationName\":"
		  "\"Sign-in activity\",\"resultType\":\"0\",\"properties\":{\"userPrincipalName\":"
		  "\"a@example.com\",\"status\":{\"errorCode\":0}}}",
		  "azure.signinlogs -/azure/signinlogs" },
		{ "azure",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"AuditLogs\",\"operationName\":"
		  "\"Add member to role\",\"properties\":{\"activityDisplayName\":\"Add member to role\"}}",
		  "azure.auditlogs -/azure/auditlogs" },
		{ "azure",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"Administrative\",\"operationName\":"
		  "\"MICROSOFT.KEYVAULT/VAULTS/DELETE\",\"resultType\":\"Success\"}",
		  "azure.activitylogs -/azure/activitylogs" },
		{ "azure",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"UserRiskEvents\",\"operationName\":"
		  "\"User Risk Detection\",\"properties\":{\"riskEventType\":\"unlikelyTravel\"}}",
		  "azure.identity_protection -/azure/riskdetection" },
		{ "azure",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"AzureFirewallNetworkRule\","
		  "\"operationName\":\"AzureFirewallNetworkRuleLog\",\"properties\":{\"msg\":\"TCP "
		  "request from 10.0.0.4:5000 to 198.51.100.9:443. Action: Deny.\"}}",
		  "azure.firewall_logs firewall/azure/-" },
		{ "azure",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"ApplicationGatewayAccessLog\","
		  "\"operationName\":\"ApplicationGatewayAccess\",\"properties\":{\"clientIP\":"
		  "\"192.0.2.7\",\"httpMethod\":\"GET\",\"requestUri\":\"/\",\"httpStatus\":200}}",
		  "azure.application_gateway webserver/azure/-" },
		{ "m365",
		  "{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"da1\",\"title\":"
		  "\"Impossible travel activity\",\"severity\":\"high\",\"createdDateTime\":"
		  "\"2026-03-15T02:00:00Z\"}",
		  "m365.alert -/m365/threat_management" },
		{ "m365",
		  "{\"alertCreationTime\":\"2026-03-15T02:00:00Z\",\"id\":\"da2\",\"title\":"
		  "\"Suspicious PowerShell\",\"severity\":\"Medium\",\"machineId\":\"m1\"}",
		  "m365.endpoint_alert -/m365/threat_management" },
		{ "m365",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"AdvancedHunting-CloudAppEvents\","
		  "\"properties\":{\"Timestamp\":\"2026-03-15T02:00:00Z\",\"ActionType\":"
		  "\"New-InboxRule\"}}",
		  "m365.hunting.cloud_app_events -/m365/audit" },
		{ "m365",
		  "{\"time\":\"2026-03-15T02:00:00Z\",\"category\":\"AdvancedHunting-DeviceProcessEvents\","
		  "\"properties\":{\"Timestamp\":\"2026-03-15T02:00:00Z\",\"FileName\":\"a.exe\"}}",
		  "m365.hunting.device_process_events -/m365/-" },
		{ "postfix",
		  "<22>Mar 15 11:00:00 mx postfix/smtpd[99]: connect from a.example[192.0.2.5]",
		  "postfix.log -/-/-" },
	};
	struct fieldmap *m = bundled();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = logsource_of(m, cases[i].format, cases[i].line);

		t_check(!strcmp(got, cases[i].expect), __FILE__, __LINE__, "%s: got \"%s\", "
			"expected \"%s\"", cases[i].format, got, cases[i].expect);
	}
	fieldmap_free(m);
}

static void test_logsource_lookup(void)
{
	struct fieldmap *m = bundled();
	const char *c = "x", *p = "x", *s = "x";

	CHECK_INT(fieldmap_logsource(m, "panos.threatX", 13, &c, &p, &s), 1); /* by panos.* */
	CHECK(c == NULL && p && !strcmp(p, "panos") && s == NULL);
	CHECK_INT(fieldmap_logsource(m, "panos.traffic-not-nul", 13, &c, &p, &s), 1); /* length */
	CHECK_STR(c, "firewall");
	CHECK_INT(fieldmap_logsource(m, "panos", 5, &c, &p, &s), 0); /* not under "panos." */
	CHECK(!c && !p && !s);
	CHECK_INT(fieldmap_logsource(m, "", 0, &c, &p, &s), 0);
	CHECK_INT(fieldmap_logsource(NULL, "panos.traffic", 13, &c, &p, &s), 0);
	fieldmap_free(m);
}

/* Loading text as a map into a fresh struct: the result code and the message in e. */
static int load(const char *text, struct err *e)
{
	struct fieldmap *m = NULL;
	int rc;

	err_clear(e);
	if ((rc = fieldmap_new(&m)) < 0)
		return rc;
	rc = fieldmap_load_mem(m, "t.yml", text, strlen(text), e);
	fieldmap_free(m);
	return rc;
}

static void test_errors(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "logsource: {category: x}\nfields: [a\n", "t.yml:3: malformed YAML: " },
		{ "a: 1\na: 2\n", "t.yml:2: malformed YAML: duplicate key" },
		{ "- 1\n", "t.yml:1: expected a mapping with logsource:" },
		{ "fields: {a: b}\n", "t.yml: logsource: missing" },
		{ "logsource: {}\n", "t.yml:0: logsource: expected at least one of" },
		{ "logsource: {category: Firewall}\n", "t.yml:1: logsource: expected a lower-case name" },
		{ "logsource:\n  vendor: x\n", "t.yml:2: logsource: expected category, product or service" },
		{ "logsource: {category: x}\nfield: {a: b}\n", "t.yml:2: expected one of logsource" },
		{ "logsource: {category: x}\nfields: {a: 'b c'}\n", "t.yml:2: fields: expected a mapping" },
		{ "logsource: {category: x}\nfields: {a: [b]}\n", "t.yml:2: fields: expected a mapping" },
		{ "logsource: {category: x}\ndatasets: [A.b]\n", "t.yml:2: datasets: expected" },
		{ "logsource: {category: x}\ndatasets: x\n", "t.yml:2: datasets: expected a list" },
		{ "logsource: {category: x}\nvendor: [x]\n", "t.yml:2: vendor: expected a field-name prefix" },
		{ "logsource: {category: x}\nprefixes: {a.: b}\n", "t.yml:2: prefixes: expected" },
		{ "logsource: {category: x}\nunsupported: {a: ''}\n", "t.yml:2: unsupported: expected" },
		{ "logsource: {category: x}\nfields: {a: source.ip}\nunsupported: {a: why}\n",
		  "t.yml: a is under both fields and unsupported" },
		{ "logsource: {category: x}\nfields: {a: source.ipp}\n",
		  "t.yml: a: source.ipp is neither an ECS field of koban nor under a vendor: prefix" },
		{ "logsource: {category: x}\nvendor: [v.]\nprefixes: {p.: w.}\n",
		  "t.yml: p.: w. is neither an ECS field" },
		{ "logsource: {category: x}\nfields: {a: *x}\n", "t.yml:2: fields: expected" },
		{ "%Every it\xd6 x\nlogsource: {category: x}\n", "t.yml:1: expected UTF-8 text, found byte 0xd6" },
		{ "logsource: {category: x}\nfields: {a: \"b\xc0\xaf\"}\n", "t.yml:2: expected UTF-8 text, found byte 0xc0" },
	};
	struct err e = ERR_INIT;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = load(cases[i].text, &e);

		t_check(rc == -EINVAL && strstr(e.msg, cases[i].msg), __FILE__, __LINE__,
			"case %zu: rc %d, \"%s\" (expected \"%s\")", i, rc, e.msg, cases[i].msg);
	}
	CHECK_INT(load("logsource: {category: x}\ndatasets: [a.*, b]\nvendor: [v.]\n"
		       "fields: {a: v.b, c: user.name}\nprefixes: {p.: v.p.}\n", &e), 0);
}

/* Two maps that give one dataset two categories; a duplicate logsource. */
static void test_clashes(void)
{
	static const char a[] = "logsource: {category: firewall}\ndatasets: [fw.traffic]\n";
	static const char b[] = "logsource: {category: proxy}\ndatasets: [fw.*]\n";
	static const char c[] = "logsource: {product: fw}\ndatasets: [fw.*]\n";
	static const char d[] = "logsource: {category: firewall}\n";
	struct fieldmap *m = NULL;
	struct err e = ERR_INIT;
	const char *cat, *prod, *svc;

	CHECK_INT(fieldmap_new(&m), 0);
	CHECK_INT(fieldmap_load_mem(m, "a.yml", a, strlen(a), &e), 0);
	CHECK_INT(fieldmap_load_mem(m, "b.yml", b, strlen(b), &e), -EINVAL);
	CHECK(strstr(e.msg, "dataset fw.traffic gets two values of logsource category") != NULL);
	CHECK_INT(fieldmap_count(m), 1);
	CHECK_INT(fieldmap_load_mem(m, "c.yml", c, strlen(c), &e), 0);
	CHECK_INT(fieldmap_logsource(m, "fw.traffic", 10, &cat, &prod, &svc), 1);
	CHECK_STR(cat, "firewall");
	CHECK_STR(prod, "fw");
	CHECK_INT(fieldmap_logsource(m, "fw.system", 9, &cat, &prod, &svc), 1);
	CHECK(cat == NULL);
	CHECK_INT(fieldmap_load_mem(m, "d.yml", d, strlen(d), &e), -EINVAL);
	CHECK(strstr(e.msg, "d.yml:1: logsource category=firewall is already mapped by a.yml:1"));
	fieldmap_free(m);
}

static void test_alloc_failures(void)
{
	int ok = 0;

	for (long n = 0; n < 4000 && !ok; n++) {
		struct fieldmap *m = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = fieldmap_new(&m);
		if (rc == 0) {
			rc = fieldmap_load_bundled(m, &e);
			if (rc == 0)
				rc = fieldmap_resolve(m, NULL, "azure", "signinlogs", "properties.x1",
						      &e) ? 0 : -ENOMEM;
		}
		mem_fail_after(-1);
		t_check(rc == 0 || rc == -ENOMEM, __FILE__, __LINE__, "n %ld: %d %s", n, rc, e.msg);
		ok = rc == 0;
		if (rc == 0)
			CHECK_INT(fieldmap_count(m), fieldmap_bundled_count);
		fieldmap_free(m);
	}
	CHECK(ok);
}

static void on_change(void *ctx, const char *key, bool live, const char *was, const char *now)
{
	char *out = ctx;

	snprintf(out, 512, "%s %d [%s] [%s]", key, live, was, now);
}

/* An event's logsource: its data set's, or its source's configured one. */
static void test_event_logsource(void)
{
	struct fieldmap *m = bundled();
	const struct config_logsource over = { (char *)"app", NULL, (char *)"m365",
					       (char *)"audit", 1 };
	const char *c, *p, *s;

	CHECK_INT(t_decode("squid", "1773543000.123 250 192.0.2.10 TCP_MISS/200 5120 GET "
			   "http://a.example/ - HIER_DIRECT/198.51.100.7 text/html", 0, NULL), 0);
	CHECK_INT(fieldmap_event_logsource(m, &t_ev, NULL, &c, &p, &s), 1);
	CHECK(c && !strcmp(c, "proxy") && !p && !s);
	CHECK_INT(fieldmap_event_logsource(m, &t_ev, &over, &c, &p, &s), 1);
	CHECK(!c && !strcmp(p, "m365") && !strcmp(s, "audit"));
	CHECK_INT(t_decode("rfc5424", "<13>1 2026-03-15T02:00:00Z h a - - - x", 0, NULL), 0);
	CHECK_INT(fieldmap_event_logsource(m, &t_ev, NULL, &c, &p, &s), 0); /* syslog */
	CHECK(!c && !p && !s);
	event_clear(&t_ev);
	CHECK_INT(fieldmap_event_logsource(m, &t_ev, NULL, &c, &p, &s), 0); /* no dataset */
	fieldmap_free(m);
}

/* The per-source override (config logsources:) and its reload. */
static void test_config_logsources(void)
{
	static const char text[] = "logsources:\n"
				   "  app-audit: {product: m365, service: audit}\n"
				   "  fw-east: {category: firewall}\n";
	struct config a, b;
	struct err e = ERR_INIT;
	const struct config_logsource *l;
	char change[512] = "";

	CHECK_INT(config_load_mem(&a, text, strlen(text), "t.yaml", &e), 0);
	CHECK_INT(a.n_logsources, 2);
	l = config_logsource(&a, "app-audit");
	CHECK(l && !l->category && !strcmp(l->product, "m365") && !strcmp(l->service, "audit"));
	CHECK_INT(l ? l->line : 0, 2);
	l = config_logsource(&a, "fw-east");
	CHECK(l && !strcmp(l->category, "firewall") && !l->product && !l->service);
	CHECK(config_logsource(&a, "other") == NULL);
	CHECK(config_logsource(&a, NULL) == NULL);
	CHECK_INT(config_load_mem(&b, "logsources: {}\n", 15, "u.yaml", &e), 0);
	CHECK_INT(config_diff(&a, &b, on_change, change), 1);
	CHECK_STR(change, "logsources 1 [app-audit (product=m365 service=audit), fw-east "
		  "(category=firewall)] [(none)]");
	config_release(&a);
	config_release(&b);
	CHECK_INT(config_load_mem(&a, "logsources: {x: {category: Fw}}\n", 31, "t.yaml", &e),
		  -EINVAL);
	CHECK_STR(e.msg, "t.yaml:1: logsources.x.category: expected a lower-case name (a-z, "
		  "0-9, '_', '-', '.'), got 'Fw'");
}

/*
 * The maps meet the decoders: on the public samples (first line of each file), the field
 * that a Sigma name resolves to is one the decoder wrote for that event.
 */
static void test_targets_on_samples(void)
{
	static const struct {
		const char *file, *format, *ls[3], *names;
	} cases[] = {
		{ "azure/signinlogs.ndjson", "azure", { NULL, "azure", "signinlogs" },
		  "ResultType ResultDescription Status location callerIpAddress "
		  "ClientApp conditionalAccessStatus RiskState DeviceDetail.deviceId "
		  "DeviceDetail.operatingSystem properties.appId Username AppDisplayName" },
		{ "azure/auditlogs.ndjson", "azure", { NULL, "azure", "auditlogs" },
		  "OperationName ActivityDisplayName Category LoggedByService Status "
		  "TargetResources.ModifiedProperties.DisplayName TargetResources.ModifiedProperties.NewValue "
		  "targetResources.type properties.result" },
		{ "azure/activitylogs.ndjson", "azure", { NULL, "azure", "activitylogs" },
		  "operationName OperationNameValue CategoryValue ResourceId callerIpAddress" },
		{ "azure/identity-protection-userriskevents.ndjson", "azure",
		  { NULL, "azure", "riskdetection" }, "riskEventType riskLevel riskState" },
		{ "generic/squid-access-native.log", "squid", { "proxy", NULL, NULL },
		  "c-uri cs-method sc-status cs-host src_ip sc-bytes" },
		{ "generic/nginx-access-combined.log", "combined", { "webserver", NULL, NULL },
		  "c-ip cs-method cs-uri-query cs-uri-stem sc-status cs-user-agent cs-version" },
		{ "generic/bind-query.log", "bind", { "dns", NULL, NULL }, "query record_type src_ip" },
		{ "panos/traffic.log", "panos", { "firewall", "panos", NULL },
		  "src_ip src_port dst_ip dst_port action" },
	};
	const char *shared = t_shared_dir();
	struct fieldmap *m;

	if (!shared) {
		t_skip("../shared/data absent: no public samples here");
		return;
	}
	m = bundled();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[4096], names[1024], *save = NULL, *line, *text;
		size_t len;

		snprintf(path, sizeof(path), "%s/samples/%s", shared, cases[i].file);
		if (!(text = t_read_file(path, &len))) {
			t_check(0, __FILE__, __LINE__, "%s: unreadable", path);
			continue;
		}
		line = strtok_r(text, "\n", &save);
		if (t_check(line && t_decode(cases[i].format, line, 0, NULL) == 0, __FILE__,
			    __LINE__, "%s: %s", path, t_ev_err.msg)) {
			snprintf(names, sizeof(names), "%s", cases[i].names);
			for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
				struct err e = ERR_INIT;
				const char *to = fieldmap_resolve(m, cases[i].ls[0], cases[i].ls[1],
								  cases[i].ls[2], n, &e);

				t_check(to && t_nth(to, 0), __FILE__, __LINE__, "%s: %s -> %s: not "
					"in the decoded event %s", cases[i].file, n, to ? to : e.msg,
					t_json());
			}
		}
		free(text);
	}
	fieldmap_free(m);
}

/* ---- every field of the SigmaHQ rules of the mapped logsources ---- */

struct corpus {
	struct fieldmap *m;
	unsigned rules, fields, unsupported, unknown;
	char first_unknown[1024];
};

static const char *scalar_of(struct fy_node *n)
{
	static char buf[256];
	size_t len = 0;
	const char *s;

	if (!n || !fy_node_is_scalar(n) || !(s = fy_node_get_scalar(n, &len)))
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
	return buf;
}

static bool mapped_logsource(const char *c, const char *p)
{
	static const char *const cats[] = { "firewall", "proxy", "webserver", "dns" };

	for (size_t i = 0; c && i < sizeof(cats) / sizeof(cats[0]); i++)
		if (!strcmp(c, cats[i]))
			return true;
	return p && (!strcmp(p, "azure") || !strcmp(p, "m365"));
}

static void check_name(struct corpus *co, const char *ls[3], const char *key, const char *file)
{
	struct err e = ERR_INIT;
	char name[256];
	size_t n = strcspn(key, "|");

	if (!n) /* keywords with modifiers ('|all') */
		return;
	snprintf(name, sizeof(name), "%.*s", (int)n, key);
	co->fields++;
	if (fieldmap_resolve(co->m, ls[0], ls[1], ls[2], name, &e))
		return;
	if (strstr(e.msg, "has no counterpart")) {
		co->unsupported++;
		return;
	}
	if (!co->unknown++)
		snprintf(co->first_unknown, sizeof(co->first_unknown), "%.400s: %s", file, e.msg);
}

/* The field names of a search identifier: a map, or a list of maps (keywords have none). */
static void walk_search(struct corpus *co, const char *ls[3], struct fy_node *n, const char *file)
{
	struct fy_node_pair *p;
	struct fy_node *item;
	void *it = NULL;

	if (fy_node_is_mapping(n)) {
		while ((p = fy_node_mapping_iterate(n, &it))) {
			const char *k = scalar_of(fy_node_pair_key(p));

			if (k)
				check_name(co, ls, k, file);
		}
	} else if (fy_node_is_sequence(n)) {
		while ((item = fy_node_sequence_iterate(n, &it)))
			if (fy_node_is_mapping(item))
				walk_search(co, ls, item, file);
	}
}

static void check_rule(struct corpus *co, struct fy_node *root, const char *file)
{
	struct fy_node *lsn = fy_node_mapping_lookup_by_string(root, "logsource", 9);
	struct fy_node *det = fy_node_mapping_lookup_by_string(root, "detection", 9);
	static const char *const keys[3] = { "category", "product", "service" };
	char vals[3][64];
	const char *ls[3] = { NULL, NULL, NULL };
	struct fy_node_pair *p;
	void *it = NULL;

	if (!lsn || !det || !fy_node_is_mapping(lsn) || !fy_node_is_mapping(det))
		return;
	for (int k = 0; k < 3; k++) {
		const char *v = scalar_of(fy_node_mapping_lookup_by_string(lsn, keys[k], strlen(keys[k])));

		if (v) {
			snprintf(vals[k], sizeof(vals[k]), "%s", v);
			ls[k] = vals[k];
		}
	}
	if (!mapped_logsource(ls[0], ls[1]))
		return;
	co->rules++;
	while ((p = fy_node_mapping_iterate(det, &it))) {
		const char *k = scalar_of(fy_node_pair_key(p));

		if (k && strcmp(k, "condition"))
			walk_search(co, ls, fy_node_pair_value(p), file);
	}
}

static void walk_dir(struct corpus *co, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "unsupported") ||
		    !strcmp(de->d_name, "deprecated"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk_dir(co, path);
		} else if (n > 4 && !strcmp(de->d_name + n - 4, ".yml")) {
			struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET };
			struct fy_parser *fyp = fy_parser_create(&cfg);
			struct fy_document *doc;

			if (!fyp || fy_parser_set_input_file(fyp, path) < 0) {
				fy_parser_destroy(fyp);
				continue;
			}
			while ((doc = fy_parse_load_document(fyp))) {
				struct fy_node *root = fy_document_root(doc);

				if (root && fy_node_is_mapping(root))
					check_rule(co, root, path);
				fy_parse_document_destroy(fyp, doc);
			}
			fy_parser_destroy(fyp);
		}
	}
	closedir(d);
}

static void test_sigma_corpus(void)
{
	const char *shared = t_shared_dir();
	struct corpus co = { 0 };
	char dir[4096];

	if (!shared) {
		t_skip("../shared/data absent: the SigmaHQ corpus is not here");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/sigma", shared);
	co.m = bundled();
	walk_dir(&co, dir);
	printf("# %u rules of mapped logsources, %u field names: %u unsupported, %u unknown\n",
	       co.rules, co.fields, co.unsupported, co.unknown);
	CHECK(co.rules > 200);
	t_check(co.unknown == 0, __FILE__, __LINE__, "%u names unknown, first %s", co.unknown,
		co.first_unknown);
	fieldmap_free(co.m);
}

int main(void)
{
	T_RUN(test_bundled_load);
	T_RUN(test_dir_load);
	T_RUN(test_resolve);
	T_RUN(test_decoder_logsources);
	T_RUN(test_logsource_lookup);
	T_RUN(test_errors);
	T_RUN(test_clashes);
	T_RUN(test_alloc_failures);
	T_RUN(test_event_logsource);
	T_RUN(test_config_logsources);
	T_RUN(test_targets_on_samples);
	T_RUN(test_sigma_corpus);
	return t_done();
}
