/*
 * bench/jsonin - throughput of the JSON reader (core/jsonin) on Azure sign-in-like
 * records, one JSON object per line, as Event Hubs and storage blobs deliver them.
 *
 * Generates RECORDS records (default 200,000, about 2 KB each: nested objects, arrays of
 * objects, numbers, booleans, nulls, escapes, Japanese names) in memory and measures,
 * per record parsed on its own:
 *   read   every token read, strings unescaped (what a generic walk costs)
 *   pick   the decoder pattern: 6 keys picked at three nesting levels, the rest skipped
 *   ecs    ecs_decode of ECS lines as `koban parse` prints them (event_write_json output)
 * Prints one line per case: "jsonin NAME: MB/s, records/s" (per CPU-second of the
 * process, so that a loaded machine gives per-core figures) and a checksum of the picked
 * values, so that a peer must find the same values.
 *
 * The comparison with json-c (Debian's libjson-c-dev, not a build dependency of koban)
 * is compiled by hand:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -DBENCH_JSONC -Isrc $(pkg-config --cflags json-c) \
 *      -o build/release/bench/jsonin-jsonc bench/jsonin.c build/release/libkoban.a \
 *      $(pkg-config --libs json-c) -lpthread -lm
 *
 * and then adds "json-c read" (json_tokener_parse_ex, the whole tree) and "json-c pick"
 * (the tree plus the same 6 lookups). Jansson and cJSON (libjansson-dev, libcjson-dev,
 * the two other JSON libraries Debian 12 ships) the same way, with -DBENCH_JANSSON and
 * $(pkg-config --cflags --libs jansson), or -DBENCH_CJSON and
 * $(pkg-config --cflags --libs libcjson): "jansson read/pick", "cjson read/pick".
 *
 * "azure decode" is the whole Azure Monitor decoder (parse/azure) on the same records:
 * every member kept as a vendor field, the ECS mapping, one event per record.
 *
 *   build/release/bench/jsonin [RECORDS]
 */
#include "core/compat.h"

#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/jsonin.h"
#include "parse/azure.h"
#include "parse/decoder.h"
#include "parse/ecs.h"

#ifdef BENCH_JSONC
#include <json.h>
#endif
#ifdef BENCH_JANSSON
#include <jansson.h>
#endif
#ifdef BENCH_CJSON
#include <cjson/cJSON.h>
#endif

