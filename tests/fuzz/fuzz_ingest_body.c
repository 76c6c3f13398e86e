/*
 * fuzz_ingest_body.c - libFuzzer target for HTTP ingest's body splitter (api_ingest_split).
 *
 * The first input byte picks how the body is read (its low two bits: any, lines, JSON) and,
 * with its high nibble, after how many records the callback fails (0: never); the rest is
 * the body. Every record must lie within the body; a line is never blank and holds no LF
 * and no trailing CR; a JSON record is itself one valid JSON document; a failure of the
 * callback stops the split and is returned as it is; a refused body calls nothing.
 */
#include "core/err.h"
#include "core/jsonin.h"
#include "portal/ingest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
	const char *body;
	size_t len;
	enum api_ingest_body kind;
	unsigned calls, fail_at;
};

static bool valid_json(const char *p, size_t len)
{
	struct jsonin j;

	jsonin_init(&j, p, len, NULL, 0); /* skipping needs no arena, escapes or not */
	j.max_tokens = len + 1;
	return jsonin_skip_value(&j) == 0 && jsonin_finish(&j, NULL) == 0;
}

static int each(void *ctx, const char *rec, size_t len)
{
	struct check *c = ctx;
	bool json = len && (rec[0] == '{' || rec[0] == '[');

	if (rec < c->body || rec + len > c->body + c->len || !len)
		abort();
	if (memchr(rec, '\n', len) && !json)
		abort();
	if (c->kind == API_INGEST_BODY_JSON && !valid_json(rec, len))
		abort();
	if (++c->calls == c->fail_at)
		return -ECANCELED;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct check c = { 0 };
	struct err e = ERR_INIT;
	int rc;

	if (!size)
		return 0;
	c.kind = (enum api_ingest_body)(data[0] & 3);
	if (c.kind > API_INGEST_BODY_JSON)
		c.kind = API_INGEST_BODY_ANY;
	c.fail_at = data[0] >> 4;
	c.body = (const char *)data + 1;
	c.len = size - 1;
	rc = api_ingest_split(c.body, c.len, c.kind, each, &c, &e);
	if (rc == -EBADMSG && (c.calls || !e.msg[0]))
		abort(); /* refused whole: nothing given before */
	if (rc == -ECANCELED && c.calls != c.fail_at)
		abort();
	if (rc == 0 && c.fail_at && c.calls >= c.fail_at)
		abort();
	if (rc != 0 && rc != -EBADMSG && rc != -ECANCELED)
		abort();
	return 0;
}
