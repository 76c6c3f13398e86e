/*
 * csv.c - RFC 4180 records (see csv.h).
 */
#include "core/csv.h"
#include "core/compat.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

void csv_record_init(struct csv_record *r)
{
	buf_init(&r->text, CSV_RECORD_MAX);
	r->n = 0;
	r->line = 0;
}

void csv_record_release(struct csv_record *r)
{
	buf_release(&r->text);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Appends n bytes of a cell: 0, or -EINVAL (the record's maximum) / -ENOMEM with *why. */
static int add(struct csv_record *r, const char *s, size_t n, const char **why)
{
	int rc = buf_add(&r->text, s, n);

	if (rc == -ENOMEM) {
		*why = "out of memory";
		return rc;
	}
	if (rc < 0) {
		*why = "a record over 1 MiB";
		return -EINVAL;
	}
	return 0;
}

/* A quoted cell from *pos (past the opening quote) up to past the closing one. */
static int quoted_cell(const char *t, size_t len, size_t *pos, unsigned *line,
		       struct csv_record *r, const char **why)
{
	int rc;

	for (;;) {
		const char *q = memchr(t + *pos, '"', len - *pos);
		size_t n = q ? (size_t)(q - (t + *pos)) : len - *pos;

		if ((rc = add(r, t + *pos, n, why)) < 0)
			return rc;
		for (size_t i = 0; i < n; i++)
			*line += t[*pos + i] == '\n';
		*pos += n;
		if (!q) {
			*why = "a quoted cell without its closing quote";
			return -EINVAL;
		}
		(*pos)++;
		if (*pos < len && t[*pos] == '"') { /* "" is one quote */
			if ((rc = add(r, "\"", 1, why)) < 0)
				return rc;
			(*pos)++;
			continue;
		}
		return 0;
	}
}

/* An unquoted cell up to ',' or the end of the line, its blanks trimmed. */
static int plain_cell(const char *t, size_t len, size_t *pos, struct csv_record *r,
		      const char **why)
{
	const char *s = t + *pos;
	size_t n = 0;

	while (*pos + n < len && s[n] != ',' && s[n] != '\n')
		n++;
	*pos += n;
	csv_trim(&s, &n);
	return add(r, s, n, why);
}

/* One cell at *pos, blanks around it skipped: 0 or < 0 with *why. */
static int one_cell(const char *t, size_t len, size_t *pos, unsigned *line,
		    struct csv_record *r, const char **why)
{
	size_t p = *pos;
	int rc;

	while (p < len && (t[p] == ' ' || t[p] == '\t'))
		p++;
	if (p >= len || t[p] != '"')
		return plain_cell(t, len, pos, r, why);
	*pos = p + 1;
	if ((rc = quoted_cell(t, len, pos, line, r, why)) < 0)
		return rc;
	while (*pos < len && blank(t[*pos]))
		(*pos)++;
	if (*pos < len && t[*pos] != ',' && t[*pos] != '\n') {
		*why = "text after a closing quote";
		return -EINVAL;
	}
	return 0;
}

/* Past the empty lines (and comments): false at the end of t. */
static bool skip_empty(const char *t, size_t len, size_t *pos, unsigned *line, unsigned flags)
{
	for (;;) {
		if (*pos >= len)
			return false;
		(*line)++;
		if (t[*pos] != '\n' && t[*pos] != '\r' &&
		    !(t[*pos] == '#' && (flags & CSV_COMMENTS)))
			return true;
		while (*pos < len && t[(*pos)++] != '\n')
			;
	}
}

int csv_next(const char *t, size_t len, size_t *pos, unsigned *line, unsigned flags,
	     struct csv_record *r, const char **why)
{
	int rc;

	if (!skip_empty(t, len, pos, line, flags))
		return 0;
	r->n = 0;
	r->line = *line;
	buf_reset(&r->text);
	for (;;) {
		struct csv_cell *c = &r->cell[r->n];

		c->off = r->text.len;
		if ((rc = one_cell(t, len, pos, line, r, why)) < 0)
			break;
		c->len = r->text.len - c->off;
		r->n++;
		if (*pos >= len || t[*pos] == '\n') {
			*pos += *pos < len;
			return 1;
		}
		(*pos)++; /* ',' */
		if (r->n == CSV_COLS_MAX) {
			*why = "more than 256 cells";
			rc = -EINVAL;
			break;
		}
	}
	while (*pos < len && t[(*pos)++] != '\n')
		;
	return rc;
}

void csv_trim(const char **s, size_t *len)
{
	while (*len && (blank(**s) || **s == '\n')) {
		(*s)++;
		(*len)--;
	}
	while (*len && (blank((*s)[*len - 1]) || (*s)[*len - 1] == '\n'))
		(*len)--;
}

const char *csv_cell(const struct csv_record *r, unsigned col, size_t *len)
{
	if (col == 0 || col > r->n) {
		*len = 0;
		return "";
	}
	*len = r->cell[col - 1].len;
	return r->text.p + r->cell[col - 1].off;
}
