#include "soc/tmpl.h"
#include "core/compat.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

#define NAME_MAX_LEN 64

enum op_kind { OP_TEXT, OP_VAR, OP_EACH, OP_IF, OP_UNLESS, OP_ELSE, OP_END };

/*
 * A template is a flat list of operations; a block (each/if/unless) knows the index of
 * its {{else}} (els, = end when it has none) and of its closing tag (end), so rendering
 * walks index ranges without a tree.
 */
struct op {
	enum op_kind kind;
	const char *s;  /* OP_TEXT: the text; others: the name (not NUL-terminated) */
	size_t len;
	unsigned line;
	size_t els, end;
};

struct tmpl {
	char *name;
	char *text;
	struct op *ops;
	size_t n_ops, cap_ops;
};

struct tmpl_field {
	const char *name;
	const char *value;          /* a string: value[0..len) */
	size_t len;
	bool is_list;
	struct tmpl_fields *first, *last; /* a list: its items */
	size_t n_items;
	struct tmpl_field *next;
};

struct tmpl_fields {
	struct arena *a;
	struct tmpl_field *head;
	struct tmpl_fields *next_item;  /* the next item of the list this one is in */
};

/* --- parsing ------------------------------------------------------------------------- */

struct parser {
	struct tmpl *t;
	const char *p;
	size_t len;
	unsigned line;
	size_t stack[TMPL_DEPTH_MAX];
	size_t depth;
	struct err *e;
};

static int add_op(struct parser *ps, enum op_kind kind, const char *s, size_t len, unsigned line)
{
	struct tmpl *t = ps->t;

	if (t->n_ops == t->cap_ops) {
		size_t cap = t->cap_ops ? t->cap_ops * 2 : 64;
		struct op *ops = mem_realloc(t->ops, cap * sizeof(*ops));

		if (!ops)
			return err_set(ps->e, -ENOMEM, "%s: out of memory", t->name);
		t->ops = ops;
		t->cap_ops = cap;
	}
	t->ops[t->n_ops++] = (struct op){ .kind = kind, .s = s, .len = len, .line = line };
	return 0;
}

