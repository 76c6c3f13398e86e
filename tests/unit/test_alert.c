/*
 * Unit tests of alerts: the store API (tenant isolation, order, since/limit, checks,
 * rows written behind koban's back, retention, a tenant's removal), the sink (batches,
 * the subscriber, the kept events, every drop reason counted, the metrics) and the JSON
 * form (written, read back, refused when malformed).
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "soc/alert.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"
#include "t_metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#define DAY_NS (INT64_C(86400) * NS_PER_SEC)

static struct meta_alert stored(const char *tenant, const char *rule, int64_t detected)
{
	return (struct meta_alert){
		.tenant = tenant, .kind = "sigma", .rule_id = rule, .rule_title = "Title",
		.rule_level = "high", .rule_author = "Jane Doe", .rule_status = "stable",
		.rule_link = "rules/sigma/x.yml", .rule_tags = "[\"attack.t1110\"]",
		.rule_references = "[]", .event_ns = detected - 1, .detected_ns = detected,
		.group_fields = "{}", .key_fields = "{\"user.name\":\"bob\"}",
		.events = "{\"a\":1}\n", .n_events = 1,
	};
}

/* Collects rule ids "r1 r2" and the last row's fields. */
struct seen {
	char ids[1024];
	int n;
	int64_t last_id, n_events, omitted;
	bool had_events;
	char events[META_ALERT_EVENTS_BYTES + 1];
	char author[64];
};

static void see(void *ctx, const struct meta_alert *a)
{
	struct seen *s = ctx;
	size_t len = strlen(s->ids);

	snprintf(s->ids + len, sizeof(s->ids) - len, "%s%s", s->n++ ? " " : "", a->rule_id);
	s->last_id = a->id;
	s->n_events = a->n_events;
	s->omitted = a->events_omitted;
	s->had_events = a->events != NULL;
	snprintf(s->events, sizeof(s->events), "%s", a->events ? a->events : "");
	snprintf(s->author, sizeof(s->author), "%s", a->rule_author);
}

static void test_store_isolation_and_order(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	struct meta_alert x;
	struct seen s = { 0 };
	int64_t id_a1 = 0, id_b = 0, id;

	if (!m)
		return;
	x = stored("a", "r1", 100);
	CHECK_INT(meta_alert_add(m, &x, &id_a1, &e), 0);
	x = stored("a", "r2", 300);
	CHECK_INT(meta_alert_add(m, &x, &id, &e), 0);
	x = stored("a", "r3", 200);
	CHECK_INT(meta_alert_add(m, &x, &id, &e), 0);
	x = stored("b", "secret", 250);
	CHECK_INT(meta_alert_add(m, &x, &id_b, &e), 0);
	x = stored("nosuch", "r", 1);
	CHECK_INT(meta_alert_add(m, &x, &id, &e), -ENOENT);

	/* newest first, one tenant only */
	CHECK_INT(meta_alert_list(m, "a", 0, 100, see, &s, &e), 0);
	CHECK_STR(s.ids, "r2 r3 r1");
	CHECK(!s.had_events && s.n_events == 1);
	s = (struct seen){ 0 };
	CHECK_INT(meta_alert_list(m, "a", 200, 100, see, &s, &e), 0);
	CHECK_STR(s.ids, "r2 r3");
	s = (struct seen){ 0 };
	CHECK_INT(meta_alert_list(m, "a", 0, 1, see, &s, &e), 0);
	CHECK_STR(s.ids, "r2");
	s = (struct seen){ 0 };
	CHECK_INT(meta_alert_list(m, "b", 0, 100, see, &s, &e), 0);
	CHECK_STR(s.ids, "secret");
	CHECK_INT(meta_alert_list(m, "a", 0, 0, see, &s, &e), -EINVAL);
	CHECK_INT(meta_alert_list(m, "a", 0, META_ALERT_LIST_MAX + 1, see, &s, &e), -EINVAL);
	CHECK_INT(meta_alert_list(m, "nosuch", 0, 10, see, &s, &e), -ENOENT);
	CHECK_INT(meta_alert_list(m, "../a", 0, 10, see, &s, &e), -EINVAL);

	/* get: with the events, and never another tenant's alert by its id */
	s = (struct seen){ 0 };
	CHECK_INT(meta_alert_get(m, "a", id_a1, see, &s, &e), 0);
	CHECK_STR(s.ids, "r1");
	CHECK(s.had_events);
	CHECK_STR(s.events, "{\"a\":1}\n");
	CHECK_STR(s.author, "Jane Doe");
	s = (struct seen){ 0 };
	CHECK_INT(meta_alert_get(m, "a", id_b, see, &s, &e), -ENOENT);
	CHECK_INT(s.n, 0);
	CHECK(strstr(e.msg, "no alert") != NULL);

	/* removing a tenant removes its alerts */
	CHECK_INT(meta_tenant_remove(m, "b", &e), 0);
	CHECK_INT(meta_tenant_add(m, "b", &e), 0);
	s = (struct seen){ 0 };
	CHECK_INT(meta_alert_list(m, "b", 0, 10, see, &s, &e), 0);
	CHECK_INT(s.n, 0);
	meta_close(m);
}

