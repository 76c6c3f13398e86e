#include "detect/sigval.h"
#include "core/compat.h"

#include <math.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/err.h"
#include "core/event.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define LOG_MODULE "sigval"
#include "core/log.h"

/* A compiled pattern: bytes 0..255, or one of the two wildcards. */
enum { P_STAR = 256, P_ONE = 257 };

#define RE_MATCH_LIMIT 1000000 /* PCRE2 backtracking steps per match */

enum kind { K_GLOB, K_NULL, K_RE, K_CIDR, K_NUM, K_TIME, K_FIELDREF };
enum shape { SH_EXACT, SH_PREFIX, SH_SUFFIX, SH_CONTAINS, SH_ANY, SH_GLOB };
enum cmp { CMP_EQ, CMP_LT, CMP_LTE, CMP_GT, CMP_GTE };
enum part { PART_NONE, PART_MINUTE, PART_HOUR, PART_DAY, PART_WEEK, PART_MONTH, PART_YEAR };
enum transform { TR_CONTAINS, TR_STARTSWITH, TR_ENDSWITH, TR_WINDASH, TR_BASE64, TR_BASE64OFFSET,
		 TR_UTF16LE, TR_UTF16BE, TR_UTF16 };

#define MAX_TRANSFORMS 16

struct value {
	enum kind kind;
	enum shape shape;
	bool cased;
	uint16_t *pat;        /* K_GLOB, SH_GLOB */
	uint32_t n;
	char *lit;            /* K_GLOB: the literal of EXACT..CONTAINS, folded unless cased */
	uint32_t lit_len;
	char *best;           /* K_GLOB: its longest literal run (a literal set for litset) */
	uint32_t best_len;
	pcre2_code *re;
	struct ipaddr net;
	unsigned prefix;
	double num;
	int ref;              /* K_FIELDREF: the other field */
};

struct sigval_item {
	int field;
	bool all, neq, exists, exists_want;
	enum cmp cmp;
	enum part part;       /* K_TIME values */
	enum shape ref_shape; /* fieldref: EXACT, PREFIX, SUFFIX or CONTAINS */
	bool ref_cased;
	struct value *v;
	size_t n, cap;
};

struct sigval_scratch {
	pcre2_match_data *md;
	pcre2_match_context *mc;
};

/* What the modifier text asks for. */
struct mods {
	enum transform tr[MAX_TRANSFORMS];
	size_t n_tr;
	bool all, cased, neq, expand, exists, fieldref, re, cidr;
	uint32_t re_flags;
	enum cmp cmp;
	bool has_cmp;
	enum part part;
};

/* A pattern under construction. */
struct pat {
	uint16_t *p;
	uint32_t n;
	bool cased;
};

struct plist {
	struct pat *v;
	size_t n, cap;
};

