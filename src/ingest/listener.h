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
 *    Hostile senders are bounded by connection limits (in all, per listener, per source
 *    address), eviction of the oldest idle connection when full, a deadline for
 *    unfinished messages and one memory budget for them (tcp.h); refusals and evictions
 *    are counted by reason (struct listener_stats).
 * Messages longer than the configured maximum are truncated and counted. Each message
 * is routed to its tenant (router_route) and pushed to the fair queue:
 *  - UDP cannot wait: when the tenant's queue is full or over its EPS limit the message
 *    is dropped and counted by reason in the tenant's stats.
 *  - TCP/TLS are never dropped: the connection stops being read (back-pressure on that
 *    sender only) until its tenant's queue has room, counted as `throttled`.
 *
 * ingest_stop() stops reading, pushes what was already framed, closes every socket and
 * joins the threads; names and stats stay readable (the admin listener may still be
 * serving /metrics while the workers drain) until ingest_free(), which also stops
 * when that was not done. Start, stop and free from the main thread; the stats may be
 * read from any thread until ingest_free.
 */
#ifndef INGEST_LISTENER_H
#define INGEST_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/fairq.h"

struct err;
struct fairq;
struct router;
struct ingest;

/* Why a stream connection was closed at once after accept (koban_connections_refused_total). */
enum conn_refuse {
	REFUSE_MAX_CONNECTIONS, /* tcp_max_connections open and none idle enough to evict */
	REFUSE_LISTENER_FULL,   /* tcp_max_per_listener open on this listener, none to evict */
	REFUSE_PER_ADDRESS,     /* tcp_max_per_address open from the same source address */
	REFUSE_NO_MEMORY,
	REFUSE_EPOLL,           /* could not be added to the event loop */
	REFUSE_MAX
};

/* Why koban closed an open stream connection (koban_connections_evicted_total). */
enum conn_evict {
	EVICT_IDLE_TIMEOUT,      /* quiet for tcp_idle_timeout */
	EVICT_HANDSHAKE_TIMEOUT, /* TLS handshake unfinished after 10 s */
	EVICT_FRAME_TIMEOUT,     /* a message unfinished after tcp_frame_timeout */
	EVICT_FOR_NEW,           /* oldest idle connection, closed to make room for a new one */
	EVICT_MEMORY,            /* its unfinished message would pass tcp_frame_memory */
	EVICT_EPOLL,             /* the event loop could not change its interest */
	EVICT_MAX
};

const char *conn_refuse_name(enum conn_refuse r);
const char *conn_evict_name(enum conn_evict r);

struct listener_stats {
	atomic_uint_fast64_t messages;       /* framed messages */
	atomic_uint_fast64_t bytes;
	atomic_uint_fast64_t truncated;
	atomic_uint_fast64_t connections;    /* accepted, total */
	atomic_uint_fast64_t active;         /* open now (gauge) */
	atomic_uint_fast64_t framing_errors; /* bad octet counts: connection closed */
	atomic_uint_fast64_t tls_failures;   /* failed handshakes */
	atomic_uint_fast64_t udp_overflow;   /* datagrams the kernel dropped (SO_RXQ_OVFL) */
	atomic_uint_fast64_t udp_empty;      /* datagrams with nothing but line ends: ignored */
	atomic_uint_fast64_t frames_cut;     /* unfinished message lost when its connection closed */
	atomic_uint_fast64_t refused[REFUSE_MAX];
	atomic_uint_fast64_t evicted[EVICT_MAX];
};

int ingest_start(struct ingest **in, const struct config *c, struct fairq *q, struct router *r,
		 struct err *e);
void ingest_stop(struct ingest *in);
/* Unregisters in's metrics (if registered), stops (if not yet stopped) and frees. */
void ingest_free(struct ingest *in);
/*
 * Registers with the metrics registry (core/metrics.h): koban_events_received_total
 * {tenant,listener} (every pair, zeros included, so rates start at once), the listener
 * families koban_listener_*{listener,protocol} from struct listener_stats, and
 * koban_udp_receive_overflow_total for the UDP listeners; for the stream listeners
 * koban_connections_refused_total and koban_connections_evicted_total {listener,reason}
 * (every reason, zeros included) and koban_listener_frames_cut_total{listener};
 * koban_udp_empty_datagrams_total{listener}; the gauge koban_stream_frame_memory_bytes.
 * One ingest per process registers.
 */
int ingest_metrics_register(struct ingest *in);

size_t ingest_listener_count(const struct ingest *in);
const char *ingest_listener_name(const struct ingest *in, size_t i);
enum listener_proto ingest_listener_proto(const struct ingest *in, size_t i);
/* The address actually bound ("127.0.0.1:40123" when the config asked for port 0). */
const char *ingest_listener_address(const struct ingest *in, size_t i);
struct listener_stats *ingest_listener_stats(struct ingest *in, size_t i);
/*
 * The bound, listening socket of listener i (non-blocking; closed by ingest_stop). The
 * RELP listeners (protocol relp, relp-tls) are bound here but served by ingest/relp.h,
 * which must be stopped before ingest_stop.
 */
int ingest_listener_fd(const struct ingest *in, size_t i);

/*
 * The delivery path shared by the receiving threads of src/ingest (udp.c, tcp.c); not for
 * other modules. Called from those threads only.
 *
 * ingest_msg_new() routes one framed message and wraps it: it counts the message as
 * arrived (listener messages/bytes/truncated, tenant received/truncated) and returns it
 * with the routing fields set, or NULL when out of memory (counted as dropped no_memory).
 * ingest_push() pushes m[0..n) in order, one tenant run per fairq_push, and stops at the
 * first refusal: it returns how many the queue took and the refusal in *why. The caller
 * keeps the rest: a stream connection waits (ingest_throttled counts the pause), UDP
 * drops them with ingest_drop (which counts the reason and frees them).
 */
struct ipaddr;
struct msg;
struct msg *ingest_msg_new(struct ingest *in, unsigned listener, const struct ipaddr *peer,
			   uint16_t port, int64_t now_ns, const char *data, size_t len,
			   int truncated);
size_t ingest_push(struct ingest *in, struct msg **m, size_t n, int *why);
void ingest_drop(struct ingest *in, struct msg **m, size_t n, enum drop_reason reason);
void ingest_throttled(struct ingest *in, const struct msg *first_waiting);
/* The reason to count when a message that fairq_push refused with `why` is dropped. */
enum drop_reason ingest_drop_reason(int why);
/* The budget (syslog.tcp_frame_memory) the stream loop's framers share. */
struct framer_budget;
struct framer_budget *ingest_frame_budget(struct ingest *in);

#endif
