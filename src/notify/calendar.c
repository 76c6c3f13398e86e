#include "notify/calendar.h"
#include "core/compat.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"

/*
 * Asia/Tokyo is UTC+9 all year since 1952 (the zone files say the same): a constant, so the
 * calendar needs no zone files and never depends on the machine's tzdata.
 */
#define JST_OFFSET_S (9 * 3600)

/* Weekday of days since 1970-01-01 (a Thursday): 0 Sunday .. 6 Saturday. */
static int wday_of(int64_t days)
{
	int64_t w = (days + 4) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

/* The day of the month of the n-th (1..5) Monday of year-month. */
static int nth_monday(int year, int month, int n)
{
	int first = wday_of(time_days_from_civil(year, month, 1));
	int first_monday = 1 + (8 - first) % 7;

	return first_monday + 7 * (n - 1);
}

/* The equinox day in March (vernal) or September; 0 outside 1980-2099. */
static int equinox(int year, bool vernal)
{
	double base = vernal ? 20.8431 : 23.2488;
	int y = year - 1980;

	if (year < 1980 || year > 2099)
		return 0;
	return (int)(base + 0.242194 * y - (double)(y / 4));
}

/* The one-off holidays of special laws (in the years this calendar covers). */
static const struct calendar_holiday one_off[] = {
	{ 1989, 2, 24, "昭和天皇の大喪の礼", "State Funeral of Emperor Shōwa" },
	{ 1990, 11, 12, "即位礼正殿の儀", "Enthronement Ceremony" },
	{ 1993, 6, 9, "皇太子徳仁親王の結婚の儀", "Wedding of Crown Prince Naruhito" },
	{ 2019, 5, 1, "天皇の即位の日", "Emperor's Accession Day" },
	{ 2019, 10, 22, "即位礼正殿の儀の行われる日", "Enthronement Ceremony Day" },
};

/* The national holiday proper (国民の祝日 of the law, a one-off day or an operator's day). */
static bool proper(const struct calendar *c, int y, int m, int d, struct calendar_holiday *out)
{
	const char *ja = NULL, *en = NULL;

#define H(J, E) (ja = (J), en = (E))
	if (m == 1 && d == 1 && y >= 1949)
		H("元日", "New Year's Day");
	else if (m == 1 && y >= 1949 && d == (y < 2000 ? 15 : nth_monday(y, 1, 2)))
		H("成人の日", "Coming of Age Day");
	else if (m == 2 && d == 11 && y >= 1967)
		H("建国記念の日", "National Foundation Day");
	else if (m == 2 && d == 23 && y >= 2020)
		H("天皇誕生日", "Emperor's Birthday");
	else if (m == 3 && d == equinox(y, true))
		H("春分の日", "Vernal Equinox Day");
	else if (m == 4 && d == 29 && y >= 1949 && y < 1989)
		H("天皇誕生日", "Emperor's Birthday");
	else if (m == 4 && d == 29 && y >= 1989 && y < 2007)
		H("みどりの日", "Greenery Day");
	else if (m == 4 && d == 29 && y >= 2007)
		H("昭和の日", "Shōwa Day");
	else if (m == 5 && d == 3 && y >= 1949)
		H("憲法記念日", "Constitution Memorial Day");
	else if (m == 5 && d == 4 && y >= 2007)
		H("みどりの日", "Greenery Day");
	else if (m == 5 && d == 5 && y >= 1949)
		H("こどもの日", "Children's Day");
	else if (m == 7 && y >= 1996 &&
		 d == (y == 2020 ? 23 : y == 2021 ? 22 : y < 2003 ? 20 : nth_monday(y, 7, 3)))
		H("海の日", "Marine Day");
	else if (m == 7 && ((y == 2020 && d == 24) || (y == 2021 && d == 23)))
		H("スポーツの日", "Sports Day");
	else if (m == 8 && y >= 2016 && d == (y == 2020 ? 10 : y == 2021 ? 8 : 11))
		H("山の日", "Mountain Day");
	else if (m == 9 && y >= 1966 && d == (y < 2003 ? 15 : nth_monday(y, 9, 3)))
		H("敬老の日", "Respect for the Aged Day");
	else if (m == 9 && d == equinox(y, false))
		H("秋分の日", "Autumnal Equinox Day");
	else if (m == 10 && y >= 1966 && y < 2020 && d == (y < 2000 ? 10 : nth_monday(y, 10, 2)))
		H("体育の日", "Health and Sports Day");
	else if (m == 10 && y >= 2022 && d == nth_monday(y, 10, 2))
		H("スポーツの日", "Sports Day");
	else if (m == 11 && d == 3 && y >= 1948)
		H("文化の日", "Culture Day");
	else if (m == 11 && d == 23 && y >= 1948)
		H("勤労感謝の日", "Labour Thanksgiving Day");
	else if (m == 12 && d == 23 && y >= 1989 && y <= 2018)
		H("天皇誕生日", "Emperor's Birthday");
#undef H
	for (size_t i = 0; !ja && i < ARRAY_SIZE(one_off); i++)
		if (one_off[i].year == y && one_off[i].month == m && one_off[i].day == d) {
			ja = one_off[i].ja;
			en = one_off[i].en;
		}
	if (!ja && c) {
		int64_t days = time_days_from_civil(y, m, d);

		for (size_t i = 0; !ja && i < c->n_holidays; i++)
			if (days >= c->holidays[i].from && days <= c->holidays[i].to) {
				ja = c->holidays[i].name;
				en = c->holidays[i].name_en ? c->holidays[i].name_en : ja;
			}
	}
	if (!ja)
		return false;
	if (out)
		*out = (struct calendar_holiday){ y, m, d, ja, en };
	return true;
}

static bool proper_days(const struct calendar *c, int64_t days)
{
	int y, m, d;

	time_civil_from_days(days, &y, &m, &d);
	return proper(c, y, m, d, NULL);
}

/* 振替休日: days is no holiday proper and follows a Sunday holiday (rules above). */
static bool substitute(const struct calendar *c, int64_t days)
{
	int64_t first_law = time_days_from_civil(1973, 4, 12), modern = time_days_from_civil(2007, 1, 1);

	if (days >= modern) {
		/* the first day after a run of holidays that holds a Sunday */
		for (int64_t p = days - 1; p > days - 8 && proper_days(c, p); p--)
			if (wday_of(p) == 0)
				return true;
		return false;
	}
	return wday_of(days - 1) == 0 && days - 1 >= first_law && proper_days(c, days - 1);
}

static bool citizens(const struct calendar *c, int64_t days)
{
	if (days < time_days_from_civil(1985, 12, 27))
		return false;
	if (days < time_days_from_civil(2007, 1, 1) && (wday_of(days) == 0 || substitute(c, days)))
		return false;
	return proper_days(c, days - 1) && proper_days(c, days + 1);
}

bool calendar_holiday(const struct calendar *c, int year, int month, int day,
		      struct calendar_holiday *out)
{
	int64_t days;

	if (month < 1 || month > 12 || day < 1 || day > time_days_in_month(year, month))
		return false;
	if (proper(c, year, month, day, out))
		return true;
	days = time_days_from_civil(year, month, day);
	if (substitute(c, days)) {
		if (out)
			*out = (struct calendar_holiday){ year, month, day, "振替休日",
							  "Substitute Holiday" };
		return true;
	}
	if (citizens(c, days)) {
		if (out)
			*out = (struct calendar_holiday){ year, month, day, "国民の休日",
							  "Citizens' Holiday" };
		return true;
	}
	return false;
}

size_t calendar_year(const struct calendar *c, int year, struct calendar_holiday *out, size_t max)
{
	size_t n = 0;

	for (int m = 1; m <= 12; m++)
		for (int d = 1, end = time_days_in_month(year, m); d <= end; d++) {
			struct calendar_holiday h;

			if (calendar_holiday(c, year, m, d, &h) && n < max)
				out[n++] = h;
		}
	return n;
}

void calendar_day(const struct calendar *c, int64_t days, struct calendar_day *out)
{
	memset(out, 0, sizeof(*out));
	time_civil_from_days(days, &out->year, &out->month, &out->day);
	out->wday = wday_of(days);
	if (out->wday == 0 || out->wday == 6)
		out->kinds |= CALENDAR_WEEKEND;
	if (calendar_holiday(c, out->year, out->month, out->day, &out->holiday))
		out->kinds |= CALENDAR_HOLIDAY;
	if ((out->month == 12 && out->day >= 29) || (out->month == 1 && out->day <= 3))
		out->kinds |= CALENDAR_YEAR_END;
	for (size_t i = 0; c && i < c->n_closures; i++)
		if (days >= c->closures[i].from && days <= c->closures[i].to) {
			out->kinds |= CALENDAR_CLOSURE;
			out->closure = c->closures[i].name;
			break;
		}
	if (!out->kinds)
		out->kinds = CALENDAR_BUSINESS;
}

int64_t calendar_nth_business_day(const struct calendar *c, int year, int month, int n)
{
	struct calendar_day d;

	if (month < 1 || month > 12 || n < 1)
		return -1;
	for (int day = 1, end = time_days_in_month(year, month); day <= end; day++) {
		int64_t days = time_days_from_civil(year, month, day);

		calendar_day(c, days, &d);
		if (d.kinds == CALENDAR_BUSINESS && --n == 0)
			return days;
	}
	return -1;
}

int64_t calendar_local(int64_t at_ns, int *minute)
{
	int64_t s = at_ns / NS_PER_SEC - (at_ns % NS_PER_SEC < 0) + JST_OFFSET_S;
	int64_t days = s / 86400 - (s % 86400 < 0);

	if (minute)
		*minute = (int)((s - days * 86400) / 60);
	return days;
}

const char *calendar_kind_name(enum calendar_kind k)
{
	switch (k) {
	case CALENDAR_BUSINESS:
		return "business";
	case CALENDAR_WEEKEND:
		return "weekend";
	case CALENDAR_HOLIDAY:
		return "holiday";
	case CALENDAR_YEAR_END:
		return "year_end";
	case CALENDAR_CLOSURE:
		return "closure";
	}
	return NULL;
}

const char *calendar_wday_name(int wday)
{
	static const char *const names[] = { "Sunday", "Monday", "Tuesday", "Wednesday",
					     "Thursday", "Friday", "Saturday" };

	return wday >= 0 && wday < 7 ? names[wday] : "?";
}

size_t calendar_describe(const struct calendar_day *d, char *out, size_t max)
{
	int n = snprintf(out, max, "%04d-%02d-%02d (%s) is ", d->year, d->month, d->day,
			 calendar_wday_name(d->wday));
	const char *sep = "";

	if (d->kinds & CALENDAR_BUSINESS)
		n += snprintf(out + n, max > (size_t)n ? max - (size_t)n : 0, "a business day");
	if (d->kinds & CALENDAR_HOLIDAY) {
		n += snprintf(out + n, max > (size_t)n ? max - (size_t)n : 0,
			      "a national holiday (%s)", d->holiday.ja);
		sep = ", ";
	}
	if (d->kinds & CALENDAR_YEAR_END) {
		n += snprintf(out + n, max > (size_t)n ? max - (size_t)n : 0,
			      "%sin the year-end closure (12/29-1/3)", sep);
		sep = ", ";
	}
	if (d->kinds & CALENDAR_CLOSURE) {
		n += snprintf(out + n, max > (size_t)n ? max - (size_t)n : 0,
			      "%sa tenant closure (%s)", sep, d->closure);
		sep = ", ";
	}
	if (d->kinds & CALENDAR_WEEKEND)
		n += snprintf(out + n, max > (size_t)n ? max - (size_t)n : 0, "%sa weekend day", sep);
	return (size_t)n < max ? (size_t)n : max ? max - 1 : 0;
}
