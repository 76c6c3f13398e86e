/*
 * Unit tests of soc/evkeep (and meta.h's "evkeep" section): event copies kept with
 * incidents in a real koban.db, sealed with the data key of a real store in a temp
 * directory: round trip, the same event kept once, a wrong or replaced key and a moved
 * copy refused with a clear error, purge by cascade, tenant isolation, limits and
 * allocation failures.
 */
#include "soc/evkeep.h"
#include "core/compat.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "store/meta.h"
#include "store/store.h"
#include "t.h"
#include "t_meta.h"
#include "t_store.h"

#define NOW INT64_C(1773543600000000000)

struct world {
	struct meta *m;
	struct store *st;
	int64_t alpha, beta;     /* the tenants' ids */
	int64_t inc_a, inc_a2;   /* incidents of alpha */
	int64_t inc_b;           /* an incident of beta */
};

static void one_event(struct event *ev, int i, void *ctx)
{
	CHECK_INT(event_set_time(ev, FIELD_TIMESTAMP, NOW + i), 0);
}

static void take_id(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->id;
}

static int64_t incident(struct meta *m, const char *tenant)
{
	struct meta_incident inc = {
		.tenant = tenant, .title = "test", .rule_id = "r1", .group_key = "r1|10.0.0.1",
		.level = META_LEVEL_UNDECIDED, .status = "new", .owner = "", .n_alerts = 1,
		.evidence = "[]", .entities = "{}", .terminal = "{}", .first_ns = NOW,
		.last_ns = NOW, .detected_ns = NOW, .updated_ns = NOW,
	};
	struct err e = ERR_INIT;
	int64_t id = 0;

	t_check(meta_incident_add(m, &inc, &id, &e) == 0, __FILE__, __LINE__, "incident: %s",
		e.msg);
	return id;
}

/* koban.db with tenants alpha and beta, a store where both have data keys, incidents. */
static bool world_open(struct world *w)
{
	struct err e = ERR_INIT;

	memset(w, 0, sizeof(*w));
	if (!(w->m = t_meta_open("alpha", "beta", NULL)))
		return false;
	CHECK_INT(meta_tenant_get(w->m, "alpha", take_id, &w->alpha, &e), 0);
	CHECK_INT(meta_tenant_get(w->m, "beta", take_id, &w->beta, &e), 0);
	CHECK_INT(store_open(&w->st, t_meta_dir(), &e), 0);
	if (!w->st)
		return false;
	t_store_import(w->st, (uint64_t)w->alpha, 1, one_event, NULL, NULL);
	t_store_import(w->st, (uint64_t)w->beta, 1, one_event, NULL, NULL);
	w->inc_a = incident(w->m, "alpha");
	w->inc_a2 = incident(w->m, "alpha");
	w->inc_b = incident(w->m, "beta");
	return w->inc_a && w->inc_a2 && w->inc_b;
}

static void world_close(struct world *w)
{
	store_close(w->st);
	meta_close(w->m);
}

static int put(struct world *w, const char *tenant, int64_t tid, int64_t inc, const char *json,
	       struct err *e)
{
	return evkeep_put(w->st, w->m, tenant, (uint64_t)tid, inc, json, strlen(json), e);
}

/* The copies listed, joined by '\n', into a static buffer (or "error: MSG"). */
struct listing {
	char text[4096];
	size_t len;
	int n, stop_at;
};

static int add_copy(void *ctx, const char *json, size_t len)
{
	struct listing *l = ctx;

	l->n++;
	l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s%.*s",
				   l->len ? "\n" : "", (int)len, json);
	return l->n == l->stop_at ? 7 : 0;
}

static const char *list(struct world *w, const char *tenant, int64_t tid, int64_t inc, int *rc)
{
	static struct listing l;
	struct err e = ERR_INIT;

	memset(&l, 0, sizeof(l));
	*rc = evkeep_list(w->st, w->m, tenant, (uint64_t)tid, inc, add_copy, &l, &e);
	if (*rc < 0)
		snprintf(l.text, sizeof(l.text), "error: %s", e.msg);
	return l.text;
}

