/*
 * bench/segment - the segment files of the event store (store/segment.h).
 *
 * Generates N PAN-OS-like traffic events (default 2,000,000: 1,000 source IPs, 200 users,
 * the raw syslog line in event.original, two days), writes them into one encrypted segment
 * per day and prints: the write rate (segment_writer_add and finish, generation excluded),
 * bytes per event on disk against the raw line, zstd -19 of a 1% sample of the raw lines
 * for comparison, and the time of a point lookup of one source IP through the inverted
 * index (open every segment, look up, decode the matching blocks), median of 3.
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

#define T0 1764460800000000000LL /* 2025-11-30T00:00:00Z */
#define DAY0 20422u
#define DAY_NS 86400000000000LL
#define BATCH 4096 /* events generated, then written and timed */

static struct event batch[BATCH];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static const char *const apps[] = { "ssl", "web-browsing", "dns", "ssh", "ms-rdp", "smtp",
				    "google-base", "office365-base", "ntp", "incomplete" };
static const char *const rules[] = { "allow-web", "allow-dns", "deny-all", "allow-mgmt",
				     "allow-mail", "block-tor" };
static const int ports[] = { 443, 80, 53, 22, 3389, 25, 123, 8080, 445, 993 };
static int f_app, f_session, f_from, f_to, f_packets, f_elapsed, f_serial, f_category;

