/*
 * bench/store - the event store as a whole (store/store.h, store/wal.h), and its search
 * against SQLite and `zstdcat | grep -F` on the same data, in the same run.
 *
 * Generates N PAN-OS-like TRAFFIC events (default 2,000,000; --large: 10,000,000) with the
 * raw syslog line in event.original, 1,000 source IPs, 200 users, two tenants (every other
 * event, about half each), four days, and prints:
 *   - the store's write rate from parsed events: per batch of 1,000 events of a tenant,
 *     the events encoded, sealed with the tenant's data key and appended to the WAL (group
 *     commit every 50 ms by its commit thread), and imported into encrypted per-day segments
 *     (store_import_*), each tenant by a thread of its own as the sealer's lanes do
 *     (store/seal.h), on its own WAL shard and store handle; the wall time of those two
 *     threads, and per CPU-second of the two; generation excluded (timed per 8,000 events);
 *   - the rate of `koban ingest --format ecs` (the real binary, its own data directory) on
 *     the second tenant's events as ECS JSON lines;
 *   - bytes per event of the whole data directory (WAL checkpointed), against the raw lines
 *     and against `zstd -19` of a 10% sample of them;
 *   - the latency of four searches of the first tenant, median of 3, with koban
 *     (store_search, every result handed to a callback) and with SQLite (one table of the
 *     same tenant's events, an index on each queried field, FTS5 on the raw line; every
 *     result row fetched) and, for the phrase, `zstdcat FILE | grep -F` of the tenant's raw
 *     lines (zstd -3):
 *       (a) source.ip: ONE_IP                     over all data
 *       (b) stats count() by destination.port | sort -count | head 10   over one day
 *       (c) "PHRASE"                              over all data
 *       (d) timechart span=1h count() by event.action   over all data
 *
 *   build/release/bench/store [--large] [--events N] [--koban BIN] [--dir DIR] [--keep]
 *   --no-zstd skips the zstd -19 figure (a minute): for quick comparisons, not for the docs.
 *   build/release/bench/store --search-only --dir DIR   (the searches again, on DIR kept
 *                                                        by an earlier --keep run)
 *
 * It needs about 2.5 GB free in /tmp (12 GB with --large): the SQLite database, the ECS
 * file for ingest and the raw lines are kept until the end. Without --koban the ingest
 * figure is skipped. DIR (default: a fresh /tmp directory) is
 * removed at the end unless --keep or --dir.
 */
#include "core/compat.h"

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "store/agg.h"
#include "store/evcodec.h"
#include "store/keys.h"
#include "store/store.h"
#include "store/wal.h"

#include "lib/gen.h"

#define DAYS 4
#define BATCH 1000
#define RUNS 3
#define LOOKUP_IP "10.2.100.15"        /* source number 600 */
#define PHRASE "user042,,ms-rdp"       /* a user, an empty field, an application */

#define CHUNK (8 * BATCH) /* events generated, then written by the two threads at once */

static struct bench_gen g;
static struct event gen[CHUNK];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp_double);
	return v[RUNS / 2];
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	if (flag == FTW_F)
		du_total += (uint64_t)sb->st_size;
	return 0;
}

static uint64_t du(const char *dir)
{
	du_total = 0;
	nftw(dir, du_one, 16, FTW_PHYS);
	return du_total;
}

static long long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path);
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "store: %s: %s\n", what, msg);
	exit(1);
}

/* ---- the write side: WAL + segments for both tenants ---- */

struct tenant_batch {
	uint64_t id;
	struct keys_data_key dk;
	struct store_import *imp;
	struct evcodec_writer ew;
	struct buf batch; /* one evcodec batch, as the serve sink writes it */
	struct buf sealed;
	uint32_t count;
	unsigned shard;
	uint64_t lsn;
};

static void flush_batch(struct wal *w, struct tenant_batch *tb)
{
	struct err e = ERR_INIT;
	size_t need;

	if (!tb->count)
		return;
	if (evcodec_finish(&tb->ew, &tb->batch) < 0)
		die("evcodec", "cannot finish a batch");
	need = tb->batch.len + KEYS_SEAL_OVERHEAD;
	buf_reset(&tb->sealed);
	if (buf_grow(&tb->sealed, need) < 0)
		die("seal", "out of memory");
	if (keys_seal(&tb->dk, WAL_SEAL_BLOCK_ID, tb->batch.p, tb->batch.len,
		      (unsigned char *)tb->sealed.p) < 0)
		die("seal", "keys_seal failed");
	if (wal_append(w, tb->shard, tb->id, tb->count, WAL_FLAG_SEALED | WAL_FLAG_EVCODEC,
		       tb->sealed.p, need, &tb->lsn, &e) < 0)
		die("wal", e.msg);
	buf_reset(&tb->batch);
	tb->count = 0;
}

