/*
 * bench/detect - events per CPU-second through decode -> detect (issue 8's benchmark).
 *
 *   build/release/bench/detect [--seconds S] [--only RUN] [--indicators N] [SIGMA_DIR
 *                              [SAMPLES_DIR [PLACEHOLDERS]]]
 *
 * --only RUN runs one of decode, none, bundled, sigma, ti (for a profiler), without the floor.
 *
 * --indicators N adds threat-intelligence matching (enrich/timatch, first in detection, as
 * serve runs it) with N generated global indicators in one snapshot: 60% IPs (of them 10%
 * /24 and 1% /16 networks, the rest addresses), 20% domains, 10% SHA-256 hashes, 10% URLs,
 * plus the mix's rarest source/destination addresses while the events they appear in stay
 * within 2% of the mix (a SOC's feeds hit a few events in a hundred at most). Two more runs: "no rules + TI" (its cost alone) and "SigmaHQ + TI" (decode ->
 * Sigma (all rules) -> TI, issue 9's figure); the snapshot's build time and memory first.
 *
 * The mix: raw lines of SAMPLES_DIR (default ../shared/data/samples), 1,000 messages in a
 * fixed shuffled order, weighted like a firewall-heavy SOC feed: PAN-OS TRAFFIC 50%, PAN-OS
 * THREAT 15% (url, vulnerability, wildfire, spyware), Squid access 15%, web server combined
 * access 15%, Entra ID sign-ins 5% (the few lines of each file cycled). Each message goes
 * through a pipeline as `koban ingest` runs it (pipeline_event: decoder, normalization, the
 * inspector, events handed over without JSON) whose inspector is detect on one worker slot,
 * DETECT_INLINE (the correlations on the same thread), no alert sink: results are counted.
 * The events' @timestamp is rewritten to one event per millisecond in arrival order before
 * detection, so that the correlations see a live stream (the samples span 2006 to 2019 and
 * would otherwise be late events).
 *
 * Runs, each for S CPU-seconds (default 3) after one warm-up pass (it builds the rule
 * groups of the mix's logsources):
 *   decode only   the pipeline without inspector (the floor of the decode -> detect path);
 *   no rules      detect with no rule loaded (its fixed cost per event);
 *   bundled       koban's own rules (rules/sigma, embedded);
 *   SigmaHQ       every rule under SIGMA_DIR (default ../shared/data/sigma) but unsupported/,
 *                 with the expand placeholders of PLACEHOLDERS (default
 *                 tests/sigma/corpus-placeholders.yml) and the field maps; the logsource
 *                 groups pick the rules that apply to each event.
 * For each: the load (wall and CPU time of detect_new), the resident memory it added (VmRSS
 * after the load and after the warm-up, minus before), events/s per CPU-second of the
 * process (CPU time: a loaded machine gives per-core figures), the median of five parts of
 * the run and their range (a machine shared with other work still varies), and the results
 * per pass.
 *
 * The floor, in the same run: `LC_ALL=C grep -F -i -c -f LITERALS` over the mix's raw lines
 * (repeated), LITERALS being the prefilter literals (sigma_rule_literals) of the SigmaHQ
 * rules that apply to the mix's logsources, written to a temporary file. Its CPU time is
 * read from getrusage(RUSAGE_CHILDREN).
 *
 * Skips (exit 0, a message) when the samples or the rules are absent. Single-threaded.
 */
#include "core/compat.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/msg.h"
#include "core/tz.h"
#include "detect/detect.h"
#include "detect/fieldmap.h"
#include "detect/sigma.h"
#include "enrich/timatch.h"
#include "enrich/tisnap.h"
#include "lib/gen.h"
#include "parse/decoder.h"
#include "pipeline/pipeline.h"
#include "store/meta.h"

