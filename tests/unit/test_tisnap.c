/*
 * Unit tests of the indicator store (store/meta.h indicators) and its snapshot
 * (enrich/tisnap): every lookup kind, scope isolation, nested networks (v4, v6, wide v6
 * ones holding IPv4; random lookups checked against a scan of every network, as text and
 * given parsed), domain depths, expiry, re-import, removal, allocation failures, and the
 * lock-free swap under concurrent readers.
 */
#include "enrich/tisnap.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/ti.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static struct meta_indicator ind(const char *type, const char *value)
{
	return (struct meta_indicator){ .type = type, .value = value, .confidence = 50,
					.first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" };
}

struct hits {
	char text[512];
	size_t n;
};

static void hit(void *ctx, const struct ti_match *mt)
{
	struct hits *h = ctx;
	size_t len = strlen(h->text);

	snprintf(h->text + len, sizeof(h->text) - len, "%s%s:%s@%s", len ? " " : "", mt->source,
		 mt->value, mt->tenant ? mt->tenant : "*");
	h->n++;
}

/* The matches of value, "source:value@scope" each, sorted as the table gives them. */
static const char *look(const struct ti_snapshot *s, const char *tenant, enum ti_type type,
			const char *value)
{
	static struct hits h;

	memset(&h, 0, sizeof(h));
	CHECK_INT(ti_lookup(s, tenant, type, value, strlen(value), hit, &h), h.n);
	return h.text;
}

static struct ti_snapshot *load(struct meta *m)
{
	struct ti_snapshot *s = NULL;
	struct err e = ERR_INIT;

	if (ti_snapshot_load(m, time_now_ns(), &s, &e) < 0)
		t_check(0, __FILE__, __LINE__, "load: %s", e.msg);
	return s;
}

static void test_lookup_kinds(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const struct meta_indicator g[] = {
		ind("ip", "192.0.2.7"), ind("ip", "198.51.100.0/24"), ind("ip", "10.0.0.0/8"),
		ind("ip", "2001:db8::/32"), ind("ip", "2001:db8::1"), ind("domain", "evil.example"),
		ind("url", "http://x.example/a?b=1"),
		ind("md5", "d41d8cd98f00b204e9800998ecf8427e"),
		ind("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
		ind("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
		ind("email", "phish@evil.example"),
	};
	struct ti_snapshot *s;
	struct ti_snapshot_stats st;

	if (!m)
		return;
	CHECK_INT(t_meta_put(m, "feed1", NULL, g, ARRAY_SIZE(g)), ARRAY_SIZE(g));
	if (!(s = load(m)))
		goto out;
	ti_snapshot_stats(s, &st);
	CHECK_INT(st.indicators, ARRAY_SIZE(g));
	CHECK_STR(look(s, NULL, TI_IP, "192.0.2.7"), "feed1:192.0.2.7@*");
	CHECK_STR(look(s, NULL, TI_IP, "192.0.2.8"), "");
	CHECK_STR(look(s, "a", TI_IP, "198.51.100.255"), "feed1:198.51.100.0/24@*");
	CHECK_STR(look(s, NULL, TI_IP, "198.51.101.0"), "");
	CHECK_STR(look(s, NULL, TI_IP, "10.255.0.1"), "feed1:10.0.0.0/8@*");
	CHECK_STR(look(s, NULL, TI_IP, "2001:db8::1"), "feed1:2001:db8::1@* feed1:2001:db8::/32@*");
	CHECK_STR(look(s, NULL, TI_IP, "2001:db9::1"), "");
	CHECK_STR(look(s, NULL, TI_IP, "not-an-ip"), "");
	CHECK_STR(look(s, NULL, TI_IP, "198.51.100.0/24"), "feed1:198.51.100.0/24@*");
	CHECK_STR(look(s, NULL, TI_IP, "198.51.100.128/25"), "feed1:198.51.100.0/24@*");
	CHECK_STR(look(s, NULL, TI_IP, "198.51.0.0/16"), "");
	CHECK_STR(look(s, NULL, TI_IP, "192.0.2.7/32"), "feed1:192.0.2.7@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "evil.example"), "feed1:evil.example@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "WWW.Sub.Evil.Example."), "feed1:evil.example@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "notevil.example"), "");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "example"), "");
	CHECK_STR(look(s, NULL, TI_URL, "HTTP://X.example:80/a?b=1#top"),
		  "feed1:http://x.example/a?b=1@*");
	CHECK_STR(look(s, NULL, TI_URL, "http://x.example/a?b=2"), "");
	CHECK_STR(look(s, NULL, TI_MD5, "D41D8CD98F00B204E9800998ECF8427E"),
		  "feed1:d41d8cd98f00b204e9800998ecf8427e@*");
	CHECK_STR(look(s, NULL, TI_SHA1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"),
		  "feed1:da39a3ee5e6b4b0d3255bfef95601890afd80709@*");
	CHECK_STR(look(s, NULL, TI_SHA256,
		       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
		  "feed1:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855@*");
	CHECK_STR(look(s, NULL, TI_EMAIL, "Phish@EVIL.example"), "feed1:phish@evil.example@*");
	CHECK_STR(look(s, NULL, TI_EMAIL, "other@evil.example"), "");
	ti_snapshot_free(s);
out:
	meta_close(m);
}

static void test_scope_isolation(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	const struct meta_indicator a[] = { ind("ip", "203.0.113.0/24"), ind("domain", "a-only.example") };
	const struct meta_indicator b[] = { ind("ip", "203.0.113.9") };
	const struct meta_indicator g[] = { ind("domain", "all.example") };
	struct ti_snapshot *s;

	if (!m)
		return;
	CHECK_INT(t_meta_put(m, "own", "a", a, 2), 2);
	CHECK_INT(t_meta_put(m, "own", "b", b, 1), 1);
	CHECK_INT(t_meta_put(m, "feed", NULL, g, 1), 1);
	if (!(s = load(m)))
		goto out;
	/* tenant a's network never matches for b, nor for no tenant, nor for one unknown */
	CHECK_STR(look(s, "a", TI_IP, "203.0.113.9"), "own:203.0.113.0/24@a");
	CHECK_STR(look(s, "b", TI_IP, "203.0.113.9"), "own:203.0.113.9@b");
	CHECK_STR(look(s, "b", TI_IP, "203.0.113.10"), "");
	CHECK_STR(look(s, NULL, TI_IP, "203.0.113.10"), "");
	CHECK_STR(look(s, "c", TI_IP, "203.0.113.10"), "");
	CHECK_STR(look(s, "b", TI_DOMAIN, "x.a-only.example"), "");
	CHECK_STR(look(s, "a", TI_DOMAIN, "x.a-only.example"), "own:a-only.example@a");
	CHECK_STR(look(s, "b", TI_DOMAIN, "all.example"), "feed:all.example@*");
	CHECK_STR(look(s, "a", TI_DOMAIN, "all.example"), "feed:all.example@*");
	ti_snapshot_free(s);
out:
	meta_close(m);
}

/* A snapshot built from (tenant, value) ip indicators, source "f", ids 1.. in order. */
static struct ti_snapshot *build_ips(const char *const (*v)[2], size_t n)
{
	struct ti_builder *b = NULL;
	struct ti_snapshot *s = NULL;
	struct err e = ERR_INIT;
	int rc = ti_builder_new(&b, 0, &e);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct meta_indicator g = ind("ip", v[i][1]);

		g.source = "f";
		g.tenant = v[i][0];
		g.id = (int64_t)i + 1;
		if ((rc = ti_builder_add(b, &g, &e)) < 0)
			ti_builder_free(b);
	}
	if (rc < 0 || ti_builder_finish(b, &s, &e) < 0)
		t_check(0, __FILE__, __LINE__, "build: %s", e.msg);
	return s;
}

static void test_nested_networks(void)
{
	static const char *const v[][2] = {
		{ NULL, "10.0.0.0/8" }, { NULL, "10.1.0.0/16" }, { NULL, "10.1.2.0/24" },
		{ NULL, "10.1.2.3" }, { NULL, "10.1.0.0/16" }, { NULL, "10.1.3.0/24" },
		{ NULL, "10.1.2.0/25" }, { "a", "10.1.0.0/16" }, { "a", "10.0.0.0/7" },
		{ NULL, "2001:db8::/32" }, { NULL, "2001:db8:1::/48" }, { NULL, "2001:db8:1::7" },
		{ "b", "::/0" }, { NULL, "255.255.255.255" }, { NULL, "0.0.0.0/1" },
	};
	struct ti_snapshot *s = build_ips(v, ARRAY_SIZE(v));

	if (!s)
		return;
	/* innermost first; one network listed twice gives both records, in import order */
	CHECK_STR(look(s, NULL, TI_IP, "10.1.2.3"),
		  "f:10.1.2.3@* f:10.1.2.0/25@* f:10.1.2.0/24@* f:10.1.0.0/16@* f:10.1.0.0/16@* "
		  "f:10.0.0.0/8@* f:0.0.0.0/1@*");
	CHECK_STR(look(s, NULL, TI_IP, "10.1.2.200"),
		  "f:10.1.2.0/24@* f:10.1.0.0/16@* f:10.1.0.0/16@* f:10.0.0.0/8@* f:0.0.0.0/1@*");
	CHECK_STR(look(s, NULL, TI_IP, "10.1.4.0"),
		  "f:10.1.0.0/16@* f:10.1.0.0/16@* f:10.0.0.0/8@* f:0.0.0.0/1@*");
	CHECK_STR(look(s, NULL, TI_IP, "10.1.3.255"),
		  "f:10.1.3.0/24@* f:10.1.0.0/16@* f:10.1.0.0/16@* f:10.0.0.0/8@* f:0.0.0.0/1@*");
	CHECK_STR(look(s, NULL, TI_IP, "10.2.0.0"), "f:10.0.0.0/8@* f:0.0.0.0/1@*");
	CHECK_STR(look(s, NULL, TI_IP, "128.0.0.0"), "");
	CHECK_STR(look(s, NULL, TI_IP, "255.255.255.255"), "f:255.255.255.255@*");
	CHECK_STR(look(s, NULL, TI_IP, "255.255.255.254"), "");
	/* a network as the value: those holding all of it */
	CHECK_STR(look(s, NULL, TI_IP, "10.1.2.0/24"),
		  "f:10.1.2.0/24@* f:10.1.0.0/16@* f:10.1.0.0/16@* f:10.0.0.0/8@* f:0.0.0.0/1@*");
	CHECK_STR(look(s, NULL, TI_IP, "10.1.0.0/15"), "f:10.0.0.0/8@* f:0.0.0.0/1@*");
	/* the tenant's after the global ones; another tenant's ::/0 holds IPv4 too */
	CHECK_STR(look(s, "a", TI_IP, "11.0.0.1"), "f:0.0.0.0/1@* f:10.0.0.0/7@a");
	CHECK_STR(look(s, "a", TI_IP, "10.1.9.9"),
		  "f:10.1.0.0/16@* f:10.1.0.0/16@* f:10.0.0.0/8@* f:0.0.0.0/1@* "
		  "f:10.1.0.0/16@a f:10.0.0.0/7@a");
	CHECK_STR(look(s, "b", TI_IP, "200.0.0.1"), "f:::/0@b");
	CHECK_STR(look(s, "b", TI_IP, "2001:db8:1::7"),
		  "f:2001:db8:1::7@* f:2001:db8:1::/48@* f:2001:db8::/32@* f:::/0@b");
	CHECK_STR(look(s, "a", TI_IP, "2001:db8:2::1"), "f:2001:db8::/32@*");
	CHECK_STR(look(s, "a", TI_IP, "2001:db9::1"), "");
	CHECK_STR(look(s, NULL, TI_IP, "2001:db8:1::/64"), "f:2001:db8:1::/48@* f:2001:db8::/32@*");
	CHECK_STR(look(s, "b", TI_IP, "::/0"), "f:::/0@b");
	/* an address given parsed: the same matches in the same order */
	{
		struct hits h = { .n = 0 };
		struct ipaddr ip;

		CHECK_INT(ipaddr_parse(&ip, "10.1.2.3", 8), 0);
		CHECK_INT(ti_lookup_ip(s, "a", &ip, hit, &h), 9);
		CHECK_STR(h.text, "f:10.1.2.3@* f:10.1.2.0/25@* f:10.1.2.0/24@* f:10.1.0.0/16@* "
			  "f:10.1.0.0/16@* f:10.0.0.0/8@* f:0.0.0.0/1@* f:10.1.0.0/16@a "
			  "f:10.0.0.0/7@a");
	}
	ti_snapshot_free(s);
}

static uint64_t t_rng = 0x2545f4914f6cdd1dull;

static uint64_t t_next(void)
{
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return t_rng;
}

/* A random address or network in 10.0.0.0/14 or 2001:db8::/32, or a wide IPv6 one. */
static void random_ip(char *out, size_t cap, bool network)
{
	static const char *const wide[] = { "::/0", "::/64", "::/80", "::1:0:0:0/96", "::/81" };
	struct ipaddr a;
	unsigned len;
	char text[IPADDR_STRLEN];

	if (network && t_next() % 40 == 0) {
		snprintf(out, cap, "%s", wide[t_next() % ARRAY_SIZE(wide)]);
		return;
	}
	if (t_next() % 4) {
		uint32_t v = 0x0a000000u | (uint32_t)(t_next() & 0x3ffff);

		len = network ? 14 + (unsigned)(t_next() % 19) : 32;
		v &= len ? ~(uint32_t)0 << (32 - len) : 0;
		snprintf(out, cap, "%u.%u.%u.%u", v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255);
	} else {
		CHECK_INT(ipaddr_parse(&a, "2001:db8::", 10), 0);
		a.b[4] = (uint8_t)t_next();
		a.b[15] = (uint8_t)(t_next() % 4);
		len = network ? 36 + (unsigned)(t_next() % 93) : 128;
		for (unsigned bit = len; bit < 128; bit++)
			a.b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		ipaddr_format(&a, text);
		snprintf(out, cap, "%s", text);
	}
	if (network && len < (strchr(out, ':') ? 128u : 32u)) {
		size_t n = strlen(out);

		snprintf(out + n, cap - n, "/%u", len);
	}
}

/* Every lookup of random values agrees with testing each network in turn. */
static void test_networks_against_scan(void)
{
	enum { NETS = 400, PROBES = 3000 };
	static char text[NETS][64];
	static const char *v[NETS][2];
	static const char *const tenants[] = { NULL, NULL, "a", "b" };
	struct ti_snapshot *s;
	size_t total = 0, hits = 0;
	long wrong = 0;

	for (size_t i = 0; i < NETS; i++) {
		random_ip(text[i], sizeof(text[i]), t_next() % 3 != 0);
		/* the wide ones (holding every IPv4 address) only b's */
		v[i][0] = text[i][0] == ':' ? "b" : tenants[t_next() % ARRAY_SIZE(tenants)];
		v[i][1] = text[i];
	}
	if (!(s = build_ips(v, NETS)))
		return;
	for (size_t p = 0; p < PROBES; p++) {
		char probe[64];
		const char *tenant = tenants[t_next() % ARRAY_SIZE(tenants)];
		struct ipaddr q, net;
		unsigned q_len, len;
		size_t want = 0;

		random_ip(probe, sizeof(probe), t_next() % 5 == 0);
		CHECK_INT(ipaddr_parse_cidr(&q, &q_len, probe, strlen(probe)), 0);
		for (size_t i = 0; i < NETS; i++) {
			if (v[i][0] && (!tenant || strcmp(v[i][0], tenant)))
				continue;
			CHECK_INT(ipaddr_parse_cidr(&net, &len, v[i][1], strlen(v[i][1])), 0);
			want += len <= q_len && ipaddr_in_prefix(&q, &net, len);
		}
		total += want;
		hits += want > 0;
		if (q_len == 128 && ti_lookup_ip(s, tenant, &q, NULL, NULL) != want && wrong++ < 5)
			t_check(0, __FILE__, __LINE__, "%s parsed for %s: not %zu matches", probe,
				tenant ? tenant : "-", want);
		if (ti_lookup(s, tenant, TI_IP, probe, strlen(probe), NULL, NULL) != want &&
		    wrong++ < 5)
			t_check(0, __FILE__, __LINE__, "%s for %s: not %zu matches", probe,
				tenant ? tenant : "-", want);
	}
	CHECK_INT(wrong, 0);
	printf("  %zu of %d values in some network, %zu matches\n", hits, PROBES, total);
	CHECK(hits > PROBES / 4 && hits < PROBES - PROBES / 10); /* hits and misses both tried */
	ti_snapshot_free(s);
}

/* Listed domains of several depths: every suffix of that depth is tried, no other. */
static void test_domain_depths(void)
{
	static const char *const v[] = { "deep.sub.example.org", "zone", "example.org",
					 "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p" };
	struct ti_builder *b = NULL;
	struct ti_snapshot *s = NULL;
	struct err e = ERR_INIT;
	int rc = ti_builder_new(&b, 0, &e);

	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(v); i++) {
		struct meta_indicator g = ind("domain", v[i]);

		g.source = "f";
		if ((rc = ti_builder_add(b, &g, &e)) < 0)
			ti_builder_free(b);
	}
	if (rc < 0 || ti_builder_finish(b, &s, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "build: %s", e.msg);
		return;
	}
	CHECK_STR(look(s, NULL, TI_DOMAIN, "x.Deep.sub.example.org"),
		  "f:deep.sub.example.org@* f:example.org@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "sub.example.org"), "f:example.org@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "host.zone."), "f:zone@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "zone"), "f:zone@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "zone.org"), "");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "w.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"),
		  "f:a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p@*");
	CHECK_STR(look(s, NULL, TI_DOMAIN, "b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"), "");
	ti_snapshot_free(s);
}

