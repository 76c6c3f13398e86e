/*
 * test_notify.c - the notification engine (notify/notify.h) with a fake channel and a fake
 * clock: planning with the default policy and a given plan, escalation and its stop on
 * acknowledgement, the lead at the chain's end, no duplicate across a restart, retries with
 * backoff, the rate limit, aggregation, replay, the templates (golden files).
 */
#include "notify/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/compat.h"
#include "core/config.h"
#include "core/err.h"
#include "core/metrics.h"
#include "notify/channel.h"
#include "soc/incident.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#define NS INT64_C(1000000000)
#define T0 (INT64_C(1795000000) * NS)

/* ---- the fake channel: records every send, fails as told ---- */

#define SENT_MAX 64
struct sent {
	char to[64], subject[256], chan[32];
	int64_t incident, id;
	bool has_ack, test;
	char text[4096];
};
static struct sent sent[SENT_MAX];
static size_t n_sent;
static int fail_next;          /* sends that fail before one succeeds */
static int fail_perm;          /* a permanent failure instead */
static int retry_after;

struct fake {
	char name[32];
};

static int fake_open(const struct channel_conf *c, void **state, struct err *e)
{
	struct fake *f;
	const char *v = channel_conf_get(c, "must", NULL);

	if (v && strcmp(v, "ok"))
		return err_set(e, -EINVAL, "%s:%d: notify.channels.%s.must: expected ok", c->file,
			       c->line, c->name);
	if (!(f = calloc(1, sizeof(*f))))
		return -ENOMEM;
	snprintf(f->name, sizeof(f->name), "%s", c->name);
	*state = f;
	return 0;
}

static int fake_send(void *state, const struct notice *n, struct channel_result *r, struct err *e)
{
	struct fake *f = state;

	if (fail_next > 0) {
		fail_next--;
		r->status = fail_perm ? CHANNEL_FAILED_PERM : CHANNEL_FAILED_TEMP;
		r->retry_after_s = retry_after;
		snprintf(r->reason, sizeof(r->reason), "%s", fail_perm ? "refused" : "HTTP 429");
		return -EAGAIN;
	}
	if (n_sent < SENT_MAX) {
		struct sent *s = &sent[n_sent++];

		snprintf(s->to, sizeof(s->to), "%s", n->recipient);
		snprintf(s->subject, sizeof(s->subject), "%s", n->subject);
		snprintf(s->text, sizeof(s->text), "%s", n->text);
		snprintf(s->chan, sizeof(s->chan), "%s", f->name);
		s->incident = n->incident;
		s->id = n->id;
		s->has_ack = n->ack_url != NULL && n->ack_token != NULL;
		s->test = n->test;
	}
	r->status = CHANNEL_SENT;
	snprintf(r->provider_id, sizeof(r->provider_id), "fake-%zu", n_sent);
	return 0;
}

static void fake_close(void *state)
{
	free(state);
}

static const struct channel_ops fake_ops = { "fake", 0, fake_open, fake_send, fake_close };
static const struct channel_ops slow_ops = { "slowfake", 1, fake_open, fake_send, fake_close };
static const struct channel_ops *const extra[] = { &fake_ops, &slow_ops };

/* ---- the fake clock and the plan ---- */

static int64_t clock_ns;

static int64_t fake_now(void *ctx)
{
	return clock_ns;
}

struct plan_ctx {
	struct notify_step steps[4];
	size_t n;
	bool aggregate;
	int64_t window_ns;
	int64_t held_until_ns;      /* > 0: held by a maintenance window until then */
	int calls;
};

static int fake_plan(void *ctx, const struct meta_incident *inc, uint64_t similar, int64_t at_ns,
		     struct arena *a, struct notify_plan *out, struct err *e)
{
	struct plan_ctx *p = ctx;

	p->calls++;
	*out = (struct notify_plan){ .rule_name = "night", .matched = true, .steps = p->steps,
				     .n_steps = p->n, .aggregate = p->aggregate,
				     .window_ns = p->window_ns, .held = p->held_until_ns > 0,
				     .held_until_ns = p->held_until_ns };
	return 0;
}

static const char *const to_a[] = { "+819011110001" };
static const char *const to_b[] = { "+819022220001" };
static const char *const to_mail[] = { "lead@example.jp", "cio@example.jp" };

/* ---- helpers ---- */

static const char *config_text =
	"notify:\n"
	"  ack_url: https://soc.example.jp/\n"
	"  portal_url: https://portal.example.jp\n"
	"  lead: {channel: lead, to: soc-lead@example.jp, after: 60}\n"
	"  retry: {attempts: 3, backoff: 2, max_backoff: 5}\n"
	"  channels:\n"
	"    phone: {type: fake}\n"
	"    mail: {type: fake}\n"
	"    lead: {type: fake}\n"
	"    slow: {type: slowfake}\n";

static char templates_dir[512]; /* notify.templates when set */

