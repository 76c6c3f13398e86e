/*
 * Unit tests of the syslog listeners on real loopback sockets (IPv4 and IPv6): UDP, TCP
 * with both framings, TLS with a throwaway certificate, truncation, framing errors,
 * back-pressure with a tiny queue, connection limit, idle timeout and shutdown.
 *
 * The fair queue, the router and the config address parser are test doubles defined
 * here: the queue records every message it takes, with a capacity the test chooses.
 */
#include "ingest/listener.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "enrich/route.h"
#include "ingest/framing.h"
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- test doubles ---- */

#define Q_MAX 400000
#define N_TENANTS 2

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct msg **q_items;
static size_t q_count;     /* messages taken, kept in q_items */
static size_t q_depth;     /* taken and not yet "consumed" */
static size_t q_capacity;  /* depth at which pushes are refused */
static struct tenant_stats q_stats[N_TENANTS];

int fairq_push(struct fairq *q, unsigned slot, struct msg **m, size_t n, size_t *taken)
{
	size_t k = 0;

	pthread_mutex_lock(&q_lock);
	while (k < n && q_depth < q_capacity && q_count < Q_MAX && m[k]->tenant == slot) {
		q_items[q_count++] = m[k++];
		q_depth++;
	}
	pthread_mutex_unlock(&q_lock);
	*taken = k;
	return k == n ? FAIRQ_OK : FAIRQ_FULL;
}

struct tenant_stats *fairq_stats(struct fairq *q, unsigned slot)
{
	return &q_stats[slot];
}

unsigned fairq_slot_count(const struct fairq *q)
{
	return N_TENANTS;
}

int fairq_slot_in_use(const struct fairq *q, unsigned slot)
{
	return slot < N_TENANTS;
}

const char *fairq_slot_name(const struct fairq *q, unsigned slot)
{
	return slot ? "t1" : "t0";
}

/* Messages starting with "<14>" belong to tenant 1, all others to tenant 0. */
void router_route(struct router *r, unsigned listener, const struct ipaddr *peer,
		  const char *msg, size_t len, struct route *out)
{
	out->tenant = len >= 4 && !memcmp(msg, "<14>", 4) ? 1 : 0;
	out->format = 0;
	out->tz = NULL;
}

const char *config_proto_name(enum listener_proto p)
{
	return p == LISTENER_UDP ? "udp" : p == LISTENER_TCP ? "tcp" : "tls";
}

/* ---- helpers ---- */

static void q_reset(size_t capacity)
{
	pthread_mutex_lock(&q_lock);
	for (size_t i = 0; i < q_count; i++)
		msg_free(q_items[i]);
	q_count = q_depth = 0;
	q_capacity = capacity;
	pthread_mutex_unlock(&q_lock);
	memset(q_stats, 0, sizeof(q_stats));
}

static size_t q_taken(void)
{
	size_t n;

	pthread_mutex_lock(&q_lock);
	n = q_count;
	pthread_mutex_unlock(&q_lock);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits up to 15 s for the queue to hold want messages. */
static bool wait_taken(size_t want)
{
	for (int i = 0; i < 1500 && q_taken() < want; i++)
		sleep_ms(10);
	return q_taken() == want;
}

static uint64_t get(atomic_uint_fast64_t *a)
{
	return atomic_load(a);
}

static bool wait_stat(atomic_uint_fast64_t *a, uint64_t want)
{
	for (int i = 0; i < 500 && get(a) != want; i++)
		sleep_ms(10);
	return get(a) == want;
}

static void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_message_size = 65536;
	c->udp_rcvbuf = 1 << 20;
	c->tcp_max_connections = 64;
	c->tcp_frame_memory = (size_t)256 << 20;
}

static void add_listener(struct config *c, const char *name, enum listener_proto p,
			 const char *address)
{
	struct config_listener *l = &c->listeners[c->n_listeners++];

	l->name = (char *)name;
	l->proto = p;
	l->address = (char *)address;
}

