#include "soc/firstreport.h"
#include "core/compat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define LOG_MODULE "firstreport"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "detect/bundled.h"
#include "soc/level.h"
#include "soc/tmpl.h"
#include "store/meta.h"

/* The template set compiled into the binary (scripts/embed, see the Makefile). */
extern const struct bundled_file firstreport_bundled[];
extern const size_t firstreport_bundled_count;

#define BUNDLED_DIR "templates/firstreport"
#define TABLE_FILE "actions.txt"
#define TABLE_CONDS_MAX 4
#define TAGS_MAX 64
#define ARENA_MAX (8u << 20)   /* the fields of one draft */
#define REPORT_MAX (1u << 20)  /* one drafted report */
#define JST_OFFSET_NS (9 * 3600 * 1000000000LL) /* Japan keeps no summer time */

static const char *const langs[] = { "ja", "en" };
#define N_LANGS (sizeof(langs) / sizeof(langs[0]))

enum cond_kind { COND_ANY, COND_LEVEL_EQ, COND_LEVEL_GE, COND_LEVEL_LE, COND_TAG };

struct cond {
	enum cond_kind kind;
	int level;
	char *tag;       /* COND_TAG, without the '*' */
	bool prefix;     /* the tag ended in '*' */
};

/* One line of the table: TEXT goes into LIST of LANG's drafts when every condition holds. */
struct row {
	char *list;
	size_t lang;
	struct cond conds[TABLE_CONDS_MAX];
	size_t n_conds;
	char *text;
};

struct firstreport {
	struct tmpl *tmpl[N_LANGS];
	struct row *rows;
	size_t n_rows;
};

/* --- the table ---------------------------------------------------------------------- */

static char *trimmed_dup(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return mem_strndup(s, n);
}

static int parse_cond(const char *s, struct cond *c)
{
	static const struct { const char *op; enum cond_kind kind; } levels[] = {
		{ "level>=", COND_LEVEL_GE }, { "level<=", COND_LEVEL_LE }, { "level=", COND_LEVEL_EQ },
	};
	size_t n = strlen(s);

	if (!strcmp(s, "any")) {
		c->kind = COND_ANY;
		return 0;
	}
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		size_t w = strlen(levels[i].op);

		if (!strncmp(s, levels[i].op, w)) {
			if (n != w + 1 || s[w] < '0' || s[w] > '3')
				return -EINVAL;
			c->kind = levels[i].kind;
			c->level = s[w] - '0';
			return 0;
		}
	}
	if (strncmp(s, "tag=", 4) || n == 4)
		return -EINVAL;
	c->kind = COND_TAG;
	c->prefix = s[n - 1] == '*';
	c->tag = mem_strndup(s + 4, n - 4 - c->prefix);
	return c->tag ? 0 : -ENOMEM;
}

