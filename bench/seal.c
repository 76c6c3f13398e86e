/*
 * bench/seal [--json] [--lanes N] [EVENTS] - the sealer's rate: firewall-like ECS events
 * sealed into WAL records (1,000 events each, two shards, two tenants, three days) as the sink writes them
 * (binary event batches, store/evcodec.h; --json: ECS JSON lines, the payload before
 * them), then (a) a search of them all while they are only in the WAL (`| stats count()`,
 * the unsealed-tail path of store_search) and (b) seal_start + seal_now: WAL files -> unseal
 * -> decode -> segments -> commit.
 * Prints events/s of wall time and per CPU-second of the process. --lanes N: the sealer's
 * lanes (seal_start_files; default 1, the sealer's own thread): with 2, each tenant is sealed
 * on a thread of its own.
 */
#include "store/seal.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "store/evcodec.h"
#include "store/keys.h"
#include "store/store.h"
#include "store/wal.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINES 1000
#define T0 INT64_C(1796083200000000000) /* 2026-12-01T00:00:00Z */

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static int die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench/seal: %s: %s\n", what, e->msg);
	return 1;
}

static int on_row(void *ctx, const struct agg_row *row)
{
	return 0;
}

static int on_event(void *ctx, const struct event *ev)
{
	return 0;
}

