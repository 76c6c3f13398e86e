/*
 * tenant.c - `koban tenant add|list|show|remove|export|import`.
 *
 * export and import keep the tenants and their sources as code: export writes them as
 * JSON (default) or YAML, import reads either (store/tenantfile) and makes koban.db
 * match the file in one transaction, printing what changes; --dry-run prints only.
 * Tenants and sources that are not in the file are kept unless --prune is given.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "portal/control.h"
#include "store/cert.h"
#include "store/keys.h"
#include "store/seal.h"
#include "store/meta.h"
#include "store/sink.h"
#include "store/store.h"
#include "store/tenantfile.h"

#define ADD_USAGE "tenant add NAME"
#define LIST_USAGE "tenant list"
#define SHOW_USAGE "tenant show NAME"
#define REMOVE_USAGE "tenant remove NAME"
#define EXPORT_USAGE "tenant export [--yaml]"
#define IMPORT_USAGE "tenant import FILE [--dry-run] [--prune]"
#define ERASE_USAGE "tenant erase NAME [--yes]"
#define NAME_RULE "NAME: 1-63 of a-z 0-9 _ - starting with a letter or digit."

static const struct cli_verb tenant_verbs[] = {
	{ "add", ADD_USAGE, "Adds a tenant. " NAME_RULE },
	{ "list", LIST_USAGE,
	  "Lists the tenants with their sources, the messages `serve` received for each\n"
	  "(over all runs) and when the last one came (to within a few seconds)." },
	{ "show", SHOW_USAGE, "Shows one tenant and its sources." },
	{ "remove", REMOVE_USAGE, "Removes a tenant and its sources." },
	{ "export", EXPORT_USAGE,
	  "Prints every tenant with its sources as JSON, or YAML with --yaml, for\n"
	  "`koban tenant import` (keep the file in version control)." },
	{ "import", IMPORT_USAGE,
	  "Makes the tenants and sources in koban.db match FILE (JSON or YAML, as written\n"
	  "by `koban tenant export`): adds what is missing, changes sources that differ,\n"
	  "and prints each change. Importing the same file again changes nothing.\n"
	  "  --dry-run  print the changes, write nothing\n"
	  "  --prune    also remove tenants and sources that are not in FILE" },
	{ "erase", ERASE_USAGE,
	  "Destroys the tenant's data key (so every copy of its stored events, backups\n"
	  "included, can no longer be read), removes every file of its directory (damaged\n"
	  "segments too), its sources and the tenant, and prints a deletion certificate\n"
	  "signed with the installation's key (check it with `koban cert verify FILE`),\n"
	  "kept in DATA_DIR/certificates/ before the key is destroyed: when a later step\n"
	  "fails, run it again to finish and print the same certificate. Asks for the name\n"
	  "on a terminal; elsewhere --yes is required." },
};

static const struct cli_command tenant_command = {
	"tenant",
	ADD_USAGE "\n       koban " LIST_USAGE "\n       koban " SHOW_USAGE
	"\n       koban " REMOVE_USAGE "   (removes its sources too)\n       koban " EXPORT_USAGE
	"\n       koban " IMPORT_USAGE "\n       koban " ERASE_USAGE,
	NAME_RULE "\n`koban help tenant VERB` describes one sub-command.",
	tenant_verbs, ARRAY_SIZE(tenant_verbs),
};

#define TENANT_COLUMNS 5
#define RELOAD_HINT "reload a running koban with SIGHUP to apply"
#define IMPORT_MAX_TENANTS 4096
#define IMPORT_MAX_SOURCES 65536

/* ---- add, list, show, remove ---- */

/* The text cells of one tenant row; the buffers live in the struct. */
struct tenant_cells {
	char sources[24];
	char received[24];
	char last[TIME_RFC3339_LEN];
	char created[TIME_RFC3339_LEN];
	const char *cells[TENANT_COLUMNS];
};

static void tenant_cells(const struct meta_tenant *t, struct tenant_cells *tc)
{
	snprintf(tc->sources, sizeof(tc->sources), "%lld", (long long)t->n_sources);
	snprintf(tc->received, sizeof(tc->received), "%lld", (long long)t->received);
	/* whole seconds: the nanoseconds are noise to a reader */
	time_format_rfc3339(t->created_ns - t->created_ns % NS_PER_SEC, tc->created);
	if (t->last_event_ns)
		time_format_rfc3339(t->last_event_ns - t->last_event_ns % NS_PER_SEC, tc->last);
	tc->cells[0] = t->name;
	tc->cells[1] = tc->sources;
	tc->cells[2] = tc->received;
	tc->cells[3] = t->last_event_ns ? tc->last : NULL;
	tc->cells[4] = tc->created;
}

