/*
 * test_litset.c - the multi-pattern pass (detect/litset), every case on every engine built
 * in: the portable Aho-Corasick automaton always, Hyperscan when koban is built with it
 * (`make HS=0` builds this test without it). The expected ids come from the definition
 * (a literal occurs when its bytes are a substring, ASCII letters folded when caseless),
 * written by hand for the small cases and computed by a naive search for the random ones.
 */
#include "detect/litset.h"
#include "core/compat.h"

#include <pthread.h>

#include "core/err.h"
#include "core/mem.h"
#include "t.h"

static const enum litset_engine engines[] = {
	LITSET_ENGINE_PORTABLE,
#ifdef KOBAN_HYPERSCAN
	LITSET_ENGINE_HYPERSCAN,
#endif
};

#define LIT(s, id, flags) { s, sizeof(s) - 1, id, flags }
#define CI LITSET_CASELESS

struct set {
	struct litset *set;
	struct litset_scratch *sc;
};

static int set_open(struct set *s, const struct litset_literal *lits, size_t n,
		    enum litset_engine engine)
{
	struct err e = ERR_INIT;
	int rc = litset_new(&s->set, lits, n, engine, &e);

	if (rc == 0)
		rc = litset_scratch_new(&s->sc, s->set, &e);
	t_check(rc == 0, __FILE__, __LINE__, "engine %d: %s", (int)engine, e.msg);
	return rc;
}

static void set_close(struct set *s)
{
	litset_scratch_free(s->sc);
	litset_free(s->set);
}

/* The ids found, sorted, as "1,4,7" (ids are reported in the order found). */
static const char *found(const struct litset_scratch *sc)
{
	static char out[4096];
	const uint32_t *ids;
	size_t n = litset_scratch_found(sc, &ids), len = 0;
	uint32_t sorted[512];

	if (n > ARRAY_SIZE(sorted))
		return "(too many)";
	memcpy(sorted, ids, n * sizeof(*ids));
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			uint32_t t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	out[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(out) - 16; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u", i ? "," : "",
					sorted[i]);
	return out;
}

/* Scans the C string text with each engine and compares the ids found with want. */
static void expect(const struct litset_literal *lits, size_t n, const char *text, size_t len,
		   const char *want)
{
	for (size_t k = 0; k < ARRAY_SIZE(engines); k++) {
		struct set s;

		if (set_open(&s, lits, n, engines[k]) < 0)
			continue;
		CHECK_INT(litset_scan(s.set, s.sc, text, len), 0);
		t_check(!strcmp(found(s.sc), want), __FILE__, __LINE__,
			"%s on \"%.*s\": got {%s}, want {%s}", litset_engine_name(s.set),
			(int)len, text, found(s.sc), want);
		set_close(&s);
	}
}

#define EXPECT(lits, text, want) expect(lits, ARRAY_SIZE(lits), text, sizeof(text) - 1, want)

static void test_engine_choice(void)
{
	static const struct litset_literal lits[] = { LIT("x", 0, 0) };
	struct litset *set;
	struct err e = ERR_INIT;

	CHECK_INT(litset_new(&set, lits, 1, LITSET_ENGINE_AUTO, &e), 0);
#ifdef KOBAN_HYPERSCAN
	CHECK_STR(litset_engine_name(set), "hyperscan");
#else
	CHECK_STR(litset_engine_name(set), "portable");
	litset_free(set);
	CHECK_INT(litset_new(&set, lits, 1, LITSET_ENGINE_HYPERSCAN, &e), -ENOTSUP);
	CHECK(strstr(e.msg, "not built in"));
	CHECK(set == NULL);
#endif
	litset_free(set);
	CHECK_INT(litset_new(&set, lits, 1, LITSET_ENGINE_PORTABLE, &e), 0);
	CHECK_STR(litset_engine_name(set), "portable");
	CHECK_INT(litset_literal_count(set), 1);
	CHECK_INT(litset_id_limit(set), 1);
	CHECK(litset_memory(set) > 0);
	litset_free(set);
}

static void test_basic(void)
{
	static const struct litset_literal lits[] = {
		LIT("mimikatz", 0, CI), LIT("/etc/passwd", 1, 0), LIT("union select", 2, CI),
		LIT("wget ", 3, 0),
	};

	EXPECT(lits, "GET /index.php?q=1%20UNION%20select HTTP/1.1", "");
	EXPECT(lits, "GET /x?q=1 UNION SELECT 2 HTTP/1.1", "2");
	EXPECT(lits, "cat /etc/passwd; Invoke-Mimikatz", "0,1");
	EXPECT(lits, "cat /ETC/passwd; wget http://x", "3");
	EXPECT(lits, "", "");
}

