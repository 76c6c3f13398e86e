/*
 * sigcond.h - the condition of a Sigma detection: `sel and not 1 of filter_*`.
 *
 * Grammar (Sigma specification 2.1, "Condition"), loosest binding first:
 *
 *   expr := expr 'or' expr | expr 'and' expr | 'not' expr | '(' expr ')' | selector | IDENT
 *   selector := ('1' | 'any' | 'all') 'of' (PATTERN | 'them')
 *
 * so `or` < `and` < `not` < `x of`; `and` and `or` are left-associative. Keywords are
 * matched case-insensitively. IDENT is [A-Za-z0-9_-]+ and must name a search identifier;
 * PATTERN may hold '*' (any run of characters) and must match at least one identifier
 * (a full match); `them` is every identifier whose name does not start with '_'.
 * `1 of` and `any of` are the same (OR), `all of` is AND. A '|' (the legacy aggregation
 * `| count() ...`) is refused with a message that says so.
 *
 * Parsing resolves every name to its index in the identifier list given, so evaluation
 * never compares strings. Nesting (SIGCOND_DEPTH_MAX) and size (SIGCOND_NODES_MAX) are
 * limited so hostile input cannot exhaust the stack.
 *
 * Memory: sigcond_parse fills a struct sigcond that owns its arrays (core/mem.h);
 * sigcond_release frees them. Thread safety: a parsed condition is read-only and may be
 * evaluated from any number of threads at once.
 */
#ifndef DETECT_SIGCOND_H
#define DETECT_SIGCOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define SIGCOND_DEPTH_MAX 64
#define SIGCOND_TEXT_MAX 65536
#define SIGCOND_NODES_MAX 4096 /* also bounds the evaluation's recursion */

enum sigcond_op {
	SIGCOND_IDENT, /* arg: identifier index */
	SIGCOND_NOT,   /* a */
	SIGCOND_AND,   /* a, b */
	SIGCOND_OR,    /* a, b */
	SIGCOND_ANY_OF, /* set[arg .. arg + n): identifier indexes, ORed */
	SIGCOND_ALL_OF, /* the same, ANDed */
};

struct sigcond_node {
	enum sigcond_op op;
	uint32_t a, b;   /* child node indexes */
	uint32_t arg;    /* identifier index, or first index into set */
	uint32_t n;      /* ANY_OF/ALL_OF: number of identifiers */
};

struct sigcond {
	struct sigcond_node *nodes;
	uint32_t n_nodes, cap_nodes;
	uint32_t *set;   /* identifier indexes of the x-of selectors */
	uint32_t n_set, cap_set;
	uint32_t root;
};

/*
 * Parses text[0..len) against the identifiers names[0..n_names) into c (which need not be
 * initialised). 0, or -EINVAL (e: "column N: ..." saying what was expected), -ENOMEM;
 * on error c holds nothing to release.
 */
int sigcond_parse(struct sigcond *c, const char *text, size_t len, const char *const *names,
		  size_t n_names, struct err *e);
void sigcond_release(struct sigcond *c);

/*
 * Evaluates the condition; ident(ctx, i) says whether identifier i matched. `and`/`or`
 * stop at the first deciding operand, so identifiers are evaluated lazily.
 */
bool sigcond_eval(const struct sigcond *c, bool (*ident)(void *ctx, uint32_t i), void *ctx);

#endif
