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

int64_t time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
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

/* n decimal digits at s; -1 when one is not a digit. */
static long get_digits(const char *s, int n)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
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

/* ".fraction" (1 to 9 digits) at s[*i]; advances *i. */
static long parse_fraction(const char *s, size_t len, size_t *i)
{
	long frac = 0;
	int digits = 0;

	if (*i >= len || s[*i] != '.')
		return 0;
	for ((*i)++; *i < len && s[*i] >= '0' && s[*i] <= '9'; (*i)++)
		if (digits++ < 9)
			frac = frac * 10 + (s[*i] - '0');
	if (!digits)
		return -1;
	for (; digits < 9; digits++)
		frac *= 10;
	return frac;
}

/* "Z", "+HH:MM" or "-HH:MM" at s[i], to the end; the offset in seconds east of UTC. */
static int parse_offset(const char *s, size_t len, size_t i, long *off)
{
	long h, m;

	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		*off = 0;
		return 0;
	}
	if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return -EINVAL;
	h = get_digits(s + i + 1, 2);
	m = get_digits(s + i + 4, 2);
	if (h < 0 || m < 0 || h > 23 || m > 59)
		return -EINVAL;
	*off = (s[i] == '-' ? -1 : 1) * (h * 3600 + m * 60);
	return 0;
}

int time_parse(const char *s, size_t len, int64_t now_ns, int64_t *ns)
{
	struct civil_time c = { 0 };
	long off = 0;
	size_t i = 10;

	if (parse_relative(s, len, now_ns, ns) == 0)
		return 0;
	if (len < 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	c.year = (int)get_digits(s, 4);
	c.month = (int)get_digits(s + 5, 2);
	c.day = (int)get_digits(s + 8, 2);
	/* Nanoseconds since 1970 in 64 bits reach from 1677 to 2262. */
	if (c.year < 1678 || c.year > 2261 || c.month < 1 || c.month > 12 || c.day < 1 ||
	    c.day > time_days_in_month(c.year, c.month))
		return -EINVAL;
	if (len > 10) {
		if (len < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
		    s[16] != ':')
			return -EINVAL;
		c.hour = (int)get_digits(s + 11, 2);
		c.min = (int)get_digits(s + 14, 2);
		c.sec = (int)get_digits(s + 17, 2);
		if (c.hour < 0 || c.hour > 23 || c.min < 0 || c.min > 59 || c.sec < 0 || c.sec > 60)
			return -EINVAL;
		i = 19;
		if ((c.nsec = parse_fraction(s, len, &i)) < 0 || parse_offset(s, len, i, &off) < 0)
			return -EINVAL;
	}
	*ns = time_from_civil_utc(&c) - (int64_t)off * NS_PER_SEC;
	return 0;
}
