/*
 * correl.c - Sigma correlation rules: parser, windowed engine, snapshots (see correl.h).
 */
#define LOG_MODULE "correl"
#include "detect/correl.h"
#include "core/compat.h"

#include <fcntl.h>
#include <libfyaml.h>
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/fileio.h"
#include "core/le.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define NS_PER_SECOND INT64_C(1000000000)
#define TIMESPAN_MAX_NS (INT64_C(366) * 86400 * NS_PER_SECOND)

/* ---- parsing ------------------------------------------------------------------------- */

struct parse {
	const char *file;
	int line; /* the document's, for errors on nodes without a position */
	struct err *e;
};

/* 1-based line of a node: its own token for a scalar, its first item otherwise; 0 unknown. */
static int node_line(struct fy_node *n)
{
	const struct fy_mark *m;
	struct fy_node_pair *pair;
	struct fy_token *t;
	void *it = NULL;

	if (!n)
		return 0;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		t = fy_node_get_scalar_token(n);
		m = t ? fy_token_start_mark(t) : NULL;
		return m ? m->line + 1 : 0;
	case FYNT_SEQUENCE:
		return node_line(fy_node_sequence_iterate(n, &it));
	case FYNT_MAPPING:
		pair = fy_node_mapping_iterate(n, &it);
		return pair ? node_line(fy_node_pair_key(pair)) : 0;
	}
	return 0;
}

static int parse_fail(struct parse *ps, struct fy_node *at, const char *fmt, ...)
	PRINTF_LIKE(3, 4);
static int parse_fail(struct parse *ps, struct fy_node *at, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	int line = node_line(at);

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(ps->e, -EINVAL, "%s:%d: %s", ps->file, line ? line : ps->line, what);
}

static bool is_scalar(struct fy_node *n)
{
	return n && fy_node_get_type(n) == FYNT_SCALAR;
}

/* A scalar's text as a new string (mem_free); -EINVAL for a non-scalar. */
static int scalar_dup(struct parse *ps, struct fy_node *n, const char *key, char **out)
{
	const char *s;
	size_t len;

	if (!is_scalar(n))
		return parse_fail(ps, n, "%s: expected a string", key);
	s = fy_node_get_scalar(n, &len);
	if (!s)
		return parse_fail(ps, n, "%s: expected a string", key);
	*out = mem_strndup(s, len);
	return *out ? 0 : err_set(ps->e, -ENOMEM, "%s: out of memory", ps->file);
}

/* A scalar or a list of scalars as an array of strings (Sigma accepts both forms). */
static int string_list(struct parse *ps, struct fy_node *n, const char *key, size_t max,
		       char ***out, size_t *nout)
{
	bool one = is_scalar(n);
	size_t count = one ? 1 : 0;
	struct fy_node *item;
	char **v;
	void *it = NULL;
	int rc;

	if (!one) {
		if (!n || fy_node_get_type(n) != FYNT_SEQUENCE)
			return parse_fail(ps, n, "%s: expected a string or a list of strings", key);
		count = (size_t)fy_node_sequence_item_count(n);
	}
	if (!count || count > max)
		return parse_fail(ps, n, "%s: expected 1 to %zu entries", key, max);
	v = mem_calloc(count, sizeof(*v));
	if (!v)
		return err_set(ps->e, -ENOMEM, "%s: out of memory", ps->file);
	*out = v;
	*nout = count;
	if (one)
		return scalar_dup(ps, n, key, &v[0]);
	for (size_t i = 0; (item = fy_node_sequence_iterate(n, &it)); i++) {
		rc = scalar_dup(ps, item, key, &v[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Whether n is the scalar word; keys and keywords are case-sensitive, booleans not. */
static bool scalar_eq(struct fy_node *n, const char *word, bool nocase)
{
	size_t len;
	const char *s = is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;

	return s && len == strlen(word) &&
	       !(nocase ? strncasecmp(s, word, len) : memcmp(s, word, len));
}

static bool scalar_is(struct fy_node *n, const char *word)
{
	return scalar_eq(n, word, false);
}

static int parse_bool(struct parse *ps, struct fy_node *n, const char *key, bool *out)
{
	if (scalar_eq(n, "true", true))
		*out = true;
	else if (scalar_eq(n, "false", true))
		*out = false;
	else
		return parse_fail(ps, n, "%s: expected true or false", key);
	return 0;
}

/* <int><s|m|h|d>, positive, at most a year. */
static int parse_timespan(struct parse *ps, struct fy_node *n, int64_t *out)
{
	static const struct { char unit; int64_t ns; } units[] = {
		{ 's', NS_PER_SECOND }, { 'm', 60 * NS_PER_SECOND },
		{ 'h', 3600 * NS_PER_SECOND }, { 'd', 86400 * NS_PER_SECOND },
	};
	const char *s;
	size_t len = 0, i;
	int64_t count = 0;

	s = is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;
	if (!s || len < 2)
		goto bad;
	for (i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9' || count > TIMESPAN_MAX_NS / NS_PER_SECOND)
			goto bad;
		count = count * 10 + (s[i] - '0');
	}
	for (size_t u = 0; u < ARRAY_SIZE(units); u++) {
		if (s[len - 1] != units[u].unit)
			continue;
		if (!count || count > TIMESPAN_MAX_NS / units[u].ns)
			goto bad;
		*out = count * units[u].ns;
		return 0;
	}
bad:
	return parse_fail(ps, n, "timespan: \"%.*s\" is not a positive number with s, m, h or d "
			  "(at most 366d), as in 5m", s ? (int)MIN(len, 64) : 0, s ? s : "");
}

static int parse_number(struct parse *ps, struct fy_node *n, const char *key, double *out)
{
	char text[64], *end;
	const char *s;
	size_t len;

	s = is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;
	if (!s || !len || len >= sizeof(text))
		return parse_fail(ps, n, "%s: expected a number", key);
	memcpy(text, s, len);
	text[len] = '\0';
	errno = 0;
	*out = strtod(text, &end);
	if (*end || errno || !isfinite(*out))
		return parse_fail(ps, n, "%s: expected a number, not \"%s\"", key, text);
	return 0;
}

static const char *const type_names[] = {
	[CORREL_EVENT_COUNT] = "event_count",
	[CORREL_VALUE_COUNT] = "value_count",
	[CORREL_TEMPORAL] = "temporal",
	[CORREL_TEMPORAL_ORDERED] = "temporal_ordered",
	[CORREL_VALUE_SUM] = "value_sum",
	[CORREL_VALUE_AVG] = "value_avg",
	[CORREL_VALUE_PERCENTILE] = "value_percentile",
};

static const char *const op_names[] = {
	[CORREL_GT] = "gt", [CORREL_GTE] = "gte", [CORREL_LT] = "lt",
	[CORREL_LTE] = "lte", [CORREL_EQ] = "eq", [CORREL_NEQ] = "neq",
};

const char *correl_type_name(enum correl_type t)
{
	return (size_t)t < ARRAY_SIZE(type_names) ? type_names[t] : "?";
}

static int parse_type(struct parse *ps, struct fy_node *n, enum correl_type *out)
{
	size_t len = 0;
	const char *s = is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;

	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++) {
		if (scalar_is(n, type_names[i])) {
			*out = (enum correl_type)i;
			return 0;
		}
	}
	return parse_fail(ps, n, "type: \"%.*s\" is not one of event_count, value_count, "
			  "temporal, temporal_ordered, value_sum, value_avg, value_percentile",
			  s ? (int)MIN(len, 64) : 0, s ? s : "");
}

static bool type_needs_field(enum correl_type t)
{
	return t == CORREL_VALUE_COUNT || t == CORREL_VALUE_SUM || t == CORREL_VALUE_AVG ||
	       t == CORREL_VALUE_PERCENTILE;
}

static bool type_is_temporal(enum correl_type t)
{
	return t == CORREL_TEMPORAL || t == CORREL_TEMPORAL_ORDERED;
}

static int parse_condition_key(struct parse *ps, struct correl_rule *r, struct fy_node *key,
			       struct fy_node *val)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_names); i++) {
		if (!scalar_is(key, op_names[i]))
			continue;
		for (size_t j = 0; j < r->nconds; j++)
			if (r->conds[j].op == (enum correl_op)i)
				return parse_fail(ps, key, "condition: %s given twice",
						  op_names[i]);
		r->conds[r->nconds].op = (enum correl_op)i;
		return parse_number(ps, val, op_names[i], &r->conds[r->nconds++].value);
	}
	if (scalar_is(key, "field")) {
		if (r->field)
			return parse_fail(ps, key, "condition: field given twice");
		return scalar_dup(ps, val, "condition.field", &r->field);
	}
	if (scalar_is(key, "percentile"))
		return parse_number(ps, val, "condition.percentile", &r->percentile);
	return parse_fail(ps, key, "condition: unknown key (expected gt, gte, lt, lte, eq, neq, "
			  "field or percentile)");
}

/* condition: after type is known; absent_at is where to point when it is missing. */
static int parse_condition(struct parse *ps, struct correl_rule *r, struct fy_node *n,
			   struct fy_node *absent_at)
{
	struct fy_node_pair *pair;
	bool has_percentile = false;
	void *it = NULL;
	int rc;

