/*
 * bench/segment - the segment files of the event store (store/segment.h).
 *
 * Generates N PAN-OS-like traffic events (default 2,000,000: 1,000 source IPs, 200 users,
 * the raw syslog line in event.original, two days), writes them into one encrypted segment
 * per day and prints: the write rate (segment_writer_add and finish, generation excluded),
 * bytes per event on disk against the raw line, zstd -19 of a 1% sample of the raw lines
 * for comparison, and the time of a point lookup of one source IP through the inverted
 * index (open every segment, look up, then decode the matching blocks whole, or only the
 * matching rows), median of 3. BENCH_WRITE_ONLY=1 stops after writing, before zstd -19
 * (for perf record).
 *
 *   build/release/bench/segment [EVENTS] [DIR]     (DIR default: a fresh /tmp directory)
 */
#include "core/compat.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "store/keys.h"
#include "store/segment.h"

#include "lib/gen.h"

#define DAY0 20422u
#define BATCH 4096 /* events generated, then written and timed */

static struct event batch[BATCH];

static struct bench_gen g;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	char dir[512], path[700], name[SEGMENT_NAME_MAX], line[2048];
	struct keys_data_key dk;
	struct segment_writer *w = NULL;
	struct err e = ERR_INIT;
	struct arena a;
	size_t raw = 0, sample_len = 0, sample_cap = 0;
	char *sample = NULL;
	double t_write = 0, c_write = 0, t, c;
	long long disk = 0;
	uint32_t day = DAY0, seq = 1, ndays = 0;
	struct bench_row row;
	const char *lookup_ip = "10.2.100.15"; /* source number 600 */

	if (mem_tune() < 0) /* as koban does (core/mem.h) */
		fprintf(stderr, "bench: mem_tune() refused; the allocator's defaults\n");
	if (argc > 2)
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	else
		snprintf(dir, sizeof(dir), "/tmp/koban-bench-segment-%d", (int)getpid());
	mkdir(dir, 0700);
	memset(dk.key, 0x5a, sizeof(dk.key));
	memset(dk.id, 0xa5, sizeof(dk.id));
	if (bench_gen_init(&g, 2, true) < 0)
		return 1;
	arena_init(&a, 8 << 20, 1 << 28);
	for (unsigned long i0 = 0; i0 < n; i0 += BATCH) {
		unsigned long m = n - i0 < BATCH ? n - i0 : BATCH;

		for (unsigned long k = 0; k < m; k++) { /* generation, not timed */
			unsigned long i = i0 + k;
			size_t before = raw;

			bench_gen_event(&g, &batch[k], &a, i, n, line, sizeof(line), &row);
			raw += (size_t)row.len + 1;
			if (i % 100 == 0) { /* a 1% sample of the raw text for zstd -19 */
				size_t l = raw - before;

				if (sample_len + l > sample_cap) {
					sample_cap = (sample_len + l) * 2 + 4096;
					sample = realloc(sample, sample_cap);
					if (!sample)
						return 1;
				}
				memcpy(sample + sample_len, line, l - 1);
				sample[sample_len + l - 1] = '\n';
				sample_len += l;
			}
		}
		t = bench_now_s();
		c = bench_cpu_s();
		for (unsigned long k = 0; k < m; k++) {
			uint32_t d = DAY0 + (uint32_t)((event_get(&batch[k], FIELD_TIMESTAMP)->v.i - BENCH_T0) /
						      BENCH_DAY_NS);

			if (w && d != day) {
				if (segment_writer_finish(w, &e) < 0)
					goto fail;
				segment_writer_free(w);
				w = NULL;
			}
			if (!w) {
				day = d;
				if (segment_writer_open(&w, dir, 1, day, seq, &dk, &e) < 0)
					goto fail;
				ndays++;
			}
			if (segment_writer_add(w, &batch[k], &e) < 0)
				goto fail;
		}
		t_write += bench_now_s() - t;
		c_write += bench_cpu_s() - c;
		arena_clear(&a);
	}
	t = bench_now_s();
	c = bench_cpu_s();
	if (w && segment_writer_finish(w, &e) < 0)
		goto fail;
	segment_writer_free(w);
	w = NULL;
	t_write += bench_now_s() - t;
	c_write += bench_cpu_s() - c;
	for (uint32_t d = DAY0; d < DAY0 + ndays + 1; d++) {
		segment_name(name, d, seq);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		disk += file_size(path);
	}
	printf("segment: %lu events in %u segments, written at %.0f events/s "
	       "(%.0f per CPU-second of the writing thread; zstd level %d, encrypted)\n",
	       n, ndays, (double)n / t_write, (double)n / c_write, SEGMENT_ZSTD_LEVEL);
	printf("segment: %.1f bytes/event on disk, raw %.1f bytes/event: 1/%.1f of raw\n",
	       (double)disk / (double)n, (double)raw / (double)n, (double)raw / (double)disk);
	if (getenv("BENCH_WRITE_ONLY")) /* for profiling the writer: perf record */
		goto out;
	{
		size_t bound = ZSTD_compressBound(sample_len), z;
		char *zb = malloc(bound);

		t = bench_now_s();
		z = zb ? ZSTD_compress(zb, bound, sample, sample_len, 19) : 0;
		if (zb && !ZSTD_isError(z))
			printf("segment: zstd -19 of a 1%% sample of the raw lines: %.1f bytes/event, 1/%.1f of raw (%.1f s)\n",
			       (double)z / ((double)sample_len / ((double)raw / (double)n)),
			       (double)sample_len / (double)z, bench_now_s() - t);
		free(zb);
	}
	{
		double runs[3], idx_runs[3], row_runs[3];
		size_t hits = 0;

		for (int run = 0; run < 6; run++) { /* 3 runs decoding blocks, 3 only the rows */
			bool rows_only = run >= 3;
			struct arena ra;

			arena_init(&ra, 1 << 20, 1 << 30);
			hits = 0;
			if (!rows_only)
				idx_runs[run] = 0;
			t = bench_now_s();
			for (uint32_t d = DAY0; d < DAY0 + ndays; d++) {
				struct segment *s = NULL;
				uint32_t *rows = NULL;
				size_t nr = 0;
				int last = -1;
				double ti = bench_now_s();

				segment_name(name, d, seq);
				snprintf(path, sizeof(path), "%s/%s", dir, name);
				if (segment_open(&s, path, 1, &dk, &e) < 0 ||
				    segment_lookup(s, "source.ip", lookup_ip, strlen(lookup_ip), &rows, &nr, &e) < 0) {
					segment_close(s);
					goto fail;
				}
				if (!rows_only)
					idx_runs[run] += bench_now_s() - ti;
				for (size_t k = 0; k < nr; k++) {
					int b = segment_row_block(s, rows[k]);
					struct segment_block_info bi;
					struct event *evs;
					uint32_t cnt, rel[SEGMENT_BLOCK_EVENTS];
					size_t nrel = 0;
					int rc;

					if (b == last)
						continue;
					last = b;
					arena_clear(&ra);
					segment_block_get_info(s, (unsigned)b, &bi);
					for (size_t q = k; q < nr && rows[q] < bi.first_row + bi.count; q++)
						rel[nrel++] = (uint32_t)(rows[q] - bi.first_row);
					rc = rows_only ? segment_block_read_rows(s, (unsigned)b, rel, nrel, NULL, 0,
										 &ra, &evs, &cnt, &e)
						       : segment_block_read(s, (unsigned)b, NULL, 0, &ra, &evs, &cnt, &e);
					if (rc < 0) {
						mem_free(rows);
						segment_close(s);
						goto fail;
					}
				}
				hits += nr;
				mem_free(rows);
				segment_close(s);
			}
			if (rows_only)
				row_runs[run - 3] = bench_now_s() - t;
			else
				runs[run] = bench_now_s() - t;
			arena_release(&ra);
		}
		qsort(runs, 3, sizeof(runs[0]), cmp_double);
		qsort(idx_runs, 3, sizeof(idx_runs[0]), cmp_double);
		qsort(row_runs, 3, sizeof(row_runs[0]), cmp_double);
		printf("segment: point lookup source.ip: %s over all segments: %zu rows from the index "
		       "in %.3f s; with their blocks decoded to events %.3f s; only those rows decoded "
		       "(segment_block_read_rows) %.3f s (median of 3)\n",
		       lookup_ip, hits, idx_runs[1], runs[1], row_runs[1]);
	}
out:
	if (argc <= 2) {
		for (uint32_t d = DAY0; d < DAY0 + ndays + 1; d++) {
			segment_name(name, d, seq);
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			unlink(path);
		}
		rmdir(dir);
	}
	free(sample);
	arena_release(&a);
	return 0;
fail:
	fprintf(stderr, "segment: %s\n", e.msg);
	segment_writer_free(w);
	return 1;
}
