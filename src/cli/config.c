/*
 * config.c - `koban config check FILE` and `koban config example`.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"

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

static const struct cli_verb config_verbs[] = {
	{ "check", "config check FILE",
	  "Validates FILE (default: the -c FILE or $KOBAN_CONFIG) without starting\n"
	  "anything; prints \"FILE: ok\" or the first error with its line, and exits 1." },
	{ "example", "config example",
	  "Prints a complete, commented configuration holding the built-in defaults." },
};

static const struct cli_command config_command = {
	"config", "config check FILE\n       koban config example",
	"  check FILE  validate FILE without starting anything; prints \"FILE: ok\"\n"
	"              or the first error with its line, and exits 1\n"
	"  example     print a complete, commented configuration holding the\n"
	"              built-in defaults",
	config_verbs, ARRAY_SIZE(config_verbs),
};

int cmd_config(int argc, char **argv)
{
	static const char *const names[] = { "FILE" };
	const struct cli_verb *verb;
	const char *pos[1];
	struct cli_args a = { NULL, NULL, NULL, NULL, 0, pos, 0, 0, names };
	int rc;

	if ((rc = cli_verb(&argc, &argv, &config_command, &verb)) >= 0)
		return rc;
	a.cmd = verb == &config_verbs[0] ? "config check" : "config example";
	a.usage = verb->usage;
	a.about = verb->about;
	a.max_pos = verb == &config_verbs[0];
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	/* FILE, else the -c FILE or $KOBAN_CONFIG every command takes */
	if (verb == &config_verbs[0] && !pos[0] && !cli_config_path())
		return cli_usage_error(a.cmd, a.usage, "missing FILE");
	if (verb == &config_verbs[0])
		return config_check(pos[0] ? pos[0] : cli_config_path());
	fputs(config_example(), stdout);
	return 0;
}
