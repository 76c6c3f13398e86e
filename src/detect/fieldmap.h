/*
 * fieldmap.h - field maps and logsources: which Sigma logsource a decoded event belongs
 * to, and which event field a rule's field name means there (issue 8, part 3).
 *
 * A map file (rules/mappings/NAME.yml, docs/detection.md "Field maps and logsources") says,
 * for one logsource:
 *
 *   logsource: {product: azure, service: signinlogs}
 *   datasets: [azure.signinlogs]            # events of these event.dataset get it
 *   vendor: [azure.signinlogs.]             # names under these prefixes resolve to themselves
 *   prefixes: {properties.: azure.signinlogs.properties.}   # renamed prefixes
 *   fields: {ResultType: event.code}        # Sigma name: event field
 *   unsupported: {NetworkLocationDetails: why no field can stand for it}
 *
 * A dataset is an exact name or a prefix ending in ".*" (`panos.*`). Several maps may
 * name one dataset: the event's logsource is the union of their keys (PAN-OS TRAFFIC is
 * {category: firewall} from firewall.yml and {product: panos} from panos.yml); two maps
 * that give one dataset different values for one key are refused at load, as are two maps
 * of the same logsource.
 *
 * The bundled maps are compiled into the binary (a C file generated from
 * rules/mappings/NAME.yml by scripts/embed at build time); fieldmap_load_dir() adds an
 * operator's directory and fieldmap_load_mem() one buffer.
 *
 * Ownership: a struct fieldmap owns copies of everything it read; the names returned by
 * fieldmap_resolve() and fieldmap_logsource() live at least until fieldmap_free().
 *
 * Thread safety: load on one thread; once loaded, a map is read-only and every other
 * function may be called from any thread without locks.
 */
#ifndef DETECT_FIELDMAP_H
#define DETECT_FIELDMAP_H

#include <stddef.h>

struct config_logsource;
struct err;
struct event;
struct fieldmap;

#define FIELDMAP_FILE_MAX (1u << 20) /* bytes of one map file */
#define FIELDMAP_MAPS_MAX 256        /* map files in one struct fieldmap */
#define FIELDMAP_ENTRIES_MAX 4096    /* entries (fields, datasets, ...) of one map file */

/* A file compiled into the binary (the generated table behind fieldmap_bundled). */
struct fieldmap_file {
	const char *name;           /* "rules/mappings/firewall.yml" */
	const unsigned char *bytes; /* the file's bytes, NUL-terminated */
	size_t len;                 /* without the NUL */
};

extern const struct fieldmap_file fieldmap_bundled[];
extern const size_t fieldmap_bundled_count;

/* An empty map (no files): every name resolves to itself, no dataset has a logsource. */
int fieldmap_new(struct fieldmap **out);
void fieldmap_free(struct fieldmap *m);

/*
 * Adds the map file text[0..len), named name in messages. 0, or -EINVAL (a malformed file,
 * a clash with a map already loaded: e says FILE:LINE and what was expected), -E2BIG, -ENOMEM.
 * On error m is as it was before the call.
 */
int fieldmap_load_mem(struct fieldmap *m, const char *name, const char *text, size_t len,
		      struct err *e);
/* Adds every bundled map; an error here is a broken build. */
int fieldmap_load_bundled(struct fieldmap *m, struct err *e);
/*
 * Adds every *.yml and *.yaml file of dir (not its subdirectories) in name order. Stops at
 * the first bad file (what was loaded before it stays); -ENOENT when dir cannot be read.
 */
int fieldmap_load_dir(struct fieldmap *m, const char *dir, struct err *e);

/*
 * The resolver of struct sigma_fields (detect/sigma.h): the event field name that the
 * rule field `name` means for a rule of logsource (category, product, service) (each
 * NULL when the rule does not name it).
 *
 * The maps that apply are those whose every logsource key the rule names with the same
 * value, the most specific first. Without one, the name is returned as given (a
 * logsource koban has no map for). Otherwise the first of: an entry of `fields` (exact
 * name, then without regard to case), an entry of `unsupported` (NULL, its reason in e),
 * a `prefixes` rename, the name itself when it is a field of koban's ECS table or under a
 * `vendor` prefix, or when no dataset's events carry the rule's logsource (koban reads no
 * such log: only a source configured with that logsource feeds the rule); else NULL with
 * e saying which map was searched.
 *
 * ctx is the struct fieldmap (NULL: every name as given). The result is name itself, a
 * string of the map (valid until fieldmap_free), or for a rename the field registry's
 * interned name (core/field.h: the renamed name is registered, valid for the process).
 */
const char *fieldmap_resolve(void *ctx, const char *category, const char *product,
			     const char *service, const char *name, struct err *e);

/*
 * The logsource of events of dataset[0..len) (their event.dataset): the union of the maps
 * that list it exactly or by a prefix; each out value NULL when no such map names that key.
 * Returns 1 when some map lists the dataset, 0 when none does (all three NULL: the event
 * has no logsource, and only rules that name no logsource key apply to it). A binary
 * search and a short scan of the prefixes: cheap enough per event. A source's configured
 * logsource (config `logsources:`, see config_logsource()) replaces this answer.
 */
int fieldmap_logsource(const struct fieldmap *m, const char *dataset, size_t len,
		       const char **category, const char **product, const char **service);

/*
 * The logsource of a decoded event: the source's configured one when override is not NULL
 * (config_logsource() of the event's source, core/config.h), else fieldmap_logsource() of
 * its event.dataset. Returns 1 when the event has a logsource, 0 when it has none.
 */
int fieldmap_event_logsource(const struct fieldmap *m, const struct event *ev,
			     const struct config_logsource *override, const char **category,
			     const char **product, const char **service);

/* Number of map files loaded. */
size_t fieldmap_count(const struct fieldmap *m);

#endif