/* ev into its tenant's WAL batch (a record of BATCH events). */
static void add_to_batch(struct wal *w, struct tenant_batch *tb, const struct event *ev)
{
	if (!tb->count && evcodec_begin(&tb->ew, &tb->batch) < 0)
		die("evcodec", "cannot begin a batch");
	if (evcodec_add(&tb->ew, &tb->batch, ev) < 0)
		die("evcodec", "cannot encode an event");
	if (++tb->count == BATCH)
		flush_batch(w, tb);
}

/*
 * A writer thread: the events of one tenant (every other one) of gen[lo..hi] into its WAL
 * batches and its import, per chunk between two barriers; at the end (final) its last
 * batch, its segments and the wait for its last commit.
 */
struct writer {
	pthread_t thread;
	unsigned id; /* 0 or 1: events i with (i & 1) == id */
	struct wal *w;
	struct tenant_batch *tb;
	unsigned long lo, hi;
	bool final, quit;
	double cpu; /* CPU seconds of the thread in the timed stretches */
	struct store_import_stats is;
};

static pthread_barrier_t chunk_start, chunk_end;

static void writer_chunk(struct writer *wr)
{
	struct err e = ERR_INIT;

	for (unsigned long j = wr->lo; j <= wr->hi; j++) {
		if ((j & 1) != wr->id)
			continue;
		add_to_batch(wr->w, wr->tb, &gen[j % CHUNK]);
		if (store_import_add(wr->tb->imp, &gen[j % CHUNK], &e) < 0)
			die("import", e.msg);
	}
	if (!wr->final)
		return;
	flush_batch(wr->w, wr->tb);
	if (store_import_finish(wr->tb->imp, &wr->is, &e) < 0)
		die("import", e.msg);
	if (wal_wait_durable(wr->w, wr->tb->shard, wr->tb->lsn, -1) < 0)
		die("wal", "commit failed");
}

static void *writer_main(void *arg)
{
	struct writer *wr = arg;

	for (;;) {
		double c;

		pthread_barrier_wait(&chunk_start);
		if (wr->quit)
			return NULL;
		c = bench_cpu_s();
		writer_chunk(wr);
		wr->cpu += bench_cpu_s() - c;
		pthread_barrier_wait(&chunk_end);
	}
}

/* Writes gen's events lo..hi with both writers; returns the wall time it took. */
static double write_chunk(struct writer *wr, unsigned long lo, unsigned long hi, bool final)
{
	double t = bench_now_s();

	for (int i = 0; i < 2; i++) {
		wr[i].lo = lo;
		wr[i].hi = hi;
		wr[i].final = final;
	}
	pthread_barrier_wait(&chunk_start);
	pthread_barrier_wait(&chunk_end);
	return bench_now_s() - t;
}

/* ---- SQLite ---- */

static void sql_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(sql, msg ? msg : "?");
}

static sqlite3_stmt *sql_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(db));
	return st;
}

/* Runs st to the end, reading every column of every row; returns the row count. */
static uint64_t sql_rows(sqlite3_stmt *st)
{
	uint64_t rows = 0, sink = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int n = sqlite3_column_count(st);

		for (int c = 0; c < n; c++) {
			if (sqlite3_column_type(st, c) == SQLITE_TEXT)
				sink += (uint64_t)sqlite3_column_bytes(st, c);
			else
				sink += (uint64_t)sqlite3_column_int64(st, c);
		}
		rows++;
	}
	if (rc != SQLITE_DONE)
		die("sqlite", sqlite3_errmsg(sqlite3_db_handle(st)));
	sqlite3_reset(st);
	(void)sink;
	return rows;
}

/* ---- koban's searches ---- */

struct results {
	uint64_t events, rows, bytes;
	struct buf tmp;
};

static int on_event(void *ctx, const struct event *ev)
{
	struct results *r = ctx;

	r->events++;
	r->bytes += ev->n;
	return 0;
}

static int on_row(void *ctx, const struct agg_row *row)
{
	struct results *r = ctx;

	r->rows++;
	buf_reset(&r->tmp);
	return agg_row_write_json(row, &r->tmp);
}