static double now_s(void)
{
	struct timespec ts;

	/* CPU seconds, so that a loaded machine still gives per-core figures */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned rnd_state = 42;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static const char *users[] = { "tanaka.hiroshi", "suzuki.yuki", "admin", "sato.kenji",
			       "watanabe.aiko", "svc-backup", "yamamoto.taro" };
static const char *names[] = { "\xe7\x94\xb0\xe4\xb8\xad \xe5\x8d\x9a", "Suzuki Yuki",
			       "Administrator", "\xe4\xbd\x90\xe8\x97\xa4 \\\"Ken\\\"",
			       "Watanabe Aiko", "Backup Service", "\xe5\xb1\xb1\xe6\x9c\xac" };
static const char *apps[] = { "Microsoft Teams", "Office 365 Exchange Online",
			      "Azure Portal", "Microsoft Authentication Broker", "OneDrive" };
static const char *countries[] = { "JP", "US", "DE", "SG", "NL" };

/* One Azure Monitor SignInLogs record (shape of the documented schema, values made up). */
static int add_record(struct buf *b, unsigned i)
{
	unsigned u = rnd(7), app = rnd(5), err = rnd(4) ? 0 : 50126 + rnd(3);

	return buf_addf(
		b,
		"{\"time\":\"2026-03-15T03:%02u:%02u.%07uZ\",\"resourceId\":\"/tenants/"
		"72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam\","
		"\"operationName\":\"Sign-in activity\",\"operationVersion\":\"1.0\","
		"\"category\":\"SignInLogs\",\"tenantId\":\"72f988bf-86f1-41af-91ab-2d7cd011db47\","
		"\"resultType\":\"%u\",\"resultSignature\":\"None\",\"resultDescription\":%s,"
		"\"durationMs\":%u,\"callerIpAddress\":\"203.0.113.%u\",\"correlationId\":"
		"\"%08x-1b2c-4d3e-8f90-%012x\",\"identity\":\"%s\",\"Level\":4,\"location\":\"%s\","
		"\"properties\":{\"id\":\"%08x-aaaa-bbbb-cccc-%012x\",\"createdDateTime\":"
		"\"2026-03-15T03:%02u:%02u.%07u+00:00\",\"userDisplayName\":\"%s\","
		"\"userPrincipalName\":\"%s@example.lg.jp\",\"userId\":\"%08x-0000-4000-8000-"
		"%012x\",\"appId\":\"%08x-5678-4abc-9def-0123456789ab\",\"appDisplayName\":\"%s\","
		"\"ipAddress\":\"203.0.113.%u\",\"status\":{\"errorCode\":%u,\"failureReason\":%s,"
		"\"additionalDetails\":%s},\"clientAppUsed\":\"Browser\",\"userAgent\":"
		"\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
		"Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0\",\"deviceDetail\":{"
		"\"deviceId\":\"\",\"displayName\":null,\"operatingSystem\":\"Windows10\","
		"\"browser\":\"Edge 122.0.0\",\"isCompliant\":%s,\"isManaged\":false,"
		"\"trustType\":\"\"},\"location\":{\"city\":\"%s\",\"state\":\"%s\","
		"\"countryOrRegion\":\"%s\",\"geoCoordinates\":{\"altitude\":null,\"latitude\":"
		"35.6%04u,\"longitude\":139.7%04u}},\"correlationId\":\"%08x-1b2c-4d3e-8f90-"
		"%012x\",\"conditionalAccessStatus\":\"%s\",\"appliedConditionalAccessPolicies\":["
		"{\"id\":\"0d1e2f3a-0000-4000-8000-000000000001\",\"displayName\":\"Require MFA "
		"for admins\",\"enforcedGrantControls\":[\"Mfa\"],\"enforcedSessionControls\":[],"
		"\"result\":\"success\"},{\"id\":\"0d1e2f3a-0000-4000-8000-000000000002\","
		"\"displayName\":\"Block legacy authentication\",\"enforcedGrantControls\":["
		"\"Block\"],\"enforcedSessionControls\":[],\"result\":\"notApplied\"}],"
		"\"authenticationDetails\":[{\"authenticationStepDateTime\":\"2026-03-15T03:%02u:"
		"%02uZ\",\"authenticationMethod\":\"Password\",\"authenticationMethodDetail\":"
		"\"Password in the cloud\",\"succeeded\":%s,\"authenticationStepResultDetail\":"
		"\"%s\",\"authenticationStepRequirement\":\"Primary authentication\"}],"
		"\"authenticationRequirement\":\"singleFactorAuthentication\",\"riskDetail\":"
		"\"none\",\"riskLevelAggregated\":\"%s\",\"riskLevelDuringSignIn\":\"none\","
		"\"riskState\":\"none\",\"riskEventTypes_v2\":[],\"isInteractive\":true,"
		"\"tokenIssuerType\":\"AzureAD\",\"networkLocationDetails\":[],"
		"\"processingTimeInMilliseconds\":%u,\"resourceDisplayName\":\"Windows Azure "
		"Active Directory\",\"resourceId\":\"00000002-0000-0000-c000-000000000000\"}}\n",
		i / 60 % 60, i % 60, rnd(10000000), err, err ? "\"Invalid username or password "
							      "or Invalid on-premise username or "
							      "password.\""
							    : "null",
		rnd(500), rnd(254) + 1, rnd(1u << 30), i, names[u], countries[rnd(5)],
		rnd(1u << 30), i, i / 60 % 60, i % 60, rnd(10000000), names[u], users[u],
		u * 1111111u, u, rnd(1u << 30), apps[app], rnd(254) + 1, err,
		err ? "\"Invalid username or password.\\nTry again.\"" : "\"Other.\"",
		err ? "\"The user didn't enter the right credentials. \\u00a0It\\u2019s "
		      "expected to see some number of these errors in your logs due to users "
		      "making mistakes.\""
		    : "\"MFA requirement satisfied by claim in the token\"",
		rnd(2) ? "true" : "false",
		rnd(2) ? "Chiyoda" : "\xe5\x8d\x83\xe4\xbb\xa3\xe7\x94\xb0\xe5\x8c\xba",
		"Tokyo", countries[rnd(5)], rnd(10000), rnd(10000), rnd(1u << 30), i,
		err ? "failure" : "success", i / 60 % 60, i % 60, err ? "false" : "true",
		err ? "Invalid username or password or Invalid on-premise username or password."
		    : "Correct password",
		rnd(8) ? "none" : "medium", rnd(300));
}

struct pick {
	uint64_t errors;     /* sum of properties.status.errorCode */
	uint64_t upn_bytes;  /* bytes of properties.userPrincipalName */
	uint64_t ip_bytes;   /* bytes of properties.ipAddress */
	uint64_t time_bytes; /* bytes of time */
	uint64_t app_bytes;  /* bytes of properties.appDisplayName */
	uint64_t cc_bytes;   /* bytes of properties.location.countryOrRegion */
};

static void report(const char *name, double secs, size_t bytes, size_t records,
		   const struct pick *p)
{
	printf("%-14s %8.1f MB/s %10.0f records/s", name, bytes / secs / 1e6, records / secs);
	if (p)
		printf("   check %llu/%llu/%llu/%llu/%llu/%llu", (unsigned long long)p->errors,
		       (unsigned long long)p->upn_bytes, (unsigned long long)p->ip_bytes,
		       (unsigned long long)p->time_bytes, (unsigned long long)p->app_bytes,
		       (unsigned long long)p->cc_bytes);
	printf("\n");
}

/* Reads every token below the value just read (entered when a container). */
static int walk(struct jsonin *j, const struct jsonin_value *v, size_t *tokens)
{
	struct jsonin_value k, x;
	int rc;

	(*tokens)++;
	if (v->type == JSONIN_OBJECT) {
		while ((rc = jsonin_key(j, &k)) > 0)
			if ((rc = jsonin_value(j, &x)) < 0 || (rc = walk(j, &x, tokens)) < 0)
				return rc;
		return rc;
	}
	if (v->type == JSONIN_ARRAY) {
		while ((rc = jsonin_more(j)) > 0)
			if ((rc = jsonin_value(j, &x)) < 0 || (rc = walk(j, &x, tokens)) < 0)
				return rc;
		return rc;
	}
	return 0;
}

static int pick_status(struct jsonin *j, struct pick *p)
{
	struct jsonin_value k, v;
	int64_t n;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		if (jsonin_key_is(&k, "errorCode")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				return rc;
			if (jsonin_int(v.s, v.len, &n) == 0)
				p->errors += (uint64_t)n;
		} else if ((rc = jsonin_skip_value(j)) < 0) {
			return rc;
		}
	}
	return rc;
}

