/*
 * source.c - `koban source add|list|remove`: the log sources of tenants, and the
 * aligned tables the tenant and source commands print.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/tz.h"
#include "store/meta.h"

#define SOURCE_USAGE                                                                     \
	"source add NAME --tenant T [--cidr CIDR] [--host NAME] [--listener L]\n"        \
	"                         [--format auto|rfc3164|rfc5424] [--tz ZONE]\n"         \
	"       koban source list [--tenant T]\n"                                        \
	"       koban source remove NAME\n"                                              \
	"A source needs at least one of --cidr, --host, --listener; a message goes to\n" \
	"the tenant of the most specific matching source, else to _unassigned."

#define SOURCE_COLUMNS 7
#define RELOAD_HINT "reload a running koban with SIGHUP to apply"

void cli_table_widen(size_t *width, const char *const *cells, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = cells[i] ? strlen(cells[i]) : 1;

		width[i] = MAX(width[i], len);
	}
}

void cli_table_row(const size_t *width, const char *const *cells, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *cell = cells[i] ? cells[i] : "-";

		if (i + 1 < n)
			printf("%-*s  ", (int)width[i], cell);
		else
			printf("%s\n", cell);
	}
}

static const char *const source_header[SOURCE_COLUMNS] = {
	"NAME", "TENANT", "CIDR", "HOST", "LISTENER", "FORMAT", "TZ",
};

struct source_table {
	size_t width[SOURCE_COLUMNS];
	size_t rows;
};

static void source_cells(const struct meta_source *s, const char *cells[SOURCE_COLUMNS])
{
	cells[0] = s->name;
	cells[1] = s->tenant;
	cells[2] = s->cidr;
	cells[3] = s->host;
	cells[4] = s->listener;
	cells[5] = s->format;
	cells[6] = s->tz;
}

static void widen_source(void *ctx, const struct meta_source *s)
{
	struct source_table *t = ctx;
	const char *cells[SOURCE_COLUMNS];

	source_cells(s, cells);
	cli_table_widen(t->width, cells, SOURCE_COLUMNS);
	t->rows++;
}

static void print_source(void *ctx, const struct meta_source *s)
{
	struct source_table *t = ctx;
	const char *cells[SOURCE_COLUMNS];

	source_cells(s, cells);
	cli_table_row(t->width, cells, SOURCE_COLUMNS);
}

int cli_print_sources(struct meta *m, const char *tenant, struct err *e)
{
	struct source_table t = { .rows = 0 };
	int rc;

	cli_table_widen(t.width, source_header, SOURCE_COLUMNS);
	if ((rc = meta_source_list(m, tenant, widen_source, &t, e)) < 0)
		return rc;
	if (t.rows == 0) {
		printf("no sources (add one with `koban source add NAME --tenant %s --cidr CIDR`)\n",
		       tenant ? tenant : "TENANT");
		return 0;
	}
	cli_table_row(t.width, source_header, SOURCE_COLUMNS);
	return meta_source_list(m, tenant, print_source, &t, e);
}

/* ---- argument parsing ---- */

struct option_value {
	const char *name;   /* "--tenant" */
	const char **value;
};

/*
 * Takes "--opt VALUE" or "--opt=VALUE" at argv[*i] into the matching option; 0, or -1
 * for an unknown, repeated or value-less option.
 */
static int take_option(int argc, char **argv, int *i, const struct option_value *opts,
		       size_t n)
{
	const char *arg = argv[*i];

	for (size_t k = 0; k < n; k++) {
		size_t len = strlen(opts[k].name);
		const char *value;

		if (strncmp(arg, opts[k].name, len) || (arg[len] != '\0' && arg[len] != '='))
			continue;
		if (arg[len] == '=')
			value = arg + len + 1;
		else if (*i + 1 < argc)
			value = argv[++*i];
		else
			return -1;
		if (*opts[k].value)
			return -1;
		*opts[k].value = value;
		return 0;
	}
	return -1;
}

