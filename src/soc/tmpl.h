/*
 * tmpl.h - the small text template language of the first reports (soc/firstreport.h).
 *
 * A template is UTF-8 text with tags between "{{" and "}}":
 *
 *   {{name}}                  the value of the field name ("" when it is set empty)
 *   {{#each list}}...{{/each}} the block once per item of the list; inside it an item's
 *                             own fields are found first, then the enclosing ones
 *   {{#if name}}...{{else}}...{{/if}}   the first block when name is a non-empty value
 *                             or list, else the (optional) second block
 *   {{#unless name}}...{{/unless}}      the block when name is empty
 *   {{! comment }}            nothing
 *
 * A line that holds only a block tag ({{#each}}, {{/each}}, {{#if}}, {{else}}, {{/if}},
 * {{#unless}}, {{/unless}}, a comment) and blanks leaves nothing in the output, not even
 * its line end, so blocks can sit on lines of their own. "{{" always opens a tag.
 * Names are letters, digits, '_' and '.'. Parse errors and names that no field has at
 * render time are reported as NAME:LINE (the template's name and the tag's line).
 *
 * Values: struct tmpl_fields is a set of named values, each a string or a list of
 * struct tmpl_fields (the items). It is built in an arena that owns everything in it.
 *
 * Memory: tmpl_parse() returns a template owning a copy of its text, freed by
 * tmpl_free(). tmpl_render() appends to the caller's buffer and keeps nothing.
 * Threads: a parsed template is read-only; renders may run on any threads at once.
 * A struct tmpl_fields belongs to the thread that owns its arena.
 */
#ifndef SOC_TMPL_H
#define SOC_TMPL_H

#include <stddef.h>

struct arena;
struct buf;
struct err;

#define TMPL_TEXT_MAX (256 * 1024) /* bytes of one template */
#define TMPL_DEPTH_MAX 8           /* nested blocks */

struct tmpl;
struct tmpl_fields;

/* Parses text[0..len) named name (for messages). -EINVAL with NAME:LINE: reason in e. */
int tmpl_parse(struct tmpl **out, const char *name, const char *text, size_t len, struct err *e);
/*
 * Appends the template rendered with fields to out. -EINVAL for a name no field has
 * (NAME:LINE in e), -ENOSPC/-ENOMEM from the buffer. On error out may hold part of it.
 */
int tmpl_render(const struct tmpl *t, const struct tmpl_fields *fields, struct buf *out,
		struct err *e);
void tmpl_free(struct tmpl *t);

/* An empty set of fields in a; NULL when a is full. */
struct tmpl_fields *tmpl_fields_new(struct arena *a);
/* Sets name to a copy of value[0..len) (a later set of the same name wins). -ENOMEM. */
int tmpl_set(struct tmpl_fields *f, const char *name, const char *value, size_t len);
int tmpl_sets(struct tmpl_fields *f, const char *name, const char *value);
/* Makes name an empty list unless it is one already. -ENOMEM. */
int tmpl_list(struct tmpl_fields *f, const char *name);
/* Appends a new empty item to the list name (made when absent) and returns it; NULL: no memory. */
struct tmpl_fields *tmpl_add_item(struct tmpl_fields *f, const char *name);
/* The string value of name in f itself (not its lists' items), or NULL when it has none. */
const char *tmpl_get(const struct tmpl_fields *f, const char *name);
/* Items in the list name (0 when there is no such list). */
size_t tmpl_count(const struct tmpl_fields *f, const char *name);

#endif
