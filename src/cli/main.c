/*
 * main.c - `koban`: one binary, sub-commands, and the option handling they share.
 *
 * Every command parses its options with cli_getopt() (getopt_long underneath), so they
 * all behave alike: options before or after positional arguments, "--opt VALUE" and
 * "--opt=VALUE", -c FILE anywhere (or KOBAN_CONFIG), -h/--help, and a usage error that
 * names what was wrong and exits 2.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <getopt.h>
#include <stdarg.h>

#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"

#ifndef KOBAN_VERSION
#define KOBAN_VERSION "0.1.0"
#endif

#define CLI_MAX_OPTIONS 16

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
	{ "tenant", cmd_tenant, "add, list, show, remove, export or import tenants" },
	{ "source", cmd_source, "add, list, remove or test the log sources of tenants" },
	{ "reload", cmd_reload, "make the running serve read its configuration again" },
	{ "ingest", cmd_ingest, "store a file's events in a tenant's event store" },
	{ "search", cmd_search, "search a tenant's stored events (docs/query.md)" },
	{ "store", cmd_store, "what the event store holds, and verify it reads back" },
	{ "cert", cmd_cert, "verify a deletion certificate" },
	{ "key", cmd_key, "make the master and signing keys elsewhere (e.g. other media)" },
	{ "token", cmd_token, "add, list or revoke API tokens (docs/api.md)" },
	{ "rule", cmd_rule, "check, test or list Sigma detection rules (docs/detection.md)" },
	{ "alert", cmd_alert, "list, show or add a tenant's alerts (docs/detection.md)" },
	{ "ti", cmd_ti, "import, list, remove or look up threat-intel indicators" },
	{ "asset", cmd_asset, "import, list, show, add, update or remove a tenant's assets" },
	{ "triage", cmd_triage, "try the triage rules on an alert; attackers seen by several tenants" },
	{ "incident", cmd_incident, "list, show, update, comment on, suppress or purge incidents" },
	{ "notify", cmd_notify, "notification policies, explain, test a channel, the delivery log" },
	{ "edl", cmd_edl, "show External Dynamic Lists, edit a tenant's allow-list" },
	{ "help", cmd_help, "describe a command: koban help [COMMAND [SUB-COMMAND]]" },
	{ "version", cmd_version, "print the version" },
};

/* The configuration file named by -c (before or after the command) or KOBAN_CONFIG. */
static const char *config_path;
static bool config_given;
static bool options_parsed; /* cli_getopt() ran: it took any -c already */

static void print_help(FILE *out)
{
	fprintf(out, "usage: koban [-c FILE] COMMAND [ARGS]\n"
		     "       koban --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\noptions (before or after the command):\n"
		     "  -c, --config FILE  configuration file (default: $KOBAN_CONFIG, else\n"
		     "                     built-in defaults with the data in ./var)\n"
		     "  -h, --help         describe koban, or the command it follows\n"
		     "\n`koban help COMMAND` or `koban COMMAND --help` describes one command.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

/* `koban help [COMMAND [SUB-COMMAND]]`: the command's own --help. */
static int cmd_help(int argc, char **argv)
{
	const struct command *c;
	char *args[4];
	int n = 0;

	if (argc < 2) {
		print_help(stdout);
		return 0;
	}
	if (argc > 3 || !(c = find_command(argv[1])) || c->fn == cmd_help ||
	    c->fn == cmd_version) {
		if (argc <= 3 && (c = find_command(argv[1]))) {
			printf("usage: koban %s\n%s\n", c->name, c->help);
			return 0;
		}
		return cli_usage_error("help", "help [COMMAND [SUB-COMMAND]]",
				       argc > 3 ? "unexpected argument '%s'" :
						  "unknown command '%s'",
				       argv[argc > 3 ? 3 : 1]);
	}
	args[n++] = argv[1];
	if (argc == 3)
		args[n++] = argv[2];
	args[n++] = (char *)"--help";
	args[n] = NULL;
	return c->fn(n, args);
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h"))
		return cli_usage_error("version", "version", "unexpected argument '%s'", argv[1]);
	printf("koban %s\n", KOBAN_VERSION);
	return 0;
}

/* ---- shared by the commands ---- */

int cli_fail(const struct err *e)
{
	fprintf(stderr, "koban: %s\n", e->msg[0] ? e->msg : "failed");
	return 1;
}

int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "koban: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: koban %s\n(`koban help %s` describes it)\n", usage, cmd);
	return 2;
}

