#include "store/seal.h"
#include "core/compat.h"

#include "core/le.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define LOG_MODULE "seal"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/event.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "store/evcodec.h"
#include "store/held.h"
#include "store/keys.h"
#include "store/segment.h"
#include "store/store.h"

#define PATH_LEN 4096
#define STATE_MAGIC "KOBANSST"
#define STATE_VERSION 1
#define JOURNAL_MAGIC "KOBANSJ1"
#define JOURNAL_MAX ((size_t)16 << 20)
#define OPEN_TENANTS 32          /* tenants with segments open in one generation */
#define OPEN_SEGMENTS 64         /* segments open at once, all tenants (memory: a block each) */
#define TENANT_STATS_MAX 1024    /* tenants with their own sealed-events counter */
#define EVENT_ARENA_MAX ((size_t)1 << 30) /* a block's events (a merge reads whole blocks) */
/* Merging a tenant's small segments of one day (one tenant-day at a time, once a minute,
 * and on seal_now): */
#define MERGE_INTERVAL_NS (60 * NS_PER_SEC)
#define MERGE_MIN_SEGMENTS 4                 /* a day with fewer small ones is left alone */
#define MERGE_SMALL_BYTES ((uint64_t)32 << 20) /* a segment smaller than this is small */
#define MERGE_MAX_BYTES ((uint64_t)512 << 20)  /* merged at once, at most */
#define DROP_GRACE_S 600                     /* replaced segments are deleted this much later */
#define MERGE_PAUSE_NS (3600 * NS_PER_SEC)   /* no merge for this long after one failed */
#define GEN_NEW_MAX 65536                    /* segments one generation may write */

struct gen_tenant {
	uint64_t tenant;
	struct store_import *imp;
	struct keys_data_key dk;
	uint64_t used;
	uint64_t events; /* into its segments this generation */
};

struct tenant_count {
	uint64_t tenant;
	atomic_uint_fast64_t events;
};

/* A held log (store/held.h) of one of the lane's tenants: open until its records are sealed. */
struct lane_held {
	uint64_t tenant;
	struct held *h;
	bool appended; /* by this generation */
	bool sealing;  /* its records are sealed by this generation (journaled) */
};

/* Events of finished slots of this generation, by tenant: counted at its commit. */
struct gen_tally {
	uint64_t tenant, events;
};

/*
 * A lane seals the records of its tenants (tenant id mod the number of lanes), so that
 * tenants are sealed on as many cores as there are lanes. With one lane the sealer's thread
 * runs it itself; with more, each lane is a thread of its own that takes the records the
 * sealer's thread reads from the WAL through a queue (copies), and finishes its tenants'
 * segments when a commit asks. Everything else (the generation, the state, the journal's
 * file, merges) stays with the sealer's thread, which waits for every lane to be idle before
 * it commits or rolls back: a lane's import and slots are then the sealer thread's to read.
 */
struct lane {
	struct seal *s;
	unsigned id;
	struct store *st;                     /* the lane's own handle: one thread at a time */
	struct gen_tenant open[OPEN_TENANTS];
	size_t n_open;
	uint64_t tick;
	unsigned char *plain;                 /* an unsealed payload */
	size_t plain_cap;
	struct arena arena;                   /* one event's strings */
	struct evcodec_reader rd;             /* a record's event batch (WAL_FLAG_EVCODEC) */
	uint64_t events;                      /* sealed into the generation */
	uint64_t segments;                    /* segments it finished in the generation */
	struct gen_tally *tally;
	size_t n_tally;
	struct lane_held *held;               /* its tenants' held logs */
	size_t n_held, held_cap;

	/* A threaded lane (more than one): the hand-over, under mu. */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t more, idle;            /* records or a request queued; queue taken */
	struct buf q, work;                   /* records queued (struct lane_rec + payload) */
	bool busy, finish, quit;
	int rc;                               /* the generation's first error, 0: none */
	struct err err;
};

/* A record in a lane's queue, its payload after it (padded to 8 bytes). */
#define LANE_SEAL_HELD (1u << 31) /* flags of a request: seal tenant's held log (no payload) */
struct lane_rec {
	uint64_t lsn, tenant;
	uint32_t shard, count, flags, len;
};

struct seal {
	char *data_dir;
	char wal_dir[PATH_LEN], state_path[PATH_LEN], journal_path[PATH_LEN],
		dropped_path[PATH_LEN];
	struct wal *w;
	struct store *st;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	bool stopping;
	uint64_t req, served; /* seal_now, seal_hold and seal_flush requests */
	uint64_t merge_req;   /* the last request that asked for a merge (not seal_flush's) */
	uint64_t hold;        /* seal_hold's request: once served, no pass until seal_release */
	int req_rc;
	struct err req_err;
	seal_busy_fn *busy_fn; /* seal_set_busy */
	void *busy_ctx;

	/* The sealer thread's own state. */
	bool behind;                          /* the last pass stopped at a generation's size */
	uint64_t generation;                  /* committed */
	unsigned n_shards;
	uint64_t sealed[WAL_MAX_SHARDS];      /* committed LSN per shard */
	uint64_t read[WAL_MAX_SHARDS];        /* read into the generation */
	/* Events of the records up to sealed[i], read[i], as wal_durable_events counts them. */
	uint64_t sealed_count[WAL_MAX_SHARDS], read_count[WAL_MAX_SHARDS];
	struct lane *lanes;
	unsigned n_lanes;
	int journal_fd;                       /* -1 until the generation's first segment */
	uint64_t gen_events;                  /* events read into the generation */
	uint64_t gen_segments;                /* segments its merge finished */
	uint64_t gen_merged;                  /* segments its merge replaces */
	int64_t gen_started;                  /* time_mono_ns of its first record, 0: none */
	bool gen_held;                        /* it seals held logs */
	int64_t held_tried;                   /* time_mono_ns held tenants' keys were tried */
	struct arena arena;                   /* a merge's block of events */
	struct log_limit bad_lines, failures, held_lines;

	/*
	 * st_sealed_count: the sum of sealed_count (the backlog is the WAL's durable events past
	 * it); st_read: events read into the open generation.
	 */
	atomic_uint_fast64_t st_generation, st_sealed_count, st_read, st_events, st_segments,
		st_erased, st_invalid, st_unreadable, st_errors, st_held;
	pthread_mutex_t count_lock;
	struct tenant_count counts[TENANT_STATS_MAX];
	size_t n_counts;
	/* This generation's segments: new ones (journaled, by any lane) and those its merge
	 * replaces; under journal_lock with journal_fd. */
	pthread_mutex_t journal_lock;
	struct seal_segment *gen_segs;
	size_t n_gen_segs, gen_segs_cap;
	int64_t last_merge;                   /* time_mono_ns */
	int64_t merge_paused_until;           /* after a failed merge: time_mono_ns */
	atomic_uint_fast64_t st_merged, st_yield_ns;
};

static atomic_uint drop_grace = DROP_GRACE_S;
static atomic_uint_fast64_t yield_bound = SEAL_YIELD_WAL_BYTES;

void seal_test_yield_bound(uint64_t bytes)
{
	atomic_store(&yield_bound, bytes);
}

void seal_test_drop_grace(unsigned seconds)
{
	atomic_store(&drop_grace, seconds);
}

#define COUNT(c, k) atomic_fetch_add_explicit(&(c), (k), memory_order_relaxed)

static atomic_int crash_step;

void seal_test_crash_at(int step)
{
	atomic_store(&crash_step, step);
}

static void crash_point(int step)
{
	if (atomic_load(&crash_step) == step)
		_exit(99);
}

static int dropped_parse(const char *path, struct seal_segment **segs, int64_t **when,
			 size_t *n, struct err *e);
static bool read_moved(const struct seal *s);

static int path_of(char out[PATH_LEN], const char *dir, const char *name, struct err *e)
{
	int n = snprintf(out, PATH_LEN, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_LEN)
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	return 0;
}

/* ---- state and journal files ---- */

/* The whole file at path (at most max bytes), mem_alloc'ed; NULL with *rc set. */
static char *read_all(const char *path, size_t max, size_t *len, int *rc)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *p = NULL;
	size_t got = 0;

	*len = 0;
	if (fd < 0) {
		*rc = -errno;
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size > max) {
		*rc = errno && (size_t)sb.st_size <= max ? -errno : -EFBIG;
		goto fail;
	}
	p = mem_alloc((size_t)sb.st_size + 1);
	if (!p) {
		*rc = -ENOMEM;
		goto fail;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*rc = -errno;
			mem_free(p);
			p = NULL;
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	p[got] = '\0';
	*len = got;
	*rc = 0;
fail:
	close(fd);
	return p;
}

