/*
 * postfix.c - Postfix log lines and the queue-id table that carries one message's facts
 * from its earlier lines (smtpd client=, cleanup message-id=, qmgr from=) to the later
 * ones (the delivery agents' status=).
 *
 * The table is PF_SHARDS shards, each a fixed array of entries with a hash chain and an
 * LRU list under its own mutex, allocated on first use. An entry keeps its strings in a
 * fixed room of its own; what does not fit is counted and not kept.
 */
#include "parse/postfix.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/drops.h"
#include "parse/logtext.h"

#define PF_SHARDS 16
#define PF_BUCKETS 1024 /* per shard */
#define PF_KEY_MAX 96   /* host '\0' queue id */
#define PF_ROOM 512     /* bytes of remembered strings per id */
#define QID_MAX 20

/* ---- vendor fields ---- */

enum {
	F_RELAY, F_DELAY, F_DELAYS, F_DSN, F_STATUS, F_SIZE, F_NRCPT, F_ORIG_TO, F_SASL_METHOD,
	F_HELO, F_PROTO, F_COUNT
};

static const struct logtext_field field_defs[F_COUNT] = {
	[F_RELAY] = { "postfix.relay", FT_STR },
	[F_DELAY] = { "postfix.delay", FT_STR },
	[F_DELAYS] = { "postfix.delays", FT_STR },
	[F_DSN] = { "postfix.dsn", FT_STR },
	[F_STATUS] = { "postfix.status", FT_STR },
	[F_SIZE] = { "postfix.size", FT_INT },
	[F_NRCPT] = { "postfix.nrcpt", FT_INT },
	[F_ORIG_TO] = { "postfix.orig_to", FT_STR },
	[F_SASL_METHOD] = { "postfix.sasl_method", FT_STR },
	[F_HELO] = { "postfix.helo", FT_STR },
	[F_PROTO] = { "postfix.proto", FT_STR },
};
static int fields[F_COUNT];
static int fields_rc;
static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

static void fields_init(void)
{
	fields_rc = logtext_intern(field_defs, fields, F_COUNT);
}

/* ---- one line ---- */

/* What a message's lines say that later lines want: kept per queue id. */
enum { S_CLIENT_HOST, S_CLIENT_IP, S_SASL_USER, S_MESSAGE_ID, S_FROM, S_SUBJECT, S_COUNT };

struct pf_line {
	struct logtext_span qid;
	struct logtext_span text; /* after "QID: " (or the whole payload) */
	struct logtext_span kept[S_COUNT];
	struct logtext_span to, orig_to, relay, relay_host, relay_ip, delay, delays, dsn, status,
		comment, action, sasl_method, helo, proto;
	struct logtext_span relay_port;
	int64_t size, nrcpt;
	bool has_size, has_nrcpt, removed;
};

static bool is_upper_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
}

static bool is_alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/*
 * A queue id: short ones are 6 to 16 upper-case hex digits, long ones
 * (enable_long_queue_ids) 10 to 20 letters and digits with a digit and an upper-case letter
 * in them (so "warning" or "statistics" are never ids).
 */
static bool is_qid(struct logtext_span s)
{
	bool hex = true, digit = false, upper = false;

	if (s.len < 6 || s.len > QID_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (!is_alnum(s.p[i]))
			return false;
		hex = hex && is_upper_hex(s.p[i]);
		digit = digit || (s.p[i] >= '0' && s.p[i] <= '9');
		upper = upper || (s.p[i] >= 'A' && s.p[i] <= 'Z');
	}
	return hex || (s.len >= 10 && digit && upper);
}

/* "host[ip]" or "host[ip]:port" into its parts; false when there are no brackets. */
static bool host_ip(struct logtext_span s, struct logtext_span *host, struct logtext_span *ip,
		    struct logtext_span *port)
{
	const char *open = memchr(s.p, '[', s.len), *close;

	if (!open || !(close = memchr(open, ']', (size_t)(s.p + s.len - open))))
		return false;
	*host = (struct logtext_span){ s.p, (size_t)(open - s.p) };
	*ip = (struct logtext_span){ open + 1, (size_t)(close - open - 1) };
	if (port)
		*port = close + 1 < s.p + s.len && close[1] == ':'
				? (struct logtext_span){ close + 2, (size_t)(s.p + s.len - close - 2) }
				: (struct logtext_span){ NULL, 0 };
	return true;
}

