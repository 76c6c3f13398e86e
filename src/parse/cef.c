/*
 * cef.c - CEF decoder and the helpers the key-value decoders (LEEF, A10) share.
 *
 * The header and the extension are first cut into spans (no allocation), the labels are
 * resolved, then each pair is written into the event: its `cef.KEY` field, and the ECS
 * field its key maps to through one table (keys[] below, both short and full names).
 */
#include "parse/cef.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/name.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/logtext.h"
#include "parse/a10.h"
#include "parse/decoder.h"
#include "parse/drops.h"
#include "parse/syslog.h"

#include <pthread.h>
#include <stdatomic.h>

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)
/* years a device stamp may name: well inside what int64_t nanoseconds hold */
#define STAMP_YEAR_MIN 1900
#define STAMP_YEAR_MAX 2200

/* ---------------------------------------------------------------- counters */

static const char *const reason_names[CEF_DROP_REASONS] = { "name_budget", "too_many",
							     "bad_name" };
static _Atomic uint64_t counts[CEF_IDS][CEF_DROP_REASONS];
static struct drops kv_drops[CEF_IDS] = {
	[CEF_ID_CEF] = DROPS_INIT("cef", reason_names, counts[CEF_ID_CEF]),
	[CEF_ID_LEEF] = DROPS_INIT("leef", reason_names, counts[CEF_ID_LEEF]),
	[CEF_ID_A10] = DROPS_INIT("a10", reason_names, counts[CEF_ID_A10]),
};

void cef_count_drop(enum cef_decoder_id decoder, enum cef_drop_reason reason, unsigned n)
{
	drops_count(&kv_drops[decoder], reason, n);
}

int cef_configure(const struct config *c, struct err *e)
{
	int rc = 0;

	for (unsigned d = 0; d < CEF_IDS && !rc; d++)
		rc = drops_register(&kv_drops[d], e);
	return rc;
}

/* ---------------------------------------------------------------- small helpers */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool ieq(const char *a, size_t n, const char *lit)
{
	size_t m = strlen(lit);

	if (n != m)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(lit[i]))
			return false;
	return true;
}

/* Decimal digits only, within int64_t. */
static bool parse_i64(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;
	bool neg = len && s[0] == '-';

	if (neg)
		i++;
	if (i >= len || len - i > 18)
		return false;
	for (; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

static int set_lit(struct event *ev, unsigned field, const char *lit)
{
	return event_set_str(ev, field, lit, strlen(lit));
}

int cef_keep_raw(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 int code)
{
	int rc;

	event_clear(ev);
	if ((rc = event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, len)) < 0 ||
	    (rc = event_set_time(ev, FIELD_EVENT_CREATED, o->received_ns)) < 0 ||
	    (rc = event_set_time(ev, FIELD_TIMESTAMP, o->received_ns)) < 0 ||
	    (rc = event_set_str(ev, FIELD_MESSAGE, msg, len)) < 0)
		return rc;
	return code;
}

int cef_put_vendor(struct event *ev, int field, const char *v, size_t n,
		   enum cef_decoder_id decoder)
{
	if (!n)
		return 0;
	if (field >= 0)
		return event_add_str(ev, (unsigned)field, v, n);
	if (field == -ENOMEM)
		return field;
	cef_count_drop(decoder, field == -ENOSPC ? CEF_DROP_NAME_BUDGET : CEF_DROP_BAD_NAME, 1);
	return 0;
}

int cef_set_ip(struct event *ev, unsigned field, const char *s, size_t len)
{
	struct ipaddr ip;
	int rc;

	if (!len || ipaddr_parse(&ip, s, len) < 0)
		return 0;
	if ((rc = event_set_ip(ev, field, &ip)) < 0 ||
	    (rc = event_add_ip_once(ev, FIELD_RELATED_IP, &ip)) < 0)
		return rc;
	return 1;
}

int cef_set_int(struct event *ev, unsigned field, const char *s, size_t len)
{
	int64_t v;
	int rc;

	if (!parse_i64(s, len, &v) || !field_int_valid(field, v))
		return 0;
	return (rc = event_set_int(ev, field, v)) < 0 ? rc : 1;
}

/* s in lower case: s itself when it has no upper-case letter, else a copy in the arena. */
static const char *lowered(struct event *ev, const char *s, size_t len)
{
	char *copy;
	size_t i = 0;

	while (i < len && !(s[i] >= 'A' && s[i] <= 'Z'))
		i++;
	if (i == len)
		return s;
	if (!(copy = arena_alloc(ev->arena, len ? len : 1)))
		return NULL;
	for (i = 0; i < len; i++)
		copy[i] = lower(s[i]);
	return copy;
}

static int set_lower(struct event *ev, unsigned field, const char *s, size_t len)
{
	const char *l = lowered(ev, s, len);

	return l ? event_set_str(ev, field, l, len) : -ENOMEM;
}

int cef_set_transport(struct event *ev, const char *s, size_t len)
{
	static const struct {
		const char *name, *number;
	} protos[] = { { "icmp", "1" }, { "tcp", "6" }, { "udp", "17" }, { "gre", "47" },
		       { "esp", "50" }, { "ipv6-icmp", "58" }, { "sctp", "132" } };
	int64_t n;
	int rc;

	if (!len)
		return 0;
	if (parse_i64(s, len, &n)) {
		if ((rc = event_set_str(ev, FIELD_NETWORK_IANA_NUMBER, s, len)) < 0)
			return rc;
		for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
			if (ieq(s, len, protos[i].number))
				return set_lit(ev, FIELD_NETWORK_TRANSPORT, protos[i].name);
		return 0;
	}
	if ((rc = set_lower(ev, FIELD_NETWORK_TRANSPORT, s, len)) < 0)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
		if (ieq(s, len, protos[i].name))
			return set_lit(ev, FIELD_NETWORK_IANA_NUMBER, protos[i].number);
	return 0;
}

int cef_set_user(struct event *ev, unsigned name_field, unsigned domain_field, const char *s,
		 size_t len)
{
	const char *bs = memchr(s, '\\', len);
	const char *name = s, *dom = NULL;
	size_t nlen = len, dlen = 0;
	int rc;

	if (!len)
		return 0;
	if (bs && bs > s && bs + 1 < s + len) {
		dom = s;
		dlen = (size_t)(bs - s);
		name = bs + 1;
		nlen = len - dlen - 1;
	}
	if ((rc = event_set_str(ev, name_field, name, nlen)) < 0 ||
	    (rc = event_add_str_once(ev, FIELD_RELATED_USER, name, nlen)) < 0)
		return rc;
	if (dom && (rc = event_set_str(ev, domain_field, dom, dlen)) < 0)
		return rc;
	/* the acting user of a network log is the source's (koban's ECS decisions) */
	if (name_field == FIELD_SOURCE_USER_NAME) {
		if ((rc = event_set_str(ev, FIELD_USER_NAME, name, nlen)) < 0 ||
		    (dom && (rc = event_set_str(ev, FIELD_USER_DOMAIN, dom, dlen)) < 0))
			return rc;
	}
	return 0;
}

/* MAC as ECS writes it: upper case, '-' separated; NULL when it is not 6 octets. */
static const char *ecs_mac(struct event *ev, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out;
	unsigned nib = 0;

	if (len != 17 && len != 12 && len != 14)
		return NULL;
	if (!(out = arena_alloc(ev->arena, 17)))
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int v;

		if (c == ':' || c == '-' || c == '.')
			continue;
		if (is_digit(c))
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else
			return NULL;
		if (nib >= 12)
			return NULL;
		out[nib / 2 * 3 + nib % 2] = hex[v];
		if (nib % 2 && nib < 11)
			out[nib / 2 * 3 + 2] = '-';
		nib++;
	}
	return nib == 12 ? out : NULL;
}

