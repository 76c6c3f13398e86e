/*
 * logtext.c - tokens, numbers, payloads and the shared ECS setters of the server decoders.
 */
#include "parse/logtext.h"
#include "core/compat.h"
#include "core/err.h"
#include "core/event.h"
#include "core/ipaddr.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/syslog.h"

void logtext_cur_init(struct logtext_cur *c, const char *p, size_t len)
{
	c->start = c->p = p;
	c->end = p + len;
}

size_t logtext_off(const struct logtext_cur *c)
{
	return (size_t)(c->p - c->start);
}

bool logtext_skip_spaces(struct logtext_cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
	return c->p < c->end;
}

bool logtext_token(struct logtext_cur *c, struct logtext_span *t)
{
	const char *sp;

	if (!logtext_skip_spaces(c))
		return false;
	sp = memchr(c->p, ' ', (size_t)(c->end - c->p));
	t->p = c->p;
	t->len = sp ? (size_t)(sp - c->p) : (size_t)(c->end - c->p);
	c->p += t->len;
	return true;
}

bool logtext_eat(struct logtext_cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return false;
	c->p += n;
	return true;
}

bool logtext_is(struct logtext_span s, const char *lit)
{
	return s.len == strlen(lit) && !memcmp(s.p, lit, s.len);
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

bool logtext_digits(const char *p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

bool logtext_uint(struct logtext_span s, int64_t *out)
{
	int64_t v = 0;

	if (s.len == 0 || s.len > 18)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (!is_digit(s.p[i]))
			return false;
		v = v * 10 + (s.p[i] - '0');
	}
	*out = v;
	return true;
}

bool logtext_decimal_ns(struct logtext_span s, int64_t unit_ns, int64_t *out)
{
	const char *dot = s.len ? memchr(s.p, '.', s.len) : NULL;
	struct logtext_span whole = { s.p, dot ? (size_t)(dot - s.p) : s.len };
	int64_t w, frac = 0, scale = unit_ns;
	size_t nf = dot ? s.len - whole.len - 1 : 0;

	if (!logtext_uint(whole, &w) || (dot && (nf == 0 || nf > 9)) ||
	    w > INT64_MAX / unit_ns)
		return false;
	for (size_t i = 0; i < nf; i++) {
		char ch = dot[1 + i];

		if (!is_digit(ch))
			return false;
		scale /= 10;
		frac += (ch - '0') * scale; /* digits below the unit's resolution add 0 */
	}
	*out = w * unit_ns + frac;
	return *out >= w * unit_ns;
}

/* ---- payload and failure ---- */

int logtext_month(const char *p)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int m = 0; m < 12; m++)
		if (!memcmp(names + 3 * m, p, 3))
			return m + 1;
	return 0;
}

/* "Mmm dd hh:mm:ss " or "Mmm  d hh:mm:ss " at the start of msg. */
static bool starts_bsd_stamp(const char *m, size_t len)
{
	return len >= 16 && logtext_month(m) && m[3] == ' ' && (m[4] == ' ' || is_digit(m[4])) &&
	       is_digit(m[5]) && m[6] == ' ' && is_digit(m[7]) && is_digit(m[8]) &&
	       m[9] == ':' && is_digit(m[10]) && is_digit(m[11]) && m[12] == ':' &&
	       is_digit(m[13]) && is_digit(m[14]) && m[15] == ' ';
}

int logtext_payload(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		    struct logtext_span *payload, struct err *e)
{
	struct syslog_opts so = { SYSLOG_RFC3164, o->tz, o->received_ns, o->tenant,
				  o->tenant_gen };
	const struct event_value *m;
	const char *p;
	size_t n;
	int rc;

	if (!starts_bsd_stamp(msg, len)) {
		rc = decoder_syslog_payload(ev, msg, len, o, &p, &n, e);
		payload->p = p;
		payload->len = n;
		return rc;
	}
	payload->p = msg;
	payload->len = len;
	if ((rc = syslog_parse(ev, msg, len, &so, e)) < 0)
		return rc;
	/* the header parser sets message last: the payload is decoded instead */
	if ((m = event_get(ev, FIELD_MESSAGE))) {
		payload->p = m->v.s;
		payload->len = m->len;
		if (m == &ev->vals[ev->n - 1])
			event_truncate(ev, ev->n - 1);
	} else {
		payload->len = 0;
	}
	return 0;
}

int logtext_set_failed(int rc, struct err *e)
{
	return err_set(e, rc == -ENOSPC ? -ENOSPC : -ENOMEM,
		       rc == -ENOSPC ? "too many fields in one event" : "out of memory");
}

int logtext_fail(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 int rc, struct err *e)
{
	int set;

	event_truncate(ev, 0);
	if ((set = event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, len)) < 0 ||
	    (set = event_set_time(ev, FIELD_EVENT_CREATED, o->received_ns)) < 0 ||
	    (set = event_set_time(ev, FIELD_TIMESTAMP, o->received_ns)) < 0 ||
	    (len && (set = event_set_str(ev, FIELD_MESSAGE, msg, len)) < 0))
		return logtext_set_failed(set, e);
	return rc;
}

