/*
 * fuzz_cef.c - libFuzzer target for the CEF decoder through the registry (format forced):
 * fuzz_decoder.h with the decoders' settings of a LEEF source "pa" ('|', '^' for the
 * others), the source picked among none, "pa" and "other", and every event written as JSON
 * read back by parse/ecs to the same bytes. fuzz_leef.c and fuzz_a10.c reuse this file
 * with FUZZ_FORMAT set.
 */
#include "core/config.h"
#include "core/err.h"
#include "parse/decoder.h"

#include <stdlib.h>

/* Once, before the first input: the settings above, or abort. */
static void fuzz_configure(void)
{
	static const char yaml[] = "decoders:\n  leef:\n    delimiter: \"^\"\n    sources:\n"
				   "      pa: \"|\"\n";
	struct config c;
	struct err e = ERR_INIT;

	if (config_load_mem(&c, yaml, sizeof(yaml) - 1, "fuzz", &e) < 0 ||
	    decoder_configure(&c, &e) < 0)
		abort();
	config_release(&c);
}

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT "cef"
#endif
#define FUZZ_SETUP fuzz_configure()
#define FUZZ_SOURCES NULL, "pa", "other", "pa"
#define FUZZ_ROUND_TRIP
#include "fuzz_decoder.h"
