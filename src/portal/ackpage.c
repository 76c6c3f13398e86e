#include "portal/ackpage.h"
#include "core/compat.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <sodium.h>

#define LOG_MODULE "ack"
#include "core/arena.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "notify/channel.h"
#include "notify/phone.h"
#include "soc/level.h"
#include "store/meta.h"

#define ANSWER_MAX (64u << 10)
#define SIGNED_MAX (64u << 10)    /* URL + parameters of a callback */
#define WHO_MAX 256
#define CONTENT_HTML "text/html; charset=utf-8"
#define CONTENT_XML "text/xml; charset=utf-8"
#define PHONE_PATH "phone/"
#define STATUS_PATH "phone-status/"

struct ackpage {
	char *data_dir;
	char *base_url;             /* without a trailing '/', NULL: from the request */
	struct ack_key *key;
	char phone_token[CHANNEL_SECRET_MAX];
	bool phone;                 /* phone_token set */
	char language[16];
	struct ack_hooks hooks;
	int (*recipient)(void *ctx, const char *tenant, int64_t notice, char *out, size_t max);
	void *recipient_ctx;
	void (*acked)(void *ctx, const char *tenant, int64_t incident, int64_t cancelled);
	void *acked_ctx;
};

/* ---- life cycle ---- */

int ackpage_new(struct ackpage **out, const struct ackpage_config *c, struct err *e)
{
	struct ackpage *p;
	char path[4096];
	int rc;

	*out = NULL;
	if (!(p = mem_calloc(1, sizeof(*p))))
		return err_set(e, -ENOMEM, "out of memory");
	if (!(p->data_dir = mem_strdup(c->data_dir)) ||
	    (c->base_url && !(p->base_url = mem_strdup(c->base_url)))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if (p->base_url)
		for (size_t n = strlen(p->base_url); n && p->base_url[n - 1] == '/'; n--)
			p->base_url[n - 1] = '\0';
	if (c->key_file)
		snprintf(path, sizeof(path), "%s", c->key_file);
	else if ((size_t)snprintf(path, sizeof(path), "%s/" ACK_KEY_FILE, c->data_dir) >= sizeof(path)) {
		rc = err_set(e, -ENAMETOOLONG, "%s: path too long", c->data_dir);
		goto fail;
	}
	if ((rc = ack_key_load(&p->key, path, e)) < 0)
		goto fail;
	if (c->phone_token_file) {
		if ((rc = fileio_read_secret(c->phone_token_file, "the phone channel's auth token",
					     p->phone_token, sizeof(p->phone_token), e)) < 0)
			goto fail;
		p->phone = true;
	}
	snprintf(p->language, sizeof(p->language), "%s",
		 c->phone_language && !strcmp(c->phone_language, "en-US") ? "en-US" : "ja-JP");
	p->hooks = c->hooks;
	p->recipient = c->recipient;
	p->recipient_ctx = c->recipient_ctx;
	p->acked = c->acked;
	p->acked_ctx = c->acked_ctx;
	*out = p;
	return 0;
fail:
	ackpage_free(p);
	return rc;
}

void ackpage_free(struct ackpage *p)
{
	if (!p)
		return;
	ack_key_free(p->key);
	sodium_memzero(p->phone_token, sizeof(p->phone_token));
	mem_free(p->data_dir);
	mem_free(p->base_url);
	mem_free(p);
}

/* ---- forms and signatures ---- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes s[0..n) into the arena: '+' is a space, %XX a byte. */
static int form_decode(const char *s, size_t n, struct arena *a, const char **out, size_t *len)
{
	char *d = arena_alloc(a, n + 1);
	size_t k = 0;

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			d[k++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return -EINVAL;
			d[k++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			d[k++] = s[i];
		}
	}
	d[k] = '\0';
	*out = d;
	*len = k;
	return 0;
}

int ackpage_form_parse(const char *body, size_t len, struct arena *a, struct ackpage_param *out,
		       size_t max)
{
	size_t n = 0;
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		int rc;

		if (stop > p) {
			if (n == max)
				return -EINVAL;
			if ((rc = form_decode(p, (size_t)((eq ? eq : stop) - p), a, &out[n].name,
					      &out[n].name_len)) < 0 ||
			    (rc = form_decode(eq ? eq + 1 : stop, eq ? (size_t)(stop - eq - 1) : 0, a,
					      &out[n].value, &out[n].value_len)) < 0)
				return rc;
			n++;
		}
		p = amp ? amp + 1 : end;
	}
	return (int)n;
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, MIN(an, bn));

	return c ? c : an < bn ? -1 : an > bn;
}