int logtext_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		   logtext_body_fn body, struct err *e)
{
	struct logtext_span payload;
	int rc;

	if ((rc = logtext_payload(ev, msg, len, o, &payload, e)) < 0)
		return rc;
	if ((rc = body(ev, msg, payload, o, e)) < 0)
		return logtext_fail(ev, msg, len, o, rc, e);
	return 0;
}

/* Where first is, rather than every word start: walking the words was most of a sniff. */
bool logtext_sniff(const char *msg, size_t len, char first,
		   bool (*at)(const char *p, size_t n))
{
	const char *p = msg, *end = msg + MIN(len, LOGTEXT_SNIFF_SPAN);

	for (; p < end && (p = memchr(p, first, (size_t)(end - p))); p++)
		if ((p == msg || p[-1] == ' ') && at(p, len - (size_t)(p - msg)))
			return true;
	return false;
}

/* ---- setters ---- */

int logtext_set(struct event *ev, unsigned field, struct logtext_span s)
{
	if (!s.len || (s.len == 1 && s.p[0] == '-'))
		return 0;
	return event_set_str(ev, field, s.p, s.len);
}

int logtext_set_lit(struct event *ev, unsigned field, const char *lit)
{
	return event_set_str(ev, field, lit, strlen(lit));
}

int logtext_add_lit(struct event *ev, unsigned field, const char *lit)
{
	return event_add_str(ev, field, lit, strlen(lit));
}

const struct logtext_end logtext_source = { FIELD_SOURCE_ADDRESS, FIELD_SOURCE_IP,
					    FIELD_SOURCE_DOMAIN, FIELD_SOURCE_PORT };
const struct logtext_end logtext_destination = { FIELD_DESTINATION_ADDRESS,
						 FIELD_DESTINATION_IP,
						 FIELD_DESTINATION_DOMAIN,
						 FIELD_DESTINATION_PORT };
const struct logtext_end logtext_client = { FIELD_CLIENT_ADDRESS, FIELD_CLIENT_IP, 0,
					    FIELD_CLIENT_PORT };
const struct logtext_end logtext_server = { FIELD_SERVER_ADDRESS, FIELD_SERVER_IP, 0,
					    FIELD_SERVER_PORT };

int logtext_set_ip(struct event *ev, unsigned field, struct logtext_span s)
{
	struct logtext_span bare = s;
	struct ipaddr ip;
	int rc;

	if (s.len > 2 && s.p[0] == '[' && s.p[s.len - 1] == ']') {
		bare.p++;
		bare.len -= 2;
	}
	if (!bare.len || ipaddr_parse(&ip, bare.p, bare.len) < 0)
		return -EINVAL;
	if ((rc = event_set_ip(ev, field, &ip)) < 0)
		return rc;
	return event_add_ip_once(ev, FIELD_RELATED_IP, &ip);
}

int logtext_set_end(struct event *ev, const struct logtext_end *end, struct logtext_span s)
{
	int rc;

	if (!s.len || (s.len == 1 && s.p[0] == '-'))
		return 0;
	if ((rc = event_set_str(ev, end->address, s.p, s.len)) < 0)
		return rc;
	rc = logtext_set_ip(ev, end->ip, s);
	if (rc != -EINVAL)
		return rc;
	if (!end->domain)
		return 0;
	if ((rc = event_set_str(ev, end->domain, s.p, s.len)) < 0)
		return rc;
	return event_add_str_once(ev, FIELD_RELATED_HOSTS, s.p, s.len);
}

int logtext_set_user(struct event *ev, struct logtext_span s, bool source_user)
{
	const char *bs;
	struct logtext_span name = s, domain = { NULL, 0 };
	int rc;

	if (!s.len || (s.len == 1 && s.p[0] == '-'))
		return 0;
	if ((bs = memchr(s.p, '\\', s.len)) && bs > s.p && bs + 1 < s.p + s.len) {
		domain = (struct logtext_span){ s.p, (size_t)(bs - s.p) };
		name = (struct logtext_span){ bs + 1, s.len - domain.len - 1 };
	}
	if ((rc = event_set_str(ev, FIELD_USER_NAME, name.p, name.len)) < 0 ||
	    (domain.len && (rc = event_set_str(ev, FIELD_USER_DOMAIN, domain.p, domain.len)) < 0))
		return rc;
	if (source_user &&
	    ((rc = event_set_str(ev, FIELD_SOURCE_USER_NAME, name.p, name.len)) < 0 ||
	     (domain.len &&
	      (rc = event_set_str(ev, FIELD_SOURCE_USER_DOMAIN, domain.p, domain.len)) < 0)))
		return rc;
	return event_add_str_once(ev, FIELD_RELATED_USER, name.p, name.len);
}

