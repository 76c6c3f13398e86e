/*
 * ack.h - acknowledgement tokens (issue 11 part 3): the credential carried by the link of a
 * notice (https://BASE/ack/TOKEN), by the phone call's key-press callback and by a Teams
 * card's button. One token names one notice of one incident of one tenant and expires.
 *
 * Format (docs/acknowledgement.md), URL-safe text of at most ACK_TOKEN_MAX bytes:
 *
 *   ka1.TENANT.INCIDENT.NOTICE.EXPIRES.MAC
 *
 * TENANT a tenant name (core/name.h: a-z 0-9 _ -), INCIDENT and NOTICE decimal ids (> 0, no
 * leading zero), EXPIRES the expiry in whole seconds since the epoch (decimal), MAC the
 * base64url (no padding, 43 characters) of HMAC-SHA256(key, every byte before ".MAC").
 * The key is 32 random bytes kept as 64 hexadecimal digits and a newline in a file of mode
 * 0600 (default DATA_DIR/notify-ack.key), made by ack_key_load when missing.
 *
 * ack_token_check refuses, in this order: a malformed token (-EINVAL), a token whose MAC is not
 * the key's (-EPERM: forged, or made with another key; compared in constant time), an expired
 * one (-ESTALE, the claim filled so the caller may say since when). e says why, in a sentence
 * that names no tenant for -EINVAL and -EPERM.
 *
 * Memory: ack_key_load allocates the key, ack_key_free wipes and frees it. Threads: a key is
 * read-only once loaded; make and check may run on any thread at once.
 */
#ifndef NOTIFY_ACK_H
#define NOTIFY_ACK_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;

#define ACK_TOKEN_PREFIX "ka1."
#define ACK_TOKEN_MAX 192   /* bytes of a token: 4 + 63 + 3 * (1 + 19) + 1 + 43 = 171, rounded up */
#define ACK_KEY_FILE "notify-ack.key" /* in DATA_DIR */

struct ack_key;

struct ack_claim {
	char tenant[64];
	int64_t incident, notice, expires_ns;
};

/*
 * Delivery status callbacks reach the notification engine through these (given to the ack
 * endpoint at start, portal/ackpage.h): status is the provider's word ("ringing", "completed",
 * "no-answer", ...), reason a sentence or "". Called on an API connection's thread.
 */
struct ack_hooks {
	void (*status)(void *ctx, const char *tenant, int64_t notice, const char *status,
		       const char *reason);
	void *ctx;
};

/* Reads the key at path; when the file is missing, makes one of 32 random bytes (mode 0600,
 * written through a temporary file; one of several concurrent makers wins). */
int ack_key_load(struct ack_key **out, const char *path, struct err *e);
void ack_key_free(struct ack_key *k);

/* Appends the token of (tenant, incident, notice, expires_ns) to out. -EINVAL with a message for
 * an invalid tenant name, ids < 1 or expires_ns < 1 s. */
int ack_token_make(const struct ack_key *k, const char *tenant, int64_t incident, int64_t notice,
		   int64_t expires_ns, struct buf *out, struct err *e);

/* Checks tok[0..len) (untrusted bytes) at now_ns: 0 and *out filled, or -EINVAL / -EPERM /
 * -ESTALE as above. */
int ack_token_check(const struct ack_key *k, const char *tok, size_t len, int64_t now_ns,
		    struct ack_claim *out, struct err *e);

#endif
