/* Unit tests of triage: the rule language (load errors with FILE:LINE), the bundled rules
 * each against events in a real store in a temp dir, the order of effects, the evidence
 * windows (complete, recheck), assets, the SOC-wide attackers query and tenant isolation. */
#include "soc/triage.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "store/meta.h"
#include "store/store.h"
#include "t.h"
#include "t_meta.h"
#include "t_metrics.h"
#include "t_store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define ALPHA 1 /* store ids of the tenants */
#define BETA 2
#define MIN_NS (60LL * 1000000000LL)
#define HOUR_NS (60 * MIN_NS)

/* 2026-11-30T10:00:00Z: the attack */
static int64_t t0(void)
{
	int64_t ns = 0;

	time_parse_rfc3339("2026-11-30T10:00:00Z", 20, &ns, NULL);
	return ns;
}

/* ---- the store ---- */

struct lines {
	const char *const *v;
};

static void make_line(struct event *ev, int i, void *ctx)
{
	const struct lines *l = ctx;
	struct err e = ERR_INIT;

	if (ecs_decode(ev, l->v[i], strlen(l->v[i]), &e) < 0)
		t_check(0, __FILE__, __LINE__, "ecs_decode: %s: %s", e.msg, l->v[i]);
}

static struct store *store_with(uint64_t tenant, const char *const *lines, int n)
{
	struct store *st = NULL;
	struct err e = ERR_INIT;
	struct lines l = { lines };

	if (store_open(&st, t_meta_dir(), &e) < 0) {
		t_check(0, __FILE__, __LINE__, "store_open: %s", e.msg);
		return NULL;
	}
	if (n)
		t_store_import(st, tenant, n, make_line, &l, NULL);
	return st;
}

static void store_add(struct store *st, uint64_t tenant, const char *const *lines, int n)
{
	struct lines l = { lines };

	t_store_import(st, tenant, n, make_line, &l, NULL);
}

/* ---- evaluation ---- */

struct run {
	struct triage *t;
	struct arena a;
	struct triage_verdict v;
	struct err e;
	int rc;
};

static struct meta_alert alert(const char *tenant, const char *level, const char *title,
			       const char *events)
{
	return (struct meta_alert){
		.id = 1, .tenant = tenant, .kind = "sigma", .rule_id = "r-1", .rule_title = title,
		.rule_level = level, .rule_author = "", .rule_status = "", .rule_link = "",
		.rule_tags = "[]", .rule_references = "[]", .event_ns = t0(), .detected_ns = t0(),
		.group_fields = "{}", .key_fields = "{}", .events = events, .n_events = 1,
	};
}

static int evaluate(struct run *r, struct store *st, const struct meta_alert *al, size_t n,
		    int64_t now)
{
	struct triage_config c = { .data_dir = t_meta_dir(), .store = st };
	struct triage_input in = { .tenant_id = ALPHA, .alerts = al, .n_alerts = n, .now_ns = now };

	memset(r, 0, sizeof(*r));
	arena_init(&r->a, 4096, 1 << 24);
	if (triage_new(&r->t, &c, &r->e) < 0) {
		t_check(0, __FILE__, __LINE__, "triage_new: %s", r->e.msg);
		return r->rc = -1;
	}
	r->rc = triage_evaluate(r->t, &in, &r->a, &r->v, &r->e);
	if (r->rc < 0)
		t_check(0, __FILE__, __LINE__, "triage_evaluate: %s", r->e.msg);
	return r->rc;
}

static void done(struct run *r)
{
	triage_free(r->t);
	arena_release(&r->a);
}

static bool has(const char *text, const char *needle)
{
	return text && strstr(text, needle);
}

