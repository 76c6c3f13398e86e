#include "detect/sigcond.h"
#include "core/compat.h"

#include <strings.h>

#include "core/err.h"
#include "core/mem.h"

enum tok { T_END, T_WORD, T_LPAREN, T_RPAREN, T_PIPE, T_BAD };

struct parser {
	struct sigcond *c;
	const char *s;
	size_t len, pos;
	enum tok tok;        /* the current token */
	size_t tpos, tlen;   /* where it is */
	const char *const *names;
	size_t n_names;
	unsigned depth;
	struct err *e;
};

static bool word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-' || ch == '*';
}

static void next(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
	p->tpos = p->pos;
	p->tlen = 1;
	if (p->pos >= p->len) {
		p->tok = T_END;
		p->tlen = 0;
		return;
	}
	switch (p->s[p->pos]) {
	case '(': p->tok = T_LPAREN; p->pos++; return;
	case ')': p->tok = T_RPAREN; p->pos++; return;
	case '|': p->tok = T_PIPE; p->pos++; return;
	}
	if (!word_char(p->s[p->pos])) {
		p->tok = T_BAD;
		return;
	}
	while (p->pos < p->len && word_char(p->s[p->pos]))
		p->pos++;
	p->tok = T_WORD;
	p->tlen = p->pos - p->tpos;
}

static bool is_kw(const struct parser *p, const char *kw)
{
	return p->tok == T_WORD && p->tlen == strlen(kw) &&
	       !strncasecmp(p->s + p->tpos, kw, p->tlen);
}

static int expected(struct parser *p, const char *what)
{
	char found[48];

	switch (p->tok) {
	case T_END: snprintf(found, sizeof(found), "the end"); break;
	case T_PIPE:
		return err_set(p->e, -EINVAL, "column %zu: aggregations (`| count() ...`, Sigma 1) "
			       "are not supported: write a correlation rule", p->tpos + 1);
	default:
		snprintf(found, sizeof(found), "'%.*s'", (int)MIN(p->tlen, 32), p->s + p->tpos);
	}
	return err_set(p->e, -EINVAL, "column %zu: expected %s, found %s", p->tpos + 1, what,
		       found);
}

static int add_node(struct parser *p, enum sigcond_op op, uint32_t a, uint32_t b, uint32_t arg,
		    uint32_t n)
{
	struct sigcond *c = p->c;

	if (c->n_nodes >= SIGCOND_NODES_MAX)
		return err_set(p->e, -EINVAL, "column %zu: expected at most %d operators and "
			       "identifiers", p->tpos + 1, SIGCOND_NODES_MAX);
	if (c->n_nodes == c->cap_nodes) {
		uint32_t cap = c->cap_nodes ? c->cap_nodes * 2 : 16;
		struct sigcond_node *nn = mem_realloc(c->nodes, cap * sizeof(*nn));

		if (!nn)
			return err_set(p->e, -ENOMEM, "out of memory");
		c->nodes = nn;
		c->cap_nodes = cap;
	}
	c->nodes[c->n_nodes] = (struct sigcond_node){ op, a, b, arg, n };
	return (int)c->n_nodes++;
}

static int add_to_set(struct parser *p, uint32_t ident)
{
	struct sigcond *c = p->c;

	if (c->n_set == c->cap_set) {
		uint32_t cap = c->cap_set ? c->cap_set * 2 : 16;
		uint32_t *ns = mem_realloc(c->set, cap * sizeof(*ns));

		if (!ns)
			return err_set(p->e, -ENOMEM, "out of memory");
		c->set = ns;
		c->cap_set = cap;
	}
	c->set[c->n_set++] = ident;
	return 0;
}

/* Whether name matches pat[0..len), where '*' is any run of characters (a full match). */
static bool pattern_match(const char *pat, size_t len, const char *name)
{
	size_t p = 0, star = SIZE_MAX, mark = 0;
	const char *n = name;

	while (*n) {
		if (p < len && pat[p] == '*') {
			star = p++;
			mark = (size_t)(n - name);
		} else if (p < len && pat[p] == *n) {
			p++;
			n++;
		} else if (star != SIZE_MAX) {
			p = star + 1;
			n = name + ++mark;
		} else {
			return false;
		}
	}
	while (p < len && pat[p] == '*')
		p++;
	return p == len;
}

/* `1 of X`, `any of X`, `all of X`: the current token is the quantifier. */
static int parse_selector(struct parser *p, bool all)
{
	uint32_t first = p->c->n_set;
	bool them;
	int rc;

	next(p);
	if (!is_kw(p, "of"))
		return expected(p, "'of'");
	next(p);
	if (p->tok != T_WORD)
		return expected(p, "a search identifier pattern or 'them'");
	them = is_kw(p, "them");
	for (size_t i = 0; i < p->n_names; i++) {
		bool hit = them ? p->names[i][0] != '_'
				: pattern_match(p->s + p->tpos, p->tlen, p->names[i]);

		if (hit && (rc = add_to_set(p, (uint32_t)i)) < 0)
			return rc;
	}
	if (p->c->n_set == first)
		return err_set(p->e, -EINVAL, "column %zu: '%.*s' matches no search identifier",
			       p->tpos + 1, (int)MIN(p->tlen, 64), p->s + p->tpos);
	next(p);
	return add_node(p, all ? SIGCOND_ALL_OF : SIGCOND_ANY_OF, 0, 0, first,
			p->c->n_set - first);
}

