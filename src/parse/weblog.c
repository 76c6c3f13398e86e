/*
 * weblog.c - NCSA combined/common access logs: up to four leading tokens, the bracketed
 * time, then quoted and bare fields.
 */
#include "parse/weblog.h"
#include "core/compat.h"

#include <pthread.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/logtext.h"

#define STAMP_LEN 28 /* "[25/Oct/2016:14:49:33 +0200]" */

enum { F_REQUEST, F_XFF, F_COUNT };

static const struct logtext_field field_defs[F_COUNT] = {
	[F_REQUEST] = { "weblog.request", FT_STR },
	[F_XFF] = { "weblog.x_forwarded_for", FT_STR },
};
static int fields[F_COUNT];
static int fields_rc;
static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

static void fields_init(void)
{
	fields_rc = logtext_intern(field_defs, fields, F_COUNT);
}

/* "[dd/Mon/yyyy:hh:mm:ss +zzzz]" at p into ns; false when it is not one. */
static bool read_stamp(const char *p, size_t len, int64_t *ns)
{
	struct civil_time t = { 0 };
	int oh, om;

	if (len < STAMP_LEN || p[0] != '[' || p[3] != '/' || p[7] != '/' || p[12] != ':' ||
	    p[15] != ':' || p[18] != ':' || p[21] != ' ' || (p[22] != '+' && p[22] != '-') ||
	    p[27] != ']' || !logtext_digits(p + 1, 2, &t.day) || !(t.month = logtext_month(p + 4)) ||
	    !logtext_digits(p + 8, 4, &t.year) || !logtext_digits(p + 13, 2, &t.hour) ||
	    !logtext_digits(p + 16, 2, &t.min) || !logtext_digits(p + 19, 2, &t.sec) ||
	    !logtext_digits(p + 23, 2, &oh) || !logtext_digits(p + 25, 2, &om))
		return false;
	if (t.year < 1678 || t.year > 2261 || t.day < 1 ||
	    t.day > time_days_in_month(t.year, t.month) || t.hour > 23 || t.min > 59 ||
	    t.sec > 60 || oh > 23 || om > 59)
		return false;
	*ns = time_from_civil_utc(&t) - (p[22] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60) *
					       NS_PER_SEC;
	return true;
}

static bool weblog_at(const char *p, size_t len)
{
	int64_t ns;

	return read_stamp(p, len, &ns) && len > STAMP_LEN + 1 && p[STAMP_LEN] == ' ' &&
	       p[STAMP_LEN + 1] == '"';
}

bool weblog_sniff(const char *msg, size_t len)
{
	return logtext_sniff(msg, len, '[', weblog_at);
}

/*
 * A double-quoted field at c (after spaces): its text without the quotes, unescaped into
 * the arena when it has backslash escapes (\" and \\; others are kept as written).
 * -EINVAL when there is none or it does not end.
 */
static int quoted(struct event *ev, struct logtext_cur *c, struct logtext_span *out)
{
	const char *s;
	bool escaped = false;
	char *copy;
	size_t n = 0;

	if (!logtext_skip_spaces(c) || *c->p != '"')
		return -EINVAL;
	s = ++c->p;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end) {
			escaped = true;
			c->p++;
		}
		c->p++;
	}
	if (c->p >= c->end) {
		c->p = s - 1; /* errors point at the opening quote */
		return -EINVAL;
	}
	out->p = s;
	out->len = (size_t)(c->p++ - s);
	if (!escaped || !out->len)
		return 0;
	if (!(copy = arena_alloc(ev->arena, out->len)))
		return -ENOMEM;
	for (size_t i = 0; i < out->len; i++) {
		if (s[i] == '\\' && i + 1 < out->len && (s[i + 1] == '"' || s[i + 1] == '\\'))
			i++;
		copy[n++] = s[i];
	}
	out->p = copy;
	out->len = n;
	return 0;
}

/* "METHOD TARGET HTTP/x.y" into http.* and url.*; anything else into weblog.request. */
static int set_request(struct event *ev, struct logtext_span r, struct err *e)
{
	struct logtext_cur c;
	struct logtext_span method, target, proto, extra;
	int rc;

	logtext_cur_init(&c, r.p, r.len);
	if (!logtext_token(&c, &method) || !logtext_token(&c, &target) ||
	    !logtext_token(&c, &proto) || logtext_token(&c, &extra) || proto.len < 6 ||
	    memcmp(proto.p, "HTTP/", 5)) {
		LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_REQUEST], r));
		return 0;
	}
	LOGTEXT_TRY(event_set_str(ev, FIELD_HTTP_REQUEST_METHOD, method.p, method.len));
	LOGTEXT_TRY(logtext_set_url(ev, target));
	LOGTEXT_TRY(event_set_str(ev, FIELD_HTTP_VERSION, proto.p + 5, proto.len - 5));
	return 0;
}