static int param_cmp(const void *x, const void *y)
{
	const struct ackpage_param *a = x, *b = y;
	int c = bytes_cmp(a->name, a->name_len, b->name, b->name_len);

	return c ? c : bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

void ackpage_twilio_signature(const char *token, const char *url, struct ackpage_param *params,
			      size_t n, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM op[2] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA1", 0),
			     OSSL_PARAM_construct_end() };
	size_t mdl = 0;

	out[0] = '\0';
	qsort(params, n, sizeof(*params), param_cmp);
	if (!ctx || !EVP_MAC_init(ctx, (const unsigned char *)token, strlen(token), op) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)url, strlen(url)))
		goto done;
	for (size_t i = 0; i < n; i++)
		if (!EVP_MAC_update(ctx, (const unsigned char *)params[i].name, params[i].name_len) ||
		    !EVP_MAC_update(ctx, (const unsigned char *)params[i].value, params[i].value_len))
			goto done;
	if (!EVP_MAC_final(ctx, md, &mdl, sizeof(md)))
		goto done;
	md_len = (unsigned)mdl;
	sodium_bin2base64(out, 32, md, md_len, sodium_base64_VARIANT_ORIGINAL);
done:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

/* ---- what the incident says ---- */

struct incident_view {
	bool found;
	char title[META_INCIDENT_TEXT_MAX];
	char status[32];
	int level;
	int64_t acknowledged_ns;
	char by[WHO_MAX];       /* who acknowledged, from the timeline */
	char how[16];
};

static void take_incident(void *ctx, const struct meta_incident *inc)
{
	struct incident_view *v = ctx;

	v->found = true;
	snprintf(v->title, sizeof(v->title), "%s", inc->title ? inc->title : "");
	snprintf(v->status, sizeof(v->status), "%s", inc->status ? inc->status : "");
	v->level = inc->level;
	v->acknowledged_ns = inc->acknowledged_ns;
}

static void take_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct incident_view *v = ctx;
	const char *how;

	if (!strcmp(en->action, "acknowledged")) {
		snprintf(v->by, sizeof(v->by), "%s", en->actor);
		v->how[0] = '\0';
		if (en->detail && (how = strstr(en->detail, "\"how\":\"")))
			snprintf(v->how, sizeof(v->how), "%.*s", (int)strcspn(how + 7, "\""),
				 how + 7);
	} else if (!v->by[0] && !strcmp(en->action, "clock") && en->detail &&
		   strstr(en->detail, "\"acknowledged\"")) {
		snprintf(v->by, sizeof(v->by), "%s", en->actor); /* set by an analyst */
	}
}

static int incident_read(struct meta *m, const struct ack_claim *cl, struct incident_view *v,
			 struct err *e)
{
	int rc;

	memset(v, 0, sizeof(*v));
	rc = meta_incident_get(m, cl->tenant, cl->incident, take_incident, v, e);
	if (rc == 0 && v->acknowledged_ns)
		rc = meta_incident_timeline(m, cl->tenant, cl->incident, take_entry, v, e);
	return rc;
}

/* The recipient of the notice (the engine's), else dflt. */
static void who_of(struct ackpage *p, const struct ack_claim *cl, const char *dflt, char *who)
{
	who[0] = '\0';
	if (p->recipient && p->recipient(p->recipient_ctx, cl->tenant, cl->notice, who, WHO_MAX) < 0)
		who[0] = '\0';
	if (!who[0])
		snprintf(who, WHO_MAX, "%s", dflt && *dflt ? dflt : "link");
}

/*
 * Sets the acknowledged clock, cancels the pending notices of the incident's chains (all
 * planned before now) and logs "acknowledged" (and the escalation stopped) in one
 * transaction, then tells the engine. *set false: it was acknowledged already and no chain
 * planned since (a raise of the level) was pending (nothing written).
 */
