/*
 * config.c - the YAML configuration: built-in defaults, a strict loader, overrides.
 *
 * The loader walks libyaml's event stream against a small schema (struct section): each
 * known key has a handler that consumes exactly its value's events and stores the result
 * in the struct config being built. Everything the file does not name keeps its
 * built-in default. Errors stop the load at the first problem and name FILE:LINE, the
 * key's dotted path and what was expected. Aliases are refused, so a file can never
 * expand beyond its own size.
 */
#include "core/config.h"
#include "core/compat.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/err.h"
#include "core/ipaddr.h"
#include "core/tz.h"
#include "core/mem.h"
#include "core/name.h"

#define CONFIG_FILE_MAX (1u << 20)      /* bytes of YAML read from a file */
#define CONFIG_STRING_MAX 4096u         /* bytes of one string value (paths) */
#define CONFIG_MAX_TENANT_LIMITS 4096u  /* entries under limits.tenants */
#define KEY_PATH_MAX 128u

/* ---------------------------------------------------------------- defaults */

static const char *const proto_names[] = { "udp", "tcp", "tls", "relp", "relp-tls" };

const char *config_proto_name(enum listener_proto p)
{
	return (unsigned)p < ARRAY_SIZE(proto_names) ? proto_names[p] : "unknown";
}

bool config_proto_tls(enum listener_proto p)
{
	return p == LISTENER_TLS || p == LISTENER_RELP_TLS;
}

bool config_proto_relp(enum listener_proto p)
{
	return p == LISTENER_RELP || p == LISTENER_RELP_TLS;
}

static int proto_parse(const char *s, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(proto_names); i++)
		if (strlen(proto_names[i]) == len && !memcmp(proto_names[i], s, len))
			return (int)i;
	return -1;
}

static void listener_release(struct config_listener *l)
{
	mem_free(l->name);
	mem_free(l->address);
	l->name = NULL;
	l->address = NULL;
}

/*
 * Empties an array of *n entries of size bytes: entry_release(entry) on each, then the
 * array is freed, *table (the address of the array's pointer, of any entry type) set to
 * NULL and *n to 0. For the config's own arrays, by the thread that owns the config.
 */
static void release_entries(void *table, size_t *n, size_t size,
			    void (*entry_release)(void *entry))
{
	char *a;

	/* the pointer has the entry's struct type: copied, not accessed as char * */
	memcpy(&a, table, sizeof(a));
	for (size_t i = 0; i < *n; i++)
		entry_release(a + i * size);
	mem_free(a);
	a = NULL;
	memcpy(table, &a, sizeof(a));
	*n = 0;
}

/* An entry of a tenant map (tenants:, store.tenants:): it starts with char *tenant. */
static void tenant_entry_release(void *entry)
{
	char *tenant;

	memcpy(&tenant, entry, sizeof(tenant));
	mem_free(tenant);
}

static void config_store_release(struct config *c);
static void config_decoders_release(struct config *c);
static void config_leef_release(struct config *c);
static void config_pollers_release(struct config *c);
static void config_detect_release(struct config *c);
static void config_logsources_release(struct config *c);
static void config_ti_release(struct config *c);
static void config_edl_release(struct config *c);
static void config_sla_release(struct config *c);
static void config_soc_engine_release(struct config *c);
static void config_soc_levels_release(struct config *c);
static void config_notify_release(struct config *c);

void config_release(struct config *c)
{
	mem_free(c->path);
	mem_free(c->data_dir);
	mem_free(c->timezone);
	mem_free(c->admin_address);
	for (size_t i = 0; i < c->n_listeners; i++)
		listener_release(&c->listeners[i]);
	mem_free(c->tls_cert);
	mem_free(c->tls_key);
	mem_free(c->tls_ca);
	mem_free(c->api_listen);
	mem_free(c->api_tls_cert);
	mem_free(c->api_tls_key);
	release_entries(&c->limits, &c->n_limits, sizeof(*c->limits), tenant_entry_release);
	config_store_release(c);
	config_decoders_release(c);
	config_pollers_release(c);
	config_logsources_release(c);
	mem_free(c->keys_master);
	mem_free(c->keys_signing);
	mem_free(c->soc_report_templates);
	config_notify_release(c);
	config_leef_release(c);
	config_detect_release(c);
	config_sla_release(c);
	config_ti_release(c);
	config_edl_release(c);
	config_soc_engine_release(c);
	mem_free(c->soc_triage_rules);
	config_soc_levels_release(c);
	memset(c, 0, sizeof(*c));
}

static int add_listener(struct config *c, enum listener_proto proto, const char *name,
			const char *address)
{
	struct config_listener *l;

	if (c->n_listeners >= CONFIG_MAX_LISTENERS)
		return -ENOSPC;
	l = &c->listeners[c->n_listeners];
	l->proto = proto;
	l->name = mem_strdup(name);
	l->address = mem_strdup(address);
	if (!l->name || !l->address) {
		listener_release(l);
		return -ENOMEM;
	}
	c->n_listeners++;
	return 0;
}

/* Replaces c's listeners by copies of running's (bound sockets stay until a restart). */
static int keep_listeners(struct config *c, const struct config *running)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		listener_release(&c->listeners[i]);
	c->n_listeners = 0;
	for (size_t i = 0; i < running->n_listeners; i++) {
		const struct config_listener *l = &running->listeners[i];

		if (add_listener(c, l->proto, l->name, l->address))
			return -ENOMEM;
		c->listeners[i].line = l->line;
	}
	return 0;
}

static void config_store_defaults(struct config *c);
static void config_alerts_defaults(struct config *c);
static void config_soc_triage_defaults(struct config *c);
static void config_decoders_defaults(struct config *c);
uint32_t config_ti_retrohunt_days(const struct config *c, const char *source)
{
	for (size_t i = 0; source && i < c->n_ti_feeds; i++)
		if (!strcmp(c->ti_feeds[i].name, source) && c->ti_feeds[i].retrohunt_days >= 0)
			return (uint32_t)c->ti_feeds[i].retrohunt_days;
	return c->ti_retrohunt_days;
}

static void config_ti_defaults(struct config *c);
static void config_sla_defaults(struct config *c);
static void config_soc_engine_defaults(struct config *c);
static void config_notify_defaults(struct config *c);

int config_defaults(struct config *c, struct err *e)
{
	memset(c, 0, sizeof(*c));
	c->log_level = LOG_LEVEL_INFO;
	c->workers = 0;
	c->max_message_size = 65536;
	c->udp_rcvbuf = 8 << 20;
	c->tcp_max_connections = 1024;
	c->tcp_idle_timeout = 0;
	c->tcp_max_per_address = 64;
	c->tcp_max_per_listener = 0;
	c->tcp_frame_timeout = 30;
	c->tcp_frame_memory = (size_t)256 << 20;
	c->queue_capacity = 65536;
	c->queue_max_bytes = (size_t)64 << 20;
	c->queue_quantum = 64;
	c->default_eps = 0;
	c->output_file = 0;
	c->api_ingest_max_bytes = (size_t)16 << 20;
	config_store_defaults(c);
	config_alerts_defaults(c);
	config_soc_triage_defaults(c);
	config_decoders_defaults(c);
	config_ti_defaults(c);
	config_sla_defaults(c);
	config_soc_engine_defaults(c);
	config_notify_defaults(c);
	c->data_dir = mem_strdup("./var");
	c->timezone = mem_strdup("local");
	c->clock_skew_max = 7200;
	c->detect_lateness = 300;
	c->detect_max_groups = 100000;
	c->detect_max_events = 1000000;
	c->detect_travel_speed = 900;
	c->detect_travel_distance = 500;
	c->admin_address = mem_strdup("127.0.0.1:8514");
	c->leef_delimiter = mem_strdup("auto");
	if (!c->data_dir || !c->timezone || !c->admin_address || !c->leef_delimiter ||
	    add_listener(c, LISTENER_UDP, "udp", "127.0.0.1:5514") < 0 ||
	    add_listener(c, LISTENER_TCP, "tcp", "127.0.0.1:5514") < 0) {
		config_release(c);
		return err_set(e, -ENOMEM, "out of memory building the default configuration");
	}
	return 0;
}

/* ---------------------------------------------------------------- addresses */

#define ADDRESS_FORMS "HOST:PORT with HOST an IPv4 address or localhost, or [IPV6]:PORT"

static int check_address(const char *s, struct err *e)
{
	struct sockaddr_storage ss;
	unsigned len;

	return ipaddr_parse_endpoint(s, &ss, &len, e);
}

/* ---------------------------------------------------------------- overrides */

int config_set_listener(struct config *c, enum listener_proto proto, const char *address,
			struct err *e)
{
	const char *name = config_proto_name(proto);
	struct config_listener l = { NULL, proto, NULL, 0 };
	size_t kept = 0;

	if ((unsigned)proto >= ARRAY_SIZE(proto_names))
		return err_set(e, -EINVAL, "unknown listener protocol %d", (int)proto);
	if (check_address(address, e) < 0)
		return -EINVAL;
	if (config_proto_tls(proto) && (!c->tls_cert || !c->tls_key))
		return err_set(e, -EINVAL, "a %s listener needs syslog.tls.cert and "
			       "syslog.tls.key in the configuration", name);
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].proto == proto)
			continue;
		if (!strcmp(c->listeners[i].name, name))
			return err_set(e, -EINVAL, "cannot add a %s listener named '%s': a %s "
				       "listener already has that name", name, name,
				       config_proto_name(c->listeners[i].proto));
		kept++;
	}
	if (kept >= CONFIG_MAX_LISTENERS)
		return err_set(e, -EINVAL, "too many listeners (at most %d)",
			       CONFIG_MAX_LISTENERS);
	l.name = mem_strdup(name);
	l.address = mem_strdup(address);
	if (!l.name || !l.address) {
		listener_release(&l);
		return err_set(e, -ENOMEM, "out of memory");
	}
	kept = 0;
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].proto == proto)
			listener_release(&c->listeners[i]);
		else
			c->listeners[kept++] = c->listeners[i];
	}
	c->listeners[kept++] = l;
	c->n_listeners = kept;
	return 0;
}

/* Replaces *slot with a copy of address once it is a valid HOST:PORT. */
static int set_address(char **slot, const char *address, struct err *e)
{
	char *copy;

	if (check_address(address, e) < 0)
		return -EINVAL;
	copy = mem_strdup(address);
	if (!copy)
		return err_set(e, -ENOMEM, "out of memory");
	mem_free(*slot);
	*slot = copy;
	return 0;
}

int config_set_admin(struct config *c, const char *address, struct err *e)
{
	return set_address(&c->admin_address, address, e);
}

int config_set_api(struct config *c, const char *address, struct err *e)
{
	return set_address(&c->api_listen, address, e);
}

uint32_t config_tenant_eps(const struct config *c, const char *tenant)
{
	for (size_t i = 0; i < c->n_limits; i++)
		if (!strcmp(c->limits[i].tenant, tenant))
			return c->limits[i].eps;
	return c->default_eps;
}

/* ---------------------------------------------------------------- YAML walking */

struct parse {
	yaml_parser_t yp;
	yaml_event_t ev;         /* the current event, owned while have_ev */
	bool have_ev;
	const char *name;        /* file name for messages */
	struct config *c;
	struct err *e;
	size_t listener_line[CONFIG_MAX_LISTENERS];
	size_t key_line;         /* line of the key whose value is being parsed */
	size_t tls_line;         /* line of the syslog.tls key */
	size_t max_bytes_line;   /* 0: queues.max_bytes not set */
};

struct key;
typedef int (*key_parser)(struct parse *p, const struct key *k, void *target,
			  const char *path);

/* One known key: its handler and where (and within which limits) the value goes. */
struct key {
	const char *name;
	key_parser parse;
	size_t off;                 /* offset of the field in the target struct */
	size_t size;                /* integers: sizeof the field */
	uint64_t min, max;          /* integers: accepted range */
	const struct section *sub;  /* nested sections */
	bool required;
	bool live;                  /* a reload (SIGHUP) applies it to the running daemon */
	/* lists: equality and text for reload messages (scalars go by their parser) */
	bool (*same)(const struct config *a, const struct config *b);
	void (*show)(const struct config *c, char *out, size_t size);
	/* lists that need a restart: copies running's value into next (0 or -ENOMEM) */
	int (*keep)(struct config *next, const struct config *running);
};

struct section {
	const struct key *keys;
	size_t n;
};

static size_t line_of(const yaml_mark_t *m)
{
	return m->line + 1;
}

static int fail_line(struct parse *p, size_t line, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int fail_line(struct parse *p, size_t line, const char *fmt, ...)
{
	char what[sizeof(p->e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(p->e, -EINVAL, "%s:%zu: %s", p->name, line, what);
}

#define fail_here(p, ...) fail_line((p), line_of(&(p)->ev.start_mark), __VA_ARGS__)

/* Copies user text for a message: at most 64 bytes, control and non-ASCII bytes as '?'. */
static const char *shown(const char *s, size_t len, char out[72])
{
	size_t n = MIN(len, 64);

	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static int syntax_error(struct parse *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "unknown problem";

	if (yp->error == YAML_MEMORY_ERROR)
		return err_set(p->e, -ENOMEM, "%s: out of memory reading YAML", p->name);
	if (yp->error == YAML_READER_ERROR)
		return err_set(p->e, -EINVAL, "%s: not valid UTF-8 text at byte %zu: %s", p->name,
			       yp->problem_offset, problem);
	if (yp->context)
		return err_set(p->e, -EINVAL, "%s:%zu:%zu: YAML syntax error: %s %s started on "
			       "line %zu", p->name, line_of(&yp->problem_mark),
			       yp->problem_mark.column + 1, problem, yp->context,
			       line_of(&yp->context_mark));
	return err_set(p->e, -EINVAL, "%s:%zu:%zu: YAML syntax error: %s", p->name,
		       line_of(&yp->problem_mark), yp->problem_mark.column + 1, problem);
}

/* Replaces the current event with the next one; refuses aliases. */
static int next_event(struct parse *p)
{
	if (p->have_ev)
		yaml_event_delete(&p->ev);
	p->have_ev = false;
	if (!yaml_parser_parse(&p->yp, &p->ev))
		return syntax_error(p);
	p->have_ev = true;
	if (p->ev.type == YAML_ALIAS_EVENT) {
		const char *anchor = (const char *)p->ev.data.alias.anchor;
		char tmp[72];

		return fail_here(p, "aliases (*%s) are not supported",
				 shown(anchor, strlen(anchor), tmp));
	}
	return 0;
}

static const char *scalar(const struct parse *p, size_t *len)
{
	*len = p->ev.data.scalar.length;
	return (const char *)p->ev.data.scalar.value;
}

/* An empty plain value, "~" or "null": YAML's null. */
static bool is_null(const struct parse *p)
{
	size_t len;
	const char *s;

	if (p->ev.type != YAML_SCALAR_EVENT || !p->ev.data.scalar.plain_implicit)
		return false;
	s = scalar(p, &len);
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
			     !memcmp(s, "NULL", 4)));
}

/* "got 'x'", "got a mapping" or "got a list": what the file holds instead. */
static const char *describe_value(const struct parse *p, char out[80])
{
	char tmp[72];
	size_t len;
	const char *s;

	if (p->ev.type == YAML_MAPPING_START_EVENT)
		return "got a mapping";
	if (p->ev.type != YAML_SCALAR_EVENT)
		return "got a list";
	s = scalar(p, &len);
	snprintf(out, 80, "got '%s'", shown(s, len, tmp));
	return out;
}

static int expected(struct parse *p, const char *path, const char *what)
{
	char value[80];

	return fail_here(p, "%s: expected %s, %s", path, what, describe_value(p, value));
}

static int unknown_key(struct parse *p, const struct section *s, const char *path)
{
	char list[256] = "", tmp[72];
	size_t used = 0, len;
	const char *k = scalar(p, &len);

	for (size_t i = 0; i < s->n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 s->keys[i].name);
	return fail_here(p, "unknown key '%s' in '%s' (expected one of: %s)%s",
			 shown(k, len, tmp), path, list,
			 len == 7 && !memcmp(k, "tenants", 7)
				 ? "; tenants and sources are kept in the data directory, not here: "
				   "`koban tenant import FILE` loads them from a file of their own "
				   "(docs/tenants.md)"
				 : "");
}

static void key_path(char out[KEY_PATH_MAX], const char *section, const char *key)
{
	if (!strcmp(section, "top level"))
		snprintf(out, KEY_PATH_MAX, "%s", key);
	else
		snprintf(out, KEY_PATH_MAX, "%s.%s", section, key);
}

static const struct key *find_key(const struct section *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->keys[i].name) == len && !memcmp(s->keys[i].name, name, len))
			return &s->keys[i];
	return NULL;
}

/* Remembers where the keys config_check() reports on are set. */
static void note_line(struct parse *p, const char *path)
{
	static const struct { const char *key; size_t off; } noted[] = {
		{ "data_dir", offsetof(struct config_lines, data_dir) },
		{ "admin.listen", offsetof(struct config_lines, admin) },
		{ "syslog.listeners", offsetof(struct config_lines, listeners) },
		{ "syslog.tls.cert", offsetof(struct config_lines, tls_cert) },
		{ "syslog.tls.key", offsetof(struct config_lines, tls_key) },
		{ "syslog.tls.client_ca", offsetof(struct config_lines, tls_ca) },
		{ "keys.master", offsetof(struct config_lines, keys_master) },
		{ "keys.signing", offsetof(struct config_lines, keys_signing) },
		{ "api.listen", offsetof(struct config_lines, api) },
		{ "api.tls.cert", offsetof(struct config_lines, api_tls_cert) },
		{ "api.tls.key", offsetof(struct config_lines, api_tls_key) },
	};
	unsigned line = (unsigned)p->key_line;

	for (size_t i = 0; i < ARRAY_SIZE(noted); i++)
		if (!strcmp(path, noted[i].key))
			memcpy((char *)&p->c->line + noted[i].off, &line, sizeof(line));
}

/*
 * Walks the mapping that starts at the current event, calling each key's handler;
 * leaves the MAPPING_END (or the null scalar) as current event. *line gets the line
 * where the mapping starts, for checks made after the walk.
 */
