/*
 * Unit tests of pipeline/pipeline: the ECS fields every event gets, failed and truncated
 * messages, the sender and tenant fields, clock skew (marker, counter, metric), and how
 * buffered lines reach the output (per tenant, past flush_bytes, failures counted).
 */
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "pipeline/pipeline.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW (INT64_C(1773543600) * NS_PER_SEC) /* 2026-03-15T03:00:00Z */

struct capture {
	struct buf out;
	unsigned writes;
	unsigned last_slot;
	int fail;          /* what write returns */
};

static int capture_write(void *ctx, unsigned slot, struct buf *lines)
{
	struct capture *c = ctx;

	c->writes++;
	c->last_slot = slot;
	if (c->fail)
		return c->fail;
	return buf_add(&c->out, lines->p, lines->len);
}

static const char *tenant_of(void *ctx, unsigned slot)
{
	return slot == 5 ? "acme" : slot == 6 ? "globex" : NULL;
}

static struct pipeline *make(struct capture *c, size_t flush, bool metrics)
{
	struct pipeline_config pc = {
		.workers = 2,
		.max_message_size = 480,
		.flush_bytes = flush,
		.clock_skew_max_ns = 7200 * NS_PER_SEC,
		.fixed_now_ns = NOW + NS_PER_SEC,
		.tenant_name = tenant_of,
		.output = { .write = capture_write, .ctx = c },
		.metrics = metrics,
	};
	struct pipeline *p = NULL;
	struct err e = ERR_INIT;

	*c = (struct capture){ BUF_INIT(1 << 20), 0, 0, 0 };
	CHECK_INT(pipeline_new(&p, &pc, &e), 0);
	return p;
}

static struct msg *msg_of(const char *text, unsigned tenant, const char *peer, uint16_t port)
{
	struct msg *m = msg_new(text, (uint32_t)strlen(text));

	m->received_ns = NOW;
	m->tenant = (uint16_t)tenant;
	m->tz = tz_get("Asia/Tokyo", 10, NULL);
	m->peer_port = port;
	if (peer)
		CHECK_INT(ipaddr_parse(&m->peer, peer, strlen(peer)), 0);
	return m;
}

/* Runs one message on worker 0 and returns the captured output (flushed). */
static const char *one(struct pipeline *p, struct capture *c, struct msg *m,
		       struct pipeline_counts *n, int *rc)
{
	struct err e = ERR_INIT;

	buf_reset(&c->out);
	*rc = pipeline_event(p, 0, m, n, &e);
	pipeline_flush(p, 0, n);
	msg_free(m);
	return c->out.len ? c->out.p : "";
}

static void test_ecs_fields(void)
{
	struct capture c;
	struct pipeline *p = make(&c, 1 << 16, false);
	struct pipeline_counts n = { 0 };
	int rc;
	const char *j = one(p, &c, msg_of("<34>Mar 15 12:00:00 fw01 sshd[7]: hi", 5, "10.0.0.1", 514),
			    &n, &rc);

	CHECK_INT(rc, 0);
	CHECK_INT(n.parsed, 1);
	CHECK(strstr(j, "\"ecs\":{\"version\":\"8.17.0\"}"));
	CHECK(strstr(j, "\"kind\":\"event\""));
	CHECK(strstr(j, "\"dataset\":\"syslog\""));
	CHECK(strstr(j, "\"ingested\":\"2026-03-15T03:00:01Z\""));
	CHECK(strstr(j, "\"organization\":{\"id\":\"acme\",\"name\":\"acme\"}"));
	CHECK(strstr(j, "\"source\":{\"address\":\"10.0.0.1:514\"}"));
	CHECK(strstr(j, "\"koban\":{\"log\":{\"source\":{\"ip\":\"10.0.0.1\"}}}"));
	CHECK(!strstr(j, "error"));
	CHECK(!strstr(j, "flags"));
	CHECK(!strstr(j, "tenant"));
	CHECK_INT(c.last_slot, 5);
	pipeline_free(p);
	buf_release(&c.out);
}

static void test_failed_truncated_v6_no_tenant(void)
{
	struct capture c;
	struct pipeline *p = make(&c, 1 << 16, false);
	struct pipeline_counts n = { 0 };
	struct msg *m = msg_of("<999>x", 9, "::1", 5514);
	int rc;
	const char *j;

	m->truncated = 1;
	j = one(p, &c, m, &n, &rc);
	CHECK(rc < 0);
	CHECK_INT(n.failed, 1);
	CHECK_INT(n.parsed, 0);
	CHECK(strstr(j, "\"kind\":\"pipeline_error\""));
	CHECK(strstr(j, "\"error\":{\"message\":\"offset 1: PRI 999 out of range (0 to 191)\"}"));
	CHECK(strstr(j, "\"flags\":[\"truncated\"]"));
	CHECK(strstr(j, "\"address\":\"[::1]:5514\""));
	CHECK(!strstr(j, "organization")); /* no tenant name for slot 9 */
	/* not from the network (koban parse): no sender fields */
	j = one(p, &c, msg_of("<13>1 2026-03-15T03:00:00Z h a - - - x", 5, NULL, 0), &n, &rc);
	CHECK_INT(rc, 0);
	CHECK(!strstr(j, "\"source\""));
	CHECK(strstr(j, "\"kind\":\"event\""));
	pipeline_free(p);
	buf_release(&c.out);
}

