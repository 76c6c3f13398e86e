/*
 * Unit tests of the sealer: WAL records into segments, searches that see unsealed records
 * exactly once, crash points between the steps of a generation (a child process exits there,
 * the next start recovers), erased tenants, reading the log from outside (wal_scan) and
 * segment numbers of concurrent importers.
 */
#include "store/seal.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/ecs.h"
#include "store/backup.h"
#include "store/evcodec.h"
#include "store/keys.h"
#include "store/store.h"
#include "store/wal.h"
#include "t.h"
#include "t_store.h"

#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 INT64_C(1796083200000000000) /* 2026-12-01T00:00:00Z */
#define LINES 20                        /* events per record */

static char data[600], waldir[700];
static struct buf out;

static unsigned lanes = 1; /* the sealer's lanes: the suite runs with 1, then 3 */

static void fresh(const char *name)
{
	snprintf(data, sizeof(data), "%s/%s-lanes%u", t_tmp_dir(), name, lanes);
	snprintf(waldir, sizeof(waldir), "%s/wal", data);
	mkdir(data, 0750);
}

static int start(struct seal **s, struct wal *w, struct err *e)
{
	return seal_start_files(s, data, NULL, w, lanes, e);
}

/* Destroys tenant's data key, as an erasure does. */
static void destroy_key(uint64_t tenant)
{
	unsigned char hash[32];
	char kdir[700];
	struct keys *k = NULL;
	struct err e = ERR_INIT;

	snprintf(kdir, sizeof(kdir), "%s/keys", data);
	CHECK_INT(keys_open(&k, kdir, KEYS_READ, &e), 0);
	if (k)
		CHECK_INT(keys_tenant_destroy(k, tenant, hash, NULL, NULL, &e), 0);
	keys_close(k);
}

static struct wal *open_wal(unsigned shards, size_t file_max)
{
	struct wal_config c = { .dir = waldir, .shards = shards, .file_max_bytes = file_max };
	struct err e = ERR_INIT;
	struct wal *w = NULL;

	CHECK_INT(wal_open(&w, &c, &e), 0);
	return w;
}

/* The tenant's data key, made when missing (as the serve sink does). */
static void tenant_key(uint64_t tenant, struct keys_data_key *dk)
{
	char kdir[700];
	struct keys *k = NULL;
	struct err e = ERR_INIT;

	snprintf(kdir, sizeof(kdir), "%s/keys", data);
	CHECK_INT(keys_open(&k, kdir, KEYS_CREATE, &e), 0);
	if (k)
		CHECK_INT(keys_tenant(k, tenant, true, dk, &e), 0);
	keys_close(k);
}

/* ECS JSON lines into a binary event batch, as the sink writes records. */
static void to_batch(const struct buf *lines, struct buf *batch)
{
	const char *p = lines->p, *end = p + lines->len;
	struct evcodec_writer w;
	struct err e = ERR_INIT;
	struct arena a;

	evcodec_writer_init(&w);
	arena_init(&a, 1 << 16, 1 << 20);
	buf_reset(batch);
	CHECK_INT(evcodec_begin(&w, batch), 0);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct event ev;

		arena_clear(&a);
		event_init(&ev, &a);
		CHECK_INT(ecs_decode(&ev, p, (size_t)(nl - p), &e), 0);
		CHECK_INT(evcodec_add(&w, batch, &ev), 0);
		p = nl + 1;
	}
	CHECK_INT(evcodec_finish(&w, batch), 0);
	arena_release(&a);
	evcodec_writer_release(&w);
}

/*
 * Records of events first .. first + n * LINES - 1 of tenant, sealed, over days days; want:
 * what wal_append returns (-EIO: a commit made to fail, not waited for).
 */
static void append_text(struct wal *w, unsigned shard, uint64_t tenant, int first, int n,
			int days, const char *more, int want)
{
	struct keys_data_key dk;
	struct buf lines = BUF_INIT(1 << 20), batch = BUF_INIT(1 << 20);
	unsigned char *sealed;
	struct err e = ERR_INIT;
	uint64_t lsn;

	tenant_key(tenant, &dk);
	sealed = mem_alloc((1 << 20) + KEYS_SEAL_OVERHEAD);
	for (int r = 0; r < n; r++) {
		buf_reset(&lines);
		for (int i = 0; i < LINES; i++) {
			int seq = first + r * LINES + i;
			char when[TIME_RFC3339_LEN];

			time_format_rfc3339(T0 + (int64_t)(seq % days) * 86400 * NS_PER_SEC +
						    (int64_t)seq * NS_PER_SEC, when);
			CHECK_INT(buf_addf(&lines, "{\"@timestamp\":\"%s\",\"event\":{\"original\":"
					   "\"fw seq=%d tenant%llu%s\"},\"source\":{\"ip\":"
					   "\"10.0.0.%d\"}}\n", when, seq,
					   (unsigned long long)tenant, more, seq % 7), 0);
		}
		to_batch(&lines, &batch);
		CHECK_INT(keys_seal(&dk, WAL_SEAL_BLOCK_ID, batch.p, batch.len, sealed), 0);
		CHECK_INT(wal_append(w, shard, tenant, LINES, WAL_FLAG_SEALED | WAL_FLAG_EVCODEC,
				     sealed, batch.len + KEYS_SEAL_OVERHEAD, &lsn, &e), want);
		if (!want)
			CHECK_INT(wal_wait_durable(w, shard, lsn, -1), 0);
	}
	mem_free(sealed);
	buf_release(&lines);
	buf_release(&batch);
}

/* Two days: a segment each. */
static void append(struct wal *w, unsigned shard, uint64_t tenant, int first, int n)
{
	append_text(w, shard, tenant, first, n, 2, "", 0);
}

static int on_event(void *ctx, const struct event *ev)
{
	const char *p;
	size_t n;

	if (!out.len && event_get_str(ev, FIELD_EVENT_ORIGINAL, &p, &n) == 1)
		return buf_add(&out, p, n);
	return buf_addch(&out, 'e');
}

static int on_row(void *ctx, const struct agg_row *row)
{
	int rc = agg_row_write_json(row, &out);

	return rc ? rc : buf_addch(&out, '\n');
}

/* count() of q over the tenant, in a store of its own (as another process would). */
static long count(uint64_t tenant, const char *q, struct store_search_stats *ss)
{
	struct store_search s = { .tenant = tenant, .query = q, .query_len = strlen(q),
				  .from = INT64_MIN, .to = INT64_MAX, .now = T0, .who = "test",
				  .event_fn = on_event, .row_fn = on_row };
	struct store *st = NULL;
	struct err e = ERR_INIT;
	long n = -1;
	int rc;

	buf_reset(&out);
	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return -1;
	rc = store_search(st, &s, ss, &e);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "search: %s\n", e.msg);
	if (!rc && sscanf(out.p, "{\"count\":%ld}", &n) != 1)
		n = 0;
	store_close(st);
	return n;
}

static long total(uint64_t tenant)
{
	return count(tenant, "| stats count()", NULL);
}

/* Files of the tenant's directory whose name contains part. */
static int files_with(uint64_t tenant, const char *part)
{
	char dir[800];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tenants/%llu", data, (unsigned long long)tenant);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, part))
			n++;
	if (d)
		closedir(d);
	return n;
}

static bool exists(const char *name)
{
	char path[800];

	snprintf(path, sizeof(path), "%s/%s", data, name);
	return access(path, F_OK) == 0;
}

