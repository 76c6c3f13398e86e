/*
 * test_taxii.c - TAXII 2.1 envelopes (objects to the STIX reader, more/next) and the
 * paging over a collection, with envelopes written here (TAXII 2.1 §3.7, §3.4).
 */
#include "enrich/taxii.h"

#include <errno.h>

#include "core/buf.h"
#include "core/err.h"
#include "t.h"
#include "ti_seam.h"

static int read_env(const char *doc, struct ti_seam *s, struct taxii_page *page,
		    struct err *e)
{
	struct stix_stats st;

	ti_seam_init(s);
	return taxii_envelope_read(doc, strlen(doc), &s->sink, page, &st, e);
}

static void test_envelope(void)
{
	struct ti_seam s;
	struct taxii_page page;
	struct err e = ERR_INIT;
	const char *doc =
		"{\"more\": true, \"next\": \"cursor 17/é\", \"x_extra\": [1, {\"a\": null}], "
		"\"objects\": [{\"type\": \"indicator\", \"id\": \"indicator--1\", "
		"\"spec_version\": \"2.1\", \"pattern_type\": \"stix\", "
		"\"pattern\": \"[ipv4-addr:value = '192.0.2.77']\", "
		"\"valid_from\": \"2026-01-01T00:00:00.000000Z\"}, "
		"{\"type\": \"marking-definition\", \"id\": \"marking-definition--2\"}, "
		"{\"type\": \"indicator\", \"id\": \"indicator--3\", \"pattern\": \"[x:y = 'z']\"}]}";

	CHECK_INT(read_env(doc, &s, &page, &e), 0);
	CHECK(page.more);
	CHECK_STR(page.next, "cursor 17/é");
	CHECK_INT(page.objects, 3);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.got[0], "ip 192.0.2.77 first=1767225600000000000 ref=indicator--1");
	CHECK_INT(s.n_rejects, 1);
	CHECK(!strncmp(s.rejects[0], "3: indicator--3: pattern byte 2: object path", 44));
}

static void test_empty_envelopes(void)
{
	struct ti_seam s;
	struct taxii_page page;
	struct err e = ERR_INIT;

	CHECK_INT(read_env("{}", &s, &page, &e), 0);
	CHECK(!page.more);
	CHECK_STR(page.next, "");
	CHECK_INT(page.objects, 0);
	CHECK_INT(read_env("{\"more\": false, \"objects\": []}", &s, &page, &e), 0);
	CHECK(!page.more);
	CHECK_INT(s.n, 0);
}

static void test_bad_envelopes(void)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "[]", "not a TAXII envelope: expected a JSON object" },
		{ "{\"more\": \"yes\"}", "byte 10: \"more\": expected true or false" },
		{ "{\"next\": 5}", "byte 10: \"next\": expected a cursor string of 1 to 1024 bytes" },
		{ "{\"next\": \"\"}", "byte 10: \"next\": expected a cursor string of 1 to 1024 bytes" },
		{ "{\"objects\": {}}", "byte 13: \"objects\": expected an array" },
		{ "{\"objects\": [}", "column 14: expected a value (object, array, string, number, true, "
					      "false or null), found '}'" },
		{ "{} {}", "column 4: expected the end of the input after the top-level value, "
			   "found '{'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ti_seam s;
		struct taxii_page page;
		struct err e = ERR_INIT;

		CHECK_INT(read_env(cases[i].doc, &s, &page, &e), -EINVAL);
		CHECK_STR(e.msg, cases[i].msg);
	}
}

static void test_long_cursor(void)
{
	struct ti_seam s;
	struct taxii_page page;
	struct err e = ERR_INIT;
	char doc[TAXII_NEXT_MAX + 64];
	size_t k = (size_t)snprintf(doc, sizeof(doc), "{\"next\": \"");

	memset(doc + k, 'c', TAXII_NEXT_MAX);
	snprintf(doc + k + TAXII_NEXT_MAX, sizeof(doc) - k - TAXII_NEXT_MAX, "\"}");
	CHECK_INT(read_env(doc, &s, &page, &e), 0);
	CHECK_INT(strlen(page.next), TAXII_NEXT_MAX);
	snprintf(doc + k + TAXII_NEXT_MAX, sizeof(doc) - k - TAXII_NEXT_MAX, "c\"}");
	CHECK_INT(read_env(doc, &s, &page, &e), -EINVAL);
}

static struct taxii_page page_of(bool more, const char *next, size_t objects)
{
	struct taxii_page p = { .more = more, .objects = objects };

	snprintf(p.next, sizeof(p.next), "%s", next);
	return p;
}

static void check_query(const struct taxii_paging *pg, unsigned limit, const char *want)
{
	struct buf q = BUF_INIT(4096);
	struct err e = ERR_INIT;

	CHECK_INT(taxii_paging_query(pg, limit, &q, &e), 0);
	CHECK_STR(q.p, want);
	buf_release(&q);
}

