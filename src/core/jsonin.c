#include "core/jsonin.h"
#include "core/compat.h"

#include "core/json.h"
#include "core/arena.h"
#include "core/err.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- errors ---- */

/* What stands at pos, for "found ...": a printable character, a byte or the end. */
static void found_at(const struct jsonin *j, size_t pos, char *out, size_t n)
{
	unsigned char c;

	if (pos >= j->len) {
		snprintf(out, n, "end of input");
		return;
	}
	c = (unsigned char)j->p[pos];
	if (c > 0x20 && c < 0x7f)
		snprintf(out, n, "'%c'", c);
	else
		snprintf(out, n, "byte 0x%02x", c);
}

/* Records the first error (code, offset, text) and returns its code. */
static int fail_code(struct jsonin *j, int code, size_t off, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static int fail_code(struct jsonin *j, int code, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (j->rc)
		return j->rc;
	j->rc = code;
	j->err_offset = off;
	va_start(ap, fmt);
	vsnprintf(j->err_what, sizeof(j->err_what), fmt, ap);
	va_end(ap);
	return code;
}

/* "expected WHAT, found X" at pos. */
static int fail_expected(struct jsonin *j, size_t pos, const char *what)
{
	char f[24];

	found_at(j, pos, f, sizeof(f));
	return fail_code(j, -EINVAL, pos, "expected %s, found %s", what, f);
}

int jsonin_error(const struct jsonin *j, struct err *e)
{
	size_t line = 1, bol = 0;

	if (!j->rc)
		return 0;
	for (size_t i = 0; i < j->err_offset && i < j->len; i++)
		if (j->p[i] == '\n') {
			line++;
			bol = i + 1;
		}
	if (line == 1)
		return err_set(e, j->rc, "column %zu: %s", j->err_offset + 1, j->err_what);
	return err_set(e, j->rc, "line %zu, column %zu: %s", line, j->err_offset - bol + 1,
		       j->err_what);
}

/* ---- scanning ---- */

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t zero_byte(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/*
 * Length of the run at p of bytes that a string takes as they are: ASCII from 0x20 up,
 * except '"' and '\\'. Sixteen bytes at a time with SSE2 (every x86-64 has it), else
 * eight at a time in a 64-bit word, while the blocks are clean.
 */
static inline size_t plain_run(const unsigned char *p, size_t len)
{
	size_t i = 0;

#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
		      space = _mm_set1_epi8(0x20);

	for (; i + 16 <= len; i += 16) {
		__m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		/* signed: bytes from 0x80 up are negative, so "< 0x20" catches them too */
		__m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(w, quote),
							 _mm_cmpeq_epi8(w, bslash)),
					    _mm_cmplt_epi8(w, space));
		unsigned m = (unsigned)_mm_movemask_epi8(stop);

		if (m)
			return i + (unsigned)__builtin_ctz(m);
	}
#endif
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if ((w & HIGHS) || zero_byte(w & ~(ONES * 0x1f)) || zero_byte(w ^ (ONES * '"')) ||
		    zero_byte(w ^ (ONES * '\\')))
			break;
	}
	while (i < len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
		i++;
	return i;
}

static inline size_t skip_ws(const char *p, size_t pos, size_t len)
{
	while (pos < len && (p[pos] == ' ' || p[pos] == '\n' || p[pos] == '\r' || p[pos] == '\t'))
		pos++;
	return pos;
}

static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Decodes the escape at p[i] == '\\' into *cp; returns the bytes it takes (2, 6 or 12)
 * or a negative code.
 */
