/*
 * tenantfile.c - reading the file of `koban tenant import` with libyaml's document API.
 */
#include "store/tenantfile.h"
#include "core/compat.h"

#include <sys/stat.h>
#include <yaml.h>

#include "core/err.h"
#include "core/mem.h"

struct tenantfile_doc {
	yaml_document_t doc;
	bool loaded;
};

struct reader {
	const char *path;
	struct tenantfile *tf;
	yaml_document_t *doc;
	struct err *e;
};

/* Makes room for one more of n elements: capacities are 8, 16, 32, ... up to max. */
static int grow(void **p, size_t n, size_t size, size_t max, struct reader *r)
{
	void *np;

	if (n == max)
		return err_set(r->e, -ENOSPC, "%s: more than %zu entries", r->path, max);
	if (n && (n < 8 || (n & (n - 1))))
		return 0; /* not full */
	if (!(np = mem_realloc(*p, (n ? n * 2 : 8) * size)))
		return err_set(r->e, -ENOMEM, "out of memory reading %s", r->path);
	*p = np;
	return 0;
}

static int at(struct reader *r, const yaml_node_t *n, const char *what, const char *detail)
{
	return err_set(r->e, -EINVAL, "%s:%zu: %s%.80s", r->path, n->start_mark.line + 1, what,
		       detail ? detail : "");
}

/* Puts "FILE:LINE: " before the message already in r->e. */
static int with_line(struct reader *r, int line)
{
	struct err inner = *r->e;

	return err_set(r->e, inner.code, "%s:%d: %.400s", r->path, line, inner.msg);
}

static yaml_node_t *node(struct reader *r, int id)
{
	return yaml_document_get_node(r->doc, id);
}

/* The text of a scalar node; NULL for a YAML null (~, null, empty). */
static int scalar(struct reader *r, const yaml_node_t *n, const char *key, const char **out)
{
	const char *v;

	if (!n || n->type != YAML_SCALAR_NODE)
		return n ? at(r, n, "expected a single value for ", key)
			 : err_set(r->e, -EINVAL, "%s: a missing node", r->path);
	v = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!*v || !strcmp(v, "~") || !strcmp(v, "null"))) {
		*out = NULL;
		return 0;
	}
	if (strlen(v) != n->data.scalar.length)
		return at(r, n, "a NUL byte in the value of ", key);
	*out = v;
	return 0;
}

static int read_source(struct reader *r, const yaml_node_t *n, const char *tenant)
{
	static const char *const keys[] = { "name", "cidr", "host", "listener", "format", "tz" };
	struct tenantfile *tf = r->tf;
	struct tenantfile_source *ts;
	const char **fields[ARRAY_SIZE(keys)];
	int rc;

	if (!n || n->type != YAML_MAPPING_NODE)
		return n ? at(r, n, "a source: expected a mapping with name, cidr, host, listener, "
			      "format, tz", NULL)
			 : err_set(r->e, -EINVAL, "%s: a missing node", r->path);
	if ((rc = grow((void **)&tf->sources, tf->n_sources, sizeof(*tf->sources),
		       TENANTFILE_MAX_SOURCES, r)) < 0)
		return rc;
	ts = &tf->sources[tf->n_sources++];
	*ts = (struct tenantfile_source){ .s.tenant = tenant, .line = (int)n->start_mark.line + 1 };
	fields[0] = &ts->s.name;
	fields[1] = &ts->s.cidr;
	fields[2] = &ts->s.host;
	fields[3] = &ts->s.listener;
	fields[4] = &ts->s.format;
	fields[5] = &ts->s.tz;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
		const char *key;
		size_t i;

		if ((rc = scalar(r, k, "a key", &key)) < 0)
			return rc;
		for (i = 0; key && i < ARRAY_SIZE(keys) && strcmp(key, keys[i]); i++)
			;
		if (!key || i == ARRAY_SIZE(keys))
			return at(r, k, "unknown key in a source (expected name, cidr, host, "
				  "listener, format, tz): ", key ? key : "null");
		if ((rc = scalar(r, v, key, fields[i])) < 0)
			return rc;
	}
	if (!ts->s.name)
		return at(r, n, "a source without a name", NULL);
	if (!ts->s.format)
		ts->s.format = "auto";
	if ((rc = meta_source_check(&ts->s, r->e)) < 0)
		return with_line(r, ts->line);
	return 0;
}

