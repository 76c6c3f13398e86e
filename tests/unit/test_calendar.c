/* Unit tests of the Japanese business calendar (notify/calendar.h): the full list of national
 * holidays of 2019, 2020, 2021, 2025, 2026 and 2027 as expected data, the substitute and
 * citizens' holidays, the law's older rules, the year-end closure, tenant closures, extra
 * holidays of the operator and the local date in Asia/Tokyo. */
#include "notify/calendar.h"
#include "core/timeutil.h"
#include "t.h"

#include <stdio.h>
#include <string.h>

#define NS 1000000000LL

struct want {
	const char *date; /* MM-DD */
	const char *ja;
};

/* The whole list of year against calendar_year(). */
static void check_year(int year, const struct want *w, size_t n)
{
	struct calendar_holiday got[48];
	size_t k = calendar_year(NULL, year, got, 48);

	t_check(k == n, __FILE__, __LINE__, "%d: %zu holidays, expected %zu", year, k, n);
	for (size_t i = 0; i < n && i < k; i++) {
		char date[8];

		snprintf(date, sizeof(date), "%02d-%02d", got[i].month, got[i].day);
		t_check(!strcmp(date, w[i].date) && !strcmp(got[i].ja, w[i].ja), __FILE__, __LINE__,
			"%d #%zu: %s %s, expected %s %s", year, i, date, got[i].ja, w[i].date, w[i].ja);
	}
}

#define CHECK_YEAR(y, list) check_year((y), (list), sizeof(list) / sizeof((list)[0]))

static void test_2019(void)
{
	static const struct want w[] = {
		{ "01-01", "元日" }, { "01-14", "成人の日" }, { "02-11", "建国記念の日" },
		{ "03-21", "春分の日" }, { "04-29", "昭和の日" }, { "04-30", "国民の休日" },
		{ "05-01", "天皇の即位の日" }, { "05-02", "国民の休日" }, { "05-03", "憲法記念日" },
		{ "05-04", "みどりの日" }, { "05-05", "こどもの日" }, { "05-06", "振替休日" },
		{ "07-15", "海の日" }, { "08-11", "山の日" }, { "08-12", "振替休日" },
		{ "09-16", "敬老の日" }, { "09-23", "秋分の日" }, { "10-14", "体育の日" },
		{ "10-22", "即位礼正殿の儀の行われる日" }, { "11-03", "文化の日" },
		{ "11-04", "振替休日" }, { "11-23", "勤労感謝の日" },
	};

	CHECK_YEAR(2019, w); /* 22; no Emperor's Birthday in 2019 */
}

static void test_2020(void)
{
	static const struct want w[] = {
		{ "01-01", "元日" }, { "01-13", "成人の日" }, { "02-11", "建国記念の日" },
		{ "02-23", "天皇誕生日" }, { "02-24", "振替休日" }, { "03-20", "春分の日" },
		{ "04-29", "昭和の日" }, { "05-03", "憲法記念日" }, { "05-04", "みどりの日" },
		{ "05-05", "こどもの日" }, { "05-06", "振替休日" }, { "07-23", "海の日" },
		{ "07-24", "スポーツの日" }, { "08-10", "山の日" }, { "09-21", "敬老の日" },
		{ "09-22", "秋分の日" }, { "11-03", "文化の日" }, { "11-23", "勤労感謝の日" },
	};

	CHECK_YEAR(2020, w); /* 18: the Olympic moves, no Sports Day in October */
}

static void test_2021(void)
{
	static const struct want w[] = {
		{ "01-01", "元日" }, { "01-11", "成人の日" }, { "02-11", "建国記念の日" },
		{ "02-23", "天皇誕生日" }, { "03-20", "春分の日" }, { "04-29", "昭和の日" },
		{ "05-03", "憲法記念日" }, { "05-04", "みどりの日" }, { "05-05", "こどもの日" },
		{ "07-22", "海の日" }, { "07-23", "スポーツの日" }, { "08-08", "山の日" },
		{ "08-09", "振替休日" }, { "09-20", "敬老の日" }, { "09-23", "秋分の日" },
		{ "11-03", "文化の日" }, { "11-23", "勤労感謝の日" },
	};

	CHECK_YEAR(2021, w); /* 17 */
}

static void test_2025(void)
{
	static const struct want w[] = {
		{ "01-01", "元日" }, { "01-13", "成人の日" }, { "02-11", "建国記念の日" },
		{ "02-23", "天皇誕生日" }, { "02-24", "振替休日" }, { "03-20", "春分の日" },
		{ "04-29", "昭和の日" }, { "05-03", "憲法記念日" }, { "05-04", "みどりの日" },
		{ "05-05", "こどもの日" }, { "05-06", "振替休日" }, { "07-21", "海の日" },
		{ "08-11", "山の日" }, { "09-15", "敬老の日" }, { "09-23", "秋分の日" },
		{ "10-13", "スポーツの日" }, { "11-03", "文化の日" }, { "11-23", "勤労感謝の日" },
		{ "11-24", "振替休日" },
	};

	CHECK_YEAR(2025, w); /* 19 */
}