/* auto's guess from an anchor in plain text is read as syslog when its decoder fails. */
static void test_failed_guess_is_syslog(void)
{
	static const char text[] = "<13>Mar 15 10:00:00 host app: NAT-TCP-C: counter reset";
	struct capture c;
	struct pipeline *p = make(&c, 1 << 16, false);
	struct pipeline_counts n = { 0 };
	struct msg *m = msg_of(text, 5, NULL, 0);
	int rc;
	const char *j = one(p, &c, m, &n, &rc);

	CHECK_INT(rc, 0);
	CHECK_INT(n.parsed, 1);
	CHECK_INT(n.failed, 0);
	CHECK(strstr(j, "\"dataset\":\"syslog\""));
	CHECK(strstr(j, "\"kind\":\"event\""));
	CHECK(strstr(j, "\"host\":{\"name\":\"host\"}"));
	CHECK(strstr(j, "\"process\":{\"name\":\"app\"}"));
	CHECK(!strstr(j, "error"));
	/* a source that says a10: the failure stands */
	m = msg_of(text, 5, NULL, 0);
	m->format = (uint8_t)decoder_find("a10", 3);
	j = one(p, &c, m, &n, &rc);
	CHECK(rc < 0);
	CHECK_INT(n.failed, 1);
	CHECK(strstr(j, "\"kind\":\"pipeline_error\""));
	CHECK(strstr(j, "\"dataset\":\"a10.cgn\""));
	/* a message cut at the size limit failed because it was cut: it stays an error */
	m = msg_of(text, 5, NULL, 0);
	m->truncated = true;
	j = one(p, &c, m, &n, &rc);
	CHECK(rc < 0);
	CHECK_INT(n.failed, 2);
	CHECK(strstr(j, "\"dataset\":\"a10.cgn\""));
	/* PAN-OS's anchor is the row's structure, not a guess: a damaged row stays an error */
	m = msg_of("<13>Mar 15 10:00:02 host app: 1,2026/03/15 10:00:02,0123,TRAFFIC,end", 5,
		   NULL, 0);
	j = one(p, &c, m, &n, &rc);
	CHECK(rc < 0);
	CHECK_INT(n.failed, 3);
	CHECK(strstr(j, "\"dataset\":\"panos\""));
	pipeline_free(p);
	buf_release(&c.out);
}

static void test_clock_skew(void)
{
	struct capture c;
	struct pipeline *p = make(&c, 1 << 16, true);
	struct pipeline_counts n = { 0 };
	struct buf text = BUF_INIT(1 << 16);
	struct msg *m;
	int rc;
	const char *j;

	/* 12:00 read in Tokyo is 03:00Z: no skew */
	j = one(p, &c, msg_of("<13>Mar 15 12:00:00 h a: x", 5, "10.0.0.1", 514), &n, &rc);
	CHECK(!strstr(j, "clock_skew"));
	/* a device on UTC read as Tokyo time: 9 h early */
	m = msg_of("<13>Mar 15 03:00:00 h a: x", 5, "10.0.0.1", 514);
	m->source = "fw";
	j = one(p, &c, m, &n, &rc);
	CHECK(strstr(j, "\"clock_skew_seconds\":-32400"));
	m = msg_of("<13>1 2026-03-15T05:00:01Z h a - - - ahead", 5, "10.0.0.1", 514);
	m->source = "fw";
	j = one(p, &c, m, &n, &rc);
	CHECK(strstr(j, "\"clock_skew_seconds\":7201"));
	/* exactly the limit is not skew */
	j = one(p, &c, msg_of("<13>1 2026-03-15T05:00:00Z h a - - - x", 6, "10.0.0.1", 514), &n, &rc);
	CHECK(!strstr(j, "clock_skew"));
	j = one(p, &c, msg_of("<13>1 2026-03-14T03:00:00Z h a - - - x", 6, "10.0.0.1", 514), &n, &rc);
	CHECK(strstr(j, "\"clock_skew_seconds\":-86400"));
	CHECK_INT(n.clock_skew, 3);
	/* a reload may change the limit (0 = off) */
	pipeline_set_clock_skew_max(p, 0);
	j = one(p, &c, msg_of("<13>1 2026-03-14T03:00:00Z h a - - - x", 6, "10.0.0.1", 514), &n, &rc);
	CHECK(!strstr(j, "clock_skew"));
	pipeline_set_clock_skew_max(p, 7200 * NS_PER_SEC);
	CHECK_INT(pipeline_clock_skew_count(p, "acme", "fw"), 2);
	CHECK_INT(pipeline_clock_skew_count(p, "globex", NULL), 1);
	CHECK_INT(pipeline_clock_skew_count(p, "acme", NULL), 0);
	CHECK_INT(metrics_render(&text), 0);
	CHECK(strstr(text.p, "koban_events_clock_skew_total{tenant=\"acme\",source=\"fw\"} 2"));
	CHECK(strstr(text.p, "koban_events_clock_skew_total{tenant=\"globex\",source=\"_none\"} 1"));
	buf_release(&text);
	pipeline_free(p);
	buf_release(&c.out);
	buf_init(&text, 1 << 16);
	CHECK_INT(metrics_render(&text), 0);
	CHECK(!text.len || !strstr(text.p, "koban_events_clock_skew_total")); /* unregistered */
	buf_release(&text);
}

