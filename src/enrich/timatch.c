#include "enrich/timatch.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "enrich/ti.h"
#include "enrich/tisnap.h"
#include "soc/alert.h"

#include <pthread.h>
#include <stdatomic.h>

#define DEDUPE_WINDOW_DEFAULT_NS (3600 * (int64_t)1000000000)
#define HITS_MAX 32              /* hits handled per event; more are counted as lost */
#define SEEN_MAX 64              /* values looked up per event; more are not */
#define ENRICHMENT_MAX 8192      /* bytes of one threat.enrichments object */
#define DEDUPE_SLOTS (1u << 16)  /* (tenant, indicator, host) remembered at once */
#define DEDUPE_STRIPES 64        /* locks; a key probes inside its stripe only */
#define DEDUPE_PROBES 16

/* Where an indicator-bearing value sits, and as which indicator type it is looked up. */
struct looked_field {
	unsigned field;
	enum ti_type type;
	bool email_domain; /* the domain part of an e-mail address, looked up as TI_DOMAIN */
	bool peer_is_destination; /* the event's other side is destination.ip (see host_of) */
};

/* In order: a value seen in an earlier field is not looked up again (related.ip last). */
static const struct looked_field looked[] = {
	{ FIELD_SOURCE_IP, TI_IP, false, true },
	{ FIELD_SOURCE_NAT_IP, TI_IP, false, true },
	{ FIELD_CLIENT_IP, TI_IP, false, true },
	{ FIELD_DESTINATION_IP, TI_IP, false, false },
	{ FIELD_DESTINATION_NAT_IP, TI_IP, false, false },
	{ FIELD_SERVER_IP, TI_IP, false, false },
	{ FIELD_HOST_IP, TI_IP, false, false },
	{ FIELD_RELATED_IP, TI_IP, false, false },
	{ FIELD_DNS_QUESTION_NAME, TI_DOMAIN, false, false },
	{ FIELD_URL_DOMAIN, TI_DOMAIN, false, false },
	{ FIELD_DESTINATION_DOMAIN, TI_DOMAIN, false, false },
	{ FIELD_SOURCE_DOMAIN, TI_DOMAIN, false, true },
	{ FIELD_EMAIL_FROM_ADDRESS, TI_DOMAIN, true, false },
	{ FIELD_EMAIL_SENDER_ADDRESS, TI_DOMAIN, true, false },
	{ FIELD_URL_FULL, TI_URL, false, false },
	{ FIELD_URL_ORIGINAL, TI_URL, false, false },
	{ FIELD_FILE_HASH_MD5, TI_MD5, false, false },
	{ FIELD_FILE_HASH_SHA1, TI_SHA1, false, false },
	{ FIELD_FILE_HASH_SHA256, TI_SHA256, false, false },
	{ FIELD_PROCESS_HASH_MD5, TI_MD5, false, false },
	{ FIELD_PROCESS_HASH_SHA1, TI_SHA1, false, false },
	{ FIELD_PROCESS_HASH_SHA256, TI_SHA256, false, false },
	{ FIELD_EMAIL_FROM_ADDRESS, TI_EMAIL, false, false },
	{ FIELD_EMAIL_TO_ADDRESS, TI_EMAIL, false, false },
	{ FIELD_EMAIL_SENDER_ADDRESS, TI_EMAIL, false, false },
};

_Static_assert(ARRAY_SIZE(looked) <= 32, "looked_bits holds a bit per entry");

enum lost_reason { LOST_TOO_MANY_HITS, LOST_TOO_MANY_VALUES, LOST_NO_MEMORY, LOST_TOO_LARGE,
		   LOST_DEDUPE_FULL, LOST_N };
static const char *const lost_names[LOST_N] = { "too_many_hits", "too_many_values",
						 "no_memory", "too_large", "dedupe_full" };

/* One hit: the indicator (valid while the snapshot is entered) and where it was seen. */
struct hit {
	struct ti_match m;
	const struct looked_field *where;
	const char *atomic;  /* the event's value as looked up */
	size_t atomic_len;
};

