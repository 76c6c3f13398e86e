/*
 * sink.c - the serve sink: JSON lines -> sealed WAL records, group commit, back-pressure and
 * quotas (see sink.h).
 *
 * State shared by the threads: a table of tenant accounts by koban.db id (open addressing,
 * entries only ever added, an entry's id published last with a release store so that the
 * commit thread's durable callback and /metrics read complete entries without a lock), the
 * keys handle and a koban.db handle (each behind its own mutex: neither may be used by two
 * threads at once), and the write-error counters. Each worker keeps its own cache of slot ->
 * (tenant id, data key, account), checked against fairq_slot_gen(), and its own seal buffer.
 */
#include "store/sink.h"
#include "core/compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_MODULE "sink"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/event.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "store/evcodec.h"
#include "store/keys.h"
#include "store/meta.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/wal.h"

#define TABLE_SIZE (2 * SINK_MAX_TENANTS) /* power of two, at most half full */
#define PATH_LEN 4096

enum sink_error {
	SINK_ERR_NO_SPACE,  /* ENOSPC, EDQUOT */
	SINK_ERR_IO,        /* any other refusal of the file system */
	SINK_ERR_KEY,       /* the tenant's data key could not be read or made */
	SINK_ERR_TENANT,    /* the tenant is not in koban.db (removed meanwhile) */
	SINK_ERR_COUNT
};

static const char *const error_names[] = {
	[SINK_ERR_NO_SPACE] = "no_space",
	[SINK_ERR_IO] = "io",
	[SINK_ERR_KEY] = "key",
	[SINK_ERR_TENANT] = "unknown_tenant",
};
_Static_assert(ARRAY_SIZE(error_names) == SINK_ERR_COUNT, "an error has no metric label");

struct sink_account {
	_Atomic uint64_t id;                 /* 0: free entry; published last */
	char name[FAIRQ_NAME_MAX + 1];
	atomic_uint_fast64_t stored;         /* events made durable */
	atomic_uint_fast64_t lost;           /* events whose commit failed (fdatasync error) */
	atomic_uint_fast64_t quota;          /* bytes, 0 = none (from the configuration) */
	atomic_uint_fast64_t counted;        /* segment bytes at the last count */
	atomic_uint_fast64_t appended;       /* record bytes appended since that count */
	atomic_uint_fast64_t unsealed;       /* appended before it, not yet known sealed */
	atomic_uint_fast64_t seal_gen;       /* the sealer's generation at that count */
	atomic_int_fast64_t counted_ns;      /* CLOCK_MONOTONIC of the last count; 0: never */
	atomic_bool counting;                /* a worker is counting now */
	atomic_uint blocked;                 /* appends of the tenant failing now */
	atomic_uint slot;                    /* its fair-queue slot + 1 (0: none known), */
	atomic_uint slot_gen;                /* and that slot's generation then */
	struct log_limit quota_log;
};

/* A worker's view of one fair-queue slot. */
struct sink_cached {
	bool ok;
	unsigned gen;
	unsigned epoch;                      /* s->key_epoch when resolved */
	uint64_t id;
	struct keys_data_key dk;
	struct sink_account *acct;
};

struct sink_worker {
	struct sink_cached **cache;          /* by slot, made on first use */
	unsigned char *sealed;               /* SINK_RECORD_MAX + KEYS_SEAL_OVERHEAD, on first use */
	atomic_uint_fast64_t last_lsn;       /* of the shard's last append */
	struct evcodec_writer enc;           /* the batch being built */
	struct buf batch;                    /* its bytes (at most SINK_BATCH_MAX) */
	unsigned batch_slot;                 /* the fair-queue slot its events are of */
	bool open;                           /* a batch is begun */
	struct arena arena;                  /* JSON lines decoded (sink_deliver, sink_write) */
};

struct sink {
	char *dir;
	unsigned workers;
	struct fairq *q;
	struct wal *wal;
	struct keys *keys;
	struct meta *meta;
	pthread_mutex_t keys_lock, meta_lock;
	pthread_mutex_t lock;                /* account inserts, the configuration, back-off */
	pthread_cond_t wake;                 /* sink_stop cuts back-offs short */
	const struct config *cfg;            /* under lock */
	struct seal *seal;                   /* under lock; NULL: none attached */
	struct sink_account *table;          /* TABLE_SIZE entries */
	size_t n_accounts;                   /* under lock */
	struct sink_worker *w;               /* workers + 1 (the last: the ack shard) */
	pthread_mutex_t ack_lock;            /* one writer on the ack shard */
	atomic_int_fast64_t give_up_ns;      /* 0: retry for ever */
	atomic_uint key_epoch;               /* sink_forget_keys: cached keys are stale */
	atomic_uint_fast64_t errors[SINK_ERR_COUNT];
	atomic_uint_fast64_t given_up;       /* events dropped at the stop deadline */
	atomic_uint held;                    /* tenants whose appends are held back now */
	atomic_int_fast64_t quota_near_ns;   /* time_mono_ns a tenant was last near its quota */
	atomic_uint_fast64_t unknown_durable; /* events of no account made durable or lost (cannot happen) */
	struct log_limit log[SINK_ERR_COUNT];
	struct log_limit too_large_log;
	bool metrics;
};

/* ---- accounts ---- */

static size_t slot_of(uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 40) & (TABLE_SIZE - 1);
}

/* The account of id, or NULL; lock-free (entries are never removed or moved). */
static struct sink_account *account_find(struct sink *s, uint64_t id)
{
	for (size_t i = slot_of(id), n = 0; n < TABLE_SIZE; i = (i + 1) & (TABLE_SIZE - 1), n++) {
		uint64_t have = atomic_load_explicit(&s->table[i].id, memory_order_acquire);

		if (have == id)
			return &s->table[i];
		if (!have)
			return NULL;
	}
	return NULL;
}