/* "<a@b>" without the brackets. */
static struct logtext_span unbracket(struct logtext_span v)
{
	if (v.len >= 2 && v.p[0] == '<' && v.p[v.len - 1] == '>')
		return (struct logtext_span){ v.p + 1, v.len - 2 };
	return v;
}

static void take_pair(struct pf_line *l, struct logtext_span k, struct logtext_span v)
{
	struct logtext_span port;

	if (logtext_is(k, "client")) {
		host_ip(v, &l->kept[S_CLIENT_HOST], &l->kept[S_CLIENT_IP], NULL);
	} else if (logtext_is(k, "message-id")) {
		l->kept[S_MESSAGE_ID] = unbracket(v);
	} else if (logtext_is(k, "from")) {
		l->kept[S_FROM] = unbracket(v);
	} else if (logtext_is(k, "to")) {
		l->to = unbracket(v);
	} else if (logtext_is(k, "orig_to")) {
		l->orig_to = unbracket(v);
	} else if (logtext_is(k, "relay")) {
		l->relay = v;
		if (host_ip(v, &l->relay_host, &l->relay_ip, &port))
			l->relay_port = port;
	} else if (logtext_is(k, "delay")) {
		l->delay = v;
	} else if (logtext_is(k, "delays")) {
		l->delays = v;
	} else if (logtext_is(k, "dsn")) {
		l->dsn = v;
	} else if (logtext_is(k, "status")) {
		l->status = v;
	} else if (logtext_is(k, "size")) {
		l->has_size = logtext_uint(v, &l->size);
	} else if (logtext_is(k, "nrcpt")) {
		l->has_nrcpt = logtext_uint(v, &l->nrcpt);
	} else if (logtext_is(k, "sasl_method")) {
		l->sasl_method = v;
	} else if (logtext_is(k, "sasl_username")) {
		l->kept[S_SASL_USER] = v;
	} else if (logtext_is(k, "helo")) {
		l->helo = unbracket(v);
	} else if (logtext_is(k, "proto")) {
		l->proto = v;
	}
}

static bool key_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || ch == '_' || ch == '-';
}

/*
 * key=value pairs from c to the end: separated by ", " (sep ',') or by spaces (sep ' ');
 * a trailing " (text)" is the comment (status=sent (250 ...)). Stops at what is no pair.
 */
static void pairs(struct pf_line *l, struct logtext_cur *c, char sep)
{
	while (logtext_skip_spaces(c)) {
		struct logtext_span k = { c->p, 0 }, v;

		if (*c->p == '(') {
			l->comment = (struct logtext_span){ c->p + 1, (size_t)(c->end - c->p - 1) };
			if (l->comment.len && l->comment.p[l->comment.len - 1] == ')')
				l->comment.len--;
			return;
		}
		while (c->p < c->end && key_char(*c->p))
			c->p++;
		k.len = (size_t)(c->p - k.p);
		if (!k.len || c->p >= c->end || *c->p != '=')
			return;
		v.p = ++c->p;
		if (c->p < c->end && *c->p == '<') {
			const char *close = memchr(c->p, '>', (size_t)(c->end - c->p));

			c->p = close ? close + 1 : c->end;
		}
		while (c->p < c->end && *c->p != sep && *c->p != ' ')
			c->p++;
		v.len = (size_t)(c->p - v.p);
		take_pair(l, k, v);
		if (c->p < c->end && *c->p == sep)
			c->p++;
	}
}

/* The "host[ip]" right after s (up to a space, ';' or "]:"), when there is one. */
static bool client_at(struct pf_line *l, const char *s, const char *limit)
{
	struct logtext_span rest = { s, (size_t)(limit - s) }, host, ip;

	for (size_t i = 0; i < rest.len; i++)
		if (rest.p[i] == ' ' || rest.p[i] == ';' ||
		    (rest.p[i] == ':' && i && rest.p[i - 1] == ']')) {
			rest.len = i;
			break;
		}
	if (!host_ip(rest, &host, &ip, NULL))
		return false;
	l->kept[S_CLIENT_HOST] = host;
	l->kept[S_CLIENT_IP] = ip;
	return true;
}

