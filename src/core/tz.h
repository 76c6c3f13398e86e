/*
 * tz.h - IANA time zones read from the system's TZif files (/usr/share/zoneinfo),
 * without touching the process-wide TZ state that localtime() uses.
 *
 * tz_get() loads a zone once and caches it for the life of the process: the returned
 * pointer never dangles and is never freed by the caller. "UTC" and "Etc/UTC" always
 * work, even without tzdata. The name "local" (TZ_LOCAL) is the machine's zone, as
 * localtime(3) and rsyslog see it: $TZ when it names a zone file, else the zone
 * /etc/localtime links to, else /etc/timezone, else UTC; it is resolved once per process
 * and tz_name() gives the real name ("Asia/Tokyo"). Any thread may call any function.
 */
#ifndef CORE_TZ_H
#define CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct civil_time;
struct err;
struct tz;

#define TZ_LOCAL "local"

/* Zone named name[0..len) ("Asia/Tokyo", or "local"), or NULL with a message in e. */
const struct tz *tz_get(const char *name, size_t len, struct err *e);
const char *tz_name(const struct tz *z);
/* The machine's zone (see above); never NULL. */
const struct tz *tz_local(void);
/* UTC offset in seconds in effect at utc_ns. */
int32_t tz_offset_at(const struct tz *z, int64_t utc_ns);
/*
 * ns of a local wall-clock time in zone z. For a time that occurs twice (DST end) the
 * earlier instant is chosen; a time skipped by a DST start is shifted forward.
 */
int64_t tz_local_to_utc(const struct tz *z, const struct civil_time *local);

#endif