static struct ingest *start(const struct config *c)
{
	struct ingest *in = NULL;
	struct err e = ERR_INIT;

	if (ingest_start(&in, c, NULL, NULL, &e) < 0)
		t_check(0, __FILE__, __LINE__, "ingest_start: %s", e.msg);
	return in;
}

static int connect_to(const char *address, int type)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int fd;

	if (ipaddr_parse_endpoint(address, &ss, &sl, NULL) < 0)
		return -1;
	fd = socket(ss.ss_family, type, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* True when the server closed the connection (read returns 0 or an error) within 5 s. */
static bool closed_by_server(int fd)
{
	struct timeval tv = { 5, 0 };
	char b[4096];
	ssize_t k;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((k = recv(fd, b, sizeof(b), 0)) > 0)
		continue; /* TLS session tickets */
	return k == 0 || errno != EAGAIN;
}

/* A stream of n messages "<13>c<conn> n<seq>" (tenant 0) or "<14>..." (tenant 1). */
static char *make_stream(unsigned conn, size_t n, bool octet, unsigned tenant, size_t *len)
{
	char *s = mem_alloc(n * 40 + 1);
	size_t off = 0;

	for (size_t i = 0; s && i < n; i++) {
		char m[32];
		int k = snprintf(m, sizeof(m), "<%u>c%u n%zu", 13 + tenant, conn, i);

		if (octet)
			off += (size_t)snprintf(s + off, 40, "%d %s", k, m);
		else
			off += (size_t)snprintf(s + off, 40, "%s%s", m, i % 2 ? "\r\n" : "\n");
	}
	*len = off;
	return s;
}

/* Every taken message of connection conn is there once and in order: 0..n-1. */
static void check_sequence(unsigned conn, size_t n)
{
	size_t next = 0;
	char want[32];

	pthread_mutex_lock(&q_lock);
	for (size_t i = 0; i < q_count; i++) {
		const struct msg *m = q_items[i];
		unsigned c;
		size_t seq;

		if (sscanf(m->data + 4, "c%u n%zu", &c, &seq) != 2 || c != conn)
			continue;
		snprintf(want, sizeof(want), "c%u n%zu", c, next);
		if (!t_check(seq == next && !strcmp(m->data + 4, want), __FILE__, __LINE__,
			     "conn %u: got \"%s\", want \"%s\"", conn, m->data, want))
			break;
		next++;
	}
	pthread_mutex_unlock(&q_lock);
	CHECK_INT(next, n);
}

static void stream_count_check(struct ingest *in, size_t listener, uint64_t n)
{
	CHECK_INT(get(&ingest_listener_stats(in, listener)->messages), n);
	CHECK_INT(get(&q_stats[0].received[listener]) + get(&q_stats[1].received[listener]), n);
}

/* ---- tests ---- */

static void test_addresses_port_zero(void)
{
	struct config c;
	struct ingest *in;

	config_init(&c);
	add_listener(&c, "udp", LISTENER_UDP, "127.0.0.1:0");
	add_listener(&c, "tcp6", LISTENER_TCP, "[::1]:0");
	q_reset(1000);
	in = start(&c);
	if (!in)
		return;
	CHECK_INT(ingest_listener_count(in), 2);
	CHECK_STR(ingest_listener_name(in, 1), "tcp6");
	CHECK_INT(ingest_listener_proto(in, 1), LISTENER_TCP);
	CHECK(!strncmp(ingest_listener_address(in, 0), "127.0.0.1:", 10));
	CHECK(strcmp(ingest_listener_address(in, 0), "127.0.0.1:0") != 0);
	CHECK(!strncmp(ingest_listener_address(in, 1), "[::1]:", 6));
	CHECK(strcmp(ingest_listener_address(in, 1), "[::1]:0") != 0);
	ingest_free(in);
}

static void test_bind_failure_names_address(void)
{
	struct config c;
	struct ingest *in, *in2 = NULL;
	struct err e = ERR_INIT;
	char addr[64];

	config_init(&c);
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(1000);
	in = start(&c);
	if (!in)
		return;
	snprintf(addr, sizeof(addr), "%s", ingest_listener_address(in, 0));
	config_init(&c);
	add_listener(&c, "again", LISTENER_TCP, addr);
	CHECK(ingest_start(&in2, &c, NULL, NULL, &e) < 0);
	CHECK(in2 == NULL);
	CHECK(strstr(e.msg, addr) != NULL);
	CHECK(strstr(e.msg, "again") != NULL);
	ingest_free(in);
}

static void test_tcp_both_framings_v4_v6(void)
{
	struct config c;
	struct ingest *in;
	size_t n = 20000, len[3];
	char *s[3];
	int fd[3];

	config_init(&c);
	add_listener(&c, "tcp4", LISTENER_TCP, "127.0.0.1:0");
	add_listener(&c, "tcp6", LISTENER_TCP, "[::1]:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	s[0] = make_stream(0, n, false, 0, &len[0]);
	s[1] = make_stream(1, n, true, 1, &len[1]);
	s[2] = make_stream(2, n, true, 0, &len[2]);
	fd[0] = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	fd[1] = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	fd[2] = connect_to(ingest_listener_address(in, 1), SOCK_STREAM);
	for (int i = 0; i < 3; i++) {
		CHECK(fd[i] >= 0 && send_all(fd[i], s[i], len[i]));
		close(fd[i]);
		mem_free(s[i]);
	}
	CHECK(wait_taken(3 * n));
	for (unsigned i = 0; i < 3; i++)
		check_sequence(i, n);
	stream_count_check(in, 0, 2 * n);
	stream_count_check(in, 1, n);
	CHECK_INT(get(&q_stats[1].received[0]), n);
	CHECK_INT(get(&ingest_listener_stats(in, 0)->connections), 2);
	CHECK(wait_stat(&ingest_listener_stats(in, 0)->active, 0));
	CHECK_INT(get(&ingest_listener_stats(in, 0)->framing_errors), 0);
	ingest_free(in);
}

static bool registered(const char *family)
{
	struct buf out = BUF_INIT(1 << 20);
	bool found = metrics_render(&out) == 0 && strstr(out.p, family);

	buf_release(&out);
	return found;
}

/* The families ingest registers: every tenant x listener pair, listeners by name. */
static void check_metrics(struct ingest *in)
{
	struct buf out = BUF_INIT(1 << 20);

	CHECK_INT(ingest_metrics_register(in), 0);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "\nkoban_events_received_total{tenant=\"t1\",listener=\"udp4\"} 0\n"));
	CHECK(strstr(out.p, "\nkoban_events_received_total{tenant=\"t0\",listener=\"udp6\"} 100\n"));
	CHECK(strstr(out.p, "\nkoban_listener_messages_total{listener=\"udp4\",protocol=\"udp\"} 100\n"));
	CHECK(strstr(out.p, "\n# TYPE koban_listener_active_connections gauge\n"));
	CHECK(strstr(out.p, "\nkoban_udp_receive_overflow_total{listener=\"udp6\",protocol=\"udp\"} 0\n"));
	buf_release(&out);
}