#define MIX_SIZE 1000
#define MIX_LINES_MAX 64      /* lines taken from one sample file */
#define LINE_MAX_BYTES 65536
#define DATASETS_MAX 16
#define GREP_BYTES (64u << 20) /* raw lines handed to grep */
#define PATHS_MAX 32
#define SEGMENTS 5             /* parts of a run: the median rate is printed */
#define ADDRS_MAX 256          /* distinct addresses of the mix kept for --indicators */

/* One sample file of the mix: its format, and its share of the messages in percent. */
struct sample {
	const char *file, *format, *what;
	unsigned percent;
};

static const struct sample samples[] = {
	{ "panos/traffic.log", "panos", "PAN-OS TRAFFIC", 50 },
	{ "panos/threat-url.log", "panos", "PAN-OS THREAT url", 8 },
	{ "panos/threat-vuln-wildfire-spyware.log", "panos", "PAN-OS THREAT other", 7 },
	{ "generic/squid-access-native.log", "squid", "Squid access", 15 },
	{ "generic/nginx-access-combined.log", "combined", "web combined", 15 },
	{ "azure/signinlogs.ndjson", "azure", "Entra ID sign-ins", 5 },
};

struct line {
	char *p;
	size_t len;
	unsigned format;
};

struct mix {
	struct msg *msgs[MIX_SIZE];
	size_t bytes;
	char datasets[DATASETS_MAX][64]; /* event.dataset values seen (warm-up) */
	size_t n_datasets;
	char addrs[ADDRS_MAX][IPADDR_STRLEN]; /* source/destination addresses seen */
	unsigned addr_seen[ADDRS_MAX];        /* in how many events (one pass) */
	size_t n_addrs;
};

/* What one run counts; the pipeline's output and detect's results land here. */
struct run {
	struct detect *detect;
	struct timatch *ti;         /* --indicators: run first by detect */
	uint64_t events, results, rejected;
	uint64_t enriched;  /* events with threat.enrichments (--indicators) */
	int64_t now_ns;     /* the next event's @timestamp */
	struct mix *mix;    /* set: record datasets (the warm-up of "decode only") */
};

static void *xalloc(void *p)
{
	if (!p) {
		fprintf(stderr, "bench/detect: out of memory\n");
		exit(1);
	}
	return p;
}

static double children_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Resident memory of the process in MiB (VmRSS), 0 when unknown. */
static double rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = atof(line + 6);
	fclose(f);
	return kib / 1024;
}

/* ---- the mix ---------------------------------------------------------------------------- */

/* The non-empty lines of path (at most MIX_LINES_MAX); their count. */
static size_t read_lines(const char *path, unsigned format, struct line *out)
{
	FILE *f = fopen(path, "rb");
	char *buf = xalloc(mem_alloc(LINE_MAX_BYTES));
	size_t n = 0;

	while (f && n < MIX_LINES_MAX && fgets(buf, LINE_MAX_BYTES, f)) {
		size_t len = strlen(buf);

		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (len)
			out[n++] = (struct line){ xalloc(mem_strndup(buf, len)), len, format };
	}
	if (f)
		fclose(f);
	mem_free(buf);
	return n;
}

static uint64_t next_random(uint64_t *state)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return *state >> 33;
}

