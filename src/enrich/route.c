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
 * router_route() and router_explain() share one decision function (decide), so `koban
 * source test` answers with the code `serve` runs. A routed message is counted in its
 * slot's `routed` while the table's read lock is held: after a reload swapped the table, a
 * removed tenant's count no longer grows, which is what lets the fair queue free its slot
 * once every routed message has ended (fairq.h). A message that matched nothing also
 * counts its sender in a bounded table under its own mutex, taken only on that path.
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
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "portal/ingest.h"
#include "parse/syslog.h"
#include "store/meta.h"

#define ROUTE_MAX_SOURCES 65536

enum { LISTENER_ANY = -1, LISTENER_UNKNOWN = -2 };

struct rsource {
	int64_t id;
	char *name;         /* for explanations */
	char *tenant;
	char *text;         /* the source's criteria as the operator wrote them */
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

/* A sender whose messages matched no source (bounded table, see route.h). */
struct rsender {
	struct ipaddr addr;
	uint64_t count;     /* messages since the sender entered the table */
	uint64_t flushed;   /* part of count already written by router_flush() */
	int64_t last_ns;
	bool used;
};

struct router {
	pthread_rwlock_t lock;
	struct fairq *q;
	struct rtable *table;
	uint16_t unassigned;

	pthread_mutex_t senders_lock;
	struct rsender senders[ROUTER_SENDERS_MAX];
	uint64_t senders_evicted;   /* senders pushed out of the table by busier ones */

	/* Main thread (router_reload, router_flush): what was last written per slot. */
	uint64_t flushed[FAIRQ_MAX_TENANTS];
	unsigned flushed_gen[FAIRQ_MAX_TENANTS];
};

static void table_free(struct rtable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		mem_free(t->src[i].host);
		mem_free(t->src[i].name);
		mem_free(t->src[i].tenant);
		mem_free(t->src[i].text);
	}
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

/* ---- senders of unassigned messages ---- */

#define STR_(x) #x
#define STR(x) STR_(x)

#define SENDER_PROBES 8 /* entries a sender may occupy: its hash and the next 7 */

static unsigned sender_hash(const struct ipaddr *a)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(a->b); i++)
		h = (h ^ a->b[i]) * 16777619u;
	return h % ROUTER_SENDERS_MAX;
}

/*
 * Counts a message from peer that matched no source. A sender lives in one of the
 * SENDER_PROBES entries after its hash: found there it is counted; else it takes a free one
 * of them, or replaces the one of them with the fewest messages. So the cost is constant
 * (a flood of spoofed one-off addresses costs 8 comparisons each) and such a flood churns
 * the quiet entries without pushing out a steady sender. Any listener thread; only
 * messages that reach _unassigned take the lock.
 */
static void count_sender(struct router *r, const struct ipaddr *peer)
{
	unsigned h = sender_hash(peer);
	struct rsender *low = NULL, *hit = NULL;
	int64_t now = time_now_ns();

	pthread_mutex_lock(&r->senders_lock);
	for (unsigned k = 0; k < SENDER_PROBES; k++) {
		struct rsender *s = &r->senders[(h + k) % ROUTER_SENDERS_MAX];

		if (s->used && !memcmp(&s->addr, peer, sizeof(*peer))) {
			hit = s;
			break;
		}
		if (!low || (low->used && (!s->used || s->count < low->count)))
			low = s;
	}
	if (!hit) {
		hit = low;
		if (hit->used)
			r->senders_evicted++;
		*hit = (struct rsender){ .addr = *peer, .used = true };
	}
	hit->count++;
	hit->last_ns = now;
	pthread_mutex_unlock(&r->senders_lock);
}

/* Copies the used entries into out, busiest first; returns how many. */
static size_t senders_snapshot(struct router *r, struct rsender *out)
{
	size_t n = 0;

	pthread_mutex_lock(&r->senders_lock);
	for (size_t i = 0; i < ROUTER_SENDERS_MAX; i++)
		if (r->senders[i].used)
			out[n++] = r->senders[i];
	pthread_mutex_unlock(&r->senders_lock);
	return n;
}

static int by_count(const void *pa, const void *pb)
{
	const struct rsender *a = pa, *b = pb;

	return a->count > b->count ? -1 : a->count < b->count;
}

