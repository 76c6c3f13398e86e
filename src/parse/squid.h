/*
 * squid.h - the Squid native access.log decoder ("squid").
 *
 * Reads Squid's default `squid` logformat, alone or after a syslog header:
 *   TIME.MS ELAPSED CLIENT RESULT/STATUS BYTES METHOD URL USER HIERARCHY/PEER MIME
 * (`%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`) into ECS: @timestamp,
 * event.duration, source.*, http.*, url.*, user.*, destination.* (the peer) and the vendor
 * fields squid.result_code and squid.hierarchy_code. docs/parsing.md has the mapping.
 *
 * Memory: values point into the message (decoder contract, parse/decoder.h).
 * Thread safety: any thread; the vendor field ids are registered once (pthread_once).
 */
#ifndef PARSE_SQUID_H
#define PARSE_SQUID_H

#include <stdbool.h>
#include <stddef.h>

struct decode_opts;
struct err;
struct event;

/* Whether msg holds a native access.log line (after an optional syslog header). */
bool squid_sniff(const char *msg, size_t len);
int squid_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 struct err *e);

#endif
