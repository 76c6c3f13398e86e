/*
 * smtp.c - the `smtp` channel: configuration, the MIME message, submission with libcurl.
 */
#include "notify/smtp.h"
#include "core/compat.h"

#include <curl/curl.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define LINE_MAX_CHARS 76      /* RFC 2047 header lines, RFC 2045 base64 lines */
#define BASE64_LINE_BYTES 57   /* 76 base64 characters */
#define WORD_OVERHEAD 12       /* "=?UTF-8?B?" + "?=" */
#define TIMEOUT_DEFAULT_S 30
#define CONNECT_TIMEOUT_S 10L
#define REPLY_MAX 200          /* bytes of the server's last reply kept for a reason */
#define BOUNDARY_MAX 70

/* ------------------------------------------------------------------------------------ */
/* Pieces of the message                                                                */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of p[0..n) without line breaks. */
static int add_base64(struct buf *out, const unsigned char *p, size_t n)
{
	char q[4];
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t k = n - i < 3 ? n - i : 3;

		if (k > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (k > 2)
			v |= p[i + 2];
		q[0] = b64_alphabet[(v >> 18) & 63];
		q[1] = b64_alphabet[(v >> 12) & 63];
		q[2] = k > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		q[3] = k > 2 ? b64_alphabet[v & 63] : '=';
		rc = buf_add(out, q, 4);
	}
	return rc;
}

/* base64 of p[0..n) in CRLF lines of 76 characters (a body part). */
static int add_base64_lines(struct buf *out, const char *p, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += BASE64_LINE_BYTES) {
		size_t k = n - i < BASE64_LINE_BYTES ? n - i : BASE64_LINE_BYTES;

		rc = add_base64(out, (const unsigned char *)p + i, k);
		if (rc == 0)
			rc = buf_add(out, "\r\n", 2);
	}
	return rc;
}

/*
 * Appends s[0..len) as UTF-8: invalid bytes become U+FFFD. With crlf, every line ending
 * (LF, CR or CRLF) becomes CRLF (the canonical form of a text part).
 */
static int add_utf8(struct buf *out, const char *s, size_t len, bool crlf)
{
	const unsigned char *u = (const unsigned char *)s;
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0;) {
		size_t k = json_utf8_len(u + i, len - i);

		if (crlf && (u[i] == '\r' || u[i] == '\n')) {
			i += u[i] == '\r' && i + 1 < len && u[i + 1] == '\n' ? 2 : 1;
			rc = buf_add(out, "\r\n", 2);
		} else if (k == 0) {
			rc = buf_add(out, "\xef\xbf\xbd", 3);
			i++;
		} else {
			rc = buf_add(out, s + i, k);
			i += k;
		}
	}
	return rc;
}

/*
 * Appends s[0..len) (valid UTF-8) as RFC 2047 B encoded-words, each on its own line after the
 * first: col is the column where the first word starts; lines stay within 76 characters and a
 * word never splits a character. *endcol gets the column after the last word.
 */
static int add_words(struct buf *out, const char *s, size_t len, size_t col, size_t *endcol)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	int rc = 0;

	do {
		size_t start = i > 0 ? 1 : col; /* every word after the first starts a line */
		size_t room = start + WORD_OVERHEAD < LINE_MAX_CHARS ?
			(LINE_MAX_CHARS - start - WORD_OVERHEAD) / 4 * 3 : 0;
		size_t k = len - i < room ? len - i : room;

		if (room < 12 && i == 0 && col > 1) { /* too little room: start on a new line */
			rc = buf_add(out, "\r\n ", 3);
			col = 1;
			continue;
		}
		while (k > 0 && i + k < len && (u[i + k] & 0xc0) == 0x80)
			k--; /* the cut falls inside a character: end the word before it */
		if (i > 0)
			rc = buf_add(out, "\r\n ", 3);
		if (rc == 0)
			rc = buf_add(out, "=?UTF-8?B?", 10);
		if (rc == 0)
			rc = add_base64(out, u + i, k);
		if (rc == 0)
			rc = buf_add(out, "?=", 2);
		col = start + WORD_OVERHEAD + (k + 2) / 3 * 4;
		i += k;
	} while (rc == 0 && i < len);
	if (endcol)
		*endcol = col;
	return rc;
}

