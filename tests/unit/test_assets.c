/* Unit tests of the asset inventory: the store (tenant isolation), CSV and scanner imports,
 * look-ups, JSON edits and the unknown hosts of alerts. */
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "enrich/assets.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>

static struct meta_asset asset(const char *tenant, const char *name)
{
	return (struct meta_asset){
		.tenant = tenant, .name = name, .hostnames = "[\"web01.example.com\"]",
		.addresses = "[\"10.0.0.5\", \"10.1.0.0/16\"]", .owner = "Ops",
		.criticality = "high", .role = "server",
		.software = "[{\"name\": \"nginx\", \"version\": \"1.18.0\"}]",
		.cves = "[\"CVE-2021-23017\"]",
	};
}

struct got {
	int n;
	int64_t id;
	char names[512];
	char tenant[64];
};

static void got_row(void *ctx, const struct meta_asset *a)
{
	struct got *g = ctx;
	size_t len = strlen(g->names);

	g->n++;
	g->id = a->id;
	snprintf(g->names + len, sizeof(g->names) - len, "%s%s/%s", len ? " " : "", a->tenant,
		 a->name);
	snprintf(g->tenant, sizeof(g->tenant), "%s", a->tenant);
}

static void test_store_and_isolation(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_asset a = asset("alpha", "web01"), b = asset("beta", "web01");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t ida = 0, idb = 0;

	if (!m)
		return;
	CHECK_INT(meta_asset_add(m, &a, &ida, &e), 0);
	CHECK_INT(meta_asset_add(m, &a, NULL, &e), -EEXIST);
	CHECK_INT(meta_asset_add(m, &b, &idb, &e), 0); /* one name in two tenants */
	CHECK(ida > 0 && idb > 0 && ida != idb);
	/* beta can neither read, change nor remove alpha's asset by its id */
	CHECK_INT(meta_asset_get(m, "beta", ida, NULL, got_row, &g, &e), -ENOENT);
	b.id = ida;
	b.owner = "Mallory";
	CHECK_INT(meta_asset_update(m, &b, &e), -ENOENT);
	CHECK_INT(meta_asset_remove(m, "beta", ida, &e), -ENOENT);
	CHECK_INT(meta_asset_get(m, "alpha", ida, NULL, got_row, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.tenant, "alpha");
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_asset_get(m, "alpha", 0, "web01", got_row, &g, &e), 0);
	CHECK_INT(g.id, ida);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_asset_list(m, "beta", got_row, &g, &e), 0);
	CHECK_STR(g.names, "beta/web01");
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_asset_list(m, NULL, got_row, &g, &e), 0);
	CHECK_STR(g.names, "alpha/web01 beta/web01");
	/* values out of shape are refused */
	a = asset("alpha", "x");
	a.criticality = "urgent";
	CHECK_INT(meta_asset_add(m, &a, NULL, &e), -EINVAL);
	a = asset("alpha", "x");
	a.addresses = "[\"10.0.0.5/8\"]";
	CHECK_INT(meta_asset_add(m, &a, NULL, &e), -EINVAL);
	a = asset("alpha", "x");
	a.cves = "[\"CVE-21-1\"]";
	CHECK_INT(meta_asset_add(m, &a, NULL, &e), -EINVAL);
	a = asset("alpha", "x");
	a.software = "[{\"name\": \"\", \"version\": \"1\"}]";
	CHECK_INT(meta_asset_add(m, &a, NULL, &e), -EINVAL);
	a = asset("alpha", "x");
	a.hostnames = "[\"Web01\"]";
	CHECK_INT(meta_asset_add(m, &a, NULL, &e), -EINVAL);
	CHECK_INT(meta_asset_add(m, &(struct meta_asset){ 0 }, NULL, &e), -EINVAL);
	/* a crafted row is skipped when read */
	CHECK_INT(t_meta_exec("UPDATE assets SET role = 'toaster' WHERE name = 'web01' AND "
			      "tenant_id = (SELECT id FROM tenants WHERE name = 'beta')"), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_asset_list(m, NULL, got_row, &g, &e), 0);
	CHECK_STR(g.names, "alpha/web01");
	/* update and remove through the right tenant */
	a = asset("alpha", "web01");
	a.id = ida;
	a.owner = "Web team";
	CHECK_INT(meta_asset_update(m, &a, &e), 0);
	CHECK_INT(meta_asset_remove(m, "alpha", ida, &e), 0);
	CHECK_INT(meta_asset_remove(m, "alpha", ida, &e), -ENOENT);
	CHECK_INT(meta_tenant_remove(m, "beta", &e), 0);
	meta_close(m);
}

