#include "t_store.h"
#include "core/compat.h"

#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "store/store.h"
#include "t.h"

void t_store_import(struct store *st, uint64_t tenant, int count,
		    void (*make)(struct event *ev, int i, void *ctx), void *ctx,
		    struct store_import_stats *s)
{
	struct store_import *imp;
	struct err e = ERR_INIT;
	struct arena a;
	struct event ev;

	arena_init(&a, 1 << 16, 1 << 24);
	CHECK_INT(store_import_begin(st, tenant, &imp, &e), 0);
	for (int i = 0; i < count; i++) {
		arena_clear(&a);
		event_init(&ev, &a);
		make(&ev, i, ctx);
		CHECK_INT(store_import_add(imp, &ev, &e), 0);
	}
	CHECK_INT(store_import_finish(imp, s, &e), 0);
	arena_release(&a);
}