static void test_2026(void)
{
	static const struct want w[] = {
		{ "01-01", "元日" }, { "01-12", "成人の日" }, { "02-11", "建国記念の日" },
		{ "02-23", "天皇誕生日" }, { "03-20", "春分の日" }, { "04-29", "昭和の日" },
		{ "05-03", "憲法記念日" }, { "05-04", "みどりの日" }, { "05-05", "こどもの日" },
		{ "05-06", "振替休日" }, { "07-20", "海の日" }, { "08-11", "山の日" },
		{ "09-21", "敬老の日" }, { "09-22", "国民の休日" }, { "09-23", "秋分の日" },
		{ "10-12", "スポーツの日" }, { "11-03", "文化の日" }, { "11-23", "勤労感謝の日" },
	};

	CHECK_YEAR(2026, w); /* 18, with the citizens' holiday of September */
}

static void test_2027(void)
{
	static const struct want w[] = {
		{ "01-01", "元日" }, { "01-11", "成人の日" }, { "02-11", "建国記念の日" },
		{ "02-23", "天皇誕生日" }, { "03-21", "春分の日" }, { "03-22", "振替休日" },
		{ "04-29", "昭和の日" }, { "05-03", "憲法記念日" }, { "05-04", "みどりの日" },
		{ "05-05", "こどもの日" }, { "07-19", "海の日" }, { "08-11", "山の日" },
		{ "09-20", "敬老の日" }, { "09-23", "秋分の日" }, { "10-11", "スポーツの日" },
		{ "11-03", "文化の日" }, { "11-23", "勤労感謝の日" },
	};

	CHECK_YEAR(2027, w); /* 17: the vernal equinox on a Sunday */
}

static void test_edges(void)
{
	struct calendar_holiday h;

	/* a Sunday holiday, the Monday after is the substitute */
	CHECK(calendar_holiday(NULL, 2021, 8, 9, &h));
	CHECK_STR(h.en, "Substitute Holiday");
	CHECK(calendar_holiday(NULL, 2025, 2, 24, &h));
	CHECK_STR(h.ja, "振替休日");
	/* 2026-09-22, Tuesday, between two holidays */
	CHECK(calendar_holiday(NULL, 2026, 9, 22, &h));
	CHECK_STR(h.ja, "国民の休日");
	CHECK_STR(h.en, "Citizens' Holiday");
	CHECK(!calendar_holiday(NULL, 2026, 9, 24, NULL));
	/* the old rules: before 2007 the substitute is the Monday only, May 4 a citizens' day */
	CHECK(calendar_holiday(NULL, 2006, 5, 4, &h)); /* Thursday between two holidays */
	CHECK_STR(h.ja, "国民の休日");
	CHECK(!calendar_holiday(NULL, 2003, 5, 6, NULL)); /* May 4 2003 was a Sunday: no substitute */
	CHECK(calendar_holiday(NULL, 2018, 12, 24, &h)); /* Dec 23 2018 Sunday */
	CHECK_STR(h.ja, "振替休日");
	CHECK(calendar_holiday(NULL, 1999, 1, 15, &h));
	CHECK_STR(h.ja, "成人の日");
	CHECK(calendar_holiday(NULL, 1973, 4, 30, &h)); /* the first substitute */
	CHECK(!calendar_holiday(NULL, 1973, 2, 12, NULL)); /* Feb 11 1973, Sunday, before the law */
	CHECK(calendar_holiday(NULL, 2020, 2, 23, &h));
	CHECK_STR(h.en, "Emperor's Birthday");
	CHECK(!calendar_holiday(NULL, 2019, 12, 23, NULL));
	CHECK(!calendar_holiday(NULL, 2026, 2, 30, NULL));
	CHECK(!calendar_holiday(NULL, 2026, 13, 1, NULL));
	/* the equinoxes of the reference, and none outside 1980-2099 */
	CHECK(calendar_holiday(NULL, 2099, 9, 23, NULL) || calendar_holiday(NULL, 2099, 9, 22, NULL));
	CHECK_INT(calendar_year(NULL, 2100, (struct calendar_holiday[40]){ { 0 } }, 40), 14);
}

