/*
 * assets.c - the asset inventory in memory: edits, CSV and scanner imports, look-ups and
 * the unknown hosts of alerts (enrich/assets.h).
 */
#include "enrich/assets.h"
#include "core/compat.h"

#include <ctype.h>
#include <strings.h>

#define LOG_MODULE "assets"
#include "core/arena.h"
#include "core/buf.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/meta.h"

#define ARENA_CHUNK 65536

static const char *const column_names[ASSETS_N_COLS] = {
	"name", "hostnames", "addresses", "owner", "criticality", "role", "software", "cves",
};

static const char *const format_names[] = { "auto", "csv", "nessus", "openvas" };

const char *assets_column_name(enum assets_column c)
{
	return (unsigned)c < ASSETS_N_COLS ? column_names[c] : "?";
}

const char *assets_format_name(enum assets_format f)
{
	return (unsigned)f < ARRAY_SIZE(format_names) ? format_names[f] : "?";
}

int assets_format_parse(const char *s, enum assets_format *f, struct err *e)
{
	for (unsigned i = 0; i < ARRAY_SIZE(format_names); i++)
		if (!strcmp(s, format_names[i])) {
			*f = (enum assets_format)i;
			return 0;
		}
	return err_set(e, -EINVAL, "format '%s': expected auto, csv, nessus or openvas", s);
}

/* ---- the inventory ---- */

/* A key of the look-up index: a host name (or its first label) or a network. */
struct host_key {
	const char *tenant;
	const char *name;       /* lower-case */
	bool short_form;        /* the first label of a longer name */
	const struct assets_entry *en;
};

struct net_key {
	const char *tenant;
	struct ipaddr net;
	unsigned prefix;
	const struct assets_entry *en;
};

struct assets {
	struct arena arena;          /* every string and entry */
	struct assets_entry **v;
	size_t n, cap;
	struct host_key *hosts;      /* sorted by tenant, name, exact before short */
	size_t n_hosts;
	struct net_key *nets;        /* sorted by tenant, longest prefix first */
	size_t n_nets;
};

int assets_new(struct assets **out, struct err *e)
{
	struct assets *a = mem_calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return err_set(e, -ENOMEM, "assets: out of memory");
	arena_init(&a->arena, ARENA_CHUNK, ASSETS_MEMORY_MAX);
	*out = a;
	return 0;
}

static void list_release(struct assets_list *l)
{
	mem_free(l->v);
}

/* Forgets every entry (the arena's memory kept for the next ones). */
static void assets_clear(struct assets *a)
{
	for (size_t i = 0; i < a->n; i++) {
		list_release(&a->v[i]->hostnames);
		list_release(&a->v[i]->addresses);
		list_release(&a->v[i]->software_names);
		list_release(&a->v[i]->software_versions);
		list_release(&a->v[i]->cves);
	}
	a->n = 0;
	arena_clear(&a->arena);
}

void assets_free(struct assets *a)
{
	if (!a)
		return;
	assets_clear(a);
	mem_free(a->v);
	mem_free(a->hosts);
	mem_free(a->nets);
	arena_release(&a->arena);
	mem_free(a);
}

size_t assets_count(const struct assets *a)
{
	return a->n;
}

struct assets_entry *assets_at(struct assets *a, size_t i)
{
	return i < a->n ? a->v[i] : NULL;
}

static const char *keep(struct assets *a, const char *s, size_t len)
{
	return arena_strndup(&a->arena, s, len);
}

static int no_memory(struct err *e)
{
	return err_set(e, -ENOMEM, "assets: out of memory");
}

static bool list_has(const struct assets_list *l, const char *s, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && !memcmp(l->v[i], s, len))
			return true;
	return false;
}

/* Appends s (kept in the arena) to l; -E2BIG past META_ASSET_ITEMS_MAX. */
static int list_push(struct assets *a, struct assets_list *l, const char *s, size_t len)
{
	const char *copy;

	if (l->n == META_ASSET_ITEMS_MAX)
		return -E2BIG;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		const char **v = mem_realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(copy = keep(a, s, len)))
		return -ENOMEM;
	l->v[l->n++] = copy;
	return 0;
}

static int new_entry(struct assets *a, const char *tenant, const char *name,
		     struct assets_entry **out, struct err *e)
{
	struct assets_entry *en = arena_alloc(&a->arena, sizeof(*en));

	if (!en)
		return no_memory(e);
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct assets_entry **v = mem_realloc(a->v, cap * sizeof(*v));

		if (!v)
			return no_memory(e);
		a->v = v;
		a->cap = cap;
	}
	memset(en, 0, sizeof(*en));
	if (!(en->tenant = keep(a, tenant, strlen(tenant))) ||
	    !(en->name = keep(a, name, strlen(name))))
		return no_memory(e);
	en->owner = "";
	en->criticality = "medium";
	en->role = "other";
	a->v[a->n++] = en;
	*out = en;
	return 0;
}

/* Printable text (UTF-8, no control characters) of min..META_ASSET_TEXT_MAX bytes. */
static int check_text(const char *what, const char *s, size_t len, size_t min, struct err *e)
{
	bool ok = len >= min && len <= META_ASSET_TEXT_MAX;

	for (size_t i = 0; ok && i < len;) {
		size_t n = json_utf8_len((const unsigned char *)s + i, len - i);

		ok = n && !(n == 1 && ((unsigned char)s[i] < ' ' || s[i] == 0x7f));
		i += n;
	}
	if (!ok)
		return err_set(e, -EINVAL, "%s: expected %zu to %d bytes of text without control "
			       "characters", what, min, META_ASSET_TEXT_MAX);
	return 0;
}

int assets_add_new(struct assets *a, const char *tenant, const char *name,
		   struct assets_entry **out, struct err *e)
{
	int rc;

	if ((rc = check_text("asset name", name, strlen(name), 0, e)) < 0)
		return rc;
	if ((rc = new_entry(a, tenant, name, out, e)) == 0)
		(*out)->changed = true;
	return rc;
}

/* ---- values in canonical form ---- */

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A host name lower-cased without its final dot into out[META_ASSET_TEXT_MAX + 1]. */
static int canon_hostname(const char *s, size_t len, char *out, size_t *out_len, struct err *e)
{
	if (len && s[len - 1] == '.')
		len--;
	if (!len || len > META_ASSET_TEXT_MAX || s[0] == '.')
		goto bad;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)s[i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			goto bad;
		out[i] = c;
	}
	out[len] = '\0';
	*out_len = len;
	return 0;
bad:
	return err_set(e, -EINVAL, "host name '%.*s': expected letters, digits, '.', '-', '_'",
		       (int)MIN(len, 64), s);
}

