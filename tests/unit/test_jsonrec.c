/*
 * Unit tests of parse/jsonrec: the three containers, what is not one (lone records, a
 * record with a "value" member, scalars, trailing bytes), all-or-nothing on malformed
 * input (each() never called), exact record bytes, each() stopping the split, the cheap
 * peek.
 */
#include "parse/jsonrec.h"
#include "core/err.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>

#define MAX_RECS 16

struct got {
	int n;
	char rec[MAX_RECS][128];
	int stop_at; /* -1: never */
};

static int collect(void *ctx, const char *rec, size_t len)
{
	struct got *g = ctx;

	if (g->n == g->stop_at)
		return -ENOSPC;
	if (g->n < MAX_RECS)
		snprintf(g->rec[g->n], sizeof(g->rec[0]), "%.*s", (int)len, rec);
	g->n++;
	return 0;
}

static int split(const char *s, struct got *g, enum jsonrec_kind *kind, struct err *e)
{
	g->n = 0;
	g->stop_at = -1;
	return jsonrec_split_kind(s, strlen(s), collect, g, kind, e);
}

static void test_records_envelope(void)
{
	struct got g;
	struct err e = ERR_INIT;
	enum jsonrec_kind k;

	CHECK_INT(split(" {\"records\": [ {\"a\":1} ,{\"b\":\"x\\\"y\"},\n{} ] }\n", &g, &k, &e),
		  0);
	CHECK_INT(k, JSONREC_RECORDS);
	CHECK_INT(g.n, 3);
	CHECK_STR(g.rec[0], "{\"a\":1}");
	CHECK_STR(g.rec[1], "{\"b\":\"x\\\"y\"}");
	CHECK_STR(g.rec[2], "{}");
	CHECK_STR(e.msg, "");
}

static void test_graph_page(void)
{
	struct got g;
	struct err e = ERR_INIT;
	enum jsonrec_kind k;

	CHECK_INT(split("{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#x\","
			"\"value\":[{\"id\":\"1\",\"value\":[1]},{\"id\":\"2\"}],"
			"\"@odata.nextLink\":\"https://graph.microsoft.com/next\"}",
			&g, &k, &e),
		  0);
	CHECK_INT(k, JSONREC_VALUE);
	CHECK_INT(g.n, 2);
	CHECK_STR(g.rec[0], "{\"id\":\"1\",\"value\":[1]}");
	CHECK_STR(g.rec[1], "{\"id\":\"2\"}");
}

static void test_array(void)
{
	struct got g;
	struct err e = ERR_INIT;
	enum jsonrec_kind k;

	CHECK_INT(split("[{\"x\":[1,2]}, 3, \"s\", null]", &g, &k, &e), 0);
	CHECK_INT(k, JSONREC_ARRAY);
	CHECK_INT(g.n, 4); /* non-objects too: the decoder reports them */
	CHECK_STR(g.rec[0], "{\"x\":[1,2]}");
	CHECK_STR(g.rec[1], "3");
	CHECK_STR(g.rec[2], "\"s\"");
	CHECK_STR(g.rec[3], "null");
}

static void test_empty_containers(void)
{
	struct got g;
	struct err e = ERR_INIT;

	/* refused, so that the message is decoded whole and still shows as an event */
	CHECK_INT(split("{\"records\":[]}", &g, NULL, &e), -ENODATA);
	CHECK_INT(g.n, 0);
	CHECK_STR(e.msg, "an empty record container");
	CHECK_INT(split("[]", &g, NULL, &e), -ENODATA);
	CHECK_INT(g.n, 0);
	CHECK_INT(split("{\"value\":[],\"@odata.count\":0}", &g, NULL, &e), -ENODATA);
	CHECK_INT(g.n, 0);
}

