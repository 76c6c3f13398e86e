/*
 * cli.h - the `koban` sub-commands.
 *
 * main() finds the sub-command by name and calls it with argv starting at the
 * sub-command's name (argv[0] = "parse", ...). A command returns the process exit
 * status: 0 success, 1 failure (message already printed to stderr), 2 usage error.
 * Every command accepts "-c FILE" (configuration; $KOBAN_CONFIG or built-in defaults
 * without it) and --help; options are parsed with cli_getopt() so all behave alike.
 * Main thread only.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

struct buf;
struct config;
struct err;
struct meta;

int cmd_serve(int argc, char **argv);
int cmd_parse(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
int cmd_source(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_rule(int argc, char **argv);
int cmd_alert(int argc, char **argv);
int cmd_ti(int argc, char **argv);
int cmd_asset(int argc, char **argv);
int cmd_triage(int argc, char **argv);
int cmd_edl(int argc, char **argv);
int cmd_incident(int argc, char **argv);
/* `koban notify policy|explain ...` (notify.c); the engine's sub-commands register there too. */
int cmd_notify(int argc, char **argv);
/* `koban notify test` and `koban notify log` (notifysend.c), dispatched by notify.c. */
int cmd_notify_test(int argc, char **argv);
int cmd_notify_log(int argc, char **argv);
/* `koban incident report show|edit|approve` (firstreport.c), called by `koban incident` with argv[0]
 * "report" and argv[1] the verb. */
int cmd_incident_report(int argc, char **argv);
/* The External Dynamic Lists of c's edl: section (edl.c; respond/edl.h), for serve and `edl`. */
struct edl;
int cli_edl_new(const struct config *c, bool metrics, struct edl **d, struct err *e);
/* `koban rule enable|disable|tune|policy|history` (rulepolicy.c): argv[1] is the verb. */
int cli_rule_policy(int argc, char **argv);

/*
 * Shared option handling. The configuration file comes from -c FILE / --config FILE
 * (before the command, or anywhere among its arguments; given twice is a usage error), else
 * from $KOBAN_CONFIG, else built-in defaults.
 *
 * cli_load_config() takes any -c FILE still in argv out (updating *argc) and loads the
 * configuration into c, printing any error. Returns 0, or the exit status (1, or 2 for a
 * usage error).
 */
int cli_load_config(int *argc, char **argv, struct config *c);
/* The configuration file named by -c or $KOBAN_CONFIG, or NULL (built-in defaults). */
const char *cli_config_path(void);
/* Records -c PATH; a usage error (2, printed) when one was given already. */
int cli_set_config(const char *cmd, const char *usage, const char *path);

/* One long option of a command: with a value (stored in *value) or a flag (*flag). */
struct cli_option {
	const char *name;     /* without the leading "--" */
	const char **value;   /* NULL for a flag; *value must start NULL */
	bool *flag;
};

#define CLI_VALUE(name, ptr) { (name), (ptr), NULL }
#define CLI_FLAG(name, ptr) { (name), NULL, (ptr) }

/* What cli_getopt() parses: argv[0] is the (sub-)command, options and arguments follow. */
struct cli_args {
	const char *cmd;                /* "tenant add": named in messages */
	const char *usage;              /* after "usage: koban " */
	const char *about;              /* printed under the usage by --help, or NULL */
	const struct cli_option *opts;
	size_t n_opts;
	const char **pos;               /* positional arguments found, NULL-filled */
	int min_pos, max_pos;
	const char *const *pos_names;   /* "NAME", ...: named when one is missing */
};

/*
 * Parses argv with getopt_long: the options of a (in any order, "--opt V" or "--opt=V",
 * before or after positional arguments), -c/--config FILE and -h/--help. Returns -1 to go
 * on, 0 after printing the help, or 2 after a usage error naming what was wrong (unknown
 * option, repeated option, missing value, missing or unexpected argument).
 */
int cli_getopt(int argc, char **argv, const struct cli_args *a);

/* A command with sub-commands (verbs): `koban tenant add ...`. */
struct cli_verb {
	const char *name;
	const char *usage;    /* "tenant add NAME" */
	const char *about;
};

struct cli_command {
	const char *name;
	const char *usage;    /* every verb's usage */
	const char *about;
	const struct cli_verb *verbs;
	size_t n_verbs;
};

/*
 * Finds the verb: -c FILE may precede it. On -1 (go on), *verb is set and *argv, *argc
 * start at the verb, followed by any options that preceded it. Otherwise returns the exit
 * status: 0 after printing help (-h, --help, help [VERB]), 2 after a usage error.
 */
int cli_verb(int *argc, char ***argv, const struct cli_command *cmd,
	     const struct cli_verb **verb);
/*
 * The start of a command with a single verb: cli_verb(), then the verb's options into a
 * (a->about set from the verb), then the configuration into c. -1: go on (release c with
 * config_release()); otherwise the exit status, with nothing to release.
 */
int cli_verb_start(int *argc, char ***argv, const struct cli_command *cmd,
		   struct cli_args *a, struct config *c);
/* Prints "koban: CMD: MESSAGE", the usage and where to read more; returns 2. */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * For config_check_tenants() (cli/config.c): whether the tenant exists in the struct meta
 * given as ctx. Used by `config check` and by `serve` at start and on reload.
 */
