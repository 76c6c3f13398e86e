/*
 * varint.h - unsigned LEB128 varints (seven bits a byte, the low group first, the high bit
 * set on every byte but the last) and zigzag signed integers, as the store's formats write
 * them (evcodec batches, segments: docs/store.md). Header only; any thread.
 *
 * The caller owns every buffer: varint_put() writes at most VARINT_MAX bytes at q without
 * a bound, so the room is the caller's to ensure; varint_get() never reads past end.
 */
#ifndef CORE_VARINT_H
#define CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10 /* bytes of the longest varint, a 64-bit value */

/* A signed integer as an unsigned one with small magnitudes small: 0, -1, 1, -2 -> 0, 1, 2, 3. */
static inline uint64_t varint_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t varint_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Writes v at q (at most VARINT_MAX bytes); the byte after it. */
static inline unsigned char *varint_put(unsigned char *q, uint64_t v)
{
	while (v >= 0x80) {
		*q++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*q++ = (unsigned char)v;
	return q;
}

/* The bytes varint_put() writes for v. */
static inline unsigned varint_len(uint64_t v)
{
	unsigned n = 1;

	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

/*
 * Reads a varint from [*p, end) into *out and moves *p past it: 0, or -1 when it runs past
 * end or past 64 bits (*p is then somewhere in between, *out untouched).
 */
static inline int varint_get(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		unsigned char c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

#endif
