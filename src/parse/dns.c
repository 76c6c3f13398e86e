/*
 * dns.c - BIND and Unbound query logs: a few prefixes that depend on the server's logging
 * options, then the client and the question (and, for Unbound replies, the answer's code,
 * time, cache flag and size).
 */
#include "parse/dns.h"
#include "core/compat.h"

#include <pthread.h>

#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "parse/logtext.h"

enum { F_BIND_VIEW, F_BIND_FLAGS, F_BIND_CATEGORY, F_UNBOUND_CACHE, F_UNBOUND_SIZE, F_COUNT };

static const struct logtext_field field_defs[F_COUNT] = {
	[F_BIND_VIEW] = { "bind.view", FT_STR },
	[F_BIND_FLAGS] = { "bind.flags", FT_STR },
	[F_BIND_CATEGORY] = { "bind.category", FT_STR },
	[F_UNBOUND_CACHE] = { "unbound.from_cache", FT_BOOL },
	[F_UNBOUND_SIZE] = { "unbound.response_size", FT_INT },
};
static int fields[F_COUNT];
static int fields_rc;
static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

static void fields_init(void)
{
	fields_rc = logtext_intern(field_defs, fields, F_COUNT);
}

static int fields_ready(struct err *e)
{
	pthread_once(&fields_once, fields_init);
	return fields_rc < 0 ? err_set(e, fields_rc, "cannot register the DNS vendor fields") : 0;
}

/* A token that ends in ':' ("queries:", "info:"), without the colon; false otherwise. */
static bool tag_token(struct logtext_cur *c, struct logtext_span *tag)
{
	struct logtext_cur save = *c;

	if (logtext_token(c, tag) && tag->len > 1 && tag->p[tag->len - 1] == ':') {
		tag->len--;
		return true;
	}
	*c = save;
	return false;
}

/* dataset, module and the categories of a query or answer event. */
static int set_kind(struct event *ev, const char *module, const char *dataset, bool dns,
		    struct err *e)
{
	int rc;

	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_MODULE, module));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_DATASET, dataset));
	if (!dns)
		return 0;
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_CATEGORY, "network"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_TYPE, "protocol"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_NETWORK_PROTOCOL, "dns"));
	return 0;
}

/* dns.question.* (the name without its final dot, as ECS writes names). */
static int set_question(struct event *ev, struct logtext_span name, struct logtext_span cls,
			struct logtext_span type, struct err *e)
{
	int rc;

	if (name.len > 1 && name.p[name.len - 1] == '.')
		name.len--;
	LOGTEXT_TRY(event_set_str(ev, FIELD_DNS_QUESTION_NAME, name.p, name.len));
	LOGTEXT_TRY(event_set_str(ev, FIELD_DNS_QUESTION_CLASS, cls.p, cls.len));
	LOGTEXT_TRY(event_set_str(ev, FIELD_DNS_QUESTION_TYPE, type.p, type.len));
	return 0;
}

/* A line that is not a query: its level and text, as an ordinary event. */
static int set_other(struct event *ev, struct logtext_span level, const struct logtext_cur *c,
		     struct err *e)
{
	struct logtext_cur rest = *c;
	int rc;

	LOGTEXT_TRY(logtext_set(ev, FIELD_LOG_LEVEL, level));
	if (logtext_skip_spaces(&rest))
		LOGTEXT_TRY(event_set_str(ev, FIELD_MESSAGE, rest.p, (size_t)(rest.end - rest.p)));
	return 0;
}

static bool dns_class(struct logtext_span s)
{
	return logtext_is(s, "IN") || logtext_is(s, "CH") || logtext_is(s, "HS") ||
	       logtext_is(s, "ANY") || logtext_is(s, "NONE") ||
	       (s.len > 5 && !memcmp(s.p, "CLASS", 5));
}

/* ---- BIND ---- */