static int acknowledge(struct ackpage *p, struct meta *m, const struct ack_claim *cl,
		       const char *who, const char *how, int64_t now_ns, bool *set, struct err *e)
{
	struct buf detail = BUF_INIT(1024), why = BUF_INIT(1024);
	struct meta_incident_entry en = { 0 };
	int64_t cancelled = 0;
	int rc;

	*set = false;
	rc = buf_addf(&detail, "{\"how\":\"%s\",\"notice\":%lld,\"by\":", how,
		      (long long)cl->notice);
	rc = err_first(rc, json_add_string(&detail, who, strlen(who)));
	rc = err_first(rc, buf_addch(&detail, '}'));
	rc = err_first(rc, buf_addf(&why, "acknowledged by %s (%s, notice %lld)", who,
				    !strcmp(how, "web") ? "web link" : how, (long long)cl->notice));
	if (rc < 0) {
		rc = err_set(e, rc, "out of memory");
		goto done;
	}
	if ((rc = meta_begin(m, e)) < 0)
		goto done;
	rc = meta_incident_clock(m, cl->tenant, cl->incident, META_CLOCK_ACKNOWLEDGED, now_ns, who,
				 set, e);
	if (rc == 0)
		rc = meta_notice_cancel(m, cl->tenant, cl->incident, now_ns, now_ns, &cancelled, e);
	if (rc == 0 && (*set || cancelled > 0)) {
		*set = true; /* the first acknowledgement, or one of a chain planned after it */
		en.incident = cl->incident;
		en.at_ns = now_ns;
		en.actor = who;
		en.action = "acknowledged";
		en.detail = detail.p;
		en.why = why.p;
		rc = meta_incident_log(m, cl->tenant, &en, e);
	}
	if (rc == 0 && cancelled > 0) {
		char stop_why[160], stop_detail[64];

		snprintf(stop_why, sizeof(stop_why), "Escalation stopped: the incident was "
			 "acknowledged; %lld notice%s not sent.", (long long)cancelled,
			 cancelled == 1 ? "" : "s");
		snprintf(stop_detail, sizeof(stop_detail), "{\"cancelled\":%lld}",
			 (long long)cancelled);
		en = (struct meta_incident_entry){ .incident = cl->incident, .at_ns = now_ns,
						   .actor = "notify", .action = "notify",
						   .detail = stop_detail, .why = stop_why };
		rc = meta_incident_log(m, cl->tenant, &en, e);
	}
	if (rc == 0)
		rc = meta_commit(m, e);
	if (rc < 0) {
		meta_rollback(m);
		*set = false;
		cancelled = 0;
	}
	if (cancelled > 0 && p->acked)
		p->acked(p->acked_ctx, cl->tenant, cl->incident, cancelled);
done:
	buf_release(&detail);
	buf_release(&why);
	return rc;
}

/* ---- pages ---- */

static void html_add(struct buf *b, const char *s)
{
	(void)phone_xml_add(b, s, strlen(s));
}

static void page_head(struct buf *b, const char *title)
{
	(void)buf_adds(b, "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">"
		       "<meta name=\"viewport\" content=\"width=device-width\">"
		       "<meta name=\"robots\" content=\"noindex\"><title>koban: ");
	html_add(b, title);
	(void)buf_adds(b, "</title><style>body{font-family:sans-serif;max-width:40em;margin:2em "
		       "auto;padding:0 1em;line-height:1.5}button{font-size:1.2em;padding:.5em "
		       "1.5em}.en{color:#555}</style></head><body>\n");
}

static void page_tail(struct buf *b)
{
	(void)buf_adds(b, "</body></html>\n");
}

/* "2026-12-01 13:21:42 JST (2026-12-01T04:21:42Z)": Japan's time first, then UTC. */
static void when_add(struct buf *b, int64_t ns)
{
	const struct tz *jst = tz_get("Asia/Tokyo", 10, NULL);
	int64_t s = ns - ns % 1000000000;
	char utc[TIME_RFC3339_LEN], local[TIME_RFC3339_LEN];

	time_format_rfc3339(s, utc);
	if (jst) {
		time_format_rfc3339(s + (int64_t)tz_offset_at(jst, s) * 1000000000, local);
		(void)buf_addf(b, "%.10s %.8s JST (", local, local + 11);
	}
	html_add(b, utc);
	if (jst)
		(void)buf_addch(b, ')');
}

