/*
 * Unit tests of the SLA clocks: policies (seed defaults, soc.sla, per-tenant overrides),
 * every clock's state (not started, running, met in time, met late, overdue, the contact
 * clock's level condition, closed incidents), the JSON form, and sla_check against open
 * incidents of several tenants in a real koban.db (bits, timeline, metrics, callback, once
 * per clock, isolation, incidents gone or closed, allocation failures).
 */
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "soc/sla.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"
#include "t_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MIN_NS (INT64_C(60) * NS_PER_SEC)
#define HOUR_NS (60 * MIN_NS)

/* 2026-11-30T09:00:00Z plus minutes */
static int64_t at(int minutes)
{
	int64_t ns = 0;

	time_parse_rfc3339("2026-11-30T09:00:00Z", 20, &ns, NULL);
	return ns + minutes * MIN_NS;
}

static struct meta_incident incident(const char *tenant, int level, int detected_min)
{
	return (struct meta_incident){
		.tenant = tenant, .title = "Exploit against web server", .rule_id = "r-exploit",
		.group_key = "r-exploit|203.0.113.5", .level = level, .status = "new", .owner = "",
		.n_alerts = 1, .evidence = "[]",
		.entities = "{\"users\":[],\"hosts\":[],\"ips\":[\"203.0.113.5\"]}",
		.terminal = "{}", .first_ns = at(detected_min), .last_ns = at(detected_min),
		.detected_ns = at(detected_min), .updated_ns = at(detected_min),
	};
}

static struct sla *new_sla(const char *yaml, bool metrics)
{
	struct err e = ERR_INIT;
	struct config c;
	struct sla *s = NULL;

	if (!yaml) {
		CHECK_INT(sla_new(&s, NULL, metrics, &e), 0);
		return s;
	}
	if (config_load_mem(&c, yaml, strlen(yaml), "t.yaml", &e) < 0) {
		CHECK_STR(e.msg, "");
		return NULL;
	}
	CHECK_INT(sla_new(&s, &c, metrics, &e), 0);
	CHECK_STR(e.msg, "");
	config_release(&c);
	return s;
}

static void test_clock_names(void)
{
	CHECK_STR(sla_clock_name(SLA_DECIDE), "decide");
	CHECK_STR(sla_clock_name(SLA_FIRST_REPORT), "first_report");
	CHECK_STR(sla_clock_name(SLA_CONTACT), "contact");
	CHECK_STR(sla_clock_name(SLA_ACKNOWLEDGE), "acknowledge");
	CHECK_STR(sla_clock_name(SLA_CONTAIN), "contain");
	CHECK_STR(sla_clock_name(SLA_CLOCKS), "unknown");
}

static void test_policies(void)
{
	struct sla *s = new_sla(NULL, false);
	const struct sla_policy *p;

	if (!s)
		return;
	p = sla_policy(s, "city");
	CHECK_INT(p->due_ns[SLA_DECIDE], HOUR_NS);
	CHECK_INT(p->due_ns[SLA_FIRST_REPORT], 2 * HOUR_NS);
	CHECK_INT(p->due_ns[SLA_CONTACT], 15 * MIN_NS);
	CHECK_INT(p->due_ns[SLA_ACKNOWLEDGE], 0);
	CHECK_INT(p->due_ns[SLA_CONTAIN], 0);
	CHECK(sla_policy(s, NULL) == p);
	sla_free(s);
	s = new_sla("soc:\n  sla:\n    decide: 1800\n    contain: 86400\n    tenants:\n"
		    "      city: { first_report: 3600, contact: 0 }\n", false);
	if (!s)
		return;
	p = sla_policy(s, "city");
	CHECK_INT(p->due_ns[SLA_DECIDE], 30 * MIN_NS); /* inherited from soc.sla */
	CHECK_INT(p->due_ns[SLA_FIRST_REPORT], HOUR_NS);
	CHECK_INT(p->due_ns[SLA_CONTACT], 0);
	CHECK_INT(p->due_ns[SLA_CONTAIN], 24 * HOUR_NS);
	p = sla_policy(s, "town");
	CHECK_INT(p->due_ns[SLA_FIRST_REPORT], 2 * HOUR_NS);
	CHECK_INT(p->due_ns[SLA_CONTACT], 15 * MIN_NS);
	sla_free(s);
	sla_free(NULL);
}