static bool bind_at(const char *p, size_t len)
{
	return len > 7 && !memcmp(p, "client ", 7) && memmem(p, MIN(len, 600), " query: ", 8);
}

bool dns_bind_sniff(const char *msg, size_t len)
{
	return logtext_sniff(msg, len, 'c', bind_at);
}

/* "30-Nov-2026 10:00:00[.123] " (print-time) at c, in the source's zone. */
static bool bind_stamp(struct logtext_cur *c, const struct decode_opts *o, int64_t *ns)
{
	const char *p = c->p;
	size_t len = (size_t)(c->end - c->p), used = 20;
	struct civil_time t = { 0 };
	int ms = 0;

	if (len < 20 || p[2] != '-' || p[6] != '-' || p[11] != ' ' || p[14] != ':' ||
	    p[17] != ':' || !logtext_digits(p, 2, &t.day) || !(t.month = logtext_month(p + 3)) ||
	    !logtext_digits(p + 7, 4, &t.year) || !logtext_digits(p + 12, 2, &t.hour) ||
	    !logtext_digits(p + 15, 2, &t.min) || !logtext_digits(p + 18, 2, &t.sec) ||
	    t.year < 1678 || t.year > 2261 || t.day < 1 ||
	    t.day > time_days_in_month(t.year, t.month) || t.hour > 23 || t.min > 59 || t.sec > 59)
		return false;
	if (len >= 24 && p[20] == '.' && logtext_digits(p + 21, 3, &ms))
		used = 24;
	if (used < len && p[used] != ' ')
		return false;
	t.nsec = ms * 1000000L;
	*ns = tz_local_to_utc(o->tz ? o->tz : tz_local(), &t);
	c->p += used;
	return true;
}

/* "+E(0)K", "-T", "+": bind.flags as written, RD/DO/CD and the transport. */
static int bind_flags(struct event *ev, struct logtext_span f, struct err *e)
{
	int rc;

	LOGTEXT_TRY(event_set_str(ev, (unsigned)fields[F_BIND_FLAGS], f.p, f.len));
	if (f.p[0] == '+')
		LOGTEXT_TRY(event_add_str(ev, FIELD_DNS_HEADER_FLAGS, "RD", 2));
	if (memchr(f.p, 'C', f.len))
		LOGTEXT_TRY(event_add_str(ev, FIELD_DNS_HEADER_FLAGS, "CD", 2));
	if (memchr(f.p, 'D', f.len))
		LOGTEXT_TRY(event_add_str(ev, FIELD_DNS_HEADER_FLAGS, "DO", 2));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_NETWORK_TRANSPORT,
				    memchr(f.p, 'T', f.len) ? "tcp" : "udp"));
	return 0;
}

/* "IP#PORT" (the colon after it, when no "(name)" follows, already cut). */
static int bind_client(struct event *ev, struct logtext_span t, struct err *e)
{
	const char *hash = memrchr(t.p, '#', t.len);
	struct logtext_span ip = { t.p, hash ? (size_t)(hash - t.p) : t.len };
	struct logtext_span port = { hash ? hash + 1 : t.p, hash ? t.len - ip.len - 1 : 0 };
	int64_t n;
	int rc;

	if (!hash || !logtext_uint(port, &n) || !field_int_valid(FIELD_SOURCE_PORT, n) ||
	    (rc = logtext_set_ip(ev, FIELD_SOURCE_IP, ip)) == -EINVAL)
		return -EINVAL;
	if (rc < 0)
		return logtext_set_failed(rc, e);
	LOGTEXT_TRY(event_set_int(ev, FIELD_SOURCE_PORT, n));
	LOGTEXT_TRY(event_set_str(ev, FIELD_SOURCE_ADDRESS, ip.p, ip.len));
	return 0;
}

