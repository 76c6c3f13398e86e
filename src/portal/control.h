/*
 * control.h - the local control socket: CLI commands run by a `koban serve` that holds the
 * data directory.
 *
 * The daemon listens on DATA_DIR/control.sock (a unix stream socket, mode 0600). Every
 * connection's peer is checked with SO_PEERCRED: only the daemon's own uid and root may
 * talk to it; others are closed without an answer (and counted). One connection carries
 * one command:
 *
 *   client -> daemon   REQUEST  "key\0value\0key\0value\0..." (the first key is "cmd")
 *   client -> daemon   DATA*    bytes for the command (ingest: ECS JSON lines), then END
 *   daemon -> client   OUT* / ERR*  what the command prints on standard output / error
 *   daemon -> client   EXIT     the exit status (4 bytes, little endian)
 *
 * A frame is a 4-byte little-endian length (of what follows), a type byte and the payload;
 * no frame is longer than CONTROL_FRAME_MAX. A malformed frame ends the connection.
 *
 * The daemon side is generic: a handler given at start runs each command with the request's
 * arguments and two FILE streams whose bytes go to the client as OUT and ERR frames, so a
 * command prints the same text whether it runs in the CLI or in the daemon.
 *
 * Memory: a call's strings live until the handler returns. Threads: control_start/stop on
 * the main thread; one thread per connection runs the handler (at most CONTROL_MAX_CLIENTS
 * at a time; more wait in the listen queue). The client functions are for one thread.
 */
#ifndef PORTAL_CONTROL_H
#define PORTAL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct buf;
struct err;
struct control;

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_FRAME_MAX (1u << 20)
#define CONTROL_MAX_ARGS 32
#define CONTROL_MAX_CLIENTS 16

enum control_frame {
	CONTROL_REQUEST = 'Q',
	CONTROL_DATA = 'D',
	CONTROL_END = 'E',
	CONTROL_OUT = 'O',
	CONTROL_ERR = 'R',
	CONTROL_EXIT = 'X',
};

/* One command as the daemon's handler sees it. */
struct control_call {
	const char *cmd;                      /* "search", "store stats", ... */
	const char *keys[CONTROL_MAX_ARGS];   /* the other arguments */
	const char *values[CONTROL_MAX_ARGS];
	size_t n;
	uid_t uid;                            /* the peer's, from SO_PEERCRED */
	pid_t pid;
	char who[96];                         /* "alice (uid 1000)" for the audit log */
	FILE *out, *err;                      /* to the client's standard output / error */
	int fd;                               /* the connection (for control_call_read) */
	struct buf *in;                       /* frame buffer for control_call_read */
};

/* The value of key, or NULL. */
const char *control_call_get(const struct control_call *c, const char *key);
/*
 * The next DATA frame's payload into data (replacing its content): 1 with data, 0 at END,
 * or a negative code (connection lost, a malformed frame).
 */
int control_call_read(struct control_call *c, struct buf *data, struct err *e);

/* Runs one command; returns its exit status (0, 1, 2, 3...). */
typedef int control_handler_fn(void *ctx, struct control_call *c);

/*
 * Binds DATA_DIR/control.sock (removing a stale one: the caller holds the data directory's
 * lock) and starts accepting. A path longer than a unix socket address (108 bytes) is bound
 * and reached through /proc/self/fd of the directory. 0 or a negative code with a message.
 */
int control_start(struct control **c, const char *data_dir, control_handler_fn *fn, void *ctx,
		  struct err *e);
/* Stops accepting, ends the connections still open, waits for their threads, removes the socket. */
void control_stop(struct control *c);
/* Connections refused because of their peer's uid. */
uint64_t control_refused(const struct control *c);

/* ---- client ---- */

/* Connects to DATA_DIR/control.sock: 0 and *fd, or a negative code with a message. */
int control_connect(const char *data_dir, int *fd, struct err *e);
/* Sends one frame (type, payload). */
int control_send(int fd, enum control_frame type, const void *p, size_t n, struct err *e);
/*
 * Sends the request: cmd, then n key/value pairs (a NULL value leaves the pair out).
 */
int control_send_request(int fd, const char *cmd, const char *const *keys,
			 const char *const *values, size_t n, struct err *e);
/*
 * Copies the daemon's OUT frames to out and ERR frames to err until EXIT; 0 with *status,
 * or a negative code (the connection ended early, a malformed frame; -ESHUTDOWN when out's
 * reader left, a pipe's read end closed: the caller closes fd and the daemon stops).
 */
int control_relay(int fd, FILE *out, FILE *err, int *status, struct err *e);

/* ---- framing (shared by both sides, for tests) ---- */

/*
 * A request's payload "cmd\0NAME\0KEY\0VALUE\0..." into call's cmd, keys and values, which
 * point into p (it must outlive call); -EBADMSG with a message when malformed.
 */
int control_call_parse(struct control_call *call, const char *p, size_t n, struct err *e);

/*
 * Reads one frame into payload (its content replaced): 0 with *type, -EPIPE at a clean end
 * of stream before any byte of a frame, -EBADMSG for a malformed or too long frame, -errno.
 */
int control_read_frame(int fd, enum control_frame *type, struct buf *payload, struct err *e);

#endif