static const char *const tenant_header[TENANT_COLUMNS] = {
	"NAME", "SOURCES", "RECEIVED", "LAST EVENT", "CREATED",
};

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
	printf("tenant      %s\ncreated     %s\nreceived    %s\nlast event  %s\nsources     %s\n\n",
	       t->name, tc.created, tc.received, t->last_event_ns ? tc.last : "-", tc.sources);
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

/* ---- the tenants and sources as data (export, import) ---- */

#define SOURCE_FIELDS 5 /* cidr, host, listener, format, tz: what import compares */

struct xsource {
	struct meta_source s; /* strings owned (mem_strdup) or pointing into the YAML document */
	int line;             /* in the import file, 0 for the database */
	bool seen;            /* matched by the other side while diffing */
};

struct xtenant {
	const char *name;
	int line;
	bool seen;
};

/* A set of tenants and sources, from koban.db or from a file. */
struct xset {
	struct xtenant *t;
	size_t n_t;
	struct xsource *s;
	size_t n_s;
	bool owned;           /* strings are mem_strdup'ed (the database side) */
	int rc;               /* first error of a callback */
	struct err *e;
};

static void xset_release(struct xset *x)
{
	if (x->owned) {
		for (size_t i = 0; i < x->n_t; i++)
			mem_free((char *)x->t[i].name);
		for (size_t i = 0; i < x->n_s; i++) {
			const char *f[] = { x->s[i].s.name, x->s[i].s.tenant, x->s[i].s.cidr,
					    x->s[i].s.host, x->s[i].s.listener, x->s[i].s.format,
					    x->s[i].s.tz };

			for (size_t k = 0; k < ARRAY_SIZE(f); k++)
				mem_free((char *)f[k]);
		}
	}
	mem_free(x->t);
	mem_free(x->s);
}

/* Makes room for one more of n elements: capacities are 8, 16, 32, ... up to max. */
static int grow(void **p, size_t n, size_t size, size_t max, struct err *e)
{
	void *np;

	if (n == max)
		return err_set(e, -ENOSPC, "more than %zu entries", max);
	if (n && (n < 8 || (n & (n - 1))))
		return 0; /* not full */
	if (!(np = mem_realloc(*p, (n ? n * 2 : 8) * size)))
		return err_set(e, -ENOMEM, "out of memory");
	*p = np;
	return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = mem_strdup(s)))
		*oom = true;
	return d;
}

static void load_tenant(void *ctx, const struct meta_tenant *t)
{
	struct xset *x = ctx;

	if (x->rc < 0 || (x->rc = grow((void **)&x->t, x->n_t, sizeof(*x->t), IMPORT_MAX_TENANTS,
				       x->e)) < 0)
		return;
	x->t[x->n_t] = (struct xtenant){ .name = mem_strdup(t->name) };
	if (!x->t[x->n_t].name) {
		x->rc = err_set(x->e, -ENOMEM, "out of memory reading tenants");
		return;
	}
	x->n_t++;
}

static void load_source(void *ctx, const struct meta_source *s)
{
	struct xset *x = ctx;
	struct meta_source *d;
	bool oom = false;

	if (x->rc < 0 || (x->rc = grow((void **)&x->s, x->n_s, sizeof(*x->s), IMPORT_MAX_SOURCES,
				       x->e)) < 0)
		return;
	d = &x->s[x->n_s].s;
	memset(&x->s[x->n_s], 0, sizeof(x->s[0]));
	x->n_s++;
	d->name = dup_or_null(s->name, &oom);
	d->tenant = dup_or_null(s->tenant, &oom);
	d->cidr = dup_or_null(s->cidr, &oom);
	d->host = dup_or_null(s->host, &oom);
	d->listener = dup_or_null(s->listener, &oom);
	d->format = dup_or_null(s->format, &oom);
	d->tz = dup_or_null(s->tz, &oom);
	if (oom)
		x->rc = err_set(x->e, -ENOMEM, "out of memory reading sources");
}

static int xset_load(struct xset *x, struct meta *m, struct err *e)
{
	int rc;

	*x = (struct xset){ .owned = true, .e = e };
	if ((rc = meta_tenant_list(m, load_tenant, x, e)) < 0 || (rc = x->rc) < 0 ||
	    (rc = meta_source_list(m, NULL, load_source, x, e)) < 0 || (rc = x->rc) < 0)
		return rc;
	return 0;
}

/* ---- export ---- */

static int add_key(struct buf *b, bool yaml, const char *indent, bool first, const char *key,
		   const char *value)
{
	if (!value)
		return 0;
	if (yaml)
		return buf_addf(b, "%s%s%s: ", indent, first ? "- " : "  ", key) ||
		       json_add_string(b, value, strlen(value)) || buf_adds(b, "\n");
	return buf_addf(b, "%s\"%s\": ", first ? "" : ", ", key) ||
	       json_add_string(b, value, strlen(value));
}

