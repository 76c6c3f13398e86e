/*
 * tcp.h - the stream listeners (TCP and TLS): one epoll thread for all of them.
 *
 * The thread accepts connections, handshakes TLS without blocking, reads each connection
 * in large chunks and frames it (framing.h; the framing is detected per connection).
 * Framed messages go through the shared path of listener.h in batches. When the fair
 * queue refuses them the connection keeps them, is no longer polled for input and is
 * retried every few milliseconds: a stream message is never dropped while koban runs. A
 * bad octet count closes the connection (counted in framing_errors). A sender that closes
 * after a last message without terminator still has that message delivered.
 *
 * Hostile senders: at most tcp_max_connections are open in all, tcp_max_per_listener on
 * one listener and tcp_max_per_address from one source address. A full listener (or
 * process) closes the connection quiet the longest (at least 1 s, never one paused by
 * back-pressure) to make room, else refuses the new one. Connections idle for
 * tcp_idle_timeout, TLS handshakes unfinished after 10 s and messages unfinished
 * tcp_frame_timeout after their first byte are closed. The split-message buffers of all
 * connections share the budget tcp_frame_memory (ingest_frame_budget). Every refusal and
 * eviction is counted by reason in listener_stats and logged at a limited rate; a
 * connection the event loop cannot watch (epoll_ctl failing) is closed and counted, never
 * left unread.
 *
 * When stop_fd becomes readable the thread stops accepting, reads out what the open
 * connections already sent (until all were quiet for TCP_QUIET_MS, at most TCP_DRAIN_MS),
 * pushes what it framed (waiting up to TCP_PUSH_MS for room, then counting the rest as
 * dropped for shutdown; sockets are read no further after that), closes every connection
 * and ends. Start and join from the main thread.
 */
#ifndef INGEST_TCP_H
#define INGEST_TCP_H

#include "ingest/listener.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct err;
struct ingest;
struct ipaddr;
struct log_limit;
struct ssl_ctx_st;
struct tcp_loop;

#define TCP_DRAIN_MS 5000 /* longest read-out of open connections at stop */
#define TCP_QUIET_MS 200  /* read-out ends once every connection was quiet this long */
#define TCP_PUSH_MS 2000  /* then, longest wait for queue room for what was framed */

struct tcp_listen {
	int fd;            /* bound, listening, non-blocking; stays the caller's */
	unsigned listener; /* index in the configuration */
	bool tls;
};

/*
 * Starts the thread for the n listening sockets. tls is the server context for the TLS
 * ones (may be NULL when none is TLS). Uses max_message_size and the tcp_* limits of c
 * (copied). 0 or -errno with a message.
 */
int tcp_start(struct tcp_loop **t, struct ingest *in, const struct config *c,
	      const struct tcp_listen *socks, size_t n, struct ssl_ctx_st *tls, int stop_fd,
	      struct err *e);
/* Waits for the thread to drain and end (stop_fd must be signalled) and frees it. */
void tcp_join(struct tcp_loop *t);

/*
 * The accepting steps every stream loop shares (this one and relp.c's). They keep no
 * state and allocate nothing; each is called from the loop thread that owns the sockets
 * (the counters they touch are atomic, the log_limit is the caller's).
 */

/* After EMFILE and friends a listener is not watched for this long (no spinning on accept). */
#define TCP_ACCEPT_PAUSE_NS (100 * 1000000)
/* Whether accept failed for lack of descriptors or memory (a pause, not a log line, helps). */
#define TCP_ACCEPT_EXHAUSTED(rc) \
	((rc) == -EMFILE || (rc) == -ENFILE || (rc) == -ENOBUFS || (rc) == -ENOMEM)

/*
 * Accepts one connection on the listening socket lfd, non-blocking and close-on-exec,
 * retrying EINTR and ECONNABORTED. The peer in *ip and *port (zero when its address
 * cannot be read). The new descriptor (the caller's to close), or -errno: -EAGAIN (or
 * -EWOULDBLOCK) when none waits.
 */
int tcp_accept(int lfd, struct ipaddr *ip, uint16_t *port);
/*
 * Refuses an accepted connection: closes fd, counts it in the listener's refused[why] and
 * logs "LISTENER: refusing a connection from IP: REASON" through lim under the module name
 * module (the caller's LOG_MODULE).
 */
void tcp_refuse(struct ingest *in, unsigned listener, int fd, enum conn_refuse why,
		const struct ipaddr *ip, struct log_limit *lim, const char *module);
/*
 * Adds fd to the epoll set epfd for input, with tag as its event data; 0 or -errno with
 * the message "WHO: epoll_ctl: ...".
 */
int tcp_watch(int epfd, int fd, void *tag, const char *who, struct err *e);
/*
 * Reads what a connection has into buf[0..cap): through its TLS session ssl when not NULL,
 * else from fd (EINTR retried). The bytes read, or tls.h's TLS_IO_EOF, TLS_IO_WANT_READ
 * (nothing now) or TLS_IO_ERROR.
 */
struct ssl_st;
ssize_t tcp_read(int fd, struct ssl_st *ssl, char *buf, size_t cap);

#endif