static void test_days(void)
{
	struct calendar_range closures[] = {
		{ time_days_from_civil(2026, 8, 13), time_days_from_civil(2026, 8, 14), "お盆休み", NULL },
	};
	struct calendar_range extra[] = {
		{ time_days_from_civil(2026, 6, 7), time_days_from_civil(2026, 6, 7), "臨時の祝日",
		  "Extra Holiday" },
	};
	struct calendar c = { extra, 1, closures, 1 };
	struct calendar_day d;
	char text[256];

	calendar_day(&c, time_days_from_civil(2026, 5, 4), &d);
	CHECK_INT(d.kinds, CALENDAR_HOLIDAY);
	calendar_describe(&d, text, sizeof(text));
	CHECK_STR(text, "2026-05-04 (Monday) is a national holiday (みどりの日)");
	calendar_day(&c, time_days_from_civil(2026, 5, 7), &d);
	CHECK_INT(d.kinds, CALENDAR_BUSINESS);
	calendar_day(&c, time_days_from_civil(2026, 5, 9), &d);
	CHECK_INT(d.kinds, CALENDAR_WEEKEND);
	calendar_day(&c, time_days_from_civil(2027, 1, 1), &d);
	CHECK_INT(d.kinds, CALENDAR_HOLIDAY | CALENDAR_YEAR_END);
	calendar_describe(&d, text, sizeof(text));
	CHECK_STR(text, "2027-01-01 (Friday) is a national holiday (元日), in the year-end closure (12/29-1/3)");
	calendar_day(&c, time_days_from_civil(2026, 12, 29), &d);
	CHECK_INT(d.kinds, CALENDAR_YEAR_END);
	calendar_day(&c, time_days_from_civil(2027, 1, 4), &d);
	CHECK_INT(d.kinds, CALENDAR_BUSINESS);
	calendar_day(&c, time_days_from_civil(2026, 8, 14), &d);
	CHECK_INT(d.kinds, CALENDAR_CLOSURE);
	CHECK_STR(d.closure, "お盆休み");
	calendar_day(&c, time_days_from_civil(2026, 8, 15), &d);
	CHECK_INT(d.kinds, CALENDAR_WEEKEND);
	/* the operator's holiday on a Sunday has a substitute */
	calendar_day(&c, time_days_from_civil(2026, 6, 7), &d);
	CHECK_INT(d.kinds, CALENDAR_HOLIDAY | CALENDAR_WEEKEND);
	CHECK_STR(d.holiday.en, "Extra Holiday");
	calendar_day(&c, time_days_from_civil(2026, 6, 8), &d);
	CHECK_INT(d.kinds, CALENDAR_HOLIDAY);
	CHECK_STR(d.holiday.ja, "振替休日");
	calendar_day(NULL, time_days_from_civil(2026, 6, 8), &d);
	CHECK_INT(d.kinds, CALENDAR_BUSINESS);
	CHECK_STR(calendar_kind_name(CALENDAR_YEAR_END), "year_end");
}

static void test_business_days(void)
{
	struct calendar_range closures[] = {
		{ time_days_from_civil(2026, 5, 7), time_days_from_civil(2026, 5, 7), "closed", NULL },
	};
	struct calendar c = { NULL, 0, closures, 1 };

	/* May 2026: 1 (Fri), then the holidays 3-6, so 7, 8, 11, 12, 13, 14, 15 */
	CHECK_INT(calendar_nth_business_day(NULL, 2026, 5, 1), time_days_from_civil(2026, 5, 1));
	CHECK_INT(calendar_nth_business_day(NULL, 2026, 5, 2), time_days_from_civil(2026, 5, 7));
	CHECK_INT(calendar_nth_business_day(NULL, 2026, 5, 8), time_days_from_civil(2026, 5, 15));
	CHECK_INT(calendar_nth_business_day(&c, 2026, 5, 2), time_days_from_civil(2026, 5, 8));
	/* January 2027: 1-3 closed (year-end), 4 Mon, 11 成人の日 */
	CHECK_INT(calendar_nth_business_day(NULL, 2027, 1, 1), time_days_from_civil(2027, 1, 4));
	CHECK_INT(calendar_nth_business_day(NULL, 2027, 1, 6), time_days_from_civil(2027, 1, 12));
	CHECK_INT(calendar_nth_business_day(NULL, 2026, 5, 31), -1);
	CHECK_INT(calendar_nth_business_day(NULL, 2026, 13, 1), -1);
}

static void test_local(void)
{
	int minute = -1;
	/* 2026-05-03T17:00:00Z is 2026-05-04 02:00 in Tokyo */
	int64_t at = time_days_from_civil(2026, 5, 3) * 86400 * NS + 17 * 3600 * NS;

	CHECK_INT(calendar_local(at, &minute), time_days_from_civil(2026, 5, 4));
	CHECK_INT(minute, 120);
	CHECK_INT(calendar_local(at - 2 * 3600 * NS - 1, &minute), time_days_from_civil(2026, 5, 3));
	CHECK_INT(minute, 23 * 60 + 59);
	CHECK_INT(calendar_local(-1, &minute), 0); /* 1970-01-01 08:59:59 JST */
	CHECK_INT(minute, 8 * 60 + 59);
}

int main(void)
{
	T_RUN(test_2019);
	T_RUN(test_2020);
	T_RUN(test_2021);
	T_RUN(test_2025);
	T_RUN(test_2026);
	T_RUN(test_2027);
	T_RUN(test_edges);
	T_RUN(test_days);
	T_RUN(test_business_days);
	T_RUN(test_local);
	return t_done();
}