/* The network bits of a CIDR kept, the rest zero: "10.0.0.5/8" is refused, not widened. */
static bool network_only(const struct ipaddr *net, unsigned prefix)
{
	for (unsigned bit = prefix; bit < 128; bit++)
		if (net->b[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/* "192.0.2.7" or "192.0.2.0/24" (IPv4 prefixes counted in IPv4 bits). */
static void format_cidr(const struct ipaddr *net, unsigned prefix, char *out)
{
	bool v4 = ipaddr_is_v4(net);
	size_t n;

	ipaddr_format(net, out);
	if (prefix == 128)
		return;
	n = strlen(out);
	snprintf(out + n, IPADDR_STRLEN + 5 - n, "/%u", v4 ? prefix - 96 : prefix);
}

#define CIDR_STRLEN (IPADDR_STRLEN + 5)

static int canon_address(const char *s, size_t len, char *out, struct err *e)
{
	struct ipaddr net;
	unsigned prefix;

	if (ipaddr_parse_cidr(&net, &prefix, s, len) < 0)
		return err_set(e, -EINVAL, "address '%.*s': expected an address or ADDRESS/LENGTH",
			       (int)MIN(len, 64), s);
	if (!network_only(&net, prefix))
		return err_set(e, -EINVAL, "address '%.*s': bits set past the prefix length (the "
			       "network's first address is expected)", (int)MIN(len, 64), s);
	format_cidr(&net, prefix, out);
	return 0;
}

/* "CVE-YYYY-NNNN" upper-case, 4 to 19 digits after the year. */
static int canon_cve(const char *s, size_t len, char *out, struct err *e)
{
	bool ok = len >= 13 && len <= 28 && !strncasecmp(s, "cve-", 4) && s[8] == '-';

	for (size_t i = 4; ok && i < len; i++)
		ok = i == 8 || isdigit((unsigned char)s[i]);
	if (!ok)
		return err_set(e, -EINVAL, "CVE '%.*s': expected CVE-YYYY-NNNN", (int)MIN(len, 64),
			       s);
	memcpy(out, "CVE", 3);
	memcpy(out + 3, s + 3, len - 3);
	out[len] = '\0';
	return 0;
}

/* Adds one value of a list column in canonical form (once). */
static int add_item(struct assets *a, struct assets_entry *en, enum assets_column c,
		    const char *s, size_t len, struct err *e)
{
	char out[META_ASSET_TEXT_MAX + CIDR_STRLEN + 1];
	struct assets_list *l = c == ASSETS_COL_HOSTNAMES ? &en->hostnames
				: c == ASSETS_COL_ADDRESSES ? &en->addresses : &en->cves;
	size_t n = 0;
	int rc;

	if (c == ASSETS_COL_HOSTNAMES)
		rc = canon_hostname(s, len, out, &n, e);
	else if (c == ASSETS_COL_ADDRESSES)
		rc = canon_address(s, len, out, e);
	else
		rc = canon_cve(s, len, out, e);
	if (rc < 0)
		return rc;
	n = strlen(out);
	if (list_has(l, out, n))
		return 0;
	if ((rc = list_push(a, l, out, n)) < 0)
		return rc == -E2BIG ? err_set(e, rc, "%s: more than %d values", column_names[c],
					      META_ASSET_ITEMS_MAX)
				    : no_memory(e);
	en->changed = true;
	return 0;
}

/* Adds software (name, version) once. */
static int add_software(struct assets *a, struct assets_entry *en, const char *name,
			size_t name_len, const char *version, size_t version_len, struct err *e)
{
	int rc;

	if ((rc = check_text("software name", name, name_len, 1, e)) < 0 ||
	    (rc = check_text("software version", version, version_len, 0, e)) < 0)
		return rc;
	for (size_t i = 0; i < en->software_names.n; i++)
		if (strlen(en->software_names.v[i]) == name_len &&
		    !memcmp(en->software_names.v[i], name, name_len) &&
		    strlen(en->software_versions.v[i]) == version_len &&
		    !memcmp(en->software_versions.v[i], version, version_len))
			return 0;
	if ((rc = list_push(a, &en->software_names, name, name_len)) < 0 ||
	    (rc = list_push(a, &en->software_versions, version, version_len)) < 0) {
		if (en->software_names.n > en->software_versions.n)
			en->software_names.n--;
		return rc == -E2BIG ? err_set(e, rc, "software: more than %d values",
					      META_ASSET_ITEMS_MAX)
				    : no_memory(e);
	}
	en->changed = true;
	return 0;
}

/* "NAME VERSION": the version is the last word when it starts with a digit. */
static int add_software_text(struct assets *a, struct assets_entry *en, const char *s,
			     size_t len, struct err *e)
{
	size_t sp = len;

	while (sp && !blank(s[sp - 1]))
		sp--;
	if (sp && sp < len && isdigit((unsigned char)s[sp])) {
		size_t name_len = sp;

		while (name_len && blank(s[name_len - 1]))
			name_len--;
		return add_software(a, en, s, name_len, s + sp, len - sp, e);
	}
	return add_software(a, en, s, len, "", 0, e);
}

/* Splits a cell into its values: software by ';', the other lists by ';', ',' or blanks. */
static int add_items(struct assets *a, struct assets_entry *en, enum assets_column c,
		     const char *s, size_t len, struct err *e)
{
	const char *seps = c == ASSETS_COL_SOFTWARE ? ";" : ";, \t\r\n";
	size_t at = 0;
	int rc;

	while (at < len) {
		size_t end = at;
		const char *item;
		size_t n;

		while (end < len && !strchr(seps, s[end]))
			end++;
		item = s + at;
		n = end - at;
		csv_trim(&item, &n);
		if (n) {
			rc = c == ASSETS_COL_SOFTWARE ? add_software_text(a, en, item, n, e)
						      : add_item(a, en, c, item, n, e);
			if (rc < 0)
				return rc;
		}
		at = end + 1;
	}
	return 0;
}

/* A criticality or role in lower case, one of the store's names. */
static int set_choice(struct assets *a, const char **field, enum assets_column c,
		      const char *s, size_t len, struct err *e)
{
	char low[16];

	for (size_t i = 0; i < len && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	low[MIN(len, sizeof(low) - 1)] = '\0';
	if (len >= sizeof(low) || !(c == ASSETS_COL_ROLE ? meta_asset_role_ok(low)
							  : meta_asset_criticality_ok(low)))
		return err_set(e, -EINVAL, c == ASSETS_COL_ROLE
				   ? "role '%.*s': expected server, pc, network or other"
				   : "criticality '%.*s': expected low, medium, high or critical",
			       (int)MIN(len, 32), s);
	if (!(*field = keep(a, low, strlen(low))))
		return no_memory(e);
	return 0;
}

static struct assets_list *list_of(struct assets_entry *en, enum assets_column c)
{
	switch (c) {
	case ASSETS_COL_HOSTNAMES:
		return &en->hostnames;
	case ASSETS_COL_ADDRESSES:
		return &en->addresses;
	case ASSETS_COL_SOFTWARE:
		return &en->software_names;
	case ASSETS_COL_CVES:
		return &en->cves;
	default:
		return NULL;
	}
}

int assets_entry_set(struct assets *a, struct assets_entry *en, enum assets_column c,
		     const char *s, size_t len, bool replace, struct err *e)
{
	struct assets_list *l = list_of(en, c);
	const char **field, *was;
	int rc;

	csv_trim(&s, &len);
	if (l) {
		if (replace) {
			l->n = 0;
			if (c == ASSETS_COL_SOFTWARE)
				en->software_versions.n = 0;
			en->changed = true;
		}
		return add_items(a, en, c, s, len, e);
	}
	field = c == ASSETS_COL_ROLE ? &en->role : c == ASSETS_COL_CRITICALITY ? &en->criticality
		: c == ASSETS_COL_NAME ? &en->name : &en->owner;
	was = *field;
	if (c == ASSETS_COL_CRITICALITY || c == ASSETS_COL_ROLE)
		rc = set_choice(a, field, c, s, len, e);
	else if ((rc = check_text(column_names[c], s, len, c == ASSETS_COL_NAME, e)) == 0 &&
		 !(*field = keep(a, s, len)))
		rc = no_memory(e);
	if (rc == 0 && strcmp(was, *field))
		en->changed = true; /* an import that brings nothing new writes nothing */
	return rc;
}

/* ---- JSON: koban.db's lists, the API's bodies, the output ---- */

/* Reads one string of j into the column's list (the JSON's strings hold no separators). */
static int json_item(struct assets *a, struct assets_entry *en, enum assets_column c,
		     const struct jsonin_value *v, struct err *e)
{
	if (v->type != JSONIN_STRING)
		return err_set(e, -EINVAL, "%s: expected strings", column_names[c]);
	return add_item(a, en, c, v->s, v->len, e);
}

/* One {"name": N, "version": V} of a software array (the object just entered). */
static int json_software(struct assets *a, struct assets_entry *en, struct jsonin *j,
			 struct err *e)
{
	struct jsonin_value k, v, name = { 0 }, version = { .s = "" };
	int more;

	while ((more = jsonin_key(j, &k)) > 0) {
		bool is_name = jsonin_key_is(&k, "name");

		if (!is_name && !jsonin_key_is(&k, "version"))
			return err_set(e, -EINVAL, "software: unknown key '%.*s' (name, version)",
				       (int)MIN(k.len, 32), k.s);
		if (jsonin_value(j, &v) < 0 || v.type != JSONIN_STRING)
			return err_set(e, -EINVAL, "software %s: expected a string",
				       is_name ? "name" : "version");
		*(is_name ? &name : &version) = v;
	}
	if (more < 0)
		return jsonin_error(j, e);
	if (!name.s)
		return err_set(e, -EINVAL, "software: every item needs a name");
	return add_software(a, en, name.s, name.len, version.s, version.len, e);
}

/* The array value next in j into column c's list (emptied first). */
static int json_list(struct assets *a, struct assets_entry *en, enum assets_column c,
		     struct jsonin *j, struct err *e)
{
	struct jsonin_value v;
	int more, rc;

	if ((rc = jsonin_value(j, &v)) < 0)
		return jsonin_error(j, e);
	if (v.type != JSONIN_ARRAY)
		return err_set(e, -EINVAL, "%s: expected an array", column_names[c]);
	list_of(en, c)->n = 0;
	if (c == ASSETS_COL_SOFTWARE)
		en->software_versions.n = 0;
	en->changed = true;
	while ((more = jsonin_more(j)) > 0) {
		if (jsonin_value(j, &v) < 0)
			return jsonin_error(j, e);
		if (c == ASSETS_COL_SOFTWARE)
			rc = v.type == JSONIN_OBJECT ? json_software(a, en, j, e)
				: err_set(e, -EINVAL, "software: expected {\"name\", \"version\"} "
					  "objects");
		else
			rc = json_item(a, en, c, &v, e);
		if (rc < 0)
			return rc;
	}
	return more < 0 ? jsonin_error(j, e) : 0;
}

/* A stored list (JSON text) into en. */
static int row_list(struct assets *a, struct assets_entry *en, enum assets_column c,
		    const char *json, struct arena *scratch, struct err *e)
{
	struct jsonin j;
	int rc;

	jsonin_init(&j, json, strlen(json), scratch, 0);
	rc = json_list(a, en, c, &j, e);
	if (rc == 0)
		rc = jsonin_finish(&j, e);
	arena_clear(scratch);
	return rc;
}

int assets_add_row(struct assets *a, const struct meta_asset *row, struct assets_entry **out,
		   struct err *e)
{
	static const enum assets_column lists[] = { ASSETS_COL_HOSTNAMES, ASSETS_COL_ADDRESSES,
						    ASSETS_COL_SOFTWARE, ASSETS_COL_CVES };
	const char *json[] = { row->hostnames, row->addresses, row->software, row->cves };
	struct assets_entry *en = NULL;
	struct arena scratch;
	int rc;

	if ((rc = new_entry(a, row->tenant, row->name, &en, e)) < 0)
		return rc;
	en->id = row->id;
	en->created_ns = row->created_ns;
	en->updated_ns = row->updated_ns;
	if (!(en->owner = keep(a, row->owner, strlen(row->owner))) ||
	    !(en->criticality = keep(a, row->criticality, strlen(row->criticality))) ||
	    !(en->role = keep(a, row->role, strlen(row->role))))
		return no_memory(e);
	arena_init(&scratch, 4096, META_ASSET_JSON_MAX);
	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(lists); i++)
		rc = row_list(a, en, lists[i], json[i], &scratch, e);
	arena_release(&scratch);
	en->changed = false;
	if (out)
		*out = en;
	return rc;
}

int assets_entry_apply_json(struct assets *a, struct assets_entry *en, const char *json,
			    size_t len, struct err *e)
{
	struct jsonin_value k, v;
	struct arena scratch;
	struct jsonin j;
	int more, rc = 0;

	arena_init(&scratch, 4096, 2 * META_ASSET_JSON_MAX);
	jsonin_init(&j, json, len, &scratch, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT) {
		rc = j.rc ? jsonin_error(&j, e) : err_set(e, -EINVAL, "expected a JSON object");
		goto out;
	}
	while (rc == 0 && (more = jsonin_key(&j, &k)) > 0) {
		enum assets_column c = ASSETS_N_COLS;

		for (unsigned i = 0; i < ASSETS_N_COLS; i++)
			if (jsonin_key_is(&k, column_names[i]))
				c = (enum assets_column)i;
		if (c == ASSETS_N_COLS) {
			rc = err_set(e, -EINVAL, "unknown key '%.*s': expected name, hostnames, "
				     "addresses, owner, criticality, role, software or cves",
				     (int)MIN(k.len, 32), k.s);
		} else if (list_of(en, c)) {
			rc = json_list(a, en, c, &j, e);
		} else if (jsonin_value(&j, &v) < 0) {
			rc = jsonin_error(&j, e);
		} else if (v.type != JSONIN_STRING) {
			rc = err_set(e, -EINVAL, "%s: expected a string", column_names[c]);
		} else {
			rc = assets_entry_set(a, en, c, v.s, v.len, true, e);
		}
	}
	if (rc == 0 && more < 0)
		rc = jsonin_error(&j, e);
	if (rc == 0)
		rc = jsonin_finish(&j, e);
out:
	arena_release(&scratch);
	return rc;
}

static int write_strings(struct buf *b, const struct assets_list *l)
{
	int rc = buf_addch(b, '[');

	for (size_t i = 0; i < l->n; i++) {
		if (i)
			rc = err_first(rc, buf_adds(b, ", "));
		rc = err_first(rc, json_add_string(b, l->v[i], strlen(l->v[i])));
	}
	return err_first(rc, buf_addch(b, ']'));
}

static int write_software(struct buf *b, const struct assets_entry *en)
{
	int rc = buf_addch(b, '[');

	for (size_t i = 0; i < en->software_names.n; i++) {
		const char *n = en->software_names.v[i], *v = en->software_versions.v[i];

		rc = err_first(rc, buf_adds(b, i ? ", {\"name\": " : "{\"name\": "));
		rc = err_first(rc, json_add_string(b, n, strlen(n)));
		rc = err_first(rc, buf_adds(b, ", \"version\": "));
		rc = err_first(rc, json_add_string(b, v, strlen(v)));
		rc = err_first(rc, buf_addch(b, '}'));
	}
	return err_first(rc, buf_addch(b, ']'));
}

int assets_entry_row(const struct assets_entry *en, struct buf *lists[4],
		     struct meta_asset *row)
{
	int rc = 0;

	for (int i = 0; i < 4; i++)
		buf_reset(lists[i]);
	rc = err_first(rc, write_strings(lists[0], &en->hostnames));
	rc = err_first(rc, write_strings(lists[1], &en->addresses));
	rc = err_first(rc, write_software(lists[2], en));
	rc = err_first(rc, write_strings(lists[3], &en->cves));
	if (rc < 0)
		return rc;
	*row = (struct meta_asset){
		.id = en->id, .tenant = en->tenant, .name = en->name,
		.hostnames = lists[0]->p, .addresses = lists[1]->p, .owner = en->owner,
		.criticality = en->criticality, .role = en->role, .software = lists[2]->p,
		.cves = lists[3]->p, .created_ns = en->created_ns, .updated_ns = en->updated_ns,
	};
	return 0;
}

static int write_field(struct buf *b, const char *key, const char *v)
{
	int rc = buf_addf(b, ", \"%s\": ", key);

	return err_first(rc, json_add_string(b, v, strlen(v)));
}

/* ", KEY: RFC 3339" (to the second), or null for 0 (not stored yet). */
static int write_time(struct buf *b, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];

	if (!ns)
		return buf_addf(b, ", \"%s\": null", key);
	time_format_rfc3339(ns - ns % NS_PER_SEC, t);
	return buf_addf(b, ", \"%s\": \"%s\"", key, t);
}

int assets_entry_write_json(const struct assets_entry *en, struct buf *b)
{
	int rc = buf_addf(b, "{\"id\": %lld", (long long)en->id);

	rc = err_first(rc, write_field(b, "tenant", en->tenant));
	rc = err_first(rc, write_field(b, "name", en->name));
	rc = err_first(rc, buf_adds(b, ", \"hostnames\": "));
	rc = err_first(rc, write_strings(b, &en->hostnames));
	rc = err_first(rc, buf_adds(b, ", \"addresses\": "));
	rc = err_first(rc, write_strings(b, &en->addresses));
	rc = err_first(rc, write_field(b, "owner", en->owner));
	rc = err_first(rc, write_field(b, "criticality", en->criticality));
	rc = err_first(rc, write_field(b, "role", en->role));
	rc = err_first(rc, buf_adds(b, ", \"software\": "));
	rc = err_first(rc, write_software(b, en));
	rc = err_first(rc, buf_adds(b, ", \"cves\": "));
	rc = err_first(rc, write_strings(b, &en->cves));
	rc = err_first(rc, write_time(b, "created", en->created_ns));
	rc = err_first(rc, write_time(b, "updated", en->updated_ns));
	return err_first(rc, buf_addch(b, '}'));
}

/* ---- look-ups ---- */

static int host_cmp(const void *pa, const void *pb)
{
	const struct host_key *x = pa, *y = pb;
	int c = strcmp(x->tenant, y->tenant);

	if (!c)
		c = strcmp(x->name, y->name);
	return c ? c : (int)x->short_form - (int)y->short_form;
}

/* The order of the network index: tenant, longest prefix first, network address. */
static int net_order(const struct net_key *x, const char *tenant, unsigned prefix,
		     const struct ipaddr *net)
{
	int c = strcmp(x->tenant, tenant);

	if (c)
		return c;
	if (x->prefix != prefix)
		return x->prefix > prefix ? -1 : 1;
	return memcmp(x->net.b, net->b, sizeof(net->b));
}

static int net_cmp(const void *pa, const void *pb)
{
	const struct net_key *y = pb;

	return net_order(pa, y->tenant, y->prefix, &y->net);
}

static int index_host(struct assets *a, size_t *cap, const struct assets_entry *en,
		      const char *name, bool short_form)
{
	if (a->n_hosts == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct host_key *v = mem_realloc(a->hosts, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->hosts = v;
		*cap = ncap;
	}
	a->hosts[a->n_hosts++] = (struct host_key){ en->tenant, name, short_form, en };
	return 0;
}

/* A host name's keys: itself, and its first label when it has more. */
static int index_name(struct assets *a, size_t *cap, const struct assets_entry *en,
		      const char *name)
{
	const char *dot = strchr(name, '.');
	const char *label;
	int rc;

	if ((rc = index_host(a, cap, en, name, false)) < 0 || !dot || dot == name)
		return rc;
	if (!(label = keep(a, name, (size_t)(dot - name))))
		return -ENOMEM;
	return index_host(a, cap, en, label, true);
}

static int index_nets(struct assets *a, size_t *cap, const struct assets_entry *en)
{
	for (size_t i = 0; i < en->addresses.n; i++) {
		struct net_key k = { .tenant = en->tenant, .en = en };
		const char *s = en->addresses.v[i];

		if (ipaddr_parse_cidr(&k.net, &k.prefix, s, strlen(s)) < 0)
			continue; /* canonical already: cannot happen */
		if (a->n_nets == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct net_key *v = mem_realloc(a->nets, ncap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			a->nets = v;
			*cap = ncap;
		}
		a->nets[a->n_nets++] = k;
	}
	return 0;
}

/* The name as a host name key (lower-case), or NULL when it is no host name. */
static const char *name_as_host(struct assets *a, const char *name)
{
	char canon[META_ASSET_TEXT_MAX + 1];
	size_t n;

	if (canon_hostname(name, strlen(name), canon, &n, NULL) < 0)
		return NULL;
	return keep(a, canon, n);
}

/* (Re)builds the look-up index over every entry. */
static int assets_index(struct assets *a, struct err *e)
{
	size_t host_cap = 0, net_cap = 0;
	int rc = 0;

	mem_free(a->hosts);
	mem_free(a->nets);
	a->hosts = NULL;
	a->nets = NULL;
	a->n_hosts = a->n_nets = 0;
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		const struct assets_entry *en = a->v[i];
		const char *as_host = name_as_host(a, en->name);

		if (as_host && !list_has(&en->hostnames, as_host, strlen(as_host)))
			rc = index_name(a, &host_cap, en, as_host);
		for (size_t h = 0; rc == 0 && h < en->hostnames.n; h++)
			rc = index_name(a, &host_cap, en, en->hostnames.v[h]);
		if (rc == 0)
			rc = index_nets(a, &net_cap, en);
	}
	if (rc < 0)
		return no_memory(e);
	if (a->n_hosts)
		qsort(a->hosts, a->n_hosts, sizeof(*a->hosts), host_cmp);
	if (a->n_nets)
		qsort(a->nets, a->n_nets, sizeof(*a->nets), net_cmp);
	return 0;
}

static void load_row(void *ctx, const struct meta_asset *row)
{
	struct { struct assets *a; struct err *e; int rc; } *l = ctx;

	if (l->rc == 0)
		l->rc = assets_add_row(l->a, row, NULL, l->e);
}

int assets_load(struct meta *m, const char *tenant, struct assets **out, struct err *e)
{
	struct { struct assets *a; struct err *e; int rc; } l = { NULL, e, 0 };
	int rc;

	*out = NULL;
	if ((rc = assets_new(&l.a, e)) < 0)
		return rc;
	rc = meta_asset_list(m, tenant, load_row, &l, e);
	if (rc == 0)
		rc = l.rc;
	if (rc == 0)
		rc = assets_index(l.a, e);
	if (rc < 0) {
		assets_free(l.a);
		return rc;
	}
	*out = l.a;
	return 0;
}

int assets_load_one(struct meta *m, const char *tenant, int64_t id, const char *name,
		    struct assets **out, struct assets_entry **en, struct err *e)
{
	struct { struct assets *a; struct err *e; int rc; } l = { NULL, e, 0 };
	int rc;

	*out = NULL;
	*en = NULL;
	if ((rc = assets_new(&l.a, e)) < 0)
		return rc;
	rc = meta_asset_get(m, tenant, id, name, load_row, &l, e);
	if (rc == 0)
		rc = l.rc;
	if (rc == 0 && l.a->n != 1)
		rc = err_set(e, -ENOENT, "no such asset");
	if (rc < 0) {
		assets_free(l.a);
		return rc;
	}
	*out = l.a;
	*en = l.a->v[0];
	return 0;
}

/* The first key of (tenant, name), or NULL. */
static const struct host_key *find_host(const struct assets *a, const char *tenant,
					const char *name)
{
	size_t lo = 0, hi = a->n_hosts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct host_key *k = &a->hosts[mid];
		int c = strcmp(k->tenant, tenant);

		if (!c)
			c = strcmp(k->name, name);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < a->n_hosts && !strcmp(a->hosts[lo].tenant, tenant) &&
	    !strcmp(a->hosts[lo].name, name))
		return &a->hosts[lo];
	return NULL;
}

/* The first network at or after (tenant, prefix, net) in the index's order. */
static size_t net_lower_bound(const struct assets *a, const char *tenant, unsigned prefix,
			      const struct ipaddr *net)
{
	size_t lo = 0, hi = a->n_nets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (net_order(&a->nets[mid], tenant, prefix, net) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ip with the bits past prefix cleared. */
static struct ipaddr masked(const struct ipaddr *ip, unsigned prefix)
{
	struct ipaddr m = *ip;

	for (unsigned i = prefix / 8; i < 16; i++)
		m.b[i] &= i == prefix / 8 ? (uint8_t)(0xff00 >> (prefix % 8)) : 0;
	return m;
}

/*
 * The tenant's networks are grouped by prefix length, longest first: in each group, a
 * binary search for ip's network of that length. A few dozen lengths at most, so a
 * look-up costs that many binary searches whatever the number of networks.
 */
static const struct assets_entry *lookup_ip(const struct assets *a, const char *tenant,
					    const struct ipaddr *ip)
{
	static const struct ipaddr zero;
	size_t at = net_lower_bound(a, tenant, 128, &zero);

	while (at < a->n_nets && !strcmp(a->nets[at].tenant, tenant)) {
		unsigned prefix = a->nets[at].prefix;
		struct ipaddr m = masked(ip, prefix);
		size_t i = net_lower_bound(a, tenant, prefix, &m);

		if (i < a->n_nets && net_order(&a->nets[i], tenant, prefix, &m) == 0)
			return a->nets[i].en;
		if (prefix == 0)
			break;
		at = net_lower_bound(a, tenant, prefix - 1, &zero); /* the next length */
	}
	return NULL;
}

const struct assets_entry *assets_lookup(const struct assets *a, const char *tenant,
					 const char *value, size_t len)
{
	char name[META_ASSET_TEXT_MAX + 1];
	const struct host_key *k;
	struct ipaddr ip;
	const char *dot;
	size_t n;

	if (ipaddr_parse(&ip, value, len) == 0)
		return lookup_ip(a, tenant, &ip);
	if (canon_hostname(value, len, name, &n, NULL) < 0)
		return NULL;
	if ((k = find_host(a, tenant, name)))
		return k->en;
	/* "web01.example.com" for an asset known as "web01" */
	if ((dot = strchr(name, '.')) && dot != name) {
		name[dot - name] = '\0';
		if ((k = find_host(a, tenant, name)) && !k->short_form)
			return k->en;
	}
	return NULL;
}

/* ---- CSV ---- */

_Static_assert(ASSETS_CSV_COLS_MAX == CSV_COLS_MAX &&
	       ASSETS_CSV_RECORD_MAX == CSV_RECORD_MAX, "assets.h states the reader's limits");

static bool cell_is(const struct csv_record *r, unsigned i, const char *name)
{
	size_t len;
	const char *s = csv_cell(r, i + 1, &len);

	csv_trim(&s, &len);
	return strlen(name) == len && !strncasecmp(s, name, len);
}

/* Header names of koban's layout: the column's own name and common others. */
static const struct {
	const char *name;
	enum assets_column col;
} header_names[] = {
	{ "name", ASSETS_COL_NAME }, { "asset", ASSETS_COL_NAME },
	{ "hostnames", ASSETS_COL_HOSTNAMES }, { "hostname", ASSETS_COL_HOSTNAMES },
	{ "host", ASSETS_COL_HOSTNAMES }, { "fqdn", ASSETS_COL_HOSTNAMES },
	{ "addresses", ASSETS_COL_ADDRESSES }, { "address", ASSETS_COL_ADDRESSES },
	{ "ip", ASSETS_COL_ADDRESSES }, { "ips", ASSETS_COL_ADDRESSES },
	{ "cidr", ASSETS_COL_ADDRESSES }, { "owner", ASSETS_COL_OWNER },
	{ "criticality", ASSETS_COL_CRITICALITY }, { "role", ASSETS_COL_ROLE },
	{ "software", ASSETS_COL_SOFTWARE }, { "cves", ASSETS_COL_CVES },
	{ "cve", ASSETS_COL_CVES },
};

/* The columns a header names; false when it names none. */
static bool own_header(const struct csv_record *r, struct assets_columns *cols)
{
	bool named = false;

	memset(cols, 0, sizeof(*cols));
	for (unsigned i = 0; i < r->n; i++)
		for (size_t h = 0; h < ARRAY_SIZE(header_names); h++)
			if (cell_is(r, i, header_names[h].name) && !cols->col[header_names[h].col]) {
				cols->col[header_names[h].col] = i + 1;
				named = true;
			}
	return named;
}

/* The 1-based column of the header cell named name, or 0. */
static unsigned header_col(const struct csv_record *r, const char *name)
{
	for (unsigned i = 0; i < r->n; i++)
		if (cell_is(r, i, name))
			return i + 1;
	return 0;
}

/* Where a scanner export keeps what this module reads. */
struct scanner_cols {
	unsigned host, ip, fqdn, dns, netbios, cves;
};

static int scanner_header(const struct csv_record *r, enum assets_format f,
			  struct scanner_cols *s, const char **why)
{
	memset(s, 0, sizeof(*s));
	if (f == ASSETS_NESSUS) {
		s->host = header_col(r, "Host");
		s->ip = header_col(r, "IP Address");
		s->fqdn = header_col(r, "FQDN");
		s->dns = header_col(r, "DNS Name");
		s->netbios = header_col(r, "NetBIOS Name");
		s->cves = header_col(r, "CVE");
		if (!s->host && !s->ip)
			*why = "a Nessus export names its hosts in a \"Host\" or \"IP Address\" column";
	} else {
		s->ip = header_col(r, "IP");
		s->fqdn = header_col(r, "Hostname");
		s->cves = header_col(r, "CVEs");
		if (!s->ip)
			*why = "an OpenVAS export names its hosts in an \"IP\" column";
	}
	return s->host || s->ip ? 0 : -EINVAL;
}

static enum assets_format sniff(const struct csv_record *r)
{
	if (header_col(r, "Plugin ID"))
		return ASSETS_NESSUS;
	if (header_col(r, "NVT OID") || header_col(r, "NVT Name"))
		return ASSETS_OPENVAS;
	return ASSETS_CSV;
}

/* One record's values, by column (a scanner's mapped onto koban's columns). */
struct values {
	const char *v[ASSETS_N_COLS];
	size_t len[ASSETS_N_COLS];
	const char *extra_host;  /* a scanner's second host name column (NetBIOS) */
	size_t extra_len;
};

static void own_values(const struct csv_record *r, const struct assets_columns *cols,
		       struct values *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned c = 0; c < ASSETS_N_COLS; c++) {
		out->v[c] = csv_cell(r, cols->col[c], &out->len[c]);
		csv_trim(&out->v[c], &out->len[c]);
	}
}

static void set_value(struct values *out, enum assets_column c, const struct csv_record *r,
		      unsigned col)
{
	const char *s;
	size_t len;

	if (!col)
		return;
	s = csv_cell(r, col, &len);
	csv_trim(&s, &len);
	if (len) {
		out->v[c] = s;
		out->len[c] = len;
	}
}

/* A scanner's host: an address (IP Address, else Host when it is one) and host names. */
static void scanner_values(const struct csv_record *r, const struct scanner_cols *s,
			   struct values *out)
{
	struct ipaddr ip;
	const char *h;
	size_t hl;

	memset(out, 0, sizeof(*out));
	for (unsigned c = 0; c < ASSETS_N_COLS; c++)
		out->v[c] = "";
	set_value(out, ASSETS_COL_CVES, r, s->cves);
	set_value(out, ASSETS_COL_ADDRESSES, r, s->ip);
	set_value(out, ASSETS_COL_HOSTNAMES, r, s->dns);
	set_value(out, ASSETS_COL_HOSTNAMES, r, s->fqdn);
	h = csv_cell(r, s->host, &hl);
	csv_trim(&h, &hl);
	if (hl && ipaddr_parse(&ip, h, hl) == 0) {
		out->v[ASSETS_COL_ADDRESSES] = h;
		out->len[ASSETS_COL_ADDRESSES] = hl;
	} else if (hl && !out->len[ASSETS_COL_HOSTNAMES]) {
		out->v[ASSETS_COL_HOSTNAMES] = h;
		out->len[ASSETS_COL_HOSTNAMES] = hl;
	}
	out->extra_host = csv_cell(r, s->netbios, &out->extra_len);
	csv_trim(&out->extra_host, &out->extra_len);
}

/* The first value of a list cell (up to a separator). */
static size_t first_item(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && !strchr(";, \t", s[n]))
		n++;
	return n;
}

/*
 * The keys an import finds the tenant's assets by: their names ('n'), host names ('h') and
 * addresses ('a'), in an open-addressing hash table of at most half load. A key keeps the
 * first asset that had it. The strings are the entries' (in the inventory's arena).
 */
struct key_slot {
	const char *key;        /* NULL: free */
	char kind;
	struct assets_entry *en;
};

struct key_index {
	struct key_slot *slots;
	size_t cap, n;          /* cap a power of two */
};

static size_t key_hash(char kind, const char *s)
{
	uint64_t h = 1469598103934665603u ^ (unsigned char)kind;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (size_t)h;
}

static struct assets_entry *index_find(const struct key_index *x, char kind, const char *key)
{
	if (!x->cap)
		return NULL;
	for (size_t i = key_hash(kind, key) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		const struct key_slot *sl = &x->slots[i];

		if (!sl->key)
			return NULL;
		if (sl->kind == kind && !strcmp(sl->key, key))
			return sl->en;
	}
}

static int index_grow(struct key_index *x)
{
	size_t cap = x->cap ? x->cap * 2 : 256;
	struct key_slot *old = x->slots, *slots = mem_calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < x->cap; i++) {
		size_t at = key_hash(old[i].kind, old[i].key ? old[i].key : "") & (cap - 1);

		if (!old[i].key)
			continue;
		while (slots[at].key)
			at = (at + 1) & (cap - 1);
		slots[at] = old[i];
	}
	mem_free(old);
	x->slots = slots;
	x->cap = cap;
	return 0;
}

/* Adds key for en unless an asset has it already. */
static int index_put(struct key_index *x, char kind, const char *key, struct assets_entry *en)
{
	size_t i;

	if ((x->n + 1) * 2 > x->cap && index_grow(x) < 0)
		return -ENOMEM;
	for (i = key_hash(kind, key) & (x->cap - 1); x->slots[i].key;
	     i = (i + 1) & (x->cap - 1))
		if (x->slots[i].kind == kind && !strcmp(x->slots[i].key, key))
			return 0;
	x->slots[i] = (struct key_slot){ key, kind, en };
	x->n++;
	return 0;
}

/* Every key of en. */
static int index_entry(struct key_index *x, struct assets_entry *en)
{
	int rc = index_put(x, 'n', en->name, en);

	for (size_t i = 0; rc == 0 && i < en->hostnames.n; i++)
		rc = index_put(x, 'h', en->hostnames.v[i], en);
	for (size_t i = 0; rc == 0 && i < en->addresses.n; i++)
		rc = index_put(x, 'a', en->addresses.v[i], en);
	return rc;
}

/*
 * The tenant's asset a record (its values checked and canonical in rec) names: by name,
 * else one of its host names, else one of its addresses exactly; NULL when none.
 */
static struct assets_entry *find_entry(const struct key_index *x,
				       const struct assets_entry *rec)
{
	struct assets_entry *en = index_find(x, 'n', rec->name);

	for (size_t i = 0; !en && i < rec->hostnames.n; i++)
		en = index_find(x, 'h', rec->hostnames.v[i]);
	for (size_t i = 0; !en && i < rec->addresses.n; i++)
		en = index_find(x, 'a', rec->addresses.v[i]);
	return en;
}

/* The name of a new asset: its name, else its first host name, else its first address. */
static int new_name(const struct values *v, char *out, size_t size, struct err *e)
{
	static const enum assets_column from[] = { ASSETS_COL_NAME, ASSETS_COL_HOSTNAMES,
						   ASSETS_COL_ADDRESSES };
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(from); i++) {
		const char *s = v->v[from[i]];
		size_t n = from[i] == ASSETS_COL_NAME ? v->len[from[i]]
						      : first_item(s, v->len[from[i]]);

		if (!n)
			continue;
		if ((rc = check_text("asset name", s, n, 1, e)) < 0)
			return rc;
		memcpy(out, s, MIN(n, size - 1));
		out[MIN(n, size - 1)] = '\0';
		if (from[i] == ASSETS_COL_HOSTNAMES)
			for (size_t c = 0; out[c]; c++)
				out[c] = (char)tolower((unsigned char)out[c]);
		return 0;
	}
	return err_set(e, -EINVAL, "no name, host name or address");
}

