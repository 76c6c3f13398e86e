/*
 * squid.c - Squid's native access.log: ten space-separated tokens, the elapsed time
 * right-aligned (several spaces), "-" for what is unknown.
 */
#include "parse/squid.h"
#include "core/compat.h"

#include <pthread.h>

#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/logtext.h"

enum { F_RESULT, F_HIERARCHY, F_MIME, F_COUNT };

static const struct logtext_field field_defs[F_COUNT] = {
	[F_RESULT] = { "squid.result_code", FT_STR },
	[F_HIERARCHY] = { "squid.hierarchy_code", FT_STR },
	[F_MIME] = { "http.response.mime_type", FT_STR },
};
static int fields[F_COUNT];
static int fields_rc;
static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

static void fields_init(void)
{
	fields_rc = logtext_intern(field_defs, fields, F_COUNT);
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* n digits or more (at most max) at p[*i]; advances *i. */
static bool digits(const char *p, size_t len, size_t *i, size_t min, size_t max)
{
	size_t start = *i;

	while (*i < len && *i - start < max && is_digit(p[*i]))
		(*i)++;
	return *i - start >= min;
}

static bool spaces(const char *p, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && p[*i] == ' ')
		(*i)++;
	return *i > start;
}

/* "1157689312.049   5006 CLIENT TCP_MISS/200 " at p. */
static bool squid_at(const char *p, size_t len)
{
	size_t i = 0, code;

	if (!digits(p, len, &i, 9, 11) || i >= len || p[i++] != '.' ||
	    !digits(p, len, &i, 3, 3) || !spaces(p, len, &i) || !digits(p, len, &i, 1, 12) ||
	    !spaces(p, len, &i))
		return false;
	while (i < len && p[i] != ' ')
		i++; /* client */
	if (!spaces(p, len, &i))
		return false;
	code = i;
	while (i < len && ((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_'))
		i++;
	return i > code && i < len && p[i++] == '/' && digits(p, len, &i, 3, 3) && i < len &&
	       p[i] == ' ';
}

/*
 * logtext_sniff's question, asked from the dots: squid_at() needs a word of 9 to 11 digits
 * and a '.', and a line has fewer dots than word starts (a memchr each when walked), so the
 * word is found back from each dot within reach of the span.
 */
bool squid_sniff(const char *msg, size_t len)
{
	const char *span = msg + MIN(len, LOGTEXT_SNIFF_SPAN);
	const char *end = msg + MIN(len, LOGTEXT_SNIFF_SPAN + 11), *p = msg;

	for (; p < end && (p = memchr(p, '.', (size_t)(end - p))); p++) {
		const char *w = p;

		while (w > msg && p - w < 12 && is_digit(w[-1]))
			w--;
		if (p - w >= 9 && p - w <= 11 && w < span && (w == msg || w[-1] == ' ') &&
		    squid_at(w, len - (size_t)(w - msg)))
			return true;
	}
	return false;
}

/* "TCP_MISS/200": the result code and the HTTP status (000 when there was none). */
static int set_result(struct event *ev, struct logtext_span t, struct err *e)
{
	const char *slash = memchr(t.p, '/', t.len);
	struct logtext_span code = { t.p, slash ? (size_t)(slash - t.p) : 0 };
	struct logtext_span status = { slash ? slash + 1 : t.p, slash ? t.len - code.len - 1 : 0 };
	bool denied;
	int64_t st;
	int rc;

	if (!slash || !code.len || !logtext_uint(status, &st) || st > 999)
		return -EINVAL;
	denied = memmem(code.p, code.len, "DENIED", 6) != NULL;
	LOGTEXT_TRY(event_set_str(ev, (unsigned)fields[F_RESULT], code.p, code.len));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_TYPE, "access"));
	if (denied || st) /* status 000: no reply at all (an aborted or invalid request) */
		LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_TYPE, denied ? "denied" : "allowed"));
	if (st)
		LOGTEXT_TRY(event_set_int(ev, FIELD_HTTP_RESPONSE_STATUS_CODE, st));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_OUTCOME,
				    denied || st >= 400 ? "failure" : st ? "success" : "unknown"));
	return 0;
}