static unsigned page_refused(struct ackpage_answer *an, unsigned status, int rc)
{
	const char *ja = rc == -ESTALE ? "このリンクの有効期限が切れています。"
			 : rc == -EPERM ? "このリンクは正しくありません（署名が一致しません）。"
			 : rc == -ENOENT ? "このリンクのインシデントは見つかりません。"
			 : rc == -EINVAL ? "このリンクの形式が正しくありません。"
					 : "確認を記録できませんでした。時間をおいてもう一度お試しください。";
	const char *en = rc == -ESTALE ? "This acknowledgement link has expired."
			 : rc == -EPERM ? "This link is not genuine (its signature does not match)."
			 : rc == -ENOENT ? "The incident of this link was not found."
			 : rc == -EINVAL ? "This link is malformed."
					 : "The acknowledgement could not be recorded; please try "
					   "again later.";

	an->status = status;
	an->content_type = CONTENT_HTML;
	page_head(&an->body, "確認できません / Cannot acknowledge");
	(void)buf_adds(&an->body, "<h1>確認できません <span class=\"en\">/ Cannot acknowledge</span>"
		       "</h1>\n<p>");
	html_add(&an->body, ja);
	(void)buf_adds(&an->body, "</p>\n<p class=\"en\">");
	html_add(&an->body, en);
	(void)buf_adds(&an->body, "</p>\n<p>SOC にご連絡ください。 <span class=\"en\">Please "
		       "contact the SOC.</span></p>\n");
	page_tail(&an->body);
	return status;
}

static void incident_facts(struct buf *b, const struct incident_view *v)
{
	(void)buf_adds(b, "<p><b>");
	html_add(b, v->title);
	(void)buf_adds(b, "</b></p>\n<p>レベル <span class=\"en\">/ Level</span>: ");
	html_add(b, level_name(v->level));
	(void)buf_adds(b, " &middot; 状態 <span class=\"en\">/ Status</span>: ");
	html_add(b, v->status);
	(void)buf_adds(b, "</p>\n");
}

static void acknowledged_by(struct buf *b, const struct incident_view *v)
{
	(void)buf_adds(b, "<p>確認者 <span class=\"en\">/ By</span>: ");
	html_add(b, v->by[0] ? v->by : "?");
	if (v->how[0]) {
		(void)buf_adds(b, " (");
		html_add(b, v->how);
		(void)buf_adds(b, ")");
	}
	(void)buf_adds(b, "<br>日時 <span class=\"en\">/ At</span>: ");
	when_add(b, v->acknowledged_ns);
	(void)buf_adds(b, "</p>\n");
}

static unsigned page_confirm(struct ackpage_answer *an, const struct incident_view *v)
{
	struct buf *b = &an->body;

	an->status = 200;
	an->content_type = CONTENT_HTML;
	page_head(b, "インシデントの確認 / Acknowledge an incident");
	(void)buf_adds(b, "<h1>インシデントの確認 <span class=\"en\">/ Acknowledge an incident"
		       "</span></h1>\n");
	incident_facts(b, v);
	if (v->acknowledged_ns) {
		(void)buf_adds(b, "<p>このインシデントはすでに確認されています。 <span class=\"en\">"
			       "This incident has already been acknowledged.</span></p>\n");
		acknowledged_by(b, v);
	} else {
		(void)buf_adds(b, "<p>内容を確認したら、ボタンを押してください。押すまで確認は記録さ"
			       "れません。<br><span class=\"en\">Press the button once you have read "
			       "this. Nothing is recorded until you do.</span></p>\n"
			       "<form method=\"post\"><button type=\"submit\" name=\"ack\" "
			       "value=\"1\">確認しました <span class=\"en\">/ Acknowledge</span>"
			       "</button></form>\n");
	}
	page_tail(b);
	return 200;
}

static unsigned page_done(struct ackpage_answer *an, const struct incident_view *v, bool now)
{
	struct buf *b = &an->body;

	an->status = 200;
	an->content_type = CONTENT_HTML;
	page_head(b, now ? "確認しました / Acknowledged" : "確認済み / Already acknowledged");
	if (now)
		(void)buf_adds(b, "<h1>確認を記録しました <span class=\"en\">/ Acknowledged</span>"
			       "</h1>\n");
	else
		(void)buf_adds(b, "<h1>すでに確認済みです <span class=\"en\">/ Already acknowledged"
			       "</span></h1>\n<p>何も変更していません。 <span class=\"en\">Nothing "
			       "was changed.</span></p>\n");
	incident_facts(b, v);
	acknowledged_by(b, v);
	page_tail(b);
	return 200;
}

static unsigned internal_error(struct ackpage_answer *an, const char *what, const struct err *e)
{
	log_error("%s: %s", what, e->msg);
	buf_reset(&an->body);
	return page_refused(an, 500, -EIO);
}