/* A worker's state: its own counters (no sharing on the hot path) and scratch. */
struct worker {
	_Atomic uint64_t lookups;
	_Atomic uint64_t matches[TI_N_TYPES];
	_Atomic uint64_t lost[LOST_N];
	struct hit hits[HITS_MAX];
	size_t n_hits;
	const struct looked_field *cur;  /* the field being looked up (for the callback) */
	const char *cur_value;       /* NULL for an address until a hit formats it */
	size_t cur_len;
	const struct ipaddr *cur_ip; /* the address looked up, NULL for other types */
	size_t cur_slot;             /* its ip_text[] */
	char ip_text[SEEN_MAX][IPADDR_STRLEN];
	struct buf json;   /* an enrichment, then the key fields */
	struct buf event;  /* the event's JSON for the alerts */
	char pad[64];      /* the next worker's counters on another cache line */
};

struct dedupe_slot {
	uint64_t key;       /* 0: empty */
	int64_t until_ns;
};

struct timatch {
	struct timatch_config c;
	struct worker *w;
	struct dedupe_slot *slots;
	pthread_mutex_t stripe[DEDUPE_STRIPES];
	_Atomic uint64_t suppressed;
	bool registered;
};

/* ---- de-duplication ---------------------------------------------------------------- */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull; /* a separator: ("ab","c") differs from ("a","bc") */
}

static uint64_t dedupe_key(const char *tenant, int64_t id, const char *host, size_t host_len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = hash_bytes(h, tenant, strlen(tenant));
	h = hash_bytes(h, &id, sizeof(id));
	h = hash_bytes(h, host, host_len);
	return h ? h : 1;
}

/*
 * Whether an alert for key is due now: true (and the key remembered until now + window)
 * unless one was raised within the window. A stripe whose probes are all live keys
 * cannot remember it: the alert is raised (never lost) and the miss counted.
 */
static bool dedupe_due(struct timatch *t, struct worker *w, uint64_t key, int64_t now)
{
	const size_t per = DEDUPE_SLOTS / DEDUPE_STRIPES;
	size_t stripe = (size_t)(key % DEDUPE_STRIPES), base = stripe * per;
	size_t start = (size_t)((key / DEDUPE_STRIPES) % per);
	struct dedupe_slot *free_slot = NULL;
	bool due = true;

	pthread_mutex_lock(&t->stripe[stripe]);
	for (size_t k = 0; k < DEDUPE_PROBES; k++) {
		struct dedupe_slot *s = &t->slots[base + (start + k) % per];

		if (s->key == key) {
			due = s->until_ns <= now;
			free_slot = s;
			break;
		}
		if (!free_slot && (s->key == 0 || s->until_ns <= now))
			free_slot = s;
	}
	if (due && free_slot) {
		free_slot->key = key;
		free_slot->until_ns = now + t->c.dedupe_window_ns;
	}
	pthread_mutex_unlock(&t->stripe[stripe]);
	if (due && !free_slot)
		atomic_fetch_add_explicit(&w->lost[LOST_DEDUPE_FULL], 1, memory_order_relaxed);
	return due;
}

/* An alert that dedupe_due() let through was not raised after all: the next one is due. */
static void dedupe_forget(struct timatch *t, uint64_t key)
{
	const size_t per = DEDUPE_SLOTS / DEDUPE_STRIPES;
	size_t stripe = (size_t)(key % DEDUPE_STRIPES), base = stripe * per;
	size_t start = (size_t)((key / DEDUPE_STRIPES) % per);

	pthread_mutex_lock(&t->stripe[stripe]);
	for (size_t k = 0; k < DEDUPE_PROBES; k++) {
		struct dedupe_slot *s = &t->slots[base + (start + k) % per];

		if (s->key == key) {
			s->key = 0;
			break;
		}
	}
	pthread_mutex_unlock(&t->stripe[stripe]);
}

/* ---- the ECS enrichment and the alert ---------------------------------------------- */

/* STIX 2.1 cyber-observable type names, as ECS threat.indicator.type takes them. */
static const char *stix_type(const struct ti_match *m)
{
	switch (m->type) {
	case TI_IP: return strchr(m->value, ':') ? "ipv6-addr" : "ipv4-addr";
	case TI_DOMAIN: return "domain-name";
	case TI_URL: return "url";
	case TI_MD5:
	case TI_SHA1:
	case TI_SHA256: return "file";
	case TI_EMAIL: return "email-addr";
	}
	return "unknown";
}

