#include "core/arena.h"
#include "core/compat.h"
#include "core/mem.h"

struct arena_chunk {
	struct arena_chunk *next;
	size_t size; /* payload bytes */
	size_t off;  /* payload bytes used */
	_Alignas(max_align_t) unsigned char data[];
};

#define ARENA_ALIGN (_Alignof(max_align_t))

void arena_init(struct arena *a, size_t chunk_size, size_t max)
{
	a->head = NULL;
	a->spare = NULL;
	a->spare_bytes = 0;
	a->used = 0;
	a->max = max;
	a->chunk_size = chunk_size ? chunk_size : 4096;
}

static struct arena_chunk *chunk_new(size_t size)
{
	struct arena_chunk *c = mem_alloc(sizeof(*c) + size);

	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->off = 0;
	return c;
}

/* A chunk with room for n bytes: a spare one when n fits the default size, or a new one. */
static struct arena_chunk *chunk_get(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->spare;

	if (c && n <= c->size) {
		a->spare = c->next;
		a->spare_bytes -= c->size;
		c->off = 0;
		return c;
	}
	return chunk_new(n > a->chunk_size ? n : a->chunk_size);
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t off;
	void *p;

	n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (n > a->max || a->used > a->max - n)
		return NULL;
	if (!c || c->size - c->off < n) {
		c = chunk_get(a, n);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	off = c->off;
	c->off += n;
	a->used += n;
	p = c->data + off;
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void chunks_free(struct arena_chunk *c)
{
	while (c) {
		struct arena_chunk *next = c->next;

		mem_free(c);
		c = next;
	}
}

void arena_clear(struct arena *a)
{
	struct arena_chunk *c;

	while ((c = a->head)) {
		a->head = c->next;
		if (c->size == a->chunk_size &&
		    (!a->spare_bytes || a->spare_bytes + c->size <= ARENA_KEEP_MAX)) {
			c->next = a->spare;
			a->spare = c;
			a->spare_bytes += c->size;
			continue;
		}
		mem_free(c);
	}
	a->used = 0;
}

void arena_release(struct arena *a)
{
	chunks_free(a->head);
	chunks_free(a->spare);
	a->head = NULL;
	a->spare = NULL;
	a->spare_bytes = 0;
	a->used = 0;
}
