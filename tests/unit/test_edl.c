/*
 * Unit tests of the External Dynamic Lists (respond/edl) and their koban.db parts
 * (store/meta.h, "External Dynamic Lists"): the lines of each type, scope and tenant
 * isolation, sources and confidence, the allow-lists (configured and the tenant's),
 * the cap's order, the cache and its rebuilds, EDL tokens, allocation failures.
 */
#include "respond/edl.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/ti.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct meta_indicator ind(const char *type, const char *value, int confidence,
				 int64_t last_seen)
{
	return (struct meta_indicator){ .type = type, .value = value, .confidence = confidence,
					.first_seen_ns = 1, .last_seen_ns = last_seen,
					.tags = "[]" };
}

struct got {
	char text[1024];
	char etag[40];
	size_t entries;
	uint64_t dropped[EDL_DROPS];
	int64_t built_ns;
};

static void take(void *ctx, const struct edl_list *l)
{
	struct got *g = ctx;

	snprintf(g->text, sizeof(g->text), "%.*s", (int)l->len, l->text);
	snprintf(g->etag, sizeof(g->etag), "%s", l->etag);
	g->entries = l->entries;
	memcpy(g->dropped, l->dropped, sizeof(g->dropped));
	g->built_ns = l->built_ns;
}

/* The text of tenant's list (g filled), or "ERROR" */
static const char *get(struct edl *d, struct meta *m, const char *tenant, const char *list,
		       int64_t now, struct got *g)
{
	struct err e = ERR_INIT;

	memset(g, 0, sizeof(*g));
	if (edl_get(d, m, tenant, list, now, take, g, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "edl_get %s %s: %s", tenant, list, e.msg);
		return "ERROR";
	}
	return g->text;
}

static const char *const every[] = { "*" };