static int bind_query(struct event *ev, const char *msg, struct logtext_cur *c, struct err *e)
{
	struct logtext_span t, tag, name, cls, type, flags, server;
	const char *q;
	int rc;

	if (logtext_eat(c, "@0x") && !logtext_token(c, &t))
		return err_set(e, -EINVAL, "offset %zu: message ends after the client object",
			       (size_t)(c->p - msg));
	if (!logtext_token(c, &t) || t.len < 4)
		return err_set(e, -EINVAL, "offset %zu: expected the client's IP#PORT",
			       (size_t)(c->p - msg));
	if (t.p[t.len - 1] == ':')
		t.len--;
	if ((rc = bind_client(ev, t, e)) == -EINVAL)
		return err_set(e, rc, "offset %zu: '%.*s' is not the client's IP#PORT",
			       (size_t)(t.p - msg), (int)json_utf8_cut(t.p, t.len, 64), t.p);
	if (rc < 0)
		return rc;
	logtext_skip_spaces(c);
	if (c->p < c->end && *c->p == '(' && !tag_token(c, &tag))
		return err_set(e, -EINVAL, "offset %zu: expected '(NAME):' after the client",
			       (size_t)(c->p - msg));
	logtext_skip_spaces(c);
	q = c->p;
	if (logtext_eat(c, "view ")) {
		if (!tag_token(c, &tag))
			return err_set(e, -EINVAL, "offset %zu: expected 'view NAME:'",
				       (size_t)(q - msg));
		LOGTEXT_TRY(event_set_str(ev, (unsigned)fields[F_BIND_VIEW], tag.p, tag.len));
	}
	logtext_skip_spaces(c);
	q = c->p;
	if (!logtext_eat(c, "query: ") || !logtext_token(c, &name) || !logtext_token(c, &cls) ||
	    !logtext_token(c, &type) || !logtext_token(c, &flags) || !dns_class(cls) ||
	    (flags.p[0] != '+' && flags.p[0] != '-'))
		return err_set(e, -EINVAL, "offset %zu: expected 'query: NAME CLASS TYPE FLAGS'",
			       (size_t)(q - msg));
	if ((rc = set_question(ev, name, cls, type, e)) < 0 || (rc = bind_flags(ev, flags, e)) < 0)
		return rc;
	if (logtext_token(c, &server) && server.len > 2 && server.p[0] == '(' &&
	    server.p[server.len - 1] == ')') {
		server.p++;
		server.len -= 2;
		if ((rc = logtext_set_ip(ev, FIELD_DESTINATION_IP, server)) == 0)
			LOGTEXT_TRY(event_set_str(ev, FIELD_DESTINATION_ADDRESS, server.p,
						  server.len));
		else if (rc != -EINVAL)
			return logtext_set_failed(rc, e);
	}
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_DNS_TYPE, "query"));
	return set_kind(ev, "bind", "bind.query", true, e);
}

static int bind_body(struct event *ev, const char *msg, struct logtext_span pl,
		     const struct decode_opts *o, struct err *e)
{
	struct logtext_cur c = { msg, pl.p, pl.p + pl.len };
	struct logtext_span tag, level = { NULL, 0 }, category = { NULL, 0 };
	int64_t ns;
	int rc;

	if ((rc = fields_ready(e)) < 0)
		return rc;
	if (bind_stamp(&c, o, &ns)) {
		const char *zone = tz_name(o->tz ? o->tz : tz_local());

		LOGTEXT_TRY(event_set_time(ev, FIELD_TIMESTAMP, ns));
		LOGTEXT_TRY(event_set_str(ev, FIELD_EVENT_TIMEZONE, zone, strlen(zone)));
	}
	/* print-category and print-severity: "queries: info: " */
	for (int i = 0; i < 2 && tag_token(&c, &tag); i++) {
		if (i == 0 && !category.len)
			category = tag;
		else
			level = tag;
	}
	if (category.len && !level.len && (logtext_is(category, "info") ||
					    logtext_is(category, "debug") ||
					    logtext_is(category, "notice") ||
					    logtext_is(category, "warning") ||
					    logtext_is(category, "error") ||
					    logtext_is(category, "critical"))) {
		level = category;
		category.len = 0;
	}
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_BIND_CATEGORY], category));
	LOGTEXT_TRY(logtext_set(ev, FIELD_LOG_LEVEL, level));
	logtext_skip_spaces(&c);
	if (bind_at(c.p, (size_t)(c.end - c.p))) {
		c.p += 7; /* "client " */
		return bind_query(ev, msg, &c, e);
	}
	/* another category's line: kept as text */
	if ((rc = set_other(ev, (struct logtext_span){ NULL, 0 }, &c, e)) < 0)
		return rc;
	return set_kind(ev, "bind", "bind.log", false, e);
}

