/*
 * Unit tests of the event store facade: import into segments, search with push-down and
 * pipes, time ranges, the audit log, and tenant isolation (a crossing attempt must fail).
 */
#include "store/store.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/compat.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/timeutil.h"
#include "t.h"
#include "t_store.h"

#include <sodium.h>
#include <time.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY (86400 * NS_PER_SEC)
#define T0 INT64_C(1796083200000000000) /* 2026-12-01T00:00:00Z */
#define N_ALPHA 3000                    /* over three days */
#define N_BETA 100

static char dir[600];
static struct buf out;

/* Event i of a tenant: one every 86 s from T0, sources 10.0.(i%50).1, a deny every 10th. */
static void make(struct event *ev, int i, void *marker_)
{
	const char *marker = marker_;
	char src[32], line[160];
	struct ipaddr ip;
	int n;

	snprintf(src, sizeof(src), "10.0.%d.1", i % 50);
	ipaddr_parse(&ip, src, strlen(src));
	n = snprintf(line, sizeof(line), "<14>fw1 %s tcp %s -> 203.0.113.7:443 seq=%d %s",
		     i % 10 ? "allow" : "deny", src, i, marker);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i * 86 * NS_PER_SEC);
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	event_set_int(ev, FIELD_DESTINATION_PORT, 443);
	event_set_str(ev, FIELD_EVENT_ACTION, i % 10 ? "allow" : "deny", i % 10 ? 5 : 4);
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
}

/* Imports count events; returns the bytes of the segments this import sealed. */
static uint64_t import(struct store *st, uint64_t tenant, int count, const char *marker)
{
	struct store_import_stats s = { 0 };

	t_store_import(st, tenant, count, make, (void *)marker, &s);
	CHECK_INT(s.events, (uint64_t)count);
	CHECK(s.bytes > 0);
	return s.bytes;
}

static int on_event(void *ctx, const struct event *ev)
{
	return buf_addch(&out, 'e');
}

static int on_row(void *ctx, const struct agg_row *row)
{
	int rc = agg_row_write_json(row, &out);

	return rc ? rc : buf_addch(&out, '\n');
}

/* Whether DATA_DIR/audit.log (of dir) holds text. */
static bool audit_has(const char *text)
{
	char path[700];
	size_t len;
	char *log;
	bool has;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	log = t_read_file(path, &len);
	has = log && strstr(log, text);
	free(log);
	return has;
}

/* store_search.gone: the caller leaves after the first block (ctx counts the calls). */
static bool gone_at_second(void *ctx)
{
	int *calls = ctx;

	return ++*calls == 2;
}

static int search(struct store *st, uint64_t tenant, const char *q, int64_t from, int64_t to,
		  struct store_search_stats *stats, struct err *e)
{
	struct store_search s = { .tenant = tenant, .query = q, .query_len = strlen(q),
				  .from = from, .to = to, .now = T0 + 10 * DAY, .who = "test",
				  .event_fn = on_event, .row_fn = on_row };

	buf_reset(&out);
	return store_search(st, &s, stats, e);
}

#define ALL INT64_MIN, INT64_MAX

/*
 * Five terms no event of tenant 1 has: none is found, and at least one reads no block (a
 * bloom errs for a few in a hundred, all of a tenant's days at once).
 */
static bool one_absent_skips(struct store *st, const char *const absent[5])
{
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	bool skipped = false;
	char q[64];

	for (size_t i = 0; i < 5; i++) {
		snprintf(q, sizeof(q), "%s | stats count()", absent[i]);
		CHECK_INT(search(st, 1, q, ALL, &ss, &e), 0);
		CHECK_STR(out.p, "{\"count\":0}\n");
		skipped = skipped || ss.blocks_read == 0;
	}
	return skipped;
}