static inline unsigned char fold(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

/* ---- pattern lists ---- */

static void plist_release(struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		mem_free(l->v[i].p);
	mem_free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Appends (p, n), taking ownership of p (freed on failure too). */
static int plist_add(struct plist *l, uint16_t *p, uint32_t n, bool cased, struct err *e)
{
	if (l->n >= SIGVAL_VALUES_MAX) {
		mem_free(p);
		return err_set(e, -EINVAL, "expected at most %d values after the modifiers",
			       SIGVAL_VALUES_MAX);
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct pat *nv = mem_realloc(l->v, cap * sizeof(*nv));

		if (!nv) {
			mem_free(p);
			return err_set(e, -ENOMEM, "out of memory");
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = (struct pat){ p, n, cased };
	return 0;
}

static uint16_t *pat_alloc(size_t n, struct err *e)
{
	uint16_t *p;

	if (n > SIGVAL_VALUE_MAX) {
		err_set(e, -EINVAL, "expected a value of at most %d bytes after the modifiers",
			SIGVAL_VALUE_MAX);
		return NULL;
	}
	p = mem_alloc((n ? n : 1) * sizeof(*p));
	if (!p)
		err_set(e, -ENOMEM, "out of memory");
	return p;
}

/* ---- values as written: escapes and placeholders ---- */

/* s[0..len) with Sigma's escaping into a pattern: \* \? \\ escape, any other \ is literal. */
static int parse_wildcards(struct plist *out, const char *s, size_t len, bool cased,
			   struct err *e)
{
	uint16_t *p = pat_alloc(len, e);
	uint32_t n = 0;

	if (!p)
		return e->code;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '\\' && i + 1 < len && (s[i + 1] == '*' || s[i + 1] == '?' ||
						  s[i + 1] == '\\'))
			p[n++] = (unsigned char)s[++i];
		else if (ch == '*')
			p[n++] = P_STAR;
		else if (ch == '?')
			p[n++] = P_ONE;
		else
			p[n++] = (unsigned char)ch;
	}
	return plist_add(out, p, n, cased, e);
}

static bool placeholder_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-' || ch == '.';
}

/*
 * Modifier expand: the strings that s[0..len) stands for, each through parse_wildcards.
 * One %name% at a time, recursively over the rest, so several placeholders give every
 * combination (bounded by SIGVAL_VALUES_MAX).
 */
static int expand(struct plist *out, const char *s, size_t len, bool cased,
		  const struct sigval_env *env, char *acc, size_t acc_len, struct err *e)
{
	for (size_t i = 0; i < len; i++) {
		const char *const *vals;
		size_t j = i + 1, nv;
		int rc;

		if (s[i] == '\\' && i + 1 < len && s[i + 1] == '%') {
			acc[acc_len++] = '%';
			i++;
			continue;
		}
		while (s[i] == '%' && j < len && placeholder_char(s[j]))
			j++;
		if (s[i] != '%' || j >= len || s[j] != '%' || j == i + 1) {
			acc[acc_len++] = s[i];
			continue;
		}
		if (!env || !env->placeholder ||
		    env->placeholder(env->ctx, s + i + 1, j - i - 1, &vals, &nv) < 0)
			return err_set(e, -EINVAL, "placeholder %%%.*s%% has no values in the "
				       "configuration (detect.placeholders)", (int)(j - i - 1),
				       s + i + 1);
		for (size_t k = 0; k < nv; k++) {
			size_t vl = strlen(vals[k]);

			if (acc_len + vl + (len - j) > SIGVAL_VALUE_MAX)
				return err_set(e, -EINVAL, "expected a value of at most %d bytes "
					       "after expansion", SIGVAL_VALUE_MAX);
			memcpy(acc + acc_len, vals[k], vl);
			rc = expand(out, s + j + 1, len - j - 1, cased, env, acc, acc_len + vl, e);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	return parse_wildcards(out, acc, acc_len, cased, e);
}

/* ---- transformations (each maps the list to a new one) ---- */

static bool has_wildcard(const struct pat *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->p[i] >= P_STAR)
			return true;
	return false;
}

static int wrap(struct plist *out, const struct pat *in, bool head, bool tail, struct err *e)
{
	bool add_head = head && !(in->n && in->p[0] == P_STAR);
	bool add_tail = tail && !(in->n && in->p[in->n - 1] == P_STAR);
	uint16_t *p = pat_alloc(in->n + 2, e);
	uint32_t n = 0;

	if (!p)
		return e->code;
	if (add_head)
		p[n++] = P_STAR;
	memcpy(p + n, in->p, in->n * sizeof(*p));
	n += in->n;
	if (add_tail)
		p[n++] = P_STAR;
	return plist_add(out, p, n, in->cased, e);
}

static bool word_byte(uint16_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* pySigma's reading of windash: a - or / after a non-word character and before a word one. */
static bool flag_position(const struct pat *in, uint32_t i)
{
	return (in->p[i] == '-' || in->p[i] == '/') && (i == 0 || !word_byte(in->p[i - 1])) &&
	       i + 1 < in->n && word_byte(in->p[i + 1]);
}

static const char *const dashes[] = { "-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95" };

static int windash(struct plist *out, const struct pat *in, struct err *e)
{
	uint32_t pos[SIGVAL_WINDASH_MAX], np = 0, combos = 1;

	for (uint32_t i = 0; i < in->n; i++) {
		if (!flag_position(in, i))
			continue;
		if (np == SIGVAL_WINDASH_MAX)
			return err_set(e, -EINVAL, "windash: expected at most %d flags in a value",
				       SIGVAL_WINDASH_MAX);
		pos[np++] = i;
		combos *= ARRAY_SIZE(dashes);
	}
	for (uint32_t c = 0; c < combos; c++) {
		uint16_t *p = pat_alloc((size_t)in->n + 2 * np, e);
		uint32_t n = 0, k = 0, digit = c;
		int rc;

		if (!p)
			return e->code;
		for (uint32_t i = 0; i < in->n; i++) {
			if (k < np && pos[k] == i) {
				const char *d = dashes[digit % ARRAY_SIZE(dashes)];

				digit /= ARRAY_SIZE(dashes);
				k++;
				while (*d)
					p[n++] = (unsigned char)*d++;
			} else {
				p[n++] = in->p[i];
			}
		}
		if ((rc = plist_add(out, p, n, in->cased, e)) < 0)
			return rc;
	}
	return 0;
}

/* The next code point of a pattern's literal bytes (UTF-8; a stray byte stands for itself). */
static uint32_t next_cp(const struct pat *in, uint32_t *i)
{
	uint16_t c = in->p[*i];
	uint32_t cp, need;

	(*i)++;
	if (c < 0xc0 || c >= 0xf8) /* ASCII, or a byte that starts no sequence */
		return c;
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
	cp = c & (0x3f >> need);
	if (*i + need > in->n)
		return c;
	for (uint32_t k = 0; k < need; k++) {
		uint16_t b = in->p[*i + k];

		if (b >= P_STAR || (b & 0xc0) != 0x80)
			return c;
		cp = cp << 6 | (b & 0x3f);
	}
	*i += need;
	return cp;
}

static void put16(uint16_t *p, uint32_t *n, uint32_t unit, bool be)
{
	p[(*n)++] = be ? unit >> 8 : unit & 0xff;
	p[(*n)++] = be ? unit & 0xff : unit >> 8;
}

static int utf16(struct plist *out, const struct pat *in, bool be, bool bom, struct err *e)
{
	uint16_t *p = pat_alloc((size_t)in->n * 4 + 2, e);
	uint32_t n = 0;

	if (!p)
		return e->code;
	if (bom)
		put16(p, &n, 0xfeff, be);
	for (uint32_t i = 0; i < in->n;) {
		uint32_t cp;

		if (in->p[i] >= P_STAR) {
			p[n++] = in->p[i++];
			continue;
		}
		cp = next_cp(in, &i);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			put16(p, &n, 0xd800 | (cp >> 10), be);
			put16(p, &n, 0xdc00 | (cp & 0x3ff), be);
		} else {
			put16(p, &n, cp, be);
		}
	}
	return plist_add(out, p, n, in->cased, e);
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding of pad spaces followed by in's bytes, cut to [from, len - cut). */
static int base64(struct plist *out, const struct pat *in, unsigned pad, uint32_t from,
		  uint32_t cut, struct err *e)
{
	size_t len = in->n + pad, olen = (len + 2) / 3 * 4;
	uint16_t *p = pat_alloc(olen, e);
	uint32_t n = 0;

	if (!p)
		return e->code;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t b[3] = { 0, 0, 0 }, k;

		for (k = 0; k < 3 && i + k < len; k++)
			b[k] = i + k < pad ? ' ' : in->p[i + k - pad];
		uint32_t v = b[0] << 16 | b[1] << 8 | b[2];

		p[n++] = (unsigned char)b64_alphabet[v >> 18 & 63];
		p[n++] = (unsigned char)b64_alphabet[v >> 12 & 63];
		p[n++] = k > 1 ? (unsigned char)b64_alphabet[v >> 6 & 63] : '=';
		p[n++] = k > 2 ? (unsigned char)b64_alphabet[v & 63] : '=';
	}
	if (from + cut > n)
		from = cut = 0;
	memmove(p, p + from, (n - from - cut) * sizeof(*p));
	return plist_add(out, p, n - from - cut, true, e);
}

/* base64offset: the three encodings of the value at offsets 0, 1 and 2 (stable parts only). */
static int base64offset(struct plist *out, const struct pat *in, struct err *e)
{
	static const uint32_t start[3] = { 0, 2, 3 }, end_cut[3] = { 0, 3, 2 };
	int rc;

	for (unsigned i = 0; i < 3; i++) {
		if ((rc = base64(out, in, i, start[i], end_cut[(in->n + i) % 3], e)) < 0)
			return rc;
	}
	return 0;
}

static int apply_transform(struct plist *out, const struct pat *in, enum transform t,
			   struct err *e)
{
	switch (t) {
	case TR_CONTAINS: return wrap(out, in, true, true, e);
	case TR_STARTSWITH: return wrap(out, in, false, true, e);
	case TR_ENDSWITH: return wrap(out, in, true, false, e);
	case TR_WINDASH: return windash(out, in, e);
	case TR_UTF16LE: return utf16(out, in, false, false, e);
	case TR_UTF16BE: return utf16(out, in, true, false, e);
	case TR_UTF16: return utf16(out, in, false, true, e);
	case TR_BASE64:
	case TR_BASE64OFFSET:
		if (has_wildcard(in))
			return err_set(e, -EINVAL, "%s: expected a value without wildcards",
				       t == TR_BASE64 ? "base64" : "base64offset");
		return t == TR_BASE64 ? base64(out, in, 0, 0, 0, e) : base64offset(out, in, e);
	}
	return err_set(e, -EINVAL, "unknown transformation");
}

static int transform_all(struct plist *l, enum transform t, struct err *e)
{
	struct plist next = { 0 };
	int rc = 0;

	for (size_t i = 0; i < l->n && rc >= 0; i++)
		rc = apply_transform(&next, &l->v[i], t, e);
	plist_release(l);
	*l = next;
	return rc;
}

/* ---- the modifier text ---- */

static const struct {
	const char *name;
	int transform; /* an enum transform, or -1 */
} transform_names[] = {
	{ "contains", TR_CONTAINS }, { "startswith", TR_STARTSWITH },
	{ "endswith", TR_ENDSWITH }, { "windash", TR_WINDASH }, { "base64", TR_BASE64 },
	{ "base64offset", TR_BASE64OFFSET }, { "utf16le", TR_UTF16LE }, { "wide", TR_UTF16LE },
	{ "utf16be", TR_UTF16BE }, { "utf16", TR_UTF16 },
};

static const char *const part_names[] = { NULL, "minute", "hour", "day", "week", "month", "year" };
static const char *const cmp_names[] = { NULL, "lt", "lte", "gt", "gte" };

static bool name_is(const char *m, size_t len, const char *name)
{
	return strlen(name) == len && !memcmp(m, name, len);
}

static int one_modifier(struct mods *m, const char *s, size_t len, bool after_re, struct err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(transform_names); i++) {
		if (!name_is(s, len, transform_names[i].name))
			continue;
		if (m->n_tr == MAX_TRANSFORMS)
			return err_set(e, -EINVAL, "expected at most %d transformations",
				       MAX_TRANSFORMS);
		m->tr[m->n_tr++] = (enum transform)transform_names[i].transform;
		return 0;
	}
	for (size_t i = 1; i < ARRAY_SIZE(part_names); i++) {
		if (name_is(s, len, part_names[i])) {
			m->part = (enum part)i;
			return 0;
		}
	}
	for (size_t i = 1; i < ARRAY_SIZE(cmp_names); i++) {
		if (name_is(s, len, cmp_names[i])) {
			m->cmp = (enum cmp)i;
			m->has_cmp = true;
			return 0;
		}
	}
	if (after_re && (name_is(s, len, "i") || name_is(s, len, "ignorecase"))) {
		m->re_flags |= PCRE2_CASELESS;
	} else if (after_re && (name_is(s, len, "m") || name_is(s, len, "multiline"))) {
		m->re_flags |= PCRE2_MULTILINE;
	} else if (after_re && (name_is(s, len, "s") || name_is(s, len, "dotall"))) {
		m->re_flags |= PCRE2_DOTALL;
	} else if (name_is(s, len, "all")) {
		m->all = true;
	} else if (name_is(s, len, "cased")) {
		m->cased = true;
	} else if (name_is(s, len, "neq")) {
		m->neq = true;
	} else if (name_is(s, len, "expand")) {
		m->expand = true;
	} else if (name_is(s, len, "exists")) {
		m->exists = true;
	} else if (name_is(s, len, "fieldref")) {
		m->fieldref = true;
	} else if (name_is(s, len, "re")) {
		m->re = true;
	} else if (name_is(s, len, "cidr")) {
		m->cidr = true;
	} else {
		return err_set(e, -EINVAL, "unknown modifier '%.*s'", (int)MIN(len, 64), s);
	}
	return 0;
}

static bool has_wrap_only(const struct mods *m)
{
	for (size_t i = 0; i < m->n_tr; i++)
		if (m->tr[i] > TR_ENDSWITH)
			return false;
	return true;
}

/* Which combinations make sense: one type at most, and what each type takes. */
static int check_mods(const struct mods *m, int field, struct err *e)
{
	int types = m->re + m->cidr + m->exists + m->fieldref + (m->has_cmp || m->part);

	if (types > 1)
		return err_set(e, -EINVAL, "expected at most one of re, cidr, exists, fieldref "
			       "and the numeric or time modifiers");
	if (m->exists && (m->n_tr || m->all || m->cased || m->neq || m->expand))
		return err_set(e, -EINVAL, "exists: expected no other modifier");
	if ((m->re || m->cidr || m->has_cmp || m->part) && (m->n_tr || m->expand))
		return err_set(e, -EINVAL, "%s: expected no transformation (contains, windash, "
			       "base64, ...)", m->re ? "re" : m->cidr ? "cidr" : "numeric comparison");
	if ((m->re || m->cidr || m->has_cmp || m->part) && m->cased)
		return err_set(e, -EINVAL, "cased: only for string values");
	if (m->fieldref && (!has_wrap_only(m) || m->expand))
		return err_set(e, -EINVAL, "fieldref: expected only contains, startswith or "
			       "endswith with it");
	if (field == SIGVAL_KEYWORDS && types)
		return err_set(e, -EINVAL, "keywords: expected string modifiers only");
	return 0;
}

static int parse_mods(struct mods *m, const char *s, size_t len, int field, struct err *e)
{
	bool after_re = false;
	size_t i = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	while (i < len) {
		size_t j = i;

		while (j < len && s[j] != '|')
			j++;
		if (j == i)
			return err_set(e, -EINVAL, "expected a modifier name between '|'");
		if ((rc = one_modifier(m, s + i, j - i, after_re, e)) < 0)
			return rc;
		after_re = m->re;
		i = j + 1;
		if (j < len && i == len)
			return err_set(e, -EINVAL, "expected a modifier name after the last '|'");
	}
	return check_mods(m, field, e);
}

/* ---- compiling values ---- */

/* The literal runs of a finished pattern: its shape, whole literal and longest run. */
static int finish_glob(struct value *v, struct pat *p, struct err *e)
{
	uint32_t lead = 0, trail = 0, inner = 0, best_at = 0, best_len = 0, run_at = 0;

	v->kind = K_GLOB;
	v->cased = p->cased;
	for (uint32_t i = 0; i < p->n; i++)
		if (!p->cased && p->p[i] < 256)
			p->p[i] = fold((unsigned char)p->p[i]);
	while (lead < p->n && p->p[lead] == P_STAR)
		lead++;
	while (trail < p->n - lead && p->p[p->n - 1 - trail] == P_STAR)
		trail++;
	for (uint32_t i = lead; i < p->n - trail; i++)
		inner += p->p[i] >= P_STAR;
	for (uint32_t i = 0; i <= p->n; i++) {
		if (i < p->n && p->p[i] < P_STAR)
			continue;
		if (i - run_at > best_len) {
			best_at = run_at;
			best_len = i - run_at;
		}
		run_at = i + 1;
	}
	if (inner)
		v->shape = SH_GLOB;
	else if (lead == p->n && p->n)
		v->shape = SH_ANY;
	else
		v->shape = lead && trail ? SH_CONTAINS : lead ? SH_SUFFIX : trail ? SH_PREFIX
										 : SH_EXACT;
	v->best = mem_alloc(best_len + 1);
	if (!v->best)
		return err_set(e, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < best_len; i++)
		v->best[i] = (char)p->p[best_at + i];
	v->best_len = best_len;
	if (v->shape == SH_GLOB) {
		v->pat = p->p;
		v->n = p->n;
		p->p = NULL;
	} else if (v->shape != SH_ANY) {
		v->lit = v->best; /* no inner wildcard: the one run is the literal */
		v->lit_len = best_len;
	}
	return 0;
}

static int compile_strings(struct sigval_item *it, const struct mods *m,
			   const struct sigval_input *in, const struct sigval_env *env,
			   struct plist *l, struct err *e)
{
	int rc;

	if (in->len > SIGVAL_VALUE_MAX)
		return err_set(e, -EINVAL, "expected a value of at most %d bytes", SIGVAL_VALUE_MAX);
	if (m->expand) {
		char *acc = mem_alloc(SIGVAL_VALUE_MAX + 1);

		if (!acc)
			return err_set(e, -ENOMEM, "out of memory");
		rc = expand(l, in->s, in->len, m->cased, env, acc, 0, e);
		mem_free(acc);
	} else {
		rc = parse_wildcards(l, in->s, in->len, m->cased, e);
	}
	for (size_t i = 0; i < m->n_tr && rc >= 0; i++)
		rc = transform_all(l, m->tr[i], e);
	if (rc >= 0 && it->field == SIGVAL_KEYWORDS)
		rc = transform_all(l, TR_CONTAINS, e);
	return rc;
}

static int add_value(struct sigval_item *it, struct value **v, struct err *e)
{
	struct value *nv;

	if (it->n >= SIGVAL_VALUES_MAX)
		return err_set(e, -EINVAL, "expected at most %d values after the modifiers",
			       SIGVAL_VALUES_MAX);
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 4;

		nv = mem_realloc(it->v, cap * sizeof(*nv));
		if (!nv)
			return err_set(e, -ENOMEM, "out of memory");
		it->v = nv;
		it->cap = cap;
	}
	*v = &it->v[it->n++];
	memset(*v, 0, sizeof(**v));
	return 0;
}

