/*
 * Unit tests of event matching against indicators (enrich/timatch): every field kind,
 * networks, sub-domains, e-mail domains, hashes in any case, tenant isolation, the ECS
 * enrichment objects and their round trip through the ECS decoder, the alerts and their
 * de-duplication, retro-hunt mode, metrics and allocation failures.
 */
#include "enrich/timatch.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "enrich/tisnap.h"
#include "parse/ecs.h"
#include "soc/alert.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"
#include "t_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct ind_spec {
	const char *tenant, *type, *value, *source;
	int confidence;
};

static const struct ind_spec specs[] = {
	{ NULL, "ip", "198.51.100.7", "feedA", 90 },
	{ NULL, "ip", "203.0.113.0/24", "feedA", 60 },
	{ NULL, "ip", "2001:db8:bad::/48", "feedA", 40 },
	{ NULL, "domain", "evil.example", "feedB", -1 },
	{ NULL, "url", "http://bad.example/x", "feedB", 70 },
	{ NULL, "md5", "d41d8cd98f00b204e9800998ecf8427e", "hashes", 80 },
	{ NULL, "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "hashes", 80 },
	{ NULL, "email", "phish@mail.example", "mail", 50 },
	{ "a", "ip", "192.0.2.99", "own", 100 },
};

static struct ti_snapshot *snapshot(void)
{
	struct ti_builder *b = NULL;
	struct ti_snapshot *s = NULL;
	struct err e = ERR_INIT;

	if (ti_builder_new(&b, 0, &e) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct meta_indicator m = {
			.id = (int64_t)i + 1, .source = specs[i].source, .tenant = specs[i].tenant,
			.type = specs[i].type, .value = specs[i].value,
			.confidence = specs[i].confidence, .first_seen_ns = 1, .last_seen_ns = 1,
			.tags = "[]",
		};

		if (ti_builder_add(b, &m, &e) < 0) {
			ti_builder_free(b);
			goto fail;
		}
	}
	if (ti_builder_finish(b, &s, &e) < 0)
		goto fail;
	return s;
fail:
	t_check(0, __FILE__, __LINE__, "snapshot: %s", e.msg);
	return NULL;
}

static struct arena arena;
static struct event ev;

static void new_event(void)
{
	arena_clear(&arena);
	event_init(&ev, &arena);
}

static void ip(unsigned field, const char *text)
{
	struct ipaddr a;

	CHECK_INT(ipaddr_parse(&a, text, strlen(text)), 0);
	CHECK_INT(event_add_ip(&ev, field, &a), 0);
}

static void str(unsigned field, const char *s)
{
	CHECK_INT(event_add_str(&ev, field, s, strlen(s)), 0);
}

/* The event's enrichments as event_write_json writes the field, "" when none. */
static const char *enrichments(void)
{
	static char text[8192];
	size_t n = 0;

	text[0] = '\0';
	for (uint32_t i = 0; i < ev.n; i++)
		if (ev.vals[i].field == FIELD_THREAT_ENRICHMENTS)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%.*s", n ? "\n" : "",
					      (int)ev.vals[i].len, ev.vals[i].v.s);
	return text;
}

static struct timatch *matcher(const struct ti_snapshot *s, struct alert_sink *alerts,
			       bool retro, bool metrics)
{
	struct timatch_config c = { .snapshot = s, .workers = 2, .alerts = alerts,
				    .retro = retro, .metrics = metrics };
	struct timatch *t = NULL;
	struct err e = ERR_INIT;

	if (timatch_new(&t, &c, &e) < 0)
		t_check(0, __FILE__, __LINE__, "timatch_new: %s", e.msg);
	return t;
}

