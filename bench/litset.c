/*
 * bench/litset - the multi-pattern pass (detect/litset) on the literals of the SigmaHQ
 * rules for web servers, proxies, firewalls and DNS, over the raw sample log lines, with
 * `grep -F -i -f LITERALS` on the same lines in the same run as the floor (issue 8).
 *
 *   build/release/bench/litset [--seconds S] [--print] [SIGMA_DIR [SAMPLES_DIR]]
 *
 * --print prints the literals, one per line, and stops.
 *
 * SIGMA_DIR (default ../shared/data/sigma) is walked for *.yml rules outside unsupported/
 * whose logsource category is webserver, proxy, firewall or dns. Their literals come from
 * a simple scan of the YAML: every value under `detection:` (list items and `key: value`),
 * quotes removed, except values under re, cidr, expand, fieldref, base64*, windash and
 * the numeric and time modifiers (they are not literals); a value with wildcards gives its
 * longest wildcard-free piece (the part a prefilter can require); duplicates (ignoring
 * ASCII case) are dropped. Every literal is caseless, as Sigma matches by default. They
 * are written to a temporary file, one per line, for grep.
 *
 * SAMPLES_DIR (default ../shared/data/samples) gives the lines: every line of every file
 * in it but README.md. Each engine built in (Hyperscan, the portable automaton) scans
 * every line on its own, over and over, for S CPU-seconds (default 2): lines/s and MB/s
 * per CPU-second of the process, so a loaded machine still gives per-core figures. grep
 * runs (LC_ALL=C: bytes and ASCII case folding, what litset does) over a file holding the
 * lines repeated, and its CPU time is read from getrusage(RUSAGE_CHILDREN). All three
 * must agree on how many lines hold at least one literal; a disagreement is printed and
 * the exit status is 1.
 */
#include "core/compat.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "detect/litset.h"

#define MAX_FILE (16u << 20)
#define MAX_LITS 100000
#define MAX_LINES 1000000

struct text {
	char *p;
	size_t len;
};

struct list {
	struct text *v;
	size_t n, cap;
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double children_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void *xalloc(void *p)
{
	if (!p) {
		fprintf(stderr, "bench/litset: out of memory\n");
		exit(1);
	}
	return p;
}

static void list_add(struct list *l, const char *p, size_t len, size_t max)
{
	if (l->n == max) {
		fprintf(stderr, "bench/litset: more than %zu entries\n", max);
		exit(1);
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xalloc(mem_realloc(l->v, l->cap * sizeof(*l->v)));
	}
	l->v[l->n].p = xalloc(mem_strndup(p, len));
	l->v[l->n++].len = len;
}

static void list_release(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mem_free(l->v[i].p);
	mem_free(l->v);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;

	if (!f)
		return NULL;
	p = xalloc(mem_alloc(MAX_FILE + 1));
	*len = fread(p, 1, MAX_FILE, f);
	p[*len] = '\0';
	fclose(f);
	return p;
}

/* ---- literals from the Sigma YAML ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int wanted_category(const char *text)
{
	static const char *cats[] = { "webserver", "proxy", "firewall", "dns" };

	for (size_t i = 0; i < ARRAY_SIZE(cats); i++) {
		char pat[64];
		const char *at;

		snprintf(pat, sizeof(pat), "category: %s", cats[i]);
		for (at = strstr(text, pat); at; at = strstr(at + 1, pat)) {
			char after = at[strlen(pat)];

			if (after == '\n' || after == '\r' || after == ' ' || after == '\0')
				return 1;
		}
	}
	return 0;
}

/* Whether the modifiers of a key (the text after its first '|') make values non-literal. */
static int literal_modifiers(const char *key, size_t len)
{
	static const char *skip[] = { "|re", "|cidr", "|expand", "|fieldref", "|base64",
				      "|windash", "|lt", "|gt", "|minute", "|hour", "|day",
				      "|week", "|month", "|year", "|exists" };

	for (size_t i = 0; i < ARRAY_SIZE(skip); i++) {
		size_t n = strlen(skip[i]);

		for (size_t j = 0; j + n <= len; j++)
			if (!memcmp(key + j, skip[i], n))
				return 0;
	}
	return 1;
}

static int same_folded(const struct text *t, const char *p, size_t len)
{
	return t->len == len && !strncasecmp(t->p, p, len);
}

/* The longest piece of a Sigma value between unescaped wildcards, unescaped. */
static void add_value(struct list *lits, const char *v, size_t len)
{
	char piece[4096], best[4096];
	size_t n = 0, nbest = 0;

	if (len >= sizeof(piece))
		return;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? v[i] : '*';

		if (c == '\\' && i + 1 < len && strchr("*?\\", v[i + 1])) {
			piece[n++] = v[++i];
			continue;
		}
		if (c == '*' || c == '?') {
			if (n > nbest) {
				memcpy(best, piece, n);
				nbest = n;
			}
			n = 0;
			continue;
		}
		piece[n++] = c;
	}
	if (!nbest || memchr(best, '\n', nbest))
		return;
	for (size_t i = 0; i < lits->n; i++)
		if (same_folded(&lits->v[i], best, nbest))
			return;
	list_add(lits, best, nbest, MAX_LITS);
}