/* Writes the sources of tenant as a YAML sequence or a JSON array. */
static int export_sources(struct buf *b, const struct xset *x, const char *tenant, bool yaml)
{
	bool any = false;
	int rc = 0;

	for (size_t i = 0; i < x->n_s && !rc; i++) {
		const struct meta_source *s = &x->s[i].s;

		if (strcmp(s->tenant, tenant))
			continue;
		if (!any)
			rc = buf_adds(b, yaml ? "    sources:\n" : ",\n      \"sources\": [\n");
		else if (!yaml)
			rc = buf_adds(b, ",\n");
		if (!yaml && !rc)
			rc = buf_adds(b, "        { ");
		rc = rc || add_key(b, yaml, "      ", true, "name", s->name) ||
		     add_key(b, yaml, "      ", false, "cidr", s->cidr) ||
		     add_key(b, yaml, "      ", false, "host", s->host) ||
		     add_key(b, yaml, "      ", false, "listener", s->listener) ||
		     add_key(b, yaml, "      ", false, "format", s->format) ||
		     add_key(b, yaml, "      ", false, "tz", s->tz) ||
		     (!yaml && buf_adds(b, " }"));
		any = true;
	}
	if (any && !yaml && !rc)
		rc = buf_adds(b, "\n      ]");
	return rc;
}

static bool has_sources(const struct xset *x, const char *tenant)
{
	for (size_t i = 0; i < x->n_s; i++)
		if (!strcmp(x->s[i].s.tenant, tenant))
			return true;
	return false;
}

static int tenant_export(struct meta *m, bool yaml, struct err *e)
{
	struct buf b = BUF_INIT(256u << 20);
	struct xset x;
	bool first = true;
	int rc;

	if ((rc = xset_load(&x, m, e)) < 0)
		goto out;
	rc = buf_adds(&b, yaml ? "# koban tenants and sources: `koban tenant import FILE`\n"
				 "tenants:\n"
			       : "{\n  \"tenants\": [");
	for (size_t i = 0; i < x.n_t && !rc; i++) {
		const char *name = x.t[i].name;

		/* the built-in tenant always exists: exported only for its sources */
		if (!strcmp(name, META_UNASSIGNED) && !has_sources(&x, name))
			continue;
		if (yaml)
			rc = buf_adds(&b, "  - name: ") || json_add_string(&b, name, strlen(name)) ||
			     buf_adds(&b, "\n");
		else
			rc = buf_adds(&b, first ? "\n    {\n      \"name\": " : ",\n    {\n"
							     "      \"name\": ") ||
			     json_add_string(&b, name, strlen(name));
		rc = rc || export_sources(&b, &x, name, yaml) || (!yaml && buf_adds(&b, "\n    }"));
		first = false;
	}
	if (!rc && !yaml)
		rc = buf_adds(&b, first ? "]\n}\n" : "\n  ]\n}\n");
	if (rc) {
		rc = err_set(e, -ENOMEM, "out of memory writing the export");
		goto out;
	}
	if (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout))
		rc = err_set(e, -EIO, "writing standard output: %s", strerror(errno));
out:
	xset_release(&x);
	buf_release(&b);
	return rc;
}

/* ---- import: the difference, and applying it ---- */

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static struct xtenant *find_tenant(struct xset *x, const char *name)
{
	for (size_t i = 0; i < x->n_t; i++)
		if (!strcmp(x->t[i].name, name))
			return &x->t[i];
	return NULL;
}

/* A source is named by its tenant and its name (two tenants may use one name). */
static struct xsource *find_source(struct xset *x, const char *tenant, const char *name)
{
	for (size_t i = 0; i < x->n_s; i++)
		if (!strcmp(x->s[i].s.name, name) && !strcmp(x->s[i].s.tenant, tenant))
			return &x->s[i];
	return NULL;
}

/* "cidr 10.0.0.0/8, host 'fw'" */
static void print_criteria(const struct meta_source *s)
{
	const char *sep = "";

	if (s->listener) {
		printf("listener %s", s->listener);
		sep = ", ";
	}
	if (s->cidr) {
		printf("%scidr %s", sep, s->cidr);
		sep = ", ";
	}
	if (s->host) {
		printf("%shost %s", sep, s->host);
		sep = ", ";
	}
	if (strcmp(s->format, "auto"))
		printf("%sformat %s", sep, s->format);
	if (s->tz)
		printf("%stz %s", sep, s->tz);
}

struct plan {
	size_t changes;
	bool apply;   /* write, not only print */
	bool prune;
};

static int apply_tenants(struct meta *m, struct xset *have, struct xset *want, struct plan *p,
			 struct err *e)
{
	int rc;

