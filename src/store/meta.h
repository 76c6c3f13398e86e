/*
 * meta.h - the metadata store: tenants, sources, API tokens, the sources' ingest tokens and
 * the tenants' alerts (later users, assets, ...).
 *
 * SQLite in WAL mode at DATA_DIR/koban.db, behind this API so another database can serve
 * it later. meta_open() creates the file and the schema (versioned migrations) when
 * missing. Names are checked here, not only in the CLI: a tenant name is 1-63 of
 * [a-z0-9_-] starting with a letter or digit; names starting with '_' are reserved
 * (the built-in tenant "_unassigned" always exists and cannot be removed).
 *
 * Ownership: list functions hand each row to a callback; the row's strings are valid
 * only during the call. Errors: 0 or a negative code with a message in e (-EEXIST,
 * -ENOENT, -EINVAL, -EIO).
 *
 * Thread safety: one struct meta per thread; open a second handle for another thread.
 */
#ifndef STORE_META_H
#define STORE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct meta;

#define META_UNASSIGNED "_unassigned"

struct meta_tenant {
	int64_t id;
	const char *name;
	int64_t created_ns;
	int64_t n_sources;
	int64_t received;       /* messages `serve` routed to it (all runs), 0 before any */
	int64_t last_event_ns;  /* when the latest was seen (to the flush interval), or 0 */
};

struct meta_source {
	int64_t id;
	const char *name;     /* unique within its tenant; two tenants may use one name */
	const char *tenant;
	const char *cidr;     /* NULL or "10.0.0.0/8", "2001:db8::/32", a bare address */
	const char *host;     /* NULL or a syslog HOSTNAME, compared case-insensitively */
	const char *listener; /* NULL or a listener name from the config */
	const char *format;   /* "auto", "rfc3164", "rfc5424" */
	const char *tz;       /* NULL or an IANA zone name */
	int64_t created_ns;
};

/*
 * Rows read back from koban.db are validated again (the file may have been written by
 * something else): a tenant or source row that fails the checks is skipped with a
 * warning, so a crafted name never reaches a file path, a metric label or a log line.
 * Names in error messages are escaped with meta_escape().
 */
#define META_ESCAPE_MAX 96
/*
 * Writes s into out (META_ESCAPE_MAX bytes) with control characters, quotes, backslash and
 * bytes >= 0x7f as \xNN, cut with "..." when long; returns out.
 */
const char *meta_escape(const char *s, char out[META_ESCAPE_MAX]);

int meta_open(struct meta **m, const char *data_dir, struct err *e);
void meta_close(struct meta *m);
/*
 * The SQLite virtual-machine steps this handle's statements have run since it was opened:
 * the work of a call, independent of the machine's speed, so that a test can show that a
 * query reads the rows it needs and not a whole table.
 */
uint64_t meta_steps(const struct meta *m);

/*
 * WAL checkpoints. SQLite copies koban.db's WAL back into the database on the connection
 * whose commit takes the WAL past META_AUTOCHECKPOINT_PAGES, stalling that commit (a fifth
 * of the SOC engine's thread under a storm of alerts). A thread that alerts must not wait
 * for turns this off on its own connection (meta_autocheckpoint(m, false)) and starts a
 * checkpointer: a thread of its own (koban-dbckpt) on its own connection that runs a
 * passive checkpoint every interval_ns (default 1 s) until stopped. meta_checkpoint() runs
 * one now (busy is no error: the next one copies it).
 */
#define META_AUTOCHECKPOINT_PAGES 1000 /* SQLite's default */
struct meta_checkpointer;
void meta_autocheckpoint(struct meta *m, bool on);
int meta_checkpoint(struct meta *m, struct err *e);
int meta_checkpointer_start(struct meta_checkpointer **c, const char *data_dir,
			    int64_t interval_ns, struct err *e);
void meta_checkpointer_stop(struct meta_checkpointer *c);

int meta_tenant_add(struct meta *m, const char *name, struct err *e);
/* Removes the tenant and its sources. */
int meta_tenant_remove(struct meta *m, const char *name, struct err *e);
int meta_tenant_get(struct meta *m, const char *name,
		    void (*fn)(void *ctx, const struct meta_tenant *t), void *ctx, struct err *e);
/* The tenant's id alone (meta_tenant_get counts its sources and reads its activity too). */
int meta_tenant_id(struct meta *m, const char *name, int64_t *id, struct err *e);
int meta_tenant_list(struct meta *m, void (*fn)(void *ctx, const struct meta_tenant *t),
		     void *ctx, struct err *e);

/*
 * Adds a source (id and created_ns ignored). At least one of cidr, host, listener must
 * be set; cidr, format and tz are validated.
 */
int meta_source_add(struct meta *m, const struct meta_source *s, struct err *e);
/* The checks meta_source_add() makes on s alone (not whether the tenant exists). */
int meta_source_check(const struct meta_source *s, struct err *e);
/* Removes tenant's source name (a source is named by its tenant and its name). */
int meta_source_remove(struct meta *m, const char *tenant, const char *name, struct err *e);
/* Sets the criteria of tenant s->tenant's source s->name to those of s. */
int meta_source_update(struct meta *m, const struct meta_source *s, struct err *e);
/* Whether name is a valid tenant name, or a built-in one (_unassigned). */
int meta_tenant_check(const char *name, struct err *e);
/* tenant NULL: sources of every tenant. Ordered by tenant, then name. */
int meta_source_list(struct meta *m, const char *tenant,
		     void (*fn)(void *ctx, const struct meta_source *s), void *ctx, struct err *e);

/*
 * Transactions: meta_begin() ... meta_commit(), or meta_rollback() after an error, make
 * several changes one (tenant import, the activity flush). Not nested. meta_begin_read()
 * ... meta_commit() makes several reads one: one snapshot, and one lock instead of one
 * per statement (a writer may still commit meanwhile; the reads do not see it).
 * meta_in_transaction() says whether one is open: SQLite ends it by itself after some
 * errors (a full disk, an I/O error), and the statements after run on their own.
 */
int meta_begin(struct meta *m, struct err *e);
int meta_begin_read(struct meta *m, struct err *e);
int meta_commit(struct meta *m, struct err *e);
void meta_rollback(struct meta *m);
bool meta_in_transaction(struct meta *m);

/* Adds received messages to tenant's activity, last seen at now_ns; -ENOENT: no tenant. */
int meta_activity_add(struct meta *m, const char *tenant, int64_t received, int64_t now_ns,
		      struct err *e);

/* A sender whose messages matched no source (`koban source unassigned`). */
struct meta_sender {
	const char *address;
	int64_t count;
	int64_t last_ns;
};

/* Adds count messages from address (the busiest 1,000 addresses are kept). */
int meta_sender_add(struct meta *m, const char *address, int64_t count, int64_t last_ns,
		    struct err *e);
