/*
 * test_smtp.c - the smtp notification channel: the MIME builder against golden output,
 * header injection, the configuration's refusals, and real submissions to local peers:
 * Postfix's smtp-sink (plain SMTP on 127.0.0.1) and tests/integration/smtppeer.py (STARTTLS
 * and implicit TLS with a test CA, AUTH PLAIN and LOGIN, chosen replies), both started here
 * as child processes. Received messages are read back with Python's email package
 * (smtppeer.py's summary lines).
 */
#include "notify/smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "notify/channel.h"
#include "t.h"

#define DATE_NS (INT64_C(1796097600) * 1000000000) /* Tue, 01 Dec 2026 04:00:00 +0000 */
#define JA_SUBJECT "【重大】山田市役所: 不正ログイン成功の疑い（インシデント #42）— 至急確認してください"

/* ---------------------------------------------------------------------------------- */
/* The MIME builder                                                                   */

static int build(const struct smtp_mime *m, struct buf *out, struct err *e)
{
	buf_reset(out);
	return smtp_mime_build(m, out, e);
}

/* The longest line of s (without its CRLF). */
static size_t longest_line(const char *s)
{
	size_t best = 0;

	while (*s) {
		const char *nl = strstr(s, "\r\n");
		size_t n = nl ? (size_t)(nl - s) : strlen(s);

		best = n > best ? n : best;
		s += n + (nl ? 2 : 0);
	}
	return best;
}

static void test_mime_golden_en(void)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	struct smtp_mime m = {
		.from_name = "koban SOC",
		.from_addr = "soc@example.org",
		.to_addr = "oncall@example.net",
		.subject = "[High] Brute force on vpn-1",
		.text = "Incident 42 is High.\nSee the portal.",
		.ack_url = "https://soc.example.org/ack/abc_DEF-1",
		.lang = "en",
		.message_id = "<koban.city.42.7@soc.example.org>",
		.boundary = "=_b1",
		.date_ns = DATE_NS,
	};

	CHECK_INT(build(&m, &out, &e), 0);
	CHECK_STR(out.p,
		  "Date: Tue, 01 Dec 2026 04:00:00 +0000\r\n"
		  "From: koban SOC <soc@example.org>\r\n"
		  "To: oncall@example.net\r\n"
		  "Subject: [High] Brute force on vpn-1\r\n"
		  "Message-ID: <koban.city.42.7@soc.example.org>\r\n"
		  "MIME-Version: 1.0\r\n"
		  "Auto-Submitted: auto-generated\r\n"
		  "Content-Type: multipart/alternative;\r\n boundary=\"=_b1\"\r\n"
		  "\r\n"
		  "--=_b1\r\n"
		  "Content-Type: text/plain; charset=UTF-8\r\n"
		  "Content-Transfer-Encoding: base64\r\n"
		  "\r\n"
		  "SW5jaWRlbnQgNDIgaXMgSGlnaC4NClNlZSB0aGUgcG9ydGFsLg0KDQpBY2tub3dsZWRnZSB0aGlz\r\n"
		  "IG5vdGljZSAodGhlIGxpbmsgb3BlbnMgYSBjb25maXJtYXRpb24gcGFnZSk6DQpodHRwczovL3Nv\r\n"
		  "Yy5leGFtcGxlLm9yZy9hY2svYWJjX0RFRi0xDQo=\r\n"
		  "--=_b1\r\n"
		  "Content-Type: text/html; charset=UTF-8\r\n"
		  "Content-Transfer-Encoding: base64\r\n"
		  "\r\n"
		  "PCFET0NUWVBFIGh0bWw+DQo8aHRtbD48aGVhZD48bWV0YSBjaGFyc2V0PSJ1dGYtOCI+PC9oZWFk\r\n"
		  "Pjxib2R5Pg0KPHByZSBzdHlsZT0iZm9udC1mYW1pbHk6c2Fucy1zZXJpZjt3aGl0ZS1zcGFjZTpw\r\n"
		  "cmUtd3JhcCI+SW5jaWRlbnQgNDIgaXMgSGlnaC4NClNlZSB0aGUgcG9ydGFsLjwvcHJlPg0KPHA+\r\n"
		  "PGEgaHJlZj0iaHR0cHM6Ly9zb2MuZXhhbXBsZS5vcmcvYWNrL2FiY19ERUYtMSI+QWNrbm93bGVk\r\n"
		  "Z2U8L2E+PC9wPg0KPC9ib2R5PjwvaHRtbD4NCg==\r\n"
		  "--=_b1--\r\n");
	buf_release(&out);
}