/* The messages of the mix, in a fixed shuffled order; 0, or -1 when a sample is missing. */
static int mix_build(struct mix *m, const char *dir, const struct tz *tz)
{
	struct line *order = xalloc(mem_calloc(MIX_SIZE, sizeof(*order)));
	struct line *lines = xalloc(mem_calloc(ARRAY_SIZE(samples) * MIX_LINES_MAX,
					       sizeof(*lines)));
	size_t n = 0, n_lines = 0;
	uint64_t seed = 8;
	int rc = 0;

	for (size_t s = 0; s < ARRAY_SIZE(samples) && !rc; s++) {
		char path[4096];
		int format = decoder_find(samples[s].format, strlen(samples[s].format));
		struct line *mine = lines + n_lines;
		size_t have;

		snprintf(path, sizeof(path), "%s/%s", dir, samples[s].file);
		have = format < 0 ? 0 : read_lines(path, (unsigned)format, mine);
		n_lines += have;
		if (!have) {
			printf("bench/detect: skipped: no lines in %s\n", path);
			rc = -1;
		}
		for (size_t i = 0; !rc && i < MIX_SIZE * samples[s].percent / 100; i++)
			order[n++] = mine[i % have];
	}
	for (size_t i = n; !rc && i > 1; i--) { /* Fisher-Yates */
		size_t j = next_random(&seed) % i;
		struct line t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		struct msg *msg = xalloc(msg_new(order[i].p, (uint32_t)order[i].len));

		msg->format = (uint8_t)order[i].format;
		msg->tz = tz;
		msg->source = "bench";
		msg->received_ns = BENCH_T0;
		m->msgs[i] = msg;
		m->bytes += order[i].len;
	}
	for (size_t i = 0; i < n_lines; i++)
		mem_free(lines[i].p);
	mem_free(lines);
	mem_free(order);
	return rc;
}

static void mix_release(struct mix *m)
{
	for (size_t i = 0; i < MIX_SIZE; i++)
		if (m->msgs[i])
			msg_free(m->msgs[i]);
}

static void note_dataset(struct mix *m, const struct event *ev)
{
	const char *ds;
	size_t len;

	if (event_get_str(ev, FIELD_EVENT_DATASET, &ds, &len) != 1 || len >= 64)
		return;
	for (size_t i = 0; i < m->n_datasets; i++)
		if (strlen(m->datasets[i]) == len && !memcmp(m->datasets[i], ds, len))
			return;
	if (m->n_datasets < DATASETS_MAX) {
		memcpy(m->datasets[m->n_datasets], ds, len);
		m->datasets[m->n_datasets++][len] = '\0';
	}
}

static void note_address(struct mix *m, const struct event *ev, unsigned field)
{
	const struct event_value *v = event_get(ev, field);
	char text[IPADDR_STRLEN];

	if (!v || m->n_addrs == ADDRS_MAX)
		return;
	ipaddr_format(&v->v.ip, text);
	for (size_t i = 0; i < m->n_addrs; i++)
		if (!strcmp(m->addrs[i], text)) {
			m->addr_seen[i]++;
			return;
		}
	m->addr_seen[m->n_addrs] = 1;
	memcpy(m->addrs[m->n_addrs++], text, sizeof(text));
}

/* ---- one run ---------------------------------------------------------------------------- */

/* pipeline_output.event: the event is counted (and its dataset noted in the warm-up). */
static int on_event(void *ctx, unsigned worker, unsigned slot, struct event *ev)
{
	struct run *r = ctx;

	r->events++;
	r->enriched += event_get(ev, FIELD_THREAT_ENRICHMENTS) != NULL;
	if (r->mix) {
		note_dataset(r->mix, ev);
		note_address(r->mix, ev, FIELD_SOURCE_IP);
		note_address(r->mix, ev, FIELD_DESTINATION_IP);
	}
	return 0;
}

/* The inspector: a live stream's time, then detection. */
static void on_inspect(void *ctx, unsigned worker, const struct pipeline_origin *o,
		       struct event *ev)
{
	struct run *r = ctx;

	if (event_set_time(ev, FIELD_TIMESTAMP, r->now_ns) < 0) {
		fprintf(stderr, "bench/detect: @timestamp not set\n");
		exit(1);
	}
	r->now_ns += 1000000;
	detect_inspect(r->detect, worker, o, ev);
}

static void on_result(void *ctx, const struct detect_result *res)
{
	((struct run *)ctx)->results++;
}

static void on_report(void *ctx, const char *file, unsigned line, const char *id,
		      const char *reason)
{
	((struct run *)ctx)->rejected++;
}

