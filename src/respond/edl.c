#include "respond/edl.h"
#include "core/compat.h"

#include <pthread.h>
#include <sodium.h>

#define LOG_MODULE "edl"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/name.h"
#include "enrich/ti.h"
#include "store/meta.h"

#define EDL_CACHE_MAX 4096            /* (tenant, list) pairs cached; the oldest is rebuilt */
#define EDL_CANDIDATES_MAX (16u << 20) /* indicators one build considers */
#define EDL_ARENA_MAX ((size_t)2 << 30)
#define EDL_OVERLAP_LOGGED 20          /* overlapping entries named per build, then a count */
#define EDL_TENANT_MAX 64
#define EDL_ETAG_LEN 35                /* quotes, 32 hex digits, NUL */

static const char *const type_names[] = { "ip", "domain", "url" };
static const char *const drop_names[EDL_DROPS] = { "allow", "allow_overlap", "cap",
						   "unsupported" };

/* One cached list of one tenant. */
struct edl_entry {
	char tenant[EDL_TENANT_MAX];
	size_t list;                   /* index into edl->lists */
	bool built;
	int64_t generation;            /* meta_edl_generation() when built */
	int64_t next_expiry_ns;        /* an entry's expiry after the build; 0: none */
	struct buf text;
	char etag[EDL_ETAG_LEN];
	struct edl_list view;
	uint64_t dropped_total[EDL_DROPS]; /* every build's, for the metric */
};

struct edl_global;

struct edl {
	struct edl_list_config *lists;
	size_t n_lists;
	struct edl_global *globals;    /* by list: its global part, shared by the tenants */
	struct allow_set *allow;       /* edl.allow, sealed */
	struct arena allow_arena;      /* its strings */
	pthread_mutex_t lock;          /* entries, globals and everything they hold */
	struct edl_entry *entries;
	size_t n_entries;
	bool metrics;
};

const char *edl_type_name(enum edl_type t)
{
	return type_names[t];
}

int edl_type_parse(const char *s, enum edl_type *t)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
		if (!strcmp(s, type_names[i])) {
			*t = (enum edl_type)i;
			return 0;
		}
	return -EINVAL;
}

const char *edl_drop_name(enum edl_drop d)
{
	return drop_names[d];
}

int edl_allow_parse(const char *s, const char **type, char *out, struct err *e)
{
	struct err why = ERR_INIT;
	enum ti_type t;
	size_t len = strlen(s), out_len;

	if (ti_guess_type(s, len, &t, &why) < 0)
		return err_set(e, -EINVAL, "allow '%s': %s", s, why.msg);
	if (t != TI_IP && t != TI_DOMAIN && t != TI_URL)
		return err_set(e, -EINVAL, "allow '%s': expected an address, a network (CIDR), a "
			       "domain or a URL, not %s", s, ti_type_name(t));
	if (ti_normalize(t, s, len, out, &out_len, &why) < 0)
		return err_set(e, -EINVAL, "allow '%s': %s", s, why.msg);
	*type = ti_type_name(t);
	return 0;
}

/* ---- the allow set of one build ---- */

struct ip_range {
	uint8_t lo[16], hi[16];
};

/*
 * What one build never lists: networks as merged ranges sorted by their start, domains
 * reversed ("moc.elpmaxe") and sorted so that a domain's sub-domains sort right after it,
 * URLs sorted. Strings in the arena.
 */
struct allow_set {
	struct ip_range *ranges;
	size_t n_ranges, cap_ranges;
	char **domains;
	size_t n_domains, cap_domains;
	char **urls;
	size_t n_urls, cap_urls;
	struct arena *arena;
};

static int grow(void **p, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t want = *cap ? *cap * 2 : 64;
	void *q;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -ENOSPC;
	if (want > max)
		want = max;
	if (!(q = mem_realloc(*p, want * size)))
		return -ENOMEM;
	*p = q;
	*cap = want;
	return 0;
}

static bool parse_range(const char *value, struct ip_range *r)
{
	struct ipaddr net;
	unsigned prefix;

	if (ipaddr_parse_cidr(&net, &prefix, value, strlen(value)) < 0)
		return false;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = i * 8 >= prefix ? 0 : prefix - i * 8;
		uint8_t host = keep >= 8 ? 0 : (uint8_t)(0xff >> keep);

		r->lo[i] = net.b[i] & (uint8_t)~host;
		r->hi[i] = net.b[i] | host;
	}
	return true;
}