static void test_search_sees_unsealed(void)
{
	struct store_search_stats ss;
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	fresh("unsealed");
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 10);
	append(w, 1, 1, 200, 5);
	append(w, 1, 2, 0, 3);
	{ /* a clear-text record (flags 0) with escapes */
		static const char lines[] =
			"{\"@timestamp\":\"2026-12-01T00:00:01Z\",\"event\":{\"original\":"
			"\"fw \\u0073eq=77 \\u0045scaped\"},\"source\":{\"ip\":\"10.9.9.9\"}}\n"
			"{\"@timestamp\":\"2026-12-01T00:00:02Z\",\"event\":{\"original\":"
			"\"fw seq=78 escaped \\\"quoted\\\"\"}}\n";
		uint64_t lsn;

		tenant_key(7, &(struct keys_data_key){ 0 });
		CHECK_INT(wal_append(w, 0, 7, 2, 0, lines, sizeof(lines) - 1, &lsn, &e), 0);
	}
	wal_close(w);
	/* no sealer yet: everything comes from the WAL */
	CHECK_INT(total(1), 15 * LINES);
	CHECK_INT(total(2), 3 * LINES);
	CHECK_INT(count(1, "\"seq=207\" | stats count()", &ss), 1);
	CHECK_INT(ss.segments, 0);
	/* lines without the query's words are not decoded; case does not matter */
	CHECK_INT(count(1, "\"SEQ=207 Tenant1\" | stats count()", &ss), 1);
	CHECK_INT(count(1, "source.ip: 10.0.0.3 | stats count()", &ss), 43);
	CHECK_INT(count(1, "source.ip: 10.0.0.3 and \"seq=38 \" | stats count()", &ss), 1);
	CHECK_INT(count(1, "not source.ip: 10.0.0.3 | stats count()", &ss), 300 - 43);
	/* a word spelled with a JSON escape in the WAL is found all the same */
	CHECK_INT(count(7, "\"seq=77 escaped\" | stats count()", &ss), 1);
	CHECK_INT(count(7, "source.ip: 10.9.9.9 | stats count()", &ss), 1);
	CHECK_INT(count(7, "Escaped | stats count()", &ss), 2);
	/* ranges of numbers and addresses skip no WAL line */
	CHECK_INT(count(7, "source.ip: 10.9.0.0/16 | stats count()", &ss), 1);
	CHECK_INT(count(1, "source.ip: 10.0.0.2/31 | stats count()", &ss), 86);
	/* newest first: the last line of the last record of a shard comes first */
	CHECK_INT(count(1, "| head 1", NULL), 0);
	CHECK_STR(out.p, "fw seq=299 tenant1");
	/*
	 * Tenant 1's 15 records are read once by a search, also by one naming a field no
	 * event has (its names pass keeps them for the search; it read them twice), or one
	 * naming it beside a known field, and whatever the filter finds.
	 */
	CHECK_INT(count(1, "\"seq=207\" | stats count()", &ss), 1);
	CHECK_INT(ss.wal_records, 15);
	CHECK_INT(count(1, "no.such.field: x | stats count()", &ss), 0);
	CHECK_INT(ss.wal_records, 15);
	CHECK_INT(count(1, "\"seq=207\" or no.such.field: x | stats count()", &ss), 1);
	CHECK_INT(ss.wal_records, 15);
	CHECK_INT(count(1, "| stats count() by no.such.field", &ss), 0);
	CHECK_INT(ss.wal_records, 15);
	CHECK_INT(count(2, "no.such.field: x | stats count()", &ss), 0);
	CHECK_INT(ss.wal_records, 3);

	w = open_wal(2, 0);
	if (!w)
		return;
	CHECK_INT(start(&s, w, &e), 0);
	if (!s) {
		wal_close(w);
		return;
	}
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.sealed_events, 18 * LINES + 2);
	CHECK_INT(st.backlog_events, 0);
	CHECK(st.generation >= 1);
	CHECK_INT(st.sealed_segments, 5); /* tenants 1 and 2: two days each; tenant 7: one */
	CHECK_INT(count(7, "\"seq=77 escaped\" | stats count()", NULL), 1);
	CHECK_INT(total(1), 15 * LINES);
	CHECK_INT(count(1, "\"seq=207\" | stats count()", &ss), 1);
	CHECK_INT(ss.segments, 2);
	/* sealed: the same, and an address range no block holds reads none */
	CHECK_INT(count(7, "source.ip: 10.9.0.0/16 | stats count()", &ss), 1);
	CHECK_INT(count(1, "source.ip: 10.0.0.2/31 | stats count()", &ss), 86);
	CHECK_INT(count(1, "source.ip >= 10.0.0.7 | stats count()", &ss), 0);
	CHECK_INT(ss.blocks_read, 0);
	CHECK_INT(total(2), 3 * LINES);
	CHECK(exists("seal.state"));
	CHECK(!exists("seal.journal"));

	/* more while the sealer runs: found exactly once, sealed or not */
	append(w, 0, 1, 1000, 4);
	seal_stats(s, &st); /* durable, read or not: no generation commits for 60 s */
	CHECK_INT(st.backlog_events, 4 * LINES);
	CHECK_INT(total(1), 19 * LINES);
	/* sealed and unsealed at once: 1003 to 1073 and 1004 to 1074 by 7 from the WAL */
	CHECK_INT(count(1, "source.ip: 10.0.0.2/31 | stats count()", &ss), 86 + 22);
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.backlog_events, 0);
	CHECK_INT(total(1), 19 * LINES);
	append(w, 1, 1, 2000, 1);
	seal_stop(s); /* seals what is durable */
	CHECK_INT(total(1), 20 * LINES);
	wal_close(w);
	CHECK_INT(files_with(1, ".tmp"), 0);
	CHECK_INT(files_with(1, ".lock"), 0);
}

/*
 * Full-text words and phrases match whole tokens, so a query finds the same events in the
 * WAL (its prefilter looks for bytes) as in segments (their blooms hold tokens): `tenant`
 * found every unsealed "fw seq=N tenant1" as a substring, and none once sealed.
 */
static void test_same_results_sealed_or_not(void)
{
	static const struct {
		const char *q;
		long n;
	} cases[] = {
		{ "tenant1", 100 },     { "TENANT1", 100 },      { "tenant", 0 },
		{ "enant1", 0 },        { "seq", 100 },          { "*enant*", 100 },
		{ "tenan*", 100 },      { "*nant1", 100 },       { "*nant", 0 },
		{ "\"seq=9\"", 1 },     { "seq=9*", 11 },        { "\"fw seq\"", 100 },
		{ "\"w seq\"", 0 },     { "\"seq=9 tenant1\"", 1 }, { "\"seq=9 tenant\"", 0 },
		/* '-' and ':' separate tokens; an IPv6 address is several */
		{ "mimikatz", 100 },    { "invoke", 100 },       { "voke", 0 },
		{ "192.0.2.9", 100 },   { "\"192.0.2.9:8443\"", 100 }, { "192.0.2.90", 0 },
		{ "outside", 100 },     { "\"2001:db8::7\"", 100 }, { "db8", 100 },
		{ "\"2001:db8::70\"", 0 }, { "\"db8::7\"", 100 },
		/* a '.' at a token's edge separates */
		{ "evil.example.com", 100 }, { "example.com", 0 }, { "\"com.\"", 0 },
	};
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;
	char q[64];

	fresh("tokens");
	w = open_wal(1, 0);
	if (!w)
		return;
	append_text(w, 0, 1, 0, 5, 2,
		    " Invoke-Mimikatz outside:192.0.2.9:8443 2001:db8::7 evil.example.com.", 0);
	for (int sealed = 0; sealed < 2; sealed++) {
		if (sealed) {
			CHECK_INT(start(&s, w, &e), 0);
			if (!s)
				break;
			CHECK_INT(seal_now(s, &e), 0);
			seal_stop(s);
		}
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			long n;

			snprintf(q, sizeof(q), "%s | stats count()", cases[i].q);
			n = count(1, q, &ss);
			t_check(n == cases[i].n, __FILE__, __LINE__, "%s, %s: %ld events, not %ld",
				cases[i].q, sealed ? "sealed" : "in the WAL", n, cases[i].n);
			CHECK_INT(ss.segments, sealed ? 2 : 0);
		}
	}
	wal_close(w);
}

/* A child seals and exits at step; the parent checks searches, then recovers. */
/* A sealer started in a child on the WAL (shards), crashing at step (_exit(99)). */
static void crash_in_child(unsigned shards, int step)
{
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		w = open_wal(shards, 0);
		seal_test_crash_at(step);
		if (w && start(&s, w, &e) == 0)
			(void)seal_now(s, &e);
		_exit(1); /* the crash point was not reached */
	}
	CHECK(pid > 0);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 99);
}