static const struct meta_indicator feed[] = {
	{ .type = "ip", .value = "192.0.2.1", .confidence = 80, .first_seen_ns = 1,
	  .last_seen_ns = 1, .tags = "[]" },
	{ .type = "ip", .value = "198.51.100.0/24", .confidence = 80, .first_seen_ns = 1,
	  .last_seen_ns = 1, .tags = "[]" },
	{ .type = "ip", .value = "2001:db8::/32", .confidence = 80, .first_seen_ns = 1,
	  .last_seen_ns = 1, .tags = "[]" },
	{ .type = "domain", .value = "evil.example", .confidence = 80, .first_seen_ns = 1,
	  .last_seen_ns = 1, .tags = "[]" },
	{ .type = "domain", .value = "b\xc3\xa4" "d.example", .confidence = 80, .first_seen_ns = 1,
	  .last_seen_ns = 1, .tags = "[]" },
	{ .type = "url", .value = "http://evil.example/x?a=1", .confidence = 80,
	  .first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" },
	{ .type = "url", .value = "https://bad.example:8443/p", .confidence = 80,
	  .first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" },
	{ .type = "url", .value = "ftp://files.example/f", .confidence = 80, .first_seen_ns = 1,
	  .last_seen_ns = 1, .tags = "[]" },
	{ .type = "md5", .value = "d41d8cd98f00b204e9800998ecf8427e", .confidence = 80,
	  .first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" },
};

static void test_lines_and_scopes(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const struct edl_list_config lists[] = {
		{ .name = "ips", .type = EDL_IP, .include_global = true },
		{ .name = "domains", .type = EDL_DOMAIN, .include_global = true },
		{ .name = "urls", .type = EDL_URL, .sources = every, .n_sources = 1,
		  .include_global = true },
		{ .name = "own-ips", .type = EDL_IP, .include_global = false },
	};
	const struct meta_indicator own_a[] = { ind("ip", "203.0.113.5", -1, 1) };
	const struct meta_indicator own_b[] = { ind("ip", "203.0.113.9", 10, 1) };
	const struct edl_config c = { lists, ARRAY_SIZE(lists), NULL, 0, false };
	struct edl *d = NULL;
	struct err e = ERR_INIT;
	struct got g;

	if (!m)
		return;
	t_meta_put(m, "feed1", NULL, feed, ARRAY_SIZE(feed));
	t_meta_put(m, "own", "a", own_a, 1);
	t_meta_put(m, "own", "b", own_b, 1);
	CHECK_INT(edl_new(&d, &c, &e), 0);
	if (!d)
		goto out;
	CHECK_STR(get(d, m, "a", "ips", 100, &g),
		  "192.0.2.1\n198.51.100.0/24\n2001:db8::/32\n203.0.113.5\n");
	CHECK_INT(g.entries, 4);
	CHECK(g.etag[0] == '"' && strlen(g.etag) == 34);
	CHECK_STR(get(d, m, "b", "ips", 100, &g),
		  "192.0.2.1\n198.51.100.0/24\n2001:db8::/32\n203.0.113.9\n");
	CHECK_STR(get(d, m, "a", "own-ips", 100, &g), "203.0.113.5\n");
	CHECK_STR(get(d, m, "b", "own-ips", 100, &g), "203.0.113.9\n");
	/* a non-ASCII domain is not for PAN-OS (feeds give xn--) */
	CHECK_STR(get(d, m, "a", "domains", 100, &g), "evil.example\n");
	CHECK_INT(g.dropped[EDL_DROP_UNSUPPORTED], 1);
	/* without scheme; an ftp URL is not web traffic */
	CHECK_STR(get(d, m, "a", "urls", 100, &g), "bad.example:8443/p\nevil.example/x?a=1\n");
	CHECK_INT(g.dropped[EDL_DROP_UNSUPPORTED], 1);
	CHECK_INT(edl_get(d, m, "a", "nope", 100, take, &g, &e), -ENOENT);
	CHECK_INT(edl_get(d, m, "../x", "ips", 100, take, &g, &e), -EINVAL);
	CHECK(edl_has_list(d, "urls") && !edl_has_list(d, "nope"));
out:
	edl_free(d);
	meta_close(m);
}

static void test_sources_confidence(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const char *const only_feed2[] = { "feed2" };
	const struct edl_list_config lists[] = {
		{ .name = "f2", .type = EDL_IP, .sources = only_feed2, .n_sources = 1,
		  .include_global = true },
		{ .name = "sure", .type = EDL_IP, .min_confidence = 60, .include_global = true },
		{ .name = "any", .type = EDL_IP, .min_confidence = 50, .include_global = true },
	};
	const struct meta_indicator f1[] = { ind("ip", "192.0.2.1", 90, 1),
					     ind("ip", "192.0.2.2", -1, 1) };
	const struct meta_indicator f2[] = { ind("ip", "192.0.2.3", 40, 1),
					     ind("ip", "192.0.2.1", 20, 5) };
	const struct edl_config c = { lists, ARRAY_SIZE(lists), NULL, 0, false };
	struct edl *d = NULL;
	struct err e = ERR_INIT;
	struct got g;

	if (!m)
		return;
	t_meta_put(m, "feed1", NULL, f1, 2);
	t_meta_put(m, "feed2", "a", f2, 2);
	CHECK_INT(edl_new(&d, &c, &e), 0);
	if (!d)
		goto out;
	CHECK_STR(get(d, m, "a", "f2", 100, &g), "192.0.2.1\n192.0.2.3\n");
	CHECK_STR(get(d, m, "b", "f2", 100, &g), "");
	/* an unknown confidence counts as 50; one value from two sources: the highest */
	CHECK_STR(get(d, m, "a", "sure", 100, &g), "192.0.2.1\n");
	CHECK_STR(get(d, m, "a", "any", 100, &g), "192.0.2.1\n192.0.2.2\n");
out:
	edl_free(d);
	meta_close(m);
}

static void test_allow(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const char *const allow[] = { "10.1.2.3", "resolver.example", "HTTP://Safe.Example/ok" };
	const struct edl_list_config lists[] = {
		{ .name = "ips", .type = EDL_IP, .include_global = true },
		{ .name = "domains", .type = EDL_DOMAIN, .include_global = true },
		{ .name = "urls", .type = EDL_URL, .include_global = true },
	};
	const struct meta_indicator g1[] = {
		ind("ip", "10.0.0.0/8", 90, 1),        /* covers 10.1.2.3: dropped, reported */
		ind("ip", "172.16.5.5", 90, 1),        /* inside the tenant's 172.16.0.0/12 */
		ind("ip", "172.15.255.255", 90, 1),    /* just outside */
		ind("ip", "192.0.2.0/25", 90, 1),      /* the tenant allows 192.0.2.0/24 */
		ind("ip", "2001:db8::5", 90, 1),
		ind("domain", "resolver.example", 90, 1),
		ind("domain", "a.b.resolver.example", 90, 1),
		ind("domain", "example", 90, 1),       /* covers resolver.example */
		ind("domain", "xresolver.example", 90, 1),
		ind("url", "http://a.resolver.example/x", 90, 1),
		ind("url", "http://safe.example/ok", 90, 1),
		ind("url", "http://safe.example/other", 90, 1),
		ind("url", "http://172.16.0.1/x", 90, 1),
		ind("url", "http://[2001:db8::5]:81/x", 90, 1),
	};
	const struct edl_config c = { lists, ARRAY_SIZE(lists), allow, ARRAY_SIZE(allow), false };
	struct edl *d = NULL;
	struct err e = ERR_INIT;
	struct got g;

	if (!m)
		return;
	t_meta_put(m, "feed1", NULL, g1, ARRAY_SIZE(g1));
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "172.16.0.0/12", &e), 0);
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "192.0.2.0/24", &e), 0);
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "2001:db8::5", &e), 0);
	CHECK_INT(edl_new(&d, &c, &e), 0);
	if (!d)
		goto out;
	CHECK_STR(get(d, m, "a", "ips", 100, &g), "172.15.255.255\n");
	CHECK_INT(g.dropped[EDL_DROP_ALLOW], 3);
	CHECK_INT(g.dropped[EDL_DROP_ALLOW_OVERLAP], 1);
	/* tenant b has only the configured allow-list */
	CHECK_STR(get(d, m, "b", "ips", 100, &g),
		  "172.15.255.255\n172.16.5.5\n192.0.2.0/25\n2001:db8::5\n");
	CHECK_STR(get(d, m, "a", "domains", 100, &g), "xresolver.example\n");
	CHECK_INT(g.dropped[EDL_DROP_ALLOW], 2);
	CHECK_INT(g.dropped[EDL_DROP_ALLOW_OVERLAP], 1);
	CHECK_STR(get(d, m, "a", "urls", 100, &g), "safe.example/other\n");
	CHECK_INT(g.dropped[EDL_DROP_ALLOW], 4);
	CHECK_STR(get(d, m, "b", "urls", 100, &g),
		  "172.16.0.1/x\n[2001:db8::5]:81/x\nsafe.example/other\n");