static unsigned handle_page(struct ackpage *p, const struct ackpage_request *rq,
			    struct ackpage_answer *an)
{
	struct err e = ERR_INIT;
	struct ack_claim cl;
	struct incident_view v;
	struct meta *m = NULL;
	char who[WHO_MAX];
	const char *how;
	bool set = false;
	bool post = !strcmp(rq->method, "POST");
	unsigned status;
	int rc;

	if (!post && strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD")) {
		an->allow = "GET, HEAD, POST";
		return page_refused(an, 405, -EINVAL);
	}
	if ((rc = ack_token_check(p->key, rq->path, strlen(rq->path), rq->now_ns, &cl, &e)) < 0) {
		log_info("acknowledgement link refused: %s", e.msg);
		return page_refused(an, 403, rc);
	}
	if ((rc = meta_open(&m, p->data_dir, &e)) < 0)
		return internal_error(an, "koban.db", &e);
	if ((rc = incident_read(m, &cl, &v, &e)) < 0) {
		status = rc == -ENOENT ? page_refused(an, 404, -ENOENT)
				       : internal_error(an, "incident", &e);
		goto done;
	}
	if (!post) {
		status = page_confirm(an, &v);
		goto done;
	}
	who_of(p, &cl, NULL, who);
	how = rq->via && !strcmp(rq->via, "teams") ? "teams" : "web";
	if ((rc = acknowledge(p, m, &cl, who, how, rq->now_ns, &set, &e)) < 0 ||
	    (rc = incident_read(m, &cl, &v, &e)) < 0) {
		status = internal_error(an, "acknowledge", &e);
		goto done;
	}
	if (set)
		log_info("tenant %s incident %lld acknowledged by %s (%s, notice %lld)", cl.tenant,
			 (long long)cl.incident, who, how, (long long)cl.notice);
	status = page_done(an, &v, set);
done:
	meta_close(m);
	return status;
}

/* ---- phone callbacks ---- */

static const char *param_get(const struct ackpage_param *pa, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (pa[i].name_len == strlen(name) && !memcmp(pa[i].name, name, pa[i].name_len))
			return pa[i].value;
	return NULL;
}

static bool signature_equal(const char *want, const char *got)
{
	return want[0] && strlen(got) == strlen(want) && sodium_memcmp(want, got, strlen(want)) == 0;
}

/*
 * The URL with its port the other way round, as Twilio's own validators try it: without the
 * port when it names one, with the scheme's default port (443, 80) when it does not.
 */
static int other_port(struct buf *url)
{
	char *host = strstr(url->p, "://"), *end, *colon;
	struct buf alt = BUF_INIT(url->max);
	int rc;

	if (!host)
		return -EINVAL;
	host += 3;
	end = host + strcspn(host, "/");
	colon = memchr(host, ':', (size_t)(end - host));
	if (host < end && host[0] == '[') /* an IPv6 literal: its port follows the ']' */
		colon = (colon = memchr(host, ']', (size_t)(end - host))) && colon + 1 < end &&
				colon[1] == ':' ? colon + 1 : NULL;
	if (colon)
		rc = buf_addf(&alt, "%.*s%s", (int)(colon - url->p), url->p, end);
	else
		rc = buf_addf(&alt, "%.*s:%s%s", (int)(end - url->p), url->p,
			      !strncmp(url->p, "https:", 6) ? "443" : "80", end);
	if (rc == 0) {
		buf_reset(url);
		rc = buf_add(url, alt.p, alt.len);
	}
	buf_release(&alt);
	return rc;
}

/* Parses the body and checks its signature: 0, or the refusal's status (403, 400, 413). */
static unsigned phone_verify(struct ackpage *p, const struct ackpage_request *rq,
			     struct arena *ar, struct ackpage_param *pa, size_t *n)
{
	struct ackpage_param sorted[ACKPAGE_PARAMS_MAX];
	struct buf url = BUF_INIT(ACK_TOKEN_MAX + 1024);
	char want[32];
	int k;

