#include "notify/phone.h"
#include "core/compat.h"

#include <curl/curl.h>
#include <sodium.h>

#define LOG_MODULE "phone"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "notify/channel.h"

#define PHONE_URL_DEFAULT "https://api.twilio.com"
#define PHONE_URL_MAX 512
#define PHONE_SID_MAX 64
#define PHONE_VOICE_MAX 64
#define PHONE_BODY_MAX (64u << 10)     /* the form we send */
#define PHONE_ANSWER_MAX (64u << 10)   /* Twilio's answer */
#define PHONE_CONNECT_S 10L
#define PHONE_TRANSFER_S 30L
#define PHONE_GATHER_S 10              /* seconds <Gather> waits for the key */

struct phone {
	char name[64];
	char url[PHONE_URL_MAX];
	char sid[PHONE_SID_MAX];
	char token[CHANNEL_SECRET_MAX];
	char from[20];
	char language[16];
	char voice[PHONE_VOICE_MAX];
	char ca_file[PHONE_URL_MAX];
	char ack_base[PHONE_URL_MAX];
	int repeat, timeout_s;
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
};

/* ---- TwiML (pure) ---- */

bool phone_lang_ja(const char *language)
{
	return language && !strncmp(language, "ja", 2) && (!language[2] || language[2] == '-');
}

bool phone_e164_valid(const char *s)
{
	size_t n;

	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	for (n = 1; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n - 1 >= 2 && n - 1 <= 15;
}

int phone_xml_add(struct buf *out, const char *s, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '&': rc = buf_adds(out, "&amp;"); break;
		case '<': rc = buf_adds(out, "&lt;"); break;
		case '>': rc = buf_adds(out, "&gt;"); break;
		case '"': rc = buf_adds(out, "&quot;"); break;
		case '\'': rc = buf_adds(out, "&apos;"); break;
		default:
			rc = buf_addch(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
		}
	}
	return rc;
}

static int say_open(struct buf *out, const char *language, const char *voice, int loop)
{
	int rc = buf_adds(out, "<Say language=\"");

	rc = err_first(rc, phone_xml_add(out, language, strlen(language)));
	rc = err_first(rc, buf_adds(out, "\""));
	if (voice && *voice) {
		rc = err_first(rc, buf_adds(out, " voice=\""));
		rc = err_first(rc, phone_xml_add(out, voice, strlen(voice)));
		rc = err_first(rc, buf_adds(out, "\""));
	}
	if (loop > 1)
		rc = err_first(rc, buf_addf(out, " loop=\"%d\"", loop));
	return err_first(rc, buf_adds(out, ">"));
}

static int say(struct buf *out, const char *language, const char *voice, int loop,
	       const char *text)
{
	int rc = say_open(out, language, voice, loop);

	rc = err_first(rc, phone_xml_add(out, text, strlen(text)));
	return err_first(rc, buf_adds(out, "</Say>"));
}

#define TWIML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"

int phone_twiml(const struct phone_prompt *p, struct buf *out)
{
	bool ja = phone_lang_ja(p->language);
	int repeat = p->repeat < 1 ? 1 : MIN(p->repeat, PHONE_REPEAT_MAX);
	size_t start = out->len;
	int rc = buf_adds(out, TWIML_HEAD);

	if (p->action) {
		rc = err_first(rc, buf_addf(out, "<Gather input=\"dtmf\" numDigits=\"1\" "
					    "timeout=\"%d\" action=\"", PHONE_GATHER_S));
		rc = err_first(rc, phone_xml_add(out, p->action, strlen(p->action)));
		rc = err_first(rc, buf_adds(out, "\" method=\"POST\">"));
		rc = err_first(rc, say_open(out, p->language, p->voice, repeat));
		rc = err_first(rc, phone_xml_add(out, p->speech, strlen(p->speech)));
		rc = err_first(rc, buf_adds(out, ja ? " 確認した場合は、1を押してください。"
						    : " To acknowledge, press 1."));
		rc = err_first(rc, buf_adds(out, "</Say></Gather>"));
		rc = err_first(rc, say(out, p->language, p->voice, 1,
				       ja ? "入力がありませんでした。未確認のまま終了します。"
					  : "No key was pressed. The alert stays unacknowledged. "
					    "Goodbye."));
	} else {
		rc = err_first(rc, say(out, p->language, p->voice, repeat, p->speech));
	}
	rc = err_first(rc, buf_adds(out, "</Response>"));
	if (rc < 0)
		buf_truncate(out, start);
	return rc;
}