bool cli_tenant_exists(void *meta, const char *name);
/* The id of tenant name in the configuration's koban.db (tenant.c); the error names the database. */
int cli_tenant_id(const struct config *c, const char *name, int64_t *id, struct err *e);

/*
 * The indicators of koban.db (m) loaded once into a matcher for one inline worker, for
 * `ingest` and `rule test` (ti.c): *snap and *t are the caller's (timatch_free first, then
 * ti_snapshot_free). alerts NULL: events enriched, no alerts.
 */
struct alert_sink;
struct meta;
struct ti_snapshot;
struct timatch;
int cli_ti_matcher(const struct config *c, struct meta *m, struct alert_sink *alerts,
		   struct ti_snapshot **snap, struct timatch **t, struct err *e);
/*
 * The configuration's part of a retro-hunt (ti.retrohunt_days and each feed's own days,
 * ti.dedupe_window) into hc; hc->days keeps c until the hunter is freed. serve and `ti hunt`.
 */
struct retrohunt_config;
void cli_retrohunt_config(const struct config *c, struct retrohunt_config *hc);

/*
 * Opens the event store with the configuration's key files (keys: section; key.c). write:
 * the command imports, erases or prunes (keys made on first use only); without it nothing
 * is created (store_open_keys).
 */
struct store;
int cli_store_open(struct store **st, const struct config *c, bool write, struct err *e);

/*
 * Through a running daemon (remote.c). When `koban serve` holds the data directory, the
 * commands that need it (ingest, search, store stats|verify, tenant erase) send their
 * parsed arguments over its control socket (portal/control.h) and relay what it prints;
 * the daemon runs the same code as the CLI would, so the output and the exit status are
 * the same either way.
 */
struct control_call;
struct seal;
struct sink;

/* What the daemon's handler needs: serve fills it and passes it as the handler's ctx. */
struct cli_remote {
	const struct config *cfg; /* the daemon's first configuration (data_dir, keys) */
	struct sink *sink;     /* NULL: ingest is refused (no event store writer) */
	struct seal *seal;     /* sealed before an erasure, so the certificate counts all */
};

/*
 * Whether a daemon holds c's data directory: 1 with *fd connected to its control socket,
 * 0 when none runs (the command opens the store itself), -1 after printing an error.
 */
int cli_remote_connect(const struct config *c, int *fd);
/*
 * Sends cmd with the pairs (a NULL value is left out) over fd, copies the daemon's output
 * to stdout and stderr, closes fd; returns the command's exit status, or 1 after printing
 * an error.
 */
int cli_remote_run(int fd, const char *cmd, const char *const *keys,
		   const char *const *values, size_t n);
/* The daemon's handler for the control socket, ctx a struct cli_remote. */
int cli_remote_handle(void *ctx, struct control_call *call);

/* The daemon's side of each command (search.c, store.c, tenant.c, parse.c). */
int cli_search_remote(const struct cli_remote *r, struct control_call *call);
int cli_store_remote(const struct cli_remote *r, struct control_call *call);
int cli_erase_remote(const struct cli_remote *r, struct control_call *call);
int cli_ingest_remote(const struct cli_remote *r, struct control_call *call);

/* Prints "koban: MSG" to stderr and returns 1. */
int cli_fail(const struct err *e);

/*
 * Text from outside (event values, names) as a terminal may show it (source.c): valid UTF-8
 * as it is, control characters escaped so that a value can neither start a line of its own
 * nor run a terminal's escape sequence: newline, carriage return and tab as \n, \r and \t,
 * the other C0 bytes (ESC too), DEL and bytes that are not UTF-8 as \xHH, the C1 controls
 * (U+0080 to U+009F) as \u00HH, the characters that reorder or split a line (direction
 * marks, overrides, isolates, line and paragraph separators) as \uHHHH; a backslash prints
 * as it is. Prints text[0..len) so to f (NULL: nowhere) and returns the columns a terminal
 * gives it (2 for an East Asian wide character, 1 for any other character or escape byte).
 */
size_t cli_put_text(FILE *f, const char *text, size_t len);
/* The same appended to out: 0, or buf_add's -ENOSPC/-ENOMEM. */
int cli_add_text(struct buf *out, const char *text, size_t len);

/*
 * Aligned text tables (source.c), filled in two passes without copying the rows:
 * cli_table_widen() every row (header included) into width[n], then cli_table_row()
 * prints each row, columns two spaces apart; NULL cells print as "-". Cells print through
 * cli_put_text, and their widths are those of what it prints (a cell escaped already, by
 * cli_add_text, prints as it is).
 */
void cli_table_widen(size_t *width, const char *const *cells, size_t n);
void cli_table_row(const size_t *width, const char *const *cells, size_t n);
/* The same row printed to f (a command run for the control socket prints to its client). */
void cli_table_row_to(FILE *f, const size_t *width, const char *const *cells, size_t n);
/* Prints the sources of tenant (NULL: every tenant) as a table with a header (source.c). */
int cli_print_sources(struct meta *m, const char *tenant, struct err *e);

#endif