struct rejects {
	int n;
	char last[256];
	char lines[64];
};

static void on_reject(void *ctx, unsigned line, const char *why)
{
	struct rejects *r = ctx;
	size_t len = strlen(r->lines);

	r->n++;
	snprintf(r->lines + len, sizeof(r->lines) - len, "%s%u", len ? " " : "", line);
	snprintf(r->last, sizeof(r->last), "%s", why);
}

static const char own_csv[] =
	"Name,IP,Hostname,Owner,Criticality,Role,Software,CVEs\n"
	"web01,10.0.0.5,web01.example.com,Web team,High,Server,\"nginx 1.18.0; OpenSSL 1.1.1k\","
	"CVE-2021-23017\n"
	"\n"
	"db01,\"10.0.1.0/24, 10.0.2.7\",,DBA,critical,server,PostgreSQL 13.2,\n"
	"bad,10.0.0.300,,,,,,\n"
	"pc7,,\"PC7.corp.example.\nalt7\",,,pc,,\n"
	"\"gw, edge\",192.0.2.1,,,low,other,,cve-2020-0001\n"
	"x,,,,urgent,,,\n";

/* Imports text into tenant's assets in m; the stats. */
static struct assets_import_stats import(struct meta *m, const char *tenant, const char *text,
					 enum assets_format f, const struct assets_columns *cols,
					 struct rejects *r)
{
	struct assets_import_stats st = { 0 };
	struct assets *a = NULL;
	struct err e = ERR_INIT;

	if (assets_load(m, tenant, &a, &e) < 0 ||
	    assets_merge_csv(a, tenant, text, strlen(text), f, cols, on_reject, r, &st, &e) < 0 ||
	    assets_store(a, m, &st, &e) < 0)
		t_check(0, __FILE__, __LINE__, "import: %s", e.msg);
	assets_free(a);
	return st;
}

static const struct assets_entry *find(struct assets *a, const char *tenant, const char *v)
{
	return assets_lookup(a, tenant, v, strlen(v));
}

/* The name of the asset v finds for tenant, "(none)" when it finds none. */
static const char *found(struct assets *a, const char *tenant, const char *v)
{
	const struct assets_entry *en = find(a, tenant, v);

	return en ? en->name : "(none)";
}

static void test_csv_import(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct rejects r = { 0 };
	struct assets_import_stats st;
	const struct assets_entry *en;
	struct assets *a = NULL;
	struct err e = ERR_INIT;
	struct buf b = BUF_INIT(1 << 20);

	if (!m)
		return;
	st = import(m, "alpha", own_csv, ASSETS_AUTO, NULL, &r);
	CHECK_INT(st.records, 6);
	CHECK_INT(st.added, 4);
	CHECK_INT(st.updated, 0);
	CHECK_INT(st.rejected, 2);
	CHECK_STR(r.lines, "5 9");
	CHECK(strstr(r.last, "urgent") != NULL);
	CHECK_INT(assets_load(m, "alpha", &a, &e), 0);
	CHECK_INT(assets_count(a), 4);
	en = find(a, "alpha", "10.0.0.5");
	CHECK(en && !strcmp(en->name, "web01"));
	if (en) {
		CHECK_STR(en->criticality, "high");
		CHECK_STR(en->role, "server");
		CHECK_INT(en->software_names.n, 2);
		CHECK_STR(en->software_versions.v[1], "1.1.1k");
		CHECK_INT(assets_entry_write_json(en, &b), 0);
		CHECK(strstr(b.p, "\"software\": [{\"name\": \"nginx\", \"version\": \"1.18.0\"}, "
			     "{\"name\": \"OpenSSL\", \"version\": \"1.1.1k\"}]") != NULL);
	}
	CHECK_STR(found(a, "alpha", "10.0.1.77"), "db01");
	CHECK(find(a, "alpha", "10.0.3.1") == NULL);
	CHECK(find(a, "beta", "10.0.0.5") == NULL); /* another tenant's asset never matches */
	CHECK_STR(found(a, "alpha", "PC7"), "pc7");
	CHECK_STR(found(a, "alpha", "alt7"), "pc7");
	CHECK(find(a, "alpha", "pc8.corp.example") == NULL);
	CHECK_STR(found(a, "alpha", "WEB01.example.com"), "web01");
	CHECK_STR(found(a, "alpha", "web01.other.example"), "web01");
	en = find(a, "alpha", "192.0.2.1");
	CHECK(en && !strcmp(en->name, "gw, edge"));
	CHECK(en && en->cves.n == 1 && !strcmp(en->cves.v[0], "CVE-2020-0001"));
	assets_free(a);
	a = NULL;

	/* the same file again: nothing new, what it holds already is not rewritten */
	memset(&r, 0, sizeof(r));
	st = import(m, "alpha", own_csv, ASSETS_CSV, NULL, &r);
	CHECK_INT(st.added, 0);
	CHECK_INT(st.updated, 0);
	CHECK_INT(st.rejected, 2);
	/* a column map without a header; a new CVE updates the asset found by its address */
	memset(&r, 0, sizeof(r));
	st = import(m, "alpha", "10.0.0.5,CVE-2022-41741\n",
		    ASSETS_CSV, &(struct assets_columns){ .col = { [ASSETS_COL_ADDRESSES] = 1,
								    [ASSETS_COL_CVES] = 2 } }, &r);
	CHECK_INT(st.records, 1);
	CHECK_INT(st.updated, 1);
	CHECK_INT(st.added, 0);
	/* a file that names no column is refused whole */
	CHECK_INT(assets_load(m, "alpha", &a, &e), 0);
	CHECK_INT(assets_merge_csv(a, "alpha", "a,b\n", 4, ASSETS_CSV, NULL, on_reject, &r,
				   &st, &e), -EINVAL);
	en = find(a, "alpha", "10.0.0.5");
	CHECK(en && en->cves.n == 2);
	assets_free(a);
	buf_release(&b);
	meta_close(m);
}

