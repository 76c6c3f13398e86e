/*
 * terminal.c - the internal terminal behind NAT or a proxy, found in the tenant's event
 * store (soc/terminal.h).
 */
#include "soc/terminal.h"
#include "core/compat.h"

#include <stdio.h>
#include <strings.h>

#define LOG_MODULE "terminal"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "enrich/assets.h"
#include "store/store.h"

#define QUERY_MAX 512
#define WHO "koban terminal"

/* What proved a mapping, best first: a rank decides before the distance in time does. */
enum rank {
	RANK_EXACT,      /* the port asked matched (or none was asked) */
	RANK_ADDRESS,    /* only the address matched: the log has no port to compare */
	RANK_CLIENT,     /* a proxy's client log: the address itself, named by the log */
	RANK_NONE,
};

/* The best candidate so far: everything still in the store's event memory is copied. */
struct found {
	struct arena *arena;
	const struct ipaddr *ip;      /* the address asked about */
	uint16_t port;
	int64_t at_ns;
	enum rank rank;
	int64_t distance;             /* |log time - at_ns| */
	struct terminal t;
	const char *phrase;           /* "behind the PAN-OS NAT" ... (static text) */
	uint16_t port_first, port_last; /* an A10 port block (0: none) */
	bool no_memory;
};

static int64_t event_time(const struct event *ev)
{
	const struct event_value *v = event_get(ev, FIELD_TIMESTAMP);

	return v ? v->v.i : INT64_MIN;
}

static bool str_is(const struct event *ev, unsigned field, const char *want)
{
	const char *s;
	size_t n;

	return event_get_str(ev, field, &s, &n) && n == strlen(want) && !strncasecmp(s, want, n);
}

static bool ip_is(const struct event *ev, unsigned field, const struct ipaddr *ip)
{
	const struct event_value *v = event_get(ev, field);

	return v && !memcmp(v->v.ip.b, ip->b, sizeof(ip->b));
}

/* The integer of field (a known or a vendor field), or -1 when the event has none. */
static int64_t int_of(const struct event *ev, int field)
{
	const struct event_value *v = field < 0 ? NULL : event_get(ev, (unsigned)field);

	return v && field_type(v->field) == FT_INT ? v->v.i : -1;
}

static int vendor_field(const char *name)
{
	return field_lookup(name, strlen(name));
}

static const char *copy_str(struct found *f, const struct event *ev, unsigned field)
{
	const char *s, *out;
	size_t n;

	if (!event_get_str(ev, field, &s, &n) || !n || (n == 1 && *s == '-'))
		return NULL;
	if (!(out = arena_strndup(f->arena, s, n)))
		f->no_memory = true;
	return out;
}

static const char *copy_ip(struct found *f, const struct ipaddr *ip)
{
	char text[IPADDR_STRLEN];
	const char *out;

	ipaddr_format(ip, text);
	if (!(out = arena_strndup(f->arena, text, strlen(text))))
		f->no_memory = true;
	return out;
}

static uint16_t port_of(int64_t v)
{
	return v > 0 && v <= 65535 ? (uint16_t)v : 0;
}

/* Keeps the candidate when it beats the best so far; true when it does (then fill it). */
static bool better(struct found *f, enum rank rank, int64_t t)
{
	int64_t d = t >= f->at_ns ? t - f->at_ns : f->at_ns - t;

	if (rank > f->rank || (rank == f->rank && d >= f->distance))
		return false;
	f->rank = rank;
	f->distance = d;
	memset(&f->t, 0, sizeof(f->t));
	f->t.at_ns = t;
	f->port_first = f->port_last = 0;
	return true;
}

/* ---- NAT: PAN-OS source and destination NAT, A10 CGN ---- */

/* The inside endpoint of a PAN-OS log that translated f->ip[:port]. */
static void panos_candidate(struct found *f, const struct event *ev, int64_t t)
{
	bool src = ip_is(ev, FIELD_SOURCE_NAT_IP, f->ip);
	unsigned in_ip = src ? FIELD_SOURCE_IP : FIELD_DESTINATION_NAT_IP;
	unsigned in_port = src ? FIELD_SOURCE_PORT : FIELD_DESTINATION_NAT_PORT;
	int64_t out_port = int_of(ev, src ? FIELD_SOURCE_NAT_PORT : FIELD_DESTINATION_PORT);
	const struct event_value *inside = event_get(ev, in_ip);
	enum rank rank = !f->port || out_port == f->port ? RANK_EXACT : RANK_ADDRESS;

	/* PAN-OS writes natdst = dst when only the source is translated: no terminal there */
	if (!src && (!ip_is(ev, FIELD_DESTINATION_IP, f->ip) || !inside ||
		     !memcmp(inside->v.ip.b, f->ip->b, sizeof(f->ip->b))))
		return;
	if (!inside || (f->port && out_port >= 0 && out_port != f->port) || !better(f, rank, t))
		return;
	f->t.via = "panos-nat";
	f->phrase = !src ? "behind the PAN-OS destination NAT" :
		    rank == RANK_EXACT ? "behind the PAN-OS NAT" :
					 "behind the PAN-OS NAT (the log names no port)";
	f->t.ip = copy_ip(f, &inside->v.ip);
	f->t.port = port_of(int_of(ev, in_port));
	f->t.user = copy_str(f, ev, src ? FIELD_SOURCE_USER_NAME : FIELD_DESTINATION_USER_NAME);
}

