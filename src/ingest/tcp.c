#define LOG_MODULE "tcp" /* before tcp.h's includes pull in core/log.h */
#include "ingest/tcp.h"
#include "core/compat.h"

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

#include <limits.h>
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
#define LOG_EVERY_S 10    /* at most one line per kind of trouble this often */
#define HANDSHAKE_NS (10 * NS_PER_SEC) /* a TLS handshake must finish within this */
#define EVICT_MIN_IDLE_NS NS_PER_SEC    /* a connection quiet this long may make room */

enum tag { TAG_STOP, TAG_LISTEN, TAG_CONN };

struct stream_sock {
	enum tag tag; /* first: epoll data points here */
	struct tcp_listen l;
	bool watched; /* in the epoll set */
};

/*
 * Where a connection is in its life; each state says whether it is in the epoll set:
 *
 *   HANDSHAKE --done--> READING <--> BUSY        (in the epoll set, except BUSY's turn)
 *                          |  ^
 *          queue refused   v  | all pushed
 *                        PAUSED                  (out of the epoll set)
 *   any state --end of input, pending left--> DRAINING --all pushed--> closed
 */
enum conn_state {
	CONN_HANDSHAKE, /* TLS handshake under way; waits for c->events */
	CONN_READING,   /* waits for input (or for writability inside TLS) */
	CONN_BUSY,      /* read a full turn and may have more buffered: read again next round */
	CONN_PAUSED,    /* the queue refused pending: not read, flushed every RETRY_MS */
	CONN_DRAINING,  /* input ended: closed once pending is pushed (flushed every RETRY_MS) */
};

struct conn {
	enum tag tag; /* first: epoll data points here */
	struct conn *prev, *next;
	enum conn_state state;
	uint32_t events;      /* epoll interest; 0 = not in the epoll set */
	int fd;
	unsigned listener;
	struct ssl_st *ssl;   /* NULL for plain TCP */
	struct ipaddr peer;
	uint16_t port;
	int64_t last_active;  /* monotonic ns */
	int64_t frame_start;  /* monotonic ns the unfinished frame began; 0 = none */
	struct framer framer;
	struct msg **pending; /* framed, not yet taken by the queue: pending[off..n) */
	size_t off, n, cap;
	char *rest;           /* read but not yet framed (queue refused): rest[rest_off..+len) */
	size_t rest_off, rest_len;
};

/* Open connections per source address: open addressing, linear probing, n == 0 is empty. */
struct addr_count {
	struct ipaddr ip;
	unsigned n;
};

struct tcp_loop {
	struct ingest *in;
	struct ssl_ctx_st *tls;
	int epfd, stop_fd;
	enum tag stop_tag;
	size_t max_message;
	unsigned max_conns, max_per_listener, max_per_address;
	int64_t idle_ns;      /* 0 = no idle timeout */
	int64_t frame_ns;     /* 0 = no frame deadline */
	struct framer_budget *budget;
	struct stream_sock socks[CONFIG_MAX_LISTENERS];
	size_t n_socks;
	struct conn *conns;   /* every open connection */
	unsigned n_conns, n_waiting, n_busy; /* open; PAUSED or DRAINING; BUSY */
	unsigned per_listener[CONFIG_MAX_LISTENERS];
	struct addr_count *addrs;
	size_t addr_cap, addr_used;
	int64_t last_scan;
	int64_t accept_resume; /* monotonic ns; listening sockets unwatched until then, 0 = no */
	int64_t read_deadline; /* at stop: no socket is read after this */
	struct log_limit refuse_log, accept_log, frame_log, tls_log, evict_log, epoll_log;
	char *buf;
	pthread_t thread;
};

#define COUNT(counter, k) atomic_fetch_add_explicit(&(counter), (k), memory_order_relaxed)

static struct listener_stats *conn_stats(struct tcp_loop *t, const struct conn *c)
{
	return ingest_listener_stats(t->in, c->listener);
}

static const char *peer_text(const struct conn *c, char out[IPADDR_ENDPOINT_STRLEN])
{
	ipaddr_format_endpoint(&c->peer, c->port, out);
	return out;
}

/* ---- connections per source address ---- */