static int walk_section(struct parse *p, const struct section *s, void *target,
			const char *path, size_t *line)
{
	size_t start = line_of(&p->ev.start_mark);
	uint64_t seen = 0;
	char sub[KEY_PATH_MAX];
	int rc = 0;

	if (line)
		*line = start;
	if (!is_null(p)) {
		if (p->ev.type != YAML_MAPPING_START_EVENT)
			return expected(p, path, "a mapping of keys to values");
		while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
			const struct key *k;
			const char *name;
			uint64_t bit;
			size_t len;

			if (p->ev.type != YAML_SCALAR_EVENT)
				return fail_here(p, "a key in '%s' is a mapping or list", path);
			name = scalar(p, &len);
			k = find_key(s, name, len);
			if (!k)
				return unknown_key(p, s, path);
			bit = UINT64_C(1) << (k - s->keys);
			if (seen & bit)
				return fail_here(p, "duplicate key '%s' in '%s'", k->name, path);
			seen |= bit;
			key_path(sub, path, k->name);
			p->key_line = line_of(&p->ev.start_mark);
			note_line(p, sub);
			if ((rc = next_event(p)) < 0 || (rc = k->parse(p, k, target, sub)) < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->keys[i].required && !(seen & (UINT64_C(1) << i)))
			return fail_line(p, start, "'%s' is missing the required key '%s'", path,
					 s->keys[i].name);
	return 0;
}

static int parse_section(struct parse *p, const struct key *k, void *target, const char *path)
{
	return walk_section(p, k->sub, target, path, NULL);
}

static int parse_uint(struct parse *p, const struct key *k, void *target, const char *path)
{
	char what[96];
	uint64_t v = 0;
	size_t len;
	const char *s;
	bool ok;

	snprintf(what, sizeof(what), "an integer from %llu to %llu", (unsigned long long)k->min,
		 (unsigned long long)k->max);
	if (p->ev.type != YAML_SCALAR_EVENT)
		return expected(p, path, what);
	s = scalar(p, &len);
	ok = len > 0 && len <= 19;
	for (size_t i = 0; ok && i < len; i++) {
		ok = s[i] >= '0' && s[i] <= '9';
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!ok || v < k->min || v > k->max)
		return expected(p, path, what);
	if (k->size == sizeof(uint32_t)) {
		uint32_t v32 = (uint32_t)v;

		memcpy((char *)target + k->off, &v32, sizeof(v32));
	} else {
		memcpy((char *)target + k->off, &v, sizeof(v));
	}
	return 0;
}

static int parse_bool(struct parse *p, const struct key *k, void *target, const char *path)
{
	size_t len;
	const char *s;
	int v = -1;

	if (p->ev.type == YAML_SCALAR_EVENT) {
		s = scalar(p, &len);
		if (len == 4 && !memcmp(s, "true", 4))
			v = 1;
		else if (len == 5 && !memcmp(s, "false", 5))
			v = 0;
	}
	if (v < 0)
		return expected(p, path, "true or false");
	memcpy((char *)target + k->off, &v, sizeof(v));
	return 0;
}

static bool has_control_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* A non-empty scalar without control characters, at most CONFIG_STRING_MAX bytes; copied. */
static int take_string(struct parse *p, const char *path, const char *what, char **out)
{
	size_t len;
	const char *s;

	if (p->ev.type != YAML_SCALAR_EVENT || is_null(p))
		return expected(p, path, what);
	s = scalar(p, &len);
	if (len == 0 || len > CONFIG_STRING_MAX || has_control_chars(s, len))
		return expected(p, path, what);
	*out = mem_strndup(s, len);
	if (!*out)
		return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
	return 0;
}

static int replace_string(char **field, char *value)
{
	mem_free(*field);
	*field = value;
	return 0;
}

/*
 * take_string() for a value that valid(v, strlen(v)) must accept, else "expected what".
 * On 0, *out is a copy the caller owns (mem_free); on an error nothing is left to free.
 */
static int take_valid(struct parse *p, const char *path, const char *what,
		      bool (*valid)(const char *s, size_t len), char **out)
{
	int rc = take_string(p, path, what, out);

	if (rc < 0)
		return rc;
	if (!valid(*out, strlen(*out))) {
		mem_free(*out);
		*out = NULL;
		return expected(p, path, what);
	}
	return 0;
}

/*
 * The key of a new entry in a mapping of names (tenants:, pollers:, the LEEF and JSON
 * sources): a scalar that is a name of kind ("tenant", "source", ...), not one of the n
 * entries already in table (each size bytes, with its char * name at name_off), and fewer
 * than max entries so far. On 0, *name and *len are the key, which lives in the current
 * event (copy it before the next one). Allocates nothing.
 */
static int take_entry_name(struct parse *p, const char *path, const char *kind,
			   const void *table, size_t n, size_t size, size_t name_off, unsigned max,
			   const char **name, size_t *len)
{
	char tmp[72];
	const char *s;

	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail_here(p, "a key in '%s' is a mapping or list", path);
	s = scalar(p, len);
	if (!name_valid(s, *len, NAME_TENANT_MAX))
		return fail_here(p, "%s: '%s' is not a %s name (1 to 63 characters from "
				 "a-z, 0-9, '_' and '-')", path, shown(s, *len, tmp), kind);
	for (size_t i = 0; i < n; i++) {
		const char *old;

		memcpy(&old, (const char *)table + i * size + name_off, sizeof(old));
		if (strlen(old) == *len && !memcmp(old, s, *len))
			return fail_here(p, "duplicate %s '%s' in '%s'", kind, old, path);
	}
	if (n >= max)
		return fail_here(p, "%s: too many %ss (at most %u)", path, kind, max);
	*name = s;
	return 0;
}

/*
 * Appends the entry named by the current (key) event to the array of a mapping of names
 * (tenants:, store.tenants:, pollers:, the JSON maps, logsources:): take_entry_name()'s
 * checks, then the array *table (the address of the array's pointer, of any entry type;
 * *n entries of size bytes) grown by one and the new entry zeroed, its unsigned line (at
 * line_off) set to the key's line, counted in *n at once (from then on the config's
 * release frees it, name or not), and the key copied into its char * name (at name_off).
 * Memory: the array and the name belong to the config; *entry points into the array,
 * valid until it grows again. Threads: the one parsing the config.
 */
static int add_entry(struct parse *p, const char *path, const char *kind, void *table,
		     size_t *n, size_t size, size_t name_off, size_t line_off, unsigned max,
		     void **entry)
{
	unsigned line = (unsigned)line_of(&p->ev.start_mark);
	char *a, *at, *name;
	const char *s;
	size_t len;
	int rc;

	/* the pointer has the entry's struct type: copied, not accessed as char * */
	memcpy(&a, table, sizeof(a));
	if ((rc = take_entry_name(p, path, kind, a, *n, size, name_off, max, &s, &len)) < 0)
		return rc;
	if (!(a = mem_realloc(a, (*n + 1) * size)))
		return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
	memcpy(table, &a, sizeof(a));
	at = memset(a + *n * size, 0, size);
	memcpy(at + line_off, &line, sizeof(line));
	(*n)++;
	*entry = at;
	if (!(name = mem_strndup(s, len)))
		return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
	memcpy(at + name_off, &name, sizeof(name));
	return 0;
}

static int parse_path(struct parse *p, const struct key *k, void *target, const char *path)
{
	char *v;
	int rc = take_string(p, path, "a file or directory path", &v);

	return rc < 0 ? rc : replace_string((char **)((char *)target + k->off), v);
}

static int parse_address(struct parse *p, const struct key *k, void *target, const char *path)
{
	struct err why = ERR_INIT;
	char *v;
	int rc = take_string(p, path, ADDRESS_FORMS, &v);

	if (rc < 0)
		return rc;
	if (check_address(v, &why) < 0) {
		mem_free(v);
		return fail_here(p, "%s: %s", path, why.msg);
	}
	return replace_string((char **)((char *)target + k->off), v);
}

static int parse_log_level(struct parse *p, const struct key *k, void *target,
			   const char *path)
{
	size_t len;
	int level = -1;

	if (p->ev.type == YAML_SCALAR_EVENT) {
		const char *s = scalar(p, &len);

		level = log_level_parse(s, len);
	}
	if (level < 0)
		return expected(p, path, "one of error, warn, info, debug");
	((struct config *)target)->log_level = (enum log_level)level;
	return 0;
}

static int parse_timezone(struct parse *p, const struct key *k, void *target,
			  const char *path)
{
	char *v;
	int rc = take_valid(p, path, "an IANA time zone name such as Asia/Tokyo or UTC",
			    name_zone_valid, &v);

	if (rc < 0)
		return rc;
	/* a zone this machine cannot load is an error here, not a warning at start-up */
	if (!tz_get(v, strlen(v), NULL)) {
		mem_free(v);
		return expected(p, path, "a time zone installed under /usr/share/zoneinfo (tzdata)");
	}
	return replace_string((char **)((char *)target + k->off), v);
}

static bool listener_name_valid(const char *s, size_t len)
{
	return name_valid(s, len, NAME_LISTENER_MAX);
}

static int parse_listener_name(struct parse *p, const struct key *k, void *target,
			       const char *path)
{
	char *v;
	int rc = take_valid(p, path, "a name of 1 to 32 characters from a-z, 0-9, '_' and '-'",
			    listener_name_valid, &v);

	return rc < 0 ? rc : replace_string(&((struct config_listener *)target)->name, v);
}

static int parse_protocol(struct parse *p, const struct key *k, void *target, const char *path)
{
	size_t len;
	int proto = -1;

	if (p->ev.type == YAML_SCALAR_EVENT) {
		const char *s = scalar(p, &len);

		proto = proto_parse(s, len);
	}
	if (proto < 0)
		return expected(p, path, "one of udp, tcp, tls, relp, relp-tls");
	((struct config_listener *)target)->proto = (enum listener_proto)proto;
	return 0;
}

static const struct key listener_keys[] = {
	{ .name = "name", .parse = parse_listener_name },
	{ .name = "protocol", .parse = parse_protocol, .required = true },
	{ .name = "listen", .parse = parse_address, .required = true,
	  .off = offsetof(struct config_listener, address) },
};
static const struct section listener_section = { listener_keys, ARRAY_SIZE(listener_keys) };

/* Fills in the default name and checks it is unique among the listeners before it. */
static int finish_listener(struct parse *p, size_t i, const char *path)
{
	struct config_listener *l = &p->c->listeners[i];

	if (!l->name) {
		l->name = mem_strdup(config_proto_name(l->proto));
		if (!l->name)
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
	}
	for (size_t j = 0; j < i; j++)
		if (!strcmp(p->c->listeners[j].name, l->name))
			return fail_line(p, p->listener_line[i],
					 "%s: listener name '%s' is already used on line %zu "
					 "(give each listener a distinct 'name')", path, l->name,
					 p->listener_line[j]);
	return 0;
}

static int parse_listeners(struct parse *p, const struct key *k, void *target,
			   const char *path)
{
	struct config *c = target;
	char item[KEY_PATH_MAX];
	int rc;

	for (size_t i = 0; i < c->n_listeners; i++)
		listener_release(&c->listeners[i]);
	c->n_listeners = 0;
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return expected(p, path, "a list of listeners");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		size_t i = c->n_listeners;

		snprintf(item, sizeof(item), "%s[%zu]", path, i);
		if (i >= CONFIG_MAX_LISTENERS)
			return fail_here(p, "%s: too many listeners (at most %d)", path,
					 CONFIG_MAX_LISTENERS);
		memset(&c->listeners[i], 0, sizeof(c->listeners[i]));
		c->n_listeners++; /* from here on config_release frees the entry */
		rc = walk_section(p, &listener_section, &c->listeners[i], item,
				  &p->listener_line[i]);
		c->listeners[i].line = (unsigned)p->listener_line[i];
		if (rc < 0 || (rc = finish_listener(p, i, item)) < 0)
			return rc;
	}
	return rc;
}

static const struct key tenant_keys[] = {
	{ .name = "eps", .parse = parse_uint, .required = true, .min = 0, .max = UINT32_MAX,
	  .off = offsetof(struct config_tenant_limit, eps), .size = sizeof(uint32_t) },
};
static const struct section tenant_section = { tenant_keys, ARRAY_SIZE(tenant_keys) };

/*
 * A mapping of tenant names to settings (tenants:, store.tenants:), kept in struct config
 * as an array of entries of `size` bytes that start with `char *tenant` and have the
 * line naming the tenant at line_off.
 */
struct tenant_map {
	size_t table_off, count_off; /* in struct config: the array and its size_t count */
	size_t size, line_off;
	const struct section *section; /* an entry's keys */
	const char *expect;            /* what the value must be, for the error message */
	void (*init)(void *entry);     /* defaults of a new (zeroed) entry, or NULL */
};

/* Appends an entry named by the current (key) event; refuses bad and repeated names. */
static int tenant_map_add(struct parse *p, const struct tenant_map *m, const char *path,
			  char **entry)
{
	void *t;
	int rc = add_entry(p, path, "tenant", (char *)p->c + m->table_off,
			   (size_t *)((char *)p->c + m->count_off), m->size, 0, m->line_off,
			   CONFIG_MAX_TENANT_LIMITS, &t);

	if (rc < 0)
		return rc;
	if (m->init)
		m->init(t);
	*entry = t;
	return 0;
}

static int parse_tenant_map(struct parse *p, const struct tenant_map *m, const char *path)
{
	char item[KEY_PATH_MAX];
	int rc;

	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, m->expect);
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		char *t = NULL;

		if ((rc = tenant_map_add(p, m, path, &t)) < 0 || (rc = next_event(p)) < 0)
			return rc;
		snprintf(item, sizeof(item), "%s.%s", path, *(char **)t);
		if ((rc = walk_section(p, m->section, t, item, NULL)) < 0)
			return rc;
	}
	return rc;
}

_Static_assert(offsetof(struct config_tenant_limit, tenant) == 0 &&
		       offsetof(struct config_store_tenant, tenant) == 0,
	       "tenant maps' entries start with the name");

static const struct tenant_map tenant_limits_map = {
	offsetof(struct config, limits), offsetof(struct config, n_limits),
	sizeof(struct config_tenant_limit), offsetof(struct config_tenant_limit, line),
	&tenant_section, "a mapping of tenant names to limits", NULL,
};

static int parse_tenants(struct parse *p, const struct key *k, void *target, const char *path)
{
	return parse_tenant_map(p, &tenant_limits_map, path);
}

static int parse_tls(struct parse *p, const struct key *k, void *target, const char *path)
{
	p->tls_line = p->key_line;
	return walk_section(p, k->sub, target, path, NULL);
}

static int parse_max_bytes(struct parse *p, const struct key *k, void *target,
			   const char *path)
{
	p->max_bytes_line = line_of(&p->ev.start_mark);
	return parse_uint(p, k, target, path);
}

/* ---------------------------------------------------------------- lists shown in reloads */

static bool listeners_same(const struct config *a, const struct config *b)
{
	if (a->n_listeners != b->n_listeners)
		return false;
	for (size_t i = 0; i < a->n_listeners; i++)
		if (a->listeners[i].proto != b->listeners[i].proto ||
		    strcmp(a->listeners[i].name, b->listeners[i].name) ||
		    strcmp(a->listeners[i].address, b->listeners[i].address))
			return false;
	return true;
}

static void listeners_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_listeners && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s %s %s", i ? ", " : "",
					 c->listeners[i].name,
					 config_proto_name(c->listeners[i].proto),
					 c->listeners[i].address);
	if (!c->n_listeners)
		snprintf(out, size, "none");
}

static bool limits_same(const struct config *a, const struct config *b)
{
	if (a->n_limits != b->n_limits)
		return false;
	for (size_t i = 0; i < a->n_limits; i++)
		if (a->limits[i].eps != b->limits[i].eps ||
		    strcmp(a->limits[i].tenant, b->limits[i].tenant))
			return false;
	return true;
}

static void limits_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_limits && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s: %u", i ? ", " : "",
					 c->limits[i].tenant, (unsigned)c->limits[i].eps);
	if (!c->n_limits)
		snprintf(out, size, "none");
}

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static void log_level_show(const struct config *c, char *out, size_t size)
{
	snprintf(out, size, "%s", (unsigned)c->log_level < ARRAY_SIZE(level_names) ?
		 level_names[c->log_level] : "?");
}

#define UINT_KEY(n, field, lo, hi)                                                      \
	{ .name = n, .parse = parse_uint, .off = offsetof(struct config, field),        \
	  .size = sizeof(((struct config *)0)->field), .min = lo, .max = hi }
#define SECTION_KEY(n, handler, keys)                                                   \
	{ .name = n, .parse = handler, .sub = &(const struct section){ keys, ARRAY_SIZE(keys) } }

static const struct key admin_keys[] = {
	{ .name = "listen", .parse = parse_address, .off = offsetof(struct config, admin_address) },
};

/* api: the API listener (portal/api.h) */
static const struct key api_tls_keys[] = {
	{ .name = "cert", .parse = parse_path, .off = offsetof(struct config, api_tls_cert) },
	{ .name = "key", .parse = parse_path, .off = offsetof(struct config, api_tls_key) },
};

static const struct key api_keys[] = {
	{ .name = "listen", .parse = parse_address, .off = offsetof(struct config, api_listen) },
	SECTION_KEY("tls", parse_section, api_tls_keys),
	/* HTTP ingest (portal/ingest.h): read at start */
	{ .name = "ingest_max_bytes", .parse = parse_uint,
	  .off = offsetof(struct config, api_ingest_max_bytes),
	  .size = sizeof(size_t), .min = 1024, .max = UINT64_C(1) << 30 },
};

static const struct key tls_keys[] = {
	{ .name = "cert", .parse = parse_path, .off = offsetof(struct config, tls_cert) },
	{ .name = "key", .parse = parse_path, .off = offsetof(struct config, tls_key) },
	{ .name = "client_ca", .parse = parse_path, .off = offsetof(struct config, tls_ca) },
};

static const struct key syslog_keys[] = {
	UINT_KEY("max_message_size", max_message_size, 480, 16u << 20),
	UINT_KEY("udp_receive_buffer", udp_rcvbuf, 0, 1u << 30),
	UINT_KEY("tcp_max_connections", tcp_max_connections, 1, 1u << 20),
	UINT_KEY("tcp_idle_timeout", tcp_idle_timeout, 0, 7 * 86400),
	UINT_KEY("tcp_max_per_address", tcp_max_per_address, 0, 1u << 20),
	UINT_KEY("tcp_max_per_listener", tcp_max_per_listener, 0, 1u << 20),
	UINT_KEY("tcp_frame_timeout", tcp_frame_timeout, 0, 86400),
	{ .name = "tcp_frame_memory", .parse = parse_uint,
	  .off = offsetof(struct config, tcp_frame_memory),
	  .size = sizeof(size_t), .min = 1u << 20, .max = UINT64_C(1) << 40 },
	SECTION_KEY("tls", parse_tls, tls_keys),
	{ .name = "listeners", .parse = parse_listeners, .same = listeners_same,
	  .show = listeners_show },
};

static const struct key queue_keys[] = {
	UINT_KEY("capacity", queue_capacity, 1, 1u << 24),
	{ .name = "max_bytes", .parse = parse_max_bytes,
	  .off = offsetof(struct config, queue_max_bytes),
	  .size = sizeof(size_t), .min = 480, .max = UINT64_C(1) << 34 },
	UINT_KEY("quantum", queue_quantum, 1, 1u << 16),
};

static const struct key limit_keys[] = {
	{ .name = "default_eps", .parse = parse_uint, .live = true,
	  .off = offsetof(struct config, default_eps), .size = sizeof(uint32_t), .min = 0,
	  .max = UINT32_MAX },
	{ .name = "tenants", .parse = parse_tenants, .live = true, .same = limits_same,
	  .show = limits_show },
};

static const struct key output_keys[] = {
	{ .name = "file", .parse = parse_bool, .off = offsetof(struct config, output_file) },
};

/* ---------------------------------------------------------------- store section */

#define STORE_QUOTA_MAX (UINT64_C(1) << 60)  /* bytes; below the "inherit" sentinel */
#define STORE_RETENTION_MAX 36525u           /* days (100 years) */
#define STORE_COMMIT_INTERVAL_MAX 10000u     /* ms */
#define STORE_SEAL_THREADS_MAX 16u

static void config_store_defaults(struct config *c)
{
	c->store_commit_interval_ms = 50;
	c->store_quota = 0;
	c->store_retention_days = 1827;
}

static void config_store_release(struct config *c)
{
	release_entries(&c->store_tenants, &c->n_store_tenants, sizeof(*c->store_tenants),
			tenant_entry_release);
}

int config_store_tenant(const struct config *c, const char *tenant, uint64_t *quota,
			unsigned *retention_days)
{
	const struct config_store_tenant *t = NULL;

	for (size_t i = 0; i < c->n_store_tenants && !t; i++)
		if (!strcmp(c->store_tenants[i].tenant, tenant))
			t = &c->store_tenants[i];
	if (quota)
		*quota = t && t->quota != CONFIG_STORE_INHERIT_QUOTA ? t->quota : c->store_quota;
	if (retention_days)
		*retention_days = t && t->retention_days != CONFIG_STORE_INHERIT_RETENTION ?
				  t->retention_days : c->store_retention_days;
	return t ? 1 : 0;
}

static const struct key store_tenant_keys[] = {
	{ .name = "quota", .parse = parse_uint, .min = 0, .max = STORE_QUOTA_MAX,
	  .off = offsetof(struct config_store_tenant, quota), .size = sizeof(uint64_t) },
	{ .name = "retention_days", .parse = parse_uint, .min = 0, .max = STORE_RETENTION_MAX,
	  .off = offsetof(struct config_store_tenant, retention_days), .size = sizeof(uint32_t) },
};
static const struct section store_tenant_section = { store_tenant_keys,
						     ARRAY_SIZE(store_tenant_keys) };

static void store_tenant_init(void *entry)
{
	struct config_store_tenant *t = entry;

	t->quota = CONFIG_STORE_INHERIT_QUOTA;
	t->retention_days = CONFIG_STORE_INHERIT_RETENTION;
}

static const struct tenant_map store_tenants_map = {
	offsetof(struct config, store_tenants), offsetof(struct config, n_store_tenants),
	sizeof(struct config_store_tenant), offsetof(struct config_store_tenant, line),
	&store_tenant_section, "a mapping of tenant names to store settings", store_tenant_init,
};

static int parse_store_tenants(struct parse *p, const struct key *k, void *target,
			       const char *path)
{
	config_store_release(p->c); /* a later value replaces the defaults */
	return parse_tenant_map(p, &store_tenants_map, path);
}

static bool store_tenants_same(const struct config *a, const struct config *b)
{
	if (a->n_store_tenants != b->n_store_tenants)
		return false;
	for (size_t i = 0; i < a->n_store_tenants; i++)
		if (a->store_tenants[i].quota != b->store_tenants[i].quota ||
		    a->store_tenants[i].retention_days != b->store_tenants[i].retention_days ||
		    strcmp(a->store_tenants[i].tenant, b->store_tenants[i].tenant))
			return false;
	return true;
}

static void store_tenants_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_store_tenants && used < size; i++) {
		const struct config_store_tenant *t = &c->store_tenants[i];
		char q[32] = "-", r[16] = "-";

		if (t->quota != CONFIG_STORE_INHERIT_QUOTA)
			snprintf(q, sizeof(q), "%llu", (unsigned long long)t->quota);
		if (t->retention_days != CONFIG_STORE_INHERIT_RETENTION)
			snprintf(r, sizeof(r), "%u", (unsigned)t->retention_days);
		used += (size_t)snprintf(out + used, size - used, "%s%s: quota %s retention_days %s",
					 i ? ", " : "", t->tenant, q, r);
	}
	if (!c->n_store_tenants)
		snprintf(out, size, "none");
}