static int collect_senders(struct metrics_out *o, void *ctx)
{
	struct rsender *snap = mem_alloc(ROUTER_SENDERS_MAX * sizeof(*snap));
	size_t n;
	int rc = 0;

	if (!snap)
		return -ENOMEM;
	n = senders_snapshot(ctx, snap);
	qsort(snap, n, sizeof(*snap), by_count);
	for (size_t i = 0; i < n && i < ROUTER_SENDERS_METRICS && !rc; i++) {
		char addr[IPADDR_STRLEN];

		ipaddr_format(&snap[i].addr, addr);
		rc = metrics_sample(o, snap[i].count, "address", addr, NULL);
	}
	mem_free(snap);
	return rc;
}

static int collect_evicted(struct metrics_out *o, void *ctx)
{
	struct router *r = ctx;
	uint64_t n;

	pthread_mutex_lock(&r->senders_lock);
	n = r->senders_evicted;
	pthread_mutex_unlock(&r->senders_lock);
	return metrics_sample(o, n, NULL);
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
	pthread_mutex_init(&r->senders_lock, NULL);
	if ((rc = metrics_register("koban_unassigned_sender_messages", METRICS_GAUGE,
				   "Messages that matched no source, by sender address (the "
				   "busiest " STR(ROUTER_SENDERS_METRICS) ", counted since each "
				   "entered the table).", collect_senders, r)) < 0 ||
	    (rc = metrics_register("koban_unassigned_senders_evicted_total", METRICS_COUNTER,
				   "Unassigned senders replaced in the bounded table by new ones.",
				   collect_evicted, r)) < 0) {
		metrics_unregister(r);
		pthread_mutex_destroy(&r->senders_lock);
		pthread_rwlock_destroy(&r->lock);
		err_set(e, rc, "router metrics: %s", strerror(-rc));
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
	metrics_unregister(r);
	pthread_mutex_destroy(&r->senders_lock);
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
	bool used[FAIRQ_MAX_TENANTS]; /* slots of the tenants in the new table */
};

/* "listener 'tls', cidr 10.0.0.0/8, host 'fw1'": the criteria of s as written. */
static char *describe(const struct meta_source *s)
{
	char buf[512];
	int n = 0;

	buf[0] = '\0';
	if (s->listener)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "listener '%s'", s->listener);
	if (s->cidr)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%scidr %s", n ? ", " : "",
			      s->cidr);
	if (s->host && n < (int)sizeof(buf))
		snprintf(buf + n, sizeof(buf) - (size_t)n, "%shost '%s'", n ? ", " : "", s->host);
	return mem_strdup(buf);
}

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
		/* "api" is HTTP ingest's (portal/ingest.h): such a source matches no syslog */
		if (rs->listener == LISTENER_UNKNOWN && strcmp(s->listener, API_INGEST_LISTENER))
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
	if (!(rs->name = mem_strdup(s->name)) || !(rs->tenant = mem_strdup(s->tenant)) ||
	    !(rs->text = describe(s))) {
		b->rc = err_set(b->e, -ENOMEM, "out of memory building the route table");
		return;
	}
	if ((b->rc = compile_match(rs, s, b->c, b->e)) < 0)
		return;
	if ((slot = tenant_slot(b->r->q, s->tenant, b->e)) < 0) {
		b->rc = slot;
		return;
	}
	b->used[slot] = true;
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
	b->used[slot] = true;
	fairq_set_eps(b->r->q, (unsigned)slot, config_tenant_eps(b->c, tn->name));
}

/*
 * Most specific first: more criteria; then a listener before none (a dedicated listener
 * beats another tenant's CIDR); then the longer prefix (a CIDR before none, so before a
 * host name alone); then the older source.
 */
