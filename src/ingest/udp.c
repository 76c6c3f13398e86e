#include "ingest/udp.h"
#include "core/compat.h"

#define LOG_MODULE "udp"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "ingest/listener.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

/* Batches taken in a row before looking at the stop signal again. */
#define BATCHES_PER_WAKEUP 64
#define UDP_MAX_PAYLOAD 65535

union udp_control {
	char buf[CMSG_SPACE(sizeof(uint32_t))];
	struct cmsghdr align;
};

struct udp_thread {
	struct ingest *in;
	struct listener_stats *stats;
	struct log_limit error_log; /* receive errors: at most a line per 10 s */
	unsigned listener;
	int fd, stop_fd;
	size_t max;        /* longest message delivered */
	size_t slot;       /* bytes of buffer per datagram: one more than can be delivered */
	uint32_t overflow; /* last SO_RXQ_OVFL value: the kernel's count for this socket */
	char *bufs;
	struct mmsghdr hdr[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	union udp_control control[UDP_BATCH];
	struct msg *msgs[UDP_BATCH];
	pthread_t thread;
};

static void prepare_batch(struct udp_thread *u)
{
	for (size_t i = 0; i < UDP_BATCH; i++) {
		struct msghdr *h = &u->hdr[i].msg_hdr;

		u->iov[i].iov_base = u->bufs + i * u->slot;
		u->iov[i].iov_len = u->slot;
		h->msg_name = &u->peer[i];
		h->msg_namelen = sizeof(u->peer[i]);
		h->msg_iov = &u->iov[i];
		h->msg_iovlen = 1;
		h->msg_control = u->control[i].buf;
		h->msg_controllen = sizeof(u->control[i].buf);
		h->msg_flags = 0;
	}
}

/* The kernel reports its cumulative drop count (32 bits, wrapping) with each datagram. */
static void note_overflow(struct udp_thread *u, struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		uint32_t now;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
			continue;
		memcpy(&now, CMSG_DATA(c), sizeof(now));
		if (now != u->overflow)
			atomic_fetch_add_explicit(&u->stats->udp_overflow,
						  (uint32_t)(now - u->overflow),
						  memory_order_relaxed);
		u->overflow = now;
	}
}

static bool is_trailer(char c)
{
	return c == '\n' || c == '\r' || c == '\0';
}

/* Wraps datagram i into a message; NULL when it is empty or memory ran out. */
static struct msg *datagram_msg(struct udp_thread *u, size_t i, int64_t now)
{
	struct msghdr *h = &u->hdr[i].msg_hdr;
	const char *data = u->iov[i].iov_base;
	size_t len = u->hdr[i].msg_len;
	bool cut = (h->msg_flags & MSG_TRUNC) != 0;
	struct ipaddr peer;
	uint16_t port = 0;

	note_overflow(u, h);
	while (!cut && len > 0 && is_trailer(data[len - 1]))
		len--;
	if (len > u->max) {
		len = u->max;
		cut = true;
	}
	if (len == 0) {
		atomic_fetch_add_explicit(&u->stats->udp_empty, 1, memory_order_relaxed);
		return NULL;
	}
	if (ipaddr_from_sockaddr(&peer, (struct sockaddr *)&u->peer[i], &port) < 0)
		memset(&peer, 0, sizeof(peer));
	return ingest_msg_new(u->in, u->listener, &peer, port, now, data, len, cut);
}

/* Pushes what the queue takes and drops the rest, each refused message by its reason. */
static void deliver(struct udp_thread *u, size_t n)
{
	size_t done = 0;

	while (done < n) {
		int why;

		done += ingest_push(u->in, u->msgs + done, n - done, &why);
		if (done < n) {
			ingest_drop(u->in, u->msgs + done, 1, ingest_drop_reason(why));
			done++;
		}
	}
}

/* Receives until the socket is empty or a fair share of batches was taken. */
static void receive(struct udp_thread *u)
{
	for (int round = 0; round < BATCHES_PER_WAKEUP; round++) {
		int64_t now;
		size_t k = 0;
		int n;

		prepare_batch(u);
		n = recvmmsg(u->fd, u->hdr, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_limited(&u->error_log, LOG_LEVEL_WARN, "recvmmsg: %s",
					    strerror(errno));
			return;
		}
		now = time_now_ns();
		for (int i = 0; i < n; i++) {
			struct msg *m = datagram_msg(u, (size_t)i, now);

			if (m)
				u->msgs[k++] = m;
		}
		deliver(u, k);
		if (n < UDP_BATCH)
			return;
	}
}

static void *udp_run(void *arg)
{
	struct udp_thread *u = arg;

	for (;;) {
		struct pollfd pfd[2] = { { u->fd, POLLIN, 0 }, { u->stop_fd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents)
			receive(u);
	}
	/* datagrams the kernel already holds arrived before the stop: take them too */
	receive(u);
	msg_pool_release();
	return NULL;
}

int udp_start(struct udp_thread **out, struct ingest *in, unsigned listener, int fd, int stop_fd,
	      size_t max_message, struct listener_stats *stats, struct err *e)
{
	struct udp_thread *u = mem_calloc(1, sizeof(*u));
	int rc;

	*out = NULL;
	if (!u)
		return err_set(e, -ENOMEM, "udp: out of memory");
	u->in = in;
	u->stats = stats;
	log_limit_init(&u->error_log, 10);
	u->listener = listener;
	u->fd = fd;
	u->stop_fd = stop_fd;
	u->max = max_message;
	u->slot = MIN(max_message, UDP_MAX_PAYLOAD) + 1;
	u->bufs = mem_alloc(u->slot * UDP_BATCH);
	if (!u->bufs) {
		rc = err_set(e, -ENOMEM, "udp: out of memory for receive buffers");
		goto fail;
	}
	rc = pthread_create(&u->thread, NULL, udp_run, u);
	if (rc != 0) {
		rc = err_set(e, -rc, "udp: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(u->thread, "koban-udp");
	*out = u;
	return 0;
fail:
	mem_free(u->bufs);
	mem_free(u);
	return rc;
}

void udp_join(struct udp_thread *u)
{
	if (!u)
		return;
	pthread_join(u->thread, NULL);
	mem_free(u->bufs);
	mem_free(u);
}
