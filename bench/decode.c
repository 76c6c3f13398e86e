/*
 * bench/decode - decode rate of one format (parse/decoder.h), without JSON output.
 *
 * Reads FILE whole (one message per line, LF or CRLF, empty lines skipped), then decodes
 * its lines again and again for about S seconds (default 3) of CPU time, each line as the
 * pipeline does it: decoder_pick() (so "auto" pays for its sniffing), split() when the
 * decoder has one and the line is a container (each record one event), else the whole
 * line, each through decoder_decode() (auto's failed guess read again as syslog) into an
 * event on a cleared arena. No event is written as JSON, so the figure is the decoder's
 * alone. Prints one line:
 *
 *   decode FORMAT FILE: L lines/s, E events/s per CPU-second (N lines, F failed, D decoder)
 *
 * With --json every event is also written as koban's ECS JSON (event_write_json, into a
 * buffer that is reset each time): the cost of `koban parse` and of output.file.
 *
 * where "per CPU-second" divides by the user+system time of the process (getrusage), so a
 * loaded machine gives the same figure as an idle one, and F counts lines (or records)
 * whose decoding failed (they still cost their time, as in the pipeline). D is the decoder
 * that decoded the first line (useful with --format auto).
 *
 *   build/release/bench/decode --format F [--seconds S] [--tz ZONE] [-c CONFIG] [--json] FILE
 *
 * CONFIG (default: the built-in defaults) is handed to the decoders' configure().
 *
 * Memory: the file is held in memory (at most FILE_MAX bytes); one arena of ARENA_MAX.
 * Single-threaded.
 */
#include "core/compat.h"


#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "lib/cpu.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/decoder.h"

#define FILE_MAX (512u << 20)
#define ARENA_MAX (16u << 20)
#define NS_PER_S 1000000000LL
#define CLOCK_EVERY 1000 /* lines decoded between two reads of the clock */

struct line {
	const char *p;
	size_t len;
};

struct run {
	unsigned format;         /* the format's id (decoder_find) */
	const struct decoder *d; /* decoder of the current line */
	struct decode_opts o;
	struct arena arena;
	struct event ev;
	struct buf *json; /* --json: each event written here, or NULL */
	unsigned long long events;
	unsigned long long failed;
};

/* FILE's bytes in a fresh buffer (NUL-terminated), or NULL with a message printed. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 1u << 16, n = 0;

	if (!f) {
		fprintf(stderr, "bench/decode: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		char *q;
		size_t got;

		if (!(q = mem_realloc(p, cap + 1)))
			goto fail;
		p = q;
		got = fread(p + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		if (cap >= FILE_MAX) {
			fprintf(stderr, "bench/decode: %s: larger than %u bytes\n", path, FILE_MAX);
			goto fail;
		}
		cap *= 2;
	}
	if (ferror(f)) {
		fprintf(stderr, "bench/decode: %s: read error\n", path);
		goto fail;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
fail:
	fclose(f);
	mem_free(p);
	return NULL;
}

/* The non-empty lines of p[0..len), without LF or CR LF; their count, or 0. */
static size_t split_lines(const char *p, size_t len, struct line **out)
{
	size_t n = 0, cap = 0;
	struct line *v = NULL;

	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t l = nl ? (size_t)(nl - p) : len, next = nl ? l + 1 : l;

		if (l && p[l - 1] == '\r')
			l--;
		if (l) {
			if (n == cap) {
				struct line *w;

				cap = cap ? cap * 2 : 1024;
				if (!(w = mem_realloc(v, cap * sizeof(*v)))) {
					mem_free(v);
					return 0;
				}
				v = w;
			}
			v[n++] = (struct line){ p, l };
		}
		p += next;
		len -= next;
	}
	*out = v;
	return n;
}

