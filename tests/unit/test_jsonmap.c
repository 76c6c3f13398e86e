/*
 * Unit tests of parse/jsonmap: maps from the configuration (per source, "default", refused
 * targets), key paths through nested objects, type conversions and their errors.
 */
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "parse/jsonmap.h"
#include "t.h"
#include "t_event.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

static int configure(const char *yaml, struct err *e)
{
	struct config c;
	int rc;

	err_clear(e);
	if ((rc = config_load_mem(&c, yaml, strlen(yaml), "t.yaml", e)) < 0)
		return rc;
	rc = jsonmap_configure(&c, e);
	config_release(&c);
	return rc;
}

static const char maps[] =
	"decoders:\n"
	"  json:\n"
	"    fw:\n"
	"      fields:\n"
	"        a.b.c: source.ip\n"
	"        a.n: source.port\n"
	"        list: related.hosts\n"
	"        when: event.end\n"
	"        flag: app.flag\n"
	"      timestamp: t\n"
	"    default:\n"
	"      fields: { msg: message }\n";

static void test_per_source_and_default(void)
{
	struct err e;

	CHECK_INT(configure(maps, &e), 0);
	CHECK_INT(t_decode("json", "{\"a\":{\"b\":{\"c\":\"10.1.2.3\",\"x\":[{}]},\"n\":8080},"
			   "\"list\":[\"h1\",2,true,null,[1]],\"when\":\"2026-03-15T12:00:00+09:00\","
			   "\"flag\":false,\"t\":1773543600.5,\"msg\":\"not for fw\"}", 0, "fw"), 0);
	CHECK_STR(t_str("source.ip"), "10.1.2.3");
	CHECK_STR(t_str("related.ip"), "10.1.2.3");
	CHECK_INT(t_int("source.port", -1), 8080);
	CHECK_INT(t_count("related.hosts"), 3);
	CHECK_STR(t_str_at("related.hosts", 1), "2");
	CHECK_STR(t_str_at("related.hosts", 2), "true");
	CHECK_INT(t_int("event.end", 0), T_EVENT_NOW);
	CHECK_INT(t_int("@timestamp", 0), T_EVENT_NOW + 500000000);
	CHECK_STR(t_str("app.flag"), "false");
	CHECK(t_str("message") == NULL);
	/* a source without a map of its own uses default, as does no source at all */
	CHECK_INT(t_decode("json", "{\"msg\":\"hi\",\"a\":{\"n\":1}}", 0, "other"), 0);
	CHECK_STR(t_str("message"), "hi");
	CHECK(t_int("source.port", -1) == -1);
	CHECK_INT(t_decode("json", "{\"msg\":\"hi\"}", 0, NULL), 0);
	CHECK_STR(t_str("message"), "hi");
	CHECK_INT(configure("decoders:\n  json:\n    fw:\n      fields: { x: message }\n", &e), 0);
	CHECK_INT(t_decode("json", "{\"x\":\"y\"}", 0, "other"), -EINVAL);
	CHECK_STR(t_ev_err.msg, "decoders.json has no field map for source 'other' and no "
		  "'default' map");
	CHECK_INT(configure("", &e), 0);
	CHECK_INT(t_decode("json", "{}", 0, NULL), -EINVAL);
}

static void test_conversion_errors(void)
{
	struct err e;

	CHECK_INT(configure(maps, &e), 0);
	CHECK_INT(t_decode("json", "{\"a\":{\"n\":\"80\"}}", 0, "fw"), 0); /* digits as a string */
	CHECK_INT(t_int("source.port", -1), 80);
	CHECK_INT(t_decode("json", "{\"a\":{\"n\":1e3}}", 0, "fw"), -EINVAL);
	CHECK_STR(t_ev_err.msg, "column 11: key a.n (field source.port): expected an integer (or a "
		  "string of digits)");
	/* a port outside 0-65535 fails the message as the vendor decoders leave it out */
	CHECK_INT(t_decode("json", "{\"a\":{\"n\":70000}}", 0, "fw"), -EINVAL);
	CHECK_STR(t_ev_err.msg, "column 11: key a.n (field source.port): expected an integer from "
		  "0 to 65535 (a port)");
	CHECK_INT(t_decode("json", "{\"a\":{\"n\":\"-1\"}}", 0, "fw"), -EINVAL);
	CHECK(t_int("source.port", -2) == -2);
	CHECK_INT(t_decode("json", "{\"a\":{\"n\":65535}}", 0, "fw"), 0);
	CHECK_INT(t_int("source.port", -1), 65535);
	CHECK_INT(t_decode("json", "{\"a\":{\"n\":[1]}}", 0, "fw"), -EINVAL);
	CHECK_STR(t_ev_err.msg, "column 12: key a.n (field source.port): expected one value, not an "
		  "array");
	CHECK_INT(t_decode("json", "{\"a\":{\"b\":{\"c\":{}}}}", 0, "fw"), -EINVAL);
	CHECK_STR(t_ev_err.msg, "column 16: key a.b.c (field source.ip): expected a value, not an "
		  "object");
	CHECK_INT(t_decode("json", "{\"t\":-5}", 0, "fw"), -EINVAL);
	CHECK_INT(t_decode("json", "{\"a\":\"\\ud800\"}", 0, "fw"), 0); /* lone surrogate: U+FFFD */
	CHECK_INT(t_decode("json", "<13>Mar 15 11:00:00 h app: {\"a\":{\"n\":\"x\"}}", 0, "fw"),
		  -EINVAL);
	CHECK_STR(t_ev_err.msg, "column 38: key a.n (field source.port): expected an integer (or a "
		  "string of digits)");
	CHECK_INT(t_decode("json", "<13>Mar 15 11:00:00 h app: {\"a\"", 0, "fw"), -EINVAL);
	CHECK(strstr(t_ev_err.msg, "after the 27-byte syslog header: ") == t_ev_err.msg);
	/* nothing but the raw fields survives a failure */
	CHECK(t_str("host.name") == NULL);
	CHECK_STR(t_str("message"), "<13>Mar 15 11:00:00 h app: {\"a\"");
}

