/*
 * jsonrec.c - JSON record containers. The message is walked twice with the same function:
 * once to validate everything (each == NULL), once to hand out the records. Validating
 * first costs a second pass over the bytes but keeps split()'s all-or-nothing promise
 * without storing record offsets.
 */
#include "parse/jsonrec.h"
#include "core/compat.h"
#include "core/err.h"
#include "core/jsonin.h"

#define ODATA_PREFIX "@odata."

static size_t skip_ws(const char *p, size_t i, size_t len)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

static bool has_prefix(const char *p, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && !memcmp(p, lit, n);
}

enum jsonrec_kind jsonrec_peek(const char *msg, size_t len)
{
	size_t i = skip_ws(msg, 0, len);

	if (i >= len)
		return JSONREC_NONE;
	if (msg[i] == '[')
		return JSONREC_ARRAY;
	if (msg[i] != '{')
		return JSONREC_NONE;
	i = skip_ws(msg, i + 1, len);
	if (has_prefix(msg + i, len - i, "\"records\""))
		return JSONREC_RECORDS;
	if (has_prefix(msg + i, len - i, "\"value\"") ||
	    has_prefix(msg + i, len - i, "\"" ODATA_PREFIX))
		return JSONREC_VALUE;
	return JSONREC_NONE;
}

/* One pass over the message: each == NULL validates without calling anything. */
struct walk {
	struct jsonin j;
	decoder_record_fn each;
	void *ctx;
	enum jsonrec_kind kind;
	size_t n;     /* elements seen */
	bool refused; /* not_container() filled e */
	bool stopped; /* each() returned a negative code */
	struct err *e;
};

static int not_container(struct walk *w, size_t offset, const char *what)
{
	w->refused = true;
	return err_set(w->e, -EINVAL,
		       "byte %zu: not a JSON record container ({\"records\":[...]}, "
		       "{\"value\":[...]} or [...]): %s",
		       offset, what);
}

/* Reads the elements of the array just entered. */
static int walk_elements(struct walk *w)
{
	int rc;

	while ((rc = jsonin_more(&w->j)) > 0) {
		const char *rec;
		size_t rlen;

		w->n++;
		if (!w->each) {
			rc = jsonin_skip_value(&w->j);
		} else if ((rc = jsonin_raw_value(&w->j, &rec, &rlen)) == 0 &&
			   (rc = w->each(w->ctx, rec, rlen)) < 0) {
			w->stopped = true;
			return rc;
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/*
 * The members of an envelope object just entered: the one "records" or "value" array
 * (elements walked), "@odata.*" keys (skipped), nothing else.
 */
static int walk_envelope(struct walk *w)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(&w->j, &k)) > 0) {
		enum jsonrec_kind this = jsonin_key_is(&k, "records") ? JSONREC_RECORDS
					 : jsonin_key_is(&k, "value") ? JSONREC_VALUE
								      : JSONREC_NONE;

		if (this == JSONREC_NONE) {
			if (!has_prefix(k.s, k.len, ODATA_PREFIX))
				return not_container(w, k.offset,
						     "an object with a key other than "
						     "records, value or @odata.*");
			if ((rc = jsonin_skip_value(&w->j)) < 0)
				return rc;
			continue;
		}
		if (w->kind != JSONREC_NONE)
			return not_container(w, k.offset, "a second records or value key");
		if ((rc = jsonin_value(&w->j, &v)) < 0)
			return rc;
		if (v.type != JSONIN_ARRAY)
			return not_container(w, v.offset, "records or value is not an array");
		w->kind = this;
		if ((rc = walk_elements(w)) < 0)
			return rc;
	}
	if (rc == 0 && w->kind == JSONREC_NONE)
		return not_container(w, w->j.pos, "an object without records or value");
	return rc;
}

static int walk(struct walk *w, const char *msg, size_t len)
{
	struct jsonin_value v;
	int rc;

	w->kind = JSONREC_NONE;
	w->n = 0;
	jsonin_init(&w->j, msg, len, NULL, 0);
	if ((rc = jsonin_value(&w->j, &v)) < 0)
		goto fail;
	if (v.type == JSONIN_ARRAY) {
		w->kind = JSONREC_ARRAY;
		rc = walk_elements(w);
	} else if (v.type == JSONIN_OBJECT) {
		rc = walk_envelope(w);
	} else {
		return not_container(w, v.offset, "neither an object nor an array");
	}
	if (rc < 0)
		goto fail;
	return jsonin_finish(&w->j, w->e);
fail:
	if (w->refused || w->stopped)
		return rc; /* the reason is in e, or each() keeps its own code */
	if (w->j.rc == -ENOMEM) /* no arena: a key with escapes, which no envelope has */
		return not_container(w, w->j.err_offset, "an object key with escapes");
	return jsonin_error(&w->j, w->e);
}

int jsonrec_split_kind(const char *msg, size_t len, decoder_record_fn each, void *ctx,
		       enum jsonrec_kind *kind, struct err *e)
{
	struct walk w = { .e = e };
	int rc;

	if (kind)
		*kind = JSONREC_NONE;
	if (jsonrec_peek(msg, len) == JSONREC_NONE) /* the common case, refused cheaply */
		return not_container(&w, skip_ws(msg, 0, len),
				     "it starts neither with [ nor with a records, value or "
				     "@odata.* key");
	if ((rc = walk(&w, msg, len)) < 0)
		return rc;
	if (!w.n) /* decoded whole instead: every message received is at least one event */
		return err_set(e, -ENODATA, "an empty record container");
	w.each = each;
	w.ctx = ctx;
	rc = walk(&w, msg, len);
	if (kind && rc == 0)
		*kind = w.kind;
	return rc;
}

int jsonrec_split(const char *msg, size_t len, decoder_record_fn each, void *ctx,
		  struct err *e)
{
	return jsonrec_split_kind(msg, len, each, ctx, NULL, e);
}