int seal_state_read(const char *data_dir, uint64_t *generation, uint64_t lsn[WAL_MAX_SHARDS],
		    unsigned *n, struct err *e)
{
	unsigned char b[24 + 8 * WAL_MAX_SHARDS + 4];
	char path[PATH_LEN];
	unsigned shards;
	ssize_t got;
	int fd, rc;

	*generation = 0;
	*n = 0;
	if ((rc = path_of(path, data_dir, "seal.state", e)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot open %s: %s", path,
						     strerror(errno));
	got = read(fd, b, sizeof(b));
	close(fd);
	if (got < 28 || memcmp(b, STATE_MAGIC, 8) || le_get32(b + 8) != STATE_VERSION)
		goto bad;
	shards = le_get32(b + 12);
	if (shards > WAL_MAX_SHARDS || (size_t)got != 24 + 8 * (size_t)shards + 4 ||
	    (uint32_t)crc32(0L, b, (uInt)(24 + 8 * shards)) != le_get32(b + 24 + 8 * shards))
		goto bad;
	*generation = le_get64(b + 16);
	for (unsigned i = 0; i < shards; i++)
		lsn[i] = le_get64(b + 24 + 8 * i);
	*n = shards;
	return 0;
bad:
	return err_set(e, -EBADMSG, "%s: damaged sealer state (see docs/store.md)", path);
}

static int state_write(struct seal *s, uint64_t generation, struct err *e)
{
	unsigned char b[24 + 8 * WAL_MAX_SHARDS + 4];
	size_t len = 24 + 8 * (size_t)s->n_shards;

	memcpy(b, STATE_MAGIC, 8);
	le_put32(b + 8, STATE_VERSION);
	le_put32(b + 12, s->n_shards);
	le_put64(b + 16, generation);
	for (unsigned i = 0; i < s->n_shards; i++)
		le_put64(b + 24 + 8 * i, s->read[i]);
	le_put32(b + len, (uint32_t)crc32(0L, b, (uInt)len));
	return fileio_replace(s->data_dir, "seal.state", b, len + 4, 0640, 0, e);
}

/* The journal's generation and segments (a torn last line is a segment never renamed). */
static int journal_parse(const char *path, uint64_t *generation, struct seal_segment **segs,
			 size_t *n, struct err *e)
{
	size_t len = 0, cap = 0;
	char *text;
	const char *p, *end;
	int rc = 0;

	*generation = 0;
	*segs = NULL;
	*n = 0;
	text = read_all(path, JOURNAL_MAX, &len, &rc);
	if (!text)
		return rc == -ENOENT ? 0 : err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
	p = text;
	end = text + len;
	{
		const char *nl = memchr(p, '\n', len);
		unsigned long long g;

		if (!nl) { /* its first line was being written: no segment was reserved yet */
			mem_free(text);
			return 0;
		}
		if (nl - p < 10 || memcmp(p, JOURNAL_MAGIC " ", 9) ||
		    sscanf(p + 9, "%llu", &g) != 1) {
			rc = err_set(e, -EBADMSG, "%s: not a sealer journal (expected \"%s N\" on "
				     "its first line)", path, JOURNAL_MAGIC);
			goto done;
		}
		*generation = g;
		p = nl + 1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		unsigned long long t;
		unsigned d = 0, q = 0;
		char line[96];
		bool drop = *p == '-', held = *p == 'H';

		if (!nl)
			break; /* torn: its segment was never renamed (nor merged: not dropped) */
		if ((size_t)(nl - p) >= sizeof(line) ||
		    (memcpy(line, p, (size_t)(nl - p)), line[nl - p] = '\0',
		     held ? sscanf(line + 1, "%llu", &t) != 1 :
			    sscanf(line + drop, "%llu %u %u", &t, &d, &q) != 3)) {
			rc = err_set(e, -EBADMSG, "%s: offset %zu: damaged journal line", path,
				     (size_t)(p - text));
			goto done;
		}
		if (*n == cap) {
			struct seal_segment *ns;

			cap = cap ? 2 * cap : 16;
			ns = mem_realloc(*segs, cap * sizeof(*ns));
			if (!ns) {
				rc = err_set(e, -ENOMEM, "out of memory");
				goto done;
			}
			*segs = ns;
		}
		(*segs)[(*n)++] = (struct seal_segment){ t, d, q, drop, held };
		p = nl + 1;
	}
done:
	mem_free(text);
	if (rc) {
		mem_free(*segs);
		*segs = NULL;
		*n = 0;
	}
	return rc;
}

int seal_journal_read(const char *data_dir, uint64_t committed, struct seal_segment **segs,
		      size_t *n, struct err *e)
{
	char path[PATH_LEN];
	size_t k = 0;
	uint64_t g;
	int rc;

	*segs = NULL;
	*n = 0;
	if ((rc = path_of(path, data_dir, "seal.journal", e)) ||
	    (rc = journal_parse(path, &g, segs, n, e)))
		return rc;
	/*
	 * uncommitted: its new segments; committed: the segments its merges replaced and the
	 * held logs it sealed
	 */
	for (size_t i = 0; i < *n; i++) {
		const struct seal_segment *sg = &(*segs)[i];

		if ((g == committed + 1 && !sg->drop && !sg->held) ||
		    (g == committed && (sg->drop || sg->held)))
			(*segs)[k++] = *sg;
	}
	*n = k;
	{ /* and the replaced segments not deleted yet */
		struct seal_segment *d, *all;
		size_t nd;

		if ((rc = path_of(path, data_dir, "seal.dropped", e)) ||
		    (rc = dropped_parse(path, &d, NULL, &nd, e))) {
			mem_free(*segs);
			*segs = NULL;
			*n = 0;
			return rc;
		}
		if (nd) {
			all = mem_realloc(*segs, (k + nd) * sizeof(*all));
			if (!all) {
				mem_free(d);
				mem_free(*segs);
				*segs = NULL;
				*n = 0;
				return err_set(e, -ENOMEM, "out of memory");
			}
			memcpy(all + k, d, nd * sizeof(*d));
			*segs = all;
			*n = k + nd;
			mem_free(d);
		}
	}
	if (!*n) {
		mem_free(*segs);
		*segs = NULL;
	}
	return 0;
}

bool seal_segment_listed(const struct seal_segment *list, size_t n, uint64_t tenant,
			 uint32_t day, uint32_t seq)
{
	for (size_t i = 0; i < n; i++)
		if (!list[i].held && list[i].tenant == tenant && list[i].day == day &&
		    list[i].seq == seq)
			return true;
	return false;
}

bool seal_held_sealed(const struct seal_segment *list, size_t n, uint64_t tenant)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].held && list[i].tenant == tenant)
			return true;
	return false;
}

/* What a journal line says. */
enum journal_kind {
	JOURNAL_NEW,  /* "T D Q": a segment of the generation */
	JOURNAL_DROP, /* "-T D Q": a segment its merge replaces */
	JOURNAL_HELD, /* "HT": tenant T's held log, which it seals */
};

/*
 * store_seal_hook_fn: a segment of the generation is journaled (durably) as soon as its number
 * is reserved, before its file exists; a held log before its first record is read. Any
 * lane's thread; under journal_lock.
 */
static int journal_append(struct seal *s, enum journal_kind kind, uint64_t tenant, uint32_t day,
			  uint32_t seq)
{
	bool drop = kind == JOURNAL_DROP, held = kind == JOURNAL_HELD;
	char line[96];
	int n, rc;

	if (s->n_gen_segs == s->gen_segs_cap) {
		size_t cap = s->gen_segs_cap ? 2 * s->gen_segs_cap : 64;
		struct seal_segment *ns;

		if (cap > GEN_NEW_MAX)
			return -EFBIG;
		ns = mem_realloc(s->gen_segs, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		s->gen_segs = ns;
		s->gen_segs_cap = cap;
	}

	if (s->journal_fd < 0) {
		s->journal_fd = open(s->journal_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
					      O_CLOEXEC, 0640);
		if (s->journal_fd < 0)
			return -errno;
		n = snprintf(line, sizeof(line), JOURNAL_MAGIC " %llu\n",
			     (unsigned long long)(s->generation + 1));
		if (write(s->journal_fd, line, (size_t)n) != n)
			return errno ? -errno : -EIO;
		if ((rc = fileio_sync_dir(s->data_dir)) < 0)
			return rc;
	}
	if (held)
		n = snprintf(line, sizeof(line), "H%llu\n", (unsigned long long)tenant);
	else
		n = snprintf(line, sizeof(line), "%s%llu %u %u\n", drop ? "-" : "",
			     (unsigned long long)tenant, day, seq);
	if (write(s->journal_fd, line, (size_t)n) != n || fdatasync(s->journal_fd) < 0)
		return errno ? -errno : -EIO;
	s->gen_segs[s->n_gen_segs++] = (struct seal_segment){ tenant, day, seq, drop, held };
	if (kind == JOURNAL_NEW)
		crash_point(1);
	return 0;
}

static int journal_write(struct seal *s, enum journal_kind kind, uint64_t tenant,
			 uint32_t day, uint32_t seq)
{
	int rc;

	pthread_mutex_lock(&s->journal_lock);
	rc = journal_append(s, kind, tenant, day, seq);
	pthread_mutex_unlock(&s->journal_lock);
	return rc;
}

static int journal_add(void *ctx, uint64_t tenant, uint32_t day, uint32_t seq)
{
	return journal_write(ctx, JOURNAL_NEW, tenant, day, seq);
}

/* ---- segments replaced by merges: listed in seal.dropped, deleted after a grace ---- */

/* Appends the committed drops of segs to seal.dropped (fsynced), stamped now. */
static int dropped_add(struct seal *s, const struct seal_segment *segs, size_t n, struct err *e)
{
	struct buf text = BUF_INIT(JOURNAL_MAX);
	long long now = (long long)(time_now_ns() / NS_PER_SEC);
	int fd, rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		if (segs[i].drop)
			rc = buf_addf(&text, "%llu %u %u %lld\n", (unsigned long long)segs[i].tenant,
				      segs[i].day, segs[i].seq, now);
	if (rc) {
		buf_release(&text);
		return err_set(e, rc, "%s: too many replaced segments", s->dropped_path);
	}
	if (!text.len)
		return 0;
	fd = open(s->dropped_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, text.p, text.len) != (ssize_t)text.len || fdatasync(fd) < 0)
		rc = err_set(e, errno ? -errno : -EIO, "cannot write %s: %s", s->dropped_path,
			     strerror(errno ? errno : EIO));
	if (fd >= 0)
		close(fd);
	buf_release(&text);
	return rc;
}

/* seal.dropped's segments (with their time in *when when not NULL); a torn last line is not. */
static int dropped_parse(const char *path, struct seal_segment **segs, int64_t **when,
			 size_t *n, struct err *e)
{
	size_t len = 0, cap = 0;
	const char *p, *end;
	char *text;
	int rc = 0;

	*segs = NULL;
	if (when)
		*when = NULL;
	*n = 0;
	text = read_all(path, JOURNAL_MAX, &len, &rc);
	if (!text)
		return rc == -ENOENT ? 0 : err_set(e, rc, "cannot read %s: %s", path, strerror(-rc));
	for (p = text, end = text + len; p < end && !rc;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		unsigned long long t;
		long long at;
		unsigned d, q;

		if (!nl)
			break;
		if (sscanf(p, "%llu %u %u %lld", &t, &d, &q, &at) != 4) {
			rc = err_set(e, -EBADMSG, "%s: offset %zu: damaged line", path,
				     (size_t)(p - text));
			break;
		}
		if (*n == cap) {
			struct seal_segment *ns;
			int64_t *nw = NULL;

			cap = cap ? 2 * cap : 16;
			ns = mem_realloc(*segs, cap * sizeof(*ns));
			if (ns)
				*segs = ns;
			if (ns && when && (nw = mem_realloc(*when, cap * sizeof(*nw))))
				*when = nw;
			if (!ns || (when && !nw)) {
				rc = err_set(e, -ENOMEM, "out of memory");
				break;
			}
		}
		if (when)
			(*when)[*n] = at;
		(*segs)[(*n)++] = (struct seal_segment){ t, d, q, true, false };
		p = nl + 1;
	}
	mem_free(text);
	if (rc) {
		mem_free(*segs);
		*segs = NULL;
		if (when) {
			mem_free(*when);
			*when = NULL;
		}
		*n = 0;
	}
	return rc;
}

/* Deletes the replaced segments whose grace has passed; the rest is written back. */
static int dropped_prune(struct seal *s, struct err *e)
{
	struct buf keep = BUF_INIT(JOURNAL_MAX);
	long long now = (long long)(time_now_ns() / NS_PER_SEC);
	struct seal_segment *segs;
	int64_t *when;
	size_t n, gone = 0;
	int rc = dropped_parse(s->dropped_path, &segs, &when, &n, e);

	if (rc || !n)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (when[i] + (long long)atomic_load(&drop_grace) <= now) {
			rc = store_segment_remove(s->st, segs[i].tenant, segs[i].day, segs[i].seq, e);
			gone++;
		} else {
			rc = buf_addf(&keep, "%llu %u %u %lld\n", (unsigned long long)segs[i].tenant,
				      segs[i].day, segs[i].seq, (long long)when[i]);
		}
	}
	if (!rc && gone)
		rc = fileio_replace(s->data_dir, "seal.dropped", keep.p, keep.len, 0640, 0, e);
	mem_free(segs);
	mem_free(when);
	buf_release(&keep);
	return rc;
}