out:
	edl_free(d);
	meta_close(m);
}

static void test_cap(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const struct edl_list_config lists[] = {
		{ .name = "top2", .type = EDL_IP, .max_entries = 2, .include_global = true },
		{ .name = "top3", .type = EDL_IP, .max_entries = 3, .include_global = true },
	};
	const struct meta_indicator g1[] = {
		ind("ip", "192.0.2.1", 50, 300), ind("ip", "192.0.2.2", 90, 100),
		ind("ip", "192.0.2.3", 70, 100), ind("ip", "192.0.2.4", 50, 200),
		ind("ip", "192.0.2.5", -1, 400),
	};
	const struct edl_config c = { lists, ARRAY_SIZE(lists), NULL, 0, false };
	struct edl *d = NULL;
	struct err e = ERR_INIT;
	struct got g;

	if (!m)
		return;
	t_meta_put(m, "feed1", NULL, g1, ARRAY_SIZE(g1));
	CHECK_INT(edl_new(&d, &c, &e), 0);
	if (!d)
		goto out;
	CHECK_STR(get(d, m, "a", "top2", 100, &g), "192.0.2.2\n192.0.2.3\n");
	CHECK_INT(g.dropped[EDL_DROP_CAP], 3);
	/* among confidence 50 (one unknown): the latest seen first */
	CHECK_STR(get(d, m, "a", "top3", 100, &g), "192.0.2.2\n192.0.2.3\n192.0.2.5\n");
	CHECK_INT(g.dropped[EDL_DROP_CAP], 2);
	/* a tenant's own indicators compete with the global ones; a value both list is one */
	t_meta_put(m, "own", "a", (struct meta_indicator[]){ ind("ip", "192.0.2.6", 95, 1) }, 1);
	t_meta_put(m, "own", "b", (struct meta_indicator[]){ ind("ip", "192.0.2.4", 99, 1) }, 1);
	CHECK_STR(get(d, m, "a", "top2", 200, &g), "192.0.2.2\n192.0.2.6\n");
	CHECK_INT(g.dropped[EDL_DROP_CAP], 4);
	CHECK_STR(get(d, m, "b", "top2", 200, &g), "192.0.2.2\n192.0.2.4\n");
	CHECK_INT(g.dropped[EDL_DROP_CAP], 3);
	CHECK_STR(get(d, m, "b", "top3", 200, &g), "192.0.2.2\n192.0.2.3\n192.0.2.4\n");
out:
	edl_free(d);
	meta_close(m);
}

