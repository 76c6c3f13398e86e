/*
 * tz.c - TZif reader (RFC 8536) with a process-wide cache of loaded zones.
 *
 * A zone is its transition table (the 64-bit v2+ block when present) plus the footer
 * POSIX TZ rule that extends it past the last transition. Loaded zones are never freed,
 * so tz_get() callers may keep the pointer for the life of the process.
 */
#include "core/tz.h"
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/name.h"
#include "core/timeutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define LOG_MODULE "tz"
#include "core/log.h"

#define TZ_DIR "/usr/share/zoneinfo/"
#define TZ_NAME_MAX 128
#define TZ_FILE_MAX (1u << 20) /* real TZif files are a few KiB */
#define TZ_CACHE_MAX 256
#define TZ_MAX_TIMES 4096
#define TZ_MAX_TYPES 256

/* When a DST switch happens, in the form "Mm.w.d/t", "Jn/t" or "n/t". */
struct tz_date {
	char kind;  /* 'M', 'J' (1..365, no Feb 29) or 'n' (0..365) */
	int month;  /* M: 1..12 */
	int week;   /* M: 1..5, 5 = last */
	int wday;   /* M: 0 = Sunday */
	int yday;   /* J, n */
	int32_t secs; /* local time of day of the switch, may be < 0 or > 24 h */
};

struct tz_rule {
	bool valid;
	bool has_dst;
	int32_t std_off; /* seconds east of UTC */
	int32_t dst_off;
	struct tz_date start, end;
};

struct tz {
	char name[TZ_NAME_MAX];
	uint32_t n_times;
	int64_t *times;    /* transition instants, seconds, ascending */
	uint8_t *idx;      /* type index in effect from times[i] */
	uint32_t n_types;
	int32_t *offs;     /* UTC offset of each type */
	struct tz_rule rule; /* after the last transition (or always without one) */
};

