/*
 * calendar.h - the Japanese business calendar of notification policies (issue 11):
 * national holidays computed from the Act on National Holidays (国民の祝日に関する法律) as
 * amended, the year-end closure of government offices (12/29-1/3) and tenant closures.
 *
 * Holidays (calendar_holiday):
 *   - the fixed days and the Happy Monday days of each year as the law stood that year
 *     (成人の日 Jan 15 until 1999, 2nd Monday since 2000; 海の日 Jul 20 1996-2002, 3rd Monday
 *     since 2003; 敬老の日 Sep 15 until 2002, 3rd Monday since 2003; 体育の日 Oct 10 until
 *     1999, 2nd Monday 2000-2019, スポーツの日 since 2020; 山の日 since 2016; 天皇誕生日 Apr 29
 *     until 1988, Dec 23 1989-2018, none in 2019, Feb 23 since 2020; みどりの日 Apr 29
 *     1989-2006 and May 4 since 2007, 昭和の日 Apr 29 since 2007);
 *   - the vernal and autumnal equinox days by the usual approximation, valid 1980-2099
 *     (outside those years no equinox day is computed);
 *   - the one-off days: 1989-02-24, 1990-11-12, 1993-06-09, 2019-05-01, 2019-10-22, and the
 *     Olympic moves of 2020 and 2021 (海の日, スポーツの日, 山の日);
 *   - 振替休日 (substitute holiday, for holidays on a Sunday from 1973-04-12): until 2006 the
 *     Monday after, since 2007 the first following day that is no national holiday;
 *   - 国民の休日 (citizens' holiday, since 1985-12-27): a day between two national holidays
 *     that is none itself (until 2006 not on a Sunday nor a substitute holiday).
 * Operators extend the law with their own days (struct calendar's extra holidays, e.g. a
 * future one-off change): they count as national holidays, substitutes included.
 *
 * Day kinds (calendar_day): weekend (Saturday, Sunday), holiday (above), year_end (12/29 to
 * 1/3), closure (a tenant's date range), business (none of those). A day may be several.
 *
 * Local time is Asia/Tokyo: UTC+9 all year since 1952, as core/tz.h's zone files say, kept
 * as a constant so that the calendar needs no zone files.
 *
 * Memory: names are static strings or the caller's (a struct calendar's); nothing is
 * allocated. Pure functions: any thread.
 */
#ifndef NOTIFY_CALENDAR_H
#define NOTIFY_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An inclusive range of days (days since 1970-01-01, time_days_from_civil) with a name. */
struct calendar_range {
	int64_t from, to;
	const char *name;       /* the Japanese or the only name */
	const char *name_en;    /* NULL: name */
};

struct calendar {
	const struct calendar_range *holidays;  /* extra national holidays (operator's table) */
	size_t n_holidays;
	const struct calendar_range *closures;  /* the tenant's closed days */
	size_t n_closures;
};

struct calendar_holiday {
	int year, month, day;
	const char *ja, *en;
};

/*
 * Whether year-month-day is a national holiday under the law (c may be NULL: no extra days),
 * with its names in *out (may be NULL).
 */
bool calendar_holiday(const struct calendar *c, int year, int month, int day,
		      struct calendar_holiday *out);
/* The national holidays of year in date order into out[0..max); returns how many (<= 40). */
size_t calendar_year(const struct calendar *c, int year, struct calendar_holiday *out, size_t max);

enum calendar_kind {
	CALENDAR_BUSINESS = 1 << 0,
	CALENDAR_WEEKEND = 1 << 1,
	CALENDAR_HOLIDAY = 1 << 2,
	CALENDAR_YEAR_END = 1 << 3,
	CALENDAR_CLOSURE = 1 << 4,
};

struct calendar_day {
	int year, month, day;
	int wday;               /* 0 Sunday .. 6 Saturday */
	unsigned kinds;         /* enum calendar_kind bits; CALENDAR_BUSINESS alone or the others */
	struct calendar_holiday holiday; /* when CALENDAR_HOLIDAY */
	const char *closure;    /* when CALENDAR_CLOSURE: its name */
};

/* The kinds of the day days (since 1970-01-01) under c (may be NULL). */
void calendar_day(const struct calendar *c, int64_t days, struct calendar_day *out);
/*
 * The n-th (1..31) business day of year-month under c (days since 1970-01-01): reports due
 * "by the 8th business day of the next month". -1 when the month has fewer.
 */
int64_t calendar_nth_business_day(const struct calendar *c, int year, int month, int n);
/* The Japanese local date of at_ns as days since 1970-01-01, and the minute of that day (0..1439). */
int64_t calendar_local(int64_t at_ns, int *minute);
/* The kind's name: "business" "weekend" "holiday" "year_end" "closure"; NULL for a bad bit. */
const char *calendar_kind_name(enum calendar_kind k);
/* "Sunday" ... "Saturday". */
const char *calendar_wday_name(int wday);
/* A sentence on the day: "2026-05-04 is a national holiday (みどりの日)". */
size_t calendar_describe(const struct calendar_day *d, char *out, size_t max);

#endif