	for (size_t i = 0; i < want->n_t; i++) {
		struct xtenant *h = find_tenant(have, want->t[i].name);

		if (h) {
			h->seen = true;
			continue;
		}
		printf("+ tenant %s\n", want->t[i].name);
		p->changes++;
		if (p->apply && (rc = meta_tenant_add(m, want->t[i].name, e)) < 0)
			return rc;
	}
	return 0;
}

static int apply_sources(struct meta *m, struct xset *have, struct xset *want, struct plan *p,
			 struct err *e)
{
	int rc;

	for (size_t i = 0; i < want->n_s; i++) {
		const struct meta_source *w = &want->s[i].s;
		struct xsource *h = find_source(have, w->tenant, w->name);

		if (!h) {
			printf("+ source %s (tenant %s): ", w->name, w->tenant);
			print_criteria(w);
			printf("\n");
			p->changes++;
			if (p->apply && (rc = meta_source_add(m, w, e)) < 0)
				return rc;
			continue;
		}
		h->seen = true;
		/* a change line: "~ source NAME (tenant T): field old -> new, ..." */
		{
			const char *fields[] = { "cidr", "host", "listener", "format", "tz" };
			const char *a[] = { h->s.cidr, h->s.host, h->s.listener, h->s.format,
					    h->s.tz };
			const char *b[] = { w->cidr, w->host, w->listener, w->format, w->tz };
			bool any = false;

			for (size_t k = 0; k < ARRAY_SIZE(fields); k++) {
				if (same(a[k], b[k]))
					continue;
				if (!any)
					printf("~ source %s (tenant %s): ", w->name, w->tenant);
				printf("%s%s %s -> %s", any ? ", " : "", fields[k], a[k] ? a[k] : "-",
				       b[k] ? b[k] : "-");
				any = true;
			}
			if (!any)
				continue;
			printf("\n");
		}
		p->changes++;
		if (p->apply && (rc = meta_source_update(m, w, e)) < 0)
			return rc;
	}
	return 0;
}

/* What is in the database and not in the file: removed with --prune, else only listed. */
static int apply_leftovers(struct meta *m, struct xset *have, struct plan *p, struct err *e)
{
	int rc;

	for (size_t i = 0; i < have->n_s; i++) {
		const struct meta_source *h = &have->s[i].s;

		if (have->s[i].seen)
			continue;
		if (!p->prune) {
			printf("  source %s (tenant %s) is not in the file: kept "
			       "(--prune removes it)\n",
			       h->name, h->tenant);
			continue;
		}
		printf("- source %s (tenant %s)\n", h->name, h->tenant);
		p->changes++;
		if (p->apply && (rc = meta_source_remove(m, h->tenant, h->name, e)) < 0)
			return rc;
	}
	for (size_t i = 0; i < have->n_t; i++) {
		const char *name = have->t[i].name;

		if (have->t[i].seen || !strcmp(name, META_UNASSIGNED))
			continue;
		if (!p->prune) {
			printf("  tenant %s is not in the file: kept (--prune removes it)\n", name);
			continue;
		}
		printf("- tenant %s\n", name);
		p->changes++;
		if (p->apply && (rc = meta_tenant_remove(m, name, e)) < 0)
			return rc;
	}
	return 0;
}

static int run_plan(struct meta *m, struct xset *have, struct xset *want, struct plan *p,
		    struct err *e)
{
	int rc;

	/* tenants first (sources need them), removals last */
	if ((rc = apply_tenants(m, have, want, p, e)) < 0 ||
	    (rc = apply_sources(m, have, want, p, e)) < 0 ||
	    (rc = apply_leftovers(m, have, p, e)) < 0)
		return rc;
	return 0;
}

/* The file's tenants and sources as an xset pointing into tf. */
static int xset_from_file(struct xset *x, const struct tenantfile *tf, struct err *e)
{
	*x = (struct xset){ .e = e };
	x->t = mem_calloc(tf->n_tenants ? tf->n_tenants : 1, sizeof(*x->t));
	x->s = mem_calloc(tf->n_sources ? tf->n_sources : 1, sizeof(*x->s));
	if (!x->t || !x->s)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < tf->n_tenants; i++)
		x->t[x->n_t++] = (struct xtenant){ .name = tf->tenants[i].name,
						   .line = tf->tenants[i].line };
	for (size_t i = 0; i < tf->n_sources; i++)
		x->s[x->n_s++] = (struct xsource){ .s = tf->sources[i].s,
						   .line = tf->sources[i].line };
	return 0;
}

/*
 * What the store cannot know: zones this machine cannot load are refused (as `source add`
 * does), listeners not in the configuration are warned about.
 */