/* The limit busiest senders, busiest first. */
int meta_sender_list(struct meta *m, int64_t limit,
		     void (*fn)(void *ctx, const struct meta_sender *s), void *ctx, struct err *e);

/*
 * API tokens (`koban token`): a name, a tenant (or none: SOC-wide, any tenant) and the
 * hash of the secret. The secret is shown once when made and never stored: a request's
 * token is hashed (BLAKE2b-256, libsodium generichash with a fixed context key) and looked
 * up by its hash. Removing a tenant removes its tokens.
 */
#define META_TOKEN_PREFIX "kbn_"
#define META_TOKEN_RANDOM 32                   /* random bytes in a token */
#define META_TOKEN_LEN (4 + 43)                /* the prefix and base64url of the bytes */
#define META_TOKEN_HASH_LEN 32

struct meta_token {
	int64_t id;
	const char *name;
	const char *tenant;     /* NULL: a SOC-wide token */
	int64_t tenant_id;      /* -1: SOC-wide */
	int64_t created_ns;
	bool edl;               /* an EDL token (meta_edl_token_add): lists only, no API */
};

/* A new random secret "kbn_..." (NUL-terminated). */
int meta_token_new(char out[META_TOKEN_LEN + 1], struct err *e);
void meta_token_hash(const char *token, size_t len, unsigned char out[META_TOKEN_HASH_LEN]);
/* Adds a token for tenant (NULL: SOC-wide); -EEXIST for a name taken, -ENOENT: no tenant. */
int meta_token_add(struct meta *m, const char *name, const char *tenant,
		   const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e);
int meta_token_revoke(struct meta *m, const char *name, struct err *e);
/* Ordered by name. */
int meta_token_list(struct meta *m, void (*fn)(void *ctx, const struct meta_token *t),
		    void *ctx, struct err *e);
/* Calls fn for the API token with that hash; -ENOENT when there is none (or an EDL one). */
int meta_token_find(struct meta *m, const unsigned char hash[META_TOKEN_HASH_LEN],
		    void (*fn)(void *ctx, const struct meta_token *t), void *ctx, struct err *e);

/*
 * Ingest tokens of sources (HTTP ingest, `koban source token`): at most one per source,
 * made with meta_token_new and stored as meta_token_hash, like API tokens (a separate
 * table: an ingest token reads nothing, an API token ingests nothing). Setting one replaces
 * the source's previous token; removing the source or its tenant removes it.
 */
struct meta_source_token {
	struct meta_source source; /* the source the token ingests for (its tenant, format, tz) */
	int64_t tenant_id;
	int64_t created_ns;        /* when the token was made */
};

/* -ENOENT when tenant has no source of that name. */
int meta_source_token_set(struct meta *m, const char *tenant, const char *source,
			  const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e);
/* -ENOENT when the source has no token (or does not exist). */
int meta_source_token_revoke(struct meta *m, const char *tenant, const char *source,
			     struct err *e);
/* Calls fn for the source whose token has that hash; -ENOENT when there is none. */
int meta_source_token_find(struct meta *m, const unsigned char hash[META_TOKEN_HASH_LEN],
			   void (*fn)(void *ctx, const struct meta_source_token *t), void *ctx,
			   struct err *e);

/*
 * Alerts (soc/alert.h stores them; `koban alert` and GET /api/v1/alerts read them). Every
 * read names the tenant: an alert of one tenant is never listed or shown for another, not
 * even by its id. Rows are checked again when read (meta_alert_check); a row that fails is
 * skipped with a warning. Removing a tenant removes its alerts.
 */
#define META_ALERT_TEXT_MAX 4096           /* bytes of a rule field (id, title, ...) */
#define META_ALERT_JSON_MAX 65536          /* bytes of tags, references, group, keys */
#define META_ALERT_EVENTS_MAX 16           /* matched events kept with an alert */
#define META_ALERT_EVENTS_BYTES 65536      /* bytes of the events kept */
#define META_ALERT_LIST_MAX 10000          /* rows of one list */

struct meta_alert {
	int64_t id;                 /* given by meta_alert_add (ignored there) */
	const char *tenant;
	const char *kind;           /* "sigma", "correlation", "builtin" or "indicator" */
	const char *rule_id;        /* the rule's id, else its name, else FILE:LINE */
	const char *rule_title;
	const char *rule_level;     /* informational low medium high critical, or "" */
	const char *rule_author;    /* kept for the Detection Rule License; "" when none */
	const char *rule_status;    /* "stable", "test", ... or "" */
	const char *rule_link;      /* where the rule comes from (file or URL); "" when none */
	const char *rule_tags;      /* a JSON array of strings */
	const char *rule_references;/* a JSON array of strings */
	int64_t event_ns;           /* time of the (last) matched event; 0: unknown */
	int64_t detected_ns;        /* when koban raised it */
	const char *group_fields;   /* a JSON object: the correlation's group-by values */
	const char *key_fields;     /* a JSON object: the fields that explain the match */
	const char *events;         /* ECS JSON lines, each ended by '\n'; NULL in lists */
	int64_t n_events;           /* lines in events */
	int64_t events_omitted;     /* matched events not kept (past the limits) */
};

/*
 * What every stored alert satisfies: a tenant name, a known kind and level, rule fields of
 * printable UTF-8 (at most META_ALERT_TEXT_MAX bytes), the JSON texts well formed (at most
 * META_ALERT_JSON_MAX bytes), events (when not NULL) n_events JSON objects one per line
 * within META_ALERT_EVENTS_MAX and META_ALERT_EVENTS_BYTES.
 */
int meta_alert_check(const struct meta_alert *a, struct err *e);
/* Adds a (id, tenant name resolved); its new id in *id (may be NULL). -ENOENT: no tenant. */
int meta_alert_add(struct meta *m, const struct meta_alert *a, int64_t *id, struct err *e);
/*
 * The tenant's alerts detected at or after since_ns, newest first, at most limit
 * (1..META_ALERT_LIST_MAX). Rows come without their events (a->events NULL, n_events set).
 * -ENOENT: no such tenant.
 */
int meta_alert_list(struct meta *m, const char *tenant, int64_t since_ns, int64_t limit,
		    void (*fn)(void *ctx, const struct meta_alert *a), void *ctx, struct err *e);
/* The tenant's alert id with its events; -ENOENT when the tenant has no such alert. */
int meta_alert_get(struct meta *m, const char *tenant, int64_t id,
		   void (*fn)(void *ctx, const struct meta_alert *a), void *ctx, struct err *e);
/* Removes the alerts detected before before_ns (every tenant); how many in *deleted. */
int meta_alert_prune(struct meta *m, int64_t before_ns, int64_t *deleted, struct err *e);