static void one_pass(struct pipeline *p, const struct mix *m)
{
	for (size_t i = 0; i < MIX_SIZE; i++) {
		struct pipeline_counts c = { 0 };
		struct err e = ERR_INIT;

		(void)pipeline_event(p, 0, m->msgs[i], &c, &e); /* failures are events too */
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The mix through the pipeline (and detect when r->detect is set) for `seconds` of CPU
 * time after one warm-up pass, in SEGMENTS parts. Prints the median rate after `what`.
 */
static void measure(const char *what, struct run *r, struct mix *m, double seconds,
		    const struct config *cfg)
{
	struct pipeline_config pc = {
		.workers = 1,
		.max_message_size = cfg->max_message_size,
		.flush_bytes = 1 << 16,
		.output = { .ctx = r, .event = on_event },
	};
	struct pipeline *p;
	struct err e = ERR_INIT;
	uint64_t passes = 0;
	double rate[SEGMENTS];

	if (r->detect)
		pc.inspect = (struct pipeline_inspect){ on_inspect, r };
	if (pipeline_new(&p, &pc, &e) < 0) {
		fprintf(stderr, "bench/detect: %s\n", e.msg);
		exit(1);
	}
	r->now_ns = BENCH_T0;
	one_pass(p, m);
	r->mix = NULL;
	r->results = 0;
	r->enriched = 0;
	for (int k = 0; k < SEGMENTS; k++) {
		uint64_t events = r->events;
		double t0 = bench_proc_cpu_s(), t1;

		do {
			one_pass(p, m);
			passes++;
			t1 = bench_proc_cpu_s();
		} while (t1 - t0 < seconds / SEGMENTS);
		rate[k] = (double)(r->events - events) / (t1 - t0);
	}
	qsort(rate, SEGMENTS, sizeof(rate[0]), cmp_double);
	printf("%-28s %9.0f events/s per CPU-second (median of %d, from %.0f to %.0f; %llu "
	       "passes, %llu results per pass", what, rate[SEGMENTS / 2], SEGMENTS, rate[0],
	       rate[SEGMENTS - 1], (unsigned long long)passes,
	       (unsigned long long)(r->results / passes));
	if (r->ti)
		printf(", %llu events of %d with threat.enrichments",
		       (unsigned long long)(r->enriched / passes), MIX_SIZE);
	printf(")\n");
	pipeline_free(p);
}

/* Loads a detect over `paths` (bundled rules when none and !only), prints the load. */
static struct detect *load(const char *what, struct run *r, const struct config *cfg,
			   const char *const *paths, size_t n, bool only)
{
	struct detect_config dc = {
		.cfg = cfg, .workers = 1, .mode = DETECT_INLINE, .paths = paths, .n_paths = n,
		.only_paths = only, .on_result = on_result, .result_ctx = r,
		.report = on_report, .report_ctx = r, .ti = r->ti,
	};
	struct detect_counts k;
	struct err e = ERR_INIT;
	double rss0 = rss_mib(), w0 = bench_now_s(), c0 = bench_proc_cpu_s();

	if (detect_new(&r->detect, &dc, &e) < 0) {
		fprintf(stderr, "bench/detect: %s: %s\n", what, e.msg);
		exit(1);
	}
	detect_counts(r->detect, &k);
	printf("%-28s %zu rules, %zu correlations, %zu filters, %zu rejected: load %.0f ms "
	       "(%.0f ms CPU), RSS +%.1f MiB\n",
	       what, k.rules, k.correlations, k.filters, k.rejected,
	       (bench_now_s() - w0) * 1e3, (bench_proc_cpu_s() - c0) * 1e3, rss_mib() - rss0);
	return r->detect;
}

/* load() then measure(), and the memory the warm-up's rule groups added. */
static void detect_run(const char *what, const struct config *cfg, const char *const *paths,
		       size_t n, bool only, struct mix *m, double seconds, struct timatch *ti)
{
	struct run r = { .ti = ti };
	double rss0 = rss_mib(), rss1;

	load(what, &r, cfg, paths, n, only);
	rss1 = rss_mib();
	measure(what, &r, m, seconds, cfg);
	printf("%-28s RSS +%.1f MiB after the runs (+%.1f MiB since the load: the groups built "
	       "for the mix, the correlation state)\n",
	       what, rss_mib() - rss0, rss_mib() - rss1);
	detect_free(r.detect);
}

/* ---- threat intelligence (--indicators) --------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd64(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* The i-th generated indicator's canonical (type, value) into text. */
static const char *gen_indicator(size_t i, char *text, size_t size)
{
	uint64_t r = rnd64();
	unsigned a = (unsigned)(r >> 32);

	switch (i % 10) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		if (r % 100 == 0)
			snprintf(text, size, "%u.%u.0.0/16", 11 + a % 200, a >> 8 & 255);
		else if (r % 10 == 0)
			snprintf(text, size, "%u.%u.%u.0/24", 11 + a % 200, a >> 8 & 255,
				 a >> 16 & 255);
		else
			snprintf(text, size, "%u.%u.%u.%u", 11 + a % 200, a >> 8 & 255,
				 a >> 16 & 255, a >> 24);
		return "ip";
	case 6: case 7:
		snprintf(text, size, "h%x.d%u.example", a, (unsigned)(r % 1000));
		return "domain";
	case 8:
		snprintf(text, size, "%016llx%016llx%016llx%016llx", (unsigned long long)r,
			 (unsigned long long)rnd64(), (unsigned long long)rnd64(),
			 (unsigned long long)rnd64());
		return "sha256";
	default:
		snprintf(text, size, "http://h%x.example/p%u", a, (unsigned)(r % 100000));
		return "url";
	}
}

static void add_indicator(struct ti_builder *b, size_t id, const char *type, const char *value)
{
	struct meta_indicator ind = { .id = (int64_t)id, .source = "bench", .type = type,
				      .value = value, .confidence = 70, .first_seen_ns = 1,
				      .last_seen_ns = 1, .tags = "[]" };
	struct err e = ERR_INIT;

	if (ti_builder_add(b, &ind, &e) < 0) {
		fprintf(stderr, "bench/detect: indicator %s: %s\n", value, e.msg);
		exit(1);
	}
}

static bool holds_mix_address(const struct mix *m, const char *cidr)
{
	struct ipaddr net, a;
	unsigned prefix;

	if (ipaddr_parse_cidr(&net, &prefix, cidr, strlen(cidr)) < 0)
		return false;
	for (size_t i = 0; i < m->n_addrs; i++)
		if (ipaddr_parse(&a, m->addrs[i], strlen(m->addrs[i])) == 0 &&
		    ipaddr_in_prefix(&a, &net, prefix))
			return true;
	return false;
}

/* n generated indicators and some of the mix's addresses (m->addrs) in one snapshot. */
static struct ti_snapshot *indicator_snapshot(const struct mix *m, size_t n)
{
	struct ti_builder *b = NULL;
	struct ti_snapshot *s = NULL;
	struct ti_snapshot_stats st;
	struct err e = ERR_INIT;
	double rss0 = rss_mib(), w0 = bench_now_s();
	size_t hits = 0, covered = 0, rarest;
	bool taken[ADDRS_MAX] = { false };
	char text[256];

	if (ti_builder_new(&b, 0, &e) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const char *type;

		do /* a generated network holding a mix address would hit by chance: another */
			type = gen_indicator(i, text, sizeof(text));
		while (!strcmp(type, "ip") && holds_mix_address(m, text));
		add_indicator(b, i + 1, type, text);
	}
	for (;; hits++) { /* the rarest address not taken, while within 2% */
		rarest = ADDRS_MAX;
		for (size_t i = 0; i < m->n_addrs; i++)
			if (!taken[i] && (rarest == ADDRS_MAX || m->addr_seen[i] < m->addr_seen[rarest]))
				rarest = i;
		if (rarest == ADDRS_MAX || covered + m->addr_seen[rarest] > MIX_SIZE / 50)
			break;
		taken[rarest] = true;
		covered += m->addr_seen[rarest];
		add_indicator(b, n + hits + 1, "ip", m->addrs[rarest]);
	}
	if (ti_builder_finish(b, &s, &e) < 0)
		goto fail;
	ti_snapshot_stats(s, &st);
	printf("%-28s %zu indicators (%zu of the mix's %zu addresses): built in %.0f ms, "
	       "%.1f MB, RSS +%.1f MiB\n", "indicators", st.indicators, hits, m->n_addrs,
	       (bench_now_s() - w0) * 1e3, (double)st.bytes / 1e6, rss_mib() - rss0);
	return s;
fail:
	fprintf(stderr, "bench/detect: indicators: %s\n", e.msg);
	exit(1);
}

/* The mix once through decode, noting its datasets and addresses. */
static void mix_addresses(struct mix *m, const struct config *cfg)
{
	struct pipeline_config pc = {
		.workers = 1, .max_message_size = cfg->max_message_size, .flush_bytes = 1 << 16,
	};
	struct run r = { .mix = m };
	struct pipeline *p;
	struct err e = ERR_INIT;

	pc.output = (struct pipeline_output){ .ctx = &r, .event = on_event };
	if (pipeline_new(&p, &pc, &e) < 0) {
		fprintf(stderr, "bench/detect: %s\n", e.msg);
		exit(1);
	}
	one_pass(p, m);
	pipeline_free(p);
}

/* TI alone (no rules) and with the whole corpus, enrichment only (no alert sink). */
static void ti_runs(const struct config *plain, const struct config *corpus,
		    const char *const *paths, size_t n_paths, struct mix *m, double seconds,
		    size_t n)
{
	struct timatch_config tc = { .workers = 1 };
	struct ti_snapshot *s;
	struct timatch *t = NULL;
	struct err e = ERR_INIT;
	char what[64];

	mix_addresses(m, plain);
	s = indicator_snapshot(m, n);
	tc.snapshot = s;
	if (timatch_new(&t, &tc, &e) < 0) {
		fprintf(stderr, "bench/detect: %s\n", e.msg);
		exit(1);
	}
	snprintf(what, sizeof(what), "no rules + TI (%zu)", n);
	detect_run(what, plain, NULL, 0, true, m, seconds, t);
	snprintf(what, sizeof(what), "SigmaHQ + TI (%zu)", n);
	detect_run(what, corpus, paths, n_paths, true, m, seconds, t);
	timatch_free(t);
	ti_snapshot_free(s);
}

/* ---- the floor: grep over the applying rules' literals ----------------------------------- */

/* The SigmaHQ directories to load: every one under dir but unsupported/. */
static size_t corpus_paths(const char *dir, char *paths[PATHS_MAX])
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)) && n < PATHS_MAX) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "unsupported"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			paths[n++] = xalloc(mem_strdup(path));
	}
	if (d)
		closedir(d);
	return n;
}

