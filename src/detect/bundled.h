/*
 * bundled.h - koban's own Sigma rule files (the .yml files of rules/sigma/), embedded in
 * the binary so that detection finds them without any configuration or installed file.
 *
 * At build time scripts/embed writes build/gen/bundled_rules.c, which defines
 * bundled_files[] and bundled_files_count below: every .yml file of rules/sigma/ as
 * (name, bytes, length), in the order of their names. The Sigma loader reads each one as
 * it reads a file from disk, from a memory buffer, and reports errors as NAME:LINE.
 * Adding a rule file needs no code change: the build picks it up.
 *
 * Memory: everything here is static, read-only and lives as long as the process; callers
 * never free or modify it. Thread safety: constant data and pure lookups, any thread.
 */
#ifndef DETECT_BUNDLED_H
#define DETECT_BUNDLED_H

#include <stddef.h>

struct bundled_file {
	/* "rules/sigma/NAME.yml": the path in koban's source tree it was built from */
	const char *name;
	/* the file's bytes, followed by a NUL that len does not count */
	const unsigned char *bytes;
	size_t len;
};

/* The generated table (build/gen/bundled_rules.c); prefer the functions below. */
extern const struct bundled_file bundled_files[];
extern const size_t bundled_files_count;

/* Number of embedded rule files (0 when rules/sigma/ held none at build time). */
size_t bundled_count(void);
/* The i-th file in name order, or NULL when i >= bundled_count(). */
const struct bundled_file *bundled_at(size_t i);
/* The file whose name is NAME ("rules/sigma/entra_signin.yml"), or NULL. */
const struct bundled_file *bundled_find(const char *name);

#endif