static void test_udp_v4_v6(void)
{
	struct config c;
	struct ingest *in;
	int fd4, fd6;

	config_init(&c);
	add_listener(&c, "udp4", LISTENER_UDP, "127.0.0.1:0");
	add_listener(&c, "udp6", LISTENER_UDP, "[::1]:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	fd4 = connect_to(ingest_listener_address(in, 0), SOCK_DGRAM);
	fd6 = connect_to(ingest_listener_address(in, 1), SOCK_DGRAM);
	CHECK(fd4 >= 0 && fd6 >= 0);
	for (size_t i = 0; i < 200; i++) {
		char m[64];
		int k = snprintf(m, sizeof(m), "<13>c%u n%zu\n", i % 2 ? 4u : 6u, i / 2);

		CHECK(send(i % 2 ? fd4 : fd6, m, (size_t)k, 0) == k);
		if (i % 50 == 0)
			sleep_ms(1);
	}
	CHECK(wait_taken(200));
	check_sequence(4, 100);
	check_sequence(6, 100);
	CHECK_INT(get(&ingest_listener_stats(in, 0)->messages), 100);
	CHECK_INT(get(&q_stats[0].received[1]), 100);
	CHECK_INT(get(&ingest_listener_stats(in, 0)->udp_overflow), 0);
	check_metrics(in);
	close(fd4);
	close(fd6);
	ingest_free(in);
	CHECK(!registered("koban_listener_messages_total"));
}

static void test_udp_drops_counted_by_reason(void)
{
	struct config c;
	struct ingest *in;
	int fd;

	config_init(&c);
	add_listener(&c, "udp", LISTENER_UDP, "127.0.0.1:0");
	q_reset(10);
	in = start(&c);
	if (!in)
		return;
	fd = connect_to(ingest_listener_address(in, 0), SOCK_DGRAM);
	for (int i = 0; i < 30; i++)
		CHECK(send(fd, "<13>x", 5, 0) == 5);
	CHECK(wait_stat(&q_stats[0].received[0], 30));
	CHECK_INT(q_taken(), 10);
	CHECK_INT(get(&q_stats[0].dropped[DROP_QUEUE_FULL]), 20);
	close(fd);
	ingest_free(in);
}

static void test_truncation_tcp_and_udp(void)
{
	static char big[300];
	struct config c;
	struct ingest *in;
	char stream[1000];
	int n, fd;

	memset(big, 'x', sizeof(big) - 1);
	config_init(&c);
	c.max_message_size = 100;
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	add_listener(&c, "udp", LISTENER_UDP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	n = snprintf(stream, sizeof(stream), "<13>%s\n<13>ok\n", big);
	fd = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(fd, stream, (size_t)n));
	close(fd);
	fd = connect_to(ingest_listener_address(in, 1), SOCK_DGRAM);
	CHECK(send(fd, stream, 200, 0) == 200);
	close(fd);
	CHECK(wait_taken(3));
	pthread_mutex_lock(&q_lock);
	for (size_t i = 0; i < q_count; i++) {
		const struct msg *m = q_items[i];
		bool ok = m->len == 100 ? m->truncated && m->data[99] == 'x'
					: !m->truncated && !strcmp(m->data, "<13>ok");

		CHECK(ok);
	}
	pthread_mutex_unlock(&q_lock);
	CHECK_INT(get(&ingest_listener_stats(in, 0)->truncated), 1);
	CHECK_INT(get(&ingest_listener_stats(in, 1)->truncated), 1);
	CHECK_INT(get(&q_stats[0].truncated), 2);
	ingest_free(in);
}

static void test_bad_octet_count_closes(void)
{
	struct config c;
	struct ingest *in;
	int fd;

	config_init(&c);
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	fd = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(fd, "5 <13>a05 <13>b", 15));
	CHECK(closed_by_server(fd));
	close(fd);
	CHECK(wait_taken(1));
	CHECK_INT(get(&ingest_listener_stats(in, 0)->framing_errors), 1);
	ingest_free(in);
}

