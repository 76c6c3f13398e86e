#include "store/query.h"
#include "core/compat.h"

#include <ctype.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

/*
 * A recursive-descent parser over the text. Lexing depends on context (a value after
 * `field:` may hold ':' as in IPv6 addresses and times), so the parser reads characters
 * itself through a few helpers instead of a separate token stream.
 */
struct parser {
	const char *s;
	size_t len, pos;
	struct arena *a;
	struct err *e;
	unsigned depth;
};

/* What a word stops at: in a value, ':' '<' '>' '=' are ordinary characters. */
enum word_mode { WORD_TERM, WORD_VALUE, WORD_NAME };

struct word {
	char *text;     /* unescaped (wildcards: \*, \? and \\ kept escaped) */
	size_t start;   /* offset in the query */
	bool escaped;   /* had a backslash: never a keyword */
	bool wildcard;  /* an unescaped * or ? */
	bool name;      /* each unescaped byte may stand in a field name (is_name_byte) */
};

static unsigned column_of(const struct parser *p, size_t pos)
{
	unsigned col = 1;

	for (size_t i = 0; i < pos && i < p->len; i++)
		col += ((unsigned char)p->s[i] & 0xc0) != 0x80; /* characters, not bytes */
	return col;
}

static int fail_at(struct parser *p, size_t pos, const char *what)
{
	return err_set(p->e, -EINVAL, "column %u: expected %s", column_of(p, pos), what);
}

static int no_memory(struct parser *p)
{
	return err_set(p->e, -ENOMEM, "query: out of memory");
}

static bool at_end(const struct parser *p)
{
	return p->pos >= p->len;
}

static char cur(const struct parser *p)
{
	return at_end(p) ? '\0' : p->s[p->pos];
}

static void skip_ws(struct parser *p)
{
	while (!at_end(p) && (cur(p) == ' ' || cur(p) == '\t' || cur(p) == '\n' || cur(p) == '\r'))
		p->pos++;
}

static bool stops_word(char c, enum word_mode mode)
{
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' || c == '|' ||
	    c == '"')
		return true;
	if (mode == WORD_NAME)
		return c == ',' || c == ':' || c == '<' || c == '>' || c == '=';
	/* `seq=5` is a word (raw logs are full of key=value); `x = 1` is still an error */
	return mode == WORD_TERM && (c == ':' || c == '<' || c == '>');
}

/*
 * Where the word or phrase body from pos ends: before a byte that stops it, a backslash
 * taking the byte after it along. Its text is never longer than the bytes it spans, so that
 * is what is allocated for it (not the rest of the query: a query of a thousand addresses
 * asked megabytes of its arena).
 */
static size_t span_end(const struct parser *p, size_t pos, enum word_mode mode, bool phrase)
{
	while (pos < p->len && (phrase ? p->s[pos] != '"' : !stops_word(p->s[pos], mode)))
		pos += p->s[pos] == '\\' && pos + 1 < p->len ? 2 : 1;
	return pos;
}

/*
 * A byte a field name may hold unescaped: ASCII letters, digits, '.', '_', '@' and '-', as
 * in ECS and vendor names, and those of UTF-8 characters, as in a JSON key in Japanese
 * (stored as the key was written). Any other (a space, ':', '*') a name holds escaped.
 */
static bool is_name_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '@' || c == '-' || (unsigned char)c >= 0x80;
}

/* A byte a sort key may hold unescaped: a name's, and a result column's parentheses. */
static bool is_sort_byte(char c)
{
	return is_name_byte(c) || c == '(' || c == ')';
}

/* Reads a word at pos (possibly empty); -ENOMEM only. */
static int read_word(struct parser *p, enum word_mode mode, struct word *w)
{
	size_t start = p->pos, n = 0;
	char *out;

	w->start = start;
	w->escaped = w->wildcard = false;
	w->name = true;
	/* + 2: a lone backslash at the end comes out as two (kept for the wildcard matcher) */
	out = arena_alloc(p->a, span_end(p, start, mode, false) - start + 2);
	if (!out)
		return no_memory(p);
	while (!at_end(p) && !stops_word(cur(p), mode)) {
		char c = p->s[p->pos++];

		if (c == '\\') {
			char next = at_end(p) ? '\\' : p->s[p->pos++]; /* a last \ is itself */

			w->escaped = true;
			if (next == '*' || next == '?' || next == '\\')
				out[n++] = '\\'; /* kept for the wildcard matcher; dropped below */
			out[n++] = next;
			continue;
		}
		if (c == '*' || c == '?')
			w->wildcard = true;
		w->name = w->name && is_name_byte(c);
		out[n++] = c;
	}
	out[n] = '\0';
	if (!w->wildcard) { /* no wildcard: the kept escapes go too */
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if (out[i] == '\\' && i + 1 < n)
				i++;
			out[k++] = out[i];
		}
		out[k] = '\0';
	}
	w->text = out;
	return 0;
}