/* Sets the record's values on en: every list added to, the scalars given replaced. */
static int set_values(struct assets *a, struct assets_entry *en, const struct values *v,
		      struct err *e)
{
	int rc;

	for (unsigned c = ASSETS_COL_HOSTNAMES; c < ASSETS_N_COLS; c++)
		if (v->len[c] && (rc = assets_entry_set(a, en, (enum assets_column)c, v->v[c],
							v->len[c], false, e)) < 0)
			return rc;
	if (v->extra_len)
		return assets_entry_set(a, en, ASSETS_COL_HOSTNAMES, v->extra_host, v->extra_len,
					false, e);
	return 0;
}

/*
 * Merges one record's values into its asset (made when new). They are tried first on an
 * asset of their own in check, so that a record with one bad value changes nothing.
 */
static int merge_values(struct assets *a, struct assets *check, struct key_index *x,
			const char *tenant, const struct values *v, struct err *e)
{
	struct assets_entry *rec, *en;
	char name[META_ASSET_TEXT_MAX + 1];
	int rc;

	if ((rc = new_name(v, name, sizeof(name), e)) < 0)
		return rc;
	assets_clear(check);
	if ((rc = assets_add_new(check, tenant, name, &rec, e)) < 0 ||
	    (rc = set_values(check, rec, v, e)) < 0)
		return rc;
	if (!(en = find_entry(x, rec)) && (rc = assets_add_new(a, tenant, name, &en, e)) < 0)
		return rc;
	if ((rc = set_values(a, en, v, e)) < 0)
		return rc;
	return index_entry(x, en) < 0 ? no_memory(e) : 0;
}

