#define LOG_MODULE "relp" /* before relp.h's includes pull in core/log.h */
#include "ingest/relp.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "ingest/ackin.h"
#include "ingest/listener.h"
#include "ingest/relpwire.h"
#include "ingest/tcp.h"
#include "ingest/tls.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define READS_PER_TURN 8   /* chunks read from one connection before the others get a turn */
#define MAX_EVENTS 64
#define RING_FIRST 64      /* answers a connection's queue holds before it first grows */
#define LOG_EVERY_S 10
#define HANDSHAKE_NS (10 * NS_PER_SEC)
#define COMMIT_WAIT_MS 1000 /* the committer's wait, so that it sees a stop */

enum tag { TAG_STOP, TAG_WAKE, TAG_LISTEN, TAG_CONN };

struct rsock {
	enum tag tag; /* first: epoll data points here */
	int fd;
	unsigned listener;
	bool tls;
};

enum owed_kind { OWED_SYSLOG, OWED_OPEN, OWED_CLOSE, OWED_REFUSE, OWED_REFUSE_END };

/* One answer a connection owes, in the order the commands came. */
struct owed {
	uint32_t txnr;
	uint8_t kind;         /* enum owed_kind */
	bool written;         /* OWED_SYSLOG: appended, lsn valid */
	struct msg *m;        /* OWED_SYSLOG not yet appended: the message */
	uint64_t first, lsn;  /* OWED_SYSLOG: its batch's records on the ack shard */
	const char *text;     /* OWED_REFUSE*: the 500 answer's text (static) */
};

struct rconn {
	enum tag tag; /* first */
	struct rconn *prev, *next;
	int fd;
	struct ssl_st *ssl;
	unsigned listener;
	struct ipaddr peer;
	uint16_t port;
	bool handshaking;
	bool opened;          /* `open` accepted */
	bool no_more_input;   /* `close` (or a refused open) read: nothing more is read */
	bool slot_wait;       /* messages wait for a decoding slot (retried by the timer) */
	bool commit_failed;   /* an owed message's commit failed: close without its answer */
	bool busy;            /* read a full turn: read again next round */
	bool tls_read_wants_write;
	uint32_t events;      /* epoll interest; 0 = not in the set */
	uint32_t next_txnr;
	int64_t last_active;  /* monotonic ns */
	struct relpwire_parser parser;
	struct owed *ring;     /* answers owed: seq head..tail, at ring[seq & (cap - 1)] */
	size_t cap;
	uint64_t head, tail, unwritten; /* unwritten: first entry not yet appended */
	char *out;            /* answers not yet sent: out[out_off..out_len) */
	size_t out_off, out_len;
};

struct relp_counts {
	atomic_uint_fast64_t acked, abandoned, sessions;
};

struct relp {
	struct ingest *in;
	struct ackin *ack;
	struct ssl_ctx_st *tls;
	int epfd, stop_fd, wake_fd;
	enum tag stop_tag, wake_tag;
	size_t max_message;
	unsigned max_conns, max_per_address;
	int64_t idle_ns;
	struct rsock socks[CONFIG_MAX_LISTENERS];
	size_t n_socks;
	struct rconn *conns;
	unsigned n_conns;
	char *buf;
	bool loop_started, committer_started, stopped;
	pthread_t loop, committer;
	/* written: the newest appended LSN (loop); durable: the newest committed (committer) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t written;
	bool quit;
	_Atomic uint64_t durable;
	struct relp_counts counts[CONFIG_MAX_LISTENERS];
	atomic_uint_fast64_t slot_waits;
	struct log_limit proto_log, write_log, refuse_log, tls_log;
	int64_t last_scan;
	int64_t accept_resume;    /* listeners unwatched until then after EMFILE (0: watched) */
};

#define COUNT(counter, k) atomic_fetch_add_explicit(&(counter), (k), memory_order_relaxed)

static struct listener_stats *stats_of(struct relp *r, const struct rconn *c)
{
	return ingest_listener_stats(r->in, c->listener);
}

static const char *peer_text(const struct rconn *c, char out[IPADDR_ENDPOINT_STRLEN])
{
	ipaddr_format_endpoint(&c->peer, c->port, out);
	return out;
}

static const char *lname(struct relp *r, const struct rconn *c)
{
	return ingest_listener_name(r->in, c->listener);
}

/* ---- the committer: waits for the newest appended LSN, wakes the loop ---- */