/* Literals that are prefixes, suffixes and infixes of each other, and repeats. */
static void test_overlaps(void)
{
	static const struct litset_literal classic[] = {
		LIT("he", 0, 0), LIT("she", 1, 0), LIT("his", 2, 0), LIT("hers", 3, 0),
	};
	static const struct litset_literal runs[] = {
		LIT("a", 0, 0), LIT("aa", 1, 0), LIT("aaa", 2, 0), LIT("aaaa", 3, 0),
		LIT("ab", 4, 0), LIT("ba", 5, 0),
	};

	EXPECT(classic, "ushers", "0,1,3");
	EXPECT(classic, "this", "2");
	EXPECT(classic, "hhhhhe", "0");
	EXPECT(runs, "aaa", "0,1,2");
	EXPECT(runs, "baaab", "0,1,2,4,5");
	EXPECT(runs, "b", "");
	/* the failure path of a long partial match must still find the short literal */
	static const struct litset_literal fail[] = {
		LIT("abcdex", 0, 0), LIT("bcd", 1, 0), LIT("cdf", 2, 0),
	};
	EXPECT(fail, "abcdey", "1");
	EXPECT(fail, "abcdf", "1,2");
}

static void test_case(void)
{
	static const struct litset_literal lits[] = {
		LIT("Admin", 0, 0),	      /* exact */
		LIT("admin", 1, CI),	      /* any case, same folded bytes as id 0 */
		LIT("ADMIN", 2, 0),	      /* exact */
		LIT("cmd.EXE", 3, CI),	      /* any case */
		LIT("\xc3\x89t\xc3\xa9", 4, CI), /* "Été": only ASCII letters fold */
	};

	EXPECT(lits, "user=Admin", "0,1");
	EXPECT(lits, "user=ADMIN", "1,2");
	EXPECT(lits, "user=aDmIn", "1");
	EXPECT(lits, "C:\\Windows\\System32\\CMD.exe /c", "3");
	EXPECT(lits, "\xc3\x89T\xc3\xa9", "4");
	EXPECT(lits, "\xc3\xa9t\xc3\xa9", "");
	EXPECT(lits, "\xc3\x89t\xc3\x89", "");
}

static void test_binary(void)
{
	static const struct litset_literal lits[] = {
		{ "\0\0", 2, 0, 0 },	       { "a\0b", 3, 1, CI },
		{ "\xff\xfe", 2, 2, 0 },       { "\x80", 1, 3, 0 },
		{ "\x7f\xff\x00\x01", 4, 4, CI },
	};

	expect(lits, ARRAY_SIZE(lits), "xA\0By", 5, "1");
	expect(lits, ARRAY_SIZE(lits), "\0\0\0", 3, "0");
	expect(lits, ARRAY_SIZE(lits), "\xff\xfe", 2, "2");
	expect(lits, ARRAY_SIZE(lits), "\xfe\xff", 2, "");
	expect(lits, ARRAY_SIZE(lits), "\x7f\xff\x00\x01\x80", 5, "3,4");
	expect(lits, ARRAY_SIZE(lits), "a\0", 2, ""); /* a literal cut by the end */
}

static void test_empty(void)
{
	static const struct litset_literal empty_lit[] = { { NULL, 0, 7, 0 }, LIT("x", 1, 0) };

	expect(NULL, 0, "anything", 8, "");
	expect(NULL, 0, "", 0, "");
	/* an empty literal occurs in every buffer, the empty one too */
	expect(empty_lit, 2, "", 0, "7");
	expect(empty_lit, 2, "abc", 3, "7");
	expect(empty_lit, 2, "x", 1, "1,7");
	expect(empty_lit, 1, "x", 1, "7");
}