/*
 * Detection rules per tenant (`koban rule enable|disable|tune|policy|history`;
 * docs/detection.md, "Rule policy per tenant"). A tenant's setting of a rule is enabled,
 * disabled or none (the global default applies: on, unless the configuration's
 * detect.disable names the rule), plus an optional tuning filter: a Sigma detection (search
 * identifiers and a condition, YAML text) whose matches the rule does not report for that
 * tenant. Every change is kept with who made it, when, why, and the state before and after.
 *
 * A rule is named by its id (else its name): 1-256 printable ASCII characters without
 * spaces, not checked against the loaded rules (a policy outlives a rule directory that
 * is taken away, and applies again when it comes back). Every call takes the tenant: no
 * call reads or writes another tenant's policy.
 */
#define META_RULE_MAX 256
#define META_RULE_WHO_MAX 128
#define META_RULE_REASON_MAX 1024
#define META_RULE_FILTER_MAX 65536

enum meta_rule_state { META_RULE_DEFAULT = -1, META_RULE_OFF = 0, META_RULE_ON = 1 };

enum meta_rule_action { META_RULE_ENABLE, META_RULE_DISABLE, META_RULE_TUNE, META_RULE_UNTUNE };

/* "enable", "disable", "tune", "untune" (the history's action names). */
const char *meta_rule_action_name(enum meta_rule_action a);

struct meta_rule_policy {
	const char *tenant;
	const char *rule;
	int enabled;            /* enum meta_rule_state */
	const char *filter;     /* NULL: not tuned */
	int64_t changed_ns;     /* the latest change */
	const char *changed_by;
};

struct meta_rule_change {
	const char *tenant;
	const char *rule;
	enum meta_rule_action action;
	const char *filter;     /* META_RULE_TUNE: the filter's text (checked by the caller) */
	const char *who;        /* 1-128 bytes, no control characters */
	const char *reason;     /* at most 1,024 bytes, no control characters; NULL: none;
				   required to tune and untune */
};

struct meta_rule_history {
	int64_t id;             /* increasing: later changes have higher ids */
	const char *tenant;
	const char *rule;
	int64_t time_ns;
	const char *who;
	const char *action;     /* meta_rule_action_name() */
	const char *reason;     /* "" when none was given */
	int enabled_before, enabled_after;       /* enum meta_rule_state */
	const char *filter_before, *filter_after; /* NULL: not tuned */
};

/*
 * Applies c and records it in the history, in one transaction of its own (not inside
 * meta_begin()). *changed is false, and nothing is written, when the tenant's policy
 * already was so (disabling a disabled rule). -EINVAL (a value out of shape), -ENOENT (no
 * tenant).
 */
int meta_rule_change(struct meta *m, const struct meta_rule_change *c, bool *changed,
		     struct err *e);
/* The tenant's settings, ordered by rule. */
int meta_rule_policy_list(struct meta *m, const char *tenant,
			  void (*fn)(void *ctx, const struct meta_rule_policy *p), void *ctx,
			  struct err *e);
/* The tenant's changes (of rule only, unless NULL), newest first, at most limit. */
int meta_rule_history_list(struct meta *m, const char *tenant, const char *rule, int64_t limit,
			   void (*fn)(void *ctx, const struct meta_rule_history *h), void *ctx,
			   struct err *e);
/* Whether rule is a well-formed rule reference (the checks of every call above). */
int meta_rule_check(const char *rule, struct err *e);

/*
 * Threat-intelligence indicators (enrich/ti.h; `koban ti`): each has a source (a feed or
 * list name, 1-63 of [a-z0-9_-]), a scope (NULL: global, else one tenant), a type (the
 * names of ti_type_name()) and a canonical value (ti_normalize()); one row per (source,
 * scope, type, value). Importing one again updates it: last seen, confidence, expiry,
 * tags, description and ref take the new values, first seen the earlier, and `imports`
 * counts how often it came. Removing a tenant removes its indicators.
 */
#define META_TI_TEXT_MAX 4096  /* bytes of a description or ref */
#define META_TI_TAGS_MAX 65536 /* bytes of the tags' JSON */

struct meta_indicator {
	int64_t id;                 /* given by the store (ignored when put) */
	const char *source;
	const char *tenant;         /* NULL: global */
	const char *type;           /* "ip", "domain", ... (ti_type_name) */
	const char *value;          /* canonical (ti_normalize) */
	int confidence;             /* 0-100, -1: unknown */
	int64_t first_seen_ns, last_seen_ns, expires_ns; /* expires 0: never */
	const char *tags;           /* a JSON array of strings */
	const char *description;    /* NULL: none */
	const char *ref;            /* NULL: none */
	int64_t imports;            /* how many imports brought it (ignored when put) */
};

/* What every stored indicator satisfies (checked when put and again when read). */
int meta_indicator_check(const struct meta_indicator *ind, struct err *e);

/*
 * An import: one transaction, one prepared statement for many indicators of one source
 * and scope. begin checks the source and finds the tenant (-ENOENT: none); put adds or
 * updates one (*added true when new); end commits (commit true) or rolls back, and frees p.
 */
struct meta_indicator_put;
int meta_indicator_put_begin(struct meta *m, const char *source, const char *tenant,
			     struct meta_indicator_put **p, struct err *e);
int meta_indicator_put(struct meta_indicator_put *p, const struct meta_indicator *ind,
		       bool *added, struct err *e);
int meta_indicator_put_end(struct meta_indicator_put *p, bool commit, struct err *e);

enum meta_indicator_scope {
	META_TI_EVERY,      /* every scope (the snapshot builder) */
	META_TI_GLOBAL,     /* global indicators only */
	META_TI_TENANT,     /* the tenant's own only */
	META_TI_APPLIES,    /* what applies to the tenant: global and its own */
};

struct meta_indicator_filter {
	enum meta_indicator_scope scope;
	const char *tenant;         /* for META_TI_TENANT and META_TI_APPLIES */
	const char *source;         /* NULL: every source */
	const char *type;           /* NULL: every type */
	const char *value;          /* NULL: every value */
};

/*
 * Ordered by type, value, scope, source, except META_TI_EVERY (in no order: the snapshot's
 * load). -ENOENT: the filter names no tenant known.
 */
int meta_indicator_list(struct meta *m, const struct meta_indicator_filter *f,
			void (*fn)(void *ctx, const struct meta_indicator *ind), void *ctx,
			struct err *e);
/*
 * Removes source's indicators of one scope (f->scope META_TI_GLOBAL or META_TI_TENANT;
 * f->source required), only those of f->type and f->value when given; how many in *removed.
 * In the caller's transaction when one is open (meta_begin), else in one of its own; either
 * way with the bump of meta_indicator_generation.
 */
int meta_indicator_remove(struct meta *m, const struct meta_indicator_filter *f,
			  int64_t *removed, struct err *e);

