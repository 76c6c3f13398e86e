/*
 * weblog.h - the Apache/nginx access log decoder ("combined").
 *
 * Reads the NCSA combined format, alone or after a syslog header:
 *   CLIENT IDENT USER [dd/Mon/yyyy:hh:mm:ss +zzzz] "REQUEST" STATUS BYTES "REFERER" "AGENT"
 * (Apache `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`, nginx's default
 * `combined`), also the common format (without referer and agent), the vhost variants
 * with a leading `VHOST` or `VHOST:PORT` (Apache vhost_combined), and extra fields after
 * the agent (ignored). The request line may be anything ("-", binary): it is split into
 * method, target and version only when it has those three parts, else kept whole in
 * weblog.request. docs/parsing.md has the mapping.
 *
 * Memory: values point into the message; a quoted value with backslash escapes (\" and
 * \\) is unescaped into the event's arena.
 * Thread safety: any thread; the vendor field id is registered once (pthread_once).
 */
#ifndef PARSE_WEBLOG_H
#define PARSE_WEBLOG_H

#include <stdbool.h>
#include <stddef.h>

struct decode_opts;
struct err;
struct event;

/* Whether msg has a combined/common log time stamp followed by a quoted request. */
bool weblog_sniff(const char *msg, size_t len);
int weblog_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		  struct err *e);

#endif
