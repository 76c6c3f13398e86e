/*
 * fuzz_ipaddr.c - libFuzzer target for core/ipaddr's parsers of untrusted text: the
 * endpoint parser (configured addresses) and the CIDR parser (`source add --cidr`).
 *
 * Every endpoint that parses must format back to text that parses to the same socket
 * address; every CIDR that parses must have a prefix of at most 128 bits and contain its
 * own network address.
 */
#include "core/ipaddr.h"
#include "core/err.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void check_endpoint(const char *text)
{
	struct sockaddr_storage a, b;
	char out[IPADDR_ENDPOINT_STRLEN];
	struct err e = ERR_INIT;
	unsigned la, lb;

	if (ipaddr_parse_endpoint(text, &a, &la, &e) < 0) {
		if (!e.msg[0])
			abort();
		return;
	}
	if (ipaddr_format_sockaddr((struct sockaddr *)&a, out) < 0 ||
	    ipaddr_parse_endpoint(out, &b, &lb, NULL) < 0 || la != lb || memcmp(&a, &b, la))
		abort();
}

static void check_cidr(const char *text, size_t len)
{
	struct ipaddr net;
	unsigned prefix;

	if (ipaddr_parse_cidr(&net, &prefix, text, len) < 0)
		return;
	if (prefix > 128 || !ipaddr_in_prefix(&net, &net, prefix))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

	memcpy(text, data, n);
	text[n] = '\0';
	check_endpoint(text);
	check_cidr((const char *)data, size);
	return 0;
}
