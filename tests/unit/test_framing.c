/* Unit tests of RFC 6587 framing: both modes, every chunking, truncation, bad counts. */
#include "ingest/framing.h"
#include "t.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_OUT 64
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct collected {
	char msg[MAX_OUT][256];
	size_t len[MAX_OUT];
	bool truncated[MAX_OUT];
	size_t n;
	int rc; /* the negative framer_next result, or 0 */
};

static void collect(struct collected *c, const struct frame *fr)
{
	if (c->n < MAX_OUT) {
		memcpy(c->msg[c->n], fr->data, MIN(fr->len, sizeof(c->msg[0])));
		c->len[c->n] = fr->len;
		c->truncated[c->n] = fr->truncated;
	}
	c->n++;
}

/*
 * Feeds s[0..len) in chunks: split 0 = all at once, 1 = byte by byte, else random sizes
 * 1..split. Then ends the stream with framer_finish.
 */
static void feed(struct collected *c, size_t max, const char *s, size_t len, size_t split)
{
	struct framer f;
	struct frame fr;
	size_t off = 0;

	memset(c, 0, sizeof(*c));
	framer_init(&f, max);
	while (off < len && c->rc == 0) {
		size_t k = split == 0 ? len : split == 1 ? 1 : 1 + (size_t)rand() % split;
		const char *p = s + off;
		size_t n = k < len - off ? k : len - off;
		int rc;

		off += n;
		while ((rc = framer_next(&f, &p, &n, &fr)) > 0)
			collect(c, &fr);
		if (rc < 0)
			c->rc = rc;
		else
			CHECK_INT(n, 0);
	}
	if (c->rc == 0 && framer_finish(&f, &fr) > 0)
		collect(c, &fr);
	framer_release(&f);
}

/* The same result for one chunk, byte by byte and 200 random splittings. */
static void expect(size_t max, const char *s, size_t len, const char *const *want,
		   const bool *trunc, size_t nwant, int want_rc)
{
	static const size_t splits[] = { 0, 1, 2, 3, 7, 50 };

	for (size_t round = 0; round < 200 + N_ELEMS(splits); round++) {
		struct collected c;
		size_t split = round < N_ELEMS(splits) ? splits[round] : 1 + (size_t)rand() % 40;

		feed(&c, max, s, len, split);
		if (!t_check(c.rc == want_rc, __FILE__, __LINE__, "split %zu: rc %d, want %d", split,
			     c.rc, want_rc))
			return;
		if (!t_check(c.n == nwant, __FILE__, __LINE__, "split %zu: %zu messages, want %zu",
			     split, c.n, nwant))
			return;
		for (size_t i = 0; i < nwant; i++) {
			bool same = c.len[i] == strlen(want[i]) && !memcmp(c.msg[i], want[i], c.len[i]);

			if (!t_check(same && c.truncated[i] == (trunc ? trunc[i] : false), __FILE__,
				     __LINE__, "split %zu: message %zu is \"%.*s\"%s, want \"%s\"%s",
				     split, i, (int)MIN(c.len[i], 200), c.msg[i],
				     c.truncated[i] ? " (truncated)" : "", want[i],
				     trunc && trunc[i] ? " (truncated)" : ""))
				return;
		}
	}
}

#define EXPECT(max, s, want, trunc, rc) expect(max, s, sizeof(s) - 1, want, trunc, N_ELEMS(want), rc)

static void test_lf(void)
{
	static const char *const want[] = { "<13>one", "<13>two", "three" };

	EXPECT(100, "<13>one\n<13>two\nthree\n", want, NULL, 0);
}

static void test_crlf_nul_and_empty_lines(void)
{
	static const char *const want[] = { "<13>one", "<13>two", "<13>th\rree", "four" };

	EXPECT(100, "<13>one\r\n<13>two\0\r\n\n<13>th\rree\r\n\0four\0", want, NULL, 0);
}

static void test_lf_unterminated_last_message(void)
{
	static const char *const want[] = { "a", "last one" };

	EXPECT(100, "a\nlast one", want, NULL, 0);
}

static void test_octet_counting(void)
{
	static const char *const want[] = { "<13>one", "two\nlines", "x", "<1>\tnul" };

	EXPECT(100, "7 <13>one9 two\nlines1 x7 <1>\tnul", want, NULL, 0);
}

static void test_octet_incomplete_frame_dropped(void)
{
	static const char *const want[] = { "abc" };

	EXPECT(100, "3 abc10 short", want, NULL, 0);
}

static void test_lf_truncation(void)
{
	static const char *const want[] = { "a2345", "ok", "abcde", "exact", "67890", "z" };
	static const bool trunc[] = { true, false, true, false, true, false };

	/* "exact\r" is max + CR: not truncated; the overlong last one is cut at EOF too */
	EXPECT(5, "a234567\nok\nabcdefghijklmnop\r\nexact\r\n678901\r\nz", want, trunc, 0);
}

static void test_octet_truncation(void)
{
	static const char *const want[] = { "12345", "ok", "abcde", "exact" };
	static const bool trunc[] = { true, false, true, false };

	EXPECT(5, "7 12345672 ok16 abcdefghijklmnop5 exact", want, trunc, 0);
}