static void test_store_checks(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	struct meta_alert x;

	if (!m)
		return;
#define REFUSED(field, value, what)                                                 \
	do {                                                                        \
		x = stored("a", "r", 5);                                            \
		x.field = value;                                                    \
		CHECK_INT(meta_alert_add(m, &x, NULL, &e), -EINVAL);                \
		CHECK(strstr(e.msg, what) != NULL);                                 \
	} while (0)
	REFUSED(kind, "weird", "kind");
	REFUSED(rule_level, "urgent", "level");
	REFUSED(rule_id, "", "rule_id");
	REFUSED(rule_title, "a\nb", "rule_title");
	REFUSED(rule_author, "\xff", "rule_author");
	REFUSED(rule_tags, "[1]", "rule_tags");
	REFUSED(rule_tags, "[\"x\",]", "rule_tags");
	REFUSED(rule_references, "{}", "rule_references");
	REFUSED(group_fields, "[]", "group_fields");
	REFUSED(key_fields, "{\"a\":1} x", "key_fields");
	REFUSED(events, "{\"a\":1}", "line 1");
	REFUSED(events, "{\"a\":1}\n[]\n", "line 2");
	REFUSED(n_events, 2, "n_events");
	REFUSED(events_omitted, -1, "events_omitted");
	REFUSED(tenant, "A", "tenant");
#undef REFUSED
	x = stored("a", "r", 5);
	x.rule_level = "";
	x.events = "";
	x.n_events = 0;
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	meta_close(m);
}

/* A row written by something else is skipped with a warning, never shown. */
static void test_store_crafted_row(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	struct meta_alert x = stored("a", "good", 10);
	struct seen s = { 0 };

	if (!m)
		return;
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	CHECK_INT(t_meta_exec("INSERT INTO alerts (tenant_id, kind, rule_id, rule_title,"
			      " rule_level, rule_author, rule_status, rule_link, rule_tags,"
			      " rule_references, event_ns, detected_ns, group_fields, key_fields,"
			      " events, n_events, events_omitted) SELECT id, 'sigma', 'bad', 't',"
			      " 'high', '', '', '', '[]', '[]', 0, 20, '{\"x\":', '{}', '', 0, 0"
			      " FROM tenants WHERE name = 'a'"), SQLITE_OK);
	CHECK_INT(meta_alert_list(m, "a", 0, 10, see, &s, &e), 0);
	CHECK_STR(s.ids, "good");
	meta_close(m);
}