static void reverse(char *s, size_t len)
{
	for (size_t i = 0; i < len / 2; i++) {
		char c = s[i];

		s[i] = s[len - 1 - i];
		s[len - 1 - i] = c;
	}
}

static int allow_add(struct allow_set *a, const char *type, const char *value)
{
	size_t len = strlen(value);
	char *copy;
	int rc;

	if (!strcmp(type, "ip")) {
		if ((rc = grow((void **)&a->ranges, &a->cap_ranges, a->n_ranges,
			       sizeof(*a->ranges), META_EDL_ALLOW_MAX * 2)) < 0)
			return rc;
		return parse_range(value, &a->ranges[a->n_ranges]) ? (a->n_ranges++, 0) : -EINVAL;
	}
	if (!(copy = arena_strndup(a->arena, value, len)))
		return -ENOMEM;
	if (!strcmp(type, "domain")) {
		if ((rc = grow((void **)&a->domains, &a->cap_domains, a->n_domains,
			       sizeof(*a->domains), META_EDL_ALLOW_MAX * 2)) < 0)
			return rc;
		reverse(copy, len);
		a->domains[a->n_domains++] = copy;
		return 0;
	}
	if ((rc = grow((void **)&a->urls, &a->cap_urls, a->n_urls, sizeof(*a->urls),
		       META_EDL_ALLOW_MAX * 2)) < 0)
		return rc;
	a->urls[a->n_urls++] = copy;
	return 0;
}

static int cmp_range(const void *x, const void *y)
{
	return memcmp(((const struct ip_range *)x)->lo, ((const struct ip_range *)y)->lo, 16);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorts everything and merges overlapping networks (CIDRs nest or are disjoint). */
static void allow_seal(struct allow_set *a)
{
	size_t out = 0;

	if (a->n_ranges)
		qsort(a->ranges, a->n_ranges, sizeof(*a->ranges), cmp_range);
	for (size_t i = 0; i < a->n_ranges; i++) {
		if (out && memcmp(a->ranges[i].lo, a->ranges[out - 1].hi, 16) <= 0) {
			if (memcmp(a->ranges[i].hi, a->ranges[out - 1].hi, 16) > 0)
				memcpy(a->ranges[out - 1].hi, a->ranges[i].hi, 16);
			continue;
		}
		a->ranges[out++] = a->ranges[i];
	}
	a->n_ranges = out;
	if (a->n_domains)
		qsort(a->domains, a->n_domains, sizeof(*a->domains), cmp_str);
	if (a->n_urls)
		qsort(a->urls, a->n_urls, sizeof(*a->urls), cmp_str);
}

static void allow_release(struct allow_set *a)
{
	mem_free(a->ranges);
	mem_free(a->domains);
	mem_free(a->urls);
}

/* What the allow-list makes of an entry: listed, dropped as allowed, or as covering one. */
enum verdict { LISTED, ALLOWED, OVERLAPS };

static enum verdict check_range(const struct allow_set *a, const struct ip_range *r)
{
	size_t lo = 0, hi = a->n_ranges;

	/* the first allowed range that ends at or after r's start */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(a->ranges[mid].hi, r->lo, 16) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == a->n_ranges || memcmp(a->ranges[lo].lo, r->hi, 16) > 0)
		return LISTED;
	if (memcmp(a->ranges[lo].lo, r->lo, 16) <= 0 && memcmp(a->ranges[lo].hi, r->hi, 16) >= 0)
		return ALLOWED;
	return OVERLAPS;
}