/*
 * The client: the first "from host[ip]" in s before limit ("RCPT from h[ip]: ...", "header
 * Subject: a from b from h[ip];"), skipping a "from" that a word follows.
 */
static void client_from(struct pf_line *l, const char *s, const char *limit)
{
	const char *p = s;

	while (p < limit && (p = memmem(p, (size_t)(limit - p), "from ", 5))) {
		if ((p == s || p[-1] == ' ') && client_at(l, p + 5, limit))
			return;
		p += 5;
	}
}

static const char *const check_actions[] = { "warning", "reject", "hold", "discard",
					      "redirect", "filter", "info", "replace" };

/* "reject: RCPT from h[ip]: 554 ...; from=<> to=<> proto=ESMTP helo=<x>" and header checks. */
static void action_line(struct pf_line *l, struct logtext_cur *c)
{
	const char *semi = NULL, *p = c->p, *subject;
	struct logtext_cur kv;

	while ((p = memmem(p, (size_t)(c->end - p), "; from=", 7))) {
		semi = p;
		p += 7;
	}
	if (!semi)
		semi = c->end;
	client_from(l, c->p, semi);
	if ((subject = memmem(c->p, (size_t)(semi - c->p), "header Subject: ", 16))) {
		const char *from = NULL, *q = subject + 16;

		while ((q = memmem(q, (size_t)(semi - q), " from ", 6)))
			from = q++;
		l->kept[S_SUBJECT] = (struct logtext_span){ subject + 16,
							   (size_t)((from ? from : semi) -
								    subject - 16) };
	}
	if (semi < c->end) {
		kv = (struct logtext_cur){ c->start, semi + 2, c->end };
		pairs(l, &kv, ' ');
	}
}

static void scan_line(struct pf_line *l, struct logtext_span pl)
{
	struct logtext_cur c;
	struct logtext_span first;
	const char *colon = memchr(pl.p, ':', MIN(pl.len, QID_MAX + 1));

	memset(l, 0, sizeof(*l));
	l->text = pl;
	if (colon && colon + 1 < pl.p + pl.len && colon[1] == ' ') {
		struct logtext_span id = { pl.p, (size_t)(colon - pl.p) };

		if (is_qid(id) || logtext_is(id, "NOQUEUE")) {
			if (is_qid(id))
				l->qid = id;
			l->text = (struct logtext_span){ colon + 2, (size_t)(pl.p + pl.len - colon - 2) };
		}
	}
	logtext_cur_init(&c, l->text.p, l->text.len);
	if (logtext_is(l->text, "removed")) {
		l->removed = true;
		l->action = l->text;
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(check_actions); i++) {
		size_t n = strlen(check_actions[i]);

		if (l->text.len > n + 1 && !memcmp(l->text.p, check_actions[i], n) &&
		    l->text.p[n] == ':') {
			l->action = (struct logtext_span){ l->text.p, n };
			c.p += n + 1;
			action_line(l, &c);
			return;
		}
	}
	if (logtext_eat(&c, "connect from ") || logtext_eat(&c, "disconnect from ")) {
		l->action = (struct logtext_span){ l->text.p, (size_t)(c.p - l->text.p - 6) };
		client_from(l, l->text.p, l->text.p + l->text.len);
		return;
	}
	if (logtext_token(&c, &first) && memchr(first.p, '=', first.len)) {
		c.p = first.p;
		pairs(l, &c, ',');
	}
	if (l->status.len)
		l->action = l->status;
}

/* ---- the queue-id table ---- */

struct pf_entry {
	int32_t chain;           /* next in the bucket, -1 */
	int32_t older, newer;    /* LRU neighbours, -1 */
	uint32_t hash;
	unsigned tenant, gen;
	int64_t seen_ns;         /* receive time of the last line */
	uint16_t keylen;
	char key[PF_KEY_MAX];
	uint16_t off[S_COUNT], len[S_COUNT];
	uint16_t used;
	int64_t size;
	bool has_size;
	char room[PF_ROOM];
};

struct pf_shard {
	pthread_mutex_t lock;
	struct pf_entry *e;      /* cap entries, NULL until first use */
	int32_t bucket[PF_BUCKETS];
	int32_t free_list;       /* through chain */
	int32_t newest, oldest;
	unsigned n;
};

