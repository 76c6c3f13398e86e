#include "store/store.h"
#include "core/compat.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "store"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "store/cert.h"
#include "store/evcodec.h"
#include "store/held.h"
#include "store/keys.h"
#include "store/match.h"
#include "store/query.h"
#include "store/seal.h"
#include "store/segment.h"
#include "store/token.h"
#include "store/wal.h"

#define PATH_LEN 4096
#define OPEN_DAYS 16               /* segments an import keeps open at once */
#define MAX_LITERALS 16
#define BLOCK_ARENA_MAX ((size_t)1 << 30)
#define SNAPSHOT_TRIES 100          /* a sealer commit raced the snapshot: take it again */
#define TAIL_BUFFER_MAX ((size_t)256 << 20) /* WAL records held to be read newest first */
#define TAIL_RECORDS_MAX (1u << 20)
#define TAIL_TOKENS_MAX 32
#define BLOCK_ARENA_CHUNK ((size_t)16 << 20) /* a whole block decoded: reused, no page faults */
#define SEGMENTS_CACHED 8           /* open segments a store handle keeps between searches */
#define SEGMENT_IDLE_NS (60 * NS_PER_SEC) /* a cached segment unused this long is closed */
#define SEGMENT_KEEP_BYTES ((size_t)2 << 20) /* of a cached segment's buffers, after a search */
#define LISTINGS_CACHED 8           /* tenants' directory listings a store handle keeps */
#define LISTING_SETTLED_NS NS_PER_SEC /* a directory changed this recently is not kept */
#define AUDIT_REOPEN_NS NS_PER_SEC    /* the audit log opened again: a rotated file let go */

/*
 * A sealed segment kept open between searches (its mapping, footer, index top, block
 * headers and decoder): opening one checks its footer and block headers, which costs more
 * than a small search's reading. One handle per reader thread (seg[1] for the helper, when
 * the machine has a second CPU). The file's identity and the data key's id are checked at
 * every use, so a segment replaced or removed since, or a tenant's new key, is never read
 * through a stale handle.
 */
struct seg_slot {
	struct segment *seg[2]; /* seg[0] NULL: the slot is free; seg[1] opened when needed */
	uint64_t tenant;
	uint32_t day, seq;
	struct fileio_id file; /* what seg[0] mapped */
	unsigned char key_id[KEYS_ID_BYTES];
	int64_t used_ns; /* monotonic time of the last search that read it */
	bool names_known; /* its field names are registered (register_names) */
};

/* Segments of a tenant's directory, by (day, seq). */
struct seg_ref {
	uint32_t day, seq;
};

/*
 * A tenant directory's segments as last read, kept while the directory is unchanged (same
 * inode, modification and change times), so that a search costs a stat, not a readdir. A
 * listing is kept only when the directory had not changed for LISTING_SETTLED_NS when it was
 * read: a change within the file system's timestamp granularity of the read could otherwise
 * leave the times as they were.
 */
struct listing {
	struct seg_ref *refs; /* every segment of the directory, newest first; NULL: free slot */
	size_t n;
	uint64_t tenant;
	struct fileio_id dir; /* the directory when it was read */
	int64_t used_ns;
};

struct reader;

struct store {
	char *dir;
	struct keys *keys;
	struct listing lists[LISTINGS_CACHED];
	struct seg_slot cache[SEGMENTS_CACHED];
	struct reader *rd[2]; /* the search's two block readers, kept with their arenas */
	char audit_path[PATH_LEN]; /* DATA_DIR/audit.log */
	int audit_fd;         /* audit.log, opened at audit_opened_ns (monotonic); -1 */
	int64_t audit_opened_ns;
};

/* DIR/... paths under the data directory (fileio_path into a PATH_LEN buffer). */
#define path_join(out, e, ...) fileio_path(out, PATH_LEN, e, __VA_ARGS__)

/* A tenant directory's name: decimal digits without a leading zero. */
static bool tenant_id_name(const char *p, uint64_t *id)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; p[i] >= '0' && p[i] <= '9' && i < 20; i++) {
		if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*id = v;
	return i && !p[i] && !(p[0] == '0' && i > 1);
}

/* A segment in dir (found: its path): 1, 0 when none or dir is missing, or a negative errno. */
static int dir_segment(const char *dir, char *found, size_t size, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : err_set(e, -errno, "cannot read %s: %s",
									  dir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		uint32_t day, seq;

		if (segment_name_parse(de->d_name, &day, &seq) == 0) {
			snprintf(found, size, "%s/%s", dir, de->d_name);
			rc = 1;
		}
	}
	closedir(d);
	return rc;
}

int store_data_find(const char *data_dir, const uint64_t *tenant, char *found, size_t size,
		    struct err *e)
{
	char path[PATH_LEN];
	struct dirent *de;
	DIR *d;
	int rc;

	if (tenant) {
		rc = path_join(path, e, "%s/tenants/%llu", data_dir, (unsigned long long)*tenant);
		return rc ? rc : dir_segment(path, found, size, e);
	}
	if ((rc = path_join(path, e, "%s/wal", data_dir)) ||
	    (rc = wal_find_records(path, found, size, e)) ||
	    (rc = path_join(path, e, "%s/tenants", data_dir)))
		return rc;
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot read %s: %s", path,
						     strerror(errno));
	while (!rc && (de = readdir(d))) {
		char tdir[PATH_LEN];
		uint64_t id;

		if (tenant_id_name(de->d_name, &id) &&
		    !(rc = path_join(tdir, e, "%s/%s", path, de->d_name)))
			rc = dir_segment(tdir, found, size, e);
	}
	closedir(d);
	return rc;
}

int store_keys_open(struct keys **k, const char *data_dir, const struct keys_files *files,
		    bool write, struct err *e)
{
	char kdir[PATH_LEN], mpath[PATH_LEN], found[PATH_LEN];
	const char *lost;
	struct stat sb;
	int rc;

	*k = NULL;
	if ((rc = path_join(kdir, e, "%s/keys", data_dir)) ||
	    (rc = path_join(mpath, e, "%s/master.key", kdir)))
		return rc;
	/*
	 * What a data directory with stored data cannot be without: its master key, or, with
	 * the master key named by the configuration (never made), the keys directory of its
	 * data keys. Present (or unreadable: keys.c says why): open.
	 */
	lost = files && files->master ? kdir : mpath;
	if (lstat(lost, &sb) == 0 || errno != ENOENT || keys_dir_used(kdir))
		return keys_open_files(k, kdir, files, write ? KEYS_WRITE : KEYS_READ, e);
	if ((rc = store_data_find(data_dir, NULL, found, sizeof(found), e)) < 0)
		return rc;
	if (rc)
		return err_set(e, -ENOENT, "%s is missing but %s holds stored data (%s): restore "
			       "keys/ from its backup (docs/store.md, Keys), or name the key files "
			       "in the configuration's keys: section", lost, data_dir, found);
	if (write) /* first use: keys.c still refuses a keys/ with data keys or master.id */
		return keys_open_files(k, kdir, files, KEYS_CREATE, e);
	if (lstat(kdir, &sb) < 0 && errno == ENOENT)
		return 0; /* nothing stored and no keys yet: nothing to read */
	return keys_open_files(k, kdir, files, KEYS_READ, e);
}

int store_writer_key(struct keys *k, const char *data_dir, uint64_t tenant,
		     struct keys_data_key *out, struct err *e)
{
	char found[PATH_LEN];
	struct err probe = ERR_INIT; /* e stays clear when a key is made (callers test e) */
	int rc = keys_tenant(k, tenant, false, out, &probe);

	if (rc != -ENOENT) {
		if (rc < 0 && e)
			*e = probe;
		return rc;
	}
	if ((rc = store_data_find(data_dir, &tenant, found, sizeof(found), e)) < 0)
		return rc;
	if (rc)
		return err_set(e, -ENOENT, "%s/keys/tenant-%llu.key is missing but the tenant holds "
			       "stored data (%s): restore keys/ from its backup (docs/store.md, "
			       "Keys); a new key would open none of it", data_dir,
			       (unsigned long long)tenant, found);
	return keys_tenant(k, tenant, true, out, e);
}

