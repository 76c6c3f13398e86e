#include "portal/api.h"
#include "core/compat.h"

#include <ctype.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "api"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/fileio.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "detect/rulepolicy.h"
#include "enrich/assets.h"
#include "soc/incident.h"
#include "notify/explain.h"
#include "notify/notify.h"
#include "soc/level.h"
#include "portal/ackpage.h"
#include "portal/httpguard.h"
#include "portal/ingest.h"
#include "respond/edl.h"
#include "soc/alert.h"
#include "soc/firstreport.h"
#include "store/agg.h"
#include "store/keys.h"
#include "store/meta.h"
#include "store/query.h"
#include "store/store.h"

#define API_TIMEOUT_S 120       /* a connection without traffic for this long is closed */
#define API_REQUEST_S 10        /* a request must be read within this (portal/httpguard.h) */
#define API_PEM_MAX (1u << 20)
#define API_LINE_MAX (1u << 26) /* one JSON line of the stream */
#define CONTENT_JSON "application/json"
#define CONTENT_NDJSON "application/x-ndjson"
#define BEARER "Bearer "
#define ALERTS_PATH "/api/v1/alerts"
#define ALERTS_LIMIT_DEFAULT 100
#define ALERTS_ANSWER_MAX ((size_t)64 << 20)
_Static_assert(META_ALERT_LIST_MAX == 10000, "the limit's message below says 10000");
#define RULES_PATH "/api/v1/rules/" /* policy, history: docs/api.md */
#define RULES_BODY_MAX (64u << 20)
#define RULES_HISTORY_DEFAULT 1000
#define RULES_HISTORY_MAX 100000
#define ASSETS_PATH "/api/v1/assets"
#define ASSETS_BODY_MAX (1u << 20)      /* a POST or PATCH body */
#define ASSETS_ANSWER_MAX ((size_t)256 << 20)
#define INCIDENTS_PATH "/api/v1/incidents"
#define NOTIFY_PATH "/api/v1/notify/"
#define NOTIFY_LOG_PATH "/api/v1/notify/log"
#define INCIDENTS_ANSWER_MAX ((size_t)256 << 20)
#define EDL_PATH "/edl/"           /* /edl/<tenant>/<list>.txt: respond/edl.h */
#define EDL_SUFFIX ".txt"
#define BASIC "Basic "
#define CONTENT_TEXT "text/plain; charset=utf-8"

/* What became of a request, for koban_api_requests_total{result}. */
enum api_result {
	API_OK, API_BAD_REQUEST, API_UNAUTHORIZED, API_FORBIDDEN, API_NOT_FOUND,
	API_METHOD, API_ERROR, API_TOO_LARGE, API_THROTTLED, API_NOT_MODIFIED, API_RESULTS
};

static const char *const result_names[API_RESULTS] = {
	"ok", "bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed",
	"error", "too_large", "throttled", "not_modified",
};

struct api {
	struct MHD_Daemon *daemon;
	struct httpguard *guard;
	struct api_ingest *ingest; /* POST /api/v1/ingest/{source}; NULL: not served */
	struct edl *edl;           /* GET /edl/<tenant>/<list>.txt; NULL: not served */
	struct ackpage *ack;       /* /ack/...: portal/ackpage.h; NULL: not served */
	char *data_dir;
	char *keys_master, *keys_signing; /* NULL: in DATA_DIR/keys */
	char *pem_cert, *pem_key;
	bool tls;
	char address[IPADDR_ENDPOINT_STRLEN];
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned searches;      /* search threads running */
	struct asset_body *bodies; /* POST/PATCH bodies being read (their con_cls), under lock */
	struct firstreport *reports; /* the first reports' templates (read-only) */
	const struct sla *sla;       /* api_config's */
	bool metrics;           /* registered */
	atomic_uint_fast64_t requests[API_RESULTS]; /* by enum api_result */
};

static void count(struct api *a, unsigned status)
{
	enum api_result r = status / 100 == 2		? API_OK
			    : status == MHD_HTTP_BAD_REQUEST ||
			      status == MHD_HTTP_CONFLICT	? API_BAD_REQUEST
			    : status == MHD_HTTP_UNAUTHORIZED	? API_UNAUTHORIZED
			    : status == MHD_HTTP_FORBIDDEN	? API_FORBIDDEN
			    : status == MHD_HTTP_NOT_FOUND	? API_NOT_FOUND
			    : status == MHD_HTTP_METHOD_NOT_ALLOWED ? API_METHOD
			    : status == MHD_HTTP_CONTENT_TOO_LARGE ? API_TOO_LARGE
			    : status == MHD_HTTP_TOO_MANY_REQUESTS ? API_THROTTLED
			    : status == MHD_HTTP_NOT_MODIFIED	? API_NOT_MODIFIED
								: API_ERROR;

	atomic_fetch_add_explicit(&a->requests[r], 1, memory_order_relaxed);
}

static int collect_requests(struct metrics_out *o, void *ctx)
{
	struct api *a = ctx;
	int rc = 0;

	for (unsigned i = 0; i < API_RESULTS && !rc; i++)
		rc = metrics_sample(o, atomic_load_explicit(&a->requests[i], memory_order_relaxed),
				    "result", result_names[i], NULL);
	return rc;
}

/* One search, run on its own thread into a pipe that the connection streams. */
struct search_job {
	struct api *api;
	FILE *out;              /* the pipe's write end */
	char *query;
	uint64_t tenant;
	int64_t from, to, now;
	uint64_t limit, shown;
	char who[96];
	struct buf line;
};

/* ---- responses ---- */

/* A JSON answer; allow: the methods of the endpoint (the Allow header of a 405). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const struct buf *b,
			       const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->p,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_JSON);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
					API_INGEST_RETRY_AFTER);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * A refused request: counted by its status (koban_api_requests_total), then answered
 * {"error": msg}. The connection's thread.
 */
static enum MHD_Result respond_error_allow(struct api *a, struct MHD_Connection *c,
					   unsigned status, const char *msg, const char *allow)
{
	struct buf b = BUF_INIT(4096);
	enum MHD_Result ret;

	count(a, status);
	if (buf_adds(&b, "{\"error\":") < 0 || json_add_string(&b, msg, strlen(msg)) < 0 ||
	    buf_adds(&b, "}\n") < 0) {
		buf_release(&b);
		return MHD_NO;
	}
	ret = respond(c, status, &b, allow);
	buf_release(&b);
	return ret;
}

/* The same for endpoints that allow GET only. */
static enum MHD_Result respond_error(struct api *a, struct MHD_Connection *c, unsigned status,
				     const char *msg)
{
	return respond_error_allow(a, c, status, msg, "GET");
}

/*
 * Queues r, made by the caller, as a 200 answer of the given Content-Type, counted as OK
 * before it is queued (a client that reads /metrics after its answer sees it counted).
 * r is let go: libmicrohttpd keeps it until sent. The connection's thread.
 */
static enum MHD_Result answer_ok(struct api *a, struct MHD_Connection *c, struct MHD_Response *r,
				 const char *type)
{
	enum MHD_Result ret;

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	count(a, MHD_HTTP_OK);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- the search thread ---- */

static int write_line(struct search_job *j)
{
	if (buf_addch(&j->line, '\n') < 0 ||
	    fwrite(j->line.p, 1, j->line.len, j->out) != j->line.len)
		return -EPIPE; /* the client went away: stop */
	return 0;
}

/* Room for one more result (-ECANCELED past the limit): j->line is emptied for it. */
static int job_take(struct search_job *j)
{
	if (j->shown == j->limit)
		return -ECANCELED;
	j->shown++;
	buf_reset(&j->line);
	return 0;
}

static int job_event(void *ctx, const struct event *ev)
{
	struct search_job *j = ctx;
	int rc;

	if ((rc = job_take(j)) < 0 || (rc = event_write_json(ev, &j->line)) < 0)
		return rc;
	return write_line(j);
}

static int job_row(void *ctx, const struct agg_row *row)
{
	struct search_job *j = ctx;
	int rc;

	if ((rc = job_take(j)) < 0 || (rc = agg_row_write_json(row, &j->line)) < 0)
		return rc;
	return write_line(j);
}

/* store_search.gone: the client left (libmicrohttpd closed the pipe's read end). */
static bool job_gone(void *ctx)
{
	const struct search_job *j = ctx;

	return fileio_reader_gone(fileno(j->out));
}

static void job_free(struct search_job *j)
{
	if (j->out)
		fclose(j->out);
	buf_release(&j->line);
	mem_free(j->query);
	mem_free(j);
}

static void *job_main(void *arg)
{
	struct search_job *j = arg;
	struct api *a = j->api;
	struct store_search s = {
		.tenant = j->tenant, .query = j->query, .query_len = strlen(j->query),
		.from = j->from, .to = j->to, .now = j->now, .who = j->who,
		.limit = j->limit == UINT64_MAX ? 0 : j->limit, .event_fn = job_event,
		.row_fn = job_row, .ctx = j, .gone = job_gone,
	};
	const struct keys_files files = { .master = a->keys_master, .signing = a->keys_signing };
	struct store *st = NULL;
	struct err e = ERR_INIT;
	sigset_t pipe_only;
	int rc;

	/* a client that goes away closes the pipe: EPIPE for this thread, not a signal */
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);
	if ((rc = store_open_keys(&st, a->data_dir, &files, false, &e)) == 0)
		rc = store_search(st, &s, NULL, &e);
	store_close(st);
	if (rc < 0 && rc != -EPIPE) {
		log_warn("search for %s: %s", j->who, e.msg);
		buf_reset(&j->line);
		if (buf_adds(&j->line, "{\"error\":") == 0 &&
		    json_add_string(&j->line, e.msg, strlen(e.msg)) == 0 &&
		    buf_addch(&j->line, '}') == 0)
			(void)write_line(j); /* the client may be gone: nothing more to do */
	}
	/* the slot first: job_free ends the response, and the client may search again at once */
	store_search_slot_give();
	job_free(j);
	pthread_mutex_lock(&a->lock);
	if (--a->searches == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* ---- the request ---- */

/*
 * A query parameter (NULL when absent); *bad when its decoded value holds a NUL byte
 * ("%00"), which C strings would silently cut: such a request is refused, never shortened.
 */
static const char *param(struct MHD_Connection *c, const char *key, bool *bad)
{
	const char *v = NULL;
	size_t len = 0;

	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v, &len) !=
	    MHD_YES)
		return NULL;
	if (v && strlen(v) != len)
		*bad = true;
	return v;
}

