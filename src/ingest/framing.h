/*
 * framing.h - RFC 6587 syslog framing over a byte stream (TCP, TLS): a pure state machine.
 *
 * The framing of a connection is decided by its first byte: a digit means octet counting
 * ("LEN SP MSG", RFC 6587 3.4.1, as RFC 5425 uses), anything else means a terminator
 * ("MSG LF", also accepting CRLF and NUL; RFC 6587 3.4.2). Empty messages between
 * terminators are skipped.
 *
 * Messages longer than `max` bytes are cut to `max`, delivered with `truncated` set as
 * soon as the limit is reached, and the rest of that frame is skipped; the stream stays
 * usable. An invalid octet count (a leading zero, a non-digit, more than
 * FRAMER_MAX_DIGITS digits) is a framing error: the stream cannot be resynchronised and
 * the caller should close it.
 *
 *   struct framer f;
 *   struct frame fr;
 *   framer_init(&f, 65536);
 *   while ((rc = framer_next(&f, &p, &n, &fr)) > 0)
 *           deliver(fr.data, fr.len, fr.truncated);
 *   if (rc < 0) close, logging framer_error(&f);
 *
 * Memory: the framer owns a buffer of at most max+1 bytes (allocated on first need) for a
 * message split across chunks; a frame's data points into that buffer or into the caller's
 * chunk and is valid until the next call. A buffer grown past FRAMER_KEEP bytes is freed
 * once its message was delivered, so only messages in progress hold memory. Framers may
 * share a struct framer_budget (framer_set_budget): the sum of their buffers never passes
 * its max, and a framer that would need more fails with -ENOBUFS. Not thread safe: one
 * framer per connection, and the framers of one budget on one thread (the budget's `used`
 * may be read from any thread).
 */
#ifndef INGEST_FRAMING_H
#define INGEST_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

/* Longest accepted octet count: 9 digits (just under 1 GB), so no overflow is possible. */
#define FRAMER_MAX_DIGITS 9

/* Split-message buffers up to this size are kept between messages. */
#define FRAMER_KEEP 1024

enum framer_mode { FRAMER_DETECT, FRAMER_LF, FRAMER_OCTET };

struct framer_budget {
	_Atomic size_t used; /* bytes of split-message buffers of every framer using it */
	size_t max;
};

struct framer {
	size_t max;             /* longest message delivered */
	enum framer_mode mode;
	/* octet counting */
	bool in_body;           /* false: reading the count */
	unsigned digits;        /* digits of the count read so far */
	size_t remaining;       /* count being read, then body bytes still to come */
	/* both modes */
	bool skipping;          /* discarding the rest of an overlong message */
	char *part;             /* start of a message split across chunks */
	size_t part_len;
	size_t part_cap;        /* grows on demand up to max + 1 */
	const char *error;      /* what was wrong with the stream, after a framing error */
	struct framer_budget *budget; /* NULL: only max bounds the buffer */
};

struct frame {
	const char *data;
	size_t len;             /* <= max */
	bool truncated;         /* the sender's message was longer than max */
};

void framer_init(struct framer *f, size_t max);
void framer_release(struct framer *f);
/* Accounts f's buffer in b from now on (call before the first framer_next); b outlives f. */
void framer_set_budget(struct framer *f, struct framer_budget *b);

/*
 * Consumes bytes from (*p, *n), advancing both. Returns 1 with a message in *out (more may
 * follow: call again), 0 when the input is used up without completing a message, -EPROTO
 * on an invalid octet count (framer_error() tells what), -ENOMEM when the split-message
 * buffer cannot be allocated, -ENOBUFS when it would pass the budget. After -ENOMEM or
 * -ENOBUFS the message in progress is lost (the caller closes the stream).
 */
int framer_next(struct framer *f, const char **p, size_t *n, struct frame *out);

/*
 * At the end of the stream: returns 1 with the last message when the sender closed after
 * a message without a terminator (terminator framing only), else 0. An unfinished
 * octet-counted frame is discarded. The framer is then reset for a new stream.
 */
int framer_finish(struct framer *f, struct frame *out);

/*
 * True when a message has begun and nothing of it was delivered yet: closing the stream
 * now loses it (at the end of the stream, framer_finish still delivers it in LF mode).
 */
bool framer_mid_message(const struct framer *f);
/* True when the stream is inside a frame: mid-message, or skipping an overlong one's rest. */
bool framer_in_frame(const struct framer *f);

/* Describes the framing error, "" when there was none. */
const char *framer_error(const struct framer *f);
enum framer_mode framer_mode(const struct framer *f);

#endif