/*
 * tifeed: the state of the threat-intelligence feeds (enrich/tifeed.h), keyed by the
 * feed's name (the source of its indicators): the validators of the last good document
 * (conditional GET), the TAXII watermark, the outcome of the last attempt, and for MISP
 * feeds the events stored with their timestamps and values. A feed that gives the whole
 * set (list, csv, stix) records the values of the new document with keep() and prunes the
 * indicators of its source and scope that are not among them, in the transaction of the
 * import (meta_indicator_put_begin .. put_end), so the old set stays until the new one
 * commits. A MISP feed keeps each event's values (event uuid) across fetches and prunes
 * against all of them. Feeds are configured globally, a feed's indicators have one
 * scope: every call that touches indicators takes that scope (NULL: global).
 */
struct meta_ti_feed {
	const char *name;            /* 1-63 of [a-z0-9_-] */
	const char *url;             /* the URL the state is of (validators, watermark) */
	const char *etag;            /* ETag of the last good document, NULL: none */
	const char *last_modified;   /* its Last-Modified, NULL: none */
	const char *watermark;       /* taxii: the last stored page's date, NULL: none */
	int64_t last_attempt_ns;     /* 0: never fetched */
	int64_t last_success_ns;     /* 0: never succeeded */
	int64_t last_error_ns;
	const char *last_error;      /* the last failure's message, NULL when the last attempt succeeded */
	int64_t failures;            /* attempts failed since the last success */
	int64_t indicators;          /* the feed's indicators after its last success */
	int64_t next_ns;             /* when the next fetch is due */
};
#define META_TI_FEED_TEXT_MAX 8192 /* bytes of a URL, validator, watermark or error */

/* The state of feed name to fn; -ENOENT when never saved. */
int meta_ti_feed_get(struct meta *m, const char *name,
		     void (*fn)(void *ctx, const struct meta_ti_feed *f), void *ctx, struct err *e);
/* Every feed's state, by name. */
int meta_ti_feed_list(struct meta *m, void (*fn)(void *ctx, const struct meta_ti_feed *f),
		      void *ctx, struct err *e);
/* Adds or replaces the state of f->name (texts longer than META_TI_FEED_TEXT_MAX: -EINVAL). */
int meta_ti_feed_save(struct meta *m, const struct meta_ti_feed *f, struct err *e);

/*
 * The values a fetch keeps: event NULL, a whole document's (a temporary table of this
 * connection, emptied by begin); else MISP event's of feed (its stored values replaced).
 * end frees k (NULL: no-op).
 */
struct meta_ti_feed_keep;
int meta_ti_feed_keep_begin(struct meta *m, const char *feed, const char *event,
			    struct meta_ti_feed_keep **k, struct err *e);
int meta_ti_feed_keep(struct meta_ti_feed_keep *k, const char *type, const char *value,
		      struct err *e);
void meta_ti_feed_keep_end(struct meta_ti_feed_keep *k);
/*
 * Removes the indicators of source feed in scope tenant (NULL: global) whose (type, value)
 * is not kept: by the last whole document's keep (whole true), else by any stored event of
 * feed. How many in *removed. -ENOENT: no such tenant.
 */
int meta_ti_feed_prune(struct meta *m, const char *feed, const char *tenant, bool whole,
		       int64_t *removed, struct err *e);
/* The indicators of source feed in scope tenant (NULL: global). */
int meta_ti_feed_count(struct meta *m, const char *feed, const char *tenant, int64_t *n,
		       struct err *e);
/* MISP: the events stored for feed with their timestamps (Unix seconds). */
int meta_ti_feed_events(struct meta *m, const char *feed,
			void (*fn)(void *ctx, const char *event, int64_t timestamp), void *ctx,
			struct err *e);
int meta_ti_feed_event_put(struct meta *m, const char *feed, const char *event,
			   int64_t timestamp, struct err *e);
/* Forgets a withdrawn event and its values (prune then removes its indicators). */
int meta_ti_feed_event_remove(struct meta *m, const char *feed, const char *event,
			      struct err *e);

/*
 * Assets (enrich/assets.h; `koban asset`, /api/v1/assets): a tenant's inventory. An asset
 * has a name unique within its tenant (a host name or a label), the host names and the
 * addresses or networks it answers to, an owner, a criticality, a role, the software it
 * runs and the CVEs it is known to be vulnerable to. The lists are JSON arrays kept as
 * text: host names lower-case [a-z0-9._-] labels, addresses "192.0.2.7" or "10.0.0.0/8"
 * (network bits only), software objects {"name": N, "version": V} (V may be ""), CVEs
 * "CVE-YYYY-NNNN". Every call names the tenant: an asset of one tenant is never read,
 * changed or removed through another, not even by its id. Removing a tenant removes its
 * assets. Rows are checked again when read; a row that fails is skipped with a warning.
 */
#define META_ASSET_TEXT_MAX 255        /* bytes of a name, owner, host name, software name */
#define META_ASSET_ITEMS_MAX 1024      /* entries of one list */
#define META_ASSET_JSON_MAX 131072     /* bytes of one list's JSON */

struct meta_asset {
	int64_t id;                 /* given by meta_asset_add (ignored there) */
	const char *tenant;
	const char *name;
	const char *hostnames;      /* JSON array of strings */
	const char *addresses;      /* JSON array of strings */
	const char *owner;          /* "" when none */
	const char *criticality;    /* "low", "medium", "high", "critical" */
	const char *role;           /* "server", "pc", "network", "other" */
	const char *software;       /* JSON array of {"name", "version"} objects */
	const char *cves;           /* JSON array of strings */
	int64_t created_ns, updated_ns; /* set by the store (ignored when written) */
};

/* Whether s is one of the criticalities, or of the roles, named above. */
bool meta_asset_criticality_ok(const char *s);
bool meta_asset_role_ok(const char *s);
/* What every stored asset satisfies (checked when written and again when read). */
int meta_asset_check(const struct meta_asset *a, struct err *e);
/* Adds a; its new id in *id (may be NULL). -EEXIST: the tenant has an asset of that name. */
int meta_asset_add(struct meta *m, const struct meta_asset *a, int64_t *id, struct err *e);
/* Replaces every field of the tenant's asset a->id. -ENOENT: the tenant has no such asset. */
int meta_asset_update(struct meta *m, const struct meta_asset *a, struct err *e);
/* -ENOENT when the tenant has no asset id. */
int meta_asset_remove(struct meta *m, const char *tenant, int64_t id, struct err *e);
/* The tenant's asset id, or (id 0) the one named name; -ENOENT when there is none. */
int meta_asset_get(struct meta *m, const char *tenant, int64_t id, const char *name,
		   void (*fn)(void *ctx, const struct meta_asset *a), void *ctx, struct err *e);
/* The tenant's assets (tenant NULL: every tenant's), ordered by tenant, then name. */
int meta_asset_list(struct meta *m, const char *tenant,
		    void (*fn)(void *ctx, const struct meta_asset *a), void *ctx, struct err *e);

