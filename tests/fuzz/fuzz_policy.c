/*
 * fuzz_policy.c - libFuzzer target for notification policies (notify/policy.c).
 *
 * Any text parses without crashing into a policy or an error message; a policy that parses
 * is planned for every level at a few times (a holiday night, a business morning, a time
 * before 1970) with a frequency reached, and every plan must name its matched rule, give
 * reasons and resolve every recipient. A message never carries a control character. Then
 * the same text is parsed with the Nth allocation failing: only -ENOMEM or the text's own
 * error may come out.
 */
#include "notify/policy.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void plan_all(const struct policy *p)
{
	static const int64_t times[] = { 1777827600000000000LL, 1778115600000000000LL,
					 -86400000000000LL };
	static const char *const tags[] = { "attack.t1110", "attack.initial_access" };
	struct arena a;

	arena_init(&a, 4096, 1 << 24);
	for (int level = 0; level <= 3; level++)
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
			struct policy_facts f = { .level = level, .rule = "panos-scan-tcp", .tags = tags,
						  .n_tags = 2, .at_ns = times[t], .similar = t * 50 };
			struct policy_plan pl;
			struct err e = ERR_INIT;

			if (policy_plan(p, &f, &a, &pl, &e) < 0)
				abort();
			if (pl.matched != (pl.rule_name != NULL) || !pl.n_reasons)
				abort();
			for (size_t i = 0; i < pl.n_reasons; i++)
				if (!pl.reasons[i] || !*pl.reasons[i])
					abort();
			for (size_t i = 0; i < pl.n_steps; i++)
				for (size_t k = 0; k < pl.steps[i].n_to; k++)
					if (!pl.steps[i].to[k] ||
					    !strncmp(pl.steps[i].to[k], "rotation:", 9))
						abort();
			arena_clear(&a);
		}
	arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	struct err e = ERR_INIT;
	int first, rc;

	first = policy_parse(&p, "fuzz", (const char *)data, size, &e);
	if (first < 0 && (first == -ENOMEM || strncmp(e.msg, "fuzz: ", 6)))
		abort(); /* no allocation failed, and every message names the policy */
	for (const char *c = e.msg; first < 0 && *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			abort(); /* messages reach terminals: no control character from the input */
	if (first == 0)
		plan_all(p);
	policy_free(p);
	p = NULL;
	if (size) {
		mem_fail_after(data[0] % 64);
		rc = policy_parse(&p, "fuzz", (const char *)data, size, &e);
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM && rc != first)
			abort();
		policy_free(p);
	}
	return 0;
}