int dns_bind_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		    struct err *e)
{
	return logtext_decode(ev, msg, len, o, bind_body, e);
}

/* ---- Unbound ---- */

static bool unbound_at(const char *p, size_t len)
{
	return len > 8 && !memcmp(p, "unbound", 7) && (p[7] == '[' || p[7] == ':');
}

bool dns_unbound_sniff(const char *msg, size_t len)
{
	return logtext_sniff(msg, len, 'u', unbound_at);
}

/*
 * "CLIENT NAME. TYPE CLASS [RCODE SECONDS CACHED SIZE]": 0, or 1 when c holds no query (c
 * unchanged), or a negative code with e filled.
 */
static int unbound_query(struct event *ev, const char *msg, struct logtext_cur *c,
			 struct err *e)
{
	struct logtext_cur save = *c;
	struct logtext_span client, name, type, cls, rcode, secs, cached, size;
	int64_t dur, n, sz;
	int rc;

	if (!logtext_token(c, &client) || !logtext_token(c, &name) || !logtext_token(c, &type) ||
	    !logtext_token(c, &cls) || name.p[name.len - 1] != '.' || !dns_class(cls)) {
		*c = save;
		return 1;
	}
	if ((rc = logtext_set_ip(ev, FIELD_SOURCE_IP, client)) == -EINVAL) {
		*c = save;
		return 1;
	}
	if (rc < 0)
		return logtext_set_failed(rc, e);
	LOGTEXT_TRY(event_set_str(ev, FIELD_SOURCE_ADDRESS, client.p, client.len));
	if ((rc = set_question(ev, name, cls, type, e)) < 0)
		return rc;
	if (!logtext_token(c, &rcode)) {
		LOGTEXT_TRY(logtext_set_lit(ev, FIELD_DNS_TYPE, "query"));
		return set_kind(ev, "unbound", "unbound.query", true, e);
	}
	if (!logtext_token(c, &secs) || !logtext_token(c, &cached) || !logtext_token(c, &size) ||
	    !logtext_decimal_ns(secs, NS_PER_SEC, &dur) || !logtext_uint(cached, &n) || n > 1 ||
	    !logtext_uint(size, &sz))
		return err_set(e, -EINVAL, "offset %zu: expected RCODE SECONDS FROM_CACHE SIZE "
			       "after the question", (size_t)(rcode.p - msg));
	LOGTEXT_TRY(event_set_str(ev, FIELD_DNS_RESPONSE_CODE, rcode.p, rcode.len));
	LOGTEXT_TRY(event_set_int(ev, FIELD_EVENT_DURATION, dur));
	LOGTEXT_TRY(event_set_bool(ev, (unsigned)fields[F_UNBOUND_CACHE], n == 1));
	LOGTEXT_TRY(event_set_int(ev, (unsigned)fields[F_UNBOUND_SIZE], sz));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_DNS_TYPE, "answer"));
	return set_kind(ev, "unbound", "unbound.reply", true, e);
}

