#include "metadir.h"
#include "core/compat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void bench_metadir_remove(const char *dir, const char *who)
{
	static const char *const files[] = { "koban.db", "koban.db-wal", "koban.db-shm" };
	char path[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	if (rmdir(dir) < 0)
		fprintf(stderr, "%s: could not remove %s: %s\n", who, dir, strerror(errno));
}