static void test_cache(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const struct edl_list_config lists[] = {
		{ .name = "ips", .type = EDL_IP, .include_global = true },
	};
	struct meta_indicator soon = ind("ip", "192.0.2.9", 90, 1);
	const struct meta_indicator one[] = { ind("ip", "192.0.2.1", 90, 1) };
	const struct edl_config c = { lists, ARRAY_SIZE(lists), NULL, 0, false };
	struct edl *d = NULL;
	struct err e = ERR_INIT;
	struct got g, h;

	if (!m)
		return;
	soon.expires_ns = 1000;
	t_meta_put(m, "feed1", NULL, one, 1);
	t_meta_put(m, "feed1", NULL, &soon, 1);
	CHECK_INT(edl_new(&d, &c, &e), 0);
	if (!d)
		goto out;
	CHECK_STR(get(d, m, "a", "ips", 100, &g), "192.0.2.1\n192.0.2.9\n");
	CHECK_STR(get(d, m, "a", "ips", 200, &h), "192.0.2.1\n192.0.2.9\n");
	CHECK_INT(h.built_ns, 100); /* cached */
	CHECK_STR(h.etag, g.etag);
	/* an entry expires: built again without it */
	CHECK_STR(get(d, m, "a", "ips", 1000, &h), "192.0.2.1\n");
	CHECK_INT(h.built_ns, 1000);
	CHECK(strcmp(h.etag, g.etag));
	CHECK_STR(get(d, m, "a", "ips", 2000, &g), "192.0.2.1\n");
	CHECK_INT(g.built_ns, 1000);
	/* an allow-list change, then an indicator change: built again */
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "192.0.2.1", &e), 0);
	CHECK_STR(get(d, m, "a", "ips", 3000, &g), "");
	CHECK_INT(g.built_ns, 3000);
	CHECK_INT(meta_edl_allow_remove(m, "a", "ip", "192.0.2.1", &e), 0);
	t_meta_put(m, "feed2", NULL, (struct meta_indicator[]){ ind("ip", "192.0.2.7", 90, 1) }, 1);
	CHECK_STR(get(d, m, "a", "ips", 4000, &g), "192.0.2.1\n192.0.2.7\n");
	CHECK_INT(g.built_ns, 4000);
	CHECK_STR(get(d, m, "b", "ips", 4000, &g), "192.0.2.1\n192.0.2.7\n");
