/*
 * pipeline.c - decode, normalize to ECS, serialize, hand to the output.
 */
#include "pipeline/pipeline.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>

#define LOG_MODULE "pipeline"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/timeutil.h"
#include "parse/decoder.h"

#define SKEW_SLOTS 4096      /* (tenant, source) pairs with a counter of their own */
#define SKEW_FULL (SKEW_SLOTS * 3 / 4)
#define NO_SOURCE "_none"
#define OTHER "_other"

/* One (tenant, source) clock-skew counter; written once under the lock, then read freely. */
struct skew_entry {
	atomic_int ready;
	unsigned slot;
	const char *source; /* process-lifetime name from the router, or NULL */
	char *tenant;
	atomic_uint_fast64_t count;
};

struct pipeline_worker {
	struct arena arena;
	struct buf out;
	unsigned slot;      /* tenant of the lines in out */
	uint64_t pending;   /* events in out */
};

struct pipeline {
	struct pipeline_config cfg;
	struct pipeline_worker *w;
	pthread_mutex_t skew_lock;
	unsigned skew_used;
	struct skew_entry skew[SKEW_SLOTS];
	struct skew_entry skew_other; /* when the table is full */
	_Atomic int64_t skew_max_ns;    /* cfg.clock_skew_max_ns, changed on reload */
};

/* ---- clock skew counters ---- */