static void gen(struct event *ev, struct arena *a, unsigned long i, unsigned long n,
		size_t *raw_len, char *line, size_t line_size)
{
	uint64_t r = mix(i), r2 = mix(r);
	unsigned s = (unsigned)(r % 1000), user = (unsigned)((r >> 10) % 200);
	const char *action = (r >> 20) % 10 < 8 ? "allow" : (r >> 20) % 10 == 8 ? "deny" : "drop";
	const char *app = apps[(r >> 24) % 10], *rule = rules[(r >> 28) % 6];
	int sport = 1024 + (int)((r >> 32) % 64000), dport = ports[(r >> 48) % 10];
	int natport = 1024 + (int)(r2 % 64000);
	int64_t ts = T0 + (int64_t)((double)i / (double)n * 2 * DAY_NS) +
		     (int64_t)(r2 >> 40) % 2000000000LL; /* up to 2 s out of order */
	long long bytes = (long long)(r2 % 200000), packets = (long long)(r2 % 300) + 1;
	unsigned long long session = 100000 + i;
	char src[24], dst[24], nat[24], usr[32], tsbuf[32];
	struct ipaddr ip;
	time_t secs = (time_t)(ts / 1000000000);
	struct tm tm;
	int len;

	ts = (int64_t)secs * 1000000000; /* what a parser reads from the line: whole seconds */

	snprintf(src, sizeof(src), "10.%u.%u.%u", s / 250, s % 250, 10 + s % 7);
	snprintf(dst, sizeof(dst), "%u.%u.%u.%u", 23 + (unsigned)((r2 >> 8) % 180),
		 (unsigned)((r2 >> 16) % 256), (unsigned)((r2 >> 24) % 64), (unsigned)((r2 >> 32) % 256));
	snprintf(nat, sizeof(nat), "198.51.100.%u", 1 + (unsigned)(r % 4));
	snprintf(usr, sizeof(usr), "corp\\user%03u", user);
	gmtime_r(&secs, &tm);
	strftime(tsbuf, sizeof(tsbuf), "%Y/%m/%d %H:%M:%S", &tm);
	len = snprintf(line, line_size,
		       "<14>%s fw-tokyo-01 1,%s,013201004321,TRAFFIC,end,2561,%s,%s,%s,%s,0.0.0.0,%s,"
		       "%s,,%s,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Log-Forwarding,%s,%llu,1,"
		       "%d,%d,%d,0,0x400053,tcp,%s,%lld,%lld,%lld,%lld,,%s,0,%llu,0x0,10.0.0.0-10.255.255.255,"
		       "United States,0,%lld,%lld,aged-out,0,0,0,0,,fw-tokyo-01,from-policy,,,0,,0,,N/A,0,0,0,0",
		       tsbuf, tsbuf, tsbuf, src, dst, nat, rule, (r & 3) ? usr : "", app, tsbuf,
		       session, sport, dport, natport, action, bytes + 100, bytes / 3 + 50,
		       bytes * 2 / 3 + 50, (long long)(r2 % 600), app,
		       (unsigned long long)(r2 >> 12) % 100000000ull, packets / 2 + 1, packets / 2);
	if (len < 0 || (size_t)len >= line_size)
		len = (int)line_size - 1;
	*raw_len += (size_t)len + 1;

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, ts);
	event_set_str(ev, FIELD_OBSERVER_VENDOR, "Palo Alto Networks", 18);
	event_set_str(ev, FIELD_OBSERVER_PRODUCT, "PAN-OS", 6);
	event_set_str(ev, FIELD_HOST_NAME, "fw-tokyo-01", 11);
	event_set_str(ev, (unsigned)f_serial, "013201004321", 12);
	event_set_str(ev, FIELD_EVENT_KIND, "event", 5);
	event_set_str(ev, (unsigned)f_category, "network", 7);
	event_set_str(ev, FIELD_EVENT_ACTION, action, strlen(action));
	event_set_str(ev, FIELD_EVENT_OUTCOME, action[0] == 'a' ? "success" : "failure", 7);
	ipaddr_parse(&ip, src, strlen(src));
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	event_set_int(ev, FIELD_SOURCE_PORT, sport);
	ipaddr_parse(&ip, dst, strlen(dst));
	event_set_ip(ev, FIELD_DESTINATION_IP, &ip);
	event_set_int(ev, FIELD_DESTINATION_PORT, dport);
	ipaddr_parse(&ip, nat, strlen(nat));
	event_set_ip(ev, FIELD_SOURCE_NAT_IP, &ip);
	event_set_int(ev, FIELD_SOURCE_NAT_PORT, natport);
	event_set_str(ev, FIELD_NETWORK_TRANSPORT, "tcp", 3);
	event_set_int(ev, FIELD_NETWORK_BYTES, bytes + 100);
	event_set_str(ev, FIELD_RULE_NAME, rule, strlen(rule));
	if (r & 3)
		event_set_strdup(ev, FIELD_USER_NAME, usr, strlen(usr));
	event_set_str(ev, (unsigned)f_app, app, strlen(app));
	event_set_int(ev, (unsigned)f_session, (int64_t)session);
	event_set_str(ev, (unsigned)f_from, "trust", 5);
	event_set_str(ev, (unsigned)f_to, "untrust", 7);
	event_set_int(ev, (unsigned)f_packets, packets);
	event_set_int(ev, (unsigned)f_elapsed, (int64_t)(r2 % 600));
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)len);
}

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
	const char *lookup_ip = "10.2.100.15"; /* source number 600 */

	if (argc > 2)
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	else
		snprintf(dir, sizeof(dir), "/tmp/koban-bench-segment-%d", (int)getpid());
	mkdir(dir, 0700);
	memset(dk.key, 0x5a, sizeof(dk.key));
	memset(dk.id, 0xa5, sizeof(dk.id));
	f_app = field_intern("panos.app", 9, FT_STR);
	f_session = field_intern("panos.session_id", 16, FT_INT);
	f_from = field_intern("panos.from_zone", 15, FT_STR);
	f_to = field_intern("panos.to_zone", 13, FT_STR);
	f_packets = field_intern("panos.packets", 13, FT_INT);
	f_elapsed = field_intern("panos.elapsed", 13, FT_INT);
	f_serial = field_intern("observer.serial_number", 22, FT_STR);
	f_category = field_intern("event.category", 14, FT_STR);
	arena_init(&a, 8 << 20, 1 << 28);
	for (unsigned long i0 = 0; i0 < n; i0 += BATCH) {
		unsigned long m = n - i0 < BATCH ? n - i0 : BATCH;

		for (unsigned long k = 0; k < m; k++) { /* generation, not timed */
			unsigned long i = i0 + k;
			size_t before = raw;

			gen(&batch[k], &a, i, n, &raw, line, sizeof(line));
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
		t = now_s();
		c = cpu_s();
		for (unsigned long k = 0; k < m; k++) {
			uint32_t d = DAY0 + (uint32_t)((event_get(&batch[k], FIELD_TIMESTAMP)->v.i - T0) /
						      DAY_NS);

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
		t_write += now_s() - t;
		c_write += cpu_s() - c;
		arena_clear(&a);
	}
	t = now_s();
	c = cpu_s();
	if (w && segment_writer_finish(w, &e) < 0)
		goto fail;
	segment_writer_free(w);
	w = NULL;
	t_write += now_s() - t;
	c_write += cpu_s() - c;
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
	{
		size_t bound = ZSTD_compressBound(sample_len), z;
		char *zb = malloc(bound);

		t = now_s();
		z = zb ? ZSTD_compress(zb, bound, sample, sample_len, 19) : 0;
		if (zb && !ZSTD_isError(z))
			printf("segment: zstd -19 of a 1%% sample of the raw lines: %.1f bytes/event, 1/%.1f of raw (%.1f s)\n",
			       (double)z / ((double)sample_len / ((double)raw / (double)n)),
			       (double)sample_len / (double)z, now_s() - t);
		free(zb);
	}
	if (getenv("BENCH_WRITE_ONLY")) /* for profiling the writer: perf record */
		goto out;
	{
		double runs[3], idx_runs[3];
		size_t hits = 0;

		for (int run = 0; run < 3; run++) {
			struct arena ra;

			arena_init(&ra, 1 << 20, 1 << 30);
			hits = 0;
			idx_runs[run] = 0;
			t = now_s();
			for (uint32_t d = DAY0; d < DAY0 + ndays; d++) {
				struct segment *s = NULL;
				uint32_t *rows = NULL;
				size_t nr = 0;
				int last = -1;
				double ti = now_s();

				segment_name(name, d, seq);
				snprintf(path, sizeof(path), "%s/%s", dir, name);
				if (segment_open(&s, path, 1, &dk, &e) < 0 ||
				    segment_lookup(s, "source.ip", lookup_ip, strlen(lookup_ip), &rows, &nr, &e) < 0) {
					segment_close(s);
					goto fail;
				}
				idx_runs[run] += now_s() - ti;
				for (size_t k = 0; k < nr; k++) {
					int b = segment_row_block(s, rows[k]);
					struct event *evs;
					uint32_t cnt;

					if (b == last)
						continue;
					last = b;
					arena_clear(&ra);
					if (segment_block_read(s, (unsigned)b, NULL, 0, &ra, &evs, &cnt, &e) < 0) {
						mem_free(rows);
						segment_close(s);
						goto fail;
					}
				}
				hits += nr;
				mem_free(rows);
				segment_close(s);
			}
			runs[run] = now_s() - t;
			arena_release(&ra);
		}
		qsort(runs, 3, sizeof(runs[0]), cmp_double);
		qsort(idx_runs, 3, sizeof(idx_runs[0]), cmp_double);
		printf("segment: point lookup source.ip: %s over all segments: %zu rows from the index "
		       "in %.3f s; with their blocks decoded to events %.3f s (median of 3)\n",
		       lookup_ip, hits, idx_runs[1], runs[1]);
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
