#include "enrich/retrohunt.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "soc/alert.h"
#include "store/meta.h"
#include "store/store.h"
#include "t.h"
#include "t_meta.h"
#include "t_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

static struct meta_indicator ind(const char *type, const char *value)
{
	return (struct meta_indicator){ .type = type, .value = value, .confidence = 90,
					.first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" };
}

static void put(struct meta *m, const char *source, const char *tenant, const char *type,
		const char *value)
{
	struct meta_indicator i = ind(type, value);

	t_meta_put(m, source, tenant, &i, 1);
}

struct listed {
	char text[256];
};

static void listed(void *ctx, const struct meta_indicator *i)
{
	struct listed *l = ctx;
	size_t len = strlen(l->text);

	snprintf(l->text + len, sizeof(l->text) - len, "%s%lld:%s", len ? " " : "",
		 (long long)i->id, i->value);
}

/* "id:value ..." of the indicators (after, upto] applying to tenant. */
static const char *new_ones(struct meta *m, const char *tenant, int64_t after, int64_t upto,
			    int64_t limit)
{
	static struct listed l;
	struct err e = ERR_INIT;

	memset(&l, 0, sizeof(l));
	CHECK_INT(meta_retrohunt_indicators(m, tenant, after, upto, limit, listed, &l, &e), 0);
	return l.text;
}

static void test_state_swap(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct meta_retrohunt s, zero = { 0 }, one = { 0, 5, 100, 101 }, two = { 5, 0, 0, 0 };
	struct err e = ERR_INIT;
	bool swapped;

	if (!m)
		return;
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK(s.watermark == 0 && s.batch_end == 0 && s.cursor_ns == 0);
	CHECK_INT(meta_retrohunt_swap(m, "a", &zero, &one, &swapped, &e), 0);
	CHECK(swapped);
	/* a second hunter that read the old state does not move it back */
	CHECK_INT(meta_retrohunt_swap(m, "a", &zero, &two, &swapped, &e), 0);
	CHECK(!swapped);
	CHECK_INT(meta_retrohunt_swap(m, "a", &one, &two, &swapped, &e), 0);
	CHECK(swapped);
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK(s.watermark == 5 && s.batch_end == 0);
	/* tenant b's progress is its own */
	CHECK_INT(meta_retrohunt_get(m, "b", &s, &e), 0);
	CHECK(s.watermark == 0);
	CHECK_INT(meta_retrohunt_swap(m, "b", &zero, &(struct meta_retrohunt){ 7, 7, 0, 0 },
				      &swapped, &e), -EINVAL);
	CHECK_INT(meta_retrohunt_get(m, "nosuch", &s, &e), -ENOENT);
	CHECK_INT(meta_retrohunt_swap(m, "nosuch", &zero, &one, &swapped, &e), -ENOENT);
	CHECK_INT(meta_retrohunt_get(m, "../a", &s, &e), -EINVAL);
	meta_close(m);
}

/* Tenant a never gets b's indicators, whatever the bounds. */
static void test_indicators_isolation(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);

	if (!m)
		return;
	put(m, "feed", NULL, "ip", "192.0.2.1");
	put(m, "own", "a", "ip", "192.0.2.2");
	put(m, "own", "b", "ip", "192.0.2.3");
	put(m, "feed", NULL, "domain", "evil.example");
	CHECK_STR(new_ones(m, "a", 0, 0, 100), "1:192.0.2.1 2:192.0.2.2 4:evil.example");
	CHECK_STR(new_ones(m, "b", 0, 0, 100), "1:192.0.2.1 3:192.0.2.3 4:evil.example");
	CHECK_STR(new_ones(m, "a", 1, 0, 100), "2:192.0.2.2 4:evil.example");
	CHECK_STR(new_ones(m, "a", 0, 3, 100), "1:192.0.2.1 2:192.0.2.2");
	CHECK_STR(new_ones(m, "b", 2, 3, 100), "3:192.0.2.3");
	CHECK_STR(new_ones(m, "a", 2, 3, 100), "");
	CHECK_STR(new_ones(m, "a", 0, 0, 1), "1:192.0.2.1");
	CHECK_STR(new_ones(m, META_UNASSIGNED, 0, 0, 100), "1:192.0.2.1 4:evil.example");
	meta_close(m);
}