static int check_local(const struct tenantfile *tf, const char *path, const struct config *c,
		       struct err *e)
{
	for (size_t i = 0; i < tf->n_sources; i++) {
		const struct meta_source *s = &tf->sources[i].s;
		size_t l;

		if (s->tz && !tz_get(s->tz, strlen(s->tz), e)) {
			struct err inner = *e;

			return err_set(e, -EINVAL, "%s:%d: %.400s", path, tf->sources[i].line,
				       inner.msg);
		}
		for (l = 0; s->listener && l < c->n_listeners; l++)
			if (!strcmp(c->listeners[l].name, s->listener))
				break;
		if (s->listener && l == c->n_listeners)
			fprintf(stderr, "koban: warning: %s:%d: source '%s': no listener '%s' in the "
				"configuration: it matches nothing until there is one\n", path,
				tf->sources[i].line, s->name, s->listener);
	}
	return 0;
}

static int tenant_import(struct meta *m, const struct config *c, const char *path,
			 bool dry_run, bool prune, struct err *e)
{
	struct tenantfile *tf = NULL;
	struct xset have = { .owned = true }, want = { .owned = false };
	struct plan p = { .apply = !dry_run, .prune = prune };
	int rc;

	if ((rc = tenantfile_load(&tf, path, e)) < 0 || (rc = check_local(tf, path, c, e)) < 0 ||
	    (rc = xset_from_file(&want, tf, e)) < 0 || (rc = xset_load(&have, m, e)) < 0)
		goto out;
	if (p.apply && (rc = meta_begin(m, e)) < 0)
		goto out;
	rc = run_plan(m, &have, &want, &p, e);
	if (p.apply && rc < 0)
		meta_rollback(m);
	else if (p.apply && (rc = meta_commit(m, e)) < 0)
		meta_rollback(m);
	if (rc < 0)
		goto out;
	if (!p.changes)
		printf("no changes: the tenants and sources already match %s\n", path);
	else if (dry_run)
		printf("dry run: %zu change%s, nothing written\n", p.changes,
		       p.changes == 1 ? "" : "s");
	else
		printf("%zu change%s written; " RELOAD_HINT "\n", p.changes,
		       p.changes == 1 ? "" : "s");
out:
	xset_release(&have);
	xset_release(&want);
	tenantfile_free(tf);
	return rc;
}

/* ---- erase ---- */

/* A person at a terminal types the name; anything else needs --yes. */
static int confirm_erase(const char *name, bool yes)
{
	char line[128];

	if (yes)
		return 0;
	if (!isatty(STDIN_FILENO))
		return cli_usage_error("tenant erase", ERASE_USAGE,
				       "refusing to erase '%s' without --yes (standard input is "
				       "not a terminal)", name);
	fprintf(stderr, "This destroys every stored event of tenant '%s' for good.\n"
			"Type the tenant's name to erase it: ", name);
	if (!fgets(line, sizeof(line), stdin) || strcspn(line, "\n") != strlen(name) ||
	    strncmp(line, name, strlen(name))) {
		fprintf(stderr, "koban: not confirmed; nothing was erased\n");
		return 1;
	}
	return 0;
}

/* erased_by: "alice (uid 1000)", completed here with " on HOST". */
static void fill_certificate(struct cert_info *ci, const char *name, int64_t id,
			     const struct store_erase_stats *st, const char *who)
{
	char host[64] = "?", from[TIME_RFC3339_LEN], to[TIME_RFC3339_LEN];

	memset(ci, 0, sizeof(*ci));
	snprintf(ci->tenant, sizeof(ci->tenant), "%s", name);
	ci->tenant_id = (uint64_t)id;
	ci->erased_at_ns = time_now_ns();
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(ci->erased_by, sizeof(ci->erased_by), "%s on %s", who, host);
	ci->events = st->events;
	ci->bytes = st->bytes;
	ci->files = st->files;
	ci->unreadable = st->unreadable;
	if (st->first_day > st->last_day) {
		snprintf(ci->days, sizeof(ci->days), "none");
	} else {
		time_format_rfc3339((int64_t)st->first_day * 86400 * NS_PER_SEC, from);
		time_format_rfc3339((int64_t)st->last_day * 86400 * NS_PER_SEC, to);
		snprintf(ci->days, sizeof(ci->days), "%.10s .. %.10s", from, to);
	}
	/* the key about to be destroyed: nothing is if the certificate is not kept first */
	if (st->has_key && st->key_damaged) { /* its id is lost: the hash of the file's bytes */
		memcpy(ci->damaged[0], st->key_id_hash, 32);
		ci->n_damaged = 1;
	} else if (st->has_key) {
		memcpy(ci->destroyed[0], st->key_id_hash, 32);
		ci->n_destroyed = 1;
	}
}