/* "DIRECT/175.16.199.61", "NONE/-", "FIRSTUP_PARENT/proxy.example": hierarchy and peer. */
static int set_peer(struct event *ev, struct logtext_span t, struct err *e)
{
	const char *slash = memchr(t.p, '/', t.len);
	struct logtext_span code = { t.p, slash ? (size_t)(slash - t.p) : t.len };
	int rc;

	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_HIERARCHY], code));
	if (slash)
		LOGTEXT_TRY(logtext_set_end(ev, &logtext_destination,
					    (struct logtext_span){ slash + 1,
								   t.len - code.len - 1 }));
	return 0;
}

static int fixed(struct event *ev, struct err *e)
{
	int rc;

	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_MODULE, "squid"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_DATASET, "squid.access"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_CATEGORY, "network"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_CATEGORY, "web"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_OBSERVER_VENDOR, "Squid"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_OBSERVER_PRODUCT, "Squid"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_OBSERVER_TYPE, "proxy"));
	return 0;
}

#define EXPECTED "(expected TIME.MS ELAPSED CLIENT RESULT/STATUS BYTES METHOD URL)"

static int body(struct event *ev, const char *msg, struct logtext_span pl,
		const struct decode_opts *o, struct err *e)
{
	struct logtext_cur c = { msg, pl.p, pl.p + pl.len };
	struct logtext_span t[7], user = { NULL, 0 }, peer = { NULL, 0 }, mime = { NULL, 0 };
	static const char *const names[7] = { "TIME", "ELAPSED", "CLIENT", "RESULT/STATUS",
					      "BYTES", "METHOD", "URL" };
	int64_t ts, elapsed, bytes;
	int rc;

	if (fields_rc < 0)
		return err_set(e, fields_rc, "cannot register the squid.* fields");
	for (size_t i = 0; i < 7; i++)
		if (!logtext_token(&c, &t[i]))
			return err_set(e, -EINVAL, "offset %zu: %s missing " EXPECTED,
				       logtext_off(&c), names[i]);
	if (logtext_token(&c, &user) && logtext_token(&c, &peer))
		logtext_token(&c, &mime); /* later tokens (a custom format's extras) are ignored */
	if (!logtext_decimal_ns(t[0], NS_PER_SEC, &ts))
		return err_set(e, -EINVAL, "offset %zu: TIME '%.*s' is not epoch seconds.millis",
			       (size_t)(t[0].p - msg), (int)json_utf8_cut(t[0].p, t[0].len, 40),
			       t[0].p);
	if (!logtext_decimal_ns(t[1], 1000000, &elapsed))
		return err_set(e, -EINVAL, "offset %zu: ELAPSED '%.*s' is not milliseconds",
			       (size_t)(t[1].p - msg), (int)json_utf8_cut(t[1].p, t[1].len, 40),
			       t[1].p);
	if (!logtext_uint(t[4], &bytes))
		return err_set(e, -EINVAL, "offset %zu: BYTES '%.*s' is not a number",
			       (size_t)(t[4].p - msg), (int)json_utf8_cut(t[4].p, t[4].len, 40),
			       t[4].p);
	if ((rc = set_result(ev, t[3], e)) == -EINVAL)
		return err_set(e, rc, "offset %zu: RESULT/STATUS '%.*s' is not CODE/NNN",
			       (size_t)(t[3].p - msg), (int)json_utf8_cut(t[3].p, t[3].len, 40),
			       t[3].p);
	if (rc < 0)
		return rc;
	LOGTEXT_TRY(event_set_time(ev, FIELD_TIMESTAMP, ts));
	LOGTEXT_TRY(event_set_int(ev, FIELD_EVENT_DURATION, elapsed));
	LOGTEXT_TRY(logtext_set_end(ev, &logtext_source, t[2]));
	LOGTEXT_TRY(event_set_int(ev, FIELD_HTTP_RESPONSE_BYTES, bytes));
	LOGTEXT_TRY(logtext_set(ev, FIELD_HTTP_REQUEST_METHOD, t[5]));
	LOGTEXT_TRY(logtext_set_url(ev, t[6]));
	LOGTEXT_TRY(logtext_set_user(ev, user, true));
	if (peer.len && (rc = set_peer(ev, peer, e)) < 0)
		return rc;
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_MIME], mime));
	return fixed(ev, e);
}

int squid_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 struct err *e)
{
	pthread_once(&fields_once, fields_init);
	return logtext_decode(ev, msg, len, o, body, e);
}
