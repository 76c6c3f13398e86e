/*
 * config.h - koban's configuration: one YAML file, or the built-in defaults.
 *
 * config_load() reads a file (path NULL: built-in defaults, data directory ./var) into a
 * struct config that owns all its strings. Unknown keys and bad values are errors that
 * name file:line, the key and what was expected. config_example() is a complete,
 * commented file that loads to the defaults; docs/configuration.md documents each key.
 *
 * config_check() is the dry run of `serve`: what loading alone cannot see (bind clashes,
 * unreadable TLS files, an unusable data_dir, an empty listener list, an exposed admin
 * listener, limits for tenants that do not exist), each reported with FILE:LINE.
 *
 * For a reload, config_diff() names every key whose value changed and says whether a
 * running daemon can apply it (the key table's `live` flag); config_keep_restart_keys()
 * puts the running values back into the keys that need a restart.
 *
 * A struct config is immutable after loading; a reload builds a new one. Load on the main
 * thread; a loaded config may be read from any thread.
 */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

struct err;

/* relp and relp-tls: RELP (ingest/relp.h), acknowledged after the WAL commit */
enum listener_proto { LISTENER_UDP, LISTENER_TCP, LISTENER_TLS, LISTENER_RELP, LISTENER_RELP_TLS };

#define CONFIG_MAX_LISTENERS 32

struct config_listener {
	char *name;              /* unique; default "udp", "tcp", "tls" */
	enum listener_proto proto;
	char *address;           /* "127.0.0.1:5514", "[::1]:5514", "0.0.0.0:514" */
	unsigned line;           /* where the file defines it; 0: defaults or command line */
};

struct config_tenant_limit {
	char *tenant;
	uint32_t eps;            /* events per second, 0 = unlimited */
	unsigned line;           /* where the file names the tenant */
};

/* store.tenants.NAME: one tenant's own store settings (store section, owned by the sink). */
#define CONFIG_STORE_INHERIT_QUOTA UINT64_MAX     /* quota not set: store.quota applies */
#define CONFIG_STORE_INHERIT_RETENTION UINT32_MAX /* retention_days not set: store's */
struct config_store_tenant {
	char *tenant;
	uint64_t quota;          /* bytes stored, 0 = none, or CONFIG_STORE_INHERIT_QUOTA */
	uint32_t retention_days; /* 0 = keep forever, or CONFIG_STORE_INHERIT_RETENTION */
	unsigned line;           /* where the file names the tenant */
};

/* decoders.leef.sources: one source's LEEF attribute delimiter, as written. */
struct config_leef_source {
	char *source;            /* the source's name */
	char *delimiter;         /* "auto", "tab", "|", "x09"... (parse/leef.h checks it) */
	unsigned line;           /* where the file names the source */
};

/*
 * pollers: the pull connectors (ingest/poll.h), `pollers: { NAME: { type: ..., tenant: ... } }`.
 * Strings are owned by the entry; NULL where not set and without a default.
 */
#define CONFIG_MAX_POLLERS 64
#define CONFIG_POLLER_MAX_TABLES 64
enum config_poller_type { POLLER_GRAPH, POLLER_LOGANALYTICS };
struct config_poller {
	char *name;               /* the map key: poller name (a-z, 0-9, _ and -) */
	enum config_poller_type type;
	char *tenant;             /* koban tenant the records belong to */
	char *directory;          /* Entra ID tenant (directory) id or domain of the app */
	char *client_id;          /* application (client) id */
	char *client_secret_file; /* file holding the client secret; mode 0600 or stricter */
	char *login_url;          /* token authority; "https://login.microsoftonline.com" */
	char *api_url;            /* graph.microsoft.com / api.loganalytics.azure.com */
	char *scope;              /* token scope; by type when NULL */
	char *ca_file;            /* PEM CA bundle for the HTTPS peers; NULL: the system's */
	char *format;             /* decoder name; "m365" (graph) or "azure" (loganalytics) */
	char *workspace;          /* loganalytics: workspace id */
	char **tables;            /* loganalytics: one KQL query per table */
	size_t n_tables;
	uint32_t interval;        /* seconds between polls */
	uint32_t overlap;         /* seconds re-read before the watermark (de-duplicated) */
	uint32_t lag;             /* loganalytics: seconds before now never queried */
	uint32_t lookback;        /* seconds read back on the very first poll */
	uint32_t page_size;       /* graph $top / loganalytics rows per query; 0: by type */
	uint32_t timeout;         /* seconds per HTTP request */
	uint64_t max_response;    /* bytes of one response body */
	int alerts, incidents;    /* graph: poll alerts_v2 / incidents */
	unsigned line;            /* where the file names the poller */
};