static bool needs_encoding(const char *s, size_t len, size_t col)
{
	if (col + len > LINE_MAX_CHARS || memmem(s, len, "=?", 2))
		return true;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return true;
	return false;
}

/* The subject, cleaned to UTF-8: plain when short printable ASCII, else encoded-words. */
static int add_subject(struct buf *out, struct buf *tmp, const char *prefix, const char *s)
{
	int rc;

	buf_reset(tmp);
	rc = buf_adds(tmp, prefix);
	if (rc == 0)
		rc = add_utf8(tmp, s, strlen(s), false);
	if (rc == 0)
		rc = buf_add(out, "Subject: ", 9);
	if (rc < 0)
		return rc;
	if (tmp->len == 0 || !needs_encoding(tmp->p, tmp->len, 9))
		rc = buf_add(out, tmp->p, tmp->len);
	else
		rc = add_words(out, tmp->p, tmp->len, 9, NULL);
	return rc == 0 ? buf_add(out, "\r\n", 2) : rc;
}

static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A display name holds no control character and is valid UTF-8 of at most SMTP_NAME_MAX. */
static bool name_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	if (len > SMTP_NAME_MAX)
		return false;
	for (size_t i = 0; i < len;) {
		size_t k = json_utf8_len(u + i, len - i);

		if (k == 0 || (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)))
			return false;
		i += k;
	}
	return true;
}

/* From: with the name as atoms, a quoted string or encoded-words, then <addr>. */
static int add_from(struct buf *out, const char *name, const char *addr)
{
	size_t len = name ? strlen(name) : 0, col = 6;
	bool atoms = true, ascii = true;
	int rc = buf_add(out, "From: ", 6);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		atoms = atoms && (is_atext(c) || c == ' ');
		ascii = ascii && c >= 0x20 && c < 0x7f;
	}
	if (rc == 0 && len > 0) {
		if (ascii && !needs_encoding(name, len, 6 + 2)) {
			if (!atoms)
				rc = buf_addch(out, '"');
			for (size_t i = 0; i < len && rc == 0; i++) {
				if (!atoms && (name[i] == '"' || name[i] == '\\'))
					rc = buf_addch(out, '\\');
				if (rc == 0)
					rc = buf_addch(out, name[i]);
			}
			if (rc == 0 && !atoms)
				rc = buf_addch(out, '"');
			col = 6 + len + (atoms ? 0 : 2);
		} else {
			rc = add_words(out, name, len, 6, &col);
		}
		if (rc == 0)
			rc = col + 3 + strlen(addr) > LINE_MAX_CHARS ? buf_add(out, "\r\n ", 3)
								     : buf_addch(out, ' ');
	}
	if (rc == 0)
		rc = buf_addf(out, "<%s>\r\n", addr);
	return rc;
}

static bool message_id_valid(const char *s)
{
	size_t len = strlen(s);
	const char *at;

	if (len < 5 || len >= CHANNEL_PROVIDER_ID_MAX || s[0] != '<' || s[len - 1] != '>')
		return false;
	at = memchr(s, '@', len);
	if (!at || at == s + 1 || at == s + len - 2)
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '<' || s[i] == '>')
			return false;
	return true;
}

static bool boundary_valid(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > BOUNDARY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || strchr("'()+_,-./:=?", s[i])))
			return false;
	return true;
}

static bool url_valid(const char *s)
{
	size_t len = strlen(s);

	if (len > SMTP_URL_MAX || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || strchr("\"<>\\'`", s[i]))
			return false;
	return true;
}

