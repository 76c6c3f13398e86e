#include "store/spool.h"
#include "core/compat.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "spool"
#include "core/buf.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/mem.h"
#include "core/metrics.h"

#define TAIL_CHUNK 65536 /* bytes read at a time when looking for the last newline */

/* One tenant's file. fd, tenant and path are under lock; the counters are atomics. */
struct spool_file {
	pthread_mutex_t lock;
	int fd;                          /* -1: opened at the next write */
	char tenant[SPOOL_TENANT_MAX];   /* the name the file was opened for */
	atomic_bool failing;             /* the last write attempt failed */
	atomic_uint_fast64_t errors[SPOOL_REASON_COUNT];
};

static const char *const reason_names[] = {
	[SPOOL_ERR_OPEN] = "open",
	[SPOOL_ERR_WRITE] = "write",
	[SPOOL_ERR_NO_SPACE] = "no_space",
	[SPOOL_ERR_TOO_LARGE] = "too_large",
};
_Static_assert(ARRAY_SIZE(reason_names) == SPOOL_REASON_COUNT, "a reason has no label");

/* ---- metrics ---- */

static struct spool_file *file_at(struct spool *s, unsigned slot)
{
	return atomic_load_explicit(&s->files[slot], memory_order_acquire);
}

/* Copies f's tenant name under its lock (a slot may be reused by another tenant). */
static void file_name(struct spool_file *f, char out[SPOOL_TENANT_MAX])
{
	pthread_mutex_lock(&f->lock);
	memcpy(out, f->tenant, SPOOL_TENANT_MAX);
	pthread_mutex_unlock(&f->lock);
}

/*
 * The file of slot when its tenant is still there: a removed tenant leaves /metrics at once,
 * and a slot given to another tenant shows nothing until that tenant's first write.
 */
static struct spool_file *live_file(struct spool *s, unsigned slot, char name[SPOOL_TENANT_MAX])
{
	struct spool_file *f = file_at(s, slot);

	if (!f || slot >= fairq_slot_count(s->q) || !fairq_slot_in_use(s->q, slot))
		return NULL;
	file_name(f, name);
	if (!name[0] || strcmp(name, fairq_slot_name(s->q, slot)))
		return NULL;
	return f;
}

static int collect_errors(struct metrics_out *o, void *ctx)
{
	struct spool *s = ctx;
	char name[SPOOL_TENANT_MAX];
	int rc = 0;

	for (unsigned slot = 0; slot < FAIRQ_MAX_TENANTS && !rc; slot++) {
		struct spool_file *f = live_file(s, slot, name);

		for (int r = 0; f && r < SPOOL_REASON_COUNT && !rc; r++)
			rc = metrics_sample(o, atomic_load_explicit(&f->errors[r],
								    memory_order_relaxed),
					    "tenant", name, "reason", reason_names[r], NULL);
	}
	return rc;
}

static int collect_blocked(struct metrics_out *o, void *ctx)
{
	struct spool *s = ctx;
	char name[SPOOL_TENANT_MAX];
	int rc = 0;

	for (unsigned slot = 0; slot < FAIRQ_MAX_TENANTS && !rc; slot++) {
		struct spool_file *f = live_file(s, slot, name);

		if (f)
			rc = metrics_sample(o, atomic_load_explicit(&f->failing,
								    memory_order_relaxed),
					    "tenant", name, NULL);
	}
	return rc;
}

/* ---- life cycle ---- */

