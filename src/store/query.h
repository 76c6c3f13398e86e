/*
 * query.h - the query language's parser: a Kibana-style filter, then optional pipes.
 *
 *   source.ip: 10.0.0.0/8 and not event.outcome: success | stats count() by user.name
 *
 * Filter (docs/query.md has the grammar and examples):
 *   field: value        value is a word (with * and ? wildcards; \ escapes the next
 *                       character), a "quoted phrase" (no wildcards), or a group
 *                       field: (a or b and not c)
 *   field >= value      also >, <, <= (numbers and times; the engine decides the type)
 *   _exists_: field
 *   word, "phrase"      full text on event.original
 *   and, or, not        case-insensitive; precedence not > and > or; terms side by side
 *                       without an operator are joined by and; parentheses group
 *   * or nothing        every event
 * Pipes, each after `|`:
 *   stats AGG[, AGG...] [by FIELD[, FIELD...]]   AGG: count(), dc(f), sum(f), avg(f),
 *                                                min(f), max(f)
 *   sort [-]NAME                                  a field or a result column ("count")
 *   head N
 *   fields FIELD[, FIELD...]
 *   timechart span=N(s|m|h|d) AGG[, AGG...] [by FIELD]
 *
 * The parser only checks syntax; field names and value types are checked when the query
 * is compiled against the event schema. A syntax error fills e with the 1-based column and
 * what was expected ("column 12: expected a value after 'source.ip:'").
 *
 * Ownership: query_parse() allocates the whole tree from the caller's arena (strings are
 * copied, unescaped); it lives until the arena is cleared. Limits: QUERY_MAX_LENGTH bytes
 * of text and QUERY_MAX_DEPTH nested groups, so hostile input cannot exhaust the stack.
 *
 * Threads: any thread, with its own arena.
 */
#ifndef STORE_QUERY_H
#define STORE_QUERY_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct err;

#define QUERY_MAX_LENGTH 65536
#define QUERY_MAX_DEPTH 64
#define QUERY_MAX_ITEMS 32 /* aggregations, by-fields or fields of one pipe */

enum query_node_kind {
	QUERY_ALL,    /* matches every event */
	QUERY_AND,    /* a and b */
	QUERY_OR,
	QUERY_NOT,    /* not a (a in left) */
	QUERY_MATCH,  /* field: value (field NULL: full text) */
	QUERY_RANGE,  /* field OP value */
	QUERY_EXISTS, /* _exists_: field */
};

enum query_value_kind {
	QUERY_WORD,     /* exact (the engine may still treat it as a CIDR or a number) */
	QUERY_WILDCARD, /* has an unescaped * or ?; escapes kept as \ in value for matching */
	QUERY_PHRASE,   /* "quoted" */
};

enum query_op { QUERY_GT, QUERY_GE, QUERY_LT, QUERY_LE };

struct query_node {
	enum query_node_kind kind;
	struct query_node *left, *right; /* AND, OR: both; NOT: left */
	const char *field;               /* MATCH, RANGE, EXISTS; NULL for full text */
	const char *value;               /* MATCH, RANGE */
	enum query_value_kind value_kind;
	enum query_op op;                /* RANGE */
	unsigned column;                 /* 1-based, where the node starts (for messages) */
};

enum query_agg_kind { QUERY_COUNT, QUERY_DC, QUERY_SUM, QUERY_AVG, QUERY_MIN, QUERY_MAX };

struct query_agg {
	enum query_agg_kind kind;
	const char *field;  /* NULL for count() */
	const char *name;   /* result column: "count", "dc(user.name)", ... */
};

#define QUERY_WEEK_NS (7 * 86400000000000LL) /* span=1w */
#define QUERY_SPAN_MAX_NS (5280 * QUERY_WEEK_NS) /* span=5280w: about a century */

enum query_pipe_kind { QUERY_STATS, QUERY_SORT, QUERY_HEAD, QUERY_FIELDS, QUERY_TIMECHART };

struct query_pipe {
	enum query_pipe_kind kind;
	struct query_agg aggs[QUERY_MAX_ITEMS]; /* STATS, TIMECHART */
	size_t n_aggs;
	const char *names[QUERY_MAX_ITEMS];     /* STATS, TIMECHART: by; FIELDS: fields */
	size_t n_names;
	const char *sort_key;                   /* SORT */
	unsigned key_column;                    /* SORT: where sort_key starts */
	int descending;                         /* SORT: 1 for -name */
	uint64_t head;                          /* HEAD */
	int64_t span_ns;                        /* TIMECHART (a week: Monday to Monday, UTC) */
	unsigned column;
};

struct query {
	struct query_node *filter; /* never NULL: QUERY_ALL for an empty filter */
	struct query_pipe *pipes;
	size_t n_pipes;
};

/* Parses text[0..len); 0, or -EINVAL (syntax), -E2BIG (limits), -ENOMEM with e filled. */
int query_parse(struct query *q, const char *text, size_t len, struct arena *a,
		struct err *e);
/*
 * Writes q back in one canonical form (fully parenthesised, lower-case operators, quoted
 * where needed), which parses to the same tree: for tests, logs and the audit trail.
 */
int query_format(const struct query *q, struct buf *out);

#endif
