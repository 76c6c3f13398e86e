#include "portal/control.h"
#include "core/compat.h"

#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#define LOG_MODULE "control"
#include "core/buf.h"
#include "core/err.h"
#include "core/le.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"

#define OUT_BUFFER 65536 /* bytes a command's FILE collects before it sends a frame */
#define REQUEST_MAX (64u << 10)

struct client {
	struct control *owner;
	pthread_t thread;
	int fd;                 /* -1: free slot */
	atomic_bool done;       /* the thread has finished: join and reuse */
	struct ucred cred;
};

struct control {
	int listen_fd;
	int wake[2];            /* a byte on wake[1] stops the accept thread */
	pthread_t thread;
	bool thread_started;
	char *path;             /* DATA_DIR/control.sock */
	control_handler_fn *fn;
	void *ctx;
	bool metrics;           /* registered */
	pthread_mutex_t lock;   /* the slots' fds against control_stop's shutdown */
	struct client clients[CONTROL_MAX_CLIENTS];
	atomic_uint_fast64_t refused, served;
};

/* ---- framing ---- */

static int read_full(int fd, void *p, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, (char *)p + *got, n - *got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		*got += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

int control_read_frame(int fd, enum control_frame *type, struct buf *payload, struct err *e)
{
	unsigned char head[5];
	size_t got;
	uint32_t len;
	int rc;

	buf_reset(payload);
	if ((rc = read_full(fd, head, sizeof(head), &got)) < 0) {
		if (rc == -EPIPE && got == 0)
			return err_set(e, -EPIPE, "the control connection was closed");
		return err_set(e, rc == -EPIPE ? -EBADMSG : rc, "control socket: %s",
			       rc == -EPIPE ? "the connection ended inside a frame" : strerror(-rc));
	}
	len = le_get32(head);
	if (len < 1 || len - 1 > CONTROL_FRAME_MAX || len - 1 > payload->max)
		return err_set(e, -EBADMSG, "control socket: a frame of %u bytes (at most %u)",
			       len, CONTROL_FRAME_MAX + 1);
	*type = (enum control_frame)head[4];
	len--;
	if ((rc = buf_grow(payload, len)) < 0)
		return err_set(e, rc, "control socket: no memory for a frame of %u bytes", len);
	if ((rc = read_full(fd, payload->p, len, &got)) < 0)
		return err_set(e, rc == -EPIPE ? -EBADMSG : rc, "control socket: %s",
			       rc == -EPIPE ? "the connection ended inside a frame" : strerror(-rc));
	payload->len = len;
	payload->p[len] = '\0';
	return 0;
}

int control_send(int fd, enum control_frame type, const void *p, size_t n, struct err *e)
{
	unsigned char head[5];
	int rc;

	if (n > CONTROL_FRAME_MAX)
		return err_set(e, -E2BIG, "control socket: a frame of %zu bytes (at most %u)", n,
			       CONTROL_FRAME_MAX);
	le_put32(head, (uint32_t)n + 1);
	head[4] = (unsigned char)type;
	if ((rc = write_full(fd, head, sizeof(head))) < 0 || (n && (rc = write_full(fd, p, n)) < 0))
		return err_set(e, rc, "control socket: %s", strerror(-rc));
	return 0;
}

/* ---- the daemon's side ---- */

const char *control_call_get(const struct control_call *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->keys[i], key))
			return c->values[i];
	return NULL;
}

int control_call_read(struct control_call *c, struct buf *data, struct err *e)
{
	enum control_frame type;
	int rc = control_read_frame(c->fd, &type, data, e);

	if (rc < 0)
		return rc;
	if (type == CONTROL_END)
		return 0;
	if (type != CONTROL_DATA)
		return err_set(e, -EBADMSG, "control socket: frame type %d where data was expected",
			       (int)type);
	return 1;
}

int control_call_parse(struct control_call *call, const char *p, size_t len, struct err *e)
{
	const char *s = p, *end = p + len;
	const char *kv[2 * CONTROL_MAX_ARGS + 2];
	size_t n = 0;

	call->cmd = NULL;
	call->n = 0;
	while (s < end) {
		const char *z = memchr(s, '\0', (size_t)(end - s));

		if (!z || n == ARRAY_SIZE(kv))
			return err_set(e, -EBADMSG, "control request: %s",
				       z ? "too many arguments" : "an unterminated string");
		kv[n++] = s;
		s = z + 1;
	}
	if (n < 2 || n % 2 || strcmp(kv[0], "cmd"))
		return err_set(e, -EBADMSG, "control request: expected cmd and key/value pairs");
	call->cmd = kv[1];
	for (size_t i = 2; i < n; i += 2) {
		call->keys[call->n] = kv[i];
		call->values[call->n++] = kv[i + 1];
	}
	return 0;
}

