/*
 * test_poll.c - the pollers' configuration block (values, defaults, reload diff and keep,
 * allocation failures) and poll_start's refusals: a secret file others may read, a missing
 * or empty one, a format this build lacks, a malformed state file. The HTTP side runs
 * against a local HTTPS fake in tests/integration/test_poll.py.
 */
#include "ingest/poll.h"
#include "core/compat.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/mem.h"
#include "t.h"

static const char graph_yaml[] =
	"pollers:\n"
	"  m365:\n"
	"    type: graph\n"
	"    tenant: city-a\n"
	"    directory: contoso.onmicrosoft.com\n"
	"    client_id: 00000000-0000-0000-0000-000000000001\n"
	"    client_secret_file: SECRET\n"
	"    incidents: false\n"
	"    format: FORMAT\n";

static const char la_yaml[] =
	"  sentinel:\n"
	"    type: loganalytics\n"
	"    tenant: city-b\n"
	"    directory: 11111111-2222-3333-4444-555555555555\n"
	"    client_id: c2\n"
	"    client_secret_file: /etc/koban/la.secret\n"
	"    workspace: 0f1e0000-0000-0000-0000-000000000000\n"
	"    tables: [SigninLogs, AuditLogs]\n"
	"    interval: 60\n"
	"    overlap: 120\n"
	"    lag: 90\n"
	"    lookback: 3600\n"
	"    page_size: 1000\n"
	"    timeout: 30\n"
	"    max_response_bytes: 1048576\n"
	"    api_url: https://api.loganalytics.io//\n"
	"    login_url: https://login.microsoftonline.us\n"
	"    scope: https://api.loganalytics.us/.default\n"
	"    ca_file: /etc/ssl/private-ca.pem\n";

/* graph_yaml with SECRET and FORMAT replaced, then extra. */
static int load(struct config *c, const char *secret, const char *format, const char *extra,
		struct err *e)
{
	char text[4096], *p;
	size_t n = 0;

	for (const char *s = graph_yaml; *s && n < sizeof(text) - 256;) {
		if (!strncmp(s, "SECRET", 6)) {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", secret);
			s += 6;
		} else if (!strncmp(s, "FORMAT", 6)) {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", format);
			s += 6;
		} else {
			text[n++] = *s++;
		}
	}
	text[n] = '\0';
	p = text + n;
	snprintf(p, sizeof(text) - n, "%s", extra);
	return config_load_mem(c, text, strlen(text), "t.yaml", e);
}