out:
	edl_free(d);
	meta_close(m);
}

struct allow_rows {
	char text[512];
};

static void allow_row(void *ctx, const struct meta_edl_allow *a)
{
	struct allow_rows *r = ctx;
	size_t len = strlen(r->text);

	snprintf(r->text + len, sizeof(r->text) - len, "%s%s:%s", len ? " " : "", a->type,
		 a->value);
}

static void test_allow_store(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	struct allow_rows r = { { 0 } };
	char canon[TI_VALUE_BUF];
	const char *type;

	if (!m)
		return;
	CHECK_INT(meta_edl_allow_add(m, "a", "domain", "corp.example", &e), 0);
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "10.0.0.0/8", &e), 0);
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "10.0.0.0/8", &e), -EEXIST);
	CHECK_INT(meta_edl_allow_add(m, "a", "ip", "10.0.0.1/8", &e), -EINVAL);
	CHECK_INT(meta_edl_allow_add(m, "a", "domain", "Corp.Example", &e), -EINVAL);
	CHECK_INT(meta_edl_allow_add(m, "a", "md5", "d41d8cd98f00b204e9800998ecf8427e", &e),
		  -EINVAL);
	CHECK_INT(meta_edl_allow_add(m, "zz", "ip", "10.0.0.0/8", &e), -ENOENT);
	CHECK_INT(meta_edl_allow_add(m, "b", "ip", "192.0.2.1", &e), 0);
	/* every call names its tenant: a's entries are never b's */
	CHECK_INT(meta_edl_allow_list(m, "a", allow_row, &r, &e), 0);
	CHECK_STR(r.text, "domain:corp.example ip:10.0.0.0/8");
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_edl_allow_list(m, "b", allow_row, &r, &e), 0);
	CHECK_STR(r.text, "ip:192.0.2.1");
	CHECK_INT(meta_edl_allow_remove(m, "b", "ip", "10.0.0.0/8", &e), -ENOENT);
	CHECK_INT(meta_edl_allow_remove(m, "a", "ip", "10.0.0.0/8", &e), 0);
	CHECK_INT(meta_edl_allow_list(m, "zz", allow_row, &r, &e), -ENOENT);
	CHECK_INT(edl_allow_parse("10.1.0.0/16", &type, canon, &e), 0);
	CHECK_STR(type, "ip");
	CHECK_INT(edl_allow_parse("WWW.Example.COM.", &type, canon, &e), 0);
	CHECK_STR(type, "domain");
	CHECK_STR(canon, "www.example.com");
	CHECK_INT(edl_allow_parse("https://X.example/a", &type, canon, &e), 0);
	CHECK_STR(canon, "https://x.example/a");
	CHECK_INT(edl_allow_parse("d41d8cd98f00b204e9800998ecf8427e", &type, canon, &e), -EINVAL);
	/* removing the tenant removes its allow-list */
	CHECK_INT(meta_tenant_remove(m, "a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "a", &e), 0);
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_edl_allow_list(m, "a", allow_row, &r, &e), 0);
	CHECK_STR(r.text, "");
	meta_close(m);
}

static void found(void *ctx, const struct meta_token *t)
{
	snprintf(ctx, 64, "%s:%s:%d", t->name, t->tenant ? t->tenant : "soc", t->edl);
}