/*
 * A scalar with its quotes or its trailing comment removed ('' doubled quotes are rare
 * enough to keep).
 */
static void add_scalar(struct list *lits, const char *p, const char *end)
{
	const char *close, *hash;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && (*p == '\'' || *p == '"') &&
	    (close = memchr(p + 1, *p, (size_t)(end - p - 1)))) {
		p++;
		end = close;
	} else {
		for (hash = p; hash < end; hash++)
			if (*hash == '#' && hash > p && (hash[-1] == ' ' || hash[-1] == '\t'))
				break;
		end = hash;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
	}
	if (end > p && *p != '[' && *p != '{' && *p != '#')
		add_value(lits, p, (size_t)(end - p));
}

/* The values under `detection:`, up to the next top-level key. */
static void rule_literals(struct list *lits, const char *text)
{
	const char *p = strstr(text, "\ndetection:");
	int keep = 1;

	if (!p)
		return;
	p = strchr(p + 1, '\n');
	while (p && p[1] && (p[1] == ' ' || p[1] == '\t' || p[1] == '\n')) {
		const char *line = p + 1, *end = strchr(line, '\n'), *s = line, *colon;

		if (!end)
			end = line + strlen(line);
		p = *end ? end : NULL;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s + 2 <= end && s[0] == '-' && s[1] == ' ') {
			if (keep)
				add_scalar(lits, s + 2, end);
			continue;
		}
		colon = memchr(s, ':', (size_t)(end - s));
		if (!colon || !strncmp(s, "condition", 9))
			continue;
		keep = literal_modifiers(s, (size_t)(colon - s));
		if (keep && colon + 1 < end)
			add_scalar(lits, colon + 1, end);
	}
}

/*
 * Calls each(ctx, path, text, len) for every file under dir (recursively, in readdir order)
 * whose name is neither hidden nor skip, and, when suffix is given, ends with it.
 */
static void walk(const char *dir, const char *skip, const char *suffix,
		 void (*each)(void *ctx, const char *text, size_t len), void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;
		size_t len;
		char *text;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, skip))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(path, skip, suffix, each, ctx);
			continue;
		}
		if ((suffix && !ends_with(path, suffix)) || !(text = read_file(path, &len)))
			continue;
		each(ctx, text, len);
		mem_free(text);
	}
	closedir(d);
}

struct rule_walk {
	struct list *lits;
	unsigned rules;
};

/* A SigmaHQ rule file: its literals when it is of a wanted category. */
static void take_rule(void *ctx, const char *text, size_t len)
{
	struct rule_walk *w = ctx;

	(void)len;
	if (wanted_category(text)) {
		rule_literals(w->lits, text);
		w->rules++;
	}
}