int phone_twiml_reply(const char *language, const char *voice, const char *text, struct buf *out)
{
	size_t start = out->len;
	int rc = buf_adds(out, TWIML_HEAD);

	rc = err_first(rc, say(out, language, voice, 1, text));
	rc = err_first(rc, buf_adds(out, "<Hangup/></Response>"));
	if (rc < 0)
		buf_truncate(out, start);
	return rc;
}

/* ---- configuration ---- */

static const char *const known_keys[] = {
	"url", "account_sid", "auth_token_file", "from", "voice", "language", "repeat",
	"rate", "timeout", "ca_file",
};

static int conf_err(const struct channel_conf *c, const char *key, int line, const char *what,
		    struct err *e)
{
	return err_set(e, -EINVAL, "%s:%d: notify.channels.%s.%s: %s", c->file ? c->file : "",
		       line ? line : c->line, c->name, key, what);
}

static int conf_copy(const struct channel_conf *c, const char *key, bool required,
		     const char *dflt, char *out, size_t max, struct err *e)
{
	int line = 0;
	const char *v = channel_conf_get(c, key, &line);

	if (!v && required)
		return conf_err(c, key, 0, "missing", e);
	if (!v)
		v = dflt ? dflt : "";
	if (strlen(v) >= max)
		return conf_err(c, key, line, "too long", e);
	snprintf(out, max, "%s", v);
	return 0;
}

static int conf_int(const struct channel_conf *c, const char *key, int lo, int hi, int dflt,
		    int *out, struct err *e)
{
	int line = 0;
	const char *v = channel_conf_get(c, key, &line);
	char *end;
	long x;
	char what[96];

	*out = dflt;
	if (!v)
		return 0;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi) {
		snprintf(what, sizeof(what), "expected a whole number from %d to %d", lo, hi);
		return conf_err(c, key, line, what, e);
	}
	*out = (int)x;
	return 0;
}

static bool sid_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

static int check_keys(const struct channel_conf *c, struct err *e)
{
	for (size_t i = 0; i < c->n_kv; i++) {
		bool known = false;

		for (size_t k = 0; k < ARRAY_SIZE(known_keys); k++)
			known = known || !strcmp(c->kv[i].key, known_keys[k]);
		if (!known)
			return conf_err(c, c->kv[i].key, c->kv[i].line, "unknown key (phone takes url, "
					"account_sid, auth_token_file, from, voice, language, "
					"repeat, rate, timeout, ca_file)", e);
	}
	return 0;
}

