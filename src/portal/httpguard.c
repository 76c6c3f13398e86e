#include "portal/httpguard.h"
#include "core/compat.h"

#define LOG_MODULE "http"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

struct guard_conn {
	struct guard_conn *prev, *next;
	struct httpguard *g;
	int fd;
	int64_t since;   /* monotonic ns the request's clock started */
	bool armed;      /* a request is being read */
	bool shut;       /* already shut down */
};

struct httpguard {
	pthread_mutex_t lock;     /* guards conns, stop and every record */
	pthread_cond_t wake;
	struct guard_conn *conns;
	int64_t deadline_ns;
	bool stop;
	pthread_t thread;
	atomic_uint_fast64_t cut;
	struct log_limit cut_log;
	struct log_limit mhd_log;
};

/* Shuts down the sockets of connections whose request is late; called with the lock. */
static void sweep(struct httpguard *g, int64_t now)
{
	for (struct guard_conn *r = g->conns; r; r = r->next) {
		if (!r->armed || r->shut || now - r->since < g->deadline_ns)
			continue;
		r->shut = true;
		if (shutdown(r->fd, SHUT_RDWR) < 0) {
			log_limited(&g->cut_log, LOG_LEVEL_WARN, "shutdown: %s", strerror(errno));
			continue;
		}
		atomic_fetch_add_explicit(&g->cut, 1, memory_order_relaxed);
		log_limited(&g->cut_log, LOG_LEVEL_INFO,
			    "closing a connection whose request took longer than %lld s",
			    (long long)(g->deadline_ns / NS_PER_SEC));
	}
}

static void *guard_run(void *arg)
{
	struct httpguard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
		if (!g->stop)
			sweep(g, time_mono_ns());
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int httpguard_new(struct httpguard **out, unsigned deadline_s, struct err *e)
{
	struct httpguard *g = mem_calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!g)
		return err_set(e, -ENOMEM, "http: out of memory");
	g->deadline_ns = (int64_t)deadline_s * NS_PER_SEC;
	log_limit_init(&g->cut_log, 10);
	log_limit_init(&g->mhd_log, 10);
	atomic_init(&g->cut, 0);
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&g->thread, NULL, guard_run, g);
	if (rc != 0) {
		rc = err_set(e, -rc, "http: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(g->thread, "koban-httpguard");
	*out = g;
	return 0;
fail:
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	mem_free(g);
	return rc;
}

void httpguard_free(struct httpguard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	while (g->conns) { /* none once the daemon stopped; free what is left anyway */
		struct guard_conn *r = g->conns;

		g->conns = r->next;
		mem_free(r);
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	mem_free(g);
}

static void started(struct httpguard *g, struct MHD_Connection *c, void **socket_context)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct guard_conn *r;

	*socket_context = NULL;
	if (!ci || !(r = mem_calloc(1, sizeof(*r))))
		return; /* unguarded: libmicrohttpd's own timeout still applies */
	r->g = g;
	r->fd = ci->connect_fd;
	r->since = time_mono_ns();
	r->armed = true;
	pthread_mutex_lock(&g->lock);
	r->next = g->conns;
	if (g->conns)
		g->conns->prev = r;
	g->conns = r;
	pthread_mutex_unlock(&g->lock);
	*socket_context = r;
}

static void closed(struct httpguard *g, void **socket_context)
{
	struct guard_conn *r = *socket_context;

	if (!r)
		return;
	pthread_mutex_lock(&g->lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		g->conns = r->next;
	if (r->next)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&g->lock);
	mem_free(r);
	*socket_context = NULL;
}

void httpguard_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				 enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		started(cls, c, socket_context);
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		closed(cls, socket_context);
}

static struct guard_conn *record_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void set_armed(struct MHD_Connection *c, bool armed)
{
	struct guard_conn *r = record_of(c);

	if (!r)
		return;
	pthread_mutex_lock(&r->g->lock);
	r->armed = armed;
	r->since = time_mono_ns();
	pthread_mutex_unlock(&r->g->lock);
}

void httpguard_notify_completed(void *cls, struct MHD_Connection *c, void **con_cls,
				enum MHD_RequestTerminationCode toe)
{
	set_armed(c, true);
}

void httpguard_request_read(struct MHD_Connection *c)
{
	set_armed(c, false);
}

uint64_t httpguard_cut(const struct httpguard *g)
{
	return atomic_load_explicit(&g->cut, memory_order_relaxed);
}

void httpguard_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpguard *g = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_limited(&g->mhd_log, LOG_LEVEL_WARN, "%s", line);
}
