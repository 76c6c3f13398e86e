/* Unit tests of soc/incident and soc/level: the JSON form, the lifecycle, an analyst's
 * changes on the timeline, manual levels, false positives into suppressions, level names. */
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "soc/incident.h"
#include "soc/level.h"
#include "soc/sla.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NS 1000000000LL
#define T0 (1764460800LL * NS) /* 2025-11-30T00:00:00Z */

static struct meta_incident incident(const char *tenant)
{
	return (struct meta_incident){
		.tenant = tenant, .title = "Exploit attempt", .rule_id = "r-1", .group_key = "k",
		.level = 1, .status = "new", .owner = "", .n_alerts = 2,
		.evidence = "[{\"rule\":\"blocked\",\"effect\":\"cap\",\"level\":1}]",
		.entities = "{\"ips\":[\"10.0.0.5\"]}", .terminal = "{}", .first_ns = T0,
		.last_ns = T0, .detected_ns = T0, .updated_ns = T0,
	};
}

struct text {
	char s[2048];
};

static void add_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct text *t = ctx;
	size_t len = strlen(t->s);

	snprintf(t->s + len, sizeof(t->s) - len, "%s%s/%s/%s", len ? " " : "", en->actor,
		 en->action, en->detail);
}

static void copy_incident(void *ctx, const struct meta_incident *inc)
{
	struct text *t = ctx;
	struct buf b;

	buf_init(&b, 65536);
	CHECK_INT(incident_write_json(inc, NULL, T0, &b), 0);
	snprintf(t->s, sizeof(t->s), "%s", b.p);
	buf_release(&b);
}

static void test_json(void)
{
	struct meta_incident inc = incident("alpha");
	struct meta_incident_entry en = { .id = 4, .at_ns = T0, .actor = "sato",
					  .action = "comment", .detail = "{\"text\":\"hi\"}",
					  .why = "" };
	struct buf b;

	inc.id = 7;
	inc.decided_ns = T0 + NS;
	buf_init(&b, 65536);
	CHECK_INT(incident_write_json(&inc, NULL, T0, &b), 0);
	CHECK_STR(b.p, "{\"id\":7,\"tenant\":\"alpha\",\"title\":\"Exploit attempt\","
		       "\"rule_id\":\"r-1\",\"group_key\":\"k\",\"level\":1,"
		       "\"level_name\":\"Medium\",\"level_shown\":1,\"status\":\"new\","
		       "\"owner\":\"\",\"alerts\":2,\"evidence\":[{\"rule\":\"blocked\","
		       "\"effect\":\"cap\",\"level\":1}],\"entities\":{\"ips\":[\"10.0.0.5\"]},"
		       "\"terminal\":{},\"first\":\"2025-11-30T00:00:00Z\","
		       "\"last\":\"2025-11-30T00:00:00Z\",\"detected\":\"2025-11-30T00:00:00Z\","
		       "\"updated\":\"2025-11-30T00:00:00Z\",\"clocks\":{\"detected\":"
		       "1764460800000000000,\"decided\":1764460801000000000,\"reported\":0,"
		       "\"contacted\":0,\"acknowledged\":0,\"contained\":0,\"closed\":0},"
		       "\"sla_breached\":0}");
	buf_reset(&b);
	CHECK_INT(incident_entry_write_json(&en, &b), 0);
	CHECK_STR(b.p, "{\"id\":4,\"at\":\"2025-11-30T00:00:00Z\",\"actor\":\"sato\","
		       "\"action\":\"comment\",\"detail\":{\"text\":\"hi\"},\"why\":\"\"}");
	buf_release(&b);
}

/* With the SLA policies (the seed defaults) the object ends with each clock's state. */
static void test_json_sla(void)
{
	struct meta_incident inc = incident("alpha");
	struct sla *s = NULL;
	struct err e = ERR_INIT;
	struct buf b;

	inc.decided_ns = T0 + NS;
	CHECK_INT(sla_new(&s, NULL, false, &e), 0);
	if (!s)
		return;
	buf_init(&b, 65536);
	CHECK_INT(incident_write_json(&inc, s, T0 + 1800 * NS, &b), 0);
	CHECK(strstr(b.p, "\"sla_breached\":0,\"sla\":{\"decide\":{\"start\":"
		      "\"2025-11-30T00:00:00Z\",\"due\":\"2025-11-30T01:00:00Z\",\"met\":"
		      "\"2025-11-30T00:00:01Z\",\"breached\":false,\"remaining_s\":null},"
		      "\"first_report\":{\"start\":\"2025-11-30T00:00:00Z\",\"due\":"
		      "\"2025-11-30T02:00:00Z\",\"met\":null,\"breached\":false,"
		      "\"remaining_s\":5400},\"contact\":null,") != NULL);
	CHECK(b.len && b.p[b.len - 1] == '}' && b.p[b.len - 2] == '}');
	buf_release(&b);
	sla_free(s);
}