static void test_tokens(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	unsigned char he[META_TOKEN_HASH_LEN], ha[META_TOKEN_HASH_LEN];
	char who[64] = "";

	if (!m)
		return;
	meta_token_hash("kbn_edl", 7, he);
	meta_token_hash("kbn_api", 7, ha);
	CHECK_INT(meta_edl_token_add(m, "fw-a", "a", he, &e), 0);
	CHECK_INT(meta_edl_token_add(m, "fw-soc", NULL, ha, &e), -EINVAL);
	CHECK_INT(meta_edl_token_add(m, "fw-x", "zz", ha, &e), -ENOENT);
	CHECK_INT(meta_token_add(m, "api-a", "a", ha, &e), 0);
	CHECK_INT(meta_edl_token_add(m, "api-a", "a", he, &e), -EEXIST);
	/* an EDL token opens no API endpoint, an API token no list */
	CHECK_INT(meta_token_find(m, he, found, who, &e), -ENOENT);
	CHECK_INT(meta_edl_token_find(m, "api-a", ha, found, who, &e), -ENOENT);
	CHECK_INT(meta_edl_token_find(m, "fw-a", ha, found, who, &e), -ENOENT);
	CHECK_INT(meta_edl_token_find(m, "fw-a", he, found, who, &e), 0);
	CHECK_STR(who, "fw-a:a:1");
	CHECK_INT(meta_token_find(m, ha, found, who, &e), 0);
	CHECK_STR(who, "api-a:a:0");
	CHECK_INT(meta_token_revoke(m, "fw-a", &e), 0);
	CHECK_INT(meta_edl_token_find(m, "fw-a", he, found, who, &e), -ENOENT);
	meta_close(m);
}

static void test_config_checks(void)
{
	const char *const bad_allow[] = { "d41d8cd98f00b204e9800998ecf8427e" };
	const struct edl_list_config twice[] = {
		{ .name = "x", .type = EDL_IP }, { .name = "x", .type = EDL_URL },
	};
	const struct edl_list_config badname[] = { { .name = "../x", .type = EDL_IP } };
	const struct edl_list_config badconf[] = { { .name = "x", .min_confidence = 101 } };
	struct edl *d = NULL;
	struct err e = ERR_INIT;
	enum edl_type t;

	CHECK_INT(edl_new(&d, &(struct edl_config){ twice, 2, NULL, 0, false }, &e), -EINVAL);
	CHECK(strstr(e.msg, "twice"));
	CHECK_INT(edl_new(&d, &(struct edl_config){ badname, 1, NULL, 0, false }, &e), -EINVAL);
	CHECK_INT(edl_new(&d, &(struct edl_config){ badconf, 1, NULL, 0, false }, &e), -EINVAL);
	CHECK_INT(edl_new(&d, &(struct edl_config){ NULL, 0, bad_allow, 1, false }, &e), -EINVAL);
	CHECK(d == NULL);
	CHECK_INT(edl_type_parse("domain", &t), 0);
	CHECK_INT(t, EDL_DOMAIN);
	CHECK_INT(edl_type_parse("hash", &t), -EINVAL);
}