/* The PAN-OS THREAT event of the exploit: attacker 203.0.113.5 to the server 10.0.0.5. */
#define THREAT(action, type)                                                                    \
	"{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"event\":{\"dataset\":\"panos.threat\","           \
	"\"action\":\"" action "\",\"type\":[\"" type "\"]},\"source\":{\"ip\":\"203.0.113.5\"},"     \
	"\"destination\":{\"ip\":\"10.0.0.5\"},\"observer\":{\"serial_number\":\"0123\"},"           \
	"\"panos\":{\"sessionid\":\"777\",\"threat\":{\"name\":\"Apache Log4j RCE CVE-2021-44228\"}}}\n"

static const char *const traffic_answered[] = {
	"{\"@timestamp\":\"2026-11-30T10:02:00Z\",\"event\":{\"dataset\":\"panos.traffic\","
	"\"reason\":\"tcp-fin\"},\"source\":{\"ip\":\"203.0.113.5\"},\"destination\":{\"ip\":"
	"\"10.0.0.5\",\"bytes\":50000},\"observer\":{\"serial_number\":\"0123\"},\"panos\":"
	"{\"sessionid\":\"777\"}}",
};

static const char *const callback[] = {
	"{\"@timestamp\":\"2026-11-30T10:30:00Z\",\"event\":{\"dataset\":\"panos.threat\","
	"\"action\":\"alert\"},\"source\":{\"ip\":\"10.0.0.5\"},\"destination\":{\"ip\":"
	"\"198.51.100.66\"},\"panos\":{\"subtype\":\"spyware\",\"threat\":{\"name\":"
	"\"Cobalt Strike C2\"}}}",
};

static void test_bundled_load(void)
{
	struct triage *t = NULL;
	struct err e = ERR_INIT;

	CHECK_INT(triage_new(&t, NULL, &e), 0);
	CHECK_INT(triage_rule_count(t), 13);
	triage_free(t);
}

/* Loads text into an empty rule set; returns the code, e holds the message. */
static int load(const char *text, struct err *e)
{
	char dir[512];
	struct triage *t = NULL;
	struct triage_config c = { .rules_dir = dir };
	int rc;

	snprintf(dir, sizeof(dir), "%s/empty-rules", t_tmp_dir());
	mkdir(dir, 0700);
	err_clear(e);
	if ((rc = triage_new(&t, &c, e)) < 0)
		return rc;
	rc = triage_load_text(t, "x.yml", text, strlen(text), e);
	triage_free(t);
	return rc;
}