int cli_set_config(const char *cmd, const char *usage, const char *path)
{
	if (config_given)
		return cli_usage_error(cmd, usage, "repeated option '-c'");
	config_given = true;
	config_path = path;
	return 0;
}

int cli_load_config(int *argc, char **argv, struct config *c)
{
	struct err e = ERR_INIT;
	int out = 1, rc;

	/* Takes out any -c FILE a command did not parse itself. */
	for (int i = 1; i < *argc && !options_parsed; i++) {
		const char *a = argv[i], *path = NULL;

		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (i + 1 == *argc)
				return cli_usage_error(argv[0], argv[0],
						       "option '%s' needs a value", a);
			path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			path = a + 9;
		} else if (!strncmp(a, "-c", 2) && a[2]) {
			path = a + 2;
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if ((rc = cli_set_config(argv[0], argv[0], path)))
			return rc;
	}
	*argc = out;
	argv[out] = NULL;
	if (!config_given) {
		const char *env = getenv("KOBAN_CONFIG");

		config_path = env && *env ? env : NULL;
	}
	if (config_load(c, config_path, &e) < 0)
		return cli_fail(&e);
	return 0;
}

const char *cli_config_path(void)
{
	const char *env = getenv("KOBAN_CONFIG");

	return config_given ? config_path : env && *env ? env : NULL;
}

/* The option as the user wrote it, for messages: "--cidr" out of "--cidr=x". */
static void option_text(const char *arg, char *out, size_t size)
{
	size_t len = strcspn(arg, "=");

	snprintf(out, size, "%.*s", (int)MIN(len, size - 1), arg);
}