static void crash_at(int step)
{
	struct err e = ERR_INIT;
	struct seal_stats st;
	struct seal *s = NULL;
	char name[32];
	struct wal *w;
	int locks;

	snprintf(name, sizeof(name), "crash%d", step);
	fresh(name);
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 6);
	append(w, 1, 1, 500, 2);
	append(w, 1, 2, 0, 2);
	wal_close(w);
	crash_in_child(2, step);
	/* whatever the step: every event found once, before and after recovery */
	CHECK_INT(total(1), 8 * LINES);
	CHECK_INT(total(2), 2 * LINES);
	CHECK_INT(exists("seal.journal"), step < 4);
	w = open_wal(2, 0);
	if (!w)
		return;
	CHECK_INT(start(&s, w, &e), 0);
	if (s && step >= 3) {
		/*
		 * Committed before the crash, the records still in the WAL past its checkpoint
		 * (step 3: the state written, no checkpoint): not in the backlog, from the start.
		 */
		seal_stats(s, &st);
		CHECK_INT(st.backlog_events, 0);
	}
	if (s) {
		CHECK_INT(seal_now(s, &e), 0);
		seal_stats(s, &st);
		/* steps 3 and 4: the generation was committed before the crash */
		CHECK_INT(st.sealed_events, step >= 3 ? 0 : 10 * LINES);
		CHECK_INT(st.backlog_events, 0);
		CHECK_INT(st.generation, 1);
		seal_stop(s);
	}
	wal_close(w);
	CHECK(!exists("seal.journal"));
	CHECK_INT(total(1), 8 * LINES);
	CHECK_INT(total(2), 2 * LINES);
	CHECK_INT(files_with(1, ".tmp") + files_with(2, ".tmp"), 0);
	/*
	 * A crash between a segment number's reservation (its lock file) and its journal line
	 * leaves that empty file: a number skipped, nothing else. At step 1 with lanes, the
	 * other tenant's lane may be in that window when this one's journal line ends it all.
	 */
	locks = files_with(1, ".lock") + files_with(2, ".lock");
	CHECK(locks <= (step == 1 && lanes > 1));
	/* and nothing else (".seg" is also in a lock file's name) */
	CHECK_INT(files_with(1, ".seg") + files_with(2, ".seg") - locks, 4);
}

static void test_crash_points(void)
{
	for (int step = 1; step <= 4; step++)
		crash_at(step);
}

static void test_erased_tenant_skipped(void)
{
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	fresh("erased");
	w = open_wal(1, 0);
	if (!w)
		return;
	append(w, 0, 3, 0, 2);
	append(w, 0, 4, 0, 1);
	destroy_key(3);
	CHECK_INT(total(3), 0); /* unreadable by design, not an error */
	{ /* a record that does not open with its tenant's key: skipped, sealing goes on */
		struct keys_data_key k8, k9;
		unsigned char sealed[64 + KEYS_SEAL_OVERHEAD];
		uint64_t lsn;

		tenant_key(8, &k8);
		tenant_key(9, &k9);
		CHECK_INT(keys_seal(&k8, WAL_SEAL_BLOCK_ID, "{\"message\":\"x\"}\n", 16, sealed), 0);
		CHECK_INT(wal_append(w, 0, 9, 1, WAL_FLAG_SEALED, sealed, 16 + KEYS_SEAL_OVERHEAD,
				     &lsn, &e), 0);
	}
	append(w, 0, 4, 100, 1);
	CHECK_INT(total(9), 0); /* not searched either (logged) */
	CHECK_INT(start(&s, w, &e), 0);
	if (s) {
		CHECK_INT(seal_now(s, &e), 0);
		seal_stats(s, &st);
		CHECK_INT(st.skipped_erased, 2 * LINES);
		CHECK_INT(st.skipped_unreadable, 1);
		CHECK_INT(st.sealed_events, 2 * LINES);
		CHECK_INT(st.backlog_events, 0); /* the skipped ones left it with their generation */
		seal_stop(s);
	}
	wal_close(w);
	CHECK_INT(total(4), 2 * LINES);
	CHECK_INT(total(9), 0);
	CHECK_INT(files_with(3, ".seg"), 0);
}

/* Seals what is in the WAL now, in a sealer started and stopped for it. */
static void seal_once(struct wal *w, struct seal_stats *st)
{
	struct err e = ERR_INIT;
	struct seal *s = NULL;

	CHECK_INT(start(&s, w, &e), 0);
	if (s) {
		CHECK_INT(seal_now(s, &e), 0);
		if (st)
			seal_stats(s, st);
		seal_stop(s);
	}
}

/* A tenant that cannot be sealed rolls the whole generation back, on every lane; the
 * sealer goes on by itself once the cause is gone. */
static void test_failed_tenant_rolls_back(void)
{
	char path[800];
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;
	int fd;

	fresh("failed");
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 4);
	append(w, 1, 2, 0, 4);
	append(w, 0, 3, 0, 4);
	snprintf(path, sizeof(path), "%s/tenants", data);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/tenants/2", data); /* a file where its directory goes */
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_INT(start(&s, w, &e), 0);
	if (s) {
		CHECK(seal_now(s, &e) < 0);
		CHECK(strstr(e.msg, "tenants/2") != NULL);
		seal_stats(s, &st);
		CHECK_INT(st.sealed_events, 0);
		CHECK_INT(st.backlog_events, 12 * LINES); /* all of it, read again by the retry */
		CHECK_INT(st.read_events, 0);
		CHECK(st.errors >= 1);
		CHECK_INT(files_with(1, ".seg") + files_with(3, ".seg"), 0);
		CHECK_INT(unlink(path), 0);
		CHECK_INT(seal_now(s, &e), 0);
		seal_stats(s, &st);
		CHECK_INT(st.sealed_events, 12 * LINES);
		CHECK_INT(st.backlog_events, 0);
		seal_stop(s);
	}
	wal_close(w);
	for (uint64_t t = 1; t <= 3; t++)
		CHECK_INT(total(t), 4 * LINES);
	CHECK(!exists("seal.journal"));
}

/* A file where tenant's directory goes: its segments cannot be made (unlink the path after). */
static void block_tenant(uint64_t tenant, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/tenants", data);
	mkdir(path, 0750);
	snprintf(path, size, "%s/tenants/%llu", data, (unsigned long long)tenant);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
}

/* A sealer whose generations fail (a blocked tenant): the backlog, exactly, after its start. */
static void check_backlog_blocked(struct wal *w, uint64_t backlog)
{
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;

	CHECK_INT(start(&s, w, &e), 0);
	if (!s)
		return;
	CHECK(seal_now(s, &e) < 0);
	seal_stats(s, &st);
	CHECK_INT(st.backlog_events, backlog);
	CHECK_INT(st.read_events, 0);
	seal_stop(s); /* its last commit fails too: rolled back */
}

/*
 * The backlog counts every event durable in the WAL and not committed, those an earlier run
 * left included (counted by the WAL's replay, not read), on a log reopened or a sealer
 * started again on the open one; those of an erased tenant leave it once skipped.
 */
static void test_backlog_after_restart(void)
{
	char path[800];
	struct seal_stats st;
	struct wal *w;

	fresh("restart");
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 4);
	seal_once(w, &st); /* sealed and checkpointed */
	CHECK_INT(st.sealed_events, 4 * LINES);
	CHECK_INT(st.backlog_events, 0);
	/* left by this run: no sealer now */
	append(w, 0, 1, 100, 2);
	append(w, 1, 2, 0, 3);
	append(w, 1, 3, 0, 1);
	wal_close(w);
	destroy_key(3);
	w = open_wal(2, 0);
	if (!w)
		return;
	block_tenant(2, path, sizeof(path));
	check_backlog_blocked(w, 6 * LINES);
	CHECK_INT(unlink(path), 0);
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, 5 * LINES);
	CHECK_INT(st.skipped_erased, LINES);
	CHECK_INT(st.backlog_events, 0);
	/* a sealer started again on the open log: what the last one had is not counted */
	append(w, 1, 5, 0, 2);
	block_tenant(5, path, sizeof(path));
	check_backlog_blocked(w, 2 * LINES);
	CHECK_INT(unlink(path), 0);
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, 2 * LINES);
	CHECK_INT(st.backlog_events, 0);
	wal_close(w);
	CHECK_INT(total(1), 6 * LINES);
	CHECK_INT(total(2), 3 * LINES);
	CHECK_INT(total(5), 2 * LINES);
}

/* A record of tenant (events first ..) whose commit fails (the test hook): given up. */
static void append_lost(struct wal *w, uint64_t tenant, int first)
{
	wal_fail_sync_after(0);
	append_text(w, 0, tenant, first, 1, 2, "", -EIO);
	wal_fail_sync_after(-1);
}