static void test_import_and_search(void)
{
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;

	snprintf(dir, sizeof(dir), "%s/data", t_tmp_dir());
	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	import(st, 1, N_ALPHA, "alpha-marker");
	import(st, 2, N_BETA, "beta-marker");

	CHECK_INT(search(st, 1, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":3000}\n");
	CHECK_INT(ss.segments, 3); /* one per day */
	CHECK_INT(search(st, 1, "event.action: deny | stats count(), dc(source.ip)", ALL, &ss, &e),
		  0);
	CHECK_STR(out.p, "{\"count\":300,\"dc(source.ip)\":5}\n");
	/* one address: the index picks the blocks */
	CHECK_INT(search(st, 1, "source.ip: 10.0.7.1 | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":60}\n");
	CHECK(ss.blocks_read < ss.blocks || ss.blocks <= 3);
	CHECK_INT(search(st, 1, "source.ip: 10.0.0.0/16 and not source.ip: 10.0.7.1 | stats count()",
			 ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":2940}\n");
	/* full text, through the blooms */
	CHECK_INT(search(st, 1, "\"seq=1234\" | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":1}\n");
	/*
	 * An address in the text that is an address field's value too is in no bloom (the
	 * index has it): found all the same, as a word, in a phrase or in event.original, and
	 * an address no event has reads no block unless the bloom errs (the text may hold an
	 * address that no address field does, so the bloom is asked too; it erred in 2 of 40
	 * runs): of five such addresses, at least one must read no block.
	 */
	CHECK_INT(search(st, 1, "10.0.7.1 | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":60}\n");
	CHECK_INT(search(st, 1, "\"tcp 10.0.7.1 ->\" | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":60}\n");
	CHECK_INT(search(st, 1, "event.original: \"10.0.7.1\" and allow | stats count()", ALL, &ss,
			 &e), 0);
	CHECK_STR(out.p, "{\"count\":60}\n");
	{ /* absent addresses: the bloom errs for about one in twenty, all days at once */
		static const char *const absent[] = { "10.0.77.1", "10.0.78.2", "10.9.7.1",
						      "192.0.2.77", "10.0.7.199" };

		CHECK(one_absent_skips(st, absent));
	}
	/*
	 * A word no event has: its blocks are skipped, unless the bloom gives a false positive
	 * (about 1%, and the three days' blooms hold the same words under the same key, so they
	 * err together): of five such words, at least one must read no block.
	 */
	{
		static const char *const absent[] = { "no-such-word", "absent-token", "zzz-missing",
						      "qqq-nowhere", "xylophone-x" };

		CHECK(one_absent_skips(st, absent));
	}
	/*
	 * A field's whole value: the blocks list their two actions, so an action no event has
	 * reads no block even when its word is in every block's bloom (tcp, in every line), one
	 * they have is found in any case, and a field no event has reads no block either.
	 */
	CHECK_INT(search(st, 1, "event.action: tcp | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	CHECK_INT(ss.blocks_read, 0);
	CHECK_INT(search(st, 1, "event.action: DENY | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":300}\n");
	CHECK_INT(search(st, 1, "event.dataset: allow | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	CHECK_INT(ss.blocks_read, 0);
	/* time: the second day only, from the options or from the query */
	CHECK_INT(search(st, 1, "| stats count()", T0 + DAY, T0 + 2 * DAY - 1, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":1005}\n");
	CHECK_INT(ss.segments, 1);
	CHECK_INT(search(st, 1, "@timestamp >= 2026-12-02 and @timestamp < 2026-12-03 | stats count()",
			 ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":1005}\n");
	/* events, newest first, and head stops the reading */
	CHECK_INT(search(st, 1, "| head 5", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "eeeee");
	CHECK_INT(ss.blocks_read, 1);
	CHECK_INT(search(st, 1, "| timechart span=1d count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"count\":1005}\n"
			 "{\"@timestamp\":\"2026-12-02T00:00:00Z\",\"count\":1005}\n"
			 "{\"@timestamp\":\"2026-12-03T00:00:00Z\",\"count\":990}\n");
	/* a caller that is gone (store_search.gone) ends the search at the next block */
	{
		int calls = 0;
		struct store_search s = { .tenant = 1, .query = "| stats count()",
					  .query_len = 15, .from = INT64_MIN, .to = INT64_MAX,
					  .now = T0 + 10 * DAY, .who = "test", .event_fn = on_event,
					  .row_fn = on_row, .ctx = &calls, .gone = gone_at_second };

		buf_reset(&out);
		CHECK_INT(store_search(st, &s, &ss, &e), 0);
		CHECK_STR(out.p, "{\"count\":990}\n"); /* the newest day's block only */
		CHECK_INT(ss.blocks_read, 1);
		CHECK_INT(calls, 2);
		CHECK(audit_has("\"results\":1,\"status\":0,\"ended\":\"reader left\"}"));
	}
	/* a query error names its column */
	CHECK_INT(search(st, 1, "destination.port: https", ALL, &ss, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 19") != NULL);
	/* a tenant without data finds nothing, without error */
	CHECK_INT(search(st, 99, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	store_close(st);
}

/* ---- one day of many blocks: the two readers, both read paths and the result order ---- */

#define N_MANY 10000 /* one a second: three blocks and a bit, one segment */

static long seqs[N_MANY];
static size_t n_seqs;

static int on_seq(void *ctx, const struct event *ev)
{
	const char *s, *p;
	size_t len;

	if (event_get_str(ev, FIELD_EVENT_ORIGINAL, &s, &len) < 0 || n_seqs == N_MANY)
		return -EINVAL;
	p = memmem(s, len, "seq=", 4);
	if (!p)
		return -EINVAL;
	seqs[n_seqs++] = strtol(p + 4, NULL, 10);
	return 0;
}

static int search_seqs_of(struct store *st, uint64_t tenant, const char *q,
			  struct store_search_stats *stats, struct err *e)
{
	struct store_search s = { .tenant = tenant, .query = q, .query_len = strlen(q),
				  .from = INT64_MIN, .to = INT64_MAX, .now = T0 + 10 * DAY,
				  .who = "test", .event_fn = on_seq, .row_fn = on_row };

	n_seqs = 0;
	buf_reset(&out);
	return store_search(st, &s, stats, e);
}

static int search_seqs(struct store *st, const char *q, struct err *e)
{
	return search_seqs_of(st, 3, q, NULL, e);
}

/* seqs[] is the expected list: i from N_MANY - 1 down, those keep(i) says, at most max. */
static void check_seqs(bool (*keep)(long), size_t max, int line)
{
	size_t k = 0;

	for (long i = N_MANY - 1; i >= 0 && k < max; i--) {
		if (!keep(i))
			continue;
		if (k >= n_seqs || seqs[k] != i) {
			t_check(false, __FILE__, line, "result %zu: seq %ld, expected %ld", k,
				k < n_seqs ? seqs[k] : -1L, i);
			return;
		}
		k++;
	}
	t_check(k == n_seqs, __FILE__, line, "%zu results, expected %zu", n_seqs, k);
}

static bool is_src5(long i) { return i % 100 == 5; }
static bool is_src5_deny(long i) { return i % 100 == 5 && i % 7 == 0; }
static bool is_deny(long i) { return i % 7 == 0; }
static bool is_any(long i) { return true; }
static bool is_777(long i) { return i == 777; }
static bool is_7(long i) { return i == 7; }

/* A deny whose number starts with 7 (seq=7*: 7, 70-79, 700-799, 7000-7999). */
static bool is_deny_seq7(long i)
{
	long d = i;

	while (d >= 10)
		d /= 10;
	return i % 7 == 0 && d == 7;
}


static void test_blocks_and_order(void)
{
	struct store_import *imp;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	struct arena a;
	struct event ev;
	char rows[128], many[600];

	snprintf(many, sizeof(many), "%s/many", t_tmp_dir());
	CHECK_INT(store_open(&st, many, &e), 0);
	if (!st)
		return;
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(store_import_begin(st, 3, &imp, &e), 0);
	for (int i = 0; i < N_MANY; i++) {
		char src[32], line[160];
		struct ipaddr ip;
		int n;

		arena_clear(&a);
		event_init(&ev, &a);
		snprintf(src, sizeof(src), "10.1.%d.1", i % 100);
		ipaddr_parse(&ip, src, strlen(src));
		n = snprintf(line, sizeof(line), "fw %s %s seq=%d end", i % 7 ? "allow" : "deny",
			     src, i);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + (int64_t)i * NS_PER_SEC);
		event_set_ip(&ev, FIELD_SOURCE_IP, &ip);
		event_set_str(&ev, FIELD_EVENT_ACTION, i % 7 ? "allow" : "deny", i % 7 ? 5 : 4);
		event_set_strdup(&ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
		CHECK_INT(store_import_add(imp, &ev, &e), 0);
	}
	CHECK_INT(store_import_finish(imp, NULL, &e), 0);
	arena_release(&a);

	/* the index's rows, read alone, newest first across blocks */
	CHECK_INT(search_seqs(st, "source.ip: 10.1.5.1", &e), 0);
	check_seqs(is_src5, SIZE_MAX, __LINE__);
	/* the index's rows and a filter on other fields */
	CHECK_INT(search_seqs(st, "source.ip: 10.1.5.1 and event.action: deny", &e), 0);
	check_seqs(is_src5_deny, SIZE_MAX, __LINE__);
	/* the filter's columns first, then whole events of the matches */
	CHECK_INT(search_seqs(st, "deny", &e), 0);
	check_seqs(is_deny, SIZE_MAX, __LINE__);
	CHECK_INT(search_seqs(st, "\"seq=777 end\"", &e), 0);
	check_seqs(is_777, SIZE_MAX, __LINE__);
	/* a phrase across two values the line refers to (an action, an address), any case */
	CHECK_INT(search_seqs(st, "\"DENY 10.1.5.1 \"", &e), 0);
	check_seqs(is_src5_deny, SIZE_MAX, __LINE__);
	/* seq=7 is a phrase of whole tokens (seq 7 only); seq=7* any seq starting with 7 */
	CHECK_INT(search_seqs(st, "\"fw deny\" and \"seq=7\"", &e), 0);
	check_seqs(is_7, SIZE_MAX, __LINE__);
	CHECK_INT(search_seqs(st, "\"fw deny\" and seq=7*", &e), 0);
	check_seqs(is_deny_seq7, SIZE_MAX, __LINE__);
	/* head stops across blocks */
	CHECK_INT(search_seqs(st, "event.action: deny | head 3", &e), 0);
	check_seqs(is_deny, 3, __LINE__);
	CHECK_INT(search_seqs(st, "* | head 5000", &e), 0);
	check_seqs(is_any, 5000, __LINE__);
	CHECK_INT(search_seqs(st, "*", &e), 0);
	check_seqs(is_any, SIZE_MAX, __LINE__);
	/* a `fields` pipe: only what it keeps (and what the filter and a sort read) is decoded */
	CHECK_INT(search_seqs(st, "deny | fields event.original", &e), 0);
	check_seqs(is_deny, SIZE_MAX, __LINE__);
	CHECK_INT(search_seqs(st, "source.ip: 10.1.5.1 | fields event.original", &e), 0);
	check_seqs(is_src5, SIZE_MAX, __LINE__);
	CHECK_INT(search_seqs(st, "* | head 4 | fields event.original", &e), 0);
	check_seqs(is_any, 4, __LINE__);
	CHECK_INT(search_seqs(st, "deny | sort -@timestamp | head 9 | fields event.original, x.y",
			      &e), 0);
	check_seqs(is_deny, 9, __LINE__);
	/* rows: only the fields the pipes read are decoded */
	CHECK_INT(search_seqs(st, "| stats count() by event.action | sort event.action", &e), 0);
	snprintf(rows, sizeof(rows),
		 "{\"event.action\":\"allow\",\"count\":%d}\n"
		 "{\"event.action\":\"deny\",\"count\":%d}\n",
		 N_MANY - (N_MANY + 6) / 7, (N_MANY + 6) / 7);
	CHECK_STR(out.p, rows);
	CHECK_INT(search_seqs(st, "deny and source.ip: 10.1.0.0/16 | stats dc(source.ip)", &e), 0);
	CHECK_STR(out.p, "{\"dc(source.ip)\":100}\n");
	store_close(st);
}

/* ---- the index for users, hosts, domains and hashes, case ignored ---- */

#define N_STRINGS (5 * 4096) /* one a second: five blocks, one segment */
#define HASH_UPPER "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define HASH_LOWER "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The events of test_index_strings() holding the values it looks for, in several cases. */
static const struct picked {
	long seq;
	const char *field, *value;
} picked[] = {
	{ 100, "user.name", "Admin" },        { 9000, "user.name", "admin" },
	{ 20000, "user.name", "ADMIN" },      { 5000, "host.name", "DC01.corp" },
	{ 9000, "host.name", "dc01.corp" },
	{ 13000, "host.name", "dc01.CORP" },  { 4200, "url.domain", "Evil.Example" },
	{ 4300, "url.domain", "evil.example" }, { 16500, "file.hash.sha256", HASH_UPPER },
	{ 16501, "file.hash.sha256", HASH_LOWER },
};

/* The picked value of field in event i, else NULL. */
static const char *picked_value(long i, const char *field)
{
	for (size_t k = 0; k < ARRAY_SIZE(picked); k++)
		if (picked[k].seq == i && !strcmp(picked[k].field, field))
			return picked[k].value;
	return NULL;
}

/* A string field's value in event i: the picked one, else one of many ordinary ones. */
static void set_string(struct event *ev, long i, const char *field, const char *ordinary,
		       long kinds)
{
	const char *v = picked_value(i, field);
	char text[80];

	if (!v) {
		snprintf(text, sizeof(text), ordinary, i % kinds);
		v = text;
	}
	CHECK_INT(event_set_strdup(ev, (unsigned)field_intern(field, strlen(field), FT_STR), v,
				   strlen(v)), 0);
}

/*
 * Each event's line holds every word looked for, so that every block's bloom passes them
 * and only the index can tell the blocks apart.
 */
static void make_strings(struct event *ev, long i)
{
	char line[200];
	int n = snprintf(line, sizeof(line), "login admin dc01.corp evil.example %s seq=%ld end",
			 HASH_LOWER, i);

	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i * NS_PER_SEC);
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
	set_string(ev, i, "user.name", "user%ld", 50);
	set_string(ev, i, "host.name", "web-%ld", 40);
	set_string(ev, i, "url.domain", "site%ld.example", 30);
	set_string(ev, i, "file.hash.sha256", "%064ld", N_STRINGS);
}

/*
 * query finds exactly the picked events whose field holds value in any case, newest first,
 * and reads `blocks` of the five blocks.
 */
static void check_picked(struct store *st, const char *query, const char *field,
			 const char *value, uint64_t blocks, int line)
{
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	size_t k = 0;

	t_check(search_seqs_of(st, 4, query, &ss, &e) == 0, __FILE__, line, "%s: %s", query,
		e.msg);
	t_check(ss.blocks == 5 && ss.blocks_read == blocks, __FILE__, line,
		"%s: %llu of %llu blocks read, expected %llu of 5", query,
		(unsigned long long)ss.blocks_read, (unsigned long long)ss.blocks,
		(unsigned long long)blocks);
	for (size_t p = ARRAY_SIZE(picked); p-- > 0;) {
		if (strcmp(picked[p].field, field) || strcasecmp(picked[p].value, value))
			continue;
		if (k >= n_seqs || seqs[k] != picked[p].seq) {
			t_check(false, __FILE__, line, "%s: result %zu: seq %ld, expected %ld", query,
				k, k < n_seqs ? seqs[k] : -1L, picked[p].seq);
			return;
		}
		k++;
	}
	t_check(k == n_seqs, __FILE__, line, "%s: %zu results, expected %zu", query, n_seqs, k);
}

/*
 * A point query on a user, host, domain or hash reads only the blocks whose rows the index
 * gives for the value in any case (every block's bloom has its words), and finds every
 * case of it; a wildcard reads every block and finds the same.
 */
static void test_index_strings(void)
{
	struct store_search_stats ss;
	struct store_import *imp;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	struct arena a;
	struct event ev;
	char data[600];

	snprintf(data, sizeof(data), "%s/strings", t_tmp_dir());
	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return;
	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(store_import_begin(st, 4, &imp, &e), 0);
	for (long i = 0; imp && i < N_STRINGS; i++) {
		arena_clear(&a);
		event_init(&ev, &a);
		make_strings(&ev, i);
		CHECK_INT(store_import_add(imp, &ev, &e), 0);
	}
	if (imp)
		CHECK_INT(store_import_finish(imp, NULL, &e), 0);
	arena_release(&a);

	check_picked(st, "user.name: admin", "user.name", "admin", 3, __LINE__);
	check_picked(st, "user.name: ADMIN", "user.name", "admin", 3, __LINE__);
	check_picked(st, "host.name: DC01.CORP", "host.name", "dc01.corp", 3, __LINE__);
	check_picked(st, "url.domain: EVIL.example", "url.domain", "evil.example", 1, __LINE__);
	check_picked(st, "file.hash.sha256: " HASH_LOWER, "file.hash.sha256", HASH_LOWER, 1,
		     __LINE__);
	check_picked(st, "user.name: nobody", "user.name", "nobody", 0, __LINE__);
	/* with a filter on another field too, read first */
	check_picked(st, "user.name: Admin and login", "user.name", "admin", 3, __LINE__);
	/* no index for a wildcard: every block, the same events */
	check_picked(st, "user.name: adm*", "user.name", "admin", 5, __LINE__);
	/* two indexed values: the rows in both lists (block 2's event 9000), not the first's */
	CHECK_INT(search_seqs_of(st, 4, "user.name: admin and host.name: dc01.corp", &ss, &e), 0);
	CHECK_INT(n_seqs, 1);
	CHECK_INT(n_seqs ? seqs[0] : -1, 9000);
	CHECK_INT(ss.blocks_read, 1);
	CHECK_INT(search_seqs_of(st, 4, "user.name: admin and url.domain: evil.example", &ss, &e),
		  0);
	CHECK_INT(n_seqs, 0);
	CHECK_INT(ss.blocks_read, 0);
	/* rows */
	CHECK_INT(search(st, 4, "user.name: aDmIn | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":3}\n");
	CHECK_INT(ss.blocks_read, 3);
	store_close(st);
}

/* ---- range push-down: 20 blocks of disjoint ports and sources ---- */

#define RANGE_BLOCKS 20
#define RANGE_EVENTS (RANGE_BLOCKS * 4096) /* SEGMENT_BLOCK_EVENTS each, one a second */

/*
 * Event i, of block k = i / 4096: destination.port 1000 + 100 k + i % 50, source.ip
 * 10.k.(i % 250).1, related.ip 192.0.2.1 and, every eighth event, a second value
 * 10.200.k.1 (in the row area: only format 6's statistics cover it).
 */
static void make_ranged(struct event *ev, int i, void *ctx)
{
	int k = i / 4096;
	char text[32];
	struct ipaddr ip;

	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i * NS_PER_SEC);
	event_set_int(ev, FIELD_DESTINATION_PORT, 1000 + 100 * k + i % 50);
	snprintf(text, sizeof(text), "10.%d.%d.1", k, i % 250);
	ipaddr_parse(&ip, text, strlen(text));
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	ipaddr_parse(&ip, "192.0.2.1", 9);
	event_add_ip(ev, FIELD_RELATED_IP, &ip);
	if (i % 8 == 0) {
		snprintf(text, sizeof(text), "10.200.%d.1", k);
		ipaddr_parse(&ip, text, strlen(text));
		event_add_ip(ev, FIELD_RELATED_IP, &ip);
	}
	event_set_str(ev, FIELD_EVENT_ACTION, i % 2 ? "allow" : "deny", i % 2 ? 5 : 4);
}

/* count() of q over tenant 4 is count and q reads blocks_read of the 20 blocks. */
static void check_ranged(struct store *st, const char *q, long count, uint64_t blocks_read,
			 int line)
{
	struct store_search_stats ss = { 0 };
	struct err e = ERR_INIT;
	char query[200], want[64];

	snprintf(query, sizeof(query), "%s | stats count()", q);
	snprintf(want, sizeof(want), "{\"count\":%ld}\n", count);
	t_check(search(st, 4, query, ALL, &ss, &e) == 0, __FILE__, line, "%s: %s", q, e.msg);
	t_check(out.p && !strcmp(out.p, want), __FILE__, line, "%s: %s, expected %s", q,
		out.p ? out.p : "", want);
	t_check(ss.blocks == RANGE_BLOCKS && ss.blocks_read == blocks_read, __FILE__, line,
		"%s: read %llu of %llu blocks, expected %llu of %d", q,
		(unsigned long long)ss.blocks_read, (unsigned long long)ss.blocks,
		(unsigned long long)blocks_read, RANGE_BLOCKS);
}

/* Events i of block k with i % mod == m (ports: mod 50, sources: mod 250). */
static long block_count(int k, int mod, int m)
{
	long n = 0;

	for (int i = k * 4096; i < (k + 1) * 4096; i++)
		n += i % mod == m;
	return n;
}

/*
 * A range on an integer or IP field joined by `and` reads only the blocks whose minimum
 * and maximum of the field meet it, and finds what a full read finds; under `not` or `or`
 * every block is read.
 */
static void test_range_push_down(void)
{
	struct store *st = NULL;
	struct err e = ERR_INIT;
	char path[600];
	long p1510 = block_count(5, 50, 10), p2910 = block_count(19, 50, 10);

	snprintf(path, sizeof(path), "%s/ranges", t_tmp_dir());
	CHECK_INT(store_open(&st, path, &e), 0);
	if (!st)
		return;
	t_store_import(st, 4, RANGE_EVENTS, make_ranged, NULL, NULL);
	check_ranged(st, "*", RANGE_EVENTS, RANGE_BLOCKS, __LINE__);
	check_ranged(st, "destination.port >= 2900", 4096, 1, __LINE__);
	check_ranged(st, "destination.port > 2849", 4096, 1, __LINE__);
	check_ranged(st, "destination.port >= 2849", 4096 + block_count(18, 50, 49), 2, __LINE__);
	check_ranged(st, "destination.port < 1100", 4096, 1, __LINE__);
	check_ranged(st, "destination.port <= 1100", 4096 + block_count(1, 50, 0), 2, __LINE__);
	check_ranged(st, "destination.port: 1510", p1510, 1, __LINE__);
	check_ranged(st, "destination.port > 1049 and destination.port < 1100", 0, 0, __LINE__);
	check_ranged(st, "destination.port > 2949", 0, 0, __LINE__); /* the segment's range */
	check_ranged(st, "destination.port >= 1500 and event.action: deny",
		     RANGE_EVENTS / 2 - 5 * 2048, 15, __LINE__);
	check_ranged(st, "source.ip: 10.9.0.0/16", 4096, 1, __LINE__);
	check_ranged(st, "source.ip: 10.9.7.1", block_count(9, 250, 7), 1, __LINE__);
	check_ranged(st, "source.ip >= 10.19.0.0", 4096, 1, __LINE__);
	check_ranged(st, "source.ip: 10.0.0.0/8 and source.ip < 10.2.0.0", 2 * 4096, 2, __LINE__);
	/*
	 * A second value, in the row area, is within the block's statistics from format 6
	 * (each block's related.ip spans 10.200.k.1 to 192.0.2.1): found, and the blocks
	 * whose minimum is above the range are skipped.
	 */
	check_ranged(st, "related.ip: 10.200.7.0/24", 512, 8, __LINE__);
	check_ranged(st, "related.ip < 10.200.3.0", 3 * 512, 3, __LINE__);
	check_ranged(st, "related.ip: 10.200.0.0/16 and related.ip: 192.0.2.1", RANGE_EVENTS / 8,
		     RANGE_BLOCKS, __LINE__);
	/* not, or: every block */
	check_ranged(st, "not destination.port: 1510", RANGE_EVENTS - p1510, RANGE_BLOCKS,
		     __LINE__);
	check_ranged(st, "destination.port: 1510 or destination.port: 2910", p1510 + p2910,
		     RANGE_BLOCKS, __LINE__);
	check_ranged(st, "destination.port: (1510 or 2910)", p1510 + p2910, RANGE_BLOCKS,
		     __LINE__);
	/* a field no event has: no block of the segment is read */
	check_ranged(st, "event.duration > 0", 0, 0, __LINE__);
	check_ranged(st, "not event.duration > 0", RANGE_EVENTS, RANGE_BLOCKS, __LINE__);
	/* events, newest first, as a full read gives them */
	CHECK_INT(search(st, 4, "destination.port >= 2948 | head 3", ALL, NULL, &e), 0);
	CHECK_STR(out.p, "eee");
	store_close(st);
}

/* Event i of test_ipv6_text(): its source address, IPv6, also in its line. */
static void make_ipv6(struct event *ev, int i, void *ctx)
{
	char line[120];
	struct ipaddr ip;
	int n = snprintf(line, sizeof(line), "conn from 2001:db8::%d port %d Invoke-Mimikatz",
			 i % 2 ? 9 : 8, 1000 + i);

	ipaddr_parse(&ip, i % 2 ? "2001:db8::9" : "2001:db8::8", 11);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i * NS_PER_SEC);
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
}

/* Event i of test_ipv6_text()'s second tenant: an IPv4-compatible address, as glibc writes it. */
static void make_dotted_ipv6(struct event *ev, int i, void *ctx)
{
	static const char line[] = "deny ::10.0.0.5 tcp";
	struct ipaddr ip;

	ipaddr_parse(&ip, "::a00:5", 7);
	event_set_time(ev, FIELD_TIMESTAMP, T0 + (int64_t)i * NS_PER_SEC);
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	event_set_str(ev, FIELD_EVENT_ORIGINAL, line, sizeof(line) - 1);
}

/*
 * An IPv6 address in a line is several tokens (':' separates them), none of them in the
 * blooms where the text is an address field's value (a reference to it): a search for it
 * must not skip on them, and finds it as a phrase, or its tokens as words.
 */
static void test_ipv6_text(void)
{
	static const struct {
		const char *q;
		long n;
	} cases[] = {
		{ "\"2001:db8::9\"", 50 }, { "\"from 2001:db8::8 port\"", 50 },
		{ "mimikatz and \"2001:db8::9\"", 50 }, { "\"2001:db8::99\"", 0 },
		/* its groups are words of the line too, though in no bloom */
		{ "db8", 100 }, { "\"2001:db8\" and mimikatz", 100 },
	};
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char data[600], q[96], want[32];

	snprintf(data, sizeof(data), "%s/ipv6", t_tmp_dir());
	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return;
	t_store_import(st, 6, 100, make_ipv6, NULL, NULL);
	/*
	 * "::10.0.0.5", the text of the event's source.ip (::a00:5), holds the word 10.0.0.5,
	 * an IPv4 address to the search, which the index does not hold: the bloom must.
	 */
	t_store_import(st, 7, 10, make_dotted_ipv6, NULL, NULL);
	CHECK_INT(search(st, 7, "10.0.0.5 | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":10}\n");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(q, sizeof(q), "%s | stats count()", cases[i].q);
		snprintf(want, sizeof(want), "{\"count\":%ld}\n", cases[i].n);
		CHECK_INT(search(st, 6, q, ALL, &ss, &e), 0);
		t_check(!strcmp(out.p, want), __FILE__, __LINE__, "%s: %s", cases[i].q, out.p);
	}
	store_close(st);
}

static void test_tenant_isolation(void)
{
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char cmd[2000];

	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	/* no query reaches the other tenant's events */
	CHECK_INT(search(st, 2, "alpha-marker | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	CHECK_INT(search(st, 2, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":100}\n");
	/* a segment of tenant 1 copied into tenant 2's directory is refused, not read */
	snprintf(cmd, sizeof(cmd), "cp %s/tenants/1/2026-12-02-0001.seg %s/tenants/2/2026-12-02-0009.seg",
		 dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK(search(st, 2, "alpha-marker | stats count()", ALL, &ss, &e) < 0);
	CHECK(strstr(e.msg, "2026-12-02-0009.seg") != NULL);
	snprintf(cmd, sizeof(cmd), "rm %s/tenants/2/2026-12-02-0009.seg", dir);
	CHECK_INT(system(cmd), 0);
	store_close(st);
}

static void test_audit_log(void)
{
	char path[700];
	size_t len;
	char *log;
	int lines = 0;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	log = t_read_file(path, &len);
	CHECK(log != NULL);
	if (!log)
		return;
	for (size_t i = 0; i < len; i++)
		lines += log[i] == '\n';
	CHECK_INT(lines, 31); /* the searches above, each once */
	CHECK(strstr(log, "\"who\":\"test\",\"tenant\":2,\"query\":\"alpha-marker | stats count()\","
			  "\"results\":1,\"status\":0}") != NULL);
	free(log);
}

static void test_erase_makes_copies_unreadable(void)
{
	struct store_erase_stats es;
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char cmd[2000];

	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	import(st, 5, 200, "gamma-marker");
	snprintf(cmd, sizeof(cmd), "rm -rf %s/copy && cp -r %s/tenants/5 %s/copy", dir, dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(store_erase(st, 5, &es, &e), 0);
	CHECK_INT(es.events, 200);
	CHECK_INT(es.files, 1);
	CHECK(es.key_destroyed);
	CHECK_INT(es.first_day, es.last_day);
	/* nothing left to search */
	CHECK_INT(search(st, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	/* the copy taken before the erasure, put back: unreadable without the key */
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tenants/5 && cp %s/copy/*.seg %s/tenants/5/", dir,
		 dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK(search(st, 5, "gamma-marker", ALL, &ss, &e) < 0);
	CHECK(strstr(e.msg, "no data key") != NULL);
	/* an import does not make a new key beside segments that the lost one wrote */
	{
		struct store_import *imp = NULL;
		char key[700];

		CHECK_INT(store_import_begin(st, 5, &imp, &e), -ENOENT);
		CHECK(imp == NULL);
		CHECK(strstr(e.msg, "/keys/tenant-5.key is missing but the tenant holds stored "
				    "data (") && strstr(e.msg, "/tenants/5/") &&
		      strstr(e.msg, ".seg): restore keys/ from its backup (docs/store.md, Keys)"));
		snprintf(key, sizeof(key), "%s/keys/tenant-5.key", dir);
		CHECK_INT(access(key, F_OK), -1);
	}
	/*
	 * nor does the copy open with the tenant's next key, made once its directory holds no
	 * segment (the copies' numbers reserved meanwhile); its bytes are its own
	 */
	snprintf(cmd, sizeof(cmd), "cd %s/tenants/5 && for f in *.seg; do rm \"$f\" && "
		 "touch \".$f.lock\"; done", dir);
	CHECK_INT(system(cmd), 0);
	CHECK(import(st, 5, 10, "new") < es.bytes);
	snprintf(cmd, sizeof(cmd), "rm %s/tenants/5/.*.lock && cp %s/copy/*.seg %s/tenants/5/",
		 dir, dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK(search(st, 5, "gamma-marker", ALL, &ss, &e) < 0);
	CHECK(strstr(e.msg, ".seg") != NULL);
	/* an event without @timestamp is stored under the import's day and found */
	{
		struct store_import *imp;
		struct arena a;
		struct event ev;

		arena_init(&a, 4096, 1 << 20);
		event_init(&ev, &a);
		CHECK_INT(event_set_str(&ev, FIELD_EVENT_ORIGINAL, "no time here", 12), 0);
		CHECK_INT(store_import_begin(st, 6, &imp, &e), 0);
		CHECK_INT(store_import_add(imp, &ev, &e), 0);
		CHECK_INT(store_import_finish(imp, NULL, &e), 0);
		CHECK_INT(search(st, 6, "\"no time\" | stats count()", ALL, &ss, &e), 0);
		CHECK_STR(out.p, "{\"count\":1}\n");
		CHECK_INT(search(st, 6, "| stats count()", T0, T0 + DAY, &ss, &e), 0);
		CHECK_STR(out.p, "{\"count\":0}\n");
		arena_release(&a);
	}
	/* erasing a tenant that never stored anything is no error */
	CHECK_INT(store_erase(st, 77, &es, &e), 0);
	CHECK(!es.key_destroyed);
	store_close(st);
}

/* Flips the byte at offset of path (from the end when negative). */
static void flip_byte(const char *path, long offset)
{
	FILE *f = fopen(path, "r+b");
	int c;

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(fseek(f, offset, offset < 0 ? SEEK_END : SEEK_SET), 0);
	c = fgetc(f);
	CHECK_INT(fseek(f, -1, SEEK_CUR), 0);
	CHECK_INT(fputc(c ^ 0xff, f), c ^ 0xff);
	CHECK_INT(fclose(f), 0);
}

/* A damaged segment, a foreign one, temporary and lock files: none stops an erasure. */
static void test_erase_damaged_and_foreign(void)
{
	struct store_erase_stats es;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char path[900], cmd[4000];
	struct stat sb;

	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	import(st, 11, 200, "eleven");
	import(st, 11, 30, "eleven-again"); /* a second segment of the same day */
	import(st, 12, 10, "twelve");
	snprintf(path, sizeof(path), "%s/tenants/11/2026-12-01-0001.seg", dir);
	flip_byte(path, 8); /* the header: the segment no longer opens */
	snprintf(cmd, sizeof(cmd), "cp %s/tenants/12/2026-12-01-0001.seg "
		 "%s/tenants/11/2026-12-02-0001.seg && "
		 "echo x > %s/tenants/11/.2026-12-03-0001.seg.tmp && "
		 ": > %s/tenants/11/.2026-12-03-0001.seg.lock", dir, dir, dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(store_erase_count(st, 11, &es, &e), 0);
	CHECK_INT(es.files, 5);
	CHECK_INT(es.unreadable, 2); /* the damaged one and tenant 12's */
	CHECK_INT(es.events, 30);
	CHECK(es.has_key);
	CHECK(!es.key_destroyed);
	CHECK_INT(es.first_day, (uint32_t)(T0 / DAY));
	CHECK_INT(es.last_day, (uint32_t)(T0 / DAY) + 1);
	CHECK_INT(store_erase(st, 11, &es, &e), 0);
	CHECK_INT(es.files, 5);
	CHECK_INT(es.unreadable, 2);
	CHECK_INT(es.events, 30);
	CHECK(es.key_destroyed);
	snprintf(path, sizeof(path), "%s/tenants/11", dir);
	CHECK_INT(stat(path, &sb), -1);
	CHECK_INT(errno, ENOENT);
	snprintf(path, sizeof(path), "%s/keys/tenant-11.key", dir);
	CHECK_INT(stat(path, &sb), -1);
	/* tenant 12 is untouched */
	CHECK_INT(store_erase_count(st, 12, &es, &e), 0);
	CHECK_INT(es.events, 10);
	CHECK_INT(es.unreadable, 0);

	/* a key made after the count is not destroyed under a certificate that does not name it */
	CHECK_INT(store_erase_count(st, 13, &es, &e), 0);
	CHECK(!es.has_key);
	import(st, 13, 10, "thirteen");
	CHECK_INT(store_erase_key(st, 13, &es, &e), -ESTALE);
	CHECK(strstr(e.msg, "nothing was erased") != NULL);
	CHECK(!es.key_destroyed);
	snprintf(path, sizeof(path), "%s/keys/tenant-13.key", dir);
	CHECK_INT(stat(path, &sb), 0);

	/* a file that cannot be removed: the others are, the first failure is named */
	CHECK_INT(store_erase_count(st, 13, &es, &e), 0);
	CHECK_INT(store_erase_key(st, 13, &es, &e), 0);
	CHECK(es.key_destroyed);
	snprintf(path, sizeof(path), "%s/tenants/13/sub", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(store_erase_files(st, 13, &e), -EISDIR);
	CHECK(strstr(e.msg, "cannot remove") != NULL && strstr(e.msg, "/tenants/13/sub") != NULL);
	snprintf(path, sizeof(path), "%s/tenants/13/2026-12-01-0001.seg", dir);
	CHECK_INT(stat(path, &sb), -1);
	snprintf(path, sizeof(path), "%s/tenants/13/sub", dir);
	CHECK_INT(rmdir(path), 0);
	CHECK_INT(store_erase_files(st, 13, &e), 0);
	snprintf(path, sizeof(path), "%s/tenants/13", dir);
	CHECK_INT(stat(path, &sb), -1);
	store_close(st);
}

/* Replaces the tenant's data key file with len bytes of data (mode 0600). */
static void put_key(uint64_t tenant, const void *data, size_t len)
{
	char path[700];
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/tenant-%llu.key", dir, (unsigned long long)tenant);
	CHECK((f = fopen(path, "w")) != NULL);
	if (!f)
		return;
	CHECK_INT(fwrite(data, 1, len, f), len);
	CHECK_INT(fclose(f), 0);
	CHECK_INT(chmod(path, 0600), 0);
}

/*
 * A key file whose content is damaged does not stop an erasure: it is destroyed, named by
 * the hash of its bytes. One that cannot be read (a directory in its place) does, with
 * nothing erased: the key may be whole.
 */
static void test_erase_damaged_key(void)
{
	static const char garbage[] = "not a key at all";
	unsigned char want[32];
	struct store_erase_stats es;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char path[900], seg[900];
	struct stat sb;

	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	import(st, 21, 20, "twenty-one");
	import(st, 22, 20, "twenty-two");
	put_key(21, garbage, sizeof(garbage) - 1);
	crypto_generichash(want, 32, (const unsigned char *)garbage, sizeof(garbage) - 1,
			   NULL, 0);
	CHECK_INT(store_erase_count(st, 21, &es, &e), 0);
	CHECK(es.has_key && es.key_damaged && !es.key_destroyed);
	CHECK(!memcmp(es.key_id_hash, want, 32));
	CHECK_INT(es.files, 1);
	CHECK_INT(es.unreadable, 1); /* the segment does not open without its key */
	CHECK_INT(es.events, 0);
	/* the damaged file changed since it was counted: nothing is destroyed */
	put_key(21, garbage, sizeof(garbage) - 2);
	CHECK_INT(store_erase_key(st, 21, &es, &e), -ESTALE);
	CHECK(!es.key_destroyed);
	put_key(21, garbage, sizeof(garbage) - 1);
	CHECK_INT(store_erase(st, 21, &es, &e), 0);
	CHECK(es.key_destroyed && es.key_damaged);
	CHECK(!memcmp(es.key_id_hash, want, 32));
	snprintf(path, sizeof(path), "%s/keys/tenant-21.key", dir);
	CHECK_INT(stat(path, &sb), -1);
	snprintf(path, sizeof(path), "%s/tenants/21", dir);
	CHECK_INT(stat(path, &sb), -1);

	/* a directory in place of the key file: refused by the count, nothing erased */
	snprintf(path, sizeof(path), "%s/keys/tenant-22.key", dir);
	snprintf(seg, sizeof(seg), "%s/keys/tenant-22.moved", dir);
	CHECK_INT(rename(path, seg), 0);
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(store_erase_count(st, 22, &es, &e), -EINVAL);
	CHECK(strstr(e.msg, "/keys/tenant-22.key: not a regular file (the tenant's data key may "
			    "be whole but cannot be read: nothing was erased; fix this and erase "
			    "again)") != NULL);
	CHECK_INT(store_erase(st, 22, &es, &e), -EINVAL);
	CHECK(!es.key_destroyed);
	CHECK_INT(rmdir(path), 0);
	CHECK_INT(rename(seg, path), 0);
	snprintf(seg, sizeof(seg), "%s/tenants/22/2026-12-01-0001.seg", dir);
	CHECK_INT(stat(seg, &sb), 0);
	CHECK_INT(store_erase_count(st, 22, &es, &e), 0);
	CHECK(es.has_key && !es.key_damaged);
	CHECK_INT(es.events, 20);
	store_close(st);
}

static int count_segment(void *ctx, const struct store_segment_report *r)
{
	uint64_t *raw = ctx;

	*raw += r->raw_bytes;
	return 0;
}

/* Retention drops whole days, oldest first, of the tenant given only; a dry run only counts. */
/* The first result removes the oldest day's segments, as retention would meanwhile. */
struct remove_ctx {
	char path[800];
	uint64_t events;
};

static int remove_oldest(void *ctx, const struct event *ev)
{
	struct remove_ctx *r = ctx;

	if (!r->events++)
		CHECK_INT(unlink(r->path), 0);
	return 0;
}

static void test_segment_removed_during_search(void)
{
	struct remove_ctx r = { .events = 0 };
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	struct store_search s = { .tenant = 5, .query = "*", .query_len = 1, .from = INT64_MIN,
				  .to = INT64_MAX, .now = T0 + 10 * DAY, .who = "test",
				  .event_fn = remove_oldest, .ctx = &r };

	snprintf(dir, sizeof(dir), "%s/removed", t_tmp_dir());
	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	import(st, 5, N_ALPHA, "alpha"); /* days T0, T0+1, T0+2: 1005, 1005 and 990 events */
	snprintf(r.path, sizeof(r.path), "%s/tenants/5/2026-12-01-0001.seg", dir);
	/* newest first: T0+2 and T0+1 are read, T0's file is gone when its turn comes */
	CHECK_INT(store_search(st, &s, &ss, &e), 0);
	CHECK_INT(r.events, 990 + 1005);
	store_close(st);
}

/* Mappings of this process of files under dir (/proc/self/maps). */
static int mapped(const char *under)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1200];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, under) != NULL;
	fclose(f);
	return n;
}

/*
 * A handle keeps segments open between searches: what another handle (or process) changes
 * meanwhile is seen at the next search, never a stale copy. A segment removed and written
 * again under the same name (same key), an erasure, a new key under the same name, and a
 * segment added to a directory whose listing the handle keeps.
 */
static void test_search_cache_sees_changes(void)
{
	struct store_erase_stats es;
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *a = NULL, *b = NULL;

	snprintf(dir, sizeof(dir), "%s/cache", t_tmp_dir());
	CHECK_INT(store_open(&a, dir, &e), 0);
	CHECK_INT(store_open(&b, dir, &e), 0);
	if (!a || !b)
		goto out;
	import(b, 5, 100, "first");
	CHECK_INT(search(a, 5, "first | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":100}\n");
	CHECK_INT(search(a, 5, "first | stats count()", ALL, &ss, &e), 0); /* from the cache */
	CHECK_STR(out.p, "{\"count\":100}\n");
	/* removed and written again by b: the same name, another file */
	CHECK_INT(store_segment_remove(b, 5, (uint32_t)(T0 / DAY), 1, &e), 0);
	import(b, 5, 40, "second");
	CHECK_INT(search(a, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":40}\n");
	CHECK_INT(search(a, 5, "first | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	/* erased by b: a's idle call unmaps the erased files; nothing is found; then a new key
	 * and new events under the same name */
	CHECK_INT(store_erase(b, 5, &es, &e), 0);
	CHECK(mapped(dir) > 0);
	store_release_idle(a);
	CHECK_INT(mapped(dir), 0);
	CHECK_INT(search(a, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":0}\n");
	import(b, 5, 7, "third");
	CHECK_INT(search(a, 5, "third | stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":7}\n");
	/* a listing kept (the directory settled for a second) is read again once it changes */
	nanosleep(&(struct timespec){ 1, 200000000 }, NULL);
	CHECK_INT(search(a, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":7}\n");
	CHECK_INT(search(a, 5, "| stats count()", ALL, &ss, &e), 0); /* from the listing */
	CHECK_STR(out.p, "{\"count\":7}\n");
	import(b, 5, 3, "fourth");
	CHECK_INT(search(a, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":10}\n");
out:
	store_close(a);
	store_close(b);
}

static void test_retain_whole_days(void)
{
	struct store_retain_stats rs;
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char path[800];
	uint64_t raw = 0;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/retain", t_tmp_dir());
	CHECK_INT(store_open(&st, dir, &e), 0);
	if (!st)
		return;
	import(st, 5, N_ALPHA, "alpha"); /* days T0, T0+1, T0+2: 1005, 1005 and 990 events */
	import(st, 7, N_ALPHA, "other");
	CHECK_INT(store_segments(st, 5, false, count_segment, &raw, &e), 0);
	CHECK(raw > (uint64_t)N_ALPHA * 40); /* the raw lines are about 60 bytes */

	/* keep_days 0: keep forever; more days than exist: nothing to drop */
	CHECK_INT(store_retain(st, 5, 0, T0 + 100 * DAY, false, &rs, &e), 0);
	CHECK_INT(rs.segments, 0);
	CHECK_INT(store_retain(st, 5, 4, T0 + 3 * DAY, false, &rs, &e), 0);
	CHECK_INT(rs.segments, 0);
	CHECK_INT(rs.cutoff, (uint32_t)(T0 / DAY) + 0);

	/* today is T0+3: keeping 2 days keeps T0+2 and T0+3 */
	CHECK_INT(store_retain(st, 5, 2, T0 + 3 * DAY + 5 * 3600 * NS_PER_SEC, true, &rs, &e), 0);
	CHECK_INT(rs.days, 2);
	CHECK_INT(rs.segments, 2);
	CHECK_INT(rs.events, 2010);
	CHECK(rs.bytes > 0);
	CHECK_INT(rs.first_day, (uint32_t)(T0 / DAY));
	CHECK_INT(rs.last_day, (uint32_t)(T0 / DAY) + 1);
	CHECK_INT(search(st, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":3000}\n"); /* a dry run removes nothing */

	/* a damaged segment of an old day is dropped too, counted as unreadable */
	snprintf(path, sizeof(path), "%s/tenants/5/2026-11-01-0001.seg", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("not a segment", f);
		fclose(f);
	}
	CHECK_INT(store_retain(st, 5, 2, T0 + 3 * DAY + 5 * 3600 * NS_PER_SEC, false, &rs, &e), 0);
	CHECK_INT(rs.days, 3);
	CHECK_INT(rs.segments, 3);
	CHECK_INT(rs.events, 2010);
	CHECK_INT(rs.unreadable, 1);
	CHECK_INT(rs.first_day, (uint32_t)(T0 / DAY) - 30);
	CHECK_INT(search(st, 5, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":990}\n");
	CHECK_INT(ss.segments, 1);
	/* again: nothing left to drop */
	CHECK_INT(store_retain(st, 5, 2, T0 + 3 * DAY, false, &rs, &e), 0);
	CHECK_INT(rs.segments, 0);
	/* the other tenant is untouched */
	CHECK_INT(search(st, 7, "| stats count()", ALL, &ss, &e), 0);
	CHECK_STR(out.p, "{\"count\":3000}\n");
	/* a tenant with nothing stored */
	CHECK_INT(store_retain(st, 99, 1, T0 + 3 * DAY, false, &rs, &e), 0);
	CHECK_INT(rs.segments, 0);
	/* a tenant whose data key is gone: its old days are still dropped, not counted */
	import(st, 8, N_ALPHA, "keyless");
	snprintf(path, sizeof(path), "%s/keys/tenant-8.key", dir);
	CHECK_INT(remove(path), 0);
	CHECK_INT(store_retain(st, 8, 1, T0 + 3 * DAY, false, &rs, &e), 0);
	CHECK_INT(rs.segments, 3);
	CHECK_INT(rs.unreadable, 3);
	CHECK_INT(rs.events, 0);
	store_close(st);
}

static int mode_in(const char *data, const char *name)
{
	char path[800];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", data, name);
	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
}

/*
 * Keys are made only for a data directory that holds no stored data yet; one whose keys/
 * was lost is refused, by readers and writers alike, and nothing is made in its place.
 */
static void test_keys_only_for_a_new_data_dir(void)
{
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	char data[700], cmd[2000];

	snprintf(data, sizeof(data), "%s/firstuse", t_tmp_dir());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", data, data);
	CHECK_INT(system(cmd), 0);
	/* reading a new data directory makes nothing and finds nothing */
	CHECK_INT(store_open_keys(&st, data, NULL, false, &e), 0);
	if (st) {
		CHECK_INT(search(st, 1, "| stats count()", ALL, &ss, &e), 0);
		CHECK_STR(out.p, "{\"count\":0}\n");
		store_close(st);
	}
	CHECK_INT(mode_in(data, "keys"), -1);
	CHECK_INT(mode_in(data, "tenants"), -1);
	/* the first writer makes them */
	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return;
	CHECK_INT(mode_in(data, "keys"), 0700);
	CHECK_INT(mode_in(data, "keys/master.key"), 0600);
	CHECK_INT(mode_in(data, "keys/signing.key"), 0600);
	import(st, 1, 10, "first");
	CHECK_INT(mode_in(data, "keys/tenant-1.key"), 0600);
	store_close(st);

	/* keys/ lost: refused, naming the file, the data found and what to do */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/keys'", data);
	CHECK_INT(system(cmd), 0);
	for (int write = 0; write < 2; write++) {
		CHECK_INT(store_open_keys(&st, data, NULL, write, &e), -ENOENT);
		CHECK(st == NULL);
		CHECK(!strncmp(e.msg, data, strlen(data)) &&
		      !strncmp(e.msg + strlen(data), "/keys/master.key is missing but ", 32));
		CHECK(strstr(e.msg, " holds stored data (") && strstr(e.msg, "/tenants/1/") &&
		      strstr(e.msg, ".seg): restore keys/ from its backup (docs/store.md, Keys), "
				    "or name the key files in the configuration"));
		CHECK_INT(mode_in(data, "keys"), -1);
	}
	/* also when only the write-ahead log holds records */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/tenants/1' && mkdir -p '%s/wal/shard-00' && "
		 "head -c 60 /dev/zero >'%s/wal/shard-00/0000000000000001.wal'", data, data, data);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(store_open(&st, data, &e), -ENOENT);
	CHECK(strstr(e.msg, "holds stored data (") &&
	      strstr(e.msg, "/wal/shard-00/0000000000000001.wal): restore keys/"));
	CHECK_INT(mode_in(data, "keys"), -1);
	/* a log file with only its header (24 bytes) holds no record: a new data directory */
	snprintf(cmd, sizeof(cmd), "%s/wal/shard-00/0000000000000001.wal", data);
	CHECK_INT(truncate(cmd, 24), 0);
	CHECK_INT(store_open(&st, data, &e), 0);
	store_close(st);
	CHECK_INT(mode_in(data, "keys/master.key"), 0600);
}

int main(void)
{
	buf_init(&out, 1 << 20);
	T_RUN(test_import_and_search);
	T_RUN(test_blocks_and_order);
	T_RUN(test_index_strings);
	T_RUN(test_range_push_down);
	T_RUN(test_ipv6_text);
	T_RUN(test_tenant_isolation);
	T_RUN(test_audit_log);
	T_RUN(test_erase_makes_copies_unreadable);
	T_RUN(test_erase_damaged_and_foreign);
	T_RUN(test_erase_damaged_key);
	T_RUN(test_segment_removed_during_search);
	T_RUN(test_search_cache_sees_changes);
	T_RUN(test_retain_whole_days);
	T_RUN(test_keys_only_for_a_new_data_dir);
	buf_release(&out);
	return t_done();
}
