/*
 * decoder.c - the registry table. A new decoder adds its entry here, before "syslog"
 * (the catch-all), and nowhere else.
 */
#include "parse/decoder.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "parse/a10.h"
#include "parse/cef.h"
#include "parse/leef.h"
#include "parse/panos.h"
#include "parse/azure.h"
#include "parse/jsonrec.h"
#include "parse/m365.h"
#include "parse/dns.h"
#include "parse/jsonmap.h"
#include "parse/postfix.h"
#include "parse/squid.h"
#include "parse/syslog.h"
#include "parse/weblog.h"

#include <pthread.h>
#include <stdio.h>

static bool sniff_any(const char *msg, size_t len)
{
	return true;
}

static int decode_syslog(struct event *ev, const char *msg, size_t len,
			 const struct decode_opts *o, struct err *e)
{
	struct syslog_opts so = { SYSLOG_AUTO, o->tz, o->received_ns, o->tenant,
				  o->tenant_gen };

	return syslog_parse(ev, msg, len, &so, e);
}

static int decode_rfc3164(struct event *ev, const char *msg, size_t len,
			  const struct decode_opts *o, struct err *e)
{
	struct syslog_opts so = { SYSLOG_RFC3164, o->tz, o->received_ns, o->tenant,
				  o->tenant_gen };

	return syslog_parse(ev, msg, len, &so, e);
}

static int decode_rfc5424(struct event *ev, const char *msg, size_t len,
			  const struct decode_opts *o, struct err *e)
{
	struct syslog_opts so = { SYSLOG_RFC5424, o->tz, o->received_ns, o->tenant,
				  o->tenant_gen };

	return syslog_parse(ev, msg, len, &so, e);
}

/* Index + 1 is the format id; "auto" sniffs in this order. */
static const struct decoder table[] = {
	/* not a guess: the anchor is the row's own first columns (a damaged row stays an error) */
	{ .name = "panos", .dataset = "panos", .sniff = panos_sniff, .decode = panos_decode },
	{ .name = "cef", .dataset = "cef.log", .sniff = cef_sniff, .sniff_guesses = true,
	  .decode = cef_decode, .configure = cef_configure },
	{ .name = "leef", .dataset = "leef.log", .sniff = leef_sniff, .sniff_guesses = true,
	  .decode = leef_decode, .configure = leef_configure },
	{ .name = "a10", .dataset = "a10.cgn", .sniff = a10_sniff, .sniff_guesses = true,
	  .decode = a10_decode },
	{ .name = "azure", .dataset = "azure", .sniff = azure_sniff, .decode = azure_decode,
	  .split = jsonrec_split, .configure = azure_configure },
	{ .name = "m365", .dataset = "m365", .sniff = m365_sniff, .decode = m365_decode,
	  .split = jsonrec_split, .configure = m365_configure },
	{ .name = "squid", .dataset = "squid.access", .sniff = squid_sniff, .sniff_guesses = true,
	  .decode = squid_decode },
	{ .name = "combined", .dataset = "weblog.access", .sniff = weblog_sniff,
	  .sniff_guesses = true, .decode = weblog_decode },
	{ .name = "bind", .dataset = "bind.query", .sniff = dns_bind_sniff, .sniff_guesses = true,
	  .decode = dns_bind_decode },
	{ .name = "unbound", .dataset = "unbound.log", .sniff = dns_unbound_sniff,
	  .sniff_guesses = true, .decode = dns_unbound_decode },
	{ .name = "postfix", .dataset = "postfix.log", .sniff = postfix_sniff,
	  .sniff_guesses = true, .decode = postfix_decode, .configure = postfix_configure },
	/* never sniffed: a JSON line is only "json" when its source says so */
	{ .name = "json", .dataset = "json", .decode = jsonmap_decode,
	  .configure = jsonmap_configure },
	{ .name = "rfc5424", .dataset = "syslog", .sniff = syslog_looks_rfc5424,
	  .decode = decode_rfc5424 },
	/* never sniffed: "syslog" decides */
	{ .name = "rfc3164", .dataset = "syslog", .decode = decode_rfc3164 },
	{ .name = "syslog", .dataset = "syslog", .sniff = sniff_any, .decode = decode_syslog },
};

#define NAMES_MAX 1024

_Static_assert(ARRAY_SIZE(table) < 255, "format ids must fit struct msg's byte");