static size_t addr_hash(const struct ipaddr *ip)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < sizeof(ip->b); i++)
		h = (h ^ ip->b[i]) * 1099511628211ull;
	return (size_t)h;
}

/* The slot holding ip, or the empty slot where it would go; addr_cap > 0. */
static size_t addr_find(const struct tcp_loop *t, const struct ipaddr *ip)
{
	size_t i = addr_hash(ip) & (t->addr_cap - 1);

	while (t->addrs[i].n && memcmp(&t->addrs[i].ip, ip, sizeof(*ip)))
		i = (i + 1) & (t->addr_cap - 1);
	return i;
}

static unsigned addr_open(const struct tcp_loop *t, const struct ipaddr *ip)
{
	return t->addr_cap ? t->addrs[addr_find(t, ip)].n : 0;
}

/* Keeps the table at most half full; -ENOMEM. */
static int addr_reserve(struct tcp_loop *t)
{
	struct addr_count *old = t->addrs;
	size_t old_cap = t->addr_cap, cap = old_cap ? old_cap * 2 : 64;

	if ((t->addr_used + 1) * 2 <= old_cap)
		return 0;
	t->addrs = mem_calloc(cap, sizeof(*t->addrs));
	if (!t->addrs) {
		t->addrs = old;
		return -ENOMEM;
	}
	t->addr_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].n)
			t->addrs[addr_find(t, &old[i].ip)] = old[i];
	mem_free(old);
	return 0;
}

/* Counts one more connection from ip; addr_reserve() was called. */
static void addr_add(struct tcp_loop *t, const struct ipaddr *ip)
{
	size_t i = addr_find(t, ip);

	if (!t->addrs[i].n) {
		t->addrs[i].ip = *ip;
		t->addr_used++;
	}
	t->addrs[i].n++;
}

static void addr_remove(struct tcp_loop *t, const struct ipaddr *ip)
{
	size_t mask = t->addr_cap - 1, i = addr_find(t, ip), j = i;

	if (!t->addrs[i].n || --t->addrs[i].n)
		return;
	t->addr_used--;
	/* backward-shift deletion: move later entries of the probe run into the hole */
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!t->addrs[j].n)
			break;
		home = addr_hash(&t->addrs[j].ip) & mask;
		if (((j - home) & mask) < ((j - i) & mask))
			continue; /* its home lies after the hole: it must stay */
		t->addrs[i] = t->addrs[j];
		t->addrs[j].n = 0;
		i = j;
	}
}

/* ---- epoll interest ---- */

/* Sets the connection's interest (adding it to the epoll set when out); 0 or -errno. */
static int set_interest(struct tcp_loop *t, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	int op = c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (c->events == events)
		return 0;
	if (epoll_ctl(t->epfd, op, c->fd, &ev) < 0)
		return -errno;
	c->events = events;
	return 0;
}

