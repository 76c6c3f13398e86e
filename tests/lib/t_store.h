/*
 * t_store.h - event store helpers shared by the unit tests of the store (test_store,
 * test_retention).
 *
 * Memory: events are built on a scratch arena of the helper's, released before it
 * returns. Threads: the test's thread.
 */
#ifndef TESTS_T_STORE_H
#define TESTS_T_STORE_H

#include <stdint.h>

struct event;
struct store;
struct store_import_stats;

/*
 * Imports count events into tenant's segments: event i is made by make(ev, i, ctx) on an
 * event already initialised on a cleared arena. Every step is CHECKed; the import's
 * statistics go to *s when s is not NULL.
 */
void t_store_import(struct store *st, uint64_t tenant, int count,
		    void (*make)(struct event *ev, int i, void *ctx), void *ctx,
		    struct store_import_stats *s);

#endif