/* What may be erased: an existing tenant that is not built in. */
static int erase_check(const struct config *c, const char *name, int64_t *id, struct err *e)
{
	int rc;

	if ((rc = cli_tenant_id(c, name, id, e)) < 0)
		return rc;
	if (name[0] == '_')
		return err_set(e, -EPERM, "'%s' is built in and cannot be erased", name);
	return 0;
}

/* DATA_DIR/certificates (0700, made here) and the file of tenant id's certificate in it. */
static int cert_file(const struct config *c, int64_t id, char dir[4096], char name[48],
		     struct err *e)
{
	snprintf(name, 48, "tenant-%lld.cert", (long long)id);
	if ((size_t)snprintf(dir, 4096, "%s/certificates", c->data_dir) >= 4096)
		return err_set(e, -ENAMETOOLONG, "%s/certificates: the path is too long",
			       c->data_dir);
	if (mkdir(dir, 0700) == 0) { /* its name lasts before a certificate is kept in it */
		int rc = fileio_sync_dir(c->data_dir);

		return rc < 0 ? err_set(e, rc, "cannot sync %s: %s", c->data_dir, strerror(-rc)) : 0;
	}
	if (errno != EEXIST)
		return err_set(e, -errno, "cannot create %s: %s", dir, strerror(errno));
	return 0;
}

/*
 * The certificate an earlier run kept in path when the tenant's key is gone already (that
 * run failed after destroying it): signed again into cert, byte for byte the same (Ed25519
 * signatures are deterministic), so that a rerun gives the same facts. -ENOENT when there is
 * none to take up (the tenant still has a key, or no certificate was kept).
 */
static int cert_kept(struct store *store, const char *path, int64_t id, struct buf *cert,
		     struct cert_info *ci, struct err *e)
{
	struct keys_data_key dk;
	enum cert_trust trust;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = store_tenant_key(store, (uint64_t)id, &dk, NULL);
	memset(&dk, 0, sizeof(dk));
	if (rc != -ENOENT || access(path, F_OK) < 0)
		return -ENOENT;
	if ((rc = config_read_file(path, "certificate", CERT_MAX_BYTES, &text, &len, e)) < 0 ||
	    (rc = cert_verify(text, len, NULL, ci, &trust, e)) < 0)
		goto fail;
	if (ci->tenant_id != (uint64_t)id) {
		rc = err_set(e, -EBADMSG, "%s is the certificate of tenant id %llu", path,
			     (unsigned long long)ci->tenant_id);
		goto fail;
	}
	if ((rc = store_sign_certificate(store, ci, cert, e)) < 0)
		goto fail;
	if (cert->len != len || memcmp(cert->p, text, len))
		rc = err_set(e, -EKEYREJECTED, "%s was not signed by this installation's key",
			     path);
fail:
	if (rc < 0 && e->msg[0] && !strstr(e->msg, path)) {
		char msg[sizeof(e->msg)];

		snprintf(msg, sizeof(msg), "%s", e->msg);
		err_set(e, rc, "%s: %s", path, msg);
	}
	mem_free(text);
	return rc;
}

/*
 * The erasure once confirmed, the same in the CLI and in the daemon (for the control
 * socket): the certificate goes to out, the summary and errors to err. The certificate is
 * signed and kept in DATA_DIR/certificates before the key is destroyed; from then on it is
 * printed whatever fails, each failure beside it, and a rerun prints it again. *destroyed:
 * the tenant's key is gone. Returns the exit status.
 */
