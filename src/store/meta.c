/*
 * meta.c - the metadata store on SQLite.
 *
 * The schema is a list of migrations; PRAGMA user_version counts how many have been
 * applied. A later issue adds a table by appending one entry to `migrations`; existing
 * databases are brought up to date by meta_open(). Every statement is prepared with its
 * values bound, never formatted into SQL.
 */
#include "store/meta.h"
#include "core/compat.h"

#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>

#define LOG_MODULE "meta"
#include "core/arena.h"
#include "core/err.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/name.h"
#include "core/pidfile.h"
#include "core/timeutil.h"
#include "enrich/ti.h"
#include "notify/policy.h"
#include "parse/decoder.h"

#define META_NAME_MAX NAME_TENANT_MAX
#define META_HOST_MAX 255   /* RFC 5424 HOSTNAME: 1*255 PRINTUSASCII */
#define META_LISTENER_MAX NAME_LISTENER_MAX
#define META_BUSY_TIMEOUT_MS 5000
/*
 * koban.db's WAL file is cut back to this when a checkpoint has copied all of it and a
 * writer starts it over: SQLite reuses a WAL file but never shrinks it, so one burst (a
 * storm of alerts: 636 MB was seen) would otherwise keep its size on disk for good.
 */
#define META_WAL_LIMIT "67108864"
#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * Prepared statements kept for reuse: parsing the SQL of a short query costs as much as
 * running it, and the SOC engine runs the same few queries for every alert. Only the
 * fixed SQL of the hot paths goes through prepare_cached(); a statement of the cache is
 * in use (busy) from prepare_cached() until stmt_done().
 */
#define STMT_CACHE 48

struct cached_stmt {
	const char *sql;   /* the caller's text: a string literal, compared by address */
	sqlite3_stmt *st;
	bool busy;
};

struct meta {
	sqlite3 *db;
	char *path;
	struct cached_stmt cache[STMT_CACHE];
	size_t n_cache;
	uint64_t steps;  /* meta_steps() */
};

/*
 * The incident_entities rows of incident i (NEW in a trigger, or a row of `from`): its
 * users and addresses, arrays of strings only, with the columns of i in `more` after them
 * (migration 22: none; 23: the rule).
 */
#define INCIDENT_ENTITY_ROWS_WITH(i, more, from)                                               \
	" SELECT " i ".tenant_id, j.value, " i ".detected_ns, " i ".id" more " FROM " from       \
	"json_each(CASE WHEN json_valid(" i ".entities) THEN " i ".entities END) k,"              \
	" json_each(CASE WHEN k.type = 'array' THEN k.value END) j"                               \
	" WHERE k.key IN ('users', 'ips') AND j.type = 'text'"
#define INCIDENT_ENTITY_ROWS(i, from) INCIDENT_ENTITY_ROWS_WITH(i, "", from)
#define INCIDENT_ENTITY_RULE_ROWS(i, from) INCIDENT_ENTITY_ROWS_WITH(i, ", " i ".rule_id", from)

static const char *const migrations[] = {
	/* 1: tenants, their sources, and the built-in tenant of unmatched messages */
	"CREATE TABLE tenants ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_ns INTEGER NOT NULL);"
	"CREATE TABLE sources ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  cidr TEXT, host TEXT, listener TEXT,"
	"  format TEXT NOT NULL DEFAULT 'auto',"
	"  tz TEXT,"
	"  created_ns INTEGER NOT NULL);"
	"CREATE INDEX sources_tenant ON sources(tenant_id);"
	"INSERT INTO tenants (name, created_ns) VALUES ('" META_UNASSIGNED "',"
	"  CAST(strftime('%s', 'now') AS INTEGER) * 1000000000);",
	/* 2: what `serve` saw, written every few seconds for `tenant list` and `source unassigned` */
	"CREATE TABLE tenant_activity ("
	"  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,"
	"  received INTEGER NOT NULL,"
	"  last_event_ns INTEGER NOT NULL);"
	"CREATE TABLE unassigned_senders ("
	"  address TEXT PRIMARY KEY,"
	"  count INTEGER NOT NULL,"
	"  last_ns INTEGER NOT NULL);",
	/*
	 * 3: source names are scoped per tenant (two tenants may each have a source "fw"):
	 * the table is rebuilt with UNIQUE (tenant_id, name) instead of UNIQUE (name), keeping
	 * every row and its id (the old names were unique, so every row fits).
	 */
	"CREATE TABLE sources_v3 ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  cidr TEXT, host TEXT, listener TEXT,"
	"  format TEXT NOT NULL DEFAULT 'auto',"
	"  tz TEXT,"
	"  created_ns INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, name));"
	"INSERT INTO sources_v3 (id, name, tenant_id, cidr, host, listener, format, tz,"
	"  created_ns) SELECT id, name, tenant_id, cidr, host, listener, format, tz, created_ns"
	"  FROM sources;"
	"DROP TABLE sources;"
	"ALTER TABLE sources_v3 RENAME TO sources;",
	/* 4: API tokens (only their hashes); tenant_id NULL: a SOC-wide token */
	"CREATE TABLE api_tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  tenant_id INTEGER REFERENCES tenants(id) ON DELETE CASCADE,"
	"  hash BLOB NOT NULL UNIQUE,"
	"  created_ns INTEGER NOT NULL);",
	/*
	 * 5: tenant ids are never given twice. An id names the tenant's data key and segment
	 * directory; SQLite's rowid would hand the id of the last removed (or crypto-erased)
	 * tenant to the next one added. The highest id ever given is kept here; earlier
	 * removals are not known, so it starts at today's highest.
	 */
	"CREATE TABLE tenant_id_high (high INTEGER NOT NULL);"
	"INSERT INTO tenant_id_high SELECT COALESCE(MAX(id), 0) FROM tenants;"
	"CREATE TRIGGER tenant_id_high_up AFTER INSERT ON tenants BEGIN"
	"  UPDATE tenant_id_high SET high = MAX(high, NEW.id);"
	"END;",
	/*
	 * 6: ingest tokens of sources (HTTP ingest; only their hashes), at most one per source:
	 * a new one replaces it; removing the source (or its tenant) removes it.
	 */
	"CREATE TABLE source_tokens ("
	"  source_id INTEGER PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,"
	"  hash BLOB NOT NULL UNIQUE,"
	"  created_ns INTEGER NOT NULL);",
	/*
	 * 7: alerts (soc/alert.h), read per tenant newest first; removing a tenant removes
	 * its alerts. JSON texts as written by soc/alert.c (checked again on read).
	 */
	"CREATE TABLE alerts ("
	"  id INTEGER PRIMARY KEY,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  kind TEXT NOT NULL,"
	"  rule_id TEXT NOT NULL, rule_title TEXT NOT NULL, rule_level TEXT NOT NULL,"
	"  rule_author TEXT NOT NULL, rule_status TEXT NOT NULL, rule_link TEXT NOT NULL,"
	"  rule_tags TEXT NOT NULL, rule_references TEXT NOT NULL,"
	"  event_ns INTEGER NOT NULL, detected_ns INTEGER NOT NULL,"
	"  group_fields TEXT NOT NULL, key_fields TEXT NOT NULL,"
	"  events TEXT NOT NULL, n_events INTEGER NOT NULL, events_omitted INTEGER NOT NULL);"
	"CREATE INDEX alerts_tenant_time ON alerts(tenant_id, detected_ns, id);",
	/*
	 * 8: detection rules per tenant (`koban rule enable|disable|tune`): the tenant's
	 * setting of a rule (enabled NULL: none, the global default applies; filter NULL: not
	 * tuned; a row with neither is removed) and every change with who, when, why and the
	 * state before and after. Removing the tenant removes both.
	 */
	"CREATE TABLE rule_policy ("
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  rule TEXT NOT NULL,"
	"  enabled INTEGER,"
	"  filter TEXT,"
	"  changed_ns INTEGER NOT NULL,"
	"  changed_by TEXT NOT NULL,"
	"  PRIMARY KEY (tenant_id, rule));"
	"CREATE TABLE rule_policy_history ("
	"  id INTEGER PRIMARY KEY,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  rule TEXT NOT NULL,"
	"  time_ns INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  enabled_before INTEGER, enabled_after INTEGER,"
	"  filter_before TEXT, filter_after TEXT);"
	"CREATE INDEX rule_policy_history_rule ON rule_policy_history(tenant_id, rule, id);",
	/*
	 * 9: threat-intelligence indicators (enrich/ti.h): one row per (source, scope, type,
	 * value), scope the tenant or NULL (global; 0 in the key, no tenant has id 0);
	 * confidence NULL: unknown; expires_ns 0: never. Removing a tenant removes its rows.
	 */
	"CREATE TABLE indicators ("
	"  id INTEGER PRIMARY KEY,"
	"  source TEXT NOT NULL,"
	"  tenant_id INTEGER REFERENCES tenants(id) ON DELETE CASCADE,"
	"  type TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  confidence INTEGER,"
	"  first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,"
	"  expires_ns INTEGER NOT NULL,"
	"  tags TEXT NOT NULL,"
	"  description TEXT, ref TEXT,"
	"  imports INTEGER NOT NULL DEFAULT 1);"
	"CREATE UNIQUE INDEX indicators_key ON indicators(source, IFNULL(tenant_id, 0), type, value);"
	"CREATE INDEX indicators_value ON indicators(type, value);",
	/*
	 * 10: threat-intelligence feeds (enrich/tifeed.h): each feed's state by name, and
	 * for MISP feeds the events stored and their values (what prunes the indicators).
	 */
	"CREATE TABLE ti_feeds ("
	"  name TEXT PRIMARY KEY, url TEXT NOT NULL,"
	"  etag TEXT, last_modified TEXT, watermark TEXT,"
	"  last_attempt_ns INTEGER NOT NULL, last_success_ns INTEGER NOT NULL,"
	"  last_error TEXT, last_error_ns INTEGER NOT NULL,"
	"  failures INTEGER NOT NULL, indicators INTEGER NOT NULL, next_ns INTEGER NOT NULL);"
	"CREATE TABLE ti_feed_events ("
	"  feed TEXT NOT NULL, event TEXT NOT NULL, timestamp INTEGER NOT NULL,"
	"  PRIMARY KEY (feed, event)) WITHOUT ROWID;"
	"CREATE TABLE ti_feed_values ("
	"  feed TEXT NOT NULL, event TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY (feed, event, type, value)) WITHOUT ROWID;"
	"CREATE INDEX ti_feed_values_value ON ti_feed_values(feed, type, value);",
	/*
	 * 11: retro-hunt progress per tenant (enrich/retrohunt.h): the indicators with id <=
	 * watermark were searched for in the tenant's events; batch_end > 0: those in
	 * (watermark, batch_end] are being searched, the events before cursor_ns still to
	 * read. SQLite gives a new row max(id) + 1, so once the highest rows are deleted an id
	 * can come again: the trigger lowers a watermark (and restarts a batch) it falls under.
	 */
	"CREATE TABLE retrohunt ("
	"  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,"
	"  watermark INTEGER NOT NULL,"
	"  batch_end INTEGER NOT NULL,"
	"  batch_now_ns INTEGER NOT NULL,"
	"  cursor_ns INTEGER NOT NULL);"
	"CREATE TRIGGER retrohunt_reused_id AFTER INSERT ON indicators BEGIN"
	"  UPDATE retrohunt SET watermark = MIN(watermark, NEW.id - 1), batch_end = 0"
	"  WHERE watermark >= NEW.id OR batch_end >= NEW.id; END;",
	/*
	 * 12: External Dynamic Lists (respond/edl.h): a token kind (an "edl" token opens only
	 * its tenant's lists, an "api" token only the API), each tenant's allow-list (type ip,
	 * domain or url, canonical value), and a generation counter bumped by every change of
	 * an allow-list entry (with the indicators' of migration 13, a cached list knows when
	 * to be rebuilt). The
	 * index lets a tenant's own indicators be read (a list's build, `ti list --tenant`,
	 * the tenant's removal) without a scan of every tenant's.
	 */
	"ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';"
	"CREATE INDEX indicators_tenant ON indicators(tenant_id, type, value);"
	"CREATE TABLE edl_allow ("
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  type TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  created_ns INTEGER NOT NULL,"
	"  PRIMARY KEY (tenant_id, type, value));"
	"CREATE TABLE edl_generation (n INTEGER NOT NULL);"
	"INSERT INTO edl_generation VALUES (0);"
	"CREATE TRIGGER edl_gen_allow_ins AFTER INSERT ON edl_allow BEGIN"
	"  UPDATE edl_generation SET n = n + 1; END;"
	"CREATE TRIGGER edl_gen_allow_del AFTER DELETE ON edl_allow BEGIN"
	"  UPDATE edl_generation SET n = n + 1; END;",
	/*
	 * 13 (timatch): the indicators' generation, bumped in the transaction of every change
	 * of the table, so that serve rebuilds its in-memory snapshot when it moves. A tenant's
	 * removal deletes its indicators by cascade: the trigger moves the generation then, or
	 * a tenant added again under that name would be served the old one's (EDL, matching).
	 */
	"CREATE TABLE indicator_generation (id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  n INTEGER NOT NULL);"
	"INSERT INTO indicator_generation VALUES (1, 0);"
	"CREATE TRIGGER indicator_generation_tenant AFTER DELETE ON tenants BEGIN"
	"  UPDATE indicator_generation SET n = n + 1; END;",
	/*
	 * 14: the tenants' assets (enrich/assets.h): one row per (tenant, name), the lists as
	 * JSON text (meta.h, "Assets"). Removing a tenant removes its rows.
	 */
	"CREATE TABLE assets ("
	"  id INTEGER PRIMARY KEY,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  hostnames TEXT NOT NULL, addresses TEXT NOT NULL,"
	"  owner TEXT NOT NULL, criticality TEXT NOT NULL, role TEXT NOT NULL,"
	"  software TEXT NOT NULL, cves TEXT NOT NULL,"
	"  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, name));",
	/*
	 * 15 (incident): incidents (soc/incident.h), the alerts grouped into each (no foreign
	 * key to alerts: alerts are pruned, the incident stays), each incident's timeline, and
	 * the tenants' suppressions (meta.h, "Incidents"). Removing a tenant removes them all.
	 */
	"CREATE TABLE incidents ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused: reports and notices name it */
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  title TEXT NOT NULL, rule_id TEXT NOT NULL, group_key TEXT NOT NULL,"
	"  level INTEGER NOT NULL, status TEXT NOT NULL, owner TEXT NOT NULL,"
	"  n_alerts INTEGER NOT NULL, evidence TEXT NOT NULL, entities TEXT NOT NULL,"
	"  terminal TEXT NOT NULL,"
	"  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,"
	"  detected_ns INTEGER NOT NULL, decided_ns INTEGER NOT NULL,"
	"  reported_ns INTEGER NOT NULL,"
	"  contacted_ns INTEGER NOT NULL, acknowledged_ns INTEGER NOT NULL,"
	"  contained_ns INTEGER NOT NULL,"
	"  closed_ns INTEGER NOT NULL, sla_breached INTEGER NOT NULL,"
	"  updated_ns INTEGER NOT NULL);"
	"CREATE INDEX incidents_tenant_key ON incidents(tenant_id, group_key, last_ns);"
	"CREATE INDEX incidents_tenant_time ON incidents(tenant_id, detected_ns, id);"
	"CREATE TABLE incident_alerts ("
	"  incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
	"  alert_id INTEGER NOT NULL, PRIMARY KEY (incident_id, alert_id));"
	"CREATE INDEX incident_alerts_alert ON incident_alerts(alert_id);"
	"CREATE TABLE incident_timeline ("
	"  id INTEGER PRIMARY KEY,"
	"  incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
	"  at_ns INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
	"  detail TEXT NOT NULL, why TEXT NOT NULL);"
	"CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id, at_ns, id);"
	"CREATE TABLE suppressions ("
	"  id INTEGER PRIMARY KEY,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  rule_id TEXT NOT NULL, keys TEXT NOT NULL, reason TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL, hits INTEGER NOT NULL,"
	"  incident_id INTEGER);"
	"CREATE INDEX suppressions_tenant_rule ON suppressions(tenant_id, rule_id);",
	/*
	 * 16 (evkeep): copies of an incident's events, encrypted with the tenant's data key
	 * (soc/evkeep.h), numbered 1, 2, ... per incident; digest is a keyed hash of the plain
	 * bytes (the same event kept once). Purging the incident removes them.
	 */
	"CREATE TABLE incident_events ("
	"  incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  digest BLOB NOT NULL,"
	"  sealed BLOB NOT NULL,"
	"  kept_ns INTEGER NOT NULL,"
	"  PRIMARY KEY (incident_id, seq),"
	"  UNIQUE (incident_id, digest));",
	/*
	 * 17 (firstreport): the first reports of the incidents (soc/firstreport.h), one per
	 * incident and language, removed with their incident (meta.h, "Firstreport").
	 */
	"CREATE TABLE incident_reports ("
	"  incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
	"  lang TEXT NOT NULL, text TEXT NOT NULL, status TEXT NOT NULL,"
	"  edited INTEGER NOT NULL, edited_by TEXT NOT NULL, approved_by TEXT NOT NULL,"
	"  updated_ns INTEGER NOT NULL, approved_ns INTEGER NOT NULL,"
	"  PRIMARY KEY (incident_id, lang));",
	/*
	 * 18: alert ids are never reused: incidents link alerts by id beyond the alerts'
	 * retention, and the SOC engine's catch-up takes every id above the last it handled,
	 * so an id handed out again after the newest alerts were pruned would be linked to an
	 * unrelated incident and never handled. The table is rebuilt with AUTOINCREMENT,
	 * keeping every row and its id.
	 */
	"CREATE TABLE alerts_v18 ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  kind TEXT NOT NULL,"
	"  rule_id TEXT NOT NULL, rule_title TEXT NOT NULL, rule_level TEXT NOT NULL,"
	"  rule_author TEXT NOT NULL, rule_status TEXT NOT NULL, rule_link TEXT NOT NULL,"
	"  rule_tags TEXT NOT NULL, rule_references TEXT NOT NULL,"
	"  event_ns INTEGER NOT NULL, detected_ns INTEGER NOT NULL,"
	"  group_fields TEXT NOT NULL, key_fields TEXT NOT NULL,"
	"  events TEXT NOT NULL, n_events INTEGER NOT NULL, events_omitted INTEGER NOT NULL);"
	"INSERT INTO alerts_v18 SELECT id, tenant_id, kind, rule_id, rule_title, rule_level,"
	"  rule_author, rule_status, rule_link, rule_tags, rule_references, event_ns,"
	"  detected_ns, group_fields, key_fields, events, n_events, events_omitted FROM alerts;"
	"DROP TABLE alerts;"
	"ALTER TABLE alerts_v18 RENAME TO alerts;"
	"CREATE INDEX alerts_tenant_time ON alerts(tenant_id, detected_ns, id);",
	/*
	 * 19 (notify policy): a tenant's notification policy (notify/policy.h), the JSON text
	 * with a version that grows at each change, and the history of every change (who,
	 * when, the text before and after), removed with the tenant; incidents indexed by
	 * rule for the count of similar ones (meta_notify_similar).
	 */
	"CREATE TABLE notify_policies ("
	"  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL, body TEXT NOT NULL, updated_ns INTEGER NOT NULL,"
	"  actor TEXT NOT NULL);"
	"CREATE TABLE notify_policy_history ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL, at_ns INTEGER NOT NULL, actor TEXT NOT NULL,"
	"  before TEXT, after TEXT NOT NULL);"
	"CREATE INDEX notify_policy_history_tenant ON notify_policy_history(tenant_id, id);"
	"CREATE INDEX incidents_tenant_rule ON incidents(tenant_id, rule_id, detected_ns);",
	/*
	 * 20 (notify): the notices of the notification engine (notify/notify.h), one per
	 * (tenant, incident, chain, step, channel, recipient, window) so a step is never
	 * noticed twice, even across a restart, and their delivery attempts. The chain's
	 * state is the rows: due times are absolute, so a restart resumes the chain.
	 */
	"CREATE TABLE notify_notices ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  incident_id INTEGER NOT NULL," /* 0: aggregated (incidents lists them) */
	"  chain INTEGER NOT NULL, step INTEGER NOT NULL, level INTEGER NOT NULL,"
	"  rule TEXT NOT NULL, channel TEXT NOT NULL, recipient TEXT NOT NULL,"
	"  template TEXT NOT NULL, lang TEXT NOT NULL, ack INTEGER NOT NULL,"
	"  agg_ns INTEGER NOT NULL, incidents TEXT NOT NULL, n_incidents INTEGER NOT NULL,"
	"  state TEXT NOT NULL, attempts INTEGER NOT NULL,"
	"  decided_ns INTEGER NOT NULL, due_ns INTEGER NOT NULL, next_ns INTEGER NOT NULL,"
	"  provider_id TEXT NOT NULL, reason TEXT NOT NULL,"
	"  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, incident_id, chain, step, channel, recipient, agg_ns));"
	"CREATE INDEX notify_notices_due ON notify_notices(state, next_ns);"
	"CREATE INDEX notify_notices_incident ON notify_notices(tenant_id, incident_id);"
	"CREATE TABLE notify_attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  notice_id INTEGER NOT NULL REFERENCES notify_notices(id) ON DELETE CASCADE,"
	"  at_ns INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,"
	"  provider_id TEXT NOT NULL);"
	"CREATE INDEX notify_attempts_notice ON notify_attempts(notice_id, id);",
	/*
	 * 21: the alerts of one source address, for triage's "the same attacker hit several
	 * tenants" (meta_triage_attackers with an address); the expression is ALERT_SOURCE_IP's
	 */
	"CREATE INDEX alerts_source_ip ON alerts((CASE WHEN json_valid(key_fields) THEN"
	"  json_extract(key_fields, '$.\"source.ip\"') END));",
	/*
	 * 22: the users and addresses of each incident's entities, kept by triggers from the
	 * entities column with the incident's detection time, so that the incidents of a window
	 * an alert shares one with are found through an index (meta_incident_open_sharing)
	 * rather than by reading every open incident. Only arrays of strings are taken.
	 */
	"CREATE TABLE incident_entities ("
	"  tenant_id INTEGER NOT NULL, entity TEXT NOT NULL, detected_ns INTEGER NOT NULL,"
	"  incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
	"  PRIMARY KEY (tenant_id, entity, detected_ns, incident_id)) WITHOUT ROWID;"
	"CREATE INDEX incident_entities_incident ON incident_entities(incident_id);"
	"CREATE TRIGGER incident_entities_insert AFTER INSERT ON incidents BEGIN"
	"  INSERT OR IGNORE INTO incident_entities" INCIDENT_ENTITY_ROWS("NEW", "") "; END;"
	"CREATE TRIGGER incident_entities_update AFTER UPDATE OF entities ON incidents"
	"  WHEN OLD.entities IS NOT NEW.entities BEGIN"
	"  DELETE FROM incident_entities WHERE incident_id = NEW.id;"
	"  INSERT OR IGNORE INTO incident_entities" INCIDENT_ENTITY_ROWS("NEW", "") "; END;"
	"INSERT OR IGNORE INTO incident_entities" INCIDENT_ENTITY_ROWS("i", "incidents i, ") ";",
	/*
	 * 23: the incident's rule in its entity rows, so that the incidents of other rules
	 * sharing an entity are told apart in those rows: a storm of one rule (a scanner
	 * against hundreds of victims, an incident each) does not have each of its incidents
	 * read again for every new alert of it (meta_incident_open_sharing).
	 */
	"DROP TRIGGER incident_entities_insert;"
	"DROP TRIGGER incident_entities_update;"
	"DROP TABLE incident_entities;"
	"CREATE TABLE incident_entities ("
	"  tenant_id INTEGER NOT NULL, entity TEXT NOT NULL, detected_ns INTEGER NOT NULL,"
	"  incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
	"  rule_id TEXT NOT NULL,"
	"  PRIMARY KEY (tenant_id, entity, detected_ns, incident_id)) WITHOUT ROWID;"
	"CREATE INDEX incident_entities_incident ON incident_entities(incident_id);"
	"CREATE TRIGGER incident_entities_insert AFTER INSERT ON incidents BEGIN"
	"  INSERT OR IGNORE INTO incident_entities" INCIDENT_ENTITY_RULE_ROWS("NEW", "") "; END;"
	"CREATE TRIGGER incident_entities_update AFTER UPDATE OF entities ON incidents"
	"  WHEN OLD.entities IS NOT NEW.entities BEGIN"
	"  DELETE FROM incident_entities WHERE incident_id = NEW.id;"
	"  INSERT OR IGNORE INTO incident_entities" INCIDENT_ENTITY_RULE_ROWS("NEW", "") "; END;"
	"INSERT OR IGNORE INTO incident_entities"
	INCIDENT_ENTITY_RULE_ROWS("i", "incidents i, ") ";",
};

#define META_SENDERS_KEPT 1000 /* rows of unassigned_senders kept, the busiest */

/* ---- validation (shared by every entry point, so no caller can bypass it) ---- */

const char *meta_escape(const char *s, char out[META_ESCAPE_MAX])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!s)
		s = "";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 8 >= META_ESCAPE_MAX) { /* room for one \xNN and "..." */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= ' ' && c < 0x7f && c != '\'' && c != '"' && c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
	return out;
}

