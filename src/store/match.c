#include "store/match.h"
#include "core/compat.h"

#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/le.h"
#include "core/timeutil.h"
#include "store/query.h"
#include "store/token.h"

/* What one compiled node tests. */
enum test {
	T_ALL,
	T_AND,
	T_OR,
	T_NOT,
	T_NEVER,     /* a field no event has: matches nothing */
	T_EXISTS,
	T_TEXT_EQ,   /* text equal, ASCII case ignored */
	T_TEXT_HAS,  /* text holds it at token boundaries (event.original, message, full text) */
	T_GLOB,      /* wildcard on the value's text (full text: on a run of it, glob_in_text) */
	T_INT_EQ,    /* integers, times, booleans */
	T_IP_EQ,
	T_CIDR,
	T_RANGE_INT,
	T_RANGE_IP,
	T_RANGE_TEXT,
};

struct mnode {
	enum test test;
	struct mnode *l, *r;
	int field;             /* -1 for full text (event.original, else message) */
	enum query_op op;      /* ranges */
	const char *s;         /* text tests */
	size_t len;
	int64_t i;
	struct ipaddr ip;
	unsigned prefix;
	bool num_ok;           /* T_RANGE_TEXT: the bound is a decimal number */
};

struct match {
	struct mnode *root;
	int64_t from, to;
};

struct compiler {
	struct arena *a;
	struct err *e;
	int64_t now;
};

/* ---- text helpers (ASCII case folding: field values are mostly ASCII) ---- */

static inline char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool text_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (fold(a[i]) != fold(b[i]))
			return false;
	return true;
}

/*
 * Whether position i of h cuts no token: it is an end of h, or a delimiter lies on one side.
 * A run of h between two such positions holds only whole tokens (store/token.h).
 */
static inline bool token_boundary(const char *h, size_t hlen, size_t i)
{
	const unsigned char *u = (const unsigned char *)h;

	return i == 0 || i == hlen || !token_byte_at(u, hlen, i - 1) || !token_byte_at(u, hlen, i);
}

