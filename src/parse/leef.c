/*
 * leef.c - LEEF decoder: header, delimiter choice, attributes into leef.* and ECS.
 *
 * The ECS side reuses CEF's value kinds (cef_map_value), so an address, a port or a user
 * means the same in both formats.
 */
#include "parse/leef.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"
#include "core/tz.h"
#include "parse/cef.h"
#include "parse/decoder.h"

#include <pthread.h>

#define HEADER_FIELDS 5 /* Version|Vendor|Product|Version|EventID */

/* ---------------------------------------------------------------- settings */

struct source_delim {
	char *source;
	struct leef_delim d;
};

/* Written by leef_configure before the workers start; read-only afterwards. */
static struct leef_delim global_delim;
static struct source_delim *source_delims;
static size_t n_source_delims;

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned hex_value(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Code point cp as UTF-8 into d (cp < 0x10000). */
static void put_utf8(struct leef_delim *d, unsigned cp)
{
	if (cp < 0x80) {
		d->s[0] = (char)cp;
		d->len = 1;
	} else if (cp < 0x800) {
		d->s[0] = (char)(0xc0 | cp >> 6);
		d->s[1] = (char)(0x80 | (cp & 0x3f));
		d->len = 2;
	} else {
		d->s[0] = (char)(0xe0 | cp >> 12);
		d->s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d->s[2] = (char)(0x80 | (cp & 0x3f));
		d->len = 3;
	}
}

/* Length of the UTF-8 sequence that starts with byte c (0: not a lead byte). */
static unsigned utf8_len(unsigned char c)
{
	return c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
	       (c & 0xf8) == 0xf0 ? 4 : 0;
}

static bool forbidden(const struct leef_delim *d)
{
	return d->len == 1 && (d->s[0] == '\0' || d->s[0] == '\n' || d->s[0] == '\r' ||
			       d->s[0] == '=');
}

int leef_delim_parse(const char *s, size_t len, struct leef_delim *d)
{
	size_t h = len >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x' ? 2 :
		   len >= 1 && (s[0] | 0x20) == 'x' ? 1 : 0;

	memset(d, 0, sizeof(*d));
	if (len == 4 && !strncasecmp(s, "auto", 4))
		return 0;
	if (len == 3 && !strncasecmp(s, "tab", 3)) {
		put_utf8(d, '\t');
		return 0;
	}
	if (h && len > h && len - h <= 4) {
		unsigned cp = 0;

		for (size_t i = h; i < len; i++) {
			if (!is_hex(s[i]))
				return -EINVAL;
			cp = cp << 4 | hex_value(s[i]);
		}
		if (cp >= 0xd800 && cp <= 0xdfff)
			return -EINVAL;
		put_utf8(d, cp);
		return forbidden(d) ? -EINVAL : 0;
	}
	if (!len || utf8_len((unsigned char)s[0]) != len)
		return -EINVAL;
	for (size_t i = 1; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return -EINVAL;
	memcpy(d->s, s, len);
	d->len = (unsigned)len;
	return forbidden(d) ? -EINVAL : 0;
}

static void settings_release(void)
{
	for (size_t i = 0; i < n_source_delims; i++)
		mem_free(source_delims[i].source);
	mem_free(source_delims);
	source_delims = NULL;
	n_source_delims = 0;
	memset(&global_delim, 0, sizeof(global_delim));
}

static int bad_delim(const struct config *c, unsigned line, const char *key, const char *v,
		     struct err *e)
{
	return err_set(e, -EINVAL, "%s:%u: %s: '%.16s' is not a delimiter (expected auto, tab, "
		       "one character or its code in hex such as x09)",
		       c->path ? c->path : "(config)", line, key, v);
}

int leef_configure(const struct config *c, struct err *e)
{
	const char *g = c->leef_delimiter ? c->leef_delimiter : "auto";
	int rc;

	settings_release();
	if (leef_delim_parse(g, strlen(g), &global_delim) < 0)
		return bad_delim(c, c->leef_delimiter_line, "decoders.leef.delimiter", g, e);
	if (!c->n_leef_sources)
		return 0;
	if (!(source_delims = mem_calloc(c->n_leef_sources, sizeof(*source_delims))))
		return err_set(e, -ENOMEM, "leef: out of memory");
	for (size_t i = 0; i < c->n_leef_sources; i++) {
		const struct config_leef_source *s = &c->leef_sources[i];
		struct source_delim *t = &source_delims[n_source_delims];

		if (leef_delim_parse(s->delimiter, strlen(s->delimiter), &t->d) < 0) {
			rc = bad_delim(c, s->line, "decoders.leef.sources", s->delimiter, e);
			goto fail;
		}
		if (!(t->source = mem_strdup(s->source))) {
			rc = err_set(e, -ENOMEM, "leef: out of memory");
			goto fail;
		}
		n_source_delims++;
	}
	return 0;
fail:
	settings_release();
	return rc;
}

/* The configured delimiter for source (its own, else the global one; len 0: auto). */
static const struct leef_delim *configured_delim(const char *source)
{
	for (size_t i = 0; source && i < n_source_delims; i++)
		if (!strcmp(source_delims[i].source, source))
			return &source_delims[i].d;
	return &global_delim;
}

/* ---------------------------------------------------------------- fields */

static const struct cef_key keys[] = {
	{ "src", NULL, CEF_IP, FIELD_SOURCE_IP },
	{ "dst", NULL, CEF_IP, FIELD_DESTINATION_IP },
	{ "srcPort", NULL, CEF_INT, FIELD_SOURCE_PORT },
	{ "dstPort", NULL, CEF_INT, FIELD_DESTINATION_PORT },
	{ "srcPostNAT", NULL, CEF_IP, FIELD_SOURCE_NAT_IP },
	{ "dstPostNAT", NULL, CEF_IP, FIELD_DESTINATION_NAT_IP },
	{ "srcPostNATPort", NULL, CEF_INT, FIELD_SOURCE_NAT_PORT },
	{ "dstPostNATPort", NULL, CEF_INT, FIELD_DESTINATION_NAT_PORT },
	{ "srcMAC", NULL, CEF_MAC, FIELD_SOURCE_MAC },
	{ "dstMAC", NULL, CEF_MAC, FIELD_DESTINATION_MAC },
	{ "srcBytes", NULL, CEF_INT, FIELD_SOURCE_BYTES },
	{ "dstBytes", NULL, CEF_INT, FIELD_DESTINATION_BYTES },
	{ "srcPackets", NULL, CEF_INT, FIELD_SOURCE_PACKETS },
	{ "dstPackets", NULL, CEF_INT, FIELD_DESTINATION_PACKETS },
	{ "totalPackets", NULL, CEF_INT, FIELD_NETWORK_PACKETS },
	{ "proto", NULL, CEF_PROTO, 0 },
	{ "usrName", NULL, CEF_SUSER, 0 },
	{ "sev", NULL, CEF_INT, FIELD_EVENT_SEVERITY },
	{ "devTime", NULL, CEF_TIME, FIELD_TIMESTAMP },
	{ "url", NULL, CEF_STR, FIELD_URL_ORIGINAL },
	{ "policy", NULL, CEF_STR, FIELD_RULE_NAME },
	/* PAN-OS's "PAN-OS Syslog Integration" attributes */
	{ "RuleName", NULL, CEF_STR, FIELD_RULE_NAME },
	{ "SourceZone", NULL, CEF_STR, FIELD_OBSERVER_INGRESS_ZONE },
	{ "DestinationZone", NULL, CEF_STR, FIELD_OBSERVER_EGRESS_ZONE },
	{ "IngressInterface", NULL, CEF_STR, FIELD_OBSERVER_INGRESS_INTERFACE_NAME },
	{ "EgressInterface", NULL, CEF_STR, FIELD_OBSERVER_EGRESS_INTERFACE_NAME },
	{ "Application", NULL, CEF_LOWER, FIELD_NETWORK_APPLICATION },
	{ "SerialNumber", NULL, CEF_STR, FIELD_OBSERVER_SERIAL_NUMBER },
	{ "SourceUser", NULL, CEF_SUSER, 0 },
	{ "DestinationUser", NULL, CEF_DUSER, 0 },
};

static const char *const header_names[HEADER_FIELDS] = {
	"leef.version", "leef.vendor", "leef.product", "leef.product_version", "leef.event_id",
};
static const unsigned header_ecs[HEADER_FIELDS] = {
	0, FIELD_OBSERVER_VENDOR, FIELD_OBSERVER_PRODUCT, FIELD_OBSERVER_VERSION, FIELD_EVENT_CODE,
};
static int header_field[HEADER_FIELDS];
static int init_rc;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_fields(void)
{
	for (size_t i = 0; i < HEADER_FIELDS; i++)
		if ((header_field[i] = field_intern(header_names[i], strlen(header_names[i]),
						    FT_STR)) < 0) {
			init_rc = header_field[i];
			return;
		}
}

static const struct cef_key *key_find(const char *k, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].name[0] == k[0] && strlen(keys[i].name) == n &&
		    !memcmp(keys[i].name, k, n))
			return &keys[i];
	return NULL;
}

