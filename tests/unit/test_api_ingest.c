/*
 * Unit tests of HTTP ingest's body splitter (portal/ingest.h, api_ingest_split): NDJSON
 * lines (CR LF, blanks), a JSON array, the Azure records envelope, an OData page's "value",
 * a lone object, objects
 * line by line, a broken document refused whole, the Content-Type's say, and a failing
 * callback stopping the split.
 */
#include "portal/ingest.h"
#include "core/err.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>

struct got {
	char text[1024];
	unsigned n, fail_at;
};

/* Records joined with '|'. */
static int collect(void *ctx, const char *rec, size_t len)
{
	struct got *g = ctx;
	size_t used = strlen(g->text);

	snprintf(g->text + used, sizeof(g->text) - used, "%s%.*s", g->n ? "|" : "", (int)len, rec);
	return ++g->n == g->fail_at ? -ECANCELED : 0;
}

static const char *split(const char *body, enum api_ingest_body kind, int want_rc)
{
	static struct got g;
	static struct err e;

	memset(&g, 0, sizeof(g));
	err_clear(&e);
	CHECK_INT(api_ingest_split(body, strlen(body), kind, collect, &g, &e), want_rc);
	if (want_rc == -EBADMSG) {
		CHECK_INT(g.n, 0);
		return e.msg;
	}
	return g.text;
}

static void test_lines(void)
{
	CHECK_STR(split("a 1\r\n\n  \r\nb 2\nc", API_INGEST_BODY_ANY, 0), "a 1|b 2|c");
	CHECK_STR(split("", API_INGEST_BODY_ANY, 0), "");
	CHECK_STR(split("\n\n", API_INGEST_BODY_LINES, 0), "");
	/* objects line by line are NDJSON unless said to be JSON */
	CHECK_STR(split("{\"a\":1}\n{\"b\":2}\n", API_INGEST_BODY_ANY, 0), "{\"a\":1}|{\"b\":2}");
	/* said to be lines: an array too */
	CHECK_STR(split("[1,\n2]", API_INGEST_BODY_LINES, 0), "[1,|2]");
	/* leading blanks of a line are kept (they may be the message's) */
	CHECK_STR(split("  x \n", API_INGEST_BODY_LINES, 0), "  x ");
}

static void test_json(void)
{
	CHECK_STR(split(" [ {\"a\": [1, 2]} , \"s\", 3, null ] \n", API_INGEST_BODY_ANY, 0),
		  "{\"a\": [1, 2]}|\"s\"|3|null");
	CHECK_STR(split("{\"x\": {\"records\": 1}, \"records\": [{\"a\":\"\\u00e9\"}, {}],"
			" \"y\": [3]}", API_INGEST_BODY_ANY, 0),
		  "{\"a\":\"\\u00e9\"}|{}");
	/* an escaped key spelling "records" is the envelope too */
	CHECK_STR(split("{\"rec\\u006frds\": [1]}", API_INGEST_BODY_JSON, 0), "1");
	/* a "records" that is no array: one object */
	CHECK_STR(split(" {\"records\": {\"a\": 1}}\n", API_INGEST_BODY_JSON, 0),
		  "{\"records\": {\"a\": 1}}");
	/* "value" is an OData page's only with an @odata key: else one object */
	CHECK_STR(split("{\"value\": [1, 2]}", API_INGEST_BODY_ANY, 0), "{\"value\": [1, 2]}");
	CHECK_STR(split("{\"value\": [{\"id\": \"a\"}, {\"id\": \"b\"}],"
			" \"@odata.nextLink\": \"https://x/?$skip=2\"}", API_INGEST_BODY_ANY, 0),
		  "{\"id\": \"a\"}|{\"id\": \"b\"}");
	/* both: the records */
	CHECK_STR(split("{\"@odata.context\": \"c\", \"value\": [1], \"records\": [2]}",
			API_INGEST_BODY_JSON, 0), "2");
	/* a second "records" array is not taken */
	CHECK_STR(split("{\"records\": {}, \"records\": [1], \"records\": [2]}",
			API_INGEST_BODY_JSON, 0), "1");
	CHECK_STR(split("[]", API_INGEST_BODY_JSON, 0), "");
}

static void test_refused(void)
{
	CHECK_STR(split("[{\"a\": 1}, {\"b\": ", API_INGEST_BODY_ANY, -EBADMSG),
		  "the body is not valid JSON: column 18: expected a value, found end of input");
	CHECK(strstr(split("{\"a\":1}\n{\"b\":2}", API_INGEST_BODY_JSON, -EBADMSG),
		     "line 2, column 1") != NULL);
	CHECK(strstr(split("\"text\"", API_INGEST_BODY_JSON, -EBADMSG),
		     "expected a JSON array or object, found a string") != NULL);
	CHECK(strstr(split("[1, 2,]", API_INGEST_BODY_ANY, -EBADMSG), "column 7") != NULL);
}

static void test_callback_stops(void)
{
	struct got g = { .fail_at = 2 };
	struct err e = ERR_INIT;
	const char *a = "[1, 2, 3]", *l = "a\nb\nc\n";

	CHECK_INT(api_ingest_split(a, strlen(a), API_INGEST_BODY_ANY, collect, &g, &e), -ECANCELED);
	CHECK_STR(g.text, "1|2");
	memset(&g, 0, sizeof(g));
	g.fail_at = 1;
	CHECK_INT(api_ingest_split(l, strlen(l), API_INGEST_BODY_ANY, collect, &g, &e), -ECANCELED);
	CHECK_STR(g.text, "a");
}

int main(void)
{
	T_RUN(test_lines);
	T_RUN(test_json);
	T_RUN(test_refused);
	T_RUN(test_callback_stops);
	return t_done();
}