/* The escaped form of s in a buffer that lives until the end of the enclosing statement. */
#define ESC(s) meta_escape((s), (char[META_ESCAPE_MAX]){ 0 })

/* A new tenant or source name: 1-63 of [a-z0-9_-] starting with a letter or digit. */
static int check_name(const char *kind, const char *name, struct err *e)
{
	size_t len = name ? strlen(name) : 0;

	if (name_valid_new(name, len))
		return 0;
	if (name_reserved(name, len) && len <= META_NAME_MAX)
		return err_set(e, -EINVAL, "%s '%s': names starting with '_' are reserved", kind,
			       ESC(name));
	return err_set(e, -EINVAL,
		       "%s '%s': expected 1-63 of a-z 0-9 _ - starting with a letter or digit",
		       kind, ESC(name));
}

/* A tenant to look up: a valid name, or a reserved one such as _unassigned. */
static int check_tenant_ref(const char *name, struct err *e)
{
	if (name && !strcmp(name, META_UNASSIGNED))
		return 0;
	return check_name("tenant name", name, e);
}

static bool host_bits_zero(const struct ipaddr *net, unsigned prefix)
{
	for (unsigned i = prefix / 8; i < 16; i++) {
		unsigned keep = i * 8 >= prefix ? 0 : prefix - i * 8;

		if (net->b[i] & (uint8_t)(0xff >> keep))
			return false;
	}
	return true;
}

static int check_cidr(const char *cidr, struct err *e)
{
	struct ipaddr net;
	unsigned prefix;

	if (ipaddr_parse_cidr(&net, &prefix, cidr, strlen(cidr)) < 0)
		return err_set(e, -EINVAL,
			       "cidr '%s': expected an address or ADDRESS/LENGTH "
			       "(10.0.0.0/8, 2001:db8::/32)", ESC(cidr));
	if (!host_bits_zero(&net, prefix))
		return err_set(e, -EINVAL,
			       "cidr '%s': address bits set beyond the prefix length "
			       "(the network address is expected)", ESC(cidr));
	return 0;
}

static int check_printable(const char *what, const char *s, size_t max, struct err *e)
{
	size_t len = strlen(s);
	bool ok = len >= 1 && len <= max;

	for (size_t i = 0; ok && i < len; i++)
		ok = s[i] > ' ' && s[i] < 0x7f;
	if (!ok)
		return err_set(e, -EINVAL, "%s '%s': expected 1-%zu printable characters "
			       "without spaces", what, ESC(s), max);
	return 0;
}

/* Format names belong to the decoder registry. */
static int check_format(const char *format, struct err *e)
{
	int rc = decoder_check(format, e);

	return rc < 0 ? rc : 0;
}

/*
 * Only the shape of an IANA name (letters, digits, / _ - +; no '.', so no "..", and no
 * empty path component); whether the zone exists is decided where it is loaded.
 */
static int check_zone(const char *tz, struct err *e)
{
	if (!name_zone_valid(tz, strlen(tz)))
		return err_set(e, -EINVAL, "time zone '%s': expected an IANA zone name such as "
			       "Asia/Tokyo or UTC", ESC(tz));
	return 0;
}

int meta_source_check(const struct meta_source *s, struct err *e)
{
	int rc;

	if ((rc = check_name("source name", s->name, e)) < 0 ||
	    (rc = check_tenant_ref(s->tenant, e)) < 0)
		return rc;
	if (!s->cidr && !s->host && !s->listener)
		return err_set(e, -EINVAL, "source '%s': give at least one of cidr, host or "
			       "listener to match its messages", ESC(s->name));
	if (s->cidr && (rc = check_cidr(s->cidr, e)) < 0)
		return rc;
	if (s->host && (rc = check_printable("host", s->host, META_HOST_MAX, e)) < 0)
		return rc;
	if (s->listener && !name_valid(s->listener, strlen(s->listener), META_LISTENER_MAX))
		return err_set(e, -EINVAL, "listener '%s': expected 1-%d of a-z 0-9 _ - (the name "
			       "of a listener in the configuration)", ESC(s->listener),
			       META_LISTENER_MAX);
	if (s->format && (rc = check_format(s->format, e)) < 0)
		return rc;
	if (s->tz && (rc = check_zone(s->tz, e)) < 0)
		return rc;
	return 0;
}

/* ---- SQLite plumbing ---- */

static int db_fail(struct meta *m, struct err *e)
{
	return err_set(e, -EIO, "%s: %s ", m->path, sqlite3_errmsg(m->db));
}

static int prepare(struct meta *m, const char *sql, sqlite3_stmt **st, struct err *e)
{
	if (sqlite3_prepare_v2(m->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(m, e);
	return 0;
}

/*
 * prepare() for a string literal, the statement reused from the handle's cache when it is
 * idle; the caller gives it back with stmt_done(), never sqlite3_finalize(). A statement
 * already busy (a query run inside the reader of the same query) or a full cache gets a
 * fresh one, which stmt_done() finalizes.
 */
static int prepare_cached(struct meta *m, const char *sql, sqlite3_stmt **st, struct err *e)
{
	int rc;

	for (size_t i = 0; i < m->n_cache; i++)
		if (m->cache[i].sql == sql && !m->cache[i].busy) {
			m->cache[i].busy = true;
			*st = m->cache[i].st;
			return 0;
		}
	if ((rc = prepare(m, sql, st, e)) < 0 || m->n_cache == STMT_CACHE)
		return rc;
	m->cache[m->n_cache++] = (struct cached_stmt){ .sql = sql, .st = *st, .busy = true };
	return 0;
}

/* Ends the use of st: a cached statement is reset for the next use, any other finalized. */
static void stmt_done(struct meta *m, sqlite3_stmt *st)
{
	if (st)
		m->steps += (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
	for (size_t i = 0; st && i < m->n_cache; i++)
		if (m->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			m->cache[i].busy = false;
			return;
		}
	sqlite3_finalize(st);
}

uint64_t meta_steps(const struct meta *m)
{
	return m->steps;
}

/*
 * The first column of st's one row (a count, an id) into *out, and st given back: for
 * statements that always give a row; none is an error.
 */
static int single_int64(struct meta *m, sqlite3_stmt *st, int64_t *out, struct err *e)
{
	int rc = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

/* Binds text or NULL; SQLITE_TRANSIENT is not needed, the strings outlive the step. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int exec(struct meta *m, const char *sql, struct err *e)
{
	if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(m, e);
	return 0;
}

static const char *column_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/*
 * Where the rows of one query go: the caller's callback (the member that matches the
 * row reader given to each_row) and its context.
 */
struct row_sink {
	union {
		void (*tenant)(void *ctx, const struct meta_tenant *t);
		void (*source)(void *ctx, const struct meta_source *s);
		void (*source_token)(void *ctx, const struct meta_source_token *t);
		void (*sender)(void *ctx, const struct meta_sender *s);
		void (*token)(void *ctx, const struct meta_token *t);
		void (*alert)(void *ctx, const struct meta_alert *a);
		void (*policy)(void *ctx, const struct meta_rule_policy *p);
		void (*history)(void *ctx, const struct meta_rule_history *h);
		void (*edl_allow)(void *ctx, const struct meta_edl_allow *a);
		void (*asset)(void *ctx, const struct meta_asset *a);
		void (*indicator)(void *ctx, const struct meta_indicator *ind);
		void (*ti_feed)(void *ctx, const struct meta_ti_feed *f);
		void (*incident)(void *ctx, const struct meta_incident *inc);
		void (*entry)(void *ctx, const struct meta_incident_entry *en);
		void (*suppression)(void *ctx, const struct meta_suppression *s);
	} fn;
	void *ctx;
	const char *tenant; /* the tenant the query named, for rows that do not select it */
};

/*
 * The one loop over the rows of every query that lists: steps st to its end and calls
 * reader() on each row. reader() makes the row's struct from the current row, checks it
 * again (koban.db may have been written by something else) and hands it to the sink's
 * callback; it returns 1 when handed on, 0 for a row it skipped (with a warning, or
 * silently for rows koban never writes), or a negative code with a message in e, which
 * ends the walk. The rows handed on in *rows. Memory: the row's strings are SQLite's,
 * valid until the next step; st is finalized here, whatever the outcome. Threads: m's
 * thread, like every meta function.
 */
static int each_row(struct meta *m, sqlite3_stmt *st,
		    int (*reader)(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
				struct err *e),
		    const struct row_sink *to, int *rows, struct err *e)
{
	int step, rc = 0;

	*rows = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = reader(m, st, to, e)) < 0)
			goto fail;
		*rows += rc;
	}
	rc = step == SQLITE_DONE ? 0 : db_fail(m, e);
fail:
	stmt_done(m, st);
	return rc;
}

/* The rows of sql (nothing to bind) through each_row. */
static int query_rows(struct meta *m, const char *sql,
		      int (*reader)(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
				    struct err *e),
		      const struct row_sink *to, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = prepare(m, sql, &st, e)) < 0)
		return rc;
	return each_row(m, st, reader, to, &rows, e);
}

static int schema_version(struct meta *m, int *version, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(m, "PRAGMA user_version", &st, e);

	if (rc < 0)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(m, e);
		goto fail;
	}
	*version = sqlite3_column_int(st, 0);
fail:
	stmt_done(m, st);
	return rc;
}

/*
 * Applies the missing migrations, each in its own transaction. The version is read
 * again inside the write lock so two processes opening a new database at once do not
 * both apply the same migration.
 */
static int migrate(struct meta *m, struct err *e)
{
	const int latest = (int)ARRAY_SIZE(migrations);

	for (;;) {
		char sql[64];
		int version = 0, rc;

		if ((rc = exec(m, "BEGIN IMMEDIATE", e)) < 0)
			return rc;
		if ((rc = schema_version(m, &version, e)) < 0)
			goto fail;
		if (version > latest) {
			rc = err_set(e, -EIO, "%s: schema version %d is newer than this koban "
				     "knows (%d); run a newer koban", m->path, version, latest);
			goto fail;
		}
		if (version == latest)
			return exec(m, "COMMIT", e);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if ((rc = exec(m, migrations[version], e)) < 0 || (rc = exec(m, sql, e)) < 0 ||
		    (rc = exec(m, "COMMIT", e)) < 0)
			goto fail;
		continue;
fail:
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
}

int meta_open(struct meta **mp, const char *data_dir, struct err *e)
{
	struct meta *m;
	size_t n;
	int rc;

	*mp = NULL;
	if ((rc = pidfile_make_data_dir(data_dir, e)) < 0)
		return rc;
	m = mem_calloc(1, sizeof(*m));
	n = strlen(data_dir) + sizeof("/koban.db");
	if (!m || !(m->path = mem_alloc(n))) {
		rc = err_set(e, -ENOMEM, "out of memory opening the metadata store");
		goto fail;
	}
	snprintf(m->path, n, "%s/koban.db", data_dir);
	if (sqlite3_open_v2(m->path, &m->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = m->db ? db_fail(m, e)
			   : err_set(e, -ENOMEM, "out of memory opening %s", m->path);
		goto fail;
	}
	sqlite3_busy_timeout(m->db, META_BUSY_TIMEOUT_MS);
	if ((rc = exec(m, "PRAGMA journal_mode = WAL", e)) < 0 ||
	    (rc = exec(m, "PRAGMA synchronous = NORMAL", e)) < 0 ||
	    (rc = exec(m, "PRAGMA journal_size_limit = " META_WAL_LIMIT, e)) < 0 ||
	    (rc = exec(m, "PRAGMA foreign_keys = ON", e)) < 0 || (rc = migrate(m, e)) < 0)
		goto fail;
	*mp = m;
	return 0;
fail:
	meta_close(m);
	return rc;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_cache; i++)
		sqlite3_finalize(m->cache[i].st);
	sqlite3_close(m->db);
	mem_free(m->path);
	mem_free(m);
}

/* ---- WAL checkpoints off the hot path ---- */

void meta_autocheckpoint(struct meta *m, bool on)
{
	(void)sqlite3_wal_autocheckpoint(m->db, on ? META_AUTOCHECKPOINT_PAGES : 0);
}

int meta_checkpoint(struct meta *m, struct err *e)
{
	int rc = sqlite3_wal_checkpoint_v2(m->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	/* busy: a writer holds it now; the next one copies what this one would have */
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : db_fail(m, e);
}

struct meta_checkpointer {
	struct meta *m;
	int64_t interval_ns;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	uint64_t failures; /* logged: the first, then every 100th */
};

static void *checkpointer_main(void *arg)
{
	struct meta_checkpointer *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct err e = ERR_INIT;
		struct timespec at = time_after(CLOCK_MONOTONIC, c->interval_ns);

		pthread_cond_timedwait(&c->wake, &c->lock, &at);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->lock);
		if (meta_checkpoint(c->m, &e) < 0 && c->failures++ % 100 == 0)
			log_warn("koban.db checkpoint failed (%llu times; the WAL grows until one "
				 "succeeds): %s", (unsigned long long)c->failures, e.msg);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int meta_checkpointer_start(struct meta_checkpointer **out, const char *data_dir,
			    int64_t interval_ns, struct err *e)
{
	struct meta_checkpointer *c = mem_calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	if ((rc = meta_open(&c->m, data_dir, e)) < 0) {
		mem_free(c);
		return rc;
	}
	c->interval_ns = interval_ns > 0 ? interval_ns : NS_PER_SEC;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&c->thread, NULL, checkpointer_main, c)) != 0) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		meta_close(c->m);
		mem_free(c);
		return err_set(e, -rc, "cannot start the koban.db checkpoint thread: %s",
			       strerror(rc));
	}
	pthread_setname_np(c->thread, "koban-dbckpt");
	*out = c;
	return 0;
}

void meta_checkpointer_stop(struct meta_checkpointer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	meta_close(c->m);
	mem_free(c);
}

/* ---- tenants ---- */

/*
 * The id of the tenant a call names: the name checked first (check_tenant_ref, so a bad
 * one is -EINVAL, never looked up), -ENOENT when there is no such tenant.
 */
static int tenant_id(struct meta *m, const char *name, int64_t *id, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_tenant_ref(name, e)) < 0 ||
	    (rc = prepare_cached(m, "SELECT id FROM tenants WHERE name = ?1", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*id = sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		rc = err_set(e, -ENOENT, "no tenant '%s' in %s", ESC(name), m->path);
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

/*
 * Prepares sql for tenant's rows: the tenant's id bound to ?1 (rows are selected by id,
 * so no name reaches another tenant's); the caller binds ?2... and owns *st.
 */
static int tenant_stmt(struct meta *m, const char *tenant, const char *sql, sqlite3_stmt **st,
		       struct err *e)
{
	int64_t tid = 0;
	int rc;

	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 || (rc = prepare(m, sql, st, e)) < 0)
		return rc;
	sqlite3_bind_int64(*st, 1, tid);
	return 0;
}

/* tenant_stmt() through prepare_cached(): sql is a string literal; give *st back with stmt_done(). */
static int tenant_stmt_cached(struct meta *m, const char *tenant, const char *sql,
			      sqlite3_stmt **st, struct err *e)
{
	int64_t tid = 0;
	int rc;

	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 || (rc = prepare_cached(m, sql, st, e)) < 0)
		return rc;
	sqlite3_bind_int64(*st, 1, tid);
	return 0;
}

/* The rows of tenant_stmt's sql (nothing more to bind) through each_row. */
static int tenant_rows(struct meta *m, const char *tenant, const char *sql,
		       int (*reader)(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
				     struct err *e),
		       const struct row_sink *to, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = tenant_stmt(m, tenant, sql, &st, e)) < 0)
		return rc;
	return each_row(m, st, reader, to, &rows, e);
}

/*
 * Runs the DELETE sql of one row of tenant's (?1 the tenant, ?2 id): -ENOENT "tenant 'T' has
 * no WHAT ID" when there is none.
 */
static int tenant_delete(struct meta *m, const char *tenant, const char *sql, int64_t id,
			 const char *what, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = tenant_stmt(m, tenant, sql, &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "tenant '%s' has no %s %lld", ESC(tenant), what,
			     (long long)id);
	stmt_done(m, st);
	return rc;
}

int meta_tenant_add(struct meta *m, const char *name, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (name && !strcmp(name, META_UNASSIGNED))
		return err_set(e, -EEXIST, "tenant '%s' is built in and always exists", name);
	if ((rc = check_name("tenant name", name, e)) < 0 ||
	    (rc = prepare(m, "INSERT INTO tenants (id, name, created_ns) VALUES "
			    "((SELECT high FROM tenant_id_high) + 1, ?1, ?2)", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, time_now_ns());
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		break;
	case SQLITE_CONSTRAINT:
		rc = err_set(e, -EEXIST, "tenant '%s' already exists in %s", ESC(name), m->path);
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

int meta_tenant_remove(struct meta *m, const char *name, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (name && !strcmp(name, META_UNASSIGNED))
		return err_set(e, -EINVAL, "tenant '%s' is built in and cannot be removed", name);
	if ((rc = check_name("tenant name", name, e)) < 0 ||
	    (rc = prepare(m, "DELETE FROM tenants WHERE name = ?1", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "no tenant '%s' in %s", ESC(name), m->path);
	stmt_done(m, st);
	return rc;
}

#define TENANT_SELECT                                                              \
	"SELECT t.id, t.name, t.created_ns,"                                       \
	" (SELECT count(*) FROM sources s WHERE s.tenant_id = t.id),"              \
	" coalesce(a.received, 0), coalesce(a.last_event_ns, 0)"                   \
	" FROM tenants t LEFT JOIN tenant_activity a ON a.tenant_id = t.id"

/* A row of TENANT_SELECT to to->fn.tenant (each_row's reader). */
static int read_tenant(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		       struct err *e)
{
	struct meta_tenant t = {
		.id = sqlite3_column_int64(st, 0),
		.name = column_text(st, 1),
		.created_ns = sqlite3_column_int64(st, 2),
		.n_sources = sqlite3_column_int64(st, 3),
		.received = sqlite3_column_int64(st, 4),
		.last_event_ns = sqlite3_column_int64(st, 5),
	};
	struct err bad = ERR_INIT;

	if (!t.name)
		return err_set(e, -ENOMEM, "out of memory reading tenants");
	/* A row written behind koban's back must not reach a file name or a log line. */
	if (check_tenant_ref(t.name, &bad) < 0) {
		log_warn("%s: tenant row %lld skipped: %s", m->path, (long long)t.id, bad.msg);
		return 0;
	}
	to->fn.tenant(to->ctx, &t);
	return 1;
}

int meta_tenant_id(struct meta *m, const char *name, int64_t *id, struct err *e)
{
	return tenant_id(m, name, id, e);
}

int meta_tenant_get(struct meta *m, const char *name,
		    void (*fn)(void *ctx, const struct meta_tenant *t), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = check_tenant_ref(name, e)) < 0 ||
	    (rc = prepare_cached(m, TENANT_SELECT " WHERE t.name = ?1", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	rc = each_row(m, st, read_tenant, &(struct row_sink){ .fn.tenant = fn, .ctx = ctx },
		      &rows, e);
	if (rc == 0 && rows == 0)
		rc = err_set(e, -ENOENT, "no tenant '%s' in %s", ESC(name), m->path);
	return rc;
}

int meta_tenant_list(struct meta *m, void (*fn)(void *ctx, const struct meta_tenant *t),
		     void *ctx, struct err *e)
{
	return query_rows(m, TENANT_SELECT " ORDER BY t.name", read_tenant,
			  &(struct row_sink){ .fn.tenant = fn, .ctx = ctx }, e);
}

/* ---- sources ---- */

int meta_source_add(struct meta *m, const struct meta_source *s, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = meta_source_check(s, e)) < 0)
		return rc;
	/* The tenant is resolved inside the INSERT: no row inserted means no such tenant. */
	rc = prepare(m, "INSERT INTO sources (name, tenant_id, cidr, host, listener, format, tz,"
			" created_ns) SELECT ?1, id, ?3, ?4, ?5, ?6, ?7, ?8"
			" FROM tenants WHERE name = ?2", &st, e);
	if (rc < 0)
		return rc;
	bind_text(st, 1, s->name);
	bind_text(st, 2, s->tenant);
	bind_text(st, 3, s->cidr);
	bind_text(st, 4, s->host);
	bind_text(st, 5, s->listener);
	bind_text(st, 6, s->format ? s->format : "auto");
	bind_text(st, 7, s->tz);
	sqlite3_bind_int64(st, 8, time_now_ns());
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		if (sqlite3_changes(m->db) == 0)
			rc = err_set(e, -ENOENT, "no tenant '%s' in %s", ESC(s->tenant),
				     m->path);
		break;
	case SQLITE_CONSTRAINT:
		rc = err_set(e, -EEXIST, "source '%s' already exists in tenant '%s' in %s",
			     ESC(s->name), ESC(s->tenant), m->path);
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

int meta_source_remove(struct meta *m, const char *tenant, const char *name, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* The tenant is part of the key: no name reaches another tenant's source. */
	if ((rc = check_name("source name", name, e)) < 0 ||
	    (rc = check_tenant_ref(tenant, e)) < 0 ||
	    (rc = prepare(m, "DELETE FROM sources WHERE name = ?1 AND tenant_id ="
			     " (SELECT id FROM tenants WHERE name = ?2)", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	bind_text(st, 2, tenant);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "no source '%s' in tenant '%s' in %s", ESC(name),
			     ESC(tenant), m->path);
	stmt_done(m, st);
	return rc;
}

/* The columns every query of sources selects first, in source_row's order. */
#define SOURCE_COLUMNS_SQL                                                                \
	"s.id, s.name, t.name, s.cidr, s.host, s.listener, s.format, s.tz, s.created_ns"
#define SOURCE_COLUMNS_N 9

/*
 * The source in the current row (strings valid until the next step): 1, or 0 for a row
 * that fails the checks (skipped with a warning), or -ENOMEM.
 */
static int source_row(struct meta *m, sqlite3_stmt *st, struct meta_source *s, struct err *e)
{
	struct err bad = ERR_INIT;

	*s = (struct meta_source){
		.id = sqlite3_column_int64(st, 0),
		.name = column_text(st, 1),
		.tenant = column_text(st, 2),
		.cidr = column_text(st, 3),
		.host = column_text(st, 4),
		.listener = column_text(st, 5),
		.format = column_text(st, 6),
		.tz = column_text(st, 7),
		.created_ns = sqlite3_column_int64(st, 8),
	};
	if (!s->name || !s->tenant || !s->format)
		return err_set(e, -ENOMEM, "out of memory reading sources");
	/* Validated again on load, as every row a writer other than koban may have made. */
	if (meta_source_check(s, &bad) < 0) {
		log_warn("%s: source row %lld skipped: %s", m->path, (long long)s->id, bad.msg);
		return 0;
	}
	return 1;
}

/* A row of SOURCE_COLUMNS_SQL to to->fn.source (each_row's reader). */
static int read_source(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		       struct err *e)
{
	struct meta_source s;
	int rc = source_row(m, st, &s, e);

	if (rc > 0)
		to->fn.source(to->ctx, &s);
	return rc;
}

int meta_source_list(struct meta *m, const char *tenant,
		     void (*fn)(void *ctx, const struct meta_source *s), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc, rows;

	/* One tenant's sources are selected by its id, so no name can reach another's. */
	if (tenant && (rc = tenant_id(m, tenant, &tid, e)) < 0)
		return rc;
	rc = prepare(m, "SELECT " SOURCE_COLUMNS_SQL " FROM sources s JOIN tenants t ON t.id = s.tenant_id"
			" WHERE ?1 IS NULL OR s.tenant_id = ?1 ORDER BY t.name, s.name", &st, e);
	if (rc < 0)
		return rc;
	if (tenant)
		sqlite3_bind_int64(st, 1, tid);
	else
		sqlite3_bind_null(st, 1);
	return each_row(m, st, read_source, &(struct row_sink){ .fn.source = fn, .ctx = ctx },
			&rows, e);
}

/* ---- transactions, activity ---- */

int meta_begin(struct meta *m, struct err *e)
{
	return exec(m, "BEGIN IMMEDIATE", e);
}

int meta_begin_read(struct meta *m, struct err *e)
{
	return exec(m, "BEGIN DEFERRED", e);
}

int meta_commit(struct meta *m, struct err *e)
{
	return exec(m, "COMMIT", e);
}

bool meta_in_transaction(struct meta *m)
{
	return sqlite3_get_autocommit(m->db) == 0;
}

void meta_rollback(struct meta *m)
{
	sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
}

int meta_activity_add(struct meta *m, const char *tenant, int64_t received, int64_t now_ns,
		      struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_tenant_ref(tenant, e)) < 0 ||
	    (rc = prepare(m, "INSERT INTO tenant_activity (tenant_id, received, last_event_ns)"
			     " SELECT id, ?2, ?3 FROM tenants WHERE name = ?1"
			     " ON CONFLICT (tenant_id) DO UPDATE SET"
			     " received = received + excluded.received,"
			     " last_event_ns = max(last_event_ns, excluded.last_event_ns)",
			     &st, e)) < 0)
		return rc;
	bind_text(st, 1, tenant);
	sqlite3_bind_int64(st, 2, received);
	sqlite3_bind_int64(st, 3, now_ns);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "no tenant '%s' in %s", ESC(tenant), m->path);
	stmt_done(m, st);
	return rc;
}

int meta_sender_add(struct meta *m, const char *address, int64_t count, int64_t last_ns,
		    struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_printable("address", address, IPADDR_STRLEN, e)) < 0 ||
	    (rc = prepare(m, "INSERT INTO unassigned_senders (address, count, last_ns)"
			     " VALUES (?1, ?2, ?3) ON CONFLICT (address) DO UPDATE SET"
			     " count = count + excluded.count,"
			     " last_ns = max(last_ns, excluded.last_ns)", &st, e)) < 0)
		return rc;
	bind_text(st, 1, address);
	sqlite3_bind_int64(st, 2, count);
	sqlite3_bind_int64(st, 3, last_ns);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	if (rc == 0)
		rc = exec(m, "DELETE FROM unassigned_senders WHERE address NOT IN (SELECT address"
			     " FROM unassigned_senders ORDER BY count DESC LIMIT "
			     STR(META_SENDERS_KEPT) ")", e);
	return rc;
}

/* A row of unassigned_senders to to->fn.sender (each_row's reader). */
static int read_sender(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		       struct err *e)
{
	struct meta_sender s = {
		.address = column_text(st, 0),
		.count = sqlite3_column_int64(st, 1),
		.last_ns = sqlite3_column_int64(st, 2),
	};
	struct ipaddr ip;

	if (!s.address)
		return err_set(e, -ENOMEM, "out of memory reading senders");
	if (ipaddr_parse(&ip, s.address, strlen(s.address)) < 0)
		return 0; /* not written by koban */
	to->fn.sender(to->ctx, &s);
	return 1;
}

int meta_sender_list(struct meta *m, int64_t limit,
		     void (*fn)(void *ctx, const struct meta_sender *s), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = prepare(m, "SELECT address, count, last_ns FROM unassigned_senders"
			     " ORDER BY count DESC, address LIMIT ?1", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, limit);
	return each_row(m, st, read_sender, &(struct row_sink){ .fn.sender = fn, .ctx = ctx },
			&rows, e);
}

int meta_tenant_check(const char *name, struct err *e)
{
	return check_tenant_ref(name, e);
}

int meta_source_update(struct meta *m, const struct meta_source *s, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = meta_source_check(s, e)) < 0)
		return rc;
	rc = prepare(m, "UPDATE sources SET"
			" cidr = ?3, host = ?4, listener = ?5, format = ?6, tz = ?7"
			" WHERE name = ?1 AND tenant_id = (SELECT id FROM tenants WHERE name = ?2)",
		     &st, e);
	if (rc < 0)
		return rc;
	bind_text(st, 1, s->name);
	bind_text(st, 2, s->tenant);
	bind_text(st, 3, s->cidr);
	bind_text(st, 4, s->host);
	bind_text(st, 5, s->listener);
	bind_text(st, 6, s->format ? s->format : "auto");
	bind_text(st, 7, s->tz);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "no source '%s' in tenant '%s' in %s", ESC(s->name),
			     ESC(s->tenant), m->path);
	stmt_done(m, st);
	return rc;
}

