/*
 * fuzz_cef.c - libFuzzer target for the CEF decoder through the registry (format forced):
 * fuzz_decoder.h with the decoders' settings of a LEEF source "pa" ('|', '^' for the
 * others), the source picked among none, "pa" and "other", and every event written as JSON
 * read back by parse/ecs to the same bytes. fuzz_leef.c and fuzz_a10.c reuse this file
 * with FUZZ_FORMAT set.
 */
#include "parse/decoder.h"

static const char fuzz_yaml[] = "decoders:\n  leef:\n    delimiter: \"^\"\n    sources:\n"
				"      pa: \"|\"\n";

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT "cef"
#endif
#define FUZZ_SETUP fuzz_configure(fuzz_yaml, decoder_configure)
#define FUZZ_SOURCES NULL, "pa", "other", "pa"
#define FUZZ_ROUND_TRIP
#include "fuzz_decoder.h"
