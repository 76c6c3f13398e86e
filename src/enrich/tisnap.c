/*
 * tisnap.c - the indicator snapshot: records, a string pool, one hash table over
 * (type, key) with a filter in front of it, and per scope the networks as a forest of
 * nested ranges; built once and then only read.
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
#define DOMAIN_MAX 253
#define DOMAIN_LABELS ((DOMAIN_MAX + 1) / 2) /* suffixes of a host name at most */
#define SLOT_TAG UINT64_C(0xffffffff00000000) /* a slot's bits of the key hash */
#define FILTER_WORDS_MIN 16
#define FILTER_WORDS_MAX ((size_t)1 << 26)
#define NET_NONE UINT32_MAX             /* no network */
#define NET_DEPTH 129                   /* nested networks: one per prefix length 0-127 */
#define BUCKET_BITS_MAX 18              /* of the IPv4 range index */
#define HASH_AHEAD 16                   /* keys hashed ahead of their slot's write */

/* An address's key: an IP's 16 bytes follow its text's NUL in the pool. */
#define IP_KEY_LEN 16

struct rec {
	uint32_t text;     /* the canonical value in the pool, NUL-ended (an ip's 16 bytes next) */
	uint32_t scope;    /* index in scopes; 0: global */
	uint16_t len;      /* of text */
	uint16_t source;
	uint8_t type;
	uint8_t prefix;    /* ip: 0-128 bits of the 128-bit form; else 0 */
	int8_t confidence;
	int64_t expires_ns;
	int64_t id;
};

/* A listed network (all the records of one ADDR/LEN in one scope). */
struct netnode {
	uint32_t parent;   /* the network holding it, NET_NONE: none */
	uint32_t first;    /* its records: nets.recs[first, first + count) */
	uint32_t count;
	uint8_t prefix;
};

/* From start up to the next range's start, node is the innermost network holding it. */
struct range4 {
	uint32_t start;    /* the IPv4 address */
	uint32_t node;
};

struct range6 {
	uint64_t hi, lo;   /* the 128-bit address */
	uint32_t node;
};

/*
 * One scope's networks. Listed networks nest or are disjoint, so they form a forest: the
 * address space cut where a network starts or ends gives at most 2n + 1 ranges, each with
 * its innermost network; the others holding an address are that network's ancestors. An
 * address is one binary search (IPv4: within a bucket of its leading bits) whatever the
 * number of prefix lengths listed.
 */
struct nets {
	struct netnode *node;
	uint32_t *recs;     /* record indices, node by node */
	struct range4 *v4;  /* the ::ffff:0:0/96 block as IPv4 addresses */
	uint32_t *bucket;   /* [k]: the last v4 range starting at or before k << shift */
	struct range6 *v6;  /* every other address */
	size_t n_nodes, n_v4, n_v6;
	unsigned shift;
};

struct scope {
	char *name;        /* NULL for the global scope */
	struct nets nets;
};

