#include "core/timeutil.h"
#include "core/compat.h"

#include <time.h>

/* Howard Hinnant's days_from_civil algorithm (public domain description). */
int64_t time_days_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void time_civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	*year = (int)(yoe + era * 400 + (m <= 2));
	*month = (int)m;
	*day = (int)d;
}

int64_t time_from_civil_utc(const struct civil_time *c)
{
	int64_t days = time_days_from_civil(c->year, c->month, c->day);
	int64_t secs = days * 86400 + c->hour * 3600 + c->min * 60 + c->sec;

	return secs * NS_PER_SEC + c->nsec;
}

void time_to_civil_utc(int64_t ns, struct civil_time *c)
{
	int64_t secs = ns / NS_PER_SEC, rem = ns % NS_PER_SEC;
	int64_t days, sod;

	if (rem < 0) {
		rem += NS_PER_SEC;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	time_civil_from_days(days, &c->year, &c->month, &c->day);
	c->hour = (int)(sod / 3600);
	c->min = (int)(sod / 60 % 60);
	c->sec = (int)(sod % 60);
	c->nsec = (long)rem;
}

int time_days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (month < 1 || month > 12)
		return 0;
	return days[month - 1] + (month == 2 && leap);
}

int64_t time_ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * NS_PER_SEC + t->tv_nsec;
}

int64_t time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return time_ns_of(&ts);
}

int64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return time_ns_of(&ts);
}

struct timespec time_after(clockid_t clock, int64_t ns)
{
	struct timespec t;

	clock_gettime(clock, &t);
	t.tv_sec += (time_t)(ns / NS_PER_SEC);
	t.tv_nsec += (long)(ns % NS_PER_SEC);
	if (t.tv_nsec >= NS_PER_SEC) {
		t.tv_sec++;
		t.tv_nsec -= NS_PER_SEC;
	}
	return t;
}

/* Writes v as exactly n decimal digits at p; returns p + n. */
static char *put_digits(char *p, long v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

size_t time_format_rfc3339(int64_t ns, char out[TIME_RFC3339_LEN])
{
	struct civil_time c;
	char *p = out;

	time_to_civil_utc(ns, &c);
	if (c.year < 0 || c.year > 9999) /* outside RFC 3339: keep the digits readable */
		return (size_t)snprintf(out, TIME_RFC3339_LEN, "%d-%02d-%02dT%02d:%02d:%02dZ",
					c.year, c.month, c.day, c.hour, c.min, c.sec);
	p = put_digits(p, c.year, 4);
	*p++ = '-';
	p = put_digits(p, c.month, 2);
	*p++ = '-';
	p = put_digits(p, c.day, 2);
	*p++ = 'T';
	p = put_digits(p, c.hour, 2);
	*p++ = ':';
	p = put_digits(p, c.min, 2);
	*p++ = ':';
	p = put_digits(p, c.sec, 2);
	if (c.nsec) {
		*p++ = '.';
		if (c.nsec % 1000000 == 0)
			p = put_digits(p, c.nsec / 1000000, 3);
		else if (c.nsec % 1000 == 0)
			p = put_digits(p, c.nsec / 1000, 6);
		else
			p = put_digits(p, c.nsec, 9);
	}
	*p++ = 'Z';
	*p = '\0';
	return (size_t)(p - out);
}

/* ---- parsing ---- */

/* n digits at s[*i] as a number, or -1. */
static int digits(const char *s, size_t len, size_t *i, unsigned n)
{
	int v = 0;

	for (unsigned k = 0; k < n; k++, (*i)++) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
	}
	return v;
}

/* The expected byte c at s[*i]. */
static bool byte_is(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return false;
	(*i)++;
	return true;
}

