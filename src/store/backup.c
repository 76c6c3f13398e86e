#include "store/backup.h"
#include "core/compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "backup"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/keys.h"
#include "store/seal.h"
#include "store/held.h"
#include "store/segment.h"
#include "store/wal.h"

#define PATH_LEN 4096
#define STATE_MAX 4096       /* seal.state: a header and 8 bytes per shard */
#define SNAPSHOT_TRIES 100   /* commits racing the listing before giving up */
#define TREE_DEPTH 16        /* of the other files' directories */
#define DB_BUSY_TRIES 200    /* of 50 ms: a writer holding koban.db locked */
#define COPY_TRIES 10        /* passes over the segments that found one gone */

/* Names of the data directory's top level that the backup writes itself or leaves out. */
static const char *const managed[] = {
	"koban.db", "koban.db-wal", "koban.db-shm", "koban.db-journal", "keys", "tenants", "wal",
	"seal.state", "seal.journal", "seal.dropped", "spool", "control.sock", "koban.pid",
	"backup.info", "backup.partial",
};

/* One segment of the snapshot. */
struct bseg {
	uint64_t tenant;
	uint32_t day, seq;
	bool is_new; /* (in dest) not kept from an earlier backup */
};

/* A tenant's held log (store/held.h) of the snapshot: its first end bytes are copied. */
struct bheld {
	uint64_t tenant;
	int fd;
	uint64_t end;
};

/* A held log's damaged copy (held_damaged_name) in a tenant's directory: verify names it. */
struct bdamaged {
	uint64_t tenant;
	char *name; /* mem_strdup'ed */
};

struct backup {
	const char *src, *dest;
	unsigned char state[STATE_MAX]; /* seal.state as read, state_len 0: none */
	size_t state_len;
	uint64_t lsn[WAL_MAX_SHARDS];
	unsigned n_lsn;
	struct bseg *segs;
	size_t n_segs, cap_segs;
	struct wal_scan *scan;
	bool vanished; /* a listed segment was gone when its turn came */
	struct bheld *held;
	size_t n_held;
	struct bseg *copies; /* copied by the run's earlier passes, sorted */
	size_t n_copies;
	struct bdamaged *damaged;
	size_t n_damaged;
	struct store_backup_stats *out;
	struct err *e;
};

#define bpath(out, e, ...) fileio_path(out, PATH_LEN, e, __VA_ARGS__)

static bool is_managed(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(managed); i++)
		if (!strcmp(name, managed[i]))
			return true;
	return false;
}

/* A temporary file (ours or koban's: NAME.tmp, NAME.tmp.XXXXXX, .NAME.tmp) or a hidden one. */
static bool is_temporary(const char *name)
{
	const char *t = strstr(name, ".tmp");

	return name[0] == '.' || (t && (!t[4] || (t[4] == '.' && strlen(t + 5) == 6)));
}

/*
 * A secret key the backup must not hold: the master and signing keys, by name or by their
 * magic, wherever they are (the keys: section may name files inside the data directory).
 */
static bool is_secret_key(const char *dir, const char *name)
{
	char path[PATH_LEN], magic[8];
	struct err e = ERR_INIT;
	ssize_t n;
	int fd;

	if (!strcmp(name, "master.key") || !strcmp(name, "signing.key"))
		return true;
	if (bpath(path, &e, "%s/%s", dir, name) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
		return false;
	n = read(fd, magic, sizeof(magic));
	close(fd);
	return n == (ssize_t)sizeof(magic) && (!memcmp(magic, "KOBANMK1", 8) ||
					       !memcmp(magic, "KOBANSK1", 8));
}

static int sync_dir(const char *path, struct err *e)
{
	int rc = fileio_sync_dir(path);

	return rc < 0 ? err_set(e, rc, "cannot sync %s: %s", path, strerror(-rc)) : 0;
}

/* Removes path, a directory with everything in it (depth bounded) or a file. */
static int remove_tree(const char *path, unsigned depth, struct err *e)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EISDIR && errno != EPERM) || depth > TREE_DEPTH)
		return err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	if (!(d = opendir(path)))
		return err_set(e, -errno, "cannot read %s: %s", path, strerror(errno));
	while (!rc && (de = readdir(d))) {
		char sub[PATH_LEN];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!(rc = bpath(sub, e, "%s/%s", path, de->d_name)))
			rc = remove_tree(sub, depth + 1, e);
	}
	closedir(d);
	if (!rc && rmdir(path) < 0 && errno != ENOENT)
		rc = err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	return rc;
}

/* Copies the regular file src_dir/name to dest_dir/name with its mode. 1: it vanished. */
static int copy_file(const char *src_dir, const char *dest_dir, const char *name,
		     struct err *e)
{
	char path[PATH_LEN];
	struct stat sb;
	int fd, rc;