/* A word that names a field: not empty, each byte a name's or escaped (no wildcard). */
static bool is_field_name(const struct word *w)
{
	return w->text[0] && w->name;
}

static bool is_keyword(const struct word *w, const char *kw)
{
	return !w->escaped && !strcasecmp(w->text, kw);
}

/* True (consumed) when the next word is the keyword kw. */
static int take_keyword(struct parser *p, const char *kw, bool *taken)
{
	size_t save;
	struct word w;
	int rc;

	skip_ws(p);
	save = p->pos;
	if ((rc = read_word(p, WORD_TERM, &w)))
		return rc;
	*taken = is_keyword(&w, kw);
	if (!*taken)
		p->pos = save;
	return 0;
}

/* A "quoted phrase" at pos; \" and \\ escape. */
static int read_phrase(struct parser *p, char **text)
{
	size_t start = p->pos, n = 0;
	char *out = arena_alloc(p->a, span_end(p, start + 1, WORD_TERM, true) - start);

	if (!out)
		return no_memory(p);
	p->pos++; /* the opening quote */
	while (!at_end(p) && cur(p) != '"') {
		char c = p->s[p->pos++];

		if (c == '\\' && !at_end(p))
			c = p->s[p->pos++];
		out[n++] = c;
	}
	if (at_end(p))
		return fail_at(p, start, "a closing '\"' for this phrase");
	p->pos++;
	out[n] = '\0';
	*text = out;
	return 0;
}

static struct query_node *node_new(struct parser *p, enum query_node_kind kind, size_t pos)
{
	struct query_node *n = arena_alloc(p->a, sizeof(*n));

	if (n) {
		memset(n, 0, sizeof(*n));
		n->kind = kind;
		n->column = column_of(p, pos);
	}
	return n;
}

static int binary(struct parser *p, enum query_node_kind kind, struct query_node **left,
		  struct query_node *right)
{
	struct query_node *n = node_new(p, kind, 0);

	if (!n)
		return no_memory(p);
	n->column = (*left)->column;
	n->left = *left;
	n->right = right;
	*left = n;
	return 0;
}

static int enter(struct parser *p)
{
	if (++p->depth > QUERY_MAX_DEPTH)
		return err_set(p->e, -E2BIG, "column %u: more than %d nested groups",
			       column_of(p, p->pos), QUERY_MAX_DEPTH);
	return 0;
}

/* Other query languages' `||` where a pipe cannot start: an error naming its column. */
static int refuse_or_or(struct parser *p)
{
	if (p->len - p->pos >= 2 && cur(p) == '|' && p->s[p->pos + 1] == '|')
		return fail_at(p, p->pos, "'or' ('||' is written or; '|' starts a pipe)");
	return 0;
}

/* And their `&&` (unescaped): not a search for the word, wherever a word may stand. */
static int refuse_and_and(struct parser *p, const struct word *w, size_t pos)
{
	return is_keyword(w, "&&") ? fail_at(p, pos, "'and' ('&&' is written and)") : 0;
}

static int expect_close(struct parser *p, size_t open)
{
	int rc;

	skip_ws(p);
	if ((rc = refuse_or_or(p)))
		return rc;
	if (cur(p) != ')')
		return at_end(p) ? fail_at(p, open, "a ')' closing this '('")
				 : fail_at(p, p->pos, "')' or an operator");
	p->pos++;
	p->depth--;
	return 0;
}

/* ---- values after `field:` ---- */

/*
 * The boolean grammar, shared by the filter (field NULL: its operands are terms, fields and
 * groups) and by a field's value group `field: (a or b)` (its operands are values of field).
 */
static int expr_or(struct parser *p, const char *field, struct query_node **out);
static int value_word(struct parser *p, const char *field, size_t pos, struct query_node **out);
static int term_word(struct parser *p, size_t pos, struct query_node **out);

static int match_node(struct parser *p, const char *field, char *value,
		      enum query_value_kind kind, size_t pos, struct query_node **out)
{
	struct query_node *n = node_new(p, QUERY_MATCH, pos);

	if (!n)
		return no_memory(p);
	n->field = field;
	n->value = value;
	n->value_kind = kind;
	*out = n;
	return 0;
}

