/*
 * Unit tests of parse/panos: finding the CSV (headers, octet counts, sniffing), the CSV
 * rules (quotes, braces, short and long rows), the column tables of every type, the ECS
 * mapping, times and zones, the failure contract, and the public PAN-OS samples in
 * ../shared/data/samples/panos (skipped with a message when absent).
 */
#include "core/arena.h"
#include "core/compat.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "detect/travel.h"
#include "parse/decoder.h"
#include "parse/panos.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW (1773543600LL * NS_PER_SEC) /* 2026-03-15T03:00:00Z */

static struct arena arena;
static struct event ev;
static struct err err;

static const struct decode_opts *tokyo(void)
{
	static struct decode_opts o;

	o.tz = tz_get("Asia/Tokyo", 10, NULL);
	o.received_ns = NOW;
	return &o;
}

static int decode(const char *line)
{
	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(&err);
	return panos_decode(&ev, line, strlen(line), tokyo(), &err);
}

/* The string value of a field by name, or NULL (copied into a static buffer). */
static const char *str(const char *name)
{
	static char buf[4096];
	int id = field_lookup(name, strlen(name));
	const char *s;
	size_t n;

	if (id < 0 || !event_get_str(&ev, (unsigned)id, &s, &n) || n >= sizeof(buf))
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static long long num(unsigned field)
{
	const struct event_value *v = event_get(&ev, field);

	return v ? (long long)v->v.i : -1;
}

static const char *ip(unsigned field)
{
	static char buf[IPADDR_STRLEN];
	const struct event_value *v = event_get(&ev, field);

	if (!v)
		return NULL;
	ipaddr_format(&v->v.ip, buf);
	return buf;
}

/* Number of values of a multi-valued field. */
static unsigned count(unsigned field)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < ev.n; i++)
		n += ev.vals[i].field == field;
	return n;
}

static int64_t rfc3339(const char *s)
{
	int64_t ns = 0;
	size_t bad;

	time_parse_rfc3339(s, strlen(s), &ns, &bad);
	return ns;
}

#define TRAFFIC_HEAD "1,2026/03/15 11:59:58,012801096514,TRAFFIC,end,2561,2026/03/15 11:59:59,"
/* a 10.x TRAFFIC row up to link_switches (column 69) and a few more */
#define TRAFFIC_ROW                                                                        \
	TRAFFIC_HEAD "10.1.2.3,203.0.113.9,198.51.100.7,203.0.113.9,allow-web,CORP\\tanaka,,ssl," \
		     "vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd,2026/03/15 11:59:59,4242,1,"  \
		     "50123,443,31000,443,0x400053,tcp,allow,7734,1758,5976,36,2026/03/15 "          \
		     "11:50:00,586,computer-and-internet-info,0,99,0x0,10.0.0.0-10.255.255.255,"    \
		     "Japan,0,16,20,tcp-fin,0,0,0,0,,PA-5220,from-policy,,,0,,0,,N/A,0,0,0,0,"      \
		     "8ad0d8a4-1111-4222-8333-944445555666,0,0,,{link1,link2,link3},,,,,"