static void test_reimport_expiry_remove(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct meta_indicator one[] = { ind("domain", "evil.example"), ind("ip", "192.0.2.1") };
	struct meta_indicator_filter f = { .scope = META_TI_GLOBAL, .source = "feed" };
	struct err e = ERR_INIT;
	struct ti_snapshot *s;
	int64_t removed = -1;

	if (!m)
		return;
	one[1].expires_ns = 1000; /* long expired */
	CHECK_INT(t_meta_put(m, "feed", NULL, one, 2), 2);
	one[0].last_seen_ns = 5;
	CHECK_INT(t_meta_put(m, "feed", NULL, one, 1), 0); /* updated, not new */
	CHECK_INT(t_meta_put(m, "other", NULL, one, 1), 1);   /* another source: its own row */
	if ((s = load(m))) {
		struct ti_snapshot_stats st;

		ti_snapshot_stats(s, &st);
		CHECK_INT(st.indicators, 2);
		CHECK_INT(st.expired, 1);
		CHECK_STR(look(s, NULL, TI_IP, "192.0.2.1"), "");
		CHECK_INT(ti_lookup(s, NULL, TI_DOMAIN, "evil.example", 12, NULL, NULL), 2);
		ti_snapshot_free(s);
	}
	f.value = "evil.example";
	f.type = "domain";
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 1);
	f.value = f.type = NULL;
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 1);
	f.scope = META_TI_APPLIES;
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), -EINVAL);
	meta_close(m);
}