static uint64_t config_quota(const struct config *cfg, const char *name)
{
	uint64_t quota = 0;

	if (cfg)
		(void)config_store_tenant(cfg, name, &quota, NULL); /* 1 or 0: both fine */
	return quota;
}

/* The account of id, made (named name) when missing; NULL when the table is full. */
static struct sink_account *account_get(struct sink *s, uint64_t id, const char *name)
{
	struct sink_account *a = account_find(s, id);

	if (a)
		return a;
	pthread_mutex_lock(&s->lock);
	a = account_find(s, id); /* another thread may have made it meanwhile */
	if (!a && s->n_accounts < SINK_MAX_TENANTS) {
		size_t i = slot_of(id);

		while (atomic_load_explicit(&s->table[i].id, memory_order_relaxed))
			i = (i + 1) & (TABLE_SIZE - 1); /* at most half full: ends */
		a = &s->table[i];
		snprintf(a->name, sizeof(a->name), "%s", name);
		atomic_store_explicit(&a->quota, config_quota(s->cfg, a->name),
				      memory_order_relaxed);
		log_limit_init(&a->quota_log, SINK_LOG_INTERVAL_S);
		atomic_store_explicit(&a->id, id, memory_order_release);
		s->n_accounts++;
	}
	pthread_mutex_unlock(&s->lock);
	return a;
}


/* The sealer's last committed generation; 0 without a sealer. */
static uint64_t seal_generation(struct sink *s)
{
	struct seal_stats st = { 0 };

	pthread_mutex_lock(&s->lock);
	if (s->seal)
		seal_stats(s->seal, &st);
	pthread_mutex_unlock(&s->lock);
	return st.generation;
}

/*
 * Counts the tenant's segment files again. Log bytes appended before the previous count are
 * taken as sealed (now in the segments just counted) once the sealer has committed a
 * generation since then (a generation seals everything durable when it ends); until then
 * they are kept in `unsealed`.
 */
static void recount(struct sink *s, struct sink_account *a, int64_t now)
{
	uint64_t bytes = store_tenant_dir_bytes(s->dir, atomic_load(&a->id));
	uint64_t gen = seal_generation(s);
	uint64_t since = atomic_exchange_explicit(&a->appended, 0, memory_order_relaxed);

	if (gen && gen != atomic_load_explicit(&a->seal_gen, memory_order_relaxed))
		atomic_store_explicit(&a->unsealed, since, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&a->unsealed, since, memory_order_relaxed);
	atomic_store_explicit(&a->seal_gen, gen, memory_order_relaxed);
	atomic_store_explicit(&a->counted, bytes, memory_order_relaxed);
	atomic_store_explicit(&a->counted_ns, now, memory_order_relaxed);
}

/*
 * The tenant's stored bytes as quotas count them; with may_count, its segments are counted
 * again when due (not from /metrics, which may run after the sealer is gone).
 */
static uint64_t account_bytes(struct sink *s, struct sink_account *a, bool may_count)
{
	int64_t now = time_mono_ns();
	int64_t last = atomic_load_explicit(&a->counted_ns, memory_order_relaxed);

	if (may_count && (!last || now - last >= (int64_t)SINK_RECOUNT_S * NS_PER_SEC) &&
	    !atomic_exchange_explicit(&a->counting, true, memory_order_acquire)) {
		recount(s, a, now);
		atomic_store_explicit(&a->counting, false, memory_order_release);
	}
	return atomic_load_explicit(&a->counted, memory_order_relaxed) +
	       atomic_load_explicit(&a->unsealed, memory_order_relaxed) +
	       atomic_load_explicit(&a->appended, memory_order_relaxed);
}

/*
 * True when the tenant is at or above its quota. Within what the sealer may leave unsealed
 * while it pauses for ingest (SEAL_YIELD_WAL_BYTES), it notes the time: sink_held() then
 * keeps the sealer going, since sealed bytes count for less.
 */
static bool over_quota(struct sink *s, struct sink_account *a)
{
	uint64_t quota = atomic_load_explicit(&a->quota, memory_order_relaxed), bytes;

	if (!quota)
		return false;
	bytes = account_bytes(s, a, true);
	if (bytes + SEAL_YIELD_WAL_BYTES >= quota)
		atomic_store_explicit(&s->quota_near_ns, time_mono_ns(), memory_order_relaxed);
	return bytes >= quota;
}

/* Notes the fair-queue slot an account's tenant has now. */
static void account_slot(struct sink *s, struct sink_account *a, unsigned slot)
{
	atomic_store_explicit(&a->slot_gen, fairq_slot_gen(s->q, slot), memory_order_relaxed);
	atomic_store_explicit(&a->slot, slot + 1, memory_order_release);
}

/* The live slot named name, for an account made without one (sink_write); -1: none. */
static int slot_by_name(struct sink *s, const char *name)
{
	unsigned n = s->q ? fairq_slot_count(s->q) : 0;

	for (unsigned i = 0; i < n; i++)
		if (fairq_slot_in_use(s->q, i) && !strcmp(fairq_slot_name(s->q, i), name))
			return (int)i;
	return -1;
}

/*
 * Whether /metrics shows the account: its tenant still has the slot it was seen with (a tenant
 * removed by a reload leaves the metrics, as it leaves the fair queue's). Without a fair queue
 * (tests) or a known slot, always.
 */