/* A word after `field:` (or inside its value group). */
static int value_word(struct parser *p, const char *field, size_t pos, struct query_node **out)
{
	struct word w;
	int rc;

	if ((rc = read_word(p, WORD_VALUE, &w)))
		return rc;
	if (!w.text[0] || is_keyword(&w, "and") || is_keyword(&w, "or"))
		return fail_at(p, pos, "a value");
	if ((rc = refuse_and_and(p, &w, pos)))
		return rc;
	if (!strcmp(w.text, "*")) { /* field: * is field exists */
		struct query_node *n = node_new(p, QUERY_EXISTS, pos);

		if (!n)
			return no_memory(p);
		n->field = field;
		*out = n;
		return 0;
	}
	return match_node(p, field, w.text, w.wildcard ? QUERY_WILDCARD : QUERY_WORD, pos, out);
}

/* A group, a phrase, or a word: of the filter (field NULL) or of field's values. */
static int expr_primary(struct parser *p, const char *field, struct query_node **out)
{
	size_t pos;
	char *text;
	int rc;

	skip_ws(p);
	pos = p->pos;
	if (cur(p) == '(') {
		p->pos++;
		if ((rc = enter(p)) || (rc = expr_or(p, field, out)))
			return rc;
		return expect_close(p, pos);
	}
	if (cur(p) == '"') {
		if ((rc = read_phrase(p, &text)))
			return rc;
		return match_node(p, field, text, QUERY_PHRASE, pos, out);
	}
	return field ? value_word(p, field, pos, out) : term_word(p, pos, out);
}

static int expr_not(struct parser *p, const char *field, struct query_node **out)
{
	size_t pos;
	bool neg;
	int rc;

	skip_ws(p);
	pos = p->pos;
	if ((rc = take_keyword(p, "not", &neg)))
		return rc;
	if (!neg)
		return expr_primary(p, field, out);
	if ((rc = enter(p)))
		return rc;
	*out = node_new(p, QUERY_NOT, pos);
	if (!*out)
		return no_memory(p);
	rc = expr_not(p, field, &(*out)->left);
	p->depth--;
	return rc;
}

/*
 * The operands of one `and` (or `or`) chain as a balanced tree, so that `a b c ...` of 30,000
 * words nests about 30 deep, not 30,000 (every walk of the tree recurses: compile, match,
 * format). Subtrees of equal height are joined as operands arrive, like the carries of a
 * binary counter; the order of the operands (and of their evaluation) stays as written.
 */
struct chain {
	struct query_node *t[64];
	unsigned h[64]; /* t[i]'s height; strictly falling from the bottom of the stack */
	unsigned n;
};

static int chain_add(struct parser *p, struct chain *c, enum query_node_kind kind,
		     struct query_node *x)
{
	int rc = 0;

	c->t[c->n] = x;
	c->h[c->n++] = 0;
	while (!rc && c->n >= 2 && c->h[c->n - 1] == c->h[c->n - 2]) {
		rc = binary(p, kind, &c->t[c->n - 2], c->t[c->n - 1]);
		c->h[c->n - 2]++;
		c->n--;
	}
	return rc;
}

/* The whole chain into *out (its first operand when it has one only). */
static int chain_end(struct parser *p, struct chain *c, enum query_node_kind kind,
		     struct query_node **out)
{
	int rc = 0;

	*out = c->t[0];
	for (unsigned i = 1; i < c->n && !rc; i++)
		rc = binary(p, kind, out, c->t[i]);
	return rc;
}

/* Whether a further operand follows (not ')' '|' or the end). */
static bool more_operands(struct parser *p)
{
	skip_ws(p);
	return !at_end(p) && cur(p) != ')' && cur(p) != '|';
}

/* Operands side by side, with or without `and`, up to an `or`. */
static int expr_and(struct parser *p, const char *field, struct query_node **out)
{
	struct chain c = { .n = 0 };
	struct query_node *x;
	int rc = expr_not(p, field, &x);
	bool kw;

	if (!rc)
		rc = chain_add(p, &c, QUERY_AND, x);
	while (!rc && more_operands(p)) {
		size_t save = p->pos;

		if ((rc = take_keyword(p, "or", &kw)))
			break;
		if (kw) {
			p->pos = save;
			break;
		}
		if ((rc = take_keyword(p, "and", &kw)) || (rc = expr_not(p, field, &x)))
			break;
		rc = chain_add(p, &c, QUERY_AND, x);
	}
	return rc ? rc : chain_end(p, &c, QUERY_AND, out);
}

