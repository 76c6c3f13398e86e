/*
 * fuzz_postfix.c - libFuzzer target for the Postfix decoder (fuzz_decoder.h), its queue-id
 * table made small so that inputs reach eviction and expiry.
 */
#include "parse/postfix.h"
#define FUZZ_FORMAT "postfix"
#define FUZZ_SETUP postfix_reset(32, 60)
#include "fuzz_decoder.h"