/* The index of the first of n sorted strings >= key. */
static size_t lower_bound(char *const *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static enum verdict check_domain(const struct allow_set *a, const char *domain, size_t len)
{
	char rev[TI_VALUE_BUF + 2];
	size_t at;

	if (!a->n_domains || len > TI_VALUE_MAX)
		return LISTED;
	memcpy(rev, domain, len);
	reverse(rev, len);
	/* the domain or a parent of it: "moc.elpmaxe" for "www.example.com" */
	for (size_t i = 1; i <= len; i++) {
		if (i < len && rev[i] != '.')
			continue;
		rev[i] = '\0';
		at = lower_bound(a->domains, a->n_domains, rev);
		if (at < a->n_domains && !strcmp(a->domains[at], rev))
			return ALLOWED;
		if (i < len)
			rev[i] = '.';
	}
	/* a sub-domain of it: sorts right after "REV." */
	rev[len] = '.';
	rev[len + 1] = '\0';
	at = lower_bound(a->domains, a->n_domains, rev);
	if (at < a->n_domains && !strncmp(a->domains[at], rev, len + 1))
		return OVERLAPS;
	return LISTED;
}

/* A URL line ("host[:port]/path"): allowed when the URL is, or its host (ip or domain). */
static enum verdict check_url(const struct allow_set *a, const char *url, const char *line)
{
	char host[TI_VALUE_BUF];
	size_t name_len;
	struct ip_range r;
	size_t at = lower_bound(a->urls, a->n_urls, url);

	if (at < a->n_urls && !strcmp(a->urls[at], url))
		return ALLOWED;
	if (line[0] == '[') { /* [v6]:port */
		name_len = strcspn(line, "]");
		memcpy(host, line + 1, name_len - 1);
		host[name_len - 1] = '\0';
	} else {
		name_len = strcspn(line, ":/");
		memcpy(host, line, name_len);
		host[name_len] = '\0';
	}
	if (parse_range(host, &r))
		return check_range(a, &r) == ALLOWED ? ALLOWED : LISTED;
	return check_domain(a, host, strlen(host)) == ALLOWED ? ALLOWED : LISTED;
}

/* ---- candidates: the indicators of one scope a list may carry ---- */

/* An indicator that may be listed: its line (without '\n') and what orders the cap. */
struct cand {
	const char *line;
	const char *value;      /* the canonical indicator (URLs: checked against allowed ones) */
	int confidence;         /* unknown counted as EDL_UNKNOWN_CONFIDENCE */
	int64_t last_seen_ns;
};

/* One read of koban.db: the candidates of one scope, merged, sorted by line. */
struct cands {
	const struct edl_list_config *cfg;
	int64_t now_ns;
	struct arena *arena;    /* the lines and values */
	struct cand *v;
	size_t n, cap;
	int64_t next_expiry_ns; /* the earliest expiry of an indicator read; 0: none */
	uint64_t unsupported;   /* values PAN-OS cannot take */
	int rc;                 /* the first error of the callback */
};

static bool source_chosen(const struct edl_list_config *c, const char *source)
{
	if (!c->n_sources)
		return true;
	for (size_t i = 0; i < c->n_sources; i++)
		if (!strcmp(c->sources[i], "*") || !strcmp(c->sources[i], source))
			return true;
	return false;
}

/* Printable ASCII without spaces and without PAN-OS's wildcard characters. */
static bool plain_ascii(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '*' || *s == '^')
			return false;
	return true;
}

/* The line PAN-OS takes for a canonical value of the list's type, or NULL: unsupported. */
static const char *line_of(enum edl_type type, const char *value)
{
	switch (type) {
	case EDL_IP:
		return value;
	case EDL_DOMAIN:
		return strlen(value) <= EDL_DOMAIN_MAX && plain_ascii(value) ? value : NULL;
	case EDL_URL:
		if (!plain_ascii(value))
			return NULL;
		if (!strncmp(value, "http://", 7))
			return value + 7;
		if (!strncmp(value, "https://", 8))
			return value + 8;
		return NULL; /* PAN-OS URL lists match web traffic only */
	}
	return NULL;
}

static void take_indicator(void *ctx, const struct meta_indicator *ind)
{
	struct cands *c = ctx;
	const char *line;
	struct cand *to;
	int conf = ind->confidence < 0 ? EDL_UNKNOWN_CONFIDENCE : ind->confidence;

	if (c->rc < 0 || !source_chosen(c->cfg, ind->source))
		return;
	if (ind->expires_ns && ind->expires_ns <= c->now_ns)
		return;
	if (conf < c->cfg->min_confidence)
		return;
	if (ind->expires_ns && (!c->next_expiry_ns || ind->expires_ns < c->next_expiry_ns))
		c->next_expiry_ns = ind->expires_ns;
	if (!(line = line_of(c->cfg->type, ind->value))) {
		c->unsupported++;
		return;
	}
	if ((c->rc = grow((void **)&c->v, &c->cap, c->n, sizeof(*c->v), EDL_CANDIDATES_MAX)) < 0)
		return;
	to = &c->v[c->n];
	if (!(to->value = arena_strndup(c->arena, ind->value, strlen(ind->value)))) {
		c->rc = -ENOMEM;
		return;
	}
	to->line = to->value + (line - ind->value);
	to->confidence = conf;
	to->last_seen_ns = ind->last_seen_ns;
	c->n++;
}

static int cmp_line(const void *x, const void *y)
{
	return strcmp(((const struct cand *)x)->line, ((const struct cand *)y)->line);
}