static void test_field_kinds(void)
{
	struct ti_snapshot *s = snapshot();
	struct timatch *t = s ? matcher(s, NULL, false, false) : NULL;

	if (!t)
		goto out;
	new_event();
	ip(FIELD_SOURCE_IP, "10.0.0.1");
	ip(FIELD_DESTINATION_IP, "198.51.100.7");
	ip(FIELD_RELATED_IP, "198.51.100.7"); /* the same value: looked up once */
	CHECK_INT(timatch_event(t, 0, "b", &ev), 1);
	CHECK(strstr(enrichments(), "\"field\":\"destination.ip\""));
	CHECK(strstr(enrichments(), "\"type\":\"ipv4-addr\""));
	CHECK(strstr(enrichments(), "\"confidence\":\"High\""));
	CHECK(strstr(enrichments(), "\"provider\":\"feedA\""));
	CHECK(strstr(enrichments(), "\"type\":\"indicator_match_rule\""));

	new_event(); /* inside a listed network, v4 and v6 */
	ip(FIELD_SOURCE_NAT_IP, "203.0.113.200");
	ip(FIELD_CLIENT_IP, "2001:db8:bad:1::5");
	CHECK_INT(timatch_event(t, 1, "b", &ev), 2);
	CHECK(strstr(enrichments(), "\"ip\":\"203.0.113.0/24\""));
	CHECK(strstr(enrichments(), "\"atomic\":\"203.0.113.200\""));
	CHECK(strstr(enrichments(), "\"type\":\"ipv6-addr\""));
	CHECK(strstr(enrichments(), "\"confidence\":\"Low\""));

	new_event(); /* a sub-domain, any case; an e-mail sender's domain */
	str(FIELD_DNS_QUESTION_NAME, "WWW.Evil.Example");
	str(FIELD_EMAIL_FROM_ADDRESS, "someone@cdn.evil.example");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 2);
	CHECK(strstr(enrichments(), "\"url\":{\"domain\":\"evil.example\"}"));
	CHECK(strstr(enrichments(), "\"field\":\"email.from.address\""));
	CHECK(strstr(enrichments(), "\"confidence\":\"Not Specified\""));

	new_event(); /* URL, hashes in upper case, e-mail address */
	str(FIELD_URL_ORIGINAL, "HTTP://BAD.example:80/x");
	str(FIELD_FILE_HASH_MD5, "D41D8CD98F00B204E9800998ECF8427E");
	str(FIELD_PROCESS_HASH_SHA256,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	str(FIELD_EMAIL_TO_ADDRESS, "Phish@Mail.Example");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 4);
	CHECK(strstr(enrichments(), "\"url\":{\"full\":\"http://bad.example/x\"}"));
	CHECK(strstr(enrichments(), "\"file\":{\"hash\":{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\"}}"));
	CHECK(strstr(enrichments(), "\"field\":\"process.hash.sha256\""));
	CHECK(strstr(enrichments(), "\"email\":{\"address\":\"phish@mail.example\"}"));

	new_event(); /* misses */
	ip(FIELD_SOURCE_IP, "198.51.100.8");
	str(FIELD_DNS_QUESTION_NAME, "notevil.example");
	str(FIELD_URL_ORIGINAL, "/x");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 0);
	CHECK_STR(enrichments(), "");
out:
	timatch_free(t);
	ti_snapshot_free(s);
}

static void test_tenant_isolation(void)
{
	struct ti_snapshot *s = snapshot();
	struct timatch *t = s ? matcher(s, NULL, false, false) : NULL;

	if (!t)
		goto out;
	new_event();
	ip(FIELD_SOURCE_IP, "192.0.2.99");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 0); /* tenant a's indicator */
	CHECK_INT(timatch_event(t, 0, "_unassigned", &ev), 0);
	CHECK_INT(timatch_event(t, 0, "a", &ev), 1);
	CHECK(strstr(enrichments(), "\"provider\":\"own\""));
out:
	timatch_free(t);
	ti_snapshot_free(s);
}

