/*
 * Unit tests of parse/weblog beyond the golden files: sniffing, vhost forms, the common
 * format, escapes and stamps.
 */
#include "parse/weblog.h"
#include "t.h"
#include "t_event.h"

#include <errno.h>

static void test_sniff(void)
{
	static const char ok[] = "1.2.3.4 - - [25/Oct/2016:14:49:33 +0200] \"GET / HTTP/1.1\" 200 1";
	static const char no_quote[] = "1.2.3.4 - - [25/Oct/2016:14:49:33 +0200] GET / 200 1";
	static const char bad_month[] = "1.2.3.4 - - [25/oct/2016:14:49:33 +0200] \"GET /\" 200 1";

	CHECK(weblog_sniff(ok, strlen(ok)));
	CHECK(!weblog_sniff(no_quote, strlen(no_quote)));
	CHECK(!weblog_sniff(bad_month, strlen(bad_month)));
}

static void test_vhosts_and_stamps(void)
{
	CHECK_INT(t_decode("combined", "[2001:db8::1]:8443 192.0.2.1 - - [15/Mar/2026:03:00:00 "
			   "-0130] \"GET / HTTP/1.1\" 200 5", 0, NULL), 0);
	CHECK_STR(t_str("destination.ip"), "2001:db8::1");
	CHECK_INT(t_int("destination.port", -1), 8443);
	CHECK_INT(t_int("@timestamp", 0), T_EVENT_NOW + 5400 * INT64_C(1000000000));
	CHECK(t_str("user_agent.original") == NULL && t_str("http.request.referrer") == NULL);
	CHECK_INT(t_decode("combined", "2001:db8::1 192.0.2.1 - - [15/Mar/2026:03:00:00 +0000] "
			   "\"GET / HTTP/1.1\" 200 5", 0, NULL), 0);
	CHECK_STR(t_str("destination.ip"), "2001:db8::1"); /* a bare IPv6 vhost: no port in it */
	CHECK(t_int("destination.port", -1) == -1);
	CHECK_INT(t_decode("combined", "192.0.2.1 - - [29/Feb/2026:03:00:00 +0000] \"GET / HTTP/1.1\""
			   " 200 5", 0, NULL), -EINVAL); /* 2026 has no February 29 */
	CHECK_INT(t_decode("combined", "192.0.2.1 - - [15/Mar/2026:03:00:00 +0000] \"GET / HTTP/1.1\""
			   " 200 5 \"-\"", 0, NULL), -EINVAL); /* a referer needs its agent */
	CHECK_STR(t_ev_err.msg, "offset 69: expected \"REFERER\" \"USER-AGENT\" after the size");
	CHECK_INT(t_decode("combined", "192.0.2.1 - - [15/Mar/2026:03:00:00 +0000] \"GET /\\\\ "
			   "HTTP/1.1\" 200 5 \"\" \"\\\"\"", 0, NULL), 0);
	CHECK_STR(t_str("url.original"), "/\\");
	CHECK_STR(t_str("user_agent.original"), "\"");
	CHECK(t_str("http.request.referrer") == NULL);
	CHECK(t_str("weblog.request") == NULL);
}

static void test_x_forwarded_for(void)
{
	CHECK_INT(t_decode("combined", "10.0.0.5 - - [15/Mar/2026:03:00:00 +0000] \"GET / HTTP/1.1\""
			   " 200 5 \"-\" \"curl/8\" \"10.1.2.3, 10.0.0.4\"", 0, NULL), 0);
	CHECK_STR(t_str("weblog.x_forwarded_for"), "10.1.2.3, 10.0.0.4");
	CHECK_STR(t_str("source.ip"), "10.0.0.5");
	CHECK_INT(t_decode("combined", "10.0.0.5 - - [15/Mar/2026:03:00:00 +0000] \"GET / HTTP/1.1\""
			   " 200 5 \"-\" \"curl/8\" \"-\" rt=0.1", 0, NULL), 0);
	CHECK(t_str("weblog.x_forwarded_for") == NULL);
	CHECK_INT(t_decode("combined", "10.0.0.5 - - [15/Mar/2026:03:00:00 +0000] \"GET / HTTP/1.1\""
			   " 200 5 \"-\" \"curl/8\" rt=0.1 \"10.1.2.3\"", 0, NULL), 0);
	CHECK(t_str("weblog.x_forwarded_for") == NULL); /* only right after the agent */
}

int main(void)
{
	T_RUN(test_sniff);
	T_RUN(test_vhosts_and_stamps);
	T_RUN(test_x_forwarded_for);
	return t_done();
}