/* Removes tenant's held log, its records sealed by a committed generation. */
static int held_remove(struct seal *s, uint64_t tenant, struct err *e)
{
	char dir[PATH_LEN], path[PATH_LEN];
	int rc;

	if ((rc = store_tenant_dir(s->st, tenant, false, dir, e)) ||
	    (rc = held_path(path, sizeof(path), dir, e)))
		return rc;
	/* gone already (a retry): the directory is synced all the same, the first may not have */
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	if ((rc = fileio_sync_dir(dir)) < 0 && rc != -ENOENT)
		return err_set(e, rc, "cannot sync %s: %s", dir, strerror(-rc));
	log_info("tenant %llu's held events are sealed: %s removed", (unsigned long long)tenant,
		 path);
	return 0;
}

/* The held logs a committed journal names, removed (before the journal: store.h). */
static int held_remove_sealed(struct seal *s, const struct seal_segment *segs, size_t n,
			      struct err *e)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		if (segs[i].held)
			rc = held_remove(s, segs[i].tenant, e);
	return rc;
}

/* Removes the segments of an uncommitted journal, then the journal (the lanes idle). */
static int journal_undo(struct seal *s, struct err *e)
{
	struct seal_segment *segs;
	uint64_t g;
	size_t n;
	int rc;

	if (s->journal_fd >= 0) {
		close(s->journal_fd);
		s->journal_fd = -1;
	}
	if ((rc = journal_parse(s->journal_path, &g, &segs, &n, e)))
		return rc;
	if (g > s->generation) {
		size_t removed = 0;

		for (size_t i = 0; i < n && !rc; i++)
			if (!segs[i].drop && !segs[i].held &&
			    !(rc = store_segment_remove(s->st, segs[i].tenant, segs[i].day,
							segs[i].seq, e)))
				removed++;
		if (!rc && removed)
			log_info("removed %zu segments of sealer generation %llu, which was not "
				 "committed (their events are still in the WAL)", removed,
				 (unsigned long long)g);
	} else if (g) {
		/*
		 * committed: the segments its merges replaced are listed for deletion (again), and
		 * the held logs it sealed removed
		 */
		if (!(rc = dropped_add(s, segs, n, e)))
			rc = held_remove_sealed(s, segs, n, e);
	}
	mem_free(segs);
	s->n_gen_segs = 0;
	if (!rc && unlink(s->journal_path) < 0 && errno != ENOENT)
		rc = err_set(e, -errno, "cannot remove %s: %s", s->journal_path, strerror(errno));
	return rc;
}

/* ---- metrics ---- */

static void count_tenant(struct seal *s, uint64_t tenant, uint64_t events)
{
	pthread_mutex_lock(&s->count_lock);
	for (size_t i = 0; i < s->n_counts; i++)
		if (s->counts[i].tenant == tenant) {
			COUNT(s->counts[i].events, events);
			pthread_mutex_unlock(&s->count_lock);
			return;
		}
	if (s->n_counts < TENANT_STATS_MAX) {
		s->counts[s->n_counts].tenant = tenant;
		atomic_store(&s->counts[s->n_counts++].events, events);
	}
	pthread_mutex_unlock(&s->count_lock);
}

/*
 * Events durable in the WAL and not in committed segments: those read into the open
 * generation and those not read yet. Any thread: the sealed count is loaded first, and the
 * sealer only ever commits what the WAL had made durable, so the WAL's counts loaded after
 * it are never below it.
 */
static uint64_t backlog(struct seal *s)
{
	uint64_t sealed = atomic_load(&s->st_sealed_count), durable = 0;

	for (unsigned i = 0; i < s->n_shards; i++)
		durable += wal_durable_events(s->w, i);
	return durable > sealed ? durable - sealed : 0; /* never a wrapped count */
}

/* The sealer's thread (recover, commit): sealed_count published for backlog(). */
static void publish_sealed(struct seal *s)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < s->n_shards; i++)
		sum += s->sealed_count[i];
	atomic_store(&s->st_sealed_count, sum);
}

static int collect_backlog(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, backlog(ctx), NULL);
}

static int collect_events(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;
	int rc = 0;

	pthread_mutex_lock(&s->count_lock);
	for (size_t i = 0; i < s->n_counts && !rc; i++) {
		char id[24];

		snprintf(id, sizeof(id), "%llu", (unsigned long long)s->counts[i].tenant);
		rc = metrics_sample(o, atomic_load(&s->counts[i].events), "tenant_id", id, NULL);
	}
	pthread_mutex_unlock(&s->count_lock);
	return rc;
}

static int collect_segments(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;

	return metrics_sample(o, atomic_load(&s->st_segments), NULL);
}

static int collect_skipped(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;
	int rc = metrics_sample(o, atomic_load(&s->st_erased), "reason", "erased", NULL);

	if (!rc)
		rc = metrics_sample(o, atomic_load(&s->st_invalid), "reason", "invalid", NULL);
	return rc ? rc : metrics_sample(o, atomic_load(&s->st_unreadable), "reason", "unreadable",
					NULL);
}

static int collect_errors(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;

	return metrics_sample(o, atomic_load(&s->st_errors), NULL);
}

static int collect_merged(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;

	return metrics_sample(o, atomic_load(&s->st_merged), NULL);
}

static int collect_held(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;

	return metrics_sample(o, atomic_load(&s->st_held), NULL);
}

static int collect_yield(struct metrics_out *o, void *ctx)
{
	struct seal *s = ctx;

	return metrics_sample_double(o, (double)atomic_load(&s->st_yield_ns) / 1e9, NULL);
}

static int register_metrics(struct seal *s, struct err *e)
{
	int rc;

	if ((rc = metrics_register("koban_store_seal_backlog_events", METRICS_GAUGE,
				   "Events in the WAL not yet in committed segments.",
				   collect_backlog, s)) ||
	    (rc = metrics_register("koban_store_sealed_events_total", METRICS_COUNTER,
				   "Events committed from the WAL into segments, by tenant id.",
				   collect_events, s)) ||
	    (rc = metrics_register("koban_store_sealed_segments_total", METRICS_COUNTER,
				   "Segments committed by the sealer.", collect_segments, s)) ||
	    (rc = metrics_register("koban_store_seal_skipped_total", METRICS_COUNTER,
				   "WAL events not sealed, by reason.", collect_skipped, s)) ||
	    (rc = metrics_register("koban_store_seal_errors_total", METRICS_COUNTER,
				   "Sealer generations rolled back after an error.", collect_errors,
				   s)) ||
	    (rc = metrics_register("koban_store_segments_merged_total", METRICS_COUNTER,
				   "Small segments replaced by merged ones.", collect_merged, s)) ||
	    (rc = metrics_register("koban_store_seal_yield_seconds_total", METRICS_COUNTER,
				   "Seconds the sealer paused because ingest was behind.",
				   collect_yield, s)) ||
	    (rc = metrics_register("koban_store_held_events", METRICS_GAUGE,
				   "Events held, not sealed, until their tenant's data key opens.",
				   collect_held, s))) {
		metrics_unregister(s);
		return err_set(e, rc, "cannot register the sealer's metrics: %s", strerror(-rc));
	}
	return 0;
}

/* ---- lanes: the records of a lane's tenants into their segments ---- */

#define LANE_QUEUE_MAX ((size_t)4 << 20) /* bytes of records queued for a lane thread */
#define LANES_MAX 16
#define LANE_OPEN_MIN 8 /* open segments a lane may keep, however many lanes share the 64 */
#define SCAN_SLICE 4    /* records of a shard read in a turn, with lanes */

static void tally_add(struct lane *l, uint64_t tenant, uint64_t events)
{
	for (size_t i = 0; i < l->n_tally; i++)
		if (l->tally[i].tenant == tenant) {
			l->tally[i].events += events;
			return;
		}
	if (l->n_tally < TENANT_STATS_MAX) /* past it: only the total counts them */
		l->tally[l->n_tally++] = (struct gen_tally){ tenant, events };
}

/* Finishes slot i's segments (journaled), tallies its events and frees the slot. */
static int finish_tenant(struct lane *l, size_t i, struct err *e)
{
	struct gen_tenant *g = &l->open[i];
	struct store_import_stats is;
	int rc = store_import_finish(g->imp, &is, e);

	g->imp = NULL;
	memset(&g->dk, 0, sizeof(g->dk));
	l->segments += is.segments;
	tally_add(l, g->tenant, g->events);
	l->open[i] = l->open[--l->n_open];
	return rc;
}

/* Finishes every open segment and syncs the held logs appended to (the commit's step). */
static int lane_finish_all(struct lane *l, struct err *e)
{
	int rc = 0;

	while (l->n_open && !rc)
		rc = finish_tenant(l, l->n_open - 1, e);
	/* every open log: one opened again may hold appends never synced (nothing if clean) */
	for (size_t i = 0; i < l->n_held && !rc; i++)
		if (l->held[i].h)
			rc = held_sync(l->held[i].h, e);
	return rc;
}

/* Drops what the lane holds of the generation (the lane is idle or the caller's). */
static void lane_abort(struct lane *l)
{
	for (size_t i = 0; i < l->n_open; i++) {
		store_import_abort(l->open[i].imp);
		memset(&l->open[i].dk, 0, sizeof(l->open[i].dk));
	}
	l->n_open = 0;
	l->events = 0;
	l->segments = 0;
	l->n_tally = 0;
	l->rc = 0;
	for (size_t i = 0; i < l->n_held; i++)
		l->held[i].appended = l->held[i].sealing = false;
}

/* ---- held logs: the records of a tenant whose key does not open (store/held.h) ---- */

static struct lane_held *lane_held_find(struct lane *l, uint64_t tenant)
{
	for (size_t i = 0; i < l->n_held; i++)
		if (l->held[i].tenant == tenant)
			return &l->held[i];
	return NULL;
}

static int lane_held_add(struct lane *l, uint64_t tenant, struct held *h, struct err *e)
{
	if (l->n_held == l->held_cap) {
		size_t cap = l->held_cap ? 2 * l->held_cap : 4;
		struct lane_held *nh = mem_realloc(l->held, cap * sizeof(*nh));

		if (!nh)
			return err_set(e, -ENOMEM, "out of memory");
		l->held = nh;
		l->held_cap = cap;
	}
	l->held[l->n_held++] = (struct lane_held){ .tenant = tenant, .h = h };
	return 0;
}

/* Closes the file of held log entry lh (kept: the tenant is still held), if open. */
static void held_entry_close(struct seal *s, struct lane_held *lh)
{
	if (!lh->h)
		return;
	atomic_fetch_sub(&s->st_held, held_events(lh->h));
	held_close(lh->h);
	lh->h = NULL;
}