/* Kept first: the highest confidence, then the latest seen, then by line (stable output). */
static int cmp_keep(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	if (a->confidence != b->confidence)
		return a->confidence > b->confidence ? -1 : 1;
	if (a->last_seen_ns != b->last_seen_ns)
		return a->last_seen_ns > b->last_seen_ns ? -1 : 1;
	return strcmp(a->line, b->line);
}

static int cmp_keep_ptr(const void *x, const void *y)
{
	return cmp_keep(*(const struct cand *const *)x, *(const struct cand *const *)y);
}

/* Takes a (previous) candidate's confidence and last seen if higher: one line, two sources. */
static void merge_into(struct cand *to, const struct cand *from)
{
	if (from->confidence > to->confidence)
		to->confidence = from->confidence;
	if (from->last_seen_ns > to->last_seen_ns)
		to->last_seen_ns = from->last_seen_ns;
}

/* Reads f's indicators into c: one candidate per line, sorted by line. */
static int read_cands(struct meta *m, const struct meta_indicator_filter *f, struct cands *c,
		      const char *tenant, struct err *e)
{
	size_t out = 0;
	int rc = meta_indicator_list(m, f, take_indicator, c, e);

	if (rc < 0)
		return rc;
	if (c->rc < 0)
		return err_set(e, c->rc, "tenant %s list %s: %s", tenant, c->cfg->name,
			       c->rc == -ENOSPC ? "too many indicators" : strerror(-c->rc));
	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), cmp_line);
	for (size_t i = 0; i < c->n; i++) {
		if (out && !strcmp(c->v[out - 1].line, c->v[i].line)) {
			merge_into(&c->v[out - 1], &c->v[i]);
			continue;
		}
		c->v[out++] = c->v[i];
	}
	c->n = out;
	return 0;
}

static enum verdict verdict_of(const struct allow_set *a, enum edl_type type,
			       const struct cand *c)
{
	struct ip_range r;

	if (!a->n_ranges && !a->n_domains && !a->n_urls)
		return LISTED;
	switch (type) {
	case EDL_IP:
		return parse_range(c->value, &r) ? check_range(a, &r) : LISTED;
	case EDL_DOMAIN:
		return check_domain(a, c->value, strlen(c->value));
	case EDL_URL:
		return check_url(a, c->value, c->line);
	}
	return LISTED;
}

/* ---- the global part of a list, shared by every tenant for one generation ---- */

/* What a global candidate is in one tenant's build. */
enum { FREE, SHADOWED /* the tenant lists it too: its own entry stands */, DROPPED, KEPT };

struct edl_global {
	bool built;
	int64_t generation;         /* meta_edl_generation() when read */
	int64_t next_expiry_ns;
	struct arena arena;
	struct cand *by_line;       /* merged, sorted by line */
	size_t n;
	const struct cand **by_keep; /* the same, the first kept first */
	uint8_t *verdict;           /* enum verdict of edl.allow, for each of by_line */
	uint64_t unsupported;
};

static void global_release(struct edl_global *g)
{
	arena_release(&g->arena); /* also one never initialised: zeroed, empty */
	mem_free(g->by_line);
	mem_free(g->by_keep);
	mem_free(g->verdict);
	memset(g, 0, sizeof(*g));
}

/* The global part of list li, read again when koban.db changed or an entry expired. */
static int global_get(struct edl *d, struct meta *m, size_t li, int64_t generation,
		      int64_t now_ns, struct edl_global **out, struct err *e)
{
	struct edl_global *g = &d->globals[li];
	const struct edl_list_config *cfg = &d->lists[li];
	const struct meta_indicator_filter f = { .scope = META_TI_GLOBAL,
						 .type = edl_type_name(cfg->type) };
	struct cands c = { .cfg = cfg, .now_ns = now_ns, .arena = &g->arena };
	int rc;

	*out = g;
	if (g->built && g->generation == generation &&
	    (!g->next_expiry_ns || now_ns < g->next_expiry_ns))
		return 0;
	global_release(g);
	arena_init(&g->arena, 1u << 20, EDL_ARENA_MAX);
	rc = read_cands(m, &f, &c, "(global)", e);
	g->by_line = c.v; /* freed by global_release, also on a failure */
	g->n = c.n;
	if (rc == 0 && g->n && (!(g->by_keep = mem_calloc(g->n, sizeof(*g->by_keep))) ||
				!(g->verdict = mem_calloc(g->n, sizeof(*g->verdict)))))
		rc = err_set(e, -ENOMEM, "list %s: out of memory", cfg->name);
	if (rc < 0) {
		global_release(g);
		return rc;
	}
	for (size_t i = 0; i < g->n; i++) {
		g->by_keep[i] = &g->by_line[i];
		g->verdict[i] = (uint8_t)verdict_of(d->allow, cfg->type, &g->by_line[i]);
	}
	if (g->n)
		qsort(g->by_keep, g->n, sizeof(*g->by_keep), cmp_keep_ptr);
	g->unsupported = c.unsupported;
	g->next_expiry_ns = c.next_expiry_ns;
	g->generation = generation;
	g->built = true;
	return 0;
}

