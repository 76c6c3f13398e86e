/* Unit tests of the phone channel (issue 11 part 2): golden TwiML (Japanese and English, with
 * and without a key press, escaping), E.164, the configuration's checks, and, when
 * tests/integration/test_phone.py runs this program against its Twilio stand-in
 * (KOBAN_TWILIOFAKE_URL, KOBAN_TWILIOFAKE_CA), the send() results: a call placed (201 and its
 * SID), 429 and 503 worth a retry, a refused number and bad credentials not. */
#include "core/buf.h"
#include "core/err.h"
#include "notify/channel.h"
#include "notify/phone.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_twiml_golden(void)
{
	struct buf b = BUF_INIT(PHONE_TWIML_MAX);
	struct phone_prompt ja = { "レベル3 のインシデント: 不正ログイン <sato> & \"web01\"", "ja-JP",
				   NULL, 2, "https://soc.example/ack/phone/ka1.acme.1.2.3.X?a=1&b=2" };
	struct phone_prompt en = { "A level 3 incident.", "en-US", "Polly.Joanna", 1, NULL };

	CHECK_INT(phone_twiml(&ja, &b), 0);
	CHECK_STR(b.p,
		  "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
		  "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"10\" "
		  "action=\"https://soc.example/ack/phone/ka1.acme.1.2.3.X?a=1&amp;b=2\" method=\"POST\">"
		  "<Say language=\"ja-JP\" loop=\"2\">レベル3 のインシデント: 不正ログイン &lt;sato&gt; &amp; "
		  "&quot;web01&quot; 確認した場合は、1を押してください。</Say></Gather>"
		  "<Say language=\"ja-JP\">入力がありませんでした。未確認のまま終了します。</Say>"
		  "</Response>");
	buf_reset(&b);
	CHECK_INT(phone_twiml(&en, &b), 0);
	CHECK_STR(b.p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
		       "<Say language=\"en-US\" voice=\"Polly.Joanna\">A level 3 incident.</Say>"
		       "</Response>");
	buf_reset(&b);
	en.action = "https://soc.example/ack/phone/T";
	en.repeat = 9; /* at most PHONE_REPEAT_MAX */
	CHECK_INT(phone_twiml(&en, &b), 0);
	CHECK(strstr(b.p, "loop=\"5\">A level 3 incident. To acknowledge, press 1.</Say></Gather>"
		      "<Say language=\"en-US\" voice=\"Polly.Joanna\">No key was pressed.") != NULL);
	buf_reset(&b);
	CHECK_INT(phone_twiml_reply("ja-JP", NULL, "確認しました。\x01", &b), 0);
	CHECK_STR(b.p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"ja-JP\">"
		       "確認しました。 </Say><Hangup/></Response>");
	/* too long: -ENOSPC, nothing left behind */
	struct buf small = BUF_INIT(64);
	CHECK_INT(phone_twiml(&ja, &small), -ENOSPC);
	CHECK_INT(small.len, 0);
	buf_release(&small);
	buf_release(&b);
}

static void test_e164(void)
{
	CHECK(phone_e164_valid("+819012345678"));
	CHECK(phone_e164_valid("+14155551212"));
	CHECK(!phone_e164_valid("09012345678"));
	CHECK(!phone_e164_valid("+0123"));
	CHECK(!phone_e164_valid("+8"));
	CHECK(!phone_e164_valid("+8190-1234-5678"));
	CHECK(!phone_e164_valid("+1234567890123456"));
	CHECK(!phone_e164_valid(NULL));
	CHECK(phone_lang_ja("ja") && phone_lang_ja("ja-JP") && !phone_lang_ja("jaa"));
}