/* Japanese: a folded subject of four encoded-words, an encoded display name, a given HTML. */
static void test_mime_golden_ja(void)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	struct smtp_mime m = {
		.from_name = "SOC 当番（山田）",
		.from_addr = "soc@example.org",
		.to_addr = "taro.yamada@city.example.jp",
		.subject = JA_SUBJECT,
		.text = "インシデント #42 は重大です。\n証拠: 成功したログイン",
		.html = "<html><body class=\"x\"><h1>重大</h1><p>a &amp; b</p>\n</BODY></html>\n",
		.ack_url = "https://soc.example.org/ack/T0K3N",
		.lang = "ja",
		.message_id = "<koban.city.42.8@soc.example.org>",
		.boundary = "=_koban_0123456789abcdef01234567",
		.date_ns = DATE_NS + INT64_C(86400) * 5 * 1000000000, /* Sunday */
		.test = true,
	};

	CHECK_INT(build(&m, &out, &e), 0);
	CHECK_STR(out.p,
		  "Date: Sun, 06 Dec 2026 04:00:00 +0000\r\n"
		  "From: =?UTF-8?B?U09DIOW9k+eVqu+8iOWxseeUsO+8iQ==?= <soc@example.org>\r\n"
		  "To: taro.yamada@city.example.jp\r\n"
		  "Subject: =?UTF-8?B?44CQ44OG44K544OI44CR44CQ6YeN5aSn44CR5bGx55Sw5biC5b25?=\r\n"
		  " =?UTF-8?B?5omAOiDkuI3mraPjg63jgrDjgqTjg7PmiJDlip/jga7nlpHjgYTvvIjjgqQ=?=\r\n"
		  " =?UTF-8?B?44Oz44K344OH44Oz44OIICM0Mu+8ieKAlCDoh7PmgKXnorroqo3jgZfjgaY=?=\r\n"
		  " =?UTF-8?B?44GP44Gg44GV44GE?=\r\n"
		  "Message-ID: <koban.city.42.8@soc.example.org>\r\n"
		  "MIME-Version: 1.0\r\n"
		  "Auto-Submitted: auto-generated\r\n"
		  "Content-Type: multipart/alternative;\r\n"
		  " boundary=\"=_koban_0123456789abcdef01234567\"\r\n"
		  "\r\n"
		  "--=_koban_0123456789abcdef01234567\r\n"
		  "Content-Type: text/plain; charset=UTF-8\r\n"
		  "Content-Transfer-Encoding: base64\r\n"
		  "\r\n"
		  "44CQ44OG44K544OI44CRa29iYW4g44GL44KJ44Gu44OG44K544OI6YCa55+l44Gn44GZ44CC5a++\r\n"
		  "5b+c44Gv5LiN6KaB44Gn44GZ44CCDQoNCuOCpOODs+OCt+ODh+ODs+ODiCAjNDIg44Gv6YeN5aSn\r\n"
		  "44Gn44GZ44CCDQroqLzmi6A6IOaIkOWKn+OBl+OBn+ODreOCsOOCpOODsw0KDQrjgZPjga7pgJrn\r\n"
		  "n6XjgpLlj5fpoJjnorroqo3jgZnjgovvvIjjg6rjg7Pjgq/lhYjjga7norroqo3jg5rjg7zjgrjj\r\n"
		  "gafnorrlrprjgZfjgb7jgZnvvIk6DQpodHRwczovL3NvYy5leGFtcGxlLm9yZy9hY2svVDBLM04N\r\n"
		  "Cg==\r\n"
		  "--=_koban_0123456789abcdef01234567\r\n"
		  "Content-Type: text/html; charset=UTF-8\r\n"
		  "Content-Transfer-Encoding: base64\r\n"
		  "\r\n"
		  "PGh0bWw+PGJvZHkgY2xhc3M9IngiPjxwPjxzdHJvbmc+44CQ44OG44K544OI44CRa29iYW4g44GL\r\n"
		  "44KJ44Gu44OG44K544OI6YCa55+l44Gn44GZ44CC5a++5b+c44Gv5LiN6KaB44Gn44GZ44CCPC9z\r\n"
		  "dHJvbmc+PC9wPg0KPGgxPumHjeWkpzwvaDE+PHA+YSAmYW1wOyBiPC9wPg0KPHA+PGEgaHJlZj0i\r\n"
		  "aHR0cHM6Ly9zb2MuZXhhbXBsZS5vcmcvYWNrL1QwSzNOIj7lj5fpoJjnorroqo3jgZnjgos8L2E+\r\n"
		  "PC9wPg0KPC9CT0RZPjwvaHRtbD4NCg==\r\n"
		  "--=_koban_0123456789abcdef01234567--\r\n");
	CHECK(longest_line(out.p) <= 76);
	buf_release(&out);
}

/* Nothing a notice carries can start a header line of its own. */
static void test_mime_injection(void)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	struct smtp_mime base = {
		.from_addr = "soc@example.org", .to_addr = "a@example.net", .subject = "s",
		.text = "t", .message_id = "<m@x>", .boundary = "b", .date_ns = DATE_NS,
	};
	struct smtp_mime m;
	static const char *const bad_addrs[] = {
		"a@example.net\r\nBcc: evil@example.com", "a@example.net>", "<a@example.net",
		"a b@example.net", "a@example..net", "@example.net", "a@", "a", "",
		"a@exa mple.net", "a\n@example.net", "a@example.net\n", "やまだ@example.jp",
		"a@@example.net", ".a@example.net", "a.@example.net", "a..b@example.net",
	};

	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		m = base;
		m.to_addr = bad_addrs[i];
		e.msg[0] = '\0';
		CHECK_INT(build(&m, &out, &e), -EINVAL);
		CHECK_INT(out.len, 0);
		CHECK(strstr(e.msg, "recipient: not a mail address") != NULL);
		m = base;
		m.from_addr = bad_addrs[i];
		CHECK_INT(build(&m, &out, &e), -EINVAL);
	}
	m = base;
	m.from_name = "SOC\r\nBcc: evil@example.com";
	CHECK_INT(build(&m, &out, &e), -EINVAL);
	CHECK(strstr(e.msg, "display name") != NULL);
	m = base;
	m.message_id = "<m@x>\r\nBcc: evil@example.com";
	CHECK_INT(build(&m, &out, &e), -EINVAL);
	m = base;
	m.message_id = "m@x";
	CHECK_INT(build(&m, &out, &e), -EINVAL);
	m = base;
	m.boundary = "b\"\r\nX: y";
	CHECK_INT(build(&m, &out, &e), -EINVAL);
	m = base;
	m.ack_url = "https://x/ack/\"><script>";
	CHECK_INT(build(&m, &out, &e), -EINVAL);
	m = base;
	m.ack_url = "javascript:alert(1)";
	CHECK_INT(build(&m, &out, &e), -EINVAL);

	/* a subject with CR/LF is encoded: the header stays one (folded) Subject */
	m = base;
	m.subject = "hello\r\nBcc: evil@example.com\r\n\r\nbody";
	CHECK_INT(build(&m, &out, &e), 0);
	CHECK(strstr(out.p, "\r\nBcc:") == NULL);
	CHECK(strstr(out.p, "Subject: =?UTF-8?B?aGVsbG8NCkJjYzogZXZpbEBleGFtcGxlLmNvbQ0KDQpib2R5?="
			    "\r\n") != NULL);
	/* "=?" in a plain subject could be decoded as a word: encoded too */
	m.subject = "=?UTF-8?B?QmNj?=";
	CHECK_INT(build(&m, &out, &e), 0);
	CHECK(strstr(out.p, "Subject: =?UTF-8?B?PT9VVEYtOD9CP1FtTmo/PQ==?=\r\n") != NULL);
	/* invalid UTF-8 becomes U+FFFD */
	m.subject = "a\xff" "b";
	CHECK_INT(build(&m, &out, &e), 0);
	CHECK(strstr(out.p, "Subject: =?UTF-8?B?Ye+/vWI=?=\r\n") != NULL);
	/* a quoted display name keeps its quotes escaped */
	m = base;
	m.from_name = "SOC, \"night\" shift";
	CHECK_INT(build(&m, &out, &e), 0);
	CHECK(strstr(out.p, "From: \"SOC, \\\"night\\\" shift\" <soc@example.org>\r\n") != NULL);
	buf_release(&out);
}