static void test_load_errors(void)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "id: a\ntitle: t\neffect: cap\nlevel: 1\nsentence: s\n",
		  "x.yml:1: expected exactly one of where, search, asset, tenants" },
		{ "id: a\ntitle: t\neffect: cap\nlevel: 7\nwhere: '*'\nsentence: s\n",
		  "x.yml:4: level: expected an integer from 0 to 3, found '7'" },
		{ "id: a\ntitle: t\neffect: bump\nlevel: 1\nwhere: '*'\nsentence: s\n",
		  "x.yml:3: effect: expected cap, min, raise, set or note" },
		{ "id: a\ntitle: t\neffect: note\nlevel: 1\nwhere: '*'\nsentence: s\n",
		  "x.yml:4: level: a note changes no level" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nwhere: 'a: (b'\nsentence: s\n",
		  "x.yml:5: where: column" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nsearch:\n  query: 'x: {y'\nsentence: s\n",
		  "x.yml:6: query: a '{' without" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nsearch:\n  query: 'x: {y} and ('\n"
		  "sentence: s\n", "x.yml:6: query: column" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nsearch:\n  query: 'x: {y}'\n  after: 3w\n"
		  "sentence: s\n", "x.yml:7: after: expected a duration" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nwhere: '*'\nsentence: s\nlevl: 3\n",
		  "x.yml:7: unknown key 'levl'" },
		{ "id: A b\ntitle: t\neffect: min\nlevel: 2\nwhere: '*'\nsentence: s\n",
		  "x.yml:1: id: expected" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nwhere: '*'\nsentence: s\n---\n"
		  "id: a\ntitle: t\neffect: min\nlevel: 2\nwhere: '*'\nsentence: s\n",
		  "x.yml:8: id: 'a' is also the rule of x.yml:1" },
		{ "base:\n  high: 3\n", "x.yml:2: high: expected an integer from 0 to 1" },
		{ "recheck: 0s\n", "x.yml:1: recheck: expected at least 1s" },
		{ "just: text\n", "x.yml:1: expected a rule (with id) or settings" },
		{ "id: a\n  title: [\n", "x.yml:2: YAML: column" },
		{ "id: a\ntitle: t\neffect: raise\nlevel: 1\nasset:\n  address: destination.ip\n"
		  "  vulnerable: yes\n  cve_fields: [x]\nsentence: s\n",
		  "x.yml:7: vulnerable: expected true or false" },
		{ "id: a\ntitle: t\neffect: note\ntenants:\n  field: user.name\nsentence: s\n",
		  "x.yml:5: field: only source.ip" },
		{ "id: a\ntitle: t\neffect: min\nlevel: 2\nwhere: '*'\nsentence: 'a {b'\n",
		  "x.yml:6: sentence: a '{' without" },
	};
	struct err e = ERR_INIT;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(load(bad[i].text, &e), -EINVAL);
		if (!t_check(strncmp(e.msg, bad[i].msg, strlen(bad[i].msg)) == 0, __FILE__, __LINE__,
			     "case %zu: '%s' does not start with '%s'", i, e.msg, bad[i].msg))
			continue;
	}
	CHECK_INT(load("id: ok\ntitle: t\neffect: min\nlevel: 2\nwhere: 'event.action: x'\n"
		       "sentence: s\n---\n# an empty document\n", &e), 0);
	CHECK_INT(load("\xff\xfe", &e), -EINVAL);
	CHECK(has(e.msg, "x.yml:1: YAML: column 1: expected UTF-8"));
	/* a missing rules directory names itself */
	{
		struct triage *t = NULL;
		struct triage_config c = { .rules_dir = "/nonexistent/triage" };

		CHECK_INT(triage_new(&t, &c, &e), -ENOENT);
		CHECK(has(e.msg, "/nonexistent/triage"));
	}
}

