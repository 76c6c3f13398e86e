/* fuzz_dns.c - libFuzzer target for the BIND and Unbound decoders (fuzz_decoder.h). */
#define FUZZ_FORMAT "bind"
#define FUZZ_FORMAT2 "unbound"
#include "fuzz_decoder.h"