/* The ECS field under threat.enrichments.indicator that holds the value. */
static const char *indicator_key(enum ti_type type)
{
	switch (type) {
	case TI_IP: return "ip";
	case TI_DOMAIN: return "url";       /* {"url":{"domain":...}} */
	case TI_URL: return "url";          /* {"url":{"full":...}} */
	case TI_MD5:
	case TI_SHA1:
	case TI_SHA256: return "file";
	case TI_EMAIL: return "email";
	}
	return "value";
}

static const char *confidence_name(int c)
{
	return c < 0 ? "Not Specified" : c >= 80 ? "High" : c >= 50 ? "Medium" : c > 0 ? "Low"
									  : "None";
}

static const char *level_of(int c)
{
	return c < 0 ? "medium" : c >= 80 ? "high" : c >= 50 ? "medium" : "low";
}

static int add_key_string(struct buf *b, const char *key, const char *s, size_t len)
{
	int rc;

	if ((rc = json_add_string(b, key, strlen(key))) < 0 || (rc = buf_addch(b, ':')) < 0)
		return rc;
	return json_add_string(b, s, len);
}

/* {"ip":V} / {"url":{"domain":V}} / {"url":{"full":V}} / {"file":{"hash":{"md5":V}}} ... */
static int write_indicator_value(struct buf *b, const struct ti_match *m)
{
	const char *v = m->value;
	size_t n = strlen(v);
	int rc = 0;

	switch (m->type) {
	case TI_IP: return add_key_string(b, "ip", v, n);
	case TI_DOMAIN: rc = buf_adds(b, "\"url\":{\"domain\":"); break;
	case TI_URL: rc = buf_adds(b, "\"url\":{\"full\":"); break;
	case TI_MD5: rc = buf_adds(b, "\"file\":{\"hash\":{\"md5\":"); break;
	case TI_SHA1: rc = buf_adds(b, "\"file\":{\"hash\":{\"sha1\":"); break;
	case TI_SHA256: rc = buf_adds(b, "\"file\":{\"hash\":{\"sha256\":"); break;
	case TI_EMAIL: rc = buf_adds(b, "\"email\":{\"address\":"); break;
	}
	if (rc < 0 || (rc = json_add_string(b, v, n)) < 0)
		return rc;
	return buf_adds(b, m->type == TI_MD5 || m->type == TI_SHA1 || m->type == TI_SHA256 ? "}}"
											    : "}");
}

/* A comma unless the object was just opened. */
static int sep(struct buf *b)
{
	return b->len && b->p[b->len - 1] != '{' ? buf_addch(b, ',') : 0;
}

/*
 * One threat.enrichments object (ECS): indicator.{confidence, <the value's field>, id,
 * provider, type} and matched.{atomic, field, id, occurred, type}, keys in the order
 * event_write_json gives nested fields.
 */
static int write_enrichment(struct buf *b, const struct hit *h, int64_t now)
{
	char id[24], when[TIME_RFC3339_LEN];
	const char *vkey = indicator_key(h->m.type), *type = stix_type(&h->m);
	const char *conf = confidence_name(h->m.confidence), *field = field_name(h->where->field);
	size_t id_len = (size_t)snprintf(id, sizeof(id), "%lld", (long long)h->m.id);
	size_t when_len = time_format_rfc3339(now, when);
	const char *const ind_key[] = { "confidence", "id", "provider", "type" };
	const char *const ind_val[] = { conf, id, h->m.source, type };
	const size_t ind_len[] = { strlen(conf), id_len, strlen(h->m.source), strlen(type) };
	const char *const m_key[] = { "atomic", "field", "id", "occurred", "type" };
	const char *const m_val[] = { h->atomic, field, id, when, "indicator_match_rule" };
	const size_t m_len[] = { h->atomic_len, strlen(field), id_len, when_len, 20 };
	bool value_done = false;
	int rc = buf_adds(b, "{\"indicator\":{");

	for (size_t i = 0; !rc && i < ARRAY_SIZE(ind_key); i++) {
		if (!value_done && strcmp(vkey, ind_key[i]) < 0) {
			value_done = true;
			if ((rc = sep(b)) < 0 || (rc = write_indicator_value(b, &h->m)) < 0)
				break;
		}
		if ((rc = sep(b)) == 0)
			rc = add_key_string(b, ind_key[i], ind_val[i], ind_len[i]);
	}
	if (!rc && !value_done && (rc = sep(b)) == 0)
		rc = write_indicator_value(b, &h->m);
	if (!rc)
		rc = buf_adds(b, "},\"matched\":{");
	for (size_t i = 0; !rc && i < ARRAY_SIZE(m_key); i++)
		if ((rc = sep(b)) == 0)
			rc = add_key_string(b, m_key[i], m_val[i], m_len[i]);
	return rc ? rc : buf_adds(b, "}}");
}