static uint32_t skew_hash(unsigned slot, const char *source)
{
	uint32_t h = 2166136261u ^ slot;

	for (const char *s = source ? source : ""; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static bool skew_match(const struct skew_entry *x, unsigned slot, const char *tenant,
		       const char *source)
{
	if (x->slot != slot || strcmp(x->tenant, tenant))
		return false;
	if (!x->source || !source)
		return !x->source && !source;
	return !strcmp(x->source, source);
}

/* The counter of (slot, source); the overflow counter when the table is full. */
static struct skew_entry *skew_entry(struct pipeline *p, unsigned slot, const char *tenant,
				     const char *source)
{
	uint32_t h = skew_hash(slot, source);
	struct skew_entry *x = NULL;

	for (unsigned i = 0; i < SKEW_SLOTS; i++) {
		struct skew_entry *s = &p->skew[(h + i) % SKEW_SLOTS];

		if (!atomic_load_explicit(&s->ready, memory_order_acquire))
			break;
		if (skew_match(s, slot, tenant, source))
			return s;
	}
	pthread_mutex_lock(&p->skew_lock);
	for (unsigned i = 0; i < SKEW_SLOTS && !x; i++) {
		struct skew_entry *s = &p->skew[(h + i) % SKEW_SLOTS];

		if (atomic_load_explicit(&s->ready, memory_order_relaxed)) {
			if (skew_match(s, slot, tenant, source))
				x = s;
			continue;
		}
		if (p->skew_used >= SKEW_FULL || !(s->tenant = mem_strdup(tenant)))
			break;
		s->slot = slot;
		s->source = source;
		p->skew_used++;
		atomic_store_explicit(&s->ready, 1, memory_order_release);
		x = s;
	}
	pthread_mutex_unlock(&p->skew_lock);
	return x ? x : &p->skew_other;
}

static int collect_skew(struct metrics_out *o, void *ctx)
{
	struct pipeline *p = ctx;
	uint64_t other = atomic_load_explicit(&p->skew_other.count, memory_order_relaxed);
	int rc = 0;

	for (unsigned i = 0; i < SKEW_SLOTS && !rc; i++) {
		struct skew_entry *s = &p->skew[i];

		if (!atomic_load_explicit(&s->ready, memory_order_acquire))
			continue;
		rc = metrics_sample(o, atomic_load_explicit(&s->count, memory_order_relaxed),
				    "tenant", s->tenant, "source", s->source ? s->source : NO_SOURCE,
				    NULL);
	}
	if (!rc && other)
		rc = metrics_sample(o, other, "tenant", OTHER, "source", OTHER, NULL);
	return rc;
}

void pipeline_set_clock_skew_max(struct pipeline *p, int64_t ns)
{
	atomic_store_explicit(&p->skew_max_ns, ns, memory_order_relaxed);
}

uint64_t pipeline_clock_skew_count(struct pipeline *p, const char *tenant, const char *source)
{
	uint64_t n = 0;

	pthread_mutex_lock(&p->skew_lock);
	for (unsigned i = 0; i < SKEW_SLOTS; i++) {
		struct skew_entry *s = &p->skew[i];

		if (!atomic_load_explicit(&s->ready, memory_order_acquire) ||
		    strcmp(s->tenant, tenant))
			continue;
		if ((!s->source && !source) || (s->source && source && !strcmp(s->source, source)))
			n += atomic_load_explicit(&s->count, memory_order_relaxed);
	}
	pthread_mutex_unlock(&p->skew_lock);
	return n;
}

/* ---- life cycle ---- */

int pipeline_new(struct pipeline **out, const struct pipeline_config *c, struct err *e)
{
	struct pipeline *p;
	int rc;

	*out = NULL;
	if (!c->workers)
		return err_set(e, -EINVAL, "pipeline: at least one worker slot is needed");
	p = mem_calloc(1, sizeof(*p));
	if (!p || !(p->w = mem_calloc(c->workers, sizeof(*p->w)))) {
		mem_free(p);
		return err_set(e, -ENOMEM, "out of memory");
	}
	p->cfg = *c;
	atomic_init(&p->skew_max_ns, c->clock_skew_max_ns);
	pthread_mutex_init(&p->skew_lock, NULL);
	for (unsigned i = 0; i < c->workers; i++) {
		/* an event's copies (unescaped structured data) stay within its text's size */
		arena_init(&p->w[i].arena, 64 * 1024, 2 * c->max_message_size + (1u << 20));
		/* room for the flush threshold plus one event: its text at worst 6x escaped, twice */
		buf_init(&p->w[i].out, c->flush_bytes + 12 * c->max_message_size + (1u << 20));
	}
	if (c->metrics &&
	    (rc = metrics_register("koban_events_clock_skew_total", METRICS_COUNTER,
				   "Events whose device time was more than clock_skew_max away "
				   "from the receive time, by tenant and source.",
				   collect_skew, p)) < 0) {
		pipeline_free(p);
		return err_set(e, rc, "pipeline: cannot register its metrics (%s)", strerror(-rc));
	}
	*out = p;
	return 0;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	if (p->cfg.metrics)
		metrics_unregister(p);
	for (unsigned i = 0; i < p->cfg.workers; i++) {
		arena_release(&p->w[i].arena);
		buf_release(&p->w[i].out);
	}
	for (unsigned i = 0; i < SKEW_SLOTS; i++)
		mem_free(p->skew[i].tenant);
	pthread_mutex_destroy(&p->skew_lock);
	mem_free(p->w);
	mem_free(p);
}

/* ---- stages ---- */

/* The first failing setter's code, so that codes are never merged. */
#define TRY(call)                        \
	do {                             \
		if ((rc = (call)) < 0)   \
			return rc;       \
	} while (0)

static int set_literal(struct event *ev, unsigned f, const char *s)
{
	return event_set_str(ev, f, s, strlen(s));
}

/* Who sent it and for whom: tenant and sender fields. */
static int add_origin(struct pipeline *p, struct event *ev, const struct msg *m)
{
	const char *tenant = p->cfg.tenant_name ? p->cfg.tenant_name(p->cfg.tenant_ctx, m->tenant)
						: NULL;
	char addr[IPADDR_ENDPOINT_STRLEN];
	int rc;

	if (tenant) {
		TRY(set_literal(ev, FIELD_ORGANIZATION_ID, tenant));
		TRY(set_literal(ev, FIELD_ORGANIZATION_NAME, tenant));
	}
	if (m->peer_port) { /* 0: not received from the network (koban parse) */
		size_t n = ipaddr_format_endpoint(&m->peer, m->peer_port, addr);

		TRY(event_set_strdup(ev, FIELD_LOG_SOURCE_ADDRESS, addr, n));
		TRY(event_set_ip(ev, FIELD_KOBAN_LOG_SOURCE_IP, &m->peer));
	}
	return 0;
}

/* Marks and counts a device time far from the receive time. */
static int check_skew(struct pipeline *p, struct event *ev, const struct msg *m,
		      struct pipeline_counts *c)
{
	const struct event_value *ts = event_get(ev, FIELD_TIMESTAMP);
	int64_t max = atomic_load_explicit(&p->skew_max_ns, memory_order_relaxed);
	const char *tenant;
	int64_t d;

	if (!max || !ts)
		return 0;
	d = ts->v.i - m->received_ns;
	if (d <= max && d >= -max)
		return 0;
	c->clock_skew++;
	tenant = p->cfg.tenant_name ? p->cfg.tenant_name(p->cfg.tenant_ctx, m->tenant) : NULL;
	atomic_fetch_add_explicit(&skew_entry(p, m->tenant, tenant ? tenant : NO_SOURCE,
					      m->source)->count,
				  1, memory_order_relaxed);
	return event_set_int(ev, FIELD_KOBAN_CLOCK_SKEW_SECONDS, d / NS_PER_SEC);
}

/* ECS fields every event carries, whatever the decoder did. */
static int normalize(struct pipeline *p, struct event *ev, const struct msg *m,
		     const struct decoder *d, int decoded, const struct err *de,
		     struct pipeline_counts *c)
{
	int64_t now = p->cfg.fixed_now_ns ? p->cfg.fixed_now_ns : time_now_ns();
	int rc;

	TRY(set_literal(ev, FIELD_ECS_VERSION, PIPELINE_ECS_VERSION));
	if (decoded < 0) {
		TRY(set_literal(ev, FIELD_EVENT_KIND, "pipeline_error"));
		TRY(event_set_strdup(ev, FIELD_ERROR_MESSAGE, de->msg, strlen(de->msg)));
	} else if (!event_get(ev, FIELD_EVENT_KIND)) { /* a decoder may say "alert" */
		TRY(set_literal(ev, FIELD_EVENT_KIND, "event"));
	}
	if (!event_get(ev, FIELD_EVENT_DATASET))
		TRY(set_literal(ev, FIELD_EVENT_DATASET, d->dataset));
	TRY(event_set_time(ev, FIELD_EVENT_INGESTED, now));
	if (m->truncated)
		TRY(event_add_str(ev, FIELD_LOG_FLAGS, "truncated", 9));
	TRY(add_origin(p, ev, m));
	return check_skew(p, ev, m, c);
}

static void output(struct pipeline *p, struct pipeline_worker *w, struct pipeline_counts *c)
{
	int rc;

	if (!w->out.len)
		return;
	if (p->cfg.output.write_lines)
		rc = p->cfg.output.write_lines(p->cfg.output.ctx, (unsigned)(w - p->w), w->slot,
					       &w->out, (uint32_t)w->pending);
	else if (p->cfg.output.write)
		rc = p->cfg.output.write(p->cfg.output.ctx, w->slot, &w->out);
	else
		rc = 0;
	if (rc < 0)
		c->output_failed += w->pending;
	buf_reset(&w->out);
	w->pending = 0;
}

/* What one message's records share while they are decoded one by one. */
struct one_msg {
	struct pipeline *p;
	unsigned wi;
	const struct msg *m;
	const struct decoder *d; /* the decoder picked; syslog after a failed guess */
	struct decode_opts o;
	struct pipeline_counts *c;
	struct err *e;
	int decoded; /* 0, or the first record's decoding failure */
};

/*
 * Shows the finished event to the inspector. Always 0: the inspector counts its own losses;
 * the int keeps the call in the chain of build steps that stop at the first failure.
 */
static int inspect(struct pipeline *p, const struct one_msg *om, struct event *ev)
{
	struct pipeline_origin o = { om->m->tenant, om->m->source, om->d, om->m->received_ns };

	if (p->cfg.inspect.event)
		p->cfg.inspect.event(p->cfg.inspect.ctx, om->wi, &o, ev);
	return 0;
}

/*
 * Decodes data[0..len) (the message, or one record of it) into an event and hands it on.
 * Returns 0 when decoded, the decoder's negative code (the event still handed on as a
 * pipeline_error), or -ENOSPC when it could not be written.
 */
static int build_event(struct one_msg *om, const char *data, size_t len)
{
	struct pipeline *p = om->p;
	struct pipeline_worker *w = &p->w[om->wi];
	const struct msg *m = om->m;
	struct pipeline_counts *c = om->c;
	struct err de = ERR_INIT;
	struct event ev;
	size_t mark;
	int decoded, rc;

	if (w->out.len && (w->slot != m->tenant || w->out.len >= p->cfg.flush_bytes))
		output(p, w, c);
	w->slot = m->tenant;
	arena_clear(&w->arena);
	event_init(&ev, &w->arena);
	decoded = decoder_decode(m->format, &om->d, &ev, data, len, &om->o, m->truncated, &de);
	if (decoded < 0) {
		c->failed++;
		if (om->e && !om->decoded)
			*om->e = de;
		if (!om->decoded)
			om->decoded = decoded;
	} else {
		c->parsed++;
	}
	if (p->cfg.output.event) { /* the event itself, never JSON */
		if ((rc = normalize(p, &ev, m, om->d, decoded, &de, c)) < 0 ||
		    (rc = inspect(p, om, &ev)) < 0) {
			c->too_large++;
			if (p->cfg.output.too_large)
				p->cfg.output.too_large(p->cfg.output.ctx, m->tenant, (uint32_t)len);
			else
				log_warn("event of %zu bytes not built: %s", len, strerror(-rc));
			return -ENOSPC;
		}
		if (p->cfg.output.event(p->cfg.output.ctx, om->wi, m->tenant, &ev) < 0)
			c->output_failed++;
		return decoded < 0 ? decoded : 0;
	}
	mark = w->out.len;
	if ((rc = normalize(p, &ev, m, om->d, decoded, &de, c)) < 0 ||
	    (rc = inspect(p, om, &ev)) < 0 ||
	    ((p->cfg.output.write || p->cfg.output.write_lines) && /* no output: built, counted */
	     ((rc = event_write_json(&ev, &w->out)) < 0 || (rc = buf_addch(&w->out, '\n')) < 0))) {
		buf_truncate(&w->out, mark);
		c->too_large++;
		if (p->cfg.output.too_large)
			p->cfg.output.too_large(p->cfg.output.ctx, m->tenant, (uint32_t)len);
		else
			log_warn("event of %zu bytes not written: %s", len, strerror(-rc));
		return -ENOSPC;
	}
	w->pending++;
	return decoded < 0 ? decoded : 0;
}

/* split()'s callback: one record, one event; only a write failure stops the split. */
static int build_record(void *ctx, const char *rec, size_t len)
{
	int rc = build_event(ctx, rec, len);

	return rc == -ENOSPC ? rc : 0;
}

int pipeline_event(struct pipeline *p, unsigned wi, const struct msg *m,
		   struct pipeline_counts *c, struct err *e)
{
	/* a message cut to the maximum size loses the character the cut split, if any */
	size_t len = m->truncated ? json_utf8_cut(m->data, m->len, m->len) : m->len;
	struct one_msg om = {
		.p = p, .wi = wi, .m = m, .c = c, .e = e,
		.d = decoder_pick(m->format, m->data, len),
		.o = { m->tz, m->received_ns, m->tenant,
		       p->cfg.tenant_gen ? p->cfg.tenant_gen(p->cfg.tenant_ctx, m->tenant) : 0,
		       m->source },
	};
	struct err se = ERR_INIT;
	int rc;

	if (om.d->split && !m->truncated) {
		rc = om.d->split(m->data, len, build_record, &om, &se);
		if (rc == -ENOSPC)
			return rc;
		if (rc == 0)
			return om.decoded;
		/* not a container: the message is one event */
	}
	rc = build_event(&om, m->data, len);
	return rc;
}

void pipeline_flush(struct pipeline *p, unsigned w, struct pipeline_counts *c)
{
	output(p, &p->w[w], c);
	if (p->cfg.output.event && p->cfg.output.flush)
		p->cfg.output.flush(p->cfg.output.ctx, w);
}

void pipeline_batch(struct pipeline *p, unsigned w, struct msg **msgs, size_t n,
		    struct pipeline_counts *c)
{
	for (size_t i = 0; i < n; i++) {
		int rc = pipeline_event(p, w, msgs[i], c, NULL);

		(void)rc; /* counted in c by pipeline_event */
		msg_free(msgs[i]);
	}
	arena_clear(&p->w[w].arena);
	pipeline_flush(p, w, c);
}