struct csv_read {
	struct assets *a;
	struct assets *check;   /* where each record's values are tried first */
	const char *tenant;
	enum assets_format f;
	struct assets_columns cols;
	bool have_cols;
	struct scanner_cols scan;
	struct key_index keys;  /* the tenant's assets by name, host name and address */
	void (*reject)(void *ctx, unsigned line, const char *why);
	void *ctx;
	struct assets_import_stats *st;
};

static void reject(struct csv_read *cr, unsigned line, const char *why)
{
	cr->st->rejected++;
	cr->reject(cr->ctx, line, why);
}

/* The first record: a header (columns, layout) or, with a column map, maybe data. */
static int first_record(struct csv_read *cr, const struct csv_record *r, bool *is_header,
			const char **why)
{
	struct assets_columns named;

	if (cr->f == ASSETS_AUTO)
		cr->f = sniff(r);
	*is_header = true;
	if (cr->f != ASSETS_CSV)
		return scanner_header(r, cr->f, &cr->scan, why);
	if (!own_header(r, &named)) {
		*is_header = false;
		if (cr->have_cols)
			return 0;
		*why = "the first line names no column (name, hostnames, addresses, owner, "
		       "criticality, role, software, cves): give a header or a column map";
		return -EINVAL;
	}
	if (!cr->have_cols)
		cr->cols = named;
	return 0;
}

