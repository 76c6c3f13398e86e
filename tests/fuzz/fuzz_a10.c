/* fuzz_a10.c - libFuzzer target for the A10 decoder: fuzz_cef.c, format forced. */
#define FUZZ_FORMAT "a10"
#include "fuzz_cef.c"
