/*
 * bundled.c - lookups in the table of embedded rule files that scripts/embed generates
 * (build/gen/bundled_rules.c).
 */
#include "detect/bundled.h"
#include "core/compat.h"

#include <string.h>

size_t bundled_count(void)
{
	return bundled_files_count;
}

const struct bundled_file *bundled_at(size_t i)
{
	return i < bundled_files_count ? &bundled_files[i] : NULL;
}

const struct bundled_file *bundled_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < bundled_files_count; i++)
		if (!strcmp(bundled_files[i].name, name))
			return &bundled_files[i];
	return NULL;
}
