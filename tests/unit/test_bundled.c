/*
 * Unit tests of detect/bundled: every rules/sigma/ file is embedded byte for byte, and
 * every bundled rule carries what koban promises for its own rules (docs/detection.md,
 * "Bundled rules"): a UUID id, a unique koban_ name, author koban, references, tags,
 * false positives, a level (except a correlation that another one chains over: only the
 * outermost correlation carries meta information), a test case in tests/rules/NAME/, and
 * correlations that only name bundled rules. The matching itself is tested by
 * tests/integration/test_ownrules.py.
 */
#include "detect/bundled.h"
#include "t.h"

#include <dirent.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_RULES 256

/* ids and names seen so far, and the names correlations refer to */
static char *ids[MAX_RULES], *names[MAX_RULES], *refs[MAX_RULES];
static size_t n_ids, n_names, n_refs;
/* names of the correlations that have a level, and of those that have none */
static char *leveled[MAX_RULES], *unleveled[MAX_RULES];
static size_t n_leveled, n_unleveled;

static const char *root_dir(void)
{
	static char root[4096];

	snprintf(root, sizeof(root), "%s/../..", t_data_dir());
	return root;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .yml files of rules/sigma/ as "rules/sigma/NAME.yml", sorted; returns the count. */
static size_t list_rule_files(char **out, size_t max)
{
	char dir[4200];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/rules/sigma", root_dir());
	d = opendir(dir);
	if (!CHECK(d))
		return 0;
	while ((de = readdir(d)) && n < max) {
		size_t len = strlen(de->d_name);
		char path[300];

		if (len < 5 || strcmp(de->d_name + len - 4, ".yml"))
			continue;
		snprintf(path, sizeof(path), "rules/sigma/%s", de->d_name);
		out[n++] = strdup(path);
	}
	closedir(d);
	qsort(out, n, sizeof(out[0]), cmp_str);
	return n;
}

static void test_embedded_bytes(void)
{
	char *files[MAX_RULES];
	size_t n = list_rule_files(files, MAX_RULES);

	CHECK(n > 0);
	CHECK_INT(bundled_count(), n);
	for (size_t i = 0; i < n && i < bundled_count(); i++) {
		const struct bundled_file *b = bundled_at(i);
		char path[4400];
		size_t len = 0;
		char *text;

		CHECK_STR(b->name, files[i]);
		CHECK(bundled_find(files[i]) == b);
		snprintf(path, sizeof(path), "%s/%s", root_dir(), files[i]);
		text = t_read_file(path, &len);
		if (CHECK(text)) {
			CHECK_INT(b->len, len);
			CHECK(b->len == len && !memcmp(b->bytes, text, len));
			CHECK_INT(b->bytes[b->len], 0);
		}
		free(text);
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	CHECK(bundled_at(bundled_count()) == NULL);
	CHECK(bundled_find("rules/sigma/none.yml") == NULL);
	CHECK(bundled_find("entra_signin.yml") == NULL);
	CHECK(bundled_find(NULL) == NULL);
}

/* The scalar at KEY of mapping N as a NUL-terminated copy (static buffer), or NULL. */
static const char *scalar(struct fy_node *n, const char *key)
{
	static char buf[1024];
	struct fy_node *v = fy_node_mapping_lookup_by_string(n, key, FY_NT);
	const char *s;
	size_t len;

	if (!v || !fy_node_is_scalar(v) || !(s = fy_node_get_scalar(v, &len)) ||
	    len >= sizeof(buf))
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

static int in_list(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static int is_uuid4(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-4xxx-vxxx-xxxxxxxxxxxx";

	if (!s || strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++) {
		int hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');

		if ((shape[i] == '-' || shape[i] == '4') && s[i] != shape[i])
			return 0;
		if (shape[i] == 'x' && !hex)
			return 0;
		if (shape[i] == 'v' && !strchr("89ab", s[i]))
			return 0;
	}
	return 1;
}

static int is_date(const char *s)
{
	int y, m, d;
	char end;

	return s && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) == 3 &&
	       m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/* A sequence of at least one non-empty scalar, each starting with PREFIX (or any). */
static int scalar_list(struct fy_node *n, const char *key, const char *prefix)
{
	struct fy_node *v = fy_node_mapping_lookup_by_string(n, key, FY_NT);
	int count;

	if (!v || !fy_node_is_sequence(v) || (count = fy_node_sequence_item_count(v)) < 1)
		return 0;
	for (int i = 0; i < count; i++) {
		struct fy_node *item = fy_node_sequence_get_by_index(v, i);
		const char *s;
		size_t len;

		if (!fy_node_is_scalar(item) || !(s = fy_node_get_scalar(item, &len)) || !len)
			return 0;
		if (prefix && (len < strlen(prefix) || memcmp(s, prefix, strlen(prefix))))
			return 0;
	}
	return 1;
}

static int tags_ok(struct fy_node *n)
{
	static const char *const spaces[] = { "attack.", "car.", "cve.", "d3fend.",
					      "detection.", "stp.", "tlp.", NULL };
	struct fy_node *v = fy_node_mapping_lookup_by_string(n, "tags", FY_NT);

	if (!scalar_list(n, "tags", NULL))
		return 0;
	for (int i = 0; i < fy_node_sequence_item_count(v); i++) {
		const char *t = fy_node_get_scalar0(fy_node_sequence_get_by_index(v, i));
		int known = 0;

		for (const char *p = t; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				return 0;
		for (size_t k = 0; spaces[k]; k++)
			known |= !strncmp(t, spaces[k], strlen(spaces[k]));
		if (!known)
			return 0;
	}
	return 1;
}

static void remember(char **list, size_t *n, const char *s)
{
	if (CHECK(*n < MAX_RULES) && s)
		list[(*n)++] = strdup(s);
}

static int seen(char **list, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

/* Detection rule: logsource and detection with a condition. */
static int detection_ok(struct fy_node *doc)
{
	struct fy_node *ls = fy_node_mapping_lookup_by_string(doc, "logsource", FY_NT);
	struct fy_node *det = fy_node_mapping_lookup_by_string(doc, "detection", FY_NT);

	return ls && fy_node_is_mapping(ls) && fy_node_mapping_item_count(ls) > 0 && det &&
	       fy_node_is_mapping(det) && scalar(det, "condition");
}

/* Correlation: a known type, bundled rules, a timespan; the names go to refs[]. */
static int correlation_ok(struct fy_node *doc)
{
	static const char *const types[] = { "event_count", "value_count", "temporal",
					     "temporal_ordered", "value_sum", "value_avg",
					     "value_percentile", NULL };
	struct fy_node *c = fy_node_mapping_lookup_by_string(doc, "correlation", FY_NT);
	struct fy_node *rules;

	if (!c || !fy_node_is_mapping(c) || !in_list(scalar(c, "type"), types) ||
	    !scalar(c, "timespan") || !scalar_list(c, "rules", NULL))
		return 0;
	rules = fy_node_mapping_lookup_by_string(c, "rules", FY_NT);
	for (int i = 0; i < fy_node_sequence_item_count(rules); i++)
		remember(refs, &n_refs, fy_node_get_scalar0(fy_node_sequence_get_by_index(rules, i)));
	return 1;
}

static void check_document(const char *file, int index, struct fy_node *doc)
{
	static const char *const levels[] = { "informational", "low", "medium", "high",
					      "critical", NULL };
	static const char *const statuses[] = { "experimental", "test", "stable", NULL };
	const char *title = scalar(doc, "title");
	const char *s;
	int ok, has_level;

	if (!t_check(doc && fy_node_is_mapping(doc), __FILE__, __LINE__,
		     "%s: document %d is not a mapping", file, index))
		return;
	t_check(title && strlen(title) <= 256, __FILE__, __LINE__, "%s #%d: title", file, index);
	s = scalar(doc, "id");
	t_check(is_uuid4(s) && !seen(ids, n_ids, s), __FILE__, __LINE__,
		"%s #%d: id %s is not a fresh lower-case UUID v4", file, index, s ? s : "(none)");
	remember(ids, &n_ids, s);
	s = scalar(doc, "name");
	t_check(s && !strncmp(s, "koban_", 6) && !seen(names, n_names, s), __FILE__, __LINE__,
		"%s #%d: name %s is not a fresh koban_ name", file, index, s ? s : "(none)");
	remember(names, &n_names, s);
	t_check(in_list(scalar(doc, "status"), statuses), __FILE__, __LINE__, "%s #%d: status",
		file, index);
	t_check(scalar(doc, "description") != NULL, __FILE__, __LINE__, "%s #%d: description",
		file, index);
	s = scalar(doc, "author");
	t_check(s && !strcmp(s, "koban"), __FILE__, __LINE__, "%s #%d: author", file, index);
	t_check(is_date(scalar(doc, "date")), __FILE__, __LINE__, "%s #%d: date", file, index);
	t_check(scalar_list(doc, "references", "https://"), __FILE__, __LINE__,
		"%s #%d: references (https:// URLs)", file, index);
	t_check(tags_ok(doc), __FILE__, __LINE__, "%s #%d: tags", file, index);
	s = scalar(doc, "level");
	has_level = s != NULL;
	t_check(!has_level || in_list(s, levels), __FILE__, __LINE__, "%s #%d: level %s", file,
		index, has_level ? s : "");
	if (fy_node_mapping_lookup_by_string(doc, "correlation", FY_NT))
		remember(has_level ? leveled : unleveled, has_level ? &n_leveled : &n_unleveled,
			 scalar(doc, "name"));
	else
		t_check(has_level, __FILE__, __LINE__, "%s #%d: no level", file, index);
	t_check(scalar_list(doc, "falsepositives", NULL), __FILE__, __LINE__,
		"%s #%d: falsepositives", file, index);
	ok = fy_node_mapping_lookup_by_string(doc, "correlation", FY_NT) ?
		     correlation_ok(doc) :
		     detection_ok(doc);
	t_check(ok, __FILE__, __LINE__, "%s #%d: detection or correlation", file, index);
}

/* Every file has a test case tests/rules/STEM/ with events and expected results. */
static void check_case(const char *file)
{
	const char *base = strrchr(file, '/') + 1;
	int stem = (int)(strlen(base) - strlen(".yml"));
	static const char *const parts[] = { "events.jsonl", "expected.jsonl" };

	for (size_t i = 0; i < 2; i++) {
		char path[4600];
		struct stat st;

		snprintf(path, sizeof(path), "%s/tests/rules/%.*s/%s", root_dir(), stem, base,
			 parts[i]);
		t_check(stat(path, &st) == 0 && st.st_size > 0, __FILE__, __LINE__,
			"%s: no test case %s", file, path);
	}
}

static void test_rule_metadata(void)
{
	for (size_t i = 0; i < bundled_count(); i++) {
		const struct bundled_file *b = bundled_at(i);
		struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET };
		struct fy_parser *p = fy_parser_create(&cfg);
		struct fy_document *doc;
		int index = 0;

		if (!CHECK(p) || !CHECK(fy_parser_set_string(p, (const char *)b->bytes, b->len) == 0)) {
			fy_parser_destroy(p);
			continue;
		}
		while ((doc = fy_parse_load_document(p))) {
			check_document(b->name, ++index, fy_document_root(doc));
			fy_parse_document_destroy(p, doc);
		}
		t_check(index > 0 && !fy_parser_get_stream_error(p), __FILE__, __LINE__,
			"%s: YAML error after document %d", b->name, index);
		fy_parser_destroy(p);
		check_case(b->name);
	}
	for (size_t i = 0; i < n_refs; i++)
		t_check(seen(names, n_names, refs[i]), __FILE__, __LINE__,
			"a correlation names %s, which no bundled rule is", refs[i]);
	/* a chained-over correlation is silenced: a level would promise an alert */
	for (size_t i = 0; i < n_leveled; i++)
		t_check(!seen(refs, n_refs, leveled[i]), __FILE__, __LINE__,
			"%s has a level but another correlation chains over it", leveled[i]);
	for (size_t i = 0; i < n_unleveled; i++)
		t_check(seen(refs, n_refs, unleveled[i]), __FILE__, __LINE__,
			"%s has no level but no correlation chains over it", unleveled[i]);
	for (size_t i = 0; i < n_ids; i++)
		free(ids[i]);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	for (size_t i = 0; i < n_refs; i++)
		free(refs[i]);
	for (size_t i = 0; i < n_leveled; i++)
		free(leveled[i]);
	for (size_t i = 0; i < n_unleveled; i++)
		free(unleveled[i]);
}

int main(void)
{
	T_RUN(test_embedded_bytes);
	T_RUN(test_rule_metadata);
	return t_done();
}