	if (!n) {
		if (!type_is_temporal(r->type))
			return parse_fail(ps, absent_at, "correlation: condition is required for %s",
					  correl_type_name(r->type));
		/* every rule of the list, in any order (temporal) or in order (temporal_ordered) */
		r->conds[0].op = CORREL_GTE;
		r->conds[0].value = (double)r->nrules;
		r->nconds = 1;
		return 0;
	}
	if (is_scalar(n) && type_is_temporal(r->type))
		return parse_fail(ps, n, "condition: extended temporal conditions (a boolean "
				  "expression over the rules, draft 2.2) are not supported");
	if (fy_node_get_type(n) != FYNT_MAPPING)
		return parse_fail(ps, n, "condition: expected a mapping such as {gte: 10}");
	while ((pair = fy_node_mapping_iterate(n, &it))) {
		has_percentile |= scalar_is(fy_node_pair_key(pair), "percentile");
		rc = parse_condition_key(ps, r, fy_node_pair_key(pair), fy_node_pair_value(pair));
		if (rc < 0)
			return rc;
	}
	if (!r->nconds)
		return parse_fail(ps, n, "condition: expected at least one of gt, gte, lt, lte, "
				  "eq, neq");
	if (type_needs_field(r->type) && !r->field)
		return parse_fail(ps, n, "condition: %s needs field", correl_type_name(r->type));
	if (!type_needs_field(r->type) && r->field)
		return parse_fail(ps, n, "condition: field is only for value_count, value_sum, "
				  "value_avg and value_percentile");
	if ((r->type == CORREL_VALUE_PERCENTILE) != has_percentile)
		return parse_fail(ps, n, r->type == CORREL_VALUE_PERCENTILE ?
				  "condition: value_percentile needs percentile (0 to 100)" :
				  "condition: percentile is only for value_percentile");
	if (has_percentile && (r->percentile < 0 || r->percentile > 100))
		return parse_fail(ps, n, "condition.percentile: expected 0 to 100");
	return 0;
}

static int parse_alias(struct parse *ps, struct correl_alias *a, struct fy_node *key,
		       struct fy_node *val)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t i = 0;
	int rc;

	rc = scalar_dup(ps, key, "aliases", &a->name);
	if (rc < 0)
		return rc;
	if (!val || fy_node_get_type(val) != FYNT_MAPPING || !fy_node_mapping_item_count(val))
		return parse_fail(ps, val ? val : key, "aliases.%s: expected a mapping of rule "
				  "names to fields", a->name);
	a->nmaps = (size_t)fy_node_mapping_item_count(val);
	a->maps = mem_calloc(a->nmaps, sizeof(*a->maps));
	if (!a->maps)
		return err_set(ps->e, -ENOMEM, "%s: out of memory", ps->file);
	while ((pair = fy_node_mapping_iterate(val, &it))) {
		rc = scalar_dup(ps, fy_node_pair_key(pair), "aliases", &a->maps[i].rule);
		if (rc >= 0)
			rc = scalar_dup(ps, fy_node_pair_value(pair), "aliases", &a->maps[i].field);
		if (rc < 0)
			return rc;
		i++;
	}
	return 0;
}

static int parse_aliases(struct parse *ps, struct correl_rule *r, struct fy_node *n)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	int rc;

	if (fy_node_get_type(n) != FYNT_MAPPING)
		return parse_fail(ps, n, "aliases: expected a mapping");
	r->naliases = (size_t)fy_node_mapping_item_count(n);
	if (r->naliases > CORREL_MAX_GROUP_BY)
		return parse_fail(ps, n, "aliases: at most %d", CORREL_MAX_GROUP_BY);
	r->aliases = mem_calloc(r->naliases ? r->naliases : 1, sizeof(*r->aliases));
	if (!r->aliases)
		return err_set(ps->e, -ENOMEM, "%s: out of memory", ps->file);
	for (size_t i = 0; (pair = fy_node_mapping_iterate(n, &it)); i++) {
		rc = parse_alias(ps, &r->aliases[i], fy_node_pair_key(pair),
				 fy_node_pair_value(pair));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The `correlation:` mapping; condition last because it depends on type and rules. */
static int parse_section(struct parse *ps, struct correl_rule *r, struct fy_node *sec)
{
	struct fy_node *type = NULL, *rules = NULL, *timespan = NULL, *cond = NULL;
	struct fy_node_pair *pair;
	void *it = NULL;
	int rc = 0;

	if (fy_node_get_type(sec) != FYNT_MAPPING)
		return parse_fail(ps, sec, "correlation: expected a mapping");
	while (rc >= 0 && (pair = fy_node_mapping_iterate(sec, &it))) {
		struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);

		if (scalar_is(k, "type"))
			type = v ? v : k;
		else if (scalar_is(k, "rules"))
			rules = v ? v : k;
		else if (scalar_is(k, "timespan"))
			timespan = v ? v : k;
		else if (scalar_is(k, "condition"))
			cond = v ? v : k;
		else if (scalar_is(k, "group-by"))
			rc = string_list(ps, v ? v : k, "group-by", CORREL_MAX_GROUP_BY,
					 &r->group_by, &r->ngroup_by);
		else if (scalar_is(k, "aliases"))
			rc = v ? parse_aliases(ps, r, v) : parse_fail(ps, k, "aliases: empty");
		else if (scalar_is(k, "generate"))
			rc = parse_bool(ps, v ? v : k, "generate", &r->generate);
		else
			rc = parse_fail(ps, k, "correlation: unknown key (expected type, rules, "
					"group-by, timespan, condition, aliases, generate)");
	}
	if (rc < 0)
		return rc;
	if (!type || !rules || !timespan)
		return parse_fail(ps, sec, "correlation: type, rules and timespan are required");
	rc = parse_type(ps, type, &r->type);
	if (rc >= 0)
		rc = string_list(ps, rules, "rules", CORREL_MAX_RULES, &r->rules, &r->nrules);
	if (rc >= 0)
		rc = parse_timespan(ps, timespan, &r->timespan_ns);
	if (rc >= 0)
		rc = parse_condition(ps, r, cond, sec);
	return rc;
}

/* One optional top-level string; *dst stays NULL when the key is absent. */
static int top_string(struct parse *ps, struct fy_node *root, const char *key, char **dst)
{
	struct fy_node *n = fy_node_mapping_lookup_by_string(root, key, FY_NT);

	if (!n || (is_scalar(n) && fy_node_is_null(n)))
		return 0;
	return scalar_dup(ps, n, key, dst);
}

static int top_list(struct parse *ps, struct fy_node *root, const char *key, char ***dst,
		    size_t *n)
{
	struct fy_node *v = fy_node_mapping_lookup_by_string(root, key, FY_NT);

	if (!v || (is_scalar(v) && fy_node_is_null(v)))
		return 0;
	return string_list(ps, v, key, 4096, dst, n);
}

static int parse_meta(struct parse *ps, struct correl_rule *r, struct fy_node *root)
{
	static const struct { const char *key; size_t off; } strings[] = {
		{ "id", offsetof(struct correl_rule, id) },
		{ "name", offsetof(struct correl_rule, name) },
		{ "title", offsetof(struct correl_rule, title) },
		{ "level", offsetof(struct correl_rule, level) },
		{ "status", offsetof(struct correl_rule, status) },
		{ "description", offsetof(struct correl_rule, description) },
		{ "author", offsetof(struct correl_rule, author) },
		{ "date", offsetof(struct correl_rule, date) },
		{ "modified", offsetof(struct correl_rule, modified) },
	};
	struct fy_node *gen;
	int rc = 0;

	for (size_t i = 0; i < ARRAY_SIZE(strings) && rc >= 0; i++)
		rc = top_string(ps, root, strings[i].key, (char **)((char *)r + strings[i].off));
	if (rc >= 0)
		rc = top_list(ps, root, "tags", &r->tags, &r->ntags);
	if (rc >= 0)
		rc = top_list(ps, root, "references", &r->references, &r->nreferences);
	if (rc >= 0)
		rc = top_list(ps, root, "falsepositives", &r->falsepositives, &r->nfalsepositives);
	if (rc < 0)
		return rc;
	if (!r->title)
		return parse_fail(ps, root, "title is required");
	gen = fy_node_mapping_lookup_by_string(root, "generate", FY_NT);
	return gen ? parse_bool(ps, gen, "generate", &r->generate) : 0;
}

int correl_rule_parse(struct fy_document *doc, const char *file, struct correl_rule **out,
		      struct err *e)
{
	struct parse ps = { file, 0, e };
	struct fy_node *root = doc ? fy_document_root(doc) : NULL;
	struct fy_node *sec;
	struct correl_rule *r;
	int rc;

	*out = NULL;
	if (!root || fy_node_get_type(root) != FYNT_MAPPING)
		return parse_fail(&ps, root, "expected a mapping with correlation:");
	ps.line = node_line(root);
	sec = fy_node_mapping_lookup_by_string(root, "correlation", FY_NT);
	if (!sec)
		return parse_fail(&ps, root, "expected a mapping with correlation:");
	r = mem_calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, -ENOMEM, "%s: out of memory", file);
	r->line = ps.line;
	r->file = mem_strdup(file);
	rc = r->file ? parse_meta(&ps, r, root) : err_set(e, -ENOMEM, "%s: out of memory", file);
	if (rc >= 0)
		rc = parse_section(&ps, r, sec);
	if (rc < 0) {
		correl_rule_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		mem_free(v[i]);
	mem_free(v);
}

void correl_rule_free(struct correl_rule *r)
{
	if (!r)
		return;
	mem_free(r->file);
	mem_free(r->id);
	mem_free(r->name);
	mem_free(r->title);
	mem_free(r->level);
	mem_free(r->status);
	mem_free(r->description);
	mem_free(r->author);
	mem_free(r->date);
	mem_free(r->modified);
	free_strings(r->tags, r->ntags);
	free_strings(r->references, r->nreferences);
	free_strings(r->falsepositives, r->nfalsepositives);
	free_strings(r->rules, r->nrules);
	free_strings(r->group_by, r->ngroup_by);
	for (size_t i = 0; r->aliases && i < r->naliases; i++) {
		for (size_t j = 0; r->aliases[i].maps && j < r->aliases[i].nmaps; j++) {
			mem_free(r->aliases[i].maps[j].rule);
			mem_free(r->aliases[i].maps[j].field);
		}
		mem_free(r->aliases[i].maps);
		mem_free(r->aliases[i].name);
	}
	mem_free(r->aliases);
	mem_free(r->field);
	mem_free(r);
}

