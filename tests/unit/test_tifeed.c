/*
 * Unit tests of the feeds' pure parts (enrich/tifeed: response headers, back-off) and of
 * their state in koban.db (store/meta.h tifeed section): save and read back, whole-set
 * pruning in the import's transaction, MISP events' values, tenant isolation of the prune,
 * a rolled-back fetch keeping the old set, and allocation failures of tifeed_new.
 */
#include "enrich/tifeed.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void take(struct tifeed_headers *h, const char *line)
{
	tifeed_header_take(h, line, strlen(line));
}

static void test_headers(void)
{
	struct tifeed_headers h;
	char longer[TIFEED_VALIDATOR_MAX + 40];

	memset(&h, 0, sizeof(h));
	take(&h, "ETag: \"abc\"\r\n");
	take(&h, "last-modified:   Mon, 30 Nov 2026 10:00:00 GMT \r\n");
	take(&h, "X-TAXII-Date-Added-Last: 2026-01-01T00:00:01.000Z\r\n");
	take(&h, "Content-Type: text/plain\r\n");
	take(&h, "ETag:\r\n"); /* empty: the value before stays */
	CHECK_STR(h.etag, "\"abc\"");
	CHECK_STR(h.last_modified, "Mon, 30 Nov 2026 10:00:00 GMT");
	CHECK_STR(h.date_added_last, "2026-01-01T00:00:01.000Z");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "ETag: ", 6);
	take(&h, longer); /* too long: ignored, never cut */
	CHECK_STR(h.etag, "\"abc\"");
	take(&h, "HTTP/1.1 200 OK\r\n"); /* the answer after a redirect: its own headers only */
	CHECK_STR(h.etag, "");
	CHECK_STR(h.last_modified, "");
	CHECK_STR(h.date_added_last, "");
}

static void test_next_due(void)
{
	int64_t now = 1000 * NS_PER_SEC;

	CHECK(tifeed_next_due(now, 3600, 0) == now + 3600 * NS_PER_SEC);
	CHECK(tifeed_next_due(now, 3600, 1) == now + 60 * NS_PER_SEC);
	CHECK(tifeed_next_due(now, 3600, 2) == now + 120 * NS_PER_SEC);
	CHECK(tifeed_next_due(now, 3600, 6) == now + 1920 * NS_PER_SEC);
	CHECK(tifeed_next_due(now, 3600, 7) == now + 3600 * NS_PER_SEC);
	CHECK(tifeed_next_due(now, 3600, 1000) == now + 3600 * NS_PER_SEC);
	CHECK(tifeed_next_due(now, 60, 3) == now + 60 * NS_PER_SEC);
}

struct seen {
	int rows;
	char etag[64], error[64];
	int64_t indicators;
};

static void seen_row(void *ctx, const struct meta_ti_feed *f)
{
	struct seen *s = ctx;

	s->rows++;
	snprintf(s->etag, sizeof(s->etag), "%s", f->etag ? f->etag : "(null)");
	snprintf(s->error, sizeof(s->error), "%s", f->last_error ? f->last_error : "(null)");
	s->indicators = f->indicators;
}

static void test_state_round_trip(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct meta_ti_feed f = { .name = "ips", .url = "https://x.example/ips.txt",
				  .etag = "\"v1\"", .last_success_ns = 5,
				  .indicators = 3, .next_ns = 9 };
	char big[META_TI_FEED_TEXT_MAX + 2];
	struct seen s = { 0 };
	struct err e = ERR_INIT;

	if (!m)
		return;
	CHECK_INT(meta_ti_feed_get(m, "ips", seen_row, &s, &e), -ENOENT);
	CHECK_INT(meta_ti_feed_save(m, &f, &e), 0);
	CHECK_INT(meta_ti_feed_get(m, "ips", seen_row, &s, &e), 0);
	CHECK_STR(s.etag, "\"v1\"");
	CHECK_STR(s.error, "(null)");
	CHECK(s.indicators == 3);
	f.etag = NULL;
	f.last_error = "HTTP status 500";
	CHECK_INT(meta_ti_feed_save(m, &f, &e), 0);
	memset(&s, 0, sizeof(s));
	CHECK_INT(meta_ti_feed_list(m, seen_row, &s, &e), 0);
	CHECK_INT(s.rows, 1);
	CHECK_STR(s.etag, "(null)");
	CHECK_STR(s.error, "HTTP status 500");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	f.last_error = big;
	CHECK_INT(meta_ti_feed_save(m, &f, &e), -EINVAL);
	f.name = "Bad Name";
	f.last_error = NULL;
	CHECK_INT(meta_ti_feed_save(m, &f, &e), -EINVAL);
	meta_close(m);
}