static long seq_found(uint64_t tenant, int seq)
{
	char q[64];

	snprintf(q, sizeof(q), "\"seq=%d \" | stats count()", seq);
	return count(tenant, q, NULL);
}

/*
 * A record given up by a failed commit (its sender was told to send it again) is never
 * searched nor sealed, by a sealer running then or one started after a restart; the records
 * after it are, exactly once, and the backlog never counts it.
 */
static void test_given_up_never_sealed(void)
{
	char path[800];
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	/* while the sealer runs */
	fresh("givenup");
	w = open_wal(1, 0);
	if (!w)
		return;
	CHECK_INT(start(&s, w, &e), 0);
	if (!s) {
		wal_close(w);
		return;
	}
	CHECK_INT(seal_now(s, &e), 0); /* the start's pass is over: no commit for 60 s now */
	append(w, 0, 1, 0, 2);
	append_lost(w, 1, 1000);
	CHECK_INT(seq_found(1, 1005), 0);
	CHECK_INT(total(1), 2 * LINES);
	append(w, 0, 1, 2000, 1);
	seal_stats(s, &st);
	CHECK_INT(st.backlog_events, 3 * LINES);
	CHECK_INT(seq_found(1, 1005), 0);
	CHECK_INT(seq_found(1, 2005), 1);
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.sealed_events, 3 * LINES);
	CHECK_INT(st.backlog_events, 0);
	seal_stop(s);
	wal_close(w);
	CHECK_INT(total(1), 3 * LINES);
	CHECK_INT(seq_found(1, 1005), 0);
	CHECK_INT(seq_found(1, 2005), 1);

	/* left in the WAL at a restart: the search, the replay and the next sealer skip it */
	fresh("givenup-restart");
	w = open_wal(1, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 2);
	append_lost(w, 1, 1000);
	append(w, 0, 1, 2000, 1);
	wal_close(w);
	CHECK_INT(total(1), 3 * LINES);
	CHECK_INT(seq_found(1, 1005), 0);
	w = open_wal(1, 0);
	if (!w)
		return;
	block_tenant(1, path, sizeof(path));
	check_backlog_blocked(w, 3 * LINES);
	CHECK_INT(unlink(path), 0);
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, 3 * LINES);
	CHECK_INT(st.backlog_events, 0);
	wal_close(w);
	CHECK_INT(total(1), 3 * LINES);
	CHECK_INT(seq_found(1, 1005), 0);
	CHECK_INT(seq_found(1, 2005), 1);
}

/* A fresh data directory with a WAL of shards and a sealer started on it (*s NULL: failed). */
static struct wal *fresh_running(const char *name, unsigned shards, struct seal **s)
{
	struct err e = ERR_INIT;
	struct wal *w;

	fresh(name);
	w = open_wal(shards, 0);
	if (w)
		CHECK_INT(start(s, w, &e), 0);
	return w;
}

/* Records arriving while the sealer's passes run (its own clock, no seal_now): each once. */
static void test_appends_while_sealing(void)
{
	struct seal_stats st = { 0 };
	struct seal *s = NULL;
	struct wal *w;

	if (!(w = fresh_running("running", 2, &s)))
		return;
	for (int i = 0; s && i < 24; i++) {
		append(w, (unsigned)i % 2, 1 + (uint64_t)i % 3, i * LINES, 1);
		usleep(40000); /* a pass every 200 ms: some find lanes still busy */
	}
	seal_stop(s);
	seal_once(w, &st); /* nothing left to seal */
	CHECK_INT(st.sealed_events, 0);
	CHECK_INT(st.backlog_events, 0);
	wal_close(w);
	for (uint64_t t = 1; t <= 3; t++)
		CHECK_INT(total(t), 8 * LINES);
	CHECK(!exists("seal.journal"));
}

static atomic_int ingest_busy;

static bool busy_hook(void *ctx)
{
	return atomic_load(&ingest_busy) != 0;
}

/* Waits (up to 10 s) until the sealer has read n events into its generation. */
static void wait_read(struct seal *s, uint64_t n)
{
	struct seal_stats st = { 0 };

	for (int i = 0; i < 1000; i++) {
		seal_stats(s, &st);
		if (st.read_events >= n)
			break;
		usleep(10000);
	}
	CHECK_INT(st.read_events, n);
}

/* Waits (up to 10 s) until the sealer has paused for the hook past what *st said. */
static void wait_paused(struct seal *s, struct seal_stats *st)
{
	uint64_t before = st->yield_ns;

	for (int i = 0; i < 1000 && st->yield_ns <= before + 3ull * SEAL_YIELD_MS * 1000000; i++) {
		usleep(10000);
		seal_stats(s, st);
	}
	CHECK(st->yield_ns > before);
}

/*
 * A tenant erased while the sealer runs (tenant erase through the daemon): between passes a
 * generation stays open up to SEAL_MAX_AGE_MS, its tenants' segments written with the keys
 * read when it opened. Held (seal_hold) from a last commit to the end of the erasure, the
 * sealer has none open, reads nothing (the erasure's counts stay true), and afterwards
 * passes the tenant's new records over as erased; the others are sealed as before.
 */
static void test_erasure_while_held(void)
{
	struct seal_stats st = { 0 };
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	char cmd[900];
	struct wal *w;

	if (!(w = fresh_running("held", 1, &s)))
		return;
	if (!s) {
		wal_close(w);
		return;
	}
	/* the start's own request served first: its forced pass would commit what it read */
	CHECK_INT(seal_now(s, &e), 0);
	append(w, 0, 3, 0, 1);
	append(w, 0, 4, 0, 1);
	wait_read(s, 2 * LINES); /* an open generation: tenant 3's segment being written */
	CHECK_INT(seal_hold(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.sealed_events, 2 * LINES);
	CHECK_INT(files_with(3, ".tmp"), 0); /* committed: none being written */
	/* events still arriving for the tenant while it is erased: left in the WAL */
	append(w, 0, 3, LINES, 1);
	append(w, 0, 4, LINES, 1);
	usleep(3 * SEAL_TICK_MS * 1000);
	seal_stats(s, &st);
	CHECK_INT(st.read_events, 0);
	CHECK_INT(st.backlog_events, 2 * LINES);
	destroy_key(3);
	snprintf(cmd, sizeof(cmd), "rm -r '%s/tenants/3'", data);
	CHECK_INT(system(cmd), 0);
	seal_release(s);
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.errors, 0);
	CHECK_INT(st.skipped_erased, LINES);
	CHECK_INT(st.sealed_events, 3 * LINES);
	CHECK_INT(st.backlog_events, 0);
	seal_stop(s);
	wal_close(w);
	CHECK_INT(files_with(3, ""), 0);
	CHECK_INT(total(4), 2 * LINES);
}

/*
 * While the busy hook says ingest is behind, the sealer leaves the WAL's records alone (a
 * search reads them from the WAL meanwhile), but not for seal_now, nor once the WAL's files
 * hold the bound, nor when the hook clears; seal_stop seals everything whatever it says.
 */
static void test_yields_to_ingest(void)
{
	struct seal_stats st = { 0 };
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	if (!(w = fresh_running("yield", 1, &s)))
		return;
	if (!s) {
		wal_close(w);
		return;
	}
	/*
	 * The start's own request (seal what an earlier run left) is served first: it does not
	 * yield, and a sealer slow to start would read the records below whole in it.
	 */
	CHECK_INT(seal_now(s, &e), 0);
	atomic_store(&ingest_busy, 1);
	seal_set_busy(s, busy_hook, NULL);
	seal_test_yield_bound(1u << 20); /* needs twice that free, not 2 GiB */
	append(w, 0, 1, 0, 3);
	wait_paused(s, &st); /* three pauses or more, none reading them */
	CHECK_INT(st.read_events, 0);
	CHECK_INT(st.backlog_events, 3 * LINES); /* not read, in the backlog all the same */
	CHECK_INT(total(1), 3 * LINES);
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.sealed_events, 3 * LINES);
	CHECK_INT(st.backlog_events, 0);
	seal_test_yield_bound(1); /* the WAL holds more than a byte: no pause */
	append(w, 0, 1, 3 * LINES, 2);
	wait_read(s, 2 * LINES);
	seal_test_yield_bound(1u << 20);
	append(w, 0, 1, 5 * LINES, 2);
	seal_stats(s, &st);
	wait_paused(s, &st);
	CHECK_INT(st.read_events, 2 * LINES);
	CHECK_INT(st.backlog_events, 4 * LINES); /* read or not */
	atomic_store(&ingest_busy, 0); /* ingest caught up */
	wait_read(s, 4 * LINES);
	seal_stats(s, &st);
	CHECK_INT(st.backlog_events, 4 * LINES);
	atomic_store(&ingest_busy, 1);
	append(w, 0, 1, 7 * LINES, 1);
	seal_stop(s);
	seal_test_yield_bound(SEAL_YIELD_WAL_BYTES);
	seal_once(w, &st); /* nothing left to seal */
	CHECK_INT(st.sealed_events, 0);
	CHECK_INT(st.backlog_events, 0);
	wal_close(w);
	CHECK_INT(total(1), 8 * LINES);
}