/* "host[:port]" (IPv6 in brackets) into url.domain and url.port. */
static int set_authority(struct event *ev, const char *p, size_t len)
{
	const char *at = memchr(p, '@', len), *colon = NULL;
	struct logtext_span port = { NULL, 0 };
	int64_t v;
	int rc;

	if (at) { /* user:password@ is not kept in url.domain */
		len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (len && p[0] == '[') {
		const char *close = memchr(p, ']', len);

		if (close && close + 1 < p + len && close[1] == ':')
			colon = close + 1;
	} else if ((colon = memchr(p, ':', len)) && memrchr(p, ':', len) != colon) {
		colon = NULL; /* an IPv6 address without brackets: no port */
	}
	if (colon) {
		port = (struct logtext_span){ colon + 1, (size_t)(p + len - colon - 1) };
		len = (size_t)(colon - p);
	}
	if (len && (rc = event_set_str(ev, FIELD_URL_DOMAIN, p, len)) < 0)
		return rc;
	if (port.len && logtext_uint(port, &v) && field_int_valid(FIELD_URL_PORT, v))
		return event_set_int(ev, FIELD_URL_PORT, v);
	return 0;
}

/* "/path?query#fragment": url.path, url.query and url.extension. */
static int set_path(struct event *ev, const char *p, size_t len)
{
	const char *q = memchr(p, '?', len), *hash = memchr(p, '#', len), *stop, *slash, *dot;
	size_t plen;
	int rc;

	if (hash && q && hash < q)
		q = NULL;
	stop = q ? q : hash ? hash : p + len;
	plen = (size_t)(stop - p);
	if (plen && (rc = event_set_str(ev, FIELD_URL_PATH, p, plen)) < 0)
		return rc;
	if (q) {
		const char *qend = hash && hash > q ? hash : p + len;

		if ((rc = event_set_str(ev, FIELD_URL_QUERY, q + 1, (size_t)(qend - q - 1))) < 0)
			return rc;
	}
	slash = memrchr(p, '/', plen);
	slash = slash ? slash + 1 : p;
	dot = memrchr(slash, '.', (size_t)(stop - slash));
	if (dot && dot + 1 < stop && dot > slash)
		return event_set_str(ev, FIELD_URL_EXTENSION, dot + 1, (size_t)(stop - dot - 1));
	return 0;
}

/* "host[:port][/path][?query][#fragment]": the authority ends at the first '/', '?' or '#'. */
static int set_host_and_path(struct event *ev, const char *p, size_t len)
{
	size_t a = 0;
	int rc;

	while (a < len && p[a] != '/' && p[a] != '?' && p[a] != '#')
		a++;
	if ((rc = set_authority(ev, p, a)) < 0)
		return rc;
	return a < len ? set_path(ev, p + a, len - a) : 0;
}

/*
 * Whether p[0..len) is a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )): the
 * first ':' of a URL without one may be in its query ("www.example.jp/url?q=https://x/").
 */
static bool url_scheme(const char *p, size_t len)
{
	if (!len || !((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') &&
		    c != '+' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* host_first: a URL without a scheme starts with its host (else it is CONNECT's host:port). */
static int set_url(struct event *ev, struct logtext_span s, bool host_first)
{
	const char *colon;
	int64_t port;
	int rc;

	if (!s.len || (s.len == 1 && s.p[0] == '-'))
		return 0;
	if ((rc = event_set_str(ev, FIELD_URL_ORIGINAL, s.p, s.len)) < 0)
		return rc;
	if (s.p[0] == '/')
		return set_path(ev, s.p, s.len);
	colon = memchr(s.p, ':', s.len);
	if (colon && url_scheme(s.p, (size_t)(colon - s.p)) &&
	    (size_t)(s.p + s.len - colon) >= 3 && colon[1] == '/' && colon[2] == '/') {
		if ((rc = event_set_str(ev, FIELD_URL_SCHEME, s.p, (size_t)(colon - s.p))) < 0)
			return rc;
		return set_host_and_path(ev, colon + 3, (size_t)(s.p + s.len - colon - 3));
	}
	if (host_first ||
	    ((colon = memrchr(s.p, ':', s.len)) && colon > s.p &&
	     logtext_uint((struct logtext_span){ colon + 1, (size_t)(s.p + s.len - colon - 1) },
			  &port)))
		return set_host_and_path(ev, s.p, s.len);
	return 0; /* not a URL koban can split ("error:invalid-request"): original only */
}

int logtext_set_url(struct event *ev, struct logtext_span s)
{
	return set_url(ev, s, false);
}

int logtext_set_url_host(struct event *ev, struct logtext_span s)
{
	return set_url(ev, s, true);
}

int logtext_intern(const struct logtext_field *defs, int *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ids[i] = field_intern(defs[i].name, strlen(defs[i].name), defs[i].type);
		if (ids[i] < 0)
			return ids[i];
	}
	return 0;
}
