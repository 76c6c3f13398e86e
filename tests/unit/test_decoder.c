/*
 * Unit tests of parse/decoder: the one table of format names, sniffing for "auto", and
 * that every entry decodes through the same contract.
 */
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "parse/decoder.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>

static void test_names(void)
{
	static const char *const names[] = { "auto", "syslog", "rfc3164", "rfc5424" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int id = decoder_find(names[i], strlen(names[i]));

		CHECK(id >= 0);
		CHECK_STR(decoder_name((unsigned)id), names[i]);
		CHECK(strstr(decoder_names(), names[i]) != NULL);
	}
	CHECK_INT(decoder_find("auto", 4), DECODER_AUTO);
	CHECK(decoder_get(DECODER_AUTO) == NULL);
	CHECK_INT(decoder_find("rfc542", 6), -EINVAL);
	CHECK_INT(decoder_find("rfc5424x", 8), -EINVAL);
	CHECK_INT(decoder_find("", 0), -EINVAL);
	CHECK_STR(decoder_name(decoder_count()), "unknown");
	CHECK(decoder_count() < 256); /* struct msg keeps the id in a byte */
}

static void test_check_message(void)
{
	struct err e = ERR_INIT;

	char want[1200];

	CHECK_INT(decoder_check("no-such", &e), -EINVAL);
	snprintf(want, sizeof(want), "format 'no-such': expected %s", decoder_names());
	CHECK_STR(e.msg, want);
	CHECK(!strncmp(decoder_names(), "auto, ", 6));
	CHECK(strstr(decoder_names(), " or syslog") != NULL); /* the table's order, catch-all last */
	CHECK_INT(decoder_check("rfc3164", &e), decoder_find("rfc3164", 7));
}

static void test_every_entry_decodes(void)
{
	for (unsigned id = 1; id < decoder_count(); id++) {
		const struct decoder *d = decoder_get(id);

		CHECK(d != NULL && d->name && d->dataset && d->decode);
		CHECK_INT(decoder_find(d->name, strlen(d->name)), id);
	}
}

static void test_auto_sniffs(void)
{
	const char *ietf = "<13>1 2026-03-15T03:00:00Z h a - - - x", *bsd = "<13>Mar 15 12:00:00 h a: x";
	const struct decoder *d;

	d = decoder_pick(DECODER_AUTO, ietf, strlen(ietf));
	CHECK_STR(d->name, "rfc5424");
	d = decoder_pick(DECODER_AUTO, bsd, strlen(bsd));
	CHECK_STR(d->name, "syslog"); /* the catch-all */
	d = decoder_pick((unsigned)decoder_find("rfc3164", 7), ietf, strlen(ietf));
	CHECK_STR(d->name, "rfc3164"); /* a named format is never second-guessed */
	d = decoder_pick(200, bsd, strlen(bsd)); /* unknown ids sniff like auto */
	CHECK(d != NULL);
}

static void test_decode_contract(void)
{
	struct arena a;
	struct event ev;
	struct err e = ERR_INIT;
	struct decode_opts o = { NULL, 1773543600LL * 1000000000LL, 3, 0, NULL };
	const char *bad = "<13>1 2026-03-15T03:00:00Z h a p m [x y=\"z] m";
	const struct decoder *d = decoder_get((unsigned)decoder_find("rfc5424", 7));
	const char *s;
	size_t n;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	CHECK(d->decode(&ev, bad, strlen(bad), &o, &e) < 0);
	CHECK(e.msg[0] != '\0');
	CHECK(event_get_str(&ev, FIELD_EVENT_ORIGINAL, &s, &n) && n == strlen(bad));
	CHECK(event_get_str(&ev, FIELD_MESSAGE, &s, &n) && n == strlen(bad));
	CHECK(event_get(&ev, FIELD_TIMESTAMP) && event_get(&ev, FIELD_TIMESTAMP)->v.i == o.received_ns);
	arena_release(&a);
}

