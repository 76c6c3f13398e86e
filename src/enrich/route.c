/*
 * route.c - tenant attribution.
 *
 * A reload compiles the sources into an immutable table: CIDRs parsed, host names
 * lowercased, listener names resolved to config indices, zones loaded, tenants resolved
 * to fair-queue slots. The sources are sorted once by specificity (criteria, then prefix
 * length, then id), so the first source that matches a message is the winner. Each
 * listener gets its own list of the sources that can match on it (those naming it and
 * those naming no listener), so a message is only compared with those.
 *
 * Cost per message: O(k) where k is the number of sources that can match on its
 * listener, usually stopping at the first match; the HOSTNAME is peeked from the
 * message at most once, and only when a host-matching source is reached. That suits the
 * tens to hundreds of sources of a SOC; thousands of CIDR-only sources would want a
 * prefix tree here, behind the same interface.
 *
 * Concurrency: the table pointer is guarded by a rwlock (writer-preferring, so a busy
 * stream of router_route() calls cannot starve a reload). router_route() holds the read
 * lock while it walks the table; router_reload() builds the new table without the lock,
 * swaps the pointer under the write lock and frees the old table after releasing it,
 * when no reader can still see it. struct route values handed out point only to zones,
 * which live for the whole process.
 */
#include "enrich/route.h"
#include "core/compat.h"

#include <pthread.h>

#define LOG_MODULE "route"
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "parse/syslog.h"
#include "store/meta.h"

#define ROUTE_MAX_SOURCES 65536

enum { LISTENER_ANY = -1, LISTENER_UNKNOWN = -2 };

struct rsource {
	int64_t id;
	struct route out;
	unsigned criteria;  /* how many of cidr, host, listener are set */
	bool has_cidr;
	struct ipaddr net;
	unsigned prefix;    /* of the 128-bit form */
	char *host;         /* lowercased, or NULL */
	size_t hlen;
	int listener;       /* config index, LISTENER_ANY or LISTENER_UNKNOWN */
};

/* Sources that can match on one listener, most specific first. */
struct rlist {
	const struct rsource **src;
	size_t n;
};

struct rtable {
	struct rsource *src;
	size_t n, cap;
	size_t n_listeners;
	/* lists[i] for config listener i; lists[n_listeners] for any other index. */
	struct rlist lists[CONFIG_MAX_LISTENERS + 1];
	const struct rsource **pool; /* storage of every list */
	struct route fallback;       /* _unassigned in the default zone */
};

struct router {
	pthread_rwlock_t lock;
	struct fairq *q;
	struct rtable *table;
	uint16_t unassigned;
};

static void table_free(struct rtable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		mem_free(t->src[i].host);
	mem_free(t->src);
	mem_free(t->pool);
	mem_free(t);
}

static int tenant_slot(struct fairq *q, const char *name, struct err *e)
{
	int slot = fairq_slot(q, name, strlen(name));

	if (slot < 0)
		return err_set(e, slot, "tenant '%s': no fair-queue slot left (at most %d tenants)",
			       name, FAIRQ_MAX_TENANTS);
	return slot;
}

int router_new(struct router **rp, struct fairq *q, struct err *e)
{
	struct router *r = mem_calloc(1, sizeof(*r));
	pthread_rwlockattr_t attr;
	int rc, slot;

	*rp = NULL;
	if (!r || !(r->table = mem_calloc(1, sizeof(*r->table)))) {
		mem_free(r);
		return err_set(e, -ENOMEM, "out of memory creating the router");
	}
	if ((slot = tenant_slot(q, META_UNASSIGNED, e)) < 0) {
		rc = slot;
		goto fail;
	}
	r->q = q;
	r->unassigned = (uint16_t)slot;
	r->table->fallback.tenant = r->unassigned;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = -pthread_rwlock_init(&r->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc < 0) {
		err_set(e, rc, "router lock: %s", strerror(-rc));
		goto fail;
	}
	*rp = r;
	return 0;
fail:
	table_free(r->table);
	mem_free(r);
	return rc;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	pthread_rwlock_destroy(&r->lock);
	table_free(r->table);
	mem_free(r);
}

/* ---- building a table ---- */

struct build {
	struct router *r;
	const struct config *c;
	struct rtable *t;
	int rc;   /* first error; later rows are skipped */
	struct err *e;
};

static int find_listener(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (!strcmp(c->listeners[i].name, name))
			return (int)i;
	return LISTENER_UNKNOWN;
}

