/*
 * tisnap.c - the indicator snapshot: records, a string pool and one hash table over
 * (scope, type, prefix, key), built once and then only read.
 */
#include "enrich/tisnap.h"
#include "core/compat.h"

#include <stdatomic.h>
#include <time.h>

#define LOG_MODULE "ti"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/meta.h"

#define POOL_MAX ((size_t)UINT32_MAX)  /* offsets are 32-bit */
#define SCOPES_MAX 65535
#define PREFIX_WORDS 3                 /* bits for prefix lengths 0-128 */
#define DOMAIN_MAX 253
#define SLOT_TAG UINT64_C(0xffffffff00000000) /* a slot's bits of the key hash */
#define NET_FILTER_MIN 1024       /* bits of the network filter: 16 per network */
#define NET_FILTER_MAX ((size_t)1 << 28)

struct rec {
	uint32_t text;     /* the canonical value in the pool, NUL-ended */
	uint32_t key;      /* the key bytes in the pool (networks: 16 bytes; else = text) */
	uint32_t scope;    /* index in scopes; 0: global */
	uint16_t key_len;
	uint16_t source;
	uint8_t type;
	uint8_t prefix;    /* networks: 0-128 bits of the 128-bit form; else 0 */
	int8_t confidence;
	int64_t expires_ns;
	int64_t id;
};

struct scope {
	char *name;                      /* NULL for the global scope */
	uint64_t prefixes[PREFIX_WORDS]; /* prefix lengths of its networks */
};

struct ti_snapshot {
	struct rec *recs;
	size_t n, rec_cap;
	char *pool;
	size_t pool_len, pool_cap;
	uint64_t *slots;        /* the key hash's top 32 bits, rec index + 1; 0: empty */
	size_t mask;            /* slots - 1 */
	char **sources;
	size_t n_sources, source_cap;
	struct scope *scopes;   /* [0]: global */
	size_t n_scopes, scope_cap;
	uint32_t *by_name;      /* tenant scopes sorted by name */
	uint64_t *netbits;      /* a filter of the networks' keys: most lengths miss here */
	size_t netmask;         /* bits - 1 */
	size_t expired;
};

struct ti_builder {
	struct ti_snapshot *s;
	int64_t now_ns;
	size_t last_source, last_scope; /* imports come in runs of one source and scope */
};

/* Grows *p (of *cap elements of size) to hold need; 0 or -ENOMEM/-E2BIG past max. */
static int grow(void **p, size_t *cap, size_t need, size_t size, size_t max)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	while (n < need)
		n = n > max / 2 ? max : n * 2;
	if (!(q = mem_realloc(*p, n * size)))
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int pool_add(struct ti_snapshot *s, const void *data, size_t len, bool nul, uint32_t *off)
{
	size_t need = s->pool_len + len + nul;
	int rc;

	if ((rc = grow((void **)&s->pool, &s->pool_cap, need, 1, POOL_MAX)) < 0)
		return rc;
	*off = (uint32_t)s->pool_len;
	memcpy(s->pool + s->pool_len, data, len);
	if (nul)
		s->pool[s->pool_len + len] = '\0';
	s->pool_len = need;
	return 0;
}

/* ---- hashing ---- */

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return h;
}

/* 8 bytes at a time (keys are canonical text or 16 address bytes). */
static uint64_t key_hash(uint32_t scope, unsigned type, unsigned prefix, const void *key,
			 size_t len)
{
	const unsigned char *k = key;
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)scope << 16 | type << 8 | prefix);
	uint64_t w;

	for (; len >= 8; k += 8, len -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, k, len);
	h = (h ^ w ^ (uint64_t)len << 56) * UINT64_C(0xc4ceb9fe1a85ec53);
	return mix(h);
}

static uint64_t rec_hash(const struct ti_snapshot *s, const struct rec *r)
{
	return key_hash(r->scope, r->type, r->prefix, s->pool + r->key, r->key_len);
}

/* ---- building ---- */

int ti_builder_new(struct ti_builder **bp, int64_t now_ns, struct err *e)
{
	struct ti_builder *b = mem_calloc(1, sizeof(*b));

	*bp = NULL;
	if (!b || !(b->s = mem_calloc(1, sizeof(*b->s))) ||
	    grow((void **)&b->s->scopes, &b->s->scope_cap, 1, sizeof(struct scope), 1) < 0) {
		ti_builder_free(b);
		return err_set(e, -ENOMEM, "out of memory for the indicator snapshot");
	}
	b->s->n_scopes = 1; /* global */
	memset(b->s->scopes, 0, sizeof(struct scope));
	b->now_ns = now_ns;
	*bp = b;
	return 0;
}