/*
 * notify (notify/notify.h, docs/notify.md): the notification engine and its channels.
 * notify.channels.NAME: { type: TYPE, KEY: VALUE, ... }: the type's own keys are kept as
 * written (with their lines) and checked by the type's open() (notify_config_check); a
 * secret is never a value (keys ending in _file name a file of mode 0600).
 */
#define CONFIG_NOTIFY_CHANNELS_MAX 64
#define CONFIG_NOTIFY_KEYS_MAX 32   /* keys of one channel */
struct config_notify_kv {
	char *key, *value;
	unsigned line;
};
struct config_notify_channel {
	char *name;                /* the map key */
	char *type;                /* smtp, teams, phone, pagerduty, webhook */
	struct config_notify_kv *kv;
	size_t n_kv;               /* every key but type */
	unsigned line;             /* where the file names the channel */
};
struct config_notify {
	int enabled;               /* 1 */
	struct config_notify_channel *channels;
	size_t n_channels;
	char *ack_url;             /* https:// base of /ack/ links; NULL: no links */
	char *portal_url;          /* https:// base of the portal's incident links; NULL: none */
	char *ack_key_file;        /* NULL: DATA_DIR/notify-ack.key */
	uint32_t ack_ttl;          /* seconds an ack link is valid; 86400 */
	char *templates;           /* a directory overriding the bundled templates; NULL */
	char *lead_channel;        /* notify.lead.channel: the SOC lead, paged when a chain */
	char *lead_to;             /* ends unacknowledged (and the default policy's target) */
	uint32_t lead_after;       /* seconds after the last step before the lead is paged; 300 */
	uint32_t retry_attempts;   /* notify.retry.attempts: tries of one notice; 5 */
	uint32_t retry_backoff;    /* .backoff: seconds before the first retry; 2 */
	uint32_t retry_max_backoff; /* .max_backoff: longest wait between tries; 300 */
	unsigned line;             /* where the file names notify.lead */
};

/*
 * ti: threat-intelligence settings and feeds (enrich/tifeed.h, docs/threatintel.md).
 * ti.feeds.NAME: one feed fetched by URL every refresh seconds into koban.db's indicators
 * under source NAME (global, or tenant's). Secrets only from files of mode 0600 or stricter.
 */
#define CONFIG_TI_FEEDS_MAX 256
enum config_ti_format { TI_FEED_LIST, TI_FEED_CSV, TI_FEED_STIX, TI_FEED_MISP, TI_FEED_TAXII };
struct config_ti_feed {
	char *name;               /* the map key: the indicators' source name */
	char *url;                /* https:// URL (TAXII: the collection's; MISP: the feed's dir) */
	enum config_ti_format format;
	uint32_t refresh;         /* seconds between fetches; 3600 */
	char *tenant;             /* NULL: global indicators */
	char *columns;            /* csv: column map (enrich/tiread.h), NULL: from the header */
	int confidence;           /* of indicators without one; -1: ti.default_confidence */
	int retrohunt_days;       /* -1: ti.retrohunt_days */
	char *ca_file;            /* PEM CA bundle, NULL: the system's */
	char *username;           /* HTTP Basic user, with password_file */
	char *password_file;
	char *api_key_file;       /* misp: "Authorization: KEY" */
	int to_ids_only;          /* misp: only attributes with to_ids (1) */
	int enabled;              /* 1 */
	unsigned line;            /* where the file names the feed */
};
/* "list", "csv", "stix", "misp", "taxii". */
const char *config_ti_format_name(enum config_ti_format f);
/* Days of stored events a new indicator of source is sought in: its feed's retrohunt_days,
 * else ti.retrohunt_days (the retro-hunt's per-source callback). */
