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

int t_meta_put(struct meta *m, const char *source, const char *tenant,
	       const struct meta_indicator *inds, size_t n)
{
	struct meta_indicator_put *p = NULL;
	struct err e = ERR_INIT;
	int added = 0;
	bool is_new;

	if (meta_indicator_put_begin(m, source, tenant, &p, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "indicator import begin: %s", e.msg);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (meta_indicator_put(p, &inds[i], &is_new, &e) < 0) {
			t_check(0, __FILE__, __LINE__, "put %s: %s", inds[i].value, e.msg);
			meta_indicator_put_end(p, false, &e);
			return -1;
		}
		added += is_new;
	}
	if (meta_indicator_put_end(p, true, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "indicator import commit: %s", e.msg);
		return -1;
	}
	return added;
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