static void note_written(struct relp *r, uint64_t lsn)
{
	pthread_mutex_lock(&r->lock);
	if (lsn > r->written) {
		r->written = lsn;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

static void wake_loop(struct relp *r)
{
	uint64_t one = 1;

	if (write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("cannot wake the RELP loop: %s", strerror(errno));
}

static void *committer_run(void *arg)
{
	struct relp *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t target;
		int rc;

		while (!r->quit && r->written <= atomic_load(&r->durable))
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->quit)
			break;
		target = r->written;
		pthread_mutex_unlock(&r->lock);
		rc = ackin_wait(r->ack, target, target, COMMIT_WAIT_MS);
		if (rc == 0 || rc == -EIO) { /* settled: answer() tells the failed ones */
			atomic_store(&r->durable, target);
			wake_loop(r);
		} else if (rc != -ETIMEDOUT) {
			struct timespec ts = { 0, RELP_RETRY_MS * 1000000L };

			log_limited(&r->write_log, LOG_LEVEL_ERROR, "waiting for the commit: %s",
				    strerror(-rc));
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- the answers a connection owes ---- */

static struct owed *owed_at(const struct rconn *c, uint64_t seq)
{
	return &c->ring[seq & (c->cap - 1)];
}

/* A new entry at the tail, or NULL when RELP_INFLIGHT_MAX are owed (or no memory). */
static struct owed *owe(struct rconn *c, uint32_t txnr, enum owed_kind kind)
{
	struct owed *o;

	if (c->tail - c->head == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : RING_FIRST;
		struct owed *ring;

		if (cap > RELP_INFLIGHT_MAX || !(ring = mem_calloc(cap, sizeof(*ring))))
			return NULL;
		for (uint64_t s = c->head; s < c->tail; s++)
			ring[s & (cap - 1)] = *owed_at(c, s);
		mem_free(c->ring);
		c->ring = ring;
		c->cap = cap;
	}
	o = owed_at(c, c->tail++);
	*o = (struct owed){ .txnr = txnr, .kind = (uint8_t)kind };
	return o;
}

static bool out_room(const struct rconn *c)
{
	return RELP_OUT_MAX - c->out_len >= RELPWIRE_RSP_MAX;
}

/*
 * Moves every answer that is due (in order: a `syslog` one once its LSN is durable) into
 * the output buffer, as far as it has room; true when it stopped for want of room.
 */
static bool answer(struct relp *r, struct rconn *c)
{
	uint64_t durable = atomic_load(&r->durable);

	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	else if (c->out_off && !out_room(c)) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	while (c->head < c->tail && out_room(c)) {
		struct owed *o = owed_at(c, c->head);
		char *p = c->out + c->out_len;

		switch (o->kind) {
		case OWED_SYSLOG:
			if (!o->written || o->lsn > durable)
				return false;
			if (ackin_failed(r->ack, o->first, o->lsn)) {
				/* not stored (a disk fault): closed unanswered (settle), as an error
				 * answer would make the sender drop the message */
				c->commit_failed = true;
				return false;
			}
			c->out_len += relpwire_rsp(p, o->txnr, 200, "OK", NULL, 0);
			COUNT(r->counts[c->listener].acked, 1);
			break;
		case OWED_OPEN:
			c->out_len += relpwire_open_ok(p, o->txnr);
			break;
		case OWED_CLOSE:
			c->out_len += relpwire_rsp(p, o->txnr, 200, "OK", NULL, 0);
			break;
		default:
			c->out_len += relpwire_rsp(p, o->txnr, 500, o->text, NULL, 0);
			break;
		}
		c->head++;
	}
	return c->head < c->tail;
}

/* ---- connections ---- */

static int set_interest(struct relp *r, struct rconn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	int op = !c->events ? EPOLL_CTL_ADD : events ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;

	if (c->events == events)
		return 0;
	if (epoll_ctl(r->epfd, op, c->fd, &ev) < 0)
		return -errno;
	c->events = events;
	return 0;
}

/* Whether the connection may read more input now. */
static bool can_read(const struct rconn *c)
{
	return !c->handshaking && !c->no_more_input && !c->slot_wait &&
	       c->tail - c->head < RELP_INFLIGHT_MAX && out_room(c);
}

/*
 * Closes and frees c. why: the eviction reason when koban ended a sound session, -1 when
 * the peer ended it or it failed (counted where it failed). Answers still owed for
 * `syslog` frames are counted as abandoned (the sender sends them again); messages not
 * yet appended are dropped (counted, reason shutdown).
 */
static void close_conn(struct relp *r, struct rconn *c, int why)
{
	struct listener_stats *ls = stats_of(r, c);
	uint64_t abandoned = 0;

	if (why >= 0)
		COUNT(ls->evicted[why], 1);
	for (uint64_t s = c->head; s < c->tail; s++) {
		struct owed *o = owed_at(c, s);

		if (o->kind != OWED_SYSLOG)
			continue;
		abandoned++;
		if (o->m)
			ingest_drop(r->in, &o->m, 1, DROP_SHUTDOWN);
	}
	if (abandoned)
		COUNT(r->counts[c->listener].abandoned, abandoned);
	if (relpwire_mid_frame(&c->parser))
		COUNT(ls->frames_cut, 1);
	relpwire_release(&c->parser);
	mem_free(c->ring);
	mem_free(c->out);
	tls_conn_free(c->ssl);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->n_conns--;
	atomic_fetch_sub_explicit(&ls->active, 1, memory_order_relaxed);
	mem_free(c);
}

/* A broken session: logged at a limited rate, closed without answers. */
static void fail_conn(struct relp *r, struct rconn *c, struct log_limit *lim, const char *what,
		      const char *detail)
{
	char peer[IPADDR_ENDPOINT_STRLEN];

	log_limited(lim, LOG_LEVEL_WARN, "%s: %s from %s%s%s; closing the session", lname(r, c),
		    what, peer_text(c, peer), detail ? ": " : "", detail ? detail : "");
	close_conn(r, c, -1);
}

static void protocol_error(struct relp *r, struct rconn *c, const char *what)
{
	COUNT(stats_of(r, c)->framing_errors, 1);
	fail_conn(r, c, &r->proto_log, "RELP protocol error", what);
}

/* ---- appending: runs of messages of one route, one ackin batch each ---- */

static bool same_route(const struct msg *a, const struct msg *b)
{
	return a->tenant == b->tenant && a->format == b->format && a->tz == b->tz &&
	       a->source == b->source;
}

/* The next unappended message at or after seq (< tail), or tail. */
static uint64_t next_message(const struct rconn *c, uint64_t seq)
{
	while (seq < c->tail && !owed_at(c, seq)->m)
		seq++;
	return seq;
}

/*
 * Appends the run of messages of one route starting at seq (a message). Returns the seq
 * after the run, 0 with c->slot_wait set when no decoding slot was free, or -1 after the
 * append failed (c closed).
 */
static int64_t append_run(struct relp *r, struct rconn *c, uint64_t seq)
{
	const struct msg *first = owed_at(c, seq)->m;
	struct ackin_origin origin = {
		.tenant = first->tenant, .format = first->format, .tz = first->tz,
		.source = first->source, .peer = first->peer, .peer_port = first->peer_port,
		.listener = first->listener,
	};
	struct ackin_batch b;
	struct err e = ERR_INIT;
	uint64_t s, end;
	int rc;

	rc = ackin_begin(r->ack, &b, &origin, RELP_SLOT_WAIT_MS, &e);
	if (rc == -EBUSY) {
		COUNT(r->slot_waits, 1);
		c->slot_wait = true;
		return 0;
	}
	if (rc == 0) {
		for (s = seq; s < c->tail; s = next_message(c, s + 1)) {
			struct owed *o = owed_at(c, s);

			if (!same_route(first, o->m))
				break;
			(void)ackin_add_msg(&b, o->m); /* a failure is the batch's: seen at the end */
		}
		end = s;
		rc = ackin_end(&b, &e);
		for (s = seq; s < end; s++) {
			struct owed *o = owed_at(c, s);

			if (!o->m)
				continue;
			msg_free(o->m);
			o->m = NULL;
			o->written = rc == 0;
			o->first = b.first_lsn;
			o->lsn = b.lsn;
		}
		if (rc == 0) {
			note_written(r, b.lsn);
			return (int64_t)end;
		}
	}
	log_limited(&r->write_log, LOG_LEVEL_ERROR, "%s: cannot store RELP messages (%s); "
		    "closing the session so that the sender sends them again", lname(r, c),
		    e.msg);
	close_conn(r, c, -1);
	return -1;
}

/* Appends every message read and not yet appended; false when c was closed. */
static bool append_pending(struct relp *r, struct rconn *c)
{
	uint64_t seq = next_message(c, c->unwritten);

	c->slot_wait = false;
	while (seq < c->tail) {
		int64_t next = append_run(r, c, seq);

		if (next < 0)
			return false;
		if (next == 0)
			break;
		seq = next_message(c, (uint64_t)next);
	}
	c->unwritten = seq;
	return true;
}

/* ---- reading ---- */

/*
 * The session's rules: transaction numbers in sequence, `open` first and once. Returns the
 * answer to owe for the frame, or NULL with the session closed.
 */
static struct owed *check_frame(struct relp *r, struct rconn *c, const struct relpwire_frame *f)
{
	char detail[96];
	struct owed *o;

	if (f->txnr != c->next_txnr) {
		snprintf(detail, sizeof(detail), "transaction number %u, expected %u", f->txnr,
			 c->next_txnr);
		protocol_error(r, c, detail);
		return NULL;
	}
	c->next_txnr = relpwire_txnr_next(f->txnr);
	if (!c->opened && f->cmd != RELPWIRE_OPEN) {
		protocol_error(r, c, "a command before open");
		return NULL;
	}
	if (c->opened && f->cmd == RELPWIRE_OPEN) {
		protocol_error(r, c, "a second open");
		return NULL;
	}
	if (!(o = owe(c, f->txnr, OWED_SYSLOG))) {
		snprintf(detail, sizeof(detail), "more than %d commands unanswered (or no memory)",
			 RELP_INFLIGHT_MAX);
		protocol_error(r, c, detail);
	}
	return o;
}

/* One command; false when the session was closed (protocol error, no memory). */
static bool take_frame(struct relp *r, struct rconn *c, const struct relpwire_frame *f,
		       int64_t now)
{
	struct owed *o = check_frame(r, c, f);
	const char *why;

	if (!o)
		return false;
	switch (f->cmd) {
	case RELPWIRE_OPEN:
		if (relpwire_check_open(f->data, f->len, &why) < 0) {
			o->kind = OWED_REFUSE_END; /* answered 500, then the session ends */
			o->text = why;
			c->no_more_input = true;
			break;
		}
		o->kind = OWED_OPEN;
		c->opened = true;
		COUNT(r->counts[c->listener].sessions, 1);
		break;
	case RELPWIRE_SYSLOG:
		o->m = ingest_msg_new(r->in, c->listener, &c->peer, c->port, now, f->data, f->len,
				      f->truncated);
		if (!o->m) { /* counted (no_memory); unanswered, so the sender sends it again */
			fail_conn(r, c, &r->write_log, "out of memory for a message", NULL);
			return false;
		}
		break;
	case RELPWIRE_CLOSE:
		o->kind = OWED_CLOSE;
		c->no_more_input = true;
		break;
	default:
		o->kind = OWED_REFUSE;
		o->text = "command not supported";
		break;
	}
	return true;
}

/* Parses p[0..n); false when the session was closed. */
static bool take_input(struct relp *r, struct rconn *c, const char *p, size_t n)
{
	int64_t now = time_now_ns();
	struct relpwire_frame f;
	int rc = 0;

	while (!c->no_more_input && (rc = relpwire_next(&c->parser, &p, &n, &f)) > 0)
		if (!take_frame(r, c, &f, now))
			return false;
	if (!c->no_more_input && rc < 0) {
		if (rc == -ENOMEM)
			fail_conn(r, c, &r->write_log, "out of memory for a frame", NULL);
		else
			protocol_error(r, c, relpwire_error(&c->parser));
		return false;
	}
	return true;
}

static ssize_t conn_read(struct relp *r, struct rconn *c)
{
	return tcp_read(c->fd, c->ssl, r->buf, READ_CHUNK);
}

/* Sends what the output buffer holds; false when the session was closed. */
static bool send_out(struct relp *r, struct rconn *c, bool *want_write)
{
	*want_write = false;
	while (c->out_off < c->out_len) {
		const char *p = c->out + c->out_off;
		size_t n = c->out_len - c->out_off;
		ssize_t w;

		if (c->ssl) {
			w = tls_conn_write(c->ssl, p, n);
		} else {
			do
				w = send(c->fd, p, n, MSG_NOSIGNAL);
			while (w < 0 && errno == EINTR);
			if (w < 0)
				w = errno == EAGAIN || errno == EWOULDBLOCK ? TLS_IO_WANT_WRITE
									     : TLS_IO_ERROR;
		}
		if (w == TLS_IO_WANT_WRITE || w == TLS_IO_WANT_READ) {
			*want_write = true; /* (a TLS write wanting to read waits for input) */
			return true;
		}
		if (w < 0) {
			close_conn(r, c, -1); /* the peer is gone: what it did not get is resent */
			return false;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0; /* all sent: the whole buffer is free again */
	return true;
}

/*
 * After anything happened to c: append, answer, send, end a finished session and set
 * the epoll interest. c may be closed on return.
 */
static void settle(struct relp *r, struct rconn *c)
{
	bool want_write, more;
	uint32_t ev;
	int rc;

	if (c->handshaking)
		return;
	if (c->unwritten < c->tail && !c->slot_wait && !append_pending(r, c))
		return;
	/* more answers may be due than the buffer holds: answer and send until they are out,
	 * or the socket is full */
	do {
		more = answer(r, c);
		if (!send_out(r, c, &want_write))
			return;
	} while (more && !want_write);
	if (c->commit_failed) {
		log_limited(&r->write_log, LOG_LEVEL_ERROR, "%s: the commit of RELP messages "
			    "failed (a disk fault); closing the session so that the sender sends "
			    "them again", lname(r, c));
		close_conn(r, c, -1);
		return;
	}
	if (c->no_more_input && c->head == c->tail && c->out_off == c->out_len) {
		close_conn(r, c, -1); /* close answered (or open refused): the session is over */
		return;
	}
	ev = (can_read(c) ? EPOLLIN | EPOLLRDHUP : 0) |
	     (want_write || c->tls_read_wants_write ? EPOLLOUT : 0);
	if ((rc = set_interest(r, c, ev)) < 0)
		fail_conn(r, c, &r->proto_log, "epoll_ctl failed", strerror(-rc));
}

/* Reads and parses c for one turn, then settles it. c may be closed on return. */
static void conn_input(struct relp *r, struct rconn *c)
{
	c->busy = false;
	c->tls_read_wants_write = false;
	for (int turn = 0; turn < READS_PER_TURN && can_read(c); turn++) {
		ssize_t n = conn_read(r, c);

		if (n == TLS_IO_WANT_READ || n == TLS_IO_WANT_WRITE) {
			c->tls_read_wants_write = n == TLS_IO_WANT_WRITE;
			settle(r, c);
			return;
		}
		if (n == TLS_IO_EOF || n == TLS_IO_ERROR) {
			/* what was read is appended first: its answers cannot be sent, but a
			 * committed message is one the sender's resend makes a duplicate of, not
			 * a loss */
			if (c->unwritten < c->tail && !append_pending(r, c))
				return;
			close_conn(r, c, -1);
			return;
		}
		c->last_active = time_mono_ns();
		if (!take_input(r, c, r->buf, (size_t)n))
			return;
		if (turn + 1 == READS_PER_TURN)
			c->busy = true;
	}
	settle(r, c);
}

static void conn_handshake(struct relp *r, struct rconn *c)
{
	char why[256], peer[IPADDR_ENDPOINT_STRLEN];
	int rc;

	switch (tls_conn_handshake(c->ssl)) {
	case TLS_IO_DONE:
		c->handshaking = false;
		c->last_active = time_mono_ns();
		conn_input(r, c);
		return;
	case TLS_IO_WANT_READ:
		rc = set_interest(r, c, EPOLLIN | EPOLLRDHUP);
		break;
	case TLS_IO_WANT_WRITE:
		rc = set_interest(r, c, EPOLLOUT);
		break;
	default:
		COUNT(stats_of(r, c)->tls_failures, 1);
		log_limited(&r->tls_log, LOG_LEVEL_INFO, "%s: TLS handshake with %s failed: %s",
			    lname(r, c), peer_text(c, peer), tls_last_error(why, sizeof(why)));
		close_conn(r, c, -1);
		return;
	}
	if (rc < 0)
		fail_conn(r, c, &r->proto_log, "epoll_ctl failed", strerror(-rc));
}

static void conn_event(struct relp *r, struct rconn *c, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP) && !can_read(c)) {
		/* the peer is gone and will read no answer: level-triggered, this event would
		 * fire until the answers are due. What was read is appended first (a duplicate
		 * at worst, once the sender sends it again). */
		if (!c->handshaking && c->unwritten < c->tail && !c->slot_wait &&
		    !append_pending(r, c))
			return; /* closed by the failed append */
		close_conn(r, c, -1);
		return;
	}
	if (c->handshaking)
		conn_handshake(r, c);
	else if (can_read(c))
		conn_input(r, c);
	else
		settle(r, c);
}

/* ---- accepting ---- */

static unsigned open_from(const struct relp *r, const struct ipaddr *ip)
{
	unsigned n = 0;

	for (const struct rconn *c = r->conns; c; c = c->next)
		n += !memcmp(&c->peer, ip, sizeof(*ip));
	return n;
}

static void refuse(struct relp *r, const struct rsock *s, int fd, enum conn_refuse why,
		   const struct ipaddr *ip)
{
	tcp_refuse(r->in, s->listener, fd, why, ip, &r->refuse_log, LOG_MODULE);
}

static void conn_new(struct relp *r, const struct rsock *s, int fd, const struct ipaddr *ip,
		     uint16_t port)
{
	struct rconn *c = mem_calloc(1, sizeof(*c));
	struct listener_stats *ls = ingest_listener_stats(r->in, s->listener);
	int rc;

	if (!c || !(c->out = mem_alloc(RELP_OUT_MAX))) {
		mem_free(c);
		refuse(r, s, fd, REFUSE_NO_MEMORY, ip);
		return;
	}
	c->tag = TAG_CONN;
	c->fd = fd;
	c->listener = s->listener;
	c->peer = *ip;
	c->port = port;
	c->next_txnr = 1;
	c->last_active = time_mono_ns();
	relpwire_init(&c->parser, r->max_message);
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &(int){ 1 }, sizeof(int)); /* best effort */
	if (s->tls) {
		if (!(c->ssl = tls_conn_new(r->tls, fd))) {
			mem_free(c->out);
			mem_free(c);
			refuse(r, s, fd, REFUSE_NO_MEMORY, ip);
			return;
		}
		c->handshaking = true;
	}
	if ((rc = set_interest(r, c, EPOLLIN | EPOLLRDHUP)) < 0) {
		tls_conn_free(c->ssl);
		mem_free(c->out);
		mem_free(c);
		refuse(r, s, fd, REFUSE_EPOLL, ip);
		return;
	}
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->n_conns++;
	COUNT(ls->connections, 1);
	COUNT(ls->active, 1);
}

/*
 * Out of descriptors or memory: the listening sockets stay readable, so they are taken out
 * of the epoll set for TCP_ACCEPT_PAUSE_NS instead of spinning on accept failures.
 */
static void pause_accepting(struct relp *r, const struct rsock *s, int err)
{
	log_limited(&r->refuse_log, LOG_LEVEL_WARN, "%s: accept: %s; not accepting for %d ms",
		    ingest_listener_name(r->in, s->listener), strerror(err),
		    (int)(TCP_ACCEPT_PAUSE_NS / 1000000));
	for (size_t i = 0; i < r->n_socks; i++)
		if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->socks[i].fd, NULL) < 0)
			log_error("epoll_ctl: %s", strerror(errno));
	r->accept_resume = time_mono_ns() + TCP_ACCEPT_PAUSE_NS;
}

/* Watches the listeners again once the pause is over; retried later when that fails. */
static void resume_accepting(struct relp *r, int64_t now)
{
	struct err e = ERR_INIT;
	size_t i;

	if (!r->accept_resume || now < r->accept_resume)
		return;
	for (i = 0; i < r->n_socks; i++)
		if (tcp_watch(r->epfd, r->socks[i].fd, &r->socks[i], "relp", &e) < 0)
			break;
	if (i == r->n_socks) {
		r->accept_resume = 0;
		return;
	}
	log_error("%s; accepting again later", e.msg);
	while (i-- > 0) /* all or none: the next try adds every one again */
		if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->socks[i].fd, NULL) < 0)
			log_error("epoll_ctl: %s", strerror(errno));
	r->accept_resume = now + TCP_ACCEPT_PAUSE_NS;
}

