/*
 * token.c - `koban token add|list|revoke`: the API listener's bearer tokens.
 *
 * A token belongs to one tenant (it reads only that tenant's events, whatever a request
 * asks) or, with --soc, to the SOC (any tenant, named in each request). `add` prints the
 * secret once; koban.db keeps only its hash (store/meta.h). A running koban sees a new or
 * revoked token at the next request: no reload is needed.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "store/meta.h"

#define ADD_USAGE "token add NAME (--tenant NAME [--edl] | --soc)"
#define LIST_USAGE "token list"
#define REVOKE_USAGE "token revoke NAME"

static const struct cli_verb token_verbs[] = {
	{ "add", ADD_USAGE,
	  "Makes an API token and prints it once (koban keeps only its hash): with --tenant\n"
	  "it reads only that tenant's events, with --soc any tenant's. NAME: 1-63 of\n"
	  "a-z 0-9 _ - starting with a letter or digit. Clients send it as\n"
	  "\"Authorization: Bearer TOKEN\" (docs/api.md). With --edl the token opens only\n"
	  "the tenant's External Dynamic Lists (GET /edl/T/LIST.txt, HTTP Basic auth with\n"
	  "NAME as the user and the token as the password) and no API endpoint." },
	{ "list", LIST_USAGE, "Lists the tokens: name, scope (a tenant or soc), kind (api or edl)\n"
	  "and when each was made." },
	{ "revoke", REVOKE_USAGE, "Removes a token; requests with it are refused from then on." },
};

static const struct cli_command token_command = {
	"token", ADD_USAGE "\n       koban " LIST_USAGE "\n       koban " REVOKE_USAGE,
	"API tokens for the API listener (docs/api.md).\n"
	"`koban help token VERB` describes one sub-command.",
	token_verbs, ARRAY_SIZE(token_verbs),
};

static int token_add(struct meta *m, const char *name, const char *tenant, bool edl,
		     struct err *e)
{
	char secret[META_TOKEN_LEN + 1];
	unsigned char hash[META_TOKEN_HASH_LEN];
	int rc;

	if ((rc = meta_token_new(secret, e)) < 0)
		return rc;
	meta_token_hash(secret, strlen(secret), hash);
	rc = edl ? meta_edl_token_add(m, name, tenant, hash, e)
		 : meta_token_add(m, name, tenant, hash, e);
	if (rc == 0) {
		printf("%s\n", secret);
		fprintf(stderr, "%s token '%s' added for %s%s; it is shown only now\n",
			edl ? "EDL" : "API", name, tenant ? "tenant " : "the SOC (every tenant)",
			tenant ? tenant : "");
	}
	sodium_memzero(secret, sizeof(secret));
	return rc;
}

struct token_table {
	size_t width[4];
	bool print;
};

static void token_row(void *ctx, const struct meta_token *t)
{
	struct token_table *tt = ctx;
	char created[TIME_RFC3339_LEN];
	const char *cells[4];

	time_format_rfc3339(t->created_ns - t->created_ns % NS_PER_SEC, created);
	cells[0] = t->name;
	cells[1] = t->tenant ? t->tenant : "soc";
	cells[2] = t->edl ? "edl" : "api";
	cells[3] = created;
	if (tt->print)
		cli_table_row(tt->width, cells, 4);
	else
		cli_table_widen(tt->width, cells, 4);
}

static int token_list(struct meta *m, struct err *e)
{
	static const char *const header[4] = { "NAME", "SCOPE", "KIND", "CREATED" };
	struct token_table tt = { { 0 }, false };
	int rc;

	cli_table_widen(tt.width, header, 4);
	if ((rc = meta_token_list(m, token_row, &tt, e)) < 0)
		return rc;
	tt.print = true;
	cli_table_row(tt.width, header, 4);
	return meta_token_list(m, token_row, &tt, e);
}

int cmd_token(int argc, char **argv)
{
	static const char *const names[] = { "NAME" };
	const struct cli_verb *verb;
	const char *tenant = NULL;
	bool soc = false, edl = false;
	const struct cli_option add_opts[] = { CLI_VALUE("tenant", &tenant), CLI_FLAG("soc", &soc),
					       CLI_FLAG("edl", &edl) };
	const char *pos[1];
	struct cli_args a = { .pos = pos, .pos_names = names };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int rc;

	if ((rc = cli_verb(&argc, &argv, &token_command, &verb)) >= 0)
		return rc;
	a.cmd = verb == &token_verbs[0] ? "token add" : verb == &token_verbs[1] ? "token list"
										  : "token revoke";
	a.usage = verb->usage;
	a.about = verb->about;
	if (verb == &token_verbs[0]) {
		a.opts = add_opts;
		a.n_opts = ARRAY_SIZE(add_opts);
	}
	a.min_pos = a.max_pos = verb == &token_verbs[1] ? 0 : 1;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (verb == &token_verbs[0] && !tenant == !soc)
		return cli_usage_error(a.cmd, a.usage, "expected either --tenant NAME or --soc");
	if (edl && soc)
		return cli_usage_error(a.cmd, a.usage, "an EDL token belongs to one tenant: "
				       "--edl goes with --tenant NAME");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) == 0) {
		if (verb == &token_verbs[0])
			rc = token_add(m, pos[0], tenant, edl, &e);
		else if (verb == &token_verbs[1])
			rc = token_list(m, &e);
		else if ((rc = meta_token_revoke(m, pos[0], &e)) == 0)
			fprintf(stderr, "token '%s' revoked\n", pos[0]);
	}
	rc = rc < 0 ? cli_fail(&e) : 0;
	meta_close(m);
	config_release(&c);
	return rc;
}