static void test_lifecycle(void)
{
	CHECK(incident_status_ok("new", "triaged"));
	CHECK(incident_status_ok("new", "investigating"));
	CHECK(incident_status_ok("triaged", "contained"));
	CHECK(incident_status_ok("investigating", "resolved"));
	CHECK(incident_status_ok("new", "false-positive"));
	CHECK(!incident_status_ok("investigating", "triaged"));
	CHECK(!incident_status_ok("resolved", "new"));
	CHECK(!incident_status_ok("new", "closed"));
	CHECK(!incident_status_ok("new", "new"));
}

static void test_change(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_incident inc = incident("alpha");
	struct err e = ERR_INIT;
	struct text t = { "" };
	int64_t id = 0;
	bool changed = false;
	struct incident_manual manual;

	if (!m)
		return;
	CHECK_INT(meta_incident_add(m, &inc, &id, &e), 0);
	/* beta changes nothing of alpha's */
	CHECK_INT(incident_change(m, "beta", id, &(struct incident_change){ .actor = "eve",
		  .status = "resolved", .level = INCIDENT_LEVEL_KEEP, .now_ns = T0 }, NULL, &e),
		  -ENOENT);
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .status = "contained", .owner = "sato", .level = INCIDENT_LEVEL_KEEP,
		  .now_ns = T0 + NS }, &changed, &e), 0);
	CHECK(changed);
	/* back is refused, a level without a reason too */
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .status = "triaged", .level = INCIDENT_LEVEL_KEEP, .now_ns = T0 }, NULL, &e),
		  -EINVAL);
	CHECK(strstr(e.msg, "contained -> triaged") != NULL);
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .level = 3, .now_ns = T0 }, NULL, &e), -EINVAL);
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .level = 3, .why = "callback seen", .now_ns = T0 + 2 * NS }, NULL, &e), 0);
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .status = "resolved", .level = INCIDENT_LEVEL_KEEP, .now_ns = T0 + 3 * NS },
		  NULL, &e), 0);
	/* reopening needs a reason */
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .status = "investigating", .level = INCIDENT_LEVEL_KEEP, .now_ns = T0 }, NULL,
		  &e), -EINVAL);
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .status = "investigating", .why = "it came back", .level = INCIDENT_LEVEL_KEEP,
		  .now_ns = T0 + 4 * NS }, NULL, &e), 0);
	/* unchanged: nothing logged */
	CHECK_INT(incident_change(m, "alpha", id, &(struct incident_change){ .actor = "sato",
		  .status = "investigating", .level = INCIDENT_LEVEL_KEEP, .now_ns = T0 },
		  &changed, &e), 0);
	CHECK(!changed);
	CHECK_INT(incident_comment(m, "alpha", id, "sato", "called the \"owner\"", T0 + 5 * NS,
				   &e), 0);
	CHECK_INT(incident_comment(m, "beta", id, "eve", "x", T0, &e), -ENOENT);
	CHECK_INT(meta_incident_timeline(m, "alpha", id, add_entry, &t, &e), 0);
	CHECK_STR(t.s, "sato/status/{\"from\":\"new\",\"to\":\"contained\"} "
		       "sato/clock/{\"clock\":\"contained\"} "
		       "sato/owner/{\"from\":\"\",\"to\":\"sato\"} "
		       "sato/level/{\"from\":1,\"to\":3,\"manual\":true} "
		       "sato/clock/{\"clock\":\"decided\"} "
		       "sato/status/{\"from\":\"contained\",\"to\":\"resolved\"} "
		       "sato/status/{\"from\":\"resolved\",\"to\":\"investigating\"} "
		       "sato/comment/{\"text\":\"called the \\\"owner\\\"\"}");
	CHECK_INT(incident_manual_level(m, "alpha", id, &manual, &e), 0);
	CHECK_INT(manual.level, 3);
	CHECK_INT(manual.overruled, 1);
	/* the engine's level entries are not the analyst's */
	CHECK_INT(meta_incident_log(m, "alpha", &(struct meta_incident_entry){ .incident = id,
		  .at_ns = T0 + 6 * NS, .actor = "koban", .action = "level",
		  .detail = "{\"from\":3,\"to\":2}", .why = "" }, &e), 0);
	CHECK_INT(incident_manual_level(m, "alpha", id, &manual, &e), 0);
	CHECK_INT(manual.level, 3);
	t.s[0] = '\0';
	CHECK_INT(meta_incident_get(m, "alpha", id, copy_incident, &t, &e), 0);
	CHECK(strstr(t.s, "\"status\":\"investigating\"") != NULL);
	CHECK(strstr(t.s, "\"closed\":0}") != NULL);
	CHECK(strstr(t.s, "\"contained\":1764460801000000000") != NULL);
	CHECK(strstr(t.s, "\"decided\":1764460802000000000") != NULL);
	meta_close(m);
}

