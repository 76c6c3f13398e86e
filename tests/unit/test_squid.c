/*
 * Unit tests of parse/squid beyond the golden files: what sniff accepts, clients written
 * as names, peers, and the fields of a CONNECT.
 */
#include "parse/squid.h"
#include "parse/logtext.h"
#include "t.h"
#include "t_event.h"

#include <errno.h>

static void test_sniff(void)
{
	static const char *const yes[] = {
		"1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT a:443 - DIRECT/1.2.3.4 -",
		"<14>Mar 15 11:00:00 p squid[1]: 1157689312.049 1 c TCP_HIT/200 1 GET /",
		"115768931.049 1 c TCP_HIT/200 1 GET /",                 /* 9 digits */
		"11576893120.049 1 c TCP_HIT/200 1 GET /",               /* 11 */
		"x 1.2 v3.1 1157689312.049 1 c TCP_HIT/200 1 GET /",     /* after other dots */
	};
	static const char *const no[] = {
		"1157689312.049 5006 10.105.21.199 TCP_MISS 19763",   /* no /STATUS */
		"11576893.049 5006 10.105.21.199 TCP_MISS/200 19763",  /* 8 digits: no epoch */
		"1157689312 5006 10.105.21.199 TCP_MISS/200 19763",    /* no milliseconds */
		"1157689312.049 5006 10.105.21.199 tcp_miss/200 1",    /* code in lower case */
		"115768931201.049 1 c TCP_HIT/200 1 GET /",            /* 12 digits */
		"x1157689312.049 1 c TCP_HIT/200 1 GET /",             /* not a word's start */
		"",
	};
	char far[LOGTEXT_SNIFF_SPAN + 64];
	static const char line[] = "11576893120.049 1 c TCP_HIT/200 1 GET /"; /* 11 digits */

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		t_check(squid_sniff(yes[i], strlen(yes[i])), __FILE__, __LINE__, "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		t_check(!squid_sniff(no[i], strlen(no[i])), __FILE__, __LINE__, "%s", no[i]);
	/* a line starting within the first LOGTEXT_SNIFF_SPAN bytes is found, not one after */
	for (size_t at = LOGTEXT_SNIFF_SPAN - 3; at <= LOGTEXT_SNIFF_SPAN + 1; at++) {
		memset(far, 'x', sizeof(far));
		far[at - 1] = ' ';
		memcpy(far + at, line, sizeof(line) - 1);
		CHECK_INT(squid_sniff(far, at + sizeof(line) - 1), at < LOGTEXT_SNIFF_SPAN);
	}
}

static void test_fields(void)
{
	CHECK_INT(t_decode("squid", "1773543600.000 7 client.corp.example TCP_TUNNEL/200 4096 "
			   "CONNECT [2001:db8::80]:443 bob@CORP.EXAMPLE HIER_DIRECT/2001:db8::80 -",
			   0, NULL), 0);
	CHECK_STR(t_str("source.address"), "client.corp.example");
	CHECK_STR(t_str("source.domain"), "client.corp.example");
	CHECK(t_str("source.ip") == NULL);
	CHECK_STR(t_str("related.hosts"), "client.corp.example");
	CHECK_STR(t_str("url.domain"), "[2001:db8::80]");
	CHECK_INT(t_int("url.port", -1), 443);
	CHECK_STR(t_str("destination.ip"), "2001:db8::80");
	CHECK_STR(t_str("user.name"), "bob@CORP.EXAMPLE");
	CHECK_INT(t_int("@timestamp", 0), T_EVENT_NOW);
	CHECK_INT(t_int("event.duration", -1), 7000000);
	CHECK(t_str("http.response.mime_type") == NULL);
	CHECK_STR(t_str("event.module"), "squid");
	/* the shortest line the format allows: seven fields */
	CHECK_INT(t_decode("squid", "1773543600.000 7 192.0.2.1 TCP_MISS/200 1 GET /", 0, NULL), 0);
	CHECK(t_str("squid.hierarchy_code") == NULL && t_str("user.name") == NULL);
	CHECK_INT(t_decode("squid", "1773543600.000 7 192.0.2.1 TCP_MISS/2000 1 GET /", 0, NULL),
		  -EINVAL);
	CHECK_INT(t_decode("squid", "99999999999999999999.000 7 192.0.2.1 TCP_MISS/200 1 GET /", 0,
			   NULL), -EINVAL);
}

int main(void)
{
	T_RUN(test_sniff);
	T_RUN(test_fields);
	return t_done();
}