/* The inside endpoint of an A10 CGN mapping of f->ip[:port] (a single port or a block). */
static void a10_candidate(struct found *f, const struct event *ev, int64_t t)
{
	const struct event_value *inside = event_get(ev, FIELD_SOURCE_IP);
	int64_t nat_port = int_of(ev, FIELD_SOURCE_NAT_PORT);
	int64_t first = int_of(ev, vendor_field("a10.cgn.nat_port_first"));
	int64_t last = int_of(ev, vendor_field("a10.cgn.nat_port_last"));
	bool block = first >= 0 && last >= first;
	enum rank rank;

	if (!inside || !ip_is(ev, FIELD_SOURCE_NAT_IP, f->ip))
		return;
	if (!f->port || (block ? f->port >= first && f->port <= last : nat_port == f->port))
		rank = RANK_EXACT;
	else if (!block && nat_port < 0)
		rank = RANK_ADDRESS;
	else
		return;
	if (!better(f, rank, t))
		return;
	f->t.via = "a10-cgn";
	f->phrase = rank == RANK_EXACT ? "behind the A10 CGN" :
					 "behind the A10 CGN (the log names no port)";
	f->t.ip = copy_ip(f, &inside->v.ip);
	/* a block is shared by every connection of the subscriber: its inside port is unknown */
	f->t.port = block ? 0 : port_of(int_of(ev, FIELD_SOURCE_PORT));
	if (block) {
		f->port_first = port_of(first);
		f->port_last = port_of(last);
	}
}

static int nat_event(void *ctx, const struct event *ev)
{
	struct found *f = ctx;
	int64_t t = event_time(ev);

	if (str_is(ev, FIELD_EVENT_MODULE, "panos"))
		panos_candidate(f, ev, t);
	else if (str_is(ev, FIELD_EVENT_DATASET, "a10.cgn"))
		a10_candidate(f, ev, t);
	return f->no_memory ? -ENOMEM : 0;
}

/* ---- proxies: X-Forwarded-For, the proxy's own client log ---- */

/* The first address of an X-Forwarded-For list ("client, proxy1, proxy2"). */
static bool xff_client(const char *s, size_t n, struct ipaddr *ip)
{
	size_t i = 0, end;

	while (i < n && s[i] == ' ')
		i++;
	for (end = i; end < n && s[end] != ',' && s[end] != ' '; end++)
		;
	return end > i && ipaddr_parse(ip, s + i, end - i) == 0;
}

static int proxy_event(void *ctx, const struct event *ev)
{
	struct found *f = ctx;
	int64_t t = event_time(ev);
	int xff = vendor_field("weblog.x_forwarded_for");
	struct ipaddr client;
	const char *s;
	size_t n;

	if (!ip_is(ev, FIELD_SOURCE_IP, f->ip))
		return 0;
	if (xff >= 0 && event_get_str(ev, (unsigned)xff, &s, &n) && xff_client(s, n, &client) &&
	    memcmp(client.b, f->ip->b, sizeof(client.b))) {
		if (better(f, RANK_EXACT, t)) {
			f->t.via = "proxy-xff";
			f->phrase = "behind the proxy (X-Forwarded-For of the web log)";
			f->t.ip = copy_ip(f, &client);
		}
	} else if (str_is(ev, FIELD_OBSERVER_TYPE, "proxy") &&
		   (event_get(ev, FIELD_USER_NAME) || event_get(ev, FIELD_SOURCE_DOMAIN)) &&
		   better(f, RANK_CLIENT, t)) {
		/* the address itself, named by the proxy that authenticated or resolved it */
		f->t.via = "proxy-client";
		f->phrase = "in the proxy log";
		f->t.ip = copy_ip(f, f->ip);
		f->t.port = port_of(int_of(ev, FIELD_SOURCE_PORT));
		f->t.user = copy_str(f, ev, FIELD_USER_NAME);
		f->t.host = copy_str(f, ev, FIELD_SOURCE_DOMAIN);
	}
	return f->no_memory ? -ENOMEM : 0;
}

/* ---- searching ---- */