	if ((rc = bpath(path, e, "%s/%s", src_dir, name)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 1 : err_set(e, -errno, "cannot open %s: %s", path,
						      strerror(errno));
	if (fstat(fd, &sb) < 0)
		rc = err_set(e, -errno, "cannot stat %s: %s", path, strerror(errno));
	else
		rc = fileio_copy(fd, (uint64_t)sb.st_size, dest_dir, name, sb.st_mode & 0777, e);
	close(fd);
	return rc;
}

/* ---- DIR: new, empty, or an earlier backup ---- */

/* Whether path a is b or lies below it (both resolved). */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return !strncmp(a, b, n) && (a[n] == '/' || !a[n] || (n == 1 && b[0] == '/'));
}

/*
 * DIR resolved (through its parent when it does not exist yet) and compared with the data
 * directory before anything is made: neither may hold the other, or the mirror of one would
 * copy into or remove from the other.
 */
static int dest_place(const struct backup *b, struct err *e)
{
	char real_src[PATH_MAX], parent[PATH_MAX], real_dest[PATH_MAX + 256];
	const char *slash = strrchr(b->dest, '/'), *base = slash ? slash + 1 : b->dest;
	int rc;

	if (!realpath(b->src, real_src))
		return err_set(e, -errno, "cannot resolve %s: %s", b->src, strerror(errno));
	if (realpath(b->dest, parent)) {
		snprintf(real_dest, sizeof(real_dest), "%s", parent);
	} else {
		char dir[PATH_LEN];

		if (errno != ENOENT || !*base || !strcmp(base, ".") || !strcmp(base, ".."))
			return err_set(e, -errno, "cannot resolve %s: %s", b->dest, strerror(errno));
		if ((rc = bpath(dir, e, "%.*s", slash ? (int)(slash - b->dest) + !(slash - b->dest)
						      : 1, slash ? b->dest : ".")))
			return rc;
		if (!realpath(dir, parent))
			return err_set(e, -errno, "cannot resolve %s: %s", dir, strerror(errno));
		snprintf(real_dest, sizeof(real_dest), "%s/%s", strcmp(parent, "/") ? parent : "",
			 base);
	}
	if (path_within(real_dest, real_src))
		return err_set(e, -EINVAL, "%s is inside the data directory %s: back up to "
			       "another directory", b->dest, b->src);
	if (path_within(real_src, real_dest))
		return err_set(e, -EINVAL, "the data directory %s is inside %s: back up to "
			       "another directory", b->src, b->dest);
	return fileio_make_dir(b->dest, 0750, e);
}

static int dest_check(const struct backup *b, struct err *e)
{
	struct dirent *de;
	bool other = false, ours = false;
	DIR *d;
	int rc;

	if ((rc = dest_place(b, e)))
		return rc;
	if (!(d = opendir(b->dest)))
		return err_set(e, -errno, "cannot read %s: %s", b->dest, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strcmp(de->d_name, "backup.info") || !strcmp(de->d_name, "backup.partial"))
			ours = true;
		else
			other = true;
	}
	closedir(d);
	if (other && !ours)
		return err_set(e, -ENOTEMPTY, "%s is not empty and holds no koban backup (no "
			       "backup.info): give an empty or new directory", b->dest);
	return 0;
}

/* ---- the store's snapshot: state, segments, WAL files ---- */

static int state_read_raw(struct backup *b, unsigned char *out, size_t *len, struct err *e)
{
	char path[PATH_LEN];
	ssize_t n;
	int fd, rc;

	*len = 0;
	if ((rc = bpath(path, e, "%s/seal.state", b->src)))
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot open %s: %s", path,
						      strerror(errno));
	n = read(fd, out, STATE_MAX);
	close(fd);
	if (n < 0)
		return err_set(e, -errno, "cannot read %s: %s", path, strerror(errno));
	*len = (size_t)n;
	return 0;
}

static int seg_add(struct backup *b, uint64_t tenant, uint32_t day, uint32_t seq)
{
	if (b->n_segs == b->cap_segs) {
		size_t cap = b->cap_segs ? 2 * b->cap_segs : 256;
		struct bseg *ns = mem_realloc(b->segs, cap * sizeof(*ns));

		if (!ns)
			return err_set(b->e, -ENOMEM, "out of memory");
		b->segs = ns;
		b->cap_segs = cap;
	}
	b->segs[b->n_segs++] = (struct bseg){ tenant, day, seq, false };
	return 0;
}

static void held_release(struct backup *b)
{
	for (size_t i = 0; i < b->n_held; i++)
		close(b->held[i].fd);
	mem_free(b->held);
	b->held = NULL;
	b->n_held = 0;
}

static void damaged_release(struct backup *b)
{
	for (size_t i = 0; i < b->n_damaged; i++)
		mem_free(b->damaged[i].name);
	mem_free(b->damaged);
	b->damaged = NULL;
	b->n_damaged = 0;
}