/* "VHOST" or "VHOST:PORT" of the vhost variants: the server that answered. */
static int set_vhost(struct event *ev, struct logtext_span v, struct err *e)
{
	const char *colon = memrchr(v.p, ':', v.len);
	struct logtext_span host = v, port;
	int64_t n;
	int rc;

	if (colon && !memchr(v.p, ']', v.len) && memchr(v.p, ':', v.len) != colon)
		colon = NULL; /* a bare IPv6 address */
	if (colon) {
		port = (struct logtext_span){ colon + 1, (size_t)(v.p + v.len - colon - 1) };
		if (logtext_uint(port, &n) && field_int_valid(FIELD_DESTINATION_PORT, n)) {
			host.len = (size_t)(colon - v.p);
			LOGTEXT_TRY(event_set_int(ev, FIELD_DESTINATION_PORT, n));
		}
	}
	LOGTEXT_TRY(logtext_set_end(ev, &logtext_destination, host));
	return 0;
}

static int fixed(struct event *ev, int64_t status, struct err *e)
{
	int rc;

	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_MODULE, "weblog"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_DATASET, "weblog.access"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_CATEGORY, "web"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_TYPE, "access"));
	if (status > 0)
		LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_OUTCOME,
					    status >= 400 ? "failure" : "success"));
	return 0;
}

static int bad(struct err *e, const char *msg, const struct logtext_cur *c, const char *what)
{
	return err_set(e, -EINVAL, "offset %zu: expected %s", (size_t)(c->p - msg), what);
}

static int body(struct event *ev, const char *msg, struct logtext_span pl,
		const struct decode_opts *o, struct err *e)
{
	struct logtext_cur c = { msg, pl.p, pl.p + pl.len };
	struct logtext_span lead[5], req, ref = { NULL, 0 }, agent = { NULL, 0 }, status, bytes;
	struct logtext_span xff = { NULL, 0 };
	size_t n = 0;
	int64_t ts, st = 0, nb;
	int rc;

	if (fields_rc < 0)
		return err_set(e, fields_rc, "cannot register the weblog.* fields");
	/* up to the time ("[dd/"; a vhost may be "[v6]:port") */
	while (logtext_skip_spaces(&c) && n < 5 &&
	       !(*c.p == '[' && c.end - c.p > 3 && c.p[3] == '/'))
		logtext_token(&c, &lead[n++]);
	if (n < 3 || n > 4)
		return bad(e, msg, &c, "[VHOST] CLIENT IDENT USER before the [time]");
	if (!read_stamp(c.p, (size_t)(c.end - c.p), &ts))
		return bad(e, msg, &c, "a time like [25/Oct/2016:14:49:33 +0200]");
	c.p += STAMP_LEN;
	if ((rc = quoted(ev, &c, &req)) == -ENOMEM)
		return logtext_set_failed(rc, e);
	if (rc < 0)
		return bad(e, msg, &c, "the request in double quotes");
	if (!logtext_token(&c, &status) || (!logtext_is(status, "-") &&
					    (!logtext_uint(status, &st) || st > 999)))
		return bad(e, msg, &c, "the status (a number or -) after the request");
	if (!logtext_token(&c, &bytes) ||
	    (!logtext_is(bytes, "-") && !logtext_uint(bytes, &nb)))
		return bad(e, msg, &c, "the response size (a number or -) after the status");
	if (logtext_skip_spaces(&c) &&
	    ((rc = quoted(ev, &c, &ref)) < 0 || (rc = quoted(ev, &c, &agent)) < 0)) {
		if (rc == -ENOMEM)
			return logtext_set_failed(rc, e);
		return bad(e, msg, &c, "\"REFERER\" \"USER-AGENT\" after the size");
	}
	/* nginx's "main" format ends with "$http_x_forwarded_for"; other extras are ignored */
	if (agent.p && logtext_skip_spaces(&c) && *c.p == '"' &&
	    (rc = quoted(ev, &c, &xff)) == -ENOMEM)
		return logtext_set_failed(rc, e);
	if (n == 4 && (rc = set_vhost(ev, lead[0], e)) < 0)
		return rc;
	LOGTEXT_TRY(event_set_time(ev, FIELD_TIMESTAMP, ts));
	LOGTEXT_TRY(logtext_set_end(ev, &logtext_source, lead[n - 3]));
	LOGTEXT_TRY(logtext_set_user(ev, lead[n - 1], false));
	if ((rc = set_request(ev, req, e)) < 0)
		return rc;
	if (st)
		LOGTEXT_TRY(event_set_int(ev, FIELD_HTTP_RESPONSE_STATUS_CODE, st));
	if (!logtext_is(bytes, "-"))
		LOGTEXT_TRY(event_set_int(ev, FIELD_HTTP_RESPONSE_BODY_BYTES, nb));
	LOGTEXT_TRY(logtext_set(ev, FIELD_HTTP_REQUEST_REFERRER, ref));
	LOGTEXT_TRY(logtext_set(ev, FIELD_USER_AGENT_ORIGINAL, agent));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_XFF], xff));
	return fixed(ev, st, e);
}

int weblog_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		  struct err *e)
{
	pthread_once(&fields_once, fields_init);
	return logtext_decode(ev, msg, len, o, body, e);
}