static const char nessus_csv[] =
	"Plugin ID,CVE,CVSS v2.0 Base Score,Risk,Host,Protocol,Port,Name,Synopsis,Description,"
	"Solution,See Also,Plugin Output\n"
	"10001,CVE-2021-41773,7.5,High,10.0.0.5,tcp,80,Apache 2.4.49,s,d,\"upgrade, now\",,\n"
	"10001,CVE-2021-42013,7.5,High,10.0.0.5,tcp,80,Apache 2.4.49,s,d,x,,\n"
	"10002,,,None,10.0.0.5,tcp,22,SSH,s,d,x,,\n"
	"10003,CVE-2019-0708,10.0,Critical,ws42.corp.example,tcp,3389,RDP,s,d,x,,\n";

static const char openvas_csv[] =
	"IP,Hostname,Port,Port Protocol,CVSS,Severity,Solution Type,NVT Name,Summary,"
	"Specific Result,NVT OID,CVEs\n"
	"10.0.0.9,mail.corp.example,25,tcp,5.0,Medium,VendorFix,n,s,r,1.3.6.1.4.1.25623.1.0.1,"
	"\"CVE-2020-7247,CVE-2020-8794\"\n"
	"10.0.0.5,,443,tcp,5.0,Medium,VendorFix,n,s,r,1.3.6.1.4.1.25623.1.0.2,CVE-2014-0160\n";

static void test_scanner_imports(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct rejects r = { 0 };
	struct assets_import_stats st;
	const struct assets_entry *en;
	struct assets *a = NULL;
	struct err e = ERR_INIT;

	if (!m)
		return;
	st = import(m, "alpha", nessus_csv, ASSETS_AUTO, NULL, &r);
	CHECK_INT(st.records, 4);
	CHECK_INT(st.added, 2);
	CHECK_INT(st.rejected, 0);
	st = import(m, "alpha", openvas_csv, ASSETS_AUTO, NULL, &r);
	CHECK_INT(st.records, 2);
	CHECK_INT(st.added, 1);
	CHECK_INT(st.updated, 1);
	CHECK_INT(r.n, 0);
	CHECK_INT(assets_load(m, "alpha", &a, &e), 0);
	en = find(a, "alpha", "10.0.0.5");
	CHECK(en && !strcmp(en->name, "10.0.0.5") && en->cves.n == 3);
	en = find(a, "alpha", "ws42");
	CHECK(en && en->cves.n == 1 && !strcmp(en->cves.v[0], "CVE-2019-0708"));
	en = find(a, "alpha", "10.0.0.9");
	CHECK(en && !strcmp(en->name, "mail.corp.example") && en->cves.n == 2);
	assets_free(a);
	meta_close(m);
}