struct ti_snapshot {
	struct rec *recs;
	size_t n, rec_cap;
	char *pool;
	size_t pool_len, pool_cap;
	uint64_t *slots;        /* the key hash's top 32 bits, rec index + 1; 0: empty */
	size_t mask;            /* slots - 1 */
	uint64_t *filter;       /* two bits per hashed key in one word: most misses stop here */
	size_t filter_mask;     /* words - 1 */
	char **sources;
	size_t n_sources, source_cap;
	struct scope *scopes;   /* [0]: global */
	size_t n_scopes, scope_cap;
	uint64_t domain_labels; /* bit n: a domain of n labels is listed (63: 63 or more) */
	uint32_t *by_name;      /* tenant scopes hashed by name: scope index, 0: empty */
	size_t name_mask;       /* by_name's slots - 1 */
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

static bool is_network(const struct rec *r)
{
	return r->type == TI_IP && r->prefix < 128;
}

/* The bytes a record is found by: an ip's 16 address bytes, else its canonical text. */
static const char *rec_key(const struct ti_snapshot *s, const struct rec *r, size_t *len)
{
	*len = r->type == TI_IP ? IP_KEY_LEN : r->len;
	return s->pool + r->text + (r->type == TI_IP ? r->len + 1u : 0);
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
static uint64_t key_hash(unsigned type, const void *key, size_t len)
{
	const unsigned char *k = key;
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ type;
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
	size_t len;
	const char *key = rec_key(s, r, &len);

	return key_hash(r->type, key, len);
}

/* The filter's two bits of h, in the word filter_word() gives. */
static uint64_t filter_bits(uint64_t h)
{
	return UINT64_C(1) << (h & 63) | UINT64_C(1) << (h >> 6 & 63);
}

static size_t filter_word(const struct ti_snapshot *s, uint64_t h)
{
	return (size_t)(h >> 24) & s->filter_mask;
}

static bool filter_maybe(const struct ti_snapshot *s, uint64_t h)
{
	uint64_t bits = filter_bits(h);

	return (s->filter[filter_word(s, h)] & bits) == bits;
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

/* Puts r's text in the pool, and an ip's 16 address bytes right after it. */
static int rec_text(struct ti_snapshot *s, struct rec *r, const char *value, size_t len,
		    struct err *e)
{
	struct ipaddr net;
	unsigned prefix;
	uint32_t off;
	int rc;

	if (r->type == TI_IP && ipaddr_parse_cidr(&net, &prefix, value, len) < 0)
		return err_set(e, -EINVAL, "indicator ip '%s': not an address or network", value);
	if ((rc = pool_add(s, value, len, true, &r->text)) < 0 ||
	    (r->type == TI_IP && (rc = pool_add(s, net.b, sizeof(net.b), false, &off)) < 0))
		return err_set(e, rc, "indicator snapshot: %s", rc == -E2BIG ?
			       "over its limits (16M indicators, 65,535 sources, 4 GiB)" :
			       strerror(-rc));
	r->len = (uint16_t)len;
	r->prefix = r->type == TI_IP ? (uint8_t)prefix : 0;
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
	    (rc = scope_of(b, ind->tenant, &scope)) < 0)
		return err_set(e, rc, "indicator snapshot: %s", rc == -E2BIG ?
			       "over its limits (16M indicators, 65,535 sources, 4 GiB)" :
			       strerror(-rc));
	r.source = (uint16_t)source;
	r.scope = (uint32_t)scope;
	if ((rc = rec_text(s, &r, ind->value, len, e)) < 0)
		return rc;
	s->recs[s->n++] = r;
	return 0;
}

/* The bit of domain_labels for a name of n labels. */
static uint64_t labels_bit(size_t n)
{
	return UINT64_C(1) << (n < 63 ? n : 63);
}

static size_t count_labels(const char *d, size_t len)
{
	size_t n = 1;

	for (const char *dot = d; (dot = memchr(dot, '.', len - (size_t)(dot - d))); dot++)
		n++;
	return n;
}

/* A key hashed, its slot not yet written. */
struct pending {
	uint64_t h;
	uint32_t rec;
};

static void slot_put(struct ti_snapshot *s, const struct pending *p)
{
	size_t at;

	for (at = p->h & s->mask; s->slots[at]; at = (at + 1) & s->mask)
		;
	s->slots[at] = (p->h & SLOT_TAG) | ((uint64_t)p->rec + 1);
	s->filter[filter_word(s, p->h)] |= filter_bits(p->h);
}

/*
 * The hash table (at most half full) of every record but the networks, and its filter
 * (8 to 16 bits per key): a key that is not listed mostly costs one word of it.
 */
static int build_hash(struct ti_snapshot *s)
{
	struct pending ahead[HASH_AHEAD];
	size_t cap = 16, words = FILTER_WORDS_MIN, keys = 0, n = 0;

	for (size_t i = 0; i < s->n; i++)
		keys += !is_network(&s->recs[i]);
	while (cap < 2 * keys)
		cap *= 2;
	while (words < keys / 8 && words < FILTER_WORDS_MAX)
		words *= 2;
	if (!(s->slots = mem_calloc(cap, sizeof(*s->slots))) ||
	    !(s->filter = mem_calloc(words, sizeof(*s->filter))))
		return -ENOMEM;
	s->mask = cap - 1;
	s->filter_mask = words - 1;
	/* each key's slot is fetched HASH_AHEAD keys before it is written: the misses overlap */
	for (size_t i = 0; i < s->n; i++) {
		if (is_network(&s->recs[i]))
			continue;
		if (s->recs[i].type == TI_DOMAIN)
			s->domain_labels |= labels_bit(count_labels(s->pool + s->recs[i].text,
								    s->recs[i].len));
		if (n >= HASH_AHEAD)
			slot_put(s, &ahead[n % HASH_AHEAD]);
		ahead[n % HASH_AHEAD] = (struct pending){ rec_hash(s, &s->recs[i]), (uint32_t)i };
		__builtin_prefetch(&s->slots[ahead[n % HASH_AHEAD].h & s->mask], 1);
		n++;
	}
	for (size_t k = n > HASH_AHEAD ? n - HASH_AHEAD : 0; k < n; k++)
		slot_put(s, &ahead[k % HASH_AHEAD]);
	return 0;
}

/* ---- networks ---- */

static unsigned __int128 addr128(const uint8_t *b)
{
	unsigned __int128 a = 0;

	for (int i = 0; i < 16; i++)
		a = a << 8 | b[i];
	return a;
}

static const unsigned __int128 V4_FIRST = (unsigned __int128)0xffff << 32; /* ::ffff:0.0.0.0 */
static const unsigned __int128 V4_LAST = (unsigned __int128)0xffff << 32 | 0xffffffffu;

/* A network while the forest is built: its record's fields read once, sorted without them. */
struct netkey {
	unsigned __int128 addr;
	uint32_t scope;
	uint32_t rec;
	uint8_t prefix;
};

/* The last address of a network. */
static unsigned __int128 net_last(unsigned __int128 first, unsigned prefix)
{
	return prefix == 0 ? ~(unsigned __int128)0 :
	       first | ((((unsigned __int128)1) << (128 - prefix)) - 1);
}

/* Networks by (scope, address, prefix, record): a scope's nets in a run, holders first. */
static int net_cmp(const void *a, const void *b)
{
	const struct netkey *x = a, *y = b;

	if (x->scope != y->scope)
		return x->scope < y->scope ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

struct cut {
	unsigned __int128 start;
	uint32_t node;
};

/* Appends a cut; one at the same start as the last replaces it (an inner network wins). */
static void cut_add(struct cut *cuts, size_t *n, unsigned __int128 start, uint32_t node)
{
	if (*n && cuts[*n - 1].start == start)
		cuts[*n - 1].node = node;
	else
		cuts[(*n)++] = (struct cut){ start, node };
}

/*
 * The nodes (one per distinct network, parents set) and the cuts of the whole address
 * space, from the n networks k in net_cmp order: a sweep with the stack of the networks
 * holding the current one (nested networks have longer prefixes: 128 at most).
 */
static size_t net_sweep(const struct netkey *k, size_t n, struct nets *nt, struct cut *cuts)
{
	uint32_t stack[NET_DEPTH];
	unsigned __int128 last[NET_DEPTH];
	size_t depth = 0, n_cuts = 0;

	cut_add(cuts, &n_cuts, 0, NET_NONE);
	for (size_t i = 0, j; i < n; i = j) {
		unsigned __int128 first = k[i].addr;
		uint32_t node = (uint32_t)nt->n_nodes++;

		for (j = i + 1; j < n && k[j].prefix == k[i].prefix && k[j].addr == first; j++)
			;
		for (; depth && last[depth - 1] < first; depth--)
			cut_add(cuts, &n_cuts, last[depth - 1] + 1,
				depth > 1 ? stack[depth - 2] : NET_NONE);
		nt->node[node] = (struct netnode){ .parent = depth ? stack[depth - 1] : NET_NONE,
						   .first = (uint32_t)i, .count = (uint32_t)(j - i),
						   .prefix = k[i].prefix };
		cut_add(cuts, &n_cuts, first, node);
		stack[depth] = node;
		last[depth++] = net_last(first, k[i].prefix);
	}
	for (; depth && last[depth - 1] != ~(unsigned __int128)0; depth--)
		cut_add(cuts, &n_cuts, last[depth - 1] + 1,
			depth > 1 ? stack[depth - 2] : NET_NONE);
	return n_cuts;
}

/* The innermost network at a (cuts[0] starts at 0). */
static uint32_t cut_node(const struct cut *cuts, size_t n, unsigned __int128 a)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (cuts[mid].start <= a)
			lo = mid;
		else
			hi = mid - 1;
	}
	return cuts[lo].node;
}

/* The IPv4 block's cuts as 32-bit ranges, and their bucket index (about 4 per bucket). */
static int net_index_v4(struct nets *nt, const struct cut *cuts, size_t n)
{
	size_t k = 0, buckets, bits = 0;

	for (size_t i = 0; i < n; i++)
		nt->n_v4 += cuts[i].start > V4_FIRST && cuts[i].start <= V4_LAST;
	nt->n_v4++;
	while (bits < BUCKET_BITS_MAX && ((size_t)4 << bits) < nt->n_v4)
		bits++;
	buckets = (size_t)1 << bits;
	nt->shift = 32 - (unsigned)bits;
	if (!(nt->v4 = mem_alloc(nt->n_v4 * sizeof(*nt->v4))) ||
	    !(nt->bucket = mem_alloc((buckets + 1) * sizeof(*nt->bucket))))
		return -ENOMEM;
	nt->v4[k++] = (struct range4){ 0, cut_node(cuts, n, V4_FIRST) };
	for (size_t i = 0; i < n; i++)
		if (cuts[i].start > V4_FIRST && cuts[i].start <= V4_LAST)
			nt->v4[k++] = (struct range4){ (uint32_t)(cuts[i].start - V4_FIRST),
						       cuts[i].node };
	k = 0;
	for (size_t b = 0; b < buckets; b++) {
		uint64_t from = (uint64_t)b << nt->shift;

		while (k + 1 < nt->n_v4 && nt->v4[k + 1].start <= from)
			k++;
		nt->bucket[b] = (uint32_t)k;
	}
	nt->bucket[buckets] = (uint32_t)(nt->n_v4 - 1);
	return 0;
}

/* The cuts outside the IPv4 block, and one where the block ends if none starts there. */
static int net_index_v6(struct nets *nt, const struct cut *cuts, size_t n)
{
	unsigned __int128 after = V4_LAST + 1;
	size_t k = 0;
	bool have_after = false;

	for (size_t i = 0; i < n; i++) {
		nt->n_v6 += cuts[i].start < V4_FIRST || cuts[i].start > V4_LAST;
		have_after |= cuts[i].start == after;
	}
	nt->n_v6 += !have_after;
	if (!(nt->v6 = mem_alloc(nt->n_v6 * sizeof(*nt->v6))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned __int128 start = cuts[i].start;

		if (start > V4_LAST && !have_after) {
			nt->v6[k++] = (struct range6){ (uint64_t)(after >> 64), (uint64_t)after,
						       cut_node(cuts, n, after) };
			have_after = true;
		}
		if (start < V4_FIRST || start > V4_LAST)
			nt->v6[k++] = (struct range6){ (uint64_t)(start >> 64), (uint64_t)start,
						       cuts[i].node };
	}
	if (!have_after)
		nt->v6[k++] = (struct range6){ (uint64_t)(after >> 64), (uint64_t)after,
					       cut_node(cuts, n, after) };
	return 0;
}

/* One scope's networks: k[0..n) in net_cmp order. */
static int build_nets(const struct netkey *k, size_t n, struct nets *nt)
{
	struct cut *cuts = NULL;
	size_t n_cuts;
	int rc = -ENOMEM;

	if (!(nt->recs = mem_alloc(n * sizeof(*nt->recs))) ||
	    !(nt->node = mem_alloc(n * sizeof(*nt->node))) ||
	    !(cuts = mem_alloc((2 * n + 1) * sizeof(*cuts))))
		goto fail;
	for (size_t i = 0; i < n; i++)
		nt->recs[i] = k[i].rec;
	n_cuts = net_sweep(k, n, nt, cuts);
	if ((rc = net_index_v4(nt, cuts, n_cuts)) < 0 || (rc = net_index_v6(nt, cuts, n_cuts)) < 0)
		goto fail;
	rc = 0;
fail:
	mem_free(cuts);
	return rc;
}

static void nets_release(struct nets *nt)
{
	mem_free(nt->node);
	mem_free(nt->recs);
	mem_free(nt->v4);
	mem_free(nt->bucket);
	mem_free(nt->v6);
}

static size_t nets_bytes(const struct nets *nt)
{
	size_t bytes = nt->n_v4 * sizeof(*nt->v4) + nt->n_v6 * sizeof(*nt->v6);

	if (nt->n_nodes)
		bytes += (((size_t)1 << (32 - nt->shift)) + 1) * sizeof(*nt->bucket);
	for (size_t i = 0; i < nt->n_nodes; i++)
		bytes += nt->node[i].count * (sizeof(*nt->node) + sizeof(*nt->recs));
	return bytes;
}

/* Every scope's networks: all of them sorted once, then cut into runs of one scope. */
static int build_all_nets(struct ti_snapshot *s)
{
	struct netkey *k;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < s->n; i++)
		n += is_network(&s->recs[i]);
	if (n == 0)
		return 0;
	if (!(k = mem_alloc(n * sizeof(*k))))
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct rec *r = &s->recs[i];
		size_t len;

		if (is_network(r))
			k[n++] = (struct netkey){ addr128((const uint8_t *)rec_key(s, r, &len)),
						  r->scope, (uint32_t)i, r->prefix };
	}
	qsort(k, n, sizeof(*k), net_cmp);
	for (size_t i = 0, j; rc == 0 && i < n; i = j) {
		for (j = i + 1; j < n && k[j].scope == k[i].scope; j++)
			;
		rc = build_nets(k + i, j - i, &s->scopes[k[i].scope].nets);
	}
	mem_free(k);
	return rc;
}

