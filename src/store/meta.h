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

int meta_tenant_add(struct meta *m, const char *name, struct err *e);
/* Removes the tenant and its sources. */
int meta_tenant_remove(struct meta *m, const char *name, struct err *e);
int meta_tenant_get(struct meta *m, const char *name,
		    void (*fn)(void *ctx, const struct meta_tenant *t), void *ctx, struct err *e);
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
 * several changes one (tenant import, the activity flush). Not nested.
 */
int meta_begin(struct meta *m, struct err *e);
int meta_commit(struct meta *m, struct err *e);
void meta_rollback(struct meta *m);

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

#endif