static void test_blocked_caps(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al = alert("alpha", "critical", "Exploit", THREAT("reset-both", "denied"));
	struct run r;

	if (!m || !st)
		goto out;
	/* critical alone makes 1, the block caps at 1: still 1, and the evidence says why */
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(has(r.v.evidence, "\"rule\": \"device-blocked\", \"effect\": \"cap\", \"level\": 1"));
		CHECK(has(r.v.evidence, "The device blocked it (action reset-both, 203.0.113.5 to 10.0.0.5)."));
		CHECK(has(r.v.evidence, "\"at\": \"2026-11-30T10:00:00Z\""));
		CHECK(has(r.v.evidence, "\"events\": [{"));
		CHECK(has(r.v.evidence, "\"sentence_ja\": \"機器が遮断しました"));
		CHECK(r.v.complete);
		CHECK_INT(r.v.recheck_ns, 0);
	}
	done(&r);
	/* a blocked attack that then called back: proof of success beats the cap */
	store_add(st, ALPHA, callback, 1);
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 3);
		CHECK(has(r.v.evidence, "device-blocked"));
		CHECK(has(r.v.evidence, "\"rule\": \"victim-c2\""));
		CHECK(has(r.v.why, "Level 3 (set, rule victim-c2): After the attack the victim "
			  "10.0.0.5 called a C2 server: Cobalt Strike C2 to 198.51.100.66"));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_cap_needs_every_event(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al[2] = {
		alert("alpha", "high", "Exploit", THREAT("reset-both", "denied")),
		alert("alpha", "high", "Exploit", THREAT("alert", "allowed")),
	};
	struct run r;

	if (!m || !st)
		goto out;
	if (evaluate(&r, st, al, 2, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(!has(r.v.evidence, "device-blocked")); /* one attempt went through */
		CHECK(has(r.v.why, "Level 1 from the alerts' rule level (high)"));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_server_answered_then_callback(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct store *st = store_with(ALPHA, traffic_answered, 1);
	struct meta_alert al = alert("alpha", "critical", "Exploit", THREAT("alert", "allowed"));
	struct run r;

	if (!m || !st)
		goto out;
	/* at the attack's time nothing after it is seen yet: incomplete, 1 */
	if (evaluate(&r, st, &al, 1, t0()) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(!r.v.complete);
		CHECK_INT(r.v.recheck_ns, t0() + 5 * MIN_NS); /* the re-check interval */
	}
	done(&r);
	/* 10 minutes later the TRAFFIC log of the session is in: at least 2 */
	if (evaluate(&r, st, &al, 1, t0() + 10 * MIN_NS) == 0) {
		CHECK_INT(r.v.level, 2);
		CHECK(has(r.v.evidence, "\"rule\": \"panos-server-answered\", \"effect\": \"min\", "
			  "\"level\": 2, \"sentence\": \"The server answered: session 777 from "
			  "203.0.113.5 to 10.0.0.5 carried 50000 bytes back (tcp-fin).\""));
		CHECK(has(r.v.evidence, "\"at\": \"2026-11-30T10:02:00Z\""));
		CHECK(!r.v.complete);
	}
	done(&r);
	/* the callback, in beta's store, is not alpha's evidence */
	store_add(st, BETA, callback, 1);
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 2);
		CHECK(r.v.complete);
	}
	done(&r);
	/* in alpha's: 3, with both evidences */
	store_add(st, ALPHA, callback, 1);
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 3);
		CHECK(has(r.v.evidence, "panos-server-answered"));
		CHECK(has(r.v.evidence, "victim-c2"));
	}
	done(&r);
	/* evaluated before the callback happened, it is not seen yet */
	if (evaluate(&r, st, &al, 1, t0() + 20 * MIN_NS) == 0)
		CHECK_INT(r.v.level, 2);
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_indicator_contact(void)
{
	static const char *const contact[] = {
		"{\"@timestamp\":\"2026-11-30T11:00:00Z\",\"source\":{\"ip\":\"10.0.0.5\"},"
		"\"destination\":{\"ip\":\"192.0.2.99\"},\"threat\":{\"enrichments\":[{\"indicator\":"
		"{\"ip\":\"192.0.2.99\"}}]}}",
	};
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, contact, 1);
	struct meta_alert al = alert("alpha", "medium", "Exploit", THREAT("alert", "allowed"));
	struct run r;

	if (!m || !st)
		goto out;
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 3);
		CHECK(has(r.v.evidence, "\"rule\": \"victim-contacted-indicator\""));
		CHECK(has(r.v.evidence, "\"sentence\": \"After the attack the victim 10.0.0.5 contacted 192.0.2.99, a known indicator.\""));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_web_server_answered(void)
{
	static const char *const access[] = {
		/* another client, and a 404 of the attacker: not evidence */
		"{\"@timestamp\":\"2026-11-30T10:00:01Z\",\"source\":{\"ip\":\"192.0.2.8\"},"
		"\"url\":{\"path\":\"/cgi-bin/x\"},\"http\":{\"response\":{\"status_code\":200}}}",
		"{\"@timestamp\":\"2026-11-30T10:00:02Z\",\"source\":{\"ip\":\"203.0.113.5\"},"
		"\"url\":{\"path\":\"/cgi-bin/x\"},\"http\":{\"response\":{\"status_code\":404}}}",
	};
	static const char *const ok[] = {
		"{\"@timestamp\":\"2026-11-30T10:00:03Z\",\"source\":{\"ip\":\"203.0.113.5\"},"
		"\"url\":{\"path\":\"/cgi-bin/x\"},\"http\":{\"response\":{\"status_code\":200}}}",
	};
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, access, 2);
	struct meta_alert al = alert("alpha", "high", "WAF: shell injection",
		"{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"source\":{\"ip\":\"203.0.113.5\"},"
		"\"url\":{\"path\":\"/cgi-bin/x\"}}\n");
	struct run r;

	if (!m || !st)
		goto out;
	if (evaluate(&r, st, &al, 1, t0() + HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(!r.v.complete); /* the sign-in rules' day after is still open */
	}
	done(&r);
	store_add(st, ALPHA, ok, 1);
	if (evaluate(&r, st, &al, 1, t0() + HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 2);
		CHECK(has(r.v.evidence, "\"sentence\": \"The web server answered 203.0.113.5's request "
			  "for /cgi-bin/x with status 200.\""));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_assets(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al = alert("alpha", "high", "Exploit", THREAT("alert", "allowed"));
	struct meta_asset as = {
		.tenant = "alpha", .name = "web01", .hostnames = "[]", .addresses = "[\"10.0.0.5\"]",
		.owner = "", .criticality = "high", .role = "server", .software = "[]",
		.cves = "[\"CVE-2021-44228\"]",
	};
	struct err e = ERR_INIT;
	struct run r;

	if (!m || !st)
		goto out;
	/* no asset covers the target: neither vulnerable nor not */
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(!has(r.v.evidence, "asset-"));
	}
	done(&r);
	/* beta's asset of that address is not alpha's */
	as.tenant = "beta";
	CHECK_INT(meta_asset_add(m, &as, NULL, &e), 0);
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0)
		CHECK(!has(r.v.evidence, "asset-"));
	done(&r);
	/* listed as vulnerable: one more */
	as.tenant = "alpha";
	CHECK_INT(meta_asset_add(m, &as, NULL, &e), 0);
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 2);
		CHECK(has(r.v.evidence, "\"rule\": \"asset-vulnerable\", \"effect\": \"raise\", "
			  "\"level\": 1, \"sentence\": \"The target 10.0.0.5 (web01) is listed as "
			  "vulnerable to CVE-2021-44228.\""));
	}
	done(&r);
	/* blocked: the cap comes after the raise, the vulnerable server stays at 1 */
	al.events = THREAT("reset-both", "denied");
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(has(r.v.evidence, "\"rule\": \"device-blocked\""));
		CHECK(has(r.v.evidence, "\"rule\": \"asset-vulnerable\""));
		CHECK(has(r.v.why, "Level 1 (cap, rule device-blocked)"));
	}
	done(&r);
	/* the CVE from the rule's tag instead of the event: another CVE, not listed */
	al.events = "{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"destination\":{\"ip\":\"10.0.0.5\"},"
		    "\"source\":{\"ip\":\"203.0.113.5\"}}\n";
	al.rule_tags = "[\"attack.initial_access\", \"cve.2024-3400\"]";
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(has(r.v.evidence, "\"rule\": \"asset-not-vulnerable\", \"effect\": \"note\", "
			  "\"sentence\": \"Not vulnerable: the target 10.0.0.5 (web01) is not listed as "
			  "vulnerable to CVE-2024-3400.\""));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_signin_after(void)
{
	static const char *const signins[] = {
		/* before the attack: not evidence */
		"{\"@timestamp\":\"2026-11-30T09:00:00Z\",\"event\":{\"dataset\":\"azure.signinlogs\","
		"\"outcome\":\"success\"},\"source\":{\"ip\":\"203.0.113.5\"},\"user\":{\"name\":"
		"\"bob@example.jp\"}}",
		/* after: the attacked user, from elsewhere */
		"{\"@timestamp\":\"2026-11-30T10:20:00Z\",\"event\":{\"dataset\":\"azure.signinlogs\","
		"\"outcome\":\"success\"},\"source\":{\"ip\":\"198.51.100.20\"},\"user\":{\"name\":"
		"\"alice@example.jp\"}}",
	};
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, signins, 2);
	struct meta_alert al = alert("alpha", "medium", "Brute force",
		"{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"event\":{\"dataset\":\"azure.signinlogs\","
		"\"outcome\":\"failure\"},\"source\":{\"ip\":\"203.0.113.5\"},\"user\":{\"name\":"
		"\"alice@example.jp\"}}\n");
	struct run r;

	if (!m || !st)
		goto out;
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 3);
		CHECK(!has(r.v.evidence, "signin-after-same-source"));
		CHECK(has(r.v.evidence, "\"sentence\": \"After the attack alice@example.jp signed in "
			  "successfully from 198.51.100.20.\""));
	}
	done(&r);
	/* from the attacker's address, as another user: the same-source rule */
	{
		static const char *const from_attacker[] = {
			"{\"@timestamp\":\"2026-11-30T10:40:00Z\",\"event\":{\"dataset\":"
			"\"azure.signinlogs\",\"outcome\":\"success\"},\"source\":{\"ip\":"
			"\"203.0.113.5\"},\"user\":{\"name\":\"carol@example.jp\"}}",
		};

		store_add(st, ALPHA, from_attacker, 1);
		if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
			CHECK_INT(r.v.level, 3);
			CHECK(has(r.v.evidence, "\"sentence\": \"After the attack a sign-in from "
				  "203.0.113.5 succeeded as carol@example.jp.\""));
		}
		done(&r);
	}
	/* an alert on a successful sign-in is not its own proof */
	al.events = "{\"@timestamp\":\"2026-11-30T10:20:00Z\",\"event\":{\"dataset\":"
		    "\"azure.signinlogs\",\"outcome\":\"success\"},\"source\":{\"ip\":"
		    "\"198.51.100.20\"},\"user\":{\"name\":\"alice@example.jp\"}}\n";
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0)
		CHECK_INT(r.v.level, 1);
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_c2_host(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al = alert("alpha", "high", "C2",
		"{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"event\":{\"dataset\":\"panos.threat\","
		"\"action\":\"sinkhole\",\"type\":[\"denied\"]},\"source\":{\"ip\":\"10.0.0.7\"},"
		"\"panos\":{\"subtype\":\"spyware\",\"threat\":{\"name\":\"generic:evil.example.org\"}}}\n");
	struct run r;

	if (!m || !st)
		goto out;
	/* sinkholed, so "denied": still no cap, and the host is likely infected */
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 2);
		CHECK(!has(r.v.evidence, "device-blocked"));
		CHECK(has(r.v.evidence, "\"sentence\": \"10.0.0.7 called a C2 server "
			  "(generic:evil.example.org, action sinkhole): the host is likely infected, "
			  "even if the call was blocked.\""));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_edr(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al = alert("alpha", "high", "Defender alert",
		"{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"host\":{\"name\":\"pc-042\"},\"m365\":"
		"{\"alert\":{\"evidence\":{\"remediationStatus\":\"notFound\"}}}}\n");
	struct run r;

	if (!m || !st)
		goto out;
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 2);
		CHECK(has(r.v.evidence, "\"sentence\": \"Defender did not remediate it on pc-042: "
			  "remediation status notFound.\""));
	}
	done(&r);
	al.events = "{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"host\":{\"name\":\"pc-042\"},"
		    "\"m365\":{\"alert\":{\"evidence\":{\"remediationStatus\":\"prevented\"}}}}\n";
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(has(r.v.evidence, "edr-prevented"));
	}
	done(&r);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