static unsigned count_lines(const char *p, size_t n)
{
	unsigned lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool name_ok(const char *s, size_t n)
{
	if (!n || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* True when the tag [open, close) stands alone on its line (only blanks around it). */
static bool standalone(const struct parser *ps, size_t open, size_t close, size_t *line_start,
		       size_t *next)
{
	size_t b = open, a = close;

	while (b > 0 && is_blank(ps->p[b - 1]))
		b--;
	if (b > 0 && ps->p[b - 1] != '\n')
		return false;
	while (a < ps->len && is_blank(ps->p[a]))
		a++;
	if (a < ps->len && ps->p[a] != '\n')
		return false;
	*line_start = b;
	*next = a < ps->len ? a + 1 : a;
	return true;
}

static int block_open(struct parser *ps, enum op_kind kind, const char *name, size_t n,
		      unsigned line)
{
	int rc;

	if (ps->depth == TMPL_DEPTH_MAX)
		return err_set(ps->e, -EINVAL, "%s:%u: blocks nested deeper than %d", ps->t->name,
			       line, TMPL_DEPTH_MAX);
	if ((rc = add_op(ps, kind, name, n, line)) < 0)
		return rc;
	ps->stack[ps->depth++] = ps->t->n_ops - 1;
	ps->t->ops[ps->t->n_ops - 1].els = SIZE_MAX;
	return 0;
}

static const char *kind_word(enum op_kind k)
{
	return k == OP_EACH ? "each" : k == OP_IF ? "if" : "unless";
}

static int block_else(struct parser *ps, unsigned line)
{
	struct op *o;
	int rc;

	if (!ps->depth || ps->t->ops[ps->stack[ps->depth - 1]].kind == OP_EACH)
		return err_set(ps->e, -EINVAL, "%s:%u: {{else}} outside {{#if}} or {{#unless}}",
			       ps->t->name, line);
	if (ps->t->ops[ps->stack[ps->depth - 1]].els != SIZE_MAX)
		return err_set(ps->e, -EINVAL, "%s:%u: a second {{else}} in one block", ps->t->name,
			       line);
	if ((rc = add_op(ps, OP_ELSE, NULL, 0, line)) < 0)
		return rc;
	o = &ps->t->ops[ps->stack[ps->depth - 1]];
	o->els = ps->t->n_ops - 1;
	return 0;
}

static int block_close(struct parser *ps, const char *word, size_t n, unsigned line)
{
	struct op *o;
	int rc;

	if (!ps->depth)
		return err_set(ps->e, -EINVAL, "%s:%u: {{/%.*s}} without its opening tag",
			       ps->t->name, line, (int)n, word);
	o = &ps->t->ops[ps->stack[ps->depth - 1]];
	if (strlen(kind_word(o->kind)) != n || memcmp(kind_word(o->kind), word, n))
		return err_set(ps->e, -EINVAL, "%s:%u: {{/%.*s}} closes {{#%s}} of line %u",
			       ps->t->name, line, (int)n, word, kind_word(o->kind), o->line);
	if ((rc = add_op(ps, OP_END, NULL, 0, line)) < 0)
		return rc;
	o = &ps->t->ops[ps->stack[--ps->depth]];
	o->end = ps->t->n_ops - 1;
	if (o->els == SIZE_MAX)
		o->els = o->end;
	return 0;
}

static void trim(const char **s, size_t *n)
{
	while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Block tags and comments vanish with their line when they stand alone on it. */
static bool is_block_tag(const char *s, size_t n)
{
	trim(&s, &n);
	return n && (s[0] == '#' || s[0] == '/' || s[0] == '!' || (n == 4 && !memcmp(s, "else", 4)));
}

/* The tag's inside s[0..n): a block keyword and its name, else, a comment or a name. */
static int parse_tag(struct parser *ps, const char *s, size_t n, unsigned line)
{
	static const struct { const char *word; enum op_kind kind; } opens[] = {
		{ "each", OP_EACH }, { "if", OP_IF }, { "unless", OP_UNLESS },
	};

	trim(&s, &n);
	if (n && s[0] == '!')
		return 0;
	if (n == 4 && !memcmp(s, "else", 4))
		return block_else(ps, line);
	if (n && s[0] == '/')
		return block_close(ps, s + 1, n - 1, line);
	if (n && s[0] == '#') {
		for (size_t i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
			size_t w = strlen(opens[i].word);

			if (n > w + 2 && !memcmp(s + 1, opens[i].word, w) && s[w + 1] == ' ') {
				const char *name = s + w + 2;
				size_t nn = n - w - 2;

				trim(&name, &nn);
				if (!name_ok(name, nn))
					break;
				return block_open(ps, opens[i].kind, name, nn, line);
			}
		}
		return err_set(ps->e, -EINVAL,
			       "%s:%u: {{%.*s}}: expected {{#each NAME}}, {{#if NAME}} or {{#unless NAME}}",
			       ps->t->name, line, (int)(n > 40 ? 40 : n), s);
	}
	if (!name_ok(s, n))
		return err_set(ps->e, -EINVAL,
			       "%s:%u: {{%.*s}}: expected a field name (letters, digits, '_', '.')",
			       ps->t->name, line, (int)(n > 40 ? 40 : n), s);
	return add_op(ps, OP_VAR, s, n, line);
}

static int parse_all(struct parser *ps)
{
	size_t pos = 0;
	int rc;

	for (;;) {
		const char *o = memmem(ps->p + pos, ps->len - pos, "{{", 2), *c;
		size_t open, close, line_start, next;
		unsigned line;

		if (!o)
			break;
		open = (size_t)(o - ps->p);
		line = ps->line + count_lines(ps->p + pos, open - pos);
		c = memmem(o + 2, ps->len - open - 2, "}}", 2);
		if (!c)
			return err_set(ps->e, -EINVAL, "%s:%u: {{ without its }}", ps->t->name, line);
		close = (size_t)(c - ps->p) + 2;
		if (!(is_block_tag(o + 2, close - open - 4) &&
		      standalone(ps, open, close, &line_start, &next))) {
			line_start = open;
			next = close;
		}
		if (line_start > pos && (rc = add_op(ps, OP_TEXT, ps->p + pos, line_start - pos, line)) < 0)
			return rc;
		if ((rc = parse_tag(ps, o + 2, close - open - 4, line)) < 0)
			return rc;
		ps->line += count_lines(ps->p + pos, next - pos);
		pos = next;
	}
	if (ps->len > pos && (rc = add_op(ps, OP_TEXT, ps->p + pos, ps->len - pos, ps->line)) < 0)
		return rc;
	if (ps->depth) {
		const struct op *o = &ps->t->ops[ps->stack[ps->depth - 1]];

		return err_set(ps->e, -EINVAL, "%s:%u: {{#%s %.*s}} is never closed", ps->t->name,
			       o->line, kind_word(o->kind), (int)o->len, o->s);
	}
	return 0;
}

int tmpl_parse(struct tmpl **out, const char *name, const char *text, size_t len, struct err *e)
{
	struct parser ps = { .line = 1, .e = e };
	struct tmpl *t;
	int rc;

	*out = NULL;
	if (len > TMPL_TEXT_MAX)
		return err_set(e, -EINVAL, "%s: %zu bytes, more than the %d a template may have",
			       name, len, TMPL_TEXT_MAX);
	if (!(t = mem_calloc(1, sizeof(*t))) || !(t->name = mem_strdup(name)) ||
	    !(t->text = mem_strndup(text, len))) {
		rc = err_set(e, -ENOMEM, "%s: out of memory", name);
		goto fail;
	}
	ps.t = t;
	ps.p = t->text;
	ps.len = len;
	if ((rc = parse_all(&ps)) < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	tmpl_free(t);
	return rc;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	mem_free(t->ops);
	mem_free(t->text);
	mem_free(t->name);
	mem_free(t);
}

/* --- fields -------------------------------------------------------------------------- */

struct tmpl_fields *tmpl_fields_new(struct arena *a)
{
	struct tmpl_fields *f = arena_alloc(a, sizeof(*f));

	if (f)
		*f = (struct tmpl_fields){ .a = a };
	return f;
}

static struct tmpl_field *find_field(const struct tmpl_fields *f, const char *name, size_t n)
{
	for (struct tmpl_field *x = f->head; x; x = x->next)
		if (strlen(x->name) == n && !memcmp(x->name, name, n))
			return x;
	return NULL;
}

static struct tmpl_field *get_field(struct tmpl_fields *f, const char *name)
{
	struct tmpl_field *x = find_field(f, name, strlen(name));

	if (x)
		return x;
	if (!(x = arena_alloc(f->a, sizeof(*x))))
		return NULL;
	*x = (struct tmpl_field){ .name = arena_strndup(f->a, name, strlen(name)), .value = "" };
	if (!x->name)
		return NULL;
	x->next = f->head;
	f->head = x;
	return x;
}

int tmpl_set(struct tmpl_fields *f, const char *name, const char *value, size_t len)
{
	struct tmpl_field *x = get_field(f, name);
	char *v;

	if (!x || !(v = arena_strndup(f->a, value, len)))
		return -ENOMEM;
	*x = (struct tmpl_field){ .name = x->name, .value = v, .len = len, .next = x->next };
	return 0;
}

int tmpl_sets(struct tmpl_fields *f, const char *name, const char *value)
{
	return tmpl_set(f, name, value, strlen(value));
}

int tmpl_list(struct tmpl_fields *f, const char *name)
{
	struct tmpl_field *x = get_field(f, name);

	if (!x)
		return -ENOMEM;
	if (!x->is_list)
		*x = (struct tmpl_field){ .name = x->name, .value = "", .is_list = true, .next = x->next };
	return 0;
}

struct tmpl_fields *tmpl_add_item(struct tmpl_fields *f, const char *name)
{
	struct tmpl_fields *item;
	struct tmpl_field *x;

	if (tmpl_list(f, name) < 0 || !(item = tmpl_fields_new(f->a)))
		return NULL;
	x = find_field(f, name, strlen(name));
	if (x->last)
		x->last->next_item = item;
	else
		x->first = item;
	x->last = item;
	x->n_items++;
	return item;
}

const char *tmpl_get(const struct tmpl_fields *f, const char *name)
{
	const struct tmpl_field *x = find_field(f, name, strlen(name));

	return x && !x->is_list ? x->value : NULL;
}

size_t tmpl_count(const struct tmpl_fields *f, const char *name)
{
	const struct tmpl_field *x = find_field(f, name, strlen(name));

	return x && x->is_list ? x->n_items : 0;
}

/* --- rendering ----------------------------------------------------------------------- */

struct render {
	const struct tmpl *t;
	const struct tmpl_fields *scope[TMPL_DEPTH_MAX + 1]; /* innermost last */
	size_t depth;
	struct buf *out;
	struct err *e;
};

static const struct tmpl_field *lookup(const struct render *r, const struct op *o)
{
	for (size_t i = r->depth; i-- > 0;) {
		const struct tmpl_field *x = find_field(r->scope[i], o->s, o->len);

		if (x)
			return x;
	}
	err_set(r->e, -EINVAL, "%s:%u: no field named %.*s", r->t->name, o->line, (int)o->len, o->s);
	return NULL;
}

static int render_range(struct render *r, size_t from, size_t to)
{
	for (size_t i = from; i < to;) {
		const struct op *o = &r->t->ops[i];
		const struct tmpl_field *x = NULL;
		int rc = 0;

		if (o->kind == OP_TEXT) {
			if ((rc = buf_add(r->out, o->s, o->len)) < 0)
				return err_set(r->e, rc, "%s: the report is too large", r->t->name);
			i++;
			continue;
		}
		if (!(x = lookup(r, o)))
			return -EINVAL;
		if (o->kind == OP_VAR) {
			if (x->is_list)
				return err_set(r->e, -EINVAL, "%s:%u: %.*s is a list: use {{#each %.*s}}",
					       r->t->name, o->line, (int)o->len, o->s, (int)o->len, o->s);
			if ((rc = buf_add(r->out, x->value, x->len)) < 0)
				return err_set(r->e, rc, "%s: the report is too large", r->t->name);
			i++;
			continue;
		}
		if (o->kind == OP_EACH) {
			if (!x->is_list)
				return err_set(r->e, -EINVAL, "%s:%u: %.*s is no list", r->t->name, o->line,
					       (int)o->len, o->s);
			r->depth++;
			for (const struct tmpl_fields *it = x->first; it && rc >= 0; it = it->next_item) {
				r->scope[r->depth - 1] = it;
				rc = render_range(r, i + 1, o->end);
			}
			r->depth--;
		} else {
			bool set = x->is_list ? x->n_items > 0 : x->len > 0;

			if (set == (o->kind == OP_IF))
				rc = render_range(r, i + 1, o->els);
			else if (o->els != o->end)
				rc = render_range(r, o->els + 1, o->end);
		}
		if (rc < 0)
			return rc;
		i = o->end + 1;
	}
	return 0;
}

int tmpl_render(const struct tmpl *t, const struct tmpl_fields *fields, struct buf *out,
		struct err *e)
{
	struct render r = { .t = t, .depth = 1, .out = out, .e = e };

	r.scope[0] = fields;
	return render_range(&r, 0, t->n_ops);
}