/* ---------------------------------------------------------------- unescaping */

const char *cef_text(struct event *ev, const struct cef_span *s, size_t *len)
{
	char *out;
	size_t n = 0;

	if (s->esc == CEF_ESC_NONE) {
		*len = s->len;
		return s->p;
	}
	if (!(out = arena_alloc(ev->arena, s->len ? s->len : 1)))
		return NULL;
	for (uint32_t i = 0; i < s->len; i++) {
		char c = s->p[i];

		if (c == '\\' && i + 1 < s->len) {
			char next = s->p[i + 1];

			if (next == '\\' || next == '|' || (s->esc == CEF_ESC_EXT && next == '=')) {
				c = next;
				i++;
			} else if (s->esc == CEF_ESC_EXT && (next == 'n' || next == 'r')) {
				c = next == 'n' ? '\n' : '\r';
				i++;
			}
		}
		out[n++] = c;
	}
	*len = n;
	return out;
}

/* ---------------------------------------------------------------- sender-chosen names */

#define NAME_CACHE_SIZE 256

struct name_cache_entry {
	char name[FIELD_NAME_MAX];
	uint32_t len;
	int id;
};

static _Thread_local struct name_cache_entry name_cache[NAME_CACHE_SIZE];

static bool is_name_char(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       c == '-';
}

static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

#define NAME_HASH_LEN 9 /* "_" and 8 hex digits */

/*
 * A name with non-ASCII bytes (a Japanese label) keeps only its byte length once they
 * become '_': "_" and the FNV-1a hash of the name in hex tells such names apart.
 */
static size_t put_name_hash(char *out, const char *name, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t h = fnv1a(name, len);

	out[0] = '_';
	for (int i = 8; i >= 1; i--, h >>= 4)
		out[i] = hex[h & 15];
	return NAME_HASH_LEN;
}

static bool has_non_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)s[i] >= 0x80)
			return true;
	return false;
}

int cef_name_field(const char *prefix, const char *name, size_t len,
		   const struct decode_opts *o)
{
	char full[FIELD_NAME_MAX];
	size_t plen = strlen(prefix), n = plen, keep = len;
	bool hashed = has_non_ascii(name, len);
	struct name_cache_entry *c;
	int f;

	if (!len || (!hashed && plen + len > FIELD_NAME_MAX))
		return -EINVAL;
	/*
	 * A hashed name's readable part (mostly '_'s that say only a byte length) is cut to
	 * fit rather than the value lost: the hash, of the whole name, keeps it apart.
	 */
	if (hashed && plen + len + NAME_HASH_LEN > FIELD_NAME_MAX)
		keep = FIELD_NAME_MAX - plen - NAME_HASH_LEN;
	memcpy(full, prefix, plen);
	for (size_t i = 0; i < keep; i++)
		full[n++] = is_name_char(name[i]) ? name[i] : '_';
	if (hashed)
		n += put_name_hash(full + n, name, len);
	c = &name_cache[fnv1a(full, n) % NAME_CACHE_SIZE];
	if (c->len == n && !memcmp(c->name, full, n))
		return c->id;
	f = field_lookup(full, n);
	if (f == -ENOENT)
		f = syslog_name_budget_take(o->tenant, o->tenant_gen) ?
			    field_intern(full, n, FT_STR) : -ENOSPC;
	if (f >= 0 && field_type((unsigned)f) != FT_STR)
		return -ENOSPC;
	if (f >= 0) {
		memcpy(c->name, full, n);
		c->len = (uint32_t)n;
		c->id = f;
	}
	return f;
}

/* ---------------------------------------------------------------- time stamps */

int cef_month(const char *s, size_t len)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	if (len < 3)
		return 0;
	for (int m = 0; m < 12; m++)
		if (lower(s[0]) == months[m * 3] && lower(s[1]) == months[m * 3 + 1] &&
		    lower(s[2]) == months[m * 3 + 2])
			return m + 1;
	return 0;
}

/* n digits at *p (within end) as a number; advances *p. */
static bool take_digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n)
		return false;
	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

