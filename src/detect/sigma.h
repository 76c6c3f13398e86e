/*
 * sigma.h - Sigma detection rules (specification 2.1): load, validate, compile, match.
 *
 * A struct sigma_set holds the rules and filters loaded from YAML files or memory buffers
 * (single or multi-document, `---`). Each document is a detection rule (`detection:`), a
 * filter (`filter:`, applied to the rules it names as AND NOT its condition, when the
 * event also fits the filter's logsource) or a correlation (`correlation:`, handed to
 * the options' correlation callback: detect/detect.c parses it with detect/correl). A document
 * that cannot be compiled is rejected alone: the set reports it through the options'
 * report callback as FILE:LINE, the rule's id and the reason, counts it and goes on.
 *
 * Compiling resolves each field name once: through the options' resolver (struct
 * sigma_fields, e.g. detect/fieldmap) to an event field name, then to a field id, exact
 * name first, then ignoring case, else registered as a new string field. Values and
 * modifiers are compiled by detect/sigval, conditions by detect/sigcond.
 *
 * An event is a flat list of (field id, value): a rule applies to an event when every
 * logsource key it names (category, product, service) equals the event's (no logsource:
 * every rule applies), and matches when its condition holds and none of its filters does.
 *
 * Literals: sigma_rule_literals() gives, per rule, literals of which at least one must
 * occur for the rule to match (the multi-pattern prefilter, detect/litset, uses them), or
 * none: always evaluate the rule.
 *
 * Memory: the set owns its rules, filters and every string it returns. Thread safety:
 * load and finish on one thread; afterwards the set is read-only and any number of
 * threads may match, each with its own struct sigma_scratch.
 */
#ifndef DETECT_SIGMA_H
#define DETECT_SIGMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct event;
struct fy_document;

#define SIGMA_FILE_MAX (8u << 20)     /* bytes of one rule file */
#define SIGMA_RULES_MAX 100000        /* rules of one set */
#define SIGMA_LITERALS_MAX 512        /* literals of one rule's prefilter set */
#define SIGMA_DIR_DEPTH_MAX 16        /* directory nesting sigma_set_load_path descends */

/*
 * The field resolver (pinned by the detection brief): returns the event field name to
 * use for a rule's field name, or NULL with e filled when no map knows the name (the
 * rule is rejected at load). A NULL resolver takes names as given.
 */
struct sigma_fields {
	void *ctx;
	const char *(*resolve)(void *ctx, const char *category, const char *product,
			       const char *service, const char *name, struct err *e);
};

/* One placeholder of modifier expand: %name% stands for values[0..n). */
struct sigma_placeholder {
	const char *name;
	const char *const *values;
	size_t n;
};

struct sigma_options {
	const struct sigma_fields *fields;           /* NULL: names as given */
	const struct sigma_placeholder *placeholders;
	size_t n_placeholders;
	const char *const *disable;                  /* rule ids (or names) not loaded */
	size_t n_disable;
	/*
	 * Correlation documents (detect/correl): called with the parsed document, its file
	 * and the line where it starts; returns 0 when loaded, -EINVAL with e filled when
	 * rejected (reported and counted like a rule), or -ENOMEM. NULL: counted and reported
	 * as "correlation: not loaded by this build".
	 */
	int (*correlation)(void *ctx, struct fy_document *doc, const char *file, unsigned line,
			   struct err *e);
	void *correlation_ctx;
	/* Each rejected document and unsupported feature; NULL: logged as warnings. */
	void (*report)(void *ctx, const char *file, unsigned line, const char *id,
		       const char *reason);
	void *report_ctx;
};

/* The logsource of a rule or an event: NULL for a key not given. */
struct sigma_logsource {
	const char *category;
	const char *product;
	const char *service;
};

struct sigma_counts {
	size_t rules, correlations, filters, rejected, disabled;
};

/* A literal for the prefilter: field SIGMA_ANY_FIELD means the event's keyword text. */
#define SIGMA_ANY_FIELD (-1)
struct sigma_literal {
	int field;
	const char *s;     /* lower-case ASCII unless cased */
	uint32_t len;
	bool cased;
};

