/*
 * config.c - `koban config check FILE` and `koban config example`.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"

#define CONFIG_USAGE "config check FILE | config example"

static int config_check(const char *path)
{
	struct err e = ERR_INIT;
	struct config c;

	if (config_load(&c, path, &e) < 0)
		return cli_fail(&e);
	config_release(&c);
	printf("%s: ok\n", path);
	return 0;
}

int cmd_config(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "check"))
		return config_check(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "example")) {
		fputs(config_example(), stdout);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: koban " CONFIG_USAGE "\n\n"
		       "  check FILE  validate FILE without starting anything; prints \"FILE: ok\"\n"
		       "              or the first error with its line, and exits 1\n"
		       "  example     print a complete, commented configuration holding the\n"
		       "              built-in defaults\n");
		return 0;
	}
	return cli_usage(CONFIG_USAGE);
}
