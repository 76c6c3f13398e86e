/*
 * Unit tests of core/jsonin: RFC 8259 conformance (valid and invalid documents of our
 * own writing in the spirit of the JSON test suites), numbers, escapes and surrogates,
 * UTF-8 validation, embedded NUL, limits (depth, tokens, big input), the cursor API
 * (keys, elements, skipping), error positions and messages, allocation failures.
 */
#include "core/jsonin.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct arena arena;

/* Re-serialises the value v (and what it contains) compactly into out. */
static int emit(struct jsonin *j, const struct jsonin_value *v, struct buf *out)
{
	struct jsonin_value k, x;
	bool first = true;
	int rc;

	switch (v->type) {
	case JSONIN_OBJECT:
		if (buf_addch(out, '{') < 0)
			return -ENOSPC;
		while ((rc = jsonin_key(j, &k)) > 0) {
			if ((!first && buf_addch(out, ',') < 0) ||
			    json_add_string(out, k.s, k.len) < 0 || buf_addch(out, ':') < 0)
				return -ENOSPC;
			first = false;
			if ((rc = jsonin_value(j, &x)) < 0 || (rc = emit(j, &x, out)) < 0)
				return rc;
		}
		return rc < 0 ? rc : buf_addch(out, '}');
	case JSONIN_ARRAY:
		if (buf_addch(out, '[') < 0)
			return -ENOSPC;
		while ((rc = jsonin_more(j)) > 0) {
			if (!first && buf_addch(out, ',') < 0)
				return -ENOSPC;
			first = false;
			if ((rc = jsonin_value(j, &x)) < 0 || (rc = emit(j, &x, out)) < 0)
				return rc;
		}
		return rc < 0 ? rc : buf_addch(out, ']');
	case JSONIN_STRING:
		return json_add_string(out, v->s, v->len);
	default:
		return buf_add(out, v->s, v->len);
	}
}

/* Parses s whole; 0 and the canonical form in out, or the error in e. */
static int canon(const char *s, size_t len, unsigned flags, struct buf *out, struct err *e)
{
	struct jsonin j;
	struct jsonin_value v;
	int rc;

	buf_reset(out);
	arena_clear(&arena);
	err_clear(e);
	jsonin_init(&j, s, len, &arena, flags);
	rc = jsonin_value(&j, &v);
	if (rc == 0)
		rc = emit(&j, &v, out);
	if (rc == -ENOSPC)
		return rc;
	rc = jsonin_finish(&j, e);
	return rc;
}

static bool valid(const char *s)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int rc = canon(s, strlen(s), 0, &out, &e);

	buf_release(&out);
	return rc == 0;
}

#define CHECK_VALID(s) t_check(valid(s), __FILE__, __LINE__, "valid: %s", s)
#define CHECK_INVALID(s) t_check(!valid(s), __FILE__, __LINE__, "invalid: %s", s)

/* Checks that s (length len) fails with a message containing want. */
static void check_error(const char *s, size_t len, const char *want, int line)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int rc = canon(s, len, 0, &out, &e);

	t_check(rc < 0 && strstr(e.msg, want), __FILE__, line, "%.*s: want \"%s\", got %d \"%s\"",
		(int)len, s, want, rc, e.msg);
	buf_release(&out);
}
#define CHECK_ERROR(s, want) check_error(s, strlen(s), want, __LINE__)
#define CHECK_ERROR_N(s, want) check_error(s, sizeof(s) - 1, want, __LINE__)

/* Checks that s parses to the canonical form want. */
static void check_canon(const char *s, size_t len, const char *want, int line)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	int rc = canon(s, len, 0, &out, &e);

	t_check(rc == 0 && out.len == strlen(want) && !memcmp(out.p, want, out.len), __FILE__, line,
		"%.*s: want %s, got %d %s %s", (int)len, s, want, rc, out.p, e.msg);
	buf_release(&out);
}
#define CHECK_CANON(s, want) check_canon(s, sizeof(s) - 1, want, __LINE__)