static void *slow_consumer(void *arg)
{
	atomic_bool *stop = arg;

	while (!atomic_load(stop)) {
		pthread_mutex_lock(&q_lock);
		q_depth = q_depth > 3 ? q_depth - 3 : 0;
		pthread_mutex_unlock(&q_lock);
		sleep_ms(1);
	}
	return NULL;
}

static void test_backpressure_loses_nothing(void)
{
	struct config c;
	struct ingest *in;
	atomic_bool stop = false;
	pthread_t consumer;
	size_t n = 3000, len;
	char *s;
	int fd;

	config_init(&c);
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(4);
	in = start(&c);
	if (!in)
		return;
	pthread_create(&consumer, NULL, slow_consumer, &stop);
	s = make_stream(7, n, false, 0, &len);
	fd = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(fd, s, len));
	close(fd);
	mem_free(s);
	CHECK(wait_taken(n));
	atomic_store(&stop, true);
	pthread_join(consumer, NULL);
	check_sequence(7, n);
	CHECK(get(&q_stats[0].throttled) > 0);
	for (int r = 0; r < DROP_REASON_COUNT; r++)
		CHECK_INT(get(&q_stats[0].dropped[r]), 0);
	stream_count_check(in, 0, n);
	ingest_free(in);
}

/*
 * Stop while the queue refuses: every message that reached koban is counted, taken or
 * dropped for shutdown. With more than PENDING_MAX tiny messages, part of them are still
 * unframed bytes (or unread in the socket) when the drain ends; what the read-out did not
 * read before its deadline stays in the socket, uncounted, as TCP gives no receipt for it
 * (a loaded machine reads less of it: only the accounting is exact).
 */