/* commit_interval_ms and seal_threads need a restart; quotas and retention apply at a reload. */
static const struct key store_keys[] = {
	{ .name = "commit_interval_ms", .parse = parse_uint, .min = 1,
	  .max = STORE_COMMIT_INTERVAL_MAX, .off = offsetof(struct config, store_commit_interval_ms),
	  .size = sizeof(uint32_t) },
	{ .name = "seal_threads", .parse = parse_uint, .min = 0, .max = STORE_SEAL_THREADS_MAX,
	  .off = offsetof(struct config, store_seal_threads), .size = sizeof(uint32_t) },
	{ .name = "quota", .parse = parse_uint, .live = true, .min = 0, .max = STORE_QUOTA_MAX,
	  .off = offsetof(struct config, store_quota), .size = sizeof(uint64_t) },
	{ .name = "retention_days", .parse = parse_uint, .live = true, .min = 0,
	  .max = STORE_RETENTION_MAX, .off = offsetof(struct config, store_retention_days),
	  .size = sizeof(uint32_t) },
	{ .name = "tenants", .parse = parse_store_tenants, .live = true,
	  .same = store_tenants_same, .show = store_tenants_show },
};

/* ---------------------------------------------------------------- alerts section */

#define ALERTS_RETENTION_DEFAULT 90u  /* days: issue 8 asks for at least 90 */
#define ALERTS_RETENTION_MAX 36525u   /* days (100 years) */

static void config_alerts_defaults(struct config *c)
{
	c->alerts_retention_days = ALERTS_RETENTION_DEFAULT;
}

/* Applied by a reload: the alert sink reads the days at its next daily pass. */
static const struct key alerts_keys[] = {
	{ .name = "retention_days", .parse = parse_uint, .live = true, .min = 0,
	  .max = ALERTS_RETENTION_MAX, .off = offsetof(struct config, alerts_retention_days),
	  .size = sizeof(uint32_t) },
};

/* ---------------------------------------------------------------- soc.triage section */

#define SOC_TRIAGE_WINDOW_DEFAULT 86400u      /* seconds: a day of evidence after an alert */
#define SOC_TRIAGE_WINDOW_MAX (366u * 86400)

static void config_soc_triage_defaults(struct config *c)
{
	c->soc_triage_window = SOC_TRIAGE_WINDOW_DEFAULT;
}

/* Read at start: the SOC engine loads the rules once. */
static const struct key soc_triage_keys[] = {
	{ .name = "rules", .parse = parse_path, .off = offsetof(struct config, soc_triage_rules) },
	{ .name = "window", .parse = parse_uint, .min = 1, .max = SOC_TRIAGE_WINDOW_MAX,
	  .off = offsetof(struct config, soc_triage_window), .size = sizeof(uint32_t) },
};

/* ---------------------------------------------------------------- decoders section: leef */

/* decoders.leef: LEEF attribute delimiters (parse/leef.h checks their values at start). */
static void leef_source_release(void *entry)
{
	struct config_leef_source *t = entry;

	mem_free(t->source);
	mem_free(t->delimiter);
}

static void config_leef_release(struct config *c)
{
	mem_free(c->leef_delimiter);
	c->leef_delimiter = NULL;
	release_entries(&c->leef_sources, &c->n_leef_sources, sizeof(*c->leef_sources),
			leef_source_release);
}

#define LEEF_DELIMITER_WHAT "auto, tab, one character or its code (x09)"

static int parse_leef_delimiter(struct parse *p, const struct key *k, void *target,
				const char *path)
{
	char *v;
	int rc = take_string(p, path, LEEF_DELIMITER_WHAT, &v);

	if (rc < 0)
		return rc;
	p->c->leef_delimiter_line = (unsigned)p->key_line;
	return replace_string(&p->c->leef_delimiter, v);
}

/* Appends a copy of (source, delimiter, line); 0 or -ENOMEM. */
static int leef_source_add(struct config *c, const char *source, size_t len, const char *delim,
			   unsigned line)
{
	struct config_leef_source *grown, *t;

	grown = mem_realloc(c->leef_sources, (c->n_leef_sources + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	c->leef_sources = grown;
	t = &grown[c->n_leef_sources];
	t->source = mem_strndup(source, len);
	t->delimiter = mem_strdup(delim);
	t->line = line;
	if (!t->source || !t->delimiter) {
		mem_free(t->source);
		mem_free(t->delimiter);
		return -ENOMEM;
	}
	c->n_leef_sources++;
	return 0;
}

static int parse_leef_sources(struct parse *p, const struct key *k, void *target,
			      const char *path)
{
	struct config *c = p->c;
	char item[KEY_PATH_MAX];
	int rc;

	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of source names to delimiters");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		unsigned line = (unsigned)line_of(&p->ev.start_mark);
		const char *s;
		char *delim;
		size_t len;

		if ((rc = take_entry_name(p, path, "source", c->leef_sources, c->n_leef_sources,
					  sizeof(*c->leef_sources),
					  offsetof(struct config_leef_source, source),
					  CONFIG_MAX_TENANT_LIMITS, &s, &len)) < 0)
			return rc;
		snprintf(item, sizeof(item), "%s.%.*s", path, (int)len, s);
		/* s lives in the key event, which the next call replaces: copy the name first */
		if ((rc = leef_source_add(c, s, len, "", line)) < 0)
			return err_set(p->e, rc, "%s: out of memory", p->name);
		if ((rc = next_event(p)) < 0 || (rc = take_string(p, item, LEEF_DELIMITER_WHAT,
								   &delim)) < 0)
			return rc;
		mem_free(c->leef_sources[c->n_leef_sources - 1].delimiter);
		c->leef_sources[c->n_leef_sources - 1].delimiter = delim;
	}
	return rc;
}

static bool leef_sources_same(const struct config *a, const struct config *b)
{
	if (a->n_leef_sources != b->n_leef_sources)
		return false;
	for (size_t i = 0; i < a->n_leef_sources; i++)
		if (strcmp(a->leef_sources[i].source, b->leef_sources[i].source) ||
		    strcmp(a->leef_sources[i].delimiter, b->leef_sources[i].delimiter))
			return false;
	return true;
}

/* ---------------------------------------------------------------- pollers section */

/*
 * pollers: { NAME: { type: graph|loganalytics, tenant: T, ... } } (ingest/poll.h). Every
 * key needs a restart; a reload names a change and keeps the running pollers.
 */
#define POLLER_INTERVAL_MAX 86400u
#define POLLER_WINDOW_MAX (30u * 86400)   /* overlap, lag and lookback, seconds */
#define POLLER_PAGE_MAX 500000u           /* Log Analytics' own row limit */
#define POLLER_TIMEOUT_MAX 900u
#define POLLER_RESPONSE_MIN (64u << 10)
#define POLLER_RESPONSE_MAX (UINT64_C(1) << 30)

static const char *const poller_type_names[] = { "graph", "loganalytics" };

static void poller_release(void *entry)
{
	struct config_poller *t = entry;
	char **strings[] = { &t->name, &t->tenant, &t->directory, &t->client_id,
			     &t->client_secret_file, &t->login_url, &t->api_url, &t->scope,
			     &t->ca_file, &t->format, &t->workspace };

	for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
		mem_free(*strings[i]);
		*strings[i] = NULL;
	}
	for (size_t i = 0; i < t->n_tables; i++)
		mem_free(t->tables[i]);
	mem_free(t->tables);
	t->tables = NULL;
	t->n_tables = 0;
}

static void config_pollers_release(struct config *c)
{
	release_entries(&c->pollers, &c->n_pollers, sizeof(*c->pollers), poller_release);
}

static int parse_poller_type(struct parse *p, const struct key *k, void *target,
			     const char *path)
{
	size_t len;
	const char *s = p->ev.type == YAML_SCALAR_EVENT ? scalar(p, &len) : NULL;

	for (size_t i = 0; s && i < ARRAY_SIZE(poller_type_names); i++)
		if (strlen(poller_type_names[i]) == len && !memcmp(poller_type_names[i], s, len)) {
			((struct config_poller *)target)->type = (enum config_poller_type)i;
			return 0;
		}
	return expected(p, path, "graph or loganalytics");
}

static bool tenant_name_valid(const char *s, size_t len)
{
	return name_valid(s, len, NAME_TENANT_MAX);
}

static int parse_poller_tenant(struct parse *p, const struct key *k, void *target,
			       const char *path)
{
	char *v;
	int rc = take_valid(p, path, "a tenant name (1 to 63 characters from a-z, 0-9, '_' and "
			    "'-')", tenant_name_valid, &v);

	return rc < 0 ? rc : replace_string((char **)((char *)target + k->off), v);
}

/*
 * An https:// URL without spaces, query or fragment (the pollers send secrets and tokens to
 * it and append paths), kept without trailing slashes.
 */
static bool https_url_valid(const char *s, size_t len)
{
	return !strncmp(s, "https://", 8) && s[8] && !strpbrk(s, " \"\\<>?#");
}

static int parse_https_url(struct parse *p, const struct key *k, void *target,
			   const char *path)
{
	char *v;
	int rc = take_valid(p, path, "an https:// URL", https_url_valid, &v);

	if (rc < 0)
		return rc;
	for (size_t n = strlen(v); n > 9 && v[n - 1] == '/'; n--)
		v[n - 1] = '\0'; /* paths are appended to it */
	return replace_string((char **)((char *)target + k->off), v);
}

static bool word_valid(const char *s, size_t len)
{
	return !strpbrk(s, " \"'\\");
}

/* An identifier-like value: ids, scopes, format names (no spaces or quotes). */
static int parse_poller_word(struct parse *p, const struct key *k, void *target,
			     const char *path)
{
	char *v;
	int rc = take_valid(p, path, "a value without spaces or quotes", word_valid, &v);

	return rc < 0 ? rc : replace_string((char **)((char *)target + k->off), v);
}

/* A Log Analytics table name: letters, digits and '_' (it is put into KQL as is). */
static bool table_name_valid(const char *s, size_t len)
{
	if (!len || len > 128)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static void leef_sources_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	snprintf(out, size, "none");
	for (size_t i = 0; i < c->n_leef_sources && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s: %s", i ? ", " : "",
					 c->leef_sources[i].source, c->leef_sources[i].delimiter);
}

static bool leef_delimiter_same(const struct config *a, const struct config *b)
{
	return !strcmp(a->leef_delimiter, b->leef_delimiter);
}

static void leef_delimiter_show(const struct config *c, char *out, size_t size)
{
	snprintf(out, size, "%s", c->leef_delimiter);
}

/* decoders.leef is read once at start: a reload keeps the running values. */
static int keep_leef_delimiter(struct config *next, const struct config *running)
{
	char *d = mem_strdup(running->leef_delimiter);

	if (!d)
		return -ENOMEM;
	replace_string(&next->leef_delimiter, d);
	next->leef_delimiter_line = running->leef_delimiter_line;
	return 0;
}

static int keep_leef_sources(struct config *next, const struct config *running)
{
	release_entries(&next->leef_sources, &next->n_leef_sources,
			sizeof(*next->leef_sources), leef_source_release);
	for (size_t i = 0; i < running->n_leef_sources; i++) {
		const struct config_leef_source *s = &running->leef_sources[i];

		if (leef_source_add(next, s->source, strlen(s->source), s->delimiter, s->line) < 0)
			return -ENOMEM;
	}
	return 0;
}

static const struct key leef_keys[] = {
	{ .name = "delimiter", .parse = parse_leef_delimiter, .same = leef_delimiter_same,
	  .show = leef_delimiter_show, .keep = keep_leef_delimiter },
	{ .name = "sources", .parse = parse_leef_sources, .same = leef_sources_same,
	  .show = leef_sources_show, .keep = keep_leef_sources },
};

static int parse_poller_tables(struct parse *p, const struct key *k, void *target,
			       const char *path)
{
	const char *what = "a list of table names (letters, digits and '_')";
	struct config_poller *t = target;
	int rc;

	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return expected(p, path, what);
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		char **grown, *v;

		if (t->n_tables >= CONFIG_POLLER_MAX_TABLES)
			return fail_here(p, "%s: too many tables (at most %u)", path,
					 CONFIG_POLLER_MAX_TABLES);
		if ((rc = take_valid(p, path, what, table_name_valid, &v)) < 0)
			return rc;
		grown = mem_realloc(t->tables, (t->n_tables + 1) * sizeof(*t->tables));
		if (!grown) {
			mem_free(v);
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		}
		t->tables = grown;
		t->tables[t->n_tables++] = v;
	}
	return rc;
}

#define POLLER_UINT(n, field, lo, hi)                                                   \
	{ .name = n, .parse = parse_uint, .off = offsetof(struct config_poller, field),  \
	  .size = sizeof(((struct config_poller *)0)->field), .min = lo, .max = hi }
#define POLLER_STRING(n, handler, field, req)                                           \
	{ .name = n, .parse = handler, .off = offsetof(struct config_poller, field),     \
	  .required = req }

static const struct key poller_keys[] = {
	{ .name = "type", .parse = parse_poller_type, .required = true },
	POLLER_STRING("tenant", parse_poller_tenant, tenant, true),
	POLLER_STRING("directory", parse_poller_word, directory, true),
	POLLER_STRING("client_id", parse_poller_word, client_id, true),
	POLLER_STRING("client_secret_file", parse_path, client_secret_file, true),
	POLLER_STRING("login_url", parse_https_url, login_url, false),
	POLLER_STRING("api_url", parse_https_url, api_url, false),
	POLLER_STRING("scope", parse_poller_word, scope, false),
	POLLER_STRING("ca_file", parse_path, ca_file, false),
	POLLER_STRING("format", parse_poller_word, format, false),
	POLLER_STRING("workspace", parse_poller_word, workspace, false),
	{ .name = "tables", .parse = parse_poller_tables },
	POLLER_UINT("interval", interval, 1, POLLER_INTERVAL_MAX),
	POLLER_UINT("overlap", overlap, 0, POLLER_WINDOW_MAX),
	POLLER_UINT("lag", lag, 0, POLLER_WINDOW_MAX),
	POLLER_UINT("lookback", lookback, 0, POLLER_WINDOW_MAX),
	POLLER_UINT("page_size", page_size, 0, POLLER_PAGE_MAX),
	POLLER_UINT("timeout", timeout, 1, POLLER_TIMEOUT_MAX),
	POLLER_UINT("max_response_bytes", max_response, POLLER_RESPONSE_MIN, POLLER_RESPONSE_MAX),
	{ .name = "alerts", .parse = parse_bool, .off = offsetof(struct config_poller, alerts) },
	{ .name = "incidents", .parse = parse_bool,
	  .off = offsetof(struct config_poller, incidents) },
};
static const struct section poller_section = { poller_keys, ARRAY_SIZE(poller_keys) };

static void poller_defaults(struct config_poller *t)
{
	t->interval = 300;
	t->overlap = 300;
	t->lag = 120;
	t->lookback = 86400;
	t->timeout = 300;
	t->max_response = UINT64_C(128) << 20;
	t->alerts = t->incidents = 1;
}

/* What only the whole entry can tell: the keys its type needs. */
static int poller_finish(struct parse *p, const struct config_poller *t, const char *path)
{
	if (t->type == POLLER_LOGANALYTICS && (!t->workspace || !t->n_tables))
		return fail_line(p, t->line, "%s: type loganalytics needs 'workspace' and "
				 "'tables'", path);
	if (t->type == POLLER_GRAPH && (t->workspace || t->n_tables))
		return fail_line(p, t->line, "%s: 'workspace' and 'tables' are for type "
				 "loganalytics", path);
	if (t->type == POLLER_GRAPH && !t->alerts && !t->incidents)
		return fail_line(p, t->line, "%s: alerts and incidents are both false: nothing "
				 "to poll", path);
	return 0;
}

/* Appends the entry named by the current (key) event; refuses bad and repeated names. */
static int poller_add(struct parse *p, const char *path, struct config_poller **out)
{
	struct config *c = p->c;
	void *t;
	int rc;

	if ((rc = add_entry(p, path, "poller", &c->pollers, &c->n_pollers, sizeof(**out),
			    offsetof(struct config_poller, name),
			    offsetof(struct config_poller, line), CONFIG_MAX_POLLERS, &t)) < 0)
		return rc;
	*out = t;
	poller_defaults(*out);
	return 0;
}

static int parse_pollers(struct parse *p, const struct key *k, void *target, const char *path)
{
	char item[KEY_PATH_MAX];
	int rc;

	config_pollers_release(p->c);
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of poller names to settings");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_poller *t = NULL;

		if ((rc = poller_add(p, path, &t)) < 0 || (rc = next_event(p)) < 0)
			return rc;
		snprintf(item, sizeof(item), "%s.%s", path, t->name);
		if ((rc = walk_section(p, &poller_section, t, item, NULL)) < 0 ||
		    (rc = poller_finish(p, t, item)) < 0)
			return rc;
	}
	return rc;
}

/* The running pollers' text for reload messages: names, types and tenants. */
static void pollers_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_pollers && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s: %s for %s", i ? ", " : "",
					 c->pollers[i].name,
					 poller_type_names[c->pollers[i].type],
					 c->pollers[i].tenant);
	if (!c->n_pollers)
		snprintf(out, size, "none");
}

static bool string_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool poller_same(const struct config_poller *a, const struct config_poller *b)
{
	const char *const sa[] = { a->name, a->tenant, a->directory, a->client_id,
				   a->client_secret_file, a->login_url, a->api_url, a->scope,
				   a->ca_file, a->format, a->workspace };
	const char *const sb[] = { b->name, b->tenant, b->directory, b->client_id,
				   b->client_secret_file, b->login_url, b->api_url, b->scope,
				   b->ca_file, b->format, b->workspace };

	if (a->type != b->type || a->interval != b->interval || a->overlap != b->overlap ||
	    a->lag != b->lag || a->lookback != b->lookback || a->page_size != b->page_size ||
	    a->timeout != b->timeout || a->max_response != b->max_response ||
	    a->alerts != b->alerts || a->incidents != b->incidents || a->n_tables != b->n_tables)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(sa); i++)
		if (!string_same(sa[i], sb[i]))
			return false;
	for (size_t i = 0; i < a->n_tables; i++)
		if (strcmp(a->tables[i], b->tables[i]))
			return false;
	return true;
}

static bool pollers_same(const struct config *a, const struct config *b)
{
	if (a->n_pollers != b->n_pollers)
		return false;
	for (size_t i = 0; i < a->n_pollers; i++)
		if (!poller_same(&a->pollers[i], &b->pollers[i]))
			return false;
	return true;
}

static int dup_or_null(char **to, const char *from)
{
	*to = from ? mem_strdup(from) : NULL;
	return from && !*to ? -ENOMEM : 0;
}

static int poller_copy(struct config_poller *to, const struct config_poller *from)
{
	int rc = 0;

	*to = *from;
	to->tables = NULL;
	to->n_tables = 0;
	rc = err_first(rc, dup_or_null(&to->name, from->name));
	rc = err_first(rc, dup_or_null(&to->tenant, from->tenant));
	rc = err_first(rc, dup_or_null(&to->directory, from->directory));
	rc = err_first(rc, dup_or_null(&to->client_id, from->client_id));
	rc = err_first(rc, dup_or_null(&to->client_secret_file, from->client_secret_file));
	rc = err_first(rc, dup_or_null(&to->login_url, from->login_url));
	rc = err_first(rc, dup_or_null(&to->api_url, from->api_url));
	rc = err_first(rc, dup_or_null(&to->scope, from->scope));
	rc = err_first(rc, dup_or_null(&to->ca_file, from->ca_file));
	rc = err_first(rc, dup_or_null(&to->format, from->format));
	rc = err_first(rc, dup_or_null(&to->workspace, from->workspace));
	if (rc == 0 && from->n_tables) {
		to->tables = mem_calloc(from->n_tables, sizeof(*to->tables));
		if (!to->tables)
			return -ENOMEM;
		for (; to->n_tables < from->n_tables && rc == 0; to->n_tables++)
			rc = dup_or_null(&to->tables[to->n_tables], from->tables[to->n_tables]);
	}
	return rc;
}

/* Replaces c's pollers by copies of running's (the running pollers stay until a restart). */
static int keep_pollers(struct config *c, const struct config *running)
{
	config_pollers_release(c);
	if (!running->n_pollers)
		return 0;
	c->pollers = mem_calloc(running->n_pollers, sizeof(*c->pollers));
	if (!c->pollers)
		return -ENOMEM;
	for (; c->n_pollers < running->n_pollers; c->n_pollers++)
		if (poller_copy(&c->pollers[c->n_pollers], &running->pollers[c->n_pollers]) < 0) {
			c->n_pollers++; /* released with the others */
			return -ENOMEM;
		}
	return 0;
}

const char *config_poller_type_name(enum config_poller_type t)
{
	return t < ARRAY_SIZE(poller_type_names) ? poller_type_names[t] : "unknown";
}

/* ---------------------------------------------------------------- decoders section */

#define JSON_PATH_MAX 256u /* bytes of a key path or field name in a JSON map */

static void config_decoders_defaults(struct config *c)
{
	c->postfix_max_queue_ids = 16384;
	c->postfix_queue_id_ttl = 86400;
}

static void json_map_release(void *entry)
{
	struct config_json_map *m = entry;

	for (size_t i = 0; i < m->n_fields; i++) {
		mem_free(m->fields[i].from);
		mem_free(m->fields[i].to);
	}
	mem_free(m->fields);
	mem_free(m->source);
	mem_free(m->timestamp);
}