/* "WHEN": conditions joined by ','. */
static int parse_when(struct row *r, const char *when, const char *file, unsigned line, struct err *e)
{
	const char *p = when;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *one;
		int rc;

		if (r->n_conds == TABLE_CONDS_MAX)
			return err_set(e, -EINVAL, "%s:%u: more than %d conditions", file, line,
				       TABLE_CONDS_MAX);
		if (!(one = trimmed_dup(p, n)))
			return err_set(e, -ENOMEM, "%s:%u: out of memory", file, line);
		rc = parse_cond(one, &r->conds[r->n_conds]);
		if (rc == 0)
			r->n_conds++;
		else if (rc == -EINVAL)
			err_set(e, rc, "%s:%u: %s: expected any, level=N, level>=N, level<=N (N 0..3) "
				"or tag=TAG", file, line, one);
		else
			err_set(e, rc, "%s:%u: out of memory", file, line);
		mem_free(one);
		if (rc < 0)
			return rc;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static void row_release(struct row *r)
{
	for (size_t i = 0; i < r->n_conds; i++)
		mem_free(r->conds[i].tag);
	mem_free(r->list);
	mem_free(r->text);
}

/* One line "LIST | WHEN | LANG | TEXT" (4 columns: the text may hold '|' itself). */
static int parse_row(struct firstreport *fr, const char *p, size_t n, const char *file,
		     unsigned line, struct err *e)
{
	const char *cols[4];
	size_t lens[4], k = 0;
	char *when = NULL, *lang = NULL;
	struct row r = { 0 };
	struct row *rows;
	int rc;

	cols[0] = p;
	for (size_t i = 0; i < n && k < 3; i++)
		if (p[i] == '|') {
			lens[k] = (size_t)(p + i - cols[k]);
			cols[++k] = p + i + 1;
		}
	if (k < 3)
		return err_set(e, -EINVAL, "%s:%u: expected LIST | WHEN | LANG | TEXT", file, line);
	lens[3] = (size_t)(p + n - cols[3]);
	if (!(r.list = trimmed_dup(cols[0], lens[0])) || !(when = trimmed_dup(cols[1], lens[1])) ||
	    !(lang = trimmed_dup(cols[2], lens[2])) || !(r.text = trimmed_dup(cols[3], lens[3]))) {
		rc = err_set(e, -ENOMEM, "%s:%u: out of memory", file, line);
		goto fail;
	}
	for (r.lang = 0; r.lang < N_LANGS && strcmp(lang, langs[r.lang]); r.lang++)
		;
	if (r.lang == N_LANGS) {
		rc = err_set(e, -EINVAL, "%s:%u: language %s: expected ja or en", file, line, lang);
		goto fail;
	}
	if (!*r.list || !*r.text) {
		rc = err_set(e, -EINVAL, "%s:%u: empty LIST or TEXT", file, line);
		goto fail;
	}
	if ((rc = parse_when(&r, when, file, line, e)) < 0)
		goto fail;
	if (!(rows = mem_realloc(fr->rows, (fr->n_rows + 1) * sizeof(*rows)))) {
		rc = err_set(e, -ENOMEM, "%s:%u: out of memory", file, line);
		goto fail;
	}
	fr->rows = rows;
	fr->rows[fr->n_rows++] = r;
	mem_free(when);
	mem_free(lang);
	return 0;
fail:
	row_release(&r);
	mem_free(when);
	mem_free(lang);
	return rc;
}

/* The table: one row a line; blank lines and lines starting with '#' are skipped. */
static int parse_table(struct firstreport *fr, const char *file, const char *text, size_t len,
		       struct err *e)
{
	unsigned line = 0;

	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text - pos) : len - pos, b = 0;
		int rc;

		line++;
		while (b < n && (text[pos + b] == ' ' || text[pos + b] == '\t' || text[pos + b] == '\r'))
			b++;
		if (b < n && text[pos + b] != '#' &&
		    (rc = parse_row(fr, text + pos, n, file, line, e)) < 0)
			return rc;
		pos += n + 1;
	}
	return 0;
}

/* --- the fields of a draft ---------------------------------------------------------- */

struct draft {
	const struct firstreport *fr;
	size_t lang;
	struct arena *a;
	struct tmpl_fields *f;
	const char *tags[TAGS_MAX];
	size_t n_tags;
	struct err *e;
};

static int no_memory(struct draft *d)
{
	return err_set(d->e, -ENOMEM, "first report: out of memory");
}

/* A new item of list, with "first" ("yes" on the first item) and "number" (1, 2, ...). */
static struct tmpl_fields *add_item(struct tmpl_fields *f, const char *list)
{
	size_t n = tmpl_count(f, list);
	struct tmpl_fields *it = tmpl_add_item(f, list);
	char num[24];

	snprintf(num, sizeof(num), "%zu", n + 1);
	if (!it || tmpl_sets(it, "first", n ? "" : "yes") < 0 || tmpl_sets(it, "number", num) < 0)
		return NULL;
	return it;
}

static int set_int(struct tmpl_fields *f, const char *name, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", (long long)v);
	return tmpl_sets(f, name, num);
}

static void format_time(int64_t ns, char out[32])
{
	struct civil_time c;

	time_to_civil_utc(ns, &c);
	snprintf(out, 32, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.min,
		 c.sec);
}

