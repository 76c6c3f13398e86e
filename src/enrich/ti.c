/*
 * ti.c - indicator types: recognition of a bare value and the canonical form of each type.
 */
#include "enrich/ti.h"
#include "core/compat.h"

#include <ctype.h>
#include <strings.h>

#include "core/err.h"
#include "core/ipaddr.h"

#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define EMAIL_LOCAL_MAX 64

static const char *const type_names[TI_N_TYPES] = {
	[TI_IP] = "ip", [TI_DOMAIN] = "domain", [TI_URL] = "url", [TI_MD5] = "md5",
	[TI_SHA1] = "sha1", [TI_SHA256] = "sha256", [TI_EMAIL] = "email",
};

const char *ti_type_name(enum ti_type type)
{
	return (unsigned)type < TI_N_TYPES ? type_names[type] : "?";
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && !strncasecmp(name, want, len);
}

int ti_type_parse(const char *name, size_t len, enum ti_type *type)
{
	static const struct { const char *name; enum ti_type type; } aliases[] = {
		{ "ipv4", TI_IP }, { "ipv6", TI_IP }, { "cidr", TI_IP }, { "hostname", TI_DOMAIN },
		{ "sha-1", TI_SHA1 }, { "sha-256", TI_SHA256 }, { "e-mail", TI_EMAIL },
	};

	for (size_t i = 0; i < TI_N_TYPES; i++)
		if (name_is(name, len, type_names[i])) {
			*type = (enum ti_type)i;
			return 0;
		}
	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
		if (name_is(name, len, aliases[i].name)) {
			*type = aliases[i].type;
			return 0;
		}
	return -EINVAL;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Printable ASCII or UTF-8 bytes: no spaces, no control characters. */
static bool is_graph(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

/* ---- domains ---- */

static bool label_byte(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c >= 0x80;
}

/*
 * Checks a domain (without trailing dot) label by label: 1-63 bytes of letters, digits,
 * '-', '_' or non-ASCII (IDN as given), at most 253 bytes. *dots counts the labels' dots.
 */
static int check_domain(const char *s, size_t len, unsigned *dots, struct err *e)
{
	size_t label = 0;

	*dots = 0;
	if (len == 0 || len > DOMAIN_MAX)
		return err_set(e, -EINVAL, "a domain is 1 to %d bytes", DOMAIN_MAX);
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > LABEL_MAX)
				return err_set(e, -EINVAL, "domain labels are 1 to %d bytes", LABEL_MAX);
			if (i < len)
				(*dots)++;
			label = 0;
			continue;
		}
		if (!label_byte((unsigned char)s[i]))
			return err_set(e, -EINVAL, "byte 0x%02x is not allowed in a domain",
				       (unsigned char)s[i]);
		label++;
	}
	return 0;
}

/* Without a trailing dot and a leading "*." (a listed domain matches its sub-domains). */
static void domain_trim(const char **s, size_t *len)
{
	if (*len > 2 && (*s)[0] == '*' && (*s)[1] == '.') {
		*s += 2;
		*len -= 2;
	}
	if (*len > 1 && (*s)[*len - 1] == '.')
		(*len)--;
}

static int norm_domain(const char *s, size_t len, char *out, size_t *out_len, struct err *e)
{
	unsigned dots;
	int rc;

	domain_trim(&s, &len);
	if ((rc = check_domain(s, len, &dots, e)) < 0)
		return rc;
	for (size_t i = 0; i < len; i++)
		out[i] = lower(s[i]);
	*out_len = len;
	return 0;
}

/* ---- addresses and networks ---- */

static void mask_host_bits(struct ipaddr *net, unsigned prefix)
{
	for (unsigned bit = prefix; bit < 128; bit++)
		net->b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
}