static int pick_location(struct jsonin *j, struct pick *p)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		if (jsonin_key_is(&k, "countryOrRegion")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				return rc;
			p->cc_bytes += v.len;
		} else if ((rc = jsonin_skip_value(j)) < 0) {
			return rc;
		}
	}
	return rc;
}

static int pick_properties(struct jsonin *j, struct pick *p)
{
	struct jsonin_value k, v;
	int rc;

	while ((rc = jsonin_key(j, &k)) > 0) {
		uint64_t *bytes = NULL;

		if (jsonin_key_is(&k, "userPrincipalName"))
			bytes = &p->upn_bytes;
		else if (jsonin_key_is(&k, "ipAddress"))
			bytes = &p->ip_bytes;
		else if (jsonin_key_is(&k, "appDisplayName"))
			bytes = &p->app_bytes;
		if (bytes) {
			if ((rc = jsonin_value(j, &v)) < 0)
				return rc;
			*bytes += v.len;
			continue;
		}
		if (jsonin_key_is(&k, "status") || jsonin_key_is(&k, "location")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				return rc;
			if (v.type != JSONIN_OBJECT)
				continue; /* a scalar: already read */
			rc = k.s[0] == 's' ? pick_status(j, p) : pick_location(j, p);
		} else {
			rc = jsonin_skip_value(j);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int pick_record(struct jsonin *j, struct pick *p)
{
	struct jsonin_value k, v;
	int rc;

	if ((rc = jsonin_value(j, &v)) < 0 || v.type != JSONIN_OBJECT)
		return rc < 0 ? rc : -EINVAL;
	while ((rc = jsonin_key(j, &k)) > 0) {
		if (jsonin_key_is(&k, "time")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				return rc;
			p->time_bytes += v.len;
		} else if (jsonin_key_is(&k, "properties")) {
			if ((rc = jsonin_value(j, &v)) < 0)
				return rc;
			if (v.type == JSONIN_OBJECT && (rc = pick_properties(j, p)) < 0)
				return rc;
		} else if ((rc = jsonin_skip_value(j)) < 0) {
			return rc;
		}
	}
	return rc;
}

/* Loops over the lines of data: line points at each, n is its length without the LF. */
#define FOR_EACH_LINE(data, len, line, n)                                                    \
	for (const char *line = (data), *end_ = (data) + (len), *nl_;                        \
	     line < end_ && (nl_ = memchr(line, '\n', (size_t)(end_ - line))) &&             \
	     ((n) = (size_t)(nl_ - line), 1);                                                \
	     line = nl_ + 1)

static void bench_read(const struct buf *in, size_t records, int rounds)
{
	struct arena a;
	size_t tokens = 0, done = 0;
	double t0, t;

	arena_init(&a, 1 << 16, 1 << 24);
	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(in->p, in->len, line, n) {
			struct jsonin j;
			struct jsonin_value v;
			struct err e = ERR_INIT;

			jsonin_init(&j, line, n, &a, 0);
			if (jsonin_value(&j, &v) < 0 || walk(&j, &v, &tokens) < 0 ||
			    jsonin_finish(&j, &e) < 0) {
				fprintf(stderr, "jsonin: %s\n", e.msg);
				exit(1);
			}
			arena_clear(&a);
			done++;
		}
	}
	t = now_s() - t0;
	report("jsonin read", t, in->len * (size_t)rounds, done, NULL);
	(void)records;
	arena_release(&a);
}

static void bench_pick(const struct buf *in, int rounds)
{
	struct arena a;
	struct pick p = { 0 };
	size_t done = 0;
	double t0, t;

	arena_init(&a, 1 << 16, 1 << 24);
	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(in->p, in->len, line, n) {
			struct jsonin j;
			struct err e = ERR_INIT;

			jsonin_init(&j, line, n, &a, 0);
			if (pick_record(&j, &p) < 0 || jsonin_finish(&j, &e) < 0) {
				fprintf(stderr, "jsonin pick: %s\n", e.msg);
				exit(1);
			}
			arena_clear(&a);
			done++;
		}
	}
	t = now_s() - t0;
	report("jsonin pick", t, in->len * (size_t)rounds, done, &p);
	arena_release(&a);
}

/* ECS lines: each sign-in record's picked values as koban would map them. */
static void bench_ecs(size_t records, int rounds)
{
	struct buf lines = BUF_INIT((size_t)1 << 31);
	struct arena a;
	struct event ev;
	size_t done = 0;
	double t0, t;

	arena_init(&a, 1 << 16, 1 << 24);
	for (size_t i = 0; i < records; i++) {
		unsigned u = rnd(7);

		if (buf_addf(&lines,
			     "{\"@timestamp\":\"2026-03-15T03:%02zu:%02zu.%03uZ\",\"azure\":{"
			     "\"signinlogs\":{\"category\":\"SignInLogs\",\"properties\":{"
			     "\"app_display_name\":\"%s\",\"status\":{\"error_code\":\"%u\"}}}},"
			     "\"event\":{\"action\":\"Sign-in activity\",\"category\":["
			     "\"authentication\"],\"created\":\"2026-03-15T03:00:00Z\",\"kind\":"
			     "\"event\",\"outcome\":\"%s\"},\"source\":{\"ip\":\"203.0.113.%u\","
			     "\"port\":%u},\"tenant\":{\"id\":\"lg-%u\"},\"user\":{\"name\":"
			     "\"%s@example.lg.jp\"}}\n",
			     i / 60 % 60, i % 60, rnd(1000), apps[rnd(5)], rnd(4) ? 0 : 50126,
			     rnd(4) ? "success" : "failure", rnd(254) + 1, rnd(65536),
			     rnd(33), users[u]) < 0) {
			fprintf(stderr, "ecs: out of memory\n");
			exit(1);
		}
	}
	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(lines.p, lines.len, line, n) {
			struct err e = ERR_INIT;

			event_init(&ev, &a);
			if (ecs_decode(&ev, line, n, &e) < 0) {
				fprintf(stderr, "ecs: %s\n", e.msg);
				exit(1);
			}
			arena_clear(&a);
			done++;
		}
	}
	t = now_s() - t0;
	report("ecs_decode", t, lines.len * (size_t)rounds, done, NULL);
	buf_release(&lines);
	arena_release(&a);
}