static int damaged_add(struct backup *b, uint64_t tenant, const char *name)
{
	struct bdamaged *nd = mem_realloc(b->damaged, (b->n_damaged + 1) * sizeof(*nd));
	char *copy;

	if (!nd)
		return err_set(b->e, -ENOMEM, "out of memory");
	b->damaged = nd;
	if (!(copy = mem_strdup(name)))
		return err_set(b->e, -ENOMEM, "out of memory");
	b->damaged[b->n_damaged++] = (struct bdamaged){ tenant, copy };
	return 0;
}

/* Whether the listing found name, a damaged copy, in tenant's directory (NULL: any). */
static bool has_damaged(const struct backup *b, uint64_t tenant, const char *name)
{
	for (size_t i = 0; i < b->n_damaged; i++)
		if (b->damaged[i].tenant == tenant && (!name || !strcmp(b->damaged[i].name, name)))
			return true;
	return false;
}

/* tenant's held log in tdir, opened as it is now (appends after it are not committed). */
static int held_add(struct backup *b, const char *tdir, uint64_t tenant)
{
	char path[PATH_LEN];
	struct bheld *nh;
	uint64_t end;
	int fd, rc;

	if ((rc = held_open_read(tdir, path, sizeof(path), &fd, &end, b->e)) <= 0)
		return rc;
	if (!(nh = mem_realloc(b->held, (b->n_held + 1) * sizeof(*nh)))) {
		close(fd);
		return err_set(b->e, -ENOMEM, "out of memory");
	}
	b->held = nh;
	b->held[b->n_held++] = (struct bheld){ tenant, fd, end };
	return 0;
}

static bool has_held(const struct backup *b, uint64_t tenant)
{
	for (size_t i = 0; i < b->n_held; i++)
		if (b->held[i].tenant == tenant)
			return true;
	return false;
}

/* A tenant directory's name: its id. */
static bool tenant_id(const char *name, uint64_t *id)
{
	char *end;

	if (name[0] < '1' || name[0] > '9')
		return false;
	errno = 0;
	*id = strtoull(name, &end, 10);
	return !*end && !errno;
}

/* root/tenants into dir, opened (*d NULL when it does not exist). */
static int tenants_open(struct backup *b, const char *root, char dir[PATH_LEN], DIR **d)
{
	int rc;

	*d = NULL;
	if ((rc = bpath(dir, b->e, "%s/tenants", root)))
		return rc;
	if (!(*d = opendir(dir)) && errno != ENOENT)
		return err_set(b->e, -errno, "cannot read %s: %s", dir, strerror(errno));
	return 0;
}

/* Every segment file of every tenant directory. */
static int list_all_segments(struct backup *b)
{
	char dir[PATH_LEN], tdir[PATH_LEN];
	struct dirent *de, *se;
	DIR *d, *td;
	int rc = 0;

	if ((rc = tenants_open(b, b->src, dir, &d)) || !d)
		return rc;
	while (!rc && (de = readdir(d))) {
		uint64_t t;

		if (!tenant_id(de->d_name, &t) || (rc = bpath(tdir, b->e, "%s/%s", dir, de->d_name)))
			continue;
		if (!(td = opendir(tdir))) {
			if (errno != ENOENT) /* erased meanwhile: nothing of it */
				rc = err_set(b->e, -errno, "cannot read %s: %s", tdir,
					     strerror(errno));
			continue;
		}
		while (!rc && (se = readdir(td))) {
			uint32_t day, seq;

			if (segment_name_parse(se->d_name, &day, &seq) == 0)
				rc = seg_add(b, t, day, seq);
			else if (!strcmp(se->d_name, HELD_NAME))
				rc = held_add(b, tdir, t);
			else if (held_damaged_name(se->d_name))
				rc = damaged_add(b, t, se->d_name);
		}
		closedir(td);
	}
	closedir(d);
	return rc;
}

/*
 * Both journal reads' segments: one before the listing and one after. A generation may
 * reserve and rename segments (or a merge write its own) between the first read and the
 * listing, and a merge's replaced segments may leave seal.dropped (deleted) after it; either
 * read alone would let the listing keep a segment whose events are elsewhere too.
 */
static int journal_twice(struct backup *b, struct seal_segment **skip, size_t *n,
			 struct seal_segment *first, size_t n_first)
{
	struct seal_segment *second = NULL, *all;
	size_t n_second = 0;
	int rc;

	*skip = first;
	*n = n_first;
	if ((rc = seal_journal_read(b->src, b->out->generation, &second, &n_second, b->e)) ||
	    !n_second)
		return rc;
	if (!(all = mem_realloc(first, (n_first + n_second) * sizeof(*all)))) {
		mem_free(second);
		return err_set(b->e, -ENOMEM, "out of memory");
	}
	memcpy(all + n_first, second, n_second * sizeof(*second));
	mem_free(second);
	*skip = all;
	*n = n_first + n_second;
	return 0;
}