/* Written by event_write_json and read back by the ECS decoder: the same bytes. */
static void test_round_trip(void)
{
	struct ti_snapshot *s = snapshot();
	struct timatch *t = s ? matcher(s, NULL, false, false) : NULL;
	struct buf one = BUF_INIT(1 << 20), two = BUF_INIT(1 << 20);
	struct arena a2;
	struct event back;
	struct err e = ERR_INIT;

	arena_init(&a2, 1 << 16, 1 << 24);
	if (!t)
		goto out;
	new_event();
	ip(FIELD_SOURCE_IP, "198.51.100.7");
	str(FIELD_DNS_QUESTION_NAME, "a.evil.example");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 2);
	CHECK_INT(event_write_json(&ev, &one), 0);
	CHECK(strstr(one.p, "\"threat\":{\"enrichments\":[{\"indicator\":"));
	event_init(&back, &a2);
	CHECK_INT(ecs_decode(&back, one.p, one.len, &e), 0);
	CHECK_INT(event_write_json(&back, &two), 0);
	CHECK_STR(two.p, one.p);
	/* an object alone, null elements; a string is refused */
	event_clear(&back);
	CHECK_INT(ecs_decode(&back, "{\"threat\":{\"enrichments\":{\"a\":[1,{}]}}}", 39, &e), 0);
	buf_reset(&two);
	CHECK_INT(event_write_json(&back, &two), 0);
	CHECK_STR(two.p, "{\"threat\":{\"enrichments\":[{\"a\":[1,{}]}]}}");
	event_clear(&back);
	CHECK_INT(ecs_decode(&back, "{\"threat.enrichments\":[null,{\"b\":2}]}", 37, &e), 0);
	CHECK_INT(back.n, 1);
	event_clear(&back);
	CHECK_INT(ecs_decode(&back, "{\"threat.enrichments\":[\"x\"]}", 28, &e), -EINVAL);
	CHECK_INT(ecs_decode(&back, "{\"threat.enrichments\":[{\"b\":2]}", 31, &e), -EINVAL);
out:
	buf_release(&one);
	buf_release(&two);
	arena_release(&a2);
	timatch_free(t);
	ti_snapshot_free(s);
}

struct seen_alerts {
	size_t n;
	char last_keys[1024], last_title[512], last_rule[64], last_kind[32], last_level[16];
	char last_tags[256];
};

static void see(void *ctx, const struct meta_alert *a)
{
	struct seen_alerts *s = ctx;

	if (s->n++)
		return; /* newest first: keep the first listed */
	snprintf(s->last_keys, sizeof(s->last_keys), "%s", a->key_fields);
	snprintf(s->last_title, sizeof(s->last_title), "%s", a->rule_title);
	snprintf(s->last_rule, sizeof(s->last_rule), "%s", a->rule_id);
	snprintf(s->last_kind, sizeof(s->last_kind), "%s", a->kind);
	snprintf(s->last_level, sizeof(s->last_level), "%s", a->rule_level);
	snprintf(s->last_tags, sizeof(s->last_tags), "%s", a->rule_tags);
}

static struct seen_alerts list_alerts(struct meta *m, const char *tenant)
{
	struct seen_alerts s = { 0 };
	struct err e = ERR_INIT;

	CHECK_INT(meta_alert_list(m, tenant, 0, 100, see, &s, &e), 0);
	return s;
}

static void test_alerts_and_dedupe(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct alert_sink_config ac = { .data_dir = t_meta_dir() };
	struct alert_sink *sink = NULL;
	struct ti_snapshot *s = snapshot();
	struct timatch *t = NULL;
	struct seen_alerts got;
	struct err e = ERR_INIT;

	if (!m || !s || alert_sink_new(&sink, &ac, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "setup: %s", e.msg);
		goto out;
	}
	if (!(t = matcher(s, sink, false, true)))
		goto out;
	new_event();
	ip(FIELD_SOURCE_IP, "10.1.1.1");
	ip(FIELD_DESTINATION_IP, "198.51.100.7");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 1);
	CHECK_INT(timatch_event(t, 1, "b", &ev), 1); /* same tenant, indicator, host */
	alert_sink_flush(sink);
	got = list_alerts(m, "b");
	CHECK_INT(got.n, 1);
	CHECK_STR(got.last_kind, "indicator");
	CHECK_STR(got.last_rule, "koban-ti");
	CHECK_STR(got.last_level, "high");
	CHECK_STR(got.last_title, "Threat intelligence: ip 198.51.100.7 (feedA)");
	CHECK_STR(got.last_tags, "[\"threat-intel\",\"ti.source.feedA\"]");
	CHECK_STR(got.last_keys, "{\"host\":\"10.1.1.1\",\"indicator\":\"198.51.100.7\","
		  "\"indicator.confidence\":90,\"indicator.source\":\"feedA\","
		  "\"indicator.type\":\"ip\",\"matched.field\":\"destination.ip\"}");
	CHECK_INT(t_metric("koban_ti_alerts_suppressed_total", -1), 1);
	CHECK_INT(t_metric("koban_ti_matches_total{type=\"ip\"}", -1), 2);
	CHECK_INT(t_metric("koban_ti_lookups_total", -1), 4);

	/* another host, another tenant: alerts of their own */
	new_event();
	ip(FIELD_SOURCE_IP, "10.1.1.2");
	ip(FIELD_DESTINATION_IP, "198.51.100.7");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 1);
	CHECK_INT(timatch_event(t, 0, "a", &ev), 1);
	alert_sink_flush(sink);
	CHECK_INT(list_alerts(m, "b").n, 2);
	CHECK_INT(list_alerts(m, "a").n, 1);
	CHECK_INT(t_metric("koban_ti_alerts_suppressed_total", -1), 1);
	timatch_free(t);

	/* retro-hunt: the event is not enriched, the alert says so; its own dedupe table */
	if (!(t = matcher(s, sink, true, false)))
		goto out;
	new_event();
	ip(FIELD_SOURCE_IP, "10.1.1.3");
	str(FIELD_DNS_QUESTION_NAME, "x.evil.example");
	CHECK_INT(timatch_event(t, 0, "a", &ev), 1);
	CHECK_STR(enrichments(), "");
	alert_sink_flush(sink);
	got = list_alerts(m, "a");
	CHECK_INT(got.n, 2);
	CHECK_STR(got.last_rule, "koban-ti-retrohunt");
	CHECK_STR(got.last_level, "medium");
	CHECK_STR(got.last_tags, "[\"threat-intel\",\"ti.source.feedB\",\"retro-hunt\"]");
