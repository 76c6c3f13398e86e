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
