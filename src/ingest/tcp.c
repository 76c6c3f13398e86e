#include "ingest/tcp.h"
#include "core/compat.h"

#define LOG_MODULE "tcp"
#include "core/config.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "ingest/framing.h"
#include "ingest/listener.h"
#include "ingest/tls.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define READS_PER_TURN 8  /* chunks read from one connection before the others get a turn */
#define RETRY_MS 5        /* how soon a paused connection tries the queue again */
#define MAX_EVENTS 64
#define PENDING_MAX 1024  /* framed messages a connection holds while its tenant's queue waits */
#define LIMIT_LOG_NS (10 * NS_PER_SEC)
#define HANDSHAKE_NS (10 * NS_PER_SEC) /* a TLS handshake must finish within this */
#define ACCEPT_PAUSE_NS (100 * 1000000) /* no accepting this long after EMFILE and friends */

enum tag { TAG_STOP, TAG_LISTEN, TAG_CONN };

struct stream_sock {
	enum tag tag; /* first: epoll data points here */
	struct tcp_listen l;
};

struct conn {
	enum tag tag; /* first: epoll data points here */
	struct conn *prev, *next;
	int fd;
	unsigned listener;
	struct ssl_st *ssl;   /* NULL for plain TCP */
	bool handshaking;
	bool registered;      /* in the epoll set */
	uint32_t events;      /* interest while registered */
	bool paused;          /* the queue refused pending: not reading */
	bool closing;         /* end of input: close once pending is pushed */
	bool again;           /* more input may be buffered: read again soon */
	struct ipaddr peer;
	uint16_t port;
	int64_t last_active;  /* monotonic ns */
	struct framer framer;
	struct msg **pending; /* framed, not yet taken by the queue: pending[off..n) */
	size_t off, n, cap;
	char *rest;           /* read but not yet framed (queue refused): rest[rest_off..+len) */
	size_t rest_off, rest_len;
};

struct tcp_loop {
	struct ingest *in;
	struct ssl_ctx_st *tls;
	int epfd, stop_fd;
	enum tag stop_tag;
	size_t max_message;
	unsigned max_conns;
	int64_t idle_ns;      /* 0 = no idle timeout */
	struct stream_sock socks[CONFIG_MAX_LISTENERS];
	size_t n_socks;
	struct conn *conns;   /* every open connection */
	unsigned n_conns, n_paused, n_again;
	int64_t last_idle_scan, last_limit_log;
	int64_t accept_resume; /* monotonic ns; listening sockets unwatched until then, 0 = no */
	char *buf;
	pthread_t thread;
};

#define COUNT(counter, k) atomic_fetch_add_explicit(&(counter), (k), memory_order_relaxed)

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static struct listener_stats *conn_stats(struct tcp_loop *t, const struct conn *c)
{
	return ingest_listener_stats(t->in, c->listener);
}

static const char *peer_text(const struct conn *c, char out[IPADDR_ENDPOINT_STRLEN])
{
	ipaddr_format_endpoint(&c->peer, c->port, out);
	return out;
}

/* ---- epoll interest ---- */

static void set_interest(struct tcp_loop *t, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	int op = c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (c->registered && c->events == events)
		return;
	if (epoll_ctl(t->epfd, op, c->fd, &ev) < 0) {
		log_error("epoll_ctl: %s", strerror(errno));
		return;
	}
	c->registered = true;
	c->events = events;
}

static void unregister(struct tcp_loop *t, struct conn *c)
{
	if (c->registered && epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
		log_error("epoll_ctl: %s", strerror(errno));
	c->registered = false;
}

/* ---- connections ---- */

static void close_conn(struct tcp_loop *t, struct conn *c)
{
	unregister(t, c);
	if (c->pending)
		ingest_drop(t->in, c->pending + c->off, c->n - c->off, DROP_SHUTDOWN);
	mem_free(c->pending);
	mem_free(c->rest);
	framer_release(&c->framer);
	tls_conn_free(c->ssl);
	close(c->fd);
	if (c->paused)
		t->n_paused--;
	if (c->again)
		t->n_again--;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->n_conns--;
	atomic_fetch_sub_explicit(&conn_stats(t, c)->active, 1, memory_order_relaxed);
	mem_free(c);
}

static int pending_add(struct conn *c, struct msg *m)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct msg **p = mem_realloc(c->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->pending = p;
		c->cap = cap;
	}
	c->pending[c->n++] = m;
	return 0;
}