const char *correl_rule_key(const struct correl_rule *r)
{
	return r->id ? r->id : r->name;
}

/* ---- engine state -------------------------------------------------------------------- */

enum drop_reason { DROP_LATE, DROP_EVICTED, DROP_NO_GROUP, DROP_NO_VALUE, DROP_RESTORE, DROP_N };

static const char *const drop_names[DROP_N] = {
	"late", "evicted", "no_group", "no_value", "restore_unknown",
};

/* One matching event (or one inner correlation's result) held in a group. */
struct entry {
	int64_t time;
	uint32_t input;          /* index in the rule's `rules` */
	uint32_t nrefs;
	char *value;             /* condition.field's value (value_* types), else NULL */
	uint32_t value_len;
	double num;              /* value as a number (value_sum, value_avg, value_percentile) */
	struct correl_ref one;   /* the reference when nrefs == 1 */
	struct correl_ref *refs; /* nrefs > 1: a chained result's events */
};

/* The state of one (correlation, group-by values) in one tenant. */
struct group {
	struct group *hnext;
	struct group *lru_prev, *lru_next; /* head: most recently used */
	uint32_t heap_pos;       /* 1 + index in the tenant's heap of lazy groups, else 0 */
	struct corr *c;
	uint64_t hash;
	char *key;               /* each group-by value as [u32 length][bytes] */
	uint32_t key_len;
	bool emptied;            /* queued in the engine's list of groups to free if still empty */
	struct entry *ents;      /* sorted by time, equal times in arrival order */
	uint32_t n, cap;
	uint32_t head;           /* entries that left the front: ents - head is the allocation */
	/*
	 * Bit i: some entry of input i arrived since the group was last empty (a superset of
	 * the inputs held): bounds what a temporal window of the group can reach.
	 */
	uint64_t inputs;
};

struct tenant {
	char *name;
	int64_t latest;          /* latest event time seen */
	bool seen;
	struct group **buckets;
	uint32_t nbuckets, ngroups;
	uint64_t nevents;
	struct group *lru_head, *lru_tail;
	/* groups of lt/lte-only correlations, earliest end of their first window on top */
	struct group **heap;
	uint32_t nheap, capheap;
};

/* The fields a correlation reads from one of its inputs. */
struct input {
	int base;                /* base rule handle, or -1 */
	struct corr *inner;      /* or the chained correlation */
	/* group-by slots, then the condition field's: base field ids or inner group indexes */
	int slots[CORREL_MAX_GROUP_BY + 1];
};

struct use {
	struct corr *c;
	uint32_t input;
};

struct corr {
	struct correl_rule *rule;
	uint32_t idx;
	struct input *inputs;    /* rule->nrules */
	struct use *users;       /* outer correlations fed by this one's results */
	size_t nusers;
	bool lazy;               /* conditions of lt, lte, neq only: evaluated at window close */
	bool grows;              /* gt/gte on a number that can only grow with the window */
	bool silenced;
	int visit;               /* cycle check: 0 new, 1 on the path, 2 done */
	char *reject;            /* why the correlation never fires, or NULL */
};

struct base {
	struct use *uses;
	size_t nuses;
};

struct correl_engine {
	struct correl_config cfg;
	struct corr **corrs;
	size_t ncorrs;
	struct base *bases;
	size_t nbases;
	struct tenant **tenants;
	size_t ntenants;
	struct tenant *last;     /* the tenant of the previous call */
	struct group **emptied;  /* groups emptied during one top-level call */
	size_t nemptied, capemptied;
	struct buf key;          /* scratch: a group key being built */
	void *scratch;           /* scratch for aggregates: max(entries) pointers or doubles */
	size_t scratch_cap;
	bool metrics;
	_Atomic uint64_t results;
	_Atomic uint64_t dropped[DROP_N];
	_Atomic uint64_t groups, events; /* gauges, all tenants */
};

/* The emit target of one top-level call. */
struct run {
	struct correl_engine *en;
	struct tenant *t;
	correl_emit_fn *emit;
	void *ctx;
};

/* Where a fed item's field values come from: a base event or an inner result. */
struct source {
	const struct correl_event *ev;
	const struct correl_result *res;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void uncount(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_sub_overflow(a, b, &r) ? (b > 0 ? INT64_MIN : INT64_MAX) : r;
}

static const char *corr_key(const struct corr *c)
{
	const char *k = correl_rule_key(c->rule);

	return k ? k : c->rule->title;
}

static int source_value(const struct source *src, int slot, const char **s, size_t *len)
{
	if (slot < 0)
		return 0;
	if (src->ev)
		return src->ev->value(src->ev->ctx, slot, s, len) > 0;
	if ((size_t)slot >= src->res->ngroup)
		return 0;
	*s = src->res->group_values[slot];
	*len = src->res->group_lens[slot];
	return 1;
}

static const struct correl_ref *entry_refs(const struct entry *x)
{
	return x->nrefs == 1 ? &x->one : x->refs;
}

static void entry_release(struct entry *x)
{
	mem_free(x->value);
	mem_free(x->refs);
}

static uint64_t key_hash(uint32_t corr, const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ corr;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return h;
}

/* Splits a group key into values; returns how many (at most max). */
static size_t key_values(const char *key, size_t len, const char **v, uint32_t *lens,
			 size_t max)
{
	size_t n = 0, off = 0;

	while (off + 4 <= len && n < max) {
		lens[n] = le_get32((const unsigned char *)key + off);
		v[n] = key + off + 4;
		off += 4 + lens[n];
		n++;
	}
	return n;
}

static int key_add(struct buf *b, const char *s, size_t len)
{
	unsigned char l[4];
	int rc;

	if (len > UINT32_MAX)
		return -ENOSPC;
	le_put32(l, (uint32_t)len);
	rc = buf_add(b, l, 4);
	return rc < 0 ? rc : buf_add(b, s, len);
}

int correl_event_value(void *ctx, int field, const char **s, size_t *len)
{
	struct correl_event_view *view = ctx;
	const struct event_value *v = field >= 0 ? event_get(view->ev, (unsigned)field) : NULL;

	if (!v)
		return 0;
	*s = event_value_text(v, view->text, len);
	return 1;
}

/* ---- tenants and groups -------------------------------------------------------------- */

static struct tenant *tenant_get(struct correl_engine *en, const char *name)
{
	struct tenant *t, **v;

	if (en->last && !strcmp(en->last->name, name))
		return en->last; /* a batch is usually one tenant's */
	for (size_t i = 0; i < en->ntenants; i++)
		if (!strcmp(en->tenants[i]->name, name))
			return en->last = en->tenants[i];
	v = mem_realloc(en->tenants, (en->ntenants + 1) * sizeof(*v));
	if (!v)
		return NULL;
	en->tenants = v;
	t = mem_calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->name = mem_strdup(name);
	t->nbuckets = 64;
	t->buckets = mem_calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->name || !t->buckets) {
		mem_free(t->name);
		mem_free(t->buckets);
		mem_free(t);
		return NULL;
	}
	en->tenants[en->ntenants++] = t;
	return en->last = t;
}

static void lru_unlink(struct tenant *t, struct group *g)
{
	if (g->lru_prev)
		g->lru_prev->lru_next = g->lru_next;
	else
		t->lru_head = g->lru_next;
	if (g->lru_next)
		g->lru_next->lru_prev = g->lru_prev;
	else
		t->lru_tail = g->lru_prev;
	g->lru_prev = g->lru_next = NULL;
}

static void lru_push_head(struct tenant *t, struct group *g)
{
	g->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = g;
	t->lru_head = g;
	if (!t->lru_tail)
		t->lru_tail = g;
}

static void lru_touch(struct tenant *t, struct group *g)
{
	if (t->lru_head != g) {
		lru_unlink(t, g);
		lru_push_head(t, g);
	}
}

/* When the first window of a lazy group ends (INT64_MAX for an empty group). */
static int64_t close_at(const struct group *g)
{
	return g->n ? sat_add(g->ents[0].time, g->c->rule->timespan_ns) : INT64_MAX;
}

static void heap_set(struct tenant *t, uint32_t i, struct group *g)
{
	t->heap[i] = g;
	g->heap_pos = i + 1;
}

/* Moves heap entry i up or down to its place after its key changed. */
static void heap_fix(struct tenant *t, uint32_t i)
{
	struct group *g = t->heap[i];
	int64_t key = close_at(g);

	while (i && close_at(t->heap[(i - 1) / 2]) > key) {
		heap_set(t, i, t->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap && close_at(t->heap[c + 1]) < close_at(t->heap[c]))
			c++;
		if (close_at(t->heap[c]) >= key)
			break;
		heap_set(t, i, t->heap[c]);
		i = c;
	}
	heap_set(t, i, g);
}