/* ---------------------------------------------------------------- devTimeFormat */

/* 1 to max digits at *p as a number; advances *p. */
static bool read_num(const char **p, const char *end, int max, int *out)
{
	int v = 0, n = 0;

	while (*p < end && n < max && **p >= '0' && **p <= '9') {
		v = v * 10 + (*(*p)++ - '0');
		n++;
	}
	*out = v;
	return n > 0;
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of a zone word at p: letters, digits and / _ + - : */
static size_t zone_len(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && (is_letter(*q) || (*q >= '0' && *q <= '9') || *q == '/' || *q == '_' ||
			   *q == '+' || *q == '-' || *q == ':'))
		q++;
	return (size_t)(q - p);
}

/*
 * One pattern letter repeated n times (Java SimpleDateFormat) read from *p into st:
 * y, M (MMM: a month name), d, H, h, m, s, S (fraction), a (AM/PM), E (a day name,
 * skipped), z, Z, X (zones). false for other letters or a value that does not fit.
 */
static bool pattern_field(char letter, int n, const char **p, const char *end,
			  struct cef_stamp *st, int *pm)
{
	const char *start = *p;
	int v;

	switch (letter) {
	case 'y':
		if (!read_num(p, end, n == 2 ? 2 : 4, &st->c.year))
			return false;
		if (n == 2)
			st->c.year += 2000;
		return true;
	case 'M':
		if (n <= 2)
			return read_num(p, end, 2, &st->c.month);
		while (*p < end && is_letter(**p))
			(*p)++;
		return (st->c.month = cef_month(start, (size_t)(*p - start))) != 0;
	case 'd':
		return read_num(p, end, 2, &st->c.day);
	case 'H':
	case 'h':
		return read_num(p, end, 2, &st->c.hour);
	case 'm':
		return read_num(p, end, 2, &st->c.min);
	case 's':
		return read_num(p, end, 2, &st->c.sec);
	case 'S': {
		int digits = 0;

		for (st->c.nsec = 0; *p < end && **p >= '0' && **p <= '9'; (*p)++)
			if (digits < 9) {
				st->c.nsec = st->c.nsec * 10 + (**p - '0');
				digits++;
			}
		for (v = digits; v < 9; v++)
			st->c.nsec *= 10;
		return digits > 0;
	}
	case 'a':
		if (end - *p < 2 || ((*p)[1] | 0x20) != 'm' || (((*p)[0] | 0x20) != 'a' &&
								   ((*p)[0] | 0x20) != 'p'))
			return false;
		*pm = ((*p)[0] | 0x20) == 'p' ? 1 : 0;
		*p += 2;
		return true;
	case 'E':
		while (*p < end && is_letter(**p))
			(*p)++;
		return *p > start;
	case 'z':
	case 'Z':
	case 'X':
		*p += zone_len(*p, end);
		return *p > start && cef_zone(start, (size_t)(*p - start), st) == 0;
	}
	return false;
}

