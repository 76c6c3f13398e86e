/*
 * Unit tests of the control socket: frames both ways, a command's output relayed with its
 * exit status, streamed data read by the handler, malformed and oversized frames refused,
 * the socket's mode, and commands still running when the daemon stops.
 */
#include "core/buf.h"
#include "core/err.h"
#include "core/le.h"
#include "portal/control.h"
#include "t.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *data_dir(void)
{
	static char dir[256];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), t_name());
	mkdir(dir, 0700);
	return dir;
}

/* The handler of the tests: "echo" prints its arguments, "sum" counts data bytes. */
static int handler(void *ctx, struct control_call *c)
{
	struct buf data = BUF_INIT(CONTROL_FRAME_MAX);
	struct err e = ERR_INIT;
	unsigned long total = 0;
	int rc;

	(void)ctx;
	if (!strcmp(c->cmd, "echo")) {
		for (size_t i = 0; i < c->n; i++)
			fprintf(c->out, "%s=%s\n", c->keys[i], c->values[i]);
		fprintf(c->err, "who=%s\n", c->who);
		return 7;
	}
	if (!strcmp(c->cmd, "sum")) {
		while ((rc = control_call_read(c, &data, &e)) > 0)
			total += data.len;
		buf_release(&data);
		if (rc < 0)
			return 1;
		fprintf(c->out, "%lu\n", total);
		return 0;
	}
	if (!strcmp(c->cmd, "big")) {
		for (int i = 0; i < 100000; i++)
			fprintf(c->out, "line %d\n", i);
		return 0;
	}
	fprintf(c->err, "unknown %s\n", c->cmd);
	return 2;
}

/* Runs cmd with the pairs; the output into out and err, the status returned. */
static int call(const char *dir, const char *cmd, const char *const *keys,
		const char *const *values, size_t n, char **out, char **err)
{
	struct err e = ERR_INIT;
	size_t olen, elen;
	FILE *fo = open_memstream(out, &olen), *fe = open_memstream(err, &elen);
	int fd, status = -1;

	if (control_connect(dir, &fd, &e) < 0 ||
	    control_send_request(fd, cmd, keys, values, n, &e) < 0 ||
	    control_relay(fd, fo, fe, &status, &e) < 0)
		t_check(0, __FILE__, __LINE__, "%s", e.msg);
	if (fd >= 0)
		close(fd);
	fclose(fo);
	fclose(fe);
	return status;
}

static void test_command_output_and_status(void)
{
	const char *dir = data_dir();
	const char *keys[] = { "tenant", "skipped", "query" };
	const char *values[] = { "city-a", NULL, "a b | stats count()" };
	struct control *c = NULL;
	struct err e = ERR_INIT;
	char path[512], *out = NULL, *err = NULL, who[64];
	struct stat st;

	CHECK_INT(control_start(&c, dir, handler, NULL, &e), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, CONTROL_SOCKET_NAME);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_INT(call(dir, "echo", keys, values, 3, &out, &err), 7);
	CHECK_STR(out, "tenant=city-a\nquery=a b | stats count()\n");
	snprintf(who, sizeof(who), "(uid %ld)\n", (long)getuid());
	CHECK(strstr(err, who) != NULL);
	free(out);
	free(err);
	CHECK_INT(call(dir, "nothing", NULL, NULL, 0, &out, &err), 2);
	CHECK_STR(out, "");
	CHECK_STR(err, "unknown nothing\n");
	free(out);
	free(err);
	/* more output than one frame's buffer */
	CHECK_INT(call(dir, "big", NULL, NULL, 0, &out, &err), 0);
	CHECK(strstr(out, "line 0\nline 1\n") == out);
	CHECK(strstr(out, "line 99999\n") != NULL);
	free(out);
	free(err);
	control_stop(c);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
}

static void test_data_stream(void)
{
	const char *dir = data_dir();
	struct control *c = NULL;
	struct err e = ERR_INIT;
	char chunk[4096];
	char *out = NULL;
	size_t olen;
	FILE *fo;
	int fd, status = -1;

	memset(chunk, 'x', sizeof(chunk));
	CHECK_INT(control_start(&c, dir, handler, NULL, &e), 0);
	CHECK_INT(control_connect(dir, &fd, &e), 0);
	CHECK_INT(control_send_request(fd, "sum", NULL, NULL, 0, &e), 0);
	for (int i = 0; i < 100; i++)
		CHECK_INT(control_send(fd, CONTROL_DATA, chunk, sizeof(chunk), &e), 0);
	CHECK_INT(control_send(fd, CONTROL_END, NULL, 0, &e), 0);
	fo = open_memstream(&out, &olen);
	CHECK_INT(control_relay(fd, fo, stderr, &status, &e), 0);
	fclose(fo);
	close(fd);
	CHECK_INT(status, 0);
	CHECK_STR(out, "409600\n");
	free(out);
	/* a frame larger than the maximum is refused before it is sent */
	CHECK_INT(control_send(-1, CONTROL_DATA, chunk, CONTROL_FRAME_MAX + 1, &e), -E2BIG);
	control_stop(c);
}

/* The reader on one end of a socket pair, given raw bytes on the other. */
static int read_raw(const void *p, size_t n, enum control_frame *type, struct buf *payload)
{
	struct err e = ERR_INIT;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -errno;
	if (n && write(sv[1], p, n) != (ssize_t)n)
		rc = -EIO;
	else {
		close(sv[1]);
		sv[1] = -1;
		rc = control_read_frame(sv[0], type, payload, &e);
	}
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}

/*
 * The client's output reader leaves (`koban search ... | head -1`) while the daemon has
 * nothing to send: the relay ends at once with -ESHUTDOWN, so that the client closes the
 * connection and the daemon's search sees it gone (it used to wait for the next frame).
 */
