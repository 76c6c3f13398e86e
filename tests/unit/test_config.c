/*
 * Unit tests of core/config: defaults, the example, every key, every kind of error with
 * its file:line, addresses, overrides and allocation failures.
 *
 * tests/data/config/good/ holds files that must load; tests/data/config/bad/ holds files
 * whose first line is "# error: MESSAGE", the start of the message the load, or else
 * the dry run (config_check), must give first, or "# warning: MESSAGE" for a file that
 * loads and checks without errors but must give that warning first (FILE stands for the
 * file's path). For limits.tenants, only "demo" and "_unassigned" exist.
 */
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "t.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Compares every field; reports the first difference by name. */
static const char *fields_differ(const struct config *a, const struct config *b)
{
	if (!str_eq(a->data_dir, b->data_dir))
		return "data_dir";
	if (a->log_level != b->log_level)
		return "log_level";
	if (!str_eq(a->timezone, b->timezone))
		return "timezone";
	if (a->workers != b->workers)
		return "workers";
	if (!str_eq(a->admin_address, b->admin_address))
		return "admin_address";
	if (a->n_listeners != b->n_listeners)
		return "n_listeners";
	for (size_t i = 0; i < a->n_listeners; i++)
		if (!str_eq(a->listeners[i].name, b->listeners[i].name) ||
		    a->listeners[i].proto != b->listeners[i].proto ||
		    !str_eq(a->listeners[i].address, b->listeners[i].address))
			return "listeners";
	if (a->max_message_size != b->max_message_size || a->udp_rcvbuf != b->udp_rcvbuf ||
	    a->tcp_max_connections != b->tcp_max_connections ||
	    a->tcp_idle_timeout != b->tcp_idle_timeout)
		return "syslog numbers";
	if (!str_eq(a->tls_cert, b->tls_cert) || !str_eq(a->tls_key, b->tls_key) ||
	    !str_eq(a->tls_ca, b->tls_ca))
		return "tls";
	if (a->queue_capacity != b->queue_capacity || a->queue_max_bytes != b->queue_max_bytes ||
	    a->queue_quantum != b->queue_quantum)
		return "queues";
	if (a->default_eps != b->default_eps || a->n_limits != b->n_limits)
		return "limits";
	for (size_t i = 0; i < a->n_limits; i++)
		if (!str_eq(a->limits[i].tenant, b->limits[i].tenant) ||
		    a->limits[i].eps != b->limits[i].eps)
			return "tenant limits";
	if (a->output_file != b->output_file)
		return "output.file";
	if (a->store_commit_interval_ms != b->store_commit_interval_ms ||
	    a->store_quota != b->store_quota || a->store_retention_days != b->store_retention_days ||
	    a->n_store_tenants != b->n_store_tenants)
		return "store";
	if (memcmp(a->soc_sla.due, b->soc_sla.due, sizeof(a->soc_sla.due)) ||
	    a->soc_sla.n_tenants != b->soc_sla.n_tenants)
		return "soc.sla";
	return NULL;
}

static int load_str(struct config *c, const char *text, struct err *e)
{
	return config_load_mem(c, text, strlen(text), "t.yaml", e);
}

/* Loads text that must fail and checks the message. */
static void expect_error(const char *text, const char *msg)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(load_str(&c, text, &e), -EINVAL);
	CHECK_STR(e.msg, msg);
	CHECK(c.data_dir == NULL && c.n_listeners == 0);
}

static void test_defaults(void)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(config_load(&c, NULL, &e), 0);
	CHECK(c.path == NULL);
	CHECK_STR(c.data_dir, "./var");
	CHECK_INT(c.log_level, LOG_LEVEL_INFO);
	CHECK_STR(c.timezone, "local");
	CHECK_INT(c.workers, 0);
	CHECK_STR(c.admin_address, "127.0.0.1:8514");
	CHECK(c.keys_master == NULL && c.keys_signing == NULL);
	CHECK_INT(c.n_listeners, 2);
	CHECK_STR(c.listeners[0].name, "udp");
	CHECK_INT(c.listeners[0].proto, LISTENER_UDP);
	CHECK_STR(c.listeners[0].address, "127.0.0.1:5514");
	CHECK_STR(c.listeners[1].name, "tcp");
	CHECK_INT(c.listeners[1].proto, LISTENER_TCP);
	CHECK_STR(c.listeners[1].address, "127.0.0.1:5514");
	CHECK_INT(c.max_message_size, 65536);
	CHECK_INT(c.udp_rcvbuf, 8 << 20);
	CHECK_INT(c.tcp_max_connections, 1024);
	CHECK_INT(c.tcp_idle_timeout, 0);
	CHECK(!c.tls_cert && !c.tls_key && !c.tls_ca);
	CHECK_INT(c.queue_capacity, 65536);
	CHECK_INT(c.queue_max_bytes, 64 << 20);
	CHECK_INT(c.queue_quantum, 64);
	CHECK_INT(c.default_eps, 0);
	CHECK_INT(c.n_limits, 0);
	CHECK_INT(c.output_file, 0);
	config_release(&c);
	CHECK(c.data_dir == NULL);
	config_release(&c); /* a released config may be released again */
}