static int read_tenant(struct reader *r, const yaml_node_t *n)
{
	struct tenantfile *tf = r->tf;
	const yaml_node_t *sources = NULL;
	struct tenantfile_tenant *t;
	int rc;

	if (!n || n->type != YAML_MAPPING_NODE)
		return n ? at(r, n, "a tenant: expected a mapping with name and sources", NULL)
			 : err_set(r->e, -EINVAL, "%s: a missing node", r->path);
	if ((rc = grow((void **)&tf->tenants, tf->n_tenants, sizeof(*tf->tenants),
		       TENANTFILE_MAX_TENANTS, r)) < 0)
		return rc;
	t = &tf->tenants[tf->n_tenants++];
	*t = (struct tenantfile_tenant){ .line = (int)n->start_mark.line + 1 };
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
		const char *key;

		if ((rc = scalar(r, k, "a key", &key)) < 0)
			return rc;
		if (key && !strcmp(key, "name")) {
			if ((rc = scalar(r, v, key, &t->name)) < 0)
				return rc;
		} else if (key && !strcmp(key, "sources")) {
			sources = v;
		} else {
			return at(r, k, "unknown key in a tenant (expected name, sources): ",
				  key ? key : "null");
		}
	}
	if (!t->name)
		return at(r, n, "a tenant without a name", NULL);
	if ((rc = meta_tenant_check(t->name, r->e)) < 0)
		return with_line(r, t->line);
	if (!sources || (sources->type == YAML_SCALAR_NODE && !sources->data.scalar.length))
		return 0;
	if (sources->type != YAML_SEQUENCE_NODE)
		return at(r, sources, "'sources': expected a list of sources", NULL);
	for (yaml_node_item_t *i = sources->data.sequence.items.start;
	     i < sources->data.sequence.items.top; i++)
		if ((rc = read_source(r, node(r, *i), t->name)) < 0)
			return rc;
	return 0;
}

/* FNV-1a over a name, for the duplicate check. */
static size_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * An error for an element named like an earlier one (within the same scope, when scope_of
 * is given: a source's tenant): names are looked up in an open-addressing table of 2 * n
 * slots, so a file with thousands of names stays linear.
 */
static int check_unique(struct reader *r, const char *kind, size_t n,
			const char *(*name_of)(const struct tenantfile *, size_t),
			const char *(*scope_of)(const struct tenantfile *, size_t),
			int (*line_of)(const struct tenantfile *, size_t))
{
	size_t cap = 2 * n + 1, *table;
	int rc = 0;

	if (!n)
		return 0;
	if (!(table = mem_calloc(cap, sizeof(*table))))
		return err_set(r->e, -ENOMEM, "out of memory reading %s", r->path);
	for (size_t i = 0; i < n && !rc; i++) {
		const char *name = name_of(r->tf, i), *scope = scope_of ? scope_of(r->tf, i) : "";
		size_t h = (hash(name) ^ (hash(scope) * 31)) % cap;

		for (; table[h]; h = (h + 1) % cap) {
			size_t j = table[h] - 1;

			if (strcmp(name_of(r->tf, j), name) ||
			    (scope_of && strcmp(scope_of(r->tf, j), scope)))
				continue;
			rc = err_set(r->e, -EINVAL, "%s:%d: %s '%s'%s%s%s again (first at line %d)",
				     r->path, line_of(r->tf, i), kind, name,
				     scope_of ? " of tenant '" : "", scope, scope_of ? "'" : "",
				     line_of(r->tf, j));
			break;
		}
		table[h] = i + 1;
	}
	mem_free(table);
	return rc;
}

static const char *tenant_name(const struct tenantfile *tf, size_t i)
{
	return tf->tenants[i].name;
}

static int tenant_line(const struct tenantfile *tf, size_t i)
{
	return tf->tenants[i].line;
}

static const char *source_name(const struct tenantfile *tf, size_t i)
{
	return tf->sources[i].s.name;
}

/* Source names are unique within their tenant, not across tenants. */
static const char *source_tenant(const struct tenantfile *tf, size_t i)
{
	return tf->sources[i].s.tenant;
}

static int source_line(const struct tenantfile *tf, size_t i)
{
	return tf->sources[i].line;
}

static int read_root(struct reader *r)
{
	yaml_node_t *root = yaml_document_get_root_node(r->doc);
	const yaml_node_t *list = NULL;
	int rc;

	if (!root || root->type != YAML_MAPPING_NODE)
		return err_set(r->e, -EINVAL, "%s: expected a mapping with the key 'tenants'",
			       r->path);
	for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = node(r, q->key);
		const char *key;

		if ((rc = scalar(r, k, "a key", &key)) < 0)
			return rc;
		if (!key || strcmp(key, "tenants"))
			return at(r, k, "unknown key (expected tenants): ", key ? key : "null");
		list = node(r, q->value);
	}
	if (!list || list->type != YAML_SEQUENCE_NODE)
		return err_set(r->e, -EINVAL, "%s: 'tenants': expected a list of tenants", r->path);
	for (yaml_node_item_t *i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++)
		if ((rc = read_tenant(r, node(r, *i))) < 0)
			return rc;
	if ((rc = check_unique(r, "tenant", r->tf->n_tenants, tenant_name, NULL, tenant_line)) < 0)
		return rc;
	return check_unique(r, "source", r->tf->n_sources, source_name, source_tenant,
			    source_line);
}