int assets_merge_csv(struct assets *a, const char *tenant, const char *text, size_t len,
		     enum assets_format f, const struct assets_columns *cols,
		     void (*reject_fn)(void *ctx, unsigned line, const char *why), void *ctx,
		     struct assets_import_stats *st, struct err *e)
{
	struct csv_read cr = { .a = a, .tenant = tenant, .f = f, .have_cols = cols != NULL,
			       .reject = reject_fn, .ctx = ctx, .st = st };
	struct csv_record *r = mem_calloc(1, sizeof(*r));
	const char *why = NULL;
	size_t pos = 0;
	unsigned line = 0;
	bool first = true, is_header;
	int rc = 0, got;

	if (!r || assets_new(&cr.check, e) < 0) {
		mem_free(r);
		return no_memory(e);
	}
	if (cols)
		cr.cols = *cols;
	csv_record_init(r);
	for (size_t i = 0; rc == 0 && i < a->n; i++)
		if (!strcmp(a->v[i]->tenant, tenant) && index_entry(&cr.keys, a->v[i]) < 0)
			rc = no_memory(e);
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3; /* the byte order mark spreadsheets write */
	while (rc == 0 && (got = csv_next(text, len, &pos, &line, 0, r, &why)) != 0) {
		struct err bad = ERR_INIT;
		struct values v;

		if (got == -ENOMEM) {
			rc = no_memory(e);
			break;
		}
		if (got < 0) {
			st->records++;
			reject(&cr, r->line, why);
			first = false;
			continue;
		}
		if (first) {
			first = false;
			if ((rc = first_record(&cr, r, &is_header, &why)) < 0) {
				rc = err_set(e, rc, "line %u: %s", r->line, why);
				break;
			}
			if (is_header)
				continue;
		}
		st->records++;
		if (cr.f == ASSETS_CSV)
			own_values(r, &cr.cols, &v);
		else
			scanner_values(r, &cr.scan, &v);
		if ((rc = merge_values(a, cr.check, &cr.keys, tenant, &v, &bad)) == -ENOMEM) {
			rc = err_set(e, rc, "line %u: %s", r->line, bad.msg);
			break;
		}
		if (rc < 0)
			reject(&cr, r->line, bad.msg);
		rc = 0;
	}
	csv_record_release(r);
	mem_free(r);
	mem_free(cr.keys.slots);
	assets_free(cr.check);
	return rc;
}

