/*
 * jsonin.h - a strict, zero-copy, bounded JSON reader (pull parser, no DOM).
 *
 * Reads one JSON text (RFC 8259) from (pointer, length) and hands the caller one token at
 * a time, so that a decoder picks the few keys it wants from a large record and skips
 * the rest without building a tree:
 *
 *   struct jsonin j;
 *   struct jsonin_value k, v;
 *   jsonin_init(&j, p, len, arena);
 *   if ((rc = jsonin_value(&j, &v)) < 0 || v.type != JSONIN_OBJECT) ...
 *   while ((rc = jsonin_key(&j, &k)) > 0) {
 *           if (jsonin_key_is(&k, "userPrincipalName")) rc = jsonin_value(&j, &v);
 *           else rc = jsonin_skip_value(&j);
 *           if (rc < 0) ...
 *   }
 *   if (rc < 0 || (rc = jsonin_finish(&j, &e)) < 0) ...
 *
 * jsonin_value() reads the next value; an object or an array is entered (depth + 1) and
 * its members are then read with jsonin_key() / jsonin_more() until they return 0 (the
 * closing bracket was read, depth - 1), or the rest of it is skipped with jsonin_skip().
 *
 * Strictness: RFC 8259 exactly. UTF-8 is validated everywhere (overlongs, surrogates
 * encoded in UTF-8 and code points above U+10FFFF are errors); no byte order mark, no
 * trailing commas, no comments, no single quotes, no leading zeros or '+', no NaN or
 * Infinity; control characters must be escaped. A \uXXXX escape of a lone surrogate
 * (a high one not followed by a low one, or a low one alone) is an error (RFC 7493,
 * I-JSON), unless JSONIN_REPLACE_SURROGATES is given, which turns it into U+FFFD.
 * "\u0000" is valid and yields a string containing a NUL byte: strings are always
 * (pointer, length), never NUL-terminated.
 *
 * Limits: nesting depth at most max_depth (default JSONIN_DEPTH_DEFAULT, at most
 * JSONIN_DEPTH_MAX), at most max_tokens values and keys (default JSONIN_TOKENS_MAX). Both
 * may be changed after jsonin_init.
 *
 * Memory: string values point into the input when they contain no escape (zero copy);
 * an escaped string is unescaped into the arena given to jsonin_init (it never grows: an
 * escape is never shorter in JSON than in UTF-8), so the value lives as long as both the
 * input and the arena. Nothing else is allocated; there is nothing to release. Without
 * an arena (NULL) an escaped string read with jsonin_value or jsonin_key is -ENOMEM;
 * skipping never needs one.
 *
 * Errors: every function returns a negative errno code (-EINVAL for malformed or
 * over-limit input, -ENOMEM when the arena is full) and the error is sticky: later calls
 * return it again. jsonin_error() describes it: "line L, column C (byte B): expected
 * ..., found ...". Calls out of protocol (jsonin_key outside an object, jsonin_value
 * when a key is due) are -EINVAL too, described as such.
 *
 * Thread safety: a reader belongs to one thread; distinct readers are independent.
 */
#ifndef CORE_JSONIN_H
#define CORE_JSONIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct err;

#define JSONIN_DEPTH_DEFAULT 64
#define JSONIN_DEPTH_MAX 256 /* ceiling of max_depth */
#define JSONIN_TOKENS_MAX 4000000u

/* Flags for jsonin_init. */
#define JSONIN_REPLACE_SURROGATES 1u /* lone \uD800-\uDFFF escapes become U+FFFD */

enum jsonin_type {
	JSONIN_NONE, /* end of the container (only in internal use) */
	JSONIN_OBJECT,
	JSONIN_ARRAY,
	JSONIN_STRING,
	JSONIN_NUMBER,
	JSONIN_TRUE,
	JSONIN_FALSE,
	JSONIN_NULL,
};

struct jsonin_value {
	enum jsonin_type type;
	const char *s; /* STRING: the text, unescaped; NUMBER, TRUE, FALSE, NULL: the literal */
	size_t len;
	size_t offset;  /* byte offset of the value (of the opening quote of a string) */
	bool escaped;   /* STRING: had escapes, s is in the arena */
};

struct jsonin {
	const char *p;
	size_t len;
	size_t pos;
	struct arena *arena;
	unsigned flags;
	unsigned depth;
	unsigned max_depth;
	size_t tokens;
	size_t max_tokens;
	bool want_value; /* a value is due (start, after a key, after jsonin_more) */
	bool done;       /* the top-level value was read completely */
	int rc;          /* sticky error, 0 while none */
	size_t err_offset;
	char err_what[160];
	/* per open container: 'o' or 'a', and whether a member was read already */
	char kind[JSONIN_DEPTH_MAX];
	bool started[JSONIN_DEPTH_MAX];
};

void jsonin_init(struct jsonin *j, const char *p, size_t len, struct arena *arena,
		 unsigned flags);

/*
 * Reads the next value into *v. An object or array is entered. Returns 0 or a negative
 * code.
 */
int jsonin_value(struct jsonin *j, struct jsonin_value *v);
/*
 * In an object: reads the next key into *k (a STRING) and its colon and returns 1 (the
 * caller then reads or skips the value), or reads the closing '}' and returns 0.
 */
int jsonin_key(struct jsonin *j, struct jsonin_value *k);
/*
 * In an array: returns 1 when another element follows (the caller then reads or skips
 * it), or reads the closing ']' and returns 0.
 */
int jsonin_more(struct jsonin *j);
/* Skips, fully validated but without allocating, the rest of the innermost container. */
int jsonin_skip(struct jsonin *j);
/* Reads and discards the next value (skipping a container whole). */
int jsonin_skip_value(struct jsonin *j);
/*
 * Reads the next value whole, validated, and returns its exact text (from its first to
 * its last byte, escapes and inner whitespace as written) pointing into the input: for
 * keeping a sub-document verbatim (an alert's evidence array) or reading it again later.
 */
int jsonin_raw_value(struct jsonin *j, const char **s, size_t *len);
/*
 * After the top-level value: only whitespace may follow. Returns 0, or the sticky error
 * or a new one, and in both cases fills e (when not NULL) from jsonin_error.
 */
int jsonin_finish(struct jsonin *j, struct err *e);

/*
 * Fills e with the sticky error as "line L, column C (byte B): WHAT" (columns count
 * bytes from 1) and returns its code; 0 and nothing filled when there is no error.
 */
int jsonin_error(const struct jsonin *j, struct err *e);

/* True when the string value k equals the NUL-terminated lit (inline: lit's length folds). */
static inline bool jsonin_key_is(const struct jsonin_value *k, const char *lit)
{
	size_t n = __builtin_strlen(lit);

	return k->len == n && !__builtin_memcmp(k->s, lit, n);
}

/*
 * An integer in s[0..len) as JSON writes it (no fraction, no exponent, no '+', no
 * leading zero): 0, -EINVAL when it is no integer, -ERANGE outside int64_t. Useful for a
 * NUMBER value's text and for numbers that a source sends as strings.
 */
int jsonin_int(const char *s, size_t len, int64_t *out);
/* Whether s[0..len) matches the JSON number grammar exactly. */
bool jsonin_is_number(const char *s, size_t len);

#endif
