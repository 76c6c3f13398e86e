/*
 * webhook.c - the `webhook` channel (webhook.h): a signed JSON notice posted through
 * notify/httppost.
 */
#include "notify/webhook.h"
#include "core/compat.h"

#include <inttypes.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/httppost.h"

#define SHORT_MAX 256
#define TITLE_MAX 4096
#define URL_MAX 2048

struct webhook {
	struct httppost *http;
	char secret[CHANNEL_SECRET_MAX];
	size_t secret_len;
};

static const char *const keys[] = { "url", "secret_file", NULL };

static int document(const struct notice *n, int64_t now_ns, struct buf *out, size_t text_max)
{
	char stamp[TIME_RFC3339_LEN];
	size_t start = out->len;
	int rc;

	time_format_rfc3339(now_ns, stamp);
	rc = buf_adds(out, "{\"type\":\"koban.notice\",\"version\":1");
	rc = err_first(rc, httppost_json_field(out, false, "sent_at", stamp, sizeof(stamp)));
	rc = err_first(rc, buf_addf(out, ",\"test\":%s", n->test ? "true" : "false"));
	rc = err_first(rc, httppost_json_field(out, false, "message_id", n->message_id, SHORT_MAX));
	rc = err_first(rc, buf_addf(out, ",\"notice\":%" PRId64, n->id));
	rc = err_first(rc, httppost_json_field(out, false, "tenant", n->tenant, SHORT_MAX));
	rc = err_first(rc, buf_addf(out, ",\"incident\":%" PRId64 ",\"level\":%d", n->incident,
				    n->level));
	rc = err_first(rc, httppost_json_field(out, false, "level_name", n->level_name, SHORT_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "title", n->title, TITLE_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "subject", n->subject, TITLE_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "text", n->text, text_max));
	rc = err_first(rc, httppost_json_field(out, false, "lang", n->lang, SHORT_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "recipient",
					       n->recipient && *n->recipient ? n->recipient : NULL,
					       SHORT_MAX));
	rc = err_first(rc, buf_adds(out, ",\"links\":{"));
	rc = err_first(rc, httppost_json_field(out, true, "incident", n->incident_url, URL_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "ack", n->ack_url, URL_MAX));
	rc = err_first(rc, buf_adds(out, "}}"));
	if (rc < 0)
		buf_truncate(out, start);
	return rc;
}

int webhook_body(const struct notice *n, int64_t now_ns, struct buf *out)
{
	int rc;

	/* escapes can make a text up to 6 times longer in JSON: cut it shorter until it fits */
	for (size_t max = WEBHOOK_TEXT_MAX;; max /= 4) {
		rc = document(n, now_ns, out, max);
		if (rc != -ENOSPC || max < 64)
			return rc;
	}
}

void webhook_sign(const char *key, size_t key_len, int64_t unix_s, const char *body,
		  size_t len, char *out)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char ts[24];
	int n = snprintf(ts, sizeof(ts), "%" PRId64 ".", unix_s);

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, key_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)n);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, WEBHOOK_SIGNATURE_LEN - 7 + 1, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

/* ---------------------------------------------------------------- the channel */

static void webhook_close(void *state)
{
	struct webhook *w = state;

	if (!w)
		return;
	httppost_free(w->http);
	sodium_memzero(w->secret, sizeof(w->secret));
	mem_free(w);
}

static int webhook_open(const struct channel_conf *c, void **state, struct err *e)
{
	const char *url = channel_conf_get(c, "url", NULL);
	char host[HTTPPOST_HOST_MAX], where[320];
	struct webhook *w = NULL;
	int rc;

	*state = NULL;
	if ((rc = httppost_check_keys(c, keys, e)) < 0)
		return rc;
	if (!url) {
		httppost_where(c, "url", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: missing (the receiver's https:// URL)", where);
	}
	if ((rc = httppost_url_check(c, "url", url, false, true, host, e)) < 0)
		return rc;
	if (sodium_init() < 0)
		return err_set(e, -EIO, "notify.channels.%s: libsodium cannot start", c->name);
	if (!(w = mem_calloc(1, sizeof(*w))))
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = channel_secret_read(c, "secret_file", true, w->secret, sizeof(w->secret), e)) < 0)
		goto fail;
	w->secret_len = strlen(w->secret);
	if (w->secret_len < WEBHOOK_SECRET_MIN) {
		httppost_where(c, "secret_file", where, sizeof(where));
		rc = err_set(e, -EINVAL, "%s: the secret is %zu bytes long; expected at least %d "
			     "(e.g. openssl rand -hex 32)", where, w->secret_len, WEBHOOK_SECRET_MIN);
		goto fail;
	}
	if ((rc = httppost_new(&w->http, c, url, false, e)) < 0)
		goto fail;
	*state = w;
	return 0;
fail:
	webhook_close(w);
	return rc;
}

static int webhook_send(void *state, const struct notice *n, struct channel_result *r,
			struct err *e)
{
	struct webhook *w = state;
	struct buf body = BUF_INIT(WEBHOOK_BODY_MAX);
	struct httppost_reply rep;
	char sig[WEBHOOK_SIGNATURE_LEN + 1], h_ts[48], h_sig[32 + WEBHOOK_SIGNATURE_LEN];
	char h_id[48 + SHORT_MAX];
	const char *headers[4] = { h_ts, h_sig, NULL, NULL };
	int64_t now = time_now_ns();
	int rc;

	memset(r, 0, sizeof(*r));
	httppost_reply_init(&rep);
	if ((rc = webhook_body(n, now, &body)) < 0) {
		rc = httppost_result(w->http, r, e, rc == -ENOSPC ? CHANNEL_FAILED_PERM :
				     CHANNEL_FAILED_TEMP, rc, 0, "the body cannot be made (%s)",
				     rc == -ENOSPC ? "too large" : "out of memory");
		goto done;
	}
	webhook_sign(w->secret, w->secret_len, now / NS_PER_SEC, body.p, body.len, sig);
	snprintf(h_ts, sizeof(h_ts), "X-Koban-Timestamp: %" PRId64, now / NS_PER_SEC);
	snprintf(h_sig, sizeof(h_sig), "X-Koban-Signature: %s", sig);
	if (n->message_id && *n->message_id && !strpbrk(n->message_id, "\r\n")) {
		snprintf(h_id, sizeof(h_id), "X-Koban-Message-Id: %.*s",
			 (int)httppost_cut(n->message_id, SHORT_MAX), n->message_id);
		headers[2] = h_id;
	}
	if ((rc = httppost_send(w->http, headers, body.p, body.len, &rep, r, e)) < 0)
		goto done;
	if (rep.status >= 200 && rep.status <= 299) {
		r->status = CHANNEL_SENT;
		if (n->message_id)
			snprintf(r->provider_id, sizeof(r->provider_id), "%s", n->message_id);
		goto done;
	}
	rc = httppost_fail(w->http, &rep, NULL, r, e);
done:
	httppost_reply_release(&rep);
	buf_release(&body);
	return rc;
}

const struct channel_ops webhook_ops = {
	.type = "webhook",
	.rate_per_s = 0,
	.open = webhook_open,
	.send = webhook_send,
	.close = webhook_close,
};