struct attackers {
	int n;
	char text[512];
};

static void got_attacker(void *ctx, const struct meta_triage_attacker *a)
{
	struct attackers *g = ctx;
	size_t len = strlen(g->text);

	g->n++;
	snprintf(g->text + len, sizeof(g->text) - len, "%s%s:%lld:%lld:%s", len ? " " : "", a->ip,
		 (long long)a->tenants, (long long)a->alerts, a->tenant_names);
}

static void test_several_tenants(void)
{
	struct meta *m = t_meta_open("alpha", "beta", "gamma", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al = alert("alpha", "high", "Exploit", THREAT("alert", "allowed"));
	struct attackers g = { 0 };
	struct err e = ERR_INIT;
	struct run r;

	if (!m || !st)
		goto out;
	al.key_fields = "{\"source.ip\":\"203.0.113.5\"}";
	CHECK_INT(meta_alert_add(m, &al, NULL, &e), 0);
	/* alpha's own alerts are one tenant: no note */
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0)
		CHECK(!has(r.v.evidence, "attacker-several-tenants"));
	done(&r);
	al.tenant = "beta";
	CHECK_INT(meta_alert_add(m, &al, NULL, &e), 0);
	CHECK_INT(meta_alert_add(m, &al, NULL, &e), 0);
	al.tenant = "gamma";
	al.key_fields = "{\"source.ip\":\"192.0.2.1\"}";
	CHECK_INT(meta_alert_add(m, &al, NULL, &e), 0);
	al.tenant = "alpha";
	if (evaluate(&r, st, &al, 1, t0() + 25 * HOUR_NS) == 0) {
		CHECK_INT(r.v.level, 1);
		CHECK(has(r.v.evidence, "\"rule\": \"attacker-several-tenants\", \"effect\": \"note\", "
			  "\"sentence\": \"The attacker 203.0.113.5 is in the alerts of 2 tenants.\""));
	}
	done(&r);
	/* the SOC-wide view */
	CHECK_INT(meta_triage_attackers(m, NULL, 0, INT64_MAX, 1, 100, got_attacker, &g, &e), 0);
	CHECK_STR(g.text, "203.0.113.5:2:3:[\"alpha\",\"beta\"] 192.0.2.1:1:1:[\"gamma\"]");
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_triage_attackers(m, NULL, 0, INT64_MAX, 2, 100, got_attacker, &g, &e), 0);
	CHECK_INT(g.n, 1);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_triage_attackers(m, "192.0.2.1", 0, INT64_MAX, 1, 100, got_attacker, &g,
					&e), 0);
	CHECK_STR(g.text, "192.0.2.1:1:1:[\"gamma\"]");
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_triage_attackers(m, NULL, t0() + 1, INT64_MAX, 1, 100, got_attacker, &g,
					&e), 0);
	CHECK_INT(g.n, 0);
	CHECK_INT(meta_triage_attackers(m, NULL, 0, INT64_MAX, 1, 0, got_attacker, &g, &e), -EINVAL);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