int assets_store(struct assets *a, struct meta *m, struct assets_import_stats *st,
		 struct err *e)
{
	struct buf b[4] = { BUF_INIT(META_ASSET_JSON_MAX + 1), BUF_INIT(META_ASSET_JSON_MAX + 1),
			    BUF_INIT(META_ASSET_JSON_MAX + 1), BUF_INIT(META_ASSET_JSON_MAX + 1) };
	struct buf *lists[4] = { &b[0], &b[1], &b[2], &b[3] };
	struct meta_asset row;
	unsigned added = 0, updated = 0;
	int rc;

	if ((rc = meta_begin(m, e)) < 0)
		goto out;
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		struct assets_entry *en = a->v[i];

		if (!en->changed)
			continue;
		if ((rc = assets_entry_row(en, lists, &row)) < 0) {
			rc = err_set(e, rc, "asset '%s': its lists exceed %d bytes of JSON",
				     en->name, META_ASSET_JSON_MAX);
			break;
		}
		if (en->id) {
			rc = meta_asset_update(m, &row, e);
			updated++;
		} else {
			rc = meta_asset_add(m, &row, &en->id, e);
			added++;
		}
	}
	if (rc < 0) {
		meta_rollback(m);
		goto out;
	}
	if ((rc = meta_commit(m, e)) < 0)
		goto out;
	for (size_t i = 0; i < a->n; i++)
		a->v[i]->changed = false;
	st->added += added;
	st->updated += updated;
	rc = assets_index(a, e);