static void test_put_checks(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct meta_indicator_put *p = NULL;
	struct meta_indicator bad = ind("domain", "Evil.example");
	struct err e = ERR_INIT;
	bool is_new;

	if (!m)
		return;
	CHECK_INT(meta_indicator_put_begin(m, "Bad Name", NULL, &p, &e), -EINVAL);
	CHECK_INT(meta_indicator_put_begin(m, "feed", "nosuch", &p, &e), -ENOENT);
	CHECK_INT(meta_indicator_put_begin(m, "feed", NULL, &p, &e), 0);
	CHECK_INT(meta_indicator_put(p, &bad, &is_new, &e), -EINVAL);
	CHECK(strstr(e.msg, "not in canonical form"));
	bad = ind("hash", "x");
	CHECK_INT(meta_indicator_put(p, &bad, &is_new, &e), -EINVAL);
	bad = ind("ip", "192.0.2.1");
	bad.tags = "[1]";
	CHECK_INT(meta_indicator_put(p, &bad, &is_new, &e), -EINVAL);
	bad.tags = "[\"c2\"]";
	bad.confidence = 101;
	CHECK_INT(meta_indicator_put(p, &bad, &is_new, &e), -EINVAL);
	CHECK_INT(meta_indicator_put_end(p, false, &e), 0);
	meta_close(m);
}

