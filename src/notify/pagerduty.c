/*
 * pagerduty.c - the `pagerduty` channel (pagerduty.h): Events API v2 trigger events posted
 * through notify/httppost.
 */
#include "notify/pagerduty.h"
#include "core/compat.h"

#include <inttypes.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/httppost.h"

#define SHORT_MAX 256
#define URL_MAX 2048
#define ROUTING_KEY_MAX 255

struct pagerduty {
	struct httppost *http;
	char routing_key[ROUTING_KEY_MAX + 1];
	char *source;
};

static const char *const keys[] = { "routing_key_file", "url", "source", NULL };

void pagerduty_dedup_key(const struct notice *n, char *out)
{
	char incident[24];
	const char *tenant = n->tenant ? n->tenant : "";
	size_t room;

	snprintf(incident, sizeof(incident), "%" PRId64, n->incident);
	room = PAGERDUTY_DEDUP_MAX - strlen("koban..") - strlen(incident);
	snprintf(out, PAGERDUTY_DEDUP_MAX + 1, "koban.%.*s.%s",
		 (int)httppost_cut(tenant, room), tenant, incident);
}

const char *pagerduty_severity(int level)
{
	static const char *const names[] = { "info", "warning", "error", "critical" };

	return names[level < 0 ? 0 : level > 3 ? 3 : level];
}

static int event(const char *routing_key, const char *source, const struct notice *n,
		 int64_t now_ns, struct buf *out, size_t text_max)
{
	char dedup[PAGERDUTY_DEDUP_MAX + 1], stamp[TIME_RFC3339_LEN], link[64];
	char summary[PAGERDUTY_SUMMARY_MAX + 1];
	const char *what = n->subject && *n->subject ? n->subject : n->title ? n->title : "";
	size_t start = out->len;
	int rc;

	pagerduty_dedup_key(n, dedup);
	time_format_rfc3339(now_ns, stamp);
	snprintf(summary, sizeof(summary), "%s%.*s", n->test ? "[test] " : "",
		 (int)httppost_cut(what, PAGERDUTY_SUMMARY_MAX - (n->test ? 7 : 0)), what);
	if (!*summary)
		snprintf(summary, sizeof(summary), "koban incident %" PRId64, n->incident);
	rc = buf_adds(out, "{");
	rc = err_first(rc, httppost_json_field(out, true, "routing_key", routing_key,
					       ROUTING_KEY_MAX));
	rc = err_first(rc, buf_adds(out, ",\"event_action\":\"trigger\""));
	rc = err_first(rc, httppost_json_field(out, false, "dedup_key", dedup, sizeof(dedup)));
	rc = err_first(rc, buf_adds(out, ",\"payload\":{"));
	rc = err_first(rc, httppost_json_field(out, true, "summary", summary, sizeof(summary)));
	rc = err_first(rc, httppost_json_field(out, false, "source", source, SHORT_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "severity",
					       pagerduty_severity(n->level), SHORT_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "timestamp", stamp, sizeof(stamp)));
	rc = err_first(rc, buf_adds(out, ",\"component\":\"koban\""));
	rc = err_first(rc, httppost_json_field(out, false, "group", n->tenant, SHORT_MAX));
	rc = err_first(rc, buf_adds(out, ",\"class\":\"incident\",\"custom_details\":{"));
	rc = err_first(rc, httppost_json_field(out, true, "tenant", n->tenant, SHORT_MAX));
	rc = err_first(rc, buf_addf(out, ",\"incident\":%" PRId64 ",\"level\":%d", n->incident,
				    n->level));
	rc = err_first(rc, httppost_json_field(out, false, "level_name", n->level_name, SHORT_MAX));
	rc = err_first(rc, buf_addf(out, ",\"notice\":%" PRId64, n->id));
	rc = err_first(rc, httppost_json_field(out, false, "message_id", n->message_id, SHORT_MAX));
	if (n->title && *n->title)
		rc = err_first(rc, httppost_json_field(out, false, "title", n->title,
						       PAGERDUTY_SUMMARY_MAX));
	if (n->recipient && *n->recipient)
		rc = err_first(rc, httppost_json_field(out, false, "recipient", n->recipient,
						       SHORT_MAX));
	if (n->text && *n->text)
		rc = err_first(rc, httppost_json_field(out, false, "text", n->text, text_max));
	rc = err_first(rc, buf_addf(out, ",\"test\":%s}}", n->test ? "true" : "false"));
	if (n->incident_url || n->ack_url) {
		rc = err_first(rc, buf_adds(out, ",\"links\":["));
		if (n->incident_url) {
			snprintf(link, sizeof(link), "koban incident #%" PRId64, n->incident);
			rc = err_first(rc, buf_adds(out, "{"));
			rc = err_first(rc, httppost_json_field(out, true, "href", n->incident_url,
							       URL_MAX));
			rc = err_first(rc, httppost_json_field(out, false, "text", link, sizeof(link)));
			rc = err_first(rc, buf_adds(out, "}"));
		}
		if (n->ack_url) {
			rc = err_first(rc, buf_adds(out, n->incident_url ? ",{" : "{"));
			rc = err_first(rc, httppost_json_field(out, true, "href", n->ack_url, URL_MAX));
			rc = err_first(rc, buf_adds(out, ",\"text\":\"確認 / Acknowledge\"}"));
		}
		rc = err_first(rc, buf_adds(out, "]"));
	}
	rc = err_first(rc, buf_adds(out, ",\"client\":\"koban\""));
	if (n->incident_url)
		rc = err_first(rc, httppost_json_field(out, false, "client_url", n->incident_url,
						       URL_MAX));
	rc = err_first(rc, buf_adds(out, "}"));
	if (rc < 0)
		buf_truncate(out, start);
	return rc;
}

