/*
 * ipaddr.c - addresses as 128-bit values, CIDR prefixes, and the one reader and writer
 * of "ADDRESS:PORT" text.
 */
#include "core/ipaddr.h"
#include "core/compat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/err.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/*
 * A dotted quad as inet_pton(AF_INET) reads it (four decimal parts of 0 to 255, no
 * leading zero, nothing else) without the copy and the library call, which were most of
 * a PAN-OS row's address parsing. False for anything else, which the slow path decides.
 */
static bool parse_v4_fast(struct ipaddr *ip, const char *s, size_t len)
{
	const char *end = s + len;
	uint8_t out[4];

	for (unsigned part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		while (s < end && *s >= '0' && *s <= '9' && digits < 3) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255 || (digits > 1 && s[-(int)digits] == '0'))
			return false;
		out[part] = (uint8_t)v;
		if (part < 3 && (s >= end || *s++ != '.'))
			return false;
	}
	if (s != end)
		return false;
	memcpy(ip->b, v4_mapped, 12);
	memcpy(ip->b + 12, out, 4);
	return true;
}

int ipaddr_parse(struct ipaddr *ip, const char *s, size_t len)
{
	char tmp[IPADDR_STRLEN];

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	if (parse_v4_fast(ip, s, len))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	/* a ':' (IPv6) is never part of a dotted quad: inet_pton(AF_INET) is not asked */
	if (!strchr(tmp, ':') && inet_pton(AF_INET, tmp, ip->b + 12) == 1) {
		memcpy(ip->b, v4_mapped, 12);
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, ip->b) == 1)
		return 0;
	return -EINVAL;
}

int ipaddr_from_sockaddr(struct ipaddr *ip, const struct sockaddr *sa, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(ip->b, v4_mapped, 12);
		memcpy(ip->b + 12, &in->sin_addr, 4);
		if (port)
			*port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(ip->b, &in6->sin6_addr, 16);
		if (port)
			*port = ntohs(in6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool ipaddr_is_v4(const struct ipaddr *ip)
{
	return !memcmp(ip->b, v4_mapped, 12);
}

/* Dotted quad without printf: every event formats its sender's address. */
static void format_v4(const uint8_t *b, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

void ipaddr_format(const struct ipaddr *ip, char *out)
{
	if (ipaddr_is_v4(ip))
		format_v4(ip->b + 12, out);
	else
		inet_ntop(AF_INET6, ip->b, out, IPADDR_STRLEN);
}

bool ipaddr_is_loopback(const struct ipaddr *ip)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (ipaddr_is_v4(ip))
		return ip->b[12] == 127;
	return !memcmp(ip->b, v6_loopback, 16);
}

bool ipaddr_is_any(const struct ipaddr *ip)
{
	static const uint8_t zero[16];

	if (ipaddr_is_v4(ip))
		return !memcmp(ip->b + 12, zero, 4);
	return !memcmp(ip->b, zero, 16);
}

size_t ipaddr_format_endpoint(const struct ipaddr *ip, uint16_t port, char *out)
{
	char digits[8], *d = digits + sizeof(digits);
	bool v6 = !ipaddr_is_v4(ip);
	unsigned v = port;
	size_t n;

	out[0] = '[';
	ipaddr_format(ip, out + v6);
	n = strlen(out);
	if (v6)
		out[n++] = ']';
	out[n++] = ':';
	do {
		*--d = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(out + n, d, (size_t)(digits + sizeof(digits) - d));
	n += (size_t)(digits + sizeof(digits) - d);
	out[n] = '\0';
	return n;
}

int ipaddr_format_sockaddr(const struct sockaddr *sa, char *out)
{
	struct ipaddr ip;
	uint16_t port;

	if (ipaddr_from_sockaddr(&ip, sa, &port) < 0) {
		memcpy(out, "?", 2);
		return -EAFNOSUPPORT;
	}
	ipaddr_format_endpoint(&ip, port, out);
	return 0;
}

bool ipaddr_in_prefix(const struct ipaddr *ip, const struct ipaddr *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (prefix > 128)
		return false;
	if (memcmp(ip->b, net->b, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (ip->b[full] & mask) == (net->b[full] & mask);
	}
	return true;
}

int ipaddr_parse_cidr(struct ipaddr *net, unsigned *prefix, const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned bits = 0, max;

	if (ipaddr_parse(net, s, alen))
		return -EINVAL;
	max = ipaddr_is_v4(net) ? 32 : 128;
	if (!slash) {
		*prefix = 128;
		return 0;
	}
	s = slash + 1;
	len -= alen + 1;
	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		bits = bits * 10 + (unsigned)(s[i] - '0');
	}
	if (bits > max)
		return -EINVAL;
	*prefix = bits + (128 - max);
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

#define ENDPOINT_FORMS "HOST:PORT with HOST an IPv4 address or localhost, or [IPV6]:PORT"

int ipaddr_parse_endpoint(const char *s, struct sockaddr_storage *ss, unsigned *sslen,
			  struct err *e)
{
	const char *colon, *host;
	char text[INET6_ADDRSTRLEN];
	size_t host_len;
	uint16_t port;
	bool v6 = false;

	if (!s || !*s)
		return err_set(e, -EINVAL, "empty address (expected " ENDPOINT_FORMS ")");
	colon = strrchr(s, ':');
	if (!colon)
		return err_set(e, -EINVAL, "address '%.64s' has no port (expected "
			       ENDPOINT_FORMS ")", s);
	host = s;
	host_len = (size_t)(colon - s);
	if (s[0] == '[') {
		if (host_len < 2 || s[host_len - 1] != ']')
			return err_set(e, -EINVAL, "address '%.64s': expected [IPV6]:PORT", s);
		host++;
		host_len -= 2;
		v6 = true;
	} else if (memchr(s, ':', host_len)) {
		return err_set(e, -EINVAL,
			       "address '%.64s': an IPv6 address needs brackets, as in [::1]:514", s);
	}
	if (parse_port(colon + 1, strlen(colon + 1), &port) < 0)
		return err_set(e, -EINVAL, "address '%.64s': port must be a number from 0 to 65535",
			       s);
	if (host_len == 0 || host_len >= sizeof(text))
		return err_set(e, -EINVAL, "address '%.64s': missing or overlong host (expected "
			       ENDPOINT_FORMS ")", s);
	memcpy(text, host, host_len);
	text[host_len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
			return err_set(e, -EINVAL, "address '%.64s': '%s' is not an IPv6 address",
				       s, text);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (!strcmp(text, "localhost"))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, text, &sin->sin_addr) != 1)
			return err_set(e, -EINVAL, "address '%.64s': '%s' is not an IPv4 address "
				       "(host names other than localhost are not resolved)", s, text);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*sslen = sizeof(*sin);
	}
	return 0;
}
