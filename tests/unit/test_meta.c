/* Unit tests of the metadata store: schema, validation, tenant isolation. */
#include "core/err.h"
#include "core/mem.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>


/* A fresh data directory (not yet existing, two levels deep) for the current test. */
static struct meta *open_fresh(void)
{
	struct meta *m = NULL;
	struct err e = ERR_INIT;

	if (meta_open(&m, t_meta_dir(), &e) < 0)
		t_check(0, __FILE__, __LINE__, "meta_open: %s", e.msg);
	return m;
}

/* Collects rows as "name" or "name:tenant" lines for easy comparison. */
struct rows {
	char text[2048];
	int n;
	int64_t n_sources;
};

static void add_row(struct rows *r, const char *a, const char *b)
{
	size_t len = strlen(r->text);

	snprintf(r->text + len, sizeof(r->text) - len, "%s%s%s%s", r->n ? " " : "", a,
		 b ? ":" : "", b ? b : "");
	r->n++;
}

static void tenant_row(void *ctx, const struct meta_tenant *t)
{
	struct rows *r = ctx;

	add_row(r, t->name, NULL);
	r->n_sources += t->n_sources;
}

static void source_row(void *ctx, const struct meta_source *s)
{
	add_row(ctx, s->name, s->tenant);
}

static struct meta_source source(const char *name, const char *tenant, const char *cidr)
{
	struct meta_source s = { .name = name, .tenant = tenant, .cidr = cidr };

	return s;
}

static void test_open_creates_schema(void)
{
	struct meta *m = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;
	char path[512];
	struct stat sb;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	CHECK(m != NULL);
	CHECK_INT(stat(t_meta_dir(), &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0750);
	CHECK_INT(meta_tenant_list(m, tenant_row, &r, &e), 0);
	CHECK_STR(r.text, "_unassigned");
	meta_close(m);

	/* Reopening applies nothing twice. */
	m = open_fresh();
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_tenant_list(m, tenant_row, &r, &e), 0);
	CHECK_STR(r.text, "_unassigned");
	meta_close(m);

	snprintf(path, sizeof(path), "%s/koban.db", t_meta_dir());
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(st, 0), 23); /* 15 incident, 16 evkeep, 17 firstreport, 18 alert ids, 19 notify policy, 20 notify,
						     21 alerts_source_ip, 22 incident_entities, 23 their rule */
	sqlite3_finalize(st);

	/* A database from a newer koban is refused, not damaged. */
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(meta_open(&m, t_meta_dir(), &e), -EIO);
	CHECK(m == NULL);
	CHECK(strstr(e.msg, "schema version 99 is newer") != NULL);
}

static void test_open_bad_dir(void)
{
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	char file[512];
	FILE *f;

	snprintf(file, sizeof(file), "%s/plainfile", t_tmp_dir());
	f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(meta_open(&m, file, &e) < 0);
	CHECK(m == NULL);
	CHECK(strstr(e.msg, "plainfile") != NULL);
	CHECK_INT(meta_open(&m, "", &e), -EINVAL);
}

static void test_open_out_of_memory(void)
{
	for (long n = 0; n < 3; n++) {
		struct meta *m = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = meta_open(&m, t_meta_dir(), &e);
		mem_fail_after(-1);
		if (rc == 0) {
			meta_close(m);
			break;
		}
		CHECK_INT(rc, -ENOMEM);
		CHECK(m == NULL);
		CHECK(strstr(e.msg, "out of memory") != NULL);
	}
}

