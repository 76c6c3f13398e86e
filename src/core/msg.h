/*
 * msg.h - one received message on its way from a listener to a worker.
 *
 * A listener allocates a struct msg with msg_new() (header and bytes in one block),
 * fills the routing fields, and hands it to the fair queue; from then on the queue owns
 * it, and the worker that pops it frees it with msg_free() after processing. The bytes
 * are the message exactly as framed (no frame header, no trailing LF), at most the
 * configured maximum; `truncated` says that the sender's message was longer.
 *
 * Any thread; a message belongs to one thread at a time.
 */
#ifndef CORE_MSG_H
#define CORE_MSG_H

#include <stdint.h>

#include "core/ipaddr.h"

struct tz;

struct msg {
	int64_t received_ns;     /* wall clock at receipt */
	struct ipaddr peer;      /* sender address */
	uint16_t peer_port;
	uint8_t listener;        /* index into config listeners */
	uint8_t format;          /* enum syslog_format from the matched source, 0 = auto */
	uint8_t truncated;       /* 1 when the message was cut to the maximum size */
	uint16_t tenant;         /* fair-queue slot of the tenant */
	const struct tz *tz;     /* zone for RFC 3164 stamps (process-lifetime pointer) */
	uint32_t len;
	char data[];
};

/* A message with room for len bytes (copied from data when not NULL); NULL on ENOMEM. */
struct msg *msg_new(const void *data, uint32_t len);
void msg_free(struct msg *m);

#endif