static void test_example_is_defaults(void)
{
	struct err e = ERR_INIT;
	struct config ex, def;
	const char *diff;

	CHECK_INT(config_load_mem(&ex, config_example(), strlen(config_example()), "example",
				  &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(config_defaults(&def, &e), 0);
	diff = fields_differ(&ex, &def);
	CHECK_STR(diff ? diff : "same", "same");
	config_release(&ex);
	config_release(&def);
}

/* The example's commented TLS listener works once uncommented (with cert and key). */
static void test_example_tls_comment(void)
{
	const char *ex = config_example();
	struct err e = ERR_INIT;
	struct config c;

	CHECK(strstr(ex, "#   protocol: tls\n") != NULL);
	CHECK(strstr(ex, "#   cert: ") != NULL);
	CHECK_INT(load_str(&c,
			   "syslog:\n"
			   "  tls:\n"
			   "    cert: /etc/koban/syslog.crt\n"
			   "    key: /etc/koban/syslog.key\n"
			   "  listeners:\n"
			   "    - name: tls\n"
			   "      protocol: tls\n"
			   "      listen: 0.0.0.0:6514\n", &e), 0);
	CHECK_STR(e.msg, "");
	config_release(&c);
}

static void test_every_key(void)
{
	struct err e = ERR_INIT;
	struct config c;
	char path[512];

	snprintf(path, sizeof(path), "%s/config/good/full.yaml", t_data_dir());
	CHECK_INT(config_load(&c, path, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_STR(c.path, path);
	CHECK_STR(c.data_dir, "/srv/koban/data");
	CHECK_INT(c.log_level, LOG_LEVEL_DEBUG);
	CHECK_STR(c.timezone, "America/Argentina/Buenos_Aires");
	CHECK_INT(c.workers, 8);
	CHECK_STR(c.admin_address, "[::1]:9000");
	CHECK_INT(c.max_message_size, 8192);
	CHECK_INT(c.udp_rcvbuf, 0);
	CHECK_INT(c.tcp_max_connections, 20000);
	CHECK_INT(c.tcp_idle_timeout, 300);
	CHECK_STR(c.tls_cert, "certs/server.crt");
	CHECK_STR(c.tls_key, "certs/server.key");
	CHECK_STR(c.tls_ca, "certs/ca.crt");
	CHECK_INT(c.n_listeners, 3);
	CHECK_STR(c.listeners[0].name, "edge-udp");
	CHECK_INT(c.listeners[0].proto, LISTENER_UDP);
	CHECK_STR(c.listeners[0].address, "0.0.0.0:514");
	CHECK_STR(c.listeners[1].name, "tcp");
	CHECK_INT(c.listeners[1].proto, LISTENER_TCP);
	CHECK_STR(c.listeners[1].address, "localhost:601");
	CHECK_STR(c.listeners[2].name, "tls_1");
	CHECK_INT(c.listeners[2].proto, LISTENER_TLS);
	CHECK_STR(c.listeners[2].address, "[::]:6514");
	CHECK_INT(c.queue_capacity, 1000);
	CHECK_INT(c.queue_max_bytes, 1048576);
	CHECK_INT(c.queue_quantum, 16);
	CHECK_INT(c.default_eps, 100);
	CHECK_INT(c.n_limits, 3);
	CHECK_INT(config_tenant_eps(&c, "demo"), 5000);
	CHECK_INT(config_tenant_eps(&c, "acme-corp"), 0);
	CHECK_INT(config_tenant_eps(&c, "_unassigned"), 10);
	CHECK_INT(config_tenant_eps(&c, "other"), 100);
	CHECK_INT(c.output_file, 1);
	CHECK_INT(c.store_commit_interval_ms, 200);
	CHECK_INT(c.store_quota, 1073741824);
	CHECK_INT(c.store_retention_days, 365);
	CHECK_INT(c.n_store_tenants, 1);
	CHECK_STR(c.store_tenants[0].tenant, "demo");
	CHECK_INT(c.store_tenants[0].quota, 0);
	CHECK_INT(c.store_tenants[0].retention_days, 30);
	CHECK_STR(c.keys_master, "/media/koban-keys/master.key");
	CHECK_STR(c.keys_signing, "/media/koban-keys/signing.key");
	config_release(&c);
}

static void test_good_files(void)
{
	char dir[512], path[1024];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/config/good", t_data_dir());
	dp = opendir(dir);
	CHECK(dp != NULL);
	while (dp && (d = readdir(dp)) != NULL) {
		struct err e = ERR_INIT;
		struct config c;

		if (!strstr(d->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		t_check(config_load(&c, path, &e) == 0, __FILE__, __LINE__, "%s: %s", path, e.msg);
		config_release(&c);
		n++;
	}
	if (dp)
		closedir(dp);
	CHECK(n >= 5);
}

struct problems {
	int errors, warnings;
	char first_error[1024], first_warning[1024];
};

static void collect(void *ctx, enum config_severity sev, const char *msg)
{
	struct problems *p = ctx;
	int *n = sev == CONFIG_ERROR ? &p->errors : &p->warnings;
	char *first = sev == CONFIG_ERROR ? p->first_error : p->first_warning;

	if ((*n)++ == 0)
		snprintf(first, sizeof(p->first_error), "%s", msg);
}

static bool demo_exists(void *ctx, const char *name)
{
	return !strcmp(name, "demo") || !strcmp(name, "_unassigned");
}

/* Checks one bad file against its "# error: " or "# warning: " first line. */
static void check_bad_file(const char *path)
{
	struct problems p = { 0, 0, "", "" };
	struct err e = ERR_INIT;
	struct config c;
	char want[2048], *text, *nl, *mark;
	size_t len, skip;
	bool warning;
	int rc;

	text = t_read_file(path, &len);
	warning = text && !strncmp(text, "# warning: ", 11);
	if (!t_check(text && (warning || !strncmp(text, "# error: ", 9)), __FILE__, __LINE__,
		     "%s has no '# error: ' or '# warning: ' first line", path)) {
		free(text);
		return;
	}
	skip = warning ? 11 : 9;
	nl = strchr(text, '\n');
	*nl = '\0';
	mark = strstr(text, "FILE");
	snprintf(want, sizeof(want), "%.*s%s%s", (int)(mark - text - skip), text + skip, path,
		 mark + 4);
	free(text);
	rc = config_load(&c, path, &e);
	if (rc < 0) {
		CHECK_INT(rc, -EINVAL);
		t_check(!warning && !strncmp(e.msg, want, strlen(want)), __FILE__, __LINE__,
			"%s:\n   want: %s\n    got: %s", path, want, e.msg);
		CHECK(c.data_dir == NULL && c.limits == NULL && c.n_listeners == 0);
		return;
	}
	CHECK_INT(config_check(&c, collect, &p), p.errors);
	config_check_tenants(&c, demo_exists, NULL, collect, &p);
	config_release(&c);
	if (warning)
		t_check(!p.errors && !strncmp(p.first_warning, want, strlen(want)), __FILE__,
			__LINE__, "%s:\n   want warning: %s\n    got: %s%s", path, want,
			p.errors ? p.first_error : "", p.first_warning);
	else
		t_check(!strncmp(p.first_error, want, strlen(want)), __FILE__, __LINE__,
			"%s:\n   want: %s\n    got: %s", path, want, p.first_error);
}

static void test_bad_files(void)
{
	char dir[512], path[1024];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/config/bad", t_data_dir());
	dp = opendir(dir);
	CHECK(dp != NULL);
	while (dp && (d = readdir(dp)) != NULL) {
		if (!strstr(d->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		check_bad_file(path);
		n++;
	}
	if (dp)
		closedir(dp);
	CHECK(n >= 30);
}

static void test_errors_inline(void)
{
	expect_error("workers: 1\nworkers: 2\n", "t.yaml:2: duplicate key 'workers' in 'top level'");
	expect_error("\n\n\nsyslg: {}\n",
		     "t.yaml:4: unknown key 'syslg' in 'top level' (expected one of: data_dir, "
		     "log_level, timezone, clock_skew_max, workers, admin, syslog, queues, limits, output, store, "
		     "alerts, keys, api, decoders, pollers, detect, ti, logsources, edl, soc, notify)");
	expect_error("queues:\n  quantum: 0\n",
		     "t.yaml:2: queues.quantum: expected an integer from 1 to 65536, got '0'");
	expect_error("queues:\n  capacity: 99999999999999999999\n",
		     "t.yaml:2: queues.capacity: expected an integer from 1 to 16777216, "
		     "got '99999999999999999999'");
	expect_error("syslog:\n  tcp_idle_timeout: 1.5\n",
		     "t.yaml:2: syslog.tcp_idle_timeout: expected an integer from 0 to 604800, "
		     "got '1.5'");
	expect_error("syslog:\n  udp_receive_buffer: {a: 1}\n",
		     "t.yaml:2: syslog.udp_receive_buffer: expected an integer from 0 to "
		     "1073741824, got a mapping");
	expect_error("syslog:\n  tcp_max_connections: 0\n",
		     "t.yaml:2: syslog.tcp_max_connections: expected an integer from 1 to "
		     "1048576, got '0'");
	expect_error("limits:\n  default_eps: x\n",
		     "t.yaml:2: limits.default_eps: expected an integer from 0 to 4294967295, "
		     "got 'x'");
	expect_error("timezone: /etc/localtime\n",
		     "t.yaml:1: timezone: expected an IANA time zone name such as Asia/Tokyo or "
		     "UTC, got '/etc/localtime'");
	expect_error("timezone: Asia//Tokyo\n",
		     "t.yaml:1: timezone: expected an IANA time zone name such as Asia/Tokyo or "
		     "UTC, got 'Asia//Tokyo'");
	expect_error("syslog:\n  tls:\n    client_ca: ca.pem\n",
		     "t.yaml:2: syslog.tls needs both 'cert' and 'key'");
	expect_error("syslog:\n  listeners: udp\n",
		     "t.yaml:2: syslog.listeners: expected a list of listeners, got 'udp'");
	expect_error("syslog:\n  listeners:\n    - udp\n",
		     "t.yaml:3: syslog.listeners[0]: expected a mapping of keys to values, "
		     "got 'udp'");
	expect_error("? [a]\n: 1\n", "t.yaml:1: a key in 'top level' is a mapping or list");
	expect_error("data_dir: \"\\x01\\u00e9\"\n",
		     "t.yaml:1: data_dir: expected a file or directory path, got '??\?'");
}

static void test_error_sanitizes_text(void)
{
	struct err e = ERR_INIT;
	struct config c;
	char text[300];

	snprintf(text, sizeof(text), "log_level: \"%s\\x07\"\n",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	CHECK_INT(load_str(&c, text, &e), -EINVAL);
	CHECK(strstr(e.msg, "aaaa...'") != NULL);
	CHECK(strchr(e.msg, '\x07') == NULL);
}

static void test_syntax_error_has_line_and_column(void)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(load_str(&c, "workers: 1\nadmin:\n  listen: \"abc\n", &e), -EINVAL);
	CHECK_STR(e.msg, "t.yaml:4:1: YAML syntax error: found unexpected end of stream while "
		  "scanning a quoted scalar started on line 3");
	CHECK_INT(load_str(&c, "\tworkers: 1\n", &e), -EINVAL);
	CHECK_STR(e.msg, "t.yaml:1:1: YAML syntax error: found character that cannot start any "
		  "token while scanning for the next token started on line 1");
	CHECK_INT(load_str(&c, "data_dir: \"\xff\"\n", &e), -EINVAL);
	CHECK(!strncmp(e.msg, "t.yaml: not valid UTF-8 text at byte 11", 39));
}

static void test_file_errors(void)
{
	struct err e = ERR_INIT;
	struct config c;
	char path[512];

	CHECK_INT(config_load(&c, "/nonexistent/koban.yaml", &e), -ENOENT);
	CHECK(!strncmp(e.msg, "/nonexistent/koban.yaml: cannot open: ", 38));
	snprintf(path, sizeof(path), "%s/config", t_data_dir());
	CHECK_INT(config_load(&c, path, &e), -EINVAL);
	CHECK(strstr(e.msg, "not a regular file (a directory)") != NULL);
	CHECK(c.data_dir == NULL);
	CHECK_INT(config_load(&c, "/dev/null", &e), -EINVAL);
	CHECK_STR(e.msg, "/dev/null: not a regular file (a device); the configuration must be "
		  "a plain file");
}

/* A FIFO without a writer is refused at once; opening it must not block. */
static void test_fifo_refused(void)
{
	struct err e = ERR_INIT;
	struct config c;
	char path[512];

	snprintf(path, sizeof(path), "%s/config.fifo", t_tmp_dir());
	unlink(path);
	if (mkfifo(path, 0600) < 0) {
		t_skip("cannot create a FIFO");
		return;
	}
	CHECK_INT(config_load(&c, path, &e), -EINVAL);
	CHECK(strstr(e.msg, "not a regular file (a FIFO)") != NULL);
	CHECK(c.data_dir == NULL);
	unlink(path);
}

static void test_set_listener(void)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(load_str(&c,
			   "syslog:\n  listeners:\n"
			   "    - {name: a, protocol: udp, listen: 127.0.0.1:1}\n"
			   "    - {name: b, protocol: tcp, listen: 127.0.0.1:2}\n"
			   "    - {name: c, protocol: udp, listen: 127.0.0.1:3}\n", &e), 0);
	CHECK_INT(config_set_listener(&c, LISTENER_UDP, "[::1]:5514", &e), 0);
	CHECK_INT(c.n_listeners, 2);
	CHECK_STR(c.listeners[0].name, "b");
	CHECK_STR(c.listeners[1].name, "udp");
	CHECK_INT(c.listeners[1].proto, LISTENER_UDP);
	CHECK_STR(c.listeners[1].address, "[::1]:5514");
	CHECK_INT(config_set_listener(&c, LISTENER_TCP, "0.0.0.0:601", &e), 0);
	CHECK_INT(c.n_listeners, 2);
	CHECK_STR(c.listeners[1].name, "tcp");
	CHECK_STR(c.listeners[1].address, "0.0.0.0:601");

	CHECK_INT(config_set_listener(&c, LISTENER_UDP, "nowhere", &e), -EINVAL);
	CHECK(!strncmp(e.msg, "address 'nowhere' has no port", 29));
	CHECK_INT(c.n_listeners, 2);
	CHECK_INT(config_set_listener(&c, LISTENER_TLS, "127.0.0.1:6514", &e), -EINVAL);
	CHECK_STR(e.msg, "a tls listener needs syslog.tls.cert and syslog.tls.key in the "
		  "configuration");
	CHECK_INT(c.n_listeners, 2);

	CHECK_INT(config_set_admin(&c, "127.0.0.1:0", &e), 0);
	CHECK_STR(c.admin_address, "127.0.0.1:0");
	CHECK_INT(config_set_admin(&c, "127.0.0.1:x", &e), -EINVAL);
	CHECK_STR(c.admin_address, "127.0.0.1:0");
	config_release(&c);

	CHECK_INT(load_str(&c,
			   "syslog:\n  tls: {cert: c.pem, key: k.pem}\n  listeners:\n"
			   "    - {name: tls, protocol: udp, listen: 127.0.0.1:1}\n", &e), 0);
	CHECK_INT(config_set_listener(&c, LISTENER_TLS, "127.0.0.1:6514", &e), -EINVAL);
	CHECK_STR(e.msg, "cannot add a tls listener named 'tls': a udp listener already has "
		  "that name");
	CHECK_INT(config_set_listener(&c, LISTENER_UDP, "127.0.0.1:514", &e), 0);
	CHECK_INT(config_set_listener(&c, LISTENER_TLS, "127.0.0.1:6514", &e), 0);
	CHECK_INT(c.n_listeners, 2);
	CHECK_STR(c.listeners[1].name, "tls");
	CHECK_INT(c.listeners[1].proto, LISTENER_TLS);
	config_release(&c);
}

struct changes {
	char text[2048];
	size_t used;
};

static void note_change(void *ctx, const char *key, bool live, const char *was, const char *now)
{
	struct changes *ch = ctx;

	ch->used += (size_t)snprintf(ch->text + ch->used, sizeof(ch->text) - ch->used,
				     "%s %s: %s -> %s\n", live ? "live" : "restart", key, was, now);
}

/* A reload names each changed key, live or not, and keeps the running restart-only values. */
static void test_reload_diff_and_keep(void)
{
	struct changes ch = { "", 0 };
	struct err e = ERR_INIT;
	struct config running, fresh;

	CHECK_INT(load_str(&running,
			   "workers: 2\nlog_level: info\ntimezone: Asia/Tokyo\n"
			   "syslog:\n  tcp_idle_timeout: 10\n  listeners:\n"
			   "    - {name: a, protocol: udp, listen: 127.0.0.1:1}\n"
			   "    - {name: b, protocol: tcp, listen: 127.0.0.1:2}\n"
			   "limits:\n  default_eps: 5\n  tenants: {demo: {eps: 1}}\n", &e), 0);
	CHECK_INT(load_str(&fresh,
			   "workers: 4\nlog_level: debug\ntimezone: UTC\n"
			   "syslog:\n  tcp_idle_timeout: 10\n  listeners:\n"
			   "    - {name: b, protocol: tcp, listen: 127.0.0.1:2}\n"
			   "queues: {max_bytes: 1000000}\noutput: {file: true}\n"
			   "limits:\n  default_eps: 7\n  tenants: {demo: {eps: 2}}\n", &e), 0);
	CHECK_INT(config_diff(&running, &fresh, note_change, &ch), 8);
	CHECK_STR(ch.text,
		  "live log_level: info -> debug\n"
		  "live timezone: Asia/Tokyo -> UTC\n"
		  "restart workers: 2 -> 4\n"
		  "restart syslog.listeners: a udp 127.0.0.1:1, b tcp 127.0.0.1:2 -> "
		  "b tcp 127.0.0.1:2\n"
		  "restart queues.max_bytes: 67108864 -> 1000000\n"
		  "live limits.default_eps: 5 -> 7\n"
		  "live limits.tenants: demo: 1 -> demo: 2\n"
		  "restart output.file: false -> true\n");
	CHECK_INT(config_keep_restart_keys(&fresh, &running, &e), 0);
	CHECK_INT(fresh.workers, 2);
	CHECK_INT(fresh.n_listeners, 2);
	CHECK_STR(fresh.listeners[0].name, "a");
	CHECK_STR(fresh.listeners[1].address, "127.0.0.1:2");
	CHECK_INT(fresh.queue_max_bytes, 64 << 20);
	CHECK_INT(fresh.output_file, 0);
	CHECK_INT(fresh.log_level, LOG_LEVEL_DEBUG);
	CHECK_STR(fresh.timezone, "UTC");
	CHECK_INT(fresh.default_eps, 7);
	CHECK_INT(config_tenant_eps(&fresh, "demo"), 2);
	/* what remains differs only in live keys */
	ch.used = 0;
	ch.text[0] = '\0';
	CHECK_INT(config_diff(&running, &fresh, note_change, &ch), 4);
	CHECK(strstr(ch.text, "restart") == NULL);
	CHECK_INT(config_diff(&fresh, &fresh, NULL, NULL), 0);
	config_release(&fresh);
	config_release(&running);
}

/* Keeping the running values may run out of memory; next stays valid to release. */
static void test_keep_alloc_failures(void)
{
	struct err e = ERR_INIT;
	struct config running, fresh;
	int rc = -ENOMEM;

	CHECK_INT(load_str(&running, "data_dir: /srv/a\n", &e), 0);
	for (long n = 0; rc == -ENOMEM && n < 100; n++) {
		CHECK_INT(load_str(&fresh, "data_dir: /srv/b\n", &e), 0);
		mem_fail_after(n);
		rc = config_keep_restart_keys(&fresh, &running, &e);
		mem_fail_after(-1);
		if (rc == 0)
			CHECK_STR(fresh.data_dir, "/srv/a");
		config_release(&fresh);
	}
	CHECK_INT(rc, 0);
	config_release(&running);
}

/* The dry run passes the defaults and the example (data_dir ./var is creatable here). */
static void test_check_defaults(void)
{
	struct problems p = { 0, 0, "", "" };
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(config_load(&c, NULL, &e), 0);
	CHECK_INT(config_check(&c, collect, &p), 0);
	CHECK_STR(p.first_error, "");
	CHECK_STR(p.first_warning, "");
	config_release(&c);
	/* port 0 never clashes; an override has no line */
	CHECK_INT(config_load(&c, NULL, &e), 0);
	CHECK_INT(config_set_listener(&c, LISTENER_TCP, "127.0.0.1:0", &e), 0);
	CHECK_INT(config_set_admin(&c, "127.0.0.1:0", &e), 0);
	CHECK_INT(config_check(&c, collect, &p), 0);
	CHECK_INT(config_set_admin(&c, "[::]:8514", &e), 0);
	CHECK_INT(config_check(&c, collect, &p), 0);
	CHECK_STR(p.first_warning, "built-in configuration: admin.listen: [::]:8514 is not a "
		  "loopback address, and the admin listener has no authentication: anyone who "
		  "can reach it reads /metrics (tenant names, counters); keep it on 127.0.0.1 or "
		  "[::1]");
	config_release(&c);
}

static void test_listener_limit(void)
{
	char text[8192];
	size_t used = 0;
	struct err e = ERR_INIT;
	struct config c;

	used += (size_t)snprintf(text, sizeof(text), "syslog:\n  listeners:\n");
	for (int i = 0; i <= CONFIG_MAX_LISTENERS; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "    - {name: l%d, protocol: udp, listen: 127.0.0.1:%d}\n",
					 i, 1000 + i);
	CHECK_INT(load_str(&c, text, &e), -EINVAL);
	CHECK_STR(e.msg, "t.yaml:35: syslog.listeners: too many listeners (at most 32)");
	/* Exactly the maximum loads; an override adds only when another one goes. */
	*strstr(text, "    - {name: l32") = '\0';
	CHECK_INT(load_str(&c, text, &e), 0);
	CHECK_INT(c.n_listeners, CONFIG_MAX_LISTENERS);
	CHECK_INT(config_set_listener(&c, LISTENER_TCP, "127.0.0.1:1", &e), -EINVAL);
	CHECK_STR(e.msg, "too many listeners (at most 32)");
	CHECK_INT(config_set_listener(&c, LISTENER_UDP, "127.0.0.1:1", &e), 0);
	CHECK_INT(c.n_listeners, 1);
	config_release(&c);
}

static void test_proto_names(void)
{
	CHECK_STR(config_proto_name(LISTENER_UDP), "udp");
	CHECK_STR(config_proto_name(LISTENER_TCP), "tcp");
	CHECK_STR(config_proto_name(LISTENER_TLS), "tls");
	CHECK_STR(config_proto_name(LISTENER_RELP), "relp");
	CHECK_STR(config_proto_name(LISTENER_RELP_TLS), "relp-tls");
	CHECK(config_proto_tls(LISTENER_TLS) && config_proto_tls(LISTENER_RELP_TLS));
	CHECK(!config_proto_tls(LISTENER_TCP) && !config_proto_tls(LISTENER_RELP));
	CHECK(config_proto_relp(LISTENER_RELP) && config_proto_relp(LISTENER_RELP_TLS));
	CHECK(!config_proto_relp(LISTENER_TCP) && !config_proto_relp(LISTENER_TLS));
}

/* --relp and --relp-tls: the listener named after the protocol; TLS needs syslog.tls. */
static void test_set_relp_listener(void)
{
	struct config c;
	struct err e = ERR_INIT;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(config_set_listener(&c, LISTENER_RELP, "127.0.0.1:2514", &e), 0);
	CHECK_INT(c.n_listeners, 3);
	CHECK_STR(c.listeners[2].name, "relp");
	CHECK_INT(c.listeners[2].proto, LISTENER_RELP);
	CHECK_INT(config_set_listener(&c, LISTENER_RELP_TLS, "127.0.0.1:2515", &e), -EINVAL);
	CHECK(strstr(e.msg, "relp-tls listener needs syslog.tls.cert") != NULL);
	config_release(&c);
}

/* Every allocation may fail: the load reports -ENOMEM and leaves nothing allocated. */
static void test_alloc_failures(void)
{
	char path[512];
	int rc = -ENOMEM;
	long n;

	snprintf(path, sizeof(path), "%s/config/good/full.yaml", t_data_dir());
	for (n = 0; rc == -ENOMEM && n < 1000; n++) {
		struct err e = ERR_INIT;
		struct config c;

		mem_fail_after(n);
		rc = config_load(&c, path, &e);
		mem_fail_after(-1);
		if (rc == -ENOMEM) {
			CHECK(strstr(e.msg, "out of memory") != NULL);
			CHECK(c.data_dir == NULL && c.limits == NULL && c.n_listeners == 0);
		}
		config_release(&c);
	}
	CHECK_INT(rc, 0);
	CHECK(n > 10);
	for (n = 0, rc = -ENOMEM; rc == -ENOMEM && n < 100; n++) {
		struct err e = ERR_INIT;
		struct config c;

		CHECK_INT(config_defaults(&c, NULL), 0);
		mem_fail_after(n);
		rc = config_set_listener(&c, LISTENER_UDP, "127.0.0.1:1", &e);
		mem_fail_after(-1);
		CHECK_INT(c.n_listeners, 2);
		CHECK_STR(c.listeners[1].address, rc ? "127.0.0.1:5514" : "127.0.0.1:1");
		config_release(&c);
	}
	CHECK_INT(rc, 0);
}

/* The connection limits against hostile senders (ingest): defaults, values, ranges. */
static void test_stream_limit_keys(void)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(c.tcp_max_per_address, 64);
	CHECK_INT(c.tcp_max_per_listener, 0);
	CHECK_INT(c.tcp_frame_timeout, 30);
	CHECK_INT(c.tcp_frame_memory, 256u << 20);
	config_release(&c);
	CHECK_INT(load_str(&c, "syslog:\n  tcp_max_per_address: 0\n"
			   "  tcp_max_per_listener: 100\n  tcp_frame_timeout: 0\n"
			   "  tcp_frame_memory: 1048576\n", &e), 0);
	CHECK_INT(c.tcp_max_per_address, 0);
	CHECK_INT(c.tcp_max_per_listener, 100);
	CHECK_INT(c.tcp_frame_timeout, 0);
	CHECK_INT(c.tcp_frame_memory, 1048576);
	config_release(&c);
	expect_error("syslog:\n  tcp_frame_memory: 1000\n",
		     "t.yaml:2: syslog.tcp_frame_memory: expected an integer from 1048576 to "
		     "1099511627776, got '1000'");
	expect_error("syslog:\n  tcp_frame_timeout: 86401\n",
		     "t.yaml:2: syslog.tcp_frame_timeout: expected an integer from 0 to 86400, "
		     "got '86401'");
}

/* The store section: defaults, per-tenant values over the section's, ranges, reloads. */
static void count_change(void *ctx, const char *key, bool live, const char *was, const char *now)
{
	(*(int *)ctx)++;
	CHECK(live);
	CHECK(!strncmp(key, "detect.", 7));
}

static void test_detect_section(void)
{
	struct err e = ERR_INIT;
	struct config c, d;
	int changes = 0;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(c.n_detect_rules + c.n_detect_disable + c.n_detect_placeholders, 0);
	config_release(&c);
	CHECK_INT(load_str(&c, "detect:\n  rules: [/etc/koban/rules, more]\n  disable: x1\n"
			   "  placeholders:\n    Admins_WS: [a, 'b*']\n    dc.names: one\n"
			   "    empty: []\n", &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(c.n_detect_rules, 2);
	CHECK_STR(c.detect_rules[1], "more");
	CHECK_INT(c.n_detect_disable, 1);
	CHECK_STR(c.detect_disable[0], "x1");
	CHECK_INT(c.n_detect_placeholders, 3);
	CHECK_STR(c.detect_placeholders[0].name, "Admins_WS");
	CHECK_INT(c.detect_placeholders[0].n_values, 2);
	CHECK_STR(c.detect_placeholders[0].values[1], "b*");
	CHECK_INT(c.detect_placeholders[1].n_values, 1);
	CHECK_INT(c.detect_placeholders[2].n_values, 0);
	CHECK_INT(load_str(&d, "detect:\n  rules: [/etc/koban/rules]\n", &e), 0);
	CHECK_INT(config_diff(&c, &d, count_change, &changes), 3);
	CHECK_INT(changes, 3);
	CHECK_INT(config_diff(&c, &c, NULL, NULL), 0);
	config_release(&d);
	config_release(&c);
	expect_error("detect:\n  placeholders:\n    'a b': [x]\n",
		     "t.yaml:3: detect.placeholders: 'a b' is not a placeholder name (letters, "
		     "digits, '_', '.' and '-')");
	expect_error("detect:\n  placeholders:\n    a: [x]\n    a: [y]\n",
		     "t.yaml:4: duplicate placeholder 'a' in 'detect.placeholders'");
	expect_error("detect:\n  rules: {a: b}\n",
		     "t.yaml:2: detect.rules: expected a list of rule directories or files, got a mapping");
}

static void test_store_section(void)
{
	struct err e = ERR_INIT;
	struct config c, d;
	uint64_t quota = 1;
	unsigned days = 1;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(c.store_commit_interval_ms, 50);
	CHECK_INT(c.store_quota, 0);
	CHECK_INT(c.store_retention_days, 1827);
	CHECK_INT(config_store_tenant(&c, "demo", &quota, &days), 0);
	CHECK_INT(quota, 0);
	CHECK_INT(days, 1827);
	config_release(&c);
	CHECK_INT(load_str(&c, "store:\n  commit_interval_ms: 20\n  quota: 1000000\n"
			   "  retention_days: 30\n  tenants:\n"
			   "    demo: { quota: 5000, retention_days: 0 }\n"
			   "    acme: { retention_days: 7 }\n    big: { quota: 0 }\n", &e), 0);
	CHECK_INT(c.store_commit_interval_ms, 20);
	CHECK_INT(c.n_store_tenants, 3);
	CHECK_INT(config_store_tenant(&c, "demo", &quota, &days), 1);
	CHECK_INT(quota, 5000);
	CHECK_INT(days, 0);
	CHECK_INT(config_store_tenant(&c, "acme", &quota, &days), 1);
	CHECK_INT(quota, 1000000);
	CHECK_INT(days, 7);
	CHECK_INT(config_store_tenant(&c, "big", &quota, NULL), 1);
	CHECK_INT(quota, 0);
	CHECK_INT(config_store_tenant(&c, "other", NULL, &days), 0);
	CHECK_INT(days, 30);
	/* quotas and retention apply at a reload; the commit interval needs a restart */
	CHECK_INT(load_str(&d, "store:\n  commit_interval_ms: 30\n  quota: 1000000\n"
			   "  retention_days: 30\n  tenants:\n    demo: { quota: 6000 }\n", &e),
		  0);
	CHECK_INT(config_diff(&c, &d, NULL, NULL), 2);
	CHECK_INT(config_keep_restart_keys(&d, &c, &e), 0);
	CHECK_INT(d.store_commit_interval_ms, 20);
	CHECK_INT(config_store_tenant(&d, "demo", &quota, &days), 1);
	CHECK_INT(quota, 6000);
	CHECK_INT(days, 30);
	config_release(&d);
	config_release(&c);
	expect_error("store:\n  commit_interval_ms: 0\n",
		     "t.yaml:2: store.commit_interval_ms: expected an integer from 1 to 10000, "
		     "got '0'");
	expect_error("store:\n  tenants:\n    demo: { quota: -1 }\n",
		     "t.yaml:3: store.tenants.demo.quota: expected an integer from 0 to "
		     "1152921504606846976, got '-1'");
	expect_error("store:\n  tenants:\n    Demo: { quota: 1 }\n",
		     "t.yaml:3: store.tenants: 'Demo' is not a tenant name (1 to 63 characters "
		     "from a-z, 0-9, '_' and '-')");
	expect_error("store:\n  tenants:\n    demo: {}\n    demo: {}\n",
		     "t.yaml:4: duplicate tenant 'demo' in 'store.tenants'");
	expect_error("store:\n  tenants:\n    demo: { eps: 1 }\n",
		     "t.yaml:3: unknown key 'eps' in 'store.tenants.demo' (expected one of: "
		     "quota, retention_days)");
}

/* limits.tenants and store.tenants share one parser: the same checks on both. */
static void test_tenant_maps(void)
{
	expect_error("limits:\n  tenants:\n    demo: { eps: 1 }\n    demo: { eps: 2 }\n",
		     "t.yaml:4: duplicate tenant 'demo' in 'limits.tenants'");
	expect_error("limits:\n  tenants:\n    Demo: { eps: 1 }\n",
		     "t.yaml:3: limits.tenants: 'Demo' is not a tenant name (1 to 63 characters "
		     "from a-z, 0-9, '_' and '-')");
	expect_error("limits:\n  tenants:\n    demo: { quota: 1 }\n",
		     "t.yaml:3: unknown key 'quota' in 'limits.tenants.demo' (expected one of: "
		     "eps)");
	expect_error("store:\n  tenants: [demo]\n",
		     "t.yaml:2: store.tenants: expected a mapping of tenant names to store "
		     "settings, got a list");
}

/* alerts.retention_days: 90 by default, 0 (forever) to 36525, applied by a reload. */
static void test_alerts_section(void)
{
	struct err e = ERR_INIT;
	struct config c, d;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(c.alerts_retention_days, 90);
	config_release(&c);
	CHECK_INT(load_str(&c, "alerts:\n  retention_days: 0\n", &e), 0);
	CHECK_INT(c.alerts_retention_days, 0);
	CHECK_INT(load_str(&d, "alerts:\n  retention_days: 400\n", &e), 0);
	CHECK_INT(config_diff(&c, &d, NULL, NULL), 1);
	CHECK_INT(config_keep_restart_keys(&d, &c, &e), 0);
	CHECK_INT(d.alerts_retention_days, 400);
	config_release(&d);
	config_release(&c);
	expect_error("alerts:\n  retention_days: 36526\n",
		     "t.yaml:2: alerts.retention_days: expected an integer from 0 to 36525, "
		     "got '36526'");
	expect_error("alerts:\n  days: 3\n",
		     "t.yaml:2: unknown key 'days' in 'alerts' (expected one of: retention_days)");
}

static void test_soc_engine_section(void)
{
	struct err e = ERR_INIT;
	struct config c, d;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(c.soc_engine.window, 3600);
	CHECK_INT(c.soc_engine.n_grouping, 0);
	config_release(&c);
	CHECK_INT(load_str(&c, "soc:\n  window: 600\n  grouping:\n"
			   "    - { match: [attack.t1110, brute], keys: [user.name] }\n"
			   "    - keys: [source.ip, destination.ip]\n", &e), 0);
	CHECK_INT(c.soc_engine.window, 600);
	CHECK_INT(c.soc_engine.n_grouping, 2);
	if (c.soc_engine.n_grouping == 2) {
		CHECK_INT(c.soc_engine.grouping[0].n_match, 2);
		CHECK_STR(c.soc_engine.grouping[0].match[1], "brute");
		CHECK_STR(c.soc_engine.grouping[0].keys[0], "user.name");
		CHECK_INT(c.soc_engine.grouping[1].n_match, 0);
		CHECK_STR(c.soc_engine.grouping[1].keys[1], "destination.ip");
	}
	CHECK_INT(load_str(&d, "soc:\n  window: 600\n", &e), 0);
	CHECK_INT(config_diff(&c, &d, NULL, NULL), 1); /* the grouping changed */
	config_release(&d);
	config_release(&c);
	expect_error("soc:\n  window: 10\n",
		     "t.yaml:2: soc.window: expected an integer from 60 to 2592000, got '10'");
	expect_error("soc:\n  grouping:\n    - { match: [x] }\n",
		     "t.yaml:3: 'soc.grouping[0]' names no keys (the fields that group alerts)");
	expect_error("soc:\n  grouping:\n    - { keys: [a], by: [b] }\n",
		     "t.yaml:3: unknown key 'by' in 'soc.grouping[0]' (expected match or keys)");
	expect_error("soc:\n  grouping:\n    - { keys: [a, b, c, d, e, f, g, h, i] }\n",
		     "t.yaml:3: 'soc.grouping[0]' has 9 keys (at most 8)");
	expect_error("soc:\n  grouping: user.name\n",
		     "t.yaml:2: soc.grouping: expected a list of { match, keys }, got 'user.name'");
}

/* soc.sla: seconds per clock, per-tenant overrides that inherit, a restart applies them. */
static void test_soc_sla_section(void)
{
	static const uint32_t seed[CONFIG_SLA_CLOCKS] = { 3600, 7200, 900, 0, 0 };
	struct err e = ERR_INIT;
	struct changes ch = { "", 0 };
	struct config c, d;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK(!memcmp(c.soc_sla.due, seed, sizeof(seed)));
	CHECK_INT(c.soc_sla.n_tenants, 0);
	config_release(&c);
	CHECK_INT(load_str(&c, "soc:\n  sla:\n    decide: 600\n    contain: 86400\n"
			   "    tenants:\n      city: { first_report: 0, contact: 300 }\n"
			   "      town: {}\n", &e), 0);
	CHECK_INT(c.soc_sla.due[0], 600);
	CHECK_INT(c.soc_sla.due[1], 7200);
	CHECK_INT(c.soc_sla.due[4], 86400);
	CHECK_INT(c.soc_sla.n_tenants, 2);
	CHECK_STR(c.soc_sla.tenants[0].tenant, "city");
	CHECK_INT(c.soc_sla.tenants[0].due[0], CONFIG_SLA_INHERIT);
	CHECK_INT(c.soc_sla.tenants[0].due[1], 0);
	CHECK_INT(c.soc_sla.tenants[0].due[2], 300);
	CHECK_STR(c.soc_sla.tenants[1].tenant, "town");
	CHECK_INT(c.soc_sla.tenants[1].due[2], CONFIG_SLA_INHERIT);
	/* a reload names the changes and keeps the running values */
	CHECK_INT(load_str(&d, "soc:\n  sla:\n    decide: 1200\n    tenants:\n"
			   "      city: { contact: 60 }\n", &e), 0);
	CHECK_INT(config_diff(&c, &d, note_change, &ch), 3);
	CHECK_STR(ch.text, "restart soc.sla.decide: 600 -> 1200\n"
		  "restart soc.sla.contain: 86400 -> 0\n"
		  "restart soc.sla.tenants: city: decide - first_report 0 contact 300 acknowledge - "
		  "contain -, town: decide - first_report - contact - acknowledge - contain - -> "
		  "city: decide - first_report - contact 60 acknowledge - contain -\n");
	CHECK_INT(config_keep_restart_keys(&d, &c, &e), 0);
	CHECK_INT(d.soc_sla.due[0], 600);
	CHECK_INT(d.soc_sla.n_tenants, 2);
	CHECK_STR(d.soc_sla.tenants[1].tenant, "town");
	CHECK_INT(d.soc_sla.tenants[0].due[2], 300);
	CHECK_INT(config_diff(&c, &d, NULL, NULL), 0);
	config_release(&d);
	config_release(&c);
	expect_error("soc:\n  sla:\n    decide: 31622401\n",
		     "t.yaml:3: soc.sla.decide: expected an integer from 0 to 31622400, "
		     "got '31622401'");
	expect_error("soc:\n  sla:\n    tenants:\n      city: { decide: 1h }\n",
		     "t.yaml:4: soc.sla.tenants.city.decide: expected an integer from 0 to "
		     "31622400, got '1h'");
	expect_error("soc:\n  sla:\n    respond: 60\n",
		     "t.yaml:3: unknown key 'respond' in 'soc.sla' (expected one of: decide, "
		     "first_report, contact, acknowledge, contain, tenants)");
	expect_error("soc:\n  sla:\n    tenants:\n      City: {}\n",
		     "t.yaml:4: soc.sla.tenants: 'City' is not a tenant name (1 to 63 characters "
		     "from a-z, 0-9, '_' and '-')");
}

/* soc.triage: the rules directory (unset: bundled) and the window, 86400 s by default. */
static void test_soc_triage_section(void)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK(c.soc_triage_rules == NULL);
	CHECK_INT(c.soc_triage_window, 86400);
	config_release(&c);
	CHECK_INT(load_str(&c, "soc:\n  triage:\n    rules: /etc/koban/triage\n    window: 600\n",
			   &e), 0);
	CHECK_STR(c.soc_triage_rules, "/etc/koban/triage");
	CHECK_INT(c.soc_triage_window, 600);
	config_release(&c);
	expect_error("soc:\n  triage:\n    window: 0\n",
		     "t.yaml:3: soc.triage.window: expected an integer from 1 to 31622400, got '0'");
	expect_error("soc:\n  triage:\n    rule: x\n",
		     "t.yaml:3: unknown key 'rule' in 'soc.triage' (expected one of: rules, window)");
}

int main(void)
{
	T_RUN(test_defaults);
	T_RUN(test_example_is_defaults);
	T_RUN(test_example_tls_comment);
	T_RUN(test_soc_sla_section);
	T_RUN(test_every_key);
	T_RUN(test_good_files);
	T_RUN(test_bad_files);
	T_RUN(test_errors_inline);
	T_RUN(test_error_sanitizes_text);
	T_RUN(test_syntax_error_has_line_and_column);
	T_RUN(test_file_errors);
	T_RUN(test_fifo_refused);
	T_RUN(test_set_listener);
	T_RUN(test_reload_diff_and_keep);
	T_RUN(test_keep_alloc_failures);
	T_RUN(test_check_defaults);
	T_RUN(test_listener_limit);
	T_RUN(test_proto_names);
	T_RUN(test_set_relp_listener);
	T_RUN(test_alloc_failures);
	T_RUN(test_stream_limit_keys);
	T_RUN(test_store_section);
	T_RUN(test_detect_section);
	T_RUN(test_alerts_section);
	T_RUN(test_soc_engine_section);
	T_RUN(test_soc_triage_section);
	T_RUN(test_tenant_maps);
	return t_done();
}