static long escape_at(struct jsonin *j, size_t i, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)j->p;
	int h, l;

	if (i + 1 >= j->len)
		return fail_expected(j, i + 1, "an escape character after '\\'");
	switch (p[i + 1]) {
	case '"': *cp = '"'; return 2;
	case '\\': *cp = '\\'; return 2;
	case '/': *cp = '/'; return 2;
	case 'b': *cp = '\b'; return 2;
	case 'f': *cp = '\f'; return 2;
	case 'n': *cp = '\n'; return 2;
	case 'r': *cp = '\r'; return 2;
	case 't': *cp = '\t'; return 2;
	case 'u': break;
	default:
		return fail_expected(j, i + 1, "one of \" \\ / b f n r t u after '\\'");
	}
	if (i + 6 > j->len || (h = hex4(p + i + 2)) < 0)
		return fail_code(j, -EINVAL, i, "expected four hex digits after \\u");
	if (h < 0xd800 || h > 0xdfff) {
		*cp = (uint32_t)h;
		return 6;
	}
	if (h <= 0xdbff && i + 12 <= j->len && p[i + 6] == '\\' && p[i + 7] == 'u' &&
	    (l = hex4(p + i + 8)) >= 0xdc00 && l <= 0xdfff) {
		*cp = 0x10000 + ((uint32_t)(h - 0xd800) << 10) + (uint32_t)(l - 0xdc00);
		return 12;
	}
	if (j->flags & JSONIN_REPLACE_SURROGATES) {
		*cp = 0xfffd;
		return 6;
	}
	return fail_code(j, -EINVAL, i,
			 "lone surrogate \\u%04x (expected a high surrogate \\ud800-\\udbff "
			 "followed by a low one \\udc00-\\udfff)",
			 (unsigned)h);
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * The string at j->pos (on its '"'): validated in one pass; when it has escapes and
 * store is set, unescaped into the arena in a second pass over validated bytes.
 */
static int read_string(struct jsonin *j, struct jsonin_value *v, bool store)
{
	const unsigned char *p = (const unsigned char *)j->p;
	size_t open = j->pos, start = open + 1, i = start, len = j->len;
	bool esc = false;
	uint32_t cp;
	long n;

	for (;;) {
		i += plain_run(p + i, len - i);
		if (i >= len)
			return fail_code(j, -EINVAL, open,
					 "expected '\"' to close the string that starts here, "
					 "found end of input");
		if (p[i] == '"')
			break;
		if (p[i] == '\\') {
			n = escape_at(j, i, &cp);
			if (n < 0)
				return (int)n;
			esc = true;
			i += (size_t)n;
			continue;
		}
		if (p[i] < 0x20) {
			char f[24];

			found_at(j, i, f, sizeof(f));
			return fail_code(j, -EINVAL, i,
					 "expected control characters escaped in a string, found %s",
					 f);
		}
		n = (long)json_utf8_len(p + i, len - i);
		if (!n)
			return fail_code(j, -EINVAL, i, "invalid UTF-8 (byte 0x%02x) in a string",
					 p[i]);
		i += (size_t)n;
	}
	v->type = JSONIN_STRING;
	v->offset = open;
	v->escaped = esc;
	v->s = j->p + start;
	v->len = i - start;
	j->pos = i + 1;
	if (esc && store) {
		char *o = j->arena ? arena_alloc(j->arena, v->len ? v->len : 1) : NULL, *w = o;
		size_t k = start;

		if (!o)
			return fail_code(j, -ENOMEM, open, "out of memory for an escaped string");
		while (k < i) {
			size_t r = plain_run(p + k, i - k);

			memcpy(w, p + k, r);
			w += r;
			k += r;
			if (k >= i)
				break;
			if (p[k] == '\\') {
				n = escape_at(j, k, &cp);
				if (n < 0)
					return (int)n;
				w += put_utf8(w, cp);
				k += (size_t)n;
			} else { /* a validated multi-byte sequence */
				*w++ = (char)p[k++];
			}
		}
		v->s = o;
		v->len = (size_t)(w - o);
	}
	return 0;
}

/* The number at j->pos, per the RFC 8259 grammar. */
static int read_number(struct jsonin *j, struct jsonin_value *v)
{
	const char *p = j->p;
	size_t i = j->pos, len = j->len;

	if (p[i] == '-')
		i++;
	if (i < len && p[i] == '0') {
		i++;
	} else if (i < len && p[i] >= '1' && p[i] <= '9') {
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
	} else {
		return fail_expected(j, i, "a digit in a number");
	}
	if (i < len && p[i] == '.') {
		i++;
		if (i >= len || p[i] < '0' || p[i] > '9')
			return fail_expected(j, i, "a digit after the decimal point");
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= len || p[i] < '0' || p[i] > '9')
			return fail_expected(j, i, "a digit in the exponent");
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	v->type = JSONIN_NUMBER;
	v->s = p + j->pos;
	v->len = i - j->pos;
	v->offset = j->pos;
	v->escaped = false;
	j->pos = i;
	return 0;
}

static int read_literal(struct jsonin *j, struct jsonin_value *v, const char *lit, size_t n,
			enum jsonin_type t)
{

