/*
 * fuzz_segment.c - libFuzzer target for segment files (store/segment.h), which a broken disk
 * or a hostile copy may leave in any state.
 *
 * First byte 0 modulo 4: the rest of the input is the whole file, its MAC (format 6) rewritten
 * with the fixed test key (segment_mac_rewrite(), when the file frames well enough for it)
 * so that a changed block header or footer reaches the parsers behind the MAC check. First
 * byte 2 modulo 4: the whole file as given, so that the MAC check itself is fuzzed (a
 * changed format 6 file stops there). First byte 1 modulo 4: the second
 * byte gives an event count (1..64) and the rest is the plaintext of one block's payload,
 * which the target seals with the fixed test key into an otherwise valid segment (header,
 * block header, footer with the field-name table below, an empty index, trailer), so that
 * the fuzzer reaches the column and row decoders behind the seal. First byte 3 modulo 4: the
 * second byte gives a number of index entries (1..64) and the rest is one index directory
 * page after its entry count, posting page and offset (the streams of format 5), sealed
 * into a segment of one empty block of 8 events with one posting page of 64 one-row deltas
 * and an index top naming that page, so that the fuzzer reaches the directory's reader.
 * Built segments carry a MAC (segment_mac_rewrite()).
 *
 * Either way the segment is opened with the fixed key, every block is checked against a
 * bloom, read whole, by two columns and by two rows, the index is looked up and the file
 * verified: each step must succeed or fail with a message, and never crash.
 */
#include "core/le.h"
#include "store/segment.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "store/keys.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define TENANT 3
#define DAY 20422
#define SEQ 1

/* The field-name table of an odd input's footer (type, name): what tests/fuzz/seeds/segment
 * was written with, in that order. */
static const struct {
	unsigned char type;
	const char *name;
} names[] = {
	{ 2, "@timestamp" },     { 3, "source.ip" },      { 1, "source.port" },
	{ 0, "event.action" },   { 0, "event.original" }, { 0, "panos.x" },
	{ 0, "event.category" }, { 4, "panos.flag" },     { 0, "user.name" },
};

static char path[64];
static struct keys_data_key key;

static void le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A seal's id in a segment of the current version (segment.c's block_id(), format 6). */
static uint64_t block_id(uint32_t kind)
{
	unsigned char in[28], out[8];
	uint64_t v = 0;

	le64(in, TENANT);
	le_put32(in + 8, DAY);
	le_put32(in + 12, SEQ);
	le_put32(in + 16, kind);
	le_put32(in + 20, 0);
	le_put32(in + 24, SEGMENT_VERSION);
	crypto_generichash(out, sizeof(out), in, sizeof(in), NULL, 0);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | out[i];
	return v;
}

struct ob {
	unsigned char *p;
	size_t n, cap;
};

static void add(struct ob *o, const void *p, size_t n)
{
	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2 + 256;
		o->p = realloc(o->p, o->cap);
		if (!o->p)
			abort();
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void add32(struct ob *o, uint32_t v)
{
	unsigned char t[4];

	le_put32(t, v);
	add(o, t, 4);
}

static void add64(struct ob *o, uint64_t v)
{
	unsigned char t[8];

	le64(t, v);
	add(o, t, 8);
}

static uint32_t crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0L, p, (uInt)n);
}

/* raw, zstd-compressed and sealed under the id of kind, appended to f: its sealed length. */
static uint32_t add_zsealed(struct ob *f, uint32_t kind, const void *raw, size_t len)
{
	size_t bound = ZSTD_compressBound(len), z;
	unsigned char *zb = malloc(bound), *sb = malloc(bound + KEYS_SEAL_OVERHEAD);

	if (!zb || !sb)
		abort();
	z = ZSTD_compress(zb, bound, raw, len, 1);
	if (ZSTD_isError(z))
		abort();
	keys_seal(&key, block_id(kind), zb, z, sb);
	add(f, sb, z + KEYS_SEAL_OVERHEAD);
	free(zb);
	free(sb);
	return (uint32_t)(z + KEYS_SEAL_OVERHEAD);
}

/*
 * The index of a directory page's input: one posting page (64 deltas of 1), the page
 * (entries, page 0, offset 0, then dir), the top naming it (first key: source.ip, empty).
 * Its part of the footer into foot.
 */
static void add_index(struct ob *f, struct ob *foot, uint32_t entries, const unsigned char *dir,
		      size_t dlen)
{
	unsigned char post[64];
	struct ob page = { 0 }, top = { 0 };
	uint64_t post_off = f->n, dir_off, top_off;
	uint32_t post_len, dir_len, top_len;

	memset(post, 1, sizeof(post));
	post_len = add_zsealed(f, 2, post, sizeof(post));
	add32(&page, entries);
	add32(&page, 0);
	add32(&page, 0);
	add(&page, dir, dlen);
	dir_off = f->n;
	dir_len = add_zsealed(f, 1, page.p, page.n);
	add64(&top, dir_off);
	add32(&top, dir_len);
	add32(&top, (uint32_t)page.n);
	add32(&top, entries);
	add32(&top, 1); /* source.ip */
	add32(&top, 0);
	top_off = f->n;
	top_len = add_zsealed(f, 3, top.p, top.n);
	add64(foot, top_off);
	add32(foot, top_len);
	add32(foot, (uint32_t)top.n);
	add32(foot, entries);
	add32(foot, 1); /* directory pages */
	add32(foot, 1); /* posting pages */
	add64(foot, post_off);
	add32(foot, post_len);
	add32(foot, sizeof(post));
	free(page.p);
	free(top.p);
}