#ifdef BENCH_JSONC
static void jsonc_pick(struct json_object *o, struct pick *p)
{
	struct json_object *x, *props, *sub;

	if (json_object_object_get_ex(o, "time", &x))
		p->time_bytes += (uint64_t)json_object_get_string_len(x);
	if (!json_object_object_get_ex(o, "properties", &props))
		return;
	if (json_object_object_get_ex(props, "userPrincipalName", &x))
		p->upn_bytes += (uint64_t)json_object_get_string_len(x);
	if (json_object_object_get_ex(props, "ipAddress", &x))
		p->ip_bytes += (uint64_t)json_object_get_string_len(x);
	if (json_object_object_get_ex(props, "appDisplayName", &x))
		p->app_bytes += (uint64_t)json_object_get_string_len(x);
	if (json_object_object_get_ex(props, "status", &sub) &&
	    json_object_object_get_ex(sub, "errorCode", &x))
		p->errors += (uint64_t)json_object_get_int64(x);
	if (json_object_object_get_ex(props, "location", &sub) &&
	    json_object_object_get_ex(sub, "countryOrRegion", &x))
		p->cc_bytes += (uint64_t)json_object_get_string_len(x);
}

static void bench_jsonc(const struct buf *in, int rounds, bool pick)
{
	struct json_tokener *tok = json_tokener_new_ex(JSONIN_DEPTH_DEFAULT);
	struct pick p = { 0 };
	size_t done = 0;
	double t0, t;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(in->p, in->len, line, n) {
			struct json_object *o;

			json_tokener_reset(tok);
			o = json_tokener_parse_ex(tok, line, (int)n);
			if (!o || json_tokener_get_error(tok) != json_tokener_success) {
				fprintf(stderr, "json-c: %s\n",
					json_tokener_error_desc(json_tokener_get_error(tok)));
				exit(1);
			}
			if (pick)
				jsonc_pick(o, &p);
			json_object_put(o);
			done++;
		}
	}
	t = now_s() - t0;
	report(pick ? "json-c pick" : "json-c read", t, in->len * (size_t)rounds, done,
	       pick ? &p : NULL);
	json_tokener_free(tok);
}
#endif