static int expr_or(struct parser *p, const char *field, struct query_node **out)
{
	struct chain c = { .n = 0 };
	struct query_node *x;
	int rc = expr_and(p, field, &x);
	bool kw = true;

	if (!rc)
		rc = chain_add(p, &c, QUERY_OR, x);
	while (!rc && kw) {
		if ((rc = take_keyword(p, "or", &kw)) || !kw)
			break;
		if (!(rc = expr_and(p, field, &x)))
			rc = chain_add(p, &c, QUERY_OR, x);
	}
	return rc ? rc : chain_end(p, &c, QUERY_OR, out);
}

/* ---- the filter ---- */


static int range_node(struct parser *p, const char *field, size_t pos, struct query_node **out)
{
	struct query_node *n = node_new(p, QUERY_RANGE, pos);
	size_t vpos;
	struct word w;
	int rc;

	if (!n)
		return no_memory(p);
	n->op = cur(p) == '>' ? QUERY_GT : QUERY_LT;
	p->pos++;
	if (cur(p) == '=') {
		n->op = n->op == QUERY_GT ? QUERY_GE : QUERY_LE;
		p->pos++;
	}
	skip_ws(p);
	vpos = p->pos;
	if (cur(p) == '"') {
		char *text;

		if ((rc = read_phrase(p, &text)))
			return rc;
		w.text = text;
	} else if ((rc = read_word(p, WORD_VALUE, &w))) {
		return rc;
	}
	if (!w.text[0])
		return fail_at(p, vpos, "a number or a time after the comparison");
	n->column = column_of(p, vpos); /* a value of the wrong type is named where it is */
	n->field = field;
	n->value = w.text;
	n->value_kind = QUERY_WORD;
	*out = n;
	return 0;
}

static int field_expression(struct parser *p, struct word *field, struct query_node **out)
{
	int rc;

	skip_ws(p);
	if (cur(p) == '<' || cur(p) == '>')
		return range_node(p, field->text, field->start, out);
	p->pos++; /* ':' */
	if (is_keyword(field, "_exists_")) {
		struct word name;

		skip_ws(p);
		if ((rc = read_word(p, WORD_NAME, &name)))
			return rc;
		if (!is_field_name(&name))
			return fail_at(p, name.start, "a field name after '_exists_:'");
		*out = node_new(p, QUERY_EXISTS, field->start);
		if (!*out)
			return no_memory(p);
		(*out)->field = name.text;
		return 0;
	}
	skip_ws(p);
	if (at_end(p) || cur(p) == ')' || cur(p) == '|') {
		char what[96];

		snprintf(what, sizeof(what), "a value after '%.64s:'", field->text);
		return fail_at(p, p->pos, what);
	}
	return expr_not(p, field->text, out);
}

/* A word of the filter: a term for full text, `*`, or the field of a field expression. */
static int term_word(struct parser *p, size_t pos, struct query_node **out)
{
	struct word w;
	int rc;

	if ((rc = read_word(p, WORD_TERM, &w)))
		return rc;
	if (!w.text[0] || is_keyword(&w, "and") || is_keyword(&w, "or"))
		return fail_at(p, pos, "a term, a field or '('");
	if ((rc = refuse_and_and(p, &w, pos)))
		return rc;
	skip_ws(p);
	if ((cur(p) == ':' || cur(p) == '<' || cur(p) == '>') && !is_field_name(&w))
		return fail_at(p, pos, "a field name (letters, digits, '.', '_', '@', '-', "
				       "non-ASCII; any other character after '\\') before ':' or a "
				       "comparison");
	if (cur(p) == ':' || cur(p) == '<' || cur(p) == '>')
		return field_expression(p, &w, out);
	if (cur(p) == '=')
		return fail_at(p, p->pos, "':' (field: value) or a comparison (>, >=, <, <=)");
	if (!strcmp(w.text, "*")) {
		*out = node_new(p, QUERY_ALL, pos);
		return *out ? 0 : no_memory(p);
	}
	return match_node(p, NULL, w.text, w.wildcard ? QUERY_WILDCARD : QUERY_WORD, pos, out);
}

/* ---- pipes ---- */

static const char *const agg_names[] = {
	[QUERY_COUNT] = "count", [QUERY_DC] = "dc",   [QUERY_SUM] = "sum",
	[QUERY_AVG] = "avg",     [QUERY_MIN] = "min", [QUERY_MAX] = "max",
};

