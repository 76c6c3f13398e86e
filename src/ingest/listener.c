#define LOG_MODULE "ingest" /* before listener.h, which pulls in core/log.h */
#include "ingest/listener.h"
#include "core/compat.h"

#include "core/err.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "enrich/route.h"
#include "ingest/framing.h"
#include "ingest/tcp.h"
#include "ingest/tls.h"
#include "ingest/udp.h"

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define ADDRESS_MAX (IPADDR_STRLEN + 8) /* "[" ADDR "]:" PORT */

struct listener {
	char *name;
	enum listener_proto proto;
	char address[ADDRESS_MAX];
	int fd;
	struct listener_stats stats;
	struct udp_thread *udp;
};

struct ingest {
	struct fairq *q;
	struct router *r;
	struct listener l[CONFIG_MAX_LISTENERS];
	size_t n;
	struct ssl_ctx_st *tls;
	struct tcp_loop *tcp;
	int stop_fd; /* eventfd: written once by ingest_stop, never read, seen by every thread */
	bool stopped;
	struct framer_budget frame_memory; /* partial frames of every stream connection */
};

#define COUNT(counter, k) atomic_fetch_add_explicit(&(counter), (k), memory_order_relaxed)

/* ---- the delivery path shared by the receiving threads ---- */

struct msg *ingest_msg_new(struct ingest *in, unsigned listener, const struct ipaddr *peer,
			   uint16_t port, int64_t now_ns, const char *data, size_t len,
			   int truncated)
{
	struct listener_stats *ls = &in->l[listener].stats;
	struct tenant_stats *ts;
	struct route rt;
	struct msg *m;

	router_route(in->r, listener, peer, data, len, &rt);
	ts = fairq_stats(in->q, rt.tenant);
	COUNT(ls->messages, 1);
	COUNT(ls->bytes, len);
	COUNT(ts->received[listener], 1);
	if (truncated) {
		COUNT(ls->truncated, 1);
		COUNT(ts->truncated, 1);
	}
	m = msg_new_pooled(data, (uint32_t)len, rt.tenant);
	if (!m) {
		COUNT(ts->dropped[DROP_NO_MEMORY], 1);
		return NULL;
	}
	m->received_ns = now_ns;
	m->peer = *peer;
	m->peer_port = port;
	m->listener = (uint8_t)listener;
	m->format = rt.format;
	m->truncated = truncated ? 1 : 0;
	m->tenant = rt.tenant;
	m->tz = rt.tz;
	m->source = rt.source;
	return m;
}

size_t ingest_push(struct ingest *in, struct msg **m, size_t n, int *why)
{
	size_t done = 0;

	*why = FAIRQ_OK;
	while (done < n) {
		size_t run = 1, taken = 0;
		int rc;

		while (done + run < n && m[done + run]->tenant == m[done]->tenant)
			run++;
		rc = fairq_push(in->q, m[done]->tenant, m + done, run, &taken);
		done += taken;
		if (rc != FAIRQ_OK) {
			*why = rc;
			break;
		}
	}
	return done;
}

void ingest_drop(struct ingest *in, struct msg **m, size_t n, enum drop_reason reason)
{
	for (size_t i = 0; i < n; i++) {
		COUNT(fairq_stats(in->q, m[i]->tenant)->dropped[reason], 1);
		msg_free(m[i]);
	}
}

void ingest_throttled(struct ingest *in, const struct msg *first_waiting)
{
	COUNT(fairq_stats(in->q, first_waiting->tenant)->throttled, 1);
}

enum drop_reason ingest_drop_reason(int why)
{
	switch (why) {
	case FAIRQ_FULL:
		return DROP_QUEUE_FULL;
	case FAIRQ_RATE_LIMITED:
		return DROP_RATE_LIMIT;
	case FAIRQ_OUTPUT_BLOCKED:
		return DROP_OUTPUT_ERROR;
	default:
		return DROP_SHUTDOWN;
	}
}

