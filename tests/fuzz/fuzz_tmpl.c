/*
 * fuzz_tmpl.c - libFuzzer target for the first reports' template language (soc/tmpl.h).
 *
 * Any input either fails to parse with a NAME:LINE message or parses; a parsed template is
 * rendered against a fixed set of fields (values, lists, nested items), which either
 * succeeds or fails with a message (a name no field has, a list used as a value), never
 * reading or writing out of bounds. The Nth allocation failing (from the first byte) must
 * be a clean -ENOMEM.
 */
#include "soc/tmpl.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static struct tmpl_fields *fields(struct arena *a)
{
	struct tmpl_fields *f = tmpl_fields_new(a), *it;

	if (!f || tmpl_sets(f, "title", "Exploit") < 0 || tmpl_sets(f, "empty", "") < 0 ||
	    tmpl_list(f, "none") < 0)
		abort();
	for (int i = 0; i < 3; i++) {
		if (!(it = tmpl_add_item(f, "hosts")) || tmpl_sets(it, "name", "PC") < 0 ||
		    !tmpl_add_item(it, "ips") || tmpl_sets(it, "first", i ? "" : "yes") < 0)
			abort();
	}
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(1 << 20);
	struct err e = ERR_INIT;
	struct tmpl *t = NULL;
	struct arena a;
	int rc;

	arena_init(&a, 4096, 1 << 20);
	rc = tmpl_parse(&t, "f.txt", (const char *)data, size, &e);
	if (rc < 0) {
		if (!e.msg[0] || t)
			abort();
		goto done;
	}
	e.msg[0] = '\0';
	rc = tmpl_render(t, fields(&a), &out, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	tmpl_free(t);
	t = NULL;
	if (size) {
		mem_fail_after(data[0] % 16);
		rc = tmpl_parse(&t, "f.txt", (const char *)data, size, &e);
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM && rc != -EINVAL)
			abort();
	}
done:
	tmpl_free(t);
	buf_release(&out);
	arena_release(&a);
	return 0;
}
