/*
 * bench/assets - the asset inventory: load from koban.db and look-ups by address and host
 * name, what the triage engine will do for every alert (issue 10's 1,000 alerts/s).
 *
 *   build/release/bench/assets [--tenants T] [--assets N] [--networks N]
 *
 * Inventory (fixed seed): T tenants (default 20) of N assets each (default 5,000), each
 * with one address in 10.X.Y.Z and one host name hostK.tenantT.example, plus per tenant
 * --networks /16-/28 networks (default 200) as assets of their own. Written to a fresh
 * koban.db in a temporary folder, through assets_store (one transaction per tenant).
 *
 * Figures: the write, assets_load of every tenant (what a triage engine does at start), and
 * look-ups per CPU-second of addresses (half listed, a quarter inside a network only, a
 * quarter unknown) and host names (half listed by their full name, a quarter by their short
 * name, a quarter unknown), for a random tenant each. Same-run peer: the same address
 * look-ups as a scan of every network of the tenant (what an index-free look-up costs).
 */
#include "core/compat.h"

#include <stdlib.h>
#include <unistd.h>

#include "lib/cpu.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "enrich/assets.h"
#include "store/meta.h"

#define PROBES 8192
#define ROUNDS_MIN_CPU 1.0

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned opt(int argc, char **argv, const char *name, unsigned def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return (unsigned)strtoul(argv[i + 1], NULL, 10);
	return def;
}

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench/assets: %s: %s\n", what, e->msg);
	exit(1);
}

/* Tenant t's inventory into koban.db. */
static void write_tenant(struct meta *m, unsigned t, unsigned n, unsigned nets)
{
	struct assets_import_stats st = { 0 };
	struct assets_entry *en;
	struct assets *a = NULL;
	struct err e = ERR_INIT;
	char tenant[32], name[64], v[64];

	snprintf(tenant, sizeof(tenant), "t%u", t);
	if (meta_tenant_add(m, tenant, &e) < 0 || assets_new(&a, &e) < 0)
		die("tenant", &e);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "host%u", i);
		snprintf(v, sizeof(v), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		if (assets_add_new(a, tenant, name, &en, &e) < 0 ||
		    assets_entry_set(a, en, ASSETS_COL_ADDRESSES, v, strlen(v), false, &e) < 0)
			die("asset", &e);
		snprintf(v, sizeof(v), "host%u.%s.example", i, tenant);
		if (assets_entry_set(a, en, ASSETS_COL_HOSTNAMES, v, strlen(v), false, &e) < 0)
			die("asset", &e);
	}
	for (unsigned i = 0; i < nets; i++) {
		unsigned len = 16 + (unsigned)(next() % 13);
		uint32_t net = (172u << 24) | (16u << 16) | (uint32_t)(next() & 0xfffff);

		net &= len == 32 ? ~0u : ~((1u << (32 - len)) - 1);
		snprintf(name, sizeof(name), "net%u", i);
		snprintf(v, sizeof(v), "%u.%u.%u.%u/%u", net >> 24, (net >> 16) & 255,
			 (net >> 8) & 255, net & 255, len);
		if (assets_add_new(a, tenant, name, &en, &e) < 0 ||
		    assets_entry_set(a, en, ASSETS_COL_ADDRESSES, v, strlen(v), false, &e) < 0)
			die("network", &e);
	}
	if (assets_store(a, m, &st, &e) < 0)
		die("store", &e);
	assets_free(a);
}

struct probe {
	char tenant[16];
	char value[64];
};

static void make_probes(struct probe *p, unsigned tenants, unsigned n, bool names)
{
	for (unsigned i = 0; i < PROBES; i++) {
		unsigned t = (unsigned)(next() % tenants), k = (unsigned)(next() % n);
		unsigned kind = (unsigned)(next() % 4);

		snprintf(p[i].tenant, sizeof(p[i].tenant), "t%u", t);
		if (names)
			snprintf(p[i].value, sizeof(p[i].value), kind < 2 ? "host%u.t%u.example"
				 : kind == 2 ? "host%u" : "other%u.t%u.example", k, t);
		else if (kind < 2)
			snprintf(p[i].value, sizeof(p[i].value), "10.%u.%u.%u", (k >> 16) & 255,
				 (k >> 8) & 255, k & 255);
		else
			snprintf(p[i].value, sizeof(p[i].value), "172.%u.%u.%u",
				 kind == 2 ? 16 + (unsigned)(next() % 16) : 200,
				 (unsigned)(next() % 256), (unsigned)(next() % 256));
	}
}

