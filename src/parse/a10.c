/*
 * a10.c - A10 Thunder CGN (CEF and ASCII) and HTTP vport logs.
 *
 * The ASCII CGN line is read as a list of endpoints (IP[:PORT[-PORT]]) joined by the
 * arrows and commas ACOS writes; the shape of that list (how many endpoints, whether
 * "to" appears) says which endpoint is the inside source, the NAT address and the
 * destination.
 */
#include "parse/a10.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/tz.h"
#include "parse/cef.h"
#include "parse/decoder.h"
#include "parse/logtext.h"

#include <pthread.h>

#define SNIFF_WINDOW 256
#define MAX_ENDPOINTS 4

/* ---------------------------------------------------------------- vendor fields */

enum {
	F_CGN_CLASS,     /* CEF Signature ID's number: "100" */
	F_CGN_EVENT,     /* ASCII: the event letter (C, D, U, B) */
	F_CGN_LOG_TYPE,  /* port_mapping, session, fixed_nat, or the CEF Name */
	F_CGN_PORT_LAST, /* last port of a NAT port block */
	F_CGN_PORT_FIRST,
	F_HTTP_VSERVER,  /* the virtual server's name */
	F_COUNT
};

static const struct {
	const char *name;
	enum field_type type;
} vendor_defs[F_COUNT] = {
	{ "a10.cgn.class", FT_STR },         { "a10.cgn.event", FT_STR },
	{ "a10.cgn.log_type", FT_STR },      { "a10.cgn.nat_port_last", FT_INT },
	{ "a10.cgn.nat_port_first", FT_INT }, { "a10.http.virtual_server", FT_STR },
};

static int vendor_field[F_COUNT];
static int vendor_rc;
static pthread_once_t vendor_once = PTHREAD_ONCE_INIT;

static void vendor_init(void)
{
	for (int i = 0; i < F_COUNT; i++) {
		vendor_field[i] = field_intern(vendor_defs[i].name, strlen(vendor_defs[i].name),
					       vendor_defs[i].type);
		if (vendor_field[i] < 0) {
			vendor_rc = vendor_field[i];
			return;
		}
		/* a name another process part registered first with another type */
		if (field_type((unsigned)vendor_field[i]) != vendor_defs[i].type) {
			vendor_rc = -EEXIST;
			return;
		}
	}
}

static int vendor_ready(void)
{
	pthread_once(&vendor_once, vendor_init);
	return vendor_rc;
}

static int set_lit(struct event *ev, unsigned field, const char *lit)
{
	return event_set_str(ev, field, lit, strlen(lit));
}