/* One clock's state in compact form: "-" does not apply, else "start+due met breached". */
static const char *state_of(const struct sla_policy *p, const struct meta_incident *inc,
			    int now_min, enum sla_clock k)
{
	static char out[64];
	struct sla_state st[SLA_CLOCKS];

	sla_compute(p, inc, at(now_min), st);
	if (!st[k].applies) {
		snprintf(out, sizeof(out), "-%s", st[k].due_ns || st[k].breached ? "!" : "");
		return out;
	}
	snprintf(out, sizeof(out), "%lld+%lld %lld %s",
		 (long long)((st[k].start_ns - at(0)) / MIN_NS),
		 (long long)((st[k].due_ns - st[k].start_ns) / MIN_NS),
		 st[k].met_ns ? (long long)((st[k].met_ns - at(0)) / MIN_NS) : -1LL,
		 st[k].breached ? "breached" : "ok");
	return out;
}

static void test_compute(void)
{
	struct sla *s = new_sla("soc:\n  sla:\n    acknowledge: 1800\n", false);
	const struct sla_policy *p;
	struct meta_incident inc;

	if (!s)
		return;
	p = sla_policy(s, "city");
	/* not detected yet: nothing runs */
	inc = incident("city", META_LEVEL_UNDECIDED, 0);
	inc.detected_ns = 0;
	for (int k = 0; k < SLA_CLOCKS; k++)
		CHECK_STR(state_of(p, &inc, 0, (enum sla_clock)k), "-");
	/* detected at 0, undecided: decide, first report and acknowledge run */
	inc = incident("city", META_LEVEL_UNDECIDED, 0);
	CHECK_STR(state_of(p, &inc, 10, SLA_DECIDE), "0+60 -1 ok");
	CHECK_STR(state_of(p, &inc, 60, SLA_DECIDE), "0+60 -1 ok");     /* due: not late yet */
	CHECK_STR(state_of(p, &inc, 61, SLA_DECIDE), "0+60 -1 breached");
	CHECK_STR(state_of(p, &inc, 10, SLA_FIRST_REPORT), "0+120 -1 ok");
	CHECK_STR(state_of(p, &inc, 10, SLA_CONTACT), "-");
	CHECK_STR(state_of(p, &inc, 31, SLA_ACKNOWLEDGE), "0+30 -1 breached");
	CHECK_STR(state_of(p, &inc, 500, SLA_CONTAIN), "-");           /* no goal */
	/* decided at 20 as Medium: decide met, contact does not apply below High */
	inc.level = 1;
	inc.decided_ns = at(20);
	CHECK_STR(state_of(p, &inc, 500, SLA_DECIDE), "0+60 20 ok");
	CHECK_STR(state_of(p, &inc, 500, SLA_CONTACT), "-");
	/* High: contact runs from the decision, 15 min */
	inc.level = 2;
	CHECK_STR(state_of(p, &inc, 30, SLA_CONTACT), "20+15 -1 ok");
	CHECK_STR(state_of(p, &inc, 36, SLA_CONTACT), "20+15 -1 breached");
	inc.contacted_ns = at(40);
	CHECK_STR(state_of(p, &inc, 500, SLA_CONTACT), "20+15 40 breached"); /* met late */
	inc.contacted_ns = at(35);
	CHECK_STR(state_of(p, &inc, 500, SLA_CONTACT), "20+15 35 ok");      /* met at due */
	/* decided late */
	inc.decided_ns = at(75);
	CHECK_STR(state_of(p, &inc, 80, SLA_DECIDE), "0+60 75 breached");
	/* closed at 100: first report (due 120) stops applying, acknowledge (due 30) stays late */
	inc.closed_ns = at(100);
	inc.status = "resolved";
	CHECK_STR(state_of(p, &inc, 500, SLA_FIRST_REPORT), "-");
	CHECK_STR(state_of(p, &inc, 500, SLA_ACKNOWLEDGE), "0+30 -1 breached");
	inc.acknowledged_ns = at(10);
	CHECK_STR(state_of(p, &inc, 500, SLA_ACKNOWLEDGE), "0+30 10 ok");
	sla_free(s);
}