static void config_decoders_release(struct config *c)
{
	release_entries(&c->json_maps, &c->n_json_maps, sizeof(*c->json_maps), json_map_release);
}

const struct config_json_map *config_json_map(const struct config *c, const char *source)
{
	const struct config_json_map *fallback = NULL;

	for (size_t i = 0; i < c->n_json_maps; i++) {
		if (source && !strcmp(c->json_maps[i].source, source))
			return &c->json_maps[i];
		if (!strcmp(c->json_maps[i].source, "default"))
			fallback = &c->json_maps[i];
	}
	return fallback;
}

/* A dotted name: parts of letters, digits, '_', '-' and '@', no empty part. */
static bool dotted_name(const char *s, size_t len)
{
	if (!len || len > JSON_PATH_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.' ? s[i + 1] == '.'
			      : !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '@'))
			return false;
	}
	return true;
}

/* "a.b" for messages, cut with "..." when longer than a key path may be. */
static void sub_path(char out[KEY_PATH_MAX], const char *a, const char *b)
{
	int n = snprintf(out, KEY_PATH_MAX, "%s.%s", a, b);

	if (n < 0 || n >= (int)KEY_PATH_MAX)
		memcpy(out + KEY_PATH_MAX - 4, "...", 4);
}

#define DOTTED_WHAT "a dotted name (letters, digits, '_', '-', '@', at most 256 bytes)"

/* A scalar that is a dotted name, copied. */
static int take_dotted(struct parse *p, const char *path, char **out)
{
	size_t len;
	const char *s;

	if (p->ev.type != YAML_SCALAR_EVENT || is_null(p))
		return expected(p, path, DOTTED_WHAT);
	s = scalar(p, &len);
	if (!dotted_name(s, len))
		return expected(p, path, DOTTED_WHAT);
	if (!(*out = mem_strndup(s, len)))
		return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
	return 0;
}

/* fields: { "src.key": "ecs.name", ... } */
static int parse_json_fields(struct parse *p, struct config_json_map *m, const char *path)
{
	int rc;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of record keys to field names");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_json_field *f, *grown;
		char item[KEY_PATH_MAX];

		if (m->n_fields >= CONFIG_JSON_FIELDS_MAX)
			return fail_here(p, "%s: too many keys (at most %u)", path,
					 CONFIG_JSON_FIELDS_MAX);
		if (!(grown = mem_realloc(m->fields, (m->n_fields + 1) * sizeof(*grown))))
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		m->fields = grown;
		f = memset(&m->fields[m->n_fields], 0, sizeof(*f));
		f->line = (unsigned)line_of(&p->ev.start_mark);
		if ((rc = take_dotted(p, path, &f->from)) < 0) {
			mem_free(f->from);
			return rc;
		}
		m->n_fields++;
		for (size_t i = 0; i + 1 < m->n_fields; i++)
			if (!strcmp(m->fields[i].from, f->from))
				return fail_here(p, "duplicate key '%s' in '%s'", f->from, path);
		sub_path(item, path, f->from);
		if ((rc = next_event(p)) < 0 || (rc = take_dotted(p, item, &f->to)) < 0)
			return rc;
	}
	return rc;
}

/* One source's map: { fields: {...}, timestamp: KEY } */
static int parse_json_map(struct parse *p, struct config_json_map *m, const char *path)
{
	uint32_t seen = 0;
	int rc;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping with fields and timestamp");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		char sub[KEY_PATH_MAX], tmp[72];
		size_t len;
		const char *k = p->ev.type == YAML_SCALAR_EVENT ? scalar(p, &len) : NULL;
		int which = k && len == 6 && !memcmp(k, "fields", 6)      ? 1
			    : k && len == 9 && !memcmp(k, "timestamp", 9) ? 2
									   : 0;

		if (!which)
			return fail_here(p, "unknown key '%s' in '%s' (expected one of: fields, "
					 "timestamp)", k ? shown(k, len, tmp) : "?", path);
		if (seen & (1u << which))
			return fail_here(p, "duplicate key '%.*s' in '%s'", (int)len, k, path);
		seen |= 1u << which;
		sub_path(sub, path, which == 1 ? "fields" : "timestamp");
		if ((rc = next_event(p)) < 0)
			return rc;
		rc = which == 1 ? parse_json_fields(p, m, sub) : take_dotted(p, sub, &m->timestamp);
		if (rc < 0)
			return rc;
	}
	if (rc == 0 && !(seen & 2u))
		return fail_line(p, m->line, "'%s' is missing the required key 'fields'", path);
	return rc;
}

/* decoders.json: { SOURCE: { ... }, ... } */
static int parse_json_maps(struct parse *p, const struct key *k, void *target, const char *path)
{
	struct config *c = p->c;
	int rc;

	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of source names to field maps");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_json_map *m;
		char item[KEY_PATH_MAX];
		void *entry;

		if ((rc = add_entry(p, path, "source", &c->json_maps, &c->n_json_maps, sizeof(*m),
				    offsetof(struct config_json_map, source),
				    offsetof(struct config_json_map, line), CONFIG_JSON_MAPS_MAX,
				    &entry)) < 0)
			return rc;
		m = entry;
		sub_path(item, path, m->source);
		if ((rc = next_event(p)) < 0 || (rc = parse_json_map(p, m, item)) < 0)
			return rc;
	}
	return rc;
}

static bool json_maps_same(const struct config *a, const struct config *b)
{
	if (a->n_json_maps != b->n_json_maps)
		return false;
	for (size_t i = 0; i < a->n_json_maps; i++) {
		const struct config_json_map *x = &a->json_maps[i], *y = &b->json_maps[i];

		if (strcmp(x->source, y->source) || x->n_fields != y->n_fields ||
		    !x->timestamp != !y->timestamp ||
		    (x->timestamp && strcmp(x->timestamp, y->timestamp)))
			return false;
		for (size_t j = 0; j < x->n_fields; j++)
			if (strcmp(x->fields[j].from, y->fields[j].from) ||
			    strcmp(x->fields[j].to, y->fields[j].to))
				return false;
	}
	return true;
}

static void json_maps_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_json_maps && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s (%zu keys)", i ? ", " : "",
					 c->json_maps[i].source, c->json_maps[i].n_fields);
	if (!c->n_json_maps)
		snprintf(out, size, "(none)");
}

/* Copies of running's maps into next (a reload keeps the maps the decoders compiled). */
static int keep_json_maps(struct config *next, const struct config *running)
{
	config_decoders_release(next);
	if (!running->n_json_maps)
		return 0;
	if (!(next->json_maps = mem_calloc(running->n_json_maps, sizeof(*next->json_maps))))
		return -ENOMEM;
	for (size_t i = 0; i < running->n_json_maps; i++) {
		const struct config_json_map *from = &running->json_maps[i];
		struct config_json_map *to = &next->json_maps[i];

		next->n_json_maps++;
		to->line = from->line;
		if (!(to->source = mem_strdup(from->source)) ||
		    (from->timestamp && !(to->timestamp = mem_strdup(from->timestamp))) ||
		    (from->n_fields &&
		     !(to->fields = mem_calloc(from->n_fields, sizeof(*to->fields)))))
			return -ENOMEM;
		for (size_t j = 0; j < from->n_fields; j++) {
			to->n_fields++;
			to->fields[j].line = from->fields[j].line;
			if (!(to->fields[j].from = mem_strdup(from->fields[j].from)) ||
			    !(to->fields[j].to = mem_strdup(from->fields[j].to)))
				return -ENOMEM;
		}
	}
	return 0;
}

static const struct key postfix_keys[] = {
	{ .name = "max_queue_ids", .parse = parse_uint,
	  .off = offsetof(struct config, postfix_max_queue_ids), .size = sizeof(unsigned),
	  .min = 16, .max = 1u << 22 },
	{ .name = "queue_id_ttl", .parse = parse_uint,
	  .off = offsetof(struct config, postfix_queue_id_ttl), .size = sizeof(unsigned),
	  .min = 1, .max = 30u * 86400 },
};

/* decoders: each decoder's own settings (leef, json, postfix), read at start */
static const struct key decoders_keys[] = {
	SECTION_KEY("leef", parse_section, leef_keys),
	{ .name = "json", .parse = parse_json_maps, .same = json_maps_same,
	  .show = json_maps_show, .keep = keep_json_maps },
	SECTION_KEY("postfix", parse_section, postfix_keys),
};

/* ---------------------------------------------------------------- logsources section */

/*
 * logsources: { SOURCE: { category: C, product: P, service: S } }: the Sigma logsource
 * of one source's events, in place of the one the field maps give its decoder's data set
 * (detect/fieldmap.h). Values are lower-case names; each source names at least one key.
 */
#define LOGSOURCE_WHAT "a lower-case name (a-z, 0-9, '_', '-', '.')"

static const char *const logsource_keys[] = { "category", "product", "service" };

static void logsource_release(void *entry)
{
	struct config_logsource *t = entry;

	mem_free(t->source);
	mem_free(t->category);
	mem_free(t->product);
	mem_free(t->service);
}

static void config_logsources_release(struct config *c)
{
	release_entries(&c->logsources, &c->n_logsources, sizeof(*c->logsources),
			logsource_release);
}

static bool logsource_value(const char *s, size_t len)
{
	return name_logsource_valid(s, len, 64);
}

static char **logsource_slot(struct config_logsource *l, int which)
{
	return which == 0 ? &l->category : which == 1 ? &l->product : &l->service;
}

/* One source's { category, product, service }. */
static int parse_logsource(struct parse *p, struct config_logsource *l, const char *path)
{
	int rc;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of category, product and/or service");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		char sub[KEY_PATH_MAX], tmp[72];
		size_t len = 0;
		const char *k = p->ev.type == YAML_SCALAR_EVENT ? scalar(p, &len) : NULL;
		int which = -1;

		for (int i = 0; k && i < (int)ARRAY_SIZE(logsource_keys); i++)
			if (strlen(logsource_keys[i]) == len && !memcmp(k, logsource_keys[i], len))
				which = i;
		if (which < 0)
			return fail_here(p, "unknown key '%s' in '%s' (expected one of: category, "
					 "product, service)", k ? shown(k, len, tmp) : "?", path);
		if (*logsource_slot(l, which))
			return fail_here(p, "duplicate key '%s' in '%s'", logsource_keys[which], path);
		sub_path(sub, path, logsource_keys[which]);
		if ((rc = next_event(p)) < 0 ||
		    (rc = take_valid(p, sub, LOGSOURCE_WHAT, logsource_value,
				     logsource_slot(l, which))) < 0)
			return rc;
	}
	if (rc == 0 && !l->category && !l->product && !l->service)
		return fail_line(p, l->line, "'%s' names none of category, product, service", path);
	return rc;
}

static int parse_logsources(struct parse *p, const struct key *k, void *target, const char *path)
{
	struct config *c = p->c;
	int rc;

	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of source names to logsources");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_logsource *l;
		char item[KEY_PATH_MAX];
		void *entry;

		if ((rc = add_entry(p, path, "source", &c->logsources, &c->n_logsources, sizeof(*l),
				    offsetof(struct config_logsource, source),
				    offsetof(struct config_logsource, line), CONFIG_LOGSOURCES_MAX,
				    &entry)) < 0)
			return rc;
		l = entry;
		sub_path(item, path, l->source);
		if ((rc = next_event(p)) < 0 || (rc = parse_logsource(p, l, item)) < 0)
			return rc;
	}
	return rc;
}

static bool same_text(const char *a, const char *b)
{
	return !a == !b && (!a || !strcmp(a, b));
}

static bool logsources_same(const struct config *a, const struct config *b)
{
	if (a->n_logsources != b->n_logsources)
		return false;
	for (size_t i = 0; i < a->n_logsources; i++) {
		const struct config_logsource *x = &a->logsources[i], *y = &b->logsources[i];

		if (strcmp(x->source, y->source) || !same_text(x->category, y->category) ||
		    !same_text(x->product, y->product) || !same_text(x->service, y->service))
			return false;
	}
	return true;
}

static void logsources_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_logsources && used < size; i++) {
		const struct config_logsource *l = &c->logsources[i];

		used += (size_t)snprintf(out + used, size - used, "%s%s (", i ? ", " : "", l->source);
		const char *v[] = { l->category, l->product, l->service };

		for (int k = 0; k < (int)ARRAY_SIZE(v) && used < size; k++)
			if (v[k])
				used += (size_t)snprintf(out + used, size - used, "%s%s=%s",
							 out[used - 1] == '(' ? "" : " ",
							 logsource_keys[k], v[k]);
		if (used < size)
			used += (size_t)snprintf(out + used, size - used, ")");
	}
	if (!c->n_logsources)
		snprintf(out, size, "(none)");
}

const struct config_logsource *config_logsource(const struct config *c, const char *source)
{
	for (size_t i = 0; source && i < c->n_logsources; i++)
		if (!strcmp(c->logsources[i].source, source))
			return &c->logsources[i];
	return NULL;
}

/* ---------------------------------------------------------------- keys section */

/* Where the keys are: read once at start (a restart applies a change). */
static const struct key keys_keys[] = {
	{ .name = "master", .parse = parse_path, .off = offsetof(struct config, keys_master) },
	{ .name = "signing", .parse = parse_path, .off = offsetof(struct config, keys_signing) },
};

/* ---------------------------------------------------------------- detect section */

static void free_strings(char ***list, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		mem_free((*list)[i]);
	mem_free(*list);
	*list = NULL;
	*n = 0;
}

static void release_placeholders(struct config *c)
{
	for (size_t i = 0; i < c->n_detect_placeholders; i++) {
		mem_free(c->detect_placeholders[i].name);
		free_strings(&c->detect_placeholders[i].values,
			     &c->detect_placeholders[i].n_values);
	}
	mem_free(c->detect_placeholders);
	c->detect_placeholders = NULL;
	c->n_detect_placeholders = 0;
}

static void config_detect_release(struct config *c)
{
	free_strings(&c->detect_rules, &c->n_detect_rules);
	free_strings(&c->detect_disable, &c->n_detect_disable);
	release_placeholders(c);
}

/* Appends a string taken from the current scalar to a list of at most CONFIG_DETECT_LIST_MAX. */
static int add_string(struct parse *p, const char *path, const char *what, char ***list,
		      size_t *n)
{
	char **grown, *v;
	int rc;

	if (*n >= CONFIG_DETECT_LIST_MAX)
		return fail_here(p, "%s: too many entries (at most %u)", path,
				 CONFIG_DETECT_LIST_MAX);
	if ((rc = take_string(p, path, what, &v)) < 0)
		return rc;
	grown = mem_realloc(*list, (*n + 1) * sizeof(**list));
	if (!grown) {
		mem_free(v);
		return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
	}
	*list = grown;
	(*list)[(*n)++] = v;
	return 0;
}

/* A list of strings; a single string is a list of one, null an empty list. */
static int parse_string_list(struct parse *p, const char *path, const char *what, char ***list,
			     size_t *n)
{
	int rc;

	free_strings(list, n);
	if (is_null(p))
		return 0;
	if (p->ev.type == YAML_SCALAR_EVENT)
		return add_string(p, path, what, list, n);
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return expected(p, path, what);
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT)
		if ((rc = add_string(p, path, what, list, n)) < 0)
			return rc;
	return rc;
}

static int parse_detect_rules(struct parse *p, const struct key *k, void *target,
			      const char *path)
{
	return parse_string_list(p, path, "a list of rule directories or files",
				 &p->c->detect_rules, &p->c->n_detect_rules);
}

static int parse_detect_disable(struct parse *p, const struct key *k, void *target,
				const char *path)
{
	return parse_string_list(p, path, "a list of rule ids", &p->c->detect_disable,
				 &p->c->n_detect_disable);
}

/* The current key of detect.placeholders: [A-Za-z0-9_.-]+ as rules write %NAME%, new. */
static int placeholder_name(struct parse *p, const char *path, const char **name, size_t *len)
{
	const struct config *c = p->c;
	char tmp[72];
	const char *s;
	bool valid;

	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail_here(p, "a key in '%s' is a mapping or list", path);
	s = scalar(p, len);
	valid = *len > 0 && *len <= CONFIG_STRING_MAX;

	for (size_t i = 0; i < *len; i++)
		valid &= (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			 (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-';
	if (!valid)
		return fail_here(p, "%s: '%s' is not a placeholder name (letters, digits, '_', "
				 "'.' and '-')", path, shown(s, *len, tmp));
	for (size_t i = 0; i < c->n_detect_placeholders; i++)
		if (strlen(c->detect_placeholders[i].name) == *len &&
		    !memcmp(c->detect_placeholders[i].name, s, *len))
			return fail_here(p, "duplicate placeholder '%s' in '%s'",
					 c->detect_placeholders[i].name, path);
	if (c->n_detect_placeholders >= CONFIG_DETECT_LIST_MAX)
		return fail_here(p, "%s: too many placeholders (at most %u)", path,
				 CONFIG_DETECT_LIST_MAX);
	*name = s;
	return 0;
}

/* detect.placeholders: NAME: [values] (or one value), each NAME once. */
static int parse_detect_placeholders(struct parse *p, const struct key *k, void *target,
				     const char *path)
{
	struct config *c = p->c;
	char item[KEY_PATH_MAX];
	int rc;

	release_placeholders(c);
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of placeholder names to lists of values");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_placeholder *grown, *ph;
		const char *name = NULL;
		size_t len = 0;

		if ((rc = placeholder_name(p, path, &name, &len)) < 0)
			return rc;
		grown = mem_realloc(c->detect_placeholders,
				    (c->n_detect_placeholders + 1) * sizeof(*grown));
		if (!grown)
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		c->detect_placeholders = grown;
		ph = &grown[c->n_detect_placeholders];
		memset(ph, 0, sizeof(*ph));
		if (!(ph->name = mem_strndup(name, len)))
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		c->n_detect_placeholders++;
		snprintf(item, sizeof(item), "%s.%s", path, ph->name);
		if ((rc = next_event(p)) < 0 ||
		    (rc = parse_string_list(p, item, "a list of values", &ph->values,
					    &ph->n_values)) < 0)
			return rc;
	}
	return rc;
}

static bool strings_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static void strings_show(char *const *list, size_t n, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", list[i]);
	if (!n)
		snprintf(out, size, "none");
}

static bool detect_rules_same(const struct config *a, const struct config *b)
{
	return strings_same(a->detect_rules, a->n_detect_rules, b->detect_rules,
			    b->n_detect_rules);
}

static void detect_rules_show(const struct config *c, char *out, size_t size)
{
	strings_show(c->detect_rules, c->n_detect_rules, out, size);
}

static bool detect_disable_same(const struct config *a, const struct config *b)
{
	return strings_same(a->detect_disable, a->n_detect_disable, b->detect_disable,
			    b->n_detect_disable);
}

static void detect_disable_show(const struct config *c, char *out, size_t size)
{
	strings_show(c->detect_disable, c->n_detect_disable, out, size);
}

static bool detect_placeholders_same(const struct config *a, const struct config *b)
{
	if (a->n_detect_placeholders != b->n_detect_placeholders)
		return false;
	for (size_t i = 0; i < a->n_detect_placeholders; i++) {
		const struct config_placeholder *x = &a->detect_placeholders[i];
		const struct config_placeholder *y = &b->detect_placeholders[i];

		if (strcmp(x->name, y->name) ||
		    !strings_same(x->values, x->n_values, y->values, y->n_values))
			return false;
	}
	return true;
}

static void detect_placeholders_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_detect_placeholders && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s (%zu values)", i ? ", " : "",
					 c->detect_placeholders[i].name,
					 c->detect_placeholders[i].n_values);
	if (!c->n_detect_placeholders)
		snprintf(out, size, "none");
}

/* Applied when rules are loaded again (SIGHUP), so every key is live. */
static const struct key detect_keys[] = {
	{ .name = "rules", .parse = parse_detect_rules, .live = true, .same = detect_rules_same,
	  .show = detect_rules_show },
	{ .name = "disable", .parse = parse_detect_disable, .live = true,
	  .same = detect_disable_same, .show = detect_disable_show },
	{ .name = "placeholders", .parse = parse_detect_placeholders, .live = true,
	  .same = detect_placeholders_same, .show = detect_placeholders_show },
	/* correlations (detect/correl.h): how late an event may be, the state per tenant */
	{ .name = "lateness", .parse = parse_uint, .live = true,
	  .off = offsetof(struct config, detect_lateness),
	  .size = sizeof(((struct config *)0)->detect_lateness), .min = 0, .max = 86400 },
	{ .name = "max_groups", .parse = parse_uint, .live = true,
	  .off = offsetof(struct config, detect_max_groups),
	  .size = sizeof(((struct config *)0)->detect_max_groups), .min = 1, .max = 10000000 },
	{ .name = "max_events", .parse = parse_uint, .live = true,
	  .off = offsetof(struct config, detect_max_events),
	  .size = sizeof(((struct config *)0)->detect_max_events), .min = 1, .max = 100000000 },
	/* impossible travel (detect/travel.h); read at start */
	{ .name = "travel_speed_kmh", .parse = parse_uint,
	  .off = offsetof(struct config, detect_travel_speed),
	  .size = sizeof(((struct config *)0)->detect_travel_speed), .min = 1, .max = 100000 },
	{ .name = "travel_distance_km", .parse = parse_uint,
	  .off = offsetof(struct config, detect_travel_distance),
	  .size = sizeof(((struct config *)0)->detect_travel_distance), .min = 0, .max = 20038 },
};

