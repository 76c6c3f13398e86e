/*
 * Unit tests of core/ipaddr: the endpoint parser and formatter, CIDR prefixes, loopback
 * and wildcard tests.
 */
#include "core/ipaddr.h"
#include "core/err.h"
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static void test_parse_address(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct err e = ERR_INIT;
	unsigned len = 0;

	CHECK_INT(ipaddr_parse_endpoint("127.0.0.1:5514", &ss, &len, &e), 0);
	CHECK_INT(ss.ss_family, AF_INET);
	CHECK_INT(len, sizeof(struct sockaddr_in));
	CHECK_INT(ntohs(sin->sin_port), 5514);
	CHECK_INT(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(ipaddr_parse_endpoint("localhost:0", &ss, &len, &e), 0);
	CHECK_INT(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(ntohs(sin->sin_port), 0);
	CHECK_INT(ipaddr_parse_endpoint("0.0.0.0:65535", &ss, &len, &e), 0);
	CHECK_INT(ntohs(sin->sin_port), 65535);
	CHECK_INT(ipaddr_parse_endpoint("[::1]:514", &ss, &len, &e), 0);
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	CHECK_INT(ntohs(sin6->sin6_port), 514);
	CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	CHECK_INT(ipaddr_parse_endpoint("[::]:6514", &ss, &len, &e), 0);
	CHECK(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	CHECK_INT(ipaddr_parse_endpoint("[::ffff:10.0.0.1]:1", &ss, &len, &e), 0);

	CHECK_INT(ipaddr_parse_endpoint("", &ss, &len, &e), -EINVAL);
	CHECK(!strncmp(e.msg, "empty address", 13));
	CHECK_INT(ipaddr_parse_endpoint("127.0.0.1", &ss, &len, &e), -EINVAL);
	CHECK_STR(e.msg, "address '127.0.0.1' has no port (expected HOST:PORT with HOST an IPv4 "
		  "address or localhost, or [IPV6]:PORT)");
	CHECK_INT(ipaddr_parse_endpoint("127.0.0.1:", &ss, &len, &e), -EINVAL);
	CHECK_STR(e.msg, "address '127.0.0.1:': port must be a number from 0 to 65535");
	CHECK_INT(ipaddr_parse_endpoint("127.0.0.1:-1", &ss, &len, &e), -EINVAL);
	CHECK_INT(ipaddr_parse_endpoint("127.0.0.1:+80", &ss, &len, &e), -EINVAL);
	CHECK_INT(ipaddr_parse_endpoint("127.0.0.1:100000", &ss, &len, &e), -EINVAL);
	CHECK_INT(ipaddr_parse_endpoint(":514", &ss, &len, &e), -EINVAL);
	CHECK(strstr(e.msg, "missing or overlong host") != NULL);
	CHECK_INT(ipaddr_parse_endpoint("256.0.0.1:514", &ss, &len, &e), -EINVAL);
	CHECK_STR(e.msg, "address '256.0.0.1:514': '256.0.0.1' is not an IPv4 address (host names "
		  "other than localhost are not resolved)");
	CHECK_INT(ipaddr_parse_endpoint("10.1:514", &ss, &len, &e), -EINVAL);
	CHECK_INT(ipaddr_parse_endpoint("::1:514", &ss, &len, &e), -EINVAL);
	CHECK_STR(e.msg, "address '::1:514': an IPv6 address needs brackets, as in [::1]:514");
	CHECK_INT(ipaddr_parse_endpoint("[::1:514", &ss, &len, &e), -EINVAL);
	CHECK_STR(e.msg, "address '[::1:514': expected [IPV6]:PORT");
	CHECK_INT(ipaddr_parse_endpoint("[]:514", &ss, &len, &e), -EINVAL);
	CHECK_INT(ipaddr_parse_endpoint("[::g]:514", &ss, &len, &e), -EINVAL);
	CHECK_STR(e.msg, "address '[::g]:514': '::g' is not an IPv6 address");
	CHECK_INT(ipaddr_parse_endpoint("[127.0.0.1]:514", &ss, &len, &e), -EINVAL);
	CHECK_INT(ipaddr_parse_endpoint("[::1]514", &ss, &len, &e), -EINVAL);
}

static void endpoint_round_trip(const char *text)
{
	struct sockaddr_storage ss;
	char out[IPADDR_ENDPOINT_STRLEN];
	unsigned len;

	CHECK_INT(ipaddr_parse_endpoint(text, &ss, &len, NULL), 0);
	CHECK_INT(ipaddr_format_sockaddr((struct sockaddr *)&ss, out), 0);
	CHECK_STR(out, text);
}

static void test_format_endpoint(void)
{
	char out[IPADDR_ENDPOINT_STRLEN];
	struct sockaddr_un_like { sa_family_t family; char path[32]; } other = { AF_UNIX, "" };
	struct ipaddr ip;

	endpoint_round_trip("127.0.0.1:5514");
	endpoint_round_trip("0.0.0.0:0");
	endpoint_round_trip("255.255.255.255:65535");
	endpoint_round_trip("[::1]:514");
	endpoint_round_trip("[2001:db8::1]:6514");
	CHECK_INT(ipaddr_parse(&ip, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 39), 0);
	CHECK_INT(ipaddr_format_endpoint(&ip, 65535, out), IPADDR_ENDPOINT_STRLEN - 7);
	CHECK_STR(out, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
	CHECK_INT(ipaddr_parse(&ip, "10.0.0.7", 8), 0);
	CHECK_INT(ipaddr_format_endpoint(&ip, 7, out), 10);
	CHECK_STR(out, "10.0.0.7:7");
	CHECK_INT(ipaddr_format_sockaddr((struct sockaddr *)&other, out), -EAFNOSUPPORT);
	CHECK_STR(out, "?");
}

/* A prefix length is plain decimal: "/08" is refused like "010.0.0.0". */
static void test_cidr_leading_zero(void)
{
	struct ipaddr net;
	unsigned p;

	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/8", 10), 0);
	CHECK_INT(p, 104);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "0.0.0.0/0", 9), 0);
	CHECK_INT(p, 96);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/08", 11), -EINVAL);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/00", 11), -EINVAL);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "2001:db8::/032", 14), -EINVAL);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "010.0.0.0/8", 11), -EINVAL);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/", 9), -EINVAL);
	CHECK_INT(ipaddr_parse_cidr(&net, &p, "10.0.0.0/+8", 11), -EINVAL);
	CHECK_INT(ipaddr_parse(&net, "10.0.0.01", 9), -EINVAL);
}

