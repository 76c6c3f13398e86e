/*
 * fuzz_litset.c - libFuzzer target for the multi-pattern pass (detect/litset).
 *
 * The input is a literal set followed by the buffer to scan:
 *
 *   byte 0          number of literals (mod 33)
 *   per literal     one length byte (mod 17), one flag byte (bit 0: caseless, bits 1-3:
 *                   the id, so that literals share ids), then the literal's bytes
 *   the rest        the buffer
 *
 * Every engine built in must find exactly the ids a naive search finds, and allocation
 * failures (the Nth, from the last byte, on a quarter of the inputs) must be clean -ENOMEM
 * errors.
 */
#include "detect/litset.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LITS 32

static const enum litset_engine engines[] = {
	LITSET_ENGINE_PORTABLE,
#ifdef KOBAN_HYPERSCAN
	LITSET_ENGINE_HYPERSCAN,
#endif
};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int occurs(const struct litset_literal *l, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + l->len <= len; i++) {
		size_t j = 0;

		for (; j < l->len; j++) {
			unsigned char a = p[i + j], b = (unsigned char)l->bytes[j];

			if (l->flags & LITSET_CASELESS ? lower(a) != lower(b) : a != b)
				break;
		}
		if (j == l->len)
			return 1;
	}
	return 0;
}

/* The literals read from the input; the buffer is what follows them. */
static size_t read_literals(const uint8_t *data, size_t size, struct litset_literal *lits,
			    size_t *used)
{
	size_t n = 0, at = 1, want = size ? data[0] % (MAX_LITS + 1) : 0;

	while (n < want && at + 2 <= size) {
		size_t len = data[at] % 17;
		unsigned flags = data[at + 1];

		at += 2;
		len = len < size - at ? len : size - at;
		lits[n].bytes = (const char *)data + at;
		lits[n].len = len;
		lits[n].id = (flags >> 1) & 7;
		lits[n].flags = flags & LITSET_CASELESS;
		at += len;
		n++;
	}
	*used = at < size ? at : size;
	return n;
}

static void check_engine(enum litset_engine engine, const struct litset_literal *lits,
			 size_t n, const uint8_t *buf, size_t len)
{
	struct err e = ERR_INIT;
	struct litset *set;
	struct litset_scratch *sc;
	int want[8] = { 0 };

	if (litset_new(&set, lits, n, engine, &e) < 0 || litset_scratch_new(&sc, set, &e) < 0)
		abort(); /* valid literals, enough memory: must compile */
	for (size_t i = 0; i < n; i++)
		want[lits[i].id] |= occurs(&lits[i], buf, len);
	if (litset_scan(set, sc, (const char *)buf, len) < 0)
		abort();
	for (uint32_t id = 0; id < 8; id++)
		if (want[id] != litset_scratch_has(sc, id))
			abort();
	litset_scratch_free(sc);
	litset_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct litset_literal lits[MAX_LITS];
	size_t used, n = read_literals(data, size, lits, &used);

	for (size_t k = 0; k < sizeof(engines) / sizeof(engines[0]); k++)
		check_engine(engines[k], lits, n, data + used, size - used);
	if (size && data[size - 1] % 4 == 0) { /* a quarter of the inputs: compiling is slow */
		for (size_t k = 0; k < sizeof(engines) / sizeof(engines[0]); k++) {
			struct err e = ERR_INIT;
			struct litset *set = NULL;
			struct litset_scratch *sc = NULL;
			int rc;

			mem_fail_after(data[size - 1] / 4 % 24);
			rc = litset_new(&set, lits, n, engines[k], &e);
			if (rc == 0)
				rc = litset_scratch_new(&sc, set, &e);
			mem_fail_after(-1);
			if (rc < 0 && (rc != -ENOMEM || !e.msg[0]))
				abort();
			litset_scratch_free(sc);
			litset_free(set);
		}
	}
	return 0;
}