void ti_builder_free(struct ti_builder *b)
{
	if (!b)
		return;
	ti_snapshot_free(b->s);
	mem_free(b);
}

/* The index of name in names[0..*n) (the last hit first, then a linear search), added if new. */
static int intern(char ***names, size_t *n, size_t *cap, size_t *last, const char *name,
		  size_t max, size_t *index)
{
	char *copy;
	int rc;

	if (*last < *n && !strcmp((*names)[*last], name)) {
		*index = *last;
		return 0;
	}
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*names)[i], name)) {
			*index = *last = i;
			return 0;
		}
	if ((rc = grow((void **)names, cap, *n + 1, sizeof(char *), max)) < 0)
		return rc;
	if (!(copy = mem_strdup(name)))
		return -ENOMEM;
	(*names)[*n] = copy;
	*index = *last = (*n)++;
	return 0;
}

static int scope_of(struct ti_builder *b, const char *tenant, size_t *index)
{
	struct ti_snapshot *s = b->s;
	int rc;

	*index = 0;
	if (!tenant)
		return 0;
	if (b->last_scope && b->last_scope < s->n_scopes &&
	    !strcmp(s->scopes[b->last_scope].name, tenant)) {
		*index = b->last_scope;
		return 0;
	}
	for (size_t i = 1; i < s->n_scopes; i++)
		if (!strcmp(s->scopes[i].name, tenant)) {
			*index = b->last_scope = i;
			return 0;
		}
	if ((rc = grow((void **)&s->scopes, &s->scope_cap, s->n_scopes + 1, sizeof(struct scope),
		       SCOPES_MAX)) < 0)
		return rc;
	memset(&s->scopes[s->n_scopes], 0, sizeof(struct scope));
	if (!(s->scopes[s->n_scopes].name = mem_strdup(tenant)))
		return -ENOMEM;
	*index = b->last_scope = s->n_scopes++;
	return 0;
}

/* Fills r's key: networks as 16 bytes and a prefix, other types their canonical text. */
static int rec_key(struct ti_snapshot *s, struct rec *r, const char *value, struct err *e)
{
	struct ipaddr net;
	unsigned prefix;
	uint32_t off;
	int rc;

	if (r->type != TI_IP) {
		r->key = r->text;
		r->key_len = (uint16_t)strlen(value);
		return 0;
	}
	if (ipaddr_parse_cidr(&net, &prefix, value, strlen(value)) < 0)
		return err_set(e, -EINVAL, "indicator ip '%s': not an address or network", value);
	if ((rc = pool_add(s, net.b, sizeof(net.b), false, &off)) < 0)
		return err_set(e, rc, "indicator snapshot: %s", strerror(-rc));
	r->key = off;
	r->key_len = sizeof(net.b);
	r->prefix = (uint8_t)prefix;
	s->scopes[r->scope].prefixes[prefix / 64] |= UINT64_C(1) << (prefix % 64);
	return 0;
}

int ti_builder_add(struct ti_builder *b, const struct meta_indicator *ind, struct err *e)
{
	struct ti_snapshot *s = b->s;
	size_t source, scope, len = ind->value ? strlen(ind->value) : 0;
	enum ti_type type;
	struct rec r = { .confidence = (int8_t)ind->confidence, .expires_ns = ind->expires_ns,
			 .id = ind->id };
	int rc;

	if (!ind->type || ti_type_parse(ind->type, strlen(ind->type), &type) < 0 || len == 0 ||
	    len > TI_VALUE_MAX)
		return err_set(e, -EINVAL, "indicator %lld: bad type or value", (long long)ind->id);
	if (ind->expires_ns && ind->expires_ns <= b->now_ns) {
		s->expired++;
		return 0;
	}
	r.type = (uint8_t)type;
	if ((rc = grow((void **)&s->recs, &s->rec_cap, s->n + 1, sizeof(struct rec),
		       TI_SNAPSHOT_MAX)) < 0 ||
	    (rc = intern(&s->sources, &s->n_sources, &s->source_cap, &b->last_source,
			 ind->source, TI_SOURCES_MAX, &source)) < 0 ||
	    (rc = scope_of(b, ind->tenant, &scope)) < 0 ||
	    (rc = pool_add(s, ind->value, len, true, &r.text)) < 0)
		return err_set(e, rc, "indicator snapshot: %s", rc == -E2BIG ?
			       "over its limits (16M indicators, 65,535 sources, 4 GiB)" :
			       strerror(-rc));
	r.source = (uint16_t)source;
	r.scope = (uint32_t)scope;
	if ((rc = rec_key(s, &r, ind->value, e)) < 0)
		return rc;
	s->recs[s->n++] = r;
	return 0;
}

