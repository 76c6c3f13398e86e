/*
 * syslog.c - RFC 3164 and RFC 5424 decoders.
 *
 * Both decoders first scan the header into spans that point into the message (no
 * allocation, shared with syslog_peek_host), then copy the spans into the event. Only
 * structured-data values with escapes are copied, into the event's arena.
 */
#include "parse/syslog.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/timeutil.h"
#include "core/tz.h"

#include <stdatomic.h>

#define PRI_MAX 191
#define HOSTNAME_MAX 255
#define APPNAME_MAX 48
#define PROCID_MAX 128
#define MSGID_MAX 32
#define SDNAME_MAX 32
#define DEFAULT_PRI 13 /* user.notice, RFC 3164 section 4.3.3 */
#define SD_PREFIX "log.syslog.structured_data."

struct span {
	const char *p;
	size_t len; /* 0: absent */
};

/* A time stamp as written: civil fields plus what the text said about year and zone. */
struct stamp {
	struct civil_time c;
	bool has_year;
	bool has_offset;
	int32_t offset; /* seconds east of UTC when has_offset */
};

/* Reading position in msg[0..len); off() gives offsets for error messages. */
struct cur {
	const char *start, *p, *end;
};

static size_t off(const struct cur *c)
{
	return (size_t)(c->p - c->start);
}