/* ---- close reasons and the stream families (registered with the others below) ---- */

static const char *const refuse_names[REFUSE_MAX] = {
	[REFUSE_MAX_CONNECTIONS] = "max_connections",
	[REFUSE_LISTENER_FULL] = "listener_full",
	[REFUSE_PER_ADDRESS] = "per_address",
	[REFUSE_NO_MEMORY] = "no_memory",
	[REFUSE_EPOLL] = "epoll_error",
};

static const char *const evict_names[EVICT_MAX] = {
	[EVICT_IDLE_TIMEOUT] = "idle_timeout",
	[EVICT_HANDSHAKE_TIMEOUT] = "handshake_timeout",
	[EVICT_FRAME_TIMEOUT] = "frame_timeout",
	[EVICT_FOR_NEW] = "oldest_idle",
	[EVICT_MEMORY] = "frame_memory",
	[EVICT_EPOLL] = "epoll_error",
};

const char *conn_refuse_name(enum conn_refuse r)
{
	return (unsigned)r < REFUSE_MAX ? refuse_names[r] : "unknown";
}

const char *conn_evict_name(enum conn_evict r)
{
	return (unsigned)r < EVICT_MAX ? evict_names[r] : "unknown";
}

static uint64_t load(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static int collect_refused(struct metrics_out *o, void *ctx)
{
	struct ingest *in = ctx;
	int rc = 0;

	for (size_t i = 0; i < in->n && !rc; i++)
		for (unsigned r = 0; r < REFUSE_MAX && !rc && in->l[i].proto != LISTENER_UDP; r++)
			rc = metrics_sample(o, load(&in->l[i].stats.refused[r]), "listener",
					    in->l[i].name, "reason", refuse_names[r], NULL);
	return rc;
}

static int collect_evicted(struct metrics_out *o, void *ctx)
{
	struct ingest *in = ctx;
	int rc = 0;

	for (size_t i = 0; i < in->n && !rc; i++)
		for (unsigned r = 0; r < EVICT_MAX && !rc && in->l[i].proto != LISTENER_UDP; r++)
			rc = metrics_sample(o, load(&in->l[i].stats.evicted[r]), "listener",
					    in->l[i].name, "reason", evict_names[r], NULL);
	return rc;
}

static int collect_cut(struct metrics_out *o, void *ctx)
{
	struct ingest *in = ctx;
	int rc = 0;

	for (size_t i = 0; i < in->n && !rc; i++)
		if (in->l[i].proto != LISTENER_UDP)
			rc = metrics_sample(o, load(&in->l[i].stats.frames_cut), "listener",
					    in->l[i].name, NULL);
	return rc;
}

static int collect_empty(struct metrics_out *o, void *ctx)
{
	struct ingest *in = ctx;
	int rc = 0;

	for (size_t i = 0; i < in->n && !rc; i++)
		if (in->l[i].proto == LISTENER_UDP)
			rc = metrics_sample(o, load(&in->l[i].stats.udp_empty), "listener",
					    in->l[i].name, NULL);
	return rc;
}

static int collect_frame_memory(struct metrics_out *o, void *ctx)
{
	struct ingest *in = ctx;

	return metrics_sample(o, atomic_load(&in->frame_memory.used), NULL);
}

struct framer_budget *ingest_frame_budget(struct ingest *in)
{
	return &in->frame_memory;
}

/* ---- start and stop ---- */

static void set_option(int fd, int level, int name, int value, const char *what,
		       const struct listener *l)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) < 0)
		log_warn("listener %s: cannot set %s: %s", l->name, what, strerror(errno));
}

/* Writes the bound address ("127.0.0.1:40123", "[::1]:40123") into l->address. */
static int format_bound_address(struct listener *l, struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return err_set(e, -errno, "listener %s: cannot read the bound address: %s",
			       l->name, strerror(errno));
	if (ipaddr_format_sockaddr((struct sockaddr *)&ss, l->address) < 0)
		return err_set(e, -EINVAL, "listener %s: bound to an unknown address family",
			       l->name);
	return 0;
}