struct config;
uint32_t config_ti_retrohunt_days(const struct config *c, const char *source);
/* edl.lists.NAME: one External Dynamic List served for every tenant (respond/edl.h). */
#define CONFIG_MAX_EDL_LISTS 64
#define CONFIG_EDL_ALLOW_MAX 4096 /* values of edl.allow */
#define CONFIG_EDL_SOURCES_MAX 256
enum config_edl_type { CONFIG_EDL_IP, CONFIG_EDL_DOMAIN, CONFIG_EDL_URL };
struct config_edl_list {
	char *name;               /* the map key: the URL's <list> (a-z, 0-9, _ and -) */
	enum config_edl_type type;
	char **sources;           /* indicator sources (feeds, lists), "*" every one; none: every */
	size_t n_sources;
	uint32_t min_confidence;  /* 0..100; 0 */
	uint32_t max_entries;     /* 1..10000000; 50000 */
	int include_global;       /* the global indicators too; true */
	unsigned line;            /* where the file names the list */
};

/* decoders.json.SOURCE: the generic JSON decoder's field map of one source (parse/jsonmap.h). */
/* detect.placeholders.NAME: the values %NAME% stands for in rules (modifier expand). */
struct config_placeholder {
	char *name;
	char **values;
	size_t n_values;
};
#define CONFIG_DETECT_LIST_MAX 4096 /* entries of detect.rules, detect.disable, placeholders */

#define CONFIG_JSON_MAPS_MAX 1024   /* sources with a map */
#define CONFIG_JSON_FIELDS_MAX 1024 /* keys mapped per source */
struct config_json_field {
	char *from;              /* key path in the record, dotted: "src.ip" */
	char *to;                /* field it becomes: "source.ip" */
	unsigned line;
};
struct config_json_map {
	char *source;            /* the source's name; "default" for sources without a map */
	struct config_json_field *fields;
	size_t n_fields;
	char *timestamp;         /* key path of @timestamp; NULL: the receive time */
	unsigned line;
};

/*
 * soc.sla (soc/sla.h): the incidents' SLA goals in seconds, 0 = no goal, in the order of
 * enum sla_clock: decide, first_report, contact, acknowledge, contain. soc.sla.tenants.NAME
 * overrides some of them for one tenant (CONFIG_SLA_INHERIT: the default applies). Read by
 * sla_new() at start; a restart applies changes.
 */
#define CONFIG_SLA_CLOCKS 5
#define CONFIG_SLA_INHERIT UINT32_MAX
struct config_sla_tenant {
	char *tenant;
	uint32_t due[CONFIG_SLA_CLOCKS]; /* seconds, 0 = no goal, or CONFIG_SLA_INHERIT */
	unsigned line;                   /* where the file names the tenant */
};
struct config_sla {
	uint32_t due[CONFIG_SLA_CLOCKS]; /* seconds; 3600, 7200, 900, 0, 0 */
	struct config_sla_tenant *tenants;
	size_t n_tenants;
};

/* Lines of the keys config_check() reports on; 0 when the file does not set them. */
struct config_lines {
	unsigned data_dir, admin, listeners, tls_cert, tls_key, tls_ca;
	unsigned keys_master, keys_signing;
	unsigned api, api_tls_cert, api_tls_key;
};

/*
 * soc.grouping: the alerts of the rules (ids) or rule tags in match (none: every alert)
 * are grouped into incidents by the values of keys (ECS field names); the first entry
 * that matches an alert applies.
 */
#define CONFIG_SOC_GROUPING_MAX 256
#define CONFIG_SOC_GROUPING_KEYS_MAX 8
struct config_soc_grouping {
	char **match;
	size_t n_match;
	char **keys;
	size_t n_keys;
	unsigned line;
};