int pagerduty_body(const char *routing_key, const char *source, const struct notice *n,
		   int64_t now_ns, struct buf *out)
{
	int rc;

	/* escapes can make a text up to 6 times longer in JSON: cut it shorter until it fits */
	for (size_t max = PAGERDUTY_TEXT_MAX;; max /= 4) {
		rc = event(routing_key, source, n, now_ns, out, max);
		if (rc != -ENOSPC || max < 64)
			return rc;
	}
}

/* A string value's text into out[size] (printable, cut), or "" for other types. */
static void take_string(const struct jsonin_value *v, char *out, size_t size)
{
	if (v->type == JSONIN_STRING)
		httppost_text(v->s, v->len, out, size);
	else
		out[0] = '\0';
}

int pagerduty_reply_read(const char *p, size_t len, struct pagerduty_reply *out)
{
	struct arena a;
	struct jsonin j;
	struct jsonin_value k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	arena_init(&a, 4096, HTTPPOST_REPLY_MAX * 2);
	jsonin_init(&j, p, len, &a, JSONIN_REPLACE_SURROGATES);
	j.max_depth = 16;
	if ((rc = jsonin_value(&j, &v)) < 0 || v.type != JSONIN_OBJECT) {
		rc = -EINVAL;
		goto done;
	}
	while ((rc = jsonin_key(&j, &k)) > 0) {
		char *field = NULL;
		size_t size = 0;

		if (jsonin_key_is(&k, "errors")) {
			if ((rc = jsonin_value(&j, &v)) < 0)
				break;
			if (v.type == JSONIN_OBJECT && (rc = jsonin_skip(&j)) < 0)
				break;
			if (v.type != JSONIN_ARRAY)
				continue;
			while ((rc = jsonin_more(&j)) > 0) {
				if ((rc = jsonin_value(&j, &v)) < 0)
					break;
				if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY)
					rc = jsonin_skip(&j);
				else if (!out->error[0])
					take_string(&v, out->error, sizeof(out->error));
				if (rc < 0)
					break;
			}
			if (rc < 0)
				break;
			continue;
		}
		if (jsonin_key_is(&k, "status")) {
			field = out->status;
			size = sizeof(out->status);
		} else if (jsonin_key_is(&k, "message")) {
			field = out->message;
			size = sizeof(out->message);
		} else if (jsonin_key_is(&k, "dedup_key")) {
			field = out->dedup_key;
			size = sizeof(out->dedup_key);
		}
		if (!field) {
			if ((rc = jsonin_skip_value(&j)) < 0)
				break;
			continue;
		}
		if ((rc = jsonin_value(&j, &v)) < 0)
			break;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			if ((rc = jsonin_skip(&j)) < 0)
				break;
			continue;
		}
		take_string(&v, field, size);
	}
	if (rc < 0 || jsonin_finish(&j, NULL) < 0)
		rc = -EINVAL;
done:
	arena_release(&a);
	return rc;
}

/* ---------------------------------------------------------------- the channel */

static void pagerduty_close(void *state)
{
	struct pagerduty *p = state;

	if (!p)
		return;
	httppost_free(p->http);
	explicit_bzero(p->routing_key, sizeof(p->routing_key));
	mem_free(p->source);
	mem_free(p);
}