/* Shared ids are reported once; scan forgets, scan_add accumulates, clear forgets. */
static void test_ids(void)
{
	static const struct litset_literal lits[] = {
		LIT("cmd", 5, CI), LIT("powershell", 5, CI), LIT("rundll32", 9, 0),
	};

	EXPECT(lits, "cmd /c powershell cmd CMD powershell", "5");
	for (size_t k = 0; k < ARRAY_SIZE(engines); k++) {
		struct set s;

		if (set_open(&s, lits, ARRAY_SIZE(lits), engines[k]) < 0)
			continue;
		CHECK_INT(litset_id_limit(s.set), 10);
		CHECK_INT(litset_scan(s.set, s.sc, "rundll32 x", 10), 0);
		CHECK_STR(found(s.sc), "9");
		CHECK(litset_scratch_has(s.sc, 9));
		CHECK(!litset_scratch_has(s.sc, 5));
		CHECK(!litset_scratch_has(s.sc, 0));
		CHECK(!litset_scratch_has(s.sc, 10));
		CHECK(!litset_scratch_has(s.sc, UINT32_MAX));
		CHECK_INT(litset_scan_add(s.set, s.sc, "cmd", 3), 0);
		CHECK_STR(found(s.sc), "5,9");
		/* a literal across two buffers is not found */
		CHECK_INT(litset_scan(s.set, s.sc, "run", 3), 0);
		CHECK_INT(litset_scan_add(s.set, s.sc, "dll32", 5), 0);
		CHECK_STR(found(s.sc), "");
		CHECK_INT(litset_scan(s.set, s.sc, "CMD rundll32", 12), 0);
		CHECK_STR(found(s.sc), "5,9");
		litset_scratch_clear(s.sc);
		CHECK_STR(found(s.sc), "");
		CHECK(!litset_scratch_has(s.sc, 9));
		CHECK(!litset_scratch_has(s.sc, 5));
		/* the results outlive the set: a reload frees it before the workers' scratch */
		CHECK_INT(litset_scan(s.set, s.sc, "rundll32", 8), 0);
		litset_free(s.set);
		CHECK(litset_scratch_has(s.sc, 9));
		CHECK(!litset_scratch_has(s.sc, 10));
		CHECK_STR(found(s.sc), "9");
		litset_scratch_clear(s.sc);
		litset_scratch_free(s.sc);
	}
}

static void test_errors(void)
{
	static const struct litset_literal one[] = { LIT("a", 0, 0) };
	struct litset_literal bad[] = { LIT("a", 0, 0), LIT("b", 1, 0) };
	struct litset *set = NULL;
	struct err e = ERR_INIT;
	struct set a, b;

	bad[1].flags = 4;
	CHECK_INT(litset_new(&set, bad, 2, LITSET_ENGINE_AUTO, &e), -EINVAL);
	CHECK(strstr(e.msg, "literal 1: flags 0x4"));
	bad[1].flags = 0;
	bad[1].id = LITSET_MAX_IDS;
	CHECK_INT(litset_new(&set, bad, 2, LITSET_ENGINE_AUTO, &e), -EINVAL);
	CHECK(strstr(e.msg, "literal 1: id"));
	bad[1].id = 1;
	bad[1].len = LITSET_MAX_LITERAL_LEN + 1;
	CHECK_INT(litset_new(&set, bad, 2, LITSET_ENGINE_AUTO, &e), -EINVAL);
	CHECK(strstr(e.msg, "literal 1: 65537 bytes"));
	bad[1].len = 1;
	bad[1].bytes = NULL;
	CHECK_INT(litset_new(&set, bad, 2, LITSET_ENGINE_AUTO, &e), -EINVAL);
	CHECK(strstr(e.msg, "literal 1: no bytes"));
	CHECK_INT(litset_new(&set, bad, LITSET_MAX_LITERALS + 1, LITSET_ENGINE_AUTO, &e), -E2BIG);
	CHECK(set == NULL);

	/* a scratch belongs to its set */
	for (size_t k = 0; k < ARRAY_SIZE(engines); k++) {
		if (set_open(&a, one, 1, engines[k]) < 0)
			continue;
		if (set_open(&b, one, 1, engines[k]) == 0) {
			CHECK_INT(litset_scan(a.set, b.sc, "a", 1), -EINVAL);
			CHECK_INT(litset_scan(a.set, a.sc, "a", 1), 0);
			CHECK_STR(found(a.sc), "0");
			CHECK_INT(litset_scan(a.set, a.sc, "a", (size_t)UINT32_MAX + 1), -EFBIG);
			set_close(&b);
		}
		set_close(&a);
	}
}

/* ---- random sets against a naive search ---- */

