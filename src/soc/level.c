/*
 * level.c - the names and shown numbers of incident levels (soc.levels).
 */
#include "soc/level.h"
#include "core/compat.h"

#include <errno.h>
#include <strings.h>

#include "core/config.h"
#include "core/err.h"
#include "store/meta.h"

#define LEVELS (LEVEL_MAX + 1)

static const char *const default_names[LEVELS] = { "Informational", "Medium", "High",
						   "Critical" };

/* Written by level_configure() only (at start, before readers exist). */
static char names[LEVELS][LEVEL_NAME_MAX + 1] = { "Informational", "Medium", "High",
						  "Critical" };
static int shown[LEVELS] = { 0, 1, 2, 3 };

const char *level_name(int level)
{
	if (level == META_LEVEL_UNDECIDED)
		return "Undecided";
	return level >= 0 && level <= LEVEL_MAX ? names[level] : "?";
}

int level_shown(int level)
{
	return level >= 0 && level <= LEVEL_MAX ? shown[level] : -1;
}

/* s as a number 0..99 (no sign, no spaces), or -1. */
static int small_number(const char *s)
{
	int v = 0;

	if (!s[0] || strlen(s) > 2)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int level_parse(const char *s, int *level)
{
	int n;

	if (!s)
		return -EINVAL;
	for (int i = 0; i < LEVELS; i++)
		if (!strcasecmp(s, names[i])) {
			*level = i;
			return 0;
		}
	if ((n = small_number(s)) < 0)
		return -EINVAL;
	for (int i = 0; i < LEVELS; i++)
		if (shown[i] == n) {
			*level = i;
			return 0;
		}
	if (n > LEVEL_MAX)
		return -EINVAL;
	*level = n;
	return 0;
}

int level_configure(const struct config *c, struct err *e)
{
	char new_names[LEVELS][LEVEL_NAME_MAX + 1];
	int new_shown[LEVELS];

	/* config.c checked count, shape and distinctness; checked again: c may be built by hand */
	if ((c->n_soc_level_names && c->n_soc_level_names != LEVELS) ||
	    (c->n_soc_level_shown && c->n_soc_level_shown != LEVELS))
		return err_set(e, -EINVAL, "soc.levels: expected %d names and %d numbers, one for "
			       "each level 0 to 3", LEVELS, LEVELS);
	for (int i = 0; i < LEVELS; i++) {
		const char *name = c->n_soc_level_names ? c->soc_level_names[i] : default_names[i];

		if (strlen(name) > LEVEL_NAME_MAX)
			return err_set(e, -EINVAL, "soc.levels.names: '%s' is longer than %d bytes",
				       name, LEVEL_NAME_MAX);
		snprintf(new_names[i], sizeof(new_names[i]), "%s", name);
		new_shown[i] = c->n_soc_level_shown ? small_number(c->soc_level_shown[i]) : i;
		if (new_shown[i] < 0)
			return err_set(e, -EINVAL, "soc.levels.shown: '%s': expected a number from "
				       "0 to 99", c->soc_level_shown[i]);
	}
	memcpy(names, new_names, sizeof(names));
	memcpy(shown, new_shown, sizeof(shown));
	return 0;
}
