/*
 * fuzz_panos.c - libFuzzer target for the PAN-OS decoder (parse/panos) through the
 * registry: fuzz_decoder.h, where the top bit of the first byte gives the event a tiny arena
 * (allocation failures inside the decoder). Beyond its invariants: a decoded event has
 * @timestamp and event.dataset; a failure leaves exactly event.original, message,
 * event.created and @timestamp (or is -ENOMEM); every event written as JSON decodes again
 * with parse/ecs and writes the same bytes.
 */
#include "core/event.h"

#include <errno.h>

/* The result of panos_decode as its header promises it (rc 0 or -errno). */
static int fuzz_panos_check(const struct event *ev, int rc)
{
	if (rc == 0)
		return event_get(ev, FIELD_TIMESTAMP) && event_get(ev, FIELD_EVENT_DATASET);
	return rc == -ENOMEM || ev->n == 4;
}

#define FUZZ_FORMAT "panos"
#define FUZZ_TINY_ARENA
#define FUZZ_ROUND_TRIP
#define FUZZ_CHECK(ev, rc) fuzz_panos_check(ev, rc)
#include "fuzz_decoder.h"