static const char *script(void);

/*
 * Python's email package reads the message in out back: the subject and the display name
 * decode to exactly what was given (skipped without python3).
 */
static void parsed_back(const struct buf *out, const char *subject, const char *name)
{
	char path[512], cmd[2048], *sum, *want;
	FILE *f;
	size_t n = strlen(subject) + strlen(name) + 64;

	if (system("python3 -c 'import email' >/dev/null 2>&1") != 0) {
		t_skip("no python3 to read the message back");
		return;
	}
	snprintf(path, sizeof(path), "%s/built.eml", t_tmp_dir());
	f = fopen(path, "wb");
	CHECK(f && fwrite(out->p, 1, out->len, f) == out->len);
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 '%s' parse '%s' > '%s.txt'", script(), path, path);
	CHECK_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.txt", path);
	sum = t_read_file(cmd, NULL);
	want = malloc(n);
	if (sum && want) {
		char *from = strstr(sum, "\nfrom: "), *w = from;

		snprintf(want, n, "subject: %s\n", subject);
		CHECK(strncmp(sum, want, strlen(want)) == 0);
		/*
		 * Python 3.11 puts a space between adjacent encoded-words of a display name
		 * (RFC 2047 6.2 says to drop it; mail programs do): compare without spaces.
		 */
		for (char *r = from; from && *r && *r != '<'; r++)
			if (*r != ' ' || r < from + 7)
				*w++ = *r;
		if (from)
			*w = '\0';
		snprintf(want, n, "\nfrom: %s", name);
		CHECK_STR(from, want);
		CHECK(strstr(w + 1, "\ndefects: 0\n") != NULL);
	}
	CHECK(sum != NULL);
	free(sum);
	free(want);
}

/* Long texts, subjects and names: every line within 76 characters; the size limit holds. */
static void test_mime_lines(void)
{
	struct buf out = BUF_INIT(SMTP_MESSAGE_MAX + 4096);
	struct buf big = BUF_INIT(SMTP_MESSAGE_MAX + 16);
	struct err e = ERR_INIT;
	char subject[2048], name[SMTP_NAME_MAX + 1];
	struct smtp_mime m = {
		.from_addr = "soc@example.org", .to_addr = "a@example.net", .subject = subject,
		.from_name = name, .message_id = "<m@x>", .boundary = "b", .date_ns = DATE_NS,
	};
	size_t n = 0;

	while (n + 3 < sizeof(subject) - 1) { /* 681 "重" */
		memcpy(subject + n, "重", 3);
		n += 3;
	}
	subject[n] = '\0';
	n = 0;
	while (n + 3 <= SMTP_NAME_MAX) {
		memcpy(name + n, "当", 3);
		n += 3;
	}
	name[n] = '\0';
	for (int i = 0; i < 5000; i++)
		buf_adds(&big, i % 7 ? "重大インシデント " : "x\n");
	m.text = big.p;
	CHECK_INT(build(&m, &out, &e), 0);
	CHECK(longest_line(out.p) <= 76);
	CHECK(longest_line(out.p) == 76);
	parsed_back(&out, subject, name);

	m.from_name = "x";
	m.subject = "a plain ASCII subject that is long enough to need folding because it "
		    "goes past seventy-six characters";
	CHECK_INT(build(&m, &out, &e), 0);
	CHECK(longest_line(out.p) <= 76);
	CHECK(strstr(out.p, "Subject: =?UTF-8?B?") != NULL);

	buf_reset(&big);
	while (big.len < SMTP_MESSAGE_MAX)
		buf_adds(&big, "0123456789abcdef");
	m.text = big.p;
	CHECK_INT(build(&m, &out, &e), -ENOSPC);
	CHECK_INT(out.len, 0);
	CHECK(strstr(e.msg, "message larger than") != NULL);
	buf_release(&out);
	buf_release(&big);
}

static void test_from_parse(void)
{
	char name[SMTP_NAME_MAX + 1], addr[SMTP_ADDR_MAX + 1];
	struct err e = ERR_INIT;

	CHECK_INT(smtp_from_parse("soc@example.org", name, addr, &e), 0);
	CHECK_STR(name, "");
	CHECK_STR(addr, "soc@example.org");
	CHECK_INT(smtp_from_parse("SOC 当番 <soc@example.org>", name, addr, &e), 0);
	CHECK_STR(name, "SOC 当番");
	CHECK_STR(addr, "soc@example.org");
	CHECK_INT(smtp_from_parse("\"koban, SOC\" <soc@example.org>", name, addr, &e), 0);
	CHECK_STR(name, "koban, SOC");
	CHECK_INT(smtp_from_parse("<soc@example.org>", name, addr, &e), 0);
	CHECK_STR(name, "");
	CHECK_INT(smtp_from_parse("SOC <soc@example.org> x", name, addr, &e), -EINVAL);
	CHECK_INT(smtp_from_parse("SOC <soc@example.org", name, addr, &e), -EINVAL);
	CHECK_INT(smtp_from_parse("S\nOC <soc@example.org>", name, addr, &e), -EINVAL);
	CHECK_INT(smtp_from_parse("SOC <soc@example.org\r\nBcc: x@y>", name, addr, &e), -EINVAL);
	CHECK_INT(smtp_from_parse("soc", name, addr, &e), -EINVAL);
}

