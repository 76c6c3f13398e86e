/*
 * bench/correl - matches per CPU-second through the correlation engine (correl_feed).
 *
 * Three workloads on one tenant, events in time order (one every 10 ms, 2,000,000 each):
 *   brute force: event_count gte 20 in 10m, group-by user over 5,000 users (most groups
 *                never fire: one user, the attacker, has 1 event in 50);
 *   spray:       value_count of users gte 30 in 1h, group-by source address over 2,000
 *                addresses;
 *   chain:       temporal_ordered [brute force, success] in 10m by user, with successes
 *                as 1 event in 10.
 * Prints "correl WORKLOAD: N matches/s per CPU-second, R results".
 * CPU seconds are user+system time (getrusage), so a busy machine does not lower the figure
 * much. The numbers measure the engine only: no rule matching, no JSON.
 *
 *   build/release/bench/correl [EVENTS]
 */
#include "core/compat.h"

#include <libfyaml.h>

#include "core/err.h"
#include "lib/cpu.h"
#include "detect/correl.h"

struct bev {
	char user[32], ip[32];
};

static int resolve(void *ctx, const char *name, struct err *e)
{
	return !strcmp(name, "user") ? 0 : !strcmp(name, "ip") ? 1 : -ENOENT;
}

static int value(void *ctx, int field, const char **s, size_t *len)
{
	const struct bev *ev = ctx;

	*s = field ? ev->ip : ev->user;
	*len = strlen(*s);
	return 1;
}

static int on_result(void *ctx, const struct correl_result *r)
{
	(*(long *)ctx)++;
	return 0;
}

static struct correl_engine *engine(const char *yaml, int in[2])
{
	struct correl_config cfg = CORREL_CONFIG_INIT;
	struct correl_engine *en;
	struct err e = ERR_INIT;
	char *copy = strdup(yaml), *doc, *next;
	bool silenced;

	if (!copy || correl_engine_new(&en, &cfg, &e) < 0)
		goto fail;
	for (doc = copy; doc; doc = next) {
		struct fy_document *d;
		struct correl_rule *r;

		next = strstr(doc, "---\n");
		if (next) {
			*next = '\0';
			next += 4;
		}
		d = fy_document_build_from_string(NULL, doc, FY_NT);
		if (!d || correl_rule_parse(d, "bench.yml", &r, &e) < 0 ||
		    correl_engine_add(en, r, &e) < 0)
			goto fail;
		fy_document_destroy(d);
	}
	free(copy);
	in[0] = correl_engine_base(en, "fail", NULL, resolve, NULL, &silenced, &e);
	in[1] = correl_engine_base(en, "success", NULL, resolve, NULL, &silenced, &e);
	if (correl_engine_link(en, NULL, NULL) != 0)
		goto fail;
	return en;
fail:
	fprintf(stderr, "correl: %s\n", e.msg[0] ? e.msg : "cannot build the engine");
	exit(1);
}

static void run(const char *name, const char *yaml, long events, bool chain)
{
	int in[2];
	struct correl_engine *en = engine(yaml, in);
	long results = 0;
	struct bev ev;
	double t0 = bench_cpu_seconds(), t;

	for (long i = 0; i < events; i++) {
		long attacker = i % 50 == 0;
		struct correl_event ce = { i * 10000000LL, (uint64_t)i, value, &ev };
		int input = chain && i % 10 == 5 ? in[1] : in[0];

		snprintf(ev.user, sizeof(ev.user), "user%ld@example.org",
			 attacker ? 0 : (i * 7919 + i / 2000) % 5000);
		snprintf(ev.ip, sizeof(ev.ip), "10.0.%ld.%ld", (i % 2000) / 250, (i % 2000) % 250);
		if (input >= 0 && correl_feed(en, "t", input, &ce, on_result, &results) < 0) {
			fprintf(stderr, "correl: feed failed\n");
			exit(1);
		}
	}
	t = bench_cpu_seconds() - t0;
	printf("correl %s: %.0f matches/s per CPU-second, %ld results\n", name,
	       t > 0 ? events / t : 0, results);
	correl_engine_free(en);
}

int main(int argc, char **argv)
{
	long events = argc > 1 ? atol(argv[1]) : 2000000;

	run("brute force", "title: bf\nid: bf\ncorrelation:\n  type: event_count\n  rules: fail\n"
	    "  group-by: user\n  timespan: 10m\n  condition: {gte: 20}\n", events, false);
	run("spray", "title: spray\nid: spray\ncorrelation:\n  type: value_count\n  rules: fail\n"
	    "  group-by: ip\n  timespan: 1h\n  condition: {field: user, gte: 30}\n", events, false);
	run("chain", "title: bf\nname: bf\ncorrelation:\n  type: event_count\n  rules: fail\n"
	    "  group-by: user\n  timespan: 10m\n  condition: {gte: 20}\n---\n"
	    "title: then\nid: then\ncorrelation:\n  type: temporal_ordered\n  rules: [bf, success]\n"
	    "  group-by: user\n  timespan: 10m\n", events, true);
	return 0;
}
