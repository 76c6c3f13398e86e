/*
 * fuzz_sigcond.c - libFuzzer target for the Sigma condition parser (detect/sigcond.c).
 *
 * Any text either parses or fails with a message; a parsed condition only names
 * identifiers that exist and evaluates (under every assignment of the first identifiers)
 * without crashing.
 */
#include "detect/sigcond.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static const char *const names[] = { "selection", "sel_a", "sel_b", "filter_main", "_private",
				     "keywords", "1x" };
#define N_NAMES (sizeof(names) / sizeof(names[0]))

static bool ident(void *ctx, uint32_t i)
{
	unsigned bits = *(unsigned *)ctx;

	if (i >= N_NAMES)
		abort();
	return (bits >> i) & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct sigcond c;
	int rc = sigcond_parse(&c, (const char *)data, size, names, N_NAMES, &e);

	if (rc < 0) {
		if (!e.msg[0] || (rc != -EINVAL && rc != -ENOMEM))
			abort();
		return 0;
	}
	if (c.root >= c.n_nodes)
		abort();
	for (unsigned bits = 0; bits < 8; bits++)
		(void)sigcond_eval(&c, ident, &bits);
	sigcond_release(&c);
	if (size) {
		mem_fail_after(data[0] % 8);
		rc = sigcond_parse(&c, (const char *)data, size, names, N_NAMES, &e);
		mem_fail_after(-1);
		if (rc == 0)
			sigcond_release(&c);
		else if (rc != -ENOMEM)
			abort();
	}
	return 0;
}