static int parse_or(struct parser *p);

static int parse_primary(struct parser *p)
{
	int rc;

	if (p->tok == T_LPAREN) {
		next(p);
		if ((rc = parse_or(p)) < 0)
			return rc;
		if (p->tok != T_RPAREN)
			return expected(p, "')'");
		next(p);
		return rc;
	}
	if (p->tok != T_WORD || is_kw(p, "and") || is_kw(p, "or") || is_kw(p, "of") ||
	    is_kw(p, "them"))
		return expected(p, "a search identifier, 'not', '(' or 'x of'");
	if (is_kw(p, "1") || is_kw(p, "any") || is_kw(p, "all"))
		return parse_selector(p, is_kw(p, "all"));
	for (size_t i = 0; i < p->n_names; i++) {
		if (strlen(p->names[i]) == p->tlen && !memcmp(p->names[i], p->s + p->tpos, p->tlen)) {
			next(p);
			return add_node(p, SIGCOND_IDENT, 0, 0, (uint32_t)i, 0);
		}
	}
	if (memchr(p->s + p->tpos, '*', p->tlen))
		return err_set(p->e, -EINVAL, "column %zu: a pattern ('%.*s') needs '1 of' or "
			       "'all of' before it", p->tpos + 1, (int)MIN(p->tlen, 64),
			       p->s + p->tpos);
	return err_set(p->e, -EINVAL, "column %zu: '%.*s' is not a search identifier of the "
		       "detection", p->tpos + 1, (int)MIN(p->tlen, 64), p->s + p->tpos);
}

static int parse_not(struct parser *p)
{
	int rc;

	if (++p->depth > SIGCOND_DEPTH_MAX)
		return err_set(p->e, -EINVAL, "column %zu: expected at most %d nested levels",
			       p->tpos + 1, SIGCOND_DEPTH_MAX);
	if (is_kw(p, "not")) {
		next(p);
		rc = parse_not(p);
		if (rc >= 0)
			rc = add_node(p, SIGCOND_NOT, (uint32_t)rc, 0, 0, 0);
	} else {
		rc = parse_primary(p);
	}
	p->depth--;
	return rc;
}

/* Left-associative binary level: `and` over parse_not, or `or` over parse_and. */
static int parse_binary(struct parser *p, const char *kw, enum sigcond_op op,
			int (*operand)(struct parser *))
{
	int left = operand(p), right;

	while (left >= 0 && is_kw(p, kw)) {
		next(p);
		if ((right = operand(p)) < 0)
			return right;
		left = add_node(p, op, (uint32_t)left, (uint32_t)right, 0, 0);
	}
	return left;
}

static int parse_and(struct parser *p)
{
	return parse_binary(p, "and", SIGCOND_AND, parse_not);
}

static int parse_or(struct parser *p)
{
	int rc;

	if (++p->depth > SIGCOND_DEPTH_MAX)
		return err_set(p->e, -EINVAL, "column %zu: expected at most %d nested levels",
			       p->tpos + 1, SIGCOND_DEPTH_MAX);
	rc = parse_binary(p, "or", SIGCOND_OR, parse_and);
	p->depth--;
	return rc;
}

int sigcond_parse(struct sigcond *c, const char *text, size_t len, const char *const *names,
		  size_t n_names, struct err *e)
{
	struct parser p = { .c = c, .s = text, .len = len, .names = names, .n_names = n_names,
			    .e = e };
	int rc;

	memset(c, 0, sizeof(*c));
	if (len > SIGCOND_TEXT_MAX) {
		rc = err_set(e, -EINVAL, "expected a condition of at most %d bytes",
			     SIGCOND_TEXT_MAX);
		goto fail;
	}
	next(&p);
	if ((rc = parse_or(&p)) < 0)
		goto fail;
	if (p.tok != T_END) {
		rc = expected(&p, "'and', 'or' or the end");
		goto fail;
	}
	c->root = (uint32_t)rc;
	return 0;
fail:
	sigcond_release(c);
	return rc;
}

void sigcond_release(struct sigcond *c)
{
	mem_free(c->nodes);
	mem_free(c->set);
	memset(c, 0, sizeof(*c));
}

static bool eval_node(const struct sigcond *c, uint32_t i, bool (*ident)(void *, uint32_t),
		      void *ctx)
{
	const struct sigcond_node *n = &c->nodes[i];

	switch (n->op) {
	case SIGCOND_IDENT:
		return ident(ctx, n->arg);
	case SIGCOND_NOT:
		return !eval_node(c, n->a, ident, ctx);
	case SIGCOND_AND:
		return eval_node(c, n->a, ident, ctx) && eval_node(c, n->b, ident, ctx);
	case SIGCOND_OR:
		return eval_node(c, n->a, ident, ctx) || eval_node(c, n->b, ident, ctx);
	case SIGCOND_ANY_OF:
		for (uint32_t k = 0; k < n->n; k++)
			if (ident(ctx, c->set[n->arg + k]))
				return true;
		return false;
	case SIGCOND_ALL_OF:
		for (uint32_t k = 0; k < n->n; k++)
			if (!ident(ctx, c->set[n->arg + k]))
				return false;
		return true;
	}
	return false;
}

bool sigcond_eval(const struct sigcond *c, bool (*ident)(void *ctx, uint32_t i), void *ctx)
{
	return eval_node(c, c->root, ident, ctx);
}
