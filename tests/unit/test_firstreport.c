/* Unit tests of the first reports: golden drafts in both languages (the bundled templates
 * against an incident built here), the table's conditions, templates from a directory and
 * their load errors, the stored reports (refresh never overwrites an edit, approval sets
 * the reported clock and logs it, tenant isolation, purge), allocation failures. */
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "soc/firstreport.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NS 1000000000LL
#define T0 (1795996800LL * NS) /* 2026-11-30T00:00:00Z */

static struct meta_incident incident(const char *tenant)
{
	return (struct meta_incident){
		.id = 42, .tenant = tenant, .title = "CVE-2024-3400 exploit against 203.0.113.10",
		.rule_id = "panos-threat-critical", .group_key = "panos-threat-critical|203.0.113.10",
		.level = 3, .status = "new", .owner = "", .n_alerts = 3,
		.evidence = "[{\"rule\": \"server-answered\", \"effect\": \"min\", \"level\": 2,"
			    " \"sentence\": \"The server answered the exploit: 48213 bytes in session 7781.\","
			    " \"sentence_ja\": \"サーバが攻撃に応答しました（セッション 7781 で 48213 バイト）。\","
			    " \"at\": \"2026-11-30T01:02:05Z\", \"events\": [{\"a\": 1}]},"
			    " {\"rule\": \"c2-callback\", \"effect\": \"set\", \"level\": 3,"
			    " \"sentence\": \"10.1.2.3 contacted the known C2 198.51.100.7 after the attack.\","
			    " \"at\": \"2026-11-30T01:30:00Z\"}]",
		.entities = "{\"users\": [], \"hosts\": [\"PC-042\", \"fw01\"],"
			    " \"ips\": [\"203.0.113.10\", \"198.51.100.7\"]}",
		.terminal = "{\"ip\": \"10.1.2.3\", \"port\": 51514, \"host\": \"PC-042\", \"via\": \"panos-nat\","
			    " \"sentence\": \"203.0.113.10:40123 was 10.1.2.3:51514 (PC-042) behind the PAN-OS NAT\","
			    " \"at\": \"2026-11-30T01:02:00Z\"}",
		.first_ns = T0 + 3720 * NS, .last_ns = T0 + 5400 * NS, .detected_ns = T0 + 3721 * NS,
		.updated_ns = T0 + 5400 * NS,
	};
}

static const struct meta_alert alerts[] = {
	{ .tenant = "alpha", .kind = "sigma", .rule_id = "panos-threat-critical",
	  .rule_title = "PAN-OS critical threat", .rule_level = "critical",
	  .rule_tags = "[\"attack.initial_access\", \"attack.t1190\"]" },
	{ .tenant = "alpha", .kind = "sigma", .rule_id = "panos-threat-critical",
	  .rule_title = "PAN-OS critical threat", .rule_level = "critical",
	  .rule_tags = "[\"attack.initial_access\", \"attack.t1190\"]" },
	{ .tenant = "alpha", .kind = "sigma", .rule_id = "panos-spyware-c2",
	  .rule_title = "PAN-OS spyware C2 callback", .rule_level = "high",
	  .rule_tags = "[\"attack.command_and_control\"]" },
};

/* The golden file tests/data/firstreport/NAME against got; KOBAN_GOLDEN_WRITE=1 rewrites it. */
static void check_golden(const char *name, const struct buf *got)
{
	char path[512];
	char *want;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/firstreport/%s", t_data_dir(), name);
	if (getenv("KOBAN_GOLDEN_WRITE")) {
		FILE *f = fopen(path, "w");

		CHECK(f && fwrite(got->p, 1, got->len, f) == got->len);
		if (f)
			fclose(f);
		return;
	}
	want = t_read_file(path, &len);
	CHECK(want);
	if (want && (len != got->len || memcmp(want, got->p, len)))
		t_check(0, __FILE__, __LINE__, "%s differs; got:\n%s", path, got->p);
	free(want);
}

