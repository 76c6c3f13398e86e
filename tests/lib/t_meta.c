#include "t_meta.h"
#include "core/compat.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/err.h"
#include "store/meta.h"
#include "t.h"

const char *t_meta_dir(void)
{
	static char dir[256];

	snprintf(dir, sizeof(dir), "%s/%s/var", t_tmp_dir(), t_name());
	return dir;
}

struct meta *t_meta_open(const char *tenant, ...)
{
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	va_list ap;
	int rc;

	rc = meta_open(&m, t_meta_dir(), &e);
	va_start(ap, tenant);
	for (; rc >= 0 && tenant; tenant = va_arg(ap, const char *))
		rc = meta_tenant_add(m, tenant, &e);
	va_end(ap);
	if (rc < 0) {
		t_check(0, __FILE__, __LINE__, "opening koban.db: %s", e.msg);
		meta_close(m);
		return NULL;
	}
	return m;
}

int t_meta_exec(const char *sql)
{
	char path[512];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/koban.db", t_meta_dir());
	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}