	if (j->len - j->pos < n || memcmp(j->p + j->pos, lit, n)) {
		char what[16];

		snprintf(what, sizeof(what), "'%s'", lit);
		for (size_t k = 0; k < n; k++)
			if (j->pos + k >= j->len || j->p[j->pos + k] != lit[k])
				return fail_expected(j, j->pos + k, what);
	}
	v->type = t;
	v->s = j->p + j->pos;
	v->len = n;
	v->offset = j->pos;
	v->escaped = false;
	j->pos += n;
	return 0;
}

static int count_token(struct jsonin *j, size_t pos)
{
	if (++j->tokens > j->max_tokens)
		return fail_code(j, -EINVAL, pos, "expected at most %zu values and keys",
				 j->max_tokens);
	return 0;
}

/* A container was closed: the enclosing one has had a member, or the text is done. */
static void after_value(struct jsonin *j)
{
	j->want_value = false;
	if (j->depth == 0)
		j->done = true;
}

static int read_value(struct jsonin *j, struct jsonin_value *v, bool store)
{
	size_t pos = skip_ws(j->p, j->pos, j->len);
	int rc;

	j->pos = pos;
	if (count_token(j, pos) < 0)
		return j->rc;
	if (pos >= j->len)
		return fail_expected(j, pos, "a value");
	switch (j->p[pos]) {
	case '{':
	case '[':
		if (j->depth >= j->max_depth)
			return fail_code(j, -EINVAL, pos,
					 "expected at most %u nested objects and arrays",
					 j->max_depth);
		j->kind[j->depth] = j->p[pos] == '{' ? 'o' : 'a';
		j->started[j->depth] = false;
		j->depth++;
		v->type = j->p[pos] == '{' ? JSONIN_OBJECT : JSONIN_ARRAY;
		v->s = j->p + pos;
		v->len = 1;
		v->offset = pos;
		v->escaped = false;
		j->pos = pos + 1;
		j->want_value = false;
		return 0;
	case '"':
		rc = read_string(j, v, store);
		break;
	case 't':
		rc = read_literal(j, v, "true", 4, JSONIN_TRUE);
		break;
	case 'f':
		rc = read_literal(j, v, "false", 5, JSONIN_FALSE);
		break;
	case 'n':
		rc = read_literal(j, v, "null", 4, JSONIN_NULL);
		break;
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		rc = read_number(j, v);
		break;
	default:
		return fail_expected(j, pos,
				     "a value (object, array, string, number, true, false or null)");
	}
	if (rc < 0)
		return rc;
	after_value(j);
	return 0;
}

static int misuse(struct jsonin *j, const char *what)
{
	return fail_code(j, -EINVAL, j->pos, "reader used out of order: %s", what);
}

static void close_container(struct jsonin *j, size_t pos)
{
	j->pos = pos + 1;
	j->depth--;
	after_value(j);
}

static int next_key(struct jsonin *j, struct jsonin_value *k, bool store)
{
	unsigned d = j->depth - 1;
	size_t pos = skip_ws(j->p, j->pos, j->len);
	int rc;

	if (pos < j->len && j->p[pos] == '}') {
		close_container(j, pos);
		return 0;
	}
	if (!j->started[d]) {
		j->started[d] = true;
		if (pos >= j->len || j->p[pos] != '"')
			return fail_expected(j, pos, "a key string or '}'");
	} else {
		if (pos >= j->len || j->p[pos] != ',')
			return fail_expected(j, pos, "',' or '}' after an object member");
		pos = skip_ws(j->p, pos + 1, j->len);
		if (pos >= j->len || j->p[pos] != '"')
			return fail_expected(j, pos, "a key string after ','");
	}
	if (count_token(j, pos) < 0)
		return j->rc;
	j->pos = pos;
	rc = read_string(j, k, store);
	if (rc < 0)
		return rc;
	pos = skip_ws(j->p, j->pos, j->len);
	if (pos >= j->len || j->p[pos] != ':')
		return fail_expected(j, pos, "':' after the key");
	j->pos = pos + 1;
	j->want_value = true;
	return 1;
}

static int next_elem(struct jsonin *j)
{
	unsigned d = j->depth - 1;
	size_t pos = skip_ws(j->p, j->pos, j->len);

	if (pos < j->len && j->p[pos] == ']') {
		close_container(j, pos);
		return 0;
	}
	if (!j->started[d]) {
		j->started[d] = true;
	} else {
		if (pos >= j->len || j->p[pos] != ',')
			return fail_expected(j, pos, "',' or ']' after an array element");
		pos++;
	}
	j->pos = pos;
	j->want_value = true;
	return 1;
}