bool smtp_addr_valid(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	size_t local, dom;

	if (!at || len > SMTP_ADDR_MAX)
		return false;
	local = (size_t)(at - s);
	dom = len - local - 1;
	if (local < 1 || local > 64 || dom < 1 || s[0] == '.' || s[local - 1] == '.' ||
	    at[1] == '.' || at[1] == '-' || s[len - 1] == '.' || s[len - 1] == '-' ||
	    memmem(s, len, "..", 2))
		return false;
	for (size_t i = 0; i < local; i++)
		if (!is_atext((unsigned char)s[i]) && s[i] != '.')
			return false;
	for (size_t i = local + 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static const char *const weekdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int add_date(struct buf *out, int64_t ns)
{
	struct civil_time c;
	int64_t days = ns >= 0 ? ns / (86400 * NS_PER_SEC)
			       : -((-ns + 86400 * NS_PER_SEC - 1) / (86400 * NS_PER_SEC));
	int wd = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */

	time_to_civil_utc(ns, &c);
	return buf_addf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", weekdays[wd],
			c.day, months[c.month - 1], c.year, c.hour, c.min, c.sec);
}

/* s[0..len) HTML-escaped (cleaned to UTF-8 first). */
static int add_html_escaped(struct buf *out, const char *s, size_t len)
{
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i++) {
		switch (s[i]) {
		case '&': rc = buf_add(out, "&amp;", 5); break;
		case '<': rc = buf_add(out, "&lt;", 4); break;
		case '>': rc = buf_add(out, "&gt;", 4); break;
		case '"': rc = buf_add(out, "&quot;", 6); break;
		case '\'': rc = buf_add(out, "&#39;", 5); break;
		default: rc = buf_addch(out, s[i]); break;
		}
	}
	return rc;
}

struct labels {
	const char *subject_test, *banner, *ack_text, *ack_link;
};

static const struct labels labels_en = {
	"[TEST] ",
	"[TEST] This is a test notice from koban: no incident needs action.",
	"Acknowledge this notice (the link opens a confirmation page):",
	"Acknowledge",
};

static const struct labels labels_ja = {
	"【テスト】",
	"【テスト】koban からのテスト通知です。対応は不要です。",
	"この通知を受領確認する（リンク先の確認ページで確定します）:",
	"受領確認する",
};

/* Finds the ASCII tag (lower case) in s case-insensitively: the offset, from the end when last. */
static const char *find_tag(const char *s, const char *tag, bool last)
{
	size_t n = strlen(tag), len = strlen(s);
	const char *hit = NULL;

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, tag, n) == 0) {
			hit = s + i;
			if (!last)
				break;
		}
	return hit;
}

static int build_text(const struct smtp_mime *m, const struct labels *l, struct buf *t)
{
	int rc = 0;

	if (m->test)
		rc = buf_addf(t, "%s\r\n\r\n", l->banner);
	if (rc == 0)
		rc = add_utf8(t, m->text ? m->text : "", m->text ? strlen(m->text) : 0, true);
	if (rc == 0 && m->ack_url) {
		if (t->len >= 2 && memcmp(t->p + t->len - 2, "\r\n", 2) != 0)
			rc = buf_add(t, "\r\n", 2);
		if (rc == 0)
			rc = buf_addf(t, "\r\n%s\r\n%s\r\n", l->ack_text, m->ack_url);
	}
	return rc;
}

static int build_html(const struct smtp_mime *m, const struct labels *l, struct buf *h,
		      struct buf *tmp)
{
	const char *body = m->html ? m->html : NULL, *open = NULL, *close = NULL;
	size_t head = 0, tail = 0, len;
	int rc = 0;

	buf_reset(tmp);
	if (body) {
		rc = add_utf8(tmp, body, strlen(body), true);
		len = tmp->len;
		open = find_tag(tmp->p, "<body", false);
		if (open && (open = strchr(open, '>')))
			head = (size_t)(open + 1 - tmp->p);
		close = find_tag(tmp->p + head, "</body", true);
		tail = close ? (size_t)(close - tmp->p) : len;
	} else {
		rc = buf_adds(h, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head>"
			      "<body>\r\n");
		if (rc == 0)
			rc = add_utf8(tmp, m->text ? m->text : "", m->text ? strlen(m->text) : 0,
				      true);
		len = head = tail = 0;
	}
	if (rc == 0)
		rc = buf_add(h, tmp->p, head);
	if (rc == 0 && m->test)
		rc = buf_addf(h, "<p><strong>%s</strong></p>\r\n", l->banner);
	if (rc == 0 && !body) {
		rc = buf_adds(h, "<pre style=\"font-family:sans-serif;white-space:pre-wrap\">");
		if (rc == 0)
			rc = add_html_escaped(h, tmp->p, tmp->len);
		if (rc == 0)
			rc = buf_adds(h, "</pre>\r\n");
	} else if (rc == 0) {
		rc = buf_add(h, tmp->p + head, tail - head);
	}
	if (rc == 0 && m->ack_url) {
		if (h->len >= 2 && memcmp(h->p + h->len - 2, "\r\n", 2) != 0)
			rc = buf_add(h, "\r\n", 2);
		if (rc == 0)
			rc = buf_adds(h, "<p><a href=\"");
		if (rc == 0)
			rc = add_html_escaped(h, m->ack_url, strlen(m->ack_url));
		if (rc == 0)
			rc = buf_addf(h, "\">%s</a></p>\r\n", l->ack_link);
	}
	if (rc == 0 && body)
		rc = buf_add(h, tmp->p + tail, len - tail);
	else if (rc == 0)
		rc = buf_adds(h, "</body></html>\r\n");
	return rc;
}