int cef_zone(const char *s, size_t len, struct cef_stamp *st)
{
	int hh, mm;
	const char *p = s + 1;

	st->zone = NULL;
	st->offset = 0;
	st->zoned = true;
	if (ieq(s, len, "UTC") || ieq(s, len, "GMT") || ieq(s, len, "Z"))
		return 0;
	if (len && (s[0] == '+' || s[0] == '-') && (len == 6 || len == 5)) {
		if (!take_digits(&p, s + len, 2, &hh) || (len == 6 && *p++ != ':') ||
		    !take_digits(&p, s + len, 2, &mm) || hh > 23 || mm > 59)
			return -EINVAL;
		st->offset = (hh * 3600 + mm * 60) * (s[0] == '-' ? -1 : 1);
		return 0;
	}
	if (len > 3 && name_zone_valid(s, len) && (st->zone = tz_get(s, len, NULL)))
		return 0;
	st->zoned = false;
	return -EINVAL;
}

int cef_stamp_to_ns(const struct cef_stamp *st, const struct tz *z, int64_t received_ns,
		    int64_t *ns)
{
	struct civil_time c = st->c;
	bool has_year = c.year != 0;

	if (c.month < 1 || c.month > 12 || c.day < 1 || c.hour > 23 || c.min > 59 ||
	    c.sec > 59 || (has_year && (c.year < STAMP_YEAR_MIN || c.year > STAMP_YEAR_MAX)))
		return -EINVAL;
	if (!has_year) {
		struct civil_time now;

		time_to_civil_utc(received_ns, &now);
		c.year = now.year + 1;
	}
	for (int tries = 0; tries < 3; tries++) {
		int64_t t;

		if (c.day > time_days_in_month(c.year, c.month)) {
			if (has_year)
				return -EINVAL;
			c.year--;
			continue;
		}
		if (st->zoned && !st->zone)
			t = time_from_civil_utc(&c) - (int64_t)st->offset * NS_PER_SEC;
		else
			t = tz_local_to_utc(st->zone ? st->zone : z, &c);
		/* no year: the latest at most 31 days after the receive time */
		if (!has_year && t > received_ns + 31 * 86400 * NS_PER_SEC) {
			c.year--;
			continue;
		}
		*ns = t;
		return 0;
	}
	return -EINVAL;
}

/* `MMM dd [yyyy] HH:mm:ss[.SSS][ ZONE]` */
static int month_stamp(const char *s, size_t len, const struct tz *z, int64_t received_ns,
		       int64_t *ns, bool *zoned)
{
	const char *p = s + 4, *end = s + len;
	struct cef_stamp st = { .zoned = false };
	int frac = 0;

	if (len < 15 || s[3] != ' ' || !(st.c.month = cef_month(s, len)))
		return -EINVAL;
	if (*p == ' ')
		p++;
	if (!take_digits(&p, end, 2, &st.c.day) && !take_digits(&p, end, 1, &st.c.day))
		return -EINVAL;
	if (p >= end || *p++ != ' ')
		return -EINVAL;
	if (end - p > 5 && is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) &&
	    is_digit(p[3]) && p[4] == ' ') {
		take_digits(&p, end, 4, &st.c.year);
		p++;
		if (!st.c.year)
			return -EINVAL;
	}
	if (!take_digits(&p, end, 2, &st.c.hour) || p >= end || *p++ != ':' ||
	    !take_digits(&p, end, 2, &st.c.min) || p >= end || *p++ != ':' ||
	    !take_digits(&p, end, 2, &st.c.sec))
		return -EINVAL;
	if (p < end && *p == '.') {
		p++;
		while (p < end && is_digit(*p)) {
			if (frac < 9) {
				st.c.nsec = st.c.nsec * 10 + (*p - '0');
				frac++;
			}
			p++;
		}
		for (; frac < 9; frac++)
			st.c.nsec *= 10;
	}
	if (p < end && (*p++ != ' ' || cef_zone(p, (size_t)(end - p), &st) < 0))
		return -EINVAL;
	*zoned = st.zoned;
	return cef_stamp_to_ns(&st, z, received_ns, ns);
}

int cef_parse_time(const char *s, size_t len, const struct tz *z, int64_t received_ns,
		   int64_t *ns, bool *zoned)
{
	int64_t ms;
	size_t bad;

	if (!z)
		z = tz_local();
	if (parse_i64(s, len, &ms)) {
		if (ms < 0 || ms > INT64_MAX / NS_PER_MS)
			return -EINVAL;
		*ns = ms * NS_PER_MS;
		*zoned = true;
		return 0;
	}
	if (len >= 10 && is_digit(s[0]) && time_parse_rfc3339(s, len, ns, &bad) == 0) {
		*zoned = true;
		return 0;
	}
	return month_stamp(s, len, z, received_ns, ns, zoned);
}

/* ---------------------------------------------------------------- the key table */