/* Events over 20 days of 5 tenants: past 64 open segments some are finished early. */
static void test_many_days_and_tenants(void)
{
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	fresh("many");
	w = open_wal(1, 0);
	if (!w)
		return;
	for (uint64_t t = 1; t <= 5; t++)
		append_text(w, 0, t, 0, 2, 20, "", 0);
	CHECK_INT(start(&s, w, &e), 0);
	if (s) {
		CHECK_INT(seal_now(s, &e), 0);
		seal_stats(s, &st);
		CHECK_INT(st.sealed_events, 5 * 2 * LINES);
		CHECK(st.sealed_segments >= 5 * 20);
		seal_stop(s);
	}
	wal_close(w);
	for (uint64_t t = 1; t <= 5; t++)
		CHECK_INT(total(t), 2 * LINES);
}

static int add_events(void *ctx, const struct store_segment_report *r)
{
	if (!r->superseded) /* as `koban store stats` leaves them out */
		*(uint64_t *)ctx += r->events;
	return 0;
}

/* Events in the tenant's segments, as `koban store stats` counts them. */
static long stats_events(uint64_t tenant)
{
	struct store *st = NULL;
	struct err e = ERR_INIT;
	uint64_t n = 0;

	CHECK_INT(store_open(&st, data, &e), 0);
	if (st)
		CHECK_INT(store_segments(st, tenant, false, add_events, &n, &e), 0);
	store_close(st);
	return (long)n;
}

/* Small segments of a day are merged; searches never count an event twice or miss one. */
static void test_merge_small_segments(void)
{
	struct seal_stats st;
	struct wal *w;

	fresh("merge");
	w = open_wal(1, 0);
	if (!w)
		return;
	for (int k = 0; k < 3; k++) { /* 3 generations: 3 segments of each of the 2 days */
		append(w, 0, 1, k * 1000, 1);
		seal_once(w, &st);
		CHECK_INT(st.merged_segments, 0);
	}
	CHECK_INT(files_with(1, ".seg"), 6);
	append(w, 0, 1, 3000, 1);
	seal_once(w, &st); /* the 4th of each day, then the first day's 4 merged */
	CHECK_INT(st.merged_segments, 4);
	CHECK(exists("seal.dropped"));
	CHECK_INT(files_with(1, ".seg"), 9); /* the 4 replaced ones wait for their grace */
	CHECK_INT(total(1), 4 * LINES);
	CHECK_INT(stats_events(1), 4 * LINES); /* store stats leave them out too */
	CHECK_INT(count(1, "\"seq=1000\" | stats count()", NULL), 1);
	append(w, 0, 1, 4000, 1);
	seal_once(w, &st); /* the 5th of each day, then the second day's 5 merged */
	CHECK_INT(st.merged_segments, 5);
	CHECK_INT(files_with(1, ".seg"), 12);
	CHECK_INT(total(1), 5 * LINES);
	seal_test_drop_grace(0);
	seal_once(w, &st); /* nothing to merge; the replaced ones are deleted */
	CHECK_INT(st.merged_segments, 0);
	CHECK_INT(files_with(1, ".seg"), 3); /* day 1: its merge and the 5th; day 2: its merge */
	CHECK_INT(total(1), 5 * LINES);
	CHECK_INT(count(1, "\"seq=4019\" | stats count()", NULL), 1);
	seal_test_drop_grace(600);
	wal_close(w);
}

/* Imports a small segment of count events of day 0 (as `koban ingest` would). */
static void import_small(uint64_t tenant, int first, int count)
{
	struct store_import *imp = NULL;
	struct store *st = NULL;
	struct err e = ERR_INIT;
	struct arena ar;
	struct event ev;
	char line[64];

	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return;
	CHECK_INT(store_import_begin(st, tenant, &imp, &e), 0);
	arena_init(&ar, 4096, 1 << 20);
	for (int i = 0; imp && i < count; i++) {
		int n = snprintf(line, sizeof(line), "fw seq=%d imported", first + i);

		arena_clear(&ar);
		event_init(&ev, &ar);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + (int64_t)(first + i) * NS_PER_SEC);
		event_set_str(&ev, FIELD_EVENT_ORIGINAL, line, (size_t)n);
		CHECK_INT(store_import_add(imp, &ev, &e), 0);
	}
	arena_release(&ar);
	if (imp)
		CHECK_INT(store_import_finish(imp, NULL, &e), 0);
	store_close(st);
}

/* A crash at each step of a generation that merges (1: its first merged segment journaled). */
static void merge_crash_at(int step)
{
	char name[32];
	struct wal *w;

	snprintf(name, sizeof(name), "mergecrash%d", step);
	fresh(name);
	for (int k = 0; k < 5; k++)
		import_small(1, k * 10, 10);
	CHECK_INT(files_with(1, ".seg"), 5);
	crash_in_child(1, step);
	CHECK_INT(total(1), 50); /* the journal says what to skip */
	CHECK_INT(count(1, "\"seq=42\" | stats count()", NULL), 1);
	w = open_wal(1, 0);
	if (!w)
		return;
	seal_once(w, NULL);
	wal_close(w);
	CHECK_INT(total(1), 50);
	CHECK_INT(count(1, "\"seq=42\" | stats count()", NULL), 1);
	CHECK_INT(files_with(1, ".tmp") + files_with(1, ".lock"), 0);
	CHECK_INT(files_with(1, ".seg"), 6); /* the merged one and the 5 replaced (grace) */
}

/* A damaged segment makes its merge fail: sealing goes on, merging pauses. */
static void test_merge_failure_does_not_stop_sealing(void)
{
	char path[900];
	struct seal_stats st;
	struct wal *w;
	DIR *d;
	struct dirent *de;
	int fd;

	fresh("mergefail");
	for (int k = 0; k < 4; k++)
		import_small(2, k * 10, 10);
	snprintf(path, sizeof(path), "%s/tenants/2", data);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, "-0002.seg")) {
			snprintf(path, sizeof(path), "%s/tenants/2/%s", data, de->d_name);
			fd = open(path, O_WRONLY);
			if (fd >= 0) { /* inside the first block's sealed payload */
				CHECK_INT(pwrite(fd, "XXXXXXXX", 8, 160), 8);
				close(fd);
			}
		}
	if (d)
		closedir(d);
	w = open_wal(1, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 2);
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, 2 * LINES);
	CHECK_INT(st.merged_segments, 0);
	CHECK_INT(st.errors, 1);
	CHECK_INT(files_with(2, ".seg"), 4);
	CHECK_INT(files_with(2, ".tmp") + files_with(2, ".lock"), 0);
	CHECK(!exists("seal.journal"));
	CHECK_INT(total(1), 2 * LINES);
	wal_close(w);
}

static void test_merge_crash_points(void)
{
	for (int step = 1; step <= 4; step++)
		merge_crash_at(step);
}

