/* fuzz_weblog.c - libFuzzer target for the combined/common access log decoder (fuzz_decoder.h). */
#define FUZZ_FORMAT "combined"
#include "fuzz_decoder.h"