int spool_init(struct spool *s, const char *data_dir, struct fairq *q, struct err *e)
{
	struct buf path = BUF_INIT(4096);
	pthread_condattr_t ca;
	int rc;

	memset(s, 0, sizeof(*s));
	s->q = q;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	s->files = mem_calloc(FAIRQ_MAX_TENANTS, sizeof(*s->files));
	s->log = mem_calloc(SPOOL_REASON_COUNT + 1, sizeof(*s->log)); /* + give-ups */
	for (int i = 0; s->log && i <= SPOOL_REASON_COUNT; i++)
		log_limit_init(&s->log[i], SPOOL_LOG_INTERVAL_S);
	if (!s->files || !s->log) {
		rc = err_set(e, -ENOMEM, "spool: out of memory");
		goto fail;
	}
	if ((rc = buf_addf(&path, "%s/spool", data_dir))) {
		rc = rc == -ENOSPC ? err_set(e, -ENAMETOOLONG, "data_dir '%s' is too long", data_dir)
				   : err_set(e, rc, "spool: out of memory");
		goto fail;
	}
	if (mkdir(path.p, 0750) && errno != EEXIST) {
		rc = err_set(e, -errno, "cannot create %s: %s", path.p, strerror(errno));
		goto fail;
	}
	s->dir = path.p;
	path = (struct buf)BUF_INIT(0);
	if ((rc = metrics_register("koban_output_errors_total", METRICS_COUNTER,
				   "Failed spool writes of the tenant by reason (open, write, "
				   "no_space: attempts; too_large: events not written).",
				   collect_errors, s)) ||
	    (rc = metrics_register("koban_output_blocked", METRICS_GAUGE,
				   "1 while the tenant's spool writes fail and its events are "
				   "held (back-pressure), else 0.", collect_blocked, s))) {
		err_set(e, rc, "spool: cannot register its metrics: %s", strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	buf_release(&path);
	spool_release(s);
	return rc;
}

void spool_release(struct spool *s)
{
	metrics_unregister(s); /* also a family registered before init failed */
	if (atomic_load(&s->given_up))
		log_error("%llu events held by a failing spool were dropped at stop (counted as "
			  "dropped, reason output_error)", (unsigned long long)atomic_load(&s->given_up));
	for (unsigned slot = 0; s->files && slot < FAIRQ_MAX_TENANTS; slot++) {
		struct spool_file *f = file_at(s, slot);

		if (!f)
			continue;
		if (f->fd >= 0 && close(f->fd) < 0)
			log_error("closing the spool of %s: %s", f->tenant, strerror(errno));
		pthread_mutex_destroy(&f->lock);
		mem_free(f);
	}
	mem_free(s->files);
	s->files = NULL;
	mem_free(s->log);
	s->log = NULL;
	mem_free(s->dir);
	s->dir = NULL;
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
}

/* ---- counting and logging ---- */

static void count(struct spool *s, struct spool_file *f, enum spool_reason r, const char *tenant,
		  const char *what, int err)
{
	uint64_t held = 0;

	if (f)
		atomic_fetch_add_explicit(&f->errors[r], 1, memory_order_relaxed);
	if (!log_limit_allow(&s->log[r], &held))
		return;
	if (held)
		log_error("tenant %s: %s: %s (%llu more %s errors in the last %d s not logged)",
			  tenant, what, strerror(err), (unsigned long long)held, reason_names[r],
			  SPOOL_LOG_INTERVAL_S);
	else
		log_error("tenant %s: %s: %s", tenant, what, strerror(err));
}

/* A tenant name that is a plain file name (names are validated on load; this is the floor). */
static bool name_ok(const char *tenant)
{
	size_t n = strlen(tenant);

	return n && n < SPOOL_TENANT_MAX && tenant[0] != '.' && !strchr(tenant, '/');
}

/* The state of slot, made on first use; NULL when out of memory. */
static struct spool_file *file_get(struct spool *s, unsigned slot)
{
	struct spool_file *f = file_at(s, slot);

	if (f)
		return f;
	pthread_mutex_lock(&s->lock);
	f = atomic_load_explicit(&s->files[slot], memory_order_relaxed);
	if (!f) {
		f = mem_calloc(1, sizeof(*f));
		if (f) {
			pthread_mutex_init(&f->lock, NULL);
			f->fd = -1;
			atomic_store_explicit(&s->files[slot], f, memory_order_release);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* ---- files ---- */

static void file_close(struct spool_file *f)
{
	if (f->fd >= 0 && close(f->fd) < 0)
		log_warn("closing the spool of %s: %s", f->tenant, strerror(errno));
	f->fd = -1;
}

/*
 * Names f after tenant at its first use, or when its slot now belongs to another tenant
 * (the old tenant's file is closed and its counts start again); under f->lock.
 */
static void file_claim(struct spool_file *f, const char *tenant)
{
	if (!strcmp(f->tenant, tenant))
		return;
	file_close(f);
	for (int i = 0; i < SPOOL_REASON_COUNT; i++)
		atomic_store_explicit(&f->errors[i], 0, memory_order_relaxed);
	atomic_store_explicit(&f->failing, false, memory_order_relaxed);
	memcpy(f->tenant, tenant, strlen(tenant) + 1);
}

/*
 * Cuts fd's file back to just after its last newline (or to empty); under f->lock. Returns 0
 * or a negative errno.
 */
static int cut_torn_tail(int fd, const char *path)
{
	char chunk[TAIL_CHUNK];
	struct stat st;
	off_t end, keep = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	end = st.st_size;
	while (end > 0) {
		size_t n = (size_t)MIN((off_t)sizeof(chunk), end);
		ssize_t got = pread(fd, chunk, n, end - (off_t)n);
		const char *nl;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if ((size_t)got != n)
			return -EIO; /* the file shrank under us */
		nl = memrchr(chunk, '\n', n);
		if (nl) {
			keep = end - (off_t)n + (nl - chunk) + 1;
			break;
		}
		end -= (off_t)n;
	}
	if (keep == st.st_size)
		return 0;
	if (ftruncate(fd, keep) < 0)
		return -errno;
	log_warn("cut %lld bytes of a torn last line from %s", (long long)(st.st_size - keep),
		 path);
	return 0;
}

/* Opens tenant's file into f->fd, cutting a torn tail; under f->lock. */
static int file_open(struct spool *s, struct spool_file *f, const char *tenant)
{
	struct buf path = BUF_INIT(4096);
	int fd, rc;

	if ((rc = buf_addf(&path, "%s/%s.ndjson", s->dir, tenant))) {
		buf_release(&path);
		return rc == -ENOSPC ? -ENAMETOOLONG : rc;
	}
	fd = open(path.p, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = cut_torn_tail(fd, path.p)))
		goto fail;
	f->fd = fd;
	buf_release(&path);
	return 0;
fail:
	if (fd >= 0 && close(fd) < 0)
		log_warn("closing %s: %s", path.p, strerror(errno));
	buf_release(&path);
	return rc;
}

/*
 * Appends lines to f->fd; under f->lock. On failure, the whole lines that reached the file
 * are removed from lines and a partial one is cut from the file; returns the errno.
 */
static int write_lines(struct spool_file *f, struct buf *lines)
{
	size_t off = 0, whole;
	const char *nl;
	off_t end;
	int err;

	while (off < lines->len) {
		ssize_t n = write(f->fd, lines->p + off, lines->len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		err = n < 0 ? errno : EIO;
		goto short_write;
	}
	buf_reset(lines);
	return 0;
short_write:
	nl = off ? memrchr(lines->p, '\n', off) : NULL;
	whole = nl ? (size_t)(nl - lines->p) + 1 : 0;
	if (off > whole) {
		/* O_APPEND leaves the offset at the end of what this write added. */
		end = lseek(f->fd, 0, SEEK_CUR);
		if (end < (off_t)(off - whole) || ftruncate(f->fd, end - (off_t)(off - whole)) < 0) {
			log_error("cannot cut a partial line from the spool of %s: %s", f->tenant,
				  strerror(errno));
			file_close(f); /* reopening cuts the torn tail */
		}
	}
	buf_consume(lines, whole);
	return err;
}

int spool_write(struct spool *s, unsigned slot, const char *tenant, struct buf *lines)
{
	struct spool_file *f;
	enum spool_reason r;
	int rc;

	if (!lines->len)
		return 0;
	if (lines->p[lines->len - 1] != '\n' || !name_ok(tenant) || slot >= FAIRQ_MAX_TENANTS)
		return -EINVAL;
	f = file_get(s, slot);
	if (!f) {
		count(s, NULL, SPOOL_ERR_OPEN, tenant, "no memory for its spool state", ENOMEM);
		return -ENOMEM;
	}
	pthread_mutex_lock(&f->lock);
	file_claim(f, tenant);
	if (f->fd < 0 && (rc = file_open(s, f, tenant)) < 0) {
		r = SPOOL_ERR_OPEN;
		goto fail;
	}
	if ((rc = -write_lines(f, lines)) < 0) {
		r = rc == -ENOSPC || rc == -EDQUOT ? SPOOL_ERR_NO_SPACE : SPOOL_ERR_WRITE;
		/* a descriptor gone bad (EIO, EBADF...) may be cured by opening the file again */
		if (r == SPOOL_ERR_WRITE)
			file_close(f);
		goto fail;
	}
	atomic_store_explicit(&f->failing, false, memory_order_relaxed);
	fairq_set_output_blocked(s->q, slot, false);
	pthread_mutex_unlock(&f->lock);
	return 0;
fail:
	atomic_store_explicit(&f->failing, true, memory_order_relaxed);
	fairq_set_output_blocked(s->q, slot, true);
	pthread_mutex_unlock(&f->lock);
	count(s, f, r, tenant, r == SPOOL_ERR_OPEN ? "cannot open its spool file"
						   : "spool write failed", -rc);
	return rc;
}

static size_t count_lines(const struct buf *b)
{
	size_t n = 0;

	for (const char *p = b->p, *end = b->p + b->len; (p = memchr(p, '\n', (size_t)(end - p)));
	     p++)
		n++;
	return n;
}

/* Sleeps up to ms, or until spool_reopen/spool_stop wakes the waiters. */
static void backoff(struct spool *s, unsigned ms)
{
	int64_t t = time_mono_ns() + (int64_t)ms * 1000000;
	struct timespec until = { t / 1000000000, t % 1000000000 };
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = pthread_cond_timedwait(&s->wake, &s->lock, &until);
	pthread_mutex_unlock(&s->lock);
	if (rc && rc != ETIMEDOUT) /* cannot happen with a valid deadline */
		log_debug("back-off wait: %s", strerror(rc));
}

int spool_deliver(struct spool *s, unsigned slot, const char *tenant, struct buf *lines)
{
	unsigned delay = SPOOL_RETRY_MIN_MS;
	uint64_t attempts = 0;
	int rc;

	while ((rc = spool_write(s, slot, tenant, lines)) < 0) {
		int64_t give_up = atomic_load_explicit(&s->give_up_ns, memory_order_relaxed);
		size_t n;

		attempts++;
		if (rc == -EINVAL || (give_up && time_mono_ns() >= give_up)) {
			struct tenant_stats *st = fairq_stats(s->q, slot);

			uint64_t held = 0;

			n = count_lines(lines);
			if (st)
				atomic_fetch_add_explicit(&st->output_dropped[DROP_OUTPUT_ERROR], n,
							  memory_order_relaxed);
			atomic_fetch_add_explicit(&s->given_up, n, memory_order_relaxed);
			if (log_limit_allow(&s->log[SPOOL_REASON_COUNT], &held))
				log_error("tenant %s: %zu events not written to the spool, given up: "
					  "%s (%llu more batches not logged)", tenant, n,
					  strerror(-rc), (unsigned long long)held);
			buf_reset(lines);
			return rc;
		}
		backoff(s, delay);
		delay = MIN(delay * 2, SPOOL_RETRY_MAX_MS);
	}
	if (attempts)
		log_info("tenant %s: spool writes resumed after %llu failed attempts", tenant,
			 (unsigned long long)attempts);
	return 0;
}

void spool_count_too_large(struct spool *s, unsigned slot, const char *tenant, size_t bytes)
{
	struct spool_file *f = NULL;
	char what[96];

	if (slot < FAIRQ_MAX_TENANTS && name_ok(tenant) && (f = file_get(s, slot))) {
		pthread_mutex_lock(&f->lock);
		file_claim(f, tenant);
		pthread_mutex_unlock(&f->lock);
	}
	snprintf(what, sizeof(what), "event of %zu bytes too large for its batch, not written",
		 bytes);
	count(s, f, SPOOL_ERR_TOO_LARGE, tenant, what, EMSGSIZE);
}

void spool_reopen(struct spool *s)
{
	unsigned closed = 0;

	for (unsigned slot = 0; slot < FAIRQ_MAX_TENANTS; slot++) {
		struct spool_file *f = file_at(s, slot);

		if (!f)
			continue;
		pthread_mutex_lock(&f->lock);
		if (f->fd >= 0)
			closed++;
		file_close(f);
		pthread_mutex_unlock(&f->lock);
	}
	/* a retrying worker tries the new file at once */
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	log_info("closed %u spool files; each is opened again at its next write", closed);
}

void spool_stop(struct spool *s, unsigned grace_ms)
{
	atomic_store_explicit(&s->give_up_ns, time_mono_ns() + (int64_t)grace_ms * 1000000,
			      memory_order_relaxed);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

uint64_t spool_errors(struct spool *s, unsigned slot, enum spool_reason reason)
{
	struct spool_file *f = slot < FAIRQ_MAX_TENANTS ? file_at(s, slot) : NULL;

	return f && reason < SPOOL_REASON_COUNT
		       ? atomic_load_explicit(&f->errors[reason], memory_order_relaxed) : 0;
}
