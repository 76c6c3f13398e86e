/*
 * Unit tests of enrich/tiread: plain lists and CSV (column maps, headers, quoting) into a
 * sink that records what it was given.
 */
#include "enrich/tiread.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "enrich/ti.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct seen {
	struct buf out; /* "type value conf tags|desc|ref\n" per indicator, "! line reason\n" */
	unsigned added, rejected;
	int stop_after; /* add() fails after this many (0: never) */
};

static int add(void *ctx, const struct ti_indicator *ind)
{
	struct seen *s = ctx;

	if (s->stop_after && (int)s->added == s->stop_after)
		return -ECANCELED;
	s->added++;
	buf_addf(&s->out, "%s %.*s %d ", ti_type_name(ind->type), (int)ind->len, ind->value,
		 ind->confidence);
	for (size_t i = 0; i < ind->n_tags; i++)
		buf_addf(&s->out, "%s%s", i ? ";" : "", ind->tags[i]);
	buf_addf(&s->out, "|%s|%s|%lld|%lld\n", ind->description ? ind->description : "-",
		 ind->ref ? ind->ref : "-", (long long)(ind->first_seen_ns / 1000000000),
		 (long long)(ind->expires_ns / 1000000000));
	return 0;
}

static void rej(void *ctx, unsigned line, const char *reason)
{
	struct seen *s = ctx;

	s->rejected++;
	buf_addf(&s->out, "! %u %s\n", line, reason);
}

static int run_list(const char *text, struct seen *s)
{
	struct ti_sink sink = { add, rej, s };
	struct err e = ERR_INIT;

	buf_init(&s->out, 1 << 20);
	return ti_read_list(text, strlen(text), &sink, &e);
}

static int run_csv(const char *text, const char *map, struct seen *s)
{
	struct ti_sink sink = { add, rej, s };
	struct ti_csv_columns cols;
	struct err e = ERR_INIT;

	buf_init(&s->out, 1 << 20);
	if (map && ti_csv_columns_parse(map, &cols, &e) < 0)
		return -100;
	return ti_read_csv(text, strlen(text), map ? &cols : NULL, &sink, &e);
}

static void test_list(void)
{
	struct seen s = { 0 };

	CHECK_INT(run_list("# a feed\n\n192.0.2.1\r\n  Evil.Example.  # known bad\n"
			   "10.0.0.5/8\nhttps://X.example/a#b\nnot a value\nfoo\n"
			   "D41D8CD98F00B204E9800998ECF8427E\nphish@Evil.example", &s), 0);
	CHECK_INT(s.added, 6);
	CHECK_INT(s.rejected, 2);
	CHECK_STR(s.out.p,
		  "ip 192.0.2.1 -1 |-|-|0|0\n"
		  "domain evil.example -1 |-|-|0|0\n"
		  "ip 10.0.0.0/8 -1 |-|-|0|0\n"
		  "url https://x.example/a -1 |-|-|0|0\n"
		  "! 7 'not a value': expected one value per line (a comment starts with '#')\n"
		  "! 8 'foo': not an IP address or network, domain, URL, MD5, SHA-1, SHA-256 or "
		  "e-mail address\n"
		  "md5 d41d8cd98f00b204e9800998ecf8427e -1 |-|-|0|0\n"
		  "email phish@evil.example -1 |-|-|0|0\n");
	buf_release(&s.out);
}

static void test_list_stop(void)
{
	struct seen s = { .stop_after = 1 };

	CHECK_INT(run_list("192.0.2.1\n192.0.2.2\n192.0.2.3\n", &s), -ECANCELED);
	CHECK_INT(s.added, 1);
	buf_release(&s.out);
	s = (struct seen){ 0 };
	CHECK_INT(run_list("", &s), 0);
	CHECK_INT(s.added + s.rejected, 0);
	buf_release(&s.out);
}