/* Takes the connection out of the epoll set; 0 or -errno. */
static int unregister(struct tcp_loop *t, struct conn *c)
{
	if (c->events && epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
		return -errno;
	c->events = 0;
	return 0;
}

/* ---- connections ---- */

static bool waiting(enum conn_state s)
{
	return s == CONN_PAUSED || s == CONN_DRAINING;
}

/* Moves c to state s, keeping the loop's counts of waiting and busy connections. */
static void set_state(struct tcp_loop *t, struct conn *c, enum conn_state s)
{
	if (waiting(c->state))
		t->n_waiting--;
	else if (c->state == CONN_BUSY)
		t->n_busy--;
	c->state = s;
	if (waiting(s))
		t->n_waiting++;
	else if (s == CONN_BUSY)
		t->n_busy++;
}

/*
 * Closes and frees c. why is the eviction reason when koban ended the connection, -1 when
 * the peer did (or the framing failed, counted on its own). A message it was in the middle
 * of is counted as cut; what is still pending counts as dropped (shutdown). Closing the
 * descriptor also takes it out of the epoll set.
 */
static void close_conn(struct tcp_loop *t, struct conn *c, int why)
{
	struct listener_stats *ls = conn_stats(t, c);

	if (why >= 0)
		COUNT(ls->evicted[why], 1);
	if (framer_mid_message(&c->framer))
		COUNT(ls->frames_cut, 1);
	if (c->pending)
		ingest_drop(t->in, c->pending + c->off, c->n - c->off, DROP_SHUTDOWN);
	mem_free(c->pending);
	mem_free(c->rest);
	framer_release(&c->framer);
	tls_conn_free(c->ssl);
	close(c->fd);
	set_state(t, c, CONN_READING); /* out of the waiting and busy counts */
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->n_conns--;
	t->per_listener[c->listener]--;
	addr_remove(t, &c->peer);
	atomic_fetch_sub_explicit(&ls->active, 1, memory_order_relaxed);
	mem_free(c);
}

/* epoll_ctl failed for c: a connection must never silently stop being read, so close it. */
static void epoll_failed(struct tcp_loop *t, struct conn *c, int rc)
{
	char peer[IPADDR_STRLEN + 8];

	log_limited(&t->epoll_log, LOG_LEVEL_ERROR, "%s: epoll_ctl for %s: %s; closing it",
		    ingest_listener_name(t->in, c->listener), peer_text(c, peer), strerror(-rc));
	close_conn(t, c, EVICT_EPOLL);
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

/*
 * The queue refused (PAUSED: stop reading this sender until its messages are taken), or
 * input ended with messages left (DRAINING). c may be closed (epoll failure).
 */
static void wait_for_queue(struct tcp_loop *t, struct conn *c, enum conn_state s)
{
	int rc;

	if (!waiting(c->state))
		ingest_throttled(t->in, c->pending[c->off]);
	set_state(t, c, s);
	rc = unregister(t, c);
	if (rc < 0)
		epoll_failed(t, c, rc);
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
 * Keeps c->frame_start: when the frame now unfinished began.
 */
static int frame_chunk(struct tcp_loop *t, struct conn *c, const char *p, size_t n)
{
	int64_t now = time_now_ns();
	bool completed = false;
	struct frame fr;
	int rc;

	while ((rc = framer_next(&c->framer, &p, &n, &fr)) > 0) {
		completed = true;
		add_frame(t, c, &fr, now);
		if (c->n - c->off >= PENDING_MAX && !flush(t, c)) {
			rc = keep_rest(c, p, n);
			break;
		}
	}
	if (!framer_in_frame(&c->framer))
		c->frame_start = 0;
	else if (completed || !c->frame_start)
		c->frame_start = time_mono_ns();
	return rc;
}

/* Framing failed (rc < 0): count and log it, at a limited rate. */
static void framing_failed(struct tcp_loop *t, struct conn *c, int rc)
{
	char peer[IPADDR_STRLEN + 8];
	struct frame fr;

	if (rc == -EPROTO) {
		COUNT(conn_stats(t, c)->framing_errors, 1);
		log_limited(&t->frame_log, LOG_LEVEL_WARN, "%s: %s from %s, closing the connection",
			    ingest_listener_name(t->in, c->listener), framer_error(&c->framer),
			    peer_text(c, peer));
		framer_finish(&c->framer, &fr); /* counted as a framing error, not as a cut */
		return;
	}
	/* the message in progress is lost; reset so that closing does not count it again */
	COUNT(conn_stats(t, c)->frames_cut, 1);
	framer_finish(&c->framer, &fr);
	if (rc == -ENOBUFS) {
		log_limited(&t->frame_log, LOG_LEVEL_WARN,
			    "%s: unfinished messages hold syslog.tcp_frame_memory (%zu bytes); "
			    "closing the connection from %s",
			    ingest_listener_name(t->in, c->listener), t->budget->max,
			    peer_text(c, peer));
	} else {
		log_limited(&t->frame_log, LOG_LEVEL_ERROR,
			    "%s: out of memory framing %s, closing the connection",
			    ingest_listener_name(t->in, c->listener), peer_text(c, peer));
	}
}

ssize_t tcp_read(int fd, struct ssl_st *ssl, char *buf, size_t cap)
{
	ssize_t r;

	if (ssl)
		return tls_conn_read(ssl, buf, cap);
	do
		r = read(fd, buf, cap);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == 0)
		return TLS_IO_EOF;
	return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_IO_WANT_READ : TLS_IO_ERROR;
}

static ssize_t conn_read(struct tcp_loop *t, struct conn *c)
{
	return tcp_read(c->fd, c->ssl, t->buf, READ_CHUNK);
}

/* Input ended: push what is framed, then close (why: as for close_conn). */
static void end_input(struct tcp_loop *t, struct conn *c, int why)
{
	if (flush(t, c))
		close_conn(t, c, why);
	else
		wait_for_queue(t, c, CONN_DRAINING);
}

/*
 * Frames p[0..n) and pushes the result; false when the connection cannot go on reading
 * now: its framing failed (input ends) or the queue refused (it pauses).
 */
static bool take_input(struct tcp_loop *t, struct conn *c, const char *p, size_t n)
{
	int rc = frame_chunk(t, c, p, n);

	if (rc < 0) {
		framing_failed(t, c, rc);
		end_input(t, c, rc == -ENOBUFS ? EVICT_MEMORY : -1);
		return false;
	}
	if (rc == 1 || !flush(t, c)) {
		wait_for_queue(t, c, CONN_PAUSED);
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

/* Reads and frames c (READING or BUSY) for one turn. c may be closed on return. */
static void conn_input(struct tcp_loop *t, struct conn *c)
{
	if (!frame_rest(t, c))
		return;
	for (int turn = 0; turn < READS_PER_TURN; turn++) {
		ssize_t r = conn_read(t, c);
		struct frame fr;
		int rc;

		if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) {
			set_state(t, c, CONN_READING);
			rc = set_interest(t, c, r == TLS_IO_WANT_READ ? EPOLLIN | EPOLLRDHUP
								       : EPOLLOUT);
			if (rc < 0)
				epoll_failed(t, c, rc);
			return;
		}
		if (r == TLS_IO_EOF || r == TLS_IO_ERROR) {
			if (r == TLS_IO_EOF) {
				/* an octet-counted frame the sender did not finish is lost */
				if (framer_mid_message(&c->framer) &&
				    framer_mode(&c->framer) == FRAMER_OCTET)
					COUNT(conn_stats(t, c)->frames_cut, 1);
				if (framer_finish(&c->framer, &fr) > 0)
					add_frame(t, c, &fr, time_now_ns());
			}
			end_input(t, c, -1);
			return;
		}
		c->last_active = time_mono_ns();
		if (!take_input(t, c, t->buf, (size_t)r))
			return;
	}
	set_state(t, c, CONN_BUSY); /* a busy sender: let the others have a turn first */
}

static void conn_handshake(struct tcp_loop *t, struct conn *c)
{
	char why[256], peer[IPADDR_STRLEN + 8];
	int rc;

	switch (tls_conn_handshake(c->ssl)) {
	case TLS_IO_DONE:
		set_state(t, c, CONN_READING);
		c->last_active = time_mono_ns();
		conn_input(t, c);
		return;
	case TLS_IO_WANT_READ:
		rc = set_interest(t, c, EPOLLIN | EPOLLRDHUP);
		break;
	case TLS_IO_WANT_WRITE:
		rc = set_interest(t, c, EPOLLOUT);
		break;
	default:
		COUNT(conn_stats(t, c)->tls_failures, 1);
		log_limited(&t->tls_log, LOG_LEVEL_INFO, "%s: TLS handshake with %s failed: %s",
			    ingest_listener_name(t->in, c->listener), peer_text(c, peer),
			    tls_last_error(why, sizeof(why)));
		close_conn(t, c, -1);
		return;
	}
	if (rc < 0)
		epoll_failed(t, c, rc);
}

/* A waiting connection whose messages were all taken reads again, or closes (DRAINING). */
static void resume_conn(struct tcp_loop *t, struct conn *c)
{
	int rc;

	if (c->state == CONN_DRAINING) {
		close_conn(t, c, -1);
		return;
	}
	set_state(t, c, CONN_READING);
	c->last_active = time_mono_ns();
	if (c->frame_start)
		c->frame_start = c->last_active; /* the time koban made it wait does not count */
	rc = set_interest(t, c, EPOLLIN | EPOLLRDHUP);
	if (rc < 0) {
		epoll_failed(t, c, rc);
		return;
	}
	conn_input(t, c);
}

/* ---- accepting ---- */

int tcp_accept(int lfd, struct ipaddr *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	do {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd < 0)
		return -errno;
	if (ipaddr_from_sockaddr(ip, (const struct sockaddr *)&ss, port) < 0) {
		memset(ip, 0, sizeof(*ip));
		*port = 0;
	}
	return fd;
}

void tcp_refuse(struct ingest *in, unsigned listener, int fd, enum conn_refuse why,
		const struct ipaddr *ip, struct log_limit *lim, const char *module)
{
	char text[IPADDR_STRLEN];

	close(fd);
	COUNT(ingest_listener_stats(in, listener)->refused[why], 1);
	if ((int)LOG_LEVEL_WARN > (int)log_get_level())
		return;
	ipaddr_format(ip, text);
	/* "refuse": the function name the callers logged these lines under */
	log_write_limited(lim, LOG_LEVEL_WARN, module, "refuse",
			  "%s: refusing a connection from %s: %s",
			  ingest_listener_name(in, listener), text, conn_refuse_name(why));
}

int tcp_watch(int epfd, int fd, void *tag, const char *who, struct err *e)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return err_set(e, -errno, "%s: epoll_ctl: %s", who, strerror(errno));
	return 0;
}

static void refuse(struct tcp_loop *t, const struct stream_sock *s, int fd,
		   enum conn_refuse why, const struct ipaddr *ip)
{
	tcp_refuse(t->in, s->l.listener, fd, why, ip, &t->refuse_log, LOG_MODULE);
}

/* Returns the new connection, or NULL with the reason to refuse it in *why. */
static struct conn *conn_new(struct tcp_loop *t, const struct stream_sock *s, int fd,
			     const struct ipaddr *peer, uint16_t port, enum conn_refuse *why)
{
	struct conn *c;
	int rc;

	*why = REFUSE_NO_MEMORY;
	if (addr_reserve(t) < 0 || !(c = mem_calloc(1, sizeof(*c))))
		return NULL;
	c->tag = TAG_CONN;
	c->fd = fd;
	c->state = CONN_READING;
	/* dead peers (no FIN) must not hold connection slots forever */
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &(int){ 1 }, sizeof(int)) < 0)
		log_limited(&t->accept_log, LOG_LEVEL_WARN, "SO_KEEPALIVE: %s", strerror(errno));
	c->listener = s->l.listener;
	c->peer = *peer;
	c->port = port;
	framer_init(&c->framer, t->max_message);
	framer_set_budget(&c->framer, t->budget);
	if (s->l.tls) {
		c->ssl = tls_conn_new(t->tls, fd);
		if (!c->ssl) {
			mem_free(c);
			return NULL;
		}
		c->state = CONN_HANDSHAKE;
	}
	c->last_active = time_mono_ns();
	rc = set_interest(t, c, EPOLLIN | EPOLLRDHUP);
	if (rc < 0) {
		log_limited(&t->epoll_log, LOG_LEVEL_ERROR, "epoll_ctl: %s", strerror(-rc));
		*why = REFUSE_EPOLL;
		tls_conn_free(c->ssl);
		mem_free(c);
		return NULL;
	}
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	t->n_conns++;
	t->per_listener[c->listener]++;
	addr_add(t, &c->peer);
	COUNT(conn_stats(t, c)->connections, 1);
	COUNT(conn_stats(t, c)->active, 1);
	return c;
}