static const struct cef_key keys[] = {
	{ "src", "sourceAddress", CEF_IP, FIELD_SOURCE_IP },
	{ "dst", "destinationAddress", CEF_IP, FIELD_DESTINATION_IP },
	{ "spt", "sourcePort", CEF_INT, FIELD_SOURCE_PORT },
	{ "dpt", "destinationPort", CEF_INT, FIELD_DESTINATION_PORT },
	{ "sourceTranslatedAddress", NULL, CEF_IP, FIELD_SOURCE_NAT_IP },
	{ "sourceTranslatedPort", NULL, CEF_INT, FIELD_SOURCE_NAT_PORT },
	{ "destinationTranslatedAddress", NULL, CEF_IP, FIELD_DESTINATION_NAT_IP },
	{ "destinationTranslatedPort", NULL, CEF_INT, FIELD_DESTINATION_NAT_PORT },
	{ "shost", "sourceHostName", CEF_HOST, FIELD_SOURCE_DOMAIN },
	{ "dhost", "destinationHostName", CEF_HOST, FIELD_DESTINATION_DOMAIN },
	{ "smac", "sourceMacAddress", CEF_MAC, FIELD_SOURCE_MAC },
	{ "dmac", "destinationMacAddress", CEF_MAC, FIELD_DESTINATION_MAC },
	{ "suser", "sourceUserName", CEF_SUSER, 0 },
	{ "duser", "destinationUserName", CEF_DUSER, 0 },
	{ "in", "bytesIn", CEF_INT, FIELD_SOURCE_BYTES },
	{ "out", "bytesOut", CEF_INT, FIELD_DESTINATION_BYTES },
	{ "proto", "transportProtocol", CEF_PROTO, 0 },
	{ "act", "deviceAction", CEF_STR, FIELD_EVENT_ACTION },
	{ "outcome", "eventOutcome", CEF_OUTCOME, 0 },
	{ "app", "applicationProtocol", CEF_LOWER, FIELD_NETWORK_APPLICATION },
	{ "request", "requestURL", CEF_STR, FIELD_URL_ORIGINAL },
	{ "requestMethod", NULL, CEF_STR, FIELD_HTTP_REQUEST_METHOD },
	{ "requestClientApplication", NULL, CEF_STR, FIELD_USER_AGENT_ORIGINAL },
	{ "requestContext", NULL, CEF_REFERRER, 0 },
	{ "rt", "receiptTime", CEF_TIME, FIELD_TIMESTAMP },
	{ "start", "startTime", CEF_TIME, FIELD_EVENT_START },
	{ "end", "endTime", CEF_TIME, FIELD_EVENT_END },
	{ "dtz", "deviceTimeZone", CEF_DTZ, 0 },
	{ "dvc", "deviceAddress", CEF_OBSIP, 0 },
	{ "dvchost", "deviceHostName", CEF_HOST, FIELD_OBSERVER_HOSTNAME },
	{ "dvcpid", "deviceProcessId", CEF_INT, FIELD_PROCESS_PID },
	{ "deviceProcessName", NULL, CEF_STR, FIELD_PROCESS_NAME },
	{ "deviceDirection", NULL, CEF_DIRECTION, 0 },
	{ "deviceExternalId", NULL, CEF_STR, FIELD_OBSERVER_SERIAL_NUMBER },
	{ "deviceInboundInterface", NULL, CEF_STR, FIELD_OBSERVER_INGRESS_INTERFACE_NAME },
	{ "deviceOutboundInterface", NULL, CEF_STR, FIELD_OBSERVER_EGRESS_INTERFACE_NAME },
	{ "msg", "message", CEF_STR, FIELD_MESSAGE },
	{ "fname", "fileName", CEF_STR, FIELD_FILE_NAME },
	{ "filePath", NULL, CEF_STR, FIELD_FILE_PATH },
	{ "fsize", "fileSize", CEF_INT, FIELD_FILE_SIZE },
	{ "fileHash", NULL, CEF_HASH, 0 },
	{ "eventId", NULL, CEF_STR, FIELD_EVENT_ID },
	{ "reason", "Reason", CEF_STR, FIELD_EVENT_REASON },
	{ "cat", "deviceEventCategory", CEF_KEEP, 0 },
	{ "cnt", "baseEventCount", CEF_KEEP, 0 },
	{ "externalId", NULL, CEF_KEEP, 0 },
	{ "art", "agentReceiptTime", CEF_KEEP, 0 },
	{ "sproc", "sourceProcessName", CEF_KEEP, 0 },
	{ "dproc", "destinationProcessName", CEF_KEEP, 0 },
	{ "spid", "sourceProcessId", CEF_KEEP, 0 },
	{ "dpid", "destinationProcessId", CEF_KEEP, 0 },
	{ "suid", "sourceUserId", CEF_KEEP, 0 },
	{ "duid", "destinationUserId", CEF_KEEP, 0 },
	{ "spriv", "sourceUserPrivileges", CEF_KEEP, 0 },
	{ "dpriv", "destinationUserPrivileges", CEF_KEEP, 0 },
	{ "sntdom", "sourceNtDomain", CEF_KEEP, 0 },
	{ "dntdom", "destinationNtDomain", CEF_KEEP, 0 },
	{ "type", NULL, CEF_KEEP, 0 },
	{ "cs1", "deviceCustomString1", CEF_KEEP, 0 },
	{ "cs2", "deviceCustomString2", CEF_KEEP, 0 },
	{ "cs3", "deviceCustomString3", CEF_KEEP, 0 },
	{ "cs4", "deviceCustomString4", CEF_KEEP, 0 },
	{ "cs5", "deviceCustomString5", CEF_KEEP, 0 },
	{ "cs6", "deviceCustomString6", CEF_KEEP, 0 },
	{ "cs1Label", "deviceCustomString1Label", CEF_KEEP, 0 },
	{ "cs2Label", "deviceCustomString2Label", CEF_KEEP, 0 },
	{ "cs3Label", "deviceCustomString3Label", CEF_KEEP, 0 },
	{ "cs4Label", "deviceCustomString4Label", CEF_KEEP, 0 },
	{ "cs5Label", "deviceCustomString5Label", CEF_KEEP, 0 },
	{ "cs6Label", "deviceCustomString6Label", CEF_KEEP, 0 },
	{ "cn1", "deviceCustomNumber1", CEF_KEEP, 0 },
	{ "cn2", "deviceCustomNumber2", CEF_KEEP, 0 },
	{ "cn3", "deviceCustomNumber3", CEF_KEEP, 0 },
	{ "cn1Label", "deviceCustomNumber1Label", CEF_KEEP, 0 },
	{ "cn2Label", "deviceCustomNumber2Label", CEF_KEEP, 0 },
	{ "cn3Label", "deviceCustomNumber3Label", CEF_KEEP, 0 },
	{ "cfp1", "deviceCustomFloatingPoint1", CEF_KEEP, 0 },
	{ "cfp2", "deviceCustomFloatingPoint2", CEF_KEEP, 0 },
	{ "cfp3", "deviceCustomFloatingPoint3", CEF_KEEP, 0 },
	{ "cfp4", "deviceCustomFloatingPoint4", CEF_KEEP, 0 },
	{ "cfp1Label", "deviceCustomFloatingPoint1Label", CEF_KEEP, 0 },
	{ "cfp2Label", "deviceCustomFloatingPoint2Label", CEF_KEEP, 0 },
	{ "cfp3Label", "deviceCustomFloatingPoint3Label", CEF_KEEP, 0 },
	{ "cfp4Label", "deviceCustomFloatingPoint4Label", CEF_KEEP, 0 },
	{ "c6a1", "deviceCustomIPv6Address1", CEF_KEEP, 0 },
	{ "c6a2", "deviceCustomIPv6Address2", CEF_KEEP, 0 },
	{ "c6a3", "deviceCustomIPv6Address3", CEF_KEEP, 0 },
	{ "c6a4", "deviceCustomIPv6Address4", CEF_KEEP, 0 },
	{ "c6a1Label", "deviceCustomIPv6Address1Label", CEF_KEEP, 0 },
	{ "c6a2Label", "deviceCustomIPv6Address2Label", CEF_KEEP, 0 },
	{ "c6a3Label", "deviceCustomIPv6Address3Label", CEF_KEEP, 0 },
	{ "c6a4Label", "deviceCustomIPv6Address4Label", CEF_KEEP, 0 },
	{ "deviceCustomDate1", NULL, CEF_KEEP, 0 },
	{ "deviceCustomDate2", NULL, CEF_KEEP, 0 },
	{ "deviceCustomDate1Label", NULL, CEF_KEEP, 0 },
	{ "deviceCustomDate2Label", NULL, CEF_KEEP, 0 },
	{ "flexString1", NULL, CEF_KEEP, 0 },
	{ "flexString2", NULL, CEF_KEEP, 0 },
	{ "flexString1Label", NULL, CEF_KEEP, 0 },
	{ "flexString2Label", NULL, CEF_KEEP, 0 },
	{ "flexNumber1", NULL, CEF_KEEP, 0 },
	{ "flexNumber2", NULL, CEF_KEEP, 0 },
	{ "flexNumber1Label", NULL, CEF_KEEP, 0 },
	{ "flexNumber2Label", NULL, CEF_KEEP, 0 },
	{ "flexDate1", NULL, CEF_KEEP, 0 },
	{ "flexDate1Label", NULL, CEF_KEEP, 0 },
};