static int parse_number(const char *s, size_t len, double *out)
{
	char tmp[64], *end;

	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	return *end || errno || !isfinite(*out) ? -EINVAL : 0;
}

static int compile_re(struct value *v, const struct mods *m, const struct sigval_input *in,
		      struct err *e)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off;
	int code, rc;

	v->kind = K_RE;
	v->re = pcre2_compile((PCRE2_SPTR)in->s, in->len,
			      m->re_flags | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
	if (!v->re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		return err_set(e, -EINVAL, "re: column %zu of the expression: %s", (size_t)off + 1,
			       (const char *)msg);
	}
	rc = pcre2_jit_compile(v->re, PCRE2_JIT_COMPLETE);
	if (rc < 0) /* no JIT on this machine: the interpreter matches the same */
		log_debug("no JIT for a regex (PCRE2 %d): interpreted", rc);
	return 0;
}

static int compile_value(struct sigval_item *it, const struct mods *m,
			 const struct sigval_input *in, const struct sigval_env *env,
			 struct err *e)
{
	struct value *v;
	struct plist l = { 0 };
	int rc;

	if (in->null) {
		if ((rc = add_value(it, &v, e)) < 0)
			return rc;
		v->kind = K_NULL;
		return 0;
	}
	if (m->re || m->cidr || m->has_cmp || m->part || m->fieldref) {
		if ((rc = add_value(it, &v, e)) < 0)
			return rc;
		if (m->re)
			return compile_re(v, m, in, e);
		if (m->cidr) {
			v->kind = K_CIDR;
			if (ipaddr_parse_cidr(&v->net, &v->prefix, in->s, in->len) < 0)
				return err_set(e, -EINVAL, "cidr: expected an IPv4 or IPv6 network "
					       "such as 10.0.0.0/8, found '%.*s'",
					       (int)MIN(in->len, 64), in->s);
			return 0;
		}
		if (m->fieldref) {
			v->kind = K_FIELDREF;
			if (!env || !env->field)
				return err_set(e, -EINVAL, "fieldref: no field resolver");
			v->ref = env->field(env->ctx, in->s, in->len, e);
			return v->ref < 0 ? v->ref : 0;
		}
		v->kind = m->part ? K_TIME : K_NUM;
		if (parse_number(in->s, in->len, &v->num) < 0)
			return err_set(e, -EINVAL, "%s: expected a number, found '%.*s'",
				       m->part ? part_names[m->part] : cmp_names[m->cmp],
				       (int)MIN(in->len, 64), in->s);
		return 0;
	}
	rc = compile_strings(it, m, in, env, &l, e);
	for (size_t i = 0; i < l.n && rc >= 0; i++) {
		if ((rc = add_value(it, &v, e)) >= 0)
			rc = finish_glob(v, &l.v[i], e);
	}
	plist_release(&l);
	return rc;
}