/*
 * The tenants' segments and held logs: listed, then those either journal read names
 * dropped, or sealed (held logs).
 */
static int list_segments(struct backup *b)
{
	struct seal_segment *first = NULL, *skip = NULL;
	size_t n_first = 0, n_skip = 0, k = 0;
	int rc;

	b->n_segs = 0;
	held_release(b);
	damaged_release(b);
	if ((rc = seal_journal_read(b->src, b->out->generation, &first, &n_first, b->e)))
		return rc;
	if ((rc = list_all_segments(b)) ||
	    (rc = journal_twice(b, &skip, &n_skip, first, n_first))) {
		mem_free(skip ? skip : first);
		return rc;
	}
	for (size_t i = 0; i < b->n_segs; i++)
		if (!seal_segment_listed(skip, n_skip, b->segs[i].tenant, b->segs[i].day,
					 b->segs[i].seq))
			b->segs[k++] = b->segs[i];
	b->n_segs = k;
	for (size_t i = k = 0; i < b->n_held; i++) {
		if (!seal_held_sealed(skip, n_skip, b->held[i].tenant))
			b->held[k++] = b->held[i];
		else
			close(b->held[i].fd);
	}
	b->n_held = k;
	mem_free(skip);
	return 0;
}

/*
 * The state, the segments and the WAL's files as of one committed state: read again until
 * no commit came between its first and its last step.
 */
static int snapshot_take(struct backup *b)
{
	unsigned char again[STATE_MAX];
	char wdir[PATH_LEN];
	size_t again_len;
	int rc;

	if ((rc = bpath(wdir, b->e, "%s/wal", b->src)))
		return rc;
	for (unsigned tries = 0; tries < SNAPSHOT_TRIES; tries++) {
		if ((rc = state_read_raw(b, b->state, &b->state_len, b->e)) ||
		    (rc = seal_state_read(b->src, &b->out->generation, b->lsn, &b->n_lsn, b->e)) ||
		    (rc = list_segments(b)) ||
		    (rc = wal_scan_open(&b->scan, wdir, b->n_lsn ? b->lsn : NULL, b->n_lsn, b->e)) ||
		    (rc = state_read_raw(b, again, &again_len, b->e)))
			return rc;
		if (again_len == b->state_len && !memcmp(again, b->state, again_len))
			return 0;
		wal_scan_close(b->scan);
		b->scan = NULL;
	}
	return err_set(b->e, -EAGAIN, "the sealer committed %u times while the backup listed "
		       "the store; try again", SNAPSHOT_TRIES);
}

/* ---- segments ---- */

static int cmp_bseg(const void *pa, const void *pb)
{
	const struct bseg *a = pa, *b = pb;

	if (a->tenant != b->tenant)
		return a->tenant < b->tenant ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Whether the sorted v[0..n) holds the segment key. */
static bool seg_in(const struct bseg *v, size_t n, const struct bseg *key)
{
	return n && bsearch(key, v, n, sizeof(*v), cmp_bseg) != NULL;
}

static bool in_snapshot(const struct backup *b, uint64_t tenant, uint32_t day, uint32_t seq)
{
	struct bseg key = { tenant, day, seq, false };

	return seg_in(b->segs, b->n_segs, &key);
}

/* Whether the snapshot holds a segment of tenant (b->segs is sorted). */
static bool tenant_in_snapshot(const struct backup *b, uint64_t tenant)
{
	size_t lo = 0, hi = b->n_segs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->segs[mid].tenant < tenant)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n_segs && b->segs[lo].tenant == tenant;
}

static unsigned test_vanish; /* store_backup_test_vanish() */

void store_backup_test_vanish(unsigned n)
{
	test_vanish = n;
}

/*
 * Copies one segment unless dest has it already (same name, same size, same time): one an
 * earlier pass of this run copied counts as copied, not kept.
 */