/* A sample file: its non-empty lines. */
static void take_lines(void *ctx, const char *text, size_t len)
{
	struct list *lines = ctx;

	for (const char *s = text, *end; s < text + len; s = end + 1) {
		end = memchr(s, '\n', (size_t)(text + len - s));
		if (!end)
			end = text + len;
		if (end > s)
			list_add(lines, s, (size_t)(end - s), MAX_LINES);
	}
}

/* ---- the runs ---- */

/* Scans every line for `seconds` CPU-seconds; the lines with a literal, per pass. */
static long run_engine(enum litset_engine engine, const struct list *lits,
		       const struct list *lines, double seconds)
{
	struct litset_literal *v = xalloc(mem_calloc(lits->n, sizeof(*v)));
	struct err e = ERR_INIT;
	struct litset *set;
	struct litset_scratch *sc;
	size_t bytes = 0, passes = 0;
	long matched = 0;
	double t0, t1, compile;

	for (size_t i = 0; i < lits->n; i++)
		v[i] = (struct litset_literal){ lits->v[i].p, lits->v[i].len, (uint32_t)i,
						LITSET_CASELESS };
	for (size_t i = 0; i < lines->n; i++)
		bytes += lines->v[i].len;
	t0 = cpu_now();
	if (litset_new(&set, v, lits->n, engine, &e) < 0 ||
	    litset_scratch_new(&sc, set, &e) < 0) {
		printf("litset %s: %s\n", engine == LITSET_ENGINE_PORTABLE ? "portable" : "hyperscan",
		       e.msg);
		mem_free(v);
		return -1;
	}
	compile = cpu_now() - t0;
	t0 = cpu_now();
	do {
		long m = 0;

		for (size_t i = 0; i < lines->n; i++) {
			const uint32_t *ids;

			if (litset_scan(set, sc, lines->v[i].p, lines->v[i].len) < 0) {
				printf("litset: scan failed\n");
				exit(1);
			}
			m += litset_scratch_found(sc, &ids) > 0;
		}
		matched = m;
		passes++;
		t1 = cpu_now();
	} while (t1 - t0 < seconds);
	printf("litset %-9s %zu literals, compile %.1f ms, %.1f MB: %.0f lines/s, %.1f MB/s per "
	       "CPU-second (%zu passes over %zu lines, %ld with a literal)\n",
	       litset_engine_name(set), lits->n, compile * 1e3, litset_memory(set) / 1e6,
	       (double)(passes * lines->n) / (t1 - t0),
	       (double)(passes * bytes) / (t1 - t0) / 1e6, passes, lines->n, matched);
	litset_scratch_free(sc);
	litset_free(set);
	mem_free(v);
	return matched;
}

static int write_file(const char *path, const struct list *l, size_t repeat)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	for (size_t r = 0; r < repeat; r++)
		for (size_t i = 0; i < l->n; i++) {
			fwrite(l->v[i].p, 1, l->v[i].len, f);
			fputc('\n', f);
		}
	return fclose(f) ? -1 : 0;
}

/* grep -c over the lines repeated `repeat` times; the count per copy, or -1. */
static long run_grep(const char *lits_path, const struct list *lines, size_t repeat,
		     const char *tmp)
{
	char lines_path[4096], cmd[8400], out[64] = "";
	size_t bytes = 0;
	double t0, t1;
	FILE *p;
	long count;

	snprintf(lines_path, sizeof(lines_path), "%s/lines", tmp);
	if (write_file(lines_path, lines, repeat) < 0)
		return -1;
	for (size_t i = 0; i < lines->n; i++)
		bytes += lines->v[i].len + 1;
	snprintf(cmd, sizeof(cmd), "LC_ALL=C grep -F -i -c -f '%s' '%s'", lits_path, lines_path);
	t0 = children_cpu();
	p = popen(cmd, "r");
	if (!p || !fgets(out, sizeof(out), p)) {
		if (p)
			pclose(p);
		return -1;
	}
	pclose(p);
	t1 = children_cpu();
	count = strtol(out, NULL, 10);
	printf("grep -F -i -f   same literals: %.0f lines/s, %.1f MB/s per CPU-second (%zu lines, "
	       "%ld with a literal)\n",
	       (double)(repeat * lines->n) / (t1 - t0),
	       (double)(repeat * bytes) / (t1 - t0) / 1e6, repeat * lines->n, count);
	unlink(lines_path);
	return count % (long)repeat ? -1 : count / (long)repeat;
}

