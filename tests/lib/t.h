/*
 * t.h - the unit test harness.
 *
 * A test file defines static void functions and lists them in main:
 *
 *   static void test_parse_pri(void) { CHECK_INT(rfc3164_pri("<13>"), 13); }
 *   int main(void) { T_RUN(test_parse_pri); return t_done(); }
 *
 * Each test prints "PASS name" or "FAIL name: file:line: what", which tests/run counts.
 * CHECK* keep going after a failure so one run shows every broken expectation.
 * t_data_dir() is tests/data; t_shared_dir() is ../shared/data, or NULL (then call
 * t_skip with a message) when the shared samples are absent.
 */
#ifndef TESTS_T_H
#define TESTS_T_H

#include <stddef.h>
#include <string.h>

void t_begin(const char *name);
void t_end(void);
int t_check(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void t_skip(const char *why);
int t_done(void);
/* Current test's name. */
const char *t_name(void);
const char *t_data_dir(void);
const char *t_shared_dir(void);
/*
 * A scratch directory for this test program, made on first use and removed with
 * everything in it by t_done(); NULL (with a FAIL) when it cannot be made.
 */
const char *t_tmp_dir(void);
/* Reads a whole file into a malloc'ed NUL-terminated buffer, or NULL. */
char *t_read_file(const char *path, size_t *len);

#define T_RUN(fn) do { t_begin(#fn); fn(); t_end(); } while (0)

#define CHECK(c) t_check(!!(c), __FILE__, __LINE__, "%s", #c)
#define CHECK_INT(a, b)                                                          \
	do {                                                                     \
		long long a_ = (long long)(a), b_ = (long long)(b);              \
		t_check(a_ == b_, __FILE__, __LINE__, "%s == %s: %lld != %lld",  \
			#a, #b, a_, b_);                                         \
	} while (0)
#define CHECK_STR(a, b)                                                          \
	do {                                                                     \
		const char *a_ = (a), *b_ = (b);                                 \
		t_check(a_ && b_ && !strcmp(a_, b_), __FILE__, __LINE__,         \
			"%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
			b_ ? b_ : "(null)");                                     \
	} while (0)
/* Compares a (pointer, length) string with a C string. */
#define CHECK_MEM(p, n, s)                                                       \
	do {                                                                     \
		const char *p_ = (p), *s_ = (s);                                 \
		size_t n_ = (n);                                                 \
		t_check(p_ && strlen(s_) == n_ && !memcmp(p_, s_, n_), __FILE__, \
			__LINE__, "%s == \"%s\": got \"%.*s\"", #p, s_,          \
			p_ ? (int)n_ : 6, p_ ? p_ : "(null)");                   \
	} while (0)

#endif