/* An id that comes again once the highest rows are gone lowers the watermark under it. */
static void test_reused_id(void)
{
	struct meta *m = t_meta_open("a", NULL);
	struct meta_indicator_filter f = { .scope = META_TI_GLOBAL, .source = "feed" };
	struct meta_retrohunt s, zero = { 0 };
	struct err e = ERR_INIT;
	int64_t removed;
	bool swapped;

	if (!m)
		return;
	put(m, "old", NULL, "ip", "192.0.2.1");
	put(m, "feed", NULL, "ip", "192.0.2.2");
	put(m, "feed", NULL, "ip", "192.0.2.3");
	CHECK_INT(meta_retrohunt_swap(m, "a", &zero, &(struct meta_retrohunt){ 3, 0, 0, 0 },
				      &swapped, &e), 0);
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 2);
	put(m, "feed", NULL, "ip", "198.51.100.9"); /* takes id 2 again */
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK_INT(s.watermark, 1);
	CHECK_STR(new_ones(m, "a", s.watermark, 0, 100), "2:198.51.100.9");
	/* the same inside a batch: the batch starts again */
	CHECK_INT(meta_retrohunt_swap(m, "a", &s, &(struct meta_retrohunt){ 1, 2, 10, 5 },
				      &swapped, &e), 0);
	CHECK(swapped);
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	put(m, "feed", NULL, "ip", "198.51.100.10");
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK(s.watermark == 1 && s.batch_end == 0);
	/* re-importing a known indicator is no new row: the watermark stays */
	CHECK_INT(meta_retrohunt_swap(m, "a", &s, &(struct meta_retrohunt){ 2, 0, 0, 0 },
				      &swapped, &e), 0);
	put(m, "feed", NULL, "ip", "198.51.100.10");
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK_INT(s.watermark, 2);
	meta_close(m);
}

/* ---- passes over stored events ---- */

#define DAY (86400 * NS_PER_SEC)
#define EVENTS_PER_TENANT 40

static int64_t t_now;

/* Event i: i days and an hour old, destination 192.0.2.1, host h<i>. */
static void make_event(struct event *ev, int i, void *ctx)
{
	static char hosts[EVENTS_PER_TENANT][8];
	struct ipaddr ip;

	snprintf(hosts[i], sizeof(hosts[i]), "h%d", i);
	CHECK_INT(ipaddr_parse(&ip, "192.0.2.1", 9), 0);
	CHECK_INT(event_set_time(ev, FIELD_TIMESTAMP, t_now - i * DAY - 3600 * NS_PER_SEC), 0);
	CHECK_INT(event_set_ip(ev, FIELD_DESTINATION_IP, &ip), 0);
	CHECK_INT(event_set_str(ev, FIELD_HOST_NAME, hosts[i], strlen(hosts[i])), 0);
}

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->id;
}

/* Source "feed" looks back 10 days, "long" 35, the others the default. */
static unsigned days_of(void *ctx, const char *source)
{
	return !strcmp(source, "feed") ? 10 : !strcmp(source, "long") ? 35 : 0;
}

struct counted { /* on the alert sink's writer thread */
	atomic_uint a, b, other;
};

static void count_alert(void *ctx, const struct meta_alert *al)
{
	struct counted *c = ctx;

	if (strcmp(al->rule_id, "koban-ti-retrohunt") || !strstr(al->rule_tags, "retro-hunt"))
		atomic_fetch_add(&c->other, 1);
	else if (!strcmp(al->tenant, "a"))
		atomic_fetch_add(&c->a, 1);
	else if (!strcmp(al->tenant, "b"))
		atomic_fetch_add(&c->b, 1);
	else
		atomic_fetch_add(&c->other, 1);
}

struct world {
	struct meta *m;
	struct store *st;
	struct alert_sink *alerts;
	struct counted counted;
};

/* Tenants a and b with EVENTS_PER_TENANT events each, stored. */
static bool world_open(struct world *w)
{
	struct store_import_stats is;
	struct err e = ERR_INIT;
	int64_t id;

	memset(w, 0, sizeof(*w));
	t_now = time_now_ns();
	if (!(w->m = t_meta_open("a", "b", NULL)))
		return false;
	CHECK_INT(store_open(&w->st, t_meta_dir(), &e), 0);
	if (!w->st)
		return false;
	for (const char *t = "a"; t; t = *t == 'a' ? "b" : NULL) {
		CHECK_INT(meta_tenant_get(w->m, t, take_id, &id, &e), 0);
		t_store_import(w->st, (uint64_t)id, EVENTS_PER_TENANT, make_event, NULL, &is);
		CHECK_INT(is.events, EVENTS_PER_TENANT);
	}
	CHECK_INT(alert_sink_new(&w->alerts, &(struct alert_sink_config){
					 .data_dir = t_meta_dir(), .on_stored = count_alert,
					 .ctx = &w->counted }, &e), 0);
	return w->alerts != NULL;
}