static void test_bad_counts(void)
{
	static const char *const none[1] = { NULL };
	static const char *const one[] = { "abc" };

	expect(100, "0 x", 3, none, NULL, 0, -EPROTO);
	expect(100, "3 abc05 hello", 13, one, NULL, 1, -EPROTO);
	expect(100, "3 abc x", 7, one, NULL, 1, -EPROTO);
	expect(100, "3 abc\n4 abcd", 12, one, NULL, 1, -EPROTO);
	expect(100, "1234567890 x", 12, none, NULL, 0, -EPROTO);
	expect(100, "12a x", 5, none, NULL, 0, -EPROTO);
}

static void test_error_message_and_mode(void)
{
	struct framer f;
	struct frame fr;
	const char *p = "05 hello";
	size_t n = strlen(p);

	framer_init(&f, 100);
	CHECK_STR(framer_error(&f), "");
	CHECK_INT(framer_next(&f, &p, &n, &fr), -EPROTO);
	CHECK_INT(framer_mode(&f), FRAMER_OCTET);
	CHECK(strstr(framer_error(&f), "leading zero") != NULL);
	framer_release(&f);
}

/* A message split over many chunks larger than max is still cut once, and the stream goes on. */
static void test_big_truncation_across_chunks(void)
{
	static char s[20000];
	struct collected c;
	size_t len;

	memset(s, 'a', 10000);
	len = 10000;
	memcpy(s + len, "\nnext\n", 6);
	len += 6;
	for (size_t split = 0; split < 300; split += 37) {
		feed(&c, 1000, s, len, split);
		CHECK_INT(c.n, 2);
		CHECK_INT(c.len[0], 1000);
		CHECK_INT(c.truncated[0], 1);
		CHECK_MEM(c.msg[1], c.len[1], "next");
	}
}

/* Feeds one chunk and returns framer_next's last result (messages are discarded). */
static int feed_chunk(struct framer *f, const char *s, size_t n)
{
	struct frame fr;
	int rc;

	while ((rc = framer_next(f, &s, &n, &fr)) > 0)
		continue;
	return rc;
}

static void test_mid_message_and_in_frame(void)
{
	struct framer f;
	struct frame fr;

	framer_init(&f, 10);
	CHECK(!framer_mid_message(&f) && !framer_in_frame(&f));
	CHECK_INT(feed_chunk(&f, "<13>a\n<13", 9), 0);
	CHECK(framer_mid_message(&f) && framer_in_frame(&f));
	CHECK_INT(feed_chunk(&f, ">b\n", 3), 0);
	CHECK(!framer_mid_message(&f) && !framer_in_frame(&f));
	/* an overlong message was delivered cut: what follows is skipped, nothing is lost */
	CHECK_INT(feed_chunk(&f, "0123456789abc", 13), 0);
	CHECK(!framer_mid_message(&f) && framer_in_frame(&f));
	CHECK_INT(framer_finish(&f, &fr), 0);
	/* octet counting: a count alone, then a body, is mid-message */
	CHECK_INT(feed_chunk(&f, "5", 1), 0);
	CHECK(framer_mid_message(&f));
	CHECK_INT(feed_chunk(&f, " ab", 3), 0);
	CHECK(framer_mid_message(&f));
	CHECK_INT(feed_chunk(&f, "cde", 3), 0);
	CHECK(!framer_mid_message(&f) && !framer_in_frame(&f));
	framer_release(&f);
}

static void test_budget(void)
{
	struct framer_budget b = { .max = 4096 };
	static char big[5000];
	struct framer f, g;
	struct frame fr;

	memset(big, 'x', sizeof(big));
	framer_init(&f, 65536);
	framer_init(&g, 65536);
	framer_set_budget(&f, &b);
	framer_set_budget(&g, &b);
	CHECK_INT(feed_chunk(&f, big, 3000), 0); /* 1024 -> 2048 -> 4096 */
	CHECK_INT(atomic_load(&b.used), 4096);
	CHECK_INT(feed_chunk(&g, big, 10), -ENOBUFS); /* not even the first 1024 bytes */
	CHECK_INT(atomic_load(&b.used), 4096);
	CHECK_INT(feed_chunk(&f, big, 1500), -ENOBUFS); /* would need 8192 */
	framer_finish(&f, &fr);
	framer_finish(&g, &fr);
	/* a delivered message gives its grown buffer back on the next call */
	CHECK_INT(feed_chunk(&f, big, 2000), 0);
	CHECK_INT(atomic_load(&b.used), 2048);
	CHECK_INT(feed_chunk(&f, "\n", 1), 0);
	CHECK_INT(feed_chunk(&f, "", 0), 0);
	CHECK_INT(atomic_load(&b.used), 0);
	/* small buffers are kept, and released with the framer */
	CHECK_INT(feed_chunk(&g, "ab", 2), 0);
	CHECK_INT(atomic_load(&b.used), 1024);
	framer_release(&g);
	framer_release(&f);
	CHECK_INT(atomic_load(&b.used), 0);
}

int main(void)
{
	srand(42);
	T_RUN(test_lf);
	T_RUN(test_crlf_nul_and_empty_lines);
	T_RUN(test_lf_unterminated_last_message);
	T_RUN(test_octet_counting);
	T_RUN(test_octet_incomplete_frame_dropped);
	T_RUN(test_lf_truncation);
	T_RUN(test_octet_truncation);
	T_RUN(test_bad_counts);
	T_RUN(test_error_message_and_mode);
	T_RUN(test_big_truncation_across_chunks);
	T_RUN(test_mid_message_and_in_frame);
	T_RUN(test_budget);
	return t_done();
}