/* NAME_utc and NAME_jst ("YYYY-MM-DD hh:mm:ss"); "" both when ns is 0 (not known). */
static int set_times(struct tmpl_fields *f, const char *name, int64_t ns)
{
	char key[64], utc[32] = "", jst[32] = "";
	int rc;

	if (ns) {
		format_time(ns, utc);
		format_time(ns + JST_OFFSET_NS, jst);
	}
	snprintf(key, sizeof(key), "%s_utc", name);
	if ((rc = tmpl_sets(f, key, utc)) < 0)
		return rc;
	snprintf(key, sizeof(key), "%s_jst", name);
	return tmpl_sets(f, key, jst);
}

static int json_error(struct draft *d, struct jsonin *j, const char *what)
{
	struct err je = ERR_INIT;
	int rc = jsonin_error(j, &je);

	if (rc == -ENOMEM)
		return no_memory(d);
	return err_set(d->e, rc ? rc : -EINVAL, "first report: %s: %s", what,
		       rc ? je.msg : "unexpected JSON");
}

/* Copies the string and number members of the object j is at into f (PREFIX + key). */
static int read_members(struct jsonin *j, struct tmpl_fields *f, const char *prefix)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		char key[96];

		if (k.len > 64) {
			rc = jsonin_skip_value(j);
		} else if ((rc = jsonin_value(j, &v)) < 0) {
			break;
		} else if (v.type == JSONIN_STRING || v.type == JSONIN_NUMBER) {
			snprintf(key, sizeof(key), "%s%.*s", prefix, (int)k.len, k.s);
			if (tmpl_set(f, key, v.s, v.len) < 0)
				return -ENOMEM;
		} else if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			rc = jsonin_skip(j);
		}
		if (rc < 0)
			break;
	}
	return rc;
}

/* "at" (RFC 3339) of an evidence object as at_utc / at_jst; unreadable: kept as written. */
static int set_evidence_time(struct tmpl_fields *it)
{
	const char *at = tmpl_get(it, "at");
	int64_t ns = 0;
	size_t bad;
	int rc;

	if (!at || !*at)
		return set_times(it, "at", 0);
	if (time_parse_rfc3339(at, strlen(at), &ns, &bad) == 0)
		return set_times(it, "at", ns);
	if ((rc = tmpl_sets(it, "at_utc", at)) < 0)
		return rc;
	return tmpl_sets(it, "at_jst", at);
}