static void put_file(const char *name, const char *text)
{
	char path[800];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", data, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A journal torn in its first line is no journal; damaged files stop the start, named. */
static void test_torn_and_damaged_files(void)
{
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	fresh("damaged");
	w = open_wal(1, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 1);
	put_file("seal.journal", "KOBANSJ1 ");
	CHECK_INT(start(&s, w, &e), 0);
	if (s) {
		CHECK_INT(seal_now(s, &e), 0);
		seal_stop(s);
		s = NULL;
	}
	CHECK(!exists("seal.journal"));
	CHECK_INT(total(1), LINES);
	put_file("seal.journal", "not a journal\n1 2 3\n");
	CHECK_INT(start(&s, w, &e), -EBADMSG);
	CHECK(strstr(e.msg, "seal.journal") != NULL);
	{
		char path[800];

		snprintf(path, sizeof(path), "%s/seal.journal", data);
		unlink(path);
	}
	put_file("seal.state", "KOBANSST and then nothing right");
	CHECK_INT(start(&s, w, &e), -EBADMSG);
	CHECK(strstr(e.msg, "seal.state") != NULL);
	seal_stop(s);
	wal_close(w);
}

static int on_record(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t cnt,
		     uint32_t flags, const void *payload, size_t len)
{
	(*(int *)ctx)++;
	return 0;
}

/* ctx: the next LSN expected; each record must be that one. */
static int on_next(void *ctx, unsigned shard, uint64_t lsn, uint64_t tenant, uint32_t cnt,
		   uint32_t flags, const void *payload, size_t len)
{
	uint64_t *next = ctx;

	CHECK_INT(lsn, *next);
	(*next)++;
	return 0;
}

/* Calls on one scan go on where the last one stopped: each record once, in order. */
static void scan_in_slices(size_t file_max)
{
	static const uint64_t to[] = { 3, 3, 7, 8, UINT64_MAX, UINT64_MAX };
	static const uint64_t last[] = { 3, 3, 7, 8, 12, 12 };
	struct wal_scan *sc = NULL;
	struct err e = ERR_INIT;
	struct wal *w;
	uint64_t next = 1, got;

	fresh(file_max ? "slices-files" : "slices");
	w = open_wal(1, file_max);
	if (!w)
		return;
	append(w, 0, 5, 0, 12);
	CHECK_INT(wal_scan_open(&sc, waldir, NULL, 0, &e), 0);
	for (size_t i = 0; sc && i < sizeof(to) / sizeof(to[0]); i++) {
		CHECK_INT(wal_scan_shard(sc, 0, to[i], on_next, &next, &got, &e), 0);
		CHECK_INT(got, last[i]);
		CHECK_INT(next, last[i] + 1);
	}
	/* appended after the scan stopped at the end of its last file: found by the next call */
	append(w, 0, 5, 12, 1);
	if (sc && !file_max) {
		CHECK_INT(wal_scan_shard(sc, 0, UINT64_MAX, on_next, &next, &got, &e), 0);
		CHECK_INT(got, 13);
	}
	wal_scan_close(sc);
	wal_close(w);
}

static void test_wal_scan_in_slices(void)
{
	scan_in_slices(0);  /* the records in one file */
	scan_in_slices(64); /* a file each */
}

static void test_wal_scan(void)
{
	char path[800];
	struct err e = ERR_INIT;
	struct wal *w;
	uint64_t from = 0;
	int n = 0, fd;

	fresh("scan");
	w = open_wal(1, 64); /* a new file for every record */
	if (!w)
		return;
	append(w, 0, 5, 0, 12);
	CHECK_INT(wal_scan(waldir, NULL, 0, on_record, &n, &e), 0);
	CHECK_INT(n, 12);
	/* a record being written at the end: the scan ends there quietly */
	snprintf(path, sizeof(path), "%s/shard-00/%016llx.wal", waldir, 13ull);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0640);
	if (fd >= 0) {
		CHECK_INT(write(fd, "KOBANWAL", 8), 8); /* a header not yet whole */
		close(fd);
	}
	n = 0;
	CHECK_INT(wal_scan(waldir, NULL, 0, on_record, &n, &e), 0);
	CHECK_INT(n, 12);
	unlink(path);
	/* a reader never goes before the checkpoint, whatever it asks */
	CHECK_INT(wal_checkpoint(w, 0, 8, 8 * LINES, &e), 0);
	n = 0;
	CHECK_INT(wal_scan(waldir, &from, 1, on_record, &n, &e), 0);
	CHECK_INT(n, 4);
	/* a file missing in the middle (records lost): an error, never a silent gap */
	snprintf(path, sizeof(path), "%s/shard-00/%016llx.wal", waldir, 10ull);
	CHECK_INT(unlink(path), 0);
	n = 0;
	CHECK_INT(wal_scan(waldir, NULL, 0, on_record, &n, &e), -EBADMSG);
	CHECK(strstr(e.msg, "records are missing") != NULL);
	wal_close(w);
}

/* Two importers of one tenant and day at the same time get two segment numbers. */
static void test_concurrent_importers(void)
{
	struct store_import *a = NULL, *b = NULL;
	struct store *s1 = NULL, *s2 = NULL;
	struct err e = ERR_INIT;
	struct arena ar;
	struct event ev;

	fresh("importers");
	CHECK_INT(store_open(&s1, data, &e), 0);
	CHECK_INT(store_open(&s2, data, &e), 0);
	if (!s1 || !s2)
		goto done;
	CHECK_INT(store_import_begin(s1, 6, &a, &e), 0);
	CHECK_INT(store_import_begin(s2, 6, &b, &e), 0);
	arena_init(&ar, 4096, 1 << 20);
	for (int i = 0; i < 10; i++) {
		arena_clear(&ar);
		event_init(&ev, &ar);
		event_set_time(&ev, FIELD_TIMESTAMP, T0 + i);
		event_set_str(&ev, FIELD_EVENT_ORIGINAL, "x", 1);
		if (a)
			CHECK_INT(store_import_add(a, &ev, &e), 0);
		if (b && i < 5)
			CHECK_INT(store_import_add(b, &ev, &e), 0);
	}
	arena_release(&ar);
	CHECK_INT(files_with(6, ".lock"), 2);
	if (b)
		CHECK_INT(store_import_finish(b, NULL, &e), 0);
	if (a)
		CHECK_INT(store_import_finish(a, NULL, &e), 0);
	CHECK_INT(files_with(6, ".seg"), 2);
	CHECK_INT(files_with(6, ".lock"), 0);
	CHECK_INT(total(6), 15);
done:
	store_close(s1);
	store_close(s2);
}

/* Two imported events of 2026-12-01, 10:00 then 08:00 (segment 1), as test_newest_first. */
static void make_sealed(struct event *ev, int i, void *ctx)
{
	static const char *text[] = { "seg ten", "seg eight" };

	CHECK_INT(event_set_time(ev, FIELD_TIMESTAMP, T0 + (i ? 8 : 10) * 3600 * NS_PER_SEC), 0);
	CHECK_INT(event_set_str(ev, FIELD_EVENT_ORIGINAL, text[i], strlen(text[i])), 0);
}

/* One imported event of the day before, 2026-11-30T23:00 (segment 2). */
static void make_older(struct event *ev, int i, void *ctx)
{
	CHECK_INT(event_set_time(ev, FIELD_TIMESTAMP, T0 - 3600 * NS_PER_SEC), 0);
	CHECK_INT(event_set_str(ev, FIELD_EVENT_ORIGINAL, "seg old", 7), 0);
}

static int on_original(void *ctx, const struct event *ev)
{
	const char *p;
	size_t n;

	if (event_get_str(ev, FIELD_EVENT_ORIGINAL, &p, &n) != 1)
		return -EINVAL;
	return buf_add(&out, p, n) ? -ENOSPC : buf_addch(&out, ',');
}

/* The event.original of q's events over tenant 1, at most limit of them (0: all), in order. */
static const char *originals(const char *q, uint64_t limit, struct store_search_stats *ss)
{
	struct store_search s = { .tenant = 1, .query = q, .query_len = strlen(q),
				  .from = INT64_MIN, .to = INT64_MAX, .now = T0, .who = "test",
				  .limit = limit, .event_fn = on_original };
	struct store *st = NULL;
	struct err e = ERR_INIT;

	buf_reset(&out);
	CHECK_INT(store_open(&st, data, &e), 0);
	if (st)
		CHECK_INT(store_search(st, &s, ss, &e), 0);
	store_close(st);
	return out.p;
}

/*
 * Events come newest first by @timestamp across the WAL's unsealed records and the
 * segments, whichever was written first: the WAL holds 12:00 and 06:00, a segment 10:00
 * and 08:00, another the day before's 23:00. With a limit only the newest are kept, and a
 * segment older than all of them is not opened.
 */
