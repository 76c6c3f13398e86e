/*
 * Unit tests of parse/logtext (the helpers of the server decoders) and what all those
 * decoders share: auto sniffs each format and no other, and allocation failures become
 * clean errors in every one of them.
 */
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "parse/decoder.h"
#include "parse/logtext.h"
#include "t.h"
#include "t_event.h"

#include <errno.h>
#include <stdio.h>

static struct logtext_span S(const char *s)
{
	return (struct logtext_span){ s, strlen(s) };
}

static void test_numbers(void)
{
	int64_t v;

	CHECK(logtext_uint(S("0"), &v) && v == 0);
	CHECK(logtext_uint(S("123456789012345678"), &v) && v == 123456789012345678LL);
	CHECK(!logtext_uint(S("1234567890123456789"), &v)); /* 19 digits: refused, no overflow */
	CHECK(!logtext_uint(S(""), &v) && !logtext_uint(S("-1"), &v) && !logtext_uint(S("1a"), &v));
	CHECK(logtext_decimal_ns(S("1157689312.049"), NS_PER_SEC, &v) &&
	      v == INT64_C(1157689312049000000));
	CHECK(logtext_decimal_ns(S("0.000001"), NS_PER_SEC, &v) && v == 1000);
	CHECK(logtext_decimal_ns(S("2864"), 1000000, &v) && v == INT64_C(2864000000));
	CHECK(logtext_decimal_ns(S("1.5"), 1000000, &v) && v == 1500000);
	CHECK(logtext_decimal_ns(S("1.123456789"), NS_PER_SEC, &v) && v == INT64_C(1123456789));
	CHECK(!logtext_decimal_ns(S("1.1234567891"), NS_PER_SEC, &v)); /* 10 fraction digits */
	CHECK(!logtext_decimal_ns(S("1."), NS_PER_SEC, &v) && !logtext_decimal_ns(S(".5"), 1, &v));
	CHECK(!logtext_decimal_ns(S("999999999999999999"), NS_PER_SEC, &v)); /* overflow */
	CHECK(!logtext_decimal_ns(S("1.2.3"), NS_PER_SEC, &v));
}

static void test_tokens(void)
{
	struct logtext_cur c;
	struct logtext_span t;

	logtext_cur_init(&c, "  a  bb c ", 10);
	CHECK(logtext_token(&c, &t) && logtext_is(t, "a") && logtext_off(&c) == 3);
	CHECK(logtext_token(&c, &t) && logtext_is(t, "bb"));
	CHECK(logtext_token(&c, &t) && logtext_is(t, "c"));
	CHECK(!logtext_token(&c, &t));
	logtext_cur_init(&c, "query: x", 8);
	CHECK(!logtext_eat(&c, "query:  ") && logtext_eat(&c, "query: ") && *c.p == 'x');
}

/* Sets url.* from s into a fresh event with set and returns it as JSON. */
static const char *url_with(int (*set)(struct event *, struct logtext_span), const char *s)
{
	static struct arena a;
	static char out[1024];
	int rc;

	arena_init(&a, 1024, 1 << 20);
	event_init(&t_ev, &a);
	rc = set(&t_ev, S(s));
	CHECK_INT(rc, 0);
	snprintf(out, sizeof(out), "%s", t_json());
	arena_release(&a);
	return out;
}

static const char *url_of(const char *s)
{
	return url_with(logtext_set_url, s);
}

static const char *url_host_of(const char *s)
{
	return url_with(logtext_set_url_host, s);
}