static int phone_open(const struct channel_conf *c, void **state, struct err *e)
{
	struct phone *p;
	const char *rate;
	int line = 0, rc;

	*state = NULL;
	if ((rc = check_keys(c, e)) < 0)
		return rc;
	if (!(p = mem_calloc(1, sizeof(*p))))
		return err_set(e, -ENOMEM, "out of memory");
	snprintf(p->name, sizeof(p->name), "%s", c->name);
	if ((rc = conf_copy(c, "url", false, PHONE_URL_DEFAULT, p->url, sizeof(p->url), e)) < 0 ||
	    (rc = conf_copy(c, "account_sid", true, NULL, p->sid, sizeof(p->sid), e)) < 0 ||
	    (rc = conf_copy(c, "from", true, NULL, p->from, sizeof(p->from), e)) < 0 ||
	    (rc = conf_copy(c, "language", false, "ja-JP", p->language, sizeof(p->language), e)) < 0 ||
	    (rc = conf_copy(c, "voice", false, NULL, p->voice, sizeof(p->voice), e)) < 0 ||
	    (rc = conf_copy(c, "ca_file", false, NULL, p->ca_file, sizeof(p->ca_file), e)) < 0 ||
	    (rc = conf_int(c, "repeat", 1, PHONE_REPEAT_MAX, 2, &p->repeat, e)) < 0 ||
	    (rc = conf_int(c, "timeout", 5, 600, 30, &p->timeout_s, e)) < 0)
		goto fail;
	channel_conf_get(c, "url", &line);
	if (strncmp(p->url, "https://", 8) || !p->url[8]) {
		rc = conf_err(c, "url", line, "expected an https:// URL (the API base)", e);
		goto fail;
	}
	while (strlen(p->url) > 8 && p->url[strlen(p->url) - 1] == '/')
		p->url[strlen(p->url) - 1] = '\0';
	if (!sid_valid(p->sid)) {
		channel_conf_get(c, "account_sid", &line);
		rc = conf_err(c, "account_sid", line, "expected letters and digits (AC...)", e);
		goto fail;
	}
	if (!phone_e164_valid(p->from)) {
		channel_conf_get(c, "from", &line);
		rc = conf_err(c, "from", line, "expected an E.164 number such as +815012345678", e);
		goto fail;
	}
	if (strcmp(p->language, "ja-JP") && strcmp(p->language, "en-US")) {
		channel_conf_get(c, "language", &line);
		rc = conf_err(c, "language", line, "expected ja-JP or en-US", e);
		goto fail;
	}
	if ((rate = channel_conf_get(c, "rate", &line))) {
		char *end;
		double r;

		errno = 0;
		r = strtod(rate, &end);
		if (errno || end == rate || *end || !(r > 0 && r <= 100)) {
			rc = conf_err(c, "rate", line, "expected calls per second, above 0 and at "
				      "most 100", e);
			goto fail;
		}
	}
	if (c->ack_base) {
		if (strlen(c->ack_base) >= sizeof(p->ack_base)) {
			rc = err_set(e, -EINVAL, "notify.ack_url: too long");
			goto fail;
		}
		snprintf(p->ack_base, sizeof(p->ack_base), "%s", c->ack_base);
		while (*p->ack_base && p->ack_base[strlen(p->ack_base) - 1] == '/')
			p->ack_base[strlen(p->ack_base) - 1] = '\0';
	}
	if ((rc = channel_secret_read(c, "auth_token_file", true, p->token, sizeof(p->token), e)) < 0)
		goto fail;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = err_set(e, -EIO, "phone %s: cannot initialise libcurl", c->name);
		goto fail;
	}
	if (!(p->curl = curl_easy_init())) {
		curl_global_cleanup();
		rc = err_set(e, -ENOMEM, "phone %s: cannot initialise libcurl", c->name);
		goto fail;
	}
	*state = p;
	return 0;
fail:
	sodium_memzero(p->token, sizeof(p->token));
	mem_free(p);
	return rc;
}

static void phone_close(void *state)
{
	struct phone *p = state;

	if (!p)
		return;
	curl_easy_cleanup(p->curl);
	curl_global_cleanup();
	sodium_memzero(p->token, sizeof(p->token));
	mem_free(p);
}

/* ---- send ---- */

/* Appends name=value form-encoded (&-separated after the first). */
static int form_add(struct buf *out, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = out->len ? buf_addch(out, '&') : 0;

	rc = err_first(rc, buf_adds(out, name));
	rc = err_first(rc, buf_addch(out, '='));
	for (const unsigned char *s = (const unsigned char *)value; *s && !rc; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '.' || *s == '_' || *s == '~') {
			rc = buf_addch(out, (char)*s);
		} else {
			char pct[3] = { '%', hex[*s >> 4], hex[*s & 15] };

			rc = buf_add(out, pct, 3);
		}
	}
	return rc;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	return buf_add(b, data, size * n) < 0 ? 0 : size * n;
}

struct answer_hdr {
	int retry_after_s;
};

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct answer_hdr *h = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) && !strncasecmp(data, name, sizeof(name) - 1)) {
		long v = strtol(data + sizeof(name) - 1, NULL, 10);

		if (v > 0 && v < 86400)
			h->retry_after_s = (int)v;
	}
	return len;
}