static void accept_all(struct relp *r, const struct rsock *s)
{
	for (;;) {
		struct ipaddr ip;
		uint16_t port;
		int fd = tcp_accept(s->fd, &ip, &port);

		if (fd < 0) {
			if (TCP_ACCEPT_EXHAUSTED(fd))
				pause_accepting(r, s, -fd);
			else if (fd != -EAGAIN && fd != -EWOULDBLOCK)
				log_limited(&r->refuse_log, LOG_LEVEL_WARN, "%s: accept: %s",
					    ingest_listener_name(r->in, s->listener),
					    strerror(-fd));
			return;
		}
		if (r->n_conns >= r->max_conns)
			refuse(r, s, fd, REFUSE_MAX_CONNECTIONS, &ip);
		else if (r->max_per_address && open_from(r, &ip) >= r->max_per_address)
			refuse(r, s, fd, REFUSE_PER_ADDRESS, &ip);
		else
			conn_new(r, s, fd, &ip, port);
	}
}

/* ---- the loop ---- */

/* Every connection answers what became durable. */
static void answer_all(struct relp *r)
{
	struct rconn *next;

	for (struct rconn *c = r->conns; c; c = next) {
		next = c->next;
		settle(r, c);
	}
}

/* Connections waiting for a decoding slot try again; busy ones read their next turn. */
static void serve_waiting(struct relp *r)
{
	struct rconn *next;

	for (struct rconn *c = r->conns; c; c = next) {
		next = c->next;
		if (c->slot_wait) {
			c->slot_wait = false;
			settle(r, c);
		} else if (c->busy && can_read(c)) {
			conn_input(r, c);
		}
	}
}