static bool account_live(struct sink *s, struct sink_account *a)
{
	unsigned slot = atomic_load_explicit(&a->slot, memory_order_acquire);

	if (!s->q || !slot)
		return true;
	return fairq_slot_in_use(s->q, slot - 1) &&
	       fairq_slot_gen(s->q, slot - 1) ==
		       atomic_load_explicit(&a->slot_gen, memory_order_relaxed);
}

/* ---- metrics ---- */

/* One sample per live tenant of the account counter at byte offset off. */
static int collect_accounts(struct metrics_out *o, struct sink *s, size_t off)
{
	int rc = 0;

	for (size_t i = 0; i < TABLE_SIZE && !rc; i++)
		if (atomic_load_explicit(&s->table[i].id, memory_order_acquire) &&
		    account_live(s, &s->table[i])) {
			atomic_uint_fast64_t *c = (void *)((char *)&s->table[i] + off);

			rc = metrics_sample(o, atomic_load_explicit(c, memory_order_relaxed),
					    "tenant", s->table[i].name, NULL);
		}
	return rc;
}

static int collect_stored(struct metrics_out *o, void *ctx)
{
	return collect_accounts(o, ctx, offsetof(struct sink_account, stored));
}

static int collect_lost(struct metrics_out *o, void *ctx)
{
	return collect_accounts(o, ctx, offsetof(struct sink_account, lost));
}

/* Samples the WAL's statistic at byte offset off of struct wal_stats. */
static int sample_wal_stat(struct metrics_out *o, void *ctx, size_t off)
{
	struct sink *s = ctx;
	struct wal_stats st;
	uint64_t v;

	wal_stats(s->wal, &st);
	memcpy(&v, (const char *)&st + off, sizeof(v));
	return metrics_sample(o, v, NULL);
}

static int collect_sync_errors(struct metrics_out *o, void *ctx)
{
	return sample_wal_stat(o, ctx, offsetof(struct wal_stats, sync_errors));
}

static int collect_missing(struct metrics_out *o, void *ctx)
{
	return sample_wal_stat(o, ctx, offsetof(struct wal_stats, missing_records));
}

static int collect_cut_kept(struct metrics_out *o, void *ctx)
{
	return sample_wal_stat(o, ctx, offsetof(struct wal_stats, cut_records_kept));
}

static int collect_blocked(struct metrics_out *o, void *ctx)
{
	struct sink *s = ctx;
	int rc = 0;

	for (size_t i = 0; i < TABLE_SIZE && !rc; i++)
		if (atomic_load_explicit(&s->table[i].id, memory_order_acquire) &&
		    account_live(s, &s->table[i]))
			rc = metrics_sample(o, atomic_load_explicit(&s->table[i].blocked,
								    memory_order_relaxed) ? 1 : 0,
					    "tenant", s->table[i].name, NULL);
	return rc;
}

static int collect_tenant_bytes(struct metrics_out *o, void *ctx)
{
	struct sink *s = ctx;
	int rc = 0;

	for (size_t i = 0; i < TABLE_SIZE && !rc; i++)
		if (atomic_load_explicit(&s->table[i].id, memory_order_acquire) &&
		    account_live(s, &s->table[i]))
			rc = metrics_sample(o, account_bytes(s, &s->table[i], false), "tenant",
					    s->table[i].name, NULL);
	return rc;
}

static int collect_quota(struct metrics_out *o, void *ctx)
{
	struct sink *s = ctx;
	int rc = 0;

	for (size_t i = 0; i < TABLE_SIZE && !rc; i++)
		if (atomic_load_explicit(&s->table[i].id, memory_order_acquire) &&
		    account_live(s, &s->table[i]))
			rc = metrics_sample(o, atomic_load_explicit(&s->table[i].quota,
								    memory_order_relaxed),
					    "tenant", s->table[i].name, NULL);
	return rc;
}

static int collect_errors(struct metrics_out *o, void *ctx)
{
	struct sink *s = ctx;
	int rc = 0;

	for (size_t r = 0; r < SINK_ERR_COUNT && !rc; r++)
		rc = metrics_sample(o, atomic_load_explicit(&s->errors[r], memory_order_relaxed),
				    "reason", error_names[r], NULL);
	return rc;
}

static int collect_wal_bytes(struct metrics_out *o, void *ctx)
{
	return sample_wal_stat(o, ctx, offsetof(struct wal_stats, bytes_on_disk));
}

static int collect_commits(struct metrics_out *o, void *ctx)
{
	return sample_wal_stat(o, ctx, offsetof(struct wal_stats, commits));
}

static int collect_commit_seconds(struct metrics_out *o, void *ctx)
{
	struct sink *s = ctx;
	struct wal_stats st;

	wal_stats(s->wal, &st);
	return metrics_sample_double(o, (double)st.commit_ns_total / 1e9, NULL);
}