static void test_newest_first(void)
{
	static const char lines[] =
		"{\"@timestamp\":\"2026-12-01T12:00:00Z\",\"event\":{\"original\":\"wal noon\"}}\n"
		"{\"@timestamp\":\"2026-12-01T06:00:00Z\",\"event\":{\"original\":\"wal six\"}}\n";
	struct store_search_stats ss;
	struct err e = ERR_INIT;
	struct store *st = NULL;
	struct wal *w;
	uint64_t lsn;

	fresh("newest");
	w = open_wal(1, 0);
	if (!w)
		return;
	tenant_key(1, &(struct keys_data_key){ 0 });
	CHECK_INT(wal_append(w, 0, 1, 2, 0, lines, sizeof(lines) - 1, &lsn, &e), 0);
	wal_close(w);
	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return;
	t_store_import(st, 1, 2, make_sealed, NULL, NULL);
	t_store_import(st, 1, 1, make_older, NULL, NULL);
	store_close(st);

	CHECK_STR(originals("*", 0, &ss), "wal noon,seg ten,seg eight,wal six,seg old,");
	CHECK_INT(ss.segments, 2);
	CHECK_STR(originals("*", 1, &ss), "wal noon,");
	CHECK_STR(originals("*", 2, &ss), "wal noon,seg ten,");
	CHECK_STR(originals("| head 3", 0, &ss), "wal noon,seg ten,seg eight,");
	CHECK_STR(originals("| sort -@timestamp | head 2", 0, &ss), "wal noon,seg ten,");
	CHECK_STR(originals("| sort @timestamp | head 1", 0, &ss), "seg old,");
	CHECK_STR(originals("seg | head 1", 0, &ss), "seg ten,");
	/* the day before ends before the oldest of the 2 kept (10:00): its segment not opened */
	CHECK_STR(originals("*", 2, &ss), "wal noon,seg ten,");
	CHECK_INT(ss.segments, 1);
	CHECK_STR(originals("*", 5, &ss), "wal noon,seg ten,seg eight,wal six,seg old,");
	CHECK_INT(ss.segments, 2);
}

/*
 * A backup whose first pass finds a listed segment gone lists the store again; its summary
 * counts what the run copied in any pass, not the second pass's finding them in DIR as kept.
 */
static void test_backup_counts_over_passes(void)
{
	struct store_backup_stats x;
	struct err e = ERR_INIT;
	char dest[700];
	struct wal *w;

	fresh("backup-passes");
	w = open_wal(1, 0);
	if (!w)
		return;
	for (uint64_t t = 1; t <= 3; t++)
		append(w, 0, t, 0, 1); /* two days: 6 segments */
	seal_once(w, NULL);
	wal_close(w);
	snprintf(dest, sizeof(dest), "%s/../backup-passes-dest", data);
	store_backup_test_vanish(1); /* the first pass: its first segment gone */
	CHECK_INT(store_backup(data, dest, T0, &x, &e), 0);
	CHECK_INT(x.segments, 6);
	CHECK_INT(x.copied, 6);
	CHECK_INT(x.kept, 0);
	CHECK_INT(x.removed, 0);
	CHECK_INT(store_backup(data, dest, T0, &x, &e), 0);
	CHECK_INT(x.segments, 6);
	CHECK_INT(x.copied, 0);
	CHECK_INT(x.kept, 6);
}

/* Flips a byte inside tenant's wrapped key (a damaged file), or with undo puts it back. */
static void damage_key(uint64_t tenant, bool undo)
{
	char path[800];
	unsigned char b;
	int fd;

	snprintf(path, sizeof(path), "%s/keys/tenant-%llu.key", data, (unsigned long long)tenant);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(pread(fd, &b, 1, 40) == 1);
	b ^= 0x5a;
	CHECK(pwrite(fd, &b, 1, 40) == 1);
	close(fd);
	if (undo) { /* the same bytes, another time: read again, not taken from a cache */
		struct timespec t[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };

		CHECK_INT(utimensat(AT_FDCWD, path, t, 0), 0);
	}
}

/* A search of tenant that must fail (its key does not open): its message. */
static void search_fails(uint64_t tenant, const char *part)
{
	struct store_search q = { .tenant = tenant, .query = "*", .query_len = 1,
				  .from = INT64_MIN, .to = INT64_MAX, .now = T0, .who = "test",
				  .event_fn = on_event, .row_fn = on_row };
	struct store *st = NULL;
	struct err e = ERR_INIT;

	CHECK_INT(store_open(&st, data, &e), 0);
	if (!st)
		return;
	CHECK(store_search(st, &q, NULL, &e) < 0);
	CHECK(strstr(e.msg, part) != NULL);
	store_close(st);
}

static uint64_t unsealed(uint64_t tenant)
{
	struct store *st = NULL;
	struct err e = ERR_INIT;
	struct store_unsealed u = { 0, 0, 0, 0 };

	CHECK_INT(store_open(&st, data, &e), 0);
	if (st)
		CHECK_INT(store_unsealed(st, tenant, &u, &e), 0);
	store_close(st);
	return u.wal_events + u.held_events;
}

/*
 * One tenant's damaged key file holds its events aside (held.log), and every other tenant is
 * sealed; a restart keeps them held; once the key opens they are sealed, found exactly once.
 */
static void test_damaged_key_holds_one_tenant(void)
{
	char dest[700], path[900], copy[900];
	struct store_backup_stats x;
	struct stat a, b;
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	fresh("heldkey");
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 4);
	append(w, 1, 2, 0, 3);
	append(w, 0, 2, 100, 1);
	append(w, 0, 3, 0, 4);
	damage_key(2, false);
	for (int run = 0; run < 2; run++) { /* the second: a restart, the key still damaged */
		CHECK_INT(start(&s, w, &e), 0);
		if (!s)
			break;
		seal_stats(s, &st);
		CHECK_INT(st.held_events, run ? 4 * LINES : 0);
		CHECK_INT(seal_now(s, &e), 0);
		seal_stats(s, &st);
		CHECK_INT(st.sealed_events, run ? 0 : 8 * LINES);
		CHECK_INT(st.held_events, 4 * LINES);
		CHECK_INT(st.backlog_events, 0);
		CHECK_INT(st.errors, 0);
		seal_stop(s);
	}
	CHECK_INT(files_with(2, "held.log"), 1);
	CHECK_INT(total(1), 4 * LINES);
	CHECK_INT(total(3), 4 * LINES);
	search_fails(2, "tenant-2.key");
	CHECK_INT(unsealed(2), 4 * LINES);
	/* a backup holds the held log as it is */
	snprintf(dest, sizeof(dest), "%s-backup", data);
	CHECK_INT(store_backup(data, dest, T0, &x, &e), 0);
	CHECK_INT(x.held_logs, 1);
	snprintf(path, sizeof(path), "%s/tenants/2/held.log", data);
	snprintf(copy, sizeof(copy), "%s/tenants/2/held.log", dest);
	CHECK(stat(path, &a) == 0 && stat(copy, &b) == 0 && a.st_size == b.st_size);

	/* the key back: a search finds the held events before the sealer runs */
	damage_key(2, true);
	CHECK_INT(total(2), 4 * LINES);
	CHECK_INT(count(2, "\"seq=100\" | stats count()", NULL), 1);
	CHECK_INT(start(&s, w, &e), 0);
	if (s) {
		CHECK_INT(seal_now(s, &e), 0);
		seal_stats(s, &st);
		CHECK_INT(st.sealed_events, 4 * LINES);
		CHECK_INT(st.held_events, 0);
		seal_stop(s);
	}
	CHECK_INT(files_with(2, "held.log"), 0);
	CHECK(!exists("seal.journal"));
	seal_once(w, &st); /* nothing more to seal: nothing twice */
	CHECK_INT(st.sealed_events, 0);
	wal_close(w);
	for (uint64_t t = 1; t <= 3; t++)
		CHECK_INT(total(t), 4 * LINES);
	CHECK_INT(unsealed(2), 0);
	CHECK_INT(store_backup(data, dest, T0, &x, &e), 0); /* sealed since: gone there too */
	CHECK_INT(x.held_logs, 0);
	CHECK(stat(copy, &b) < 0 && errno == ENOENT);
}