#define KEY_HASH_SIZE 512 /* a power of two, over twice the names (short and full) */

struct key_slot {
	const char *name;    /* NULL: empty */
	uint16_t len;
	uint16_t def;        /* index in keys[] */
};

static struct key_slot key_hash[KEY_HASH_SIZE];
static int key_field[ARRAY_SIZE(keys)];   /* id of cef.SHORTNAME */
static uint8_t key_len[ARRAY_SIZE(keys)]; /* strlen of the short name */
static int16_t label_base[ARRAY_SIZE(keys)]; /* for csNLabel: csN's index, else -1 */
static int header_field[7];               /* cef.version ... cef.severity */
static int init_rc;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const char *const header_names[7] = {
	"cef.version", "cef.device_vendor", "cef.device_product", "cef.device_version",
	"cef.signature_id", "cef.name", "cef.severity",
};

static uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static void hash_put(const char *name, uint16_t def)
{
	size_t len = strlen(name);
	uint32_t i = name_hash(name, len) & (KEY_HASH_SIZE - 1);

	while (key_hash[i].name)
		i = (i + 1) & (KEY_HASH_SIZE - 1);
	key_hash[i] = (struct key_slot){ name, (uint16_t)len, def };
}

/* keys[] index of a short or full key name, or -1. */
static int key_find(const char *s, size_t len)
{
	uint32_t i = name_hash(s, len) & (KEY_HASH_SIZE - 1);

	for (; key_hash[i].name; i = (i + 1) & (KEY_HASH_SIZE - 1))
		if (key_hash[i].len == len && !memcmp(key_hash[i].name, s, len))
			return key_hash[i].def;
	return -1;
}