static void free_value(struct value *v)
{
	mem_free(v->pat);
	mem_free(v->best);
	if (v->re)
		pcre2_code_free(v->re);
}

void sigval_item_free(struct sigval_item *it)
{
	if (!it)
		return;
	for (size_t i = 0; i < it->n; i++)
		free_value(&it->v[i]);
	mem_free(it->v);
	mem_free(it);
}

static enum shape ref_shape(const struct mods *m)
{
	bool head = false, tail = false;

	for (size_t i = 0; i < m->n_tr; i++) {
		head |= m->tr[i] == TR_CONTAINS || m->tr[i] == TR_ENDSWITH;
		tail |= m->tr[i] == TR_CONTAINS || m->tr[i] == TR_STARTSWITH;
	}
	return head && tail ? SH_CONTAINS : head ? SH_SUFFIX : tail ? SH_PREFIX : SH_EXACT;
}

int sigval_item_new(struct sigval_item **out, int field, const char *mods, size_t mods_len,
		    const struct sigval_input *vals, size_t n, const struct sigval_env *env,
		    struct err *e)
{
	struct sigval_item *it;
	struct mods m;
	int rc;

	*out = NULL;
	if ((rc = parse_mods(&m, mods, mods_len, field, e)) < 0)
		return rc;
	if (m.all && n < 2)
		return err_set(e, -EINVAL, "all: expected a list of at least two values");
	if (m.exists && (n != 1 || vals[0].null ||
			 !(name_is(vals[0].s, vals[0].len, "true") ||
			   name_is(vals[0].s, vals[0].len, "false"))))
		return err_set(e, -EINVAL, "exists: expected true or false");
	it = mem_calloc(1, sizeof(*it));
	if (!it)
		return err_set(e, -ENOMEM, "out of memory");
	it->field = field;
	it->all = m.all;
	it->neq = m.neq;
	it->cmp = m.cmp;
	it->part = m.part;
	it->exists = m.exists;
	it->ref_shape = ref_shape(&m);
	it->ref_cased = m.cased;
	if (m.exists) {
		it->exists_want = name_is(vals[0].s, vals[0].len, "true");
		*out = it;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = compile_value(it, &m, &vals[i], env, e)) < 0)
			goto fail;
	}
	*out = it;
	return 0;
