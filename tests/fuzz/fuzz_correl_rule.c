/*
 * fuzz_correl_rule.c - libFuzzer target for correl_rule_parse (YAML text of a correlation
 * document). A parsed rule is put in an engine beside a fixed one that chains on it (by
 * its id or name), fed events, flushed, snapshotted and restored into a second engine.
 */
#include "fuzz_correl.h"

#include "core/buf.h"
#include "core/mem.h"

#include <stdint.h>

static const char outer[] =
	"title: outer\nid: fuzz-outer\ncorrelation:\n  type: temporal\n  rules: [X, a]\n"
	"  timespan: 10m\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct correl_rule *rules[2], *again;
	struct correl_engine *en, *en2;
	struct buf snap = BUF_INIT(1 << 24);
	struct err e = ERR_INIT;
	char *text;
	int in[3], in2[3];

	rules[0] = fz_parse((const char *)data, size);
	if (!rules[0])
		return 0;
	/* the outer correlation names the fuzzed one */
	text = strdup(outer);
	if (!text)
		abort();
	rules[1] = fz_parse(text, strlen(text));
	free(text);
	if (!rules[1])
		abort();
	if (correl_rule_key(rules[0])) {
		mem_free(rules[1]->rules[0]);
		rules[1]->rules[0] = mem_strdup(correl_rule_key(rules[0]));
		if (!rules[1]->rules[0])
			abort();
	}
	en = fz_engine(rules, 2, in);
	fz_feed(en, in);
	if (correl_flush(en, fz_emit, NULL) < 0 || correl_snapshot_write(en, &snap) < 0)
		abort();
	again = fz_parse((const char *)data, size);
	en2 = fz_engine(&again, 1, in2);
	if (correl_snapshot_read(en2, snap.p, snap.len, &e) < 0)
		abort();
	fz_feed(en2, in2);
	correl_engine_free(en);
	correl_engine_free(en2);
	buf_release(&snap);
	return 0;
}
