/*
 * fuzz_rulefilter.c - libFuzzer target for a tuning filter's check (`koban rule tune
 * --filter FILE.yml`: YAML written by an analyst, perhaps pasted from elsewhere).
 *
 * The check must either accept the text or refuse it with a message naming the file.
 */
#include "detect/rulepolicy.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;

	if (rulepolicy_filter_check("fuzz.yml", (const char *)data, size, &e) < 0 &&
	    strncmp(e.msg, "fuzz.yml", 8) != 0)
		abort(); /* a refusal always names the file */
	return 0;
}
