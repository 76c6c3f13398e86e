/* Unit tests of the admin HTTP listener and the fair queue's metric families: text, escaping, routing, binding. */
#include "portal/admin.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/fairq.h"
#include "core/msg.h"
#include "core/metrics.h"
#include "t.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- fixtures ---- */

static struct fairq *tenants(void)
{
	struct fairq_config cfg = { 100, 1 << 20, 8 };
	struct err e = ERR_INIT;
	struct fairq *q = NULL;
	struct tenant_stats *st;
	struct msg *m;
	size_t taken;

	CHECK_INT(fairq_new(&q, &cfg, &e), 0);
	CHECK_INT(fairq_slot(q, "acme", 4), 0);
	CHECK_INT(fairq_slot(q, "we\"ird\\name\nx", 13), 1);
	st = fairq_stats(q, 0);
	atomic_store(&st->received[1], 7);
	atomic_store(&st->parsed, 5);
	atomic_store(&st->parse_failed, 2);
	atomic_store(&st->dropped[DROP_RATE_LIMIT], 3);
	atomic_store(&fairq_stats(q, 1)->throttled, 9);
	m = msg_new("x", 1);
	fairq_push(q, 0, &m, 1, &taken);
	return q;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define CHECK_LINE(text, line) t_check(has_line(text, line), __FILE__, __LINE__, \
				       "missing line: %s", line)

/* ---- rendering ---- */

static void test_render_tenants(void)
{
	struct fairq *q = tenants();
	struct buf out = BUF_INIT(1 << 20);

	CHECK_INT(fairq_metrics_register(q), 0);
	CHECK_INT(fairq_metrics_register(q), -EEXIST);
	CHECK_INT(metrics_render(&out), 0);
	CHECK_LINE(out.p, "# HELP koban_events_parsed_total "
		   "Messages of the tenant decoded into an event.");
	CHECK_LINE(out.p, "# TYPE koban_events_parsed_total counter");
	CHECK_LINE(out.p, "koban_events_parsed_total{tenant=\"acme\"} 5");
	CHECK_LINE(out.p, "koban_events_parse_failed_total{tenant=\"acme\"} 2");
	CHECK_LINE(out.p, "koban_events_truncated_total{tenant=\"acme\"} 0");
	CHECK_LINE(out.p, "koban_events_dropped_total{tenant=\"acme\",reason=\"rate_limit\"} 3");
	CHECK_LINE(out.p, "koban_events_dropped_total{tenant=\"acme\",reason=\"queue_full\"} 0");
	CHECK_LINE(out.p, "koban_events_dropped_total{tenant=\"acme\",reason=\"no_memory\"} 0");
	CHECK_LINE(out.p, "koban_events_dropped_total{tenant=\"acme\",reason=\"shutdown\"} 0");
	CHECK_LINE(out.p, "# TYPE koban_queue_depth gauge");
	CHECK_LINE(out.p, "koban_queue_depth{tenant=\"acme\"} 1");
	/* Escaped label value: backslash, quote and newline. */
	CHECK_LINE(out.p, "koban_events_throttled_total{tenant=\"we\\\"ird\\\\name\\nx\"} 9");
	CHECK_LINE(out.p, "koban_queue_depth{tenant=\"we\\\"ird\\\\name\\nx\"} 0");
	buf_release(&out);
	fairq_free(q); /* unregisters */
	buf_init(&out, 1 << 20);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(!strstr(out.p, "koban_events_parsed_total"));
	buf_release(&out);
}

static void test_render_limit(void)
{
	struct fairq *q = tenants();
	struct buf out = BUF_INIT(100);

	CHECK_INT(fairq_metrics_register(q), 0);
	CHECK_INT(metrics_render(&out), -ENOSPC);
	buf_release(&out);
	fairq_free(q);
}

/* ---- HTTP ---- */

struct reply {
	int status;
	struct buf text; /* whole response: status line, headers, body */
	const char *body;
};

/* Sends one HTTP/1.0 request to address and reads the reply until the server closes. */
static int http(const char *address, const char *request, struct reply *r)
{
	struct sockaddr_storage ss;
	struct timeval tv = { 5, 0 };
	char chunk[4096];
	unsigned sslen;
	ssize_t got;
	int fd;

	buf_init(&r->text, 1 << 22);
	r->status = 0;
	r->body = "";
	if (ipaddr_parse_endpoint(address, &ss, &sslen, NULL) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		close(fd);
		return -1;
	}
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_add(&r->text, chunk, (size_t)got) < 0)
			break;
	close(fd);
	r->body = strstr(r->text.p, "\r\n\r\n");
	r->body = r->body ? r->body + 4 : "";
	return sscanf(r->text.p, "HTTP/1.%*d %d", &r->status) == 1 ? 0 : -1;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void test_http(void)
{
	struct fairq *q = tenants();
	struct buf expect = BUF_INIT(1 << 20);
	struct admin *a = NULL;
	struct err e = ERR_INIT;
	struct reply r;
	int fds = count_fds();

	CHECK_INT(fairq_metrics_register(q), 0);
	CHECK_INT(admin_start(&a, "127.0.0.1:0", &e), 0);
	if (!a) {
		t_check(0, __FILE__, __LINE__, "admin_start: %s", e.msg);
		fairq_free(q);
		return;
	}
	CHECK(!strncmp(admin_address(a), "127.0.0.1:", 10));
	CHECK(strcmp(admin_address(a), "127.0.0.1:0") != 0);

	CHECK_INT(http(admin_address(a), "GET /metrics HTTP/1.0\r\n\r\n", &r), 0);
	CHECK_INT(r.status, 200);
	CHECK(strstr(r.text.p, "\r\nContent-Type: text/plain; version=0.0.4; "
			      "charset=utf-8\r\n"));
	CHECK_INT(metrics_render(&expect), 0);
	CHECK_STR(r.body, expect.p);
	buf_release(&r.text);

	CHECK_INT(http(admin_address(a), "GET /healthz HTTP/1.0\r\n\r\n", &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "ok\n");
	buf_release(&r.text);

	CHECK_INT(http(admin_address(a), "GET /nothing HTTP/1.0\r\n\r\n", &r), 0);
	CHECK_INT(r.status, 404);
	buf_release(&r.text);

	CHECK_INT(http(admin_address(a), "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
		       &r), 0);
	CHECK_INT(r.status, 405);
	CHECK(strstr(r.text.p, "\r\nAllow: GET, HEAD\r\n"));
	buf_release(&r.text);

	CHECK_INT(http(admin_address(a), "HEAD /healthz HTTP/1.0\r\n\r\n", &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "");
	buf_release(&r.text);

	admin_stop(a);
	CHECK_INT(count_fds(), fds); /* the listening socket is closed too */
	buf_release(&expect);
	fairq_free(q);
}

static void test_ipv6(void)
{
	struct fairq *q = tenants();
	struct admin *a = NULL;
	struct err e = ERR_INIT;
	struct reply r;

	if (admin_start(&a, "[::1]:0", &e) < 0) {
		t_skip("no IPv6 loopback");
		fairq_free(q);
		return;
	}
	CHECK(!strncmp(admin_address(a), "[::1]:", 6));
	CHECK_INT(http(admin_address(a), "GET /healthz HTTP/1.0\r\n\r\n", &r), 0);
	CHECK_INT(r.status, 200);
	buf_release(&r.text);
	admin_stop(a);
	fairq_free(q);
}

static void test_bad_addresses(void)
{
	struct fairq *q = tenants();
	struct admin *a = NULL, *b = NULL;
	struct err e = ERR_INIT;

	CHECK(admin_start(&a, "not an address", &e) == -EINVAL);
	CHECK(a == NULL);
	CHECK(e.msg[0] != '\0');
	/* A port in use: the message names the address. */
	CHECK_INT(admin_start(&a, "127.0.0.1:0", &e), 0);
	if (a) {
		CHECK_INT(admin_start(&b, admin_address(a), &e), -EADDRINUSE);
		CHECK(b == NULL);
		CHECK(strstr(e.msg, admin_address(a)) != NULL);
		admin_stop(a);
	}
	fairq_free(q);
}

int main(void)
{
	T_RUN(test_render_tenants);
	T_RUN(test_render_limit);
	T_RUN(test_http);
	T_RUN(test_ipv6);
	T_RUN(test_bad_addresses);
	return t_done();
}