/*
 * The host an alert is about, for the key fields and the de-duplication: the event's other
 * side (destination.ip for a hit on the source side, source.ip for any other: the internal
 * host that talked to the indicator), else host.name (an endpoint's or a mail server's
 * event; on a firewall's it names the firewall, hence second), else "".
 */
static size_t host_of(const struct event *ev, const struct looked_field *where,
		      char text[IPADDR_STRLEN], const char **host)
{
	const struct event_value *v;
	size_t len;

	v = event_get(ev, where->peer_is_destination ? FIELD_DESTINATION_IP : FIELD_SOURCE_IP);
	if (v) {
		ipaddr_format(&v->v.ip, text);
		*host = text;
		return strlen(text);
	}
	if (event_get_str(ev, FIELD_HOST_NAME, host, &len))
		return len;
	*host = "";
	return 0;
}

/* {"host":H,"indicator":V,"indicator.confidence":N,"indicator.source":S,...} */
static int write_key_fields(struct buf *b, const struct hit *h, const char *host,
			    size_t host_len)
{
	const char *field = field_name(h->where->field), *type = ti_type_name(h->m.type);
	int rc = buf_addch(b, '{');

	if (!rc) rc = add_key_string(b, "host", host, host_len);
	if (!rc) rc = buf_addch(b, ',');
	if (!rc) rc = add_key_string(b, "indicator", h->m.value, strlen(h->m.value));
	if (!rc) rc = buf_adds(b, ",\"indicator.confidence\":");
	if (!rc) rc = h->m.confidence < 0 ? buf_adds(b, "null") : buf_add_int(b, h->m.confidence);
	if (!rc) rc = buf_addch(b, ',');
	if (!rc) rc = add_key_string(b, "indicator.source", h->m.source, strlen(h->m.source));
	if (!rc) rc = buf_addch(b, ',');
	if (!rc) rc = add_key_string(b, "indicator.type", type, strlen(type));
	if (!rc) rc = buf_addch(b, ',');
	if (!rc) rc = add_key_string(b, "matched.field", field, strlen(field));
	if (!rc) rc = buf_addch(b, '}');
	return rc;
}

static void lose(struct worker *w, enum lost_reason r)
{
	atomic_fetch_add_explicit(&w->lost[r], 1, memory_order_relaxed);
}

/* Raises the alert of one hit unless one for (tenant, indicator, host) is in the window. */
static void raise_alert(struct timatch *t, struct worker *w, const char *tenant,
			const struct event *ev, const struct hit *h, int64_t now)
{
	char host_text[IPADDR_STRLEN], title[TI_VALUE_MAX + 512], source_tag[512];
	const char *tags[3] = { "threat-intel", source_tag, "retro-hunt" }, *host;
	size_t host_len = host_of(ev, h->where, host_text, &host);
	const struct event_value *ts = event_get(ev, FIELD_TIMESTAMP);
	struct alert_event one = { w->event.p, w->event.len };
	uint64_t key = dedupe_key(tenant, h->m.id, host, host_len);
	struct alert a = { 0 };

	if (!dedupe_due(t, w, key, now)) {
		atomic_fetch_add_explicit(&t->suppressed, 1, memory_order_relaxed);
		return;
	}
	buf_reset(&w->json);
	if (write_key_fields(&w->json, h, host, host_len) < 0) {
		dedupe_forget(t, key);
		lose(w, LOST_TOO_LARGE);
		return;
	}
	snprintf(title, sizeof(title), "Threat intelligence: %s %s (%s)", ti_type_name(h->m.type),
		 h->m.value, h->m.source);
	snprintf(source_tag, sizeof(source_tag), "ti.source.%s", h->m.source);
	a.tenant = tenant;
	a.kind = ALERT_INDICATOR;
	a.rule_id = t->c.retro ? "koban-ti-retrohunt" : "koban-ti";
	a.rule_title = title;
	a.rule_level = level_of(h->m.confidence);
	a.rule_author = "koban";
	a.rule_status = "stable";
	a.rule_link = "docs/threatintel.md#matching-events";
	a.tags = tags;
	a.n_tags = t->c.retro ? 3 : 2;
	a.event_ns = ts ? ts->v.i : 0;
	a.key_fields = w->json.p;
	a.events = w->event.len ? &one : NULL;
	a.n_events = w->event.len ? 1 : 0;
	a.events_matched = 1;
	/* a drop is counted by the sink; the window opens only for an alert it took */
	if (alert_sink_push(t->c.alerts, &a, NULL) < 0)
		dedupe_forget(t, key);
}

