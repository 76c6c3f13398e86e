/*
 * fuzz_evcodec.c - libFuzzer target for the WAL's binary event batches (store/evcodec.h):
 * the sealer and the WAL-tail search decode them from files a crash or a broken disk may
 * have left in any state.
 *
 * Opening must fail with a message or succeed; every event the batch then yields either
 * decodes or is refused with a message, never read out of bounds (the input is copied to
 * an exactly sized buffer). Each decoded event is encoded again into a new batch, which must
 * open and give the same events (compared as JSON).
 */
#include "store/evcodec.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena a, a2;
	static int ready;
	struct evcodec_reader r, r2;
	struct evcodec_writer w;
	struct buf batch = BUF_INIT(1 << 22), json = BUF_INIT(1 << 22), json2 = BUF_INIT(1 << 22);
	struct err e = ERR_INIT;
	unsigned char *copy = malloc(size ? size : 1);
	const void *evp;
	size_t evlen;
	unsigned n = 0;
	int rc;

	if (!copy)
		abort();
	if (!ready) {
		arena_init(&a, 1 << 16, 1 << 24);
		arena_init(&a2, 1 << 16, 1 << 24);
		ready = 1;
	}
	memcpy(copy, data, size);
	evcodec_reader_init(&r);
	evcodec_reader_init(&r2);
	evcodec_writer_init(&w);
	if (evcodec_begin(&w, &batch) < 0)
		abort();
	if (evcodec_open(&r, copy, size, &e) < 0) {
		if (!e.msg[0])
			abort();
		goto done;
	}
	arena_clear(&a);
	while (n < MAX_EVENTS && (rc = evcodec_next(&r, &evp, &evlen, &e)) > 0) {
		struct event ev;

		event_init(&ev, &a);
		if (evcodec_decode(&r, evp, evlen, &ev, &e) < 0) {
			if (!e.msg[0])
				abort();
			continue;
		}
		if (event_write_json(&ev, &json) < 0 || buf_addch(&json, '\n') < 0)
			goto done; /* too large for the check */
		if (evcodec_add(&w, &batch, &ev) < 0)
			goto done;
		n++;
	}
	if (evcodec_finish(&w, &batch) < 0)
		goto done;
	if (evcodec_open(&r2, batch.p, batch.len, &e) < 0 || evcodec_events(&r2) != n)
		abort();
	arena_clear(&a2);
	while ((rc = evcodec_next(&r2, &evp, &evlen, &e)) > 0) {
		struct event ev;

		event_init(&ev, &a2);
		if (evcodec_decode(&r2, evp, evlen, &ev, &e) < 0 ||
		    event_write_json(&ev, &json2) < 0 || buf_addch(&json2, '\n') < 0)
			abort();
	}
	if (rc < 0 || json.len != json2.len || memcmp(json.p, json2.p, json.len))
		abort();
done:
	evcodec_writer_release(&w);
	evcodec_reader_release(&r);
	evcodec_reader_release(&r2);
	buf_release(&batch);
	buf_release(&json);
	buf_release(&json2);
	free(copy);
	return 0;
}
