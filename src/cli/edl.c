/*
 * edl.c - `koban edl show|allow`: the External Dynamic Lists (respond/edl.h) as the API
 * listener serves them, and each tenant's allow-list in koban.db; cli_edl_new() makes the
 * lists of the configuration's edl: section for this command and for serve.
 *
 * Reads and writes koban.db directly (SQLite allows it while serve runs): a running
 * serve sees an allow-list change at the next request of a list.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "enrich/ti.h"
#include "respond/edl.h"
#include "store/meta.h"

_Static_assert((int)CONFIG_EDL_IP == (int)EDL_IP && (int)CONFIG_EDL_DOMAIN == (int)EDL_DOMAIN &&
		       (int)CONFIG_EDL_URL == (int)EDL_URL, "config's list types are edl's");

#define SHOW_USAGE "edl show --tenant T LIST"
#define ALLOW_USAGE "edl allow add|remove|list --tenant T [VALUE]"

static const struct cli_verb edl_verbs[] = {
	{ "show", SHOW_USAGE,
	  "Prints tenant T's list LIST (edl.lists in the configuration) as GET\n"
	  "/edl/T/LIST.txt serves it, one entry per line; what was left out (allowed,\n"
	  "over the cap, unsupported by PAN-OS) is counted on stderr." },
	{ "allow", ALLOW_USAGE,
	  "Tenant T's allow-list: values its lists never carry, whatever a feed says. VALUE\n"
	  "is an address or a network (CIDR: no address inside it is listed, and a listed\n"
	  "network holding one is dropped), a domain (and its sub-domains) or a URL. `list`\n"
	  "prints TYPE VALUE per line; edl.allow in the configuration holds the values of\n"
	  "every tenant." },
};

static const struct cli_command edl_command = {
	"edl", SHOW_USAGE "\n       koban " ALLOW_USAGE,
	"External Dynamic Lists for PAN-OS firewalls (docs/threatintel.md).\n"
	"`koban help edl VERB` describes one sub-command.",
	edl_verbs, ARRAY_SIZE(edl_verbs),
};

int cli_edl_new(const struct config *c, bool metrics, struct edl **d, struct err *e)
{
	struct edl_list_config *lists = NULL;
	int rc;

	if (c->n_edl_lists && !(lists = mem_calloc(c->n_edl_lists, sizeof(*lists))))
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->n_edl_lists; i++) {
		const struct config_edl_list *l = &c->edl_lists[i];

		lists[i] = (struct edl_list_config){
			.name = l->name, .type = (enum edl_type)l->type,
			.sources = (const char *const *)l->sources, .n_sources = l->n_sources,
			.min_confidence = (int)l->min_confidence, .max_entries = l->max_entries,
			.include_global = l->include_global != 0,
		};
	}
	rc = edl_new(d, &(struct edl_config){ lists, c->n_edl_lists,
					      (const char *const *)c->edl_allow, c->n_edl_allow,
					      metrics }, e);
	mem_free(lists);
	return rc;
}

static void print_list(void *ctx, const struct edl_list *l)
{
	static const char *const what[EDL_DROPS] = { "allowed", "covering an allowed value",
						     "over the cap", "unsupported by PAN-OS" };

	fwrite(l->text, 1, l->len, stdout);
	fprintf(stderr, "%zu entries, ETag %s", l->entries, l->etag);
	for (unsigned i = 0; i < EDL_DROPS; i++)
		if (l->dropped[i])
			fprintf(stderr, "; %llu %s", (unsigned long long)l->dropped[i], what[i]);
	fputc('\n', stderr);
}

static int edl_show(const struct config *c, struct meta *m, const char *tenant,
		    const char *list, struct err *e)
{
	struct edl *d = NULL;
	int64_t id;
	int rc;

	if ((rc = cli_edl_new(c, false, &d, e)) == 0 && (rc = cli_tenant_id(c, tenant, &id, e)) == 0)
		rc = edl_get(d, m, tenant, list, time_now_ns(), print_list, NULL, e);
	edl_free(d);
	return rc;
}

static void allow_row(void *ctx, const struct meta_edl_allow *a)
{
	printf("%s %s\n", a->type, a->value);
}

static int edl_allow(struct meta *m, const char *action, const char *tenant, const char *value,
		     struct err *e)
{
	char canon[TI_VALUE_BUF];
	const char *type;
	int rc;

	if (!strcmp(action, "list"))
		return meta_edl_allow_list(m, tenant, allow_row, NULL, e);
	if ((rc = edl_allow_parse(value, &type, canon, e)) < 0)
		return rc;
	if (!strcmp(action, "add")) {
		if ((rc = meta_edl_allow_add(m, tenant, type, canon, e)) == 0)
			fprintf(stderr, "%s %s added to tenant %s's allow-list\n", type, canon, tenant);
	} else if ((rc = meta_edl_allow_remove(m, tenant, type, canon, e)) == 0) {
		fprintf(stderr, "%s %s removed from tenant %s's allow-list\n", type, canon, tenant);
	}
	return rc;
}

int cmd_edl(int argc, char **argv)
{
	static const char *const show_names[] = { "LIST" };
	static const char *const allow_names[] = { "ACTION", "VALUE" };
	const struct cli_verb *verb;
	const char *tenant = NULL, *pos[2] = { NULL, NULL };
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant) };
	struct cli_args a = { .opts = opts, .n_opts = ARRAY_SIZE(opts), .pos = pos };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	bool show;
	int rc;

	if ((rc = cli_verb(&argc, &argv, &edl_command, &verb)) >= 0)
		return rc;
	show = verb == &edl_verbs[0];
	a.cmd = show ? "edl show" : "edl allow";
	a.usage = verb->usage;
	a.about = verb->about;
	a.pos_names = show ? show_names : allow_names;
	a.min_pos = 1;
	a.max_pos = show ? 1 : 2;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (!tenant)
		return cli_usage_error(a.cmd, a.usage, "--tenant T is required");
	if (!show && strcmp(pos[0], "add") && strcmp(pos[0], "remove") && strcmp(pos[0], "list"))
		return cli_usage_error(a.cmd, a.usage, "expected add, remove or list, not '%s'",
				       pos[0]);
	if (!show && !pos[1] != !strcmp(pos[0], "list"))
		return cli_usage_error(a.cmd, a.usage, strcmp(pos[0], "list")
				       ? "VALUE is required" : "list takes no VALUE");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) == 0)
		rc = show ? edl_show(&c, m, tenant, pos[0], &e)
			  : edl_allow(m, pos[0], tenant, pos[1], &e);
	rc = rc < 0 ? cli_fail(&e) : 0;
	meta_close(m);
	config_release(&c);
	return rc;
}