static double koban_query(struct store *st, uint64_t tenant, const char *q, int64_t from,
			  int64_t to, uint64_t *count, struct store_search_stats *stats, double *cpu)
{
	struct results res = { 0 };
	struct store_search s = { .tenant = tenant, .query = q, .query_len = strlen(q),
				  .from = from, .to = to, .now = BENCH_T0, .who = "bench",
				  .event_fn = on_event, .row_fn = on_row, .ctx = &res };
	struct err e = ERR_INIT;
	double t;

	buf_init(&res.tmp, 1 << 20);
	*cpu = bench_proc_cpu_s();
	t = bench_now_s();
	if (store_search(st, &s, stats, &e) < 0)
		die(q, e.msg);
	t = bench_now_s() - t;
	*cpu = bench_proc_cpu_s() - *cpu;
	buf_release(&res.tmp);
	*count = res.events + res.rows;
	return t;
}

static double run_shell(const char *cmd, char *out, size_t out_size)
{
	double t = bench_now_s();
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	if (!p)
		die(cmd, strerror(errno));
	while (n + 1 < out_size && fgets(out + n, (int)(out_size - n), p))
		n += strlen(out + n);
	out[n] = '\0';
	if (pclose(p) != 0)
		die(cmd, "failed");
	return bench_now_s() - t;
}

