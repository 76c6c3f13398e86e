/*
 * bench/ti - the indicator store with 1,000,000 generated indicators of mixed types
 * (issue 9's goals: load < 3 s, memory < 200 MB, and the lookup rate).
 *
 *   build/release/bench/ti [--count N] [--seconds S] [--no-db]
 *
 * Indicators (fixed seed): 35% IPv4 addresses, 5% IPv4 networks (/16-/30), 3% IPv6
 * addresses, 27% domains, 10% URLs, 5% MD5, 5% SHA-1, 7% SHA-256, 3% e-mail; 90% global,
 * 10% spread over 20 tenants; 8 sources.
 *
 * Figures: the snapshot's build from memory (the builder alone), its own bytes and the
 * process's RSS growth over the build; lookups per CPU-second, misses and hits apart, for
 * the value kinds an event carries, each for one of the tenants: IPv4 addresses (misses,
 * as text and given parsed to ti_lookup_ip; listed addresses; addresses inside listed
 * networks), IPv6 addresses, host names (hits: sub-domains of listed domains), URLs,
 * SHA-256 hashes, e-mail addresses; and "events" of ten lookups (five IPv4 addresses, one
 * IPv6, two host names, a URL, a SHA-256), every value a miss as most are, the addresses
 * as text, then given parsed. Without --no-db: the import into a fresh koban.db
 * (meta_indicator_put, one transaction per source and scope), the snapshot's load from it
 * (ti_snapshot_load: what serve does at start and on a change), and the same-run peer:
 * SHA-256 lookups as SQLite point queries on koban.db's index.
 */
#include "core/compat.h"

#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/ti.h"
#include "enrich/tisnap.h"
#include "store/meta.h"
#include "lib/cpu.h"
#include "lib/metadir.h"

