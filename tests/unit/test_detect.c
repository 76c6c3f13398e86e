/*
 * test_detect.c - the detection stage (detect/detect): the multi-pattern prefilter never
 * changes what matches, logsource groups, generate: false, correlations inline and on the
 * detection thread, late events, allocation failures, a reload while workers run, the
 * detection thread's queue bound, and the correlation state kept across two instances.
 *
 * Expected results come from the pinned semantics (docs/detection.md, the detection brief):
 * the reference for "what matches" is every applying rule evaluated with sigma_rule_match.
 */
#include "detect/detect.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "detect/correl.h"
#include "detect/sigma.h"
#include "parse/ecs.h"
#include "pipeline/pipeline.h"
#include "t.h"
#include "t_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#else
#define SLOW_BUILD 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#else
#define TSAN_BUILD 0
#endif

#define QUEUE_MAX 65536 /* detect.c's bound on records waiting for the correlation engine */

/* ---- helpers ---- */

/* Results as text, "ID@REF" for a match, "ID{f=v,...}[r,...]" for a correlation. */
struct got {
	pthread_mutex_t lock;
	char **v;
	size_t n, cap;
};

static void got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
}

static void got_add(struct got *g, const char *s)
{
	pthread_mutex_lock(&g->lock);
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->v = realloc(g->v, g->cap * sizeof(*g->v));
	}
	g->v[g->n++] = strdup(s);
	pthread_mutex_unlock(&g->lock);
}

static void got_clear(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i]);
	g->n = 0;
}