struct stream_cookie {
	int fd;
	enum control_frame type;
};

static ssize_t stream_write(void *cookie, const char *p, size_t n)
{
	struct stream_cookie *sc = cookie;
	size_t done = 0;

	while (done < n) {
		size_t part = MIN(n - done, (size_t)CONTROL_FRAME_MAX);
		int rc = control_send(sc->fd, sc->type, p + done, part, NULL);

		if (rc < 0) {
			errno = -rc;
			return -1;
		}
		done += part;
	}
	return (ssize_t)n;
}

static FILE *open_stream(struct stream_cookie *sc, char *buffer)
{
	const cookie_io_functions_t io = { .write = stream_write };
	FILE *f = fopencookie(sc, "w", io);

	if (f && setvbuf(f, buffer, _IOFBF, OUT_BUFFER) != 0) {
		fclose(f);
		return NULL;
	}
	return f;
}

static void describe_peer(struct control_call *call)
{
	char pwbuf[1024];
	struct passwd pw, *res = NULL;

	if (getpwuid_r(call->uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0)
		res = NULL;
	snprintf(call->who, sizeof(call->who), "%s (uid %ld)", res ? res->pw_name : "?",
		 (long)call->uid);
}

static void serve_client(struct client *cl)
{
	struct control *c = cl->owner;
	struct stream_cookie out_c = { cl->fd, CONTROL_OUT }, err_c = { cl->fd, CONTROL_ERR };
	struct control_call call = { 0 };
	struct buf req = BUF_INIT(REQUEST_MAX), in = BUF_INIT(CONTROL_FRAME_MAX);
	enum control_frame type;
	struct err e = ERR_INIT;
	char *obuf = NULL, *ebuf = NULL;
	unsigned char status[4];
	int rc;

	if ((rc = control_read_frame(cl->fd, &type, &req, &e)) < 0 ||
	    (type != CONTROL_REQUEST &&
	     (rc = err_set(&e, -EBADMSG, "control: expected a request frame"))) ||
	    (rc = control_call_parse(&call, req.p, req.len, &e)) < 0) {
		if (rc != -EPIPE)
			log_warn("control connection of pid %ld: %s", (long)cl->cred.pid, e.msg);
		goto fail;
	}
	call.uid = cl->cred.uid;
	call.pid = cl->cred.pid;
	call.fd = cl->fd;
	call.in = &in;
	describe_peer(&call);
	if (!(obuf = mem_alloc(OUT_BUFFER)) || !(ebuf = mem_alloc(OUT_BUFFER)) ||
	    !(call.out = open_stream(&out_c, obuf)) || !(call.err = open_stream(&err_c, ebuf))) {
		log_error("control: out of memory for a connection");
		goto fail;
	}
	log_debug("%s runs '%s'", call.who, call.cmd);
	rc = c->fn(c->ctx, &call);
	atomic_fetch_add_explicit(&c->served, 1, memory_order_relaxed);
	if (fflush(call.out) != 0 || fflush(call.err) != 0)
		goto fail; /* the client went away */
	le_put32(status, (uint32_t)rc);
	if ((rc = control_send(cl->fd, CONTROL_EXIT, status, sizeof(status), &e)) < 0)
		log_debug("%s", e.msg);
fail:
	if (call.out)
		fclose(call.out); /* nothing left to flush, or the client is gone */
	if (call.err)
		fclose(call.err);
	mem_free(obuf);
	mem_free(ebuf);
	buf_release(&req);
	buf_release(&in);
}

static void *client_main(void *arg)
{
	struct client *cl = arg;

	serve_client(cl);
	shutdown(cl->fd, SHUT_RDWR); /* the client sees the end now; reap() closes the fd */
	atomic_store(&cl->done, true);
	return NULL;
}

/* Joins finished client threads and frees their slots; with all, waits for every one. */
static void reap(struct control *c, bool all)
{
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *cl = &c->clients[i];

		if (cl->fd < 0 || (!all && !atomic_load(&cl->done)))
			continue;
		pthread_join(cl->thread, NULL);
		pthread_mutex_lock(&c->lock);
		close(cl->fd);
		cl->fd = -1;
		pthread_mutex_unlock(&c->lock);
	}
}

static struct client *free_slot(struct control *c)
{
	reap(c, false);
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i].fd < 0)
			return &c->clients[i];
	return NULL;
}

static bool peer_allowed(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0 || len != sizeof(*cred))
		return false;
	return cred->uid == 0 || cred->uid == geteuid();
}

