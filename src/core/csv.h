/*
 * csv.h - RFC 4180 records read one at a time from a text in memory (the threat-intelligence
 * CSV of enrich/tiread and the asset imports of enrich/assets).
 *
 * A record is the cells of one line, separated by ','; a cell in '"' may hold ',', line
 * ends and '""' (one quote). Blanks (space, tab, CR) around a cell are not part of it, nor
 * around a quoted one, after which only blanks may stand before the ',' or the line end.
 * CRLF and LF line ends both end a record. Lines that are empty or start with CR are skipped;
 * with CSV_COMMENTS so are lines starting with '#'. A record has at most CSV_COLS_MAX cells
 * and CSV_RECORD_MAX bytes of unquoted cell text.
 *
 * Use: csv_record_init(), csv_next() until it returns 0, csv_cell() for a cell,
 * csv_record_release(). The input is (pointer, length) and never written; it needs no NUL.
 *
 * Memory: a struct csv_record owns its text buffer (core/buf.h, mem_*); csv_cell() points
 * into it, valid until the next csv_next() or the release. The struct is about 4 KiB:
 * callers allocate it. Threads: a record belongs to one thread at a time; no shared state.
 */
#ifndef CORE_CSV_H
#define CORE_CSV_H

#include <stddef.h>

#include "core/buf.h"

#define CSV_COLS_MAX 256                /* cells of a record */
#define CSV_RECORD_MAX ((size_t)1 << 20) /* bytes of a record's unquoted cells */

enum { CSV_COMMENTS = 1 /* skip the lines that start with '#' */ };

struct csv_cell {
	size_t off, len; /* in the record's text */
};

struct csv_record {
	struct buf text; /* the cells' unquoted bytes, at most CSV_RECORD_MAX */
	struct csv_cell cell[CSV_COLS_MAX];
	unsigned n;      /* cells */
	unsigned line;   /* the record's first line, counted from 1 */
};

void csv_record_init(struct csv_record *r);
void csv_record_release(struct csv_record *r);

/*
 * Reads the record of t at *pos into r and moves *pos past it; *line counts the lines read
 * (0 before the first call). Returns 1 (r filled), 0 at the end of t, -EINVAL with *why when
 * the record is malformed (a quote not closed, text after a closing one, more than
 * CSV_COLS_MAX cells, over CSV_RECORD_MAX bytes: the rest of its line is skipped, r->line
 * says where) or -ENOMEM. flags: 0 or CSV_COMMENTS.
 */
int csv_next(const char *t, size_t len, size_t *pos, unsigned *line, unsigned flags,
	     struct csv_record *r, const char **why);

/* Cell col (from 1) of r and its length; "" (length 0) for 0 or a cell the record lacks. */
const char *csv_cell(const struct csv_record *r, unsigned col, size_t *len);

/* Moves *s and shortens *len past the blanks (space, tab, CR, LF) at either end. */
void csv_trim(const char **s, size_t *len);

#endif
