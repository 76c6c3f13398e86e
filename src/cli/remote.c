/*
 * remote.c - commands through a running `koban serve`: the client side (connect, send the
 * parsed arguments, relay the output) and the daemon's dispatcher for its control socket.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/pidfile.h"
#include "portal/control.h"

#define CONNECT_TRIES 100      /* a starting daemon gets this many waits to bind its socket */
#define CONNECT_WAIT_US 100000

int cli_remote_connect(const struct config *c, int *fd)
{
	struct err e = ERR_INIT;
	pid_t pid;
	int rc;

	*fd = -1;
	rc = pidfile_running(c->data_dir, &pid, &e);
	if (rc == -ESRCH || rc == -ENOENT)
		return 0; /* no daemon: the command opens the store itself */
	if (rc < 0) {
		cli_fail(&e);
		return -1;
	}
	/* a daemon still starting holds the lock before its socket exists: wait for it */
	for (int tries = 0; (rc = control_connect(c->data_dir, fd, &e)) < 0; tries++) {
		struct err gone = ERR_INIT;

		if ((rc != -ENOENT && rc != -ECONNREFUSED) || tries == CONNECT_TRIES) {
			fprintf(stderr, "koban: koban serve (pid %ld) holds %s, but: %s\n",
				(long)pid, c->data_dir, e.msg);
			return -1;
		}
		if (pidfile_running(c->data_dir, &pid, &gone) == -ESRCH)
			return 0; /* it stopped meanwhile: open the store here */
		usleep(CONNECT_WAIT_US);
	}
	return 1;
}

int cli_remote_run(int fd, const char *cmd, const char *const *keys,
		   const char *const *values, size_t n)
{
	struct err e = ERR_INIT;
	int status = 1;

	if (control_send_request(fd, cmd, keys, values, n, &e) < 0 ||
	    control_relay(fd, stdout, stderr, &status, &e) < 0) {
		if (e.code != -ESHUTDOWN) { /* nobody reads: nothing to say (as after SIGPIPE) */
			fflush(stdout);
			cli_fail(&e);
		}
		status = 1;
	}
	close(fd);
	return status;
}

int cli_remote_handle(void *ctx, struct control_call *call)
{
	const struct cli_remote *r = ctx;

	if (!strcmp(call->cmd, "search"))
		return cli_search_remote(r, call);
	if (!strcmp(call->cmd, "store stats") || !strcmp(call->cmd, "store verify"))
		return cli_store_remote(r, call);
	if (!strcmp(call->cmd, "tenant erase"))
		return cli_erase_remote(r, call);
	if (!strcmp(call->cmd, "ingest"))
		return cli_ingest_remote(r, call);
	fprintf(call->err, "koban: the running koban does not know the command '%s' (is it an "
		"older version?)\n", call->cmd);
	return 1;
}