static void test_loopback_and_any(void)
{
	static const struct { const char *text; bool loopback, any; } cases[] = {
		{ "127.0.0.1", true, false }, { "127.255.0.9", true, false },
		{ "::1", true, false },       { "0.0.0.0", false, true },
		{ "::", false, true },        { "10.0.0.1", false, false },
		{ "::ffff:127.0.0.1", true, false }, { "::2", false, false },
	};
	struct ipaddr ip;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(ipaddr_parse(&ip, cases[i].text, strlen(cases[i].text)), 0);
		t_check(ipaddr_is_loopback(&ip) == cases[i].loopback, __FILE__, __LINE__,
			"%s loopback", cases[i].text);
		t_check(ipaddr_is_any(&ip) == cases[i].any, __FILE__, __LINE__, "%s any",
			cases[i].text);
	}
}

/* ipaddr_parse reads dotted quads itself: it must agree with inet_pton on every text. */
static void check_like_inet_pton(const char *s, size_t len)
{
	char tmp[64];
	struct ipaddr ip;
	uint8_t want[16];
	int rc = ipaddr_parse(&ip, s, len), ok4, ok6;

	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(want, 0, sizeof(want));
	ok4 = inet_pton(AF_INET, tmp, want + 12) == 1;
	if (ok4)
		want[10] = want[11] = 0xff;
	ok6 = !ok4 && inet_pton(AF_INET6, tmp, want) == 1;
	t_check(rc == ((ok4 || ok6) ? 0 : -EINVAL) && (rc < 0 || !memcmp(ip.b, want, 16)),
		__FILE__, __LINE__, "ipaddr_parse(\"%s\") = %d, inet_pton says %d", tmp, rc,
		ok4 || ok6);
}

static void test_parse_like_inet_pton(void)
{
	/* the texts with a NUL inside are given with their full length */
	static const struct {
		const char *s;
		size_t len;
	} nul[] = { { "1.2.3.4\0garbage", 15 }, { "1.2.3.4\0:", 9 }, { "::1\0", 4 } };
	static const char *const texts[] = {
		"0.0.0.0", "255.255.255.255", "10.10.1.20", "1.2.3.4", "256.1.1.1", "1.2.3",
		"1.2.3.4.5", "01.2.3.4", "1.02.3.4", "1.2.3.00", "1.2.3.0", "1..2.3", ".1.2.3",
		"1.2.3.", "1.2.3.4 ", " 1.2.3.4", "1234.1.1.1", "1.2.3.2555", "1.2.3.-1",
		"0x1.2.3.4", "1.2.3.4/24", "::1", "::ffff:1.2.3.4", "2001:db8::5", "a.b.c.d",
		"999.999.999.999", "",
	};
	const char alphabet[] = "0123456789.0125.";
	uint32_t seed = 12345;
	char s[16];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_like_inet_pton(texts[i], strlen(texts[i]));
	for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++)
		check_like_inet_pton(nul[i].s, nul[i].len);
	for (int k = 0; k < 200000; k++) { /* random texts of digits and dots */
		size_t len = 1 + (seed >> 8) % 15;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		check_like_inet_pton(s, len);
	}
}

int main(void)
{
	T_RUN(test_parse_address);
	T_RUN(test_format_endpoint);
	T_RUN(test_cidr_leading_zero);
	T_RUN(test_loopback_and_any);
	T_RUN(test_parse_like_inet_pton);
	return t_done();
}
