/* fuzz_squid.c - libFuzzer target for the Squid access.log decoder (fuzz_decoder.h). */
#define FUZZ_FORMAT "squid"
#include "fuzz_decoder.h"