static void got_suppression(void *ctx, const struct meta_suppression *s)
{
	struct text *t = ctx;

	snprintf(t->s, sizeof(t->s), "%s %s %s %lld %lld", s->rule_id, s->keys, s->reason,
		 (long long)s->expires_ns, (long long)s->incident);
}

static void test_false_positive(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_incident inc = incident("alpha");
	struct meta_alert a = {
		.tenant = "alpha", .kind = "sigma", .rule_id = "r-1", .rule_title = "Exploit",
		.rule_level = "high", .rule_author = "", .rule_status = "", .rule_link = "",
		.rule_tags = "[]", .rule_references = "[]", .event_ns = T0, .detected_ns = T0,
		.group_fields = "{}",
		.key_fields = "{\"source.ip\":\"192.0.2.1\",\"destination.port\":443,"
			      "\"user.name\":\"scan\"}",
		.events = "", .n_events = 0,
	};
	const char *keys[] = { "source.ip", "destination.port" };
	const char *bad[] = { "host.name" };
	struct err e = ERR_INIT;
	struct text t = { "" };
	int64_t id = 0, aid = 0, sid = 0, hit = 0;

	if (!m)
		return;
	CHECK_INT(meta_incident_add(m, &inc, &id, &e), 0);
	/* no alert left: nothing to take the values from */
	CHECK_INT(incident_false_positive(m, "alpha", id, &(struct incident_fp){ .actor = "sato",
		  .why = "scanner", .now_ns = T0 }, &sid, &e), -ENOENT);
	CHECK_INT(meta_alert_add(m, &a, &aid, &e), 0);
	CHECK_INT(meta_incident_link_alert(m, "alpha", id, aid, &e), 0);
	CHECK_INT(incident_false_positive(m, "alpha", id, &(struct incident_fp){ .actor = "sato",
		  .why = "scanner", .keys = bad, .n_keys = 1, .now_ns = T0 }, &sid, &e), -EINVAL);
	CHECK_INT(incident_false_positive(m, "alpha", id, &(struct incident_fp){ .actor = "sato",
		  .why = "", .now_ns = T0 }, &sid, &e), -EINVAL);
	CHECK_INT(incident_false_positive(m, "alpha", id, &(struct incident_fp){ .actor = "sato",
		  .why = "the SOC's scanner", .keys = keys, .n_keys = 2,
		  .expires_ns = T0 + 86400 * NS, .now_ns = T0 + NS }, &sid, &e), 0);
	CHECK(sid > 0);
	CHECK_INT(meta_suppression_list(m, "alpha", got_suppression, &t, &e), 0);
	{
		char want[256];

		snprintf(want, sizeof(want), "r-1 {\"source.ip\":\"192.0.2.1\","
			 "\"destination.port\":443} the SOC's scanner %lld %lld",
			 (long long)(T0 + 86400 * NS), (long long)id);
		CHECK_STR(t.s, want);
	}
	/* the next alert like it is suppressed; a different user does not matter */
	a.key_fields = "{\"user.name\":\"other\",\"destination.port\":443,"
		       "\"source.ip\":\"192.0.2.1\"}";
	CHECK_INT(meta_suppression_match(m, &a, T0 + 2 * NS, &hit, &e), 0);
	CHECK_INT(hit, sid);
	t.s[0] = '\0';
	CHECK_INT(meta_incident_get(m, "alpha", id, copy_incident, &t, &e), 0);
	CHECK(strstr(t.s, "\"status\":\"false-positive\"") != NULL);
	CHECK(strstr(t.s, "\"closed\":1764460801000000000") != NULL);
	/* an alert without a key value would make a suppression of the whole rule: refused */
	inc = incident("alpha");
	CHECK_INT(meta_incident_add(m, &inc, &id, &e), 0);
	a.key_fields = "{\"related\":{\"ip\":[\"192.0.2.1\"]}}";
	CHECK_INT(meta_alert_add(m, &a, &aid, &e), 0);
	CHECK_INT(meta_incident_link_alert(m, "alpha", id, aid, &e), 0);
	CHECK_INT(incident_false_positive(m, "alpha", id, &(struct incident_fp){ .actor = "sato",
		  .why = "scanner", .now_ns = T0 }, &sid, &e), -EINVAL);
	CHECK(strstr(e.msg, "no key value to suppress by") != NULL);
	meta_close(m);
}