/* Rows of incident_events in koban.db (through its own connection). */
static int rows(const char *where)
{
	char path[4096], sql[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	snprintf(path, sizeof(path), "%s/koban.db", t_meta_dir());
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM incident_events WHERE %s", where);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_round_trip_and_dedupe(void)
{
	struct world w;
	struct err e = ERR_INIT;
	int rc;

	if (!world_open(&w))
		goto out;
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":1}", &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"b\":\"\\u65e5\"}", &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":1}", &e), 0); /* kept already */
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a2, "{\"a\":1}", &e), 0); /* another incident */
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "{\"a\":1}\n{\"b\":\"\\u65e5\"}");
	CHECK_INT(rc, 0);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a2, &rc), "{\"a\":1}");
	CHECK_INT(rows("1"), 3);
	/* nothing of the events in the clear */
	CHECK_INT(rows("instr(sealed, '\"a\"') > 0 OR instr(sealed, 'u65e5') > 0"), 0);
	CHECK_INT(rows("length(sealed) = 4 + 24 + 7 + 16"), 2); /* "KEV1", nonce, event, tag */
	/* the same bytes only: a blank more is another event */
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\": 1}", &e), 0);
	CHECK_INT(rows("incident_id = 1"), 3);
	/* fn stops the walk with its own value */
	{
		struct listing l = { .stop_at = 2 };

		CHECK_INT(evkeep_list(w.st, w.m, "alpha", (uint64_t)w.alpha, w.inc_a, add_copy, &l,
				      &e), 7);
		CHECK_INT(l.n, 2);
	}
	/* an incident without copies */
	CHECK_STR(list(&w, "beta", w.beta, w.inc_b, &rc), "");
	CHECK_INT(rc, 0);
out:
	world_close(&w);
}

static void test_isolation(void)
{
	struct world w;
	struct err e = ERR_INIT;
	int rc;

	if (!world_open(&w))
		goto out;
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"secret\":1}", &e), 0);
	/* beta names alpha's incident: as if it did not exist */
	CHECK_INT(put(&w, "beta", w.beta, w.inc_a, "{\"x\":1}", &e), -ENOENT);
	CHECK_STR(e.msg, "tenant 'beta' has no incident 1");
	CHECK_STR(list(&w, "beta", w.beta, w.inc_a, &rc), "error: tenant 'beta' has no incident 1");
	CHECK_INT(rc, -ENOENT);
	CHECK_INT(put(&w, "alpha", w.alpha, 999, "{\"x\":1}", &e), -ENOENT);
	CHECK_INT(put(&w, "gamma", w.alpha, w.inc_a, "{\"x\":1}", &e), -ENOENT);
	/* the name of one tenant with the store id of another */
	CHECK_INT(put(&w, "beta", w.alpha, w.inc_b, "{\"x\":1}", &e), -EINVAL);
	CHECK_STR(list(&w, "alpha", w.beta, w.inc_a, &rc),
		  "error: evidence copies: tenant id 3 is not the id of tenant 'alpha' (2)");
	CHECK_INT(rows("1"), 1);
	/* a copy moved to beta's incident by hand does not open there */
	CHECK_INT(t_meta_exec("UPDATE incident_events SET incident_id = 3"), SQLITE_OK);
	CHECK_STR(list(&w, "beta", w.beta, w.inc_b, &rc), "error: tenant 'beta', incident 3: event "
		  "copy 1 does not open with the tenant's data key (a key replaced since, or the "
		  "copy was altered)");
	CHECK_INT(rc, -EBADMSG);
out:
	world_close(&w);
}