out:
	for (int i = 0; i < 4; i++)
		buf_release(&b[i]);
	return rc;
}

/* ---- unknown hosts of alerts ---- */

struct unknown_scan {
	const struct assets *a;
	const char *tenant;
	struct arena *arena;
	struct assets_unknown *v;
	size_t n, cap;
	int64_t dropped;
	int rc;
};

/* Private, shared or link-local: the tenant's own hosts, not the Internet's. */
static bool internal_address(const struct ipaddr *ip)
{
	static const struct { const char *cidr; } nets[] = {
		{ "10.0.0.0/8" }, { "172.16.0.0/12" }, { "192.168.0.0/16" }, { "100.64.0.0/10" },
		{ "169.254.0.0/16" }, { "fc00::/7" }, { "fe80::/10" },
	};
	struct ipaddr net;
	unsigned prefix;

	for (size_t i = 0; i < ARRAY_SIZE(nets); i++)
		if (ipaddr_parse_cidr(&net, &prefix, nets[i].cidr, strlen(nets[i].cidr)) == 0 &&
		    ipaddr_in_prefix(ip, &net, prefix))
			return true;
	return false;
}

static bool ends_with(const char *s, size_t len, const char *tail)
{
	size_t n = strlen(tail);

	return len >= n && !memcmp(s + len - n, tail, n);
}