static void test_alloc_failures(void)
{
	struct meta_indicator g[] = { ind("ip", "10.0.0.0/8"), ind("domain", "evil.example"),
				      ind("url", "http://x.example/") };
	long n;

	g[0].tenant = "a";
	g[0].source = g[1].source = g[2].source = "f";
	for (n = 0; n < 50; n++) {
		struct ti_builder *b = NULL;
		struct ti_snapshot *s = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = ti_builder_new(&b, 0, &e);
		for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(g); i++)
			if ((rc = ti_builder_add(b, &g[i], &e)) < 0)
				ti_builder_free(b);
		if (rc == 0)
			rc = ti_builder_finish(b, &s, &e);
		mem_fail_after(-1);
		if (rc == 0) {
			CHECK_INT(ti_lookup(s, "a", TI_IP, "10.1.1.1", 8, NULL, NULL), 1);
			ti_snapshot_free(s);
			break;
		}
		CHECK_INT(rc, -ENOMEM);
	}
	CHECK(n > 3 && n < 50);
}

static void test_live_alloc_failures(void)
{
	long n;

	for (n = 0; n < 20; n++) {
		struct ti_live *l = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = ti_live_new(&l, 2, &e);
		mem_fail_after(-1);
		if (rc == 0) {
			const struct ti_snapshot *s = ti_live_enter(l, 1);

			CHECK_INT(ti_lookup(s, "a", TI_IP, "10.1.1.1", 8, NULL, NULL), 0);
			ti_live_leave(l, 1);
			ti_live_free(l);
			break;
		}
		CHECK_INT(rc, -ENOMEM);
		CHECK(l == NULL);
	}
	CHECK(n > 2 && n < 20);
}

