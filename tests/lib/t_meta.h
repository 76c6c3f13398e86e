/*
 * t_meta.h - the metadata store (store/meta) in unit tests: a fresh data directory for the
 * current test, a koban.db opened there with its tenants, and SQL run on that database behind
 * koban's back (rows koban did not write), indicators put in one import. Shared by the unit
 * tests of the modules that keep their state in koban.db.
 *
 * Memory: t_meta_dir() returns a static buffer, the same text until the next test; the
 * struct meta of t_meta_open() is the caller's (meta_close). Threads: the test's thread.
 */
#ifndef TESTS_T_META_H
#define TESTS_T_META_H

#include <stddef.h>

struct meta;
struct meta_indicator;

/* The current test's data directory: t_tmp_dir()/TEST-NAME/var (made by meta_open). */
const char *t_meta_dir(void);

/*
 * Opens (creating) koban.db in t_meta_dir() and adds the tenants named, a NULL-terminated
 * list. Returns it, or NULL after a FAIL line naming the step that failed.
 */
struct meta *t_meta_open(const char *tenant, ...) __attribute__((sentinel));

/*
 * Puts the n indicators into source's set in tenant's scope (NULL: global) as one committed
 * import. Returns how many were new, or -1 after a FAIL line (the import rolled back).
 */
int t_meta_put(struct meta *m, const char *source, const char *tenant,
	       const struct meta_indicator *inds, size_t n);

/* Runs sql on t_meta_dir()/koban.db through its own connection: SQLITE_OK or the error. */
int t_meta_exec(const char *sql);

#endif