static struct pf_shard shards[PF_SHARDS];
static unsigned shard_cap = POSTFIX_MAX_QUEUE_IDS_DEFAULT / PF_SHARDS;
static int64_t ttl_ns = (int64_t)POSTFIX_QUEUE_ID_TTL_DEFAULT * NS_PER_SEC;
static atomic_uint_fast64_t stat_dropped_full, stat_dropped_expired;
/* values not kept for later lines: no room left for the queue id */
static const char *const value_drop_reasons[] = { "no_room" };
static _Atomic uint64_t values_dropped[ARRAY_SIZE(value_drop_reasons)];
static struct drops postfix_drops = DROPS_INIT("postfix", value_drop_reasons, values_dropped);
static atomic_uint_fast64_t stat_tracked;
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;

static void shards_init(void)
{
	for (size_t i = 0; i < PF_SHARDS; i++)
		pthread_mutex_init(&shards[i].lock, NULL);
}

static int shard_alloc(struct pf_shard *s)
{
	if (s->e)
		return 0;
	if (!(s->e = mem_calloc(shard_cap, sizeof(*s->e))))
		return -ENOMEM;
	for (int32_t b = 0; b < PF_BUCKETS; b++)
		s->bucket[b] = -1;
	for (unsigned i = 0; i < shard_cap; i++)
		s->e[i].chain = i + 1 < shard_cap ? (int32_t)i + 1 : -1;
	s->free_list = 0;
	s->newest = s->oldest = -1;
	s->n = 0;
	return 0;
}

static void lru_unlink(struct pf_shard *s, int32_t i)
{
	struct pf_entry *x = &s->e[i];

	if (x->older >= 0)
		s->e[x->older].newer = x->newer;
	else
		s->oldest = x->newer;
	if (x->newer >= 0)
		s->e[x->newer].older = x->older;
	else
		s->newest = x->older;
}

static void lru_push(struct pf_shard *s, int32_t i)
{
	struct pf_entry *x = &s->e[i];

	x->older = s->newest;
	x->newer = -1;
	if (s->newest >= 0)
		s->e[s->newest].newer = i;
	else
		s->oldest = i;
	s->newest = i;
}

static void entry_drop(struct pf_shard *s, int32_t i)
{
	int32_t *link = &s->bucket[s->e[i].hash % PF_BUCKETS];

	while (*link != i)
		link = &s->e[*link].chain;
	*link = s->e[i].chain;
	lru_unlink(s, i);
	s->e[i].chain = s->free_list;
	s->free_list = i;
	s->n--;
	atomic_fetch_sub_explicit(&stat_tracked, 1, memory_order_relaxed);
}

static void expire(struct pf_shard *s, int64_t now)
{
	while (s->oldest >= 0 && s->e[s->oldest].seen_ns < now - ttl_ns) {
		entry_drop(s, s->oldest);
		atomic_fetch_add_explicit(&stat_dropped_expired, 1, memory_order_relaxed);
	}
}

struct pf_key {
	char key[PF_KEY_MAX];
	uint16_t len;
	uint32_t hash;
	unsigned tenant, gen;
};

static int32_t entry_find(const struct pf_shard *s, const struct pf_key *k)
{
	for (int32_t i = s->bucket[k->hash % PF_BUCKETS]; i >= 0; i = s->e[i].chain) {
		const struct pf_entry *x = &s->e[i];

		if (x->hash == k->hash && x->tenant == k->tenant && x->gen == k->gen &&
		    x->keylen == k->len && !memcmp(x->key, k->key, k->len))
			return i;
	}
	return -1;
}

static int32_t entry_new(struct pf_shard *s, const struct pf_key *k)
{
	int32_t i;
	struct pf_entry *x;

	if (s->free_list < 0) {
		entry_drop(s, s->oldest);
		atomic_fetch_add_explicit(&stat_dropped_full, 1, memory_order_relaxed);
	}
	i = s->free_list;
	x = &s->e[i];
	s->free_list = x->chain;
	memset(x, 0, offsetof(struct pf_entry, room));
	x->hash = k->hash;
	x->tenant = k->tenant;
	x->gen = k->gen;
	x->keylen = k->len;
	memcpy(x->key, k->key, k->len);
	x->chain = s->bucket[k->hash % PF_BUCKETS];
	s->bucket[k->hash % PF_BUCKETS] = i;
	lru_push(s, i);
	s->n++;
	atomic_fetch_add_explicit(&stat_tracked, 1, memory_order_relaxed);
	return i;
}

