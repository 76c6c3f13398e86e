/*
 * config.c - `koban config check FILE` (a dry run of serve's start-up) and
 * `koban config example`.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <sys/stat.h>

#include "core/config.h"
#include "core/err.h"
#include "store/meta.h"

#define CONFIG_USAGE "config check FILE | config example"

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

static int check_file(const char *path)
{
	struct err e = ERR_INIT;
	struct tally t = { 0, 0 };
	struct config c;

	if (config_load(&c, path, &e) < 0)
		return cli_fail(&e);
	(void)config_check(&c, print_problem, &t); /* counted in t */
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

int cmd_config(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "check"))
		return check_file(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "example")) {
		fputs(config_example(), stdout);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: koban " CONFIG_USAGE "\n\n"
		       "  check FILE  load FILE and run the checks serve makes at start, without\n"
		       "              starting anything: listeners clashing on an address and\n"
		       "              port (the admin listener included), TLS files missing or\n"
		       "              unreadable, a data_dir that is not writable or cannot be\n"
		       "              created, no listeners at all; warnings for an admin listener\n"
		       "              off loopback and for limits naming tenants missing from the\n"
		       "              database. Prints each problem with FILE:LINE, then \"FILE: ok\"\n"
		       "              (exit 0) or nothing more (exit 1 on any error)\n"
		       "  example     print a complete, commented configuration holding the\n"
		       "              built-in defaults\n");
		return 0;
	}
	return cli_usage(CONFIG_USAGE);
}
