/*
 * Unit tests of parse/dns beyond the golden files: sniffing, BIND stamps in the source's
 * zone, Unbound's ASCII-time file lines and flags.
 */
#include "core/timeutil.h"
#include "parse/dns.h"
#include "t.h"
#include "t_event.h"

#include <errno.h>

static void test_sniff(void)
{
	static const char bind[] = "client 192.0.2.1#53 (a): query: a IN A + (192.0.2.2)";
	static const char bind_other[] = "client 192.0.2.1#53 (a): zone transfer denied";
	static const char unbound[] = "Mar 15 11:00:00 unbound[1:0] info: x";
	static const char not_unbound[] = "Mar 15 11:00:00 h unboundx: info: x";

	CHECK(dns_bind_sniff(bind, strlen(bind)));
	CHECK(!dns_bind_sniff(bind_other, strlen(bind_other)));
	CHECK(dns_unbound_sniff(unbound, strlen(unbound)));
	CHECK(!dns_unbound_sniff(not_unbound, strlen(not_unbound)));
}

static void test_bind(void)
{
	/* print-time stamps are the server's local time: the source's zone (Asia/Tokyo) */
	CHECK_INT(t_decode("bind", "15-Mar-2026 12:00:00 client 192.0.2.1#5300: query: A.Example. "
			   "CH TXT -SDK (192.0.2.2)", 0, NULL), 0);
	CHECK_INT(t_int("@timestamp", 0), T_EVENT_NOW);
	CHECK_STR(t_str("event.timezone"), "Asia/Tokyo");
	CHECK_STR(t_str("dns.question.name"), "A.Example");
	CHECK_STR(t_str("dns.question.class"), "CH");
	CHECK_INT(t_count("dns.header_flags"), 1); /* DO; no RD for '-' */
	CHECK_STR(t_str("dns.header_flags"), "DO");
	CHECK_INT(t_decode("bind", "client 192.0.2.1#5300 (a): query: a IN A +", 0, NULL), 0);
	CHECK(t_str("destination.ip") == NULL); /* no server address: none */
	CHECK_INT(t_decode("bind", "client 192.0.2.1#5300 (a): view x query: a IN A +", 0, NULL),
		  -EINVAL);
	CHECK_STR(t_ev_err.msg, "offset 27: expected 'view NAME:'");
}

static void test_unbound(void)
{
	CHECK_INT(t_decode("unbound", "Mar 15 12:00:00 unbound[77:3] info: 192.0.2.9 a.example. "
			   "TYPE65 IN SERVFAIL 1.5 0 0", 0, NULL), 0);
	CHECK_INT(t_int("@timestamp", 0), T_EVENT_NOW);
	CHECK_INT(t_int("process.pid", -1), 77);
	CHECK_INT(t_int("event.duration", -1), 1500000000);
	CHECK_STR(t_str("dns.question.type"), "TYPE65");
	CHECK_INT(t_int("unbound.from_cache", -1), 0);
	CHECK_INT(t_decode("unbound", "[1773543600] unbound[77:3] info: 192.0.2.9 a.example. A IN "
			   "NOERROR 0.1 2 10", 0, NULL), -EINVAL); /* cache flag 0 or 1 */
	CHECK_INT(t_decode("unbound", "[1773543600] unbound[77:3] error: could not open", 0, NULL),
		  0);
	CHECK_STR(t_str("event.dataset"), "unbound.log");
	CHECK_STR(t_str("log.level"), "error");
	CHECK_STR(t_str("message"), "could not open");
}

int main(void)
{
	T_RUN(test_sniff);
	T_RUN(test_bind);
	T_RUN(test_unbound);
	return t_done();
}
