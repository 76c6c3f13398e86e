/*
 * httpguard.h - a deadline for reading HTTP requests on a libmicrohttpd daemon.
 *
 * libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT counts inactivity, so a client that
 * trickles a byte every few seconds keeps its connection (and a slot of its address under
 * MHD_OPTION_PER_IP_CONNECTION_LIMIT) for as long as it likes. A guard closes every
 * connection whose request has not been read completely within deadline_s of its start:
 * the connection's opening, or the end of the previous request on a kept-alive connection.
 *
 *   struct httpguard *g;
 *   httpguard_new(&g, 5, e);
 *   d = MHD_start_daemon(..., MHD_OPTION_NOTIFY_CONNECTION, httpguard_notify_connection, g,
 *                        MHD_OPTION_NOTIFY_COMPLETED, httpguard_notify_completed, g, ...);
 *   in the access handler, first: httpguard_request_read(connection);
 *   ...
 *   MHD_stop_daemon(d);
 *   httpguard_free(g);
 *
 * The guard's thread wakes once a second and shuts down (shutdown(2), never close(2)) the
 * sockets of late connections; libmicrohttpd then sees the connection end and closes it
 * as usual. A connection leaves the guard's table in the NOTIFY_CLOSED callback, which
 * libmicrohttpd runs before it closes the socket, and the table is under one mutex, so a
 * descriptor is never shut down after it was closed (and perhaps reused).
 *
 * Memory: one small record per open connection, freed when it closes. Threads:
 * httpguard_new/httpguard_free on the main thread (free only after MHD_stop_daemon); the
 * callbacks on libmicrohttpd's threads; httpguard_cut from any thread.
 */
#ifndef PORTAL_HTTPGUARD_H
#define PORTAL_HTTPGUARD_H

#include <stdarg.h>
#include <stdint.h>

#include <microhttpd.h>

struct err;
struct httpguard;

/* 0, or -ENOMEM / -errno (no thread) with a message. */
int httpguard_new(struct httpguard **g, unsigned deadline_s, struct err *e);
void httpguard_free(struct httpguard *g);

/* For MHD_OPTION_NOTIFY_CONNECTION with cls = the guard. */
void httpguard_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				 enum MHD_ConnectionNotificationCode toe);
/* For MHD_OPTION_NOTIFY_COMPLETED with cls = the guard: the next request's clock starts. */
void httpguard_notify_completed(void *cls, struct MHD_Connection *c, void **con_cls,
				enum MHD_RequestTerminationCode toe);
/* From the access handler: the request was read in time, its clock stops. */
void httpguard_request_read(struct MHD_Connection *c);

/*
 * For MHD_OPTION_EXTERNAL_LOGGER with cls = the guard: libmicrohttpd's messages (one per
 * refused or timed-out connection) as warnings, at most 10 a minute per guard.
 */
void httpguard_mhd_log(void *cls, const char *fmt, va_list ap);

/* Connections closed so far for missing the deadline. */
uint64_t httpguard_cut(const struct httpguard *g);

#endif
