/*
 * fuzz_smtp.c - libFuzzer target for notify/smtp's message builder and `from` parser, which
 * see text that attackers influence (incident titles and evidence come from log lines).
 *
 * The input is split at NUL bytes into: from, recipient, subject, text, html, ack_url,
 * message_id, lang. Whatever they hold, a built message has CRLF line ends only, no line
 * past 998 characters, and a header of exactly the eight header fields koban writes, each
 * once, with continuation lines only starting with a space; `from` values that parse always
 * build.
 */
#include "notify/smtp.h"
#include "core/buf.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const headers[] = { "Date: ", "From: ", "To: ", "Subject: ", "Message-ID: ",
				       "MIME-Version: ", "Auto-Submitted: ", "Content-Type: " };

static void check_message(const char *p, size_t len)
{
	int seen[8] = { 0 };
	size_t i = 0;
	int in_header = 1;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t n;

		if (!nl || nl == p + i || nl[-1] != '\r')
			abort(); /* a bare LF, or no line end at the end */
		n = (size_t)(nl - (p + i)) - 1;
		if (n > 998 || memchr(p + i, '\r', n))
			abort();
		if (in_header) {
			if (n == 0) {
				in_header = 0;
			} else if (p[i] != ' ') {
				size_t k = 0;

				while (k < 8 && strncmp(p + i, headers[k], strlen(headers[k])) != 0)
					k++;
				if (k == 8 || seen[k]++)
					abort();
			}
		}
		i += n + 2;
	}
	for (size_t k = 0; k < 8; k++)
		if (seen[k] != 1)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *f[8] = { 0 };
	char name[SMTP_NAME_MAX + 1], addr[SMTP_ADDR_MAX + 1];
	struct buf out = BUF_INIT(SMTP_MESSAGE_MAX + 1024);
	struct err e = ERR_INIT;
	size_t k = 0, start = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i <= size && k < 8; i++)
		if (copy[i] == '\0') {
			f[k++] = copy + start;
			start = i + 1;
		}
	if (f[0] && smtp_from_parse(f[0], name, addr, &e) == 0) {
		struct smtp_mime m = {
			.from_name = name[0] ? name : NULL,
			.from_addr = addr,
			.to_addr = f[1] ? f[1] : "a@example.net",
			.subject = f[2],
			.text = f[3],
			.html = f[4] && f[4][0] ? f[4] : NULL,
			.ack_url = f[5] && f[5][0] ? f[5] : NULL,
			.message_id = f[6] && f[6][0] ? f[6] : "<m@example.org>",
			.lang = f[7],
			.boundary = "=_koban_fuzz",
			.date_ns = (int64_t)size * 1000000007,
		};
		int rc = smtp_mime_build(&m, &out, &e);

		if (rc == 0)
			check_message(out.p, out.len);
		else if (!e.msg[0] || out.len != 0)
			abort();
		/* the same without the caller's fields: a parsed `from` always builds */
		m.to_addr = "a@example.net";
		m.message_id = "<m@example.org>";
		m.ack_url = NULL;
		buf_reset(&out);
		if (smtp_mime_build(&m, &out, &e) != 0)
			abort();
		check_message(out.p, out.len);
	}
	buf_release(&out);
	free(copy);
	return 0;
}