static void on_match(void *ctx, const struct ti_match *m)
{
	struct worker *w = ctx;
	struct hit *h;

	atomic_fetch_add_explicit(&w->matches[m->type], 1, memory_order_relaxed);
	if (w->n_hits == HITS_MAX) {
		lose(w, LOST_TOO_MANY_HITS);
		return;
	}
	if (w->cur_ip && !w->cur_value) { /* addresses are formatted only when they hit */
		ipaddr_format(w->cur_ip, w->ip_text[w->cur_slot]);
		w->cur_value = w->ip_text[w->cur_slot];
		w->cur_len = strlen(w->cur_value);
	}
	h = &w->hits[w->n_hits++];
	h->m = *m;
	h->where = w->cur;
	h->atomic = w->cur_value;
	h->atomic_len = w->cur_len;
}

/* Whether (type, s, len) was looked up already for this event (among seen[0..n)). */
struct seen {
	enum ti_type type;
	const char *s;
	size_t len;
};

static bool seen_before(const struct seen *seen, size_t n, enum ti_type type, const char *s,
			size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].type == type && seen[i].len == len && !memcmp(seen[i].s, s, len))
			return true;
	return false;
}

/*
 * The bytes a value is told apart by: an address's 16 bytes (the IP fields are typed FT_IP
 * and looked up parsed), an e-mail's domain, a string.
 */
static bool lookup_key(const struct looked_field *f, const struct event_value *v,
		       const char **s, size_t *len)
{
	const char *at;

	if (f->type == TI_IP) {
		*s = (const char *)v->v.ip.b;
		*len = sizeof(v->v.ip.b);
		return true;
	}
	*s = v->v.s;
	*len = v->len;
	if (f->email_domain) {
		if (!(at = memchr(*s, '@', *len)))
			return false;
		*len -= (size_t)(at + 1 - *s);
		*s = at + 1;
	}
	return *len > 0 && *len <= TI_VALUE_MAX;
}

/* By known field: a bit per entry of looked[] that reads it (one field may be two). */
static uint32_t looked_bits[FIELD_COUNT];
static pthread_once_t looked_once = PTHREAD_ONCE_INIT;

static void index_looked(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(looked); i++)
		looked_bits[looked[i].field] |= 1u << i;
}

/* A value to look up: its entry of looked[] (the order of preference), then its position. */
struct candidate {
	uint16_t entry, pos;
};

/*
 * The event's indicator-bearing values in looked[]'s order (values of one field in the
 * event's order): one pass over the values, then an insertion sort of the few found.
 */
static size_t candidates(struct worker *w, const struct event *ev, struct candidate *c,
			 size_t max)
{
	size_t n = 0;

	for (uint32_t i = 0; i < ev->n; i++) {
		uint32_t f = ev->vals[i].field, bits = f < FIELD_COUNT ? looked_bits[f] : 0;

		if (bits && n == max) {
			lose(w, LOST_TOO_MANY_VALUES);
			break;
		}
		for (; bits && n < max; bits &= bits - 1) {
			struct candidate x = { (uint16_t)__builtin_ctz(bits), (uint16_t)i };
			size_t j = n++;

			for (; j > 0 && c[j - 1].entry > x.entry; j--)
				c[j] = c[j - 1];
			c[j] = x;
		}
	}
	return n;
}