/* One record (or the whole line) decoded into an event of its own, as the pipeline does. */
static int decode_one(void *ctx, const char *rec, size_t len)
{
	struct run *r = ctx;
	struct err e = ERR_INIT;

	arena_clear(&r->arena);
	event_init(&r->ev, &r->arena);
	if (decoder_decode(r->format, &r->d, &r->ev, rec, len, &r->o, false, &e) < 0)
		r->failed++;
	if (r->json) {
		buf_reset(r->json);
		if (event_write_json(&r->ev, r->json) < 0)
			r->failed++;
	}
	r->events++;
	return 0;
}

static void decode_line(struct run *r, const struct line *l)
{
	struct err e = ERR_INIT;

	r->d = decoder_pick(r->format, l->p, l->len);
	if (r->d->split && r->d->split(l->p, l->len, decode_one, r, &e) == 0)
		return;
	decode_one(r, l->p, l->len);
}

static int usage(void)
{
	fprintf(stderr, "usage: bench/decode --format F [--seconds S] [--tz ZONE] [-c CONFIG] "
			"[--json] FILE\n"
			"  F: %s\n", decoder_names());
	return 2;
}

int main(int argc, char **argv)
{
	const char *format = NULL, *zone = NULL, *path = NULL, *conf = NULL, *first;
	double seconds = 3, t0, t;
	struct line *lines = NULL;
	struct err e = ERR_INIT;
	struct run r = { 0 };
	struct config cfg;
	struct buf json = BUF_INIT(64u << 20);
	unsigned long long done = 0;
	size_t len = 0, n, passes;
	char *text;
	int id;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--tz") && i + 1 < argc)
			zone = argv[++i];
		else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			conf = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			r.json = &json;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			return usage();
	}
	if (!format || !path || !(seconds > 0))
		return usage();
	if ((id = decoder_check(format, &e)) < 0) {
		fprintf(stderr, "bench/decode: %s\n", e.msg);
		return 2;
	}
	if ((conf ? config_load(&cfg, conf, &e) : config_defaults(&cfg, &e)) < 0 ||
	    decoder_configure(&cfg, &e) < 0) {
		fprintf(stderr, "bench/decode: %s\n", e.msg);
		return 1;
	}
	r.o.tz = tz_local();
	if (zone && !(r.o.tz = tz_get(zone, strlen(zone), &e))) {
		fprintf(stderr, "bench/decode: %s\n", e.msg);
		return 2;
	}
	r.o.received_ns = 1773543600LL * NS_PER_S; /* 2026-03-15: a fixed receive time */
	if (!(text = read_file(path, &len)))
		return 1;
	if (!(n = split_lines(text, len, &lines))) {
		fprintf(stderr, "bench/decode: %s: no lines (or out of memory)\n", path);
		mem_free(text);
		return 1;
	}
	arena_init(&r.arena, 64 * 1024, ARENA_MAX);
	r.format = (unsigned)id;
	decode_line(&r, &lines[0]); /* which decoder the first line ends with */
	first = r.d->name;
	r.events = r.failed = 0;
	/* the clock (a getrusage system call) read every CLOCK_EVERY lines, not every pass:
	 * on a file of 5 lines it cost 4 % of the figure */
	passes = n < CLOCK_EVERY ? CLOCK_EVERY / n : 1;
	t0 = bench_cpu_seconds();
	do {
		for (size_t k = 0; k < passes; k++)
			for (size_t i = 0; i < n; i++)
				decode_line(&r, &lines[i]);
		done += n * passes;
		t = bench_cpu_seconds() - t0;
	} while (t < seconds);
	printf("decode %s %s: %.0f lines/s, %.0f events/s per CPU-second "
	       "(%zu lines, %llu failed, %s decoder)\n",
	       format, path, (double)done / t, (double)r.events / t, n,
	       r.failed / (done / n), first);
	arena_release(&r.arena);
	buf_release(&json);
	config_release(&cfg);
	mem_free(lines);
	mem_free(text);
	return 0;
}