static int by_name_cmp(const void *a, const void *b, void *ctx)
{
	const struct ti_snapshot *s = ctx;

	return strcmp(s->scopes[*(const uint32_t *)a].name, s->scopes[*(const uint32_t *)b].name);
}

static bool is_network(const struct rec *r)
{
	return r->type == TI_IP && r->prefix < 128;
}

/*
 * An address is looked up once per prefix length its scope has; the filter (a bit per
 * network key hash) answers most of those lookups without touching the table.
 */
static int build_net_filter(struct ti_snapshot *s)
{
	size_t nets = 0, bits = NET_FILTER_MIN;

	for (size_t i = 0; i < s->n; i++)
		nets += is_network(&s->recs[i]);
	while (bits < 16 * nets && bits < NET_FILTER_MAX)
		bits *= 2;
	if (!(s->netbits = mem_calloc(bits / 64, sizeof(uint64_t))))
		return -ENOMEM;
	s->netmask = bits - 1;
	for (size_t i = 0; i < s->n; i++)
		if (is_network(&s->recs[i])) {
			size_t bit = rec_hash(s, &s->recs[i]) & s->netmask;

			s->netbits[bit / 64] |= UINT64_C(1) << (bit % 64);
		}
	return 0;
}

/* The hash table (at most half full) and the tenant index. */
static int build_tables(struct ti_snapshot *s)
{
	size_t cap = 16;

	while (cap < 2 * s->n)
		cap *= 2;
	if (!(s->slots = mem_calloc(cap, sizeof(*s->slots))) ||
	    !(s->by_name = mem_calloc(s->n_scopes, sizeof(*s->by_name))))
		return -ENOMEM;
	s->mask = cap - 1;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t h = rec_hash(s, &s->recs[i]);
		size_t at = h & s->mask;

		while (s->slots[at])
			at = (at + 1) & s->mask;
		s->slots[at] = (h & SLOT_TAG) | ((uint64_t)i + 1);
	}
	if (build_net_filter(s) < 0)
		return -ENOMEM;
	for (size_t i = 1; i < s->n_scopes; i++)
		s->by_name[i - 1] = (uint32_t)i;
	qsort_r(s->by_name, s->n_scopes - 1, sizeof(*s->by_name), by_name_cmp, s);
	return 0;
}

int ti_builder_finish(struct ti_builder *b, struct ti_snapshot **out, struct err *e)
{
	int rc = build_tables(b->s);

	*out = NULL;
	if (rc < 0) {
		ti_builder_free(b);
		return err_set(e, rc, "out of memory for the indicator snapshot");
	}
	*out = b->s;
	mem_free(b);
	return 0;
}

void ti_snapshot_free(struct ti_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_sources; i++)
		mem_free(s->sources[i]);
	for (size_t i = 1; i < s->n_scopes; i++)
		mem_free(s->scopes[i].name);
	mem_free(s->sources);
	mem_free(s->scopes);
	mem_free(s->by_name);
	mem_free(s->netbits);
	mem_free(s->slots);
	mem_free(s->recs);
	mem_free(s->pool);
	mem_free(s);
}

struct load_ctx {
	struct ti_builder *b;
	struct err *e;
	int rc;
};

static void load_row(void *ctx, const struct meta_indicator *ind)
{
	struct load_ctx *l = ctx;

	if (l->rc == 0)
		l->rc = ti_builder_add(l->b, ind, l->e);
}

int ti_snapshot_load(struct meta *m, int64_t now_ns, struct ti_snapshot **s, struct err *e)
{
	struct meta_indicator_filter every = { .scope = META_TI_EVERY };
	struct load_ctx l = { .e = e };
	int rc;

	*s = NULL;
	if ((rc = ti_builder_new(&l.b, now_ns, e)) < 0)
		return rc;
	rc = meta_indicator_list(m, &every, load_row, &l, e);
	if ((rc = err_first(rc, l.rc)) < 0) {
		ti_builder_free(l.b);
		return rc;
	}
	return ti_builder_finish(l.b, s, e);
}