/*
 * Closes the connection quiet the longest (at least EVICT_MIN_IDLE_NS) of the listener
 * (any listener when listener < 0) to make room; false when none qualifies. Connections
 * waiting for the queue are never chosen: koban, not the sender, holds them up.
 */
static bool evict_oldest_idle(struct tcp_loop *t, int listener)
{
	int64_t now = time_mono_ns();
	struct conn *oldest = NULL;
	char peer[IPADDR_STRLEN + 8];

	for (struct conn *c = t->conns; c; c = c->next) {
		if ((c->state != CONN_READING && c->state != CONN_HANDSHAKE) ||
		    (listener >= 0 && c->listener != (unsigned)listener) ||
		    now - c->last_active < EVICT_MIN_IDLE_NS)
			continue;
		if (!oldest || c->last_active < oldest->last_active)
			oldest = c;
	}
	if (!oldest)
		return false;
	log_limited(&t->evict_log, LOG_LEVEL_INFO,
		    "%s: closing %s, idle for %lld ms, to make room for a new connection",
		    ingest_listener_name(t->in, oldest->listener), peer_text(oldest, peer),
		    (long long)((now - oldest->last_active) / 1000000));
	close_conn(t, oldest, EVICT_FOR_NEW);
	return true;
}

/* Whether a new connection from ip may open on listener s: 0, or the reason to refuse. */
static int admit(struct tcp_loop *t, const struct stream_sock *s, const struct ipaddr *ip)
{
	unsigned l = s->l.listener;

	if (t->max_per_address && addr_open(t, ip) >= t->max_per_address)
		return REFUSE_PER_ADDRESS;
	if (t->per_listener[l] >= t->max_per_listener && !evict_oldest_idle(t, (int)l))
		return REFUSE_LISTENER_FULL;
	if (t->n_conns >= t->max_conns && !evict_oldest_idle(t, -1))
		return REFUSE_MAX_CONNECTIONS;
	return -1;
}