static bool at(const struct cur *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static bool eat(struct cur *c, char ch)
{
	if (!at(c, ch))
		return false;
	c->p++;
	return true;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alnum(char ch)
{
	return is_digit(ch) || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* Exactly n digits as a number. */
static bool digits(struct cur *c, int n, int *out)
{
	int v = 0;

	if (c->end - c->p < n)
		return false;
	for (int i = 0; i < n; i++) {
		if (!is_digit(c->p[i]))
			return false;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*out = v;
	return true;
}

/* Bytes up to the next space or the end. */
static size_t token_len(const struct cur *c)
{
	const char *sp = memchr(c->p, ' ', (size_t)(c->end - c->p));

	return sp ? (size_t)(sp - c->p) : (size_t)(c->end - c->p);
}

/* ---- names ---- */

/* A name with its length, known when compiling (set_pri runs for every message). */
struct name {
	const char *s;
	size_t len;
};
#define NAME(lit) { "" lit, sizeof(lit) - 1 }

static const struct name facility_names[24] = {
	NAME("kern"), NAME("user"), NAME("mail"), NAME("daemon"), NAME("auth"),
	NAME("syslog"), NAME("lpr"), NAME("news"), NAME("uucp"), NAME("cron"),
	NAME("authpriv"), NAME("ftp"), NAME("ntp"), NAME("security"), NAME("console"),
	NAME("solaris-cron"), NAME("local0"), NAME("local1"), NAME("local2"), NAME("local3"),
	NAME("local4"), NAME("local5"), NAME("local6"), NAME("local7"),
};

static const struct name severity_names[8] = {
	NAME("emerg"), NAME("alert"), NAME("crit"), NAME("err"), NAME("warning"),
	NAME("notice"), NAME("info"), NAME("debug"),
};

/* ---- shared pieces: PRI and time stamps ---- */

/* "<PRI>" at c (which starts with '<'): 0 and the value, or -EINVAL with a message. */
static int scan_pri(struct cur *c, int *pri, struct err *e)
{
	int v = 0, n = 0;

	c->p++;
	while (c->p < c->end && is_digit(*c->p) && n < 3) {
		v = v * 10 + (*c->p++ - '0');
		n++;
	}
	if (n == 0 || !eat(c, '>'))
		return err_set(e, -EINVAL, "offset %zu: bad PRI (expected <0> to <191>)", off(c));
	if (v > PRI_MAX)
		return err_set(e, -EINVAL, "offset 1: PRI %d out of range (0 to %d)", v, PRI_MAX);
	*pri = v;
	return 0;
}

static bool valid_clock(const struct civil_time *t)
{
	return t->hour <= 23 && t->min <= 59 && t->sec <= 59;
}

/* "hh:mm:ss[.f]" with 1 to 9 fractional digits. */
static bool scan_clock(struct cur *c, struct civil_time *t)
{
	long scale = NS_PER_SEC;

	if (!digits(c, 2, &t->hour) || !eat(c, ':') || !digits(c, 2, &t->min) || !eat(c, ':') ||
	    !digits(c, 2, &t->sec) || !valid_clock(t))
		return false;
	t->nsec = 0;
	if (c->end - c->p >= 2 && *c->p == '.' && is_digit(c->p[1])) {
		c->p++;
		while (c->p < c->end && is_digit(*c->p)) {
			if (scale == 1)
				return false; /* more than 9 digits */
			scale /= 10;
			t->nsec += (*c->p++ - '0') * scale;
		}
	}
	return true;
}

/*
 * "Z" or "+hh:mm" / "-hh:mm"; when !strict also "+hhmm" and "+hh". On failure the cursor
 * is where it was, so a caller that allows a missing offset never skips half of one.
 */
static bool scan_offset(struct cur *c, struct stamp *s, bool strict)
{
	struct cur save = *c;
	int sign, h, m = 0;

	if (eat(c, 'Z') || (!strict && eat(c, 'z'))) {
		s->has_offset = true;
		s->offset = 0;
		return true;
	}
	if (!at(c, '+') && !at(c, '-'))
		return false;
	sign = *c->p++ == '-' ? -1 : 1;
	if (!digits(c, 2, &h) || h > 23)
		goto fail;
	if (eat(c, ':') || (!strict && c->p < c->end && is_digit(*c->p))) {
		if (!digits(c, 2, &m) || m > 59)
			goto fail;
	} else if (strict) {
		goto fail;
	}
	s->has_offset = true;
	s->offset = sign * (h * 3600 + m * 60);
	return true;
fail:
	*c = save;
	return false;
}

/* Years whose instants fit nanoseconds in 64 bits (1677-09-21 to 2262-04-11), with margin. */
static bool year_in_range(int year)
{
	return year >= 1678 && year <= 2261;
}

/*
 * RFC 3339 "YYYY-MM-DDThh:mm:ss[.f](Z|+hh:mm)". strict (RFC 5424) requires 'T' and the
 * offset; otherwise a space may separate date and time and the offset may be missing.
 */
static bool scan_rfc3339(struct cur *c, struct stamp *s, bool strict)
{
	struct civil_time *t = &s->c;

	memset(s, 0, sizeof(*s));
	if (!digits(c, 4, &t->year) || !year_in_range(t->year) || !eat(c, '-') ||
	    !digits(c, 2, &t->month) || !eat(c, '-') ||
	    !digits(c, 2, &t->day) || t->month < 1 || t->month > 12 || t->day < 1 ||
	    t->day > time_days_in_month(t->year, t->month))
		return false;
	if (!eat(c, 'T') && (strict || (!eat(c, 't') && !eat(c, ' '))))
		return false;
	if (!scan_clock(c, t))
		return false;
	s->has_year = true;
	return scan_offset(c, s, strict) || !strict;
}

static int month_from_name(const char *p)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	char low[3];

	for (int i = 0; i < 3; i++)
		low[i] = (char)(p[i] | 0x20);
	for (int m = 0; m < 12; m++)
		if (!memcmp(names + m * 3, low, 3))
			return m + 1;
	return 0;
}

/* BSD "Mmm dd hh:mm:ss[.f]" (day space-padded or one digit) or "Mmm dd yyyy hh:mm:ss". */
static bool scan_bsd_stamp(struct cur *c, struct stamp *s)
{
	struct civil_time *t = &s->c;
	struct cur save;

	memset(s, 0, sizeof(*s));
	if (c->end - c->p < 4 || !(t->month = month_from_name(c->p)) || c->p[3] != ' ')
		return false;
	c->p += 4;
	eat(c, ' '); /* "Apr  8" */
	if (!digits(c, 2, &t->day) && !digits(c, 1, &t->day))
		return false;
	if (t->day < 1 || t->day > time_days_in_month(2000, t->month) || !eat(c, ' '))
		return false;
	save = *c;
	if (digits(c, 4, &t->year) && year_in_range(t->year) && eat(c, ' ') && scan_clock(c, t)) {
		s->has_year = true;
		return t->day <= time_days_in_month(t->year, t->month);
	}
	*c = save;
	t->year = 0;
	return scan_clock(c, t);
}

/* How far ahead of the receive time a year-less stamp may lie (sender clock skew). */
#define STAMP_FUTURE_NS (31 * 86400 * NS_PER_SEC)

/*
 * The instant of a stamp; false when no year puts its date near the receive time.
 * A stamp without a year gets the latest year that does not put it more than a month
 * after the receive time: logs describe the past, so "Aug 24" received in March is last
 * August, while "Dec 31" received on Jan 1 is the day before and "Jan 1" received on
 * Dec 31 (a fast sender clock) is tomorrow.
 */
static bool stamp_to_ns(const struct stamp *s, const struct tz *z, int64_t received,
			int64_t *ns)
{
	struct civil_time local = s->c, now;
	bool found = false;

	if (s->has_offset) {
		*ns = time_from_civil_utc(&s->c) - (int64_t)s->offset * NS_PER_SEC;
		return true;
	}
	if (s->has_year) {
		*ns = tz_local_to_utc(z, &s->c);
		return true;
	}
	time_to_civil_utc(received + (int64_t)tz_offset_at(z, received) * NS_PER_SEC, &now);
	for (int y = now.year + 1; y >= now.year - 1 && !found; y--) {
		int64_t t;

		if (s->c.day > time_days_in_month(y, s->c.month))
			continue;
		local.year = y;
		t = tz_local_to_utc(z, &local);
		if (t <= received + STAMP_FUTURE_NS) {
			*ns = t;
			found = true;
		}
	}
	return found;
}

/* ---- event helpers ---- */

static int set_span(struct event *ev, unsigned field, struct span s)
{
	return s.len ? event_set_str(ev, field, s.p, s.len) : 0;
}

static int set_pri(struct event *ev, int pri)
{
	int fac = pri >> 3, sev = pri & 7;
	const struct name *fn = &facility_names[fac], *sn = &severity_names[sev];
	int rc;

	if ((rc = event_set_int(ev, FIELD_LOG_SYSLOG_PRIORITY, pri)) < 0 ||
	    (rc = event_set_int(ev, FIELD_LOG_SYSLOG_FACILITY_CODE, fac)) < 0 ||
	    (rc = event_set_str(ev, FIELD_LOG_SYSLOG_FACILITY_NAME, fn->s, fn->len)) < 0 ||
	    (rc = event_set_int(ev, FIELD_LOG_SYSLOG_SEVERITY_CODE, sev)) < 0)
		return rc;
	return event_set_str(ev, FIELD_LOG_SYSLOG_SEVERITY_NAME, sn->s, sn->len);
}

static int set_host(struct event *ev, struct span host)
{
	int rc = set_span(ev, FIELD_LOG_SYSLOG_HOSTNAME, host);

	return rc < 0 ? rc : set_span(ev, FIELD_HOST_NAME, host);
}

/* APP-NAME / TAG and PROCID / PID, with process.pid when the id is a number. */
static int set_process(struct event *ev, struct span app, struct span procid)
{
	int64_t pid = 0;
	size_t i;
	int rc;

	if ((rc = set_span(ev, FIELD_LOG_SYSLOG_APPNAME, app)) < 0 ||
	    (rc = set_span(ev, FIELD_PROCESS_NAME, app)) < 0 ||
	    (rc = set_span(ev, FIELD_LOG_SYSLOG_PROCID, procid)) < 0)
		return rc;
	for (i = 0; i < procid.len && i < 10 && is_digit(procid.p[i]); i++)
		pid = pid * 10 + (procid.p[i] - '0');
	if (procid.len && i == procid.len)
		return event_set_int(ev, FIELD_PROCESS_PID, pid);
	return 0;
}

static int set_message(struct event *ev, const char *p, size_t len)
{
	return len ? event_set_str(ev, FIELD_MESSAGE, p, len) : 0;
}

/* The message for a setter's failure (-ENOSPC or -ENOMEM), with that code. */
static int set_failed(int rc, struct err *e)
{
	return err_set(e, rc == -ENOSPC ? -ENOSPC : -ENOMEM,
		       rc == -ENOSPC ? "too many fields in one event" : "out of memory");
}

/* ---- RFC 3164 ---- */

struct bsd_hdr {
	int pri;
	bool has_stamp;
	struct stamp stamp;
	struct span host, tag, pid;
	size_t msg; /* offset of MSG */
};

static bool host_char(char ch)
{
	return is_alnum(ch) || ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '%';
}

static bool tag_char(char ch)
{
	return is_alnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '/' || ch == '@' ||
	       ch == '%' || ch == '+' || ch == '$';
}

/*
 * Whether the token at c is a HOSTNAME rather than the start of the payload: senders
 * such as PAN-OS and A10 omit the host, so a TAG ("sshd:", "sshd[1]"), CSV ("1,2024/..."),
 * CEF/LEEF or JSON right after the stamp means "no host".
 */
static bool bsd_is_host(const struct cur *c, size_t n)
{
	if (n == 0 || n > HOSTNAME_MAX || c->p + n == c->end || c->p[n - 1] == ':')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!host_char(c->p[i]))
			return false; /* '[', ',', '|', '{', '=' ... are payload */
	return !(n >= 4 && !memcmp(c->p, "CEF:", 4)) && !(n >= 5 && !memcmp(c->p, "LEEF:", 5));
}

/* A10's CGN log names ("NAT-TCP-C:", parse/a10.h) look like tags but are payload. */
static bool is_cgn_name(struct span tag)
{
	size_t i = 4;

	if (tag.len < 7 || memcmp(tag.p, "NAT-", 4))
		return false;
	while (i < tag.len && tag.p[i] >= 'A' && tag.p[i] <= 'Z')
		i++;
	return i > 4 && i + 2 == tag.len && tag.p[i] == '-' && tag.p[i + 1] >= 'A' &&
	       tag.p[i + 1] <= 'Z';
}

/* "TAG:", "TAG[PID]:" or "TAG[PID]" at c; CEF, LEEF and A10 CGN names are payload. */
static void bsd_scan_tag(struct cur *c, struct bsd_hdr *h)
{
	struct cur t = *c;
	struct span tag = { c->p, 0 }, pid = { NULL, 0 };

	while (t.p < t.end && tag_char(*t.p) && tag.len < APPNAME_MAX + 1) {
		t.p++;
		tag.len++;
	}
	if (tag.len == 0 || tag.len > APPNAME_MAX)
		return;
	if (eat(&t, '[')) {
		pid.p = t.p;
		while (t.p < t.end && *t.p != ']' && *t.p > ' ' && pid.len <= PROCID_MAX) {
			t.p++;
			pid.len++;
		}
		if (!pid.len || pid.len > PROCID_MAX || !eat(&t, ']'))
			return;
		eat(&t, ':');
	} else if (!eat(&t, ':') || (tag.len == 3 && !memcmp(tag.p, "CEF", 3)) ||
		   (tag.len == 4 && !memcmp(tag.p, "LEEF", 4)) || is_cgn_name(tag)) {
		return;
	}
	eat(&t, ' ');
	h->tag = tag;
	h->pid = pid;
	*c = t;
}

static int bsd_scan(const char *msg, size_t len, struct bsd_hdr *h, struct err *e)
{
	struct cur c = { msg, msg, msg + len }, s;
	size_t n;
	int rc;

	memset(h, 0, sizeof(*h));
	h->pri = DEFAULT_PRI;
	if (at(&c, '<') && (rc = scan_pri(&c, &h->pri, e)) < 0)
		return rc;
	while (eat(&c, ' '))
		;
	s = c;
	if ((scan_bsd_stamp(&s, &h->stamp) || (s = c, scan_rfc3339(&s, &h->stamp, false))) &&
	    (s.p == s.end || *s.p == ' ' || (*s.p == ':' && s.p + 1 < s.end && s.p[1] == ' '))) {
		h->has_stamp = true;
		eat(&s, ':');
		while (eat(&s, ' '))
			;
		c = s;
		n = token_len(&c);
		if (bsd_is_host(&c, n)) {
			h->host = (struct span){ c.p, n };
			c.p += n + 1;
		}
		bsd_scan_tag(&c, h);
	}
	/* without a stamp the whole text after PRI is MSG (RFC 3164 section 4.3.3) */
	h->msg = off(&c);
	return 0;
}

static int bsd_parse(struct event *ev, const char *msg, size_t len,
		     const struct syslog_opts *o, const struct tz *z, struct err *e)
{
	struct bsd_hdr h;
	int64_t ns;
	int rc = bsd_scan(msg, len, &h, e);

	if (rc < 0)
		return rc;
	if (h.has_stamp) {
		if (!stamp_to_ns(&h.stamp, z, o->received_ns, &ns))
			return err_set(e, -EINVAL, "offset 0: no year near the receive time has "
				       "day %d of month %d", h.stamp.c.day, h.stamp.c.month);
		if ((rc = event_set_time(ev, FIELD_TIMESTAMP, ns)) < 0 ||
		    (!h.stamp.has_offset &&
		     (rc = event_set_str(ev, FIELD_EVENT_TIMEZONE, tz_name(z),
					 strlen(tz_name(z)))) < 0))
			return set_failed(rc, e);
	}
	if ((rc = set_pri(ev, h.pri)) < 0 || (rc = set_host(ev, h.host)) < 0 ||
	    (rc = set_process(ev, h.tag, h.pid)) < 0 ||
	    (rc = set_message(ev, msg + h.msg, len - h.msg)) < 0)
		return set_failed(rc, e);
	return 0;
}

/* ---- RFC 5424 ---- */

struct ietf_hdr {
	int pri;
	struct span version;
	bool has_stamp;
	struct stamp stamp;
	struct span host, app, procid, msgid;
	size_t sd; /* offset of STRUCTURED-DATA */
};

/* Whether msg starts like RFC 5424: "<PRI>1 ". */
static bool looks_ietf(const char *msg, size_t len)
{
	size_t i = 1;

	if (len < 5 || msg[0] != '<')
		return false;
	while (i < len && i < 4 && is_digit(msg[i]))
		i++;
	return i > 1 && i + 2 < len && msg[i] == '>' && msg[i + 1] == '1' && msg[i + 2] == ' ';
}

/* One header field: NILVALUE ("-", absent) or 1..max printable US-ASCII, then SP. */
static int ietf_field(struct cur *c, struct span *out, size_t max, const char *name,
		      struct err *e)
{
	size_t n = token_len(c);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c->p[i] < 33 || (unsigned char)c->p[i] > 126)
			return err_set(e, -EINVAL, "offset %zu: %s has a non-printable byte",
				       off(c) + i, name);
	if (n == 0 || n > max)
		return err_set(e, -EINVAL, "offset %zu: %s must be '-' or 1 to %zu characters",
			       off(c), name, max);
	if (c->p + n == c->end)
		return err_set(e, -EINVAL, "offset %zu: message ends after %s", off(c) + n, name);
	*out = (n == 1 && *c->p == '-') ? (struct span){ NULL, 0 } : (struct span){ c->p, n };
	c->p += n + 1;
	return 0;
}

static int ietf_scan(const char *msg, size_t len, struct ietf_hdr *h, struct err *e)
{
	struct cur c = { msg, msg, msg + len };
	int rc;

	memset(h, 0, sizeof(*h));
	if (!at(&c, '<'))
		return err_set(e, -EINVAL, "offset 0: RFC 5424 message must start with <PRI>");
	if ((rc = scan_pri(&c, &h->pri, e)) < 0)
		return rc;
	h->version.p = c.p;
	while (c.p < c.end && is_digit(*c.p) && h->version.len < 3) {
		c.p++;
		h->version.len++;
	}
	if (!h->version.len || *h->version.p == '0' || !eat(&c, ' '))
		return err_set(e, -EINVAL, "offset %zu: bad VERSION (expected 1 and a space)",
			       (size_t)(h->version.p - msg));
	if (!eat(&c, '-')) {
		struct cur s = c;

		if (!scan_rfc3339(&s, &h->stamp, true) || !at(&s, ' '))
			return err_set(e, -EINVAL, "offset %zu: bad TIMESTAMP (expected '-' or "
				       "YYYY-MM-DDThh:mm:ss[.ffffff](Z|+hh:mm))", off(&c));
		h->has_stamp = true;
		c = s;
	}
	if (!eat(&c, ' '))
		return err_set(e, -EINVAL, "offset %zu: expected a space after TIMESTAMP", off(&c));
	if ((rc = ietf_field(&c, &h->host, HOSTNAME_MAX, "HOSTNAME", e)) < 0 ||
	    (rc = ietf_field(&c, &h->app, APPNAME_MAX, "APP-NAME", e)) < 0 ||
	    (rc = ietf_field(&c, &h->procid, PROCID_MAX, "PROCID", e)) < 0 ||
	    (rc = ietf_field(&c, &h->msgid, MSGID_MAX, "MSGID", e)) < 0)
		return rc;
	h->sd = off(&c);
	return 0;
}

static bool sd_name_char(char ch)
{
	return ch > ' ' && ch < 127 && ch != '=' && ch != ']' && ch != '"';
}

static int sd_name(struct cur *c, struct span *out, const char *what, struct err *e)
{
	out->p = c->p;
	out->len = 0;
	while (c->p < c->end && sd_name_char(*c->p) && out->len <= SDNAME_MAX) {
		c->p++;
		out->len++;
	}
	if (out->len == 0 || out->len > SDNAME_MAX)
		return err_set(e, -EINVAL, "offset %zu: %s must be 1 to %d printable characters",
			       (size_t)(out->p - c->start), what, SDNAME_MAX);
	return 0;
}

/* Appends a name segment with '.' replaced so it cannot add a nesting level. */
static size_t put_segment(char *dst, struct span s)
{
	for (size_t i = 0; i < s.len; i++)
		dst[i] = s.p[i] == '.' ? '_' : s.p[i];
	return s.len;
}

#define SD_NAME_BUF (sizeof(SD_PREFIX) + 2 * SDNAME_MAX + 1)
#define SD_CACHE_SIZE 64 /* per thread, direct-mapped */

/*
 * Interned ids never change and names are never freed, so each thread may remember
 * name -> id without the registry's lock: structured data repeats the same few names.
 */
struct sd_cache_entry {
	uint32_t len;
	int id;
	char name[SD_NAME_BUF];
};

static _Thread_local struct sd_cache_entry sd_cache[SD_CACHE_SIZE];

/*
 * Senders choose structured-data names, so they are not allowed to fill the process-wide
 * field registry: each tenant may register SYSLOG_SD_TENANT_BUDGET new names, all
 * together SYSLOG_SD_TOTAL_BUDGET (syslog.h); past that, new SD names are not registered
 * (their values stay in event.original). One message keeps at most SD_MAX_PARAMS values,
 * so that its event always has room for the pipeline's own fields and output stays
 * linear in the message size.
 */
#define SD_MAX_PARAMS 128

static atomic_uint sd_total;
/* Per slot: generation (high 32 bits) and names it registered (low 32 bits). */
static atomic_ullong sd_by_tenant[SYSLOG_SD_TENANTS];

#define SD_GEN(v) ((unsigned)((v) >> 32))
#define SD_COUNT(v) ((unsigned)((v) & 0xffffffffu))

/*
 * Takes one name from both budgets; false (nothing taken) when either is spent. A slot
 * whose count was kept for another generation (a removed tenant's) starts from zero.
 */
bool syslog_name_budget_take(unsigned tenant, unsigned gen)
{
	atomic_ullong *t = &sd_by_tenant[tenant % SYSLOG_SD_TENANTS];
	unsigned long long v = atomic_load_explicit(t, memory_order_relaxed), next;

	do {
		unsigned count = SD_GEN(v) == gen ? SD_COUNT(v) : 0;

		if (count >= SYSLOG_SD_TENANT_BUDGET)
			return false;
		next = (unsigned long long)gen << 32 | (count + 1);
	} while (!atomic_compare_exchange_weak_explicit(t, &v, next, memory_order_relaxed,
							memory_order_relaxed));
	if (atomic_fetch_add_explicit(&sd_total, 1, memory_order_relaxed) >=
	    SYSLOG_SD_TOTAL_BUDGET) {
		atomic_fetch_sub_explicit(&sd_total, 1, memory_order_relaxed);
		/* give the name back unless the slot changed hands meanwhile */
		v = atomic_load_explicit(t, memory_order_relaxed);
		while (SD_GEN(v) == gen && SD_COUNT(v) &&
		       !atomic_compare_exchange_weak_explicit(t, &v, v - 1, memory_order_relaxed,
							      memory_order_relaxed))
			;
		return false;
	}
	return true;
}

/* Field id of log.syslog.structured_data.ID.PARAM; -ENOSPC when it cannot be a string. */
static int sd_field(struct span id, struct span param, const struct syslog_opts *o)
{
	char name[SD_NAME_BUF];
	size_t n = sizeof(SD_PREFIX) - 1;
	struct sd_cache_entry *c;
	uint32_t h = 2166136261u;
	int f;

	memcpy(name, SD_PREFIX, n);
	n += put_segment(name + n, id);
	name[n++] = '.';
	n += put_segment(name + n, param);
	for (size_t i = sizeof(SD_PREFIX) - 1; i < n; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	c = &sd_cache[h % SD_CACHE_SIZE];
	if (c->len == n && !memcmp(c->name, name, n))
		return c->id;
	f = field_lookup(name, n);
	if (f == -ENOENT)
		f = syslog_name_budget_take(o->tenant, o->tenant_gen) ? field_intern(name, n, FT_STR) : -ENOSPC;
	if (f >= 0 && field_type((unsigned)f) != FT_STR)
		return -ENOSPC;
	if (f >= 0) {
		memcpy(c->name, name, n);
		c->len = (uint32_t)n;
		c->id = f;
	}
	return f;
}

/* PARAM-VALUE up to the closing quote; copies into the arena only when it has escapes. */
static int sd_value(struct event *ev, struct cur *c, struct span *out, struct err *e)
{
	const char *v = c->p;
	bool escaped = false;
	char *copy;
	size_t n = 0;

	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end) {
			escaped = true;
			c->p++;
		}
		c->p++;
	}
	if (!eat(c, '"'))
		return err_set(e, -EINVAL, "offset %zu: PARAM-VALUE has no closing '\"'",
			       (size_t)(v - c->start - 1));
	out->p = v;
	out->len = (size_t)(c->p - 1 - v);
	if (!escaped)
		return 0;
	copy = arena_alloc(ev->arena, out->len ? out->len : 1);
	if (!copy)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < out->len; i++) {
		if (v[i] == '\\' && i + 1 < out->len &&
		    (v[i + 1] == '"' || v[i + 1] == '\\' || v[i + 1] == ']'))
			i++;
		copy[n++] = v[i];
	}
	out->p = copy;
	out->len = n;
	return 0;
}