static int pagerduty_open(const struct channel_conf *c, void **state, struct err *e)
{
	const char *url = channel_conf_get(c, "url", NULL);
	const char *source = channel_conf_get(c, "source", NULL);
	char key[CHANNEL_SECRET_MAX], host[HTTPPOST_HOST_MAX], where[320];
	struct pagerduty *p = NULL;
	size_t n;
	int rc;

	*state = NULL;
	key[0] = '\0';
	if ((rc = httppost_check_keys(c, keys, e)) < 0)
		return rc;
	if (!url)
		url = PAGERDUTY_URL;
	if ((rc = httppost_url_check(c, "url", url, false, true, host, e)) < 0)
		return rc;
	if (source && (!*source || strlen(source) > SHORT_MAX)) {
		httppost_where(c, "source", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: expected the name of the system the events are "
			       "about (1 to %d bytes)", where, SHORT_MAX);
	}
	if ((rc = channel_secret_read(c, "routing_key_file", true, key, sizeof(key), e)) < 0)
		goto fail;
	n = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (key[i] <= ' ' || key[i] > '~')
			n = 0;
	if (n == 0 || n > ROUTING_KEY_MAX) {
		httppost_where(c, "routing_key_file", where, sizeof(where));
		rc = err_set(e, -EINVAL, "%s: expected one line holding the integration's routing "
			     "key (1 to %d printable characters, no spaces)", where, ROUTING_KEY_MAX);
		goto fail;
	}
	if (!(p = mem_calloc(1, sizeof(*p))) || !(p->source = mem_strdup(source ? source : "koban"))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(p->routing_key, key, n + 1);
	if ((rc = httppost_new(&p->http, c, url, false, e)) < 0)
		goto fail;
	explicit_bzero(key, sizeof(key));
	*state = p;
	return 0;
fail:
	explicit_bzero(key, sizeof(key));
	pagerduty_close(p);
	return rc;
}

static int pagerduty_send(void *state, const struct notice *n, struct channel_result *r,
			  struct err *e)
{
	struct pagerduty *p = state;
	struct buf body = BUF_INIT(PAGERDUTY_BODY_MAX);
	struct httppost_reply rep;
	struct pagerduty_reply pr;
	char detail[sizeof(pr.message) + sizeof(pr.error) + 4];
	int rc;

	memset(r, 0, sizeof(*r));
	httppost_reply_init(&rep);
	if ((rc = pagerduty_body(p->routing_key, p->source, n, time_now_ns(), &body)) < 0) {
		rc = httppost_result(p->http, r, e, rc == -ENOSPC ? CHANNEL_FAILED_PERM :
				     CHANNEL_FAILED_TEMP, rc, 0, "the event cannot be made (%s)",
				     rc == -ENOSPC ? "too large" : "out of memory");
		goto done;
	}
	rc = httppost_send(p->http, NULL, body.p, body.len, &rep, r, e);
	explicit_bzero(body.p, body.len); /* it holds the routing key */
	if (rc < 0)
		goto done;
	if (pagerduty_reply_read(rep.body.p, rep.body.len, &pr) < 0)
		memset(&pr, 0, sizeof(pr));
	if (rep.status == 202 || (rep.status >= 200 && rep.status <= 299 &&
				  strcmp(pr.status, "success") == 0)) {
		r->status = CHANNEL_SENT;
		char ours[PAGERDUTY_DEDUP_MAX + 1];
		const char *id = pr.dedup_key;

		if (!id[0]) {
			pagerduty_dedup_key(n, ours);
			id = ours;
		}
		snprintf(r->provider_id, sizeof(r->provider_id), "%.*s",
			 (int)httppost_cut(id, sizeof(r->provider_id) - 1), id);
		goto done;
	}
	snprintf(detail, sizeof(detail), "%s%s%s", pr.message[0] ? pr.message : pr.status,
		 pr.error[0] && (pr.message[0] || pr.status[0]) ? ": " : "", pr.error);
	rc = httppost_fail(p->http, &rep, detail, r, e);
	if (rep.status == 429 && r->retry_after_s == 0)
		r->retry_after_s = PAGERDUTY_RETRY_429;
done:
	httppost_reply_release(&rep);
	buf_release(&body);
	return rc;
}

const struct channel_ops pagerduty_ops = {
	.type = "pagerduty",
	.rate_per_s = 0,
	.open = pagerduty_open,
	.send = pagerduty_send,
	.close = pagerduty_close,
};