static int erase_run(const struct config *c, const char *name, const char *who,
		     const char *seal_error, FILE *out, FILE *err, bool *destroyed)
{
	struct buf cert = BUF_INIT(CERT_MAX_BYTES);
	struct store_erase_stats st = { 0 };
	struct store *store = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct cert_info ci;
	char dir[4096], file[48];
	bool done = true;
	int64_t id;
	int rc = 1;

	*destroyed = false;
	if (erase_check(c, name, &id, &e) < 0 || meta_open(&m, c->data_dir, &e) < 0 ||
	    cli_store_open(&store, c, true, &e) < 0 || cert_file(c, id, dir, file, &e) < 0)
		goto fail;
	{
		char path[4096 + 48];

		snprintf(path, sizeof(path), "%s/%s", dir, file);
		rc = cert_kept(store, path, id, &cert, &ci, &e);
	}
	if (rc < 0 && rc != -ENOENT) {
		fprintf(err, "koban: %s (move it away to erase anyway)\n", e.msg);
		rc = 1;
		goto out;
	}
	if (rc == -ENOENT) { /* a new erasure: counted, certified and kept, then the key */
		buf_reset(&cert);
		if (store_erase_count(store, (uint64_t)id, &st, &e) < 0)
			goto fail;
		/*
		 * The daemon could not seal its log first. Only the tenant's own damaged key
		 * file lets the erasure go on: no sealer can be writing its segments then, and
		 * its records are counted by their headers.
		 */
		if (seal_error && !st.key_damaged) {
			fprintf(err, "koban: cannot seal the write-ahead log before the erasure: "
				     "%s\n", seal_error);
			rc = 1;
			goto out;
		}
		if (seal_error) /* said, whatever it was: another tenant's key, a full disk */
			fprintf(err, "koban: the write-ahead log could not be sealed first (%s); "
				     "erasing all the same: with its key file damaged, none of the "
				     "tenant's records can be sealed\n", seal_error);
		fill_certificate(&ci, name, id, &st, who);
		/* the certificate is signed with the installation's key, which the store holds */
		if (store_sign_certificate(store, &ci, &cert, &e) < 0 ||
		    fileio_replace(dir, file, cert.p, cert.len, 0600, 0, &e) < 0)
			goto fail;
		if (store_erase_key(store, (uint64_t)id, &st, &e) < 0) {
			if (!st.key_destroyed) /* the key is whole: nothing was erased */
				goto fail;
			/* overwritten, its file left behind: store_erase_files tries it again */
			fprintf(err, "koban: %s\n", e.msg);
		}
	}
	*destroyed = true; /* from here on the certificate is printed, whatever fails */
	if (store_erase_files(store, (uint64_t)id, &e) < 0 ||
	    meta_tenant_remove(m, name, &e) < 0) {
		fprintf(err, "koban: %s\n", e.msg);
		done = false;
	}
	fputs(cert.p, out);
	if (fflush(out) || ferror(out)) {
		fprintf(err, "koban: cannot write the certificate: %s\n", strerror(errno));
		done = false;
	}
	fprintf(err, "erased tenant '%s': %llu events in %llu files", name,
		(unsigned long long)ci.events, (unsigned long long)ci.files);
	if (st.held_events) /* a file of its directory (store/held.h): gone with the others */
		fprintf(err, " (%llu of them held in its held log, not sealed since its key did "
			     "not open: removed with its files)", (unsigned long long)st.held_events);
	if (st.wal_events)
		fprintf(err, " and the write-ahead log (%llu events not sealed yet, left there "
			     "unreadable: the sealer passes them over)",
			(unsigned long long)st.wal_events);
	if (ci.unreadable)
		fprintf(err, "; %llu segment%s could not be read: %s events are not counted",
			(unsigned long long)ci.unreadable, ci.unreadable == 1 ? "" : "s",
			ci.unreadable == 1 ? "its" : "their");
	if (ci.n_damaged)
		fprintf(err, "; the data key file was damaged (its key id could not be read): it "
			     "was overwritten and removed all the same, and the certificate names it "
			     "by the hash of its bytes (destroyed-damaged-key-file)");
	fprintf(err, "; keep the certificate (koban cert verify FILE checks it; a copy is in "
		     "%s/%s)\n", dir, file);
	if (!done)
		fprintf(err, "koban: the data key is destroyed (the tenant's events cannot be "
			     "read), but the erasure did not finish: run `koban tenant erase %s` "
			     "again once the error above is fixed: it finishes and prints the same "
			     "certificate\n", name);
	rc = done ? 0 : 1;
	goto out;
fail:
	fprintf(err, "koban: %s\n", e.msg[0] ? e.msg : "failed");
	rc = 1;
out:
	buf_release(&cert);
	store_close(store);
	if (m)
		meta_close(m);
	return rc;
}

int cli_erase_remote(const struct cli_remote *r, struct control_call *call)
{
	const char *name = control_call_get(call, "tenant");
	struct err e = ERR_INIT;
	bool destroyed, sealed;
	int rc;

	if (!name) {
		fprintf(call->err, "koban: tenant erase: a malformed request\n");
		return 1;
	}
	/*
	 * What the write-ahead log holds of the tenant goes into segments first, so that the
	 * erasure removes it with the rest; erase_run() decides whether a failure stops it.
	 * The sealer is held until the erasure ends: a generation it opened would go on writing
	 * the tenant's segments with the key read before it was destroyed (into a directory
	 * being removed), and one committed between the counts would leave its events out.
	 */
	sealed = !r->seal || seal_hold(r->seal, &e) == 0;
	rc = erase_run(r->cfg, name, call->who, sealed ? NULL : e.msg, call->out, call->err,
		       &destroyed);
	if (r->seal)
		seal_release(r->seal);
	if (destroyed && r->sink) /* workers look the tenant up again: gone, events dropped */
		sink_forget_keys(r->sink);
	if (rc == 0 && kill(getpid(), SIGHUP) < 0) /* reload: nothing more is routed to it */
		fprintf(call->err, "koban: the tenant is erased, but the daemon could not reload "
			"(%s): run koban reload\n", strerror(errno));
	return rc;
}

