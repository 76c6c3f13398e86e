/*
 * err.h - an error message for the user, filled where the error is found.
 *
 * Functions that can fail return 0 or a negative errno-style code and, when given a
 * struct err, describe the failure in it: where (file:line, field) and what was expected.
 * The caller decides whether to print it. A struct err is a plain value: no release.
 *
 *   struct err e = ERR_INIT;
 *   if (config_load(&cfg, path, &e) < 0)
 *           fprintf(stderr, "koban: %s\n", e.msg);
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

struct err {
	int code;      /* the negative code returned with the message */
	char msg[512]; /* NUL-terminated, empty when no error; cut at a character's boundary */
};

#define ERR_INIT { 0, { 0 } }

/* Fills e (when not NULL) and returns code, so that `return err_set(e, -EINVAL, ...)`. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void err_clear(struct err *e);
/*
 * The first error of a sequence of calls that all run: `rc = err_first(rc, next(...))`.
 * Error codes are never OR-ed together (-EINVAL | -ENOSPC is neither).
 */
static inline int err_first(int first, int next)
{
	return first < 0 ? first : next;
}

#endif