static int read_name(struct parser *p, const char *what, const char **name)
{
	struct word w;
	int rc;

	skip_ws(p);
	if ((rc = read_word(p, WORD_NAME, &w)))
		return rc;
	if (!is_field_name(&w))
		return fail_at(p, w.start, what);
	*name = w.text;
	return 0;
}

/* NAME[, NAME...] into names (QUERY_MAX_ITEMS at most). */
static int name_list(struct parser *p, const char **names, size_t *n)
{
	int rc;

	do {
		if (*n == QUERY_MAX_ITEMS)
			return err_set(p->e, -E2BIG, "column %u: more than %d names",
				       column_of(p, p->pos), QUERY_MAX_ITEMS);
		if ((rc = read_name(p, "a field name", &names[(*n)++])))
			return rc;
		skip_ws(p);
	} while (cur(p) == ',' && ++p->pos);
	return 0;
}

static int parse_agg(struct parser *p, struct query_agg *agg)
{
	const char *fn;
	size_t pos, k;
	int rc;

	skip_ws(p);
	pos = p->pos;
	if ((rc = read_name(p, "an aggregation: count(), dc(f), sum(f), avg(f), min(f) or max(f)",
			    &fn)))
		return rc;
	for (k = 0; k < ARRAY_SIZE(agg_names) && strcasecmp(fn, agg_names[k]); k++)
		;
	if (k == ARRAY_SIZE(agg_names))
		return fail_at(p, pos, "an aggregation: count(), dc(f), sum(f), avg(f), min(f) or "
				       "max(f)");
	agg->kind = (enum query_agg_kind)k;
	skip_ws(p);
	if (cur(p) != '(')
		return fail_at(p, p->pos, "'(' after the aggregation");
	p->pos++;
	agg->field = NULL;
	skip_ws(p);
	if (agg->kind != QUERY_COUNT && (rc = read_name(p, "a field name", &agg->field)))
		return rc;
	skip_ws(p);
	if (cur(p) != ')')
		return fail_at(p, p->pos, agg->kind == QUERY_COUNT ? "')' (count takes no field)"
								  : "')'");
	p->pos++;
	if (!agg->field) {
		agg->name = agg_names[QUERY_COUNT];
		return 0;
	}
	agg->name = arena_alloc(p->a, strlen(agg->field) + 8);
	if (!agg->name)
		return no_memory(p);
	snprintf((char *)agg->name, strlen(agg->field) + 8, "%s(%s)", agg_names[agg->kind],
		 agg->field);
	return 0;
}

static int agg_list(struct parser *p, struct query_pipe *pipe)
{
	int rc;

	do {
		if (pipe->n_aggs == QUERY_MAX_ITEMS)
			return err_set(p->e, -E2BIG, "column %u: more than %d aggregations",
				       column_of(p, p->pos), QUERY_MAX_ITEMS);
		if ((rc = parse_agg(p, &pipe->aggs[pipe->n_aggs++])))
			return rc;
		skip_ws(p);
	} while (cur(p) == ',' && ++p->pos);
	return 0;
}

static int by_list(struct parser *p, struct query_pipe *pipe, size_t max)
{
	bool by;
	int rc;

	if ((rc = take_keyword(p, "by", &by)) || !by)
		return rc;
	if ((rc = name_list(p, pipe->names, &pipe->n_names)))
		return rc;
	if (pipe->n_names > max)
		return fail_at(p, p->pos, "one field after 'by' (timechart splits by one field)");
	return 0;
}

static int parse_span(struct parser *p, struct query_pipe *pipe)
{
	static const struct { char unit; int64_t ns; } units[] = {
		{ 's', 1000000000LL }, { 'm', 60000000000LL }, { 'h', 3600000000000LL },
		{ 'd', 86400000000000LL }, { 'w', QUERY_WEEK_NS },
	};
	size_t pos;
	uint64_t n = 0;

	skip_ws(p);
	pos = p->pos;
	if (p->len - p->pos < 5 || strncasecmp(p->s + p->pos, "span=", 5))
		return fail_at(p, pos, "span=N followed by s, m, h, d or w (span=1h)");
	p->pos += 5;
	while (cur(p) >= '0' && cur(p) <= '9' && n < 1000000)
		n = n * 10 + (uint64_t)(p->s[p->pos++] - '0');
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (n && n <= (uint64_t)(QUERY_SPAN_MAX_NS / units[i].ns) && cur(p) == units[i].unit) {
			p->pos++;
			pipe->span_ns = (int64_t)n * units[i].ns;
			return 0;
		}
	return fail_at(p, pos, "span=N followed by s, m, h, d or w (span=1h)");
}

