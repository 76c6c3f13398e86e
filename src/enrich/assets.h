/*
 * assets.h - the tenants' asset inventory: what koban knows of the hosts it protects.
 *
 * The inventory lives in koban.db (store/meta.h, "Assets"); this module reads it into
 * memory for look-ups, edits assets (the CLI's and the API's options and JSON bodies),
 * imports CSV into it and lists the hosts seen in alerts that no asset covers.
 *
 * CSV import (RFC 4180 as core/csv.h reads it: ',' separated, '"' quoted with "" inside,
 * quoted cells may span lines, blanks around a cell not part of it; at most
 * ASSETS_CSV_RECORD_MAX bytes and ASSETS_CSV_COLS_MAX cells a record):
 *   - ASSETS_CSV, koban's own layout: which column holds what from a column map
 *     ("name=1,addresses=2,owner=5", columns counted from 1) or from a header line naming
 *     the columns below (case-insensitive; "ip", "ips", "address", "cidr" for addresses,
 *     "host", "hostname", "fqdn" for hostnames, "cve" for cves). One asset per record.
 *       name         the asset's name (required unless hostnames or addresses give one)
 *       hostnames    host names, separated by ';', ',' or blanks
 *       addresses    addresses or networks (10.0.0.0/8), separated likewise
 *       owner        free text
 *       criticality  low medium high critical
 *       role         server pc network other
 *       software     "NAME VERSION" items separated by ';' (VERSION the last word when it
 *                    starts with a digit, else none)
 *       cves         CVE ids, separated by ';', ',' or blanks
 *   - ASSETS_NESSUS, a Nessus (Tenable) "CSV" export of a scan: one finding per record,
 *     header "Plugin ID,CVE,CVSS v2.0 Base Score,Risk,Host,Protocol,Port,Name,...": the
 *     columns Host (an address or a name), CVE and, when present, IP Address, FQDN,
 *     DNS Name and NetBIOS Name are read. The findings of one host become one asset.
 *   - ASSETS_OPENVAS, an OpenVAS / Greenbone results CSV export, header
 *     "IP,Hostname,Port,Port Protocol,CVSS,Severity,...,CVEs,...": IP, Hostname and CVEs
 *     (a comma-separated list) are read; one asset per host as above.
 *   - ASSETS_AUTO: the header decides (Nessus's "Plugin ID", OpenVAS's "NVT OID" or
 *     "NVT Name", else koban's layout).
 * A record is merged into the asset it names: the one of the same name, else the one
 * listing one of its host names, else one listing one of its addresses exactly; else it
 * becomes a new asset (criticality medium and role other unless given), named by its name,
 * first host name or first address. Lists are merged (each value once); owner,
 * criticality and role take the record's value when it has one. A record that names no
 * asset, or holds a value out of shape, is rejected with its line and the reason; the
 * others are stored in one transaction.
 *
 * Look-ups (assets_lookup): an address matches the asset whose address or network holds
 * it, the most specific first; a host name matches case-insensitively a host name or the
 * name of an asset, and "web01" matches "web01.example.com" and the other way round (the
 * exact name first). Only the tenant's own assets match: there are no global assets. The
 * look-up index is built by assets_load and again by assets_store: entries added or edited
 * otherwise are not found until stored.
 *
 * Ownership: struct assets owns every entry and string it hands out; they live until
 * assets_free. The texts given are the caller's. Threads: a struct assets is built and
 * edited by one thread; once built, assets_lookup may be called from any number of
 * threads at once (nothing is written by a look-up).
 */
#ifndef ENRICH_ASSETS_H
#define ENRICH_ASSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct meta;
struct meta_asset;

#define ASSETS_CSV_RECORD_MAX (1u << 20) /* bytes of one CSV record */
#define ASSETS_CSV_COLS_MAX 256          /* cells of one CSV record */
#define ASSETS_MEMORY_MAX ((size_t)1 << 31) /* strings of one struct assets */
#define ASSETS_UNKNOWN_MAX 10000         /* distinct unknown hosts reported */

enum assets_column {
	ASSETS_COL_NAME, ASSETS_COL_HOSTNAMES, ASSETS_COL_ADDRESSES, ASSETS_COL_OWNER,
	ASSETS_COL_CRITICALITY, ASSETS_COL_ROLE, ASSETS_COL_SOFTWARE, ASSETS_COL_CVES,
	ASSETS_N_COLS
};

/* "name", "hostnames", ... (the column map's and the API's names). */
const char *assets_column_name(enum assets_column c);

/* Column numbers from 1; 0: the column is absent. */
struct assets_columns {
	unsigned col[ASSETS_N_COLS];
};

/* Parses a column map "name=1,addresses=2"; -EINVAL with e naming the bad item. */
int assets_columns_parse(const char *spec, struct assets_columns *cols, struct err *e);

enum assets_format { ASSETS_AUTO, ASSETS_CSV, ASSETS_NESSUS, ASSETS_OPENVAS };

/* "auto", "csv", "nessus", "openvas"; assets_format_parse: -EINVAL for another name. */
const char *assets_format_name(enum assets_format f);
int assets_format_parse(const char *s, enum assets_format *f, struct err *e);

/* A growable list of strings (in the struct assets' memory). */
struct assets_list {
	const char **v;
	size_t n, cap;
};

