/*
 * teams.c - the `teams` channel (teams.h): Adaptive Cards for Workflows webhooks and
 * MessageCards for the legacy connector, posted through notify/httppost.
 */
#include "notify/teams.h"
#include "core/compat.h"

#include <inttypes.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "notify/httppost.h"

#define TITLE_MAX 1000   /* bytes of a title or subject in a card */
#define SHORT_MAX 256    /* tenant, level name */
#define URL_MAX 2048

struct teams {
	struct httppost *http;
	enum teams_format format;
};

static const char *const keys[] = { "url", "url_file", "format", NULL };

/* The labels of a card, by the notice's language. */
struct labels {
	const char *tenant, *incident, *level, *open, *test;
};

static const struct labels labels_ja = { "テナント", "インシデント", "レベル",
					 "インシデントを開く", "テスト通知 / Test notice" };
static const struct labels labels_en = { "Tenant", "Incident", "Level", "Open incident",
					 "テスト通知 / Test notice" };

static const struct labels *labels_of(const struct notice *n)
{
	return n->lang && strcmp(n->lang, "ja") == 0 ? &labels_ja : &labels_en;
}

#define ACK_TITLE "確認 / Acknowledge"

/* "NAME (N)" of the notice's level into out. */
static void level_text(const struct notice *n, char *out, size_t size)
{
	static const char *const names[] = { "Informational", "Medium", "High", "Critical" };
	const char *name = n->level_name && *n->level_name ? n->level_name :
			   n->level >= 0 && n->level <= 3 ? names[n->level] : "level";

	snprintf(out, size, "%.*s (%d)", (int)httppost_cut(name, SHORT_MAX), name, n->level);
}

static const char *title_of(const struct notice *n)
{
	return n->title && *n->title ? n->title : n->subject ? n->subject : "";
}

static int add_fact(struct buf *out, bool first, const char *k_name, const char *k_value,
		    const char *name, const char *value)
{
	int rc = buf_adds(out, first ? "{" : ",{");

	rc = err_first(rc, httppost_json_field(out, true, k_name, name, SHORT_MAX));
	rc = err_first(rc, httppost_json_field(out, false, k_value, value, SHORT_MAX));
	return err_first(rc, buf_addch(out, '}'));
}

static int facts(struct buf *out, const struct notice *n, const char *k_name,
		 const char *k_value)
{
	const struct labels *l = labels_of(n);
	char incident[32], level[SHORT_MAX + 16];
	int rc;

	snprintf(incident, sizeof(incident), "#%" PRId64, n->incident);
	level_text(n, level, sizeof(level));
	rc = add_fact(out, true, k_name, k_value, l->tenant, n->tenant ? n->tenant : "");
	rc = err_first(rc, add_fact(out, false, k_name, k_value, l->incident, incident));
	return err_first(rc, add_fact(out, false, k_name, k_value, l->level, level));
}

static const char *color_of(int level)
{
	return level >= 3 ? "Attention" : level == 2 ? "Warning" : level == 1 ? "Accent" :
	       "Default";
}

static int adaptive(const struct notice *n, struct buf *out, size_t text_max)
{
	const struct labels *l = labels_of(n);
	char level[SHORT_MAX + 16];
	bool action = false;
	int rc;

	level_text(n, level, sizeof(level));
	rc = buf_adds(out, "{\"type\":\"message\",\"attachments\":[{\"contentType\":"
		      "\"application/vnd.microsoft.card.adaptive\",\"contentUrl\":null,"
		      "\"content\":{\"$schema\":\"http://adaptivecards.io/schemas/adaptive-card.json\","
		      "\"type\":\"AdaptiveCard\",\"version\":\"1.4\",\"msteams\":{\"width\":\"Full\"},"
		      "\"body\":[");
	if (n->test) {
		rc = err_first(rc, buf_adds(out, "{\"type\":\"TextBlock\","));
		rc = err_first(rc, httppost_json_field(out, true, "text", l->test, SHORT_MAX));
		rc = err_first(rc, buf_adds(out, ",\"weight\":\"Bolder\",\"color\":\"Accent\","
					    "\"wrap\":true},"));
	}
	rc = err_first(rc, buf_adds(out, "{\"type\":\"TextBlock\","));
	rc = err_first(rc, httppost_json_field(out, true, "text", level, sizeof(level)));
	rc = err_first(rc, buf_addf(out, ",\"weight\":\"Bolder\",\"color\":\"%s\",\"wrap\":true},",
				    color_of(n->level)));
	rc = err_first(rc, buf_adds(out, "{\"type\":\"TextBlock\","));
	rc = err_first(rc, httppost_json_field(out, true, "text", title_of(n), TITLE_MAX));
	rc = err_first(rc, buf_adds(out, ",\"size\":\"Large\",\"weight\":\"Bolder\",\"wrap\":true},"
				    "{\"type\":\"FactSet\",\"facts\":["));
	rc = err_first(rc, facts(out, n, "title", "value"));
	rc = err_first(rc, buf_adds(out, "]}"));
	if (n->text && *n->text) {
		rc = err_first(rc, buf_adds(out, ",{\"type\":\"TextBlock\","));
		rc = err_first(rc, httppost_json_field(out, true, "text", n->text, text_max));
		rc = err_first(rc, buf_adds(out, ",\"wrap\":true}"));
	}
	rc = err_first(rc, buf_adds(out, "]"));
	if (n->incident_url || n->ack_url)
		rc = err_first(rc, buf_adds(out, ",\"actions\":["));
	if (n->incident_url) {
		rc = err_first(rc, buf_adds(out, "{\"type\":\"Action.OpenUrl\","));
		rc = err_first(rc, httppost_json_field(out, true, "title", l->open, SHORT_MAX));
		rc = err_first(rc, httppost_json_field(out, false, "url", n->incident_url, URL_MAX));
		rc = err_first(rc, buf_addch(out, '}'));
		action = true;
	}
	if (n->ack_url) {
		rc = err_first(rc, buf_adds(out, action ? ",{\"type\":\"Action.OpenUrl\"," :
					    "{\"type\":\"Action.OpenUrl\","));
		rc = err_first(rc, httppost_json_field(out, true, "title", ACK_TITLE, SHORT_MAX));
		rc = err_first(rc, httppost_json_field(out, false, "url", n->ack_url, URL_MAX));
		rc = err_first(rc, buf_adds(out, ",\"style\":\"positive\"}"));
	}
	if (n->incident_url || n->ack_url)
		rc = err_first(rc, buf_adds(out, "]"));
	return err_first(rc, buf_adds(out, "}}]}"));
}