/* An empty index (a sealed empty top level) and its part of the footer into foot. */
static void add_empty_index(struct ob *f, struct ob *foot)
{
	uint64_t top_off = f->n;
	uint32_t top_len = add_zsealed(f, 3, "", 0);

	add64(foot, top_off);
	add32(foot, top_len);
	add32(foot, 0); /* the index's top level: no bytes, */
	add32(foot, 0); /* no entries, */
	add32(foot, 0); /* no directory pages, */
	add32(foot, 0); /* no posting pages */
}

/*
 * A valid segment around one block whose payload plaintext is given, with an empty index,
 * or with dir (dlen bytes) as its directory page of entries entries (add_index), its MAC
 * (and the footer checksum after it) written by segment_mac_rewrite().
 */
static void build(struct ob *f, uint32_t count, const unsigned char *plain, size_t len,
		  uint32_t entries, const unsigned char *dir, size_t dlen)
{
	static const unsigned char zero_mac[32];
	unsigned char h[52], *sealed, t[24];
	struct ob bh = { 0 }, foot = { 0 };
	struct err e = ERR_INIT;
	size_t block_off = 52;

	memcpy(h, "KOBANSEG", 8);
	le_put32(h + 8, SEGMENT_VERSION);
	le_put32(h + 12, DAY);
	le64(h + 16, TENANT);
	le_put32(h + 24, SEQ);
	le_put32(h + 28, 0);
	memcpy(h + 32, key.id, 16);
	le_put32(h + 48, crc(h, 48));
	add(f, h, sizeof(h));

	sealed = malloc(len + KEYS_SEAL_OVERHEAD);
	if (!sealed)
		abort();
	keys_seal(&key, block_id(0), plain, len, sealed);
	add32(&bh, (uint32_t)(len + KEYS_SEAL_OVERHEAD));
	add32(&bh, crc(sealed, len + KEYS_SEAL_OVERHEAD));
	add32(&bh, count);
	add32(&bh, 0);  /* no column statistics */
	add64(&bh, 1);  /* no time range */
	add64(&bh, 0);
	add32(&bh, 8);  /* bloom bytes */
	add32(&bh, 1);  /* bloom k */
	add32(&bh, 2);  /* flags: the statistics (none) are complete */
	add64(&bh, 0);  /* the bloom */
	add32(&bh, crc(bh.p, bh.n));
	add(f, bh.p, bh.n);
	add(f, sealed, len + KEYS_SEAL_OVERHEAD);

	add(&foot, "KSEGFOOT", 8);
	add32(&foot, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned char l[3] = { names[i].type, (unsigned char)strlen(names[i].name), 0 };

		add(&foot, l, 3);
		add(&foot, names[i].name, strlen(names[i].name));
	}
	add32(&foot, 1);
	add64(&foot, block_off);
	add32(&foot, (uint32_t)bh.n);
	add32(&foot, (uint32_t)(bh.n + len + KEYS_SEAL_OVERHEAD));
	add64(&foot, 0);
	add32(&foot, count);
	add64(&foot, count);
	add64(&foot, 0);
	add64(&foot, 0);
	add32(&foot, 0);
	add64(&foot, 0); /* raw bytes */
	add64(&foot, 0); /* tag */
	if (dir)
		add_index(f, &foot, entries, dir, dlen);
	else
		add_empty_index(f, &foot);
	add(&foot, zero_mac, sizeof(zero_mac)); /* segment_mac_rewrite() below */
	add32(&foot, 0);
	le64(t, f->n);
	le_put32(t + 8, (uint32_t)foot.n);
	le_put32(t + 12, crc(t, 12));
	memcpy(t + 16, "KSEGEND1", 8);
	add(f, foot.p, foot.n);
	add(f, t, sizeof(t));
	if (segment_mac_rewrite(f->p, f->n, &key, &e) < 0) {
		fprintf(stderr, "fuzz_segment: %s\n", e.msg);
		abort();
	}
	free(sealed);
	free(bh.p);
	free(foot.p);
}

