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
#include "core/fairq.h"
#include "core/log.h"
#include "core/mem.h"
#include "ingest/listener.h"

/*
 * Slow or idle clients must not lock out the scraper: any one address may hold at most
 * ADMIN_MAX_PER_ADDRESS connections, and a connection that sends nothing for
 * ADMIN_TIMEOUT_S is closed (libmicrohttpd's timeout counts inactivity, so a client that
 * trickles a byte at a time is bounded by the per-address limit, not by the timeout).
 */
#define ADMIN_MAX_CONNECTIONS 256
#define ADMIN_MAX_PER_ADDRESS 16
#define ADMIN_TIMEOUT_S 5
/* 4096 tenants x 32 listeners of about 100 bytes each, with room to spare. */
#define METRICS_MAX_BYTES (64u << 20)
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"

struct admin {
	struct MHD_Daemon *daemon;
	struct fairq *q;
	struct ingest *in;
	char address[INET6_ADDRSTRLEN + 8]; /* "[v6]:65535" */
};

/* ---- metrics text ---- */

/* A counter or gauge read from a struct by offset, so one loop renders every family. */
struct stat_metric {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
};

static const struct stat_metric tenant_metrics[] = {
	{ "koban_events_parsed_total", "counter",
	  "Messages of the tenant decoded into an event.",
	  offsetof(struct tenant_stats, parsed) },
	{ "koban_events_parse_failed_total", "counter",
	  "Messages of the tenant that could not be decoded; kept raw with the error noted.",
	  offsetof(struct tenant_stats, parse_failed) },
	{ "koban_events_truncated_total", "counter",
	  "Messages of the tenant longer than the maximum size, cut to it.",
	  offsetof(struct tenant_stats, truncated) },
	{ "koban_events_throttled_total", "counter",
	  "Times a TCP/TLS sender of the tenant was paused because its queue was full or "
	  "over its EPS limit.",
	  offsetof(struct tenant_stats, throttled) },
};

static const struct stat_metric listener_metrics[] = {
	{ "koban_listener_messages_total", "counter", "Messages framed by the listener.",
	  offsetof(struct listener_stats, messages) },
	{ "koban_listener_bytes_total", "counter", "Bytes of messages framed by the listener.",
	  offsetof(struct listener_stats, bytes) },
	{ "koban_listener_truncated_total", "counter",
	  "Messages longer than the maximum size, cut to it.",
	  offsetof(struct listener_stats, truncated) },
	{ "koban_listener_connections_total", "counter", "Connections accepted.",
	  offsetof(struct listener_stats, connections) },
	{ "koban_listener_active_connections", "gauge", "Connections open now.",
	  offsetof(struct listener_stats, active) },
	{ "koban_listener_framing_errors_total", "counter",
	  "Connections closed for a malformed octet-counted frame.",
	  offsetof(struct listener_stats, framing_errors) },
	{ "koban_listener_tls_failures_total", "counter", "Failed TLS handshakes.",
	  offsetof(struct listener_stats, tls_failures) },
};

static const struct stat_metric udp_overflow_metric = {
	"koban_udp_receive_overflow_total", "counter",
	"Datagrams the kernel dropped because the socket receive buffer was full "
	"(SO_RXQ_OVFL).", offsetof(struct listener_stats, udp_overflow)
};

static const char *const drop_reason_names[] = {
	[DROP_QUEUE_FULL] = "queue_full",
	[DROP_RATE_LIMIT] = "rate_limit",
	[DROP_NO_MEMORY] = "no_memory",
	[DROP_SHUTDOWN] = "shutdown",
};
_Static_assert(ARRAY_SIZE(drop_reason_names) == DROP_REASON_COUNT,
	       "a drop reason has no metric label");

static uint64_t load_at(const void *base, size_t offset)
{
	const atomic_uint_fast64_t *p = (const atomic_uint_fast64_t *)((const char *)base + offset);

	return atomic_load_explicit(p, memory_order_relaxed);
}

static int add_family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends a label value escaped as the text format requires: \\, \" and \n. */
static int add_label_value(struct buf *out, const char *v)
{
	int rc = 0;

	for (; *v && !rc; v++) {
		switch (*v) {
		case '\\': rc = buf_add(out, "\\\\", 2); break;
		case '"': rc = buf_add(out, "\\\"", 2); break;
		case '\n': rc = buf_add(out, "\\n", 2); break;
		default: rc = buf_addch(out, *v); break;
		}
	}
	return rc;
}

/* Appends `{k1="v1",k2="v2"} value\n`; k2 may be NULL. */
static int add_sample(struct buf *out, const char *name, const char *k1, const char *v1,
		      const char *k2, const char *v2, uint64_t value)
{
	int rc = buf_addf(out, "%s{%s=\"", name, k1);

	if (!rc)
		rc = add_label_value(out, v1);
	if (!rc && k2) {
		rc = buf_addf(out, "\",%s=\"", k2);
		if (!rc)
			rc = add_label_value(out, v2);
	}
	if (!rc)
		rc = buf_addf(out, "\"} %llu\n", (unsigned long long)value);
	return rc;
}

static const char *listener_label(struct ingest *in, size_t i, char num[24])
{
	const char *name = in ? ingest_listener_name(in, i) : NULL;

	if (name)
		return name;
	snprintf(num, 24, "%zu", i);
	return num;
}

/*
 * Received by tenant and listener. With the listeners known every pair is a series (zeros
 * included, so rates start at once); without them (tests) only the non-zero indices.
 */