void ti_snapshot_stats(const struct ti_snapshot *s, struct ti_snapshot_stats *st)
{
	st->indicators = s->n;
	st->expired = s->expired;
	st->bytes = sizeof(*s) + s->rec_cap * sizeof(struct rec) + s->pool_cap +
		    (s->mask + 1) * sizeof(*s->slots) + s->source_cap * sizeof(char *) +
		    s->scope_cap * sizeof(struct scope) + s->n_scopes * sizeof(uint32_t) +
		    (s->netmask + 1) / 8;
	for (size_t i = 0; i < s->n_sources; i++)
		st->bytes += strlen(s->sources[i]) + 1;
	for (size_t i = 1; i < s->n_scopes; i++)
		st->bytes += strlen(s->scopes[i].name) + 1;
}

/* ---- lookup ---- */

struct query {
	const struct ti_snapshot *s;
	void (*fn)(void *ctx, const struct ti_match *m);
	void *ctx;
	int64_t now_ns;  /* read when the first candidate has an expiry */
	size_t found;
};

static void found(struct query *q, const struct rec *r)
{
	const struct ti_snapshot *s = q->s;
	struct ti_match m = {
		.type = (enum ti_type)r->type, .value = s->pool + r->text,
		.source = s->sources[r->source], .tenant = s->scopes[r->scope].name,
		.confidence = r->confidence, .expires_ns = r->expires_ns, .id = r->id,
	};

	if (r->expires_ns) {
		if (!q->now_ns)
			q->now_ns = time_now_ns();
		if (r->expires_ns <= q->now_ns)
			return;
	}
	q->found++;
	if (q->fn)
		q->fn(q->ctx, &m);
}

/* Every record of (scope, type, prefix, key), whose hash is h. */
static void find_hashed(struct query *q, uint64_t h, uint32_t scope, enum ti_type type,
			unsigned prefix, const void *key, size_t len)
{
	const struct ti_snapshot *s = q->s;

	for (size_t at = h & s->mask; s->slots[at]; at = (at + 1) & s->mask) {
		const struct rec *r;

		if ((s->slots[at] & SLOT_TAG) != (h & SLOT_TAG))
			continue; /* another key: its record is not read */
		r = &s->recs[(uint32_t)s->slots[at] - 1];

		if (r->scope == scope && r->type == type && r->prefix == prefix &&
		    r->key_len == len && !memcmp(s->pool + r->key, key, len))
			found(q, r);
	}
}

static void find(struct query *q, uint32_t scope, enum ti_type type, unsigned prefix,
		 const void *key, size_t len)
{
	find_hashed(q, key_hash(scope, type, prefix, key, len), scope, type, prefix, key, len);
}

/* Listed networks (and the address) holding ip/prefix: those of a length up to prefix. */
static void find_ip(struct query *q, uint32_t scope, const struct ipaddr *ip, unsigned prefix)
{
	const struct ti_snapshot *s = q->s;
	const uint64_t *lengths = s->scopes[scope].prefixes;
	struct ipaddr net = *ip;

	if (prefix == 128 && lengths[2] & 1) /* the address itself */
		find(q, scope, TI_IP, 128, ip->b, sizeof(ip->b));
	/* from the longest prefix down, clearing one more bit each step */
	for (int p = 127; p >= 0; p--) {
		uint64_t h;
		size_t bit;

		net.b[p / 8] &= (uint8_t)~(0x80u >> (p % 8));
		if ((unsigned)p > prefix || !(lengths[p / 64] >> (p % 64) & 1))
			continue;
		h = key_hash(scope, TI_IP, (unsigned)p, net.b, sizeof(net.b));
		bit = h & s->netmask;
		if (s->netbits[bit / 64] >> (bit % 64) & 1)
			find_hashed(q, h, scope, TI_IP, (unsigned)p, net.b, sizeof(net.b));
	}
}

/* The listed domain and each parent: "a.b.example" looks up a.b.example, b.example, example. */
static void find_domain(struct query *q, uint32_t scope, const char *d, size_t len)
{
	for (size_t at = 0; at < len;) {
		const char *dot = memchr(d + at, '.', len - at);

		find(q, scope, TI_DOMAIN, 0, d + at, len - at);
		if (!dot)
			break;
		at = (size_t)(dot - d) + 1;
	}
}

