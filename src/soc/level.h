/*
 * level.h - incident levels: internally always 0..3 (0 Informational, 1 Medium "watch",
 * 2 High "the attack likely succeeded", 3 Critical "it succeeded: an emergency"), -1
 * (META_LEVEL_UNDECIDED) while no level was decided. What people see is configuration
 * (soc.levels in the config): each level's name and the number shown for it, so that a
 * SOC whose contract says "level 4" for critical shows 4 while koban keeps 3.
 *
 * level_configure() is called once at start (or by a CLI command that shows levels),
 * before any other thread reads the names; the other functions only read the
 * configuration and may be called from any thread after that. Names returned are static
 * (valid until the next level_configure()). Without level_configure() the defaults apply:
 * "Informational", "Medium", "High", "Critical" shown as 0, 1, 2, 3.
 */
#ifndef SOC_LEVEL_H
#define SOC_LEVEL_H

struct config;
struct err;

#define LEVEL_MAX 3
#define LEVEL_NAME_MAX 32

/* The configured name of level 0..3; "Undecided" for -1; "?" for anything else. */
const char *level_name(int level);
/* The configured number shown for level 0..3; -1 for -1 (and for anything else). */
int level_shown(int level);
/*
 * Reads a level as a person writes it: the internal 0..3, a configured name or a
 * configured number shown, case-insensitively (names first, then shown numbers, then
 * 0..3). 0 with *level set, or -EINVAL.
 */
int level_parse(const char *s, int *level);
/* Takes soc.levels from c (the defaults for what it leaves out); -EINVAL with e filled. */
int level_configure(const struct config *c, struct err *e);

#endif
