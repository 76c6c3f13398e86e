/*
 * fuzz_alert.c - libFuzzer target for the alert's JSON form (`koban alert add`) and for
 * the checks every alert row read from koban.db goes through.
 *
 * Any input either fails with a message or reads into an alert whose strings and events
 * are set; allocation failures (the Nth, from the first byte) must be clean errors. The
 * input is also given to meta_alert_check as a row's group fields and as its event lines,
 * which must refuse or accept it without crashing.
 */
#include "soc/alert.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/mem.h"
#include "store/meta.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_read(const struct alert *a)
{
	if (!a->rule_id || !*a->rule_id || (a->n_events && !a->events) ||
	    a->events_matched < a->n_events)
		abort();
	for (size_t i = 0; i < a->n_events; i++)
		if (!a->events[i].len || a->events[i].json[0] != '{')
			abort();
	for (size_t i = 0; i < a->n_tags; i++)
		if (!a->tags[i])
			abort();
}

/* The input as a stored row's texts: the checks decide, nothing crashes. */
static void check_row(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct meta_alert row = {
		.tenant = "a", .kind = "sigma", .rule_id = "r", .rule_title = "", .rule_level = "",
		.rule_author = "", .rule_status = "", .rule_link = "", .rule_tags = "[]",
		.rule_references = "[]", .key_fields = "{}",
	};
	struct err e = ERR_INIT;

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	row.group_fields = text;
	row.events = "";
	if (meta_alert_check(&row, &e) < 0 && !e.msg[0])
		abort();
	row.group_fields = "{}";
	row.events = text;
	for (size_t i = 0; i < size; i++)
		row.n_events += data[i] == '\n';
	err_clear(&e);
	if (meta_alert_check(&row, &e) < 0 && !e.msg[0])
		abort();
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct arena ar;
	struct alert a;
	int rc;

	arena_init(&ar, 4096, 16 << 20);
	rc = alert_read_json((const char *)data, size, &ar, &a, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	if (rc == 0)
		check_read(&a);
	if (size) {
		arena_clear(&ar);
		mem_fail_after(data[0] % 16);
		rc = alert_read_json((const char *)data, size, &ar, &a, &e);
		mem_fail_after(-1);
		if (rc == 0)
			check_read(&a);
	}
	arena_release(&ar);
	check_row(data, size);
	return 0;
}