/* Stores every alert raised so far into w->counted. */
static void world_flush(struct world *w)
{
	struct err e = ERR_INIT;

	alert_sink_free(w->alerts);
	w->alerts = NULL;
	CHECK_INT(alert_sink_new(&w->alerts, &(struct alert_sink_config){
					 .data_dir = t_meta_dir(), .on_stored = count_alert,
					 .ctx = &w->counted }, &e), 0);
}

static void world_close(struct world *w)
{
	alert_sink_free(w->alerts);
	store_close(w->st);
	meta_close(w->m);
}

static struct retrohunt *hunter(struct world *w, uint64_t max_events, struct alert_sink *alerts)
{
	struct retrohunt_config c = { .meta = w->m, .store = w->st, .alerts = alerts,
				      .days = days_of, .max_events = max_events };
	struct retrohunt *r = NULL;
	struct err e = ERR_INIT;

	CHECK_INT(retrohunt_new(&r, &c, &e), 0);
	return r;
}

/* Passes (a new hunter each time, as after a restart) until caught up; their sum. */
static struct retrohunt_stats hunt_all(struct world *w, const char *tenant, uint64_t max_events,
				       unsigned *passes)
{
	struct retrohunt_stats sum = { 0 };

	for (*passes = 0; *passes < 100 && !sum.done; (*passes)++) {
		struct retrohunt *r = hunter(w, max_events, w->alerts);
		struct err e = ERR_INIT;

		if (!r)
			break;
		sum.done = false;
		CHECK_INT(retrohunt_pass(r, tenant, t_now, &sum, &e), 0);
		retrohunt_free(r);
	}
	world_flush(w);
	return sum;
}

/*
 * A global indicator of a 10-day source: the 10 newest events of each tenant, each once,
 * whatever the budget and the restarts in between; then nothing more.
 */
static void test_pass_budget_restart(void)
{
	struct retrohunt_stats st;
	struct world w;
	unsigned passes;

	if (!world_open(&w))
		goto out;
	put(w.m, "feed", NULL, "ip", "192.0.2.1");
	st = hunt_all(&w, NULL, 3, &passes);
	CHECK(st.done);
	CHECK_INT(st.events, 20);
	CHECK_INT(st.matched, 20);
	CHECK_INT(st.sightings, 20);
	CHECK_INT(st.batches, 3); /* a, b and _unassigned (no events) */
	CHECK(passes >= 7); /* 3 events a pass (one a day-long window) */
	CHECK_INT(w.counted.a, 10);
	CHECK_INT(w.counted.b, 10);
	CHECK_INT(w.counted.other, 0);
	st = hunt_all(&w, NULL, 0, &passes);
	CHECK(st.done && passes == 1);
	CHECK_INT(st.events, 0);
	CHECK_INT(st.indicators, 0);
out:
	world_close(&w);
}

/*
 * Tenant b's own network from a 35-day source: only b's events are read, 35 of them, and
 * a never sees its alert; a batch mixing 10 and 35 days gives each source its own days.
 */
static void test_pass_scope_and_days(void)
{
	struct retrohunt_stats st;
	struct world w;
	unsigned passes;

	if (!world_open(&w))
		goto out;
	put(w.m, "long", "b", "ip", "192.0.2.0/24");
	st = hunt_all(&w, NULL, 0, &passes);
	CHECK(st.done);
	CHECK_INT(st.events, 35);
	CHECK_INT(st.sightings, 35);
	CHECK_INT(w.counted.a, 0);
	CHECK_INT(w.counted.b, 35);
	/* one batch of both: a reads 35 days (the long one's) but only 10 sightings */
	put(w.m, "feed", "a", "ip", "192.0.2.1");
	put(w.m, "long", "a", "domain", "nowhere.example");
	st = hunt_all(&w, "a", 0, &passes);
	CHECK(st.done);
	CHECK_INT(st.events, 35);
	CHECK_INT(st.sightings, 10);
	CHECK_INT(w.counted.a, 10);
	CHECK_INT(w.counted.b, 35);
out:
	world_close(&w);
}