/*
 * SO_RCVBUF is capped by net.core.rmem_max (about 200 KiB by default), far below what a
 * UDP burst needs; as root SO_RCVBUFFORCE gives the configured size regardless.
 */
static void set_rcvbuf(struct listener *l, int bytes)
{
	int got = 0;
	socklen_t len = sizeof(got);

	if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		set_option(l->fd, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF", l);
	if (getsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 && got / 2 < bytes)
		log_warn("%s: receive buffer is %d bytes, not %d (raise net.core.rmem_max or "
			 "run as root)", l->name, got / 2, bytes);
}

static int bind_listener(struct listener *l, const struct config_listener *cl,
			 const struct config *c, struct err *e)
{
	struct err why = ERR_INIT;
	struct sockaddr_storage ss;
	unsigned sl;
	bool udp = cl->proto == LISTENER_UDP;
	int rc;

	l->proto = cl->proto;
	l->name = mem_strdup(cl->name ? cl->name : "");
	if (!l->name)
		return err_set(e, -ENOMEM, "listener: out of memory");
	rc = ipaddr_parse_endpoint(cl->address, &ss, &sl, &why);
	if (rc < 0)
		return err_set(e, rc, "listener %s: %s", l->name, why.msg);
	l->fd = socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0);
	if (l->fd < 0)
		return err_set(e, -errno, "listener %s: cannot create a socket for %s: %s",
			       l->name, cl->address, strerror(errno));
	if (ss.ss_family == AF_INET6)
		set_option(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", l);
	if (udp) {
		if (c->udp_rcvbuf > 0)
			set_rcvbuf(l, c->udp_rcvbuf);
		set_option(l->fd, SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL", l);
	} else {
		set_option(l->fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", l);
	}
	if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0)
		return err_set(e, -errno, "listener %s: cannot bind %s %s: %s", l->name,
			       config_proto_name(cl->proto), cl->address, strerror(errno));
	if (!udp && listen(l->fd, LISTEN_BACKLOG) < 0)
		return err_set(e, -errno, "listener %s: cannot listen on %s: %s", l->name,
			       cl->address, strerror(errno));
	return format_bound_address(l, e);
}

static int start_threads(struct ingest *in, const struct config *c, struct err *e)
{
	struct tcp_listen streams[CONFIG_MAX_LISTENERS];
	size_t n_streams = 0;
	int rc;

	for (size_t i = 0; i < in->n; i++) {
		struct listener *l = &in->l[i];

		if (l->proto == LISTENER_RELP || l->proto == LISTENER_RELP_TLS)
			continue; /* ingest/relp.h serves them, started by the caller */
		if (l->proto != LISTENER_UDP) {
			streams[n_streams++] = (struct tcp_listen){ l->fd, (unsigned)i,
								    l->proto == LISTENER_TLS };
			continue;
		}
		rc = udp_start(&l->udp, in, (unsigned)i, l->fd, in->stop_fd, c->max_message_size,
			       &l->stats, e);
		if (rc < 0)
			return rc;
	}
	if (n_streams == 0)
		return 0;
	return tcp_start(&in->tcp, in, c, streams, n_streams, in->tls, in->stop_fd, e);
}

static bool has_proto(const struct config *c, enum listener_proto p)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].proto == p)
			return true;
	return false;
}

int ingest_start(struct ingest **out, const struct config *c, struct fairq *q, struct router *r,
		 struct err *e)
{
	struct ingest *in;
	int rc;

