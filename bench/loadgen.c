/*
 * loadgen - send syslog messages to a koban (or any syslog receiver) for tests and
 * benchmarks.
 *
 *   loadgen --proto tcp|udp|tls --target HOST:PORT [--framing lf|octet]
 *           [--format rfc5424|rfc3164] [--count N] [--size BYTES] [--rate MSGS_PER_SEC]
 *           [--bind ADDR] [--host NAME] [--tag TEXT] [--ca FILE] [--prebuilt 1]
 *
 * Messages carry a sequence number ("seq=N") and the tag, padded with 'x' to --size
 * bytes (the syslog message itself, without framing). With --prebuilt 1 (benchmarks) a
 * block of PREBUILT messages is formatted once and sent over and over, UDP with
 * sendmmsg, so that the sender spends its CPU on sending. Prints one line:
 *   sent N messages, B bytes in S s (R msg/s)
 * and exits 0 when everything was written to the socket.
 */
#include "core/compat.h"
#include "core/config.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/timeutil.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *proto, *target, *framing, *format, *bind, *host, *tag, *ca;
	long count, size, rate, prebuilt;
};

#define PREBUILT 1024

struct conn {
	int fd;
	SSL *ssl;
};

static void usage(void)
{
	fprintf(stderr, "usage: loadgen --proto tcp|udp|tls --target HOST:PORT [--framing lf|octet]\n"
			"  [--format rfc5424|rfc3164] [--count N] [--size BYTES] [--rate N]\n"
			"  [--bind ADDR] [--host NAME] [--tag TEXT] [--ca FILE] [--prebuilt 1]\n");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ "tcp", NULL, "lf", "rfc5424", NULL, "loadgen", "t", NULL,
			    1000, 200, 0, 0 };
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(k, "--proto")) o->proto = v;
		else if (!strcmp(k, "--target")) o->target = v;
		else if (!strcmp(k, "--framing")) o->framing = v;
		else if (!strcmp(k, "--format")) o->format = v;
		else if (!strcmp(k, "--bind")) o->bind = v;
		else if (!strcmp(k, "--host")) o->host = v;
		else if (!strcmp(k, "--tag")) o->tag = v;
		else if (!strcmp(k, "--ca")) o->ca = v;
		else if (!strcmp(k, "--count")) o->count = atol(v);
		else if (!strcmp(k, "--size")) o->size = atol(v);
		else if (!strcmp(k, "--rate")) o->rate = atol(v);
		else if (!strcmp(k, "--prebuilt")) o->prebuilt = atol(v);
		else usage();
	}
	if (!o->target || o->count < 0 || o->size < 32 || o->size > 1 << 20)
		usage();
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void bind_source(int fd, const char *addr, int family)
{
	struct sockaddr_storage ss = { 0 };

	if (!addr)
		return;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
			die("bad --bind address");
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
			die("bad --bind address");
	}
	if (bind(fd, (struct sockaddr *)&ss, family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6)))
		die("bind");
}

static struct conn connect_to(const struct opts *o)
{
	struct sockaddr_storage ss;
	unsigned sslen;
	struct err e = ERR_INIT;
	struct conn c = { -1, NULL };
	int udp = !strcmp(o->proto, "udp");

	if (ipaddr_parse_endpoint(o->target, &ss, &sslen, &e)) {
		fprintf(stderr, "loadgen: %s\n", e.msg);
		exit(2);
	}
	c.fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (c.fd < 0)
		die("socket");
	bind_source(c.fd, o->bind, ss.ss_family);
	if (connect(c.fd, (struct sockaddr *)&ss, sslen))
		die("connect");
	if (!strcmp(o->proto, "tls")) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

		if (o->ca) {
			if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1)
				die("--ca");
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		}
		c.ssl = SSL_new(ctx);
		SSL_set_fd(c.ssl, c.fd);
		if (SSL_connect(c.ssl) != 1) {
			ERR_print_errors_fp(stderr);
			fprintf(stderr, "loadgen: TLS handshake failed\n");
			exit(1);
		}
	}
	return c;
}

/* Formats message number seq into out (no framing); returns its length. */
static size_t format_msg(const struct opts *o, long seq, char *out)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct civil_time c;
	int n;

	time_to_civil_utc(time_now_ns(), &c);
	if (!strcmp(o->format, "rfc3164"))
		n = snprintf(out, (size_t)o->size + 1,
			     "<134>%s %2d %02d:%02d:%02d %s loadgen[%d]: tag=%s seq=%ld ",
			     mon[c.month - 1], c.day, c.hour, c.min, c.sec, o->host,
			     (int)getpid(), o->tag, seq);
	else
		n = snprintf(out, (size_t)o->size + 1,
			     "<134>1 %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s loadgen %d ID47 "
			     "[origin@32473 tag=\"%s\"] seq=%ld ",
			     c.year, c.month, c.day, c.hour, c.min, c.sec, c.nsec / 1000000,
			     o->host, (int)getpid(), o->tag, seq);
	if (n > o->size)
		n = (int)o->size;
	memset(out + n, 'x', (size_t)(o->size - n));
	return (size_t)o->size;
}