static int add_lit(struct event *ev, unsigned field, const char *lit)
{
	return event_add_str(ev, field, lit, strlen(lit));
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* module, dataset and the categories of a NAT record; phase: "start", "end" or "info". */
static int put_cgn_common(struct event *ev, const char *phase)
{
	int rc;

	if ((rc = set_lit(ev, FIELD_EVENT_MODULE, "a10")) < 0 ||
	    (rc = set_lit(ev, FIELD_EVENT_DATASET, "a10.cgn")) < 0 ||
	    (rc = add_lit(ev, FIELD_EVENT_CATEGORY, "network")) < 0 ||
	    (rc = add_lit(ev, FIELD_EVENT_TYPE, "connection")) < 0 ||
	    (rc = add_lit(ev, FIELD_EVENT_TYPE, phase)) < 0)
		return rc;
	return set_lit(ev, FIELD_OBSERVER_VENDOR, "A10");
}

/* ---------------------------------------------------------------- CEF */

static bool has_word(const char *s, size_t n, const char *w)
{
	return memmem(s, n, w, strlen(w)) != NULL;
}

/* event.action from the CEF Name: "Nat Port Allocated" -> "nat-port-allocated". */
static int put_action(struct event *ev, const char *s, size_t n)
{
	char *a = arena_alloc(ev->arena, n ? n : 1);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		a[i] = s[i] == ' ' ? '-' : (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	return event_set_str(ev, FIELD_EVENT_ACTION, a, n);
}

int a10_cef_map(struct event *ev, const struct cef_record *r, const struct decode_opts *o)
{
	const char *name, *id;
	size_t nlen, idlen;
	int rc;

	if ((rc = vendor_ready()) < 0)
		return rc;
	if (!(name = cef_text(ev, &r->name, &nlen)) || !(id = cef_text(ev, &r->sig_id, &idlen)))
		return -ENOMEM;
	if (idlen < 5 || memcmp(id, "CGN ", 4)) { /* not a CGN class: kept as CEF says */
		if ((rc = set_lit(ev, FIELD_EVENT_MODULE, "a10")) < 0)
			return rc;
		return set_lit(ev, FIELD_EVENT_DATASET, "a10.log");
	}
	if ((rc = put_cgn_common(ev, has_word(name, nlen, "Allocated") ||
					     has_word(name, nlen, "Created") ? "start" :
				     has_word(name, nlen, "Freed") ||
					     has_word(name, nlen, "Deleted") ? "end" : "info")) < 0 ||
	    (rc = event_set_str(ev, (unsigned)vendor_field[F_CGN_CLASS], id + 4, idlen - 4)) < 0 ||
	    (rc = event_set_str(ev, (unsigned)vendor_field[F_CGN_LOG_TYPE], name, nlen)) < 0 ||
	    (rc = put_action(ev, name, nlen)) < 0)
		return rc;
	/* a port batch: sourceTranslatedPort is its first port, "Last Nat Port" its last */
	for (unsigned i = 0; i < r->n; i++) {
		const struct cef_pair *p = &r->pairs[i];
		const char *v;
		size_t n;

		if (p->label.len != 13 || memcmp(p->label.p, "Last Nat Port", 13))
			continue;
		if (!(v = cef_text(ev, &p->value, &n)))
			return -ENOMEM;
		if ((rc = cef_set_int(ev, (unsigned)vendor_field[F_CGN_PORT_LAST], v, n)) < 0)
			return rc;
		if (rc) {
			const struct event_value *first = event_get(ev, FIELD_SOURCE_NAT_PORT);

			if (first && (rc = event_set_int(ev, (unsigned)vendor_field[F_CGN_PORT_FIRST],
							 first->v.i)) < 0)
				return rc;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- ASCII CGN */

struct endpoint {
	const char *ip;
	size_t iplen;
	const char *port; /* NULL: none */
	size_t portlen;
	const char *last; /* last port of a range, NULL: none */
	size_t lastlen;
};

enum sep { SEP_ARROW, SEP_TO, SEP_COMMA };

struct cgn_line {
	const char *proto; /* NULL for FIXED-NAT-PORTS */
	size_t protolen;
	const char *ev;    /* the event letter (C, D, U, B...) in the message; NULL: FIXED */
	struct endpoint ep[MAX_ENDPOINTS];
	enum sep sep[MAX_ENDPOINTS];
	unsigned n;
};

/* Start of "NAT-X-Y:" (X letters, Y one letter) or "FIXED-NAT-PORTS " in p, or NULL. */
static const char *find_cgn(const char *p, size_t len, struct cgn_line *l)
{
	size_t n = len < SNIFF_WINDOW ? len : SNIFF_WINDOW;
	const char *q = p, *end = p + len;

	while ((q = logtext_find(q, (size_t)(p + n - q), "NAT-", 4))) {
		const char *s = q + 4, *t = s;

		if (q >= p + 6 && !memcmp(q - 6, "FIXED-NAT-PORTS ", 6) && end - q >= 10 &&
		    !memcmp(q, "NAT-PORTS ", 10)) {
			l->proto = NULL;
			l->ev = NULL;
			return q + 10;
		}
		while (t < end && t - s < 8 && *t >= 'A' && *t <= 'Z')
			t++;
		if ((q == p || q[-1] == ' ') && t > s && end - t >= 3 && t[0] == '-' &&
		    t[1] >= 'A' && t[1] <= 'Z' && t[2] == ':') {
			l->proto = s;
			l->protolen = (size_t)(t - s);
			l->ev = t + 1;
			return t + 3;
		}
		q += 4;
	}
	return NULL;
}

bool a10_sniff(const char *msg, size_t len)
{
	struct cgn_line l;

	return find_cgn(msg, len, &l) != NULL;
}

static const char *skip_spaces(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p;
}

static const char *digits_end(const char *p, const char *end)
{
	while (p < end && is_digit(*p))
		p++;
	return p;
}

/* IPv4[:[ ]PORT[-PORT]] or [IPv6][:PORT[-PORT]] at p; NULL when there is none. */
static const char *read_endpoint(const char *p, const char *end, struct endpoint *ep)
{
	const char *q;

	memset(ep, 0, sizeof(*ep));
	if (p < end && *p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return NULL;
		ep->ip = p + 1;
		ep->iplen = (size_t)(close - p - 1);
		q = close + 1;
	} else {
		q = p;
		while (q < end && (is_digit(*q) || *q == '.'))
			q++;
		ep->ip = p;
		ep->iplen = (size_t)(q - p);
	}
	if (!ep->iplen)
		return NULL;
	if (q < end && *q == ':') {
		const char *d = skip_spaces(q + 1, end), *de = digits_end(d, end);

		if (de > d) {
			ep->port = d;
			ep->portlen = (size_t)(de - d);
			q = de;
			if (q < end && *q == '-' && digits_end(q + 1, end) > q + 1) {
				ep->last = q + 1;
				ep->lastlen = (size_t)(digits_end(q + 1, end) - q - 1);
				q = digits_end(q + 1, end);
			}
		}
	}
	return q;
}

/* "<-->", "<->", "->", "to" or "," at p (spaces around skipped); NULL when none. */
static const char *read_sep(const char *p, const char *end, enum sep *s)
{
	static const struct {
		const char *text;
		enum sep sep;
	} seps[] = { { "<-->", SEP_ARROW }, { "<->", SEP_ARROW }, { "->", SEP_ARROW },
		     { "to ", SEP_TO }, { ",", SEP_COMMA } };

	p = skip_spaces(p, end);
	for (size_t i = 0; i < ARRAY_SIZE(seps); i++) {
		size_t n = strlen(seps[i].text);

		if ((size_t)(end - p) >= n && !memcmp(p, seps[i].text, n)) {
			*s = seps[i].sep;
			return skip_spaces(p + n, end);
		}
	}
	return NULL;
}

static int read_cgn(struct cgn_line *l, const char *msg, const char *p, const char *end,
		    struct err *e)
{
	p = skip_spaces(p, end);
	for (l->n = 0; l->n < MAX_ENDPOINTS;) {
		const char *q = read_endpoint(p, end, &l->ep[l->n]), *s;

		if (!q)
			return err_set(e, -EINVAL, "offset %zu: A10 CGN: expected an address "
				       "(IPv4[:PORT] or [IPv6]:PORT)", (size_t)(p - msg));
		l->n++;
		p = skip_spaces(q, end);
		if (p >= end)
			break;
		if (l->n == MAX_ENDPOINTS || !(s = read_sep(p, end, &l->sep[l->n - 1])))
			return err_set(e, -EINVAL, "offset %zu: A10 CGN: expected '->', '<-->', "
				       "'to', ',' or the end", (size_t)(p - msg));
		p = s;
	}
	/* SRC->NAT, SRC->NAT to DST, SRC<->DST, NAT<-->DST */
	if (l->n < 2 || l->sep[0] != SEP_ARROW || (l->n == 3 && l->sep[1] != SEP_TO) ||
	    (l->n == 4 && (l->sep[1] != SEP_COMMA || l->sep[2] != SEP_ARROW)))
		return err_set(e, -EINVAL, "offset %zu: A10 CGN: %u addresses in an unknown layout "
			       "(expected SRC->NAT [to DST], SRC<->DST, NAT<-->DST or "
			       "FIXED-NAT-PORTS SRC->NAT:FIRST-LAST)", (size_t)(end - msg), l->n);
	return 0;
}

static bool same_endpoint(const struct endpoint *a, const struct endpoint *b)
{
	return a->iplen == b->iplen && !memcmp(a->ip, b->ip, a->iplen) &&
	       a->portlen == b->portlen && (!a->port || !memcmp(a->port, b->port, a->portlen));
}

static int put_endpoint(struct event *ev, const struct endpoint *ep, unsigned ip_field,
			unsigned port_field)
{
	int rc;

	if ((rc = cef_set_ip(ev, ip_field, ep->ip, ep->iplen)) < 0)
		return rc;
	if (ep->port && (rc = cef_set_int(ev, port_field, ep->port, ep->portlen)) < 0)
		return rc;
	return 0;
}

static int put_cgn(struct event *ev, const struct cgn_line *l)
{
	const struct endpoint *src = &l->ep[0], *nat = &l->ep[1], *dst = NULL;
	const char *type = "port_mapping";

	if (l->n == 3) {
		dst = &l->ep[2];
	} else if (l->n == 4) { /* session: in<->dst, then the translated side */
		type = "session";
		dst = &l->ep[1];
		nat = same_endpoint(&l->ep[3], dst) ? &l->ep[2] : &l->ep[3];
	} else if (!l->proto) {
		type = "fixed_nat";
	}
	char letter = l->ev ? *l->ev : 0;
	int rc;

	if ((rc = put_cgn_common(ev, letter == 'C' ? "start" : letter == 'D' ? "end" : "info")) < 0 ||
	    (rc = set_lit(ev, (unsigned)vendor_field[F_CGN_LOG_TYPE], type)) < 0 ||
	    (rc = put_endpoint(ev, src, FIELD_SOURCE_IP, FIELD_SOURCE_PORT)) < 0 ||
	    (rc = put_endpoint(ev, nat, FIELD_SOURCE_NAT_IP, FIELD_SOURCE_NAT_PORT)) < 0 ||
	    (dst && (rc = put_endpoint(ev, dst, FIELD_DESTINATION_IP, FIELD_DESTINATION_PORT)) < 0))
		return rc;
	if (nat->last &&
	    ((rc = cef_set_int(ev, (unsigned)vendor_field[F_CGN_PORT_FIRST], nat->port,
			       nat->portlen)) < 0 ||
	     (rc = cef_set_int(ev, (unsigned)vendor_field[F_CGN_PORT_LAST], nat->last,
			       nat->lastlen)) < 0))
		return rc;
	if (l->proto && (rc = cef_set_transport(ev, l->proto, l->protolen)) < 0)
		return rc;
	if (l->ev && (rc = event_set_str(ev, (unsigned)vendor_field[F_CGN_EVENT], l->ev, 1)) < 0)
		return rc;
	return 0;
}

/* ---------------------------------------------------------------- HTTP vport log */

struct http_line {
	struct endpoint client;
	const char *stamp;      /* "Mon Apr 23 23:38:13 2012" */
	const char *request;    /* inside the quotes */
	size_t reqlen;
	const char *size;
	size_t sizelen;
	const char *referrer, *agent;
	size_t reflen, agentlen;
	const char *vs;         /* "vs:80" */
	size_t vslen;
};

/* `"text"` at p: (*s, *n) inside the quotes and the byte after, or NULL. */
static const char *quoted(const char *p, const char *end, const char **s, size_t *n)
{
	const char *close;

	if (p >= end || *p != '"' || !(close = memchr(p + 1, '"', (size_t)(end - p - 1))))
		return NULL;
	*s = p + 1;
	*n = (size_t)(close - p - 1);
	return close + 1;
}

static const char *expect(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return p && (size_t)(end - p) >= n && !memcmp(p, lit, n) ? p + n : NULL;
}

static int read_http(struct http_line *h, const char *msg, const char *p, const char *end,
		     struct err *e)
{
	const char *q = memchr(p, ' ', (size_t)(end - p)), *sp;

	/* the client as one token: IPv4 or IPv6, no port */
	memset(&h->client, 0, sizeof(h->client));
	h->client.ip = p;
	h->client.iplen = q ? (size_t)(q - p) : 0;
	if (!h->client.iplen || !(q = expect(q, end, " - - ")) || end - q < 25 || q[24] != ' ')
		return err_set(e, -EINVAL, "offset %zu: A10 HTTP log: expected 'CLIENT - - "
			       "Www Mmm dd hh:mm:ss yyyy'", (size_t)(p - msg));
	h->stamp = q;
	if (!(q = quoted(q + 25, end, &h->request, &h->reqlen)) || !(q = expect(q, end, " ")))
		return err_set(e, -EINVAL, "offset %zu: A10 HTTP log: expected the quoted request "
			       "line", (size_t)(h->stamp + 25 - msg));
	h->size = q;
	q = digits_end(q, end);
	h->sizelen = (size_t)(q - h->size);
	if (!h->sizelen || !(q = expect(q, end, " ")) ||
	    !(q = quoted(q, end, &h->referrer, &h->reflen)) || !(q = expect(q, end, " ")) ||
	    !(q = quoted(q, end, &h->agent, &h->agentlen)) || !(q = expect(q, end, " ")))
		return err_set(e, -EINVAL, "offset %zu: A10 HTTP log: expected SIZE \"REFERER\" "
			       "\"USER-AGENT\" VSERVER:VPORT", (size_t)(h->size - msg));
	sp = memchr(q, ' ', (size_t)(end - q));
	h->vs = q;
	h->vslen = sp ? (size_t)(sp - q) : (size_t)(end - q);
	return 0;
}

/* "Www Mmm dd hh:mm:ss yyyy" read as "Mmm dd yyyy hh:mm:ss" in the source's zone. */
static int put_http_time(struct event *ev, const char *s, const struct decode_opts *o)
{
	char t[20];
	int64_t ns;
	bool zoned;
	const char *zone;
	int rc;

	memcpy(t, s + 4, 7);       /* "Apr 23 " */
	memcpy(t + 7, s + 20, 4);  /* "2012" */
	t[11] = ' ';
	memcpy(t + 12, s + 11, 8); /* "23:38:13" */
	if (cef_parse_time(t, sizeof(t), o->tz, o->received_ns, &ns, &zoned) < 0)
		return 0;
	zone = tz_name(o->tz ? o->tz : tz_local());
	if ((rc = event_set_time(ev, FIELD_TIMESTAMP, ns)) < 0)
		return rc;
	return event_set_str(ev, FIELD_EVENT_TIMEZONE, zone, strlen(zone));
}

static int put_request(struct event *ev, const char *r, size_t n)
{
	const char *sp1 = memchr(r, ' ', n), *sp2;
	int rc;

	if (!sp1)
		return 0;
	if ((rc = event_set_str(ev, FIELD_HTTP_REQUEST_METHOD, r, (size_t)(sp1 - r))) < 0)
		return rc;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(r + n - sp1 - 1));
	if ((rc = event_set_str(ev, FIELD_URL_ORIGINAL, sp1 + 1,
				(size_t)((sp2 ? sp2 : r + n) - sp1 - 1))) < 0)
		return rc;
	if (sp2 && r + n - sp2 > 6 && !memcmp(sp2 + 1, "HTTP/", 5))
		return event_set_str(ev, FIELD_HTTP_VERSION, sp2 + 6, (size_t)(r + n - sp2 - 6));
	return 0;
}

static int put_http(struct event *ev, const struct http_line *h, const struct decode_opts *o)
{
	const char *colon = memchr(h->vs, ':', h->vslen);
	int rc;

	if ((rc = set_lit(ev, FIELD_EVENT_MODULE, "a10")) < 0 ||
	    (rc = set_lit(ev, FIELD_EVENT_DATASET, "a10.http")) < 0 ||
	    (rc = add_lit(ev, FIELD_EVENT_CATEGORY, "web")) < 0 ||
	    (rc = add_lit(ev, FIELD_EVENT_TYPE, "access")) < 0 ||
	    (rc = set_lit(ev, FIELD_OBSERVER_VENDOR, "A10")) < 0 ||
	    (rc = event_set_str(ev, FIELD_SOURCE_ADDRESS, h->client.ip, h->client.iplen)) < 0 ||
	    (rc = put_endpoint(ev, &h->client, FIELD_SOURCE_IP, FIELD_SOURCE_PORT)) < 0 ||
	    (rc = put_http_time(ev, h->stamp, o)) < 0 ||
	    (rc = put_request(ev, h->request, h->reqlen)) < 0 ||
	    (rc = cef_set_int(ev, FIELD_HTTP_RESPONSE_BODY_BYTES, h->size, h->sizelen)) < 0)
		return rc;
	if (!(h->reflen == 1 && h->referrer[0] == '-') && h->reflen &&
	    (rc = event_set_str(ev, FIELD_HTTP_REQUEST_REFERRER, h->referrer, h->reflen)) < 0)
		return rc;
	if (!(h->agentlen == 1 && h->agent[0] == '-') && h->agentlen &&
	    (rc = event_set_str(ev, FIELD_USER_AGENT_ORIGINAL, h->agent, h->agentlen)) < 0)
		return rc;
	if (colon) {
		const char *port = colon + 1;

		if ((rc = event_set_str(ev, (unsigned)vendor_field[F_HTTP_VSERVER], h->vs,
					(size_t)(colon - h->vs))) < 0 ||
		    (rc = cef_set_int(ev, FIELD_DESTINATION_PORT, port,
				      (size_t)(h->vs + h->vslen - port))) < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- decode */

/* A host name in front of the CGN anchor ("cgn0 NAT-TCP-C: ...") when the header had none. */
static int put_prefix_host(struct event *ev, const char *p, const char *anchor)
{
	const char *e = anchor;

	while (e > p && e[-1] == ' ')
		e--;
	if (e == p || memchr(p, ' ', (size_t)(e - p)) || event_get(ev, FIELD_HOST_NAME))
		return 0;
	return event_set_str(ev, FIELD_HOST_NAME, p, (size_t)(e - p));
}

int a10_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
	       struct err *e)
{
	const char *payload, *body, *end;
	struct cgn_line l;
	size_t plen;
	int rc;

	if ((rc = vendor_ready()) < 0) {
		err_set(e, rc, "a10: cannot register its fields: %s", strerror(-rc));
		return cef_keep_raw(ev, msg, len, o, rc);
	}
	if ((rc = decoder_syslog_payload(ev, msg, len, o, &payload, &plen, e)) < 0)
		return cef_keep_raw(ev, msg, len, o, rc);
	end = payload + plen;
	if ((body = find_cgn(payload, plen, &l))) {
		const char *anchor = l.proto ? l.proto - 4 : body - 16;

		if ((rc = read_cgn(&l, msg, body, end, e)) < 0)
			return cef_keep_raw(ev, msg, len, o, rc);
		if ((rc = put_prefix_host(ev, payload, anchor)) < 0 || (rc = put_cgn(ev, &l)) < 0)
			goto fail;
		return 0;
	}
	if (plen && payload[0] >= '0' && payload[0] <= '9' && memchr(payload, '"', plen) &&
	    !cef_sniff(payload, plen)) {
		struct http_line h;

		if ((rc = read_http(&h, msg, payload, end, e)) < 0)
			return cef_keep_raw(ev, msg, len, o, rc);
		if ((rc = put_http(ev, &h, o)) < 0)
			goto fail;
		return 0;
	}
	event_clear(ev); /* CEF (or a relay's bare "0|A10|..."): the CEF decoder starts afresh */
	return cef_decode(ev, msg, len, o, e);
fail:
	err_set(e, rc, "a10: cannot build the event: %s", strerror(-rc));
	return cef_keep_raw(ev, msg, len, o, rc);
}