/* Keeps v as the entry's string `which` (a newer value replaces an older one). */
static void entry_keep(struct pf_entry *x, int which, struct logtext_span v)
{
	if (!v.len)
		return;
	if (v.len > (size_t)(PF_ROOM - x->used)) {
		drops_count(&postfix_drops, 0, 1);
		return;
	}
	memcpy(x->room + x->used, v.p, v.len);
	x->off[which] = x->used;
	x->len[which] = (uint16_t)v.len;
	x->used += (uint16_t)v.len;
}

/* Fills the line's missing facts from what the entry remembers (copied: the entry changes). */
static int entry_recall(const struct pf_entry *x, struct pf_line *l, struct event *ev)
{
	for (int i = 0; i < S_COUNT; i++) {
		char *copy;

		if (l->kept[i].len || !x->len[i])
			continue;
		if (!(copy = arena_strndup(ev->arena, x->room + x->off[i], x->len[i])))
			return -ENOMEM;
		l->kept[i] = (struct logtext_span){ copy, x->len[i] };
	}
	if (!l->has_size && x->has_size) {
		l->size = x->size;
		l->has_size = true;
	}
	return 0;
}

static void key_of(struct pf_key *k, const struct event *ev, const struct decode_opts *o,
		   struct logtext_span qid)
{
	const struct event_value *host = event_get(ev, FIELD_HOST_NAME);
	size_t hlen = host ? MIN(host->len, PF_KEY_MAX - QID_MAX - 1) : 0;
	uint32_t h = 2166136261u;

	if (hlen)
		memcpy(k->key, host->v.s, hlen);
	k->key[hlen] = '\0';
	memcpy(k->key + hlen + 1, qid.p, qid.len);
	k->len = (uint16_t)(hlen + 1 + qid.len);
	k->tenant = o->tenant;
	k->gen = o->tenant_gen;
	for (size_t i = 0; i < k->len; i++)
		h = (h ^ (uint8_t)k->key[i]) * 16777619u;
	h ^= o->tenant * 2654435761u;
	k->hash = h;
}

/* Looks the line's queue id up: fills what the line lacks, remembers what it says. */
static int correlate(struct event *ev, struct pf_line *l, const struct decode_opts *o)
{
	struct pf_key k;
	struct pf_shard *s;
	int32_t i;
	bool worth = false;
	int rc = 0;

	if (!l->qid.len)
		return 0;
	pthread_once(&shards_once, shards_init);
	key_of(&k, ev, o, l->qid);
	s = &shards[(k.hash >> 16) % PF_SHARDS];
	for (int j = 0; j < S_COUNT; j++)
		worth = worth || l->kept[j].len;
	worth = worth || l->has_size;
	pthread_mutex_lock(&s->lock);
	if ((rc = shard_alloc(s)) < 0)
		goto out;
	expire(s, o->received_ns);
	i = entry_find(s, &k);
	if (i >= 0 && (rc = entry_recall(&s->e[i], l, ev)) < 0)
		goto out;
	if (l->removed) {
		if (i >= 0)
			entry_drop(s, i);
		goto out;
	}
	if (i < 0 && !worth)
		goto out;
	if (i < 0)
		i = entry_new(s, &k);
	else {
		lru_unlink(s, i);
		lru_push(s, i);
	}
	s->e[i].seen_ns = o->received_ns;
	for (int j = 0; j < S_COUNT; j++)
		if (l->kept[j].len && (l->kept[j].len != s->e[i].len[j] ||
				       memcmp(l->kept[j].p, s->e[i].room + s->e[i].off[j],
					      l->kept[j].len)))
			entry_keep(&s->e[i], j, l->kept[j]);
	if (l->has_size) {
		s->e[i].size = l->size;
		s->e[i].has_size = true;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- the event ---- */

static int set_int_field(struct event *ev, int f, bool has, int64_t v)
{
	return has ? event_set_int(ev, (unsigned)f, v) : 0;
}

static int set_outcome(struct event *ev, const struct pf_line *l, struct err *e)
{
	const char *outcome = NULL;
	int rc;

	if (logtext_is(l->status, "sent") || logtext_is(l->status, "delivered"))
		outcome = "success";
	else if (logtext_is(l->status, "bounced") || logtext_is(l->status, "expired") ||
		 logtext_is(l->action, "reject") || logtext_is(l->action, "discard"))
		outcome = "failure";
	else if (logtext_is(l->status, "deferred"))
		outcome = "unknown";
	if (outcome)
		LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_OUTCOME, outcome));
	return 0;
}