/* ---------------------------------------------------------------- ti section */

/*
 * ti: { default_confidence, dedupe_window, retrohunt_days, feeds: { NAME: {...} } }
 * (enrich/tifeed.h). Feeds are read at start: a reload keeps the running ones.
 */
static const char *const ti_format_names[] = { "list", "csv", "stix", "misp", "taxii" };

const char *config_ti_format_name(enum config_ti_format f)
{
	return (size_t)f < ARRAY_SIZE(ti_format_names) ? ti_format_names[f] : "unknown";
}

static void config_ti_defaults(struct config *c)
{
	c->ti_default_confidence = 50;
	c->ti_dedupe_window = 3600;
	c->ti_retrohunt_days = 30;
}

static void ti_feed_release(void *entry)
{
	struct config_ti_feed *f = entry;
	char **strings[] = { &f->name, &f->url, &f->tenant, &f->columns, &f->ca_file,
			     &f->username, &f->password_file, &f->api_key_file };

	for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
		mem_free(*strings[i]);
		*strings[i] = NULL;
	}
}

static void config_ti_release(struct config *c)
{
	release_entries(&c->ti_feeds, &c->n_ti_feeds, sizeof(*c->ti_feeds), ti_feed_release);
}

static int parse_ti_format(struct parse *p, const struct key *k, void *target, const char *path)
{
	size_t len;
	const char *s = p->ev.type == YAML_SCALAR_EVENT ? scalar(p, &len) : NULL;

	for (size_t i = 0; s && i < ARRAY_SIZE(ti_format_names); i++)
		if (strlen(ti_format_names[i]) == len && !memcmp(ti_format_names[i], s, len)) {
			((struct config_ti_feed *)target)->format = (enum config_ti_format)i;
			return 0;
		}
	return expected(p, path, "list, csv, stix, misp or taxii");
}

/* An https:// URL without spaces, quotes or fragment (a query only for whole documents). */
/* https://HOST[:PORT][/PATH][?QUERY]: no user:password@ (a secret comes from a file only). */
static bool feed_url_valid(const char *s, size_t len)
{
	size_t authority = strncmp(s, "https://", 8) ? 0 : strcspn(s + 8, "/?");

	return authority && !memchr(s + 8, '@', authority) && !strpbrk(s, " \"\\<>#");
}

static int parse_feed_url(struct parse *p, const struct key *k, void *target, const char *path)
{
	char *v;
	int rc = take_valid(p, path, "an https:// URL", feed_url_valid, &v);

	return rc < 0 ? rc : replace_string((char **)((char *)target + k->off), v);
}

#define FEED_UINT(n, field, lo, hi)                                                     \
	{ .name = n, .parse = parse_uint, .off = offsetof(struct config_ti_feed, field),  \
	  .size = sizeof(((struct config_ti_feed *)0)->field), .min = lo, .max = hi }
#define FEED_STRING(n, handler, field, req)                                             \
	{ .name = n, .parse = handler, .off = offsetof(struct config_ti_feed, field),     \
	  .required = req }

static const struct key ti_feed_keys[] = {
	FEED_STRING("url", parse_feed_url, url, true),
	{ .name = "format", .parse = parse_ti_format, .required = true },
	FEED_UINT("refresh", refresh, 60, 30u * 86400),
	FEED_STRING("tenant", parse_poller_tenant, tenant, false),
	FEED_STRING("columns", parse_poller_word, columns, false),
	FEED_UINT("confidence", confidence, 0, 100),
	FEED_UINT("retrohunt_days", retrohunt_days, 0, 3650),
	FEED_STRING("ca_file", parse_path, ca_file, false),
	FEED_STRING("username", parse_poller_word, username, false),
	FEED_STRING("password_file", parse_path, password_file, false),
	FEED_STRING("api_key_file", parse_path, api_key_file, false),
	{ .name = "to_ids_only", .parse = parse_bool,
	  .off = offsetof(struct config_ti_feed, to_ids_only) },
	{ .name = "enabled", .parse = parse_bool, .off = offsetof(struct config_ti_feed, enabled) },
};
static const struct section ti_feed_section = { ti_feed_keys, ARRAY_SIZE(ti_feed_keys) };

/* What only the whole entry can tell: keys that belong to another format or go together. */
static int ti_feed_finish(struct parse *p, const struct config_ti_feed *f, const char *path)
{
	if (f->columns && f->format != TI_FEED_CSV)
		return fail_line(p, f->line, "%s: 'columns' is for format csv", path);
	if (f->api_key_file && f->format != TI_FEED_MISP)
		return fail_line(p, f->line, "%s: 'api_key_file' is for format misp", path);
	if (!f->username != !f->password_file)
		return fail_line(p, f->line, "%s: 'username' and 'password_file' go together",
				 path);
	if ((f->format == TI_FEED_MISP || f->format == TI_FEED_TAXII) && strchr(f->url, '?'))
		return fail_line(p, f->line, "%s: a %s URL takes no query (paths are appended "
				 "to it)", path, ti_format_names[f->format]);
	return 0; /* columns are checked by enrich/tifeed.c, which reads them */
}

static int parse_ti_feeds(struct parse *p, const struct key *k, void *target, const char *path)
{
	char item[KEY_PATH_MAX];
	int rc;

	config_ti_release(p->c);
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of feed names to settings");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config *c = p->c;
		struct config_ti_feed *f;
		void *at;

		if ((rc = add_entry(p, path, "feed", &c->ti_feeds, &c->n_ti_feeds, sizeof(*f),
				    offsetof(struct config_ti_feed, name),
				    offsetof(struct config_ti_feed, line), CONFIG_TI_FEEDS_MAX,
				    &at)) < 0 || (rc = next_event(p)) < 0)
			return rc;
		f = at;
		f->refresh = 3600;
		f->confidence = -1;
		f->retrohunt_days = -1;
		f->to_ids_only = f->enabled = 1;
		sub_path(item, path, f->name);
		if ((rc = walk_section(p, &ti_feed_section, f, item, NULL)) < 0 ||
		    (rc = ti_feed_finish(p, f, item)) < 0)
			return rc;
	}
	return rc;
}

static void ti_feeds_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	snprintf(out, size, "none");
	for (size_t i = 0; i < c->n_ti_feeds && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s: %s %.*s every %us%s",
					 i ? ", " : "", c->ti_feeds[i].name,
					 ti_format_names[c->ti_feeds[i].format],
					 /* never the query: it may hold a key (logged on reload) */
					 (int)strcspn(c->ti_feeds[i].url, "?"), c->ti_feeds[i].url,
					 (unsigned)c->ti_feeds[i].refresh,
					 c->ti_feeds[i].enabled ? "" : " (disabled)");
}

static bool ti_feed_same(const struct config_ti_feed *a, const struct config_ti_feed *b)
{
	const char *const sa[] = { a->name, a->url, a->tenant, a->columns, a->ca_file,
				   a->username, a->password_file, a->api_key_file };
	const char *const sb[] = { b->name, b->url, b->tenant, b->columns, b->ca_file,
				   b->username, b->password_file, b->api_key_file };

	if (a->format != b->format || a->refresh != b->refresh ||
	    a->confidence != b->confidence || a->retrohunt_days != b->retrohunt_days ||
	    a->to_ids_only != b->to_ids_only || a->enabled != b->enabled)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(sa); i++)
		if (!string_same(sa[i], sb[i]))
			return false;
	return true;
}

static bool ti_feeds_same(const struct config *a, const struct config *b)
{
	if (a->n_ti_feeds != b->n_ti_feeds)
		return false;
	for (size_t i = 0; i < a->n_ti_feeds; i++)
		if (!ti_feed_same(&a->ti_feeds[i], &b->ti_feeds[i]))
			return false;
	return true;
}

static int ti_feed_copy(struct config_ti_feed *to, const struct config_ti_feed *from)
{
	int rc = 0;

	*to = *from;
	rc = err_first(rc, dup_or_null(&to->name, from->name));
	rc = err_first(rc, dup_or_null(&to->url, from->url));
	rc = err_first(rc, dup_or_null(&to->tenant, from->tenant));
	rc = err_first(rc, dup_or_null(&to->columns, from->columns));
	rc = err_first(rc, dup_or_null(&to->ca_file, from->ca_file));
	rc = err_first(rc, dup_or_null(&to->username, from->username));
	rc = err_first(rc, dup_or_null(&to->password_file, from->password_file));
	return err_first(rc, dup_or_null(&to->api_key_file, from->api_key_file));
}

/* Replaces next's feeds by copies of running's (the feeds' thread keeps them until a restart). */
static int keep_ti_feeds(struct config *next, const struct config *running)
{
	config_ti_release(next);
	if (!running->n_ti_feeds)
		return 0;
	next->ti_feeds = mem_calloc(running->n_ti_feeds, sizeof(*next->ti_feeds));
	if (!next->ti_feeds)
		return -ENOMEM;
	for (; next->n_ti_feeds < running->n_ti_feeds; next->n_ti_feeds++)
		if (ti_feed_copy(&next->ti_feeds[next->n_ti_feeds],
				 &running->ti_feeds[next->n_ti_feeds]) < 0) {
			next->n_ti_feeds++; /* released with the others */
			return -ENOMEM;
		}
	return 0;
}

#define TI_UINT(n, field, lo, hi)                                                       \
	{ .name = n, .parse = parse_uint, .off = offsetof(struct config, field),          \
	  .size = sizeof(((struct config *)0)->field), .min = lo, .max = hi }

static const struct key ti_keys[] = {
	TI_UINT("default_confidence", ti_default_confidence, 0, 100),
	TI_UINT("dedupe_window", ti_dedupe_window, 1, 30u * 86400),
	TI_UINT("retrohunt_days", ti_retrohunt_days, 0, 3650),
	{ .name = "feeds", .parse = parse_ti_feeds, .same = ti_feeds_same, .show = ti_feeds_show,
	  .keep = keep_ti_feeds },
};

/* ---------------------------------------------------------------- edl section */

/*
 * edl: { lists: { NAME: { type: ip|domain|url, sources: [...], min_confidence: N,
 * max_entries: N, include_global: BOOL } }, allow: [values] } (respond/edl.h): the
 * External Dynamic Lists the API listener serves for every tenant. respond/edl.c checks
 * the allow values when serve starts; a restart applies changes.
 */
#define EDL_MAX_ENTRIES_MAX 10000000u
static const char *const edl_type_names[] = { "ip", "domain", "url" };

static void edl_list_release(void *entry)
{
	struct config_edl_list *l = entry;

	mem_free(l->name);
	free_strings(&l->sources, &l->n_sources);
}

static void config_edl_release(struct config *c)
{
	release_entries(&c->edl_lists, &c->n_edl_lists, sizeof(*c->edl_lists), edl_list_release);
	free_strings(&c->edl_allow, &c->n_edl_allow);
}

static int parse_edl_type(struct parse *p, const struct key *k, void *target, const char *path)
{
	size_t len;
	const char *s = p->ev.type == YAML_SCALAR_EVENT ? scalar(p, &len) : NULL;

	for (size_t i = 0; s && i < ARRAY_SIZE(edl_type_names); i++)
		if (strlen(edl_type_names[i]) == len && !memcmp(edl_type_names[i], s, len)) {
			((struct config_edl_list *)target)->type = (enum config_edl_type)i;
			return 0;
		}
	return expected(p, path, "ip, domain or url");
}

static int parse_edl_sources(struct parse *p, const struct key *k, void *target,
			     const char *path)
{
	struct config_edl_list *l = target;
	int rc = parse_string_list(p, path, "a list of indicator sources (feed or list names, "
				   "\"*\" for every one)", &l->sources, &l->n_sources);

	if (rc == 0 && l->n_sources > CONFIG_EDL_SOURCES_MAX)
		return fail_here(p, "%s: too many sources (at most %u)", path,
				 CONFIG_EDL_SOURCES_MAX);
	return rc;
}

#define EDL_UINT(n, field, lo, hi)                                                      \
	{ .name = n, .parse = parse_uint, .off = offsetof(struct config_edl_list, field), \
	  .size = sizeof(((struct config_edl_list *)0)->field), .min = lo, .max = hi }

static const struct key edl_list_keys[] = {
	{ .name = "type", .parse = parse_edl_type, .required = true },
	{ .name = "sources", .parse = parse_edl_sources },
	EDL_UINT("min_confidence", min_confidence, 0, 100),
	EDL_UINT("max_entries", max_entries, 1, EDL_MAX_ENTRIES_MAX),
	{ .name = "include_global", .parse = parse_bool,
	  .off = offsetof(struct config_edl_list, include_global) },
};
static const struct section edl_list_section = { edl_list_keys, ARRAY_SIZE(edl_list_keys) };

static int parse_edl_lists(struct parse *p, const struct key *k, void *target, const char *path)
{
	struct config *c = p->c;
	char item[KEY_PATH_MAX];
	int rc;

	release_entries(&c->edl_lists, &c->n_edl_lists, sizeof(*c->edl_lists), edl_list_release);
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of list names to settings");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_edl_list *l;
		void *entry;

		if ((rc = add_entry(p, path, "list", &c->edl_lists, &c->n_edl_lists,
				    sizeof(*c->edl_lists), offsetof(struct config_edl_list, name),
				    offsetof(struct config_edl_list, line), CONFIG_MAX_EDL_LISTS,
				    &entry)) < 0 ||
		    (rc = next_event(p)) < 0)
			return rc;
		l = entry;
		l->max_entries = 50000;
		l->include_global = 1;
		snprintf(item, sizeof(item), "%s.%s", path, l->name);
		if ((rc = walk_section(p, &edl_list_section, l, item, NULL)) < 0)
			return rc;
	}
	return rc;
}

static int parse_edl_allow(struct parse *p, const struct key *k, void *target, const char *path)
{
	int rc = parse_string_list(p, path, "a list of addresses, CIDRs, domains or URLs",
				   &p->c->edl_allow, &p->c->n_edl_allow);

	if (rc == 0 && p->c->n_edl_allow > CONFIG_EDL_ALLOW_MAX)
		return fail_here(p, "%s: too many values (at most %u)", path, CONFIG_EDL_ALLOW_MAX);
	return rc;
}

static bool edl_list_same(const struct config_edl_list *a, const struct config_edl_list *b)
{
	return !strcmp(a->name, b->name) && a->type == b->type &&
	       a->min_confidence == b->min_confidence && a->max_entries == b->max_entries &&
	       a->include_global == b->include_global &&
	       strings_same(a->sources, a->n_sources, b->sources, b->n_sources);
}

static bool edl_lists_same(const struct config *a, const struct config *b)
{
	if (a->n_edl_lists != b->n_edl_lists)
		return false;
	for (size_t i = 0; i < a->n_edl_lists; i++)
		if (!edl_list_same(&a->edl_lists[i], &b->edl_lists[i]))
			return false;
	return true;
}

static void edl_lists_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_edl_lists && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s (%s)", i ? ", " : "",
					 c->edl_lists[i].name,
					 edl_type_names[c->edl_lists[i].type]);
	if (!c->n_edl_lists)
		snprintf(out, size, "none");
}

static int edl_list_copy(struct config_edl_list *to, const struct config_edl_list *from)
{
	int rc;

	*to = *from;
	to->sources = NULL;
	to->n_sources = 0;
	if ((rc = dup_or_null(&to->name, from->name)) < 0)
		return rc;
	if (from->n_sources && !(to->sources = mem_calloc(from->n_sources, sizeof(char *))))
		return -ENOMEM;
	for (; to->n_sources < from->n_sources; to->n_sources++)
		if ((rc = dup_or_null(&to->sources[to->n_sources], from->sources[to->n_sources])) < 0)
			return rc;
	return 0;
}

/* Replaces c's lists by copies of running's (the served lists stay until a restart). */
static int keep_edl_lists(struct config *c, const struct config *running)
{
	release_entries(&c->edl_lists, &c->n_edl_lists, sizeof(*c->edl_lists), edl_list_release);
	if (!running->n_edl_lists)
		return 0;
	if (!(c->edl_lists = mem_calloc(running->n_edl_lists, sizeof(*c->edl_lists))))
		return -ENOMEM;
	for (; c->n_edl_lists < running->n_edl_lists; c->n_edl_lists++)
		if (edl_list_copy(&c->edl_lists[c->n_edl_lists],
				  &running->edl_lists[c->n_edl_lists]) < 0) {
			c->n_edl_lists++; /* released with the others */
			return -ENOMEM;
		}
	return 0;
}

static bool edl_allow_same(const struct config *a, const struct config *b)
{
	return strings_same(a->edl_allow, a->n_edl_allow, b->edl_allow, b->n_edl_allow);
}

static void edl_allow_show(const struct config *c, char *out, size_t size)
{
	strings_show(c->edl_allow, c->n_edl_allow, out, size);
}

static int keep_edl_allow(struct config *c, const struct config *running)
{
	free_strings(&c->edl_allow, &c->n_edl_allow);
	if (!running->n_edl_allow)
		return 0;
	if (!(c->edl_allow = mem_calloc(running->n_edl_allow, sizeof(char *))))
		return -ENOMEM;
	for (; c->n_edl_allow < running->n_edl_allow; c->n_edl_allow++)
		if (dup_or_null(&c->edl_allow[c->n_edl_allow], running->edl_allow[c->n_edl_allow]) < 0)
			return -ENOMEM;
	return 0;
}

static const struct key edl_keys[] = {
	{ .name = "lists", .parse = parse_edl_lists, .same = edl_lists_same,
	  .show = edl_lists_show, .keep = keep_edl_lists },
	{ .name = "allow", .parse = parse_edl_allow, .same = edl_allow_same,
	  .show = edl_allow_show, .keep = keep_edl_allow },
};

const char *config_edl_type_name(enum config_edl_type t)
{
	return t < ARRAY_SIZE(edl_type_names) ? edl_type_names[t] : "unknown";
}

/* ---------------------------------------------------------------- soc section: the engine */

/* soc.window, soc.grouping (soc/soc.h); read when the engine starts. */
#define SOC_WINDOW_DEFAULT 3600u       /* seconds */
#define SOC_WINDOW_MAX (30u * 86400)

static void config_soc_engine_defaults(struct config *c)
{
	c->soc_engine.window = SOC_WINDOW_DEFAULT;
}

static void soc_grouping_release(struct config_soc_grouping *g)
{
	free_strings(&g->match, &g->n_match);
	free_strings(&g->keys, &g->n_keys);
}

static void config_soc_engine_release(struct config *c)
{
	for (size_t i = 0; i < c->soc_engine.n_grouping; i++)
		soc_grouping_release(&c->soc_engine.grouping[i]);
	mem_free(c->soc_engine.grouping);
	c->soc_engine.grouping = NULL;
	c->soc_engine.n_grouping = 0;
}

/* One entry: { match: [rule ids or tags], keys: [fields] }, keys required. */
static int parse_soc_group(struct parse *p, struct config_soc_grouping *g, const char *path)
{
	char sub[KEY_PATH_MAX];
	int rc;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of match and keys");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		size_t len = 0;
		const char *k = p->ev.type == YAML_SCALAR_EVENT ? scalar(p, &len) : "";
		bool match = len == 5 && !memcmp(k, "match", 5);
		char tmp[72];

		if (!match && !(len == 4 && !memcmp(k, "keys", 4)))
			return fail_here(p, "unknown key '%s' in '%s' (expected match or keys)",
					 shown(k, len, tmp), path);
		sub_path(sub, path, match ? "match" : "keys");
		if ((rc = next_event(p)) < 0 ||
		    (rc = parse_string_list(p, sub, match ? "a list of rule ids or tags"
							  : "a list of field names",
					    match ? &g->match : &g->keys,
					    match ? &g->n_match : &g->n_keys)) < 0)
			return rc;
	}
	if (rc == 0 && !g->n_keys)
		return fail_line(p, g->line, "'%s' names no keys (the fields that group alerts)",
				 path);
	if (rc == 0 && g->n_keys > CONFIG_SOC_GROUPING_KEYS_MAX)
		return fail_line(p, g->line, "'%s' has %zu keys (at most %u)", path, g->n_keys,
				 CONFIG_SOC_GROUPING_KEYS_MAX);
	return rc;
}

static int parse_soc_grouping(struct parse *p, const struct key *k, void *target,
			      const char *path)
{
	struct config_soc_engine *se = &p->c->soc_engine;
	int rc;

	config_soc_engine_release(p->c);
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return expected(p, path, "a list of { match, keys }");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		struct config_soc_grouping *grown;
		char item[KEY_PATH_MAX];

		if (se->n_grouping == CONFIG_SOC_GROUPING_MAX)
			return fail_here(p, "%s: too many entries (at most %u)", path,
					 CONFIG_SOC_GROUPING_MAX);
		if (!(grown = mem_realloc(se->grouping, (se->n_grouping + 1) * sizeof(*grown))))
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		se->grouping = grown;
		memset(&grown[se->n_grouping], 0, sizeof(*grown));
		grown[se->n_grouping].line = (unsigned)line_of(&p->ev.start_mark);
		snprintf(item, sizeof(item), "%s[%zu]", path, se->n_grouping);
		se->n_grouping++;
		if ((rc = parse_soc_group(p, &grown[se->n_grouping - 1], item)) < 0)
			return rc;
	}
	return rc;
}