/* The cursor path: next with the original filters, then the end. */
static void test_paging_next(void)
{
	struct taxii_paging pg;
	struct taxii_page page;
	enum taxii_step step;
	struct err e = ERR_INIT;

	CHECK_INT(taxii_paging_init(&pg, "2026-01-01T00:00:00.000000Z", &e), 0);
	check_query(&pg, 100, "?match[type]=indicator&limit=100&added_after=2026-01-01T00%3A00%3A00.000000Z");
	page = page_of(true, "a b&c", 100);
	CHECK_INT(taxii_paging_step(&pg, &page, "2026-01-02T00:00:00.000000Z", &step, &e), 0);
	CHECK_INT(step, TAXII_FETCH);
	CHECK_STR(pg.watermark, "2026-01-02T00:00:00.000000Z");
	check_query(&pg, 100, "?match[type]=indicator&limit=100&added_after=2026-01-01T00%3A00%3A00.000000Z&next=a%20b%26c");
	/* an empty page with a new cursor goes on */
	page = page_of(true, "d", 0);
	CHECK_INT(taxii_paging_step(&pg, &page, NULL, &step, &e), 0);
	CHECK_INT(step, TAXII_FETCH);
	CHECK_STR(pg.next, "d");
	page = page_of(false, "", 3);
	CHECK_INT(taxii_paging_step(&pg, &page, "2026-01-03T00:00:00Z", &step, &e), 0);
	CHECK_INT(step, TAXII_DONE);
	CHECK_STR(pg.watermark, "2026-01-03T00:00:00Z");
	CHECK_INT(pg.pages, 3);
	CHECK(!pg.stalled);
}

/* more without next: added_after moves to the page's last date. */
static void test_paging_added_after(void)
{
	struct taxii_paging pg;
	struct taxii_page page;
	enum taxii_step step;
	struct err e = ERR_INIT;

	CHECK_INT(taxii_paging_init(&pg, NULL, &e), 0);
	check_query(&pg, 0, "?match[type]=indicator");
	page = page_of(true, "", 2);
	CHECK_INT(taxii_paging_step(&pg, &page, "2026-01-05T10:00:00.5Z", &step, &e), 0);
	CHECK_INT(step, TAXII_FETCH);
	check_query(&pg, 0, "?match[type]=indicator&added_after=2026-01-05T10%3A00%3A00.5Z");
	/* the same instant written with more digits is no later: the paging stops */
	page = page_of(true, "", 2);
	CHECK_INT(taxii_paging_step(&pg, &page, "2026-01-05T10:00:00.500000Z", &step, &e), 0);
	CHECK_INT(step, TAXII_DONE);
	CHECK(pg.stalled);
	CHECK_STR(pg.watermark, "2026-01-05T10:00:00.5Z");
}

static void test_paging_stalls(void)
{
	struct taxii_paging pg;
	struct taxii_page page;
	enum taxii_step step;
	struct err e = ERR_INIT;

	CHECK_INT(taxii_paging_init(&pg, "", &e), 0);
	page = page_of(true, "c1", 5);
	CHECK_INT(taxii_paging_step(&pg, &page, "2026-01-05T10:00:00Z", &step, &e), 0);
	CHECK_INT(step, TAXII_FETCH);
	page = page_of(true, "c1", 0); /* the same cursor, nothing in it */
	CHECK_INT(taxii_paging_step(&pg, &page, NULL, &step, &e), 0);
	CHECK_INT(step, TAXII_DONE);
	CHECK(pg.stalled);
	/* an earlier date never moves the watermark back */
	CHECK_INT(taxii_paging_init(&pg, "2026-02-01T00:00:00Z", &e), 0);
	page = page_of(false, "", 1);
	CHECK_INT(taxii_paging_step(&pg, &page, "2026-01-01T00:00:00Z", &step, &e), 0);
	CHECK_STR(pg.watermark, "2026-02-01T00:00:00Z");
}

static void test_paging_bad_dates(void)
{
	struct taxii_paging pg;
	struct taxii_page page = page_of(true, "", 1);
	enum taxii_step step;
	struct err e = ERR_INIT;

	CHECK_INT(taxii_paging_init(&pg, "2026-01-01T00:00:00+00:00", &e), -EINVAL);
	CHECK_STR(e.msg, "'2026-01-01T00:00:00+00:00': expected a TAXII timestamp "
			 "(YYYY-MM-DDTHH:MM:SS.ssssssZ)");
	CHECK_INT(taxii_paging_init(&pg, NULL, &e), 0);
	CHECK_INT(taxii_paging_step(&pg, &page, "yesterday", &step, &e), -EINVAL);
	CHECK_INT(step, TAXII_DONE);
	CHECK_STR(pg.watermark, "");
}

static void test_query_too_long(void)
{
	struct taxii_paging pg;
	struct buf q = BUF_INIT(64);
	struct err e = ERR_INIT;

	CHECK_INT(taxii_paging_init(&pg, NULL, &e), 0);
	memset(pg.next, '/', TAXII_NEXT_MAX);
	pg.next[TAXII_NEXT_MAX] = '\0';
	CHECK_INT(taxii_paging_query(&pg, 10, &q, &e), -ENOSPC);
	CHECK_STR(e.msg, "TAXII query: too long");
	buf_release(&q);
}

int main(void)
{
	T_RUN(test_envelope);
	T_RUN(test_empty_envelopes);
	T_RUN(test_bad_envelopes);
	T_RUN(test_long_cursor);
	T_RUN(test_paging_next);
	T_RUN(test_paging_added_after);
	T_RUN(test_paging_stalls);
	T_RUN(test_paging_bad_dates);
	T_RUN(test_query_too_long);
	return t_done();
}