/* Watches (on) or unwatches the listening sockets; false when one could not be changed. */
static bool watch_listeners(struct tcp_loop *t, bool on)
{
	bool ok = true;

	for (size_t i = 0; i < t->n_socks; i++) {
		struct stream_sock *s = &t->socks[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

		if (s->watched == on)
			continue;
		if (epoll_ctl(t->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->l.fd, &ev) < 0) {
			log_limited(&t->epoll_log, LOG_LEVEL_ERROR, "%s: epoll_ctl: %s",
				    ingest_listener_name(t->in, s->l.listener), strerror(errno));
			ok = false;
			continue;
		}
		s->watched = on;
	}
	return ok;
}

/*
 * Out of descriptors or memory: the listening socket stays readable, so stop watching
 * it for a moment instead of spinning on accept failures.
 */
static void pause_accepting(struct tcp_loop *t, const struct stream_sock *s, int err)
{
	log_limited(&t->accept_log, LOG_LEVEL_WARN, "%s: accept: %s; not accepting for %d ms",
		    ingest_listener_name(t->in, s->l.listener), strerror(err),
		    (int)(TCP_ACCEPT_PAUSE_NS / 1000000));
	watch_listeners(t, false);
	t->accept_resume = time_mono_ns() + TCP_ACCEPT_PAUSE_NS;
}

static void accept_all(struct tcp_loop *t, const struct stream_sock *s)
{
	for (;;) {
		enum conn_refuse why;
		struct ipaddr ip;
		uint16_t port;
		int fd = tcp_accept(s->l.fd, &ip, &port);
		int verdict;

		if (fd < 0) {
			if (TCP_ACCEPT_EXHAUSTED(fd))
				pause_accepting(t, s, -fd);
			else if (fd != -EAGAIN && fd != -EWOULDBLOCK)
				log_limited(&t->accept_log, LOG_LEVEL_WARN, "%s: accept: %s",
					    ingest_listener_name(t->in, s->l.listener),
					    strerror(-fd));
			return;
		}
		verdict = admit(t, s, &ip);
		if (verdict >= 0) {
			refuse(t, s, fd, (enum conn_refuse)verdict, &ip);
			continue;
		}
		if (!conn_new(t, s, fd, &ip, port, &why))
			refuse(t, s, fd, why, &ip);
	}
}

static void conn_event(struct tcp_loop *t, struct conn *c)
{
	if (c->state == CONN_HANDSHAKE)
		conn_handshake(t, c);
	else if (c->state == CONN_READING || c->state == CONN_BUSY)
		conn_input(t, c);
	/* PAUSED and DRAINING are out of the epoll set: an event queued before is stale */
}

/* ---- the loop ---- */

/*
 * Closes connections quiet past tcp_idle_timeout, TLS handshakes older than HANDSHAKE_NS,
 * and connections whose unfinished message began more than tcp_frame_timeout ago. Those
 * waiting for the queue are left alone.
 */
static void close_stale(struct tcp_loop *t, int64_t now)
{
	char peer[IPADDR_STRLEN + 8];
	struct conn *next;

	for (struct conn *c = t->conns; c; c = next) {
		int64_t quiet = now - c->last_active;
		int why = -1;

		next = c->next;
		if (waiting(c->state))
			continue;
		if (c->state == CONN_HANDSHAKE) {
			if (quiet >= HANDSHAKE_NS)
				why = EVICT_HANDSHAKE_TIMEOUT;
		} else if (t->frame_ns && c->frame_start && now - c->frame_start >= t->frame_ns) {
			why = EVICT_FRAME_TIMEOUT;
		} else if (t->idle_ns && quiet >= t->idle_ns) {
			why = EVICT_IDLE_TIMEOUT;
		}
		if (why < 0)
			continue;
		if (why == EVICT_HANDSHAKE_TIMEOUT)
			COUNT(conn_stats(t, c)->tls_failures, 1);
		if (why == EVICT_IDLE_TIMEOUT) /* the configured, ordinary end of a connection */
			log_debug("%s: closing idle connection from %s",
				  ingest_listener_name(t->in, c->listener), peer_text(c, peer));
		else
			log_limited(&t->evict_log, LOG_LEVEL_INFO,
				    "%s: closing the connection from %s: %s",
				    ingest_listener_name(t->in, c->listener), peer_text(c, peer),
				    conn_evict_name((enum conn_evict)why));
		close_conn(t, c, why);
	}
}

/* Waiting connections try the queue again; busy ones get their next turn. */
static void serve_waiting(struct tcp_loop *t)
{
	struct conn *next;

	for (struct conn *c = t->conns; c && (t->n_waiting || t->n_busy); c = next) {
		next = c->next;
		if (waiting(c->state)) {
			if (flush(t, c))
				resume_conn(t, c);
		} else if (c->state == CONN_BUSY) {
			conn_input(t, c);
		}
	}
}

static bool timers(const struct tcp_loop *t)
{
	return t->idle_ns || t->frame_ns || t->tls;
}

static int loop_timeout(const struct tcp_loop *t)
{
	if (t->n_busy)
		return 0;
	if (t->n_waiting)
		return RETRY_MS;
	if (t->accept_resume)
		return (int)(TCP_ACCEPT_PAUSE_NS / 1000000);
	return timers(t) ? 1000 : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * At the end of the drain: frames everything this connection still has (bytes kept
 * unframed behind a refusing queue, and, until the read deadline, what waits in its
 * socket) into pending, so that each of those messages is pushed or counted as dropped
 * (shutdown), never lost uncounted.
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
		if (c->state == CONN_HANDSHAKE || reads == READS_PER_TURN ||
		    time_mono_ns() >= t->read_deadline || (r = conn_read(t, c)) <= 0)
			break;
		p = t->buf;
		n = (size_t)r;
	}
	if (framer_mid_message(&c->framer) && framer_mode(&c->framer) == FRAMER_OCTET)
		COUNT(conn_stats(t, c)->frames_cut, 1);
	if (framer_finish(&c->framer, &fr) > 0)
		add_frame(t, c, &fr, now);
}