out:
	timatch_free(t);
	alert_sink_free(sink);
	ti_snapshot_free(s);
	meta_close(m);
}

static void test_live(void)
{
	struct ti_live *l = NULL;
	struct timatch *t = NULL;
	struct timatch_config c = { .workers = 1 };
	struct err e = ERR_INIT;

	CHECK_INT(ti_live_new(&l, 1, &e), 0);
	c.live = l;
	CHECK_INT(timatch_new(&t, &c, &e), 0);
	new_event();
	ip(FIELD_SOURCE_IP, "198.51.100.7");
	CHECK_INT(timatch_event(t, 0, "a", &ev), 0); /* empty at first */
	ti_live_swap(l, snapshot());
	CHECK_INT(timatch_event(t, 0, "a", &ev), 1);
	timatch_free(t);
	ti_live_free(l);
	c.live = NULL; /* neither, or both: refused */
	CHECK_INT(timatch_new(&t, &c, &e), -EINVAL);
	CHECK(t == NULL);
}

static int64_t generation(struct meta *m)
{
	struct err e = ERR_INIT;
	int64_t g = -1;

	CHECK_INT(meta_indicator_generation(m, &g, &e), 0);
	return g;
}

/* koban.db's indicator generation moves with every committed change, only then. */
static void test_generation(void)
{
	struct meta *m = t_meta_open("a", NULL);
	struct meta_indicator ind = { .type = "ip", .value = "192.0.2.1", .confidence = 50,
				      .first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" };
	struct meta_indicator_filter f = { .scope = META_TI_TENANT, .tenant = "a", .source = "s" };
	struct meta_indicator_put *p = NULL;
	struct err e = ERR_INIT;
	int64_t removed = -1;
	bool added;

	if (!m)
		return;
	CHECK_INT(generation(m), 0);
	CHECK_INT(meta_indicator_put_begin(m, "s", "a", &p, &e), 0);
	CHECK_INT(meta_indicator_put(p, &ind, &added, &e), 0);
	CHECK_INT(meta_indicator_put_end(p, false, &e), 0); /* rolled back */
	CHECK_INT(generation(m), 0);
	CHECK_INT(meta_indicator_put_begin(m, "s", "a", &p, &e), 0);
	CHECK_INT(meta_indicator_put(p, &ind, &added, &e), 0);
	CHECK_INT(meta_indicator_put_end(p, true, &e), 0);
	CHECK_INT(generation(m), 1);
	f.source = "other"; /* removes nothing */
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(generation(m), 1);
	f.source = "s";
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 1);
	CHECK_INT(generation(m), 2);
	/* within the caller's transaction: its rollback takes the bump back too */
	CHECK_INT(meta_indicator_put_begin(m, "s", "a", &p, &e), 0);
	CHECK_INT(meta_indicator_put(p, &ind, &added, &e), 0);
	CHECK_INT(meta_indicator_put_end(p, true, &e), 0);
	CHECK_INT(meta_begin(m, &e), 0);
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 1);
	meta_rollback(m);
	CHECK_INT(generation(m), 3);
	/* a tenant's removal takes its indicators with it: the generation moves too */
	CHECK_INT(meta_tenant_remove(m, "a", &e), 0);
	CHECK_INT(generation(m), 4);
	meta_close(m);
}