static void got_release(struct got *g)
{
	got_clear(g);
	free(g->v);
	pthread_mutex_destroy(&g->lock);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The results, sorted, joined by spaces (order-insensitive comparisons). */
static const char *got_text(struct got *g, char *out, size_t size)
{
	size_t len = 0;

	if (g->n)
		qsort(g->v, g->n, sizeof(*g->v), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < g->n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", g->v[i]);
	return out;
}

static void format_result(const struct detect_result *r, char *s, size_t size)
{
	size_t len;

	if (!r->correlation) {
		snprintf(s, size, "%s@%llu", r->rule_id, (unsigned long long)r->ref);
		return;
	}
	len = (size_t)snprintf(s, size, "%s{", r->rule_id);
	for (size_t i = 0; i < r->ngroup && len < size; i++)
		len += (size_t)snprintf(s + len, size - len, "%s%s=%.*s", i ? "," : "",
					r->group_fields[i], (int)r->group_lens[i],
					r->group_values[i]);
	for (size_t i = 0; i < r->nrefs && len < size; i++)
		len += (size_t)snprintf(s + len, size - len, "%s%llu", i ? "," : "}[",
					(unsigned long long)r->refs[i]);
	if (len < size)
		snprintf(s + len, size - len, "%s", r->nrefs ? "]" : "}[]");
}

static void on_result(void *ctx, const struct detect_result *r)
{
	char s[512];

	format_result(r, s, sizeof(s));
	got_add(ctx, s);
}

static char last_report[512];

static void quiet_report(void *ctx, const char *file, unsigned line, const char *id,
			 const char *reason)
{
	snprintf(last_report, sizeof(last_report), "%u: %s: %s", line, id, reason);
}

static const char *write_file(const char *name, const char *text)
{
	static char path[4][1024];
	static int next;
	char *p = path[next++ % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/%s", t_tmp_dir(), name);
	f = fopen(p, "w");
	if (!CHECK(f))
		return p;
	fputs(text, f);
	fclose(f);
	return p;
}

/* A configuration from YAML text (defaults first), with its data directory under the test's. */
static void config_from(struct config *c, const char *yaml)
{
	struct err e = ERR_INIT;
	char text[4096];

	snprintf(text, sizeof(text), "data_dir: %s\n%s", t_tmp_dir(), yaml);
	if (!CHECK(config_load_mem(c, text, strlen(text), "test.yaml", &e) == 0)) {
		printf("# %s\n", e.msg);
		config_defaults(c, &e);
	}
}

/* One decoded event with its own arena. */
struct tev {
	struct arena a;
	struct event ev;
};

static int tev_decode(struct tev *t, const char *json, size_t len)
{
	struct err e = ERR_INIT;

	arena_init(&t->a, 4096, 1 << 20);
	event_init(&t->ev, &t->a);
	return ecs_decode_flags(&t->ev, json, len, ECS_FLATTEN_ARRAYS, &e);
}

static void tev_release(struct tev *t)
{
	arena_release(&t->a);
}

/* Runs one JSON event through d (origin o) as reference ref. */
static void run_json(struct detect *d, unsigned worker, const struct pipeline_origin *o,
		     const char *json, uint64_t ref)
{
	struct tev t;

	if (CHECK(tev_decode(&t, json, strlen(json)) == 0))
		detect_event(d, worker, o, &t.ev, ref);
	tev_release(&t);
}

static struct detect *new_detect(const struct config *c, const char *rules, struct got *g,
				 enum detect_mode mode, unsigned workers, bool as_given)
{
	const char *paths[1] = { rules };
	struct detect_config dc = {
		.cfg = c, .workers = workers, .mode = mode, .paths = paths, .n_paths = 1,
		.only_paths = true, .fields_as_given = as_given, .on_result = g ? on_result : NULL,
		.result_ctx = g, .report = quiet_report, .metrics = true,
	};
	struct detect *d = NULL;
	struct err e = ERR_INIT;

	if (!CHECK(detect_new(&d, &dc, &e) == 0))
		printf("# %s\n", e.msg);
	return d;
}

/* ---- the prefilter never changes results ---- */

/*
 * The reference: every rule of the set evaluated on the event, except the base rules that
 * correlations silence (named by at least one correlation, none of which says generate: true).
 */
struct reference {
	struct sigma_set *set;
	struct sigma_scratch *sc;
	bool *silenced;
};

static int reference_load(struct reference *ref, const struct config *c, const char *rules)
{
	struct sigma_placeholder ph[64];
	struct detect_correlations corr = { NULL, 0, 0 };
	struct sigma_options opt = { .report = quiet_report,
				     .disable = (const char *const *)c->detect_disable,
				     .n_disable = c->n_detect_disable,
				     .correlation = detect_collect_correlation,
				     .correlation_ctx = &corr };
	struct correl_rule **cr;
	bool *generate;
	struct err e = ERR_INIT;
	size_t n, size;

	memset(ref, 0, sizeof(*ref));
	for (size_t i = 0; i < c->n_detect_placeholders && i < 64; i++)
		ph[i] = (struct sigma_placeholder){ c->detect_placeholders[i].name,
						    (const char *const *)c->detect_placeholders[i].values,
						    c->detect_placeholders[i].n_values };
	opt.placeholders = ph;
	opt.n_placeholders = c->n_detect_placeholders < 64 ? c->n_detect_placeholders : 64;
	if (sigma_set_new(&ref->set, &opt) < 0 || sigma_set_load_path(ref->set, rules, &e) < 0 ||
	    sigma_set_finish(ref->set, &e) < 0 || sigma_scratch_new(&ref->sc, ref->set) < 0)
		return -1;
	size = sigma_set_size(ref->set);
	ref->silenced = calloc(size + 1, sizeof(bool));
	generate = calloc(size + 1, sizeof(bool));
	cr = corr.v;
	n = corr.n;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < cr[i]->nrules; k++) {
			const struct sigma_rule *r = sigma_set_find(ref->set, cr[i]->rules[k]);

			for (size_t j = 0; r && j < size; j++)
				if (sigma_set_rule(ref->set, j) == r) {
					ref->silenced[j] = true;
					generate[j] |= cr[i]->generate;
				}
		}
	}
	for (size_t j = 0; j < size; j++)
		ref->silenced[j] &= !generate[j];
	free(generate);
	detect_correlations_release(&corr);
	return 0;
}

static void reference_release(struct reference *ref)
{
	sigma_scratch_free(ref->sc);
	sigma_set_free(ref->set);
	free(ref->silenced);
}

/* What every rule (logsource ls; NULL: all) says of ev, as "ID@REF" results. */
static size_t reference_run(struct reference *ref, const struct sigma_logsource *ls,
			    const struct event *ev, uint64_t n, struct got *want)
{
	size_t hits = 0;
	char s[512];

	for (size_t i = 0; i < sigma_set_size(ref->set); i++) {
		const struct sigma_rule *r = sigma_set_rule(ref->set, i);

		if (!sigma_rule_applies(r, ls) || !sigma_rule_match(r, ev, ref->sc))
			continue;
		hits++;
		if (ref->silenced[i])
			continue;
		snprintf(s, sizeof(s), "%s@%llu", sigma_rule_id(r), (unsigned long long)n);
		got_add(want, s);
	}
	return hits;
}

/* Keeps the detection matches of g (drops correlation results). */
static void only_matches(struct got *g)
{
	size_t k = 0;

	for (size_t i = 0; i < g->n; i++) {
		if (strchr(g->v[i], '{'))
			free(g->v[i]);
		else
			g->v[k++] = g->v[i];
	}
	g->n = k;
}

static bool same_results(struct got *a, struct got *b, const char *what)
{
	static char ta[1 << 16], tb[1 << 16];

	only_matches(a);
	only_matches(b);
	got_text(a, ta, sizeof(ta));
	got_text(b, tb, sizeof(tb));
	return t_check(!strcmp(ta, tb), __FILE__, __LINE__,
		       "%s: detect gave [%.300s], every rule gives [%.300s]", what, ta, tb);
}

/* A caseless literal as an event would spell it: upper case ASCII every other letter. */
static void spell(const struct sigma_literal *l, unsigned variant, char *out, size_t size)
{
	size_t n = l->len < size - 3 ? l->len : size - 3, k = 0;

	if (variant & 1)
		out[k++] = 'x';
	for (size_t i = 0; i < n; i++) {
		char ch = l->s[i];

		if (!l->cased && (variant & 2) && (i % 2) == 0 && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		out[k++] = ch;
	}
	if (variant & 1)
		out[k++] = 'y';
	out[k] = '\0';
}

/*
 * Builds an event from rule r's prefilter literals (each in its field, keywords in
 * message), spelled by variant: the events most likely to make the prefilter and the full
 * evaluation disagree. 0 when the rule has no literal to build from.
 */
static int literal_event(struct event *ev, const struct sigma_rule *r, unsigned variant)
{
	const struct sigma_literal *l;
	size_t n = sigma_rule_literals(r, &l);
	int added = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned f = l[i].field == SIGMA_ANY_FIELD ? FIELD_MESSAGE : (unsigned)l[i].field;
		char s[512];

		if (field_type(f) != FT_STR)
			continue;
		spell(&l[i], variant, s, sizeof(s));
		if (event_add_str(ev, f, arena_strndup(ev->arena, s, strlen(s)), strlen(s)) == 0)
			added++;
	}
	return added;
}

struct compare {
	struct detect *d;
	struct reference ref;
	struct got got, want;
	size_t events, hits;
	uint64_t n;
};

/* Every rule's literal events through detect and the reference; false on a difference. */
static bool compare_literal_events(struct compare *x, size_t stride, const char *what)
{
	struct arena a;
	struct event ev;
	bool ok = true;

	arena_init(&a, 4096, 1 << 20);
	for (size_t i = 0; i < sigma_set_size(x->ref.set) && ok; i += stride) {
		for (unsigned variant = 0; variant < 4 && ok; variant++) {
			arena_clear(&a);
			event_init(&ev, &a);
			if (!literal_event(&ev, sigma_set_rule(x->ref.set, i), variant))
				continue;
			x->n++;
			x->events++;
			got_clear(&x->got);
			got_clear(&x->want);
			detect_event(x->d, 0, NULL, &ev, x->n);
			x->hits += reference_run(&x->ref, NULL, &ev, x->n, &x->want);
			ok = same_results(&x->got, &x->want, what);
		}
	}
	arena_release(&a);
	return ok;
}

static char *path_join(char *out, size_t size, const char *a, const char *b)
{
	if (snprintf(out, size, "%s/%s", a, b) >= (int)size)
		out[0] = '\0'; /* too long: no such file */
	return out;
}

/* The length of the line at p without its end of line; *next is the following line. */
static size_t line_len(const char *p, char **next)
{
	const char *end = strchr(p, '\n');
	size_t len;

	end = end ? end : p + strlen(p);
	*next = (char *)(*end ? end + 1 : end);
	len = (size_t)(end - p);
	while (len && (p[len - 1] == '\r' || p[len - 1] == ' '))
		len--;
	return len;
}

/* One conformance case: its events, then events made of its rules' literals. */
static void prefilter_case(const char *dir, size_t *events, size_t *hits)
{
	char rules[1024], evpath[1024], cfgpath[1024], what[512];
	struct config c;
	struct compare x = { 0 };
	struct err e = ERR_INIT;
	char *text, *line, *next;
	size_t len;
	FILE *f;

	path_join(rules, sizeof(rules), dir, "rules.yml");
	path_join(evpath, sizeof(evpath), dir, "events.jsonl");
	path_join(cfgpath, sizeof(cfgpath), dir, "config.yml");
	f = fopen(cfgpath, "r");
	if (f)
		fclose(f);
	if (!CHECK(config_load(&c, f ? cfgpath : NULL, &e) == 0))
		return;
	text = t_read_file(evpath, &len);
	got_init(&x.got);
	got_init(&x.want);
	/* the events' field names first, as `rule test` does: rules resolve against them */
	for (line = text; line && *line; line = next) {
		struct tev t;

		(void)tev_decode(&t, line, line_len(line, &next));
		tev_release(&t);
	}
	if (!(x.d = new_detect(&c, rules, &x.got, DETECT_INLINE, 1, true)) ||
	    !CHECK(reference_load(&x.ref, &c, rules) == 0))
		goto done;
	for (line = text; line && *line; line = next) {
		struct tev t;

		len = line_len(line, &next);
		x.n++;
		if (len && tev_decode(&t, line, len) == 0) {
			detect_event(x.d, 0, NULL, &t.ev, x.n);
			*hits += reference_run(&x.ref, NULL, &t.ev, x.n, &x.want);
			++*events;
		}
		tev_release(&t);
	}
	snprintf(what, sizeof(what), "%s", dir);
	if (same_results(&x.got, &x.want, what)) {
		snprintf(what, sizeof(what), "%s (literal events)", dir);
		compare_literal_events(&x, 1, what);
	}
	*events += x.events;
	*hits += x.hits;
	reference_release(&x.ref);
done:
	detect_free(x.d);
	got_release(&x.got);
	got_release(&x.want);
	free(text);
	config_release(&c);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_prefilter_conformance_cases(void)
{
	const char *base = "tests/sigma/cases";
	DIR *dir = opendir(base);
	struct dirent *de;
	char *names[1024];
	size_t n = 0, events = 0, hits = 0;

	if (!CHECK(dir))
		return;
	while ((de = readdir(dir)) && n < 1024)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		char path[1024];

		prefilter_case(path_join(path, sizeof(path), base, names[i]), &events, &hits);
		free(names[i]);
	}
	printf("# %zu cases, %zu events, %zu rule matches compared\n", n, events, hits);
	CHECK(n >= 100);
	CHECK(hits > 100); /* not vacuous: many events match */
}

/*
 * Where a prefilter and the full evaluation could part: typed values (ports, addresses,
 * times, booleans) against their text, case beyond ASCII, keywords with and without
 * event.original, windash and base64 variants, fields absent, null, arrays of objects.
 */
static const char edge_rules[] =
	"title: port\nid: port\ndetection:\n  sel: {source.port: 80}\n  condition: sel\n---\n"
	"title: port0\nid: port0\ndetection:\n  sel: {source.port: '080'}\n"
	"  condition: sel\n---\n"
	"title: ip6\nid: ip6\ndetection:\n  sel: {source.ip: '2001:DB8::1'}\n"
	"  condition: sel\n---\n"
	"title: ip6long\nid: ip6long\ndetection:\n  sel: {source.ip: '2001:db8:0::1'}\n"
	"  condition: sel\n---\n"
	"title: ts\nid: ts\ndetection:\n  sel: {'@timestamp|startswith': '2026-01-01T00'}\n"
	"  condition: sel\n---\n"
	"title: flag\nid: flag\ndetection:\n  sel: {flag: 'TRUE'}\n  condition: sel\n---\n"
	"title: n\nid: n\ndetection:\n  sel: {n: 5}\n  condition: sel\n---\n"
	"title: ecole\nid: ecole\ndetection:\n  sel: {x|contains: \"\u00c9COLE\"}\n"
	"  condition: sel\n---\n"
	"title: kw\nid: kw\ndetection:\n  kw: [mimikatz, \"\u00e9cole\"]\n  condition: kw\n---\n"
	"title: kwall\nid: kwall\ndetection:\n  kw:\n    '|all': [alpha, beta]\n"
	"  condition: kw\n---\n"
	"title: dash\nid: dash\ndetection:\n  sel: {x|windash|contains: ' -enc '}\n"
	"  condition: sel\n---\n"
	"title: b64\nid: b64\ndetection:\n  sel: {x|base64offset|contains: 'secret'}\n"
	"  condition: sel\n---\n"
	"title: notx\nid: notx\ndetection:\n  sel: {x|contains: evil}\n  condition: not sel\n---\n"
	"title: nul\nid: nul\ndetection:\n  sel: {x: null, y|contains: z}\n  condition: sel\n---\n"
	"title: arr\nid: arr\ndetection:\n  sel: {t.name|endswith: admin}\n  condition: sel\n---\n"
	"title: re\nid: re\ndetection:\n  sel: {x|re: 'Ev[i1]l'}\n  condition: sel\n---\n"
	"title: cased\nid: cased\ndetection:\n  sel: {x|cased|contains: Evil}\n  condition: sel\n";

static const char edge_events[] =
	"{\"source\": {\"port\": 80, \"ip\": \"2001:db8::1\"}}\n"
	"{\"source\": {\"port\": 8080, \"ip\": \"10.0.0.1\"}}\n"
	"{\"@timestamp\": \"2026-01-01T00:30:00.5Z\", \"flag\": true, \"n\": 5}\n"
	"{\"flag\": \"true\", \"n\": \"5\"}\n"
	"{\"x\": \"une \u00e9cole\"}\n"
	"{\"x\": \"une \u00c9COLE\"}\n"
	"{\"message\": \"run MimiKatz\", \"event\": {\"original\": \"nothing\"}}\n"
	"{\"message\": \"run MimiKatz\"}\n"
	"{\"event\": {\"original\": \"beta then ALPHA\"}}\n"
	"{\"message\": \"alpha\", \"x\": \"beta\"}\n"
	"{\"x\": \"cmd /enc abc\"}\n"
	"{\"x\": \"cmd \u2013enc abc\"}\n"
	"{\"x\": \"c2VjcmV0\"}\n"
	"{\"x\": \"xc2VjcmV0\"}\n"
	"{\"x\": \"EVIL\", \"y\": \"zz\"}\n"
	"{\"y\": \"zz\"}\n"
	"{\"x\": null, \"y\": \"zz\"}\n"
	"{\"t\": [{\"name\": \"user\"}, {\"name\": \"global admin\"}]}\n"
	"{\"x\": \"an Ev1l thing\"}\n"
	"{\"x\": \"an evil thing\"}\n";

static void test_prefilter_edge_cases(void)
{
	char dir[1024];
	size_t events = 0, hits = 0;

	path_join(dir, sizeof(dir), t_tmp_dir(), "edge");
	if (!CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST))
		return;
	write_file("edge/rules.yml", edge_rules);
	write_file("edge/events.jsonl", edge_events);
	prefilter_case(dir, &events, &hits);
	printf("# %zu events, %zu rule matches compared\n", events, hits);
	CHECK(hits >= 15);
}