static void test_wrong_key_and_damage(void)
{
	struct world w;
	struct store_erase_stats es;
	struct err e = ERR_INIT;
	int rc;

	if (!world_open(&w))
		goto out;
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":1}", &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":2}", &e), 0);
	/* moved to another sequence number: the associated data differs */
	CHECK_INT(t_meta_exec("UPDATE incident_events SET seq = 5 WHERE seq = 2"), SQLITE_OK);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "error: tenant 'alpha', incident 1: "
		  "event copy 5 does not open with the tenant's data key (a key replaced since, or "
		  "the copy was altered)");
	CHECK_INT(t_meta_exec("UPDATE incident_events SET seq = 2 WHERE seq = 5"), SQLITE_OK);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "{\"a\":1}\n{\"a\":2}");
	/* not koban's format; a digest of another length */
	CHECK_INT(t_meta_exec("UPDATE incident_events SET sealed = x'00' WHERE seq = 2"),
		  SQLITE_OK);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "error: tenant 'alpha', incident 1: "
		  "event copy 2 is not in koban's format (damaged)");
	CHECK_INT(rc, -EBADMSG);
	CHECK_INT(t_meta_exec("UPDATE incident_events SET digest = x'00' WHERE seq = 2"),
		  SQLITE_OK);
	CHECK_INT(rc = evkeep_list(w.st, w.m, "alpha", (uint64_t)w.alpha, w.inc_a, add_copy,
				   &(struct listing){ 0 }, &e), -EBADMSG);
	CHECK(strstr(e.msg, "event copy 2 of incident 1 is damaged") != NULL);
	CHECK_INT(t_meta_exec("DELETE FROM incident_events WHERE seq = 2"), SQLITE_OK);
	/* the tenant's key erased: nothing opens any more, said so */
	CHECK_INT(store_erase(w.st, (uint64_t)w.alpha, &es, &e), 0);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "error: tenant 'alpha' has no data key "
		  "(never stored events, or erased): no evidence copies");
	CHECK_INT(rc, -ENOENT);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":3}", &e), -ENOENT);
	/* a new key made by new events: the old copies do not open with it */
	t_store_import(w.st, (uint64_t)w.alpha, 1, one_event, NULL, NULL);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "error: tenant 'alpha', incident 1: "
		  "event copy 1 does not open with the tenant's data key (a key replaced since, or "
		  "the copy was altered)");
	CHECK_INT(rc, -EBADMSG);
out:
	world_close(&w);
}

static void test_purge_cascade(void)
{
	struct world w;
	struct err e = ERR_INIT;
	int rc;

	if (!world_open(&w))
		goto out;
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":1}", &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a2, "{\"a\":1}", &e), 0);
	CHECK_INT(put(&w, "beta", w.beta, w.inc_b, "{\"a\":1}", &e), 0);
	CHECK_INT(meta_incident_purge(w.m, "beta", w.inc_a, &e), -ENOENT); /* not beta's */
	CHECK_INT(rows("1"), 3);
	CHECK_INT(meta_incident_purge(w.m, "alpha", w.inc_a, &e), 0);
	CHECK_INT(rows("1"), 2);
	CHECK_INT(rows("incident_id = 1"), 0);
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a, &rc), "error: tenant 'alpha' has no incident 1");
	CHECK_STR(list(&w, "alpha", w.alpha, w.inc_a2, &rc), "{\"a\":1}");
	/* removing the tenant removes its incidents and so their copies */
	CHECK_INT(meta_tenant_remove(w.m, "alpha", &e), 0);
	CHECK_INT(rows("1"), 1);
out:
	world_close(&w);
}

static int seal_fixed(void *ctx, struct meta_evkeep *k, struct err *e)
{
	k->sealed = (const unsigned char *)"x";
	k->sealed_len = 1;
	return 0;
}