static void test_levels(void)
{
	struct config c = { 0 };
	char *names[] = { "Info", "Watch", "Likely", "Emergency" };
	char *shown[] = { "1", "2", "3", "4" };
	char *bad[] = { "1", "2", "x", "4" };
	struct err e = ERR_INIT;
	int level = -5;

	CHECK_STR(level_name(-1), "Undecided");
	CHECK_STR(level_name(3), "Critical");
	CHECK_STR(level_name(4), "?");
	CHECK_INT(level_parse("high", &level), 0);
	CHECK_INT(level, 2);
	CHECK_INT(level_parse("3", &level), 0);
	CHECK_INT(level, 3);
	CHECK_INT(level_parse("4", &level), -EINVAL);
	CHECK_INT(level_parse("", &level), -EINVAL);
	c.soc_level_names = names;
	c.n_soc_level_names = 4;
	c.soc_level_shown = shown;
	c.n_soc_level_shown = 4;
	CHECK_INT(level_configure(&c, &e), 0);
	CHECK_STR(level_name(3), "Emergency");
	CHECK_INT(level_shown(0), 1);
	CHECK_INT(level_parse("emergency", &level), 0);
	CHECK_INT(level, 3);
	CHECK_INT(level_parse("4", &level), 0); /* the number shown */
	CHECK_INT(level, 3);
	CHECK_INT(level_parse("0", &level), 0); /* not shown: the internal number */
	CHECK_INT(level, 0);
	c.soc_level_shown = bad;
	CHECK_INT(level_configure(&c, &e), -EINVAL);
	CHECK_STR(level_name(3), "Emergency"); /* unchanged by a failed configure */
	c.n_soc_level_shown = 0;
	c.n_soc_level_names = 0;
	CHECK_INT(level_configure(&c, &e), 0);
	CHECK_STR(level_name(1), "Medium");
}

/* soc.levels read from a configuration file: FILE:LINE errors for what is out of shape. */
static void test_levels_config(void)
{
	static const char good[] = "soc:\n  levels:\n    names: [Info, Watch, Likely, Breach]\n"
				   "    shown: [1, 2, 3, 4]\n";
	const struct {
		const char *text, *error;
	} bad[] = {
		{ "soc:\n  levels:\n    names: [a, b, c]\n", "k.yml:3: soc.levels.names: expected 4 "
		  "names" },
		{ "soc:\n  levels:\n    names: [a, b, B, c]\n", "entries 2 and 3 are the same" },
		{ "soc:\n  levels:\n    shown: [1, 2, 3, 100]\n", "entry 4: expected 4 numbers" },
		{ "soc:\n  levels:\n    shown: [1, 2, 3, 03]\n", "entry 4" },
		{ "soc:\n  levels:\n    colours: [red]\n", "colours" },
	};
	struct config c;
	struct err e = ERR_INIT;

	CHECK_INT(config_load_mem(&c, good, strlen(good), "k.yml", &e), 0);
	CHECK_INT(level_configure(&c, &e), 0);
	CHECK_STR(level_name(2), "Likely");
	CHECK_INT(level_shown(3), 4);
	config_release(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = (struct err)ERR_INIT;
		CHECK(config_load_mem(&c, bad[i].text, strlen(bad[i].text), "k.yml", &e) < 0);
		if (!strstr(e.msg, bad[i].error))
			CHECK_STR(e.msg, bad[i].error);
	}
	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(level_configure(&c, &e), 0);
	CHECK_STR(level_name(2), "High");
	config_release(&c);
}

int main(void)
{
	T_RUN(test_json);
	T_RUN(test_json_sla);
	T_RUN(test_lifecycle);
	T_RUN(test_change);
	T_RUN(test_false_positive);
	T_RUN(test_levels);
	T_RUN(test_levels_config);
	return t_done();
}