/* Closes held log i (sealed, or its tenant erased) and forgets it. */
static void lane_held_drop(struct lane *l, size_t i)
{
	held_entry_close(l->s, &l->held[i]);
	l->held[i] = l->held[--l->n_held];
}

/*
 * Opens lh's file when it is not (made with the tenant's directory when missing), with st
 * (the caller's thread's store handle): what the committed state covers is known to it.
 */
static int held_entry_open(struct seal *s, struct store *st, struct lane_held *lh,
			   struct err *e)
{
	const struct held_bound b = { s->sealed, s->n_shards, false };
	char dir[PATH_LEN];
	int rc;

	if (lh->h)
		return 0;
	if ((rc = store_tenant_dir(st, lh->tenant, true, dir, e)) ||
	    (rc = held_open(&lh->h, dir, &b, e)))
		return rc;
	COUNT(s->st_held, held_events(lh->h));
	return 0;
}

/* tenant's held log entry, with its file open (made when the lane has none). */
static int lane_held_get(struct lane *l, uint64_t tenant, struct lane_held **out,
			 struct err *e)
{
	int rc;

	if (!(*out = lane_held_find(l, tenant))) {
		if ((rc = lane_held_add(l, tenant, NULL, e)))
			return rc;
		*out = &l->held[l->n_held - 1];
	}
	return held_entry_open(l->s, l->st, *out, e);
}

/*
 * Past the lane's share of OPEN_SEGMENTS open segments, at least LANE_OPEN_MIN (events spread
 * over many days and tenants), the least used tenant's segments other than keep's are
 * finished (they are part of the generation).
 */
static int bound_open(struct lane *l, const struct gen_tenant *keep, struct err *e)
{
	size_t open = 0, lru = SIZE_MAX, most = MAX(OPEN_SEGMENTS / l->s->n_lanes, LANE_OPEN_MIN);

	for (size_t i = 0; i < l->n_open; i++) {
		open += store_import_open_segments(l->open[i].imp);
		if (&l->open[i] != keep && (lru == SIZE_MAX || l->open[i].used < l->open[lru].used))
			lru = i;
	}
	if (open <= most || lru == SIZE_MAX)
		return 0;
	return finish_tenant(l, lru, e);
}

/*
 * The slot of tenant in the generation, opened (the least used one finished) when new: 0, 1
 * when the tenant's key is destroyed (erased), 2 when it does not open (e says why), or < 0.
 */
static int tenant_slot(struct lane *l, uint64_t tenant, struct gen_tenant **out, struct err *e)
{
	struct keys_data_key dk;
	struct gen_tenant *g;
	size_t i;
	int rc;

	*out = NULL;
	for (i = 0; i < l->n_open; i++)
		if (l->open[i].tenant == tenant) {
			l->open[i].used = ++l->tick;
			*out = &l->open[i];
			return 0;
		}
	rc = store_tenant_key(l->st, tenant, &dk, e);
	if (rc == -ENOENT)
		return 1; /* erased */
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return 2; /* damaged, unreadable, another master key's: held */
	if (l->n_open == OPEN_TENANTS) { /* finish the least used tenant's segments */
		size_t lru = 0;

		for (i = 1; i < OPEN_TENANTS; i++)
			if (l->open[i].used < l->open[lru].used)
				lru = i;
		if ((rc = finish_tenant(l, lru, e))) {
			memset(&dk, 0, sizeof(dk));
			return rc;
		}
	}
	g = &l->open[l->n_open];
	memset(g, 0, sizeof(*g));
	g->dk = dk;
	memset(&dk, 0, sizeof(dk));
	if ((rc = store_import_begin(l->st, tenant, &g->imp, e))) {
		memset(&g->dk, 0, sizeof(g->dk));
		return rc;
	}
	store_import_set_hook(g->imp, journal_add, l->s);
	g->tenant = tenant;
	g->used = ++l->tick;
	l->n_open++;
	*out = g;
	return 0;
}

/* One decoded event into g's segments, counted for the lane and the tenant. */
static int import_event(struct lane *l, struct gen_tenant *g, const struct event *ev,
			struct err *e)
{
	int rc = store_import_add(g->imp, ev, e);

	if (rc < 0)
		return rc;
	l->events++;
	g->events++;
	return 0;
}

/* The events of one record's binary batch (store/evcodec.h) into the generation. */
static int read_batch(struct lane *l, struct gen_tenant *g, unsigned shard, uint64_t lsn,
		      uint32_t count, const char *p, size_t len, struct err *e)
{
	struct seal *s = l->s;
	struct err de = ERR_INIT;
	const void *evp;
	size_t evlen;
	uint32_t n = 0;
	int rc;

	if ((rc = evcodec_open(&l->rd, p, len, &de)) < 0) {
		COUNT(s->st_invalid, count);
		log_limited(&s->bad_lines, LOG_LEVEL_WARN, "WAL shard %u: LSN %llu: %u events "
			    "not sealed: %s", shard, (unsigned long long)lsn, count, de.msg);
		return rc == -ENOMEM ? err_set(e, rc, "out of memory") : 0;
	}
	while ((rc = evcodec_next(&l->rd, &evp, &evlen, &de)) > 0) {
		struct event ev;

		n++;
		arena_clear(&l->arena);
		event_init(&ev, &l->arena);
		if ((rc = evcodec_decode(&l->rd, evp, evlen, &ev, &de)) < 0) {
			COUNT(s->st_invalid, 1);
			log_limited(&s->bad_lines, LOG_LEVEL_WARN, "WAL shard %u: LSN %llu: an "
				    "event not sealed: %s", shard, (unsigned long long)lsn, de.msg);
		} else if ((rc = import_event(l, g, &ev, e)) < 0) {
			return rc;
		}
	}
	if (rc < 0 || n < count) {
		/* a damaged batch: the events not read are counted as invalid */
		COUNT(s->st_invalid, count - MIN(n, count));
		log_limited(&s->bad_lines, LOG_LEVEL_WARN, "WAL shard %u: LSN %llu: %u of %u "
			    "events not read: %s", shard, (unsigned long long)lsn,
			    count - MIN(n, count), count, rc < 0 ? de.msg : "the batch ends early");
	}
	return bound_open(l, g, e);
}

/* The ECS JSON lines of one record (WAL_FLAG_EVCODEC not set) into the generation. */
static int read_lines(struct lane *l, struct gen_tenant *g, unsigned shard, uint64_t lsn,
		      const char *p, const char *end, struct err *e)
{
	struct seal *s = l->s;
	int rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct err de = ERR_INIT;
		struct event ev;

		if (n) {
			arena_clear(&l->arena);
			event_init(&ev, &l->arena);
			if (ecs_decode(&ev, p, n, &de) < 0) {
				COUNT(s->st_invalid, 1);
				log_limited(&s->bad_lines, LOG_LEVEL_WARN, "WAL shard %u: LSN %llu: "
					    "an event that is not ECS JSON, not sealed: %s", shard,
					    (unsigned long long)lsn, de.msg);
			} else if ((rc = import_event(l, g, &ev, e)) < 0) {
				return rc;
			}
		}
		p += n + 1;
	}
	return bound_open(l, g, e);
}

/*
 * A record of a held tenant into its held log: its key does not open (why), or its earlier
 * records wait there (only the log's sealing, first in a generation, takes it back to
 * segments: a record sealed from the WAL while earlier appends of an uncommitted generation
 * wait in the log would be sealed twice).
 */
static int lane_hold(struct lane *l, const struct lane_rec *r, const void *payload,
		     const struct err *why, struct err *e)
{
	struct seal *s = l->s;
	struct lane_held *lh;
	int rc;

	if ((rc = lane_held_get(l, r->tenant, &lh, e)))
		return rc;
	if (lh->sealing)
		return err_set(e, -EAGAIN, "tenant %llu's data key stopped opening while its held "
			       "events were being sealed: %s", (unsigned long long)r->tenant,
			       why->msg);
	rc = held_append(lh->h, r->shard, r->lsn, r->count, r->flags, payload, r->len, e);
	if (rc < 0) {
		held_entry_close(s, lh); /* opened again, its torn end cut, by the retry */
		return rc;
	}
	if (rc == 0) {
		lh->appended = true;
		COUNT(s->st_held, r->count);
		log_limited(&s->held_lines, LOG_LEVEL_ERROR, "tenant %llu's events are held, not "
			    "sealed, until its data key opens (every other tenant is sealed; "
			    "docs/store.md, Keys): %s", (unsigned long long)r->tenant, why->msg);
	}
	return 0;
}

static int lane_record(struct lane *l, const struct lane_rec *r, const void *payload,
		       struct err *e);

/*
 * A record handed over by the WAL or a held log (wal_replay_fn's arguments) as a lane's.
 * Neither hands over flag bit 31 (the WAL's own); it is cleared all the same, so that no
 * record is ever taken for a LANE_SEAL_HELD request.
 */
static struct lane_rec lane_rec_of(unsigned shard, uint64_t lsn, uint64_t tenant,
				   uint32_t count, uint32_t flags, size_t len)
{
	return (struct lane_rec){ .lsn = lsn, .tenant = tenant, .shard = shard, .count = count,
				  .flags = flags & ~LANE_SEAL_HELD, .len = (uint32_t)len };
}

struct held_feed {
	struct lane *l;
	struct err *e;
};

/* wal_replay_fn: a held record into the generation, as if read from the WAL. */
static int feed_held(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		     uint32_t flags, const void *payload, size_t len)
{
	struct held_feed *f = ctx;
	struct lane_rec r = lane_rec_of(shard, lsn, tenant, count, flags, len);

	return lane_record(f->l, &r, payload, f->e);
}

/*
 * The records of tenant's held log that the committed state covers, sealed into the
 * generation when the tenant's key opens (journaled first: the commit removes the log).
 */
static int lane_seal_held(struct lane *l, uint64_t tenant, struct err *e)
{
	struct seal *s = l->s;
	struct lane_held *lh = lane_held_find(l, tenant);
	struct held_feed f = { l, e };
	struct gen_tenant *g;
	struct err ke = ERR_INIT;
	int rc;

	if (!lh || !lh->h || lh->sealing)
		return 0;
	if (lh->appended)
		return err_set(e, -EAGAIN, "tenant %llu: held and sealed in one generation",
			       (unsigned long long)tenant);
	if ((rc = tenant_slot(l, tenant, &g, &ke)) < 0) {
		*e = ke;
		return rc;
	}
	if (rc)
		return 0; /* erased meanwhile, or the key failed again: tried later */
	if ((rc = journal_write(s, JOURNAL_HELD, tenant, 0, 0)) < 0)
		return err_set(e, rc, "%s: cannot journal tenant %llu's held log: %s",
			       s->journal_path, (unsigned long long)tenant, strerror(-rc));
	lh->sealing = true;
	log_info("tenant %llu's data key opens again: sealing its %llu held events",
		 (unsigned long long)tenant, (unsigned long long)held_events(lh->h));
	rc = held_replay(lh->h, tenant, &(const struct held_bound){ s->sealed, s->n_shards, false },
			 feed_held, &f, e);
	if (rc == -EBADMSG) /* damaged since it was opened: the retry's open salvages it */
		held_entry_close(s, lh);
	return rc;
}

