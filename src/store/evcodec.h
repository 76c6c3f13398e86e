/*
 * evcodec.h - the write-ahead log's event encoding: a batch of events in a compact binary
 * form, written by the sink (store/sink.h) and read by the sealer and the search of the WAL
 * tail, so that no event is turned into JSON and parsed back on its way to a segment.
 *
 * A batch (one WAL record's payload, flag WAL_FLAG_EVCODEC; the layout is described for
 * operators in docs/store.md), integers little-endian, varints LEB128, zigzag for signed:
 *
 *   header, 4 bytes:   "KE" | u8 version (2; 1 is still read) | u8 0
 *   events, each:      u32 length of the rest | varint value count | values
 *   value:             varint name index | by the name's type:
 *                        string: varint 2 * length, the bytes as they are (no escaping);
 *                              or varint 2 * length + 1, varint offset: the bytes at
 *                              that offset of the event's first event.original, a value
 *                              before it (version 1: varint length, the bytes)
 *                        int, bool: zigzag varint
 *                        time: zigzag varint of (ns - the previous time value of the
 *                              event, or the batch's base time for its first)
 *                        IP: u8 4 or 16, then the address bytes
 *   names (at names offset): varint event count | varint name count |
 *                        per name: u8 type (enum field_type) | varint length | name bytes
 *   trailer, 12 bytes: i64 base time | u32 names offset
 *
 * Field NAMES are stored, never process ids (field.h), once per batch. Each event can be
 * decoded on its own given the batch (the tail search reads a record's events newest first).
 * A decoder's fields point into the raw line it set as event.original (a syslog message's
 * host, program and message; a PAN-OS line's columns), so evcodec_add writes such a string,
 * when it lies in the event's event.original written before it, as its place there: the
 * raw text is written once, as in the segments (found by address, not by searching).
 *
 * Memory: a writer owns its name table (at most EVCODEC_NAMES_MAX names a batch) and writes
 * into the caller's buffer (bounded by its maximum). A reader owns its name table; events it
 * decodes point into the batch's bytes (strings) and the event's arena (values turned into
 * text when this process types a vendor field differently), so the batch must outlive them.
 *
 * Threads: a writer or a reader belongs to one thread at a time; different ones may run at
 * once (field_intern is thread-safe).
 */
#ifndef STORE_EVCODEC_H
#define STORE_EVCODEC_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct event;

#define EVCODEC_VERSION 2
#define EVCODEC_HEADER 4
#define EVCODEC_TRAILER 12
#define EVCODEC_NAMES_MAX 65536 /* distinct field names in one batch */

struct evcodec_writer {
	uint32_t *idx;      /* by field id: name index (valid when stamp[id] == gen) */
	uint32_t *stamp;
	uint8_t *type;      /* by field id: its field_store_type() + 1, 0 until looked up */
	size_t map_cap;     /* entries in idx and stamp */
	uint32_t gen;       /* of the batch being written */
	uint32_t *names;    /* field ids in name-index order */
	size_t n_names, names_cap;
	uint32_t n_events;
	int64_t base;       /* the first time value of the batch */
	int have_base;
	size_t start;       /* offset of the batch's header in the buffer */
};

void evcodec_writer_init(struct evcodec_writer *w);
void evcodec_writer_release(struct evcodec_writer *w);
/* Starts a batch at the end of out (its header): 0 or -ENOSPC/-ENOMEM. */
int evcodec_begin(struct evcodec_writer *w, struct buf *out);
/*
 * Appends ev to the batch. On failure (-ENOSPC: out's maximum or too many names; -ENOMEM)
 * out is as before the call, so the batch can still be finished without the event.
 */
int evcodec_add(struct evcodec_writer *w, struct buf *out, const struct event *ev);
/* Events added since evcodec_begin. */
uint32_t evcodec_count(const struct evcodec_writer *w);
/* Writes the names and the trailer: out then holds the whole batch from w->start. */
int evcodec_finish(struct evcodec_writer *w, struct buf *out);

struct evcodec_reader {
	const unsigned char *p;  /* the batch (the caller's) */
	size_t events_end;       /* = names offset */
	size_t pos;              /* next event (evcodec_next) */
	uint32_t n_events;
	unsigned version;        /* the batch's format, 1 or 2 */
	int64_t base;
	uint32_t *ids;           /* by name index: this process's field id */
	unsigned char *types;    /* by name index: the type the batch stores */
	size_t n_names, cap;
};

void evcodec_reader_init(struct evcodec_reader *r);
void evcodec_reader_release(struct evcodec_reader *r);
/*
 * Checks the batch's frame and reads its names (interning them); p must stay valid while
 * events are read. -EBADMSG with the offset in e for a damaged batch.
 */
int evcodec_open(struct evcodec_reader *r, const void *p, size_t len, struct err *e);
/* The batch's event count (from its names section). */
uint32_t evcodec_events(const struct evcodec_reader *r);
/*
 * The next event's bytes: 1 and (*ev, *len), 0 at the end of the events, -EBADMSG when an
 * event's length runs past them.
 */
int evcodec_next(struct evcodec_reader *r, const void **ev, size_t *len, struct err *e);
/*
 * Decodes one event's bytes (from evcodec_next) into ev (event_init'ed by the caller):
 * 0, -EBADMSG (damaged; e says where), -ENOSPC/-ENOMEM (the event's limits or arena).
 */
int evcodec_decode(const struct evcodec_reader *r, const void *p, size_t len, struct event *ev,
		   struct err *e);

#endif
