/*
 * fuzz_control.c - libFuzzer target for the control socket's reader: frames read from a
 * stream (control_read_frame) and request payloads (control_call_parse).
 *
 * The input is the byte stream a client sends. Every frame read must respect the maximum,
 * every parsed request must have its command first and only whole key/value pairs, and a
 * failure must say why.
 */
#include "portal/control.h"
#include "core/buf.h"
#include "core/err.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define INPUT_MAX 60000 /* fits a socket buffer: written at once, then read */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf p = BUF_INIT(CONTROL_FRAME_MAX);
	struct control_call call;
	enum control_frame type;
	struct err e = ERR_INIT;
	int sv[2], rc;

	/* the whole input as one request payload */
	memset(&call, 0, sizeof(call));
	if (control_call_parse(&call, (const char *)data, size, &e) < 0) {
		if (!e.msg[0])
			abort();
	} else if (!call.cmd || call.n > CONTROL_MAX_ARGS) {
		abort();
	} else {
		for (size_t i = 0; i < call.n; i++)
			if (!call.keys[i] || !call.values[i] ||
			    control_call_get(&call, call.keys[i]) == NULL)
				abort();
	}
	/* the input as a stream of frames */
	if (size > INPUT_MAX || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (write(sv[1], data, size) == (ssize_t)size) {
		close(sv[1]);
		sv[1] = -1;
		while ((rc = control_read_frame(sv[0], &type, &p, &e)) == 0) {
			if (p.len > CONTROL_FRAME_MAX)
				abort();
			memset(&call, 0, sizeof(call));
			if (type == CONTROL_REQUEST)
				(void)control_call_parse(&call, p.p, p.len, &e);
		}
		if (rc != -EPIPE && rc != -EBADMSG)
			abort();
	}
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	buf_release(&p);
	return 0;
}
