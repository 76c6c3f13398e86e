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

#endif