static void test_urls(void)
{
	CHECK_STR(url_of("http://u:p@Example.com:8080/a/b.tar.gz?x=1#f"),
		  "{\"url\":{\"domain\":\"Example.com\",\"extension\":\"gz\",\"original\":"
		  "\"http://u:p@Example.com:8080/a/b.tar.gz?x=1#f\",\"path\":\"/a/b.tar.gz\","
		  "\"port\":8080,\"query\":\"x=1\",\"scheme\":\"http\"}}");
	CHECK_STR(url_of("login.example.com:443"),
		  "{\"url\":{\"domain\":\"login.example.com\",\"original\":\"login.example.com:443\","
		  "\"port\":443}}");
	CHECK_STR(url_of("/p?"), "{\"url\":{\"original\":\"/p?\",\"path\":\"/p\",\"query\":\"\"}}");
	CHECK_STR(url_of("https://[2001:db8::1]:8443/"),
		  "{\"url\":{\"domain\":\"[2001:db8::1]\",\"original\":\"https://[2001:db8::1]:8443/\","
		  "\"path\":\"/\",\"port\":8443,\"scheme\":\"https\"}}");
	CHECK_STR(url_of("/dir.d/file"), "{\"url\":{\"original\":\"/dir.d/file\",\"path\":\"/dir.d/file\"}}");
	CHECK_STR(url_of("/.hidden"), "{\"url\":{\"original\":\"/.hidden\",\"path\":\"/.hidden\"}}");
	CHECK_STR(url_of("error:invalid-request"),
		  "{\"url\":{\"original\":\"error:invalid-request\"}}");
	CHECK_STR(url_of("http://h:99999/"),
		  "{\"url\":{\"domain\":\"h\",\"original\":\"http://h:99999/\",\"path\":\"/\","
		  "\"scheme\":\"http\"}}");
	CHECK_STR(url_of("-"), "{}");
	CHECK_STR(url_of("http://h?x#f"),
		  "{\"url\":{\"domain\":\"h\",\"original\":\"http://h?x#f\",\"query\":\"x\","
		  "\"scheme\":\"http\"}}");
	CHECK_STR(url_of("http://2001:db8::1/"),
		  "{\"url\":{\"domain\":\"2001:db8::1\",\"original\":\"http://2001:db8::1/\","
		  "\"path\":\"/\",\"scheme\":\"http\"}}");
	/* host first: PAN-OS's url log */
	CHECK_STR(url_host_of("www.example.jp:8443/a/b.php?x=1"),
		  "{\"url\":{\"domain\":\"www.example.jp\",\"extension\":\"php\",\"original\":"
		  "\"www.example.jp:8443/a/b.php?x=1\",\"path\":\"/a/b.php\",\"port\":8443,"
		  "\"query\":\"x=1\"}}");
	CHECK_STR(url_host_of("[2001:db8::1]/x"),
		  "{\"url\":{\"domain\":\"[2001:db8::1]\",\"original\":\"[2001:db8::1]/x\","
		  "\"path\":\"/x\"}}");
	CHECK_STR(url_host_of("https://www.example.jp/a"),
		  "{\"url\":{\"domain\":\"www.example.jp\",\"original\":\"https://www.example.jp/a\","
		  "\"path\":\"/a\",\"scheme\":\"https\"}}");
	CHECK_STR(url_host_of("www.example.jp"),
		  "{\"url\":{\"domain\":\"www.example.jp\",\"original\":\"www.example.jp\"}}");
	CHECK_STR(url_host_of("/p"), "{\"url\":{\"original\":\"/p\",\"path\":\"/p\"}}");
	/* a URL in the query is not the scheme: the first ':' is not after a scheme's letters */
	CHECK_STR(url_host_of("www.google.com/url?q=https://evil.example/x"),
		  "{\"url\":{\"domain\":\"www.google.com\",\"original\":"
		  "\"www.google.com/url?q=https://evil.example/x\",\"path\":\"/url\","
		  "\"query\":\"q=https://evil.example/x\"}}");
	CHECK_STR(url_of("svn+ssh://h/r"),
		  "{\"url\":{\"domain\":\"h\",\"original\":\"svn+ssh://h/r\",\"path\":\"/r\","
		  "\"scheme\":\"svn+ssh\"}}");
}