static void accept_one(struct control *c)
{
	struct client *cl;
	struct ucred cred;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC), rc;

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			log_warn("accept on %s: %s", c->path, strerror(errno));
		return;
	}
	if (!peer_allowed(fd, &cred)) {
		atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
		log_warn("refused a control connection of uid %ld (pid %ld): only uid %ld and "
			 "root may use %s", (long)cred.uid, (long)cred.pid, (long)geteuid(), c->path);
		close(fd);
		return;
	}
	while (!(cl = free_slot(c))) {
		struct pollfd p = { c->wake[0], POLLIN, 0 };

		if (poll(&p, 1, 50) > 0) { /* stopping */
			close(fd);
			return;
		}
	}
	cl->cred = cred;
	atomic_store(&cl->done, false);
	pthread_mutex_lock(&c->lock);
	cl->fd = fd;
	pthread_mutex_unlock(&c->lock);
	if ((rc = pthread_create(&cl->thread, NULL, client_main, cl)) != 0) {
		log_error("no thread for a control connection: %s", strerror(rc));
		pthread_mutex_lock(&c->lock);
		cl->fd = -1;
		pthread_mutex_unlock(&c->lock);
		close(fd);
	}
}

static void *accept_main(void *arg)
{
	struct control *c = arg;

	for (;;) {
		struct pollfd p[2] = { { c->listen_fd, POLLIN, 0 }, { c->wake[0], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents)
			accept_one(c);
	}
	return NULL;
}

/*
 * The socket address of DATA_DIR/control.sock. A path longer than sun_path is reached through
 * the directory's descriptor (/proc/self/fd/N/control.sock), opened into *dir_fd for the
 * caller to close after bind or connect; else *dir_fd is -1.
 */
static int socket_address(const char *data_dir, struct sockaddr_un *sa, int *dir_fd,
			  struct err *e)
{
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", data_dir,
			 CONTROL_SOCKET_NAME);

	*dir_fd = -1;
	sa->sun_family = AF_UNIX;
	if (n >= 0 && (size_t)n < sizeof(sa->sun_path))
		return 0;
	if ((*dir_fd = open(data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_set(e, -errno, "%s: %s", data_dir, strerror(errno));
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dir_fd,
		 CONTROL_SOCKET_NAME);
	return 0;
}

static char *socket_path(const char *data_dir)
{
	size_t n = strlen(data_dir) + sizeof("/" CONTROL_SOCKET_NAME);
	char *p = mem_alloc(n);

	if (p)
		snprintf(p, n, "%s/%s", data_dir, CONTROL_SOCKET_NAME);
	return p;
}

static int bind_socket(struct control *c, const char *data_dir, struct err *e)
{
	struct sockaddr_un sa;
	int dir_fd, rc = 0;

	if (!(c->path = socket_path(data_dir)))
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = socket_address(data_dir, &sa, &dir_fd, e)) < 0)
		return rc;
	if ((c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		rc = err_set(e, -errno, "control socket: %s", strerror(errno));
	else if (unlink(c->path) < 0 && errno != ENOENT)
		rc = err_set(e, -errno, "%s: cannot remove the old socket: %s", c->path,
			     strerror(errno));
	else if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		rc = err_set(e, -errno, "%s: bind: %s", c->path, strerror(errno));
	else if (chmod(c->path, 0600) < 0 || listen(c->listen_fd, 64) < 0)
		rc = err_set(e, -errno, "%s: %s", c->path, strerror(errno));
	if (dir_fd >= 0)
		close(dir_fd);
	return rc;
}

static int collect_refused(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, control_refused(ctx), NULL);
}

int control_start(struct control **cp, const char *data_dir, control_handler_fn *fn, void *ctx,
		  struct err *e)
{
	struct control *c = mem_calloc(1, sizeof(*c));
	int rc;

	*cp = NULL;
	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	c->listen_fd = -1;
	c->wake[0] = c->wake[1] = -1;
	c->fn = fn;
	c->ctx = ctx;
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->refused, 0);
	atomic_init(&c->served, 0);
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		c->clients[i].fd = -1;
		c->clients[i].owner = c;
		atomic_init(&c->clients[i].done, false);
	}
	if ((rc = bind_socket(c, data_dir, e)) < 0)
		goto fail;
	if (pipe2(c->wake, O_CLOEXEC) < 0) {
		rc = err_set(e, -errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = -pthread_create(&c->thread, NULL, accept_main, c)) < 0) {
		err_set(e, rc, "no thread for the control socket: %s", strerror(-rc));
		goto fail;
	}
	c->thread_started = true;
	if ((rc = metrics_register("koban_control_refused_total", METRICS_COUNTER,
				   "Connections to the control socket refused because of their "
				   "peer's user.", collect_refused, c)) < 0) {
		err_set(e, rc, "control: cannot register its metric: %s", strerror(-rc));
		goto fail;
	}
	c->metrics = true;
	*cp = c;
	return 0;