static int loop_timeout(const struct relp *r)
{
	for (const struct rconn *c = r->conns; c; c = c->next) {
		if (c->busy)
			return 0;
		if (c->slot_wait)
			return RELP_RETRY_MS;
	}
	return r->accept_resume ? (int)(TCP_ACCEPT_PAUSE_NS / 1000000)
				: 1000; /* handshake and idle deadlines; an accept pause */
}

/* TLS handshakes past HANDSHAKE_NS; sessions idle past tcp_idle_timeout with nothing owed. */
static void close_stale(struct relp *r, int64_t now)
{
	struct rconn *next;

	for (struct rconn *c = r->conns; c; c = next) {
		next = c->next;
		if (c->handshaking && now - c->last_active >= HANDSHAKE_NS) {
			COUNT(stats_of(r, c)->tls_failures, 1);
			close_conn(r, c, EVICT_HANDSHAKE_TIMEOUT);
		} else if (r->idle_ns && c->head == c->tail && now - c->last_active >= r->idle_ns) {
			close_conn(r, c, EVICT_IDLE_TIMEOUT);
		}
	}
}

/* One round; true when the stop descriptor fired. */
static bool loop_once(struct relp *r, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	struct rsock *ready[MAX_EVENTS];
	int n = epoll_wait(r->epfd, ev, MAX_EVENTS, timeout_ms), n_ready = 0;
	bool stop = false, wake = false;
	int64_t now;

	if (n < 0 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return true;
	}
	for (int i = 0; i < n; i++) {
		enum tag *tag = ev[i].data.ptr;

		if (*tag == TAG_CONN)
			continue;
		if (*tag == TAG_LISTEN)
			ready[n_ready++] = (struct rsock *)tag;
		else if (*tag == TAG_STOP)
			stop = true;
		else
			wake = true;
		ev[i].data.ptr = NULL;
	}
	/* a connection closed while handling another's event has no event left: only
	 * accept_all and the wake-up close connections, and they run after these */
	for (int i = 0; i < n; i++)
		if (ev[i].data.ptr)
			conn_event(r, ev[i].data.ptr, ev[i].events);
	if (wake) {
		uint64_t v;

		if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error("reading the wake-up: %s", strerror(errno));
		answer_all(r);
	}
	for (int i = 0; i < n_ready; i++)
		accept_all(r, ready[i]);
	serve_waiting(r);
	now = time_mono_ns();
	resume_accepting(r, now);
	if (now - r->last_scan >= NS_PER_SEC) {
		r->last_scan = now;
		close_stale(r, now);
	}
	return stop;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* At stop: what every connection read is appended (waiting for a decoding slot if need be). */
static void finish_appends(struct relp *r, int64_t deadline)
{
	struct rconn *next;

	for (struct rconn *c = r->conns; c; c = next) {
		next = c->next;
		c->no_more_input = true;
		while (c->unwritten < c->tail && time_mono_ns() < deadline) {
			/* (a failed append closes c: no access after it) */
			if (!append_pending(r, c) || !c->slot_wait)
				break;
			sleep_ms(RELP_RETRY_MS);
		}
	}
}

/*
 * Stop: nothing more is read or accepted; what was read is appended, its commit awaited
 * (up to RELP_STOP_MS), answered and sent; then `serverclose` and every connection closes.
 */
static void finish(struct relp *r)
{
	int64_t deadline = time_mono_ns() + RELP_STOP_MS * INT64_C(1000000);
	uint64_t target;
	struct rconn *next;

	for (size_t i = 0; i < r->n_socks; i++)
		(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->socks[i].fd, NULL); /* best effort */
	finish_appends(r, deadline);
	pthread_mutex_lock(&r->lock);
	target = r->written;
	pthread_mutex_unlock(&r->lock);
	if (target > atomic_load(&r->durable) &&
	    ackin_wait(r->ack, target, target, RELP_STOP_MS) != -ETIMEDOUT)
		atomic_store(&r->durable, target);
	for (bool left = true, blocked; left && time_mono_ns() < deadline;) {
		left = blocked = false;
		for (struct rconn *c = r->conns; c; c = next) {
			bool want_write, more;

			next = c->next;
			more = answer(r, c);
			/* send_out closes a connection whose peer is gone */
			if (send_out(r, c, &want_write) && (more || c->out_off < c->out_len)) {
				left = true;
				blocked = blocked || want_write;
			}
		}
		if (blocked)
			sleep_ms(RELP_RETRY_MS);
	}
	while (r->conns) {
		struct rconn *c = r->conns;
		char hint[32];
		size_t n = relpwire_serverclose(hint);

		if (!c->handshaking && !c->ssl)
			(void)send(c->fd, hint, n, MSG_NOSIGNAL | MSG_DONTWAIT); /* a hint only */
		else if (!c->handshaking)
			(void)tls_conn_write(c->ssl, hint, n);
		close_conn(r, c, -1);
	}
}

static void *loop_run(void *arg)
{
	struct relp *r = arg;

	while (!loop_once(r, loop_timeout(r)))
		;
	finish(r);
	msg_pool_release();
	return NULL;
}

/* ---- start and stop ---- */

static int relp_setup(struct relp *r, const struct config *c, struct err *e)
{
	bool tls = false;
	int rc;

	for (size_t i = 0; i < ingest_listener_count(r->in); i++) {
		enum listener_proto p = ingest_listener_proto(r->in, i);

		if (!config_proto_relp(p))
			continue;
		r->socks[r->n_socks++] = (struct rsock){ TAG_LISTEN, ingest_listener_fd(r->in, i),
							 (unsigned)i, config_proto_tls(p) };
		tls = tls || config_proto_tls(p);
	}
	if (tls && (rc = tls_server_new(&r->tls, c, e)) < 0)
		return rc;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->buf = mem_alloc(READ_CHUNK);
	if (r->epfd < 0 || r->stop_fd < 0 || r->wake_fd < 0)
		return err_set(e, -errno, "relp: cannot set up the event loop: %s", strerror(errno));
	if (!r->buf)
		return err_set(e, -ENOMEM, "relp: out of memory");
	if ((rc = tcp_watch(r->epfd, r->stop_fd, &r->stop_tag, "relp", e)) < 0 ||
	    (rc = tcp_watch(r->epfd, r->wake_fd, &r->wake_tag, "relp", e)) < 0)
		return rc;
	for (size_t i = 0; i < r->n_socks; i++)
		if ((rc = tcp_watch(r->epfd, r->socks[i].fd, &r->socks[i], "relp", e)) < 0)
			return rc;
	return 0;
}

int relp_start(struct relp **out, struct ingest *in, struct ackin *ack, const struct config *c,
	       struct err *e)
{
	struct relp *r;
	int rc;

	*out = NULL;
	if (!(r = mem_calloc(1, sizeof(*r))))
		return err_set(e, -ENOMEM, "relp: out of memory");
	r->in = in;
	r->ack = ack;
	r->epfd = r->stop_fd = r->wake_fd = -1;
	r->stop_tag = TAG_STOP;
	r->wake_tag = TAG_WAKE;
	r->max_message = c->max_message_size;
	r->max_conns = c->tcp_max_connections;
	r->max_per_address = c->tcp_max_per_address;
	r->idle_ns = (int64_t)c->tcp_idle_timeout * NS_PER_SEC;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	log_limit_init(&r->proto_log, LOG_EVERY_S);
	log_limit_init(&r->write_log, LOG_EVERY_S);
	log_limit_init(&r->refuse_log, LOG_EVERY_S);
	log_limit_init(&r->tls_log, LOG_EVERY_S);
	if ((rc = relp_setup(r, c, e)) < 0)
		goto fail;
	if (!r->n_socks) {
		relp_free(r);
		return 0;
	}
	if ((rc = pthread_create(&r->committer, NULL, committer_run, r)) != 0) {
		rc = err_set(e, -rc, "relp: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	r->committer_started = true;
	pthread_setname_np(r->committer, "koban-relpcommit");
	if ((rc = pthread_create(&r->loop, NULL, loop_run, r)) != 0) {
		rc = err_set(e, -rc, "relp: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	r->loop_started = true;
	pthread_setname_np(r->loop, "koban-relp");
	*out = r;
	return 0;
fail:
	relp_free(r);
	return rc;
}

void relp_stop(struct relp *r)
{
	uint64_t one = 1;

	if (!r || r->stopped)
		return;
	r->stopped = true;
	if (r->loop_started) {
		if (write(r->stop_fd, &one, sizeof(one)) < 0)
			log_error("cannot signal the RELP loop: %s", strerror(errno));
		pthread_join(r->loop, NULL);
	}
	if (r->committer_started) {
		pthread_mutex_lock(&r->lock);
		r->quit = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->committer, NULL);
	}
}

void relp_free(struct relp *r)
{
	if (!r)
		return;
	metrics_unregister(r);
	relp_stop(r);
	while (r->conns) /* only when the loop never ran */
		close_conn(r, r->conns, -1);
	tls_server_free(r->tls);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	mem_free(r->buf);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	mem_free(r);
}

/* ---- statistics and metrics ---- */

static uint64_t sum(const struct relp *r, size_t offset)
{
	uint64_t n = 0;

	for (size_t i = 0; i < r->n_socks; i++) {
		const atomic_uint_fast64_t *a = (const atomic_uint_fast64_t *)(
			(const char *)&r->counts[r->socks[i].listener] + offset);

		n += atomic_load_explicit(a, memory_order_relaxed);
	}
	return n;
}

uint64_t relp_acked(const struct relp *r)
{
	return r ? sum(r, offsetof(struct relp_counts, acked)) : 0;
}

uint64_t relp_abandoned(const struct relp *r)
{
	return r ? sum(r, offsetof(struct relp_counts, abandoned)) : 0;
}

static uint64_t load(const atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static int collect_frames(struct metrics_out *o, void *ctx)
{
	struct relp *r = ctx;
	int rc = 0;

	for (size_t i = 0; i < r->n_socks && !rc; i++) {
		unsigned l = r->socks[i].listener;
		const char *name = ingest_listener_name(r->in, l);

		rc = metrics_sample(o, load(&r->counts[l].acked), "listener", name, "result",
				    "acked", NULL);
		if (!rc)
			rc = metrics_sample(o, load(&r->counts[l].abandoned), "listener", name,
					    "result", "abandoned", NULL);
	}
	return rc;
}

static int collect_sessions(struct metrics_out *o, void *ctx)
{
	struct relp *r = ctx;
	int rc = 0;

	for (size_t i = 0; i < r->n_socks && !rc; i++)
		rc = metrics_sample(o, load(&r->counts[r->socks[i].listener].sessions), "listener",
				    ingest_listener_name(r->in, r->socks[i].listener), NULL);
	return rc;
}

static int collect_slot_waits(struct metrics_out *o, void *ctx)
{
	struct relp *r = ctx;

	return metrics_sample(o, load(&r->slot_waits), NULL);
}

int relp_metrics_register(struct relp *r)
{
	int rc;

	if (!r)
		return 0;
	rc = metrics_register("koban_relp_frames_total", METRICS_COUNTER,
			      "RELP syslog frames by result: acked (answered 200 after their WAL "
			      "commit) or abandoned (unanswered when the session ended, a failed "
			      "commit's included: the sender sends them again).", collect_frames, r);
	if (!rc)
		rc = metrics_register("koban_relp_sessions_total", METRICS_COUNTER,
				      "RELP sessions opened (open accepted).", collect_sessions, r);
	if (!rc)
		rc = metrics_register("koban_relp_slot_waits_total", METRICS_COUNTER,
				      "Times a RELP connection found no free decoding slot of "
				      "acknowledged inputs and waited.", collect_slot_waits, r);
	if (rc < 0)
		metrics_unregister(r);
	return rc;
}