static int copy_segment(struct backup *b, struct bseg *s)
{
	char name[SEGMENT_NAME_MAX], sdir[PATH_LEN], ddir[PATH_LEN], path[PATH_LEN];
	struct stat ss, ds;
	int rc;

	if (test_vanish) {
		test_vanish--;
		b->vanished = true;
		return 0;
	}
	if ((rc = segment_name(name, s->day, s->seq)) < 0)
		return err_set(b->e, rc, "segment %u of day %u: no valid name", s->seq, s->day);
	if ((rc = bpath(sdir, b->e, "%s/tenants/%llu", b->src, (unsigned long long)s->tenant)) ||
	    (rc = bpath(ddir, b->e, "%s/tenants/%llu", b->dest, (unsigned long long)s->tenant)) ||
	    (rc = fileio_make_dir(ddir, 0750, b->e)) ||
	    (rc = bpath(path, b->e, "%s/%s", sdir, name)))
		return rc;
	if (stat(path, &ss) < 0) {
		if (errno != ENOENT)
			return err_set(b->e, -errno, "cannot stat %s: %s", path, strerror(errno));
		b->vanished = true; /* merged away and deleted, dropped or erased meanwhile */
		return 0;
	}
	if ((rc = bpath(path, b->e, "%s/%s", ddir, name)))
		return rc;
	/* a number is used again once its day was dropped whole: the time tells them apart */
	if (stat(path, &ds) == 0 && ds.st_size == ss.st_size &&
	    ds.st_mtim.tv_sec == ss.st_mtim.tv_sec && ds.st_mtim.tv_nsec == ss.st_mtim.tv_nsec) {
		if (seg_in(b->copies, b->n_copies, s))
			b->out->copied++;
		else
			b->out->kept++;
		return 0;
	}
	if ((rc = copy_file(sdir, ddir, name, b->e)) < 0)
		return rc;
	if (rc == 1) {
		b->vanished = true;
		return 0;
	}
	{
		const struct timespec t[2] = { ss.st_mtim, ss.st_mtim };

		if (utimensat(AT_FDCWD, path, t, 0) < 0)
			return err_set(b->e, -errno, "cannot set the time of %s: %s", path,
				       strerror(errno));
	}
	s->is_new = true;
	b->out->copied++;
	return 0;
}

/* Removes from one tenant directory of dest what the snapshot does not hold. */
static int prune_tenant(struct backup *b, const char *tdir, uint64_t tenant, bool whole)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!(d = opendir(tdir)))
		return err_set(b->e, -errno, "cannot read %s: %s", tdir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		char path[PATH_LEN];
		uint32_t day, seq;
		bool seg = segment_name_parse(de->d_name, &day, &seq) == 0;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (seg && !whole && in_snapshot(b, tenant, day, seq))
			continue;
		if (!whole && !strcmp(de->d_name, HELD_NAME) && has_held(b, tenant))
			continue;
		if (!whole && has_damaged(b, tenant, de->d_name))
			continue;
		if ((rc = bpath(path, b->e, "%s/%s", tdir, de->d_name)) ||
		    (rc = remove_tree(path, 0, b->e)))
			break;
		b->out->removed += seg;
	}
	closedir(d);
	if (!rc && whole && rmdir(tdir) < 0)
		rc = err_set(b->e, -errno, "cannot remove %s: %s", tdir, strerror(errno));
	return rc || whole ? rc : sync_dir(tdir, b->e); /* a whole one: its parent, by the caller */
}

/* Removes the segments dest holds that the snapshot does not (merged, dropped, erased). */
static int prune_segments(struct backup *b)
{
	char dir[PATH_LEN], tdir[PATH_LEN];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if ((rc = tenants_open(b, b->dest, dir, &d)) || !d)
		return rc;
	while (!rc && (de = readdir(d))) {
		uint64_t t;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((rc = bpath(tdir, b->e, "%s/%s", dir, de->d_name)))
			break;
		if (!tenant_id(de->d_name, &t))
			rc = remove_tree(tdir, 0, b->e);
		else
			rc = prune_tenant(b, tdir, t, !tenant_in_snapshot(b, t) && !has_held(b, t) &&
							 !has_damaged(b, t, NULL));
	}
	closedir(d);
	return rc;
}

/* The held logs, each as whole as it was listed (into dest's tenants directory dir). */
static int backup_held(struct backup *b, const char *dir)
{
	for (size_t i = 0; i < b->n_held; i++) {
		char tdir[PATH_LEN];
		int rc;

		if ((rc = bpath(tdir, b->e, "%s/%llu", dir, (unsigned long long)b->held[i].tenant)) ||
		    (rc = fileio_make_dir(tdir, 0750, b->e)) ||
		    (rc = fileio_copy(b->held[i].fd, b->held[i].end, tdir, HELD_NAME, 0640, b->e)) ||
		    (rc = sync_dir(tdir, b->e)))
			return rc;
		b->out->held_logs++;
	}
	return 0;
}

/*
 * The held logs' damaged copies (into dest's tenants directory dir): a restore keeps what
 * verify names, to be looked at as in the data directory. One removed since it was listed
 * (dealt with) is not copied.
 */
