/*
 * fuzz_ecs.c - libFuzzer target for the ECS JSON line decoder (parse/ecs).
 *
 * Invariants: a rejected line comes with a message and leaves the event empty; an
 * accepted line, written with event_write_json, decodes again and writes the same bytes
 * (the writer's output is a fixed point of decode + write); with allocation failures
 * (the Nth, from the first byte) the result is -ENOMEM with an empty event and a
 * message, or the same as without them.
 */
#include "parse/ecs.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf once = BUF_INIT(1 << 24), twice = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev, back;
	int rc, first_rc;

	arena_init(&a, 4096, 64 << 20);
	event_init(&ev, &a);
	rc = ecs_decode(&ev, (const char *)data, size, &e);
	first_rc = rc;
	if (rc < 0) {
		if (!e.msg[0] || ev.n != 0)
			abort();
	} else {
		if (event_write_json(&ev, &once) < 0)
			abort();
		event_init(&back, &a);
		if (ecs_decode(&back, once.p, once.len, &e) < 0 ||
		    event_write_json(&back, &twice) < 0 || once.len != twice.len ||
		    memcmp(once.p, twice.p, once.len))
			abort();
	}
	if (size) {
		struct arena small;
		struct event x;

		arena_init(&small, 16, 64 << 20);
		event_init(&x, &small);
		mem_fail_after(data[0] % 8);
		err_clear(&e);
		rc = ecs_decode(&x, (const char *)data, size, &e);
		mem_fail_after(-1);
		if ((rc != first_rc && rc != -ENOMEM) || (rc < 0 && (!e.msg[0] || x.n != 0)))
			abort();
		arena_release(&small);
	}
	buf_release(&once);
	buf_release(&twice);
	arena_release(&a);
	return 0;
}