static int set_fields(struct event *ev, const struct pf_line *l, struct err *e)
{
	int64_t port;
	int rc;

	LOGTEXT_TRY(logtext_set(ev, FIELD_EMAIL_LOCAL_ID, l->qid));
	LOGTEXT_TRY(logtext_set(ev, FIELD_MESSAGE, l->text));
	LOGTEXT_TRY(logtext_set_end(ev, &logtext_source, l->kept[S_CLIENT_IP]));
	if (!logtext_is(l->kept[S_CLIENT_HOST], "unknown") && l->kept[S_CLIENT_HOST].len) {
		LOGTEXT_TRY(logtext_set(ev, FIELD_SOURCE_DOMAIN, l->kept[S_CLIENT_HOST]));
		LOGTEXT_TRY(event_add_str_once(ev, FIELD_RELATED_HOSTS, l->kept[S_CLIENT_HOST].p,
					       l->kept[S_CLIENT_HOST].len));
	}
	LOGTEXT_TRY(logtext_set_user(ev, l->kept[S_SASL_USER], true));
	LOGTEXT_TRY(logtext_set(ev, FIELD_EMAIL_MESSAGE_ID, l->kept[S_MESSAGE_ID]));
	if (l->kept[S_FROM].len)
		LOGTEXT_TRY(event_add_str(ev, FIELD_EMAIL_FROM_ADDRESS, l->kept[S_FROM].p,
					  l->kept[S_FROM].len));
	if (l->to.len)
		LOGTEXT_TRY(event_add_str(ev, FIELD_EMAIL_TO_ADDRESS, l->to.p, l->to.len));
	LOGTEXT_TRY(logtext_set(ev, FIELD_EMAIL_SUBJECT, l->kept[S_SUBJECT]));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_ORIG_TO], l->orig_to));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_RELAY], l->relay));
	if (l->relay_ip.len) {
		LOGTEXT_TRY(logtext_set_end(ev, &logtext_destination, l->relay_ip));
		if (!logtext_is(l->relay_host, "unknown") && l->relay_host.len) {
			LOGTEXT_TRY(logtext_set(ev, FIELD_DESTINATION_DOMAIN, l->relay_host));
			LOGTEXT_TRY(event_add_str_once(ev, FIELD_RELATED_HOSTS, l->relay_host.p,
					       l->relay_host.len));
		}
		if (logtext_uint(l->relay_port, &port) &&
		    field_int_valid(FIELD_DESTINATION_PORT, port))
			LOGTEXT_TRY(event_set_int(ev, FIELD_DESTINATION_PORT, port));
	}
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_DELAY], l->delay));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_DELAYS], l->delays));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_DSN], l->dsn));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_STATUS], l->status));
	LOGTEXT_TRY(logtext_set(ev, FIELD_EVENT_REASON, l->comment));
	LOGTEXT_TRY(logtext_set(ev, FIELD_EVENT_ACTION, l->action));
	LOGTEXT_TRY(set_int_field(ev, fields[F_SIZE], l->has_size, l->size));
	LOGTEXT_TRY(set_int_field(ev, fields[F_NRCPT], l->has_nrcpt, l->nrcpt));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_SASL_METHOD], l->sasl_method));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_HELO], l->helo));
	LOGTEXT_TRY(logtext_set(ev, (unsigned)fields[F_PROTO], l->proto));
	if ((rc = set_outcome(ev, l, e)) < 0)
		return rc;
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_MODULE, "postfix"));
	LOGTEXT_TRY(logtext_set_lit(ev, FIELD_EVENT_DATASET, "postfix.log"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_CATEGORY, "email"));
	LOGTEXT_TRY(logtext_add_lit(ev, FIELD_EVENT_TYPE, "info"));
	return 0;
}

