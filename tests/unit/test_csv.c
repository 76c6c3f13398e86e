/*
 * Unit tests of core/csv: cells plain and quoted, blanks, line ends, empty and comment
 * lines, line numbers, the limits (cells, bytes), malformed records and what follows them,
 * csv_trim, allocation failures.
 */
#include "core/csv.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Every record of t as "LINE:[cell][cell] " or "LINE:!why ", into out (at most max bytes). */
static int records(const char *t, size_t len, unsigned flags, char *out, size_t max)
{
	struct csv_record r;
	const char *why = NULL;
	size_t pos = 0, at = 0;
	unsigned line = 0;
	int got;

	csv_record_init(&r);
	out[0] = '\0';
	while ((got = csv_next(t, len, &pos, &line, flags, &r, &why)) != 0 && at < max) {
		if (got == -ENOMEM)
			break;
		at += (size_t)snprintf(out + at, max - at, "%u:", r.line);
		if (got < 0)
			at += (size_t)snprintf(out + at, max - at, "!%s", why);
		for (unsigned c = 1; got > 0 && c <= r.n && at < max; c++) {
			size_t n;
			const char *s = csv_cell(&r, c, &n);

			at += (size_t)snprintf(out + at, max - at, "[%.*s]", (int)n, s);
		}
		if (at < max)
			at += (size_t)snprintf(out + at, max - at, " ");
	}
	csv_record_release(&r);
	return got;
}

static void check_records(const char *t, unsigned flags, const char *want)
{
	char got[1024];

	CHECK_INT(records(t, strlen(t), flags, got, sizeof(got)), 0);
	CHECK_STR(got, want);
}

static void test_cells(void)
{
	check_records("a,b,c\n", 0, "1:[a][b][c] ");
	check_records("a,b", 0, "1:[a][b] ");          /* no final line end */
	check_records("a,,\n", 0, "1:[a][][] ");       /* empty cells count */
	check_records("  a \t, b\r\n", 0, "1:[a][b] "); /* blanks and CR trimmed */
	check_records("\"a,b\",\"say \"\"hi\"\"\"\n", 0, "1:[a,b][say \"hi\"] ");
	check_records(" \" a \" ,x\n", 0, "1:[ a ][x] "); /* a quoted cell keeps its blanks */
	check_records("a\"b,c\n", 0, "1:[a\"b][c] ");    /* a quote inside a plain cell */
	check_records("\"\"\n", 0, "1:[] ");
}

static void test_lines(void)
{
	/* a quoted cell spanning lines; empty, CR-only and comment lines skipped */
	check_records("\n\"two\nlines\",x\r\n\r\n#c,d\nlast\n", CSV_COMMENTS,
		      "2:[two\nlines][x] 6:[last] ");
	check_records("#c,d\n", 0, "1:[#c][d] "); /* no comments without the flag */
	check_records("", 0, "");
	check_records("\n\n", 0, "");
}

static void test_malformed(void)
{
	/* the rest of a malformed record's line is skipped, the next line read */
	check_records("\"a\"b,c\nok\n", 0, "1:!text after a closing quote 2:[ok] ");
	check_records("x\n\"open,\nmore\n", 0,
		      "1:[x] 2:!a quoted cell without its closing quote ");
}

static void test_limits(void)
{
	struct buf t = BUF_INIT(4u << 20);
	char got[1024];
	int rc = 0;

	for (int i = 0; i < CSV_COLS_MAX; i++)
		rc = err_first(rc, buf_adds(&t, "x,"));
	rc = err_first(rc, buf_adds(&t, "x\n"));
	for (int i = 0; i < CSV_COLS_MAX - 1; i++)
		rc = err_first(rc, buf_adds(&t, "y,"));
	rc = err_first(rc, buf_adds(&t, "y\n\""));
	for (size_t i = 0; i < CSV_RECORD_MAX / 8; i++)
		rc = err_first(rc, buf_adds(&t, "01234567"));
	rc = err_first(rc, buf_adds(&t, "z\"\nend\n"));
	CHECK_INT(rc, 0);
	CHECK_INT(records(t.p, t.len, 0, got, sizeof(got)), 0);
	CHECK(!strncmp(got, "1:!more than 256 cells 2:[y][y]", 31));
	CHECK(strstr(got, " 3:!a record over 1 MiB 4:[end] ") != NULL);
	buf_release(&t);
}

static void test_trim(void)
{
	const char *s = " \t\r\na b\n\r ";
	size_t n = strlen(s);

	csv_trim(&s, &n);
	CHECK_MEM(s, n, "a b");
	s = " \n";
	n = 2;
	csv_trim(&s, &n);
	CHECK_INT(n, 0);
}

static void test_alloc_failure(void)
{
	char got[64];
	int rc = -ENOMEM;

	for (long n = 0; rc == -ENOMEM && n < 32; n++) {
		mem_fail_after(n);
		rc = records("a,b\n\"c\"\n", 8, 0, got, sizeof(got));
		mem_fail_after(-1);
		if (rc != -ENOMEM)
			CHECK_STR(got, "1:[a][b] 2:[c] ");
	}
	CHECK_INT(rc, 0);
}

int main(void)
{
	T_RUN(test_cells);
	T_RUN(test_lines);
	T_RUN(test_malformed);
	T_RUN(test_limits);
	T_RUN(test_trim);
	T_RUN(test_alloc_failure);
	return t_done();
}