static int search(struct store *st, uint64_t tenant_id, const char *query, int64_t from,
		  int64_t to, agg_event_fn *fn, struct found *f, struct err *e)
{
	struct store_search s = {
		.tenant = tenant_id, .query = query, .query_len = strlen(query), .from = from,
		.to = to, .now = f->at_ns, .who = WHO, .event_fn = fn, .ctx = f,
		.read_order = true, /* it reads every match and needs no order */
	};
	struct store_search_stats stats;
	int rc = store_search(st, &s, &stats, e);

	if (rc == -ENOMEM && f->no_memory)
		return err_set(e, rc, "out of memory keeping the terminal of %s", query);
	return rc;
}

static int64_t add_clamped(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* "203.0.113.5:40123" or "10.1.2.3" (port 0). */
static void endpoint_text(const char *ip, uint16_t port, char out[IPADDR_ENDPOINT_STRLEN])
{
	struct ipaddr a;

	if (port && ipaddr_parse(&a, ip, strlen(ip)) == 0)
		ipaddr_format_endpoint(&a, port, out);
	else
		snprintf(out, IPADDR_ENDPOINT_STRLEN, "%s", ip);
}

/*
 * "OUTSIDE was INSIDE[ (HOST, user USER)][ (ports A-B of a block)] PHRASE at TIME": the
 * outside endpoint first, then " was " and the inside one, which with_host() relies on.
 */
static int make_sentence(struct terminal *t, const char *outside, const char *phrase,
			 uint16_t first, uint16_t last, struct arena *a)
{
	char inside[IPADDR_ENDPOINT_STRLEN], when[TIME_RFC3339_LEN];
	char text[1024];
	size_t n = 0;

	endpoint_text(t->ip, t->port, inside);
	time_format_rfc3339(t->at_ns, when);
	n = (size_t)snprintf(text, sizeof(text), "%s was %s", outside, inside);
	if (n < sizeof(text) && (t->host || t->user))
		n += (size_t)snprintf(text + n, sizeof(text) - n, " (%s%s%s%s)",
				      t->host ? t->host : "", t->host && t->user ? ", " : "",
				      t->user ? "user " : "", t->user ? t->user : "");
	if (n < sizeof(text) && first)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " (ports %u-%u of a block)",
				      first, last);
	if (n < sizeof(text))
		n += (size_t)snprintf(text + n, sizeof(text) - n, " %s at %s", phrase, when);
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	t->sentence = arena_strndup(a, text, n);
	return t->sentence ? 0 : -ENOMEM;
}

int terminal_resolve(struct store *st, uint64_t tenant_id, const char *ip, uint16_t port,
		     int64_t at_ns, int64_t window_ns, struct arena *a, struct terminal *out,
		     struct err *e)
{
	struct ipaddr addr;
	struct found f = { .arena = a, .ip = &addr, .port = port, .at_ns = at_ns,
			   .rank = RANK_NONE, .distance = INT64_MAX };
	char text[IPADDR_STRLEN], query[QUERY_MAX], outside[IPADDR_ENDPOINT_STRLEN];
	int64_t from, to;
	int rc;

	if (!ip || ipaddr_parse(&addr, ip, strlen(ip)) < 0)
		return err_set(e, -EINVAL, "terminal: '%s' is not an IP address", ip ? ip : "(null)");
	if (window_ns < 0)
		return err_set(e, -EINVAL, "terminal: the window is negative");
	if (!window_ns)
		window_ns = TERMINAL_WINDOW_DEFAULT;
	from = add_clamped(at_ns, -window_ns);
	to = add_clamped(at_ns, window_ns);
	ipaddr_format(&addr, text);
	/* a log without the NAT port (some CGN records) still proves the address */
	if (port)
		snprintf(query, sizeof(query),
			 "source.nat.ip: \"%s\" and (source.nat.port <= %u or not _exists_: "
			 "source.nat.port) or destination.ip: \"%s\" and destination.port: %u and "
			 "_exists_: destination.nat.ip", text, port, text, port);
	else
		snprintf(query, sizeof(query),
			 "source.nat.ip: \"%s\" or destination.ip: \"%s\" and "
			 "_exists_: destination.nat.ip", text, text);
	if ((rc = search(st, tenant_id, query, from, to, nat_event, &f, e)) < 0)
		return rc;
	if (f.rank == RANK_NONE) {
		snprintf(query, sizeof(query), "source.ip: \"%s\" and (observer.type: proxy or "
			 "event.dataset: weblog.access)", text);
		if ((rc = search(st, tenant_id, query, from, to, proxy_event, &f, e)) < 0)
			return rc;
	}
	if (f.rank == RANK_NONE)
		return -ENOENT;
	endpoint_text(text, port, outside);
	if ((rc = make_sentence(&f.t, outside, f.phrase, f.port_first, f.port_last, a)) < 0 ||
	    !f.t.ip)
		return err_set(e, -ENOMEM, "out of memory describing the terminal of %s", outside);
	*out = f.t;
	log_debug("tenant %llu: %s", (unsigned long long)tenant_id, out->sentence);
	return 0;
}

