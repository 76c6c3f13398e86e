#include "ingest/framing.h"
#include "core/compat.h"
#include "core/mem.h"

#include <stdatomic.h>

static void reset_stream(struct framer *f)
{
	f->mode = FRAMER_DETECT;
	f->in_body = false;
	f->digits = 0;
	f->remaining = 0;
	f->skipping = false;
	f->part_len = 0;
	f->error = "";
}

void framer_init(struct framer *f, size_t max)
{
	f->max = max;
	f->part = NULL;
	f->part_cap = 0;
	f->budget = NULL;
	reset_stream(f);
}

void framer_set_budget(struct framer *f, struct framer_budget *b)
{
	f->budget = b;
}

static void free_part(struct framer *f)
{
	if (f->budget)
		atomic_fetch_sub_explicit(&f->budget->used, f->part_cap, memory_order_relaxed);
	mem_free(f->part);
	f->part = NULL;
	f->part_len = 0;
	f->part_cap = 0;
}

void framer_release(struct framer *f)
{
	free_part(f);
}

bool framer_mid_message(const struct framer *f)
{
	if (f->mode == FRAMER_LF)
		return f->part_len > 0 && !f->skipping;
	if (f->mode == FRAMER_OCTET)
		return f->digits > 0 || (f->in_body && !f->skipping);
	return false;
}

bool framer_in_frame(const struct framer *f)
{
	return framer_mid_message(f) || f->skipping;
}

const char *framer_error(const struct framer *f)
{
	return f->error;
}

enum framer_mode framer_mode(const struct framer *f)
{
	return f->mode;
}

static void consume(const char **p, size_t *n, size_t k)
{
	*p += k;
	*n -= k;
}

/*
 * Appends to the split-message buffer (at most max+1 bytes, so LF mode can see a
 * trailing CR). It grows with the message: an idle connection holding a few bytes of a
 * partial line must not cost a whole maximum-size buffer.
 */
static int part_add(struct framer *f, const char *s, size_t k)
{
	if (f->part_len + k > f->part_cap) {
		size_t cap = f->part_cap ? f->part_cap : 1024;
		char *p;

		while (cap < f->part_len + k)
			cap *= 2;
		if (cap > f->max + 1)
			cap = f->max + 1;
		if (f->budget) {
			size_t used = atomic_load_explicit(&f->budget->used, memory_order_relaxed);

			if (used - f->part_cap + cap > f->budget->max)
				return -ENOBUFS;
		}
		p = mem_realloc(f->part, cap);
		if (!p)
			return -ENOMEM;
		if (f->budget)
			atomic_fetch_add_explicit(&f->budget->used, cap - f->part_cap,
						  memory_order_relaxed);
		f->part = p;
		f->part_cap = cap;
	}
	memcpy(f->part + f->part_len, s, k);
	f->part_len += k;
	return 0;
}

static int emit(struct frame *out, const char *data, size_t len, bool truncated)
{
	out->data = data;
	out->len = len;
	out->truncated = truncated;
	return 1;
}

/* Offset of the first LF or NUL in s[0..n), or n. */
static size_t find_terminator(const char *s, size_t n)
{
	const char *lf = memchr(s, '\n', n);
	size_t end = lf ? (size_t)(lf - s) : n;
	const char *nul = memchr(s, '\0', end);

	return nul ? (size_t)(nul - s) : end;
}

/* A complete LF-framed message of len bytes at data: drop a CR, cut to max. */
static int emit_line(struct framer *f, const char *data, size_t len, struct frame *out)
{
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	return emit(out, data, MIN(len, f->max), len > f->max);
}