/* One import of values (domains) by feed into tenant's scope, kept as a whole set. */
static int import_whole(struct meta *m, const char *feed, const char *tenant,
			const char *const *values, size_t n, bool commit, int64_t *removed)
{
	struct meta_indicator_put *p = NULL;
	struct meta_ti_feed_keep *k = NULL;
	struct err e = ERR_INIT;
	int rc;
	bool added;

	if ((rc = meta_indicator_put_begin(m, feed, tenant, &p, &e)) < 0)
		return rc;
	rc = meta_ti_feed_keep_begin(m, feed, NULL, &k, &e);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct meta_indicator ind = { .type = "domain", .value = values[i],
					      .confidence = 50, .first_seen_ns = 1,
					      .last_seen_ns = 1, .tags = "[]" };

		rc = meta_indicator_put(p, &ind, &added, &e);
		if (rc == 0)
			rc = meta_ti_feed_keep(k, "domain", values[i], &e);
	}
	if (rc == 0)
		rc = meta_ti_feed_prune(m, feed, tenant, true, removed, &e);
	meta_ti_feed_keep_end(k);
	rc = err_first(rc, meta_indicator_put_end(p, rc == 0 && commit, &e));
	return rc;
}

static int64_t count(struct meta *m, const char *feed, const char *tenant)
{
	struct err e = ERR_INIT;
	int64_t n = -1;

	CHECK_INT(meta_ti_feed_count(m, feed, tenant, &n, &e), 0);
	return n;
}

static void test_whole_set_prune(void)
{
	static const char *const v1[] = { "a.example", "b.example", "c.example" };
	static const char *const v2[] = { "b.example", "d.example" };
	struct meta *m = t_meta_open("a", "b", NULL);
	int64_t removed = -1;

	if (!m)
		return;
	CHECK_INT(import_whole(m, "feed", "a", v1, 3, true, &removed), 0);
	CHECK(removed == 0);
	CHECK_INT(import_whole(m, "feed", "b", v1, 2, true, &removed), 0);
	CHECK_INT(import_whole(m, "feed", NULL, v1, 1, true, &removed), 0);
	CHECK_INT(import_whole(m, "other", "a", v1, 3, true, &removed), 0);
	/* a new set in tenant a: a and c vanish there, nowhere else */
	CHECK_INT(import_whole(m, "feed", "a", v2, 2, true, &removed), 0);
	CHECK(removed == 2);
	CHECK(count(m, "feed", "a") == 2);
	CHECK(count(m, "feed", "b") == 2);
	CHECK(count(m, "feed", NULL) == 1);
	CHECK(count(m, "other", "a") == 3);
	/* a fetch rolled back keeps the old set */
	CHECK_INT(import_whole(m, "feed", "a", v1, 1, false, &removed), 0);
	CHECK(count(m, "feed", "a") == 2);
	CHECK_INT(import_whole(m, "feed", "nosuch", v1, 1, true, &removed), -ENOENT);
	meta_close(m);
}

static void event_values(struct meta *m, const char *event, const char *const *values, size_t n)
{
	struct meta_indicator_put *p = NULL;
	struct meta_ti_feed_keep *k = NULL;
	struct err e = ERR_INIT;
	bool added;

	CHECK_INT(meta_indicator_put_begin(m, "misp", NULL, &p, &e), 0);
	CHECK_INT(meta_ti_feed_keep_begin(m, "misp", event, &k, &e), 0);
	for (size_t i = 0; i < n; i++) {
		struct meta_indicator ind = { .type = "domain", .value = values[i],
					      .confidence = 50, .first_seen_ns = 1,
					      .last_seen_ns = 1, .tags = "[]" };

		CHECK_INT(meta_indicator_put(p, &ind, &added, &e), 0);
		CHECK_INT(meta_ti_feed_keep(k, "domain", values[i], &e), 0);
	}
	CHECK_INT(meta_ti_feed_event_put(m, "misp", event, 100, &e), 0);
	meta_ti_feed_keep_end(k);
	CHECK_INT(meta_indicator_put_end(p, true, &e), 0);
}

static void count_event(void *ctx, const char *event, int64_t timestamp)
{
	(*(int *)ctx)++;
}