/* The SigmaHQ corpus: one literal event per rule (a stride of them under sanitizers). */
static void test_prefilter_sigmahq_literal_events(void)
{
	const char *shared = t_shared_dir();
	char rules[1024], what[64];
	struct config c;
	struct compare x = { 0 };
	struct err e = ERR_INIT;

	if (!shared) {
		t_skip("../shared/data is absent: no SigmaHQ rules");
		return;
	}
	if (TSAN_BUILD) {
		t_skip("no threads here: left to the other builds");
		return;
	}
	path_join(rules, sizeof(rules), shared, "sigma");
	if (!CHECK(config_load(&c, "tests/sigma/corpus-placeholders.yml", &e) == 0))
		return;
	got_init(&x.got);
	got_init(&x.want);
	if ((x.d = new_detect(&c, rules, &x.got, DETECT_INLINE, 1, true)) &&
	    CHECK(reference_load(&x.ref, &c, rules) == 0)) {
		snprintf(what, sizeof(what), "SigmaHQ literal events");
		compare_literal_events(&x, SLOW_BUILD ? 16 : 2, what);
		printf("# %zu rules, %zu events, %zu rule matches compared\n",
		       sigma_set_size(x.ref.set), x.events, x.hits);
		CHECK(x.hits > 100);
		reference_release(&x.ref);
	}
	detect_free(x.d);
	got_release(&x.got);
	got_release(&x.want);
	config_release(&c);
}