static int add_part(struct buf *out, const char *boundary, const char *type, const struct buf *b)
{
	int rc = buf_addf(out, "--%s\r\nContent-Type: %s; charset=UTF-8\r\n"
			  "Content-Transfer-Encoding: base64\r\n\r\n", boundary, type);

	return rc == 0 ? add_base64_lines(out, b->p, b->len) : rc;
}

int smtp_mime_build(const struct smtp_mime *m, struct buf *out, struct err *e)
{
	const struct labels *l = m->lang && strcmp(m->lang, "ja") == 0 ? &labels_ja : &labels_en;
	struct buf text = BUF_INIT(SMTP_MESSAGE_MAX), html = BUF_INIT(SMTP_MESSAGE_MAX);
	struct buf tmp = BUF_INIT(SMTP_MESSAGE_MAX);
	size_t start = out->len;
	int rc;

	if (!m->from_addr || !smtp_addr_valid(m->from_addr, strlen(m->from_addr)))
		return err_set(e, -EINVAL, "from: not a mail address (local@domain in ASCII)");
	if (m->from_name && !name_valid(m->from_name, strlen(m->from_name)))
		return err_set(e, -EINVAL, "from: the display name holds a control character, "
			       "invalid UTF-8 or more than %d bytes", SMTP_NAME_MAX);
	if (!m->to_addr || !smtp_addr_valid(m->to_addr, strlen(m->to_addr)))
		return err_set(e, -EINVAL, "recipient: not a mail address (local@domain in ASCII)");
	if (!m->message_id || !message_id_valid(m->message_id))
		return err_set(e, -EINVAL, "message_id: expected <left@right> in printable ASCII");
	if (!m->boundary || !boundary_valid(m->boundary))
		return err_set(e, -EINVAL, "boundary: 1..%d characters of RFC 2046's set",
			       BOUNDARY_MAX);
	if (m->ack_url && !url_valid(m->ack_url))
		return err_set(e, -EINVAL, "ack_url: expected an http(s) URL of printable ASCII "
			       "without quotes or angle brackets, at most %d bytes", SMTP_URL_MAX);

	rc = add_date(out, m->date_ns);
	if (rc == 0)
		rc = add_from(out, m->from_name, m->from_addr);
	if (rc == 0)
		rc = buf_addf(out, "To: %s\r\n", m->to_addr);
	if (rc == 0)
		rc = add_subject(out, &tmp, m->test ? l->subject_test : "",
				 m->subject ? m->subject : "");
	if (rc == 0)
		rc = buf_addf(out, "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
			      "Auto-Submitted: auto-generated\r\n"
			      "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
			      m->message_id, m->boundary);
	if (rc == 0)
		rc = build_text(m, l, &text);
	if (rc == 0)
		rc = build_html(m, l, &html, &tmp);
	if (rc == 0)
		rc = add_part(out, m->boundary, "text/plain", &text);
	if (rc == 0)
		rc = add_part(out, m->boundary, "text/html", &html);
	if (rc == 0)
		rc = buf_addf(out, "--%s--\r\n", m->boundary);
	if (rc == 0 && out->len - start > SMTP_MESSAGE_MAX)
		rc = -ENOSPC;
	buf_release(&text);
	buf_release(&html);
	buf_release(&tmp);
	if (rc < 0) {
		buf_truncate(out, start);
		return err_set(e, rc, rc == -ENOSPC ? "message larger than %u bytes" :
				"out of memory building the message", SMTP_MESSAGE_MAX);
	}
	return 0;
}