static void test_misp_events(void)
{
	static const char *const e1[] = { "one.example", "shared.example" };
	static const char *const e2[] = { "two.example", "shared.example" };
	struct meta *m = t_meta_open("a", "b", NULL);
	struct err e = ERR_INIT;
	int64_t removed = -1;
	int events = 0;

	if (!m)
		return;
	event_values(m, "e1", e1, 2);
	event_values(m, "e2", e2, 2);
	CHECK(count(m, "misp", NULL) == 3);
	CHECK_INT(meta_ti_feed_events(m, "misp", count_event, &events, &e), 0);
	CHECK_INT(events, 2);
	CHECK_INT(meta_ti_feed_prune(m, "misp", NULL, false, &removed, &e), 0);
	CHECK(removed == 0);
	/* e1 withdrawn: one.example goes, shared.example stays (e2 still gives it) */
	CHECK_INT(meta_ti_feed_event_remove(m, "misp", "e1", &e), 0);
	CHECK_INT(meta_ti_feed_prune(m, "misp", NULL, false, &removed, &e), 0);
	CHECK(removed == 1);
	CHECK(count(m, "misp", NULL) == 2);
	/* e2 changed: its values replaced */
	event_values(m, "e2", e2, 1);
	CHECK_INT(meta_ti_feed_prune(m, "misp", NULL, false, &removed, &e), 0);
	CHECK(removed == 1);
	CHECK(count(m, "misp", NULL) == 1);
	events = 0;
	CHECK_INT(meta_ti_feed_events(m, "misp", count_event, &events, &e), 0);
	CHECK_INT(events, 1);
	meta_close(m);
}

static void test_new_failures(void)
{
	struct config_ti_feed feeds[] = {
		{ .name = "ips", .url = "https://127.0.0.1:1/x", .format = TI_FEED_LIST,
		  .refresh = 3600, .confidence = -1, .enabled = 1 },
		{ .name = "csv", .url = "https://127.0.0.1:1/y", .format = TI_FEED_CSV,
		  .columns = "value=1", .refresh = 3600, .confidence = -1, .enabled = 1 },
	};
	struct tifeed_config c = { .feeds = feeds, .n_feeds = 2, .data_dir = t_meta_dir(),
				   .default_confidence = 50 };
	struct tifeed *t = NULL;
	struct err e = ERR_INIT;
	int rc = -1;

	CHECK_INT(tifeed_new(&t, &c, &e), 0);
	CHECK_INT(tifeed_find(t, "csv"), 1);
	CHECK_INT(tifeed_find(t, "nosuch"), -ENOENT);
	tifeed_free(t);
	for (long n = 0; n < 200 && rc != 0; n++) {
		t = NULL;
		mem_fail_after(n);
		rc = tifeed_new(&t, &c, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || (rc < 0 && t == NULL && e.msg[0]));
		tifeed_free(t);
	}
	CHECK_INT(rc, 0);
	feeds[1].columns = "type=2";
	CHECK_INT(tifeed_new(&t, &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "ti.feeds.csv.columns") != NULL);
}

/* Nothing listens on port 1: every fetch fails, is saved as such, and backs off. */
static void test_fetch_failure_saved(void)
{
	struct config_ti_feed feeds[] = {
		{ .name = "ips", .url = "https://127.0.0.1:1/ips.txt", .format = TI_FEED_LIST,
		  .refresh = 3600, .confidence = -1, .enabled = 1 },
	};
	struct tifeed_config c = { .feeds = feeds, .n_feeds = 1, .data_dir = t_meta_dir(),
				   .default_confidence = 50 };
	struct tifeed_result r;
	struct tifeed *t = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct seen s = { 0 };

	if (!CHECK(tifeed_new(&t, &c, &e) == 0))
		return;
	CHECK_INT(tifeed_fetch(t, 0, &r, &e), -EIO);
	CHECK(strstr(e.msg, "https://127.0.0.1:1/ips.txt") != NULL);
	CHECK(r.read == 0 && !r.unchanged);
	for (long n = 0; n < 40; n++) { /* a failure anywhere is a failed fetch, nothing more */
		mem_fail_after(n);
		CHECK(tifeed_fetch(t, 0, &r, &e) < 0);
		mem_fail_after(-1);
	}
	tifeed_free(t);
	CHECK_INT(meta_open(&m, t_meta_dir(), &e), 0);
	CHECK_INT(meta_ti_feed_get(m, "ips", seen_row, &s, &e), 0);
	CHECK(strstr(s.error, "127.0.0.1") != NULL || strstr(s.error, "memory") != NULL);
	CHECK(s.indicators == 0);
	meta_close(m);
}

/* What a reload logs of a changed feed: never the URL's query, which may hold a key. */
static void shown(void *ctx, const char *key, bool live, const char *was, const char *now)
{
	CHECK(!strstr(was, "key=") && !strstr(now, "key="));
	(*(int *)ctx)++;
}

