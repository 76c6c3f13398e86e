/*
 * Unit tests of the request deadline for libmicrohttpd (portal/httpguard): a client that
 * trickles its request is closed at the deadline and counted, one that sends its request
 * at once is answered.
 */
#include "portal/httpguard.h"
#include "core/err.h"
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	static char ok[] = "ok\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	httpguard_request_read(c);
	r = MHD_create_response_from_buffer(strlen(ok), ok, MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int connect_port(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads until the server closes (true) or timeout_ms pass without it (false). */
static bool closed_within(int fd, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	char b[512];
	ssize_t k;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((k = recv(fd, b, sizeof(b), 0)) > 0)
		continue;
	return k == 0 || errno == ECONNRESET;
}

static bool answered(int fd)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct timeval tv = { 5, 0 };
	char b[512];
	ssize_t k;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		return false;
	k = recv(fd, b, sizeof(b) - 1, 0);
	if (k <= 0)
		return false;
	b[k] = '\0';
	return strstr(b, "200 OK") && strstr(b, "ok\n");
}

static void test_trickler_cut_whole_request_answered(void)
{
	struct sockaddr_in lo = { .sin_family = AF_INET };
	struct err e = ERR_INIT;
	struct httpguard *g = NULL;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	int slow, fast;

	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_INT(httpguard_new(&g, 1, &e), 0);
	if (!g)
		return;
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
			     handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&lo,
			     MHD_OPTION_CONNECTION_TIMEOUT, 60u,
			     MHD_OPTION_NOTIFY_CONNECTION, httpguard_notify_connection, g,
			     MHD_OPTION_NOTIFY_COMPLETED, httpguard_notify_completed, g,
			     MHD_OPTION_END);
	CHECK(d != NULL);
	if (!d) {
		httpguard_free(g);
		return;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	slow = connect_port(di->port);
	/* a byte every 300 ms never lets the 60 s inactivity timeout fire */
	for (int i = 0; i < 4; i++) {
		CHECK(send(slow, "G", 1, MSG_NOSIGNAL) == 1);
		sleep_ms(300);
	}
	CHECK(closed_within(slow, 3000));
	for (int i = 0; i < 100 && httpguard_cut(g) < 1; i++)
		sleep_ms(10); /* counted just after the shutdown the client saw */
	CHECK_INT(httpguard_cut(g), 1);
	fast = connect_port(di->port);
	CHECK(answered(fast));
	CHECK_INT(httpguard_cut(g), 1);
	close(slow);
	close(fast);
	MHD_stop_daemon(d);
	httpguard_free(g);
}

int main(void)
{
	T_RUN(test_trickler_cut_whole_request_answered);
	return t_done();
}
