/*
 * fuzz_triage.c - libFuzzer target for the triage rule loader (soc/triage.c).
 *
 * Any YAML text loads without crashing: every document is a rule, the settings, or an
 * error naming FILE:LINE. A text that loads is evaluated on a fixed alert (no store, no
 * koban.db: the rules that read the alert's own events decide), and the verdict must be a
 * level 0..3 with its evidence and why. Then the same text is loaded with the Nth
 * allocation failing: only -ENOMEM may come out of that, or the text's own error.
 */
#include "soc/triage.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/mem.h"
#include "store/meta.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENT "{\"@timestamp\":\"2026-11-30T10:00:00Z\",\"event\":{\"action\":\"drop\"," \
	"\"type\":[\"denied\"]},\"source\":{\"ip\":\"203.0.113.5\"},\"destination\":{\"ip\":" \
	"\"10.0.0.5\"},\"panos\":{\"sessionid\":\"7\"},\"vulnerability\":{\"id\":\"CVE-2021-44228\"}}\n"

/* An empty rules directory: the fuzzed text is the whole rule set. */
static const char *empty_dir(void)
{
	static char dir[64];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_triage.%d", (int)getpid());
		mkdir(dir, 0700);
	}
	return dir;
}

static int load(struct triage **t, const uint8_t *data, size_t size, struct err *e)
{
	struct triage_config c = { .rules_dir = empty_dir() };
	int rc = triage_new(t, &c, e);

	if (rc == 0)
		rc = triage_load_text(*t, "fuzz.yml", (const char *)data, size, e);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_alert al = {
		.tenant = "alpha", .kind = "sigma", .rule_id = "r", .rule_title = "Exploit",
		.rule_level = "high", .rule_author = "", .rule_status = "", .rule_link = "",
		.rule_tags = "[\"cve.2024-3400\"]", .rule_references = "[]", .group_fields = "{}",
		.key_fields = "{}", .events = EVENT, .n_events = 1,
	};
	struct triage_input in = { .alerts = &al, .n_alerts = 1, .now_ns = 1796083200000000000LL };
	struct triage_verdict v;
	struct triage *t = NULL;
	struct err e = ERR_INIT;
	struct arena a;
	int rc, first;

	arena_init(&a, 4096, 1 << 24);
	first = load(&t, data, size, &e);
	if (first < 0 && (first == -ENOMEM || !strstr(e.msg, "fuzz.yml")))
		abort(); /* no allocation failed, and every error names the file */
	if (first == 0) {
		if (triage_evaluate(t, &in, &a, &v, &e) < 0 || v.level < 0 || v.level > 3 ||
		    !v.evidence || !v.why)
			abort();
	}
	triage_free(t);
	t = NULL;
	if (size) {
		mem_fail_after(data[0] % 32);
		rc = load(&t, data, size, &e);
		mem_fail_after(-1);
		if (rc < 0 && rc != -ENOMEM && rc != first)
			abort();
		triage_free(t);
	}
	arena_release(&a);
	return 0;
}