/* devTime (v) read with its devTimeFormat pattern (f); 0, or -EINVAL when it does not fit. */
static int pattern_time(const char *f, size_t fn, const char *v, size_t vn, struct cef_stamp *st)
{
	const char *p = v, *end = v + vn;
	int pm = -1;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < fn;) {
		char c = f[i];
		int n = 1;

		if (is_letter(c)) {
			while (i + (size_t)n < fn && f[i + (size_t)n] == c)
				n++;
			if (!pattern_field(c, n, &p, end, st, &pm))
				return -EINVAL;
			i += (size_t)n;
		} else if (c == '\'') { /* 'quoted text', '' is a quote */
			for (i++; i < fn && f[i] != '\''; i++)
				if (p >= end || *p++ != f[i])
					return -EINVAL;
			i++;
		} else {
			if (p >= end || *p++ != c)
				return -EINVAL;
			i++;
		}
	}
	if (p != end || (pm >= 0 && (st->c.hour < 1 || st->c.hour > 12)))
		return -EINVAL;
	if (pm >= 0)
		st->c.hour = st->c.hour % 12 + 12 * pm;
	return 0;
}

/* devTime by its devTimeFormat when that fits, else by the forms CEF stamps take. */
static int put_dev_time(struct event *ev, struct cef_times *t, const struct cef_span *fmt,
			const char *v, size_t n)
{
	struct cef_stamp st;
	int64_t ns;

	if (fmt && fmt->len && pattern_time(fmt->p, fmt->len, v, n, &st) == 0 &&
	    cef_stamp_to_ns(&st, t->zone, t->received_ns, &ns) == 0) {
		if (!st.zoned)
			t->zone_used = true;
		return event_set_time(ev, FIELD_TIMESTAMP, ns);
	}
	return cef_map_value(ev, t, &(const struct cef_key){ "devTime", NULL, CEF_TIME,
							      FIELD_TIMESTAMP }, v, n);
}