static int heap_add(struct tenant *t, struct group *g)
{
	if (t->nheap == t->capheap) {
		uint32_t cap = t->capheap ? t->capheap * 2 : 16;
		struct group **v = mem_realloc(t->heap, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->heap = v;
		t->capheap = cap;
	}
	heap_set(t, t->nheap++, g);
	heap_fix(t, t->nheap - 1);
	return 0;
}

static void heap_remove(struct tenant *t, struct group *g)
{
	uint32_t i = g->heap_pos - 1;

	g->heap_pos = 0;
	if (i == --t->nheap)
		return;
	heap_set(t, i, t->heap[t->nheap]);
	heap_fix(t, i);
}

static struct group *group_find(struct tenant *t, struct corr *c, const char *key, size_t len,
				uint64_t h)
{
	for (struct group *g = t->buckets[h & (t->nbuckets - 1)]; g; g = g->hnext)
		if (g->hash == h && g->c == c && g->key_len == len && !memcmp(g->key, key, len))
			return g;
	return NULL;
}

/* Doubles the bucket array when groups outnumber buckets; failure only costs speed. */
static void tenant_rehash(struct tenant *t)
{
	uint32_t n = t->nbuckets * 2;
	struct group **b;

	if (t->ngroups <= t->nbuckets || n > (1u << 26))
		return;
	b = mem_calloc(n, sizeof(*b));
	if (!b)
		return;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct group *g = t->buckets[i], *next;

		for (; g; g = next) {
			next = g->hnext;
			g->hnext = b[g->hash & (n - 1)];
			b[g->hash & (n - 1)] = g;
		}
	}
	mem_free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct group *group_get(struct correl_engine *en, struct tenant *t, struct corr *c,
			       const char *key, size_t len)
{
	uint64_t h = key_hash(c->idx, key, len);
	struct group *g = group_find(t, c, key, len, h), **slot;

	if (g)
		return g;
	g = mem_calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->c = c;
	g->key = mem_alloc(len ? len : 1);
	if (!g->key || (c->lazy && heap_add(t, g) < 0)) {
		mem_free(g->key);
		mem_free(g);
		return NULL;
	}
	memcpy(g->key, key, len);
	g->key_len = (uint32_t)len;
	g->hash = h;
	slot = &t->buckets[h & (t->nbuckets - 1)];
	g->hnext = *slot;
	*slot = g;
	lru_push_head(t, g);
	t->ngroups++;
	count(&en->groups, 1);
	tenant_rehash(t);
	return g;
}

/* Removes entries [i, i + n) of g. */
static void entries_remove(struct correl_engine *en, struct tenant *t, struct group *g,
			   uint32_t i, uint32_t n)
{
	if (!n)
		return;
	for (uint32_t j = i; j < i + n; j++)
		entry_release(&g->ents[j]);
	if (i) {
		memmove(g->ents + i, g->ents + i + n, (g->n - i - n) * sizeof(*g->ents));
	} else { /* the front, at every event of a busy group: entry_insert compacts */
		g->ents += n;
		g->head += n;
	}
	g->n -= n;
	if (!g->n) {
		g->ents -= g->head;
		g->head = 0;
		g->inputs = 0;
	}
	t->nevents -= n;
	uncount(&en->events, n);
	if (g->heap_pos && !i)
		heap_fix(t, g->heap_pos - 1);
}

static void group_free(struct correl_engine *en, struct tenant *t, struct group *g)
{
	struct group **pp = &t->buckets[g->hash & (t->nbuckets - 1)];

	entries_remove(en, t, g, 0, g->n);
	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	lru_unlink(t, g);
	if (g->heap_pos)
		heap_remove(t, g);
	t->ngroups--;
	uncount(&en->groups, 1);
	mem_free(g->ents); /* empty now: head 0 */
	mem_free(g->key);
	mem_free(g);
}

/* Groups are freed only at the end of a top-level call, so none disappears mid-chain. */
static void group_mark_emptied(struct correl_engine *en, struct group *g)
{
	struct group **v;
	size_t cap;

	if (g->n || g->emptied)
		return;
	if (en->nemptied == en->capemptied) {
		cap = en->capemptied ? en->capemptied * 2 : 16;
		v = mem_realloc(en->emptied, cap * sizeof(*v));
		if (!v)
			return; /* stays until it expires or is evicted */
		en->emptied = v;
		en->capemptied = cap;
	}
	g->emptied = true;
	en->emptied[en->nemptied++] = g;
}

/* First index whose time is >= time (lower) or > time (upper). */
static uint32_t ents_bound(const struct group *g, int64_t time, bool upper)
{
	uint32_t lo = 0, hi = g->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (g->ents[mid].time < time || (upper && g->ents[mid].time == time))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Inserts x (taking its memory) after the entries of the same time; its index or -ENOMEM. */
static int entry_insert(struct correl_engine *en, struct tenant *t, struct group *g,
			struct entry *x)
{
	uint32_t p;

	/* full with a third or more left at the front: compact (two moves per entry at most) */
	if (g->head && g->head + g->n == g->cap && g->head >= g->n / 2) {
		memmove(g->ents - g->head, g->ents, g->n * sizeof(*g->ents));
		g->ents -= g->head;
		g->head = 0;
	}
	if (g->head + g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 4;
		/* the allocation starts head entries before ents (no arithmetic on a NULL ents) */
		struct entry *v = mem_realloc(g->ents ? g->ents - g->head : NULL, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g->ents = v + g->head;
		g->cap = cap;
	}
	p = ents_bound(g, x->time, true);
	memmove(g->ents + p + 1, g->ents + p, (g->n - p) * sizeof(*g->ents));
	g->ents[p] = *x;
	g->n++;
	g->inputs |= UINT64_C(1) << x->input;
	t->nevents++;
	count(&en->events, 1);
	if (g->heap_pos && !p)
		heap_fix(t, g->heap_pos - 1);
	return (int)p;
}

/* ---- windows and conditions ---------------------------------------------------------- */

static void *scratch(struct correl_engine *en, size_t n, size_t size)
{
	void *p;

	if (n * size <= en->scratch_cap)
		return en->scratch;
	p = mem_realloc(en->scratch, n * size);
	if (!p)
		return NULL;
	en->scratch = p;
	en->scratch_cap = n * size;
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_value(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;

	if (x->value_len != y->value_len)
		return x->value_len < y->value_len ? -1 : 1;
	return memcmp(x->value, y->value, x->value_len);
}

static int distinct_values(struct correl_engine *en, const struct entry *ents, uint32_t n,
			   double *out)
{
	const struct entry **v = scratch(en, n, sizeof(*v));
	uint32_t d = 0;

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		v[i] = &ents[i];
	qsort(v, n, sizeof(*v), cmp_value);
	for (uint32_t i = 0; i < n; i++)
		d += !i || cmp_value(&v[i - 1], &v[i]);
	*out = d;
	return 0;
}

/* Nearest rank: the smallest value with at least percentile % of the values <= it. */
static int percentile(struct correl_engine *en, const struct entry *ents, uint32_t n, double p,
		      double *out)
{
	double *v = scratch(en, n, sizeof(*v));
	size_t rank;

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		v[i] = ents[i].num;
	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)ceil(p * n / 100.0);
	*out = v[rank ? rank - 1 : 0];
	return 0;
}

/* How many of the rules, in the listed order, matched at non-decreasing times. */
static double ordered_prefix(const struct entry *ents, uint32_t n, size_t nrules)
{
	int64_t at = INT64_MIN;
	size_t r;

	for (r = 0; r < nrules; r++) {
		int64_t best = INT64_MAX;
		bool found = false;

		for (uint32_t i = 0; i < n; i++) {
			if (ents[i].input == r && ents[i].time >= at && ents[i].time <= best) {
				best = ents[i].time;
				found = true;
			}
		}
		if (!found)
			break;
		at = best;
	}
	return (double)r;
}

/* The aggregate of entries [i, k) that the condition compares. */
static int window_value(struct correl_engine *en, const struct corr *c, const struct group *g,
			uint32_t i, uint32_t k, double *out)
{
	const struct entry *w = g->ents + i;
	uint32_t n = k - i;
	uint64_t seen = 0;
	double sum = 0;

	switch (c->rule->type) {
	case CORREL_EVENT_COUNT:
		*out = n;
		return 0;
	case CORREL_VALUE_COUNT:
		return distinct_values(en, w, n, out);
	case CORREL_TEMPORAL:
		for (uint32_t j = 0; j < n; j++)
			seen |= UINT64_C(1) << w[j].input;
		*out = __builtin_popcountll(seen);
		return 0;
	case CORREL_TEMPORAL_ORDERED:
		*out = ordered_prefix(w, n, c->rule->nrules);
		return 0;
	case CORREL_VALUE_SUM:
	case CORREL_VALUE_AVG:
		for (uint32_t j = 0; j < n; j++)
			sum += w[j].num;
		*out = c->rule->type == CORREL_VALUE_SUM ? sum : sum / n;
		return 0;
	case CORREL_VALUE_PERCENTILE:
		return percentile(en, w, n, c->rule->percentile, out);
	}
	return -EINVAL;
}

static bool cond_holds(const struct correl_rule *r, double v)
{
	for (size_t i = 0; i < r->nconds; i++) {
		double x = r->conds[i].value;
		bool ok = false;

		switch (r->conds[i].op) {
		case CORREL_GT: ok = v > x; break;
		case CORREL_GTE: ok = v >= x; break;
		case CORREL_LT: ok = v < x; break;
		case CORREL_LTE: ok = v <= x; break;
		case CORREL_EQ: ok = v == x; break;
		case CORREL_NEQ: ok = v != x; break;
		}
		if (!ok)
			return false;
	}
	return true;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct correl_ref *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return (x->ref > y->ref) - (x->ref < y->ref);
}

static int feed_corr(struct run *r, struct corr *c, uint32_t input, const struct source *src,
		     int64_t time, const struct correl_ref *refs, uint32_t nrefs);

/* One event matched by two of the rules is listed once; refs are sorted. */
static uint32_t dedupe_refs(struct correl_ref *refs, uint32_t n)
{
	uint32_t out = 0;

	for (uint32_t i = 0; i < n; i++)
		if (!out || cmp_ref(&refs[out - 1], &refs[i]))
			refs[out++] = refs[i];
	return out;
}

/*
 * Entries [i, k) of g met the condition with value v: they leave the state, the result
 * goes to emit, then to every correlation chained on this one.
 */
static int fire(struct run *r, struct group *g, uint32_t i, uint32_t k, double v)
{
	const char *vals[CORREL_MAX_GROUP_BY];
	uint32_t lens[CORREL_MAX_GROUP_BY];
	struct correl_result res = { 0 };
	struct correl_ref *refs;
	uint32_t nrefs = 0;
	int rc = 0;

	for (uint32_t j = i; j < k; j++)
		nrefs += g->ents[j].nrefs;
	refs = mem_alloc((nrefs ? nrefs : 1) * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	nrefs = 0;
	for (uint32_t j = i; j < k; j++) {
		memcpy(refs + nrefs, entry_refs(&g->ents[j]), g->ents[j].nrefs * sizeof(*refs));
		nrefs += g->ents[j].nrefs;
	}
	qsort(refs, nrefs, sizeof(*refs), cmp_ref);
	nrefs = dedupe_refs(refs, nrefs);
	entries_remove(r->en, r->t, g, i, k - i);
	group_mark_emptied(r->en, g);

	res.rule = g->c->rule;
	res.tenant = r->t->name;
	res.ngroup = key_values(g->key, g->key_len, vals, lens, CORREL_MAX_GROUP_BY);
	res.group_values = vals;
	res.group_lens = lens;
	res.refs = refs;
	res.nrefs = nrefs;
	res.time = nrefs ? refs[nrefs - 1].time : 0;
	res.value = v;
	res.silenced = g->c->silenced;
	count(&r->en->results, 1);
	rc = r->emit ? r->emit(r->ctx, &res) : 0;
	for (size_t u = 0; rc >= 0 && u < g->c->nusers; u++) {
		struct source src = { NULL, &res };

		rc = feed_corr(r, g->c->users[u].c, g->c->users[u].input, &src, res.time, refs,
			       nrefs);
	}
	mem_free(refs);
	return rc;
}

/*
 * The most a temporal window of g can count: the inputs seen (temporal), or how many of
 * the first rules were seen (temporal_ordered: a missing rule ends every ordered chain).
 */
static double temporal_bound(const struct group *g)
{
	if (g->c->rule->type == CORREL_TEMPORAL)
		return __builtin_popcountll(g->inputs);
	return ~g->inputs ? __builtin_ctzll(~g->inputs) : 64;
}

/* The first window (by start) holding entry p that meets the condition fires. */
static int eval_eager(struct run *r, struct group *g, uint32_t p)
{
	int64_t span = g->c->rule->timespan_ns, t = g->ents[p].time;
	uint32_t i, j, k, last = p;
	double v;
	int rc;

	/*
	 * A growing condition (gt, gte) that the bound misses no window meets: the common
	 * case of a temporal correlation whose later rules match often and its first rarely
	 * would otherwise scan the whole window at every event.
	 */
	if (g->c->grows && type_is_temporal(g->c->rule->type) &&
	    !cond_holds(g->c->rule, temporal_bound(g)))
		return 0;

	/*
	 * Windows that begin at an event at or before p. When p is the latest event, they all
	 * end with it and each holds the next: for a number that grows with the window, the
	 * first is the only one to try (the common, in-order case).
	 */
	i = ents_bound(g, sat_sub(t, span), false);
	if (g->c->grows && p + 1 == g->n)
		last = i;
	for (; i <= last; i++) {
		if (i && g->ents[i - 1].time == g->ents[i].time)
			continue; /* a window holds every event of its start time */
		k = ents_bound(g, sat_add(g->ents[i].time, span), true);
		rc = window_value(r->en, g->c, g, i, k, &v);
		if (rc < 0)
			return rc;
		if (cond_holds(g->c->rule, v))
			return fire(r, g, i, k, v);
	}
	/* windows that end at an event after p (p arrived out of order) */
	for (j = p + 1; j < g->n && g->ents[j].time <= sat_add(t, span); j = k) {
		i = ents_bound(g, sat_sub(g->ents[j].time, span), false);
		k = ents_bound(g, g->ents[j].time, true);
		rc = window_value(r->en, g->c, g, i, k, &v);
		if (rc < 0)
			return rc;
		if (cond_holds(g->c->rule, v))
			return fire(r, g, i, k, v);
	}
	return 0;
}

/*
 * Closes the windows of a lazy group that begin at its first events and end before
 * watermark (all of them when all): each either fires or lets its first event go.
 */
static int close_windows(struct run *r, struct group *g, int64_t watermark, bool all)
{
	int64_t span = g->c->rule->timespan_ns;
	double v;
	int rc;

	while (g->n) {
		int64_t end = sat_add(g->ents[0].time, span);
		uint32_t k;

		if (!all && end >= watermark)
			break;
		k = ents_bound(g, end, true);
		rc = window_value(r->en, g->c, g, 0, k, &v);
		if (rc < 0)
			return rc;
		if (cond_holds(g->c->rule, v))
			rc = fire(r, g, 0, k, v);
		else /* the next window begins at the next time */
			entries_remove(r->en, r->t, g, 0, ents_bound(g, g->ents[0].time, true));
		if (rc < 0)
			return rc;
	}
	group_mark_emptied(r->en, g);
	return 0;
}

static int64_t watermark(const struct correl_engine *en, const struct tenant *t)
{
	return sat_sub(t->latest, en->cfg.lateness_ns);
}

/*
 * Closes the lazy groups' windows that ended before the watermark (all of them when all),
 * earliest first. Each round removes at least one event of the group on top; results may
 * feed chained lazy groups, which the heap orders like the others.
 */
static int close_due(struct run *r, bool all)
{
	struct tenant *t = r->t;
	int64_t wm = watermark(r->en, t);
	struct group *g;
	int rc;

	while (t->nheap && (g = t->heap[0])->n && (all || close_at(g) < wm)) {
		rc = close_windows(r, g, wm, all);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Builds the group key of an item; 0 when a group-by field is missing. */
static int group_key(struct correl_engine *en, const struct corr *c, const struct input *in,
		     const struct source *src)
{
	const char *s;
	size_t len;
	int rc;

	buf_reset(&en->key);
	for (size_t i = 0; i < c->rule->ngroup_by; i++) {
		if (!source_value(src, in->slots[i], &s, &len))
			return 0;
		rc = key_add(&en->key, s, len);
		if (rc < 0)
			return rc;
	}
	return 1;
}

/* The condition field's value into x (value_* types); 0 when missing or not a number. */
static int entry_value(const struct corr *c, const struct input *in, const struct source *src,
		       struct entry *x)
{
	char text[64], *end;
	const char *s;
	size_t len;

	if (!type_needs_field(c->rule->type))
		return 1;
	if (!source_value(src, in->slots[c->rule->ngroup_by], &s, &len) || len > UINT32_MAX)
		return 0;
	if (c->rule->type != CORREL_VALUE_COUNT) {
		if (!len || len >= sizeof(text))
			return 0;
		memcpy(text, s, len);
		text[len] = '\0';
		x->num = strtod(text, &end);
		if (*end || !isfinite(x->num))
			return 0;
	}
	x->value = mem_strndup(s, len);
	x->value_len = (uint32_t)len;
	return x->value ? 1 : -ENOMEM;
}

/* Drops the events of an eager group that no window with a timely event can hold. */
static void expire_front(struct correl_engine *en, struct tenant *t, struct group *g)
{
	int64_t horizon = sat_sub(watermark(en, t), g->c->rule->timespan_ns);
	uint32_t n = ents_bound(g, horizon, false);

	if (n && !g->c->lazy)
		entries_remove(en, t, g, 0, n);
}

static int feed_corr(struct run *r, struct corr *c, uint32_t input, const struct source *src,
		     int64_t time, const struct correl_ref *refs, uint32_t nrefs)
{
	struct correl_engine *en = r->en;
	const struct input *in = &c->inputs[input];
	struct entry x = { .time = time, .input = input, .nrefs = nrefs };
	struct group *g;
	int rc;

	if (c->reject)
		return 0;
	rc = group_key(en, c, in, src);
	if (rc <= 0) {
		if (!rc)
			count(&en->dropped[DROP_NO_GROUP], 1);
		return rc;
	}
	rc = entry_value(c, in, src, &x);
	if (rc <= 0) {
		if (!rc)
			count(&en->dropped[DROP_NO_VALUE], 1);
		return rc;
	}
	if (nrefs == 1) {
		x.one = refs[0];
	} else {
		x.refs = mem_alloc(nrefs * sizeof(*x.refs));
		if (!x.refs)
			goto nomem;
		memcpy(x.refs, refs, nrefs * sizeof(*x.refs));
	}
	g = group_get(en, r->t, c, en->key.p, en->key.len);
	if (!g)
		goto nomem;
	lru_touch(r->t, g);
	expire_front(en, r->t, g);
	rc = entry_insert(en, r->t, g, &x);
	if (rc < 0)
		goto nomem;
	return c->lazy ? 0 : eval_eager(r, g, (uint32_t)rc);
nomem:
	entry_release(&x);
	return -ENOMEM;
}

/* Evicts one group (the least recently used), counting its events. */
static void evict(struct correl_engine *en, struct tenant *t, struct group *g)
{
	count(&en->dropped[DROP_EVICTED], g->n);
	group_free(en, t, g);
}

/*
 * End of a top-level call: frees the groups it emptied and those whose events all expired,
 * then evicts least recently used groups (and, last, the oldest events of the only group
 * left) until the tenant is within its limits.
 */
static void tenant_settle(struct correl_engine *en, struct tenant *t)
{
	struct group *g;

	for (size_t i = 0; i < en->nemptied; i++) {
		g = en->emptied[i];
		g->emptied = false;
		if (!g->n)
			group_free(en, t, g);
	}
	en->nemptied = 0;
	while ((g = t->lru_tail) && (!g->n || (!g->c->lazy && g->ents[g->n - 1].time <
			sat_sub(watermark(en, t), g->c->rule->timespan_ns))))
		group_free(en, t, g);
	while (t->ngroups > en->cfg.max_groups ||
	       (t->nevents > en->cfg.max_events && t->lru_tail != t->lru_head))
		evict(en, t, t->lru_tail);
	if (t->nevents > en->cfg.max_events && (g = t->lru_head)) {
		uint32_t n = (uint32_t)(t->nevents - en->cfg.max_events);

		count(&en->dropped[DROP_EVICTED], n);
		entries_remove(en, t, g, 0, n);
		if (!g->n)
			group_free(en, t, g);
	}
}

int correl_feed(struct correl_engine *en, const char *tenant, int input,
		const struct correl_event *ev, correl_emit_fn *emit, void *ctx)
{
	struct run r = { en, NULL, emit, ctx };
	struct source src = { ev, NULL };
	struct correl_ref ref = { ev->time, ev->ref };
	const struct base *b;
	int rc = 0;

	if (input < 0 || (size_t)input >= en->nbases)
		return -EINVAL;
	b = &en->bases[input];
	r.t = tenant_get(en, tenant);
	if (!r.t)
		return -ENOMEM;
	if (r.t->seen && ev->time < watermark(en, r.t)) {
		count(&en->dropped[DROP_LATE], 1);
		return 1;
	}
	if (!r.t->seen || ev->time > r.t->latest)
		r.t->latest = ev->time;
	r.t->seen = true;
	for (size_t i = 0; i < b->nuses && rc >= 0; i++)
		rc = feed_corr(&r, b->uses[i].c, b->uses[i].input, &src, ev->time, &ref, 1);
	if (rc >= 0)
		rc = close_due(&r, false);
	tenant_settle(en, r.t);
	return rc < 0 ? rc : 0;
}

int correl_flush(struct correl_engine *en, correl_emit_fn *emit, void *ctx)
{
	int rc = 0;

	for (size_t i = 0; i < en->ntenants && rc >= 0; i++) {
		struct run r = { en, en->tenants[i], emit, ctx };

		rc = close_due(&r, true);
		tenant_settle(en, r.t);
	}
	return rc;
}

/* ---- building the engine ------------------------------------------------------------- */

int correl_engine_new(struct correl_engine **out, const struct correl_config *cfg,
		      struct err *e)
{
	struct correl_engine *en;

	*out = NULL;
	if (!cfg->max_groups || !cfg->max_events || cfg->lateness_ns < 0)
		return err_set(e, -EINVAL, "correlation: max_groups and max_events must be at "
			       "least 1 and lateness not negative");
	en = mem_calloc(1, sizeof(*en));
	if (!en)
		return err_set(e, -ENOMEM, "correlation: out of memory");
	en->cfg = *cfg;
	buf_init(&en->key, 1 << 20);
	*out = en;
	return 0;
}

static void tenant_free(struct correl_engine *en, struct tenant *t)
{
	while (t->lru_head)
		group_free(en, t, t->lru_head);
	mem_free(t->buckets);
	mem_free(t->heap);
	mem_free(t->name);
	mem_free(t);
}

static void corr_free(struct corr *c)
{
	correl_rule_free(c->rule);
	mem_free(c->inputs);
	mem_free(c->users);
	mem_free(c->reject);
	mem_free(c);
}

void correl_engine_free(struct correl_engine *en)
{
	if (!en)
		return;
	if (en->metrics)
		metrics_unregister(en);
	for (size_t i = 0; i < en->ntenants; i++)
		tenant_free(en, en->tenants[i]);
	mem_free(en->tenants);
	for (size_t i = 0; i < en->ncorrs; i++)
		corr_free(en->corrs[i]);
	mem_free(en->corrs);
	for (size_t i = 0; i < en->nbases; i++)
		mem_free(en->bases[i].uses);
	mem_free(en->bases);
	mem_free(en->emptied);
	mem_free(en->scratch);
	buf_release(&en->key);
	mem_free(en);
}

static bool names_rule(const struct correl_rule *r, const char *s)
{
	return s && ((r->id && !strcmp(r->id, s)) || (r->name && !strcmp(r->name, s)));
}

int correl_engine_add(struct correl_engine *en, struct correl_rule *r, struct err *e)
{
	struct corr *c, **v;

	for (size_t i = 0; i < en->ncorrs; i++) {
		const struct correl_rule *o = en->corrs[i]->rule;

		if (names_rule(o, r->id) || names_rule(o, r->name)) {
			err_set(e, -EEXIST, "%s:%d: %s: the id or name is already used by %s:%d",
				r->file, r->line, correl_rule_key(r), o->file, o->line);
			correl_rule_free(r);
			return -EEXIST;
		}
	}
	v = mem_realloc(en->corrs, (en->ncorrs + 1) * sizeof(*v));
	c = mem_calloc(1, sizeof(*c));
	if (v)
		en->corrs = v;
	if (c)
		c->inputs = mem_calloc(r->nrules, sizeof(*c->inputs));
	if (!v || !c || !c->inputs) {
		mem_free(c);
		correl_rule_free(r);
		return err_set(e, -ENOMEM, "correlation: out of memory");
	}
	c->rule = r;
	c->idx = (uint32_t)en->ncorrs;
	c->lazy = true;
	for (size_t i = 0; i < r->nconds; i++)
		if (r->conds[i].op == CORREL_GT || r->conds[i].op == CORREL_GTE ||
		    r->conds[i].op == CORREL_EQ)
			c->lazy = false;
	c->grows = r->type == CORREL_EVENT_COUNT || r->type == CORREL_VALUE_COUNT ||
		   type_is_temporal(r->type);
	for (size_t i = 0; i < r->nconds; i++)
		c->grows &= r->conds[i].op == CORREL_GT || r->conds[i].op == CORREL_GTE;
	for (size_t i = 0; i < r->nrules; i++)
		c->inputs[i].base = -1;
	en->corrs[en->ncorrs++] = c;
	return 0;
}

static int reject(struct corr *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int reject(struct corr *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (c->reject)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->reject = mem_strdup(msg);
	return c->reject ? 0 : -ENOMEM;
}

/* The rule an input reads: as written in `rules`, and its id and name (either may be NULL). */
struct rule_names {
	const char *ref, *id, *name;
};

static bool names_match(const struct rule_names *rn, const char *s)
{
	return !strcmp(s, rn->ref) || (rn->id && !strcmp(s, rn->id)) ||
	       (rn->name && !strcmp(s, rn->name));
}

/*
 * The field that group-by entry `name` means in events of rule rn: an alias (whose map may
 * name the rule by its id or its name, whichever `rules` used) or itself.
 */
static const char *alias_field(struct corr *c, const char *name, const struct rule_names *rn,
			       bool *bad)
{
	const struct correl_rule *r = c->rule;

	*bad = false;
	for (size_t i = 0; i < r->naliases; i++) {
		if (strcmp(r->aliases[i].name, name))
			continue;
		for (size_t j = 0; j < r->aliases[i].nmaps; j++)
			if (names_match(rn, r->aliases[i].maps[j].rule))
				return r->aliases[i].maps[j].field;
		*bad = true;
		return NULL;
	}
	return name;
}

/*
 * The field names input i of c reads: group-by (through aliases) then condition.field.
 * Returns how many, or 0 after rejecting c.
 */
static int input_fields(struct corr *c, size_t i, const char *id, const char *name,
			const char **names)
{
	const struct correl_rule *r = c->rule;
	const struct rule_names rn = { r->rules[i], id, name };
	size_t n = 0;
	bool bad;

	for (size_t g = 0; g < r->ngroup_by; g++) {
		names[n] = alias_field(c, r->group_by[g], &rn, &bad);
		if (bad)
			return reject(c, "alias %s has no field for rule %s", r->group_by[g],
				      r->rules[i]) < 0 ? -ENOMEM : 0;
		n++;
	}
	if (r->field)
		names[n++] = r->field;
	return (int)n;
}

static int add_use(struct use **v, size_t *n, struct corr *c, size_t input)
{
	struct use *u = mem_realloc(*v, (*n + 1) * sizeof(*u));

	if (!u)
		return -ENOMEM;
	u[*n].c = c;
	u[*n].input = (uint32_t)input;
	*v = u;
	(*n)++;
	return 0;
}

/* Binds input i of c to base rule `handle`, resolving its fields through the caller. */
static int bind_base(struct correl_engine *en, struct corr *c, size_t i, int handle,
		     const char *id, const char *name, correl_resolve_fn *resolve, void *ctx)
{
	const char *names[CORREL_MAX_GROUP_BY + 1];
	struct input *in = &c->inputs[i];
	int n = input_fields(c, i, id, name, names);

	if (n < 0)
		return n;
	in->base = handle;
	for (int s = 0; s < n && !c->reject; s++) {
		struct err fe = ERR_INIT;
		int field = resolve(ctx, names[s], &fe);

		if (field == -ENOMEM)
			return field;
		if (field < 0 && reject(c, "field %s of rule %s: %s", names[s], c->rule->rules[i],
					fe.msg[0] ? fe.msg : "unknown") < 0)
			return -ENOMEM;
		in->slots[s] = field;
	}
	return add_use(&en->bases[handle].uses, &en->bases[handle].nuses, c, i);
}

int correl_engine_base(struct correl_engine *en, const char *id, const char *name,
		       correl_resolve_fn *resolve, void *ctx, bool *silenced, struct err *e)
{
	struct base *v;
	int handle = (int)en->nbases;
	int rc;

	*silenced = false;
	v = mem_realloc(en->bases, (en->nbases + 1) * sizeof(*v));
	if (!v)
		return err_set(e, -ENOMEM, "correlation: out of memory");
	en->bases = v;
	en->bases[handle] = (struct base){ NULL, 0 };
	*silenced = true;
	for (size_t k = 0; k < en->ncorrs; k++) {
		struct corr *c = en->corrs[k];

		for (size_t i = 0; i < c->rule->nrules; i++) {
			const char *ref = c->rule->rules[i];

			if (c->inputs[i].base >= 0 || !((id && !strcmp(ref, id)) ||
							(name && !strcmp(ref, name))))
				continue;
			rc = bind_base(en, c, i, handle, id, name, resolve, ctx);
			if (rc < 0) {
				mem_free(en->bases[handle].uses);
				return err_set(e, rc, "correlation: out of memory");
			}
			*silenced &= !c->rule->generate;
		}
	}
	if (!en->bases[handle].nuses) {
		*silenced = false;
		return -ENOENT;
	}
	en->nbases++;
	return handle;
}

static struct corr *find_corr(struct correl_engine *en, const char *ref)
{
	for (size_t i = 0; i < en->ncorrs; i++)
		if (names_rule(en->corrs[i]->rule, ref))
			return en->corrs[i];
	return NULL;
}

static int group_index(const struct correl_rule *r, const char *field)
{
	for (size_t i = 0; i < r->ngroup_by; i++)
		if (!strcmp(r->group_by[i], field))
			return (int)i;
	return -1;
}

/* Binds input i of c to correlation d: its fields must be d's group-by values. */
static int bind_inner(struct corr *c, size_t i, struct corr *d)
{
	const char *names[CORREL_MAX_GROUP_BY + 1];
	int n = input_fields(c, i, d->rule->id, d->rule->name, names);

	if (n < 0)
		return n;
	c->inputs[i].inner = d;
	for (int s = 0; s < n && !c->reject; s++) {
		c->inputs[i].slots[s] = group_index(d->rule, names[s]);
		if (c->inputs[i].slots[s] < 0 &&
		    reject(c, "field %s is not in the group-by of correlation %s", names[s],
			   c->rule->rules[i]) < 0)
			return -ENOMEM;
	}
	return add_use(&d->users, &d->nusers, c, i);
}

/* Depth-first walk over chained inputs; a correlation met again on the path loops. */
static int check_cycles(struct corr *c)
{
	int rc = 0;

	if (c->visit == 2)
		return 0;
	if (c->visit == 1)
		return reject(c, "the correlation chain loops back to %s", corr_key(c));
	c->visit = 1;
	for (size_t i = 0; i < c->rule->nrules && rc >= 0; i++) {
		struct corr *d = c->inputs[i].inner;

		if (d)
			rc = check_cycles(d);
		if (rc >= 0 && d && d->reject)
			rc = reject(c, "rule %s is rejected: %s", c->rule->rules[i], d->reject);
	}
	c->visit = 2;
	return rc;
}

int correl_engine_link(struct correl_engine *en, correl_report_fn *report, void *ctx)
{
	int rc = 0, rejected = 0;

	for (size_t k = 0; k < en->ncorrs && rc >= 0; k++) {
		struct corr *c = en->corrs[k];

		for (size_t i = 0; i < c->rule->nrules && rc >= 0; i++) {
			struct corr *d;

			if (c->inputs[i].base >= 0)
				continue;
			d = find_corr(en, c->rule->rules[i]);
			if (d == c)
				rc = reject(c, "the correlation names itself in rules");
			else if (d)
				rc = bind_inner(c, i, d);
			else
				rc = reject(c, "rule %s not found", c->rule->rules[i]);
		}
	}
	for (size_t k = 0; k < en->ncorrs && rc >= 0; k++)
		rc = check_cycles(en->corrs[k]);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < en->ncorrs; k++) {
		struct corr *c = en->corrs[k];
		char msg[1024];
		size_t live = 0, quiet = 0;

		for (size_t u = 0; u < c->nusers; u++) {
			live += !c->users[u].c->reject;
			quiet += !c->users[u].c->reject && !c->users[u].c->rule->generate;
		}
		c->silenced = live && quiet == live;
		if (!c->reject)
			continue;
		rejected++;
		snprintf(msg, sizeof(msg), "%s:%d: %s: %s", c->rule->file, c->rule->line,
			 corr_key(c), c->reject);
		if (report)
			report(ctx, c->rule, msg);
	}
	return rejected;
}

/* ---- snapshots ----------------------------------------------------------------------- */

/*
 * Layout, little-endian: "KBCORREL", u32 version, u32 tenants; per tenant: str name,
 * i64 latest, u8 seen, u32 groups; per group (least recently used first): str correlation
 * key, str signature (corr_signature), u32 values, str value...; u32 entries; per entry: i64 time, str input (as written in
 * `rules`), u8 has value, [str value], u32 refs, (i64 time, u64 ref)...; then the CRC-32 of
 * everything before it. str = u32 length + bytes.
 */
#define SNAP_MAGIC "KBCORREL"
#define SNAP_VERSION 1
#define SNAP_MAX_STR (1u << 20)

static int put32(struct buf *b, uint32_t v)
{
	unsigned char p[4];

	le_put32(p, v);
	return buf_add(b, p, 4);
}

static int put64(struct buf *b, uint64_t v)
{
	unsigned char p[8];

	le_put64(p, v);
	return buf_add(b, p, 8);
}

static int putstr(struct buf *b, const char *s, size_t len)
{
	int rc = put32(b, (uint32_t)len);

	return rc < 0 ? rc : buf_add(b, s, len);
}

static int write_entry(struct buf *b, const struct corr *c, const struct entry *x)
{
	const struct correl_ref *refs = entry_refs(x);
	const char *input = c->rule->rules[x->input];
	int rc = put64(b, (uint64_t)x->time);

	rc = err_first(rc, putstr(b, input, strlen(input)));
	rc = err_first(rc, buf_addch(b, x->value ? 1 : 0));
	if (x->value)
		rc = err_first(rc, putstr(b, x->value, x->value_len));
	rc = err_first(rc, put32(b, x->nrefs));
	for (uint32_t i = 0; i < x->nrefs && rc >= 0; i++) {
		rc = put64(b, (uint64_t)refs[i].time);
		rc = err_first(rc, put64(b, refs[i].ref));
	}
	return rc;
}

/*
 * What the held values mean: type, condition field and group-by names. State is restored
 * only into a correlation with the same signature, so an edited rule starts afresh.
 */
static int corr_signature(const struct corr *c, struct buf *b)
{
	const struct correl_rule *r = c->rule;
	int rc;

	buf_reset(b);
	rc = buf_addf(b, "%s;%s;", correl_type_name(r->type), r->field ? r->field : "");
	for (size_t i = 0; i < r->ngroup_by && rc >= 0; i++)
		rc = buf_addf(b, "%s%s", i ? "," : "", r->group_by[i]);
	return rc;
}

static int write_group(struct buf *b, const struct group *g)
{
	const char *vals[CORREL_MAX_GROUP_BY];
	uint32_t lens[CORREL_MAX_GROUP_BY];
	size_t n = key_values(g->key, g->key_len, vals, lens, CORREL_MAX_GROUP_BY);
	const char *key = corr_key(g->c);
	struct buf sig = BUF_INIT(65536);
	int rc = corr_signature(g->c, &sig);

	rc = err_first(rc, putstr(b, key, strlen(key)));
	rc = err_first(rc, putstr(b, sig.p, sig.len));
	buf_release(&sig);
	rc = err_first(rc, put32(b, (uint32_t)n));
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = putstr(b, vals[i], lens[i]);
	rc = err_first(rc, put32(b, g->n));
	for (uint32_t i = 0; i < g->n && rc >= 0; i++)
		rc = write_entry(b, g->c, &g->ents[i]);
	return rc;
}

int correl_snapshot_write(struct correl_engine *en, struct buf *out)
{
	int rc = buf_add(out, SNAP_MAGIC, 8);

	rc = err_first(rc, put32(out, SNAP_VERSION));
	rc = err_first(rc, put32(out, (uint32_t)en->ntenants));
	for (size_t i = 0; i < en->ntenants && rc >= 0; i++) {
		const struct tenant *t = en->tenants[i];

		rc = putstr(out, t->name, strlen(t->name));
		rc = err_first(rc, put64(out, (uint64_t)t->latest));
		rc = err_first(rc, buf_addch(out, t->seen));
		rc = err_first(rc, put32(out, t->ngroups));
		for (const struct group *g = t->lru_tail; g && rc >= 0; g = g->lru_prev)
			rc = write_group(out, g);
	}
	return err_first(rc, put32(out, (uint32_t)crc32(0L, (const Bytef *)out->p, (uInt)out->len)));
}

/* A bounds-checked reader over the snapshot bytes. */
struct reader {
	const unsigned char *p;
	size_t len, off;
	bool bad;
};

static const unsigned char *take(struct reader *rd, size_t n)
{
	const unsigned char *p = rd->p + rd->off;

	if (rd->bad || n > rd->len - rd->off) {
		rd->bad = true;
		return NULL;
	}
	rd->off += n;
	return p;
}

static uint32_t get32(struct reader *rd)
{
	const unsigned char *p = take(rd, 4);

	return p ? le_get32(p) : 0;
}

static uint64_t get64(struct reader *rd)
{
	const unsigned char *p = take(rd, 8);

	return p ? le_get64(p) : 0;
}

static const char *getstr(struct reader *rd, uint32_t *len)
{
	*len = get32(rd);
	if (*len > SNAP_MAX_STR)
		rd->bad = true;
	return (const char *)take(rd, *len);
}

/* What restoring one group needs: its correlation (NULL: unknown here) and its key. */
struct restore {
	struct correl_engine *en;
	struct tenant *t;  /* NULL while only checking */
	struct corr *c;
	struct group *g;
};

static int input_index(const struct corr *c, const char *s, uint32_t len)
{
	for (size_t i = 0; i < c->rule->nrules; i++)
		if (strlen(c->rule->rules[i]) == len && !memcmp(c->rule->rules[i], s, len))
			return (int)i;
	return -1;
}

/* Numbers of value_sum, value_avg and value_percentile; 0 when s is not one. */
static int parse_num(const char *s, size_t len, double *out)
{
	char text[64], *end;

	if (!len || len >= sizeof(text))
		return 0;
	memcpy(text, s, len);
	text[len] = '\0';
	*out = strtod(text, &end);
	return !*end && isfinite(*out);
}

static int read_entry(struct reader *rd, struct restore *rs)
{
	struct entry x = { 0 };
	const char *input, *value = NULL;
	uint32_t len, vlen = 0, nrefs;
	const unsigned char *refs, *flag;
	int in;

	x.time = (int64_t)get64(rd);
	input = getstr(rd, &len);
	flag = take(rd, 1);
	if (flag && *flag)
		value = getstr(rd, &vlen);
	nrefs = get32(rd);
	if (!nrefs || nrefs > rd->len / 16)
		rd->bad = true;
	refs = take(rd, (size_t)nrefs * 16);
	if (rd->bad || !rs->t)
		return 0;
	in = rs->c ? input_index(rs->c, input, len) : -1;
	if (in < 0 || !!value != type_needs_field(rs->c->rule->type) ||
	    (value && rs->c->rule->type != CORREL_VALUE_COUNT && !parse_num(value, vlen, &x.num))) {
		count(&rs->en->dropped[DROP_RESTORE], 1);
		return 0;
	}
	x.input = (uint32_t)in;
	x.nrefs = nrefs;
	x.refs = nrefs > 1 ? mem_alloc(nrefs * sizeof(*x.refs)) : NULL;
	x.value = value ? mem_strndup(value, vlen) : NULL;
	x.value_len = vlen;
	if ((nrefs > 1 && !x.refs) || (value && !x.value))
		goto nomem;
	for (uint32_t i = 0; i < nrefs; i++) {
		struct correl_ref *r = nrefs > 1 ? &x.refs[i] : &x.one;

		r->time = (int64_t)le_get64(refs + 16 * i);
		r->ref = le_get64(refs + 16 * i + 8);
	}
	if (!rs->g) {
		rs->g = group_get(rs->en, rs->t, rs->c, rs->en->key.p, rs->en->key.len);
		if (!rs->g)
			goto nomem;
	}
	if (entry_insert(rs->en, rs->t, rs->g, &x) < 0)
		goto nomem;
	return 0;
nomem:
	entry_release(&x);
	return -ENOMEM;
}

static int read_group(struct reader *rd, struct restore *rs)
{
	struct buf mine = BUF_INIT(65536);
	const char *key, *sig, *v;
	uint32_t len, siglen, nvals, nents;
	int rc = 0;

	key = getstr(rd, &len);
	sig = getstr(rd, &siglen);
	nvals = get32(rd);
	if (nvals > CORREL_MAX_GROUP_BY)
		rd->bad = true;
	rs->c = NULL;
	rs->g = NULL;
	for (size_t i = 0; !rd->bad && rs->t && i < rs->en->ncorrs && rc >= 0; i++) {
		struct corr *c = rs->en->corrs[i];
		const char *k = corr_key(c);

		if (c->reject || strlen(k) != len || memcmp(k, key, len))
			continue;
		rc = corr_signature(c, &mine);
		if (rc >= 0 && mine.len == siglen && !memcmp(mine.p, sig, siglen))
			rs->c = c;
	}
	buf_release(&mine);
	buf_reset(&rs->en->key);
	for (uint32_t i = 0; i < nvals && !rd->bad && rc >= 0; i++) {
		v = getstr(rd, &len);
		if (v)
			rc = key_add(&rs->en->key, v, len);
	}
	nents = get32(rd);
	for (uint32_t i = 0; i < nents && !rd->bad && rc >= 0; i++)
		rc = read_entry(rd, rs);
	return rc;
}

static int read_tenant(struct reader *rd, struct restore *rs, bool apply)
{
	const char *name;
	char *copy;
	uint32_t len, ngroups;
	int64_t latest;
	bool seen;
	const unsigned char *p;
	int rc = 0;

	name = getstr(rd, &len);
	latest = (int64_t)get64(rd);
	p = take(rd, 1);
	seen = p && *p;
	ngroups = get32(rd);
	rs->t = NULL;
	if (rd->bad)
		return 0;
	if (apply) {
		copy = mem_strndup(name, len);
		rs->t = copy ? tenant_get(rs->en, copy) : NULL;
		mem_free(copy);
		if (!rs->t)
			return -ENOMEM;
		if (seen && (!rs->t->seen || latest > rs->t->latest))
			rs->t->latest = latest;
		rs->t->seen |= seen;
	}
	for (uint32_t i = 0; i < ngroups && !rd->bad && rc >= 0; i++)
		rc = read_group(rd, rs);
	if (rs->t)
		tenant_settle(rs->en, rs->t);
	return rc;
}

/* One pass over the bytes: checking only (apply false), or restoring. */
static int snapshot_pass(struct correl_engine *en, const unsigned char *p, size_t len, bool apply)
{
	struct reader rd = { p, len - 4, 8, false };
	struct restore rs = { en, NULL, NULL, NULL };
	uint32_t ntenants;
	int rc = 0;

	if (get32(&rd) != SNAP_VERSION)
		return -EBADMSG;
	ntenants = get32(&rd);
	for (uint32_t i = 0; i < ntenants && !rd.bad && rc >= 0; i++)
		rc = read_tenant(&rd, &rs, apply);
	if (rc < 0)
		return rc;
	return rd.bad || rd.off != rd.len ? -EBADMSG : 0;
}

int correl_snapshot_read(struct correl_engine *en, const void *p, size_t len, struct err *e)
{
	const unsigned char *b = p;
	int rc;

	if (len < 20 || memcmp(b, SNAP_MAGIC, 8) ||
	    le_get32(b + len - 4) != (uint32_t)crc32(0L, b, (uInt)(len - 4)))
		return err_set(e, -EBADMSG, "correlation snapshot: not a snapshot or damaged "
			       "(bad magic or checksum)");
	rc = snapshot_pass(en, b, len, false);
	if (rc == -EBADMSG)
		return err_set(e, rc, "correlation snapshot: version %u unknown or the content "
			       "is malformed", le_get32(b + 8));
	rc = snapshot_pass(en, b, len, true);
	return rc < 0 ? err_set(e, rc, "correlation snapshot: out of memory") : 0;
}

int correl_snapshot_save(struct correl_engine *en, const char *dir, const char *name,
			 struct err *e)
{
	struct buf b = BUF_INIT((size_t)1 << 34);
	int rc = correl_snapshot_write(en, &b);

	if (rc < 0)
		err_set(e, rc, "correlation snapshot: %s", strerror(-rc));
	else
		rc = fileio_replace(dir, name, b.p, b.len, 0600, 0, e);
	buf_release(&b);
	return rc;
}

int correl_snapshot_load(struct correl_engine *en, const char *path, struct err *e)
{
	struct buf b = BUF_INIT((size_t)1 << 34);
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	while (rc >= 0 && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		rc = n < 0 ? -errno : buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (rc < 0)
		err_set(e, rc, "%s: %s", path, strerror(-rc));
	else
		rc = correl_snapshot_read(en, b.p, b.len, e);
	buf_release(&b);
	if (rc == -EBADMSG)
		log_warn("%s: snapshot ignored: %s", path, e ? e->msg : "corrupt");
	return rc;
}

int correl_reload(struct correl_engine *fresh, struct correl_engine *old, struct err *e)
{
	struct buf b = BUF_INIT((size_t)1 << 34);
	int rc = correl_snapshot_write(old, &b);

	if (rc < 0)
		err_set(e, rc, "correlation reload: %s", strerror(-rc));
	else
		rc = correl_snapshot_read(fresh, b.p, b.len, e);
	buf_release(&b);
	if (rc < 0)
		return rc;
	/* counters go on from where they were: a reload is not a restart */
	count(&fresh->results, load(&old->results));
	for (size_t i = 0; i < DROP_N; i++)
		count(&fresh->dropped[i], load(&old->dropped[i]));
	return 0;
}

/* ---- metrics ------------------------------------------------------------------------- */

static int collect_results(struct metrics_out *o, void *ctx)
{
	struct correl_engine *en = ctx;

	return metrics_sample(o, load(&en->results), NULL);
}

static int collect_dropped(struct metrics_out *o, void *ctx)
{
	struct correl_engine *en = ctx;
	int rc = 0;

	for (size_t i = 0; i < DROP_N && rc >= 0; i++)
		rc = metrics_sample(o, load(&en->dropped[i]), "reason", drop_names[i], NULL);
	return rc;
}

static int collect_groups(struct metrics_out *o, void *ctx)
{
	struct correl_engine *en = ctx;

	return metrics_sample(o, load(&en->groups), NULL);
}

static int collect_events(struct metrics_out *o, void *ctx)
{
	struct correl_engine *en = ctx;

	return metrics_sample(o, load(&en->events), NULL);
}

int correl_metrics_register(struct correl_engine *en)
{
	int rc;

	rc = metrics_register("koban_correlation_results_total", METRICS_COUNTER,
			      "Results of correlation rules.", collect_results, en);
	en->metrics = true; /* from the first family on, free must unregister */
	if (rc >= 0)
		rc = metrics_register("koban_correlation_dropped_total", METRICS_COUNTER,
				      "Events correlations did not keep, by reason.",
				      collect_dropped, en);
	if (rc >= 0)
		rc = metrics_register("koban_correlation_groups", METRICS_GAUGE,
				      "Correlation groups held, all tenants.", collect_groups, en);
	if (rc >= 0)
		rc = metrics_register("koban_correlation_events", METRICS_GAUGE,
				      "Events held in correlation windows, all tenants.",
				      collect_events, en);
	return rc;
}