static void test_configuration_errors(void)
{
	struct err e;

	CHECK_INT(configure("decoders:\n  json:\n    s:\n      fields: { x: event.original }\n", &e),
		  -EINVAL);
	CHECK_STR(e.msg, "line 4: decoders.json.s.fields.x: 'event.original' is set by koban itself "
		  "and cannot be mapped");
	CHECK_INT(configure("decoders:\n  json:\n    s:\n      fields: { t: message }\n"
			    "      timestamp: t\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "key 't' is mapped twice") != NULL);
	CHECK_INT(configure("decoders:\n  json:\n    s:\n      timestamp: t\n", &e), -EINVAL);
	CHECK_STR(e.msg, "t.yaml:3: 'decoders.json.s' is missing the required key 'fields'");
	CHECK_INT(configure("decoders:\n  json:\n    s:\n      fields: { x: a..b }\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "decoders.json.s.fields.x: expected a dotted name") != NULL);
	CHECK_INT(configure("decoders:\n  json:\n    s:\n      fields: { x: y, x: z }\n", &e),
		  -EINVAL);
	CHECK_STR(e.msg, "t.yaml:4: duplicate key 'x' in 'decoders.json.s.fields'");
	CHECK_INT(configure("decoders:\n  json:\n    S!:\n      fields: {}\n", &e), -EINVAL);
	CHECK(strstr(e.msg, "is not a source name") != NULL);
	CHECK_INT(configure("decoders:\n  json:\n    s:\n      fields: {}\n      other: 1\n", &e),
		  -EINVAL);
	CHECK(strstr(e.msg, "unknown key 'other' in 'decoders.json.s'") != NULL);
	/* allocation failures while compiling are clean errors */
	for (long n = 0; n < 8; n++) {
		int rc;

		mem_fail_after(n);
		rc = configure(maps, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
	}
	CHECK_INT(configure(maps, &e), 0);
	CHECK_INT(configure("", &e), 0);
}

static void on_change(void *ctx, const char *key, bool live, const char *was, const char *now)
{
	char *seen = ctx;

	snprintf(seen, 256, "%s live=%d was=%s now=%s", key, live, was, now);
}

/* A reload reports changed maps as needing a restart and keeps the running ones. */
static void test_reload_keeps_maps(void)
{
	static const char other[] = "decoders:\n  json:\n    x:\n      fields: { a: b.c }\n";
	struct config running, next;
	struct err e = ERR_INIT;
	char seen[256] = "";

	CHECK_INT(config_load_mem(&running, maps, strlen(maps), "t.yaml", &e), 0);
	CHECK_INT(config_load_mem(&next, other, strlen(other), "t.yaml", &e), 0);
	CHECK_INT(config_diff(&running, &next, on_change, seen), 1);
	CHECK_STR(seen, "decoders.json live=0 was=fw (5 keys), default (1 keys) now=x (1 keys)");
	for (long n = 0; n < 12; n++) {
		mem_fail_after(n);
		config_keep_restart_keys(&next, &running, &e); /* a failure leaves next releasable */
		mem_fail_after(-1);
	}
	CHECK_INT(config_keep_restart_keys(&next, &running, &e), 0);
	CHECK_INT(config_diff(&running, &next, NULL, NULL), 0);
	CHECK_INT(next.n_json_maps, 2);
	CHECK_STR(next.json_maps[0].timestamp, "t");
	CHECK_STR(next.json_maps[0].fields[4].to, "app.flag");
	config_release(&running);
	config_release(&next);
}

int main(void)
{
	T_RUN(test_per_source_and_default);
	T_RUN(test_conversion_errors);
	T_RUN(test_configuration_errors);
	T_RUN(test_reload_keeps_maps);
	return t_done();
}