static int open_uri(struct buf *out, bool first, const char *name, const char *uri)
{
	int rc = buf_adds(out, first ? "{\"@type\":\"OpenUri\"," : ",{\"@type\":\"OpenUri\",");

	rc = err_first(rc, httppost_json_field(out, true, "name", name, SHORT_MAX));
	rc = err_first(rc, buf_adds(out, ",\"targets\":[{\"os\":\"default\","));
	rc = err_first(rc, httppost_json_field(out, true, "uri", uri, URL_MAX));
	return err_first(rc, buf_adds(out, "}]}"));
}

static int legacy(const struct notice *n, struct buf *out, size_t text_max)
{
	static const char *const colors[] = { "808080", "FFC000", "FF8C00", "D70000" };
	const struct labels *l = labels_of(n);
	const char *summary = n->subject && *n->subject ? n->subject : title_of(n);
	char level[SHORT_MAX + 16];
	int rc;

	level_text(n, level, sizeof(level));
	rc = buf_addf(out, "{\"@type\":\"MessageCard\",\"@context\":\"http://schema.org/extensions\","
		      "\"themeColor\":\"%s\",", colors[n->level >= 0 && n->level <= 3 ? n->level : 0]);
	rc = err_first(rc, httppost_json_field(out, true, "summary", *summary ? summary : level,
					       TITLE_MAX));
	rc = err_first(rc, httppost_json_field(out, false, "title", title_of(n), TITLE_MAX));
	rc = err_first(rc, buf_adds(out, ",\"sections\":[{"));
	rc = err_first(rc, httppost_json_field(out, true, "activityTitle", level, sizeof(level)));
	if (n->test)
		rc = err_first(rc, httppost_json_field(out, false, "activitySubtitle", l->test,
						       SHORT_MAX));
	rc = err_first(rc, buf_adds(out, ",\"facts\":["));
	rc = err_first(rc, facts(out, n, "name", "value"));
	rc = err_first(rc, buf_adds(out, "]"));
	if (n->text && *n->text)
		rc = err_first(rc, httppost_json_field(out, false, "text", n->text, text_max));
	rc = err_first(rc, buf_adds(out, ",\"markdown\":false}]"));
	if (n->incident_url || n->ack_url) {
		rc = err_first(rc, buf_adds(out, ",\"potentialAction\":["));
		if (n->incident_url)
			rc = err_first(rc, open_uri(out, true, l->open, n->incident_url));
		if (n->ack_url)
			rc = err_first(rc, open_uri(out, !n->incident_url, ACK_TITLE, n->ack_url));
		rc = err_first(rc, buf_adds(out, "]"));
	}
	return err_first(rc, buf_adds(out, "}"));
}

int teams_body(enum teams_format f, const struct notice *n, struct buf *out)
{
	size_t start = out->len;
	int rc;

	/* escapes can make a text up to 6 times longer in JSON: cut it shorter until it fits */
	for (size_t max = TEAMS_TEXT_MAX;; max /= 4) {
		rc = f == TEAMS_LEGACY ? legacy(n, out, max) : adaptive(n, out, max);
		if (rc == 0 && out->len - start <= TEAMS_MESSAGE_MAX)
			return 0;
		buf_truncate(out, start);
		if (rc == -ENOMEM)
			return rc;
		if (max < 64)
			return -ENOSPC;
	}
}