static int note_unknown(struct unknown_scan *us, const char *kind, const char *field,
			size_t field_len, const char *value, size_t len, int64_t when)
{
	for (size_t i = 0; i < us->n; i++) {
		struct assets_unknown *u = &us->v[i];

		if (strlen(u->value) == len && !memcmp(u->value, value, len)) {
			u->alerts++;
			u->first_ns = MIN(u->first_ns, when);
			u->last_ns = MAX(u->last_ns, when);
			return 0;
		}
	}
	if (us->n == ASSETS_UNKNOWN_MAX) {
		us->dropped++;
		return 0;
	}
	if (us->n == us->cap) {
		size_t cap = us->cap ? us->cap * 2 : 64;
		struct assets_unknown *v = mem_realloc(us->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		us->v = v;
		us->cap = cap;
	}
	us->v[us->n] = (struct assets_unknown){
		.value = arena_strndup(us->arena, value, len), .kind = kind,
		.field = arena_strndup(us->arena, field, field_len), .alerts = 1,
		.first_ns = when, .last_ns = when,
	};
	if (!us->v[us->n].value || !us->v[us->n].field)
		return -ENOMEM;
	us->n++;
	return 0;
}

/* One key field's value: an internal address or a host name no asset covers is noted. */
static int key_value(struct unknown_scan *us, const struct jsonin_value *k,
		     const struct jsonin_value *v, int64_t when)
{
	bool ip_field = ends_with(k->s, k->len, ".ip");
	bool host_field = jsonin_key_is(k, "host.name") || jsonin_key_is(k, "host.hostname");
	struct ipaddr ip;

	if (v->type != JSONIN_STRING || (!ip_field && !host_field) || !v->len)
		return 0;
	if (ip_field && (ipaddr_parse(&ip, v->s, v->len) < 0 || !internal_address(&ip)))
		return 0;
	if (assets_lookup(us->a, us->tenant, v->s, v->len))
		return 0;
	return note_unknown(us, ip_field ? "ip" : "host", k->s, k->len, v->s, v->len, when);
}

static void unknown_alert(void *ctx, const struct meta_alert *al)
{
	struct unknown_scan *us = ctx;
	struct jsonin_value k, v;
	struct arena scratch;
	struct jsonin j;
	int more;

	if (us->rc < 0)
		return;
	arena_init(&scratch, 4096, META_ALERT_JSON_MAX);
	jsonin_init(&j, al->key_fields, strlen(al->key_fields), &scratch, 0);
	if (jsonin_value(&j, &v) == 0 && v.type == JSONIN_OBJECT) {
		while ((more = jsonin_key(&j, &k)) > 0 && us->rc == 0) {
			if (jsonin_value(&j, &v) < 0)
				break;
			if (v.type == JSONIN_ARRAY || v.type == JSONIN_OBJECT)
				(void)jsonin_skip(&j); /* a list of values: not a host's field */
			else
				us->rc = key_value(us, &k, &v, al->detected_ns);
		}
	}
	arena_release(&scratch);
}

int assets_unknown_write_json(const struct assets_unknown *u, struct buf *b)
{
	int rc = buf_adds(b, "{\"value\": ");

	rc = err_first(rc, json_add_string(b, u->value, strlen(u->value)));
	rc = err_first(rc, buf_addf(b, ", \"kind\": \"%s\", \"alerts\": %lld", u->kind,
				    (long long)u->alerts));
	rc = err_first(rc, write_time(b, "first_seen", u->first_ns));
	rc = err_first(rc, write_time(b, "last_seen", u->last_ns));
	rc = err_first(rc, buf_adds(b, ", \"field\": "));
	rc = err_first(rc, json_add_string(b, u->field, strlen(u->field)));
	return err_first(rc, buf_addch(b, '}'));
}

static int unknown_cmp(const void *pa, const void *pb)
{
	const struct assets_unknown *x = pa, *y = pb;

	if (x->alerts != y->alerts)
		return x->alerts > y->alerts ? -1 : 1;
	return strcmp(x->value, y->value);
}

int assets_unknown_list(struct meta *m, const char *tenant, int64_t since_ns,
			void (*fn)(void *ctx, const struct assets_unknown *u), void *ctx,
			int64_t *dropped, struct err *e)
{
	struct arena arena;
	struct unknown_scan us = { .tenant = tenant, .arena = &arena };
	struct assets *a = NULL;
	int rc;

	arena_init(&arena, ARENA_CHUNK, (size_t)ASSETS_UNKNOWN_MAX * 2 * 4096);
	if ((rc = assets_load(m, tenant, &a, e)) < 0)
		goto out;
	us.a = a;
	if ((rc = meta_alert_list(m, tenant, since_ns, META_ALERT_LIST_MAX, unknown_alert, &us,
				  e)) < 0)
		goto out;
	if (us.rc < 0) {
		rc = no_memory(e);
		goto out;
	}
	if (us.n)
		qsort(us.v, us.n, sizeof(*us.v), unknown_cmp);
	for (size_t i = 0; i < us.n; i++)
		fn(ctx, &us.v[i]);
	if (dropped)
		*dropped = us.dropped;
out:
	mem_free(us.v);
	arena_release(&arena);
	assets_free(a);
	return rc;
}

int assets_columns_parse(const char *spec, struct assets_columns *cols, struct err *e)
{
	const char *p = spec;

	memset(cols, 0, sizeof(*cols));
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		unsigned c, n = 0;

		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end)
			return err_set(e, -EINVAL, "column map item '%.*s': expected NAME=NUMBER",
				       (int)(end - p), p);
		for (c = 0; c < ASSETS_N_COLS; c++)
			if (strlen(column_names[c]) == (size_t)(eq - p) &&
			    !strncmp(p, column_names[c], (size_t)(eq - p)))
				break;
		if (c == ASSETS_N_COLS)
			return err_set(e, -EINVAL, "column '%.*s': expected name, hostnames, "
				       "addresses, owner, criticality, role, software or cves",
				       (int)(eq - p), p);
		for (const char *d = eq + 1; d < end; d++) {
			if (!isdigit((unsigned char)*d) || (d == eq + 1 && *d == '0') || n > 1000)
				return err_set(e, -EINVAL, "column %s: expected a number from 1 to "
					       "%d", column_names[c], ASSETS_CSV_COLS_MAX);
			n = n * 10 + (unsigned)(*d - '0');
		}
		if (!n || n > ASSETS_CSV_COLS_MAX || cols->col[c])
			return err_set(e, -EINVAL, "column %s: expected a number from 1 to %d, once",
				       column_names[c], ASSETS_CSV_COLS_MAX);
		cols->col[c] = n;
		p = *end ? end + 1 : end;
	}
	return 0;
}