/* ---------------------------------------------------------------- cutting */

struct leef_record {
	struct cef_span head[HEADER_FIELDS];
	struct leef_delim delim;
	struct cef_pair pairs[CEF_MAX_PAIRS];
	unsigned n;
};

bool leef_sniff(const char *msg, size_t len)
{
	return cef_find_anchor(msg, len, "LEEF:", true) != NULL;
}

static int cut_header(struct leef_record *r, const char *msg, const char *p, const char *end,
		      const char **attrs, struct err *e)
{
	unsigned i = 0;
	const char *start = p;

	for (; p < end && i < HEADER_FIELDS; p++)
		if (*p == '|') {
			r->head[i++] = (struct cef_span){ start, (uint32_t)(p - start), CEF_ESC_NONE };
			start = p + 1;
		}
	if (i == HEADER_FIELDS - 1) { /* EventID ends the message: no attributes */
		r->head[i++] = (struct cef_span){ start, (uint32_t)(end - start), CEF_ESC_NONE };
		p = end;
	}
	if (i < HEADER_FIELDS)
		return err_set(e, -EINVAL, "offset %zu: LEEF header has %u of its 5 fields "
			       "(expected LEEF:Version|Vendor|Product|Version|EventID|attributes)",
			       (size_t)(end - msg), i);
	for (uint32_t k = 0; k < r->head[0].len; k++) {
		char c = r->head[0].p[k];

		if (!(c >= '0' && c <= '9') && c != '.')
			return err_set(e, -EINVAL, "offset %zu: LEEF version '%.*s' is not a "
				       "number such as 1.0 or 2.0", (size_t)(r->head[0].p - msg),
				       (int)r->head[0].len, r->head[0].p);
	}
	*attrs = p;
	return 0;
}

/*
 * LEEF 2.0's delimiter field (a character or x/0x and its hex code) before the next '|':
 * when there is one, it is taken and *attrs moves past it. An empty field is skipped; a
 * field with '=' is already the attributes (senders that leave the field out).
 */
static void header_delim(struct leef_record *r, const char **attrs, const char *end)
{
	const char *p = *attrs, *bar = memchr(p, '|', (size_t)(end - p));
	size_t n;
	bool hex;

	if (r->head[0].len < 1 || r->head[0].p[0] < '2' || !bar)
		return;
	n = (size_t)(bar - p);
	hex = n > 1 && ((p[0] | 0x20) == 'x' || (p[0] == '0' && (p[1] | 0x20) == 'x'));
	if (!n || (!memchr(p, '=', n) && (hex || n == utf8_len((unsigned char)p[0])) &&
		   leef_delim_parse(p, n, &r->delim) == 0))
		*attrs = bar + 1;
}

/* auto: TAB when the attributes have one, else '|' (PAN-OS), else '^', else TAB. */
static void detect_delim(struct leef_delim *d, const char *p, const char *end)
{
	size_t n = (size_t)(end - p);
	char c = memchr(p, '\t', n) ? '\t' : memchr(p, '|', n) ? '|' : memchr(p, '^', n) ? '^' :
									       '\t';

	d->s[0] = c;
	d->len = 1;
}

static const char *find_delim(const char *p, const char *end, const struct leef_delim *d)
{
	if (d->len == 1)
		return memchr(p, d->s[0], (size_t)(end - p));
	return memmem(p, (size_t)(end - p), d->s, d->len);
}

/* Splits the attributes; a piece without '=' continues the value before it. */
static void cut_attrs(struct leef_record *r, const char *p, const char *end)
{
	struct cef_pair *last = NULL;
	unsigned dropped = 0;

	while (end > p && (end[-1] == ' ' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	while (p < end) {
		const char *d = find_delim(p, end, &r->delim), *pe = d ? d : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));

		if (eq && eq > p) {
			if (r->n < CEF_MAX_PAIRS) {
				last = &r->pairs[r->n++];
				*last = (struct cef_pair){
					.key = { p, (uint32_t)(eq - p), CEF_ESC_NONE },
					.value = { eq + 1, (uint32_t)(pe - eq - 1), CEF_ESC_NONE },
					.def = -1, /* the LEEF table is looked up when written */
				};
			} else {
				last = NULL;
				dropped++;
			}
		} else if (last && pe > p) {
			last->value.len = (uint32_t)(pe - last->value.p);
		}
		p = d ? d + r->delim.len : end;
	}
	if (dropped)
		cef_count_drop(CEF_ID_LEEF, CEF_DROP_TOO_MANY, dropped);
}