int time_parse_rfc3339(const char *s, size_t len, int64_t *ns, size_t *bad)
{
	int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
	size_t i = 0, start;
	int64_t frac = 0, secs, out;
	unsigned nd = 0;

	if ((year = digits(s, len, &i, 4)) < 0 || !byte_is(s, len, &i, '-') ||
	    (mon = digits(s, len, &i, 2)) < 1 || mon > 12 || !byte_is(s, len, &i, '-'))
		goto bad;
	start = i;
	if ((day = digits(s, len, &i, 2)) < 1 || day > time_days_in_month(year, mon)) {
		i = i > start ? start : i;
		goto bad;
	}
	if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
		goto bad;
	i++;
	start = i;
	if ((hour = digits(s, len, &i, 2)) < 0 || hour > 23) {
		i = start;
		goto bad;
	}
	if (!byte_is(s, len, &i, ':'))
		goto bad;
	start = i;
	if ((min = digits(s, len, &i, 2)) < 0 || min > 59) {
		i = start;
		goto bad;
	}
	if (!byte_is(s, len, &i, ':'))
		goto bad;
	start = i;
	if ((sec = digits(s, len, &i, 2)) < 0 || sec > 59) {
		i = start;
		goto bad;
	}
	if (i < len && s[i] == '.') {
		i++;
		if (i >= len || s[i] < '0' || s[i] > '9')
			goto bad;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
			if (nd < 9)
				frac = frac * 10 + (s[i] - '0');
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		sign = s[i] == '+' ? 1 : -1;
		i++;
		start = i;
		if ((oh = digits(s, len, &i, 2)) < 0 || oh > 23) {
			i = start;
			goto bad;
		}
		if (!byte_is(s, len, &i, ':'))
			goto bad;
		start = i;
		if ((om = digits(s, len, &i, 2)) < 0 || om > 59) {
			i = start;
			goto bad;
		}
	} else {
		goto bad;
	}
	if (i != len)
		goto bad;
	secs = time_days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	if (secs < 0 && frac) { /* so that the earliest representable second fits */
		secs++;
		frac -= NS_PER_SEC;
	}
	if (__builtin_mul_overflow(secs, NS_PER_SEC, &out) ||
	    __builtin_add_overflow(out, frac, &out))
		return -ERANGE;
	*ns = out;
	return 0;
bad:
	if (bad)
		*bad = i;
	return -EINVAL;
}

static int parse_relative(const char *s, size_t len, int64_t now_ns, int64_t *ns)
{
	static const struct { char unit; int64_t ns; } units[] = {
		{ 's', NS_PER_SEC }, { 'm', 60 * NS_PER_SEC }, { 'h', 3600 * NS_PER_SEC },
		{ 'd', 86400 * NS_PER_SEC }, { 'w', 7 * 86400 * NS_PER_SEC },
	};
	int64_t n = 0;
	size_t i;

	if (len == 3 && !strncasecmp(s, "now", 3)) {
		*ns = now_ns;
		return 0;
	}
	if (len < 3 || (s[0] != '-' && s[0] != '+'))
		return -EINVAL;
	for (i = 1; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9' || n > 1000000)
			return -EINVAL;
		n = n * 10 + (s[i] - '0');
	}
	for (size_t u = 0; u < ARRAY_SIZE(units); u++) {
		int64_t delta;

		if (s[len - 1] != units[u].unit)
			continue;
		if (__builtin_mul_overflow(n, units[u].ns, &delta) ||
		    __builtin_add_overflow(now_ns, s[0] == '-' ? -delta : delta, ns))
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

/* A date alone (YYYY-MM-DD): midnight UTC at its start. */
static int parse_date(const char *s, size_t len, int64_t *ns)
{
	size_t i = 0;
	int year, month, day;

	/* Nanoseconds since 1970 in 64 bits reach from 1677 to 2262. */
	if (len != 10 || (year = digits(s, len, &i, 4)) < 1678 || year > 2261 ||
	    !byte_is(s, len, &i, '-') || (month = digits(s, len, &i, 2)) < 1 || month > 12 ||
	    !byte_is(s, len, &i, '-') || (day = digits(s, len, &i, 2)) < 1 ||
	    day > time_days_in_month(year, month))
		return -EINVAL;
	*ns = time_days_from_civil(year, month, day) * 86400 * NS_PER_SEC;
	return 0;
}

int time_parse(const char *s, size_t len, int64_t now_ns, int64_t *ns)
{
	size_t bad;

	if (parse_relative(s, len, now_ns, ns) == 0)
		return 0;
	if (len != 10)
		return time_parse_rfc3339(s, len, ns, &bad) < 0 ? -EINVAL : 0;
	return parse_date(s, len, ns);
}

int time_parse_end(const char *s, size_t len, int64_t now_ns, int64_t *ns)
{
	if (parse_date(s, len, ns) < 0)
		return time_parse(s, len, now_ns, ns);
	*ns += 86400 * NS_PER_SEC - 1; /* 2261-12-31 still ends before 2262-04-11 */
	return 0;
}