static int parse_head(struct parser *p, struct query_pipe *pipe)
{
	size_t pos;
	bool digits = false;

	skip_ws(p);
	pos = p->pos;
	pipe->head = 0;
	while (cur(p) >= '0' && cur(p) <= '9') {
		if (pipe->head > (UINT64_MAX - 9) / 10)
			return fail_at(p, pos, "a smaller number after 'head'");
		pipe->head = pipe->head * 10 + (uint64_t)(p->s[p->pos++] - '0');
		digits = true;
	}
	return digits ? 0 : fail_at(p, pos, "a number after 'head'");
}

static int parse_sort(struct parser *p, struct query_pipe *pipe)
{
	skip_ws(p);
	pipe->descending = cur(p) == '-';
	if (pipe->descending)
		p->pos++;
	else if (cur(p) == '+')
		p->pos++;
	/*
	 * A result column like dc(user.name) is a name too: read up to space or '|', escapes
	 * taking the byte after them as in field names.
	 */
	skip_ws(p);
	{
		size_t start = p->pos, n = 0;
		char *key;

		while (!at_end(p) &&
		       (is_sort_byte(cur(p)) || (cur(p) == '\\' && p->pos + 1 < p->len)))
			p->pos += cur(p) == '\\' ? 2 : 1;
		if (p->pos == start || p->s[start] == '-')
			return fail_at(p, start, "a field or result column after 'sort'");
		pipe->key_column = column_of(p, start);
		if (!(key = arena_alloc(p->a, p->pos - start + 1)))
			return no_memory(p);
		for (size_t i = start; i < p->pos; i++)
			key[n++] = p->s[i] == '\\' ? p->s[++i] : p->s[i];
		key[n] = '\0';
		pipe->sort_key = key;
	}
	return 0;
}

static int parse_pipe(struct parser *p, struct query_pipe *pipe)
{
	const char *cmd;
	size_t pos;
	int rc;

	if (!at_end(p) && cur(p) == '|') /* "||" of other query languages */
		return fail_at(p, p->pos - 1, "'or' ('||' is written or; '|' starts a pipe)");
	skip_ws(p);
	pos = p->pos;
	memset(pipe, 0, sizeof(*pipe));
	pipe->column = column_of(p, pos);
	if ((rc = read_name(p, "a command after '|': stats, sort, head, fields or timechart", &cmd)))
		return rc;
	if (!strcasecmp(cmd, "stats")) {
		pipe->kind = QUERY_STATS;
		if (!(rc = agg_list(p, pipe)))
			rc = by_list(p, pipe, QUERY_MAX_ITEMS);
	} else if (!strcasecmp(cmd, "timechart")) {
		pipe->kind = QUERY_TIMECHART;
		if (!(rc = parse_span(p, pipe)) && !(rc = agg_list(p, pipe)))
			rc = by_list(p, pipe, 1);
	} else if (!strcasecmp(cmd, "sort")) {
		pipe->kind = QUERY_SORT;
		rc = parse_sort(p, pipe);
	} else if (!strcasecmp(cmd, "head")) {
		pipe->kind = QUERY_HEAD;
		rc = parse_head(p, pipe);
	} else if (!strcasecmp(cmd, "fields")) {
		pipe->kind = QUERY_FIELDS;
		rc = name_list(p, pipe->names, &pipe->n_names);
	} else {
		return fail_at(p, pos, "a command after '|': stats, sort, head, fields or timechart");
	}
	if (rc)
		return rc;
	skip_ws(p);
	return at_end(p) || cur(p) == '|' ? 0 : fail_at(p, p->pos, "'|' or the end of the query");
}

static int parse_pipes(struct parser *p, struct query *q)
{
	size_t n = 0;
	int rc;

	for (size_t i = p->pos; i < p->len; i++)
		n += p->s[i] == '|';
	q->pipes = arena_alloc(p->a, (n ? n : 1) * sizeof(*q->pipes));
	if (!q->pipes)
		return no_memory(p);
	while (!at_end(p) && cur(p) == '|') {
		p->pos++;
		if ((rc = parse_pipe(p, &q->pipes[q->n_pipes++])))
			return rc;
	}
	return 0;
}

/*
 * How deep the canonical form of n nests (query_format): each `not` and each chain of
 * another operator than the one it is an operand of (in) opens a level, as the parser
 * counts them. `a and b or c` nests twice once written out, `(a and b) or c`, so a query
 * within the parser's depth may format deeper than it.
 */