struct token_ref {
	bool found;
	char name[64];
	char tenant[64];        /* "" for a SOC token */
	int64_t tenant_id;
};

static void take_token(void *ctx, const struct meta_token *t)
{
	struct token_ref *r = ctx;

	r->found = true;
	snprintf(r->name, sizeof(r->name), "%s", t->name);
	snprintf(r->tenant, sizeof(r->tenant), "%s", t->tenant ? t->tenant : "");
	r->tenant_id = t->tenant_id;
}

static void take_tenant(void *ctx, const struct meta_tenant *t)
{
	*(int64_t *)ctx = t->id;
}

/*
 * The tenant the request may read: the token's own, or for a SOC token the one it names.
 * 0, or the HTTP status to answer with *why.
 */
static unsigned resolve_tenant(struct api *a, struct MHD_Connection *c, struct token_ref *tok,
			       int64_t *tenant, const char **why)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	bool bad = false;
	const char *want = param(c, "tenant", &bad);
	unsigned char hash[META_TOKEN_HASH_LEN];
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	unsigned status = 0;

	*why = "";
	if (bad) {
		*why = "tenant: a NUL byte in the value";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (!auth || strncmp(auth, BEARER, strlen(BEARER)) || !auth[strlen(BEARER)]) {
		*why = "an API token is required: Authorization: Bearer TOKEN";
		return MHD_HTTP_UNAUTHORIZED;
	}
	auth += strlen(BEARER);
	meta_token_hash(auth, strlen(auth), hash);
	if (meta_open(&m, a->data_dir, &e) < 0) {
		log_error("%s", e.msg);
		*why = "the metadata store is unavailable";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (meta_token_find(m, hash, take_token, tok, &e) < 0 || !tok->found) {
		*why = "unknown or revoked API token";
		status = e.code == -ENOENT ? MHD_HTTP_UNAUTHORIZED : MHD_HTTP_INTERNAL_SERVER_ERROR;
		goto out;
	}
	if (tok->tenant_id >= 0) {
		/* a tenant token reads its own tenant, whatever the request names */
		if (want && strcmp(want, tok->tenant)) {
			*why = "this token reads only its own tenant";
			status = MHD_HTTP_FORBIDDEN;
			goto out;
		}
		*tenant = tok->tenant_id;
		goto out;
	}
	if (!want || !*want) {
		*why = "a SOC token must name the tenant: tenant=NAME";
		status = MHD_HTTP_BAD_REQUEST;
		goto out;
	}
	*tenant = -1;
	if (meta_tenant_check(want, &e) < 0) {
		*why = "tenant: expected 1-63 of a-z 0-9 _ - starting with a letter or digit";
		status = MHD_HTTP_BAD_REQUEST;
	} else if (meta_tenant_get(m, want, take_tenant, tenant, &e) < 0 || *tenant < 0) {
		*why = "no such tenant";
		status = MHD_HTTP_NOT_FOUND;
	}
out:
	meta_close(m);
	return status;
}

/* A refused token (401, 403) is logged with its name, for whoever watches for probing. */
static void log_refusal(const char *what, unsigned status, const char *why,
			const struct token_ref *tok)
{
	if (status == MHD_HTTP_UNAUTHORIZED || status == MHD_HTTP_FORBIDDEN)
		log_info("API %s refused (%u): %s%s%s%s", what, status, why,
			 tok->found ? " (token " : "", tok->found ? tok->name : "",
			 tok->found ? ")" : "");
}

/* from, to, limit and q of the request into j; 0 or a 400 with *why (a query error: in qe). */
static unsigned search_params(struct MHD_Connection *c, struct search_job *j, const char **why,
			      struct err *qe)
{
	bool bad = false;
	const char *q = param(c, "q", &bad), *from = param(c, "from", &bad);
	const char *to = param(c, "to", &bad), *limit = param(c, "limit", &bad);
	char *end;

	j->now = time_now_ns();
	j->from = INT64_MIN;
	j->to = INT64_MAX;
	j->limit = UINT64_MAX;
	if (bad) {
		*why = "a NUL byte in a parameter's value";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (from && *from && time_parse(from, strlen(from), j->now, &j->from) < 0) {
		*why = "from: expected RFC 3339, a date or a relative time (-24h)";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (to && *to && time_parse_end(to, strlen(to), j->now, &j->to) < 0) {
		*why = "to: expected RFC 3339, a date or a relative time (-24h)";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (j->from > j->to) {
		*why = "from is later than to";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (limit && *limit) {
		errno = 0;
		j->limit = strtoull(limit, &end, 10);
		if (errno || *end || limit[0] == '-' || limit[0] == '+' || limit[0] == ' ') {
			*why = "limit: expected a number";
			return MHD_HTTP_BAD_REQUEST;
		}
	}
	if (!(j->query = mem_strdup(q ? q : ""))) {
		*why = "out of memory";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	/* a query error is answered with 400 before the stream begins */
	if (store_query_check(j->query, strlen(j->query), j->now, qe) < 0) {
		*why = qe->msg[0] ? qe->msg : "bad query";
		return MHD_HTTP_BAD_REQUEST;
	}
	return 0;
}

static enum MHD_Result handle_search(struct api *a, struct MHD_Connection *c)
{
	struct search_job *j = mem_calloc(1, sizeof(*j));
	struct token_ref tok = { 0 };
	struct err qe = ERR_INIT; /* a query's syntax error, answered as it is */
	struct MHD_Response *r;
	const char *why = "out of memory";
	int64_t tenant = -1;
	unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	int fds[2] = { -1, -1 };
	pthread_t t;
	int rc;

	if (!j)
		goto fail;
	buf_init(&j->line, API_LINE_MAX);
	j->api = a;
	if ((status = resolve_tenant(a, c, &tok, &tenant, &why)))
		goto fail;
	if ((status = search_params(c, j, &why, &qe)))
		goto fail;
	j->tenant = (uint64_t)tenant;
	if (!j->limit) { /* limit=0: nothing to send, so nothing to read */
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		if (!(r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)))
			goto fail;
		job_free(j);
		return answer_ok(a, c, r, CONTENT_NDJSON);
	}
	snprintf(j->who, sizeof(j->who), "token %s", tok.name);
	status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	why = "cannot start the search";
	if (pipe2(fds, O_CLOEXEC) < 0 || !(j->out = fdopen(fds[1], "w")))
		goto fail;
	fds[1] = -1; /* j->out owns it */
	if (!(r = MHD_create_response_from_pipe(fds[0])))
		goto fail;
	fds[0] = -1; /* the response owns it */
	if (!store_search_slot_take()) { /* answered with Retry-After */
		MHD_destroy_response(r);
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		why = STORE_SEARCHES_BUSY;
		goto fail;
	}
	pthread_mutex_lock(&a->lock);
	a->searches++;
	pthread_mutex_unlock(&a->lock);
	if ((rc = pthread_create(&t, NULL, job_main, j)) != 0) {
		store_search_slot_give();
		pthread_mutex_lock(&a->lock);
		a->searches--;
		pthread_mutex_unlock(&a->lock);
		MHD_destroy_response(r);
		log_error("no thread for a search: %s", strerror(rc));
		goto fail;
	}
	pthread_detach(t);
	return answer_ok(a, c, r, CONTENT_NDJSON);
fail:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (j)
		job_free(j);
	log_refusal("search", status, why, &tok);
	return respond_error(a, c, status, why);
}

/* ---- GET /api/v1/rules/policy and /history: the tenant's detection rule policy ---- */

struct rules_out {
	struct buf body;
	struct buf line;
	bool history;
	int rc;             /* the first error writing a line */
};

/* Appends the line just written (rc: how writing it went) to the body; keeps the first error. */
static void rules_line(struct rules_out *o, int rc)
{
	if (rc == 0)
		rc = buf_add(&o->body, o->line.p, o->line.len);
	if (rc == 0)
		rc = buf_addch(&o->body, '\n');
	if (rc < 0 && o->rc == 0)
		o->rc = rc;
	buf_reset(&o->line);
}

static void policy_line(void *ctx, const struct meta_rule_policy *p)
{
	struct rules_out *o = ctx;

	rules_line(o, rulepolicy_write_policy(p, &o->line));
}

static void history_line(void *ctx, const struct meta_rule_history *h)
{
	struct rules_out *o = ctx;

	rules_line(o, rulepolicy_write_history(h, &o->line));
}

/* rule and limit of a history request; 0 or a 400 with *why. */
static unsigned history_params(struct MHD_Connection *c, const char **rule, int64_t *limit,
			       const char **why)
{
	bool bad = false;
	const char *l = param(c, "limit", &bad);
	struct err e = ERR_INIT;
	char *end;

	*rule = param(c, "rule", &bad);
	*limit = RULES_HISTORY_DEFAULT;
	if (bad) {
		*why = "a NUL byte in a parameter's value";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (*rule && meta_rule_check(*rule, &e) < 0) {
		*why = "rule: expected 1-256 printable characters without spaces";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (l && *l) {
		errno = 0;
		*limit = strtoll(l, &end, 10);
		if (errno || *end || l[0] < '0' || l[0] > '9' || *limit < 1 ||
		    *limit > RULES_HISTORY_MAX) {
			*why = "limit: expected a number from 1 to 100000";
			return MHD_HTTP_BAD_REQUEST;
		}
	}
	return 0;
}

static enum MHD_Result handle_rules(struct api *a, struct MHD_Connection *c, const char *what)
{
	struct rules_out o = { BUF_INIT(RULES_BODY_MAX), BUF_INIT(RULES_BODY_MAX), false, 0 };
	struct token_ref tok = { 0 };
	const char *why = "the metadata store is unavailable", *tenant, *rule = NULL;
	struct MHD_Response *r;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	int64_t tid = -1, limit = 0;
	unsigned status;
	bool bad = false;
	int rc;

	o.history = !strcmp(what, "history");
	if (!o.history && strcmp(what, "policy")) {
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "no such endpoint");
	}
	if ((status = resolve_tenant(a, c, &tok, &tid, &why)) ||
	    (o.history && (status = history_params(c, &rule, &limit, &why))))
		goto fail;
	/* the token's own tenant, or the one a SOC token named (checked by resolve_tenant) */
	tenant = tok.tenant[0] ? tok.tenant : param(c, "tenant", &bad);
	status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	if ((rc = meta_open(&m, a->data_dir, &e)) == 0)
		rc = o.history ? meta_rule_history_list(m, tenant, rule, limit, history_line, &o, &e)
			       : meta_rule_policy_list(m, tenant, policy_line, &o, &e);
	meta_close(m);
	if (rc < 0 || o.rc < 0) {
		log_error("rules %s of tenant %s: %s", what, tenant,
			  rc < 0 ? e.msg : strerror(-o.rc));
		why = rc < 0 ? "cannot read the rule policy" : "the answer is too large";
		goto fail;
	}
	if (!(r = MHD_create_response_from_buffer(o.body.len, o.body.p, MHD_RESPMEM_MUST_COPY))) {
		why = "out of memory";
		goto fail;
	}
	buf_release(&o.body);
	buf_release(&o.line);
	return answer_ok(a, c, r, CONTENT_NDJSON);
fail:
	buf_release(&o.body);
	buf_release(&o.line);
	log_refusal("rules", status, why, &tok);
	return respond_error(a, c, status, why);
}

/* ---- alerts ---- */

struct alerts_answer {
	struct buf body;
	int rc;
};

static void alert_line(void *ctx, const struct meta_alert *al)
{
	struct alerts_answer *an = ctx;

	an->rc = err_first(an->rc, alert_write_json(al, &an->body));
	an->rc = err_first(an->rc, buf_addch(&an->body, '\n'));
}

/* since and limit of a list request; 0 or a 400 with *why. */
static unsigned alerts_params(struct MHD_Connection *c, int64_t *since, int64_t *limit,
			      const char **why)
{
	bool bad = false;
	const char *s = param(c, "since", &bad), *l = param(c, "limit", &bad);
	char *end;

	*since = INT64_MIN;
	*limit = ALERTS_LIMIT_DEFAULT;
	if (bad) {
		*why = "a NUL byte in a parameter's value";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (s && *s && time_parse(s, strlen(s), time_now_ns(), since) < 0) {
		*why = "since: expected RFC 3339, a date or a relative time (-24h)";
		return MHD_HTTP_BAD_REQUEST;
	}
	if (l && *l) {
		errno = 0;
		*limit = strtoll(l, &end, 10);
		if (errno || *end || l[0] == ' ' || l[0] == '+' || *limit < 1 ||
		    *limit > META_ALERT_LIST_MAX) {
			*why = "limit: expected a number from 1 to 10000";
			return MHD_HTTP_BAD_REQUEST;
		}
	}
	return 0;
}

/*
 * GET /api/v1/alerts (the tenant's, newest first, JSON lines) or /api/v1/alerts/ID (one,
 * with its events). The tenant is resolved as for a search: a tenant token reads its own.
 */
static unsigned alerts_answer(struct api *a, struct MHD_Connection *c, const char *rest,
			      struct alerts_answer *an, const char **why)
{
	struct token_ref tok = { 0 };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	bool bad = false;
	const char *tenant;
	int64_t tid = -1, since, limit, id = 0;
	unsigned status;
	char *end;
	int rc;

	if ((status = resolve_tenant(a, c, &tok, &tid, why)))
		return status;
	tenant = tok.tenant_id >= 0 ? tok.tenant : param(c, "tenant", &bad);
	if (*rest) { /* "/ID" */
		errno = 0;
		id = strtoll(rest + 1, &end, 10);
		if (errno || *end || !isdigit((unsigned char)rest[1]) || id < 1) {
			*why = "alert id: expected /api/v1/alerts/ID with ID a number";
			return MHD_HTTP_BAD_REQUEST;
		}
	} else if ((status = alerts_params(c, &since, &limit, why))) {
		return status;
	}
	if (meta_open(&m, a->data_dir, &e) < 0) {
		log_error("%s", e.msg);
		*why = "the metadata store is unavailable";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	rc = id ? meta_alert_get(m, tenant, id, alert_line, an, &e)
		: meta_alert_list(m, tenant, since, limit, alert_line, an, &e);
	meta_close(m);
	if (rc == -ENOENT) {
		*why = id ? "the tenant has no such alert" : "no such tenant";
		return MHD_HTTP_NOT_FOUND;
	}
	if (rc < 0 || an->rc < 0) {
		log_error("alerts for token %s: %s", tok.name, rc < 0 ? e.msg : "answer too large");
		*why = rc < 0 ? "cannot read the alerts"
			      : "the answer exceeds 64 MiB: ask for fewer alerts (limit=N)";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	return 0;
}

static enum MHD_Result handle_alerts(struct api *a, struct MHD_Connection *c, const char *rest)
{
	struct alerts_answer an = { .body = BUF_INIT(ALERTS_ANSWER_MAX) };
	const char *why = "";
	unsigned status = alerts_answer(a, c, rest, &an, &why);
	struct MHD_Response *r;

	if (status) {
		buf_release(&an.body);
		/* the token stays in alerts_answer: the refusal is logged without its name */
		log_refusal("alerts", status, why, &(struct token_ref){ 0 });
		return respond_error(a, c, status, why);
	}
	if (*rest) /* one alert: a JSON object, without the line's newline */
		buf_truncate(&an.body, an.body.len - 1);
	r = MHD_create_response_from_buffer(an.body.len, an.body.p, MHD_RESPMEM_MUST_COPY);
	buf_release(&an.body);
	if (!r)
		return MHD_NO;
	return answer_ok(a, c, r, *rest ? CONTENT_JSON : CONTENT_NDJSON);
}

/* ---- assets: GET/POST /api/v1/assets, GET/PATCH/DELETE /api/v1/assets/ID, /unknown ---- */

/*
 * The body of a POST or PATCH, read over several calls of the handler: kept in the
 * connection's con_cls and listed in a->bodies, so that completed() tells it from an
 * ingest request's state and frees it whatever became of the request.
 */
struct asset_body {
	struct asset_body *next;
	struct buf text;
	bool too_large;
};

static struct asset_body *body_new(struct api *a)
{
	struct asset_body *b = mem_calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	buf_init(&b->text, ASSETS_BODY_MAX);
	pthread_mutex_lock(&a->lock);
	b->next = a->bodies;
	a->bodies = b;
	pthread_mutex_unlock(&a->lock);
	return b;
}

/* Frees state when it is an asset body (true); false for another kind of request state. */
static bool body_free(struct api *a, void *state)
{
	struct asset_body **at, *found = NULL;

	pthread_mutex_lock(&a->lock);
	for (at = &a->bodies; *at; at = &(*at)->next)
		if (*at == state) {
			found = *at;
			*at = found->next;
			break;
		}
	pthread_mutex_unlock(&a->lock);
	if (!found)
		return false;
	buf_release(&found->text);
	mem_free(found);
	return true;
}

struct assets_request {
	struct MHD_Connection *c;
	const char *method;
	const char *tenant;     /* the token's own, or the one a SOC token named */
	int64_t id;             /* /ID; 0 for the collection and /unknown */
	bool unknown;
	const struct buf *body; /* POST, PATCH */
	struct buf *out;        /* the answer */
	unsigned status;        /* 200 unless a POST made one: 201 */
	struct err e;
};

/* A store or edit error as the HTTP status; the message stays in r->e. */
static unsigned assets_status(struct assets_request *r, int rc)
{
	switch (rc) {
	case -EINVAL:
	case -E2BIG:
		return MHD_HTTP_BAD_REQUEST;
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	case -EEXIST:
		return MHD_HTTP_CONFLICT;
	default:
		log_error("assets of tenant %s: %s", r->tenant, r->e.msg);
		snprintf(r->e.msg, sizeof(r->e.msg), "cannot read or write the assets");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static int list_lines(struct assets *as, struct buf *out)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < assets_count(as); i++) {
		rc = assets_entry_write_json(assets_at(as, i), out);
		rc = err_first(rc, buf_addch(out, '\n'));
	}
	return rc;
}

struct unknown_lines {
	struct buf *out;
	int rc;
};

static void unknown_line(void *ctx, const struct assets_unknown *u)
{
	struct unknown_lines *l = ctx;

	l->rc = err_first(l->rc, assets_unknown_write_json(u, l->out));
	l->rc = err_first(l->rc, buf_addch(l->out, '\n'));
}

/* GET /unknown?since=TIME (default -30d). */
static int assets_unknown_answer(struct assets_request *r, struct meta *m)
{
	bool bad = false;
	const char *since = param(r->c, "since", &bad);
	struct unknown_lines l = { r->out, 0 };
	int64_t from, dropped = 0;
	int rc;

	if (!since || !*since)
		since = "-30d";
	if (bad || time_parse(since, strlen(since), time_now_ns(), &from) < 0)
		return err_set(&r->e, -EINVAL, "since: expected RFC 3339, a date or a relative "
			       "time (-24h)");
	rc = assets_unknown_list(m, r->tenant, from, unknown_line, &l, &dropped, &r->e);
	if (rc == 0 && l.rc < 0)
		rc = err_set(&r->e, l.rc, "the answer is too large");
	return rc;
}

/* POST: a new asset from the body; PATCH: the fields the body names. */
static int assets_write(struct assets_request *r, struct meta *m)
{
	struct assets_import_stats st = { 0 };
	struct assets_entry *en = NULL;
	struct assets *as = NULL;
	int rc;

	if (r->id)
		rc = assets_load_one(m, r->tenant, r->id, NULL, &as, &en, &r->e);
	else if ((rc = assets_new(&as, &r->e)) == 0)
		rc = assets_add_new(as, r->tenant, "", &en, &r->e);
	if (rc == 0)
		rc = assets_entry_apply_json(as, en, r->body->p, r->body->len, &r->e);
	if (rc == 0 && !*en->name)
		rc = err_set(&r->e, -EINVAL, "name: required");
	if (rc == 0)
		rc = assets_store(as, m, &st, &r->e);
	if (rc == 0) {
		int64_t id = en->id; /* en goes with as */

		/* read back: the times are the store's */
		assets_free(as);
		as = NULL;
		rc = assets_load_one(m, r->tenant, id, NULL, &as, &en, &r->e);
	}
	if (rc == 0)
		rc = assets_entry_write_json(en, r->out);
	if (rc == 0 && !r->id)
		r->status = MHD_HTTP_CREATED;
	assets_free(as);
	return rc;
}

static int assets_run(struct assets_request *r, struct meta *m)
{
	struct assets_entry *en;
	struct assets *as = NULL;
	bool get = !strcmp(r->method, MHD_HTTP_METHOD_GET);
	int rc;

	if (r->unknown)
		return assets_unknown_answer(r, m);
	if (!get && strcmp(r->method, MHD_HTTP_METHOD_DELETE))
		return assets_write(r, m);
	if (!r->id) {
		if ((rc = assets_load(m, r->tenant, &as, &r->e)) == 0 &&
		    (rc = list_lines(as, r->out)) < 0)
			err_set(&r->e, rc, "the answer is too large");
	} else if ((rc = assets_load_one(m, r->tenant, r->id, NULL, &as, &en, &r->e)) == 0) {
		rc = get ? assets_entry_write_json(en, r->out)
			 : meta_asset_remove(m, r->tenant, r->id, &r->e);
		if (rc == 0 && !get)
			rc = buf_addf(r->out, "{\"id\": %lld, \"removed\": true}",
				      (long long)r->id);
	}
	assets_free(as);
	return rc;
}

/* Which methods rest allows; NULL when rest is no assets path. */
static const char *assets_allow(const char *rest, int64_t *id, bool *unknown)
{
	char *end;

	*id = 0;
	*unknown = false;
	if (!*rest)
		return "GET, POST";
	if (!strcmp(rest, "/unknown")) {
		*unknown = true;
		return "GET";
	}
	errno = 0;
	*id = strtoll(rest + 1, &end, 10);
	if (rest[0] != '/' || errno || *end || !isdigit((unsigned char)rest[1]) || *id < 1)
		return NULL;
	return "GET, PATCH, DELETE";
}

/* Whether method is one of allow's ("GET, POST"). */
static bool method_in(const char *allow, const char *method)
{
	size_t n = strlen(method);

	for (const char *p = allow; (p = strstr(p, method)); p += n)
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

/*
 * Collects a POST or PATCH body: MHD_YES while more is to come (or after the first call,
 * which only sees the headers); NULL *done until the last call, then the body.
 */
static enum MHD_Result collect_body(struct api *a, struct MHD_Connection *c, const char *data,
				    size_t *data_size, void **con_cls,
				    const struct asset_body **done)
{
	struct asset_body *b = *con_cls;

	*done = NULL;
	if (!b) {
		if (!(*con_cls = b = body_new(a)))
			return respond_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return MHD_YES;
	}
	if (*data_size) {
		if (!b->too_large && buf_add(&b->text, data, *data_size) < 0)
			b->too_large = true; /* answered once the body is read */
		*data_size = 0;
		return MHD_YES;
	}
	*done = b;
	return MHD_YES;
}

static enum MHD_Result handle_assets(struct api *a, struct MHD_Connection *c, const char *rest,
				     const char *method, const char *data, size_t *data_size,
				     void **con_cls)
{
	struct assets_request r = { .c = c, .method = method,
				    .status = MHD_HTTP_OK, .e = ERR_INIT };
	struct buf out = BUF_INIT(ASSETS_ANSWER_MAX);
	const char *allow = assets_allow(rest, &r.id, &r.unknown), *why = "";
	const struct asset_body *body = NULL;
	struct token_ref tok = { 0 };
	struct MHD_Response *resp;
	struct meta *m = NULL;
	enum MHD_Result ret;
	bool bad = false, lines, with_body = !strcmp(method, MHD_HTTP_METHOD_POST) ||
					     !strcmp(method, MHD_HTTP_METHOD_PATCH);
	unsigned status;
	int rc;

	if (!allow)
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "no such endpoint");
	if (!method_in(allow, method))
		return respond_error_allow(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					   allow);
	/*
	 * The token at the first call, so that no body is read for a request that will be
	 * refused, and at the last (it may have been revoked meanwhile); not at every chunk.
	 */
	if ((!with_body || !*con_cls || !*data_size) &&
	    (status = resolve_tenant(a, c, &tok, &(int64_t){ -1 }, &why))) {
		log_refusal("assets", status, why, &tok);
		return respond_error(a, c, status, why);
	}
	if (with_body) {
		if ((ret = collect_body(a, c, data, data_size, con_cls, &body)) != MHD_YES ||
		    !body)
			return ret;
		if (body->too_large)
			return respond_error(a, c, MHD_HTTP_CONTENT_TOO_LARGE,
					     "the body exceeds 1 MiB");
		if (!body->text.len)
			return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a JSON object is expected");
		r.body = &body->text;
	} else if (*data_size) {
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a GET or DELETE has no body");
	}
	r.tenant = tok.tenant[0] ? tok.tenant : param(c, "tenant", &bad);
	r.out = &out;
	if ((rc = meta_open(&m, a->data_dir, &r.e)) == 0)
		rc = assets_run(&r, m);
	meta_close(m);
	if (rc < 0) {
		status = assets_status(&r, rc);
		buf_release(&out);
		return respond_error(a, c, status, r.e.msg);
	}
	lines = !r.id && !strcmp(method, MHD_HTTP_METHOD_GET);
	resp = MHD_create_response_from_buffer(out.len, out.p, MHD_RESPMEM_MUST_COPY);
	buf_release(&out);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				lines ? CONTENT_NDJSON : CONTENT_JSON);
	count(a, r.status);
	ret = MHD_queue_response(c, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * ---- incidents: GET /api/v1/incidents, GET/PATCH /api/v1/incidents/ID,
 * POST /api/v1/incidents/ID/comments, GET /api/v1/incidents/ID/timeline (docs/incidents.md)
 */

enum incident_route { INCIDENT_LIST, INCIDENT_ONE, INCIDENT_COMMENTS, INCIDENT_TIMELINE };

struct incidents_request {
	struct MHD_Connection *c;
	const char *method;
	const char *tenant;     /* the token's own, or the one a SOC token named */
	const char *actor;      /* the token's name: who made a change */
	int64_t id;
	enum incident_route route;
	const struct buf *body; /* PATCH, POST */
	struct buf *out;
	const struct sla *sla;  /* the SLA policies (api_config), NULL: raw clocks only */
	unsigned status;
	struct err e;
	int rc;                 /* of the row callbacks */
};

/* Which methods rest allows; NULL when rest is no incidents path. */
static const char *incidents_allow(const char *rest, int64_t *id, enum incident_route *route)
{
	char *end;

	*id = 0;
	*route = INCIDENT_LIST;
	if (!*rest)
		return "GET";
	errno = 0;
	*id = strtoll(rest + 1, &end, 10);
	if (rest[0] != '/' || errno || !isdigit((unsigned char)rest[1]) || *id < 1)
		return NULL;
	if (!*end) {
		*route = INCIDENT_ONE;
		return "GET, PATCH";
	}
	if (!strcmp(end, "/comments")) {
		*route = INCIDENT_COMMENTS;
		return "POST";
	}
	if (!strcmp(end, "/timeline")) {
		*route = INCIDENT_TIMELINE;
		return "GET";
	}
	return NULL;
}

static unsigned incidents_status(struct incidents_request *r, int rc)
{
	switch (rc) {
	case -EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	default:
		log_error("incidents of tenant %s: %s", r->tenant, r->e.msg);
		snprintf(r->e.msg, sizeof(r->e.msg), "cannot read or write the incidents");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static void incident_line(void *ctx, const struct meta_incident *inc)
{
	struct incidents_request *r = ctx;

	r->rc = err_first(r->rc, incident_write_json(inc, r->sla, time_now_ns(), r->out));
	r->rc = err_first(r->rc, buf_addch(r->out, '\n'));
}

static void entry_line(void *ctx, const struct meta_incident_entry *en)
{
	struct incidents_request *r = ctx;

	r->rc = err_first(r->rc, incident_entry_write_json(en, r->out));
	r->rc = err_first(r->rc, buf_addch(r->out, '\n'));
}

/* GET /api/v1/incidents?status=S|open&level=N&since=TIME&limit=N */
static int incidents_list(struct incidents_request *r, struct meta *m)
{
	bool bad = false;
	const char *status = param(r->c, "status", &bad), *level = param(r->c, "level", &bad),
		   *since = param(r->c, "since", &bad), *limit = param(r->c, "limit", &bad);
	struct meta_incident_filter f = { .min_level = -2 };
	char *end;
	int rc;

	if (bad)
		return err_set(&r->e, -EINVAL, "a NUL byte in a parameter's value");
	f.status = status && *status ? status : NULL;
	if (level && *level && level_parse(level, &f.min_level) < 0)
		return err_set(&r->e, -EINVAL, "level: expected 0 to 3 or a level's name");
	if (since && *since && time_parse(since, strlen(since), time_now_ns(), &f.since_ns) < 0)
		return err_set(&r->e, -EINVAL, "since: expected RFC 3339, a date or a relative "
			       "time (-24h)");
	if (limit && *limit) {
		errno = 0;
		f.limit = strtoll(limit, &end, 10);
		if (errno || *end || !isdigit((unsigned char)limit[0]) || f.limit < 1 ||
		    f.limit > META_INCIDENT_LIST_MAX)
			return err_set(&r->e, -EINVAL, "limit: expected a number from 1 to %d",
				       META_INCIDENT_LIST_MAX);
	}
	rc = meta_incident_list(m, r->tenant, &f, incident_line, r, &r->e);
	if (rc == 0 && r->rc < 0)
		rc = err_set(&r->e, r->rc, "the answer is too large: ask for fewer (limit=N)");
	return rc;
}

/* The string value just read, copied NUL-terminated into the arena. */
static int body_string(struct jsonin *j, struct arena *arena, const char *key, const char **out,
		       struct err *e)
{
	struct jsonin_value v;

	if (jsonin_value(j, &v) < 0 || v.type != JSONIN_STRING || memchr(v.s, '\0', v.len))
		return err_set(e, -EINVAL, "%s: expected a string", key);
	if (!(*out = arena_strndup(arena, v.s, v.len)))
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* {"status": S, "owner": O, "level": N or NAME, "why": TEXT} into c (strings in arena). */
static int patch_body(const struct buf *body, struct arena *arena, struct incident_change *c,
		      struct err *e)
{
	struct jsonin_value k, v;
	const char *level = NULL;
	struct jsonin j;
	int more, rc = 0;

	jsonin_init(&j, body->p, body->len, arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "a JSON object is expected");
	while (rc == 0 && (more = jsonin_key(&j, &k)) > 0) {
		if (jsonin_key_is(&k, "status"))
			rc = body_string(&j, arena, "status", &c->status, e);
		else if (jsonin_key_is(&k, "owner"))
			rc = body_string(&j, arena, "owner", &c->owner, e);
		else if (jsonin_key_is(&k, "why"))
			rc = body_string(&j, arena, "why", &c->why, e);
		else if (!jsonin_key_is(&k, "level"))
			rc = err_set(e, -EINVAL, "unknown member: expected status, owner, level, why");
		else if (jsonin_value(&j, &v) < 0 ||
			 (v.type != JSONIN_NUMBER && v.type != JSONIN_STRING) ||
			 !(level = arena_strndup(arena, v.s, v.len)) || level_parse(level, &c->level) < 0)
			rc = err_set(e, -EINVAL, "level: expected 0 to 3 or a level's name");
	}
	if (rc == 0 && (more < 0 || jsonin_finish(&j, NULL) < 0))
		rc = err_set(e, -EINVAL, "the body is not one well-formed JSON object");
	return rc;
}

/* {"text": TEXT} into *text (in arena). */
static int comment_body(const struct buf *body, struct arena *arena, const char **text,
			struct err *e)
{
	struct jsonin_value k, v;
	struct jsonin j;
	int more, rc = 0;

	*text = NULL;
	jsonin_init(&j, body->p, body->len, arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return err_set(e, -EINVAL, "a JSON object is expected");
	while (rc == 0 && (more = jsonin_key(&j, &k)) > 0)
		rc = jsonin_key_is(&k, "text") ? body_string(&j, arena, "text", text, e)
					      : err_set(e, -EINVAL, "unknown member: expected text");
	if (rc == 0 && (more < 0 || jsonin_finish(&j, NULL) < 0 || !*text))
		rc = err_set(e, -EINVAL, "expected {\"text\": TEXT}");
	return rc;
}

static int incidents_write(struct incidents_request *r, struct meta *m)
{
	struct incident_change c = { .actor = r->actor, .why = "",
				     .level = INCIDENT_LEVEL_KEEP, .now_ns = time_now_ns() };
	const char *text = NULL;
	struct arena arena;
	int rc;

	arena_init(&arena, 4096, 2 * ASSETS_BODY_MAX);
	if (r->route == INCIDENT_COMMENTS) {
		if ((rc = comment_body(r->body, &arena, &text, &r->e)) == 0 &&
		    (rc = incident_comment(m, r->tenant, r->id, r->actor, text, c.now_ns,
					   &r->e)) == 0) {
			r->status = MHD_HTTP_CREATED;
			rc = buf_addf(r->out, "{\"incident\": %lld, \"commented\": true}",
				      (long long)r->id);
		}
	} else if ((rc = patch_body(r->body, &arena, &c, &r->e)) == 0 &&
		   (rc = incident_change(m, r->tenant, r->id, &c, NULL, &r->e)) == 0) {
		rc = incident_show_json(m, r->tenant, r->id, r->sla, c.now_ns, r->out, &r->e);
	}
	arena_release(&arena);
	return rc;
}

static int incidents_run(struct incidents_request *r, struct meta *m)
{
	int rc;

	if (strcmp(r->method, MHD_HTTP_METHOD_GET))
		return incidents_write(r, m);
	switch (r->route) {
	case INCIDENT_LIST:
		return incidents_list(r, m);
	case INCIDENT_TIMELINE:
		rc = meta_incident_timeline(m, r->tenant, r->id, entry_line, r, &r->e);
		if (rc == 0 && r->rc < 0)
			rc = err_set(&r->e, r->rc, "the answer is too large");
		return rc;
	default:
		return incident_show_json(m, r->tenant, r->id, r->sla, time_now_ns(), r->out,
					  &r->e);
	}
}

static enum MHD_Result handle_incidents(struct api *a, struct MHD_Connection *c,
					const char *rest, const char *method, const char *data,
					size_t *data_size, void **con_cls)
{
	struct incidents_request r = { .c = c, .method = method, .sla = a->sla,
				       .status = MHD_HTTP_OK,
				       .e = ERR_INIT };
	struct buf out = BUF_INIT(INCIDENTS_ANSWER_MAX);
	const char *allow = incidents_allow(rest, &r.id, &r.route), *why = "";
	const struct asset_body *body = NULL;
	struct token_ref tok = { 0 };
	struct MHD_Response *resp;
	struct meta *m = NULL;
	enum MHD_Result ret;
	bool bad = false, with_body = strcmp(method, MHD_HTTP_METHOD_GET) != 0;
	unsigned status;
	int rc;

	if (!allow)
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "no such endpoint");
	if (!method_in(allow, method))
		return respond_error_allow(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					   allow);
	/* the token at the first call and at the last, as for assets */
	if ((!with_body || !*con_cls || !*data_size) &&
	    (status = resolve_tenant(a, c, &tok, &(int64_t){ -1 }, &why))) {
		log_refusal("incidents", status, why, &tok);
		return respond_error(a, c, status, why);
	}
	if (with_body) {
		if ((ret = collect_body(a, c, data, data_size, con_cls, &body)) != MHD_YES ||
		    !body)
			return ret;
		if (body->too_large)
			return respond_error(a, c, MHD_HTTP_CONTENT_TOO_LARGE,
					     "the body exceeds 1 MiB");
		r.body = &body->text;
	} else if (*data_size) {
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a GET has no body");
	}
	r.tenant = tok.tenant[0] ? tok.tenant : param(c, "tenant", &bad);
	r.actor = tok.name;
	r.out = &out;
	if ((rc = meta_open(&m, a->data_dir, &r.e)) == 0)
		rc = incidents_run(&r, m);
	meta_close(m);
	if (rc < 0) {
		status = incidents_status(&r, rc);
		buf_release(&out);
		return respond_error(a, c, status, r.e.msg);
	}
	resp = MHD_create_response_from_buffer(out.len, out.p, MHD_RESPMEM_MUST_COPY);
	buf_release(&out);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r.route == INCIDENT_LIST || r.route == INCIDENT_TIMELINE
					? CONTENT_NDJSON : CONTENT_JSON);
	count(a, r.status);
	ret = MHD_queue_response(c, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * ---- notification policies: GET|PUT /api/v1/notify/policy, GET /api/v1/notify/policy/history,
 * GET /api/v1/notify/explain?incident=N[&at=TIME] (docs/notify-policy.md). The tenant as for
 * incidents: a tenant token's own, or the one a SOC token names with tenant=NAME.
 */

enum notify_route { NOTIFY_POLICY, NOTIFY_HISTORY, NOTIFY_EXPLAIN };

struct notify_request {
	struct buf *out;
	int rc;
};

static void notify_policy_line(void *ctx, const struct meta_notify_policy *p)
{
	struct notify_request *r = ctx;

	r->rc = err_first(r->rc, explain_policy_json(p, r->out));
}

static void notify_change_line(void *ctx, const struct meta_notify_policy_change *ch)
{
	struct notify_request *r = ctx;

	r->rc = err_first(r->rc, explain_change_json(ch, r->out));
	r->rc = err_first(r->rc, buf_addch(r->out, '\n'));
}

/* GET ...explain?incident=N[&at=TIME] */
static int notify_explain(struct api *a, struct MHD_Connection *c, struct meta *m,
			  const char *tenant, struct buf *out, struct err *e)
{
	bool bad = false;
	const char *inc = param(c, "incident", &bad), *at = param(c, "at", &bad);
	int64_t now = time_now_ns(), at_ns = 0, id;
	struct explain x;
	struct arena ar;
	char *end = NULL;
	int rc;

	if (bad || !inc || !*inc)
		return err_set(e, -EINVAL, "incident: expected an incident number");
	errno = 0;
	id = strtoll(inc, &end, 10);
	if (errno || *end || id < 1)
		return err_set(e, -EINVAL, "incident: expected an incident number");
	if (at && (time_parse(at, strlen(at), now, &at_ns) < 0))
		return err_set(e, -EINVAL, "at: expected an RFC 3339 time, a date or a relative time "
			       "such as -1h");
	if (at && !at_ns)
		at_ns = 1;
	arena_init(&ar, 16384, 8u << 20);
	if ((rc = explain_incident(m, tenant, id, at_ns, now, &ar, &x, e)) == 0) {
		if ((rc = explain_write_json(&x, out)) < 0)
			err_set(e, rc, "the answer is too large");
		explain_release(&x);
	}
	arena_release(&ar);
	return rc;
}

static int notify_api_run(struct api *a, struct MHD_Connection *c, struct meta *m,
		      enum notify_route route, bool put, const char *tenant, const char *actor,
		      const struct buf *body, struct buf *out, struct err *e)
{
	struct notify_request r = { .out = out };
	int64_t version = 0;
	int rc;

	switch (route) {
	case NOTIFY_HISTORY:
		rc = meta_notify_policy_history(m, tenant, META_NOTIFY_HISTORY_MAX, notify_change_line,
						&r, e);
		break;
	case NOTIFY_EXPLAIN:
		return notify_explain(a, c, m, tenant, out, e);
	default:
		if (put) {
			if (memchr(body->p, 0, body->len))
				return err_set(e, -EINVAL, "the policy holds a NUL byte");
			if ((rc = meta_notify_policy_set(m, tenant, body->p, actor, time_now_ns(),
							 &version, NULL, e)) < 0)
				return rc;
		}
		rc = meta_notify_policy_get(m, tenant, notify_policy_line, &r, e);
	}
	if (rc == 0 && r.rc < 0)
		rc = err_set(e, r.rc, "the answer is too large");
	return rc;
}

static unsigned notify_api_status(int rc, const char *tenant, struct err *e)
{
	switch (rc) {
	case -EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	default:
		log_error("notification policy of tenant %s: %s", tenant, e->msg);
		snprintf(e->msg, sizeof(e->msg), "cannot read or write the notification policy");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static enum MHD_Result handle_notify(struct api *a, struct MHD_Connection *c, const char *rest,
				     const char *method, const char *data, size_t *data_size,
				     void **con_cls)
{
	struct buf out = BUF_INIT(INCIDENTS_ANSWER_MAX);
	const struct asset_body *body = NULL;
	struct token_ref tok = { 0 };
	struct err e = ERR_INIT;
	struct MHD_Response *resp;
	struct meta *m = NULL;
	const char *why = "", *tenant, *allow;
	bool bad = false, put = !strcmp(method, MHD_HTTP_METHOD_PUT);
	enum notify_route route;
	enum MHD_Result ret;
	unsigned status;
	int rc;

	if (!strcmp(rest, "policy"))
		route = NOTIFY_POLICY, allow = "GET, PUT";
	else if (!strcmp(rest, "policy/history"))
		route = NOTIFY_HISTORY, allow = "GET";
	else if (!strcmp(rest, "explain"))
		route = NOTIFY_EXPLAIN, allow = "GET";
	else
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "no such endpoint");
	if (!method_in(allow, method))
		return respond_error_allow(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					   allow);
	if ((!put || !*con_cls || !*data_size) &&
	    (status = resolve_tenant(a, c, &tok, &(int64_t){ -1 }, &why))) {
		log_refusal("notify", status, why, &tok);
		return respond_error(a, c, status, why);
	}
	if (put) {
		if ((ret = collect_body(a, c, data, data_size, con_cls, &body)) != MHD_YES || !body)
			return ret;
		if (body->too_large)
			return respond_error(a, c, MHD_HTTP_CONTENT_TOO_LARGE, "the body exceeds 1 MiB");
	} else if (*data_size) {
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a GET has no body");
	}
	tenant = tok.tenant[0] ? tok.tenant : param(c, "tenant", &bad);
	if ((rc = meta_open(&m, a->data_dir, &e)) == 0)
		rc = notify_api_run(a, c, m, route, put, tenant, tok.name, body ? &body->text : NULL, &out,
				&e);
	meta_close(m);
	if (rc < 0) {
		status = notify_api_status(rc, tenant, &e);
		buf_release(&out);
		return respond_error(a, c, status, e.msg);
	}
	resp = MHD_create_response_from_buffer(out.len, out.p, MHD_RESPMEM_MUST_COPY);
	buf_release(&out);
	if (!resp)
		return MHD_NO;
	return answer_ok(a, c, resp, route == NOTIFY_HISTORY ? CONTENT_NDJSON : CONTENT_JSON);
}

/* ---- the delivery log of notices: GET /api/v1/notify/log?incident=N&limit=N (docs/notify.md) ---- */

static enum MHD_Result handle_notify_log(struct api *a, struct MHD_Connection *c,
					 const char *method, size_t *data_size)
{
	bool bad = false;
	const char *incident = param(c, "incident", &bad), *limit = param(c, "limit", &bad);
	struct buf out = BUF_INIT(NOTIFY_LOG_MAX);
	struct token_ref tok = { 0 };
	struct err e = ERR_INIT;
	struct MHD_Response *resp;
	struct meta *m = NULL;
	const char *tenant, *why = "";
	long long inc = 0, lim = 1000;
	enum MHD_Result ret;
	unsigned status;
	char *end;
	int rc;

	if (!method_in("GET", method))
		return respond_error_allow(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					   "GET");
	if ((status = resolve_tenant(a, c, &tok, &(int64_t){ -1 }, &why))) {
		log_refusal("notify log", status, why, &tok);
		return respond_error(a, c, status, why);
	}
	if (*data_size)
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a GET has no body");
	tenant = tok.tenant[0] ? tok.tenant : param(c, "tenant", &bad);
	if (bad)
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a NUL byte in a parameter's value");
	if (!tenant || !*tenant)
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "tenant: a SOC token names one");
	errno = 0;
	if (incident && *incident &&
	    (!isdigit((unsigned char)incident[0]) || (inc = strtoll(incident, &end, 10)) < 1 ||
	     *end || errno))
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "incident: expected an id");
	if (limit && *limit &&
	    (!isdigit((unsigned char)limit[0]) || (lim = strtoll(limit, &end, 10)) < 1 || *end ||
	     errno || lim > META_NOTICE_LIST_MAX))
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST,
				     "limit: expected a number from 1 to 10000");
	if ((rc = meta_open(&m, a->data_dir, &e)) == 0)
		rc = notify_log_json(m, tenant, inc, lim, &out, &e);
	meta_close(m);
	if (rc < 0) {
		buf_release(&out);
		if (rc == -ENOENT || rc == -EINVAL)
			return respond_error(a, c, rc == -ENOENT ? MHD_HTTP_NOT_FOUND :
					     MHD_HTTP_BAD_REQUEST, e.msg);
		log_error("notify log of tenant %s: %s", tenant, e.msg);
		return respond_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				     "cannot read the delivery log");
	}
	resp = MHD_create_response_from_buffer(out.len, out.p, MHD_RESPMEM_MUST_COPY);
	buf_release(&out);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_NDJSON);
	count(a, MHD_HTTP_OK);
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- first reports: GET|PUT /api/v1/incidents/ID/report, POST .../report/approve ---- */

/* "ID/report" or "ID/report/approve" (*approve); false when rest is neither. */
static bool report_path(const char *rest, int64_t *id, bool *approve)
{
	char *end;

	errno = 0;
	*id = strtoll(rest, &end, 10);
	if (!isdigit((unsigned char)rest[0]) || errno || *id < 1)
		return false;
	*approve = !strcmp(end, "/report/approve");
	return *approve || !strcmp(end, "/report");
}

struct report_answer {
	struct buf *out;
	bool soc;       /* a SOC token: drafts too; a tenant token sees approved reports only */
	int rc;
};

static void report_line(void *ctx, const struct meta_report *r)
{
	struct report_answer *ra = ctx;

	if (!ra->soc && strcmp(r->status, "approved"))
		ra->rc = -ENOENT;
	else
		ra->rc = firstreport_write_json(r, ra->out);
}

/* The body of a PUT: {"text": "..."}, the text copied into *text (mem_alloc'ed). */
static int report_body(const struct buf *body, char **text, struct err *e)
{
	struct arena ar;
	struct jsonin j;
	struct jsonin_value k, v = { 0 };
	bool got = false;
	int rc;

	arena_init(&ar, 4096, 2 * ASSETS_BODY_MAX);
	jsonin_init(&j, body->p, body->len, &ar, 0);
	if ((rc = jsonin_value(&j, &v)) == 0 && v.type != JSONIN_OBJECT)
		rc = -EINVAL;
	while (rc == 0 && (rc = jsonin_key(&j, &k)) > 0) {
		if (!jsonin_key_is(&k, "text")) {
			rc = jsonin_skip_value(&j);
		} else if (got) {
			rc = -EINVAL; /* "text" twice: which one was meant? */
		} else if ((rc = jsonin_value(&j, &v)) == 0) {
			if (v.type != JSONIN_STRING || memchr(v.s, 0, v.len))
				rc = -EINVAL;
			else if (!(*text = mem_strndup(v.s, v.len)) && (rc = -ENOMEM) == -ENOMEM)
				break;
			got = rc == 0;
		}
	}
	if (rc == 0)
		rc = jsonin_finish(&j, NULL);
	arena_release(&ar);
	if (rc == -ENOMEM)
		return err_set(e, rc, "out of memory");
	if (rc < 0 || !got)
		return err_set(e, -EINVAL, "a JSON object {\"text\": \"...\"} is expected");
	return 0;
}

static int report_run(struct api *a, struct meta *m, const char *method, const char *tenant,
		      int64_t id, bool approve, const struct token_ref *tok, const char *lang,
		      const struct buf *body, struct report_answer *ra, struct err *e)
{
	char *text = NULL;
	int rc;

	if (approve)
		rc = firstreport_approve(m, tenant, id, lang, tok->name, time_now_ns(), e);
	else if (!strcmp(method, MHD_HTTP_METHOD_PUT))
		rc = report_body(body, &text, e) < 0 ? -EINVAL
		     : meta_report_edit(m, tenant, id, lang, text, tok->name, time_now_ns(), e);
	else if ((rc = meta_report_get(m, tenant, id, lang, NULL, NULL, e)) == -ENOENT && ra->soc)
		/* a SOC token asking before the engine drafted one: draft it now */
		rc = firstreport_refresh_stored(a->reports, m, tenant, id, time_now_ns(), e);
	mem_free(text);
	if (rc < 0)
		return rc;
	if ((rc = meta_report_get(m, tenant, id, lang, report_line, ra, e)) == 0 && ra->rc < 0)
		rc = ra->rc == -ENOENT ? err_set(e, -ENOENT, "incident %lld has no approved %s report",
						 (long long)id, lang)
				       : err_set(e, ra->rc, "the answer is too large");
	return rc;
}

static unsigned report_status(int rc, const char *tenant, struct err *e)
{
	switch (rc) {
	case -EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	case -EBUSY:
	case -EALREADY:
		return MHD_HTTP_CONFLICT;
	default:
		log_error("first report of tenant %s: %s", tenant, e->msg);
		snprintf(e->msg, sizeof(e->msg), "cannot read or write the report");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static enum MHD_Result handle_report(struct api *a, struct MHD_Connection *c, const char *rest,
				     const char *method, const char *data, size_t *data_size,
				     void **con_cls)
{
	struct buf out = BUF_INIT(2 * META_REPORT_TEXT_MAX);
	struct report_answer ra = { .out = &out };
	const struct asset_body *body = NULL;
	struct token_ref tok = { 0 };
	struct err e = ERR_INIT;
	struct MHD_Response *resp;
	struct meta *m = NULL;
	const char *why = "", *tenant, *lang, *allow;
	bool approve = false, bad = false, put = !strcmp(method, MHD_HTTP_METHOD_PUT);
	enum MHD_Result ret;
	unsigned status;
	int64_t id = 0;
	int rc;

	if (!report_path(rest, &id, &approve))
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "no such endpoint");
	allow = approve ? "POST" : "GET, PUT";
	if (!method_in(allow, method))
		return respond_error_allow(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					   allow);
	if ((!put || !*con_cls || !*data_size) &&
	    (status = resolve_tenant(a, c, &tok, &(int64_t){ -1 }, &why))) {
		log_refusal("report", status, why, &tok);
		return respond_error(a, c, status, why);
	}
	ra.soc = !tok.tenant[0];
	if ((put || approve) && !ra.soc)
		return respond_error(a, c, MHD_HTTP_FORBIDDEN, "only a SOC token edits or approves "
				     "first reports");
	if (put) {
		if ((ret = collect_body(a, c, data, data_size, con_cls, &body)) != MHD_YES || !body)
			return ret;
		if (body->too_large)
			return respond_error(a, c, MHD_HTTP_CONTENT_TOO_LARGE, "the body exceeds 1 MiB");
	} else if (*data_size) {
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "this request has no body");
	}
	tenant = tok.tenant[0] ? tok.tenant : param(c, "tenant", &bad);
	lang = param(c, "lang", &bad);
	if (!lang || !*lang)
		lang = "ja";
	if (bad || (strcmp(lang, "ja") && strcmp(lang, "en")))
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "lang: expected ja or en");
	if (!a->reports)
		return respond_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "first reports unavailable");
	if ((rc = meta_open(&m, a->data_dir, &e)) == 0)
		rc = report_run(a, m, method, tenant, id, approve, &tok, lang,
				body ? &body->text : NULL, &ra, &e);
	meta_close(m);
	if (rc < 0) {
		status = report_status(rc, tenant, &e);
		buf_release(&out);
		return respond_error(a, c, status, e.msg);
	}
	resp = MHD_create_response_from_buffer(out.len, out.p, MHD_RESPMEM_MUST_COPY);
	buf_release(&out);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_JSON);
	count(a, MHD_HTTP_OK);
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- GET /edl/<tenant>/<list>.txt: the tenant's External Dynamic Lists ---- */

/* A refused list request: text/plain (what a firewall logs), Basic asked for on a 401. */
static enum MHD_Result edl_refuse(struct api *a, struct MHD_Connection *c, unsigned status,
				  const char *why)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%s\n", why);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		(size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1, body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (status == MHD_HTTP_UNAUTHORIZED || status == MHD_HTTP_FORBIDDEN)
		log_info("EDL request refused (%u): %s", status, why);
	count(a, status);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TEXT);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"koban EDL\", charset=\"UTF-8\"");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* "<tenant>/<list>.txt" into its parts (each at most 63 bytes); false when not so. */
static bool edl_path(const char *rest, char tenant[64], char list[64])
{
	const char *slash = strchr(rest, '/');
	size_t tlen = slash ? (size_t)(slash - rest) : 0, llen;

	if (!slash || !tlen || tlen >= 64)
		return false;
	llen = strlen(slash + 1);
	if (llen <= strlen(EDL_SUFFIX) || strcmp(slash + 1 + llen - strlen(EDL_SUFFIX), EDL_SUFFIX))
		return false;
	llen -= strlen(EDL_SUFFIX);
	if (llen >= 64 || memchr(slash + 1, '/', llen))
		return false;
	memcpy(tenant, rest, tlen);
	tenant[tlen] = '\0';
	memcpy(list, slash + 1, llen);
	list[llen] = '\0';
	return true;
}

struct edl_token {
	bool found;
	char tenant[64];
};

static void take_edl_token(void *ctx, const struct meta_token *t)
{
	struct edl_token *tok = ctx;

	tok->found = true;
	snprintf(tok->tenant, sizeof(tok->tenant), "%s", t->tenant ? t->tenant : "");
}

/*
 * The EDL token of the request's Basic credentials (user: its name, password: its secret)
 * opens tenant's lists: 0, or the status to answer with *why. m: the request's handle.
 */
static unsigned edl_auth(struct MHD_Connection *c, struct meta *m, const char *tenant,
			 const char **why)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	char cred[256];
	size_t len = 0;
	unsigned char hash[META_TOKEN_HASH_LEN];
	struct edl_token tok = { 0 };
	struct err e = ERR_INIT;
	char *colon;
	int rc;

	*why = "an EDL token is required: HTTP Basic auth, user the token's name, password the "
	       "token";
	if (!auth || strncmp(auth, BASIC, strlen(BASIC)) ||
	    sodium_base642bin((unsigned char *)cred, sizeof(cred) - 1, auth + strlen(BASIC),
			      strlen(auth + strlen(BASIC)), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0)
		return MHD_HTTP_UNAUTHORIZED;
	cred[len] = '\0';
	if (!(colon = memchr(cred, ':', len)) || memchr(cred, '\0', len)) {
		sodium_memzero(cred, sizeof(cred));
		return MHD_HTTP_UNAUTHORIZED;
	}
	*colon = '\0';
	meta_token_hash(colon + 1, strlen(colon + 1), hash);
	rc = meta_edl_token_find(m, cred, hash, take_edl_token, &tok, &e);
	sodium_memzero(cred, sizeof(cred));
	if (rc < 0 && rc != -ENOENT && rc != -EINVAL) {
		log_error("EDL token: %s", e.msg);
		*why = "the metadata store is unavailable";
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (rc < 0 || !tok.found) {
		*why = "unknown or revoked EDL token";
		return MHD_HTTP_UNAUTHORIZED;
	}
	if (strcmp(tok.tenant, tenant)) {
		*why = "this EDL token opens only its own tenant's lists";
		return MHD_HTTP_FORBIDDEN;
	}
	return 0;
}

/* Whether If-None-Match names etag (or is "*"): a list of tags, weak ones compared too. */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);

	if (!inm)
		return false;
	while (*inm) {
		size_t n;

		inm += strspn(inm, " \t,");
		if (*inm == '*')
			return true;
		if (!strncmp(inm, "W/", 2))
			inm += 2;
		n = strcspn(inm, " \t,");
		if (n == elen && !memcmp(inm, etag, n))
			return true;
		inm += n;
	}
	return false;
}

struct edl_answer {
	const char *if_none_match;
	struct MHD_Response *r;
	bool not_modified;
};

/* Makes the answer while the list is held (edl_get's callback). */
static void edl_answer(void *ctx, const struct edl_list *l)
{
	struct edl_answer *an = ctx;

	an->not_modified = etag_matches(an->if_none_match, l->etag);
	an->r = an->not_modified
			? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
			: MHD_create_response_from_buffer(l->len, (void *)l->text,
							  MHD_RESPMEM_MUST_COPY);
	if (an->r)
		MHD_add_response_header(an->r, MHD_HTTP_HEADER_ETAG, l->etag);
}

static enum MHD_Result handle_edl(struct api *a, struct MHD_Connection *c, const char *rest,
				  const char *method, size_t upload_size)
{
	struct edl_answer an = { MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_IF_NONE_MATCH),
				 NULL, false };
	char tenant[64], list[64];
	const char *why = "";
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	enum MHD_Result ret;
	unsigned status;
	int rc;

	if (!a->edl)
		return edl_refuse(a, c, MHD_HTTP_NOT_FOUND, "External Dynamic Lists are not served here");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return edl_refuse(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (upload_size)
		return edl_refuse(a, c, MHD_HTTP_BAD_REQUEST, "a GET request has no body");
	if (!edl_path(rest, tenant, list))
		return edl_refuse(a, c, MHD_HTTP_NOT_FOUND, "expected /edl/<tenant>/<list>.txt");
	if (meta_open(&m, a->data_dir, &e) < 0) {
		log_error("%s", e.msg);
		return edl_refuse(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "the metadata store is unavailable");
	}
	if ((status = edl_auth(c, m, tenant, &why))) {
		meta_close(m);
		return edl_refuse(a, c, status, why);
	}
	rc = edl_get(a->edl, m, tenant, list, time_now_ns(), edl_answer, &an, &e);
	meta_close(m);
	if (rc == -ENOENT)
		return edl_refuse(a, c, MHD_HTTP_NOT_FOUND, "no such list");
	if (rc < 0) {
		log_error("EDL %s of tenant %s: %s", list, tenant, e.msg);
		return edl_refuse(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build the list");
	}
	if (!an.r)
		return MHD_NO;
	if (an.not_modified) {
		count(a, MHD_HTTP_NOT_MODIFIED);
		ret = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, an.r);
		MHD_destroy_response(an.r);
		return ret;
	}
	return answer_ok(a, c, an.r, CONTENT_TEXT);
}

/* POST /api/v1/ingest/{source} (portal/ingest.h); *con_cls holds the request's state. */
static enum MHD_Result handle_ingest(struct api *a, struct MHD_Connection *c, const char *source,
				     const char *method, const char *data, size_t *data_size,
				     void **con_cls)
{
	struct buf answer = BUF_INIT(4096);
	enum MHD_Result ret;
	unsigned status;

	if (!a->ingest) {
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "HTTP ingest is not served here");
	}
	status = api_ingest_handle(a->ingest, c, source, method, data, data_size,
				   (struct api_ingest_request **)con_cls, &answer);
	if (!status)
		return MHD_YES; /* more of the body */
	if (status == API_INGEST_CUT)
		return MHD_NO;
	count(a, status);
	ret = respond(c, status, &answer, MHD_HTTP_METHOD_POST);
	buf_release(&answer);
	return ret;
}

/* /ack/... (portal/ackpage.h): no API token, the acknowledgement token is the credential. */
static enum MHD_Result handle_ack(struct api *a, struct MHD_Connection *c, const char *rest,
				  const char *method, const char *data, size_t *data_size,
				  void **con_cls)
{
	const struct asset_body *body = NULL;
	struct ackpage_request rq = { .method = method, .path = rest };
	struct ackpage_answer an;
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!a->ack)
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "acknowledgements are not served "
				     "here");
	if (!strcmp(method, MHD_HTTP_METHOD_POST)) {
		if ((ret = collect_body(a, c, data, data_size, con_cls, &body)) != MHD_YES || !body)
			return ret;
		if (body->too_large)
			return respond_error(a, c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
		rq.body = body->text.p;
		rq.body_len = body->text.len;
	} else if (*data_size) {
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a GET request has no body");
	}
	rq.signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Twilio-Signature");
	rq.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	rq.scheme = a->tls ? "https" : "http";
	rq.via = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "via");
	rq.now_ns = time_now_ns();
	ackpage_handle(a->ack, &rq, &an);
	if (!(r = MHD_create_response_from_buffer(an.body.len, an.body.p, MHD_RESPMEM_MUST_COPY))) {
		buf_release(&an.body);
		return MHD_NO;
	}
	buf_release(&an.body);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, an.content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
				"frame-ancestors 'none'");
	if (an.allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, an.allow);
	count(a, an.status);
	ret = MHD_queue_response(c, an.status, r);
	MHD_destroy_response(r);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;

	if (*con_cls) { /* an asset body, else an ingest request's state */
		if (!body_free(a, *con_cls))
			api_ingest_request_free(a->ingest, *con_cls);
		*con_cls = NULL;
	}
	httpguard_notify_completed(a->guard, c, con_cls, toe);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;

	httpguard_request_read(c);
	if (!strncmp(url, ACKPAGE_PATH, strlen(ACKPAGE_PATH)))
		return handle_ack(a, c, url + strlen(ACKPAGE_PATH), method, upload_data,
				  upload_data_size, con_cls);
	if (!strncmp(url, EDL_PATH, strlen(EDL_PATH)))
		return handle_edl(a, c, url + strlen(EDL_PATH), method, *upload_data_size);
	if (!strncmp(url, API_INGEST_PATH, strlen(API_INGEST_PATH)))
		return handle_ingest(a, c, url + strlen(API_INGEST_PATH), method, upload_data,
				     upload_data_size, con_cls);
	if (!strncmp(url, ASSETS_PATH, strlen(ASSETS_PATH)) &&
	    (!url[strlen(ASSETS_PATH)] || url[strlen(ASSETS_PATH)] == '/'))
		return handle_assets(a, c, url + strlen(ASSETS_PATH), method, upload_data,
				     upload_data_size, con_cls);
	if (!strncmp(url, INCIDENTS_PATH "/", strlen(INCIDENTS_PATH) + 1) && strstr(url, "/report"))
		return handle_report(a, c, url + strlen(INCIDENTS_PATH) + 1, method, upload_data,
				     upload_data_size, con_cls);
	if (!strcmp(url, NOTIFY_LOG_PATH))
		return handle_notify_log(a, c, method, upload_data_size);
	if (!strncmp(url, NOTIFY_PATH, strlen(NOTIFY_PATH)))
		return handle_notify(a, c, url + strlen(NOTIFY_PATH), method, upload_data,
				     upload_data_size, con_cls);
	if (!strncmp(url, INCIDENTS_PATH, strlen(INCIDENTS_PATH)) &&
	    (!url[strlen(INCIDENTS_PATH)] || url[strlen(INCIDENTS_PATH)] == '/'))
		return handle_incidents(a, c, url + strlen(INCIDENTS_PATH), method, upload_data,
					upload_data_size, con_cls);
	bool alerts = !strncmp(url, ALERTS_PATH, strlen(ALERTS_PATH)) &&
		      (!url[strlen(ALERTS_PATH)] || url[strlen(ALERTS_PATH)] == '/');
	bool rules = !strncmp(url, RULES_PATH, strlen(RULES_PATH));

	if (strcmp(url, "/api/v1/search") && !alerts && !rules) {
		return respond_error(a, c, MHD_HTTP_NOT_FOUND, "no such endpoint");
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET)) {
		return respond_error(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	}
	if (*upload_data_size) {
		return respond_error(a, c, MHD_HTTP_BAD_REQUEST, "a GET request has no body");
	}
	if (alerts)
		return handle_alerts(a, c, url + strlen(ALERTS_PATH));
	return rules ? handle_rules(a, c, url + strlen(RULES_PATH)) : handle_search(a, c);
}

/* ---- start and stop ---- */

static int read_pem(const char *path, const char *what, char **out, struct err *e)
{
	char *text;
	size_t len;
	int rc = config_read_file(path, what, API_PEM_MAX, &text, &len, e);

	if (rc < 0)
		return rc;
	*out = mem_strndup(text, len);
	sodium_memzero(text, len);
	mem_free(text);
	return *out ? 0 : err_set(e, -ENOMEM, "out of memory");
}

/* Where libmicrohttpd's listening socket is bound, as "1.2.3.4:P" or "[v6]:P". */
static int bound_address(struct api *a, struct err *e)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon,
							       MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) < 0)
		return err_set(e, -EIO, "api: cannot read the bound address");
	return ipaddr_format_sockaddr((struct sockaddr *)&ss, a->address);
}