struct config_soc_engine {
	uint32_t window;                      /* seconds an incident takes new alerts; 3600 */
	struct config_soc_grouping *grouping;
	size_t n_grouping;
};

struct config {
	char *path;              /* file loaded, NULL for built-in defaults */
	char *data_dir;          /* "./var" */
	enum log_level log_level;
	char *timezone;          /* zone of RFC 3164 stamps when a source names none; "local" */
	unsigned clock_skew_max; /* seconds between device and receive time that count as skew; 0 = off */
	unsigned workers;        /* worker threads; 0 = one per core */
	char *admin_address;     /* admin HTTP (/metrics); "127.0.0.1:8514" */

	/* syslog */
	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t n_listeners;
	size_t max_message_size; /* longer messages are truncated and counted; 65536 */
	int udp_rcvbuf;          /* SO_RCVBUF bytes for UDP sockets */
	unsigned tcp_max_connections;
	unsigned tcp_idle_timeout; /* seconds, 0 = none */
	unsigned tcp_max_per_address;  /* open connections from one source address; 0 = any */
	unsigned tcp_max_per_listener; /* open connections of one listener; 0 = no own limit */
	unsigned tcp_frame_timeout;    /* seconds a started frame may take to complete; 0 = none */
	size_t tcp_frame_memory;       /* bytes of partial frames held over all connections */
	char *tls_cert;          /* PEM files for TLS listeners */
	char *tls_key;
	char *tls_ca;            /* when set, clients must present a certificate it signed */

	/* fair queues */
	unsigned queue_capacity; /* messages per tenant queue */
	size_t queue_max_bytes;  /* bytes per tenant queue */
	unsigned queue_quantum;  /* messages a tenant may take per round */
	uint32_t default_eps;    /* per-tenant EPS limit, 0 = unlimited */
	struct config_tenant_limit *limits;
	size_t n_limits;

	/* output */
	int output_file;         /* 1: workers also append ECS JSON to data_dir/spool/TENANT.ndjson */

	/* store (the event store: group commit, quotas, retention) */
	uint32_t store_commit_interval_ms; /* group commit: WAL fsync at most this often; 50 */
	uint32_t store_seal_threads;       /* sealer lanes; 0: one per online CPU (at most 16) */
	uint64_t store_quota;              /* bytes stored per tenant, 0 = no quota */
	uint32_t store_retention_days;     /* days kept per tenant, 0 = forever; 1827 */
	struct config_store_tenant *store_tenants;
	size_t n_store_tenants;

	/* alerts (soc/alert.h): days alerts are kept in koban.db, 0 = forever; 90 */
	uint32_t alerts_retention_days;
	/*
	 * soc.triage (soc/triage.h, docs/triage.md): the directory of the triage rules (NULL:
	 * the bundled rules/triage) and the default evidence window in seconds (86400).
	 */
	char *soc_triage_rules;
	uint32_t soc_triage_window;

	/* keys (store/keys.h): master and signing key files kept elsewhere; NULL: DATA_DIR/keys */
	char *keys_master;
	char *keys_signing;
	/* api: the API listener (portal/api.h); off while api_listen is NULL */
	char *api_listen;        /* "127.0.0.1:8515"; plain HTTP only on a loopback address */
	char *api_tls_cert;      /* PEM certificate and key: HTTPS */
	char *api_tls_key;
	size_t api_ingest_max_bytes; /* HTTP ingest: a larger body (inflated too) is refused, 413 */

	/* decoders.leef (parse/leef.h): read by leef_configure() at start, which checks them */
	char *leef_delimiter;              /* "auto" */
	unsigned leef_delimiter_line;      /* 0: not set in the file */
	struct config_leef_source *leef_sources;
	size_t n_leef_sources;
	/* edl (respond/edl.h): External Dynamic Lists on the API listener; a restart applies changes */
	struct config_edl_list *edl_lists;
	size_t n_edl_lists;
	char **edl_allow;        /* values never listed: addresses, CIDRs, domains, URLs */
	size_t n_edl_allow;
	/* pollers: pull connectors (ingest/poll.h); started at start, a restart applies changes */
	struct config_poller *pollers;
	size_t n_pollers;