static void test_sniff(void)
{
	static const char *const yes[] = {
		TRAFFIC_HEAD "x",
		"<14>Mar 15 12:00:00 PA-220 " TRAFFIC_HEAD,
		"<14>Apr  8 01:47:32 " TRAFFIC_HEAD,
		"Mar 15 12:00:00 PA-220 " TRAFFIC_HEAD,
		"<14>1 2026-03-15T03:00:00Z fw - - - - " TRAFFIC_HEAD,
		"<10>1 2022-03-29T22:32:26+00:00 PA-VM - - - - ,2022/03/29*22:32:26,1648,THREAT,"
		"vulnerability,",
		"931201168,2021-10-22T16:10:10.000000Z,no-serial,GLOBALPROTECT,globalprotect,9.1,",
	};
	static const char *const no[] = {
		"<14>Mar 15 12:00:00 host sshd[1]: Accepted password for alice",
		"CEF:0|Palo Alto Networks|PAN-OS|11.1|end|TRAFFIC|1|src=10.0.0.1",
		"1,2026/03/15 11:59:58,serial,traffic,end", /* lower-case type */
		"1,2026/03/15,012801096514,TRAFFIC,end",  /* no time */
		"x1,2026/03/15 11:59:58,012801096514,TRAFFIC,end", /* not after a space */
		"{\"records\":[]}",
		"",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		t_check(panos_sniff(yes[i], strlen(yes[i])), __FILE__, __LINE__, "sniff %s",
			yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		t_check(!panos_sniff(no[i], strlen(no[i])), __FILE__, __LINE__, "!sniff %s",
			no[i]);
	CHECK_STR(decoder_pick(DECODER_AUTO, yes[1], strlen(yes[1]))->name, "panos");
	CHECK_STR(decoder_pick(DECODER_AUTO, no[0], strlen(no[0]))->name, "syslog");
}

static void test_traffic(void)
{
	const char *line = "<14>Mar 15 12:00:00 PA-5220 " TRAFFIC_ROW;

	CHECK_INT(decode(line), 0);
	CHECK_STR(str("event.dataset"), "panos.traffic");
	CHECK_STR(str("event.module"), "panos");
	CHECK_STR(str("event.kind"), "event");
	CHECK_STR(str("event.action"), "allow");
	CHECK_STR(str("event.outcome"), "success");
	CHECK_INT(count(FIELD_EVENT_TYPE), 3); /* connection, end, allowed */
	CHECK_STR(ip(FIELD_SOURCE_IP), "10.1.2.3");
	CHECK_INT(num(FIELD_SOURCE_PORT), 50123);
	CHECK_STR(ip(FIELD_SOURCE_NAT_IP), "198.51.100.7");
	CHECK_INT(num(FIELD_SOURCE_NAT_PORT), 31000);
	CHECK_STR(ip(FIELD_DESTINATION_IP), "203.0.113.9");
	CHECK_INT(num(FIELD_DESTINATION_PORT), 443);
	CHECK_STR(str("source.user.name"), "tanaka");
	CHECK_STR(str("source.user.domain"), "CORP");
	CHECK_STR(str("user.name"), "tanaka");
	CHECK_STR(str("user.domain"), "CORP");
	CHECK_STR(str("panos.srcuser"), "CORP\\tanaka");
	CHECK_INT(count(FIELD_RELATED_USER), 1);
	CHECK_INT(count(FIELD_RELATED_IP), 3); /* src, dst (= natdst), natsrc */
	CHECK_STR(str("rule.name"), "allow-web");
	CHECK_STR(str("rule.uuid"), "8ad0d8a4-1111-4222-8333-944445555666");
	CHECK_STR(str("network.application"), "ssl");
	CHECK_STR(str("network.transport"), "tcp");
	CHECK_STR(str("network.iana_number"), "6");
	CHECK_STR(str("network.type"), "ipv4");
	CHECK_STR(str("observer.ingress.zone"), "trust");
	CHECK_STR(str("observer.egress.interface.name"), "ethernet1/1");
	CHECK_STR(str("observer.hostname"), "PA-5220");
	CHECK_STR(str("observer.serial_number"), "012801096514");
	CHECK_INT(num(FIELD_NETWORK_BYTES), 7734);
	CHECK_INT(num(FIELD_SOURCE_BYTES), 1758);
	CHECK_INT(num(FIELD_DESTINATION_BYTES), 5976);
	CHECK_INT(num(FIELD_NETWORK_PACKETS), 36);
	CHECK_INT(num(FIELD_SOURCE_PACKETS), 16);
	CHECK_INT(num(FIELD_DESTINATION_PACKETS), 20);
	CHECK_INT(num(FIELD_EVENT_SEQUENCE), 99);
	CHECK_STR(str("event.reason"), "tcp-fin");
	CHECK_STR(str("panos.sessionid"), "4242");
	/* device-local times in the source's zone (JST) */
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2026-03-15T02:59:59Z"));
	CHECK_INT(num(FIELD_EVENT_START), rfc3339("2026-03-15T02:50:00Z"));
	CHECK_INT(num(FIELD_EVENT_DURATION), 586 * NS_PER_SEC);
	CHECK_INT(num(FIELD_EVENT_END), rfc3339("2026-03-15T02:59:46Z"));
	CHECK_STR(str("event.timezone"), "Asia/Tokyo");
	CHECK_STR(str("panos.receive_time"), "2026/03/15 11:59:58");
	/* column 5 (2561) is FUTURE_USE: not kept under any name, by position neither */
	CHECK(str("panos.config_version") == NULL);
	CHECK(str("panos.column_5") == NULL);
	CHECK_INT(count(FIELD_EVENT_ORIGINAL), 1);
	/* braces keep their commas: one column, and the next columns stay in place */
	CHECK_STR(str("panos.link_switches"), "{link1,link2,link3}");
	CHECK(str("panos.sdwan_cluster") == NULL);
	/* short row: columns past the end are absent, FUTURE_USE columns are not kept */
	CHECK(str("panos.offloaded") == NULL);
	CHECK(str("panos.high_res_timestamp") == NULL);
	CHECK(str("panos.time_logged") == NULL); /* column 21: FUTURE_USE since PAN-OS 8 */
	CHECK_STR(str("host.name"), "PA-5220");
}

static void test_traffic_deny_and_zero_nat(void)
{
	const char *line = TRAFFIC_HEAD "10.1.2.3,203.0.113.9,0.0.0.0,0.0.0.0,deny-all,,,"
					"not-applicable,vsys1,trust,untrust,ethernet1/2,,fwd,"
					"2026/03/15 11:59:59,0,1,50123,445,0,0,0x0,udp,deny";

	CHECK_INT(decode(line), 0);
	CHECK_STR(str("event.action"), "deny");
	CHECK(event_get(&ev, FIELD_SOURCE_NAT_IP) == NULL);
	CHECK(event_get(&ev, FIELD_SOURCE_NAT_PORT) == NULL);
	CHECK(event_get(&ev, FIELD_DESTINATION_NAT_IP) == NULL);
	CHECK_INT(count(FIELD_RELATED_IP), 2);
	CHECK(event_get(&ev, FIELD_USER_NAME) == NULL);
	CHECK_STR(str("network.iana_number"), "17");
	CHECK_INT(count(FIELD_EVENT_TYPE), 3); /* connection, end, denied */
	CHECK(event_get(&ev, FIELD_NETWORK_BYTES) == NULL); /* the row stops at action */
}

static void test_threat(void)
{
	const char *url =
		"<14>1 2026-03-15T03:00:00.123+00:00 fw1 - - - - 1,2026/03/15 11:59:58,0128,"
		"THREAT,url,2561,2026/03/15 11:59:58,10.1.2.3,203.0.113.9,0.0.0.0,0.0.0.0,r1,"
		"alice@corp.example,,web-browsing,vsys1,trust,untrust,e1,e2,fwd,,5,1,50000,80,0,"
		"0,0x0,tcp,block-url,\"www.example.com/a/b.php?x=1,y=\"\"2\"\"\",(9999),"
		"malware,medium,client-to-server,77,0x0,,,,text/html";
	const char *virus =
		"1,2026/03/15 11:59:58,0128,THREAT,virus,2561,2026/03/15 11:59:58,203.0.113.9,"
		"10.1.2.3,0.0.0.0,0.0.0.0,r1,,,web-browsing,vsys1,untrust,trust,e2,e1,fwd,,5,1,80,"
		"50000,0,0,0x0,tcp,reset-both,\"C:\\Temp\\eicar.com\",Eicar Test File(100000),"
		"any,high,server-to-client,78,0x0,,,,,,"
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

	CHECK_INT(decode(url), 0);
	CHECK_STR(str("event.kind"), "alert");
	CHECK_STR(str("event.dataset"), "panos.threat");
	CHECK_INT(count(FIELD_EVENT_CATEGORY), 3); /* intrusion_detection, network, web */
	CHECK_STR(str("event.action"), "block-url");
	CHECK_STR(str("url.original"), "www.example.com/a/b.php?x=1,y=\"2\"");
	CHECK_STR(str("url.domain"), "www.example.com");
	CHECK_STR(str("url.path"), "/a/b.php");
	CHECK_STR(str("url.query"), "x=1,y=\"2\"");
	CHECK_STR(str("panos.misc"), "www.example.com/a/b.php?x=1,y=\"2\"");
	CHECK_STR(str("panos.threat.id"), "9999");
	CHECK_STR(str("panos.threat.name"), "URL-filtering");
	CHECK_STR(str("event.code"), "9999");
	CHECK_STR(str("log.level"), "medium");
	CHECK_INT(num(FIELD_EVENT_SEVERITY), 3);
	CHECK_STR(ip(FIELD_CLIENT_IP), "10.1.2.3");
	CHECK_STR(ip(FIELD_SERVER_IP), "203.0.113.9");
	CHECK_INT(num(FIELD_SERVER_PORT), 80);
	CHECK_STR(str("user.name"), "alice");
	CHECK_STR(str("user.domain"), "corp.example");
	CHECK_STR(str("panos.contenttype"), "text/html");
	/* no high_res_timestamp: time_generated in JST, not the header's stamp */
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2026-03-15T02:59:58Z"));

	CHECK_INT(decode(virus), 0);
	CHECK_INT(count(FIELD_EVENT_CATEGORY), 3); /* intrusion_detection, network, malware */
	CHECK_STR(str("file.name"), "eicar.com");
	CHECK_STR(str("file.path"), "C:\\Temp\\eicar.com");
	CHECK_STR(str("panos.threat.name"), "Eicar Test File");
	CHECK_STR(str("panos.threat.id"), "100000");
	CHECK_STR(str("file.hash.sha256"),
		  "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f");
	CHECK_INT(count(FIELD_RELATED_HASH), 1);
	CHECK_STR(ip(FIELD_CLIENT_IP), "10.1.2.3"); /* server-to-client: the client is dst */
	CHECK_INT(num(FIELD_CLIENT_PORT), 50000);
	CHECK_INT(num(FIELD_EVENT_SEVERITY), 2);
}

static void test_system_and_high_res(void)
{
	const char *sys = "1,2026/03/15 11:59:58,,SYSTEM,general,2561,2026/03/15 11:59:58,,"
			  "general,,0,0,general,informational,\"Connection closed, source: "
			  "81.2.69.193\",1234,0x0,0,0,0,0,,PA-VM,0,0,"
			  "2026-03-15T11:59:58.440+09:00";
	const char *epoch = "1,2026/03/15 11:59:58,,SYSTEM,general,2561,2026/03/15 11:59:58,,"
			    "general,,0,0,general,critical,x,1,0x0,0,0,0,0,,PA-VM,0,0,"
			    "1970-01-01T01:00:00.000+01:00";

	CHECK_INT(decode(sys), 0);
	CHECK_STR(str("event.dataset"), "panos.system");
	CHECK_STR(str("message"), "Connection closed, source: 81.2.69.193");
	CHECK_STR(str("event.action"), "general");
	CHECK_STR(str("log.level"), "informational");
	CHECK_INT(num(FIELD_EVENT_SEVERITY), 5);
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2026-03-15T02:59:58.44Z"));
	CHECK(event_get(&ev, FIELD_EVENT_TIMEZONE) == NULL); /* the stamp had its offset */
	CHECK(event_get(&ev, FIELD_OBSERVER_SERIAL_NUMBER) == NULL);

	/* a high_res_timestamp of 1970 (GlobalProtect writes one) is ignored */
	CHECK_INT(decode(epoch), 0);
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2026-03-15T02:59:58Z"));
	CHECK_STR(str("event.timezone"), "Asia/Tokyo");
	CHECK_INT(num(FIELD_EVENT_SEVERITY), 1);
}

static void test_config_layouts(void)
{
	const char *doc = "1,2026/03/15 11:59:58,0070,CONFIG,0,2816,2026/03/15 11:59:58,"
			  "192.0.2.5,,delete,CORP\\admin,Web,Succeeded, vsys vsys1 address a1,"
			  "\"a1 { ip-netmask 10.0.0.1; }\",,42,0x0,0,0,0,0,,PA-VM";
	const char *observed = "1,2026/03/15 11:59:58,0070,CONFIG,0,2816,2026/03/15 11:59:58,"
			       "192.0.2.5,,edit,admin,CLI,Failed, vsys vsys1 address a1,"
			       "7286123782408765488,0x0,0,0,0,0,,PA-VM,0,,0,"
			       "2026-03-15T11:59:58.421+09:00,\"a \"\"x, y\"\"\",\"a \"\"z\"\"\"";

	CHECK_INT(decode(doc), 0);
	CHECK_STR(str("event.dataset"), "panos.config");
	CHECK_STR(str("event.action"), "delete");
	CHECK_STR(str("event.outcome"), "success");
	CHECK_STR(str("user.name"), "admin");
	CHECK_STR(str("user.domain"), "CORP");
	CHECK_STR(ip(FIELD_SOURCE_IP), "192.0.2.5");
	CHECK_STR(str("panos.before_change_detail"), "a1 { ip-netmask 10.0.0.1; }");
	CHECK_STR(str("panos.path"), " vsys vsys1 address a1"); /* as the device wrote it */
	CHECK_INT(num(FIELD_EVENT_SEQUENCE), 42);
	CHECK_STR(str("observer.hostname"), "PA-VM");

	CHECK_INT(decode(observed), 0);
	CHECK_STR(str("event.outcome"), "failure");
	CHECK_INT(num(FIELD_EVENT_SEQUENCE), 7286123782408765488LL);
	CHECK_STR(str("panos.seqno"), "7286123782408765488");
	CHECK_STR(str("panos.before_change_detail"), "a \"x, y\"");
	CHECK_STR(str("panos.after_change_detail"), "a \"z\"");
	CHECK_STR(str("observer.hostname"), "PA-VM");
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2026-03-15T02:59:58.421Z"));
}

/*
 * GLOBALPROTECT portal-auth and gateway-auth are authentication (type start on success,
 * info on failure) with user.name and source.ip, which impossible travel reads as a
 * sign-in (here it stops at the missing location, past the category test); any other
 * event id stays network/info and is no sign-in.
 */
static void test_globalprotect_auth(void)
{
	static const struct {
		const char *eventid, *status, *category, *type, *outcome;
		enum travel_read travel;
	} rows[] = {
		{ "gateway-auth", "success", "authentication", "start", "success",
		  TRAVEL_NO_LOCATION },
		{ "portal-auth", "success", "authentication", "start", "success",
		  TRAVEL_NO_LOCATION },
		{ "portal-auth", "failure", "authentication", "info", "failure",
		  TRAVEL_NOT_SIGNIN },
		{ "gateway-auth", "", "authentication", "info", NULL, TRAVEL_NOT_SIGNIN },
		{ "portal-prelogin", "success", "network", "info", "success", TRAVEL_NOT_SIGNIN },
		{ "gateway-setup-ipsec", "success", "network", "info", "success",
		  TRAVEL_NOT_SIGNIN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char line[512];
		struct travel_signin si;

		snprintf(line, sizeof(line),
			 "1,2026/03/15 11:59:58,0131,GLOBALPROTECT,0,2305,2026/03/15 11:59:58,"
			 "vsys1,%s,login,LDAP,,corp\\sato,JP,PC-17,198.51.100.20,,,,,,,,,,,,,%s",
			 rows[i].eventid, rows[i].status);
		CHECK_INT(decode(line), 0);
		CHECK_STR(str("event.category"), rows[i].category);
		CHECK_INT(count(FIELD_EVENT_CATEGORY), 1);
		CHECK_STR(str("event.type"), rows[i].type);
		CHECK_INT(count(FIELD_EVENT_TYPE), 1);
		if (rows[i].outcome)
			CHECK_STR(str("event.outcome"), rows[i].outcome);
		else
			CHECK(!str("event.outcome"));
		CHECK_STR(str("user.name"), "sato");
		CHECK_STR(ip(FIELD_SOURCE_IP), "198.51.100.20");
		CHECK_INT(travel_signin_from_event(&ev, &si), rows[i].travel);
	}
}

static void test_other_types(void)
{
	const char *gp = "1,2026/03/15 11:59:58,0131,GLOBALPROTECT,0,2305,2026/03/15 11:59:58,"
			 "vsys1,gateway-auth,login,LDAP,,corp\\sato,JP,PC-17,198.51.100.20,,"
			 "10.20.30.40,,hid,SER,6.2.1,Windows,\"Windows 11, 64-bit\",1,,,"
			 "\"auth ok\",failure";
	const char *uid = "1,2026/03/15 11:59:58,0131,USERID,login,2561,2026/03/15 11:59:58,"
			  "vsys1,10.9.3.250,suzuki@corp.example,dc1,0,1,2700,0,0,active-directory";
	const char *auth = "1,2026/03/15 11:59:58,0070,AUTHENTICATION,login,2561,"
			   "2026/03/15 11:59:58,vsys1,2001:db8::5,yamada,yamada,obj,policy,1,"
			   "77,vendor,prof,srv,\"Authenticated, MFA\",browser,auth-success";
	const char *hip = "1,2026/03/15 11:59:58,0070,HIPMATCH,0,2561,2026/03/15 11:59:58,"
			  "corp\\ito,vsys1,LAPTOP-9,Windows,10.5.5.5,hip-ok,1,profile";
	const char *dec = "1,2026/03/15 11:59:58,0070,DECRYPTION,0,2561,2026/03/15 11:59:58,"
			  "10.1.2.3,203.0.113.9,10.1.2.3,203.0.113.9,dec-rule,,,ssl,vsys1,t,u,e1,"
			  "e2,,2026/03/15 11:59:58,1,1,50000,443,0,0,0x0,tcp,allow,N/A,,,,,"
			  "uuid-1,Server_Hello,Client_Hello,TLS1.3,ECDHE,AES_256_GCM,SHA384"
			  ",,,,,,,,,,,,,,,,,,,,,www.example.org"; /* SNI: column 63 */
	const char *other = "1,2026/03/15 11:59:58,0070,IPTAG,0,2561,2026/03/15 11:59:58,a,b";

	CHECK_INT(decode(gp), 0);
	CHECK_STR(str("event.dataset"), "panos.globalprotect");
	CHECK_STR(str("event.action"), "gateway-auth");
	CHECK_STR(str("event.outcome"), "failure");
	CHECK_STR(str("source.user.name"), "sato");
	CHECK_STR(ip(FIELD_SOURCE_IP), "198.51.100.20");
	CHECK_STR(str("message"), "auth ok");
	CHECK_STR(str("panos.client_os_ver"), "Windows 11, 64-bit");
	CHECK_INT(count(FIELD_RELATED_IP), 2);

	CHECK_INT(decode(uid), 0);
	CHECK_STR(str("event.dataset"), "panos.userid");
	CHECK_STR(str("event.action"), "login");
	CHECK_STR(ip(FIELD_SOURCE_IP), "10.9.3.250");
	CHECK_STR(str("user.name"), "suzuki");
	CHECK_STR(str("panos.datasource"), "active-directory");

	CHECK_INT(decode(auth), 0);
	CHECK_STR(str("event.dataset"), "panos.authentication");
	CHECK_STR(ip(FIELD_SOURCE_IP), "2001:db8::5");
	CHECK_STR(str("message"), "Authenticated, MFA");
	CHECK_STR(str("event.action"), "auth-success");

	CHECK_INT(decode(hip), 0);
	CHECK_STR(str("event.dataset"), "panos.hipmatch");
	CHECK_STR(str("rule.name"), "hip-ok");
	CHECK_STR(str("user.name"), "ito");

	CHECK_INT(decode(dec), 0);
	CHECK_STR(str("event.dataset"), "panos.decryption");
	CHECK_STR(str("panos.tls_version"), "TLS1.3");
	CHECK_STR(str("destination.domain"), "www.example.org");
	CHECK_STR(str("rule.uuid"), "uuid-1");

	CHECK_INT(decode(other), 0);
	CHECK_STR(str("event.dataset"), "panos.log");
	CHECK_STR(str("panos.type"), "IPTAG");
	CHECK_STR(str("panos.column_7"), "a");
	CHECK_STR(str("panos.column_8"), "b");
}

static void test_headers_and_octet_count(void)
{
	char line[1024];
	const char *body = "<14>1 2026-03-15T03:00:00Z fw9 - - - - " TRAFFIC_HEAD "10.0.0.1";
	const char *s;
	size_t n;

	/* an octet-counted line: the count is removed when it matches */
	snprintf(line, sizeof(line), "%zu %s", strlen(body), body);
	CHECK_INT(decode(line), 0);
	CHECK_STR(str("host.name"), "fw9");
	CHECK_STR(str("log.syslog.version"), "1");
	CHECK(event_get_str(&ev, FIELD_EVENT_ORIGINAL, &s, &n) && n == strlen(line));
	CHECK_STR(ip(FIELD_SOURCE_IP), "10.0.0.1");

	/* a count that does not match is no frame: no header is read, the CSV still is */
	snprintf(line, sizeof(line), "%zu %s", strlen(body) + 5, body);
	CHECK_INT(decode(line), 0);
	CHECK(event_get(&ev, FIELD_HOST_NAME) == NULL);
	CHECK(event_get(&ev, FIELD_LOG_SYSLOG_PRIORITY) == NULL);
	CHECK_STR(str("event.dataset"), "panos.traffic");

	/* BSD without PRI, with host */
	CHECK_INT(decode("Mar 15 12:00:00 PA-220 " TRAFFIC_HEAD "10.0.0.1"), 0);
	CHECK_STR(str("host.name"), "PA-220");
	CHECK(event_get(&ev, FIELD_MESSAGE) == NULL);

	/* BSD without host */
	CHECK_INT(decode("<14>Apr  8 01:47:32 " TRAFFIC_HEAD "10.0.0.1"), 0);
	CHECK(event_get(&ev, FIELD_HOST_NAME) == NULL);
	CHECK_INT(num(FIELD_LOG_SYSLOG_PRIORITY), 14);

	/* the IETF sample's empty first column and '*' between date and time */
	CHECK_INT(decode("<10>1 2022-03-29T22:32:26+00:00 PA-VM - - - - ,2022/03/29*22:32:26,"
			 "1648,THREAT,vulnerability,,2022/03/29*22:32:26,10.0.0.1"),
		  0);
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2022-03-29T13:32:26Z"));
	CHECK_STR(str("panos.time_generated"), "2022/03/29*22:32:26");

	/* Cortex-forwarded GlobalProtect: ISO times with their zone */
	CHECK_INT(decode("931201168,2021-10-22T16:10:10.000000Z,no-serial,GLOBALPROTECT,"
			 "globalprotect,9.1,2021-10-22T16:10:10.000000Z,vsys1"),
		  0);
	CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2021-10-22T16:10:10Z"));
	CHECK(event_get(&ev, FIELD_EVENT_TIMEZONE) == NULL);
}

static void check_failed(const char *line, int code, const char *msg)
{
	const char *s;
	size_t n;

	CHECK_INT(decode(line), code);
	t_check(strstr(err.msg, msg) != NULL, __FILE__, __LINE__, "\"%s\" in \"%s\"", msg,
		err.msg);
	CHECK(event_get_str(&ev, FIELD_EVENT_ORIGINAL, &s, &n) && n == strlen(line));
	CHECK(event_get_str(&ev, FIELD_MESSAGE, &s, &n) && n == strlen(line));
	CHECK_INT(num(FIELD_TIMESTAMP), NOW);
	CHECK_INT(ev.n, 4); /* original, message, created, @timestamp: nothing half-decoded */
}

static void test_errors(void)
{
	char line[4096];
	size_t n;

	check_failed("<14>Mar 15 12:00:00 host sshd[1]: Accepted password", -EINVAL,
		     "offset 34: no PAN-OS log"); /* the payload after the header */
	snprintf(line, sizeof(line), "offset %zu: column 8: quoted value without its closing",
		 strlen(TRAFFIC_HEAD "10.0.0.1,"));
	check_failed(TRAFFIC_HEAD "10.0.0.1,\"unterminated", -EINVAL, line);
	snprintf(line, sizeof(line), "offset %zu: column 8: expected ',' after the closing",
		 strlen(TRAFFIC_HEAD "10.0.0.1,\"x\""));
	check_failed(TRAFFIC_HEAD "10.0.0.1,\"x\"y,z", -EINVAL, line);
	check_failed("<999>Mar 15 12:00:00 " TRAFFIC_HEAD, -EINVAL, "PRI");
	check_failed("1,2026/03/15 11:59:58,x,TRAFFIC,end", -EINVAL,
		     "offset 0: PAN-OS TRAFFIC row of 5 columns (expected at least 7");
	n = (size_t)snprintf(line, sizeof(line), "%s", TRAFFIC_HEAD);
	for (unsigned i = 0; i < PANOS_COLUMNS_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%u,", i % 10);
	check_failed(line, -EINVAL, "more than 256 PAN-OS columns");
}

/* An arena too small for the event: a clean error, never a half-built event. */
static void test_arena_full(void)
{
	struct arena small;
	const char *line = TRAFFIC_ROW;
	struct err e = ERR_INIT;
	int rc;

	arena_init(&small, 1024, 2048);
	event_init(&ev, &small);
	rc = panos_decode(&ev, line, strlen(line), tokyo(), &e);
	CHECK(rc == -ENOMEM || rc == -ENOSPC);
	CHECK(strstr(e.msg, "cannot build the event") != NULL);
	arena_release(&small);
}

/* Every column name of a full TRAFFIC and THREAT row lands where the documentation says. */
static void test_full_rows(void)
{
	char line[4096];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s", TRAFFIC_HEAD);

	for (unsigned i = 7; i < 117; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "c%u%s", i, i < 116 ? "," : "");
	CHECK_INT(decode(line), 0);
	CHECK_STR(str("panos.src"), "c7");
	CHECK_STR(str("panos.session_end_reason"), "c46");
	CHECK_STR(str("panos.device_name"), "c52");
	CHECK_STR(str("panos.link_switches"), "c69");
	CHECK_STR(str("panos.high_res_timestamp"), "c102");
	CHECK_STR(str("panos.offloaded"), "c114");
	CHECK_STR(str("panos.column_115"), "c115"); /* newer than the table: by position */
	CHECK_STR(str("panos.column_116"), "c116");

	n = (size_t)snprintf(line, sizeof(line), "%s",
			     "1,2026/03/15 11:59:58,0128,THREAT,spyware,2561,2026/03/15 11:59:58,");
	for (unsigned i = 7; i < 121; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "c%u%s", i, i < 120 ? "," : "");
	CHECK_INT(decode(line), 0);
	CHECK_STR(str("panos.misc"), "c31");
	CHECK_STR(str("panos.reportid"), "c53");
	CHECK_STR(str("panos.device_name"), "c59");
	CHECK_STR(str("panos.thr_category"), "c69");
	CHECK_STR(str("panos.high_res_timestamp"), "c107");
	CHECK_STR(str("panos.sanctioned_state_of_app"), "c119");
	CHECK_STR(str("panos.cloud_reportid"), "c120");
}

/* The public samples: every line decodes, with the key fields the files show. */
static void test_shared_samples(void)
{
	static const struct {
		const char *file;
		unsigned lines;
		const char *dataset;
	} files[] = {
		{ "traffic.log", 4, "panos.traffic" },
		{ "threat-url.log", 2, "panos.threat" },
		{ "threat-vuln-wildfire-spyware.log", 5, "panos.threat" },
		{ "threat-ietf-octet-counted.log", 1, "panos.threat" },
		{ "system.log", 2, "panos.system" },
		{ "config.log", 3, "panos.config" },
		{ "globalprotect.log", 3, "panos.globalprotect" },
		{ "userid.log", 2, "panos.userid" },
		{ "authentication.log", 1, "panos.authentication" },
		{ "decryption.log", 1, "panos.decryption" },
	};
	char path[1024];

	if (!t_shared_dir()) {
		t_skip("../shared/data is absent: the PAN-OS samples were not decoded");
		return;
	}
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		char *text, *p, *nl;
		unsigned lines = 0;

		snprintf(path, sizeof(path), "%s/samples/panos/%s", t_shared_dir(), files[f].file);
		if (!(text = t_read_file(path, &len))) {
			t_check(0, __FILE__, __LINE__, "cannot read %s", path);
			continue;
		}
		for (p = text; p < text + len; p = nl + 1) {
			if (!(nl = memchr(p, '\n', (size_t)(text + len - p))))
				nl = text + len;
			if (nl == p)
				continue;
			*nl = '\0';
			lines++;
			t_check(decode(p) == 0, __FILE__, __LINE__, "%s:%u: %s", files[f].file,
				lines, err.msg);
			t_check(str("event.dataset") && !strcmp(str("event.dataset"),
								 files[f].dataset),
				__FILE__, __LINE__, "%s:%u: dataset", files[f].file, lines);
		}
		t_check(lines == files[f].lines, __FILE__, __LINE__, "%s: %u lines",
			files[f].file, lines);
		free(text);
	}
	/* key fields, checked against the files by hand */
	snprintf(path, sizeof(path), "%s/samples/panos/threat-ietf-octet-counted.log",
		 t_shared_dir());
	{
		size_t len;
		char *text = t_read_file(path, &len);

		if (text && len && text[len - 1] == '\n')
			text[len - 1] = '\0';
		CHECK(text && decode(text) == 0);
		CHECK_STR(str("panos.threat.name"),
			  "Realtek Jungle SDK Remote Code Execution Vulnerability");
		CHECK_STR(str("panos.threat.id"), "91535");
		CHECK_STR(str("log.level"), "critical");
		CHECK_STR(str("event.action"), "drop");
		CHECK_STR(str("panos.thr_category"), "code-execution");
		CHECK_INT(num(FIELD_TIMESTAMP), rfc3339("2022-03-29T22:32:26.467Z"));
		free(text);
	}
}

int main(void)
{
	arena_init(&arena, 64 * 1024, 4 << 20);
	T_RUN(test_sniff);
	T_RUN(test_traffic);
	T_RUN(test_traffic_deny_and_zero_nat);
	T_RUN(test_threat);
	T_RUN(test_system_and_high_res);
	T_RUN(test_config_layouts);
	T_RUN(test_other_types);
	T_RUN(test_globalprotect_auth);
	T_RUN(test_headers_and_octet_count);
	T_RUN(test_errors);
	T_RUN(test_arena_full);
	T_RUN(test_full_rows);
	T_RUN(test_shared_samples);
	arena_release(&arena);
	return t_done();
}