/* ---- public ---- */

void jsonin_init(struct jsonin *j, const char *p, size_t len, struct arena *arena,
		 unsigned flags)
{
	j->p = p;
	j->len = len;
	j->pos = 0;
	j->arena = arena;
	j->flags = flags;
	j->depth = 0;
	j->max_depth = JSONIN_DEPTH_DEFAULT;
	j->tokens = 0;
	j->max_tokens = JSONIN_TOKENS_MAX;
	j->want_value = true;
	j->done = false;
	j->rc = 0;
	j->err_offset = 0;
	j->err_what[0] = '\0';
}

int jsonin_value(struct jsonin *j, struct jsonin_value *v)
{
	if (j->rc)
		return j->rc;
	if (!j->want_value)
		return misuse(j, "a value read where a key, an element or the end is due");
	if (j->max_depth > JSONIN_DEPTH_MAX)
		j->max_depth = JSONIN_DEPTH_MAX;
	return read_value(j, v, true);
}

int jsonin_key(struct jsonin *j, struct jsonin_value *k)
{
	if (j->rc)
		return j->rc;
	if (j->want_value || j->depth == 0 || j->kind[j->depth - 1] != 'o')
		return misuse(j, "a key read outside an object or where a value is due");
	return next_key(j, k, true);
}

int jsonin_more(struct jsonin *j)
{
	if (j->rc)
		return j->rc;
	if (j->want_value || j->depth == 0 || j->kind[j->depth - 1] != 'a')
		return misuse(j, "an element asked for outside an array or where a value is due");
	return next_elem(j);
}

int jsonin_skip(struct jsonin *j)
{
	struct jsonin_value v;
	unsigned target;
	int rc = 0;

	if (j->rc)
		return j->rc;
	if (j->want_value || j->depth == 0)
		return misuse(j, "a skip outside a container or where a value is due");
	if (j->max_depth > JSONIN_DEPTH_MAX)
		j->max_depth = JSONIN_DEPTH_MAX;
	target = j->depth - 1;
	while (j->depth > target) {
		if (j->kind[j->depth - 1] == 'o')
			rc = next_key(j, &v, false);
		else
			rc = next_elem(j);
		if (rc > 0)
			rc = read_value(j, &v, false);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reads the value that is due and skips what is inside it; v tells where it started. */
static int pass_value(struct jsonin *j, struct jsonin_value *v, const char *misuse_what)
{
	int rc;

	if (j->rc)
		return j->rc;
	if (!j->want_value)
		return misuse(j, misuse_what);
	if (j->max_depth > JSONIN_DEPTH_MAX)
		j->max_depth = JSONIN_DEPTH_MAX;
	rc = read_value(j, v, false);
	if (rc < 0)
		return rc;
	if (v->type == JSONIN_OBJECT || v->type == JSONIN_ARRAY)
		return jsonin_skip(j);
	return 0;
}

int jsonin_skip_value(struct jsonin *j)
{
	struct jsonin_value v;

	return pass_value(j, &v, "a value skipped where a key, an element or the end is due");
}

int jsonin_raw_value(struct jsonin *j, const char **s, size_t *len)
{
	struct jsonin_value v;
	int rc = pass_value(j, &v, "a value read where a key, an element or the end is due");

	if (rc < 0)
		return rc;
	*s = j->p + v.offset;
	*len = j->pos - v.offset;
	return 0;
}

int jsonin_finish(struct jsonin *j, struct err *e)
{
	size_t pos = skip_ws(j->p, j->pos, j->len);
	int rc = j->rc;

	if (!rc && !j->done)
		rc = fail_expected(j, pos,
				   !j->depth ? "a value"
				   : j->kind[j->depth - 1] == 'o' ? "the rest of an object"
								  : "the rest of an array");
	if (!rc && pos < j->len)
		rc = fail_expected(j, pos, "the end of the input after the top-level value");
	return rc ? jsonin_error(j, e) : 0;
}

int jsonin_int(const char *s, size_t len, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;
	size_t i = 0;

	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	if (i >= len || s[i] < '0' || s[i] > '9' || (s[i] == '0' && len - i > 1))
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (lim - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

bool jsonin_is_number(const char *s, size_t len)
{
	struct jsonin j;
	struct jsonin_value v;

	if (!len || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return false;
	jsonin_init(&j, s, len, NULL, 0);
	return read_number(&j, &v) == 0 && j.pos == len;
}