static void test_tenant_add_remove(void)
{
	struct meta *m = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;

	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "9lab_2", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-a", &e), -EEXIST);
	CHECK(!strncmp(e.msg, "tenant 'city-a' already exists in ", 34));
	CHECK(strstr(e.msg, "/var/koban.db")); /* the database is named */
	CHECK_INT(meta_tenant_add(m, "_unassigned", &e), -EEXIST);
	CHECK_INT(meta_tenant_remove(m, "_unassigned", &e), -EINVAL);
	CHECK_STR(e.msg, "tenant '_unassigned' is built in and cannot be removed");
	CHECK_INT(meta_tenant_remove(m, "nope", &e), -ENOENT);
	CHECK(!strncmp(e.msg, "no tenant 'nope' in ", 20));

	CHECK_INT(meta_tenant_get(m, "city-a", tenant_row, &r, &e), 0);
	CHECK_STR(r.text, "city-a");
	CHECK_INT(meta_tenant_get(m, "_unassigned", tenant_row, &r, &e), 0);
	CHECK_INT(meta_tenant_get(m, "ghost", tenant_row, &r, &e), -ENOENT);
	CHECK(!strncmp(e.msg, "no tenant 'ghost' in ", 21) && strstr(e.msg, "koban.db"));

	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_tenant_list(m, tenant_row, &r, &e), 0);
	CHECK_STR(r.text, "9lab_2 _unassigned city-a");
	CHECK_INT(meta_tenant_remove(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_remove(m, "city-a", &e), -ENOENT);
	meta_close(m);
}

static void test_tenant_names(void)
{
	static const char *const bad[] = {
		"", "Bad Name", "CAPS", "-lead", "dot.ted", "a/b", "x'y", "semi;colon",
		"a234567890123456789012345678901234567890123456789012345678901234",
	};
	struct meta *m = open_fresh();
	struct err e = ERR_INIT;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(meta_tenant_add(m, bad[i], &e), -EINVAL);
		CHECK(strstr(e.msg, "expected 1-63 of a-z 0-9 _ - starting with a letter or digit"));
	}
	CHECK_INT(meta_tenant_add(m, "Bad Name", &e), -EINVAL);
	CHECK_STR(e.msg, "tenant name 'Bad Name': expected 1-63 of a-z 0-9 _ - starting with a "
		  "letter or digit");
	CHECK_INT(meta_tenant_add(m, NULL, &e), -EINVAL);
	CHECK_INT(meta_tenant_add(m, "_mine", &e), -EINVAL);
	CHECK_STR(e.msg, "tenant name '_mine': names starting with '_' are reserved");
	CHECK_INT(meta_tenant_add(m, "a23456789012345678901234567890123456789012345678901234567890123",
				  &e), 0);
	CHECK_INT(meta_tenant_remove(m, "Bad Name", &e), -EINVAL);
	meta_close(m);
}

static void test_source_validation(void)
{
	struct meta *m = open_fresh();
	struct err e = ERR_INIT;
	struct meta_source s;

	CHECK_INT(meta_tenant_add(m, "t1", &e), 0);

	s = source("Bad Name", "t1", "10.0.0.0/8");
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK_STR(e.msg, "source name 'Bad Name': expected 1-63 of a-z 0-9 _ - starting with a "
		  "letter or digit");

	s = source("fw", "t1", NULL);
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "at least one of cidr, host or listener"));

	s = source("fw", "t1", "10.0.0.0/33");
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "cidr '10.0.0.0/33': expected"));
	s.cidr = "10.1.2.3/8";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "beyond the prefix length"));
	s.cidr = "example.com";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);

	s = source("fw", "t1", "10.0.0.0/8");
	s.format = "no-such";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(!strncmp(e.msg, "format 'no-such': expected auto, ", 33));
	s.format = NULL;
	s.tz = "../../etc/passwd";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "time zone '../../etc/passwd'"));
	s.tz = "/etc/localtime";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	s.tz = "Asia//Tokyo";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	s.tz = "Asia/";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	s.tz = "Asia/Tokyo";
	s.listener = "TCP main";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "listener 'TCP main': expected 1-32 of a-z 0-9 _ -"));
	s.tz = "Asia/Tokyo";
	s.host = "has space";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "host 'has space'"));
	s.host = NULL;
	s.listener = "";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);
	s.listener = NULL;
	s.tenant = "ghost";
	CHECK_INT(meta_source_add(m, &s, &e), -ENOENT);
	CHECK(!strncmp(e.msg, "no tenant 'ghost' in ", 21) && strstr(e.msg, "koban.db"));
	s.tenant = "Ghost";
	CHECK_INT(meta_source_add(m, &s, &e), -EINVAL);

	s.tenant = "t1";
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	CHECK_INT(meta_source_add(m, &s, &e), -EEXIST);
	CHECK(!strncmp(e.msg, "source 'fw' already exists in tenant 't1' in ", 45));
	/* Source names are scoped per tenant: another tenant may use the same name. */
	s.tenant = "_unassigned";
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	CHECK_INT(meta_source_remove(m, "t1", "nope", &e), -ENOENT);
	CHECK(!strncmp(e.msg, "no source 'nope' in tenant 't1' in ", 35));
	CHECK_INT(meta_source_remove(m, "ghost", "fw", &e), -ENOENT);
	CHECK_INT(meta_source_remove(m, "' OR 1=1 --", "fw", &e), -EINVAL);
	CHECK_INT(meta_source_remove(m, "t1", "fw", &e), 0);
	CHECK_INT(meta_source_remove(m, "t1", "fw", &e), -ENOENT);
	CHECK_INT(meta_source_remove(m, "_unassigned", "fw", &e), 0);
	meta_close(m);
}