static int backup_damaged(struct backup *b, const char *dir)
{
	for (size_t i = 0; i < b->n_damaged; i++) {
		char sdir[PATH_LEN], tdir[PATH_LEN];
		int rc;

		if ((rc = bpath(sdir, b->e, "%s/tenants/%llu", b->src,
				(unsigned long long)b->damaged[i].tenant)) ||
		    (rc = bpath(tdir, b->e, "%s/%llu", dir,
				(unsigned long long)b->damaged[i].tenant)) ||
		    (rc = fileio_make_dir(tdir, 0750, b->e)) ||
		    (rc = copy_file(sdir, tdir, b->damaged[i].name, b->e)) < 0)
			return rc;
		if (rc == 1)
			continue; /* removed since it was listed */
		if ((rc = sync_dir(tdir, b->e)))
			return rc;
		b->out->damaged_copies++;
	}
	return 0;
}

static int backup_segments(struct backup *b)
{
	char dir[PATH_LEN];
	int rc;

	if ((rc = bpath(dir, b->e, "%s/tenants", b->dest)) ||
	    (rc = fileio_make_dir(dir, 0750, b->e)))
		return rc;
	if (b->n_segs > 1)
		qsort(b->segs, b->n_segs, sizeof(*b->segs), cmp_bseg);
	for (size_t i = 0; i < b->n_segs; i++)
		if ((rc = copy_segment(b, &b->segs[i])))
			return rc;
	b->out->segments = b->out->copied + b->out->kept;
	/* the new segments' names last: each tenant directory once */
	for (size_t i = 0; i < b->n_segs; i++) {
		char tdir[PATH_LEN];

		if (!b->segs[i].is_new || (i + 1 < b->n_segs && b->segs[i + 1].is_new &&
					   b->segs[i + 1].tenant == b->segs[i].tenant))
			continue;
		if ((rc = bpath(tdir, b->e, "%s/%llu", dir, (unsigned long long)b->segs[i].tenant)) ||
		    (rc = sync_dir(tdir, b->e)))
			return rc;
	}
	b->out->damaged_copies = 0; /* this pass's */
	if ((rc = backup_held(b, dir)) || (rc = backup_damaged(b, dir)) ||
	    (rc = prune_segments(b)))
		return rc;
	return sync_dir(dir, b->e);
}

/* ---- the WAL and the state ---- */

static int backup_log(struct backup *b)
{
	char dir[PATH_LEN], src[PATH_LEN];
	int rc;

	if ((rc = bpath(dir, b->e, "%s/wal", b->dest)) || (rc = remove_tree(dir, 0, b->e)) ||
	    (rc = bpath(src, b->e, "%s/wal", b->src)))
		return rc;
	for (unsigned i = 0; i < wal_scan_shards(b->scan); i++)
		if ((rc = wal_scan_copy(b->scan, i, dir, &b->out->log_records, &b->out->log_files,
					b->e)))
			return rc;
	/* bytes a replay cut and kept (store verify names them): a restore keeps them too */
	if ((rc = wal_copy_kept(src, dir, &b->out->damaged_copies, b->e)))
		return rc;
	if (wal_scan_shards(b->scan) && (rc = sync_dir(dir, b->e))) /* its shard-NN */
		return rc;
	if (b->state_len)
		return fileio_replace(b->dest, "seal.state", b->state, b->state_len, 0640, 0, b->e);
	if ((rc = bpath(dir, b->e, "%s/seal.state", b->dest))) /* the sealer never committed */
		return rc;
	if (unlink(dir) < 0 && errno != ENOENT)
		return err_set(b->e, -errno, "cannot remove %s: %s", dir, strerror(errno));
	return 0;
}

/* ---- keys, koban.db, the other files ---- */

/* The wrapped data keys, master.id and signing.pub; never master.key nor signing.key. */
static bool key_backed_up(const char *dir, const char *name)
{
	return !is_temporary(name) && !is_secret_key(dir, name);
}

/*
 * Removes a key file from the backup as `koban tenant erase` removes one (overwritten first,
 * keys_file_overwrite()): an erased tenant's wrapped key leaves DIR too.
 */
static int key_destroy(const char *path, struct err *e)
{
	struct stat sb;
	int rc;

	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (rc = keys_file_overwrite(path, e)) < 0 && rc != -ENOENT)
		return rc;
	return remove_tree(path, 0, e);
}