static void send_all(struct conn *c, const char *p, size_t n)
{
	while (n) {
		ssize_t k = c->ssl ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);

		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			die("write");
		}
		p += k;
		n -= (size_t)k;
	}
}

/* Sleeps so that `sent` messages take sent/rate seconds since start. */
static void pace(long rate, long sent, int64_t start)
{
	int64_t due = start + sent * NS_PER_SEC / rate, now = time_now_ns();

	if (due > now) {
		struct timespec ts = { (time_t)((due - now) / NS_PER_SEC),
				       (long)((due - now) % NS_PER_SEC) };

		nanosleep(&ts, NULL);
	}
}

/* Frames message seq into out; returns the bytes written. */
static size_t frame_msg(const struct opts *o, long seq, char *msg, char *out)
{
	size_t n = format_msg(o, seq, msg), len = 0;

	if (!strcmp(o->framing, "octet"))
		len = (size_t)snprintf(out, 16, "%zu ", n);
	memcpy(out + len, msg, n);
	len += n;
	if (strcmp(o->framing, "octet"))
		out[len++] = '\n';
	return len;
}

/* Sends count messages from a block formatted once; returns the bytes sent. */
static size_t send_prebuilt(const struct opts *o, struct conn *c, char *msg)
{
	size_t per = (size_t)o->size + 16, len = 0, bytes = 0;
	char *block = mem_alloc(PREBUILT * per);
	struct mmsghdr hdr[64];
	struct iovec iov[64];

	if (!block)
		die("out of memory");
	if (!strcmp(o->proto, "udp")) {
		for (int i = 0; i < 64; i++) {
			format_msg(o, i, block + (size_t)i * per);
			iov[i] = (struct iovec){ block + (size_t)i * per, (size_t)o->size };
			hdr[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		for (long left = o->count; left > 0;) {
			int k = sendmmsg(c->fd, hdr, left < 64 ? (unsigned)left : 64, 0);

			if (k < 0 && errno != ECONNREFUSED && errno != EINTR)
				die("sendmmsg");
			if (k > 0) {
				left -= k;
				bytes += (size_t)k * (size_t)o->size;
			}
		}
	} else {
		for (long i = 0; i < PREBUILT; i++)
			len += frame_msg(o, i, msg, block + len);
		for (long sent = 0; sent < o->count; sent += PREBUILT) {
			size_t n = len;

			if (o->count - sent < PREBUILT) { /* the last, partial block */
				n = 0;
				for (long i = 0; i < o->count - sent; i++)
					n += frame_msg(o, i, msg, block + n);
			}
			send_all(c, block, n);
			bytes += n;
		}
	}
	mem_free(block);
	return bytes;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct conn c;
	size_t cap = 256 * 1024, len = 0, bytes = 0;
	char *out, *msg;
	int udp;
	int64_t start;
	double secs;

	parse_opts(argc, argv, &o);
	udp = !strcmp(o.proto, "udp");
	c = connect_to(&o);
	out = mem_alloc(cap + (size_t)o.size + 16);
	msg = mem_alloc((size_t)o.size + 1);
	if (!out || !msg)
		die("out of memory");
	start = time_now_ns();
	if (o.prebuilt)
		bytes = send_prebuilt(&o, &c, msg);
	for (long i = 0; !o.prebuilt && i < o.count; i++) {
		if (udp) {
			size_t n = format_msg(&o, i, msg);

			if (send(c.fd, msg, n, 0) < 0 && errno != ECONNREFUSED)
				die("send");
			bytes += n;
		} else {
			len += frame_msg(&o, i, msg, out + len);
			if (len >= cap || i + 1 == o.count || o.rate) {
				send_all(&c, out, len);
				bytes += len;
				len = 0;
			}
		}
		if (o.rate)
			pace(o.rate, i + 1, start);
	}
	if (c.ssl) {
		SSL_CTX *ctx = SSL_get_SSL_CTX(c.ssl);

		SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
		SSL_CTX_free(ctx);
	}
	close(c.fd);
	secs = (double)(time_now_ns() - start) / 1e9;
	printf("sent %ld messages, %zu bytes in %.3f s (%.0f msg/s)\n", o.count, bytes, secs,
	       secs > 0 ? (double)o.count / secs : 0.0);
	mem_free(out);
	mem_free(msg);
	return 0;
}
