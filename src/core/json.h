/*
 * json.h - writing JSON text into a struct buf.
 *
 * Strings are written as valid JSON whatever the input bytes: control characters are
 * escaped and invalid UTF-8 sequences become U+FFFD, so attacker-written log bytes can
 * never break the document. Functions return 0 or the buf_* error code. Any thread,
 * one buffer per thread.
 */
#ifndef CORE_JSON_H
#define CORE_JSON_H

#include <stddef.h>

struct buf;

/* Appends "..." with the bytes of s[0..len) escaped. */
int json_add_string(struct buf *out, const char *s, size_t len);
/*
 * Length (1..4) of the valid UTF-8 sequence at s[0..len) (len >= 1), or 0 when it is not
 * valid: overlong forms, surrogates and code points past U+10FFFF are refused. Shared by the
 * writer and the reader (core/jsonin.h).
 */
size_t json_utf8_len(const unsigned char *s, size_t len);
/*
 * The offset where text[0..len) stops being UTF-8 text without NUL bytes, len when it all
 * is; the 1-based line and column of that byte in *line and *col. The YAML readers (rules,
 * field maps, tuning filters) check this first: libfyaml 0.7.12 loops forever on some
 * invalid bytes (a directive line holding one, e.g. "%\x89").
 */
size_t json_utf8_text(const char *text, size_t len, unsigned *line, size_t *col);
/*
 * The length of s[0..len) cut to at most max bytes without a UTF-8 character cut in half:
 * a multi-byte sequence that the cut (or the end of s) leaves without all its bytes is left
 * out whole, so a truncated text never ends in what the writer would print as U+FFFD.
 * Bytes that are not UTF-8 are kept as they are (such text is cut at max).
 */
size_t json_utf8_cut(const char *s, size_t len, size_t max);

#endif