/* ---- API tokens ---- */

int meta_token_new(char out[META_TOKEN_LEN + 1], struct err *e)
{
	unsigned char raw[META_TOKEN_RANDOM];

	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium cannot start");
	randombytes_buf(raw, sizeof(raw));
	memcpy(out, META_TOKEN_PREFIX, sizeof(META_TOKEN_PREFIX) - 1);
	sodium_bin2base64(out + sizeof(META_TOKEN_PREFIX) - 1,
			  META_TOKEN_LEN + 2 - sizeof(META_TOKEN_PREFIX), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

void meta_token_hash(const char *token, size_t len, unsigned char out[META_TOKEN_HASH_LEN])
{
	static const char context[] = "koban api token v1";

	/* keyed with a fixed context: a token hash is useless as a hash of anything else */
	crypto_generichash(out, META_TOKEN_HASH_LEN, (const unsigned char *)token, len,
			   (const unsigned char *)context, sizeof(context) - 1);
}

/* Adds a token of kind "api" or "edl" (an EDL token has a tenant: the caller checks it). */
static int token_insert(struct meta *m, const char *name, const char *tenant, const char *kind,
			const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc;

	if ((rc = check_name("token name", name, e)) < 0 ||
	    (tenant && (rc = tenant_id(m, tenant, &tid, e)) < 0) ||
	    (rc = prepare(m, "INSERT INTO api_tokens (name, tenant_id, hash, created_ns, kind)"
			     " VALUES (?1, ?2, ?3, ?4, ?5)", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	if (tenant)
		sqlite3_bind_int64(st, 2, tid);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_blob(st, 3, hash, META_TOKEN_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, time_now_ns());
	bind_text(st, 5, kind);
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		break;
	case SQLITE_CONSTRAINT:
		rc = err_set(e, -EEXIST, "token '%s' already exists in %s", ESC(name), m->path);
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

int meta_token_add(struct meta *m, const char *name, const char *tenant,
		   const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e)
{
	return token_insert(m, name, tenant, "api", hash, e);
}

int meta_token_revoke(struct meta *m, const char *name, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_name("token name", name, e)) < 0 ||
	    (rc = prepare(m, "DELETE FROM api_tokens WHERE name = ?1", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "no token '%s' in %s", ESC(name), m->path);
	stmt_done(m, st);
	return rc;
}

#define TOKEN_SELECT                                                                      \
	"SELECT k.id, k.name, t.name, coalesce(k.tenant_id, -1), k.created_ns,"           \
	" k.kind = 'edl' FROM api_tokens k LEFT JOIN tenants t ON t.id = k.tenant_id"

/* A row of TOKEN_SELECT to to->fn.token (each_row's reader). */
static int read_token(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		      struct err *e)
{
	struct meta_token t = {
		.id = sqlite3_column_int64(st, 0),
		.name = column_text(st, 1),
		.tenant = column_text(st, 2),
		.tenant_id = sqlite3_column_int64(st, 3),
		.created_ns = sqlite3_column_int64(st, 4),
		.edl = sqlite3_column_int(st, 5) != 0,
	};
	struct err bad = ERR_INIT;

	if (!t.name || (t.tenant_id >= 0 && !t.tenant))
		return err_set(e, -ENOMEM, "out of memory reading tokens");
	if (check_name("token name", t.name, &bad) < 0 ||
	    (t.tenant && check_tenant_ref(t.tenant, &bad) < 0)) {
		log_warn("%s: token row %lld skipped: %s", m->path, (long long)t.id, bad.msg);
		return 0;
	}
	to->fn.token(to->ctx, &t);
	return 1;
}

int meta_token_list(struct meta *m, void (*fn)(void *ctx, const struct meta_token *t),
		    void *ctx, struct err *e)
{
	return query_rows(m, TOKEN_SELECT " ORDER BY k.name", read_token,
			  &(struct row_sink){ .fn.token = fn, .ctx = ctx }, e);
}

int meta_token_find(struct meta *m, const unsigned char hash[META_TOKEN_HASH_LEN],
		    void (*fn)(void *ctx, const struct meta_token *t), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	/* an EDL token opens no API endpoint: it is not found here */
	if ((rc = prepare(m, TOKEN_SELECT " WHERE k.hash = ?1 AND k.kind = 'api'", &st, e)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, hash, META_TOKEN_HASH_LEN, SQLITE_STATIC);
	rc = each_row(m, st, read_token, &(struct row_sink){ .fn.token = fn, .ctx = ctx },
		      &rows, e);
	if (rc == 0 && rows == 0)
		rc = err_set(e, -ENOENT, "no such token");
	return rc;
}

/* ---- ingest tokens of sources ---- */

/*
 * Runs sql on the ingest token of one source: ?1 the source name, ?2 the tenant name and,
 * with a hash, ?3 the hash and ?4 the time now. The rows changed (0 or 1), or -errno with
 * a message.
 */
static int source_token_exec(struct meta *m, const char *tenant, const char *source,
			     const char *sql, const unsigned char *hash, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_name("source name", source, e)) < 0 ||
	    (rc = check_tenant_ref(tenant, e)) < 0 || (rc = prepare(m, sql, &st, e)) < 0)
		return rc;
	bind_text(st, 1, source);
	bind_text(st, 2, tenant);
	if (hash) {
		sqlite3_bind_blob(st, 3, hash, META_TOKEN_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, time_now_ns());
	}
	rc = sqlite3_step(st) != SQLITE_DONE ? db_fail(m, e) : sqlite3_changes(m->db) > 0;
	stmt_done(m, st);
	return rc;
}

int meta_source_token_set(struct meta *m, const char *tenant, const char *source,
			  const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e)
{
	int rc = source_token_exec(m, tenant, source,
				   "INSERT OR REPLACE INTO source_tokens (source_id, hash, created_ns)"
				   " SELECT s.id, ?3, ?4 FROM sources s JOIN tenants t"
				   " ON t.id = s.tenant_id WHERE s.name = ?1 AND t.name = ?2",
				   hash, e);

	if (rc == 0)
		return err_set(e, -ENOENT, "no source '%s' in tenant '%s' in %s", ESC(source),
			       ESC(tenant), m->path);
	return rc < 0 ? rc : 0;
}

int meta_source_token_revoke(struct meta *m, const char *tenant, const char *source,
			     struct err *e)
{
	int rc = source_token_exec(m, tenant, source,
				   "DELETE FROM source_tokens WHERE source_id = (SELECT s.id FROM"
				   " sources s JOIN tenants t ON t.id = s.tenant_id"
				   " WHERE s.name = ?1 AND t.name = ?2)", NULL, e);

	if (rc == 0)
		return err_set(e, -ENOENT, "source '%s' of tenant '%s' has no ingest token",
			       ESC(source), ESC(tenant));
	return rc < 0 ? rc : 0;
}

/* A row of SOURCE_COLUMNS_SQL, the tenant's id and the token's time (each_row's reader). */
static int read_source_token(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			     struct err *e)
{
	struct meta_source_token t = {
		.tenant_id = sqlite3_column_int64(st, SOURCE_COLUMNS_N),
		.created_ns = sqlite3_column_int64(st, SOURCE_COLUMNS_N + 1),
	};
	int rc = source_row(m, st, &t.source, e);

	if (rc > 0)
		to->fn.source_token(to->ctx, &t);
	return rc;
}

int meta_source_token_find(struct meta *m, const unsigned char hash[META_TOKEN_HASH_LEN],
			   void (*fn)(void *ctx, const struct meta_source_token *t), void *ctx,
			   struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = prepare(m, "SELECT " SOURCE_COLUMNS_SQL ", s.tenant_id, k.created_ns"
			     " FROM source_tokens k JOIN sources s ON s.id = k.source_id"
			     " JOIN tenants t ON t.id = s.tenant_id WHERE k.hash = ?1", &st, e)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, hash, META_TOKEN_HASH_LEN, SQLITE_STATIC);
	rc = each_row(m, st, read_source_token,
		      &(struct row_sink){ .fn.source_token = fn, .ctx = ctx }, &rows, e);
	if (rc == 0 && rows == 0)
		rc = err_set(e, -ENOENT, "no such ingest token");
	return rc;
}

/* ---- alerts ---- */

static const char *const alert_kinds[] = { "sigma", "correlation", "builtin", "indicator" };
static const char *const alert_levels[] = { "", "informational", "low", "medium", "high",
					    "critical" };

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

/* Printable UTF-8 (no control characters) of at most max bytes. */
static bool text_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max)
		return false;
	for (size_t i = 0; i < len;) {
		size_t n = json_utf8_len((const unsigned char *)s + i, len - i);

		if (!n || (n == 1 && ((unsigned char)s[i] < ' ' || s[i] == 0x7f)))
			return false;
		i += n;
	}
	return true;
}

/* One JSON value of type want spanning s[0..len); for an array, of strings only. */
static bool json_ok(const char *s, size_t len, enum jsonin_type want)
{
	struct jsonin j;
	struct jsonin_value v;
	const char *raw;
	size_t raw_len;
	int more;

	jsonin_init(&j, s, len, NULL, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != want)
		return false;
	if (want == JSONIN_OBJECT) {
		if (jsonin_skip(&j) < 0)
			return false;
	} else {
		while ((more = jsonin_more(&j)) > 0)
			if (jsonin_raw_value(&j, &raw, &raw_len) < 0 || raw[0] != '"')
				return false;
		if (more < 0)
			return false;
	}
	return jsonin_finish(&j, NULL) == 0;
}

static int check_alert_json(const char *what, const char *s, enum jsonin_type want,
			    struct err *e)
{
	if (!s || strlen(s) > META_ALERT_JSON_MAX || !json_ok(s, strlen(s), want))
		return err_set(e, -EINVAL, "alert %s: expected a JSON %s of at most %d bytes",
			       what, want == JSONIN_OBJECT ? "object" : "array of strings",
			       META_ALERT_JSON_MAX);
	return 0;
}

/* n JSON objects, one per line, each line ended by '\n'. */
static int check_alert_events(const char *events, int64_t n, struct err *e)
{
	size_t len = strlen(events);
	int64_t lines = 0;

	if (n < 0 || n > META_ALERT_EVENTS_MAX || len > META_ALERT_EVENTS_BYTES)
		return err_set(e, -EINVAL, "alert events: at most %d events in %d bytes",
			       META_ALERT_EVENTS_MAX, META_ALERT_EVENTS_BYTES);
	for (const char *p = events; *p; lines++) {
		const char *nl = strchr(p, '\n');

		if (!nl || !json_ok(p, (size_t)(nl - p), JSONIN_OBJECT))
			return err_set(e, -EINVAL, "alert events: line %lld is not one JSON object "
				       "ended by a newline", (long long)lines + 1);
		p = nl + 1;
	}
	if (lines != n)
		return err_set(e, -EINVAL, "alert events: %lld lines, but n_events says %lld",
			       (long long)lines, (long long)n);
	return 0;
}

int meta_alert_check(const struct meta_alert *a, struct err *e)
{
	const struct {
		const char *name, *value;
	} texts[] = {
		{ "rule_id", a->rule_id }, { "rule_title", a->rule_title },
		{ "rule_author", a->rule_author }, { "rule_status", a->rule_status },
		{ "rule_link", a->rule_link },
	};
	int rc;

	if ((rc = check_tenant_ref(a->tenant, e)) < 0)
		return rc;
	if (!a->kind || !one_of(a->kind, alert_kinds, ARRAY_SIZE(alert_kinds)))
		return err_set(e, -EINVAL, "alert kind '%s': expected sigma, correlation, builtin "
			       "or indicator",
			       ESC(a->kind));
	if (!a->rule_level || !one_of(a->rule_level, alert_levels, ARRAY_SIZE(alert_levels)))
		return err_set(e, -EINVAL, "alert level '%s': expected informational, low, medium, "
			       "high, critical or none", ESC(a->rule_level));
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		if (!texts[i].value || !text_ok(texts[i].value, META_ALERT_TEXT_MAX))
			return err_set(e, -EINVAL, "alert %s '%s': expected printable UTF-8 of at "
				       "most %d bytes", texts[i].name, ESC(texts[i].value),
				       META_ALERT_TEXT_MAX);
	if (!a->rule_id[0])
		return err_set(e, -EINVAL, "alert rule_id: expected the rule's id, name or "
			       "FILE:LINE, not an empty string");
	if ((rc = check_alert_json("rule_tags", a->rule_tags, JSONIN_ARRAY, e)) < 0 ||
	    (rc = check_alert_json("rule_references", a->rule_references, JSONIN_ARRAY, e)) < 0 ||
	    (rc = check_alert_json("group_fields", a->group_fields, JSONIN_OBJECT, e)) < 0 ||
	    (rc = check_alert_json("key_fields", a->key_fields, JSONIN_OBJECT, e)) < 0)
		return rc;
	if (a->events_omitted < 0)
		return err_set(e, -EINVAL, "alert events_omitted: expected a count, not %lld",
			       (long long)a->events_omitted);
	return a->events ? check_alert_events(a->events, a->n_events, e) : 0;
}

int meta_alert_add(struct meta *m, const struct meta_alert *a, int64_t *id, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = meta_alert_check(a, e)) < 0)
		return rc;
	if (!a->events)
		return err_set(e, -EINVAL, "alert events: expected the ECS JSON lines (or \"\")");
	/* The tenant is resolved inside the INSERT: no row inserted means no such tenant. */
	rc = prepare(m, "INSERT INTO alerts (tenant_id, kind, rule_id, rule_title, rule_level,"
			" rule_author, rule_status, rule_link, rule_tags, rule_references, event_ns,"
			" detected_ns, group_fields, key_fields, events, n_events, events_omitted)"
			" SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
			" ?16, ?17 FROM tenants WHERE name = ?1", &st, e);
	if (rc < 0)
		return rc;
	bind_text(st, 1, a->tenant);
	bind_text(st, 2, a->kind);
	bind_text(st, 3, a->rule_id);
	bind_text(st, 4, a->rule_title);
	bind_text(st, 5, a->rule_level);
	bind_text(st, 6, a->rule_author);
	bind_text(st, 7, a->rule_status);
	bind_text(st, 8, a->rule_link);
	bind_text(st, 9, a->rule_tags);
	bind_text(st, 10, a->rule_references);
	sqlite3_bind_int64(st, 11, a->event_ns);
	sqlite3_bind_int64(st, 12, a->detected_ns);
	bind_text(st, 13, a->group_fields);
	bind_text(st, 14, a->key_fields);
	bind_text(st, 15, a->events);
	sqlite3_bind_int64(st, 16, a->n_events);
	sqlite3_bind_int64(st, 17, a->events_omitted);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "no tenant '%s' in %s", ESC(a->tenant), m->path);
	else if (id)
		*id = sqlite3_last_insert_rowid(m->db);
	stmt_done(m, st);
	return rc;
}

/* The columns of every alert query; events last (NULL in lists). */
#define ALERT_SELECT(events)                                                                \
	"SELECT a.id, t.name, a.kind, a.rule_id, a.rule_title, a.rule_level, a.rule_author,"  \
	" a.rule_status, a.rule_link, a.rule_tags, a.rule_references, a.event_ns,"           \
	" a.detected_ns, a.group_fields, a.key_fields, a.n_events, a.events_omitted, " events \
	" FROM alerts a JOIN tenants t ON t.id = a.tenant_id"

/* A row of ALERT_SELECT to to->fn.alert (each_row's reader). */
static int read_alert(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		      struct err *e)
{
	struct meta_alert a = {
		.id = sqlite3_column_int64(st, 0),
		.tenant = column_text(st, 1),
		.kind = column_text(st, 2),
		.rule_id = column_text(st, 3),
		.rule_title = column_text(st, 4),
		.rule_level = column_text(st, 5),
		.rule_author = column_text(st, 6),
		.rule_status = column_text(st, 7),
		.rule_link = column_text(st, 8),
		.rule_tags = column_text(st, 9),
		.rule_references = column_text(st, 10),
		.event_ns = sqlite3_column_int64(st, 11),
		.detected_ns = sqlite3_column_int64(st, 12),
		.group_fields = column_text(st, 13),
		.key_fields = column_text(st, 14),
		.n_events = sqlite3_column_int64(st, 15),
		.events_omitted = sqlite3_column_int64(st, 16),
		.events = column_text(st, 17),
	};
	struct err bad = ERR_INIT;

	if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
		return err_set(e, -ENOMEM, "out of memory reading alerts");
	/* written by koban, but read back as untrusted: it reaches JSON and terminals */
	if (meta_alert_check(&a, &bad) < 0) {
		log_warn("%s: alert row %lld skipped: %s", m->path, (long long)a.id, bad.msg);
		return 0;
	}
	to->fn.alert(to->ctx, &a);
	return 1;
}