struct sigma_set;
struct sigma_rule;
struct sigma_scratch;

/* A new empty set; opt is copied (the strings it points to must outlive the set). */
int sigma_set_new(struct sigma_set **out, const struct sigma_options *opt);
void sigma_set_free(struct sigma_set *s);

/*
 * Loads the documents of a file, of every .yml and .yaml file under a directory (sorted,
 * recursively), or of a buffer named name (for messages; bundled rules are loaded this
 * way). Rejected documents and YAML syntax errors are reported (FILE:LINE) and counted,
 * not errors: these return < 0 only when the input cannot be read at all (missing file,
 * I/O error, a file past SIGMA_FILE_MAX) or on -ENOMEM.
 */
int sigma_set_load_path(struct sigma_set *s, const char *path, struct err *e);
int sigma_set_load_buffer(struct sigma_set *s, const char *name, const char *text, size_t len,
			  struct err *e);
/*
 * After the last load: rejects (reports, counts, frees) every rule whose id an earlier
 * rule already has, then attaches filters to the rules they name (a filter naming no
 * loaded rule is reported). 0 or -ENOMEM.
 */
int sigma_set_finish(struct sigma_set *s, struct err *e);

void sigma_set_counts(const struct sigma_set *s, struct sigma_counts *c);
size_t sigma_set_size(const struct sigma_set *s);
const struct sigma_rule *sigma_set_rule(const struct sigma_set *s, size_t i);
/* The rule whose id or name is ref, or NULL. */
const struct sigma_rule *sigma_set_find(const struct sigma_set *s, const char *ref);

/* Accessors: strings are "" when the rule has none; id is id, else name, else FILE:LINE. */
const char *sigma_rule_id(const struct sigma_rule *r);
const char *sigma_rule_name(const struct sigma_rule *r);
const char *sigma_rule_title(const struct sigma_rule *r);
const char *sigma_rule_level(const struct sigma_rule *r);
const char *sigma_rule_status(const struct sigma_rule *r);
const char *sigma_rule_author(const struct sigma_rule *r);
const char *sigma_rule_file(const struct sigma_rule *r);
unsigned sigma_rule_line(const struct sigma_rule *r);
const struct sigma_logsource *sigma_rule_logsource(const struct sigma_rule *r);
size_t sigma_rule_tags(const struct sigma_rule *r, const char *const **tags);
size_t sigma_rule_references(const struct sigma_rule *r, const char *const **refs);

/* Whether the rule applies to events of logsource ls (NULL: every rule applies). */
bool sigma_rule_applies(const struct sigma_rule *r, const struct sigma_logsource *ls);
/* Whether ev matches the rule's detection and none of its filters (logsource not checked). */
bool sigma_rule_match(const struct sigma_rule *r, const struct event *ev,
		      struct sigma_scratch *sc);
/*
 * The rule's prefilter literals: *lits[0..n) such that the rule cannot match unless one
 * occurs (in its field's text: a typed value as its canonical string, e.g. a port in
 * decimal; or for SIGMA_ANY_FIELD in the event's keyword text: event.original, else every
 * string value); n = 0: no such set, always evaluate. Case-insensitive literals are lower
 * case (ASCII). Of the 3,755 SigmaHQ rules, 55 have none.
 */
size_t sigma_rule_literals(const struct sigma_rule *r, const struct sigma_literal **lits);

/*
 * The event field id for a rule's field name[0..len) under logsource ls, as rules resolve
 * theirs (for correlations' group-by and value fields): f's resolver (NULL: as given), then
 * the exact name, then the name ignoring case, else registered as a new string field.
 * The id, or < 0 with e filled (no map knows the name, -ENOSPC, -ENOMEM). Load thread.
 */
int sigma_field_id(const struct sigma_fields *f, const struct sigma_logsource *ls,
		   const char *name, size_t len, struct err *e);

/* Per-thread state for sigma_rule_match, sized for the rules of s. */
int sigma_scratch_new(struct sigma_scratch **out, const struct sigma_set *s);
void sigma_scratch_free(struct sigma_scratch *sc);

#endif