/* A filled query that does not compile skips its rule (counted), not the evaluation. */
static void test_rule_skipped(void)
{
	static const char rule[] = "id: port\ntitle: t\neffect: set\nlevel: 3\nsearch:\n"
				   "  query: 'destination.port: {source.ip}'\nsentence: s\n";
	struct meta *m = t_meta_open("alpha", NULL);
	struct store *st = store_with(ALPHA, NULL, 0);
	struct meta_alert al = alert("alpha", "high", "x", THREAT("alert", "allowed"));
	struct triage_input in = { .tenant_id = ALPHA, .alerts = &al, .n_alerts = 1,
				   .now_ns = t0() + HOUR_NS };
	struct triage_config c = { .rules_dir = NULL, .store = st };
	struct triage_verdict v;
	struct triage *t = NULL;
	struct err e = ERR_INIT;
	char dir[512], path[600];
	struct arena a;
	FILE *f;

	if (!m || !st)
		goto out;
	snprintf(dir, sizeof(dir), "%s/skip-rules", t_tmp_dir());
	mkdir(dir, 0700);
	c.rules_dir = dir;
	snprintf(path, sizeof(path), "%s/port.yml", dir);
	if (!CHECK((f = fopen(path, "w")) != NULL))
		goto out;
	fputs(rule, f);
	fclose(f);
	arena_init(&a, 4096, 1 << 20);
	CHECK_INT(triage_new(&t, &c, &e), 0);
	CHECK_INT(triage_metrics_register(t, &e), 0);
	CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), 0);
	CHECK_INT(v.level, 1);
	CHECK_INT(t_metric("koban_triage_skipped_total{reason=\"rule_unusable\"}", -1), 1);
	triage_free(t);
	arena_release(&a);
