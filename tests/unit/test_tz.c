/* Unit tests of core/tz: TZif zones, DST rules, bad names. */
#include "core/err.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "t.h"
#include <stdlib.h>

#include <errno.h>
#include <pthread.h>

#define H 3600

static const struct tz *zone(const char *name)
{
	struct err e = ERR_INIT;
	const struct tz *z = tz_get(name, strlen(name), &e);

	t_check(z != NULL, __FILE__, __LINE__, "tz_get(%s): %s", name, e.msg);
	return z;
}

/* ns of a UTC civil time */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct civil_time c = { y, mo, d, h, mi, s, 0 };

	return time_from_civil_utc(&c);
}

static int64_t local(const struct tz *z, int y, int mo, int d, int h, int mi, int s)
{
	struct civil_time c = { y, mo, d, h, mi, s, 0 };

	return tz_local_to_utc(z, &c);
}

static void test_utc_builtin(void)
{
	const struct tz *z = zone("UTC"), *e = zone("Etc/UTC");

	if (!z || !e)
		return;
	CHECK_STR(tz_name(z), "UTC");
	CHECK_STR(tz_name(e), "Etc/UTC");
	CHECK_INT(tz_offset_at(z, utc(2024, 7, 1, 0, 0, 0)), 0);
	CHECK_INT(local(z, 2024, 3, 10, 2, 30, 0), utc(2024, 3, 10, 2, 30, 0));
}

static void test_tokyo(void)
{
	const struct tz *z = zone("Asia/Tokyo");

	if (!z)
		return;
	CHECK_STR(tz_name(z), "Asia/Tokyo");
	CHECK(zone("Asia/Tokyo") == z); /* cached */
	CHECK_INT(tz_offset_at(z, utc(2024, 1, 15, 0, 0, 0)), 9 * H);
	CHECK_INT(tz_offset_at(z, utc(2024, 7, 15, 0, 0, 0)), 9 * H);
	CHECK_INT(tz_offset_at(z, utc(2100, 7, 15, 0, 0, 0)), 9 * H); /* footer rule */
	CHECK_INT(tz_offset_at(z, utc(1990, 7, 15, 0, 0, 0)), 9 * H);
	CHECK_INT(local(z, 2026, 1, 1, 9, 0, 0), utc(2026, 1, 1, 0, 0, 0));
}

static void test_new_york_dst(void)
{
	const struct tz *z = zone("America/New_York");

	if (!z)
		return;
	/* 2024: DST from 2024-03-10 07:00Z to 2024-11-03 06:00Z */
	CHECK_INT(tz_offset_at(z, utc(2024, 3, 10, 6, 59, 59)), -5 * H);
	CHECK_INT(tz_offset_at(z, utc(2024, 3, 10, 7, 0, 0)), -4 * H);
	CHECK_INT(tz_offset_at(z, utc(2024, 11, 3, 5, 59, 59)), -4 * H);
	CHECK_INT(tz_offset_at(z, utc(2024, 11, 3, 6, 0, 0)), -5 * H);
	/* skipped hour: 02:30 does not exist, read as 03:30 EDT */
	CHECK_INT(local(z, 2024, 3, 10, 2, 30, 0), utc(2024, 3, 10, 7, 30, 0));
	CHECK_INT(local(z, 2024, 3, 10, 1, 59, 59), utc(2024, 3, 10, 6, 59, 59));
	CHECK_INT(local(z, 2024, 3, 10, 3, 0, 0), utc(2024, 3, 10, 7, 0, 0));
	/* repeated hour: 01:30 happens twice, the earlier (EDT) wins */
	CHECK_INT(local(z, 2024, 11, 3, 1, 30, 0), utc(2024, 11, 3, 5, 30, 0));
	CHECK_INT(local(z, 2024, 11, 3, 2, 0, 0), utc(2024, 11, 3, 7, 0, 0));
	CHECK_INT(local(z, 2024, 7, 4, 12, 0, 0), utc(2024, 7, 4, 16, 0, 0));
	/* far future: the footer rule EST5EDT,M3.2.0,M11.1.0 (2090-03-12, 2090-11-05) */
	CHECK_INT(tz_offset_at(z, utc(2090, 3, 12, 6, 59, 59)), -5 * H);
	CHECK_INT(tz_offset_at(z, utc(2090, 3, 12, 7, 0, 0)), -4 * H);
	CHECK_INT(tz_offset_at(z, utc(2090, 11, 5, 5, 59, 59)), -4 * H);
	CHECK_INT(tz_offset_at(z, utc(2090, 11, 5, 6, 0, 0)), -5 * H);
	CHECK_INT(local(z, 2090, 3, 12, 2, 30, 0), utc(2090, 3, 12, 7, 30, 0));
	CHECK_INT(local(z, 2090, 11, 5, 1, 30, 0), utc(2090, 11, 5, 5, 30, 0));
	/* before the first transition: local mean time type 0 */
	CHECK(tz_offset_at(z, utc(1800, 1, 1, 0, 0, 0)) < -4 * H);
}

