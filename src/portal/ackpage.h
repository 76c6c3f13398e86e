/*
 * ackpage.h - the acknowledgement endpoints of notices (issue 11 part 3), served without API
 * authentication on the API listener (portal/api.h); the token in the path (notify/ack.h) is
 * the credential:
 *
 *   GET  /ack/<token>               a small confirmation page (Japanese and English: the
 *                                   incident's title, level and a button); never acknowledges
 *   POST /ack/<token>               acknowledges (META_CLOCK_ACKNOWLEDGED and a timeline entry
 *                                   "acknowledged", how "web", or "teams" for ?via=teams); again:
 *                                   says by whom and when, changes nothing
 *   POST /ack/phone/<token>         Twilio's <Gather> action (Digits=1 acknowledges, how phone);
 *                                   answers TwiML
 *   POST /ack/phone-status/<token>  Twilio's StatusCallback, handed to ack_hooks.status; 204
 *
 * The phone callbacks carry X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + the POST
 * parameters sorted by name, each name then value)) over the URL Twilio called, i.e.
 * ackpage_config.base_url + "/ack/phone/<token>" (without base_url: SCHEME://HOST of the
 * request). A wrong or missing signature is 403 and changes nothing. An invalid or expired
 * token is 403 with a page that says why and names no tenant data. docs/acknowledgement.md.
 *
 * ackpage_handle() is independent of the HTTP server: the API hands it the method, path, body
 * and the two headers it needs, and sends what it answers (portal/api.c adds Cache-Control:
 * no-store and Referrer-Policy: no-referrer).
 *
 * Memory: ackpage_new() owns the key and the configuration's copies until ackpage_free(); an
 * answer's body belongs to the caller (buf_release). Threads: ackpage_new/ackpage_free on one
 * thread; ackpage_handle on any connection thread at once (each opens its own koban.db handle).
 */
#ifndef PORTAL_ACKPAGE_H
#define PORTAL_ACKPAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "notify/ack.h"

struct arena;
struct err;

#define ACKPAGE_PATH "/ack/"
#define ACKPAGE_BODY_MAX (16u << 10) /* a callback's form body */
#define ACKPAGE_PARAMS_MAX 64        /* form parameters of a callback */

struct ackpage_config {
	const char *data_dir;
	const char *key_file;         /* NULL: DATA_DIR/notify-ack.key (made when missing) */
	const char *base_url;         /* notify.ack_url ("https://soc.example"); NULL: from the request */
	const char *phone_token_file; /* the phone channel's auth token (secret file) that signs
				       * Twilio's callbacks; NULL: phone callbacks are refused */
	const char *phone_language;   /* of the TwiML answers: "ja-JP" (NULL) or "en-US" */
	struct ack_hooks hooks;       /* status: NULL: delivery statuses are only logged */
	/* The recipient of a notice (the engine's delivery log), written to out; -ENOENT: unknown
	 * (then "link", or the number called for a phone). NULL: always unknown. */
	int (*recipient)(void *ctx, const char *tenant, int64_t notice, char *out, size_t max);
	void *recipient_ctx;
	/* An acknowledgement cancelled `cancelled` pending notices of the incident (written in
	 * the transaction that recorded it; the engine's queue gauge follows). NULL: not told.
	 * Called on the request's thread. */
	void (*acked)(void *ctx, const char *tenant, int64_t incident, int64_t cancelled);
	void *acked_ctx;
};

struct ackpage;

int ackpage_new(struct ackpage **out, const struct ackpage_config *c, struct err *e);
void ackpage_free(struct ackpage *p);

struct ackpage_request {
	const char *method;     /* "GET", "HEAD", "POST" */
	const char *path;       /* after "/ack/": "<token>", "phone/<token>", "phone-status/<token>" */
	const char *body;       /* the request body (form), may be NULL */
	size_t body_len;
	const char *signature;  /* X-Twilio-Signature or NULL */
	const char *scheme;     /* "https" or "http", and */
	const char *host;       /* the Host header (NULL: none): the URL when base_url is not set */
	const char *via;        /* the link's ?via= ("teams": a Teams card's button), or NULL */
	int64_t now_ns;
};

struct ackpage_answer {
	unsigned status;        /* 200, 204, 400, 403, 404, 405, 413, 500 */
	const char *content_type;
	const char *allow;      /* with 405 */
	struct buf body;        /* initialised by ackpage_handle */
};

/* Answers rq into an (always filled, body to release); returns an->status. */
unsigned ackpage_handle(struct ackpage *p, const struct ackpage_request *rq,
			struct ackpage_answer *an);

/*
 * Splits a form body (application/x-www-form-urlencoded, untrusted) into at most max
 * name/value pairs, decoded ('+' and %XX) into the arena: the count, or -EINVAL (malformed
 * escape, too many pairs) / -ENOMEM. For the signature and the callbacks' fields.
 */
struct ackpage_param {
	const char *name, *value;
	size_t name_len, value_len;
};
int ackpage_form_parse(const char *body, size_t len, struct arena *a, struct ackpage_param *out,
		       size_t max);
/* base64(HMAC-SHA1(token, url + sorted name/value pairs)) of the parameters, into out (NUL-
 * terminated, at least 29 bytes). Sorts params in place. */
void ackpage_twilio_signature(const char *token, const char *url, struct ackpage_param *params,
			      size_t n, char out[32]);

#endif