	*n = 0;
	if (rq->body_len > ACKPAGE_BODY_MAX)
		return 413;
	if ((k = ackpage_form_parse(rq->body ? rq->body : "", rq->body_len, ar, pa,
				    ACKPAGE_PARAMS_MAX)) < 0)
		return 400;
	*n = (size_t)k;
	if (!p->phone || !rq->signature) {
		log_warn("phone callback refused: %s", p->phone ? "no X-Twilio-Signature"
			 : "no phone auth token is configured");
		return 403;
	}
	if (p->base_url)
		(void)buf_addf(&url, "%s" ACKPAGE_PATH "%s", p->base_url, rq->path);
	else if (rq->host)
		(void)buf_addf(&url, "%s://%s" ACKPAGE_PATH "%s", rq->scheme ? rq->scheme : "https",
			       rq->host, rq->path);
	if (!url.len) {
		buf_release(&url);
		log_warn("phone callback refused: no Host header and no notify.ack_url");
		return 403;
	}
	memcpy(sorted, pa, *n * sizeof(*pa));
	ackpage_twilio_signature(p->phone_token, url.p, sorted, *n, want);
	if (!signature_equal(want, rq->signature) && other_port(&url) == 0)
		ackpage_twilio_signature(p->phone_token, url.p, sorted, *n, want);
	buf_release(&url);
	if (!signature_equal(want, rq->signature)) {
		log_warn("phone callback refused: its X-Twilio-Signature does not match");
		return 403;
	}
	return 0;
}

static unsigned twiml_answer(struct ackpage_answer *an, unsigned status)
{
	an->status = status;
	an->content_type = CONTENT_XML;
	return status;
}

static unsigned plain_refusal(struct ackpage_answer *an, unsigned status, const char *text)
{
	an->status = status;
	an->content_type = "text/plain; charset=utf-8";
	(void)buf_adds(&an->body, text);
	return status;
}

static unsigned handle_phone(struct ackpage *p, const struct ackpage_request *rq,
			     const char *tok, struct ackpage_answer *an)
{
	struct ackpage_param pa[ACKPAGE_PARAMS_MAX];
	struct arena ar;
	struct err e = ERR_INIT;
	struct ack_claim cl;
	struct incident_view v;
	struct meta *m = NULL;
	bool ja = phone_lang_ja(p->language), set = false;
	char who[WHO_MAX];
	const char *digits;
	unsigned status;
	size_t n;
	int rc;

	arena_init(&ar, 4096, 4 * ACKPAGE_BODY_MAX);
	if ((status = phone_verify(p, rq, &ar, pa, &n))) {
		plain_refusal(an, status, "refused\n");
		goto out;
	}
	rc = ack_token_check(p->key, tok, strlen(tok), rq->now_ns, &cl, &e);
	if (rc == -ESTALE) {
		phone_twiml_reply(p->language, NULL, ja ? "この確認の有効期限は切れています。SOC に"
				  "ご連絡ください。" : "This acknowledgement has expired. Please "
				  "contact the SOC.", &an->body);
		status = twiml_answer(an, 200);
		goto out;
	}
	if (rc < 0) {
		log_warn("phone callback refused: %s", e.msg);
		status = plain_refusal(an, 403, "refused\n");
		goto out;
	}
	if ((rc = meta_open(&m, p->data_dir, &e)) < 0 || (rc = incident_read(m, &cl, &v, &e)) < 0) {
		log_error("phone callback of tenant %s incident %lld: %s", cl.tenant,
			  (long long)cl.incident, e.msg);
		status = plain_refusal(an, rc == -ENOENT ? 404 : 500, "not available\n");
		goto out;
	}
	digits = param_get(pa, n, "Digits");
	if (digits && !strcmp(digits, PHONE_ACK_DIGIT)) {
		who_of(p, &cl, param_get(pa, n, "To"), who);
		if ((rc = acknowledge(p, m, &cl, who, "phone", rq->now_ns, &set, &e)) < 0) {
			log_error("acknowledge: %s", e.msg);
			status = plain_refusal(an, 500, "not available\n");
			goto out;
		}
		if (set)
			log_info("tenant %s incident %lld acknowledged by %s (phone, notice %lld)",
				 cl.tenant, (long long)cl.incident, who, (long long)cl.notice);
		phone_twiml_reply(p->language, NULL,
				  set ? (ja ? "確認を記録しました。ありがとうございました。"
					    : "Acknowledged. Thank you.")
				      : (ja ? "このインシデントはすでに確認済みです。"
					    : "This incident was already acknowledged."),
				  &an->body);
	} else { /* another key, or none: say it again */
		struct buf speech = BUF_INIT(PHONE_TWIML_MAX), url = BUF_INIT(ACK_TOKEN_MAX + 1024);
		struct phone_prompt pr = { NULL, p->language, NULL, 1, NULL };

		if (ja)
			(void)buf_addf(&speech, "koban からの連絡です。レベル %s のインシデント、%s。",
				       level_name(v.level), v.title);
		else
			(void)buf_addf(&speech, "This is koban. A level %s incident: %s.",
				       level_name(v.level), v.title);
		if (p->base_url)
			(void)buf_addf(&url, "%s" ACKPAGE_PATH "%s", p->base_url, rq->path);
		else
			(void)buf_addf(&url, "%s://%s" ACKPAGE_PATH "%s",
				       rq->scheme ? rq->scheme : "https", rq->host, rq->path);
		pr.speech = speech.p;
		pr.action = url.p;
		(void)phone_twiml(&pr, &an->body);
		buf_release(&speech);
		buf_release(&url);
	}
	status = twiml_answer(an, 200);
out:
	meta_close(m);
	arena_release(&ar);
	return status;
}