static struct tz builtin_utc[] = {
	{ .name = "UTC", .rule = { .valid = true } },
	{ .name = "Etc/UTC", .rule = { .valid = true } },
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *cache[TZ_CACHE_MAX];
static unsigned cache_n;

/* ---- POSIX TZ strings (the TZif footer) ---- */

struct cursor {
	const char *p, *end;
};

static bool cur_eat(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool cur_num(struct cursor *c, int max, int *out)
{
	int v = 0, n = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < 4) {
		v = v * 10 + (*c->p++ - '0');
		n++;
	}
	if (!n || v > max)
		return false;
	*out = v;
	return true;
}

/* Zone abbreviation: 3+ letters, or <...> with letters, digits, '+' and '-'. */
static bool rule_abbr(struct cursor *c)
{
	const char *start = c->p;

	if (cur_eat(c, '<')) {
		while (c->p < c->end && *c->p != '>')
			c->p++;
		return cur_eat(c, '>') && c->p - start >= 5;
	}
	while (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z')))
		c->p++;
	return c->p - start >= 3;
}

/* [+-]hh[:mm[:ss]] as seconds; hours up to 167 for the v3 extension of switch times. */
static bool rule_hms(struct cursor *c, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;

	if (cur_eat(c, '-'))
		sign = -1;
	else
		cur_eat(c, '+');
	if (!cur_num(c, 167, &h))
		return false;
	if (cur_eat(c, ':') && (!cur_num(c, 59, &m) || (cur_eat(c, ':') && !cur_num(c, 59, &s))))
		return false;
	*out = sign * (h * 3600 + m * 60 + s);
	return true;
}

static bool rule_date(struct cursor *c, struct tz_date *d)
{
	d->secs = 2 * 3600;
	if (cur_eat(c, 'M')) {
		d->kind = 'M';
		if (!cur_num(c, 12, &d->month) || d->month < 1 || !cur_eat(c, '.') ||
		    !cur_num(c, 5, &d->week) || d->week < 1 || !cur_eat(c, '.') ||
		    !cur_num(c, 6, &d->wday))
			return false;
	} else if (cur_eat(c, 'J')) {
		d->kind = 'J';
		if (!cur_num(c, 365, &d->yday) || d->yday < 1)
			return false;
	} else {
		d->kind = 'n';
		if (!cur_num(c, 365, &d->yday))
			return false;
	}
	return !cur_eat(c, '/') || rule_hms(c, &d->secs);
}

/* "STDoff[DST[off][,start[/time],end[/time]]]"; offsets in POSIX are west-positive. */
static bool rule_parse(const char *s, size_t len, struct tz_rule *r)
{
	struct cursor c = { s, s + len };
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (!rule_abbr(&c) || !rule_hms(&c, &off))
		return false;
	r->std_off = -off;
	r->dst_off = r->std_off + 3600;
	if (c.p < c.end) {
		if (!rule_abbr(&c))
			return false;
		r->has_dst = true;
		if (c.p < c.end && *c.p != ',') {
			if (!rule_hms(&c, &off))
				return false;
			r->dst_off = -off;
		}
		/* without a rule, POSIX implies the US rules */
		r->start = (struct tz_date){ 'M', 3, 2, 0, 0, 7200 };
		r->end = (struct tz_date){ 'M', 11, 1, 0, 0, 7200 };
		if (cur_eat(&c, ',') &&
		    (!rule_date(&c, &r->start) || !cur_eat(&c, ',') || !rule_date(&c, &r->end)))
			return false;
	}
	r->valid = c.p == c.end;
	return r->valid;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since the epoch of a switch date in year. */
static int64_t date_day(const struct tz_date *d, int year)
{
	int64_t day;
	int wd;

	if (d->kind == 'J')
		return time_days_from_civil(year, 1, 1) + d->yday - 1 +
		       (is_leap(year) && d->yday >= 60);
	if (d->kind == 'n')
		return time_days_from_civil(year, 1, 1) + d->yday;
	day = time_days_from_civil(year, d->month, 1);
	wd = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
	day += (d->wday - wd + 7) % 7 + (int64_t)(d->week - 1) * 7;
	while (d->week == 5 && day >= time_days_from_civil(year, d->month, 1) +
					       time_days_in_month(year, d->month))
		day -= 7;
	return day;
}

static int32_t rule_offset_at(const struct tz_rule *r, int64_t t)
{
	int64_t start, end;
	struct civil_time c;

	if (!r->has_dst)
		return r->std_off;
	time_to_civil_utc((t + r->std_off) * NS_PER_SEC, &c);
	/* the start switch happens on standard time, the end switch on daylight time */
	start = date_day(&r->start, c.year) * 86400 + r->start.secs - r->std_off;
	end = date_day(&r->end, c.year) * 86400 + r->end.secs - r->dst_off;
	if (start < end)
		return t >= start && t < end ? r->dst_off : r->std_off;
	return t >= end && t < start ? r->std_off : r->dst_off; /* southern hemisphere */
}

/* ---- TZif files ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

/* Size of a data block with time_size-byte times, or 0 when the header is bad. */
static size_t tzif_header(const unsigned char *p, size_t len, size_t time_size,
			  struct tzif_counts *k)
{
	if (len < 44 || memcmp(p, "TZif", 4))
		return 0;
	k->isut = be32(p + 20);
	k->isstd = be32(p + 24);
	k->leap = be32(p + 28);
	k->time = be32(p + 32);
	k->type = be32(p + 36);
	k->chars = be32(p + 40);
	if (k->time > TZ_MAX_TIMES || k->type == 0 || k->type > TZ_MAX_TYPES ||
	    k->leap > TZ_MAX_TIMES || k->chars > 4096 || k->isut > k->type || k->isstd > k->type)
		return 0;
	return (size_t)k->time * (time_size + 1) + (size_t)k->type * 6 + k->chars +
	       (size_t)k->leap * (time_size + 4) + k->isstd + k->isut;
}

/* Builds the zone from the data block at p (already bounds-checked). */
static struct tz *tzif_build(const char *name, size_t name_len, const unsigned char *p,
			     const struct tzif_counts *k, size_t time_size)
{
	size_t size = sizeof(struct tz) + k->time * (sizeof(int64_t) + 1) +
		      k->type * sizeof(int32_t);
	struct tz *z = mem_calloc(1, size);
	const unsigned char *types;

	if (!z)
		return NULL;
	memcpy(z->name, name, name_len);
	z->times = (int64_t *)(z + 1);
	z->offs = (int32_t *)(z->times + k->time);
	z->idx = (uint8_t *)(z->offs + k->type);
	z->n_times = k->time;
	z->n_types = k->type;
	for (uint32_t i = 0; i < k->time; i++)
		z->times[i] = time_size == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
	p += k->time * time_size;
	for (uint32_t i = 0; i < k->time; i++)
		z->idx[i] = p[i] < k->type ? p[i] : 0;
	types = p + k->time;
	for (uint32_t i = 0; i < k->type; i++)
		z->offs[i] = (int32_t)be32(types + i * 6);
	return z;
}

static int tzif_parse(const char *name, size_t name_len, const unsigned char *p, size_t len,
		      struct tz **out, struct err *e)
{
	struct tzif_counts k;
	size_t body = tzif_header(p, len, 4, &k), time_size = 4;
	const unsigned char *data = p + 44, *end = p + len;
	struct tz *z;

	if (!body || body > len - 44)
		return err_set(e, -EINVAL, "time zone %s: not a valid TZif file", name);
	if (p[4] >= '2') {
		const unsigned char *h2 = data + body;

		body = tzif_header(h2, (size_t)(end - h2), 8, &k);
		if (!body || body > (size_t)(end - h2) - 44)
			return err_set(e, -EINVAL, "time zone %s: bad TZif v2 header", name);
		data = h2 + 44;
		time_size = 8;
	}
	z = tzif_build(name, name_len, data, &k, time_size);
	if (!z)
		return err_set(e, -ENOMEM, "time zone %s: out of memory", name);
	if (time_size == 8 && data + body < end && data[body] == '\n') {
		const unsigned char *s = data + body + 1, *nl = memchr(s, '\n', (size_t)(end - s));

		if (nl)
			rule_parse((const char *)s, (size_t)(nl - s), &z->rule);
	}
	*out = z;
	return 0;
}

/* The one zone name check (core/name), so a name accepted by the config loads here. */
static bool name_ok(const char *name, size_t len)
{
	return name_zone_valid(name, len) && len < TZ_NAME_MAX;
}

static int tz_load(const char *name, size_t len, struct tz **out, struct err *e)
{
	char path[sizeof(TZ_DIR) + TZ_NAME_MAX];
	unsigned char *data = NULL;
	size_t have = 0;
	int fd, rc;

	snprintf(path, sizeof(path), TZ_DIR "%.*s", (int)len, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -ENOENT, "unknown time zone '%s' (no %s)", path + sizeof(TZ_DIR) - 1,
			       path);
	data = mem_alloc(TZ_FILE_MAX);
	if (!data) {
		rc = err_set(e, -ENOMEM, "time zone %s: out of memory", path);
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, data + have, TZ_FILE_MAX - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(e, -errno, "time zone %s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == TZ_FILE_MAX)
			break;
	}
	rc = tzif_parse(path + sizeof(TZ_DIR) - 1, len, data, have, out, e);
fail:
	mem_free(data);
	close(fd);
	return rc;
}

const struct tz *tz_get(const char *name, size_t len, struct err *e)
{
	struct tz *z = NULL;

	if (len == sizeof(TZ_LOCAL) - 1 && !memcmp(name, TZ_LOCAL, len))
		return tz_local();
	for (size_t i = 0; i < ARRAY_SIZE(builtin_utc); i++)
		if (strlen(builtin_utc[i].name) == len && !memcmp(builtin_utc[i].name, name, len))
			return &builtin_utc[i];
	if (!name_ok(name, len)) {
		err_set(e, -EINVAL, "bad time zone name '%.*s' (expected an IANA name such as "
			"Asia/Tokyo)", (int)MIN(len, 64), name);
		return NULL;
	}
	pthread_mutex_lock(&cache_lock);
	for (unsigned i = 0; i < cache_n; i++)
		if (!strncmp(cache[i]->name, name, len) && !cache[i]->name[len]) {
			z = cache[i];
			goto out;
		}
	if (cache_n == TZ_CACHE_MAX) {
		err_set(e, -ENOSPC, "time zone %.*s: more than %d zones in use", (int)len, name,
			TZ_CACHE_MAX);
		goto out;
	}
	if (tz_load(name, len, &z, e) == 0)
		cache[cache_n++] = z;
out:
	pthread_mutex_unlock(&cache_lock);
	return z;
}

/* ---- the machine's zone ---- */

static const struct tz *local_zone;
static pthread_once_t local_once = PTHREAD_ONCE_INIT;

/* name[0..*len) of the zone a path like /usr/share/zoneinfo/Asia/Tokyo names, or NULL. */
static const char *zone_of_path(const char *path, size_t *len)
{
	const char *z = strstr(path, "zoneinfo/");

	if (!z)
		return NULL;
	z += sizeof("zoneinfo/") - 1;
	*len = strlen(z);
	return name_ok(z, *len) ? z : NULL;
}

/*
 * TZ=[:]NAME or TZ=:/path/zoneinfo/NAME as localtime(3) reads it; NULL when not a zone file,
 * said once on the log: a POSIX rule such as TZ=JST-9, which the C library reads, names no
 * zone file, and the local zone then comes from /etc/localtime (often UTC).
 */
static const struct tz *zone_from_env(void)
{
	const char *v = getenv("TZ"), *n;
	const struct tz *z = NULL;
	size_t len;

	if (!v || !*v)
		return NULL;
	if (*v == ':')
		v++;
	n = *v == '/' ? zone_of_path(v, &len) : v;
	if (n == v)
		len = strlen(v);
	if (n && len == sizeof(TZ_LOCAL) - 1 && !memcmp(n, TZ_LOCAL, len))
		return NULL; /* "local" here would name itself */
	/* a path outside zoneinfo (TZ=:/etc/localtime) names what the fallback reads anyway */
	if (n && !(z = tz_get(n, len, NULL)) && *v != '/')
		log_warn("TZ=%.64s names no time zone koban knows (give a zone name such as "
			 "Asia/Tokyo): the local zone is read from /etc/localtime", getenv("TZ"));
	return z;
}

static void local_zone_load(void)
{
	char link[TZ_NAME_MAX + sizeof(TZ_DIR)], line[TZ_NAME_MAX];
	const struct tz *z = zone_from_env();
	ssize_t n;
	FILE *f;

	if (!z && (n = readlink("/etc/localtime", link, sizeof(link) - 1)) > 0) {
		const char *name;
		size_t len;

		link[n] = '\0';
		if ((name = zone_of_path(link, &len)))
			z = tz_get(name, len, NULL);
	}
	if (!z && (f = fopen("/etc/timezone", "re"))) {
		if (fgets(line, sizeof(line), f)) {
			size_t len = strcspn(line, "\r\n");

			z = tz_get(line, len, NULL);
		}
		fclose(f);
	}
	local_zone = z ? z : &builtin_utc[0];
}

const struct tz *tz_local(void)
{
	pthread_once(&local_once, local_zone_load);
	return local_zone;
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

static int64_t floor_sec(int64_t ns)
{
	return ns / NS_PER_SEC - (ns % NS_PER_SEC < 0);
}

int32_t tz_offset_at(const struct tz *z, int64_t utc_ns)
{
	int64_t t = floor_sec(utc_ns);
	uint32_t lo = 0, hi = z->n_times;

	if (z->n_times == 0 || t >= z->times[z->n_times - 1]) {
		if (z->rule.valid)
			return rule_offset_at(&z->rule, t);
		return z->n_times ? z->offs[z->idx[z->n_times - 1]] : z->offs ? z->offs[0] : 0;
	}
	if (t < z->times[0])
		return z->offs[0];
	while (hi - lo > 1) { /* times[lo] <= t < times[hi] */
		uint32_t mid = lo + (hi - lo) / 2;

		if (z->times[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->offs[z->idx[lo]];
}

/* tz_local_to_utc's computation, for the wall clock time wall (as if it were UTC). */
static int64_t local_to_utc(const struct tz *z, int64_t wall)
{
	/* offsets in effect a day before and after: transitions are further apart */
	int32_t before = tz_offset_at(z, wall - 86400 * NS_PER_SEC);
	int32_t after = tz_offset_at(z, wall + 86400 * NS_PER_SEC);
	int64_t u1 = wall - (int64_t)before * NS_PER_SEC;
	int64_t u2 = wall - (int64_t)after * NS_PER_SEC;
	bool ok1, ok2;

	if (before == after)
		return u1; /* every branch below gives u1 then (most days: no transition near) */
	ok1 = tz_offset_at(z, u1) == before;
	ok2 = tz_offset_at(z, u2) == after;
	if (ok1 && ok2)
		return MIN(u1, u2); /* repeated hour: the earlier instant */
	if (ok2)
		return u2;
	return u1; /* valid with the old offset, or skipped: read with the old offset */
}

/*
 * The last two answers of tz_local_to_utc in this thread, the latest first: lines that
 * arrive together carry the same few stamps (a PAN-OS row's syslog header, its
 * time_generated and start), and an answer costs up to four offset look-ups. Zones are
 * never freed, so a zone's address names it for good.
 */
struct local_memo {
	const struct tz *z;
	struct civil_time local;
	int64_t utc;
};
static _Thread_local struct local_memo local_memo[2];

static bool memo_is(const struct local_memo *m, const struct tz *z, const struct civil_time *c)
{
	return m->z == z && m->local.sec == c->sec && m->local.min == c->min &&
	       m->local.hour == c->hour && m->local.day == c->day &&
	       m->local.month == c->month && m->local.year == c->year &&
	       m->local.nsec == c->nsec;
}

int64_t tz_local_to_utc(const struct tz *z, const struct civil_time *local)
{
	struct local_memo *m = local_memo, found;

	if (memo_is(&m[0], z, local))
		return m[0].utc;
	if (memo_is(&m[1], z, local))
		found = m[1];
	else
		found = (struct local_memo){ z, *local,
					     local_to_utc(z, time_from_civil_utc(local)) };
	m[1] = m[0];
	m[0] = found;
	return found.utc;
}