struct one_source {
	struct meta_source s;
	char buf[512];
};

static void copy_source(void *ctx, const struct meta_source *s)
{
	struct one_source *o = ctx;

	snprintf(o->buf, sizeof(o->buf), "%s|%s|%s|%s|%s|%s|%s", s->name, s->tenant,
		 s->cidr ? s->cidr : "-", s->host ? s->host : "-",
		 s->listener ? s->listener : "-", s->format, s->tz ? s->tz : "-");
	o->s.id = s->id;
	o->s.created_ns = s->created_ns;
}

static void test_source_fields(void)
{
	struct meta *m = open_fresh();
	struct err e = ERR_INIT;
	struct one_source o = { .buf = "" };
	struct meta_source s = {
		.name = "rtr-1", .tenant = "t1", .cidr = "2001:db8::/32", .host = "Router1.Example",
		.listener = "tls", .format = "rfc5424", .tz = "Etc/GMT+9",
	};

	CHECK_INT(meta_tenant_add(m, "t1", &e), 0);
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	CHECK_INT(meta_source_list(m, "t1", copy_source, &o, &e), 0);
	CHECK_STR(o.buf, "rtr-1|t1|2001:db8::/32|Router1.Example|tls|rfc5424|Etc/GMT+9");
	CHECK(o.s.id > 0);
	CHECK(o.s.created_ns > INT64_C(1600000000) * 1000000000);

	s = source("host-only", "t1", NULL);
	s.host = "fw01";
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	CHECK_INT(meta_source_remove(m, "t1", "rtr-1", &e), 0);
	CHECK_INT(meta_source_list(m, NULL, copy_source, &o, &e), 0);
	CHECK_STR(o.buf, "host-only|t1|-|fw01|-|auto|-");
	meta_close(m);
}