int decoder_find(const char *name, size_t len)
{
	if (len == sizeof(DECODER_AUTO_NAME) - 1 && !memcmp(name, DECODER_AUTO_NAME, len))
		return DECODER_AUTO;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strlen(table[i].name) == len && !memcmp(table[i].name, name, len))
			return (int)i + 1;
	return -EINVAL;
}

int decoder_check(const char *name, struct err *e)
{
	int id = decoder_find(name, strlen(name));

	if (id < 0)
		return err_set(e, -EINVAL, "format '%.64s': expected %s", name, decoder_names());
	return id;
}

const char *decoder_name(unsigned id)
{
	if (id == DECODER_AUTO)
		return DECODER_AUTO_NAME;
	return id <= ARRAY_SIZE(table) ? table[id - 1].name : "unknown";
}

unsigned decoder_count(void)
{
	return (unsigned)ARRAY_SIZE(table) + 1;
}

const struct decoder *decoder_get(unsigned id)
{
	return id >= 1 && id <= ARRAY_SIZE(table) ? &table[id - 1] : NULL;
}

const struct decoder *decoder_pick(unsigned id, const char *msg, size_t len)
{
	const struct decoder *d = decoder_get(id);

	if (d)
		return d;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].sniff && table[i].sniff(msg, len))
			return &table[i];
	return &table[ARRAY_SIZE(table) - 1];
}

const struct decoder *decoder_fallback(unsigned id, const struct decoder *d)
{
	return !decoder_get(id) && d->sniff_guesses ? &table[ARRAY_SIZE(table) - 1] : NULL;
}

int decoder_decode(unsigned id, const struct decoder **d, struct event *ev, const char *msg,
		   size_t len, const struct decode_opts *o, bool cut, struct err *e)
{
	const struct decoder *fallback;
	int rc = (*d)->decode(ev, msg, len, o, e);

	if (rc >= 0 || cut || !(fallback = decoder_fallback(id, *d)))
		return rc;
	/* auto's guess was wrong (plain text holding an anchor): read it as syslog */
	arena_clear(ev->arena);
	event_init(ev, ev->arena);
	err_clear(e);
	*d = fallback;
	return fallback->decode(ev, msg, len, o, e);
}

static char names[NAMES_MAX];

/* "auto, a, b or c" from the table, once (a name is short: 1024 bytes hold 60 formats). */
static void names_init(void)
{
	size_t len = (size_t)snprintf(names, sizeof(names), "%s", DECODER_AUTO_NAME);

	for (size_t i = 0; i < ARRAY_SIZE(table) && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
					i + 1 == ARRAY_SIZE(table) ? " or " : ", ", table[i].name);
}

const char *decoder_names(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, names_init);
	return names;
}

int decoder_configure(const struct config *c, struct err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		int rc;

		if (table[i].configure && (rc = table[i].configure(c, e)) < 0)
			return rc;
	}
	return 0;
}

static int no_header(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		     struct err *e)
{
	int rc;

	if ((rc = event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, len)) < 0 ||
	    (rc = event_set_time(ev, FIELD_EVENT_CREATED, o->received_ns)) < 0 ||
	    (rc = event_set_time(ev, FIELD_TIMESTAMP, o->received_ns)) < 0)
		return err_set(e, rc, "cannot build the event: %s", strerror(-rc));
	return 0;
}

int decoder_syslog_payload(struct event *ev, const char *msg, size_t len,
			   const struct decode_opts *o, const char **payload, size_t *plen,
			   struct err *e)
{
	struct syslog_opts so = { SYSLOG_AUTO, o->tz, o->received_ns, o->tenant,
				  o->tenant_gen };
	const struct event_value *m;
	int rc;

	*payload = msg;
	*plen = len;
	if (!len || msg[0] != '<')
		return no_header(ev, msg, len, o, e);
	if ((rc = syslog_parse(ev, msg, len, &so, e)) < 0)
		return rc;
	/* the header parsers set message last: the payload is decoded instead */
	m = event_get(ev, FIELD_MESSAGE);
	if (!m) {
		*plen = 0;
		return 0;
	}
	*payload = m->v.s;
	*plen = m->len;
	if (m == &ev->vals[ev->n - 1])
		event_truncate(ev, ev->n - 1);
	return 0;
}
