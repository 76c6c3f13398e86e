/* Unit tests of the Incidents section of the metadata store: every call, tenant isolation
 * (another tenant's ids read as -ENOENT), the clocks, the purge cascade, suppression
 * matching and expiry, allocation failures. */
#include "core/err.h"
#include "core/mem.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS 1000000000LL
#define T0 (1764460800LL * NS) /* 2025-11-30T00:00:00Z */

static struct meta_incident incident(const char *tenant, const char *key)
{
	return (struct meta_incident){
		.tenant = tenant, .title = "Exploit attempt", .rule_id = "r-1", .group_key = key,
		.level = META_LEVEL_UNDECIDED, .status = "new", .owner = "", .n_alerts = 1,
		.evidence = "[]", .entities = "{\"users\":[],\"hosts\":[],\"ips\":[\"10.0.0.5\"]}",
		.terminal = "{}", .first_ns = T0, .last_ns = T0, .detected_ns = T0 + NS,
		.updated_ns = T0 + NS,
	};
}

static struct meta_alert alert(const char *tenant, const char *keys)
{
	return (struct meta_alert){
		.tenant = tenant, .kind = "sigma", .rule_id = "r-1", .rule_title = "Exploit",
		.rule_level = "high", .rule_author = "", .rule_status = "test", .rule_link = "",
		.rule_tags = "[]", .rule_references = "[]", .event_ns = T0, .detected_ns = T0 + NS,
		.group_fields = "{}", .key_fields = keys,
		.events = "{\"source\":{\"ip\":\"192.0.2.1\"}}\n", .n_events = 1,
	};
}

struct got {
	int n;
	int64_t id;
	int level;
	char status[32], owner[32], text[1024];
	int64_t decided_ns, contained_ns, n_alerts;
};

static void got_incident(void *ctx, const struct meta_incident *inc)
{
	struct got *g = ctx;
	size_t len = strlen(g->text);

	g->n++;
	g->id = inc->id;
	g->level = inc->level;
	g->decided_ns = inc->decided_ns;
	g->contained_ns = inc->contained_ns;
	g->n_alerts = inc->n_alerts;
	snprintf(g->status, sizeof(g->status), "%s", inc->status);
	snprintf(g->owner, sizeof(g->owner), "%s", inc->owner);
	snprintf(g->text + len, sizeof(g->text) - len, "%s%lld", len ? " " : "",
		 (long long)inc->id);
}

static void got_alert(void *ctx, const struct meta_alert *a)
{
	struct got *g = ctx;
	size_t len = strlen(g->text);

	g->n++;
	CHECK(a->events != NULL && a->n_events == 1);
	snprintf(g->text + len, sizeof(g->text) - len, "%s%lld", len ? " " : "", (long long)a->id);
}

static void got_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct got *g = ctx;
	size_t len = strlen(g->text);

	g->n++;
	snprintf(g->text + len, sizeof(g->text) - len, "%s%s:%s:%s", len ? " " : "", en->actor,
		 en->action, en->detail);
}

static void got_suppression(void *ctx, const struct meta_suppression *s)
{
	struct got *g = ctx;
	size_t len = strlen(g->text);

	g->n++;
	g->id = s->id;
	snprintf(g->text + len, sizeof(g->text) - len, "%s%s/%s/%lld", len ? " " : "", s->tenant,
		 s->rule_id, (long long)s->hits);
}

/* A purged incident's id is never given to a new one (reports and notices name it), and the
 * engine's update leaves an analyst's status alone. */
static void test_ids_not_reused(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_incident a = incident("alpha", "r-1|10.0.0.5");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t id = 0, again = 0;

	if (!m)
		return;
	CHECK_INT(meta_incident_add(m, &a, &id, &e), 0);
	CHECK_INT(meta_incident_purge(m, "alpha", id, &e), 0);
	CHECK_INT(meta_incident_add(m, &a, &again, &e), 0);
	CHECK(id > 0 && again > id);
	a.id = again;
	a.status = "resolved";
	a.level = 2;
	CHECK_INT(meta_incident_update_engine(m, &a, &e), 0);
	CHECK_INT(meta_incident_get(m, "alpha", again, got_incident, &g, &e), 0);
	CHECK_STR(g.status, "new");
	CHECK_INT(g.level, 2);
	meta_close(m);
}