static const char *secret_file(const char *name, const char *text, int mode)
{
	static char path[8][512];
	static int n;
	char *p = path[n++ % 8];
	int fd;

	snprintf(p, 512, "%s/%s", t_tmp_dir(), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		t_check(0, __FILE__, __LINE__, "cannot write %s", p);
	close(fd);
	chmod(p, (mode_t)mode);
	return p;
}

static int open_with(const struct channel_kv *kv, size_t n, const char *ack, void **st,
		     struct err *e)
{
	struct channel_conf c = { "oncall", "phone", "koban.yaml", 10, kv, n, ack };

	return channel_type("phone")->open(&c, st, e);
}

static void test_open(void)
{
	const char *tok = secret_file("tw.token", "secret-token\n", 0600);
	const char *loose = secret_file("loose.token", "secret-token\n", 0644);
	struct channel_kv good[] = { { "account_sid", "AC123", 11 }, { "auth_token_file", tok, 12 },
				     { "from", "+815012345678", 13 }, { "repeat", "3", 14 },
				     { "rate", "0.5", 15 } };
	struct err e = ERR_INIT;
	void *st = NULL;

	CHECK(channel_type("phone") == &phone_channel);
	CHECK(strstr(channel_type_names(), "phone") != NULL);
	CHECK_INT(open_with(good, 5, "https://soc.example", &st, &e), 0);
	channel_type("phone")->close(st);
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
		{ "from", "0501234", "koban.yaml:13: notify.channels.oncall.from: expected an E.164" },
		{ "account_sid", "AC/../x", "notify.channels.oncall.account_sid: expected letters" },
		{ "repeat", "0", "notify.channels.oncall.repeat: expected a whole number from 1 to 5" },
		{ "rate", "-1", "notify.channels.oncall.rate: expected calls per second" },
		{ "url", "http://api.twilio.com", "notify.channels.oncall.url: expected an https://" },
		{ "language", "fr-FR", "notify.channels.oncall.language: expected ja-JP or en-US" },
		{ "password_file", "x", "notify.channels.oncall.password_file: unknown key" },
		{ "auth_token_file", NULL, "auth_token_file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct channel_kv kv[6];
		size_t n = 0;

		for (size_t k = 0; k < 5; k++)
			if (strcmp(good[k].key, bad[i].key))
				kv[n++] = good[k];
		if (bad[i].value)
			kv[n++] = (struct channel_kv){ bad[i].key, bad[i].value, 13 };
		e.msg[0] = '\0';
		st = NULL;
		CHECK(open_with(kv, n, NULL, &st, &e) < 0);
		CHECK(st == NULL);
		t_check(strstr(e.msg, bad[i].msg) != NULL, __FILE__, __LINE__, "%zu: %s", i, e.msg);
	}
	/* a secret file others may read is refused, and its content is never in the message */
	struct channel_kv kv[] = { { "account_sid", "AC123", 11 }, { "auth_token_file", loose, 12 },
				   { "from", "+815012345678", 13 } };
	CHECK(open_with(kv, 3, NULL, &st, &e) < 0);
	CHECK(strstr(e.msg, "auth_token_file") != NULL && strstr(e.msg, "secret-token") == NULL);
}

/* ---- against tests/integration/twiliofake.py ---- */

static void send_one(void *st, const char *to, const char *token, struct channel_result *r,
		     int *rc)
{
	struct notice n = { .tenant = "city-b", .incident = 1, .id = 5,
			    .message_id = "<koban.city-b.1.5@test>", .recipient = to, .lang = "ja",
			    .level = 3, .level_name = "Critical", .title = "不正ログイン",
			    .subject = "[koban] Critical: 不正ログイン",
			    .speech = "koban からの緊急連絡です。レベル Critical のインシデント、不正ログイン。",
			    .ack_token = token };
	struct err e = ERR_INIT;

	*rc = channel_type("phone")->send(st, &n, r, &e);
	printf("SEND %s rc=%d status=%d id=%s retry=%d reason=%s\n", to, *rc, (int)r->status,
	       r->provider_id, r->retry_after_s, r->reason);
}

static void test_send(void)
{
	const char *url = getenv("KOBAN_TWILIOFAKE_URL"), *ca = getenv("KOBAN_TWILIOFAKE_CA");
	const char *ack = getenv("KOBAN_ACK_BASE"), *token = getenv("KOBAN_ACK_TOKEN");
	struct channel_result r;
	struct err e = ERR_INIT;
	void *st = NULL;
	int rc;

	if (!url || !ca || !ack || !token) {
		t_skip("run by tests/integration/test_phone.py with its Twilio stand-in");
		return;
	}
	const char *tok = secret_file("fake.token", getenv("KOBAN_TWILIOFAKE_TOKEN"), 0600);
	const char *wrong = secret_file("wrong.token", "not-the-token", 0600);
	struct channel_kv kv[] = { { "url", url, 1 }, { "account_sid", getenv("KOBAN_TWILIOFAKE_SID"), 2 },
				   { "auth_token_file", tok, 3 }, { "from", "+815012345678", 4 },
				   { "ca_file", ca, 5 }, { "timeout", "25", 6 } };

	CHECK_INT(open_with(kv, 6, ack, &st, &e), 0);
	if (!st)
		return;
	send_one(st, "+819012345678", token, &r, &rc);
	CHECK_INT(rc, 0);
	CHECK_INT(r.status, CHANNEL_SENT);
	CHECK(!strncmp(r.provider_id, "CA", 2) && strlen(r.provider_id) == 34);
	send_one(st, "+815000000429", token, &r, &rc);
	CHECK(rc < 0);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	CHECK_INT(r.retry_after_s, 7);
	send_one(st, "+815000000503", token, &r, &rc);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	send_one(st, "+15005550001", token, &r, &rc);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "HTTP 400, code 21211: The 'To' number +15005550001 is not a "
			      "valid phone number.") != NULL);
	send_one(st, "090-1234-5678", token, &r, &rc); /* never sent */
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "E.164") != NULL);
	channel_type("phone")->close(st);
	/* bad credentials: 401, code 20003, permanent; the token is in no message */
	kv[2].value = wrong;
	CHECK_INT(open_with(kv, 6, ack, &st, &e), 0);
	send_one(st, "+819012345678", token, &r, &rc);
	CHECK_INT(r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(r.reason, "HTTP 401, code 20003") != NULL);
	CHECK(strstr(r.reason, "not-the-token") == NULL);
	channel_type("phone")->close(st);
	/* nobody listening: temporary */
	kv[0].value = "https://127.0.0.1:1";
	CHECK_INT(open_with(kv, 6, ack, &st, &e), 0);
	send_one(st, "+819012345678", token, &r, &rc);
	CHECK_INT(r.status, CHANNEL_FAILED_TEMP);
	channel_type("phone")->close(st);
}

int main(void)
{
	T_RUN(test_twiml_golden);
	T_RUN(test_e164);
	T_RUN(test_open);
	T_RUN(test_send);
	return t_done();
}