/* The Azure decoder: one event per record, as the pipeline builds it (no JSON output). */
static void bench_azure(const struct buf *in, int rounds)
{
	struct arena a;
	struct event ev;
	struct decode_opts o = { .received_ns = INT64_C(1773543600000000000) };
	size_t done = 0, values = 0;
	double t0, t;

	arena_init(&a, 1 << 16, 1 << 24);
	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(in->p, in->len, line, n) {
			struct err e = ERR_INIT;

			event_init(&ev, &a);
			if (azure_decode(&ev, line, n, &o, &e) < 0) {
				fprintf(stderr, "azure: %s\n", e.msg);
				exit(1);
			}
			values += ev.n;
			arena_clear(&a);
			done++;
		}
	}
	t = now_s() - t0;
	report("azure decode", t, in->len * (size_t)rounds, done, NULL);
	printf("%-14s %8.1f fields per record\n", "", (double)values / (double)(done ? done : 1));
	arena_release(&a);
}

#ifdef BENCH_JANSSON
static size_t jansson_len(json_t *o, const char *key)
{
	json_t *x = json_object_get(o, key);

	return json_is_string(x) ? json_string_length(x) : 0;
}

static void jansson_pick(json_t *o, struct pick *p)
{
	json_t *props = json_object_get(o, "properties"), *sub;

	p->time_bytes += jansson_len(o, "time");
	if (!json_is_object(props))
		return;
	p->upn_bytes += jansson_len(props, "userPrincipalName");
	p->ip_bytes += jansson_len(props, "ipAddress");
	p->app_bytes += jansson_len(props, "appDisplayName");
	if ((sub = json_object_get(props, "status")))
		p->errors += (uint64_t)json_integer_value(json_object_get(sub, "errorCode"));
	if ((sub = json_object_get(props, "location")))
		p->cc_bytes += jansson_len(sub, "countryOrRegion");
}