static unsigned canonical_depth(const struct query_node *n, enum query_node_kind in)
{
	unsigned l, r;

	switch (n->kind) {
	case QUERY_NOT:
		return 1 + canonical_depth(n->left, QUERY_NOT);
	case QUERY_AND:
	case QUERY_OR:
		l = canonical_depth(n->left, n->kind);
		r = canonical_depth(n->right, n->kind);
		return (n->kind != in) + MAX(l, r);
	default:
		return 0;
	}
}

int query_parse(struct query *q, const char *text, size_t len, struct arena *a, struct err *e)
{
	struct parser p = { text, len, 0, a, e, 0 };
	int rc;

	memset(q, 0, sizeof(*q));
	if (len > QUERY_MAX_LENGTH)
		return err_set(e, -E2BIG, "query of %zu bytes (at most %d)", len, QUERY_MAX_LENGTH);
	if (memchr(text, '\0', len))
		return err_set(e, -EINVAL, "column %u: a NUL byte in the query",
			       column_of(&p, (size_t)((const char *)memchr(text, '\0', len) - text)));
	skip_ws(&p);
	if (at_end(&p) || cur(&p) == '|') {
		q->filter = node_new(&p, QUERY_ALL, p.pos);
		if (!q->filter)
			return no_memory(&p);
	} else if ((rc = expr_or(&p, NULL, &q->filter))) {
		return rc;
	} else if (canonical_depth(q->filter, QUERY_ALL) > QUERY_MAX_DEPTH) {
		/* its canonical form (audit log, tests) must parse again */
		return err_set(e, -E2BIG, "column 1: more than %d nested groups once 'and' and 'or' "
			       "are parenthesised", QUERY_MAX_DEPTH);
	}
	skip_ws(&p);
	if (!at_end(&p) && cur(&p) != '|')
		return fail_at(&p, p.pos, cur(&p) == ')' ? "no ')' without its '('"
							  : "'and', 'or', '|' or the end");
	return parse_pipes(&p, q);
}

/* ---- formatting ---- */

/* A word as the parser reads it back: in a bare term, ':' '<' '>' '=' would start a field. */
static int add_word(struct buf *out, const char *s, bool wildcard, bool term)
{
	int rc = 0;

	if (!wildcard && (!strcasecmp(s, "and") || !strcasecmp(s, "or") || !strcasecmp(s, "not") ||
			  !strcmp(s, "&&")))
		rc = buf_addch(out, '\\'); /* keeps a value from reading as an operator (or &&) */
	for (; *s && !rc; s++) {
		bool special = strchr(" \t\r\n()|\"", *s) != NULL ||
			       (term && strchr(":<>=", *s) != NULL) ||
			       (!wildcard && (*s == '\\' || *s == '*' || *s == '?'));

		if (wildcard && *s == '\\' && s[1]) { /* already escaped */
			rc = buf_add(out, s, 2);
			s++;
			continue;
		}
		if (special)
			rc = buf_addch(out, '\\');
		if (!rc)
			rc = buf_addch(out, *s);
	}
	return rc;
}

/*
 * A field name (or, with paren, a sort key) as the parser reads it back: other bytes than a
 * name's escaped, and a name spelled as a keyword escaped too.
 */
static int add_name(struct buf *out, const char *s, bool paren)
{
	int rc = 0;

	if (!strcasecmp(s, "and") || !strcasecmp(s, "or") || !strcasecmp(s, "not") ||
	    !strcasecmp(s, "_exists_") || (paren && *s == '-')) /* a sort's '-': descending */
		rc = buf_addch(out, '\\');
	for (; *s && !rc; s++) {
		if (!(paren ? is_sort_byte(*s) : is_name_byte(*s)))
			rc = buf_addch(out, '\\');
		if (!rc)
			rc = buf_addch(out, *s);
	}
	return rc;
}

static int add_phrase(struct buf *out, const char *s)
{
	int rc = buf_addch(out, '"');

	for (; *s && !rc; s++) {
		if (*s == '"' || *s == '\\')
			rc = buf_addch(out, '\\');
		if (!rc)
			rc = buf_addch(out, *s);
	}
	return rc ? rc : buf_addch(out, '"');
}

static int add_value(struct buf *out, const struct query_node *n)
{
	if (n->value_kind == QUERY_PHRASE)
		return add_phrase(out, n->value);
	return add_word(out, n->value, n->value_kind == QUERY_WILDCARD, !n->field);
}

static int format_node(const struct query_node *n, struct buf *out);