int tenantfile_parse(struct tenantfile **tfp, const char *name, const char *data, size_t len,
		     struct err *e)
{
	struct tenantfile *tf = mem_calloc(1, sizeof(*tf));
	struct reader r = { .path = name, .tf = tf, .e = e };
	yaml_parser_t p;
	int rc;

	*tfp = NULL;
	if (!tf || !(tf->doc = mem_calloc(1, sizeof(*tf->doc)))) {
		mem_free(tf);
		return err_set(e, -ENOMEM, "out of memory reading %s", name);
	}
	if (len > TENANTFILE_MAX_BYTES) {
		rc = err_set(e, -EFBIG, "%s: larger than %u MiB", name, TENANTFILE_MAX_BYTES >> 20);
		goto fail;
	}
	if (!yaml_parser_initialize(&p)) {
		rc = err_set(e, -ENOMEM, "out of memory reading %s", name);
		goto fail;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	if (!yaml_parser_load(&p, &tf->doc->doc)) {
		rc = err_set(e, -EINVAL, "%s:%zu: %s", name, p.problem_mark.line + 1,
			     p.problem ? p.problem : "not valid YAML or JSON");
		yaml_parser_delete(&p);
		goto fail;
	}
	yaml_parser_delete(&p);
	tf->doc->loaded = true;
	r.doc = &tf->doc->doc;
	if ((rc = read_root(&r)) < 0)
		goto fail;
	*tfp = tf;
	return 0;
fail:
	tenantfile_free(tf);
	return rc;
}

int tenantfile_load(struct tenantfile **tf, const char *path, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	struct stat sb;
	size_t len;
	int rc;

	*tf = NULL;
	if (!f)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > TENANTFILE_MAX_BYTES) {
		rc = err_set(e, -EINVAL, "%s: expected a regular file of at most %u MiB", path,
			     TENANTFILE_MAX_BYTES >> 20);
		goto out;
	}
	if (!(data = mem_alloc((size_t)sb.st_size + 1))) {
		rc = err_set(e, -ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	len = fread(data, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		rc = err_set(e, -EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = tenantfile_parse(tf, path, data, len, e);
out:
	mem_free(data);
	fclose(f);
	return rc;
}

void tenantfile_free(struct tenantfile *tf)
{
	if (!tf)
		return;
	if (tf->doc && tf->doc->loaded)
		yaml_document_delete(&tf->doc->doc);
	mem_free(tf->doc);
	mem_free(tf->tenants);
	mem_free(tf->sources);
	mem_free(tf);
}