static int by_specificity(const void *pa, const void *pb)
{
	const struct rsource *a = pa, *b = pb;
	long pfa = a->has_cidr ? (long)a->prefix : -1, pfb = b->has_cidr ? (long)b->prefix : -1;
	bool la = a->listener != LISTENER_ANY, lb = b->listener != LISTENER_ANY;

	if (a->criteria != b->criteria)
		return a->criteria > b->criteria ? -1 : 1;
	if (la != lb)
		return la ? -1 : 1;
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

/* Builds b->t from m and b->c; 0, or an error with nothing built. */
static int build_table(struct build *b, struct meta *m)
{
	struct router *r = b->r;
	const struct config *c = b->c;
	int rc;

	if (!(b->t = mem_calloc(1, sizeof(*b->t))))
		return err_set(b->e, -ENOMEM, "out of memory building the route table");
	b->t->n_listeners = MIN(c->n_listeners, (size_t)CONFIG_MAX_LISTENERS);
	b->t->fallback.tenant = r->unassigned;
	b->t->fallback.format = DECODER_AUTO;
	b->t->fallback.source = NULL;
	default_zone(b->t, c);
	if ((rc = meta_source_list(m, NULL, add_source, b, b->e)) < 0 || (rc = b->rc) < 0 ||
	    (rc = build_lists(b->t, b->e)) < 0)
		goto fail;
	fairq_set_eps(r->q, r->unassigned, config_tenant_eps(c, META_UNASSIGNED));
	if ((rc = meta_tenant_list(m, apply_tenant_limit, b, b->e)) < 0 || (rc = b->rc) < 0)
		goto fail;
	return 0;
fail:
	table_free(b->t);
	b->t = NULL;
	return rc;
}

/*
 * Retires the slots of tenants the new table no longer has (the fair queue frees them at
 * a later reload once their messages are gone, see fairq.h); after the table swap.
 */
static void retire_removed(struct router *r, const struct build *b)
{
	unsigned n = fairq_slot_count(r->q);

	for (unsigned i = 0; i < n; i++)
		if (!b->used[i] && i != r->unassigned && fairq_slot_in_use(r->q, i))
			fairq_slot_retire(r->q, i);
}

int router_reload(struct router *r, struct meta *m, const struct config *c, struct err *e)
{
	struct build *bp = mem_calloc(1, sizeof(*bp));
	struct rtable *old;
	unsigned freed;
	int rc;

	if (!bp)
		return err_set(e, -ENOMEM, "out of memory building the route table");
	*bp = (struct build){ .r = r, .c = c, .e = e };
	/* Before the new tenants take slots, so they can have the freed ones. */
	if ((freed = fairq_reclaim(r->q)))
		log_info("freed the fair-queue slots of %u removed tenants", freed);
	rc = build_table(bp, m);
	if (rc == 0) {
		pthread_rwlock_wrlock(&r->lock);
		old = r->table;
		r->table = bp->t;
		pthread_rwlock_unlock(&r->lock);
		table_free(old);
		retire_removed(r, bp);
		log_info("route table: %zu sources", bp->t->n);
	}
	mem_free(bp);
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

/* A message as the router sees it, with its HOSTNAME peeked at most once. */
struct rmsg {
	unsigned listener;
	const struct ipaddr *peer;
	const char *msg;
	size_t len;
	const char *host;
	size_t hlen;
	int peeked; /* 0: not yet, 1: host found, -1: message has none */
};

static bool source_matches(const struct rsource *s, struct rmsg *m)
{
	if (s->has_cidr && (!m->peer || !ipaddr_in_prefix(m->peer, &s->net, s->prefix)))
		return false;
	if (s->host) {
		if (!m->peeked)
			m->peeked = syslog_peek_host(m->msg, m->len, &m->host, &m->hlen) ? 1 : -1;
		if (m->peeked < 0 || !host_equal(s, m->host, m->hlen))
			return false;
	}
	return true;
}

/*
 * The one routing decision, shared by router_route() and router_explain(): the index in
 * *list of the first (most specific) matching source, or -1 for _unassigned.
 */
static long decide(const struct rtable *t, struct rmsg *m, const struct rlist **list)
{
	*list = &t->lists[m->listener < t->n_listeners ? m->listener : t->n_listeners];
	for (size_t i = 0; i < (*list)->n; i++)
		if (source_matches((*list)->src[i], m))
			return (long)i;
	return -1;
}

void router_route(struct router *r, unsigned listener, const struct ipaddr *peer,
		  const char *msg, size_t len, struct route *out)
{
	struct rmsg m = { .listener = listener, .peer = peer, .msg = msg, .len = len };
	const struct rlist *list;
	long hit;

	pthread_rwlock_rdlock(&r->lock);
	hit = decide(r->table, &m, &list);
	*out = hit < 0 ? r->table->fallback : list->src[hit]->out;
	/* Under the table's lock: the quiescence rule of fairq.h depends on it. */
	atomic_fetch_add_explicit(&fairq_stats(r->q, out->tenant)->routed, 1,
				  memory_order_relaxed);
	pthread_rwlock_unlock(&r->lock);
	if (hit < 0 && peer)
		count_sender(r, peer);
}

static void explain_source(struct route_explain *x, const struct rsource *s)
{
	snprintf(x->source, sizeof(x->source), "%s", s->name);
	snprintf(x->tenant, sizeof(x->tenant), "%s", s->tenant);
	snprintf(x->criteria, sizeof(x->criteria), "%s", s->text);
}

void router_explain(struct router *r, unsigned listener, const struct ipaddr *peer,
		    const char *msg, size_t len, struct route_explain *x)
{
	struct rmsg m = { .listener = listener, .peer = peer, .msg = msg, .len = len };
	const struct rlist *list;
	long hit;

	memset(x, 0, sizeof(*x));
	pthread_rwlock_rdlock(&r->lock);
	hit = decide(r->table, &m, &list);
	x->candidates = list->n;
	if (hit < 0) {
		snprintf(x->tenant, sizeof(x->tenant), "%s", META_UNASSIGNED);
	} else {
		explain_source(x, list->src[hit]);
		x->route = list->src[hit]->out;
		/* The other sources that match too, and lose on specificity. */
		for (size_t i = (size_t)hit + 1; i < list->n && x->n_losers < ROUTE_EXPLAIN_LOSERS;
		     i++) {
			if (!source_matches(list->src[i], &m))
				continue;
			snprintf(x->losers[x->n_losers], sizeof(x->losers[0]), "%s (tenant %s: %s)",
				 list->src[i]->name, list->src[i]->tenant, list->src[i]->text);
			x->n_losers++;
		}
	}
	if (hit < 0)
		x->route = r->table->fallback;
	pthread_rwlock_unlock(&r->lock);
}

/* ---- persisting what was seen (main thread) ---- */

/* After a commit: the part of each sender's count that is now written. */
static void mark_flushed(struct router *r, const struct rsender *snap, size_t n)
{
	pthread_mutex_lock(&r->senders_lock);
	for (size_t k = 0; k < n; k++) {
		unsigned h = sender_hash(&snap[k].addr);

		for (unsigned i = 0; i < SENDER_PROBES; i++) {
			struct rsender *s = &r->senders[(h + i) % ROUTER_SENDERS_MAX];

			if (s->used && !memcmp(&s->addr, &snap[k].addr, sizeof(s->addr))) {
				s->flushed = MIN(s->count, snap[k].count);
				break;
			}
		}
	}
	pthread_mutex_unlock(&r->senders_lock);
}

int router_flush(struct router *r, struct meta *m, struct err *e)
{
	struct rsender *snap = mem_alloc(ROUTER_SENDERS_MAX * sizeof(*snap));
	uint64_t *next = mem_alloc(FAIRQ_MAX_TENANTS * sizeof(*next));
	unsigned n_slots = fairq_slot_count(r->q);
	int64_t now = time_now_ns();
	size_t n = 0;
	int rc;

	if (!snap || !next) {
		rc = err_set(e, -ENOMEM, "out of memory saving tenant activity");
		goto out;
	}
	memcpy(next, r->flushed, sizeof(r->flushed));
	if ((rc = meta_begin(m, e)) < 0)
		goto out;
	for (unsigned i = 0; i < n_slots && rc == 0; i++) {
		uint64_t routed = atomic_load_explicit(&fairq_stats(r->q, i)->routed,
						       memory_order_relaxed);
		unsigned gen = fairq_slot_gen(r->q, i);

		if (gen != r->flushed_gen[i]) {
			r->flushed_gen[i] = gen; /* another tenant's slot now: start from zero */
			r->flushed[i] = next[i] = 0;
		}
		if (!fairq_slot_in_use(r->q, i) || routed <= next[i])
			continue;
		rc = meta_activity_add(m, fairq_slot_name(r->q, i), (int64_t)(routed - next[i]),
				       now, e);
		if (rc == -ENOENT)
			rc = 0; /* removed since the last reload: nothing to keep */
		next[i] = routed;
	}
	n = senders_snapshot(r, snap);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char addr[IPADDR_STRLEN];

		if (snap[i].count <= snap[i].flushed)
			continue;
		ipaddr_format(&snap[i].addr, addr);
		rc = meta_sender_add(m, addr, (int64_t)(snap[i].count - snap[i].flushed),
				     snap[i].last_ns, e);
	}
	if (rc < 0) {
		meta_rollback(m);
		goto out;
	}
	if ((rc = meta_commit(m, e)) < 0)
		goto out;
	memcpy(r->flushed, next, sizeof(r->flushed));
	mark_flushed(r, snap, n);
out:
	mem_free(next);
	mem_free(snap);
	return rc;
}