/* `koban tenant erase NAME [--yes]`: checked and confirmed here, run here or by the daemon. */
static int tenant_erase(const struct config *c, const char *name, bool yes)
{
	const struct passwd *pw;
	struct err e = ERR_INIT;
	bool destroyed;
	char who[96];
	int64_t id;
	int rc, fd;

	if (erase_check(c, name, &id, &e) < 0)
		return cli_fail(&e);
	if ((rc = confirm_erase(name, yes)) != 0)
		return rc; /* the exit status: 2 refused without --yes, 1 not confirmed */
	switch (cli_remote_connect(c, &fd)) {
	case 1: {
		const char *keys[] = { "tenant" }, *values[] = { name };

		return cli_remote_run(fd, "tenant erase", keys, values, ARRAY_SIZE(keys));
	}
	case 0:
		pw = getpwuid(getuid());
		snprintf(who, sizeof(who), "%s (uid %ld)", pw ? pw->pw_name : "?", (long)getuid());
		return erase_run(c, name, who, NULL, stdout, stderr, &destroyed);
	default:
		return 1;
	}
}

/* ---- the command ---- */

static int run(struct meta *m, const struct config *c, const struct cli_verb *verb,
	       const char **pos, bool yaml,
	       bool dry_run, bool prune, struct err *e)
{
	if (!strcmp(verb->name, "add"))
		return tenant_add(m, pos[0], e);
	if (!strcmp(verb->name, "show"))
		return tenant_show(m, pos[0], e);
	if (!strcmp(verb->name, "remove"))
		return tenant_remove(m, pos[0], e);
	if (!strcmp(verb->name, "export"))
		return tenant_export(m, yaml, e);
	if (!strcmp(verb->name, "import"))
		return tenant_import(m, c, pos[0], dry_run, prune, e);
	return tenant_list(m, e);
}

int cmd_tenant(int argc, char **argv)
{
	static const char *const names[] = { "NAME" };
	static const char *const files[] = { "FILE" };
	const struct cli_verb *verb;
	bool yaml = false, dry_run = false, prune = false, yes = false;
	const struct cli_option export_opts[] = { CLI_FLAG("yaml", &yaml) };
	const struct cli_option erase_opts[] = { CLI_FLAG("yes", &yes) };
	const struct cli_option import_opts[] = { CLI_FLAG("dry-run", &dry_run),
						  CLI_FLAG("prune", &prune) };
	const char *pos[1];
	struct cli_args a = { .pos = pos, .pos_names = names };
	struct config c;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	int rc;

	if ((rc = cli_verb(&argc, &argv, &tenant_command, &verb)) >= 0)
		return rc;
	a.cmd = verb == &tenant_verbs[0]   ? "tenant add"
		: verb == &tenant_verbs[1] ? "tenant list"
		: verb == &tenant_verbs[2] ? "tenant show"
		: verb == &tenant_verbs[3] ? "tenant remove"
		: verb == &tenant_verbs[4] ? "tenant export"
		: verb == &tenant_verbs[5] ? "tenant import"
					   : "tenant erase";
	a.usage = verb->usage;
	a.about = verb->about;
	if (verb == &tenant_verbs[4]) {
		a.opts = export_opts;
		a.n_opts = ARRAY_SIZE(export_opts);
	} else if (verb == &tenant_verbs[5]) {
		a.opts = import_opts;
		a.n_opts = ARRAY_SIZE(import_opts);
		a.pos_names = files;
	} else if (verb == &tenant_verbs[6]) {
		a.opts = erase_opts;
		a.n_opts = ARRAY_SIZE(erase_opts);
	}
	a.min_pos = a.max_pos = verb == &tenant_verbs[1] || verb == &tenant_verbs[4] ? 0 : 1;
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if (verb == &tenant_verbs[6]) {
		rc = tenant_erase(&c, pos[0], yes);
		config_release(&c);
		return rc;
	}
	if (meta_open(&m, c.data_dir, &e) < 0 ||
	    (rc = run(m, &c, verb, pos, yaml, dry_run, prune, &e)) < 0)
		rc = cli_fail(&e);
	/* rc > 0: an exit status already explained (tenant erase not confirmed) */
	meta_close(m);
	config_release(&c);
	return rc;
}

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->id;
}

int cli_tenant_id(const struct config *c, const char *name, int64_t *id, struct err *e)
{
	struct meta *m;
	int rc;

	*id = -1;
	if ((rc = meta_open(&m, c->data_dir, e)) < 0)
		return rc;
	rc = meta_tenant_get(m, name, take_id, id, e);
	meta_close(m);
	return rc < 0 ? rc : *id < 0 ? -ENOENT : 0;
}