/* The mix's logsources (from its datasets, through the field maps). */
static size_t mix_logsources(const struct fieldmap *map, const struct mix *m,
			     struct sigma_logsource *ls)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_datasets; i++) {
		const char *k[3] = { NULL, NULL, NULL };

		(void)fieldmap_logsource(map, m->datasets[i], strlen(m->datasets[i]), &k[0], &k[1],
					 &k[2]);
		ls[n++] = (struct sigma_logsource){ k[0], k[1], k[2] };
	}
	return n;
}

static bool applies(const struct sigma_rule *r, const struct sigma_logsource *ls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sigma_rule_applies(r, &ls[i]))
			return true;
	return false;
}

/* Writes the literals of the rules that apply to the mix; their count, or -1. */
static long write_literals(const char *path, const struct config *cfg, char *const *paths,
			   size_t n_paths, const struct mix *m)
{
	struct sigma_placeholder ph[256];
	struct fieldmap *map = NULL;
	struct sigma_fields fields = { NULL, fieldmap_resolve };
	struct sigma_options opt = { .fields = &fields, .placeholders = ph,
				     .report = on_report, .report_ctx = &(struct run){ 0 } };
	struct sigma_logsource ls[DATASETS_MAX];
	struct sigma_set *set = NULL;
	struct err e = ERR_INIT;
	size_t n_ls, rules = 0, bare = 0, bare_all = 0;
	long lits = 0;
	FILE *f = NULL;
	int rc;

	for (size_t i = 0; i < cfg->n_detect_placeholders && i < ARRAY_SIZE(ph); i++)
		ph[opt.n_placeholders++] = (struct sigma_placeholder){
			cfg->detect_placeholders[i].name,
			(const char *const *)cfg->detect_placeholders[i].values,
			cfg->detect_placeholders[i].n_values };
	if ((rc = fieldmap_new(&map)) < 0 || (rc = fieldmap_load_bundled(map, &e)) < 0)
		goto fail;
	fields.ctx = map;
	if ((rc = sigma_set_new(&set, &opt)) < 0)
		goto fail;
	for (size_t i = 0; i < n_paths && rc >= 0; i++)
		rc = sigma_set_load_path(set, paths[i], &e);
	if (rc < 0 || (rc = sigma_set_finish(set, &e)) < 0 || !(f = fopen(path, "wb")))
		goto fail;
	n_ls = mix_logsources(map, m, ls);
	for (size_t i = 0; i < sigma_set_size(set); i++) {
		const struct sigma_rule *r = sigma_set_rule(set, i);
		const struct sigma_literal *sl;
		size_t k = sigma_rule_literals(r, &sl);

		bare_all += !k;
		if (!applies(r, ls, n_ls))
			continue;
		rules++;
		bare += !k;
		for (size_t j = 0; j < k; j++)
			if (sl[j].len && !memchr(sl[j].s, '\n', sl[j].len)) {
				fwrite(sl[j].s, 1, sl[j].len, f);
				fputc('\n', f);
				lits++;
			}
	}
	printf("%-28s %zu SigmaHQ rules apply to the mix's %zu logsources (%zu without a "
	       "literal: always evaluated; %zu of all %zu), %ld literals\n",
	       "grep literals", rules, n_ls, bare, bare_all, sigma_set_size(set), lits);
	rc = fclose(f) ? -EIO : 0;
	f = NULL;
fail:
	if (f)
		fclose(f);
	sigma_set_free(set);
	fieldmap_free(map);
	if (rc < 0)
		fprintf(stderr, "bench/detect: literals: %s\n", e.msg[0] ? e.msg : strerror(-rc));
	return rc < 0 ? -1 : lits;
}