static void test_golden_drafts(void)
{
	struct firstreport *fr = NULL;
	struct meta_incident inc = incident("alpha");
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;

	CHECK_INT(firstreport_new(&fr, NULL, &e), 0);
	if (!fr)
		return;
	CHECK_INT(firstreport_draft(fr, &inc, alerts, 3, "ja", &out, &e), 0);
	check_golden("level3_ja.txt", &out);
	buf_reset(&out);
	CHECK_INT(firstreport_draft(fr, &inc, alerts, 3, "en", &out, &e), 0);
	check_golden("level3_en.txt", &out);
	/* undecided, nothing known yet: no level text, no level actions, the fallbacks */
	inc.level = META_LEVEL_UNDECIDED;
	inc.evidence = "[]";
	inc.entities = "{}";
	inc.terminal = "{}";
	buf_reset(&out);
	CHECK_INT(firstreport_draft(fr, &inc, alerts + 2, 1, "ja", &out, &e), 0);
	check_golden("undecided_ja.txt", &out);
	buf_reset(&out);
	CHECK_INT(firstreport_draft(fr, &inc, alerts + 2, 1, "en", &out, &e), 0);
	check_golden("undecided_en.txt", &out);
	CHECK_INT(firstreport_draft(fr, &inc, alerts, 3, "fr", &out, &e), -EINVAL);
	CHECK_STR(e.msg, "language fr: expected ja or en");
	inc.evidence = "[{\"rule\": ";
	CHECK_INT(firstreport_draft(fr, &inc, alerts, 3, "en", &out, &e), -EINVAL);
	CHECK(strstr(e.msg, "first report: evidence: "));
	buf_release(&out);
	firstreport_free(fr);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f && fputs(text, f) >= 0);
	if (f)
		fclose(f);
}

/* A template set in a directory: the table's conditions (tags, prefixes, AND) and errors. */
static void test_directory_and_table(void)
{
	char dir[512];
	struct firstreport *fr = NULL;
	struct meta_incident inc = incident("alpha");
	struct buf out = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;

	snprintf(dir, sizeof(dir), "%s/set", t_tmp_dir());
	CHECK_INT(mkdir(dir, 0700), 0);
	write_file(dir, "ja.txt", "{{#each actions}}{{number}}:{{text}}\n{{/each}}");
	write_file(dir, "en.txt", "{{level}} {{level_name}} {{#each tags}}{{name}};{{/each}}\n"
		   "{{#each actions}}{{text}}|{{/each}}{{#each extra}}{{text}}{{/each}}\n");
	write_file(dir, "actions.txt", "# comment\n\n"
		   "actions | tag=attack.* | ja | prefix\n"
		   "actions | tag=attack.t1190,level>=3 | ja | both\n"
		   "actions | tag=attack.t1190,level<=2 | ja | never\n"
		   "actions | any | en | a | with a bar\n"
		   "extra | level=0 | en | zero\n");
	CHECK_INT(firstreport_new(&fr, dir, &e), 0);
	if (fr) {
		CHECK_INT(firstreport_draft(fr, &inc, alerts, 3, "ja", &out, &e), 0);
		CHECK_STR(out.p, "1:prefix\n2:both\n");
		buf_reset(&out);
		CHECK_INT(firstreport_draft(fr, &inc, alerts, 3, "en", &out, &e), 0);
		CHECK_STR(out.p, "3 Critical attack.initial_access;attack.t1190;attack.command_and_control;\n"
			  "a | with a bar|\n");
		firstreport_free(fr);
	}
	/* errors name the file and line; a template using a field nobody has fails at load */
	write_file(dir, "actions.txt", "actions | level>=4 | ja | x\n");
	CHECK_INT(firstreport_new(&fr, dir, &e), -EINVAL);
	CHECK(strstr(e.msg, "/actions.txt:1: level>=4: expected any, level=N"));
	write_file(dir, "actions.txt", "\nactions | any | de | x\n");
	CHECK_INT(firstreport_new(&fr, dir, &e), -EINVAL);
	CHECK(strstr(e.msg, "/actions.txt:2: language de: expected ja or en"));
	write_file(dir, "actions.txt", "actions | any\n");
	CHECK_INT(firstreport_new(&fr, dir, &e), -EINVAL);
	CHECK(strstr(e.msg, "/actions.txt:1: expected LIST | WHEN | LANG | TEXT"));
	write_file(dir, "actions.txt", "actions | any | ja | x\n");
	write_file(dir, "en.txt", "\n{{titel}}\n");
	CHECK_INT(firstreport_new(&fr, dir, &e), -EINVAL);
	CHECK(strstr(e.msg, "/en.txt:2: no field named titel"));
	write_file(dir, "en.txt", "{{#each extra}}{{/each}}");
	CHECK_INT(firstreport_new(&fr, dir, &e), -EINVAL); /* extra: no table line names it */
	CHECK(strstr(e.msg, "/en.txt:1: no field named extra"));
	snprintf(dir, sizeof(dir), "%s/none", t_tmp_dir());
	CHECK(firstreport_new(&fr, dir, &e) < 0 && !fr);
	buf_release(&out);
}