/* Look-ups per CPU-second over the probes, and how many matched. */
static double rate(const struct assets *a, const struct probe *p, size_t *hits)
{
	double t0 = bench_cpu_seconds(), t;
	size_t rounds = 0;

	*hits = 0;
	do {
		for (unsigned i = 0; i < PROBES; i++)
			*hits += assets_lookup(a, p[i].tenant, p[i].value, strlen(p[i].value)) != NULL;
		rounds++;
		t = bench_cpu_seconds() - t0;
	} while (t < ROUNDS_MIN_CPU);
	*hits /= rounds;
	return rounds * PROBES / t;
}

/* The peer: every asset of the probe's tenant tested in turn (no index). */
static double scan_rate(struct assets *a, const struct probe *p, size_t *hits)
{
	double t0 = bench_cpu_seconds(), t;
	size_t rounds = 0;

	*hits = 0;
	do {
		for (unsigned i = 0; i < PROBES; i++) {
			struct ipaddr ip, net;
			unsigned prefix;

			if (ipaddr_parse(&ip, p[i].value, strlen(p[i].value)) < 0)
				continue;
			for (size_t k = 0; k < assets_count(a); k++) {
				const struct assets_entry *en = assets_at(a, k);

				if (strcmp(en->tenant, p[i].tenant))
					continue;
				for (size_t j = 0; j < en->addresses.n; j++)
					if (ipaddr_parse_cidr(&net, &prefix, en->addresses.v[j],
							      strlen(en->addresses.v[j])) == 0 &&
					    ipaddr_in_prefix(&ip, &net, prefix)) {
						(*hits)++;
						goto found;
					}
			}
found:;
		}
		rounds++;
		t = bench_cpu_seconds() - t0;
	} while (t < ROUNDS_MIN_CPU);
	*hits /= rounds;
	return rounds * PROBES / t;
}

int main(int argc, char **argv)
{
	unsigned tenants = opt(argc, argv, "--tenants", 20), n = opt(argc, argv, "--assets", 5000);
	unsigned nets = opt(argc, argv, "--networks", 200);
	char dir[] = "/tmp/koban-bench-assets-XXXXXX", cmd[64];
	struct probe *p = mem_calloc(PROBES, sizeof(*p));
	struct assets *a = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	size_t hits;
	double t0, r;

	if (!p || !mkdtemp(dir) || meta_open(&m, dir, &e) < 0)
		die("setup", &e);
	t0 = bench_cpu_seconds();
	for (unsigned t = 0; t < tenants; t++)
		write_tenant(m, t, n, nets);
	printf("write: %u assets in %.2f CPU-s\n", tenants * (n + nets), bench_cpu_seconds() - t0);
	t0 = bench_cpu_seconds();
	if (assets_load(m, NULL, &a, &e) < 0)
		die("load", &e);
	printf("load: %zu assets in %.2f CPU-s\n", assets_count(a), bench_cpu_seconds() - t0);
	make_probes(p, tenants, n, false);
	r = rate(a, p, &hits);
	printf("addresses: %.0f look-ups per CPU-second (%zu of %d found)\n", r, hits, PROBES);
	r = scan_rate(a, p, &hits);
	printf("  peer, a scan of the tenant's assets: %.0f per CPU-second (%zu found)\n", r,
	       hits);
	make_probes(p, tenants, n, true);
	r = rate(a, p, &hits);
	printf("host names: %.0f look-ups per CPU-second (%zu of %d found)\n", r, hits, PROBES);
	assets_free(a);
	meta_close(m);
	mem_free(p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench/assets: %s not removed\n", dir);
	return 0;
}