/* The mix's raw lines, repeated up to GREP_BYTES, into path; the number of lines. */
static size_t write_lines(const char *path, const struct mix *m)
{
	FILE *f = fopen(path, "wb");
	size_t n = 0;

	for (size_t done = 0; f && done < GREP_BYTES;)
		for (size_t i = 0; i < MIX_SIZE; i++, n++) {
			fwrite(m->msgs[i]->data, 1, m->msgs[i]->len, f);
			fputc('\n', f);
			done += m->msgs[i]->len + 1;
		}
	if (!f || fclose(f))
		return 0;
	return n;
}

static void run_grep(const struct config *cfg, char *const *paths, size_t n_paths,
		     const struct mix *m)
{
	char tmp[] = "/tmp/bench-detect-XXXXXX", lits[64], lines[64], cmd[256], out[64] = "";
	size_t n;
	double t0;
	FILE *p;

	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return;
	}
	snprintf(lits, sizeof(lits), "%s/literals", tmp);
	snprintf(lines, sizeof(lines), "%s/lines", tmp);
	if (write_literals(lits, cfg, paths, n_paths, m) >= 0 && (n = write_lines(lines, m))) {
		snprintf(cmd, sizeof(cmd), "LC_ALL=C grep -F -i -c -f %s %s", lits, lines);
		t0 = children_cpu_s();
		if ((p = popen(cmd, "r"))) {
			if (!fgets(out, sizeof(out), p))
				out[0] = '\0';
			pclose(p);
		}
		printf("%-28s %9.0f lines/s per CPU-second (%zu lines, %ld with a literal)\n",
		       "grep -F -i -f (the floor)", (double)n / (children_cpu_s() - t0), n,
		       strtol(out, NULL, 10));
	}
	unlink(lits);
	unlink(lines);
	rmdir(tmp);
}