/* Isolation: one tenant's listing and removal never touch another tenant's sources. */
static void test_tenant_isolation(void)
{
	struct meta *m = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;
	struct meta_source s;

	CHECK_INT(meta_tenant_add(m, "a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "b", &e), 0);
	CHECK_INT(meta_tenant_add(m, "ab", &e), 0);
	s = source("a-fw", "a", "10.1.0.0/16");
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	s = source("a-rtr", "a", "10.2.0.0/16");
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	s = source("b-fw", "b", "10.1.0.0/16"); /* the same network may appear twice */
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	s = source("ab-fw", "ab", "10.3.0.0/16");
	CHECK_INT(meta_source_add(m, &s, &e), 0);

	CHECK_INT(meta_source_list(m, "a", source_row, &r, &e), 0);
	CHECK_STR(r.text, "a-fw:a a-rtr:a");
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_source_list(m, "b", source_row, &r, &e), 0);
	CHECK_STR(r.text, "b-fw:b");
	r.text[0] = '\0';
	r.n = 0;
	/* Names that could widen an SQL pattern or comparison match nothing. */
	CHECK_INT(meta_source_list(m, "a%", source_row, &r, &e), -EINVAL);
	CHECK_INT(meta_source_list(m, "' OR 1=1 --", source_row, &r, &e), -EINVAL);
	CHECK_INT(meta_source_list(m, "c", source_row, &r, &e), -ENOENT);
	CHECK_INT(meta_source_list(m, "_unassigned", source_row, &r, &e), 0);
	CHECK_INT(r.n, 0);
	CHECK_INT(meta_source_list(m, NULL, source_row, &r, &e), 0);
	CHECK_STR(r.text, "a-fw:a a-rtr:a ab-fw:ab b-fw:b");

	r.n_sources = 0;
	CHECK_INT(meta_tenant_get(m, "a", tenant_row, &r, &e), 0);
	CHECK_INT(r.n_sources, 2);

	/* Two tenants each have a source "fw": removing or changing one leaves the other. */
	s = source("fw", "a", "10.7.0.0/16");
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	s = source("fw", "b", "10.8.0.0/16");
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	s = source("fw", "b", "10.9.0.0/16");
	CHECK_INT(meta_source_update(m, &s, &e), 0);
	s = source("fw", "ab", "10.9.0.0/16");
	CHECK_INT(meta_source_update(m, &s, &e), -ENOENT);
	CHECK_INT(meta_source_remove(m, "a", "fw", &e), 0);
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_source_list(m, "b", source_row, &r, &e), 0);
	CHECK_STR(r.text, "b-fw:b fw:b");
	{
		struct one_source o = { .buf = "" };

		CHECK_INT(meta_source_list(m, "b", copy_source, &o, &e), 0);
		CHECK_STR(o.buf, "fw|b|10.9.0.0/16|-|-|auto|-");
	}
	CHECK_INT(meta_source_remove(m, "b", "fw", &e), 0);
	r.text[0] = '\0';
	r.n = 0;

	CHECK_INT(meta_tenant_remove(m, "a", &e), 0);
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_source_list(m, NULL, source_row, &r, &e), 0);
	CHECK_STR(r.text, "ab-fw:ab b-fw:b");
	/* A new tenant with the old name does not inherit the old sources. */
	CHECK_INT(meta_tenant_add(m, "a", &e), 0);
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_source_list(m, "a", source_row, &r, &e), 0);
	CHECK_INT(r.n, 0);
	meta_close(m);
}

static void test_two_handles(void)
{
	struct meta *m1 = open_fresh(), *m2 = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;

	CHECK_INT(meta_tenant_add(m1, "x", &e), 0);
	CHECK_INT(meta_tenant_get(m2, "x", tenant_row, &r, &e), 0);
	CHECK_INT(meta_tenant_add(m2, "x", &e), -EEXIST);
	meta_close(m1);
	meta_close(m2);
}