uint64_t store_tenant_dir_bytes(const char *data_dir, uint64_t tenant)
{
	char path[PATH_LEN];
	uint64_t total = 0;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/tenants/%llu", data_dir, (unsigned long long)tenant);
	if (!(dir = opendir(path)))
		return 0;
	while ((d = readdir(dir))) {
		struct stat st;

		if (d->d_name[0] != '.' &&
		    fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(dir);
	return total;
}

int store_open(struct store **stp, const char *data_dir, struct err *e)
{
	return store_open_keys(stp, data_dir, NULL, true, e);
}

int store_open_keys(struct store **stp, const char *data_dir, const struct keys_files *files,
		    bool write, struct err *e)
{
	char path[PATH_LEN];
	struct store *st;
	int rc;

	*stp = NULL;
	st = mem_calloc(1, sizeof(*st));
	if (!st || !(st->dir = mem_strdup(data_dir))) {
		mem_free(st);
		return err_set(e, -ENOMEM, "out of memory");
	}
	st->audit_fd = -1;
	if ((rc = path_join(st->audit_path, e, "%s/audit.log", data_dir)))
		goto fail;
	if (write && ((rc = fileio_make_dir(data_dir, 0750, e)) ||
		      (rc = path_join(path, e, "%s/tenants", data_dir)) ||
		      (rc = fileio_make_dir(path, 0750, e))))
		goto fail;
	if ((rc = store_keys_open(&st->keys, data_dir, files, write, e)))
		goto fail;
	*stp = st;
	return 0;
fail:
	store_close(st);
	return rc;
}

/*
 * The data key of tenant for reading. A store opened for reading a data directory without
 * keys has none: there is nothing of any tenant to read.
 */
static int tenant_key(struct store *st, uint64_t tenant, struct keys_data_key *out,
		      struct err *e)
{
	if (!st->keys)
		return err_set(e, -ENOENT, "%s/keys/tenant-%llu.key: no keys yet (nothing was "
			       "stored in %s)", st->dir, (unsigned long long)tenant, st->dir);
	return keys_tenant(st->keys, tenant, false, out, e);
}

static void slot_close(struct seg_slot *sl)
{
	segment_close(sl->seg[0]);
	segment_close(sl->seg[1]);
	memset(sl, 0, sizeof(*sl));
}

/*
 * Closes the cached segments of *tenant (of every tenant with NULL) and forgets its listing:
 * erased or pruned.
 */
static void cache_drop(struct store *st, const uint64_t *tenant)
{
	for (size_t i = 0; i < SEGMENTS_CACHED; i++)
		if (st->cache[i].seg[0] && (!tenant || st->cache[i].tenant == *tenant))
			slot_close(&st->cache[i]);
	for (size_t i = 0; i < LISTINGS_CACHED; i++)
		if (st->lists[i].refs && (!tenant || st->lists[i].tenant == *tenant)) {
			mem_free(st->lists[i].refs);
			memset(&st->lists[i], 0, sizeof(st->lists[i]));
		}
}

static void readers_free(struct store *st);

void store_close(struct store *st)
{
	if (!st)
		return;
	cache_drop(st, NULL);
	readers_free(st);
	if (st->audit_fd >= 0)
		close(st->audit_fd);
	keys_close(st->keys);
	mem_free(st->dir);
	mem_free(st);
}

/* DATA_DIR/tenants/ID, made when asked. */
static int tenant_dir(struct store *st, uint64_t tenant, bool create, char out[PATH_LEN],
		      struct err *e)
{
	int rc = path_join(out, e, "%s/tenants/%llu", st->dir, (unsigned long long)tenant);

	return rc || !create ? rc : fileio_make_dir(out, 0750, e);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int store_tenant_ids(struct store *st, uint64_t **ids, size_t *n, struct err *e)
{
	char path[PATH_LEN];
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	*ids = NULL;
	*n = 0;
	if ((rc = path_join(path, e, "%s/tenants", st->dir)))
		return rc;
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot read %s: %s", path,
						     strerror(errno));
	while ((de = readdir(d))) {
		uint64_t id;

		if (!tenant_id_name(de->d_name, &id))
			continue;
		if (*n == cap) {
			uint64_t *nids;

			cap = cap ? 2 * cap : 64;
			if (cap > STORE_TENANTS_MAX ||
			    !(nids = mem_realloc(*ids, cap * sizeof(*nids)))) {
				rc = err_set(e, -ENOMEM, "%s: more than %d tenants, or out of memory",
					     path, STORE_TENANTS_MAX);
				break;
			}
			*ids = nids;
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	if (rc) {
		mem_free(*ids);
		*ids = NULL;
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(*ids, *n, sizeof(**ids), cmp_u64);
	return 0;
}

static int cmp_seg_desc(const void *a, const void *b)
{
	const struct seg_ref *x = a, *y = b;

	if (x->day != y->day)
		return x->day < y->day ? 1 : -1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* The segments of dir whose day lies in [day_from, day_to], newest first; *refs mem_alloc'ed. */
static int list_segments(const char *dir, int64_t day_from, int64_t day_to,
			 struct seg_ref **refs, size_t *n, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*refs = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0
				       : err_set(e, -errno, "cannot read %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		struct seg_ref r;

		if (segment_name_parse(de->d_name, &r.day, &r.seq) < 0 || r.day < day_from ||
		    r.day > day_to)
			continue;
		if (*n == cap) {
			struct seg_ref *nr = mem_realloc(*refs, (cap ? 2 * cap : 64) * sizeof(*nr));

			if (!nr) {
				closedir(d);
				mem_free(*refs);
				*refs = NULL;
				*n = 0;
				return err_set(e, -ENOMEM, "out of memory");
			}
			*refs = nr;
			cap = cap ? 2 * cap : 64;
		}
		(*refs)[(*n)++] = r;
	}
	closedir(d);
	if (*n > 1)
		qsort(*refs, *n, sizeof(**refs), cmp_seg_desc);
	return 0;
}

/* The refs of all[0..n) whose day lies in [day_from, day_to] into *refs (mem_alloc'ed). */
static int refs_in_days(const struct seg_ref *all, size_t n, int64_t day_from, int64_t day_to,
			struct seg_ref **refs, size_t *out, struct err *e)
{
	*refs = NULL;
	*out = 0;
	for (size_t i = 0; i < n; i++) {
		if (all[i].day < day_from || all[i].day > day_to)
			continue;
		if (!*refs && !(*refs = mem_alloc((n - i) * sizeof(**refs))))
			return err_set(e, -ENOMEM, "out of memory");
		(*refs)[(*out)++] = all[i];
	}
	return 0;
}

/* Whether ns lies less than LISTING_SETTLED_NS before now (or after it: a clock set back). */
static bool recent(int64_t ns)
{
	return time_now_ns() - ns < LISTING_SETTLED_NS;
}

/* list_segments() of tenant's directory, from the handle's listing while it is unchanged. */
static int list_segments_cached(struct store *st, uint64_t tenant, const char *dir,
				int64_t day_from, int64_t day_to, struct seg_ref **refs,
				size_t *n, struct err *e)
{
	struct listing *l = NULL, *lru = &st->lists[0];
	struct fileio_id id;
	struct seg_ref *all;
	struct stat sb;
	size_t nall;
	int rc;

	if (stat(dir, &sb) < 0) /* none: as list_segments says it */
		return list_segments(dir, day_from, day_to, refs, n, e);
	id = fileio_id_of(&sb);
	for (size_t i = 0; i < LISTINGS_CACHED && !l; i++) {
		struct listing *c = &st->lists[i];

		if (c->refs && c->tenant == tenant)
			l = c;
		else if (!c->refs || (lru->refs && c->used_ns < lru->used_ns))
			lru = c;
	}
	if (l && fileio_id_same(&l->dir, &id)) {
		l->used_ns = time_mono_ns();
		return refs_in_days(l->refs, l->n, day_from, day_to, refs, n, e);
	}
	if ((rc = list_segments(dir, 0, UINT32_MAX, &all, &nall, e)))
		return rc;
	if ((rc = refs_in_days(all, nall, day_from, day_to, refs, n, e))) {
		mem_free(all);
		return rc;
	}
	l = l ? l : lru;
	mem_free(l->refs);
	memset(l, 0, sizeof(*l));
	if (!all || recent(id.mtime_ns) || recent(id.ctime_ns)) {
		mem_free(all); /* changed a moment ago, or empty: read it again next time */
		return 0;
	}
	*l = (struct listing){ all, nall, tenant, id, time_mono_ns() };
	return 0;
}

/* ---- import ---- */

struct day_writer {
	uint32_t day, seq;
	struct segment_writer *w;
	uint64_t used; /* import tick of the last event: the least used is sealed first */
};

struct store_import {
	struct store *st;
	uint64_t tenant;
	char dir[PATH_LEN];
	struct keys_data_key dk;
	struct day_writer open[OPEN_DAYS];
	size_t n_open;
	uint64_t tick;
	int64_t now;
	struct store_import_stats stats;
	store_seal_hook_fn *hook;
	void *hook_ctx;
};

void store_import_set_hook(struct store_import *imp, store_seal_hook_fn *fn, void *ctx)
{
	imp->hook = fn;
	imp->hook_ctx = ctx;
}

void store_import_set_default_time(struct store_import *imp, int64_t ns)
{
	imp->now = ns;
}

size_t store_import_open_segments(const struct store_import *imp)
{
	return imp->n_open;
}

int store_import_begin(struct store *st, uint64_t tenant, struct store_import **impp,
		       struct err *e)
{
	struct store_import *imp = mem_calloc(1, sizeof(*imp));
	int rc;

	*impp = NULL;
	if (!imp)
		return err_set(e, -ENOMEM, "out of memory");
	imp->st = st;
	imp->tenant = tenant;
	imp->now = time_now_ns();
	if ((rc = tenant_dir(st, tenant, true, imp->dir, e)) ||
	    (rc = store_writer_key(st->keys, st->dir, tenant, &imp->dk, e))) {
		mem_free(imp);
		return rc;
	}
	*impp = imp;
	return 0;
}

/* DIR/.NAME.lock: the reservation of segment number seq of day. */
static int lock_path(char out[PATH_LEN], const char *dir, uint32_t day, uint32_t seq,
		     struct err *e)
{
	char name[SEGMENT_NAME_MAX];
	int rc = segment_name(name, day, seq);

	if (rc < 0)
		return err_set(e, rc, "segment %u of day %u: no valid name", seq, day);
	return path_join(out, e, "%s/.%s.lock", dir, name);
}

/* The highest segment number of day in dir, sealed or reserved (0: none). */
static int highest_seq(const char *dir, uint32_t day, uint32_t *max, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	*max = 0;
	if (!d)
		return err_set(e, -errno, "cannot read %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char name[SEGMENT_NAME_MAX];
		const char *p = de->d_name;
		size_t n = strlen(p);
		uint32_t dday, seq;

		if (p[0] == '.' && n > 6 && n - 6 < sizeof(name) && !strcmp(p + n - 5, ".lock")) {
			memcpy(name, p + 1, n - 6);
			name[n - 6] = '\0';
			p = name;
		}
		if (segment_name_parse(p, &dday, &seq) == 0 && dday == day && seq > *max)
			*max = seq;
	}
	closedir(d);
	return 0;
}

/*
 * Reserves the next free segment number of day in the tenant's directory: its lock file is
 * created with O_EXCL, so two writers (processes or threads) never share a number.
 */
static int reserve_seq(const char *dir, uint32_t day, uint32_t *seq, struct err *e)
{
	char path[PATH_LEN];
	uint32_t max;
	int rc = highest_seq(dir, day, &max, e);

	for (unsigned tries = 0; !rc && tries < 1000; tries++) {
		int fd;

		*seq = max + 1 + tries;
		if ((rc = lock_path(path, dir, day, *seq, e)))
			return rc;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			return err_set(e, -errno, "cannot create %s: %s", path, strerror(errno));
	}
	return rc ? rc : err_set(e, -EBUSY, "%s: no free segment number for day %u", dir, day);
}

static void unreserve_seq(const char *dir, uint32_t day, uint32_t seq)
{
	char path[PATH_LEN];

	if (lock_path(path, dir, day, seq, NULL) == 0 && unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
}

/* Seals dw's segment and forgets the slot, whether sealing worked or not. */
static int seal(struct store_import *imp, struct day_writer *dw, struct err *e)
{
	uint64_t events = segment_writer_count(dw->w);
	int rc = segment_writer_finish(dw->w, e);
	char name[SEGMENT_NAME_MAX], path[PATH_LEN];
	struct stat sb;

	segment_writer_free(dw->w);
	unreserve_seq(imp->dir, dw->day, dw->seq);
	if (!rc) {
		imp->stats.events += events;
		imp->stats.segments++;
		if (segment_name(name, dw->day, dw->seq) == 0 &&
		    path_join(path, NULL, "%s/%s", imp->dir, name) == 0 && stat(path, &sb) == 0)
			imp->stats.bytes += (uint64_t)sb.st_size;
	}
	*dw = imp->open[--imp->n_open];
	return rc;
}

static int open_day(struct store_import *imp, uint32_t day, struct day_writer **out,
		    struct err *e)
{
	struct day_writer *dw = NULL;
	int rc;

	if (imp->n_open == OPEN_DAYS) { /* seal the least recently used day */
		dw = &imp->open[0];
		for (size_t i = 1; i < OPEN_DAYS; i++)
			if (imp->open[i].used < dw->used)
				dw = &imp->open[i];
		if ((rc = seal(imp, dw, e)))
			return rc;
	}
	dw = &imp->open[imp->n_open++];
	dw->day = day;
	if ((rc = reserve_seq(imp->dir, day, &dw->seq, e)))
		goto fail;
	if (imp->hook && (rc = imp->hook(imp->hook_ctx, imp->tenant, day, dw->seq)) < 0) {
		err_set(e, rc, "%s: segment %u of day %u: cannot journal it: %s", imp->dir, dw->seq,
			day, strerror(-rc));
		unreserve_seq(imp->dir, day, dw->seq);
		goto fail;
	}
	if ((rc = segment_writer_open(&dw->w, imp->dir, imp->tenant, day, dw->seq, &imp->dk,
				      e))) {
		unreserve_seq(imp->dir, day, dw->seq);
		goto fail;
	}
	*out = dw;
	return 0;
fail:
	*dw = imp->open[--imp->n_open]; /* forget the slot */
	return rc;
}


/* The first and the last day of the time range [from, to] (INT64_MIN, INT64_MAX: open). */
static uint32_t first_day(int64_t from)
{
	return from == INT64_MIN ? 0 : segment_day_of(from);
}

static uint32_t last_day(int64_t to)
{
	return to == INT64_MAX ? UINT32_MAX : segment_day_of(to);
}

static int64_t event_time(const struct store_import *imp, const struct event *ev)
{
	const struct event_value *t = event_get(ev, FIELD_TIMESTAMP);

	return t ? t->v.i : imp->now;
}

int store_import_add(struct store_import *imp, const struct event *ev, struct err *e)
{
	uint32_t day = segment_day_of(event_time(imp, ev));
	struct day_writer *dw = NULL;
	int rc;

	for (size_t i = 0; i < imp->n_open && !dw; i++)
		if (imp->open[i].day == day)
			dw = &imp->open[i];
	if (!dw && (rc = open_day(imp, day, &dw, e)))
		return rc;
	dw->used = ++imp->tick;
	rc = segment_writer_add(dw->w, ev, e);
	if (rc == -EFBIG) { /* the segment is full: seal it, go on in the next */
		if ((rc = seal(imp, dw, e)) || (rc = open_day(imp, day, &dw, e)))
			return rc;
		rc = segment_writer_add(dw->w, ev, e);
	}
	return rc;
}

int store_import_finish(struct store_import *imp, struct store_import_stats *out,
			struct err *e)
{
	int rc = 0;

	while (imp->n_open && !rc)
		rc = seal(imp, &imp->open[imp->n_open - 1], e);
	if (out)
		*out = imp->stats;
	store_import_abort(imp); /* frees what is left (nothing unless an error stopped us) */
	return rc;
}

void store_import_abort(struct store_import *imp)
{
	if (!imp)
		return;
	for (size_t i = 0; i < imp->n_open; i++) {
		segment_writer_free(imp->open[i].w); /* removes unsealed temp files */
		unreserve_seq(imp->dir, imp->open[i].day, imp->open[i].seq);
	}
	memset(&imp->dk, 0, sizeof(imp->dk));
	mem_free(imp);
}

int store_tenant_key(struct store *st, uint64_t tenant, struct keys_data_key *out,
		     struct err *e)
{
	return tenant_key(st, tenant, out, e);
}

int store_tenant_dir(struct store *st, uint64_t tenant, bool create, char *out, struct err *e)
{
	return tenant_dir(st, tenant, create, out, e);
}

int store_segment_remove(struct store *st, uint64_t tenant, uint32_t day, uint32_t seq,
			 struct err *e)
{
	char dir[PATH_LEN], name[SEGMENT_NAME_MAX], path[PATH_LEN];
	int rc;

	cache_drop(st, &tenant);
	if ((rc = tenant_dir(st, tenant, false, dir, e)))
		return rc;
	if ((rc = segment_name(name, day, seq)) < 0)
		return err_set(e, rc, "segment %u of day %u: no valid name", seq, day);
	if ((rc = path_join(path, e, "%s/%s", dir, name)))
		return rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	if ((rc = path_join(path, e, "%s/.%s.tmp", dir, name)))
		return rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	unreserve_seq(dir, day, seq);
	return 0;
}

/* ---- search ---- */

#define MAX_PROJECT 64 /* fields decoded for a filter and its pipes; past it, all of them */
#define MAX_REST 512   /* a segment with more field names has its matches read whole */
#define MAX_TOKENS 64  /* of the literals, tested against the blooms */
#define MAX_RANGES 16  /* of integer, time and IP fields, tested against block statistics */
#define MAX_ADDRESS_TOKENS 8 /* of those, addresses: tested against the blooms or the index */
#define NAMES_MAX 65536 /* field names of one segment (its format allows 65,535) */
#define TEXT_ONCE 256   /* a block's text candidates up to which whole events are read */

struct literal {
	const char *field; /* NULL: full text; a field name lives as long as the process */
	char value[256];   /* a copy: the filter may hand over a value formatted on its stack */
	size_t len;
	bool whole;        /* the field's whole value (match_literals) */
};

/*
 * How blocks are read. A query giving rows (stats, timechart) decodes only the fields its
 * filter and pipes read. A query giving events decodes the filter's fields of every row
 * first, then whole events of the matching rows only; rows from the index are read whole
 * at once. A filter that matches everything reads whole events directly.
 */
struct search_run {
	const struct store_search *s;
	struct match *m;
	struct agg *agg;
	struct literal lit[MAX_LITERALS];
	size_t n_lit;
	struct value_range range[MAX_RANGES]; /* every match has a value in each */
	unsigned range_field[MAX_RANGES];       /* their fields' ids */
	size_t n_range;
	const char *text[MAX_LITERALS]; /* literals every match's event.original holds */
	size_t text_len[MAX_LITERALS];
	size_t n_text;
	bool rows;                     /* the agg gives rows */
	bool match_all;                /* the filter matches every event */
	bool index_field_only;         /* the filter reads one field, an indexed one */
	unsigned proj[MAX_PROJECT];    /* fields to decode to filter (and, for rows, to agg) */
	size_t n_proj;
	bool proj_all;                 /* too many: decode every field */
	unsigned out[MAX_PROJECT];     /* events: the fields a `fields` pipe keeps, sort keys, proj */
	size_t n_out;
	bool out_some;                 /* events: out[] is all that is needed of a match */
	struct store_search_stats st;
	bool done;
	bool left;                     /* done because the caller's reader left (s->gone) */
	const struct snapshot *snap; /* segments and WAL records as of one sealer state */
};

static int add_literal(void *ctx, const char *field, const char *value, size_t len, bool whole)
{
	struct search_run *r = ctx;

	struct literal *l;

	if (r->n_lit == MAX_LITERALS || len >= sizeof(l->value))
		return 0; /* not used for skipping: still correct, only slower */
	l = &r->lit[r->n_lit++];
	l->field = field;
	memcpy(l->value, value, len);
	l->value[len] = '\0';
	l->len = len;
	l->whole = whole;
	if (!field || !strcmp(field, "event.original")) {
		r->text[r->n_text] = l->value;
		r->text_len[r->n_text++] = len;
	}
	return 0;
}

static int add_range(void *ctx, unsigned field, const struct value_range *vr)
{
	struct search_run *r = ctx;

	if (r->n_range == MAX_RANGES)
		return 0; /* not used for skipping: still correct, only slower */
	r->range[r->n_range] = *vr;
	r->range_field[r->n_range++] = field;
	return 0;
}

/* A result counts (in the audit line too) when the caller took it: -ECANCELED is past its limit. */
static int count_event(void *ctx, const struct event *ev)
{
	struct search_run *r = ctx;
	int rc = r->s->event_fn(r->s->ctx, ev);

	r->st.results += rc == 0;
	return rc;
}

static int count_row(void *ctx, const struct agg_row *row)
{
	struct search_run *r = ctx;
	int rc = r->s->row_fn(r->s->ctx, row);

	r->st.results += rc == 0;
	return rc;
}

/* Adds the field named name (when some event has it) to ids; false when full. */
static bool add_name(unsigned *ids, size_t *n, const char *name)
{
	int id = name ? field_lookup(name, strlen(name)) : -1;

	if (id < 0)
		return true;
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == (unsigned)id)
			return true;
	if (*n == MAX_PROJECT)
		return false;
	ids[(*n)++] = (unsigned)id;
	return true;
}

/* Adds the field named name to the projection. */
static void project_name(struct search_run *r, const char *name)
{
	if (!r->proj_all && !add_name(r->proj, &r->n_proj, name))
		r->proj_all = true;
}

/*
 * For a query giving events with a `fields` pipe: the fields the matches need, those it
 * keeps and those a sort orders by, besides the filter's (out_some false: whole events).
 */
static void plan_output(struct search_run *r, const struct query *q)
{
	bool ok = !r->proj_all, any = false;

	memcpy(r->out, r->proj, r->n_proj * sizeof(*r->out));
	r->n_out = r->n_proj;
	for (size_t i = 0; i < q->n_pipes && ok; i++) {
		const struct query_pipe *p = &q->pipes[i];

		if (p->kind == QUERY_FIELDS) {
			any = true;
			for (size_t j = 0; j < p->n_names && ok; j++)
				ok = add_name(r->out, &r->n_out, p->names[j]);
		} else if (p->kind == QUERY_SORT) {
			ok = add_name(r->out, &r->n_out, p->sort_key);
		}
	}
	r->out_some = ok && any;
}

/* Whether the field named name reaches q's pipe i: every `fields` pipe before it keeps it. */
static bool reaches(const struct query *q, size_t i, const char *name)
{
	int id = name ? field_lookup(name, strlen(name)) : -1;

	for (size_t j = 0; j < i && id >= 0; j++) {
		const struct query_pipe *p = &q->pipes[j];
		bool kept = p->kind != QUERY_FIELDS;

		for (size_t k = 0; k < p->n_names && !kept; k++)
			kept = field_lookup(p->names[k], strlen(p->names[k])) == id;
		if (!kept)
			return false;
	}
	return id >= 0;
}

/* Adds the field named name to the projection when q's pipe i reads it (reaches). */
static void project_read(struct search_run *r, const struct query *q, size_t i, const char *name)
{
	if (reaches(q, i, name))
		project_name(r, name);
}

/*
 * The fields to decode: the filter's and @timestamp (time bounds, timechart), and for a
 * query giving rows the sort keys before the stats or timechart (a sort orders whole
 * events) and the fields the stats reads that no `fields` before it dropped (agg.h; a name
 * that is a result column, such as "count", is no field and adds nothing; the pipes after
 * the stats read its rows).
 */
static void plan_projection(struct search_run *r, const struct query *q)
{
	const struct query_pipe *p = q->pipes;
	size_t i;

	if (match_fields(r->m, r->proj, MAX_PROJECT - 1, &r->n_proj) < 0)
		r->proj_all = true;
	project_name(r, field_name(FIELD_TIMESTAMP));
	if (!r->rows) {
		plan_output(r, q);
		return;
	}
	for (i = 0; p[i].kind != QUERY_STATS && p[i].kind != QUERY_TIMECHART; i++)
		project_name(r, p[i].sort_key);
	for (size_t j = 0; j < p[i].n_aggs; j++)
		project_read(r, q, i, p[i].aggs[j].field);
	for (size_t j = 0; j < p[i].n_names; j++)
		project_read(r, q, i, p[i].names[j]);
}

/* field (NULL: full text) is an address field: its values are in the index, not the blooms. */
static bool address_field(const char *field)
{
	int f = field ? field_lookup(field, strlen(field)) : -1;

	return f >= 0 && field_type((unsigned)f) == FT_IP;
}

/* What a segment's blocks are tested against, computed once per segment. */
struct block_tests {
	uint64_t tok[MAX_TOKENS];  /* bloom hashes of the literals' tokens */
	size_t ntok;
	uint64_t addr[MAX_ADDRESS_TOKENS];       /* text tokens that are addresses: bloom hash */
	unsigned char *addr_blocks[MAX_ADDRESS_TOKENS]; /* and per block 1: the index has it */
	size_t naddr;
	int name[MAX_LITERALS];    /* whole values: the field's number in the segment */
	uint64_t val[MAX_LITERALS];    /* and the value's hash */
	size_t nval;
	const struct value_range *range; /* the search's ranges */
	int range_name[MAX_RANGES];      /* and their field's number in the segment */
	size_t nrange;
};

static void block_tests_release(struct block_tests *t)
{
	for (size_t i = 0; i < t->naddr; i++)
		mem_free(t->addr_blocks[i]);
	t->naddr = 0;
}

/* True when an address token with bloom hash h is among t's already. */
static bool address_listed(const struct block_tests *t, uint64_t h)
{
	for (size_t i = 0; i < t->naddr; i++)
		if (t->addr[i] == h)
			return true;
	return false;
}

/*
 * A text token that is an address: from format 5 it is in no bloom where it is the value
 * of an address field too, so the blocks the index gives for it pass as well as those
 * whose bloom has it (segment_address_blocks). In older segments only the bloom.
 */
static int add_address_token(struct segment *seg, const struct ipaddr *ip, uint64_t h,
			     struct block_tests *t, struct err *e)
{
	struct segment_info info;
	unsigned char *blocks;
	int rc;

	if (address_listed(t, h))
		return 0;
	if (t->naddr == MAX_ADDRESS_TOKENS)
		return 0; /* not used for skipping: still correct, only slower */
	segment_get_info(seg, &info);
	blocks = mem_calloc(info.blocks ? info.blocks : 1, 1);
	if (!blocks)
		return err_set(e, -ENOMEM, "search: out of memory");
	rc = segment_address_blocks(seg, ip, blocks, e);
	if (rc == 1) { /* the blooms hold addresses: a token like any other */
		mem_free(blocks);
		if (t->ntok < MAX_TOKENS)
			t->tok[t->ntok++] = h;
		return 0;
	}
	if (rc < 0) {
		mem_free(blocks);
		return rc;
	}
	t->addr[t->naddr] = h;
	t->addr_blocks[t->naddr++] = blocks;
	return 0;
}

/* A byte an address's text may hold, among others: token bytes, '.', '-' and ':'. */
static bool address_byte(unsigned char c)
{
	return token_word_byte(c) || c == '.' || c == '-' || c == ':';
}

/*
 * The next run of [*p, end) of address_byte()s: what may be an address's text
 * (2001:db8::7 is several tokens). False when there is none.
 */
static bool address_run_next(const char **p, const char *end, const char **run, size_t *len)
{
	const char *s = *p;

	while (s < end && !address_byte((unsigned char)*s))
		s++;
	*run = s;
	while (s < end && address_byte((unsigned char)*s))
		s++;
	*len = (size_t)(s - *run);
	*p = s;
	return *len > 0;
}

/*
 * A token that may be a group of an IPv6 address (1 to 4 hex digits: db8, fe80, ffff). A
 * text holding an address field's IPv6 value refers to the field instead of holding the
 * text, so none of its groups is in the block's bloom, though the event holds each as a
 * token: such a word skips nothing.
 */
static bool ipv6_group(const char *tok, size_t len)
{
	if (len > 4)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)tok[i]))
			return false;
	return true;
}

/* Adds the bloom hashes of run[0..n)'s tokens (addresses: add_address_token()) to t. */
static int run_hashes(struct segment *seg, const char *run, size_t n, struct block_tests *t,
		      struct err *e)
{
	const char *p = run, *end = run + n, *tok;
	size_t len;

	while (t->ntok < MAX_TOKENS && segment_token_next(&p, end, &tok, &len)) {
		uint64_t h = segment_token_hash(seg, tok, len);
		struct ipaddr ip;
		int rc;

		if (!h || ipv6_group(tok, len)) /* every block may hold it */
			continue;
		if (ipaddr_parse(&ip, tok, len) < 0) {
			t->tok[t->ntok++] = h;
			continue;
		}
		if ((rc = add_address_token(seg, &ip, h, t, e)) < 0)
			return rc;
	}
	return 0;
}

/*
 * The bloom hashes of the literals' tokens under seg's key, once per segment: at most
 * MAX_TOKENS (more only skip fewer blocks). Values of address fields have none (the index
 * answers for them); a text token that is an address is tested against the bloom or the
 * index (add_address_token()). An IPv6 address in a text is several tokens, none of them in
 * a bloom where the text is an address field's value (a reference to it): it skips nothing,
 * nor does a word that may be one of its groups (ipv6_group()).
 * What it allocated is t's (block_tests_release), also on an error.
 */
static int token_hashes(struct segment *seg, const struct search_run *r, struct block_tests *t,
			struct err *e)
{
	for (size_t i = 0; i < r->n_lit; i++) {
		const char *p = r->lit[i].value, *end = p + r->lit[i].len, *run;
		size_t len;

		if (address_field(r->lit[i].field))
			continue;
		while (address_run_next(&p, end, &run, &len)) {
			struct ipaddr ip;
			int rc;

			if (memchr(run, ':', len) && ipaddr_parse(&ip, run, len) == 0)
				continue;
			if ((rc = run_hashes(seg, run, len, t, e)) < 0)
				return rc;
		}
	}
	return 0;
}

/*
 * The literals that are whole values: the field's number in the segment, the value's hash;
 * the ranges' fields' numbers.
 */
static void block_values_for(struct segment *seg, const struct search_run *r,
			     struct block_tests *t)
{
	t->ntok = 0;
	t->naddr = 0;
	t->nval = 0;
	for (size_t i = 0; i < r->n_lit; i++) {
		if (!r->lit[i].whole)
			continue;
		t->name[t->nval] = segment_name_number(seg, r->lit[i].field);
		t->val[t->nval++] = segment_value_hash(seg, r->lit[i].value, r->lit[i].len);
	}
	t->range = r->range;
	t->nrange = r->n_range;
	for (size_t i = 0; i < r->n_range; i++)
		t->range_name[i] = segment_name_number(seg, field_name(r->range_field[i]));
}

/*
 * False when a literal's token is not in the block's bloom filter (nor, for an address,
 * in its address fields), a whole value is not among the field's values the block lists,
 * or the block's minimum and maximum of a range's field (from format 6) lie outside it.
 */
static bool block_may_match(struct segment *seg, unsigned b, const struct block_tests *t)
{
	for (size_t i = 0; i < t->nrange; i++) /* exact, and cheaper than a bloom's probes */
		if (!segment_block_may_hold_range(seg, b, t->range_name[i], &t->range[i]))
			return false;
	for (size_t i = 0; i < t->nval; i++)
		if (!segment_block_may_hold(seg, b, t->name[i], t->val[i]))
			return false;
	for (size_t i = 0; i < t->ntok; i++)
		if (!segment_block_may_contain_hash(seg, b, t->tok[i]))
			return false;
	for (size_t i = 0; i < t->naddr; i++)
		if (!t->addr_blocks[i][b] && !segment_block_may_contain_hash(seg, b, t->addr[i]))
			return false;
	return true;
}

/*
 * False when a whole value is in none of the segment's blocks (segment_may_hold), or no
 * value of a range's field is in the range (segment_may_hold_range).
 */
static bool segment_may_match(struct segment *seg, const struct block_tests *t)
{
	for (size_t i = 0; i < t->nval; i++)
		if (!segment_may_hold(seg, t->name[i], t->val[i]))
			return false;
	for (size_t i = 0; i < t->nrange; i++)
		if (!segment_may_hold_range(seg, t->range_name[i], &t->range[i]))
			return false;
	return true;
}

/*
 * Whether the index may give a literal's rows: an address of an indexed address field, or
 * the whole value of an indexed string field (`user.name: admin`, case ignored as the
 * index's keys from format 6; segment_lookup() says -ENOTSUP for older segments). A word
 * or phrase inside a text is no key.
 */
static bool index_usable(const struct literal *l)
{
	if (!l->field || !segment_field_indexed(l->field))
		return false;
	return address_field(l->field) || l->whole;
}

/* Keeps in a[0..*na) the rows also in b[0..nb) (both ascending, each once). */
static void rows_intersect(uint32_t *a, size_t *na, const uint32_t *b, size_t nb)
{
	size_t i = 0, j = 0, k = 0;

	while (i < *na && j < nb) {
		if (a[i] < b[j]) {
			i++;
		} else if (a[i] > b[j]) {
			j++;
		} else {
			a[k++] = a[i++];
			j++;
		}
	}
	*na = k;
}

/*
 * Rows (ascending, segment-wide) that may match, from the index when literals' fields are
 * indexed: every match holds each literal (they are joined by `and`), so the rows are in
 * each one's list. 0 and *rows (mem_alloc'ed, NULL when *n is 0), *indexed false when no
 * literal is indexed (every row may match), or a negative code.
 */
static int indexed_rows(struct segment *seg, const struct search_run *r, uint32_t **rows,
			size_t *n, bool *indexed, struct err *e)
{
	*rows = NULL;
	*n = 0;
	*indexed = false;
	for (size_t i = 0; i < r->n_lit && !(*indexed && *n == 0); i++) {
		const struct literal *l = &r->lit[i];
		uint32_t *more = NULL;
		size_t nmore = 0;
		int rc;

		if (!index_usable(l))
			continue;
		rc = segment_lookup(seg, l->field, l->value, l->len, *indexed ? &more : rows,
				    *indexed ? &nmore : n, e);
		if (rc == -ENOTSUP)
			continue;
		if (rc < 0) {
			mem_free(*rows);
			*rows = NULL;
			*n = 0;
			return rc;
		}
		if (*indexed) {
			rows_intersect(*rows, n, more, nmore);
			mem_free(more);
		}
		*indexed = true;
	}
	if (*indexed && *n == 0) {
		mem_free(*rows);
		*rows = NULL;
	}
	return 0;
}

static bool in_range(const struct event *ev, const struct store_search *s)
{
	const struct event_value *t;

	if (s->from == INT64_MIN && s->to == INT64_MAX)
		return true;
	t = event_get(ev, FIELD_TIMESTAMP);
	return t && t->v.i >= s->from && t->v.i <= s->to;
}

/*
 * One block's read: decoded, filtered events, made by either thread (a reader touches
 * only its own segment handle, arena and buffers, and the search's read-only filter).
 */
struct reader {
	struct segment *seg;
	unsigned block;
	bool indexed;                       /* sel[0..nsel) holds the index's rows */
	struct arena arena;
	struct event *evs;
	uint32_t n;
	uint32_t nkeep;                     /* keep[0..nkeep): evs that matched, ascending */
	uint64_t events_read;
	int rc;
	struct err e;
	unsigned rest[MAX_REST];            /* fields to read after the filter's */
	uint32_t cand[SEGMENT_BLOCK_EVENTS]; /* the rows of the matches (read_rest()) */
	uint32_t keep[SEGMENT_BLOCK_EVENTS];
	uint32_t sel[SEGMENT_BLOCK_EVENTS];  /* candidate rows, relative, ascending (index, text) */
	uint32_t nsel;
	bool selected;                       /* evs[i] is row sel[i], not row i */
};

/* Rows of evs that pass the time bounds and the filter into rd->keep. */
static void filter_events(const struct search_run *r, struct reader *rd)
{
	rd->events_read += rd->n;
	rd->nkeep = 0;
	for (uint32_t i = 0; i < rd->n; i++)
		if (in_range(&rd->evs[i], r->s) && match_event(r->m, &rd->evs[i]))
			rd->keep[rd->nkeep++] = i;
}

/* A value of from added to to (strings kept where they are: both live in one arena). */
static int copy_value(struct event *to, const struct event_value *v)
{
	switch (field_type(v->field)) {
	case FT_STR:
		return event_add_str(to, v->field, v->v.s, v->len);
	case FT_OBJ:
		return event_add_obj(to, v->field, v->v.s, v->len);
	case FT_IP:
		return event_set_ip(to, v->field, &v->v.ip);
	case FT_TIME:
		return event_set_time(to, v->field, v->v.i);
	case FT_BOOL:
		return event_set_bool(to, v->field, v->v.i != 0);
	default:
		return event_set_int(to, v->field, v->v.i);
	}
}

/*
 * The whole events of the rows the filter kept (rd->keep, rows of rd->evs decoded with the
 * projection): the fields already decoded are not decoded again (event.original, the
 * largest, often is one of them) but moved over, the rest read for those rows only.
 */
static int read_rest(const struct search_run *r, struct reader *rd)
{
	struct event *first = rd->evs;
	size_t nall = 0, nrest = 0;
	int rc;

	if (r->out_some) { /* a `fields` pipe: only what it keeps and the sort keys */
		memcpy(rd->rest, r->out, r->n_out * sizeof(*rd->rest));
		nall = r->n_out;
		rc = 0;
	} else {
		rc = segment_field_ids(rd->seg, rd->rest, ARRAY_SIZE(rd->rest), &nall, &rd->e);
	}
	if (rc < 0 && rc != -E2BIG)
		return rc;
	if (rc == 0) /* those fields but the projection's */
		for (size_t i = 0; i < nall; i++) {
			bool had = false;

			for (size_t j = 0; j < r->n_proj && !had; j++)
				had = r->proj[j] == rd->rest[i];
			if (!had)
				rd->rest[nrest++] = rd->rest[i];
		}
	if (rd->selected) /* rows of the block, not of evs */
		for (uint32_t i = 0; i < rd->nkeep; i++)
			rd->cand[i] = rd->sel[rd->keep[i]];
	if ((rc = segment_block_read_rows(rd->seg, rd->block, rd->selected ? rd->cand : rd->keep,
					  rd->nkeep, rc == 0 ? rd->rest : NULL, nrest, &rd->arena,
					  &rd->evs, &rd->n, &rd->e)))
		return rc;
	if (nall && rd->n == rd->nkeep) /* projected: the filter's fields join the rest */
		for (uint32_t i = 0; i < rd->n; i++) {
			const struct event *from = &first[rd->keep[i]];

			for (uint32_t k = 0; k < from->n; k++)
				if ((rc = copy_value(&rd->evs[i], &from->vals[k])) < 0)
					return err_set(&rd->e, rc, "search: cannot assemble an event: "
						       "%s", strerror(-rc));
		}
	for (uint32_t i = 0; i < rd->n; i++)
		rd->keep[i] = i;
	rd->nkeep = rd->n;
	return 0;
}

/*
 * The rows whose event.original may hold the filter's words and phrases, found from the
 * block's templates and variables (segment_block_text_rows()), into rd->sel: 1 when they
 * are fewer than the block's, 0 when every row is one.
 */
static int read_text(const struct search_run *r, struct reader *rd)
{
	struct segment_block_info bi;
	int rc;

	rd->selected = false;
	if (!r->n_text || rd->indexed || r->match_all)
		return 0;
	segment_block_get_info(rd->seg, rd->block, &bi);
	if (bi.count > SEGMENT_BLOCK_EVENTS)
		return err_set(&rd->e, -EBADMSG, "search: a block of %u events (at most %u)",
			       bi.count, SEGMENT_BLOCK_EVENTS);
	rc = segment_block_text_rows(rd->seg, rd->block, r->text, r->text_len, r->n_text,
				     &rd->arena, rd->sel, &rd->nsel, &rd->e);
	if (rc < 0)
		return rc;
	rd->selected = rd->nsel < bi.count;
	return rd->selected;
}

/* The fields a match needs: the projection (rows), out[] (a `fields` pipe), or all (NULL). */
static const unsigned *match_needs(const struct search_run *r, size_t *n)
{
	if (r->rows) {
		*n = r->proj_all ? 0 : r->n_proj;
		return r->proj_all ? NULL : r->proj;
	}
	*n = r->out_some ? r->n_out : 0;
	return r->out_some ? r->out : NULL;
}

/*
 * The candidate rows rd->sel[0..nsel) of the block (from the index or the text's search):
 * with once, all that a match needs at once, filtered after; otherwise the filter's fields
 * first and the rest of the matches only, so that a selective filter decodes little.
 */
static int read_selected(const struct search_run *r, struct reader *rd, bool once)
{
	const unsigned *proj = r->proj_all ? NULL : r->proj;
	size_t nproj = r->proj_all ? 0 : r->n_proj, nneed;
	const unsigned *need = match_needs(r, &nneed);
	int rc;

	rd->selected = true;
	if (!rd->nsel)
		return 0;
	if ((rc = segment_block_read_rows(rd->seg, rd->block, rd->sel, rd->nsel,
					  once ? need : proj, once ? nneed : nproj, &rd->arena,
					  &rd->evs, &rd->n, &rd->e)))
		return rc;
	filter_events(r, rd);
	if (once || !rd->nkeep)
		return 0;
	return read_rest(r, rd);
}

static int read_block(const struct search_run *r, struct reader *rd)
{
	const unsigned *proj = r->proj_all ? NULL : r->proj;
	size_t nproj = r->proj_all ? 0 : r->n_proj;
	struct err *e = &rd->e;
	int rc;

	rd->n = rd->nkeep = 0;
	rd->events_read = 0;
	if (rd->indexed) /* the filter's fields first, unless the index decided already */
		return read_selected(r, rd, r->rows || r->proj_all || r->index_field_only);
	if ((rc = read_text(r, rd)) < 0)
		return rc;
	if (rc) /* few text candidates: all they need at once; many: the filter's fields first */
		return read_selected(r, rd, r->rows || r->proj_all || rd->nsel <= TEXT_ONCE);
	if (r->rows || r->match_all || r->proj_all) {
		size_t nneed;
		const unsigned *need = match_needs(r, &nneed);

		rc = segment_block_read(rd->seg, rd->block, need, nneed, &rd->arena, &rd->evs,
					&rd->n, e);
	} else { /* the filter's fields of every row, then whole events of those that match */
		if ((rc = segment_block_read(rd->seg, rd->block, proj, nproj, &rd->arena, &rd->evs,
					     &rd->n, e)))
			return rc;
		if (rd->n > SEGMENT_BLOCK_EVENTS)
			return err_set(e, -EBADMSG, "search: a block of %u events (at most %u)",
				       rd->n, SEGMENT_BLOCK_EVENTS);
		filter_events(r, rd);
		if (!rd->nkeep)
			return 0;
		return read_rest(r, rd);
	}
	if (rc)
		return rc;
	if (rd->n > SEGMENT_BLOCK_EVENTS)
		return err_set(e, -EBADMSG, "search: a block of %u events (at most %u)", rd->n,
			       SEGMENT_BLOCK_EVENTS);
	filter_events(r, rd);
	return 0;
}

/* True (and the search done) when its caller no longer wants results (store_search.gone). */
static bool search_gone(struct search_run *r)
{
	if (!r->done && r->s->gone && r->s->gone(r->s->ctx))
		r->done = r->left = true;
	return r->done;
}

/* The matches of a read block to the pipes, newest (last) first; then its arena is cleared. */
static int take_block(struct search_run *r, struct reader *rd, struct err *e)
{
	int rc = rd->rc;

	if (!rc && search_gone(r)) {
		arena_clear(&rd->arena);
		return 0;
	}
	if (rc) {
		*e = rd->e;
		arena_clear(&rd->arena);
		return rc;
	}
	r->st.blocks_read++;
	r->st.events_read += rd->events_read;
	for (uint32_t i = rd->nkeep; i-- > 0 && !r->done;) {
		r->st.matched++;
		rc = agg_add(r->agg, &rd->evs[rd->keep[i]], e);
		if (rc == 1 || rc == -ECANCELED) {
			r->done = true;
			rc = 0;
		} else if (rc < 0) {
			break;
		}
	}
	arena_clear(&rd->arena);
	return rc;
}

/*
 * The second reader: a thread that reads every other block while the search's thread
 * reads and hands on the one before, so that a search uses two cores.
 */
struct helper {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct search_run *run;
	struct reader *job; /* posted, not yet read */
	bool busy, quit;
};

static void *helper_main(void *arg)
{
	struct helper *h = arg;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		struct reader *rd;

		while (!h->quit && !h->job)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->quit)
			break;
		rd = h->job;
		pthread_mutex_unlock(&h->mu);
		rd->rc = read_block(h->run, rd);
		pthread_mutex_lock(&h->mu);
		h->job = NULL;
		h->busy = false;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static void helper_post(struct helper *h, struct reader *rd)
{
	pthread_mutex_lock(&h->mu);
	h->job = rd;
	h->busy = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void helper_wait(struct helper *h)
{
	pthread_mutex_lock(&h->mu);
	while (h->busy)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

/* Blocks of one segment to read, newest first, with their rows from the index. */
struct search_plan {
	unsigned *blocks;
	uint32_t *rows;  /* the index's rows (segment-wide, ascending), or NULL */
	size_t *first, *count; /* per planned block: its slice of rows */
	int64_t *newest; /* per planned block: the newest @timestamp of it and those after it */
	size_t n;
	bool indexed;
};

static void plan_release(struct search_plan *p)
{
	mem_free(p->blocks);
	mem_free(p->rows);
	mem_free(p->first);
	mem_free(p->count);
	mem_free(p->newest);
	memset(p, 0, sizeof(*p));
}

/* The newest @timestamp of block b (INT64_MIN when none of its events has one). */
static int64_t block_newest(struct segment *seg, unsigned b)
{
	struct segment_block_info bi;

	segment_block_get_info(seg, b, &bi);
	return bi.tmin > bi.tmax ? INT64_MIN : bi.tmax;
}

/* The last nanosecond of day: no event of a segment of that day is newer. */
static int64_t day_end(uint32_t day)
{
	return (int64_t)day + 1 > INT64_MAX / SEGMENT_DAY_NS ? INT64_MAX
							    : ((int64_t)day + 1) * SEGMENT_DAY_NS - 1;
}

/*
 * Events come out newest first: nothing still to read is newer than t, so what the order
 * holds that is newer goes out now (store/agg.h); the search is done when that was all.
 */
static int newer_than(struct search_run *r, int64_t t, struct err *e)
{
	int rc = agg_newer_than(r->agg, t, e);

	if (rc > 0 || rc == -ECANCELED) {
		r->done = true;
		rc = 0;
	}
	return rc;
}

/* Whether events no newer than t can be skipped: the full order holds only newer ones. */
static bool older_than_kept(const struct search_run *r, int64_t t)
{
	int64_t oldest;

	return agg_time_bound(r->agg, &oldest) && t < oldest;
}

static int plan_segment(struct search_run *r, struct segment *seg, int64_t from, int64_t to,
			struct search_plan *p, struct err *e)
{
	struct segment_info info;
	struct block_tests bt;
	size_t nrows = 0, end;
	int rc;

	memset(p, 0, sizeof(*p));
	segment_get_info(seg, &info);
	if (!info.blocks)
		return 0;
	block_values_for(seg, r, &bt);
	if (!segment_may_match(seg, &bt)) {
		r->st.blocks += info.blocks;
		return 0;
	}
	if ((rc = token_hashes(seg, r, &bt, e)) < 0)
		goto out;
	if ((rc = indexed_rows(seg, r, &p->rows, &nrows, &p->indexed, e)))
		goto out;
	p->blocks = mem_calloc(info.blocks, sizeof(*p->blocks));
	p->first = mem_calloc(info.blocks, sizeof(*p->first));
	p->count = mem_calloc(info.blocks, sizeof(*p->count));
	p->newest = mem_calloc(info.blocks, sizeof(*p->newest));
	if (!p->blocks || !p->first || !p->count || !p->newest) {
		rc = err_set(e, -ENOMEM, "search: out of memory");
		goto out;
	}
	end = nrows;
	for (unsigned b = info.blocks; b-- > 0;) {
		struct segment_block_info bi;
		size_t first = end, last;

		r->st.blocks++;
		segment_block_get_info(seg, b, &bi);
		while (first > 0 && p->rows[first - 1] >= bi.first_row)
			first--;
		for (last = first; last < end && p->rows[last] < bi.first_row + bi.count; last++)
			;
		end = first;
		if (last - first > SEGMENT_BLOCK_EVENTS) {
			rc = err_set(e, -EBADMSG, "search: the index gives block %u of a segment "
				     "more than %u rows (damaged)", b, SEGMENT_BLOCK_EVENTS);
			goto out;
		}
		if ((p->indexed && last == first) || !segment_block_overlaps(seg, b, from, to) ||
		    !block_may_match(seg, b, &bt))
			continue;
		p->blocks[p->n] = b;
		p->first[p->n] = first;
		p->count[p->n++] = last - first;
	}
	for (size_t i = p->n; i-- > 0;)
		p->newest[i] = MAX(block_newest(seg, p->blocks[i]),
				   i + 1 < p->n ? p->newest[i + 1] : INT64_MIN);
out:
	block_tests_release(&bt);
	if (rc < 0)
		plan_release(p);
	return rc;
}

/* Sets up reader rd for planned block i of p. */
static void reader_set(struct reader *rd, struct segment *seg, const struct search_plan *p,
		       size_t i)
{
	struct segment_block_info bi;

	rd->seg = seg;
	rd->block = p->blocks[i];
	rd->indexed = p->indexed;
	rd->nsel = 0;
	rd->rc = 0;
	if (!p->indexed)
		return;
	segment_block_get_info(seg, rd->block, &bi);
	for (size_t k = 0; k < p->count[i]; k++)
		rd->sel[rd->nsel++] = (uint32_t)(p->rows[p->first[i] + k] - bi.first_row);
}

/* The first planned block from i on that may hold an event of the result (p->n: none). */
static size_t next_block(const struct search_run *r, struct segment *seg,
			 const struct search_plan *p, size_t i)
{
	while (i < p->n && older_than_kept(r, block_newest(seg, p->blocks[i])))
		i++;
	return i;
}

/*
 * One segment's planned blocks in pairs, the newer read here, the older by the helper (with
 * its own handle of the segment, sl->seg[1]) when there is one. later: the newest time of
 * the segments still to read after this one. Blocks whose events are all older than those
 * the order holds when it is full are not read.
 */
static int run_segment(struct search_run *r, struct seg_slot *sl, const struct search_plan *p,
		       int64_t later, struct helper *h, struct reader *rd[2], struct err *e)
{
	bool two_readers = h && sl->seg[1];
	int rc = 0;

	r->st.segments++;
	for (size_t i = 0; i < p->n && !rc && !r->done;) {
		size_t a, b;
		bool two;

		if ((rc = newer_than(r, MAX(p->newest[i], later), e)) || r->done)
			break;
		if ((a = next_block(r, sl->seg[0], p, i)) == p->n)
			break;
		b = two_readers ? next_block(r, sl->seg[0], p, a + 1) : p->n;
		two = b < p->n;
		i = (two ? b : a) + 1;
		if (two) {
			reader_set(rd[1], sl->seg[1], p, b);
			helper_post(h, rd[1]);
		}
		reader_set(rd[0], sl->seg[0], p, a);
		rd[0]->rc = read_block(r, rd[0]);
		rc = take_block(r, rd[0], e);
		if (two) {
			helper_wait(h);
			if (!rc && !r->done)
				rc = take_block(r, rd[1], e);
			else
				arena_clear(&rd[1]->arena);
		}
	}
	return rc;
}

/* ---- the search's view: segments, the sealer's uncommitted ones, the WAL tail ---- */

/* A tenant's held log (store/held.h) as a reader takes it: fd -1 when there is none. */
struct held_view {
	int fd;
	uint64_t end; /* its size when opened: what was whole then is read */
	char path[PATH_LEN];
};

/*
 * tenant's held log, opened unless skip (a journal read for the committed generation) says
 * a committed generation sealed it: it is then being removed, its events in segments.
 */
static int held_view_open(struct store *st, uint64_t tenant, const struct seal_segment *skip,
			  size_t n_skip, struct held_view *v, struct err *e)
{
	char dir[PATH_LEN];
	int rc;

	v->fd = -1;
	if (seal_held_sealed(skip, n_skip, tenant))
		return 0;
	if ((rc = tenant_dir(st, tenant, false, dir, e)) ||
	    (rc = held_open_read(dir, v->path, sizeof(v->path), &v->fd, &v->end, e)) < 0)
		return rc;
	return 0;
}

static void held_view_close(struct held_view *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

/* fn for each of the view's records that the committed state (lsn of n shards) covers. */
static int held_view_scan(const struct held_view *v, uint64_t tenant, const uint64_t *lsn,
			  unsigned n, wal_replay_fn *fn, void *ctx, struct err *e)
{
	const struct held_bound b = { lsn, n, false };

	if (v->fd < 0)
		return 0;
	return held_scan(v->fd, v->path, v->end, tenant, &b, fn, ctx, NULL, e);
}

struct snapshot {
	struct seg_ref *refs;       /* the tenant's segments in the day range, newest first */
	size_t n;
	struct seal_segment *skip;  /* of a generation the sealer has not committed */
	size_t n_skip;
	struct wal_scan *scan;      /* records after the committed state */
	struct wal_scan *names;     /* the same records, read first for their field names */
	struct held_view held;      /* records the state covers, held for their key (with scan) */
	uint64_t lsn[WAL_MAX_SHARDS]; /* the committed state */
	unsigned n_lsn;
};

/* What a snapshot opens of the WAL records after its state. */
enum snapshot_wal {
	SNAPSHOT_NO_WAL,    /* stats, verify, retention: which listed segments are superseded */
	SNAPSHOT_WAL,       /* a search: scan */
	SNAPSHOT_WAL_NAMES, /* a search naming a field this process does not know: scan, names */
};

static void snapshot_release(struct snapshot *sn)
{
	mem_free(sn->refs);
	mem_free(sn->skip);
	wal_scan_close(sn->scan);
	wal_scan_close(sn->names);
	held_view_close(&sn->held);
	memset(sn, 0, sizeof(*sn));
	sn->held.fd = -1;
}

/*
 * Segments (and, as wal says, WAL records) as of one committed sealer state: the state is
 * read before and after listing segments, the journal and opening the WAL files; when a
 * commit came between, all is taken again (the WAL files stay readable once open, even when
 * a checkpoint removes them). Searches take the WAL too, opened twice when they read its
 * field names first (a scan is read once): the second is read only when the names pass
 * could not keep the records for the search; stats, verify and retention only need to know
 * which listed segments are superseded.
 */
static int snapshot_take(struct store *st, uint64_t tenant, const char *dir, int64_t day_from,
			 int64_t day_to, enum snapshot_wal wal, struct snapshot *sn,
			 struct err *e)
{
	uint64_t lsn[WAL_MAX_SHARDS], lsn2[WAL_MAX_SHARDS], g0, g1;
	char wdir[PATH_LEN];
	unsigned nl, nl2;
	int rc;

	memset(sn, 0, sizeof(*sn));
	sn->held.fd = -1;
	if ((rc = path_join(wdir, e, "%s/wal", st->dir)))
		return rc;
	for (unsigned tries = 0; tries < SNAPSHOT_TRIES; tries++) {
		if ((rc = seal_state_read(st->dir, &g0, lsn, &nl, e)) ||
		    (rc = list_segments_cached(st, tenant, dir, day_from, day_to, &sn->refs,
						 &sn->n, e)) ||
		    (rc = seal_journal_read(st->dir, g0, &sn->skip, &sn->n_skip, e)) ||
		    (wal != SNAPSHOT_NO_WAL &&
		     (rc = wal_scan_open(&sn->scan, wdir, nl ? lsn : NULL, nl, e))) ||
		    (wal != SNAPSHOT_NO_WAL &&
		     (rc = held_view_open(st, tenant, sn->skip, sn->n_skip, &sn->held, e))) ||
		    (wal == SNAPSHOT_WAL_NAMES &&
		     (rc = wal_scan_open(&sn->names, wdir, nl ? lsn : NULL, nl, e))) ||
		    (rc = seal_state_read(st->dir, &g1, lsn2, &nl2, e))) {
			snapshot_release(sn);
			return rc;
		}
		if (g1 == g0) {
			memcpy(sn->lsn, lsn, sizeof(sn->lsn));
			sn->n_lsn = nl;
			return 0;
		}
		snapshot_release(sn);
	}
	return err_set(e, -EAGAIN, "the sealer committed %u times while the search started; "
			 "try again", SNAPSHOT_TRIES);
}

/* Whether r is one of skip's segments of tenant (store/seal.h: not committed, or merged away). */
static bool superseded(const struct seal_segment *skip, size_t n, uint64_t tenant,
		       const struct seg_ref *r)
{
	return seal_segment_listed(skip, n, tenant, r->day, r->seq);
}

/*
 * The segments of the search's snapshot whose day lies in [day_from, day_to], newest first,
 * without those it skips (their events are read from the WAL, or a merge replaced them);
 * *refs mem_alloc'ed, as list_segments gives them.
 */
static int snapshot_segments(const struct search_run *r, int64_t day_from, int64_t day_to,
			     struct seg_ref **refs, size_t *n, struct err *e)
{
	const struct snapshot *sn = r->snap;

	*refs = NULL;
	*n = 0;
	if (!sn->n)
		return 0;
	*refs = mem_alloc(sn->n * sizeof(**refs));
	if (!*refs)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < sn->n; i++)
		if (sn->refs[i].day >= day_from && sn->refs[i].day <= day_to &&
		    !superseded(sn->skip, sn->n_skip, r->s->tenant, &sn->refs[i]))
			(*refs)[(*n)++] = sn->refs[i];
	if (!*n) { /* as list_segments: NULL when there is none */
		mem_free(*refs);
		*refs = NULL;
	}
	return 0;
}

static long cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? n : 1;
}

/*
 * The cached handle of tenant's segment ref at path, opened when the cache does not hold
 * this very file (as its handle mapped it) with this key: -ENOENT when the file is gone.
 */
static int cache_get(struct store *st, uint64_t tenant, const struct seg_ref *ref,
		     const char *path, const struct keys_data_key *dk, struct seg_slot **out,
		     struct err *e)
{
	struct seg_slot *sl = NULL, *lru = &st->cache[0];
	struct fileio_id id;
	struct stat sb;
	int rc;

	for (size_t i = 0; i < SEGMENTS_CACHED && !sl; i++) {
		struct seg_slot *c = &st->cache[i];

		if (c->seg[0] && c->tenant == tenant && c->day == ref->day && c->seq == ref->seq)
			sl = c;
		else if (!c->seg[0] || (lru->seg[0] && c->used_ns < lru->used_ns))
			lru = c;
	}
	if (stat(path, &sb) < 0) {
		rc = errno;
		if (sl) /* removed (retention, erasure, a merge's grace ended): free its space */
			slot_close(sl);
		return rc == ENOENT ? -ENOENT : err_set(e, -rc, "%s: %s", path, strerror(rc));
	}
	id = fileio_id_of(&sb);
	if (sl && (!fileio_id_same(&sl->file, &id) || memcmp(sl->key_id, dk->id, KEYS_ID_BYTES)))
		slot_close(sl); /* another file by that name, or the tenant's key changed */
	if (!sl || !sl->seg[0]) {
		sl = sl ? sl : lru;
		slot_close(sl);
		if ((rc = segment_open(&sl->seg[0], path, tenant, dk, e)))
			return rc;
		sl->tenant = tenant;
		sl->day = ref->day;
		sl->seq = ref->seq;
		sl->file = segment_file(sl->seg[0]);
		memcpy(sl->key_id, dk->id, KEYS_ID_BYTES);
	}
	sl->used_ns = time_mono_ns();
	*out = sl;
	return 0;
}

/*
 * The helper thread's handle of sl's segment, opened on first need; left NULL (the segment
 * is read on one thread) when the file under path is no longer the one seg[0] mapped.
 */
static int slot_second(struct seg_slot *sl, const char *path, const struct keys_data_key *dk,
		       struct err *e)
{
	struct fileio_id f;
	int rc;

	if (sl->seg[1])
		return 0;
	if ((rc = segment_open(&sl->seg[1], path, sl->tenant, dk, e)) == -ENOENT) {
		*e = (struct err)ERR_INIT;
		return 0;
	}
	if (rc)
		return rc;
	f = segment_file(sl->seg[1]);
	if (!fileio_id_same(&f, &sl->file)) {
		segment_close(sl->seg[1]);
		sl->seg[1] = NULL;
	}
	return 0;
}

/* Whether the file of sl's segment is still the one its handle mapped. */
static bool slot_current(struct store *st, const struct seg_slot *sl)
{
	char dir[PATH_LEN], name[SEGMENT_NAME_MAX], path[PATH_LEN];
	struct fileio_id id;
	struct stat sb;

	if (tenant_dir(st, sl->tenant, false, dir, NULL) ||
	    segment_name(name, sl->day, sl->seq) < 0 ||
	    path_join(path, NULL, "%s/%s", dir, name) || stat(path, &sb) < 0)
		return false;
	id = fileio_id_of(&sb);
	return fileio_id_same(&sl->file, &id);
}

/*
 * Closes the cached segments unused for SEGMENT_IDLE_NS and those whose file is gone or
 * another (an erasure or retention through another handle or process), and trims what
 * the others keep of their last read. Those used since checked_ns (monotonic) were found
 * current by cache_get() then and are not looked at again.
 */
static void cache_sweep(struct store *st, int64_t checked_ns)
{
	int64_t now = time_mono_ns();

	for (size_t i = 0; i < SEGMENTS_CACHED; i++) {
		struct seg_slot *sl = &st->cache[i];

		if (!sl->seg[0])
			continue;
		if (now - sl->used_ns > SEGMENT_IDLE_NS ||
		    (sl->used_ns < checked_ns && !slot_current(st, sl))) {
			slot_close(sl);
			continue;
		}
		segment_trim(sl->seg[0], SEGMENT_KEEP_BYTES);
		if (sl->seg[1])
			segment_trim(sl->seg[1], SEGMENT_KEEP_BYTES);
	}
}

void store_release_idle(struct store *st)
{
	if (st)
		cache_sweep(st, INT64_MAX);
}

static void readers_free(struct store *st)
{
	for (int i = 0; i < 2; i++)
		if (st->rd[i]) {
			arena_release(&st->rd[i]->arena);
			mem_free(st->rd[i]);
			st->rd[i] = NULL;
		}
}

/* The store's two block readers, made on its first search. */
static int readers_get(struct store *st, struct err *e)
{
	for (int i = 0; i < 2; i++) {
		if (st->rd[i])
			continue;
		if (!(st->rd[i] = mem_calloc(1, sizeof(*st->rd[i]))))
			return err_set(e, -ENOMEM, "search: out of memory");
		arena_init(&st->rd[i]->arena, BLOCK_ARENA_CHUNK, BLOCK_ARENA_MAX);
	}
	return 0;
}

/* Starts the second reader; false when it cannot (the search reads on one thread). */
static bool helper_start(struct helper *h, const struct search_run *r)
{
	memset(h, 0, sizeof(*h));
	h->run = r;
	if (pthread_mutex_init(&h->mu, NULL))
		return false;
	if (pthread_cond_init(&h->cv, NULL)) {
		pthread_mutex_destroy(&h->mu);
		return false;
	}
	if (pthread_create(&h->thread, NULL, helper_main, h)) {
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		log_warn("search: cannot start a second reader; reading on one thread");
		return false;
	}
	return true;
}

static void helper_stop(struct helper *h)
{
	pthread_mutex_lock(&h->mu);
	h->quit = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
}

static int run_segments(struct store *st, struct search_run *r, int64_t from, int64_t to,
			struct err *e)
{
	struct keys_data_key dk;
	char dir[PATH_LEN];
	struct seg_ref *refs = NULL;
	struct helper hs;
	bool started = false, failed = false;
	size_t n;
	int rc;

	if ((rc = tenant_dir(st, r->s->tenant, false, dir, e)) ||
	    (rc = snapshot_segments(r, first_day(from), last_day(to), &refs, &n, e)))
		return rc;
	if (!n) /* nothing stored: no key needed */
		return 0;
	if ((rc = tenant_key(st, r->s->tenant, &dk, e)) ||
	    (rc = readers_get(st, e)))
		goto out;
	for (size_t i = 0; i < n && !rc && !r->done; i++) {
		char name[SEGMENT_NAME_MAX], path[PATH_LEN];
		struct seg_slot *sl = NULL;
		struct search_plan p;

		/* segments come by day, newest first: those left are older than what is kept */
		if (older_than_kept(r, day_end(refs[i].day)))
			break;
		if ((rc = newer_than(r, day_end(refs[i].day), e)) || r->done)
			break;
		if ((rc = segment_name(name, refs[i].day, refs[i].seq)) < 0 ||
		    (rc = path_join(path, e, "%s/%s", dir, name)))
			break;
		/*
		 * Gone since the snapshot: retention dropped its day or the tenant was erased (a
		 * merge keeps what it replaced for a grace period), so its events are no longer
		 * there to find.
		 */
		if ((rc = cache_get(st, r->s->tenant, &refs[i], path, &dk, &sl, e)) == -ENOENT) {
			log_debug("search: %s was removed while the search ran", path);
			*e = (struct err)ERR_INIT;
			rc = 0;
			continue;
		}
		if (rc || (rc = plan_segment(r, sl->seg[0], from, to, &p, e)))
			break;
		/* a second reader pays off from the first segment with two blocks to read */
		if (p.n > 1 && cpus() > 1 && (rc = slot_second(sl, path, &dk, e))) {
			plan_release(&p);
			break;
		}
		if (p.n > 1 && sl->seg[1] && !started && !failed)
			failed = !(started = helper_start(&hs, r));
		rc = run_segment(r, sl, &p, i + 1 < n ? day_end(refs[i + 1].day) : INT64_MIN,
				 started ? &hs : NULL, st->rd, e);
		plan_release(&p);
		if (rc) /* a damaged block: open it afresh next time */
			slot_close(sl);
	}
out:
	if (started)
		helper_stop(&hs);
	memset(&dk, 0, sizeof(dk));
	mem_free(refs);
	return rc;
}

/* False when a field the filter names is not registered in this process (yet). */
static bool filter_names_known(const struct query_node *n)
{
	if (!n)
		return true;
	if (n->field && field_lookup(n->field, strlen(n->field)) < 0)
		return false;
	return filter_names_known(n->left) && filter_names_known(n->right);
}

/*
 * False when a field the query names is not registered in this process: the filter's, the
 * fields of the pipes up to the first stats or timechart and their aggregations and
 * by-fields (later names are result columns such as "count").
 */
static bool query_names_known(const struct query *q)
{
	if (!filter_names_known(q->filter))
		return false;
	for (size_t i = 0; i < q->n_pipes; i++) {
		const struct query_pipe *p = &q->pipes[i];
		bool rows = p->kind == QUERY_STATS || p->kind == QUERY_TIMECHART;

		for (size_t j = 0; j < p->n_aggs; j++)
			if (p->aggs[j].field &&
			    field_lookup(p->aggs[j].field, strlen(p->aggs[j].field)) < 0)
				return false;
		for (size_t j = 0; j < p->n_names; j++)
			if (field_lookup(p->names[j], strlen(p->names[j])) < 0)
				return false;
		if (p->sort_key && field_lookup(p->sort_key, strlen(p->sort_key)) < 0)
			return false;
		if (rows)
			return true;
	}
	return true;
}

/*
 * The tenant's WAL records after the snapshot, unsealed, read newest first in batches: by the
 * search, or by the names pass (register_names), which registers their field names and keeps
 * the records for the search, so that the WAL is read once (twice only when the records
 * outgrow one buffer, TAIL_BUFFER_MAX or TAIL_RECORDS_MAX, while the names pass reads them).
 */
struct tail_rec {
	size_t off, len; /* in tail_run.text */
	uint32_t flags;  /* the record's (WAL_FLAG_EVCODEC: a binary batch, else JSON lines) */
};

struct tail_run {
	struct store *st;
	struct search_run *r;
	struct keys_data_key dk;
	int key;              /* 0 not looked up, 1 held, -1 none (erased or never made) */
	unsigned char *text;  /* unsealed payloads, one after the other */
	size_t len, cap;
	struct tail_rec *recs;
	size_t n, recs_cap;
	struct arena arena;
	char *lower;          /* a payload or a line in lower case */
	size_t lower_cap;
	char tok[TAIL_TOKENS_MAX][256]; /* the query's words, lower case (tail_tokens) */
	size_t tok_len[TAIL_TOKENS_MAX], n_tok;
	size_t *lines;        /* (start, end) of the lines holding the first word; of a batch's events */
	size_t lines_cap;
	struct evcodec_reader rd; /* a binary batch's names */
	const struct query *names; /* the names pass: until these query's names are known */
	bool known;           /* the names pass has registered all it needs */
	bool reread;          /* the names pass let records go (buffer full): search reads again */
	bool kept;            /* text and recs hold the whole tail, read by the names pass */
	struct err *e;
};

static void lower_into(char *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
}

/* ASCII lower case of [p, p + n) into t->lower (grown as needed); NULL when out of memory. */
static const char *tail_lower(struct tail_run *t, const char *p, size_t n)
{
	if (n > t->lower_cap) {
		char *nl = mem_realloc(t->lower, n);

		if (!nl)
			return NULL;
		t->lower = nl;
		t->lower_cap = n;
	}
	lower_into(t->lower, p, n);
	return t->lower;
}

/*
 * The tokens of the literals the query needs (those the blooms are asked about), in lower
 * case: an event whose JSON line lacks one, ignoring ASCII case, cannot match. A prefilter
 * only, a superset: a word must be a whole token of the text (match.h), but in a line's
 * bytes an escape (\n) or a binary batch's length byte may stand next to it, so only its
 * bytes are looked for, and match_event() decides.
 */
static void tail_tokens(struct tail_run *t)
{
	const struct search_run *r = t->r;

	for (size_t i = 0; i < r->n_lit; i++) {
		const char *p = r->lit[i].value, *end = p + r->lit[i].len, *tok;
		size_t len;

		int f = r->lit[i].field ? field_lookup(r->lit[i].field, strlen(r->lit[i].field))
					: -1;

		if (f >= 0 && field_type((unsigned)f) != FT_STR)
			continue; /* an address: its text is in no batch's bytes */
		while (segment_token_next(&p, end, &tok, &len) && t->n_tok < TAIL_TOKENS_MAX) {
			lower_into(t->tok[t->n_tok], tok, len);
			t->tok_len[t->n_tok++] = len;
		}
	}
}

static bool has_tokens(const struct tail_run *t, const char *low, size_t n)
{
	for (size_t i = 0; i < t->n_tok; i++)
		if (!memmem(low, n, t->tok[i], t->tok_len[i]))
			return false;
	return true;
}

/* Runs the filter and the pipes on one event. */
static int tail_match(struct tail_run *t, const struct event *ev)
{
	struct search_run *r = t->r;
	int rc;

	if (!in_range(ev, r->s) || !match_event(r->m, ev))
		return 0;
	r->st.matched++;
	rc = agg_add(r->agg, ev, t->e);
	if (rc == 1 || rc == -ECANCELED)
		r->done = true;
	else if (rc < 0)
		return rc;
	return 0;
}

/* Decodes one line and runs the filter and the pipes on its event. */
static int tail_event(struct tail_run *t, const char *line, size_t n)
{
	struct err de = ERR_INIT;
	struct event ev;

	arena_clear(&t->arena);
	event_init(&ev, &t->arena);
	if (ecs_decode(&ev, line, n, &de) < 0)
		return 0;
	return tail_match(t, &ev);
}

/* (start, end) pair n of t->lines, grown as needed. */
static int tail_pair(struct tail_run *t, size_t n, size_t s0, size_t e0)
{
	if (n == t->lines_cap) {
		size_t cap = t->lines_cap ? 2 * t->lines_cap : 256;
		size_t *nlines = mem_realloc(t->lines, cap * 2 * sizeof(*nlines));

		if (!nlines)
			return err_set(t->e, -ENOMEM, "out of memory");
		t->lines = nlines;
		t->lines_cap = cap;
	}
	t->lines[2 * n] = s0;
	t->lines[2 * n + 1] = e0;
	return 0;
}

/*
 * Filter and pipes over the events of one binary batch (store/evcodec.h), last first. With
 * words to look for, an event is decoded only when its bytes hold them all, ignoring ASCII
 * case: strings are stored as they are, so a word of a text value is in them. A batch that
 * stores a field with another type than this process gives it is decoded whole.
 */
static int tail_batch(struct tail_run *t, const char *p, size_t len)
{
	struct search_run *r = t->r;
	struct err de = ERR_INIT;
	bool filter = t->n_tok > 0;
	const void *evp;
	size_t evlen, n = 0;
	int rc;

	if ((rc = evcodec_open(&t->rd, p, len, &de)) < 0) {
		if (rc == -ENOMEM)
			return err_set(t->e, rc, "out of memory");
		log_warn("WAL tail: a damaged record not searched: %s", de.msg);
		return 0;
	}
	for (size_t i = 0; i < t->rd.n_names; i++)
		if (t->rd.types[i] != field_store_type(field_type(t->rd.ids[i])))
			filter = false;
	while ((rc = evcodec_next(&t->rd, &evp, &evlen, &de)) > 0) {
		size_t s0 = (size_t)((const char *)evp - p);

		if ((rc = tail_pair(t, n, s0, s0 + evlen)) < 0)
			return rc;
		n++;
	}
	r->st.events_read += n;
	while (n-- > 0 && !r->done) {
		size_t s0 = t->lines[2 * n], e0 = t->lines[2 * n + 1];
		const char *low;
		struct event ev;

		if (filter) {
			if (!(low = tail_lower(t, p + s0, e0 - s0)))
				return err_set(t->e, -ENOMEM, "out of memory");
			if (!has_tokens(t, low, e0 - s0))
				continue;
		}
		arena_clear(&t->arena);
		event_init(&ev, &t->arena);
		if (evcodec_decode(&t->rd, p + s0, e0 - s0, &ev, &de) < 0)
			continue; /* the sealer counts it (koban_store_seal_skipped_total) */
		if ((rc = tail_match(t, &ev)) < 0)
			return rc;
	}
	return 0;
}

/*
 * The names pass over one binary batch: opening it registers its field names. (It skips
 * records of JSON lines, which only tests and tools write: the ECS decoder registers their
 * names only as it decodes their events.)
 */
static int tail_names(struct tail_run *t, const char *p, size_t len)
{
	struct err de = ERR_INIT;
	int rc = evcodec_open(&t->rd, p, len, &de);

	if (rc == -ENOMEM)
		return err_set(t->e, rc, "out of memory");
	/* a damaged batch: the search logs it when it reads the record */
	t->known = query_names_known(t->names);
	return 0;
}

/* The start of the line holding p[at] (lines end in '\n'). */
static size_t line_start(const char *p, size_t at)
{
	const char *nl = at ? memrchr(p, '\n', at) : NULL;

	return nl ? (size_t)(nl - p) + 1 : 0;
}

/*
 * Filter and pipes over the events of one payload's lines, last line first. With words to
 * look for, only lines holding them (ignoring ASCII case) are decoded: found by searching
 * the payload for the first word. A payload with a \u escape may spell a word differently:
 * each of its lines is then checked as written, never skipped on a guess.
 */
static int tail_lines(struct tail_run *t, const char *p, size_t len)
{
	struct search_run *r = t->r;
	const char *low = NULL;
	size_t end = len, n = 0;
	bool escaped = t->n_tok && memmem(p, len, "\\u", 2);
	int rc = 0;

	for (const char *q = p; q < p + len; q++) { /* events read: the payload's lines */
		const char *nl = memchr(q, '\n', (size_t)(p + len - q));

		r->st.events_read++;
		if (!nl)
			break;
		q = nl;
	}
	if (t->n_tok && !escaped) {
		if (!(low = tail_lower(t, p, len)))
			return err_set(t->e, -ENOMEM, "out of memory");
		/* lines holding the first word, in order */
		for (size_t at = 0; at < len;) {
			const char *hit = memmem(low + at, len - at, t->tok[0], t->tok_len[0]);
			const char *nl;
			size_t s0, e0;

			if (!hit)
				break;
			s0 = line_start(low, (size_t)(hit - low));
			nl = memchr(hit, '\n', (size_t)(low + len - hit));
			e0 = nl ? (size_t)(nl - low) : len;
			if ((rc = tail_pair(t, n, s0, e0)) < 0)
				return rc;
			n++;
			at = e0 + 1;
		}
		while (n-- > 0 && !r->done && !rc) {
			size_t s0 = t->lines[2 * n], e0 = t->lines[2 * n + 1];

			if (has_tokens(t, low + s0, e0 - s0))
				rc = tail_event(t, p + s0, e0 - s0);
		}
		return rc;
	}
	while (end > 0 && !r->done && !rc) {
		size_t s0;

		if (p[end - 1] == '\n')
			end--;
		s0 = line_start(p, end);
		if (end > s0 && (!t->n_tok || memmem(p + s0, end - s0, "\\u", 2) ||
				 !(low = tail_lower(t, p + s0, end - s0)) ||
				 has_tokens(t, low, end - s0)))
			rc = tail_event(t, p + s0, end - s0);
		end = s0;
	}
	return rc;
}

/* The names pass over the records held, newest first, until the query's names are known. */
static int tail_register(struct tail_run *t)
{
	int rc = 0;

	for (size_t i = t->n; i > 0 && !rc && !t->known && !search_gone(t->r); i--)
		if (t->recs[i - 1].flags & WAL_FLAG_EVCODEC)
			rc = tail_names(t, (const char *)t->text + t->recs[i - 1].off,
					t->recs[i - 1].len);
	return rc;
}

/* The records held, newest first, through the names pass or the search; then let go. */
static int tail_flush(struct tail_run *t)
{
	int rc = 0;

	if (t->names) {
		rc = tail_register(t);
		t->reread = true;
	}
	while (t->n && !rc && !t->names && !search_gone(t->r)) {
		const struct tail_rec *rec = &t->recs[--t->n];
		const char *p = (const char *)t->text + rec->off;

		rc = rec->flags & WAL_FLAG_EVCODEC ? tail_batch(t, p, rec->len)
						   : tail_lines(t, p, rec->len);
	}
	t->n = 0;
	t->len = 0;
	return rc;
}

static int tail_grow(struct tail_run *t, size_t need)
{
	if (t->n == t->recs_cap) {
		size_t cap = t->recs_cap ? 2 * t->recs_cap : 256;
		struct tail_rec *nr = mem_realloc(t->recs, cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		t->recs = nr;
		t->recs_cap = cap;
	}
	if (t->len + need > t->cap) {
		size_t cap = MAX(t->cap ? 2 * t->cap : (size_t)1 << 20, t->len + need);
		unsigned char *nt = mem_realloc(t->text, cap);

		if (!nt)
			return -ENOMEM;
		t->text = nt;
		t->cap = cap;
	}
	return 0;
}

static int tail_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		       uint32_t flags, const void *payload, size_t len)
{
	struct tail_run *t = ctx;
	size_t out_len = len;
	int rc;

	if (tenant != t->r->s->tenant || t->r->done || (t->known && t->reread))
		return 0;
	if (flags & WAL_FLAG_SEALED) {
		if (!t->key) {
			struct err ke = ERR_INIT;

			rc = tenant_key(t->st, tenant, &t->dk, &ke);
			if (rc < 0 && rc != -ENOENT) {
				*t->e = ke;
				return rc;
			}
			t->key = rc ? -1 : 1;
		}
		if (t->key < 0 || len < KEYS_SEAL_OVERHEAD)
			return 0; /* erased: unreadable by design */
		out_len = len - KEYS_SEAL_OVERHEAD;
	}
	if ((t->n == TAIL_RECORDS_MAX || t->len + out_len > TAIL_BUFFER_MAX) &&
	    (rc = tail_flush(t)) < 0)
		return rc;
	if ((rc = tail_grow(t, out_len)) < 0)
		return err_set(t->e, rc, "out of memory");
	if (flags & WAL_FLAG_SEALED) {
		if (keys_unseal(&t->dk, WAL_SEAL_BLOCK_ID, payload, len, t->text + t->len) < 0) {
			/*
			 * The sealer skips it too (koban_store_seal_skipped_total{unreadable}). Said
			 * by the pass that reads it first: the names pass's records may be all the
			 * search reads (twice only when the tail outgrows the buffer, and read twice).
			 */
			log_warn("WAL shard %u: LSN %llu: a record of %u events does not open with "
				 "the tenant's data key: not searched", shard,
				 (unsigned long long)lsn, count);
			return 0;
		}
	} else {
		memcpy(t->text + t->len, payload, len);
	}
	t->recs[t->n++] = (struct tail_rec){ t->len, out_len, flags };
	t->len += out_len;
	t->r->st.wal_records++;
	return 0;
}

static void tail_init(struct tail_run *t, struct store *st, struct search_run *r, struct err *e)
{
	memset(t, 0, sizeof(*t));
	t->st = st;
	t->r = r;
	t->e = e;
	arena_init(&t->arena, 64 << 10, BLOCK_ARENA_MAX);
	evcodec_reader_init(&t->rd);
}

static void tail_release(struct tail_run *t)
{
	arena_release(&t->arena);
	evcodec_reader_release(&t->rd);
	memset(&t->dk, 0, sizeof(t->dk));
	mem_free(t->text);
	mem_free(t->recs);
	mem_free(t->lower);
	mem_free(t->lines);
}

/* The tenant's records in scan, then those held, into t (flushed whenever it is full). */
static int tail_read(struct tail_run *t, struct wal_scan *scan)
{
	struct search_run *r = t->r;
	bool stop = false; /* the names pass knows the names and has let records go */
	int rc = 0;

	wal_scan_tenant(scan, r->s->tenant);
	for (unsigned i = 0; i < wal_scan_shards(scan) && !rc && !r->done && !stop; i++) {
		rc = wal_scan_shard(scan, i, UINT64_MAX, tail_record, t, NULL, t->e);
		stop = t->known && t->reread;
	}
	if (!rc && !r->done && !stop) /* older than the WAL's: the committed state covers them */
		rc = held_view_scan(&r->snap->held, r->s->tenant, r->snap->lsn, r->snap->n_lsn,
				    tail_record, t, t->e);
	return rc;
}

/*
 * The names pass of q over the records in scan: what fits in one buffer is kept for the
 * search (t->kept), else it is let go as it is read and the search reads the WAL again.
 */
static int tail_names_pass(struct tail_run *t, struct wal_scan *scan, const struct query *q)
{
	int rc;

	t->names = q;
	rc = tail_read(t, scan);
	if (!rc && t->reread)
		rc = tail_flush(t);
	else if (!rc)
		rc = tail_register(t);
	t->kept = !rc && !t->reread;
	t->names = NULL;
	t->known = false;
	return rc;
}

/* The search of the tenant's records: those the names pass kept, else those in scan. */
static int run_tail(struct tail_run *t, struct wal_scan *scan)
{
	int rc = 0;

	tail_tokens(t);
	if (!t->kept)
		rc = tail_read(t, scan);
	return rc ? rc : tail_flush(t);
}

/* The WAL tail first (the newest events), then the segments, newest first. */
static int run_all(struct store *st, struct search_run *r, struct tail_run *t, int64_t from,
		   int64_t to, struct err *e)
{
	int rc = run_tail(t, r->snap->scan);

	if (!rc && !r->done)
		rc = run_segments(st, r, from, to, e);
	return rc;
}

/*
 * audit.log's descriptor (O_APPEND), kept for AUDIT_REOPEN_NS: a search's line costs a write
 * rather than an open, a write and a close, and a file rotated away is let go within a
 * second. -1 with errno.
 */
static int audit_file(struct store *st)
{
	int64_t now = time_mono_ns();

	if (st->audit_fd >= 0 && now - st->audit_opened_ns < AUDIT_REOPEN_NS)
		return st->audit_fd;
	if (st->audit_fd >= 0)
		close(st->audit_fd);
	st->audit_fd = open(st->audit_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	st->audit_opened_ns = now;
	return st->audit_fd;
}

/* One JSON line per search in DATA_DIR/audit.log (0600): the search is refused without it. */
static int audit(struct store *st, const struct store_search *s, uint64_t results, int status,
		 bool left, struct err *e)
{
	char when[TIME_RFC3339_LEN];
	struct buf line = BUF_INIT(QUERY_MAX_LENGTH * 6 + 4096);
	int fd, rc;

	time_format_rfc3339(time_now_ns(), when);
	rc = buf_addf(&line, "{\"@timestamp\":\"%s\",\"action\":\"search\",\"who\":", when);
	if (!rc)
		rc = json_add_string(&line, s->who ? s->who : "-", strlen(s->who ? s->who : "-"));
	if (!rc)
		rc = buf_addf(&line, ",\"tenant\":%llu,\"query\":", (unsigned long long)s->tenant);
	if (!rc)
		rc = json_add_string(&line, s->query, s->query_len);
	if (!rc)
		rc = buf_addf(&line, ",\"results\":%llu,\"status\":%d%s}\n",
			      (unsigned long long)results, status,
			      left ? ",\"ended\":\"reader left\"" : "");
	fd = rc ? -1 : audit_file(st);
	if (fd < 0 || write(fd, line.p, line.len) != (ssize_t)line.len) {
		rc = err_set(e, rc ? rc : -errno, "cannot write the audit log %s: %s", st->audit_path,
			     strerror(rc ? -rc : errno));
		if (fd >= 0) { /* opened again next time */
			close(fd);
			st->audit_fd = -1;
		}
		buf_release(&line);
		return rc;
	}
	buf_release(&line);
	return 0;
}

/* The audit log can be written: checked before a search hands out anything. */
static int audit_ready(struct store *st, struct err *e)
{
	if (audit_file(st) < 0)
		return err_set(e, -errno, "cannot write the audit log %s: %s; no search without it",
			       st->audit_path, strerror(errno));
	return 0;
}

/*
 * The search's view (r->snap): the tenant's segments in the caller's time range and the WAL
 * records after them, opened a second time when q names a field this process does not know
 * yet (read again only when the names pass's records outgrow its buffer).
 */
static int take_view(struct store *st, struct search_run *r, const struct query *q,
		     struct snapshot *sn, struct err *e)
{
	const struct store_search *s = r->s;
	char dir[PATH_LEN];
	int rc;

	if ((rc = tenant_dir(st, s->tenant, false, dir, e)) ||
	    (rc = snapshot_take(st, s->tenant, dir, first_day(s->from), last_day(s->to),
				query_names_known(q) ? SNAPSHOT_WAL : SNAPSHOT_WAL_NAMES, sn, e)))
		return rc;
	r->snap = sn;
	return 0;
}

/* The field names of the view's segments, newest first, until q's are known. */
static int register_segment_names(struct store *st, struct search_run *r,
				  const struct query *q, struct err *e)
{
	const struct snapshot *sn = r->snap;
	uint64_t tenant = r->s->tenant;
	struct keys_data_key dk;
	char dir[PATH_LEN];
	unsigned *ids = NULL;
	int rc;

	if (!sn->n)
		return 0;
	if ((rc = tenant_dir(st, tenant, false, dir, e)) || (rc = tenant_key(st, tenant, &dk, e)))
		return rc;
	if (!(ids = mem_calloc(NAMES_MAX, sizeof(*ids)))) {
		rc = err_set(e, -ENOMEM, "search: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < sn->n && !rc && !query_names_known(q); i++) {
		char name[SEGMENT_NAME_MAX], path[PATH_LEN];
		struct seg_slot *sl;
		size_t nids;

		if ((rc = segment_name(name, sn->refs[i].day, sn->refs[i].seq)) < 0 ||
		    (rc = path_join(path, e, "%s/%s", dir, name)))
			break;
		if ((rc = cache_get(st, tenant, &sn->refs[i], path, &dk, &sl, e)) == -ENOENT) {
			rc = 0; /* removed since it was listed (retention, erasure) */
			continue;
		}
		if (rc)
			break;
		if (!sl->names_known)
			rc = segment_field_ids(sl->seg[0], ids, NAMES_MAX, &nids, e);
		sl->names_known = !rc;
	}
fail:
	mem_free(ids);
	memset(&dk, 0, sizeof(dk));
	return rc;
}

/*
 * A process registers a vendor field (panos.app, ...) when it first reads it: a search
 * naming one that this process has not read yet registers the field names of the tenant's
 * segments in its time range first, newest first, then those of the WAL records after them
 * (events not sealed yet), until every name is known (or none is left), so that
 * `panos.app: ssh` means the stored field and not one no event has.
 */
static int register_names(struct store *st, struct search_run *r, struct tail_run *t,
			  const struct query *q, struct err *e)
{
	int rc;

	if (query_names_known(q))
		return 0;
	if ((rc = register_segment_names(st, r, q, e)) || query_names_known(q))
		return rc;
	return tail_names_pass(t, r->snap->names, q);
}

/*
 * Whether the filter reads one field only, an indexed one (`source.ip: 10.0.0.5`,
 * `user.name: admin`): the index's rows are then its matches (a key holds every case of a
 * string, and a filter ignores case), read whole at once rather than filtered first; they
 * are still filtered after (a `not` of the same field).
 */
static bool reads_one_indexed_field(const struct match *m)
{
	unsigned ids[2];
	size_t n;

	return match_fields(m, ids, 2, &n) == 0 && n == 1 &&
	       segment_field_indexed(field_name(ids[0]));
}

static int drop_event(void *ctx, const struct event *ev)
{
	return 0;
}

static int drop_row(void *ctx, const struct agg_row *row)
{
	return 0;
}

int store_query_check(const char *query, size_t len, int64_t now, struct err *e)
{
	struct arena qa;
	struct query q;
	struct match *m;
	struct agg *g = NULL;
	int rc;

	arena_init(&qa, 4096, 4u << 20);
	/* the pipes run over no events: what they refuse only at the end shows too */
	if (!(rc = query_parse(&q, query, len, &qa, e)) &&
	    !(rc = match_compile(&m, q.filter, now, &qa, e)) &&
	    !(rc = agg_new(&g, &q, drop_event, drop_row, NULL, e)))
		rc = agg_finish(g, e);
	agg_free(g);
	arena_release(&qa);
	return rc;
}

/* The caller's bounds the wrong way round: an error, not an empty result. */
static int check_bounds(const struct store_search *s, struct err *e)
{
	char from[TIME_RFC3339_LEN + 1], to[TIME_RFC3339_LEN + 1];

	if (s->from <= s->to)
		return 0;
	from[time_format_rfc3339(s->from, from)] = '\0';
	to[time_format_rfc3339(s->to, to)] = '\0';
	return err_set(e, -EINVAL, "the time range ends before it begins (from %s, to %s)", from,
		       to);
}

int store_search_check(const struct store_search *s, struct err *e)
{
	int rc = check_bounds(s, e);

	return rc ? rc : store_query_check(s->query, s->query_len, s->now, e);
}

int store_search(struct store *st, const struct store_search *s, struct store_search_stats *out,
		 struct err *e)
{
	struct search_run r = { .s = s };
	int64_t started = time_mono_ns(), from, to;
	struct snapshot sn = { 0 };
	struct tail_run tail;
	struct arena qa;
	struct query q;
	int rc;

	if ((rc = audit_ready(st, e)))
		return rc;
	arena_init(&qa, 4096, 4u << 20);
	tail_init(&tail, st, &r, e);
	if ((rc = check_bounds(s, e)) || (rc = query_parse(&q, s->query, s->query_len, &qa, e)) ||
	    (rc = take_view(st, &r, &q, &sn, e)) || (rc = register_names(st, &r, &tail, &q, e)) ||
	    (rc = match_compile(&r.m, q.filter, s->now, &qa, e)) ||
	    (rc = agg_new(&r.agg, &q, count_event, count_row, &r, e)))
		goto done;
	if (s->read_order)
		agg_read_order(r.agg);
	agg_set_limit(r.agg, s->limit);
	(void)match_literals(r.m, add_literal, &r); /* add_literal never stops the walk */
	(void)match_ranges(r.m, add_range, &r);     /* nor does add_range */
	r.rows = agg_gives_rows(r.agg);
	r.match_all = match_is_all(r.m);
	r.index_field_only = reads_one_indexed_field(r.m);
	plan_projection(&r, &q);
	match_time_range(r.m, &from, &to);
	from = MAX(from, s->from);
	to = MIN(to, s->to);
	if (from <= to)
		rc = run_all(st, &r, &tail, from, to, e);
	if (!rc)
		rc = agg_finish(r.agg, e);
	if (rc == -ECANCELED)
		rc = 0;
done:
	tail_release(&tail);
	snapshot_release(&sn);
	agg_free(r.agg);
	arena_release(&qa);
	cache_sweep(st, started); /* what this search opened was checked when it did */
	if (out)
		*out = r.st;
	{
		struct err ae = ERR_INIT;
		int arc = audit(st, s, r.st.results, rc, r.left, &ae);

		if (arc && !rc) {
			*e = ae;
			rc = arc;
		}
	}
	return rc;
}

static atomic_uint client_searches;
static atomic_uint client_searches_max = STORE_CLIENT_SEARCHES_MAX;

bool store_search_slot_take(void)
{
	unsigned n = atomic_load(&client_searches);

	/* counted in the same step as checked: a burst of clients cannot all pass */
	do {
		if (n >= atomic_load(&client_searches_max))
			return false;
	} while (!atomic_compare_exchange_weak(&client_searches, &n, n + 1));
	return true;
}

void store_search_slot_give(void)
{
	atomic_fetch_sub(&client_searches, 1);
}

void store_test_max_searches(unsigned n)
{
	atomic_store(&client_searches_max, n);
}

/* ---- segments: stats and verification ---- */

/* One segment's report: opened (and verified) with the tenant's key. */
static int report_segment(struct store *st, uint64_t tenant, const char *dir,
			  const struct seg_ref *ref, const struct keys_data_key *dk, bool verify,
			  struct store_segment_report *r, struct err *e)
{
	char name[SEGMENT_NAME_MAX], path[PATH_LEN];
	struct segment_info info;
	struct segment *seg;
	struct stat sb;
	int rc;

	memset(r, 0, sizeof(*r));
	r->tenant = tenant;
	r->day = ref->day;
	r->seq = ref->seq;
	if ((rc = segment_name(name, ref->day, ref->seq)) < 0 ||
	    (rc = path_join(path, e, "%s/%s", dir, name)))
		return rc;
	if (stat(path, &sb) == 0)
		r->bytes = (uint64_t)sb.st_size;
	if ((rc = segment_open(&seg, path, tenant, dk, e)) == 0) {
		segment_get_info(seg, &info);
		r->events = info.events;
		r->raw_bytes = info.raw_bytes;
		r->tmin = info.tmin;
		r->tmax = info.tmax;
		if (verify)
			rc = segment_verify(seg, e);
		segment_close(seg);
	}
	r->status = rc;
	r->error = rc ? e->msg : NULL;
	return 0;
}

struct unsealed_count {
	uint64_t events, bytes;
};

static int count_unsealed(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant,
			  uint32_t count, uint32_t flags, const void *payload, size_t len)
{
	struct unsealed_count *c = ctx;

	c->events += count;
	c->bytes += len;
	return 0;
}

/*
 * The unsealed events of tenant as of the committed state lsn (nl shards) of generation g:
 * the WAL's records after it (in_wal) and the held log's up to it, unless g's journal says
 * sealed (in_held).
 */
static int count_unsealed_at(struct store *st, uint64_t tenant, const char *wdir, uint64_t g,
			     const uint64_t *lsn, unsigned nl, struct unsealed_count *in_wal,
			     struct unsealed_count *in_held, struct err *e)
{
	struct seal_segment *skip = NULL;
	struct held_view held = { .fd = -1 };
	struct wal_scan *sc = NULL;
	size_t n_skip = 0;
	int rc;

	if ((rc = wal_scan_open(&sc, wdir, nl ? lsn : NULL, nl, e)))
		return rc;
	wal_scan_tenant(sc, tenant);
	for (unsigned i = 0; i < wal_scan_shards(sc) && !rc; i++)
		rc = wal_scan_shard(sc, i, UINT64_MAX, count_unsealed, in_wal, NULL, e);
	wal_scan_close(sc);
	if (!rc && !(rc = seal_journal_read(st->dir, g, &skip, &n_skip, e)) &&
	    !(rc = held_view_open(st, tenant, skip, n_skip, &held, e)))
		rc = held_view_scan(&held, tenant, lsn, nl, count_unsealed, in_held, e);
	held_view_close(&held);
	mem_free(skip);
	return rc;
}

int store_unsealed(struct store *st, uint64_t tenant, struct store_unsealed *out,
		   struct err *e)
{
	uint64_t lsn[WAL_MAX_SHARDS], again[WAL_MAX_SHARDS], g, g1;
	char wdir[PATH_LEN];
	struct stat sb;
	unsigned nl, n1;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = path_join(wdir, e, "%s/wal", st->dir)))
		return rc;
	if (stat(wdir, &sb) < 0 && errno == ENOENT)
		return 0; /* no daemon ever wrote here */
	/* from one committed state: counted again when a commit came in between */
	for (unsigned tries = 0; tries < SNAPSHOT_TRIES; tries++) {
		struct unsealed_count wal = { 0, 0 }, held = { 0, 0 };

		if ((rc = seal_state_read(st->dir, &g, lsn, &nl, e)) ||
		    (rc = count_unsealed_at(st, tenant, wdir, g, lsn, nl, &wal, &held, e)) ||
		    (rc = seal_state_read(st->dir, &g1, again, &n1, e)))
			return rc;
		if (g1 == g) {
			*out = (struct store_unsealed){ wal.events, wal.bytes, held.events,
							held.bytes };
			return 0;
		}
	}
	return err_set(e, -EAGAIN, "the sealer committed %u times while the store was counted; "
			 "try again", SNAPSHOT_TRIES);
}

/* store_held_verify's count: the events of the records b commits (all are read). */
struct held_count {
	const struct held_bound *b;
	uint64_t events;
};

static int count_held(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t count,
		      uint32_t flags, const void *payload, size_t len)
{
	struct held_count *c = ctx;

	if (held_bound_commits(c->b, shard, lsn))
		c->events += count;
	return 0;
}

/* A held log salvaged around damage left its damaged copy (store/held.h): -EBADMSG naming it. */
static int held_damaged_copies(struct store *st, uint64_t tenant, struct err *e)
{
	char dir[PATH_LEN];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if ((rc = tenant_dir(st, tenant, false, dir, e)))
		return rc;
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot read %s: %s", dir,
						     strerror(errno));
	while (!rc && (de = readdir(d)))
		if (held_damaged_name(de->d_name))
			rc = err_set(e, -EBADMSG, "%s/%s: a held log's damaged copy (its whole "
				     "records were kept; events in the damage may be lost: "
				     "docs/store.md)", dir, de->d_name);
	closedir(d);
	return rc;
}

int store_held_verify(struct store *st, uint64_t tenant, uint64_t *events, struct err *e)
{
	uint64_t lsn[WAL_MAX_SHARDS], g;
	struct held_bound b = { lsn, 0, true }; /* every record read: damage anywhere shows */
	struct held_count c = { &b, 0 };
	struct seal_segment *skip = NULL;
	struct held_view v = { .fd = -1 };
	size_t n_skip = 0;
	int rc;

	*events = 0;
	if ((rc = seal_state_read(st->dir, &g, lsn, &b.n, e)) ||
	    (rc = seal_journal_read(st->dir, g, &skip, &n_skip, e)) ||
	    (rc = held_view_open(st, tenant, skip, n_skip, &v, e)))
		goto fail;
	if (v.fd >= 0 && (rc = held_scan(v.fd, v.path, v.end, tenant, &b, count_held, &c, NULL, e)))
		goto fail;
	*events = c.events;
	rc = held_damaged_copies(st, tenant, e);
fail:
	held_view_close(&v);
	mem_free(skip);
	return rc;
}

int store_wal_verify(struct store *st, struct err *e)
{
	char wdir[PATH_LEN], kept[PATH_LEN];
	int rc;

	if ((rc = path_join(wdir, e, "%s/wal", st->dir)) ||
	    (rc = wal_find_kept(wdir, kept, sizeof(kept), e)) <= 0)
		return rc;
	return err_set(e, -EBADMSG, "%s: records cut off the write-ahead log at a damaged record "
		       "and kept aside, not in the store (docs/store.md, \"What happens after a "
		       "crash\")", kept);
}

int store_segments(struct store *st, uint64_t tenant, bool verify, store_segment_fn *fn,
		   void *ctx, struct err *e)
{
	struct keys_data_key dk;
	struct snapshot sn;
	char dir[PATH_LEN];
	bool damaged = false;
	int rc;

	if ((rc = tenant_dir(st, tenant, false, dir, e)) ||
	    (rc = snapshot_take(st, tenant, dir, 0, UINT32_MAX, SNAPSHOT_NO_WAL, &sn, e)))
		return rc;
	if (!sn.n || (rc = tenant_key(st, tenant, &dk, e))) {
		snapshot_release(&sn);
		return rc;
	}
	for (size_t i = sn.n; i-- > 0 && !rc;) { /* refs are newest first: oldest first here */
		struct store_segment_report r;
		struct err se = ERR_INIT;

		if ((rc = report_segment(st, tenant, dir, &sn.refs[i], &dk, verify, &r, &se))) {
			*e = se;
			break;
		}
		if (r.status == -ENOENT)
			continue; /* removed since it was listed (retention, a merge's clean-up) */
		r.superseded = superseded(sn.skip, sn.n_skip, tenant, &sn.refs[i]);
		if (!(rc = fn(ctx, &r)) && r.status)
			damaged = true;
	}
	memset(&dk, 0, sizeof(dk));
	snapshot_release(&sn);
	if (!rc && damaged)
		rc = err_set(e, -EBADMSG, "damaged segments found (listed above); nothing was "
				 "repaired");
	return rc;
}

/* ---- erasure ---- */

struct erase_count {
	struct store_erase_stats *out;
	uint64_t readable; /* segments that opened */
};

static int count_readable(void *ctx, const struct store_segment_report *r)
{
	struct erase_count *c = ctx;

	if (r->status)
		return 0; /* damaged, or another key's: counted unreadable */
	c->readable++;
	if (!r->superseded) /* else its events are in another segment too */
		c->out->events += r->events;
	return 0;
}

/* Every file of the tenant's directory (segments, temporary and lock files) and its bytes. */
static int count_tenant_files(const char *dir, struct store_erase_stats *out,
			      uint64_t *segments, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	*segments = 0;
	if (!d)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot read %s: %s", dir,
						     strerror(errno));
	while (!rc && (de = readdir(d))) {
		char path[PATH_LEN];
		uint32_t day, seq;
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((rc = path_join(path, e, "%s/%s", dir, de->d_name)))
			break;
		if (lstat(path, &sb) < 0) {
			if (errno != ENOENT) /* else removed meanwhile (a merge's clean-up) */
				rc = err_set(e, -errno, "cannot stat %s: %s", path,
					     strerror(errno));
			continue;
		}
		out->files++;
		out->bytes += (uint64_t)sb.st_size;
		if (segment_name_parse(de->d_name, &day, &seq) == 0) {
			(*segments)++;
			out->first_day = MIN(out->first_day, day);
			out->last_day = MAX(out->last_day, day);
		}
	}
	closedir(d);
	return rc;
}

int store_erase_count(struct store *st, uint64_t tenant, struct store_erase_stats *out,
		      struct err *e)
{
	struct erase_count c = { out, 0 };
	struct err se = ERR_INIT, ke = ERR_INIT, we = ERR_INIT;
	struct store_unsealed u;
	char dir[PATH_LEN];
	uint64_t segments;
	int rc;

	memset(out, 0, sizeof(*out));
	out->first_day = UINT32_MAX;
	if (!st->keys)
		return err_set(e, -EBADF, "%s: the store was opened for reading", st->dir);
	cache_drop(st, &tenant);
	if ((rc = tenant_dir(st, tenant, false, dir, e)) ||
	    (rc = count_tenant_files(dir, out, &segments, e)))
		return rc;
	rc = keys_tenant_id_hash(st->keys, tenant, out->key_id_hash, &out->key_damaged, &ke);
	if (rc < 0 && rc != -ENOENT) /* -ENOENT: never stored anything, or erased already */
		return err_set(e, rc, "%s (the tenant's data key may be whole but cannot be read: "
			       "nothing was erased; fix this and erase again)", ke.msg);
	out->has_key = rc == 0;
	/*
	 * Events where a segment opens. One that does not (damaged, another key's, no key) is
	 * counted unreadable, and so is the rest when the walk stops: it never stops an erasure.
	 */
	rc = store_segments(st, tenant, false, count_readable, &c, &se);
	if (rc < 0 && rc != -EBADMSG && rc != -ENOENT)
		log_warn("erasure of tenant %llu: events not counted: %s",
			 (unsigned long long)tenant, se.msg);
	out->unreadable = segments > c.readable ? segments - c.readable : 0;
	/* records the sealer has not read: their key is destroyed with the rest */
	if ((rc = store_unsealed(st, tenant, &u, &we)) < 0)
		log_warn("erasure of tenant %llu: the write-ahead log's events not counted: %s",
			 (unsigned long long)tenant, we.msg);
	out->wal_events = u.wal_events;
	out->held_events = u.held_events;
	out->events += u.wal_events + u.held_events;
	return 0;
}

int store_erase_key(struct store *st, uint64_t tenant, struct store_erase_stats *out,
		    struct err *e)
{
	struct err ke = ERR_INIT; /* e stays clear when there is no key */
	unsigned char now[32];
	bool damaged;
	int rc;

	out->key_destroyed = false;
	if (!st->keys)
		return err_set(e, -EBADF, "%s: the store was opened for reading", st->dir);
	cache_drop(st, &tenant);
	rc = keys_tenant_id_hash(st->keys, tenant, now, &damaged, &ke);
	if (rc < 0 && rc != -ENOENT) {
		*e = ke;
		return rc;
	}
	if ((rc == 0) != out->has_key ||
	    (rc == 0 && (damaged != out->key_damaged || memcmp(now, out->key_id_hash, 32))))
		return err_set(e, -ESTALE, "tenant %llu's data key changed since its files were "
				 "counted (events came in meanwhile): nothing was erased; try "
				 "again",
				 (unsigned long long)tenant);
	if (rc == -ENOENT)
		return 0; /* nothing was ever stored, or an earlier run destroyed it */
	/* overwritten on disk but not removed: destroyed all the same (a rerun removes it) */
	rc = keys_tenant_destroy(st->keys, tenant, out->key_id_hash, &out->key_damaged,
				 &out->key_destroyed, e);
	return rc == -ENOENT ? 0 : rc;
}

int store_erase_files(struct store *st, uint64_t tenant, struct err *e)
{
	char dir[PATH_LEN], first[sizeof(e->msg)] = "";
	unsigned long left = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	cache_drop(st, &tenant);
	/* what an interrupted destruction left of the key file goes too */
	if ((rc = tenant_dir(st, tenant, false, dir, e)) ||
	    (st->keys && (rc = keys_tenant_tombstone_remove(st->keys, tenant, e))))
		return rc;
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot read %s: %s", dir,
						     strerror(errno));
	while ((de = readdir(d))) { /* past failures: as many files as can be are removed */
		char path[PATH_LEN];
		struct err fe = ERR_INIT;
		int frc;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((frc = path_join(path, &fe, "%s/%s", dir, de->d_name)) == 0 &&
		    unlink(path) < 0 && errno != ENOENT)
			frc = err_set(&fe, -errno, "cannot remove %s: %s", path, strerror(errno));
		if (frc < 0 && left++ == 0) {
			rc = frc;
			snprintf(first, sizeof(first), "%s", fe.msg);
		}
	}
	closedir(d);
	if (left)
		return err_set(e, rc, "%s%s", first, left > 1 ? " (and more files of the tenant's "
				 "directory)" : "");
	if (rmdir(dir) < 0 && errno != ENOENT)
		return err_set(e, -errno, "cannot remove %s: %s", dir, strerror(errno));
	return 0;
}

int store_erase(struct store *st, uint64_t tenant, struct store_erase_stats *out,
		struct err *e)
{
	int rc;

	if ((rc = store_erase_count(st, tenant, out, e)) ||
	    (rc = store_erase_key(st, tenant, out, e)))
		return rc;
	return store_erase_files(st, tenant, e);
}

/* ---- retention ---- */

int store_retain(struct store *st, uint64_t tenant, unsigned keep_days, int64_t now,
		 bool dry_run, struct store_retain_stats *out, struct err *e)
{
	struct keys_data_key dk;
	struct snapshot sn;
	char dir[PATH_LEN];
	uint32_t today = segment_day_of(now), last = UINT32_MAX;
	bool have_key;
	int rc;

	memset(out, 0, sizeof(*out));
	out->first_day = UINT32_MAX;
	if (!keep_days || keep_days > today)
		return 0; /* nothing is old enough */
	if (!dry_run)
		cache_drop(st, &tenant);
	out->cutoff = today - keep_days + 1;
	if ((rc = tenant_dir(st, tenant, false, dir, e)) ||
	    (rc = snapshot_take(st, tenant, dir, 0, out->cutoff - 1, SNAPSHOT_NO_WAL, &sn,
				   e)))
		return rc;
	if (!sn.n) {
		snapshot_release(&sn);
		return 0;
	}
	have_key = tenant_key(st, tenant, &dk, NULL) == 0;
	for (size_t i = sn.n; i-- > 0 && !rc;) { /* oldest first */
		const struct seg_ref *ref = &sn.refs[i];
		char name[SEGMENT_NAME_MAX], path[PATH_LEN];
		struct segment_info info;
		struct segment *seg;
		struct stat sb;
		struct err se = ERR_INIT;

		if ((rc = segment_name(name, ref->day, ref->seq)) < 0 ||
		    (rc = path_join(path, e, "%s/%s", dir, name)))
			break;
		if (lstat(path, &sb) < 0) {
			if (errno == ENOENT)
				continue; /* removed meanwhile (another run, an erasure) */
			rc = err_set(e, -errno, "cannot stat %s: %s", path, strerror(errno));
			break;
		}
		if (superseded(sn.skip, sn.n_skip, tenant, ref)) {
			/* its events are counted in the merged segment or still in the WAL */
		} else if (have_key && segment_open(&seg, path, tenant, &dk, &se) == 0) {
			segment_get_info(seg, &info);
			out->events += info.events;
			segment_close(seg);
		} else if (out->unreadable++ == 0) { /* the first is logged, the count below */
			if (have_key)
				log_warn("retention: events not counted: %s", se.msg);
			else
				log_warn("retention: %s: events not counted: the tenant has no data "
					 "key", path);
		}
		if (!dry_run && unlink(path) < 0 && errno != ENOENT) {
			rc = err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
			break;
		}
		out->segments++;
		out->bytes += (uint64_t)sb.st_size;
		if (ref->day != last)
			out->days++;
		last = ref->day;
		out->first_day = MIN(out->first_day, ref->day);
		out->last_day = MAX(out->last_day, ref->day);
	}
	memset(&dk, 0, sizeof(dk));
	snapshot_release(&sn);
	if (!dry_run && out->segments) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char cut[TIME_RFC3339_LEN];

		time_format_rfc3339((int64_t)out->cutoff * SEGMENT_DAY_NS, cut);
		cut[10] = '\0'; /* YYYY-MM-DD */
		if (fd < 0 || fsync(fd) < 0)
			log_warn("retention: cannot sync %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		log_info("retention: tenant %llu: dropped %llu day%s before %s (%llu segments, "
			 "%llu events, %llu bytes%s)", (unsigned long long)tenant,
			 (unsigned long long)out->days, out->days == 1 ? "" : "s", cut,
			 (unsigned long long)out->segments, (unsigned long long)out->events,
			 (unsigned long long)out->bytes,
			 out->unreadable ? "; some segments could not be opened: their events are "
					   "not counted" : "");
	}
	return rc;
}

int store_sign_certificate(struct store *st, struct cert_info *ci, struct buf *out,
			   struct err *e)
{
	if (!st->keys)
		return err_set(e, -EBADF, "%s: the store was opened for reading", st->dir);
	return cert_write(ci, st->keys, out, e);
}
