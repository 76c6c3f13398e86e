/* Unit tests of the query parser: canonical forms, precedence, values, pipes, errors. */
#include "store/query.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct arena arena;

/* Parses text and returns its canonical form (or "ERR: message"). */
static const char *canon(const char *text)
{
	static struct buf out;
	struct err e = ERR_INIT;
	struct query q;

	buf_release(&out);
	buf_init(&out, 1 << 20);
	arena_clear(&arena);
	if (query_parse(&q, text, strlen(text), &arena, &e) < 0) {
		buf_addf(&out, "ERR: %s", e.msg);
		return out.p;
	}
	if (query_format(&q, &out) < 0)
		return "format failed";
	return out.p;
}

#define CANON(in, want) CHECK_STR(canon(in), want)

static void test_filters(void)
{
	CANON("", "*");
	CANON("   ", "*");
	CANON("*", "*");
	CANON("source.ip: 10.0.0.0/8", "source.ip: 10.0.0.0/8");
	CANON("source.ip:10.0.0.1", "source.ip: 10.0.0.1");
	CANON("source.ip: 2001:db8::/32", "source.ip: 2001:db8::/32");
	CANON("@timestamp >= 2026-11-30T00:00:00Z", "@timestamp >= 2026-11-30T00:00:00Z");
	CANON("destination.port<1024", "destination.port < 1024");
	CANON("network.bytes > 1000 and network.bytes <= 2000",
	      "(network.bytes > 1000 and network.bytes <= 2000)");
	CANON("user.name: admin*", "user.name: admin*");
	CANON("user.name: adm?n", "user.name: adm?n");
	CANON("user.name: a\\*b", "user.name: a\\*b");
	CANON("message: \"failed password\"", "message: \"failed password\"");
	CANON("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"");
	CANON("_exists_: user.name", "_exists_: user.name");
	CANON("user.name: *", "_exists_: user.name");
	CANON("mimikatz", "mimikatz");
	CANON("mimi*", "mimi*");
	CANON("a\\:b", "a\\:b");     /* a term with a colon stays a term */
	CANON("a\\:b*", "a\\:b*");
	CANON("f: a:b", "f: a:b");
	CANON("user=alice", "user\\=alice");     /* key=value words of raw logs */
	CANON("f*\\", "f*\\\\");  /* a last backslash is a literal one */
}

/*
 * Field names a JSON key gave (stored as written): non-ASCII characters stand as they are,
 * any other character escaped; the canonical form escapes what the parser needs escaped
 * and reads back the same, keywords spelled as names included.
 */
static void test_field_names(void)
{
	CANON("部署: 総務", "部署: 総務");
	CANON("部署:総務 and 課 > 3", "(部署: 総務 and 課 > 3)");
	CANON("_exists_: 部署", "_exists_: 部署");
	CANON("a\\ b: x", "a\\ b: x");
	CANON("a\\:b: x", "a\\:b: x");
	CANON("a\\:b", "a\\:b");          /* no ':' after it: still a term */
	CANON("a\\*b: x", "a\\*b: x");
	CANON("\\and: x", "\\and: x");
	CANON("\\_exists_: x", "\\_exists_: x");
	CANON("_exists_: a\\(b\\)", "_exists_: a\\(b\\)");
	CANON("| stats count(), dc(部署) by a\\ b, 課 | sort -dc(部署)",
	      "* | stats count(), dc(部署) by a\\ b, 課 | sort -dc(部署)");
	CANON("| fields 部署, a\\,b | sort a\\ b", "* | fields 部署, a\\,b | sort a\\ b");
	CANON("| sort \\-x", "* | sort \\-x");
	CANON("| sort -x", "* | sort -x");
}

static void test_precedence(void)
{
	CANON("a or b and c", "(a or (b and c))");
	CANON("a and b or c", "((a and b) or c)");
	CANON("not a and b", "(not a and b)");
	CANON("not (a or b)", "not (a or b)");
	CANON("a b c", "(a and b and c)");
	CANON("a and (b and c)", "(a and b and c)"); /* one chain, as ((a and b) and c) */
	CANON("a or b or c and d", "(a or b or (c and d))");
	CANON("A AND B Or NoT c", "((A and B) or not c)");
	CANON("((a and b) and c)", "(a and b and c)");
	CANON("x: 1 or x: 2 and not y: 3", "(x: 1 or (x: 2 and not y: 3))");
	CANON("((a))", "a");
	CANON("event.action: (deny or drop)", "(event.action: deny or event.action: drop)");
	CANON("event.action: (deny drop)", "(event.action: deny and event.action: drop)");
	CANON("event.action: not allow", "not event.action: allow");
	CANON("f: (a or (b and not c))", "(f: a or (f: b and not f: c))");
	CANON("source.ip: 10.0.0.0/8 and not event.outcome: success",
	      "(source.ip: 10.0.0.0/8 and not event.outcome: success)");
}

static void test_keywords_as_values(void)
{
	CANON("f: \\and", "f: \\and");
	CANON("f: \"or\"", "f: \"or\"");
	CANON("\"not\"", "\"not\"");
	CANON("notice", "notice");
	CANON("android or order", "(android or order)");
}

static void test_pipes(void)
{
	CANON("| stats count() by destination.port | sort -count | head 10",
	      "* | stats count() by destination.port | sort -count | head 10");
	CANON("event.kind: event | stats count(), dc(user.name), sum(network.bytes), "
	      "avg(network.bytes), min(destination.port), max(destination.port) by a, b",
	      "event.kind: event | stats count(), dc(user.name), sum(network.bytes), "
	      "avg(network.bytes), min(destination.port), max(destination.port) by a, b");
	CANON("* | timechart span=1h count() by event.action",
	      "* | timechart span=1h count() by event.action");
	CANON("* | timechart span=90m count()", "* | timechart span=90m count()");
	CANON("* | timechart span=60m count()", "* | timechart span=1h count()");
	CANON("x | fields @timestamp, source.ip | head 5",
	      "x | fields @timestamp, source.ip | head 5");
	CANON("x | sort dc(user.name)", "x | sort dc(user.name)");
	CANON("x|STATS COUNT()", "x | stats count()");
}

static void test_errors(void)
{
	CANON("source.ip:", "ERR: column 11: expected a value after 'source.ip:'");
	CANON("(a or b", "ERR: column 1: expected a ')' closing this '('");
	/* other query languages' && and ||: an error, not a search for them */
	CANON("event.action: deny && late", "ERR: column 20: expected 'and' ('&&' is written and)");
	CANON("a || b", "ERR: column 3: expected 'or' ('||' is written or; '|' starts a pipe)");
	/* the same inside a group of values or of terms; escaped, && is a word */
	CANON("event.action: (deny && late)",
	      "ERR: column 21: expected 'and' ('&&' is written and)");
	CANON("event.action: &&", "ERR: column 15: expected 'and' ('&&' is written and)");
	CANON("event.action: (deny || late)",
	      "ERR: column 21: expected 'or' ('||' is written or; '|' starts a pipe)");
	CANON("(a || b)", "ERR: column 4: expected 'or' ('||' is written or; '|' starts a pipe)");
	CANON("a \\&& b", "(a and \\&& and b)");
	CANON("event.action: (deny \\&&)", "(event.action: deny and event.action: \\&&)");
	CANON("a or", "ERR: column 5: expected a term, a field or '('");
	CANON("a )", "ERR: column 3: expected no ')' without its '('");
	CANON("\"open", "ERR: column 1: expected a closing '\"' for this phrase");
	CANON("x = 1", "ERR: column 3: expected ':' (field: value) or a comparison (>, >=, <, <=)");
	CANON("x > ", "ERR: column 5: expected a number or a time after the comparison");
	CANON("| stats", "ERR: column 8: expected an aggregation: count(), dc(f), sum(f), avg(f), "
			 "min(f) or max(f)");
	CANON("| stats count(x)", "ERR: column 15: expected ')' (count takes no field)");
	CANON("| stats dc()", "ERR: column 12: expected a field name");
	CANON("| stats total()", "ERR: column 9: expected an aggregation: count(), dc(f), sum(f), "
				 "avg(f), min(f) or max(f)");
	CANON("| sort ++a", "ERR: column 9: expected a field or result column after 'sort'");
	CANON("| sort a,b", "ERR: column 9: expected '|' or the end of the query");
	CANON("| head", "ERR: column 7: expected a number after 'head'");
	CANON("| head 10 20", "ERR: column 11: expected '|' or the end of the query");
	CANON("| grep x", "ERR: column 3: expected a command after '|': stats, sort, head, fields "
			  "or timechart");
	CANON("| timechart count()", "ERR: column 13: expected span=N followed by s, m, h, d or w "
				     "(span=1h)");
	CANON("| timechart span=1y count()", "ERR: column 13: expected span=N followed by s, m, "
					     "h, d or w (span=1h)");
	CANON("* | timechart span=14d count()", "* | timechart span=2w count()");
	CANON("* | timechart span=5280w count()", "* | timechart span=5280w count()");
	CANON("| timechart span=5281w count()", "ERR: column 13: expected span=N followed by s, "
						"m, h, d or w (span=1h)");
	CANON("| timechart span=999999d count()", "ERR: column 13: expected span=N followed by "
						  "s, m, h, d or w (span=1h)");
	CANON("| timechart span=1h count() by a, b",
	      "ERR: column 36: expected one field after 'by' (timechart splits by one field)");
#define NOT_A_NAME                                                                         \
	"ERR: column 1: expected a field name (letters, digits, '.', '_', '@', '-', "      \
	"non-ASCII; any other character after '\\') before ':' or a comparison"
	CANON("a/b: x", NOT_A_NAME);
	CANON("a*: x", NOT_A_NAME);
#undef NOT_A_NAME
	CANON("| fields a/b", "ERR: column 10: expected a field name");
	CANON("| fields a, b*", "ERR: column 13: expected a field name");
	CANON("_exists_:", "ERR: column 10: expected a field name after '_exists_:'");
	/* Columns count characters, not bytes. */
	CANON("ユーザー (a", "ERR: column 6: expected a ')' closing this '('");
}

static unsigned tree_depth(const struct query_node *n)
{
	unsigned l, r;

	if (!n)
		return 0;
	l = tree_depth(n->left);
	r = tree_depth(n->right);
	return 1 + (l > r ? l : r);
}

static const struct query_node *last_operand(const struct query_node *n)
{
	while (n->right)
		n = n->right;
	return n;
}

static void test_limits(void)
{
	static char deep[QUERY_MAX_DEPTH * 2 + 8];
	struct err e = ERR_INIT;
	struct query q;
	char *big;
	size_t n = 0;

	for (int i = 0; i <= QUERY_MAX_DEPTH; i++)
		deep[n++] = '(';
	deep[n++] = 'a';
	CHECK(strstr(canon(deep), "more than 64 nested groups") != NULL);
	memset(deep, 0, sizeof(deep));
	for (n = 0; n < QUERY_MAX_DEPTH * 2; n += 2)
		memcpy(deep + n, "no", 2); /* "nonono...": one word, not nested nots */
	CHECK_STR(canon(deep), deep);
	big = malloc(QUERY_MAX_LENGTH + 2);
	memset(big, 'a', QUERY_MAX_LENGTH + 1);
	CHECK_INT(query_parse(&q, big, QUERY_MAX_LENGTH + 1, &arena, &e), -E2BIG);
	free(big);
	CHECK_INT(query_parse(&q, "a\0b", 3, &arena, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 2: a NUL byte") != NULL);
	/* Deeply nested not: bounded too. */
	{
		char nots[QUERY_MAX_DEPTH * 4 + 16], once[sizeof(nots) + 8];

		for (n = 0; n <= QUERY_MAX_DEPTH * 4; n += 4)
			memcpy(nots + n, "not ", 4);
		memcpy(nots + n, "a", 2);
		CHECK(strstr(canon(nots), "nested groups") != NULL);
		/*
		 * 64 nots parse, but `not ... not a and b` writes out as `(not ... not a and
		 * b)`, 65 deep: refused, as its canonical form would not parse again. 63 do.
		 */
		memcpy(nots + QUERY_MAX_DEPTH * 4, "a and b", 8);
		CHECK(strstr(canon(nots), "more than 64 nested groups once") != NULL);
		memcpy(nots + (QUERY_MAX_DEPTH - 1) * 4, "a and b", 8);
		snprintf(once, sizeof(once), "%s", canon(nots));
		CHECK(!strncmp(once, "(not not ", 9));
		CHECK_STR(canon(once), once);
	}
	/*
	 * A chain of 30,000 words (a query of 60 KB, under the limit) nests about 30 deep, not
	 * 30,000: every walk of the tree recurses. Its operands stay in order.
	 */
	{
		size_t words = 30000, len = 2 * words - 1;
		char *chain = malloc(len + 1);
		struct arena chain_arena;

		arena_init(&chain_arena, 1 << 16, 64u << 20);

		for (size_t i = 0; i < words; i++)
			memcpy(chain + 2 * i, i == words - 1 ? "z" : "a ", i == words - 1 ? 1 : 2);
		chain[len] = '\0';
		CHECK_INT(query_parse(&q, chain, len, &chain_arena, &e), 0);
		CHECK(tree_depth(q.filter) <= 2 * 15 + 1);
		CHECK(tree_depth(q.filter) >= 15); /* log2(30,000) */
		CHECK_STR(last_operand(q.filter)->value, "z");
		arena_release(&chain_arena);
		free(chain);
	}
	/*
	 * A list of a thousand addresses (an indicator list pasted in) within the 4 MiB that a
	 * search gives its parser: each word took the rest of the query from the arena before.
	 */
	{
		struct buf list = BUF_INIT(1 << 20);
		struct arena four;

		arena_init(&four, 4096, 4u << 20);
		CHECK_INT(buf_adds(&list, "source.ip: ("), 0);
		for (int i = 0; i < 1000; i++)
			CHECK_INT(buf_addf(&list, "%s10.%d.%d.%d", i ? " or " : "", i / 256, i % 256, 7),
				  0);
		CHECK_INT(buf_adds(&list, ")"), 0);
		CHECK_INT(query_parse(&q, list.p, list.len, &four, &e), 0);
		arena_release(&four);
		buf_release(&list);
	}
}

static void test_allocation_failures(void)
{
	const char *text = "a: (b or c) and not d > 5 | stats dc(x) by y | sort -count | head 3";
	struct err e = ERR_INIT;
	struct query q;
	struct arena small;

	for (long n = 0; n < 6; n++) {
		arena_init(&small, 64, 1 << 20);
		mem_fail_after(n);
		int rc = query_parse(&q, text, strlen(text), &small, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		arena_release(&small);
	}
	arena_init(&small, 64, 200); /* arena limit reached: a clean error too */
	CHECK_INT(query_parse(&q, text, strlen(text), &small, &e), -ENOMEM);
	arena_release(&small);
}

int main(void)
{
	arena_init(&arena, 4096, 1 << 20);
	T_RUN(test_filters);
	T_RUN(test_field_names);
	T_RUN(test_precedence);
	T_RUN(test_keywords_as_values);
	T_RUN(test_pipes);
	T_RUN(test_errors);
	T_RUN(test_limits);
	T_RUN(test_allocation_failures);
	arena_release(&arena);
	return t_done();
}