/* Looks up every indicator-bearing value of ev; the hits go to w->hits. */
static void look_up_event(struct worker *w, const struct ti_snapshot *snap, const char *tenant,
			  const struct event *ev)
{
	struct candidate c[SEEN_MAX];
	struct seen seen[SEEN_MAX];
	size_t n = candidates(w, ev, c, SEEN_MAX), n_seen = 0;

	for (size_t i = 0; i < n; i++) {
		const struct looked_field *f = &looked[c[i].entry];
		const char *s;
		size_t len;

		if (!lookup_key(f, &ev->vals[c[i].pos], &s, &len) ||
		    seen_before(seen, n_seen, f->type, s, len))
			continue;
		w->cur = f;
		w->cur_slot = n_seen;
		seen[n_seen++] = (struct seen){ f->type, s, len };
		if (f->type == TI_IP) {
			w->cur_ip = &ev->vals[c[i].pos].v.ip;
			w->cur_value = NULL;
			ti_lookup_ip(snap, tenant, w->cur_ip, on_match, w);
		} else {
			w->cur_ip = NULL;
			w->cur_value = s;
			w->cur_len = len;
			ti_lookup(snap, tenant, f->type, s, len, on_match, w);
		}
	}
	if (n_seen)
		atomic_fetch_add_explicit(&w->lookups, n_seen, memory_order_relaxed);
}

/* Adds one threat.enrichments object per hit (their text in the event's arena). */
static void enrich(struct worker *w, struct event *ev, int64_t now)
{
	for (size_t i = 0; i < w->n_hits; i++) {
		char *copy;
		int rc;

		buf_reset(&w->json);
		if (write_enrichment(&w->json, &w->hits[i], now) < 0) {
			lose(w, LOST_TOO_LARGE);
			continue;
		}
		if (!(copy = arena_alloc(ev->arena, w->json.len))) {
			lose(w, LOST_NO_MEMORY);
			continue;
		}
		memcpy(copy, w->json.p, w->json.len);
		rc = event_add_obj(ev, FIELD_THREAT_ENRICHMENTS, copy, w->json.len);
		if (rc < 0)
			lose(w, rc == -ENOMEM ? LOST_NO_MEMORY : LOST_TOO_LARGE);
	}
}

int timatch_event(struct timatch *t, unsigned worker, const char *tenant, struct event *ev)
{
	struct worker *w = &t->w[worker];
	const struct ti_snapshot *snap;
	int64_t now;
	int hits;

	snap = t->c.live ? ti_live_enter(t->c.live, worker) : t->c.snapshot;
	w->n_hits = 0;
	look_up_event(w, snap, tenant, ev);
	hits = (int)w->n_hits;
	if (hits) {
		now = time_now_ns();
		if (!t->c.retro)
			enrich(w, ev, now);
		if (t->c.alerts) {
			buf_reset(&w->event);
			if (event_write_json(ev, &w->event) < 0) { /* the alert goes without it */
				lose(w, LOST_TOO_LARGE);
				buf_reset(&w->event);
			}
			for (size_t i = 0; i < w->n_hits; i++)
				raise_alert(t, w, tenant, ev, &w->hits[i], now);
		}
	}
	if (t->c.live)
		ti_live_leave(t->c.live, worker);
	return hits;
}

/* ---- metrics ----------------------------------------------------------------------- */

static uint64_t sum(const struct timatch *t, size_t offset)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < t->c.workers; i++)
		n += atomic_load_explicit((_Atomic uint64_t *)((char *)&t->w[i] + offset),
					  memory_order_relaxed);
	return n;
}

void timatch_counts(const struct timatch *t, struct timatch_counts *out)
{
	out->suppressed = atomic_load_explicit(&t->suppressed, memory_order_relaxed);
	out->lost = 0;
	for (int r = 0; r < LOST_N; r++)
		out->lost += sum(t, offsetof(struct worker, lost) + (size_t)r * sizeof(_Atomic uint64_t));
}

static int collect_lookups(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, sum(ctx, offsetof(struct worker, lookups)), NULL);
}

static int collect_matches(struct metrics_out *o, void *ctx)
{
	int rc = 0;

	for (int ty = 0; ty < TI_N_TYPES && !rc; ty++)
		rc = metrics_sample(o, sum(ctx, offsetof(struct worker, matches) +
					       (size_t)ty * sizeof(_Atomic uint64_t)),
				    "type", ti_type_name((enum ti_type)ty), NULL);
	return rc;
}