/* One asset. Software is two lists of the same length: names and versions ("" none). */
struct assets_entry {
	int64_t id;                /* koban.db's id; 0 for an asset not stored yet */
	const char *tenant;
	const char *name;
	const char *owner;         /* "" when none */
	const char *criticality;   /* low medium high critical */
	const char *role;          /* server pc network other */
	struct assets_list hostnames, addresses, software_names, software_versions, cves;
	int64_t created_ns, updated_ns;
	bool changed;              /* edited since read (import: to be written) */
};

struct assets;

/* An empty inventory (to edit one asset, or fill by assets_load). */
int assets_new(struct assets **out, struct err *e);
/* The assets of tenant (NULL: every tenant's) from koban.db, indexed for look-ups. */
int assets_load(struct meta *m, const char *tenant, struct assets **out, struct err *e);
void assets_free(struct assets *a);

/*
 * The tenant's asset id (id 0: the one named name) alone in a new inventory *out, *en
 * pointing at it; -ENOENT when the tenant has none such.
 */
int assets_load_one(struct meta *m, const char *tenant, int64_t id, const char *name,
		    struct assets **out, struct assets_entry **en, struct err *e);

size_t assets_count(const struct assets *a);
struct assets_entry *assets_at(struct assets *a, size_t i);

/* Adds an entry from a koban.db row (its JSON lists read). */
int assets_add_row(struct assets *a, const struct meta_asset *row, struct assets_entry **out,
		   struct err *e);
/*
 * Adds an empty asset of tenant named name (criticality medium, role other); name may be
 * "" when a JSON body or options name it next (the store refuses it still empty).
 */
int assets_add_new(struct assets *a, const char *tenant, const char *name,
		   struct assets_entry **out, struct err *e);

/*
 * Sets column c of en from the text s[0..len) as a CSV cell or a CLI option gives it: a
 * scalar is replaced (criticality and role checked, any case), a list's values are added
 * (replace: emptied first), each checked and put in canonical form (host names lower-case
 * without a final dot, addresses as 192.0.2.0/24 or 192.0.2.7, CVEs upper-case). -EINVAL
 * with e naming the value.
 */
int assets_entry_set(struct assets *a, struct assets_entry *en, enum assets_column c,
		     const char *s, size_t len, bool replace, struct err *e);
/*
 * Applies a JSON object {"name": .., "hostnames": [..], "addresses": [..], "owner": ..,
 * "criticality": .., "role": .., "software": [{"name": .., "version": ..}], "cves": [..]}
 * to en: each key given replaces that field; unknown keys are refused (-EINVAL).
 */
int assets_entry_apply_json(struct assets *a, struct assets_entry *en, const char *json,
			    size_t len, struct err *e);

/*
 * en as a koban.db row: its lists written as JSON into the four bufs (cleared first), which
 * the row points into; row lives as long as en and the bufs.
 */
int assets_entry_row(const struct assets_entry *en, struct buf *lists[4],
		     struct meta_asset *row);
/*
 * en as one JSON object (the API's and `asset list --json`'s shape: id, tenant, the
 * columns, created and updated as RFC 3339 or null), appended to out.
 */
int assets_entry_write_json(const struct assets_entry *en, struct buf *out);

/*
 * The tenant's asset that covers value (an address or a host name, not NUL-terminated),
 * or NULL. Read-only: any thread once built.
 */
const struct assets_entry *assets_lookup(const struct assets *a, const char *tenant,
					 const char *value, size_t len);

/* What an import did. */
struct assets_import_stats {
	unsigned records, added, updated, rejected;
};

/*
 * Reads the CSV text (format f; cols for ASSETS_CSV, NULL: from the header) and merges
 * its records into a (a tenant's assets, from assets_load), marking what changed; each
 * rejected record goes to reject() with its first line and why (and what it changed before
 * the bad value stays). 0, or a negative code (out of memory, no header) with e.
 */
int assets_merge_csv(struct assets *a, const char *tenant, const char *text, size_t len,
		     enum assets_format f, const struct assets_columns *cols,
		     void (*reject)(void *ctx, unsigned line, const char *why), void *ctx,
		     struct assets_import_stats *st, struct err *e);
/*
 * Writes the changed entries of a into koban.db in one transaction (new ones added with
 * their ids set, the others updated); counts them in st. Nothing is written on error.
 */
int assets_store(struct assets *a, struct meta *m, struct assets_import_stats *st,
		 struct err *e);

/* A host seen in the tenant's alerts that no asset covers. */
struct assets_unknown {
	const char *value;     /* the address or host name, as in the alert */
	const char *kind;      /* "ip" or "host" */
	const char *field;     /* the key field of the latest alert naming it ("source.ip") */
	int64_t alerts;        /* how many alerts named it */
	int64_t first_ns, last_ns; /* the alerts' detection times */
};

/*
 * The hosts named by the key fields of the tenant's alerts detected at or after since_ns
 * (the latest META_ALERT_LIST_MAX) that no asset of the tenant covers, the most seen
 * first: host names (fields host.name and host.hostname) and internal addresses (fields
 * ending in ".ip" holding an RFC 1918, 100.64.0.0/10, link-local or fc00::/7 address: a
 * public address is mostly someone else's host, an attacker or a web site). At most
 * ASSETS_UNKNOWN_MAX; those past it are counted in *dropped.
 */
int assets_unknown_list(struct meta *m, const char *tenant, int64_t since_ns,
			void (*fn)(void *ctx, const struct assets_unknown *u), void *ctx,
			int64_t *dropped, struct err *e);
/* u as one JSON object ({"value", "kind", "alerts", "first_seen", "last_seen", "field"}). */
int assets_unknown_write_json(const struct assets_unknown *u, struct buf *out);

#endif