struct got_report {
	int n;
	char text[4096], status[16], edited_by[32], approved_by[32];
	bool edited;
	int64_t approved_ns;
};

static void got_report(void *ctx, const struct meta_report *r)
{
	struct got_report *g = ctx;

	g->n++;
	snprintf(g->text, sizeof(g->text), "%s", r->text);
	snprintf(g->status, sizeof(g->status), "%s", r->status);
	snprintf(g->edited_by, sizeof(g->edited_by), "%s", r->edited_by);
	snprintf(g->approved_by, sizeof(g->approved_by), "%s", r->approved_by);
	g->edited = r->edited;
	g->approved_ns = r->approved_ns;
}

static void got_incident(void *ctx, const struct meta_incident *inc)
{
	*(int64_t *)ctx = inc->reported_ns;
}

struct got_log {
	int reports;
	char detail[128];
};

static void got_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct got_log *g = ctx;

	if (strcmp(en->action, "report"))
		return;
	g->reports++;
	snprintf(g->detail, sizeof(g->detail), "%s", en->detail);
}

static void test_store(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_incident inc = incident("alpha");
	struct firstreport *fr = NULL;
	struct got_report g = { 0 };
	struct got_log lg = { 0 };
	struct err e = ERR_INIT;
	int64_t id = 0, reported = -1;
	bool stored = true;

	if (!m)
		return;
	CHECK_INT(firstreport_new(&fr, NULL, &e), 0);
	CHECK_INT(meta_incident_add(m, &inc, &id, &e), 0);
	inc.id = id;
	CHECK_INT(firstreport_refresh(fr, m, &inc, alerts, 3, T0, &e), 0);
	CHECK_INT(meta_report_get(m, "alpha", id, "ja", got_report, &g, &e), 0);
	CHECK(strstr(g.text, "至急のご対応をお願いします。"));
	CHECK_STR(g.status, "draft");
	CHECK(!g.edited);
	CHECK_INT(meta_report_get(m, "alpha", id, "en", got_report, &g, &e), 0);
	CHECK(strstr(g.text, "Please act at once."));
	/* the same text again writes nothing; a new level rewrites the unedited drafts */
	CHECK_INT(meta_report_draft(m, "alpha", id, "en", g.text, T0 + 1, &stored, &e), 0);
	CHECK(!stored);
	inc.level = 1;
	CHECK_INT(firstreport_refresh(fr, m, &inc, alerts, 3, T0 + 2, &e), 0);
	CHECK_INT(meta_report_get(m, "alpha", id, "en", got_report, &g, &e), 0);
	CHECK(strstr(g.text, "no sign that it succeeded"));
	/* an analyst's edit is never overwritten by a refresh */
	CHECK_INT(meta_report_edit(m, "alpha", id, "ja", "編集した初報\n", "hanako", T0 + 3, &e), 0);
	inc.level = 3;
	CHECK_INT(firstreport_refresh(fr, m, &inc, alerts, 3, T0 + 4, &e), 0);
	CHECK_INT(meta_report_get(m, "alpha", id, "ja", got_report, &g, &e), 0);
	CHECK_STR(g.text, "編集した初報\n");
	CHECK(g.edited);
	CHECK_STR(g.edited_by, "hanako");
	/* beta sees, edits and approves nothing of alpha's */
	CHECK_INT(meta_report_get(m, "beta", id, "ja", got_report, &g, &e), -ENOENT);
	CHECK_INT(meta_report_edit(m, "beta", id, "ja", "x", "mallory", T0, &e), -ENOENT);
	CHECK_INT(meta_report_draft(m, "beta", id, "ja", "x", T0, NULL, &e), -ENOENT);
	CHECK_INT(firstreport_approve(m, "beta", id, "ja", "mallory", T0, &e), -ENOENT);
	CHECK_INT(meta_report_edit(m, "alpha", id, "ja", "bad\x01", "hanako", T0, &e), -EINVAL);
	CHECK_INT(meta_report_edit(m, "alpha", id, "ja", "bad \xff", "hanako", T0, &e), -EINVAL);
	CHECK_STR(e.msg, "report text: not UTF-8 at byte 4");
	CHECK_INT(meta_report_get(m, "alpha", id, "de", got_report, &g, &e), -EINVAL);
	/* approval: the reported clock once, a timeline entry each, then the report is final */
	CHECK_INT(firstreport_approve(m, "alpha", id, "ja", "hanako", T0 + 10 * NS, &e), 0);
	CHECK_INT(firstreport_approve(m, "alpha", id, "ja", "hanako", T0 + 11 * NS, &e), -EALREADY);
	CHECK_INT(firstreport_approve(m, "alpha", id, "en", "taro", T0 + 12 * NS, &e), 0);
	CHECK_INT(meta_incident_get(m, "alpha", id, got_incident, &reported, &e), 0);
	CHECK_INT(reported, T0 + 10 * NS);
	CHECK_INT(meta_report_get(m, "alpha", id, "ja", got_report, &g, &e), 0);
	CHECK_STR(g.status, "approved");
	CHECK_STR(g.approved_by, "hanako");
	CHECK_INT(g.approved_ns, T0 + 10 * NS);
	CHECK_INT(meta_report_edit(m, "alpha", id, "ja", "later", "hanako", T0, &e), -EBUSY);
	CHECK_INT(meta_report_draft(m, "alpha", id, "ja", "later", T0, &stored, &e), 0);
	CHECK(!stored);
	CHECK_INT(meta_incident_timeline(m, "alpha", id, got_entry, &lg, &e), 0);
	CHECK_INT(lg.reports, 2);
	CHECK_STR(lg.detail, "{\"lang\": \"en\", \"status\": \"approved\"}");
	/* no report yet, no incident */
	CHECK_INT(firstreport_approve(m, "alpha", id + 1, "ja", "hanako", T0, &e), -ENOENT);
	/* purging the incident removes its reports */
	CHECK_INT(meta_incident_purge(m, "alpha", id, &e), 0);
	CHECK_INT(t_meta_exec("SELECT 1 FROM incident_reports LIMIT 0"), 0);
	CHECK_INT(meta_report_get(m, "alpha", id, "ja", got_report, &g, &e), -ENOENT);
	firstreport_free(fr);
	meta_close(m);
}

static void test_alloc_failures(void)
{
	struct meta_incident inc = incident("alpha");
	struct err e = ERR_INIT;
	bool loaded = false, drafted = false;

	for (long n = 0; n < 400 && !(loaded && drafted); n++) {
		struct firstreport *fr = NULL;
		struct buf out = BUF_INIT(1 << 20);
		int rc;

		mem_fail_after(n);
		rc = firstreport_new(&fr, NULL, &e);
		if (rc == 0) {
			loaded = true;
			rc = firstreport_draft(fr, &inc, alerts, 3, "ja", &out, &e);
			drafted = rc == 0;
		}
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		buf_release(&out);
		firstreport_free(fr);
	}
	CHECK(loaded && drafted);
}

int main(void)
{
	T_RUN(test_golden_drafts);
	T_RUN(test_directory_and_table);
	T_RUN(test_store);
	T_RUN(test_alloc_failures);
	return t_done();
}
