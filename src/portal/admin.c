#include "portal/admin.h"
#include "core/compat.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "admin"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "portal/httpguard.h"
#include "core/metrics.h"

/*
 * Slow or idle clients must not lock out the scraper: any one address may hold at most
 * ADMIN_MAX_PER_ADDRESS connections, a connection that sends nothing for ADMIN_TIMEOUT_S
 * is closed, and one that has not sent a whole request ADMIN_REQUEST_S after it began is
 * closed too (libmicrohttpd's timeout counts inactivity only: a client trickling a byte
 * at a time would keep its slot).
 */
#define ADMIN_MAX_CONNECTIONS 256
#define ADMIN_MAX_PER_ADDRESS 16
#define ADMIN_TIMEOUT_S 5
#define ADMIN_REQUEST_S 5 /* a request must be read within this (portal/httpguard.h) */
/* 4096 tenants x 32 listeners of about 100 bytes each, with room to spare. */
#define METRICS_MAX_BYTES (64u << 20)
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"

struct admin {
	struct MHD_Daemon *daemon;
	struct httpguard *guard;
	char address[INET6_ADDRSTRLEN + 8]; /* "[v6]:65535" */
};

/* ---- HTTP ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
			       struct MHD_Response *r, const char *content_type)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status,
				    const char *text)
{
	return respond(c, status,
		       MHD_create_response_from_buffer(strlen(text), (void *)text,
						       MHD_RESPMEM_PERSISTENT),
		       CONTENT_TYPE_TEXT);
}

static int collect_cut(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, httpguard_cut(ctx), NULL);
}

static enum MHD_Result respond_metrics(struct admin *a, struct MHD_Connection *c)
{
	struct buf out = BUF_INIT(METRICS_MAX_BYTES);
	struct MHD_Response *r;
	int rc = metrics_render(&out);

	if (rc < 0) {
		log_warn("cannot render /metrics: %s", strerror(-rc));
		buf_release(&out);
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
	}
	if (!out.cap) /* nothing rendered: out.p is the shared empty string */
		return respond_text(c, MHD_HTTP_OK, "");
	/* The response takes the rendered bytes and frees them when sent. */
	r = MHD_create_response_from_buffer_with_free_callback(out.len, out.p, mem_free);
	if (!r)
		buf_release(&out);
	return respond(c, MHD_HTTP_OK, r, CONTENT_TYPE_METRICS);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct admin *a = cls;
	bool metrics = !strcmp(url, "/metrics"), health = !strcmp(url, "/healthz");

	httpguard_request_read(c);
	if (!metrics && !health)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (health)
		return respond_text(c, MHD_HTTP_OK, "ok\n");
	return respond_metrics(a, c);
}

/* Binds and listens on ss, so a bind error names the address and port 0 can be read back. */
static int listen_on(const struct sockaddr_storage *ss, unsigned sslen, const char *address,
		     struct err *e)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		return err_set(e, -errno, "admin %s: socket: %s", address, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 || listen(fd, 64) < 0) {
		int rc = err_set(e, -errno, "admin %s: cannot listen: %s", address,
				 strerror(errno));

		close(fd);
		return rc;
	}
	return fd;
}

/* Formats the address fd is bound to as "1.2.3.4:P" or "[v6]:P". */
static int format_bound(int fd, char out[IPADDR_ENDPOINT_STRLEN], struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return err_set(e, -errno, "admin: getsockname: %s", strerror(errno));
	return ipaddr_format_sockaddr((struct sockaddr *)&ss, out);
}

int admin_start(struct admin **ap, const char *address, struct err *e)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
	struct sockaddr_storage ss;
	struct admin *a;
	unsigned sslen;
	int fd, rc;

	*ap = NULL;
	rc = ipaddr_parse_endpoint(address, &ss, &sslen, e);
	if (rc < 0)
		return rc;
	a = mem_calloc(1, sizeof(*a));
	if (!a)
		return err_set(e, -ENOMEM, "admin: out of memory");
	fd = rc = listen_on(&ss, sslen, address, e);
	if (rc < 0)
		goto fail;
	rc = format_bound(fd, a->address, e);
	if (rc < 0) {
		close(fd);
		goto fail;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	rc = httpguard_new(&a->guard, ADMIN_REQUEST_S, e);
	if (rc == 0) {
		rc = metrics_register("koban_admin_requests_cut_total", METRICS_COUNTER,
				      "Admin connections closed because their request was not "
				      "complete within 5 s.", collect_cut, a->guard);
		if (rc < 0)
			rc = err_set(e, rc, "admin: cannot register its metric: %s", strerror(-rc));
	}
	if (rc < 0) {
		close(fd);
		goto fail;
	}
	/* From here libmicrohttpd owns fd and closes it when stopped. */
	a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, a,
				     MHD_OPTION_EXTERNAL_LOGGER, httpguard_mhd_log, a->guard,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADMIN_MAX_CONNECTIONS,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned)ADMIN_MAX_PER_ADDRESS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_TIMEOUT_S,
				     MHD_OPTION_NOTIFY_CONNECTION, httpguard_notify_connection,
				     a->guard,
				     MHD_OPTION_NOTIFY_COMPLETED, httpguard_notify_completed, a->guard,
				     MHD_OPTION_END);
	if (!a->daemon) {
		/*
		 * Whether libmicrohttpd closed fd on this path depends on its version; closing
		 * it again could close another thread's descriptor, so at worst one socket
		 * leaks on a start-up failure that stops koban anyway.
		 */
		rc = err_set(e, -EIO, "admin %s: cannot start the HTTP server", address);
		goto fail;
	}
	log_info("admin HTTP on %s (/metrics, /healthz)", a->address);
	*ap = a;
	return 0;
fail:
	if (a->guard)
		metrics_unregister(a->guard);
	httpguard_free(a->guard);
	mem_free(a);
	return rc;
}

const char *admin_address(const struct admin *a)
{
	return a->address;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	MHD_stop_daemon(a->daemon);
	metrics_unregister(a->guard);
	httpguard_free(a->guard); /* after the daemon, whose callbacks use it */
	mem_free(a);
}