/*
 * `a and b and c` without inner parentheses: the parser builds such chains leaning left, so
 * a left operand of the same operator needs none, and the text never nests deeper than the
 * query it came from (QUERY_MAX_DEPTH).
 */
static int format_chain(const struct query_node *n, struct buf *out);

/* One side of a chain: the same operator's operands go on without parentheses. */
static int format_operand(const struct query_node *n, enum query_node_kind kind, struct buf *out)
{
	return n->kind == kind ? format_chain(n, out) : format_node(n, out);
}

static int format_chain(const struct query_node *n, struct buf *out)
{
	int rc = format_operand(n->left, n->kind, out);

	if (!rc)
		rc = buf_adds(out, n->kind == QUERY_AND ? " and " : " or ");
	return rc ? rc : format_operand(n->right, n->kind, out);
}

static int format_node(const struct query_node *n, struct buf *out)
{
	static const char *const ops[] = { [QUERY_GT] = " > ", [QUERY_GE] = " >= ",
					   [QUERY_LT] = " < ", [QUERY_LE] = " <= " };
	int rc = 0;

	switch (n->kind) {
	case QUERY_ALL:
		return buf_addch(out, '*');
	case QUERY_AND:
	case QUERY_OR:
		if (!(rc = buf_addch(out, '(')) && !(rc = format_chain(n, out)))
			rc = buf_addch(out, ')');
		return rc;
	case QUERY_NOT:
		if (!(rc = buf_adds(out, "not ")))
			rc = format_node(n->left, out);
		return rc;
	case QUERY_MATCH:
		if (n->field &&
		    ((rc = add_name(out, n->field, false)) || (rc = buf_adds(out, ": "))))
			return rc;
		return add_value(out, n);
	case QUERY_RANGE:
		if (!(rc = add_name(out, n->field, false)) && !(rc = buf_adds(out, ops[n->op])))
			rc = add_word(out, n->value, false, false);
		return rc;
	case QUERY_EXISTS:
		return (rc = buf_adds(out, "_exists_: ")) ? rc : add_name(out, n->field, false);
	}
	return -EINVAL;
}

static int format_names(struct buf *out, const char *const *names, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		if (!(rc = buf_adds(out, i ? ", " : "")))
			rc = add_name(out, names[i], false);
	return rc;
}

static int format_aggs(struct buf *out, const struct query_pipe *pipe)
{
	int rc = 0;

	for (size_t i = 0; i < pipe->n_aggs && !rc; i++) {
		const struct query_agg *g = &pipe->aggs[i];

		if (!(rc = buf_addf(out, "%s%s(", i ? ", " : "", agg_names[g->kind])) &&
		    !(rc = g->field ? add_name(out, g->field, false) : 0))
			rc = buf_addch(out, ')');
	}
	if (!rc && pipe->n_names)
		if (!(rc = buf_adds(out, " by ")))
			rc = format_names(out, pipe->names, pipe->n_names);
	return rc;
}

static int format_span(struct buf *out, int64_t ns)
{
	static const struct { char unit; int64_t ns; } units[] = {
		{ 'w', QUERY_WEEK_NS }, { 'd', 86400000000000LL }, { 'h', 3600000000000LL }, { 'm', 60000000000LL },
		{ 's', 1000000000LL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (ns % units[i].ns == 0)
			return buf_addf(out, "span=%lld%c ", (long long)(ns / units[i].ns),
					units[i].unit);
	return -EINVAL;
}

static int format_pipe(const struct query_pipe *pipe, struct buf *out)
{
	int rc;

	switch (pipe->kind) {
	case QUERY_STATS:
		return (rc = buf_adds(out, " | stats ")) ? rc : format_aggs(out, pipe);
	case QUERY_TIMECHART:
		if ((rc = buf_adds(out, " | timechart ")) || (rc = format_span(out, pipe->span_ns)))
			return rc;
		return format_aggs(out, pipe);
	case QUERY_SORT:
		if ((rc = buf_addf(out, " | sort %s", pipe->descending ? "-" : "")))
			return rc;
		return add_name(out, pipe->sort_key, true);
	case QUERY_HEAD:
		return buf_addf(out, " | head %llu", (unsigned long long)pipe->head);
	case QUERY_FIELDS:
		return (rc = buf_adds(out, " | fields ")) ? rc
			: format_names(out, pipe->names, pipe->n_names);
	}
	return -EINVAL;
}

int query_format(const struct query *q, struct buf *out)
{
	int rc = format_node(q->filter, out);

	for (size_t i = 0; i < q->n_pipes && !rc; i++)
		rc = format_pipe(&q->pipes[i], out);
	return rc;
}