fail:
	control_stop(c);
	return rc;
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	if (c->metrics)
		metrics_unregister(c); /* first: a scrape may be reading c */
	if (c->thread_started) {
		if (write(c->wake[1], "x", 1) < 0)
			log_error("cannot wake the control thread: %s", strerror(errno));
		pthread_join(c->thread, NULL);
	}
	/* commands still running see their connection end, and stop */
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			shutdown(c->clients[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->lock);
	reap(c, true);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		if (unlink(c->path) < 0 && errno != ENOENT)
			log_warn("%s: %s", c->path, strerror(errno));
	}
	mem_free(c->path);
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	pthread_mutex_destroy(&c->lock);
	mem_free(c);
}

uint64_t control_refused(const struct control *c)
{
	return atomic_load_explicit(&c->refused, memory_order_relaxed);
}

/* ---- the client's side ---- */

int control_connect(const char *data_dir, int *fd, struct err *e)
{
	struct sockaddr_un sa;
	int dir_fd, rc;

	*fd = -1;
	if ((rc = socket_address(data_dir, &sa, &dir_fd, e)) < 0)
		return rc;
	if ((*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		rc = err_set(e, -errno, "socket: %s", strerror(errno));
	else if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(*fd);
		*fd = -1;
		err_set(e, rc, "cannot reach the running koban through %s/%s: %s", data_dir,
			CONTROL_SOCKET_NAME, strerror(-rc));
	}
	if (dir_fd >= 0)
		close(dir_fd);
	return rc;
}

int control_send_request(int fd, const char *cmd, const char *const *keys,
			 const char *const *values, size_t n, struct err *e)
{
	struct buf b = BUF_INIT(REQUEST_MAX);
	int rc = buf_add(&b, "cmd", 4);

	rc = err_first(rc, buf_add(&b, cmd, strlen(cmd) + 1));
	for (size_t i = 0; i < n && !rc; i++) {
		if (!values[i])
			continue;
		rc = buf_add(&b, keys[i], strlen(keys[i]) + 1);
		rc = err_first(rc, buf_add(&b, values[i], strlen(values[i]) + 1));
	}
	if (rc < 0)
		rc = err_set(e, rc, "the request is longer than %u bytes", REQUEST_MAX);
	else
		rc = control_send(fd, CONTROL_REQUEST, b.p, b.len, e);
	buf_release(&b);
	return rc;
}

/*
 * Waits for the next frame on fd; -ESHUTDOWN when out's reader left meanwhile (`koban
 * search ... | head -1`), so that the daemon, seeing the connection closed, stops too.
 */
static int wait_frame(int fd, FILE *out, struct err *e)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = fileno(out), .events = 0 } };

	if (p[1].fd == fd)
		p[1].fd = -1; /* stdout was closed and the socket took its number */
	for (;;) {
		if (poll(p, 2, -1) < 0) { /* a negative fd is left out */
			if (errno == EINTR)
				continue;
			return err_set(e, -errno, "control socket: poll: %s", strerror(errno));
		}
		if (p[1].revents & POLLNVAL)
			p[1].fd = -1; /* not open: nothing to watch */
		else if (p[1].revents & (POLLERR | POLLHUP))
			return err_set(e, -ESHUTDOWN, "the output was closed");
		if (p[0].revents)
			return 0;
	}
}

int control_relay(int fd, FILE *out, FILE *err, int *status, struct err *e)
{
	struct buf p = BUF_INIT(CONTROL_FRAME_MAX);
	enum control_frame type;
	int rc;

	while ((rc = wait_frame(fd, out, e)) == 0 &&
	       (rc = control_read_frame(fd, &type, &p, e)) == 0) {
		if (type == CONTROL_EXIT && p.len == 4) {
			*status = (int)le_get32((const unsigned char *)p.p);
			break;
		}
		if (type != CONTROL_OUT && type != CONTROL_ERR) {
			rc = err_set(e, -EBADMSG, "control socket: unexpected frame type %d",
				     (int)type);
			break;
		}
		if (fwrite(p.p, 1, p.len, type == CONTROL_OUT ? out : err) != p.len) {
			rc = err_set(e, -EIO, "cannot write the output: %s", strerror(errno));
			break;
		}
		if (type == CONTROL_ERR)
			fflush(err);
	}
	if (rc == -EPIPE)
		err_set(e, -EPIPE, "the running koban closed the connection before the command "
			"finished (see its log)");
	buf_release(&p);
	return rc;
}
