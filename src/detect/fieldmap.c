/*
 * fieldmap.c - field maps and logsources (see fieldmap.h).
 *
 * A map file is read with libfyaml's document API into a struct fm_map that owns copies
 * of its strings; the document is destroyed before the function returns. After every
 * file the dataset table (event.dataset -> logsource) is rebuilt from all maps, so that a
 * clash between two files is found at load, and lookups per event stay a binary search.
 */
#include "detect/fieldmap.h"
#include "core/compat.h"

#include <dirent.h>
#include <libfyaml.h>
#include <strings.h>

#define LOG_MODULE "fieldmap"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/name.h"

enum { LS_CATEGORY, LS_PRODUCT, LS_SERVICE, LS_KEYS };
static const char *const ls_key_names[LS_KEYS] = { "category", "product", "service" };

/* One `from: to` of fields, unsupported (to: the reason) or prefixes. */
struct fm_pair {
	char *from;
	char *to;
	size_t from_len;
};

struct fm_list {
	struct fm_pair *v;
	size_t n;
};

struct fm_map {
	char *file;
	unsigned line;          /* of `logsource:` */
	char *ls[LS_KEYS];      /* NULL: the map does not name that key */
	unsigned n_keys;        /* keys named: the more, the more specific */
	struct fm_list datasets; /* from: the dataset ("panos." for `panos.*`), to: NULL */
	struct fm_list vendor;   /* from: a prefix that resolves to itself */
	struct fm_list prefixes; /* from: a rule-name prefix, to: its event-name prefix */
	struct fm_list fields;
	struct fm_list unsupported;
};

/* A dataset (exact or prefix) and the logsource the maps that list it give it. */
struct fm_dataset {
	const char *name; /* points into a map's datasets */
	size_t len;
	bool prefix;
	const char *ls[LS_KEYS];
};

struct fieldmap {
	struct fm_map *maps;
	size_t n_maps;
	struct fm_dataset *exact; /* sorted by name */
	size_t n_exact;
	struct fm_dataset *prefix; /* longest first */
	size_t n_prefix;
};

/* ---------------------------------------------------------------- life cycle */

int fieldmap_new(struct fieldmap **out)
{
	*out = mem_calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void list_release(struct fm_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		mem_free(l->v[i].from);
		mem_free(l->v[i].to);
	}
	mem_free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void map_release(struct fm_map *mp)
{
	mem_free(mp->file);
	for (int k = 0; k < LS_KEYS; k++)
		mem_free(mp->ls[k]);
	list_release(&mp->datasets);
	list_release(&mp->vendor);
	list_release(&mp->prefixes);
	list_release(&mp->fields);
	list_release(&mp->unsupported);
	memset(mp, 0, sizeof(*mp));
}

void fieldmap_free(struct fieldmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_maps; i++)
		map_release(&m->maps[i]);
	mem_free(m->maps);
	mem_free(m->exact);
	mem_free(m->prefix);
	mem_free(m);
}

size_t fieldmap_count(const struct fieldmap *m)
{
	return m ? m->n_maps : 0;
}

/* ---------------------------------------------------------------- reading a file */

/* The reading of one file: its name for messages and the map being filled. */
struct reader {
	const char *file;
	struct fm_map *map;
	struct err *e;
};

/* 1-based line of a node (of its first scalar for a collection), 0 when unknown. */
static unsigned node_line(struct fy_node *n)
{
	void *it = NULL;

	if (!n)
		return 0;
	if (fy_node_is_scalar(n)) {
		struct fy_token *t = fy_node_get_scalar_token(n);
		const struct fy_mark *mk = t ? fy_token_start_mark(t) : NULL;

		return mk ? (unsigned)mk->line + 1 : 0;
	}
	if (fy_node_is_mapping(n)) {
		struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);

		return p ? node_line(fy_node_pair_key(p)) : 0;
	}
	return node_line(fy_node_sequence_iterate(n, &it));
}

static int bad(struct reader *r, struct fy_node *n, const char *what, const char *found)
{
	return err_set(r->e, -EINVAL, "%s:%u: %s%s%.80s", r->file, node_line(n), what,
		       found ? ": " : "", found ? found : "");
}