static int check_plain_http(const struct sockaddr_storage *ss, const char *listen,
			    struct err *e)
{
	struct ipaddr ip;
	uint16_t port;

	if (ipaddr_from_sockaddr(&ip, (const struct sockaddr *)ss, &port) < 0 ||
	    !ipaddr_is_loopback(&ip))
		return err_set(e, -EINVAL, "api.listen: %s is not a loopback address: plain HTTP "
			       "would carry tokens and events in clear; set api.tls.cert and "
			       "api.tls.key, or listen on 127.0.0.1 or [::1]", listen);
	return 0;
}

int api_start(struct api **ap, const struct api_config *c, struct err *e)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss;
	struct api *a;
	unsigned sslen;
	int rc;

	*ap = NULL;
	if ((rc = ipaddr_parse_endpoint(c->listen, &ss, &sslen, e)) < 0)
		return rc;
	if (!c->tls_cert != !c->tls_key)
		return err_set(e, -EINVAL, "api.tls: cert and key go together (HTTPS needs both)");
	if (!c->tls_cert && (rc = check_plain_http(&ss, c->listen, e)) < 0)
		return rc;
	if (c->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return err_set(e, -ENOTSUP, "api: this libmicrohttpd has no TLS support");
	if (!(a = mem_calloc(1, sizeof(*a))))
		return err_set(e, -ENOMEM, "api: out of memory");
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->idle, NULL);
	for (unsigned i = 0; i < API_RESULTS; i++)
		atomic_init(&a->requests[i], 0);
	if (!(a->data_dir = mem_strdup(c->data_dir)) ||
	    (c->keys_master && !(a->keys_master = mem_strdup(c->keys_master))) ||
	    (c->keys_signing && !(a->keys_signing = mem_strdup(c->keys_signing)))) {
		rc = err_set(e, -ENOMEM, "api: out of memory");
		goto fail;
	}
	if (c->tls_cert && ((rc = read_pem(c->tls_cert, "certificate", &a->pem_cert, e)) < 0 ||
			    (rc = read_pem(c->tls_key, "private key", &a->pem_key, e)) < 0))
		goto fail;
	a->tls = c->tls_cert != NULL;
	a->ingest = c->ingest;
	a->edl = c->edl;
	a->sla = c->sla;
	if (c->ack && (rc = ackpage_new(&a->ack, c->ack, e)) < 0)
		goto fail;
	if ((rc = httpguard_new(&a->guard, API_REQUEST_S, e)) < 0 ||
	    (rc = firstreport_new(&a->reports, c->report_templates, e)) < 0)
		goto fail;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (a->tls)
		flags |= MHD_USE_TLS;
	a->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, a, MHD_OPTION_EXTERNAL_LOGGER, httpguard_mhd_log, a->guard,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)API_MAX_PER_ADDRESS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_TIMEOUT_S,
		MHD_OPTION_NOTIFY_CONNECTION, httpguard_notify_connection, a->guard,
		MHD_OPTION_NOTIFY_COMPLETED, completed, a,
		a->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, a->pem_cert,
		MHD_OPTION_HTTPS_MEM_KEY, a->pem_key, MHD_OPTION_END);
	if (!a->daemon) {
		rc = err_set(e, -EADDRINUSE, "api %s: cannot start the HTTP server (address in "
			     "use, or a certificate or key libmicrohttpd cannot read)", c->listen);
		goto fail;
	}
	if ((rc = bound_address(a, e)) < 0)
		goto fail;
	if ((rc = metrics_register("koban_api_requests_total", METRICS_COUNTER,
				   "Requests to the API listener, by result.", collect_requests,
				   a)) < 0) {
		err_set(e, rc, "api: cannot register its metric: %s", strerror(-rc));
		goto fail;
	}
	a->metrics = true;
	log_info("API on %s://%s", a->tls ? "https" : "http", a->address);
	*ap = a;
	return 0;
fail:
	api_stop(a);
	return rc;
}

const char *api_address(const struct api *a)
{
	return a->address;
}

const char *api_scheme(const struct api *a)
{
	return a->tls ? "https" : "http";
}

void api_stop(struct api *a)
{
	if (!a)
		return;
	if (a->metrics)
		metrics_unregister(a); /* first: a scrape may be reading a */
	if (a->daemon)
		MHD_stop_daemon(a->daemon); /* closes the pipes: the searches stop writing */
	pthread_mutex_lock(&a->lock);
	while (a->searches)
		pthread_cond_wait(&a->idle, &a->lock);
	pthread_mutex_unlock(&a->lock);
	httpguard_free(a->guard); /* after the daemon, whose callbacks use it */
	firstreport_free(a->reports);
	ackpage_free(a->ack);
	if (a->pem_key)
		sodium_memzero(a->pem_key, strlen(a->pem_key));
	mem_free(a->pem_key);
	mem_free(a->pem_cert);
	mem_free(a->data_dir);
	mem_free(a->keys_master);
	mem_free(a->keys_signing);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	mem_free(a);
}