static void test_prune(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	int64_t now = 1000 * DAY_NS, deleted = -1;
	struct meta_alert x;
	struct seen s = { 0 };

	if (!m)
		return;
	x = stored("a", "old", now - 91 * DAY_NS);
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	x = stored("b", "old-b", now - 90 * DAY_NS - 1);
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	x = stored("a", "kept", now - 90 * DAY_NS);
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	CHECK_INT(alert_prune(m, 0, now, &deleted, &e), 0); /* 0 days: keep forever */
	CHECK_INT(deleted, 0);
	CHECK_INT(alert_prune(m, 90, now, &deleted, &e), 0);
	CHECK_INT(deleted, 2);
	CHECK_INT(meta_alert_list(m, "a", 0, 10, see, &s, &e), 0);
	CHECK_STR(s.ids, "kept");
	meta_close(m);
}

/* An id is never handed out again, even after the newest alerts were pruned (incidents
 * link alerts by id beyond their retention). */
static void test_ids_not_reused(void)
{
	struct meta *m = t_meta_open("a", NULL);
	struct err e = ERR_INIT;
	int64_t now = 1000 * DAY_NS, deleted = -1, first = 0, again = 0;
	struct meta_alert x;

	if (!m)
		return;
	x = stored("a", "old", now - 91 * DAY_NS);
	CHECK_INT(meta_alert_add(m, &x, &first, &e), 0);
	CHECK_INT(alert_prune(m, 90, now, &deleted, &e), 0);
	CHECK_INT(deleted, 1);
	x = stored("a", "new", now);
	CHECK_INT(meta_alert_add(m, &x, &again, &e), 0);
	CHECK(first > 0 && again > first);
	meta_close(m);
}

/* ---- the sink ---- */

struct subscriber {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold;          /* the writer waits inside the callback while set */
	bool inside;
	struct seen seen;
};

static void on_stored(void *ctx, const struct meta_alert *a)
{
	struct subscriber *sub = ctx;

	pthread_mutex_lock(&sub->lock);
	see(&sub->seen, a);
	sub->inside = true;
	pthread_cond_broadcast(&sub->cond);
	while (sub->hold)
		pthread_cond_wait(&sub->cond, &sub->lock);
	pthread_mutex_unlock(&sub->lock);
}

static struct alert alert_of(const char *tenant, const char *rule)
{
	static const char *const tags[] = { "attack.credential_access", "attack.t1110" };

	return (struct alert){
		.tenant = tenant, .kind = ALERT_CORRELATION, .rule_id = rule,
		.rule_title = "Brute force", .rule_level = "high", .rule_author = "koban",
		.rule_status = "test", .rule_link = "rules/sigma/bf.yml", .tags = tags,
		.n_tags = 2, .event_ns = 5 * NS_PER_SEC,
		.group_fields = "{\"user.name\":\"bob\"}",
	};
}

static struct alert_sink *sink_new(struct subscriber *sub, unsigned capacity)
{
	struct alert_sink_config c = { .data_dir = t_meta_dir(), .capacity = capacity,
				       .on_stored = on_stored, .ctx = sub };
	struct alert_sink *s = NULL;
	struct err e = ERR_INIT;

	pthread_mutex_init(&sub->lock, NULL);
	pthread_cond_init(&sub->cond, NULL);
	if (alert_sink_new(&s, &c, &e) < 0)
		t_check(0, __FILE__, __LINE__, "alert_sink_new: %s", e.msg);
	return s;
}

static void subscriber_release(struct subscriber *sub)
{
	pthread_cond_destroy(&sub->cond);
	pthread_mutex_destroy(&sub->lock);
}