static bool soc_grouping_same(const struct config *a, const struct config *b)
{
	if (a->soc_engine.n_grouping != b->soc_engine.n_grouping)
		return false;
	for (size_t i = 0; i < a->soc_engine.n_grouping; i++) {
		const struct config_soc_grouping *x = &a->soc_engine.grouping[i];
		const struct config_soc_grouping *y = &b->soc_engine.grouping[i];

		if (!strings_same(x->match, x->n_match, y->match, y->n_match) ||
		    !strings_same(x->keys, x->n_keys, y->keys, y->n_keys))
			return false;
	}
	return true;
}

static void soc_grouping_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->soc_engine.n_grouping && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%zu match, %zu keys",
					 i ? "; " : "", c->soc_engine.grouping[i].n_match,
					 c->soc_engine.grouping[i].n_keys);
	if (!c->soc_engine.n_grouping)
		snprintf(out, size, "default");
}

/* ---------------------------------------------------------------- soc section: sla */

/*
 * soc.sla: { decide, first_report, contact, acknowledge, contain: SECONDS (0: no goal),
 * tenants: { NAME: { the same keys, each optional } } } (soc/sla.h). Read at start: a
 * reload keeps the running values.
 */
#define SLA_DUE_MAX (366u * 86400) /* seconds */

static void config_sla_defaults(struct config *c)
{
	static const uint32_t seed[CONFIG_SLA_CLOCKS] = { 3600, 7200, 900, 0, 0 };

	memcpy(c->soc_sla.due, seed, sizeof(seed));
}

static void config_sla_release(struct config *c)
{
	release_entries(&c->soc_sla.tenants, &c->soc_sla.n_tenants, sizeof(*c->soc_sla.tenants),
			tenant_entry_release);
}

#define SLA_DUE_KEY(n, i, type, base)                                                   \
	{ .name = n, .parse = parse_uint, .min = 0, .max = SLA_DUE_MAX,                   \
	  .off = offsetof(type, base[i]), .size = sizeof(uint32_t) }
#define SLA_DUE_KEYS(type, base)                                                        \
	SLA_DUE_KEY("decide", 0, type, base), SLA_DUE_KEY("first_report", 1, type, base),   \
	SLA_DUE_KEY("contact", 2, type, base), SLA_DUE_KEY("acknowledge", 3, type, base),   \
	SLA_DUE_KEY("contain", 4, type, base)

static const struct key sla_tenant_keys[] = {
	SLA_DUE_KEYS(struct config_sla_tenant, due),
};
static const struct section sla_tenant_section = { sla_tenant_keys,
						   ARRAY_SIZE(sla_tenant_keys) };

static void sla_tenant_init(void *entry)
{
	struct config_sla_tenant *t = entry;

	for (size_t i = 0; i < CONFIG_SLA_CLOCKS; i++)
		t->due[i] = CONFIG_SLA_INHERIT;
}

_Static_assert(offsetof(struct config_sla_tenant, tenant) == 0,
	       "tenant maps' entries start with the name");

static const struct tenant_map sla_tenants_map = {
	offsetof(struct config, soc_sla.tenants), offsetof(struct config, soc_sla.n_tenants),
	sizeof(struct config_sla_tenant), offsetof(struct config_sla_tenant, line),
	&sla_tenant_section, "a mapping of tenant names to SLA goals", sla_tenant_init,
};

static int parse_sla_tenants(struct parse *p, const struct key *k, void *target,
			     const char *path)
{
	config_sla_release(p->c); /* a later value replaces an earlier one */
	return parse_tenant_map(p, &sla_tenants_map, path);
}

static bool sla_tenants_same(const struct config *a, const struct config *b)
{
	if (a->soc_sla.n_tenants != b->soc_sla.n_tenants)
		return false;
	for (size_t i = 0; i < a->soc_sla.n_tenants; i++)
		if (strcmp(a->soc_sla.tenants[i].tenant, b->soc_sla.tenants[i].tenant) ||
		    memcmp(a->soc_sla.tenants[i].due, b->soc_sla.tenants[i].due,
			   sizeof(a->soc_sla.tenants[i].due)))
			return false;
	return true;
}

/* "t1: decide 1800 contact -, t2: ..." ("-": the default applies) */
static void sla_tenants_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->soc_sla.n_tenants && used < size; i++) {
		const struct config_sla_tenant *t = &c->soc_sla.tenants[i];

		used += (size_t)snprintf(out + used, size - used, "%s%s:", i ? ", " : "", t->tenant);
		for (size_t k = 0; k < CONFIG_SLA_CLOCKS && used < size; k++) {
			char v[16] = "-";

			if (t->due[k] != CONFIG_SLA_INHERIT)
				snprintf(v, sizeof(v), "%u", (unsigned)t->due[k]);
			used += (size_t)snprintf(out + used, size - used, " %s %s",
						 sla_tenant_keys[k].name, v);
		}
	}
	if (!c->soc_sla.n_tenants)
		snprintf(out, size, "none");
}

/* Replaces next's overrides by copies of running's (sla_new() read them at start). */
static int keep_sla_tenants(struct config *next, const struct config *running)
{
	const struct config_sla *from = &running->soc_sla;
	struct config_sla *to = &next->soc_sla;

	config_sla_release(next);
	if (!from->n_tenants)
		return 0;
	if (!(to->tenants = mem_calloc(from->n_tenants, sizeof(*to->tenants))))
		return -ENOMEM;
	for (; to->n_tenants < from->n_tenants; to->n_tenants++) {
		struct config_sla_tenant *t = &to->tenants[to->n_tenants];

		*t = from->tenants[to->n_tenants];
		if (!(t->tenant = mem_strdup(t->tenant))) {
			to->n_tenants++; /* released with the others */
			return -ENOMEM;
		}
	}
	return 0;
}

static const struct key sla_keys[] = {
	SLA_DUE_KEYS(struct config, soc_sla.due),
	{ .name = "tenants", .parse = parse_sla_tenants, .same = sla_tenants_same,
	  .show = sla_tenants_show, .keep = keep_sla_tenants },
};

/* ---------------------------------------------------------------- soc section: levels */

/*
 * soc.levels: { names: [4 names], shown: [4 numbers] } for the levels 0..3 (soc/level.h);
 * both optional. Read once at start by level_configure(): a restart applies changes.
 */
#define SOC_LEVELS 4
#define SOC_LEVEL_NAME_MAX 32

static void config_soc_levels_release(struct config *c)
{
	free_strings(&c->soc_level_names, &c->n_soc_level_names);
	free_strings(&c->soc_level_shown, &c->n_soc_level_shown);
}

static bool level_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > SOC_LEVEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static bool level_shown_ok(const char *s)
{
	size_t len = strlen(s);

	return (len == 1 && s[0] >= '0' && s[0] <= '9') ||
	       (len == 2 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9');
}

/* A list of exactly SOC_LEVELS distinct entries each passing ok(), case-insensitively. */
static int parse_level_list(struct parse *p, const char *path, const char *what,
			    bool (*ok)(const char *s), char ***list, size_t *n)
{
	size_t line = p->key_line;
	int rc = parse_string_list(p, path, what, list, n);

	if (rc < 0)
		return rc;
	if (*n != SOC_LEVELS)
		return fail_line(p, line, "%s: expected %s, one for each level 0 to 3 (%zu given)",
				 path, what, *n);
	for (size_t i = 0; i < *n; i++) {
		if (!ok((*list)[i]))
			return fail_line(p, line, "%s: entry %zu: expected %s", path, i + 1, what);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp((*list)[i], (*list)[j]))
				return fail_line(p, line, "%s: entries %zu and %zu are the same",
						 path, j + 1, i + 1);
	}
	return 0;
}

static int parse_level_names(struct parse *p, const struct key *k, void *target,
			     const char *path)
{
	return parse_level_list(p, path, "4 names of 1-32 printable characters", level_name_ok,
				&p->c->soc_level_names, &p->c->n_soc_level_names);
}

static int parse_level_shown(struct parse *p, const struct key *k, void *target,
			     const char *path)
{
	return parse_level_list(p, path, "4 numbers from 0 to 99", level_shown_ok,
				&p->c->soc_level_shown, &p->c->n_soc_level_shown);
}

static bool level_names_same(const struct config *a, const struct config *b)
{
	return strings_same(a->soc_level_names, a->n_soc_level_names, b->soc_level_names,
			    b->n_soc_level_names);
}

static void level_names_show(const struct config *c, char *out, size_t size)
{
	strings_show(c->soc_level_names, c->n_soc_level_names, out, size);
}

static bool level_shown_same(const struct config *a, const struct config *b)
{
	return strings_same(a->soc_level_shown, a->n_soc_level_shown, b->soc_level_shown,
			    b->n_soc_level_shown);
}

static void level_shown_show(const struct config *c, char *out, size_t size)
{
	strings_show(c->soc_level_shown, c->n_soc_level_shown, out, size);
}

/* Replaces *list by a copy of from (the running daemon keeps its levels until a restart). */
static int keep_level_list(char ***list, size_t *n, char *const *from, size_t n_from)
{
	free_strings(list, n);
	if (!n_from)
		return 0;
	if (!(*list = mem_calloc(n_from, sizeof(char *))))
		return -ENOMEM;
	for (; *n < n_from; (*n)++)
		if (dup_or_null(&(*list)[*n], from[*n]) < 0)
			return -ENOMEM;
	return 0;
}

static int keep_level_names(struct config *c, const struct config *running)
{
	return keep_level_list(&c->soc_level_names, &c->n_soc_level_names,
			       running->soc_level_names, running->n_soc_level_names);
}

static int keep_level_shown(struct config *c, const struct config *running)
{
	return keep_level_list(&c->soc_level_shown, &c->n_soc_level_shown,
			       running->soc_level_shown, running->n_soc_level_shown);
}

static const struct key soc_levels_keys[] = {
	{ .name = "names", .parse = parse_level_names, .same = level_names_same,
	  .show = level_names_show, .keep = keep_level_names },
	{ .name = "shown", .parse = parse_level_shown, .same = level_shown_same,
	  .show = level_shown_show, .keep = keep_level_shown },
};

/* soc.report (soc/firstreport.h): the first reports' template set; read at start. */
static const struct key report_keys[] = {
	{ .name = "templates", .parse = parse_path, .off = offsetof(struct config, soc_report_templates) },
};

/* soc: the SOC core's sections (each added by its module) */
static const struct key soc_keys[] = {
	/* the engine (soc/soc.h) */
	{ .name = "window", .parse = parse_uint, .min = 60, .max = SOC_WINDOW_MAX,
	  .off = offsetof(struct config, soc_engine.window), .size = sizeof(uint32_t) },
	{ .name = "grouping", .parse = parse_soc_grouping, .same = soc_grouping_same,
	  .show = soc_grouping_show },
	SECTION_KEY("sla", parse_section, sla_keys),
	SECTION_KEY("triage", parse_section, soc_triage_keys),
	SECTION_KEY("levels", parse_section, soc_levels_keys),
	SECTION_KEY("report", parse_section, report_keys),
};

/* ---------------------------------------------------------------- notify section */

/*
 * notify (notify/notify.h, docs/notify.md): enabled, channels.NAME {type, KEY: VALUE...},
 * ack_url, ack_key_file, ack_ttl, templates, lead {channel, to, after}, retry {attempts,
 * backoff, max_backoff}. The channels' own keys are kept as written; the type's open()
 * checks them (notify_config_check: `koban config check` and serve's start). A restart
 * applies changes.
 */
static void config_notify_defaults(struct config *c)
{
	c->notify.enabled = 1;
	c->notify.ack_ttl = 86400;
	c->notify.lead_after = 300;
	c->notify.retry_attempts = 5;
	c->notify.retry_backoff = 2;
	c->notify.retry_max_backoff = 300;
}

static void notify_channel_release(void *entry)
{
	struct config_notify_channel *ch = entry;

	mem_free(ch->name);
	mem_free(ch->type);
	for (size_t i = 0; i < ch->n_kv; i++) {
		mem_free(ch->kv[i].key);
		mem_free(ch->kv[i].value);
	}
	mem_free(ch->kv);
}

static void config_notify_channels_release(struct config *c)
{
	release_entries(&c->notify.channels, &c->notify.n_channels, sizeof(*c->notify.channels),
			notify_channel_release);
}

static void config_notify_release(struct config *c)
{
	config_notify_channels_release(c);
	mem_free(c->notify.ack_url);
	mem_free(c->notify.portal_url);
	mem_free(c->notify.ack_key_file);
	mem_free(c->notify.templates);
	mem_free(c->notify.lead_channel);
	mem_free(c->notify.lead_to);
}