static void read_everything(void)
{
	struct err e = ERR_INIT;
	struct segment *s = NULL;
	struct segment_info info;
	struct arena a;
	uint32_t *rows = NULL;
	size_t nrows;
	int rc;

	if (segment_open(&s, path, TENANT, &key, &e) < 0) {
		if (!e.msg[0])
			abort();
		return;
	}
	segment_get_info(s, &info);
	arena_init(&a, 1 << 16, 1 << 26);
	for (unsigned b = 0; b < info.blocks; b++) {
		unsigned cols[] = { FIELD_SOURCE_IP, FIELD_USER_NAME };
		struct segment_block_info bi;
		struct event *evs;
		uint32_t n;
		int64_t mn, mx;
		struct ipaddr imn, imx;
		struct buf out = BUF_INIT(1 << 20);

		segment_block_get_info(s, b, &bi);
		(void)segment_block_overlaps(s, b, 0, INT64_MAX);
		(void)segment_block_may_contain(s, b, "deny", 4);
		(void)segment_block_may_hold(s, b, segment_name_number(s, "event.action"),
					     segment_value_hash(s, "deny", 4));
		(void)segment_may_hold(s, segment_name_number(s, "event.action"),
				       segment_value_hash(s, "deny", 4));
		(void)segment_block_int_range(s, b, "source.port", &mn, &mx);
		(void)segment_block_ip_range(s, b, "source.ip", &imn, &imx);
		{
			struct value_range port = { .lo = 1, .hi = 1024 }, ip = { .ip = true };
			int pn = segment_name_number(s, "source.port");
			int in = segment_name_number(s, "source.ip");

			memset(ip.ip_hi.b, 0xff, sizeof(ip.ip_hi.b));
			(void)segment_block_may_hold_range(s, b, pn, &port);
			(void)segment_block_may_hold_range(s, b, in, &ip);
			(void)segment_may_hold_range(s, pn, &port);
			(void)segment_may_hold_range(s, in, &ip);
		}
		rc = segment_block_read(s, b, NULL, 0, &a, &evs, &n, &e);
		if (rc < 0 && !e.msg[0])
			abort();
		for (uint32_t i = 0; rc == 0 && i < n; i++) {
			buf_reset(&out);
			if (event_write_json(&evs[i], &out) < 0 && out.len > out.max)
				abort();
		}
		buf_release(&out);
		arena_clear(&a);
		e.msg[0] = '\0';
		rc = segment_block_read(s, b, cols, 2, &a, &evs, &n, &e);
		if (rc < 0 && !e.msg[0])
			abort();
		arena_clear(&a);
		e.msg[0] = '\0';
		if (bi.count >= 3) { /* rows 1 and the last: those before and between passed over */
			uint32_t pick[2] = { 1, bi.count - 1 };

			rc = segment_block_read_rows(s, b, pick, 2, NULL, 0, &a, &evs, &n, &e);
			if (rc < 0 && !e.msg[0])
				abort();
			arena_clear(&a);
			e.msg[0] = '\0';
		}
		{ /* the text search: rows ascending and inside the block */
			static uint32_t trows[SEGMENT_BLOCK_EVENTS];
			const char *nd[] = { "deny", "corp\\alice 10.1" };
			size_t ndl[] = { 4, 15 };
			uint32_t nt = 0;

			if (bi.count > SEGMENT_BLOCK_EVENTS)
				abort();
			rc = segment_block_text_rows(s, b, nd, ndl, 2, &a, trows, &nt, &e);
			if (rc < 0 && !e.msg[0])
				abort();
			for (uint32_t i = 0; rc == 0 && i < nt; i++)
				if (trows[i] >= bi.count || (i && trows[i] <= trows[i - 1]))
					abort();
			arena_clear(&a);
		}
	}
	e.msg[0] = '\0';
	rc = segment_lookup(s, "source.ip", "10.0.0.1", 8, &rows, &nrows, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	mem_free(rows);
	e.msg[0] = '\0';
	if (segment_verify(s, &e) < 0 && !e.msg[0])
		abort();
	arena_release(&a);
	segment_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob f = { 0 };
	FILE *out;

	if (size < 2)
		return 0;
	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/koban-fuzz-segment-%d.seg", (int)getpid());
		memset(key.key, 0x42, sizeof(key.key));
		memset(key.id, 0x24, sizeof(key.id));
		if (sodium_init() < 0)
			abort();
	}
	if ((data[0] & 3) == 1) {
		build(&f, (uint32_t)(data[1] % 64) + 1, data + 2, size - 2, 0, NULL, 0);
	} else if ((data[0] & 3) == 3) {
		static const unsigned char no_chunks[4];

		if (size - 2 > 60000)
			return 0; /* a directory page is at most about 64 KiB */
		build(&f, 8, no_chunks, sizeof(no_chunks), (uint32_t)(data[1] % 64) + 1, data + 2,
		      size - 2);
	} else {
		struct err e = ERR_INIT;

		add(&f, data + 1, size - 1);
		if ((data[0] & 3) == 0 && segment_mac_rewrite(f.p, f.n, &key, &e) < 0 && !e.msg[0])
			abort(); /* a file it cannot place a MAC in goes in as it is, but says why */
	}
	out = fopen(path, "wb");
	if (!out || fwrite(f.p, 1, f.n, out) != f.n || fclose(out) != 0)
		abort();
	free(f.p);
	read_everything();
	unlink(path);
	return 0;
}