static int load(struct config *c)
{
	struct err e = ERR_INIT;
	char text[4096];

	snprintf(text, sizeof(text), "data_dir: %s\n%s%s%s%s", t_meta_dir(), config_text,
		 templates_dir[0] ? "  templates: " : "", templates_dir,
		 templates_dir[0] ? "\n" : "");
	if (config_load_mem(c, text, strlen(text), "test.yml", &e) < 0) {
		CHECK(!e.msg[0]);
		return -1;
	}
	return 0;
}

static struct notify *engine(struct config *c, struct plan_ctx *p, bool send)
{
	const struct notify_config nc = { .cfg = c, .send = send, .now = fake_now,
					  .plan = p ? fake_plan : NULL, .plan_ctx = p,
					  .extra_types = extra, .n_extra_types = 2 };
	struct notify *n = NULL;
	struct err e = ERR_INIT;

	if (notify_new(&n, &nc, &e) < 0)
		t_check(0, __FILE__, __LINE__, "notify_new: %s", e.msg);
	return n;
}

static int64_t add_incident(struct meta *m, const char *tenant, int level, const char *rule)
{
	const struct meta_incident inc = {
		.tenant = tenant, .title = "CVE-2024-3400 exploit against 203.0.113.10",
		.rule_id = rule, .group_key = rule, .level = level, .status = "new", .owner = "",
		.n_alerts = 1,
		.evidence = "[{\"rule\": \"server-answered\", \"level\": 2, \"sentence\": \"The server "
			    "answered the exploit.\", \"sentence_ja\": \"サーバが攻撃に応答しました。\"}]",
		.entities = "{\"users\": [\"taro\"], \"hosts\": [\"PC-042\"], \"ips\": [\"203.0.113.10\"]}",
		.terminal = "{}", .first_ns = T0, .last_ns = T0, .detected_ns = clock_ns,
		.decided_ns = clock_ns, .updated_ns = clock_ns,
	};
	struct err e = ERR_INIT;
	int64_t id = 0;

	CHECK_INT(meta_incident_add(m, &inc, &id, &e), 0);
	return id;
}

struct states {
	int pending, sent, failed, cancelled, planned, other, total;
	int lead;
};

static void count_state(void *ctx, const struct meta_notice *no)
{
	struct states *s = ctx;

	s->total++;
	s->lead += no->step == META_NOTICE_STEP_LEAD;
	if (!strcmp(no->state, "pending"))
		s->pending++;
	else if (!strcmp(no->state, "sent"))
		s->sent++;
	else if (!strcmp(no->state, "failed"))
		s->failed++;
	else if (!strcmp(no->state, "cancelled"))
		s->cancelled++;
	else if (!strcmp(no->state, "planned"))
		s->planned++;
	else
		s->other++;
}

static struct states states_of(struct meta *m, const char *tenant, int64_t incident)
{
	struct states s = { 0 };
	struct err e = ERR_INIT;

	CHECK_INT(meta_notice_list(m, tenant, incident, 1000, count_state, &s, &e), 0);
	return s;
}

struct tl {
	int notify;
	char last[512];
};

static void count_tl(void *ctx, const struct meta_incident_entry *en)
{
	struct tl *t = ctx;

	if (!strcmp(en->action, "notify")) {
		t->notify++;
		snprintf(t->last, sizeof(t->last), "%s", en->why);
	}
}

static int run(struct notify *n)
{
	struct err e = ERR_INIT;
	int rc = notify_run(n, &e);

	if (rc < 0)
		t_check(0, __FILE__, __LINE__, "notify_run: %s", e.msg);
	return rc;
}

static void reset(void)
{
	n_sent = 0;
	fail_next = fail_perm = retry_after = 0;
	clock_ns = T0;
}

/* ---- tests ---- */

static void take_inc(void *ctx, const struct meta_incident *inc)
{
	*(int64_t *)ctx = inc->contacted_ns;
}


/* No policy: a High incident pages notify.lead once, with an ack link; Medium is not noticed. */
static void test_default_policy(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct config c;
	struct notify *n;
	struct tl tl = { 0 };
	struct err e = ERR_INIT;
	int64_t high, medium, contacted = 0;

	reset();
	if (!m || load(&c) < 0)
		return;
	high = add_incident(m, "alpha", 2, "r1");
	medium = add_incident(m, "alpha", 1, "r2");
	if (!(n = engine(&c, NULL, true)))
		goto out;
	notify_level_decided(n, "alpha", high, -1, 2, clock_ns);
	notify_level_decided(n, "alpha", medium, -1, 1, clock_ns);
	notify_level_decided(n, "alpha", high, 2, 1, clock_ns); /* lowered: nothing */
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 1);
	CHECK_STR(sent[0].to, "soc-lead@example.jp");
	CHECK_STR(sent[0].chan, "lead");
	CHECK(sent[0].has_ack);
	CHECK(strstr(sent[0].subject, "High") != NULL);
	CHECK(strstr(sent[0].text, "https://soc.example.jp/ack/ka1.alpha.") != NULL);
	CHECK(strstr(sent[0].text, "https://portal.example.jp/incidents/") != NULL);
	CHECK_INT(states_of(m, "alpha", high).sent, 1);
	CHECK_INT(states_of(m, "alpha", high).lead, 0); /* the default's step is the lead */
	CHECK_INT(states_of(m, "alpha", medium).total, 0);
	/* the contacted clock and the timeline: planned, sent */
	CHECK_INT(meta_incident_get(m, "alpha", high, take_inc, &contacted, &e), 0);
	CHECK_INT(contacted, T0);
	CHECK_INT(meta_incident_timeline(m, "alpha", high, count_tl, &tl, &e), 0);
	CHECK_INT(tl.notify, 2);
	CHECK(strstr(tl.last, "Sent step 1 to soc-lead@example.jp by lead (fake-1)") != NULL);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/*
 * Phone A; 10 s later phone B and mail (two recipients); the lead 60 s after the last step.
 * Unacknowledged, everything goes out at its time; the contacted clock is the first send.
 */