static void got_id(void *ctx, int64_t id)
{
	struct got *g = ctx;
	size_t len = strlen(g->text);

	g->n++;
	snprintf(g->text + len, sizeof(g->text) - len, "%s%lld", len ? " " : "", (long long)id);
}

/* The open incidents of other rules sharing a user or an address, through the entities'
 * index: it follows every change of an incident's entities, never crosses tenants, leaves
 * out closed, older and same-rule ones, and ignores hosts. */
static void test_open_sharing(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_incident a = incident("alpha", "r-2|a");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t ids[6], upd;
	char want[128];

	if (!m)
		return;
	a.rule_id = "r-2";
	a.entities = "{\"users\":[\"sato\"],\"hosts\":[\"pc-1\"],\"ips\":[\"10.0.0.5\"]}";
	CHECK_INT(meta_incident_add(m, &a, &ids[0], &e), 0);
	a.entities = "{\"users\":[],\"hosts\":[],\"ips\":[\"10.0.0.6\"]}";
	CHECK_INT(meta_incident_add(m, &a, &ids[1], &e), 0);
	a.rule_id = "r-1"; /* the alert's own rule */
	a.entities = "{\"users\":[\"sato\"],\"hosts\":[],\"ips\":[]}";
	CHECK_INT(meta_incident_add(m, &a, &ids[2], &e), 0);
	a.rule_id = "r-3";
	a.status = "resolved";
	CHECK_INT(meta_incident_add(m, &a, &ids[3], &e), 0);
	a.status = "new";
	a.detected_ns = T0 - 3600 * NS; /* before the window */
	CHECK_INT(meta_incident_add(m, &a, &ids[4], &e), 0);
	a = incident("beta", "r-2|a");
	a.rule_id = "r-2";
	a.entities = "{\"users\":[\"sato\"],\"hosts\":[],\"ips\":[\"10.0.0.5\"]}";
	CHECK_INT(meta_incident_add(m, &a, &ids[5], &e), 0);

	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"sato\",\"10.0.0.9\"]", 10,
					     got_id, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld", (long long)ids[0]);
	CHECK_STR(g.text, want);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"pc-1\"]", 10, got_id, &g,
					     &e), 0);
	CHECK_INT(g.n, 0); /* hosts are not indexed: many alerts name the same observer */
	/* an update of the entities moves the incident in the index */
	a = incident("alpha", "ignored");
	a.id = upd = ids[1];
	a.rule_id = "r-2";
	a.entities = "{\"users\":[\"sato\"],\"hosts\":[],\"ips\":[]}";
	CHECK_INT(meta_incident_update_engine(m, &a, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"sato\"]", 10, got_id, &g,
					     &e), 0);
	snprintf(want, sizeof(want), "%lld %lld", (long long)upd, (long long)ids[0]);
	CHECK_STR(g.text, want); /* newest first */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"10.0.0.6\"]", 10, got_id,
					     &g, &e), 0);
	CHECK_INT(g.n, 0);
	/* the limit, and a purge leaves nothing behind */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"sato\"]", 1, got_id, &g,
					     &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_INT(meta_incident_purge(m, "alpha", upd, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"sato\"]", 10, got_id, &g,
					     &e), 0);
	CHECK_INT(g.n, 1);
	/* beta sees only its own */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "beta", T0, "r-1", "[\"sato\"]", 10, got_id, &g,
					     &e), 0);
	snprintf(want, sizeof(want), "%lld", (long long)ids[5]);
	CHECK_STR(g.text, want);
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "{\"sato\":1}", 10, got_id, &g,
					     &e), -EINVAL);
	CHECK(strstr(e.msg, "JSON array") != NULL);
	/* entities of another shape are stored as they are, and not indexed */
	a = incident("alpha", "r-2|odd");
	a.rule_id = "r-2";
	a.entities = "{\"users\":\"alice\",\"ips\":{\"a\":\"10.0.0.7\"},\"hosts\":[1]}";
	CHECK_INT(meta_incident_add(m, &a, &upd, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"alice\",\"10.0.0.7\"]", 10,
					     got_id, &g, &e), 0);
	CHECK_INT(g.n, 0);
	meta_close(m);
}

/*
 * The incidents that share the most of an alert's users and addresses come first: the
 * victim's older incident (its address and its user) before the user's newer ones.
 */