static void test_sink_stores_and_tells(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct subscriber sub = { 0 };
	struct alert_sink *s;
	struct err e = ERR_INIT;
	struct seen listed = { 0 };
	char rule[16];

	meta_close(m);
	if (!m || !(s = sink_new(&sub, 0)))
		return;
	CHECK_INT(alert_sink_metrics_register(s, &e), 0);
	for (int i = 0; i < 600; i++) { /* more than two batches */
		struct alert a = alert_of(i % 2 ? "b" : "a", rule);

		snprintf(rule, sizeof(rule), "r%d", i);
		a.rule_level = i < 3 ? "critical" : "high";
		CHECK_INT(alert_sink_push(s, &a, &e), 0);
	}
	alert_sink_flush(s);
	CHECK_INT(sub.seen.n, 600);
	CHECK(sub.seen.last_id > 0);
	CHECK(sub.seen.had_events);
	CHECK_INT(t_metric("koban_alerts_total{tenant=\"a\",level=\"high\"}", -1), 298);
	CHECK_INT(t_metric("koban_alerts_total{tenant=\"a\",level=\"critical\"}", -1), 2);
	CHECK_INT(t_metric("koban_alerts_total{tenant=\"b\",level=\"critical\"}", -1), 1);
	CHECK_INT(t_metric("koban_alerts_queued", -1), 0);
	alert_sink_free(s);
	subscriber_release(&sub);

	CHECK_INT(meta_open(&m, t_meta_dir(), &e), 0);
	CHECK_INT(meta_alert_list(m, "b", 0, 3, see, &listed, &e), 0);
	CHECK_STR(listed.ids, "r599 r597 r595");
	meta_close(m);
}

static void test_sink_events_kept(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct subscriber sub = { 0 };
	struct alert_sink *s;
	struct err e = ERR_INIT;
	struct alert_event ev[20];
	static char big[40000];
	struct alert a = alert_of("a", "many");

	meta_close(m);
	if (!m || !(s = sink_new(&sub, 0)))
		return;
	for (int i = 0; i < 20; i++)
		ev[i] = (struct alert_event){ "{\"n\":1}", 7 };
	a.events = ev;
	a.n_events = 20;
	a.events_matched = 25;
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	alert_sink_flush(s);
	CHECK_INT(sub.seen.n_events, 16);
	CHECK_INT(sub.seen.omitted, 9);

	/* 64 KiB of events at most: the second big one is left out, a small one still fits */
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	ev[0] = ev[1] = (struct alert_event){ big, sizeof(big) - 1 };
	ev[2] = (struct alert_event){ "{}", 2 };
	a.n_events = 3;
	a.events_matched = 0;
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	alert_sink_flush(s);
	CHECK_INT(sub.seen.n_events, 2);
	CHECK_INT(sub.seen.omitted, 1);
	alert_sink_free(s);
	subscriber_release(&sub);
}

static void test_sink_drops_counted(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct subscriber sub = { .hold = true };
	struct alert_sink *s;
	struct err e = ERR_INIT;
	struct alert a = alert_of("a", "r");

	meta_close(m);
	if (!m || !(s = sink_new(&sub, 2)))
		return;
	CHECK_INT(alert_sink_metrics_register(s, &e), 0);
	/* the writer holds the first alert in the subscriber: the queue (2) then fills */
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	pthread_mutex_lock(&sub.lock);
	while (!sub.inside)
		pthread_cond_wait(&sub.cond, &sub.lock);
	pthread_mutex_unlock(&sub.lock);
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	CHECK_INT(alert_sink_push(s, &a, &e), -ENOSPC);
	CHECK_INT(t_metric("koban_alerts_queued", -1), 2);
	a.rule_level = "urgent";
	CHECK_INT(alert_sink_push(s, &a, &e), -EINVAL);
	CHECK(strstr(e.msg, "level") != NULL);
	a = alert_of("a", "r");
	a.group_fields = "{";
	CHECK_INT(alert_sink_push(s, &a, &e), -EINVAL);
	a = alert_of("a", "r");
	mem_fail_after(0);
	CHECK_INT(alert_sink_push(s, &a, &e), -ENOMEM);
	mem_fail_after(-1);
	a = alert_of("gone", "r"); /* a valid name, but no such tenant when stored */
	pthread_mutex_lock(&sub.lock);
	sub.hold = false;
	pthread_cond_broadcast(&sub.cond);
	pthread_mutex_unlock(&sub.lock);
	alert_sink_flush(s);
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	alert_sink_flush(s);
	CHECK_INT(sub.seen.n, 3);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"queue_full\"}", -1), 1);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"invalid\"}", -1), 2);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"no_memory\"}", -1), 1);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"no_tenant\"}", -1), 1);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"store_error\"}", -1), 0);
	alert_sink_free(s);
	subscriber_release(&sub);
}

