/*
 * msg.h - one received message on its way from a listener to a worker.
 *
 * A listener allocates a struct msg with msg_new() (header and bytes in one block),
 * fills the routing fields, and hands it to the fair queue; from then on the queue owns
 * it, and the worker that pops it frees it with msg_free() after processing. The bytes
 * are the message exactly as framed (no frame header, no trailing LF), at most the
 * configured maximum; `truncated` says that the sender's message was longer.
 *
 * Receiving threads use msg_new_pooled(): messages are carved from per-thread,
 * per-tenant slabs of MSG_SLAB_SIZE bytes with a reference count, so a burst costs one
 * allocation per slab instead of one per message, and memory held by a slab is held by
 * messages of one tenant only (a tenant whose queue waits cannot pin another's slabs).
 * msg_free() works for both kinds. A thread that used msg_new_pooled() calls
 * msg_pool_release() before it exits.
 *
 * Any thread; a message belongs to one thread at a time.
 */
#ifndef CORE_MSG_H
#define CORE_MSG_H

#include <stdint.h>

#include "core/ipaddr.h"

struct tz;

struct msg_slab;

#define MSG_SLAB_SIZE (64 * 1024)
#define MSG_POOL_TENANTS 4096 /* tenant slots with a slab of their own */

struct msg {
	struct msg_slab *slab;   /* NULL when allocated on its own */
	int64_t received_ns;     /* wall clock at receipt */
	struct ipaddr peer;      /* sender address */
	uint16_t peer_port;
	uint8_t listener;        /* index into config listeners */
	uint8_t format;          /* decoder id (parse/decoder.h) of the matched source, 0 = auto */
	uint8_t truncated;       /* 1 when the message was cut to the maximum size */
	uint16_t tenant;         /* fair-queue slot of the tenant */
	const struct tz *tz;     /* zone for RFC 3164 stamps (process-lifetime pointer) */
	const char *source;      /* matched source's name (process lifetime), NULL: none */
	uint32_t len;
	char data[];
};

/* A message with room for len bytes (copied from data when not NULL); NULL on ENOMEM. */
struct msg *msg_new(const void *data, uint32_t len);
/* Like msg_new, from the calling thread's slab for tenant (larger messages: alone). */
struct msg *msg_new_pooled(const void *data, uint32_t len, unsigned tenant);
void msg_free(struct msg *m);
/* Drops the calling thread's hold on its slabs (they go when their messages do). */
void msg_pool_release(void);

#endif