/* The tenant scopes by name (at most half full): every lookup finds its tenant's first. */
static int build_names(struct ti_snapshot *s)
{
	size_t cap = 2;

	while (cap < 2 * s->n_scopes)
		cap *= 2;
	if (!(s->by_name = mem_calloc(cap, sizeof(*s->by_name))))
		return -ENOMEM;
	s->name_mask = cap - 1;
	for (size_t i = 1; i < s->n_scopes; i++) {
		const char *name = s->scopes[i].name;
		size_t at = key_hash(TI_N_TYPES, name, strlen(name)) & s->name_mask;

		while (s->by_name[at])
			at = (at + 1) & s->name_mask;
		s->by_name[at] = (uint32_t)i;
	}
	return 0;
}

/* The hash table, the networks and the tenant index. */
static int build_tables(struct ti_snapshot *s)
{
	if (build_names(s) < 0 || build_hash(s) < 0 || build_all_nets(s) < 0)
		return -ENOMEM;
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
	for (size_t i = 0; i < s->n_scopes; i++) {
		mem_free(s->scopes[i].name);
		nets_release(&s->scopes[i].nets);
	}
	mem_free(s->sources);
	mem_free(s->scopes);
	mem_free(s->by_name);
	mem_free(s->filter);
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
		    (s->mask + 1) * sizeof(*s->slots) + (s->filter_mask + 1) * sizeof(*s->filter) +
		    s->source_cap * sizeof(char *) + s->scope_cap * sizeof(struct scope) +
		    (s->name_mask + 1) * sizeof(*s->by_name);
	for (size_t i = 0; i < s->n_sources; i++)
		st->bytes += strlen(s->sources[i]) + 1;
	for (size_t i = 0; i < s->n_scopes; i++) {
		if (s->scopes[i].name)
			st->bytes += strlen(s->scopes[i].name) + 1;
		st->bytes += nets_bytes(&s->scopes[i].nets);
	}
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

/*
 * Gives the records of (type, key), whose hash is h, in scope; true when the scope other
 * has some too (one walk of the chain serves the global scope and says if the tenant's
 * needs its own).
 */
static bool find_key(struct query *q, uint64_t h, enum ti_type type, const void *key,
		     size_t len, uint32_t scope, uint32_t other)
{
	const struct ti_snapshot *s = q->s;
	bool in_other = false;

	for (size_t at = h & s->mask; s->slots[at]; at = (at + 1) & s->mask) {
		const struct rec *r;
		const char *k;
		size_t k_len;

		if ((s->slots[at] & SLOT_TAG) != (h & SLOT_TAG))
			continue; /* another key: its record is not read */
		r = &s->recs[(uint32_t)s->slots[at] - 1];
		if (r->type != type || (k = rec_key(s, r, &k_len), k_len != len) ||
		    memcmp(k, key, len))
			continue;
		if (r->scope == scope)
			found(q, r);
		else
			in_other |= r->scope == other;
	}
	return in_other;
}

/* The key in the global scope, then in tenant's (0: none). */
static void find(struct query *q, uint32_t tenant, enum ti_type type, const void *key,
		 size_t len)
{
	uint64_t h = key_hash(type, key, len);

	if (filter_maybe(q->s, h) && find_key(q, h, type, key, len, 0, tenant) && tenant)
		find_key(q, h, type, key, len, tenant, 0);
}

static uint32_t load_be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t load_be64(const uint8_t *b)
{
	return (uint64_t)load_be32(b) << 32 | load_be32(b + 4);
}

/* The innermost network of nt holding ip (nt has some). */
static uint32_t innermost(const struct nets *nt, const struct ipaddr *ip)
{
	size_t lo, hi;

	if (ipaddr_is_v4(ip)) {
		uint32_t a = load_be32(ip->b + 12);
		size_t k = (size_t)((uint64_t)a >> nt->shift);

		for (lo = nt->bucket[k], hi = nt->bucket[k + 1]; lo < hi;) {
			size_t mid = lo + (hi - lo + 1) / 2;

			if (nt->v4[mid].start <= a)
				lo = mid;
			else
				hi = mid - 1;
		}
		return nt->v4[lo].node;
	}
	uint64_t a_hi = load_be64(ip->b), a_lo = load_be64(ip->b + 8);

	for (lo = 0, hi = nt->n_v6 - 1; lo < hi;) {
		size_t mid = lo + (hi - lo + 1) / 2;
		const struct range6 *r = &nt->v6[mid];

		if (r->hi < a_hi || (r->hi == a_hi && r->lo <= a_lo))
			lo = mid;
		else
			hi = mid - 1;
	}
	return nt->v6[lo].node;
}

/* The networks of scope holding ip/prefix, the innermost first. */
static void find_nets(struct query *q, uint32_t scope, const struct ipaddr *ip, unsigned prefix)
{
	const struct nets *nt = &q->s->scopes[scope].nets;

	if (!nt->n_nodes)
		return;
	for (uint32_t node = innermost(nt, ip); node != NET_NONE; node = nt->node[node].parent) {
		const struct netnode *d = &nt->node[node];

		if (d->prefix > prefix)
			continue; /* holds the address, not all of ip/prefix */
		for (uint32_t i = 0; i < d->count; i++)
			found(q, &q->s->recs[nt->recs[d->first + i]]);
	}
}

/* Per scope, the address itself (for a bare address), then the networks holding it. */
static void find_ip(struct query *q, uint32_t tenant, const struct ipaddr *ip, unsigned prefix)
{
	uint64_t h = 0;
	bool in_tenant = false;

	if (prefix == 128) {
		h = key_hash(TI_IP, ip->b, sizeof(ip->b));
		if (filter_maybe(q->s, h))
			in_tenant = find_key(q, h, TI_IP, ip->b, sizeof(ip->b), 0, tenant);
	}
	find_nets(q, 0, ip, prefix);
	if (!tenant)
		return;
	if (in_tenant)
		find_key(q, h, TI_IP, ip->b, sizeof(ip->b), tenant, 0);
	find_nets(q, tenant, ip, prefix);
}

/*
 * The listed domain and each parent ("a.b.example": a.b.example, b.example, example), in
 * the global scope, then the tenant's (only the suffixes the first walk saw there). Only
 * suffixes with as many labels as some listed domain are hashed.
 */
static void find_domain(struct query *q, uint32_t tenant, const char *d, size_t len)
{
	size_t again[DOMAIN_LABELS], n_again = 0, labels = count_labels(d, len);

	for (size_t at = 0; at < len; labels--) {
		const char *dot = memchr(d + at, '.', len - at);
		uint64_t h;

		if (q->s->domain_labels & labels_bit(labels) &&
		    filter_maybe(q->s, h = key_hash(TI_DOMAIN, d + at, len - at)) &&
		    find_key(q, h, TI_DOMAIN, d + at, len - at, 0, tenant) && tenant)
			again[n_again++] = at;
		if (!dot)
			break;
		at = (size_t)(dot - d) + 1;
	}
	for (size_t i = 0; i < n_again; i++)
		find_key(q, key_hash(TI_DOMAIN, d + again[i], len - again[i]), TI_DOMAIN,
			 d + again[i], len - again[i], tenant, 0);
}

/* The tenant's scope index, 0 when it has no indicators (or tenant is NULL). */
static uint32_t tenant_scope(const struct ti_snapshot *s, const char *tenant)
{
	if (!tenant)
		return 0;
	for (size_t at = key_hash(TI_N_TYPES, tenant, strlen(tenant)) & s->name_mask;
	     s->by_name[at]; at = (at + 1) & s->name_mask)
		if (!strcmp(s->scopes[s->by_name[at]].name, tenant))
			return s->by_name[at];
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

size_t ti_lookup(const struct ti_snapshot *s, const char *tenant, enum ti_type type,
		 const char *value, size_t len,
		 void (*fn)(void *ctx, const struct ti_match *m), void *ctx)
{
	struct query q = { .s = s, .fn = fn, .ctx = ctx };
	char key[TI_VALUE_BUF];
	struct ipaddr ip;
	unsigned prefix = 128;
	size_t n = 0;

	if (s->n == 0)
		return 0;
	if (type == TI_IP) {
		if (ipaddr_parse_cidr(&ip, &prefix, value, len) < 0)
			return 0;
		find_ip(&q, tenant_scope(s, tenant), &ip, prefix);
	} else if (type == TI_DOMAIN) {
		if (!(n = fold_domain(value, len, key)))
			return 0;
		find_domain(&q, tenant_scope(s, tenant), key, n);
	} else {
		if (ti_normalize(type, value, len, key, &n, NULL) < 0)
			return 0;
		find(&q, tenant_scope(s, tenant), type, key, n);
	}
	return q.found;
}

size_t ti_lookup_ip(const struct ti_snapshot *s, const char *tenant, const struct ipaddr *ip,
		    void (*fn)(void *ctx, const struct ti_match *m), void *ctx)
{
	struct query q = { .s = s, .fn = fn, .ctx = ctx };

	if (s->n)
		find_ip(&q, tenant_scope(s, tenant), ip, 128);
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