static const char *const call_statuses[] = {
	"queued", "initiated", "ringing", "in-progress", "answered", "completed", "busy",
	"no-answer", "failed", "canceled",
};

static unsigned handle_status(struct ackpage *p, const struct ackpage_request *rq,
			      const char *tok, struct ackpage_answer *an)
{
	struct ackpage_param pa[ACKPAGE_PARAMS_MAX];
	struct arena ar;
	struct err e = ERR_INIT;
	struct ack_claim cl;
	const char *st, *code;
	char reason[256] = "";
	bool known = false;
	unsigned status;
	size_t n;
	int rc;

	arena_init(&ar, 4096, 4 * ACKPAGE_BODY_MAX);
	if ((status = phone_verify(p, rq, &ar, pa, &n))) {
		plain_refusal(an, status, "refused\n");
		goto out;
	}
	/* an expired token still reports how its call went: the signature vouches for it */
	rc = ack_token_check(p->key, tok, strlen(tok), rq->now_ns, &cl, &e);
	if (rc < 0 && rc != -ESTALE) {
		log_warn("phone status callback refused: %s", e.msg);
		status = plain_refusal(an, 403, "refused\n");
		goto out;
	}
	st = param_get(pa, n, "CallStatus");
	for (size_t i = 0; st && i < ARRAY_SIZE(call_statuses); i++)
		known = known || !strcmp(st, call_statuses[i]);
	if (!known) {
		status = plain_refusal(an, 400, "unknown CallStatus\n");
		goto out;
	}
	if ((code = param_get(pa, n, "ErrorCode")) && *code)
		snprintf(reason, sizeof(reason), "Twilio error %.16s", code);
	else if ((code = param_get(pa, n, "SipResponseCode")) && *code &&
		 strcmp(st, "completed") && strcmp(st, "in-progress"))
		snprintf(reason, sizeof(reason), "SIP %.16s", code);
	for (char *s = reason; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
	log_info("tenant %s notice %lld: call %s%s%s", cl.tenant, (long long)cl.notice, st,
		 reason[0] ? ", " : "", reason);
	if (p->hooks.status)
		p->hooks.status(p->hooks.ctx, cl.tenant, cl.notice, st, reason);
	an->status = status = 204;
	an->content_type = "text/plain; charset=utf-8";
out:
	arena_release(&ar);
	return status;
}

unsigned ackpage_handle(struct ackpage *p, const struct ackpage_request *rq,
			struct ackpage_answer *an)
{
	const char *path = rq->path;

	buf_init(&an->body, ANSWER_MAX);
	an->allow = NULL;
	an->content_type = CONTENT_HTML;
	if (!strncmp(path, PHONE_PATH, strlen(PHONE_PATH)) ||
	    !strncmp(path, STATUS_PATH, strlen(STATUS_PATH))) {
		bool phone = !strncmp(path, PHONE_PATH, strlen(PHONE_PATH));
		const char *tok = path + strlen(phone ? PHONE_PATH : STATUS_PATH);

		if (strcmp(rq->method, "POST")) {
			an->allow = "POST";
			return plain_refusal(an, 405, "method not allowed\n");
		}
		return phone ? handle_phone(p, rq, tok, an) : handle_status(p, rq, tok, an);
	}
	if (rq->body_len > ACKPAGE_BODY_MAX)
		return page_refused(an, 413, -EINVAL);
	return handle_page(p, rq, an);
}