#define READERS 3
#define SWAPS 40

struct reader {
	struct ti_live *l;
	unsigned id;
	atomic_bool *stop;
	long lookups, misses;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(r->stop)) {
		const struct ti_snapshot *s = ti_live_enter(r->l, r->id);
		size_t n = ti_lookup(s, "a", TI_IP, "10.1.2.3", 8, NULL, NULL);

		r->misses += n != 1; /* every snapshot but the first empty one lists it once */
		r->lookups++;
		ti_live_leave(r->l, r->id);
	}
	return NULL;
}

static struct ti_snapshot *one_net(int i)
{
	struct meta_indicator g = ind("ip", i % 2 ? "10.0.0.0/8" : "10.1.0.0/16");
	struct ti_builder *b = NULL;
	struct ti_snapshot *s = NULL;
	struct err e = ERR_INIT;

	g.source = "f";
	g.tenant = "a";
	if (ti_builder_new(&b, 0, &e) < 0 || ti_builder_add(b, &g, &e) < 0 ||
	    ti_builder_finish(b, &s, &e) < 0)
		t_check(0, __FILE__, __LINE__, "build: %s", e.msg);
	return s;
}

static void test_live_swap(void)
{
	struct ti_live *l = NULL;
	struct err e = ERR_INIT;
	struct reader r[READERS];
	pthread_t th[READERS];
	atomic_bool stop = false;

	CHECK_INT(ti_live_new(&l, READERS, &e), 0);
	if (!l)
		return;
	ti_live_swap(l, one_net(0));
	for (unsigned i = 0; i < READERS; i++) {
		r[i] = (struct reader){ .l = l, .id = i, .stop = &stop };
		pthread_create(&th[i], NULL, read_loop, &r[i]);
	}
	for (int i = 1; i <= SWAPS; i++)
		ti_live_swap(l, one_net(i));
	atomic_store(&stop, true);
	for (unsigned i = 0; i < READERS; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(r[i].misses, 0);
	}
	ti_live_free(l);
}

int main(void)
{
	T_RUN(test_lookup_kinds);
	T_RUN(test_scope_isolation);
	T_RUN(test_nested_networks);
	T_RUN(test_networks_against_scan);
	T_RUN(test_domain_depths);
	T_RUN(test_reimport_expiry_remove);
	T_RUN(test_put_checks);
	T_RUN(test_alloc_failures);
	T_RUN(test_live_alloc_failures);
	T_RUN(test_live_swap);
	return t_done();
}