/* ---- logsource groups ---- */

#define LS_RULE(id, ls) \
	"title: " id "\nid: " id "\n" ls "detection:\n  sel: {event.action: probe}\n" \
	"  condition: sel\n---\n"

static const char ls_rules[] =
	LS_RULE("fw", "logsource: {category: firewall}\n")
	LS_RULE("proxy", "logsource: {category: proxy}\n")
	LS_RULE("panos", "logsource: {product: panos}\n")
	LS_RULE("fw-m365", "logsource: {category: firewall, product: m365}\n")
	LS_RULE("none", "");

/* What the rules say of one event of dataset ds from source (NULL origin when !with_origin). */
static const char *ls_run(struct detect *d, struct got *g, bool with_origin,
			  const char *source, const char *ds, char *out, size_t size)
{
	struct pipeline_origin o = { 0, source, NULL, 0 };
	char json[256];

	snprintf(json, sizeof(json), "{\"event\": {\"dataset\": \"%s\", \"action\": \"probe\"}}",
		 ds);
	got_clear(g);
	run_json(d, 0, with_origin ? &o : NULL, json, 1);
	return got_text(g, out, size);
}

static void test_logsource_groups(void)
{
	const char *rules = write_file("ls.yml", ls_rules);
	/* source names are interned by the pipeline: one pointer per name */
	static const char fw1[] = "fw1", edge[] = "edge";
	struct config c;
	struct got g;
	struct detect *d;
	char s[512];

	config_from(&c, "logsources:\n  edge: {category: proxy}\n");
	got_init(&g);
	if ((d = new_detect(&c, rules, &g, DETECT_INLINE, 1, false))) {
		/* a dataset's logsource: PAN-OS TRAFFIC is {category: firewall, product: panos} */
		CHECK_STR(ls_run(d, &g, true, fw1, "panos.traffic", s, sizeof(s)),
			  "fw@1 none@1 panos@1");
		/* the same again: the worker's cached group */
		CHECK_STR(ls_run(d, &g, true, fw1, "panos.traffic", s, sizeof(s)),
			  "fw@1 none@1 panos@1");
		/* the source's configured logsource replaces the dataset's */
		CHECK_STR(ls_run(d, &g, true, edge, "panos.traffic", s, sizeof(s)),
			  "none@1 proxy@1");
		/* a dataset no map lists: only rules naming no logsource key */
		CHECK_STR(ls_run(d, &g, true, fw1, "unknown.thing", s, sizeof(s)), "none@1");
		CHECK_STR(ls_run(d, &g, true, fw1, "", s, sizeof(s)), "none@1");
		CHECK_STR(ls_run(d, &g, true, NULL, "squid.access", s, sizeof(s)),
			  "none@1 proxy@1");
		/* a source switching datasets, and back */
		CHECK_STR(ls_run(d, &g, true, fw1, "squid.access", s, sizeof(s)),
			  "none@1 proxy@1");
		CHECK_STR(ls_run(d, &g, true, fw1, "panos.threat", s, sizeof(s)),
			  "fw@1 none@1 panos@1");
		/* a dataset longer than the worker's cache key */
		CHECK_STR(ls_run(d, &g, true, fw1,
				 "a.dataset.name.longer.than.sixty.four.bytes.is.not.cached.by.the.worker",
				 s, sizeof(s)),
			  "none@1");
		CHECK_STR(ls_run(d, &g, true, fw1, "panos.traffic", s, sizeof(s)),
			  "fw@1 none@1 panos@1");
		/* no origin (rule test's JSON): every rule, whatever its logsource */
		CHECK_STR(ls_run(d, &g, false, NULL, "panos.traffic", s, sizeof(s)),
			  "fw-m365@1 fw@1 none@1 panos@1 proxy@1");
	}
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

/* ---- generate: false, correlations inline ---- */

static const char corr_rules[] =
	"title: failed\nid: failed\n"
	"detection:\n  sel: {outcome: failure}\n  condition: sel\n---\n"
	"title: other\nid: other\n"
	"detection:\n  sel: {outcome: failure}\n  condition: sel\n---\n"
	"title: three failures\nid: brute\ncorrelation:\n  type: event_count\n"
	"  rules: [failed]\n  group-by: [user]\n  timespan: 10m\n  condition: {gte: 3}\n";

/*
 * The fields of these events, known before the rules load: a rule's field name resolves
 * exactly, then ignoring case, against the names known then (other tests register
 * `User` and `Outcome` from the SigmaHQ rules), as `koban rule test` reads its events first.
 */
static void corr_names(void)
{
	CHECK(field_intern("user", 4, FT_STR) >= 0);
	CHECK(field_intern("outcome", 7, FT_STR) >= 0);
}

static void correl_event(struct detect *d, const char *user, int sec, uint64_t ref)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"@timestamp\": \"2026-01-01T00:%02d:%02dZ\", \"user\": \"%s\", "
		 "\"outcome\": \"failure\"}",
		 sec / 60, sec % 60, user);
	run_json(d, 0, NULL, json, ref);
}