static int register_metrics(struct sink *s, struct err *e)
{
	static const struct metrics_family fams[] = {
		{ "koban_events_stored_total", METRICS_COUNTER,
		  "Events of the tenant on stable storage (the write-ahead log's group commit "
		  "has run).", collect_stored },
		{ "koban_store_blocked", METRICS_GAUGE,
		  "1 while appending the tenant's events to the write-ahead log fails and they "
		  "are held (back-pressure), else 0.", collect_blocked },
		{ "koban_store_tenant_bytes", METRICS_GAUGE,
		  "Bytes the tenant stores as its quota counts them: its segment files (counted "
		  "again at most every 10 s while it sends) and its log records not yet sealed.",
		  collect_tenant_bytes },
		{ "koban_store_quota_bytes", METRICS_GAUGE,
		  "The tenant's store quota in bytes (store.quota, store.tenants); 0: none.",
		  collect_quota },
		{ "koban_store_write_errors_total", METRICS_COUNTER,
		  "Failed attempts to append to the write-ahead log, by reason (no_space, io, "
		  "key, unknown_tenant); each is retried.", collect_errors },
		{ "koban_store_wal_bytes", METRICS_GAUGE,
		  "Bytes in the write-ahead log's files (not yet sealed into segments, or not "
		  "yet checkpointed).", collect_wal_bytes },
		{ "koban_store_commits_total", METRICS_COUNTER,
		  "Group commits (fdatasync of a WAL shard) that succeeded.", collect_commits },
		{ "koban_store_sync_errors_total", METRICS_COUNTER,
		  "Group commits (fdatasync of a WAL shard) that failed: a disk fault; the "
		  "records they covered are counted in koban_store_lost_events_total.",
		  collect_sync_errors },
		{ "koban_store_wal_missing_records", METRICS_GAUGE,
		  "Records the write-ahead log found missing at this start (a file moved away or "
		  "lost): not replayed, those not sealed yet lost; named in the log so that the "
		  "sealer and searches go past them.", collect_missing },
		{ "koban_store_wal_cut_records_kept", METRICS_GAUGE,
		  "Whole records the write-ahead log found after a damaged record where it cut "
		  "a shard's last file at this start: not replayed, the bytes cut kept beside the "
		  "file (NAME.cut-UNIXTIME, named by koban store verify).", collect_cut_kept },
		{ "koban_store_lost_events_total", METRICS_COUNTER,
		  "Events of the tenant written to the write-ahead log whose group commit failed: "
		  "not known to be on disk, never counted as stored (acknowledged inputs were "
		  "answered with an error and may send them again).", collect_lost },
		{ "koban_store_commit_seconds_total", METRICS_COUNTER,
		  "Time spent in those commits; divided by koban_store_commits_total: the mean "
		  "commit latency.", collect_commit_seconds },
	};
	int rc;

	const char *failed = "";

	if ((rc = metrics_register_families(fams, ARRAY_SIZE(fams), s, &failed)) < 0)
		return err_set(e, rc, "sink: cannot register %s: %s", failed, strerror(-rc));
	return 0;
}

/* ---- life cycle ---- */

/* Adds count to the account counter of tenant at byte offset off (unknown_durable without one). */
static void account_add(struct sink *s, uint64_t tenant, size_t off, uint32_t count)
{
	struct sink_account *a = account_find(s, tenant);
	atomic_uint_fast64_t *c = a ? (void *)((char *)a + off) : &s->unknown_durable;

	atomic_fetch_add_explicit(c, count, memory_order_relaxed);
}

/* WAL commit thread: count of tenant is durable. */
static void on_durable(void *ctx, uint64_t tenant, uint32_t count)
{
	account_add(ctx, tenant, offsetof(struct sink_account, stored), count);
}

/* WAL commit thread or a worker switching files: the commit of count of tenant failed. */
static void on_lost(void *ctx, uint64_t tenant, uint32_t count)
{
	account_add(ctx, tenant, offsetof(struct sink_account, lost), count);
}

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines (time_mono_ns). */
static void cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