/*
 * timatch: the indicators' generation, a counter that every committed import
 * (meta_indicator_put_end) and every removal that removed rows moves, in their own
 * transaction: a reader that saw generation G and sees it again holds the same indicators.
 */
int meta_indicator_generation(struct meta *m, int64_t *gen, struct err *e);

/*
 * Retro-hunt (enrich/retrohunt.h): per tenant, how far the search of its stored events for
 * newly added indicators has come. The indicators with id <= watermark were searched for;
 * batch_end > 0: those in (watermark, batch_end] are being searched, as of batch_now_ns,
 * and the events before cursor_ns are still to be read. A tenant never hunted reads as all
 * zeros. Removing a tenant removes its row. When an indicator gets an id at or under a
 * tenant's watermark or batch_end (SQLite reuses the ids of the highest rows once they are
 * deleted), the watermark is lowered under it and the batch restarted.
 */
struct meta_retrohunt {
	int64_t watermark;
	int64_t batch_end;          /* 0: no batch */
	int64_t batch_now_ns;
	int64_t cursor_ns;
};

int meta_retrohunt_get(struct meta *m, const char *tenant, struct meta_retrohunt *out,
		       struct err *e);
/*
 * Stores fresh only if the tenant's state is still old (*swapped says whether it was), so
 * two hunters (serve's thread and `koban ti hunt`) never move each other's progress back.
 */
int meta_retrohunt_swap(struct meta *m, const char *tenant, const struct meta_retrohunt *old,
			const struct meta_retrohunt *fresh, bool *swapped, struct err *e);
/*
 * The indicators that apply to tenant (global and its own, never another tenant's) with
 * after < id <= upto (upto 0: no bound), by id, at most limit.
 */
int meta_retrohunt_indicators(struct meta *m, const char *tenant, int64_t after, int64_t upto,
			      int64_t limit, void (*fn)(void *ctx, const struct meta_indicator *ind),
			      void *ctx, struct err *e);

/*
 * External Dynamic Lists (respond/edl.h; `koban edl`, `koban token add --edl`).
 *
 * An EDL token is an API token of another kind: made like one (meta_token_new,
 * meta_token_hash), it always has a tenant and opens only that tenant's lists, sent as
 * HTTP Basic auth (user: the token's name, password: its secret); meta_token_find never
 * finds it, so it opens no /api/ endpoint, and meta_edl_token_find finds no API token.
 *
 * A tenant's allow-list holds values its lists never carry, whatever a feed says: type
 * "ip" (an address or a network, canonical as ti_normalize makes it), "domain" (and its
 * sub-domains) or "url". Every call names the tenant; removing a tenant removes its
 * entries. The generation grows with every change of an indicator or allow-list entry.
 */
#define META_EDL_ALLOW_MAX 100000 /* entries of one tenant's allow-list */

struct meta_edl_allow {
	const char *tenant;
	const char *type;       /* "ip", "domain" or "url" */
	const char *value;      /* canonical (ti_normalize) */
	int64_t created_ns;
};

/* Adds an EDL token for tenant (required); -EEXIST for a name taken, -ENOENT: no tenant. */
int meta_edl_token_add(struct meta *m, const char *name, const char *tenant,
		       const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e);
/* Calls fn for the EDL token of that name and hash; -ENOENT when there is none. */
int meta_edl_token_find(struct meta *m, const char *name,
			const unsigned char hash[META_TOKEN_HASH_LEN],
			void (*fn)(void *ctx, const struct meta_token *t), void *ctx,
			struct err *e);
/* Adds type/value to tenant's allow-list: -EEXIST when there, -ENOENT: no tenant, -ENOSPC: full. */
int meta_edl_allow_add(struct meta *m, const char *tenant, const char *type, const char *value,
		       struct err *e);
/* -ENOENT when the tenant's allow-list has no such entry. */
int meta_edl_allow_remove(struct meta *m, const char *tenant, const char *type,
			  const char *value, struct err *e);
/* The tenant's allow-list ordered by type, value; -ENOENT: no such tenant. */
int meta_edl_allow_list(struct meta *m, const char *tenant,
			void (*fn)(void *ctx, const struct meta_edl_allow *a), void *ctx,
			struct err *e);
/* The current generation of the indicators and allow-lists (grows at every change). */
int meta_edl_generation(struct meta *m, int64_t *generation, struct err *e);


/*
 * Incidents (soc/incident.h; `koban incident`, /api/v1/incidents): the alerts of a tenant
 * grouped by the engine (soc/soc.h) under one group key, with a level (soc/level.h), a
 * status, an owner, the evidence that decided the level (soc/triage.h), the entities and
 * the internal terminal involved, and the SLA clocks (soc/sla.h). Every change worth
 * knowing is an entry of the incident's timeline. Suppressions silence the alerts of one
 * rule whose key fields have given values (a false positive). Every per-tenant call names
 * the tenant: an incident or suppression of one tenant is never read, changed or removed
 * through another, not even by its id (-ENOENT). Removing a tenant removes them all; an
 * incident's alerts are linked by id only (alerts are pruned, the incident stays).
 * Rows are checked again when read; a row that fails is skipped with a warning.
 */
#define META_INCIDENT_LIST_MAX 10000
#define META_LEVEL_UNDECIDED (-1)
#define META_INCIDENT_TEXT_MAX 4096      /* bytes of a title, owner, actor, action, why */
#define META_INCIDENT_JSON_MAX 1048576   /* bytes of evidence, entities, terminal, detail */
/* status: "new" "triaged" "investigating" "contained" "resolved" "false-positive" */
struct meta_incident {
	int64_t id;                 /* given by meta_incident_add */
	const char *tenant;
	const char *title;
	const char *rule_id;        /* the first alert's rule id */
	const char *group_key;      /* the grouping key (soc.h): rule id + key values */
	int level;                  /* 0..3, META_LEVEL_UNDECIDED */
	const char *status;
	const char *owner;          /* "" none */
	int64_t n_alerts;           /* alerts grouped into it, duplicates included */
	const char *evidence;       /* JSON array of evidence objects (triage.h), "[]" */
	const char *entities;       /* JSON object {"users":[..],"hosts":[..],"ips":[..]} */
	const char *terminal;       /* JSON object (terminal.h) or "{}" */
	int64_t first_ns, last_ns;  /* event times of the first and last alert */
	int64_t detected_ns;        /* SLA clocks, 0 = not yet: first alert detected */
	int64_t decided_ns;         /* level first decided */
	int64_t reported_ns;        /* first report approved */
	int64_t contacted_ns;       /* a person reached (notifications, issue 11) */
	int64_t acknowledged_ns;
	int64_t contained_ns;
	int64_t closed_ns;          /* resolved or false-positive */
	int64_t sla_breached;       /* bit (1 << enum sla_clock) per clock already reported breached */
	int64_t updated_ns;
};
enum meta_incident_clock { META_CLOCK_DECIDED, META_CLOCK_REPORTED, META_CLOCK_CONTACTED,
	META_CLOCK_ACKNOWLEDGED, META_CLOCK_CONTAINED };