static int backup_keys(struct backup *b)
{
	char sdir[PATH_LEN], ddir[PATH_LEN];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if ((rc = bpath(sdir, b->e, "%s/keys", b->src)) ||
	    (rc = bpath(ddir, b->e, "%s/keys", b->dest)) ||
	    (rc = fileio_make_dir(ddir, 0700, b->e)))
		return rc;
	if ((d = opendir(sdir))) {
		while (!rc && (de = readdir(d))) {
			char path[PATH_LEN];
			struct stat sb;

			if (!key_backed_up(sdir, de->d_name) ||
			    (rc = bpath(path, b->e, "%s/%s", sdir, de->d_name)))
				continue;
			if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
				rc = MIN(copy_file(sdir, ddir, de->d_name, b->e), 0);
		}
		closedir(d);
	} else if (errno != ENOENT) {
		return err_set(b->e, -errno, "cannot read %s: %s", sdir, strerror(errno));
	}
	if (rc || !(d = opendir(ddir)))
		return rc ? rc : err_set(b->e, -errno, "cannot read %s: %s", ddir, strerror(errno));
	while (!rc && (de = readdir(d))) { /* an erased tenant's key goes from the backup too */
		char path[PATH_LEN];
		struct stat sb;

		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if ((rc = bpath(path, b->e, "%s/%s", sdir, de->d_name)))
			break;
		if (key_backed_up(sdir, de->d_name) && stat(path, &sb) == 0)
			continue;
		if (!(rc = bpath(path, b->e, "%s/%s", ddir, de->d_name)))
			rc = key_destroy(path, b->e);
	}
	closedir(d);
	return rc ? rc : sync_dir(ddir, b->e);
}

/* koban.db through SQLite's online backup: consistent while the daemon writes to it. */
static int backup_db(struct backup *b)
{
	char src[PATH_LEN], tmp[PATH_LEN], dst_path[PATH_LEN];
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *bk;
	struct stat sb, db;
	int rc, sr = SQLITE_OK, fd;

	if ((rc = bpath(src, b->e, "%s/koban.db", b->src)) ||
	    (rc = bpath(tmp, b->e, "%s/koban.db.tmp", b->dest)) ||
	    (rc = bpath(dst_path, b->e, "%s/koban.db", b->dest)))
		return rc;
	if (stat(src, &db) < 0) {
		if (errno != ENOENT)
			return err_set(b->e, -errno, "cannot stat %s: %s", src, strerror(errno));
		return remove_tree(dst_path, 0, b->e); /* none: nor in the backup */
	}
	if (unlink(tmp) < 0 && errno != ENOENT)
		return err_set(b->e, -errno, "cannot remove %s: %s", tmp, strerror(errno));
	/* read-write as koban itself opens it: a read-only handle leaves -wal and -shm behind */
	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		    SQLITE_OK) {
		rc = err_set(b->e, -EIO, "cannot open %s or %s: %s", src, tmp,
			     sqlite3_errmsg(from && to ? to : from ? from : NULL));
		goto fail;
	}
	sqlite3_busy_timeout(from, 5000);
	if (!(bk = sqlite3_backup_init(to, "main", from, "main"))) {
		rc = err_set(b->e, -EIO, "%s: cannot start the backup: %s", tmp, sqlite3_errmsg(to));
		goto fail;
	}
	for (unsigned tries = 0; tries < DB_BUSY_TRIES; tries++) {
		sr = sqlite3_backup_step(bk, -1);
		if (sr != SQLITE_BUSY && sr != SQLITE_LOCKED)
			break;
		sqlite3_sleep(50);
	}
	sqlite3_backup_finish(bk);
	if (sr != SQLITE_DONE) {
		rc = err_set(b->e, -EIO, "%s: backup of %s failed: %s", tmp, src, sqlite3_errstr(sr));
		goto fail;
	}
	sqlite3_close(to);
	to = NULL;
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0 || fdatasync(fd) < 0 || fstat(fd, &sb) < 0 ||
	    fchmod(fd, db.st_mode & 0777) < 0) {
		rc = err_set(b->e, -errno, "cannot sync %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	if (rename(tmp, dst_path) < 0) {
		rc = err_set(b->e, -errno, "cannot rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	b->out->db_bytes = (uint64_t)sb.st_size;
	sqlite3_close(from);
	return 0;
fail:
	sqlite3_close(to);
	sqlite3_close(from);
	unlink(tmp);
	return rc;
}

/*
 * Copies every regular file under src_dir into dest_dir (directories alike), then removes
 * from dest_dir what src_dir no longer has; top: the data directory's own level, where the
 * managed names are left alone.
 */
static int backup_tree(struct backup *b, const char *src_dir, const char *dest_dir, unsigned depth)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > TREE_DEPTH)
		return 0;
	if (!(d = opendir(src_dir)))
		return err_set(b->e, -errno, "cannot read %s: %s", src_dir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		char s[PATH_LEN], t[PATH_LEN];
		struct stat sb;

		if (is_temporary(de->d_name) || (!depth && is_managed(de->d_name)) ||
		    is_secret_key(src_dir, de->d_name))
			continue;
		if ((rc = bpath(s, b->e, "%s/%s", src_dir, de->d_name)) ||
		    (rc = bpath(t, b->e, "%s/%s", dest_dir, de->d_name)))
			break;
		if (lstat(s, &sb) < 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(sb.st_mode)) {
			if (!(rc = fileio_make_dir(t, sb.st_mode & 0777, b->e)))
				rc = backup_tree(b, s, t, depth + 1);
		} else if (S_ISREG(sb.st_mode) &&
			   (rc = copy_file(src_dir, dest_dir, de->d_name, b->e)) == 0) {
			b->out->other_files++;
		}
		rc = MIN(rc, 0);
	}
	closedir(d);
	if (rc || !(d = opendir(dest_dir)))
		return rc ? rc : err_set(b->e, -errno, "cannot read %s: %s", dest_dir,
					 strerror(errno));
	while (!rc && (de = readdir(d))) {
		char s[PATH_LEN], t[PATH_LEN];
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (!depth && is_managed(de->d_name)))
			continue;
		if ((rc = bpath(s, b->e, "%s/%s", src_dir, de->d_name)) ||
		    (rc = bpath(t, b->e, "%s/%s", dest_dir, de->d_name)))
			break;
		if (is_temporary(de->d_name) || lstat(s, &sb) < 0 || is_secret_key(src_dir, de->d_name))
			rc = remove_tree(t, 0, b->e);
	}
	closedir(d);
	return rc ? rc : sync_dir(dest_dir, b->e);
}

