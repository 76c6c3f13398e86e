/*
 * arena.h - bump allocator for one batch or one request.
 *
 * Everything allocated from an arena is freed at once by arena_clear() (memory kept for
 * reuse) or arena_release() (memory returned). An arena never holds more than max bytes:
 * arena_alloc returns NULL past that or when the system is out of memory, and the caller
 * reports the error. Pointers stay valid until the next clear/release.
 *
 * Not thread safe: an arena belongs to one thread (typically one worker's batch).
 */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head; /* chunk being filled; older ones follow */
	size_t used;              /* bytes handed out, all chunks */
	size_t max;               /* limit on used */
	size_t chunk_size;        /* default chunk payload size */
};

void arena_init(struct arena *a, size_t chunk_size, size_t max);
/* n bytes aligned for any type; NULL when over max or out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* Copy of s[0..n) plus NUL, or NULL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Frees all allocations but keeps the first chunk for reuse. */
void arena_clear(struct arena *a);
void arena_release(struct arena *a);

#endif