static int body(struct event *ev, const char *msg, struct logtext_span pl,
		const struct decode_opts *o, struct err *e)
{
	struct pf_line l;
	int rc;

	if (fields_rc < 0)
		return err_set(e, fields_rc, "cannot register the postfix.* fields");
	if (!pl.len)
		return err_set(e, -EINVAL, "offset %zu: the message has no text after the header",
			       (size_t)(pl.p - msg));
	scan_line(&l, pl);
	if ((rc = correlate(ev, &l, o)) < 0)
		return err_set(e, rc, "out of memory for the queue-id table");
	return set_fields(ev, &l, e);
}

int postfix_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		   struct err *e)
{
	pthread_once(&fields_once, fields_init);
	return logtext_decode(ev, msg, len, o, body, e);
}

static bool postfix_at(const char *p, size_t len)
{
	size_t i = 7;

	if (len < 9 || memcmp(p, "postfix", 7))
		return false;
	while (i < len && i < 40 && p[i] != '/' && p[i] != ' ' && p[i] != ':')
		i++;
	return i < len && p[i] == '/';
}

bool postfix_sniff(const char *msg, size_t len)
{
	return logtext_sniff(msg, len, 'p', postfix_at);
}

/* ---- limits, metrics, tests ---- */

static void set_limits(unsigned max_ids, unsigned ttl)
{
	unsigned per = max_ids / PF_SHARDS;

	shard_cap = per ? per : 1;
	ttl_ns = (int64_t)ttl * NS_PER_SEC;
}

void postfix_reset(unsigned max_queue_ids, unsigned ttl_seconds)
{
	pthread_once(&shards_once, shards_init);
	for (size_t i = 0; i < PF_SHARDS; i++) {
		pthread_mutex_lock(&shards[i].lock);
		mem_free(shards[i].e);
		shards[i].e = NULL;
		pthread_mutex_unlock(&shards[i].lock);
	}
	set_limits(max_queue_ids, ttl_seconds);
	atomic_store(&stat_tracked, 0);
	atomic_store(&stat_dropped_full, 0);
	atomic_store(&stat_dropped_expired, 0);
	drops_reset(&postfix_drops);
}

void postfix_stats(struct postfix_stats *s)
{
	s->tracked = atomic_load_explicit(&stat_tracked, memory_order_relaxed);
	s->dropped_full = atomic_load_explicit(&stat_dropped_full, memory_order_relaxed);
	s->dropped_expired = atomic_load_explicit(&stat_dropped_expired, memory_order_relaxed);
	s->values_dropped = drops_total(&postfix_drops);
}

static int collect_tracked(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, atomic_load_explicit(&stat_tracked, memory_order_relaxed), NULL);
}

static int collect_dropped(struct metrics_out *o, void *ctx)
{
	int rc = metrics_sample(o, atomic_load_explicit(&stat_dropped_full, memory_order_relaxed),
				"reason", "full", NULL);

	return rc < 0 ? rc
		      : metrics_sample(o, atomic_load_explicit(&stat_dropped_expired,
							       memory_order_relaxed),
				       "reason", "expired", NULL);
}

/* The process's one set of families; a second configure (tests) finds them registered. */
static int register_metrics(void)
{
	static const struct {
		const char *name, *help;
		enum metrics_type type;
		metrics_collect_fn *fn;
	} fam[] = {
		{ "koban_postfix_queue_ids", "Postfix queue ids whose facts are kept now.",
		  METRICS_GAUGE, collect_tracked },
		{ "koban_postfix_queue_ids_dropped_total",
		  "Postfix queue ids forgotten before their 'removed' line, by reason.",
		  METRICS_COUNTER, collect_dropped },
	};

	for (size_t i = 0; i < ARRAY_SIZE(fam); i++) {
		int rc = metrics_register(fam[i].name, fam[i].type, fam[i].help, fam[i].fn, shards);

		if (rc < 0 && rc != -EEXIST)
			return rc;
	}
	return 0;
}

int postfix_configure(const struct config *c, struct err *e)
{
	int rc;

	postfix_reset(c->postfix_max_queue_ids, c->postfix_queue_id_ttl);
	if ((rc = register_metrics()) < 0)
		return err_set(e, rc, "cannot register the postfix metrics: %s", strerror(-rc));
	return drops_register(&postfix_drops, e);
}
