/*
 * timeutil.h - calendar arithmetic on nanosecond Unix times, without the C library's
 * global time zone state (gmtime/localtime are banned).
 *
 * Times are int64_t nanoseconds since 1970-01-01T00:00:00Z ("ns"). Pure functions,
 * any thread.
 */
#ifndef CORE_TIMEUTIL_H
#define CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NS_PER_SEC INT64_C(1000000000)

struct civil_time {
	int year;  /* e.g. 2026 */
	int month; /* 1..12 */
	int day;   /* 1..31 */
	int hour, min, sec;
	long nsec; /* 0..999999999 */
};

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t time_days_from_civil(int year, int month, int day);
/* Inverse of time_days_from_civil. */
void time_civil_from_days(int64_t days, int *year, int *month, int *day);
/* ns of a civil time read as UTC. */
int64_t time_from_civil_utc(const struct civil_time *c);
/* Civil UTC fields of ns. */
void time_to_civil_utc(int64_t ns, struct civil_time *c);
/* Days in month (1..12) of year. */
int time_days_in_month(int year, int month);
/* Current wall-clock time. */
int64_t time_now_ns(void);
/* CLOCK_MONOTONIC in ns: for intervals and deadlines, never for stamps. Any thread. */
int64_t time_mono_ns(void);
/* t in ns (a file's times, a clock's reading). */
int64_t time_ns_of(const struct timespec *t);
/* clock's reading ns from now (ns >= 0): the deadline of a timed wait on that clock. */
struct timespec time_after(clockid_t clock, int64_t ns);

/*
 * Parses a time as people type it into queries and options, into ns since the epoch:
 *   RFC 3339: 2026-11-30T01:02:03Z, 2026-11-30T10:02:03.5+09:00 (T or a space)
 *   a date:   2026-11-30 (midnight UTC)
 *   relative: now, -24h, -7d, -30m, -10s, +1h (to now_ns)
 * Returns 0, or -EINVAL when s[0..len) is none of these, names an impossible date, or lies
 * outside the years 1678-2261 that 64-bit nanoseconds can hold.
 */
int time_parse(const char *s, size_t len, int64_t now_ns, int64_t *ns);
/*
 * The same for an inclusive upper bound (`--to`, the API's `to`): a date alone is the last
 * nanosecond of that day (UTC), as Elasticsearch rounds a date-only upper bound up, so that
 * `--to 2026-12-01` takes all of Dec 1; any other form is time_parse's.
 */
int time_parse_end(const char *s, size_t len, int64_t now_ns, int64_t *ns);
/*
 * The one RFC 3339 date-time parser (ECS @timestamp, query times, option values):
 * YYYY-MM-DD(T|t| )hh:mm:ss[.fraction](Z|z|+hh:mm|-hh:mm), seconds 00-59, any number of
 * fraction digits (nanoseconds kept). 0, -EINVAL with *bad set to the offset of the first
 * wrong byte, or -ERANGE outside int64_t ns (years 1678-2262).
 */
int time_parse_rfc3339(const char *s, size_t len, int64_t *ns, size_t *bad);

#define TIME_RFC3339_LEN 40
/*
 * Writes ns as RFC 3339 UTC ("2026-11-25T03:04:05.123Z"): 3, 6 or 9 fractional digits,
 * as few as keep the value exact, none when it is a whole second. Returns the length.
 */
size_t time_format_rfc3339(int64_t ns, char out[TIME_RFC3339_LEN]);

#endif