static int norm_ip(const char *s, size_t len, char *out, size_t *out_len, struct err *e)
{
	struct ipaddr net;
	unsigned prefix;
	bool v4;

	if (ipaddr_parse_cidr(&net, &prefix, s, len) < 0)
		return err_set(e, -EINVAL, "expected an IPv4 or IPv6 address or ADDRESS/PREFIX");
	v4 = ipaddr_is_v4(&net);
	if (v4 && prefix < 96)
		return err_set(e, -EINVAL, "an IPv4-mapped network needs a prefix of at least 96");
	mask_host_bits(&net, prefix);
	ipaddr_format(&net, out);
	*out_len = strlen(out);
	if (prefix < 128)
		*out_len += (size_t)snprintf(out + *out_len, TI_VALUE_MAX + 1 - *out_len, "/%u",
					     v4 ? prefix - 96 : prefix);
	return 0;
}

/* ---- URLs ---- */

static bool scheme_byte(char c, bool first)
{
	return isalpha((unsigned char)c) || (!first && (isdigit((unsigned char)c) || c == '+' ||
							c == '-' || c == '.'));
}

static unsigned default_port(const char *scheme, size_t len)
{
	static const struct { const char *scheme; unsigned port; } ports[] = {
		{ "http", 80 }, { "https", 443 }, { "ftp", 21 }, { "ws", 80 }, { "wss", 443 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++)
		if (name_is(scheme, len, ports[i].scheme))
			return ports[i].port;
	return 0;
}

/* Appends (s, n) lower-cased or as given at out[*o]; the caller checked the room. */
static void put(char *out, size_t *o, const char *s, size_t n, bool fold)
{
	for (size_t i = 0; i < n; i++)
		out[(*o)++] = fold ? lower(s[i]) : s[i];
}

/* The end of the host in an authority (after any userinfo): past "[v6]", up to ':'. */
static int url_host_end(const char *h, size_t n, size_t *end, struct err *e)
{
	const char *close;

	if (n && h[0] == '[') {
		if (!(close = memchr(h, ']', n)))
			return err_set(e, -EINVAL, "URL host: '[' without ']'");
		*end = (size_t)(close - h) + 1;
	} else {
		const char *colon = memchr(h, ':', n);

		*end = colon ? (size_t)(colon - h) : n;
	}
	if (*end == 0)
		return err_set(e, -EINVAL, "URL without a host");
	if (*end < n && h[*end] != ':')
		return err_set(e, -EINVAL, "URL host: expected ':' after ']'");
	return 0;
}

/* The port text after ':' (may be empty): 0 for none, else 1-65535. */
static int url_port(const char *p, size_t n, unsigned *port, struct err *e)
{
	*port = 0;
	if (n > 5)
		return err_set(e, -EINVAL, "URL port: expected 1 to 65535");
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return err_set(e, -EINVAL, "URL port: expected digits");
		*port = *port * 10 + (unsigned)(p[i] - '0');
	}
	if (n && (*port == 0 || *port > 65535))
		return err_set(e, -EINVAL, "URL port: expected 1 to 65535");
	return 0;
}

static int norm_url(const char *s, size_t len, char *out, size_t *out_len, struct err *e)
{
	size_t sch = 0, at, auth_end, host_end = 0, port_at, o = 0;
	const char *auth, *user_end, *hash;
	unsigned port;
	int rc;

	if (!is_graph(s, len))
		return err_set(e, -EINVAL, "a URL has no spaces or control characters");
	while (sch < len && scheme_byte(s[sch], sch == 0))
		sch++;
	if (sch == 0 || len - sch < 3 || memcmp(s + sch, "://", 3))
		return err_set(e, -EINVAL, "expected SCHEME://HOST... (a URL with its scheme)");
	if ((hash = memchr(s, '#', len)))
		len = (size_t)(hash - s); /* the fragment never reaches the server */
	auth = s + sch + 3;
	for (auth_end = 0; auth + auth_end < s + len && !strchr("/?", auth[auth_end]); auth_end++)
		;
	user_end = memrchr(auth, '@', auth_end);
	at = user_end ? (size_t)(user_end - auth) + 1 : 0;
	if ((rc = url_host_end(auth + at, auth_end - at, &host_end, e)) < 0)
		return rc;
	port_at = at + host_end < auth_end ? at + host_end + 1 : auth_end; /* past ':' */
	if ((rc = url_port(auth + port_at, auth_end - port_at, &port, e)) < 0)
		return rc;
	put(out, &o, s, sch + 3, true);
	put(out, &o, auth, at, false);
	put(out, &o, auth + at, host_end, true);
	if (port && port != default_port(s, sch))
		o += (size_t)snprintf(out + o, 8, ":%u", port);
	if (auth + auth_end == s + len || auth[auth_end] != '/')
		out[o++] = '/';
	put(out, &o, auth + auth_end, (size_t)(s + len - (auth + auth_end)), false);
	out[o] = '\0';
	*out_len = o;
	return 0;
}