/* After read_out: push what was framed while the deadline allows; close all. */
static void drain(struct tcp_loop *t)
{
	int64_t deadline = time_mono_ns() + TCP_PUSH_MS * INT64_C(1000000);

	t->read_deadline = deadline;
	for (;;) {
		bool left = false;

		for (struct conn *c = t->conns; c; c = c->next)
			if (c->off < c->n && !flush(t, c))
				left = true;
		if (!left || time_mono_ns() >= deadline)
			break;
		sleep_ms(RETRY_MS);
	}
	while (t->conns) {
		frame_for_drop(t, t->conns);
		flush(t, t->conns);          /* the queue may still take some */
		close_conn(t, t->conns, -1); /* what is still pending counts as dropped (shutdown) */
	}
}

/* One round of the event loop; true when the stop descriptor fired. */
static bool loop_once(struct tcp_loop *t, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	struct stream_sock *ready[MAX_EVENTS];
	int n = epoll_wait(t->epfd, ev, MAX_EVENTS, timeout_ms), n_ready = 0;
	bool stop = false;
	int64_t now;

	if (n < 0 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return true;
	}
	/*
	 * Sorted before anything runs, then connections first: accepting may evict (free)
	 * a connection, which must not have an event left to handle.
	 */
	for (int i = 0; i < n; i++) {
		enum tag *tag = ev[i].data.ptr;

		if (*tag == TAG_LISTEN) {
			ready[n_ready++] = (struct stream_sock *)tag;
			ev[i].data.ptr = NULL;
		} else if (*tag == TAG_STOP) {
			stop = true;
			ev[i].data.ptr = NULL;
		}
	}
	for (int i = 0; i < n; i++)
		if (ev[i].data.ptr)
			conn_event(t, ev[i].data.ptr);
	for (int i = 0; i < n_ready; i++)
		accept_all(t, ready[i]);
	serve_waiting(t);
	now = time_mono_ns();
	if (t->accept_resume && now >= t->accept_resume) {
		/* a listener that cannot be watched again is retried, never forgotten */
		t->accept_resume = watch_listeners(t, true) ? 0 : now + TCP_ACCEPT_PAUSE_NS;
	}
	if (timers(t) && now - t->last_scan >= NS_PER_SEC) {
		t->last_scan = now;
		close_stale(t, now);
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
	if (epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->stop_fd, NULL) < 0)
		log_error("epoll_ctl: %s", strerror(errno)); /* the loop below ignores TAG_STOP */
	/* senders that connected and wrote just before the stop still get read */
	for (size_t i = 0; i < t->n_socks && !t->accept_resume; i++)
		accept_all(t, &t->socks[i]);
	watch_listeners(t, false);
	t->accept_resume = 0; /* unwatched for good */
	while (t->conns && time_mono_ns() < deadline) {
		int64_t quiet = time_mono_ns() - last_input(t);

		if (!t->n_busy && !t->n_waiting && quiet >= TCP_QUIET_MS * INT64_C(1000000))
			break;
		loop_once(t, t->n_busy ? 0 : RETRY_MS);
	}
}

