/*
 * tls.h - the OpenSSL side of the TLS syslog listeners (RFC 5425).
 *
 * tls_server_new() builds one server context from the configuration: certificate chain
 * (tls_cert), private key (tls_key), and, when tls_ca is set, mandatory client
 * certificates signed by that CA. TLS 1.2 is the minimum version.
 *
 * The connection functions wrap non-blocking sockets: they never block and report what
 * the connection waits for, so the epoll loop can handshake and read many connections.
 *
 * Threads: create and free the context on the main thread; a connection is used by the
 * one thread that owns it (the stream loop).
 */
#ifndef INGEST_TLS_H
#define INGEST_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct err;
struct ssl_ctx_st;
struct ssl_st;

enum tls_io {
	TLS_IO_DONE = 0,     /* handshake finished */
	TLS_IO_WANT_READ = -1,
	TLS_IO_WANT_WRITE = -2,
	TLS_IO_EOF = -3,     /* the peer closed */
	TLS_IO_ERROR = -4,
};

/* 0, or -EINVAL / -ENOMEM with a message naming the file that could not be used. */
int tls_server_new(struct ssl_ctx_st **ctx, const struct config *c, struct err *e);
void tls_server_free(struct ssl_ctx_st *ctx);

/* A server connection on the non-blocking socket fd (not taken over); NULL on ENOMEM. */
struct ssl_st *tls_conn_new(struct ssl_ctx_st *ctx, int fd);
void tls_conn_free(struct ssl_st *ssl);
/* Advances the handshake: TLS_IO_DONE, WANT_READ, WANT_WRITE or ERROR. */
int tls_conn_handshake(struct ssl_st *ssl);
/* Reads up to n bytes: the count (> 0), or WANT_READ, WANT_WRITE, EOF or ERROR. */
ssize_t tls_conn_read(struct ssl_st *ssl, void *buf, size_t n);
/*
 * Writes up to n bytes: the count written (> 0), or WANT_READ, WANT_WRITE or ERROR. The
 * context must allow partial writes from a moving buffer (SSL_MODE_ENABLE_PARTIAL_WRITE |
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, as tls_server_new sets), so a retry may pass the
 * rest of the bytes from wherever they are now.
 */
ssize_t tls_conn_write(struct ssl_st *ssl, const void *buf, size_t n);
/* Why the last operation failed, for a log line (the OpenSSL error queue, then cleared). */
const char *tls_last_error(char *out, size_t n);

#endif