int meta_alert_list(struct meta *m, const char *tenant, int64_t since_ns, int64_t limit,
		    void (*fn)(void *ctx, const struct meta_alert *a), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if (limit < 1 || limit > META_ALERT_LIST_MAX)
		return err_set(e, -EINVAL, "limit %lld: expected 1 to %d alerts", (long long)limit,
			       META_ALERT_LIST_MAX);
	/* selected by the tenant's id (the index's first column): no name reaches another */
	if ((rc = tenant_stmt(m, tenant, ALERT_SELECT("NULL") " WHERE a.tenant_id = ?1 AND"
			      " a.detected_ns >= ?2 ORDER BY a.detected_ns DESC, a.id DESC"
			      " LIMIT ?3", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, since_ns);
	sqlite3_bind_int64(st, 3, limit);
	return each_row(m, st, read_alert, &(struct row_sink){ .fn.alert = fn, .ctx = ctx },
			&rows, e);
}

int meta_alert_get(struct meta *m, const char *tenant, int64_t id,
		   void (*fn)(void *ctx, const struct meta_alert *a), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = tenant_stmt_cached(m, tenant, ALERT_SELECT("a.events") " WHERE a.tenant_id = ?1"
			       " AND a.id = ?2", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, id);
	rc = each_row(m, st, read_alert, &(struct row_sink){ .fn.alert = fn, .ctx = ctx },
		      &rows, e);
	if (rc == 0 && rows == 0)
		rc = err_set(e, -ENOENT, "tenant '%s' has no alert %lld", ESC(tenant),
			     (long long)id);
	return rc;
}

int meta_alert_prune(struct meta *m, int64_t before_ns, int64_t *deleted, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* per tenant, so that the (tenant, time) index serves the range */
	if ((rc = prepare(m, "DELETE FROM alerts WHERE tenant_id IN (SELECT id FROM tenants)"
			     " AND detected_ns < ?1", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, before_ns);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (deleted)
		*deleted = sqlite3_changes(m->db);
	stmt_done(m, st);
	return rc;
}

/* ---- detection rules per tenant ---- */

static const char *const rule_actions[] = { "enable", "disable", "tune", "untune" };

const char *meta_rule_action_name(enum meta_rule_action a)
{
	return (unsigned)a < ARRAY_SIZE(rule_actions) ? rule_actions[a] : "?";
}

int meta_rule_check(const char *rule, struct err *e)
{
	return check_printable("rule", rule ? rule : "", META_RULE_MAX, e);
}

/*
 * Text written by a person: min..max bytes without control characters (a filter, which
 * is YAML, may hold tabs and line ends).
 */
static int check_text(const char *what, const char *s, size_t min, size_t max, bool lines,
		      struct err *e)
{
	size_t len = s ? strlen(s) : 0;

	if (len < min || len > max)
		return err_set(e, -EINVAL, "%s: expected %zu to %zu bytes, found %zu", what, min,
			       max, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < ' ' && !(lines && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7f)
			return err_set(e, -EINVAL, "%s: control character 0x%02x at byte %zu", what,
				       c, i);
	}
	return 0;
}

static int check_rule_change(const struct meta_rule_change *c, struct err *e)
{
	bool tuning = c->action == META_RULE_TUNE || c->action == META_RULE_UNTUNE;
	int rc;

	if ((unsigned)c->action >= ARRAY_SIZE(rule_actions))
		return err_set(e, -EINVAL, "rule change: unknown action %d", (int)c->action);
	if ((rc = check_tenant_ref(c->tenant, e)) < 0 || (rc = meta_rule_check(c->rule, e)) < 0 ||
	    (rc = check_text("who", c->who, 1, META_RULE_WHO_MAX, false, e)) < 0 ||
	    (rc = check_text("reason", c->reason, tuning ? 1 : 0, META_RULE_REASON_MAX, false,
			     e)) < 0)
		return rc;
	if (c->action == META_RULE_TUNE)
		return check_text("filter", c->filter, 1, META_RULE_FILTER_MAX, true, e);
	return 0;
}

/* A tenant's setting of one rule; filter owned (mem_strdup). */
struct rule_state {
	int enabled;
	char *filter;
};

/* A nullable text column: 0 with *out NULL for SQL NULL, -ENOMEM when it cannot be read. */
static int nullable_text(sqlite3_stmt *st, int i, const char **out)
{
	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	*out = column_text(st, i);
	return *out ? 0 : -ENOMEM;
}

static int nullable_state(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return META_RULE_DEFAULT;
	return sqlite3_column_int(st, i) ? META_RULE_ON : META_RULE_OFF;
}

static void bind_state(sqlite3_stmt *st, int i, int state)
{
	if (state == META_RULE_DEFAULT)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int(st, i, state);
}

static int rule_state_get(struct meta *m, int64_t tid, const char *rule, struct rule_state *s,
			  struct err *e)
{
	sqlite3_stmt *st = NULL;
	const char *filter;
	int rc = prepare(m, "SELECT enabled, filter FROM rule_policy"
			    " WHERE tenant_id = ?1 AND rule = ?2", &st, e);

	s->enabled = META_RULE_DEFAULT;
	s->filter = NULL;
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, rule);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		s->enabled = nullable_state(st, 0);
		if (nullable_text(st, 1, &filter) < 0 ||
		    (filter && !(s->filter = mem_strdup(filter))))
			rc = err_set(e, -ENOMEM, "out of memory reading the rule policy");
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The tenant's row made equal to after (removed when it holds no setting). */
static int rule_state_put(struct meta *m, int64_t tid, const struct meta_rule_change *c,
			  const struct rule_state *after, int64_t now, struct err *e)
{
	sqlite3_stmt *st = NULL;
	bool none = after->enabled == META_RULE_DEFAULT && !after->filter;
	int rc = prepare(m, none ? "DELETE FROM rule_policy WHERE tenant_id = ?1 AND rule = ?2"
				 : "INSERT INTO rule_policy (tenant_id, rule, enabled, filter,"
				   " changed_ns, changed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
				   " ON CONFLICT (tenant_id, rule) DO UPDATE SET"
				   " enabled = excluded.enabled, filter = excluded.filter,"
				   " changed_ns = excluded.changed_ns,"
				   " changed_by = excluded.changed_by", &st, e);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, c->rule);
	if (!none) {
		bind_state(st, 3, after->enabled);
		bind_text(st, 4, after->filter);
		sqlite3_bind_int64(st, 5, now);
		bind_text(st, 6, c->who);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

static int rule_history_add(struct meta *m, int64_t tid, const struct meta_rule_change *c,
			    const struct rule_state *before, const struct rule_state *after,
			    int64_t now, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(m, "INSERT INTO rule_policy_history (tenant_id, rule, time_ns, who,"
			    " action, reason, enabled_before, enabled_after, filter_before,"
			    " filter_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", &st, e);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, c->rule);
	sqlite3_bind_int64(st, 3, now);
	bind_text(st, 4, c->who);
	bind_text(st, 5, meta_rule_action_name(c->action));
	bind_text(st, 6, c->reason ? c->reason : "");
	bind_state(st, 7, before->enabled);
	bind_state(st, 8, after->enabled);
	bind_text(st, 9, before->filter);
	bind_text(st, 10, after->filter);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_rule_change(struct meta *m, const struct meta_rule_change *c, bool *changed,
		     struct err *e)
{
	struct rule_state before = { META_RULE_DEFAULT, NULL }, after;
	int64_t tid = 0, now = time_now_ns();
	int rc;

	*changed = false;
	if ((rc = check_rule_change(c, e)) < 0 || (rc = exec(m, "BEGIN IMMEDIATE", e)) < 0)
		return rc;
	if ((rc = tenant_id(m, c->tenant, &tid, e)) < 0 ||
	    (rc = rule_state_get(m, tid, c->rule, &before, e)) < 0)
		goto fail;
	after = before;
	if (c->action == META_RULE_ENABLE || c->action == META_RULE_DISABLE)
		after.enabled = c->action == META_RULE_ENABLE ? META_RULE_ON : META_RULE_OFF;
	else
		after.filter = c->action == META_RULE_TUNE ? (char *)c->filter : NULL;
	if (after.enabled == before.enabled && same_text(after.filter, before.filter)) {
		rc = exec(m, "COMMIT", e); /* nothing to change: only the read to end */
		goto out;
	}
	if ((rc = rule_state_put(m, tid, c, &after, now, e)) < 0 ||
	    (rc = rule_history_add(m, tid, c, &before, &after, now, e)) < 0 ||
	    (rc = exec(m, "COMMIT", e)) < 0)
		goto fail;
	*changed = true;
	goto out;
fail:
	meta_rollback(m);
out:
	mem_free(before.filter);
	return rc;
}

/* A row of rule_policy to to->fn.policy (each_row's reader). */
static int read_policy(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		       struct err *e)
{
	struct meta_rule_policy p = {
		.tenant = to->tenant,
		.rule = column_text(st, 0),
		.enabled = nullable_state(st, 1),
		.changed_ns = sqlite3_column_int64(st, 3),
		.changed_by = column_text(st, 4),
	};
	struct err bad = ERR_INIT;

	if (!p.rule || !p.changed_by || nullable_text(st, 2, &p.filter) < 0)
		return err_set(e, -ENOMEM, "out of memory reading the rule policy");
	/* a row written behind koban's back must not reach a terminal or a log line */
	if (meta_rule_check(p.rule, &bad) < 0 ||
	    check_text("who", p.changed_by, 1, META_RULE_WHO_MAX, false, &bad) < 0) {
		log_warn("%s: rule policy row of tenant '%s' skipped: %s", m->path, to->tenant,
			 bad.msg);
		return 0;
	}
	to->fn.policy(to->ctx, &p);
	return 1;
}

int meta_rule_policy_list(struct meta *m, const char *tenant,
			  void (*fn)(void *ctx, const struct meta_rule_policy *p), void *ctx,
			  struct err *e)
{
	return tenant_rows(m, tenant, "SELECT rule, enabled, filter, changed_ns, changed_by"
			   " FROM rule_policy WHERE tenant_id = ?1 ORDER BY rule", read_policy,
			   &(struct row_sink){ .fn.policy = fn, .ctx = ctx, .tenant = tenant }, e);
}

/* A row of rule_policy_history to to->fn.history (each_row's reader). */
static int read_history(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			struct err *e)
{
	struct meta_rule_history h = {
		.id = sqlite3_column_int64(st, 0),
		.tenant = to->tenant,
		.rule = column_text(st, 1),
		.time_ns = sqlite3_column_int64(st, 2),
		.who = column_text(st, 3),
		.action = column_text(st, 4),
		.reason = column_text(st, 5),
		.enabled_before = nullable_state(st, 6),
		.enabled_after = nullable_state(st, 7),
	};
	struct err bad = ERR_INIT;
	bool known;

	if (!h.rule || !h.who || !h.action || !h.reason ||
	    nullable_text(st, 8, &h.filter_before) < 0 ||
	    nullable_text(st, 9, &h.filter_after) < 0)
		return err_set(e, -ENOMEM, "out of memory reading the rule history");
	known = one_of(h.action, rule_actions, ARRAY_SIZE(rule_actions));
	if (!known)
		err_set(&bad, -EINVAL, "unknown action");
	if (!known || meta_rule_check(h.rule, &bad) < 0 ||
	    check_text("who", h.who, 1, META_RULE_WHO_MAX, false, &bad) < 0 ||
	    check_text("reason", h.reason, 0, META_RULE_REASON_MAX, false, &bad) < 0) {
		log_warn("%s: rule history row %lld skipped: %s", m->path, (long long)h.id,
			 bad.msg);
		return 0;
	}
	to->fn.history(to->ctx, &h);
	return 1;
}

int meta_rule_history_list(struct meta *m, const char *tenant, const char *rule, int64_t limit,
			   void (*fn)(void *ctx, const struct meta_rule_history *h), void *ctx,
			   struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = check_tenant_ref(tenant, e)) < 0 ||
	    (rule && (rc = meta_rule_check(rule, e)) < 0) ||
	    (rc = tenant_stmt(m, tenant, "SELECT id, rule, time_ns, who, action, reason,"
			      " enabled_before, enabled_after, filter_before, filter_after"
			      " FROM rule_policy_history WHERE tenant_id = ?1"
			      " AND (?2 IS NULL OR rule = ?2) ORDER BY id DESC LIMIT ?3", &st, e)) < 0)
		return rc;
	bind_text(st, 2, rule);
	sqlite3_bind_int64(st, 3, limit);
	return each_row(m, st, read_history,
			&(struct row_sink){ .fn.history = fn, .ctx = ctx, .tenant = tenant }, &rows,
			e);
}

/* ---- threat-intelligence indicators ---- */

int meta_indicator_check(const struct meta_indicator *ind, struct err *e)
{
	char canon[TI_VALUE_BUF];
	struct err why = ERR_INIT;
	enum ti_type type;
	size_t len;
	int rc;

	if ((rc = check_name("indicator source", ind->source, e)) < 0 ||
	    (ind->tenant && (rc = check_tenant_ref(ind->tenant, e)) < 0))
		return rc;
	if (!ind->type || ti_type_parse(ind->type, strlen(ind->type), &type) < 0 ||
	    strcmp(ind->type, ti_type_name(type)))
		return err_set(e, -EINVAL, "indicator type '%s': expected ip domain url md5 sha1 "
			       "sha256 email", ESC(ind->type));
	if (!ind->value || ti_normalize(type, ind->value, strlen(ind->value), canon, &len, &why) < 0)
		return err_set(e, -EINVAL, "indicator %s '%s': %s", ind->type, ESC(ind->value),
			       why.msg);
	if (strcmp(canon, ind->value))
		return err_set(e, -EINVAL, "indicator %s '%s': not in canonical form ('%s')",
			       ind->type, ESC(ind->value), ESC(canon));
	if (ind->confidence < -1 || ind->confidence > 100)
		return err_set(e, -EINVAL, "indicator confidence %d: expected 0 to 100 or -1",
			       ind->confidence);
	if (!ind->tags || strlen(ind->tags) > META_TI_TAGS_MAX ||
	    !json_ok(ind->tags, strlen(ind->tags), JSONIN_ARRAY))
		return err_set(e, -EINVAL, "indicator tags: expected a JSON array of strings of "
			       "at most %d bytes", META_TI_TAGS_MAX);
	if ((ind->description && !text_ok(ind->description, META_TI_TEXT_MAX)) ||
	    (ind->ref && !text_ok(ind->ref, META_TI_TEXT_MAX)))
		return err_set(e, -EINVAL, "indicator description or ref: expected printable "
			       "UTF-8 of at most %d bytes", META_TI_TEXT_MAX);
	return 0;
}

struct meta_indicator_put {
	struct meta *m;
	sqlite3_stmt *st;
	char *source, *tenant;
	int64_t tid; /* 0: global */
};

int meta_indicator_put_begin(struct meta *m, const char *source, const char *tenant,
			     struct meta_indicator_put **pp, struct err *e)
{
	struct meta_indicator_put *p;
	int rc;

	*pp = NULL;
	if ((rc = check_name("indicator source", source, e)) < 0 ||
	    (tenant && (rc = check_tenant_ref(tenant, e)) < 0))
		return rc;
	if (!(p = mem_calloc(1, sizeof(*p))) || !(p->source = mem_strdup(source)) ||
	    (tenant && !(p->tenant = mem_strdup(tenant)))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	p->m = m;
	if ((tenant && (rc = tenant_id(m, tenant, &p->tid, e)) < 0) ||
	    (rc = prepare(m, "INSERT INTO indicators (source, tenant_id, type, value, confidence,"
			  " first_seen_ns, last_seen_ns, expires_ns, tags, description, ref)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
			  " ON CONFLICT (source, IFNULL(tenant_id, 0), type, value) DO UPDATE SET"
			  " confidence = excluded.confidence,"
			  " first_seen_ns = MIN(first_seen_ns, excluded.first_seen_ns),"
			  " last_seen_ns = MAX(last_seen_ns, excluded.last_seen_ns),"
			  " expires_ns = excluded.expires_ns, tags = excluded.tags,"
			  " description = excluded.description, ref = excluded.ref,"
			  " imports = imports + 1 RETURNING imports", &p->st, e)) < 0 ||
	    (rc = meta_begin(m, e)) < 0)
		goto fail;
	*pp = p;
	return 0;
fail:
	if (p) {
		sqlite3_finalize(p->st);
		mem_free(p->source);
		mem_free(p->tenant);
	}
	mem_free(p);
	return rc;
}

int meta_indicator_put(struct meta_indicator_put *p, const struct meta_indicator *ind,
		       bool *added, struct err *e)
{
	struct meta_indicator row = *ind;
	sqlite3_stmt *st = p->st;
	int rc;

	row.source = p->source;
	row.tenant = p->tenant;
	if ((rc = meta_indicator_check(&row, e)) < 0)
		return rc;
	sqlite3_reset(st);
	bind_text(st, 1, p->source);
	if (p->tid)
		sqlite3_bind_int64(st, 2, p->tid);
	else
		sqlite3_bind_null(st, 2);
	bind_text(st, 3, row.type);
	bind_text(st, 4, row.value);
	if (row.confidence < 0)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_int(st, 5, row.confidence);
	sqlite3_bind_int64(st, 6, row.first_seen_ns);
	sqlite3_bind_int64(st, 7, row.last_seen_ns);
	sqlite3_bind_int64(st, 8, row.expires_ns);
	bind_text(st, 9, row.tags);
	bind_text(st, 10, row.description);
	bind_text(st, 11, row.ref);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(p->m, e);
	*added = sqlite3_column_int64(st, 0) == 1;
	sqlite3_reset(st);
	return 0;
}

/* In the caller's transaction: the indicators changed (meta_indicator_generation). */
static int indicator_generation_bump(struct meta *m, struct err *e)
{
	return exec(m, "UPDATE indicator_generation SET n = n + 1 WHERE id = 1", e);
}

int meta_indicator_put_end(struct meta_indicator_put *p, bool commit, struct err *e)
{
	int rc = 0;

	if (!p)
		return 0;
	sqlite3_finalize(p->st);
	if (commit && (rc = indicator_generation_bump(p->m, e)) == 0)
		rc = meta_commit(p->m, e);
	if (!commit || rc < 0)
		meta_rollback(p->m);
	mem_free(p->source);
	mem_free(p->tenant);
	mem_free(p);
	return rc;
}

/* The WHERE clause of a filter over `indicators i LEFT JOIN tenants t`; ?1 tenant id. */
static const char *indicator_where(enum meta_indicator_scope scope)
{
	switch (scope) {
	case META_TI_GLOBAL: return " WHERE i.tenant_id IS NULL";
	case META_TI_TENANT: return " WHERE i.tenant_id = ?1";
	case META_TI_APPLIES: return " WHERE (i.tenant_id IS NULL OR i.tenant_id = ?1)";
	default: return " WHERE 1";
	}
}

/* Prepares sql + the filter's WHERE (source ?2, type ?3, value ?4) + tail, values bound. */
static int indicator_stmt(struct meta *m, const char *sql, const struct meta_indicator_filter *f,
			  const char *tail, sqlite3_stmt **st, struct err *e)
{
	char text[1024];
	int64_t tid = 0;
	int rc;

	if ((f->scope == META_TI_TENANT || f->scope == META_TI_APPLIES) &&
	    ((rc = check_tenant_ref(f->tenant, e)) < 0 || (rc = tenant_id(m, f->tenant, &tid, e)) < 0))
		return rc;
	snprintf(text, sizeof(text), "%s%s AND (?2 IS NULL OR i.source = ?2) AND (?3 IS NULL OR"
		 " i.type = ?3) AND (?4 IS NULL OR i.value = ?4)%s", sql,
		 indicator_where(f->scope), tail);
	if ((rc = prepare(m, text, st, e)) < 0)
		return rc;
	sqlite3_bind_int64(*st, 1, tid);
	bind_text(*st, 2, f->source);
	bind_text(*st, 3, f->type);
	bind_text(*st, 4, f->value);
	return 0;
}

/* The row of a statement selecting INDICATOR_COLUMNS; its strings valid until the next step. */
#define INDICATOR_COLUMNS "i.id, i.source, t.name, i.type, i.value, i.confidence," \
	" i.first_seen_ns, i.last_seen_ns, i.expires_ns, i.tags, i.description, i.ref, i.imports"
static struct meta_indicator indicator_row(sqlite3_stmt *st)
{
	return (struct meta_indicator){
		.id = sqlite3_column_int64(st, 0),
		.source = column_text(st, 1),
		.tenant = column_text(st, 2),
		.type = column_text(st, 3),
		.value = column_text(st, 4),
		.confidence = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1
						: sqlite3_column_int(st, 5),
		.first_seen_ns = sqlite3_column_int64(st, 6),
		.last_seen_ns = sqlite3_column_int64(st, 7),
		.expires_ns = sqlite3_column_int64(st, 8),
		.tags = column_text(st, 9),
		.description = column_text(st, 10),
		.ref = column_text(st, 11),
		.imports = sqlite3_column_int64(st, 12),
	};
}

/* A row of INDICATOR_COLUMNS to to->fn.indicator unless meta_indicator_check refuses it
 * (logged); each_row's reader. */
static int read_indicator(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			  struct err *e)
{
	struct meta_indicator ind = indicator_row(st);
	struct err why = ERR_INIT;

	if (meta_indicator_check(&ind, &why) < 0) {
		log_warn("%s: indicator row %lld skipped: %s", m->path, (long long)ind.id, why.msg);
		return 0;
	}
	to->fn.indicator(to->ctx, &ind);
	return 1;
}

/* Hands each indicator row of st to fn (each_row with read_indicator; st finalized). */
static int indicator_rows(struct meta *m, sqlite3_stmt *st,
			  void (*fn)(void *ctx, const struct meta_indicator *ind), void *ctx,
			  struct err *e)
{
	int rows;

	return each_row(m, st, read_indicator,
			&(struct row_sink){ .fn.indicator = fn, .ctx = ctx }, &rows, e);
}

int meta_indicator_list(struct meta *m, const struct meta_indicator_filter *f,
			void (*fn)(void *ctx, const struct meta_indicator *ind), void *ctx,
			struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = indicator_stmt(m, "SELECT " INDICATOR_COLUMNS " FROM indicators i LEFT JOIN tenants t"
			    " ON t.id = i.tenant_id", f, f->scope == META_TI_EVERY ? "" :
			    " ORDER BY i.type, i.value, t.name, i.source", &st, e);
	if (rc < 0)
		return rc;
	return indicator_rows(m, st, fn, ctx, e);
}

int meta_indicator_remove(struct meta *m, const struct meta_indicator_filter *f,
			  int64_t *removed, struct err *e)
{
	sqlite3_stmt *st = NULL;
	bool own;
	int rc;

	*removed = 0;
	if (f->scope != META_TI_GLOBAL && f->scope != META_TI_TENANT)
		return err_set(e, -EINVAL, "indicators are removed from one scope");
	if ((rc = check_name("indicator source", f->source, e)) < 0)
		return rc;
	own = sqlite3_get_autocommit(m->db) != 0; /* else within the caller's transaction */
	if (own && (rc = meta_begin(m, e)) < 0)
		return rc;
	if ((rc = indicator_stmt(m, "DELETE FROM indicators AS i", f, "", &st, e)) < 0)
		goto fail;
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(m, e);
		goto fail;
	}
	*removed = sqlite3_changes(m->db);
	stmt_done(m, st);
	st = NULL;
	if (*removed && (rc = indicator_generation_bump(m, e)) < 0)
		goto fail;
	if (own && (rc = meta_commit(m, e)) < 0)
		goto fail;
	return 0;
fail:
	stmt_done(m, st);
	if (own)
		meta_rollback(m);
	*removed = 0;
	return rc;
}

/* ---- timatch: the indicators' generation --------------------------------------------- */

int meta_indicator_generation(struct meta *m, int64_t *gen, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(m, "SELECT n FROM indicator_generation WHERE id = 1", &st, e)) < 0)
		return rc;
	return single_int64(m, st, gen, e);
}

/* ---- tifeed: the state of the threat-intelligence feeds ---- */

static int check_feed_text(const char *what, const char *s, struct err *e)
{
	if (s && strlen(s) > META_TI_FEED_TEXT_MAX)
		return err_set(e, -EINVAL, "feed %s: longer than %d bytes", what,
			       META_TI_FEED_TEXT_MAX);
	return 0;
}

/* A row of FEED_COLUMNS to to->fn.ti_feed (each_row's reader). */
static int read_ti_feed(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			struct err *e)
{
	struct meta_ti_feed f = {
		.name = column_text(st, 0), .etag = column_text(st, 1),
		.last_modified = column_text(st, 2), .watermark = column_text(st, 3),
		.last_attempt_ns = sqlite3_column_int64(st, 4),
		.last_success_ns = sqlite3_column_int64(st, 5),
		.last_error = column_text(st, 6),
		.last_error_ns = sqlite3_column_int64(st, 7),
		.failures = sqlite3_column_int64(st, 8),
		.indicators = sqlite3_column_int64(st, 9),
		.next_ns = sqlite3_column_int64(st, 10),
		.url = column_text(st, 11),
	};

	to->fn.ti_feed(to->ctx, &f);
	return 1;
}

#define FEED_COLUMNS "SELECT name, etag, last_modified, watermark, last_attempt_ns," \
	" last_success_ns, last_error, last_error_ns, failures, indicators, next_ns, url" \
	" FROM ti_feeds"

int meta_ti_feed_get(struct meta *m, const char *name,
		     void (*fn)(void *ctx, const struct meta_ti_feed *f), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = check_name("feed", name, e)) < 0 ||
	    (rc = prepare(m, FEED_COLUMNS " WHERE name = ?1", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	if ((rc = each_row(m, st, read_ti_feed, &(struct row_sink){ .fn.ti_feed = fn, .ctx = ctx },
			   &rows, e)) < 0)
		return rc;
	return rows ? 0 : err_set(e, -ENOENT, "feed '%s' was never fetched", name);
}

int meta_ti_feed_list(struct meta *m, void (*fn)(void *ctx, const struct meta_ti_feed *f),
		      void *ctx, struct err *e)
{
	return query_rows(m, FEED_COLUMNS " ORDER BY name", read_ti_feed,
			  &(struct row_sink){ .fn.ti_feed = fn, .ctx = ctx }, e);
}

int meta_ti_feed_save(struct meta *m, const struct meta_ti_feed *f, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_name("feed", f->name, e)) < 0 ||
	    (rc = check_feed_text("url", f->url, e)) < 0 ||
	    (rc = check_feed_text("etag", f->etag, e)) < 0 ||
	    (rc = check_feed_text("last_modified", f->last_modified, e)) < 0 ||
	    (rc = check_feed_text("watermark", f->watermark, e)) < 0 ||
	    (rc = check_feed_text("error", f->last_error, e)) < 0 ||
	    (rc = prepare(m, "INSERT OR REPLACE INTO ti_feeds (name, etag, last_modified,"
			  " watermark, last_attempt_ns, last_success_ns, last_error, last_error_ns,"
			  " failures, indicators, next_ns, url) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
			  " ?8, ?9, ?10, ?11, ?12)", &st, e)) < 0)
		return rc;
	bind_text(st, 1, f->name);
	bind_text(st, 2, f->etag);
	bind_text(st, 3, f->last_modified);
	bind_text(st, 4, f->watermark);
	sqlite3_bind_int64(st, 5, f->last_attempt_ns);
	sqlite3_bind_int64(st, 6, f->last_success_ns);
	bind_text(st, 7, f->last_error);
	sqlite3_bind_int64(st, 8, f->last_error_ns);
	sqlite3_bind_int64(st, 9, f->failures);
	sqlite3_bind_int64(st, 10, f->indicators);
	sqlite3_bind_int64(st, 11, f->next_ns);
	bind_text(st, 12, f->url ? f->url : "");
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

struct meta_ti_feed_keep {
	struct meta *m;
	sqlite3_stmt *st;
};

int meta_ti_feed_keep_begin(struct meta *m, const char *feed, const char *event,
			    struct meta_ti_feed_keep **kp, struct err *e)
{
	struct meta_ti_feed_keep *k = NULL;
	sqlite3_stmt *del = NULL;
	int rc;

	*kp = NULL;
	if ((rc = check_name("feed", feed, e)) < 0)
		return rc;
	if (!(k = mem_calloc(1, sizeof(*k))))
		return err_set(e, -ENOMEM, "out of memory");
	k->m = m;
	if (!event) {
		rc = exec(m, "CREATE TEMP TABLE IF NOT EXISTS ti_feed_keep (type TEXT NOT NULL,"
			  " value TEXT NOT NULL, PRIMARY KEY (type, value)) WITHOUT ROWID;"
			  " DELETE FROM temp.ti_feed_keep", e);
		if (rc == 0)
			rc = prepare(m, "INSERT OR IGNORE INTO temp.ti_feed_keep (type, value)"
				     " VALUES (?1, ?2)", &k->st, e);
	} else if ((rc = prepare(m, "DELETE FROM ti_feed_values WHERE feed = ?1 AND event = ?2",
				 &del, e)) == 0) {
		bind_text(del, 1, feed);
		bind_text(del, 2, event);
		if (sqlite3_step(del) != SQLITE_DONE)
			rc = db_fail(m, e);
		sqlite3_finalize(del);
		if (rc == 0 && (rc = prepare(m, "INSERT OR IGNORE INTO ti_feed_values (feed, event,"
					     " type, value) VALUES (?3, ?4, ?1, ?2)", &k->st, e)) == 0) {
			sqlite3_bind_text(k->st, 3, feed, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(k->st, 4, event, -1, SQLITE_TRANSIENT);
		}
	}
	if (rc < 0) {
		meta_ti_feed_keep_end(k);
		return rc;
	}
	*kp = k;
	return 0;
}

int meta_ti_feed_keep(struct meta_ti_feed_keep *k, const char *type, const char *value,
		      struct err *e)
{
	int rc = 0;

	sqlite3_reset(k->st);
	bind_text(k->st, 1, type);
	bind_text(k->st, 2, value);
	if (sqlite3_step(k->st) != SQLITE_DONE)
		rc = db_fail(k->m, e);
	sqlite3_reset(k->st);
	return rc;
}

void meta_ti_feed_keep_end(struct meta_ti_feed_keep *k)
{
	if (!k)
		return;
	sqlite3_finalize(k->st);
	mem_free(k);
}

/* The scope's key in indicators_key: the tenant's id, 0 for global. */
static int feed_scope(struct meta *m, const char *tenant, int64_t *tid, struct err *e)
{
	*tid = 0;
	return tenant ? tenant_id(m, tenant, tid, e) : 0;
}

int meta_ti_feed_prune(struct meta *m, const char *feed, const char *tenant, bool whole,
		       int64_t *removed, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid;
	int rc;

	*removed = 0;
	if ((rc = check_name("feed", feed, e)) < 0 || (rc = feed_scope(m, tenant, &tid, e)) < 0)
		return rc;
	rc = prepare(m, whole ?
		     "DELETE FROM indicators WHERE source = ?1 AND IFNULL(tenant_id, 0) = ?2 AND"
		     " NOT EXISTS (SELECT 1 FROM temp.ti_feed_keep k WHERE k.type = indicators.type"
		     " AND k.value = indicators.value)" :
		     "DELETE FROM indicators WHERE source = ?1 AND IFNULL(tenant_id, 0) = ?2 AND"
		     " NOT EXISTS (SELECT 1 FROM ti_feed_values v WHERE v.feed = ?1 AND"
		     " v.type = indicators.type AND v.value = indicators.value)", &st, e);
	if (rc < 0)
		return rc;
	bind_text(st, 1, feed);
	sqlite3_bind_int64(st, 2, tid);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else
		*removed = sqlite3_changes(m->db);
	stmt_done(m, st);
	return rc;
}

int meta_ti_feed_count(struct meta *m, const char *feed, const char *tenant, int64_t *n,
		       struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid;
	int rc;

	*n = 0;
	if ((rc = check_name("feed", feed, e)) < 0 || (rc = feed_scope(m, tenant, &tid, e)) < 0 ||
	    (rc = prepare(m, "SELECT COUNT(*) FROM indicators WHERE source = ?1 AND"
			  " IFNULL(tenant_id, 0) = ?2", &st, e)) < 0)
		return rc;
	bind_text(st, 1, feed);
	sqlite3_bind_int64(st, 2, tid);
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = db_fail(m, e);
	else
		*n = sqlite3_column_int64(st, 0);
	stmt_done(m, st);
	return rc;
}

int meta_ti_feed_events(struct meta *m, const char *feed,
			void (*fn)(void *ctx, const char *event, int64_t timestamp), void *ctx,
			struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = check_name("feed", feed, e)) < 0 ||
	    (rc = prepare(m, "SELECT event, timestamp FROM ti_feed_events WHERE feed = ?1"
			  " ORDER BY event", &st, e)) < 0)
		return rc;
	bind_text(st, 1, feed);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, column_text(st, 0), sqlite3_column_int64(st, 1));
	if (step != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

/* One statement on (feed, event[, timestamp]). */
static int feed_event_exec(struct meta *m, const char *sql, const char *feed, const char *event,
			   int64_t timestamp, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_name("feed", feed, e)) < 0 || (rc = prepare(m, sql, &st, e)) < 0)
		return rc;
	bind_text(st, 1, feed);
	bind_text(st, 2, event);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, timestamp);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_ti_feed_event_put(struct meta *m, const char *feed, const char *event,
			   int64_t timestamp, struct err *e)
{
	return feed_event_exec(m, "INSERT OR REPLACE INTO ti_feed_events (feed, event, timestamp)"
			       " VALUES (?1, ?2, ?3)", feed, event, timestamp, e);
}

