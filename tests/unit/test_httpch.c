/*
 * Unit tests of the HTTP notification channels (teams, pagerduty, webhook) and their shared
 * POST (notify/httppost): the JSON bodies against golden files (tests/data/notify), the
 * keys' checks with FILE:LINE messages, secrets never in a message, and every channel driven
 * against tests/integration/notifyfake.py (started as a child process, spoken to over its
 * stdin/stdout) for success, 429 with Retry-After, 400, 500 and a certificate that does not
 * verify.
 */
#include "notify/httppost.h"
#include "notify/pagerduty.h"
#include "notify/teams.h"
#include "notify/webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "t.h"

#define NOW (INT64_C(1764547200) * NS_PER_SEC + 123 * 1000000) /* 2025-12-01T00:00:00.123Z */
#define ROUTING_KEY "R0b1e2c3d4e5f6a7b8c9d0e1f2a3b4c5"
#define HOOK_SECRET "whsec-koban-test-0123456789"

static const struct notice notice_ja = {
	.tenant = "alpha",
	.incident = 42,
	.id = 7,
	.message_id = "<koban.alpha.42.7@soc.example>",
	.recipient = "",
	.lang = "ja",
	.level = 3,
	.level_name = "緊急",
	.title = "ランサムウェアの挙動 \"ws-042\"",
	.subject = "[緊急] ランサムウェアの挙動 ws-042",
	.text = "端末 ws-042 で暗号化の挙動を検知しました。\n隔離を推奨します。",
	.incident_url = "https://soc.example/incidents/alpha/42",
	.ack_url = "https://soc.example/ack/AbC123-_x",
	.ack_token = "AbC123-_x",
};

static const struct notice notice_en_test = {
	.tenant = "beta",
	.incident = 9,
	.id = 11,
	.message_id = "<koban.beta.9.11@soc.example>",
	.recipient = "",
	.lang = "en",
	.level = 1,
	.level_name = "Medium",
	.title = "Port scan from 203.0.113.7",
	.subject = "[Medium] Port scan from 203.0.113.7",
	.text = "A scan was blocked by the firewall.",
	.incident_url = "https://soc.example/incidents/beta/9",
	.test = true,
};

/* ---------------------------------------------------------------- helpers */

/* The golden file tests/data/notify/NAME against got; KOBAN_GOLDEN_WRITE=1 rewrites it. */
static void check_golden(const char *name, const struct buf *got)
{
	char path[512];
	char *want;
	size_t len = 0;
	struct jsonin j;
	struct jsonin_value v;
	struct err e = ERR_INIT;

	jsonin_init(&j, got->p, got->len, NULL, 0); /* valid JSON first */
	if (jsonin_value(&j, &v) < 0 || jsonin_skip(&j) < 0 || jsonin_finish(&j, &e) < 0)
		t_check(0, __FILE__, __LINE__, "%s: not JSON: %s", name, e.msg);
	snprintf(path, sizeof(path), "%s/notify/%s", t_data_dir(), name);
	if (getenv("KOBAN_GOLDEN_WRITE")) {
		FILE *f = fopen(path, "w");

		CHECK(f && fwrite(got->p, 1, got->len, f) == got->len);
		if (f)
			fclose(f);
		return;
	}
	want = t_read_file(path, &len);
	CHECK(want);
	if (want && (len != got->len || memcmp(want, got->p, len)))
		t_check(0, __FILE__, __LINE__, "%s differs; got:\n%s", path, got->p);
	free(want);
}

