/*
 * listener.h - the syslog listeners: UDP, TCP and TLS (RFC 5425), IPv4 and IPv6.
 *
 * ingest_start() binds every listener of the configuration (failing as a whole, with the
 * address in the message, if one cannot be bound) and starts the receiving threads:
 *  - UDP: one thread per listener, recvmmsg batches, SO_RXQ_OVFL read to count what the
 *    kernel dropped for a full receive buffer (exported as udp_overflow).
 *  - TCP and TLS: one epoll thread for all stream listeners; framing is detected per
 *    connection (RFC 6587 octet counting when the first byte is a digit, else LF, also
 *    accepting CRLF and NUL); TLS with the configured certificate and key.
 * Messages longer than the configured maximum are truncated and counted. Each message
 * is routed to its tenant (router_route) and pushed to the fair queue:
 *  - UDP cannot wait: when the tenant's queue is full or over its EPS limit the message
 *    is dropped and counted by reason in the tenant's stats.
 *  - TCP/TLS are never dropped: the connection stops being read (back-pressure on that
 *    sender only) until its tenant's queue has room, counted as `throttled`.
 *
 * ingest_stop() stops reading, pushes what was already framed, closes every socket and
 * joins the threads. Start and stop from the main thread; the stats may be read from any
 * thread.
 */
#ifndef INGEST_LISTENER_H
#define INGEST_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/config.h"

struct err;
struct fairq;
struct router;
struct ingest;

struct listener_stats {
	atomic_uint_fast64_t messages;       /* framed messages */
	atomic_uint_fast64_t bytes;
	atomic_uint_fast64_t truncated;
	atomic_uint_fast64_t connections;    /* accepted, total */
	atomic_uint_fast64_t active;         /* open now (gauge) */
	atomic_uint_fast64_t framing_errors; /* bad octet counts: connection closed */
	atomic_uint_fast64_t tls_failures;   /* failed handshakes */
	atomic_uint_fast64_t udp_overflow;   /* datagrams the kernel dropped (SO_RXQ_OVFL) */
};

int ingest_start(struct ingest **in, const struct config *c, struct fairq *q, struct router *r,
		 struct err *e);
void ingest_stop(struct ingest *in);

size_t ingest_listener_count(const struct ingest *in);
const char *ingest_listener_name(const struct ingest *in, size_t i);
enum listener_proto ingest_listener_proto(const struct ingest *in, size_t i);
/* The address actually bound ("127.0.0.1:40123" when the config asked for port 0). */
const char *ingest_listener_address(const struct ingest *in, size_t i);
struct listener_stats *ingest_listener_stats(struct ingest *in, size_t i);

#endif