/* The edl: section of the configuration (core/config.c): values, defaults, errors, reload. */
static void test_config_section(void)
{
	static const char good[] =
		"edl:\n"
		"  lists:\n"
		"    block-ips: { type: ip, sources: [\"*\"], min_confidence: 60 }\n"
		"    doms: { type: domain, sources: feed1, max_entries: 10,\n"
		"            include_global: false }\n"
		"  allow: [192.0.2.53, resolver.example]\n";
	static const char other[] = "edl:\n  lists:\n    urls: { type: url }\n";
	static const char *const bad[][2] = {
		{ "edl:\n  lists:\n    x: { type: hash }\n",
		  "t.yaml:3: edl.lists.x.type: expected ip, domain or url, got 'hash'" },
		{ "edl:\n  lists:\n    x: { sources: [a] }\n",
		  "t.yaml:3: 'edl.lists.x' is missing the required key 'type'" },
		{ "edl:\n  lists:\n    x: { type: ip, min_confidence: 101 }\n",
		  "t.yaml:3: edl.lists.x.min_confidence: expected an integer from 0 to 100, "
		  "got '101'" },
		{ "edl:\n  lists:\n    ../x: { type: ip }\n", NULL },
		{ "edl:\n  lists:\n    x: { type: ip }\n    x: { type: url }\n", NULL },
	};
	struct config c, next;
	struct err e = ERR_INIT;

	CHECK_INT(config_load_mem(&c, good, strlen(good), "t.yaml", &e), 0);
	CHECK_INT(c.n_edl_lists, 2);
	CHECK_STR(c.edl_lists[0].name, "block-ips");
	CHECK_INT(c.edl_lists[0].type, CONFIG_EDL_IP);
	CHECK_INT(c.edl_lists[0].min_confidence, 60);
	CHECK_INT(c.edl_lists[0].max_entries, 50000);
	CHECK_INT(c.edl_lists[0].include_global, 1);
	CHECK_INT(c.edl_lists[0].n_sources, 1);
	CHECK_STR(c.edl_lists[1].sources[0], "feed1");
	CHECK_INT(c.edl_lists[1].max_entries, 10);
	CHECK_INT(c.edl_lists[1].include_global, 0);
	CHECK_STR(config_edl_type_name(c.edl_lists[1].type), "domain");
	CHECK_INT(c.n_edl_allow, 2);
	CHECK_STR(c.edl_allow[1], "resolver.example");
	/* a reload keeps the served lists until a restart */
	CHECK_INT(config_load_mem(&next, other, strlen(other), "t.yaml", &e), 0);
	CHECK(config_diff(&c, &next, NULL, NULL) >= 2);
	CHECK_INT(config_keep_restart_keys(&next, &c, &e), 0);
	CHECK_INT(next.n_edl_lists, 2);
	CHECK_STR(next.edl_lists[1].name, "doms");
	CHECK_STR(next.edl_lists[1].sources[0], "feed1");
	CHECK_INT(next.n_edl_allow, 2);
	CHECK_INT(config_diff(&c, &next, NULL, NULL), 0);
	config_release(&next);
	config_release(&c);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_INT(config_load_mem(&c, bad[i][0], strlen(bad[i][0]), "t.yaml", &e), -EINVAL);
		if (bad[i][1])
			CHECK_STR(e.msg, bad[i][1]);
	}
}

static void test_alloc_failures(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const char *const allow[] = { "10.1.2.3", "resolver.example" };
	const char *const src[] = { "feed1" };
	const struct edl_list_config lists[] = {
		{ .name = "ips", .type = EDL_IP, .sources = src, .n_sources = 1,
		  .include_global = true },
	};
	const struct edl_config c = { lists, 1, allow, 2, false };
	struct err setup = ERR_INIT;
	long n;

	if (!m)
		return;
	t_meta_put(m, "feed1", NULL, feed, ARRAY_SIZE(feed));
	CHECK_INT(meta_edl_allow_add(m, "a", "domain", "corp.example", &setup), 0);
	for (n = 0; n < 200; n++) {
		struct edl *d = NULL;
		struct err e = ERR_INIT;
		struct got g;
		int rc;

		mem_fail_after(n);
		if ((rc = edl_new(&d, &c, &e)) == 0)
			rc = edl_get(d, m, "a", "ips", 100, take, &g, &e);
		mem_fail_after(-1);
		edl_free(d);
		if (rc == 0) {
			CHECK_STR(g.text, "192.0.2.1\n198.51.100.0/24\n2001:db8::/32\n");
			break;
		}
		CHECK_INT(rc, -ENOMEM);
	}
	CHECK(n > 5 && n < 200);
	meta_close(m);
}

int main(void)
{
	T_RUN(test_lines_and_scopes);
	T_RUN(test_sources_confidence);
	T_RUN(test_allow);
	T_RUN(test_cap);
	T_RUN(test_cache);
	T_RUN(test_allow_store);
	T_RUN(test_tokens);
	T_RUN(test_config_checks);
	T_RUN(test_config_section);
	T_RUN(test_alloc_failures);
	return t_done();
}