static void test_users_and_related(void)
{
	struct arena a;

	arena_init(&a, 1024, 1 << 20);
	event_init(&t_ev, &a);
	CHECK_INT(logtext_set_user(&t_ev, S("CORP\\alice"), true), 0);
	CHECK_INT(logtext_set_user(&t_ev, S("\\odd"), false), 0); /* no domain before '\' */
	CHECK_INT(logtext_set_end(&t_ev, &logtext_source, S("192.0.2.1")), 0);
	CHECK_INT(logtext_set_end(&t_ev, &logtext_destination, S("192.0.2.1")), 0);
	CHECK_INT(logtext_set_end(&t_ev, &logtext_client, S("host.example")), 0); /* no domain */
	CHECK_INT(logtext_set_end(&t_ev, &logtext_server, S("-")), 0);
	CHECK_INT(logtext_set_ip(&t_ev, FIELD_SERVER_IP, S("[2001:db8::2]")), 0);
	CHECK_INT(logtext_set_ip(&t_ev, FIELD_SERVER_IP, S("nope")), -EINVAL);
	CHECK_STR(t_json(),
		  "{\"client\":{\"address\":\"host.example\"},\"destination\":{\"address\":"
		  "\"192.0.2.1\",\"ip\":\"192.0.2.1\"},\"related\":{\"ip\":[\"192.0.2.1\","
		  "\"2001:db8::2\"],\"user\":[\"alice\",\"\\\\odd\"]},\"server\":{\"ip\":"
		  "\"2001:db8::2\"},\"source\":{\"address\":\"192.0.2.1\",\"ip\":\"192.0.2.1\","
		  "\"user\":{\"domain\":\"CORP\",\"name\":\"alice\"}},\"user\":{\"domain\":\"CORP\","
		  "\"name\":\"\\\\odd\"}}");
	arena_release(&a);
}

/* One line of each server format, each sniffed as its own format by auto and no other. */
static const struct {
	const char *format, *line;
} lines[] = {
	{ "squid", "<14>Mar 15 11:00:00 p squid: 1773543000.123  250 192.0.2.10 TCP_MISS/200 5 "
		   "GET http://a.example/ - DIRECT/198.51.100.7 text/html" },
	{ "combined", "h.example 192.0.2.1 - - [15/Mar/2026:11:00:00 +0900] \"GET / HTTP/1.1\" "
		      "200 1 \"-\" \"-\"" },
	{ "bind", "15-Mar-2026 11:59:00.123 queries: info: client @0x1 192.0.2.53#41000 (a.b): "
		  "query: a.b IN A + (192.0.2.1)" },
	{ "unbound", "[1773543500] unbound[1:0] info: 192.0.2.20 a.example. AAAA IN" },
	{ "postfix", "Mar 15 11:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]" },
};

static void test_auto_sniffs_each(void)
{
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct decoder *d = decoder_pick(DECODER_AUTO, lines[i].line,
						       strlen(lines[i].line));

		t_check(!strcmp(d->name, lines[i].format), __FILE__, __LINE__, "%s sniffed as %s",
			lines[i].format, d->name);
		CHECK_INT(t_decode(lines[i].format, lines[i].line, 0, NULL), 0);
	}
	/* plain syslog and JSON are nobody's */
	CHECK_STR(decoder_pick(DECODER_AUTO, "<13>Mar 15 11:00:00 h app: hello", 32)->name, "syslog");
	CHECK_STR(decoder_pick(DECODER_AUTO, "{\"a\":1}", 7)->name, "syslog");
	/* an anchor past the sniffed span is not looked for */
	{
		char longer[1024];

		snprintf(longer, sizeof(longer), "%*s%s", LOGTEXT_SNIFF_SPAN, "", lines[0].line);
		CHECK_STR(decoder_pick(DECODER_AUTO, longer, strlen(longer))->name, "syslog");
	}
}

static bool at_client(const char *p, size_t n)
{
	return n >= 7 && !memcmp(p, "client ", 7);
}

/* The sniff's definition, walked word by word: at() asked at every word start in the span. */
static bool sniff_by_words(const char *msg, size_t len, char first)
{
	for (size_t i = 0; i < len && i < LOGTEXT_SNIFF_SPAN; i++)
		if ((i == 0 || msg[i - 1] == ' ') && msg[i] == first && at_client(msg + i, len - i))
			return true;
	return false;
}

