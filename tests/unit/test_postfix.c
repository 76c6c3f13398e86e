/*
 * Unit tests of parse/postfix: the queue-id table (correlation, tenants and hosts kept
 * apart, "removed", the cap and the expiry, counted), line shapes, metrics, and two
 * threads sharing the table.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/postfix.h"
#include "t.h"
#include "t_event.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

/* Decodes line as received at T_EVENT_NOW + secs by tenant slot tenant. */
static int at(const char *line, int secs, unsigned tenant)
{
	struct decode_opts o = { tz_get("UTC", 3, NULL), T_EVENT_NOW + secs * NS_PER_SEC, tenant,
				 0, NULL };

	if (!t_ev_arena_ready) {
		arena_init(&t_ev_arena, 4096, 1 << 22);
		t_ev_arena_ready = 1;
	}
	arena_clear(&t_ev_arena);
	event_init(&t_ev, &t_ev_arena);
	err_clear(&t_ev_err);
	return postfix_decode(&t_ev, line, strlen(line), &o, &t_ev_err);
}

#define H "<22>Mar 15 03:00:00 mx postfix/"

static void test_correlation(void)
{
	struct postfix_stats s;

	postfix_reset(1024, 3600);
	CHECK_INT(at(H "smtpd[1]: ABCDEF0123: client=c.example[192.0.2.9], sasl_method=LOGIN, "
		     "sasl_username=CORP\\eve", 0, 0), 0);
	CHECK_INT(at(H "cleanup[2]: ABCDEF0123: message-id=<m1@example>", 0, 0), 0);
	CHECK_INT(at(H "qmgr[3]: ABCDEF0123: from=<eve@example.com>, size=77, nrcpt=1 (queue active)",
		     1, 0), 0);
	/* another tenant with the same host and queue id sees nothing of the first */
	CHECK_INT(at(H "smtp[4]: ABCDEF0123: to=<x@example.org>, relay=none, delay=1, "
		     "delays=1/0/0/0, dsn=2.0.0, status=sent (ok)", 2, 1), 0);
	CHECK(t_str("source.ip") == NULL && t_str("email.message_id") == NULL);
	CHECK_INT(at(H "smtp[4]: ABCDEF0123: to=<y@example.org>, relay=mx.example.org[198.51.100.1]:25, "
		     "delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)", 2, 0), 0);
	CHECK_STR(t_str("source.ip"), "192.0.2.9");
	CHECK_STR(t_str("source.domain"), "c.example");
	CHECK_STR(t_str("user.name"), "eve");
	CHECK_STR(t_str("user.domain"), "CORP");
	CHECK_STR(t_str("email.message_id"), "m1@example");
	CHECK_STR(t_str("email.from.address"), "eve@example.com");
	CHECK_STR(t_str("email.to.address"), "y@example.org");
	CHECK_STR(t_str("destination.ip"), "198.51.100.1");
	CHECK_INT(t_int("destination.port", -1), 25);
	CHECK_INT(t_int("postfix.size", -1), 77);
	CHECK_STR(t_str("event.outcome"), "success");
	postfix_stats(&s);
	CHECK_INT(s.tracked, 1);
	CHECK_INT(at(H "qmgr[3]: ABCDEF0123: removed", 3, 0), 0);
	CHECK_STR(t_str("event.action"), "removed");
	postfix_stats(&s);
	CHECK_INT(s.tracked, 0);
	CHECK_INT(s.dropped_full + s.dropped_expired, 0);
}

static void test_cap_and_expiry(void)
{
	struct postfix_stats s;
	char line[256];

	postfix_reset(16, 60);
	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), H "smtpd[1]: %010X: client=h[192.0.2.%d]", 0xA00000 + i,
			 i % 250);
		CHECK_INT(at(line, 0, 0), 0);
	}
	postfix_stats(&s);
	CHECK(s.tracked <= 16);
	CHECK_INT(s.tracked + s.dropped_full, 100); /* every id is kept or counted */
	CHECK_INT(s.dropped_expired, 0);

	postfix_reset(1024, 60);
	CHECK_INT(at(H "smtpd[1]: 0000000AAA: client=h[192.0.2.1]", 0, 0), 0);
	CHECK_INT(at(H "smtp[1]: 0000000AAA: to=<a@b>, relay=none, delay=1, delays=1/0/0/0, "
		     "dsn=2.0.0, status=sent (ok)", 30, 0), 0);
	CHECK_STR(t_str("source.ip"), "192.0.2.1"); /* within the ttl: kept, and refreshed */
	CHECK_INT(at(H "smtp[1]: 0000000AAA: to=<a@b>, relay=none, delay=1, delays=1/0/0/0, "
		     "dsn=2.0.0, status=sent (ok)", 89, 0), 0);
	CHECK_STR(t_str("source.ip"), "192.0.2.1");
	CHECK_INT(at(H "smtp[1]: 0000000AAA: to=<a@b>, relay=none, delay=1, delays=1/0/0/0, "
		     "dsn=2.0.0, status=sent (ok)", 150, 0), 0);
	CHECK(t_str("source.ip") == NULL); /* 61 s after its last line: forgotten */
	postfix_stats(&s);
	CHECK_INT(s.dropped_expired, 1);
	CHECK_INT(s.tracked, 0);
}

