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
	struct arena_chunk *head;  /* chunk being filled; older ones follow */
	struct arena_chunk *spare; /* default-size chunks kept by arena_clear() for reuse */
	size_t spare_bytes;        /* their payload bytes */
	size_t used;               /* bytes handed out, all chunks */
	size_t max;                /* limit on used */
	size_t chunk_size;         /* default chunk payload size */
};

/* What arena_clear() keeps at most: default-size chunks up to this many payload bytes. */
#define ARENA_KEEP_MAX ((size_t)16 << 20)

void arena_init(struct arena *a, size_t chunk_size, size_t max);
/* n bytes aligned for any type; NULL when over max or out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* Copy of s[0..n) plus NUL, or NULL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/*
 * Frees all allocations but keeps the memory of default-size chunks, up to ARENA_KEEP_MAX
 * bytes (at least one chunk), for the next batch: a batch loop whose batches need several
 * chunks reuses them instead of asking malloc, and faulting fresh pages in, every time.
 */
void arena_clear(struct arena *a);
/* Frees all allocations and every chunk. */
void arena_release(struct arena *a);

#endif