static void init_tables(void)
{
	char name[FIELD_NAME_MAX];

	_Static_assert(ARRAY_SIZE(keys) * 2 < KEY_HASH_SIZE / 2, "key hash too small");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		int n = snprintf(name, sizeof(name), "cef.%s", keys[i].name);

		key_len[i] = (uint8_t)strlen(keys[i].name);
		hash_put(keys[i].name, (uint16_t)i);
		if (keys[i].full)
			hash_put(keys[i].full, (uint16_t)i);
		if ((key_field[i] = field_intern(name, (size_t)n, FT_STR)) < 0) {
			init_rc = key_field[i];
			return;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		label_base[i] = (int16_t)(key_len[i] > 5 && !memcmp(keys[i].name + key_len[i] - 5,
								    "Label", 5) ?
					  key_find(keys[i].name, key_len[i] - 5U) : -1);
	for (size_t i = 0; i < ARRAY_SIZE(header_names); i++)
		if ((header_field[i] = field_intern(header_names[i], strlen(header_names[i]),
						    FT_STR)) < 0) {
			init_rc = header_field[i];
			return;
		}
}

/* ---------------------------------------------------------------- cutting the record */

static bool is_key_char(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       c == '.' || c == '[' || c == ']';
}

const char *cef_find_anchor(const char *p, size_t len, const char *tag, bool digit)
{
	size_t n = len < CEF_SNIFF_WINDOW ? len : CEF_SNIFF_WINDOW, t = strlen(tag);
	const char *q = p, *end = p + n;

	while ((q = logtext_find(q, (size_t)(end - q), tag, t))) {
		if ((q == p || q[-1] == ' ' || q[-1] == '>') && q + t < p + len &&
		    (!digit || is_digit(q[t])))
			return q;
		q += t;
	}
	return NULL;
}

bool cef_sniff(const char *msg, size_t len)
{
	return cef_find_anchor(msg, len, "CEF:", true) != NULL;
}

/* The 7 header fields from p (just after "CEF:"); *ext gets the extension's start. */
static int cut_header(struct cef_record *r, const char *msg, const char *p, const char *end,
		      const char **ext, struct err *e)
{
	struct cef_span *f[7] = { &r->version, &r->vendor, &r->product, &r->dev_version,
				  &r->sig_id, &r->name, &r->severity };
	unsigned i = 0;
	const char *start = p;
	uint8_t esc = CEF_ESC_NONE;

	for (; p < end && i < 7; p++) {
		if (*p == '\\' && p + 1 < end) {
			esc = CEF_ESC_HEADER;
			p++;
		} else if (*p == '|') {
			*f[i++] = (struct cef_span){ start, (uint32_t)(p - start), esc };
			start = p + 1;
			esc = CEF_ESC_NONE;
		}
	}
	if (i == 6) { /* the severity ends the message: no extension */
		*f[i++] = (struct cef_span){ start, (uint32_t)(end - start), esc };
		p = end;
	}
	if (i < 7)
		return err_set(e, -EINVAL, "offset %zu: CEF header has %u of its 7 fields (expected "
			       "CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|"
			       "Extension)", (size_t)(end - msg), i);
	if (!r->version.len)
		return err_set(e, -EINVAL, "offset %zu: CEF version is empty (expected digits)",
			       (size_t)(r->version.p - msg));
	for (uint32_t k = 0; k < r->version.len; k++)
		if (!is_digit(r->version.p[k]))
			return err_set(e, -EINVAL, "offset %zu: CEF version '%.*s' is not a number",
				       (size_t)(r->version.p - msg), (int)r->version.len,
				       r->version.p);
	*ext = p;
	return 0;
}

/* Trailing blanks off a value (the separator before the next key, or the line's end). */
static const char *trim_end(const char *start, const char *p)
{
	while (p > start && (p[-1] == ' ' || p[-1] == '\r' || p[-1] == '\n' || p[-1] == '\t'))
		p--;
	return p;
}

/*
 * Splits `k1=v1 k2=v 2 k3=v3`: a value runs to the last space before the next unescaped
 * '=' whose key (letters, digits, _ . [ ]) follows a space.
 */
static int cut_extension(struct cef_record *r, const char *msg, const char *p, const char *end,
			 struct err *e)
{
	unsigned dropped = 0;

	while (p < end && *p == ' ')
		p++;
	while (p < end) {
		const char *k = p, *v, *next = end;
		uint8_t esc = CEF_ESC_NONE;

		while (p < end && is_key_char(*p))
			p++;
		if (p == k || p >= end || *p != '=')
			return err_set(e, -EINVAL, "offset %zu: CEF extension: expected key=value",
				       (size_t)(k - msg));
		v = ++p;
		/* memchr to each '=' (and backslash) rather than a test per byte */
		while (p < end) {
			const char *eq = memchr(p, '=', (size_t)(end - p)), *b;
			const char *bs = memchr(p, '\\', (size_t)((eq ? eq : end) - p));

			if (bs) { /* the byte after a backslash is never a separator */
				esc = CEF_ESC_EXT;
				p = bs + 2 < end ? bs + 2 : end;
				continue;
			}
			if (!eq)
				break;
			for (b = eq; b > v && is_key_char(b[-1]); b--)
				;
			if (b < eq && b > v && b[-1] == ' ') {
				next = b;
				break;
			}
			p = eq + 1;
		}
		if (r->n < CEF_MAX_PAIRS) {
			const char *ve = trim_end(v, next == end ? end : next);

			r->pairs[r->n++] = (struct cef_pair){
				.key = { k, (uint32_t)(v - 1 - k), CEF_ESC_NONE },
				.value = { v, (uint32_t)(ve - v), esc },
			};
		} else {
			dropped++;
		}
		p = next;
	}
	if (dropped)
		cef_count_drop(CEF_ID_CEF, CEF_DROP_TOO_MANY, dropped);
	return 0;
}

static bool ends_with_label(const struct cef_span *k)
{
	return k->len > 5 && !memcmp(k->p + k->len - 5, "Label", 5);
}

/*
 * Gives every custom field its label (`cs1Label=Rule` for `cs1`, under short or full
 * names), and turns full key names into short ones so that each key has one field.
 */
static void resolve_labels(struct cef_record *r)
{
	int16_t label_of[ARRAY_SIZE(keys)]; /* known key -> index of its label's pair */
	unsigned other_labels = 0;

	memset(label_of, 0xff, sizeof(label_of));
	for (unsigned i = 0; i < r->n; i++) {
		struct cef_pair *pi = &r->pairs[i];
		int d = key_find(pi->key.p, pi->key.len);

		pi->def = (int16_t)d;
		if (d >= 0)
			pi->key = (struct cef_span){ keys[d].name, key_len[d], CEF_ESC_NONE };
		if (!pi->value.len)
			continue;
		if (d >= 0 && label_base[d] >= 0)
			label_of[label_base[d]] = (int16_t)i;
		else if (d < 0 && ends_with_label(&pi->key))
			other_labels++;
	}
	for (unsigned j = 0; j < r->n; j++) {
		struct cef_pair *f = &r->pairs[j];

		if (f->def >= 0 && label_of[f->def] >= 0) {
			f->label = r->pairs[label_of[f->def]].value;
			r->pairs[label_of[f->def]].is_label = true;
		}
	}
	/* labels of keys outside the table ("xyzLabel=... xyz=..."): rare, compared by name */
	for (unsigned i = 0; i < r->n && other_labels; i++) {
		struct cef_pair *l = &r->pairs[i];

		if (l->def >= 0 || !ends_with_label(&l->key) || !l->value.len)
			continue;
		other_labels--;
		for (unsigned j = 0; j < r->n; j++) {
			struct cef_pair *f = &r->pairs[j];

			if (f->def < 0 && f->key.len == l->key.len - 5 &&
			    !memcmp(f->key.p, l->key.p, f->key.len)) {
				f->label = l->value;
				l->is_label = true;
			}
		}
	}
}

/* ---------------------------------------------------------------- into the event */

struct ctx {
	struct event *ev;
	const struct decode_opts *o;
	struct cef_times t;
};

/* ECS fields some labels name (PAN-OS and other CEF templates), case-insensitive. */
static const struct {
	const char *label;
	unsigned field;
} label_fields[] = {
	{ "Rule", FIELD_RULE_NAME },
	{ "Rule Name", FIELD_RULE_NAME },
	{ "RuleName", FIELD_RULE_NAME },
	{ "Rule UUID", FIELD_RULE_UUID },
	{ "Source Zone", FIELD_OBSERVER_INGRESS_ZONE },
	{ "Destination Zone", FIELD_OBSERVER_EGRESS_ZONE },
};

static int map_label(struct ctx *c, const char *label, size_t llen, const char *v, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(label_fields); i++)
		if (ieq(label, llen, label_fields[i].label))
			return event_set_str(c->ev, label_fields[i].field, v, n);
	return 0;
}