#define TENANTS 20
#define SOURCES 8
#define PROBES 4096
#define PROBE_MAX 128 /* bytes of a probe value: the values read back to back, as an event's */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double wall_now(void)
{
	return time_mono_ns() / 1e9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void hex(char *out, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
		out[i] = digits[next() & 15];
	out[n] = '\0';
}

static void word(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('a' + next() % 26);
	out[n] = '\0';
}

/* The i-th generated indicator (canonical text into value, its type name). */
static const char *gen(size_t i, char *value, size_t cap)
{
	unsigned kind = (unsigned)(next() % 100);
	char w[16], h[65];

	if (kind < 35) {
		uint32_t a = (uint32_t)next();
		snprintf(value, cap, "%u.%u.%u.%u", 1 + (a >> 24) % 223, a >> 16 & 255, a >> 8 & 255,
			 a & 255);
		return "ip";
	}
	if (kind < 40) {
		unsigned len = 16 + (unsigned)(next() % 15);
		uint32_t a = (uint32_t)next() & ~((UINT32_C(1) << (32 - len)) - 1);
		snprintf(value, cap, "%u.%u.%u.%u/%u", 1 + (a >> 24) % 223, a >> 16 & 255, a >> 8 & 255,
			 a & 255, len);
		return "ip";
	}
	if (kind < 43) {
		snprintf(value, cap, "2001:db8:%x:%x::%x", (unsigned)(next() & 0xffff),
			 (unsigned)(next() & 0xffff), (unsigned)(i & 0xffff) + 1);
		return "ip";
	}
	word(w, 6 + next() % 8);
	if (kind < 70) {
		snprintf(value, cap, "%s%zu.example", w, i);
		return "domain";
	}
	if (kind < 80) {
		snprintf(value, cap, "http://%s%zu.example/p/%s", w, i, w);
		return "url";
	}
	if (kind < 85)
		return hex(value, 32), "md5";
	if (kind < 90)
		return hex(value, 40), "sha1";
	if (kind < 97) {
		hex(h, 64);
		memcpy(value, h, 65);
		return "sha256";
	}
	snprintf(value, cap, "%s%zu@mail.example", w, i);
	return "email";
}

struct corpus {
	char **value;
	const char **type;
	const char **tenant;
	size_t n;
};

static const char *tenants[TENANTS] = { "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8",
					"t9", "t10", "t11", "t12", "t13", "t14", "t15", "t16",
					"t17", "t18", "t19" };
static const char *sources[SOURCES] = { "feed-a", "feed-b", "feed-c", "isac", "vendor",
					"own", "misp-x", "taxii-y" };

static int make_corpus(struct corpus *c, size_t n)
{
	char v[TI_VALUE_BUF];

	c->n = n;
	if (!(c->value = mem_calloc(n, sizeof(char *))) ||
	    !(c->type = mem_calloc(n, sizeof(char *))) || !(c->tenant = mem_calloc(n, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c->type[i] = gen(i, v, sizeof(v));
		c->tenant[i] = next() % 10 == 0 ? tenants[next() % TENANTS] : NULL;
		if (!(c->value[i] = mem_strdup(v)))
			return -ENOMEM;
	}
	return 0;
}

static struct meta_indicator row(const struct corpus *c, size_t i)
{
	return (struct meta_indicator){ .id = (int64_t)i + 1, .source = sources[i % SOURCES],
					.tenant = c->tenant[i], .type = c->type[i],
					.value = c->value[i], .confidence = (int)(i % 101),
					.first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" };
}

/* Imports per (source, scope) run, as `koban ti import` does per file. */
static int import(struct meta *m, const struct corpus *c, struct err *e)
{
	for (size_t t = 0; t <= TENANTS; t++)
		for (size_t s = 0; s < SOURCES; s++) {
			const char *tenant = t < TENANTS ? tenants[t] : NULL;
			struct meta_indicator_put *p = NULL;
			bool added;
			int rc = meta_indicator_put_begin(m, sources[s], tenant, &p, e);

			for (size_t i = s; rc == 0 && i < c->n; i += SOURCES) {
				struct meta_indicator r = row(c, i);

				if ((tenant || r.tenant) && (!tenant || !r.tenant || strcmp(tenant, r.tenant)))
					continue;
				rc = meta_indicator_put(p, &r, &added, e);
			}
			if ((rc = err_first(rc, meta_indicator_put_end(p, rc == 0, e))) < 0)
				return rc;
		}
	return 0;
}

/* Values as events carry them, each for one tenant: every one a hit, or every one a miss. */
struct probes {
	char value[PROBES][PROBE_MAX];
	enum ti_type type;
	size_t len[PROBES];
	struct ipaddr ip[PROBES]; /* addresses parsed, as events hold them */
	const char *tenant[PROBES];
	size_t n;
};

enum probe_kind { P_V4, P_V4_NET, P_V6, P_HOST, P_URL, P_SHA256, P_EMAIL };

static bool is_kind(const struct corpus *c, size_t k, enum probe_kind kind)
{
	const char *v = c->value[k];

	switch (kind) {
	case P_V4:
		return !strcmp(c->type[k], "ip") && !strchr(v, ':') && !strchr(v, '/');
	case P_V4_NET:
		return !strcmp(c->type[k], "ip") && strchr(v, '/');
	case P_V6:
		return !strcmp(c->type[k], "ip") && strchr(v, ':');
	case P_HOST:
		return !strcmp(c->type[k], "domain");
	case P_URL:
		return !strcmp(c->type[k], "url");
	case P_SHA256:
		return !strcmp(c->type[k], "sha256");
	case P_EMAIL:
		return !strcmp(c->type[k], "email");
	}
	return false;
}

static enum ti_type kind_type(enum probe_kind kind)
{
	static const enum ti_type types[] = { TI_IP, TI_IP, TI_IP, TI_DOMAIN, TI_URL, TI_SHA256,
					      TI_EMAIL };

	return types[kind];
}

/* A listed value of kind as an event would carry it (an address inside a listed network). */
static void listed(const struct corpus *c, enum probe_kind kind, char *out, const char **tenant)
{
	size_t k = next() % c->n;
	unsigned a, b, cc, d, len;

	while (!is_kind(c, k, kind))
		k = (k + 1) % c->n;
	*tenant = c->tenant[k] ? c->tenant[k] : tenants[next() % TENANTS];
	if (kind == P_HOST) {
		snprintf(out, TI_VALUE_BUF, "www.cdn.%s", c->value[k]);
	} else if (kind == P_V4_NET && sscanf(c->value[k], "%u.%u.%u.%u/%u", &a, &b, &cc, &d,
					       &len) == 5) {
		uint32_t v = (a << 24 | b << 16 | cc << 8 | d) |
			     ((uint32_t)next() & ((UINT32_C(1) << (32 - len)) - 1));

		snprintf(out, TI_VALUE_BUF, "%u.%u.%u.%u", v >> 24, v >> 16 & 255, v >> 8 & 255,
			 v & 255);
	} else {
		snprintf(out, TI_VALUE_BUF, "%s", c->value[k]);
	}
}

/* A value of kind that is likely not listed. */
static void unlisted(enum probe_kind kind, char *out)
{
	uint32_t a = (uint32_t)next();
	char w[16], h[65];

	word(w, 10);
	switch (kind) {
	case P_V4:
	case P_V4_NET:
		snprintf(out, TI_VALUE_BUF, "%u.%u.%u.%u", 1 + (a >> 24) % 223, a >> 16 & 255,
			 a >> 8 & 255, a & 255);
		break;
	case P_V6:
		snprintf(out, TI_VALUE_BUF, "2001:db8:%x:%x::%x", a & 0xffff, a >> 16,
			 (unsigned)(next() & 0xffff));
		break;
	case P_HOST:
		snprintf(out, TI_VALUE_BUF, "%s.%u.example.net", w, a % 1000);
		break;
	case P_URL:
		snprintf(out, TI_VALUE_BUF, "http://%s%u.example/p/%s", w, a % 1000000, w);
		break;
	case P_SHA256:
		hex(h, 64);
		snprintf(out, TI_VALUE_BUF, "%s", h);
		break;
	case P_EMAIL:
		snprintf(out, TI_VALUE_BUF, "%s%u@mail.example", w, a % 1000000);
		break;
	}
}

/* PROBES values of kind that all hit (or all miss) in s; fewer when they are too rare. */
static void make_probes(struct probes *p, const struct ti_snapshot *s, const struct corpus *c,
			enum probe_kind kind, bool hit)
{
	p->type = kind_type(kind);
	p->n = 0;
	for (size_t tries = 0; p->n < PROBES && tries < 100 * PROBES; tries++) {
		char v[TI_VALUE_BUF];
		const char *tenant = tenants[next() % TENANTS];
		size_t len;

		if (hit)
			listed(c, kind, v, &tenant);
		else
			unlisted(kind, v);
		if ((len = strlen(v)) >= PROBE_MAX ||
		    (ti_lookup(s, tenant, p->type, v, len, NULL, NULL) > 0) != hit)
			continue;
		memcpy(p->value[p->n], v, len + 1);
		p->len[p->n] = len;
		if (p->type == TI_IP && ipaddr_parse(&p->ip[p->n], v, len) < 0)
			continue;
		p->tenant[p->n++] = tenant;
	}
}

/* One lookup of probe i: its text, or (parsed) the address an event would hold. */
static size_t lookup(const struct ti_snapshot *s, const struct probes *p, size_t i, bool parsed)
{
	if (parsed)
		return ti_lookup_ip(s, p->tenant[i], &p->ip[i], NULL, NULL);
	return ti_lookup(s, p->tenant[i], p->type, p->value[i], p->len[i], NULL, NULL);
}

static void rate(const char *what, const struct ti_snapshot *s, const struct probes *p,
		 bool parsed, double seconds)
{
	double t0 = bench_cpu_seconds(), t;
	size_t n = 0, hits = 0;

	if (p->n == 0)
		return;
	do {
		for (size_t i = 0; i < p->n; i++)
			hits += lookup(s, p, i, parsed) > 0;
		n += p->n;
	} while ((t = bench_cpu_seconds() - t0) < seconds);
	printf("  %-34s %10.0f per CPU-second (%4.0f ns each), %5.1f%% matched\n", what, n / t,
	       t * 1e9 / n, 100.0 * hits / n);
}

/* Each kind's misses and hits apart. */
static void rates(const struct ti_snapshot *s, const struct corpus *c, struct probes *p,
		  double seconds)
{
	static const struct {
		enum probe_kind kind;
		bool hit, parsed;
		const char *what;
	} runs[] = {
		{ P_V4, false, false, "IPv4 address, miss" },
		{ P_V4, false, true, "IPv4 address, miss, given parsed" },
		{ P_V4, true, false, "IPv4 address, listed" },
		{ P_V4_NET, true, false, "IPv4 address, in a listed network" },
		{ P_V6, false, false, "IPv6 address, miss" },
		{ P_V6, true, false, "IPv6 address, listed" },
		{ P_HOST, false, false, "host name (4 labels), miss" },
		{ P_HOST, true, false, "host name, sub-domain of a listed" },
		{ P_URL, false, false, "URL, miss" },
		{ P_URL, true, false, "URL, listed" },
		{ P_SHA256, false, false, "SHA-256, miss" },
		{ P_SHA256, true, false, "SHA-256, listed" },
		{ P_EMAIL, false, false, "e-mail address, miss" },
		{ P_EMAIL, true, false, "e-mail address, listed" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		make_probes(p, s, c, runs[i].kind, runs[i].hit);
		rate(runs[i].what, s, p, runs[i].parsed, seconds);
	}
}

/* Events of ten lookups, every value a miss: what most events cost. */
static void event_rate(const struct ti_snapshot *s, const struct corpus *c, double seconds)
{
	static const enum probe_kind event[] = { P_V4, P_V4, P_V4, P_V4, P_V4, P_V6, P_HOST,
						 P_HOST, P_URL, P_SHA256 };
	struct probes *p = mem_calloc(ARRAY_SIZE(event), sizeof(*p));
	size_t events = PROBES;

	if (!p)
		return;
	for (size_t k = 0; k < ARRAY_SIZE(event); k++) {
		make_probes(&p[k], s, c, event[k], false);
		events = p[k].n < events ? p[k].n : events;
	}
	for (int parsed = 0; events && parsed <= 1; parsed++) {
		double t0 = bench_cpu_seconds(), t;
		size_t n = 0;

		do {
			for (size_t i = 0; i < events; i++)
				for (size_t k = 0; k < ARRAY_SIZE(event); k++)
					lookup(s, &p[k], i, parsed && p[k].type == TI_IP);
			n += events;
		} while ((t = bench_cpu_seconds() - t0) < seconds);
		printf("  events of 10 lookups (5 IPv4, 1 IPv6, 2 host names, URL, SHA-256), all "
		       "misses%s: %.0f per CPU-second (%.0f ns per lookup)\n",
		       parsed ? ", addresses given parsed" : "", n / t,
		       t * 1e9 / (n * ARRAY_SIZE(event)));
	}
	mem_free(p);
}

/* The peer: the same values as SQLite point queries on the (type, value) index. */
static void sqlite_rate(const char *db_path, const struct probes *p, double seconds)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	double t0, t;
	size_t n = 0, hits = 0;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT 1 FROM indicators WHERE type = 'sha256' AND value = ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		printf("  peer: %s\n", db ? sqlite3_errmsg(db) : "no database");
		sqlite3_close(db);
		return;
	}
	t0 = bench_cpu_seconds();
	do {
		for (size_t i = 0; i < p->n; i++) {
			sqlite3_bind_text(st, 1, p->value[i], (int)p->len[i], SQLITE_STATIC);
			hits += sqlite3_step(st) == SQLITE_ROW;
			sqlite3_reset(st);
		}
		n += p->n;
	} while ((t = bench_cpu_seconds() - t0) < seconds);
	printf("  peer, SQLite exact SHA-256 query on koban.db's index: %.0f per CPU-second "
	       "(%.0f ns each), %.1f%% matched\n", n / t, t * 1e9 / n, 100.0 * hits / n);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The snapshot built from the corpus in memory: its time, bytes and the RSS it added. */
static int build_in_memory(const struct corpus *c, struct ti_snapshot **s, struct err *e)
{
	struct ti_builder *b = NULL;
	struct ti_snapshot_stats st;
	double w0 = wall_now(), c0 = bench_cpu_seconds();
	long rss0 = rss_kb();
	int rc = ti_builder_new(&b, 0, e);

	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		struct meta_indicator r = row(c, i);

		if ((rc = ti_builder_add(b, &r, e)) < 0)
			ti_builder_free(b);
	}
	if (rc < 0 || (rc = ti_builder_finish(b, s, e)) < 0)
		return rc;
	ti_snapshot_stats(*s, &st);
	printf("  snapshot built from memory (no database): %.2f s (%.2f CPU-s), %zu indicators, "
	       "%.1f MB held, RSS +%.1f MB\n", wall_now() - w0, bench_cpu_seconds() - c0, st.indicators,
	       st.bytes / 1e6, (rss_kb() - rss0) / 1024.0);
	return 0;
}

int main(int argc, char **argv)
{
	size_t count = 1000000;
	double seconds = 2;
	bool db = true;
	char dir[] = "/tmp/koban-bench-ti-XXXXXX", path[64];
	struct corpus c = { 0 };
	struct probes *p = mem_alloc(sizeof(*p));
	struct meta *m = NULL;
	struct ti_snapshot *s = NULL, *mem = NULL;
	struct ti_snapshot_stats st;
	struct err e = ERR_INIT;
	double w0, c0;
	long rss0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--no-db"))
			db = false;
		else {
			fprintf(stderr, "usage: bench/ti [--count N] [--seconds S] [--no-db]\n");
			return 2;
		}
	}
	if (!p || !mkdtemp(dir) || make_corpus(&c, count) < 0) {
		fprintf(stderr, "bench/ti: out of memory or no temporary directory\n");
		return 1;
	}
	printf("bench/ti: %zu indicators (35%% IPv4, 5%% IPv4 networks, 3%% IPv6, 27%% domains, "
	       "10%% URLs, 17%% hashes, 3%% e-mail; 10%% over %d tenants)\n", count, TENANTS);
	if ((rc = build_in_memory(&c, &mem, &e)) < 0)
		goto fail;
	rates(mem, &c, p, seconds);
	event_rate(mem, &c, seconds);
	if (!db)
		goto done;
	make_probes(p, mem, &c, P_SHA256, true);
	ti_snapshot_free(mem);
	mem = NULL;
	if ((rc = meta_open(&m, dir, &e)) < 0)
		goto fail;
	for (size_t t = 0; t < TENANTS; t++)
		if ((rc = meta_tenant_add(m, tenants[t], &e)) < 0)
			goto fail;
	w0 = wall_now();
	if ((rc = import(m, &c, &e)) < 0)
		goto fail;
	printf("  import into koban.db (one transaction per source and scope): %.2f s\n",
	       wall_now() - w0);
	rss0 = rss_kb();
	w0 = wall_now();
	c0 = bench_cpu_seconds();
	if ((rc = ti_snapshot_load(m, time_now_ns(), &s, &e)) < 0)
		goto fail;
	ti_snapshot_stats(s, &st);
	printf("  snapshot load from koban.db: %.2f s (%.2f CPU-s), %zu indicators, %.1f MB held, "
	       "RSS +%.1f MB\n", wall_now() - w0, bench_cpu_seconds() - c0, st.indicators, st.bytes / 1e6,
	       (rss_kb() - rss0) / 1024.0);
	rate("SHA-256, listed (koban.db's)", s, p, false, seconds);
	snprintf(path, sizeof(path), "%s/koban.db", dir);
	sqlite_rate(path, p, seconds);
done:
	rc = 0;
fail:
	if (rc < 0)
		fprintf(stderr, "bench/ti: %s\n", e.msg);
	ti_snapshot_free(mem);
	ti_snapshot_free(s);
	meta_close(m);
	for (size_t i = 0; i < c.n && c.value; i++)
		mem_free(c.value[i]);
	mem_free(c.value);
	mem_free(c.type);
	mem_free(c.tenant);
	mem_free(p);
	bench_metadir_remove(dir, "bench/ti");
	return rc < 0;
}