static void test_london(void)
{
	const struct tz *z = zone("Europe/London");

	if (!z)
		return;
	/* 2025: BST from 2025-03-30 01:00Z to 2025-10-26 01:00Z */
	CHECK_INT(tz_offset_at(z, utc(2025, 3, 30, 0, 59, 59)), 0);
	CHECK_INT(tz_offset_at(z, utc(2025, 3, 30, 1, 0, 0)), H);
	CHECK_INT(tz_offset_at(z, utc(2025, 10, 26, 0, 59, 59)), H);
	CHECK_INT(tz_offset_at(z, utc(2025, 10, 26, 1, 0, 0)), 0);
	CHECK_INT(local(z, 2025, 10, 26, 1, 30, 0), utc(2025, 10, 26, 0, 30, 0));
	/* footer GMT0BST,M3.5.0/1,M10.5.0 in 2095: last Sundays are 03-27 and 10-30 */
	CHECK_INT(tz_offset_at(z, utc(2095, 3, 27, 0, 59, 59)), 0);
	CHECK_INT(tz_offset_at(z, utc(2095, 3, 27, 1, 0, 0)), H);
	CHECK_INT(tz_offset_at(z, utc(2095, 10, 30, 0, 59, 59)), H);
	CHECK_INT(tz_offset_at(z, utc(2095, 10, 30, 1, 0, 0)), 0);
}

static void test_southern_hemisphere(void)
{
	const struct tz *z = zone("Australia/Sydney");

	if (!z)
		return;
	CHECK_INT(tz_offset_at(z, utc(2095, 1, 15, 0, 0, 0)), 11 * H);
	CHECK_INT(tz_offset_at(z, utc(2095, 7, 15, 0, 0, 0)), 10 * H);
}

static void test_bad_names(void)
{
	static const char *const bad[] = {
		"", "/etc/passwd", "../../etc/passwd", "Asia/../../etc/passwd", "Asia/Tokyo/",
		"Asia//Tokyo", "Asia/To kyo", "Asia/Tokyo\n", ".hidden", "No/Such_Zone",
		"Asia", /* a directory, not a file */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = ERR_INIT;

		t_check(tz_get(bad[i], strlen(bad[i]), &e) == NULL, __FILE__, __LINE__,
			"tz_get(\"%s\") accepted", bad[i]);
		t_check(e.code < 0 && e.msg[0], __FILE__, __LINE__, "no error for \"%s\"", bad[i]);
	}
	/* not a TZif file, inside the zone directory */
	{
		struct err e = ERR_INIT;

		CHECK(tz_get("zone.tab", 8, &e) == NULL);
		CHECK_INT(e.code, -EINVAL);
	}
}

static const char *const shared_zones[] = { "Europe/Paris", "America/Chicago", "Asia/Seoul" };

static void *get_zones(void *out)
{
	const struct tz **got = out;

	for (int round = 0; round < 100; round++)
		for (size_t i = 0; i < 3; i++)
			got[i] = tz_get(shared_zones[i], strlen(shared_zones[i]), NULL);
	return NULL;
}

/* Threads loading the same zones at once all get the one cached copy. */
static void test_concurrent_get(void)
{
	pthread_t th[4];
	const struct tz *got[4][3];

	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&th[i], NULL, get_zones, got[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 3; k++)
			CHECK(got[i][k] != NULL && got[i][k] == got[0][k]);
}

/* "local" is the machine's zone: $TZ first, resolved once. */
static void test_local_zone(void)
{
	const struct tz *z = tz_local();

	CHECK(z != NULL);
	CHECK_STR(tz_name(z), "America/New_York");
	CHECK(tz_get("local", 5, NULL) == z);
}

int main(void)
{
	setenv("TZ", ":America/New_York", 1);
	T_RUN(test_local_zone);
	T_RUN(test_utc_builtin);
	T_RUN(test_tokyo);
	T_RUN(test_new_york_dst);
	T_RUN(test_london);
	T_RUN(test_southern_hemisphere);
	T_RUN(test_bad_names);
	T_RUN(test_concurrent_get);
	return t_done();
}