static void bench_jansson(const struct buf *in, int rounds, bool pick)
{
	struct pick p = { 0 };
	size_t done = 0;
	double t0, t;

	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(in->p, in->len, line, n) {
			json_error_t je;
			json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);

			if (!o) {
				fprintf(stderr, "jansson: %s\n", je.text);
				exit(1);
			}
			if (pick)
				jansson_pick(o, &p);
			json_decref(o);
			done++;
		}
	}
	t = now_s() - t0;
	report(pick ? "jansson pick" : "jansson read", t, in->len * (size_t)rounds, done,
	       pick ? &p : NULL);
}
#endif

#ifdef BENCH_CJSON
static size_t cjson_len(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(x) ? strlen(x->valuestring) : 0;
}

static void cjson_pick(const cJSON *o, struct pick *p)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties"), *sub, *x;

	p->time_bytes += cjson_len(o, "time");
	if (!cJSON_IsObject(props))
		return;
	p->upn_bytes += cjson_len(props, "userPrincipalName");
	p->ip_bytes += cjson_len(props, "ipAddress");
	p->app_bytes += cjson_len(props, "appDisplayName");
	if ((sub = cJSON_GetObjectItemCaseSensitive(props, "status")) &&
	    cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(sub, "errorCode")))
		p->errors += (uint64_t)x->valuedouble;
	if ((sub = cJSON_GetObjectItemCaseSensitive(props, "location")))
		p->cc_bytes += cjson_len(sub, "countryOrRegion");
}

static void bench_cjson(const struct buf *in, int rounds, bool pick)
{
	struct pick p = { 0 };
	size_t done = 0;
	double t0, t;

	t0 = now_s();
	for (int r = 0; r < rounds; r++) {
		size_t n;

		FOR_EACH_LINE(in->p, in->len, line, n) {
			cJSON *o = cJSON_ParseWithLength(line, n);

			if (!o) {
				fprintf(stderr, "cjson: parse error\n");
				exit(1);
			}
			if (pick)
				cjson_pick(o, &p);
			cJSON_Delete(o);
			done++;
		}
	}
	t = now_s() - t0;
	report(pick ? "cjson pick" : "cjson read", t, in->len * (size_t)rounds, done,
	       pick ? &p : NULL);
}
#endif

int main(int argc, char **argv)
{
	size_t records = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	struct buf in = BUF_INIT((size_t)1 << 32);
	int rounds = 3;

	for (size_t i = 0; i < records; i++)
		if (add_record(&in, (unsigned)i) < 0) {
			fprintf(stderr, "jsonin: out of memory generating records\n");
			return 1;
		}
	printf("%zu records, %.1f MB, %.0f bytes per record, %d rounds\n", records,
	       in.len / 1e6, (double)in.len / (double)(records ? records : 1), rounds);
	bench_read(&in, records, rounds);
	bench_pick(&in, rounds);
#ifdef BENCH_JSONC
	bench_jsonc(&in, rounds, false);
	bench_jsonc(&in, rounds, true);
#endif
#ifdef BENCH_JANSSON
	bench_jansson(&in, rounds, false);
	bench_jansson(&in, rounds, true);
#endif
#ifdef BENCH_CJSON
	bench_cjson(&in, rounds, false);
	bench_cjson(&in, rounds, true);
#endif
	bench_azure(&in, rounds);
	bench_ecs(records, rounds);
	buf_release(&in);
	return 0;
}