/* auto's guess that fails is decoded again as syslog; a named format or a cut message is not. */
static void test_failed_guess(void)
{
	static const char text[] = "<13>Mar 15 10:00:00 host app: NAT-TCP-C: counter reset";
	unsigned a10 = (unsigned)decoder_find("a10", 3);
	struct decode_opts o = { NULL, 1773543600LL * 1000000000LL, 3, 0, NULL };
	struct err e = ERR_INIT;
	const struct decoder *d;
	struct arena a;
	struct event ev;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	d = decoder_pick(DECODER_AUTO, text, strlen(text));
	CHECK_STR(d->name, "a10");
	CHECK_INT(decoder_decode(DECODER_AUTO, &d, &ev, text, strlen(text), &o, false, &e), 0);
	CHECK_STR(d->name, "syslog");
	CHECK_STR(e.msg, "");
	arena_clear(&a);
	event_init(&ev, &a);
	d = decoder_pick(DECODER_AUTO, text, strlen(text));
	CHECK(decoder_decode(DECODER_AUTO, &d, &ev, text, strlen(text), &o, true, &e) < 0);
	CHECK_STR(d->name, "a10");
	arena_clear(&a);
	event_init(&ev, &a);
	d = decoder_get(a10);
	CHECK(decoder_decode(a10, &d, &ev, text, strlen(text), &o, false, &e) < 0);
	CHECK_STR(d->name, "a10");
	arena_release(&a);
}

static void test_syslog_payload(void)
{
	struct arena a;
	struct event ev;
	struct err e = ERR_INIT;
	struct decode_opts o = { NULL, 1773543600LL * 1000000000LL, 3, 0, NULL };
	const char *wrapped = "<14>Mar 15 12:00:00 fw1 1,2026/03/15 12:00:00,x,TRAFFIC";
	const char *bare = "1,2026/03/15 12:00:00,x,TRAFFIC";
	const char *p, *s;
	size_t n, sn;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	CHECK(decoder_syslog_payload(&ev, wrapped, strlen(wrapped), &o, &p, &n, &e) == 0);
	CHECK(n == strlen(bare) && !memcmp(p, bare, n));
	CHECK(event_get(&ev, FIELD_MESSAGE) == NULL); /* the payload is decoded instead */
	CHECK(event_get_str(&ev, FIELD_HOST_NAME, &s, &sn) && sn == 3 && !memcmp(s, "fw1", 3));
	CHECK(event_get_str(&ev, FIELD_EVENT_ORIGINAL, &s, &sn) && sn == strlen(wrapped));

	event_init(&ev, &a);
	CHECK(decoder_syslog_payload(&ev, bare, strlen(bare), &o, &p, &n, &e) == 0);
	CHECK(p == bare && n == strlen(bare));
	CHECK(event_get_str(&ev, FIELD_EVENT_ORIGINAL, &s, &sn) && sn == strlen(bare));
	CHECK(event_get(&ev, FIELD_TIMESTAMP)->v.i == o.received_ns);
	CHECK(event_get(&ev, FIELD_HOST_NAME) == NULL);
	arena_release(&a);
}

static int count_record(void *ctx, const char *rec, size_t len)
{
	(*(int *)ctx)++;
	return 0;
}

/* Every JSON decoder refuses an empty container: decoded whole, it is still an event. */
static void test_empty_container_not_split(void)
{
	static const char *const formats[] = { "azure", "m365" };
	static const char empty[] = "{\"value\":[],\"@odata.context\":\"x\"}";

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		const struct decoder *d =
			decoder_get((unsigned)decoder_find(formats[i], strlen(formats[i])));
		struct err e = ERR_INIT;
		int n = 0;

		CHECK(d != NULL && d->split != NULL);
		if (!d || !d->split)
			continue;
		CHECK_INT(d->split(empty, sizeof(empty) - 1, count_record, &n, &e), -ENODATA);
		CHECK_INT(n, 0);
		CHECK_INT(d->split("[1,2]", 5, count_record, &n, &e), 0);
		CHECK_INT(n, 2);
	}
}

int main(void)
{
	T_RUN(test_names);
	T_RUN(test_check_message);
	T_RUN(test_every_entry_decodes);
	T_RUN(test_auto_sniffs);
	T_RUN(test_decode_contract);
	T_RUN(test_failed_guess);
	T_RUN(test_syslog_payload);
	T_RUN(test_empty_container_not_split);
	return t_done();
}