static void test_open_sharing_most_first(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_incident a = incident("alpha", "r-2|victim");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t victim = 0;
	char want[32];

	if (!m)
		return;
	a.rule_id = "r-2";
	a.entities = "{\"users\":[\"sato\"],\"hosts\":[],\"ips\":[\"10.0.0.5\"]}";
	CHECK_INT(meta_incident_add(m, &a, &victim, &e), 0);
	for (int i = 0; i < 3; i++) {
		a = incident("alpha", "r-2|other");
		a.rule_id = "r-2";
		a.detected_ns += i + 1;
		a.entities = "{\"users\":[\"sato\"],\"hosts\":[],\"ips\":[\"10.9.9.9\"]}";
		CHECK_INT(meta_incident_add(m, &a, NULL, &e), 0);
	}
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"sato\",\"10.0.0.5\"]", 1,
					     got_id, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld", (long long)victim);
	CHECK_STR(g.text, want);
	/* sharing as much (the user alone): the newest first */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"sato\"]", 1, got_id, &g,
					     &e), 0);
	snprintf(want, sizeof(want), "%lld", (long long)victim + 3);
	CHECK_STR(g.text, want);
	meta_close(m);
}

/* A database from before migration 22: its incidents' users and addresses are indexed as
 * it opens (odd shapes left out, as the triggers do). */
static void test_open_sharing_backfill(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_incident a = incident("alpha", "r-2|a");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t id = 0;
	char want[32];

	if (!m)
		return;
	a.rule_id = "r-2";
	a.entities = "{\"users\":[\"sato\"],\"hosts\":[],\"ips\":[\"10.0.0.5\"]}";
	CHECK_INT(meta_incident_add(m, &a, &id, &e), 0);
	a.entities = "{\"users\":\"kato\",\"ips\":{\"a\":\"10.0.0.7\"}}";
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), 0);
	meta_close(m);
	CHECK_INT(t_meta_exec("DROP TRIGGER incident_entities_insert; DROP TRIGGER incident_entities_update;"
			      " DROP TABLE incident_entities; PRAGMA user_version = 21;"), 0);
	CHECK_INT(meta_open(&m, t_meta_dir(), &e), 0);
	if (!m)
		return;
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-1", "[\"10.0.0.5\",\"kato\","
					     "\"10.0.0.7\"]", 10, got_id, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld", (long long)id);
	CHECK_STR(g.text, want);
	/* with each row's rule (migration 23): the same rule's incident is left out */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-2", "[\"10.0.0.5\"]", 10, got_id,
					     &g, &e), 0);
	CHECK_INT(g.n, 0);
	meta_close(m);
}

static void test_add_get_update_isolation(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_incident a = incident("alpha", "r-1|10.0.0.5");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t id = 0, idb = 0;

	if (!m)
		return;
	CHECK_INT(meta_incident_add(m, &a, &id, &e), 0);
	CHECK(id > 0);
	a.tenant = "beta";
	CHECK_INT(meta_incident_add(m, &a, &idb, &e), 0);
	CHECK(idb != id);
	/* beta reads, changes, logs on and purges none of alpha's */
	CHECK_INT(meta_incident_get(m, "beta", id, got_incident, &g, &e), -ENOENT);
	a.id = id;
	a.status = "resolved";
	CHECK_INT(meta_incident_update(m, &a, &e), -ENOENT);
	CHECK_INT(meta_incident_update_engine(m, &a, &e), -ENOENT);
	CHECK_INT(meta_incident_log(m, "beta", &(struct meta_incident_entry){ .incident = id,
		  .at_ns = T0, .actor = "x", .action = "comment", .detail = "{}", .why = "" }, &e),
		  -ENOENT);
	CHECK_INT(meta_incident_timeline(m, "beta", id, got_entry, &g, &e), -ENOENT);
	CHECK_INT(meta_incident_alerts(m, "beta", id, got_alert, &g, &e), -ENOENT);
	CHECK_INT(meta_incident_clock(m, "beta", id, META_CLOCK_DECIDED, T0, "koban", NULL, &e),
		  -ENOENT);
	CHECK_INT(meta_incident_purge(m, "beta", id, &e), -ENOENT);
	CHECK_INT(meta_incident_get(m, "nobody", id, got_incident, &g, &e), -ENOENT);
	CHECK_INT(g.n, 0);
	/* alpha's is untouched and can be changed by alpha */
	CHECK_INT(meta_incident_get(m, "alpha", id, got_incident, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.status, "new");
	CHECK_INT(g.level, META_LEVEL_UNDECIDED);
	a = incident("alpha", "ignored");
	a.id = id;
	a.level = 2;
	a.status = "triaged";
	a.owner = "sato";
	a.n_alerts = 3;
	CHECK_INT(meta_incident_update(m, &a, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_get(m, "alpha", id, got_incident, &g, &e), 0);
	CHECK_INT(g.level, 2);
	CHECK_STR(g.owner, "sato");
	CHECK_INT(g.n_alerts, 3);
	/* the group key is fixed at creation */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_find_open(m, "alpha", "r-1|10.0.0.5", 0, got_incident, &g, &e), 0);
	CHECK_INT(g.id, id);
	CHECK_INT(meta_incident_find_open(m, "alpha", "ignored", 0, got_incident, &g, &e), -ENOENT);
	/* beta's incident of the same key is beta's own, never alpha's */
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_find_open(m, "beta", "r-1|10.0.0.5", 0, got_incident, &g, &e), 0);
	CHECK_INT(g.id, idb);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_list(m, "beta", NULL, got_incident, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_INT(g.id, idb);
	meta_close(m);
}

/*
 * An engine's reads of one incident do work that does not grow with the tenant's other
 * incidents and alerts (SQLite preferred an index that walks them all for the ORDER BY):
 * the virtual-machine steps of a call with 1,000 incidents stay those of one with 10.
 */
static uint64_t steps_of_reads(struct meta *m, int64_t id)
{
	struct err e = ERR_INIT;
	struct got g = { 0 };
	uint64_t before = meta_steps(m);

	CHECK_INT(meta_incident_alerts(m, "alpha", id, got_alert, &g, &e), 0);
	CHECK_INT(g.n, 1);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-9", "[\"10.0.0.5\"]", 10, got_id,
					     &g, &e), 0);
	CHECK_INT(g.n, 1);
	return meta_steps(m) - before;
}