/* One durable record of tenant into the lane's part of the generation (or a request). */
static int lane_record(struct lane *l, const struct lane_rec *r, const void *payload,
		       struct err *e)
{
	struct seal *s = l->s;
	struct gen_tenant *g;
	struct lane_held *lh;
	struct err why = ERR_INIT;
	const char *p;
	size_t len = r->len;
	int rc;

	if (r->flags & LANE_SEAL_HELD)
		return lane_seal_held(l, r->tenant, e);
	lh = lane_held_find(l, r->tenant);
	rc = tenant_slot(l, r->tenant, &g, &why);
	if (rc < 0) {
		*e = why;
		return rc;
	}
	if (rc == 1) {
		if (lh && !lh->sealing) /* its files went with the erasure */
			lane_held_drop(l, (size_t)(lh - l->held));
		COUNT(s->st_erased, r->count);
		return 0;
	}
	if (rc == 2 || (lh && !lh->sealing)) {
		if (rc == 0)
			err_set(&why, -EAGAIN, "its earlier events are held");
		return lane_hold(l, r, payload, &why, e);
	}
	p = payload;
	if (r->flags & WAL_FLAG_SEALED) {
		if (len < KEYS_SEAL_OVERHEAD)
			return err_set(e, -EBADMSG, "WAL shard %u: LSN %llu: sealed record of "
				       "%zu bytes", r->shard, (unsigned long long)r->lsn, len);
		if (len - KEYS_SEAL_OVERHEAD > l->plain_cap) {
			unsigned char *np = mem_realloc(l->plain, len);

			if (!np)
				return err_set(e, -ENOMEM, "out of memory");
			l->plain = np;
			l->plain_cap = len;
		}
		if (keys_unseal(&g->dk, WAL_SEAL_BLOCK_ID, payload, len, l->plain) < 0) {
			/* damaged, or sealed with a key since destroyed and made anew: skipping it
			 * (counted, logged) is better than sealing nothing more */
			COUNT(s->st_unreadable, r->count);
			log_limited(&s->bad_lines, LOG_LEVEL_ERROR, "WAL shard %u: LSN %llu: the "
				    "record does not open with tenant %llu's data key: %u events "
				    "not sealed", r->shard, (unsigned long long)r->lsn,
				    (unsigned long long)r->tenant, r->count);
			return 0;
		}
		p = (const char *)l->plain;
		len -= KEYS_SEAL_OVERHEAD;
	}
	if (r->flags & WAL_FLAG_EVCODEC)
		return read_batch(l, g, r->shard, r->lsn, r->count, p, len, e);
	return read_lines(l, g, r->shard, r->lsn, p, p + len, e);
}

static size_t rec_size(uint32_t len)
{
	return sizeof(struct lane_rec) + (((size_t)len + 7) & ~(size_t)7);
}

/* A lane thread's work: the records queued in l->work, until the first error. */
static int lane_run(struct lane *l, struct err *e)
{
	int rc = 0;

	for (size_t off = 0; off < l->work.len && !rc;) {
		struct lane_rec r;

		memcpy(&r, l->work.p + off, sizeof(r));
		rc = lane_record(l, &r, l->work.p + off + sizeof(r), e);
		off += rec_size(r.len);
	}
	if (l->work.cap > 2 * LANE_QUEUE_MAX)
		buf_release(&l->work); /* grown for a record past the queue's size: given back */
	else
		buf_reset(&l->work);
	return rc;
}

/*
 * A lane's thread. l->rc is written under l->mu (lanes_failed reads it any time) and read
 * without it here: only the sealer's thread clears it, while the lane is idle.
 */