/* One "[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]" at c; *kept counts values in the event. */
static int sd_element(struct event *ev, struct cur *c, unsigned *kept, const struct syslog_opts *o,
		      struct err *e)
{
	struct span id, param, value = { NULL, 0 };
	int rc, f;

	c->p++; /* '[' */
	if ((rc = sd_name(c, &id, "SD-ID", e)) < 0)
		return rc;
	while (eat(c, ' ')) {
		if ((rc = sd_name(c, &param, "PARAM-NAME", e)) < 0)
			return rc;
		if (!eat(c, '=') || !eat(c, '"'))
			return err_set(e, -EINVAL, "offset %zu: expected =\"VALUE\" after PARAM-NAME",
				       off(c));
		if ((rc = sd_value(ev, c, &value, e)) < 0)
			return rc;
		if (*kept >= SD_MAX_PARAMS)
			continue; /* the value stays in event.original */
		f = sd_field(id, param, o);
		if (f == -ENOSPC)
			continue; /* no field for it: the value stays in event.original */
		if (f < 0)
			return err_set(e, f, "out of memory");
		if ((rc = event_add_str(ev, (unsigned)f, value.p, value.len)) < 0)
			return set_failed(rc, e);
		(*kept)++;
	}
	if (!eat(c, ']'))
		return err_set(e, -EINVAL, "offset %zu: expected ' PARAM=\"VALUE\"' or ']' in "
			       "STRUCTURED-DATA", off(c));
	return 0;
}