/*
 * Parses argv[2..] into at most one positional argument and the options; returns 0 or
 * -1 for bad usage.
 */
static int parse_args(int argc, char **argv, const char **positional,
		      const struct option_value *opts, size_t n)
{
	for (int i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "--", 2)) {
			if (take_option(argc, argv, &i, opts, n) < 0)
				return -1;
		} else if (positional && !*positional) {
			*positional = argv[i];
		} else {
			return -1;
		}
	}
	return positional && !*positional ? -1 : 0;
}

/* ---- sub-commands ---- */

/* The store cannot know this machine's listeners: warn about a name that is not one. */
static void warn_unknown_listener(const char *listener, const struct config *c)
{
	size_t i;

	for (i = 0; i < c->n_listeners; i++)
		if (!strcmp(c->listeners[i].name, listener))
			return;
	fprintf(stderr, "koban: warning: no listener '%s' in the configuration (", listener);
	for (i = 0; i < c->n_listeners; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", c->listeners[i].name);
	fprintf(stderr, "): the source matches nothing until there is one\n");
}

static int source_add(struct meta *m, const struct config *c, int argc, char **argv)
{
	struct meta_source s = { .name = NULL };
	const struct option_value opts[] = {
		{ "--tenant", &s.tenant }, { "--cidr", &s.cidr }, { "--host", &s.host },
		{ "--listener", &s.listener }, { "--format", &s.format }, { "--tz", &s.tz },
	};
	struct err e = ERR_INIT;

	if (parse_args(argc, argv, &s.name, opts, ARRAY_SIZE(opts)) < 0 || !s.tenant)
		return cli_usage(SOURCE_USAGE);
	/* A zone this machine cannot load is refused here rather than ignored later. */
	if (meta_source_check(&s, &e) < 0 || (s.tz && !tz_get(s.tz, strlen(s.tz), &e)))
		return cli_fail(&e);
	if (meta_source_add(m, &s, &e) < 0)
		return cli_fail(&e);
	if (s.listener)
		warn_unknown_listener(s.listener, c);
	printf("source '%s' added to tenant '%s'; " RELOAD_HINT "\n", s.name, s.tenant);
	return 0;
}

static int source_list(struct meta *m, int argc, char **argv)
{
	const char *tenant = NULL;
	const struct option_value opts[] = { { "--tenant", &tenant } };
	struct err e = ERR_INIT;

	if (parse_args(argc, argv, NULL, opts, ARRAY_SIZE(opts)) < 0)
		return cli_usage(SOURCE_USAGE);
	if (cli_print_sources(m, tenant, &e) < 0)
		return cli_fail(&e);
	return 0;
}

static int source_remove(struct meta *m, int argc, char **argv)
{
	const char *name = NULL;
	struct err e = ERR_INIT;

	if (parse_args(argc, argv, &name, NULL, 0) < 0)
		return cli_usage(SOURCE_USAGE);
	if (meta_source_remove(m, name, &e) < 0)
		return cli_fail(&e);
	printf("source '%s' removed; " RELOAD_HINT "\n", name);
	return 0;
}

int cmd_source(int argc, char **argv)
{
	struct config c;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	const char *verb;
	int rc;

	if ((rc = cli_verb_command(&argc, argv, &c, SOURCE_USAGE, &verb)) >= 0)
		return rc;
	rc = 0;
	if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "remove")) {
		rc = cli_usage(SOURCE_USAGE);
	} else if (meta_open(&m, c.data_dir, &e) < 0) {
		rc = cli_fail(&e);
	} else if (!strcmp(verb, "add")) {
		rc = source_add(m, &c, argc, argv);
	} else if (!strcmp(verb, "list")) {
		rc = source_list(m, argc, argv);
	} else {
		rc = source_remove(m, argc, argv);
	}
	meta_close(m);
	config_release(&c);
	return rc;
}
