/*
 * relp.h - the RELP listeners (`protocol: relp` and `relp-tls` in syslog.listeners,
 * `serve --relp ADDR:PORT`): rsyslog's acknowledged transport (omrelp), spoken natively
 * (ingest/relpwire.h) on one epoll thread, each `syslog` frame answered `200 OK` only once
 * the WAL commit that holds its event is done, so that a sender loses nothing across a
 * crash of koban: what was not acknowledged is sent again after the reconnect.
 *
 * Per connection: the first command must be `open` (offers checked, answered with this
 * server's offers); transaction numbers must follow each other exactly (1, 2, ...;
 * 999999999 wraps to 1), or the session is broken as librelp breaks it. `syslog` frames
 * are routed like syslog messages (router_route through ingest_msg_new: listener name,
 * CIDR, HOSTNAME; counted in the listener's and the tenant's statistics), decoded and
 * appended to the sink's shard of acknowledged inputs through ackin (ingest/ackin.h), one
 * ackin batch per run of messages of the same route, right after each read. A committer
 * thread waits for the newest appended LSN to become durable (ackin_wait) and wakes the
 * loop, which answers every frame at or below the durable LSN, in the order received; a
 * `close` is answered after everything before it, then the connection ends. Many frames
 * are in flight at once (rsyslog's window is 128): reading never waits for a commit. A
 * connection that owes RELP_INFLIGHT_MAX answers is not read; a sender that has more
 * commands than that unanswered (far past any window) breaks the session.
 *
 * Failures never send a non-200 answer for a message (librelp drops what is refused):
 * when no decoding slot is free (ackin -EBUSY) the connection keeps its messages and
 * retries every RELP_RETRY_MS without reading more; when the append fails (disk full, a
 * tenant removed) the connection is closed without answering, and the sender sends the
 * unanswered frames again after it reconnects (counted as abandoned; at-least-once: some
 * of them may then be stored twice). A protocol error (bad framing, a transaction number
 * out of sequence, a command before `open`) closes the connection, counted in the
 * listener's framing_errors. An unknown command is answered `500` (it carries no message).
 * DATA longer than max_message_size is cut and counted as truncated. Connections are
 * bounded by tcp_max_connections (RELP ones together) and tcp_max_per_address, TLS
 * handshakes by 10 s, quiet sessions with nothing owed by tcp_idle_timeout.
 *
 * relp_stop() stops accepting and reading, appends what was already read, waits up to
 * RELP_STOP_MS for its commit, answers it, sends `serverclose` and closes everything.
 *
 * Memory: per connection a parser buffer (at most max_message_size), messages of one read
 * until appended, an answer queue of at most RELP_INFLIGHT_MAX entries and an output
 * buffer of RELP_OUT_MAX bytes. Threads: relp_start/relp_stop/relp_free from the main
 * thread; the loop and the committer are relp's own; the metrics from the admin thread.
 */
#ifndef INGEST_RELP_H
#define INGEST_RELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ackin;
struct config;
struct err;
struct ingest;
struct relp;

#define RELP_INFLIGHT_MAX 4096  /* answers owed by one connection before it is not read */
#define RELP_OUT_MAX (16 * 1024) /* bytes of answers waiting for the socket */
#define RELP_RETRY_MS 10        /* a connection waiting for a decoding slot tries again */
#define RELP_STOP_MS 5000       /* at stop: longest wait for the last commit and answers */
#define RELP_SLOT_WAIT_MS 0     /* ackin_begin's wait on the loop thread: never block */

/*
 * Starts the loop on every RELP listener of in (those whose protocol is relp or
 * relp-tls; none: *r stays NULL and 0 is returned). TLS ones use syslog.tls.* of c.
 * 0 or -errno with a message.
 */
int relp_start(struct relp **r, struct ingest *in, struct ackin *ack, const struct config *c,
	       struct err *e);
/* Stops and joins both threads (see above); NULL or already stopped: no-op. */
void relp_stop(struct relp *r);
/* Unregisters the metrics, stops when not yet stopped, frees; NULL is a no-op. */
void relp_free(struct relp *r);
/*
 * koban_relp_frames_total{listener,result}: `syslog` frames acknowledged (acked) and
 * left unanswered when their session ended (abandoned: the sender sends them again);
 * koban_relp_sessions_total{listener}: opened sessions; koban_relp_slot_waits_total:
 * reads that found no free decoding slot.
 */
int relp_metrics_register(struct relp *r);

/* Statistics for tests: frames acknowledged and abandoned, over all listeners. */
uint64_t relp_acked(const struct relp *r);
uint64_t relp_abandoned(const struct relp *r);

#endif