static void test_reads_do_not_walk_the_tenant(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct err e = ERR_INIT;
	int64_t first = 0;
	uint64_t few = 0;

	if (!m)
		return;
	for (int i = 0; i < 1000; i++) {
		struct meta_incident a = incident("alpha", "r-1|a");
		struct meta_alert al = alert("alpha", "{}");
		int64_t id, aid;

		/* one incident shares 10.0.0.5; the others have addresses of their own */
		char ents[96];

		snprintf(ents, sizeof(ents), "{\"users\":[],\"hosts\":[],\"ips\":[\"10.1.%d.%d\"]}",
			 i / 250, i % 250);
		a.entities = i ? ents : "{\"users\":[],\"hosts\":[],\"ips\":[\"10.0.0.5\"]}";
		al.detected_ns += i;
		CHECK_INT(meta_incident_add(m, &a, &id, &e), 0);
		CHECK_INT(meta_alert_add(m, &al, &aid, &e), 0);
		CHECK_INT(meta_incident_link_alert(m, "alpha", id, aid, &e), 0);
		if (!i)
			first = id;
		if (i == 9)
			few = steps_of_reads(m, first);
	}
	CHECK(few > 0);
	CHECK(steps_of_reads(m, first) <= few + few / 4);
	meta_close(m);
}

/*
 * A storm of one rule (a scanner against many victims, an incident each) shares its
 * source address with every new alert of it: the incidents of other rules are told apart
 * in the entity rows themselves, without reading each incident of the storm.
 */