/* ---------------------------------------------------------------- into the event */

/* The devTimeFormat attribute's value, or NULL. */
static const struct cef_span *dev_time_format(const struct leef_record *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->pairs[i].key.len == 13 && !memcmp(r->pairs[i].key.p, "devTimeFormat", 13))
			return &r->pairs[i].value;
	return NULL;
}

static int put_record(struct event *ev, const struct leef_record *r, const struct decode_opts *o)
{
	struct cef_times t = { o->tz ? o->tz : tz_local(), o->received_ns, false };
	const struct cef_span *fmt = dev_time_format(r);
	int rc;

	for (int i = 0; i < HEADER_FIELDS; i++) {
		const struct cef_span *h = &r->head[i];

		if (!h->len)
			continue;
		if ((rc = event_set_str(ev, (unsigned)header_field[i], h->p, h->len)) < 0 ||
		    (header_ecs[i] && (rc = event_set_str(ev, header_ecs[i], h->p, h->len)) < 0))
			return rc;
	}
	for (unsigned i = 0; i < r->n; i++) {
		const struct cef_pair *pr = &r->pairs[i];
		const struct cef_key *k = key_find(pr->key.p, pr->key.len);
		int f = cef_name_field("leef.", pr->key.p, pr->key.len, o);

		if ((rc = cef_put_vendor(ev, f, pr->value.p, pr->value.len, CEF_ID_LEEF)) < 0)
			return rc;
		if (k && k->kind == CEF_TIME && k->field == FIELD_TIMESTAMP)
			rc = pr->value.len ? put_dev_time(ev, &t, fmt, pr->value.p, pr->value.len) : 0;
		else if (k)
			rc = cef_map_value(ev, &t, k, pr->value.p, pr->value.len);
		if (rc < 0)
			return rc;
	}
	if ((rc = cef_put_timezone(ev, &t)) < 0 || (rc = cef_put_network_bytes(ev)) < 0 ||
	    (rc = event_set_str(ev, FIELD_EVENT_MODULE, "leef", 4)) < 0)
		return rc;
	return event_set_str(ev, FIELD_EVENT_DATASET, "leef.log", 8);
}

int leef_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		struct err *e)
{
	struct leef_record *r;
	const char *payload, *anchor, *attrs = NULL, *end;
	size_t plen;
	int rc;

	pthread_once(&init_once, init_fields);
	if (init_rc < 0) {
		err_set(e, init_rc, "leef: cannot register its fields: %s", strerror(-init_rc));
		return cef_keep_raw(ev, msg, len, o, init_rc);
	}
	if ((rc = decoder_syslog_payload(ev, msg, len, o, &payload, &plen, e)) < 0)
		return cef_keep_raw(ev, msg, len, o, rc);
	end = payload + plen;
	if (!(anchor = cef_find_anchor(payload, plen, "LEEF:", false))) {
		err_set(e, -EINVAL, "offset %zu: no 'LEEF:' (expected LEEF:Version|Vendor|...)",
			(size_t)(payload - msg));
		return cef_keep_raw(ev, msg, len, o, -EINVAL);
	}
	if (!(r = arena_alloc(ev->arena, sizeof(*r)))) {
		err_set(e, -ENOMEM, "leef: out of memory");
		return cef_keep_raw(ev, msg, len, o, -ENOMEM);
	}
	r->n = 0;
	memset(&r->delim, 0, sizeof(r->delim));
	if ((rc = cut_header(r, msg, anchor + 5, end, &attrs, e)) < 0)
		return cef_keep_raw(ev, msg, len, o, rc);
	header_delim(r, &attrs, end);
	if (!r->delim.len)
		r->delim = *configured_delim(o->source);
	if (!r->delim.len)
		detect_delim(&r->delim, attrs, end);
	cut_attrs(r, attrs, end);
	if ((rc = put_record(ev, r, o)) < 0) {
		err_set(e, rc, "leef: cannot build the event: %s", strerror(-rc));
		return cef_keep_raw(ev, msg, len, o, rc);
	}
	return 0;
}