static int compile_match(struct rsource *rs, const struct meta_source *s,
			 const struct config *c, struct err *e)
{
	if (s->cidr) {
		if (ipaddr_parse_cidr(&rs->net, &rs->prefix, s->cidr, strlen(s->cidr)) < 0)
			return err_set(e, -EINVAL, "source '%s': bad cidr '%s'", s->name, s->cidr);
		rs->has_cidr = true;
		rs->criteria++;
	}
	if (s->host) {
		rs->hlen = strlen(s->host);
		if (!(rs->host = mem_strndup(s->host, rs->hlen)))
			return err_set(e, -ENOMEM, "out of memory building the route table");
		for (size_t i = 0; i < rs->hlen; i++)
			if (rs->host[i] >= 'A' && rs->host[i] <= 'Z')
				rs->host[i] = (char)(rs->host[i] - 'A' + 'a');
		rs->criteria++;
	}
	rs->listener = LISTENER_ANY;
	if (s->listener) {
		rs->listener = find_listener(c, s->listener);
		if (rs->listener == LISTENER_UNKNOWN)
			log_warn("source '%s' names listener '%s', which is not in the configuration: "
				 "it matches nothing", s->name, s->listener);
		rs->criteria++;
	}
	return 0;
}

/*
 * Source names handed out in struct route live for the process (append-only, bounded by
 * ROUTE_SOURCE_NAMES_MAX), so a message routed before a reload still names its source.
 */
#define ROUTE_SOURCE_NAMES_MAX 65536
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char **names;
static size_t n_names, cap_names;

static const char *source_name(const char *name)
{
	const char *out = NULL;

	pthread_mutex_lock(&names_lock);
	for (size_t i = 0; i < n_names && !out; i++)
		if (!strcmp(names[i], name))
			out = names[i];
	if (!out && n_names < ROUTE_SOURCE_NAMES_MAX) {
		if (n_names == cap_names) {
			size_t cap = cap_names ? cap_names * 2 : 64;
			char **p = mem_realloc(names, cap * sizeof(*names));

			if (p) {
				names = p;
				cap_names = cap;
			}
		}
		if (n_names < cap_names && (names[n_names] = mem_strdup(name)))
			out = names[n_names++];
	}
	pthread_mutex_unlock(&names_lock);
	return out;
}

static void compile_parsing(struct rsource *rs, const struct meta_source *s,
			    const struct rtable *t)
{
	int format = decoder_find(s->format, strlen(s->format));
	struct err e = ERR_INIT;

	if (format < 0) {
		log_warn("source '%s': unknown format '%s', using auto", s->name, s->format);
		format = DECODER_AUTO;
	}
	rs->out.format = (uint8_t)format;
	rs->out.source = source_name(s->name);
	rs->out.tz = t->fallback.tz;
	if (s->tz) {
		const struct tz *z = tz_get(s->tz, strlen(s->tz), &e);

		if (z)
			rs->out.tz = z;
		else
			log_warn("source '%s': %s; using the default zone", s->name, e.msg);
	}
}

static int grow_sources(struct rtable *t, struct err *e)
{
	size_t cap = t->cap ? t->cap * 2 : 16;
	struct rsource *p;

	if (t->n == ROUTE_MAX_SOURCES)
		return err_set(e, -ENOSPC, "too many sources (at most %d)", ROUTE_MAX_SOURCES);
	if (!(p = mem_realloc(t->src, cap * sizeof(*p))))
		return err_set(e, -ENOMEM, "out of memory building the route table");
	t->src = p;
	t->cap = cap;
	return 0;
}

static void add_source(void *ctx, const struct meta_source *s)
{
	struct build *b = ctx;
	struct rtable *t = b->t;
	struct rsource *rs;
	int slot;

	if (b->rc < 0)
		return;
	if (t->n == t->cap && (b->rc = grow_sources(t, b->e)) < 0)
		return;
	rs = &t->src[t->n];
	memset(rs, 0, sizeof(*rs));
	t->n++; /* counted at once so table_free() releases what compile_match() allocated */
	rs->id = s->id;
	if ((b->rc = compile_match(rs, s, b->c, b->e)) < 0)
		return;
	if ((slot = tenant_slot(b->r->q, s->tenant, b->e)) < 0) {
		b->rc = slot;
		return;
	}
	rs->out.tenant = (uint16_t)slot;
	compile_parsing(rs, s, t);
}

static void apply_tenant_limit(void *ctx, const struct meta_tenant *tn)
{
	struct build *b = ctx;
	int slot;

	if (b->rc < 0)
		return;
	if ((slot = tenant_slot(b->r->q, tn->name, b->e)) < 0) {
		b->rc = slot;
		return;
	}
	fairq_set_eps(b->r->q, (unsigned)slot, config_tenant_eps(b->c, tn->name));
}