static void test_escalation(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 3 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	int64_t id, contacted = 0;
	size_t added = 0;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 10 * NS };
	p.steps[2] = (struct notify_step){ "mail", to_mail, 2, NULL, "en", false, 0 };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 3, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 5); /* A, B, 2 mails, the lead */
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 0); /* the same decision again: no duplicate */
	CHECK_INT(run(n), 1);
	CHECK_STR(sent[0].to, "+819011110001");
	CHECK_INT(meta_incident_get(m, "alpha", id, take_inc, &contacted, &e), 0);
	CHECK_INT(contacted, T0);
	clock_ns = T0 + 9 * NS;
	CHECK_INT(run(n), 0);
	CHECK_INT(notify_next_due(n), T0 + 10 * NS);
	clock_ns = T0 + 10 * NS;
	CHECK_INT(run(n), 3);
	CHECK_STR(sent[1].to, "+819022220001");
	CHECK_STR(sent[2].to, "lead@example.jp");
	CHECK_STR(sent[3].to, "cio@example.jp");
	CHECK(strstr(sent[2].subject, "Critical") != NULL);
	clock_ns = T0 + 69 * NS;
	CHECK_INT(run(n), 0);
	clock_ns = T0 + 70 * NS;
	CHECK_INT(run(n), 1);
	CHECK_STR(sent[4].to, "soc-lead@example.jp");
	CHECK_INT(states_of(m, "alpha", id).sent, 5);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* Acknowledged after step 1: the rest of the chain (and the lead) is cancelled, not sent. */
static void test_ack_stops_chain(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	struct tl tl = { 0 };
	struct states s;
	int64_t id;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 10 * NS };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 3, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 3);
	CHECK_INT(run(n), 1);
	clock_ns = T0 + 5 * NS;
	CHECK_INT(meta_incident_clock(m, "alpha", id, META_CLOCK_ACKNOWLEDGED, clock_ns, "a",
				      NULL, &e), 0);
	clock_ns = T0 + 100 * NS;
	CHECK_INT(run(n), 0);
	CHECK_INT(n_sent, 1);
	s = states_of(m, "alpha", id);
	CHECK_INT(s.sent, 1);
	CHECK_INT(s.cancelled, 2);
	CHECK_INT(s.pending, 0);
	CHECK_INT(meta_incident_timeline(m, "alpha", id, count_tl, &tl, &e), 0);
	CHECK(strstr(tl.last, "Escalation stopped: the incident was acknowledged; 2 notices") != NULL);
	/* a decision heard after the acknowledgement plans nothing */
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 0);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* A restart between the steps: the new engine sends step 2 at its time, nothing twice. */
static void test_restart(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	int64_t id;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 10 * NS };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 3, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(run(n), 1);
	notify_free(n);
	/* a hand-off cut by a crash (state sending) is tried again after the restart */
	CHECK_INT(t_meta_exec("UPDATE notify_notices SET state = 'sending' WHERE step = 1"), 0);
	clock_ns = T0 + 11 * NS;
	if (!(n = engine(&c, &p, true)))
		goto out;
	notify_level_decided(n, "alpha", id, -1, 3, T0); /* heard again: no duplicate */
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 2);
	CHECK_STR(sent[1].to, "+819022220001");
	CHECK_INT(states_of(m, "alpha", id).total, 3);
	CHECK_INT(states_of(m, "alpha", id).sent, 2);
	CHECK_INT(states_of(m, "alpha", id).pending, 1); /* the lead, due at +70 s */
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

struct tries {
	char s[256];
};

static void take_try(void *ctx, const struct meta_notice_attempt *a)
{
	struct tries *t = ctx;
	size_t len = strlen(t->s);

	snprintf(t->s + len, sizeof(t->s) - len, "%s%s", len ? "," : "", a->status);
}

struct first_id {
	int64_t id, next_ns, attempts;
};

static void take_first(void *ctx, const struct meta_notice *no)
{
	struct first_id *f = ctx;

	if (!f->id) {
		f->id = no->id;
		f->next_ns = no->next_ns;
		f->attempts = no->attempts;
	}
}

