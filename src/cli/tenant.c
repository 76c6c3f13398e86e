/*
 * tenant.c - `koban tenant add|list|show|remove`.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "store/meta.h"

#define TENANT_USAGE                                          \
	"tenant add NAME\n"                                   \
	"       koban tenant list\n"                          \
	"       koban tenant show NAME\n"                     \
	"       koban tenant remove NAME   (removes its sources too)\n" \
	"NAME: 1-63 of a-z 0-9 _ - starting with a letter or digit."

#define TENANT_COLUMNS 3
#define RELOAD_HINT "reload a running koban with SIGHUP to apply"

/* The text cells of one tenant row; the buffers live in the struct. */
struct tenant_cells {
	char sources[24];
	char created[TIME_RFC3339_LEN];
	const char *cells[TENANT_COLUMNS];
};

static void tenant_cells(const struct meta_tenant *t, struct tenant_cells *tc)
{
	snprintf(tc->sources, sizeof(tc->sources), "%lld", (long long)t->n_sources);
	/* whole seconds: the nanoseconds are noise to a reader */
	time_format_rfc3339(t->created_ns - t->created_ns % NS_PER_SEC, tc->created);
	tc->cells[0] = t->name;
	tc->cells[1] = tc->sources;
	tc->cells[2] = tc->created;
}

static const char *const tenant_header[TENANT_COLUMNS] = { "NAME", "SOURCES", "CREATED" };

static void widen_tenant(void *ctx, const struct meta_tenant *t)
{
	struct tenant_cells tc;

	tenant_cells(t, &tc);
	cli_table_widen(ctx, tc.cells, TENANT_COLUMNS);
}

static void print_tenant(void *ctx, const struct meta_tenant *t)
{
	struct tenant_cells tc;

	tenant_cells(t, &tc);
	cli_table_row(ctx, tc.cells, TENANT_COLUMNS);
}

static int tenant_list(struct meta *m, struct err *e)
{
	size_t width[TENANT_COLUMNS] = { 0 };
	int rc;

	cli_table_widen(width, tenant_header, TENANT_COLUMNS);
	if ((rc = meta_tenant_list(m, widen_tenant, width, e)) < 0)
		return rc;
	cli_table_row(width, tenant_header, TENANT_COLUMNS);
	return meta_tenant_list(m, print_tenant, width, e);
}

static void describe_tenant(void *ctx, const struct meta_tenant *t)
{
	struct tenant_cells tc;

	tenant_cells(t, &tc);
	printf("tenant   %s\ncreated  %s\nsources  %s\n\n", t->name, tc.created, tc.sources);
}

static int tenant_show(struct meta *m, const char *name, struct err *e)
{
	int rc = meta_tenant_get(m, name, describe_tenant, NULL, e);

	return rc < 0 ? rc : cli_print_sources(m, name, e);
}

static void count_sources(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->n_sources;
}

static int tenant_remove(struct meta *m, const char *name, struct err *e)
{
	int64_t n = 0;
	int rc;

	if ((rc = meta_tenant_get(m, name, count_sources, &n, e)) < 0 ||
	    (rc = meta_tenant_remove(m, name, e)) < 0)
		return rc;
	printf("tenant '%s' removed with its %lld source%s; " RELOAD_HINT "\n", name,
	       (long long)n, n == 1 ? "" : "s");
	return 0;
}

static int tenant_add(struct meta *m, const char *name, struct err *e)
{
	int rc = meta_tenant_add(m, name, e);

	if (rc == 0)
		printf("tenant '%s' added; " RELOAD_HINT "\n", name);
	return rc;
}

static int run(struct meta *m, const char *verb, const char *name, struct err *e)
{
	if (!strcmp(verb, "add"))
		return tenant_add(m, name, e);
	if (!strcmp(verb, "show"))
		return tenant_show(m, name, e);
	if (!strcmp(verb, "remove"))
		return tenant_remove(m, name, e);
	return tenant_list(m, e);
}

/* Arguments each verb takes after its name: -1 for an unknown verb. */
static int verb_args(const char *verb)
{
	if (!strcmp(verb, "list"))
		return 0;
	if (!strcmp(verb, "add") || !strcmp(verb, "show") || !strcmp(verb, "remove"))
		return 1;
	return -1;
}

int cmd_tenant(int argc, char **argv)
{
	struct config c;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	const char *verb;
	int rc;

	if ((rc = cli_verb_command(&argc, argv, &c, TENANT_USAGE, &verb)) >= 0)
		return rc;
	rc = 0;
	if (verb_args(verb) < 0 || argc != 2 + verb_args(verb)) {
		rc = cli_usage(TENANT_USAGE);
	} else if (meta_open(&m, c.data_dir, &e) < 0 || run(m, verb, argv[2], &e) < 0) {
		rc = cli_fail(&e);
	}
	meta_close(m);
	config_release(&c);
	return rc;
}