/* ---- one tenant's build ---- */

struct build {
	const struct edl_list_config *cfg;
	const char *tenant;
	const struct edl_global *g;  /* NULL: the tenant's own indicators only */
	uint8_t *state;              /* by global candidate: FREE, SHADOWED, DROPPED, KEPT */
	struct cands own;            /* the tenant's own candidates */
	size_t own_kept;             /* own.v[0..own_kept) are listed (after pick()) */
	size_t entries;
	uint64_t dropped[EDL_DROPS];
};

/* Counts a drop by the allow-list; an entry covering an allowed value is named. */
static void drop(struct build *b, enum verdict v, const struct cand *c)
{
	if (v == ALLOWED) {
		b->dropped[EDL_DROP_ALLOW]++;
		return;
	}
	if (++b->dropped[EDL_DROP_ALLOW_OVERLAP] <= EDL_OVERLAP_LOGGED)
		log_warn("tenant %s list %s: %s not listed: it covers an allowed value", b->tenant,
			 b->cfg->name, c->line);
}

/* The global line of c, or -1. */
static ssize_t global_find(const struct edl_global *g, const struct cand *c)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(g->by_line[mid].line, c->line);

		if (!cmp)
			return (ssize_t)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * One entry per line: a global line the tenant lists too stands as the tenant's entry,
 * with the higher confidence and later last seen of the two. Then the allow-lists (edl.allow
 * and the tenant's) drop what they cover, global and own.
 */
static void apply_allow(struct build *b, const struct edl *d, const struct allow_set *tenant)
{
	const struct edl_global *g = b->g;
	size_t out = 0;

	for (size_t i = 0; g && i < b->own.n; i++) {
		ssize_t at = global_find(g, &b->own.v[i]);

		if (at >= 0) {
			merge_into(&b->own.v[i], &g->by_line[at]);
			b->state[at] = SHADOWED;
		}
	}
	for (size_t i = 0; g && i < g->n; i++) {
		enum verdict v = (enum verdict)g->verdict[i];

		if (b->state[i] != FREE)
			continue;
		if (v == LISTED)
			v = verdict_of(tenant, b->cfg->type, &g->by_line[i]);
		if (v != LISTED) {
			b->state[i] = DROPPED;
			drop(b, v, &g->by_line[i]);
		}
	}
	for (size_t i = 0; i < b->own.n; i++) {
		enum verdict v = verdict_of(d->allow, b->cfg->type, &b->own.v[i]);

		if (v == LISTED)
			v = verdict_of(tenant, b->cfg->type, &b->own.v[i]);
		if (v == LISTED)
			b->own.v[out++] = b->own.v[i];
		else
			drop(b, v, &b->own.v[i]);
	}
	b->own.n = out;
}

/*
 * The cap: the first max_entries in keep order (highest confidence, then latest seen) of
 * the free global candidates and the own ones are listed (global ones marked KEPT, own ones
 * own.v[0..own_kept) once sorted into keep order); the rest are counted.
 */
static void pick(struct build *b)
{
	const struct edl_global *g = b->g;
	size_t max = b->cfg->max_entries ? b->cfg->max_entries : EDL_MAX_ENTRIES_DEFAULT;
	size_t gi = 0, oi = 0, ng = g ? g->n : 0;

	if (b->own.n)
		qsort(b->own.v, b->own.n, sizeof(*b->own.v), cmp_keep);
	for (;;) {
		bool own_first;

		while (gi < ng && b->state[g->by_keep[gi] - g->by_line] != FREE)
			gi++;
		if (gi == ng && oi == b->own.n)
			break;
		own_first = oi < b->own.n &&
			    (gi == ng || cmp_keep(&b->own.v[oi], g->by_keep[gi]) <= 0);
		if (b->entries == max) {
			b->dropped[EDL_DROP_CAP]++;
		} else {
			b->entries++;
			if (own_first)
				b->own_kept++; /* own.v[0..own_kept): taken in order */
			else
				b->state[g->by_keep[gi] - g->by_line] = KEPT;
		}
		if (own_first)
			oi++;
		else
			gi++;
	}
}

struct allow_reader {
	struct allow_set *set;
	int rc;
};

static void take_allow(void *ctx, const struct meta_edl_allow *row)
{
	struct allow_reader *r = ctx;

	if (r->rc == 0)
		r->rc = allow_add(r->set, row->type, row->value);
}

/* The tenant's own allow-list from koban.db, sealed. */
static int allow_load(struct meta *m, const char *tenant, struct allow_set *a, struct err *e)
{
	struct allow_reader r = { a, 0 };
	int rc;

	if ((rc = meta_edl_allow_list(m, tenant, take_allow, &r, e)) < 0)
		return rc;
	if (r.rc < 0)
		return err_set(e, r.rc, "tenant %s's allow-list: %s", tenant, strerror(-r.rc));
	allow_seal(a);
	return 0;
}

static int add_line(struct buf *text, const struct cand *c)
{
	int rc = buf_adds(text, c->line);

	return rc < 0 ? rc : buf_addch(text, '\n');
}

/* The listed lines in order, and their ETag, into en. */
static int write_text(struct edl_entry *en, struct build *b, struct err *e)
{
	const struct edl_global *g = b->g;
	size_t gi = 0, oi = 0, ng = g ? g->n : 0;
	unsigned char hash[16];
	char hex[33];
	int rc = 0;

	if (b->own_kept)
		qsort(b->own.v, b->own_kept, sizeof(*b->own.v), cmp_line);
	buf_reset(&en->text);
	while (rc == 0) {
		while (gi < ng && b->state[gi] != KEPT)
			gi++;
		if (gi == ng && oi == b->own_kept)
			break;
		if (oi < b->own_kept &&
		    (gi == ng || strcmp(b->own.v[oi].line, g->by_line[gi].line) < 0))
			rc = add_line(&en->text, &b->own.v[oi++]);
		else
			rc = add_line(&en->text, &g->by_line[gi++]);
	}
	if (rc == -ENOMEM)
		return err_set(e, rc, "tenant %s list %s: out of memory", b->tenant, b->cfg->name);
	if (rc < 0)
		return err_set(e, -EFBIG, "tenant %s list %s: the text exceeds %zu bytes",
			       b->tenant, b->cfg->name, EDL_TEXT_MAX);
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)en->text.p, en->text.len,
			   NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	snprintf(en->etag, sizeof(en->etag), "\"%s\"", hex);
	return 0;
}

