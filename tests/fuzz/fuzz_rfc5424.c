/* fuzz_rfc5424.c - libFuzzer target for the RFC 5424 decoder: fuzz_rfc3164.c, format forced. */
#define FUZZ_SYSLOG_FORMAT SYSLOG_RFC5424
#include "fuzz_rfc3164.c"