int main(int argc, char **argv)
{
	unsigned long n = 2000000;
	const char *koban = NULL, *dir_arg = NULL;
	bool keep = false, search_only = false, no_zstd = false;
	char dir[512], data[600], path[700], line[2048], cmd[2048], out[256];
	struct store *st = NULL, *st2 = NULL; /* st2: the second writer's */
	struct writer wr[2];
	struct wal *w = NULL;
	struct err e = ERR_INIT;
	struct tenant_batch tb[2];
	struct arena a;
	struct bench_row row;
	char *sample = NULL;
	size_t raw = 0, sample_len = 0, sample_cap = 0;
	unsigned long n1 = 0, n2 = 0;
	double t_write = 0, c_write = 0, t, c;
	FILE *raw_f, *ecs_f;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins;
	struct wal_stats ws;
	struct store_import_stats is[2];
	struct buf json;

	if (mem_tune() < 0) /* as koban does (core/mem.h) */
		fprintf(stderr, "bench: mem_tune() refused; the allocator's defaults\n");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--large"))
			n = 10000000;
		else if (!strcmp(argv[i], "--events") && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--koban") && i + 1 < argc)
			koban = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir_arg = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = true;
		else if (!strcmp(argv[i], "--no-zstd"))
			no_zstd = true;
		else if (!strcmp(argv[i], "--search-only"))
			search_only = true;
		else
			die(argv[i], "usage: store [--large] [--events N] [--koban BIN] [--dir DIR] [--no-zstd] "
				     "[--keep] [--search-only]");
	}
	if (dir_arg)
		snprintf(dir, sizeof(dir), "%s", dir_arg);
	else
		snprintf(dir, sizeof(dir), "/tmp/koban-bench-store-%d", (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		die(dir, strerror(errno));
	snprintf(data, sizeof(data), "%s/data", dir);
	buf_init(&json, 1 << 20);
	arena_init(&a, 1 << 16, 1 << 24);
	for (int i = 0; i < 2; i++) {
		memset(&tb[i], 0, sizeof(tb[i]));
		evcodec_writer_init(&tb[i].ew);
		buf_init(&tb[i].batch, WAL_MAX_PAYLOAD);
		buf_init(&tb[i].sealed, WAL_MAX_PAYLOAD);
	}
	if (search_only) {
		if (!dir_arg)
			die("--search-only", "needs --dir DIR of a run with --keep");
		snprintf(path, sizeof(path), "%s/tenant1.sqlite", dir);
		if (store_open(&st, data, &e) < 0)
			die("store", e.msg);
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
			die(path, "cannot open");
		snprintf(path, sizeof(path), "%s/tenant1.log", dir);
		goto search;
	}
	/* @timestamp in whole seconds, as the PAN-OS decoder reads it from the line's times */
	if (bench_gen_init(&g, DAYS, true) < 0)
		die("fields", "cannot register the PAN-OS fields");

	/* the store: keys, WAL (one shard per tenant here), an import per tenant */
	{
		struct wal_config wc = { .shards = 2, .commit_interval_ms = 50 };

		if (store_open(&st, data, &e) < 0 || store_open(&st2, data, &e) < 0)
			die("store", e.msg);
		snprintf(path, sizeof(path), "%s/wal", data);
		wc.dir = path;
		if (wal_open(&w, &wc, &e) < 0)
			die("wal", e.msg);
	}
	{
		struct keys *k;

		snprintf(path, sizeof(path), "%s/keys", data);
		if (keys_open(&k, path, KEYS_READ, &e) < 0)
			die("keys", e.msg);
		for (int i = 0; i < 2; i++) {
			tb[i].id = (uint64_t)i + 1;
			tb[i].shard = (unsigned)i;
			if (keys_tenant(k, tb[i].id, true, &tb[i].dk, &e) < 0 ||
			    store_import_begin(i ? st2 : st, tb[i].id, &tb[i].imp, &e) < 0)
				die("tenant", e.msg);
		}
		keys_close(k);
	}
	if (pthread_barrier_init(&chunk_start, NULL, 3) || pthread_barrier_init(&chunk_end, NULL, 3))
		die("threads", "no barrier");
	for (unsigned i = 0; i < 2; i++) {
		wr[i] = (struct writer){ .id = i, .w = w, .tb = &tb[i] };
		if (pthread_create(&wr[i].thread, NULL, writer_main, &wr[i]))
			die("threads", "cannot start a writer");
	}
	snprintf(path, sizeof(path), "%s/tenant1.log", dir);
	raw_f = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/tenant2.ecs", dir);
	ecs_f = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/tenant1.sqlite", dir);
	unlink(path);
	if (!raw_f || !ecs_f || sqlite3_open(path, &db) != SQLITE_OK)
		die(dir, "cannot create the benchmark's files");
	sql_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
		     "CREATE TABLE ev(id INTEGER PRIMARY KEY, ts INTEGER, source_ip TEXT,"
		     " source_port INTEGER, destination_ip TEXT, destination_port INTEGER,"
		     " action TEXT, user_name TEXT, app TEXT, rule TEXT, bytes INTEGER,"
		     " original TEXT); BEGIN");
	ins = sql_prepare(db, "INSERT INTO ev(ts, source_ip, source_port, destination_ip,"
			      " destination_port, action, user_name, app, rule, bytes, original)"
			      " VALUES (?,?,?,?,?,?,?,?,?,?,?)");

	printf("store: generating %lu PAN-OS-like events, 2 tenants, %d days, into %s\n", n, DAYS,
	       dir);
	fflush(stdout);
	for (unsigned long i = 0; i < n; i++) {
		struct event *ev = &gen[i % CHUNK];

		bench_gen_event(&g, ev, &a, i, n, line, sizeof(line), &row);
		raw += (size_t)row.len + 1;
		if (i % 10 == 0) { /* the 10% sample for zstd -19 */
			if (sample_len + (size_t)row.len + 1 > sample_cap) {
				sample_cap = (sample_len + (size_t)row.len + 1) * 2;
				if (!(sample = realloc(sample, sample_cap)))
					die("sample", "out of memory");
			}
			memcpy(sample + sample_len, line, (size_t)row.len);
			sample[sample_len + (size_t)row.len] = '\n';
			sample_len += (size_t)row.len + 1;
		}
		if (!(i & 1)) { /* the searched tenant: also into SQLite and the grep file */
			n1++;
			fwrite(line, 1, (size_t)row.len, raw_f);
			fputc('\n', raw_f);
			sqlite3_bind_int64(ins, 1, row.ts);
			sqlite3_bind_text(ins, 2, row.src, -1, SQLITE_STATIC);
			sqlite3_bind_int(ins, 3, row.sport);
			sqlite3_bind_text(ins, 4, row.dst, -1, SQLITE_STATIC);
			sqlite3_bind_int(ins, 5, row.dport);
			sqlite3_bind_text(ins, 6, row.action, -1, SQLITE_STATIC);
			if (row.usr[0])
				sqlite3_bind_text(ins, 7, row.usr, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(ins, 7);
			sqlite3_bind_text(ins, 8, row.app, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 9, row.rule, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 10, row.bytes);
			sqlite3_bind_text(ins, 11, row.line, row.len, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				die("sqlite insert", sqlite3_errmsg(db));
			sqlite3_reset(ins);
		} else { /* the other: as ECS JSON lines for koban ingest */
			n2++;
			buf_reset(&json);
			if (event_write_json(ev, &json) < 0 || buf_addch(&json, '\n') < 0)
				die("json", "cannot format an event");
			fwrite(json.p, 1, json.len, ecs_f);
		}

		if (i % CHUNK != CHUNK - 1 && i + 1 != n)
			continue;
		/* timed per CHUNK events: a clock read per event would cost 7% of the figure */
		t_write += write_chunk(wr, i - i % CHUNK, i, i + 1 == n);
		arena_clear(&a);
	}
	for (int i = 0; i < 2; i++) {
		wr[i].quit = true;
		is[i] = wr[i].is;
		c_write += wr[i].cpu;
	}
	pthread_barrier_wait(&chunk_start);
	for (int i = 0; i < 2; i++)
		pthread_join(wr[i].thread, NULL);
	pthread_barrier_destroy(&chunk_start);
	pthread_barrier_destroy(&chunk_end);
	store_close(st2);
	wal_stats(w, &ws);
	for (int i = 0; i < 2; i++) /* everything is in segments now: its last record durable */
		if (wal_checkpoint(w, tb[i].shard, tb[i].lsn, wal_durable_events(w, tb[i].shard),
				   &e) < 0)
			die("wal", e.msg);
	wal_close(w);
	fclose(ecs_f);
	if (fclose(raw_f) != 0)
		die("raw", strerror(errno));
	sqlite3_finalize(ins);
	printf("store: write rate %.0f events/s (%.0f per CPU-second of the 2 writing threads): "
	       "event batches sealed into the WAL (%llu records, %.1f MB, %llu group commits) and "
	       "encrypted segments (%llu + %llu)\n",
	       (double)n / t_write, (double)n / c_write, (unsigned long long)ws.appended_records,
	       (double)ws.appended_bytes / 1e6, (unsigned long long)ws.commits,
	       (unsigned long long)is[0].segments, (unsigned long long)is[1].segments);
	{
		uint64_t disk = du(data);

		printf("store: data directory %.1f MB: %.1f bytes/event; raw %.1f bytes/event: 1/%.1f "
		       "of raw\n",
		       (double)disk / 1e6, (double)disk / (double)n, (double)raw / (double)n,
		       (double)raw / (double)disk);
	}
	fflush(stdout);
	if (!no_zstd) {
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		size_t bound = ZSTD_compressBound(sample_len), z;
		char *zb = malloc(bound);

		t = bench_now_s();
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19);
		(void)ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers, 2); /* as zstd -T2 */
		z = zb ? ZSTD_compress2(cc, zb, bound, sample, sample_len) : 0;
		if (zb && !ZSTD_isError(z))
			printf("store: zstd -19 of a 10%% sample of the raw lines: %.1f bytes/event, "
			       "1/%.1f of raw (%.0f s)\n",
			       (double)z / ((double)sample_len / ((double)raw / (double)n)),
			       (double)sample_len / (double)z, bench_now_s() - t);
		free(zb);
		ZSTD_freeCCtx(cc);
	}
	free(sample);
	fflush(stdout);

	/* koban ingest --format ecs of the second tenant's events, its own data directory */
	if (koban) {
		char cfg[700];
		FILE *f;

		snprintf(cfg, sizeof(cfg), "%s/ingest.yaml", dir);
		f = fopen(cfg, "w");
		if (!f)
			die(cfg, strerror(errno));
		fprintf(f, "data_dir: %s/ingest-data\nlog_level: warn\n", dir);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "%s tenant add -c %s bench >/dev/null", koban, cfg);
		if (system(cmd) != 0)
			die(cmd, "failed");
		snprintf(cmd, sizeof(cmd), "%s ingest -c %s --tenant bench --format ecs %s/tenant2.ecs",
			 koban, cfg, dir);
		t = run_shell(cmd, out, sizeof(out));
		printf("store: koban ingest --format ecs: %lu events in %.1f s: %.0f events/s\n", n2,
		       t, (double)n2 / t);
		fflush(stdout);
	}

	/* SQLite: indexes on the queried fields, FTS5 on the raw line */
	t = bench_now_s();
	sql_exec(db, "COMMIT; CREATE INDEX ev_source_ip ON ev(source_ip);"
		     "CREATE INDEX ev_ts ON ev(ts); CREATE INDEX ev_destination_port ON"
		     " ev(destination_port); CREATE INDEX ev_action ON ev(action);"
		     "CREATE VIRTUAL TABLE fts USING fts5(original, content='ev', content_rowid='id');"
		     "INSERT INTO fts(fts) VALUES('rebuild'); ANALYZE");
	printf("store: SQLite: %lu rows of tenant 1 loaded, indexed in %.1f s, %.1f MB\n", n1,
	       bench_now_s() - t, (double)file_size(path) / 1e6);
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/tenant1.log", dir);
	snprintf(cmd, sizeof(cmd), "zstd -q -3 -T2 --rm -f %s", path);
	if (system(cmd) != 0)
		die(cmd, "failed");

search: /* the four searches */
	{
		static const char *const names[] = {
			"(a) source.ip: " LOOKUP_IP " over all data",
			"(b) stats count() by destination.port \\| sort -count \\| head 10 over one day",
			"(c) \"" PHRASE "\" over all data",
			"(d) timechart span=1h count() by event.action over all data",
		};
		static const char *const kq[] = {
			"source.ip: " LOOKUP_IP,
			"* | stats count() by destination.port | sort -count | head 10",
			"\"" PHRASE "\"",
			"* | timechart span=1h count() by event.action",
		};
		static const char *const sq[] = {
			"SELECT * FROM ev WHERE source_ip = '" LOOKUP_IP "'",
			"SELECT destination_port, count(*) AS c FROM ev WHERE ts BETWEEN ?1 AND ?2"
			" GROUP BY destination_port ORDER BY c DESC LIMIT 10",
			"SELECT ev.* FROM fts JOIN ev ON ev.id = fts.rowid WHERE fts MATCH"
			" '\"user042 ms rdp\"' AND instr(ev.original, '" PHRASE "') > 0",
			"SELECT ts / 3600000000000 AS hour, action, count(*) FROM ev"
			" GROUP BY hour, action ORDER BY hour",
		};
		int64_t day_from = BENCH_T0 + BENCH_DAY_NS, day_to = BENCH_T0 + 2 * BENCH_DAY_NS - 1;

		printf("\n| query | koban | SQLite | zstdcat \\| grep -F | results |\n"
		       "|---|---|---|---|---|\n");
		for (int q = 0; q < 4; q++) {
			double kr[RUNS], sr[RUNS], gr[RUNS], kc_cpu[RUNS], sc_cpu[RUNS];
			uint64_t kc = 0, sc = 0;
			struct store_search_stats ss;
			sqlite3_stmt *stmt = sql_prepare(db, sq[q]);
			unsigned long long gc = 0;

			for (int r = 0; r < RUNS; r++) {
				kr[r] = koban_query(st, 1, kq[q], q == 1 ? day_from : INT64_MIN,
						    q == 1 ? day_to : INT64_MAX, &kc, &ss,
						    &kc_cpu[r]);
				if (q == 1) {
					sqlite3_bind_int64(stmt, 1, day_from);
					sqlite3_bind_int64(stmt, 2, day_to);
				}
				t = bench_now_s();
				c = bench_proc_cpu_s();
				sc = sql_rows(stmt);
				sr[r] = bench_now_s() - t;
				sc_cpu[r] = bench_proc_cpu_s() - c;
				if (q == 2) {
					snprintf(cmd, sizeof(cmd),
						 "zstdcat %s.zst | grep -F -c '" PHRASE "' || true",
						 path);
					gr[r] = run_shell(cmd, out, sizeof(out));
					gc = strtoull(out, NULL, 10);
				}
			}
			sqlite3_finalize(stmt);
			printf("| %s | %.3f s | %.3f s | ", names[q], median(kr), median(sr));
			if (q == 2)
				printf("%.3f s | ", median(gr));
			else
				printf("- | ");
			printf("koban %llu, SQLite %llu", (unsigned long long)kc,
			       (unsigned long long)sc);
			if (q == 2)
				printf(", grep %llu", gc);
			printf(" (blocks %llu of %llu read, %llu events decoded; CPU koban %.3f s, "
			       "SQLite %.3f s) |\n",
			       (unsigned long long)ss.blocks_read, (unsigned long long)ss.blocks,
			       (unsigned long long)ss.events_read, median(kc_cpu), median(sc_cpu));
			fflush(stdout);
		}
	}
	sqlite3_close(db);
	store_close(st);
	buf_release(&json);
	for (int i = 0; i < 2; i++) {
		evcodec_writer_release(&tb[i].ew);
		buf_release(&tb[i].batch);
		buf_release(&tb[i].sealed);
	}
	arena_release(&a);
	if (!keep && !dir_arg)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