/* Rows written behind koban's back are skipped on load; names in errors are escaped. */
static void test_crafted_rows_skipped(void)
{
	struct meta *m = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;
	char path[512], q[META_ESCAPE_MAX];
	sqlite3 *db;

	CHECK_INT(meta_tenant_add(m, "good", &e), 0);
	CHECK_INT(meta_source_add(m, &(struct meta_source){ .name = "ok", .tenant = "good",
							     .cidr = "10.0.0.0/8" }, &e), 0);
	snprintf(path, sizeof(path), "%s/koban.db", t_meta_dir());
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO tenants (name, created_ns) VALUES "
			       "('../../etc/evil', 1), ('x\nINFO forged', 1);"
			       "INSERT INTO sources (name, tenant_id, cidr, created_ns) "
			       "SELECT 'bad/../s', id, '10.0.0.0/8', 1 FROM tenants WHERE name = 'good';"
			       "INSERT INTO sources (name, tenant_id, cidr, created_ns) "
			       "SELECT 's2', id, '10.0.0.0/8', 1 FROM tenants WHERE name LIKE '../%';",
			       NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(meta_tenant_list(m, tenant_row, &r, &e), 0);
	CHECK_STR(r.text, "_unassigned good");
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_source_list(m, NULL, source_row, &r, &e), 0);
	CHECK_STR(r.text, "ok:good");
	CHECK_INT(meta_tenant_get(m, "../../etc/evil", tenant_row, &r, &e), -EINVAL);
	CHECK(strstr(e.msg, "'../../etc/evil'"));
	CHECK_INT(meta_tenant_add(m, "a'b\x1b[31m\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "'a\\x27b\\x1b[31m\\x0a'"));
	CHECK(!strchr(e.msg, '\n') && !strchr(e.msg, 0x1b));
	meta_escape("plain-name", q);
	CHECK_STR(q, "plain-name");
	meta_escape("0123456789012345678901234567890123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789", q);
	CHECK(strlen(q) < META_ESCAPE_MAX && strstr(q, "..."));
	meta_close(m);
}

static void sender_row(void *ctx, const struct meta_sender *s)
{
	char n[32];

	snprintf(n, sizeof(n), "%lld", (long long)s->count);
	add_row(ctx, s->address, n);
}

static void activity_row(void *ctx, const struct meta_tenant *t)
{
	char n[64];

	snprintf(n, sizeof(n), "%lld@%lld", (long long)t->received, (long long)t->last_event_ns);
	add_row(ctx, t->name, n);
}

static void test_activity_and_senders(void)
{
	struct meta *m = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;

	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-b", &e), 0);
	CHECK_INT(meta_begin(m, &e), 0);
	CHECK_INT(meta_activity_add(m, "city-a", 5, 100, &e), 0);
	CHECK_INT(meta_activity_add(m, "city-a", 2, 300, &e), 0);
	CHECK_INT(meta_activity_add(m, "ghost", 2, 300, &e), -ENOENT);
	CHECK_INT(meta_sender_add(m, "192.0.2.1", 3, 10, &e), 0);
	CHECK_INT(meta_sender_add(m, "192.0.2.9", 1, 10, &e), 0);
	CHECK_INT(meta_sender_add(m, "192.0.2.1", 4, 20, &e), 0);
	CHECK_INT(meta_commit(m, &e), 0);
	CHECK_INT(meta_tenant_list(m, activity_row, &r, &e), 0);
	CHECK_STR(r.text, "_unassigned:0@0 city-a:7@300 city-b:0@0");
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_sender_list(m, 10, sender_row, &r, &e), 0);
	CHECK_STR(r.text, "192.0.2.1:7 192.0.2.9:1");
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_sender_list(m, 1, sender_row, &r, &e), 0);
	CHECK_STR(r.text, "192.0.2.1:7");
	/* A rolled-back change leaves nothing; removing a tenant removes its activity. */
	CHECK_INT(meta_begin(m, &e), 0);
	CHECK_INT(meta_activity_add(m, "city-b", 5, 100, &e), 0);
	meta_rollback(m);
	CHECK_INT(meta_tenant_remove(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_tenant_list(m, activity_row, &r, &e), 0);
	CHECK_STR(r.text, "_unassigned:0@0 city-a:0@0 city-b:0@0");
	meta_close(m);
}