/* Each of these is not a container: -EINVAL, a reason, and each() never called. */
static void test_not_containers(void)
{
	static const char *const inputs[] = {
		"",
		"   ",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"category\":\"SignInLogs\"}",
		"{\"value\":\"a string\"}",
		"{\"value\":[1],\"id\":\"a record with a value member\"}",
		"{\"id\":\"x\",\"value\":[1]}",
		"{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":\"a\"}",
		"{\"records\":[1],\"value\":[2]}",
		"{\"records\":[1],\"records\":[2]}",
		"{\"\\u0072ecords\":[1]}",
		"{\"@odata.context\":\"x\"}",
		"\"records\"",
		"42",
		"<14>1 2024-01-01T00:00:00Z h a - - - [1]",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct got g;
		struct err e = ERR_INIT;
		int rc = split(inputs[i], &g, NULL, &e);

		if (!t_check(rc == -EINVAL, __FILE__, __LINE__, "input %zu: rc %d", i, rc))
			continue;
		CHECK_INT(g.n, 0);
		CHECK(strstr(e.msg, "not a JSON record container") != NULL);
	}
}

/* Malformed JSON anywhere: nothing is handed out, and jsonin says where. */
static void test_malformed_all_or_nothing(void)
{
	struct got g;
	struct err e = ERR_INIT;

	CHECK_INT(split("{\"records\":[{\"a\":1},{\"b\":2},{\"c\":]}", &g, NULL, &e), -EINVAL);
	CHECK_INT(g.n, 0);
	CHECK(strstr(e.msg, "column 34: expected a value") != NULL);
	err_clear(&e);
	CHECK_INT(split("[{\"a\":1},{\"b\":2}] trailing", &g, NULL, &e), -EINVAL);
	CHECK_INT(g.n, 0);
	CHECK(strstr(e.msg, "end of the input") != NULL);
	err_clear(&e);
	CHECK_INT(split("[{\"a\":1},{\"b\":2}", &g, NULL, &e), -EINVAL);
	CHECK_INT(g.n, 0);
	err_clear(&e);
	CHECK_INT(split("[{\"a\":\"\xff\"}]", &g, NULL, &e), -EINVAL); /* invalid UTF-8 */
	CHECK_INT(g.n, 0);
	err_clear(&e);
	CHECK_INT(split("{\"records\":[1],\"other\":2}", &g, NULL, &e), -EINVAL);
	CHECK_INT(g.n, 0);
}

/* each()'s negative code stops the split and is returned as it is. */
static void test_each_stops(void)
{
	const char *s = "[1,2,3]";
	struct got g = { .n = 0, .stop_at = 1 };
	struct err e = ERR_INIT;

	CHECK_INT(jsonrec_split(s, strlen(s), collect, &g, &e), -ENOSPC);
	CHECK_INT(g.n, 1);
	CHECK_STR(e.msg, "");
}

/* Records are (pointer, length) within msg: no NUL needed, nothing read past len. */
static void test_bounds(void)
{
	const char buf[] = "[{\"a\":1}]XXXX";
	struct got g = { .n = 0, .stop_at = -1 };
	struct err e = ERR_INIT;

	CHECK_INT(jsonrec_split(buf, 9, collect, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.rec[0], "{\"a\":1}");
	CHECK_INT(jsonrec_split(buf, 8, collect, &g, &e), -EINVAL);
	CHECK_INT(jsonrec_split(NULL, 0, collect, &g, &e), -EINVAL);
}

static void test_peek(void)
{
	CHECK_INT(jsonrec_peek(" \n{ \"records\" : [", 16), JSONREC_RECORDS);
	CHECK_INT(jsonrec_peek("{\"value\":[", 10), JSONREC_VALUE);
	CHECK_INT(jsonrec_peek("{\"@odata.context\":", 18), JSONREC_VALUE);
	CHECK_INT(jsonrec_peek("[", 1), JSONREC_ARRAY);
	CHECK_INT(jsonrec_peek("{\"time\":1}", 10), JSONREC_NONE);
	CHECK_INT(jsonrec_peek("{\"rec", 5), JSONREC_NONE);
	CHECK_INT(jsonrec_peek("", 0), JSONREC_NONE);
	CHECK_INT(jsonrec_peek("<14>[", 5), JSONREC_NONE);
}

int main(void)
{
	T_RUN(test_records_envelope);
	T_RUN(test_graph_page);
	T_RUN(test_array);
	T_RUN(test_empty_containers);
	T_RUN(test_not_containers);
	T_RUN(test_malformed_all_or_nothing);
	T_RUN(test_each_stops);
	T_RUN(test_bounds);
	T_RUN(test_peek);
	return t_done();
}
