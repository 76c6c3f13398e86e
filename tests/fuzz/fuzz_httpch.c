/*
 * fuzz_httpch.c - libFuzzer target for what the HTTP notification channels read from the
 * services they post to: a PagerDuty Events API answer (pagerduty_reply_read), a
 * Retry-After value and the text of an answer shown in a reason (httppost_text). Any input
 * is read or refused; fields stay NUL-terminated within their sizes, the Retry-After within
 * its bounds, the shown text printable UTF-8 without line breaks.
 */
#include "notify/httppost.h"
#include "notify/pagerduty.h"
#include "core/json.h"

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
	return 0;
}