static void *lane_main(void *arg)
{
	struct lane *l = arg;
	char name[16];

	snprintf(name, sizeof(name), "koban-seal%u", l->id);
	pthread_setname_np(pthread_self(), name);
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), SEAL_NICE) < 0)
		log_debug("a sealer lane keeps the workers' CPU priority: %s", strerror(errno));
	pthread_mutex_lock(&l->mu);
	for (;;) {
		struct err e = ERR_INIT;
		int rc = 0;

		while (!l->quit && !l->q.len && !l->finish)
			pthread_cond_wait(&l->more, &l->mu);
		if (l->quit)
			break;
		l->busy = true;
		if (l->q.len) { /* the queue becomes the work; the work's memory the queue */
			struct buf t = l->work;

			l->work = l->q;
			l->q = t;
			pthread_cond_broadcast(&l->idle); /* room in the queue */
			pthread_mutex_unlock(&l->mu);
			if (!l->rc)
				rc = lane_run(l, &e);
			else
				buf_reset(&l->work); /* the generation is rolled back anyway */
		} else {
			l->finish = false;
			pthread_mutex_unlock(&l->mu);
			if (!l->rc)
				rc = lane_finish_all(l, &e);
		}
		pthread_mutex_lock(&l->mu);
		if (rc && !l->rc) {
			l->rc = rc;
			l->err = e;
		}
		l->busy = false;
		pthread_cond_broadcast(&l->idle);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Queues a record for a lane thread: waits while its queue is full. */
static int lane_enqueue(struct lane *l, const struct lane_rec *r, const void *payload,
			struct err *e)
{
	static const char pad[8];
	size_t need = rec_size(r->len);
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	while (l->q.len && l->q.len + need > LANE_QUEUE_MAX)
		pthread_cond_wait(&l->idle, &l->mu);
	if ((rc = buf_add(&l->q, r, sizeof(*r))) < 0 || (rc = buf_add(&l->q, payload, r->len)) < 0 ||
	    (rc = buf_add(&l->q, pad, need - sizeof(*r) - r->len)) < 0)
		rc = err_set(e, rc, "a sealer lane's queue: %s", strerror(-rc));
	else
		pthread_cond_signal(&l->more);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/*
 * Waits until every lane has sealed what it was given, after finishing its tenants'
 * segments when finish is set; returns the first lane's error of the generation (*e set).
 * With one lane (no thread) only the finish is done, here.
 */
static int lanes_wait(struct seal *s, bool finish, struct err *e)
{
	int rc = 0;

	if (!s->lanes[0].started)
		return finish ? lane_finish_all(&s->lanes[0], e) : 0;
	for (unsigned i = 0; i < s->n_lanes; i++) {
		struct lane *l = &s->lanes[i];

		pthread_mutex_lock(&l->mu);
		if (finish && !l->rc) {
			l->finish = true;
			pthread_cond_signal(&l->more);
		}
		pthread_mutex_unlock(&l->mu);
	}
	for (unsigned i = 0; i < s->n_lanes; i++) {
		struct lane *l = &s->lanes[i];

		pthread_mutex_lock(&l->mu);
		while (l->q.len || l->busy || l->finish)
			pthread_cond_wait(&l->idle, &l->mu);
		if (l->rc && !rc) {
			rc = l->rc;
			*e = l->err;
		}
		pthread_mutex_unlock(&l->mu);
	}
	return rc;
}

/* The first error of a lane thread in this generation, without waiting (0: none yet). */
static int lanes_failed(struct seal *s, struct err *e)
{
	int rc = 0;

	for (unsigned i = 0; i < s->n_lanes && s->lanes[i].started && !rc; i++) {
		struct lane *l = &s->lanes[i];

		pthread_mutex_lock(&l->mu);
		if ((rc = l->rc))
			*e = l->err;
		pthread_mutex_unlock(&l->mu);
	}
	return rc;
}

/* ---- generations ---- */

/*
 * Drops the generation: what the lanes have queued and open, the segments it journaled, what
 * was read (read again from the log by the next pass).
 */
static void rollback(struct seal *s)
{
	struct err e = ERR_INIT;

	for (unsigned i = 0; i < s->n_lanes; i++) {
		struct lane *l = &s->lanes[i];

		if (!l->started)
			continue;
		pthread_mutex_lock(&l->mu);
		buf_reset(&l->q); /* not sealed only to be removed */
		pthread_mutex_unlock(&l->mu);
	}
	if (lanes_wait(s, false, &e)) /* the lanes idle; their error is why we are here */
		log_debug("rolling back: %s", e.msg);
	for (unsigned i = 0; i < s->n_lanes; i++)
		lane_abort(&s->lanes[i]);
	e = (struct err)ERR_INIT;
	if (journal_undo(s, &e))
		log_error("%s", e.msg);
	memcpy(s->read, s->sealed, sizeof(s->read));
	memcpy(s->read_count, s->sealed_count, sizeof(s->read_count));
	s->gen_events = 0;
	s->gen_started = 0;
	s->gen_held = false;
	s->gen_segments = 0;
	s->gen_merged = 0;
	atomic_store(&s->st_read, 0);
}

/* Counts what the lanes sealed into the committed generation, and clears it. */
static void count_lanes(struct seal *s)
{
	uint64_t events = 0, segments = s->gen_segments;

	for (unsigned i = 0; i < s->n_lanes; i++) {
		struct lane *l = &s->lanes[i];

		for (size_t j = 0; j < l->n_tally; j++)
			count_tenant(s, l->tally[j].tenant, l->tally[j].events);
		events += l->events;
		segments += l->segments;
		l->n_tally = 0;
		l->events = 0;
		l->segments = 0;
	}
	COUNT(s->st_events, events);
	COUNT(s->st_segments, segments);
	log_debug("generation %llu committed: %llu events", (unsigned long long)s->generation,
		  (unsigned long long)events);
}

static int merge_one(struct seal *s, struct err *e);

/*
 * After the commit (the lanes idle): the held logs it sealed are closed and removed, the
 * others' appends are now committed ones.
 */
static int held_committed(struct seal *s, struct err *e)
{
	for (unsigned i = 0; i < s->n_lanes; i++) {
		struct lane *l = &s->lanes[i];

		for (size_t j = l->n_held; j-- > 0;) {
			l->held[j].appended = false;
			if (l->held[j].sealing)
				lane_held_drop(l, j);
		}
	}
	return held_remove_sealed(s, s->gen_segs, s->n_gen_segs, e);
}

/* Whether a generation is open: records read, or held logs being sealed. */
static bool gen_open(const struct seal *s)
{
	return read_moved(s) || s->gen_held;
}

static int commit(struct seal *s, bool merge, struct err *e)
{
	int rc = lanes_wait(s, true, e);

	if (!rc && merge && (rc = merge_one(s, e)) >= 0) {
		if (!rc && !read_moved(s))
			return 0; /* nothing read, nothing merged: no new generation */
		rc = 0;
	}
	if (rc)
		return rc;
	crash_point(2);
	if ((rc = state_write(s, s->generation + 1, e)))
		return rc;
	s->generation++;
	memcpy(s->sealed, s->read, sizeof(s->sealed));
	memcpy(s->sealed_count, s->read_count, sizeof(s->sealed_count));
	publish_sealed(s);
	count_lanes(s);
	COUNT(s->st_merged, s->gen_merged);
	s->gen_segments = 0;
	s->gen_merged = 0;
	atomic_store(&s->st_generation, s->generation);
	atomic_store(&s->st_read, 0);
	s->gen_events = 0;
	s->gen_started = 0;
	s->gen_held = false;
	crash_point(3);
	/*
	 * what the merges replaced: deleted after a grace (searches in progress read them); the
	 * held logs sealed: removed before the journal that names them
	 */
	if ((rc = held_committed(s, e)) || (rc = dropped_add(s, s->gen_segs, s->n_gen_segs, e)))
		return rc; /* the rollback's journal_undo tries again */
	if (s->journal_fd >= 0) {
		close(s->journal_fd);
		s->journal_fd = -1;
	}
	s->n_gen_segs = 0;
	if (unlink(s->journal_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", s->journal_path, strerror(errno));
	crash_point(4);
	for (unsigned i = 0; i < s->n_shards; i++) {
		struct err ce = ERR_INIT;

		/* Only removes WAL files: the state above already says what is sealed. */
		if (s->sealed[i] && wal_checkpoint(s->w, i, s->sealed[i], s->sealed_count[i], &ce))
			log_warn("WAL checkpoint of shard %u: %s", i, ce.msg);
	}
	return 0;
}

/* ---- merging a day's small segments ---- */

struct merge_cand {
	uint32_t day, seq;
	uint64_t bytes;
};

static int cmp_cand_day(const void *a, const void *b)
{
	const struct merge_cand *x = a, *y = b;

	return x->day != y->day ? (x->day < y->day ? -1 : 1) : (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

static int cmp_cand_bytes(const void *a, const void *b)
{
	const struct merge_cand *x = a, *y = b;

	return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

/*
 * The small segments of a tenant's directory (not this generation's, not replaced ones),
 * sorted by day then size; *c mem_alloc'ed.
 */
static int small_segments(struct seal *s, const char *dir, uint64_t tenant,
			  const struct seal_segment *dropped, size_t n_dropped,
			  struct merge_cand **c, size_t *n, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*c = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot read %s: %s", dir,
						     strerror(errno));
	while ((de = readdir(d))) {
		struct merge_cand m;
		struct stat sb;

		if (segment_name_parse(de->d_name, &m.day, &m.seq) < 0 ||
		    fstatat(dirfd(d), de->d_name, &sb, 0) < 0 ||
		    (uint64_t)sb.st_size >= MERGE_SMALL_BYTES ||
		    seal_segment_listed(s->gen_segs, s->n_gen_segs, tenant, m.day, m.seq) ||
		    seal_segment_listed(dropped, n_dropped, tenant, m.day, m.seq))
			continue;
		m.bytes = (uint64_t)sb.st_size;
		if (*n == cap) {
			struct merge_cand *nc = mem_realloc(*c, (cap ? 2 * cap : 64) * sizeof(*nc));

			if (!nc) {
				closedir(d);
				return err_set(e, -ENOMEM, "out of memory");
			}
			*c = nc;
			cap = cap ? 2 * cap : 64;
		}
		(*c)[(*n)++] = m;
	}
	closedir(d);
	if (*n > 1)
		qsort(*c, *n, sizeof(**c), cmp_cand_day);
	return 0;
}

/* Adds every event of the segment at path to imp. -ENOENT: it is gone (retention). */
static int merge_segment(struct seal *s, struct store_import *imp, const char *path,
			 uint64_t tenant, const struct keys_data_key *dk, struct err *e)
{
	struct segment_info info;
	struct segment *seg;
	int rc = segment_open(&seg, path, tenant, dk, e);

	if (rc)
		return rc;
	segment_get_info(seg, &info);
	for (unsigned b = 0; b < info.blocks && !rc; b++) {
		struct event *evs;
		uint32_t n;

		arena_clear(&s->arena);
		rc = segment_block_read(seg, b, NULL, 0, &s->arena, &evs, &n, e);
		for (uint32_t i = 0; i < n && !rc; i++)
			rc = store_import_add(imp, &evs[i], e);
	}
	arena_clear(&s->arena);
	segment_close(seg);
	return rc;
}

/*
 * Whether tenant's data key opens: one that does not (damaged, or erased meanwhile) is left
 * out of merges, which would fail and pause merging for every tenant.
 */
static bool key_opens(struct seal *s, uint64_t tenant)
{
	struct keys_data_key dk;
	struct err ke = ERR_INIT;
	bool ok = store_tenant_key(s->st, tenant, &dk, &ke) == 0;

	memset(&dk, 0, sizeof(dk));
	return ok;
}

/*
 * Merges the small segments of the tenant-day that has the most of them (at least
 * MERGE_MIN_SEGMENTS) into new segments of this generation: the old ones are journaled as
 * replaced ("-" lines) first, and deleted DROP_GRACE_S after the commit. Returns the count
 * of segments replaced (0: nothing to merge).
 */
static int merge_one(struct seal *s, struct err *e)
{
	struct seal_segment *dropped = NULL;
	struct merge_cand *c = NULL, *best = NULL;
	struct store_import *imp = NULL;
	struct keys_data_key dk;
	char tdir[PATH_LEN], path[PATH_LEN];
	uint64_t tenant = 0, bytes = 0;
	size_t n_dropped = 0, n = 0, n_best = 0, take = 0;
	DIR *d = NULL;
	struct dirent *de;
	int rc;

	if ((rc = path_of(path, s->data_dir, "tenants", e)) ||
	    (rc = dropped_parse(s->dropped_path, &dropped, NULL, &n_dropped, e)))
		return rc;
	d = opendir(path);
	while (d && (de = readdir(d)) && !rc) {
		char *endp;
		unsigned long long t = strtoull(de->d_name, &endp, 10);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *endp ||
		    lane_held_find(&s->lanes[t % s->n_lanes], t)) /* its key did not open */
			continue;
		if ((rc = path_of(tdir, path, de->d_name, e)) ||
		    (rc = small_segments(s, tdir, t, dropped, n_dropped, &c, &n, e)))
			break;
		for (size_t i = 0; i < n;) { /* runs of one day */
			size_t j = i;

			while (j < n && c[j].day == c[i].day)
				j++;
			if (j - i >= MERGE_MIN_SEGMENTS && j - i > n_best && key_opens(s, t)) {
				mem_free(best);
				best = mem_alloc((j - i) * sizeof(*best));
				if (!best) {
					rc = err_set(e, -ENOMEM, "out of memory");
					break;
				}
				memcpy(best, c + i, (j - i) * sizeof(*best));
				n_best = j - i;
				tenant = t;
			}
			i = j;
		}
		mem_free(c);
		c = NULL;
	}
	if (d)
		closedir(d);
	mem_free(dropped);
	if (rc || !n_best)
		goto done;
	rc = store_tenant_key(s->st, tenant, &dk, e);
	if (rc == -ENOENT) { /* erased meanwhile */
		rc = 0;
		goto done;
	}
	if (rc)
		goto done;
	qsort(best, n_best, sizeof(*best), cmp_cand_bytes); /* the smallest first */
	while (take < n_best && (take < 2 || bytes + best[take].bytes <= MERGE_MAX_BYTES))
		bytes += best[take++].bytes;
	for (size_t i = 0; i < take && !rc; i++)
		if ((rc = journal_write(s, JOURNAL_DROP, tenant, best[i].day, best[i].seq)) < 0)
			err_set(e, rc, "%s: cannot journal a merge: %s", s->journal_path,
				strerror(-rc));
	if (!rc && !(rc = store_import_begin(s->st, tenant, &imp, e))) {
		store_import_set_hook(imp, journal_add, s);
		store_import_set_default_time(imp, (int64_t)best[0].day * SEGMENT_DAY_NS);
	}
	if (!rc) {
		int m = snprintf(tdir, sizeof(tdir), "%s/%llu", path, (unsigned long long)tenant);

		if (m < 0 || (size_t)m >= sizeof(tdir))
			rc = err_set(e, -ENAMETOOLONG, "%s: path too long", path);
	}
	for (size_t i = 0; i < take && !rc; i++) {
		char name[SEGMENT_NAME_MAX], seg[PATH_LEN];

		if ((rc = segment_name(name, best[i].day, best[i].seq)) < 0 ||
		    (rc = path_of(seg, tdir, name, e)))
			break;
		rc = merge_segment(s, imp, seg, tenant, &dk, e);
		if (rc == -ENOENT)
			rc = 0; /* removed meanwhile (retention): its drop does no harm */
	}
	memset(&dk, 0, sizeof(dk));
	if (!rc) {
		struct store_import_stats is;

		rc = store_import_finish(imp, &is, e);
		imp = NULL;
		s->gen_segments += is.segments;
	}
	if (!rc) {
		s->gen_merged += take;
		log_debug("tenant %llu: %zu segments of day %u merged", (unsigned long long)tenant,
			  take, best[0].day);
		rc = (int)take;
	}
done:
	store_import_abort(imp);
	mem_free(best);
	mem_free(c);
	return rc;
}

struct read_ctx {
	struct seal *s;
	struct err *e;
};

/* wal_replay_fn: one durable record into the generation, through its tenant's lane. */
static int on_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		     uint32_t flags, const void *payload, size_t len)
{
	struct read_ctx *rc_ = ctx;
	struct seal *s = rc_->s;
	struct lane *l = &s->lanes[tenant % s->n_lanes];
	struct lane_rec r = lane_rec_of(shard, lsn, tenant, count, flags, len);

	if (len > WAL_MAX_PAYLOAD)
		return err_set(rc_->e, -EBADMSG, "WAL shard %u: LSN %llu: a record of %zu bytes",
			       shard, (unsigned long long)lsn, len);
	if (!s->gen_started)
		s->gen_started = time_mono_ns();
	COUNT(s->st_read, count);
	s->read_count[shard] += count;
	s->gen_events += count;
	if (l->started)
		return lane_enqueue(l, &r, payload, rc_->e);
	return lane_record(l, &r, payload, rc_->e);
}

void seal_set_busy(struct seal *s, seal_busy_fn *fn, void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->busy_fn = fn;
	s->busy_ctx = ctx;
	pthread_mutex_unlock(&s->lock);
}

/* Whether the thread may pause now: a hook and nobody waiting on it; the hook in *fn, *ctx. */
static bool may_yield(struct seal *s, seal_busy_fn **fn, void **ctx)
{
	bool may;

	pthread_mutex_lock(&s->lock);
	may = s->busy_fn && !s->stopping && s->req == s->served;
	*fn = s->busy_fn;
	*ctx = s->busy_ctx;
	pthread_mutex_unlock(&s->lock);
	return may;
}

/*
 * Room for a pause: the WAL's files under the bound and, on the WAL's file system, at least
 * SEAL_YIELD_FREE times that free (sealing is what frees it).
 */
static bool room_to_yield(struct seal *s)
{
	uint64_t bound = atomic_load(&yield_bound);
	struct wal_stats ws;
	struct statvfs sv;

	wal_stats(s->w, &ws);
	return ws.bytes_on_disk < bound && statvfs(s->wal_dir, &sv) == 0 &&
	       (uint64_t)sv.f_bavail * sv.f_frsize >= SEAL_YIELD_FREE * bound;
}

/*
 * Pauses, SEAL_YIELD_MS at a time, while the busy hook says ingest is behind and there is
 * room (seal.h). The hook is called without s->lock. Whether there is a hook.
 */
static bool yield_to_ingest(struct seal *s)
{
	seal_busy_fn *fn;
	void *ctx;

	while (may_yield(s, &fn, &ctx) && fn(ctx) && room_to_yield(s)) {
		int64_t t0 = time_mono_ns();
		struct timespec ts = time_after(CLOCK_MONOTONIC, (int64_t)SEAL_YIELD_MS * 1000000);

		pthread_mutex_lock(&s->lock);
		if (!s->stopping && s->req == s->served) /* else woken already: no wait */
			(void)pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		pthread_mutex_unlock(&s->lock);
		COUNT(s->st_yield_ns, (uint64_t)(time_mono_ns() - t0));
	}
	return fn != NULL;
}

/*
 * Reads every durable record after s->read into the generation. With lanes, the shards are
 * read in turn, SCAN_SLICE records at a time: a shard may hold one tenant's records only (one
 * writer per tenant), and read whole it would feed one lane while the others wait for work.
 * Read in slices (lanes, or a busy hook), and not whole (a request to seal now, the stop),
 * it stops once the generation holds SEAL_BATCH_EVENTS, with s->behind set: the generation
 * is committed and the next pass runs at once (a burst sealed after its pause is not one
 * generation that a full disk would roll back whole, again and again).
 */
static int read_durable(struct seal *s, bool whole, struct err *e)
{
	uint64_t durable[WAL_MAX_SHARDS];
	struct read_ctx ctx = { s, e };
	struct wal_scan *sc;
	bool any = false;
	int rc;

	s->behind = false;
	for (unsigned i = 0; i < s->n_shards; i++) {
		durable[i] = wal_durable_lsn(s->w, i);
		any |= durable[i] > s->read[i];
	}
	if (!any)
		return 0;
	if ((rc = wal_scan_open(&sc, s->wal_dir, s->read, s->n_shards, e)))
		return rc;
	for (bool more = true; more && !rc && !s->behind;) {
		more = false;
		for (unsigned i = 0; i < s->n_shards && i < wal_scan_shards(sc) && !rc && !s->behind;
		     i++) {
			uint64_t to = durable[i];

			if (to <= s->read[i])
				continue;
			/* with a busy hook, a slice at a time so that it can pause in between */
			if ((yield_to_ingest(s) || s->n_lanes > 1) && to - s->read[i] > SCAN_SLICE)
				to = s->read[i] + SCAN_SLICE;
			rc = wal_scan_shard(sc, i, to, on_record, &ctx, &s->read[i], e);
			more |= s->read[i] == to && to < durable[i];
			if (!rc)
				rc = lanes_failed(s, e); /* no more records for a generation lost */
			s->behind = !whole && more && s->gen_events >= SEAL_BATCH_EVENTS;
		}
	}
	wal_scan_close(sc);
	return rc;
}

static bool read_moved(const struct seal *s)
{
	return memcmp(s->read, s->sealed, sizeof(s->read)) != 0;
}

/*
 * At the start of a generation (the lanes idle), at most every SEAL_HELD_RETRY_MS unless
 * forced: the held tenants whose key opens now have their logs sealed by it (a request to
 * their lane, before any record); those erased meanwhile are forgotten.
 */
static int held_try(struct seal *s, int64_t now, bool force, struct err *e)
{
	struct lane_rec *want = NULL;
	size_t n = 0, total = 0;
	int rc = 0;

	if (!force && now - s->held_tried < (int64_t)SEAL_HELD_RETRY_MS * 1000000)
		return 0;
	s->held_tried = now;
	for (unsigned i = 0; i < s->n_lanes; i++)
		total += s->lanes[i].n_held;
	if (!total)
		return 0;
	if (!(want = mem_alloc(total * sizeof(*want))))
		return err_set(e, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < s->n_lanes; i++) { /* the lanes are idle: their lists are read */
		struct lane *l = &s->lanes[i];

		for (size_t j = 0; j < l->n_held && !rc;) {
			struct lane_held *lh = &l->held[j];
			struct keys_data_key dk;
			struct err ke = ERR_INIT;
			int k = store_tenant_key(s->st, lh->tenant, &dk, &ke);

			memset(&dk, 0, sizeof(dk));
			if (k == -ENOENT || (lh->h && held_gone(lh->h))) {
				lane_held_drop(l, j); /* erased: its files went with it */
				continue;
			}
			j++;
			if (k == -ENOMEM) {
				rc = err_set(e, k, "out of memory");
			} else if (!k && held_entry_open(s, s->st, lh, &ke)) {
				log_limited(&s->held_lines, LOG_LEVEL_ERROR, "tenant %llu's held "
					    "events are not sealed: %s", (unsigned long long)lh->tenant,
					    ke.msg);
			} else if (!k) {
				want[n++] = (struct lane_rec){ .tenant = lh->tenant,
							       .flags = LANE_SEAL_HELD };
			}
		}
	}
	/* then the requests: a lane may take its first while the next are queued */
	for (size_t i = 0; i < n && !rc; i++) {
		struct lane *l = &s->lanes[want[i].tenant % s->n_lanes];

		s->gen_held = true;
		if (!s->gen_started)
			s->gen_started = now;
		rc = l->started ? lane_enqueue(l, &want[i], "", e) : lane_record(l, &want[i], "", e);
	}
	mem_free(want);
	return rc;
}

/*
 * One pass: read what became durable, commit it when a bound is reached or when forced,
 * then merge small segments when it is time (or asked: merge_now) and merging is allowed.
 */
static int pass(struct seal *s, bool force, bool merge_now, bool merge_ok, struct err *e)
{
	int64_t now = time_mono_ns();
	bool merge = merge_ok && now >= s->merge_paused_until &&
		     (merge_now || now - s->last_merge >= MERGE_INTERVAL_NS);
	int rc = 0;

	/*
	 * A journal left by a failed clean-up is finished before a new one is started: only
	 * between generations (nothing read), when no lane may be writing one.
	 */
	if (!gen_open(s) && s->journal_fd < 0 && access(s->journal_path, F_OK) == 0)
		rc = journal_undo(s, e);
	if (!rc && !gen_open(s))
		rc = held_try(s, now, force, e);
	if (!rc)
		rc = read_durable(s, force, e);
	if (!rc)
		rc = lanes_failed(s, e);
	/* held logs being sealed: at once (one read of a file, not a stream that goes on) */
	if (!rc && gen_open(s) &&
	    (force || s->gen_held || s->gen_events >= SEAL_BATCH_EVENTS ||
	     now - s->gen_started >= (int64_t)SEAL_MAX_AGE_MS * 1000000))
		rc = commit(s, false, e);
	if (rc) {
		COUNT(s->st_errors, 1);
		rollback(s);
		return rc;
	}
	/*
	 * Merges are generations of their own, made when everything read is committed: one
	 * that fails (a damaged segment) takes nothing else back with it, and pauses merging.
	 */
	if (merge && !gen_open(s)) {
		struct err me = ERR_INIT;

		s->last_merge = now;
		if (commit(s, true, &me)) {
			COUNT(s->st_errors, 1);
			rollback(s);
			s->merge_paused_until = now + MERGE_PAUSE_NS;
			log_error("merging small segments failed, paused for an hour: %s", me.msg);
		} else if (dropped_prune(s, &me)) {
			log_limited(&s->failures, LOG_LEVEL_WARN, "%s", me.msg);
		}
	}
	return 0;
}

/* Whether seal_hold keeps the thread from starting a pass; under s->lock. */
static bool held(const struct seal *s)
{
	return s->hold && s->hold <= s->served;
}

static void *seal_thread(void *arg)
{
	struct seal *s = arg;

	pthread_setname_np(pthread_self(), "koban-seal");
	/* below the workers: a burst is made durable first and sealed as CPU frees up */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), SEAL_NICE) < 0)
		log_debug("the sealer keeps the workers' CPU priority: %s", strerror(errno));
	for (;;) {
		struct err e = ERR_INIT;
		struct timespec ts;
		uint64_t want;
		bool stop, merge;
		int rc;

		ts = time_after(CLOCK_MONOTONIC, (int64_t)SEAL_TICK_MS * 1000000);
		pthread_mutex_lock(&s->lock);
		/* held: served, and nothing more until released (a request waits too) */
		while (!s->stopping && (held(s) || (s->req == s->served && !s->behind))) {
			if (held(s))
				pthread_cond_wait(&s->wake, &s->lock);
			else if (pthread_cond_timedwait(&s->wake, &s->lock, &ts) == ETIMEDOUT &&
				 !held(s))
				break;
		}
		stop = s->stopping;
		want = s->req;
		merge = s->merge_req > s->served;
		pthread_mutex_unlock(&s->lock);
		/*
		 * Merging small segments: when asked by seal_now or seal_hold (not by the start's
		 * own request, 1, about sealing what an earlier run left, nor by seal_flush), else
		 * once a minute; not at the stop.
		 */
		rc = pass(s, stop || want != s->served, want != s->served && merge, !stop, &e);
		if (rc) {
			s->behind = false; /* the next pass after a tick, not at once */
			log_limited(&s->failures, LOG_LEVEL_ERROR, "sealing failed (the events stay "
				    "in the WAL; retrying): %s", e.msg);
		}
		pthread_mutex_lock(&s->lock);
		if (want != s->served) {
			s->served = want;
			s->req_rc = rc;
			s->req_err = e;
			pthread_cond_broadcast(&s->done);
		}
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
	}
	return NULL;
}

/* ---- life cycle ---- */

/* wal_replay_fn: adds the record's events to *ctx. */
static int add_count(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		     uint32_t flags, const void *payload, size_t len)
{
	*(uint64_t *)ctx += count;
	return 0;
}

/*
 * sealed_count[i]: the WAL's count at its checkpoint, and the events of the records after
 * it that the state says are sealed (a crash between the state and the checkpoint, or a
 * checkpoint that failed: usually one generation's, read once here). Records that cannot be
 * read there are logged and left in the count: the backlog then shows them, too high
 * rather than below what is not sealed.
 */
static void count_sealed(struct seal *s, struct wal_scan *sc, unsigned i)
{
	struct err ce = ERR_INIT;

	s->sealed_count[i] = wal_checkpoint_events(s->w, i);
	if (i < wal_scan_shards(sc) && s->sealed[i] > wal_scan_from(sc, i) &&
	    wal_scan_shard(sc, i, s->sealed[i], add_count, &s->sealed_count[i], NULL, &ce))
		log_warn("WAL shard %u: the sealed records before LSN %llu are not all counted "
			 "(koban_store_seal_backlog_events counts the rest): %s", i,
			 (unsigned long long)s->sealed[i], ce.msg);
}

/*
 * The held logs an earlier run left, given to their tenants' lanes (after the committed
 * state is known: a torn end is cut, damage salvaged). One that cannot be opened or looked
 * at is logged and kept as held all the same: its tenant's records keep going to it, so
 * none is sealed twice; the open is tried again with them (their generation fails with the
 * same message until it opens).
 */
static int held_find(struct seal *s, struct err *e)
{
	uint64_t *ids;
	size_t n;
	int rc = store_tenant_ids(s->st, &ids, &n, e);

	for (size_t i = 0; i < n && !rc; i++) {
		char dir[PATH_LEN], path[PATH_LEN];
		struct lane *l = &s->lanes[ids[i] % s->n_lanes];
		struct err he = ERR_INIT;

		if ((rc = store_tenant_dir(s->st, ids[i], false, dir, e)) ||
		    (rc = held_path(path, sizeof(path), dir, e)))
			break;
		if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
			continue;
		if ((rc = lane_held_add(l, ids[i], NULL, e)))
			break;
		if (held_entry_open(s, s->st, &l->held[l->n_held - 1], &he) < 0)
			log_error("tenant %llu's held events are not sealed: %s",
				  (unsigned long long)ids[i], he.msg);
		else
			log_warn("tenant %llu has %llu events held (its data key did not open): "
				 "sealed when it opens", (unsigned long long)ids[i],
				 (unsigned long long)held_events(l->held[l->n_held - 1].h));
	}
	mem_free(ids);
	return rc;
}

static int recover(struct seal *s, struct err *e)
{
	uint64_t lsn[WAL_MAX_SHARDS] = { 0 };
	struct wal_scan *sc;
	unsigned n;
	int rc;

	if ((rc = seal_state_read(s->data_dir, &s->generation, lsn, &n, e)))
		return rc;
	if ((rc = journal_undo(s, e)))
		return rc;
	/* From the WAL's own checkpoints: shards the state does not name start there. */
	if ((rc = wal_scan_open(&sc, s->wal_dir, NULL, 0, e)))
		return rc;
	for (unsigned i = 0; i < s->n_shards; i++) {
		uint64_t end = wal_durable_lsn(s->w, i); /* the last LSN the log holds */

		s->sealed[i] = i < n ? lsn[i] : wal_scan_from(sc, i);
		if (end < s->sealed[i]) { /* its files were removed by hand: it counts anew */
			log_warn("WAL shard %u ends at LSN %llu, before the %llu already sealed: "
				 "sealing its new records from there", i, (unsigned long long)end,
				 (unsigned long long)s->sealed[i]);
			s->sealed[i] = end;
		}
		count_sealed(s, sc, i);
	}
	wal_scan_close(sc);
	memcpy(s->read, s->sealed, sizeof(s->read));
	memcpy(s->read_count, s->sealed_count, sizeof(s->read_count));
	publish_sealed(s);
	if ((rc = held_find(s, e)))
		return rc;
	for (unsigned i = 0; i < s->n_shards; i++) {
		struct err ce = ERR_INIT;

		if (s->sealed[i] &&
		    wal_checkpoint(s->w, i, s->sealed[i], s->sealed_count[i], &ce))
			log_warn("WAL checkpoint of shard %u: %s", i, ce.msg);
	}
	atomic_store(&s->st_generation, s->generation);
	return 0;
}

static void lane_release(struct lane *l)
{
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->quit = true;
		pthread_cond_signal(&l->more);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
		pthread_cond_destroy(&l->more);
		pthread_cond_destroy(&l->idle);
		pthread_mutex_destroy(&l->mu);
	}
	lane_abort(l);
	for (size_t i = 0; i < l->n_held; i++)
		held_close(l->held[i].h);
	mem_free(l->held);
	store_close(l->st);
	arena_release(&l->arena);
	evcodec_reader_release(&l->rd);
	buf_release(&l->q);
	buf_release(&l->work);
	mem_free(l->plain);
	mem_free(l->tally);
}