/* Whatever allocation fails, a pass fails cleanly, and the next one finishes the work. */
static void test_pass_alloc_failures(void)
{
	struct retrohunt_stats st = { 0 };
	struct world w;
	long n;

	if (!world_open(&w))
		goto out;
	put(w.m, "feed", NULL, "ip", "192.0.2.1");
	for (n = 0; n < 400 && !st.done; n++) {
		struct retrohunt *r = hunter(&w, 0, NULL);
		struct err e = ERR_INIT;
		int rc;

		if (!r)
			break;
		memset(&st, 0, sizeof(st));
		mem_fail_after(n);
		rc = retrohunt_pass(r, NULL, t_now, &st, &e);
		mem_fail_after(-1);
		retrohunt_free(r);
		if (rc < 0) {
			CHECK(e.msg[0] != 0);
			st.done = false;
		}
	}
	CHECK(st.done);
	CHECK(n > 3);
out:
	world_close(&w);
}

/* Cuts every segment of tenant a (id 2: _unassigned is 1) to half its size. */
static void damage_tenant_a(void)
{
	char dir[512], path[1024];
	struct dirent *d;
	struct stat sb;
	DIR *dh;

	snprintf(dir, sizeof(dir), "%s/tenants/2", t_meta_dir());
	CHECK((dh = opendir(dir)) != NULL);
	while (dh && (d = readdir(dh))) {
		if (!strstr(d->d_name, ".seg") || d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		CHECK_INT(stat(path, &sb), 0);
		CHECK_INT(truncate(path, sb.st_size / 2), 0);
	}
	if (dh)
		closedir(dh);
}

/* A tenant whose events cannot be read fails alone: the pass says so and hunts the others. */
static void test_pass_tenant_failure(void)
{
	struct retrohunt_stats st = { 0 };
	struct retrohunt *r;
	struct err e = ERR_INIT;
	struct world w;

	if (!world_open(&w))
		goto out;
	damage_tenant_a();
	put(w.m, "feed", NULL, "ip", "192.0.2.1");
	if (!(r = hunter(&w, 0, w.alerts)))
		goto out;
	CHECK(retrohunt_pass(r, NULL, t_now, &st, &e) < 0);
	CHECK(strncmp(e.msg, "tenant a: ", 10) == 0);
	CHECK(!st.done);
	retrohunt_free(r);
	world_flush(&w);
	CHECK_INT(atomic_load(&w.counted.b), 10);
out:
	world_close(&w);
}

/* The thread: woken after an import, it hunts; freed while idle, it stops. */
static void test_thread_wake(void)
{
	struct retrohunt_config c = { .days = days_of, .idle_ns = 3600 * NS_PER_SEC };
	struct retrohunt *r = NULL;
	struct meta *own = NULL;         /* the thread's: the test puts through w.m */
	struct err e = ERR_INIT;
	struct world w;

	if (!world_open(&w))
		goto out;
	CHECK_INT(meta_open(&own, t_meta_dir(), &e), 0);
	c.meta = own;
	c.store = w.st;
	c.alerts = w.alerts;
	CHECK_INT(retrohunt_new(&r, &c, &e), 0);
	if (!r)
		goto out;
	CHECK_INT(retrohunt_start(r, &e), 0);
	/* the first pass found nothing; the thread idles an hour unless woken */
	put(w.m, "feed", "b", "ip", "192.0.2.1");
	retrohunt_wake(r);
	for (int i = 0; i < 3000 && atomic_load(&w.counted.b) < 10; i++) {
		alert_sink_flush(w.alerts);
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	CHECK_INT(atomic_load(&w.counted.b), 10);
	CHECK_INT(atomic_load(&w.counted.a), 0);
	retrohunt_free(r);
out:
	meta_close(own);
	world_close(&w);
}

int main(void)
{
	T_RUN(test_state_swap);
	T_RUN(test_indicators_isolation);
	T_RUN(test_reused_id);
	T_RUN(test_pass_budget_restart);
	T_RUN(test_pass_scope_and_days);
	T_RUN(test_pass_alloc_failures);
	T_RUN(test_pass_tenant_failure);
	T_RUN(test_thread_wake);
	return t_done();
}