/* 429 twice (with Retry-After 3 once), then success: backoff 3 s (Retry-After), then 4 s. */
static void test_retry(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 1 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	struct first_id f = { 0 };
	struct tries t = { "" };
	int64_t id;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", false, 0 };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 2, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	fail_next = 2;
	retry_after = 3;
	CHECK_INT(run(n), 0);
	CHECK_INT(meta_notice_list(m, "alpha", id, 10, take_first, &f, &e), 0);
	CHECK_INT(f.attempts, 1);
	CHECK_INT(f.next_ns, T0 + 3 * NS); /* backoff 2 s, Retry-After 3 s */
	retry_after = 0;
	clock_ns = T0 + 3 * NS;
	CHECK_INT(run(n), 0);
	f.id = 0;
	CHECK_INT(meta_notice_list(m, "alpha", id, 10, take_first, &f, &e), 0);
	CHECK_INT(f.next_ns, T0 + 7 * NS); /* 2 * 2 s */
	clock_ns = T0 + 7 * NS;
	CHECK_INT(run(n), 1);
	CHECK_INT(meta_notice_attempts(m, "alpha", f.id, take_try, &t, &e), 0);
	CHECK_STR(t.s, "retry,retry,sent");
	/* a permanent failure is not tried again; three temporary ones fail for good */
	{
		int64_t id2 = add_incident(m, "alpha", 2, "r2"), id3 = add_incident(m, "alpha", 2, "r3");

		CHECK_INT(notify_plan_incident(n, "alpha", id2, clock_ns, &added, &e), 0);
		fail_next = 1;
		fail_perm = 1;
		CHECK_INT(run(n), 0);
		CHECK_INT(states_of(m, "alpha", id2).failed, 1);
		fail_perm = 0;
		fail_next = 3;
		CHECK_INT(notify_plan_incident(n, "alpha", id3, clock_ns, &added, &e), 0);
		for (int i = 0; i < 3; i++) {
			CHECK_INT(run(n), 0);
			clock_ns += 5 * NS;
		}
		CHECK_INT(states_of(m, "alpha", id3).failed, 1);
		CHECK_INT(n_sent, 1);
	}
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* rate 1/s: three notices at once go at 0, 1 and 2 s; the Critical one first. */
static void test_rate_limit(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 1 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	int64_t ids[3];
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "slow", to_a, 1, NULL, "ja", false, 0 };
	if (!m || load(&c) < 0)
		return;
	ids[0] = add_incident(m, "alpha", 2, "r1");
	ids[1] = add_incident(m, "alpha", 2, "r2");
	ids[2] = add_incident(m, "alpha", 3, "r3");
	if (!(n = engine(&c, &p, true)))
		goto out;
	for (int i = 0; i < 3; i++)
		CHECK_INT(notify_plan_incident(n, "alpha", ids[i], clock_ns, &added, &e), 0);
	CHECK_INT(run(n), 1);
	CHECK_INT(sent[0].incident, ids[2]);
	clock_ns = T0 + NS / 2;
	CHECK_INT(run(n), 0);
	clock_ns = T0 + NS + 1;
	CHECK_INT(run(n), 1);
	clock_ns = T0 + 2 * NS + 2;
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 3);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* aggregate: 5 Medium incidents in a 60 s window -> one notice per recipient listing them all,
 * at the window's end; a Critical one in the storm goes at once. */
static void test_aggregate(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 1, .aggregate = true, .window_ns = 60 * NS };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	int64_t ids[5], crit, win_end;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "mail", to_mail, 2, NULL, "ja", true, 0 };
	if (!m || load(&c) < 0)
		return;
	if (!(n = engine(&c, &p, true)))
		goto out;
	win_end = T0 - T0 % (60 * NS) + 60 * NS;
	for (int i = 0; i < 5; i++) {
		ids[i] = add_incident(m, "alpha", 1, "scan");
		CHECK_INT(notify_plan_incident(n, "alpha", ids[i], clock_ns, &added, &e), 0);
		CHECK_INT(added, i ? 0 : 2);
	}
	crit = add_incident(m, "alpha", 3, "scan");
	CHECK_INT(notify_plan_incident(n, "alpha", crit, clock_ns, &added, &e), 0);
	CHECK_INT(added, 3); /* two mails and the lead: never aggregated */
	CHECK_INT(run(n), 2);
	CHECK_INT(sent[0].incident, crit);
	clock_ns = win_end;
	CHECK_INT(run(n), 2);
	CHECK_INT(n_sent, 4);
	CHECK_INT(sent[2].incident, 0);
	CHECK(strstr(sent[2].subject, "ほか 5 件") != NULL);
	CHECK(!sent[2].has_ack);
	CHECK_INT(states_of(m, "alpha", ids[3]).sent, 2); /* listed in both aggregated notices */
	{
		struct tl tl = { 0 };

		CHECK_INT(meta_incident_timeline(m, "alpha", ids[3], count_tl, &tl, &e), 0);
		CHECK_INT(tl.notify, 2);
		CHECK(strstr(tl.last, "Listed in an aggregated notice of 5 incidents sent to") != NULL);
	}
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* replay: planned and logged, later steps too, nothing sent. */
static void test_replay(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2 };
	struct config c;
	struct notify *n;
	int64_t id;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 600 * NS };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 3, "r1");
	if (!(n = engine(&c, &p, false)))
		goto out;
	notify_level_decided(n, "alpha", id, -1, 3, clock_ns);
	CHECK_INT(run(n), 3); /* marked planned */
	CHECK_INT(n_sent, 0);
	CHECK_INT(states_of(m, "alpha", id).planned, 3);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* Templates: the bundled ones rendered for a fixed incident equal the golden files. */
