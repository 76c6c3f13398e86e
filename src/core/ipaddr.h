/*
 * ipaddr.h - IPv4 and IPv6 addresses as one 128-bit value, and the "ADDRESS:PORT" text
 * of listening and peer addresses.
 *
 * IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) so that one comparison and one
 * prefix test serve both families. Endpoints are written "1.2.3.4:514" or "[v6]:514"
 * everywhere (config, logs, events) by ipaddr_format_endpoint(), and read back by
 * ipaddr_parse_endpoint(), the one parser of configured addresses.
 *
 * Plain values: no allocation, any thread.
 */
#ifndef CORE_IPADDR_H
#define CORE_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct sockaddr;
struct sockaddr_storage;

struct ipaddr {
	uint8_t b[16];
};

#define IPADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
/* "[" address "]:" port NUL */
#define IPADDR_ENDPOINT_STRLEN (IPADDR_STRLEN + 8)

/*
 * Parses a textual address (no brackets, no port); 0 or -EINVAL. IPv4 is the dotted
 * quad only: no leading zeros ("010.0.0.1" could be read as octal), no short forms.
 */
int ipaddr_parse(struct ipaddr *ip, const char *s, size_t len);
/* From a struct sockaddr_in or sockaddr_in6; the port, when wanted, in *port. */
int ipaddr_from_sockaddr(struct ipaddr *ip, const struct sockaddr *sa, uint16_t *port);
bool ipaddr_is_v4(const struct ipaddr *ip);
/* 127.0.0.0/8 or ::1. */
bool ipaddr_is_loopback(const struct ipaddr *ip);
/* 0.0.0.0 or ::, the "any address" of a listening socket. */
bool ipaddr_is_any(const struct ipaddr *ip);
/* Writes the canonical text (dotted quad for IPv4) into out[IPADDR_STRLEN]. */
void ipaddr_format(const struct ipaddr *ip, char *out);
/*
 * Writes "1.2.3.4:514" or "[2001:db8::1]:514" into out[IPADDR_ENDPOINT_STRLEN] without
 * printf (called once per event); returns the length.
 */
size_t ipaddr_format_endpoint(const struct ipaddr *ip, uint16_t port, char *out);
/* The same for a sockaddr_in or sockaddr_in6; -EAFNOSUPPORT (out = "?") for others. */
int ipaddr_format_sockaddr(const struct sockaddr *sa, char *out);
/* True when ip lies in net/prefix; prefix counts bits of the 128-bit form. */
bool ipaddr_in_prefix(const struct ipaddr *ip, const struct ipaddr *net, unsigned prefix);
/*
 * Parses "ADDR/LEN" or a bare address into net and a 128-bit prefix length (an IPv4
 * /24 becomes /120). LEN is decimal without leading zeros ("/08" is refused like
 * "010.0.0.0"). 0 or -EINVAL.
 */
int ipaddr_parse_cidr(struct ipaddr *net, unsigned *prefix, const char *s, size_t len);
/*
 * Parses a configured endpoint, "HOST:PORT" with HOST an IPv4 address or localhost, or
 * "[IPV6]:PORT", into a sockaddr (*sslen its size). 0 or -EINVAL with a message naming
 * what was expected. Host names other than localhost are not resolved.
 */
int ipaddr_parse_endpoint(const char *s, struct sockaddr_storage *ss, unsigned *sslen,
			  struct err *e);

#endif
