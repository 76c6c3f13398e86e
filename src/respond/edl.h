/*
 * edl.h - PAN-OS External Dynamic Lists per tenant: the IP, domain and URL lists the
 * firewalls pull from the API listener (GET /edl/<tenant>/<list>.txt, portal/api.h) so
 * they block what the SOC knows.
 *
 * A list (config edl.lists.NAME) is built for one tenant from koban.db's indicators of its
 * type: the tenant's own and, unless include_global is false, the global ones; of the
 * chosen sources only, unexpired, of at least min_confidence (an unknown confidence counts
 * as 50). Values on the allow-list (config edl.allow for every tenant, and the tenant's own
 * in koban.db, store/meta.h) are never listed: an address inside an allowed network, a
 * sub-domain of an allowed domain, a URL whose host is so allowed or that is allowed
 * itself. An entry that covers an allowed value (a network holding an allowed address, a
 * domain whose sub-domain is allowed) is dropped too and reported (logged by name). Past
 * max_entries, the lowest confidence, then the oldest last seen, are dropped first. Every
 * drop is counted in koban_edl_dropped_total{tenant,list,reason} (reason allow,
 * allow_overlap, cap, unsupported: a value PAN-OS cannot take) at each build, and logged.
 *
 * The text is one entry per line, sorted: IPs and networks as ti_normalize writes them,
 * domains as they are (ASCII only; the firewall's "expand to include subdomains" makes
 * them cover sub-domains, as koban's indicators do), URLs without their scheme. A built
 * list is cached with its ETag until koban.db's indicators or allow-lists change
 * (meta_edl_generation) or one of its entries expires. The global indicators of a list
 * are read once per change and shared by every tenant's build, which adds the tenant's
 * own indicators and allow-list to them.
 *
 * Memory: edl_new copies the configuration; a list handed to edl_get's callback is valid
 * during the call only. Threads: edl_get from any thread (one lock; a build holds it);
 * edl_new and edl_free on one.
 */
#ifndef RESPOND_EDL_H
#define RESPOND_EDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct edl;
struct err;
struct meta;

enum edl_type { EDL_IP, EDL_DOMAIN, EDL_URL };

#define EDL_MAX_ENTRIES_DEFAULT 50000
#define EDL_MAX_LISTS 64
#define EDL_TEXT_MAX ((size_t)256 << 20)   /* bytes of one list's text */
#define EDL_DOMAIN_MAX 255                 /* PAN-OS: characters of a domain entry */
#define EDL_UNKNOWN_CONFIDENCE 50          /* what an unknown confidence counts as */

struct edl_list_config {
	const char *name;               /* 1-63 of a-z 0-9 _ -: the URL's <list> */
	enum edl_type type;
	const char *const *sources;     /* indicator sources (feeds, lists); "*": every one */
	size_t n_sources;               /* 0: every source */
	int min_confidence;             /* 0..100 */
	size_t max_entries;             /* 0: EDL_MAX_ENTRIES_DEFAULT */
	bool include_global;            /* the global indicators too (config default true) */
};

struct edl_config {
	const struct edl_list_config *lists;
	size_t n_lists;
	const char *const *allow;       /* edl.allow: addresses, networks, domains, URLs */
	size_t n_allow;
	bool metrics;                   /* register koban_edl_dropped_total */
};

enum edl_drop { EDL_DROP_ALLOW, EDL_DROP_ALLOW_OVERLAP, EDL_DROP_CAP, EDL_DROP_UNSUPPORTED,
		EDL_DROPS };

/* One built list of one tenant. */
struct edl_list {
	const char *text;               /* the entries, each ended by '\n' */
	size_t len;
	const char *etag;               /* "\"<32 hex digits>\"", quoted as HTTP sends it */
	size_t entries;
	uint64_t dropped[EDL_DROPS];    /* by the build that made it */
	int64_t built_ns;
};

/* "ip", "domain", "url"; edl_type_parse: 0 or -EINVAL. */
const char *edl_type_name(enum edl_type t);
int edl_type_parse(const char *s, enum edl_type *t);
/* "allow", "allow_overlap", "cap", "unsupported". */
const char *edl_drop_name(enum edl_drop d);

/*
 * Checks c (list names unique and valid, allow values recognised) and copies it. 0, or
 * -EINVAL with e naming the list or value, -ENOMEM, or a metrics registration's code.
 */
int edl_new(struct edl **d, const struct edl_config *c, struct err *e);
void edl_free(struct edl *d);
/* Whether a list of that name is configured. */
bool edl_has_list(const struct edl *d, const char *list);

/*
 * Calls fn with tenant's list (built, or the cached one while still current) read through
 * m at now_ns. -ENOENT: no such list (e says so), -ENOMEM, -EFBIG (past EDL_TEXT_MAX),
 * or m's errors.
 */
int edl_get(struct edl *d, struct meta *m, const char *tenant, const char *list, int64_t now_ns,
	    void (*fn)(void *ctx, const struct edl_list *l), void *ctx, struct err *e);

/*
 * Reads an allow-list value as given (an address, a network, a domain, a URL) into its
 * type and canonical form (out[TI_VALUE_BUF], enrich/ti.h). 0 or -EINVAL with e.
 */
int edl_allow_parse(const char *s, const char **type, char *out, struct err *e);

#endif