static void test_json_edit(void)
{
	struct assets *a = NULL;
	struct assets_entry *en = NULL;
	struct err e = ERR_INIT;
	static const char body[] =
		"{\"addresses\": [\"192.0.2.0/24\"], \"criticality\": \"Critical\", "
		"\"software\": [{\"name\": \"IIS\", \"version\": \"10.0\"}], \"cves\": []}";

	CHECK_INT(assets_new(&a, &e), 0);
	if (!a)
		return;
	CHECK_INT(assets_add_new(a, "alpha", "gw", &en, &e), 0);
	CHECK_INT(assets_entry_apply_json(a, en, body, strlen(body), &e), 0);
	CHECK_STR(en->criticality, "critical");
	CHECK_INT(en->addresses.n, 1);
	CHECK_STR(en->software_names.v[0], "IIS");
	CHECK_INT(assets_entry_apply_json(a, en, "{\"colour\": \"red\"}", 17, &e), -EINVAL);
	CHECK(strstr(e.msg, "colour") != NULL);
	CHECK_INT(assets_entry_apply_json(a, en, "{\"role\": \"fridge\"}", 18, &e), -EINVAL);
	CHECK_INT(assets_entry_apply_json(a, en, "{\"addresses\": [\"10.0.0.1/8\"]}", 29, &e),
		  -EINVAL);
	CHECK_INT(assets_entry_apply_json(a, en, "[1]", 3, &e), -EINVAL);
	CHECK_INT(assets_entry_set(a, en, ASSETS_COL_HOSTNAMES, "A.example B.example", 19, true,
				   &e), 0);
	CHECK_INT(en->hostnames.n, 2);
	CHECK_STR(en->hostnames.v[1], "b.example");
	assets_free(a);
}

struct unknowns {
	char text[1024];
	int n;
};

static void on_unknown(void *ctx, const struct assets_unknown *u)
{
	struct unknowns *k = ctx;
	size_t len = strlen(k->text);

	k->n++;
	snprintf(k->text + len, sizeof(k->text) - len, "%s %s %s %lld;", u->kind, u->value,
		 u->field, (long long)u->alerts);
}

static void add_alert(struct meta *m, const char *tenant, const char *keys)
{
	struct meta_alert al = {
		.tenant = tenant, .kind = "sigma", .rule_id = "r", .rule_title = "T",
		.rule_level = "high", .rule_author = "", .rule_status = "", .rule_link = "",
		.rule_tags = "[]", .rule_references = "[]", .event_ns = 1, .detected_ns = 2,
		.group_fields = "{}", .key_fields = keys, .events = "", .n_events = 0,
	};
	struct err e = ERR_INIT;

	if (meta_alert_add(m, &al, NULL, &e) < 0)
		t_check(0, __FILE__, __LINE__, "alert: %s", e.msg);
}

static void test_unknown_hosts(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct rejects r = { 0 };
	struct unknowns k = { 0 };
	struct err e = ERR_INIT;
	int64_t dropped = -1;

	if (!m)
		return;
	(void)import(m, "alpha", "name,ip\nweb01,10.0.0.5\n", ASSETS_CSV, NULL, &r);
	add_alert(m, "alpha", "{\"source.ip\": \"203.0.113.9\", \"destination.ip\": \"10.0.0.5\"}");
	add_alert(m, "alpha", "{\"source.ip\": \"10.9.9.9\", \"host.name\": \"ws17\"}");
	add_alert(m, "alpha", "{\"client.ip\": \"10.9.9.9\", \"user.name\": \"bob\"}");
	add_alert(m, "beta", "{\"source.ip\": \"10.7.7.7\"}");
	CHECK_INT(assets_unknown_list(m, "alpha", 0, on_unknown, &k, &dropped, &e), 0);
	CHECK_STR(k.text, "ip 10.9.9.9 client.ip 2;host ws17 host.name 1;");
	CHECK_INT(dropped, 0);
	/* beta's web01-less inventory: its own alert only */
	memset(&k, 0, sizeof(k));
	CHECK_INT(assets_unknown_list(m, "beta", 0, on_unknown, &k, &dropped, &e), 0);
	CHECK_STR(k.text, "ip 10.7.7.7 source.ip 1;");
	CHECK_INT(assets_unknown_list(m, "gamma", 0, on_unknown, &k, &dropped, &e), -ENOENT);
	meta_close(m);
}