static void test_write_json(void)
{
	struct sla *s = new_sla(NULL, false);
	struct meta_incident inc = incident("city", 2, 0);
	struct buf b = BUF_INIT(1 << 16);

	if (!s)
		return;
	inc.decided_ns = at(20);
	CHECK_INT(sla_write_json(s, &inc, at(30) + NS_PER_SEC / 2, &b), 0);
	CHECK_STR(b.p, "{\"decide\":{\"start\":\"2026-11-30T09:00:00Z\",\"due\":"
		  "\"2026-11-30T10:00:00Z\",\"met\":\"2026-11-30T09:20:00Z\",\"breached\":false,"
		  "\"remaining_s\":null},"
		  "\"first_report\":{\"start\":\"2026-11-30T09:00:00Z\",\"due\":"
		  "\"2026-11-30T11:00:00Z\",\"met\":null,\"breached\":false,\"remaining_s\":5399},"
		  "\"contact\":{\"start\":\"2026-11-30T09:20:00Z\",\"due\":\"2026-11-30T09:35:00Z\","
		  "\"met\":null,\"breached\":false,\"remaining_s\":299},"
		  "\"acknowledge\":null,\"contain\":null}");
	/* overdue: negative seconds left, rounded down */
	buf_reset(&b);
	CHECK_INT(sla_write_json(s, &inc, at(36) + NS_PER_SEC / 2, &b), 0);
	CHECK(strstr(b.p, "\"contact\":{\"start\":\"2026-11-30T09:20:00Z\",\"due\":"
			  "\"2026-11-30T09:35:00Z\",\"met\":null,\"breached\":true,"
			  "\"remaining_s\":-61}") != NULL);
	/* a full buffer is an error, not a truncated document */
	buf_release(&b);
	b = (struct buf)BUF_INIT(64);
	CHECK(sla_write_json(s, &inc, at(30), &b) < 0);
	buf_release(&b);
	sla_free(s);
}

/* ---- sla_check against koban.db ---- */

struct calls {
	char text[1024];
	int n;
};

static void on_breach(void *ctx, const struct meta_incident *inc, enum sla_clock k)
{
	struct calls *c = ctx;
	size_t len = strlen(c->text);

	c->n++;
	snprintf(c->text + len, sizeof(c->text) - len, "%s/%lld/%s/%lld ", inc->tenant,
		 (long long)inc->id, sla_clock_name(k), (long long)inc->sla_breached);
}

static void get_breached(void *ctx, const struct meta_incident *inc)
{
	*(int64_t *)ctx = inc->sla_breached;
}

static int64_t breached_bits(struct meta *m, const char *tenant, int64_t id)
{
	struct err e = ERR_INIT;
	int64_t bits = -1;

	CHECK_INT(meta_incident_get(m, tenant, id, get_breached, &bits, &e), 0);
	return bits;
}

/* The timeline's "sla-breach" entries: "detail | why" lines. */
struct entries {
	char text[4096];
	int n;
};

static void see_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct entries *s = ctx;
	size_t len = strlen(s->text);

	if (strcmp(en->action, "sla-breach"))
		return;
	s->n++;
	snprintf(s->text + len, sizeof(s->text) - len, "%s %s | %s\n", en->actor, en->detail,
		 en->why);
}

static int64_t add(struct meta *m, const struct meta_incident *inc)
{
	struct err e = ERR_INIT;
	int64_t id = 0;

	CHECK_INT(meta_incident_add(m, inc, &id, &e), 0);
	CHECK_STR(e.msg, "");
	return id;
}