struct meta_incident_filter {   /* all optional (0 / NULL: any) */
	const char *status;         /* one status, or "open": not resolved and not false-positive */
	int min_level;              /* 0..3; -2: any (the default when the filter pointer is NULL) */
	int64_t since_ns;           /* detected at or after */
	int64_t limit;              /* 1..META_INCIDENT_LIST_MAX; 0: 1000 */
};
struct meta_incident_entry {    /* a timeline entry */
	int64_t id, incident;
	int64_t at_ns;
	const char *actor;          /* "koban" (the engine), a user or token name, "triage", "sla" */
	const char *action;         /* "created" "alert" "level" "status" "owner" "comment" "evidence"
				       "sla-breach" "report" "suppressed" "clock" ... */
	const char *detail;         /* what changed: a JSON object text (e.g. {"from":1,"to":3}) */
	const char *why;            /* a sentence a person can read; "" */
};
struct meta_suppression {
	int64_t id;
	const char *tenant;
	const char *rule_id;
	const char *keys;           /* JSON object: field -> value, all must equal the alert's key_fields */
	const char *reason;
	const char *created_by;
	int64_t created_ns, expires_ns; /* expires_ns 0: never */
	int64_t hits;
	int64_t incident;           /* the false-positive incident it came from, 0: none */
};
/* Whether s is one of the statuses above; whether it is resolved or false-positive. */
bool meta_incident_status_ok(const char *s);
bool meta_incident_status_closed(const char *s);
/* The clock's name: "decided" "reported" "contacted" "acknowledged" "contained". */
const char *meta_incident_clock_name(enum meta_incident_clock clock);
int meta_incident_check(const struct meta_incident *inc, struct err *e);
int meta_incident_add(struct meta *m, const struct meta_incident *inc, int64_t *id, struct err *e);
/* Replaces every field but id, tenant, rule_id, group_key, detected_ns. -ENOENT: no such incident. */
int meta_incident_update(struct meta *m, const struct meta_incident *inc, struct err *e);
/*
 * Replaces only what the SOC engine decides: level, n_alerts, evidence, entities, first_ns,
 * last_ns, updated_ns (the terminal: meta_incident_set_terminal). An analyst's status,
 * owner or clock written since the engine read the incident stays. -ENOENT: no such
 * incident.
 */
int meta_incident_update_engine(struct meta *m, const struct meta_incident *inc, struct err *e);
/* Sets the incident's terminal (a JSON object) alone. -ENOENT: the tenant has no such incident. */
int meta_incident_set_terminal(struct meta *m, const char *tenant, int64_t incident,
			       const char *terminal, struct err *e);
int meta_incident_get(struct meta *m, const char *tenant, int64_t id,
		      void (*fn)(void *ctx, const struct meta_incident *inc), void *ctx, struct err *e);
/* The newest open incident of the tenant with group_key and last_ns >= since_ns; -ENOENT: none. */
int meta_incident_find_open(struct meta *m, const char *tenant, const char *group_key, int64_t since_ns,
			    void (*fn)(void *ctx, const struct meta_incident *inc), void *ctx, struct err *e);
/*
 * The tenant's open incidents detected since since_ns of other rules than rule_id whose
 * entities name one of the users or addresses of entities (a JSON array of strings), those
 * that name the most of them first (a victim's incident, sharing its address and its user,
 * before the user's other incidents), then the newest, at most limit
 * (1..META_INCIDENT_LIST_MAX): fn gets each one's id. The SOC engine asks it for every alert
 * (which open incidents is this alert late evidence of?): it reads an index of the
 * incidents' users and addresses with their rule (migrations 22, 23), not every open
 * incident.
 */
int meta_incident_open_sharing(struct meta *m, const char *tenant, int64_t since_ns,
				const char *rule_id, const char *entities, int64_t limit,
				void (*fn)(void *ctx, int64_t id), void *ctx, struct err *e);
/* Newest first. tenant NULL: every tenant's (SOC-wide callers only: CLI of the SOC, the engine). */
int meta_incident_list(struct meta *m, const char *tenant, const struct meta_incident_filter *f,
		       void (*fn)(void *ctx, const struct meta_incident *inc), void *ctx, struct err *e);
int meta_incident_link_alert(struct meta *m, const char *tenant, int64_t incident, int64_t alert,
			     struct err *e);
/* The incident's alerts still in koban.db, oldest first, with their events. */
int meta_incident_alerts(struct meta *m, const char *tenant, int64_t incident,
			 void (*fn)(void *ctx, const struct meta_alert *a), void *ctx, struct err *e);
int meta_incident_log(struct meta *m, const char *tenant, const struct meta_incident_entry *en,
		      struct err *e);
int meta_incident_timeline(struct meta *m, const char *tenant, int64_t incident,
			   void (*fn)(void *ctx, const struct meta_incident_entry *en), void *ctx,
			   struct err *e);
/* Sets the clock to at_ns if it is still 0 and logs action "clock" (detail {"clock": NAME}) by actor,
 * in one transaction (its own, or the caller's when one is open: meta_begin); *set says
 * whether it moved (may be NULL). */
int meta_incident_clock(struct meta *m, const char *tenant, int64_t incident,
			enum meta_incident_clock clock, int64_t at_ns, const char *actor, bool *set,
			struct err *e);
/* Removes the incident and everything kept with it (cascade). */
int meta_incident_purge(struct meta *m, const char *tenant, int64_t incident, struct err *e);
int meta_suppression_add(struct meta *m, const struct meta_suppression *s, int64_t *id, struct err *e);
int meta_suppression_remove(struct meta *m, const char *tenant, int64_t id, struct err *e);
int meta_suppression_list(struct meta *m, const char *tenant,
			  void (*fn)(void *ctx, const struct meta_suppression *s), void *ctx, struct err *e);
/* The unexpired suppression (at now_ns) of the tenant whose rule_id and keys match the alert
 * (rule_id equal, every key of s->keys equal in a->key_fields); counts the hit. *id 0: none. */
int meta_suppression_match(struct meta *m, const struct meta_alert *a, int64_t now_ns, int64_t *id,
			   struct err *e);

/* ---- evkeep: evidence copies kept with an incident (soc/evkeep.h) ---- */

#define META_EVKEEP_DIGEST_LEN 32

struct meta_evkeep {
	int64_t tenant_id;           /* koban.db's id of the incident's tenant */
	int64_t incident;
	int64_t seq;                 /* 1, 2, ... per incident, in the order kept */
	const unsigned char *digest; /* META_EVKEEP_DIGEST_LEN bytes: a keyed hash of the event */
	const unsigned char *sealed; /* the encrypted event (soc/evkeep.h) */
	size_t sealed_len;
	int64_t kept_ns;
};