static void golden(const char *name, const struct buf *b)
{
	char path[256];
	size_t len = 0;
	char *want;

	snprintf(path, sizeof(path), "tests/data/notify/golden/%s", name);
	if (getenv("KOBAN_GOLDEN_WRITE")) {
		FILE *f = fopen(path, "w");

		if (f) {
			fwrite(b->p, 1, b->len, f);
			fclose(f);
		}
	}
	want = t_read_file(path, &len);
	if (!want) {
		t_check(0, __FILE__, __LINE__, "%s missing", path);
		return;
	}
	t_check(len == b->len && !memcmp(want, b->p, len), __FILE__, __LINE__,
		"%s differs: got\n%s", path, b->p);
	free(want);
}

static void test_templates(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	struct buf parts[4];
	static const char *const names[2][4] = {
		{ "ja.subject", "ja.text", "ja.html", "ja.speech" },
		{ "en.subject", "en.text", "en.html", "en.speech" },
	};
	const struct meta_incident inc = {
		.id = 42, .tenant = "alpha", .title = "CVE-2024-3400 <exploit> & more",
		.rule_id = "panos-threat-critical", .level = 3, .status = "new",
		.evidence = "[{\"sentence\": \"The server answered the exploit.\", \"sentence_ja\": "
			    "\"サーバが攻撃に応答しました。\"}, {\"sentence\": \"10.1.2.3 contacted the C2.\"}]",
		.entities = "{\"users\": [\"taro\"], \"hosts\": [\"PC-042\"], \"ips\": [\"203.0.113.10\"]}",
		.decided_ns = T0,
	};

	reset();
	if (!m || load(&c) < 0)
		return;
	if (!(n = engine(&c, NULL, false)))
		goto out;
	for (int l = 0; l < 2; l++) {
		for (int i = 0; i < 4; i++)
			buf_init(&parts[i], 1 << 20);
		CHECK_INT(notify_render(n, &inc, l ? "en" : "ja", l ? "First report text.\n" : NULL,
					"https://soc.example.jp/ack/TOKEN",
					"https://portal.example.jp/incidents/42", &parts[0], &parts[1],
					&parts[2], &parts[3], &e), 0);
		for (int i = 0; i < 4; i++) {
			golden(names[l][i], &parts[i]);
			buf_release(&parts[i]);
		}
	}
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* `koban notify test` through the fake channel: the result and the reason of a failure. */
static void test_notice_test(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct config c;
	struct notify *n;
	struct notify_test_result r;
	struct err e = ERR_INIT;

	reset();
	if (!m || load(&c) < 0)
		return;
	if (!(n = engine(&c, NULL, true)))
		goto out;
	CHECK_INT(notify_test(n, "alpha", "mail", "x@example.jp", "en", &r, &e), 0);
	CHECK_INT(r.status, CHANNEL_SENT);
	CHECK_STR(r.provider_id, "fake-1");
	CHECK(sent[0].test);
	CHECK(strstr(sent[0].subject, "[TEST]") != NULL);
	fail_next = 1;
	fail_perm = 1;
	CHECK(notify_test(n, "alpha", "mail", "x@example.jp", "en", &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK_STR(r.reason, "refused");
	CHECK(notify_test(n, "alpha", "nope", "x@example.jp", "en", &r, &e) == -ENOENT);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* copies templates/notify/NAME to dir/NAME, replacing its first line by first when given */
static void copy_template(const char *dir, const char *name, const char *first)
{
	char from[256], to[768];
	size_t len = 0;
	char *text;
	FILE *f;

	snprintf(from, sizeof(from), "templates/notify/%s", name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (!(text = t_read_file(from, &len)) || !(f = fopen(to, "w"))) {
		t_check(0, __FILE__, __LINE__, "cannot copy %s", from);
		free(text);
		return;
	}
	if (first)
		fputs(first, f);
	else
		fwrite(text, 1, len, f);
	fclose(f);
	free(text);
}

/* A step's named set (notify.templates/NAME) is used; a missing one falls back to the default. */
static void test_template_sets(void)
{
	static const char *const files[] = { "ja.subject.txt", "ja.text.txt", "ja.html.txt",
					     "ja.speech.txt", "en.subject.txt", "en.text.txt",
					     "en.html.txt", "en.speech.txt" };
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2 };
	char crit[600];
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	int64_t id;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, "crit", "ja", false, 0 };
	p.steps[1] = (struct notify_step){ "mail", to_mail, 1, "nope", "ja", false, 0 };
	if (!m)
		return;
	snprintf(templates_dir, sizeof(templates_dir), "%s/../tpl", t_meta_dir());
	snprintf(crit, sizeof(crit), "%s/crit", templates_dir);
	CHECK(mkdir(templates_dir, 0700) == 0 && mkdir(crit, 0700) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		copy_template(templates_dir, files[i], NULL);
		copy_template(crit, files[i], i == 0 ? "CRIT {{title}}\n" : NULL);
	}
	if (load(&c) < 0)
		goto out0;
	id = add_incident(m, "alpha", 3, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(run(n), 2);
	CHECK_STR(sent[0].subject, "CRIT CVE-2024-3400 exploit against 203.0.113.10");
	CHECK(!strncmp(sent[1].subject, "[koban] Critical: ", 18));
	notify_free(n);
out:
	config_release(&c);
out0:
	templates_dir[0] = '\0';
	meta_close(m);
}

/* An analyst's level (incident_change, as the CLI and the API apply it) on another koban.db
 * handle: raised to a level the policy notifies, the engine plans it at its next look; lowered
 * and raised again, or heard again by a restarted engine, it adds nothing. */
static void set_level(struct meta *m, int64_t id, int level)
{
	const struct incident_change ch = { .actor = "taro", .why = "seen by hand",
					    .level = level, .now_ns = clock_ns };
	struct err e = ERR_INIT;
	bool changed = false;

	CHECK_INT(incident_change(m, "alpha", id, &ch, &changed, &e), 0);
	CHECK(changed);
}

static void test_analyst_level(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct config c;
	struct notify *n;
	struct tl tl = { 0 };
	struct err e = ERR_INIT;
	int64_t id, other;

	reset();
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 1, "r1");
	other = add_incident(m, "alpha", 0, "r2");
	if (!(n = engine(&c, NULL, true)))
		goto out;
	CHECK_INT(run(n), 0);
	set_level(m, other, 1); /* Medium: the default policy is silent */
	set_level(m, id, 2);
	clock_ns += NS;
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 1);
	CHECK_STR(sent[0].to, "soc-lead@example.jp");
	CHECK(strstr(sent[0].subject, "High") != NULL);
	CHECK_INT(run(n), 0);
	set_level(m, id, 1); /* lowered: nothing */
	set_level(m, id, 2); /* raised again: the same notice, already sent */
	CHECK_INT(run(n), 0);
	notify_free(n);
	if (!(n = engine(&c, NULL, true))) /* a restart looks only at later entries */
		goto out;
	CHECK_INT(run(n), 0);
	set_level(m, id, 3); /* Critical: a chain of its own */
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 2);
	CHECK(strstr(sent[1].subject, "Critical") != NULL);
	CHECK_INT(states_of(m, "alpha", id).sent, 2);
	CHECK_INT(states_of(m, "alpha", id).total, 2);
	CHECK_INT(states_of(m, "alpha", other).total, 0);
	CHECK_INT(meta_incident_timeline(m, "alpha", id, count_tl, &tl, &e), 0);
	CHECK_INT(tl.notify, 4); /* planned, sent; planned, sent */
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/* A second acknowledgement as the ack page records it: a timeline entry "acknowledged". */
static void log_ack(struct meta *m, int64_t id, const char *who)
{
	const struct meta_incident_entry en = { .incident = id, .at_ns = clock_ns, .actor = who,
						.action = "acknowledged", .detail = "{}",
						.why = "acknowledged by test" };
	struct err e = ERR_INIT;

	CHECK_INT(meta_incident_log(m, "alpha", &en, &e), 0);
}

/*
 * High, acknowledged after step 1, then raised to Critical by hand: the Critical chain is
 * planned and sent (the earlier acknowledgement does not stop it; the High chain's rest is
 * cancelled), until a second acknowledgement stops it.
 */
static void test_raise_after_ack(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	struct tl tl = { 0 };
	struct states s;
	int64_t id, acked = 0;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 10 * NS };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 2, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 3); /* A, B, the lead of chain 2 */
	CHECK_INT(run(n), 1);
	clock_ns = T0 + 5 * NS;
	CHECK_INT(meta_incident_clock(m, "alpha", id, META_CLOCK_ACKNOWLEDGED, clock_ns, "a",
				      NULL, &e), 0);
	log_ack(m, id, "a");
	CHECK_INT(meta_incident_acked_since(m, "alpha", id, T0, &acked, &e), 0);
	CHECK_INT(acked, T0 + 5 * NS);
	CHECK_INT(meta_incident_acked_since(m, "alpha", id, T0 + 6 * NS, &acked, &e), 0);
	CHECK_INT(acked, 0);
	/* a decision older than the acknowledgement plans nothing */
	CHECK_INT(notify_plan_incident(n, "alpha", id, T0 + 4 * NS, &added, &e), 0);
	CHECK_INT(added, 0);
	clock_ns = T0 + 20 * NS;
	set_level(m, id, 3); /* raised after the acknowledgement */
	CHECK_INT(run(n), 1); /* chain 3's step 1; chain 2's B and lead cancelled */
	CHECK_INT(n_sent, 2);
	CHECK_STR(sent[1].to, "+819011110001");
	CHECK(strstr(sent[1].subject, "Critical") != NULL);
	s = states_of(m, "alpha", id);
	CHECK_INT(s.total, 6);
	CHECK_INT(s.sent, 2);
	CHECK_INT(s.cancelled, 2);
	CHECK_INT(s.pending, 2);
	CHECK_INT(notify_queue(n), 2);
	clock_ns = T0 + 30 * NS;
	CHECK_INT(run(n), 1); /* chain 3's step 2: the first acknowledgement does not stop it */
	CHECK_INT(n_sent, 3);
	CHECK_STR(sent[2].to, "+819022220001");
	clock_ns = T0 + 35 * NS;
	log_ack(m, id, "b"); /* acknowledged after the raise */
	clock_ns = T0 + 200 * NS;
	CHECK_INT(run(n), 0);
	CHECK_INT(n_sent, 3);
	s = states_of(m, "alpha", id);
	CHECK_INT(s.total, 6);
	CHECK_INT(s.sent, 3);
	CHECK_INT(s.cancelled, 3);
	CHECK_INT(s.pending, 0);
	CHECK_INT(notify_queue(n), 0);
	CHECK_INT(meta_incident_timeline(m, "alpha", id, count_tl, &tl, &e), 0);
	CHECK(strstr(tl.last, "Escalation stopped: the incident was acknowledged; 1 notice ") != NULL);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/*
 * The ack page's path: the acknowledgement cancels the chain's pending notices in its own
 * transaction (meta_notice_cancel, planned before it), so the log and the queue are right at
 * once; the engine then finds nothing to stop.
 */
static void test_ack_cancels_at_once(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2 };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	struct states s;
	int64_t id, cancelled = 0;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 10 * NS };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 3, "r1");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 3);
	CHECK_INT(run(n), 1);
	CHECK_INT(notify_queue(n), 2);
	clock_ns = T0 + 5 * NS;
	CHECK_INT(meta_begin(m, &e), 0);
	CHECK_INT(meta_incident_clock(m, "alpha", id, META_CLOCK_ACKNOWLEDGED, clock_ns, "a",
				      NULL, &e), 0);
	/* planned before T0: none */
	CHECK_INT(meta_notice_cancel(m, "alpha", id, T0 - 1, clock_ns, &cancelled, &e), 0);
	CHECK_INT(cancelled, 0);
	CHECK_INT(meta_notice_cancel(m, "alpha", id, clock_ns, clock_ns, &cancelled, &e), 0);
	CHECK_INT(cancelled, 2);
	CHECK_INT(meta_commit(m, &e), 0);
	notify_acked(n, "alpha", id, cancelled);
	CHECK_INT(notify_queue(n), 0); /* right at once, before anything falls due */
	s = states_of(m, "alpha", id);
	CHECK_INT(s.cancelled, 2);
	CHECK_INT(s.pending, 0);
	clock_ns = T0 + 200 * NS;
	CHECK_INT(run(n), 0);
	CHECK_INT(n_sent, 1);
	CHECK_INT(notify_queue(n), 0);
	CHECK_INT(states_of(m, "alpha", id).cancelled, 2);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/*
 * A maintenance window until T0 + 1 h holds the chain: nothing before its end, then the steps
 * at their times from it. A second incident acknowledged during the window gets nothing.
 */