static int lf_next(struct framer *f, const char **p, size_t *n, struct frame *out)
{
	while (*n > 0) {
		const char *s = *p;
		size_t end = find_terminator(s, *n);
		int rc;

		if (end == *n) {
			/* no terminator in this chunk: keep the start, cut it if it is too long */
			size_t room = f->max + 1 - f->part_len;

			consume(p, n, end);
			if (f->skipping)
				return 0;
			if (end <= room)
				return part_add(f, s, end);
			if ((rc = part_add(f, s, room)) < 0)
				return rc;
			f->part_len = 0;
			f->skipping = true;
			return emit(out, f->part, f->max, true);
		}
		consume(p, n, end + 1);
		if (f->skipping) {
			f->skipping = false;
			continue;
		}
		if (f->part_len == 0) {
			rc = emit_line(f, s, end, out);
		} else {
			size_t total = f->part_len + end;
			bool over = total > f->max + 1;

			rc = part_add(f, s, MIN(end, f->max + 1 - f->part_len));
			if (rc < 0)
				return rc;
			f->part_len = 0;
			rc = over ? emit(out, f->part, f->max, true)
				  : emit_line(f, f->part, total, out);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static void end_octet_frame(struct framer *f)
{
	f->in_body = false;
	f->digits = 0;
	f->remaining = 0;
	f->skipping = false;
}

static int bad_count(struct framer *f, const char *why)
{
	f->error = why;
	return -EPROTO;
}

/* One byte of the "LEN SP" header; 0 or -EPROTO. */
static int count_byte(struct framer *f, char c)
{
	if (c == ' ') {
		if (f->digits == 0)
			return bad_count(f, "octet count missing before the space");
		f->in_body = true;
		return 0;
	}
	if (c < '0' || c > '9')
		return bad_count(f, "octet count: expected a digit or a space");
	if (f->digits == 0 && c == '0')
		return bad_count(f, "octet count is zero or has a leading zero");
	if (f->digits == FRAMER_MAX_DIGITS)
		return bad_count(f, "octet count has more than 9 digits");
	f->remaining = f->remaining * 10 + (size_t)(c - '0');
	f->digits++;
	return 0;
}

/* Delivers the message collected so far; the rest of the frame, if any, is skipped. */
static int emit_octet(struct framer *f, const char *data, size_t len, struct frame *out)
{
	bool truncated = f->remaining > 0;

	if (truncated)
		f->skipping = true;
	else
		end_octet_frame(f);
	return emit(out, data, len, truncated);
}

static int octet_next(struct framer *f, const char **p, size_t *n, struct frame *out)
{
	while (*n > 0) {
		size_t want, k;
		int rc;

		if (!f->in_body) {
			rc = count_byte(f, **p);

			if (rc < 0)
				return rc;
			consume(p, n, 1);
			continue;
		}
		if (f->skipping) {
			k = MIN(*n, f->remaining);
			consume(p, n, k);
			f->remaining -= k;
			if (f->remaining == 0)
				end_octet_frame(f);
			continue;
		}
		/* bytes of this frame that belong to the delivered message, at most max */
		want = MIN(f->remaining, f->max - f->part_len);
		if (f->part_len == 0 && *n >= want) {
			const char *s = *p;

			consume(p, n, want);
			f->remaining -= want;
			return emit_octet(f, s, want, out);
		}
		k = MIN(*n, want);
		rc = part_add(f, *p, k);
		if (rc < 0)
			return rc;
		consume(p, n, k);
		f->remaining -= k;
		if (k == want) {
			size_t len = f->part_len;

			f->part_len = 0;
			return emit_octet(f, f->part, len, out);
		}
	}
	return 0;
}

int framer_next(struct framer *f, const char **p, size_t *n, struct frame *out)
{
	/* the last message delivered from a grown buffer is done with: give the memory back */
	if (f->part_len == 0 && f->part_cap > FRAMER_KEEP)
		free_part(f);
	if (*n == 0)
		return 0;
	if (f->mode == FRAMER_DETECT)
		f->mode = (**p >= '0' && **p <= '9') ? FRAMER_OCTET : FRAMER_LF;
	return f->mode == FRAMER_OCTET ? octet_next(f, p, n, out) : lf_next(f, p, n, out);
}

int framer_finish(struct framer *f, struct frame *out)
{
	int rc = 0;

	if (f->mode == FRAMER_LF && !f->skipping && f->part_len > 0)
		rc = emit_line(f, f->part, f->part_len, out);
	reset_stream(f);
	return rc;
}