/* ---- hashes and e-mail ---- */

static int norm_hash(enum ti_type type, const char *s, size_t len, char *out, size_t *out_len,
		     struct err *e)
{
	size_t want = type == TI_MD5 ? 32 : type == TI_SHA1 ? 40 : 64;

	if (len != want || !is_hex(s, len))
		return err_set(e, -EINVAL, "a %s is %zu hexadecimal digits", ti_type_name(type),
			       want);
	for (size_t i = 0; i < len; i++)
		out[i] = lower(s[i]);
	*out_len = len;
	return 0;
}

static int norm_email(const char *s, size_t len, char *out, size_t *out_len, struct err *e)
{
	const char *at = memrchr(s, '@', len);
	size_t local = at ? (size_t)(at - s) : 0, dlen;
	int rc;

	if (!at || local == 0 || local > EMAIL_LOCAL_MAX || !is_graph(s, local))
		return err_set(e, -EINVAL, "expected LOCAL@DOMAIN (LOCAL 1 to %d bytes)",
			       EMAIL_LOCAL_MAX);
	for (size_t i = 0; i <= local; i++)
		out[i] = lower(s[i]);
	if ((rc = norm_domain(at + 1, len - local - 1, out + local + 1, &dlen, e)) < 0)
		return rc;
	*out_len = local + 1 + dlen;
	return 0;
}

int ti_normalize(enum ti_type type, const char *s, size_t len, char *out, size_t *out_len,
		 struct err *e)
{
	int rc;

	if (len == 0 || len > TI_VALUE_MAX)
		return err_set(e, -EINVAL, "a value is 1 to %d bytes", TI_VALUE_MAX);
	switch (type) {
	case TI_IP: rc = norm_ip(s, len, out, out_len, e); break;
	case TI_DOMAIN: rc = norm_domain(s, len, out, out_len, e); break;
	case TI_URL: rc = norm_url(s, len, out, out_len, e); break;
	case TI_MD5:
	case TI_SHA1:
	case TI_SHA256: rc = norm_hash(type, s, len, out, out_len, e); break;
	case TI_EMAIL: rc = norm_email(s, len, out, out_len, e); break;
	default: return err_set(e, -EINVAL, "unknown indicator type %d", (int)type);
	}
	if (rc == 0 && *out_len > TI_VALUE_MAX)
		return err_set(e, -EINVAL, "the canonical form is over %d bytes", TI_VALUE_MAX);
	if (rc == 0)
		out[*out_len] = '\0';
	return rc;
}

int ti_guess_type(const char *s, size_t len, enum ti_type *type, struct err *e)
{
	struct ipaddr net;
	unsigned prefix, dots;
	const char *d = s;
	size_t dlen = len;

	if (len && len <= TI_VALUE_MAX && memmem(s, len, "://", 3))
		*type = TI_URL;
	else if (len && memchr(s, '@', len))
		*type = TI_EMAIL;
	else if ((len == 32 || len == 40 || len == 64) && is_hex(s, len))
		*type = len == 32 ? TI_MD5 : len == 40 ? TI_SHA1 : TI_SHA256;
	else if (ipaddr_parse_cidr(&net, &prefix, s, len) == 0)
		*type = TI_IP;
	else if (domain_trim(&d, &dlen), check_domain(d, dlen, &dots, NULL) == 0 && dots &&
		 !isdigit((unsigned char)d[dlen - 1]))
		*type = TI_DOMAIN;
	else
		return err_set(e, -EINVAL, "not an IP address or network, domain, URL, MD5, "
			       "SHA-1, SHA-256 or e-mail address");
	return 0;
}