/* Writes text into DIR/name with mode; the path into path[512]. */
static void write_file(const char *name, const char *text, mode_t mode, char *path)
{
	int fd;

	snprintf(path, 512, "%s/%s", t_tmp_dir(), name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(write(fd, "\n", 1) == 1);
	close(fd);
	CHECK(chmod(path, mode) == 0);
}

struct conf {
	struct channel_conf c;
	struct channel_kv kv[8];
};

/* A configuration of type with pairs (key, value, key, value, ..., NULL), lines 11, 12, ... */
static void conf_make(struct conf *k, const char *type, ...)
{
	va_list ap;
	const char *key;

	memset(k, 0, sizeof(*k));
	k->c.name = "oncall";
	k->c.type = type;
	k->c.file = "koban.yaml";
	k->c.line = 10;
	k->c.kv = k->kv;
	va_start(ap, type);
	while ((key = va_arg(ap, const char *)) && k->c.n_kv < 8) {
		k->kv[k->c.n_kv].key = key;
		k->kv[k->c.n_kv].value = va_arg(ap, const char *);
		k->kv[k->c.n_kv].line = 11 + (int)k->c.n_kv;
		k->c.n_kv++;
	}
	va_end(ap);
}

/* Opens k with its type's ops: the open()'s code, e filled. */
static int conf_open(const struct conf *k, void **state, struct err *e)
{
	const struct channel_ops *ops = channel_type(k->c.type);

	err_clear(e);
	if (!ops)
		return -ENOENT;
	return ops->open(&k->c, state, e);
}

/* ---------------------------------------------------------------- bodies */

static void test_golden_bodies(void)
{
	struct buf b = BUF_INIT(1 << 20);

	CHECK_INT(teams_body(TEAMS_ADAPTIVE, &notice_ja, &b), 0);
	check_golden("teams_adaptive_ja.json", &b);
	buf_reset(&b);
	CHECK_INT(teams_body(TEAMS_ADAPTIVE, &notice_en_test, &b), 0);
	check_golden("teams_adaptive_en_test.json", &b);
	buf_reset(&b);
	CHECK_INT(teams_body(TEAMS_LEGACY, &notice_ja, &b), 0);
	check_golden("teams_legacy_ja.json", &b);
	buf_reset(&b);
	CHECK_INT(teams_body(TEAMS_LEGACY, &notice_en_test, &b), 0);
	check_golden("teams_legacy_en_test.json", &b);
	buf_reset(&b);
	CHECK_INT(pagerduty_body(ROUTING_KEY, "koban", &notice_ja, NOW, &b), 0);
	check_golden("pagerduty_ja.json", &b);
	buf_reset(&b);
	CHECK_INT(pagerduty_body(ROUTING_KEY, "soc-tokyo", &notice_en_test, NOW, &b), 0);
	check_golden("pagerduty_en_test.json", &b);
	buf_reset(&b);
	CHECK_INT(webhook_body(&notice_ja, NOW, &b), 0);
	check_golden("webhook_ja.json", &b);
	buf_reset(&b);
	CHECK_INT(webhook_body(&notice_en_test, NOW, &b), 0);
	check_golden("webhook_en_test.json", &b);
	buf_release(&b);
}

/* Long texts are cut at a character, and the message stays within Teams' 28 KB. */
static void test_long_text(void)
{
	struct notice n = notice_ja;
	struct buf b = BUF_INIT(1 << 20);
	char *big = malloc(100001);
	size_t i;

	for (i = 0; i + 3 <= 100000; i += 3)
		memcpy(big + i, "あ", 3);
	big[i] = '\0';
	n.text = big;
	n.subject = big;
	n.title = big;
	CHECK_INT(teams_body(TEAMS_ADAPTIVE, &n, &b), 0);
	CHECK(b.len <= TEAMS_MESSAGE_MAX);
	buf_reset(&b);
	CHECK_INT(teams_body(TEAMS_LEGACY, &n, &b), 0);
	CHECK(b.len <= TEAMS_MESSAGE_MAX);
	buf_reset(&b);
	CHECK_INT(pagerduty_body(ROUTING_KEY, "koban", &n, NOW, &b), 0);
	{ /* summary: 1024 bytes at most, whole characters (1023 = 341 x 3) */
		const char *s = strstr(b.p, "\"summary\":\"");
		const char *end = s ? strchr(s + 11, '"') : NULL;

		CHECK(s && end);
		if (s && end)
			CHECK_INT(end - (s + 11), 1023);
	}
	buf_release(&b);

	/* control bytes grow sixfold when escaped: the text is cut shorter until it fits */
	memset(big, 1, 100000);
	big[100000] = '\0';
	n.title = n.subject = "t";
	{
		struct buf pd = BUF_INIT(PAGERDUTY_BODY_MAX), wh = BUF_INIT(WEBHOOK_BODY_MAX);
		struct buf tm = BUF_INIT(TEAMS_MESSAGE_MAX);

		CHECK_INT(teams_body(TEAMS_ADAPTIVE, &n, &tm), 0);
		CHECK(tm.len > 20000 && tm.len <= TEAMS_MESSAGE_MAX);
		CHECK_INT(pagerduty_body(ROUTING_KEY, "koban", &n, NOW, &pd), 0);
		CHECK(pd.len > 40000);
		CHECK_INT(webhook_body(&n, NOW, &wh), 0);
		CHECK(wh.len > 150000);
		buf_release(&tm);
		buf_release(&pd);
		buf_release(&wh);
	}
	free(big);
}

/* httppost_error_text of s into text[16]. */
static void error_text(const char *s, char *text)
{
	httppost_error_text(s, strlen(s), text, 16);
}

static void test_pure(void)
{
	char out[WEBHOOK_SIGNATURE_LEN + 1], text[16], dedup[PAGERDUTY_DEDUP_MAX + 1];
	struct pagerduty_reply pr;
	static const char ok[] = "{\"status\":\"success\",\"message\":\"Event processed\","
				 "\"dedup_key\":\"koban.alpha.42\"}";
	static const char bad[] = "{\"status\":\"invalid event\",\"message\":\"Event object is "
				  "invalid\",\"errors\":[\"'payload.summary' is missing\",\"x\"]}";

	CHECK_STR(pagerduty_severity(0), "info");
	CHECK_STR(pagerduty_severity(1), "warning");
	CHECK_STR(pagerduty_severity(2), "error");
	CHECK_STR(pagerduty_severity(3), "critical");
	CHECK_STR(pagerduty_severity(9), "critical");
	pagerduty_dedup_key(&notice_ja, dedup);
	CHECK_STR(dedup, "koban.alpha.42");

	CHECK_INT(httppost_retry_after("7", 1, 0), 7);
	CHECK_INT(httppost_retry_after(" 120\r\n", 6, 0), 120);
	CHECK_INT(httppost_retry_after("99999999999999999999", 20, 0), HTTPPOST_RETRY_AFTER_MAX);
	CHECK_INT(httppost_retry_after("Tue, 01 Dec 2026 00:00:30 GMT", 29, 1796083200), 30);
	CHECK_INT(httppost_retry_after("Tue, 01 Dec 2026 00:00:30 GMT", 29, 1796083300), 0);
	CHECK_INT(httppost_retry_after("soon", 4, 0), -1);
	CHECK_INT(httppost_retry_after("7s", 2, 0), -1);
	CHECK_INT(httppost_retry_after("", 0, 0), -1);

	httppost_text("abc\x01" "d\ne", 7, text, sizeof(text));
	CHECK_STR(text, "abcd");
	httppost_text("\xe3\x81\x82\xe3\x81\x82\xe3\x81\x82\xe3\x81\x82\xe3\x81\x82\xe3\x81\x82",
		      18, text, sizeof(text));
	CHECK_STR(text, "あああああ"); /* 15 bytes: the sixth does not fit */
	httppost_text("\xff\xfeok", 4, text, sizeof(text));
	CHECK_STR(text, "ok");
	error_text("{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"Rate limit\"}}",
		   text);
	CHECK_STR(text, "Rate limit");
	error_text("{\"error\":\"bad sig\",\"x\":[1]}", text);
	CHECK_STR(text, "bad sig");
	error_text("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS\"}",
		   text);
	CHECK_STR(text, "AADSTS");
	error_text("Summary or Text is required.", text);
	CHECK_STR(text, "Summary or Text");
	error_text("{\"ok\":1}", text);
	CHECK_STR(text, "{\"ok\":1}");
	CHECK_INT(httppost_cut("あい", 4), 3);
	CHECK_INT(httppost_cut("あい", 6), 6);

	webhook_sign("secret", 6, 1700000000, "{\"a\":1}", 7, out);
	CHECK_STR(out, "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");

	CHECK_INT(pagerduty_reply_read(ok, strlen(ok), &pr), 0);
	CHECK_STR(pr.status, "success");
	CHECK_STR(pr.dedup_key, "koban.alpha.42");
	CHECK_INT(pagerduty_reply_read(bad, strlen(bad), &pr), 0);
	CHECK_STR(pr.message, "Event object is invalid");
	CHECK_STR(pr.error, "'payload.summary' is missing");
	CHECK_INT(pagerduty_reply_read("{\"errors\":{\"message\":\"m\"},\"message\":\"top\"}",
					42, &pr), 0);
	CHECK_STR(pr.message, "top");
	CHECK(pagerduty_reply_read("[1]", 3, &pr) < 0);
	CHECK(pagerduty_reply_read("{\"status\":", 10, &pr) < 0);
	CHECK(pagerduty_reply_read("", 0, &pr) < 0);
}

/* ---------------------------------------------------------------- configuration */

static void test_registry(void)
{
	CHECK(channel_type("teams") == &teams_ops);
	CHECK(channel_type("pagerduty") == &pagerduty_ops);
	CHECK(channel_type("webhook") == &webhook_ops);
	CHECK(teams_ops.rate_per_s == 4);
	CHECK(strstr(channel_type_names(), "teams") && strstr(channel_type_names(), "webhook"));
}

/* open() refuses k with a message holding want (and the state stays NULL). */
static void refused(const struct conf *k, const char *want, int line)
{
	struct err e = ERR_INIT;
	void *state = (void *)1;
	int rc = conf_open(k, &state, &e);

	t_check(rc < 0 && !state, __FILE__, line, "open should fail (rc %d)", rc);
	t_check(strstr(e.msg, want) != NULL, __FILE__, line, "\"%s\" not in \"%s\"", want, e.msg);
}

static void opened(const struct conf *k, int line)
{
	struct err e = ERR_INIT;
	void *state = NULL;
	int rc = conf_open(k, &state, &e);

	t_check(rc == 0 && state, __FILE__, line, "open failed: %s", e.msg);
	if (state)
		channel_type(k->c.type)->close(state);
}

static void test_keys(void)
{
	struct conf k;
	char key[512], open_key[512], secret[512], url_file[512];

	write_file("pd.key", ROUTING_KEY, 0600, key);
	write_file("pd-open.key", ROUTING_KEY, 0644, open_key);
	write_file("hook.secret", HOOK_SECRET, 0600, secret);
	write_file("teams.url", "https://prod-01.japaneast.logic.azure.com:443/workflows/abc/"
		   "triggers/manual/paths/invoke?api-version=2016-06-01&sig=S3CR3T", 0600, url_file);

	conf_make(&k, "teams", "url_file", url_file, "colour", "red", NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.colour: unknown key for type teams "
		"(expected one of: url, url_file, format, ca_file, timeout, rate)", __LINE__);
	conf_make(&k, "teams", "url_file", url_file, NULL);
	opened(&k, __LINE__);
	conf_make(&k, "teams", "url", "https://example.com/hook", "format", "adaptive",
		  "rate", "0.5", "timeout", "30", NULL);
	opened(&k, __LINE__);
	conf_make(&k, "teams", "url_file", url_file, "format", "legacy", NULL);
	opened(&k, __LINE__);
	conf_make(&k, "teams", "url", "https://example.webhook.office.com/webhookb2/a@b/"
		  "IncomingWebhook/c/d", "format", "legacy", NULL);
	refused(&k, "koban.yaml:11: notify.channels.oncall.url: a connector's URL is its "
		"credential", __LINE__);
	conf_make(&k, "teams", "url", "https://example.com/hook?sig=abc", NULL);
	refused(&k, "koban.yaml:11: notify.channels.oncall.url: the URL of example.com has a "
		"query", __LINE__);
	conf_make(&k, "teams", "url", "http://example.com/hook", NULL);
	refused(&k, "http:// only for a loopback host", __LINE__);
	conf_make(&k, "teams", "url", "http://127.0.0.1:9/hook", NULL);
	opened(&k, __LINE__);
	conf_make(&k, "teams", "url", "http://[::1]:9/hook", NULL);
	opened(&k, __LINE__);
	conf_make(&k, "teams", "url", "http://localhost:9/hook", NULL);
	opened(&k, __LINE__);
	conf_make(&k, "teams", "url", "https://example.com/a", "url_file", url_file, NULL);
	refused(&k, "koban.yaml:11: notify.channels.oncall.url: expected either url_file", __LINE__);
	conf_make(&k, "teams", NULL);
	refused(&k, "koban.yaml:10: notify.channels.oncall.url_file: expected either", __LINE__);
	conf_make(&k, "teams", "url", "https://example.com/a", "format", "card", NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.format: expected adaptive", __LINE__);
	conf_make(&k, "teams", "url", "https://example.com/a", "timeout", "0", NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.timeout: expected whole seconds", __LINE__);
	conf_make(&k, "teams", "url", "https://example.com/a", "rate", "fast", NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.rate: expected notices per second",
		__LINE__);
	conf_make(&k, "teams", "url", "https://example.com/a", "ca_file", "/nonexistent/ca.pem", NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.ca_file: expected a readable PEM",
		__LINE__);
	conf_make(&k, "teams", "url", "https://user:pw@example.com/a", NULL);
	refused(&k, "a user or password in the URL", __LINE__);
	conf_make(&k, "teams", "url", "ftp://example.com/a", NULL);
	refused(&k, "expected an https:// URL", __LINE__);

	conf_make(&k, "pagerduty", "routing_key_file", key, NULL);
	opened(&k, __LINE__);
	conf_make(&k, "pagerduty", "routing_key", ROUTING_KEY, NULL);
	refused(&k, "koban.yaml:11: notify.channels.oncall.routing_key: unknown key for type "
		"pagerduty (expected one of: routing_key_file, url, source, ca_file", __LINE__);
	conf_make(&k, "pagerduty", "url", "https://events.eu.pagerduty.com/v2/enqueue", NULL);
	refused(&k, "koban.yaml:10: notify.channels.oncall.routing_key_file: missing", __LINE__);
	conf_make(&k, "pagerduty", "routing_key_file", open_key, NULL);
	refused(&k, "has mode 0644: others may read it", __LINE__);
	conf_make(&k, "pagerduty", "routing_key_file", key, "url", "http://10.0.0.1/v2/enqueue",
		  NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.url: expected an https:// URL", __LINE__);
	conf_make(&k, "pagerduty", "routing_key_file", key, "source", "", NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.source: expected the name", __LINE__);

	conf_make(&k, "webhook", "url", "https://hooks.example.org/koban", "secret_file", secret,
		  NULL);
	opened(&k, __LINE__);
	conf_make(&k, "webhook", "url", "https://hooks.example.org/koban", NULL);
	refused(&k, "koban.yaml:10: notify.channels.oncall.secret_file: missing", __LINE__);
	conf_make(&k, "webhook", "secret_file", secret, NULL);
	refused(&k, "koban.yaml:10: notify.channels.oncall.url: missing", __LINE__);
	conf_make(&k, "webhook", "url", "https://h.example/x", "secret_file", secret, "secret",
		  "x", NULL);
	refused(&k, "koban.yaml:13: notify.channels.oncall.secret: unknown key", __LINE__);
	write_file("short.secret", "0123456789abcde", 0600, secret);
	conf_make(&k, "webhook", "url", "https://h.example/x", "secret_file", secret, NULL);
	refused(&k, "koban.yaml:12: notify.channels.oncall.secret_file: the secret is 15 bytes "
		"long; expected at least 16", __LINE__);
}

/* No message names a secret: a URL in url_file, a routing key, a webhook secret. */
static void test_secrets_not_shown(void)
{
	struct conf k;
	struct err e = ERR_INIT;
	struct channel_result r;
	void *state = NULL;
	char file[512], key[512], secret[512];

	/* a URL in url_file that is refused: the message shows nothing of it */
	write_file("bad.url", "http://hooks.example.com/workflows/PATHSECRET?sig=SIGSECRET", 0600,
		   file);
	conf_make(&k, "teams", "url_file", file, NULL);
	refused(&k, "koban.yaml:11: notify.channels.oncall.url_file:", __LINE__);
	conf_open(&k, &state, &e);
	CHECK(!strstr(e.msg, "SIGSECRET") && !strstr(e.msg, "PATHSECRET"));
	write_file("bad.url", "not a url SIGSECRET", 0600, file);
	conf_open(&k, &state, &e);
	CHECK(e.msg[0] && !strstr(e.msg, "SIGSECRET"));

	/* a URL that fails at send time (nothing listens): host only */
	write_file("dead.url", "https://127.0.0.1:1/workflows/PATHSECRET/invoke?sig=SIGSECRET",
		   0600, file);
	conf_make(&k, "teams", "url_file", file, NULL);
	CHECK_INT(conf_open(&k, &state, &e), 0);
	if (state) {
		CHECK(teams_ops.send(state, &notice_ja, &r, &e) < 0);
		CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
		CHECK(strstr(r.reason, "127.0.0.1"));
		CHECK(!strstr(r.reason, "SECRET") && !strstr(e.msg, "SECRET"));
		teams_ops.close(state);
		state = NULL;
	}

	write_file("k.key", "ROUTINGSECRET0123456789abcdef0123", 0600, key);
	conf_make(&k, "pagerduty", "routing_key_file", key, "url", "https://127.0.0.1:1/v2/enqueue",
		  NULL);
	CHECK_INT(conf_open(&k, &state, &e), 0);
	if (state) {
		CHECK(pagerduty_ops.send(state, &notice_ja, &r, &e) < 0);
		CHECK(!strstr(r.reason, "ROUTINGSECRET") && !strstr(e.msg, "ROUTINGSECRET"));
		pagerduty_ops.close(state);
		state = NULL;
	}
	write_file("k.key", "ROUTING SECRET", 0600, key); /* refused: content never shown */
	conf_open(&k, &state, &e);
	CHECK(e.msg[0] && !strstr(e.msg, "ROUTING"));

	write_file("w.secret", "HOOKSECRETVALUE-0123", 0600, secret);
	conf_make(&k, "webhook", "url", "https://127.0.0.1:1/hook", "secret_file", secret, NULL);
	CHECK_INT(conf_open(&k, &state, &e), 0);
	if (state) {
		CHECK(webhook_ops.send(state, &notice_ja, &r, &e) < 0);
		CHECK(!strstr(r.reason, "HOOKSECRET") && !strstr(e.msg, "HOOKSECRET"));
		webhook_ops.close(state);
	}
}

/* Every allocation failure in open() and send() ends cleanly (ASan finds leaks). */
static void test_alloc_failures(void)
{
	struct conf k[3];
	char key[512], secret[512];
	int ok = 0;

	write_file("a.key", ROUTING_KEY, 0600, key);
	write_file("a.secret", HOOK_SECRET, 0600, secret);
	conf_make(&k[0], "teams", "url", "http://127.0.0.1:1/hook", NULL);
	conf_make(&k[1], "pagerduty", "routing_key_file", key, "url", "http://127.0.0.1:1/e", NULL);
	conf_make(&k[2], "webhook", "url", "http://127.0.0.1:1/h", "secret_file", secret, NULL);
	for (size_t i = 0; i < 3; i++)
		for (long n = 0; n < 12; n++) {
			struct err e = ERR_INIT;
			struct channel_result r;
			void *state = NULL;
			int rc;

			mem_fail_after(n);
			rc = conf_open(&k[i], &state, &e);
			if (rc == 0)
				rc = channel_type(k[i].c.type)->send(state, &notice_ja, &r, &e);
			mem_fail_after(-1);
			CHECK(rc < 0 && e.msg[0]); /* out of memory, or nothing listens on port 1 */
			ok += rc == -ENOMEM;
			if (state)
				channel_type(k[i].c.type)->close(state);
		}
	CHECK(ok > 3);
}

/* ---------------------------------------------------------------- against the fake */

static pid_t fake_pid = -1;
static int fake_in = -1, fake_out = -1;
static char fake_url[256], fake_ca[512], fake_sig[128];

/* One line from the fake (30 s at most) into out: 0 or -1. */
static int fake_line(char *out, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = { .fd = fake_out, .events = POLLIN };
		char c;

		if (poll(&p, 1, 30000) <= 0 || read(fake_out, &c, 1) != 1)
			return -1;
		if (c == '\n')
			break;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* Sends one command and reads its answer into out. */
static int fake_cmd(const char *cmd, char *out, size_t size)
{
	size_t n = strlen(cmd);

	if (write(fake_in, cmd, n) != (ssize_t)n || write(fake_in, "\n", 1) != 1)
		return -1;
	return fake_line(out, size);
}

/* Starts notifyfake.py: 0, or -1 (the tests are skipped) with why filled. */
static int fake_start(const char *secret_file, char *why, size_t size)
{
	int to_child[2], from_child[2];
	char script[512], dir[512], line[1024];

	snprintf(script, sizeof(script), "%s/../integration/notifyfake.py", t_data_dir());
	snprintf(dir, sizeof(dir), "%s/fake", t_tmp_dir());
	if (access(script, R_OK) < 0) {
		snprintf(why, size, "%s is absent", script);
		return -1;
	}
	if (pipe(to_child) < 0 || pipe(from_child) < 0) {
		snprintf(why, size, "pipe: %s", strerror(errno));
		return -1;
	}
	fake_pid = fork();
	if (fake_pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[1]);
		close(from_child[0]);
		execlp("python3", "python3", script, "--dir", dir, "--routing-key", ROUTING_KEY,
		       "--webhook-secret-file", secret_file, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	fake_in = to_child[1];
	fake_out = from_child[0];
	if (fake_pid < 0 || fake_line(line, sizeof(line)) < 0 ||
	    sscanf(line, "ready %255s %511s %127s", fake_url, fake_ca, fake_sig) != 3) {
		snprintf(why, size, "python3 %s did not start (is python3 installed?)", script);
		return -1;
	}
	return 0;
}

static void fake_stop(void)
{
	int status;

	if (fake_in >= 0)
		close(fake_in); /* end of input: it stops */
	if (fake_pid > 0) {
		for (int i = 0; i < 50; i++) {
			if (waitpid(fake_pid, &status, WNOHANG) == fake_pid) {
				fake_pid = -1;
				break;
			}
			usleep(100000);
		}
		if (fake_pid > 0) {
			kill(fake_pid, SIGTERM);
			waitpid(fake_pid, &status, 0);
		}
	}
	if (fake_out >= 0)
		close(fake_out);
}

/* "N INVALID" of kind. */
static void check_count(const char *kind, const char *want, int line)
{
	char cmd[64], got[64] = "";

	snprintf(cmd, sizeof(cmd), "count %s", kind);
	fake_cmd(cmd, got, sizeof(got));
	t_check(strcmp(got, want) == 0, __FILE__, line, "count %s: \"%s\" != \"%s\"", kind, got,
		want);
}

static void fault(const char *kind, const char *what)
{
	char cmd[128], got[64] = "";

	snprintf(cmd, sizeof(cmd), "fault %s %s", kind, what);
	CHECK(fake_cmd(cmd, got, sizeof(got)) == 0 && strcmp(got, "ok") == 0);
}

/* Opens k, sends n, closes: the send()'s code, r filled. */
static int send_one(const struct conf *k, const struct notice *n, struct channel_result *r,
		    struct err *e)
{
	void *state = NULL;
	int rc = conf_open(k, &state, e);

	memset(r, 0, sizeof(*r));
	if (rc < 0) {
		t_check(0, __FILE__, __LINE__, "open: %s", e->msg);
		return rc;
	}
	rc = channel_type(k->c.type)->send(state, n, r, e);
	channel_type(k->c.type)->close(state);
	return rc;
}

static void test_teams_fake(const char *dir)
{
	struct conf k;
	struct channel_result r;
	struct err e = ERR_INIT;
	char url[1024], file[512], legacy[512], last[65536];

	snprintf(url, sizeof(url), "%s/workflows/3c1f7b9e/triggers/manual/paths/invoke?"
		 "api-version=1&sp=%%2Ftriggers%%2Fmanual%%2Frun&sv=1.0&sig=%s", fake_url, fake_sig);
	write_file("teams.url", url, 0600, file);
	conf_make(&k, "teams", "url_file", file, "ca_file", fake_ca, NULL);
	CHECK_INT(send_one(&k, &notice_ja, &r, &e), 0);
	CHECK_INT(r.status, CHANNEL_SENT);
	CHECK_INT(send_one(&k, &notice_en_test, &r, &e), 0);
	check_count("teams", "2 0", __LINE__);
	CHECK(fake_cmd("last teams", last, sizeof(last)) == 0);
	CHECK(strstr(last, "\"title\": \"\\u78ba\\u8a8d / Acknowledge\"") == NULL); /* en: none */
	CHECK(strstr(last, "\"type\": \"Action.OpenUrl\""));

	fault("teams", "429 7");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK_INT(r.retry_after_s, 7);
	CHECK(strstr(r.reason, "127.0.0.1 answered 429: Rate limit is exceeded."));
	CHECK(!strstr(r.reason, fake_sig) && !strstr(e.msg, fake_sig));
	fault("teams", "500");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK_INT(r.retry_after_s, 0);
	fault("teams", "400");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "answered 400"));

	/* a wrong signature in the URL: 401, permanent */
	snprintf(url, sizeof(url), "%s/workflows/3c1f7b9e/triggers/manual/paths/invoke?"
		 "api-version=1&sig=WRONGSIG", fake_url);
	write_file("teams.url", url, 0600, file);
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "answered 401") && !strstr(r.reason, "WRONGSIG"));

	/* the legacy connector: 200 "1"; throttling inside a 200 */
	snprintf(legacy, sizeof(legacy), "%s/webhookb2/6e2f@9a1d/IncomingWebhook/0f4c/7d21",
		 fake_url);
	write_file("legacy.url", legacy, 0600, file);
	conf_make(&k, "teams", "url_file", file, "format", "legacy", "ca_file", fake_ca, NULL);
	CHECK_INT(send_one(&k, &notice_ja, &r, &e), 0);
	CHECK_INT(r.status, CHANNEL_SENT);
	CHECK_INT(send_one(&k, &notice_en_test, &r, &e), 0);
	check_count("legacy", "2 0", __LINE__);
	fault("legacy", "throttle");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK(strstr(r.reason, "HTTP error 429"));

	/* without the test CA the certificate does not verify: permanent, says why */
	conf_make(&k, "teams", "url_file", file, "format", "legacy", NULL);
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "POST to 127.0.0.1 failed"));
	check_count("legacy", "3 0", __LINE__); /* the refused handshake is no request */
	(void)dir;
}

static void test_pagerduty_fake(const char *dir)
{
	struct conf k;
	struct channel_result r;
	struct err e = ERR_INIT;
	char url[512], key[512], last[65536];

	snprintf(url, sizeof(url), "%s/v2/enqueue", fake_url);
	write_file("pd.key", ROUTING_KEY, 0600, key);
	conf_make(&k, "pagerduty", "routing_key_file", key, "url", url, "ca_file", fake_ca,
		  "source", "soc-tokyo", NULL);
	CHECK_INT(send_one(&k, &notice_ja, &r, &e), 0);
	CHECK_INT(r.status, CHANNEL_SENT);
	CHECK_STR(r.provider_id, "koban.alpha.42");
	CHECK_INT(send_one(&k, &notice_en_test, &r, &e), 0);
	CHECK_STR(r.provider_id, "koban.beta.9");
	check_count("pagerduty", "2 0", __LINE__);
	CHECK(fake_cmd("last pagerduty", last, sizeof(last)) == 0);
	CHECK(strstr(last, "\"severity\": \"warning\""));
	CHECK(strstr(last, "\"summary\": \"[test] [Medium] Port scan from 203.0.113.7\""));
	CHECK(strstr(last, "\"source\": \"soc-tokyo\""));

	fault("pagerduty", "429 7");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK_INT(r.retry_after_s, 7);
	fault("pagerduty", "429");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK_INT(r.retry_after_s, PAGERDUTY_RETRY_429);
	fault("pagerduty", "500");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	fault("pagerduty", "400");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "answered 400: Event object is invalid: 'payload.summary' is "
		     "missing or blank"));

	/* a routing key PagerDuty does not know: 400, never shown */
	write_file("pd.key", "0123456789abcdef0123456789abcdef", 0600, key);
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "Invalid routing key"));
	CHECK(!strstr(r.reason, "0123456789abcdef") && !strstr(e.msg, "0123456789abcdef"));
	check_count("pagerduty", "7 1", __LINE__);
	(void)dir;
}

