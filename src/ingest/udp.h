/*
 * udp.h - the receiving thread of one UDP syslog listener (RFC 5426: one message per
 * datagram).
 *
 * The thread takes datagrams in batches of UDP_BATCH with recvmmsg, strips trailing
 * LF/CR/NUL, cuts datagrams longer than the maximum (counted as truncated), and delivers
 * them through the shared path of listener.h. What the fair queue refuses is dropped and
 * counted by reason: UDP cannot make the sender wait. The kernel's count of datagrams
 * dropped for a full receive buffer (SO_RXQ_OVFL, enabled on the socket by the caller)
 * is added to stats->udp_overflow.
 *
 * Start and join from the main thread; the thread ends when stop_fd becomes readable.
 */
#ifndef INGEST_UDP_H
#define INGEST_UDP_H

#include <stddef.h>

struct err;
struct ingest;
struct listener_stats;
struct udp_thread;

#define UDP_BATCH 64

/* Starts the thread on the bound socket fd (not taken over). 0 or -errno with a message. */
int udp_start(struct udp_thread **u, struct ingest *in, unsigned listener, int fd, int stop_fd,
	      size_t max_message, struct listener_stats *stats, struct err *e);
/* Waits for the thread to end (stop_fd must be signalled) and frees it; NULL is a no-op. */
void udp_join(struct udp_thread *u);

#endif