/* Pushes pending messages; true when none is left. */
static bool flush(struct tcp_loop *t, struct conn *c)
{
	int why;

	c->off += ingest_push(t->in, c->pending + c->off, c->n - c->off, &why);
	if (c->off < c->n && why == FAIRQ_CLOSED) {
		ingest_drop(t->in, c->pending + c->off, c->n - c->off, DROP_SHUTDOWN);
		c->off = c->n;
	}
	if (c->off < c->n)
		return false;
	c->off = c->n = 0;
	return true;
}

/* The queue refused: stop reading this sender until its messages are taken. */
static void pause_conn(struct tcp_loop *t, struct conn *c)
{
	if (c->paused)
		return;
	c->paused = true;
	t->n_paused++;
	ingest_throttled(t->in, c->pending[c->off]);
	unregister(t, c);
}

static void mark_again(struct tcp_loop *t, struct conn *c, bool again)
{
	if (c->again == again)
		return;
	c->again = again;
	if (again)
		t->n_again++;
	else
		t->n_again--;
}

static void add_frame(struct tcp_loop *t, struct conn *c, const struct frame *fr, int64_t now)
{
	struct msg *m = ingest_msg_new(t->in, c->listener, &c->peer, c->port, now, fr->data,
				       fr->len, fr->truncated);

	if (m && pending_add(c, m) < 0)
		ingest_drop(t->in, &m, 1, DROP_NO_MEMORY);
}

/* Keeps p[0..n) unframed for later; 1 (paused), or -ENOMEM. */
static int keep_rest(struct conn *c, const char *p, size_t n)
{
	if (!c->rest && !(c->rest = mem_alloc(READ_CHUNK)))
		return -ENOMEM;
	/* p may lie in c->rest itself (the kept rest was being framed): memmove serves both,
	 * without comparing p with a pointer into another object */
	memmove(c->rest, p, n);
	c->rest_off = 0;
	c->rest_len = n;
	return 1;
}

/*
 * Frames p[0..n) into pending. When PENDING_MAX messages wait and the queue still
 * refuses them, the unframed remainder is kept in c->rest instead, so a paused sender
 * holds at most one read chunk of bytes and PENDING_MAX messages, however small its
 * messages are. Returns 0 (all framed), 1 (paused with a remainder kept) or an error.
 */
static int frame_chunk(struct tcp_loop *t, struct conn *c, const char *p, size_t n)
{
	int64_t now = time_now_ns();
	struct frame fr;
	int rc;

	while ((rc = framer_next(&c->framer, &p, &n, &fr)) > 0) {
		add_frame(t, c, &fr, now);
		if (c->n - c->off >= PENDING_MAX && !flush(t, c))
			return keep_rest(c, p, n);
	}
	return rc;
}

static void framing_failed(struct tcp_loop *t, struct conn *c, int rc)
{
	char peer[IPADDR_STRLEN + 8];

	if (rc == -EPROTO) {
		COUNT(conn_stats(t, c)->framing_errors, 1);
		log_warn("%s: %s from %s, closing the connection",
			 ingest_listener_name(t->in, c->listener), framer_error(&c->framer),
			 peer_text(c, peer));
	} else {
		log_error("%s: out of memory framing %s, closing the connection",
			  ingest_listener_name(t->in, c->listener), peer_text(c, peer));
	}
}

static ssize_t conn_read(struct tcp_loop *t, struct conn *c)
{
	ssize_t r;

	if (c->ssl)
		return tls_conn_read(c->ssl, t->buf, READ_CHUNK);
	do
		r = read(c->fd, t->buf, READ_CHUNK);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == 0)
		return TLS_IO_EOF;
	return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_IO_WANT_READ : TLS_IO_ERROR;
}

/* Input ended (peer closed, error or bad framing): push what is framed, then close. */
static void end_input(struct tcp_loop *t, struct conn *c)
{
	c->closing = true;
	mark_again(t, c, false);
	if (flush(t, c))
		close_conn(t, c);
	else
		pause_conn(t, c);
}

/* Frames what was kept from before a pause; false when the connection paused or ended. */
/*
 * Frames p[0..n) and pushes the result; false when the connection cannot go on reading
 * now: its framing failed (input ends) or the queue refused (it pauses).
 */
static bool take_input(struct tcp_loop *t, struct conn *c, const char *p, size_t n)
{
	int rc = frame_chunk(t, c, p, n);

	if (rc < 0) {
		framing_failed(t, c, rc);
		end_input(t, c);
		return false;
	}
	if (rc == 1 || !flush(t, c)) {
		mark_again(t, c, false);
		pause_conn(t, c);
		return false;
	}
	return true;
}

