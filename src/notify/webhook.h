/*
 * webhook.h - the `webhook` notification channel (notify/channel.h): a notice POSTed as a
 * JSON document to any URL, signed so that the receiver can tell it came from koban and is
 * fresh (docs/channels.md shows a receiver's check).
 *
 * Keys of notify.channels.NAME (type webhook):
 *   url          the receiver (https://, or http:// to a loopback host); no query secrets
 *                belong here: the signature authenticates
 *   secret_file  a file of mode 0600 holding the shared HMAC key (required, at least
 *                WEBHOOK_SECRET_MIN bytes)
 *   ca_file, timeout, rate (notify/httppost.h)
 *
 * The request: Content-Type application/json, the body of webhook_body(), and
 *   X-Koban-Timestamp: UNIX_SECONDS
 *   X-Koban-Signature: sha256=HEX(HMAC-SHA256(secret, UNIX_SECONDS "." BODY))
 *   X-Koban-Message-Id: the notice's message_id (the same on every retry of a notice)
 * A receiver recomputes the HMAC over the timestamp header, a dot and the raw body bytes,
 * compares in constant time, refuses a timestamp more than WEBHOOK_WINDOW_S seconds away
 * from its clock, and may drop a message_id it has seen within that window.
 *
 * Results: any 2xx is CHANNEL_SENT (provider_id: the message_id, the receiver's key for
 * de-duplication); other answers as httppost_fail says (3xx is not followed: PERM).
 *
 * Memory and threads: as channel.h says; the pure functions run on any thread.
 */
#ifndef NOTIFY_WEBHOOK_H
#define NOTIFY_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "notify/channel.h"

struct buf;

#define WEBHOOK_BODY_MAX (256 * 1024)
#define WEBHOOK_TEXT_MAX (128 * 1024) /* bytes of the notice's text in the body */
#define WEBHOOK_SECRET_MIN 16          /* bytes of a shared secret, at least */
#define WEBHOOK_WINDOW_S 300          /* the replay window a receiver should enforce */
#define WEBHOOK_SIGNATURE_LEN (7 + 64) /* "sha256=" and 64 hex digits */

extern const struct channel_ops webhook_ops;

/* The JSON document of notice n sent at now_ns into out: 0, -ENOSPC, -ENOMEM. */
int webhook_body(const struct notice *n, int64_t now_ns, struct buf *out);
/*
 * "sha256=HEX" of HMAC-SHA256(key, TIMESTAMP "." body) into out[WEBHOOK_SIGNATURE_LEN + 1],
 * where TIMESTAMP is unix_s in decimal.
 */
void webhook_sign(const char *key, size_t key_len, int64_t unix_s, const char *body,
		  size_t len, char *out);

#endif