fail:
	sigval_item_free(it);
	return rc;
}

/* ---- matching ---- */


static bool eq_bytes(const char *s, const char *lit, size_t n, bool cased)
{
	if (cased)
		return !memcmp(s, lit, n);
	for (size_t i = 0; i < n; i++)
		if (fold((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

/* Case-insensitive search for nd (lower case) whose first byte has no other case. */
static bool find_uncased(const char *h, size_t hn, const char *nd, size_t nn)
{
	const char *end = h + hn - nn + 1, *p = h;

	while ((p = memchr(p, nd[0], (size_t)(end - p)))) {
		if (eq_bytes(p + 1, nd + 1, nn - 1, false))
			return true;
		if (++p == end)
			break;
	}
	return false;
}

static bool find_bytes(const char *h, size_t hn, const char *nd, size_t nn, bool cased)
{
	if (nn > hn)
		return false;
	if (!nn)
		return true;
	if (cased)
		return memmem(h, hn, nd, nn) != NULL;
	if (nd[0] < 'a' || nd[0] > 'z') /* a first byte without case: memchr finds it */
		return find_uncased(h, hn, nd, nn);
	for (size_t i = 0; i + nn <= hn; i++)
		if (((unsigned char)h[i] | 0x20) == (unsigned char)nd[0] &&
		    eq_bytes(h + i + 1, nd + 1, nn - 1, false))
			return true;
	return false;
}

/* Bytes of the UTF-8 character at s (1 for a stray byte). */
static size_t char_len(const unsigned char *s, size_t n)
{
	size_t k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;

	for (size_t i = 1; i < k; i++)
		if (i >= n || (s[i] & 0xc0) != 0x80)
			return 1;
	return k;
}

static bool glob_match(const uint16_t *p, uint32_t pn, const char *str, size_t n, bool cased)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;

	while (si < n) {
		if (pi < pn) {
			uint16_t c = p[pi];

			if (c == P_STAR) {
				star_p = pi++;
				star_s = si;
				continue;
			}
			if (c == P_ONE) {
				pi++;
				si += char_len(s + si, n - si);
				continue;
			}
			if (c == (cased ? s[si] : fold(s[si]))) {
				pi++;
				si++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p + 1;
		si = ++star_s;
	}
	while (pi < pn && p[pi] == P_STAR)
		pi++;
	return pi == pn;
}

static bool text_match(const struct value *v, const char *s, size_t n)
{
	switch (v->shape) {
	case SH_EXACT:
		return n == v->lit_len && eq_bytes(s, v->lit, n, v->cased);
	case SH_PREFIX:
		return n >= v->lit_len && eq_bytes(s, v->lit, v->lit_len, v->cased);
	case SH_SUFFIX:
		return n >= v->lit_len && eq_bytes(s + n - v->lit_len, v->lit, v->lit_len, v->cased);
	case SH_CONTAINS:
		return find_bytes(s, n, v->lit, v->lit_len, v->cased);
	case SH_ANY:
		return true;
	case SH_GLOB:
		return glob_match(v->pat, v->n, s, n, v->cased);
	}
	return false;
}

static bool number_of(const struct event_value *ev, double *x)
{
	if (field_type(ev->field) == FT_INT) {
		*x = (double)ev->v.i;
		return true;
	}
	return field_type(ev->field) == FT_STR && parse_number(ev->v.s, ev->len, x) == 0;
}

static bool compare(double a, enum cmp op, double b)
{
	switch (op) {
	case CMP_EQ: return a == b;
	case CMP_LT: return a < b;
	case CMP_LTE: return a <= b;
	case CMP_GT: return a > b;
	case CMP_GTE: return a >= b;
	}
	return false;
}

/* ISO 8601 week number of the day `days` after 1970-01-01 (a Thursday). */
static int iso_week(int64_t days)
{
	int64_t wd = ((days + 3) % 7 + 7) % 7; /* Monday 0 */
	int64_t thursday = days - wd + 3;
	int y, mo, d;

	time_civil_from_days(thursday, &y, &mo, &d);
	return (int)((thursday - time_days_from_civil(y, 1, 1)) / 7 + 1);
}

static bool time_part(const struct event_value *ev, enum part part, double *x)
{
	struct civil_time c;
	int64_t ns;
	size_t bad;

	if (field_type(ev->field) == FT_TIME)
		ns = ev->v.i;
	else if (field_type(ev->field) != FT_STR || time_parse_rfc3339(ev->v.s, ev->len, &ns, &bad) < 0)
		return false;
	time_to_civil_utc(ns, &c);
	switch (part) {
	case PART_MINUTE: *x = c.min; break;
	case PART_HOUR: *x = c.hour; break;
	case PART_DAY: *x = c.day; break;
	case PART_MONTH: *x = c.month; break;
	case PART_YEAR: *x = c.year; break;
	case PART_WEEK: {
		int64_t days = ns / NS_PER_SEC / 86400 - (ns < 0 && (ns / NS_PER_SEC) % 86400);

		*x = iso_week(days);
		break;
	}
	case PART_NONE: return false;
	}
	return true;
}

/* Index in ev->vals of field's first value, or ev->n. */
static uint32_t first_of(const struct event *ev, int field)
{
	const struct event_value *v = event_get(ev, (unsigned)field);

	return v ? (uint32_t)(v - ev->vals) : ev->n;
}

static bool ref_match(const struct sigval_item *it, const char *a, size_t an, const char *b,
		      size_t bn)
{
	if (bn > an)
		return false;
	switch (it->ref_shape) {
	case SH_EXACT: return an == bn && (it->ref_cased ? !memcmp(a, b, an) : !strncasecmp(a, b, an));
	case SH_PREFIX: return it->ref_cased ? !memcmp(a, b, bn) : !strncasecmp(a, b, bn);
	case SH_SUFFIX:
		return it->ref_cased ? !memcmp(a + an - bn, b, bn) : !strncasecmp(a + an - bn, b, bn);
	default: break;
	}
	if (it->ref_cased)
		return memmem(a, an, b, bn) != NULL;
	for (size_t i = 0; i + bn <= an; i++)
		if (!strncasecmp(a + i, b, bn))
			return true;
	return false;
}

/* Whether the other field (fieldref) has a value that value text a relates to. */
static bool fieldref_match(const struct sigval_item *it, const struct value *v,
			   const struct event *ev, const char *a, size_t an)
{
	char tmp[EVENT_VALUE_TEXT_MAX];

	for (uint32_t j = first_of(ev, v->ref); j < ev->n; j++) {
		size_t bn;
		const char *b;

		if (ev->vals[j].field != (uint32_t)v->ref)
			continue;
		b = event_value_text(&ev->vals[j], tmp, &bn);
		if (ref_match(it, a, an, b, bn))
			return true;
	}
	return false;
}

static bool one_match(const struct sigval_item *it, const struct value *v,
		      const struct event_value *ev_v, const struct event *ev,
		      struct sigval_scratch *sc)
{
	char tmp[EVENT_VALUE_TEXT_MAX];
	struct ipaddr ip;
	const char *s;
	size_t n;
	double x = 0;

	switch (v->kind) {
	case K_GLOB:
		s = event_value_text(ev_v, tmp, &n);
		return text_match(v, s, n);
	case K_RE:
		s = event_value_text(ev_v, tmp, &n);
		return pcre2_match(v->re, (PCRE2_SPTR)s, n, 0, 0, sc->md, sc->mc) >= 0;
	case K_CIDR:
		if (field_type(ev_v->field) == FT_IP)
			return ipaddr_in_prefix(&ev_v->v.ip, &v->net, v->prefix);
		return field_type(ev_v->field) == FT_STR &&
		       ipaddr_parse(&ip, ev_v->v.s, ev_v->len) == 0 &&
		       ipaddr_in_prefix(&ip, &v->net, v->prefix);
	case K_NUM:
		return number_of(ev_v, &x) && compare(x, it->cmp, v->num);
	case K_TIME:
		return time_part(ev_v, it->part, &x) && compare(x, it->cmp, v->num);
	case K_FIELDREF:
		s = event_value_text(ev_v, tmp, &n);
		return fieldref_match(it, v, ev, s, n);
	case K_NULL:
		return false;
	}
	return false;
}

/*
 * Whether any value of the item's field, from index `first` (its first value, ev->n when
 * absent) on, matches v (null: whether the field is absent).
 */
static bool value_match(const struct sigval_item *it, const struct value *v,
			const struct event *ev, uint32_t first, struct sigval_scratch *sc)
{
	if (v->kind == K_NULL)
		return first == ev->n;
	for (uint32_t j = first; j < ev->n; j++)
		if (ev->vals[j].field == (uint32_t)it->field && one_match(it, v, &ev->vals[j], ev, sc))
			return true;
	return false;
}

/*
 * Keywords: event.original (its values from index `first` on), or when the event has none
 * (first == ev->n) message and every other string value.
 */
static bool keyword_match(const struct value *v, const struct event *ev, uint32_t first)
{
	bool original = first < ev->n;

	for (uint32_t j = original ? first : 0; j < ev->n; j++) {
		const struct event_value *x = &ev->vals[j];

		if (original ? x->field != FIELD_EVENT_ORIGINAL : field_type(x->field) != FT_STR)
			continue;
		if (text_match(v, x->v.s, x->len))
			return true;
	}
	return false;
}

static bool item_value_match(const struct sigval_item *it, const struct value *v,
			     const struct event *ev, uint32_t first, struct sigval_scratch *sc)
{
	return it->field == SIGVAL_KEYWORDS ? keyword_match(v, ev, first)
					    : value_match(it, v, ev, first, sc);
}

/*
 * Where the item's values are looked for, found once for all its values: the keyword text
 * (event.original) or the field's first value; ev->n when absent.
 */
static uint32_t item_first(const struct sigval_item *it, const struct event *ev)
{
	return first_of(ev, it->field == SIGVAL_KEYWORDS ? FIELD_EVENT_ORIGINAL : it->field);
}

/* Whether the item's values match a field the event does not have: only null does. */
static bool absent_match(const struct sigval_item *it)
{
	for (size_t i = 0; i < it->n; i++)
		if ((it->v[i].kind == K_NULL) != it->all)
			return !it->all;
	return it->all;
}

bool sigval_item_match(const struct sigval_item *it, const struct event *ev,
		       struct sigval_scratch *sc)
{
	uint32_t first = item_first(it, ev);
	bool hit;

	if (it->exists)
		return (first < ev->n) == it->exists_want;
	if (first == ev->n && it->field != SIGVAL_KEYWORDS) { /* most items of most rules */
		hit = absent_match(it);
	} else if (it->all) {
		hit = true;
		for (size_t i = 0; i < it->n && hit; i++)
			hit = item_value_match(it, &it->v[i], ev, first, sc);
	} else {
		hit = false;
		for (size_t i = 0; i < it->n && !hit; i++)
			hit = item_value_match(it, &it->v[i], ev, first, sc);
	}
	return it->neq ? !hit : hit;
}

int sigval_item_field(const struct sigval_item *it)
{
	return it->field;
}

size_t sigval_item_needs(const struct sigval_item *it, struct sigval_lit *out, size_t max)
{
	size_t n = 0, best = 0;

	if (it->neq || it->exists || !it->n || !max)
		return 0;
	for (size_t i = 0; i < it->n; i++) {
		const struct value *v = &it->v[i];

		if (v->kind != K_GLOB || !v->best_len)
			return 0;
		if (it->all) { /* every value must occur: the longest one is enough */
			if (v->best_len > it->v[best].best_len)
				best = i;
			continue;
		}
		if (n == max)
			return 0;
		out[n++] = (struct sigval_lit){ v->best, v->best_len, v->cased };
	}
	if (it->all)
		out[n++] = (struct sigval_lit){ it->v[best].best, it->v[best].best_len,
						it->v[best].cased };
	return n;
}

int sigval_scratch_new(struct sigval_scratch **out)
{
	struct sigval_scratch *sc = mem_calloc(1, sizeof(*sc));

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	sc->md = pcre2_match_data_create(1, NULL);
	sc->mc = pcre2_match_context_create(NULL);
	if (!sc->md || !sc->mc) {
		sigval_scratch_free(sc);
		return -ENOMEM;
	}
	if (pcre2_set_match_limit(sc->mc, RE_MATCH_LIMIT) < 0) {
		sigval_scratch_free(sc);
		return -EINVAL;
	}
	*out = sc;
	return 0;
}

void sigval_scratch_free(struct sigval_scratch *sc)
{
	if (!sc)
		return;
	pcre2_match_data_free(sc->md);
	pcre2_match_context_free(sc->mc);
	mem_free(sc);
}