static void test_held_until_window_end(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct plan_ctx p = { .n = 2, .held_until_ns = T0 + 3600 * NS };
	struct config c;
	struct notify *n;
	struct err e = ERR_INIT;
	struct tl tl = { 0 };
	struct states s;
	int64_t id, quiet;
	size_t added;

	reset();
	p.steps[0] = (struct notify_step){ "phone", to_a, 1, NULL, "ja", true, 0 };
	p.steps[1] = (struct notify_step){ "phone", to_b, 1, NULL, "ja", true, 10 * NS };
	if (!m || load(&c) < 0)
		return;
	id = add_incident(m, "alpha", 3, "r1");
	quiet = add_incident(m, "alpha", 3, "r2");
	if (!(n = engine(&c, &p, true)))
		goto out;
	CHECK_INT(notify_plan_incident(n, "alpha", id, clock_ns, &added, &e), 0);
	CHECK_INT(added, 3);
	CHECK_INT(notify_plan_incident(n, "alpha", quiet, clock_ns, &added, &e), 0);
	CHECK_INT(added, 3);
	CHECK_INT(meta_incident_timeline(m, "alpha", id, count_tl, &tl, &e), 0);
	CHECK_INT(tl.notify, 1);
	CHECK(strstr(tl.last, "3 notices planned for level Critical (policy rule night, escalated "
			      "until acknowledged, held by a maintenance window until "
			      "2026-11-18T12:06:40Z).") != NULL);
	CHECK_INT(run(n), 0);
	CHECK_INT(notify_next_due(n), T0 + 3600 * NS);
	clock_ns = T0 + 1800 * NS;
	CHECK_INT(meta_incident_clock(m, "alpha", quiet, META_CLOCK_ACKNOWLEDGED, clock_ns, "a",
				      NULL, &e), 0);
	clock_ns = T0 + 3599 * NS;
	CHECK_INT(run(n), 0);
	CHECK_INT(n_sent, 0);
	clock_ns = T0 + 3600 * NS;
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 1);
	CHECK_STR(sent[0].to, "+819011110001");
	CHECK_INT(sent[0].incident, id);
	clock_ns = T0 + 3610 * NS;
	CHECK_INT(run(n), 1);
	CHECK_INT(n_sent, 2);
	CHECK_STR(sent[1].to, "+819022220001");
	s = states_of(m, "alpha", id);
	CHECK_INT(s.sent, 2);
	CHECK_INT(s.pending, 1); /* the lead, 60 s after the last step */
	s = states_of(m, "alpha", quiet);
	CHECK_INT(s.sent, 0);
	CHECK_INT(s.cancelled, 3);
	notify_free(n);