static void test_batch_output(void)
{
	struct capture c;
	struct pipeline *p = make(&c, 600, false); /* a few events per write */
	struct pipeline_counts n = { 0 };
	struct msg *msgs[10];
	size_t lines = 0;

	for (int i = 0; i < 10; i++)
		msgs[i] = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - batch", 6, "10.0.0.2", 9);
	pipeline_batch(p, 1, msgs, 10, &n);
	CHECK_INT(n.parsed, 10);
	CHECK(c.writes > 1 && c.writes < 10);
	CHECK_INT(c.last_slot, 6);
	for (size_t i = 0; i < c.out.len; i++)
		lines += c.out.p[i] == '\n';
	CHECK_INT(lines, 10);
	CHECK_INT(c.out.p[c.out.len - 1], '\n');
	/* a refusing output: its events are counted, not silently gone */
	c.fail = -ENOSPC;
	for (int i = 0; i < 3; i++)
		msgs[i] = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - lost", 6, "10.0.0.2", 9);
	pipeline_batch(p, 1, msgs, 3, &n);
	CHECK_INT(n.output_failed, 3);
	pipeline_free(p);
	buf_release(&c.out);
}

/* Lines of two tenants never share one write (a worker's buffer belongs to one slot). */
static void test_tenant_switch_flushes(void)
{
	struct capture c;
	struct pipeline *p = make(&c, 1 << 16, false);
	struct pipeline_counts n = { 0 };
	struct err e = ERR_INIT;
	struct msg *a = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - a", 5, "10.0.0.1", 1);
	struct msg *b = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - b", 6, "10.0.0.1", 1);

	CHECK_INT(pipeline_event(p, 0, a, &n, &e), 0);
	CHECK_INT(c.writes, 0);
	CHECK_INT(pipeline_event(p, 0, b, &n, &e), 0);
	CHECK_INT(c.writes, 1);
	CHECK_INT(c.last_slot, 5);
	pipeline_flush(p, 0, &n);
	CHECK_INT(c.writes, 2);
	CHECK_INT(c.last_slot, 6);
	msg_free(a);
	msg_free(b);
	pipeline_free(p);
	buf_release(&c.out);
}

static void test_bad_config(void)
{
	struct pipeline_config pc = { .workers = 0 };
	struct pipeline *p = (struct pipeline *)&pc;
	struct err e = ERR_INIT;

	CHECK_INT(pipeline_new(&p, &pc, &e), -EINVAL);
	CHECK(p == NULL);
	pipeline_free(NULL);
}

struct seen {
	unsigned events, worker, slot, lines_calls;
	char org[32];
	int fail;
};

static int seen_event(void *ctx, unsigned worker, unsigned slot, struct event *ev)
{
	struct seen *s = ctx;
	const char *org;
	size_t len;

	s->events++;
	s->worker = worker;
	s->slot = slot;
	if (event_get_str(ev, FIELD_ORGANIZATION_NAME, &org, &len) == 1)
		snprintf(s->org, sizeof(s->org), "%.*s", (int)len, org);
	return s->fail;
}

static int seen_lines(void *ctx, unsigned worker, unsigned slot, struct buf *lines,
		      uint32_t count)
{
	struct seen *s = ctx;

	s->lines_calls++;
	s->worker = worker;
	s->events += count;
	return 0;
}