/* The text of a plain scalar (no alias, no null), or NULL. */
static const char *scalar(struct fy_node *n, size_t *len)
{
	if (!n || !fy_node_is_scalar(n) || fy_node_is_alias(n) || fy_node_is_null(n))
		return NULL;
	return fy_node_get_scalar(n, len);
}

/* An event or rule field name: 1-255 bytes, no spaces or control characters, no NUL. */
static bool name_ok(const char *s, size_t len)
{
	if (!len || len >= FIELD_NAME_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

/* A logsource value or dataset part: lower-case letters, digits, '_', '-' and '.'. */
static int list_add(struct fm_list *l, const char *from, size_t from_len, const char *to,
		    size_t to_len)
{
	struct fm_pair *grown, *p;

	if (l->n >= FIELDMAP_ENTRIES_MAX)
		return -E2BIG;
	grown = mem_realloc(l->v, (l->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	l->v = grown;
	p = &grown[l->n];
	p->from = mem_strndup(from, from_len);
	p->to = to ? mem_strndup(to, to_len) : NULL;
	p->from_len = from_len;
	if (!p->from || (to && !p->to)) {
		mem_free(p->from);
		mem_free(p->to);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int too_many(struct reader *r, struct fy_node *n, int rc)
{
	if (rc == -E2BIG)
		return err_set(r->e, rc, "%s:%u: more than %u entries", r->file, node_line(n),
			       FIELDMAP_ENTRIES_MAX);
	return err_set(r->e, rc, "%s: out of memory", r->file);
}

static int read_logsource(struct reader *r, struct fy_node *n)
{
	struct fy_node_pair *p;
	void *it = NULL;

	if (!fy_node_is_mapping(n))
		return bad(r, n, "logsource: expected a mapping of category, product, service", NULL);
	r->map->line = node_line(n);
	while ((p = fy_node_mapping_iterate(n, &it))) {
		size_t klen = 0, vlen = 0;
		const char *k = scalar(fy_node_pair_key(p), &klen);
		const char *v = scalar(fy_node_pair_value(p), &vlen);
		int key = -1;

		for (int i = 0; k && i < LS_KEYS; i++)
			if (strlen(ls_key_names[i]) == klen && !memcmp(k, ls_key_names[i], klen))
				key = i;
		if (key < 0)
			return bad(r, fy_node_pair_key(p),
				   "logsource: expected category, product or service", NULL);
		if (!v || !name_logsource_valid(v, vlen, 128))
			return bad(r, fy_node_pair_value(p),
				   "logsource: expected a lower-case name ([a-z0-9_.-])", NULL);
		if (!(r->map->ls[key] = mem_strndup(v, vlen)))
			return too_many(r, n, -ENOMEM);
		r->map->n_keys++;
	}
	if (!r->map->n_keys)
		return bad(r, n, "logsource: expected at least one of category, product, service",
			   NULL);
	return 0;
}

/* datasets: [a.b, c.*]; stored as "a.b" and the prefix "c.". */
static int read_datasets(struct reader *r, struct fy_node *n)
{
	struct fy_node *item;
	void *it = NULL;
	int rc;

	if (!fy_node_is_sequence(n))
		return bad(r, n, "datasets: expected a list of event.dataset values", NULL);
	while ((item = fy_node_sequence_iterate(n, &it))) {
		size_t len = 0;
		const char *s = scalar(item, &len);
		bool prefix = s && len > 2 && s[len - 1] == '*' && s[len - 2] == '.';

		if (!s || !name_logsource_valid(s, prefix ? len - 2 : len, 128))
			return bad(r, item, "datasets: expected an event.dataset ([a-z0-9_.-]) "
				   "or a prefix NAME.*", NULL);
		if ((rc = list_add(&r->map->datasets, s, prefix ? len - 1 : len, NULL, 0)) < 0)
			return too_many(r, item, rc);
	}
	return 0;
}

static int read_vendor(struct reader *r, struct fy_node *n)
{
	struct fy_node *item;
	void *it = NULL;
	int rc;

	if (!fy_node_is_sequence(n))
		return bad(r, n, "vendor: expected a list of field-name prefixes", NULL);
	while ((item = fy_node_sequence_iterate(n, &it))) {
		size_t len = 0;
		const char *s = scalar(item, &len);

		if (!s || len < 2 || s[len - 1] != '.' || !name_ok(s, len - 1))
			return bad(r, item, "vendor: expected a field-name prefix ending in '.'",
				   NULL);
		if ((rc = list_add(&r->map->vendor, s, len, NULL, 0)) < 0)
			return too_many(r, item, rc);
	}
	return 0;
}

/*
 * A mapping of names to names (fields), to prefixes (prefixes, both ending in '.') or to
 * reasons (unsupported: any text).
 */
enum pair_kind { PAIR_FIELD, PAIR_PREFIX, PAIR_REASON };

static bool pair_side_ok(const char *s, size_t len, enum pair_kind kind)
{
	if (kind == PAIR_PREFIX)
		return len >= 2 && s[len - 1] == '.' && name_ok(s, len - 1);
	return name_ok(s, len);
}

static int read_pairs(struct reader *r, struct fy_node *n, const char *key,
		      struct fm_list *l, enum pair_kind kind)
{
	static const char *const expect[] = {
		[PAIR_FIELD] = "a mapping of Sigma field name: event field name",
		[PAIR_PREFIX] = "a mapping of name prefix: field-name prefix (both ending in '.')",
		[PAIR_REASON] = "a mapping of Sigma field name: the reason no field stands for it",
	};
	struct fy_node_pair *p;
	void *it = NULL;
	char what[160];
	int rc;

	snprintf(what, sizeof(what), "%s: expected %s", key, expect[kind]);
	if (!fy_node_is_mapping(n))
		return bad(r, n, what, NULL);
	while ((p = fy_node_mapping_iterate(n, &it))) {
		size_t flen = 0, tlen = 0;
		const char *from = scalar(fy_node_pair_key(p), &flen);
		const char *to = scalar(fy_node_pair_value(p), &tlen);

		if (!from || !pair_side_ok(from, flen, kind == PAIR_PREFIX ? kind : PAIR_FIELD))
			return bad(r, fy_node_pair_key(p), what, NULL);
		if (!to || (kind == PAIR_REASON ? !tlen || tlen > 1024 : !pair_side_ok(to, tlen, kind)))
			return bad(r, fy_node_pair_value(p), what, NULL);
		if ((rc = list_add(l, from, flen, to, tlen)) < 0)
			return too_many(r, fy_node_pair_key(p), rc);
	}
	return 0;
}

static bool is_ecs(const char *name)
{
	int id = field_lookup(name, strlen(name));

	return id >= 0 && id < FIELD_COUNT;
}

static const struct fm_pair *find_prefix(const struct fm_list *l, const char *name, bool fold);

/*
 * What the file says must hold together: a target is an ECS field of koban or lies under
 * one of the map's vendor prefixes (a misspelt target would make rules silently false), and
 * no name is both under fields and unsupported.
 */
static int check_map(struct reader *r)
{
	const struct fm_map *mp = r->map;
	const struct fm_list *lists[2] = { &mp->fields, &mp->prefixes };

	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			const char *to = lists[l]->v[i].to;

			if ((l || !is_ecs(to)) && !find_prefix(&mp->vendor, to, false))
				return err_set(r->e, -EINVAL, "%s: %s: %s is neither an ECS field "
					       "of koban nor under a vendor: prefix of the map",
					       r->file, lists[l]->v[i].from, to);
		}

	for (size_t i = 0; i < mp->unsupported.n; i++)
		for (size_t j = 0; j < mp->fields.n; j++)
			if (!strcmp(mp->unsupported.v[i].from, mp->fields.v[j].from))
				return err_set(r->e, -EINVAL,
					       "%s: %s is under both fields and unsupported",
					       r->file, mp->fields.v[j].from);
	return 0;
}

static int read_root(struct reader *r, struct fy_node *root)
{
	struct fy_node_pair *p;
	struct fy_node *ls = NULL;
	void *it = NULL;
	int rc = 0;

	if (!root || !fy_node_is_mapping(root))
		return err_set(r->e, -EINVAL, "%s:%u: expected a mapping with logsource:, "
			       "datasets:, fields:", r->file, node_line(root));
	while (!rc && (p = fy_node_mapping_iterate(root, &it))) {
		size_t klen = 0;
		const char *k = scalar(fy_node_pair_key(p), &klen);
		struct fy_node *v = fy_node_pair_value(p);
		char key[16] = "";

		if (k && klen < sizeof(key))
			memcpy(key, k, klen);
		if (!strcmp(key, "logsource"))
			rc = read_logsource(r, ls = v);
		else if (!strcmp(key, "datasets"))
			rc = read_datasets(r, v);
		else if (!strcmp(key, "vendor"))
			rc = read_vendor(r, v);
		else if (!strcmp(key, "prefixes"))
			rc = read_pairs(r, v, key, &r->map->prefixes, PAIR_PREFIX);
		else if (!strcmp(key, "fields"))
			rc = read_pairs(r, v, key, &r->map->fields, PAIR_FIELD);
		else if (!strcmp(key, "unsupported"))
			rc = read_pairs(r, v, key, &r->map->unsupported, PAIR_REASON);
		else if (strcmp(key, "description"))
			rc = bad(r, fy_node_pair_key(p), "expected one of logsource, datasets, "
				 "vendor, prefixes, fields, unsupported, description", NULL);
	}
	if (!rc && !ls)
		rc = err_set(r->e, -EINVAL, "%s: logsource: missing", r->file);
	return rc < 0 ? rc : check_map(r);
}

/*
 * libfyaml reports errors as text through its diagnostic callback, in pieces: the first
 * is "SOURCE:LINE:COLUMN: error: MESSAGE\n", then the source line and a caret. The first
 * error is kept for the user's FILE:LINE message.
 */
struct yaml_diag {
	unsigned line;
	char msg[200];
};

static void on_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	static const char tag[] = ": error: ";
	struct yaml_diag *d = user;
	const char *at = memmem(buf, len, tag, sizeof(tag) - 1), *p, *msg;
	size_t n;

	if (d->msg[0] || !at)
		return;
	p = at;
	while (p > buf && p[-1] >= '0' && p[-1] <= '9') /* COLUMN */
		p--;
	if (p > buf && p[-1] == ':')
		p--;
	while (p > buf && p[-1] >= '0' && p[-1] <= '9') /* LINE */
		p--;
	d->line = (unsigned)strtoul(p, NULL, 10);
	msg = at + sizeof(tag) - 1;
	n = (size_t)(buf + len - msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	snprintf(d->msg, sizeof(d->msg), "%.*s", (int)MIN(n, sizeof(d->msg) - 1), msg);
}

/*
 * A map file is UTF-8 text without NUL bytes. Checked before libfyaml sees it: Debian 12's
 * libfyaml 0.8 loops forever on an unknown directive holding invalid UTF-8 (found by
 * fuzz_fieldmap), and a NUL would cut names short.
 */
static int check_text(const char *file, const char *text, size_t len, struct err *e)
{
	unsigned line;
	size_t col, at = json_utf8_text(text, len, &line, &col);

	if (at < len)
		return err_set(e, -EINVAL, "%s:%u: expected UTF-8 text, found byte 0x%02x",
			       file, line, (unsigned char)text[at]);
	return 0;
}

/* Parses text into a new map (the caller releases it, also on error). */
static int read_map(struct fm_map *mp, const char *file, const char *text, size_t len,
		    struct err *e)
{
	struct fy_diag_cfg dcfg;
	struct yaml_diag yd = { 0, "" };
	struct fy_parse_cfg cfg = { 0 };
	struct fy_document *doc = NULL;
	struct fy_diag *diag;
	struct reader r = { file, mp, e };
	int rc;

	if (len > FIELDMAP_FILE_MAX)
		return err_set(e, -E2BIG, "%s: larger than %u bytes", file, FIELDMAP_FILE_MAX);
	if (!(mp->file = mem_strdup(file)))
		return err_set(e, -ENOMEM, "%s: out of memory", file);
	if ((rc = check_text(file, text, len, e)) < 0)
		return rc;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = on_diag;
	dcfg.user = &yd;
	dcfg.level = FYET_ERROR;
	dcfg.colorize = false;
	dcfg.show_source = false;
	dcfg.show_position = true;
	dcfg.show_type = false;
	dcfg.show_module = false;
	if (!(diag = fy_diag_create(&dcfg)))
		return err_set(e, -ENOMEM, "%s: out of memory", file);
	cfg.flags = FYPCF_QUIET | FYPCF_JSON_NONE;
	cfg.diag = diag;
	doc = fy_document_build_from_string(&cfg, text, len);
	if (!doc || fy_diag_got_error(diag))
		rc = err_set(e, -EINVAL, "%s:%u: malformed YAML: %s", file, yd.line,
			     yd.msg[0] ? yd.msg : "unreadable");
	else
		rc = read_root(&r, fy_document_root(doc));
	fy_document_destroy(doc);
	fy_diag_unref(diag);
	return rc;
}

/* ---------------------------------------------------------------- datasets */

static bool same_ls(const char *const a[LS_KEYS], char *const b[LS_KEYS])
{
	for (int k = 0; k < LS_KEYS; k++)
		if (!a[k] != !b[k] || (a[k] && strcmp(a[k], b[k])))
			return false;
	return true;
}

static const char *ls_text(char *const ls[LS_KEYS], char *out, size_t size)
{
	size_t used = 0;

	out[0] = 0;
	for (int k = 0; k < LS_KEYS; k++)
		if (ls[k] && used < size)
			used += (size_t)snprintf(out + used, size - used, "%s%s=%s",
						 used ? " " : "", ls_key_names[k], ls[k]);
	return out;
}

/* Adds the keys of from into to; -EINVAL when a key already has another value. */
static int merge_ls(const char *to[LS_KEYS], const char *const from[LS_KEYS], int *clash)
{
	for (int k = 0; k < LS_KEYS; k++) {
		if (!from[k])
			continue;
		if (to[k] && strcmp(to[k], from[k])) {
			*clash = k;
			return -EINVAL;
		}
		to[k] = from[k];
	}
	return 0;
}

static int cmp_dataset(const void *a, const void *b)
{
	const struct fm_dataset *x = a, *y = b;
	int c = memcmp(x->name, y->name, MIN(x->len, y->len));

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_longest_first(const void *a, const void *b)
{
	const struct fm_dataset *x = a, *y = b;

	return (x->len < y->len) - (x->len > y->len);
}

/* Whether the prefix entry p ("panos.") covers the dataset d. */
static bool covers(const struct fm_dataset *p, const char *d, size_t len)
{
	return len >= p->len && !memcmp(d, p->name, p->len);
}

/* The table being built: exact names and prefixes, each once with its merged logsource. */
struct ds_table {
	struct fm_dataset *v;
	size_t n;
};

static struct fm_dataset *table_entry(struct ds_table *t, const char *name, size_t len,
				      bool prefix)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].prefix == prefix && t->v[i].len == len && !memcmp(t->v[i].name, name, len))
			return &t->v[i];
	return NULL;
}

static int clash_err(const struct fieldmap *m, const struct fm_dataset *d, int key,
		     struct err *e)
{
	const char *files[2] = { NULL, NULL };

	/* name the files that disagree: the first two maps that give that key for d */
	for (size_t i = 0; i < m->n_maps && !files[1]; i++)
		for (size_t j = 0; j < m->maps[i].datasets.n; j++) {
			const struct fm_pair *p = &m->maps[i].datasets.v[j];
			bool pre = p->from[p->from_len - 1] == '.';
			bool hit = pre ? d->len >= p->from_len && !memcmp(d->name, p->from, p->from_len)
				       : p->from_len == d->len && !memcmp(d->name, p->from, d->len);

			if (hit && m->maps[i].ls[key]) {
				files[files[0] ? 1 : 0] = m->maps[i].file;
				break;
			}
		}
	return err_set(e, -EINVAL, "%s: dataset %.*s%s gets two values of logsource %s (also "
		       "from %s)", files[1] ? files[1] : "?", (int)d->len, d->name,
		       d->prefix ? "*" : "", ls_key_names[key], files[0] ? files[0] : "?");
}

/* Builds the dataset tables of all maps into m, or fails with m unchanged. */
static int rebuild_datasets(struct fieldmap *m, struct err *e)
{
	struct ds_table t = { NULL, 0 };
	size_t total = 0, n_exact = 0;
	struct fm_dataset *exact = NULL, *prefix = NULL;
	int clash = 0, rc = 0;

	for (size_t i = 0; i < m->n_maps; i++)
		total += m->maps[i].datasets.n;
	if (total && !(t.v = mem_calloc(total, sizeof(*t.v))))
		return err_set(e, -ENOMEM, "field maps: out of memory");
	for (size_t i = 0; i < m->n_maps && !rc; i++) {
		const struct fm_map *mp = &m->maps[i];

		for (size_t j = 0; j < mp->datasets.n && !rc; j++) {
			const struct fm_pair *p = &mp->datasets.v[j];
			bool pre = p->from[p->from_len - 1] == '.';
			struct fm_dataset *d = table_entry(&t, p->from, p->from_len, pre);

			if (!d) {
				d = &t.v[t.n++];
				*d = (struct fm_dataset){ p->from, p->from_len, pre, { 0 } };
			}
			if (merge_ls(d->ls, (const char *const *)mp->ls, &clash) < 0)
				rc = clash_err(m, d, clash, e);
		}
	}
	/* a prefix's keys hold for every dataset (and longer prefix) it covers */
	for (size_t i = 0; i < t.n && !rc; i++)
		for (size_t j = 0; j < t.n && !rc; j++)
			if (i != j && t.v[j].prefix && covers(&t.v[j], t.v[i].name, t.v[i].len) &&
			    merge_ls(t.v[i].ls, t.v[j].ls, &clash) < 0)
				rc = clash_err(m, &t.v[i], clash, e);
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < t.n; i++)
		n_exact += !t.v[i].prefix;
	exact = mem_calloc(n_exact + 1, sizeof(*exact));
	prefix = mem_calloc(t.n - n_exact + 1, sizeof(*prefix));
	if (!exact || !prefix) {
		rc = err_set(e, -ENOMEM, "field maps: out of memory");
		goto fail;
	}
	for (size_t i = 0, x = 0, y = 0; i < t.n; i++) {
		if (t.v[i].prefix)
			prefix[y++] = t.v[i];
		else
			exact[x++] = t.v[i];
	}
	qsort(exact, n_exact, sizeof(*exact), cmp_dataset);
	qsort(prefix, t.n - n_exact, sizeof(*prefix), cmp_longest_first);
	mem_free(m->exact);
	mem_free(m->prefix);
	m->exact = exact;
	m->n_exact = n_exact;
	m->prefix = prefix;
	m->n_prefix = t.n - n_exact;
	mem_free(t.v);
	return 0;
fail:
	mem_free(exact);
	mem_free(prefix);
	mem_free(t.v);
	return rc;
}

int fieldmap_logsource(const struct fieldmap *m, const char *dataset, size_t len,
		       const char **category, const char **product, const char **service)
{
	const struct fm_dataset key = { dataset, len, false, { 0 } }, *d = NULL;

	*category = *product = *service = NULL;
	if (!m || !len)
		return 0;
	if (m->n_exact)
		d = bsearch(&key, m->exact, m->n_exact, sizeof(*m->exact), cmp_dataset);
	for (size_t i = 0; !d && i < m->n_prefix; i++)
		if (covers(&m->prefix[i], dataset, len))
			d = &m->prefix[i];
	if (!d)
		return 0;
	*category = d->ls[LS_CATEGORY];
	*product = d->ls[LS_PRODUCT];
	*service = d->ls[LS_SERVICE];
	return 1;
}

int fieldmap_event_logsource(const struct fieldmap *m, const struct event *ev,
			     const struct config_logsource *override, const char **category,
			     const char **product, const char **service)
{
	const char *ds = NULL;
	size_t len = 0;

	if (override) {
		*category = override->category;
		*product = override->product;
		*service = override->service;
		return 1;
	}
	if (!event_get_str(ev, FIELD_EVENT_DATASET, &ds, &len))
		len = 0;
	return fieldmap_logsource(m, ds, len, category, product, service);
}

/* ---------------------------------------------------------------- loading */

int fieldmap_load_mem(struct fieldmap *m, const char *name, const char *text, size_t len,
		      struct err *e)
{
	struct fm_map mp = { 0 }, *grown;
	char a[160], b[160];
	int rc;

	if (m->n_maps >= FIELDMAP_MAPS_MAX)
		return err_set(e, -E2BIG, "%s: more than %u field maps", name, FIELDMAP_MAPS_MAX);
	if ((rc = read_map(&mp, name, text, len, e)) < 0)
		goto fail;
	for (size_t i = 0; i < m->n_maps; i++)
		if (same_ls((const char *const *)m->maps[i].ls, mp.ls)) {
			rc = err_set(e, -EINVAL, "%s:%u: logsource %s is already mapped by %s:%u",
				     name, mp.line, ls_text(mp.ls, a, sizeof(a)),
				     m->maps[i].file, m->maps[i].line);
			goto fail;
		}
	grown = mem_realloc(m->maps, (m->n_maps + 1) * sizeof(*grown));
	if (!grown) {
		rc = err_set(e, -ENOMEM, "%s: out of memory", name);
		goto fail;
	}
	m->maps = grown;
	m->maps[m->n_maps++] = mp;
	if ((rc = rebuild_datasets(m, e)) < 0) {
		m->n_maps--; /* the map goes again: the tables still describe the others */
		goto fail;
	}
	log_debug("%s: logsource %s, %zu fields, %zu datasets", name,
		  ls_text(mp.ls, b, sizeof(b)), mp.fields.n, mp.datasets.n);
	return 0;
fail:
	map_release(&mp);
	return rc;
}

int fieldmap_load_bundled(struct fieldmap *m, struct err *e)
{
	int rc;

	for (size_t i = 0; i < fieldmap_bundled_count; i++)
		if ((rc = fieldmap_load_mem(m, fieldmap_bundled[i].name,
					    (const char *)fieldmap_bundled[i].bytes,
					    fieldmap_bundled[i].len, e)) < 0)
			return rc;
	return 0;
}

static bool is_map_file(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 4 && !strcmp(name + n - 4, ".yml")) ||
				  (n > 5 && !strcmp(name + n - 5, ".yaml")));
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads dir/name; the file is read whole (at most FIELDMAP_FILE_MAX bytes). */
static int load_file(struct fieldmap *m, const char *dir, const char *name, struct err *e)
{
	char path[4096];
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	if ((rc = config_read_file(path, "field map", FIELDMAP_FILE_MAX, &text, &len, e)) < 0)
		return rc;
	rc = fieldmap_load_mem(m, path, text, len, e);
	mem_free(text);
	return rc;
}

int fieldmap_load_dir(struct fieldmap *m, const char *dir, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, **grown;
	size_t n = 0;
	int rc = 0;

	if (!d) {
		int code = errno ? -errno : -ENOENT;

		return err_set(e, code, "%s: cannot read the directory: %s", dir, strerror(-code));
	}
	while (!rc && (de = readdir(d))) {
		if (!is_map_file(de->d_name))
			continue;
		if (n >= FIELDMAP_MAPS_MAX) {
			rc = err_set(e, -E2BIG, "%s: more than %u field maps", dir,
				     FIELDMAP_MAPS_MAX);
			break;
		}
		if (!(grown = mem_realloc(names, (n + 1) * sizeof(*names))) ||
		    !(grown[n] = mem_strdup(de->d_name))) {
			if (grown)
				names = grown;
			rc = err_set(e, -ENOMEM, "%s: out of memory", dir);
			break;
		}
		names = grown;
		n++;
	}
	closedir(d);
	if (!rc && n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; !rc && i < n; i++)
		rc = load_file(m, dir, names[i], e);
	for (size_t i = 0; i < n; i++)
		mem_free(names[i]);
	mem_free(names);
	return rc;
}

/* ---------------------------------------------------------------- resolving names */

static bool map_applies(const struct fm_map *mp, const char *const ls[LS_KEYS])
{
	for (int k = 0; k < LS_KEYS; k++)
		if (mp->ls[k] && (!ls[k] || strcmp(mp->ls[k], ls[k])))
			return false;
	return true;
}

static const struct fm_pair *find(const struct fm_list *l, const char *name, bool fold)
{
	for (size_t i = 0; i < l->n; i++)
		if (fold ? !strcasecmp(l->v[i].from, name) : !strcmp(l->v[i].from, name))
			return &l->v[i];
	return NULL;
}

static const struct fm_pair *find_prefix(const struct fm_list *l, const char *name, bool fold)
{
	for (size_t i = 0; i < l->n; i++)
		if (fold ? !strncasecmp(l->v[i].from, name, l->v[i].from_len)
			 : !strncmp(l->v[i].from, name, l->v[i].from_len))
			return &l->v[i];
	return NULL;
}

/*
 * The maps that apply to a rule's logsource, most specific first (then in load order):
 * their indices into m->maps in out; returns how many.
 */
static size_t applicable(const struct fieldmap *m, const char *const ls[LS_KEYS],
			 const struct fm_map *out[FIELDMAP_MAPS_MAX])
{
	size_t n = 0;

	for (unsigned keys = LS_KEYS; keys > 0; keys--)
		for (size_t i = 0; i < m->n_maps; i++)
			if (m->maps[i].n_keys == keys && map_applies(&m->maps[i], ls))
				out[n++] = &m->maps[i];
	return n;
}

/*
 * A renamed prefix (properties.appId -> azure.signinlogs.properties.appId). The new name
 * is interned in the field registry, whose copy lives as long as the process: the rule
 * interns it anyway, and the decoder registers the same name when it first writes it.
 */
static const char *renamed(const struct fm_pair *p, const char *name, struct err *e)
{
	char full[FIELD_NAME_MAX];
	size_t rest = strlen(name) - p->from_len;
	size_t to_len = strlen(p->to);
	int id;

	if (!rest || name[strlen(name) - 1] == '.') {
		err_set(e, -EINVAL, "field \"%.80s\": expected a name after the prefix %s", name,
			p->from);
		return NULL;
	}
	if (to_len + rest >= sizeof(full)) {
		err_set(e, -EINVAL, "field \"%.80s\": longer than %d bytes once renamed to %s...",
			name, FIELD_NAME_MAX - 1, p->to);
		return NULL;
	}
	memcpy(full, p->to, to_len);
	memcpy(full + to_len, name + p->from_len, rest);
	if ((id = field_intern(full, to_len + rest, FT_STR)) < 0) {
		err_set(e, id, "field \"%.80s\": cannot register %.*s: %s", name,
			(int)(to_len + rest), full, strerror(-id));
		return NULL;
	}
	return field_name((unsigned)id);
}

/*
 * Whether some dataset's events can carry the rule's logsource: each key the rule names is
 * given that value by the maps. A rule no decoded event can reach (product m365, service
 * exchange: koban reads no such log) keeps names it does not know as given, for a source
 * that is given its logsource in the configuration.
 */
static bool reachable(const struct fieldmap *m, const char *const ls[LS_KEYS])
{
	const struct fm_dataset *tables[2] = { m->exact, m->prefix };
	const size_t counts[2] = { m->n_exact, m->n_prefix };

	for (int t = 0; t < 2; t++)
		for (size_t i = 0; i < counts[t]; i++) {
			const struct fm_dataset *d = &tables[t][i];
			bool ok = true;

			for (int k = 0; k < LS_KEYS && ok; k++)
				ok = !ls[k] || (d->ls[k] && !strcmp(d->ls[k], ls[k]));
			if (ok)
				return true;
		}
	return false;
}

const char *fieldmap_resolve(void *ctx, const char *category, const char *product,
			     const char *service, const char *name, struct err *e)
{
	const struct fieldmap *m = ctx;
	const char *const ls[LS_KEYS] = { category, product, service };
	const struct fm_map *maps[FIELDMAP_MAPS_MAX];
	const struct fm_pair *p = NULL;
	size_t n;
	char where[160];

	if (!m || !(n = applicable(m, ls, maps)))
		return name;
	for (int fold = 0; fold < 2; fold++) {
		for (size_t i = 0; i < n; i++)
			if ((p = find(&maps[i]->fields, name, fold)))
				return p->to;
		for (size_t i = 0; i < n; i++)
			if ((p = find(&maps[i]->unsupported, name, fold))) {
				err_set(e, -ENOENT, "field \"%.80s\" has no counterpart in koban's "
					"%s events: %s (%s)", name,
					ls_text(maps[i]->ls, where, sizeof(where)), p->to,
					maps[i]->file);
				return NULL;
			}
	}
	for (int fold = 0; fold < 2; fold++)
		for (size_t i = 0; i < n; i++)
			if ((p = find_prefix(&maps[i]->prefixes, name, fold)))
				return renamed(p, name, e);
	if (is_ecs(name) || !reachable(m, ls))
		return name;
	for (size_t i = 0; i < n; i++)
		if (find_prefix(&maps[i]->vendor, name, false))
			return name;
	err_set(e, -ENOENT, "field \"%.80s\" is unknown for logsource %s: not in the field map "
		"%s, and neither an ECS field of koban nor a vendor field its decoders write",
		name, ls_text(maps[0]->ls, where, sizeof(where)), maps[0]->file);
	return NULL;
}
