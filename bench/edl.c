/*
 * bench/edl - External Dynamic Lists (respond/edl.h) built from a large indicator store.
 *
 *   build/release/bench/edl [--count N] [--gets N]
 *
 * N generated indicators (default 1,000,000, fixed seed): 60% IPv4 addresses, 5% IPv4
 * networks, 25% domains, 10% URLs; confidence 0-100; 90% global, 10% of tenant t0..t9;
 * 4 sources. Figures: the import into a fresh koban.db; one build per list type for tenant t0 (every source, cap 50,000: the read of the global
 * indicators, shared by the tenants until koban.db changes, then t0's own, the allow-list
 * and the cap), then for t1 and t2 (the global part already read); and a cached answer
 * (the generation read and the text handed over), what a firewall's poll costs.
 */
#include "core/compat.h"

#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "respond/edl.h"
#include "store/meta.h"
#include "lib/cpu.h"
#include "lib/metadir.h"

#define TENANTS 10
#define SOURCES 4

static uint64_t seed;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static double now_s(void)
{
	return time_mono_ns() / 1e9;
}

static const char *const tenants[TENANTS] = { "t0", "t1", "t2", "t3", "t4",
					      "t5", "t6", "t7", "t8", "t9" };
static const char *const sources[SOURCES] = { "feed-a", "feed-b", "isac", "soc" };

/* The i-th indicator of the run: its canonical value into v, its type name. */
static const char *indicator(size_t i, char *v, size_t cap)
{
	unsigned kind = (unsigned)(rnd() % 100);
	uint32_t a = (uint32_t)rnd();

	if (kind < 60) {
		snprintf(v, cap, "%u.%u.%u.%u", 1 + (a >> 24) % 223, a >> 16 & 255, a >> 8 & 255,
			 a & 255);
		return "ip";
	}
	if (kind < 65) {
		unsigned len = 16 + (unsigned)(rnd() % 13);

		a &= ~((UINT32_C(1) << (32 - len)) - 1);
		snprintf(v, cap, "%u.%u.%u.%u/%u", 1 + (a >> 24) % 223, a >> 16 & 255, a >> 8 & 255,
			 a & 255, len);
		return "ip";
	}
	if (kind < 90) {
		snprintf(v, cap, "h%x-%zu.example", a, i);
		return "domain";
	}
	snprintf(v, cap, "http://h%x-%zu.example/p/%u", a, i, (unsigned)(rnd() % 1000));
	return "url";
}

/* Imports count indicators, one transaction per (source, scope) as `koban ti import`. */
static int import(struct meta *m, size_t count, struct err *e)
{
	char v[256];

	for (size_t scope = 0; scope <= TENANTS; scope++)
		for (size_t s = 0; s < SOURCES; s++) {
			const char *tenant = scope < TENANTS ? tenants[scope] : NULL;
			struct meta_indicator_put *p = NULL;
			bool added;
			/* 90% global, 10% over the tenants, evenly over the sources */
			size_t n = tenant ? count / 10 / TENANTS / SOURCES : count * 9 / 10 / SOURCES;
			int rc = meta_indicator_put_begin(m, sources[s], tenant, &p, e);

			seed = 0x9e3779b97f4a7c15u + scope * SOURCES + s;
			for (size_t i = 0; rc == 0 && i < n; i++) {
				const char *type = indicator(i, v, sizeof(v));
				struct meta_indicator ind = {
					.source = sources[s], .tenant = tenant, .type = type, .value = v,
					.confidence = (int)(rnd() % 101), .first_seen_ns = 1,
					.last_seen_ns = 1 + (int64_t)(rnd() % 1000000), .tags = "[]",
				};

				rc = meta_indicator_put(p, &ind, &added, e);
			}
			if ((rc = err_first(rc, meta_indicator_put_end(p, rc == 0, e))) < 0)
				return rc;
		}
	return 0;
}

/* A fresh koban.db in dir with the tenants, the indicators imported; the seconds taken
 * (wall, then this process's CPU). */
static int fill(const char *dir, size_t count, struct meta **m, double took[2], struct err *e)
{
	double t0, c0;
	int rc;

	if ((rc = meta_open(m, dir, e)) < 0)
		return rc;
	for (size_t t = 0; t < TENANTS; t++)
		if ((rc = meta_tenant_add(*m, tenants[t], e)) < 0)
			return rc;
	t0 = now_s();
	c0 = bench_cpu_seconds();
	rc = import(*m, count, e);
	took[0] = now_s() - t0;
	took[1] = bench_cpu_seconds() - c0;
	return rc;
}

static void note(void *ctx, const struct edl_list *l)
{
	*(struct edl_list *)ctx = *l;
}

static int builds(struct meta *m, size_t gets, struct err *e)
{
	static const char *const star[] = { "*" };
	const struct edl_list_config lists[] = {
		{ .name = "ips", .type = EDL_IP, .sources = star, .n_sources = 1,
		  .include_global = true },
		{ .name = "domains", .type = EDL_DOMAIN, .include_global = true },
		{ .name = "urls", .type = EDL_URL, .include_global = true },
	};
	const char *const allow[] = { "10.0.0.0/8", "192.168.0.0/16", "example.jp" };
	struct edl *d = NULL;
	struct edl_list l;
	int rc = edl_new(&d, &(struct edl_config){ lists, ARRAY_SIZE(lists), allow, 3, false }, e);

	/* t0 reads the global part; t1, t2 find it built and add their own indicators */
	for (size_t i = 0; rc == 0 && i < 3 * ARRAY_SIZE(lists); i++) {
		const char *t = tenants[i / ARRAY_SIZE(lists)], *name = lists[i % 3].name;
		double w0 = now_s(), c0 = bench_cpu_seconds();

		if ((rc = edl_get(d, m, t, name, time_now_ns(), note, &l, e)) < 0)
			break;
		printf("  build %-7s for %s%s: %.2f s (%.2f CPU-s), %zu entries, %zu bytes, %llu "
		       "over the cap\n", name, t, i < 3 ? " (global part read)" : "", now_s() - w0,
		       bench_cpu_seconds() - c0, l.entries, l.len, (unsigned long long)l.dropped[EDL_DROP_CAP]);
	}
	if (rc == 0) {
		double c0 = bench_cpu_seconds();

		for (size_t i = 0; rc == 0 && i < gets; i++)
			rc = edl_get(d, m, "t0", "ips", time_now_ns(), note, &l, e);
		printf("  cached answer (generation read, list handed over): %.1f µs CPU each over "
		       "%zu\n", (bench_cpu_seconds() - c0) / (double)gets * 1e6, gets);
	}
	edl_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 1000000, gets = 2000;
	char dir[] = "/tmp/koban-bench-edl-XXXXXX";
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	double took[2] = { 0, 0 };
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--gets") && i + 1 < argc)
			gets = strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: bench/edl [--count N] [--gets N]\n");
			return 2;
		}
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench/edl: no temporary directory\n");
		return 1;
	}
	printf("bench/edl: %zu indicators (60%% IPv4, 5%% IPv4 networks, 25%% domains, 10%% URLs; "
	       "90%% global, 10%% over %d tenants)\n", count, TENANTS);
	if ((rc = fill(dir, count, &m, took, &e)) < 0)
		goto out;
	printf("  import: %.2f s (%.2f CPU-s)\n", took[0], took[1]);
	rc = builds(m, gets, &e);
out:
	if (rc < 0)
		fprintf(stderr, "bench/edl: %s\n", e.msg);
	meta_close(m);
	bench_metadir_remove(dir, "bench/edl");
	return rc < 0;
}