int meta_ti_feed_event_remove(struct meta *m, const char *feed, const char *event,
			      struct err *e)
{
	int rc = feed_event_exec(m, "DELETE FROM ti_feed_events WHERE feed = ?1 AND event = ?2",
				 feed, event, 0, e);

	return rc < 0 ? rc : feed_event_exec(m, "DELETE FROM ti_feed_values WHERE feed = ?1 AND"
					     " event = ?2", feed, event, 0, e);
}

/* ---- assets ---- */

static const char *const asset_criticalities[] = { "low", "medium", "high", "critical" };
static const char *const asset_roles[] = { "server", "pc", "network", "other" };

bool meta_asset_criticality_ok(const char *s)
{
	return s && one_of(s, asset_criticalities, ARRAY_SIZE(asset_criticalities));
}

bool meta_asset_role_ok(const char *s)
{
	return s && one_of(s, asset_roles, ARRAY_SIZE(asset_roles));
}

/* min..max bytes of UTF-8 without control characters. */
static bool asset_text_ok(const char *s, size_t len, size_t min, size_t max)
{
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len;) {
		size_t n = json_utf8_len((const unsigned char *)s + i, len - i);

		if (!n || (n == 1 && ((unsigned char)s[i] < ' ' || s[i] == 0x7f)))
			return false;
		i += n;
	}
	return true;
}