static void stop_with_undelivered(unsigned conn, size_t n)
{
	struct config c;
	struct ingest *in;
	uint64_t received;
	size_t len;
	char *s;
	int fd;

	config_init(&c);
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(10);
	in = start(&c);
	if (!in)
		return;
	s = make_stream(conn, n, true, 0, &len);
	fd = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(fd, s, len));
	mem_free(s);
	CHECK(wait_stat(&q_stats[0].throttled, 1));
	ingest_free(in);
	close(fd);
	received = get(&q_stats[0].received[0]);
	CHECK(received > 10 && received <= n);
	if (n <= 1024) /* PENDING_MAX: all of it framed before the stop */
		CHECK_INT(received, n);
	CHECK_INT(q_taken(), 10);
	CHECK_INT(get(&q_stats[0].dropped[DROP_SHUTDOWN]), received - 10);
}

static void test_stop_counts_undelivered_as_shutdown(void)
{
	stop_with_undelivered(8, 100);
}

static void test_stop_counts_unframed_as_shutdown(void)
{
	stop_with_undelivered(9, 3000);
}

static void test_connection_limit_and_idle_timeout(void)
{
	struct config c;
	struct ingest *in;
	int a, b;

	config_init(&c);
	c.tcp_max_connections = 1;
	c.tcp_idle_timeout = 1;
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	a = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(wait_stat(&ingest_listener_stats(in, 0)->active, 1));
	b = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(closed_by_server(b));
	CHECK(closed_by_server(a)); /* idle for more than a second */
	CHECK(wait_stat(&ingest_listener_stats(in, 0)->active, 0));
	close(a);
	close(b);
	ingest_free(in);
}

/* ---- hostile senders ---- */