static int collect_suppressed(struct metrics_out *o, void *ctx)
{
	struct timatch *t = ctx;

	return metrics_sample(o, atomic_load_explicit(&t->suppressed, memory_order_relaxed), NULL);
}

static int collect_lost(struct metrics_out *o, void *ctx)
{
	int rc = 0;

	for (int r = 0; r < LOST_N && !rc; r++)
		rc = metrics_sample(o, sum(ctx, offsetof(struct worker, lost) +
					       (size_t)r * sizeof(_Atomic uint64_t)),
				    "reason", lost_names[r], NULL);
	return rc;
}

static const struct metrics_family families[] = {
	{ "koban_ti_lookups_total", METRICS_COUNTER,
	  "Indicator look-ups of event values (one per distinct value of an event).",
	  collect_lookups },
	{ "koban_ti_matches_total", METRICS_COUNTER,
	  "Indicators matched by event values, by indicator type.", collect_matches },
	{ "koban_ti_alerts_suppressed_total", METRICS_COUNTER,
	  "Indicator alerts not raised: one for the same tenant, indicator and host was raised "
	  "within the de-duplication window.", collect_suppressed },
	{ "koban_ti_lost_total", METRICS_COUNTER,
	  "Indicator hits not fully handled, by reason: too_many_hits (past 32 in one event), "
	  "too_many_values (an event with more than 64 values to look up: the rest not), "
	  "no_memory and too_large (an enrichment or alert not made), dedupe_full (an alert "
	  "raised without being remembered for de-duplication).", collect_lost },
};

/* ---- life cycle -------------------------------------------------------------------- */

int timatch_new(struct timatch **out, const struct timatch_config *c, struct err *e)
{
	struct timatch *t;
	const char *failed = NULL;
	int rc;

	*out = NULL;
	if (!c->workers || (!c->live == !c->snapshot))
		return err_set(e, -EINVAL, "timatch: expected workers > 0 and exactly one of a "
			       "live snapshot or a fixed one");
	if (c->dedupe_window_ns < 0)
		return err_set(e, -EINVAL, "timatch: a negative de-duplication window");
	pthread_once(&looked_once, index_looked);
	if (!(t = mem_calloc(1, sizeof(*t))))
		return err_set(e, -ENOMEM, "out of memory");
	t->c = *c;
	if (!t->c.dedupe_window_ns)
		t->c.dedupe_window_ns = DEDUPE_WINDOW_DEFAULT_NS;
	for (unsigned i = 0; i < DEDUPE_STRIPES; i++)
		pthread_mutex_init(&t->stripe[i], NULL);
	if (!(t->w = mem_calloc(c->workers, sizeof(*t->w))) ||
	    (c->alerts && !(t->slots = mem_calloc(DEDUPE_SLOTS, sizeof(*t->slots))))) {
		rc = err_set(e, -ENOMEM, "out of memory for %u indicator-matching workers",
			     c->workers);
		goto fail;
	}
	for (unsigned i = 0; i < c->workers; i++) {
		buf_init(&t->w[i].json, ENRICHMENT_MAX);
		buf_init(&t->w[i].event, ALERT_EVENTS_BYTES);
	}
	if (c->metrics) {
		rc = metrics_register_families(families, ARRAY_SIZE(families), t, &failed);
		if (rc < 0) {
			rc = err_set(e, rc, "metric %s: %s", failed ? failed : "?", strerror(-rc));
			goto fail;
		}
		t->registered = true;
	}
	*out = t;
	return 0;
fail:
	timatch_free(t);
	return rc;
}

void timatch_free(struct timatch *t)
{
	if (!t)
		return;
	if (t->registered)
		metrics_unregister(t);
	for (unsigned i = 0; t->w && i < t->c.workers; i++) {
		buf_release(&t->w[i].json);
		buf_release(&t->w[i].event);
	}
	for (unsigned i = 0; i < DEDUPE_STRIPES; i++)
		pthread_mutex_destroy(&t->stripe[i]);
	mem_free(t->slots);
	mem_free(t->w);
	mem_free(t);
}