/* ---------------------------------------------------------------------------------- */
/* Configuration                                                                      */

static struct channel_conf conf(struct channel_kv *kv, size_t n)
{
	return (struct channel_conf){ .name = "mail", .type = "smtp", .file = "koban.yaml",
				      .line = 10, .kv = kv, .n_kv = n };
}

static int open_kv(struct channel_kv *kv, size_t n, struct err *e)
{
	struct channel_conf c = conf(kv, n);
	void *st = NULL;
	int rc;

	e->msg[0] = '\0';
	rc = smtp_channel.open(&c, &st, e);
	if (rc == 0)
		smtp_channel.close(st);
	else if (st)
		rc = -999; /* a failed open leaves no state */
	return rc;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
		CHECK_INT(fchmod(fd, mode), 0);
		close(fd);
	}
	CHECK(fd >= 0);
}

static void test_registered(void)
{
	CHECK(channel_type("smtp") == &smtp_channel);
	CHECK(strstr(channel_type_names(), "smtp") != NULL);
}

static void test_conf_refusals(void)
{
	struct err e = ERR_INIT;
	char secret[512], secret644[512];
	const char *dir = t_tmp_dir();

	if (!dir)
		return;
	snprintf(secret, sizeof(secret), "%s/smtp.pw", dir);
	snprintf(secret644, sizeof(secret644), "%s/smtp644.pw", dir);
	write_file(secret, "s3cret-Pw\n", 0600);
	write_file(secret644, "s3cret-Pw\n", 0644);

	{ /* the smallest good one */
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org:587", 11 },
					   { "from", "SOC <soc@example.org>", 12 } };
		CHECK_INT(open_kv(kv, 2, &e), 0);
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org:587", 11 },
					   { "from", "soc@example.org", 12 },
					   { "colour", "blue", 13 } };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK_STR(e.msg, "koban.yaml:13: notify.channels.mail.colour: unknown key of type "
				 "smtp (known: url, from, tls, ca_file, username, password_file, "
				 "rate, timeout)");
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org:25", 11 },
					   { "from", "soc@example.org", 12 },
					   { "tls", "none", 13 } };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK_STR(e.msg, "koban.yaml:13: notify.channels.mail.tls: none is accepted only "
				 "for a loopback address (127.0.0.1, ::1, localhost), not for "
				 "mail.example.org: use starttls or implicit");
	}
	{
		static const char *const loop[] = { "smtp://127.0.0.1:25", "smtp://[::1]:25",
						    "smtp://localhost:2525", "smtp://127.8.9.1" };
		for (size_t i = 0; i < 4; i++) {
			struct channel_kv kv[] = { { "url", loop[i], 11 },
						   { "from", "soc@example.org", 12 },
						   { "tls", "none", 13 } };
			CHECK_INT(open_kv(kv, 3, &e), 0);
		}
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://user:pw@mail.example.org", 11 },
					   { "from", "soc@example.org", 12 } };
		CHECK_INT(open_kv(kv, 2, &e), -EINVAL);
		CHECK(strstr(e.msg, "koban.yaml:11: notify.channels.mail.url: ") == e.msg);
		CHECK(strstr(e.msg, "pw") == NULL || strstr(e.msg, "password") != NULL);
		CHECK(strstr(e.msg, "user:pw") == NULL);
	}
	{
		static const char *const bad[] = { "http://mail.example.org", "mail.example.org",
						   "smtp://mail.example.org/x", "smtp://",
						   "smtp://mail.example.org?a=1" };
		for (size_t i = 0; i < 5; i++) {
			struct channel_kv kv[] = { { "url", bad[i], 11 },
						   { "from", "soc@example.org", 12 } };
			CHECK_INT(open_kv(kv, 2, &e), -EINVAL);
			CHECK(strstr(e.msg, "koban.yaml:11: notify.channels.mail.url: expected") ==
			      e.msg);
		}
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org", 11 },
					   { "from", "soc@example.org", 12 },
					   { "tls", "implicit", 13 } };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK_STR(e.msg, "koban.yaml:13: notify.channels.mail.tls: implicit TLS needs an "
				 "smtps:// url");
		kv[0].value = "smtps://mail.example.org";
		kv[2].value = "starttls";
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		kv[2].value = "implicit";
		CHECK_INT(open_kv(kv, 3, &e), 0);
		CHECK_INT(open_kv(kv, 2, &e), 0); /* smtps:// alone means implicit */
		kv[2].value = "maybe";
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK(strstr(e.msg, "tls: expected starttls, implicit or none") != NULL);
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org", 11 } };
		CHECK_INT(open_kv(kv, 1, &e), -EINVAL);
		CHECK_STR(e.msg, "koban.yaml:10: notify.channels.mail.from: missing (the sender, "
				 "e.g. \"SOC <soc@example.org>\")");
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org", 11 },
					   { "from", "SOC <soc@example.org>\r\nBcc: x@y.z", 12 } };
		CHECK_INT(open_kv(kv, 2, &e), -EINVAL);
		CHECK(strstr(e.msg, "koban.yaml:12: notify.channels.mail.from: ") == e.msg);
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org", 11 },
					   { "from", "soc@example.org", 12 },
					   { "username", "soc", 13 } };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK_STR(e.msg, "koban.yaml:13: notify.channels.mail.username: username and "
				 "password_file go together (or neither)");
		kv[2] = (struct channel_kv){ "password_file", secret, 14 };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK(strstr(e.msg, "koban.yaml:14: notify.channels.mail.password_file: ") == e.msg);
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org", 11 },
					   { "from", "soc@example.org", 12 },
					   { "username", "soc", 13 },
					   { "password_file", secret, 14 } };
		CHECK_INT(open_kv(kv, 4, &e), 0);
		kv[3].value = secret644;
		CHECK(open_kv(kv, 4, &e) < 0);
		CHECK(strstr(e.msg, "koban.yaml:14: notify.channels.mail.password_file") == e.msg);
		CHECK(strstr(e.msg, secret644) != NULL);
		CHECK(strstr(e.msg, "s3cret") == NULL);
		printf("# %s\n", e.msg);
		kv[3].value = "/nonexistent/pw";
		CHECK(open_kv(kv, 4, &e) < 0);
		CHECK(strstr(e.msg, "/nonexistent/pw") != NULL);
	}
	{
		struct channel_kv kv[] = { { "url", "smtp://mail.example.org", 11 },
					   { "from", "soc@example.org", 12 },
					   { "timeout", "0", 13 } };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK_STR(e.msg, "koban.yaml:13: notify.channels.mail.timeout: expected whole "
				 "seconds, 1..300");
		kv[2].value = "30s";
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		kv[2].value = "45";
		CHECK_INT(open_kv(kv, 3, &e), 0);
		kv[2] = (struct channel_kv){ "rate", "0", 13 };
		CHECK_INT(open_kv(kv, 3, &e), -EINVAL);
		CHECK(strstr(e.msg, "koban.yaml:13: notify.channels.mail.rate: expected") == e.msg);
		kv[2].value = "0.5";
		CHECK_INT(open_kv(kv, 3, &e), 0);
		kv[2] = (struct channel_kv){ "ca_file", "/nonexistent/ca.pem", 13 };
		CHECK_INT(open_kv(kv, 3, &e), -ENOENT);
		CHECK(strstr(e.msg, "koban.yaml:13: notify.channels.mail.ca_file: cannot read "
				    "/nonexistent/ca.pem") == e.msg);
	}
}