/* The event output gets each event itself (no JSON); write_lines gets the worker and count. */
static void test_event_and_lines_outputs(void)
{
	struct pipeline_config pc = {
		.workers = 2, .max_message_size = 480, .flush_bytes = 1 << 16,
		.fixed_now_ns = NOW + NS_PER_SEC, .tenant_name = tenant_of,
	};
	struct pipeline_counts n = { 0 };
	struct seen s = { 0 };
	struct err e = ERR_INIT;
	struct pipeline *p = NULL;
	struct msg *msgs[4];

	pc.output.ctx = &s;
	pc.output.event = seen_event;
	CHECK_INT(pipeline_new(&p, &pc, &e), 0);
	for (int i = 0; i < 4; i++)
		msgs[i] = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - ev", 5, "10.0.0.2", 9);
	pipeline_batch(p, 1, msgs, 4, &n);
	CHECK_INT(n.parsed, 4);
	CHECK_INT(s.events, 4);
	CHECK_INT(s.worker, 1);
	CHECK_INT(s.slot, 5);
	CHECK_STR(s.org, "acme");
	s.fail = -EIO;
	msgs[0] = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - ev", 5, "10.0.0.2", 9);
	pipeline_batch(p, 0, msgs, 1, &n);
	CHECK_INT(n.output_failed, 1);
	pipeline_free(p);

	memset(&s, 0, sizeof(s));
	pc.output.event = NULL;
	pc.output.write_lines = seen_lines;
	CHECK_INT(pipeline_new(&p, &pc, &e), 0);
	for (int i = 0; i < 3; i++)
		msgs[i] = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - ln", 6, "10.0.0.2", 9);
	pipeline_batch(p, 1, msgs, 3, &n);
	CHECK_INT(s.lines_calls, 1);
	CHECK_INT(s.events, 3);
	CHECK_INT(s.worker, 1);
	pipeline_free(p);
}

struct inspected {
	unsigned calls, worker, slot;
	const char *source;
	const char *decoder;
};

/* Marks every event it sees, as detection will (threat.enrichments, tags). */
static void inspect_tag(void *ctx, unsigned worker, const struct pipeline_origin *o,
			struct event *ev)
{
	struct inspected *in = ctx;

	in->calls++;
	in->worker = worker;
	in->slot = o->slot;
	in->source = o->source;
	in->decoder = o->decoder->name;
	CHECK_INT(event_add_str(ev, FIELD_TAGS, "seen", 4), 0);
}

/* The inspector sees each finished event, before both kinds of output, and may add fields. */
static void test_inspector(void)
{
	struct capture c;
	struct pipeline_config pc = {
		.workers = 2, .max_message_size = 480, .flush_bytes = 1 << 16,
		.fixed_now_ns = NOW + NS_PER_SEC, .tenant_name = tenant_of,
		.output = { .write = capture_write, .ctx = &c },
	};
	struct pipeline_counts n = { 0 };
	struct inspected in = { 0 };
	struct seen s = { 0 };
	struct err e = ERR_INIT;
	struct pipeline *p = NULL;
	struct msg *m;
	int rc;

	c = (struct capture){ BUF_INIT(1 << 20), 0, 0, 0 };
	pc.inspect = (struct pipeline_inspect){ inspect_tag, &in };
	CHECK_INT(pipeline_new(&p, &pc, &e), 0);
	m = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - ev", 6, "10.0.0.2", 9);
	m->source = "fw";
	buf_reset(&c.out);
	rc = pipeline_event(p, 1, m, &n, &e);
	pipeline_flush(p, 1, &n);
	msg_free(m);
	CHECK_INT(rc, 0);
	CHECK_INT(in.calls, 1);
	CHECK_INT(in.worker, 1);
	CHECK_INT(in.slot, 6);
	CHECK_STR(in.source, "fw");
	CHECK_STR(in.decoder, "rfc5424");
	CHECK(strstr(c.out.p, "\"tags\":[\"seen\"]"));
	/* a pipeline error is inspected too */
	(void)one(p, &c, msg_of("<13>1 garbage", 6, NULL, 0), &n, &rc);
	CHECK_INT(in.calls, 2);
	pipeline_free(p);
	buf_release(&c.out);

	pc.output = (struct pipeline_output){ .ctx = &s, .event = seen_event };
	CHECK_INT(pipeline_new(&p, &pc, &e), 0);
	m = msg_of("<13>1 2026-03-15T03:00:00Z h a - - - ev", 5, "10.0.0.2", 9);
	pipeline_batch(p, 0, &m, 1, &n);
	CHECK_INT(in.calls, 3);
	CHECK_INT(s.events, 1);
	pipeline_free(p);
}

int main(void)
{
	T_RUN(test_ecs_fields);
	T_RUN(test_failed_truncated_v6_no_tenant);
	T_RUN(test_failed_guess_is_syslog);
	T_RUN(test_clock_skew);
	T_RUN(test_batch_output);
	T_RUN(test_tenant_switch_flushes);
	T_RUN(test_event_and_lines_outputs);
	T_RUN(test_inspector);
	T_RUN(test_bad_config);
	return t_done();
}
