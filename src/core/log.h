/*
 * log.h - leveled logging to stderr.
 *
 * Each .c file that logs defines LOG_MODULE (a short string such as "tcp") before
 * including this header; the macros add the level, the module and the calling function:
 *
 *   2026-11-25T12:00:00.123Z warn tcp accept_one: too many connections (1024)
 *
 * log_write() may be called from any thread; one line is written with one write(2).
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdatomic.h>
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

/*
 * A repeated failure logged at most once per interval (any thread; zero-initialised):
 *
 *   static struct log_limit no_space;
 *   uint64_t held;
 *   if (log_limit_pass(&no_space, 10, &held))
 *           log_error("write failed: %s (%llu more not logged)", ..., (unsigned long long)held);
 *
 * log_limit_pass() is true when a line may be written now and then tells in *suppressed how
 * many calls were refused since the last line; otherwise it counts this call as suppressed.
 */
struct log_limit {
	atomic_int_fast64_t next_ns;      /* monotonic time of the next allowed line */
	atomic_uint_fast64_t suppressed;
};
bool log_limit_pass(struct log_limit *l, unsigned interval_s, uint64_t *suppressed);

/* Logs and exits with status 1: only at start-up or on a broken invariant. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
