/*
 * log.h - leveled logging to stderr.
 *
 * Each .c file that logs defines LOG_MODULE (a short string such as "tcp") before
 * including this header; the macros add the level, the module and the calling function:
 *
 *   2026-11-25T12:00:00.123Z warn tcp accept_one: too many connections (1024)
 *
 * log_write() may be called from any thread; one line is written with one write(2).
 *
 * A message that can repeat as fast as a hostile peer or a failing disk can make it (a
 * framing error per connection, a write error per batch) goes through a struct log_limit:
 *
 *   static struct log_limit bad_frames = LOG_LIMIT_INIT(10); // at most 1 line per 10 s
 *   log_limited(&bad_frames, LOG_LEVEL_WARN, "%s: bad octet count from %s", name, peer);
 *
 * The first message is written; within the interval after it the others are only counted,
 * and the next line written carries " (N similar messages suppressed)". A struct log_limit
 * holds no memory, is zero-initialisable with LOG_LIMIT_INIT or log_limit_init(), and may
 * be shared by any number of threads (lock-free).
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

#ifndef LOG_MODULE
#define LOG_MODULE "koban"
#endif

void log_write(enum log_level level, const char *module, const char *func,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *s, size_t len);

#define log_error(...) log_write(LOG_LEVEL_ERROR, LOG_MODULE, __func__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, LOG_MODULE, __func__, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, LOG_MODULE, __func__, __VA_ARGS__)
#define log_debug(...)                                                          \
	do {                                                                    \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                         \
			log_write(LOG_LEVEL_DEBUG, LOG_MODULE, __func__, __VA_ARGS__); \
	} while (0)

struct log_limit {
	_Atomic int64_t next_ns;          /* CLOCK_MONOTONIC: no line before this */
	_Atomic uint64_t suppressed;      /* messages not written since the last line */
	int64_t interval_ns;
};

#define LOG_LIMIT_INIT(seconds) { 0, 0, (int64_t)(seconds) * 1000000000 }
void log_limit_init(struct log_limit *l, unsigned seconds);
/*
 * True when a line may be written now (the interval since the last one has passed), and
 * then *suppressed is how many were held back since that line; false counts this one as
 * suppressed. For callers that build their own line; log_limited() uses it.
 */
bool log_limit_allow(struct log_limit *l, uint64_t *suppressed);
void log_write_limited(struct log_limit *l, enum log_level level, const char *module,
		       const char *func, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define log_limited(lim, level, ...)                                                   \
	do {                                                                           \
		if ((int)(level) <= (int)log_get_level())                              \
			log_write_limited((lim), (level), LOG_MODULE, __func__, __VA_ARGS__); \
	} while (0)

/* Logs and exits with status 1: only at start-up or on a broken invariant. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
