/*
 * main.c - `koban`: one binary, sub-commands.
 */
#include "cli/cli.h"
#include "core/compat.h"
#include "core/config.h"
#include "core/err.h"

#ifndef KOBAN_VERSION
#define KOBAN_VERSION "0.1.0"
#endif

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
	{ "serve", cmd_serve, "run the daemon (syslog listeners, workers, admin HTTP)" },
	{ "parse", cmd_parse, "print messages from a file or stdin as ECS JSON, one per line" },
	{ "config", cmd_config, "check a configuration file, or print a complete example" },
	{ "tenant", cmd_tenant, "add, list, show or remove tenants" },
	{ "source", cmd_source, "add, list or remove log sources of tenants" },
	{ "reload", cmd_reload, "make the running serve read its configuration again" },
	{ "help", cmd_help, "list the sub-commands" },
	{ "version", cmd_version, "print the version" },
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: koban COMMAND [-c FILE] [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		printf("  %-8s %s\n", commands[i].name, commands[i].help);
	printf("\nWithout -c, koban uses built-in defaults with its data in ./var.\n"
	       "`koban COMMAND --help` describes one command.\n");
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	printf("koban %s\n", KOBAN_VERSION);
	return 0;
}

int cli_fail(const struct err *e)
{
	fprintf(stderr, "koban: %s\n", e->msg[0] ? e->msg : "failed");
	return 1;
}

int cli_usage(const char *usage)
{
	fprintf(stderr, "usage: koban %s\n", usage);
	return 2;
}

int cli_load_config(int *argc, char **argv, struct config *c)
{
	const char *path = NULL;
	struct err e = ERR_INIT;
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < *argc) {
			path = argv[++i];
			continue;
		}
		if (!strncmp(a, "--config=", 9)) {
			path = a + 9;
			continue;
		}
		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	if (config_load(c, path, &e) < 0)
		return cli_fail(&e);
	return 0;
}

int cli_verb_command(int *argc, char **argv, struct config *c, const char *usage,
		     const char **verb)
{
	int rc = cli_load_config(argc, argv, c);

	if (rc)
		return rc;
	*verb = *argc > 1 ? argv[1] : "";
	if (!strcmp(*verb, "--help") || !strcmp(*verb, "-h") || !strcmp(*verb, "help")) {
		printf("usage: koban %s\n", usage);
		config_release(c);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "help";

	if (!strcmp(name, "-h") || !strcmp(name, "--help"))
		name = "help";
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc > 1 ? argc - 1 : 1, argc > 1 ? argv + 1 : argv);
	fprintf(stderr, "koban: unknown command '%s' (see `koban help`)\n", name);
	return 2;
}
