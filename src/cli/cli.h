/*
 * cli.h - the `koban` sub-commands.
 *
 * main() finds the sub-command by name and calls it with argv starting at the
 * sub-command's name (argv[0] = "parse", ...). A command returns the process exit
 * status: 0 success, 1 failure (message already printed to stderr), 2 usage error.
 * Every command accepts "-c FILE" (configuration; built-in defaults without it).
 * Main thread only.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct err;
struct meta;

int cmd_serve(int argc, char **argv);
int cmd_parse(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
int cmd_source(int argc, char **argv);
int cmd_reload(int argc, char **argv);

/*
 * Shared option handling: removes "-c FILE" / "--config FILE" / "--config=FILE" from
 * argv (updating *argc) and loads the configuration into c, printing any error.
 * Returns 0, or the exit status to return (1).
 */
int cli_load_config(int *argc, char **argv, struct config *c);
/*
 * The common start of a command with verbs (tenant, source): loads the configuration
 * (cli_load_config) and sets *verb to argv[1] or "". Returns -1 to go on, or the exit
 * status: 0 after printing usage for --help/-h/help, 1 on a configuration error. When it
 * returns -1 the caller owns c and releases it.
 */
int cli_verb_command(int *argc, char **argv, struct config *c, const char *usage,
		     const char **verb);
/*
 * For config_check_tenants() (cli/config.c): whether the tenant exists in the struct meta
 * given as ctx. Used by `config check` and by `serve` at start and on reload.
 */
bool cli_tenant_exists(void *meta, const char *name);
/* Prints "koban: MSG" to stderr and returns 1. */
int cli_fail(const struct err *e);
/* Prints "usage: koban USAGE" to stderr and returns 2. */
int cli_usage(const char *usage);

/*
 * Aligned text tables (source.c), filled in two passes without copying the rows:
 * cli_table_widen() every row (header included) into width[n], then cli_table_row()
 * prints each row, columns two spaces apart; NULL cells print as "-".
 */
void cli_table_widen(size_t *width, const char *const *cells, size_t n);
void cli_table_row(const size_t *width, const char *const *cells, size_t n);
/* Prints the sources of tenant (NULL: every tenant) as a table with a header (source.c). */
int cli_print_sources(struct meta *m, const char *tenant, struct err *e);

#endif
