/*
 * decoder.h - the decoder registry: the one place that knows format names.
 *
 * Every decoder registers one entry (name, event.dataset, sniff, decode) in the table in
 * decoder.c; configuration and store validation (`source add --format`), the router, the
 * pipeline and `koban parse --format` all resolve names through decoder_find() and decode
 * through decoder_decode(). A format is a small integer id (DECODER_AUTO = 0, then the
 * table order), small enough for struct msg's `format` byte; ids are per build, so
 * persist names, never ids.
 *
 * "auto" is not a decoder: it asks each registered decoder's sniff() in table order and
 * uses the first that says yes (the last entry, "syslog", takes anything). A decoder whose
 * sniff() only finds an anchor in free text (guesses) may be wrong: when it fails on a
 * message that auto gave it, the message is decoded as syslog instead (decoder_fallback).
 *
 * Formats that travel inside syslog (PAN-OS CSV, CEF, LEEF, Squid...) decode the header
 * with decoder_syslog_payload() and then their own payload; formats where one message holds
 * several records (the Azure Monitor {"records":[...]} envelope, a Graph {"value":[...]}
 * page, a JSON array) offer split(), and each record becomes one event whose
 * event.original is that record's bytes.
 *
 * Memory: entries are static; decode() follows the decoders' contract (syslog.h): values
 * point into msg or the event's arena, so msg must outlive the event.
 *
 * Thread safety: the table is constant; every function may be called from any thread.
 */
#ifndef PARSE_DECODER_H
#define PARSE_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct event;
struct tz;

#define DECODER_AUTO 0
#define DECODER_AUTO_NAME "auto"

/* What a decoder gets besides the bytes. */
struct decode_opts {
	const struct tz *tz;  /* zone of device-local stamps; NULL: the machine's zone */
	int64_t received_ns;  /* receive time: fallback @timestamp, year of RFC 3164 stamps */
	unsigned tenant;      /* fair-queue slot: per-tenant budgets (structured-data names) */
	unsigned tenant_gen;  /* the slot's generation (fairq_slot_gen): budgets start afresh */
	const char *source;   /* the matched source's name (its per-source settings), or NULL */
};

/* Called by split() for each record: rec[0..len) lies within the split message. */
typedef int (*decoder_record_fn)(void *ctx, const char *rec, size_t len);

struct decoder {
	const char *name;     /* format name in configuration and on the command line */
	const char *dataset;  /* event.dataset when the decoder sets none of its own */
	/* Cheap check whether msg looks like this format (no allocation). */
	bool (*sniff)(const char *msg, size_t len);
	/*
	 * sniff() finds an anchor that plain text may hold too ("CEF:", "NAT-TCP-C:"), so a
	 * message it picked may be plain syslog; false where it checks the message's structure
	 * (the JSON decoders), whose failures are worth their message.
	 */
	bool sniff_guesses;
	/*
	 * Fills ev from msg. On failure: a negative code and the reason in e, and ev still
	 * holds event.original, message (the whole text) and @timestamp (receive time).
	 */
	int (*decode)(struct event *ev, const char *msg, size_t len,
		      const struct decode_opts *o, struct err *e);
	/*
	 * Optional (NULL: one message is one event). When msg is a container of records,
	 * checks the whole container first, then calls each(ctx, rec, len) for every record in
	 * order and returns 0 (a negative return of each stops it and is returned). When msg is
	 * not a container (or a malformed one) it returns a negative code with the reason in e
	 * before calling each at all, and msg is decoded whole by decode(). So a message is
	 * either split completely or not at all: nothing is decoded twice or lost.
	 */
	int (*split)(const char *msg, size_t len, decoder_record_fn each, void *ctx,
		     struct err *e);
	/*
	 * Optional: reads the decoder's own settings (per-source options, field maps) from
	 * the configuration. Called by decoder_configure() at start, before any decode(), from
	 * the main thread; settings change on a restart (a reload does not re-run it).
	 */
	int (*configure)(const struct config *c, struct err *e);
};

/* Id of the format named name[0..len) ("auto" included), or -EINVAL. */
int decoder_find(const char *name, size_t len);
/* Like decoder_find, with "format 'x': expected auto, syslog, ..." in e on failure. */
int decoder_check(const char *name, struct err *e);
/* Name of id ("auto" for DECODER_AUTO, "unknown" when out of range). */
const char *decoder_name(unsigned id);
/* Number of ids, DECODER_AUTO included. */
unsigned decoder_count(void);
/* Entry of id, or NULL for DECODER_AUTO and unknown ids. */
const struct decoder *decoder_get(unsigned id);
/* The decoder that handles msg under format id (resolves auto by sniffing); never NULL. */
const struct decoder *decoder_pick(unsigned id, const char *msg, size_t len);
/*
 * The decoder to try when d failed on msg under format id: the syslog decoder when id
 * resolves by sniffing (auto, or an unknown id) and d's sniff only guessed; NULL when the
 * failure stands (a format the source names, or a structural sniff).
 */
const struct decoder *decoder_fallback(unsigned id, const struct decoder *d);
/*
 * Decodes msg into ev with *d, the decoder decoder_pick(id, msg, len) gave, as the pipeline
 * does: when that fails, msg was not cut (cut: a message cut at the size limit failed
 * because it was cut, and the error says so) and decoder_fallback(id, *d) gives syslog,
 * ev's arena is cleared, ev started again on it and msg decoded as syslog, *d set to it.
 * ev must be fresh on an arena that holds nothing else. decode()'s result, e filled on
 * failure.
 */
int decoder_decode(unsigned id, const struct decoder **d, struct event *ev, const char *msg,
		   size_t len, const struct decode_opts *o, bool cut, struct err *e);
/* "auto, panos, ..., rfc3164 or syslog": every name in the table's order, for error texts. */
const char *decoder_names(void);
/* Runs every decoder's configure(); the first failure is returned with its message. */
int decoder_configure(const struct config *c, struct err *e);

/*
 * For formats carried inside syslog: when msg starts with a syslog PRI ("<N>"), parses the
 * header into ev as the "syslog" decoder does (host.name, log.syslog.*, @timestamp, ...)
 * but without `message`, and points (*payload, *plen) at the MSG part (within msg);
 * otherwise sets event.original, event.created and @timestamp (the receive time) and the
 * payload is the whole of msg. A malformed header returns its negative code with e filled;
 * the payload is then the whole of msg and ev as after a failed syslog_parse().
 */
int decoder_syslog_payload(struct event *ev, const char *msg, size_t len,
			   const struct decode_opts *o, const char **payload, size_t *plen,
			   struct err *e);

#endif