static inline uint64_t bytes_eq(uint64_t x, uint64_t want)
{
	/* 0x80 in each byte of x equal to the byte of want (exact: no false positives). */
	uint64_t d = x ^ want;

	return ~(((d & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | d | 0x7f7f7f7f7f7f7f7fULL);
}

/* Little-endian, so that the lowest set bit is the first byte. */
static inline uint64_t load64(const char *p)
{
	return le_get64((const unsigned char *)p);
}

/* n at h + i, ASCII case ignored, cutting no token. */
static inline bool phrase_at(const char *h, size_t hlen, size_t i, const char *n, size_t nlen)
{
	/* the boundaries first: a hostile run of one token then costs no comparison */
	return token_boundary(h, hlen, i) && token_boundary(h, hlen, i + nlen) &&
	       text_eq(h + i, nlen, n, nlen);
}

/*
 * Whether h holds phrase n (ASCII case ignored) at token boundaries at both ends, so that a
 * word finds whole tokens only ("imikat" is not in "mimikatz") and a phrase starts and ends
 * where tokens do ("tcp 10.2.100.15" is not in "xtcp 10.2.100.150"). An end of n that is a
 * delimiter in the text needs nothing of the byte next to it; a '.' there is one only where
 * it does not join two token bytes of the text ("com." is not in "evil.example.com.x").
 *
 * The needle's first and last bytes are tested at 8 positions at once (a byte of a letter is
 * compared with its case bit set, any other byte exactly), and only where both agree is the
 * rest compared: the scan runs over most of the text without a branch per byte.
 */
static bool has_phrase(const char *h, size_t hlen, const char *n, size_t nlen)
{
	const uint64_t ones = 0x0101010101010101ULL;
	unsigned char f, l, fm, lm;
	uint64_t fw, lw, fmw, lmw;
	size_t i = 0, last;

	if (nlen > hlen)
		return false;
	if (!nlen)
		return true;
	f = (unsigned char)fold(n[0]);
	l = (unsigned char)fold(n[nlen - 1]);
	fm = f >= 'a' && f <= 'z' ? 0x20 : 0;
	lm = l >= 'a' && l <= 'z' ? 0x20 : 0;
	fw = f * ones;
	lw = l * ones;
	fmw = fm * ones;
	lmw = lm * ones;
	last = hlen - nlen; /* the last start position */
	for (; i + 8 <= last + 1; i += 8) {
		uint64_t hit = bytes_eq(load64(h + i) | fmw, fw) &
			       bytes_eq(load64(h + i + nlen - 1) | lmw, lw);

		while (hit) {
			size_t k = (size_t)__builtin_ctzll(hit) / 8;

			if (phrase_at(h, hlen, i + k, n, nlen))
				return true;
			hit &= hit - 1;
		}
	}
	for (; i <= last; i++)
		if (((unsigned char)h[i] | fm) == f && phrase_at(h, hlen, i, n, nlen))
			return true;
	return false;
}

/* Skips one UTF-8 character (for `?`). */
static size_t char_len(const char *s, size_t len)
{
	size_t n = 1;

	while (n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
		n++;
	return n;
}

/*
 * Wildcard match of p against h from ti to an end that token_end accepts: the end of h
 * (a whole value), or with token_end any position cutting no token (a run of a text).
 * `*` any run, `?` one character, `\x` a literal x. Iterative, remembering the last `*`
 * (linear for one star, never exponential): the ends a later `*` can reach from an earlier
 * placement of what precedes it include those of any later placement.
 */
static bool glob_at(const char *p, size_t plen, const char *h, size_t hlen, size_t ti,
		    bool token_end)
{
	size_t pi = 0, star_p = SIZE_MAX, star_t = 0;

	for (;;) {
		if (pi == plen && (token_end ? token_boundary(h, hlen, ti) : ti == hlen))
			return true;
		if (pi < plen && p[pi] == '*') {
			star_p = ++pi;
			star_t = ti;
			continue;
		}
		if (pi < plen && ti < hlen && p[pi] == '?') {
			pi++;
			ti += char_len(h + ti, hlen - ti);
			continue;
		}
		if (pi < plen && ti < hlen) {
			size_t lit = p[pi] == '\\' && pi + 1 < plen ? pi + 1 : pi;

			if (fold(p[lit]) == fold(h[ti])) {
				pi = lit + 1;
				ti++;
				continue;
			}
		}
		if (star_p == SIZE_MAX || star_t == hlen)
			return false;
		pi = star_p;
		ti = ++star_t;
	}
}

static bool glob(const char *p, size_t plen, const char *t, size_t tlen)
{
	return glob_at(p, plen, t, tlen, 0, false);
}

/* The length of p before its first `*` (escaped ones are literal). */
static size_t glob_head_len(const char *p, size_t plen)
{
	size_t k = 0;

	for (; k < plen && p[k] != '*'; k++)
		if (p[k] == '\\' && k + 1 < plen)
			k++;
	return k;
}

/* Where the run of h from i that head (no `*` in it) matches ends; SIZE_MAX when none does. */
static size_t glob_head_end(const char *head, size_t n, const char *h, size_t hlen, size_t i)
{
	for (size_t pi = 0; pi < n; pi++) {
		if (i == hlen)
			return SIZE_MAX;
		if (head[pi] == '?') {
			i += char_len(h + i, hlen - i);
			continue;
		}
		if (head[pi] == '\\' && pi + 1 < n)
			pi++;
		if (fold(head[pi]) != fold(h[i]))
			return SIZE_MAX;
		i++;
	}
	return i;
}

/*
 * Full-text wildcards: whether a run of h cutting no token matches p, like a phrase. So
 * `mimi*` finds a token starting with mimi, `*katz` one ending with katz, `mi?ikatz` the
 * token, and `*imikat*` the text anywhere (a leading `*` takes the run back to the start of
 * h). What follows p's first `*` matches from the earliest end of its head wherever it
 * could from a later one, so the text is walked once for the head and once for the rest.
 */
static bool glob_in_text(const char *p, size_t plen, const char *h, size_t hlen)
{
	size_t head = glob_head_len(p, plen), best = SIZE_MAX;

	for (size_t i = 0; i <= hlen && i < best; i++) {
		size_t end;

		if (!token_boundary(h, hlen, i) ||
		    (end = glob_head_end(p, head, h, hlen, i)) == SIZE_MAX)
			continue;
		if (head < plen)
			best = MIN(best, end);
		else if (token_boundary(h, hlen, end))
			return true;
	}
	return head < plen && best != SIZE_MAX && glob_at(p + head, plen - head, h, hlen, best, true);
}

/* ---- compiling ---- */

static int fail(struct compiler *c, const struct query_node *n, const char *fmt,
		const char *field, const char *value)
{
	char what[256];

	snprintf(what, sizeof(what), fmt, field, value);
	return err_set(c->e, -EINVAL, "column %u: %s", n->column, what);
}

static struct mnode *mnode_new(struct compiler *c, enum test t)
{
	struct mnode *m = arena_alloc(c->a, sizeof(*m));

	if (m) {
		memset(m, 0, sizeof(*m));
		m->test = t;
		m->field = -1;
	}
	return m;
}

static bool is_text_body(int field)
{
	return field == FIELD_EVENT_ORIGINAL || field == FIELD_MESSAGE;
}

static int parse_int(const char *s, int64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return *s && !*end && !errno ? 0 : -EINVAL;
}

/* The value of n as field's type: integers, times and booleans into m->i. */
static int typed_int(struct compiler *c, const struct query_node *n, enum field_type t,
		     struct mnode *m)
{
	if (t == FT_TIME) {
		if (time_parse(n->value, strlen(n->value), c->now, &m->i) < 0)
			return fail(c, n, "expected a time for %s (2026-11-30T09:00:00+09:00, "
					  "-24h, now), not '%.64s'", n->field, n->value);
		return 0;
	}
	if (t == FT_BOOL) {
		if (strcasecmp(n->value, "true") && strcasecmp(n->value, "false"))
			return fail(c, n, "expected true or false for %s, not '%.64s'", n->field,
				    n->value);
		m->i = !strcasecmp(n->value, "true");
		return 0;
	}
	if (parse_int(n->value, &m->i) < 0)
		return fail(c, n, "expected a whole number for %s, not '%.64s'", n->field,
			    n->value);
	return 0;
}

static int compile_ip(struct compiler *c, const struct query_node *n, struct mnode *m)
{
	const char *v = n->value;

	if (ipaddr_parse(&m->ip, v, strlen(v)) == 0) {
		m->test = T_IP_EQ;
		return 0;
	}
	if (strchr(v, '/') && ipaddr_parse_cidr(&m->ip, &m->prefix, v, strlen(v)) == 0) {
		m->test = T_CIDR;
		return 0;
	}
	return fail(c, n, "expected an IP address or a CIDR (10.0.0.0/8) for %s, not '%.64s'",
		    n->field, v);
}

static int compile_match(struct compiler *c, const struct query_node *n, struct mnode *m)
{
	enum field_type t = field_type((unsigned)m->field);

	m->s = n->value;
	m->len = strlen(n->value);
	if (n->value_kind == QUERY_WILDCARD) {
		m->test = T_GLOB;
		return 0;
	}
	switch (t) {
	case FT_STR:
		m->test = is_text_body(m->field) ? T_TEXT_HAS : T_TEXT_EQ;
		return 0;
	case FT_OBJ: /* an object's JSON text: a value matches what it contains */
		m->test = T_TEXT_HAS;
		return 0;
	case FT_IP:
		return compile_ip(c, n, m);
	case FT_INT:
	case FT_TIME:
	case FT_BOOL:
		m->test = T_INT_EQ;
		return typed_int(c, n, t, m);
	}
	return -EINVAL;
}

/* A bare word or phrase: whole tokens (has_phrase); a wildcard word: glob_in_text(). */
static void compile_full_text(const struct query_node *n, struct mnode *m)
{
	m->s = n->value;
	m->len = strlen(n->value);
	m->test = n->value_kind == QUERY_WILDCARD ? T_GLOB : T_TEXT_HAS;
}

/*
 * Whether p[0..len) is a decimal number ([-]digits[.digits], digits on one side of the dot
 * at least). Vendor fields keep the numbers of a log as text (panos.bytes "12").
 */
static bool text_number(const char *p, size_t len)
{
	size_t i = len && p[0] == '-';
	bool digits = false;

	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		digits = true;
	if (i < len && p[i] == '.')
		for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			digits = true;
	return i == len && digits;
}

/* A text_number's parts: sign, integer digits without leading zeros, fraction without
 * trailing ones (so that "007.50" and "7.5" are the same number, "-0" zero). */
struct decimal {
	bool neg;
	const char *i, *f;
	size_t ni, nf;
};

static struct decimal decimal_of(const char *p, size_t len)
{
	struct decimal d = { .neg = len && p[0] == '-' };
	const char *end = p + len, *dot;

	p += d.neg;
	dot = memchr(p, '.', (size_t)(end - p));
	d.i = p;
	d.ni = (size_t)((dot ? dot : end) - p);
	while (d.ni && d.i[0] == '0')
		d.i++, d.ni--;
	d.f = dot ? dot + 1 : end;
	d.nf = (size_t)(end - d.f);
	while (d.nf && d.f[d.nf - 1] == '0')
		d.nf--;
	if (!d.ni && !d.nf)
		d.neg = false;
	return d;
}

/* Two text_numbers compared exactly, at any length (-1, 0, 1): no rounding to a double. */
static int cmp_decimal(const char *a, size_t alen, const char *b, size_t blen)
{
	struct decimal x = decimal_of(a, alen), y = decimal_of(b, blen);
	size_t n = MIN(x.nf, y.nf);
	int c;

	if (x.neg != y.neg)
		return x.neg ? -1 : 1;
	if (x.ni != y.ni)
		c = x.ni < y.ni ? -1 : 1;
	else if ((c = memcmp(x.i, y.i, x.ni)) == 0 && (c = memcmp(x.f, y.f, n)) == 0)
		c = x.nf == y.nf ? 0 : x.nf < y.nf ? -1 : 1;
	c = c < 0 ? -1 : c > 0;
	return x.neg ? -c : c;
}

static int compile_range(struct compiler *c, const struct query_node *n, struct mnode *m)
{
	enum field_type t = field_type((unsigned)m->field);

	m->op = n->op;
	m->s = n->value;
	m->len = strlen(n->value);
	if (t == FT_STR) {
		m->test = T_RANGE_TEXT;
		m->num_ok = text_number(m->s, m->len);
		return 0;
	}
	if (t == FT_IP) {
		m->test = T_RANGE_IP;
		if (ipaddr_parse(&m->ip, n->value, m->len) < 0)
			return fail(c, n, "expected an IP address to compare %s with, not '%.64s'",
				    n->field, n->value);
		return 0;
	}
	m->test = T_RANGE_INT;
	return typed_int(c, n, t, m);
}

/* Resolves the node's field; one no event has shown yet makes the node T_NEVER. */
static bool resolve(const struct query_node *n, struct mnode *m)
{
	int id = field_lookup(n->field, strlen(n->field));

	if (id < 0) {
		m->test = T_NEVER;
		return false;
	}
	m->field = id;
	return true;
}

static int compile_node(struct compiler *c, const struct query_node *n, struct mnode **out);

static int compile_leaf(struct compiler *c, const struct query_node *n, struct mnode *m)
{
	switch (n->kind) {
	case QUERY_EXISTS:
		m->test = T_EXISTS;
		resolve(n, m);
		return 0;
	case QUERY_RANGE:
		return resolve(n, m) ? compile_range(c, n, m) : 0;
	case QUERY_MATCH:
		if (!n->field) {
			compile_full_text(n, m);
			return 0;
		}
		return resolve(n, m) ? compile_match(c, n, m) : 0;
	default:
		return -EINVAL;
	}
}

static int compile_node(struct compiler *c, const struct query_node *n, struct mnode **out)
{
	static const enum test tests[] = { [QUERY_ALL] = T_ALL, [QUERY_AND] = T_AND,
					   [QUERY_OR] = T_OR,   [QUERY_NOT] = T_NOT };
	struct mnode *m = mnode_new(c, T_ALL);
	int rc = 0;

	if (!m)
		return err_set(c->e, -ENOMEM, "query: out of memory");
	*out = m;
	switch (n->kind) {
	case QUERY_ALL:
	case QUERY_AND:
	case QUERY_OR:
	case QUERY_NOT:
		m->test = tests[n->kind];
		if (n->left)
			rc = compile_node(c, n->left, &m->l);
		if (!rc && n->right)
			rc = compile_node(c, n->right, &m->r);
		return rc;
	default:
		return compile_leaf(c, n, m);
	}
}

/* ---- range push-down ---- */

/* Sets the bits of ip past its first prefix bits to ones or to zeros. */
static void set_host_bits(struct ipaddr *ip, unsigned prefix, bool ones)
{
	for (unsigned i = 0; i < sizeof(ip->b); i++) {
		unsigned net = prefix > 8 * i ? MIN(prefix - 8 * i, 8u) : 0;
		uint8_t host = (uint8_t)(0xffu >> net);

		ip->b[i] = ones ? ip->b[i] | host : ip->b[i] & (uint8_t)~host;
	}
}

/* The values of an integer or time field leaf n lets through; false for none known. */
static bool int_range(const struct mnode *n, struct value_range *r)
{
	if (n->test == T_INT_EQ) {
		r->lo = r->hi = n->i;
		return true;
	}
	if (n->test != T_RANGE_INT)
		return false;
	switch (n->op) {
	case QUERY_GT:
		if (n->i == INT64_MAX) /* nothing is greater: left to the filter */
			return false;
		r->lo = n->i + 1;
		return true;
	case QUERY_GE:
		r->lo = n->i;
		return true;
	case QUERY_LT:
		if (n->i == INT64_MIN)
			return false;
		r->hi = n->i - 1;
		return true;
	case QUERY_LE:
		r->hi = n->i;
		return true;
	}
	return false;
}

/* The same for an IP field; a strict bound gives the inclusive one (one address more). */
static bool ip_range(const struct mnode *n, struct value_range *r)
{
	switch (n->test) {
	case T_IP_EQ:
		r->ip_lo = r->ip_hi = n->ip;
		return true;
	case T_CIDR:
		r->ip_lo = r->ip_hi = n->ip;
		set_host_bits(&r->ip_lo, n->prefix, false);
		set_host_bits(&r->ip_hi, n->prefix, true);
		return true;
	case T_RANGE_IP:
		if (n->op == QUERY_GT || n->op == QUERY_GE)
			r->ip_lo = n->ip;
		else
			r->ip_hi = n->ip;
		return true;
	default:
		return false;
	}
}

/* The range leaf n bounds its field to (match_ranges()); false when it bounds none. */
static bool leaf_range(const struct mnode *n, struct value_range *r)
{
	enum field_type t;

	if (n->field < 0)
		return false;
	t = field_type((unsigned)n->field);
	r->ip = t == FT_IP;
	r->lo = INT64_MIN;
	r->hi = INT64_MAX;
	memset(r->ip_lo.b, 0, sizeof(r->ip_lo.b));
	memset(r->ip_hi.b, 0xff, sizeof(r->ip_hi.b));
	if (t == FT_INT || t == FT_TIME)
		return int_range(n, r);
	return t == FT_IP && ip_range(n, r);
}

static int ranges(const struct mnode *n,
		  int (*fn)(void *ctx, unsigned field, const struct value_range *r), void *ctx)
{
	struct value_range r;
	int rc;

	if (n->test == T_AND) {
		rc = ranges(n->l, fn, ctx);
		return rc ? rc : ranges(n->r, fn, ctx);
	}
	return leaf_range(n, &r) ? fn(ctx, (unsigned)n->field, &r) : 0;
}

int match_ranges(const struct match *m,
		 int (*fn)(void *ctx, unsigned field, const struct value_range *r), void *ctx)
{
	return ranges(m->root, fn, ctx);
}

/* Narrows the filter's @timestamp bounds (match_time_range()) by a range of @timestamp. */
static int narrow(void *ctx, unsigned field, const struct value_range *r)
{
	struct match *m = ctx;

	if (field == FIELD_TIMESTAMP) {
		m->from = MAX(m->from, r->lo);
		m->to = MIN(m->to, r->hi);
	}
	return 0;
}

int match_compile(struct match **mp, const struct query_node *filter, int64_t now_ns,
		  struct arena *a, struct err *e)
{
	struct compiler c = { a, e, now_ns };
	struct match *m = arena_alloc(a, sizeof(*m));
	int rc;

	if (!m)
		return err_set(e, -ENOMEM, "query: out of memory");
	m->from = INT64_MIN;
	m->to = INT64_MAX;
	if ((rc = compile_node(&c, filter, &m->root)))
		return rc;
	(void)ranges(m->root, narrow, m); /* narrow() never stops the walk */
	*mp = m;
	return 0;
}

static int literals(const struct mnode *n,
		    int (*fn)(void *ctx, const char *field, const char *value, size_t len,
			      bool whole),
		    void *ctx)
{
	char text[IPADDR_STRLEN];
	int rc;

	switch (n->test) {
	case T_AND:
		rc = literals(n->l, fn, ctx);
		return rc ? rc : literals(n->r, fn, ctx);
	case T_TEXT_EQ:
	case T_TEXT_HAS:
		return fn(ctx, n->field < 0 ? NULL : field_name((unsigned)n->field), n->s, n->len,
			  n->test == T_TEXT_EQ);
	case T_IP_EQ:
		ipaddr_format(&n->ip, text);
		return fn(ctx, field_name((unsigned)n->field), text, strlen(text), false);
	default:
		return 0;
	}
}

int match_literals(const struct match *m,
		   int (*fn)(void *ctx, const char *field, const char *value, size_t len,
			     bool whole),
		   void *ctx)
{
	return literals(m->root, fn, ctx);
}

/* Adds id to ids[0..*n) unless there; false when full. */
static bool add_field(unsigned id, unsigned *ids, size_t max, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return true;
	if (*n == max)
		return false;
	ids[(*n)++] = id;
	return true;
}

static bool fields_of(const struct mnode *n, unsigned *ids, size_t max, size_t *count)
{
	switch (n->test) {
	case T_ALL:
	case T_NEVER:
		return true;
	case T_AND:
	case T_OR:
		return fields_of(n->l, ids, max, count) && fields_of(n->r, ids, max, count);
	case T_NOT:
		return fields_of(n->l, ids, max, count);
	default:
		if (n->field >= 0)
			return add_field((unsigned)n->field, ids, max, count);
		return add_field(FIELD_EVENT_ORIGINAL, ids, max, count) &&
		       add_field(FIELD_MESSAGE, ids, max, count);
	}
}

int match_fields(const struct match *m, unsigned *ids, size_t max, size_t *n)
{
	*n = 0;
	return fields_of(m->root, ids, max, n) ? 0 : -E2BIG;
}

bool match_is_all(const struct match *m)
{
	return m->root->test == T_ALL;
}

void match_time_range(const struct match *m, int64_t *from, int64_t *to)
{
	*from = m->from;
	*to = m->to;
}

/* ---- evaluating ---- */

static int cmp_int(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_text(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));

	return c ? c : cmp_int((int64_t)alen, (int64_t)blen);
}

/* A text value against a range's bound: as numbers when both are, else byte by byte. */
static int cmp_range_text(const struct mnode *n, const char *s, size_t len)
{
	if (n->num_ok && text_number(s, len))
		return cmp_decimal(s, len, n->s, n->len);
	return cmp_text(s, len, n->s, n->len);
}

static bool op_holds(enum query_op op, int c)
{
	switch (op) {
	case QUERY_GT: return c > 0;
	case QUERY_GE: return c >= 0;
	case QUERY_LT: return c < 0;
	case QUERY_LE: return c <= 0;
	}
	return false;
}

/* A value's text for wildcards on addresses and numbers. */
static size_t value_text(const struct event_value *v, enum field_type t, char *buf,
			 size_t size, const char **s)
{
	if (t == FT_STR || t == FT_OBJ) { /* an object: its JSON text */
		*s = v->v.s;
		return v->len;
	}
	*s = buf;
	if (t == FT_BOOL) {
		*s = v->v.i ? "true" : "false";
		return v->v.i ? 4 : 5;
	}
	if (t == FT_IP) {
		ipaddr_format(&v->v.ip, buf);
		return strlen(buf);
	}
	if (t == FT_TIME)
		return time_format_rfc3339(v->v.i, buf);
	return (size_t)snprintf(buf, size, "%lld", (long long)v->v.i);
}

static bool test_value(const struct mnode *n, const struct event_value *v, enum field_type t)
{
	char buf[TIME_RFC3339_LEN + IPADDR_STRLEN];
	const char *s;
	size_t len;

	switch (n->test) {
	case T_EXISTS: return true;
	case T_TEXT_EQ: return text_eq(v->v.s, v->len, n->s, n->len);
	case T_TEXT_HAS: return has_phrase(v->v.s, v->len, n->s, n->len);
	case T_GLOB:
		len = value_text(v, t, buf, sizeof(buf), &s);
		return glob(n->s, n->len, s, len);
	case T_INT_EQ: return v->v.i == n->i;
	case T_IP_EQ: return !memcmp(v->v.ip.b, n->ip.b, sizeof(n->ip.b));
	case T_CIDR: return ipaddr_in_prefix(&v->v.ip, &n->ip, n->prefix);
	case T_RANGE_INT: return op_holds(n->op, cmp_int(v->v.i, n->i));
	case T_RANGE_IP:
		return op_holds(n->op, memcmp(v->v.ip.b, n->ip.b, sizeof(n->ip.b)));
	case T_RANGE_TEXT: return op_holds(n->op, cmp_range_text(n, v->v.s, v->len));
	default: return false;
	}
}

/* Any value of field passes the node's test. */
static bool any_value(const struct mnode *n, const struct event *ev, int field)
{
	enum field_type t = field_type((unsigned)field);

	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == (uint32_t)field && test_value(n, &ev->vals[i], t))
			return true;
	return false;
}

/* Full text: event.original, else message; a word, phrase or wildcard on a run of it. */
static bool full_text(const struct mnode *n, const struct event *ev)
{
	const char *s;
	size_t len;

	if (!event_get_str(ev, FIELD_EVENT_ORIGINAL, &s, &len) &&
	    !event_get_str(ev, FIELD_MESSAGE, &s, &len))
		return false;
	if (n->test == T_GLOB)
		return glob_in_text(n->s, n->len, s, len);
	return has_phrase(s, len, n->s, n->len);
}

static bool eval(const struct mnode *n, const struct event *ev)
{
	switch (n->test) {
	case T_ALL: return true;
	case T_NEVER: return false;
	case T_AND: return eval(n->l, ev) && eval(n->r, ev);
	case T_OR: return eval(n->l, ev) || eval(n->r, ev);
	case T_NOT: return !eval(n->l, ev);
	default:
		return n->field < 0 ? full_text(n, ev) : any_value(n, ev, n->field);
	}
}

bool match_event(const struct match *m, const struct event *ev)
{
	return eval(m->root, ev);
}