static void test_limits(void)
{
	static char big[EVKEEP_EVENT_MAX + 2];
	unsigned char digest[META_EVKEEP_DIGEST_LEN] = { 0 };
	struct world w;
	struct err e = ERR_INIT;
	int64_t seq = -1;

	if (!world_open(&w))
		goto out;
	CHECK_INT(evkeep_put(w.st, w.m, "alpha", (uint64_t)w.alpha, w.inc_a, "{}", 0, &e),
		  -EMSGSIZE);
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[EVKEEP_EVENT_MAX - 1] = '}';
	big[EVKEEP_EVENT_MAX] = 0;
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, big, &e), 0); /* the largest */
	big[EVKEEP_EVENT_MAX] = ' ';
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, big, &e), -EMSGSIZE);
	CHECK_STR(e.msg, "evidence copy of incident 1: 65537 bytes, expected 1-65536");
	/* the most copies an incident keeps (meta's limit, small here) */
	for (int i = 0; i < 3; i++) {
		digest[0] = (unsigned char)i;
		CHECK_INT(meta_evkeep_add(w.m, "alpha", w.inc_a2, digest, 3, NOW, seal_fixed, NULL,
					  &seq, &e), 0);
		CHECK_INT(seq, i + 1);
	}
	digest[0] = 9;
	CHECK_INT(meta_evkeep_add(w.m, "alpha", w.inc_a2, digest, 3, NOW, seal_fixed, NULL, &seq,
				  &e), -ENOSPC);
	CHECK_STR(e.msg, "incident 2 keeps 3 event copies already, the most it may");
	digest[0] = 1; /* kept already: not refused, nothing written */
	CHECK_INT(meta_evkeep_add(w.m, "alpha", w.inc_a2, digest, 3, NOW, seal_fixed, NULL, &seq,
				  &e), 0);
	CHECK_INT(seq, 0);
	CHECK_INT(rows("incident_id = 2"), 3);
out:
	world_close(&w);
}

/*
 * Inside the caller's transaction (the SOC engine keeps a batch's copies in one): its
 * failure leaves the transaction to the caller, and the caller's rollback takes the
 * copies back.
 */
static void test_callers_transaction(void)
{
	struct world w;
	struct err e = ERR_INIT;

	if (!world_open(&w))
		goto out;
	CHECK_INT(meta_begin(w.m, &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":1}", &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_b, "{\"a\":2}", &e), -ENOENT); /* beta's */
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":3}", &e), 0);
	CHECK_INT(meta_commit(w.m, &e), 0);
	CHECK_INT(rows("1"), 2);
	CHECK_INT(meta_begin(w.m, &e), 0);
	CHECK_INT(put(&w, "alpha", w.alpha, w.inc_a, "{\"a\":4}", &e), 0);
	meta_rollback(w.m);
	CHECK_INT(rows("1"), 2);
out:
	world_close(&w);
}

static void test_alloc_failures(void)
{
	struct world w;
	struct err e = ERR_INIT;
	int rc;

	if (!world_open(&w))
		goto out;
	for (long n = 0; n < 200; n++) {
		char json[32];

		snprintf(json, sizeof(json), "{\"n\":%ld}", n);
		mem_fail_after(n);
		rc = put(&w, "alpha", w.alpha, w.inc_a, json, &e);
		mem_fail_after(-1);
		t_check(rc == 0 || rc == -ENOMEM || rc == -EIO, __FILE__, __LINE__,
			"put after %ld allocations: %d %s", n, rc, e.msg);
		if (rc == 0)
			break;
	}
	for (long n = 0; n < 200; n++) {
		struct listing l = { 0 };

		mem_fail_after(n);
		rc = evkeep_list(w.st, w.m, "alpha", (uint64_t)w.alpha, w.inc_a, add_copy, &l, &e);
		mem_fail_after(-1);
		t_check(rc == 0 || rc == -ENOMEM || rc == -EIO, __FILE__, __LINE__,
			"list after %ld allocations: %d %s", n, rc, e.msg);
		if (rc == 0) {
			CHECK(l.n >= 1);
			break;
		}
	}
out:
	world_close(&w);
}

int main(void)
{
	T_RUN(test_round_trip_and_dedupe);
	T_RUN(test_isolation);
	T_RUN(test_wrong_key_and_damage);
	T_RUN(test_purge_cascade);
	T_RUN(test_limits);
	T_RUN(test_callers_transaction);
	T_RUN(test_alloc_failures);
	return t_done();
}