static void test_values_too_long(void)
{
	char line[2048], id[700];
	struct postfix_stats s;

	postfix_reset(1024, 60);
	memset(id, 'm', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	snprintf(line, sizeof(line), H "cleanup[1]: 0000000BBB: message-id=<%s>", id);
	CHECK_INT(at(line, 0, 0), 0);
	CHECK_INT(strlen(t_str("email.message_id")), sizeof(id) - 1); /* the line itself has it */
	CHECK_INT(at(H "qmgr[1]: 0000000BBB: from=<a@b>, size=1, nrcpt=1 (queue active)", 0, 0), 0);
	CHECK(t_str("email.message_id") == NULL);
	postfix_stats(&s);
	CHECK_INT(s.values_dropped, 1);
}

static void test_line_shapes(void)
{
	postfix_reset(1024, 60);
	CHECK_INT(at(H "smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.1]: 450 4.7.1 "
		     "<h>: Helo command rejected; from=<> to=<r@x> proto=SMTP helo=<h>", 0, 0), 0);
	CHECK(t_str("email.local_id") == NULL);
	CHECK_STR(t_str("event.action"), "reject");
	CHECK_STR(t_str("event.outcome"), "failure");
	CHECK_STR(t_str("source.ip"), "203.0.113.1");
	CHECK(t_str("source.domain") == NULL); /* "unknown" is no name */
	CHECK(t_str("email.from.address") == NULL); /* the null sender <> */
	CHECK_STR(t_str("email.to.address"), "r@x");
	/* the client is the first "from host[ip]", not a "from" in the reply's text */
	CHECK_INT(at(H "smtpd[1]: NOQUEUE: reject: RCPT from mail.example[198.51.100.9]: 550 5.7.1 "
		     "<r@x>: Recipient address rejected: mail from this domain refused; from=<a@b> "
		     "to=<r@x> proto=ESMTP helo=<mail.example>", 0, 0), 0);
	CHECK_STR(t_str("source.ip"), "198.51.100.9");
	CHECK_STR(t_str("source.domain"), "mail.example");
	/* words that look like ids are not ids */
	CHECK_INT(at(H "smtpd[1]: warning: hostname x does not resolve", 0, 0), 0);
	CHECK(t_str("email.local_id") == NULL);
	CHECK_STR(t_str("event.action"), "warning");
	CHECK_INT(at(H "smtpd[1]: deadbeef00: lower-case hex is no short id", 0, 0), 0);
	CHECK(t_str("email.local_id") == NULL);
	CHECK_INT(at(H "smtp[1]: 4Bq3c63kW5z1xgV: to=<a@b>, status=expired, returned to sender", 0,
		     0), 0);
	CHECK_STR(t_str("email.local_id"), "4Bq3c63kW5z1xgV");
	CHECK_STR(t_str("event.outcome"), "failure");
	CHECK_INT(at("<22>Mar 15 03:00:00 mx postfix/smtpd[1]:", 0, 0), -EINVAL);
	CHECK(postfix_sniff("x postfix-in/smtpd[1]: y", 24));
	CHECK(!postfix_sniff("postfixed: y", 12));
}

static void test_metrics(void)
{
	struct config c;
	struct err e = ERR_INIT;
	struct buf out = BUF_INIT(1 << 20);

	static const char yaml[] = "decoders:\n  postfix:\n    max_queue_ids: 32\n"
				   "    queue_id_ttl: 5\n";

	CHECK_INT(config_load_mem(&c, yaml, strlen(yaml), "t.yaml", &e), 0);
	CHECK_INT(postfix_configure(&c, &e), 0);
	CHECK_INT(postfix_configure(&c, &e), 0); /* again (a second configure): no clash */
	CHECK_INT(at(H "smtpd[1]: 0000000CCC: client=h[192.0.2.1]", 0, 0), 0);
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_postfix_queue_ids 1\n") != NULL);
	CHECK(strstr(out.p, "koban_postfix_queue_ids_dropped_total{reason=\"full\"} 0\n") != NULL);
	CHECK(strstr(out.p, "koban_decoder_values_dropped_total{decoder=\"postfix\","
			    "reason=\"no_room\"} 0\n") != NULL);
	CHECK_INT(at(H "smtpd[1]: 0000000DDD: client=h[192.0.2.1]", 10, 0), 0);
	buf_release(&out);
	config_release(&c);
}

static void *hammer(void *arg)
{
	struct decode_opts o = { NULL, T_EVENT_NOW, (unsigned)(uintptr_t)arg, 0, NULL };
	struct arena a;
	struct event ev;
	struct err e;
	char line[256];

	arena_init(&a, 4096, 1 << 20);
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(line, sizeof(line), H "smtpd[1]: %010X: client=h[192.0.2.1]",
				 0x100000 + i % 300);

		arena_clear(&a);
		event_init(&ev, &a);
		if (postfix_decode(&ev, line, (size_t)n, &o, &e) < 0)
			return (void *)1;
	}
	arena_release(&a);
	return NULL;
}

static void test_threads_share_the_table(void)
{
	pthread_t t[2];
	void *r[2];
	struct postfix_stats s;

	postfix_reset(64, 60);
	for (uintptr_t i = 0; i < 2; i++)
		CHECK_INT(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], &r[i]) == 0 && r[i] == NULL);
	postfix_stats(&s);
	/* 600 ids (300 per tenant) through 64 places: the oldest go, each counted */
	CHECK(s.tracked > 0 && s.tracked <= 64);
	CHECK(s.dropped_full >= 600 - 64);
}

int main(void)
{
	T_RUN(test_correlation);
	T_RUN(test_cap_and_expiry);
	T_RUN(test_values_too_long);
	T_RUN(test_line_shapes);
	T_RUN(test_metrics);
	T_RUN(test_threads_share_the_table);
	return t_done();
}
