#include "ingest/tls.h"
#include "core/compat.h"
#include "core/config.h"
#include "core/err.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

const char *tls_last_error(char *out, size_t n)
{
	unsigned long code = ERR_get_error();

	if (code)
		ERR_error_string_n(code, out, n);
	else
		snprintf(out, n, "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
	return out;
}

static int ctx_fail(SSL_CTX *ctx, struct err *e, const char *what, const char *path)
{
	char why[256];

	err_set(e, -EINVAL, "tls: cannot use %s %s: %s", what, path,
		tls_last_error(why, sizeof(why)));
	SSL_CTX_free(ctx);
	return -EINVAL;
}

int tls_server_new(SSL_CTX **out, const struct config *c, struct err *e)
{
	SSL_CTX *ctx;

	*out = NULL;
	if (!c->tls_cert || !c->tls_key)
		return err_set(e, -EINVAL, "tls: a TLS listener needs syslog.tls.cert and "
			       "syslog.tls.key (PEM files)");
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return err_set(e, -ENOMEM, "tls: cannot create an OpenSSL context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * No TLS 1.3 session tickets: syslog senders never read from the connection, so a
	 * ticket left unread makes their close a reset, and the kernel then throws away
	 * whatever the sender wrote that koban had not yet read.
	 */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER); /* tls_conn_write */
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* syslog senders often close without close_notify: that is an end, not an error */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1)
		return ctx_fail(ctx, e, "certificate (syslog.tls.cert)", c->tls_cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, e, "private key (syslog.tls.key)", c->tls_key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, e, "private key (syslog.tls.key) with the certificate", c->tls_key);
	if (c->tls_ca) {
		if (SSL_CTX_load_verify_locations(ctx, c->tls_ca, NULL) != 1)
			return ctx_fail(ctx, e, "CA file (syslog.tls.client_ca)", c->tls_ca);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	*out = ctx;
	return 0;
}

void tls_server_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *tls_conn_new(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

void tls_conn_free(SSL *ssl)
{
	SSL_free(ssl);
}

static int io_result(SSL *ssl, int rc)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_EOF;
	default:
		return TLS_IO_ERROR;
	}
}

int tls_conn_handshake(SSL *ssl)
{
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(ssl);
	return rc == 1 ? TLS_IO_DONE : io_result(ssl, rc);
}

ssize_t tls_conn_read(SSL *ssl, void *buf, size_t n)
{
	size_t got = 0;

	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(ssl, buf, n, &got) == 1)
		return (ssize_t)got;
	return io_result(ssl, 0);
}

ssize_t tls_conn_write(SSL *ssl, const void *buf, size_t n)
{
	size_t done = 0;

	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(ssl, buf, n, &done) == 1)
		return (ssize_t)done;
	return io_result(ssl, 0);
}
