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

/* A configured allow-list value: its ti type and canonical form. */
struct allow_value {
	const char *type;
	char *value;
};

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

struct edl {
	struct edl_list_config *lists;
	size_t n_lists;
	struct allow_value *allow;
	size_t n_allow;
	pthread_mutex_t lock;          /* entries and everything they hold */
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

/* ---- one build ---- */

/* An indicator that may be listed: its line (without '\n') and what orders the cap. */
struct cand {
	const char *line;
	const char *value;      /* the canonical indicator (URLs: checked against allowed ones) */
	int confidence;         /* unknown counted as EDL_UNKNOWN_CONFIDENCE */
	int64_t last_seen_ns;
};

struct build {
	const struct edl_list_config *cfg;
	const char *tenant;
	int64_t now_ns;
	struct arena arena;
	struct cand *cands;
	size_t n_cands, cap_cands;
	int64_t next_expiry_ns;
	uint64_t dropped[EDL_DROPS];
	int rc;                 /* the first error of the indicator callback */
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
	struct build *b = ctx;
	const char *line;
	struct cand *c;
	int conf = ind->confidence < 0 ? EDL_UNKNOWN_CONFIDENCE : ind->confidence;

	if (b->rc < 0 || !source_chosen(b->cfg, ind->source))
		return;
	if (ind->expires_ns && ind->expires_ns <= b->now_ns)
		return;
	if (conf < b->cfg->min_confidence)
		return;
	if (ind->expires_ns && (!b->next_expiry_ns || ind->expires_ns < b->next_expiry_ns))
		b->next_expiry_ns = ind->expires_ns;
	if (!(line = line_of(b->cfg->type, ind->value))) {
		b->dropped[EDL_DROP_UNSUPPORTED]++;
		return;
	}
	if ((b->rc = grow((void **)&b->cands, &b->cap_cands, b->n_cands, sizeof(*b->cands),
			  EDL_CANDIDATES_MAX)) < 0)
		return;
	c = &b->cands[b->n_cands];
	c->value = arena_strndup(&b->arena, ind->value, strlen(ind->value));
	if (!c->value) {
		b->rc = -ENOMEM;
		return;
	}
	c->line = c->value + (line - ind->value);
	c->confidence = conf;
	c->last_seen_ns = ind->last_seen_ns;
	b->n_cands++;
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

/* One line per value (several sources may list it): the highest confidence, latest seen. */
static void merge_same(struct build *b)
{
	size_t out = 0;

	if (b->n_cands)
		qsort(b->cands, b->n_cands, sizeof(*b->cands), cmp_line);
	for (size_t i = 0; i < b->n_cands; i++) {
		struct cand *c = &b->cands[i], *prev = out ? &b->cands[out - 1] : NULL;

		if (prev && !strcmp(prev->line, c->line)) {
			if (c->confidence > prev->confidence)
				prev->confidence = c->confidence;
			if (c->last_seen_ns > prev->last_seen_ns)
				prev->last_seen_ns = c->last_seen_ns;
			continue;
		}
		b->cands[out++] = *c;
	}
	b->n_cands = out;
}

static enum verdict verdict_of(const struct allow_set *a, enum edl_type type,
			       const struct cand *c)
{
	struct ip_range r;

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

/* Drops the allowed entries (the overlapping ones named in the log). */
static void apply_allow(struct build *b, const struct allow_set *a)
{
	size_t out = 0;

	for (size_t i = 0; i < b->n_cands; i++) {
		enum verdict v = verdict_of(a, b->cfg->type, &b->cands[i]);

		if (v == LISTED) {
			b->cands[out++] = b->cands[i];
			continue;
		}
		if (v == ALLOWED) {
			b->dropped[EDL_DROP_ALLOW]++;
			continue;
		}
		if (++b->dropped[EDL_DROP_ALLOW_OVERLAP] <= EDL_OVERLAP_LOGGED)
			log_warn("tenant %s list %s: %s not listed: it covers an allowed value",
				 b->tenant, b->cfg->name, b->cands[i].line);
	}
	b->n_cands = out;
}

/* Past max_entries: the lowest confidence, then the oldest, go; the rest sorted by line. */
static void apply_cap(struct build *b)
{
	size_t max = b->cfg->max_entries ? b->cfg->max_entries : EDL_MAX_ENTRIES_DEFAULT;

	if (b->n_cands > max) {
		qsort(b->cands, b->n_cands, sizeof(*b->cands), cmp_keep);
		b->dropped[EDL_DROP_CAP] += b->n_cands - max;
		b->n_cands = max;
		qsort(b->cands, b->n_cands, sizeof(*b->cands), cmp_line);
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

/* The configured values and the tenant's own, sealed. */
static int allow_load(struct edl *d, struct meta *m, const char *tenant, struct allow_set *a,
		      struct err *e)
{
	struct allow_reader r = { a, 0 };
	int rc;

	for (size_t i = 0; i < d->n_allow && r.rc == 0; i++)
		r.rc = allow_add(a, d->allow[i].type, d->allow[i].value);
	if (r.rc == 0 && (rc = meta_edl_allow_list(m, tenant, take_allow, &r, e)) < 0)
		return rc;
	if (r.rc < 0)
		return err_set(e, r.rc, "tenant %s's allow-list: %s", tenant, strerror(-r.rc));
	allow_seal(a);
	return 0;
}

/* The text and ETag of the kept candidates into en. */
static int write_text(struct edl_entry *en, const struct build *b, struct err *e)
{
	unsigned char hash[16];
	char hex[33];

	int rc = 0;

	buf_reset(&en->text);
	for (size_t i = 0; i < b->n_cands && rc == 0; i++)
		if ((rc = buf_adds(&en->text, b->cands[i].line)) == 0)
			rc = buf_addch(&en->text, '\n');
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

static void log_drops(const struct build *b, size_t entries)
{
	bool any = false;

	for (unsigned i = 0; i < EDL_DROPS; i++)
		any |= b->dropped[i] != 0;
	if (!any)
		return;
	log_info("tenant %s list %s: %zu entries; dropped %llu allowed, %llu covering an "
		 "allowed value, %llu over the cap of %zu, %llu unsupported by PAN-OS", b->tenant,
		 b->cfg->name, entries, (unsigned long long)b->dropped[EDL_DROP_ALLOW],
		 (unsigned long long)b->dropped[EDL_DROP_ALLOW_OVERLAP],
		 (unsigned long long)b->dropped[EDL_DROP_CAP],
		 b->cfg->max_entries ? b->cfg->max_entries : (size_t)EDL_MAX_ENTRIES_DEFAULT,
		 (unsigned long long)b->dropped[EDL_DROP_UNSUPPORTED]);
}

/* Builds en's list from m: the indicators, the allow-lists, the cap. */
static int build(struct edl *d, struct meta *m, struct edl_entry *en, int64_t generation,
		 int64_t now_ns, struct err *e)
{
	const struct edl_list_config *cfg = &d->lists[en->list];
	struct build b = { .cfg = cfg, .tenant = en->tenant, .now_ns = now_ns };
	struct allow_set allow = { 0 };
	struct meta_indicator_filter f = {
		.scope = cfg->include_global ? META_TI_APPLIES : META_TI_TENANT,
		.tenant = en->tenant, .type = edl_type_name(cfg->type),
	};
	int rc;

	arena_init(&b.arena, 1u << 20, EDL_ARENA_MAX);
	allow.arena = &b.arena;
	if ((rc = allow_load(d, m, en->tenant, &allow, e)) < 0 ||
	    (rc = meta_indicator_list(m, &f, take_indicator, &b, e)) < 0)
		goto fail;
	if (b.rc < 0) {
		rc = err_set(e, b.rc, "tenant %s list %s: %s", en->tenant, cfg->name,
			     b.rc == -ENOSPC ? "too many indicators" : strerror(-b.rc));
		goto fail;
	}
	merge_same(&b);
	apply_allow(&b, &allow);
	apply_cap(&b);
	if ((rc = write_text(en, &b, e)) < 0)
		goto fail;
	log_drops(&b, b.n_cands);
	en->built = true;
	en->generation = generation;
	en->next_expiry_ns = b.next_expiry_ns;
	en->view = (struct edl_list){ .text = en->text.p, .len = en->text.len, .etag = en->etag,
				      .entries = b.n_cands, .built_ns = now_ns };
	for (unsigned i = 0; i < EDL_DROPS; i++) {
		en->view.dropped[i] = b.dropped[i];
		en->dropped_total[i] += b.dropped[i];
	}
fail:
	if (rc < 0)
		en->built = false;
	allow_release(&allow);
	mem_free(b.cands);
	arena_release(&b.arena);
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
	if ((c->n_lists && !(d->lists = mem_calloc(c->n_lists, sizeof(*d->lists)))) ||
	    (c->n_allow && !(d->allow = mem_calloc(c->n_allow, sizeof(*d->allow)))) ||
	    !(d->entries = mem_calloc(EDL_CACHE_MAX, sizeof(*d->entries)))) {
		rc = err_set(e, -ENOMEM, "edl: out of memory");
		goto fail;
	}
	for (; d->n_lists < c->n_lists; d->n_lists++)
		if ((rc = copy_list(&d->lists[d->n_lists], &c->lists[d->n_lists], e)) < 0) {
			d->n_lists++; /* its copies so far are freed with it */
			goto fail;
		}
	for (; d->n_allow < c->n_allow; d->n_allow++) {
		char canon[TI_VALUE_BUF];
		struct allow_value *v = &d->allow[d->n_allow];

		if ((rc = edl_allow_parse(c->allow[d->n_allow], &v->type, canon, e)) < 0)
			goto fail;
		if (!(v->value = mem_strdup(canon))) {
			rc = err_set(e, -ENOMEM, "edl: out of memory");
			goto fail;
		}
	}
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
	for (size_t i = 0; i < d->n_allow; i++)
		mem_free(d->allow[i].value);
	for (size_t i = 0; i < d->n_entries; i++)
		buf_release(&d->entries[i].text);
	mem_free(d->lists);
	mem_free(d->allow);
	mem_free(d->entries);
	pthread_mutex_destroy(&d->lock);
	mem_free(d);
}