static int map_time(struct event *ev, struct cef_times *t, unsigned field, const char *v,
		    size_t n)
{
	int64_t ns;
	bool zoned;

	if (cef_parse_time(v, n, t->zone, t->received_ns, &ns, &zoned) < 0)
		return 0;
	if (!zoned)
		t->zone_used = true;
	return event_set_time(ev, field, ns);
}

int cef_map_value(struct event *ev, struct cef_times *t, const struct cef_key *k,
		  const char *v, size_t n)
{
	const char *s;
	int rc;

	if (!n)
		return 0;
	switch (k->kind) {
	case CEF_KEEP:
	case CEF_DTZ:
		return 0;
	case CEF_STR:
		return event_set_str(ev, k->field, v, n);
	case CEF_LOWER:
		return set_lower(ev, k->field, v, n);
	case CEF_IP:
		return (rc = cef_set_ip(ev, k->field, v, n)) < 0 ? rc : 0;
	case CEF_INT:
		return (rc = cef_set_int(ev, k->field, v, n)) < 0 ? rc : 0;
	case CEF_TIME:
		return map_time(ev, t, k->field, v, n);
	case CEF_HOST:
		if ((rc = event_set_str(ev, k->field, v, n)) < 0)
			return rc;
		return event_add_str_once(ev, FIELD_RELATED_HOSTS, v, n);
	case CEF_MAC:
		return (s = ecs_mac(ev, v, n)) ? event_set_str(ev, k->field, s, 17) : 0;
	case CEF_SUSER:
		return cef_set_user(ev, FIELD_SOURCE_USER_NAME, FIELD_SOURCE_USER_DOMAIN, v, n);
	case CEF_DUSER:
		return cef_set_user(ev, FIELD_DESTINATION_USER_NAME, FIELD_DESTINATION_USER_DOMAIN,
				    v, n);
	case CEF_PROTO:
		return cef_set_transport(ev, v, n);
	case CEF_OUTCOME:
		if (ieq(v, n, "success") || ieq(v, n, "failure") || ieq(v, n, "unknown"))
			return set_lower(ev, FIELD_EVENT_OUTCOME, v, n);
		return 0;
	case CEF_DIRECTION:
		if (n == 1 && (v[0] == '0' || v[0] == '1'))
			return set_lit(ev, FIELD_NETWORK_DIRECTION,
				       v[0] == '0' ? "inbound" : "outbound");
		return 0;
	case CEF_HASH:
		return event_add_str_once(ev, FIELD_RELATED_HASH, v, n);
	case CEF_OBSIP: {
		struct ipaddr ip;

		if (ipaddr_parse(&ip, v, n) < 0)
			return 0;
		if ((rc = event_add_ip_once(ev, FIELD_OBSERVER_IP, &ip)) < 0)
			return rc;
		return event_add_ip_once(ev, FIELD_RELATED_IP, &ip);
	}
	case CEF_REFERRER:
		if (n >= 4 && !memcmp(v, "http", 4))
			return event_set_str(ev, FIELD_HTTP_REQUEST_REFERRER, v, n);
		return 0;
	}
	return 0;
}

/* One pair: its cef.* field (labelled or not) and its ECS field. */
static int put_pair(struct ctx *c, const struct cef_pair *pr)
{
	const char *v, *label = NULL;
	size_t n, llen = 0;
	int d = pr->def, f, rc;

	if (pr->is_label)
		return 0; /* it names its field; kept in event.original */
	if (!(v = cef_text(c->ev, &pr->value, &n)))
		return -ENOMEM;
	if (pr->label.len) {
		if (!(label = cef_text(c->ev, &pr->label, &llen)))
			return -ENOMEM;
		f = cef_name_field("cef.", label, llen, c->o);
	} else {
		f = d >= 0 ? key_field[d] : cef_name_field("cef.", pr->key.p, pr->key.len, c->o);
	}
	if ((rc = cef_put_vendor(c->ev, f, v, n, CEF_ID_CEF)) < 0)
		return rc;
	if (label && n && (rc = map_label(c, label, llen, v, n)) < 0)
		return rc;
	return d >= 0 ? cef_map_value(c->ev, &c->t, &keys[d], v, n) : 0;
}

/* CEF severity: 0-10, or Low/Medium/High/Very-High (0, 4, 7, 9). */
static int put_severity(struct event *ev, const char *s, size_t n)
{
	static const struct {
		const char *word;
		int value;
	} words[] = { { "low", 0 }, { "medium", 4 }, { "high", 7 }, { "very-high", 9 } };
	int64_t v;

	if (parse_i64(s, n, &v) && v >= 0 && v <= 10)
		return event_set_int(ev, FIELD_EVENT_SEVERITY, v);
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (ieq(s, n, words[i].word))
			return event_set_int(ev, FIELD_EVENT_SEVERITY, words[i].value);
	return 0;
}