out:
	if (st)
		store_close(st);
	if (m)
		meta_close(m);
}

static void test_bad_input(void)
{
	struct triage *t = NULL;
	struct triage_input in = { 0 };
	struct triage_verdict v;
	struct arena a;
	struct err e = ERR_INIT;
	struct meta_alert al[2] = {
		alert("alpha", "high", "x", THREAT("alert", "allowed")),
		alert("beta", "high", "x", THREAT("alert", "allowed")),
	};

	arena_init(&a, 4096, 1 << 20);
	CHECK_INT(triage_new(&t, NULL, &e), 0);
	CHECK_INT(triage_metrics_register(t, &e), 0);
	CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), -EINVAL);
	in.alerts = al;
	in.n_alerts = 2;
	CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), -EINVAL);
	CHECK(has(e.msg, "two tenants"));
	/* the incident's tenant rules: an alert of another tenant is refused */
	{
		struct meta_incident inc = { .tenant = "beta" };

		in.incident = &inc;
		in.n_alerts = 1;
		CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), -EINVAL);
		in.alerts = &al[1];
		CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), 0);
		in.incident = NULL;
		in.alerts = al;
	}
	/* without a store or koban.db only the alerts' own events count */
	in.n_alerts = 1;
	al[0].events = THREAT("drop", "denied");
	CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), 0);
	CHECK_INT(v.level, 1);
	CHECK(has(v.evidence, "device-blocked"));
	/* an event that does not decode is skipped */
	al[0].events = "not json\n";
	CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), 0);
	CHECK_STR(v.evidence, "[]");
	al[0].rule_level = "informational";
	CHECK_INT(triage_evaluate(t, &in, &a, &v, &e), 0);
	CHECK_INT(v.level, 0);
	CHECK_INT(t_metric("koban_triage_skipped_total{reason=\"event_undecodable\"}", -1), 2);
	CHECK_INT(t_metric("koban_triage_skipped_total{reason=\"rule_unusable\"}", -1), 0);
	CHECK_INT(t_metric("koban_triage_evaluations_total{level=\"1\"}", -1), 3);
	CHECK_INT(t_metric("koban_triage_evaluations_total{level=\"0\"}", -1), 1);
	triage_free(t);
	CHECK_INT(t_metric("koban_triage_evaluations_total{level=\"0\"}", -1), -1);
	arena_release(&a);
}