/* Adds the segments this pass copied to the run's (the next pass finds them in dest). */
static int note_copies(struct backup *b)
{
	size_t n = b->n_copies;
	struct bseg *c;

	for (size_t i = 0; i < b->n_segs; i++)
		n += b->segs[i].is_new;
	if (n == b->n_copies)
		return 0;
	if (!(c = mem_realloc(b->copies, n * sizeof(*c))))
		return err_set(b->e, -ENOMEM, "out of memory");
	b->copies = c;
	for (size_t i = 0; i < b->n_segs; i++)
		if (b->segs[i].is_new)
			c[b->n_copies++] = b->segs[i];
	qsort(c, n, sizeof(*c), cmp_bseg);
	return 0;
}

/*
 * The snapshot's segments into dest. A segment can go between the listing and its copy: a
 * merge committed meanwhile replaced it and the grace after which it is deleted ran out (a long
 * copy), or retention or an erasure removed it. Its events may then be in a merged segment the
 * listing did not see, so the listing is taken again (what was copied is kept) until a pass
 * finds every segment it listed.
 */
static int store_copy(struct backup *b)
{
	int rc;

	for (unsigned pass = 0; pass < COPY_TRIES; pass++) {
		b->vanished = false;
		b->out->copied = b->out->kept = 0;
		if ((rc = snapshot_take(b)) || (rc = backup_segments(b)))
			return rc;
		if (!b->vanished)
			return 0;
		if ((rc = note_copies(b)))
			return rc;
		wal_scan_close(b->scan);
		b->scan = NULL;
	}
	return err_set(b->e, -EAGAIN, "segments went (merged away, dropped or erased) while "
		       "the backup copied them, %u times in a row: run it again", COPY_TRIES);
}

static int write_info(struct backup *b, int64_t now)
{
	char text[1024], when[TIME_RFC3339_LEN];
	int n;

	time_format_rfc3339(now, when);
	n = snprintf(text, sizeof(text), "koban backup\nversion: 1\ntaken: %s\ndata-dir: %s\n"
		     "generation: %llu\nsegments: %llu\nlog-records: %llu\n", when, b->src,
		     (unsigned long long)b->out->generation, (unsigned long long)b->out->segments,
		     (unsigned long long)b->out->log_records);
	if (n < 0 || (size_t)n >= sizeof(text))
		return err_set(b->e, -ENAMETOOLONG, "%s: path too long", b->src);
	return fileio_replace(b->dest, "backup.info", text, (size_t)n, 0640, 0, b->e);
}

int store_backup(const char *data_dir, const char *dest, int64_t now,
		 struct store_backup_stats *out, struct err *e)
{
	static const char partial[] = "koban backup being written: not complete\n";
	struct backup b = { .src = data_dir, .dest = dest, .out = out, .e = e };
	char path[PATH_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = dest_check(&b, e)) ||
	    (rc = fileio_replace(dest, "backup.partial", partial, sizeof(partial) - 1, 0640, 0,
				 e)) ||
	    (rc = bpath(path, e, "%s/backup.info", dest)))
		goto fail;
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
		goto fail;
	}
	/* the store first, then what names its tenants and keys (made before their data) */
	if ((rc = store_copy(&b)) || (rc = backup_log(&b)) || (rc = backup_keys(&b)) || (rc = backup_db(&b)) ||
	    (rc = backup_tree(&b, data_dir, dest, 0)) || (rc = write_info(&b, now)) ||
	    (rc = bpath(path, e, "%s/backup.partial", dest)))
		goto fail;
	if (unlink(path) < 0) {
		rc = err_set(e, -errno, "cannot remove %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = sync_dir(dest, e);
fail:
	wal_scan_close(b.scan);
	held_release(&b);
	damaged_release(&b);
	mem_free(b.segs);
	mem_free(b.copies);
	return rc;
}