/* A TCP connection to address from the local address src (another 127.0.0.0/8 address). */
static int connect_from(const char *address, const char *src)
{
	struct sockaddr_storage ss;
	struct sockaddr_in from = { .sin_family = AF_INET };
	unsigned sl;
	int fd;

	if (ipaddr_parse_endpoint(address, &ss, &sl, NULL) < 0 ||
	    inet_pton(AF_INET, src, &from.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 && (bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
			connect(fd, (struct sockaddr *)&ss, sl) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_per_address_and_per_listener_limits(void)
{
	struct listener_stats *ls;
	struct config c;
	struct ingest *in;
	int a, b, x, y, z;

	config_init(&c);
	c.tcp_max_per_address = 2;
	c.tcp_max_per_listener = 3;
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	ls = ingest_listener_stats(in, 0);
	a = connect_from(ingest_listener_address(in, 0), "127.0.0.1");
	b = connect_from(ingest_listener_address(in, 0), "127.0.0.1");
	CHECK(wait_stat(&ls->active, 2));
	x = connect_from(ingest_listener_address(in, 0), "127.0.0.1"); /* third from one address */
	CHECK(closed_by_server(x));
	CHECK(wait_stat(&ls->refused[REFUSE_PER_ADDRESS], 1));
	y = connect_from(ingest_listener_address(in, 0), "127.0.0.2"); /* another address: fine */
	CHECK(wait_stat(&ls->active, 3));
	/*
	 * The listener is full and nobody has been idle for a second (each just sent a
	 * message, read before the next accept: the loop serves connections first): refused.
	 */
	CHECK(send_all(a, "<13>a\n", 6));
	CHECK(send_all(b, "<13>b\n", 6));
	CHECK(send_all(y, "<13>y\n", 6));
	CHECK(wait_taken(3));
	z = connect_from(ingest_listener_address(in, 0), "127.0.0.3");
	CHECK(closed_by_server(z));
	CHECK(wait_stat(&ls->refused[REFUSE_LISTENER_FULL], 1));
	CHECK(send_all(y, "<13>still served\n", 17));
	CHECK(wait_taken(4));
	CHECK_INT(get(&ls->active), 3);
	CHECK_INT(get(&ls->evicted[EVICT_FOR_NEW]), 0);
	close(a);
	close(b);
	close(x);
	close(y);
	close(z);
	ingest_free(in);
}

static void test_full_evicts_oldest_idle(void)
{
	struct listener_stats *ls;
	struct config c;
	struct ingest *in;
	int a, b, n;

	config_init(&c);
	c.tcp_max_connections = 2;
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	ls = ingest_listener_stats(in, 0);
	a = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(a, "<13>a\n", 6));
	CHECK(wait_taken(1));
	sleep_ms(700);
	b = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(b, "<13>b\n", 6));
	CHECK(wait_taken(2));
	sleep_ms(700); /* a is now idle for more than the second eviction asks for, b is not */
	n = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(closed_by_server(a));
	CHECK(wait_stat(&ls->evicted[EVICT_FOR_NEW], 1));
	CHECK(send_all(n, "<13>new\n", 8));
	CHECK(send_all(b, "<13>b2\n", 7));
	CHECK(wait_taken(4));
	CHECK_INT(get(&ls->active), 2);
	CHECK_INT(get(&ls->refused[REFUSE_MAX_CONNECTIONS]), 0);
	close(a);
	close(b);
	close(n);
	ingest_free(in);
}

static void test_frame_deadline_and_cut_frames(void)
{
	struct listener_stats *ls;
	struct config c;
	struct ingest *in;
	int slow, octet, fine;

	config_init(&c);
	c.tcp_frame_timeout = 1;
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	ls = ingest_listener_stats(in, 0);
	/* a message that never ends: closed after the deadline, the message counted as cut */
	slow = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(slow, "<13>never ends", 14));
	/* an octet-counted frame the sender abandons: cut at close */
	octet = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(octet, "6 <13>ok50 <13>half", 19));
	close(octet);
	/* whole messages: untouched */
	fine = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(fine, "<13>one\n", 8));
	CHECK(closed_by_server(slow));
	CHECK(wait_stat(&ls->evicted[EVICT_FRAME_TIMEOUT], 1));
	CHECK(wait_stat(&ls->frames_cut, 2));
	CHECK(send_all(fine, "<13>two\n", 8));
	CHECK(wait_taken(3));
	CHECK_INT(get(&ls->active), 1);
	close(slow);
	close(fine);
	ingest_free(in);
}

static void test_frame_memory_budget(void)
{
	struct framer_budget *budget;
	static char part[3000];
	struct listener_stats *ls;
	struct config c;
	struct ingest *in;
	int a, b;

	memset(part, 'x', sizeof(part));
	memcpy(part, "<13>", 4);
	config_init(&c);
	c.tcp_frame_memory = 4096; /* below what the config allows, to keep the test small */
	add_listener(&c, "tcp", LISTENER_TCP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	ls = ingest_listener_stats(in, 0);
	budget = ingest_frame_budget(in);
	a = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(a, part, sizeof(part))); /* grows to 4096 bytes: the whole budget */
	for (int i = 0; i < 500 && atomic_load(&budget->used) != 4096; i++)
		sleep_ms(10);
	CHECK_INT(atomic_load(&budget->used), 4096);
	b = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(b, part, 1500)); /* needs 2048 more: over the budget */
	CHECK(closed_by_server(b));
	CHECK(wait_stat(&ls->evicted[EVICT_MEMORY], 1));
	CHECK_INT(get(&ls->frames_cut), 1);
	CHECK(send_all(a, "\n", 1)); /* a's message completes */
	CHECK(wait_taken(1));
	CHECK(send_all(a, "<13>next\n", 9));
	CHECK(wait_taken(2));
	CHECK_INT(atomic_load(&budget->used), 0); /* the big buffer was given back */
	close(a);
	close(b);
	ingest_free(in);
}