/* ---- main ------------------------------------------------------------------------------- */

static bool wanted(const char *only, const char *run)
{
	return !only || !strcmp(only, run);
}

int main(int argc, char **argv)
{
	const char *sigma = "../shared/data/sigma", *dir = "../shared/data/samples",
		   *placeholders = "tests/sigma/corpus-placeholders.yml";
	struct config plain, corpus;
	struct mix *m = xalloc(mem_calloc(1, sizeof(*m)));
	struct err e = ERR_INIT;
	char *paths[PATHS_MAX];
	size_t n_paths;
	double seconds = 3;
	const char *only = NULL;
	size_t indicators = 0;
	int argi = 1;
	const struct tz *tz;

	for (; argi < argc && argv[argi][0] == '-'; argi++) {
		if (!strcmp(argv[argi], "--seconds") && argi + 1 < argc) {
			seconds = atof(argv[++argi]);
		} else if (!strcmp(argv[argi], "--only") && argi + 1 < argc) {
			only = argv[++argi];
		} else if (!strcmp(argv[argi], "--indicators") && argi + 1 < argc) {
			indicators = strtoul(argv[++argi], NULL, 10);
		} else {
			fprintf(stderr, "usage: bench/detect [--seconds S] [--only RUN] "
					"[--indicators N] [SIGMA_DIR [SAMPLES_DIR [PLACEHOLDERS]]]\n");
			return 2;
		}
	}
	if (argi < argc)
		sigma = argv[argi++];
	if (argi < argc)
		dir = argv[argi++];
	if (argi < argc)
		placeholders = argv[argi++];
	if (!(tz = tz_get("UTC", 3, &e)) || mix_build(m, dir, tz) < 0)
		return 0;
	if (!(n_paths = corpus_paths(sigma, paths))) {
		printf("bench/detect: skipped: no rules in %s\n", sigma);
		return 0;
	}
	if (config_defaults(&plain, &e) < 0 || config_load(&corpus, placeholders, &e) < 0 ||
	    decoder_configure(&plain, &e) < 0) {
		fprintf(stderr, "bench/detect: %s\n", e.msg);
		return 1;
	}
	printf("mix: %d messages, %.0f bytes on average (%s):", MIX_SIZE,
	       (double)m->bytes / MIX_SIZE, dir);
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++)
		printf("%s %s %u%%", i ? "," : "", samples[i].what, samples[i].percent);
	printf("\n");
	if (wanted(only, "decode"))
		measure("decode only", &(struct run){ .mix = m }, m, seconds, &plain);
	if (wanted(only, "none"))
		detect_run("no rules", &plain, NULL, 0, true, m, seconds, NULL);
	if (wanted(only, "bundled"))
		detect_run("bundled rules", &plain, NULL, 0, false, m, seconds, NULL);
	if (wanted(only, "sigma"))
		detect_run("SigmaHQ corpus", &corpus, (const char *const *)paths, n_paths, true, m,
			   seconds, NULL);
	if (indicators && wanted(only, "ti"))
		ti_runs(&plain, &corpus, (const char *const *)paths, n_paths, m, seconds,
			indicators);
	if (!only)
		run_grep(&corpus, paths, n_paths, m);
	for (size_t i = 0; i < n_paths; i++)
		mem_free(paths[i]);
	config_release(&plain);
	config_release(&corpus);
	mix_release(m);
	mem_free(m);
	return 0;
}