	/* decoders (parse/): per-format settings read once at start (decoder_configure) */
	struct config_json_map *json_maps;
	size_t n_json_maps;
	unsigned postfix_max_queue_ids;  /* queue ids remembered for correlation; 16384 */
	unsigned postfix_queue_id_ttl;   /* seconds an id is kept after its last line; 86400 */

	/* detect (detect/sigma.h): read when rules are loaded (start, SIGHUP, koban rule) */
	char **detect_rules;     /* extra rule directories or files, beside the bundled rules */
	size_t n_detect_rules;
	char **detect_disable;   /* rule ids (or names) not loaded */
	size_t n_detect_disable;
	struct config_placeholder *detect_placeholders; /* values of %NAME% (modifier expand) */
	size_t n_detect_placeholders;
	unsigned detect_lateness;   /* seconds an event may be late for correlations; 300 */
	unsigned detect_max_groups; /* correlation groups per tenant; 100000 */
	unsigned detect_max_events; /* events held by correlations per tenant; 1000000 */
	unsigned detect_travel_speed;    /* impossible travel above this km/h; 900 */
	unsigned detect_travel_distance; /* ... and further apart than this (km); 500 */
	/* logsources: per-source Sigma logsources (detect/fieldmap.h); a reload applies them */
	struct config_logsource *logsources;
	size_t n_logsources;
	/* ti: threat intelligence (enrich/tifeed.h); a restart applies changes */
	uint32_t ti_default_confidence; /* of indicators without one; 50 */
	uint32_t ti_dedupe_window;      /* seconds an alert of one indicator and host is not raised again; 3600 */
	uint32_t ti_retrohunt_days;     /* days of stored events new indicators are sought in; 30 */
	struct config_ti_feed *ti_feeds;
	size_t n_ti_feeds;
	/* soc.sla: the incidents' SLA goals (soc/sla.h); a restart applies changes */
	struct config_sla soc_sla;

	/* soc.window, soc.grouping (soc/soc.h): how alerts become incidents; read at start */
	struct config_soc_engine soc_engine;
	/* soc.levels (soc/level.h): how incident levels 0..3 are named and numbered where shown;
	 * read by level_configure() at start (a restart applies changes). NULL / 0: the defaults
	 * (Informational, Medium, High, Critical shown as 0..3); else exactly 4 entries. */
	char **soc_level_names;
	size_t n_soc_level_names;
	char **soc_level_shown;  /* integers 0..99 as written, distinct */
	size_t n_soc_level_shown;

	/* notify: the notification engine (notify/notify.h, docs/notify.md); read at start */
	struct config_notify notify;

	/* soc.report.templates: a directory of first report templates (soc/firstreport.h:
	 * ja.txt, en.txt, actions.txt); NULL: the bundled ones. Read at start. */
	char *soc_report_templates;

	struct config_lines line;
};

/*
 * logsources.SOURCE: the Sigma logsource of one source's events (detect/fieldmap.h), in
 * place of the one its decoder's data set gives; each value NULL when not given (at least
 * one is). Looked up with config_logsource().
 */
#define CONFIG_LOGSOURCES_MAX 1024
struct config_logsource {
	char *source;   /* the source's name */
	char *category;
	char *product;
	char *service;
	unsigned line;  /* where the file names the source */
};

/* Fills c with the built-in defaults. */
int config_defaults(struct config *c, struct err *e);
/* Loads path (NULL = defaults). On error c holds nothing to release. */
int config_load(struct config *c, const char *path, struct err *e);
/* Loads YAML text; name is used in messages ("FILE:LINE: ..."). */
int config_load_mem(struct config *c, const char *text, size_t len, const char *name,
		    struct err *e);