static unsigned rnd_state = 1;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static int naive_occurs(const struct litset_literal *l, const char *p, size_t len)
{
	if (!l->len)
		return 1;
	for (size_t i = 0; i + l->len <= len; i++) {
		size_t j = 0;

		for (; j < l->len; j++) {
			unsigned char a = (unsigned char)p[i + j], b = (unsigned char)l->bytes[j];

			if (l->flags & CI) {
				a = (unsigned char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
				b = (unsigned char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
			}
			if (a != b)
				break;
		}
		if (j == l->len)
			return 1;
	}
	return 0;
}

/* Compares every engine with the naive search on nbuf random buffers of alphabet[na]. */
static void compare_random(const struct litset_literal *lits, size_t n, const char *alphabet,
			   size_t na, unsigned nbuf, unsigned buflen)
{
	char *buf = mem_alloc(buflen + 1);
	uint32_t id_limit = 0;
	unsigned char *want;

	for (size_t i = 0; i < n; i++)
		id_limit = MAX(id_limit, lits[i].id + 1);
	want = mem_calloc(id_limit + 1, 1);
	for (size_t k = 0; k < ARRAY_SIZE(engines); k++) {
		struct set s;
		unsigned bad = 0;

		if (set_open(&s, lits, n, engines[k]) < 0)
			continue;
		rnd_state = 7;
		for (unsigned b = 0; b < nbuf && !bad; b++) {
			size_t len = rnd(buflen + 1), nfound, nwant = 0;
			const uint32_t *ids;

			for (size_t i = 0; i < len; i++)
				buf[i] = alphabet[rnd((unsigned)na)];
			if (litset_scan(s.set, s.sc, buf, len) < 0) {
				bad += !t_check(0, __FILE__, __LINE__, "scan failed");
				break;
			}
			nfound = litset_scratch_found(s.sc, &ids);
			memset(want, 0, id_limit + 1);
			for (size_t i = 0; i < n; i++)
				if (!want[lits[i].id] && naive_occurs(&lits[i], buf, len)) {
					want[lits[i].id] = 1;
					nwant++;
				}
			for (uint32_t id = 0; id < id_limit && !bad; id++)
				if (want[id] != litset_scratch_has(s.sc, id))
					bad += !t_check(0, __FILE__, __LINE__,
							"%s: buffer %u, id %u: found %d, want %d",
							litset_engine_name(s.set), b, id,
							litset_scratch_has(s.sc, id), want[id]);
			if (!bad && nfound != nwant)
				bad += !t_check(0, __FILE__, __LINE__, "%s: %zu ids listed, %zu found",
						litset_engine_name(s.set), nfound, nwant);
		}
		CHECK_INT(bad, 0);
		set_close(&s);
	}
	mem_free(buf);
	mem_free(want);
}

/* Random literals from a small alphabet, so that they overlap a lot. */
static struct litset_literal *random_literals(size_t n, const char *alphabet, size_t na,
					      unsigned minlen, unsigned maxlen, uint32_t nids,
					      char **bytes)
{
	struct litset_literal *lits = mem_calloc(n, sizeof(*lits));
	char *p = mem_alloc(n * maxlen + 1);

	*bytes = p;
	for (size_t i = 0; i < n; i++) {
		lits[i].len = minlen + rnd(maxlen - minlen + 1);
		lits[i].bytes = p;
		for (size_t j = 0; j < lits[i].len; j++)
			*p++ = alphabet[rnd((unsigned)na)];
		lits[i].id = nids ? rnd(nids) : (uint32_t)i;
		lits[i].flags = rnd(2) ? CI : 0;
	}
	return lits;
}

#define ALPHA(s) s, sizeof(s) - 1

static void test_random_small(void)
{
	for (unsigned round = 0; round < 40; round++) {
		char *bytes;
		struct litset_literal *lits;
		size_t n;

		rnd_state = 100 + round;
		n = 1 + rnd(12);
		lits = random_literals(n, ALPHA("aAbB\0\xff"), 0, 5, round % 2 ? 5 : 0, &bytes);
		compare_random(lits, n, ALPHA("aAbB\0\xff"), 60, 24);
		mem_free(lits);
		mem_free(bytes);
	}
}

/* Buffers long enough for the portable scan to split them: literals across the middle. */
static void test_random_long(void)
{
	for (unsigned round = 0; round < 30; round++) {
		char *bytes;
		struct litset_literal *lits;
		size_t n;

		rnd_state = 900 + round;
		n = 1 + rnd(20);
		lits = random_literals(n, ALPHA("abAB"), 1, round % 3 ? 12 : 70, round % 2 ? 7 : 0,
				       &bytes);
		compare_random(lits, n, ALPHA("aAbB"), 80, 300);
		mem_free(lits);
		mem_free(bytes);
	}
}

static void test_across_middle(void)
{
	static const struct litset_literal lits[] = {
		LIT("0123456789", 0, 0), LIT("xy", 1, 0), LIT("middle-of-the-buffer", 2, CI),
	};
	char buf[200];

	/* at every offset, the long literals across the middle of the buffer */
	for (size_t at = 0; at + 20 <= sizeof(buf) - 10; at += 7) {
		memset(buf, '.', sizeof(buf));
		memcpy(buf + at, "MIDDLE-of-the-BUFFER", 20);
		memcpy(buf + sizeof(buf) - 10, "0123456789", 10);
		expect(lits, ARRAY_SIZE(lits), buf, sizeof(buf), "0,2");
		expect(lits, ARRAY_SIZE(lits), buf, 101, at + 20 <= 101 ? "2" : "");
	}
}

static void test_10k_literals(void)
{
	char *bytes;
	struct litset_literal *lits;

	rnd_state = 4242;
	/* short literals over a small alphabet: many occur in each buffer */
	lits = random_literals(10000, ALPHA("abcdAB/."), 3, 8, 0, &bytes);
	compare_random(lits, 10000, ALPHA("abcdABCD/.x"), 20, 400);
	mem_free(lits);
	mem_free(bytes);
	/* longer literals over a log-like alphabet, ids shared: few occur */
	lits = random_literals(10000, ALPHA("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789/._-=?&% "),
			       4, 24, 3000, &bytes);
	compare_random(lits, 10000, ALPHA("abcABC/.-"), 20, 2000);
	mem_free(lits);
	mem_free(bytes);
}

/* Every allocation of compile, scratch and scan failing in turn: clean -ENOMEM, no leak. */
static void test_alloc_failures(void)
{
	static const struct litset_literal lits[] = {
		LIT("he", 0, 0), LIT("she", 1, CI), LIT("", 2, 0), LIT("hers", 3, 0),
	};

	for (size_t k = 0; k < ARRAY_SIZE(engines); k++) {
		int done = 0;

		for (long n = 0; n < 10000 && !done; n++) {
			struct err e = ERR_INIT;
			struct litset *set = NULL;
			struct litset_scratch *sc = NULL;
			int rc;

			mem_fail_after(n);
			rc = litset_new(&set, lits, ARRAY_SIZE(lits), engines[k], &e);
			if (rc == 0)
				rc = litset_scratch_new(&sc, set, &e);
			mem_fail_after(-1);
			if (rc < 0) {
				if (!t_check(rc == -ENOMEM && e.msg[0], __FILE__, __LINE__,
					     "engine %d, allocation %ld: %d %s", (int)engines[k], n,
					     rc, e.msg))
					break;
				CHECK(sc == NULL);
				litset_free(set);
				continue;
			}
			done = 1;
			CHECK_INT(litset_scan(set, sc, "ushers", 6), 0);
			CHECK_STR(found(sc), "0,1,2,3");
			litset_scratch_free(sc);
			litset_free(set);
		}
		CHECK(done);
	}
}

struct worker {
	const struct litset *set;
	const char *text;
	unsigned hits;
	int rc;
};

static void *scan_many(void *arg)
{
	struct worker *w = arg;
	struct litset_scratch *sc;
	struct err e = ERR_INIT;

	w->rc = litset_scratch_new(&sc, w->set, &e);
	for (unsigned i = 0; i < 20000 && w->rc == 0; i++) {
		w->rc = litset_scan(w->set, sc, w->text, strlen(w->text));
		w->hits += litset_scratch_has(sc, 1);
	}
	litset_scratch_free(sc);
	return NULL;
}

/* One compiled set, two threads with their own scratch, different answers. */
static void test_threads(void)
{
	static const struct litset_literal lits[] = { LIT("needle", 1, CI), LIT("hay", 2, 0) };

	for (size_t k = 0; k < ARRAY_SIZE(engines); k++) {
		struct set s;
		struct worker w[2] = { { 0 } };
		pthread_t th[2];

		if (set_open(&s, lits, 2, engines[k]) < 0)
			continue;
		w[0].text = "hay hay NEEDLE hay";
		w[1].text = "hay hay neeedle hay";
		for (int i = 0; i < 2; i++) {
			w[i].set = s.set;
			CHECK_INT(pthread_create(&th[i], NULL, scan_many, &w[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			CHECK_INT(pthread_join(th[i], NULL), 0);
		CHECK_INT(w[0].rc, 0);
		CHECK_INT(w[1].rc, 0);
		CHECK_INT(w[0].hits, 20000);
		CHECK_INT(w[1].hits, 0);
		set_close(&s);
	}
}

int main(void)
{
	T_RUN(test_engine_choice);
	T_RUN(test_basic);
	T_RUN(test_overlaps);
	T_RUN(test_case);
	T_RUN(test_binary);
	T_RUN(test_empty);
	T_RUN(test_ids);
	T_RUN(test_errors);
	T_RUN(test_random_small);
	T_RUN(test_random_long);
	T_RUN(test_across_middle);
	T_RUN(test_10k_literals);
	T_RUN(test_alloc_failures);
	T_RUN(test_threads);
	return t_done();
}