static void test_check(void)
{
	struct meta *m = t_meta_open("city", "town", NULL);
	struct sla *s = new_sla("soc:\n  sla:\n    tenants:\n      town: { decide: 7200 }\n",
				true);
	struct calls calls = { "", 0 };
	struct entries tl = { "", 0 };
	struct err e = ERR_INIT;
	struct meta_incident inc;
	int64_t a, b, c, d;
	char want[1024];

	if (!m || !s)
		goto out;
	/* city a: detected at 0, undecided; city b: High decided at 5, contacted at 10;
	 * town c: detected at 0 (decide goal 2 h there); city d: closed, never decided */
	inc = incident("city", META_LEVEL_UNDECIDED, 0);
	a = add(m, &inc);
	inc = incident("city", 2, 0);
	inc.decided_ns = at(5);
	inc.contacted_ns = at(10);
	b = add(m, &inc);
	inc = incident("town", META_LEVEL_UNDECIDED, 0);
	c = add(m, &inc);
	inc = incident("city", META_LEVEL_UNDECIDED, 0);
	inc.status = "false-positive";
	inc.closed_ns = at(1);
	d = add(m, &inc);

	/* at 30 min nothing is late */
	CHECK_INT(sla_check(s, m, at(30), on_breach, &calls, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(calls.n, 0);
	CHECK_INT(t_metric("koban_incident_sla_open{clock=\"decide\"}", -1), 2);
	CHECK_INT(t_metric("koban_incident_sla_open{clock=\"first_report\"}", -1), 3);
	CHECK_INT(t_metric("koban_incident_sla_open{clock=\"contact\"}", -1), 0);
	CHECK_INT(t_metric("koban_incident_sla_remaining_seconds{clock=\"decide\"}", -1), 1800);
	CHECK_INT(t_metric("koban_incident_sla_remaining_seconds{clock=\"contact\"}", -1), -1);
	CHECK_INT(t_metric("koban_incident_sla_breaches_total{tenant=\"city\",clock=\"decide\"}",
			   -1), -1);

	/* at 61 min city a's decide goal is missed; town's is 2 h */
	CHECK_INT(sla_check(s, m, at(61), on_breach, &calls, &e), 0);
	snprintf(want, sizeof(want), "city/%lld/decide/1 ", (long long)a);
	CHECK_STR(calls.text, want);
	CHECK_INT(breached_bits(m, "city", a), 1);
	CHECK_INT(breached_bits(m, "city", b), 0);
	CHECK_INT(breached_bits(m, "town", c), 0);
	CHECK_INT(meta_incident_timeline(m, "city", a, see_entry, &tl, &e), 0);
	CHECK_STR(tl.text, "sla {\"clock\":\"decide\",\"start\":\"2026-11-30T09:00:00Z\",\"due\":"
		  "\"2026-11-30T10:00:00Z\",\"met\":null,\"late_s\":60} | The decide goal (1 h from "
		  "detection) was missed: due 2026-11-30T10:00:00Z, not met yet.\n");
	CHECK_INT(t_metric("koban_incident_sla_breaches_total{tenant=\"city\",clock=\"decide\"}",
			   -1), 1);
	CHECK_INT(t_metric("koban_incident_sla_remaining_seconds{clock=\"decide\"}", -1), -60);

	/* again later: the same breach is not recorded twice; new ones are */
	calls = (struct calls){ "", 0 };
	CHECK_INT(sla_check(s, m, at(125), on_breach, &calls, &e), 0);
	/* newest first (town's was added last); the function sees every bit recorded */
	snprintf(want, sizeof(want), "town/%lld/decide/3 town/%lld/first_report/3 "
		 "city/%lld/first_report/2 city/%lld/first_report/3 ", (long long)c, (long long)c,
		 (long long)b, (long long)a);
	CHECK_STR(calls.text, want);
	CHECK_INT(breached_bits(m, "city", d), 0); /* closed: not checked */
	CHECK_INT(t_metric("koban_incident_sla_breaches_total{tenant=\"city\",clock=\"first_report\"}",
			   -1), 2);
	CHECK_INT(t_metric("koban_incident_sla_breaches_total{tenant=\"town\",clock=\"decide\"}",
			   -1), 1);
	CHECK_INT(t_metric("koban_incident_sla_breaches_total{tenant=\"town\",clock=\"contact\"}",
			   -1), 0);
	tl = (struct entries){ "", 0 };
	CHECK_INT(meta_incident_timeline(m, "city", a, see_entry, &tl, &e), 0);
	CHECK_INT(tl.n, 2);
	/* the other tenant's id reads as nothing */
	CHECK_INT(meta_incident_timeline(m, "town", a, see_entry, &tl, &e), -ENOENT);
	CHECK_INT(tl.n, 2);
	calls = (struct calls){ "", 0 };
	CHECK_INT(sla_check(s, m, at(500), on_breach, &calls, &e), 0);
	CHECK_INT(calls.n, 0);
	CHECK_INT(t_metric("koban_incident_sla_truncated_checks_total", -1), 0);
	/* no callback is fine */
	CHECK_INT(sla_check(s, m, at(500), NULL, NULL, &e), 0);
out:
	sla_free(s);
	if (m)
		meta_close(m);
}

/* A decision met late is recorded too, with how late; an incident decided in time is not. */
static void test_check_met_late(void)
{
	struct meta *m = t_meta_open("city", NULL);
	struct sla *s = new_sla(NULL, false);
	struct entries tl = { "", 0 };
	struct err e = ERR_INIT;
	struct meta_incident inc;
	int64_t a;

	if (!m || !s)
		goto out;
	inc = incident("city", 1, 0);
	inc.decided_ns = at(90);
	inc.reported_ns = at(100);
	a = add(m, &inc);
	CHECK_INT(sla_check(s, m, at(110), NULL, NULL, &e), 0);
	CHECK_INT(breached_bits(m, "city", a), 1);
	CHECK_INT(meta_incident_timeline(m, "city", a, see_entry, &tl, &e), 0);
	CHECK_STR(tl.text, "sla {\"clock\":\"decide\",\"start\":\"2026-11-30T09:00:00Z\",\"due\":"
		  "\"2026-11-30T10:00:00Z\",\"met\":\"2026-11-30T10:30:00Z\",\"late_s\":1800} | The "
		  "decide goal (1 h from detection) was missed: due 2026-11-30T10:00:00Z, met 30 min "
		  "late.\n");
out:
	sla_free(s);
	if (m)
		meta_close(m);
}

/* An incident removed between the listing and its record is skipped, the others recorded. */
struct purger {
	struct meta *m;
	int64_t victim;
	int calls;
};

static void purge_victim(void *ctx, const struct meta_incident *inc, enum sla_clock k)
{
	struct purger *p = ctx;
	struct err e = ERR_INIT;

	if (!p->calls++)
		CHECK_INT(meta_incident_purge(p->m, "city", p->victim, &e), 0);
}

static void test_check_incident_gone(void)
{
	struct meta *m = t_meta_open("city", NULL);
	struct sla *s = new_sla(NULL, false);
	struct purger pg = { .m = m };
	struct err e = ERR_INIT;
	struct meta_incident inc;
	int64_t newer;

	if (!m || !s)
		goto out;
	inc = incident("city", META_LEVEL_UNDECIDED, 0);
	pg.victim = add(m, &inc);
	inc = incident("city", META_LEVEL_UNDECIDED, 1);
	newer = add(m, &inc);
	CHECK_INT(sla_check(s, m, at(62), purge_victim, &pg, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(pg.calls, 1);
	CHECK_INT(breached_bits(m, "city", newer), 1);
out:
	sla_free(s);
	if (m)
		meta_close(m);
}

/* Every allocation failure is an error with a message, never a crash or a half record. */
static void test_alloc_failures(void)
{
	struct meta *m = t_meta_open("city", NULL);
	struct err e = ERR_INIT;
	struct meta_incident inc;
	const char *yaml = "soc:\n  sla:\n    tenants:\n      city: { decide: 60 }\n";
	struct config c;
	int64_t a;
	int rc = -1;

	if (!m)
		return;
	CHECK_INT(config_load_mem(&c, yaml, strlen(yaml), "t.yaml", &e), 0);
	for (long n = 0; n < 1000 && rc < 0; n++) {
		struct sla *s = NULL;

		mem_fail_after(n);
		rc = sla_new(&s, &c, true, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || (rc == -ENOMEM && s == NULL));
		sla_free(s);
	}
	CHECK_INT(rc, 0);
	inc = incident("city", META_LEVEL_UNDECIDED, 0);
	a = add(m, &inc);
	rc = -1;
	for (long n = 0; n < 1000 && rc < 0; n++) {
		struct sla *s = NULL;

		CHECK_INT(sla_new(&s, &c, false, &e), 0);
		mem_fail_after(n);
		rc = sla_check(s, m, at(5), NULL, NULL, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || e.msg[0]);
		/* either recorded with its timeline entry, or not at all */
		if (rc < 0)
			CHECK_INT(breached_bits(m, "city", a), 0);
		sla_free(s);
	}
	CHECK_INT(rc, 0);
	CHECK_INT(breached_bits(m, "city", a), 1);
	config_release(&c);
	meta_close(m);
}

int main(void)
{
	T_RUN(test_clock_names);
	T_RUN(test_policies);
	T_RUN(test_compute);
	T_RUN(test_write_json);
	T_RUN(test_check);
	T_RUN(test_check_met_late);
	T_RUN(test_check_incident_gone);
	T_RUN(test_alloc_failures);
	return t_done();
}