static void log_drops(const struct build *b)
{
	bool any = false;

	for (unsigned i = 0; i < EDL_DROPS; i++)
		any |= b->dropped[i] != 0;
	if (!any)
		return;
	log_info("tenant %s list %s: %zu entries; dropped %llu allowed, %llu covering an "
		 "allowed value, %llu over the cap of %zu, %llu unsupported by PAN-OS", b->tenant,
		 b->cfg->name, b->entries, (unsigned long long)b->dropped[EDL_DROP_ALLOW],
		 (unsigned long long)b->dropped[EDL_DROP_ALLOW_OVERLAP],
		 (unsigned long long)b->dropped[EDL_DROP_CAP],
		 b->cfg->max_entries ? b->cfg->max_entries : (size_t)EDL_MAX_ENTRIES_DEFAULT,
		 (unsigned long long)b->dropped[EDL_DROP_UNSUPPORTED]);
}

static int64_t earliest(int64_t a, int64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/*
 * Builds en's list: the global part (shared, read once per generation) and the tenant's
 * own indicators, one entry per line, the allow-lists, the cap.
 */
static int build(struct edl *d, struct meta *m, struct edl_entry *en, int64_t generation,
		 int64_t now_ns, struct err *e)
{
	const struct edl_list_config *cfg = &d->lists[en->list];
	struct arena arena;
	struct allow_set allow = { .arena = &arena };
	struct build b = { .cfg = cfg, .tenant = en->tenant,
			   .own = { .cfg = cfg, .now_ns = now_ns, .arena = &arena } };
	const struct meta_indicator_filter f = { .scope = META_TI_TENANT, .tenant = en->tenant,
						 .type = edl_type_name(cfg->type) };
	struct edl_global *g = NULL;
	int rc;

	arena_init(&arena, 1u << 16, EDL_ARENA_MAX);
	if ((cfg->include_global &&
	     (rc = global_get(d, m, en->list, generation, now_ns, &g, e)) < 0) ||
	    (rc = allow_load(m, en->tenant, &allow, e)) < 0 ||
	    (rc = read_cands(m, &f, &b.own, en->tenant, e)) < 0)
		goto fail;
	b.g = g;
	if (g && g->n && !(b.state = mem_calloc(g->n, sizeof(*b.state)))) {
		rc = err_set(e, -ENOMEM, "tenant %s list %s: out of memory", en->tenant, cfg->name);
		goto fail;
	}
	b.dropped[EDL_DROP_UNSUPPORTED] = b.own.unsupported + (g ? g->unsupported : 0);
	apply_allow(&b, d, &allow);
	pick(&b);
	if ((rc = write_text(en, &b, e)) < 0)
		goto fail;
	log_drops(&b);
	en->built = true;
	en->generation = generation;
	en->next_expiry_ns = earliest(b.own.next_expiry_ns, g ? g->next_expiry_ns : 0);
	en->view = (struct edl_list){ .text = en->text.p, .len = en->text.len, .etag = en->etag,
				      .entries = b.entries, .built_ns = now_ns };
	for (unsigned i = 0; i < EDL_DROPS; i++) {
		en->view.dropped[i] = b.dropped[i];
		en->dropped_total[i] += b.dropped[i];
	}
fail:
	if (rc < 0)
		en->built = false;
	allow_release(&allow);
	mem_free(b.state);
	mem_free(b.own.v);
	arena_release(&arena);
	return rc;
}

/* ---- the cache ---- */

static bool current(const struct edl_entry *en, int64_t generation, int64_t now_ns)
{
	return en->built && en->generation == generation &&
	       (!en->next_expiry_ns || now_ns < en->next_expiry_ns);
}

/* The cache's entry of (tenant, list): found, a new one, or the oldest one taken over. */
static struct edl_entry *entry_of(struct edl *d, const char *tenant, size_t list)
{
	struct edl_entry *en = NULL;

	for (size_t i = 0; i < d->n_entries; i++)
		if (d->entries[i].list == list && !strcmp(d->entries[i].tenant, tenant))
			return &d->entries[i];
	if (d->n_entries < EDL_CACHE_MAX) {
		en = &d->entries[d->n_entries++];
	} else {
		en = &d->entries[0];
		for (size_t i = 1; i < d->n_entries; i++)
			if (d->entries[i].view.built_ns < en->view.built_ns)
				en = &d->entries[i];
		buf_release(&en->text);
	}
	memset(en, 0, sizeof(*en));
	snprintf(en->tenant, sizeof(en->tenant), "%s", tenant);
	en->list = list;
	buf_init(&en->text, EDL_TEXT_MAX);
	return en;
}

static ssize_t list_index(const struct edl *d, const char *list)
{
	for (size_t i = 0; i < d->n_lists; i++)
		if (!strcmp(d->lists[i].name, list))
			return (ssize_t)i;
	return -1;
}

bool edl_has_list(const struct edl *d, const char *list)
{
	return list_index(d, list) >= 0;
}

int edl_get(struct edl *d, struct meta *m, const char *tenant, const char *list, int64_t now_ns,
	    void (*fn)(void *ctx, const struct edl_list *l), void *ctx, struct err *e)
{
	ssize_t li = list_index(d, list);
	struct edl_entry *en;
	int64_t generation = 0;
	int rc;

	if (li < 0)
		return err_set(e, -ENOENT, "no list '%s' (edl.lists in the configuration)", list);
	if (strlen(tenant) >= EDL_TENANT_MAX || (rc = meta_tenant_check(tenant, e)) < 0)
		return err_set(e, -EINVAL, "tenant '%s': not a tenant name", tenant);
	if ((rc = meta_edl_generation(m, &generation, e)) < 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	en = entry_of(d, tenant, (size_t)li);
	if (current(en, generation, now_ns) || (rc = build(d, m, en, generation, now_ns, e)) == 0)
		fn(ctx, &en->view);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* ---- life cycle ---- */

static int collect_dropped(struct metrics_out *o, void *ctx)
{
	struct edl *d = ctx;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n_entries && !rc; i++)
		for (unsigned r = 0; r < EDL_DROPS && !rc; r++)
			rc = metrics_sample(o, d->entries[i].dropped_total[r], "tenant",
					    d->entries[i].tenant, "list",
					    d->lists[d->entries[i].list].name, "reason",
					    drop_names[r], NULL);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int copy_list(struct edl_list_config *to, const struct edl_list_config *from,
		     struct err *e)
{
	*to = *from;
	to->sources = NULL;
	if (!(to->name = mem_strdup(from->name)))
		return err_set(e, -ENOMEM, "edl: out of memory");
	if (from->n_sources && !(to->sources = mem_calloc(from->n_sources, sizeof(char *))))
		return err_set(e, -ENOMEM, "edl: out of memory");
	for (size_t i = 0; i < from->n_sources; i++)
		if (!(((char **)to->sources)[i] = mem_strdup(from->sources[i])))
			return err_set(e, -ENOMEM, "edl: out of memory");
	return 0;
}

static int check_list(const struct edl_config *c, size_t i, struct err *e)
{
	const struct edl_list_config *l = &c->lists[i];

	if (!l->name || !name_valid_new(l->name, strlen(l->name)))
		return err_set(e, -EINVAL, "edl.lists: list name '%s': expected 1-63 of a-z 0-9 _ - "
			       "starting with a letter or digit", l->name ? l->name : "");
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->lists[j].name, l->name))
			return err_set(e, -EINVAL, "edl.lists: list '%s' given twice", l->name);
	if (l->min_confidence < 0 || l->min_confidence > 100)
		return err_set(e, -EINVAL, "edl.lists.%s.min_confidence: expected 0 to 100", l->name);
	return 0;
}

int edl_new(struct edl **dp, const struct edl_config *c, struct err *e)
{
	struct edl *d;
	int rc = 0;

	*dp = NULL;
	if (c->n_lists > EDL_MAX_LISTS)
		return err_set(e, -EINVAL, "edl.lists: at most %d lists", EDL_MAX_LISTS);
	for (size_t i = 0; i < c->n_lists; i++)
		if ((rc = check_list(c, i, e)) < 0)
			return rc;
	if (!(d = mem_calloc(1, sizeof(*d))))
		return err_set(e, -ENOMEM, "edl: out of memory");
	pthread_mutex_init(&d->lock, NULL);
	arena_init(&d->allow_arena, 4096, EDL_ARENA_MAX);
	if ((c->n_lists && !(d->lists = mem_calloc(c->n_lists, sizeof(*d->lists)))) ||
	    (c->n_lists && !(d->globals = mem_calloc(c->n_lists, sizeof(*d->globals)))) ||
	    !(d->allow = mem_calloc(1, sizeof(*d->allow))) ||
	    !(d->entries = mem_calloc(EDL_CACHE_MAX, sizeof(*d->entries)))) {
		rc = err_set(e, -ENOMEM, "edl: out of memory");
		goto fail;
	}
	for (; d->n_lists < c->n_lists; d->n_lists++)
		if ((rc = copy_list(&d->lists[d->n_lists], &c->lists[d->n_lists], e)) < 0) {
			d->n_lists++; /* its copies so far are freed with it */
			goto fail;
		}
	d->allow->arena = &d->allow_arena;
	for (size_t i = 0; i < c->n_allow; i++) {
		char canon[TI_VALUE_BUF];
		const char *type;

		if ((rc = edl_allow_parse(c->allow[i], &type, canon, e)) < 0)
			goto fail;
		if ((rc = allow_add(d->allow, type, canon)) < 0) {
			err_set(e, rc, "edl.allow: %s", strerror(-rc));
			goto fail;
		}
	}
	allow_seal(d->allow);
	if (c->metrics) {
		if ((rc = metrics_register("koban_edl_dropped_total", METRICS_COUNTER,
					   "Entries left out of External Dynamic Lists, by tenant, "
					   "list and reason, counted at each build.",
					   collect_dropped, d)) < 0) {
			err_set(e, rc, "edl: cannot register its metric: %s", strerror(-rc));
			goto fail;
		}
		d->metrics = true;
	}
	*dp = d;
	return 0;
fail:
	edl_free(d);
	return rc;
}

void edl_free(struct edl *d)
{
	if (!d)
		return;
	if (d->metrics)
		metrics_unregister(d); /* first: a scrape may be reading d */
	for (size_t i = 0; i < d->n_lists; i++) {
		for (size_t j = 0; d->lists[i].sources && j < d->lists[i].n_sources; j++)
			mem_free((char *)d->lists[i].sources[j]);
		mem_free((void *)d->lists[i].sources);
		mem_free((char *)d->lists[i].name);
	}
	for (size_t i = 0; d->globals && i < d->n_lists; i++)
		global_release(&d->globals[i]);
	if (d->allow)
		allow_release(d->allow);
	arena_release(&d->allow_arena);
	for (size_t i = 0; i < d->n_entries; i++)
		buf_release(&d->entries[i].text);
	mem_free(d->lists);
	mem_free(d->globals);
	mem_free(d->allow);
	mem_free(d->entries);
	pthread_mutex_destroy(&d->lock);
	mem_free(d);
}
