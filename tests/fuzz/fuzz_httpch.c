/*
 * fuzz_httpch.c - libFuzzer target for what the HTTP notification channels read from the
 * services they post to: a PagerDuty Events API answer (pagerduty_reply_read), a
 * Retry-After value and the text of an answer shown in a reason (httppost_text). Any input
 * is read or refused; fields stay NUL-terminated within their sizes, the Retry-After within
 * its bounds, the shown text printable UTF-8 without line breaks. The input is also made
 * into a notice (its title, subject, text and links: bytes an attacker may have written into
 * the logs) and every body (Teams adaptive and legacy, PagerDuty, webhook) must be valid
 * JSON within its size.
 */
#include "notify/httppost.h"
#include "notify/pagerduty.h"
#include "notify/teams.h"
#include "notify/webhook.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n >= size)
		abort();
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : json_utf8_len((const unsigned char *)s + i, n - i);

		if (!k || c < 0x20 || c == 0x7f)
			abort();
		i += k;
	}
}

static void check_json(const struct buf *b, size_t max)
{
	struct jsonin j;
	struct jsonin_value v;

	if (b->len > max)
		abort();
	jsonin_init(&j, b->p, b->len, NULL, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT || jsonin_skip(&j) < 0 ||
	    jsonin_finish(&j, NULL) < 0)
		abort();
}

/* The input as a notice: fields separated by NUL bytes (title, subject, text, two URLs). */
static void bodies(const char *p, size_t size)
{
	char *field[5] = { 0 };
	struct notice n = { .tenant = "alpha", .incident = 42, .id = 7, .message_id = "<m@x>",
			    .lang = size & 1 ? "ja" : "en", .level = (int)(size % 5) - 1,
			    .test = size & 2 };
	struct buf b = BUF_INIT(WEBHOOK_BODY_MAX);
	size_t at = 0;

	for (size_t i = 0; i < 5 && at <= size; i++) {
		field[i] = mem_strndup(p + at, strnlen(p + at, size - at));
		at += strnlen(p + at, size - at) + 1;
	}
	n.title = field[0];
	n.subject = field[1];
	n.text = field[2];
	n.incident_url = field[3];
	n.ack_url = field[4];
	n.level_name = field[1];
	if (teams_body(TEAMS_ADAPTIVE, &n, &b) == 0)
		check_json(&b, TEAMS_MESSAGE_MAX);
	buf_reset(&b);
	if (teams_body(TEAMS_LEGACY, &n, &b) == 0)
		check_json(&b, TEAMS_MESSAGE_MAX);
	buf_reset(&b);
	if (pagerduty_body("key", "koban", &n, 0, &b) == 0)
		check_json(&b, WEBHOOK_BODY_MAX);
	buf_reset(&b);
	if (webhook_body(&n, 0, &b) == 0)
		check_json(&b, WEBHOOK_BODY_MAX);
	buf_release(&b);
	for (size_t i = 0; i < 5; i++)
		mem_free(field[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct pagerduty_reply r;
	char text[160];
	int s;

	(void)pagerduty_reply_read(p, size, &r);
	check_text(r.status, sizeof(r.status));
	check_text(r.message, sizeof(r.message));
	check_text(r.error, sizeof(r.error));
	check_text(r.dedup_key, sizeof(r.dedup_key));
	s = httppost_retry_after(p, size, 1796083200);
	if (s < -1 || s > HTTPPOST_RETRY_AFTER_MAX)
		abort();
	httppost_text(p, size, text, sizeof(text));
	check_text(text, sizeof(text));
	httppost_error_text(p, size, text, sizeof(text));
	check_text(text, sizeof(text));
	bodies(p, size);
	return 0;
}