int sink_open(struct sink **sp, const struct sink_config *c, struct err *e)
{
	struct wal_config wc = { 0 };
	char path[PATH_LEN];
	struct sink *s;
	int rc;

	*sp = NULL;
	if (c->workers < 1 || c->workers + 1 > WAL_MAX_SHARDS)
		return err_set(e, -EINVAL, "sink: %u workers (1 to %d)", c->workers,
			       WAL_MAX_SHARDS - 1);
	s = mem_calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->keys_lock, NULL);
	pthread_mutex_init(&s->meta_lock, NULL);
	pthread_mutex_init(&s->ack_lock, NULL);
	cond_init_mono(&s->wake);
	for (size_t r = 0; r < SINK_ERR_COUNT; r++)
		log_limit_init(&s->log[r], SINK_LOG_INTERVAL_S);
	log_limit_init(&s->too_large_log, SINK_LOG_INTERVAL_S);
	s->workers = c->workers;
	s->q = c->q;
	s->cfg = c->cfg;
	s->dir = mem_strdup(c->data_dir);
	s->table = mem_calloc(TABLE_SIZE, sizeof(*s->table));
	s->w = mem_calloc(c->workers + 1, sizeof(*s->w));
	if (!s->dir || !s->table || !s->w) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i <= c->workers; i++) {
		evcodec_writer_init(&s->w[i].enc);
		buf_init(&s->w[i].batch, SINK_BATCH_MAX);
		arena_init(&s->w[i].arena, 64 << 10, 2 * ECS_LINE_MAX);
		if (!(s->w[i].cache = mem_calloc(FAIRQ_MAX_TENANTS, sizeof(*s->w[i].cache)))) {
			rc = err_set(e, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	if ((rc = meta_open(&s->meta, c->data_dir, e)) < 0 ||
	    (rc = store_keys_open(&s->keys, c->data_dir, c->keys, true, e)) < 0)
		goto fail;
	if ((size_t)snprintf(path, sizeof(path), "%s/wal", c->data_dir) >= sizeof(path)) {
		rc = err_set(e, -ENAMETOOLONG, "%s: data directory path too long", c->data_dir);
		goto fail;
	}
	wc.dir = path;
	wc.shards = c->workers + 1;
	wc.commit_interval_ms = c->commit_interval_ms;
	wc.file_max_bytes = c->wal_file_max_bytes;
	wc.durable = on_durable;
	wc.lost = on_lost;
	wc.ctx = s;
	if ((rc = wal_open(&s->wal, &wc, e)) < 0)
		goto fail;
	if (c->metrics) {
		if ((rc = register_metrics(s, e)) < 0)
			goto fail;
		s->metrics = true;
	}
	*sp = s;
	return 0;
fail:
	sink_close(s);
	return rc;
}

void sink_close(struct sink *s)
{
	uint64_t given_up;

	if (!s)
		return;
	if (s->metrics)
		metrics_unregister(s);
	wal_close(s->wal); /* commits what was appended; the durable callback still counts */
	given_up = atomic_load(&s->given_up);
	if (given_up)
		log_warn("%llu events held by a failing write-ahead log were dropped at stop "
			 "(counted as dropped, reason output_error)", (unsigned long long)given_up);
	if (s->w) {
		for (unsigned i = 0; i <= s->workers; i++) {
			for (size_t slot = 0; s->w[i].cache && slot < FAIRQ_MAX_TENANTS; slot++) {
				struct sink_cached *c = s->w[i].cache[slot];

				if (c)
					explicit_bzero(c, sizeof(*c));
				mem_free(c);
			}
			mem_free(s->w[i].cache);
			mem_free(s->w[i].sealed);
			evcodec_writer_release(&s->w[i].enc);
			buf_release(&s->w[i].batch);
			arena_release(&s->w[i].arena);
		}
		mem_free(s->w);
	}
	keys_close(s->keys);
	meta_close(s->meta);
	mem_free(s->table);
	mem_free(s->dir);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->ack_lock);
	pthread_mutex_destroy(&s->meta_lock);
	pthread_mutex_destroy(&s->keys_lock);
	pthread_mutex_destroy(&s->lock);
	mem_free(s);
}

void sink_set_config(struct sink *s, const struct config *cfg)
{
	pthread_mutex_lock(&s->lock);
	s->cfg = cfg;
	for (size_t i = 0; i < TABLE_SIZE; i++)
		if (atomic_load_explicit(&s->table[i].id, memory_order_relaxed))
			atomic_store_explicit(&s->table[i].quota,
					      config_quota(cfg, s->table[i].name),
					      memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
}

void sink_attach_sealer(struct sink *s, struct seal *seal)
{
	pthread_mutex_lock(&s->lock);
	s->seal = seal;
	pthread_mutex_unlock(&s->lock);
}

void sink_forget_keys(struct sink *s)
{
	atomic_fetch_add_explicit(&s->key_epoch, 1, memory_order_release);
}

void sink_stop(struct sink *s, unsigned grace_ms)
{
	atomic_store_explicit(&s->give_up_ns, time_mono_ns() + (int64_t)grace_ms * 1000000,
			      memory_order_relaxed);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

int sink_flush(struct sink *s, int timeout_ms)
{
	int rc = 0;

	for (unsigned i = 0; i <= s->workers; i++) {
		uint64_t lsn = atomic_load(&s->w[i].last_lsn);

		if (lsn)
			rc = err_first(rc, wal_wait_durable(s->wal, i, lsn, timeout_ms));
	}
	return rc;
}

unsigned sink_ack_shard(const struct sink *s)
{
	return s->workers;
}

struct wal *sink_wal(struct sink *s)
{
	return s->wal;
}

uint64_t sink_stored(struct sink *s, uint64_t tenant)
{
	struct sink_account *a = account_find(s, tenant);

	return a ? atomic_load_explicit(&a->stored, memory_order_relaxed) : 0;
}

int sink_wait(struct sink *s, unsigned shard, uint64_t first, uint64_t last, int timeout_ms)
{
	int rc = wal_wait_durable(s->wal, shard, last, timeout_ms);

	return rc == 0 && wal_failed(s->wal, shard, first, last) ? -EIO : rc;
}

/* ---- writing ---- */

struct id_lookup {
	uint64_t id;
	const char *name_in;       /* by name: the name; by id: NULL */
	char name[FAIRQ_NAME_MAX + 1];
	bool found;
};

static void take_tenant(void *ctx, const struct meta_tenant *t)
{
	struct id_lookup *l = ctx;

	if (l->name_in ? !strcmp(t->name, l->name_in) : (uint64_t)t->id == l->id) {
		l->id = (uint64_t)t->id;
		snprintf(l->name, sizeof(l->name), "%s", t->name);
		l->found = true;
	}
}

static int tenant_key(struct sink *s, uint64_t id, struct keys_data_key *dk, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->keys_lock);
	rc = store_writer_key(s->keys, s->dir, id, dk, e);
	pthread_mutex_unlock(&s->keys_lock);
	return rc;
}

/* Worker w's entry for slot, (re)made when the slot changed hands. */
static int resolve(struct sink *s, struct sink_worker *w, unsigned slot, struct sink_cached **out,
		   enum sink_error *why, struct err *e)
{
	struct sink_cached *c;
	struct id_lookup l = { 0 };
	const char *name;
	unsigned gen, epoch;
	int rc;

	*why = SINK_ERR_TENANT;
	if (slot >= FAIRQ_MAX_TENANTS || !s->q)
		return err_set(e, -EINVAL, "slot %u out of range", slot);
	gen = fairq_slot_gen(s->q, slot);
	epoch = atomic_load_explicit(&s->key_epoch, memory_order_acquire);
	c = w->cache[slot];
	if (c && c->ok && c->gen == gen && c->epoch == epoch) {
		*out = c;
		return 0;
	}
	if (!c && !(c = w->cache[slot] = mem_calloc(1, sizeof(*c))))
		return err_set(e, -ENOMEM, "out of memory");
	c->ok = false;
	name = fairq_slot_name(s->q, slot);
	l.name_in = name;
	pthread_mutex_lock(&s->meta_lock);
	rc = meta_tenant_get(s->meta, name, take_tenant, &l, e);
	pthread_mutex_unlock(&s->meta_lock);
	if (rc < 0)
		return rc;
	if (!l.found)
		return err_set(e, -ENOENT, "tenant %s is not in koban.db", name);
	*why = SINK_ERR_KEY;
	if ((rc = tenant_key(s, l.id, &c->dk, e)) < 0)
		return rc;
	if (!(c->acct = account_get(s, l.id, l.name)))
		return err_set(e, -ENOBUFS, "more than %d tenants since the start",
			       SINK_MAX_TENANTS);
	account_slot(s, c->acct, slot);
	c->id = l.id;
	c->gen = gen;
	c->epoch = epoch;
	c->ok = true;
	*out = c;
	return 0;
}

/* Seals and appends the first len bytes of p (n events) to shard; *lsn set. */
static int append_sealed(struct sink *s, unsigned shard, uint64_t tenant,
			 const struct keys_data_key *dk, const char *p, size_t len, uint32_t n,
			 struct sink_account *a, uint64_t *lsn, struct err *e)
{
	const uint32_t flags = WAL_FLAG_SEALED | WAL_FLAG_EVCODEC;
	struct sink_worker *w = &s->w[shard];
	size_t sealed_len = len + KEYS_SEAL_OVERHEAD;
	int rc;

	if (sealed_len > WAL_MAX_PAYLOAD)
		return err_set(e, -EMSGSIZE, "%zu bytes of events in one record (at most %u)", len,
			       WAL_MAX_PAYLOAD - KEYS_SEAL_OVERHEAD);
	if (!w->sealed || sealed_len > SINK_RECORD_MAX + KEYS_SEAL_OVERHEAD) {
		/* the usual buffer, or a bigger one for one oversized batch (freed after) */
		size_t size = MAX(sealed_len, (size_t)SINK_RECORD_MAX + KEYS_SEAL_OVERHEAD);
		unsigned char *b = mem_alloc(size);

		if (!b)
			return err_set(e, -ENOMEM, "out of memory");
		if (size > SINK_RECORD_MAX + KEYS_SEAL_OVERHEAD) {
			rc = keys_seal(dk, WAL_SEAL_BLOCK_ID, p, len, b);
			if (rc == 0)
				rc = wal_append(s->wal, shard, tenant, n, flags, b,
						sealed_len, lsn, e);
			else
				err_set(e, rc, "sealing the events failed");
			mem_free(b);
			goto done;
		}
		w->sealed = b;
	}
	if ((rc = keys_seal(dk, WAL_SEAL_BLOCK_ID, p, len, w->sealed)) < 0)
		return err_set(e, rc, "sealing the events failed");
	rc = wal_append(s->wal, shard, tenant, n, flags, w->sealed, sealed_len, lsn, e);
done:
	if (rc == 0) {
		atomic_store_explicit(&w->last_lsn, *lsn, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->appended, sealed_len + 32, memory_order_relaxed);
	}
	return rc;
}

static enum sink_error error_of(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT ? SINK_ERR_NO_SPACE : SINK_ERR_IO;
}

/* Sleeps up to ms, or until sink_stop wakes the waiters. */
static void backoff(struct sink *s, unsigned ms)
{
	int64_t t = time_mono_ns() + (int64_t)ms * 1000000;
	struct timespec until = { t / 1000000000, t % 1000000000 };

	pthread_mutex_lock(&s->lock);
	if (!atomic_load_explicit(&s->give_up_ns, memory_order_relaxed))
		(void)pthread_cond_timedwait(&s->wake, &s->lock, &until); /* timeout is normal */
	pthread_mutex_unlock(&s->lock);
}

static void drop(struct sink *s, unsigned slot, enum drop_reason reason, uint32_t n)
{
	struct tenant_stats *st = s->q ? fairq_stats(s->q, slot) : NULL;

	if (st)
		atomic_fetch_add_explicit(&st->output_dropped[reason], n, memory_order_relaxed);
}

void sink_count_too_large(struct sink *s, unsigned slot, size_t bytes)
{
	drop(s, slot, DROP_TOO_LARGE, 1);
	log_limited(&s->too_large_log, LOG_LEVEL_WARN, "tenant %s: an event of a %zu-byte message "
		    "was not built (too large) and was dropped (reason too_large)",
		    s->q ? fairq_slot_name(s->q, slot) : "?", bytes);
}

/* Marks account a (NULL: none) held back or not, counting the held ones (sink_held). */
static void mark_held(struct sink *s, struct sink_account *a, bool on)
{
	if (a && atomic_exchange_explicit(&a->blocked, on, memory_order_relaxed) != (unsigned)on) {
		if (on)
			atomic_fetch_add_explicit(&s->held, 1, memory_order_relaxed);
		else
			atomic_fetch_sub_explicit(&s->held, 1, memory_order_relaxed);
	}
}

/*
 * Holds slot's input back (on) or lets it go, and marks account a so; a is the account
 * marked when holding, whatever the tenant resolves to when letting go.
 */
static void set_blocked(struct sink *s, unsigned slot, struct sink_account *a, bool on)
{
	if (s->q)
		fairq_set_output_blocked(s->q, slot, on);
	mark_held(s, a, on);
}

bool sink_held(struct sink *s)
{
	int64_t q = atomic_load_explicit(&s->quota_near_ns, memory_order_relaxed);

	return atomic_load_explicit(&s->held, memory_order_relaxed) > 0 ||
	       (q && time_mono_ns() - q < NS_PER_SEC);
}

/* Begins worker w's batch of slot's events when none is open. */
static int batch_begin(struct sink_worker *w, unsigned slot)
{
	int rc;

	if (w->open)
		return 0;
	buf_reset(&w->batch);
	if ((rc = evcodec_begin(&w->enc, &w->batch)) < 0)
		return rc;
	w->open = true;
	w->batch_slot = slot;
	return 0;
}

/*
 * Appends worker's open batch to its shard, closing it: blocks while appends fail
 * (back-pressure), drops it over the quota; returns 0, or the last error once given up.
 */
static int deliver(struct sink *s, unsigned worker)
{
	struct sink_worker *w = &s->w[worker];
	unsigned delay = SINK_RETRY_MIN_MS, slot = w->batch_slot;
	uint32_t count = evcodec_count(&w->enc);
	const char *tenant = s->q ? fairq_slot_name(s->q, slot) : "?";
	uint64_t attempts = 0;
	struct sink_account *held = NULL; /* marked blocked by this call */
	int rc;

	if (!w->open)
		return 0;
	w->open = false;
	if (!count)
		return 0;
	if ((rc = evcodec_finish(&w->enc, &w->batch)) < 0) { /* cannot: room was kept */
		drop(s, slot, DROP_OUTPUT_ERROR, count);
		log_error("tenant %s: %u events not stored: their batch cannot be finished (%s)",
			  tenant, count, strerror(-rc));
		return rc;
	}
	for (;;) {
		struct sink_cached *c = NULL;
		enum sink_error why;
		struct err e = ERR_INIT;
		int64_t give_up;
		uint64_t lsn;

		rc = resolve(s, w, slot, &c, &why, &e);
		if (rc == 0 && over_quota(s, c->acct)) {
			drop(s, slot, DROP_QUOTA, count);
			log_limited(&c->acct->quota_log, LOG_LEVEL_WARN,
				    "tenant %s is over its store quota (%llu bytes): %u events "
				    "dropped (koban_events_dropped_total{reason=\"quota\"})", tenant,
				    (unsigned long long)atomic_load(&c->acct->quota), count);
			break;
		}
		if (rc == 0 && (rc = append_sealed(s, worker, c->id, &c->dk, w->batch.p,
						   w->batch.len, count, c->acct, &lsn, &e)) == 0)
			break;
		if (c) /* resolved: the append failed (else resolve said why) */
			why = error_of(rc);
		attempts++;
		atomic_fetch_add_explicit(&s->errors[why], 1, memory_order_relaxed);
		give_up = atomic_load_explicit(&s->give_up_ns, memory_order_relaxed);
		if (rc == -ENOENT || rc == -EMSGSIZE || rc == -EINVAL || rc == -ENOBUFS ||
		    (give_up && time_mono_ns() >= give_up)) {
			/* the tenant is gone, or the events can never be written, or time is up */
			drop(s, slot, DROP_OUTPUT_ERROR, count);
			atomic_fetch_add_explicit(&s->given_up, count, memory_order_relaxed);
			log_limited(&s->log[why], LOG_LEVEL_ERROR,
				    "tenant %s: %u events not stored, given up: %s", tenant, count,
				    e.msg);
			if (attempts > 1)
				set_blocked(s, slot, held, false);
			buf_reset(&w->batch);
			return rc;
		}
		if (c && c->ok && c->acct != held) { /* another account than the last attempt's */
			mark_held(s, held, false);
			held = c->acct;
		}
		set_blocked(s, slot, held, true);
		log_limited(&s->log[why], LOG_LEVEL_ERROR,
			    "tenant %s: %u events held, retrying: %s", tenant, count, e.msg);
		backoff(s, delay);
		delay = MIN(delay * 2, SINK_RETRY_MAX_MS);
	}
	if (attempts) /* stored or dropped over the quota: no longer held */
		set_blocked(s, slot, held, false);
	buf_reset(&w->batch);
	if (attempts)
		log_info("tenant %s: writes to the event store resumed after %llu failed attempts",
			 tenant, (unsigned long long)attempts);
	return 0;
}

int sink_event(struct sink *s, unsigned worker, unsigned slot, const struct event *ev)
{
	struct sink_worker *w;
	int rc;

	if (worker >= s->workers)
		return -EINVAL;
	w = &s->w[worker];
	if (w->open && (w->batch_slot != slot || w->batch.len >= SINK_BATCH_BYTES))
		(void)deliver(s, worker); /* a failure is counted and logged there */
	if ((rc = batch_begin(w, slot)) == 0 &&
	    (rc = evcodec_add(&w->enc, &w->batch, ev)) == -ENOSPC && evcodec_count(&w->enc)) {
		/* the batch is full: deliver it and try the event alone */
		(void)deliver(s, worker);
		if ((rc = batch_begin(w, slot)) == 0)
			rc = evcodec_add(&w->enc, &w->batch, ev);
	}
	if (rc < 0) {
		drop(s, slot, rc == -ENOSPC ? DROP_TOO_LARGE : DROP_OUTPUT_ERROR, 1);
		log_limited(&s->too_large_log, LOG_LEVEL_WARN, "tenant %s: an event of %u values "
			    "was dropped: %s", s->q ? fairq_slot_name(s->q, slot) : "?", ev->n,
			    rc == -ENOSPC ? "it does not fit a batch (reason too_large)"
					  : "out of memory (reason output_error)");
	}
	return rc;
}

int sink_commit(struct sink *s, unsigned worker)
{
	if (worker >= s->workers)
		return -EINVAL;
	return deliver(s, worker);
}

/*
 * Decodes lines (ECS JSON, each ending in '\n') into w's arena one at a time and hands each
 * event to fn; count must match. -EINVAL naming the line otherwise. *done: the events handed.
 */
static int each_line(struct sink_worker *w, const struct buf *lines, uint32_t count,
		     int (*fn)(void *ctx, const struct event *ev), void *ctx, uint32_t *done,
		     struct err *e)
{
	const char *p = lines->p, *end = p + lines->len;
	uint32_t n = 0;
	int rc;

	*done = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct err de = ERR_INIT;
		struct event ev;

		if (!nl)
			return err_set(e, -EINVAL, "events must be whole lines, each ending in a "
				       "newline");
		arena_clear(&w->arena);
		event_init(&ev, &w->arena);
		if ((rc = ecs_decode(&ev, p, (size_t)(nl - p), &de)) < 0)
			return err_set(e, -EINVAL, "event %u: not ECS JSON: %s", n + 1, de.msg);
		if ((rc = fn(ctx, &ev)) < 0)
			return err_set(e, rc, "event %u: not stored: %s", n + 1, strerror(-rc));
		*done = ++n;
		p = nl + 1;
	}
	if (n != count)
		return err_set(e, -EINVAL, "%u events given, %u lines", count, n);
	return 0;
}

struct deliver_ctx {
	struct sink *s;
	unsigned worker, slot;
};

static int deliver_one(void *ctx, const struct event *ev)
{
	struct deliver_ctx *d = ctx;

	(void)sink_event(d->s, d->worker, d->slot, ev); /* a drop is counted there */
	return 0;
}

int sink_deliver(struct sink *s, unsigned worker, unsigned slot, struct buf *lines,
		 uint32_t count)
{
	struct deliver_ctx d = { s, worker, slot };
	struct err e = ERR_INIT;
	uint32_t done;
	int rc;

	if (worker >= s->workers) {
		buf_reset(lines);
		return -EINVAL;
	}
	if ((rc = each_line(&s->w[worker], lines, count, deliver_one, &d, &done, &e)) < 0 &&
	    done < count) {
		drop(s, slot, DROP_OUTPUT_ERROR, count - done);
		log_error("tenant %s: %u events not stored (counted as dropped, output_error): %s",
			  s->q ? fairq_slot_name(s->q, slot) : "?", count - done, e.msg);
	}
	buf_reset(lines);
	return err_first(rc, sink_commit(s, worker));
}

struct encode_ctx {
	struct sink_worker *w;
};

static int encode_one(void *ctx, const struct event *ev)
{
	struct encode_ctx *c = ctx;

	return evcodec_add(&c->w->enc, &c->w->batch, ev);
}

int sink_write(struct sink *s, unsigned shard, uint64_t tenant, struct buf *lines,
	       uint32_t count, uint64_t *lsn, struct err *e)
{
	struct sink_worker *w = &s->w[s->workers];
	struct encode_ctx ec = { w };
	struct sink_account *a;
	uint32_t done;
	struct keys_data_key dk;
	int rc, slot;

	if (shard != s->workers)
		return err_set(e, -EINVAL, "shard %u is a worker's; use sink_ack_shard()", shard);
	if (!lines->len || lines->p[lines->len - 1] != '\n')
		return err_set(e, -EINVAL, "events must be whole lines, each ending in a newline");
	if (lines->len > SINK_RECORD_MAX)
		return err_set(e, -EMSGSIZE, "%zu bytes of events in one write (at most %u)",
			       lines->len, SINK_RECORD_MAX);
	if (!(a = account_find(s, tenant))) {
		struct id_lookup l = { .id = tenant };

		pthread_mutex_lock(&s->meta_lock);
		rc = meta_tenant_list(s->meta, take_tenant, &l, e);
		pthread_mutex_unlock(&s->meta_lock);
		if (rc < 0)
			return rc;
		if (!l.found)
			return err_set(e, -ENOENT, "no tenant with id %llu in koban.db",
				       (unsigned long long)tenant);
		if (!(a = account_get(s, tenant, l.name)))
			return err_set(e, -ENOBUFS, "more than %d tenants since the start",
				       SINK_MAX_TENANTS);
		if ((slot = slot_by_name(s, l.name)) >= 0)
			account_slot(s, a, (unsigned)slot);
	}
	if (over_quota(s, a)) {
		log_limited(&a->quota_log, LOG_LEVEL_WARN, "tenant %s is over its store quota "
			    "(%llu bytes): a write of %u events refused", a->name,
			    (unsigned long long)atomic_load(&a->quota), count);
		return err_set(e, -EDQUOT, "tenant %s is over its store quota (%llu bytes)", a->name,
			       (unsigned long long)atomic_load(&a->quota));
	}
	if ((rc = tenant_key(s, tenant, &dk, e)) < 0)
		return rc;
	pthread_mutex_lock(&s->ack_lock);
	buf_reset(&w->batch);
	if ((rc = evcodec_begin(&w->enc, &w->batch)) < 0)
		err_set(e, rc, "out of memory");
	else if ((rc = each_line(w, lines, count, encode_one, &ec, &done, e)) == 0 &&
		 (rc = evcodec_finish(&w->enc, &w->batch)) < 0)
		err_set(e, rc, "the events do not fit one record");
	if (rc == 0)
		rc = append_sealed(s, shard, tenant, &dk, w->batch.p, w->batch.len, count, a, lsn,
				   e);
	buf_reset(&w->batch);
	pthread_mutex_unlock(&s->ack_lock);
	explicit_bzero(&dk, sizeof(dk));
	if (rc < 0 && rc != -EINVAL)
		atomic_fetch_add_explicit(&s->errors[error_of(rc)], 1, memory_order_relaxed);
	return rc;
}