	*out = NULL;
	if (c->n_listeners > FAIRQ_MAX_LISTENERS || c->n_listeners > CONFIG_MAX_LISTENERS)
		return err_set(e, -EINVAL, "listeners: at most %d are supported",
			       FAIRQ_MAX_LISTENERS);
	if (c->max_message_size == 0 || c->max_message_size > UINT32_MAX / 2)
		return err_set(e, -EINVAL, "max_message_size: %zu is out of range",
			       c->max_message_size);
	in = mem_calloc(1, sizeof(*in));
	if (!in)
		return err_set(e, -ENOMEM, "listeners: out of memory");
	in->q = q;
	in->r = r;
	in->stop_fd = -1;
	atomic_init(&in->frame_memory.used, 0);
	in->frame_memory.max = c->tcp_frame_memory;
	for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++)
		in->l[i].fd = -1;
	for (; in->n < c->n_listeners; in->n++) {
		rc = bind_listener(&in->l[in->n], &c->listeners[in->n], c, e);
		if (rc < 0) {
			in->n++;
			goto fail;
		}
	}
	if (has_proto(c, LISTENER_TLS)) {
		rc = tls_server_new(&in->tls, c, e);
		if (rc < 0)
			goto fail;
	}
	in->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->stop_fd < 0) {
		rc = err_set(e, -errno, "listeners: eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = start_threads(in, c, e);
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < in->n; i++)
		log_info("listening: %s %s on %s", in->l[i].name, config_proto_name(in->l[i].proto),
			 in->l[i].address);
	*out = in;
	return 0;
fail:
	ingest_free(in);
	return rc;
}

void ingest_stop(struct ingest *in)
{
	uint64_t one = 1;

	if (!in || in->stopped)
		return;
	in->stopped = true;
	if (in->stop_fd >= 0 && write(in->stop_fd, &one, sizeof(one)) < 0)
		log_error("cannot signal the listener threads: %s", strerror(errno));
	for (size_t i = 0; i < in->n; i++)
		udp_join(in->l[i].udp);
	tcp_join(in->tcp);
	for (size_t i = 0; i < in->n; i++) {
		if (in->l[i].fd >= 0)
			close(in->l[i].fd);
		in->l[i].fd = -1;
	}
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	metrics_unregister(in);
	ingest_stop(in);
	for (size_t i = 0; i < in->n; i++)
		mem_free(in->l[i].name);
	tls_server_free(in->tls);
	if (in->stop_fd >= 0)
		close(in->stop_fd);
	mem_free(in);
}

/* ---- read-only accessors ---- */

size_t ingest_listener_count(const struct ingest *in)
{
	return in->n;
}

const char *ingest_listener_name(const struct ingest *in, size_t i)
{
	return in->l[i].name;
}

enum listener_proto ingest_listener_proto(const struct ingest *in, size_t i)
{
	return in->l[i].proto;
}

const char *ingest_listener_address(const struct ingest *in, size_t i)
{
	return in->l[i].address;
}

struct listener_stats *ingest_listener_stats(struct ingest *in, size_t i)
{
	return &in->l[i].stats;
}

int ingest_listener_fd(const struct ingest *in, size_t i)
{
	return in->l[i].fd;
}

/* ---- metrics ---- */

static int collect_received(struct metrics_out *o, void *ctx)
{
	struct ingest *in = ctx;
	size_t listeners = MIN(in->n, (size_t)FAIRQ_MAX_LISTENERS);
	unsigned slots = fairq_slot_count(in->q);
	int rc = 0;

	for (unsigned s = 0; s < slots && !rc; s++) {
		struct tenant_stats *st = fairq_stats(in->q, s);

		for (size_t i = 0; i < listeners && !rc && fairq_slot_in_use(in->q, s); i++)
			rc = metrics_sample(o, atomic_load_explicit(&st->received[i],
								    memory_order_relaxed),
					    "tenant", fairq_slot_name(in->q, s), "listener",
					    in->l[i].name, NULL);
	}
	return rc;
}