/* The tenant's scope index, 0 when it has no indicators (or tenant is NULL). */
static uint32_t tenant_scope(const struct ti_snapshot *s, const char *tenant)
{
	size_t lo = 0, hi = s->n_scopes - 1;

	if (!tenant)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(tenant, s->scopes[s->by_name[mid]].name);

		if (c == 0)
			return s->by_name[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* Lower-cases a host name into out[DOMAIN_MAX + 1] without its trailing dot; 0 if too long. */
static size_t fold_domain(const char *v, size_t len, char *out)
{
	if (len && v[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		out[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
	return len;
}

static void find_in_scope(struct query *q, uint32_t scope, enum ti_type type,
			  const struct ipaddr *ip, unsigned prefix, const char *key, size_t len)
{
	if (type == TI_IP)
		find_ip(q, scope, ip, prefix);
	else if (type == TI_DOMAIN)
		find_domain(q, scope, key, len);
	else
		find(q, scope, type, 0, key, len);
}

size_t ti_lookup(const struct ti_snapshot *s, const char *tenant, enum ti_type type,
		 const char *value, size_t len,
		 void (*fn)(void *ctx, const struct ti_match *m), void *ctx)
{
	struct query q = { .s = s, .fn = fn, .ctx = ctx };
	char key[TI_VALUE_BUF];
	struct ipaddr ip;
	unsigned prefix = 128;
	uint32_t scope;
	size_t n = 0;

	if (s->n == 0)
		return 0;
	if (type == TI_IP) {
		if (ipaddr_parse_cidr(&ip, &prefix, value, len) < 0)
			return 0;
	} else if (type == TI_DOMAIN) {
		if (!(n = fold_domain(value, len, key)))
			return 0;
	} else if (ti_normalize(type, value, len, key, &n, NULL) < 0) {
		return 0;
	}
	find_in_scope(&q, 0, type, &ip, prefix, key, n);
	if ((scope = tenant_scope(s, tenant)))
		find_in_scope(&q, scope, type, &ip, prefix, key, n);
	return q.found;
}

/* ---- publication ---- */

struct reader_slot {
	_Atomic(struct ti_snapshot *) held;
	char pad[64 - sizeof(void *)]; /* one cache line per reader */
};

struct ti_live {
	_Atomic(struct ti_snapshot *) cur;
	unsigned n;
	struct reader_slot *slot;
};

int ti_live_new(struct ti_live **lp, unsigned readers, struct err *e)
{
	struct ti_live *l = mem_calloc(1, sizeof(*l));
	struct ti_builder *b = NULL;
	struct ti_snapshot *empty = NULL;
	int rc;

	*lp = NULL;
	if (!l || !(l->slot = mem_calloc(readers ? readers : 1, sizeof(*l->slot)))) {
		rc = err_set(e, -ENOMEM, "out of memory for the indicator snapshot");
		goto fail;
	}
	if ((rc = ti_builder_new(&b, 0, e)) < 0 || (rc = ti_builder_finish(b, &empty, e)) < 0)
		goto fail;
	l->n = readers;
	for (unsigned i = 0; i < readers; i++)
		atomic_init(&l->slot[i].held, NULL);
	atomic_init(&l->cur, empty);
	*lp = l;
	return 0;
fail:
	if (l)
		mem_free(l->slot);
	mem_free(l);
	return rc;
}

void ti_live_free(struct ti_live *l)
{
	if (!l)
		return;
	ti_snapshot_free(atomic_load(&l->cur));
	mem_free(l->slot);
	mem_free(l);
}

const struct ti_snapshot *ti_live_enter(struct ti_live *l, unsigned reader)
{
	struct ti_snapshot *s;

	/* published before use, and checked again: a swap in between is seen and retried */
	do {
		s = atomic_load(&l->cur);
		atomic_store(&l->slot[reader].held, s);
	} while (s != atomic_load(&l->cur));
	return s;
}

void ti_live_leave(struct ti_live *l, unsigned reader)
{
	atomic_store(&l->slot[reader].held, NULL);
}

void ti_live_swap(struct ti_live *l, struct ti_snapshot *fresh)
{
	struct ti_snapshot *old = atomic_exchange(&l->cur, fresh);

	for (unsigned i = 0; i < l->n; i++)
		while (atomic_load(&l->slot[i].held) == old)
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	ti_snapshot_free(old);
}