static void test_valid_documents(void)
{
	static const char *ok[] = {
		"{}", "[]", "0", "-0", "\"\"", "true", "false", "null", " \t\r\n[ ] \n",
		"{\"a\":1}", "{ \"a\" : [ 1 , 2 ] , \"b\" : { } }", "[[[]]]", "[{}]",
		"[1,\"a\",true,false,null,{},[],-1.5e+10]", "{\"\":\"\"}",
		"{\"a\":1,\"a\":2}", /* duplicate names: legal, the caller decides */
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\"",
		"\"\x7f\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"",
		"\"\xef\xbb\xbf\"", /* a BOM inside a string is a character like any other */
		"[\"a\"\n,\n\"b\"]", "1E400", "123456789012345678901234567890",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CHECK_VALID(ok[i]);
}

static void test_invalid_documents(void)
{
	static const char *bad[] = {
		"", " ", "{", "}", "[", "]", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{,}",
		"{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "['a']", "{\"a\":1 \"b\":2}",
		"[1]]", "{}}", "[]x", "1 2", "tru", "trUe", "nul", "falsey", "True", "NaN",
		"Infinity", "-Infinity", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"",
		"\"\\U0041\"", "\"\t\"", "\"\n\"", "[1,,2]", "{\"a\":1,,\"b\":2}", "/*c*/1",
		"1 // c", "\xef\xbb\xbf{}", /* a byte order mark before the value */
		"[\"a\",]", "{\"a\"::1}", "[-]", "\"\\\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INVALID(bad[i]);
}

static void test_numbers(void)
{
	static const char *ok[] = { "0", "-0", "1", "-1", "10", "0.5", "-0.0", "1e5", "1E5",
				    "1e+5", "1e-5", "1.25E-0", "0e0", "9007199254740993",
				    "-9223372036854775809", "1.7976931348623157e308" };
	static const char *bad[] = { "01", "-01", "00", "+1", ".5", "1.", "1.e5", "1e", "1e+",
				     "-", "--1", "0x10", "1.5.2", "1e5e5", "- 1", "1,", "0.e1",
				     "1 .5", "\xd9\xa1" /* Arabic-indic digit */ };
	int64_t x = 0;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_VALID(ok[i]);
		t_check(jsonin_is_number(ok[i], strlen(ok[i])), __FILE__, __LINE__, "number %s",
			ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INVALID(bad[i]);
		t_check(!jsonin_is_number(bad[i], strlen(bad[i])), __FILE__, __LINE__,
			"not a number %s", bad[i]);
	}
	CHECK_CANON("[ 1.5e-3 , -0 ]", "[1.5e-3,-0]"); /* the text as written */

	CHECK_INT(jsonin_int("0", 1, &x), 0);
	CHECK_INT(x, 0);
	CHECK_INT(jsonin_int("-0", 2, &x), 0);
	CHECK_INT(x, 0);
	CHECK_INT(jsonin_int("9223372036854775807", 19, &x), 0);
	CHECK(x == INT64_MAX);
	CHECK_INT(jsonin_int("-9223372036854775808", 20, &x), 0);
	CHECK(x == INT64_MIN);
	CHECK_INT(jsonin_int("9223372036854775808", 19, &x), -ERANGE);
	CHECK_INT(jsonin_int("-9223372036854775809", 20, &x), -ERANGE);
	CHECK_INT(jsonin_int("99999999999999999999999", 23, &x), -ERANGE);
	CHECK_INT(jsonin_int("1.0", 3, &x), -EINVAL);
	CHECK_INT(jsonin_int("1e3", 3, &x), -EINVAL);
	CHECK_INT(jsonin_int("01", 2, &x), -EINVAL);
	CHECK_INT(jsonin_int("+1", 2, &x), -EINVAL);
	CHECK_INT(jsonin_int("", 0, &x), -EINVAL);
	CHECK_INT(jsonin_int("-", 1, &x), -EINVAL);
	CHECK_INT(jsonin_int("12a", 3, &x), -EINVAL);
	CHECK_INT(jsonin_int("443", 3, &x), 0);
	CHECK_INT(x, 443);
}

static void test_escapes(void)
{
	struct jsonin j;
	struct jsonin_value v;
	static const char in[] = "\"a\\u0000b\\u00e9\\ud83d\\ude00\\n\\/\"";

	arena_clear(&arena);
	jsonin_init(&j, in, sizeof(in) - 1, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(v.type, JSONIN_STRING);
	CHECK(v.escaped);
	CHECK_INT(v.len, 1 + 1 + 1 + 2 + 4 + 1 + 1);
	CHECK(!memcmp(v.s, "a\0b\xc3\xa9\xf0\x9f\x98\x80\n/", v.len)); /* embedded NUL kept */
	CHECK_INT(jsonin_finish(&j, NULL), 0);

	/* lone surrogates: refused by default, U+FFFD on request */
	CHECK_ERROR("\"\\ud800\"", "lone surrogate \\ud800");
	CHECK_ERROR("\"\\udc00\\ud800\"", "lone surrogate \\udc00");
	CHECK_ERROR("\"\\ud800\\u0041\"", "lone surrogate");
	CHECK_ERROR("\"\\ud800x\"", "lone surrogate");
	CHECK_ERROR("\"\\ud800\\ud800\"", "lone surrogate");
	{
		struct buf out = BUF_INIT(1 << 10);
		struct err e = ERR_INIT;
		static const char s[] = "[\"\\ud800\",\"x\\udfffy\",\"\\ud83d\\ude00\"]";

		CHECK_INT(canon(s, sizeof(s) - 1, JSONIN_REPLACE_SURROGATES, &out, &e), 0);
		CHECK_STR(out.p, "[\"\xef\xbf\xbd\",\"x\xef\xbf\xbdy\",\"\xf0\x9f\x98\x80\"]");
		buf_release(&out);
	}
	/* control characters are written back escaped, DEL stays legal unescaped */
	CHECK_CANON("\"\\u0001\\t\\u001F\"", "\"\\u0001\\t\\u001f\"");
	CHECK_ERROR("\"\\u00g0\"", "expected four hex digits after \\u");
	CHECK_ERROR("\"\\a\"", "after '\\'");
	CHECK_ERROR("\"\\", "escape character after");
}

static void test_zero_copy(void)
{
	struct jsonin j;
	struct jsonin_value k, v;
	static const char in[] = "{\"name\":\"plain value, no escapes\",\"n\":-12.5}";

	arena_clear(&arena);
	jsonin_init(&j, in, sizeof(in) - 1, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(v.type, JSONIN_OBJECT);
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK(k.s == in + 2);
	CHECK_INT(k.offset, 1);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK(!v.escaped);
	CHECK(v.s == in + 9);
	CHECK_MEM(v.s, v.len, "plain value, no escapes");
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(v.type, JSONIN_NUMBER);
	CHECK_MEM(v.s, v.len, "-12.5");
	CHECK_INT(jsonin_key(&j, &k), 0);
	CHECK_INT(j.depth, 0);
	CHECK_INT(jsonin_finish(&j, NULL), 0);
	CHECK_INT(arena.used, 0);
}

static void test_utf8(void)
{
	/* each is invalid inside a string */
	static const char *bad[] = {
		"\"\x80\"",             /* lone continuation byte */
		"\"\xc0\x80\"",         /* overlong NUL */
		"\"\xc1\xbf\"",         /* overlong */
		"\"\xe0\x80\x80\"",     /* overlong 3-byte */
		"\"\xe0\x9f\xbf\"",     /* overlong 3-byte, top */
		"\"\xed\xa0\x80\"",     /* UTF-16 surrogate D800 in UTF-8 */
		"\"\xed\xbf\xbf\"",     /* DFFF */
		"\"\xf0\x80\x80\x80\"", /* overlong 4-byte */
		"\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
		"\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\xfe\"",
		"\"\xe2\x82\"",         /* truncated */
		"\"\xe2\x82", "\"\xc3\"", "\"\xc3x\"", "\"\xf0\x9f\x98\"",
		"[\"ok\",\xc3\xa9]",    /* non-ASCII outside a string */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INVALID(bad[i]);
	CHECK_ERROR("[\"ab\xc0\x80\"]", "column 5: invalid UTF-8 (byte 0xc0) in a string");
	CHECK_ERROR_N("\"a\0b\"", "column 3: expected control characters escaped in a string, "
				  "found byte 0x00");
	/* every valid boundary */
	CHECK_VALID("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
		    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
}

static void test_depth_and_tokens(void)
{
	char deep[200];
	struct buf out = BUF_INIT(1 << 10);
	struct err e = ERR_INIT;
	struct jsonin j;
	struct jsonin_value v;

	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	CHECK_INT(canon(deep, 128, 0, &out, &e), 0);
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	CHECK_INT(canon(deep, 130, 0, &out, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 65: expected at most 64 nested objects and arrays"));
	/* deep input that is never closed still stops at the limit */
	memset(deep, '[', sizeof(deep));
	CHECK_INT(canon(deep, sizeof(deep), 0, &out, &e), -EINVAL);
	CHECK(strstr(e.msg, "nested"));

	/* a lower limit */
	jsonin_init(&j, "{\"a\":{\"b\":{}}}", 14, &arena, 0);
	j.max_depth = 2;
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_skip(&j), -EINVAL);
	CHECK_INT(jsonin_error(&j, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 11: expected at most 2 nested"));

	/* the token limit: 5 values and keys allowed */
	jsonin_init(&j, "[1,2,3,4,5]", 11, &arena, 0);
	j.max_tokens = 5;
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_skip(&j), -EINVAL);
	CHECK_INT(jsonin_error(&j, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 10: expected at most 5 values and keys"));
	jsonin_init(&j, "[1,2,3,4]", 9, &arena, 0);
	j.max_tokens = 5;
	CHECK_INT(jsonin_skip_value(&j), 0);
	CHECK_INT(jsonin_finish(&j, &e), 0);
	buf_release(&out);
}

static void test_big_input(void)
{
	struct buf in = BUF_INIT(64 << 20), out = BUF_INIT(64 << 20);
	struct err e = ERR_INIT;
	struct jsonin j;
	struct jsonin_value v;
	size_t n = 0;
	int rc;

	CHECK_INT(buf_addch(&in, '['), 0);
	for (int i = 0; i < 200000; i++)
		CHECK_INT(buf_addf(&in, "%s{\"id\":%d,\"s\":\"value \\\"%d\\\" \xc3\xa9\",\"a\":[1,2]}",
				   i ? "," : "", i, i),
			  0);
	CHECK_INT(buf_addch(&in, ']'), 0);
	CHECK(in.len > 8 << 20);
	jsonin_init(&j, in.p, in.len, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	while ((rc = jsonin_more(&j)) > 0) {
		CHECK_INT(jsonin_skip_value(&j), 0);
		n++;
	}
	CHECK_INT(rc, 0);
	CHECK_INT(n, 200000);
	CHECK_INT(jsonin_finish(&j, &e), 0);
	CHECK_INT(arena.used, 0); /* skipping never unescapes */
	/* and the whole of it survives a canonical round trip */
	CHECK_INT(canon(in.p, in.len, 0, &out, &e), 0);
	CHECK_INT(out.len, in.len);
	CHECK(!memcmp(out.p, in.p, in.len));
	buf_release(&in);
	buf_release(&out);
}

static void test_cursor(void)
{
	static const char in[] =
		"{\"records\":[{\"time\":\"2026-01-01T00:00:00Z\",\"skipme\":{\"x\":[1,{\"y\":"
		"\"\\u00e9\"}]},\"properties\":{\"ipAddress\":\"10.0.0.1\",\"status\":{"
		"\"errorCode\":50126}}},{\"time\":\"t2\",\"properties\":{\"ipAddress\":"
		"\"::1\"}}]}";
	struct jsonin j;
	struct jsonin_value k, v;
	static const char in2[] = "{\"a\":1,\"b\":[2,{\"c\":\"d\"}],\"e\":3} ";
	char got[256] = "";
	size_t used = 0;
	int rc;

	arena_clear(&arena);
	jsonin_init(&j, in, sizeof(in) - 1, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK(jsonin_key_is(&k, "records"));
	CHECK(!jsonin_key_is(&k, "record"));
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(v.type, JSONIN_ARRAY);
	while ((rc = jsonin_more(&j)) > 0) {
		CHECK_INT(jsonin_value(&j, &v), 0);
		CHECK_INT(v.type, JSONIN_OBJECT);
		while ((rc = jsonin_key(&j, &k)) > 0) {
			if (jsonin_key_is(&k, "properties")) {
				CHECK_INT(jsonin_value(&j, &v), 0);
				while ((rc = jsonin_key(&j, &k)) > 0) {
					if (!jsonin_key_is(&k, "ipAddress")) {
						CHECK_INT(jsonin_skip_value(&j), 0);
						continue;
					}
					CHECK_INT(jsonin_value(&j, &v), 0);
					used += (size_t)snprintf(got + used, sizeof(got) - used,
								 "%.*s;", (int)v.len, v.s);
				}
				CHECK_INT(rc, 0);
			} else {
				CHECK_INT(jsonin_skip_value(&j), 0);
			}
		}
		CHECK_INT(rc, 0);
	}
	CHECK_INT(rc, 0);
	CHECK_STR(got, "10.0.0.1;::1;");
	CHECK_INT(jsonin_key(&j, &k), 0);
	CHECK_INT(jsonin_finish(&j, NULL), 0);

	/* skip the rest of a container once the wanted key was seen */
	jsonin_init(&j, in2, sizeof(in2) - 1, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_skip(&j), 0);
	CHECK_INT(j.depth, 0);
	CHECK_INT(jsonin_finish(&j, NULL), 0);
}

static void test_raw_value(void)
{
	static const char in[] = "{\"evidence\": [ {\"ip\":\"10.0.0.1\"}, \"a\\u0041\" ] ,"
				 "\"s\":\"x\\ny\",\"n\":-1.5e3}";
	struct jsonin j;
	struct jsonin_value k, v;
	const char *s;
	size_t n;

	arena_clear(&arena);
	jsonin_init(&j, in, sizeof(in) - 1, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK_INT(jsonin_raw_value(&j, &s, &n), 0);
	CHECK_MEM(s, n, "[ {\"ip\":\"10.0.0.1\"}, \"a\\u0041\" ]");
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK_INT(jsonin_raw_value(&j, &s, &n), 0);
	CHECK_MEM(s, n, "\"x\\ny\"");
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK_INT(jsonin_raw_value(&j, &s, &n), 0);
	CHECK_MEM(s, n, "-1.5e3");
	CHECK_INT(jsonin_key(&j, &k), 0);
	CHECK_INT(jsonin_finish(&j, NULL), 0);
	CHECK_INT(arena.used, 0);
	/* a raw value is validated like any other */
	jsonin_init(&j, "[{\"a\":1,}]", 10, &arena, 0);
	CHECK_INT(jsonin_raw_value(&j, &s, &n), -EINVAL);
	jsonin_init(&j, " [1, 2] ", 8, &arena, 0);
	CHECK_INT(jsonin_raw_value(&j, &s, &n), 0);
	CHECK_MEM(s, n, "[1, 2]");
	CHECK_INT(jsonin_finish(&j, NULL), 0);
}

static void test_misuse(void)
{
	struct jsonin j;
	struct jsonin_value k, v;
	struct err e = ERR_INIT;

	jsonin_init(&j, "{\"a\":1}", 7, &arena, 0);
	CHECK_INT(jsonin_key(&j, &k), -EINVAL); /* a value is due first */
	CHECK_INT(jsonin_value(&j, &v), -EINVAL); /* sticky */
	CHECK_INT(jsonin_error(&j, &e), -EINVAL);
	CHECK(strstr(e.msg, "out of order"));

	jsonin_init(&j, "{\"a\":1}", 7, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_more(&j), -EINVAL); /* not an array */

	jsonin_init(&j, "{\"a\":1}", 7, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_key(&j, &k), 1);
	CHECK_INT(jsonin_key(&j, &k), -EINVAL); /* the value is due */

	jsonin_init(&j, "[1]", 3, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_finish(&j, &e), -EINVAL); /* stopped early */
	CHECK(strstr(e.msg, "expected the rest of an array"));

	jsonin_init(&j, "1", 1, &arena, 0);
	CHECK_INT(jsonin_value(&j, &v), 0);
	CHECK_INT(jsonin_value(&j, &v), -EINVAL); /* one value per text */
	CHECK_INT(jsonin_skip(&j), -EINVAL);
}

static void test_error_positions(void)
{
	CHECK_ERROR("{\"a\":1,}", "column 8: expected a key string after ',', found '}'");
	CHECK_ERROR("[1,]", "column 4: expected a value (object, array, string, number, true, "
			    "false or null), found ']'");
	CHECK_ERROR("{\"a\" 1}", "column 6: expected ':' after the key, found '1'");
	CHECK_ERROR("{\"a\":1 \"b\":2}", "column 8: expected ',' or '}' after an object member");
	CHECK_ERROR("[1 2]", "column 4: expected ',' or ']' after an array element, found '2'");
	CHECK_ERROR("{\"a\":tru}", "column 9: expected 'true', found '}'");
	CHECK_ERROR("[01]", "column 3: expected ',' or ']' after an array element, found '1'");
	CHECK_ERROR("1.", "column 3: expected a digit after the decimal point, found end of input");
	CHECK_ERROR("-x", "column 2: expected a digit in a number, found 'x'");
	CHECK_ERROR("{\"abc", "column 2: expected '\"' to close the string that starts here");
	CHECK_ERROR_N("{\"a\":1}\0", "column 8: expected the end of the input after the top-level value, found byte 0x00");
	CHECK_ERROR("{} x", "column 4: expected the end of the input after the top-level value");
	CHECK_ERROR("", "column 1: expected a value");
	CHECK_ERROR("{\n  \"a\": 1,\n  \"b\" 2\n}", "line 3, column 7: expected ':' after the key");
	CHECK_ERROR("[\n\n   ,]", "line 3, column 4: expected a value");
}

static void test_mem_fail(void)
{
	static const char in[] = "{\"k\\u00e9\":[\"a\\nb\",\"c\\td\",\"plain\"]}";
	struct buf out = BUF_INIT(1 << 10);
	struct err e = ERR_INIT;
	int ok = 0;

	CHECK_INT(buf_grow(&out, 512), 0); /* only the reader's allocations may fail */
	for (long n = 0; n < 10; n++) {
		struct arena a;
		struct jsonin j;
		struct jsonin_value v;
		int rc;

		arena_init(&a, 8, 1 << 20); /* small chunks: every escaped string allocates */
		jsonin_init(&j, in, sizeof(in) - 1, &a, 0);
		mem_fail_after(n);
		buf_reset(&out);
		rc = jsonin_value(&j, &v);
		if (rc == 0)
			rc = emit(&j, &v, &out);
		rc = jsonin_finish(&j, &e);
		mem_fail_after(-1);
		t_check(rc == 0 || (rc == -ENOMEM && strstr(e.msg, "out of memory")), __FILE__,
			__LINE__, "after %ld: %d %s", n, rc, e.msg);
		if (rc == 0) {
			CHECK_STR(out.p, "{\"k\xc3\xa9\":[\"a\\nb\",\"c\\td\",\"plain\"]}");
			ok++;
		}
		arena_release(&a);
	}
	CHECK(ok > 0);
	/* no arena: skipping works, reading an escaped string is -ENOMEM */
	{
		struct jsonin j;
		struct jsonin_value v;

		jsonin_init(&j, in, sizeof(in) - 1, NULL, 0);
		CHECK_INT(jsonin_skip_value(&j), 0);
		CHECK_INT(jsonin_finish(&j, &e), 0);
		jsonin_init(&j, in, sizeof(in) - 1, NULL, 0);
		CHECK_INT(jsonin_value(&j, &v), 0);
		CHECK_INT(jsonin_key(&j, &v), -ENOMEM);
	}
	/* a full arena is the same clean error */
	{
		struct arena a;
		struct jsonin j;
		struct jsonin_value v;

		arena_init(&a, 16, 16);
		jsonin_init(&j, "\"\\u0041 a long escaped string\"", 30, &a, 0);
		CHECK_INT(jsonin_value(&j, &v), -ENOMEM);
		CHECK_INT(jsonin_error(&j, &e), -ENOMEM);
		arena_release(&a);
	}
	buf_release(&out);
}

/* Random documents: what parses re-serialises to a fixed point. */
static void test_random_round_trip(void)
{
	static const char *atoms[] = { "{", "}", "[", "]", ",", ":", "\"k\"", "\"\\u00e9\"",
				       "1", "-2.5e3", "true", "null", " ", "\"\\ud83d\\ude00\"",
				       "\"a\\\"b\"", "0", "\"\xe2\x82\xac\"" };
	struct buf once = BUF_INIT(1 << 16), twice = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	unsigned seed = 12345, parsed = 0;
	char doc[512];

	for (int iter = 0; iter < 200000; iter++) {
		size_t len = 0;
		int n = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 12;

		for (int i = 0; i < n; i++) {
			const char *a = atoms[((seed = seed * 1103515245 + 12345) >> 16) %
					      (sizeof(atoms) / sizeof(atoms[0]))];
			size_t l = strlen(a);

			memcpy(doc + len, a, l);
			len += l;
		}
		if (canon(doc, len, 0, &once, &e) < 0)
			continue;
		parsed++;
		{
			struct buf keep = BUF_INIT(1 << 16);

			CHECK_INT(buf_add(&keep, once.p, once.len), 0);
			CHECK_INT(canon(keep.p, keep.len, 0, &twice, &e), 0);
			t_check(twice.len == keep.len && !memcmp(twice.p, keep.p, keep.len),
				__FILE__, __LINE__, "fixed point: %s vs %s", keep.p, twice.p);
			buf_release(&keep);
		}
	}
	CHECK(parsed > 1000);
	buf_release(&once);
	buf_release(&twice);
}

/* Every Microsoft sample in ../shared/data parses and re-serialises to a fixed point. */
static void test_shared_samples(void)
{
	static const char *files[] = {
		"azure/activitylogs.ndjson", "azure/appgw-access-and-waf.ndjson",
		"azure/auditlogs.ndjson", "azure/bastion-auditlogs.json",
		"azure/firewall-azfw-structured.ndjson", "azure/firewall-legacy-msg.ndjson",
		"azure/identity-protection-riskyusers.ndjson",
		"azure/identity-protection-userriskevents.ndjson", "azure/signinlogs.ndjson",
		"defender/graph-alerts_v2-alert.json", "defender/mde-api-alert.ndjson",
		"defender/xdr-streaming-api-advancedhunting.ndjson",
	};
	struct buf once = BUF_INIT(1 << 22), twice = BUF_INIT(1 << 22);
	struct err e = ERR_INIT;
	const char *dir = t_shared_dir();
	unsigned docs = 0;

	if (!dir) {
		t_skip("../shared/data is absent");
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];
		size_t len;
		char *text;
		bool lines = strstr(files[i], ".ndjson") != NULL;

		snprintf(path, sizeof(path), "%s/samples/%s", dir, files[i]);
		text = t_read_file(path, &len);
		if (!text) {
			t_skip("a shared sample is missing");
			continue;
		}
		for (char *p = text, *end; p < text + len; p = end + 1) {
			end = lines ? memchr(p, '\n', (size_t)(text + len - p)) : NULL;
			if (!end)
				end = text + len;
			if (end == p)
				continue;
			docs++;
			t_check(canon(p, (size_t)(end - p), 0, &once, &e) == 0, __FILE__, __LINE__,
				"%s: %s", files[i], e.msg);
			t_check(canon(once.p, once.len, 0, &twice, &e) == 0 && once.len == twice.len &&
					!memcmp(once.p, twice.p, once.len),
				__FILE__, __LINE__, "%s: fixed point", files[i]);
		}
		free(text);
	}
	CHECK(docs >= 20);
	buf_release(&once);
	buf_release(&twice);
}

int main(void)
{
	arena_init(&arena, 1 << 16, 256 << 20);
	T_RUN(test_valid_documents);
	T_RUN(test_invalid_documents);
	T_RUN(test_numbers);
	T_RUN(test_escapes);
	T_RUN(test_zero_copy);
	T_RUN(test_utf8);
	T_RUN(test_depth_and_tokens);
	T_RUN(test_big_input);
	T_RUN(test_cursor);
	T_RUN(test_raw_value);
	T_RUN(test_misuse);
	T_RUN(test_error_positions);
	T_RUN(test_mem_fail);
	T_RUN(test_random_round_trip);
	T_RUN(test_shared_samples);
	arena_release(&arena);
	return t_done();
}
