/*
 * Unit tests of the retention pass: each tenant of koban.db with its own retention_days from
 * the store section, whole days dropped, reports, counters in /metrics, dry runs, --tenant,
 * and the events of a removed tenant under the default retention.
 */
#include "store/retention.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/meta.h"
#include "store/store.h"
#include "t.h"
#include "t_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define DAY (86400 * NS_PER_SEC)
#define T0 INT64_C(1796083200000000000) /* 2026-12-01T00:00:00Z */

/* Event k: the (k % 10)th of day k / 10. */
static void make_day_event(struct event *ev, int k, void *ctx)
{
	int d = k / 10, i = k % 10;
	char line[64];
	int n = snprintf(line, sizeof(line), "fw1 allow day=%d seq=%d", d, i);

	event_set_time(ev, FIELD_TIMESTAMP, T0 + d * DAY + i * NS_PER_SEC);
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
}

/* 10 events on each of days T0 .. T0 + days - 1. */
static void import_days(struct store *st, uint64_t tenant, int days)
{
	t_store_import(st, tenant, days * 10, make_day_event, NULL, NULL);
}

struct seen {
	char text[1024];
};

static void note(void *ctx, const struct retention_report *r)
{
	struct seen *s = ctx;
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s%s:%u:%llu:%llu:%d", len ? " " : "",
		 r->tenant, r->keep_days, (unsigned long long)r->stats.days,
		 (unsigned long long)r->stats.events, r->status);
}

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->id;
}

static void test_pass_over_tenants(void)
{
	static const char yaml[] = "store:\n  retention_days: 3\n  tenants:\n"
				   "    keep: { retention_days: 0 }\n    short: { retention_days: 1 }\n";
	struct retention *r = NULL;
	struct buf out = BUF_INIT(1 << 20);
	struct seen s = { "" };
	struct store *st = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	char dir[600];
	int64_t ids[3];
	const char *names[] = { "keep", "short", "std" };
	int64_t now = T0 + 5 * DAY + 3600 * NS_PER_SEC; /* day T0+5 */

	snprintf(dir, sizeof(dir), "%s/data", t_tmp_dir());
	CHECK_INT(config_load_mem(&c, yaml, sizeof(yaml) - 1, "t.yaml", &e), 0);
	CHECK_INT(meta_open(&m, dir, &e), 0);
	CHECK_INT(store_open(&st, dir, &e), 0);
	CHECK_INT(retention_new(&r, &e), 0);
	CHECK_INT(retention_metrics_register(r, &e), 0);
	if (!m || !st || !r)
		return;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(meta_tenant_add(m, names[i], &e), 0);
		CHECK_INT(meta_tenant_get(m, names[i], take_id, &ids[i], &e), 0);
		import_days(st, (uint64_t)ids[i], 6); /* days T0 .. T0+5 */
	}

	/* a dry run reports and counts nothing in /metrics */
	CHECK_INT(retention_run(r, st, m, &c, NULL, now, true, note, &s, &e), 0);
	CHECK_STR(s.text, "_unassigned:3:0:0:0 keep:0:0:0:0 short:1:5:50:0 std:3:3:30:0");
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_store_retention_runs_total 0\n") != NULL);

	s.text[0] = '\0';
	CHECK_INT(retention_run(r, st, m, &c, NULL, now, false, note, &s, &e), 0);
	CHECK_STR(s.text, "_unassigned:3:0:0:0 keep:0:0:0:0 short:1:5:50:0 std:3:3:30:0");
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_store_retention_runs_total 1\n") != NULL);
	CHECK(strstr(out.p, "koban_store_retention_dropped_days_total 8\n") != NULL);
	CHECK(strstr(out.p, "koban_store_retention_dropped_segments_total 8\n") != NULL);
	CHECK(strstr(out.p, "koban_store_retention_dropped_events_total 80\n") != NULL);
	CHECK(strstr(out.p, "koban_store_retention_failures_total 0\n") != NULL);

	/* again: nothing left; one tenant alone; a tenant that does not exist */
	s.text[0] = '\0';
	CHECK_INT(retention_run(r, st, m, &c, "std", now, false, note, &s, &e), 0);
	CHECK_STR(s.text, "std:3:0:0:0");
	CHECK_INT(retention_run(r, st, m, &c, "ghost", now, false, note, &s, &e), -ENOENT);
	CHECK(strstr(e.msg, "no tenant 'ghost'") != NULL);
	/* a day later, std loses one more day; no counters without r */
	s.text[0] = '\0';
	CHECK_INT(retention_run(NULL, st, m, &c, "std", now + DAY, false, note, &s, &e), 0);
	CHECK_STR(s.text, "std:3:1:10:0");

	/* a removed tenant's events stay, under store.retention_days (its own 0 went with it) */
	CHECK_INT(meta_tenant_remove(m, "keep", &e), 0);
	s.text[0] = '\0';
	CHECK_INT(retention_run(NULL, st, m, &c, NULL, now, false, note, &s, &e), 0);
	{
		char want[256];

		snprintf(want, sizeof(want), "_unassigned:3:0:0:0 short:1:0:0:0 std:3:0:0:0 "
			 "#%lld (removed):3:3:30:0", (long long)ids[0]);
		CHECK_STR(s.text, want);
	}

	retention_free(r);
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_store_retention") == NULL); /* unregistered */
	buf_release(&out);
	store_close(st);
	meta_close(m);
	config_release(&c);
}

int main(void)
{
	T_RUN(test_pass_over_tenants);
	return t_done();
}
