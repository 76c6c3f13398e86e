/*
 * tiread.h - readers of indicator lists: plain lists and CSV, into a struct ti_sink.
 *
 * Plain list: one value per line, its type recognised (ti_guess_type); blank lines and
 * lines starting with '#' are ignored, a value may be followed by blanks and a '#'
 * comment; CR before LF is ignored.
 *
 * CSV (RFC 4180: ',' separated, '"' quoted with "" inside, quoted cells may span lines):
 * which column holds what comes from a column map, "value=1,type=2,confidence=3" (columns
 * counted from 1; names below), else from a header line, else the value is column 1 and its
 * type is recognised. The first record is a header when one of its cells names a column
 * and its value cell is no indicator; with a column map the header is skipped, without one
 * it names the columns. Columns:
 *   value        the indicator (required)
 *   type         ip domain url md5 sha1 sha256 email (ti_type_parse); empty: recognised
 *   confidence   0-100; empty: unknown
 *   tags         separated by ';' or '|'
 *   description  free text
 *   first_seen, last_seen, expires   RFC 3339 times or dates; empty: unknown / never
 *   ref          the feed's own id of the indicator
 *
 * Each indicator reaches the sink in canonical form (ti_normalize); a line that holds no
 * valid indicator is rejected with its line number (of the record's first line) and the
 * reason. A sink's add() returning < 0 stops the read with that code.
 *
 * Ownership: the text is the caller's; the pointers given to the sink live during the call.
 * No state: any thread.
 */
#ifndef ENRICH_TIREAD_H
#define ENRICH_TIREAD_H

#include <stddef.h>

struct err;
struct ti_sink;

enum ti_column { TI_COL_VALUE, TI_COL_TYPE, TI_COL_CONFIDENCE, TI_COL_TAGS, TI_COL_DESCRIPTION,
		 TI_COL_FIRST_SEEN, TI_COL_LAST_SEEN, TI_COL_EXPIRES, TI_COL_REF, TI_N_COLS };

#define TI_CSV_COLS_MAX 256   /* columns of a record */
#define TI_CSV_TAGS_MAX 32    /* tags of one indicator */

/* Column numbers from 1; 0: the column is absent. */
struct ti_csv_columns {
	unsigned col[TI_N_COLS];
};

/* Parses a column map "value=1,type=2,..."; -EINVAL with e naming the bad item. */
int ti_csv_columns_parse(const char *spec, struct ti_csv_columns *cols, struct err *e);

/* 0 when the text was read to its end (rejected lines included), or the sink's code. */
int ti_read_list(const char *text, size_t len, const struct ti_sink *sink, struct err *e);
/* cols NULL: from the header, else value in column 1. */
int ti_read_csv(const char *text, size_t len, const struct ti_csv_columns *cols,
		const struct ti_sink *sink, struct err *e);

#endif
