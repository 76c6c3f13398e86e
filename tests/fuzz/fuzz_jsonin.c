/*
 * fuzz_jsonin.c - libFuzzer target for the JSON reader (core/jsonin).
 *
 * Invariants checked on every input:
 *  - an error always comes with a message and an offset within the input;
 *  - reading every token and skipping the whole value agree on acceptance (the skip
 *    path validates exactly as much as the full read);
 *  - a document that parses, re-serialised compactly (keys and strings written with
 *    json_add_string, numbers as their text), parses again to the same serialisation;
 *  - the raw text of the top-level value (jsonin_raw_value) parses to the same form;
 *  - with JSONIN_REPLACE_SURROGATES, whatever parses without the flag parses the same;
 *  - allocation failures (the Nth, from the first byte) give -ENOMEM or success.
 */
#include "core/jsonin.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int emit(struct jsonin *j, const struct jsonin_value *v, struct buf *out)
{
	struct jsonin_value k, x;
	bool first = true;
	int rc;

	switch (v->type) {
	case JSONIN_OBJECT:
	case JSONIN_ARRAY:
		if (buf_addch(out, v->type == JSONIN_OBJECT ? '{' : '[') < 0)
			return -ENOSPC;
		for (;;) {
			rc = v->type == JSONIN_OBJECT ? jsonin_key(j, &k) : jsonin_more(j);
			if (rc <= 0)
				break;
			if (!first && buf_addch(out, ',') < 0)
				return -ENOSPC;
			first = false;
			if (v->type == JSONIN_OBJECT &&
			    (json_add_string(out, k.s, k.len) < 0 || buf_addch(out, ':') < 0))
				return -ENOSPC;
			if ((rc = jsonin_value(j, &x)) < 0 || (rc = emit(j, &x, out)) < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
		return buf_addch(out, v->type == JSONIN_OBJECT ? '}' : ']');
	case JSONIN_STRING:
		return json_add_string(out, v->s, v->len);
	default:
		return buf_add(out, v->s, v->len);
	}
}

static int canon(const char *s, size_t len, unsigned flags, struct arena *a, struct buf *out,
		 struct err *e)
{
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	buf_reset(out);
	arena_clear(a);
	err_clear(e);
	jsonin_init(&j, s, len, a, flags);
	rc = jsonin_value(&j, &v);
	if (rc == 0 && (rc = emit(&j, &v, out)) == -ENOSPC)
		return rc;
	rc = jsonin_finish(&j, e);
	if (rc < 0 && (!e->msg[0] || j.err_offset > len))
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf once = BUF_INIT(1 << 24), twice = BUF_INIT(1 << 24), third = BUF_INIT(1 << 24);
	struct err e = ERR_INIT, e2 = ERR_INIT;
	const char *s = (const char *)data;
	struct jsonin j;
	struct arena a;
	int rc, rc2, skip_rc;

	arena_init(&a, 4096, 64 << 20);
	rc = canon(s, size, 0, &a, &once, &e);

	/* skipping accepts exactly what reading accepts */
	jsonin_init(&j, s, size, NULL, 0); /* skipping needs no arena */
	skip_rc = jsonin_skip_value(&j);
	rc2 = jsonin_finish(&j, &e2);
	if ((skip_rc < 0 && rc2 != skip_rc) || (rc == 0) != (rc2 == 0) ||
	    (rc < 0 && strcmp(e.msg, e2.msg)))
		abort();

	if (rc == 0) {
		const char *raw;
		size_t raw_len;

		/* the raw top-level value is the input without its outer whitespace */
		jsonin_init(&j, s, size, NULL, 0);
		if (jsonin_raw_value(&j, &raw, &raw_len) < 0 || jsonin_finish(&j, NULL) < 0 ||
		    raw < s || raw + raw_len > s + size ||
		    canon(raw, raw_len, 0, &a, &twice, &e) < 0 || once.len != twice.len ||
		    memcmp(once.p, twice.p, once.len))
			abort();
		if (canon(once.p, once.len, 0, &a, &twice, &e) < 0 || once.len != twice.len ||
		    memcmp(once.p, twice.p, once.len))
			abort();
		if (canon(s, size, JSONIN_REPLACE_SURROGATES, &a, &third, &e) < 0 ||
		    third.len != once.len || memcmp(third.p, once.p, once.len))
			abort();
	} else if (canon(s, size, JSONIN_REPLACE_SURROGATES, &a, &third, &e) == 0) {
		/* what the flag rescues must be a lone surrogate */
		if (!strstr(e2.msg, "lone surrogate"))
			abort();
	}
	if (size) {
		struct arena small;

		arena_init(&small, 16, 64 << 20);
		mem_fail_after(data[0] % 8);
		rc2 = canon(s, size, 0, &small, &twice, &e);
		mem_fail_after(-1);
		if (rc2 < 0 && rc2 != -ENOMEM && rc2 != -ENOSPC && rc2 != rc)
			abort();
		arena_release(&small);
	}
	buf_release(&once);
	buf_release(&twice);
	buf_release(&third);
	arena_release(&a);
	return 0;
}