/* Most specific first: more criteria, then the longer prefix, then the older source. */
static int by_specificity(const void *pa, const void *pb)
{
	const struct rsource *a = pa, *b = pb;
	long pfa = a->has_cidr ? (long)a->prefix : -1, pfb = b->has_cidr ? (long)b->prefix : -1;

	if (a->criteria != b->criteria)
		return a->criteria > b->criteria ? -1 : 1;
	if (pfa != pfb)
		return pfa > pfb ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int build_lists(struct rtable *t, struct err *e)
{
	size_t used = 0;

	if (t->n == 0)
		return 0;
	qsort(t->src, t->n, sizeof(*t->src), by_specificity);
	t->pool = mem_calloc((t->n_listeners + 1) * t->n, sizeof(*t->pool));
	if (!t->pool)
		return err_set(e, -ENOMEM, "out of memory building the route table");
	for (size_t l = 0; l <= t->n_listeners; l++) {
		struct rlist *list = &t->lists[l];

		list->src = t->pool + used;
		for (size_t i = 0; i < t->n; i++) {
			int want = t->src[i].listener;

			if (want == LISTENER_ANY || (l < t->n_listeners && want == (int)l))
				list->src[list->n++] = &t->src[i];
		}
		used += list->n;
	}
	return 0;
}

static void default_zone(struct rtable *t, const struct config *c)
{
	struct err e = ERR_INIT;

	if (!c->timezone)
		return;
	t->fallback.tz = tz_get(c->timezone, strlen(c->timezone), &e);
	if (!t->fallback.tz)
		log_warn("configured timezone: %s; RFC 3164 stamps are read in the machine's zone", e.msg);
}

int router_reload(struct router *r, struct meta *m, const struct config *c, struct err *e)
{
	struct build b = { .r = r, .c = c, .e = e };
	struct rtable *old;
	int rc;

	if (!(b.t = mem_calloc(1, sizeof(*b.t))))
		return err_set(e, -ENOMEM, "out of memory building the route table");
	b.t->n_listeners = MIN(c->n_listeners, (size_t)CONFIG_MAX_LISTENERS);
	b.t->fallback.tenant = r->unassigned;
	b.t->fallback.format = DECODER_AUTO;
	b.t->fallback.source = NULL;
	default_zone(b.t, c);
	if ((rc = meta_source_list(m, NULL, add_source, &b, e)) < 0 || (rc = b.rc) < 0 ||
	    (rc = build_lists(b.t, e)) < 0)
		goto fail;
	fairq_set_eps(r->q, r->unassigned, config_tenant_eps(c, META_UNASSIGNED));
	if ((rc = meta_tenant_list(m, apply_tenant_limit, &b, e)) < 0 || (rc = b.rc) < 0)
		goto fail;

	pthread_rwlock_wrlock(&r->lock);
	old = r->table;
	r->table = b.t;
	pthread_rwlock_unlock(&r->lock);
	table_free(old);
	log_info("route table: %zu sources", b.t->n);
	return 0;
fail:
	table_free(b.t);
	return rc;
}

/* ---- routing (listener threads) ---- */

static bool host_equal(const struct rsource *s, const char *host, size_t hlen)
{
	if (hlen != s->hlen)
		return false;
	for (size_t i = 0; i < hlen; i++) {
		char c = host[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != s->host[i])
			return false;
	}
	return true;
}

void router_route(struct router *r, unsigned listener, const struct ipaddr *peer,
		  const char *msg, size_t len, struct route *out)
{
	const struct rtable *t;
	const struct rlist *list;
	const char *host = NULL;
	size_t hlen = 0;
	int peeked = 0; /* 0: not yet, 1: host found, -1: message has none */

	pthread_rwlock_rdlock(&r->lock);
	t = r->table;
	*out = t->fallback;
	list = &t->lists[listener < t->n_listeners ? listener : t->n_listeners];
	for (size_t i = 0; i < list->n; i++) {
		const struct rsource *s = list->src[i];

		if (s->has_cidr && (!peer || !ipaddr_in_prefix(peer, &s->net, s->prefix)))
			continue;
		if (s->host) {
			if (!peeked)
				peeked = syslog_peek_host(msg, len, &host, &hlen) ? 1 : -1;
			if (peeked < 0 || !host_equal(s, host, hlen))
				continue;
		}
		*out = s->out;
		break;
	}
	pthread_rwlock_unlock(&r->lock);
}
