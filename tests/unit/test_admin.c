/* Unit tests of the admin HTTP listener: metrics text, escaping, routing, binding. */
#include "portal/admin.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/fairq.h"
#include "core/msg.h"
#include "ingest/listener.h"
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

/*
 * Test doubles. The listeners are a fixed table. config_proto_name is weak so that the
 * real one from core/config.c wins when the library has it.
 */
struct ingest {
	size_t n;
	const char *name[3];
	enum listener_proto proto[3];
	struct listener_stats stats[3];
};

size_t ingest_listener_count(const struct ingest *in)
{
	return in->n;
}

const char *ingest_listener_name(const struct ingest *in, size_t i)
{
	return in->name[i];
}

enum listener_proto ingest_listener_proto(const struct ingest *in, size_t i)
{
	return in->proto[i];
}

struct listener_stats *ingest_listener_stats(struct ingest *in, size_t i)
{
	return &in->stats[i];
}

__attribute__((weak)) const char *config_proto_name(enum listener_proto p)
{
	return p == LISTENER_UDP ? "udp" : p == LISTENER_TCP ? "tcp" : "tls";
}

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

static void fake_listeners(struct ingest *in)
{
	memset(in, 0, sizeof(*in));
	in->n = 2;
	in->name[0] = "udp";
	in->proto[0] = LISTENER_UDP;
	in->name[1] = "tcp \"main\"";
	in->proto[1] = LISTENER_TCP;
	atomic_store(&in->stats[0].udp_overflow, 11);
	atomic_store(&in->stats[1].active, 4);
	atomic_store(&in->stats[1].messages, 1000);
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

static void test_render_without_listeners(void)
{
	struct fairq *q = tenants();
	struct buf out = BUF_INIT(1 << 20);

	CHECK_INT(admin_metrics_render(&out, q, NULL), 0);
	CHECK_LINE(out.p, "# HELP koban_events_received_total "
		   "Messages received for the tenant, by listener.");
	CHECK_LINE(out.p, "# TYPE koban_events_received_total counter");
	/* Without listener names only the non-zero indices, labelled by number. */
	CHECK_LINE(out.p, "koban_events_received_total{tenant=\"acme\",listener=\"1\"} 7");
	CHECK(!strstr(out.p, "listener=\"0\""));
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
	CHECK(!strstr(out.p, "koban_listener_"));
	buf_release(&out);
	fairq_free(q);
}

static void test_render_with_listeners(void)
{
	struct fairq *q = tenants();
	struct buf out = BUF_INIT(1 << 20);
	struct ingest in;

	fake_listeners(&in);
	CHECK_INT(admin_metrics_render(&out, q, &in), 0);
	CHECK_LINE(out.p, "koban_events_received_total{tenant=\"acme\",listener=\"udp\"} 0");
	CHECK_LINE(out.p, "koban_events_received_total{tenant=\"acme\","
		   "listener=\"tcp \\\"main\\\"\"} 7");
	CHECK_LINE(out.p, "# TYPE koban_listener_messages_total counter");
	CHECK_LINE(out.p, "koban_listener_messages_total{listener=\"tcp \\\"main\\\"\","
		   "protocol=\"tcp\"} 1000");
	CHECK_LINE(out.p, "# TYPE koban_listener_active_connections gauge");
	CHECK_LINE(out.p, "koban_listener_active_connections{listener=\"tcp \\\"main\\\"\","
		   "protocol=\"tcp\"} 4");
	CHECK_LINE(out.p, "koban_udp_receive_overflow_total{listener=\"udp\",protocol=\"udp\"} 11");
	CHECK(!strstr(out.p, "koban_udp_receive_overflow_total{listener=\"tcp"));
	buf_release(&out);
	fairq_free(q);
}

static void test_render_limit(void)
{
	struct fairq *q = tenants();
	struct buf out = BUF_INIT(100);

	CHECK_INT(admin_metrics_render(&out, q, NULL), -ENOSPC);
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
	struct ingest in;
	int fds = count_fds();

	fake_listeners(&in);
	CHECK_INT(admin_start(&a, "127.0.0.1:0", q, &in, &e), 0);
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
	CHECK_INT(admin_metrics_render(&expect, q, &in), 0);
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

	if (admin_start(&a, "[::1]:0", q, NULL, &e) < 0) {
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

	CHECK(admin_start(&a, "not an address", q, NULL, &e) == -EINVAL);
	CHECK(a == NULL);
	CHECK(e.msg[0] != '\0');
	/* A port in use: the message names the address. */
	CHECK_INT(admin_start(&a, "127.0.0.1:0", q, NULL, &e), 0);
	if (a) {
		CHECK_INT(admin_start(&b, admin_address(a), q, NULL, &e), -EADDRINUSE);
		CHECK(b == NULL);
		CHECK(strstr(e.msg, admin_address(a)) != NULL);
		admin_stop(a);
	}
	fairq_free(q);
}

int main(void)
{
	T_RUN(test_render_without_listeners);
	T_RUN(test_render_with_listeners);
	T_RUN(test_render_limit);
	T_RUN(test_http);
	T_RUN(test_ipv6);
	T_RUN(test_bad_addresses);
	return t_done();
}