/* What is queued when the sink is freed is stored, not lost. */
static void test_sink_free_drains(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct subscriber sub = { 0 };
	struct alert_sink *s;
	struct err e = ERR_INIT;
	struct alert a = alert_of("a", "r");
	struct seen listed = { 0 };

	meta_close(m);
	if (!m || !(s = sink_new(&sub, 0)))
		return;
	for (int i = 0; i < 50; i++)
		CHECK_INT(alert_sink_push(s, &a, &e), 0);
	alert_sink_free(s);
	subscriber_release(&sub);
	CHECK_INT(sub.seen.n, 50);
	CHECK_INT(meta_open(&m, t_meta_dir(), &e), 0);
	CHECK_INT(meta_alert_list(m, "a", 0, 100, see, &listed, &e), 0);
	CHECK_INT(listed.n, 50);
	meta_close(m);
}

/* The sink's writer prunes at start with the configured days. */
static void test_sink_retention(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct alert_sink_config c = { .data_dir = t_meta_dir(), .retention_days = 90 };
	struct alert_sink *s = NULL;
	struct err e = ERR_INIT;
	struct meta_alert x;
	struct seen listed = { 0 };
	int64_t now = time_now_ns();

	if (!m)
		return;
	x = stored("a", "old", now - 91 * DAY_NS);
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	x = stored("a", "recent", now - 89 * DAY_NS);
	CHECK_INT(meta_alert_add(m, &x, NULL, &e), 0);
	CHECK_INT(alert_sink_new(&s, &c, &e), 0);
	CHECK_INT(alert_sink_metrics_register(s, &e), 0);
	alert_sink_free(s); /* the first pass runs before the writer looks at its queue */
	CHECK_INT(meta_alert_list(m, "a", 0, 100, see, &listed, &e), 0);
	CHECK_STR(listed.ids, "recent");
	meta_close(m);
}

/* koban.db refusing a batch: three attempts a second apart, then the alerts are counted. */
static void test_sink_store_error(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct subscriber sub = { 0 };
	struct alert_sink *s;
	struct err e = ERR_INIT;
	struct alert a = alert_of("a", "r");

	meta_close(m);
	if (!m || !(s = sink_new(&sub, 0)))
		return;
	CHECK_INT(alert_sink_metrics_register(s, &e), 0);
	CHECK_INT(t_meta_exec("DROP TABLE alerts"), SQLITE_OK);
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	CHECK_INT(alert_sink_push(s, &a, &e), 0);
	alert_sink_flush(s);
	CHECK_INT(sub.seen.n, 0);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"store_error\"}", -1), 2);
	alert_sink_free(s);
	subscriber_release(&sub);
}

/* Every allocation of the start failing in turn: a clean error, nothing leaked. */
static void test_sink_new_out_of_memory(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct alert_sink_config c = { .data_dir = t_meta_dir() };
	struct alert_sink *s = NULL;
	int rc = -ENOMEM;

	meta_close(m);
	for (long n = 0; n < 50 && rc == -ENOMEM; n++) {
		struct err e = ERR_INIT;

		mem_fail_after(n);
		rc = alert_sink_new(&s, &c, &e);
		mem_fail_after(-1);
		if (rc < 0) {
			CHECK(s == NULL && e.msg[0]);
			CHECK_INT(rc, -ENOMEM);
		}
	}
	CHECK_INT(rc, 0);
	alert_sink_free(s);
}

/* ---- JSON ---- */