/* A koban.db of schema version 2 (source names unique across tenants) is migrated in place. */
static void test_migrate_v2(void)
{
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;
	struct meta *m = NULL;
	struct meta_source s;
	char path[512];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/%s", t_tmp_dir(), t_name());
	CHECK_INT(mkdir(path, 0750), 0);
	CHECK_INT(mkdir(t_meta_dir(), 0750), 0);
	snprintf(path, sizeof(path), "%s/koban.db", t_meta_dir());
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db,
			       "CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL"
			       "  UNIQUE, created_ns INTEGER NOT NULL);"
			       "CREATE TABLE sources (id INTEGER PRIMARY KEY, name TEXT NOT NULL"
			       "  UNIQUE, tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE"
			       "  CASCADE, cidr TEXT, host TEXT, listener TEXT, format TEXT NOT NULL"
			       "  DEFAULT 'auto', tz TEXT, created_ns INTEGER NOT NULL);"
			       "CREATE INDEX sources_tenant ON sources(tenant_id);"
			       "CREATE TABLE tenant_activity (tenant_id INTEGER PRIMARY KEY"
			       "  REFERENCES tenants(id) ON DELETE CASCADE, received INTEGER NOT NULL,"
			       "  last_event_ns INTEGER NOT NULL);"
			       "CREATE TABLE unassigned_senders (address TEXT PRIMARY KEY,"
			       "  count INTEGER NOT NULL, last_ns INTEGER NOT NULL);"
			       "INSERT INTO tenants VALUES (1, '_unassigned', 1), (2, 'a', 2), (3, 'b', 3);"
			       "INSERT INTO sources (id, name, tenant_id, cidr, host, format, tz,"
			       "  created_ns) VALUES (7, 'fw', 2, '10.0.0.0/8', NULL, 'rfc5424',"
			       "  'Asia/Tokyo', 5), (9, 'rtr', 3, NULL, 'r1', 'auto', NULL, 6);"
			       "INSERT INTO tenant_activity VALUES (2, 10, 11);"
			       "PRAGMA user_version = 2;",
			       NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	m = open_fresh();
	CHECK(m != NULL);
	if (!m)
		return;
	{
		struct one_source o = { .buf = "" };

		CHECK_INT(meta_source_list(m, "a", copy_source, &o, &e), 0);
		CHECK_STR(o.buf, "fw|a|10.0.0.0/8|-|-|rfc5424|Asia/Tokyo");
		CHECK(o.s.id == 7 && o.s.created_ns == 5);
	}
	/* Now b may have its own "fw"; a's is untouched by b's removal. */
	s = source("fw", "b", "10.1.0.0/16");
	CHECK_INT(meta_source_add(m, &s, &e), 0);
	CHECK_INT(meta_source_add(m, &s, &e), -EEXIST);
	CHECK_INT(meta_source_list(m, NULL, source_row, &r, &e), 0);
	CHECK_STR(r.text, "fw:a fw:b rtr:b");
	CHECK_INT(meta_source_remove(m, "b", "fw", &e), 0);
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_source_list(m, NULL, source_row, &r, &e), 0);
	CHECK_STR(r.text, "fw:a rtr:b");
	/* The cascade from tenants still holds after the table was rebuilt. */
	CHECK_INT(meta_tenant_remove(m, "a", &e), 0);
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_source_list(m, NULL, source_row, &r, &e), 0);
	CHECK_STR(r.text, "rtr:b");
	r.text[0] = '\0';
	r.n = 0;
	CHECK_INT(meta_tenant_list(m, tenant_row, &r, &e), 0);
	CHECK_STR(r.text, "_unassigned b");
	meta_close(m);
}

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->id;
}

