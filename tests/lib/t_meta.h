/*
 * t_meta.h - the metadata store (store/meta) in unit tests: a fresh data directory for the
 * current test, a koban.db opened there with its tenants, and SQL run on that database behind
 * koban's back (rows koban did not write). Shared by test_alert and test_rulepolicy.
 *
 * Memory: t_meta_dir() returns a static buffer, the same text until the next test; the
 * struct meta of t_meta_open() is the caller's (meta_close). Threads: the test's thread.
 */
#ifndef TESTS_T_META_H
#define TESTS_T_META_H

struct meta;

/* The current test's data directory: t_tmp_dir()/TEST-NAME/var (made by meta_open). */
const char *t_meta_dir(void);

/*
 * Opens (creating) koban.db in t_meta_dir() and adds the tenants named, a NULL-terminated
 * list. Returns it, or NULL after a FAIL line naming the step that failed.
 */
struct meta *t_meta_open(const char *tenant, ...) __attribute__((sentinel));

/* Runs sql on t_meta_dir()/koban.db through its own connection: SQLITE_OK or the error. */
int t_meta_exec(const char *sql);

#endif