static void test_values_and_defaults(void)
{
	struct err e = ERR_INIT;
	struct config c;
	const struct config_poller *g, *l;

	CHECK_INT(load(&c, "/etc/koban/graph.secret", "m365", la_yaml, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(c.n_pollers, 2);
	g = &c.pollers[0];
	CHECK_STR(g->name, "m365");
	CHECK_INT(g->type, POLLER_GRAPH);
	CHECK_STR(g->tenant, "city-a");
	CHECK_STR(g->directory, "contoso.onmicrosoft.com");
	CHECK_STR(g->client_secret_file, "/etc/koban/graph.secret");
	CHECK_STR(g->format, "m365");
	CHECK(g->api_url == NULL && g->login_url == NULL && g->scope == NULL && !g->ca_file);
	CHECK_INT(g->alerts, 1);
	CHECK_INT(g->incidents, 0);
	CHECK_INT(g->interval, 300);
	CHECK_INT(g->overlap, 300);
	CHECK_INT(g->lag, 120);
	CHECK_INT(g->lookback, 86400);
	CHECK_INT(g->page_size, 0);
	CHECK_INT(g->timeout, 300);
	CHECK_INT(g->max_response, 128 << 20);
	CHECK_INT(g->n_tables, 0);
	CHECK_INT(g->line, 2);
	l = &c.pollers[1];
	CHECK_STR(l->name, "sentinel");
	CHECK_INT(l->type, POLLER_LOGANALYTICS);
	CHECK_STR(config_poller_type_name(l->type), "loganalytics");
	CHECK_STR(l->workspace, "0f1e0000-0000-0000-0000-000000000000");
	CHECK_INT(l->n_tables, 2);
	CHECK_STR(l->tables[0], "SigninLogs");
	CHECK_STR(l->tables[1], "AuditLogs");
	CHECK_INT(l->interval, 60);
	CHECK_INT(l->overlap, 120);
	CHECK_INT(l->lag, 90);
	CHECK_INT(l->lookback, 3600);
	CHECK_INT(l->page_size, 1000);
	CHECK_INT(l->timeout, 30);
	CHECK_INT(l->max_response, 1048576);
	CHECK_STR(l->api_url, "https://api.loganalytics.io");
	CHECK_STR(l->login_url, "https://login.microsoftonline.us");
	CHECK_STR(l->scope, "https://api.loganalytics.us/.default");
	CHECK_STR(l->ca_file, "/etc/ssl/private-ca.pem");
	config_release(&c);
	CHECK(c.pollers == NULL && c.n_pollers == 0);
}

static void expect_error(const char *extra, const char *msg)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(load(&c, "/s", "m365", extra, &e), -EINVAL);
	CHECK_STR(e.msg, msg);
}

static void test_errors(void)
{
	expect_error("    tables: [SigninLogs]\n",
		     "t.yaml:2: pollers.m365: 'workspace' and 'tables' are for type loganalytics");
	expect_error("    interval: 0\n",
		     "t.yaml:10: pollers.m365.interval: expected an integer from 1 to 86400, "
		     "got '0'");
	expect_error("    page_size: 500001\n",
		     "t.yaml:10: pollers.m365.page_size: expected an integer from 0 to 500000, "
		     "got '500001'");
	expect_error("    login_url: \"https://a b\"\n",
		     "t.yaml:10: pollers.m365.login_url: expected an https:// URL, got 'https://a b'");
	expect_error("    client_id: \"a'b\"\n", "t.yaml:10: duplicate key 'client_id' in "
		     "'pollers.m365'");
	expect_error("  Bad: {}\n", "t.yaml:10: pollers: 'Bad' is not a poller name (1 to 63 "
		     "characters from a-z, 0-9, '_' and '-')");
	expect_error("  other:\n    type: graph\n    tenant: Big\n",
		     "t.yaml:12: pollers.other.tenant: expected a tenant name (1 to 63 characters "
		     "from a-z, 0-9, '_' and '-'), got 'Big'");
	expect_error("    unknown: 1\n", "t.yaml:10: unknown key 'unknown' in 'pollers.m365' "
		     "(expected one of: type, tenant, directory, client_id, client_secret_file, "
		     "login_url, api_url, scope, ca_file, format, workspace, tables, interval, "
		     "overlap, lag, lookback, page_size, timeout, max_response_bytes, alerts, "
		     "incidents)");
}

static void test_null_and_empty(void)
{
	struct err e = ERR_INIT;
	struct config c;

	CHECK_INT(config_load_mem(&c, "pollers:\n", 9, "t.yaml", &e), 0);
	CHECK_INT(c.n_pollers, 0);
	config_release(&c);
	CHECK_INT(config_load_mem(&c, "pollers: {}\n", 12, "t.yaml", &e), 0);
	CHECK_INT(c.n_pollers, 0);
	config_release(&c);
	CHECK_INT(config_load_mem(&c, "pollers: [a]\n", 13, "t.yaml", &e), -EINVAL);
	CHECK_STR(e.msg, "t.yaml:1: pollers: expected a mapping of poller names to settings, "
		  "got a list");
}

struct changes {
	char text[2048];
	size_t used;
};

static void note_change(void *ctx, const char *key, bool live, const char *was,
			const char *now)
{
	struct changes *ch = ctx;

	ch->used += (size_t)snprintf(ch->text + ch->used, sizeof(ch->text) - ch->used,
				     "%s %s: %s -> %s\n", live ? "live" : "restart", key, was, now);
}

static void test_reload_keeps_running_pollers(void)
{
	struct changes ch = { "", 0 };
	struct err e = ERR_INIT;
	struct config running, fresh;

	CHECK_INT(load(&running, "/s", "m365", la_yaml, &e), 0);
	CHECK_INT(load(&fresh, "/s", "azure", "", &e), 0);
	CHECK_INT(config_diff(&running, &fresh, note_change, &ch), 1);
	CHECK_STR(ch.text, "restart pollers: m365: graph for city-a, sentinel: loganalytics for "
		  "city-b -> m365: graph for city-a\n");
	CHECK_INT(config_keep_restart_keys(&fresh, &running, &e), 0);
	CHECK_INT(fresh.n_pollers, 2);
	CHECK_STR(fresh.pollers[0].format, "m365");
	CHECK_STR(fresh.pollers[1].tables[1], "AuditLogs");
	CHECK_INT(config_diff(&running, &fresh, NULL, NULL), 0);
	config_release(&fresh);
	config_release(&running);
}

/* Loading and keeping pollers fail cleanly wherever memory runs out. */
static void test_alloc_failures(void)
{
	int ok = 0;

	for (long n = 0; n < 400 && !ok; n++) {
		struct err e = ERR_INIT;
		struct config c, keep;
		int rc;

		mem_fail_after(n);
		rc = load(&c, "/s", "m365", la_yaml, &e);
		mem_fail_after(-1);
		if (rc < 0) {
			CHECK(rc == -ENOMEM || rc == -EINVAL);
			continue;
		}
		CHECK_INT(load(&keep, "/s", "m365", "", &e), 0);
		mem_fail_after(n / 4);
		rc = config_keep_restart_keys(&keep, &c, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		config_release(&keep);
		config_release(&c);
		ok = 1;
	}
	CHECK(ok);
}

/* poll_start on one graph poller with the secret file at path (mode), format. */
static int start(const char *secret_mode_path, const char *format, struct err *e)
{
	struct fairq_config fq = { 16, 1 << 20, 4 };
	struct fairq *q = NULL;
	struct poll *p = NULL;
	struct config c;
	char extra[512];
	int rc;

	/* a closed local port: the thread started by a good start never leaves the machine */
	snprintf(extra, sizeof(extra), "    login_url: https://127.0.0.1:9\n"
		 "    api_url: https://127.0.0.1:9\ndata_dir: %s/var\n", t_tmp_dir());
	if ((rc = load(&c, secret_mode_path, format, extra, e)) < 0)
		return rc;
	if ((rc = fairq_new(&q, &fq, e)) == 0)
		rc = poll_start(&p, &c, q, NULL, e); /* never receives: no ackin needed */
	poll_free(p);
	fairq_free(q);
	config_release(&c);
	return rc;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK_INT(chmod(path, mode), 0);
}

static void test_start_refusals(void)
{
	struct err e = ERR_INIT;
	char secret[512], state[600], want[2048];

	snprintf(secret, sizeof(secret), "%s/graph.secret", t_tmp_dir());
	write_file(secret, "top secret\n", 0644);
	CHECK_INT(start(secret, "syslog", &e), -EPERM);
	snprintf(want, sizeof(want), "poller m365: client_secret_file %s has mode 0644: others "
		 "may read it (chmod 600 %s)", secret, secret);
	CHECK_STR(e.msg, want);
	CHECK(strstr(e.msg, "top secret") == NULL);

	write_file(secret, "\n", 0600);
	CHECK_INT(start(secret, "syslog", &e), -EINVAL);
	snprintf(want, sizeof(want), "poller m365: client_secret_file %s is empty", secret);
	CHECK_STR(e.msg, want);

	CHECK_INT(start("/nonexistent/graph.secret", "syslog", &e), -ENOENT);
	CHECK_STR(e.msg, "poller m365: client_secret_file /nonexistent/graph.secret: No such "
		  "file or directory");

	write_file(secret, "top secret\n", 0600);
	CHECK_INT(start(secret, "no-such-format", &e), -EINVAL);
	CHECK(strstr(e.msg, "poller m365: format 'no-such-format' is not in this build") != NULL);

	/* a good start, then a state file that is not one */
	CHECK_INT(start(secret, "syslog", &e), 0);
	snprintf(state, sizeof(state), "%s/var/pollers/m365.state", t_tmp_dir());
	write_file(state, "something else\n", 0600);
	CHECK_INT(start(secret, "syslog", &e), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a poller state file (remove it to poll from "
		 "`lookback` again)", state);
	CHECK_STR(e.msg, want);
	write_file(state, "koban poller state 1\nwatermark alerts_v2\n", 0600);
	CHECK_INT(start(secret, "syslog", &e), -EINVAL);
	CHECK(strstr(e.msg, "a line is malformed") != NULL);
	/* streams no longer configured are ignored */
	write_file(state, "koban poller state 1\nwatermark incidents 5\nseen incidents 1f 5\n"
		   "watermark alerts_v2 1796025398660712000\n"
		   "seen alerts_v2 9d812c765ffe50db 1796025398660712000\n", 0600);
	CHECK_INT(start(secret, "syslog", &e), 0);
	unlink(state);
	unlink(secret);
}

#define RS "\x1e" /* poll_parse writes RFC 7464 JSON text sequences */

/* poll_parse of body: the records in got, the return code. */
static int parse(int type, const char *body, struct buf *got, size_t *n, int *partial,
		 struct err *e)
{
	buf_reset(got);
	err_clear(e);
	return poll_parse(type, body, strlen(body), got, n, partial, e);
}

static void test_graph_pages(void)
{
	struct buf got = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int partial;
	size_t n;

	CHECK_INT(parse(POLLER_GRAPH,
			"{\"@odata.context\":\"x\",\"value\":[{\"id\":\"a1\",\"lastUpdateDateTime\":"
			"\"2026-11-30T01:02:03.1234567Z\",\"evidence\":[{\"@odata.type\":\"#microsoft."
			"graph.security.ipEvidence\",\"ipAddress\":\"203.0.113.9\"}]} , \"two\",\n"
			"{\"id\":\"a1\",\"lastUpdateDateTime\":\"2026-11-30T01:02:03.1234567Z\"},"
			"{\"id\":\"a1\",\"lastUpdateDateTime\":\"2026-11-30T01:02:04Z\"}],"
			"\"@odata.nextLink\":\"https:\\/\\/graph.microsoft.com\\/v1.0?$skiptoken=1\"}",
			&got, &n, &partial, &e), 0);
	/* exact bytes of each element; the same (id, lastUpdateDateTime) once; an update again */
	CHECK_INT(n, 3);
	CHECK_STR(got.p, RS "{\"id\":\"a1\",\"lastUpdateDateTime\":\"2026-11-30T01:02:03.1234567Z\","
		  "\"evidence\":[{\"@odata.type\":\"#microsoft.graph.security.ipEvidence\","
		  "\"ipAddress\":\"203.0.113.9\"}]}\n" RS "\"two\"\n"
		  RS "{\"id\":\"a1\",\"lastUpdateDateTime\":\"2026-11-30T01:02:04Z\"}\n");
	CHECK_INT(parse(POLLER_GRAPH, "{\"value\":[]}", &got, &n, &partial, &e), 0);
	CHECK_INT(n, 0);
	CHECK_INT(parse(POLLER_GRAPH, "{\"error\":{\"code\":\"x\"}}", &got, &n, &partial, &e),
		  -EINVAL);
	CHECK_STR(e.msg, "a Graph page has no \"value\" array");
	CHECK_INT(parse(POLLER_GRAPH, "{\"value\":[{\"id\":1},", &got, &n, &partial, &e), -EINVAL);
	CHECK_STR(e.msg, "a Graph page is not valid JSON: column 20: expected a value, found end "
		  "of input");
	CHECK_INT(n, 1); /* what came before the error is delivered (and remembered) */
	CHECK_INT(parse(POLLER_GRAPH, "[]", &got, &n, &partial, &e), -EINVAL);
	CHECK_STR(e.msg, "a Graph page is not an object with a \"value\" array");
	buf_release(&got);
}

static void test_loganalytics_results(void)
{
	struct buf got = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int partial;
	size_t n;

	/* rows before columns, a second table ignored, dynamic JSON embedded, Type added */
	CHECK_INT(parse(POLLER_LOGANALYTICS,
			"{\"tables\":[{\"rows\":[[\"2026-11-30T00:12:03.4410000Z\",\"u\\\"1\","
			"\"{\\\"city\\\":\\\"Tokyo\\\"}\",9007199254740993,null,\"[1,\","
			"\"2026-11-30T00:13:00Z\"],"
			"[\"2026-11-30T00:12:04Z\",\"u2\",\"\",-1,true,\"\",\"2026-11-30T00:13:01Z\"]],"
			"\"name\":\"PrimaryResult\",\"columns\":[{\"name\":\"TimeGenerated\","
			"\"type\":\"datetime\"},{\"name\":\"User\\u0041\",\"type\":\"string\"},"
			"{\"name\":\"Loc\",\"type\":\"dynamic\"},{\"name\":\"N\",\"type\":\"long\"},"
			"{\"name\":\"B\",\"type\":\"bool\"},{\"name\":\"Bad\",\"type\":\"dynamic\"},"
			"{\"name\":\"_koban_ingested\",\"type\":\"datetime\"}]},"
			"{\"name\":\"Other\",\"columns\":[],\"rows\":[[1]]}]}",
			&got, &n, &partial, &e), 0);
	CHECK_INT(n, 2);
	CHECK_INT(partial, 0);
	CHECK_STR(got.p, RS "{\"TimeGenerated\":\"2026-11-30T00:12:03.4410000Z\",\"UserA\":\"u\\\"1\","
		  "\"Loc\":{\"city\":\"Tokyo\"},\"N\":9007199254740993,\"B\":null,\"Bad\":\"[1,\","
		  "\"Type\":\"T\"}\n"
		  RS "{\"TimeGenerated\":\"2026-11-30T00:12:04Z\",\"UserA\":\"u2\",\"Loc\":\"\","
		  "\"N\":-1,\"B\":true,\"Bad\":\"\",\"Type\":\"T\"}\n");
	/* a PartialError keeps the rows; a Type column is not added twice */
	CHECK_INT(parse(POLLER_LOGANALYTICS,
			"{\"tables\":[{\"columns\":[{\"name\":\"Type\"},{\"name\":"
			"\"_koban_ingested\"}],\"rows\":[[\"X\",\"2026-11-30T00:00:00Z\"]]}],"
			"\"error\":{\"code\":\"PartialError\"}}", &got, &n, &partial, &e), 0);
	CHECK_INT(partial, 1);
	CHECK_STR(got.p, RS "{\"Type\":\"X\"}\n");
	CHECK_INT(parse(POLLER_LOGANALYTICS, "{\"tables\":[{\"columns\":[{\"name\":\"a\"}],"
			"\"rows\":[]}],\"error\":null}", &got, &n, &partial, &e), -EINVAL);
	CHECK_STR(e.msg, "a Log Analytics table has malformed columns or lacks _koban_ingested");
	CHECK_INT(partial, 0);
	CHECK_INT(parse(POLLER_LOGANALYTICS, "{\"tables\":[{\"columns\":[{\"name\":"
			"\"_koban_ingested\"}],\"rows\":[[\"2026-11-30T00:00:00Z\",1]]}]}", &got, &n,
			&partial, &e), -EINVAL);
	CHECK_STR(e.msg, "Log Analytics row 0 does not match its columns");
	CHECK_INT(parse(POLLER_LOGANALYTICS, "{\"tables\":[{\"columns\":[{\"name\":"
			"\"_koban_ingested\"}],\"rows\":[[\"yesterday\"]]}]}", &got, &n, &partial,
			&e), -EINVAL);
	CHECK_INT(parse(POLLER_LOGANALYTICS, "{}", &got, &n, &partial, &e), -EINVAL);
	CHECK_STR(e.msg, "a Log Analytics response has no table with columns and rows");
	buf_release(&got);
}

static void count_problem(void *ctx, enum config_severity sev, const char *msg)
{
	snprintf(ctx, 1024, "%s", msg);
}

/* `koban config check` (and serve's dry run) refuses a secret file others may read. */
static void test_config_check(void)
{
	char secret[512], extra[600], msg[1024] = "", want[2048];
	struct err e = ERR_INIT;
	struct config c;

	snprintf(secret, sizeof(secret), "%s/check.secret", t_tmp_dir());
	write_file(secret, "x\n", 0640);
	snprintf(extra, sizeof(extra), "data_dir: %s/var\n", t_tmp_dir());
	CHECK_INT(load(&c, secret, "m365", extra, &e), 0);
	CHECK_INT(config_check(&c, count_problem, msg), 1);
	snprintf(want, sizeof(want), "built-in configuration:2: pollers.m365.client_secret_file: "
		 "%s has mode "
		 "0640: others may read it (chmod 600 %s)", secret, secret);
	CHECK_STR(msg, want);
	CHECK_INT(chmod(secret, 0400), 0);
	CHECK_INT(config_check(&c, count_problem, msg), 0);
	config_release(&c);
	unlink(secret);
}

int main(void)
{
	T_RUN(test_values_and_defaults);
	T_RUN(test_errors);
	T_RUN(test_null_and_empty);
	T_RUN(test_reload_keeps_running_pollers);
	T_RUN(test_alloc_failures);
	T_RUN(test_start_refusals);
	T_RUN(test_graph_pages);
	T_RUN(test_loganalytics_results);
	T_RUN(test_config_check);
	return t_done();
}