static void test_csv_map(void)
{
	struct seen s = { 0 };

	CHECK_INT(run_csv("198.51.100.7,ip,80,c2;botnet,\"Cobalt, \"\"beacon\"\"\",2026-01-02,ref-1\n"
			  "evil.example,domain,,,,,\n"
			  "evil.example,sha1,1,,,,\n"
			  "1.2.3.4,ip,101,,,,\n"
			  "1.2.3.4,ip,5,,,2026-13-01,\n",
			  "value=1,type=2,confidence=3,tags=4,description=5,first_seen=6,ref=7", &s),
		  0);
	CHECK_INT(s.added, 2);
	CHECK_INT(s.rejected, 3);
	CHECK_STR(s.out.p,
		  "ip 198.51.100.7 80 c2;botnet|Cobalt, \"beacon\"|ref-1|1767312000|0\n"
		  "domain evil.example -1 |-|-|0|0\n"
		  "! 3 sha1 'evil.example': a sha1 is 40 hexadecimal digits\n"
		  "! 4 confidence '101': expected 0 to 100\n"
		  "! 5 a time: expected RFC 3339 (2026-11-30T12:00:00Z) or a date\n");
	buf_release(&s.out);
}

static void test_csv_header(void)
{
	struct seen s = { 0 };

	/* the header names the columns; a quoted cell spans two lines */
	CHECK_INT(run_csv("# exported\ntype,Indicator,description,expires\n"
			  "url,http://a.example:80/x,\"two\nlines\",2030-01-01T00:00:00Z\n"
			  "url,http://a.example:80/x,\"one line\",2030-01-01T00:00:00Z\n"
			  "md5,,,\n"
			  "ip,\"192.0.2.9\" x,,\n"
			  "ip,\"192.0.2.10,,\n",
			  NULL, &s), 0);
	CHECK_STR(s.out.p,
		  "! 3 tags, description and ref hold no control characters\n"
		  "url http://a.example/x -1 |one line|-|0|1893456000\n"
		  "! 6 no value in column 2\n"
		  "! 7 CSV: text after a closing quote\n"
		  "! 8 CSV: a quoted cell without its closing quote\n");
	buf_release(&s.out);
	/* no header, no map: column 1, type recognised; a map skips a header */
	s = (struct seen){ 0 };
	CHECK_INT(run_csv("192.0.2.1,whatever\nevil.example\n", NULL, &s), 0);
	CHECK_INT(s.added, 2);
	buf_release(&s.out);
	s = (struct seen){ 0 };
	CHECK_INT(run_csv("name,value\nx,192.0.2.1\n", "value=2", &s), 0);
	CHECK_STR(s.out.p, "ip 192.0.2.1 -1 |-|-|0|0\n");
	buf_release(&s.out);
}

static void test_columns_parse(void)
{
	struct ti_csv_columns c;
	struct err e = ERR_INIT;

	CHECK_INT(ti_csv_columns_parse("value=3,type=1", &c, &e), 0);
	CHECK_INT(c.col[TI_COL_VALUE], 3);
	CHECK_INT(c.col[TI_COL_TYPE], 1);
	CHECK_INT(c.col[TI_COL_TAGS], 0);
	CHECK_INT(ti_csv_columns_parse("type=1", &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "value=N is required"));
	CHECK_INT(ti_csv_columns_parse("value=0", &c, &e), -EINVAL);
	CHECK_INT(ti_csv_columns_parse("value=1,value=2", &c, &e), -EINVAL);
	CHECK_INT(ti_csv_columns_parse("value=1,colour=2", &c, &e), -EINVAL);
	CHECK_INT(ti_csv_columns_parse("value=+1", &c, &e), -EINVAL);
	CHECK_INT(ti_csv_columns_parse("value=257", &c, &e), -EINVAL);
	CHECK_INT(ti_csv_columns_parse("value=1x", &c, &e), -EINVAL);
}

static void test_csv_alloc_failure(void)
{
	struct seen s = { 0 };

	mem_fail_after(0);
	CHECK_INT(run_csv("192.0.2.1\n", NULL, &s), -ENOMEM);
	mem_fail_after(-1);
	buf_release(&s.out);
}

int main(void)
{
	T_RUN(test_list);
	T_RUN(test_list_stop);
	T_RUN(test_csv_map);
	T_RUN(test_csv_header);
	T_RUN(test_columns_parse);
	T_RUN(test_csv_alloc_failure);
	return t_done();
}