static int ietf_parse(struct event *ev, const char *msg, size_t len,
		      const struct syslog_opts *o, struct err *e)
{
	struct ietf_hdr h;
	struct cur c = { msg, msg, msg + len };
	int rc = ietf_scan(msg, len, &h, e);

	if (rc < 0)
		return rc;
	c.p += h.sd;
	if (eat(&c, '-')) {
		/* no structured data */
	} else if (at(&c, '[')) {
		unsigned kept = 0;

		while (at(&c, '['))
			if ((rc = sd_element(ev, &c, &kept, o, e)) < 0)
				return rc;
	} else {
		return err_set(e, -EINVAL, "offset %zu: STRUCTURED-DATA must be '-' or start "
			       "with '['", off(&c));
	}
	if (c.p < c.end && !eat(&c, ' '))
		return err_set(e, -EINVAL, "offset %zu: expected a space before MSG", off(&c));
	if (c.end - c.p >= 3 && !memcmp(c.p, "\xEF\xBB\xBF", 3))
		c.p += 3;
	if (h.has_stamp) {
		int64_t ns = 0;

		/* RFC 5424 stamps have an offset, so no zone is needed and this cannot fail */
		if (stamp_to_ns(&h.stamp, NULL, o->received_ns, &ns) &&
		    (rc = event_set_time(ev, FIELD_TIMESTAMP, ns)) < 0)
			return set_failed(rc, e);
	}
	if ((rc = set_pri(ev, h.pri)) < 0 ||
	    (rc = event_set_str(ev, FIELD_LOG_SYSLOG_VERSION, h.version.p, h.version.len)) < 0 ||
	    (rc = set_host(ev, h.host)) < 0 || (rc = set_process(ev, h.app, h.procid)) < 0 ||
	    (rc = set_span(ev, FIELD_LOG_SYSLOG_MSGID, h.msgid)) < 0 ||
	    (rc = set_message(ev, c.p, (size_t)(c.end - c.p))) < 0)
		return set_failed(rc, e);
	return 0;
}

