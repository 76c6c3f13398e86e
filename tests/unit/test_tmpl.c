/* Unit tests of the first reports' template language: values, lists, conditions, the
 * standalone block lines, parse and render errors with NAME:LINE, allocation failures. */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "soc/tmpl.h"
#include "t.h"

#include <errno.h>
#include <string.h>

/* Renders text with f into *out (reset first); the return code of parse or render. */
static int render(const char *text, const struct tmpl_fields *f, struct buf *out, struct err *e)
{
	struct tmpl *t = NULL;
	int rc;

	buf_reset(out);
	if ((rc = tmpl_parse(&t, "t.txt", text, strlen(text), e)) < 0)
		return rc;
	rc = tmpl_render(t, f, out, e);
	tmpl_free(t);
	return rc;
}

static struct tmpl_fields *sample(struct arena *a)
{
	struct tmpl_fields *f = tmpl_fields_new(a), *it;

	CHECK(f);
	CHECK_INT(tmpl_sets(f, "title", "Exploit"), 0);
	CHECK_INT(tmpl_sets(f, "empty", ""), 0);
	CHECK_INT(tmpl_list(f, "none"), 0);
	CHECK((it = tmpl_add_item(f, "hosts")) && tmpl_sets(it, "name", "PC-1") == 0);
	CHECK((it = tmpl_add_item(f, "hosts")) && tmpl_sets(it, "name", "PC-2") == 0);
	CHECK_INT(tmpl_count(f, "hosts"), 2);
	CHECK_INT(tmpl_count(f, "title"), 0);
	CHECK_STR(tmpl_get(f, "title"), "Exploit");
	CHECK(!tmpl_get(f, "hosts") && !tmpl_get(f, "nothing"));
	return f;
}

static void test_values_and_blocks(void)
{
	struct arena a;
	struct buf out = BUF_INIT(1 << 16);
	struct err e = ERR_INIT;
	struct tmpl_fields *f;

	arena_init(&a, 4096, 1 << 20);
	f = sample(&a);
	CHECK_INT(render("A {{ title }} B{{! note }}\n", f, &out, &e), 0);
	CHECK_STR(out.p, "A Exploit B\n");
	/* block tags alone on their lines leave no line behind; inline ones keep the text */
	CHECK_INT(render("Hosts:\n{{#each hosts}}\n  - {{name}} ({{title}})\n{{/each}}\nend\n", f,
			 &out, &e), 0);
	CHECK_STR(out.p, "Hosts:\n  - PC-1 (Exploit)\n  - PC-2 (Exploit)\nend\n");
	CHECK_INT(render("[{{#each hosts}}{{name}},{{/each}}]", f, &out, &e), 0);
	CHECK_STR(out.p, "[PC-1,PC-2,]");
	CHECK_INT(render("{{#if empty}}yes{{else}}no{{/if}} {{#if title}}t{{/if}} "
			 "{{#unless none}}0{{/unless}} {{#if hosts}}h{{/if}}", f, &out, &e), 0);
	CHECK_STR(out.p, "no t 0 h");
	CHECK_INT(render("  {{#if none}}  \nx\n  {{else}}\ny\n{{/if}}", f, &out, &e), 0);
	CHECK_STR(out.p, "y\n");
	/* a later set replaces; an item's field hides the outer one of the same name */
	CHECK_INT(tmpl_sets(f, "title", "Brute force"), 0);
	CHECK_INT(render("{{title}}", f, &out, &e), 0);
	CHECK_STR(out.p, "Brute force");
	buf_release(&out);
	arena_release(&a);
}

static void test_errors(void)
{
	static const struct { const char *text, *msg; } bad[] = {
		{ "a\n{{title", "t.txt:2: {{ without its }}" },
		{ "\n\n{{#each hosts}}", "t.txt:3: {{#each hosts}} is never closed" },
		{ "{{#if a}}{{/each}}", "t.txt:1: {{/each}} closes {{#if}} of line 1" },
		{ "{{/if}}", "t.txt:1: {{/if}} without its opening tag" },
		{ "{{else}}", "t.txt:1: {{else}} outside {{#if}} or {{#unless}}" },
		{ "{{#if a}}{{else}}{{else}}{{/if}}", "t.txt:1: a second {{else}} in one block" },
		{ "{{#when a}}", "t.txt:1: {{#when a}}: expected {{#each NAME}}, {{#if NAME}} or {{#unless NAME}}" },
		{ "x\n{{a b}}", "t.txt:2: {{a b}}: expected a field name (letters, digits, '_', '.')" },
		{ "{{}}", "t.txt:1: {{}}: expected a field name (letters, digits, '_', '.')" },
		{ "{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}{{#if a}}",
		  "t.txt:1: blocks nested deeper than 8" },
	};
	struct arena a;
	struct buf out = BUF_INIT(16);
	struct err e = ERR_INIT;
	struct tmpl_fields *f;

	arena_init(&a, 4096, 1 << 20);
	f = sample(&a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(render(bad[i].text, f, &out, &e), -EINVAL);
		CHECK_STR(e.msg, bad[i].msg);
	}
	CHECK_INT(render("\n{{titel}}", f, &out, &e), -EINVAL);
	CHECK_STR(e.msg, "t.txt:2: no field named titel");
	CHECK_INT(render("{{hosts}}", f, &out, &e), -EINVAL);
	CHECK_STR(e.msg, "t.txt:1: hosts is a list: use {{#each hosts}}");
	CHECK_INT(render("{{#each title}}{{/each}}", f, &out, &e), -EINVAL);
	CHECK_STR(e.msg, "t.txt:1: title is no list");
	/* the buffer's maximum is an error, never a cut report */
	CHECK_INT(render("0123456789abcdef{{title}}", f, &out, &e), -ENOSPC);
	buf_release(&out);
	arena_release(&a);
}

static void test_alloc_failures(void)
{
	const char *text = "{{#each hosts}}{{name}}{{/each}}{{#if title}}{{title}}{{/if}}\n";
	struct err e = ERR_INIT;
	int ok = 0;

	for (long n = 0; n < 20 && !ok; n++) {
		struct tmpl *t = NULL;
		int rc;

		mem_fail_after(n);
		rc = tmpl_parse(&t, "t.txt", text, strlen(text), &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		ok = rc == 0;
		tmpl_free(t);
	}
	CHECK(ok);
}

int main(void)
{
	T_RUN(test_values_and_blocks);
	T_RUN(test_errors);
	T_RUN(test_alloc_failures);
	return t_done();
}
