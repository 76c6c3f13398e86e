/*
 * Fuzz target for RFC 6587 framing. The first bytes choose the maximum message size and
 * the chunk sizes; the rest is the stream. Invariants: no crash, every message is at most
 * max bytes and lies inside the chunk or the framer's own buffer, the input cursor only
 * moves forward within the chunk, and a refused allocation is reported, not crashed on.
 * With a memory budget (bit 0x40 of the fourth byte) the buffer never passes it, and
 * the budget accounts exactly the framer's buffer.
 */
#include "ingest/framing.h"
#include "core/mem.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static int inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

static void check_frame(const struct framer *f, const struct frame *fr, const char *chunk,
			size_t chunk_len)
{
	if (fr->len > f->max)
		abort();
	if (!inside(fr->data, fr->len, chunk, chunk_len) &&
	    !(f->part && inside(fr->data, fr->len, f->part, f->max + 1)))
		abort();
	if (!fr->truncated && fr->len == 0)
		abort(); /* empty messages are skipped, never delivered */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framer_budget budget = { .max = 0 };
	struct framer f;
	struct frame fr;
	size_t max, off = 0;
	unsigned seed;
	int rc = 0;

	if (size < 4)
		return 0;
	max = 1 + (data[0] % 64);
	seed = data[1] | (unsigned)data[2] << 8;
	if (data[3] & 0x80)
		mem_fail_after(data[3] & 1);
	data += 4;
	size -= 4;
	framer_init(&f, max);
	if (data[-1] & 0x40) {
		budget.max = data[-1] & 0x3f;
		framer_set_budget(&f, &budget);
	}
	while (off < size && rc >= 0) {
		const char *chunk = (const char *)data + off;
		size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 97;
		size_t n = k < size - off ? k : size - off;
		const char *p = chunk;
		size_t left = n;

		off += n;
		while ((rc = framer_next(&f, &p, &left, &fr)) > 0) {
			check_frame(&f, &fr, chunk, n);
			if (!inside(p, left, chunk, n))
				abort();
		}
		if (rc == 0 && left != 0)
			abort();
		if (rc < 0 && rc != -EPROTO && rc != -ENOMEM && rc != -ENOBUFS)
			abort();
		if (f.budget && (atomic_load(&budget.used) != f.part_cap ||
				 f.part_cap > budget.max))
			abort();
	}
	if (rc >= 0 && framer_finish(&f, &fr) > 0)
		check_frame(&f, &fr, "", 0);
	framer_release(&f);
	if (atomic_load(&budget.used) != 0)
		abort();
	mem_fail_after(-1);
	return 0;
}
