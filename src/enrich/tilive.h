/*
 * tilive.h - the serving snapshot of the indicators kept current for `koban serve`.
 *
 * tilive_start() loads every indicator of koban.db into a struct ti_live (enrich/tisnap.h)
 * and starts the thread koban-ti, which reads koban.db's indicator generation
 * (meta_indicator_generation) every TILIVE_POLL_MS and, when it moved (an import, a feed
 * refresh, a removal, from any process), loads a new snapshot and swaps it in; the readers
 * (timatch's workers) never wait. tilive_kick() asks for a load now, whatever the
 * generation says (SIGHUP: expired indicators leave too). A load that fails keeps the
 * running snapshot, is logged and counted (koban_ti_snapshot_loads_total{result}), and is
 * tried again at the next poll. koban_ti_indicators is the running snapshot's size.
 *
 * Memory: the tilive owns the ti_live, its own koban.db connection and the thread.
 * Threads: tilive_start, tilive_kick and tilive_free from one thread (main); the ti_live
 * of tilive_live() is for the reader slots given (0 .. readers-1).
 */
#ifndef ENRICH_TILIVE_H
#define ENRICH_TILIVE_H

#include <stdbool.h>

struct err;
struct ti_live;
struct tilive;

#define TILIVE_POLL_MS 2000

/* Loads the snapshot once (an error stops the start), then starts koban-ti. */
int tilive_start(struct tilive **out, const char *data_dir, unsigned readers, bool metrics,
		 struct err *e);
struct ti_live *tilive_live(struct tilive *t);
void tilive_kick(struct tilive *t);
/* Stops the thread; the ti_live goes too (after its readers stopped). */
void tilive_free(struct tilive *t);

#endif