/* ---------------------------------------------------------------- the channel */

static void teams_close(void *state)
{
	struct teams *t = state;

	if (!t)
		return;
	httppost_free(t->http);
	mem_free(t);
}

static int teams_open(const struct channel_conf *c, void **state, struct err *e)
{
	const char *url = channel_conf_get(c, "url", NULL);
	const char *file = channel_conf_get(c, "url_file", NULL);
	const char *format = channel_conf_get(c, "format", NULL);
	char secret[CHANNEL_SECRET_MAX], host[HTTPPOST_HOST_MAX], where[320];
	struct teams *t = NULL;
	enum teams_format f = TEAMS_ADAPTIVE;
	int rc;

	*state = NULL;
	secret[0] = '\0';
	if ((rc = httppost_check_keys(c, keys, e)) < 0)
		return rc;
	if (format && strcmp(format, "legacy") == 0) {
		f = TEAMS_LEGACY;
	} else if (format && strcmp(format, "adaptive") != 0) {
		httppost_where(c, "format", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: expected adaptive (a Workflows webhook) or legacy "
			       "(an Office 365 connector), not \"%.40s\"", where, format);
	}
	if (!url == !file) {
		httppost_where(c, url ? "url" : "url_file", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: expected either url_file (a file of mode 0600 that "
			       "holds the webhook URL) or url (a URL without a query), %s", where,
			       url ? "not both" : "and neither is given");
	}
	if (url && f == TEAMS_LEGACY) {
		httppost_where(c, "url", where, sizeof(where));
		return err_set(e, -EINVAL, "%s: a connector's URL is its credential (the path holds "
			       "its key): put it into a file of mode 0600 named by url_file", where);
	}
	if (file) {
		if ((rc = channel_secret_read(c, "url_file", true, secret, sizeof(secret), e)) < 0)
			goto fail;
		rc = httppost_url_check(c, "url_file", secret, true, true, host, e);
	} else {
		rc = httppost_url_check(c, "url", url, false, false, host, e);
	}
	if (rc < 0)
		goto fail;
	if (!(t = mem_calloc(1, sizeof(*t)))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	t->format = f;
	if ((rc = httppost_new(&t->http, c, file ? secret : url, file != NULL, e)) < 0)
		goto fail;
	explicit_bzero(secret, sizeof(secret));
	*state = t;
	return 0;
fail:
	explicit_bzero(secret, sizeof(secret));
	teams_close(t);
	return rc;
}

static int teams_send(void *state, const struct notice *n, struct channel_result *r,
		      struct err *e)
{
	struct teams *t = state;
	struct buf body = BUF_INIT(TEAMS_MESSAGE_MAX + 1024);
	struct httppost_reply rep;
	int rc;

	memset(r, 0, sizeof(*r));
	httppost_reply_init(&rep);
	if ((rc = teams_body(t->format, n, &body)) < 0) {
		rc = httppost_result(t->http, r, e, rc == -ENOSPC ? CHANNEL_FAILED_PERM :
				     CHANNEL_FAILED_TEMP, rc, 0, "%s", rc == -ENOSPC ?
				     "the message is larger than Teams takes (28 KB)" :
				     "out of memory");
		goto done;
	}
	if ((rc = httppost_send(t->http, NULL, body.p, body.len, &rep, r, e)) < 0)
		goto done;
	if (rep.status == 200 || rep.status == 202) {
		char text[160];

		httppost_text(rep.body.p, rep.body.len, text, sizeof(text));
		if (t->format == TEAMS_ADAPTIVE || strcmp(text, "1") == 0) {
			r->status = CHANNEL_SENT;
			goto done;
		}
		/* the connector answers 200 with its errors in the body, throttling too */
		if (strstr(text, "429"))
			rc = httppost_result(t->http, r, e, CHANNEL_FAILED_TEMP, -EAGAIN,
					     rep.retry_after_s, "%s answered %ld: %s",
					     httppost_host(t->http), rep.status, text);
		else
			rc = httppost_result(t->http, r, e, CHANNEL_FAILED_PERM, -EPROTO, 0,
					     "%s answered %ld: %s", httppost_host(t->http),
					     rep.status, text[0] ? text : "an empty body, not 1");
		goto done;
	}
	rc = httppost_fail(t->http, &rep, NULL, r, e);
done:
	httppost_reply_release(&rep);
	buf_release(&body);
	return rc;
}

const struct channel_ops teams_ops = {
	.type = "teams",
	.rate_per_s = 4,
	.open = teams_open,
	.send = teams_send,
	.close = teams_close,
};