static void test_alloc_failures(void)
{
	struct meta_alert al = alert("alpha", "high", "x", THREAT("drop", "denied"));
	struct triage_input in = { .alerts = &al, .n_alerts = 1 };
	int ok = 0;

	for (long n = 0; n < 2000 && !ok; n++) {
		struct triage *t = NULL;
		struct triage_verdict v;
		struct arena a;
		struct err e = ERR_INIT;
		int rc;

		arena_init(&a, 4096, 1 << 20);
		mem_fail_after(n);
		rc = triage_new(&t, NULL, &e);
		if (rc == 0)
			rc = triage_evaluate(t, &in, &a, &v, &e);
		mem_fail_after(-1);
		if (rc == 0)
			ok = v.level == 1;
		else
			CHECK(rc == -ENOMEM || rc == -EINVAL);
		triage_free(t);
		arena_release(&a);
	}
	CHECK(ok);
}

int main(void)
{
	T_RUN(test_bundled_load);
	T_RUN(test_load_errors);
	T_RUN(test_blocked_caps);
	T_RUN(test_cap_needs_every_event);
	T_RUN(test_server_answered_then_callback);
	T_RUN(test_indicator_contact);
	T_RUN(test_web_server_answered);
	T_RUN(test_assets);
	T_RUN(test_signin_after);
	T_RUN(test_c2_host);
	T_RUN(test_edr);
	T_RUN(test_several_tenants);
	T_RUN(test_rule_skipped);
	T_RUN(test_bad_input);
	T_RUN(test_alloc_failures);
	return t_done();
}