/* A host name as stored: lower-case letters, digits, '.', '-', '_', not starting with '.'. */
static bool asset_hostname_ok(const char *s, size_t len)
{
	if (len < 1 || len > META_ASSET_TEXT_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static bool asset_address_ok(const char *s, size_t len)
{
	struct ipaddr net;
	unsigned prefix;

	return ipaddr_parse_cidr(&net, &prefix, s, len) == 0 && host_bits_zero(&net, prefix);
}

/* "CVE-YYYY-NNNN" with 4 to 19 digits after the year. */
static bool asset_cve_ok(const char *s, size_t len)
{
	if (len < 13 || len > 28 || memcmp(s, "CVE-", 4) || s[8] != '-')
		return false;
	for (size_t i = 4; i < len; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

/* One {"name": N, "version": V} object, the value just entered. */
static bool asset_software_ok(struct jsonin *j)
{
	struct jsonin_value k, v;
	bool name = false, version = false;
	int more;

	while ((more = jsonin_key(j, &k)) > 0) {
		bool is_name = jsonin_key_is(&k, "name");

		if ((!is_name && !jsonin_key_is(&k, "version")) || (is_name ? name : version) ||
		    jsonin_value(j, &v) < 0 || v.type != JSONIN_STRING ||
		    !asset_text_ok(v.s, v.len, is_name, META_ASSET_TEXT_MAX))
			return false;
		*(is_name ? &name : &version) = true;
	}
	return more == 0 && name && version;
}

/* A JSON array of at most META_ASSET_ITEMS_MAX strings each passing ok(), or of software. */
static bool asset_list_ok(const char *s, bool (*ok)(const char *s, size_t len))
{
	size_t len = s ? strlen(s) : 0, n = 0;
	struct jsonin_value v;
	struct arena arena;
	struct jsonin j;
	bool good = false;
	int more;

	if (!s || len > META_ASSET_JSON_MAX)
		return false;
	arena_init(&arena, 1024, META_ASSET_JSON_MAX);
	jsonin_init(&j, s, len, &arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_ARRAY)
		goto out;
	while ((more = jsonin_more(&j)) > 0) {
		if (++n > META_ASSET_ITEMS_MAX || jsonin_value(&j, &v) < 0)
			goto out;
		if (ok ? v.type != JSONIN_STRING || !ok(v.s, v.len)
		       : v.type != JSONIN_OBJECT || !asset_software_ok(&j))
			goto out;
	}
	good = more == 0 && jsonin_finish(&j, NULL) == 0;
out:
	arena_release(&arena);
	return good;
}

int meta_asset_check(const struct meta_asset *a, struct err *e)
{
	int rc;

	if ((rc = check_tenant_ref(a->tenant, e)) < 0)
		return rc;
	if (!a->name || !asset_text_ok(a->name, strlen(a->name), 1, META_ASSET_TEXT_MAX))
		return err_set(e, -EINVAL, "asset name '%s': expected 1-%d bytes of text",
			       ESC(a->name), META_ASSET_TEXT_MAX);
	if (!a->owner || !asset_text_ok(a->owner, strlen(a->owner), 0, META_ASSET_TEXT_MAX))
		return err_set(e, -EINVAL, "asset owner '%s': expected at most %d bytes of text",
			       ESC(a->owner), META_ASSET_TEXT_MAX);
	if (!meta_asset_criticality_ok(a->criticality))
		return err_set(e, -EINVAL, "asset criticality '%s': expected low, medium, high "
			       "or critical", ESC(a->criticality));
	if (!meta_asset_role_ok(a->role))
		return err_set(e, -EINVAL, "asset role '%s': expected server, pc, network or "
			       "other", ESC(a->role));
	if (!asset_list_ok(a->hostnames, asset_hostname_ok))
		return err_set(e, -EINVAL, "asset host names: expected a JSON array of at most %d "
			       "lower-case host names", META_ASSET_ITEMS_MAX);
	if (!asset_list_ok(a->addresses, asset_address_ok))
		return err_set(e, -EINVAL, "asset addresses: expected a JSON array of at most %d "
			       "addresses or networks (10.0.0.0/8)", META_ASSET_ITEMS_MAX);
	if (!asset_list_ok(a->software, NULL))
		return err_set(e, -EINVAL, "asset software: expected a JSON array of at most %d "
			       "{\"name\": N, \"version\": V} objects", META_ASSET_ITEMS_MAX);
	if (!asset_list_ok(a->cves, asset_cve_ok))
		return err_set(e, -EINVAL, "asset CVEs: expected a JSON array of at most %d "
			       "CVE-YYYY-NNNN", META_ASSET_ITEMS_MAX);
	return 0;
}

/* Binds a's fields as ?2.. of an INSERT or UPDATE (?1 is the tenant's id). */
static void asset_bind(sqlite3_stmt *st, const struct meta_asset *a, int64_t now)
{
	bind_text(st, 2, a->name);
	bind_text(st, 3, a->hostnames);
	bind_text(st, 4, a->addresses);
	bind_text(st, 5, a->owner);
	bind_text(st, 6, a->criticality);
	bind_text(st, 7, a->role);
	bind_text(st, 8, a->software);
	bind_text(st, 9, a->cves);
	sqlite3_bind_int64(st, 10, now);
}

/* Runs an INSERT or UPDATE of a; -EEXIST when the name is the tenant's already. */
static int asset_write(struct meta *m, const struct meta_asset *a, const char *sql,
		       bool by_id, int64_t *tid, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = meta_asset_check(a, e)) < 0 || (rc = tenant_id(m, a->tenant, tid, e)) < 0 ||
	    (rc = prepare(m, sql, &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, *tid);
	asset_bind(st, a, time_now_ns());
	if (by_id)
		sqlite3_bind_int64(st, 11, a->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sqlite3_extended_errcode(m->db) == SQLITE_CONSTRAINT_UNIQUE
			     ? err_set(e, -EEXIST, "tenant '%s' has an asset named '%s' already",
				       ESC(a->tenant), ESC(a->name))
			     : db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_asset_add(struct meta *m, const struct meta_asset *a, int64_t *id, struct err *e)
{
	int64_t tid = 0;
	int rc = asset_write(m, a, "INSERT INTO assets (tenant_id, name, hostnames, addresses,"
				   " owner, criticality, role, software, cves, created_ns,"
				   " updated_ns) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
				   " ?10", false, &tid, e);

	if (rc == 0 && id)
		*id = sqlite3_last_insert_rowid(m->db);
	return rc;
}

int meta_asset_update(struct meta *m, const struct meta_asset *a, struct err *e)
{
	int64_t tid = 0;
	/* the tenant's id in the WHERE: another tenant's asset of that id is not found */
	int rc = asset_write(m, a, "UPDATE assets SET name = ?2, hostnames = ?3,"
				   " addresses = ?4, owner = ?5, criticality = ?6, role = ?7,"
				   " software = ?8, cves = ?9, updated_ns = ?10"
				   " WHERE tenant_id = ?1 AND id = ?11", true, &tid, e);

	if (rc == 0 && sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "tenant '%s' has no asset %lld", ESC(a->tenant),
			     (long long)a->id);
	return rc;
}

int meta_asset_remove(struct meta *m, const char *tenant, int64_t id, struct err *e)
{
	return tenant_delete(m, tenant, "DELETE FROM assets WHERE tenant_id = ?1 AND id = ?2", id,
			     "asset", e);
}

#define ASSET_SELECT                                                                        \
	"SELECT a.id, t.name, a.name, a.hostnames, a.addresses, a.owner, a.criticality,"     \
	" a.role, a.software, a.cves, a.created_ns, a.updated_ns"                            \
	" FROM assets a JOIN tenants t ON t.id = a.tenant_id"

/* A row of ASSET_SELECT to to->fn.asset (each_row's reader). */
static int read_asset(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
		      struct err *e)
{
	struct meta_asset a = {
		.id = sqlite3_column_int64(st, 0),
		.tenant = column_text(st, 1),
		.name = column_text(st, 2),
		.hostnames = column_text(st, 3),
		.addresses = column_text(st, 4),
		.owner = column_text(st, 5),
		.criticality = column_text(st, 6),
		.role = column_text(st, 7),
		.software = column_text(st, 8),
		.cves = column_text(st, 9),
		.created_ns = sqlite3_column_int64(st, 10),
		.updated_ns = sqlite3_column_int64(st, 11),
	};
	struct err bad = ERR_INIT;

	if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
		return err_set(e, -ENOMEM, "out of memory reading assets");
	if (meta_asset_check(&a, &bad) < 0) {
		log_warn("%s: asset row %lld skipped: %s", m->path, (long long)a.id, bad.msg);
		return 0;
	}
	to->fn.asset(to->ctx, &a);
	return 1;
}

int meta_asset_get(struct meta *m, const char *tenant, int64_t id, const char *name,
		   void (*fn)(void *ctx, const struct meta_asset *a), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = tenant_stmt(m, tenant, ASSET_SELECT " WHERE a.tenant_id = ?1 AND"
			      " (a.id = ?2 OR (?2 = 0 AND a.name = ?3))", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, id);
	bind_text(st, 3, name);
	rc = each_row(m, st, read_asset, &(struct row_sink){ .fn.asset = fn, .ctx = ctx },
		      &rows, e);
	if (rc == 0 && rows == 0)
		rc = id ? err_set(e, -ENOENT, "tenant '%s' has no asset %lld", ESC(tenant),
				  (long long)id)
			: err_set(e, -ENOENT, "tenant '%s' has no asset named '%s'", ESC(tenant),
				  ESC(name));
	return rc;
}

int meta_asset_list(struct meta *m, const char *tenant,
		    void (*fn)(void *ctx, const struct meta_asset *a), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc, rows;

	if (tenant && (rc = tenant_id(m, tenant, &tid, e)) < 0)
		return rc;
	if ((rc = prepare(m, ASSET_SELECT " WHERE ?1 = 0 OR a.tenant_id = ?1"
			     " ORDER BY t.name, a.name", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	return each_row(m, st, read_asset, &(struct row_sink){ .fn.asset = fn, .ctx = ctx },
			&rows, e);
}

/* ---- retro-hunt ---- */

int meta_retrohunt_get(struct meta *m, const char *tenant, struct meta_retrohunt *out,
		       struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*out = (struct meta_retrohunt){ 0 };
	if ((rc = tenant_stmt(m, tenant, "SELECT watermark, batch_end, batch_now_ns, cursor_ns"
			      " FROM retrohunt WHERE tenant_id = ?1", &st, e)) < 0)
		return rc;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		out->watermark = sqlite3_column_int64(st, 0);
		out->batch_end = sqlite3_column_int64(st, 1);
		out->batch_now_ns = sqlite3_column_int64(st, 2);
		out->cursor_ns = sqlite3_column_int64(st, 3);
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

/* Binds ?1 tenant id, ?2-?5 the fresh state, ?6-?9 the old one. */
static void bind_retrohunt_swap(sqlite3_stmt *st, int64_t tid, const struct meta_retrohunt *old,
				const struct meta_retrohunt *fresh)
{
	const int64_t v[] = { tid, fresh->watermark, fresh->batch_end, fresh->batch_now_ns,
			      fresh->cursor_ns, old->watermark, old->batch_end, old->batch_now_ns,
			      old->cursor_ns };

	for (int i = 0; i < (int)ARRAY_SIZE(v); i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
}

/* Runs sql (bound as above); *swapped when it changed one row. */
static int retrohunt_swap_step(struct meta *m, const char *sql, int64_t tid,
			       const struct meta_retrohunt *old,
			       const struct meta_retrohunt *fresh, bool *swapped, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(m, sql, &st, e)) < 0)
		return rc;
	bind_retrohunt_swap(st, tid, old, fresh);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else
		*swapped = sqlite3_changes(m->db) == 1;
	stmt_done(m, st);
	return rc;
}

int meta_retrohunt_swap(struct meta *m, const char *tenant, const struct meta_retrohunt *old,
			const struct meta_retrohunt *fresh, bool *swapped, struct err *e)
{
	int64_t tid;
	int rc;

	*swapped = false;
	if (fresh->watermark < 0 || fresh->batch_end < 0 ||
	    (fresh->batch_end && fresh->batch_end <= fresh->watermark))
		return err_set(e, -EINVAL, "retro-hunt state: expected 0 <= watermark < batch_end "
			       "or batch_end 0, got %lld and %lld", (long long)fresh->watermark,
			       (long long)fresh->batch_end);
	if ((rc = tenant_id(m, tenant, &tid, e)) < 0)
		return rc;
	/* a tenant without a row reads as all zeros: the insert is the swap from zeros */
	rc = retrohunt_swap_step(m, "INSERT INTO retrohunt (tenant_id, watermark, batch_end,"
				 " batch_now_ns, cursor_ns) SELECT ?1, ?2, ?3, ?4, ?5 WHERE ?6 = 0"
				 " AND ?7 = 0 AND ?8 = 0 AND ?9 = 0 ON CONFLICT (tenant_id) DO NOTHING",
				 tid, old, fresh, swapped, e);
	if (rc < 0 || *swapped)
		return rc;
	return retrohunt_swap_step(m, "UPDATE retrohunt SET watermark = ?2, batch_end = ?3,"
				   " batch_now_ns = ?4, cursor_ns = ?5 WHERE tenant_id = ?1 AND"
				   " watermark = ?6 AND batch_end = ?7 AND batch_now_ns = ?8 AND"
				   " cursor_ns = ?9", tid, old, fresh, swapped, e);
}

int meta_retrohunt_indicators(struct meta *m, const char *tenant, int64_t after, int64_t upto,
			      int64_t limit, void (*fn)(void *ctx, const struct meta_indicator *ind),
			      void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = tenant_stmt(m, tenant, "SELECT " INDICATOR_COLUMNS " FROM indicators i"
			      " LEFT JOIN tenants t ON t.id = i.tenant_id WHERE i.id > ?2 AND"
			      " (?3 = 0 OR i.id <= ?3) AND (i.tenant_id IS NULL OR i.tenant_id = ?1)"
			      " ORDER BY i.id LIMIT ?4", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, upto);
	sqlite3_bind_int64(st, 4, limit);
	return indicator_rows(m, st, fn, ctx, e);
}

/* ---- External Dynamic Lists: EDL tokens, allow-lists, generation ---- */

int meta_edl_token_add(struct meta *m, const char *name, const char *tenant,
		       const unsigned char hash[META_TOKEN_HASH_LEN], struct err *e)
{
	if (!tenant)
		return err_set(e, -EINVAL, "an EDL token belongs to one tenant");
	return token_insert(m, name, tenant, "edl", hash, e);
}

int meta_edl_token_find(struct meta *m, const char *name,
			const unsigned char hash[META_TOKEN_HASH_LEN],
			void (*fn)(void *ctx, const struct meta_token *t), void *ctx,
			struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = check_name("token name", name, e)) < 0 ||
	    (rc = prepare(m, TOKEN_SELECT " WHERE k.name = ?1 AND k.hash = ?2 AND k.kind = 'edl'"
			  " AND k.tenant_id IS NOT NULL", &st, e)) < 0)
		return rc;
	bind_text(st, 1, name);
	sqlite3_bind_blob(st, 2, hash, META_TOKEN_HASH_LEN, SQLITE_STATIC);
	rc = each_row(m, st, read_token, &(struct row_sink){ .fn.token = fn, .ctx = ctx },
		      &rows, e);
	if (rc == 0 && rows == 0)
		rc = err_set(e, -ENOENT, "no such EDL token");
	return rc;
}

/* What every allow-list entry satisfies: type ip, domain or url, the value canonical. */
static int check_edl_allow(const char *type, const char *value, struct err *e)
{
	static const char *const types[] = { "ip", "domain", "url" };
	char canon[TI_VALUE_BUF];
	struct err why = ERR_INIT;
	enum ti_type t;
	size_t len;

	if (!type || !one_of(type, types, ARRAY_SIZE(types)) ||
	    ti_type_parse(type, strlen(type), &t) < 0)
		return err_set(e, -EINVAL, "allow-list type '%s': expected ip, domain or url",
			       ESC(type));
	if (!value || ti_normalize(t, value, strlen(value), canon, &len, &why) < 0)
		return err_set(e, -EINVAL, "allow-list %s '%s': %s", type, ESC(value), why.msg);
	if (strcmp(canon, value))
		return err_set(e, -EINVAL, "allow-list %s '%s': not in canonical form ('%s')", type,
			       ESC(value), ESC(canon));
	return 0;
}

/* How many entries the tenant's allow-list holds, in *n. */
static int edl_allow_count(struct meta *m, int64_t tid, int64_t *n, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(m, "SELECT count(*) FROM edl_allow WHERE tenant_id = ?1", &st, e);

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	return single_int64(m, st, n, e);
}

int meta_edl_allow_add(struct meta *m, const char *tenant, const char *type, const char *value,
		       struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0, n = 0;
	int rc;

	if ((rc = check_edl_allow(type, value, e)) < 0 || (rc = tenant_id(m, tenant, &tid, e)) < 0 ||
	    (rc = edl_allow_count(m, tid, &n, e)) < 0)
		return rc;
	if (n >= META_EDL_ALLOW_MAX)
		return err_set(e, -ENOSPC, "tenant '%s' already has %d allow-list entries, the most "
			       "kept", ESC(tenant), META_EDL_ALLOW_MAX);
	if ((rc = prepare(m, "INSERT INTO edl_allow (tenant_id, type, value, created_ns)"
			     " VALUES (?1, ?2, ?3, ?4)", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, type);
	bind_text(st, 3, value);
	sqlite3_bind_int64(st, 4, time_now_ns());
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		break;
	case SQLITE_CONSTRAINT:
		rc = err_set(e, -EEXIST, "%s '%s' is already on tenant '%s''s allow-list", type,
			     ESC(value), ESC(tenant));
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

int meta_edl_allow_remove(struct meta *m, const char *tenant, const char *type,
			  const char *value, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = check_edl_allow(type, value, e)) < 0 ||
	    (rc = tenant_stmt(m, tenant, "DELETE FROM edl_allow WHERE tenant_id = ?1"
			      " AND type = ?2 AND value = ?3", &st, e)) < 0)
		return rc;
	bind_text(st, 2, type);
	bind_text(st, 3, value);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = err_set(e, -ENOENT, "%s '%s' is not on tenant '%s''s allow-list", type,
			     ESC(value), ESC(tenant));
	stmt_done(m, st);
	return rc;
}

/* A row of the tenant's allow-list to to->fn.edl_allow (each_row's reader). */
static int read_edl_allow(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			  struct err *e)
{
	struct meta_edl_allow a = {
		.tenant = to->tenant,
		.type = column_text(st, 0),
		.value = column_text(st, 1),
		.created_ns = sqlite3_column_int64(st, 2),
	};
	struct err bad = ERR_INIT;

	if (!a.type || !a.value)
		return err_set(e, -ENOMEM, "out of memory reading the allow-list");
	if (check_edl_allow(a.type, a.value, &bad) < 0) {
		log_warn("%s: allow-list row of tenant %s skipped: %s", m->path, ESC(to->tenant),
			 bad.msg);
		return 0;
	}
	to->fn.edl_allow(to->ctx, &a);
	return 1;
}

int meta_edl_allow_list(struct meta *m, const char *tenant,
			void (*fn)(void *ctx, const struct meta_edl_allow *a), void *ctx,
			struct err *e)
{
	return tenant_rows(m, tenant, "SELECT type, value, created_ns FROM edl_allow"
			   " WHERE tenant_id = ?1 ORDER BY type, value", read_edl_allow,
			   &(struct row_sink){ .fn.edl_allow = fn, .ctx = ctx, .tenant = tenant }, e);
}

int meta_edl_generation(struct meta *m, int64_t *generation, struct err *e)
{
	sqlite3_stmt *st = NULL;
	/* the allow-lists' counter plus the indicators' (migration 13): both only grow */
	int rc = prepare(m, "SELECT (SELECT n FROM edl_generation) +"
			 " (SELECT n FROM indicator_generation)", &st, e);

	if (rc < 0)
		return rc;
	return single_int64(m, st, generation, e);
}

/* ---- incidents ---- */

static const char *const incident_statuses[] = { "new", "triaged", "investigating",
						 "contained", "resolved", "false-positive" };
static const char *const incident_clocks[] = { "decided", "reported", "contacted",
					       "acknowledged", "contained" };

bool meta_incident_status_ok(const char *s)
{
	return s && one_of(s, incident_statuses, ARRAY_SIZE(incident_statuses));
}

bool meta_incident_status_closed(const char *s)
{
	return s && (!strcmp(s, "resolved") || !strcmp(s, "false-positive"));
}

const char *meta_incident_clock_name(enum meta_incident_clock clock)
{
	return (unsigned)clock < ARRAY_SIZE(incident_clocks) ? incident_clocks[clock] : "?";
}

/* min..max bytes of printable UTF-8 (s not NULL). */
static bool incident_text_ok(const char *s, size_t min)
{
	return s && strlen(s) >= min && text_ok(s, META_INCIDENT_TEXT_MAX);
}

/* One well-formed JSON value of type want (any members), at most META_INCIDENT_JSON_MAX. */
static bool incident_json_ok(const char *s, enum jsonin_type want)
{
	size_t len = s ? strlen(s) : 0;
	struct jsonin_value v;
	struct jsonin j;

	if (!s || len > META_INCIDENT_JSON_MAX)
		return false;
	jsonin_init(&j, s, len, NULL, 0);
	return jsonin_value(&j, &v) == 0 && v.type == want && jsonin_skip(&j) == 0 &&
	       jsonin_finish(&j, NULL) == 0;
}

int meta_incident_check(const struct meta_incident *inc, struct err *e)
{
	const struct {
		const char *name, *value;
		size_t min;
	} texts[] = {
		{ "title", inc->title, 1 }, { "rule_id", inc->rule_id, 1 },
		{ "group_key", inc->group_key, 1 }, { "owner", inc->owner, 0 },
	};
	const int64_t times[] = { inc->first_ns, inc->last_ns, inc->detected_ns,
				  inc->decided_ns, inc->reported_ns, inc->contacted_ns,
				  inc->acknowledged_ns, inc->contained_ns, inc->closed_ns,
				  inc->updated_ns, inc->n_alerts, inc->sla_breached };
	int rc;

	if ((rc = check_tenant_ref(inc->tenant, e)) < 0)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		if (!incident_text_ok(texts[i].value, texts[i].min))
			return err_set(e, -EINVAL, "incident %s '%s': expected %s printable UTF-8 "
				       "of at most %d bytes", texts[i].name, ESC(texts[i].value),
				       texts[i].min ? "1 or more bytes of" : "", META_INCIDENT_TEXT_MAX);
	if (inc->level < META_LEVEL_UNDECIDED || inc->level > 3)
		return err_set(e, -EINVAL, "incident level %d: expected 0 to 3, or -1 (undecided)",
			       inc->level);
	if (!meta_incident_status_ok(inc->status))
		return err_set(e, -EINVAL, "incident status '%s': expected new, triaged, "
			       "investigating, contained, resolved or false-positive",
			       ESC(inc->status));
	if (!incident_json_ok(inc->evidence, JSONIN_ARRAY))
		return err_set(e, -EINVAL, "incident evidence: expected a JSON array of at most %d "
			       "bytes", META_INCIDENT_JSON_MAX);
	if (!incident_json_ok(inc->entities, JSONIN_OBJECT) ||
	    !incident_json_ok(inc->terminal, JSONIN_OBJECT))
		return err_set(e, -EINVAL, "incident %s: expected a JSON object of at most %d bytes",
			       incident_json_ok(inc->entities, JSONIN_OBJECT) ? "terminal"
									      : "entities",
			       META_INCIDENT_JSON_MAX);
	for (size_t i = 0; i < ARRAY_SIZE(times); i++)
		if (times[i] < 0)
			return err_set(e, -EINVAL, "incident times, counts: expected 0 or more, "
				       "not %lld", (long long)times[i]);
	return 0;
}

/*
 * Binds inc's changeable fields as ?3..?20 (?1 the tenant's id, ?2 the incident's id) and,
 * for an INSERT, the fields fixed at creation as ?21..?23.
 */
static void incident_bind(sqlite3_stmt *st, const struct meta_incident *inc, bool insert)
{
	bind_text(st, 3, inc->title);
	sqlite3_bind_int(st, 4, inc->level);
	bind_text(st, 5, inc->status);
	bind_text(st, 6, inc->owner);
	sqlite3_bind_int64(st, 7, inc->n_alerts);
	bind_text(st, 8, inc->evidence);
	bind_text(st, 9, inc->entities);
	bind_text(st, 10, inc->terminal);
	sqlite3_bind_int64(st, 11, inc->first_ns);
	sqlite3_bind_int64(st, 12, inc->last_ns);
	sqlite3_bind_int64(st, 13, inc->decided_ns);
	sqlite3_bind_int64(st, 14, inc->reported_ns);
	sqlite3_bind_int64(st, 15, inc->contacted_ns);
	sqlite3_bind_int64(st, 16, inc->acknowledged_ns);
	sqlite3_bind_int64(st, 17, inc->contained_ns);
	sqlite3_bind_int64(st, 18, inc->closed_ns);
	sqlite3_bind_int64(st, 19, inc->sla_breached);
	sqlite3_bind_int64(st, 20, inc->updated_ns);
	if (!insert)
		return;
	bind_text(st, 21, inc->rule_id);
	bind_text(st, 22, inc->group_key);
	sqlite3_bind_int64(st, 23, inc->detected_ns);
}

/* Runs the INSERT or UPDATE sql of inc, checked; rows changed in *changes. */
/* -ENOENT naming the incident the tenant does not have. */
static int no_incident(const char *tenant, int64_t incident, struct err *e)
{
	return err_set(e, -ENOENT, "tenant '%s' has no incident %lld", ESC(tenant),
		       (long long)incident);
}

/*
 * Runs st, a write to the tenant's incident (its id in the WHERE with the tenant's), and
 * gives it back: -ENOENT when no row changed (the tenant has no such incident).
 */
static int incident_row_written(struct meta *m, sqlite3_stmt *st, const char *tenant,
				int64_t incident, struct err *e)
{
	int rc = 0;

	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (sqlite3_changes(m->db) == 0)
		rc = no_incident(tenant, incident, e);
	stmt_done(m, st);
	return rc;
}

static int incident_write(struct meta *m, const struct meta_incident *inc, const char *sql,
			  bool insert, int *changes, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = meta_incident_check(inc, e)) < 0 ||
	    (rc = tenant_stmt_cached(m, inc->tenant, sql, &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, inc->id);
	incident_bind(st, inc, insert);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else
		*changes = sqlite3_changes(m->db);
	stmt_done(m, st);
	return rc;
}

int meta_incident_add(struct meta *m, const struct meta_incident *inc, int64_t *id, struct err *e)
{
	int changes = 0;
	/* ?2 (the id) is not used: the id is given here */
	int rc = incident_write(m, inc, "INSERT INTO incidents (tenant_id, title, level, status,"
				" owner, n_alerts, evidence, entities, terminal, first_ns, last_ns,"
				" decided_ns, reported_ns, contacted_ns, acknowledged_ns,"
				" contained_ns, closed_ns, sla_breached, updated_ns, rule_id,"
				" group_key, detected_ns) SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
				" ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,"
				" ?23", true, &changes, e);

	if (rc == 0 && id)
		*id = sqlite3_last_insert_rowid(m->db);
	return rc;
}

/* Runs the UPDATE sql of inc; -ENOENT when the tenant has no incident of that id. */
static int incident_update(struct meta *m, const struct meta_incident *inc, const char *sql,
			   struct err *e)
{
	int changes = 0;
	int rc = incident_write(m, inc, sql, false, &changes, e);

	if (rc == 0 && changes == 0)
		rc = no_incident(inc->tenant, inc->id, e);
	return rc;
}

int meta_incident_update(struct meta *m, const struct meta_incident *inc, struct err *e)
{
	/* the tenant's id in the WHERE: another tenant's incident of that id is not found */
	return incident_update(m, inc, "UPDATE incidents SET title = ?3, level = ?4,"
			       " status = ?5, owner = ?6, n_alerts = ?7, evidence = ?8,"
			       " entities = ?9, terminal = ?10, first_ns = ?11, last_ns = ?12,"
			       " decided_ns = ?13, reported_ns = ?14, contacted_ns = ?15,"
			       " acknowledged_ns = ?16, contained_ns = ?17, closed_ns = ?18,"
			       " sla_breached = ?19, updated_ns = ?20"
			       " WHERE tenant_id = ?1 AND id = ?2", e);
}

int meta_incident_update_engine(struct meta *m, const struct meta_incident *inc, struct err *e)
{
	return incident_update(m, inc, "UPDATE incidents SET level = ?4, n_alerts = ?7,"
			       " evidence = ?8, entities = ?9, first_ns = ?11,"
			       " last_ns = ?12, updated_ns = ?20 WHERE tenant_id = ?1 AND id = ?2", e);
}

int meta_incident_set_terminal(struct meta *m, const char *tenant, int64_t incident,
			       const char *terminal, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (!incident_json_ok(terminal, JSONIN_OBJECT))
		return err_set(e, -EINVAL, "incident terminal: expected a JSON object of at most %d "
			       "bytes", META_INCIDENT_JSON_MAX);
	if ((rc = tenant_stmt_cached(m, tenant, "UPDATE incidents SET terminal = ?3"
				     " WHERE tenant_id = ?1 AND id = ?2", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, incident);
	bind_text(st, 3, terminal);
	return incident_row_written(m, st, tenant, incident, e);
}

#define INCIDENT_SELECT                                                                     \
	"SELECT i.id, t.name, i.title, i.rule_id, i.group_key, i.level, i.status, i.owner,"  \
	" i.n_alerts, i.evidence, i.entities, i.terminal, i.first_ns, i.last_ns,"            \
	" i.detected_ns, i.decided_ns, i.reported_ns, i.contacted_ns, i.acknowledged_ns,"    \
	" i.contained_ns, i.closed_ns, i.sla_breached, i.updated_ns"                         \
	" FROM incidents i JOIN tenants t ON t.id = i.tenant_id"

/* A row of INCIDENT_SELECT to to->fn.incident (each_row's reader). */
static int read_incident(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			 struct err *e)
{
	struct meta_incident inc = {
		.id = sqlite3_column_int64(st, 0),
		.tenant = column_text(st, 1),
		.title = column_text(st, 2),
		.rule_id = column_text(st, 3),
		.group_key = column_text(st, 4),
		.level = sqlite3_column_int(st, 5),
		.status = column_text(st, 6),
		.owner = column_text(st, 7),
		.n_alerts = sqlite3_column_int64(st, 8),
		.evidence = column_text(st, 9),
		.entities = column_text(st, 10),
		.terminal = column_text(st, 11),
		.first_ns = sqlite3_column_int64(st, 12),
		.last_ns = sqlite3_column_int64(st, 13),
		.detected_ns = sqlite3_column_int64(st, 14),
		.decided_ns = sqlite3_column_int64(st, 15),
		.reported_ns = sqlite3_column_int64(st, 16),
		.contacted_ns = sqlite3_column_int64(st, 17),
		.acknowledged_ns = sqlite3_column_int64(st, 18),
		.contained_ns = sqlite3_column_int64(st, 19),
		.closed_ns = sqlite3_column_int64(st, 20),
		.sla_breached = sqlite3_column_int64(st, 21),
		.updated_ns = sqlite3_column_int64(st, 22),
	};
	struct err bad = ERR_INIT;

	if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
		return err_set(e, -ENOMEM, "out of memory reading incidents");
	if (meta_incident_check(&inc, &bad) < 0) {
		log_warn("%s: incident row %lld skipped: %s", m->path, (long long)inc.id, bad.msg);
		return 0;
	}
	to->fn.incident(to->ctx, &inc);
	return 1;
}

int meta_incident_get(struct meta *m, const char *tenant, int64_t id,
		      void (*fn)(void *ctx, const struct meta_incident *inc), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = tenant_stmt_cached(m, tenant, INCIDENT_SELECT " WHERE i.tenant_id = ?1 AND i.id = ?2",
			      &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, id);
	rc = each_row(m, st, read_incident,
		      &(struct row_sink){ .fn.incident = fn, .ctx = ctx }, &rows, e);
	if (rc == 0 && rows == 0)
		rc = no_incident(tenant, id, e);
	return rc;
}

int meta_incident_find_open(struct meta *m, const char *tenant, const char *group_key, int64_t since_ns,
			    void (*fn)(void *ctx, const struct meta_incident *inc), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if ((rc = tenant_stmt_cached(m, tenant, INCIDENT_SELECT " WHERE i.tenant_id = ?1 AND"
			      " i.group_key = ?2 AND i.last_ns >= ?3 AND i.status NOT IN"
			      " ('resolved', 'false-positive') ORDER BY i.last_ns DESC, i.id DESC"
			      " LIMIT 1", &st, e)) < 0)
		return rc;
	bind_text(st, 2, group_key);
	sqlite3_bind_int64(st, 3, since_ns);
	rc = each_row(m, st, read_incident,
		      &(struct row_sink){ .fn.incident = fn, .ctx = ctx }, &rows, e);
	if (rc == 0 && rows == 0)
		rc = err_set(e, -ENOENT, "tenant '%s' has no open incident of that group",
			     ESC(tenant));
	return rc;
}

int meta_incident_list(struct meta *m, const char *tenant, const struct meta_incident_filter *f,
		       void (*fn)(void *ctx, const struct meta_incident *inc), void *ctx, struct err *e)
{
	const struct meta_incident_filter any = { .min_level = -2 };
	sqlite3_stmt *st = NULL;
	int64_t tid = 0, limit;
	int rc, rows;

	if (!f)
		f = &any;
	limit = f->limit ? f->limit : 1000;
	if (limit < 1 || limit > META_INCIDENT_LIST_MAX)
		return err_set(e, -EINVAL, "limit %lld: expected 1 to %d incidents",
			       (long long)limit, META_INCIDENT_LIST_MAX);
	if (f->status && strcmp(f->status, "open") && !meta_incident_status_ok(f->status))
		return err_set(e, -EINVAL, "status '%s': expected open, new, triaged, "
			       "investigating, contained, resolved or false-positive",
			       ESC(f->status));
	if (f->min_level < -2 || f->min_level > 3)
		return err_set(e, -EINVAL, "level %d: expected 0 to 3", f->min_level);
	if (tenant && (rc = tenant_id(m, tenant, &tid, e)) < 0)
		return rc;
	if ((rc = prepare_cached(m, INCIDENT_SELECT " WHERE (?1 = 0 OR i.tenant_id = ?1)"
			  " AND (?2 IS NULL OR i.status = ?2 OR (?2 = 'open' AND i.status NOT IN"
			  " ('resolved', 'false-positive'))) AND i.level >= ?3"
			  " AND i.detected_ns >= ?4"
			  " ORDER BY i.detected_ns DESC, i.id DESC LIMIT ?5", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, f->status);
	/* -2 (any) lets undecided (-1) incidents through; 0 does not */
	sqlite3_bind_int(st, 3, f->min_level == -2 ? META_LEVEL_UNDECIDED : f->min_level);
	sqlite3_bind_int64(st, 4, f->since_ns);
	sqlite3_bind_int64(st, 5, limit);
	return each_row(m, st, read_incident,
			&(struct row_sink){ .fn.incident = fn, .ctx = ctx }, &rows, e);
}

int meta_incident_open_sharing(struct meta *m, const char *tenant, int64_t since_ns,
				const char *rule_id, const char *entities, int64_t limit,
				void (*fn)(void *ctx, int64_t id), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int step, rc;

	if (limit < 1 || limit > META_INCIDENT_LIST_MAX)
		return err_set(e, -EINVAL, "limit %lld: expected 1 to %d incidents",
			       (long long)limit, META_INCIDENT_LIST_MAX);
	if (!entities || !incident_json_ok(entities, JSONIN_ARRAY))
		return err_set(e, -EINVAL, "entities: expected a JSON array of users and addresses");
	/*
	 * "+tenant_id": by the entities' incidents, not every incident of the tenant in order;
	 * the rule told apart in the entity rows (a storm of the rule is not read)
	 */
	if ((rc = tenant_stmt_cached(m, tenant, "SELECT id FROM incidents"
				     " WHERE id IN (SELECT incident_id FROM incident_entities"
				     "  WHERE tenant_id = ?1 AND detected_ns >= ?2 AND entity IN"
				     "  (SELECT value FROM json_each(?5) WHERE type = 'text')"
				     "  AND rule_id <> ?3) AND +tenant_id = ?1"
				     " AND status NOT IN ('resolved', 'false-positive')"
				     " ORDER BY (SELECT COUNT(*) FROM incident_entities s"
				     "  WHERE s.incident_id = incidents.id AND s.entity IN"
				     "  (SELECT value FROM json_each(?5) WHERE type = 'text')) DESC,"
				     " detected_ns DESC, id DESC LIMIT ?4", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, since_ns);
	bind_text(st, 3, rule_id ? rule_id : "");
	sqlite3_bind_int64(st, 4, limit);
	bind_text(st, 5, entities);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, sqlite3_column_int64(st, 0));
	rc = step == SQLITE_DONE ? 0 : db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

/* 0 when tenant tid has incident id, else -ENOENT with a message. */
static int incident_exists(struct meta *m, const char *tenant, int64_t tid, int64_t id,
			   struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare_cached(m, "SELECT 1 FROM incidents WHERE tenant_id = ?1 AND id = ?2", &st,
			  e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, id);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		rc = no_incident(tenant, id, e);
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

int meta_incident_link_alert(struct meta *m, const char *tenant, int64_t incident, int64_t alert,
			     struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc;

	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 ||
	    (rc = incident_exists(m, tenant, tid, incident, e)) < 0)
		return rc;
	/* only an alert of the same tenant; linking twice is not an error */
	if ((rc = prepare_cached(m, "INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id)"
			  " SELECT ?2, id FROM alerts WHERE tenant_id = ?1 AND id = ?3", &st,
			  e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, incident);
	sqlite3_bind_int64(st, 3, alert);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	if (rc == 0 && sqlite3_changes(m->db) == 0) {
		/* either linked already (fine) or no such alert of the tenant */
		if ((rc = prepare_cached(m, "SELECT 1 FROM incident_alerts WHERE incident_id = ?1"
				  " AND alert_id = ?2", &st, e)) < 0)
			return rc;
		sqlite3_bind_int64(st, 1, incident);
		sqlite3_bind_int64(st, 2, alert);
		switch (sqlite3_step(st)) {
		case SQLITE_ROW:
			break;
		case SQLITE_DONE:
			rc = err_set(e, -ENOENT, "tenant '%s' has no alert %lld", ESC(tenant),
				     (long long)alert);
			break;
		default:
			rc = db_fail(m, e);
		}
		stmt_done(m, st);
	}
	return rc;
}

int meta_incident_alerts(struct meta *m, const char *tenant, int64_t incident,
			 void (*fn)(void *ctx, const struct meta_alert *a), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc, rows;

	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 ||
	    (rc = incident_exists(m, tenant, tid, incident, e)) < 0)
		return rc;
	/*
	 * "+a.tenant_id": not by alerts_tenant_time, which SQLite prefers for the ORDER BY and
	 * which reads every alert of the tenant; from the incident's links instead.
	 */
	if ((rc = prepare_cached(m, ALERT_SELECT("a.events") " JOIN incident_alerts ia ON"
			  " ia.alert_id = a.id WHERE ia.incident_id = ?2 AND +a.tenant_id = ?1"
			  " ORDER BY a.detected_ns, a.id", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, incident);
	return each_row(m, st, read_alert, &(struct row_sink){ .fn.alert = fn, .ctx = ctx },
			&rows, e);
}

static int incident_entry_check(const struct meta_incident_entry *en, struct err *e)
{
	if (!incident_text_ok(en->actor, 1) || !incident_text_ok(en->action, 1) ||
	    !incident_text_ok(en->why, 0))
		return err_set(e, -EINVAL, "timeline entry: expected an actor and an action "
			       "(1-%d bytes) and a why (0-%d bytes) of printable UTF-8",
			       META_INCIDENT_TEXT_MAX, META_INCIDENT_TEXT_MAX);
	if (!incident_json_ok(en->detail, JSONIN_OBJECT))
		return err_set(e, -EINVAL, "timeline entry detail: expected a JSON object of at "
			       "most %d bytes", META_INCIDENT_JSON_MAX);
	if (en->at_ns < 0)
		return err_set(e, -EINVAL, "timeline entry time %lld: expected 0 or more",
			       (long long)en->at_ns);
	return 0;
}

/* Adds en to the timeline of tenant tid's incident en->incident (no transaction of its own). */
static int incident_log(struct meta *m, const char *tenant, int64_t tid,
			const struct meta_incident_entry *en, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = incident_entry_check(en, e)) < 0 ||
	    (rc = prepare_cached(m, "INSERT INTO incident_timeline (incident_id, at_ns, actor, action,"
			  " detail, why) SELECT id, ?3, ?4, ?5, ?6, ?7 FROM incidents"
			  " WHERE tenant_id = ?1 AND id = ?2", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, en->incident);
	sqlite3_bind_int64(st, 3, en->at_ns);
	bind_text(st, 4, en->actor);
	bind_text(st, 5, en->action);
	bind_text(st, 6, en->detail);
	bind_text(st, 7, en->why);
	return incident_row_written(m, st, tenant, en->incident, e);
}

int meta_incident_log(struct meta *m, const char *tenant, const struct meta_incident_entry *en,
		      struct err *e)
{
	int64_t tid = 0;
	int rc = tenant_id(m, tenant, &tid, e);

	return rc < 0 ? rc : incident_log(m, tenant, tid, en, e);
}

/* A row of the timeline query to to->fn.entry (each_row's reader). */
static int read_incident_entry(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			       struct err *e)
{
	struct meta_incident_entry en = {
		.id = sqlite3_column_int64(st, 0),
		.incident = sqlite3_column_int64(st, 1),
		.at_ns = sqlite3_column_int64(st, 2),
		.actor = column_text(st, 3),
		.action = column_text(st, 4),
		.detail = column_text(st, 5),
		.why = column_text(st, 6),
	};
	struct err bad = ERR_INIT;

	if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
		return err_set(e, -ENOMEM, "out of memory reading an incident's timeline");
	if (incident_entry_check(&en, &bad) < 0) {
		log_warn("%s: timeline row %lld skipped: %s", m->path, (long long)en.id, bad.msg);
		return 0;
	}
	to->fn.entry(to->ctx, &en);
	return 1;
}

int meta_incident_timeline(struct meta *m, const char *tenant, int64_t incident,
			   void (*fn)(void *ctx, const struct meta_incident_entry *en), void *ctx,
			   struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc, rows;

	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 ||
	    (rc = incident_exists(m, tenant, tid, incident, e)) < 0 ||
	    (rc = prepare_cached(m, "SELECT id, incident_id, at_ns, actor, action, detail, why"
			  " FROM incident_timeline WHERE incident_id = ?1"
			  " ORDER BY at_ns, id", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, incident);
	return each_row(m, st, read_incident_entry,
			&(struct row_sink){ .fn.entry = fn, .ctx = ctx }, &rows, e);
}

/* Sets the clock's column when still 0; one statement per clock (no SQL is formatted). */
#define CLOCK_SQL(col)                                                                     \
	"UPDATE incidents SET " col " = ?3, updated_ns = MAX(updated_ns, ?3)"                \
	" WHERE tenant_id = ?1 AND id = ?2 AND " col " = 0"
static const char *const clock_sql[] = {
	[META_CLOCK_DECIDED] = CLOCK_SQL("decided_ns"),
	[META_CLOCK_REPORTED] = CLOCK_SQL("reported_ns"),
	[META_CLOCK_CONTACTED] = CLOCK_SQL("contacted_ns"),
	[META_CLOCK_ACKNOWLEDGED] = CLOCK_SQL("acknowledged_ns"),
	[META_CLOCK_CONTAINED] = CLOCK_SQL("contained_ns"),
};

/* The UPDATE of clock_sql and, when it moved, the timeline entry (inside a transaction). */
static int incident_clock_set(struct meta *m, const char *tenant, int64_t tid, int64_t incident,
			      enum meta_incident_clock clock, int64_t at_ns, const char *actor,
			      bool *set, struct err *e)
{
	char detail[64];
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare_cached(m, clock_sql[clock], &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, incident);
	sqlite3_bind_int64(st, 3, at_ns);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	*set = rc == 0 && sqlite3_changes(m->db) > 0;
	stmt_done(m, st);
	if (rc < 0 || !*set)
		return rc < 0 ? rc : incident_exists(m, tenant, tid, incident, e);
	snprintf(detail, sizeof(detail), "{\"clock\":\"%s\"}", incident_clocks[clock]);
	return incident_log(m, tenant, tid,
			    &(struct meta_incident_entry){ .incident = incident, .at_ns = at_ns,
							   .actor = actor, .action = "clock",
							   .detail = detail, .why = "" },
			    e);
}

int meta_incident_clock(struct meta *m, const char *tenant, int64_t incident,
			enum meta_incident_clock clock, int64_t at_ns, const char *actor, bool *set,
			struct err *e)
{
	bool moved = false, own = sqlite3_get_autocommit(m->db) != 0; /* else the caller's */
	int64_t tid = 0;
	int rc;

	if (set)
		*set = false;
	if ((unsigned)clock >= ARRAY_SIZE(clock_sql))
		return err_set(e, -EINVAL, "incident clock %d: expected decided, reported, "
			       "contacted, acknowledged or contained", (int)clock);
	if (at_ns <= 0)
		return err_set(e, -EINVAL, "incident clock time %lld: expected a time after 1970",
			       (long long)at_ns);
	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 || (own && (rc = meta_begin(m, e)) < 0))
		return rc;
	if ((rc = incident_clock_set(m, tenant, tid, incident, clock, at_ns, actor, &moved,
				     e)) < 0 ||
	    (own && (rc = meta_commit(m, e)) < 0)) {
		if (own)
			meta_rollback(m);
		return rc;
	}
	if (set)
		*set = moved;
	return 0;
}

int meta_incident_purge(struct meta *m, const char *tenant, int64_t incident, struct err *e)
{
	return tenant_delete(m, tenant, "DELETE FROM incidents WHERE tenant_id = ?1 AND id = ?2",
			     incident, "incident", e);
}

/* ---- suppressions ---- */

/*
 * The next member of an object whose value is a scalar: its key and its value (a string
 * unescaped, else the literal) into *k and *v; 1, 0 at the end, -1 when malformed or
 * (scalars_only) a value is an object or array. Otherwise a container is skipped and
 * reported with type JSONIN_OBJECT / JSONIN_ARRAY so that it equals nothing.
 */
static int scalar_member(struct jsonin *j, bool scalars_only, struct jsonin_value *k,
			 struct jsonin_value *v)
{
	int more = jsonin_key(j, k);

	if (more <= 0)
		return more < 0 ? -1 : 0;
	if (jsonin_value(j, v) < 0)
		return -1;
	if (v->type == JSONIN_OBJECT || v->type == JSONIN_ARRAY)
		return scalars_only || jsonin_skip(j) < 0 ? -1 : 1;
	return 1;
}

/*
 * 1 when keys is a JSON object of at most META_ALERT_JSON_MAX bytes whose values are all
 * scalars, 0 when not, -ENOMEM when its escaped strings found no memory.
 */
static int suppression_keys_ok(const char *keys)
{
	size_t len = keys ? strlen(keys) : 0;
	struct jsonin_value k, v;
	struct arena arena;
	struct jsonin j;
	int more = -1;

	if (!keys || len > META_ALERT_JSON_MAX)
		return 0;
	arena_init(&arena, 1024, len + 1);
	jsonin_init(&j, keys, len, &arena, 0);
	if (jsonin_value(&j, &v) == 0 && v.type == JSONIN_OBJECT)
		while ((more = scalar_member(&j, true, &k, &v)) > 0)
			;
	if (more == 0)
		more = jsonin_finish(&j, NULL) == 0;
	else
		more = j.rc == -ENOMEM ? -ENOMEM : 0;
	arena_release(&arena);
	return more;
}

static int suppression_check(const struct meta_suppression *s, struct err *e)
{
	int rc;

	if ((rc = check_tenant_ref(s->tenant, e)) < 0)
		return rc;
	if (!incident_text_ok(s->rule_id, 1) || !incident_text_ok(s->created_by, 1) ||
	    !incident_text_ok(s->reason, 0))
		return err_set(e, -EINVAL, "suppression: expected a rule id and who made it (1-%d "
			       "bytes) and a reason (0-%d bytes) of printable UTF-8",
			       META_INCIDENT_TEXT_MAX, META_INCIDENT_TEXT_MAX);
	if ((rc = suppression_keys_ok(s->keys)) < 0)
		return err_set(e, rc, "out of memory checking suppression keys");
	if (!rc)
		return err_set(e, -EINVAL, "suppression keys: expected a JSON object of field "
			       "names to string or number values, at most %d bytes",
			       META_ALERT_JSON_MAX);
	if (s->created_ns < 0 || s->expires_ns < 0 || s->hits < 0 || s->incident < 0)
		return err_set(e, -EINVAL, "suppression times, hits, incident: expected 0 or more");
	return 0;
}

int meta_suppression_add(struct meta *m, const struct meta_suppression *s, int64_t *id, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc;

	if ((rc = suppression_check(s, e)) < 0 || (rc = tenant_id(m, s->tenant, &tid, e)) < 0)
		return rc;
	/* the incident it came from must be the same tenant's */
	if (s->incident && (rc = incident_exists(m, s->tenant, tid, s->incident, e)) < 0)
		return rc;
	if ((rc = prepare(m, "INSERT INTO suppressions (tenant_id, rule_id, keys, reason,"
			  " created_by, created_ns, expires_ns, hits, incident_id)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULLIF(?9, 0))", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, s->rule_id);
	bind_text(st, 3, s->keys);
	bind_text(st, 4, s->reason);
	bind_text(st, 5, s->created_by);
	sqlite3_bind_int64(st, 6, s->created_ns);
	sqlite3_bind_int64(st, 7, s->expires_ns);
	sqlite3_bind_int64(st, 8, s->hits);
	sqlite3_bind_int64(st, 9, s->incident);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (id)
		*id = sqlite3_last_insert_rowid(m->db);
	stmt_done(m, st);
	return rc;
}

int meta_suppression_remove(struct meta *m, const char *tenant, int64_t id, struct err *e)
{
	return tenant_delete(m, tenant, "DELETE FROM suppressions WHERE tenant_id = ?1 AND id = ?2",
			     id, "suppression", e);
}

#define SUPPRESSION_SELECT                                                                  \
	"SELECT s.id, t.name, s.rule_id, s.keys, s.reason, s.created_by, s.created_ns,"      \
	" s.expires_ns, s.hits, IFNULL(s.incident_id, 0)"                                   \
	" FROM suppressions s JOIN tenants t ON t.id = s.tenant_id"

/* A row of SUPPRESSION_SELECT to to->fn.suppression (each_row's reader). */
static int read_suppression(struct meta *m, sqlite3_stmt *st, const struct row_sink *to,
			    struct err *e)
{
	struct meta_suppression s = {
		.id = sqlite3_column_int64(st, 0),
		.tenant = column_text(st, 1),
		.rule_id = column_text(st, 2),
		.keys = column_text(st, 3),
		.reason = column_text(st, 4),
		.created_by = column_text(st, 5),
		.created_ns = sqlite3_column_int64(st, 6),
		.expires_ns = sqlite3_column_int64(st, 7),
		.hits = sqlite3_column_int64(st, 8),
		.incident = sqlite3_column_int64(st, 9),
	};
	struct err bad = ERR_INIT;
	int rc;

	if (sqlite3_errcode(m->db) == SQLITE_NOMEM)
		return err_set(e, -ENOMEM, "out of memory reading suppressions");
	if ((rc = suppression_check(&s, &bad)) == -ENOMEM)
		return err_set(e, rc, "out of memory reading suppressions");
	if (rc < 0) {
		log_warn("%s: suppression row %lld skipped: %s", m->path, (long long)s.id,
			 bad.msg);
		return 0;
	}
	to->fn.suppression(to->ctx, &s);
	return 1;
}

int meta_suppression_list(struct meta *m, const char *tenant,
			  void (*fn)(void *ctx, const struct meta_suppression *s), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc, rows;

	if (tenant && (rc = tenant_id(m, tenant, &tid, e)) < 0)
		return rc;
	if ((rc = prepare(m, SUPPRESSION_SELECT " WHERE ?1 = 0 OR s.tenant_id = ?1"
			  " ORDER BY t.name, s.id", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	return each_row(m, st, read_suppression,
			&(struct row_sink){ .fn.suppression = fn, .ctx = ctx }, &rows, e);
}

/*
 * 1 when the object fields has member key with a scalar value of want's type and text,
 * 0 when not (or fields is malformed), -ENOMEM when the arena is full.
 */
static int fields_have(const char *fields, const struct jsonin_value *key,
		       const struct jsonin_value *want, struct arena *arena)
{
	struct jsonin_value k, v;
	struct jsonin j;
	int more;

	jsonin_init(&j, fields, strlen(fields), arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return 0;
	while ((more = scalar_member(&j, false, &k, &v)) > 0)
		if (k.len == key->len && !memcmp(k.s, key->s, k.len))
			return v.type == want->type && v.len == want->len &&
			       !memcmp(v.s, want->s, v.len);
	return j.rc == -ENOMEM ? -ENOMEM : 0;
}

/* 1 when every member of keys is in fields with the same value, 0 when not, -ENOMEM. */
static int keys_match(const char *keys, const char *fields)
{
	size_t klen = strlen(keys), flen = strlen(fields);
	struct jsonin_value k, v;
	struct arena arena;
	struct jsonin j;
	int more = 0, rc = 0;

	/* escaped strings of both texts are unescaped into the arena, never longer */
	arena_init(&arena, 1024, 2 * (klen + flen) + 64);
	jsonin_init(&j, keys, klen, &arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		goto out;
	rc = 1;
	while (rc == 1 && (more = scalar_member(&j, true, &k, &v)) > 0)
		rc = fields_have(fields, &k, &v, &arena);
	if (rc == 1 && more < 0)
		rc = 0;
out:
	if (rc >= 0 && j.rc == -ENOMEM)
		rc = -ENOMEM;
	arena_release(&arena);
	return rc;
}

/* The first unexpired suppression of tenant tid for a in *id (0: none). */
static int suppression_find(struct meta *m, int64_t tid, const struct meta_alert *a,
			    int64_t now_ns, int64_t *id, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int step, rc;

	if ((rc = prepare(m, "SELECT id, keys FROM suppressions WHERE tenant_id = ?1"
			  " AND rule_id = ?2 AND (expires_ns = 0 OR expires_ns > ?3)"
			  " ORDER BY id", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	bind_text(st, 2, a->rule_id);
	sqlite3_bind_int64(st, 3, now_ns);
	while (!*id && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *keys = column_text(st, 1);

		if (!keys)
			continue;
		if ((rc = keys_match(keys, a->key_fields)) < 0) {
			rc = err_set(e, rc, "out of memory matching suppressions");
			goto fail;
		}
		if (rc == 1)
			*id = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	if (!*id && step != SQLITE_DONE)
		rc = db_fail(m, e);
fail:
	stmt_done(m, st);
	return rc;
}

int meta_suppression_match(struct meta *m, const struct meta_alert *a, int64_t now_ns, int64_t *id,
			   struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int rc;

	*id = 0;
	if (!a->rule_id || !a->key_fields)
		return err_set(e, -EINVAL, "suppression match: the alert has no rule id or keys");
	if ((rc = tenant_id(m, a->tenant, &tid, e)) < 0 ||
	    (rc = suppression_find(m, tid, a, now_ns, id, e)) < 0 || !*id)
		return rc;
	if ((rc = prepare_cached(m, "UPDATE suppressions SET hits = hits + 1 WHERE id = ?1", &st,
			  e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, *id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

/* ---- evkeep: evidence copies kept with an incident ---- */

/*
 * In one statement: whether incident is tenant tid's (*mine), whether a copy with digest is
 * kept with it (*kept), and the highest sequence number (copies are numbered 1..n without
 * gaps: only whole incidents are removed, so it is also their count).
 */
static int evkeep_state(struct meta *m, int64_t tid, int64_t incident, const unsigned char *digest,
			bool *mine, bool *kept, int64_t *last, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare_cached(m, "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = ?2 AND"
			  " tenant_id = ?1), EXISTS (SELECT 1 FROM incident_events WHERE"
			  " incident_id = ?2 AND digest = ?3), (SELECT coalesce(max(seq), 0) FROM"
			  " incident_events WHERE incident_id = ?2)", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, incident);
	sqlite3_bind_blob(st, 3, digest, META_EVKEEP_DIGEST_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*mine = sqlite3_column_int(st, 0);
		*kept = sqlite3_column_int(st, 1);
		*last = sqlite3_column_int64(st, 2);
	} else {
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

static int evkeep_insert(struct meta *m, const struct meta_evkeep *k, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare_cached(m, "INSERT INTO incident_events (incident_id, seq, digest, sealed,"
			  " kept_ns) VALUES (?1, ?2, ?3, ?4, ?5)", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, k->incident);
	sqlite3_bind_int64(st, 2, k->seq);
	sqlite3_bind_blob(st, 3, k->digest, META_EVKEEP_DIGEST_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, k->sealed, (int)k->sealed_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, k->kept_ns);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_evkeep_add(struct meta *m, const char *tenant, int64_t incident,
		    const unsigned char digest[META_EVKEEP_DIGEST_LEN], int64_t max, int64_t now_ns,
		    meta_evkeep_seal_fn *seal, void *ctx, int64_t *seq, struct err *e)
{
	struct meta_evkeep k = { .incident = incident, .digest = digest, .kept_ns = now_ns };
	bool mine = false, kept = false, own = sqlite3_get_autocommit(m->db) != 0; /* else the caller's */
	int64_t last = 0;
	int rc;

	*seq = 0;
	if (!digest || !seal || max < 1)
		return err_set(e, -EINVAL, "evidence copy: a digest, a seal and a maximum are needed");
	if (own && (rc = meta_begin(m, e)) < 0)
		return rc;
	if ((rc = tenant_id(m, tenant, &k.tenant_id, e)) < 0 ||
	    (rc = evkeep_state(m, k.tenant_id, incident, digest, &mine, &kept, &last, e)) < 0)
		goto fail;
	if (!mine) {
		rc = no_incident(tenant, incident, e);
		goto fail;
	}
	if (kept) /* the same event kept already */
		return own ? meta_commit(m, e) : 0;
	if (last >= max) {
		rc = err_set(e, -ENOSPC, "incident %lld keeps %lld event copies already, the most "
			     "it may", (long long)incident, (long long)last);
		goto fail;
	}
	k.seq = last + 1;
	if ((rc = seal(ctx, &k, e)) < 0)
		goto fail;
	if (k.sealed_len > INT32_MAX) {
		rc = err_set(e, -EMSGSIZE, "evidence copy of %zu bytes: too large", k.sealed_len);
		goto fail;
	}
	if ((rc = evkeep_insert(m, &k, e)) < 0 || (own && (rc = meta_commit(m, e)) < 0))
		goto fail;
	*seq = k.seq;
	return 0;
fail:
	if (own)
		meta_rollback(m);
	return rc;
}

int meta_evkeep_list(struct meta *m, const char *tenant, int64_t incident,
		     int (*fn)(void *ctx, const struct meta_evkeep *k), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	int step, rc;

	/* the incident's own row joined: an incident of another tenant gives no row at all */
	if ((rc = tenant_stmt(m, tenant, "SELECT i.tenant_id, e.seq, e.digest, e.sealed, e.kept_ns"
			      " FROM incidents i LEFT JOIN incident_events e ON e.incident_id ="
			      " i.id WHERE i.id = ?2 AND i.tenant_id = ?1 ORDER BY e.seq", &st,
			      e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, incident);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_evkeep k = {
			.tenant_id = sqlite3_column_int64(st, 0), .incident = incident,
			.seq = sqlite3_column_int64(st, 1), .digest = sqlite3_column_blob(st, 2),
			.sealed = sqlite3_column_blob(st, 3),
			.sealed_len = (size_t)sqlite3_column_bytes(st, 3),
			.kept_ns = sqlite3_column_int64(st, 4),
		};

		found = true;
		if (sqlite3_column_type(st, 1) == SQLITE_NULL) /* an incident without copies */
			continue;
		/* a row koban did not write (no digest of the length) is damage: said so */
		if (!k.digest || sqlite3_column_bytes(st, 2) != META_EVKEEP_DIGEST_LEN ||
		    !k.sealed) {
			rc = err_set(e, -EBADMSG, "%s: event copy %lld of incident %lld is damaged",
				     m->path, (long long)k.seq, (long long)incident);
			goto out;
		}
		if ((rc = fn(ctx, &k)) != 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(m, e);
	else if (!found)
		rc = no_incident(tenant, incident, e);
out:
	stmt_done(m, st);
	return rc;
}

/* ---- SOC engine ---- */

int meta_soc_unlinked_alerts(struct meta *m, int64_t after_id, int64_t since_ns, int64_t limit,
			     void (*fn)(void *ctx, const struct meta_alert *a), void *ctx,
			     struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, rows;

	if (limit < 1 || limit > META_ALERT_LIST_MAX)
		return err_set(e, -EINVAL, "limit %lld: expected 1 to %d alerts", (long long)limit,
			       META_ALERT_LIST_MAX);
	if ((rc = prepare_cached(m, ALERT_SELECT("NULL") " WHERE a.id > ?1 AND a.detected_ns >= ?2"
			  " AND NOT EXISTS (SELECT 1 FROM incident_alerts l WHERE l.alert_id = a.id)"
			  " ORDER BY a.id LIMIT ?3", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, since_ns);
	sqlite3_bind_int64(st, 3, limit);
	return each_row(m, st, read_alert, &(struct row_sink){ .fn.alert = fn, .ctx = ctx },
			&rows, e);
}

int meta_soc_last_alert(struct meta *m, bool linked, int64_t *id, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare_cached(m, linked ? "SELECT COALESCE(MAX(alert_id), 0) FROM incident_alerts"
				   : "SELECT COALESCE(MAX(id), 0) FROM alerts", &st, e);

	if (rc < 0)
		return rc;
	return single_int64(m, st, id, e);
}

/* ---- Triage ---- */

/* The alert's time: the matched event's, else its detection's. */
#define TRIAGE_ALERT_NS "(CASE WHEN a.event_ns > 0 THEN a.event_ns ELSE a.detected_ns END)"

/* The alert's source.ip key field (NULL when none); index alerts_source_ip is on it. */
#define ALERT_SOURCE_IP                                                                  \
	"(CASE WHEN json_valid(a.key_fields) THEN"                                        \
	"  json_extract(a.key_fields, '$.\"source.ip\"') END)"

/* The aggregate of meta_triage_attackers over the rows of inner (ip, tenant_id, name, t). */
#define ATTACKERS_OF(inner)                                                              \
	"SELECT ip, COUNT(DISTINCT tenant_id), COUNT(*), MIN(t), MAX(t),"                   \
	" json_group_array(DISTINCT name) FROM (" inner " ORDER BY n.name)"                 \
	" WHERE typeof(ip) = 'text'"                                                      \
	" GROUP BY ip HAVING COUNT(DISTINCT tenant_id) >= ?4"                             \
	" ORDER BY 2 DESC, 3 DESC, ip LIMIT ?5"

#define ATTACKER_ROWS                                                                    \
	"SELECT a.tenant_id, n.name, " TRIAGE_ALERT_NS " AS t, " ALERT_SOURCE_IP " AS ip"   \
	" FROM alerts a JOIN tenants n ON n.id = a.tenant_id"                              \
	" WHERE " TRIAGE_ALERT_NS " BETWEEN ?1 AND ?2"

/*
 * How many tenants (at most min_tenants) have alerts from ip in the period: one index range
 * and one small distinct set, before the grouping that names them (three distinct sets and
 * two sorts) runs for an address that a single tenant sees, as most are.
 */
static int attacker_tenants(struct meta *m, const char *ip, int64_t since_ns, int64_t until_ns,
			    int64_t min_tenants, int64_t *n, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare_cached(m, "SELECT COUNT(*) FROM (SELECT DISTINCT a.tenant_id FROM"
				 " alerts a WHERE " TRIAGE_ALERT_NS " BETWEEN ?1 AND ?2 AND "
				 ALERT_SOURCE_IP " = ?3 LIMIT ?4)", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, since_ns);
	sqlite3_bind_int64(st, 2, until_ns);
	bind_text(st, 3, ip);
	sqlite3_bind_int64(st, 4, min_tenants);
	return single_int64(m, st, n, e);
}

int meta_triage_attackers(struct meta *m, const char *ip, int64_t since_ns, int64_t until_ns,
			  int64_t min_tenants, int64_t limit,
			  void (*fn)(void *ctx, const struct meta_triage_attacker *a), void *ctx,
			  struct err *e)
{
	sqlite3_stmt *st = NULL;
	int step, rc;

	if (limit < 1 || limit > META_TRIAGE_ATTACKERS_MAX)
		return err_set(e, -EINVAL, "limit %lld: expected 1 to %d addresses", (long long)limit,
			       META_TRIAGE_ATTACKERS_MAX);
	/*
	 * A SOC-wide query on purpose: the point is to see one address across tenants. With an
	 * address (triage, for every alert) the index on it finds its alerts; without (the
	 * SOC-wide list) every alert of the period is grouped.
	 */
	if (ip) {
		int64_t tenants = 0;

		if ((rc = attacker_tenants(m, ip, since_ns, until_ns, min_tenants, &tenants, e)) < 0)
			return rc;
		if (tenants < min_tenants)
			return 0;
	}
	rc = ip ? prepare_cached(m, ATTACKERS_OF(ATTACKER_ROWS " AND " ALERT_SOURCE_IP " = ?3"),
				 &st, e)
		: prepare_cached(m, ATTACKERS_OF(ATTACKER_ROWS " AND ?3 IS NULL"), &st, e);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, since_ns);
	sqlite3_bind_int64(st, 2, until_ns);
	bind_text(st, 3, ip);
	sqlite3_bind_int64(st, 4, min_tenants);
	sqlite3_bind_int64(st, 5, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_triage_attacker a = {
			.ip = column_text(st, 0), .tenants = sqlite3_column_int64(st, 1),
			.alerts = sqlite3_column_int64(st, 2), .first_ns = sqlite3_column_int64(st, 3),
			.last_ns = sqlite3_column_int64(st, 4), .tenant_names = column_text(st, 5),
		};

		fn(ctx, &a);
	}
	rc = step == SQLITE_DONE ? 0 : db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

/* ---- Firstreport ---- */

static int check_report_lang(const char *lang, struct err *e)
{
	if (!lang || (strcmp(lang, "ja") && strcmp(lang, "en")))
		return err_set(e, -EINVAL, "report language '%s': expected ja or en",
			       lang ? ESC(lang) : "(none)");
	return 0;
}

/* The report's text: UTF-8 lines, 1..META_REPORT_TEXT_MAX bytes. */
static int check_report_text(const char *text, struct err *e)
{
	size_t len = text ? strlen(text) : 0;
	int rc;

	if ((rc = check_text("report text", text, 1, META_REPORT_TEXT_MAX, true, e)) < 0)
		return rc;
	for (size_t i = 0, n; i < len; i += n)
		if (!(n = json_utf8_len((const unsigned char *)text + i, len - i)))
			return err_set(e, -EINVAL, "report text: not UTF-8 at byte %zu", i);
	return 0;
}

/* 0 when tenant has the incident, -ENOENT when not (another tenant's reads as none). */
static int report_incident(struct meta *m, const char *tenant, int64_t incident, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = tenant_stmt(m, tenant, "SELECT 1 FROM incidents WHERE tenant_id = ?1 AND id = ?2",
			      &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, incident);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		rc = no_incident(tenant, incident, e);
		break;
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

/* Runs st (bound by the caller, finalized here); the rows it changed in *changed. */
static int report_step(struct meta *m, sqlite3_stmt *st, int *changed, struct err *e)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);

	*changed = rc == 0 ? sqlite3_changes(m->db) : 0;
	stmt_done(m, st);
	return rc;
}

int meta_report_draft(struct meta *m, const char *tenant, int64_t incident, const char *lang,
		      const char *text, int64_t now_ns, bool *stored, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, changed = 0;

	if (stored)
		*stored = false;
	if ((rc = check_report_lang(lang, e)) < 0 || (rc = check_report_text(text, e)) < 0 ||
	    (rc = report_incident(m, tenant, incident, e)) < 0 ||
	    (rc = prepare_cached(m, "INSERT INTO incident_reports (incident_id, lang, text, status, edited,"
			  " edited_by, approved_by, updated_ns, approved_ns)"
			  " VALUES (?1, ?2, ?3, 'draft', 0, '', '', ?4, 0)"
			  " ON CONFLICT (incident_id, lang) DO UPDATE SET text = excluded.text,"
			  " updated_ns = excluded.updated_ns"
			  " WHERE status = 'draft' AND edited = 0 AND text <> excluded.text", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, incident);
	bind_text(st, 2, lang);
	bind_text(st, 3, text);
	sqlite3_bind_int64(st, 4, now_ns);
	if ((rc = report_step(m, st, &changed, e)) == 0 && stored)
		*stored = changed > 0;
	return rc;
}

int meta_report_edit(struct meta *m, const char *tenant, int64_t incident, const char *lang,
		     const char *text, const char *by, int64_t now_ns, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, changed = 0;

	if ((rc = check_report_lang(lang, e)) < 0 || (rc = check_report_text(text, e)) < 0 ||
	    (rc = check_text("editor", by, 1, META_ALERT_TEXT_MAX, false, e)) < 0 ||
	    (rc = report_incident(m, tenant, incident, e)) < 0 ||
	    (rc = prepare(m, "INSERT INTO incident_reports (incident_id, lang, text, status, edited,"
			  " edited_by, approved_by, updated_ns, approved_ns)"
			  " VALUES (?1, ?2, ?3, 'draft', 1, ?4, '', ?5, 0)"
			  " ON CONFLICT (incident_id, lang) DO UPDATE SET text = excluded.text,"
			  " edited = 1, edited_by = excluded.edited_by,"
			  " updated_ns = excluded.updated_ns WHERE status = 'draft'", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, incident);
	bind_text(st, 2, lang);
	bind_text(st, 3, text);
	bind_text(st, 4, by);
	sqlite3_bind_int64(st, 5, now_ns);
	if ((rc = report_step(m, st, &changed, e)) == 0 && !changed)
		rc = err_set(e, -EBUSY, "the %s report of incident %lld is approved: it stays as sent",
			     lang, (long long)incident);
	return rc;
}

int meta_report_approve(struct meta *m, const char *tenant, int64_t incident, const char *lang,
			const char *by, int64_t now_ns, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, changed = 0;

	if ((rc = check_report_lang(lang, e)) < 0 ||
	    (rc = check_text("approver", by, 1, META_ALERT_TEXT_MAX, false, e)) < 0 ||
	    (rc = report_incident(m, tenant, incident, e)) < 0 ||
	    (rc = prepare(m, "UPDATE incident_reports SET status = 'approved', approved_by = ?3,"
			  " approved_ns = ?4, updated_ns = ?4"
			  " WHERE incident_id = ?1 AND lang = ?2 AND status = 'draft'", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, incident);
	bind_text(st, 2, lang);
	bind_text(st, 3, by);
	sqlite3_bind_int64(st, 4, now_ns);
	if ((rc = report_step(m, st, &changed, e)) < 0 || changed)
		return rc;
	/* nothing changed: either no report yet or approved already; say which */
	return meta_report_get(m, tenant, incident, lang, NULL, NULL, e) == 0
		       ? err_set(e, -EALREADY, "the %s report of incident %lld is approved already",
				 lang, (long long)incident)
		       : err_set(e, -ENOENT, "incident %lld has no %s report to approve",
				 (long long)incident, lang);
}

int meta_report_get(struct meta *m, const char *tenant, int64_t incident, const char *lang,
		    void (*fn)(void *ctx, const struct meta_report *r), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = check_report_lang(lang, e)) < 0 ||
	    (rc = tenant_stmt(m, tenant, "SELECT r.text, r.status, r.edited, r.edited_by,"
			      " r.approved_by, r.updated_ns, r.approved_ns"
			      " FROM incident_reports r JOIN incidents i ON i.id = r.incident_id"
			      " WHERE i.tenant_id = ?1 AND r.incident_id = ?2 AND r.lang = ?3",
			      &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, incident);
	bind_text(st, 3, lang);
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_report r = {
			.tenant = tenant, .incident = incident, .lang = lang,
			.text = column_text(st, 0), .status = column_text(st, 1),
			.edited = sqlite3_column_int64(st, 2) != 0, .edited_by = column_text(st, 3),
			.approved_by = column_text(st, 4), .updated_ns = sqlite3_column_int64(st, 5),
			.approved_ns = sqlite3_column_int64(st, 6),
		};

		if (!r.text || !r.status || !r.edited_by || !r.approved_by)
			rc = err_set(e, -ENOMEM, "out of memory reading a report");
		else if (fn)
			fn(ctx, &r);
	} else if (step == SQLITE_DONE) {
		rc = err_set(e, -ENOENT, "tenant '%s' has no %s report of incident %lld", ESC(tenant),
			     lang, (long long)incident);
	} else {
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

/* ---- Notify policy (notify/policy.h): a tenant's notification policy and its history ---- */

/* The body: UTF-8 text of 1..META_NOTIFY_POLICY_MAX bytes (lines allowed). */
static int check_policy_body(const char *body, struct err *e)
{
	size_t len = body ? strlen(body) : 0;
	int rc;

	if ((rc = check_text("notification policy", body, 1, META_NOTIFY_POLICY_MAX, true, e)) < 0)
		return rc;
	for (size_t i = 0, n; i < len; i += n)
		if (!(n = json_utf8_len((const unsigned char *)body + i, len - i)))
			return err_set(e, -EINVAL, "notification policy: not UTF-8 at byte %zu", i);
	return 0;
}

int meta_notify_policy_get(struct meta *m, const char *tenant,
			   void (*fn)(void *ctx, const struct meta_notify_policy *p), void *ctx,
			   struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = tenant_stmt(m, tenant, "SELECT version, body, updated_ns, actor"
			      " FROM notify_policies WHERE tenant_id = ?1", &st, e)) < 0)
		return rc;
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_notify_policy p = {
			.tenant = tenant, .version = sqlite3_column_int64(st, 0),
			.body = column_text(st, 1), .updated_ns = sqlite3_column_int64(st, 2),
			.actor = column_text(st, 3),
		};
		struct err bad = ERR_INIT;

		if (!p.body || !p.actor)
			rc = err_set(e, -ENOMEM, "out of memory reading the notification policy");
		else if (check_policy_body(p.body, &bad) < 0 ||
			 check_text("actor", p.actor, 1, META_INCIDENT_TEXT_MAX, false, &bad) < 0)
			rc = err_set(e, -EIO, "%s: the notification policy of tenant '%s' is damaged: %s",
				     m->path, ESC(tenant), bad.msg);
		else if (fn)
			fn(ctx, &p);
	} else if (step == SQLITE_DONE) {
		rc = err_set(e, -ENOENT, "tenant '%s' has no notification policy", ESC(tenant));
	} else {
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

/* The tenant tid's current version and body (mem_strdup'ed, NULL: none) in the transaction. */
static int policy_current(struct meta *m, int64_t tid, int64_t *version, char **body,
			  struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	*version = 0;
	*body = NULL;
	if ((rc = prepare(m, "SELECT version, body FROM notify_policies WHERE tenant_id = ?1",
			  &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *b = column_text(st, 1);

		*version = sqlite3_column_int64(st, 0);
		if (!b || !(*body = mem_strdup(b)))
			rc = err_set(e, -ENOMEM, "out of memory reading the notification policy");
	} else if (step != SQLITE_DONE) {
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	return rc;
}

static int policy_step(struct meta *m, sqlite3_stmt *st, struct err *e)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);

	stmt_done(m, st);
	return rc;
}

int meta_notify_policy_set(struct meta *m, const char *tenant, const char *body,
			   const char *actor, int64_t now_ns, int64_t *version, bool *changed,
			   struct err *e)
{
	struct policy *parsed = NULL;
	sqlite3_stmt *st = NULL;
	int64_t tid = 0, current = 0;
	char *before = NULL;
	int rc;

	if (changed)
		*changed = false;
	if ((rc = check_tenant_ref(tenant, e)) < 0 || (rc = check_policy_body(body, e)) < 0 ||
	    (rc = check_text("actor", actor, 1, META_INCIDENT_TEXT_MAX, false, e)) < 0 ||
	    (rc = policy_parse(&parsed, "notification policy", body, strlen(body), e)) < 0)
		return rc;
	policy_free(parsed);
	if ((rc = exec(m, "BEGIN IMMEDIATE", e)) < 0)
		return rc;
	if ((rc = tenant_id(m, tenant, &tid, e)) < 0 ||
	    (rc = policy_current(m, tid, &current, &before, e)) < 0)
		goto fail;
	if (before && !strcmp(before, body)) { /* the same text: nothing to record */
		*version = current;
		rc = exec(m, "COMMIT", e);
		goto out;
	}
	if ((rc = prepare(m, "INSERT INTO notify_policies (tenant_id, version, body, updated_ns,"
			  " actor) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant_id) DO UPDATE SET"
			  " version = excluded.version, body = excluded.body,"
			  " updated_ns = excluded.updated_ns, actor = excluded.actor", &st, e)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, current + 1);
	bind_text(st, 3, body);
	sqlite3_bind_int64(st, 4, now_ns);
	bind_text(st, 5, actor);
	if ((rc = policy_step(m, st, e)) < 0 ||
	    (rc = prepare(m, "INSERT INTO notify_policy_history (tenant_id, version, at_ns, actor,"
			  " before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st, e)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, current + 1);
	sqlite3_bind_int64(st, 3, now_ns);
	bind_text(st, 4, actor);
	bind_text(st, 5, before);
	bind_text(st, 6, body);
	if ((rc = policy_step(m, st, e)) < 0 || (rc = exec(m, "COMMIT", e)) < 0)
		goto fail;
	*version = current + 1;
	if (changed)
		*changed = true;
	goto out;
fail:
	meta_rollback(m);
out:
	mem_free(before);
	return rc;
}

int meta_notify_policy_history(struct meta *m, const char *tenant, int64_t limit,
			       void (*fn)(void *ctx, const struct meta_notify_policy_change *c),
			       void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if (limit < 1 || limit > META_NOTIFY_HISTORY_MAX)
		return err_set(e, -EINVAL, "limit %lld: expected 1 to %d", (long long)limit,
			       META_NOTIFY_HISTORY_MAX);
	if ((rc = tenant_stmt(m, tenant, "SELECT id, version, at_ns, actor, before, after"
			      " FROM notify_policy_history WHERE tenant_id = ?1"
			      " ORDER BY id DESC LIMIT ?2", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_notify_policy_change c = {
			.id = sqlite3_column_int64(st, 0), .tenant = tenant,
			.version = sqlite3_column_int64(st, 1), .at_ns = sqlite3_column_int64(st, 2),
			.actor = column_text(st, 3), .after = column_text(st, 5),
		};
		struct err bad = ERR_INIT;

		if (!c.actor || !c.after || nullable_text(st, 4, &c.before) < 0) {
			rc = err_set(e, -ENOMEM, "out of memory reading the policy history");
			break;
		}
		if (check_text("actor", c.actor, 1, META_INCIDENT_TEXT_MAX, false, &bad) < 0 ||
		    check_policy_body(c.after, &bad) < 0 ||
		    (c.before && check_policy_body(c.before, &bad) < 0)) {
			log_warn("%s: notification policy history row %lld skipped: %s", m->path,
				 (long long)c.id, bad.msg);
			continue;
		}
		fn(ctx, &c);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_notify_similar(struct meta *m, const char *tenant, const char *rule_id, int64_t since_ns,
			int64_t until_ns, int64_t *count, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*count = 0;
	if (!rule_id)
		return err_set(e, -EINVAL, "similar incidents: a rule id is expected");
	if ((rc = tenant_stmt(m, tenant, "SELECT count(*) FROM incidents WHERE tenant_id = ?1"
			      " AND rule_id = ?2 AND detected_ns >= ?3 AND detected_ns <= ?4",
			      &st, e)) < 0)
		return rc;
	bind_text(st, 2, rule_id);
	sqlite3_bind_int64(st, 3, since_ns);
	sqlite3_bind_int64(st, 4, until_ns);
	return single_int64(m, st, count, e);
}

/* ---- Notify (notify/notify.h): notices and their delivery attempts ---- */

#define NOTICE_COLS "n.id, t.name, n.incident_id, n.chain, n.step, n.level, n.rule, n.channel," \
	" n.recipient, n.template, n.lang, n.ack, n.agg_ns, n.incidents, n.n_incidents, n.state," \
	" n.attempts, n.decided_ns, n.due_ns, n.next_ns, n.provider_id, n.reason, n.created_ns," \
	" n.updated_ns FROM notify_notices n JOIN tenants t ON t.id = n.tenant_id"

static void notice_row(sqlite3_stmt *st, struct meta_notice *n)
{
	memset(n, 0, sizeof(*n));
	n->id = sqlite3_column_int64(st, 0);
	n->tenant = column_text(st, 1);
	n->incident = sqlite3_column_int64(st, 2);
	n->chain = sqlite3_column_int(st, 3);
	n->step = sqlite3_column_int(st, 4);
	n->level = sqlite3_column_int(st, 5);
	n->rule = column_text(st, 6);
	n->channel = column_text(st, 7);
	n->recipient = column_text(st, 8);
	n->template = column_text(st, 9);
	n->lang = column_text(st, 10);
	n->ack = sqlite3_column_int(st, 11) != 0;
	n->agg_ns = sqlite3_column_int64(st, 12);
	n->incidents = column_text(st, 13);
	n->n_incidents = sqlite3_column_int64(st, 14);
	n->state = column_text(st, 15);
	n->attempts = sqlite3_column_int64(st, 16);
	n->decided_ns = sqlite3_column_int64(st, 17);
	n->due_ns = sqlite3_column_int64(st, 18);
	n->next_ns = sqlite3_column_int64(st, 19);
	n->provider_id = column_text(st, 20);
	n->reason = column_text(st, 21);
	n->created_ns = sqlite3_column_int64(st, 22);
	n->updated_ns = sqlite3_column_int64(st, 23);
}

/* Steps st, each row to fn; finalizes st. */
static int notice_rows(struct meta *m, sqlite3_stmt *st,
		       void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, int64_t *rows,
		       struct err *e)
{
	struct meta_notice n;
	int rc = 0, s;

	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		notice_row(st, &n);
		if (!n.tenant || !n.rule || !n.channel || !n.recipient || !n.template || !n.lang ||
		    !n.incidents || !n.state || !n.provider_id || !n.reason)
			continue;
		if (rows)
			(*rows)++;
		fn(ctx, &n);
	}
	if (s != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

static int notice_check(const struct meta_notice *n, struct err *e)
{
	int rc;

	if ((rc = check_text("notice channel", n->channel, 1, 63, false, e)) < 0 ||
	    (rc = check_text("notice recipient", n->recipient, 0, 320, false, e)) < 0 ||
	    (rc = check_text("notice template", n->template ? n->template : "", 0, 63, false, e)) < 0 ||
	    (rc = check_text("notice rule", n->rule ? n->rule : "", 0, 255, false, e)) < 0)
		return rc;
	if (n->incident < 1 || n->agg_ns < 0)
		return err_set(e, -EINVAL, "a notice names its incident (the first one listed when "
			       "aggregated)");
	if (n->level < 0 || n->level > 3 || n->step < 0 || n->step > META_NOTICE_STEP_LEAD)
		return err_set(e, -EINVAL, "notice level 0..3 and step 0..%d expected",
			       META_NOTICE_STEP_LEAD);
	return 0;
}

int meta_notice_add(struct meta *m, const struct meta_notice *n, int64_t *id, bool *added,
		    bool *appended, struct err *e)
{
	sqlite3_stmt *st = NULL;
	char first[24];
	int64_t tid = 0;
	int rc;

	*id = 0;
	*added = *appended = false;
	if ((rc = notice_check(n, e)) < 0 || (rc = tenant_id(m, n->tenant, &tid, e)) < 0 ||
	    (rc = prepare(m, "INSERT OR IGNORE INTO notify_notices (tenant_id, incident_id, chain,"
			  " step, level, rule, channel, recipient, template, lang, ack, agg_ns,"
			  " incidents, n_incidents, state, attempts, decided_ns, due_ns, next_ns,"
			  " provider_id, reason, created_ns, updated_ns) VALUES (?1, ?2, ?3, ?4, ?5,"
			  " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0, ?16, ?17, ?17, '', '',"
			  " ?18, ?18)", &st, e)) < 0)
		return rc;
	snprintf(first, sizeof(first), "%lld", (long long)n->incident);
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, n->agg_ns ? 0 : n->incident);
	sqlite3_bind_int(st, 3, n->chain);
	sqlite3_bind_int(st, 4, n->step);
	sqlite3_bind_int(st, 5, n->level);
	bind_text(st, 6, n->rule ? n->rule : "");
	bind_text(st, 7, n->channel);
	bind_text(st, 8, n->recipient);
	bind_text(st, 9, n->template ? n->template : "");
	bind_text(st, 10, n->lang ? n->lang : "ja");
	sqlite3_bind_int(st, 11, n->ack);
	sqlite3_bind_int64(st, 12, n->agg_ns);
	bind_text(st, 13, n->agg_ns ? first : "");
	sqlite3_bind_int64(st, 14, n->agg_ns ? 1 : 0);
	bind_text(st, 15, n->state ? n->state : "pending");
	sqlite3_bind_int64(st, 16, n->decided_ns);
	sqlite3_bind_int64(st, 17, n->due_ns);
	sqlite3_bind_int64(st, 18, n->created_ns);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);
	*added = rc == 0 && sqlite3_changes(m->db) > 0;
	stmt_done(m, st);
	if (rc < 0)
		return rc;
	if (*added) {
		*id = sqlite3_last_insert_rowid(m->db);
		return 0;
	}
	if ((rc = prepare(m, "SELECT id FROM notify_notices WHERE tenant_id = ?1 AND"
			  " incident_id = ?2 AND chain = ?3 AND step = ?4 AND channel = ?5 AND"
			  " recipient = ?6 AND agg_ns = ?7", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int64(st, 2, n->agg_ns ? 0 : n->incident);
	sqlite3_bind_int(st, 3, n->chain);
	sqlite3_bind_int(st, 4, n->step);
	bind_text(st, 5, n->channel);
	bind_text(st, 6, n->recipient);
	sqlite3_bind_int64(st, 7, n->agg_ns);
	rc = single_int64(m, st, id, e);
	if (rc < 0 || !n->agg_ns)
		return rc;
	/* an aggregated notice still pending lists the incident too (once, while it fits) */
	if ((rc = prepare(m, "UPDATE notify_notices SET incidents = CASE WHEN"
			  " length(incidents) + 21 <= ?3 THEN incidents || ',' || ?2 ELSE incidents"
			  " END, n_incidents = n_incidents + 1, level = MAX(level, ?4), updated_ns = ?5"
			  " WHERE id = ?1 AND state = 'pending'"
			  " AND instr(',' || incidents || ',', ',' || ?2 || ',') = 0", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, *id);
	bind_text(st, 2, first);
	sqlite3_bind_int(st, 3, META_NOTICE_INCIDENTS_MAX);
	sqlite3_bind_int(st, 4, n->level);
	sqlite3_bind_int64(st, 5, n->created_ns);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);
	*appended = rc == 0 && sqlite3_changes(m->db) > 0;
	stmt_done(m, st);
	return rc;
}

int meta_notice_due(struct meta *m, int64_t now_ns, int64_t limit,
		    void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(m, "SELECT " NOTICE_COLS " WHERE n.state = 'pending' AND"
			  " n.next_ns <= ?1 ORDER BY n.level DESC, n.next_ns, n.id LIMIT ?2",
			  &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_ns);
	sqlite3_bind_int64(st, 2, limit);
	return notice_rows(m, st, fn, ctx, NULL, e);
}

int meta_notice_next(struct meta *m, int64_t *next_ns, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*next_ns = 0;
	if ((rc = prepare(m, "SELECT MIN(next_ns) FROM notify_notices WHERE state = 'pending'",
			  &st, e)) < 0)
		return rc;
	return single_int64(m, st, next_ns, e);
}

int meta_notice_pending(struct meta *m, int64_t *n, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	if ((rc = prepare(m, "SELECT COUNT(*) FROM notify_notices WHERE state = 'pending'", &st,
			  e)) < 0)
		return rc;
	return single_int64(m, st, n, e);
}

int meta_notice_resume(struct meta *m, int64_t now_ns, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(m, "UPDATE notify_notices SET state = 'pending', next_ns = MIN(next_ns, ?1),"
			  " updated_ns = ?1 WHERE state = 'sending'", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_ns);
	rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(m->db) : db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_notice_set(struct meta *m, int64_t id, const char *state, int64_t attempts,
		    int64_t next_ns, const char *provider_id, const char *reason, int64_t now_ns,
		    struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(m, "UPDATE notify_notices SET state = ?2, attempts = ?3, next_ns = ?4,"
			  " provider_id = COALESCE(?5, provider_id), reason = COALESCE(?6, reason),"
			  " updated_ns = ?7 WHERE id = ?1", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, state);
	sqlite3_bind_int64(st, 3, attempts);
	sqlite3_bind_int64(st, 4, next_ns);
	bind_text(st, 5, provider_id);
	bind_text(st, 6, reason);
	sqlite3_bind_int64(st, 7, now_ns);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_notice_attempt(struct meta *m, int64_t notice, int64_t at_ns, const char *status,
			const char *reason, const char *provider_id, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(m, "INSERT INTO notify_attempts (notice_id, at_ns, status, reason,"
			  " provider_id) VALUES (?1, ?2, ?3, ?4, ?5)", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, notice);
	sqlite3_bind_int64(st, 2, at_ns);
	bind_text(st, 3, status);
	bind_text(st, 4, reason ? reason : "");
	bind_text(st, 5, provider_id ? provider_id : "");
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_notice_cancel(struct meta *m, const char *tenant, int64_t incident,
		       int64_t planned_by_ns, int64_t now_ns, int64_t *n, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	if ((rc = tenant_stmt(m, tenant, "UPDATE notify_notices SET state = 'cancelled',"
			      " reason = 'acknowledged before it was due', updated_ns = ?3"
			      " WHERE tenant_id = ?1 AND incident_id = ?2 AND state = 'pending'"
			      " AND decided_ns <= ?4", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, incident);
	sqlite3_bind_int64(st, 3, now_ns);
	sqlite3_bind_int64(st, 4, planned_by_ns);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(m, e);
	if (rc == 0)
		*n = sqlite3_changes(m->db);
	stmt_done(m, st);
	return rc;
}

int meta_notice_get(struct meta *m, const char *tenant, int64_t id,
		    void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t rows = 0;
	int rc;

	if ((rc = tenant_stmt(m, tenant, "SELECT " NOTICE_COLS " WHERE n.tenant_id = ?1 AND"
			      " n.id = ?2", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, id);
	if ((rc = notice_rows(m, st, fn, ctx, &rows, e)) < 0)
		return rc;
	return rows ? 0 : err_set(e, -ENOENT, "tenant '%s' has no notice %lld", ESC(tenant),
				  (long long)id);
}

int meta_notice_list(struct meta *m, const char *tenant, int64_t incident, int64_t limit,
		     void (*fn)(void *ctx, const struct meta_notice *n), void *ctx, struct err *e)
{
	sqlite3_stmt *st = NULL;
	char id[24];
	int rc;

	if (limit < 1 || limit > META_NOTICE_LIST_MAX)
		return err_set(e, -EINVAL, "limit: 1..%d expected", META_NOTICE_LIST_MAX);
	if ((rc = tenant_stmt(m, tenant, "SELECT " NOTICE_COLS " WHERE n.tenant_id = ?1 AND"
			      " (?2 = 0 OR n.incident_id = ?2 OR (n.incident_id = 0 AND"
			      " instr(',' || n.incidents || ',', ',' || ?3 || ',') > 0))"
			      " ORDER BY n.id LIMIT ?4", &st, e)) < 0)
		return rc;
	snprintf(id, sizeof(id), "%lld", (long long)incident);
	sqlite3_bind_int64(st, 2, incident);
	bind_text(st, 3, id);
	sqlite3_bind_int64(st, 4, limit);
	return notice_rows(m, st, fn, ctx, NULL, e);
}

int meta_notice_attempts(struct meta *m, const char *tenant, int64_t notice,
			 void (*fn)(void *ctx, const struct meta_notice_attempt *a), void *ctx,
			 struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if ((rc = tenant_stmt(m, tenant, "SELECT a.id, a.notice_id, a.at_ns, a.status, a.reason,"
			      " a.provider_id FROM notify_attempts a JOIN notify_notices n ON"
			      " n.id = a.notice_id WHERE n.tenant_id = ?1 AND a.notice_id = ?2"
			      " ORDER BY a.id", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, notice);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_notice_attempt a = {
			.id = sqlite3_column_int64(st, 0), .notice = sqlite3_column_int64(st, 1),
			.at_ns = sqlite3_column_int64(st, 2), .status = column_text(st, 3),
			.reason = column_text(st, 4), .provider_id = column_text(st, 5),
		};

		if (a.status && a.reason && a.provider_id)
			fn(ctx, &a);
	}
	if (s != SQLITE_DONE)
		rc = db_fail(m, e);
	stmt_done(m, st);
	return rc;
}

int meta_notice_count(struct meta *m, const char *tenant, const char *channel,
		      const char *recipient, int64_t since_ns, int64_t *n, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	if ((rc = tenant_stmt(m, tenant, "SELECT COUNT(*) FROM notify_notices WHERE tenant_id = ?1"
			      " AND channel = ?2 AND recipient = ?3 AND created_ns >= ?4", &st, e)) < 0)
		return rc;
	bind_text(st, 2, channel);
	bind_text(st, 3, recipient);
	sqlite3_bind_int64(st, 4, since_ns);
	return single_int64(m, st, n, e);
}

int meta_incident_acked_since(struct meta *m, const char *tenant, int64_t incident,
			      int64_t since_ns, int64_t *acked_ns, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	int rc;

	*acked_ns = 0;
	if ((rc = tenant_stmt(m, tenant, "SELECT MAX(i.acknowledged_ns, COALESCE((SELECT"
			      " MAX(t.at_ns) FROM incident_timeline t WHERE t.incident_id = i.id"
			      " AND t.action = 'acknowledged'), 0)) FROM incidents i"
			      " WHERE i.tenant_id = ?1 AND i.id = ?2", &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, incident);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		v = sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		break; /* no such incident: never acknowledged */
	default:
		rc = db_fail(m, e);
	}
	stmt_done(m, st);
	if (rc == 0 && v > 0 && v >= since_ns)
		*acked_ns = v;
	return rc;
}

/* ---- notify: the levels set by hand (notify/notify.h) ---- */

int meta_incident_levels_last(struct meta *m, int64_t *entry, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*entry = 0;
	if ((rc = prepare(m, "SELECT COALESCE(MAX(id), 0) FROM incident_timeline", &st, e)) < 0)
		return rc;
	return single_int64(m, st, entry, e);
}

int meta_incident_levels_since(struct meta *m, int64_t after, int64_t limit,
			       void (*fn)(void *ctx, const struct meta_level_set *l), void *ctx,
			       struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if ((rc = prepare(m, "SELECT t.id, n.name, t.incident_id, t.at_ns,"
			  " json_extract(t.detail, '$.from'), json_extract(t.detail, '$.to')"
			  " FROM incident_timeline t JOIN incidents i ON i.id = t.incident_id"
			  " JOIN tenants n ON n.id = i.tenant_id"
			  " WHERE t.id > ?1 AND t.action = 'level' AND json_valid(t.detail)"
			  " AND json_extract(t.detail, '$.manual') = 1 ORDER BY t.id LIMIT ?2",
			  &st, e)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_level_set l = {
			.entry = sqlite3_column_int64(st, 0), .tenant = column_text(st, 1),
			.incident = sqlite3_column_int64(st, 2), .at_ns = sqlite3_column_int64(st, 3),
			.from = sqlite3_column_int(st, 4), .to = sqlite3_column_int(st, 5),
		};

		if (l.tenant)
			fn(ctx, &l);
	}
	if (s != SQLITE_DONE)
		rc = db_fail(m, e);
	sqlite3_finalize(st);
	return rc;
}
