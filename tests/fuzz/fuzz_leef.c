/* fuzz_leef.c - libFuzzer target for the LEEF decoder: fuzz_cef.c, format forced. */
#define FUZZ_FORMAT "leef"
#include "fuzz_cef.c"
