/*
 * fuzz_sigma.c - libFuzzer target for the Sigma rule loader (detect/sigma.c, sigval.c).
 *
 * Any YAML text loads without crashing: every document is a rule, a filter, a correlation
 * or rejected with a message. Loaded rules are matched against a few fixed events (with
 * strings, an address, numbers, a time, a multi-valued field) and their prefilter
 * literals are read. Then the same text is loaded with the Nth allocation failing: only
 * -ENOMEM may come out of that.
 */
#include "detect/sigma.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const values[] = { "a", "b*" };
static const struct sigma_placeholder placeholders[] = { { "p", values, 2 } };

static void on_report(void *ctx, const char *file, unsigned line, const char *id,
		      const char *reason)
{
	if (!reason[0] || !id[0])
		abort(); /* every rejection names the rule and says why */
}

static void build_events(struct event *ev, struct arena *a)
{
	static const char line[] = "<14>Nov 30 fw1 deny 10.1.2.3 -> 203.0.113.7:443 Mimikatz -enc x";
	struct ipaddr ip;
	int name = field_intern("Image", 5, FT_STR);

	ipaddr_parse(&ip, "10.1.2.3", 8);
	for (int i = 0; i < 3; i++) {
		event_init(&ev[i], a);
		event_set_time(&ev[i], FIELD_TIMESTAMP, 1796083200000000000LL + i * 3600000000000LL);
		if (i != 2)
			event_set_str(&ev[i], FIELD_EVENT_ORIGINAL, line, sizeof(line) - 1);
		else
			event_set_str(&ev[i], FIELD_MESSAGE, "C:\\Windows\\cmd.exe /c", 21);
		if (i != 1) {
			event_set_ip(&ev[i], FIELD_SOURCE_IP, &ip);
			event_set_int(&ev[i], FIELD_DESTINATION_PORT, 443 + i);
			event_add_str(&ev[i], FIELD_TAGS, "x", 1);
			event_add_str(&ev[i], FIELD_TAGS, "cGluZw==", 8);
		}
		if (name >= 0)
			event_set_str(&ev[i], (unsigned)name, "C:\\Windows\\System32\\cmd.exe", 27);
	}
}

static int load(struct sigma_set **s, const uint8_t *data, size_t size, struct err *e)
{
	struct sigma_options opt = { .placeholders = placeholders, .n_placeholders = 1,
				     .report = on_report };
	int rc = sigma_set_new(s, &opt);

	if (rc == 0)
		rc = sigma_set_load_buffer(*s, "fuzz.yml", (const char *)data, size, e);
	if (rc == 0)
		rc = sigma_set_finish(*s, e);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigma_scratch *sc = NULL;
	struct sigma_set *s = NULL;
	struct err e = ERR_INIT;
	struct event ev[3];
	struct arena a;
	int rc;

	arena_init(&a, 4096, 1 << 20);
	build_events(ev, &a);
	if (load(&s, data, size, &e) < 0 || sigma_scratch_new(&sc, s) < 0)
		abort(); /* only an allocation failure may fail a load, and none was made to */
	for (size_t i = 0; i < sigma_set_size(s); i++) {
		const struct sigma_rule *r = sigma_set_rule(s, i);
		const struct sigma_literal *lits;
		size_t n = sigma_rule_literals(r, &lits);

		for (size_t k = 0; k < n; k++)
			if (!lits[k].s || (lits[k].field < 0 && lits[k].field != SIGMA_ANY_FIELD))
				abort();
		for (int j = 0; j < 3; j++)
			(void)sigma_rule_match(r, &ev[j], sc);
	}
	sigma_scratch_free(sc);
	sigma_set_free(s);
	s = NULL;
	if (size) {
		mem_fail_after(data[0] % 32);
		rc = load(&s, data, size, &e);
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM)
			abort();
		sigma_set_free(s);
	}
	arena_release(&a);
	return 0;
}
