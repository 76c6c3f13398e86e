/*
 * buf.h - a growable byte buffer with a hard maximum size.
 *
 * struct buf owns its bytes (allocated with mem_*). The content is always followed by a
 * NUL that is not counted in len, so b->p can be passed to C string functions when the
 * content has no NUL of its own. A buffer never grows beyond max bytes of content:
 * appends that would exceed it fail with -ENOSPC and leave the content unchanged.
 * Allocation failure gives -ENOMEM, also leaving the content unchanged.
 *
 * Life cycle: buf_init() (or BUF_INIT(max)), appends, buf_reset() to reuse the memory,
 * buf_release() to free it. Not thread safe: one buffer belongs to one thread at a time.
 */
#ifndef CORE_BUF_H
#define CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;    /* content, NUL-terminated; never NULL after buf_init */
	size_t len; /* bytes of content */
	size_t cap; /* bytes allocated for p, 0 while p points to the shared empty string */
	size_t max; /* maximum content length */
};

extern char buf_empty[];
#define BUF_INIT(m) { buf_empty, 0, 0, (m) }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);
/* Makes room for n more bytes of content; 0, -ENOSPC or -ENOMEM. */
int buf_grow(struct buf *b, size_t n);
int buf_add_slow(struct buf *b, const void *data, size_t n);
int buf_adds(struct buf *b, const char *s);

/* Appends n bytes; inline when they fit (the JSON writer's hot path). */
static inline int buf_add(struct buf *b, const void *data, size_t n)
{
	if (n < b->cap - b->len) { /* cap <= max + 1, so this also keeps len <= max */
		__builtin_memcpy(b->p + b->len, data, n);
		b->len += n;
		b->p[b->len] = '\0';
		return 0;
	}
	return buf_add_slow(b, data, n);
}

static inline int buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Appends v in decimal (the hot path of JSON and metrics output, without printf). */
int buf_add_int(struct buf *b, int64_t v);
/* Drops the first n bytes of content (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Shortens the content to len bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);

#endif