/* A crash at each step of the generation that seals a held log: its events found once. */
static void held_crash_at(int step)
{
	struct seal_stats st;
	char name[32];
	struct wal *w;

	snprintf(name, sizeof(name), "heldcrash%d", step);
	fresh(name);
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 2);
	append(w, 1, 2, 0, 3);
	damage_key(2, false);
	seal_once(w, &st);
	CHECK_INT(st.held_events, 3 * LINES);
	wal_close(w);
	damage_key(2, true);
	crash_in_child(2, step);
	CHECK_INT(total(2), 3 * LINES); /* from the held log, or (step 3) the segments only */
	CHECK_INT(files_with(2, "held.log"), step < 4);
	w = open_wal(2, 0);
	if (!w)
		return;
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, step >= 3 ? 0 : 3 * LINES);
	CHECK_INT(st.held_events, 0);
	wal_close(w);
	CHECK_INT(files_with(2, "held.log"), 0);
	CHECK(!exists("seal.journal"));
	CHECK_INT(total(1), 2 * LINES);
	CHECK_INT(total(2), 3 * LINES);
}

/*
 * A crash before the commit of a generation that held records: the log keeps appends no
 * state covers. Sealed again with the key still damaged, nothing is held twice; with the key
 * back, they are sealed from the WAL and the log goes.
 */
static void held_uncommitted(bool key_back)
{
	struct seal_stats st;
	struct wal *w;

	fresh(key_back ? "helduncommitted-back" : "helduncommitted");
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 1, 0, 2);
	append(w, 1, 2, 0, 3);
	wal_close(w);
	damage_key(2, false);
	crash_in_child(2, 2);
	CHECK_INT(files_with(2, "held.log"), 1);
	CHECK_INT(unsealed(2), 3 * LINES); /* from the WAL: the log's appends are not counted */
	w = open_wal(2, 0);
	if (!w)
		return;
	if (!key_back) {
		seal_once(w, &st);
		CHECK_INT(st.held_events, 3 * LINES);
		CHECK_INT(st.sealed_events, 2 * LINES);
	}
	damage_key(2, true);
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, key_back ? 5 * LINES : 3 * LINES);
	CHECK_INT(st.held_events, 0);
	wal_close(w);
	CHECK_INT(files_with(2, "held.log"), 0);
	CHECK_INT(total(1), 2 * LINES);
	CHECK_INT(total(2), 3 * LINES);
}

/*
 * A generation that held records is rolled back (another tenant fails), then the key opens
 * again before the sealer tries it: the records wait in the log, never sealed from the WAL
 * as well, and are found exactly once.
 */
static void test_held_rollback_then_key_back(void)
{
	char path[800];
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w;

	fresh("held-rollback");
	w = open_wal(2, 0);
	if (!w)
		return;
	append(w, 0, 2, 0, 3);
	append(w, 0, 1, 0, 2);
	append(w, 1, 3, 0, 2);
	damage_key(2, false);
	block_tenant(3, path, sizeof(path));
	CHECK_INT(start(&s, w, &e), 0);
	if (!s)
		return;
	CHECK(seal_now(s, &e) < 0); /* tenant 3 fails: rolled back, tenant 2's appends stay */
	damage_key(2, true);
	CHECK_INT(unlink(path), 0);
	usleep(1500 * 1000); /* the thread's own passes read the records (no held_try: 10 s) */
	CHECK_INT(seal_now(s, &e), 0);
	CHECK_INT(total(2), 3 * LINES);
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.held_events, 0);
	seal_stop(s);
	wal_close(w);
	CHECK_INT(files_with(2, "held.log"), 0);
	CHECK_INT(total(2), 3 * LINES);
	CHECK_INT(total(1), 2 * LINES);
	CHECK_INT(total(3), 2 * LINES);
}

/*
 * A WAL (2 shards) whose tenant 2 (3 records, key damaged) is held and tenant 1 (2) sealed,
 * by a sealer run of its own; NULL on failure (checked).
 */
static struct wal *held_three(const char *name)
{
	struct seal_stats st;
	struct wal *w;

	fresh(name);
	w = open_wal(2, 0);
	if (!w)
		return NULL;
	append(w, 0, 2, 0, 3);
	append(w, 0, 1, 0, 2);
	damage_key(2, false);
	seal_once(w, &st);
	CHECK_INT(st.held_events, 3 * LINES);
	return w;
}

/* A byte of the payload of held.log's first record (tenant 2) flipped. */
static void damage_held_record(void)
{
	char path[800];
	int fd;

	snprintf(path, sizeof(path), "%s/tenants/2/held.log", data);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, 8 + 40) == 1);
	if (fd >= 0)
		close(fd);
}

/*
 * A held log damaged inside (its first record): the sealer keeps its other records in a new
 * log and the damaged file beside it, holds on and seals every other tenant.
 */
static void test_damaged_held_log_salvaged(void)
{
	struct seal_stats st;
	struct wal *w = held_three("held-damaged");

	if (!w)
		return;
	damage_held_record();
	damage_key(2, true); /* mended for a moment, for the test to write its record */
	append(w, 1, 2, 100, 1);
	damage_key(2, false);
	append(w, 1, 1, 100, 2);
	seal_once(w, &st);
	CHECK_INT(st.errors, 0);
	CHECK_INT(st.sealed_events, 2 * LINES);
	CHECK_INT(st.held_events, 3 * LINES); /* two kept, one new */
	CHECK_INT(files_with(2, "held.log.damaged-"), 1);
	CHECK_INT(total(1), 4 * LINES);
	damage_key(2, true);
	seal_once(w, &st);
	CHECK_INT(st.sealed_events, 3 * LINES);
	wal_close(w);
	CHECK_INT(total(2), 3 * LINES);
	CHECK_INT(count(2, "\"seq=100\" | stats count()", NULL), 1);
	CHECK_INT(count(2, "\"seq=0 \" | stats count()", NULL), 0); /* the damaged record's */
}

/*
 * A held log damaged while the sealer has it open: the sealing that reads it fails once, and
 * the next opens (salvages) it; every other tenant is sealed meanwhile.
 */
static void test_held_log_damaged_while_open(void)
{
	struct seal_stats st;
	struct err e = ERR_INIT;
	struct seal *s = NULL;
	struct wal *w = held_three("held-open-damage");

	if (!w)
		return;
	CHECK_INT(start(&s, w, &e), 0); /* the log opened whole */
	if (!s)
		return;
	damage_held_record();
	damage_key(2, true);
	append(w, 1, 1, 100, 1);
	if (seal_now(s, &e) < 0) /* the replay meets the damage: rolled back */
		CHECK(strstr(e.msg, "damaged") != NULL);
	CHECK_INT(seal_now(s, &e), 0);
	seal_stats(s, &st);
	CHECK_INT(st.held_events, 0);
	seal_stop(s);
	wal_close(w);
	CHECK_INT(total(1), 3 * LINES);
	CHECK_INT(total(2), 2 * LINES); /* the damaged record's events are lost, said in the log */
	CHECK_INT(files_with(2, "held.log.damaged-"), 1);
}

static void test_held_crash_points(void)
{
	for (int step = 1; step <= 4; step++)
		held_crash_at(step);
	held_uncommitted(false);
	held_uncommitted(true);
}

int main(void)
{
	buf_init(&out, 1 << 20);
	for (lanes = 1; lanes <= 3; lanes += 2) { /* on the sealer's thread; on 3 lane threads */
		T_RUN(test_search_sees_unsealed);
		T_RUN(test_newest_first);
		T_RUN(test_same_results_sealed_or_not);
		T_RUN(test_crash_points);
		T_RUN(test_erased_tenant_skipped);
		T_RUN(test_torn_and_damaged_files);
		T_RUN(test_many_days_and_tenants);
		T_RUN(test_failed_tenant_rolls_back);
		T_RUN(test_backlog_after_restart);
		T_RUN(test_given_up_never_sealed);
		T_RUN(test_appends_while_sealing);
		T_RUN(test_erasure_while_held);
		T_RUN(test_yields_to_ingest);
		T_RUN(test_merge_small_segments);
		T_RUN(test_merge_crash_points);
		T_RUN(test_merge_failure_does_not_stop_sealing);
		T_RUN(test_damaged_key_holds_one_tenant);
		T_RUN(test_held_crash_points);
		T_RUN(test_held_rollback_then_key_back);
		T_RUN(test_damaged_held_log_salvaged);
		T_RUN(test_held_log_damaged_while_open);
	}
	T_RUN(test_wal_scan);
	T_RUN(test_backup_counts_over_passes);
	T_RUN(test_wal_scan_in_slices);
	T_RUN(test_concurrent_importers);
	buf_release(&out);
	return t_done();
}