static void test_config_feeds(void)
{
	static const char good[] =
		"ti:\n  default_confidence: 40\n  retrohunt_days: 20\n  feeds:\n"
		"    ips: { url: 'https://f.example/ips.txt?key=1', format: list }\n"
		"    isac: { url: 'https://t.example/api1/collections/x/', format: taxii,\n"
		"            tenant: city-a, retrohunt_days: 7, refresh: 600, username: u,\n"
		"            password_file: /etc/koban/isac.secret, enabled: false }\n";
	static const struct { const char *yaml, *msg; } bad[] = {
		{ "ti: { feeds: { a: { url: 'http://x.example/', format: list } } }",
		  "expected an https:// URL" },
		{ "ti: { feeds: { a: { url: 'https://u:pw@x.example/', format: list } } }",
		  "expected an https:// URL" },
		{ "ti: { feeds: { a: { url: 'https://x.example/', format: xml } } }",
		  "expected list, csv, stix, misp or taxii" },
		{ "ti: { feeds: { a: { url: 'https://x.example/', format: list, columns: value=1 } } }",
		  "'columns' is for format csv" },
		{ "ti: { feeds: { a: { url: 'https://x.example/', format: csv, username: u } } }",
		  "'username' and 'password_file' go together" },
		{ "ti: { feeds: { a: { url: 'https://x.example/?a=1', format: misp } } }",
		  "a misp URL takes no query" },
		{ "ti: { feeds: { a: { url: 'https://x.example/', format: list, refresh: 59 } } }",
		  "refresh" },
		{ "ti: { feeds: { a: { format: list } } }", "required key 'url'" },
		{ "ti: { feeds: { A: { url: 'https://x.example/', format: list } } }",
		  "is not a feed name" },
		{ "ti: { default_confidence: 101 }", "default_confidence" },
	};
	struct config c;
	struct err e = ERR_INIT;

	if (config_load_mem(&c, good, strlen(good), "t.yaml", &e) < 0) {
		t_check(0, __FILE__, __LINE__, "%s", e.msg);
		return;
	}
	CHECK_INT((int)c.n_ti_feeds, 2);
	CHECK_INT((int)c.ti_default_confidence, 40);
	CHECK_INT((int)c.ti_dedupe_window, 3600);
	CHECK_STR(c.ti_feeds[0].url, "https://f.example/ips.txt?key=1");
	CHECK_INT(c.ti_feeds[0].refresh, 3600);
	CHECK_INT(c.ti_feeds[0].confidence, -1);
	CHECK_INT(c.ti_feeds[0].to_ids_only, 1);
	CHECK_INT(c.ti_feeds[0].enabled, 1);
	CHECK(c.ti_feeds[1].format == TI_FEED_TAXII);
	CHECK_STR(c.ti_feeds[1].tenant, "city-a");
	CHECK_INT(c.ti_feeds[1].enabled, 0);
	CHECK_INT((int)config_ti_retrohunt_days(&c, "isac"), 7);
	CHECK_INT((int)config_ti_retrohunt_days(&c, "ips"), 20);
	CHECK_INT((int)config_ti_retrohunt_days(&c, "manual"), 20);
	{
		static const char rotated[] =
			"ti:\n  feeds:\n    ips: { url: 'https://f.example/ips.txt?key=2', "
			"format: list }\n";
		struct config next;
		int changes = 0;

		if (config_load_mem(&next, rotated, strlen(rotated), "t.yaml", &e) == 0) {
			CHECK(config_diff(&c, &next, shown, &changes) > 0);
			CHECK(changes > 0);
			config_release(&next);
		} else {
			t_check(0, __FILE__, __LINE__, "%s", e.msg);
		}
	}
	config_release(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		err_clear(&e);
		rc = config_load_mem(&c, bad[i].yaml, strlen(bad[i].yaml), "t.yaml", &e);
		t_check(rc == -EINVAL && strstr(e.msg, bad[i].msg), __FILE__, __LINE__,
			"%s: %d %s", bad[i].yaml, rc, e.msg);
		if (rc == 0)
			config_release(&c);
	}
}

int main(void)
{
	T_RUN(test_headers);
	T_RUN(test_next_due);
	T_RUN(test_state_round_trip);
	T_RUN(test_whole_set_prune);
	T_RUN(test_misp_events);
	T_RUN(test_new_failures);
	T_RUN(test_fetch_failure_saved);
	T_RUN(test_config_feeds);
	return t_done();
}