/* Frames what was kept from before a pause; false when the connection paused or ended. */
static bool frame_rest(struct tcp_loop *t, struct conn *c)
{
	size_t n = c->rest_len;

	if (!n)
		return true;
	c->rest_len = 0; /* keep_rest sets it again if the queue still refuses */
	return take_input(t, c, c->rest + c->rest_off, n);
}

static void conn_input(struct tcp_loop *t, struct conn *c)
{
	if (!frame_rest(t, c))
		return;
	for (int turn = 0; turn < READS_PER_TURN; turn++) {
		ssize_t r = conn_read(t, c);
		struct frame fr;

		if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) {
			set_interest(t, c, r == TLS_IO_WANT_READ ? EPOLLIN | EPOLLRDHUP : EPOLLOUT);
			mark_again(t, c, false);
			return;
		}
		if (r == TLS_IO_EOF || r == TLS_IO_ERROR) {
			if (r == TLS_IO_EOF && framer_finish(&c->framer, &fr) > 0)
				add_frame(t, c, &fr, time_now_ns());
			end_input(t, c);
			return;
		}
		c->last_active = mono_ns();
		if (!take_input(t, c, t->buf, (size_t)r))
			return;
	}
	mark_again(t, c, true); /* a busy sender: let the others have a turn first */
}

static void conn_handshake(struct tcp_loop *t, struct conn *c)
{
	char why[256], peer[IPADDR_STRLEN + 8];

	switch (tls_conn_handshake(c->ssl)) {
	case TLS_IO_DONE:
		c->handshaking = false;
		c->last_active = mono_ns();
		conn_input(t, c);
		return;
	case TLS_IO_WANT_READ:
		set_interest(t, c, EPOLLIN | EPOLLRDHUP);
		return;
	case TLS_IO_WANT_WRITE:
		set_interest(t, c, EPOLLOUT);
		return;
	default:
		COUNT(conn_stats(t, c)->tls_failures, 1);
		log_info("%s: TLS handshake with %s failed: %s",
			 ingest_listener_name(t->in, c->listener), peer_text(c, peer),
			 tls_last_error(why, sizeof(why)));
		close_conn(t, c);
	}
}

/* A paused connection whose messages were all taken reads again. */
static void resume_conn(struct tcp_loop *t, struct conn *c)
{
	c->paused = false;
	t->n_paused--;
	c->last_active = mono_ns();
	if (c->closing) {
		close_conn(t, c);
		return;
	}
	set_interest(t, c, EPOLLIN | EPOLLRDHUP);
	conn_input(t, c);
}

static struct conn *conn_new(struct tcp_loop *t, const struct stream_sock *s, int fd,
			     const struct sockaddr_storage *ss)
{
	struct conn *c = mem_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->tag = TAG_CONN;
	c->fd = fd;
	/* dead peers (no FIN) must not hold connection slots forever */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &(int){ 1 }, sizeof(int));
	c->listener = s->l.listener;
	if (ipaddr_from_sockaddr(&c->peer, (const struct sockaddr *)ss, &c->port) < 0)
		memset(&c->peer, 0, sizeof(c->peer));
	framer_init(&c->framer, t->max_message);
	if (s->l.tls) {
		c->ssl = tls_conn_new(t->tls, fd);
		if (!c->ssl) {
			mem_free(c);
			return NULL;
		}
		c->handshaking = true;
	}
	c->last_active = mono_ns();
	set_interest(t, c, EPOLLIN | EPOLLRDHUP);
	if (!c->registered) {
		tls_conn_free(c->ssl);
		mem_free(c);
		return NULL;
	}
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	t->n_conns++;
	COUNT(conn_stats(t, c)->connections, 1);
	COUNT(conn_stats(t, c)->active, 1);
	return c;
}

/* True at most once per LIMIT_LOG_NS: a flood of refusals must not flood the log. */
static bool limit_log_due(struct tcp_loop *t)
{
	int64_t now = mono_ns();

	if (now - t->last_limit_log < LIMIT_LOG_NS && t->last_limit_log != 0)
		return false;
	t->last_limit_log = now;
	return true;
}

static void refuse(struct tcp_loop *t, const struct stream_sock *s, int fd, const char *why)
{
	close(fd);
	if (limit_log_due(t))
		log_warn("%s: refusing a connection: %s",
			 ingest_listener_name(t->in, s->l.listener), why);
}

static void watch_listeners(struct tcp_loop *t, bool on)
{
	for (size_t i = 0; i < t->n_socks; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &t->socks[i] };

		epoll_ctl(t->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, t->socks[i].l.fd, &ev);
	}
}