/* Hyperscan, the portable automaton and grep on one literal list; 0 when they agree. */
static int compare(const char *what, const struct list *lits, const struct list *lines,
		   double seconds, const char *tmp)
{
	char lits_path[4096];
	long hs = -2, portable, grep;

	printf("-- %s: %zu literals\n", what, lits->n);
	snprintf(lits_path, sizeof(lits_path), "%s/literals", tmp);
	if (write_file(lits_path, lits, 1) < 0) {
		perror(lits_path);
		return -1;
	}
#ifdef KOBAN_HYPERSCAN
	hs = run_engine(LITSET_ENGINE_HYPERSCAN, lits, lines, seconds);
#endif
	portable = run_engine(LITSET_ENGINE_PORTABLE, lits, lines, seconds);
	grep = run_grep(lits_path, lines, 20000, tmp);
	unlink(lits_path);
	if (portable < 0 || grep != portable || (hs != -2 && hs != portable)) {
		printf("bench/litset: the engines disagree (hyperscan %ld, portable %ld, grep %ld "
		       "lines with a literal per copy)\n",
		       hs, portable, grep);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *sigma = "../shared/data/sigma", *samples = "../shared/data/samples";
	double seconds = 2;
	struct list lits = { 0 }, long_lits = { 0 }, lines = { 0 };
	char tmp[] = "/tmp/bench-litset-XXXXXX";
	unsigned rules = 0;
	struct rule_walk rw = { &lits, 0 };
	int argi = 1, rc = 0, print = 0;

	for (; argi < argc && argv[argi][0] == '-'; argi++) {
		if (!strcmp(argv[argi], "--print"))
			print = 1;
		else if (!strcmp(argv[argi], "--seconds") && argi + 1 < argc)
			seconds = atof(argv[++argi]);
		else {
			fprintf(stderr, "usage: bench/litset [--seconds S] [--print] [SIGMA_DIR "
					"[SAMPLES_DIR]]\n");
			return 2;
		}
	}
	if (argi < argc)
		sigma = argv[argi++];
	if (argi < argc)
		samples = argv[argi++];
	walk(sigma, "unsupported", ".yml", take_rule, &rw);
	rules = rw.rules;
	if (print) {
		for (size_t i = 0; i < lits.n; i++)
			printf("%s\n", lits.v[i].p);
		list_release(&lits);
		return 0;
	}
	walk(samples, "README.md", NULL, take_lines, &lines);
	if (!lits.n || !lines.n) {
		printf("bench/litset: skipped: no rules in %s or no lines in %s\n", sigma, samples);
		return 0;
	}
	for (size_t i = 0; i < lits.n; i++)
		if (lits.v[i].len >= 4)
			list_add(&long_lits, lits.v[i].p, lits.v[i].len, MAX_LITS);
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	printf("%u rules (webserver, proxy, firewall, dns) in %s; %zu lines (%s)\n", rules, sigma,
	       lines.n, samples);
	if (compare("every literal", &lits, &lines, seconds, tmp) < 0 ||
	    compare("literals of 4 bytes or more", &long_lits, &lines, seconds, tmp) < 0)
		rc = 1;
	rmdir(tmp);
	list_release(&lits);
	list_release(&long_lits);
	list_release(&lines);
	return rc;
}