/* Twilio's answer: "sid" of a call, or "code" and "message" of an error. */
static void answer_read(const struct buf *b, char *sid, size_t sid_max, int64_t *code,
			char *msg, size_t msg_max)
{
	struct arena ar;
	struct jsonin j;
	struct jsonin_value k, v;
	int rc;

	sid[0] = msg[0] = '\0';
	*code = 0;
	arena_init(&ar, 16384, PHONE_ANSWER_MAX * 2);
	jsonin_init(&j, b->p, b->len, &ar, JSONIN_REPLACE_SURROGATES);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		goto done;
	while ((rc = jsonin_key(&j, &k)) > 0) {
		if ((rc = jsonin_value(&j, &v)) < 0)
			break;
		if (v.type == JSONIN_OBJECT || v.type == JSONIN_ARRAY) {
			if (jsonin_skip(&j) < 0)
				break;
			continue;
		}
		if (jsonin_key_is(&k, "sid") && v.type == JSONIN_STRING)
			snprintf(sid, sid_max, "%.*s", (int)MIN(v.len, sid_max - 1), v.s);
		else if (jsonin_key_is(&k, "message") && v.type == JSONIN_STRING)
			snprintf(msg, msg_max, "%.*s", (int)MIN(v.len, msg_max - 1), v.s);
		else if (jsonin_key_is(&k, "code") && v.type == JSONIN_NUMBER)
			jsonin_int(v.s, v.len, code);
	}
done:
	arena_release(&ar);
	for (char *s = msg; *s; s++) /* one line of text for the delivery log */
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

static int result(struct channel_result *r, enum channel_status st, int rc, struct err *e,
		  const char *fmt, ...) PRINTF_LIKE(5, 6);

static int result(struct channel_result *r, enum channel_status st, int rc, struct err *e,
		  const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	if (rc < 0)
		err_set(e, rc, "%s", r->reason);
	return rc;
}

static int build_form(struct phone *p, const struct notice *n, struct buf *form, struct err *e)
{
	struct buf twiml = BUF_INIT(PHONE_TWIML_MAX);
	struct buf url = BUF_INIT(PHONE_URL_MAX * 2);
	const char *lang = n->lang && !strcmp(n->lang, "en") ? "en-US"
			   : n->lang && !strcmp(n->lang, "ja") ? "ja-JP" : p->language;
	bool ack = n->ack_token && *n->ack_token && *p->ack_base;
	char timeout[16];
	int rc;

	if (n->ack_token && *n->ack_token && !*p->ack_base)
		log_warn("phone %s: notify.ack_url is not set: the call of notice %lld takes no key "
			 "press", p->name, (long long)n->id);
	if (ack)
		rc = buf_addf(&url, "%s/ack/phone/%s", p->ack_base, n->ack_token);
	else
		rc = 0;
	if (rc == 0) {
		struct buf speech = BUF_INIT(PHONE_TWIML_MAX);
		struct phone_prompt pr = { NULL, lang, p->voice, p->repeat, ack ? url.p : NULL };

		if (n->test)
			rc = buf_adds(&speech, phone_lang_ja(lang) ? "これはテストです。"
								   : "This is a test. ");
		rc = err_first(rc, buf_adds(&speech, n->speech ? n->speech
						      : n->subject ? n->subject : ""));
		pr.speech = speech.p;
		rc = err_first(rc, phone_twiml(&pr, &twiml));
		buf_release(&speech);
	}
	if (rc < 0) {
		rc = err_set(e, -EMSGSIZE, "the call's TwiML is longer than %u bytes",
			     PHONE_TWIML_MAX);
		goto fail;
	}
	snprintf(timeout, sizeof(timeout), "%d", p->timeout_s);
	rc = form_add(form, "To", n->recipient);
	rc = err_first(rc, form_add(form, "From", p->from));
	rc = err_first(rc, form_add(form, "Timeout", timeout));
	rc = err_first(rc, form_add(form, "Twiml", twiml.p));
	if (ack) {
		buf_reset(&url);
		rc = err_first(rc, buf_addf(&url, "%s/ack/phone-status/%s", p->ack_base,
					    n->ack_token));
		rc = err_first(rc, form_add(form, "StatusCallback", url.p));
		rc = err_first(rc, form_add(form, "StatusCallbackMethod", "POST"));
		rc = err_first(rc, form_add(form, "StatusCallbackEvent", "initiated"));
		rc = err_first(rc, form_add(form, "StatusCallbackEvent", "ringing"));
		rc = err_first(rc, form_add(form, "StatusCallbackEvent", "answered"));
		rc = err_first(rc, form_add(form, "StatusCallbackEvent", "completed"));
	}
	if (rc < 0)
		rc = err_set(e, -EMSGSIZE, "the call's request is too long");
fail:
	buf_release(&twiml);
	buf_release(&url);
	return rc;
}

static int phone_send(void *state, const struct notice *n, struct channel_result *r,
		      struct err *e)
{
	struct phone *p = state;
	struct buf form = BUF_INIT(PHONE_BODY_MAX), answer = BUF_INIT(PHONE_ANSWER_MAX);
	struct buf url = BUF_INIT(PHONE_URL_MAX * 2);
	struct curl_slist *h = NULL;
	struct answer_hdr hdr = { 0 };
	char sid[CHANNEL_PROVIDER_ID_MAX], msg[160];
	int64_t code;
	long status = 0;
	CURLcode cc;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!n->recipient || !phone_e164_valid(n->recipient)) {
		rc = result(r, CHANNEL_FAILED_PERM, -EINVAL, e, "phone %s: the recipient is not an "
			    "E.164 number such as +819012345678", p->name);
		goto done;
	}
	if ((rc = build_form(p, n, &form, e)) < 0) {
		result(r, CHANNEL_FAILED_PERM, 0, NULL, "phone %s: %s", p->name, e->msg);
		goto done;
	}
	if ((rc = buf_addf(&url, "%s/2010-04-01/Accounts/%s/Calls.json", p->url, p->sid)) < 0) {
		rc = result(r, CHANNEL_FAILED_PERM, -EINVAL, e, "phone %s: URL too long", p->name);
		goto done;
	}
	h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url.p);
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, p->curl_err);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT, PHONE_CONNECT_S);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, PHONE_TRANSFER_S);
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, "koban-phone/1");
	curl_easy_setopt(p->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(p->curl, CURLOPT_USERNAME, p->sid);
	curl_easy_setopt(p->curl, CURLOPT_PASSWORD, p->token);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, form.p);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE, (long)form.len);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(p->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, &hdr);
	if (*p->ca_file)
		curl_easy_setopt(p->curl, CURLOPT_CAINFO, p->ca_file);
	p->curl_err[0] = '\0';
	cc = curl_easy_perform(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_PASSWORD, "");
	if (cc != CURLE_OK) {
		rc = result(r, CHANNEL_FAILED_TEMP, -EIO, e, "phone %s: %s", p->name,
			    p->curl_err[0] ? p->curl_err : curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
	answer_read(&answer, sid, sizeof(sid), &code, msg, sizeof(msg));
	if (status == 201 && sid[0]) {
		snprintf(r->provider_id, sizeof(r->provider_id), "%s", sid);
		r->status = CHANNEL_SENT;
		rc = 0;
	} else if (status == 429 || status >= 500) {
		r->retry_after_s = hdr.retry_after_s;
		rc = result(r, CHANNEL_FAILED_TEMP, -EAGAIN, e, "phone %s: HTTP %ld%s%s", p->name,
			    status, msg[0] ? ": " : "", msg);
	} else if (status == 201) {
		rc = result(r, CHANNEL_FAILED_TEMP, -EPROTO, e, "phone %s: HTTP 201 without a call "
			    "sid", p->name);
	} else {
		rc = result(r, CHANNEL_FAILED_PERM, -EPERM, e, "phone %s: HTTP %ld, code %lld%s%s",
			    p->name, status, (long long)code, msg[0] ? ": " : "", msg);
	}
done:
	curl_slist_free_all(h);
	sodium_memzero(form.p, form.len);
	buf_release(&form);
	buf_release(&answer);
	buf_release(&url);
	return rc;
}

const struct channel_ops phone_channel = {
	.type = "phone",
	.rate_per_s = 1.0, /* Twilio's default calls per second of an account */
	.open = phone_open,
	.send = phone_send,
	.close = phone_close,
};