/*
 * Out of descriptors or memory: the listening socket stays readable, so stop watching
 * it for a moment instead of spinning on accept failures.
 */
static void pause_accepting(struct tcp_loop *t, const struct stream_sock *s, int err)
{
	if (limit_log_due(t))
		log_warn("%s: accept: %s; not accepting for %d ms",
			 ingest_listener_name(t->in, s->l.listener), strerror(err),
			 (int)(ACCEPT_PAUSE_NS / 1000000));
	if (!t->accept_resume)
		watch_listeners(t, false);
	t->accept_resume = mono_ns() + ACCEPT_PAUSE_NS;
}

static void accept_all(struct tcp_loop *t, const struct stream_sock *s)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(s->l.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepting(t, s, errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("%s: accept: %s", ingest_listener_name(t->in, s->l.listener),
					 strerror(errno));
			return;
		}
		if (t->n_conns >= t->max_conns) {
			refuse(t, s, fd, "tcp_max_connections reached");
			continue;
		}
		if (!conn_new(t, s, fd, &ss))
			refuse(t, s, fd, "out of memory");
	}
}

static void conn_event(struct tcp_loop *t, struct conn *c)
{
	if (c->handshaking)
		conn_handshake(t, c);
	else
		conn_input(t, c);
}

/* ---- the loop ---- */

/* Closes connections quiet past tcp_idle_timeout, and TLS handshakes older than HANDSHAKE_NS. */
static void close_idle(struct tcp_loop *t, int64_t now)
{
	char peer[IPADDR_STRLEN + 8];
	struct conn *next;

	for (struct conn *c = t->conns; c; c = next) {
		int64_t quiet = now - c->last_active;

		next = c->next;

		if (c->paused || (c->handshaking ? quiet < HANDSHAKE_NS
						 : !t->idle_ns || quiet < t->idle_ns))
			continue;
		if (c->handshaking)
			COUNT(conn_stats(t, c)->tls_failures, 1);
		log_debug("%s: closing idle connection from %s",
			  ingest_listener_name(t->in, c->listener), peer_text(c, peer));
		close_conn(t, c);
	}
}

/* Paused connections try the queue again; busy ones get their next turn. */
static void serve_waiting(struct tcp_loop *t)
{
	struct conn *next;

	for (struct conn *c = t->conns; c && (t->n_paused || t->n_again); c = next) {
		next = c->next;
		if (c->paused) {
			if (flush(t, c))
				resume_conn(t, c);
		} else if (c->again) {
			conn_input(t, c);
		}
	}
}