/* Seals the copy k (tenant_id, incident, seq, digest set) into k->sealed, k->sealed_len (the
 * callback's memory, valid until the transaction ends); a negative return (e filled) rolls
 * the copy back. */
typedef int meta_evkeep_seal_fn(void *ctx, struct meta_evkeep *k, struct err *e);
/*
 * In one transaction (the caller's when one is open, else its own): -ENOENT unless
 * incident is tenant's; *seq 0 and nothing written when a
 * copy with digest is kept with it already; -ENOSPC when it keeps max copies; else seal()
 * for the next sequence number, the row inserted and *seq its number.
 */
int meta_evkeep_add(struct meta *m, const char *tenant, int64_t incident,
		    const unsigned char digest[META_EVKEEP_DIGEST_LEN], int64_t max, int64_t now_ns,
		    meta_evkeep_seal_fn *seal, void *ctx, int64_t *seq, struct err *e);
/*
 * The copies of tenant's incident by sequence number (-ENOENT unless the incident is the
 * tenant's; -EBADMSG for a row koban did not write); fn's non-zero return stops the walk
 * and is returned. The row's bytes are valid during the call.
 */
int meta_evkeep_list(struct meta *m, const char *tenant, int64_t incident,
		     int (*fn)(void *ctx, const struct meta_evkeep *k), void *ctx, struct err *e);

/*
 * SOC engine (soc/soc.h): the SOC-wide reads of its catch-up scan, which finds the alerts
 * that no incident took yet (the engine's queue was full, or another process stored them).
 */
/*
 * Alerts of every tenant with an id above after_id, detected at or after since_ns, that no
 * incident links, by id, at most limit (1..META_ALERT_LIST_MAX), without their events.
 */
int meta_soc_unlinked_alerts(struct meta *m, int64_t after_id, int64_t since_ns, int64_t limit,
			     void (*fn)(void *ctx, const struct meta_alert *a), void *ctx,
			     struct err *e);
/* The highest id of an alert in koban.db (linked false) or of one an incident links; 0: none. */
int meta_soc_last_alert(struct meta *m, bool linked, int64_t *id, struct err *e);

/*
 * Triage (soc/triage.h): the one SOC-wide query of alerts, across tenants, for the
 * attackers seen by several tenants (`koban triage attackers`, the triage rules' "tenants"
 * condition). An alert names its attacker in its key field "source.ip"; its time is the
 * matched event's (event_ns), else its detection's. Only SOC-wide callers (the CLI of the
 * SOC, the engine) may call it: it reads every tenant's alerts, and its rows name tenants.
 */
#define META_TRIAGE_ATTACKERS_MAX 10000 /* rows of one call */

struct meta_triage_attacker {
	const char *ip;             /* the key field source.ip, as the alerts give it */
	int64_t tenants;            /* distinct tenants with an alert naming it */
	int64_t alerts;
	int64_t first_ns, last_ns;  /* the alerts' times */
	const char *tenant_names;   /* JSON array of the tenants' names, sorted */
};

/*
 * The source addresses of the alerts of every tenant timed in [since_ns, until_ns] that at
 * least min_tenants tenants saw (ip not NULL: that address only), the most tenants first,
 * then the most alerts; at most limit (1..META_TRIAGE_ATTACKERS_MAX) rows.
 */
int meta_triage_attackers(struct meta *m, const char *ip, int64_t since_ns, int64_t until_ns,
			  int64_t min_tenants, int64_t limit,
			  void (*fn)(void *ctx, const struct meta_triage_attacker *a), void *ctx,
			  struct err *e);

/* ---- Firstreport (soc/firstreport.h): the first report of an incident, one per language ---- */

#define META_REPORT_TEXT_MAX (256 * 1024)

struct meta_report {
	const char *tenant;
	int64_t incident;
	const char *lang;           /* "ja" or "en" */
	const char *text;           /* UTF-8 lines */
	const char *status;         /* "draft" or "approved" */
	bool edited;                /* an analyst wrote the text: drafts never replace it */
	const char *edited_by;      /* "" never edited */
	const char *approved_by;    /* "" not approved */
	int64_t updated_ns, approved_ns;
};
/*
 * Stores text as the incident's lang draft unless the report there was edited or approved
 * (or holds that text already); *stored (may be NULL) says whether it wrote.
 * -ENOENT: the tenant has no such incident.
 */
int meta_report_draft(struct meta *m, const char *tenant, int64_t incident, const char *lang,
		      const char *text, int64_t now_ns, bool *stored, struct err *e);
/* An analyst's text (by: a user or token name): marked edited. -EBUSY: approved already. */
int meta_report_edit(struct meta *m, const char *tenant, int64_t incident, const char *lang,
		     const char *text, const char *by, int64_t now_ns, struct err *e);
/*
 * Marks the draft approved by by at now_ns (the caller sets the incident's reported clock).
 * -ENOENT: no report (or no incident), -EALREADY: approved already.
 */
int meta_report_approve(struct meta *m, const char *tenant, int64_t incident, const char *lang,
			const char *by, int64_t now_ns, struct err *e);
/* The report to fn (fn may be NULL: only whether it exists). -ENOENT: none. */
int meta_report_get(struct meta *m, const char *tenant, int64_t incident, const char *lang,
		    void (*fn)(void *ctx, const struct meta_report *r), void *ctx, struct err *e);


/*
 * ---- Notify policy (notify/policy.h): a tenant's notification policy, its history ----
 * One JSON text per tenant with a version that grows at each change; every change is kept
 * with who made it, when, and the text before and after. Every call names the tenant: one
 * tenant's policy is never read or written through another's name.
 */
#define META_NOTIFY_POLICY_MAX (256 * 1024) /* bytes of a policy (POLICY_TEXT_MAX) */
#define META_NOTIFY_HISTORY_MAX 1000        /* rows of one history call */

struct meta_notify_policy {
	const char *tenant;
	int64_t version;            /* 1, 2, ... */
	const char *body;           /* the JSON text as it was set */
	int64_t updated_ns;
	const char *actor;          /* a user or token name */
};

struct meta_notify_policy_change {
	int64_t id;                 /* increasing */
	const char *tenant;
	int64_t version;            /* the version it made */
	int64_t at_ns;
	const char *actor;
	const char *before;         /* NULL: the first policy of the tenant */
	const char *after;
};

/* The tenant's policy to fn (may be NULL: whether there is one). -ENOENT: none (or no tenant). */
int meta_notify_policy_get(struct meta *m, const char *tenant,
			   void (*fn)(void *ctx, const struct meta_notify_policy *p), void *ctx,
			   struct err *e);
/*
 * Validates body with policy_parse() (-EINVAL with the path of what is wrong), then stores it
 * as the tenant's policy and records the change (actor, now_ns, before, after) in one
 * transaction. The same text again changes nothing (*changed false, may be NULL); *version is
 * the version in force after the call. -ENOENT: no such tenant.
 */