int smtp_from_parse(const char *s, char *name, char *addr, struct err *e)
{
	const char *lt = strchr(s, '<'), *a = s, *end;
	size_t alen, nlen = 0;

	name[0] = addr[0] = '\0';
	if (lt) {
		const char *n0 = s, *n1 = lt;
		size_t len = strlen(s);

		if (len < 2 || s[len - 1] != '>')
			return err_set(e, -EINVAL, "expected \"Name <local@domain>\" (no text after '>')");
		a = lt + 1;
		end = s + len - 1;
		while (n0 < n1 && *n0 == ' ')
			n0++;
		while (n1 > n0 && n1[-1] == ' ')
			n1--;
		if (n1 - n0 >= 2 && *n0 == '"' && n1[-1] == '"') {
			n0++;
			n1--;
		}
		nlen = (size_t)(n1 - n0);
		if (nlen > SMTP_NAME_MAX || !name_valid(n0, nlen) || memchr(n0, '"', nlen) ||
		    memchr(n0, '\\', nlen))
			return err_set(e, -EINVAL, "the display name must be UTF-8 text of at most %d "
				       "bytes without control characters, quotes or backslashes",
				       SMTP_NAME_MAX);
		memcpy(name, n0, nlen);
		name[nlen] = '\0';
	} else {
		end = s + strlen(s);
	}
	alen = (size_t)(end - a);
	if (!smtp_addr_valid(a, alen))
		return err_set(e, -EINVAL, "expected a mail address (local@domain in ASCII), "
			       "optionally after a display name: \"Name <local@domain>\"");
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The channel                                                                          */

enum smtp_tls { TLS_STARTTLS, TLS_IMPLICIT, TLS_NONE };

struct smtp {
	char *url;
	char *ca_file;
	char *username;
	char *password;
	char from_name[SMTP_NAME_MAX + 1];
	char from_addr[SMTP_ADDR_MAX + 1];
	enum smtp_tls tls;
	long timeout_s;
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	struct buf msg;
	char reply[REPLY_MAX + 1]; /* the server's last refusal (4xx, 5xx) */
};

static const char *const smtp_keys[] = {
	"url", "from", "tls", "ca_file", "username", "password_file", "rate", "timeout",
};

/* "FILE:LINE: notify.channels.NAME.KEY: what" for messages. */
static int conf_err(const struct channel_conf *c, struct err *e, const char *key, int code,
		    const char *fmt, ...) PRINTF_LIKE(5, 6);
static int conf_err(const struct channel_conf *c, struct err *e, const char *key, int code,
		    const char *fmt, ...)
{
	char what[400];
	int line = 0;
	va_list ap;

	if (!channel_conf_get(c, key, &line) || !line)
		line = c->line;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(e, code, "%s:%d: notify.channels.%s.%s: %s", c->file ? c->file : "", line,
		       c->name, key, what);
}

/* True for 127.0.0.0/8, ::1 and the name localhost (which libcurl resolves to loopback). */
static bool host_loopback(const char *host)
{
	struct ipaddr ip;
	size_t len = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	return ipaddr_parse(&ip, host, len) == 0 && ipaddr_is_loopback(&ip);
}

/* Checks url: smtp or smtps, a host, no credentials, path, query or fragment. */
static int url_check(const struct channel_conf *c, const char *url, char **scheme, char **host,
		     struct err *e)
{
	static const struct { CURLUPart part; const char *what; } extra[] = {
		{ CURLUPART_USER, "user name (use username and password_file)" },
		{ CURLUPART_PASSWORD, "password (use password_file)" },
		{ CURLUPART_OPTIONS, "login options" },
		{ CURLUPART_QUERY, "query" },
		{ CURLUPART_FRAGMENT, "fragment" },
	};
	const char *expect = "expected smtp://HOST:PORT or smtps://HOST:PORT";
	CURLU *u = curl_url();
	char *path = NULL, *part = NULL;
	int rc = 0;

	*scheme = *host = NULL;
	if (!u)
		return err_set(e, -ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK) {
		rc = conf_err(c, e, "url", -EINVAL, "%s, not a URL", expect);
		goto fail;
	}
	if (strcmp(*scheme, "smtp") != 0 && strcmp(*scheme, "smtps") != 0) {
		rc = conf_err(c, e, "url", -EINVAL, "%s (scheme %s)", expect, *scheme);
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
		if (curl_url_get(u, extra[i].part, &part, 0) == CURLUE_OK) {
			rc = conf_err(c, e, "url", -EINVAL, "%s, without a %s", expect,
				      extra[i].what);
			goto fail;
		}
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0 &&
	    path[0]) {
		rc = conf_err(c, e, "url", -EINVAL, "%s, without a path", expect);
		goto fail;
	}
fail:
	curl_free(part);
	curl_free(path);
	curl_url_cleanup(u);
	if (rc < 0) {
		curl_free(*scheme);
		curl_free(*host);
		*scheme = *host = NULL;
	}
	return rc;
}

static void smtp_close(void *state)
{
	struct smtp *s = state;

	if (!s)
		return;
	if (s->curl) {
		curl_easy_cleanup(s->curl);
		curl_global_cleanup();
	}
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		mem_free(s->password);
	}
	mem_free(s->url);
	mem_free(s->ca_file);
	mem_free(s->username);
	buf_release(&s->msg);
	mem_free(s);
}

