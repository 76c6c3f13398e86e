#include "core/json.h"
#include "core/compat.h"
#include "core/buf.h"

size_t json_utf8_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t json_utf8_cut(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = len < max ? len : max, i = n, need;

	while (i > 0 && n - i < 3 && (u[i - 1] & 0xc0) == 0x80) /* continuation bytes */
		i--;
	if (i == 0 || u[i - 1] < 0xc2 || u[i - 1] > 0xf4) /* no lead byte before them */
		return n;
	i--;
	need = u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : 2;
	return n - i < need ? i : n;
}

static bool plain_ascii(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Non-zero when a byte of w is zero (the classic bit trick, no false negatives). */
static uint64_t has_zero_byte(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/*
 * Length of the run of plain bytes at p, eight at a time: a word is plain when no byte
 * is a control character, '"', '\\' or non-ASCII. Messages are mostly plain text.
 */
static size_t plain_run(const unsigned char *p, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if ((w & HIGHS) || has_zero_byte(w & ~(ONES * 0x1f)) ||
		    has_zero_byte(w ^ (ONES * '"')) || has_zero_byte(w ^ (ONES * '\\')))
			break;
	}
	while (i < len && plain_ascii(p[i]))
		i++;
	return i;
}

int json_add_string(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start;
	int rc = buf_addch(out, '"');

	while (!rc && i < len) {
		start = i;
		i += plain_run(p + i, len - i);
		if (i > start && (rc = buf_add(out, p + start, i - start)))
			break;
		if (i >= len)
			break;
		unsigned char c = p[i];
		size_t n;

		switch (c) {
		case '"': rc = buf_add(out, "\\\"", 2); i++; continue;
		case '\\': rc = buf_add(out, "\\\\", 2); i++; continue;
		case '\n': rc = buf_add(out, "\\n", 2); i++; continue;
		case '\r': rc = buf_add(out, "\\r", 2); i++; continue;
		case '\t': rc = buf_add(out, "\\t", 2); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			rc = buf_addf(out, "\\u%04x", c);
			i++;
			continue;
		}
		n = json_utf8_len(p + i, len - i);
		if (n) {
			rc = buf_add(out, p + i, n);
			i += n;
		} else {
			rc = buf_add(out, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	return rc ? rc : buf_addch(out, '"');
}

size_t json_utf8_text(const char *text, size_t len, unsigned *line, size_t *col)
{
	size_t i = 0, n;

	*line = 1;
	*col = 1;
	for (; i < len; i += n) {
		n = (unsigned char)text[i] < 0x80 ? 1
		    : json_utf8_len((const unsigned char *)text + i, len - i);
		if (!n || !text[i])
			break;
		*col = text[i] == '\n' ? 1 : *col + 1;
		*line += text[i] == '\n';
	}
	return i;
}