/* One sample per listener (UDP ones only when udp_only) of the counter at offset. */
static int collect_listener_counter(struct metrics_out *o, struct ingest *in, size_t offset,
				    bool udp_only)
{
	int rc = 0;

	for (size_t i = 0; i < in->n && !rc; i++) {
		const atomic_uint_fast64_t *c =
			(const atomic_uint_fast64_t *)((const char *)&in->l[i].stats + offset);

		if (udp_only && in->l[i].proto != LISTENER_UDP)
			continue;
		rc = metrics_sample(o, atomic_load_explicit(c, memory_order_relaxed), "listener",
				    in->l[i].name, "protocol", config_proto_name(in->l[i].proto),
				    NULL);
	}
	return rc;
}

#define LISTENER_COLLECTOR(field, udp_only)                                               \
	static int collect_##field(struct metrics_out *o, void *in)                        \
	{                                                                                  \
		return collect_listener_counter(o, in, offsetof(struct listener_stats, field), \
						udp_only);                                 \
	}
LISTENER_COLLECTOR(messages, false)
LISTENER_COLLECTOR(bytes, false)
LISTENER_COLLECTOR(truncated, false)
LISTENER_COLLECTOR(connections, false)
LISTENER_COLLECTOR(active, false)
LISTENER_COLLECTOR(framing_errors, false)
LISTENER_COLLECTOR(tls_failures, false)
LISTENER_COLLECTOR(udp_overflow, true)

static const struct {
	const char *name;
	enum metrics_type type;
	const char *help;
	metrics_collect_fn *collect;
} ingest_families[] = {
	{ "koban_events_received_total", METRICS_COUNTER,
	  "Messages received for the tenant, by listener.", collect_received },
	{ "koban_listener_messages_total", METRICS_COUNTER, "Messages framed by the listener.",
	  collect_messages },
	{ "koban_listener_bytes_total", METRICS_COUNTER,
	  "Bytes of messages framed by the listener.", collect_bytes },
	{ "koban_listener_truncated_total", METRICS_COUNTER,
	  "Messages longer than the maximum size, cut to it.", collect_truncated },
	{ "koban_listener_connections_total", METRICS_COUNTER, "Connections accepted.",
	  collect_connections },
	{ "koban_listener_active_connections", METRICS_GAUGE, "Connections open now.",
	  collect_active },
	{ "koban_listener_framing_errors_total", METRICS_COUNTER,
	  "Connections closed for a malformed octet-counted frame.", collect_framing_errors },
	{ "koban_listener_tls_failures_total", METRICS_COUNTER, "Failed TLS handshakes.",
	  collect_tls_failures },
	{ "koban_udp_receive_overflow_total", METRICS_COUNTER,
	  "Datagrams the kernel dropped because the socket receive buffer was full "
	  "(SO_RXQ_OVFL).", collect_udp_overflow },
	{ "koban_connections_refused_total", METRICS_COUNTER,
	  "TCP/TLS connections closed right after accept, by reason.", collect_refused },
	{ "koban_connections_evicted_total", METRICS_COUNTER,
	  "Open TCP/TLS connections closed by koban, by reason.", collect_evicted },
	{ "koban_listener_frames_cut_total", METRICS_COUNTER,
	  "Unfinished messages lost when their TCP/TLS connection closed.", collect_cut },
	{ "koban_udp_empty_datagrams_total", METRICS_COUNTER,
	  "UDP datagrams with no message in them (empty or only line ends), ignored.",
	  collect_empty },
	{ "koban_stream_frame_memory_bytes", METRICS_GAUGE,
	  "Bytes held for unfinished TCP/TLS messages over all connections "
	  "(at most syslog.tcp_frame_memory).", collect_frame_memory },
};

int ingest_metrics_register(struct ingest *in)
{
	for (size_t i = 0; i < ARRAY_SIZE(ingest_families); i++) {
		int rc = metrics_register(ingest_families[i].name, ingest_families[i].type,
					  ingest_families[i].help, ingest_families[i].collect, in);

		if (rc < 0) {
			if (i) /* roll back this call's families, not an earlier call's */
				metrics_unregister(in);
			return rc;
		}
	}
	return 0;
}