/* Nested networks: the most specific holds; IPv6; a tenant sees only its own. */
static void test_lookup_nested(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct rejects r = { 0 };
	struct assets *a = NULL;
	struct err e = ERR_INIT;

	if (!m)
		return;
	(void)import(m, "alpha", "name,addresses\ncorp,10.0.0.0/8\nlab,10.0.1.0/24\n"
		     "host,10.0.1.5\nv6,2001:db8::/32\nv6host,2001:DB8::1\n", ASSETS_CSV, NULL,
		     &r);
	(void)import(m, "beta", "name,addresses\nall,0.0.0.0/0\n", ASSETS_CSV, NULL, &r);
	CHECK_INT(r.n, 0);
	CHECK_INT(assets_load(m, NULL, &a, &e), 0);
	if (!a)
		return;
	CHECK_STR(found(a, "alpha", "10.0.1.5"), "host");
	CHECK_STR(found(a, "alpha", "10.0.1.6"), "lab");
	CHECK_STR(found(a, "alpha", "10.200.0.1"), "corp");
	CHECK(find(a, "alpha", "192.0.2.1") == NULL);
	CHECK_STR(found(a, "alpha", "2001:db8::1"), "v6host");
	CHECK_STR(found(a, "alpha", "2001:db8::2"), "v6");
	CHECK_STR(found(a, "beta", "10.0.1.5"), "all");
	CHECK(find(a, "beta", "2001:db8::1") == NULL); /* 0.0.0.0/0 is IPv4 only */
	CHECK(find(a, "gamma", "10.0.1.5") == NULL);
	assets_free(a);
	meta_close(m);
}

/* A record past the limits is rejected whole; the records after it are read. */
static void test_csv_limits(void)
{
	struct assets_import_stats st = { 0 };
	struct rejects r = { 0 };
	struct assets *a = NULL;
	struct err e = ERR_INIT;
	struct buf text = BUF_INIT(4u << 20);
	int rc = buf_adds(&text, "name,ip\nwide");

	for (int i = 0; i < 300; i++)
		rc = err_first(rc, buf_adds(&text, ",x"));
	rc = err_first(rc, buf_adds(&text, "\nlong,\""));
	for (unsigned i = 0; i < ASSETS_CSV_RECORD_MAX / 8 + 1; i++)
		rc = err_first(rc, buf_adds(&text, "10.0.0.1"));
	rc = err_first(rc, buf_adds(&text, "\"\nok,10.0.0.2\nopen,\"10.0.0.3\n"));
	CHECK_INT(rc, 0);
	CHECK_INT(assets_new(&a, &e), 0);
	CHECK_INT(assets_merge_csv(a, "alpha", text.p, text.len, ASSETS_AUTO, NULL, on_reject, &r,
				   &st, &e), 0);
	CHECK_STR(r.lines, "2 3 5");
	CHECK_INT(st.rejected, 3);
	CHECK_INT(st.records, 4);
	CHECK_INT(assets_count(a), 1);
	CHECK(strstr(r.last, "without its closing quote") != NULL);
	assets_free(a);
	buf_release(&text);
}

static void test_columns_parse(void)
{
	struct assets_columns c;
	struct err e = ERR_INIT;

	CHECK_INT(assets_columns_parse("name=1,addresses=3,cves=12", &c, &e), 0);
	CHECK_INT(c.col[ASSETS_COL_ADDRESSES], 3);
	CHECK_INT(c.col[ASSETS_COL_CVES], 12);
	CHECK_INT(assets_columns_parse("name=0", &c, &e), -EINVAL);
	CHECK_INT(assets_columns_parse("name=1,name=2", &c, &e), -EINVAL);
	CHECK_INT(assets_columns_parse("colour=1", &c, &e), -EINVAL);
	CHECK_INT(assets_columns_parse("name=257", &c, &e), -EINVAL);
	CHECK_INT(assets_columns_parse("name", &c, &e), -EINVAL);
}

/* Every allocation of an import failing in turn: a clean error, nothing leaked. */
static void test_out_of_memory(void)
{
	for (long n = 0; n < 400; n++) {
		struct assets_import_stats st = { 0 };
		struct rejects r = { 0 };
		struct assets *a = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = assets_new(&a, &e);
		if (rc == 0)
			rc = assets_merge_csv(a, "alpha", own_csv, strlen(own_csv), ASSETS_CSV,
					      NULL, on_reject, &r, &st, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		assets_free(a);
		if (rc == 0)
			break;
	}
}

int main(void)
{
	T_RUN(test_store_and_isolation);
	T_RUN(test_csv_import);
	T_RUN(test_scanner_imports);
	T_RUN(test_json_edit);
	T_RUN(test_unknown_hosts);
	T_RUN(test_lookup_nested);
	T_RUN(test_csv_limits);
	T_RUN(test_columns_parse);
	T_RUN(test_out_of_memory);
	return t_done();
}
