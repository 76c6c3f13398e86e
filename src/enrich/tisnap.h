/*
 * tisnap.h - the in-memory snapshot of the indicator store, and its lock-free swap.
 *
 * A snapshot holds every unexpired indicator of koban.db (store/meta.h) in compact form:
 * one record each (type, canonical value, source, scope, confidence, expiry, row id) and
 * one open-addressing hash table keyed by (type, value) for every indicator but networks,
 * with a filter in front that answers most misses from one word. The global scope's and a
 * tenant's records of one key sit in one probe chain. Networks, per scope, are a forest of
 * nested ranges: the address space cut where a listed network starts or ends, each piece
 * knowing its innermost network, each network its parent; an address is one binary search
 * (IPv4: inside a bucket of its leading bits) whatever the prefix lengths listed, then a
 * walk up (an address inside a listed network matches, every enclosing one too). A domain
 * is looked up with each of its suffixes at a label boundary (a listed domain matches its
 * sub-domains). URLs, hashes and e-mail addresses match on their canonical form
 * (ti_normalize; hashes in any case). Tags, description and ref stay in koban.db: a match
 * gives the row id to fetch them.
 *
 * ti_lookup() gives the global indicators and those of the tenant named, never another
 * tenant's. A snapshot is immutable once built: any number of threads may look up in it.
 *
 * struct ti_live publishes the current snapshot to reader threads without a lock: each
 * reader has a slot (a hazard pointer) that it sets in ti_live_enter() and clears in
 * ti_live_leave(); ti_live_swap() installs a new snapshot, waits until no slot holds the
 * old one, and frees it. enter/leave: from the reader owning the slot; swap: one thread
 * at a time (the one that rebuilds), never from a reader between its enter and leave.
 *
 * Ownership: the builder owns what it was given copies of; ti_builder_finish() hands the
 * snapshot to the caller (ti_snapshot_free()), ti_live_swap() takes it over. Match
 * pointers are valid while the snapshot is (between enter and leave).
 */
#ifndef ENRICH_TISNAP_H
#define ENRICH_TISNAP_H

#include <stddef.h>
#include <stdint.h>

#include "enrich/ti.h"

struct err;
struct ipaddr;
struct meta;
struct meta_indicator;

#define TI_SNAPSHOT_MAX (16u << 20)  /* indicators in one snapshot */
#define TI_SOURCES_MAX 65535         /* distinct sources */

struct ti_match {
	enum ti_type type;
	const char *value;     /* the indicator's canonical value */
	const char *source;
	const char *tenant;    /* NULL: global */
	int confidence;        /* 0-100, -1: unknown */
	int64_t expires_ns;    /* 0: never */
	int64_t id;            /* its row in koban.db */
};

struct ti_snapshot;
struct ti_builder;

/* now_ns: indicators that expired by then are left out (counted). */
int ti_builder_new(struct ti_builder **b, int64_t now_ns, struct err *e);
/*
 * Adds one. The value must be canonical, as meta_indicator_list() gives it (it checked
 * every row); only the type and an ip's address are checked again here.
 */
int ti_builder_add(struct ti_builder *b, const struct meta_indicator *ind, struct err *e);
/* Builds the tables and frees b (also on error). */
int ti_builder_finish(struct ti_builder *b, struct ti_snapshot **s, struct err *e);
void ti_builder_free(struct ti_builder *b);

/* Every indicator of koban.db, every scope. */
int ti_snapshot_load(struct meta *m, int64_t now_ns, struct ti_snapshot **s, struct err *e);
void ti_snapshot_free(struct ti_snapshot *s);

struct ti_snapshot_stats {
	size_t indicators;     /* in the snapshot */
	size_t expired;        /* left out: expired when built */
	size_t bytes;          /* memory held */
};
void ti_snapshot_stats(const struct ti_snapshot *s, struct ti_snapshot_stats *st);

/*
 * Calls fn for every indicator matching (value, len) of type for tenant (NULL: global
 * ones only): the value as an event carries it (an address, a host name, a URL, a hash).
 * A network ADDR/LEN matches the listed networks that hold all of it (itself included).
 * Indicators expired by now are not given. Order: the global ones, then the tenant's; in
 * each, an address itself before the networks holding it, innermost first; a host name
 * before its parents. Returns how many matched (0 also when the value is not one of type).
 */
size_t ti_lookup(const struct ti_snapshot *s, const char *tenant, enum ti_type type,
		 const char *value, size_t len,
		 void (*fn)(void *ctx, const struct ti_match *m), void *ctx);
/*
 * The same as ti_lookup(TI_IP) of ip's text, for an address an event already holds parsed
 * (core/field.h FT_IP): no text is formatted or parsed again.
 */
size_t ti_lookup_ip(const struct ti_snapshot *s, const char *tenant, const struct ipaddr *ip,
		    void (*fn)(void *ctx, const struct ti_match *m), void *ctx);

struct ti_live;

/* readers: how many reader slots (worker threads). Starts with an empty snapshot. */
int ti_live_new(struct ti_live **l, unsigned readers, struct err *e);
void ti_live_free(struct ti_live *l);
const struct ti_snapshot *ti_live_enter(struct ti_live *l, unsigned reader);
void ti_live_leave(struct ti_live *l, unsigned reader);
/* Installs fresh (taken over), then frees the previous one once no reader holds it. */
void ti_live_swap(struct ti_live *l, struct ti_snapshot *fresh);

#endif