static bool channel_key_valid(const char *s, size_t len)
{
	if (!len || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* One channel's mapping: type (required) and the type's keys as (key, value, line). */
static int notify_channel_walk(struct parse *p, struct config_notify_channel *ch, const char *path)
{
	size_t start = line_of(&p->ev.start_mark);
	char sub[KEY_PATH_MAX], tmp[72];
	int rc;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of keys to values (type: ...)");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config_notify_kv *kv;
		unsigned line = (unsigned)line_of(&p->ev.start_mark);
		const char *name;
		char *key, *value;
		size_t len;

		if (p->ev.type != YAML_SCALAR_EVENT)
			return fail_here(p, "a key in '%s' is a mapping or list", path);
		name = scalar(p, &len);
		if (!channel_key_valid(name, len))
			return fail_here(p, "%s: '%s' is not a key name (a-z, 0-9 and '_')", path,
					 shown(name, len, tmp));
		if (!(key = mem_strndup(name, len)))
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		for (size_t i = 0; i < ch->n_kv; i++)
			if (!strcmp(ch->kv[i].key, key)) {
				mem_free(key);
				return fail_here(p, "duplicate key '%s' in '%s'", ch->kv[i].key, path);
			}
		if ((!strcmp(key, "type") && ch->type)) {
			mem_free(key);
			return fail_here(p, "duplicate key 'type' in '%s'", path);
		}
		sub_path(sub, path, key);
		if ((rc = next_event(p)) < 0 ||
		    (rc = take_string(p, sub, "a value (text, number or true/false)", &value)) < 0) {
			mem_free(key);
			return rc;
		}
		if (!strcmp(key, "type")) {
			mem_free(key);
			ch->type = value;
			continue;
		}
		if (ch->n_kv >= CONFIG_NOTIFY_KEYS_MAX) {
			mem_free(key);
			mem_free(value);
			return fail_line(p, line, "%s: too many keys (at most %u)", path,
					 CONFIG_NOTIFY_KEYS_MAX);
		}
		if (!(kv = mem_realloc(ch->kv, (ch->n_kv + 1) * sizeof(*kv)))) {
			mem_free(key);
			mem_free(value);
			return err_set(p->e, -ENOMEM, "%s: out of memory", p->name);
		}
		ch->kv = kv;
		kv[ch->n_kv++] = (struct config_notify_kv){ key, value, line };
	}
	if (rc < 0)
		return rc;
	if (!ch->type)
		return fail_line(p, start, "'%s' is missing the required key 'type'", path);
	return 0;
}

static int parse_notify_channels(struct parse *p, const struct key *k, void *target,
				 const char *path)
{
	char item[KEY_PATH_MAX];
	int rc;

	config_notify_channels_release(p->c);
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return expected(p, path, "a mapping of channel names to settings");
	while ((rc = next_event(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		struct config *c = p->c;
		struct config_notify_channel *ch;
		void *at;

		if ((rc = add_entry(p, path, "channel", &c->notify.channels, &c->notify.n_channels,
				    sizeof(*ch), offsetof(struct config_notify_channel, name),
				    offsetof(struct config_notify_channel, line),
				    CONFIG_NOTIFY_CHANNELS_MAX, &at)) < 0 ||
		    (rc = next_event(p)) < 0)
			return rc;
		ch = at;
		sub_path(item, path, ch->name);
		if ((rc = notify_channel_walk(p, ch, item)) < 0)
			return rc;
	}
	return rc;
}

/* Never the values: a channel's keys may name a URL with a key in it (logged on reload). */
static void notify_channels_show(const struct config *c, char *out, size_t size)
{
	size_t used = 0;

	snprintf(out, size, "none");
	for (size_t i = 0; i < c->notify.n_channels && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s: %s (%zu keys)",
					 i ? ", " : "", c->notify.channels[i].name,
					 c->notify.channels[i].type, c->notify.channels[i].n_kv);
}

static bool notify_channels_same(const struct config *a, const struct config *b)
{
	if (a->notify.n_channels != b->notify.n_channels)
		return false;
	for (size_t i = 0; i < a->notify.n_channels; i++) {
		const struct config_notify_channel *x = &a->notify.channels[i];
		const struct config_notify_channel *y = &b->notify.channels[i];

		if (strcmp(x->name, y->name) || strcmp(x->type, y->type) || x->n_kv != y->n_kv)
			return false;
		for (size_t j = 0; j < x->n_kv; j++)
			if (strcmp(x->kv[j].key, y->kv[j].key) || strcmp(x->kv[j].value, y->kv[j].value))
				return false;
	}
	return true;
}

static int notify_channel_copy(struct config_notify_channel *to,
			       const struct config_notify_channel *from)
{
	int rc = 0;

	*to = *from;
	to->kv = NULL;
	to->n_kv = 0;
	rc = err_first(rc, dup_or_null(&to->name, from->name));
	rc = err_first(rc, dup_or_null(&to->type, from->type));
	if (rc < 0 || !from->n_kv)
		return rc;
	if (!(to->kv = mem_calloc(from->n_kv, sizeof(*to->kv))))
		return -ENOMEM;
	for (; to->n_kv < from->n_kv; to->n_kv++) {
		struct config_notify_kv *kv = &to->kv[to->n_kv];

		kv->line = from->kv[to->n_kv].line;
		rc = err_first(rc, dup_or_null(&kv->key, from->kv[to->n_kv].key));
		rc = err_first(rc, dup_or_null(&kv->value, from->kv[to->n_kv].value));
	}
	return rc;
}

/* Replaces next's channels by copies of running's (the engine keeps them until a restart). */
static int keep_notify_channels(struct config *next, const struct config *running)
{
	config_notify_channels_release(next);
	if (!running->notify.n_channels)
		return 0;
	next->notify.channels = mem_calloc(running->notify.n_channels, sizeof(*next->notify.channels));
	if (!next->notify.channels)
		return -ENOMEM;
	for (; next->notify.n_channels < running->notify.n_channels; next->notify.n_channels++)
		if (notify_channel_copy(&next->notify.channels[next->notify.n_channels],
					&running->notify.channels[next->notify.n_channels]) < 0) {
			next->notify.n_channels++; /* released with the others */
			return -ENOMEM;
		}
	return 0;
}

/* https://HOST[:PORT][/PATH] without user:password@, query or fragment; no trailing slash. */
static bool ack_url_valid(const char *s, size_t len)
{
	size_t authority = strncmp(s, "https://", 8) ? 0 : strcspn(s + 8, "/");

	return authority && !memchr(s + 8, '@', authority) && !strpbrk(s, " \"\\<>?#'");
}

static int parse_ack_url(struct parse *p, const struct key *k, void *target, const char *path)
{
	char *v;
	int rc = take_valid(p, path, "an https:// URL (the public base of the /ack/ links)",
			    ack_url_valid, &v);

	if (rc < 0)
		return rc;
	for (size_t n = strlen(v); n > 9 && v[n - 1] == '/'; n--)
		v[n - 1] = '\0';
	return replace_string((char **)((char *)target + k->off), v);
}

static bool recipient_valid(const char *s, size_t len)
{
	return !strpbrk(s, " \"'\\<>");
}

static int parse_recipient(struct parse *p, const struct key *k, void *target, const char *path)
{
	char *v;
	int rc = take_valid(p, path, "a recipient (a mail address, +E.164 number or name)",
			    recipient_valid, &v);

	return rc < 0 ? rc : replace_string((char **)((char *)target + k->off), v);
}

static int parse_channel_ref(struct parse *p, const struct key *k, void *target, const char *path)
{
	char *v;
	int rc = take_valid(p, path, "a channel name of notify.channels", channel_key_valid, &v);

	if (rc < 0)
		return rc;
	((struct config *)target)->notify.line = (unsigned)p->key_line;
	return replace_string((char **)((char *)target + k->off), v);
}

static const struct key notify_lead_keys[] = {
	{ .name = "channel", .parse = parse_channel_ref, .required = true,
	  .off = offsetof(struct config, notify.lead_channel) },
	{ .name = "to", .parse = parse_recipient, .required = true,
	  .off = offsetof(struct config, notify.lead_to) },
	UINT_KEY("after", notify.lead_after, 0, 7u * 86400),
};

static const struct key notify_retry_keys[] = {
	UINT_KEY("attempts", notify.retry_attempts, 1, 100),
	UINT_KEY("backoff", notify.retry_backoff, 1, 3600),
	UINT_KEY("max_backoff", notify.retry_max_backoff, 1, 86400),
};

static const struct key notify_keys[] = {
	{ .name = "enabled", .parse = parse_bool, .off = offsetof(struct config, notify.enabled) },
	{ .name = "channels", .parse = parse_notify_channels, .same = notify_channels_same,
	  .show = notify_channels_show, .keep = keep_notify_channels },
	{ .name = "ack_url", .parse = parse_ack_url, .off = offsetof(struct config, notify.ack_url) },
	{ .name = "portal_url", .parse = parse_ack_url,
	  .off = offsetof(struct config, notify.portal_url) },
	{ .name = "ack_key_file", .parse = parse_path,
	  .off = offsetof(struct config, notify.ack_key_file) },
	UINT_KEY("ack_ttl", notify.ack_ttl, 60, 30u * 86400),
	{ .name = "templates", .parse = parse_path, .off = offsetof(struct config, notify.templates) },
	SECTION_KEY("lead", parse_section, notify_lead_keys),
	SECTION_KEY("retry", parse_section, notify_retry_keys),
};

/* What only the whole section can tell: lead names a channel that exists. */
static int notify_finish(struct parse *p)
{
	const struct config_notify *n = &p->c->notify;

	if (n->retry_backoff > n->retry_max_backoff)
		return err_set(p->e, -EINVAL, "%s: notify.retry: backoff (%u) is above max_backoff (%u)",
			       p->name, (unsigned)n->retry_backoff, (unsigned)n->retry_max_backoff);
	if (!n->lead_channel)
		return 0;
	for (size_t i = 0; i < n->n_channels; i++)
		if (!strcmp(n->channels[i].name, n->lead_channel))
			return 0;
	return fail_line(p, n->line, "notify.lead.channel: '%s' is not a channel of "
			 "notify.channels", n->lead_channel);
}

static const struct key top_keys[] = {
	{ .name = "data_dir", .parse = parse_path, .off = offsetof(struct config, data_dir) },
	{ .name = "log_level", .parse = parse_log_level, .live = true, .show = log_level_show },
	{ .name = "timezone", .parse = parse_timezone, .live = true,
	  .off = offsetof(struct config, timezone) },
	{ .name = "clock_skew_max", .parse = parse_uint, .live = true,
	  .off = offsetof(struct config, clock_skew_max),
	  .size = sizeof(((struct config *)0)->clock_skew_max), .min = 0, .max = 366u * 86400 },
	UINT_KEY("workers", workers, 0, 64),
	SECTION_KEY("admin", parse_section, admin_keys),
	SECTION_KEY("syslog", parse_section, syslog_keys),
	SECTION_KEY("queues", parse_section, queue_keys),
	SECTION_KEY("limits", parse_section, limit_keys),
	SECTION_KEY("output", parse_section, output_keys),
	SECTION_KEY("store", parse_section, store_keys),
	SECTION_KEY("alerts", parse_section, alerts_keys),
	SECTION_KEY("keys", parse_section, keys_keys),
	SECTION_KEY("api", parse_section, api_keys),
	SECTION_KEY("decoders", parse_section, decoders_keys),
	{ .name = "pollers", .parse = parse_pollers, .same = pollers_same, .show = pollers_show,
	  .keep = keep_pollers },
	SECTION_KEY("detect", parse_section, detect_keys),
	SECTION_KEY("ti", parse_section, ti_keys),
	{ .name = "logsources", .parse = parse_logsources, .live = true, .same = logsources_same,
	  .show = logsources_show },
	SECTION_KEY("edl", parse_section, edl_keys),
	SECTION_KEY("soc", parse_section, soc_keys),
	SECTION_KEY("notify", parse_section, notify_keys),
};
static const struct section top_section = { top_keys, ARRAY_SIZE(top_keys) };

/* ---------------------------------------------------------------- reload: diff and keep */

enum key_kind { KIND_OTHER, KIND_SECTION, KIND_NUMBER, KIND_BOOL, KIND_STRING };

/* Keys with another parser must give `same` and `show`, or they never count as changed. */
static enum key_kind key_kind(const struct key *k)
{
	if (k->sub && (k->parse == parse_section || k->parse == parse_tls))
		return KIND_SECTION;
	if (k->parse == parse_uint || k->parse == parse_max_bytes)
		return KIND_NUMBER;
	if (k->parse == parse_bool)
		return KIND_BOOL;
	if (k->parse == parse_path || k->parse == parse_address || k->parse == parse_timezone)
		return KIND_STRING;
	return KIND_OTHER;
}

static void show_value(const struct config *c, const struct key *k, char *out, size_t size)
{
	const char *field = (const char *)c + k->off;

	if (k->show) {
		k->show(c, out, size);
		return;
	}
	switch (key_kind(k)) {
	case KIND_NUMBER: {
		uint64_t v = 0;

		if (k->size == sizeof(uint32_t)) {
			uint32_t v32;

			memcpy(&v32, field, sizeof(v32));
			v = v32;
		} else {
			memcpy(&v, field, sizeof(v));
		}
		snprintf(out, size, "%llu", (unsigned long long)v);
		break;
	}
	case KIND_BOOL: {
		int v;

		memcpy(&v, field, sizeof(v));
		snprintf(out, size, "%s", v ? "true" : "false");
		break;
	}
	case KIND_STRING: {
		const char *v;

		memcpy(&v, field, sizeof(v));
		snprintf(out, size, "%s", v ? v : "(not set)");
		break;
	}
	default:
		snprintf(out, size, "?");
	}
}

#define SHOW_MAX 4096u /* bytes of a value compared as text */

static size_t diff_section(const struct section *s, const char *path, const struct config *a,
			   const struct config *b, config_change_fn fn, void *ctx)
{
	char sub[KEY_PATH_MAX], was[SHOW_MAX], now[SHOW_MAX];
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct key *k = &s->keys[i];
		bool same;

		key_path(sub, path, k->name);
		if (key_kind(k) == KIND_SECTION) {
			n += diff_section(k->sub, sub, a, b, fn, ctx);
			continue;
		}
		show_value(a, k, was, sizeof(was));
		show_value(b, k, now, sizeof(now));
		same = k->same ? k->same(a, b) : !strcmp(was, now);
		if (!same) {
			n++;
			if (fn)
				fn(ctx, sub, k->live, was, now);
		}
	}
	return n;
}

size_t config_diff(const struct config *running, const struct config *next,
		   config_change_fn fn, void *ctx)
{
	return diff_section(&top_section, "top level", running, next, fn, ctx);
}

static int keep_section(const struct section *s, struct config *next,
			const struct config *running)
{
	int rc = 0;

	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const struct key *k = &s->keys[i];
		char **to = (char **)((char *)next + k->off), *copy;
		const char *from;

		if (k->live)
			continue;
		switch (key_kind(k)) {
		case KIND_SECTION:
			rc = keep_section(k->sub, next, running);
			break;
		case KIND_NUMBER:
			memcpy((char *)next + k->off, (const char *)running + k->off, k->size);
			break;
		case KIND_BOOL:
			memcpy((char *)next + k->off, (const char *)running + k->off, sizeof(int));
			break;
		case KIND_STRING:
			memcpy(&from, (const char *)running + k->off, sizeof(from));
			copy = from ? mem_strdup(from) : NULL;
			if (from && !copy)
				return -ENOMEM;
			replace_string(to, copy);
			break;
		default:
			if (k->keep)
				rc = k->keep(next, running);
			else if (k->parse == parse_listeners)
				rc = keep_listeners(next, running);
		}
	}
	return rc;
}

int config_keep_restart_keys(struct config *next, const struct config *running,
			     struct err *e)
{
	if (keep_section(&top_section, next, running) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* Checks that span sections, once the whole file is read. */
static int check_whole(struct parse *p)
{
	const struct config *c = p->c;

	if ((c->tls_cert || c->tls_key || c->tls_ca) && (!c->tls_cert || !c->tls_key))
		return fail_line(p, p->tls_line, "syslog.tls needs both 'cert' and 'key'");
	for (size_t i = 0; i < c->n_listeners; i++)
		if (config_proto_tls(c->listeners[i].proto) && !c->tls_cert)
			return fail_line(p, p->listener_line[i],
					 "listener '%s' uses protocol %s but syslog.tls.cert "
					 "and syslog.tls.key are not set", c->listeners[i].name,
					 config_proto_name(c->listeners[i].proto));
	if (p->max_bytes_line && c->queue_max_bytes < c->max_message_size)
		return fail_line(p, p->max_bytes_line,
				 "queues.max_bytes (%zu) must be at least syslog.max_message_size "
				 "(%zu) so that one message fits", c->queue_max_bytes,
				 c->max_message_size);
	return notify_finish(p);
}

/* STREAM_START [DOCUMENT_START node DOCUMENT_END] STREAM_END: one document at most. */
static int parse_stream(struct parse *p)
{
	int rc;

	if ((rc = next_event(p)) < 0 || (rc = next_event(p)) < 0)
		return rc;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return 0;
	if ((rc = next_event(p)) < 0 ||
	    (rc = walk_section(p, &top_section, p->c, "top level", NULL)) < 0 ||
	    (rc = next_event(p)) < 0 || (rc = next_event(p)) < 0)
		return rc;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return fail_here(p, "only one YAML document is allowed");
	return check_whole(p);
}

int config_load_mem(struct config *c, const char *text, size_t len, const char *name,
		    struct err *e)
{
	struct parse p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.name = name ? name : "(config)";
	p.c = c;
	p.e = e;
	if ((rc = config_defaults(c, e)) < 0)
		return rc;
	if (!yaml_parser_initialize(&p.yp)) {
		rc = err_set(e, -ENOMEM, "%s: out of memory", p.name);
		goto fail;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
	rc = parse_stream(&p);
	if (p.have_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yp);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	config_release(c);
	return rc;
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a plain file";
}

int config_read_file(const char *path, const char *what, size_t max, char **text, size_t *len,
		     struct err *e)
{
	char *data = NULL;
	size_t used = 0;
	ssize_t n = 1;
	/* O_NONBLOCK: opening a FIFO without a writer must not block (signals wait) */
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return err_set(e, -errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = err_set(e, -errno, "%s: cannot read its status: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(e, -EINVAL, "%s: not a regular file (%s); the %s must be a plain file",
			     path, file_kind(st.st_mode), what);
		goto fail;
	}
	data = mem_alloc(max + 1);
	if (!data) {
		rc = err_set(e, -ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	while (used <= max && n != 0) {
		n = read(fd, data + used, max + 1 - used);
		if (n < 0 && errno != EINTR) {
			rc = err_set(e, -EIO, "%s: read error: %s", path, strerror(errno));
			goto fail;
		}
		used += n > 0 ? (size_t)n : 0;
	}
	if (used > max) {
		rc = err_set(e, -EFBIG, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	close(fd);
	*text = data;
	*len = used;
	return 0;
fail:
	close(fd);
	mem_free(data);
	return rc;
}

int config_load(struct config *c, const char *path, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!path)
		return config_defaults(c, e);
	memset(c, 0, sizeof(*c));
	if ((rc = config_read_file(path, "configuration", CONFIG_FILE_MAX, &text, &len, e)) < 0)
		return rc;
	rc = config_load_mem(c, text, len, path, e);
	mem_free(text);
	if (rc < 0)
		return rc;
	c->path = mem_strdup(path);
	if (!c->path) {
		config_release(c);
		return err_set(e, -ENOMEM, "%s: out of memory", path);
	}
	return 0;
}

/* ---------------------------------------------------------------- dry run */

struct check {
	const struct config *c;
	config_report_fn report;
	void *ctx;
	int errors, warnings;
};

static void report(struct check *k, enum config_severity sev, unsigned line, const char *fmt,
		   ...) PRINTF_LIKE(4, 5);
static void report(struct check *k, enum config_severity sev, unsigned line, const char *fmt,
		   ...)
{
	char what[768], msg[1024];
	const char *file = k->c->path ? k->c->path : "built-in configuration";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(msg, sizeof(msg), "%s:%u: %s", file, line, what);
	else
		snprintf(msg, sizeof(msg), "%s: %s", file, what);
	if (sev == CONFIG_ERROR)
		k->errors++;
	else
		k->warnings++;
	if (k->report)
		k->report(k->ctx, sev, msg);
}

/* One socket koban would bind: a syslog listener or the admin listener (index -1). */
struct bind_spec {
	int index;
	bool stream;
	struct ipaddr ip;
	uint16_t port;
	bool ok;
};

static struct bind_spec bind_of(const char *address, int index, bool stream)
{
	struct bind_spec b = { index, stream, { { 0 } }, 0, false };
	struct sockaddr_storage ss;
	unsigned len;

	if (address && ipaddr_parse_endpoint(address, &ss, &len, NULL) == 0 &&
	    ipaddr_from_sockaddr(&b.ip, (struct sockaddr *)&ss, &b.port) == 0)
		b.ok = true;
	return b;
}

/*
 * Two sockets of one transport clash on the same port when their addresses are equal or
 * one is the wildcard of the same family (IPv6 sockets are V6ONLY). Port 0 never clashes.
 */
static bool binds_clash(const struct bind_spec *a, const struct bind_spec *b)
{
	if (!a->ok || !b->ok || a->stream != b->stream || a->port != b->port || !a->port)
		return false;
	if (ipaddr_is_v4(&a->ip) != ipaddr_is_v4(&b->ip))
		return false;
	return !memcmp(&a->ip, &b->ip, sizeof(a->ip)) || ipaddr_is_any(&a->ip) ||
	       ipaddr_is_any(&b->ip);
}

static void check_binds(struct check *k)
{
	const struct config *c = k->c;
	struct bind_spec admin = bind_of(c->admin_address, -1, true);

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct config_listener *l = &c->listeners[i];
		struct bind_spec b = bind_of(l->address, (int)i, l->proto != LISTENER_UDP);

		for (size_t j = 0; j < i; j++) {
			const struct config_listener *o = &c->listeners[j];
			struct bind_spec ob = bind_of(o->address, (int)j, o->proto != LISTENER_UDP);

			if (binds_clash(&b, &ob)) {
				report(k, CONFIG_ERROR, l->line, "syslog.listeners[%zu]: listener '%s' "
				       "(%s %s) clashes with listener '%s' (%s %s%s%u): both bind "
				       "the same %s port", i, l->name, config_proto_name(l->proto),
				       l->address, o->name, config_proto_name(o->proto), o->address,
				       o->line ? ", line " : "", o->line, b.stream ? "TCP" : "UDP");
				break;
			}
		}
		if (binds_clash(&b, &admin))
			report(k, CONFIG_ERROR, c->line.admin ? c->line.admin : l->line,
			       "admin.listen: %s clashes with listener '%s' (%s %s): both bind the "
			       "same TCP port", c->admin_address, l->name,
			       config_proto_name(l->proto), l->address);
	}
	if (admin.ok && !ipaddr_is_loopback(&admin.ip))
		report(k, CONFIG_WARNING, c->line.admin, "admin.listen: %s is not a loopback "
		       "address, and the admin listener has no authentication: anyone who can "
		       "reach it reads /metrics (tenant names, counters); keep it on 127.0.0.1 or "
		       "[::1]", c->admin_address);
}

/* A file a TLS listener reads at start: it must be a readable plain file. */
static void check_readable(struct check *k, const char *key, const char *path, unsigned line)
{
	struct stat st;
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		report(k, CONFIG_ERROR, line, "%s: cannot read %s: %s", key, path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		report(k, CONFIG_ERROR, line, "%s: %s is not a regular file", key, path);
	close(fd);
}

static void check_tls(struct check *k)
{
	const struct config *c = k->c;
	bool tls = false;

	for (size_t i = 0; i < c->n_listeners; i++)
		tls = tls || config_proto_tls(c->listeners[i].proto);
	if (!tls)
		return;
	check_readable(k, "syslog.tls.cert", c->tls_cert, c->line.tls_cert);
	check_readable(k, "syslog.tls.key", c->tls_key, c->line.tls_key);
	check_readable(k, "syslog.tls.client_ca", c->tls_ca, c->line.tls_ca);
}

/* Creates and removes a file in dir: the only test that also holds for root and ro mounts. */
static int probe_writable(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/.koban-check-XXXXXX", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	close(fd);
	unlink(path);
	return 0;
}

/* "a/b/c" -> "a/b", "/a" -> "/", "a" -> "." (in place). */
static void parent_dir(char *path)
{
	size_t n = strlen(path);
	char *slash;

	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		memcpy(path, ".", 2);
	else if (slash == path)
		path[1] = '\0';
	else
		*slash = '\0';
}

static void check_data_dir(struct check *k)
{
	const struct config *c = k->c;
	const char *dir = c->data_dir;
	char parent[PATH_MAX];
	struct stat st;
	size_t len;
	int rc;

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: %s exists and is not "
			       "a directory", dir);
		else if ((rc = probe_writable(dir)) < 0)
			report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: %s is not writable: %s",
			       dir, strerror(-rc));
		return;
	}
	if (errno != ENOENT && errno != ENOTDIR) {
		report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: %s: %s", dir, strerror(errno));
		return;
	}
	/* missing: serve creates it, so the nearest existing ancestor must take new entries */
	len = strlen(dir);
	if (len >= sizeof(parent)) {
		report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: path too long");
		return;
	}
	memcpy(parent, dir, len + 1);
	do
		parent_dir(parent);
	while (stat(parent, &st) < 0 && (errno == ENOENT || errno == ENOTDIR) &&
	       strcmp(parent, "/") &&
	       strcmp(parent, "."));
	if (stat(parent, &st) < 0)
		report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: %s cannot be created: %s: %s",
		       dir, parent, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: %s cannot be created: %s is "
		       "not a directory", dir, parent);
	else if ((rc = probe_writable(parent)) < 0)
		report(k, CONFIG_ERROR, c->line.data_dir, "data_dir: %s cannot be created: %s is "
		       "not writable: %s", dir, parent, strerror(-rc));
}

/* api: HTTPS needs both files; plain HTTP only on loopback; no clash with admin. */
static void check_api(struct check *k)
{
	const struct config *c = k->c;
	struct bind_spec api = bind_of(c->api_listen, -2, true);
	struct bind_spec admin = bind_of(c->admin_address, -1, true);

	if (!c->api_listen)
		return;
	if (!c->api_tls_cert != !c->api_tls_key)
		report(k, CONFIG_ERROR, c->line.api_tls_cert ? c->line.api_tls_cert
							     : c->line.api_tls_key,
		       "api.tls: cert and key go together (HTTPS needs both)");
	check_readable(k, "api.tls.cert", c->api_tls_cert, c->line.api_tls_cert);
	check_readable(k, "api.tls.key", c->api_tls_key, c->line.api_tls_key);
	if (api.ok && !c->api_tls_cert && !ipaddr_is_loopback(&api.ip))
		report(k, CONFIG_ERROR, c->line.api, "api.listen: %s is not a loopback address: "
		       "plain HTTP would carry tokens and events in clear; set api.tls.cert and "
		       "api.tls.key, or listen on 127.0.0.1 or [::1]", c->api_listen);
	if (binds_clash(&api, &admin))
		report(k, CONFIG_ERROR, c->line.api, "api.listen: %s clashes with admin.listen %s",
		       c->api_listen, c->admin_address);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct config_listener *l = &c->listeners[i];
		struct bind_spec b = bind_of(l->address, (int)i, l->proto != LISTENER_UDP);

		if (binds_clash(&api, &b))
			report(k, CONFIG_ERROR, c->line.api, "api.listen: %s clashes with listener "
			       "'%s' (%s %s)", c->api_listen, l->name, config_proto_name(l->proto),
			       l->address);
	}
}

/* A secret file: readable, regular, and of mode 0600 or stricter (the readers refuse others). */
static void check_secret(struct check *k, const char *key, const char *path, unsigned line)
{
	struct stat st;
	int before = k->errors;

	check_readable(k, key, path, line);
	if (path && k->errors == before && stat(path, &st) == 0 && (st.st_mode & 077))
		report(k, CONFIG_ERROR, line, "%s: %s has mode %04o: others may read it "
		       "(chmod 600 %s)", key, path, (unsigned)(st.st_mode & 07777), path);
}

/* ti.feeds: the secret files and CA files the feeds read at each fetch (enrich/tifeed.c). */
static void check_ti_feeds(struct check *k)
{
	for (size_t i = 0; i < k->c->n_ti_feeds; i++) {
		const struct config_ti_feed *f = &k->c->ti_feeds[i];
		char key[KEY_PATH_MAX];

		snprintf(key, sizeof(key), "ti.feeds.%s.password_file", f->name);
		check_secret(k, key, f->password_file, f->line);
		snprintf(key, sizeof(key), "ti.feeds.%s.api_key_file", f->name);
		check_secret(k, key, f->api_key_file, f->line);
		snprintf(key, sizeof(key), "ti.feeds.%s.ca_file", f->name);
		check_readable(k, key, f->ca_file, f->line);
	}
}

/*
 * pollers: the secret files serve reads at start (ingest/poll.c refuses the same ones) and
 * the CA files; reported on the line naming the poller.
 */
static void check_pollers(struct check *k)
{
	for (size_t i = 0; i < k->c->n_pollers; i++) {
		const struct config_poller *t = &k->c->pollers[i];
		char key[KEY_PATH_MAX];

		snprintf(key, sizeof(key), "pollers.%s.client_secret_file", t->name);
		check_secret(k, key, t->client_secret_file, t->line);
		snprintf(key, sizeof(key), "pollers.%s.ca_file", t->name);
		check_readable(k, key, t->ca_file, t->line);
	}
}

int config_check(const struct config *c, config_report_fn fn, void *ctx)
{
	struct check k = { c, fn, ctx, 0, 0 };

	check_data_dir(&k);
	if (!c->n_listeners)
		report(&k, CONFIG_ERROR, c->line.listeners, "syslog.listeners: no syslog "
		       "listeners, so serve would receive nothing (add one, or leave the key out "
		       "for the defaults)");
	check_tls(&k);
	check_binds(&k);
	/* keys: a key file named there is never created, so it must be there */
	check_readable(&k, "keys.master", c->keys_master, c->line.keys_master);
	check_readable(&k, "keys.signing", c->keys_signing, c->line.keys_signing);
	check_api(&k);
	check_pollers(&k);
	check_ti_feeds(&k);
	return k.errors;
}

int config_check_tenants(const struct config *c, bool (*exists)(void *ctx, const char *name),
			 void *exists_ctx, config_report_fn fn, void *ctx)
{
	struct check k = { c, fn, ctx, 0, 0 };

	for (size_t i = 0; i < c->n_limits; i++)
		if (!exists(exists_ctx, c->limits[i].tenant))
			report(&k, CONFIG_WARNING, c->limits[i].line, "limits.tenants.%s: there is "
			       "no tenant '%s' in %s/koban.db, so this limit applies to nothing "
			       "(a typo? `koban tenant list` shows the tenants)", c->limits[i].tenant,
			       c->limits[i].tenant, c->data_dir);
	for (size_t i = 0; i < c->n_store_tenants; i++)
		if (!exists(exists_ctx, c->store_tenants[i].tenant))
			report(&k, CONFIG_WARNING, c->store_tenants[i].line, "store.tenants.%s: there "
			       "is no tenant '%s' in %s/koban.db, so these settings apply to nothing "
			       "(a typo? `koban tenant list` shows the tenants)",
			       c->store_tenants[i].tenant, c->store_tenants[i].tenant, c->data_dir);
	return k.warnings;
}

/* ---------------------------------------------------------------- example */

static const char example[] =
	"# koban configuration (YAML). Every key is optional: the values below are the\n"
	"# built-in defaults, used for anything this file leaves out. `koban config check FILE`\n"
	"# validates a file; docs/configuration.md describes every key.\n"
	"# Relative paths are relative to the directory koban is started in.\n"
	"\n"
	"# Directory for the database (koban.db), the event store and the ECS JSON files;\n"
	"# created when missing.\n"
	"data_dir: ./var\n"
	"# Messages on stderr at this level and above: error, warn, info or debug.\n"
	"log_level: info\n"
	"# IANA time zone of RFC 3164 timestamps when the source has no zone of its own;\n"
	"# local = this machine's zone (/etc/localtime), e.g. Asia/Tokyo.\n"
	"timezone: local\n"
	"# Device time this many seconds away from the receive time counts as clock skew.\n"
	"clock_skew_max: 7200\n"
	"# Threads that parse and store events, 0 to 64; 0 = one per CPU core.\n"
	"workers: 0\n"
	"\n"
	"admin:\n"
	"  # HTTP listener for GET /metrics (Prometheus). Keep it on loopback.\n"
	"  listen: 127.0.0.1:8514\n"
	"\n"
	"syslog:\n"
	"  # Longest message kept, in bytes (480 to 16777216); longer ones are truncated\n"
	"  # and counted.\n"
	"  max_message_size: 65536\n"
	"  # SO_RCVBUF of each UDP socket, in bytes (0 = the system default). The kernel caps\n"
	"  # it at net.core.rmem_max.\n"
	"  udp_receive_buffer: 8388608\n"
	"  # TCP and TLS connections open at once, over all stream listeners.\n"
	"  tcp_max_connections: 1024\n"
	"  # Seconds before an idle TCP or TLS connection is closed; 0 = never.\n"
	"  tcp_idle_timeout: 0\n"
	"  # Connections open at once from one source address (0 = no limit of its own).\n"
	"  tcp_max_per_address: 64\n"
	"  # Connections open at once on one stream listener (0 = no limit of its own).\n"
	"  tcp_max_per_listener: 0\n"
	"  # Seconds a message may take to arrive once its first byte did; a connection\n"
	"  # still holding an unfinished message then is closed. 0 = no deadline.\n"
	"  tcp_frame_timeout: 30\n"
	"  # Bytes of unfinished messages held over all connections (at least 1048576).\n"
	"  tcp_frame_memory: 268435456\n"
	"  # Certificate and private key (PEM) of the TLS listeners; required as soon as a\n"
	"  # listener uses protocol tls or relp-tls. With client_ca, clients must present a certificate\n"
	"  # signed by that CA.\n"
	"  # tls:\n"
	"  #   cert: /etc/koban/syslog.crt\n"
	"  #   key: /etc/koban/syslog.key\n"
	"  #   client_ca: /etc/koban/clients-ca.crt\n"
	"  # Where syslog is received. Names are unique (a-z, 0-9, _ and -, at most 32\n"
	"  # characters) and default to the protocol. Addresses: IPV4:PORT, localhost:PORT\n"
	"  # or \"[IPV6]:PORT\" (quoted: YAML reads a bare [ as a list).\n"
	"  listeners:\n"
	"    - name: udp\n"
	"      protocol: udp\n"
	"      listen: 127.0.0.1:5514\n"
	"    - name: tcp\n"
	"      protocol: tcp\n"
	"      listen: 127.0.0.1:5514\n"
	"    # RFC 5425 syslog over TLS (needs syslog.tls above):\n"
	"    # - name: tls\n"
	"    #   protocol: tls\n"
	"    #   listen: 0.0.0.0:6514\n"
	"    # RELP (rsyslog's omrelp), each message answered once stored; relp-tls for TLS\n"
	"    # (needs syslog.tls above):\n"
	"    # - name: relp\n"
	"    #   protocol: relp\n"
	"    #   listen: 0.0.0.0:2514\n"
	"    # UDP on every IPv6 address:\n"
	"    # - name: udp6\n"
	"    #   protocol: udp\n"
	"    #   listen: \"[::]:514\"\n"
	"\n"
	"# One bounded queue per tenant; workers serve the queues in turn (deficit round-robin).\n"
	"queues:\n"
	"  # Messages a tenant's queue holds.\n"
	"  capacity: 65536\n"
	"  # Bytes a tenant's queue holds (at least syslog.max_message_size).\n"
	"  max_bytes: 67108864\n"
	"  # Messages a worker takes from one tenant per turn.\n"
	"  quantum: 64\n"
	"\n"
	"# Events per second accepted per tenant; 0 = unlimited.\n"
	"limits:\n"
	"  default_eps: 0\n"
	"  # Per-tenant limits that replace default_eps, for example:\n"
	"  #   demo: { eps: 5000 }\n"
	"  tenants: {}\n"
	"\n"
	"output:\n"
	"  # true: also append each event as ECS JSON to DATA_DIR/spool/TENANT.ndjson (one\n"
	"  # file per tenant; rename it and send SIGHUP to rotate). Events always go to the\n"
	"  # event store.\n"
	"  file: false\n"
	"\n"
	"# The event store (DATA_DIR/wal and DATA_DIR/store).\n"
	"store:\n"
	"  # Group commit: received events are made durable (fsync of the write-ahead log)\n"
	"  # at most this many milliseconds after they arrive (1 to 10000). A crash loses at\n"
	"  # most this much of what TCP senders had already handed over.\n"
	"  commit_interval_ms: 50\n"
	"  # Threads that move the log's events into segments; a tenant is sealed by one of\n"
	"  # them (tenant id mod their number). 0 = one per CPU, at most 16.\n"
	"  seal_threads: 0\n"
	"  # Bytes a tenant may store (its segments and its share of the log); over it, new\n"
	"  # events of the tenant are dropped and counted (reason quota). 0 = no quota.\n"
	"  quota: 0\n"
	"  # Days of events kept per tenant; older days are deleted. 0 = keep forever.\n"
	"  retention_days: 1827\n"
	"  # Per-tenant values that replace quota and retention_days, for example:\n"
	"  #   demo: { quota: 10737418240, retention_days: 90 }\n"
	"  tenants: {}\n"
	"\n"
	"# Alerts of detection in DATA_DIR/koban.db (docs/detection.md).\n"
	"alerts:\n"
	"  # Days an alert is kept after it was raised; older ones are removed once a day.\n"
	"  # 0 = keep forever.\n"
	"  retention_days: 90\n"
	"\n"
	"# Settings of the decoders (docs/parsing.md), read at start.\n"
	"decoders:\n"
	"  leef:\n"
	"    # Attribute delimiter of LEEF 1.0 (and of 2.0 without one in its header): auto\n"
	"    # (TAB when the attributes hold one, else |, else ^), tab, one character, or its\n"
	"    # code in hex (x09, 0x5E).\n"
	"    delimiter: auto\n"
	"    # Per-source delimiters that replace it, by source name, for example:\n"
	"    #   pa-leef: \"|\"\n"
	"    sources: {}\n"
	"  # The generic JSON decoder (format json): per source, which record keys become\n"
	"  # which fields, and which key holds the event's time; the map named default serves\n"
	"  # sources without one. Keys not mapped stay in event.original only. For example:\n"
	"  #   app-logs:\n"
	"  #     fields: { src: source.ip, user.login: user.name, status: http.response.status_code }\n"
	"  #     timestamp: ts\n"
	"  json: {}\n"
	"  # Postfix: queue ids remembered to put one message's facts (client, sender,\n"
	"  # Message-ID) on its later lines, and seconds an id is kept after its last line.\n"
	"  postfix:\n"
	"    max_queue_ids: 16384\n"
	"    queue_id_ttl: 86400\n"
	"\n"
	"# The master key (wraps every tenant's data key) and the signing key (signs deletion\n"
	"# certificates) are made in DATA_DIR/keys on first use. To keep them on other media,\n"
	"# make them with `koban key init --dir DIR` and name the files here (the signing key's\n"
	"# public half, signing.pub, is read from beside it). The wrapped data keys stay in\n"
	"# DATA_DIR/keys. A named key that is missing stops koban; it is never made anew.\n"
	"# keys:\n"
	"#   master: /media/koban-keys/master.key\n"
	"#   signing: /media/koban-keys/signing.key\n"
	"\n"
	"# The API listener (docs/api.md): off unless listen is set (or serve --api).\n"
	"# HTTPS with tls.cert and tls.key; plain HTTP only on a loopback address.\n"
	"# Clients authenticate with tokens from `koban token add`.\n"
	"# api:\n"
	"#   listen: 127.0.0.1:8515\n"
	"#   tls:\n"
	"#     cert: /etc/koban/api.crt\n"
	"#     key: /etc/koban/api.key\n"
	"#   # HTTP ingest (POST /api/v1/ingest/SOURCE with a token from `koban source\n"
	"#   # token`): a larger body, or one that inflates to more, is refused with 413\n"
	"#   # (1024 to 1073741824 bytes).\n"
	"#   ingest_max_bytes: 16777216\n"
	"\n"
	"# Pollers fetch logs kept in Microsoft's cloud (docs/pollers.md): type graph (Graph\n"
	"# security alerts_v2 and incidents) or loganalytics (one KQL query per table of a\n"
	"# workspace), with an Entra ID application's client secret read from a file of mode\n"
	"# 0600. The tenant must exist (koban tenant add). None by default.\n"
	"# pollers:\n"
	"#   m365:\n"
	"#     type: graph\n"
	"#     tenant: city-a\n"
	"#     directory: contoso.onmicrosoft.com\n"
	"#     client_id: 6731de76-14a6-49ae-97bc-6eba6914391e\n"
	"#     client_secret_file: /etc/koban/m365.secret\n"
	"#   sentinel:\n"
	"#     type: loganalytics\n"
	"#     tenant: city-a\n"
	"#     directory: contoso.onmicrosoft.com\n"
	"#     client_id: 6731de76-14a6-49ae-97bc-6eba6914391e\n"
	"#     client_secret_file: /etc/koban/la.secret\n"
	"#     workspace: 0f1e3a52-9f6a-4c2e-8a7d-1c2b3a4d5e6f\n"
	"#     tables: [SigninLogs, AuditLogs]\n"
	"\n"
	"# Detection with Sigma rules (docs/detection.md): the bundled rules are always found;\n"
	"# rules adds directories (or files) of your own, disable turns rules off by id, and\n"
	"# placeholders gives the values of %NAME% in rules that use the expand modifier (a\n"
	"# rule naming a placeholder without values is rejected). A reload applies changes.\n"
	"detect:\n"
	"  rules: []\n"
	"  disable: []\n"
	"  # placeholders:\n"
	"  #   Admins_Workstations: [ws-admin-01, ws-admin-02]\n"
	"  placeholders: {}\n"
	"  # correlations: seconds an event may arrive late (older ones are counted, not\n"
	"  # used), and the state kept per tenant (the least recently used groups go first)\n"
	"  lateness: 300\n"
	"  max_groups: 100000\n"
	"  max_events: 1000000\n"
	"  # impossible travel: two successful sign-ins of one user further apart than\n"
	"  # travel_distance_km that would need more than travel_speed_kmh (restart to change)\n"
	"  travel_speed_kmh: 900\n"
	"  travel_distance_km: 500\n"
	"\n"
	"# The Sigma logsource of a source's events (docs/detection.md, \"Field maps and\n"
	"# logsources\"), by source name, in place of the one the bundled field maps give its\n"
	"# decoder's data set (PAN-OS: category firewall, product panos). Rules apply to an\n"
	"# event when every logsource key they name has that value. None by default; e.g.\n"
	"#   app-audit: { product: m365, service: audit }\n"
	"logsources: {}\n"
	"\n"
	"# Threat intelligence (docs/threatintel.md): the confidence of indicators that carry\n"
	"# none, the window within which one indicator seen on one host raises one alert,\n"
	"# and the days of stored events newly imported indicators are sought in. Feeds are\n"
	"# fetched over HTTPS every refresh seconds (at least 60) into the indicators of\n"
	"# source NAME (global, or of tenant); format list, csv, stix (a bundle), taxii (a\n"
	"# TAXII 2.1 collection's URL) or misp (a MISP feed's directory URL). Secrets are read\n"
	"# from files of mode 0600: password_file (HTTP Basic, with username), api_key_file\n"
	"# (MISP). None by default; a restart applies changes. For example:\n"
	"#   feeds:\n"
	"#     abuse-ips:\n"
	"#       url: https://feeds.example.org/ips.txt\n"
	"#       format: list\n"
	"#       refresh: 3600\n"
	"#     isac:\n"
	"#       url: https://taxii.example.org/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/\n"
	"#       format: taxii\n"
	"#       username: koban\n"
	"#       password_file: /etc/koban/isac.secret\n"
	"ti:\n"
	"  default_confidence: 50\n"
	"  dedupe_window: 3600\n"
	"  retrohunt_days: 30\n"
	"  feeds: {}\n"
	"\n"
	"# External Dynamic Lists (docs/threatintel.md): lists of indicators the API listener\n"
	"# serves to PAN-OS firewalls as GET /edl/TENANT/NAME.txt, per tenant, opened by a\n"
	"# token from `koban token add NAME --tenant T --edl` (HTTP Basic auth). Each list\n"
	"# takes one type (ip, domain, url) from the chosen sources (\"*\": every one) and,\n"
	"# unless include_global is false, the global indicators with the tenant's own; at\n"
	"# most max_entries (the lowest confidence, then the oldest, dropped first). allow:\n"
	"# values never listed, for every tenant (each tenant adds its own with `koban edl\n"
	"# allow add`). A restart applies changes. None by default; e.g.\n"
	"# edl:\n"
	"#   lists:\n"
	"#     block-ips: { type: ip, sources: [\"*\"], min_confidence: 50, max_entries: 50000 }\n"
	"#     block-domains: { type: domain, sources: [abuse-ch, soc] }\n"
	"#   allow: [192.0.2.53, 198.51.100.0/24, resolver.example.jp]\n"
	"\n"
	"# The SOC core (docs/incidents.md).\n"
	"soc:\n"
	"  # levels: the names and the numbers shown for the incident levels 0\n"
	"  # (informational) to 3 (critical: the attack succeeded); `koban incident update\n"
	"  # --level` and the API accept either. A restart applies changes. E.g.\n"
	"  #   levels:\n"
	"  #     names: [Informational, Medium, High, Critical]\n"
	"  #     shown: [0, 1, 2, 3]\n"
	"  # The engine (docs/incidents.md, \"How alerts become incidents\"): an open\n"
	"  # incident takes the alerts of its grouping key that come within window seconds\n"
	"  # of its last one. grouping: the first entry whose match names the alert's rule id\n"
	"  # or one of its tags (no match: every alert) groups by the values of its keys;\n"
	"  # when none applies, by the victim (destination.ip, else user.name, else\n"
	"  # host.name), else by source.ip. A restart applies changes. E.g.\n"
	"  #   grouping:\n"
	"  #     - { match: [attack.credential_access], keys: [user.name] }\n"
	"  #     - { match: [attack.initial_access], keys: [source.ip, destination.ip] }\n"
	"  window: 3600\n"
	"  grouping: []\n"
	"  # SLA goals of incidents (docs/sla.md), in seconds, 0 = no goal: decide the level\n"
	"  # (from detection), approve the first report (from detection), reach a person (from\n"
	"  # the level decision; only incidents of level 2 or 3), acknowledge and contain (from\n"
	"  # detection). tenants.NAME overrides some of them for one tenant, e.g.\n"
	"  #   tenants:\n"
	"  #     city-hall: { first_report: 3600, contain: 14400 }\n"
	"  # A restart applies changes.\n"
	"  sla:\n"
	"    decide: 3600\n"
	"    first_report: 7200\n"
	"    contact: 900\n"
	"    acknowledge: 0\n"
	"    contain: 0\n"
	"    tenants: {}\n"
	"  # Triage (docs/triage.md): incidents' levels decided by evidence.\n"
	"  triage:\n"
	"    # A directory of triage rules (*.yml) that replaces the bundled rules/triage;\n"
	"    # unset: the bundled rules. Read at start.\n"
	"    # rules: /etc/koban/triage\n"
	"    # Seconds of evidence a search rule reads after an alert when it names no\n"
	"    # window of its own (1 to 31622400).\n"
	"    window: 86400\n"
	"  # First reports (docs/firstreport.md): a directory with edited copies of the\n"
	"  # templates (ja.txt, en.txt, actions.txt: all three); unset: the bundled ones.\n"
	"  # report:\n"
	"  #   templates: /etc/koban/templates/firstreport\n"
	"# Notifications (docs/notify.md): the engine that tells people of incidents by the\n"
	"# tenants' policies (`koban notify policy`), escalates until acknowledged and keeps\n"
	"# a delivery log. A restart applies changes.\n"
	"notify:\n"
	"  enabled: true\n"
	"  # The public https:// base of the acknowledgement links (/ack/TOKEN on the API\n"
	"  # listener) and of the portal's incident links; unset: no links.\n"
	"  # ack_url: https://soc.example.jp\n"
	"  # portal_url: https://soc.example.jp/portal\n"
	"  # The key of the acknowledgement tokens (made when missing, mode 0600); unset:\n"
	"  # DATA_DIR/notify-ack.key. Seconds an acknowledgement link is valid.\n"
	"  # ack_key_file: /var/lib/koban/notify-ack.key\n"
	"  ack_ttl: 86400\n"
	"  # A directory with edited copies of the templates (LANG.PART.txt: ja|en and\n"
	"  # subject, text, html, speech); unset: the bundled templates/notify.\n"
	"  # templates: /etc/koban/templates/notify\n"
	"  # The SOC lead: paged once, `after` seconds after the last step, when a chain\n"
	"  # that asks for an acknowledgement ends unacknowledged; without a tenant policy,\n"
	"  # incidents of level 2 and 3 go to the lead. E.g.\n"
	"  #   lead: { channel: mail, to: soc-lead@example.jp, after: 300 }\n"
	"  # Tries of one notice and the waits between them (seconds, doubling).\n"
	"  retry:\n"
	"    attempts: 5\n"
	"    backoff: 2\n"
	"    max_backoff: 300\n"
	"  # The channels (docs/channels.md):\n"
	"  # NAME: { type: smtp|teams|phone|pagerduty|webhook, the type's keys, rate: N }.\n"
	"  # A secret is never written here: keys ending in _file name a file of mode 0600.\n"
	"  # E.g.\n"
	"  #   channels:\n"
	"  #     mail: { type: smtp, url: \"smtp://mail.example.jp:587\", from: soc@example.jp }\n"
	"  #     teams: { type: teams, url_file: /etc/koban/secrets/teams.url }\n"
	"  channels: {}\n";

const char *config_example(void)
{
	return example;
}
