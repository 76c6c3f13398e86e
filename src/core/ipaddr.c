#include "core/ipaddr.h"
#include "core/compat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int ipaddr_parse(struct ipaddr *ip, const char *s, size_t len)
{
	char tmp[IPADDR_STRLEN];

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, ip->b + 12) == 1) {
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
	if (len == 0 || len > 3)
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