static void test_json_round_trip(void)
{
	struct meta_alert x = stored("a", "r\"1", 1764460800 * NS_PER_SEC);
	struct buf b = BUF_INIT(1 << 20);
	struct arena ar;
	struct alert a;
	struct err e = ERR_INIT;

	x.id = 42;
	x.events = "{\"a\":1}\n{\"b\":[2]}\n";
	x.n_events = 2;
	x.events_omitted = 3;
	x.event_ns = 0;
	CHECK_INT(alert_write_json(&x, &b), 0);
	CHECK_STR(b.p, "{\"id\":42,\"tenant\":\"a\",\"kind\":\"sigma\",\"rule\":{\"id\":\"r\\\"1\","
		       "\"title\":\"Title\",\"level\":\"high\",\"author\":\"Jane Doe\","
		       "\"status\":\"stable\",\"link\":\"rules/sigma/x.yml\","
		       "\"tags\":[\"attack.t1110\"],\"references\":[]},\"event_time\":null,"
		       "\"detected\":\"2025-11-30T00:00:00Z\",\"group\":{},"
		       "\"keys\":{\"user.name\":\"bob\"},\"n_events\":2,\"events_omitted\":3,"
		       "\"events\":[{\"a\":1},{\"b\":[2]}]}");
	arena_init(&ar, 4096, 1 << 20);
	CHECK_INT(alert_read_json(b.p, b.len, &ar, &a, &e), 0);
	CHECK_STR(a.rule_id, "r\"1");
	CHECK_STR(a.rule_author, "Jane Doe");
	CHECK_INT(a.n_tags, 1);
	CHECK_STR(a.tags[0], "attack.t1110");
	CHECK_INT(a.n_events, 2);
	CHECK_MEM(a.events[1].json, a.events[1].len, "{\"b\":[2]}");
	CHECK_INT(a.events_matched, 5);
	CHECK_INT(a.event_ns, 0);
	CHECK_STR(a.key_fields, "{\"user.name\":\"bob\"}");
	CHECK_INT(a.kind, ALERT_SIGMA);

	/* what the reader refuses, naming the key */
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "[]", "JSON object" },
		{ "{\"rule\":{\"title\":\"x\"}}", "rule.id" },
		{ "{\"rule\":{\"id\":\"x\",\"colour\":1}}", "rule" },
		{ "{\"rule\":{\"id\":\"x\"},\"kind\":\"odd\"}", "kind" },
		{ "{\"rule\":{\"id\":\"x\"},\"event_time\":\"yesterday\"}", "event_time" },
		{ "{\"rule\":{\"id\":\"x\"},\"events\":[1]}", "events" },
		{ "{\"rule\":{\"id\":\"x\"},\"group\":[]}", "group" },
		{ "{\"rule\":{\"id\":\"x\"},\"events_omitted\":-1}", "events_omitted" },
		{ "{\"rule\":{\"id\":\"x\",\"tags\":[1]}}", "rule" },
		{ "{\"rule\":{\"id\":\"x\"},\"extra\":1}", "extra" },
		{ "{\"rule\":{\"id\":\"x\\u0000\"}}", "NUL" },
		{ "{\"rule\":{\"id\":\"x\"}} {}", "document" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		arena_clear(&ar);
		err_clear(&e);
		CHECK_INT(alert_read_json(bad[i].text, strlen(bad[i].text), &ar, &a, &e), -EINVAL);
		if (!strstr(e.msg, bad[i].what))
			t_check(0, __FILE__, __LINE__, "%s: '%s' does not name %s", bad[i].text,
				e.msg, bad[i].what);
	}
	arena_release(&ar);
	buf_release(&b);
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	T_RUN(test_store_isolation_and_order);
	T_RUN(test_store_checks);
	T_RUN(test_store_crafted_row);
	T_RUN(test_prune);
	T_RUN(test_ids_not_reused);
	T_RUN(test_sink_stores_and_tells);
	T_RUN(test_sink_events_kept);
	T_RUN(test_sink_drops_counted);
	T_RUN(test_sink_free_drains);
	T_RUN(test_sink_retention);
	T_RUN(test_sink_store_error);
	T_RUN(test_sink_new_out_of_memory);
	T_RUN(test_json_round_trip);
	return t_done();
}