/* ---- the asset inventory ---- */

static const char *asset_host(const struct assets_entry *en)
{
	return en->hostnames.n ? en->hostnames.v[0] : en->name;
}

/*
 * The sentence with " (HOST)" after the inside endpoint, or "(user U" made "(HOST, user U":
 * make_sentence() wrote "OUTSIDE was INSIDE" first and no host.
 */
static const char *with_host(const struct terminal *t, const char *host, struct arena *a)
{
	char inside[IPADDR_ENDPOINT_STRLEN];
	const char *was = t->sentence ? strstr(t->sentence, " was ") : NULL, *rest;
	struct buf b;
	const char *out = NULL;
	bool user;

	endpoint_text(t->ip, t->port, inside);
	if (!was || strncmp(was + 5, inside, strlen(inside)))
		return t->sentence; /* not a sentence of ours: left as it is */
	rest = was + 5 + strlen(inside);
	buf_init(&b, 4096);
	user = !strncmp(rest, " (user ", 7);
	if (buf_add(&b, t->sentence, (size_t)(rest - t->sentence)) == 0 &&
	    buf_addf(&b, user ? " (%s, " : " (%s)", host) == 0 &&
	    buf_adds(&b, user ? rest + 2 : rest) == 0)
		out = arena_strndup(a, b.p, b.len);
	buf_release(&b);
	return out;
}

int terminal_name_host(struct terminal *t, const struct assets *as, const char *tenant,
		       struct arena *a)
{
	const struct assets_entry *en;
	const char *host, *sentence;

	if (t->host || !t->ip || !as || !(en = assets_lookup(as, tenant, t->ip, strlen(t->ip))))
		return 0;
	if (!(host = arena_strndup(a, asset_host(en), strlen(asset_host(en)))) ||
	    !(sentence = with_host(t, host, a)))
		return -ENOMEM;
	t->host = host;
	t->sentence = sentence;
	return 1;
}

int terminal_direct(const char *ip, const struct assets *as, const char *tenant,
		    int64_t at_ns, struct arena *a, struct terminal *out)
{
	const struct assets_entry *en;
	struct terminal t = { .via = "direct", .at_ns = at_ns };
	struct ipaddr addr;
	char text[IPADDR_STRLEN];

	if (!ip || ipaddr_parse(&addr, ip, strlen(ip)) < 0 || !as ||
	    !(en = assets_lookup(as, tenant, ip, strlen(ip))))
		return -ENOENT;
	ipaddr_format(&addr, text);
	if (!(t.ip = arena_strndup(a, text, strlen(text))) ||
	    !(t.host = arena_strndup(a, asset_host(en), strlen(asset_host(en)))) ||
	    make_sentence(&t, text, "in the asset inventory (no NAT or proxy log maps it)", 0, 0,
			  a) < 0)
		return -ENOMEM;
	*out = t;
	return 0;
}

/* ---- JSON ---- */

static int add_member(struct buf *out, bool *first, const char *name)
{
	int rc;

	if ((rc = buf_adds(out, *first ? "{\"" : ", \"")) < 0 || (rc = buf_adds(out, name)) < 0)
		return rc;
	*first = false;
	return buf_adds(out, "\": ");
}

static int add_string(struct buf *out, bool *first, const char *name, const char *value)
{
	int rc;

	if (!value)
		return 0;
	if ((rc = add_member(out, first, name)) < 0)
		return rc;
	return json_add_string(out, value, strlen(value));
}

int terminal_write_json(const struct terminal *t, struct buf *out)
{
	char when[TIME_RFC3339_LEN];
	bool first = true;
	int rc;

	if ((rc = add_string(out, &first, "ip", t->ip)) < 0)
		return rc;
	if (t->port && ((rc = add_member(out, &first, "port")) < 0 ||
			(rc = buf_add_int(out, t->port)) < 0))
		return rc;
	if ((rc = add_string(out, &first, "host", t->host)) < 0 ||
	    (rc = add_string(out, &first, "user", t->user)) < 0 ||
	    (rc = add_string(out, &first, "via", t->via)) < 0 ||
	    (rc = add_string(out, &first, "sentence", t->sentence)) < 0)
		return rc;
	if (t->at_ns) {
		time_format_rfc3339(t->at_ns, when);
		if ((rc = add_string(out, &first, "at", when)) < 0)
			return rc;
	}
	return buf_adds(out, first ? "{}" : "}");
}