static void test_relay_output_gone(void)
{
	struct err e = ERR_INIT;
	int sv[2], out[2], status = -1;
	FILE *fo;

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_INT(pipe(out), 0);
	fo = fdopen(out[1], "w");
	if (!fo)
		return;
	close(out[0]);
	CHECK_INT(control_relay(sv[0], fo, stderr, &status, &e), -ESHUTDOWN);
	CHECK_STR(e.msg, "the output was closed");
	CHECK_INT(status, -1);
	fclose(fo);
	close(sv[0]);
	close(sv[1]);
}

static void test_frames(void)
{
	struct buf p = BUF_INIT(CONTROL_FRAME_MAX);
	enum control_frame type;
	unsigned char raw[16];

	/* good: length 4 = type + 3 bytes */
	le_put32(raw, 4);
	raw[4] = 'O';
	memcpy(raw + 5, "abc", 3);
	CHECK_INT(read_raw(raw, 8, &type, &p), 0);
	CHECK_INT(type, CONTROL_OUT);
	CHECK_INT((int)p.len, 3);
	CHECK_STR(p.p, "abc");
	/* a clean end, a cut header, a cut payload, a zero length, a huge length */
	CHECK_INT(read_raw(raw, 0, &type, &p), -EPIPE);
	CHECK_INT(read_raw(raw, 3, &type, &p), -EBADMSG);
	CHECK_INT(read_raw(raw, 6, &type, &p), -EBADMSG);
	le_put32(raw, 0);
	CHECK_INT(read_raw(raw, 5, &type, &p), -EBADMSG);
	le_put32(raw, 0xfffffff0u);
	CHECK_INT(read_raw(raw, 5, &type, &p), -EBADMSG);
	le_put32(raw, CONTROL_FRAME_MAX + 2);
	CHECK_INT(read_raw(raw, 5, &type, &p), -EBADMSG);
	buf_release(&p);
}

/* Raw bytes as a request to a running daemon; the bytes that come back. */
static size_t raw_request(const char *dir, const void *p, size_t n, char *back, size_t max)
{
	struct err e = ERR_INIT;
	size_t got = 0;
	ssize_t r;
	int fd;

	if (control_connect(dir, &fd, &e) < 0)
		return 0;
	if (write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return 0;
	}
	shutdown(fd, SHUT_WR);
	while (got < max && (r = read(fd, back + got, max - got)) > 0)
		got += (size_t)r;
	close(fd);
	return got;
}

static void test_malformed_requests(void)
{
	static const struct {
		const char *payload;
		size_t len;
	} bad[] = {
		{ "", 0 },                        /* no pairs */
		{ "cmd", 3 },                     /* unterminated */
		{ "cmd\0echo", 8 },               /* unterminated value */
		{ "tenant\0a\0cmd\0echo\0", 19 }, /* cmd not first */
		{ "cmd\0echo\0key\0", 13 },       /* a key without value */
	};
	const char *dir = data_dir();
	struct control *c = NULL;
	struct err e = ERR_INIT;
	unsigned char frame[64];
	char back[256];

	CHECK_INT(control_start(&c, dir, handler, NULL, &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		le_put32(frame, (uint32_t)bad[i].len + 1);
		frame[4] = 'Q';
		memcpy(frame + 5, bad[i].payload, bad[i].len);
		CHECK_INT((int)raw_request(dir, frame, 5 + bad[i].len, back, sizeof(back)), 0);
	}
	/* a data frame where the request should be */
	le_put32(frame, 1);
	frame[4] = 'D';
	CHECK_INT((int)raw_request(dir, frame, 5, back, sizeof(back)), 0);
	/* and the daemon still answers a good one */
	{
		char *out = NULL, *err = NULL;

		CHECK_INT(call(dir, "echo", NULL, NULL, 0, &out, &err), 7);
		free(out);
		free(err);
	}
	control_stop(c);
}

/* A client that never ends its data: control_stop cuts it off and returns. */
static void test_stop_with_client_open(void)
{
	const char *dir = data_dir();
	struct control *c = NULL;
	struct err e = ERR_INIT;
	char back[64];
	int fd;

	CHECK_INT(control_start(&c, dir, handler, NULL, &e), 0);
	CHECK_INT(control_connect(dir, &fd, &e), 0);
	CHECK_INT(control_send_request(fd, "sum", NULL, NULL, 0, &e), 0);
	CHECK_INT(control_send(fd, CONTROL_DATA, "abc", 3, &e), 0);
	control_stop(c);
	CHECK(read(fd, back, sizeof(back)) <= 0); /* the end, or a reset: no answer */
	close(fd);
	CHECK(control_connect(dir, &fd, &e) < 0); /* nobody listens any more */
}

/* A data directory whose socket path is longer than a unix socket address holds. */
static void test_long_path(void)
{
	char dir[400];
	char *out = NULL, *err = NULL;
	struct control *c = NULL;
	struct err e = ERR_INIT;
	size_t n;

	n = (size_t)snprintf(dir, sizeof(dir), "%s/%s/", t_tmp_dir(), t_name());
	mkdir(dir, 0700);
	memset(dir + n, 'd', 150);
	dir[n + 150] = '\0';
	CHECK_INT(mkdir(dir, 0700), 0);
	CHECK_INT(control_start(&c, dir, handler, NULL, &e), 0);
	CHECK_INT(call(dir, "echo", NULL, NULL, 0, &out, &err), 7);
	free(out);
	free(err);
	control_stop(c);
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_frames);
	T_RUN(test_relay_output_gone);
	T_RUN(test_command_output_and_status);
	T_RUN(test_data_stream);
	T_RUN(test_malformed_requests);
	T_RUN(test_stop_with_client_open);
	T_RUN(test_long_path);
	return t_done();
}