static void test_udp_empty_datagrams_counted(void)
{
	struct config c;
	struct ingest *in;
	int fd;

	config_init(&c);
	add_listener(&c, "udp", LISTENER_UDP, "127.0.0.1:0");
	q_reset(Q_MAX);
	in = start(&c);
	if (!in)
		return;
	fd = connect_to(ingest_listener_address(in, 0), SOCK_DGRAM);
	CHECK(send(fd, "", 0, 0) == 0);
	CHECK(send(fd, "\r\n", 2, 0) == 2);
	CHECK(send(fd, "<13>real", 8, 0) == 8);
	CHECK(wait_taken(1));
	CHECK(wait_stat(&ingest_listener_stats(in, 0)->udp_empty, 2));
	close(fd);
	ingest_free(in);
}

/* ---- TLS ---- */

static char tls_dir[64];

static bool make_cert(struct config *c, char *cert, char *key, size_t n)
{
	char cmd[512];

	snprintf(tls_dir, sizeof(tls_dir), "/tmp/koban-tls-XXXXXX");
	if (!mkdtemp(tls_dir))
		return false;
	snprintf(cert, n, "%s/cert.pem", tls_dir);
	snprintf(key, n, "%s/key.pem", tls_dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-keyout %s -out %s -days 1 -subj /CN=localhost >/dev/null 2>&1",
		 key, cert);
	if (system(cmd) != 0)
		return false;
	c->tls_cert = cert;
	c->tls_key = key;
	return true;
}

static void remove_cert(const char *cert, const char *key)
{
	unlink(cert);
	unlink(key);
	rmdir(tls_dir);
}