static uint64_t steps_of_sharing(struct meta *m, int64_t want)
{
	struct err e = ERR_INIT;
	struct got g = { 0 };
	uint64_t before = meta_steps(m);

	CHECK_INT(meta_incident_open_sharing(m, "alpha", T0, "r-storm", "[\"198.51.100.7\"]", 10,
					     got_id, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_INT(strtoll(g.text, NULL, 10), want);
	return meta_steps(m) - before;
}

static void test_sharing_storm(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_incident other = incident("alpha", "r-2|x");
	struct err e = ERR_INIT;
	int64_t other_id = 0;
	uint64_t few = 0;

	if (!m)
		return;
	other.rule_id = "r-2";
	other.entities = "{\"users\":[],\"hosts\":[],\"ips\":[\"198.51.100.7\"]}";
	CHECK_INT(meta_incident_add(m, &other, &other_id, &e), 0);
	for (int i = 0; i < 1000; i++) {
		struct meta_incident a = incident("alpha", "r-storm|v");
		char ents[96];

		snprintf(ents, sizeof(ents), "{\"users\":[],\"hosts\":[],\"ips\":[\"198.51.100.7\","
			 "\"10.1.%d.%d\"]}", i / 250, i % 250);
		a.rule_id = "r-storm";
		a.entities = ents;
		CHECK_INT(meta_incident_add(m, &a, NULL, &e), 0);
		if (i == 9)
			few = steps_of_sharing(m, other_id);
	}
	/* each incident of the storm: a few steps over its entity row (reading it: 14) */
	CHECK(few > 0);
	CHECK(steps_of_sharing(m, other_id) <= few + 8 * 990);
	meta_close(m);
}

static void got_terminal(void *ctx, const struct meta_incident *inc)
{
	struct got *g = ctx;

	g->n++;
	snprintf(g->text, sizeof(g->text), "%s", inc->terminal);
}

/* The terminal alone is set, on the tenant's own incident only. */
static void test_set_terminal(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_incident a = incident("alpha", "r-1|a");
	struct err e = ERR_INIT;
	struct got g = { 0 };
	int64_t id = 0;

	if (!m)
		return;
	a.level = 2;
	CHECK_INT(meta_incident_add(m, &a, &id, &e), 0);
	CHECK_INT(meta_incident_set_terminal(m, "alpha", id, "{\"ip\":\"10.0.0.9\"}", &e), 0);
	CHECK_INT(meta_incident_get(m, "alpha", id, got_terminal, &g, &e), 0);
	CHECK_STR(g.text, "{\"ip\":\"10.0.0.9\"}");
	CHECK_INT(meta_incident_get(m, "alpha", id, got_incident, &g, &e), 0);
	CHECK_INT(g.level, 2);
	/* beta cannot set alpha's; not JSON is refused */
	CHECK_INT(meta_incident_set_terminal(m, "beta", id, "{}", &e), -ENOENT);
	CHECK_INT(meta_incident_set_terminal(m, "alpha", id, "[1]", &e), -EINVAL);
	CHECK_INT(meta_incident_set_terminal(m, "alpha", id, NULL, &e), -EINVAL);
	CHECK_INT(meta_incident_get(m, "alpha", id, got_terminal, &g, &e), 0);
	CHECK_STR(g.text, "{\"ip\":\"10.0.0.9\"}");
	meta_close(m);
}

static void test_check(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	struct meta_incident a;
	struct err e = ERR_INIT;

	if (!m)
		return;
	a = incident("alpha", "k");
	a.level = 4;
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	CHECK(strstr(e.msg, "level 4") != NULL);
	a = incident("alpha", "k");
	a.status = "closed";
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	a = incident("alpha", "k");
	a.evidence = "{}";
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	a = incident("alpha", "k");
	a.terminal = "[";
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	CHECK(strstr(e.msg, "terminal") != NULL);
	a = incident("alpha", "k");
	a.title = "";
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	a = incident("alpha", "k");
	a.title = "bell\a";
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	a = incident("alpha", "k");
	a.closed_ns = -1;
	CHECK_INT(meta_incident_add(m, &a, NULL, &e), -EINVAL);
	/* a row written behind koban's back that fails the checks is skipped when read */
	CHECK_INT(t_meta_exec("INSERT INTO incidents (tenant_id, title, rule_id, group_key, level,"
			      " status, owner, n_alerts, evidence, entities, terminal, first_ns,"
			      " last_ns, detected_ns, decided_ns, reported_ns, contacted_ns,"
			      " acknowledged_ns, contained_ns, closed_ns, sla_breached, updated_ns)"
			      " SELECT id, 't', 'r', 'k', 9, 'new', '', 0, '[]', '{}', '{}', 0, 0,"
			      " 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM tenants WHERE name = 'alpha'"), 0);
	{
		struct got g = { 0 };

		CHECK_INT(meta_incident_list(m, "alpha", NULL, got_incident, &g, &e), 0);
		CHECK_INT(g.n, 0);
	}
	meta_close(m);
}

static void test_list_filters(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct err e = ERR_INIT;
	const struct {
		const char *tenant, *status;
		int level;
		int64_t detected;
	} rows[] = {
		{ "alpha", "new", -1, 1 }, { "alpha", "triaged", 1, 2 },
		{ "alpha", "resolved", 3, 3 }, { "alpha", "false-positive", 2, 4 },
		{ "alpha", "contained", 2, 5 }, { "beta", "new", 3, 6 },
	};
	int64_t ids[6] = { 0 };
	struct got g = { 0 };
	char want[128];

	if (!m)
		return;
	for (size_t i = 0; i < 6; i++) {
		struct meta_incident a = incident(rows[i].tenant, "k");

		a.status = rows[i].status;
		a.level = rows[i].level;
		a.detected_ns = T0 + rows[i].detected * NS;
		CHECK_INT(meta_incident_add(m, &a, &ids[i], &e), 0);
	}
	/* newest first, every level (undecided too) by default */
	CHECK_INT(meta_incident_list(m, "alpha", NULL, got_incident, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld %lld %lld %lld %lld", (long long)ids[4],
		 (long long)ids[3], (long long)ids[2], (long long)ids[1], (long long)ids[0]);
	CHECK_STR(g.text, want);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_list(m, "alpha", &(struct meta_incident_filter){ .status = "open",
		  .min_level = -2 }, got_incident, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld %lld %lld", (long long)ids[4], (long long)ids[1],
		 (long long)ids[0]);
	CHECK_STR(g.text, want);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_list(m, "alpha", &(struct meta_incident_filter){ .min_level = 2,
		  .limit = 2 }, got_incident, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld %lld", (long long)ids[4], (long long)ids[3]);
	CHECK_STR(g.text, want);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_list(m, "alpha", &(struct meta_incident_filter){ .status =
		  "resolved", .since_ns = T0 + 3 * NS }, got_incident, &g, &e), 0);
	CHECK_INT(g.n, 1);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_list(m, NULL, &(struct meta_incident_filter){ .min_level = 3 },
		  got_incident, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld %lld", (long long)ids[5], (long long)ids[2]);
	CHECK_STR(g.text, want);
	CHECK_INT(meta_incident_list(m, "alpha", &(struct meta_incident_filter){ .status = "x" },
		  got_incident, &g, &e), -EINVAL);
	CHECK_INT(meta_incident_list(m, "alpha", &(struct meta_incident_filter){ .limit =
		  META_INCIDENT_LIST_MAX + 1 }, got_incident, &g, &e), -EINVAL);
	CHECK_INT(meta_incident_list(m, "nobody", NULL, got_incident, &g, &e), -ENOENT);
	/* find_open: closed ones and those last seen before since_ns are not found */
	CHECK_INT(meta_incident_find_open(m, "alpha", "k", T0 + NS, got_incident, &g, &e), -ENOENT);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_find_open(m, "alpha", "k", T0, got_incident, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK(!strcmp(g.status, "new") || !strcmp(g.status, "triaged") ||
	      !strcmp(g.status, "contained"));
	meta_close(m);
}

static void test_alerts_timeline_clock_purge(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_incident a = incident("alpha", "k");
	struct meta_alert al = alert("alpha", "{}"), bl = alert("beta", "{}");
	struct err e = ERR_INIT;
	int64_t id = 0, a1 = 0, a2 = 0, b1 = 0;
	struct got g = { 0 };
	bool set = true;
	char want[256];

	if (!m)
		return;
	CHECK_INT(meta_incident_add(m, &a, &id, &e), 0);
	CHECK_INT(meta_alert_add(m, &al, &a1, &e), 0);
	al.detected_ns += NS;
	CHECK_INT(meta_alert_add(m, &al, &a2, &e), 0);
	CHECK_INT(meta_alert_add(m, &bl, &b1, &e), 0);
	CHECK_INT(meta_incident_link_alert(m, "alpha", id, a2, &e), 0);
	CHECK_INT(meta_incident_link_alert(m, "alpha", id, a1, &e), 0);
	CHECK_INT(meta_incident_link_alert(m, "alpha", id, a1, &e), 0); /* twice: fine */
	/* beta's alert is not linked into alpha's incident, nor alpha's into beta's view */
	CHECK_INT(meta_incident_link_alert(m, "alpha", id, b1, &e), -ENOENT);
	CHECK_INT(meta_incident_link_alert(m, "beta", id, b1, &e), -ENOENT);
	CHECK_INT(meta_incident_alerts(m, "alpha", id, got_alert, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld %lld", (long long)a1, (long long)a2);
	CHECK_STR(g.text, want);
	/* a pruned alert is gone from the list, the incident stays */
	CHECK_INT(meta_alert_prune(m, T0 + 2 * NS, NULL, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_alerts(m, "alpha", id, got_alert, &g, &e), 0);
	snprintf(want, sizeof(want), "%lld", (long long)a2);
	CHECK_STR(g.text, want);

	CHECK_INT(meta_incident_log(m, "alpha", &(struct meta_incident_entry){ .incident = id,
		  .at_ns = T0 + 5 * NS, .actor = "sato", .action = "comment",
		  .detail = "{\"text\":\"looking\"}", .why = "" }, &e), 0);
	CHECK_INT(meta_incident_log(m, "alpha", &(struct meta_incident_entry){ .incident = id,
		  .at_ns = T0, .actor = "sato", .action = "comment", .detail = "not json",
		  .why = "" }, &e), -EINVAL);
	CHECK_INT(meta_incident_clock(m, "alpha", id, META_CLOCK_DECIDED, T0 + 3 * NS, "koban",
				      &set, &e), 0);
	CHECK(set);
	CHECK_INT(meta_incident_clock(m, "alpha", id, META_CLOCK_DECIDED, T0 + 9 * NS, "koban",
				      &set, &e), 0);
	CHECK(!set); /* a clock moves once */
	CHECK_INT(meta_incident_clock(m, "alpha", id, META_CLOCK_CONTAINED, T0 + 4 * NS, "sato",
				      NULL, &e), 0);
	CHECK_INT(meta_incident_clock(m, "alpha", id, 7, T0, "koban", NULL, &e), -EINVAL);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_get(m, "alpha", id, got_incident, &g, &e), 0);
	CHECK_INT(g.decided_ns, T0 + 3 * NS);
	CHECK_INT(g.contained_ns, T0 + 4 * NS);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_timeline(m, "alpha", id, got_entry, &g, &e), 0);
	CHECK_STR(g.text, "koban:clock:{\"clock\":\"decided\"} sato:clock:{\"clock\":\"contained\"} "
			  "sato:comment:{\"text\":\"looking\"}");

	/* the purge removes the incident, its links and its timeline */
	CHECK_INT(meta_incident_purge(m, "alpha", id, &e), 0);
	CHECK_INT(meta_incident_get(m, "alpha", id, got_incident, &g, &e), -ENOENT);
	CHECK_INT(meta_incident_purge(m, "alpha", id, &e), -ENOENT);
	/* tenant "gone" is made only when no timeline entry nor link is left */
	CHECK_INT(t_meta_exec("INSERT INTO tenants (name, created_ns) SELECT 'gone', 0"
			      " WHERE (SELECT COUNT(*) FROM incident_timeline) = 0"
			      " AND (SELECT COUNT(*) FROM incident_alerts) = 0"), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_incident_list(m, "gone", NULL, got_incident, &g, &e), 0);
	meta_close(m);
}

static void test_suppressions(void)
{
	struct meta *m = t_meta_open("alpha", "beta", NULL);
	struct meta_suppression s = {
		.tenant = "alpha", .rule_id = "r-1", .keys = "{\"source.ip\":\"192.0.2.1\"}",
		.reason = "scanner of the SOC", .created_by = "sato", .created_ns = T0,
		.expires_ns = T0 + 100 * NS,
	};
	struct meta_alert hit = alert("alpha", "{\"source.ip\":\"192.0.2.1\",\"port\":80}");
	struct meta_alert other = alert("alpha", "{\"source.ip\":\"192.0.2.2\"}");
	struct meta_alert beta = alert("beta", "{\"source.ip\":\"192.0.2.1\"}");
	struct err e = ERR_INIT;
	int64_t id = 0, sid = 0, inc = 0;
	struct got g = { 0 };

	if (!m)
		return;
	CHECK_INT(meta_suppression_add(m, &s, &id, &e), 0);
	CHECK_INT(meta_suppression_match(m, &hit, T0 + NS, &sid, &e), 0);
	CHECK_INT(sid, id);
	CHECK_INT(meta_suppression_match(m, &other, T0 + NS, &sid, &e), 0);
	CHECK_INT(sid, 0);
	CHECK_INT(meta_suppression_match(m, &beta, T0 + NS, &sid, &e), 0); /* not beta's */
	CHECK_INT(sid, 0);
	hit.rule_id = "r-2";
	CHECK_INT(meta_suppression_match(m, &hit, T0 + NS, &sid, &e), 0);
	CHECK_INT(sid, 0);
	hit.rule_id = "r-1";
	CHECK_INT(meta_suppression_match(m, &hit, T0 + 100 * NS, &sid, &e), 0); /* expired */
	CHECK_INT(sid, 0);
	/* a value written with an escape equals the same value written plainly; numbers too */
	s.keys = "{\"port\":80,\"source.ip\":\"192.0.2.\\u0031\"}";
	s.expires_ns = 0;
	CHECK_INT(meta_suppression_add(m, &s, &id, &e), 0);
	CHECK_INT(meta_suppression_match(m, &hit, T0 + 1000 * NS, &sid, &e), 0);
	CHECK_INT(sid, id);
	/* the hits were counted */
	CHECK_INT(meta_suppression_list(m, "alpha", got_suppression, &g, &e), 0);
	CHECK_STR(g.text, "alpha/r-1/1 alpha/r-1/1");
	/* shapes refused: nested values, not an object, no rule */
	s.keys = "{\"a\":{\"b\":1}}";
	CHECK_INT(meta_suppression_add(m, &s, NULL, &e), -EINVAL);
	s.keys = "[]";
	CHECK_INT(meta_suppression_add(m, &s, NULL, &e), -EINVAL);
	s.keys = "{}";
	s.rule_id = "";
	CHECK_INT(meta_suppression_add(m, &s, NULL, &e), -EINVAL);
	s.rule_id = "r-1";
	/* an incident it comes from must be the tenant's */
	{
		struct meta_incident b = incident("beta", "k");

		CHECK_INT(meta_incident_add(m, &b, &inc, &e), 0);
	}
	s.incident = inc;
	CHECK_INT(meta_suppression_add(m, &s, NULL, &e), -ENOENT);
	s.tenant = "beta";
	CHECK_INT(meta_suppression_add(m, &s, &sid, &e), 0);
	/* isolation of remove and list */
	CHECK_INT(meta_suppression_remove(m, "beta", id, &e), -ENOENT);
	CHECK_INT(meta_suppression_remove(m, "alpha", id, &e), 0);
	CHECK_INT(meta_suppression_remove(m, "alpha", id, &e), -ENOENT);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_suppression_list(m, "beta", got_suppression, &g, &e), 0);
	CHECK_STR(g.text, "beta/r-1/0");
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_suppression_list(m, NULL, got_suppression, &g, &e), 0);
	CHECK_INT(g.n, 2);
	/* purging the incident leaves the suppression made from it */
	CHECK_INT(meta_incident_purge(m, "beta", inc, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(meta_suppression_list(m, "beta", got_suppression, &g, &e), 0);
	CHECK_INT(g.n, 1);
	meta_close(m);
}

static void test_out_of_memory(void)
{
	struct meta *m = t_meta_open("alpha", NULL);
	/* escapes make the matcher unescape into its arena */
	struct meta_suppression s = {
		.tenant = "alpha", .rule_id = "r-1", .keys = "{\"u\":\"a\\u0062c\"}",
		.reason = "", .created_by = "sato",
	};
	struct meta_alert a = alert("alpha", "{\"u\":\"\\u0061bc\"}");
	struct err e = ERR_INIT;
	int64_t id = 0;

	if (!m)
		return;
	for (long n = 0;; n++) {
		int rc;

		mem_fail_after(n);
		rc = meta_suppression_add(m, &s, NULL, &e);
		mem_fail_after(-1);
		if (rc == 0)
			break;
		CHECK_INT(rc, -ENOMEM);
	}
	for (long n = 0;; n++) {
		int rc;

		mem_fail_after(n);
		rc = meta_suppression_match(m, &a, T0, &id, &e);
		mem_fail_after(-1);
		if (rc == 0)
			break;
		CHECK_INT(rc, -ENOMEM);
		CHECK(strstr(e.msg, "out of memory") != NULL);
	}
	CHECK(id > 0);
	meta_close(m);
}

int main(void)
{
	T_RUN(test_add_get_update_isolation);
	T_RUN(test_open_sharing);
	T_RUN(test_open_sharing_backfill);
	T_RUN(test_reads_do_not_walk_the_tenant);
	T_RUN(test_sharing_storm);
	T_RUN(test_open_sharing_most_first);
	T_RUN(test_set_terminal);
	T_RUN(test_check);
	T_RUN(test_list_filters);
	T_RUN(test_alerts_timeline_clock_purge);
	T_RUN(test_suppressions);
	T_RUN(test_ids_not_reused);
	T_RUN(test_out_of_memory);
	return t_done();
}