static int loop_timeout(const struct tcp_loop *t)
{
	if (t->n_again)
		return 0;
	if (t->n_paused)
		return RETRY_MS;
	if (t->accept_resume)
		return (int)(ACCEPT_PAUSE_NS / 1000000);
	return t->idle_ns || t->tls ? 1000 : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * At the end of the drain: frames everything this connection still has (bytes kept
 * unframed behind a refusing queue, and what waits in its socket) into pending, so that
 * each of those messages is pushed or counted as dropped (shutdown), never lost
 * uncounted.
 */
static void frame_for_drop(struct tcp_loop *t, struct conn *c)
{
	int64_t now = time_now_ns();
	const char *p = c->rest + c->rest_off;
	size_t n = c->rest_len;
	struct frame fr;

	c->rest_len = 0;
	for (int reads = 0;; reads++) {
		ssize_t r;

		while (framer_next(&c->framer, &p, &n, &fr) > 0)
			add_frame(t, c, &fr, now);
		if (c->handshaking || reads == READS_PER_TURN || (r = conn_read(t, c)) <= 0)
			break;
		p = t->buf;
		n = (size_t)r;
	}
	if (framer_finish(&c->framer, &fr) > 0)
		add_frame(t, c, &fr, now);
}

/* After read_out: push what was framed while the deadline allows; close all. */
static void drain(struct tcp_loop *t)
{
	int64_t deadline = mono_ns() + TCP_PUSH_MS * INT64_C(1000000);

	for (;;) {
		bool left = false;

		for (struct conn *c = t->conns; c; c = c->next)
			if (c->off < c->n && !flush(t, c))
				left = true;
		if (!left || mono_ns() >= deadline)
			break;
		sleep_ms(RETRY_MS);
	}
	while (t->conns) {
		frame_for_drop(t, t->conns);
		flush(t, t->conns);      /* the queue may still take some */
		close_conn(t, t->conns); /* what is still pending counts as dropped (shutdown) */
	}
}

/* One round of the event loop; true when the stop descriptor fired. */
static bool loop_once(struct tcp_loop *t, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	int n = epoll_wait(t->epfd, ev, MAX_EVENTS, timeout_ms);
	bool stop = false;
	int64_t now;

	if (n < 0 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return true;
	}
	for (int i = 0; i < n; i++) {
		enum tag *tag = ev[i].data.ptr;

		if (*tag == TAG_STOP)
			stop = true;
		else if (*tag == TAG_LISTEN)
			accept_all(t, (const struct stream_sock *)tag);
		else
			conn_event(t, (struct conn *)tag);
	}
	serve_waiting(t);
	now = mono_ns();
	if (t->accept_resume && now >= t->accept_resume) {
		t->accept_resume = 0;
		watch_listeners(t, true);
	}
	if ((t->idle_ns || t->tls) && now - t->last_idle_scan >= NS_PER_SEC) {
		t->last_idle_scan = now;
		close_idle(t, now);
	}
	return stop;
}

/* Newest input on any connection (monotonic ns), or 0 without connections. */
static int64_t last_input(const struct tcp_loop *t)
{
	int64_t last = 0;

	for (const struct conn *c = t->conns; c; c = c->next)
		if (c->last_active > last)
			last = c->last_active;
	return last;
}

/*
 * Stop: accept nothing more, but read out what senders already wrote, so that a
 * sender that finished before the SIGTERM loses nothing. Ends when every connection
 * has been quiet for TCP_QUIET_MS, or at the drain deadline.
 */
static void read_out(struct tcp_loop *t, int64_t deadline)
{
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->stop_fd, NULL);
	/* senders that connected and wrote just before the stop still get read */
	for (size_t i = 0; i < t->n_socks && !t->accept_resume; i++)
		accept_all(t, &t->socks[i]);
	if (!t->accept_resume)
		watch_listeners(t, false);
	t->accept_resume = 0; /* unwatched for good */
	while (t->conns && mono_ns() < deadline) {
		int64_t quiet = mono_ns() - last_input(t);

		if (!t->n_again && !t->n_paused && quiet >= TCP_QUIET_MS * INT64_C(1000000))
			break;
		loop_once(t, t->n_again ? 0 : RETRY_MS);
	}
}

static void *tcp_run(void *arg)
{
	struct tcp_loop *t = arg;

	while (!loop_once(t, loop_timeout(t)))
		;
	read_out(t, mono_ns() + TCP_DRAIN_MS * INT64_C(1000000));
	drain(t);
	msg_pool_release();
	return NULL;
}

static int watch(struct tcp_loop *t, int fd, void *tag, struct err *e)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return err_set(e, -errno, "tcp: epoll_ctl: %s", strerror(errno));
	return 0;
}

static void loop_free(struct tcp_loop *t)
{
	if (t->epfd >= 0)
		close(t->epfd);
	mem_free(t->buf);
	mem_free(t);
}

int tcp_start(struct tcp_loop **out, struct ingest *in, const struct config *c,
	      const struct tcp_listen *socks, size_t n, struct ssl_ctx_st *tls, int stop_fd,
	      struct err *e)
{
	struct tcp_loop *t = mem_calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (!t)
		return err_set(e, -ENOMEM, "tcp: out of memory");
	t->in = in;
	t->tls = tls;
	t->stop_fd = stop_fd;
	t->stop_tag = TAG_STOP;
	t->max_message = c->max_message_size;
	t->max_conns = c->tcp_max_connections;
	t->idle_ns = (int64_t)c->tcp_idle_timeout * NS_PER_SEC;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->buf = mem_alloc(READ_CHUNK);
	if (t->epfd < 0 || !t->buf) {
		rc = err_set(e, t->buf ? -errno : -ENOMEM, "tcp: cannot set up the event loop");
		goto fail;
	}
	rc = watch(t, stop_fd, &t->stop_tag, e);
	for (size_t i = 0; i < n && rc == 0; i++) {
		t->socks[i] = (struct stream_sock){ TAG_LISTEN, socks[i] };
		t->n_socks++;
		rc = watch(t, socks[i].fd, &t->socks[i], e);
	}
	if (rc < 0)
		goto fail;
	rc = pthread_create(&t->thread, NULL, tcp_run, t);
	if (rc != 0) {
		rc = err_set(e, -rc, "tcp: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(t->thread, "koban-stream");
	*out = t;
	return 0;
fail:
	loop_free(t);
	return rc;
}

void tcp_join(struct tcp_loop *t)
{
	if (!t)
		return;
	pthread_join(t->thread, NULL);
	loop_free(t);
}