/* Lane i: its store handle, and its thread when there are more lanes than one. */
static int lane_init(struct seal *s, unsigned i, const struct keys_files *keys, struct err *e)
{
	struct lane *l = &s->lanes[i];
	int rc;

	l->s = s;
	l->id = i;
	arena_init(&l->arena, 64 << 10, EVENT_ARENA_MAX);
	evcodec_reader_init(&l->rd);
	/* the queue's bound, or one record past it */
	buf_init(&l->q, LANE_QUEUE_MAX + rec_size(WAL_MAX_PAYLOAD));
	buf_init(&l->work, LANE_QUEUE_MAX + rec_size(WAL_MAX_PAYLOAD));
	if (!(l->tally = mem_calloc(TENANT_STATS_MAX, sizeof(*l->tally))))
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = store_open_keys(&l->st, s->data_dir, keys, true, e)))
		return rc;
	if (s->n_lanes == 1)
		return 0; /* sealed on the sealer's thread */
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->more, NULL);
	pthread_cond_init(&l->idle, NULL);
	if ((rc = pthread_create(&l->thread, NULL, lane_main, l))) {
		pthread_cond_destroy(&l->more);
		pthread_cond_destroy(&l->idle);
		pthread_mutex_destroy(&l->mu);
		return err_set(e, -rc, "cannot start a sealer lane: %s", strerror(rc));
	}
	l->started = true;
	return 0;
}