static void test_webhook_fake(const char *secret)
{
	struct conf k;
	struct channel_result r;
	struct err e = ERR_INIT;
	char url[512], wrong[512], last[65536];

	snprintf(url, sizeof(url), "%s/hook/soc", fake_url);
	conf_make(&k, "webhook", "url", url, "secret_file", secret, "ca_file", fake_ca, NULL);
	CHECK_INT(send_one(&k, &notice_ja, &r, &e), 0);
	CHECK_INT(r.status, CHANNEL_SENT);
	CHECK_STR(r.provider_id, notice_ja.message_id);
	CHECK_INT(send_one(&k, &notice_en_test, &r, &e), 0);
	check_count("webhook", "2 0", __LINE__); /* signature and window verified by the fake */
	CHECK(fake_cmd("last webhook", last, sizeof(last)) == 0);
	CHECK(strstr(last, "\"X-Koban-Message-Id\": \"<koban.beta.9.11@soc.example>\""));
	CHECK(strstr(last, "\"X-Koban-Signature\": \"sha256="));

	fault("webhook", "500");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	fault("webhook", "429 3");
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK_INT(r.retry_after_s, 3);

	write_file("wrong.secret", "not-the-secret-at-all", 0600, wrong);
	conf_make(&k, "webhook", "url", url, "secret_file", wrong, "ca_file", fake_ca, NULL);
	CHECK(send_one(&k, &notice_ja, &r, &e) < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "answered 401: X-Koban-Signature does not verify"));
	CHECK(!strstr(e.msg, "not-the-secret-at-all"));
	check_count("webhook", "5 1", __LINE__);
}

static void test_against_fake(void)
{
	char secret[512], why[600];

	write_file("fake.secret", HOOK_SECRET, 0600, secret);
	if (fake_start(secret, why, sizeof(why)) < 0) {
		fake_stop();
		t_skip(why);
		return;
	}
	test_teams_fake(t_tmp_dir());
	test_pagerduty_fake(t_tmp_dir());
	test_webhook_fake(secret);
	fake_stop();
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_golden_bodies);
	T_RUN(test_long_text);
	T_RUN(test_pure);
	T_RUN(test_registry);
	T_RUN(test_keys);
	T_RUN(test_secrets_not_shown);
	T_RUN(test_alloc_failures);
	T_RUN(test_against_fake);
	return t_done();
}
