/*
 * sigval.h - one Sigma detection item (`Field|mod|mod: values`) compiled into a matcher.
 *
 * The loader (detect/sigma.c) hands over the field id (or SIGVAL_KEYWORDS for a keyword
 * list), the modifier text after the field name and the YAML values; this module applies
 * the modifiers (Sigma 2.1, appendix "modifiers") once and matches events:
 *
 *   - Plain values: `*` any run, `?` one character, `\` escapes only `*`, `?` and `\`
 *     (a `\` before anything else, or at the end, is a literal backslash). A value without
 *     wildcard is equality with the whole value. Case-insensitive (ASCII) unless `cased`.
 *     Non-string event values are compared as canonical strings: integers in decimal,
 *     booleans as true/false, addresses as printed, times in RFC 3339.
 *   - Transformations, left to right: contains / startswith / endswith (add `*`), windash
 *     (each `-` or `/` at a flag position, i.e. after a non-word character or at the start
 *     and before a word character, becomes each of - / en dash, em dash, horizontal bar),
 *     utf16le / wide / utf16be / utf16 (UTF-16 encoding, utf16 with the FF FE mark),
 *     base64 and base64offset (the 3 shifted encodings; no wildcards; matched with case),
 *     expand (`%name%` placeholders from the configuration, `\%` a literal percent;
 *     an unknown placeholder rejects the item).
 *   - Linking: a list is ORed; `all` ANDs it (refused on a single value); `neq` negates
 *     the whole item (no value of the field matches any value).
 *   - Types: re (PCRE2, JIT when available, an unanchored search; sub-modifiers i, m, s),
 *     cidr (IPv4/IPv6 networks; event strings are parsed as addresses), lt lte gt gte
 *     (numbers; an event value that is not a number does not match), minute hour day
 *     week (ISO 8601) month year (the part of an RFC 3339 time or time field, compared
 *     as a number: equal, or with a following lt/lte/gt/gte), exists (true/false, alone),
 *     fieldref (equal to another field of the same event; with contains/startswith/
 *     endswith: containing it...).
 *   - null: the field is absent (JSON null leaves a field absent); '' is the empty string.
 *
 * A multi-valued event field matches when any of its values matches.
 *
 * Keywords (SIGVAL_KEYWORDS): each value is a case-insensitive substring (wildcards
 * allowed) searched in event.original, or when the event has none in message and every
 * string value.
 *
 * Memory: an item owns everything it compiled (core/mem.h); sigval_item_free releases it.
 * Thread safety: a compiled item is read-only; any number of threads may match with it at
 * once, each with its own struct sigval_scratch.
 */
#ifndef DETECT_SIGVAL_H
#define DETECT_SIGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct event;

#define SIGVAL_KEYWORDS (-1)      /* field of a keyword list */
#define SIGVAL_VALUES_MAX 65536   /* values of one item after expansions */
#define SIGVAL_VALUE_MAX 65536    /* bytes of one value */
#define SIGVAL_WINDASH_MAX 4      /* flag positions one value may have (5^4 variants) */

/* One YAML value as written: a scalar's text, or null. */
struct sigval_input {
	const char *s;
	size_t len;
	bool null;
};

/* What an item needs from its rule's loader. */
struct sigval_env {
	void *ctx;
	/*
	 * The values of placeholder name[0..len) (modifier expand): 0 with *values and *n
	 * set, or -ENOENT when the configuration has none.
	 */
	int (*placeholder)(void *ctx, const char *name, size_t len, const char *const **values,
			   size_t *n);
	/* The event field id of the field named by a fieldref value, or < 0 with e filled. */
	int (*field)(void *ctx, const char *name, size_t len, struct err *e);
};

/* A literal the item cannot match without (see sigval_item_needs). */
struct sigval_lit {
	const char *s;   /* lower-case ASCII unless cased */
	uint32_t len;
	bool cased;
};

struct sigval_item;

/* Per-thread matching state (PCRE2 match data). */
struct sigval_scratch;

/*
 * Compiles field (an event field id, or SIGVAL_KEYWORDS) with the modifiers
 * mods[0..mods_len) ("contains|all", "" for none) and the values vals[0..n) into *out.
 * 0, -EINVAL (e says what is wrong: unknown modifier, a modifier it cannot take, an
 * unresolved placeholder, a bad regex, ...), -ENOMEM.
 */
int sigval_item_new(struct sigval_item **out, int field, const char *mods, size_t mods_len,
		    const struct sigval_input *vals, size_t n, const struct sigval_env *env,
		    struct err *e);
void sigval_item_free(struct sigval_item *it);

bool sigval_item_match(const struct sigval_item *it, const struct event *ev,
		       struct sigval_scratch *sc);

/*
 * The field id of the item (SIGVAL_KEYWORDS for keywords). Literals: fills out[0..n) with
 * literals such that the item cannot match unless one of them occurs (in the field's
 * value, or for keywords in the event's text) and returns n; returns 0 when there is no
 * such set within max (negated, numeric, network or regex items, a value without a
 * literal byte, ...). The strings point into the item.
 */
int sigval_item_field(const struct sigval_item *it);
size_t sigval_item_needs(const struct sigval_item *it, struct sigval_lit *out, size_t max);

int sigval_scratch_new(struct sigval_scratch **out);
void sigval_scratch_free(struct sigval_scratch *sc);

#endif
