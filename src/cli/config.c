/*
 * config.c - `koban config check FILE` (a dry run of serve's start-up) and
 * `koban config example`.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <sys/stat.h>

#include "core/config.h"
#include "core/err.h"
#include "notify/notify.h"
#include "store/meta.h"

static void count_tenant(void *ctx, const struct meta_tenant *t)
{
	*(bool *)ctx = true;
}

bool cli_tenant_exists(void *meta, const char *name)
{
	bool found = false;

	if (meta_tenant_get(meta, name, count_tenant, &found, NULL) < 0)
		return false;
	return found;
}

struct tally {
	unsigned errors, warnings;
};

static void print_problem(void *ctx, enum config_severity sev, const char *msg)
{
	struct tally *t = ctx;

	if (sev == CONFIG_ERROR)
		t->errors++;
	else
		t->warnings++;
	fprintf(stderr, "koban: %s%s\n", sev == CONFIG_WARNING ? "warning: " : "", msg);
}

/* The tenants exist only in an existing database: a check never creates one. */
static void check_tenants(const struct config *c, struct tally *t)
{
	char path[4096];
	struct err e = ERR_INIT;
	struct meta *m;
	struct stat st;

	if (!c->n_limits)
		return;
	if (snprintf(path, sizeof(path), "%s/koban.db", c->data_dir) >= (int)sizeof(path) ||
	    stat(path, &st) < 0)
		return;
	if (meta_open(&m, c->data_dir, &e) < 0) {
		fprintf(stderr, "koban: warning: cannot check limits.tenants against %s: %s\n",
			path, e.msg);
		t->warnings++;
		return;
	}
	(void)config_check_tenants(c, cli_tenant_exists, m, print_problem, t); /* counted in t */
	meta_close(m);
}

static void print_channel_problem(void *ctx, const char *msg)
{
	print_problem(ctx, CONFIG_ERROR, msg);
}

static int check_file(const char *path)
{
	struct err e = ERR_INIT;
	struct tally t = { 0, 0 };
	struct config c;

	if (config_load(&c, path, &e) < 0)
		return cli_fail(&e);
	(void)config_check(&c, print_problem, &t); /* counted in t */
	/* the notification channels, opened by their types without sending (no secret shown) */
	(void)notify_config_check(&c, print_channel_problem, &t); /* counted in t */
	if (!t.errors)
		check_tenants(&c, &t);
	config_release(&c);
	if (t.errors)
		return 1;
	if (t.warnings)
		printf("%s: ok, %u warning%s\n", path, t.warnings, t.warnings == 1 ? "" : "s");
	else
		printf("%s: ok\n", path);
	return 0;
}

#define CHECK_ABOUT                                                                        \
	"Loads FILE (default: the -c FILE or $KOBAN_CONFIG) and runs the checks serve\n"    \
	"makes at start, without starting anything: listeners clashing on an address and\n" \
	"port (the admin listener included), TLS files missing or unreadable, a data_dir\n"  \
	"that is not writable or cannot be created, no listeners at all; warnings for an\n"  \
	"admin listener off loopback and for limits naming tenants missing from the\n"      \
	"database; each notify.channels entry opened by its type (keys, secret files of\n"  \
	"mode 0600), nothing sent. Prints each problem with FILE:LINE, then \"FILE: ok\" (exit 0) or\n"     \
	"nothing more (exit 1 on any error)."

static const struct cli_verb config_verbs[] = {
	{ "check", "config check FILE", CHECK_ABOUT },
	{ "example", "config example",
	  "Prints a complete, commented configuration holding the built-in defaults." },
};

static const struct cli_command config_command = {
	"config", "config check FILE\n       koban config example",
	"  check FILE  run the checks serve makes at start on FILE, without starting\n"
	"              anything (koban help config check tells which)\n"
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
		return check_file(pos[0] ? pos[0] : cli_config_path());
	fputs(config_example(), stdout);
	return 0;
}