/* ---------------------------------------------------------------------------------- */
/* Live submissions                                                                   */

static char peer_script[1024];
static char tls_dir[1024]; /* a/tls: the server's CA and certificate; b/tls: another CA */
static int tls_ready = -1;

static const char *script(void)
{
	snprintf(peer_script, sizeof(peer_script), "%s/../integration/smtppeer.py",
		 t_data_dir());
	return peer_script;
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM); /* no peer outlives a crashed test */
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits up to 15 s for path to exist; its content (malloc'ed) or NULL. */
static char *wait_file(const char *path)
{
	for (int i = 0; i < 1500; i++) {
		char *p = t_read_file(path, NULL);

		if (p)
			return p;
		nap_ms(10);
	}
	return NULL;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool wait_listening(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (int i = 0; i < 1500; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

		if (fd >= 0)
			close(fd);
		if (ok)
			return true;
		nap_ms(10);
	}
	return false;
}

static bool have_tls(void)
{
	char cmd[2048];

	if (tls_ready >= 0)
		return tls_ready;
	snprintf(tls_dir, sizeof(tls_dir), "%s/tls", t_tmp_dir());
	snprintf(cmd, sizeof(cmd), "python3 '%s' tls '%s' >/dev/null 2>&1", script(), tls_dir);
	tls_ready = system(cmd) == 0;
	return tls_ready;
}

struct peer {
	pid_t pid;
	int port;
	char dir[512];
	char url[128];
};

/* Starts smtppeer.py serve with extra arguments (NULL-terminated) in a fresh directory. */
static bool peer_start(struct peer *p, const char *tls, const char *const *extra)
{
	static int seq;
	char cert[1100], key[1100], portfile[600];
	char *argv[32];
	size_t n = 0;
	char *txt;

	memset(p, 0, sizeof(*p));
	if (!have_tls()) {
		t_skip("python3 or openssl cannot make the test CA");
		return false;
	}
	snprintf(p->dir, sizeof(p->dir), "%s/peer%d", t_tmp_dir(), seq++);
	mkdir(p->dir, 0700);
	snprintf(cert, sizeof(cert), "%s/a/tls/server.pem", tls_dir);
	snprintf(key, sizeof(key), "%s/a/tls/server.key", tls_dir);
	argv[n++] = "python3";
	argv[n++] = (char *)script();
	argv[n++] = "serve";
	argv[n++] = "--dir";
	argv[n++] = p->dir;
	argv[n++] = "--tls";
	argv[n++] = (char *)tls;
	argv[n++] = "--cert";
	argv[n++] = cert;
	argv[n++] = "--key";
	argv[n++] = key;
	for (size_t i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	p->pid = spawn(argv);
	snprintf(portfile, sizeof(portfile), "%s/port", p->dir);
	txt = wait_file(portfile);
	if (txt)
		p->port = atoi(txt);
	free(txt);
	CHECK(p->port > 0);
	snprintf(p->url, sizeof(p->url), "%s://127.0.0.1:%d",
		 strcmp(tls, "implicit") == 0 ? "smtps" : "smtp", p->port);
	return p->port > 0;
}

/* The summary of the peer's message n (malloc'ed), or NULL. */
static char *peer_summary(const struct peer *p, int n)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%d.txt", p->dir, n);
	return wait_file(path);
}

/* Looks for the exact line "key: value" in a summary. */
#define CHECK_LINE(sum, line)                                                            \
	do {                                                                             \
		const char *s_ = (sum), *l_ = (line);                                    \
		size_t n_ = strlen(l_);                                                  \
		const char *h_ = s_;                                                     \
		bool ok_ = false;                                                        \
		while (s_ && (h_ = strstr(h_, l_))) {                                    \
			if ((h_ == s_ || h_[-1] == '\n') && h_[n_] == '\n') {            \
				ok_ = true;                                              \
				break;                                                   \
			}                                                                \
			h_++;                                                            \
		}                                                                        \
		t_check(ok_, __FILE__, __LINE__, "line \"%s\" in the summary:\n%s", l_,  \
			s_ ? s_ : "(none)");                                             \
	} while (0)

static const struct notice notice_ja = {
	.tenant = "city",
	.incident = 42,
	.id = 7,
	.message_id = "<koban.city.42.7@soc.example.org>",
	.recipient = "oncall@example.net",
	.lang = "ja",
	.level = 3,
	.level_name = "Critical",
	.title = "不正ログイン成功の疑い",
	.subject = JA_SUBJECT,
	.text = "インシデント #42 は重大です。\n証拠: 成功したログイン",
	.html = "<p>インシデント #42 は<b>重大</b>です。</p>",
	.ack_url = "https://soc.example.org/ack/T0K3N",
};

struct sent {
	int rc;
	struct channel_result r;
	struct err e;
	double seconds;
};

/* Opens a channel with kv, sends notice n once, closes. */
static struct sent send_kv(struct channel_kv *kv, size_t nkv, const struct notice *n)
{
	struct channel_conf c = conf(kv, nkv);
	struct sent s = { .rc = -1, .e = ERR_INIT };
	struct timespec t0, t1;
	void *st = NULL;

	if (smtp_channel.open(&c, &st, &s.e) < 0) {
		t_check(0, __FILE__, __LINE__, "open: %s", s.e.msg);
		return s;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s.rc = smtp_channel.send(st, n, &s.r, &s.e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	smtp_channel.close(st);
	return s;
}

static void ca_path(char *out, size_t n, const char *which)
{
	snprintf(out, n, "%s/%s/tls/ca.pem", tls_dir, which);
}

static void pw_file(char *out, size_t n, const char *pw)
{
	snprintf(out, n, "%s/peer.pw", t_tmp_dir());
	write_file(out, pw, 0600);
}

/* STARTTLS with AUTH PLAIN; the message read back with Python's email package. */
static void live_starttls(const char *mech)
{
	const char *extra[] = { "--auth", mech, "--user", "soc", "--password", "pä55 word",
				NULL };
	char ca[1100], pw[600];
	struct peer p;
	struct sent s;
	char *sum;

	if (!peer_start(&p, "starttls", extra))
		return;
	ca_path(ca, sizeof(ca), "a");
	pw_file(pw, sizeof(pw), "pä55 word\n");
	{
		struct channel_kv kv[] = { { "url", p.url, 11 },
					   { "from", "SOC 当番 <soc@example.org>", 12 },
					   { "ca_file", ca, 13 },
					   { "username", "soc", 14 },
					   { "password_file", pw, 15 } };
		s = send_kv(kv, 5, &notice_ja);
	}
	CHECK_INT(s.rc, 0);
	CHECK_INT(s.r.status, CHANNEL_SENT);
	CHECK_STR(s.r.provider_id, "<koban.city.42.7@soc.example.org>");
	if (s.rc < 0)
		printf("# %s / %s\n", s.e.msg, s.r.reason);
	sum = peer_summary(&p, 0);
	CHECK_LINE(sum, "starttls: yes");
	CHECK_LINE(sum, strcmp(mech, "plain") == 0 ? "auth: PLAIN" : "auth: LOGIN");
	CHECK_LINE(sum, "user: soc");
	CHECK_LINE(sum, "password: pä55 word");
	CHECK_LINE(sum, "mail-from: <soc@example.org>");
	CHECK_LINE(sum, "rcpt: <oncall@example.net>");
	CHECK_LINE(sum, "subject: " JA_SUBJECT);
	CHECK_LINE(sum, "from: SOC 当番 <soc@example.org>");
	CHECK_LINE(sum, "to: oncall@example.net");
	CHECK_LINE(sum, "message-id: <koban.city.42.7@soc.example.org>");
	CHECK_LINE(sum, "mime-version: 1.0");
	CHECK_LINE(sum, "content-type: multipart/alternative");
	CHECK_LINE(sum, "parts: text/plain,text/html");
	CHECK_LINE(sum, "plain-charset: utf-8");
	CHECK_LINE(sum, "html-charset: utf-8");
	CHECK_LINE(sum, "text: インシデント #42 は重大です。\\r\\n証拠: 成功したログイン\\r\\n\\r\\n"
			"この通知を受領確認する（リンク先の確認ページで確定します）:\\r\\n"
			"https://soc.example.org/ack/T0K3N\\r\\n");
	CHECK_LINE(sum, "html: <p>インシデント #42 は<b>重大</b>です。</p>\\r\\n"
			"<p><a href=\"https://soc.example.org/ack/T0K3N\">受領確認する</a></p>\\r\\n");
	CHECK_LINE(sum, "defects: 0");
	CHECK(sum && strstr(sum, "\nmax-line: 76\n"));
	free(sum);
	stop(p.pid);
}

static void test_starttls_auth_plain(void)
{
	live_starttls("plain");
}

static void test_starttls_auth_login(void)
{
	live_starttls("login");
}

static void test_implicit_tls(void)
{
	char ca[1100];
	struct peer p;
	struct sent s;
	char *sum;

	if (!peer_start(&p, "implicit", NULL))
		return;
	ca_path(ca, sizeof(ca), "a");
	{
		struct channel_kv kv[] = { { "url", p.url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "ca_file", ca, 13 } };
		s = send_kv(kv, 3, &notice_ja);
	}
	CHECK_INT(s.rc, 0);
	CHECK_INT(s.r.status, CHANNEL_SENT);
	sum = peer_summary(&p, 0);
	CHECK_LINE(sum, "starttls: no"); /* TLS from the first byte */
	CHECK_LINE(sum, "auth: none");
	CHECK_LINE(sum, "subject: " JA_SUBJECT);
	CHECK_LINE(sum, "message-id: <koban.city.42.7@soc.example.org>");
	free(sum);
	stop(p.pid);
}

/*
 * A certificate from another CA: CHANNEL_FAILED_PERM. Retrying the same notice cannot help
 * (the configuration is wrong or someone is in the middle); the engine moves on at once.
 */
static void test_other_ca(void)
{
	char ca[1100], errors[600];
	struct peer p;
	struct sent s;
	char *errs;

	if (!peer_start(&p, "starttls", NULL))
		return;
	ca_path(ca, sizeof(ca), "b");
	{
		struct channel_kv kv[] = { { "url", p.url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "ca_file", ca, 13 } };
		s = send_kv(kv, 3, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(s.r.reason, "certificate") != NULL);
	printf("# %s\n", s.r.reason);
	snprintf(errors, sizeof(errors), "%s/errors", p.dir);
	errs = wait_file(errors); /* the peer saw the handshake fail, and no message */
	CHECK(errs != NULL);
	free(errs);
	snprintf(errors, sizeof(errors), "%s/0.eml", p.dir);
	CHECK(access(errors, F_OK) != 0);
	stop(p.pid);
}

static void test_wrong_password(void)
{
	const char *extra[] = { "--auth", "plain", "--user", "soc", "--password", "right", NULL };
	char ca[1100], pw[600];
	struct peer p;
	struct sent s;

	if (!peer_start(&p, "starttls", extra))
		return;
	ca_path(ca, sizeof(ca), "a");
	pw_file(pw, sizeof(pw), "wrong-pw-XYZ");
	{
		struct channel_kv kv[] = { { "url", p.url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "ca_file", ca, 13 },
					   { "username", "soc", 14 },
					   { "password_file", pw, 15 } };
		s = send_kv(kv, 5, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(s.r.reason, "535") != NULL);
	CHECK(strstr(s.r.reason, "wrong-pw") == NULL && strstr(s.e.msg, "wrong-pw") == NULL);
	printf("# %s\n", s.r.reason);
	stop(p.pid);
}

static void refused_rcpt(const char *reply, enum channel_status want)
{
	const char *extra[] = { "--rcpt-reply", reply, NULL };
	char ca[1100];
	struct peer p;
	struct sent s;

	if (!peer_start(&p, "starttls", extra))
		return;
	ca_path(ca, sizeof(ca), "a");
	{
		struct channel_kv kv[] = { { "url", p.url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "ca_file", ca, 13 } };
		s = send_kv(kv, 3, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, want);
	{
		char expect[300];

		snprintf(expect, sizeof(expect), "the server refused: %s", reply);
		CHECK_STR(s.r.reason, expect);
	}
	stop(p.pid);
}

static void test_rcpt_550_perm(void)
{
	refused_rcpt("550 5.1.1 <oncall@example.net>: Recipient address rejected", CHANNEL_FAILED_PERM);
}

static void test_rcpt_451_temp(void)
{
	refused_rcpt("451 4.3.0 try again later", CHANNEL_FAILED_TEMP);
}

static void test_data_451_temp(void)
{
	const char *extra[] = { "--data-reply", "452 4.3.1 insufficient system storage", NULL };
	char ca[1100];
	struct peer p;
	struct sent s;

	if (!peer_start(&p, "starttls", extra))
		return;
	ca_path(ca, sizeof(ca), "a");
	{
		struct channel_kv kv[] = { { "url", p.url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "ca_file", ca, 13 } };
		s = send_kv(kv, 3, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, CHANNEL_FAILED_TEMP);
	CHECK_STR(s.r.reason, "the server refused: 452 4.3.1 insufficient system storage");
	stop(p.pid);
}

/* Postfix's smtp-sink on 127.0.0.1 with extra options; the dump template in dir. */
static pid_t sink_start(int *port, char *dir, size_t dirlen, const char *const *extra)
{
	static int seq;
	char tmpl[600], addr[64];
	char *argv[32];
	size_t n = 0;
	pid_t pid;

	if (access("/usr/sbin/smtp-sink", X_OK) != 0) {
		t_skip("no /usr/sbin/smtp-sink (the postfix package)");
		return -1;
	}
	*port = free_port();
	snprintf(dir, dirlen, "%s/sink%d", t_tmp_dir(), seq++);
	mkdir(dir, 0777);
	chmod(dir, 0777);
	snprintf(tmpl, sizeof(tmpl), "%s/msg.", dir);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", *port);
	argv[n++] = "/usr/sbin/smtp-sink";
	if (geteuid() == 0) { /* smtp-sink wants a user to switch to when started as root */
		argv[n++] = "-u";
		argv[n++] = "root";
	}
	argv[n++] = "-d";
	argv[n++] = tmpl;
	for (size_t i = 0; extra && extra[i] && n < 28; i++)
		argv[n++] = (char *)extra[i];
	argv[n++] = addr;
	argv[n++] = "10";
	argv[n] = NULL;
	pid = spawn(argv);
	CHECK(wait_listening(*port));
	return pid;
}

/* Plain SMTP to a loopback smtp-sink (tls: none); the dumped message read back. */
static void test_sink_plain(void)
{
	char dir[600], url[64], cmd[4096], dump[700];
	struct notice n = notice_ja;
	struct sent s;
	char *sum = NULL;
	int port;
	pid_t pid = sink_start(&port, dir, sizeof(dir), NULL);

	if (pid < 0)
		return;
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	n.lang = "en";
	n.test = true;
	n.subject = "Test: .leading dot\r\n. and a line with a dot";
	n.text = "line one\n.\n..two dots\nend";
	n.html = NULL;
	n.ack_url = NULL;
	{
		struct channel_kv kv[] = { { "url", url, 11 },
					   { "from", "\"koban SOC\" <soc@example.org>", 12 },
					   { "tls", "none", 13 } };
		s = send_kv(kv, 3, &n);
	}
	CHECK_INT(s.rc, 0);
	CHECK_INT(s.r.status, CHANNEL_SENT);
	CHECK_STR(s.r.provider_id, "<koban.city.42.7@soc.example.org>");
	/* smtp-sink names its dump msg.RANDOM: find it */
	snprintf(cmd, sizeof(cmd), "for f in '%s'/msg.*; do python3 '%s' parse \"$f\" "
		 "> '%s/summary.tmp' && mv '%s/summary.tmp' '%s/summary'; done", dir, script(),
		 dir, dir, dir);
	for (int i = 0; i < 100 && !sum; i++) {
		if (system(cmd) == 0) {
			snprintf(dump, sizeof(dump), "%s/summary", dir);
			sum = t_read_file(dump, NULL);
		}
		if (!sum)
			nap_ms(50);
	}
	CHECK_LINE(sum, "subject: [TEST] Test: .leading dot\\r\\n. and a line with a dot");
	CHECK_LINE(sum, "from: koban SOC <soc@example.org>");
	CHECK_LINE(sum, "message-id: <koban.city.42.7@soc.example.org>");
	CHECK_LINE(sum, "auto-submitted: auto-generated");
	CHECK_LINE(sum, "parts: text/plain,text/html");
	CHECK_LINE(sum, "text: [TEST] This is a test notice from koban: no incident needs "
			"action.\\r\\n\\r\\nline one\\r\\n.\\r\\n..two dots\\r\\nend");
	CHECK_LINE(sum, "html: <!DOCTYPE html>\\r\\n<html><head><meta charset=\"utf-8\"></head>"
			"<body>\\r\\n<p><strong>[TEST] This is a test notice from koban: no incident "
			"needs action.</strong></p>\\r\\n<pre style=\"font-family:sans-serif;"
			"white-space:pre-wrap\">line one\\r\\n.\\r\\n..two dots\\r\\nend</pre>"
			"\\r\\n</body></html>\\r\\n");
	CHECK_LINE(sum, "defects: 0");
	free(sum);
	stop(pid);
}

/* smtp-sink refusing RCPT with 5xx and with 4xx, and a server without STARTTLS. */
static void sink_refuses(const char *opt, enum channel_status want, const char *tls,
			 const char *reason)
{
	const char *extra[] = { opt, "RCPT", NULL };
	char dir[600], url[64];
	struct sent s;
	int port;
	pid_t pid = sink_start(&port, dir, sizeof(dir), opt ? extra : NULL);

	if (pid < 0)
		return;
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	{
		struct channel_kv kv[] = { { "url", url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "tls", tls, 13 } };
		s = send_kv(kv, 3, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, want);
	CHECK(strstr(s.r.reason, reason) != NULL);
	printf("# %s\n", s.r.reason);
	stop(pid);
}

static void test_sink_rcpt_5xx(void)
{
	sink_refuses("-f", CHANNEL_FAILED_PERM, "none", "the server refused: 5");
}

static void test_sink_rcpt_4xx(void)
{
	sink_refuses("-r", CHANNEL_FAILED_TEMP, "none", "the server refused: 4");
}

/* STARTTLS required and not offered: never sent in plain text. */
static void test_sink_no_starttls(void)
{
	sink_refuses(NULL, CHANNEL_FAILED_PERM, "starttls", "TLS");
}

static void test_connection_refused(void)
{
	char url[64];
	struct sent s;

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", free_port());
	{
		struct channel_kv kv[] = { { "url", url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "tls", "none", 13 } };
		s = send_kv(kv, 3, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, CHANNEL_FAILED_TEMP);
	printf("# %s\n", s.r.reason);
}

/* A server that accepts the connection and never greets: a timeout, FAILED_TEMP. */
static void test_timeout(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];
	struct sent s;

	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 4) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", ntohs(a.sin_port));
	{
		struct channel_kv kv[] = { { "url", url, 11 },
					   { "from", "soc@example.org", 12 },
					   { "tls", "none", 13 },
					   { "timeout", "1", 14 } };
		s = send_kv(kv, 4, &notice_ja);
	}
	CHECK(s.rc < 0);
	CHECK_INT(s.r.status, CHANNEL_FAILED_TEMP);
	CHECK(s.seconds >= 0.9 && s.seconds < 5);
	printf("# %s (%.1f s)\n", s.r.reason, s.seconds);
	close(fd);
}

/* A recipient that is no address fails permanently before any connection. */
static void test_bad_recipient(void)
{
	struct notice n = notice_ja;
	struct sent s;

	n.recipient = "oncall@example.net\r\nRCPT TO:<evil@example.com>";
	{
		struct channel_kv kv[] = { { "url", "smtp://127.0.0.1:1", 11 },
					   { "from", "soc@example.org", 12 },
					   { "tls", "none", 13 } };
		s = send_kv(kv, 3, &n);
	}
	CHECK_INT(s.rc, -EINVAL);
	CHECK_INT(s.r.status, CHANNEL_FAILED_PERM);
	CHECK(strstr(s.r.reason, "recipient: not a mail address") != NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_mime_golden_en);
	T_RUN(test_mime_golden_ja);
	T_RUN(test_mime_injection);
	T_RUN(test_mime_lines);
	T_RUN(test_from_parse);
	T_RUN(test_registered);
	T_RUN(test_conf_refusals);
	T_RUN(test_bad_recipient);
	T_RUN(test_connection_refused);
	T_RUN(test_timeout);
	T_RUN(test_sink_plain);
	T_RUN(test_sink_rcpt_5xx);
	T_RUN(test_sink_rcpt_4xx);
	T_RUN(test_sink_no_starttls);
	T_RUN(test_starttls_auth_plain);
	T_RUN(test_starttls_auth_login);
	T_RUN(test_implicit_tls);
	T_RUN(test_other_ca);
	T_RUN(test_wrong_password);
	T_RUN(test_rcpt_550_perm);
	T_RUN(test_rcpt_451_temp);
	T_RUN(test_data_451_temp);
	return t_done();
}
