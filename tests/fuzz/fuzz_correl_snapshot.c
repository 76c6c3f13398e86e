/*
 * fuzz_correl_snapshot.c - libFuzzer target for correl_snapshot_read (a snapshot file).
 * The input is tried as is and with its checksum fixed, so the parser behind the checksum
 * is reached. Whatever is accepted must be written again and read back, and the engine
 * must keep working (fed, flushed).
 */
#include "fuzz_correl.h"

#include "core/buf.h"
#include "core/le.h"
#include "core/mem.h"

#include <stdint.h>
#include <zlib.h>

static const char *const docs[] = {
	"title: many\nname: many\ncorrelation:\n  type: event_count\n  rules: a\n"
	"  group-by: [user]\n  timespan: 1m\n  condition: {gte: 3}\n",
	"title: then\nid: then\ncorrelation:\n  type: temporal_ordered\n  rules: [many, b]\n"
	"  group-by: [user]\n  timespan: 5m\n",
	"title: sum\nid: sum\ncorrelation:\n  type: value_sum\n  rules: c\n"
	"  timespan: 1m\n  condition: {field: bytes, lt: 100}\n",
};

static struct correl_engine *engine(int in[3])
{
	struct correl_rule *rules[3];

	for (int i = 0; i < 3; i++) {
		rules[i] = fz_parse(docs[i], strlen(docs[i]));
		if (!rules[i])
			abort();
	}
	return fz_engine(rules, 3, in);
}

static void try(const uint8_t *data, size_t size)
{
	struct buf snap = BUF_INIT(1 << 24);
	struct correl_engine *en = NULL, *en2 = NULL;
	struct err e = ERR_INIT;
	int in[3], in2[3], rc;

	en = engine(in);
	rc = correl_snapshot_read(en, data, size, &e);
	if (rc < 0) {
		if (rc != -EBADMSG || !e.msg[0])
			abort();
		goto done;
	}
	if (correl_snapshot_write(en, &snap) < 0)
		abort();
	en2 = engine(in2);
	if (correl_snapshot_read(en2, snap.p, snap.len, &e) < 0)
		abort();
	fz_feed(en, in);
	if (correl_flush(en, fz_emit, NULL) < 0)
		abort();
done:
	correl_engine_free(en);
	correl_engine_free(en2);
	buf_release(&snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	try(data, size);
	if (size < 20)
		return 0;
	fixed = malloc(size);
	if (!fixed)
		abort();
	memcpy(fixed, data, size);
	le_put32(fixed + size - 4, (uint32_t)crc32(0L, fixed, (uInt)(size - 4)));
	try(fixed, size);
	free(fixed);
	return 0;
}