static void test_alloc_failures(void)
{
	struct ti_snapshot *s = snapshot();
	struct timatch_config c = { .snapshot = s, .workers = 4, .metrics = true };
	struct timatch *t = NULL;
	struct err e = ERR_INIT;
	int rc = -ENOMEM;

	for (long n = 0; rc == -ENOMEM && n < 100; n++) {
		mem_fail_after(n);
		rc = timatch_new(&t, &c, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		if (rc == 0)
			timatch_free(t);
		t = NULL;
	}
	CHECK_INT(rc, 0);
	/* an event whose arena is full: the hit is counted as lost, the event unharmed */
	if (timatch_new(&t, &c, &e) == 0) {
		struct arena small;
		struct event full;
		struct ipaddr a;

		arena_init(&small, 4096, 4096);
		event_init(&full, &small);
		ipaddr_parse(&a, "198.51.100.7", 12);
		CHECK_INT(event_add_ip(&full, FIELD_SOURCE_IP, &a), 0);
		while (arena_alloc(&small, 64))
			;
		CHECK_INT(timatch_event(t, 0, "a", &full), 1);
		CHECK_INT(full.n, 1);
		CHECK_INT(t_metric("koban_ti_lost_total{reason=\"no_memory\"}", -1), 1);
		arena_release(&small);
		/* more than 64 values to look up: the first 64 are, the rest counted */
		new_event();
		for (int i = 0; i < 70; i++) {
			char text[32];

			snprintf(text, sizeof(text), "10.0.0.%d", i);
			ip(FIELD_RELATED_IP, text);
		}
		ip(FIELD_RELATED_IP, "198.51.100.7"); /* the 71st: not looked up */
		CHECK_INT(timatch_event(t, 1, "a", &ev), 0);
		CHECK_INT(t_metric("koban_ti_lost_total{reason=\"too_many_values\"}", -1), 1);
		CHECK_INT(t_metric("koban_ti_lookups_total", -1), 65);
	}
	timatch_free(t);
	ti_snapshot_free(s);
}

/* An alert the sink drops opens no window: the next sighting tries again (and is counted). */
static void test_dropped_alert_not_deduplicated(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct alert_sink_config ac = { .data_dir = t_meta_dir(), .max_bytes = 1 };
	struct alert_sink *sink = NULL;
	struct ti_snapshot *s = snapshot();
	struct timatch *t = NULL;
	struct err e = ERR_INIT;

	if (!m || !s || alert_sink_new(&sink, &ac, &e) < 0 ||
	    alert_sink_metrics_register(sink, &e) < 0) {
		t_check(0, __FILE__, __LINE__, "setup: %s", e.msg);
		goto out;
	}
	if (!(t = matcher(s, sink, false, true)))
		goto out;
	new_event();
	ip(FIELD_SOURCE_IP, "10.1.1.1");
	ip(FIELD_DESTINATION_IP, "198.51.100.7");
	CHECK_INT(timatch_event(t, 0, "b", &ev), 1); /* the queue takes nothing */
	CHECK_INT(timatch_event(t, 0, "b", &ev), 1);
	alert_sink_flush(sink);
	CHECK_INT(list_alerts(m, "b").n, 0);
	CHECK_INT(t_metric("koban_ti_alerts_suppressed_total", -1), 0);
	CHECK_INT(t_metric("koban_alerts_dropped_total{reason=\"queue_full\"}", -1), 2);
out:
	timatch_free(t);
	alert_sink_free(sink);
	ti_snapshot_free(s);
	meta_close(m);
}

int main(void)
{
	arena_init(&arena, 1 << 16, 1 << 24);
	T_RUN(test_field_kinds);
	T_RUN(test_tenant_isolation);
	T_RUN(test_round_trip);
	T_RUN(test_alerts_and_dedupe);
	T_RUN(test_dropped_alert_not_deduplicated);
	T_RUN(test_live);
	T_RUN(test_generation);
	T_RUN(test_alloc_failures);
	arena_release(&arena);
	return t_done();
}