static void test_generate_false_and_inline_correlation(void)
{
	const char *rules = write_file("corr.yml", corr_rules);
	struct config c;
	struct got g;
	struct detect *d;
	char s[512];

	corr_names();
	config_from(&c, "");
	got_init(&g);
	if ((d = new_detect(&c, rules, &g, DETECT_INLINE, 1, true))) {
		correl_event(d, "alice", 0, 1);
		correl_event(d, "bob", 10, 2);
		correl_event(d, "alice", 20, 3);
		/* "failed" is silenced by brute (generate: false); "other" is not named */
		CHECK_STR(got_text(&g, s, sizeof(s)), "other@1 other@2 other@3");
		got_clear(&g);
		/* inline: the result comes during the call that completes it */
		correl_event(d, "alice", 30, 4);
		CHECK_STR(got_text(&g, s, sizeof(s)), "brute{user=alice}[1,3,4] other@4");
		got_clear(&g);
		/* consumed: the next alice event starts again */
		correl_event(d, "alice", 40, 5);
		CHECK_STR(got_text(&g, s, sizeof(s)), "other@5");
		got_clear(&g);
		CHECK(detect_finish(d, &(struct err)ERR_INIT) == 0);
		CHECK_INT(g.n, 0);
	}
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

static void test_generate_true(void)
{
	char text[sizeof(corr_rules) + 32];
	const char *rules;
	struct config c;
	struct got g;
	struct detect *d;
	char s[512];

	snprintf(text, sizeof(text), "%s  generate: true\n", corr_rules);
	rules = write_file("corr-gen.yml", text);
	corr_names();
	config_from(&c, "");
	got_init(&g);
	if ((d = new_detect(&c, rules, &g, DETECT_INLINE, 1, true))) {
		correl_event(d, "alice", 0, 1);
		CHECK_STR(got_text(&g, s, sizeof(s)), "failed@1 other@1");
	}
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

/* ---- late events ---- */

static void test_late_event(void)
{
	const char *rules = write_file("late.yml", corr_rules);
	struct config c;
	struct got g;
	struct detect *d;
	char s[512];

	corr_names();
	config_from(&c, "detect:\n  lateness: 60\n");
	got_init(&g);
	if ((d = new_detect(&c, rules, &g, DETECT_INLINE, 1, true))) {
		correl_event(d, "alice", 600, 1);
		correl_event(d, "alice", 590, 2); /* within lateness: counted */
		last_report[0] = '\0';
		correl_event(d, "alice", 500, 3); /* 100 s behind the latest: late */
		CHECK(strstr(last_report, "3: correlation: late"));
		CHECK_INT(t_metric("koban_correlation_dropped_total{reason=\"late\"}", -1), 1);
		got_clear(&g);
		correl_event(d, "alice", 595, 4);
		/* the late event (3) is not in the window's events */
		CHECK_STR(got_text(&g, s, sizeof(s)), "brute{user=alice}[2,4,1] other@4");
	}
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

/* ---- state across two instances ---- */

static void test_state_across_instances(void)
{
	const char *rules = write_file("state.yml", corr_rules);
	const char *paths[1] = { rules };
	struct config c;
	struct got g;
	struct detect_config dc;
	struct detect *d = NULL;
	struct err e = ERR_INIT;
	char s[512];

	corr_names();
	config_from(&c, "");
	got_init(&g);
	dc = (struct detect_config){ .cfg = &c, .workers = 1, .mode = DETECT_INLINE,
				     .paths = paths, .n_paths = 1, .only_paths = true,
				     .fields_as_given = true, .state = true, .on_result = on_result,
				     .result_ctx = &g, .report = quiet_report };
	if (CHECK(detect_new(&d, &dc, &e) == 0)) {
		correl_event(d, "alice", 0, 1);
		correl_event(d, "alice", 10, 2);
	}
	detect_free(d); /* saves the state */
	d = NULL;
	got_clear(&g);
	if (CHECK(detect_new(&d, &dc, &e) == 0)) {
		correl_event(d, "alice", 20, 3);
		CHECK_STR(got_text(&g, s, sizeof(s)), "brute{user=alice}[1,2,3] other@3");
	}
	detect_free(d);
	/* on the detection thread: stopping drains the queue, then saves */
	dc.mode = DETECT_THREADED;
	d = NULL;
	if (CHECK(detect_new(&d, &dc, &e) == 0)) {
		correl_event(d, "carol", 100, 11);
		correl_event(d, "carol", 110, 12);
	}
	detect_free(d);
	dc.mode = DETECT_INLINE;
	got_clear(&g);
	d = NULL;
	if (CHECK(detect_new(&d, &dc, &e) == 0)) {
		correl_event(d, "carol", 120, 13);
		CHECK_STR(got_text(&g, s, sizeof(s)), "brute{user=carol}[11,12,13] other@13");
	}
	detect_free(d);
	/* without state: an instance neither reads what was saved nor saves */
	d = NULL;
	if (CHECK(detect_new(&d, &dc, &e) == 0)) {
		correl_event(d, "dave", 200, 21);
		correl_event(d, "dave", 210, 22);
	}
	detect_free(d);
	dc.state = false;
	got_clear(&g);
	d = NULL;
	if (CHECK(detect_new(&d, &dc, &e) == 0)) {
		correl_event(d, "dave", 220, 23);
		CHECK_STR(got_text(&g, s, sizeof(s)), "other@23");
	}
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

/* ---- allocation failures ---- */

/* Two correlations: an allocation failure while the first is added leaves the second. */
static const char corr2_rules[] =
	"title: two others\nid: others\ncorrelation:\n  type: event_count\n"
	"  rules: [other]\n  group-by: [user]\n  timespan: 10m\n  condition: {gte: 2}\n---\n";

/*
 * detect_new with allocation n refused: 0 (with the same rules loaded as without the
 * failure), or -ENOMEM with a message. Sets *done when no allocation was refused.
 */
static bool load_failing_at(const struct config *c, const char *rules, long n,
			    const struct detect_counts *want, bool *done)
{
	const char *paths[1] = { rules };
	struct detect_config dc = { .cfg = c, .workers = 2, .mode = DETECT_INLINE,
				    .paths = paths, .n_paths = 1, .only_paths = true,
				    .report = quiet_report };
	struct detect_counts k;
	struct detect *d = NULL;
	struct err e = ERR_INIT;
	long refused;
	int rc;

	mem_fail_after(n);
	rc = detect_new(&d, &dc, &e);
	refused = mem_failed_count();
	mem_fail_after(-1);
	*done = !refused;
	if (rc < 0)
		return t_check(rc == -ENOMEM && e.msg[0], __FILE__, __LINE__,
			       "allocation %ld: %d %s", n, rc, e.msg);
	detect_counts(d, &k);
	detect_free(d);
	return t_check(!memcmp(&k, want, sizeof(k)), __FILE__, __LINE__,
		       "allocation %ld refused: %zu rules, %zu rejected (want %zu, %zu)", n,
		       k.rules, k.rejected, want->rules, want->rejected);
}

/* Every allocation of the load refused in turn (about 700 of them). */
static void test_allocation_failures_load(void)
{
	char text[sizeof(corr2_rules) + sizeof(corr_rules)];
	const char *rules;
	struct detect_counts want;
	struct config c;
	struct detect *d;
	bool done = false;
	long n = 0;

	corr_names();
	snprintf(text, sizeof(text), "%s%s", corr2_rules, corr_rules);
	rules = write_file("alloc.yml", text);
	config_from(&c, "logsources:\n  edge: {category: proxy}\n");
	if (!(d = new_detect(&c, rules, NULL, DETECT_INLINE, 2, false)))
		goto done;
	detect_counts(d, &want);
	CHECK_INT(want.correlations, 2);
	detect_free(d);
	for (n = 0; !done; n++)
		if (!load_failing_at(&c, rules, n, &want, &done))
			break;
	printf("# %ld allocations\n", n - 1);
	CHECK(n > 100);
done:
	config_release(&c);
}

static void test_allocation_failures_per_event(void)
{
	const char *rules = write_file("alloc-ev.yml", corr_rules);
	static const char fw1[] = "fw1";
	struct pipeline_origin o = { 0, fw1, NULL, 0 };
	struct config c;
	struct got g;
	struct detect *d;
	char s[512];
	int refused = 0;

	corr_names();
	config_from(&c, "");
	got_init(&g);
	if (!(d = new_detect(&c, rules, &g, DETECT_INLINE, 1, true)))
		goto done;
	for (long n = 0; n < 200; n++) {
		struct tev t;
		const char *json = "{\"@timestamp\": \"2026-01-01T00:00:00Z\", \"user\": \"u\", "
				   "\"outcome\": \"failure\", \"event\": {\"dataset\": \"x\"}}";

		if (!CHECK(tev_decode(&t, json, strlen(json)) == 0))
			break;
		mem_fail_after(n);
		detect_event(d, 0, n % 2 ? &o : NULL, &t.ev, (uint64_t)n + 1);
		refused += mem_failed_count() > 0;
		mem_fail_after(-1);
		tev_release(&t);
	}
	CHECK(refused > 0);
	CHECK(t_metric("koban_detect_dropped_total{reason=\"no_memory\"}", -1) > 0);
	/* afterwards, with memory: the same source's events are evaluated again */
	got_clear(&g);
	run_json(d, 0, &o, "{\"outcome\": \"failure\", \"event\": {\"dataset\": \"x\"}}", 7);
	CHECK_STR(got_text(&g, s, sizeof(s)), "other@7");
done:
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

/* A transient failure to build a logsource's group is not remembered by the worker. */
static void test_group_failure_not_cached(void)
{
	const char *rules = write_file("ls-fail.yml", ls_rules);
	static const char fw1[] = "fw1";
	struct pipeline_origin o = { 0, fw1, NULL, 0 };
	const char *json = "{\"event\": {\"dataset\": \"panos.traffic\", \"action\": \"probe\"}}";
	struct config c;
	struct got g;
	struct detect *d;
	struct tev t;
	char s[512];

	config_from(&c, "");
	got_init(&g);
	if (!(d = new_detect(&c, rules, &g, DETECT_INLINE, 1, false)))
		goto done;
	if (CHECK(tev_decode(&t, json, strlen(json)) == 0)) {
		mem_fail_after(0);
		detect_event(d, 0, &o, &t.ev, 1);
		mem_fail_after(-1);
		CHECK_INT(g.n, 0);
		CHECK_INT(t_metric("koban_detect_dropped_total{reason=\"no_memory\"}", -1), 1);
		detect_event(d, 0, &o, &t.ev, 2);
		CHECK_STR(got_text(&g, s, sizeof(s)), "fw@2 none@2 panos@2");
	}
	tev_release(&t);
done:
	detect_free(d);
	got_release(&g);
	config_release(&c);
}

/* ---- reload while workers run ---- */

#define RELOAD_WORKERS 2
#define RELOAD_EVENTS 3000

struct reload_worker {
	struct detect *d;
	unsigned slot;
};

struct counts {
	_Atomic size_t matches, correlations;
};

static void count_result(void *ctx, const struct detect_result *r)
{
	struct counts *k = ctx;

	atomic_fetch_add(r->correlation ? &k->correlations : &k->matches, 1);
}

static void *reload_worker(void *arg)
{
	struct reload_worker *w = arg;
	static const char fw1[] = "fw1", fw2[] = "fw2";
	const char *json[2] = {
		"{\"event\": {\"dataset\": \"panos.traffic\", \"action\": \"probe\"}}",
		"{\"event\": {\"dataset\": \"squid.access\", \"action\": \"probe\"}}",
	};

	for (size_t i = 0; i < RELOAD_EVENTS; i++) {
		struct pipeline_origin o = { w->slot, i % 3 ? fw1 : fw2, NULL, 0 };
		struct tev t;
		const char *j = json[(i / 7) % 2];

		if (tev_decode(&t, j, strlen(j)) == 0)
			detect_inspect(w->d, w->slot, &o, &t.ev);
		tev_release(&t);
	}
	return NULL;
}

/*
 * Workers run events through detect while the main thread reloads the rules: every event
 * matches once, whichever rule set it meets, and each of its correlation records is either
 * fed (a result: gte 1) or counted as dropped.
 */
static void test_reload_while_workers_run(void)
{
	const char *rules = write_file("reload.yml",
				       "title: any\nid: any\ndetection:\n"
				       "  sel: {event.action: probe}\n  condition: sel\n---\n"
				       "title: each\nid: each\ncorrelation:\n  type: event_count\n"
				       "  rules: [any]\n  timespan: 1h\n  condition: {gte: 1}\n"
				       "  generate: true\n");
	const char *paths[1] = { rules };
	struct counts k = { 0, 0 };
	long long dropped;
	struct config c;
	struct detect *d = NULL;
	struct err e = ERR_INIT;
	struct reload_worker w[RELOAD_WORKERS];
	pthread_t th[RELOAD_WORKERS];
	struct detect_config dc;
	int reloads = 0;

	config_from(&c, "");
	dc = (struct detect_config){ .cfg = &c, .workers = RELOAD_WORKERS,
				     .mode = DETECT_THREADED, .paths = paths, .n_paths = 1,
				     .only_paths = true, .on_result = count_result,
				     .result_ctx = &k, .report = quiet_report, .metrics = true };
	if (!CHECK(detect_new(&d, &dc, &e) == 0))
		goto done;
	for (unsigned i = 0; i < RELOAD_WORKERS; i++) {
		w[i] = (struct reload_worker){ d, i };
		pthread_create(&th[i], NULL, reload_worker, &w[i]);
	}
	for (int i = 0; i < 20; i++)
		reloads += CHECK(detect_reload(d, &c, &e) == 0);
	for (unsigned i = 0; i < RELOAD_WORKERS; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(reloads, 20);
	CHECK_INT(t_metric("koban_detect_rules", -1), 2);
	detect_stop(d);
	CHECK_INT(atomic_load(&k.matches), RELOAD_WORKERS * RELOAD_EVENTS);
	dropped = t_metric("koban_detect_dropped_total{reason=\"reload\"}", -1) +
		  t_metric("koban_detect_dropped_total{reason=\"queue_full\"}", -1);
	printf("# %zu correlation results, %lld records dropped by reloads\n",
	       atomic_load(&k.correlations), dropped);
	CHECK_INT(atomic_load(&k.correlations) + (size_t)dropped, RELOAD_WORKERS * RELOAD_EVENTS);
done:
	detect_free(d);
	config_release(&c);
}

/* ---- the detection thread's queue bound ---- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, open;
	_Atomic size_t correlations;
};

/* The first correlation result holds the detection thread until the gate opens. */
static void gate_result(void *ctx, const struct detect_result *r)
{
	struct gate *g = ctx;

	if (!r->correlation)
		return;
	if (atomic_fetch_add(&g->correlations, 1) == 0) {
		pthread_mutex_lock(&g->lock);
		g->entered = true;
		pthread_cond_broadcast(&g->cond);
		while (!g->open)
			pthread_cond_wait(&g->cond, &g->lock);
		pthread_mutex_unlock(&g->lock);
	}
}

static void test_queue_bound(void)
{
	const char *rules = write_file("queue.yml",
				       "title: hit\nid: hit\ndetection:\n"
				       "  sel: {outcome: failure}\n  condition: sel\n---\n"
				       "title: each\nid: each\ncorrelation:\n  type: event_count\n"
				       "  rules: [hit]\n  timespan: 1h\n  condition: {gte: 1}\n");
	const char *paths[1] = { rules };
	const char *json = "{\"outcome\": \"failure\"}";
	struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false,
			     0 };
	struct config c;
	struct detect *d = NULL;
	struct err e = ERR_INIT;
	struct detect_config dc;
	struct tev t;
	const size_t extra = 5;

	corr_names();
	config_from(&c, "");
	dc = (struct detect_config){ .cfg = &c, .workers = 1, .mode = DETECT_THREADED,
				     .paths = paths, .n_paths = 1, .only_paths = true,
				     .fields_as_given = true, .on_result = gate_result,
				     .result_ctx = &gate, .report = quiet_report, .metrics = true };
	if (!CHECK(detect_new(&d, &dc, &e) == 0) ||
	    !CHECK(tev_decode(&t, json, strlen(json)) == 0))
		goto done;
	detect_event(d, 0, NULL, &t.ev, 1);
	pthread_mutex_lock(&gate.lock);
	while (!gate.entered)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	/* the thread holds the first record; the queue takes QUEUE_MAX more, then drops */
	for (size_t i = 0; i < QUEUE_MAX + extra; i++) {
		tev_release(&t);
		if (tev_decode(&t, json, strlen(json)) == 0)
			detect_event(d, 0, NULL, &t.ev, i + 2);
	}
	CHECK_INT(t_metric("koban_detect_dropped_total{reason=\"queue_full\"}", -1), extra);
	CHECK_INT(t_metric("koban_detect_queued", -1), QUEUE_MAX);
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	detect_stop(d); /* drains the queue */
	CHECK_INT(atomic_load(&gate.correlations), 1 + QUEUE_MAX);
	CHECK_INT(t_metric("koban_detect_queued", -1), 0);
	CHECK_INT(t_metric("koban_detect_dropped_total{reason=\"no_memory\"}", -1), 0);
	tev_release(&t);
done:
	detect_free(d);
	config_release(&c);
}

int main(void)
{
	T_RUN(test_prefilter_conformance_cases);
	T_RUN(test_prefilter_edge_cases);
	T_RUN(test_prefilter_sigmahq_literal_events);
	T_RUN(test_logsource_groups);
	T_RUN(test_generate_false_and_inline_correlation);
	T_RUN(test_generate_true);
	T_RUN(test_late_event);
	T_RUN(test_state_across_instances);
	T_RUN(test_allocation_failures_load);
	T_RUN(test_allocation_failures_per_event);
	T_RUN(test_group_failure_not_cached);
	T_RUN(test_reload_while_workers_run);
	T_RUN(test_queue_bound);
	return t_done();
}
