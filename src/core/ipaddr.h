/*
 * ipaddr.h - IPv4 and IPv6 addresses as one 128-bit value.
 *
 * IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) so that one comparison and one
 * prefix test serve both families. Plain values: no allocation, any thread.
 */
#ifndef CORE_IPADDR_H
#define CORE_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct ipaddr {
	uint8_t b[16];
};

#define IPADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Parses a textual address (no brackets, no port); 0 or -EINVAL. */
int ipaddr_parse(struct ipaddr *ip, const char *s, size_t len);
/* From a struct sockaddr_in or sockaddr_in6; the port, when wanted, in *port. */
int ipaddr_from_sockaddr(struct ipaddr *ip, const struct sockaddr *sa, uint16_t *port);
bool ipaddr_is_v4(const struct ipaddr *ip);
/* Writes the canonical text (dotted quad for IPv4) into out[IPADDR_STRLEN]. */
void ipaddr_format(const struct ipaddr *ip, char *out);
/* True when ip lies in net/prefix; prefix counts bits of the 128-bit form. */
bool ipaddr_in_prefix(const struct ipaddr *ip, const struct ipaddr *net, unsigned prefix);
/*
 * Parses "ADDR/LEN" or a bare address into net and a 128-bit prefix length (an IPv4
 * /24 becomes /120). 0 or -EINVAL.
 */
int ipaddr_parse_cidr(struct ipaddr *net, unsigned *prefix, const char *s, size_t len);

#endif
