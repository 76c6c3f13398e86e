/*
 * reload.c - `koban reload [-c FILE]`: SIGHUP to the serve that holds the data directory.
 *
 * The pid comes from the lock on DATA_DIR/koban.pid (core/pidfile), so a stale file left
 * by a crash is recognised rather than signalling whatever process has that pid now.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <signal.h>

#include "core/config.h"
#include "core/err.h"
#include "core/pidfile.h"

#define RELOAD_USAGE "reload [-c FILE]"

int cmd_reload(int argc, char **argv)
{
	const struct cli_args a = {
		"reload", RELOAD_USAGE,
		"Sends SIGHUP to the `koban serve` whose data directory is the one of the\n"
		"configuration (-c FILE; ./var without it), found through the lock on\n"
		"DATA_DIR/koban.pid. The daemon reads its own configuration file again\n"
		"and the tenants and sources; its log names every key that changed.",
		NULL, 0, NULL, 0, 0, NULL,
	};
	struct err e = ERR_INIT;
	struct config c;
	pid_t pid = 0;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	rc = pidfile_running(c.data_dir, &pid, &e);
	config_release(&c);
	if (rc < 0)
		return cli_fail(&e);
	if (kill(pid, SIGHUP) < 0) {
		err_set(&e, -errno, "cannot signal pid %ld: %s", (long)pid, strerror(errno));
		return cli_fail(&e);
	}
	printf("sent SIGHUP to koban serve (pid %ld); its log shows the result\n", (long)pid);
	return 0;
}
