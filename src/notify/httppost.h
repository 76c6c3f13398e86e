/*
 * httppost.h - the one HTTPS POST of the HTTP notification channels (teams, pagerduty,
 * webhook; notify/channel.h): libcurl with the server's certificate verified (the system's
 * CAs, or the channel's `ca_file`), connect and transfer timeouts, no redirects followed,
 * the reply's status, its Retry-After and its first HTTPPOST_REPLY_MAX bytes.
 *
 * The keys every HTTP channel shares are checked here too:
 *   ca_file   a PEM file of CAs to trust instead of the system's (a private CA)
 *   timeout   seconds for one POST, 1..120 (default HTTPPOST_TIMEOUT_DEFAULT)
 *   rate      notices per second (the engine's limit; overrides channel_ops.rate_per_s)
 * and every channel's URL: https://, or http:// only for a loopback host (127.0.0.0/8,
 * ::1, localhost); no user or password in it. A URL may be a secret (a Teams Workflows URL
 * carries its signature in the query): then nothing of it but its host is ever written in
 * a message, a reason or a log line, and curl's own messages are scrubbed of its path.
 *
 * Results follow channel.h: httppost_send() fills the reply for any HTTP answer, a channel
 * decides what success is (its wire format) and hands every other answer to httppost_fail():
 * 429, 408 and 5xx are CHANNEL_FAILED_TEMP (429 with the Retry-After seconds), other
 * statuses CHANNEL_FAILED_PERM. A transport failure is TEMP, a certificate that does not
 * verify is PERM (a retry cannot help; the configuration must change).
 *
 * Memory: httppost_new() copies what it keeps (the URL, the CA path); httppost_free()
 * releases it. A reply's body is the caller's (httppost_reply_init/release).
 * Threads: one struct httppost is used by one thread at a time (the channel's send());
 * httppost_new/free from the thread that opens and closes channels.
 */
#ifndef NOTIFY_HTTPPOST_H
#define NOTIFY_HTTPPOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "notify/channel.h"

struct err;

#define HTTPPOST_REPLY_MAX 16384      /* bytes of a reply kept; the rest is read and dropped */
#define HTTPPOST_HOST_MAX 256
#define HTTPPOST_TIMEOUT_DEFAULT 15   /* seconds for one POST */
#define HTTPPOST_TIMEOUT_MAX 120
#define HTTPPOST_CONNECT_TIMEOUT 10   /* seconds to connect (TLS included), at most timeout */
#define HTTPPOST_RETRY_AFTER_MAX 3600 /* a longer Retry-After is cut to this */
#define HTTPPOST_RATE_MAX 1000.0

struct httppost;

/*
 * "FILE:LINE: notify.channels.NAME.KEY" of c's key (its own line, else the channel's) into
 * out[size], for messages.
 */
void httppost_where(const struct channel_conf *c, const char *key, char *out, size_t size);

/*
 * Refuses a key of c that is neither in own (NULL-terminated) nor one of the shared keys
 * (ca_file, timeout, rate): -EINVAL "FILE:LINE: notify.channels.NAME.KEY: unknown key for
 * type TYPE (expected one of: ...)". Checks the shared keys' values too.
 */
int httppost_check_keys(const struct channel_conf *c, const char *const *own, struct err *e);

/*
 * Checks url (from key `key` of c; secret: it came from a file, so the message never shows
 * it) and copies its host into host[HTTPPOST_HOST_MAX]: https, or http on a loopback host;
 * no user info; a query only when query_ok. -EINVAL with "FILE:LINE: notify.channels.N.KEY: ...".
 */
int httppost_url_check(const struct channel_conf *c, const char *key, const char *url,
		       bool secret, bool query_ok, char host[HTTPPOST_HOST_MAX], struct err *e);

/*
 * A POST client for url (checked already with httppost_url_check) with c's ca_file and
 * timeout. secret: url is a secret (see above). -ENOMEM, -EIO (libcurl cannot start).
 */
int httppost_new(struct httppost **out, const struct channel_conf *c, const char *url,
		 bool secret, struct err *e);
void httppost_free(struct httppost *h);
/* The URL's host, for messages. */
const char *httppost_host(const struct httppost *h);

struct httppost_reply {
	long status;        /* the HTTP status; 0 when no answer came */
	int retry_after_s;  /* Retry-After in seconds (0: none) */
	struct buf body;    /* the first HTTPPOST_REPLY_MAX bytes of the answer */
	bool truncated;     /* the answer was longer */
};

void httppost_reply_init(struct httppost_reply *rep);
void httppost_reply_release(struct httppost_reply *rep);

/*
 * POSTs body[0..len) as application/json with the extra headers (NULL-terminated "Name:
 * value" lines, or NULL). Returns 0 when an HTTP answer came (any status: rep filled), or a
 * negative code when none did: r gets CHANNEL_FAILED_TEMP (timeout, refused, reset) or
 * CHANNEL_FAILED_PERM (the certificate does not verify, the CA file cannot be read) and a
 * reason naming the host, e the same sentence.
 */
int httppost_send(struct httppost *h, const char *const *headers, const char *body,
		  size_t len, struct httppost_reply *rep, struct channel_result *r, struct err *e);

/*
 * Fills r (and e) for an answer the channel does not count as success: "HOST answered
 * STATUS: DETAIL" (detail: the service's own words, or NULL: httppost_error_text of the
 * reply), TEMP for 408, 429 (retry_after_s from Retry-After) and 5xx, PERM otherwise.
 * Returns -EAGAIN (TEMP) or -EPROTO (PERM).
 */
int httppost_fail(const struct httppost *h, const struct httppost_reply *rep,
		  const char *detail, struct channel_result *r, struct err *e);

/*
 * Fills r with status st, retry_after_s and the reason made of fmt (scrubbed of a secret
 * URL), and e with "notify.channels.NAME: reason"; returns code.
 */
int httppost_result(const struct httppost *h, struct channel_result *r, struct err *e,
		    enum channel_status st, int code, int retry_after_s, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* ---- pure parts (tests, fuzzing) ---- */

/*
 * A Retry-After value (RFC 9110 10.2.3: delay-seconds or an HTTP-date, compared with now_s)
 * in seconds, 0..HTTPPOST_RETRY_AFTER_MAX, or -1 when v[0..len) is neither.
 */
int httppost_retry_after(const char *v, size_t len, int64_t now_s);
/*
 * Appends ,"key":"s" to out (no comma when first): s JSON-escaped and cut to max bytes at a
 * character's boundary; NULL s gives null. 0 or the buf_* error.
 */
int httppost_json_field(struct buf *out, bool first, const char *key, const char *s,
			size_t max);
/*
 * The service's own words in an error answer p[0..len) into out[size] as httppost_text
 * does: a JSON object's "message" (or "error_description"), else its "error" string or its
 * "error" object's "message"; else the answer's first line of text.
 */
void httppost_error_text(const char *p, size_t len, char *out, size_t size);
/* The length of s cut to at most max bytes at a character's boundary (UTF-8). */
size_t httppost_cut(const char *s, size_t max);
/*
 * Copies the printable text of p[0..len) into out[size] for a message: up to the first
 * line break, control bytes and invalid UTF-8 dropped, at most size - 1 bytes cut at a
 * character's boundary.
 */
void httppost_text(const char *p, size_t len, char *out, size_t size);

#endif