/* ---- entry points ---- */

bool syslog_looks_rfc5424(const char *msg, size_t len)
{
	return looks_ietf(msg, len);
}

int syslog_parse(struct event *ev, const char *msg, size_t len, const struct syslog_opts *opts,
		 struct err *e)
{
	enum syslog_format f = opts->format;
	uint32_t base;
	int rc;

	if ((rc = event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, len)) < 0 ||
	    (rc = event_set_time(ev, FIELD_EVENT_CREATED, opts->received_ns)) < 0 ||
	    (rc = event_set_time(ev, FIELD_TIMESTAMP, opts->received_ns)) < 0)
		return set_failed(rc, e);
	base = ev->n;
	if (f == SYSLOG_AUTO)
		f = looks_ietf(msg, len) ? SYSLOG_RFC5424 : SYSLOG_RFC3164;
	if (f == SYSLOG_RFC5424)
		rc = ietf_parse(ev, msg, len, opts, e);
	else
		rc = bsd_parse(ev, msg, len, opts, opts->tz ? opts->tz : tz_local(), e);
	if (rc < 0) {
		int set;

		/* drop the partial header: the whole text is the message */
		event_truncate(ev, base);
		if ((set = event_set_time(ev, FIELD_TIMESTAMP, opts->received_ns)) < 0 ||
		    (set = event_set_str(ev, FIELD_MESSAGE, msg, len)) < 0)
			return set_failed(set, e);
	}
	return rc;
}

int syslog_peek_host(const char *msg, size_t len, const char **host, size_t *hlen)
{
	struct span s = { NULL, 0 };

	if (looks_ietf(msg, len)) {
		struct ietf_hdr h;

		if (ietf_scan(msg, len, &h, NULL) == 0)
			s = h.host;
	} else {
		struct bsd_hdr h;

		if (bsd_scan(msg, len, &h, NULL) == 0)
			s = h.host;
	}
	if (!s.len)
		return 0;
	*host = s.p;
	*hlen = s.len;
	return 1;
}