/* An id names a tenant's data key and segments: the id of a removed tenant is never given again. */
static void test_tenant_ids_not_reused(void)
{
	struct meta *m = open_fresh();
	struct err e = ERR_INIT;
	int64_t a = 0, b = 0, c = 0;

	CHECK_INT(meta_tenant_add(m, "a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "b", &e), 0);
	CHECK_INT(meta_tenant_get(m, "a", take_id, &a, &e), 0);
	CHECK_INT(meta_tenant_get(m, "b", take_id, &b, &e), 0);
	CHECK(b > a);
	CHECK_INT(meta_tenant_remove(m, "b", &e), 0);
	CHECK_INT(meta_tenant_add(m, "b", &e), 0);
	CHECK_INT(meta_tenant_get(m, "b", take_id, &c, &e), 0);
	CHECK(c > b);
	meta_close(m);
}

static void token_row(void *ctx, const struct meta_token *t)
{
	add_row(ctx, t->name, t->tenant ? t->tenant : "soc");
}

static void test_tokens(void)
{
	struct meta *m = open_fresh();
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;
	char a[META_TOKEN_LEN + 1], b[META_TOKEN_LEN + 1];
	unsigned char ha[META_TOKEN_HASH_LEN], hb[META_TOKEN_HASH_LEN], hx[META_TOKEN_HASH_LEN];

	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-b", &e), 0);
	CHECK_INT(meta_token_new(a, &e), 0);
	CHECK_INT(meta_token_new(b, &e), 0);
	CHECK_INT((int)strlen(a), META_TOKEN_LEN);
	CHECK(!strncmp(a, META_TOKEN_PREFIX, strlen(META_TOKEN_PREFIX)));
	CHECK(strcmp(a, b) != 0);
	meta_token_hash(a, strlen(a), ha);
	meta_token_hash(b, strlen(b), hb);
	CHECK(memcmp(ha, hb, sizeof(ha)) != 0);
	CHECK_INT(meta_token_add(m, "ops", NULL, hb, &e), 0);
	CHECK_INT(meta_token_add(m, "a-reader", "city-a", ha, &e), 0);
	/* names are unique, validated; the tenant must exist */
	CHECK_INT(meta_token_add(m, "ops", "city-b", hx, &e), -EEXIST);
	CHECK_INT(meta_token_add(m, "../x", "city-b", hx, &e), -EINVAL);
	CHECK_INT(meta_token_add(m, "x", "nosuch", hx, &e), -ENOENT);
	CHECK_INT(meta_token_add(m, "x", "../city-a", hx, &e), -EINVAL);
	CHECK_INT(meta_token_list(m, token_row, &r, &e), 0);
	CHECK_STR(r.text, "a-reader:city-a ops:soc");
	/* found by the hash of the secret, not by anything else */
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_token_find(m, ha, token_row, &r, &e), 0);
	CHECK_STR(r.text, "a-reader:city-a");
	a[5] ^= 1;
	meta_token_hash(a, strlen(a), hx);
	CHECK_INT(meta_token_find(m, hx, token_row, &r, &e), -ENOENT);
	/* revoked: gone; removing a tenant removes its tokens */
	CHECK_INT(meta_token_revoke(m, "ops", &e), 0);
	CHECK_INT(meta_token_revoke(m, "ops", &e), -ENOENT);
	CHECK_INT(meta_token_find(m, hb, token_row, &r, &e), -ENOENT);
	CHECK_INT(meta_tenant_remove(m, "city-a", &e), 0);
	CHECK_INT(meta_token_find(m, ha, token_row, &r, &e), -ENOENT);
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_token_list(m, token_row, &r, &e), 0);
	CHECK_INT(r.n, 0);
	meta_close(m);
}

static void source_token_row(void *ctx, const struct meta_source_token *t)
{
	char text[128];

	snprintf(text, sizeof(text), "%s/%s/%s/%s/%d", t->source.name, t->source.tenant,
		 t->source.format, t->source.tz ? t->source.tz : "-", t->tenant_id > 0);
	add_row(ctx, text, NULL);
}