static void seal_free(struct seal *s)
{
	for (unsigned i = 0; s->lanes && i < s->n_lanes; i++)
		lane_release(&s->lanes[i]);
	mem_free(s->lanes);
	if (s->journal_fd >= 0)
		close(s->journal_fd);
	store_close(s->st);
	arena_release(&s->arena);
	mem_free(s->gen_segs);
	mem_free(s->data_dir);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->count_lock);
	pthread_mutex_destroy(&s->journal_lock);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->done);
	mem_free(s);
}

int seal_start(struct seal **sp, const char *data_dir, struct wal *w, struct err *e)
{
	return seal_start_files(sp, data_dir, NULL, w, 1, e);
}

int seal_start_files(struct seal **sp, const char *data_dir, const struct keys_files *keys,
		     struct wal *w, unsigned lanes, struct err *e)
{
	pthread_condattr_t ca;
	struct seal *s;
	int rc;

	*sp = NULL;
	s = mem_calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_cond_init(&s->done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->count_lock, NULL);
	pthread_mutex_init(&s->journal_lock, NULL);
	arena_init(&s->arena, 64 << 10, EVENT_ARENA_MAX);
	log_limit_init(&s->bad_lines, 10);
	log_limit_init(&s->failures, 10);
	log_limit_init(&s->held_lines, 60);
	s->held_tried = INT64_MIN / 2; /* the first pass tries (a clock near 0 after boot too) */
	s->journal_fd = -1;
	s->w = w;
	s->n_shards = wal_shard_count(w);
	s->n_lanes = MAX(MIN(lanes, LANES_MAX), 1);
	s->lanes = mem_calloc(s->n_lanes, sizeof(*s->lanes));
	if (!s->lanes || !(s->data_dir = mem_strdup(data_dir))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = path_of(s->wal_dir, data_dir, "wal", e)) ||
	    (rc = path_of(s->state_path, data_dir, "seal.state", e)) ||
	    (rc = path_of(s->journal_path, data_dir, "seal.journal", e)) ||
	    (rc = path_of(s->dropped_path, data_dir, "seal.dropped", e)) ||
	    (rc = store_open_keys(&s->st, data_dir, keys, true, e)) || (rc = recover(s, e)) ||
	    (rc = register_metrics(s, e)))
		goto fail;
	for (unsigned i = 0; i < s->n_lanes; i++)
		if ((rc = lane_init(s, i, keys, e))) {
			metrics_unregister(s);
			goto fail;
		}
	s->req = 1; /* the first pass seals what an earlier run left */
	s->last_merge = time_mono_ns(); /* the first merge a minute after the start */
	rc = pthread_create(&s->thread, NULL, seal_thread, s);
	if (rc) {
		metrics_unregister(s);
		rc = err_set(e, -rc, "cannot start the sealer thread: %s", strerror(rc));
		goto fail;
	}
	s->thread_started = true;
	*sp = s;
	return 0;
fail:
	seal_free(s);
	return rc;
}

/* seal_now, with hold seal_hold, without merge seal_flush. */
static int request(struct seal *s, bool hold, bool merge, struct err *e)
{
	uint64_t mine;
	int rc;

	pthread_mutex_lock(&s->lock);
	while (hold && s->hold && !s->stopping) /* one holder at a time */
		pthread_cond_wait(&s->done, &s->lock);
	mine = ++s->req;
	if (merge)
		s->merge_req = mine;
	if (hold)
		s->hold = mine; /* the thread stops once it has served it, under this lock */
	pthread_cond_signal(&s->wake);
	while (s->served < mine && !s->stopping)
		pthread_cond_wait(&s->done, &s->lock);
	rc = s->served >= mine ? s->req_rc : -ECANCELED;
	if (rc && rc != -ECANCELED)
		*e = s->req_err;
	pthread_mutex_unlock(&s->lock);
	if (rc == -ECANCELED)
		return err_set(e, rc, "the sealer is stopping");
	return rc;
}

int seal_now(struct seal *s, struct err *e)
{
	return request(s, false, true, e);
}

int seal_flush(struct seal *s, struct err *e)
{
	return request(s, false, false, e);
}

int seal_hold(struct seal *s, struct err *e)
{
	return request(s, true, true, e);
}

void seal_release(struct seal *s)
{
	pthread_mutex_lock(&s->lock);
	s->hold = 0;
	pthread_cond_broadcast(&s->wake);
	pthread_cond_broadcast(&s->done); /* a holder waiting for its turn */
	pthread_mutex_unlock(&s->lock);
}

void seal_stop(struct seal *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->wake);
		pthread_cond_broadcast(&s->done);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	if (gen_open(s))
		rollback(s); /* the last pass failed: the events stay in the WAL */
	metrics_unregister(s);
	seal_free(s);
}

void seal_stats(struct seal *s, struct seal_stats *out)
{
	out->generation = atomic_load(&s->st_generation);
	out->backlog_events = backlog(s);
	out->read_events = atomic_load(&s->st_read);
	out->yield_ns = atomic_load(&s->st_yield_ns);
	out->sealed_events = atomic_load(&s->st_events);
	out->sealed_segments = atomic_load(&s->st_segments);
	out->skipped_erased = atomic_load(&s->st_erased);
	out->skipped_invalid = atomic_load(&s->st_invalid);
	out->skipped_unreadable = atomic_load(&s->st_unreadable);
	out->errors = atomic_load(&s->st_errors);
	out->merged_segments = atomic_load(&s->st_merged);
	out->held_events = atomic_load(&s->st_held);
}
