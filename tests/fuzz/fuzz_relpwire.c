/*
 * Fuzz target for the RELP wire format (ingest/relpwire.h). The first bytes choose the
 * maximum DATA size and the chunk sizes; the rest is the stream. Invariants: no crash,
 * every frame's DATA is at most max bytes and lies inside the chunk or the parser's own
 * buffer, a frame is truncated only when its DATA reached max, the input cursor only
 * moves forward within the chunk, a refused allocation is reported, not crashed on; the
 * open-offer check and the answers never read or write out of bounds.
 */
#include "ingest/relpwire.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

static void check_frame(const struct relpwire_parser *p, const struct relpwire_frame *f,
			const char *chunk, size_t chunk_len)
{
	char out[RELPWIRE_RSP_MAX + 64], text[100];
	const char *why;

	if (f->len > p->max || (f->truncated && f->len != p->max))
		abort();
	if (f->len && !inside(f->data, f->len, chunk, chunk_len) &&
	    !(p->part && inside(f->data, f->len, p->part, p->part_cap)))
		abort();
	if (strlen(f->name) == 0 || f->txnr > RELPWIRE_TXNR_MAX)
		abort();
	if (f->cmd == RELPWIRE_OPEN && relpwire_check_open(f->data, f->len, &why) < 0 && !why)
		abort();
	/* the answer's text is a C string: the data, cut and terminated */
	memcpy(text, f->data, f->len < sizeof(text) - 1 ? f->len : sizeof(text) - 1);
	text[f->len < sizeof(text) - 1 ? f->len : sizeof(text) - 1] = '\0';
	if (relpwire_rsp(out, f->txnr, 500, text, NULL, 0) > RELPWIRE_RSP_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relpwire_parser p;
	struct relpwire_frame f;
	size_t max, off = 0;
	unsigned seed;
	int rc = 0;

	if (size < 4)
		return 0;
	max = 1 + (data[0] % 128);
	seed = data[1] | (unsigned)data[2] << 8;
	if (data[3] & 0x80)
		mem_fail_after(data[3] & 1);
	data += 4;
	size -= 4;
	relpwire_init(&p, max);
	while (off < size && rc >= 0) {
		const char *chunk = (const char *)data + off;
		size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 97;
		size_t n = k < size - off ? k : size - off;
		const char *in = chunk;
		size_t left = n;

		off += n;
		while ((rc = relpwire_next(&p, &in, &left, &f)) > 0) {
			check_frame(&p, &f, chunk, n);
			if (!inside(in, left, chunk, n))
				abort();
		}
		if (rc == 0 && left != 0)
			abort();
		if (rc < 0 && rc != -EPROTO && rc != -ENOMEM)
			abort();
	}
	relpwire_release(&p);
	mem_fail_after(-1);
	return 0;
}