int cli_getopt(int argc, char **argv, const struct cli_args *a)
{
	struct option lo[CLI_MAX_OPTIONS + 3];
	size_t n = 0;
	int npos = 0, opt;

	if (a->n_opts > CLI_MAX_OPTIONS)
		return cli_usage_error(a->cmd, a->usage, "too many options (internal)");
	for (; n < a->n_opts; n++)
		lo[n] = (struct option){ a->opts[n].name,
					 a->opts[n].value ? required_argument : no_argument, NULL,
					 (int)(256 + n) };
	lo[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	for (int i = 0; i < a->max_pos; i++)
		a->pos[i] = NULL;
	optind = 0; /* full reset: a command may be parsed after another */
	opterr = 0;
	options_parsed = true;
	while ((opt = getopt_long(argc, argv, ":c:h", lo, NULL)) != -1) {
		char name[64];
		const struct cli_option *o;

		switch (opt) {
		case 'h':
			printf("usage: koban %s\n", a->usage);
			if (a->about)
				printf("\n%s\n", a->about);
			return 0;
		case 'c': {
			int rc = cli_set_config(a->cmd, a->usage, optarg);

			if (rc)
				return rc;
			continue;
		}
		case ':':
			option_text(argv[optind - 1], name, sizeof(name));
			return cli_usage_error(a->cmd, a->usage, "option '%s' needs a value", name);
		case '?':
			option_text(argv[optind - 1], name, sizeof(name));
			if (optopt >= 256 || optopt == 'h') /* a flag given "=VALUE" */
				return cli_usage_error(a->cmd, a->usage,
						       "option '%s' takes no value", name);
			if (optopt)
				return cli_usage_error(a->cmd, a->usage, "unknown option '-%c'",
						       optopt);
			return cli_usage_error(a->cmd, a->usage, "unknown option '%s'", name);
		default:
			break;
		}
		o = &a->opts[opt - 256];
		if (o->value && *o->value)
			return cli_usage_error(a->cmd, a->usage, "repeated option '--%s'", o->name);
		if (o->value)
			*o->value = optarg;
		else if (*o->flag)
			return cli_usage_error(a->cmd, a->usage, "repeated option '--%s'", o->name);
		else
			*o->flag = true;
	}
	for (int i = optind; i < argc; i++) {
		if (npos == a->max_pos)
			return cli_usage_error(a->cmd, a->usage, "unexpected argument '%s'",
					       argv[i]);
		a->pos[npos++] = argv[i];
	}
	if (npos < a->min_pos)
		return cli_usage_error(a->cmd, a->usage, "missing %s", a->pos_names[npos]);
	return -1;
}

int cli_verb(int *argc, char ***argv, const struct cli_command *cmd, const struct cli_verb **verb)
{
	char **v = *argv;
	int i = 1;

	/* -c FILE may come before the sub-command: it is moved after it. */
	while (i < *argc) {
		if ((!strcmp(v[i], "-c") || !strcmp(v[i], "--config")) && i + 1 == *argc)
			return cli_usage_error(cmd->name, cmd->usage, "option '%s' needs a value",
					       v[i]);
		if (!strcmp(v[i], "-c") || !strcmp(v[i], "--config"))
			i += 2;
		else if (!strncmp(v[i], "--config=", 9) || (!strncmp(v[i], "-c", 2) && v[i][2]))
			i++;
		else
			break;
	}
	if (i < *argc && (!strcmp(v[i], "-h") || !strcmp(v[i], "--help") ||
			  !strcmp(v[i], "help"))) {
		const char *want = !strcmp(v[i], "help") && i + 1 < *argc ? v[i + 1] : NULL;

		for (size_t k = 0; want && k < cmd->n_verbs; k++) {
			if (strcmp(want, cmd->verbs[k].name))
				continue;
			printf("usage: koban %s\n\n%s\n", cmd->verbs[k].usage, cmd->verbs[k].about);
			return 0;
		}
		if (want)
			return cli_usage_error(cmd->name, cmd->usage, "unknown sub-command '%s'",
					       want);
		printf("usage: koban %s\n\n%s\n", cmd->usage, cmd->about);
		return 0;
	}
	if (i >= *argc)
		return cli_usage_error(cmd->name, cmd->usage, "missing sub-command");
	for (size_t k = 0; k < cmd->n_verbs; k++) {
		if (strcmp(v[i], cmd->verbs[k].name))
			continue;
		*verb = &cmd->verbs[k];
		/* argv becomes VERB, then the options that preceded it, then the rest */
		{
			char *name = v[i];

			memmove(v + 2, v + 1, (size_t)(i - 1) * sizeof(*v));
			v[1] = name;
		}
		*argv = v + 1;
		*argc -= 1;
		return -1;
	}
	return cli_usage_error(cmd->name, cmd->usage, v[i][0] == '-' ? "unknown option '%s'"
								      : "unknown sub-command '%s'",
			       v[i]);
}

int cli_verb_start(int *argc, char ***argv, const struct cli_command *cmd,
		   struct cli_args *a, struct config *c)
{
	const struct cli_verb *verb;
	int rc;

	if ((rc = cli_verb(argc, argv, cmd, &verb)) >= 0)
		return rc;
	a->about = verb->about;
	if ((rc = cli_getopt(*argc, *argv, a)) >= 0)
		return rc;
	if ((rc = cli_load_config(argc, *argv, c)))
		return rc;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *c;
	int opt;

	if (mem_tune() < 0)
		fprintf(stderr, "koban: the C library refused the allocator's settings "
				"(docs/architecture.md); going on with its defaults\n");
	opterr = 0;
	/* "+": options before the command only; the command parses the rest. */
	while ((opt = getopt_long(argc, argv, "+:c:hV", lo, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (cli_set_config("koban", "[-c FILE] COMMAND [ARGS]", optarg))
				return 2;
			break;
		case 'h':
			print_help(stdout);
			return 0;
		case 'V':
			return cmd_version(1, argv);
		case ':':
			fprintf(stderr, "koban: option '%s' needs a value\n", argv[optind - 1]);
			return 2;
		default:
			if (optopt)
				fprintf(stderr, "koban: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "koban: unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "(`koban help` lists the commands and options)\n");
			return 2;
		}
	}
	if (optind >= argc) {
		print_help(stderr);
		return 2;
	}
	if (!(c = find_command(argv[optind]))) {
		fprintf(stderr, "koban: unknown command '%s' (`koban help` lists them)\n",
			argv[optind]);
		return 2;
	}
	return c->fn(argc - optind, argv + optind);
}