int main(int argc, char **argv)
{
	int json = 0;
	unsigned lanes = 1;
	long n = 500000;
	struct evcodec_writer ew;
	struct buf batch = BUF_INIT(1 << 22);
	struct arena a;
	uint64_t payload = 0;
	char dir[] = "/tmp/koban-bench-seal-XXXXXX", path[256];
	struct keys_data_key dk[2];
	struct buf lines = BUF_INIT(1 << 22);
	struct store_search_stats ss;
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct store *sto = NULL;
	struct keys *k = NULL;
	struct seal *s = NULL;
	struct wal *w = NULL;
	unsigned char *sealed = mem_alloc((1 << 22) + KEYS_SEAL_OVERHEAD);
	uint64_t lsn = 0, raw = 0;
	double w0, c0, w1, c1;
	int rc = 1;

	if (mem_tune() < 0) /* as koban does (core/mem.h) */
		fprintf(stderr, "bench: mem_tune() refused; the allocator's defaults\n");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--lanes") && i + 1 < argc)
			lanes = (unsigned)atoi(argv[++i]);
		else
			n = atol(argv[i]);
	}
	if (!mkdtemp(dir) || !sealed)
		return 1;
	evcodec_writer_init(&ew);
	arena_init(&a, 1 << 16, 1 << 24);
	snprintf(path, sizeof(path), "%s/keys", dir);
	if (keys_open(&k, path, KEYS_CREATE, &e) || keys_tenant(k, 1, true, &dk[0], &e) ||
	    keys_tenant(k, 2, true, &dk[1], &e)) {
		rc = die("keys", &e);
		goto done;
	}
	snprintf(path, sizeof(path), "%s/wal", dir);
	{
		struct wal_config c = { .dir = path, .shards = 2, .commit_interval_ms = 50 };

		if (wal_open(&w, &c, &e)) {
			rc = die("wal", &e);
			goto done;
		}
	}
	for (long i = 0; i < n;) {
		unsigned t = (unsigned)(i / LINES) % 2;
		uint32_t cnt = 0;

		buf_reset(&lines);
		for (int l = 0; l < LINES && i < n; l++, i++, cnt++) {
			char when[TIME_RFC3339_LEN];
			int64_t ts = T0 + (i * 3 % (3 * 86400)) * NS_PER_SEC;

			time_format_rfc3339(ts, when);
			buf_addf(&lines, "{\"@timestamp\":\"%s\",\"event\":{\"action\":\"%s\","
				 "\"original\":\"<14>1 %s fw01 - - - 1,%s,012801000001,TRAFFIC,end,"
				 "10.0.%ld.%ld,203.0.113.%ld,%ld,%d,tcp,%s,web-browsing\"},"
				 "\"source\":{\"ip\":\"10.0.%ld.%ld\",\"port\":%ld},\"destination\":"
				 "{\"ip\":\"203.0.113.%ld\",\"port\":%d},\"network\":{\"transport\":"
				 "\"tcp\"}}\n", when, i % 7 ? "allow" : "deny", when, when, i % 4,
				 i % 250, i % 50, 1024 + i % 60000, i % 3 ? 443 : 80,
				 i % 7 ? "allow" : "deny", i % 4, i % 250, 1024 + i % 60000, i % 50,
				 i % 3 ? 443 : 80);
		}
		raw += lines.len;
		if (!json) { /* the lines as the sink encodes the pipeline's events */
			const char *p = lines.p, *end = p + lines.len;

			buf_reset(&batch);
			evcodec_begin(&ew, &batch);
			while (p < end) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				struct event ev;

				arena_clear(&a);
				event_init(&ev, &a);
				if (ecs_decode(&ev, p, (size_t)(nl - p), &e) ||
				    evcodec_add(&ew, &batch, &ev)) {
					rc = die("encode", &e);
					goto done;
				}
				p = nl + 1;
			}
			evcodec_finish(&ew, &batch);
		}
		payload += json ? lines.len : batch.len;
		keys_seal(&dk[t], WAL_SEAL_BLOCK_ID, json ? lines.p : batch.p,
			  json ? lines.len : batch.len, sealed);
		if (wal_append(w, t, t + 1, cnt,
			       json ? WAL_FLAG_SEALED : WAL_FLAG_SEALED | WAL_FLAG_EVCODEC, sealed,
			       (json ? lines.len : batch.len) + KEYS_SEAL_OVERHEAD, &lsn, &e)) {
			rc = die("append", &e);
			goto done;
		}
	}
	wal_close(w); /* commits everything */
	w = NULL;
	printf("WAL payload: %s, %.0f bytes per event (ECS JSON: %.0f)\n",
	       json ? "ECS JSON lines" : "binary event batches", (double)payload / (double)n,
	       (double)raw / (double)n);
	{
		struct wal_config c = { .dir = path, .shards = 2, .commit_interval_ms = 50 };

		if (wal_open(&w, &c, &e)) {
			rc = die("wal", &e);
			goto done;
		}
	}
	if (store_open(&sto, dir, &e)) {
		rc = die("store", &e);
		goto done;
	}
	{
		struct store_search q = { .tenant = 1, .query = "| stats count()", .query_len = 15,
					  .from = INT64_MIN, .to = INT64_MAX, .now = T0,
					  .who = "bench", .event_fn = on_event, .row_fn = on_row };

		w0 = now_s(CLOCK_MONOTONIC);
		c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
		if (store_search(sto, &q, &ss, &e)) {
			rc = die("search", &e);
			goto done;
		}
		w1 = now_s(CLOCK_MONOTONIC);
		c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
		printf("search of the unsealed WAL tail (tenant 1 of 2, %llu events): %.2f s, "
		       "%.0f events/s\n", (unsigned long long)ss.events_read, w1 - w0,
		       (double)ss.events_read / (w1 - w0));
		q.query = "source.ip: 10.0.1.7 | stats count()";
		q.query_len = strlen(q.query);
		w0 = now_s(CLOCK_MONOTONIC);
		if (store_search(sto, &q, &ss, &e)) {
			rc = die("search", &e);
			goto done;
		}
		w1 = now_s(CLOCK_MONOTONIC);
		printf("one source IP over the same tail (%llu matches): %.2f s\n",
		       (unsigned long long)ss.matched, w1 - w0);
	}
	w0 = now_s(CLOCK_MONOTONIC);
	c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	if (seal_start_files(&s, dir, NULL, w, lanes, &e) || seal_now(s, &e)) {
		rc = die("seal", &e);
		goto done;
	}
	seal_stats(s, &st);
	w1 = now_s(CLOCK_MONOTONIC);
	c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	printf("sealed %llu events (%.0f raw MB of ECS JSON) into %llu segments, %u lane(s): "
	       "%.2f s wall, %.2f CPU s: %.0f events/s, %.0f events per CPU-second\n",
	       (unsigned long long)st.sealed_events, (double)raw / 1e6,
	       (unsigned long long)st.sealed_segments, lanes, w1 - w0, c1 - c0,
	       (double)st.sealed_events / (w1 - w0), (double)st.sealed_events / (c1 - c0));
	rc = st.sealed_events == (uint64_t)n ? 0 : 1;
done:
	seal_stop(s);
	wal_close(w);
	store_close(sto);
	keys_close(k);
	mem_free(sealed);
	buf_release(&lines);
	buf_release(&batch);
	evcodec_writer_release(&ew);
	arena_release(&a);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
