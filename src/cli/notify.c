/*
 * `koban notify SUB`: the dispatcher of the notification commands (docs/notify.md). Each
 * sub-command lives in its own file: test and log in cli/notifysend.c.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <stdio.h>
#include <string.h>

#define NOTIFY_USAGE                                                                       \
	"notify test --tenant T --channel NAME --to RECIPIENT [--lang ja|en]\n"            \
	"       koban notify log --tenant T [--incident N] [--json]"

int cmd_notify(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} subs[] = {
		{ "test", cmd_notify_test },
		{ "log", cmd_notify_log },
	};

	if (argc >= 2)
		for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
			if (!strcmp(argv[1], subs[i].name))
				return subs[i].fn(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "help"))) {
		printf("usage: koban " NOTIFY_USAGE "\n\nNotifications of incidents "
		       "(docs/notify.md); `koban notify SUB --help` describes one.\n");
		return 0;
	}
	return cli_usage_error("notify", NOTIFY_USAGE, "%s", argc >= 2 ? "unknown sub-command" :
			       "missing sub-command");
}