void config_release(struct config *c);
/* A complete, commented configuration that loads to the defaults. */
const char *config_example(void);
/*
 * Replaces every listener of proto with one listening on address (for --syslog-udp
 * and friends) after checking the address; 0 or -EINVAL with a message.
 */
int config_set_listener(struct config *c, enum listener_proto proto, const char *address,
			struct err *e);
int config_set_admin(struct config *c, const char *address, struct err *e);
/* Sets api.listen (`serve --api ADDR:PORT`); 0 or -EINVAL with a message. */
int config_set_api(struct config *c, const char *address, struct err *e);
/*
 * Calls fn for every key whose value differs between running and next, with its dotted
 * name ("syslog.tcp_max_connections"), whether a reload applies it (live) and both values
 * as text. Returns the number of changed keys.
 */
typedef void (*config_change_fn)(void *ctx, const char *key, bool live, const char *was,
				 const char *now);
size_t config_diff(const struct config *running, const struct config *next,
		   config_change_fn fn, void *ctx);
/*
 * Copies running's values into every key of next that only a restart applies (listeners,
 * workers, queues, data_dir, ...), so that next describes what the daemon really does
 * after a reload. 0 or -ENOMEM (next is then still valid to release).
 */
int config_keep_restart_keys(struct config *next, const struct config *running,
			     struct err *e);

enum config_severity { CONFIG_WARNING, CONFIG_ERROR };
/* msg: "FILE:LINE: KEY: what is wrong" (FILE:LINE left out where unknown). */
typedef void (*config_report_fn)(void *ctx, enum config_severity sev, const char *msg);
/*
 * The dry run of serve's start-up, without binding or creating anything: listener and
 * admin bind clashes, TLS files missing or unreadable, a data_dir that is not a writable
 * directory or cannot be created, no listeners at all, and (a warning) an admin listener
 * on a non-loopback address. Calls report for each problem in file order; returns the
 * number of errors (warnings not counted).
 */
int config_check(const struct config *c, config_report_fn report, void *ctx);
/*
 * Warns about limits.tenants and store.tenants entries naming a tenant for which exists() is
 * false (a typo, or a tenant not added yet). Returns the number of warnings.
 */
int config_check_tenants(const struct config *c, bool (*exists)(void *ctx, const char *name),
			 void *exists_ctx, config_report_fn report, void *ctx);
/* EPS limit of a tenant: its own limit or default_eps. */
uint32_t config_tenant_eps(const struct config *c, const char *tenant);
const char *config_proto_name(enum listener_proto p);
/* "graph" or "loganalytics". */
const char *config_poller_type_name(enum config_poller_type t);
/* "ip", "domain", "url". */
const char *config_edl_type_name(enum config_edl_type t);
/* Whether p is a TLS listener (tls, relp-tls), a RELP listener (relp, relp-tls). */
bool config_proto_tls(enum listener_proto p);
bool config_proto_relp(enum listener_proto p);
/*
 * Store settings of a tenant: its own store.tenants entry where it sets them, else
 * store.quota and store.retention_days. *quota in bytes (0 = no quota); *retention_days
 * 0 = keep forever. Either out pointer may be NULL. Returns 1 when the tenant has an entry
 * of its own under store.tenants, 0 when only the section's values apply.
 */
int config_store_tenant(const struct config *c, const char *tenant, uint64_t *quota,
			unsigned *retention_days);
/* The field map of source (its own, else the one named "default"), or NULL. */
const struct config_json_map *config_json_map(const struct config *c, const char *source);
/* The configured logsource of source (logsources:), or NULL. */
const struct config_logsource *config_logsource(const struct config *c, const char *source);
/*
 * Reads a whole regular file of at most max bytes into *text (mem_alloc'ed; *len bytes,
 * not NUL-terminated). A FIFO, device or directory is refused without blocking, the
 * message naming what the file should be ("configuration", "certificate").
 * Used for the configuration and for other files the CLI reads (certificates).
 */
int config_read_file(const char *path, const char *what, size_t max, char **text, size_t *len,
		     struct err *e);

#endif