/* "unbound[pid:tid]" or "[pid:tid]": process.name and process.pid (when not from syslog). */
static int unbound_process(struct event *ev, struct logtext_span t, struct err *e)
{
	const char *open = memchr(t.p, '[', t.len);
	struct logtext_span pid;
	const char *colon;
	int64_t n;
	int rc;

	if (!open || t.p[t.len - 1] != ']')
		return 0;
	pid = (struct logtext_span){ open + 1, (size_t)(t.p + t.len - open - 2) };
	colon = memchr(pid.p, ':', pid.len);
	if (colon)
		pid.len = (size_t)(colon - pid.p);
	if (open > t.p && !event_get(ev, FIELD_PROCESS_NAME))
		LOGTEXT_TRY(event_set_str(ev, FIELD_PROCESS_NAME, t.p, (size_t)(open - t.p)));
	if (logtext_uint(pid, &n) && !event_get(ev, FIELD_PROCESS_PID))
		LOGTEXT_TRY(event_set_int(ev, FIELD_PROCESS_PID, n));
	return 0;
}

/* Unbound's syslog PROCID is "pid:tid": process.pid from its first part. */
static int syslog_pid(struct event *ev, struct err *e)
{
	const struct event_value *v = event_get(ev, FIELD_LOG_SYSLOG_PROCID);
	const char *colon;
	int64_t n;
	int rc;

	if (!v || !(colon = memchr(v->v.s, ':', v->len)) ||
	    !logtext_uint((struct logtext_span){ v->v.s, (size_t)(colon - v->v.s) }, &n))
		return 0;
	LOGTEXT_TRY(event_set_int(ev, FIELD_PROCESS_PID, n));
	return 0;
}

static int unbound_body(struct event *ev, const char *msg, struct logtext_span pl,
			const struct decode_opts *o, struct err *e)
{
	struct logtext_cur c = { msg, pl.p, pl.p + pl.len }, save;
	struct logtext_span t, level = { NULL, 0 };
	int64_t secs;
	int rc;

	if ((rc = fields_ready(e)) < 0)
		return rc;
	save = c;
	if (logtext_token(&c, &t) && t.len > 2 && t.p[0] == '[' && t.p[t.len - 1] == ']' &&
	    logtext_uint((struct logtext_span){ t.p + 1, t.len - 2 }, &secs) &&
	    secs < INT64_MAX / NS_PER_SEC)
		LOGTEXT_TRY(event_set_time(ev, FIELD_TIMESTAMP, secs * NS_PER_SEC));
	else
		c = save;
	save = c;
	if (logtext_token(&c, &t) && t.len > 2 && t.p[t.len - 1] == ']') {
		if ((rc = unbound_process(ev, t, e)) < 0)
			return rc;
		save = c;
	}
	c = save;
	if (!event_get(ev, FIELD_PROCESS_PID) && (rc = syslog_pid(ev, e)) < 0)
		return rc;
	if (!tag_token(&c, &level))
		return err_set(e, -EINVAL, "offset %zu: expected a level such as 'info:'",
			       (size_t)(c.p - msg));
	LOGTEXT_TRY(event_set_str(ev, FIELD_LOG_LEVEL, level.p, level.len));
	if (logtext_is(level, "info") || logtext_is(level, "query") ||
	    logtext_is(level, "reply")) {
		rc = unbound_query(ev, msg, &c, e);
		if (rc == 1 && !logtext_is(level, "info")) /* log-tag-queryreply lines are queries */
			return err_set(e, -EINVAL, "offset %zu: expected CLIENT NAME. TYPE CLASS",
				       (size_t)(c.p - msg));
		if (rc != 1)
			return rc;
	}
	if ((rc = set_other(ev, (struct logtext_span){ NULL, 0 }, &c, e)) < 0)
		return rc;
	return set_kind(ev, "unbound", "unbound.log", false, e);
}

int dns_unbound_decode(struct event *ev, const char *msg, size_t len,
		       const struct decode_opts *o, struct err *e)
{
	return logtext_decode(ev, msg, len, o, unbound_body, e);
}