int meta_notify_policy_set(struct meta *m, const char *tenant, const char *body,
			   const char *actor, int64_t now_ns, int64_t *version, bool *changed,
			   struct err *e);
/* The tenant's changes, newest first, at most limit (1..META_NOTIFY_HISTORY_MAX). */
int meta_notify_policy_history(struct meta *m, const char *tenant, int64_t limit,
			       void (*fn)(void *ctx, const struct meta_notify_policy_change *c),
			       void *ctx, struct err *e);
/* The tenant's incidents of detection rule rule_id detected in [since_ns, until_ns]. */
int meta_notify_similar(struct meta *m, const char *tenant, const char *rule_id, int64_t since_ns,
			int64_t until_ns, int64_t *count, struct err *e);

/* ---- Notify (notify/notify.h): the notices of the engine and their delivery attempts ---- */

/*
 * A notice is one message to one recipient over one channel for one step of an incident's
 * chain: UNIQUE (tenant, incident, chain, step, channel, recipient, window), so the same step
 * is never noticed twice, even across a restart. chain is the level the chain was planned
 * at (a raise from High to Critical plans a new chain); step 0.. the policy's steps,
 * META_NOTICE_STEP_LEAD the SOC lead paged at the chain's end. An aggregated notice is
 * added with the incident that opens it and its window's start in agg_ns; it is stored
 * with incident 0 and lists its incidents in incidents ("12,13,..."). state: pending (due at next_ns), sending (handed to the channel), sent,
 * delivered, failed, cancelled (the incident was acknowledged first), planned (replay: not
 * sent). Each try is an attempt (status sent / delivered / failed / retry, reason).
 */
#define META_NOTICE_STEP_LEAD 1000
#define META_NOTICE_LIST_MAX 10000
#define META_NOTICE_INCIDENTS_MAX 4096  /* bytes of an aggregated notice's incident list */
struct meta_notice {
	int64_t id;
	const char *tenant;
	int64_t incident;
	int chain, step, level;
	const char *rule;           /* the policy rule that planned it ("" the default) */
	const char *channel, *recipient, *template, *lang;
	bool ack;
	int64_t agg_ns;
	const char *incidents;
	int64_t n_incidents;
	const char *state;
	int64_t attempts;
	int64_t decided_ns;         /* when the incident's level was decided (latency) */
	int64_t due_ns, next_ns;
	const char *provider_id, *reason;
	int64_t created_ns, updated_ns;
};
struct meta_notice_attempt {
	int64_t id, notice;
	int64_t at_ns;
	const char *status;         /* "sent" "delivered" "failed" "retry" "cancelled" */
	const char *reason, *provider_id;
};
/*
 * Adds n (id, state, attempts, incidents ignored: pending, 0, n->incident or "") unless the
 * same step has a notice already; *id gets the notice's id either way, *added whether it is
 * new. An aggregated notice (agg_ns > 0) that exists and is still pending counts incident
 * instead (n_incidents; *added false, *appended true) and lists it while the list fits.
 */
int meta_notice_add(struct meta *m, const struct meta_notice *n, int64_t *id, bool *added,
		    bool *appended, struct err *e);
/* Notices of every tenant in state pending with next_ns <= now_ns, most urgent first (level
 * then next_ns), at most limit. */
int meta_notice_due(struct meta *m, int64_t now_ns, int64_t limit,
		    void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, struct err *e);
/* The number of notices of every tenant in state pending. */
int meta_notice_pending(struct meta *m, int64_t *n, struct err *e);
/* The earliest next_ns of a pending notice; 0: none. */
int meta_notice_next(struct meta *m, int64_t *next_ns, struct err *e);
/* Every notice in state sending back to pending (a restart: the hand-off was cut). Returns
 * their number. */
int meta_notice_resume(struct meta *m, int64_t now_ns, struct err *e);
/* Sets the state, attempts, next_ns, provider_id, reason (NULL: kept) of notice id. */
int meta_notice_set(struct meta *m, int64_t id, const char *state, int64_t attempts,
		    int64_t next_ns, const char *provider_id, const char *reason, int64_t now_ns,
		    struct err *e);
int meta_notice_attempt(struct meta *m, int64_t notice, int64_t at_ns, const char *status,
			const char *reason, const char *provider_id, struct err *e);
/*
 * Every pending notice of tenant's incident planned (decided_ns) at or before planned_by_ns to
 * cancelled (acknowledged, or closed: INT64_MAX); their number in *n. Inside the caller's
 * transaction when one is open (the acknowledgement's).
 */
int meta_notice_cancel(struct meta *m, const char *tenant, int64_t incident,
		       int64_t planned_by_ns, int64_t now_ns, int64_t *n, struct err *e);
/*
 * The latest acknowledgement of tenant's incident into *acked_ns when it was given at or after
 * since_ns, else 0: its acknowledged clock (the first acknowledgement) or a timeline entry
 * "acknowledged" (one given after a raise of the level). A chain planned at since_ns stops
 * only on such an acknowledgement.
 */
int meta_incident_acked_since(struct meta *m, const char *tenant, int64_t incident,
			      int64_t since_ns, int64_t *acked_ns, struct err *e);
/* tenant's notice id (-ENOENT: not the tenant's). */
int meta_notice_get(struct meta *m, const char *tenant, int64_t id,
		    void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, struct err *e);
/* tenant's notices (incident > 0: that incident's, aggregated ones listing it included),
 * oldest first, at most limit (1..META_NOTICE_LIST_MAX). */
int meta_notice_list(struct meta *m, const char *tenant, int64_t incident, int64_t limit,
		     void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, struct err *e);
/* The attempts of notice (tenant's), oldest first. */
int meta_notice_attempts(struct meta *m, const char *tenant, int64_t notice,
			 void (*fn)(void *ctx, const struct meta_notice_attempt *a), void *ctx,
			 struct err *e);
/* Notices of tenant in the last since_ns..: counted per (channel, recipient) by the caller. */
int meta_notice_count(struct meta *m, const char *tenant, const char *channel,
		      const char *recipient, int64_t since_ns, int64_t *n, struct err *e);

/* ---- notify: the levels set by hand (notify/notify.h) ---- */

/* A timeline entry "level" with "manual": true (an analyst's; soc/incident.h). */
struct meta_level_set {
	const char *tenant;
	int64_t entry;              /* the timeline entry's id (grows) */
	int64_t incident, at_ns;
	int from, to;
};
/* The id of the last timeline entry (0: none). */
int meta_incident_levels_last(struct meta *m, int64_t *entry, struct err *e);
/* The levels set by hand in entries after `after`, in order, at most limit (a range of the
 * timeline's primary key: cheap however long the timeline is). */
int meta_incident_levels_since(struct meta *m, int64_t after, int64_t limit,
			       void (*fn)(void *ctx, const struct meta_level_set *l), void *ctx,
			       struct err *e);

#endif