out:
	config_release(&c);
	meta_close(m);
}

/*
 * The threaded engine (serve): decisions queued from two threads, a level set by hand on the
 * test's own koban.db handle, statuses, recipients and /metrics read while the thread sends
 * (run under ThreadSanitizer by .ci/run). Three incidents, three notices, each sent once.
 */
struct decider {
	struct notify *n;
	int64_t id;
};

static void *decide_thread(void *arg)
{
	struct decider *d = arg;

	notify_level_decided(d->n, "alpha", d->id, -1, 3, T0);
	notify_level_decided(d->n, "alpha", d->id, -1, 3, T0); /* heard twice: one notice */
	return NULL;
}

static void test_threaded(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct config c;
	struct notify *n = NULL;
	struct err e = ERR_INIT;
	struct decider d;
	pthread_t th;
	int64_t high, critical, by_hand;
	struct buf out;
	char to[128];
	int waited, rc;

	reset();
	if (!m || load(&c) < 0)
		return;
	high = add_incident(m, "alpha", 2, "r1");
	critical = add_incident(m, "alpha", 3, "r2");
	by_hand = add_incident(m, "alpha", 1, "r3");
	{
		const struct notify_config nc = { .cfg = &c, .threaded = true, .send = true,
						  .metrics = true, .now = fake_now,
						  .extra_types = extra, .n_extra_types = 2 };

		if (notify_new(&n, &nc, &e) < 0) {
			t_check(0, __FILE__, __LINE__, "notify_new: %s", e.msg);
			goto out;
		}
	}
	d = (struct decider){ n, critical };
	CHECK_INT(pthread_create(&th, NULL, decide_thread, &d), 0);
	notify_level_decided(n, "alpha", high, -1, 2, T0);
	set_level(m, by_hand, 2);
	CHECK_INT(pthread_join(th, NULL), 0);
	buf_init(&out, 1u << 20);
	for (waited = 0; waited < 1000 && states_of(m, "alpha", 0).sent < 3; waited++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		buf_reset(&out);
		CHECK_INT(metrics_render(&out), 0);
		rc = notify_recipient(n, "alpha", 1, to, sizeof(to));
		CHECK(rc == 0 || rc == -ENOENT);
		nanosleep(&ts, NULL);
	}
	notify_status(n, "alpha", 1, "delivered", ""); /* the thread records it before it stops */
	CHECK_INT(states_of(m, "alpha", 0).total, 3);
	CHECK_INT(states_of(m, "alpha", critical).total, 1);
	CHECK_INT(states_of(m, "alpha", by_hand).total, 1);
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_notify_notices_total") != NULL);
	buf_release(&out);
	notify_free(n); /* joins the thread: sent[] is ours again */
	CHECK_INT(n_sent, 3);
	CHECK_INT(states_of(m, "alpha", 0).sent, 2);
	CHECK_INT(states_of(m, "alpha", 0).other, 1); /* delivered */
out:
	config_release(&c);
	meta_close(m);
}

int main(void)
{
	T_RUN(test_default_policy);
	T_RUN(test_escalation);
	T_RUN(test_ack_stops_chain);
	T_RUN(test_restart);
	T_RUN(test_retry);
	T_RUN(test_rate_limit);
	T_RUN(test_aggregate);
	T_RUN(test_replay);
	T_RUN(test_templates);
	T_RUN(test_notice_test);
	T_RUN(test_template_sets);
	T_RUN(test_analyst_level);
	T_RUN(test_raise_after_ack);
	T_RUN(test_ack_cancels_at_once);
	T_RUN(test_held_until_window_end);
	T_RUN(test_threaded);
	return t_done();
}