/* logtext_sniff (memchr for the first byte) asks at() where the definition does. */
static void test_sniff(void)
{
	static const char *const msgs[] = { "client x", "a client x", "aclient x", "a  client x",
					    "x\tclient x", "clientele", "", "c", "cc client " };
	char far[LOGTEXT_SNIFF_SPAN + 16];

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t n = strlen(msgs[i]);

		CHECK_INT(logtext_sniff(msgs[i], n, 'c', at_client), sniff_by_words(msgs[i], n, 'c'));
	}
	CHECK(logtext_sniff("a client x", 10, 'c', at_client));
	CHECK(!logtext_sniff("aclient x", 9, 'c', at_client));
	/* past the span: not asked */
	for (size_t at = LOGTEXT_SNIFF_SPAN - 2; at <= LOGTEXT_SNIFF_SPAN + 1; at++) {
		memset(far, 'x', sizeof(far));
		far[at - 1] = ' ';
		memcpy(far + at, "client ", 7);
		CHECK_INT(logtext_sniff(far, sizeof(far), 'c', at_client), at < LOGTEXT_SNIFF_SPAN);
		CHECK_INT(sniff_by_words(far, sizeof(far), 'c'), at < LOGTEXT_SNIFF_SPAN);
	}
}

/* logtext_find() finds what memmem() finds, at the edges too. */
static void test_find(void)
{
	static const char *const hay[] = { "", "N", "NAT-", "NANAT-x", "xxNAT", "xx NAT-TCP-A:",
					   "NAT NAT- NAT-", "CEF:0|", "x>CEF:" };
	static const char *const lit[] = { "NAT-", "N", "CEF:", "x", "T-" };

	for (size_t i = 0; i < sizeof(hay) / sizeof(hay[0]); i++)
		for (size_t j = 0; j < sizeof(lit) / sizeof(lit[0]); j++) {
			size_t n = strlen(hay[i]), m = strlen(lit[j]);

			for (size_t k = 0; k <= n; k++) /* every prefix: the end of the window */
				CHECK(logtext_find(hay[i], k, lit[j], m) ==
				      memmem(hay[i], k, lit[j], m));
		}
}

/* Every allocation failure is a clean error that still leaves event.original. */
static void test_allocation_failures(void)
{
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		for (long n = 0; n < 12; n++) {
			int rc;

			mem_fail_after(n);
			rc = t_decode(lines[i].format, lines[i].line, 0, NULL);
			mem_fail_after(-1);
			CHECK(rc == 0 || rc == -ENOMEM);
			if (rc == 0)
				CHECK(t_str("event.original") != NULL);
		}
	}
}

static void test_failure_keeps_only_the_raw_fields(void)
{
	static const char bad[] =
		"<14>Mar 15 11:00:00 p squid: 1773543000.123 x 192.0.2.1 TCP_MISS/200 1 GET /";

	CHECK_INT(t_decode("squid", bad, 0, NULL), -EINVAL);
	CHECK_STR(t_ev_err.msg, "offset 44: ELAPSED 'x' is not milliseconds");
	CHECK(t_str("host.name") == NULL && t_str("log.syslog.appname") == NULL);
	CHECK_STR(t_str("message"), bad);
	CHECK_INT(t_decode("squid", "<14>Mar 15 11:00:00 p squid: 1773543000.123 1", 0, NULL),
		  -EINVAL);
	CHECK_STR(t_ev_err.msg, "offset 45: CLIENT missing (expected TIME.MS ELAPSED CLIENT "
		  "RESULT/STATUS BYTES METHOD URL)");
	CHECK_INT(t_int("@timestamp", 0), T_EVENT_NOW);
	CHECK_INT(t_count("event.original"), 1);
	/* a malformed syslog header fails as the syslog decoder fails */
	CHECK_INT(t_decode("squid", "<999>x", 0, NULL), -EINVAL);
	CHECK_STR(t_str("message"), "<999>x");
}

int main(void)
{
	T_RUN(test_numbers);
	T_RUN(test_tokens);
	T_RUN(test_urls);
	T_RUN(test_users_and_related);
	T_RUN(test_auto_sniffs_each);
	T_RUN(test_find);
	T_RUN(test_sniff);
	T_RUN(test_allocation_failures);
	T_RUN(test_failure_keeps_only_the_raw_fields);
	return t_done();
}