static void *tcp_run(void *arg)
{
	struct tcp_loop *t = arg;

	while (!loop_once(t, loop_timeout(t)))
		;
	read_out(t, time_mono_ns() + TCP_DRAIN_MS * INT64_C(1000000));
	drain(t);
	msg_pool_release();
	return NULL;
}

static void loop_free(struct tcp_loop *t)
{
	if (t->epfd >= 0)
		close(t->epfd);
	mem_free(t->addrs);
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
	t->max_per_listener = c->tcp_max_per_listener ? c->tcp_max_per_listener : UINT_MAX;
	t->max_per_address = c->tcp_max_per_address;
	t->idle_ns = (int64_t)c->tcp_idle_timeout * NS_PER_SEC;
	t->frame_ns = (int64_t)c->tcp_frame_timeout * NS_PER_SEC;
	t->budget = ingest_frame_budget(in);
	log_limit_init(&t->refuse_log, LOG_EVERY_S);
	log_limit_init(&t->accept_log, LOG_EVERY_S);
	log_limit_init(&t->frame_log, LOG_EVERY_S);
	log_limit_init(&t->tls_log, LOG_EVERY_S);
	log_limit_init(&t->evict_log, LOG_EVERY_S);
	log_limit_init(&t->epoll_log, LOG_EVERY_S);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->buf = mem_alloc(READ_CHUNK);
	if (t->epfd < 0 || !t->buf) {
		rc = err_set(e, t->buf ? -errno : -ENOMEM, "tcp: cannot set up the event loop");
		goto fail;
	}
	rc = tcp_watch(t->epfd, stop_fd, &t->stop_tag, "tcp", e);
	for (size_t i = 0; i < n && rc == 0; i++) {
		t->socks[i] = (struct stream_sock){ TAG_LISTEN, socks[i], false };
		t->n_socks++;
		rc = tcp_watch(t->epfd, socks[i].fd, &t->socks[i], "tcp", e);
		t->socks[i].watched = rc == 0;
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