static int render_received(struct buf *out, struct fairq *q, struct ingest *in)
{
	size_t listeners = in ? MIN(ingest_listener_count(in), (size_t)FAIRQ_MAX_LISTENERS)
			      : FAIRQ_MAX_LISTENERS;
	unsigned slots = fairq_slot_count(q);
	char num[24];
	int rc;

	rc = add_family(out, "koban_events_received_total", "counter",
			"Messages received for the tenant, by listener.");
	for (unsigned s = 0; s < slots && !rc; s++) {
		struct tenant_stats *st = fairq_stats(q, s);

		for (size_t i = 0; i < listeners && !rc; i++) {
			uint64_t v = atomic_load_explicit(&st->received[i], memory_order_relaxed);

			if (in || v)
				rc = add_sample(out, "koban_events_received_total", "tenant",
						fairq_slot_name(q, s), "listener",
						listener_label(in, i, num), v);
		}
	}
	return rc;
}

static int render_tenants(struct buf *out, struct fairq *q)
{
	unsigned slots = fairq_slot_count(q);
	int rc = 0;

	for (size_t m = 0; m < ARRAY_SIZE(tenant_metrics) && !rc; m++) {
		const struct stat_metric *sm = &tenant_metrics[m];

		rc = add_family(out, sm->name, sm->type, sm->help);
		for (unsigned s = 0; s < slots && !rc; s++)
			rc = add_sample(out, sm->name, "tenant", fairq_slot_name(q, s), NULL, NULL,
					load_at(fairq_stats(q, s), sm->offset));
	}
	if (!rc)
		rc = add_family(out, "koban_events_dropped_total", "counter",
				"Messages of the tenant dropped, by reason.");
	for (unsigned s = 0; s < slots && !rc; s++)
		for (size_t r = 0; r < DROP_REASON_COUNT && !rc; r++)
			rc = add_sample(out, "koban_events_dropped_total", "tenant",
					fairq_slot_name(q, s), "reason", drop_reason_names[r],
					atomic_load_explicit(&fairq_stats(q, s)->dropped[r],
							     memory_order_relaxed));
	if (!rc)
		rc = add_family(out, "koban_queue_depth", "gauge",
				"Messages waiting in the tenant's queue.");
	for (unsigned s = 0; s < slots && !rc; s++)
		rc = add_sample(out, "koban_queue_depth", "tenant", fairq_slot_name(q, s), NULL,
				NULL, fairq_depth(q, s));
	return rc;
}

static int render_listener_family(struct buf *out, struct ingest *in,
				   const struct stat_metric *sm, bool udp_only)
{
	size_t n = ingest_listener_count(in);
	int rc = add_family(out, sm->name, sm->type, sm->help);
	char num[24];

	for (size_t i = 0; i < n && !rc; i++) {
		enum listener_proto p = ingest_listener_proto(in, i);

		if (udp_only && p != LISTENER_UDP)
			continue;
		rc = add_sample(out, sm->name, "listener", listener_label(in, i, num), "protocol",
				config_proto_name(p), load_at(ingest_listener_stats(in, i), sm->offset));
	}
	return rc;
}

static int render_listeners(struct buf *out, struct ingest *in)
{
	int rc = 0;

	for (size_t m = 0; m < ARRAY_SIZE(listener_metrics) && !rc; m++)
		rc = render_listener_family(out, in, &listener_metrics[m], false);
	if (!rc)
		rc = render_listener_family(out, in, &udp_overflow_metric, true);
	return rc;
}

int admin_metrics_render(struct buf *out, struct fairq *q, struct ingest *in)
{
	int rc = render_received(out, q, in);

	if (!rc)
		rc = render_tenants(out, q);
	if (!rc && in)
		rc = render_listeners(out, in);
	return rc;
}

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

static enum MHD_Result respond_metrics(struct admin *a, struct MHD_Connection *c)
{
	struct buf out = BUF_INIT(METRICS_MAX_BYTES);
	struct MHD_Response *r;
	int rc = admin_metrics_render(&out, a->q, a->in);

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

	if (!metrics && !health)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (health)
		return respond_text(c, MHD_HTTP_OK, "ok\n");
	return respond_metrics(a, c);
}

/* Refused and timed-out clients make libmicrohttpd log per connection: keep it bounded. */
static struct log_limit mhd_log_limit = LOG_LIMIT_INIT(10);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_limited(&mhd_log_limit, LOG_LEVEL_WARN, "%s", line);
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
static int format_bound(int fd, char *out, size_t size, struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	const void *addr;
	unsigned port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return err_set(e, -errno, "admin: getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6) {
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	inet_ntop(ss.ss_family, addr, host, sizeof(host));
	snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	return 0;
}

int admin_start(struct admin **ap, const char *address, struct fairq *q, struct ingest *in,
		struct err *e)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
	struct sockaddr_storage ss;
	struct admin *a;
	unsigned sslen;
	int fd, rc;

	*ap = NULL;
	rc = config_parse_address(address, &ss, &sslen, e);
	if (rc < 0)
		return rc;
	a = mem_calloc(1, sizeof(*a));
	if (!a)
		return err_set(e, -ENOMEM, "admin: out of memory");
	a->q = q;
	a->in = in;
	fd = rc = listen_on(&ss, sslen, address, e);
	if (rc < 0)
		goto fail;
	rc = format_bound(fd, a->address, sizeof(a->address), e);
	if (rc < 0) {
		close(fd);
		goto fail;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* From here libmicrohttpd owns fd and closes it when stopped. */
	a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, a,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADMIN_MAX_CONNECTIONS,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned)ADMIN_MAX_PER_ADDRESS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_TIMEOUT_S,
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
	mem_free(a);
}