/* Ingest tokens of sources: one per source, replaced, scoped by tenant, removed with it. */
static void test_source_tokens(void)
{
	struct meta *m = open_fresh();
	struct meta_source fa = source("fw", "city-a", NULL), fb = source("fw", "city-b", NULL);
	struct rows r = { .n = 0 };
	struct err e = ERR_INIT;
	unsigned char h1[META_TOKEN_HASH_LEN], h2[META_TOKEN_HASH_LEN], h3[META_TOKEN_HASH_LEN];

	meta_token_hash("one", 3, h1);
	meta_token_hash("two", 3, h2);
	meta_token_hash("three", 5, h3);
	fa.listener = "api";
	fa.format = "rfc5424";
	fa.tz = "Asia/Tokyo";
	fb.listener = "api";
	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-b", &e), 0);
	CHECK_INT(meta_source_add(m, &fa, &e), 0);
	CHECK_INT(meta_source_add(m, &fb, &e), 0);
	CHECK_INT(meta_source_token_set(m, "city-a", "fw", h1, &e), 0);
	CHECK_INT(meta_source_token_set(m, "city-b", "fw", h3, &e), 0);
	CHECK_INT(meta_source_token_find(m, h1, source_token_row, &r, &e), 0);
	CHECK_STR(r.text, "fw/city-a/rfc5424/Asia/Tokyo/1");
	/* a new token replaces the old one */
	CHECK_INT(meta_source_token_set(m, "city-a", "fw", h2, &e), 0);
	CHECK_INT(meta_source_token_find(m, h1, source_token_row, &r, &e), -ENOENT);
	CHECK_STR(e.msg, "no such ingest token");
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_source_token_find(m, h2, source_token_row, &r, &e), 0);
	CHECK_STR(r.text, "fw/city-a/rfc5424/Asia/Tokyo/1");
	/* an API token's hash is not an ingest token, and the other way round */
	CHECK_INT(meta_token_add(m, "reader", "city-a", h1, &e), 0);
	CHECK_INT(meta_source_token_find(m, h1, source_token_row, &r, &e), -ENOENT);
	CHECK_INT(meta_token_find(m, h2, token_row, &r, &e), -ENOENT);
	/* a source that does not exist, a bad name, a source without a token */
	CHECK_INT(meta_source_token_set(m, "city-a", "nosuch", h1, &e), -ENOENT);
	CHECK_INT(meta_source_token_set(m, "../city-a", "fw", h1, &e), -EINVAL);
	CHECK_INT(meta_source_token_revoke(m, "city-a", "fw", &e), 0);
	CHECK_INT(meta_source_token_revoke(m, "city-a", "fw", &e), -ENOENT);
	CHECK_STR(e.msg, "source 'fw' of tenant 'city-a' has no ingest token");
	CHECK_INT(meta_source_token_find(m, h2, source_token_row, &r, &e), -ENOENT);
	/* removing the source (or its tenant) removes its token */
	memset(&r, 0, sizeof(r));
	CHECK_INT(meta_source_token_find(m, h3, source_token_row, &r, &e), 0);
	CHECK_STR(r.text, "fw/city-b/auto/-/1");
	CHECK_INT(meta_source_remove(m, "city-b", "fw", &e), 0);
	CHECK_INT(meta_source_token_find(m, h3, source_token_row, &r, &e), -ENOENT);
	meta_close(m);
}

static long long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * A connection with its automatic checkpoints off leaves koban.db as it was (its commits
 * stay in the WAL); the checkpointer's thread copies them into the database within its
 * interval, and stops at once.
 */
static void test_checkpointer(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_checkpointer *c = NULL;
	struct err e = ERR_INIT;
	char path[700], name[32];
	long long before;
	int waited = 0;

	if (!m)
		return;
	snprintf(path, sizeof(path), "%s/koban.db", t_meta_dir());
	CHECK_INT(meta_checkpoint(m, &e), 0);
	before = file_size(path);
	meta_autocheckpoint(m, false);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "tenant-%d", i);
		CHECK_INT(meta_tenant_add(m, name, &e), 0);
	}
	CHECK_INT(file_size(path), before); /* everything is in the WAL */
	CHECK_INT(meta_checkpointer_start(&c, t_meta_dir(), 50000000, &e), 0);
	while (file_size(path) == before && waited++ < 100)
		nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	CHECK(file_size(path) > before);
	meta_checkpointer_stop(c);
	meta_checkpointer_stop(NULL);
	meta_autocheckpoint(m, true);
	meta_close(m);
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	T_RUN(test_open_creates_schema);
	T_RUN(test_source_tokens);
	T_RUN(test_crafted_rows_skipped);
	T_RUN(test_activity_and_senders);
	T_RUN(test_open_bad_dir);
	T_RUN(test_open_out_of_memory);
	T_RUN(test_tenant_add_remove);
	T_RUN(test_tenant_names);
	T_RUN(test_source_validation);
	T_RUN(test_source_fields);
	T_RUN(test_tenant_isolation);
	T_RUN(test_two_handles);
	T_RUN(test_migrate_v2);
	T_RUN(test_tokens);
	T_RUN(test_tenant_ids_not_reused);
	T_RUN(test_checkpointer);
	return t_done();
}