static bool tls_send(const char *address, const char *p, size_t n)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int fd = connect_to(address, SOCK_STREAM);
	SSL *ssl = NULL;
	bool ok = false;

	if (!ctx || fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		goto out;
	while (n > 0) {
		int k = SSL_write(ssl, p, (int)(n < 16384 ? n : 16384));

		if (k <= 0)
			goto out;
		p += k;
		n -= (size_t)k;
	}
	/*
	 * Close like a careful sender: close_notify, then wait for the server to close, so
	 * that no unread session ticket turns our close into a reset that discards data.
	 */
	SSL_shutdown(ssl);
	shutdown(fd, SHUT_WR);
	ok = closed_by_server(fd);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * TLS listeners on 127.0.0.1 (and [::1] when v6) with a throwaway certificate; NULL,
 * with everything cleaned up, when that cannot be had (a SKIP without openssl).
 */
#define TLS_PATH_MAX 128

static struct ingest *start_tls(struct config *c, char *cert, char *key, bool v6)
{
	struct ingest *in;

	config_init(c);
	if (!make_cert(c, cert, key, TLS_PATH_MAX)) {
		t_skip("the openssl command could not make a certificate");
		return NULL;
	}
	add_listener(c, "tls", LISTENER_TLS, "127.0.0.1:0");
	if (v6)
		add_listener(c, "tls6", LISTENER_TLS, "[::1]:0");
	q_reset(Q_MAX);
	in = start(c);
	if (!in)
		remove_cert(cert, key);
	return in;
}

static void test_tls_both_framings_and_failed_handshake(void)
{
	char cert[TLS_PATH_MAX], key[TLS_PATH_MAX];
	struct config c;
	struct ingest *in;
	size_t n = 10000, len[2];
	char *s[2];
	int fd;

	in = start_tls(&c, cert, key, true);
	if (!in)
		return;
	s[0] = make_stream(10, n, true, 0, &len[0]);
	s[1] = make_stream(11, n, false, 0, &len[1]);
	CHECK(tls_send(ingest_listener_address(in, 0), s[0], len[0]));
	CHECK(tls_send(ingest_listener_address(in, 1), s[1], len[1]));
	mem_free(s[0]);
	mem_free(s[1]);
	CHECK(wait_taken(2 * n));
	check_sequence(10, n);
	check_sequence(11, n);
	stream_count_check(in, 0, n);
	stream_count_check(in, 1, n);
	fd = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(send_all(fd, "<13>plain text is not a TLS hello\n", 34));
	CHECK(closed_by_server(fd));
	close(fd);
	CHECK(wait_stat(&ingest_listener_stats(in, 0)->tls_failures, 1));
	CHECK_INT(q_taken(), 2 * n);
	ingest_free(in);
	remove_cert(cert, key);
}

/* A client that connects and never says hello is closed after the handshake timeout. */
static void test_tls_silent_client_times_out(void)
{
	char cert[TLS_PATH_MAX], key[TLS_PATH_MAX];
	struct config c;
	struct ingest *in;
	struct listener_stats *st;
	int fd;

	in = start_tls(&c, cert, key, false);
	if (!in)
		return;
	st = ingest_listener_stats(in, 0);
	fd = connect_to(ingest_listener_address(in, 0), SOCK_STREAM);
	CHECK(wait_stat(&st->active, 1));
	for (int i = 0; i < 1500 && get(&st->tls_failures) == 0; i++) /* timeout is 10 s */
		sleep_ms(10);
	CHECK_INT(get(&st->tls_failures), 1);
	CHECK(wait_stat(&st->active, 0));
	CHECK(closed_by_server(fd));
	close(fd);
	ingest_free(in);
	remove_cert(cert, key);
}

static void test_tls_bad_key_is_an_error(void)
{
	struct config c;
	struct ingest *in = NULL;
	struct err e = ERR_INIT;

	config_init(&c);
	c.tls_cert = "/nonexistent/cert.pem";
	c.tls_key = "/nonexistent/key.pem";
	add_listener(&c, "tls", LISTENER_TLS, "127.0.0.1:0");
	CHECK(ingest_start(&in, &c, NULL, NULL, &e) < 0);
	CHECK(strstr(e.msg, "/nonexistent/cert.pem") != NULL);
	c.tls_cert = NULL;
	CHECK(ingest_start(&in, &c, NULL, NULL, &e) < 0);
	CHECK(strstr(e.msg, "syslog.tls.cert") != NULL);
}

int main(void)
{
	q_items = mem_calloc(Q_MAX, sizeof(*q_items));
	if (!q_items)
		return 1;
	T_RUN(test_addresses_port_zero);
	T_RUN(test_bind_failure_names_address);
	T_RUN(test_tcp_both_framings_v4_v6);
	T_RUN(test_udp_v4_v6);
	T_RUN(test_udp_drops_counted_by_reason);
	T_RUN(test_truncation_tcp_and_udp);
	T_RUN(test_bad_octet_count_closes);
	T_RUN(test_backpressure_loses_nothing);
	T_RUN(test_stop_counts_undelivered_as_shutdown);
	T_RUN(test_stop_counts_unframed_as_shutdown);
	T_RUN(test_connection_limit_and_idle_timeout);
	T_RUN(test_per_address_and_per_listener_limits);
	T_RUN(test_full_evicts_oldest_idle);
	T_RUN(test_frame_deadline_and_cut_frames);
	T_RUN(test_frame_memory_budget);
	T_RUN(test_udp_empty_datagrams_counted);
	T_RUN(test_tls_both_framings_and_failed_handshake);
	T_RUN(test_tls_silent_client_times_out);
	T_RUN(test_tls_bad_key_is_an_error);
	q_reset(0);
	mem_free(q_items);
	return t_done();
}