static int smtp_open(const struct channel_conf *c, void **state, struct err *e)
{
	struct smtp *s;
	const char *v;
	char *scheme = NULL, *host = NULL, *secret = NULL, *end;
	struct err pe = ERR_INIT;
	int rc = 0, line;

	*state = NULL;
	for (size_t i = 0; i < c->n_kv; i++) {
		size_t k = 0;

		while (k < ARRAY_SIZE(smtp_keys) && strcmp(c->kv[i].key, smtp_keys[k]) != 0)
			k++;
		if (k == ARRAY_SIZE(smtp_keys))
			return err_set(e, -EINVAL, "%s:%d: notify.channels.%s.%s: unknown key of "
				       "type smtp (known: url, from, tls, ca_file, username, "
				       "password_file, rate, timeout)", c->file ? c->file : "",
				       c->kv[i].line ? c->kv[i].line : c->line, c->name,
				       c->kv[i].key);
	}
	if (!(s = mem_calloc(1, sizeof(*s))))
		return err_set(e, -ENOMEM, "out of memory");
	buf_init(&s->msg, SMTP_MESSAGE_MAX);
	s->timeout_s = TIMEOUT_DEFAULT_S;

	if (!(v = channel_conf_get(c, "url", NULL))) {
		rc = conf_err(c, e, "url", -EINVAL, "missing (smtp://HOST:PORT with STARTTLS, "
			      "or smtps://HOST:PORT)");
		goto fail;
	}
	if ((rc = url_check(c, v, &scheme, &host, e)) < 0)
		goto fail;
	if (!(s->url = mem_strdup(v))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	v = channel_conf_get(c, "tls", NULL);
	if (!v) {
		s->tls = strcmp(scheme, "smtps") == 0 ? TLS_IMPLICIT : TLS_STARTTLS;
	} else if (strcmp(v, "starttls") == 0) {
		s->tls = TLS_STARTTLS;
	} else if (strcmp(v, "implicit") == 0) {
		s->tls = TLS_IMPLICIT;
	} else if (strcmp(v, "none") == 0) {
		s->tls = TLS_NONE;
	} else {
		rc = conf_err(c, e, "tls", -EINVAL, "expected starttls, implicit or none, not "
			      "\"%.40s\"", v);
		goto fail;
	}
	if ((s->tls == TLS_IMPLICIT) != (strcmp(scheme, "smtps") == 0)) {
		rc = conf_err(c, e, "tls", -EINVAL, s->tls == TLS_IMPLICIT ?
			      "implicit TLS needs an smtps:// url" :
			      "an smtps:// url means implicit TLS (tls: implicit)");
		goto fail;
	}
	if (s->tls == TLS_NONE && !host_loopback(host)) {
		rc = conf_err(c, e, "tls", -EINVAL, "none is accepted only for a loopback address "
			      "(127.0.0.1, ::1, localhost), not for %s: use starttls or implicit",
			      host);
		goto fail;
	}
	if (!(v = channel_conf_get(c, "from", NULL))) {
		rc = conf_err(c, e, "from", -EINVAL, "missing (the sender, e.g. "
			      "\"SOC <soc@example.org>\")");
		goto fail;
	}
	if (smtp_from_parse(v, s->from_name, s->from_addr, &pe) < 0) {
		rc = conf_err(c, e, "from", -EINVAL, "%s", pe.msg);
		goto fail;
	}
	if ((v = channel_conf_get(c, "ca_file", NULL))) {
		if (access(v, R_OK) != 0) {
			rc = conf_err(c, e, "ca_file", -errno, "cannot read %s: %s", v,
				      strerror(errno));
			goto fail;
		}
		if (!(s->ca_file = mem_strdup(v))) {
			rc = err_set(e, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	v = channel_conf_get(c, "username", NULL);
	if (!v != !channel_conf_get(c, "password_file", NULL)) {
		rc = conf_err(c, e, v ? "username" : "password_file", -EINVAL,
			      "username and password_file go together (or neither)");
		goto fail;
	}
	if (v) {
		size_t len = strlen(v);

		if (len == 0 || len > 256 || !name_valid(v, len)) {
			rc = conf_err(c, e, "username", -EINVAL, "expected 1..256 bytes of text "
				      "without control characters");
			goto fail;
		}
		if (!(s->username = mem_strdup(v)) ||
		    !(secret = mem_alloc(CHANNEL_SECRET_MAX + 1))) {
			rc = err_set(e, -ENOMEM, "out of memory");
			goto fail;
		}
		if ((rc = channel_secret_read(c, "password_file", true, secret,
					      CHANNEL_SECRET_MAX + 1, e)) < 0)
			goto fail;
		s->password = secret;
		secret = NULL;
	}
	if ((v = channel_conf_get(c, "rate", &line))) {
		double r;

		errno = 0;
		r = strtod(v, &end);
		if (errno || end == v || *end || !(r > 0) || r > 1000) {
			rc = conf_err(c, e, "rate", -EINVAL, "expected notices per second, a number "
				      "above 0 and at most 1000 (e.g. 0.5)");
			goto fail;
		}
	}
	if ((v = channel_conf_get(c, "timeout", NULL))) {
		long t;

		errno = 0;
		t = strtol(v, &end, 10);
		if (errno || end == v || *end || t < 1 || t > SMTP_TIMEOUT_MAX) {
			rc = conf_err(c, e, "timeout", -EINVAL, "expected whole seconds, 1..%d",
				      SMTP_TIMEOUT_MAX);
			goto fail;
		}
		s->timeout_s = t;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = err_set(e, -EIO, "libcurl cannot start");
		goto fail;
	}
	if (!(s->curl = curl_easy_init())) {
		curl_global_cleanup();
		rc = err_set(e, -ENOMEM, "libcurl: no handle");
		goto fail;
	}
	curl_free(scheme);
	curl_free(host);
	*state = s;
	return 0;
fail:
	if (secret) {
		explicit_bzero(secret, CHANNEL_SECRET_MAX + 1);
		mem_free(secret);
	}
	curl_free(scheme);
	curl_free(host);
	smtp_close(s);
	return rc;
}

struct upload {
	const char *p;
	size_t len, off;
};

static size_t on_read(char *dst, size_t size, size_t n, void *ctx)
{
	struct upload *u = ctx;
	size_t k = size * n < u->len - u->off ? size * n : u->len - u->off;

	memcpy(dst, u->p + u->off, k);
	u->off += k;
	return k;
}

/*
 * Server replies reach the header callback line by line: keep the last refusal (a 4xx or
 * 5xx line), printable, for the reason; the 221 of the QUIT that follows does not replace it.
 */
static size_t on_reply(char *data, size_t size, size_t n, void *ctx)
{
	struct smtp *s = ctx;
	size_t len = size * n, k = 0;

	if (len < 4 || (data[0] != '4' && data[0] != '5') || data[1] < '0' || data[1] > '9' ||
	    data[2] < '0' || data[2] > '9')
		return len;
	for (size_t i = 0; i < len && k < REPLY_MAX; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c == '\r' || c == '\n')
			break;
		s->reply[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (k > 0)
		s->reply[k] = '\0';
	return len;
}

/* A curl failure without an SMTP code: which are worth a retry. */
static bool curl_code_temporary(CURLcode cc)
{
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_USE_SSL_FAILED:
	case CURLE_LOGIN_DENIED:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_AUTH_ERROR:
		return false;
	default:
		return true;
	}
}

static void boundary_make(char out[40])
{
	unsigned char r[12];
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = (uint64_t)time_mono_ns() ^ (uint64_t)time_now_ns();

		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)i;
	}
	memcpy(out, "=_koban_", 8);
	n = 8;
	for (size_t i = 0; i < sizeof(r); i++) {
		out[n++] = hex[r[i] >> 4];
		out[n++] = hex[r[i] & 15];
	}
	out[n] = '\0';
}

static int smtp_send(void *state, const struct notice *n, struct channel_result *r,
		     struct err *e)
{
	struct smtp *s = state;
	struct curl_slist *rcpt = NULL;
	char boundary[40], path[SMTP_ADDR_MAX + 3];
	struct upload up;
	struct smtp_mime m;
	long code = 0;
	CURLcode cc;
	int rc;

	memset(r, 0, sizeof(*r));
	boundary_make(boundary);
	m = (struct smtp_mime){
		.from_name = s->from_name[0] ? s->from_name : NULL,
		.from_addr = s->from_addr,
		.to_addr = n->recipient,
		.subject = n->subject,
		.text = n->text,
		.html = n->html,
		.ack_url = n->ack_url,
		.lang = n->lang,
		.message_id = n->message_id,
		.boundary = boundary,
		.date_ns = time_now_ns(),
		.test = n->test,
	};
	buf_reset(&s->msg);
	if ((rc = smtp_mime_build(&m, &s->msg, e)) < 0) {
		r->status = CHANNEL_FAILED_PERM;
		snprintf(r->reason, sizeof(r->reason), "message not built: %.200s", e ? e->msg : "");
		return rc;
	}
	snprintf(path, sizeof(path), "<%s>", n->recipient);
	if (!(rcpt = curl_slist_append(NULL, path))) {
		r->status = CHANNEL_FAILED_TEMP;
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		return err_set(e, -ENOMEM, "out of memory");
	}
	up = (struct upload){ s->msg.p, s->msg.len, 0 };
	snprintf(path, sizeof(path), "<%s>", s->from_addr);

	curl_easy_reset(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, s->tls == TLS_IMPLICIT ? "smtps" : "smtp");
	curl_easy_setopt(s->curl, CURLOPT_USE_SSL,
			 s->tls == TLS_NONE ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
	curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(s->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (s->ca_file)
		curl_easy_setopt(s->curl, CURLOPT_CAINFO, s->ca_file);
	if (s->username) {
		curl_easy_setopt(s->curl, CURLOPT_USERNAME, s->username);
		curl_easy_setopt(s->curl, CURLOPT_PASSWORD, s->password);
	}
	curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, path);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(s->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->msg.len);
	curl_easy_setopt(s->curl, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(s->curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_reply);
	curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->curl_err);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_FORBID_REUSE, 1L); /* one connection per notice */
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, MIN(CONNECT_TIMEOUT_S, s->timeout_s));
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, s->timeout_s);
	s->curl_err[0] = '\0';
	s->reply[0] = '\0';
	cc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (s->password)
		curl_easy_setopt(s->curl, CURLOPT_PASSWORD, "");
	curl_slist_free_all(rcpt);

	if (cc == CURLE_OK && code == 250) {
		r->status = CHANNEL_SENT;
		snprintf(r->provider_id, sizeof(r->provider_id), "%s", n->message_id);
		return 0;
	}
	if (code >= 400 && code <= 599) {
		r->status = code < 500 ? CHANNEL_FAILED_TEMP : CHANNEL_FAILED_PERM;
		snprintf(r->reason, sizeof(r->reason), "the server refused: %.200s",
			 s->reply[0] ? s->reply : s->curl_err);
	} else {
		r->status = curl_code_temporary(cc) ? CHANNEL_FAILED_TEMP : CHANNEL_FAILED_PERM;
		snprintf(r->reason, sizeof(r->reason), "%.200s",
			 s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
	}
	return err_set(e, r->status == CHANNEL_FAILED_TEMP ? -EAGAIN : -EIO, "smtp %s: %s",
		       s->url, r->reason);
}

const struct channel_ops smtp_channel = {
	.type = "smtp",
	.rate_per_s = 0,
	.open = smtp_open,
	.send = smtp_send,
	.close = smtp_close,
};