/* The evidence array: one item per object; in Japanese "sentence" is sentence_ja when given. */
static int read_evidence(struct draft *d, const char *json)
{
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	if (tmpl_list(d->f, "evidence") < 0)
		return no_memory(d);
	jsonin_init(&j, json, strlen(json), d->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return json_error(d, &j, "evidence");
	while ((rc = jsonin_more(&j)) > 0) {
		struct tmpl_fields *it;
		const char *ja;

		if ((rc = jsonin_value(&j, &v)) < 0)
			break;
		if (v.type != JSONIN_OBJECT) {
			if (v.type == JSONIN_ARRAY && (rc = jsonin_skip(&j)) < 0)
				break;
			continue;
		}
		if (!(it = add_item(d->f, "evidence")) || tmpl_sets(it, "sentence", "") < 0 ||
		    tmpl_sets(it, "at", "") < 0)
			return no_memory(d);
		if ((rc = read_members(&j, it, "")) == -ENOMEM)
			return no_memory(d);
		if (rc < 0)
			break;
		ja = tmpl_get(it, "sentence_ja");
		if (!strcmp(langs[d->lang], "ja") && ja && *ja && tmpl_sets(it, "sentence", ja) < 0)
			return no_memory(d);
		if (set_evidence_time(it) < 0)
			return no_memory(d);
	}
	if (rc < 0 || jsonin_finish(&j, NULL) < 0)
		return json_error(d, &j, "evidence");
	return 0;
}

/* entities {"users": [..], "hosts": [..], "ips": [..]}: the lists users, hosts, ips of {name}. */
static int read_entities(struct draft *d, const char *json)
{
	static const char *const lists[] = { "users", "hosts", "ips" };
	struct jsonin j;
	struct jsonin_value k, v;
	int rc;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (tmpl_list(d->f, lists[i]) < 0)
			return no_memory(d);
	jsonin_init(&j, json, strlen(json), d->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return json_error(d, &j, "entities");
	while ((rc = jsonin_key(&j, &k)) > 0) {
		const char *list = NULL;

		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			if (jsonin_key_is(&k, lists[i]))
				list = lists[i];
		if ((rc = jsonin_value(&j, &v)) < 0)
			break;
		if (v.type == JSONIN_OBJECT || (v.type == JSONIN_ARRAY && !list)) {
			rc = jsonin_skip(&j);
		} else if (v.type == JSONIN_ARRAY) {
			while ((rc = jsonin_more(&j)) > 0) {
				struct tmpl_fields *it;

				if ((rc = jsonin_value(&j, &v)) < 0)
					break;
				if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
					rc = jsonin_skip(&j);
				else if (v.type == JSONIN_STRING &&
					 (!(it = add_item(d->f, list)) || tmpl_set(it, "name", v.s, v.len) < 0))
					return no_memory(d);
				if (rc < 0)
					break;
			}
		}
		if (rc < 0)
			break;
	}
	if (rc < 0 || jsonin_finish(&j, NULL) < 0)
		return json_error(d, &j, "entities");
	return 0;
}

/* terminal {"ip","port","host","user","via","sentence","at"}: terminal_ip, ... ("" when absent). */
static int read_terminal(struct draft *d, const char *json)
{
	static const char *const keys[] = { "terminal_ip", "terminal_port", "terminal_host",
					    "terminal_user", "terminal_via", "terminal_sentence",
					    "terminal_at" };
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (tmpl_sets(d->f, keys[i], "") < 0)
			return no_memory(d);
	jsonin_init(&j, json, strlen(json), d->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return json_error(d, &j, "terminal");
	if ((rc = read_members(&j, d->f, "terminal_")) == -ENOMEM)
		return no_memory(d);
	if (rc < 0 || jsonin_finish(&j, NULL) < 0)
		return json_error(d, &j, "terminal");
	return 0;
}

static bool has_tag(const struct draft *d, const char *tag, size_t n)
{
	for (size_t i = 0; i < d->n_tags; i++)
		if (strlen(d->tags[i]) == n && !memcmp(d->tags[i], tag, n))
			return true;
	return false;
}

/* The alert's rule tags (a JSON array of strings) added to d->tags and the list tags. */
static int read_tags(struct draft *d, const char *json)
{
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	jsonin_init(&j, json, strlen(json), d->a, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		return json_error(d, &j, "rule tags");
	while ((rc = jsonin_more(&j)) > 0) {
		struct tmpl_fields *it;
		char *tag;

		if ((rc = jsonin_value(&j, &v)) < 0)
			break;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
			rc = jsonin_skip(&j);
		if (rc < 0)
			break;
		if (v.type != JSONIN_STRING || has_tag(d, v.s, v.len) || d->n_tags == TAGS_MAX)
			continue;
		if (!(tag = arena_strndup(d->a, v.s, v.len)) || !(it = add_item(d->f, "tags")) ||
		    tmpl_sets(it, "name", tag) < 0)
			return no_memory(d);
		d->tags[d->n_tags++] = tag;
	}
	if (rc < 0 || jsonin_finish(&j, NULL) < 0)
		return json_error(d, &j, "rule tags");
	return 0;
}

/* rules: one item per distinct rule id, in the alerts' order, with its alert count. */
static int read_alerts(struct draft *d, const struct meta_alert *alerts, size_t n)
{
	int rc;

	if (tmpl_list(d->f, "rules") < 0 || tmpl_list(d->f, "tags") < 0)
		return no_memory(d);
	for (size_t i = 0; i < n; i++) {
		const struct meta_alert *al = &alerts[i];
		struct tmpl_fields *it;
		size_t count = 1;
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(alerts[k].rule_id, al->rule_id);
		if ((rc = read_tags(d, al->rule_tags ? al->rule_tags : "[]")) < 0)
			return rc;
		if (seen)
			continue;
		for (size_t k = i + 1; k < n; k++)
			count += !strcmp(alerts[k].rule_id, al->rule_id);
		if (!(it = add_item(d->f, "rules")) || tmpl_sets(it, "id", al->rule_id) < 0 ||
		    tmpl_sets(it, "title", al->rule_title) < 0 ||
		    tmpl_sets(it, "level", al->rule_level) < 0 || set_int(it, "count", (int64_t)count) < 0)
			return no_memory(d);
	}
	return 0;
}

static bool cond_holds(const struct draft *d, const struct cond *c, int level)
{
	switch (c->kind) {
	case COND_ANY:
		return true;
	case COND_LEVEL_EQ:  /* level conditions never hold while the level is undecided */
		return level >= 0 && level == c->level;
	case COND_LEVEL_GE:
		return level >= 0 && level >= c->level;
	case COND_LEVEL_LE:
		return level >= 0 && level <= c->level;
	case COND_TAG:
		for (size_t i = 0; i < d->n_tags; i++)
			if (c->prefix ? !strncmp(d->tags[i], c->tag, strlen(c->tag))
				      : !strcmp(d->tags[i], c->tag))
				return true;
		return false;
	}
	return false;
}

/* The table's lists of this language: every list the table names exists, maybe empty. */
static int apply_table(struct draft *d, int level)
{
	for (size_t i = 0; i < d->fr->n_rows; i++) {
		const struct row *r = &d->fr->rows[i];
		struct tmpl_fields *it;
		bool all = true;

		if (tmpl_list(d->f, r->list) < 0)
			return no_memory(d);
		if (r->lang != d->lang)
			continue;
		for (size_t k = 0; k < r->n_conds && all; k++)
			all = cond_holds(d, &r->conds[k], level);
		if (all && (!(it = add_item(d->f, r->list)) || tmpl_sets(it, "text", r->text) < 0))
			return no_memory(d);
	}
	return 0;
}

static int set_incident(struct draft *d, const struct meta_incident *inc)
{
	struct tmpl_fields *f = d->f;
	bool decided = inc->level >= 0;
	int rc;

	if (set_int(f, "id", inc->id) < 0 || tmpl_sets(f, "tenant", inc->tenant) < 0 ||
	    tmpl_sets(f, "title", inc->title) < 0 || tmpl_sets(f, "status", inc->status) < 0 ||
	    tmpl_sets(f, "owner", inc->owner) < 0 || tmpl_sets(f, "rule_id", inc->rule_id) < 0 ||
	    tmpl_sets(f, "level_decided", decided ? "yes" : "") < 0 ||
	    tmpl_sets(f, "level_name", level_name(inc->level)) < 0 ||
	    (decided ? set_int(f, "level", level_shown(inc->level)) : tmpl_sets(f, "level", "")) < 0 ||
	    set_int(f, "n_alerts", inc->n_alerts) < 0 || set_times(f, "first", inc->first_ns) < 0 ||
	    set_times(f, "last", inc->last_ns) < 0 || set_times(f, "detected", inc->detected_ns) < 0)
		return no_memory(d);
	if ((rc = read_entities(d, inc->entities)) < 0 || (rc = read_evidence(d, inc->evidence)) < 0 ||
	    (rc = read_terminal(d, inc->terminal)) < 0)
		return rc;
	return 0;
}

static int lang_index(const char *lang, size_t *out, struct err *e)
{
	for (size_t i = 0; i < N_LANGS; i++)
		if (lang && !strcmp(lang, langs[i])) {
			*out = i;
			return 0;
		}
	return err_set(e, -EINVAL, "language %s: expected ja or en", lang ? lang : "(none)");
}

static int draft_lang(const struct firstreport *fr, const struct meta_incident *inc,
		      const struct meta_alert *alerts, size_t n_alerts, size_t lang, struct buf *out,
		      struct err *e)
{
	struct arena a;
	struct draft d = { .fr = fr, .lang = lang, .a = &a, .e = e };
	int rc;

	arena_init(&a, 16384, ARENA_MAX);
	if (!(d.f = tmpl_fields_new(&a))) {
		rc = no_memory(&d);
		goto fail;
	}
	if ((rc = set_incident(&d, inc)) < 0 || (rc = read_alerts(&d, alerts, n_alerts)) < 0 ||
	    (rc = apply_table(&d, inc->level)) < 0)
		goto fail;
	rc = tmpl_render(fr->tmpl[lang], d.f, out, e);
fail:
	arena_release(&a);
	return rc;
}

int firstreport_draft(const struct firstreport *fr, const struct meta_incident *inc,
		      const struct meta_alert *alerts, size_t n_alerts, const char *lang, struct buf *out,
		      struct err *e)
{
	size_t i = 0;
	int rc;

	if ((rc = lang_index(lang, &i, e)) < 0)
		return rc;
	return draft_lang(fr, inc, alerts, n_alerts, i, out, e);
}

int firstreport_refresh(const struct firstreport *fr, struct meta *m, const struct meta_incident *inc,
			const struct meta_alert *alerts, size_t n_alerts, int64_t now_ns, struct err *e)
{
	struct buf text = BUF_INIT(REPORT_MAX);
	int rc = 0;

	for (size_t i = 0; i < N_LANGS && rc >= 0; i++) {
		bool stored = false;

		buf_reset(&text);
		if ((rc = draft_lang(fr, inc, alerts, n_alerts, i, &text, e)) < 0 ||
		    (rc = meta_report_draft(m, inc->tenant, inc->id, langs[i], text.p, now_ns,
					    &stored, e)) < 0)
			break;
		if (stored)
			log_debug("incident %lld of %s: %s first report drafted", (long long)inc->id,
				  inc->tenant, langs[i]);
	}
	buf_release(&text);
	return rc;
}

int firstreport_approve(struct meta *m, const char *tenant, int64_t incident, const char *lang,
			const char *by, int64_t now_ns, struct err *e)
{
	char detail[64];
	struct meta_incident_entry en = {
		.incident = incident, .at_ns = now_ns, .actor = by, .action = "report",
		.detail = detail, .why = "",
	};
	int rc;

	snprintf(detail, sizeof(detail), "{\"lang\": \"%s\", \"status\": \"approved\"}", lang);
	/* one transaction: never an approved report without its clock or timeline entry */
	if ((rc = meta_begin(m, e)) < 0)
		return rc;
	if ((rc = meta_report_approve(m, tenant, incident, lang, by, now_ns, e)) < 0 ||
	    /* the first approval (either language) stops the first-report clock */
	    (rc = meta_incident_clock(m, tenant, incident, META_CLOCK_REPORTED, now_ns, by, NULL,
				      e)) < 0 ||
	    (rc = meta_incident_log(m, tenant, &en, e)) < 0 || (rc = meta_commit(m, e)) < 0) {
		meta_rollback(m);
		return rc;
	}
	return 0;
}

/* --- stored incidents ---------------------------------------------------------------- */

#define STORED_ALERTS_MAX 10000
#define STORED_ARENA_MAX (64u << 20)

/* The incident and its alerts (without their events) copied out of koban.db's rows. */
struct stored {
	struct arena *a;
	struct meta_incident inc;
	bool found;
	struct meta_alert *alerts;
	size_t n_alerts, cap_alerts;
	bool no_memory;
	size_t skipped;
};

static const char *keep(struct stored *s, const char *text)
{
	char *p = text ? arena_strndup(s->a, text, strlen(text)) : NULL;

	if (text && !p)
		s->no_memory = true;
	return p;
}

static void stored_incident(void *ctx, const struct meta_incident *inc)
{
	struct stored *s = ctx;

	s->inc = *inc;
	s->inc.tenant = keep(s, inc->tenant);
	s->inc.title = keep(s, inc->title);
	s->inc.rule_id = keep(s, inc->rule_id);
	s->inc.group_key = keep(s, inc->group_key);
	s->inc.status = keep(s, inc->status);
	s->inc.owner = keep(s, inc->owner);
	s->inc.evidence = keep(s, inc->evidence);
	s->inc.entities = keep(s, inc->entities);
	s->inc.terminal = keep(s, inc->terminal);
	s->found = true;
}

static void stored_alert(void *ctx, const struct meta_alert *al)
{
	struct stored *s = ctx;
	struct meta_alert *copy;

	if (s->n_alerts == STORED_ALERTS_MAX) {
		s->skipped++;
		return;
	}
	if (s->n_alerts == s->cap_alerts) {
		size_t cap = s->cap_alerts ? s->cap_alerts * 2 : 16;
		struct meta_alert *alerts = arena_alloc(s->a, cap * sizeof(*alerts));

		if (!alerts) {
			s->no_memory = true;
			return;
		}
		if (s->n_alerts)
			memcpy(alerts, s->alerts, s->n_alerts * sizeof(*alerts));
		s->alerts = alerts;
		s->cap_alerts = cap;
	}
	copy = &s->alerts[s->n_alerts++];
	*copy = *al;
	copy->events = NULL; /* the report names rules, not events */
	copy->tenant = keep(s, al->tenant);
	copy->kind = keep(s, al->kind);
	copy->rule_id = keep(s, al->rule_id);
	copy->rule_title = keep(s, al->rule_title);
	copy->rule_level = keep(s, al->rule_level);
	copy->rule_tags = keep(s, al->rule_tags);
	copy->rule_author = copy->rule_status = copy->rule_link = copy->rule_references = "";
	copy->group_fields = copy->key_fields = "{}";
}

int firstreport_refresh_stored(const struct firstreport *fr, struct meta *m, const char *tenant,
			       int64_t incident, int64_t now_ns, struct err *e)
{
	struct arena a;
	struct stored s = { .a = &a };
	int rc;

	arena_init(&a, 65536, STORED_ARENA_MAX);
	if ((rc = meta_incident_get(m, tenant, incident, stored_incident, &s, e)) < 0 ||
	    (rc = meta_incident_alerts(m, tenant, incident, stored_alert, &s, e)) < 0)
		goto out;
	if (s.no_memory || !s.found) {
		rc = err_set(e, -ENOMEM, "incident %lld: out of memory reading it", (long long)incident);
		goto out;
	}
	if (s.skipped)
		log_warn("incident %lld of %s: the first report names the rules of its first %d alerts "
			 "(%zu more left out)", (long long)incident, tenant, STORED_ALERTS_MAX, s.skipped);
	rc = firstreport_refresh(fr, m, &s.inc, s.alerts, s.n_alerts, now_ns, e);
out:
	arena_release(&a);
	return rc;
}

static int add_json_time(struct buf *out, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];
	int rc = buf_addf(out, ", \"%s\": ", key);

	if (rc < 0)
		return rc;
	if (!ns)
		return buf_adds(out, "null");
	time_format_rfc3339(ns, t);
	return buf_addf(out, "\"%s\"", t);
}

static int add_json_text(struct buf *out, const char *key, const char *value)
{
	int rc = buf_addf(out, ", \"%s\": ", key);

	return rc < 0 ? rc : json_add_string(out, value, strlen(value));
}

int firstreport_write_json(const struct meta_report *r, struct buf *out)
{
	int rc;

	if ((rc = buf_addf(out, "{\"incident\": %lld", (long long)r->incident)) < 0 ||
	    (rc = add_json_text(out, "lang", r->lang)) < 0 ||
	    (rc = add_json_text(out, "status", r->status)) < 0 ||
	    (rc = buf_addf(out, ", \"edited\": %s", r->edited ? "true" : "false")) < 0 ||
	    (rc = add_json_text(out, "edited_by", r->edited_by)) < 0 ||
	    (rc = add_json_text(out, "approved_by", r->approved_by)) < 0 ||
	    (rc = add_json_time(out, "updated", r->updated_ns)) < 0 ||
	    (rc = add_json_time(out, "approved", r->approved_ns)) < 0 ||
	    (rc = add_json_text(out, "text", r->text)) < 0)
		return rc;
	return buf_addch(out, '}');
}

/* --- loading ------------------------------------------------------------------------ */

/* A made-up incident with every part filled: each template must render it at load time. */
static int check_templates(const struct firstreport *fr, struct err *e)
{
	static const struct meta_incident inc = {
		.id = 1, .tenant = "t", .title = "t", .rule_id = "r", .group_key = "r", .level = 2,
		.status = "new", .owner = "", .n_alerts = 1,
		.evidence = "[{\"rule\": \"r\", \"effect\": \"min\", \"level\": 2, \"sentence\": \"s\", "
			    "\"at\": \"2026-01-01T00:00:00Z\"}]",
		.entities = "{\"users\": [\"u\"], \"hosts\": [\"h\"], \"ips\": [\"192.0.2.1\"]}",
		.terminal = "{\"ip\": \"10.0.0.1\", \"port\": 1, \"host\": \"h\", \"user\": \"u\", "
			    "\"via\": \"direct\", \"sentence\": \"s\", \"at\": \"2026-01-01T00:00:00Z\"}",
		.first_ns = 1, .last_ns = 1, .detected_ns = 1,
	};
	static const struct meta_alert al = {
		.tenant = "t", .kind = "sigma", .rule_id = "r", .rule_title = "t", .rule_level = "high",
		.rule_tags = "[\"attack.t1190\"]",
	};
	struct buf out = BUF_INIT(REPORT_MAX);
	int rc = 0;

	for (size_t i = 0; i < N_LANGS && rc >= 0; i++) {
		buf_reset(&out);
		rc = draft_lang(fr, &inc, &al, 1, i, &out, e);
	}
	buf_release(&out);
	return rc;
}

/* The file NAME of the set: from dir, else the bundled copy. *text is mem_alloc'ed. */
static int read_set_file(const char *dir, const char *name, char **text, size_t *len, char *path,
			 size_t path_size, struct err *e)
{
	snprintf(path, path_size, "%s/%s", dir ? dir : BUNDLED_DIR, name);
	if (dir)
		return config_read_file(path, "first report template", TMPL_TEXT_MAX, text, len, e);
	for (size_t i = 0; i < firstreport_bundled_count; i++)
		if (!strcmp(firstreport_bundled[i].name, path)) {
			*len = firstreport_bundled[i].len;
			*text = mem_strndup((const char *)firstreport_bundled[i].bytes, *len);
			return *text ? 0 : err_set(e, -ENOMEM, "%s: out of memory", path);
		}
	return err_set(e, -ENOENT, "%s: not built into this koban", path);
}

int firstreport_new(struct firstreport **out, const char *templates_dir, struct err *e)
{
	struct firstreport *fr = mem_calloc(1, sizeof(*fr));
	char path[4096], *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if (!fr)
		return err_set(e, -ENOMEM, "first report: out of memory");
	for (size_t i = 0; i < N_LANGS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%s.txt", langs[i]);
		if ((rc = read_set_file(templates_dir, name, &text, &len, path, sizeof(path), e)) < 0 ||
		    (rc = tmpl_parse(&fr->tmpl[i], path, text, len, e)) < 0)
			goto fail;
		mem_free(text);
		text = NULL;
	}
	if ((rc = read_set_file(templates_dir, TABLE_FILE, &text, &len, path, sizeof(path), e)) < 0 ||
	    (rc = parse_table(fr, path, text, len, e)) < 0 || (rc = check_templates(fr, e)) < 0)
		goto fail;
	mem_free(text);
	*out = fr;
	return 0;
fail:
	mem_free(text);
	firstreport_free(fr);
	return rc;
}

void firstreport_free(struct firstreport *fr)
{
	if (!fr)
		return;
	for (size_t i = 0; i < N_LANGS; i++)
		tmpl_free(fr->tmpl[i]);
	for (size_t i = 0; i < fr->n_rows; i++)
		row_release(&fr->rows[i]);
	mem_free(fr->rows);
	mem_free(fr);
}