static int put_header(struct event *ev, const struct cef_record *r)
{
	static const unsigned ecs[7] = { 0, FIELD_OBSERVER_VENDOR, FIELD_OBSERVER_PRODUCT,
					 FIELD_OBSERVER_VERSION, FIELD_EVENT_CODE, FIELD_MESSAGE,
					 0 };
	const struct cef_span *f[7] = { &r->version, &r->vendor, &r->product, &r->dev_version,
					&r->sig_id, &r->name, &r->severity };
	int rc;

	for (int i = 0; i < 7; i++) {
		const char *v;
		size_t n;

		if (!f[i]->len)
			continue;
		if (!(v = cef_text(ev, f[i], &n)))
			return -ENOMEM;
		if ((rc = event_set_str(ev, (unsigned)header_field[i], v, n)) < 0 ||
		    (ecs[i] && (rc = event_set_str(ev, ecs[i], v, n)) < 0))
			return rc;
		if (i == 6 && (rc = put_severity(ev, v, n)) < 0)
			return rc;
	}
	return 0;
}

/* dtz first: the other stamps are read in it. */
static void find_zone(struct ctx *c, const struct cef_record *r)
{
	c->t.zone = c->o->tz ? c->o->tz : tz_local();
	c->t.received_ns = c->o->received_ns;
	for (unsigned i = 0; i < r->n; i++) {
		const struct cef_span *k = &r->pairs[i].key, *v = &r->pairs[i].value;
		const struct tz *z;

		if (k->len == 3 && !memcmp(k->p, "dtz", 3) && v->esc == CEF_ESC_NONE &&
		    name_zone_valid(v->p, v->len) && (z = tz_get(v->p, v->len, NULL)))
			c->t.zone = z;
	}
}

int cef_put_timezone(struct event *ev, const struct cef_times *t)
{
	const char *name = tz_name(t->zone);

	return t->zone_used ? event_set_str(ev, FIELD_EVENT_TIMEZONE, name, strlen(name)) : 0;
}

int cef_put_network_bytes(struct event *ev)
{
	const struct event_value *in = event_get(ev, FIELD_SOURCE_BYTES);
	const struct event_value *out = event_get(ev, FIELD_DESTINATION_BYTES);

	if (!in || !out || in->v.i < 0 || out->v.i < 0 || in->v.i > INT64_MAX - out->v.i)
		return 0;
	return event_set_int(ev, FIELD_NETWORK_BYTES, in->v.i + out->v.i);
}

static int put_record(struct event *ev, const struct cef_record *r, const struct decode_opts *o)
{
	struct ctx c = { .ev = ev, .o = o };
	int rc;

	find_zone(&c, r);
	if ((rc = put_header(ev, r)) < 0)
		return rc;
	for (unsigned i = 0; i < r->n; i++)
		if ((rc = put_pair(&c, &r->pairs[i])) < 0)
			return rc;
	if ((rc = cef_put_timezone(ev, &c.t)) < 0)
		return rc;
	if ((rc = cef_put_network_bytes(ev)) < 0)
		return rc;
	if (r->vendor.len == 3 && !memcmp(r->vendor.p, "A10", 3))
		return a10_cef_map(ev, r, o);
	if ((rc = set_lit(ev, FIELD_EVENT_MODULE, "cef")) < 0)
		return rc;
	return set_lit(ev, FIELD_EVENT_DATASET, "cef.log");
}

/*
 * Where the record starts: at "CEF:" (after the syslog header, or after a host name a
 * relay put in front), else at a bare "0|" that a relay left after taking "CEF" for a
 * syslog tag (only reached when the format is chosen: sniffing wants "CEF:"). NULL when
 * there is neither.
 */
static const char *record_start(const char *p, size_t n)
{
	const char *a = cef_find_anchor(p, n, "CEF:", false);

	if (a)
		return a + 4;
	if (n > 2 && is_digit(p[0]) && memchr(p, '|', n < 8 ? n : 8))
		return p;
	return NULL;
}

static int cut_record(struct cef_record *r, const char *msg, const char *payload, size_t plen,
		      struct err *e)
{
	const char *end = payload + plen, *p, *ext = end;
	int rc;

	r->n = 0;
	if (!(p = record_start(payload, plen)))
		return err_set(e, -EINVAL, "offset %zu: no 'CEF:' (expected CEF:Version|Vendor|...)",
			       (size_t)(payload - msg));
	if ((rc = cut_header(r, msg, p, end, &ext, e)) < 0 ||
	    (rc = cut_extension(r, msg, ext, end, e)) < 0)
		return rc;
	resolve_labels(r);
	return 0;
}

int cef_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
	       struct err *e)
{
	struct cef_record *r;
	const char *payload;
	size_t plen;
	int rc;

	pthread_once(&init_once, init_tables);
	if (init_rc < 0) {
		err_set(e, init_rc, "cef: cannot register its fields: %s", strerror(-init_rc));
		return cef_keep_raw(ev, msg, len, o, init_rc);
	}
	if ((rc = decoder_syslog_payload(ev, msg, len, o, &payload, &plen, e)) < 0)
		return cef_keep_raw(ev, msg, len, o, rc);
	/* a record is several KB: the arena, not the worker's stack */
	if (!(r = arena_alloc(ev->arena, sizeof(*r)))) {
		err_set(e, -ENOMEM, "cef: out of memory");
		return cef_keep_raw(ev, msg, len, o, -ENOMEM);
	}
	if ((rc = cut_record(r, msg, payload, plen, e)) < 0)
		return cef_keep_raw(ev, msg, len, o, rc);
	if ((rc = put_record(ev, r, o)) < 0) {
		err_set(e, rc, "cef: cannot build the event: %s", strerror(-rc));
		return cef_keep_raw(ev, msg, len, o, rc);
	}
	return 0;
}
