#include "store/segment.h"
#include "core/compat.h"

#include "core/le.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define LOG_MODULE "segment"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/varint.h"
#include "store/keys.h"
#include "store/token.h"

/*
 * Format, version 6, little-endian (docs/store.md, "Segments"):
 *
 *   header   52: "KOBANSEG" | u32 version | u32 day | u64 tenant | u32 seq | u32 flags (0) |
 *                key id (16) | u32 CRC-32 of the 48 bytes before it
 *   blocks:  clear block header | sealed payload
 *   index:   posting pages (zstd, sealed), then the index directory (zstd, sealed); string
 *            keys ASCII-lowercased (from version 6: index_key())
 *   footer:  "KSEGFOOT" | field-name table | block index | totals | index offsets |
 *            MAC (32, from version 6) | u32 CRC-32
 *   trailer  24: u64 footer offset | u32 footer length | u32 CRC-32 of those 12 bytes | "KSEGEND1"
 *
 * The MAC (mac_of()) authenticates what is not sealed: the header, every block header as
 * stored, the footer before the MAC and the trailer's first 12 bytes, so that the clear
 * text that decides which blocks a search skips (time ranges, statistics, blooms) cannot be
 * changed without the data key. From version 6 the seal ids hold the version too
 * (block_id()), so a file relabelled to an older version, MAC dropped, does not open
 * (check_origin()).
 */
#define FILE_MAGIC "KOBANSEG"
#define FOOT_MAGIC "KSEGFOOT"
#define END_MAGIC "KSEGEND1"
#define HEADER_BYTES 52
#define TRAILER_BYTES 24
#define MAC_BYTES 32
#define VERSION_MAC 6 /* the first format with the MAC and the version in its seal ids */
#define BLOCK_FIXED 44        /* block header bytes before the column stats */
#define STAT_BYTES 40         /* u32 name | u32 kind | min (16) | max (16), or 4 value hashes */
/* The block header's flags */
#define BLOCK_HAS_TIME 1u     /* it has a time range (some event has @timestamp) */
#define BLOCK_FULL_STATS 2u   /* from version 6: its integer and IP statistics cover every
				 value, the row area's too (put_range_stats()) */
#define CHUNK_DIR_BYTES 16    /* u32 name | u8 kind | u8 enc | u8 zstd | u8 0 | u32 stored | u32 raw */
/* A directory page's streams (format 5; before it, each entry's values one after another) */
enum { DS_NAME, DS_SHARED, DS_KEY, DS_LEN, DS_COUNT, DIR_STREAMS };
#define DIR_ENTRY_BYTES 28    /* u32 name | u32 key off | u32 key len | u32 page | u32 off | u32 len | u32 count */
#define BLOCK_INDEX_BYTES 28  /* u64 offset | u32 header len | u32 total len | u64 first row | u32 count */
#define PAGE_INDEX_BYTES 16   /* u64 offset | u32 length | u32 0 */
#define NAME_NONE 0xffffffffu /* the row area's chunk */
#define MAX_NAMES 65535       /* field names per segment */
#define MAX_COLUMNS 1024      /* per block; further fields go to the row area */
#define BLOCK_FLUSH_BYTES (16u << 20) /* a block ends past this much copied event data */
#define EVENT_COPY_MAX (16u << 20)    /* one event's values and strings */
#define CHUNK_RAW_MAX (64u << 20)
#define PAYLOAD_MAX (128u << 20)
#define DIR_RAW_MAX (1u << 30)
#define INDEX_MEM_MAX (512u << 20)    /* a writer's postings and keys: past it, -EFBIG */
#define INDEX_HEADROOM (128u << 20) /* what one block can add, with the tables' doubling */
#define PAGE_TARGET (64u << 10)
#define INDEX_KEY_MAX 1024 /* longer values are not indexed */
#define INDEX_FOLDED_VERSION 6 /* from this format on, string keys are ASCII-lowercased */
#define STATS_VERSION 6 /* the first format whose blocks may say BLOCK_FULL_STATS */
#define TOKENS_VERSION 6 /* the first format whose blooms hold store/token.h's tokens (before
			    it, '-', ':' and every '.' joined words) */
#define DIR_PAGE_TARGET (64u << 10)
#define DIR_PAGE_RAW_MAX (DIR_PAGE_TARGET + 2048) /* one entry more at most */
#define TOP_ENTRY_MIN 28 /* u64 offset | u32 length | u32 raw | u32 entries | u32 name | u32 key length */
#define BLOOM_BITS_PER_TOKEN 10
#define BLOOM_K 7
#define BLOOM_MAX_BYTES (16u << 20)
#define TOKEN_SEED 0x746f6b656eull
#define TOKEN_MAX 256 /* longer tokens are hashed on their first TOKEN_MAX bytes */
#define INT_DICT_MAX 255
#define VALUE_SET_MAX 4       /* distinct values of a string column in its block statistic */
#define PATH_LEN 4096
/* Text columns (event.original, message) as templates and variables, CLP-style. */
#define CLP_REF 0x11   /* placeholder in a template: u8 then varint name, another field's value */
#define CLP_INT 0x12   /* placeholder: an integer variable */
#define CLP_DICT 0x13  /* placeholder: a dictionary variable */
#define CLP_BACK 0x14  /* placeholder: u8 then varint j, the same text as variable j of the line */
#define CLP_BACK_MAX 32 /* variables of a line that a later one may repeat */
#define CLP_BACK_SLOTS 64 /* their hash table (twice CLP_BACK_MAX) */
/*
 * Variable streams: from version 4 a variable goes to stream min(d, 127), d the delimiter
 * bytes of its template before it (its column in a CSV line, its word in a sentence, so a
 * stream holds one kind of value whatever the line's other tokens became); in version 3
 * variable j of a line went to stream min(j, 31).
 */
#define CLP_SUBS 128
#define CLP_SUBS_V3 32
#define CLP_EVENT_VALUES 256 /* an event's values considered for references */
#define CLP_HASH 512 /* slots of the candidates' hash tables (twice CLP_EVENT_VALUES) */
#define CLP_CUT_MIN 1024 /* a variable stream this long gets a zstd block of its own */
#define CLP_TPL_RECENT 64 /* templates remembered by their length (clp_tpl_index()) */

enum kind { K_INT = 1, K_IP = 2, K_DICT = 3, K_TEXT = 4, K_ROWS = 5 };
enum enc { E_DELTA = 0, E_DICT = 1, E_RAW = 2, E_PLAIN = 3, E_CLP = 4, E_PLANES = 5, E_BITS = 6 };
#define SEGMENT_VERSION_MIN 3 /* the oldest format read (version 3 has no E_BITS) */
enum id_kind { ID_BLOCK = 0, ID_DIR = 1, ID_PAGE = 2, ID_TOP = 3 };

/* ---- little helpers ---------------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* A fast non-cryptographic hash for the writer's in-memory tables. */
static uint64_t hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull);

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		h = rotl(h ^ (v * 0xc2b2ae3d27d4eb4full), 31) * 0x9e3779b97f4a7c15ull;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = 0;

		memcpy(&v, p, len);
		h = rotl(h ^ (v * 0xc2b2ae3d27d4eb4full), 31) * 0x9e3779b97f4a7c15ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint32_t crc(const void *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const unsigned char *q = p;

	while (n) { /* zlib takes uInt lengths */
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;

		c = crc32(c, q, k);
		q += k;
		n -= k;
	}
	return (uint32_t)c;
}

/* Output with a sticky error: the first failure is kept and returned by the caller. */
struct out {
	struct buf *b;
	int err;
};

static void put_slow(struct out *o, const void *p, size_t n)
{
	int rc;

	if (o->err)
		return;
	rc = buf_add(o->b, p, n);
	if (rc < 0)
		o->err = rc;
}

/*
 * buf_add()'s fast path in the caller: the writer puts millions of single bytes and varints
 * a segment (dictionary codes, row areas), and an out-of-line put() and memcpy() per byte
 * were 4% of its instructions.
 */
static inline void put(struct out *o, const void *p, size_t n)
{
	struct buf *b = o->b;

	if (o->err || n >= b->cap - b->len) {
		put_slow(o, p, n);
		return;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void put8(struct out *o, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(o, &c, 1);
}

static inline void put32(struct out *o, uint32_t v)
{
	unsigned char t[4];

	le_put32(t, v);
	put(o, t, 4);
}

static inline void put64(struct out *o, uint64_t v)
{
	unsigned char t[8];

	le_put64(t, v);
	put(o, t, 8);
}

static inline void putv(struct out *o, uint64_t v)
{
	struct buf *b = o->b;
	unsigned char t[VARINT_MAX];

	if (o->err || b->cap - b->len <= VARINT_MAX) {
		put_slow(o, t, (size_t)(varint_put(t, v) - t));
		return;
	}
	b->len = (size_t)(varint_put((unsigned char *)b->p + b->len, v) - (unsigned char *)b->p);
	b->p[b->len] = '\0';
}

/* Bounds-checked reading: past the end, values are 0 and bad is set. */
struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static const unsigned char *take(struct rd *r, size_t n)
{
	const unsigned char *p = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static uint8_t rd8(struct rd *r)
{
	const unsigned char *p = take(r, 1);

	return p ? p[0] : 0;
}

static uint32_t rd32(struct rd *r)
{
	const unsigned char *p = take(r, 4);

	return p ? le_get32(p) : 0;
}

static uint64_t rd64(struct rd *r)
{
	const unsigned char *p = take(r, 8);

	return p ? le_get64(p) : 0;
}

static uint64_t rdv_slow(struct rd *r)
{
	uint64_t v;

	if (!r->bad && varint_get(&r->p, r->end, &v) == 0)
		return v;
	r->bad = true;
	return 0;
}

/* A varint: one byte without a call (most are). */
static inline uint64_t rdv(struct rd *r)
{
	if (!r->bad && r->p < r->end && !(*r->p & 0x80))
		return *r->p++;
	return rdv_slow(r);
}

/*
 * The associated data of a seal: where it lies (tenant, day, segment, kind, number), and
 * from format 6 the format's version, so that no seal of a newer file opens under an older
 * version's ids (a relabelled file is refused instead of read with the older rules).
 */
static uint64_t block_id(uint32_t version, uint64_t tenant, uint32_t day, uint32_t seq,
			 uint32_t kind, uint32_t n)
{
	unsigned char in[28], out[8];

	le_put64(in, tenant);
	le_put32(in + 8, day);
	le_put32(in + 12, seq);
	le_put32(in + 16, kind);
	le_put32(in + 20, n);
	le_put32(in + 24, version);
	crypto_generichash(out, sizeof(out), in, version >= VERSION_MAC ? 28 : 24, NULL, 0);
	return le_get64(out);
}

/* A key for one purpose (ctx), derived from the tenant's data key. */
static void derive_key(const struct keys_data_key *dk, const char *ctx, unsigned char *key,
		       size_t len)
{
	crypto_generichash(key, len, (const unsigned char *)ctx, strlen(ctx), dk->key,
			   sizeof(dk->key));
}

static void bloom_key(const struct keys_data_key *dk, unsigned char key[crypto_shorthash_KEYBYTES])
{
	derive_key(dk, "koban-segment-bloom-v1", key, crypto_shorthash_KEYBYTES);
}

/* The MAC's hash state (format 6): BLAKE2b of MAC_BYTES keyed with its own derived key. */
static void mac_init(crypto_generichash_state *st, const struct keys_data_key *dk)
{
	unsigned char key[crypto_generichash_KEYBYTES];

	derive_key(dk, "koban-segment-mac-v1", key, sizeof(key));
	crypto_generichash_init(st, key, sizeof(key), MAC_BYTES);
	sodium_memzero(key, sizeof(key));
}

/* in[0..len) ASCII-lowercased into out (bytes past 0x7f as they are). */
static void ascii_lower(char *out, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}

/*
 * Per byte: 0 for a delimiter, else the byte lowercased (no token byte is NUL); '.' is a
 * token byte only between two others (tok_at()).
 */
static unsigned char tok_map[256];

static void tok_map_init(void)
{
	for (unsigned c = 1; c < 256; c++) {
		unsigned char b = (unsigned char)c;

		tok_map[c] = !token_word_byte(b) && b != '.' ? 0
			     : b >= 'A' && b <= 'Z'      ? (unsigned char)(b + 32)
							  : b;
	}
}

static pthread_once_t tok_once = PTHREAD_ONCE_INIT;

/* Whether s (in [start, end), outside of which is a delimiter) is a token byte (token.h). */
static inline bool tok_at(const unsigned char *s, const unsigned char *start,
			  const unsigned char *end)
{
	if (*s != '.')
		return tok_map[*s] != 0;
	return token_byte_at(start, (size_t)(end - start), (size_t)(s - start));
}

bool segment_token_next(const char **p, const char *end, const char **tok, size_t *len)
{
	const unsigned char *s = (const unsigned char *)*p, *e = (const unsigned char *)end;
	const unsigned char *start = s, *t;

	pthread_once(&tok_once, tok_map_init);

	while (s < e && !tok_at(s, start, e))
		s++;
	if (s >= e) {
		*p = end;
		return false;
	}
	t = s;
	while (s < e && tok_at(s, start, e))
		s++;
	*tok = (const char *)t;
	*len = (size_t)(s - t);
	*p = (const char *)s;
	return true;
}

/* Lowercased, truncated copy of a token; returns its length. */
static size_t tok_norm(const char *t, size_t len, char out[TOKEN_MAX])
{
	if (len > TOKEN_MAX)
		len = TOKEN_MAX;
	ascii_lower(out, t, len);
	return len;
}

/* Tokens of digits only (counters, ports, dates) are left out of the blooms. */
static bool tok_digits(const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (t[i] < '0' || t[i] > '9')
			return false;
	return true;
}

/* A token's fingerprint: hash64 of its normalized form (never 0). */
static uint64_t tok_fp(const char *t, size_t len)
{
	char norm[TOKEN_MAX];
	uint64_t h;

	len = tok_norm(t, len, norm);
	h = hash64(norm, len, TOKEN_SEED);
	return h ? h : 1;
}

/* Bloom hash of a fingerprint: SipHash keyed with the key derived from the data key. */
static uint64_t tok_hash(const unsigned char key[crypto_shorthash_KEYBYTES], uint64_t fp)
{
	unsigned char in[8], h[crypto_shorthash_BYTES];

	le_put64(in, fp);
	crypto_shorthash(h, in, sizeof(in), key);
	return le_get64(h);
}

/* A whole string value's hash for the value sets (case ignored like tokens'; never 0). */
static uint64_t value_hash(const unsigned char key[crypto_shorthash_KEYBYTES], const char *v,
			   size_t len)
{
	uint64_t h = tok_hash(key, tok_fp(v, len));

	return h ? h : 1;
}

static bool is_indexed_name(const char *n, size_t len)
{
	static const char *const names[] = {
		"user.name", "source.user.name", "destination.user.name", "user.email",
		"related.user", "host.name", "host.hostname", "related.hosts", "url.domain",
		"dns.question.name", "destination.domain", "source.domain", "server.domain",
		"client.domain", "related.hash", "process.hash.sha256",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == len && !memcmp(names[i], n, len))
			return true;
	return len > 10 && !memcmp(n, "file.hash.", 10);
}

bool segment_field_indexed(const char *field)
{
	int id = field_lookup(field, strlen(field));

	if (id >= 0 && field_type((unsigned)id) == FT_IP)
		return true;
	return is_indexed_name(field, strlen(field));
}

/* ---- names ------------------------------------------------------------------------- */

int segment_name(char out[SEGMENT_NAME_MAX], uint32_t day, uint32_t seq)
{
	int y, m, d;

	time_civil_from_days(day, &y, &m, &d);
	if (y > 9999 || seq > 99999999)
		return -ERANGE;
	snprintf(out, SEGMENT_NAME_MAX, "%04d-%02d-%02d-%04u.seg", y, m, d, seq);
	return 0;
}

uint32_t segment_day_of(int64_t ns)
{
	return ns < 0 ? 0 : (uint32_t)(ns / SEGMENT_DAY_NS);
}

int segment_name_parse(const char *name, uint32_t *day, uint32_t *seq)
{
	unsigned y = 0, m = 0, d = 0;
	uint64_t s = 0;
	const char *p = name;
	size_t nd = 0;

	for (int i = 0; i < 10; i++) {
		char c = p[i];

		if (i == 4 || i == 7) {
			if (c != '-')
				return -EINVAL;
			continue;
		}
		if (c < '0' || c > '9')
			return -EINVAL;
		if (i < 4)
			y = y * 10 + (unsigned)(c - '0');
		else if (i < 7)
			m = m * 10 + (unsigned)(c - '0');
		else
			d = d * 10 + (unsigned)(c - '0');
	}
	p += 10;
	if (*p++ != '-')
		return -EINVAL;
	while (*p >= '0' && *p <= '9' && nd < 8) {
		s = s * 10 + (uint64_t)(*p++ - '0');
		nd++;
	}
	if (nd < 4 || strcmp(p, ".seg") || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return -EINVAL;
	if (d > (unsigned)time_days_in_month((int)y, (int)m)) /* 2026-02-31 */
		return -EINVAL;
	*day = (uint32_t)time_days_from_civil((int)y, (int)m, (int)d);
	*seq = (uint32_t)s;
	return 0;
}

/* ---- a byte-keyed hash table (entries numbered in insertion order) ------------------- */

struct kent {
	uint64_t h;
	uint32_t off, len;
};

struct kmap {
	uint32_t *slots; /* entry index + 1; 0 = empty */
	uint32_t nslots; /* power of two */
	struct kent *ents;
	uint32_t n, ecap;
	char *keys;
	size_t klen, kcap;
};

static void kmap_release(struct kmap *m)
{
	mem_free(m->slots);
	mem_free(m->ents);
	mem_free(m->keys);
	memset(m, 0, sizeof(*m));
}

static void kmap_clear(struct kmap *m)
{
	if (m->slots)
		memset(m->slots, 0, m->nslots * sizeof(*m->slots));
	m->n = 0;
	m->klen = 0;
}

static const char *kmap_key(const struct kmap *m, uint32_t i, size_t *len)
{
	*len = m->ents[i].len;
	return m->keys + m->ents[i].off;
}

/* A string dictionary as written: its count, then each key's length and bytes. */
static void put_kmap_keys(struct out *o, const struct kmap *m)
{
	putv(o, m->n);
	for (uint32_t i = 0; i < m->n; i++) {
		size_t kl;
		const char *kp = kmap_key(m, i, &kl);

		putv(o, kl);
		put(o, kp, kl);
	}
}

static int kmap_rehash(struct kmap *m)
{
	uint32_t ns = m->nslots ? m->nslots * 2 : 64;
	uint32_t *s;

	if (ns > (1u << 30))
		return -ENOSPC;
	s = mem_calloc(ns, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t j = (uint32_t)m->ents[i].h & (ns - 1);

		while (s[j])
			j = (j + 1) & (ns - 1);
		s[j] = i + 1;
	}
	mem_free(m->slots);
	m->slots = s;
	m->nslots = ns;
	return 0;
}

#define KMAP_SEED 0x6b6f62616eull

static inline uint64_t kmap_hash(const void *k, size_t len)
{
	return hash64(k, len, KMAP_SEED);
}

/* Fetches the slot where a key of hash h starts its probe (a big map's slot is a miss). */
static inline void kmap_prefetch(const struct kmap *m, uint64_t h)
{
	if (m->nslots)
		__builtin_prefetch(&m->slots[(uint32_t)h & (m->nslots - 1)]);
}

/* kmap_put() of a key whose kmap_hash() is h. */
static int kmap_put_hashed(struct kmap *m, const void *k, size_t len, uint64_t h, uint32_t *idx,
			   bool *added)
{
	uint32_t j;
	int rc;

	if ((m->n + 1) * 2 > m->nslots && (rc = kmap_rehash(m)) < 0)
		return rc;
	j = (uint32_t)h & (m->nslots - 1);
	while (m->slots[j]) {
		struct kent *e = &m->ents[m->slots[j] - 1];

		if (e->h == h && e->len == len && !memcmp(m->keys + e->off, k, len)) {
			*idx = m->slots[j] - 1;
			*added = false;
			return 0;
		}
		j = (j + 1) & (m->nslots - 1);
	}
	if (len > UINT32_MAX || m->klen + len > UINT32_MAX)
		return -ENOSPC;
	if (m->n == m->ecap) {
		uint32_t nc = m->ecap ? m->ecap * 2 : 64;
		struct kent *ne = mem_realloc(m->ents, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		m->ents = ne;
		m->ecap = nc;
	}
	if (m->klen + len > m->kcap) {
		size_t nc = m->kcap ? m->kcap : 4096;
		char *nk;

		while (nc < m->klen + len)
			nc *= 2;
		nk = mem_realloc(m->keys, nc);
		if (!nk)
			return -ENOMEM;
		m->keys = nk;
		m->kcap = nc;
	}
	if (len)
		memcpy(m->keys + m->klen, k, len);
	m->ents[m->n] = (struct kent){ h, (uint32_t)m->klen, (uint32_t)len };
	m->klen += len;
	m->slots[j] = ++m->n;
	*idx = m->n - 1;
	*added = true;
	return 0;
}

/* Index of key k (added when new: *added). */
static int kmap_put(struct kmap *m, const void *k, size_t len, uint32_t *idx, bool *added)
{
	return kmap_put_hashed(m, k, len, kmap_hash(k, len), idx, added);
}

/* A set of non-zero 64-bit values (the block's token fingerprints). */
struct u64set {
	uint64_t *slots;
	uint32_t nslots, n;
};

static int u64set_add(struct u64set *t, uint64_t v)
{
	uint32_t j;

	if ((t->n + 1) * 2 > t->nslots) {
		uint32_t ns = t->nslots ? t->nslots * 2 : 4096;
		uint64_t *s;

		if (ns > (1u << 28))
			return -ENOSPC;
		s = mem_calloc(ns, sizeof(*s));
		if (!s)
			return -ENOMEM;
		for (uint32_t i = 0; i < t->nslots; i++) {
			if (!t->slots[i])
				continue;
			j = (uint32_t)t->slots[i] & (ns - 1);
			while (s[j])
				j = (j + 1) & (ns - 1);
			s[j] = t->slots[i];
		}
		mem_free(t->slots);
		t->slots = s;
		t->nslots = ns;
	}
	j = (uint32_t)v & (t->nslots - 1);
	while (t->slots[j]) {
		if (t->slots[j] == v)
			return 0;
		j = (j + 1) & (t->nslots - 1);
	}
	t->slots[j] = v;
	t->n++;
	return 0;
}

static void u64set_clear(struct u64set *t)
{
	if (t->slots)
		memset(t->slots, 0, t->nslots * sizeof(*t->slots));
	t->n = 0;
}

/* ---- writer ------------------------------------------------------------------------ */

struct wval {
	uint32_t name; /* index in the segment's field-name table */
	uint32_t len;
	union {
		const char *s;
		int64_t i;
		struct ipaddr ip;
	} v;
};

struct wname {
	uint8_t type;    /* enum field_type */
	uint8_t kind;    /* column kind, 0: row area */
	bool indexed;
	bool is_timestamp; /* @timestamp: the block's time range */
	uint32_t stamp;  /* event number + 1 of the last event that had it (per block) */
	uint32_t col;    /* column + 1 in the current block, valid when colgen == block */
	uint32_t colgen;
	/* a dictionary field's last value copied into the block (valid while lastgen is
	 * the writer's nblocks + 1): an equal next value shares the copy */
	const char *last_s;
	uint32_t last_len, lastgen;
	/* an integer or IP field's minimum and maximum in the block, valid while statgen is
	 * the writer's block_gen (range_add()) */
	uint32_t statgen;
	int64_t imin, imax;
	struct ipaddr ipmin, ipmax;
};

/* A value of the event being encoded that a token of its text may stand for. */
struct clp_cand {
	uint32_t name;
	uint8_t type;
	uint32_t len;
	const char *s;
	int64_t i;
	const struct ipaddr *ip;
};

struct wcol {
	uint32_t name;
	uint32_t n;          /* values */
	bool more;           /* an event has a further value of the field (in the rows) */
	uint32_t *vi;        /* value index in w->vals, per present row */
	uint8_t present[SEGMENT_BLOCK_EVENTS / 8];
};

/*
 * A posting list: delta varints in a chain of slabs. A list of one row has no slab: its one
 * varint is that row, last - 1, written out when a second row comes or by write_index()
 * (a firewall's destination addresses are mostly seen once a day: bench/segment writes 3%
 * faster without a slab for each).
 */
#define SLAB_DATA 28
struct slab {
	uint32_t next; /* slab index + 1 */
	uint8_t data[SLAB_DATA];
};

struct posting {
	uint32_t head, tail; /* slab index + 1 */
	uint32_t used;       /* bytes in tail */
	uint32_t count;
	uint32_t bytes;
	uint32_t last;       /* last row + 1 */
};

struct blockrec {
	uint64_t off;
	uint32_t hdr_len, total_len;
	uint64_t first_row;
	uint32_t count;
};

struct segment_writer {
	char tmp[PATH_LEN], final[PATH_LEN], dir[PATH_LEN];
	int fd;
	uint64_t off;
	uint64_t tenant;
	uint32_t day, seq;
	struct keys_data_key dk;
	unsigned char bkey[crypto_shorthash_KEYBYTES];
	/* the MAC over what is written in clear (mac_of()); libsodium's state wants 64-byte
	 * alignment, which mem_calloc does not promise: mac points into mac_mem */
	crypto_generichash_state *mac;
	unsigned char mac_mem[sizeof(crypto_generichash_state) + 63];
	bool failed, finished;

	/* field names */
	struct kmap names;
	struct wname *wn;
	uint32_t *by_id; /* field id -> name + 1 */
	size_t by_id_cap;

	/* the block being filled */
	struct arena arena;
	struct wval *vals;
	uint8_t *incol; /* per value: stored in a column (else in the row area) */
	uint32_t *vpid; /* per column value of an indexed field: its posting list + 1, or 0 */
	size_t nvals, vcap;
	uint32_t ev_start[SEGMENT_BLOCK_EVENTS + 1];
	uint32_t nev;
	uint64_t rows;
	int64_t tmin, tmax; /* the block's @timestamp range, when has_time */
	bool has_time;
	int64_t seg_tmin, seg_tmax;
	bool seg_has_time;
	uint64_t raw_bytes; /* event.original lengths, or the JSON's of events without one */
	uint64_t tag;       /* segment_writer_set_tag() */
	struct buf json;    /* scratch for an event's JSON */

	struct wcol *cols;
	uint32_t ncols, ccap;
	uint32_t tmpidx[SEGMENT_BLOCK_EVENTS]; /* a column's dictionary index per value */
	uint32_t dpid[SEGMENT_BLOCK_EVENTS];   /* per dictionary entry: its posting list + 1 */
	uint32_t block_gen;
	uint32_t *ranged; /* the integer and IP fields of the block, in order of first value */
	uint32_t nranged, rcap;

	struct blockrec *blocks;
	uint32_t nblocks, bcap;

	/* inverted index */
	struct kmap idx;
	struct posting *post;
	uint32_t pcap;
	struct slab *slabs;
	uint32_t nslabs, scap;

	/* text columns (CLP) */
	/*
	 * clp_delim's copy, addressed from w: clp_line()'s scan then needs no register for the
	 * table's address (gcc ran out of them there and loaded the address again for every
	 * byte whenever the code around the loop changed)
	 */
	unsigned char cls[256];
	struct kmap tpls, vdict;
	/*
	 * The last template of each length % CLP_TPL_RECENT: its entry in tpls + 1, 0 for none.
	 * A line's template is nearly always one of a few seen just before, and comparing it
	 * with one costs far less than hashing its few hundred bytes and looking it up.
	 */
	uint32_t tpl_recent[CLP_TPL_RECENT];
	struct buf tpl, tids, subs[CLP_SUBS];
	uint32_t *refstamp; /* per name: refgen when referenced by the column being encoded */
	uint32_t *evstamp;  /* per name: evgen when seen in the event being encoded */
	uint32_t refgen, evgen, stamp_cap;
	uint32_t vnext; /* dictionary variables coded as new so far (clp_dict_code()) */
	uint32_t bstamp[CLP_BACK_SLOTS], bgen; /* the line's variables by their text's hash */
	/* per variable position j: the last dictionary variable there and its entry */
	const unsigned char *vlast[CLP_BACK_MAX];
	uint32_t vlast_len[CLP_BACK_MAX], vlast_idx[CLP_BACK_MAX];
	uint16_t cslots[CLP_EVENT_VALUES * 2]; /* the slots of shash and ihash in use */
	uint32_t ncslots;
	uint8_t bvar[CLP_BACK_SLOTS];
	struct clp_cand cand[CLP_EVENT_VALUES]; /* strings from 0 up, integers and IPs from the end */
	uint32_t nstr, nnum;
	uint64_t lenmask; /* bit l % 64 set when a string candidate has length l */
	uint32_t v4lens;  /* bit l set when an IPv4 candidate's dotted quad has length l */
	uint16_t ipcand[CLP_EVENT_VALUES]; /* the IP candidates, in the order they came */
	uint32_t nip;
	bool cand_ip6;
	uint16_t shash[CLP_HASH], ihash[CLP_HASH]; /* candidate + 1 by clp_shash(), clp_ihash() */

	/* scratch */
	struct kmap dict;
	struct u64set toks;
	struct buf raw, chunks, cdir, hdr, zbuf, sealed;
	ZSTD_CCtx *cctx;
	/* offsets in raw where emit_chunk() starts a new zstd block (encode_clp(), cut_here()) */
	size_t cut[CLP_SUBS + 1];
	unsigned ncut;
	uint8_t packed[CLP_SUBS]; /* encode_clp(): variable stream i is bit-packed (clp_pack()) */
	struct buf pack;          /* clp_pack()'s output */
};

static uint64_t wseal_id(const struct segment_writer *w, uint32_t kind, uint32_t n)
{
	return block_id(SEGMENT_VERSION, w->tenant, w->day, w->seq, kind, n);
}

static int wfail(struct segment_writer *w, struct err *e, int code, const char *what)
{
	w->failed = true;
	return err_set(e, code, "%s: %s: %s", w->tmp, what, strerror(-code));
}

int segment_writer_open(struct segment_writer **out, const char *dir, uint64_t tenant,
			uint32_t day, uint32_t seq, const struct keys_data_key *dk, struct err *e)
{
	struct segment_writer *w;
	char name[SEGMENT_NAME_MAX];
	unsigned char h[HEADER_BYTES];
	struct stat st;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium could not be initialised");
	pthread_once(&tok_once, tok_map_init);
	rc = segment_name(name, day, seq);
	if (rc < 0)
		return err_set(e, rc, "segment day %u / number %u out of range", day, seq);
	w = mem_calloc(1, sizeof(*w));
	if (!w)
		return err_set(e, -ENOMEM, "out of memory opening a segment");
	w->fd = -1;
	if (snprintf(w->dir, PATH_LEN, "%s", dir) >= PATH_LEN ||
	    snprintf(w->final, PATH_LEN, "%s/%s", dir, name) >= PATH_LEN ||
	    snprintf(w->tmp, PATH_LEN, "%s/.%s.tmp", dir, name) >= PATH_LEN) {
		rc = err_set(e, -ENAMETOOLONG, "%s: path too long", dir);
		goto fail;
	}
	if (stat(w->final, &st) == 0) {
		rc = err_set(e, -EEXIST, "%s: segment exists already (segments are never rewritten)",
			     w->final);
		goto fail;
	}
	w->tenant = tenant;
	w->day = day;
	w->seq = seq;
	w->dk = *dk;
	bloom_key(dk, w->bkey);
	w->mac = (crypto_generichash_state *)(void *)(w->mac_mem + (-(uintptr_t)w->mac_mem & 63));
	mac_init(w->mac, dk);
	arena_init(&w->arena, 1 << 20, 2 * (size_t)BLOCK_FLUSH_BYTES + 2 * (size_t)EVENT_COPY_MAX);
	buf_init(&w->raw, CHUNK_RAW_MAX);
	buf_init(&w->chunks, PAYLOAD_MAX);
	buf_init(&w->cdir, 1 << 20);
	buf_init(&w->hdr, (size_t)BLOOM_MAX_BYTES + (1u << 20));
	buf_init(&w->zbuf, PAYLOAD_MAX);
	buf_init(&w->pack, CHUNK_RAW_MAX);
	buf_init(&w->sealed, PAYLOAD_MAX + KEYS_SEAL_OVERHEAD);
	buf_init(&w->json, (size_t)EVENT_COPY_MAX * 8);
	buf_init(&w->tpl, (size_t)EVENT_COPY_MAX * 4); /* a 1-byte token may become 4 */
	buf_init(&w->tids, CHUNK_RAW_MAX);
	for (unsigned i = 0; i < CLP_SUBS; i++)
		buf_init(&w->subs[i], CHUNK_RAW_MAX);
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		rc = err_set(e, -ENOMEM, "out of memory opening a segment (zstd)");
		goto fail;
	}
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = err_set(e, -errno, "%s: cannot create: %s", w->tmp, strerror(errno));
		goto fail;
	}
	memcpy(h, FILE_MAGIC, 8);
	le_put32(h + 8, SEGMENT_VERSION);
	le_put32(h + 12, day);
	le_put64(h + 16, tenant);
	le_put32(h + 24, seq);
	le_put32(h + 28, 0);
	memcpy(h + 32, dk->id, KEYS_ID_BYTES);
	le_put32(h + 48, crc(h, 48));
	crypto_generichash_update(w->mac, h, sizeof(h));
	rc = fileio_write_all(w->fd, h, sizeof(h));
	if (rc < 0) {
		err_set(e, rc, "%s: write failed: %s", w->tmp, strerror(-rc));
		goto fail;
	}
	w->off = HEADER_BYTES;
	*out = w;
	return 0;
fail:
	segment_writer_free(w);
	return rc;
}

void segment_writer_set_tag(struct segment_writer *w, uint64_t tag)
{
	w->tag = tag;
}

uint64_t segment_writer_count(const struct segment_writer *w)
{
	return w->rows + w->nev;
}

/* The column kind of a stored type with a minimum and maximum statistic (K_INT, K_IP), or 0. */
static unsigned range_kind(unsigned type)
{
	if (type == FT_INT || type == FT_TIME || type == FT_BOOL)
		return K_INT;
	return type == FT_IP ? K_IP : 0;
}

static int name_of(struct segment_writer *w, unsigned id, uint32_t *out)
{
	const char *n;
	uint32_t idx;
	bool added;
	int rc;

	if (id < w->by_id_cap && w->by_id[id]) {
		*out = w->by_id[id] - 1;
		return 0;
	}
	if (id >= w->by_id_cap) {
		size_t nc = w->by_id_cap ? w->by_id_cap : 256;
		uint32_t *nb;

		while (nc <= id)
			nc *= 2;
		nb = mem_realloc(w->by_id, nc * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		memset(nb + w->by_id_cap, 0, (nc - w->by_id_cap) * sizeof(*nb));
		w->by_id = nb;
		w->by_id_cap = nc;
	}
	n = field_name(id);
	if (!n)
		return -EINVAL;
	rc = kmap_put(&w->names, n, strlen(n), &idx, &added);
	if (rc < 0)
		return rc;
	if (added) {
		struct wname *nw;
		enum field_type t = field_store_type(field_type(id));

		if (idx >= MAX_NAMES)
			return -EFBIG;
		nw = mem_realloc(w->wn, (idx + 1) * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		w->wn = nw;
		memset(&nw[idx], 0, sizeof(nw[idx]));
		nw[idx].type = (uint8_t)t;
		if (range_kind(t))
			nw[idx].kind = range_kind(t);
		else if (id == FIELD_EVENT_ORIGINAL || id == FIELD_MESSAGE)
			nw[idx].kind = K_TEXT;
		else if (t == FT_STR) /* vendor fields too: few distinct values per block */
			nw[idx].kind = K_DICT;
		nw[idx].indexed = t == FT_IP || is_indexed_name(n, strlen(n));
		nw[idx].is_timestamp = id == FIELD_TIMESTAMP;
	}
	w->by_id[id] = idx + 1;
	*out = idx;
	return 0;
}

static int slab_new(struct segment_writer *w, uint32_t *out)
{
	if (w->nslabs == w->scap) {
		uint32_t nc = w->scap ? w->scap * 2 : 4096;
		struct slab *ns;

		if ((size_t)nc * sizeof(*ns) > INDEX_MEM_MAX)
			return -EFBIG;
		ns = mem_realloc(w->slabs, (size_t)nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		w->slabs = ns;
		w->scap = nc;
	}
	w->slabs[w->nslabs].next = 0;
	*out = ++w->nslabs;
	return 0;
}

static int post_byte(struct segment_writer *w, struct posting *p, uint8_t c)
{
	int rc;

	if (!p->tail || p->used == SLAB_DATA) {
		uint32_t s;

		rc = slab_new(w, &s);
		if (rc < 0)
			return rc;
		if (p->tail)
			w->slabs[p->tail - 1].next = s;
		else
			p->head = s;
		p->tail = s;
		p->used = 0;
	}
	w->slabs[p->tail - 1].data[p->used++] = c;
	p->bytes++;
	return 0;
}

/*
 * The index's key of (name, value) in key: 4 + len bytes; false when it is not indexed. A
 * string is lowercased (ASCII), so that one key and one posting list hold every case of a
 * value, as a filter compares them (segment_lookup() lowercases the value it looks up).
 */
static inline bool index_key(const struct segment_writer *w,
			     unsigned char key[4 + INDEX_KEY_MAX], uint32_t name, const void *v,
			     size_t len)
{
	if (len > INDEX_KEY_MAX) /* segment_lookup() says so */
		return false;
	le_put32(key, name);
	if (w->wn[name].type == FT_STR)
		ascii_lower((char *)key + 4, v, len);
	else
		memcpy(key + 4, v, len);
	return true;
}

/*
 * The posting list of (name, value) + 1 in *pid, 0 when the value is not indexed. h: the
 * key's kmap_hash(), or 0 to compute it here.
 */
static int index_slot(struct segment_writer *w, uint32_t name, const void *v, size_t len,
		      uint64_t h, uint32_t *pid)
{
	unsigned char key[4 + INDEX_KEY_MAX];
	uint32_t i;
	bool added;
	int rc;

	*pid = 0;
	if (!index_key(w, key, name, v, len))
		return 0;
	rc = kmap_put_hashed(&w->idx, key, 4 + len, h ? h : kmap_hash(key, 4 + len), &i, &added);
	if (rc < 0)
		return rc;
	if (added) {
		if (i >= w->pcap) {
			uint32_t nc = w->pcap ? w->pcap * 2 : 1024;
			struct posting *np = mem_realloc(w->post, (size_t)nc * sizeof(*np));

			if (!np)
				return -ENOMEM;
			w->post = np;
			w->pcap = nc;
		}
		memset(&w->post[i], 0, sizeof(w->post[i]));
	}
	*pid = i + 1;
	return 0;
}

/* v as a varint at the end of p's slabs. */
static int post_varint(struct segment_writer *w, struct posting *p, uint32_t v)
{
	unsigned char t[VARINT_MAX];
	const unsigned char *end = varint_put(t, v);
	int rc = 0;

	for (const unsigned char *q = t; q < end && rc == 0; q++)
		rc = post_byte(w, p, *q);
	return rc;
}

/*
 * Appends row to posting list i (rows arrive in ascending order). A row already last is not
 * added again: an event's further values with the same key (a multi-valued field, or "Bob"
 * and "bob", whose keys are one) give its row once.
 */
static int posting_add(struct segment_writer *w, uint32_t i, uint32_t row)
{
	struct posting *p = &w->post[i];
	int rc;

	if (p->last == row + 1)
		return 0;
	if (!p->count) { /* its first row: no slab yet */
		p->bytes = varint_len(row);
		p->count = 1;
		p->last = row + 1;
		return 0;
	}
	if (!p->head) { /* the second: the first row's varint goes first */
		p->bytes = 0;
		if ((rc = post_varint(w, p, p->last - 1)) < 0)
			return rc;
	}
	if ((rc = post_varint(w, p, row - (p->last - 1))) < 0)
		return rc;
	p->count++;
	p->last = row + 1;
	return 0;
}

static int index_add(struct segment_writer *w, uint32_t name, const void *v, size_t len,
		     uint32_t row)
{
	uint32_t pid;
	int rc = index_slot(w, name, v, len, 0, &pid);

	return rc < 0 || !pid ? rc : posting_add(w, pid - 1, row);
}

/*
 * Every token of s into the block's bloom set, in one pass: delimit, lowercase and hash
 * into the fingerprint tok_fp() gives, leaving out the digits-only tokens (tok_digits()).
 */
static int add_tokens(struct segment_writer *w, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len, *start = p;
	char norm[TOKEN_MAX];
	int rc;

	while (p < e) {
		size_t n = 0;
		bool digits = true;
		uint64_t h;

		while (p < e && !tok_at(p, start, e))
			p++;
		if (p == e)
			break;
		for (; p < e && tok_at(p, start, e); p++) {
			if (n < TOKEN_MAX)
				norm[n++] = (char)tok_map[*p];
			digits &= (unsigned)(*p - '0') < 10u;
		}
		if (digits)
			continue;
		h = hash64(norm, n, TOKEN_SEED);
		if ((rc = u64set_add(&w->toks, h ? h : 1)) < 0)
			return rc;
	}
	return 0;
}

/*
 * zstd of w->raw into w->zbuf as one frame whose blocks end at w->cut[]: each part (a text
 * column's variable streams, a dictionary's codes after its entries) gets its own literal
 * table instead of one table for everything, which a plain ZSTD_decompress() reads as
 * any frame. The frame's length, or a zstd error code.
 */
static size_t compress_cut(struct segment_writer *w, size_t bound)
{
	ZSTD_outBuffer out = { w->zbuf.p, bound, 0 };
	size_t rc, start = 0;

	rc = ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, SEGMENT_ZSTD_LEVEL);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setPledgedSrcSize(w->cctx, w->raw.len);
	for (unsigned i = 0; i <= w->ncut && !ZSTD_isError(rc); i++) {
		size_t end = i < w->ncut ? w->cut[i] : w->raw.len;
		ZSTD_inBuffer in = { w->raw.p + start, end - start, 0 };
		ZSTD_EndDirective how = i < w->ncut ? ZSTD_e_flush : ZSTD_e_end;

		do /* returns what is left to flush: 0 once the part is out */
			rc = ZSTD_compressStream2(w->cctx, &out, &in, how);
		while (!ZSTD_isError(rc) && rc && out.pos < out.size);
		if (!ZSTD_isError(rc) && rc) /* bound too small: never, but not silently */
			return (size_t)-ZSTD_error_dstSize_tooSmall;
		start = end;
	}
	return ZSTD_isError(rc) ? rc : out.pos;
}

/* Compresses w->raw and appends it to w->chunks with its directory entry. */
static int emit_chunk(struct segment_writer *w, uint32_t name, unsigned kind, unsigned enc)
{
	struct out d = { &w->cdir, 0 }, c = { &w->chunks, 0 };
	size_t bound = ZSTD_compressBound(w->raw.len), z = w->raw.len;
	int rc;

	if (w->raw.len > CHUNK_RAW_MAX)
		return -E2BIG;
	if (enc != E_BITS) { /* bit-packed values are as small as zstd would make them */
		bound += 32 * (size_t)w->ncut; /* a block header and a literals header per cut */
		buf_reset(&w->zbuf);
		rc = buf_grow(&w->zbuf, bound);
		if (rc < 0)
			return rc;
		z = w->ncut ? compress_cut(w, bound)
			    : ZSTD_compressCCtx(w->cctx, w->zbuf.p, bound, w->raw.p, w->raw.len,
						SEGMENT_ZSTD_LEVEL);
		w->ncut = 0;
		if (ZSTD_isError(z))
			return -ENOMEM;
	}
	put32(&d, name);
	put8(&d, kind);
	put8(&d, enc);
	if (z < w->raw.len) {
		put8(&d, 1);
		put8(&d, 0);
		put32(&d, (uint32_t)z);
		put32(&d, (uint32_t)w->raw.len);
		put(&c, w->zbuf.p, z);
	} else {
		put8(&d, 0);
		put8(&d, 0);
		put32(&d, (uint32_t)w->raw.len);
		put32(&d, (uint32_t)w->raw.len);
		put(&c, w->raw.p, w->raw.len);
	}
	return d.err ? d.err : c.err;
}

static void put_presence(struct out *o, const struct wcol *c, uint32_t nev)
{
	if (c->n == nev) {
		put8(o, 1);
		return;
	}
	put8(o, 0);
	put(o, c->present, (nev + 7) / 8);
}

static int ipcmp(const struct ipaddr *a, const struct ipaddr *b)
{
	return memcmp(a->b, b->b, 16);
}

/* ---- text columns as templates and variables (CLP-style) ----------------------------- */

/*
 * A line is cut into tokens at delimiters (white space, control bytes and , ; = " ' ( ) [ ]
 * { } < > | & ? ! * # % ^ ` ~), all of them outside the bloom's token characters, so every
 * bloom token lies inside one token or inside the template's text. A token that is the
 * text of another field's first value in the event becomes a reference to that field; a
 * token with a digit becomes a variable (an integer when it is a canonical decimal, else an
 * entry of the block's variable dictionary); the rest stays in the template.
 */
/*
 * A byte's class: 1 delimiter, 3 placeholder, else one bit of CLP_DIGIT, CLP_DOT, CLP_COLON,
 * CLP_OTHER. The classes of a token's bytes ORed together tell clp_line() what the token can
 * be without looking at it again: a canonical integer has digits only (and a leading '-'),
 * a dotted quad digits and dots, an IPv6 address a colon.
 */
#define CLP_DIGIT 4
#define CLP_DOT 8
#define CLP_COLON 16
#define CLP_OTHER 32
static unsigned char clp_delim[256];

static void clp_delim_init(void)
{
	static const char d[] = ",;=\"'()[]{}<>|&?!*#%^`~";

	for (unsigned c = 0x21; c < 0x100; c++)
		clp_delim[c] = CLP_OTHER;
	for (unsigned c = 0; c <= 0x20; c++)
		clp_delim[c] = c >= CLP_REF && c <= CLP_BACK ? 3 : 1;
	clp_delim[0x7f] = 1;
	for (const char *p = d; *p; p++)
		clp_delim[(unsigned char)*p] = 1;
	for (unsigned c = '0'; c <= '9'; c++)
		clp_delim[c] = CLP_DIGIT;
	clp_delim['.'] = CLP_DOT;
	clp_delim[':'] = CLP_COLON;
}

static pthread_once_t clp_once = PTHREAD_ONCE_INIT;

/*
 * Canonical decimal integer text (no '+', no leading zero, no "-0") that fits int64. digits:
 * the caller knows that t holds digits only after its '-' (most tokens that are integers).
 */
static inline bool clp_int(const unsigned char *t, size_t len, bool digits, int64_t *out)
{
	bool neg = t[0] == '-';
	size_t i = neg;
	uint64_t v = 0;

	if (len == i || len - i > 19 || (t[i] == '0' && len - i > 1) || (neg && t[i] == '0'))
		return false;
	for (size_t j = i; !digits && j < len; j++)
		if ((unsigned)(t[j] - '0') > 9)
			return false;
	for (; i < len; i++)
		v = v * 10 + (unsigned)(t[i] - '0');
	if (v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* Decimal text of v into out (at least 21 bytes); its length. */
static size_t fmt_i64(char *out, int64_t v)
{
	char t[24], *q = t + sizeof(t);
	size_t len = 0, n;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	while (u >= 100) {
		unsigned d = (unsigned)(u % 100);

		u /= 100;
		*--q = (char)('0' + d % 10);
		*--q = (char)('0' + d / 10);
	}
	if (u >= 10)
		*--q = (char)('0' + u % 10);
	*--q = (char)('0' + (u >= 10 ? u / 10 : u));
	if (v < 0)
		out[len++] = '-';
	n = (size_t)(t + sizeof(t) - q);
	memcpy(out + len, q, n);
	return len + n;
}

static int stamps_grow(struct segment_writer *w)
{
	uint32_t nc = w->names.n + 64;
	uint32_t *r = mem_realloc(w->refstamp, nc * sizeof(*r)), *v;

	if (!r)
		return -ENOMEM;
	w->refstamp = r;
	v = mem_realloc(w->evstamp, nc * sizeof(*v));
	if (!v)
		return -ENOMEM;
	w->evstamp = v;
	memset(r + w->stamp_cap, 0, (nc - w->stamp_cap) * sizeof(*r));
	memset(v + w->stamp_cap, 0, (nc - w->stamp_cap) * sizeof(*v));
	w->stamp_cap = nc;
	return 0;
}

/*
 * The event's values a token may stand for: first values of string, integer and IP fields,
 * strings from the start of w->cand, integers and IPs from its end. Which hash does not
 * change what a token matches: equal texts start at the same slot and lie on its probe
 * chain in the order they came, so the first of them is found.
 */
static inline uint32_t clp_shash(const unsigned char *t, size_t len)
{
	uint32_t x, y = 0;

	if (len >= 4) { /* the first and the last four bytes: two loads */
		memcpy(&x, t, 4);
		memcpy(&y, t + len - 4, 4);
	} else {
		x = t[0] | (uint32_t)t[len / 2] << 8 | (uint32_t)t[len - 1] << 16;
	}
	return ((x ^ y * 0x9e3779b1u ^ (uint32_t)len) * 0x85ebca6bu) >> 23 & (CLP_HASH - 1);
}

static inline uint32_t clp_ihash(int64_t v)
{
	return (uint32_t)(((uint64_t)v * 0x9e3779b97f4a7c15ull) >> 55) & (CLP_HASH - 1);
}

static void clp_insert(struct segment_writer *w, uint16_t *h, uint32_t slot, uint32_t k)
{
	while (h[slot])
		slot = (slot + 1) & (CLP_HASH - 1);
	h[slot] = (uint16_t)(k + 1);
	w->cslots[w->ncslots++] = (uint16_t)(slot | (h == w->ihash ? CLP_HASH : 0));
}

static void clp_cands(struct segment_writer *w, uint32_t ev)
{
	w->nstr = w->nnum = 0;
	w->lenmask = 0;
	w->v4lens = 0;
	w->nip = 0;
	w->cand_ip6 = false;
	for (uint32_t i = 0; i < w->ncslots; i++) { /* the previous line's entries */
		uint32_t sl = w->cslots[i];

		if (sl & CLP_HASH)
			w->ihash[sl & (CLP_HASH - 1)] = 0;
		else
			w->shash[sl] = 0;
	}
	w->ncslots = 0;
	if (++w->evgen == 0) {
		memset(w->evstamp, 0, w->stamp_cap * sizeof(*w->evstamp));
		w->evgen = 1;
	}
	for (uint32_t j = w->ev_start[ev]; j < w->ev_start[ev + 1]; j++) {
		const struct wval *v = &w->vals[j];
		const struct wname *nm = &w->wn[v->name];
		struct clp_cand *c;

		if (w->evstamp[v->name] == w->evgen)
			continue;
		w->evstamp[v->name] = w->evgen;
		if (nm->kind == K_TEXT || w->nstr + w->nnum == CLP_EVENT_VALUES)
			continue;
		if (nm->type == FT_STR && v->len) {
			clp_insert(w, w->shash, clp_shash((const unsigned char *)v->v.s, v->len), w->nstr);
			c = &w->cand[w->nstr++];
			w->lenmask |= 1ull << (v->len & 63);
		} else if (nm->type == FT_INT) {
			clp_insert(w, w->ihash, clp_ihash(v->v.i), CLP_EVENT_VALUES - 1 - w->nnum);
			c = &w->cand[CLP_EVENT_VALUES - ++w->nnum];
		} else if (nm->type == FT_IP) {
			const uint8_t *q = v->v.ip.b + 12;

			c = &w->cand[CLP_EVENT_VALUES - ++w->nnum];
			w->ipcand[w->nip++] = (uint16_t)(c - w->cand);
			if (ipaddr_is_v4(&v->v.ip))
				w->v4lens |= 1u << (7 + (q[0] >= 10) + (q[0] >= 100) + (q[1] >= 10) +
						    (q[1] >= 100) + (q[2] >= 10) + (q[2] >= 100) +
						    (q[3] >= 10) + (q[3] >= 100));
			else
				w->cand_ip6 = true;
		} else {
			continue;
		}
		c->name = v->name;
		c->type = nm->type;
		c->len = v->len;
		c->s = v->v.s;
		c->i = v->v.i;
		c->ip = &v->v.ip;
	}
}

/*
 * Whether a[0..n) and b[0..n) are equal, for the short tokens of a line: memcmp's call
 * costs more than comparing up to 16 bytes as two overlapping words (its calls were 3% of
 * clp_line's instructions).
 */
static inline bool clp_eq(const unsigned char *a, const unsigned char *b, size_t n)
{
	uint64_t x0, x1, y0, y1;
	uint32_t u0, u1, v0, v1;

	if (n > 16)
		return !memcmp(a, b, n);
	if (n >= 8) {
		memcpy(&x0, a, 8);
		memcpy(&x1, a + n - 8, 8);
		memcpy(&y0, b, 8);
		memcpy(&y1, b + n - 8, 8);
		return ((x0 ^ y0) | (x1 ^ y1)) == 0;
	}
	if (n >= 4) {
		memcpy(&u0, a, 4);
		memcpy(&u1, a + n - 4, 4);
		memcpy(&v0, b, 4);
		memcpy(&v1, b + n - 4, 4);
		return ((u0 ^ v0) | (u1 ^ v1)) == 0;
	}
	return !n || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

static const unsigned char v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* A canonical dotted quad (no leading zeros) as an IPv4-mapped address. */
static bool clp_v4(const unsigned char *t, size_t len, struct ipaddr *ip)
{
	const unsigned char *e = t + len;

	memcpy(ip->b, v4_prefix, 12);
	for (int k = 0; k < 4; k++) {
		unsigned v, nd = 1;

		if (k && (t == e || *t++ != '.'))
			return false;
		if (t == e || (unsigned)(*t - '0') > 9)
			return false;
		for (v = (unsigned)(*t++ - '0'); t < e && (unsigned)(*t - '0') < 10u; nd++) {
			if (nd == 3 || !v) /* a fourth digit, or one after a leading zero */
				return false;
			v = v * 10 + (unsigned)(*t++ - '0');
		}
		if (v > 255)
			return false;
		ip->b[12 + k] = (uint8_t)v;
	}
	return t == e;
}

/*
 * The candidate that token t is the text of, or -1. cls: the classes of its bytes ORed
 * (clp_delim). A dotted quad is digits and dots only and, being canonical, as long as the
 * text of the IPv4 candidate it equals: other tokens are not parsed as one.
 */
static int clp_match(struct segment_writer *w, const unsigned char *t, size_t len, bool is_int,
		     int64_t iv, unsigned cls)
{
	if (is_int) {
		for (uint32_t j = clp_ihash(iv), k; (k = w->ihash[j]); j = (j + 1) & (CLP_HASH - 1))
			if (w->cand[k - 1].i == iv)
				return (int)k - 1;
	} else if (w->nip && (cls & (CLP_DOT | CLP_COLON)) && len >= 2 && len < IPADDR_STRLEN) {
		struct ipaddr ip;
		bool v4 = cls == (CLP_DIGIT | CLP_DOT) && len < 32 && (w->v4lens >> len & 1) &&
			  clp_v4(t, len, &ip),
		     ok = v4;

		if (!v4 && w->cand_ip6 && (cls & CLP_COLON))
			ok = ipaddr_parse(&ip, (const char *)t, len) == 0;
		/* the candidates from the end of w->cand, the last one that came first */
		for (uint32_t i = w->nip; ok && i-- > 0;) {
			const struct clp_cand *c = &w->cand[w->ipcand[i]];
			char text[IPADDR_STRLEN];

			if (memcmp(ip.b, c->ip->b, 16))
				continue;
			if (!v4) { /* the same address, but is it its canonical text? */
				ipaddr_format(c->ip, text);
				if (strlen(text) != len || memcmp(text, t, len))
					continue;
			}
			return w->ipcand[i];
		}
	}
	if (!(w->lenmask & (1ull << (len & 63))))
		return -1;
	for (uint32_t j = clp_shash(t, len), k; (k = w->shash[j]); j = (j + 1) & (CLP_HASH - 1))
		if (w->cand[k - 1].len == len &&
		    clp_eq((const unsigned char *)w->cand[k - 1].s, t, len))
			return (int)k - 1;
	return -1;
}

/* Tokens of a template's text (between its placeholders) into the bloom set. */
static int clp_tpl_tokens(struct segment_writer *w, const unsigned char *p, size_t len)
{
	size_t i = 0, start = 0;
	int rc;

	while (i < len) {
		unsigned char c = p[i];

		if (c < CLP_REF || c > CLP_BACK) {
			i++;
			continue;
		}
		if (i > start && (rc = add_tokens(w, (const char *)p + start, i - start)) < 0)
			return rc;
		i++;
		if (c == CLP_REF || c == CLP_BACK)
			while (i < len && (p[i++] & 0x80))
				;
		start = i;
	}
	return i > start ? add_tokens(w, (const char *)p + start, i - start) : 0;
}

/*
 * A dictionary variable's code: 0 for the entry after the last one coded so (entries come
 * in order of first use, so a new value is 0), else its index + 1.
 */
static uint64_t clp_dict_code(struct segment_writer *w, uint32_t idx)
{
	if (idx == w->vnext) {
		w->vnext++;
		return 0;
	}
	return (uint64_t)idx + 1;
}

/* A line holding placeholder bytes: one dictionary variable. */
static int clp_escaped(struct segment_writer *w, const unsigned char *line, size_t len)
{
	struct out t = { &w->tpl, 0 }, v = { &w->subs[0], 0 };
	uint32_t idx;
	bool added;
	int rc;

	buf_reset(&w->tpl);
	put8(&t, CLP_DICT);
	if ((rc = kmap_put(&w->vdict, line, len, &idx, &added)) < 0 ||
	    (added && (rc = add_tokens(w, (const char *)line, len)) < 0))
		return rc;
	putv(&v, clp_dict_code(w, idx));
	return t.err ? t.err : v.err;
}

/* putv() into b, without the checks when there is room. */
static inline int putv_fast(struct buf *b, uint64_t v)
{
	unsigned char *q;

	if (b->cap - b->len <= VARINT_MAX) {
		struct out o = { b, 0 };

		putv(&o, v);
		return o.err;
	}
	q = varint_put((unsigned char *)b->p + b->len, v);
	b->len = (size_t)(q - (unsigned char *)b->p);
	return 0;
}

/*
 * Whether a reference's text goes into the bloom all the same, because a search asks for a
 * token of it that the index cannot answer: a negative integer ("-5" holds the word 5), and
 * an IPv6 address written with a dotted tail ("::10.0.0.5" holds 10.0.0.5, an IPv4
 * address to the search, which the index holds as ::a00:5, not ::ffff:10.0.0.5). cls: the
 * classes of the text's bytes ORed (clp_delim).
 */
static bool ref_tokens(unsigned cls, bool is_int, int64_t iv)
{
	if (is_int)
		return iv < 0;
	return (cls & (CLP_COLON | CLP_DOT)) == (CLP_COLON | CLP_DOT);
}

/* The index of the line's template (w->tpl) in the block's table, added when new. */
static int clp_tpl_index(struct segment_writer *w, uint32_t *idx)
{
	uint32_t *r = &w->tpl_recent[w->tpl.len % CLP_TPL_RECENT];
	const struct kent *e = *r ? &w->tpls.ents[*r - 1] : NULL;
	bool added;
	int rc;

	if (e && e->len == w->tpl.len && !memcmp(w->tpls.keys + e->off, w->tpl.p, e->len)) {
		*idx = *r - 1;
		return 0;
	}
	if ((rc = kmap_put(&w->tpls, w->tpl.p, w->tpl.len, idx, &added)) < 0 ||
	    (added && (rc = clp_tpl_tokens(w, (const unsigned char *)w->tpl.p, w->tpl.len)) < 0))
		return rc;
	*r = *idx + 1;
	return 0;
}

/* One line: its template into the block's table, its variables into the streams. */
static int clp_line(struct segment_writer *w, uint32_t ev, const unsigned char *line,
		    size_t len)
{
	const unsigned char *p = line, *end = line + len;
	unsigned char *t, *t0;
	/*
	 * The variable streams this line wrote to and their lengths before, for the undo of a
	 * line with placeholder bytes. A line's variables go to streams of rising index
	 * (MIN(ndelim, CLP_SUBS - 1)), so a stream is new when it is not the last one noted.
	 */
	uint8_t touched[CLP_SUBS];
	size_t sublen[CLP_SUBS];
	unsigned ntouched = 0;
	const unsigned char *back[CLP_BACK_MAX]; /* the line's first variables' text */
	size_t back_len[CLP_BACK_MAX];
	uint32_t nvar = 0, ndelim = 0, idx, vnext = w->vnext;
	bool added;
	int rc;

	if (++w->bgen == 0) {
		memset(w->bstamp, 0, sizeof(w->bstamp));
		w->bgen = 1;
	}
	buf_reset(&w->tpl);
	if ((rc = buf_grow(&w->tpl, 4 * len + 16)) < 0) /* a 1-byte token may take 4 */
		return rc;
	t = t0 = (unsigned char *)w->tpl.p;
	clp_cands(w, ev);
	while (p < end) {
		const unsigned char *a;
		bool digit, is_int;
		unsigned acc = 0;
		int64_t iv = 0;
		size_t n;
		int k;

		for (; p < end && (w->cls[*p] & 1); p++) {
			if (w->cls[*p] == 3) { /* a placeholder byte: undo, store it whole */
				while (ntouched--)
					w->subs[touched[ntouched]].len = sublen[ntouched];
				w->vnext = vnext;
				if ((rc = clp_escaped(w, line, len)) < 0)
					return rc;
				t = (unsigned char *)w->tpl.p + w->tpl.len;
				goto tpl;
			}
			*t++ = *p;
			ndelim++;
		}
		if (p == end)
			break;
		a = p;
		for (unsigned cl; !((cl = w->cls[*p]) & 1); p++) /* line[len] is a NUL */
			acc |= cl;
		n = (size_t)(p - a);
		if (!(acc & CLP_DIGIT) && !(w->lenmask & (1ull << (n & 63)))) {
			memcpy(t, a, n); /* text without digits that no value has: the template's */
			t += n;
			continue;
		}
		digit = acc & CLP_DIGIT;
		/* clp_int() only where it may succeed: digits, and a '-' before them; the
		 * digits of the first kind (nearly all) need no second look */
		is_int = acc == CLP_DIGIT ? clp_int(a, n, true, &iv)
					  : acc == (CLP_DIGIT | CLP_OTHER) && a[0] == '-' &&
						    clp_int(a, n, false, &iv);
		k = clp_match(w, a, n, is_int, iv, acc);
		if (k >= 0) {
			uint32_t nm = w->cand[k].name;

			*t++ = CLP_REF;
			t = varint_put(t, nm);
			w->refstamp[w->cand[k].name] = w->refgen;
			if (ref_tokens(acc, is_int, iv) &&
			    (rc = add_tokens(w, (const char *)a, n)) < 0)
				return rc;
		} else if (!digit) {
			memcpy(t, a, n);
			t += n;
		} else {
			unsigned si = MIN(ndelim, CLP_SUBS - 1);
			struct buf *sb = &w->subs[si];
			uint32_t j = 0, h = (uint32_t)(n * 31 + a[0] * 7 + a[n - 1]) & (CLP_BACK_SLOTS - 1);

			/* the same text as an earlier variable of the line: the same variable */
			for (; w->bstamp[h] == w->bgen; h = (h + 1) & (CLP_BACK_SLOTS - 1)) {
				j = w->bvar[h];
				if (back_len[j] == n && clp_eq(back[j], a, n))
					break;
			}
			if (w->bstamp[h] == w->bgen) { /* the same as variable j: no data */
				*t++ = CLP_BACK;
				*t++ = (unsigned char)j;
				continue;
			}
			if (nvar < CLP_BACK_MAX) {
				back[nvar] = a;
				back_len[nvar] = n;
				w->bstamp[h] = w->bgen;
				w->bvar[h] = (uint8_t)nvar;
			}
			if (!is_int && nvar < CLP_BACK_MAX && w->vlast[nvar] &&
			    w->vlast_len[nvar] == n && clp_eq(w->vlast[nvar], a, n)) {
				idx = w->vlast_idx[nvar]; /* as the previous line's: no lookup */
			} else if (!is_int) {
				if ((rc = kmap_put(&w->vdict, a, n, &idx, &added)) < 0 ||
				    (added && (rc = add_tokens(w, (const char *)a, n)) < 0))
					return rc;
				if (nvar < CLP_BACK_MAX) {
					w->vlast[nvar] = a;
					w->vlast_len[nvar] = (uint32_t)n;
					w->vlast_idx[nvar] = idx;
				}
			}
			if (!ntouched || touched[ntouched - 1] != si) {
				touched[ntouched] = (uint8_t)si;
				sublen[ntouched++] = sb->len;
			}
			if (is_int) {
				*t++ = CLP_INT;
				if ((rc = putv_fast(sb, varint_zigzag(iv))) < 0 ||
				    (iv < 0 && (rc = add_tokens(w, (const char *)a, n)) < 0))
					return rc;
			} else {
				*t++ = CLP_DICT;
				if ((rc = putv_fast(sb, clp_dict_code(w, idx))) < 0)
					return rc;
			}
			nvar++;
		}
	}
	w->tpl.len = (size_t)(t - t0);
	*t = 0;
tpl:
	if ((rc = clp_tpl_index(w, &idx)) < 0)
		return rc;
	return putv_fast(&w->tids, idx);
}

/*
 * Values of b bits each, least significant bit first, value after value, into bytes (the
 * last one padded with zero bits): ceil(values * b / 8) bytes. bits_get() reads them.
 */
struct bitpack {
	unsigned char *q; /* the next 8 bytes (room for them is the caller's) */
	uint64_t acc;     /* bits not written yet */
	unsigned have, bits;
};

static inline void bitpack_put(struct bitpack *bp, uint64_t v)
{
	bp->acc |= v << bp->have;
	if (bp->have + bp->bits >= 64) { /* acc is full: write it, keep v's bits that did not fit */
		le_put64(bp->q, bp->acc);
		bp->q += 8;
		bp->acc = bp->have ? v >> (64 - bp->have) : 0;
		bp->have = bp->have + bp->bits - 64;
	} else {
		bp->have += bp->bits;
	}
}

/* Writes the bits left; the end of the packed bytes. */
static unsigned char *bitpack_end(struct bitpack *bp)
{
	for (; bp->have > 0; bp->have = bp->have > 8 ? bp->have - 8 : 0, bp->acc >>= 8)
		*bp->q++ = (unsigned char)bp->acc;
	return bp->q;
}

/* Bits of the order-0 entropy of p[0..n): about what zstd's literal table makes of it. */
static double entropy_bits(const unsigned char *p, size_t n)
{
	uint32_t hist[256] = { 0 };
	double bits = 0;

	for (size_t i = 0; i < n; i++)
		hist[p[i]]++;
	for (unsigned c = 0; c < 256; c++)
		if (hist[c])
			bits += (double)hist[c] * log2((double)n / (double)hist[c]);
	return bits;
}

/*
 * Variable stream i bit-packed in place when that is clearly smaller than zstd would make
 * its varints (random byte counts, sequence numbers: a 17-bit value in 17 bits, not in
 * three varint bytes that one literal table codes in about 20): varint values, varint
 * minimum, u8 shift s (the low bits that every value minus the minimum has zero: 1 for
 * zigzag integers of one sign), u8 bits b (s + b at most 64), then each value minus the
 * minimum, shifted right by s, in b bits, least significant bit first, in
 * ceil(values * b / 8) bytes. w->packed[i] says which.
 */
/*
 * The varint at *p of a stream the writer wrote itself (whole varints: no bound to check),
 * and *p past it. rdv()'s call and checks per value of two or more bytes were 2% of the
 * writer's instructions in clp_pack().
 */
static inline uint64_t own_varint(const unsigned char **p)
{
	const unsigned char *q = *p;
	uint64_t v = *q & 0x7f;

	for (unsigned shift = 7; *q++ & 0x80; shift += 7)
		v |= (uint64_t)(*q & 0x7f) << shift;
	*p = q;
	return v;
}

static int clp_pack(struct segment_writer *w, unsigned i)
{
	struct buf *sb = &w->subs[i];
	const unsigned char *p = (const unsigned char *)sb->p, *end = p + sb->len;
	uint64_t mn = UINT64_MAX, mx = 0, n = 0, any = 0, first;
	unsigned bits, shift = 0;
	size_t plen;
	struct bitpack bp;
	struct out o = { &w->pack, 0 };
	int rc;

	w->packed[i] = 0;
	if (sb->len < CLP_CUT_MIN)
		return 0;
	first = own_varint(&p);
	for (p = (const unsigned char *)sb->p; p < end; n++) {
		uint64_t v = own_varint(&p);

		mn = MIN(mn, v);
		mx = MAX(mx, v);
		/*
		 * The low bits zero in every v - mn are those where every v agrees with the first
		 * (mn is one of them): no second pass for the minimum.
		 */
		any |= v ^ first;
	}
	if (any) /* zigzag integers that are all >= 0 (or all < 0) waste their lowest bit */
		shift = (unsigned)__builtin_ctzll(any);
	bits = mx > mn ? 64 - (unsigned)__builtin_clzll((mx - mn) >> shift) : 0;
	plen = (size_t)((n * bits + 7) / 8);
	if ((double)(plen + 12) * 8 >= 0.95 * entropy_bits((const unsigned char *)sb->p, sb->len))
		return 0;
	buf_reset(&w->pack);
	putv(&o, n);
	putv(&o, mn);
	put8(&o, shift);
	put8(&o, bits);
	if (o.err)
		return o.err;
	if ((rc = buf_grow(&w->pack, plen + 8)) < 0)
		return rc;
	bp = (struct bitpack){ (unsigned char *)w->pack.p + w->pack.len, 0, 0, bits };
	for (p = (const unsigned char *)sb->p; p < end && bits;)
		bitpack_put(&bp, (own_varint(&p) - mn) >> shift);
	w->pack.len = (size_t)(bitpack_end(&bp) - (unsigned char *)w->pack.p);
	buf_reset(sb);
	if ((rc = buf_add(sb, w->pack.p, w->pack.len)) < 0)
		return rc;
	w->packed[i] = 1;
	return 0;
}

/*
 * A text column after its presence bitmap: varint references, their names; varint
 * templates, each varint length and bytes; varint dictionary variables, each varint length
 * and bytes; varint length of the template numbers, one varint per line; varint streams,
 * each its varint length; then the streams (per variable a zigzag varint integer or a
 * dictionary index).
 */
static int encode_clp(struct segment_writer *w, const struct wcol *c, struct out *o)
{
	uint32_t k = 0, nsub = 0, nrefs = 0;
	int rc;

	pthread_once(&clp_once, clp_delim_init);
	memcpy(w->cls, clp_delim, sizeof(w->cls));
	if (w->stamp_cap < w->names.n && (rc = stamps_grow(w)) < 0)
		return rc;
	if (++w->refgen == 0) {
		memset(w->refstamp, 0, w->stamp_cap * sizeof(*w->refstamp));
		w->refgen = 1;
	}
	kmap_clear(&w->tpls);
	memset(w->tpl_recent, 0, sizeof(w->tpl_recent));
	kmap_clear(&w->vdict);
	memset(w->vlast, 0, sizeof(w->vlast));
	w->vnext = 0;
	buf_reset(&w->tids);
	for (unsigned i = 0; i < CLP_SUBS; i++)
		buf_reset(&w->subs[i]);
	for (uint32_t ev = 0; ev < w->nev; ev++) {
		const struct wval *v;

		if (!(c->present[ev / 8] & (1u << (ev % 8))))
			continue;
		v = &w->vals[c->vi[k++]];
		if ((rc = clp_line(w, ev, (const unsigned char *)v->v.s, v->len)) < 0)
			return rc;
	}
	for (uint32_t i = 0; i < w->names.n; i++)
		nrefs += w->refstamp[i] == w->refgen;
	putv(o, nrefs);
	for (uint32_t i = 0; i < w->names.n; i++)
		if (w->refstamp[i] == w->refgen)
			putv(o, i);
	put_kmap_keys(o, &w->tpls);
	put_kmap_keys(o, &w->vdict);
	putv(o, w->tids.len);
	put(o, w->tids.p, w->tids.len);
	for (unsigned i = 0; i < CLP_SUBS; i++)
		if (w->subs[i].len)
			nsub = i + 1;
	putv(o, nsub);
	for (unsigned i = 0; i + 1 < nsub; i++) /* not the last: it may hold several per line */
		if ((rc = clp_pack(w, i)) < 0)
			return rc;
	for (unsigned i = 0; i < nsub; i++) /* the length, doubled, + 1 when bit-packed */
		putv(o, 2 * (uint64_t)w->subs[i].len + (i + 1 < nsub && w->packed[i]));
	w->ncut = 0;
	for (unsigned i = 0; i < nsub; i++) {
		if (w->subs[i].len >= CLP_CUT_MIN)
			w->cut[w->ncut++] = w->raw.len; /* its own zstd block: emit_chunk() */
		put(o, w->subs[i].p, w->subs[i].len);
	}
	return o->err;
}

/*
 * A dictionary column's per-value indexes. The dictionary is in order of first use, so a
 * value is either the next new entry (0) or an entry seen before (its index + 1): a column
 * of distinct values costs a byte per value before compression.
 */
static void put_dict_indexes(struct out *o, const uint32_t *idx, uint32_t n)
{
	uint32_t next = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] == next) {
			put8(o, 0);
			next++;
		} else {
			putv(o, (uint64_t)idx[i] + 1);
		}
	}
}

/*
 * The segment's index map is large and each entry's slot a cache miss: the keys' hashes are
 * computed DICT_AHEAD entries ahead and their slots fetched meanwhile.
 */
#define DICT_AHEAD 8

static uint64_t index_dict_hash(struct segment_writer *w, const struct wcol *c, uint32_t d)
{
	unsigned char key[4 + INDEX_KEY_MAX];
	size_t kl;
	const char *k = kmap_key(&w->dict, d, &kl);

	if (!index_key(w, key, c->name, k, kl))
		return 0;
	return kmap_hash(key, 4 + kl);
}

/*
 * The posting lists of an indexed column's values, looked up once per dictionary entry
 * (index_block() appends the rows). Entries that differ only in case share one list.
 */
static int index_dict(struct segment_writer *w, const struct wcol *c)
{
	uint64_t ahead[DICT_AHEAD];
	int rc;

	for (uint32_t d = 0; d < w->dict.n && d < DICT_AHEAD; d++)
		kmap_prefetch(&w->idx, ahead[d] = index_dict_hash(w, c, d));
	for (uint32_t d = 0; d < w->dict.n; d++) {
		size_t kl;
		const char *k = kmap_key(&w->dict, d, &kl);
		uint64_t h = ahead[d % DICT_AHEAD];

		if (d + DICT_AHEAD < w->dict.n)
			kmap_prefetch(&w->idx, ahead[d % DICT_AHEAD] =
						       index_dict_hash(w, c, d + DICT_AHEAD));
		if ((rc = index_slot(w, c->name, k, kl, h, &w->dpid[d])) < 0)
			return rc;
	}
	for (uint32_t i = 0; i < c->n; i++)
		w->vpid[c->vi[i]] = w->dpid[w->tmpidx[i]];
	return 0;
}

/*
 * The column's next part (a dictionary's codes after its entries) starts a zstd block of
 * its own when both are long enough to pay for a literal table each (emit_chunk()).
 */
static void cut_here(struct segment_writer *w)
{
	size_t last = w->ncut ? w->cut[w->ncut - 1] : 0;

	if (w->raw.len - last >= CLP_CUT_MIN && w->ncut < CLP_SUBS)
		w->cut[w->ncut++] = w->raw.len;
}

/*
 * The statistic of a string column holding at most VALUE_SET_MAX distinct values (w->dict)
 * and no further value of its field in the rows: their value hashes, 0 in unused slots. A
 * search for another value of the field skips the block without the bloom's false positives.
 */
static void put_value_set(struct segment_writer *w, const struct wcol *c, struct out *stats,
			  uint32_t *nstats)
{
	unsigned char set[32] = { 0 };

	for (uint32_t i = 0; i < w->dict.n; i++) {
		size_t len;
		const char *v = (const char *)kmap_key(&w->dict, i, &len);

		le_put64(set + 8 * i, value_hash(w->bkey, v, len));
	}
	put32(stats, c->name);
	put32(stats, K_DICT);
	put(stats, set, sizeof(set));
	(*nstats)++;
}

/*
 * Encodes a column into w->raw, a string column's value set into the header's statistics
 * (integer and IP ones: put_range_stats()), its tokens into the bloom set.
 */
static int encode_column(struct segment_writer *w, struct wcol *c, struct out *stats,
			 uint32_t *nstats, unsigned *enc_out)
{
	struct wname *nm = &w->wn[c->name];
	struct out o = { &w->raw, 0 };
	unsigned enc = E_RAW;
	uint32_t i;
	bool added;
	int rc = 0;

	buf_reset(&w->raw);
	w->ncut = 0;
	put_presence(&o, c, w->nev);
	if (nm->kind == K_INT) {
		int64_t mn = INT64_MAX, mx = INT64_MIN;

		for (i = 0; i < c->n; i++) {
			int64_t v = w->vals[c->vi[i]].v.i;

			mn = MIN(mn, v);
			mx = MAX(mx, v);
		}
		enc = E_DELTA;
		if (nm->type != FT_TIME) {
			kmap_clear(&w->dict);
			for (i = 0; i < c->n && w->dict.n <= INT_DICT_MAX; i++) {
				if (i && w->vals[c->vi[i]].v.i == w->vals[c->vi[i - 1]].v.i)
					w->tmpidx[i] = w->tmpidx[i - 1]; /* as the previous value */
				else if ((rc = kmap_put(&w->dict, &w->vals[c->vi[i]].v.i, 8,
							&w->tmpidx[i], &added)) < 0)
					return rc;
			}
			if (w->dict.n <= INT_DICT_MAX && w->dict.n * 4 <= c->n)
				enc = E_DICT;
		}
		if (enc == E_DICT) {
			putv(&o, w->dict.n);
			for (i = 0; i < w->dict.n; i++) {
				size_t kl;
				int64_t v;

				memcpy(&v, kmap_key(&w->dict, i, &kl), 8);
				putv(&o, varint_zigzag(v));
			}
			put_dict_indexes(&o, w->tmpidx, c->n);
		} else {
			uint64_t prev = 0, dsize = 0, psize = 0, span = (uint64_t)mx - (uint64_t)mn;
			unsigned width = 0;

			for (i = 0; i < c->n; i++) { /* deltas, or the values when smaller */
				uint64_t v = (uint64_t)w->vals[c->vi[i]].v.i;

				dsize += varint_len(varint_zigzag((int64_t)(v - prev)));
				psize += varint_len(varint_zigzag((int64_t)v));
				prev = v;
			}
			while (width < 8 && span >> (8 * width))
				width++;
			if (psize < dsize)
				enc = E_PLAIN;
			/*
			 * Byte planes of the values above the minimum when they take no more room
			 * than the varints: random ports and byte counts, whose varints waste a bit
			 * per byte and mix high and low bytes, which zstd codes apart once split.
			 */
			if ((uint64_t)width * c->n <= MIN(psize, dsize)) {
				putv(&o, varint_zigzag(mn));
				put8(&o, width);
				if (width && !o.err && (rc = buf_grow(&w->raw, (size_t)width * c->n)) < 0)
					return rc;
				for (unsigned b = 0; b < width && !o.err; b++) {
					unsigned char *q = (unsigned char *)w->raw.p + w->raw.len;

					for (i = 0; i < c->n; i++)
						q[i] = (unsigned char)(((uint64_t)w->vals[c->vi[i]].v.i -
									(uint64_t)mn) >> (8 * b));
					w->raw.len += c->n;
				}
				enc = E_PLANES;
			}
			prev = 0;
			for (i = 0; i < c->n && enc != E_PLANES; i++) {
				uint64_t v = (uint64_t)w->vals[c->vi[i]].v.i;

				putv(&o, varint_zigzag((int64_t)(enc == E_PLAIN ? v : v - prev)));
				prev = v;
			}
		}
		if (nm->is_timestamp) { /* the first values: an event's time is its first */
			w->tmin = mn;
			w->tmax = mx;
			w->has_time = true;
		}
	} else if (nm->kind == K_IP) {
		kmap_clear(&w->dict);
		for (i = 0; i < c->n; i++) {
			const struct ipaddr *ip = &w->vals[c->vi[i]].v.ip;

			if (i && !memcmp(ip->b, w->vals[c->vi[i - 1]].v.ip.b, 16)) {
				w->tmpidx[i] = w->tmpidx[i - 1]; /* as the previous value */
				continue;
			}
			/* no bloom token: every address is in the index */
			if ((rc = kmap_put(&w->dict, ip->b, 16, &w->tmpidx[i], &added)) < 0)
				return rc;
		}
		enc = E_DICT;
		putv(&o, w->dict.n);
		{
			bool v4 = true;

			for (i = 0; i < w->dict.n && v4; i++)
				v4 = !memcmp(w->dict.keys + 16 * (size_t)i, v4_prefix, 12);
			put8(&o, v4);
			for (i = 0; i < w->dict.n; i++)
				put(&o, w->dict.keys + 16 * (size_t)i + (v4 ? 12 : 0), v4 ? 4 : 16);
		}
		cut_here(w);
		put_dict_indexes(&o, w->tmpidx, c->n);
		if (nm->indexed && (rc = index_dict(w, c)) < 0)
			return rc;
	} else if (nm->kind == K_DICT) {
		kmap_clear(&w->dict);
		for (i = 0; i < c->n; i++) {
			const struct wval *v = &w->vals[c->vi[i]], *pv = i ? &w->vals[c->vi[i - 1]] : NULL;

			if (pv && pv->v.s == v->v.s && pv->len == v->len) { /* segment_writer_add() */
				w->tmpidx[i] = w->tmpidx[i - 1]; /* as the previous value */
				continue;
			}
			if ((rc = kmap_put(&w->dict, v->v.s, v->len, &w->tmpidx[i], &added)) < 0)
				return rc;
			if (added && (rc = add_tokens(w, v->v.s, v->len)) < 0)
				return rc;
		}
		enc = E_DICT;
		put_kmap_keys(&o, &w->dict);
		cut_here(w);
		put_dict_indexes(&o, w->tmpidx, c->n);
		if (nm->indexed && (rc = index_dict(w, c)) < 0)
			return rc;
		if (!c->more && w->dict.n <= VALUE_SET_MAX)
			put_value_set(w, c, stats, nstats);
	} else { /* K_TEXT */
		enc = E_CLP;
		if ((rc = encode_clp(w, c, &o)) < 0)
			return rc;
	}
	*enc_out = enc;
	return o.err;
}

/* Bits that v - mn takes at most over an integer column's values (0: all the same). */
static unsigned int_bits(const struct segment_writer *w, const struct wcol *c, int64_t *mn_out)
{
	int64_t mn = INT64_MAX, mx = INT64_MIN;
	uint64_t span;

	for (uint32_t i = 0; i < c->n; i++) {
		int64_t v = w->vals[c->vi[i]].v.i;

		mn = MIN(mn, v);
		mx = MAX(mx, v);
	}
	*mn_out = mn;
	span = (uint64_t)mx - (uint64_t)mn;
	return span ? 64 - (unsigned)__builtin_clzll(span) : 0;
}

/* The length of an integer column bit-packed (encode_int_bits()). */
static size_t int_bits_len(const struct segment_writer *w, const struct wcol *c)
{
	int64_t mn;
	unsigned bits = int_bits(w, c, &mn);

	return 1 + (c->n == w->nev ? 0 : (w->nev + 7) / 8) + varint_len(varint_zigzag(mn)) + 1 +
	       ((size_t)c->n * bits + 7) / 8;
}

/*
 * An integer column bit-packed into w->raw, stored without zstd: the presence, the minimum
 * as a zigzag varint, u8 bits b (0 to 64), then each value minus the minimum in b bits,
 * least significant bit first, value after value (the last byte padded with zeros). Random
 * byte counts, ports and durations take their entropy and no more, where zstd's one
 * Huffman table over varints or byte planes mixes random low bytes with small high ones.
 */
static int encode_int_bits(struct segment_writer *w, const struct wcol *c)
{
	struct out o = { &w->raw, 0 };
	int64_t mn;
	unsigned bits = int_bits(w, c, &mn), have = 0;
	uint64_t acc = 0;
	unsigned char *q;
	int rc;

	buf_reset(&w->raw);
	put_presence(&o, c, w->nev);
	putv(&o, varint_zigzag(mn));
	put8(&o, bits);
	if (o.err)
		return o.err;
	if ((rc = buf_grow(&w->raw, ((size_t)c->n * bits + 7) / 8 + 8)) < 0)
		return rc;
	q = (unsigned char *)w->raw.p + w->raw.len;
	for (uint32_t i = 0; i < c->n && bits; i++) {
		uint64_t v = (uint64_t)w->vals[c->vi[i]].v.i - (uint64_t)mn;

		acc |= v << have;
		if (have + bits >= 64) { /* acc is full: flush it, keep v's bits that did not fit */
			le_put64(q, acc);
			q += 8;
			acc = have ? v >> (64 - have) : 0;
			have = have + bits - 64;
		} else {
			have += bits;
		}
	}
	for (; have > 0; have = have > 8 ? have - 8 : 0, acc >>= 8)
		*q++ = (unsigned char)acc;
	w->raw.len = (size_t)(q - (unsigned char *)w->raw.p);
	return 0;
}

static int grow_cols(struct segment_writer *w)
{
	uint32_t nc = w->ccap ? w->ccap * 2 : 32;
	struct wcol *ncol = mem_realloc(w->cols, nc * sizeof(*ncol));

	if (!ncol)
		return -ENOMEM;
	memset(ncol + w->ccap, 0, (nc - w->ccap) * sizeof(*ncol));
	w->cols = ncol;
	w->ccap = nc;
	return 0;
}

/* True when event ev has another value of value j's field after j. */
static bool text_repeated(const struct segment_writer *w, uint32_t ev, uint32_t j)
{
	for (uint32_t k = j + 1; k < w->ev_start[ev + 1]; k++)
		if (w->vals[k].name == w->vals[j].name)
			return true;
	return false;
}

/*
 * Widens value v's field's range in the block by v (starts it at v when new to the block,
 * and notes the field in w->ranged, in the order put_range_stats() writes them).
 */
static int range_add(struct segment_writer *w, const struct wval *v)
{
	struct wname *nm = &w->wn[v->name];
	bool first = nm->statgen != w->block_gen;

	if (first) {
		if (w->nranged == w->rcap) {
			uint32_t nc = w->rcap ? w->rcap * 2 : 64;
			uint32_t *nr = mem_realloc(w->ranged, nc * sizeof(*nr));

			if (!nr)
				return -ENOMEM;
			w->ranged = nr;
			w->rcap = nc;
		}
		w->ranged[w->nranged++] = v->name;
	}
	nm->statgen = w->block_gen;
	if (nm->kind == K_IP) {
		if (first || ipcmp(&v->v.ip, &nm->ipmin) < 0)
			nm->ipmin = v->v.ip;
		if (first || ipcmp(&v->v.ip, &nm->ipmax) > 0)
			nm->ipmax = v->v.ip;
		return 0;
	}
	nm->imin = first ? v->v.i : MIN(nm->imin, v->v.i);
	nm->imax = first ? v->v.i : MAX(nm->imax, v->v.i);
	return 0;
}

/*
 * Assigns each field's first value in an event to the field's column (a text field's only
 * when it is its only value: a column value must decode as the event's first one), and
 * widens the integer and IP fields' ranges by every value (range_add(): in this pass, which
 * loads each value's field anyway; two passes of their own were 3% of the writer).
 */
static int build_columns(struct segment_writer *w)
{
	int rc;

	w->block_gen++;
	w->ncols = 0;
	w->nranged = 0;
	for (uint32_t ev = 0; ev < w->nev; ev++) {
		uint32_t stamp = (uint32_t)(w->rows + ev + 1);

		for (uint32_t j = w->ev_start[ev]; j < w->ev_start[ev + 1]; j++) {
			struct wval *v = &w->vals[j];
			struct wname *nm = &w->wn[v->name];
			struct wcol *c;

			w->incol[j] = 0;
			w->vpid[j] = 0;
			if ((nm->kind == K_INT || nm->kind == K_IP) && (rc = range_add(w, v)) < 0)
				return rc;
			if (nm->stamp == stamp && nm->colgen == w->block_gen)
				w->cols[nm->col - 1].more = true;
			if (nm->stamp == stamp || !nm->kind)
				continue;
			nm->stamp = stamp;
			if (nm->kind == K_TEXT && text_repeated(w, ev, j))
				continue; /* all its values to the row area, in their order */
			if (nm->colgen != w->block_gen) {
				if (w->ncols == MAX_COLUMNS)
					continue;
				if (w->ncols == w->ccap && (rc = grow_cols(w)) < 0)
					return rc;
				c = &w->cols[w->ncols];
				if (!c->vi && !(c->vi = mem_alloc(SEGMENT_BLOCK_EVENTS * sizeof(uint32_t))))
					return -ENOMEM;
				c->name = v->name;
				c->n = 0;
				c->more = false;
				memset(c->present, 0, sizeof(c->present));
				nm->colgen = w->block_gen;
				nm->col = ++w->ncols;
			}
			c = &w->cols[nm->col - 1];
			c->present[ev / 8] |= (uint8_t)(1u << (ev % 8));
			c->vi[c->n++] = j;
			w->incol[j] = 1;
		}
	}
	return 0;
}

/* The row area: per event a count, then (name, value) for every value not in a column. */
static int encode_rows(struct segment_writer *w, bool *any)
{
	struct out o = { &w->raw, 0 };
	int rc;

	buf_reset(&w->raw);
	*any = false;
	for (uint32_t ev = 0; ev < w->nev; ev++) {
		uint32_t n = 0;

		for (uint32_t j = w->ev_start[ev]; j < w->ev_start[ev + 1]; j++)
			n += !w->incol[j];
		putv(&o, n);
		if (n)
			*any = true;
		for (uint32_t j = w->ev_start[ev]; j < w->ev_start[ev + 1]; j++) {
			const struct wval *v = &w->vals[j];

			if (w->incol[j])
				continue;
			putv(&o, v->name);
			switch (w->wn[v->name].type) {
			case FT_STR:
				putv(&o, v->len);
				put(&o, v->v.s, v->len);
				if ((rc = add_tokens(w, v->v.s, v->len)) < 0)
					return rc;
				break;
			case FT_IP: /* in the index, not in the bloom */
				put(&o, v->v.ip.b, 16);
				break;
			default:
				putv(&o, varint_zigzag(v->v.i));
				break;
			}
		}
	}
	return o.err;
}

/* Index entries of the block's values (rows numbered in the segment). */
static int index_block(struct segment_writer *w)
{
	int rc;

	for (uint32_t ev = 0; ev < w->nev; ev++) {
		uint32_t row = (uint32_t)(w->rows + ev);

		for (uint32_t j = w->ev_start[ev]; j < w->ev_start[ev + 1]; j++) {
			const struct wval *v = &w->vals[j];
			const struct wname *nm = &w->wn[v->name];

			if (!nm->indexed)
				continue;
			if (w->incol[j] && w->vpid[j]) /* found through the column's dictionary */
				rc = posting_add(w, w->vpid[j] - 1, row);
			else if (nm->type == FT_IP)
				rc = index_add(w, v->name, v->v.ip.b, 16, row);
			else if (nm->type == FT_STR)
				rc = index_add(w, v->name, v->v.s, v->len, row);
			else
				continue;
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/*
 * The minimum and maximum of each integer, time and IP field of the block over all its
 * values, those in the row area too (an event's second related.ip, a field past
 * MAX_COLUMNS), one statistic per field in the order of first appearance: a block without
 * a field's statistic has no value of it (BLOCK_FULL_STATS), so that a search can skip it.
 */
static void put_range_stats(struct segment_writer *w, struct out *stats, uint32_t *nstats)
{
	for (uint32_t j = 0; j < w->nranged; j++) { /* build_columns() found them */
		uint32_t name = w->ranged[j];
		struct wname *nm = &w->wn[name];
		unsigned char mm[32] = { 0 };

		if (nm->kind == K_IP) {
			memcpy(mm, nm->ipmin.b, 16);
			memcpy(mm + 16, nm->ipmax.b, 16);
		} else {
			le_put64(mm, (uint64_t)nm->imin);
			le_put64(mm + 16, (uint64_t)nm->imax);
		}
		put32(stats, name);
		put32(stats, nm->kind);
		put(stats, mm, sizeof(mm));
		(*nstats)++;
	}
}

/*
 * The block's time range when @timestamp has no column: the block's first events took every
 * column (MAX_COLUMNS fields) before one had a time, so every time is in the row area.
 */
static void row_area_time(struct segment_writer *w)
{
	for (size_t j = 0; j < w->nvals; j++) {
		const struct wval *v = &w->vals[j];

		if (!w->wn[v->name].is_timestamp)
			continue;
		w->tmin = w->has_time ? MIN(w->tmin, v->v.i) : v->v.i;
		w->tmax = w->has_time ? MAX(w->tmax, v->v.i) : v->v.i;
		w->has_time = true;
	}
}

static int flush_block(struct segment_writer *w, struct err *e)
{
	struct out cd = { &w->cdir, 0 }, h = { &w->hdr, 0 };
	/* a statistic per column and per integer or IP field, in a column or not */
	struct buf stats_buf = BUF_INIT((size_t)(MAX_COLUMNS + MAX_NAMES) * STAT_BYTES);
	struct out st = { &stats_buf, 0 };
	uint32_t nstats = 0, nchunks = 0, nbits;
	uint64_t id;
	size_t plain;
	unsigned char *bloom = NULL, nb[4];
	const char *what = "encoding a block";
	bool any_rows;
	int rc = 0;

	if (!w->nev)
		return 0;
	w->has_time = false;
	u64set_clear(&w->toks);
	buf_reset(&w->chunks);
	buf_reset(&w->cdir);
	buf_reset(&w->hdr);
	put32(&cd, 0); /* chunk count, patched below */
	if ((rc = cd.err) < 0 || (rc = build_columns(w)) < 0)
		goto fail;
	for (uint32_t i = 0; i < w->ncols; i++) {
		unsigned enc;

		struct wcol *c = &w->cols[i];
		size_t cd0 = w->cdir.len, ch0 = w->chunks.len;

		if ((rc = encode_column(w, c, &st, &nstats, &enc)) < 0 ||
		    (rc = emit_chunk(w, c->name, w->wn[c->name].kind, enc)) < 0)
			goto fail;
		if (w->wn[c->name].kind == K_INT && int_bits_len(w, c) < w->chunks.len - ch0) {
			w->cdir.len = cd0; /* bit-packed is smaller: that chunk instead */
			w->chunks.len = ch0;
			if ((rc = encode_int_bits(w, c)) < 0 ||
			    (rc = emit_chunk(w, c->name, K_INT, E_BITS)) < 0)
				goto fail;
		}
		nchunks++;
	}
	if (!w->has_time)
		row_area_time(w);
	put_range_stats(w, &st, &nstats);
	if ((rc = encode_rows(w, &any_rows)) < 0)
		goto fail;
	if (any_rows) {
		if ((rc = emit_chunk(w, NAME_NONE, K_ROWS, E_RAW)) < 0)
			goto fail;
		nchunks++;
	}
	if ((rc = st.err) < 0 || (rc = index_block(w)) < 0) {
		what = "indexing a block";
		goto fail;
	}
	le_put32(nb, nchunks);
	memcpy(w->cdir.p, nb, 4);

	/* Bloom over the distinct tokens, hashed with the key derived from the data key. */
	nbits = w->toks.n * BLOOM_BITS_PER_TOKEN;
	nbits = nbits < 64 ? 64 : (nbits + 7) & ~7u;
	if (nbits / 8 > BLOOM_MAX_BYTES)
		nbits = BLOOM_MAX_BYTES * 8;
	bloom = mem_calloc(nbits / 8, 1);
	if (!bloom) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < w->toks.nslots; i++) {
		if (!w->toks.slots[i])
			continue;
		uint64_t hv = tok_hash(w->bkey, w->toks.slots[i]);
		uint32_t h1 = (uint32_t)hv, h2 = (uint32_t)(hv >> 32) | 1;
		/* (h1 + j * h2) mod nbits, with two divisions instead of BLOOM_K */
		uint32_t bit = h1 % nbits, step = h2 % nbits;

		for (uint32_t j = 0; j < BLOOM_K; j++) {
			bloom[bit / 8] |= (uint8_t)(1u << (bit % 8));
			bit += step;
			if (bit >= nbits)
				bit -= nbits;
		}
	}

	/* Payload: chunk directory and chunks, sealed under the block's id. */
	plain = w->cdir.len + w->chunks.len;
	if (plain > PAYLOAD_MAX) {
		rc = -E2BIG;
		goto fail;
	}
	buf_reset(&w->sealed);
	if ((rc = buf_grow(&w->sealed, plain + KEYS_SEAL_OVERHEAD)) < 0 ||
	    (rc = buf_add(&w->cdir, w->chunks.p, w->chunks.len)) < 0)
		goto fail;
	id = wseal_id(w, ID_BLOCK, w->nblocks);
	keys_seal(&w->dk, id, w->cdir.p, plain, (unsigned char *)w->sealed.p);
	w->sealed.len = plain + KEYS_SEAL_OVERHEAD;

	put32(&h, (uint32_t)w->sealed.len);
	put32(&h, crc(w->sealed.p, w->sealed.len));
	put32(&h, w->nev);
	put32(&h, nstats);
	put64(&h, w->has_time ? (uint64_t)w->tmin : 1);
	put64(&h, w->has_time ? (uint64_t)w->tmax : 0);
	put32(&h, nbits / 8);
	put32(&h, BLOOM_K);
	put32(&h, (w->has_time ? BLOCK_HAS_TIME : 0) | BLOCK_FULL_STATS);
	put(&h, stats_buf.p, stats_buf.len);
	put(&h, bloom, nbits / 8);
	if ((rc = h.err) < 0)
		goto fail;
	put32(&h, crc(w->hdr.p, w->hdr.len));
	if ((rc = h.err) < 0)
		goto fail;
	crypto_generichash_update(w->mac, (const unsigned char *)w->hdr.p, w->hdr.len);

	if (w->nblocks == w->bcap) {
		uint32_t nc = w->bcap ? w->bcap * 2 : 64;
		struct blockrec *nbk = mem_realloc(w->blocks, nc * sizeof(*nbk));

		if (!nbk) {
			rc = -ENOMEM;
			goto fail;
		}
		w->blocks = nbk;
		w->bcap = nc;
	}
	what = "write failed";
	if ((rc = fileio_write_all(w->fd, w->hdr.p, w->hdr.len)) < 0 ||
	    (rc = fileio_write_all(w->fd, w->sealed.p, w->sealed.len)) < 0)
		goto fail;
	if (w->has_time) {
		w->seg_tmin = w->seg_has_time ? MIN(w->seg_tmin, w->tmin) : w->tmin;
		w->seg_tmax = w->seg_has_time ? MAX(w->seg_tmax, w->tmax) : w->tmax;
		w->seg_has_time = true;
	}
	w->blocks[w->nblocks++] = (struct blockrec){ w->off, (uint32_t)w->hdr.len,
						     (uint32_t)(w->hdr.len + w->sealed.len),
						     w->rows, w->nev };
	w->off += w->hdr.len + w->sealed.len;
	w->rows += w->nev;
	w->nev = 0;
	w->nvals = 0;
	arena_clear(&w->arena);
	buf_release(&stats_buf);
	mem_free(bloom);
	return 0;
fail:
	buf_release(&stats_buf);
	mem_free(bloom);
	return wfail(w, e, rc, what);
}

static size_t index_bytes(const struct segment_writer *w)
{
	return (size_t)w->scap * sizeof(struct slab) + w->idx.kcap +
	       (size_t)w->idx.ecap * sizeof(struct kent) + (size_t)w->pcap * sizeof(struct posting) +
	       (size_t)w->idx.nslots * 4;
}

/* The raw size of an event: its event.original, else the length of its JSON. */
static int add_raw_bytes(struct segment_writer *w, const struct event *ev)
{
	int rc;

	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == FIELD_EVENT_ORIGINAL) {
			w->raw_bytes += ev->vals[i].len;
			return 0;
		}
	buf_reset(&w->json);
	rc = event_write_json(ev, &w->json);
	if (rc < 0)
		return rc;
	w->raw_bytes += w->json.len;
	return 0;
}

int segment_writer_add(struct segment_writer *w, const struct event *ev, struct err *e)
{
	size_t bytes = 0;
	int rc;

	if (w->failed || w->finished)
		return err_set(e, -EINVAL, "%s: segment writer %s", w->tmp,
			       w->finished ? "already finished" : "failed earlier");
	if (w->rows + w->nev >= SEGMENT_MAX_EVENTS)
		return err_set(e, -EFBIG, "%s: segment full (%u events)", w->tmp,
			       SEGMENT_MAX_EVENTS);
	if (w->names.n + ev->n > MAX_NAMES)
		return err_set(e, -EFBIG, "%s: segment full (%u field names)", w->tmp, w->names.n);
	if (index_bytes(w) > INDEX_MEM_MAX - INDEX_HEADROOM)
		return err_set(e, -EFBIG, "%s: segment full (its index is past %u MiB)", w->tmp,
			       (INDEX_MEM_MAX - INDEX_HEADROOM) >> 20);
	if (w->nvals + ev->n > w->vcap) {
		size_t nc = w->vcap ? w->vcap : 4096;
		struct wval *nv;
		uint8_t *ni;
		uint32_t *np;

		while (nc < w->nvals + ev->n)
			nc *= 2;
		nv = mem_realloc(w->vals, nc * sizeof(*nv));
		if (!nv)
			return wfail(w, e, -ENOMEM, "adding an event");
		w->vals = nv;
		ni = mem_realloc(w->incol, nc);
		if (!ni)
			return wfail(w, e, -ENOMEM, "adding an event");
		w->incol = ni;
		np = mem_realloc(w->vpid, nc * sizeof(*np));
		if (!np)
			return wfail(w, e, -ENOMEM, "adding an event");
		w->vpid = np;
		w->vcap = nc;
	}
	for (uint32_t i = 0; i < ev->n; i++) {
		const struct event_value *src = &ev->vals[i];
		struct wval *v = &w->vals[w->nvals + i];
		struct wname *nm;

		rc = name_of(w, src->field, &v->name);
		if (rc < 0)
			return wfail(w, e, rc, "adding an event");
		v->len = 0;
		switch (w->wn[v->name].type) {
		case FT_STR:
			bytes += src->len;
			if (bytes > EVENT_COPY_MAX)
				return err_set(e, -E2BIG, "%s: event of more than %u bytes refused",
					       w->tmp, EVENT_COPY_MAX);
			v->len = src->len;
			nm = &w->wn[v->name];
			if (nm->kind == K_DICT && nm->lastgen == w->nblocks + 1 &&
			    nm->last_len == src->len && !memcmp(nm->last_s, src->v.s, src->len)) {
				v->v.s = nm->last_s; /* the same as its previous value: one copy */
				break;
			}
			v->v.s = src->len ? arena_strndup(&w->arena, src->v.s, src->len) : "";
			if (!v->v.s)
				return wfail(w, e, -ENOMEM, "adding an event");
			if (nm->kind == K_DICT) {
				nm->last_s = v->v.s;
				nm->last_len = src->len;
				nm->lastgen = w->nblocks + 1;
			}
			break;
		case FT_IP:
			v->v.ip = src->v.ip;
			break;
		default:
			v->v.i = src->v.i;
			break;
		}
	}
	if ((rc = add_raw_bytes(w, ev)) < 0)
		return wfail(w, e, rc, "measuring an event's raw size");
	w->nvals += ev->n;
	w->ev_start[w->nev] = (uint32_t)(w->nvals - ev->n);
	w->ev_start[++w->nev] = (uint32_t)w->nvals;
	if (w->nev == SEGMENT_BLOCK_EVENTS || w->arena.used > BLOCK_FLUSH_BYTES) {
		rc = flush_block(w, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * An index entry while sorting: field number and the key's first 16 bytes as two
 * big-endian numbers (zero-padded), so that most comparisons need no memcmp.
 */
struct idx_sort {
	uint64_t a, b;
	uint32_t name, i;
};

static uint64_t be_prefix(const unsigned char *k, size_t len)
{
	unsigned char t[8] = { 0 };
	uint64_t v = 0;

	memcpy(t, k, MIN(len, sizeof(t)));
	for (unsigned j = 0; j < 8; j++)
		v = v << 8 | t[j];
	return v;
}

static int idx_cmp_full(const struct kmap *m, uint32_t xi, uint32_t yi)
{
	const struct kent *x = &m->ents[xi];
	const struct kent *y = &m->ents[yi];
	const unsigned char *kx = (const unsigned char *)m->keys + x->off;
	const unsigned char *ky = (const unsigned char *)m->keys + y->off;
	uint32_t nx = le_get32(kx), ny = le_get32(ky);
	size_t lx = x->len - 4, ly = y->len - 4;
	int c;

	if (nx != ny)
		return nx < ny ? -1 : 1;
	c = memcmp(kx + 4, ky + 4, MIN(lx, ly));
	if (c)
		return c;
	return lx < ly ? -1 : lx > ly;
}

/* Entries whose padded prefixes tie (keys past 16 bytes, or ending in zeros): whole keys. */
static int idx_cmp(const void *a, const void *b, void *ctx)
{
	const struct idx_sort *x = a, *y = b;

	return idx_cmp_full(ctx, x->i, y->i);
}

/* Byte d of an entry's sort key (name, a, b), 0 the least significant (18 bytes). */
static inline unsigned idx_byte(const struct idx_sort *t, unsigned d)
{
	if (d < 8)
		return (unsigned)(t->b >> (8 * d)) & 0xff;
	if (d < 16)
		return (unsigned)(t->a >> (8 * (d - 8))) & 0xff;
	return (t->name >> (8 * (d - 16))) & 0xff;
}

#define IDX_SORT_BYTES 18

/*
 * Sorts t[0..n) by (name, a, b): least significant byte first, stable, skipping the bytes
 * that are the same in every entry (the first 12 bytes of IPv4 keys, most of names). The
 * counts of every byte position are taken in one pass: a permutation does not change them.
 */
static void idx_radix(struct idx_sort *t, struct idx_sort *tmp, uint32_t n)
{
	struct idx_sort *src = t, *dst = tmp, *sw;
	uint32_t cnt[IDX_SORT_BYTES][256];

	memset(cnt, 0, sizeof(cnt));
	for (uint32_t i = 0; i < n; i++)
		for (unsigned d = 0; d < IDX_SORT_BYTES; d++)
			cnt[d][idx_byte(&t[i], d)]++;
	for (unsigned d = 0; d < IDX_SORT_BYTES; d++) {
		uint32_t pos = 0;

		if (cnt[d][idx_byte(&t[0], d)] == n) /* the same byte in every entry */
			continue;
		for (unsigned c = 0; c < 256; c++) {
			uint32_t k = cnt[d][c];

			cnt[d][c] = pos;
			pos += k;
		}
		for (uint32_t i = 0; i < n; i++)
			dst[cnt[d][idx_byte(&src[i], d)]++] = src[i];
		sw = src;
		src = dst;
		dst = sw;
	}
	if (src != t)
		memcpy(t, src, (size_t)n * sizeof(*t));
}

/* order[0..n): the index entries sorted by field number and key. */
static int idx_sort(const struct kmap *m, uint32_t *order, uint32_t n)
{
	struct idx_sort *t = mem_alloc((size_t)n * 2 * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *k = (const unsigned char *)m->keys + m->ents[i].off;
		size_t len = m->ents[i].len - 4;

		t[i].name = le_get32(k);
		t[i].a = be_prefix(k + 4, len);
		t[i].b = len > 8 ? be_prefix(k + 12, len - 8) : 0;
		t[i].i = i;
	}
	idx_radix(t, t + n, n);
	for (uint32_t i = 0; i < n;) { /* ties of the prefixes: whole keys */
		uint32_t j = i + 1;

		while (j < n && t[j].name == t[i].name && t[j].a == t[i].a && t[j].b == t[i].b)
			j++;
		if (j - i > 1)
			qsort_r(t + i, j - i, sizeof(*t), idx_cmp, (void *)m);
		i = j;
	}
	for (uint32_t i = 0; i < n; i++)
		order[i] = t[i].i;
	mem_free(t);
	return 0;
}

/* Seals buf (plaintext) under id and appends it to the file. */
static int write_sealed(struct segment_writer *w, uint64_t id, const void *p, size_t len)
{
	int rc;

	buf_reset(&w->sealed);
	if ((rc = buf_grow(&w->sealed, len + KEYS_SEAL_OVERHEAD)) < 0)
		return rc;
	keys_seal(&w->dk, id, p, len, (unsigned char *)w->sealed.p);
	w->sealed.len = len + KEYS_SEAL_OVERHEAD;
	if ((rc = fileio_write_all(w->fd, w->sealed.p, w->sealed.len)) < 0)
		return rc;
	w->off += w->sealed.len;
	return 0;
}

/* zstd of p[0..len) into w->zbuf, sealed under id and appended; *raw_len = len. */
static int write_zsealed(struct segment_writer *w, uint64_t id, const void *p, size_t len)
{
	size_t bound = ZSTD_compressBound(len), z;
	int rc;

	buf_reset(&w->zbuf);
	if ((rc = buf_grow(&w->zbuf, bound)) < 0)
		return rc;
	z = ZSTD_compressCCtx(w->cctx, w->zbuf.p, bound, p, len, SEGMENT_ZSTD_LEVEL);
	if (ZSTD_isError(z))
		return -ENOMEM;
	return write_sealed(w, id, w->zbuf.p, z);
}

/*
 * The inverted index, three levels, each sealed: posting pages (delta varints of row numbers,
 * lists sorted by field and value, a page closed past PAGE_TARGET bytes); directory pages
 * (zstd; entries of about DIR_PAGE_TARGET bytes: field, key, where its list is); and the
 * top (zstd; per directory page its place and its first field and key), so that a lookup
 * opens the top, one directory page and one posting page.
 */
/* Big-endian 8 bytes: sorted keys of equal length are sorted numbers. */
static uint64_t be_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void be_put64(unsigned char *p, uint64_t v)
{
	for (unsigned i = 8; i-- > 0; v >>= 8)
		p[i] = (unsigned char)v;
}

/*
 * The index's entries are visited in key order, which is random in memory: their posting
 * record, key entry, key bytes and first posting slab are fetched ahead, so that the walk
 * does not wait on each in turn (it was about half of segment_writer_finish()).
 */
#define IDX_AHEAD 16

static inline void idx_prefetch(const struct segment_writer *w, const uint32_t *order, uint32_t n,
				uint32_t i)
{
	if (i + IDX_AHEAD < n) {
		__builtin_prefetch(&w->post[order[i + IDX_AHEAD]]);
		__builtin_prefetch(&w->idx.ents[order[i + IDX_AHEAD]]);
	}
	if (i + IDX_AHEAD / 2 < n) {
		const struct posting *p = &w->post[order[i + IDX_AHEAD / 2]];

		__builtin_prefetch(w->idx.keys + w->idx.ents[order[i + IDX_AHEAD / 2]].off);
		if (p->head)
			__builtin_prefetch(&w->slabs[p->head - 1]);
	}
}

static int write_index(struct segment_writer *w, struct out *foot)
{
	struct buf page = BUF_INIT((size_t)INDEX_MEM_MAX), pages = BUF_INIT((size_t)INDEX_MEM_MAX);
	struct buf dents[DIR_STREAMS];
	struct buf top = BUF_INIT((size_t)DIR_RAW_MAX), dpage = BUF_INIT((size_t)DIR_RAW_MAX);
	struct out pg = { &page, 0 }, pl = { &pages, 0 }, de[DIR_STREAMS];
	struct out tp = { &top, 0 }, dp = { &dpage, 0 };
	uint32_t *order = NULL, *where = NULL, npages = 0, ndir = 0, n = w->idx.n, first = 0;
	uint64_t top_off;
	int rc = 0;

	for (unsigned k = 0; k < DIR_STREAMS; k++) {
		buf_init(&dents[k], DIR_RAW_MAX);
		de[k] = (struct out){ &dents[k], 0 };
	}
	if (n) {
		order = mem_alloc((size_t)n * sizeof(*order));
		where = mem_alloc((size_t)n * 2 * sizeof(*where));
		if (!order || !where) {
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = idx_sort(&w->idx, order, n)) < 0)
			goto fail;
	}
	/* Posting pages. */
	for (uint32_t i = 0; i < n; i++) {
		const struct posting *p = &w->post[order[i]];
		uint32_t left = p->bytes;

		idx_prefetch(w, order, n, i);

		where[2 * i] = npages;
		where[2 * i + 1] = (uint32_t)page.len;
		if (!p->head && p->count) /* one row, kept in p->last (posting_add()) */
			putv(&pg, p->last - 1);
		for (uint32_t sl = p->head; sl && left; sl = w->slabs[sl - 1].next) {
			uint32_t take_n = MIN(left, (uint32_t)SLAB_DATA);

			put(&pg, w->slabs[sl - 1].data, take_n);
			left -= take_n;
		}
		if ((rc = pg.err) < 0)
			goto fail;
		if (page.len >= PAGE_TARGET || i + 1 == n) {
			uint64_t off = w->off;

			rc = write_zsealed(w, wseal_id(w, ID_PAGE, npages),
					   page.p, page.len);
			if (rc < 0)
				goto fail;
			put64(&pl, off);
			put32(&pl, (uint32_t)(w->off - off));
			put32(&pl, (uint32_t)page.len);
			npages++;
			buf_reset(&page);
		}
	}
	/*
	 * Directory pages, and the top. A page: u32 entries, u32 posting page and u32 offset of
	 * its first list, the lengths of its first four streams (u32 each), then the streams:
	 * per entry varint field-number delta; varint bytes shared with the previous key of the
	 * same field (twice that, or 1 for an address after one alike); varint length and
	 * bytes of the rest of the key (or the address's difference); varint list length;
	 * varint rows. Lists follow each other in the posting pages. Streams rather than
	 * entries because most of an entry is the same from one to the next (a field's delta
	 * 0, lists of one row): zstd codes such runs in almost nothing, where interleaved with
	 * the keys' random bytes each cost a few bits. Cut at about DIR_PAGE_TARGET bytes of
	 * the form the reader expands it to (entries of DIR_ENTRY_BYTES and keys).
	 */
	for (uint32_t i = 0, prev_name = 0, expanded = 4; i < n; i++) {
		size_t kl, pkl = 0, shared = 0;
		const char *key = kmap_key(&w->idx, order[i], &kl), *pk = NULL;
		const struct posting *p = &w->post[order[i]];
		uint32_t name = le_get32((const unsigned char *)key);

		idx_prefetch(w, order, n, i);

		if (i > first) {
			pk = kmap_key(&w->idx, order[i - 1], &pkl);
			if (le_get32((const unsigned char *)pk) == name)
				while (shared < kl - 4 && shared < pkl - 4 && pk[4 + shared] == key[4 + shared])
					shared++;
		} else {
			prev_name = 0;
			expanded = 4;
		}
		putv(&de[DS_NAME], name - prev_name);
		if (kl == 20 && pkl == 20 && shared >= 8) { /* an address after one alike: 1, delta */
			putv(&de[DS_SHARED], 1);
			putv(&de[DS_KEY], be_get64((const unsigned char *)key + 12) -
						  be_get64((const unsigned char *)pk + 12));
		} else {
			putv(&de[DS_SHARED], 2 * (uint64_t)shared);
			putv(&de[DS_KEY], kl - 4 - shared);
			put(&de[DS_KEY], key + 4 + shared, kl - 4 - shared);
		}
		putv(&de[DS_LEN], p->bytes);
		putv(&de[DS_COUNT], p->count);
		prev_name = name;
		expanded += DIR_ENTRY_BYTES + (uint32_t)(kl - 4);
		for (unsigned k = 0; k < DIR_STREAMS; k++)
			if ((rc = de[k].err) < 0)
				goto fail;
		if (expanded >= DIR_PAGE_TARGET || i + 1 == n) {
			uint64_t off = w->off;
			size_t fkl;
			const char *fk = kmap_key(&w->idx, order[first], &fkl);

			buf_reset(&dpage);
			put32(&dp, i + 1 - first);
			put32(&dp, where[2 * first]);
			put32(&dp, where[2 * first + 1]);
			for (unsigned k = 0; k + 1 < DIR_STREAMS; k++)
				put32(&dp, (uint32_t)dents[k].len);
			for (unsigned k = 0; k < DIR_STREAMS; k++) {
				put(&dp, dents[k].p, dents[k].len);
				buf_reset(&dents[k]);
			}
			if ((rc = dp.err) < 0 ||
			    (rc = write_zsealed(w, wseal_id(w, ID_DIR, ndir),
						dpage.p, dpage.len)) < 0)
				goto fail;
			put64(&tp, off);
			put32(&tp, (uint32_t)(w->off - off));
			put32(&tp, (uint32_t)dpage.len);
			put32(&tp, i + 1 - first);
			put32(&tp, le_get32((const unsigned char *)fk));
			put32(&tp, (uint32_t)(fkl - 4));
			put(&tp, fk + 4, fkl - 4);
			if ((rc = tp.err) < 0)
				goto fail;
			ndir++;
			first = i + 1;
		}
	}
	top_off = w->off;
	if ((rc = write_zsealed(w, wseal_id(w, ID_TOP, 0), top.p,
				top.len)) < 0)
		goto fail;
	put64(foot, top_off);
	put32(foot, (uint32_t)(w->off - top_off));
	put32(foot, (uint32_t)top.len);
	put32(foot, n);
	put32(foot, ndir);
	put32(foot, npages);
	put(foot, pages.p, pages.len);
	rc = pl.err;
fail:
	mem_free(order);
	mem_free(where);
	buf_release(&page);
	buf_release(&pages);
	for (unsigned k = 0; k < DIR_STREAMS; k++)
		buf_release(&dents[k]);
	buf_release(&top);
	buf_release(&dpage);
	return rc;
}

int segment_writer_finish(struct segment_writer *w, struct err *e)
{
	struct buf fb = BUF_INIT((size_t)DIR_RAW_MAX);
	struct out f = { &fb, 0 };
	unsigned char t[TRAILER_BYTES], mac[MAC_BYTES];
	int rc;

	if (w->failed || w->finished)
		return err_set(e, -EINVAL, "%s: segment writer %s", w->tmp,
			       w->finished ? "already finished" : "failed earlier");
	if ((rc = flush_block(w, e)) < 0)
		return rc;
	put(&f, FOOT_MAGIC, 8);
	put32(&f, w->names.n);
	for (uint32_t i = 0; i < w->names.n; i++) {
		size_t kl;
		const char *k = kmap_key(&w->names, i, &kl);

		put8(&f, w->wn[i].type);
		put8(&f, (unsigned)(kl & 0xff));
		put8(&f, (unsigned)(kl >> 8));
		put(&f, k, kl);
	}
	put32(&f, w->nblocks);
	for (uint32_t i = 0; i < w->nblocks; i++) {
		put64(&f, w->blocks[i].off);
		put32(&f, w->blocks[i].hdr_len);
		put32(&f, w->blocks[i].total_len);
		put64(&f, w->blocks[i].first_row);
		put32(&f, w->blocks[i].count);
	}
	put64(&f, w->rows);
	put64(&f, w->seg_has_time ? (uint64_t)w->seg_tmin : 0);
	put64(&f, w->seg_has_time ? (uint64_t)w->seg_tmax : 0);
	put32(&f, w->seg_has_time);
	put64(&f, w->raw_bytes);
	put64(&f, w->tag);
	if ((rc = f.err) < 0 || (rc = write_index(w, &f)) < 0) {
		rc = wfail(w, e, rc, "writing the index");
		goto out;
	}
	le_put64(t, w->off);
	le_put32(t + 8, (uint32_t)(fb.len + MAC_BYTES + 4));
	crypto_generichash_update(w->mac, (const unsigned char *)fb.p, fb.len);
	crypto_generichash_update(w->mac, t, 12);
	crypto_generichash_final(w->mac, mac, sizeof(mac));
	put(&f, mac, sizeof(mac));
	put32(&f, crc(fb.p, fb.len));
	if ((rc = f.err) < 0) {
		rc = wfail(w, e, rc, "writing the footer");
		goto out;
	}
	le_put32(t + 12, crc(t, 12));
	memcpy(t + 16, END_MAGIC, 8);
	if ((rc = fileio_write_all(w->fd, fb.p, fb.len)) < 0 ||
	    (rc = fileio_write_all(w->fd, t, sizeof(t))) < 0) {
		rc = wfail(w, e, rc, "write failed");
		goto out;
	}
	if (fsync(w->fd) < 0) {
		rc = wfail(w, e, -errno, "fsync failed");
		goto out;
	}
	close(w->fd);
	w->fd = -1;
	if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->final, RENAME_NOREPLACE) < 0) {
		rc = -errno;
		w->failed = true;
		err_set(e, rc, "%s: cannot rename to %s: %s", w->tmp, w->final, strerror(-rc));
		goto out;
	}
	w->finished = true;
	if ((rc = fileio_sync_dir(w->dir)) < 0) {
		err_set(e, rc, "%s: fsync of the directory failed: %s", w->dir, strerror(-rc));
		goto out;
	}
	log_debug("%s: %" PRIu64 " events in %u blocks, %" PRIu64 " bytes", w->final, w->rows,
		  w->nblocks, w->off + fb.len + TRAILER_BYTES);
out:
	buf_release(&fb);
	return rc;
}

void segment_writer_free(struct segment_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->finished && w->tmp[0] && unlink(w->tmp) < 0 && errno != ENOENT)
		log_warn("%s: cannot remove: %s", w->tmp, strerror(errno));
	kmap_release(&w->names);
	kmap_release(&w->idx);
	kmap_release(&w->dict);
	mem_free(w->toks.slots);
	mem_free(w->wn);
	mem_free(w->ranged);
	mem_free(w->by_id);
	mem_free(w->vals);
	mem_free(w->incol);
	mem_free(w->vpid);
	for (uint32_t i = 0; i < w->ccap; i++)
		mem_free(w->cols[i].vi);
	mem_free(w->cols);
	mem_free(w->blocks);
	mem_free(w->post);
	mem_free(w->slabs);
	arena_release(&w->arena);
	buf_release(&w->raw);
	buf_release(&w->chunks);
	buf_release(&w->cdir);
	buf_release(&w->hdr);
	buf_release(&w->zbuf);
	buf_release(&w->pack);
	buf_release(&w->sealed);
	buf_release(&w->json);
	buf_release(&w->tpl);
	buf_release(&w->tids);
	for (unsigned i = 0; i < CLP_SUBS; i++)
		buf_release(&w->subs[i]);
	kmap_release(&w->tpls);
	kmap_release(&w->vdict);
	mem_free(w->refstamp);
	mem_free(w->evstamp);
	ZSTD_freeCCtx(w->cctx);
	sodium_memzero(&w->dk, sizeof(w->dk));
	sodium_memzero(w->bkey, sizeof(w->bkey));
	sodium_memzero(w->mac_mem, sizeof(w->mac_mem));
	mem_free(w);
}

/* ---- reader ------------------------------------------------------------------------ */

#define ZC_CHUNKS 16          /* chunks a text search keeps decompressed for the read after it */
#define ZC_BYTES (64u << 20)  /* and their bytes at most */

struct rname {
	const char *name; /* in the mapping, not NUL-terminated */
	uint16_t len;
	uint8_t type;
	int id; /* field id, -1 until resolved */
};

struct rblock {
	uint64_t off;
	uint32_t hdr_len, total_len;
	uint64_t first_row;
	uint32_t count;
	int64_t tmin, tmax;
	bool has_time;
	bool full_stats; /* BLOCK_FULL_STATS */
	uint32_t payload_len, payload_crc;
	uint32_t nstats;
	const unsigned char *stats;
	uint32_t bloom_bytes, bloom_k;
	const unsigned char *bloom;
};

struct rpage {
	uint64_t off;
	uint32_t len, raw;
};

struct rdir {
	uint64_t off;
	uint32_t len, raw, n;
	uint32_t name, klen; /* first entry's field and key */
	const unsigned char *key;
};

/*
 * A field whose blocks all list their values: the union of those lists, when it stays at
 * SEGMENT_VALUES_MAX values (n > SEGMENT_VALUES_MAX: more, or a block without a list).
 */
#define SEGMENT_VALUES_MAX 16
struct seg_values {
	uint32_t name;
	uint32_t blocks;  /* that list the field's values */
	uint32_t last;    /* the last of them + 1 (a block counts once) */
	uint32_t n;
	uint64_t hash[SEGMENT_VALUES_MAX];
};

/*
 * A field's minimum and maximum over the blocks of a segment whose statistics are all
 * complete (segment_may_hold_range()), as in a statistic: 16 bytes each, an integer in the
 * first 8.
 */
struct seg_range {
	uint32_t name, kind;
	unsigned char mm[32];
};

struct segment {
	char *path;
	const unsigned char *map;
	size_t size;
	uint64_t tenant;
	uint32_t day, seq;
	uint32_t version; /* of the format: SEGMENT_VERSION_MIN to SEGMENT_VERSION */
	struct keys_data_key dk;
	unsigned char bkey[crypto_shorthash_KEYBYTES];
	struct rname *names;
	uint32_t nnames;
	struct rblock *blocks;
	uint32_t nblocks;
	uint64_t events, raw_bytes, tag;
	int64_t tmin, tmax;   /* the footer's @timestamp range of all rows, when has_time */
	bool has_time;
	uint64_t foot_off;    /* the footer: [foot_off, foot_off + foot_len) */
	uint32_t foot_len;
	uint64_t top_off, dir_lo; /* directory pages lie in [dir_lo, top_off) */
	uint32_t top_len, top_raw, nentries, ndir, npages;
	struct rpage *pages;
	unsigned char *top;   /* the index's top level, NULL until the first lookup */
	struct rdir *dirs;    /* its entries */
	unsigned char *dirbuf; /* the directory page last opened, expanded (load_dir()) */
	unsigned char *dirz;   /* its stored form */
	int dir_cur;          /* its number, -1 for none */
	uint32_t dir_n;       /* its entries */
	unsigned char *pagebuf; /* the posting page last opened */
	size_t pagebuf_cap, page_len;
	int page_cur;         /* its number, -1 for none */
	unsigned char *scratch;
	size_t scratch_cap;
	int64_t scratch_block;  /* the block whose payload scratch holds unsealed, or -1 */
	size_t scratch_plain;   /* its length */
	struct buf text; /* a text column's line being rebuilt */
	ZSTD_DCtx *dctx;
	struct fileio_id file; /* what was mapped */
	struct seg_values *values; /* per field, the values of all its blocks (segment_may_hold) */
	uint32_t nvalues, values_cap;
	bool full_stats;           /* every block's statistics are complete */
	struct seg_range *ranges;  /* then per integer and IP field, its blocks' range */
	uint32_t nranges;
	/* chunks of the block in scratch that a text search decompressed, kept for its read */
	struct buf zc;
	uint32_t zc_n;
	struct { uint64_t off; size_t at; uint32_t len; } zc_ent[ZC_CHUNKS];
};

#define DAMAGED(code, off, fmt, ...)                                                       \
	err_set(e, code, "%s: offset %llu: " fmt, s->path, (unsigned long long)(off), ##__VA_ARGS__)

static uint64_t seal_id(const struct segment *s, uint32_t kind, uint32_t n)
{
	return block_id(s->version, s->tenant, s->day, s->seq, kind, n);
}

static int unseal(struct segment *s, uint64_t off, size_t len, uint64_t id, size_t *plain,
		  const char *what, struct err *e);

/* Bytes of the footer's MAC: none before format 6. */
static uint32_t mac_bytes(const struct segment *s)
{
	return s->version >= VERSION_MAC ? MAC_BYTES : 0;
}

static int parse_block_header(struct segment *s, uint32_t i, struct err *e)
{
	struct rblock *b = &s->blocks[i];
	struct rd r = { s->map + b->off, s->map + b->off + b->hdr_len, false };
	uint64_t stat_bytes;
	uint32_t flags;

	if (b->hdr_len < BLOCK_FIXED + 4 ||
	    crc(s->map + b->off, b->hdr_len - 4) != le_get32(s->map + b->off + b->hdr_len - 4))
		return DAMAGED(-EBADMSG, b->off, "block %u: header checksum mismatch (damaged file)", i);
	b->payload_len = rd32(&r);
	b->payload_crc = rd32(&r);
	if (rd32(&r) != b->count)
		return DAMAGED(-EBADMSG, b->off, "block %u: event count differs from the footer's", i);
	b->nstats = rd32(&r);
	b->tmin = (int64_t)rd64(&r);
	b->tmax = (int64_t)rd64(&r);
	b->bloom_bytes = rd32(&r);
	b->bloom_k = rd32(&r);
	flags = rd32(&r);
	b->has_time = flags & BLOCK_HAS_TIME;
	b->full_stats = s->version >= STATS_VERSION && (flags & BLOCK_FULL_STATS);
	stat_bytes = (uint64_t)b->nstats * STAT_BYTES;
	if (stat_bytes + b->bloom_bytes + BLOCK_FIXED + 4 != b->hdr_len ||
	    (uint64_t)b->hdr_len + b->payload_len != b->total_len ||
	    b->payload_len < KEYS_SEAL_OVERHEAD || b->payload_len > PAYLOAD_MAX + KEYS_SEAL_OVERHEAD ||
	    !b->bloom_bytes || b->bloom_k < 1 || b->bloom_k > 32)
		return DAMAGED(-EBADMSG, b->off, "block %u: inconsistent block header", i);
	b->stats = take(&r, (size_t)stat_bytes);
	b->bloom = take(&r, b->bloom_bytes);
	for (uint32_t j = 0; j < b->nstats; j++)
		if (le_get32(b->stats + (size_t)j * STAT_BYTES) >= s->nnames)
			return DAMAGED(-EBADMSG, b->off, "block %u: column statistics name no field", i);
	if (!b->has_time) {
		b->tmin = 1;
		b->tmax = 0;
	}
	return 0;
}

static int parse_footer(struct segment *s, struct err *e)
{
	uint64_t foff = s->foot_off;
	uint32_t flen = s->foot_len;
	struct rd r = { s->map + foff, s->map + foff + flen - 4 - mac_bytes(s), false };
	const unsigned char *m = take(&r, 8);
	uint64_t prev_end = HEADER_BYTES, rows = 0;

	if (!m || memcmp(m, FOOT_MAGIC, 8))
		return DAMAGED(-EBADMSG, foff, "footer magic missing (damaged file)");
	s->nnames = rd32(&r);
	if (s->nnames > MAX_NAMES || s->nnames > flen)
		return DAMAGED(-EBADMSG, foff, "footer: too many field names");
	s->names = mem_calloc(s->nnames + 1, sizeof(*s->names));
	if (!s->names)
		return err_set(e, -ENOMEM, "%s: out of memory", s->path);
	for (uint32_t i = 0; i < s->nnames; i++) {
		struct rname *n = &s->names[i];

		n->type = rd8(&r);
		n->len = rd8(&r);
		n->len |= (uint16_t)(rd8(&r) << 8);
		n->name = (const char *)take(&r, n->len);
		n->id = -1;
		if (r.bad || !n->len || n->len >= FIELD_NAME_MAX || n->type > FT_BOOL)
			return DAMAGED(-EBADMSG, foff, "footer: field name %u is damaged", i);
	}
	s->nblocks = rd32(&r);
	if ((uint64_t)s->nblocks * BLOCK_INDEX_BYTES > flen)
		return DAMAGED(-EBADMSG, foff, "footer: block count out of range");
	s->blocks = mem_calloc(s->nblocks + 1, sizeof(*s->blocks));
	if (!s->blocks)
		return err_set(e, -ENOMEM, "%s: out of memory", s->path);
	for (uint32_t i = 0; i < s->nblocks; i++) {
		struct rblock *b = &s->blocks[i];

		b->off = rd64(&r);
		b->hdr_len = rd32(&r);
		b->total_len = rd32(&r);
		b->first_row = rd64(&r);
		b->count = rd32(&r);
		if (r.bad || b->off != prev_end || b->total_len > foff - b->off ||
		    b->hdr_len > b->total_len || b->first_row != rows || !b->count ||
		    b->count > SEGMENT_BLOCK_EVENTS)
			return DAMAGED(-EBADMSG, foff, "footer: entry of block %u is damaged", i);
		prev_end = b->off + b->total_len;
		rows += b->count;
	}
	s->events = rd64(&r);
	s->tmin = (int64_t)rd64(&r);
	s->tmax = (int64_t)rd64(&r);
	s->has_time = rd32(&r) != 0; /* tmin/tmax are 0 without */
	s->raw_bytes = rd64(&r);
	s->tag = rd64(&r);
	s->top_off = rd64(&r);
	s->top_len = rd32(&r);
	s->top_raw = rd32(&r);
	s->nentries = rd32(&r);
	s->ndir = rd32(&r);
	s->npages = rd32(&r);
	if (r.bad || s->events != rows || (uint64_t)s->npages * PAGE_INDEX_BYTES > flen)
		return DAMAGED(-EBADMSG, foff, "footer: totals are damaged");
	s->pages = mem_calloc(s->npages + 1, sizeof(*s->pages));
	if (!s->pages)
		return err_set(e, -ENOMEM, "%s: out of memory", s->path);
	for (uint32_t i = 0; i < s->npages; i++) {
		s->pages[i].off = rd64(&r);
		s->pages[i].len = rd32(&r);
		s->pages[i].raw = rd32(&r);
		if (r.bad || s->pages[i].off != prev_end || s->pages[i].len > foff - prev_end ||
		    s->pages[i].len < KEYS_SEAL_OVERHEAD || s->pages[i].raw > INDEX_MEM_MAX)
			return DAMAGED(-EBADMSG, foff, "footer: index page %u entry is damaged", i);
		prev_end += s->pages[i].len;
	}
	s->dir_lo = prev_end;
	if (r.bad || r.p != r.end || s->top_off < prev_end || s->top_len < KEYS_SEAL_OVERHEAD ||
	    s->top_len != foff - s->top_off || s->top_raw > DIR_RAW_MAX ||
	    (uint64_t)s->ndir * TOP_ENTRY_MIN > s->top_raw || s->ndir > s->nentries ||
	    (s->nentries && !s->ndir) || (s->nentries && !s->npages))
		return DAMAGED(-EBADMSG, foff, "footer: index entry is damaged");
	for (uint32_t i = 0; i < s->nblocks; i++) {
		int rc = parse_block_header(s, i, e);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static struct seg_values *values_of(const struct segment *s, uint32_t name)
{
	for (uint32_t i = 0; i < s->nvalues; i++)
		if (s->values[i].name == name)
			return &s->values[i];
	return NULL;
}

static void values_add(struct seg_values *v, uint64_t h)
{
	if (!h || v->n > SEGMENT_VALUES_MAX)
		return;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->hash[i] == h)
			return;
	if (v->n < SEGMENT_VALUES_MAX)
		v->hash[v->n] = h;
	v->n++; /* SEGMENT_VALUES_MAX + 1: too many to list */
}

/* A new entry for field name (the array grows by doubling); NULL: out of memory. */
static struct seg_values *values_new(struct segment *s, uint32_t name)
{
	struct seg_values *v;

	if (s->nvalues == s->values_cap) {
		uint32_t cap = s->values_cap ? 2 * s->values_cap : 8;

		if (!(v = mem_realloc(s->values, (size_t)cap * sizeof(*v))))
			return NULL;
		s->values = v;
		s->values_cap = cap;
	}
	v = &s->values[s->nvalues++];
	memset(v, 0, sizeof(*v));
	v->name = name;
	return v;
}

/* The union of the blocks' value lists, per field (segment_may_hold), once at open. */
static int gather_values(struct segment *s, struct err *e)
{
	for (uint32_t b = 0; b < s->nblocks; b++) {
		const struct rblock *rb = &s->blocks[b];

		for (uint32_t i = 0; i < rb->nstats; i++) {
			const unsigned char *st = rb->stats + (size_t)i * STAT_BYTES;
			uint32_t name = le_get32(st);
			struct seg_values *v;

			if (le_get32(st + 4) != K_DICT)
				continue;
			if (!(v = values_of(s, name)) && !(v = values_new(s, name)))
				return err_set(e, -ENOMEM, "out of memory");
			if (v->last != b + 1)
				v->blocks++;
			v->last = b + 1;
			for (unsigned k = 0; k < VALUE_SET_MAX; k++)
				values_add(v, le_get64(st + 8 + 8 * k));
		}
	}
	return 0;
}

/* Two values of a statistic of kind (16 bytes; an integer in the first 8), compared. */
static int stat_cmp(unsigned kind, const unsigned char *a, const unsigned char *b)
{
	int64_t x, y;

	if (kind != K_INT)
		return memcmp(a, b, 16);
	x = (int64_t)le_get64(a);
	y = (int64_t)le_get64(b);
	return x < y ? -1 : x > y;
}

/* Widens r's minimum and maximum to those of statistic values mm. */
static void range_widen(struct seg_range *r, const unsigned char *mm)
{
	if (stat_cmp(r->kind, mm, r->mm) < 0)
		memcpy(r->mm, mm, 16);
	if (stat_cmp(r->kind, mm + 16, r->mm + 16) > 0)
		memcpy(r->mm + 16, mm + 16, 16);
}

/*
 * When every block's statistics are complete, each integer and IP field's range over all
 * of them (segment_may_hold_range), once at open; at[name] finds a field's entry as they
 * are gathered.
 */
static int gather_ranges(struct segment *s, struct err *e)
{
	uint32_t *at;

	s->full_stats = true;
	for (uint32_t b = 0; b < s->nblocks; b++)
		s->full_stats = s->full_stats && s->blocks[b].full_stats;
	if (!s->full_stats || !s->nblocks)
		return 0;
	at = mem_calloc(s->nnames + 1, sizeof(*at));
	s->ranges = mem_calloc(s->nnames + 1, sizeof(*s->ranges));
	if (!at || !s->ranges) {
		mem_free(at);
		return err_set(e, -ENOMEM, "out of memory");
	}
	for (uint32_t b = 0; b < s->nblocks; b++) {
		const struct rblock *rb = &s->blocks[b];

		for (uint32_t i = 0; i < rb->nstats; i++) {
			const unsigned char *st = rb->stats + (size_t)i * STAT_BYTES;
			uint32_t name = le_get32(st), kind = le_get32(st + 4);
			struct seg_range *r;

			if (!kind || kind != range_kind(s->names[name].type))
				continue; /* not a range, or not of the field's type */
			if (at[name]) {
				range_widen(&s->ranges[at[name] - 1], st + 8);
				continue;
			}
			r = &s->ranges[s->nranges];
			at[name] = ++s->nranges;
			r->name = name;
			r->kind = kind;
			memcpy(r->mm, st + 8, 32);
		}
	}
	mem_free(at);
	/* a handle may stay open long: keep only what is used (all of it if that fails) */
	if (!s->nranges) {
		mem_free(s->ranges);
		s->ranges = NULL;
	} else {
		struct seg_range *fit = mem_realloc(s->ranges, s->nranges * sizeof(*fit));

		if (fit)
			s->ranges = fit;
	}
	return 0;
}

/* Whether a field's values v (NULL: none listed) may hold the value hashed vh. */
static bool values_hold(const struct segment *s, const struct seg_values *v, uint64_t vh)
{
	if (!v || v->blocks < s->nblocks || v->n > SEGMENT_VALUES_MAX)
		return true;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->hash[i] == vh)
			return true;
	return false;
}

bool segment_may_hold(const struct segment *s, int name, uint64_t vh)
{
	if (name < 0)
		return false; /* a field the segment has no value of */
	return values_hold(s, values_of(s, (uint32_t)name), vh);
}

/* The footer's place from the trailer, checked against the file's size. */
static int find_footer(struct segment *s, struct err *e)
{
	const unsigned char *t = s->map + s->size - TRAILER_BYTES;

	if (memcmp(t + 16, END_MAGIC, 8) || crc(t, 12) != le_get32(t + 12))
		return DAMAGED(-EBADMSG, s->size - TRAILER_BYTES,
			       "trailer missing or damaged (an unfinished or truncated segment)");
	s->foot_off = le_get64(t);
	s->foot_len = le_get32(t + 8);
	if (s->foot_off < HEADER_BYTES || s->foot_off > s->size || s->foot_len < 12 + mac_bytes(s) ||
	    s->foot_off + s->foot_len != s->size - TRAILER_BYTES) /* (no wrap past 2^64 either) */
		return DAMAGED(-EBADMSG, s->size - TRAILER_BYTES, "trailer: footer position out of range");
	return 0;
}

/*
 * The MAC of a format 6 file whose footer parse_footer() read, under s->dk: over the
 * header, every block header as stored (in block order), the footer up to its MAC and the
 * trailer's footer position. The writer feeds the same bytes as it writes them.
 */
static void mac_of(const struct segment *s, unsigned char mac[MAC_BYTES])
{
	crypto_generichash_state st;

	mac_init(&st, &s->dk);
	crypto_generichash_update(&st, s->map, HEADER_BYTES);
	for (uint32_t i = 0; i < s->nblocks; i++)
		crypto_generichash_update(&st, s->map + s->blocks[i].off, s->blocks[i].hdr_len);
	crypto_generichash_update(&st, s->map + s->foot_off, s->foot_len - MAC_BYTES - 4);
	crypto_generichash_update(&st, s->map + s->size - TRAILER_BYTES, 12);
	crypto_generichash_final(&st, mac, MAC_BYTES);
	sodium_memzero(&st, sizeof(st));
}

/*
 * Whether the clear text may be trusted, after the checksums and before any header is
 * used: from format 6 its MAC; before it (no MAC), the index's top level must open under
 * the file's version's seal ids, so that a newer file relabelled as older (its MAC
 * dropped, its blooms forged) is refused here rather than its blooms silently skipping
 * blocks. The top is a file's smallest seal and every file has one, even without blocks.
 */
static int check_origin(struct segment *s, struct err *e)
{
	unsigned char mac[MAC_BYTES];
	size_t plain;
	int rc;

	if (s->version >= VERSION_MAC) {
		mac_of(s, mac);
		if (sodium_memcmp(mac, s->map + s->foot_off + s->foot_len - 4 - MAC_BYTES, MAC_BYTES))
			return err_set(e, -EBADMSG,
				       "%s: segment authentication failed (changed or damaged file)",
				       s->path);
		return 0;
	}
	rc = unseal(s, s->top_off, s->top_len, seal_id(s, ID_TOP, 0), &plain, "the index", e);
	if (rc == -EBADMSG)
		return DAMAGED(rc, s->top_off,
			       "the index does not open as format %u's (a newer segment relabelled, "
			       "damaged, or written with another key)", s->version);
	return rc;
}

int segment_mac_rewrite(unsigned char *file, size_t size, const struct keys_data_key *dk,
			struct err *e)
{
	struct segment *s;
	unsigned char *m;
	int rc;

	if (size < HEADER_BYTES + TRAILER_BYTES || memcmp(file, FILE_MAGIC, 8))
		return err_set(e, -EBADMSG, "not a segment image");
	s = mem_calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, -ENOMEM, "out of memory");
	s->path = mem_strdup("segment image");
	s->map = file;
	s->size = size;
	s->version = le_get32(file + 8);
	s->dk = *dk;
	if (!s->path) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if (s->version < VERSION_MAC || s->version > SEGMENT_VERSION) {
		rc = err_set(e, -EPROTO, "segment image of format %u has no MAC", s->version);
		goto out;
	}
	if ((rc = find_footer(s, e)) < 0 || (rc = parse_footer(s, e)) < 0)
		goto out;
	m = file + s->foot_off + s->foot_len - 4 - MAC_BYTES;
	mac_of(s, m);
	le_put32(m + MAC_BYTES, crc(file + s->foot_off, s->foot_len - 4));
out:
	s->map = NULL; /* the caller's */
	segment_close(s);
	return rc;
}

/*
 * A file under a segment's name must be that segment: searches, retention and verify pick
 * files by the day in their names, so a renamed one (its header, under the MAC, says
 * otherwise) would hide its events from a search of its day and meet retention early.
 */
static int check_name(const struct segment *s, struct err *e)
{
	const char *base = strrchr(s->path, '/');
	char holds[SEGMENT_NAME_MAX];
	uint32_t day, seq;

	base = base ? base + 1 : s->path;
	if (segment_name_parse(base, &day, &seq) < 0 || (day == s->day && seq == s->seq))
		return 0; /* not named as a segment (a test's, a tool's copy): nothing to compare */
	if (segment_name(holds, s->day, s->seq) < 0)
		snprintf(holds, sizeof(holds), "day %u segment %u", s->day, s->seq);
	return err_set(e, -EBADMSG, "%s: offset 12: the file holds %s, not what its name says "
		       "(a renamed file)", s->path, holds);
}

int segment_open(struct segment **out, const char *path, uint64_t tenant,
		 const struct keys_data_key *dk, struct err *e)
{
	struct segment *s;
	struct stat st;
	const unsigned char *h;
	int fd = -1, rc;

	*out = NULL;
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium could not be initialised");
	pthread_once(&tok_once, tok_map_init);
	s = mem_calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, -ENOMEM, "out of memory opening %s", path);
	s->dir_cur = -1;
	s->scratch_block = -1;
	s->page_cur = -1;
	buf_init(&s->text, EVENT_COPY_MAX);
	buf_init(&s->zc, ZC_BYTES);
	pthread_once(&clp_once, clp_delim_init);
	s->path = mem_strdup(path);
	s->dctx = ZSTD_createDCtx();
	if (!s->path || !s->dctx) {
		rc = err_set(e, -ENOMEM, "out of memory opening %s", path);
		goto fail;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = err_set(e, -errno, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < HEADER_BYTES + TRAILER_BYTES) {
		rc = err_set(e, -EBADMSG, "%s: not a segment (%lld bytes; a segment has a header and a trailer)",
			     path, (long long)st.st_size);
		goto fail;
	}
	s->size = (size_t)st.st_size;
	s->file = fileio_id_of(&st);
	s->map = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		rc = err_set(e, -errno, "%s: cannot map: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	h = s->map;
	if (memcmp(h, FILE_MAGIC, 8)) {
		rc = err_set(e, -EBADMSG, "%s: offset 0: not a koban segment (bad magic)", path);
		goto fail;
	}
	s->version = le_get32(h + 8);
	if (s->version < SEGMENT_VERSION_MIN || s->version > SEGMENT_VERSION) {
		rc = err_set(e, -EPROTO,
			     "%s: offset 8: segment format version %u, this koban reads versions %d to %d",
			     path, s->version, SEGMENT_VERSION_MIN, SEGMENT_VERSION);
		goto fail;
	}
	if (crc(h, 48) != le_get32(h + 48)) {
		rc = DAMAGED(-EBADMSG, 0, "header checksum mismatch (damaged file)");
		goto fail;
	}
	s->day = le_get32(h + 12);
	s->tenant = le_get64(h + 16);
	s->seq = le_get32(h + 24);
	if (s->tenant != tenant) {
		rc = err_set(e, -EPERM, "%s: segment of tenant %llu, not of tenant %llu", path,
			     (unsigned long long)s->tenant, (unsigned long long)tenant);
		goto fail;
	}
	if ((rc = check_name(s, e)) < 0)
		goto fail;
	if (memcmp(h + 32, dk->id, KEYS_ID_BYTES)) {
		rc = err_set(e, -EKEYREJECTED,
			     "%s: written with another data key than tenant %llu's current one "
			     "(wrong key, or the tenant's key was destroyed)",
			     path, (unsigned long long)tenant);
		goto fail;
	}
	if ((rc = find_footer(s, e)) < 0)
		goto fail;
	if (crc(s->map + s->foot_off, s->foot_len - 4) !=
	    le_get32(s->map + s->foot_off + s->foot_len - 4)) {
		rc = DAMAGED(-EBADMSG, s->foot_off, "footer checksum mismatch (damaged file)");
		goto fail;
	}
	s->dk = *dk;
	bloom_key(dk, s->bkey);
	if ((rc = parse_footer(s, e)) < 0 || (rc = check_origin(s, e)) < 0 ||
	    (rc = gather_values(s, e)) < 0 || (rc = gather_ranges(s, e)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	segment_close(s);
	return rc;
}

void segment_close(struct segment *s)
{
	if (!s)
		return;
	if (s->map)
		munmap((void *)s->map, s->size);
	mem_free(s->path);
	mem_free(s->names);
	mem_free(s->blocks);
	mem_free(s->pages);
	mem_free(s->values);
	mem_free(s->ranges);
	mem_free(s->top);
	mem_free(s->dirs);
	mem_free(s->dirbuf);
	mem_free(s->dirz);
	mem_free(s->pagebuf);
	mem_free(s->scratch);
	buf_release(&s->text);
	buf_release(&s->zc);
	ZSTD_freeDCtx(s->dctx);
	sodium_memzero(&s->dk, sizeof(s->dk));
	sodium_memzero(s->bkey, sizeof(s->bkey));
	mem_free(s);
}

struct fileio_id segment_file(const struct segment *s)
{
	return s->file;
}

void segment_trim(struct segment *s, size_t keep)
{
	if (s->scratch_cap > keep) {
		sodium_memzero(s->scratch, s->scratch_cap);
		mem_free(s->scratch);
		s->scratch = NULL;
		s->scratch_cap = 0;
		s->scratch_block = -1;
		s->zc_n = 0;
	}
	if (s->zc.cap > keep) {
		s->zc_n = 0;
		buf_release(&s->zc);
	}
	if (s->text.cap > keep)
		buf_release(&s->text);
	if (s->pagebuf_cap > keep) {
		mem_free(s->pagebuf);
		s->pagebuf = NULL;
		s->pagebuf_cap = 0;
		s->page_cur = -1;
	}
}

void segment_get_info(const struct segment *s, struct segment_info *out)
{
	out->tenant = s->tenant;
	out->day = s->day;
	out->seq = s->seq;
	out->blocks = s->nblocks;
	out->events = s->events;
	out->tmin = s->tmin;
	out->tmax = s->tmax;
	out->file_bytes = s->size;
	out->raw_bytes = s->raw_bytes;
	out->tag = s->tag;
}

void segment_block_get_info(const struct segment *s, unsigned block, struct segment_block_info *out)
{
	const struct rblock *b = &s->blocks[block];

	out->first_row = b->first_row;
	out->count = b->count;
	out->tmin = b->tmin;
	out->tmax = b->tmax;
}

bool segment_block_overlaps(const struct segment *s, unsigned block, int64_t from, int64_t to)
{
	const struct rblock *b = &s->blocks[block];

	/* events without a time are in no bounded range, and in the unbounded one */
	if (!b->has_time)
		return from == INT64_MIN && to == INT64_MAX;
	return b->tmin <= to && b->tmax >= from;
}

/* The statistic of kind of the field numbered name in block (its 32 bytes), or NULL. */
static const unsigned char *stat_of(const struct segment *s, unsigned block, uint32_t name,
				    unsigned kind)
{
	const struct rblock *b = &s->blocks[block];

	for (uint32_t i = 0; i < b->nstats; i++) {
		const unsigned char *st = b->stats + (size_t)i * STAT_BYTES;

		if (le_get32(st) == name && le_get32(st + 4) == kind)
			return st + 8;
	}
	return NULL;
}

static const unsigned char *find_stat(const struct segment *s, unsigned block, const char *field,
				      unsigned kind)
{
	int name = segment_name_number(s, field);

	return name < 0 ? NULL : stat_of(s, block, (uint32_t)name, kind);
}

int segment_block_int_range(const struct segment *s, unsigned block, const char *field,
			    int64_t *min, int64_t *max)
{
	const unsigned char *st = find_stat(s, block, field, K_INT);

	if (!st)
		return 0;
	*min = (int64_t)le_get64(st);
	*max = (int64_t)le_get64(st + 16);
	return 1;
}

int segment_block_ip_range(const struct segment *s, unsigned block, const char *field,
			   struct ipaddr *min, struct ipaddr *max)
{
	const unsigned char *st = find_stat(s, block, field, K_IP);

	if (!st)
		return 0;
	memcpy(min->b, st, 16);
	memcpy(max->b, st + 16, 16);
	return 1;
}

bool segment_block_stats_complete(const struct segment *s, unsigned block)
{
	return s->blocks[block].full_stats;
}

/* Whether statistic values mm (minimum, maximum; NULL: no value) meet range r of kind. */
static bool range_meets(const unsigned char *mm, unsigned kind, const struct value_range *r)
{
	unsigned char lo[16] = { 0 }, hi[16] = { 0 };

	if (!mm)
		return false;
	if (kind == K_IP) {
		memcpy(lo, r->ip_lo.b, 16);
		memcpy(hi, r->ip_hi.b, 16);
	} else {
		le_put64(lo, (uint64_t)r->lo);
		le_put64(hi, (uint64_t)r->hi);
	}
	return stat_cmp(kind, mm, hi) <= 0 && stat_cmp(kind, mm + 16, lo) >= 0;
}

/*
 * Whether statistics, complete or not, answer for the field numbered name (>= 0) and a
 * range of kind: complete ones of a field the segment stores with a type of that kind.
 */
static bool stats_answer(const struct segment *s, bool complete, int name, unsigned kind)
{
	return complete && range_kind(s->names[name].type) == kind;
}

bool segment_block_may_hold_range(const struct segment *s, unsigned block, int name,
				  const struct value_range *r)
{
	unsigned kind = r->ip ? K_IP : K_INT;

	if (name < 0)
		return false; /* no value of the segment names the field */
	if (!stats_answer(s, s->blocks[block].full_stats, name, kind))
		return true;
	return range_meets(stat_of(s, block, (uint32_t)name, kind), kind, r);
}

bool segment_may_hold_range(const struct segment *s, int name, const struct value_range *r)
{
	unsigned kind = r->ip ? K_IP : K_INT;

	if (name < 0)
		return false;
	if (!stats_answer(s, s->full_stats, name, kind))
		return true;
	for (uint32_t i = 0; i < s->nranges; i++)
		if (s->ranges[i].name == (uint32_t)name && s->ranges[i].kind == kind)
			return range_meets(s->ranges[i].mm, kind, r);
	return false; /* no block has a statistic of it: no value */
}

int segment_name_number(const struct segment *s, const char *field)
{
	size_t len = strlen(field);

	for (uint32_t i = 0; i < s->nnames; i++)
		if (s->names[i].len == len && !memcmp(s->names[i].name, field, len))
			return (int)i;
	return -1;
}

uint64_t segment_value_hash(const struct segment *s, const char *value, size_t len)
{
	return value_hash(s->bkey, value, len);
}

/* Whether a block's value set (a statistic's 32 bytes) lists the value hashed vh. */
static bool set_holds(const unsigned char *set, uint64_t vh)
{
	for (unsigned k = 0; k < VALUE_SET_MAX; k++)
		if (le_get64(set + 8 * k) == vh)
			return true;
	return false;
}

bool segment_block_may_hold(const struct segment *s, unsigned block, int name, uint64_t vh)
{
	const unsigned char *set;

	if (name < 0)
		return false; /* a field the segment has no value of */
	if (!(set = stat_of(s, block, (uint32_t)name, K_DICT)))
		return true; /* no value set: the block may hold it */
	return set_holds(set, vh);
}

uint64_t segment_token_hash(const struct segment *s, const char *token, size_t len)
{
	if (s->version < TOKENS_VERSION || tok_digits(token, len))
		return 0; /* every block may hold it */
	return tok_hash(s->bkey, tok_fp(token, len));
}

bool segment_block_may_contain_hash(const struct segment *s, unsigned block, uint64_t hv)
{
	const struct rblock *b = &s->blocks[block];
	uint64_t nbits = (uint64_t)b->bloom_bytes * 8;
	uint32_t h1 = (uint32_t)hv, h2 = (uint32_t)(hv >> 32) | 1;

	if (!hv)
		return true; /* not in blooms */
	for (uint32_t j = 0; j < b->bloom_k; j++) {
		uint64_t bit = ((uint64_t)h1 + (uint64_t)j * h2) % nbits;

		if (!(b->bloom[bit / 8] & (1u << (bit % 8))))
			return false;
	}
	return true;
}

bool segment_block_may_contain(const struct segment *s, unsigned block, const char *token,
			       size_t len)
{
	return segment_block_may_contain_hash(s, block, segment_token_hash(s, token, len));
}

int segment_row_block(const struct segment *s, uint64_t row)
{
	uint32_t lo = 0, hi = s->nblocks;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct rblock *b = &s->blocks[mid];

		if (row < b->first_row)
			hi = mid;
		else if (row >= b->first_row + b->count)
			lo = mid + 1;
		else
			return (int)mid;
	}
	return -ERANGE;
}

/* Unseals [off, off + len) under id into s->scratch; the plaintext's length in *plain. */
static int unseal(struct segment *s, uint64_t off, size_t len, uint64_t id, size_t *plain,
		  const char *what, struct err *e)
{
	size_t need = len - KEYS_SEAL_OVERHEAD;

	s->scratch_block = -1; /* whatever scratch held is overwritten */
	s->zc_n = 0;
	buf_reset(&s->zc);
	if (need + 1 > s->scratch_cap) {
		unsigned char *n = mem_realloc(s->scratch, need + 1);

		if (!n)
			return err_set(e, -ENOMEM, "%s: out of memory reading %s", s->path, what);
		s->scratch = n;
		s->scratch_cap = need + 1;
	}
	if (keys_unseal(&s->dk, id, s->map + off, len, s->scratch) < 0)
		return DAMAGED(-EBADMSG, off, "%s does not decrypt with the tenant's data key "
			       "(damaged, or moved from another place)", what);
	*plain = need;
	return 0;
}

static const char *type_name(unsigned t)
{
	static const char *const n[] = { "string", "integer", "time", "ip", "boolean" };

	return t < ARRAY_SIZE(n) ? n[t] : "unknown";
}

/* Field id of stored name i, registered when new. */
static int resolve(struct segment *s, uint32_t i, struct err *e)
{
	struct rname *n = &s->names[i];
	int id;

	if (n->id >= 0)
		return n->id;
	id = field_intern(n->name, n->len, (enum field_type)n->type);
	if (id < 0)
		return err_set(e, id, "%s: field %.*s cannot be registered: %s", s->path,
			       (int)n->len, n->name, strerror(-id));
	if (field_store_type(field_type((unsigned)id)) != n->type)
		return err_set(e, -EPROTO, "%s: field %.*s is stored as %s but koban knows it as %s",
			       s->path, (int)n->len, n->name, type_name(n->type),
			       type_name(field_type((unsigned)id)));
	n->id = id;
	return id;
}

int segment_field_ids(struct segment *s, unsigned *ids, size_t max, size_t *n, struct err *e)
{
	*n = 0;
	if (s->nnames > max)
		return -E2BIG;
	for (uint32_t i = 0; i < s->nnames; i++) {
		int id = resolve(s, i, e);

		if (id < 0)
			return id;
		ids[(*n)++] = (unsigned)id;
	}
	return 0;
}

static int set_value(struct event *ev, unsigned id, unsigned type, bool add, const char *p,
		     size_t len, int64_t i, const unsigned char *ip)
{
	struct ipaddr a;

	switch (type) {
	case FT_STR:
		if (field_type(id) == FT_OBJ) /* an object, stored as its text */
			return event_add_obj(ev, id, p, len);
		return add ? event_add_str(ev, id, p, len) : event_set_str(ev, id, p, len);
	case FT_IP:
		memcpy(a.b, ip, 16);
		return add ? event_add_ip(ev, id, &a) : event_set_ip(ev, id, &a);
	case FT_TIME:
		return event_set_time(ev, id, i);
	case FT_BOOL:
		return event_set_bool(ev, id, i != 0);
	default:
		return event_set_int(ev, id, i);
	}
}

struct rstr {
	const char *p;
	uint32_t len;
};

#define ROW_SKIP UINT32_MAX

/* Value k of a bit-packed column (encode_int_bits()); p holds at least its last byte. */
static uint64_t bits_get(const unsigned char *p, uint32_t k, unsigned bits)
{
	uint64_t at = (uint64_t)k * bits, v;
	const unsigned char *q = p + at / 8;
	unsigned got = 8 - (unsigned)(at % 8);

	if (!bits)
		return 0;
	v = (uint64_t)*q++ >> (at % 8);
	for (; got < bits; got += 8)
		v |= (uint64_t)*q++ << got;
	return bits < 64 ? v & ((1ull << bits) - 1) : v;
}

/*
 * Decodes a column into evs; with map, the value of block row ev goes to evs[map[ev]] and
 * rows whose map is ROW_SKIP are only stepped over.
 */
static int decode_column(struct segment *s, uint32_t bi, uint32_t name, unsigned kind,
			 unsigned enc, const unsigned char *raw, size_t rawlen, struct arena *a,
			 const uint32_t *map, uint32_t end, struct event *evs, struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	struct rd r = { raw, raw + rawlen, false };
	const unsigned char *bitmap = NULL;
	unsigned type = s->names[name].type;
	uint64_t ndict = 0, prev = 0, next_new = 0, pbase = 0;
	uint32_t pn = 0, pk = 0; /* E_PLANES: values, the next one */
	unsigned pwidth = 0;
	const unsigned char *planes = NULL;
	int64_t *idict = NULL;
	const unsigned char *ipdict = NULL;
	struct rstr *sdict = NULL;
	int id, rc;

	if ((kind != K_INT && kind != K_IP && kind != K_DICT && kind != K_TEXT) ||
	    (kind == K_TEXT && enc != E_CLP) ||
	    (kind == K_INT && type != FT_INT && type != FT_TIME && type != FT_BOOL) ||
	    (kind == K_IP && type != FT_IP) ||
	    ((kind == K_DICT || kind == K_TEXT) && type != FT_STR) ||
	    (kind == K_INT && enc != E_DELTA && enc != E_DICT && enc != E_PLAIN &&
	     enc != E_PLANES && (enc != E_BITS || s->version < 4)) ||
	    ((kind == K_IP || kind == K_DICT) && enc != E_DICT))
		return DAMAGED(-EBADMSG, b->off, "block %u: column %.*s has a bad kind", bi,
			       (int)s->names[name].len, s->names[name].name);
	id = resolve(s, name, e);
	if (id < 0)
		return id;
	if (!rd8(&r))
		bitmap = take(&r, (b->count + 7) / 8);
	if (enc == E_PLANES || enc == E_BITS) {
		/* varint minimum, u8 width (bytes, or bits), then the planes, or the packed bits */
		uint32_t nv = b->count;

		if (bitmap) {
			nv = 0;
			for (uint32_t i = 0; i < b->count; i++)
				nv += (bitmap[i / 8] >> (i % 8)) & 1;
		}
		pbase = (uint64_t)varint_unzigzag(rdv(&r));
		pwidth = rd8(&r);
		pn = nv;
		if (pwidth > (enc == E_BITS ? 64 : 8))
			r.bad = true;
		else
			planes = take(&r, enc == E_BITS ? ((size_t)pwidth * nv + 7) / 8
							: (size_t)pwidth * nv);
	}
	if (enc == E_DICT) {
		ndict = rdv(&r);
		if (ndict > b->count)
			r.bad = true;
		else if (kind == K_IP && ndict) {
			bool v4 = rd8(&r) == 1;
			const unsigned char *src = take(&r, (size_t)ndict * (v4 ? 4 : 16));
			unsigned char *d = arena_alloc(a, (size_t)ndict * 16);

			if (!d)
				goto nomem;
			for (uint64_t i = 0; src && i < ndict; i++) {
				if (v4) {
					memcpy(d + 16 * i, v4_prefix, 12);
					memcpy(d + 16 * i + 12, src + 4 * i, 4);
				} else {
					memcpy(d + 16 * i, src + 16 * i, 16);
				}
			}
			ipdict = d;
		} else if (kind == K_IP) {
			(void)rd8(&r);
		}
		else if (kind == K_INT && ndict) {
			idict = arena_alloc(a, (size_t)ndict * sizeof(*idict));
			if (!idict)
				goto nomem;
			for (uint64_t i = 0; i < ndict; i++)
				idict[i] = varint_unzigzag(rdv(&r));
		} else if (ndict) {
			sdict = arena_alloc(a, (size_t)ndict * sizeof(*sdict));
			if (!sdict)
				goto nomem;
			for (uint64_t i = 0; i < ndict; i++) {
				uint64_t l = rdv(&r);

				if (l > UINT32_MAX) {
					r.bad = true;
					break;
				}
				sdict[i].len = (uint32_t)l;
				sdict[i].p = (const char *)take(&r, (size_t)l);
			}
		}
	}
	for (uint32_t ev = 0; ev < end && !r.bad; ev++) {
		const char *p = NULL;
		size_t len = 0;
		int64_t iv = 0;
		const unsigned char *ip = NULL;

		if (bitmap && !(bitmap[ev / 8] & (1u << (ev % 8))))
			continue;
		if (enc == E_DICT) {
			uint64_t k = rdv(&r);

			k = k ? k - 1 : next_new++; /* put_dict_indexes() */
			if (r.bad || k >= next_new || k >= ndict) {
				r.bad = true;
				break;
			}
			if (idict)
				iv = idict[k];
			else if (ipdict)
				ip = ipdict + k * 16;
			else {
				p = sdict[k].p;
				len = sdict[k].len;
			}
		} else if (kind == K_INT && enc == E_PLAIN) {
			iv = varint_unzigzag(rdv(&r));
		} else if (kind == K_INT && (enc == E_PLANES || enc == E_BITS) && map &&
			   map[ev] == ROW_SKIP) { /* read by position: nothing to pass over */
			if (!planes || pk++ >= pn) {
				r.bad = true;
				break;
			}
			continue;
		} else if (kind == K_INT && enc == E_PLANES) {
			uint64_t v = 0;

			if (!planes || pk >= pn) {
				r.bad = true;
				break;
			}
			for (unsigned j = 0; j < pwidth; j++)
				v |= (uint64_t)planes[(size_t)j * pn + pk] << (8 * j);
			pk++;
			iv = (int64_t)(pbase + v);
		} else if (kind == K_INT && enc == E_BITS) {
			if (!planes || pk >= pn) {
				r.bad = true;
				break;
			}
			iv = (int64_t)(pbase + bits_get(planes, pk++, pwidth));
		} else if (kind == K_INT) {
			prev += (uint64_t)varint_unzigzag(rdv(&r));
			iv = (int64_t)prev;
		} else { /* K_TEXT: decode_clp() */
			r.bad = true;
		}
		if (r.bad)
			break;
		if (map && map[ev] == ROW_SKIP)
			continue;
		rc = set_value(&evs[map ? map[ev] : ev], (unsigned)id, type, false, p ? p : "", len,
			       iv, ip);
		if (rc < 0)
			return err_set(e, rc, "%s: block %u: event %u: %.*s: %s", s->path, bi, ev,
				       (int)s->names[name].len, s->names[name].name, strerror(-rc));
	}
	if (r.bad || (end == b->count && r.p != r.end))
		return DAMAGED(-EBADMSG, b->off, "block %u: column %.*s is damaged", bi,
			       (int)s->names[name].len, s->names[name].name);
	return 0;
nomem:
	return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
}

/* ---- text columns: templates and variables back to lines ----------------------------- */

/* A template's text up to a placeholder, and the placeholder (0 after the last text). */
struct clp_op {
	uint32_t off, len;  /* text in the template */
	uint8_t kind;       /* CLP_REF, CLP_INT, CLP_DICT, CLP_BACK or 0 */
	uint32_t arg;       /* CLP_REF: field id; CLP_BACK: the variable */
	uint32_t name;      /* CLP_REF: the stored name */
};

struct clp_tpl {
	const unsigned char *p;
	uint32_t len, nvars, nops;
	unsigned char *kinds; /* per variable CLP_INT or CLP_DICT */
	uint8_t *stream;      /* per variable its stream (CLP_SUBS) */
	struct clp_op *ops;
};

/* Appends n bytes to b: short ones without a call. */
static inline void tput(struct buf *b, const void *p, size_t n, int *err)
{
	if (n < b->cap - b->len && n <= 16) {
		char *d = b->p + b->len;
		const char *q = p;

		for (size_t i = 0; i < n; i++)
			d[i] = q[i];
		b->len += n;
	} else if (buf_add(b, p, n) < 0) {
		*err = -ENOSPC;
	}
}

/* Skips a text column's presence bitmap; the names it references into *refs (arena). */
static int clp_refs(struct segment *s, uint32_t bi, const unsigned char *raw, size_t rawlen,
		    struct arena *a, uint32_t **refs, uint32_t *nrefs, struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	struct rd r = { raw, raw + rawlen, false };
	uint64_t n;

	if (!rd8(&r))
		(void)take(&r, (b->count + 7) / 8);
	n = rdv(&r);
	if (r.bad || n > s->nnames)
		return DAMAGED(-EBADMSG, b->off, "block %u: text column is damaged", bi);
	*refs = arena_alloc(a, (size_t)(n + 1) * sizeof(**refs));
	if (!*refs)
		return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t nm = rdv(&r);

		if (r.bad || nm >= s->nnames)
			return DAMAGED(-EBADMSG, b->off, "block %u: text column is damaged", bi);
		(*refs)[i] = (uint32_t)nm;
	}
	*nrefs = (uint32_t)n;
	return 0;
}

/* Appends the text of the first value of field id of ev (a referenced value). */
/* Dotted quad of an IPv4-mapped address into out; its length. */
static size_t fmt_v4(const unsigned char *b, char *out)
{
	size_t n = 0;

	for (int i = 12; i < 16; i++) {
		unsigned v = b[i];

		if (i > 12)
			out[n++] = '.';
		if (v >= 100)
			out[n++] = (char)('0' + v / 100);
		if (v >= 10)
			out[n++] = (char)('0' + v / 10 % 10);
		out[n++] = (char)('0' + v % 10);
	}
	return n;
}

static int clp_ref_text(struct segment *s, const struct event *ev, int id, unsigned type,
			struct out *o)
{
	const struct event_value *v = event_get(ev, (unsigned)id);
	char t[IPADDR_STRLEN];

	if (!v)
		return -EBADMSG;
	switch (type) {
	case FT_STR:
		tput(o->b, v->v.s, v->len, &o->err);
		return 0;
	case FT_INT:
		tput(o->b, t, fmt_i64(t, v->v.i), &o->err);
		return 0;
	case FT_IP:
		if (!memcmp(v->v.ip.b, v4_prefix, 12)) {
			tput(o->b, t, fmt_v4(v->v.ip.b, t), &o->err);
			return 0;
		}
		ipaddr_format(&v->v.ip, t);
		tput(o->b, t, strlen(t), &o->err);
		return 0;
	default:
		return -EBADMSG;
	}
}

/* A variable stream of a text column: varints in r, or bit-packed (clp_sub_packed()). */
struct clp_sub {
	struct rd r;
	const unsigned char *bits; /* packed: the values, width bits each */
	uint64_t mn;
	unsigned shift, width;
	uint32_t n, k;             /* packed: values, the next one */
	bool packed;
};

/* A text column's parts (see encode_clp()), checked against each other. */
struct clp_col {
	const unsigned char *bitmap; /* NULL: every row has a line */
	struct clp_tpl *tpls;
	uint64_t ntpl;
	struct rstr *dict;
	uint64_t ndict;
	struct rd tr;                /* the template numbers, one per line */
	struct clp_sub sub[CLP_SUBS]; /* the variable streams */
};

/*
 * A bit-packed variable stream (clp_pack()) read in place: a row read takes only the values
 * up to its last row, instead of unpacking the whole stream first. At most count values
 * (the block's events). -EBADMSG when damaged.
 */
static int clp_sub_packed(uint32_t count, struct clp_sub *sb)
{
	struct rd r = sb->r;
	uint64_t n = rdv(&r), mn = rdv(&r);
	unsigned shift = rd8(&r), bits = rd8(&r);
	const unsigned char *p;

	if (r.bad || n > count || shift > 63 || bits + shift > 64 ||
	    !(p = take(&r, (size_t)((n * bits + 7) / 8))) || r.p != r.end)
		return -EBADMSG;
	*sb = (struct clp_sub){ r, p, mn, shift, bits, (uint32_t)n, 0, true };
	return 0;
}

/* The next value of a variable stream, as rdv() of its varints; sb->r.bad past its end. */
static uint64_t clp_next(struct clp_sub *sb)
{
	if (!sb->packed)
		return rdv(&sb->r);
	if (sb->k >= sb->n) {
		sb->r.bad = true;
		return 0;
	}
	return sb->mn + (bits_get(sb->bits, sb->k++, sb->width) << sb->shift);
}

/* Passes over the next value of a stream whose value is not needed (a row not asked for). */
static void clp_skip(struct clp_sub *sb)
{
	if (!sb->packed)
		(void)rdv(&sb->r);
	else if (sb->k < sb->n)
		sb->k++;
	else
		sb->r.bad = true;
}

/* Parses a text column chunk into *c (arrays in the arena). */
static int clp_open(struct segment *s, uint32_t bi, uint32_t name, const unsigned char *raw,
		    size_t rawlen, struct arena *a, struct clp_col *c, struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	struct rd r = { raw, raw + rawlen, false };
	struct clp_tpl *tpls;
	uint64_t ntpl, ndict, nsub, tidlen, sublen[CLP_SUBS];
	bool packed[CLP_SUBS];
	int rc;

	pthread_once(&clp_once, clp_delim_init); /* the delimiters that number the streams */
	memset(c, 0, sizeof(*c));
	if (!rd8(&r))
		c->bitmap = take(&r, (b->count + 7) / 8);
	for (uint64_t i = 0, n = rdv(&r); i < n && !r.bad; i++)
		(void)rdv(&r); /* references: clp_refs() */
	ntpl = rdv(&r);
	if (r.bad || ntpl > b->count)
		goto damaged;
	tpls = arena_alloc(a, (size_t)(ntpl + 1) * sizeof(*tpls));
	if (!tpls)
		goto nomem;
	c->tpls = tpls;
	c->ntpl = ntpl;
	for (uint64_t i = 0; i < ntpl && !r.bad; i++) {
		uint64_t l = rdv(&r);
		const unsigned char *p;

		if (l > rawlen || !(p = take(&r, (size_t)l)))
			goto damaged;
		tpls[i] = (struct clp_tpl){ p, (uint32_t)l, 0, 0, NULL, NULL, NULL };
		if (!(tpls[i].kinds = arena_alloc(a, (size_t)l + 1)) ||
		    !(tpls[i].stream = arena_alloc(a, (size_t)l + 1)) ||
		    !(tpls[i].ops = arena_alloc(a, ((size_t)l + 1) * sizeof(*tpls[i].ops))))
			goto nomem;
		for (uint64_t k = 0, lit = 0, ndelim = 0; k <= l;) {
			struct clp_op *op = &tpls[i].ops[tpls[i].nops];
			unsigned char ch;

			if (k == l || (p[k] >= CLP_REF && p[k] <= CLP_BACK)) {
				*op = (struct clp_op){ (uint32_t)lit, (uint32_t)(k - lit),
						       k == l ? 0 : p[k], 0, 0 };
				tpls[i].nops++;
				if (k == l)
					break;
			}
			ch = p[k++];
			if (ch < CLP_REF || ch > CLP_BACK) {
				ndelim += clp_delim[ch] & 1; /* clp_line()'s count */
				continue;
			}
			lit = k;
			if (ch == CLP_INT || ch == CLP_DICT) {
				uint32_t v = tpls[i].nvars++;

				tpls[i].kinds[v] = ch;
				tpls[i].stream[v] = (uint8_t)(s->version >= 4 ? MIN(ndelim, CLP_SUBS - 1)
									: MIN(v, CLP_SUBS_V3 - 1));
			} else {
				uint64_t nm = 0;
				int shift = 0;

				do {
					if (k >= l || shift > 28)
						goto damaged;
					nm |= (uint64_t)(p[k] & 0x7f) << shift;
					shift += 7;
				} while (p[k++] & 0x80);
				if ((ch == CLP_REF && nm >= s->nnames) ||
				    (ch == CLP_BACK && (nm >= tpls[i].nvars || nm >= CLP_BACK_MAX)))
					goto damaged;
				if (ch == CLP_REF && (rc = resolve(s, (uint32_t)nm, e)) < 0)
					return rc;
				op->arg = ch == CLP_REF ? (uint32_t)rc : (uint32_t)nm;
				op->name = (uint32_t)nm;
				lit = k;
			}
		}
	}
	ndict = rdv(&r);
	if (r.bad || ndict > rawlen)
		goto damaged;
	c->dict = arena_alloc(a, (size_t)(ndict + 1) * sizeof(*c->dict));
	if (!c->dict)
		goto nomem;
	c->ndict = ndict;
	for (uint64_t i = 0; i < ndict && !r.bad; i++) {
		uint64_t l = rdv(&r);

		if (l > rawlen)
			goto damaged;
		c->dict[i].len = (uint32_t)l;
		c->dict[i].p = (const char *)take(&r, (size_t)l);
	}
	tidlen = rdv(&r);
	if (r.bad || tidlen > rawlen)
		goto damaged;
	c->tr = (struct rd){ r.p, NULL, false };
	if (!take(&r, (size_t)tidlen))
		goto damaged;
	c->tr.end = r.p;
	nsub = rdv(&r);
	if (r.bad || nsub > (s->version >= 4 ? CLP_SUBS : CLP_SUBS_V3))
		goto damaged;
	for (uint64_t i = 0; i < nsub; i++) { /* from version 4: doubled, + 1 when packed */
		sublen[i] = rdv(&r);
		packed[i] = s->version >= 4 && (sublen[i] & 1);
		if (s->version >= 4)
			sublen[i] >>= 1;
		if (sublen[i] > rawlen || (packed[i] && i + 1 == nsub))
			goto damaged;
	}
	for (uint64_t i = 0; i < CLP_SUBS; i++) {
		c->sub[i].r = (struct rd){ r.p, r.p, false };
		if (i < nsub && !take(&r, (size_t)sublen[i]))
			goto damaged;
		c->sub[i].r.end = r.p;
		if (i < nsub && packed[i] && clp_sub_packed(b->count, &c->sub[i]) < 0)
			goto damaged;
	}
	if (r.bad || r.p != r.end)
		goto damaged;
	return 0;
damaged:
	return DAMAGED(-EBADMSG, b->off, "block %u: text column %.*s is damaged", bi,
		       (int)s->names[name].len, s->names[name].name);
nomem:
	return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
}

/* True when the template numbers and every variable stream were read to their ends. */
static bool clp_done(const struct clp_col *c)
{
	if (c->tr.bad || c->tr.p != c->tr.end)
		return false;
	for (unsigned i = 0; i < CLP_SUBS; i++)
		if (c->sub[i].r.bad || (c->sub[i].packed ? c->sub[i].k != c->sub[i].n
							  : c->sub[i].r.p != c->sub[i].r.end))
			return false;
	return true;
}

/*
 * Rebuilds a text column's lines (see encode_clp()); references are read from side, the
 * same rows' events holding at least the referenced fields.
 */
static int decode_clp(struct segment *s, uint32_t bi, uint32_t name, const unsigned char *raw,
		      size_t rawlen, struct arena *a, const uint32_t *map, uint32_t end,
		      struct event *evs, const struct event *side, struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	struct clp_col c;
	struct clp_sub *sub = c.sub;
	struct rd *trp = &c.tr;
	const unsigned char *bitmap;
	const struct clp_tpl *tpls;
	const struct rstr *dict;
	uint64_t ntpl, ndict, next_new = 0;
	size_t voff[CLP_BACK_MAX] = { 0 }, vlen[CLP_BACK_MAX] = { 0 };
	int id = resolve(s, name, e), rc;

	if (id < 0)
		return id;
	if ((rc = clp_open(s, bi, name, raw, rawlen, a, &c, e)) < 0)
		return rc;
	bitmap = c.bitmap;
	tpls = c.tpls;
	ntpl = c.ntpl;
	dict = c.dict;
	ndict = c.ndict;
	for (uint32_t ev = 0; ev < end; ev++) {
		const struct clp_tpl *t;
		uint64_t tid;
		uint32_t row, nvar = 0;
		struct out o = { &s->text, 0 };
		char *copy;

		if (bitmap && !(bitmap[ev / 8] & (1u << (ev % 8))))
			continue;
		tid = rdv(trp);
		if (trp->bad || tid >= ntpl)
			goto damaged;
		t = &tpls[tid];
		if (map && map[ev] == ROW_SKIP) { /* only a new dictionary entry counts */
			for (uint32_t v = 0; v < t->nvars; v++)
				if (t->kinds[v] != CLP_DICT)
					clp_skip(&sub[t->stream[v]]);
				else if (!clp_next(&sub[t->stream[v]]))
					next_new++;
			continue;
		}
		row = map ? map[ev] : ev;
		buf_reset(&s->text);
		for (uint32_t k = 0; k < t->nops; k++) {
			const struct clp_op *op = &t->ops[k];

			tput(&s->text, t->p + op->off, op->len, &o.err);
			if (op->kind == CLP_REF) {
				if (clp_ref_text(s, &side[row], (int)op->arg, s->names[op->name].type, &o) < 0)
					return DAMAGED(-EBADMSG, b->off, "block %u: event %u: text refers to "
						       "a value of %.*s that is not there (damaged file)",
						       bi, ev, (int)s->names[op->name].len,
						       s->names[op->name].name);
			} else if (op->kind == CLP_BACK) {
				uint32_t j = op->arg;

				if (buf_grow(&s->text, vlen[j]) < 0)
					o.err = -ENOSPC;
				else
					tput(&s->text, s->text.p + voff[j], vlen[j], &o.err);
			} else if (op->kind) {
				struct clp_sub *sr = &sub[t->stream[nvar]];
				uint64_t v = clp_next(sr);
				size_t at = s->text.len;

				if (sr->r.bad)
					goto damaged;
				if (op->kind == CLP_INT) {
					char num[24];

					tput(&s->text, num, fmt_i64(num, varint_unzigzag(v)), &o.err);
				} else {
					v = v ? v - 1 : next_new++; /* clp_dict_code() */
					if (v >= ndict)
						goto damaged;
					tput(&s->text, dict[v].p, dict[v].len, &o.err);
				}
				if (nvar < CLP_BACK_MAX) {
					voff[nvar] = at;
					vlen[nvar] = s->text.len - at;
				}
				nvar++;
			}
		}
		if (o.err)
			return err_set(e, o.err, "%s: block %u: event %u: %.*s: line too long",
				       s->path, bi, ev, (int)s->names[name].len, s->names[name].name);
		copy = arena_alloc(a, s->text.len + 1);
		if (!copy)
			goto nomem;
		if (s->text.len)
			memcpy(copy, s->text.p, s->text.len);
		copy[s->text.len] = '\0';
		rc = event_set_str(&evs[row], (unsigned)id, copy, s->text.len);
		if (rc < 0)
			return err_set(e, rc, "%s: block %u: event %u: %.*s: %s", s->path, bi, ev,
				       (int)s->names[name].len, s->names[name].name, strerror(-rc));
	}
	if (end == b->count && !clp_done(&c))
		goto damaged;
	return 0;
damaged:
	return DAMAGED(-EBADMSG, b->off, "block %u: text column %.*s is damaged", bi,
		       (int)s->names[name].len, s->names[name].name);
nomem:
	return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
}

static int decode_rows(struct segment *s, uint32_t bi, const unsigned char *raw, size_t rawlen,
		       const uint8_t *want, const uint32_t *map, uint32_t end, struct event *evs,
		       struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	struct rd r = { raw, raw + rawlen, false };

	for (uint32_t ev = 0; ev < end && !r.bad; ev++) {
		uint64_t nv = rdv(&r);

		if (nv > EVENT_MAX_VALUES) {
			r.bad = true;
			break;
		}
		for (uint64_t j = 0; j < nv && !r.bad; j++) {
			uint64_t name = rdv(&r), l = 0;
			const char *p = NULL;
			const unsigned char *ip = NULL;
			int64_t iv = 0;
			unsigned type;
			int id, rc;

			if (r.bad || name >= s->nnames) {
				r.bad = true;
				break;
			}
			type = s->names[name].type;
			if (type == FT_STR) {
				l = rdv(&r);
				if (l > rawlen) {
					r.bad = true;
					break;
				}
				p = (const char *)take(&r, (size_t)l);
			} else if (type == FT_IP) {
				ip = take(&r, 16);
			} else {
				iv = varint_unzigzag(rdv(&r));
			}
			if (r.bad)
				break;
			if ((want && !want[name]) || (map && map[ev] == ROW_SKIP))
				continue;
			id = resolve(s, (uint32_t)name, e);
			if (id < 0)
				return id;
			rc = set_value(&evs[map ? map[ev] : ev], (unsigned)id, type, true, p ? p : "",
				       (size_t)l, iv, ip);
			if (rc < 0)
				return err_set(e, rc, "%s: block %u: event %u: %.*s: %s", s->path, bi,
					       ev, (int)s->names[name].len, s->names[name].name,
					       strerror(-rc));
		}
	}
	if (r.bad || (end == b->count && r.p != r.end))
		return DAMAGED(-EBADMSG, b->off, "block %u: row area is damaged", bi);
	return 0;
}

/* Chunk bytes of the block's payload (in s->scratch) decompressed into the arena. */
static int chunk_raw(struct segment *s, uint32_t bi, const unsigned char *p, uint32_t stored,
		     uint32_t rawlen, bool z, struct arena *a, const unsigned char **out,
		     struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	unsigned char *dst;

	if (rawlen > CHUNK_RAW_MAX || (!z && stored != rawlen))
		return DAMAGED(-EBADMSG, b->off, "block %u: chunk sizes are damaged", bi);
	dst = arena_alloc(a, (size_t)rawlen + 1);
	if (!dst)
		return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
	*out = dst;
	if (z) {
		uint64_t off = (uint64_t)(p - s->scratch);
		size_t n;

		for (uint32_t i = 0; i < s->zc_n; i++)
			if (s->zc_ent[i].off == off && s->zc_ent[i].len == rawlen) {
				memcpy(dst, s->zc.p + s->zc_ent[i].at, rawlen);
				return 0;
			}
		n = ZSTD_decompressDCtx(s->dctx, dst, rawlen, p, stored);
		if (ZSTD_isError(n) || n != rawlen)
			return DAMAGED(-EBADMSG, b->off, "block %u: a chunk does not decompress", bi);
	} else if (rawlen) {
		memcpy(dst, p, rawlen);
	}
	return 0;
}

/*
 * chunk_raw(), and the chunk kept decompressed (when there is room) for the next read of
 * the same block: its copy is cheaper than decompressing it again.
 */
static int chunk_raw_keep(struct segment *s, uint32_t bi, const unsigned char *p,
			  uint32_t stored, uint32_t rawlen, bool z, struct arena *a,
			  const unsigned char **out, struct err *e)
{
	int rc = chunk_raw(s, bi, p, stored, rawlen, z, a, out, e);

	if (rc < 0 || !z || s->zc_n == ZC_CHUNKS || s->scratch_block != (int64_t)bi)
		return rc;
	for (uint32_t i = 0; i < s->zc_n; i++)
		if (s->zc_ent[i].off == (uint64_t)(p - s->scratch))
			return 0;
	if (buf_add(&s->zc, *out, rawlen) < 0)
		return 0; /* no room: the read decompresses it again */
	s->zc_ent[s->zc_n].off = (uint64_t)(p - s->scratch);
	s->zc_ent[s->zc_n].at = s->zc.len - rawlen;
	s->zc_ent[s->zc_n++].len = rawlen;
	return 0;
}

/* True when the segment has any of the fields asked for. */
static bool want_rows(const struct segment *s, const uint8_t *want)
{
	for (uint32_t i = 0; i < s->nnames; i++)
		if (want[i])
			return true;
	return false;
}

/* A block being read: its payload in s->scratch. */
struct bctx {
	struct segment *s;
	uint32_t block;
	size_t plain;
	uint32_t nchunks;
	const unsigned char *dirp;
	const uint32_t *map;
	uint32_t end;  /* events from end on are not asked for: not decoded (a row read) */
	uint32_t nout;
	struct arena *a;
};

static int decode_pass(const struct bctx *x, int pass, const uint8_t *want, struct event *evs,
		       struct err *e);

/* The events holding a text column's referenced fields: evs when it has them all. */
static int text_side(const struct bctx *x, const uint32_t *refs, uint32_t nrefs,
		     const uint8_t *want, struct event *evs, struct event **side, struct err *e)
{
	struct segment *s = x->s;
	uint8_t *want2;
	uint32_t i;
	int rc;

	*side = evs;
	for (i = 0; want && i < nrefs && want[refs[i]]; i++)
		;
	if (!want || i == nrefs)
		return 0;
	want2 = arena_alloc(x->a, s->nnames + 1);
	*side = arena_alloc(x->a, (size_t)x->nout * sizeof(**side));
	if (!want2 || !*side)
		return err_set(e, -ENOMEM, "%s: out of memory (arena full)", s->path);
	memset(want2, 0, s->nnames + 1);
	for (i = 0; i < nrefs; i++)
		want2[refs[i]] = 1;
	for (i = 0; i < x->nout; i++)
		event_init(&(*side)[i], x->a);
	if ((rc = decode_pass(x, 0, want2, *side, e)) < 0)
		return rc;
	return decode_pass(x, 1, want2, *side, e);
}

/* Pass 0: the columns but text ones; 1: the row area; 2: the text columns. */
static int decode_pass(const struct bctx *x, int pass, const uint8_t *want, struct event *evs,
		       struct err *e)
{
	struct segment *s = x->s;
	const struct rblock *b = &s->blocks[x->block];
	uint64_t data_off = 4 + (uint64_t)x->nchunks * CHUNK_DIR_BYTES;
	int rc;

	for (uint32_t c = 0; c < x->nchunks;
	     data_off += le_get32(x->dirp + c * CHUNK_DIR_BYTES + 8), c++) {
		const unsigned char *d = x->dirp + c * CHUNK_DIR_BYTES;
		uint32_t nm = le_get32(d), stored = le_get32(d + 8), rawlen = le_get32(d + 12);
		unsigned kind = d[4], enc = d[5];
		const unsigned char *raw = NULL;
		int my = kind == K_ROWS ? 1 : kind == K_TEXT ? 2 : 0;

		if (stored > x->plain - data_off || d[6] > 1 ||
		    (nm == NAME_NONE) != (kind == K_ROWS) || (nm != NAME_NONE && nm >= s->nnames))
			return DAMAGED(-EBADMSG, b->off, "block %u: chunk %u is damaged", x->block, c);
		if (my != pass || (kind != K_ROWS && want && !want[nm]) ||
		    (kind == K_ROWS && want && !want_rows(s, want)))
			continue;
		rc = chunk_raw(s, x->block, s->scratch + data_off, stored, rawlen, d[6] == 1, x->a,
			       &raw, e);
		if (rc < 0)
			return rc;
		if (kind == K_ROWS) {
			rc = decode_rows(s, x->block, raw, rawlen, want, x->map, x->end, evs, e);
		} else if (kind == K_TEXT) {
			uint32_t *refs = NULL, nrefs = 0;
			struct event *side;

			if (enc != E_CLP || s->names[nm].type != FT_STR)
				return DAMAGED(-EBADMSG, b->off, "block %u: column %.*s has a bad kind",
					       x->block, (int)s->names[nm].len, s->names[nm].name);
			if ((rc = clp_refs(s, x->block, raw, rawlen, x->a, &refs, &nrefs, e)) < 0 ||
			    (rc = text_side(x, refs, nrefs, want, evs, &side, e)) < 0)
				return rc;
			rc = decode_clp(s, x->block, nm, raw, rawlen, x->a, x->map, x->end, evs, side,
					e);
		} else {
			rc = decode_column(s, x->block, nm, kind, enc, raw, rawlen, x->a, x->map,
					   x->end, evs, e);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * The block's payload unsealed into s->scratch. The seal authenticates every byte, so the
 * checksum is only computed when it fails, to tell damage from a wrong key. A block read
 * again (the rows of a search's matches after its filter's columns) is unsealed once.
 */
static int block_payload(struct segment *s, unsigned block, size_t *plain, struct err *e)
{
	const struct rblock *b = &s->blocks[block];
	char what[48];
	int rc;

	if (s->scratch_block == (int64_t)block) {
		*plain = s->scratch_plain;
		return 0;
	}
	snprintf(what, sizeof(what), "block %u", block);
	rc = unseal(s, b->off + b->hdr_len, b->payload_len,
		    seal_id(s, ID_BLOCK, block), plain, what, e);
	if (rc == -EBADMSG && crc(s->map + b->off + b->hdr_len, b->payload_len) != b->payload_crc)
		return DAMAGED(-EBADMSG, b->off + b->hdr_len,
			       "block %u: payload checksum mismatch (damaged file)", block);
	if (rc < 0)
		return rc;
	s->scratch_block = block;
	s->scratch_plain = *plain;
	return 0;
}

/* segment_block_read() and segment_block_read_rows() (rows NULL: every row). */
static int block_read(struct segment *s, unsigned block, const uint32_t *rows, size_t nrows,
		      const unsigned *fields, size_t nfields, struct arena *a,
		      struct event **evs_out, uint32_t *n_out, struct err *e)
{
	const struct rblock *b;
	struct event *evs;
	uint32_t *map = NULL, nout;
	uint8_t *want = NULL;
	size_t plain;
	struct rd r;
	uint32_t nchunks;
	struct bctx x;
	int rc;

	*evs_out = NULL;
	*n_out = 0;
	if (block >= s->nblocks)
		return err_set(e, -ERANGE, "%s: no block %u (%u blocks)", s->path, block, s->nblocks);
	b = &s->blocks[block];
	nout = b->count;
	if (rows) {
		for (size_t i = 0; i < nrows; i++)
			if (rows[i] >= b->count || (i && rows[i] <= rows[i - 1]))
				return err_set(e, -EINVAL, "%s: block %u: row list not ascending or past "
					       "the block's %u events (row %u at %zu)", s->path, block,
					       b->count, rows[i], i);
		if (!nrows)
			return 0;
		map = arena_alloc(a, (size_t)b->count * sizeof(*map));
		if (!map)
			return err_set(e, -ENOMEM, "%s: out of memory (arena full)", s->path);
		memset(map, 0xff, (size_t)b->count * sizeof(*map));
		for (size_t i = 0; i < nrows; i++)
			map[rows[i]] = (uint32_t)i;
		nout = (uint32_t)nrows;
	}
	if ((rc = block_payload(s, block, &plain, e)) < 0)
		return rc;
	if (fields) {
		want = arena_alloc(a, s->nnames + 1);
		if (!want)
			return err_set(e, -ENOMEM, "%s: out of memory (arena full)", s->path);
		memset(want, 0, s->nnames + 1);
		for (uint32_t i = 0; i < s->nnames; i++) {
			int id = s->names[i].id >= 0 ? s->names[i].id
						     : field_lookup(s->names[i].name, s->names[i].len);

			for (size_t j = 0; id >= 0 && j < nfields; j++)
				if (fields[j] == (unsigned)id)
					want[i] = 1;
		}
	}
	evs = arena_alloc(a, nout * sizeof(*evs));
	if (!evs)
		return err_set(e, -ENOMEM, "%s: out of memory (arena full)", s->path);
	for (uint32_t i = 0; i < nout; i++)
		event_init(&evs[i], a);

	r = (struct rd){ s->scratch, s->scratch + plain, false };
	nchunks = rd32(&r);
	if (nchunks > MAX_COLUMNS + 1 || (uint64_t)nchunks * CHUNK_DIR_BYTES > plain - 4)
		return DAMAGED(-EBADMSG, b->off, "block %u: chunk directory is damaged", block);
	x = (struct bctx){ s, block, plain, nchunks, take(&r, (size_t)nchunks * CHUNK_DIR_BYTES),
			   map, rows ? rows[nrows - 1] + 1 : b->count, nout, a };
	/* Columns first, then the row area (its values follow a column's first value; read
	 * whenever it exists: any field asked for may have further values there), then the text
	 * columns, which refer to values of the others. */
	for (int pass = 0; pass < 3; pass++)
		if ((rc = decode_pass(&x, pass, want, evs, e)) < 0)
			return rc;
	*evs_out = evs;
	*n_out = nout;
	return 0;
}

int segment_block_read(struct segment *s, unsigned block, const unsigned *fields,
		       size_t nfields, struct arena *a, struct event **evs_out, uint32_t *n_out,
		       struct err *e)
{
	return block_read(s, block, NULL, 0, fields, nfields, a, evs_out, n_out, e);
}

int segment_block_read_rows(struct segment *s, unsigned block, const uint32_t *rows,
			    size_t nrows, const unsigned *fields, size_t nfields,
			    struct arena *arena, struct event **evs, uint32_t *n, struct err *e)
{
	return block_read(s, block, rows, nrows, fields, nfields, arena, evs, n, e);
}

/* zstd frame of [off, off + len), sealed under id, into out (exactly raw bytes). */
static int open_zsealed(struct segment *s, uint64_t off, uint32_t len, uint64_t id,
			unsigned char *out, uint32_t raw, const char *what, struct err *e)
{
	size_t plain, n;
	int rc = unseal(s, off, len, id, &plain, what, e);

	if (rc < 0)
		return rc;
	n = ZSTD_decompressDCtx(s->dctx, out, raw, s->scratch, plain);
	if (ZSTD_isError(n) || n != raw)
		return DAMAGED(-EBADMSG, off, "%s is damaged", what);
	return 0;
}

static int load_top(struct segment *s, struct err *e)
{
	struct rd r;
	uint64_t entries = 0;
	int rc;

	if (s->top)
		return 0;
	s->top = mem_alloc((size_t)s->top_raw + 1);
	s->dirs = mem_calloc((size_t)s->ndir + 1, sizeof(*s->dirs));
	s->dirbuf = mem_alloc(DIR_PAGE_RAW_MAX + 1);
	s->dirz = mem_alloc(DIR_PAGE_RAW_MAX + 1);
	s->dir_cur = -1;
	if (!s->top || !s->dirs || !s->dirbuf || !s->dirz) {
		rc = err_set(e, -ENOMEM, "%s: out of memory reading the index", s->path);
		goto fail;
	}
	rc = open_zsealed(s, s->top_off, s->top_len, seal_id(s, ID_TOP, 0),
			  s->top, s->top_raw, "the index", e);
	if (rc < 0)
		goto fail;
	r = (struct rd){ s->top, s->top + s->top_raw, false };
	for (uint32_t i = 0; i < s->ndir; i++) {
		struct rdir *d = &s->dirs[i];

		d->off = rd64(&r);
		d->len = rd32(&r);
		d->raw = rd32(&r);
		d->n = rd32(&r);
		d->name = rd32(&r);
		d->klen = rd32(&r);
		d->key = take(&r, d->klen);
		entries += d->n;
		if (r.bad || d->off < s->dir_lo || d->len < KEYS_SEAL_OVERHEAD ||
		    d->len > s->top_off - d->off || d->raw > DIR_PAGE_RAW_MAX || d->raw < 12 ||
		    !d->n || (uint64_t)d->n * DIR_ENTRY_BYTES + 4 > DIR_PAGE_RAW_MAX ||
		    d->name >= s->nnames) {
			rc = DAMAGED(-EBADMSG, s->top_off, "the index's entry %u is damaged", i);
			goto fail;
		}
	}
	if (r.p != r.end || entries != s->nentries) {
		rc = DAMAGED(-EBADMSG, s->top_off, "the index's entry count is damaged");
		goto fail;
	}
	return 0;
fail:
	mem_free(s->top);
	mem_free(s->dirs);
	mem_free(s->dirbuf);
	mem_free(s->dirz);
	s->top = NULL;
	s->dirs = NULL;
	s->dirbuf = NULL;
	s->dirz = NULL;
	return rc;
}

/*
 * The readers of a directory page's streams (write_index()) in rs[], r at the first: from
 * format 5 each over its own part of the page (-EBADMSG when the lengths do not fit in
 * it), before it all the one reader r, the entries' values following each other.
 */
static int dir_streams(const struct segment *s, struct rd *r, struct rd st[DIR_STREAMS],
		       struct rd *rs[DIR_STREAMS])
{
	uint32_t len[DIR_STREAMS];
	const unsigned char *p;

	for (unsigned k = 0; k < DIR_STREAMS; k++)
		rs[k] = r;
	if (s->version < 5)
		return 0;
	for (unsigned k = 0; k + 1 < DIR_STREAMS; k++)
		len[k] = rd32(r);
	if (r->bad)
		return -EBADMSG;
	p = r->p;
	for (unsigned k = 0; k < DIR_STREAMS; k++) {
		size_t left = (size_t)(r->end - p);
		size_t n = k + 1 < DIR_STREAMS ? len[k] : left;

		if (n > left)
			return -EBADMSG;
		st[k] = (struct rd){ p, p + n, false };
		rs[k] = &st[k];
		p += n;
	}
	r->p = r->end;
	return 0;
}

static bool dir_bad(struct rd *const rs[DIR_STREAMS])
{
	for (unsigned k = 0; k < DIR_STREAMS; k++)
		if (rs[k]->bad)
			return true;
	return false;
}

/*
 * Opens directory page j (write_index()) into s->dirbuf, expanded: u32 entries, then per
 * entry DIR_ENTRY_BYTES (u32 field number, key offset, key length, posting page, offset in
 * it, list length, rows), then the keys; checks every entry.
 */
static int load_dir(struct segment *s, uint32_t j, struct err *e)
{
	const struct rdir *d = &s->dirs[j];
	char what[48];
	uint32_t name = 0, page, off, klen = 0, koff = 0;
	size_t keys_at = 4 + (size_t)d->n * DIR_ENTRY_BYTES, kpos = keys_at;
	struct rd r, st[DIR_STREAMS], *rs[DIR_STREAMS];
	int rc;

	if (s->dir_cur == (int)j)
		return 0;
	s->dir_cur = -1;
	snprintf(what, sizeof(what), "index directory page %u", j);
	rc = open_zsealed(s, d->off, d->len, seal_id(s, ID_DIR, j),
			  s->dirz, d->raw, what, e);
	if (rc < 0)
		return rc;
	r = (struct rd){ s->dirz, s->dirz + d->raw, false };
	if (rd32(&r) != d->n)
		return DAMAGED(-EBADMSG, d->off, "%s is damaged", what);
	page = rd32(&r);
	off = rd32(&r);
	if (dir_streams(s, &r, st, rs) < 0)
		return DAMAGED(-EBADMSG, d->off, "%s is damaged", what);
	le_put32(s->dirbuf, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		unsigned char *ent = s->dirbuf + 4 + (size_t)i * DIR_ENTRY_BYTES;
		uint64_t dn = rdv(rs[DS_NAME]), shared = rdv(rs[DS_SHARED]), rest = 0, delta = 0;
		uint64_t len, count;
		const unsigned char *kp = NULL;
		bool by_delta = s->version >= 4 && (shared & 1); /* write_index() */

		if (by_delta) {
			delta = rdv(rs[DS_KEY]);
			shared = 8;
			rest = 8;
		} else {
			if (s->version >= 4)
				shared >>= 1;
			rest = rdv(rs[DS_KEY]);
		}
		if (dir_bad(rs) || (dn && shared) || dn >= s->nnames || name + dn >= s->nnames ||
		    shared > klen || (i == 0 && shared) || shared + rest > INDEX_KEY_MAX ||
		    kpos + shared + rest > DIR_PAGE_RAW_MAX || (by_delta && (klen != 16 || !delta)) ||
		    (!by_delta && !(kp = take(rs[DS_KEY], (size_t)rest))))
			return DAMAGED(-EBADMSG, d->off, "%s: entry %u is damaged", what, i);
		name += (uint32_t)dn;
		memmove(s->dirbuf + kpos, s->dirbuf + koff, (size_t)shared);
		if (by_delta)
			be_put64(s->dirbuf + kpos + 8, be_get64(s->dirbuf + koff + 8) + delta);
		else
			memcpy(s->dirbuf + kpos + shared, kp, (size_t)rest);
		koff = (uint32_t)kpos;
		klen = (uint32_t)(shared + rest);
		kpos += klen;
		len = rdv(rs[DS_LEN]);
		count = rdv(rs[DS_COUNT]);
		if (dir_bad(rs) || page >= s->npages || len > s->pages[page].raw ||
		    off > s->pages[page].raw - len || !count || count > len)
			return DAMAGED(-EBADMSG, d->off, "%s: entry %u is damaged", what, i);
		le_put32(ent, name);
		le_put32(ent + 4, koff - (uint32_t)keys_at);
		le_put32(ent + 8, klen);
		le_put32(ent + 12, page);
		le_put32(ent + 16, off);
		le_put32(ent + 20, (uint32_t)len);
		le_put32(ent + 24, (uint32_t)count);
		off += (uint32_t)len;
		if (off == s->pages[page].raw) {
			page++;
			off = 0;
		}
	}
	for (unsigned k = 0; k < DIR_STREAMS; k++)
		if (rs[k]->p != rs[k]->end)
			return DAMAGED(-EBADMSG, d->off, "%s is damaged", what);
	s->dir_cur = (int)j;
	s->dir_n = d->n;
	return 0;
}

static int key_cmp(uint32_t an, const unsigned char *ak, size_t al, uint32_t bn, const void *bk,
		   size_t bl)
{
	int c;

	if (an != bn)
		return an < bn ? -1 : 1;
	c = memcmp(ak, bk, MIN(al, bl));
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static const unsigned char *dir_entry(const struct segment *s, uint32_t i)
{
	return s->dirbuf + 4 + (size_t)i * DIR_ENTRY_BYTES;
}

/* The key of the open directory page's entry ent (its field: le_get32(ent)). */
static const unsigned char *entry_key(const struct segment *s, const unsigned char *ent)
{
	return s->dirbuf + 4 + (size_t)s->dir_n * DIR_ENTRY_BYTES + le_get32(ent + 4);
}

static int entry_cmp(const struct segment *s, const unsigned char *ent, uint32_t name,
		     const void *key, size_t len)
{
	return key_cmp(le_get32(ent), entry_key(s, ent), le_get32(ent + 8), name, key, len);
}

/* Row numbers of the index entry at ent into *rows. */
static int read_posting(struct segment *s, const unsigned char *ent, uint32_t **rows_out,
			size_t *n_out, struct err *e)
{
	uint32_t page = le_get32(ent + 12), off = le_get32(ent + 16), len = le_get32(ent + 20);
	uint32_t count = le_get32(ent + 24), *rows;
	uint64_t row = 0;
	char what[48];
	size_t plain;
	struct rd r;
	int rc;

	if (s->page_cur != (int)page) { /* open the page, or keep the one open */
		uint32_t raw = s->pages[page].raw;

		s->page_cur = -1;
		snprintf(what, sizeof(what), "index page %u", page);
		if (raw + 1 > s->pagebuf_cap) {
			unsigned char *nb = mem_realloc(s->pagebuf, raw + 1);

			if (!nb)
				return err_set(e, -ENOMEM, "%s: out of memory reading the index", s->path);
			s->pagebuf = nb;
			s->pagebuf_cap = raw + 1;
		}
		rc = open_zsealed(s, s->pages[page].off, s->pages[page].len,
				  seal_id(s, ID_PAGE, page), s->pagebuf, raw,
				  what, e);
		if (rc < 0)
			return rc;
		s->page_len = raw;
		s->page_cur = (int)page;
	}
	plain = s->page_len;
	if ((uint64_t)off + len > plain || count > len || !count)
		return DAMAGED(-EBADMSG, s->pages[page].off, "index page %u: an entry is out of range",
			       page);
	rows = mem_alloc((size_t)count * sizeof(*rows));
	if (!rows)
		return err_set(e, -ENOMEM, "%s: out of memory reading the index", s->path);
	r = (struct rd){ s->pagebuf + off, s->pagebuf + off + len, false };
	for (uint32_t i = 0; i < count; i++) {
		uint64_t d = rdv(&r);

		row = i ? row + d : d;
		if (r.bad || (i && !d) || row >= s->events) {
			r.bad = true;
			break;
		}
		rows[i] = (uint32_t)row;
	}
	if (r.bad || r.p != r.end) {
		mem_free(rows);
		return DAMAGED(-EBADMSG, s->pages[page].off, "index page %u: a posting list is damaged",
			       page);
	}
	*rows_out = rows;
	*n_out = count;
	return 0;
}

static int name_index(const struct segment *s, const char *field, size_t len)
{
	for (uint32_t i = 0; i < s->nnames; i++)
		if (s->names[i].len == len && !memcmp(s->names[i].name, field, len))
			return (int)i;
	return -1;
}

/* The rows of stored name ni's value key (klen bytes; 16 for an address) from the index. */
static int lookup_key(struct segment *s, int ni, const void *key, size_t klen, uint32_t **rows,
		      size_t *n, struct err *e)
{
	uint32_t lo = 0, hi;
	int rc;

	if ((rc = load_top(s, e)) < 0)
		return rc;
	hi = s->ndir; /* the last directory page whose first key is <= the key */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct rdir *d = &s->dirs[mid];

		if (key_cmp(d->name, d->key, d->klen, (uint32_t)ni, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	if ((rc = load_dir(s, lo - 1, e)) < 0)
		return rc;
	lo = 0;
	hi = s->dir_n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const unsigned char *ent = dir_entry(s, mid);
		int c = entry_cmp(s, ent, (uint32_t)ni, key, klen);

		if (c == 0)
			return read_posting(s, ent, rows, n, e);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int segment_lookup(struct segment *s, const char *field, const char *value, size_t len,
		   uint32_t **rows, size_t *n, struct err *e)
{
	struct ipaddr ip;
	char folded[INDEX_KEY_MAX];
	int ni;

	*rows = NULL;
	*n = 0;
	if (!segment_field_indexed(field))
		return err_set(e, -ENOTSUP, "field %s is not indexed in segments", field);
	ni = name_index(s, field, strlen(field));
	if (ni < 0)
		return 0;
	if (s->names[ni].type == FT_IP) {
		if (ipaddr_parse(&ip, value, len) < 0)
			return err_set(e, -EINVAL, "%s: \"%.*s\" is not an IP address", field,
				       (int)MIN(len, 100), value);
		return lookup_key(s, ni, ip.b, 16, rows, n, e);
	}
	if (s->names[ni].type != FT_STR) /* index_block() indexes no other values */
		return err_set(e, -ENOTSUP, "%s: a field of neither text nor addresses is not "
			       "indexed", field);
	if (s->version < INDEX_FOLDED_VERSION)
		return err_set(e, -ENOTSUP, "%s: format %u's index keys keep the values' case, "
			       "which a lookup ignores", field, s->version);
	if (len > INDEX_KEY_MAX)
		return err_set(e, -ENOTSUP, "%s: values longer than %u bytes are not indexed", field,
			       INDEX_KEY_MAX);
	ascii_lower(folded, value, len); /* index_key() */
	return lookup_key(s, ni, folded, len, rows, n, e);
}

int segment_address_blocks(struct segment *s, const struct ipaddr *addr, unsigned char *blocks,
			   struct err *e)
{
	uint32_t marked = 0;

	if (s->version < 5)
		return 1;
	memset(blocks, 0, s->nblocks);
	for (uint32_t i = 0; i < s->nnames && marked < s->nblocks; i++) {
		uint32_t *rows = NULL;
		size_t n = 0;
		int rc;

		if (s->names[i].type != FT_IP)
			continue;
		rc = lookup_key(s, (int)i, addr->b, 16, &rows, &n, e);
		for (size_t k = 0; k < n && rc == 0; k++) {
			int b = segment_row_block(s, rows[k]);

			if (b < 0)
				rc = DAMAGED(-EBADMSG, s->top_off, "the index gives row %u, past the "
					     "segment's events", rows[k]);
			else if (!blocks[b]) {
				blocks[b] = 1;
				marked++;
			}
		}
		mem_free(rows);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- verify: the clear text that skips blocks, against the values it stands for ------- */

/*
 * segment_verify()'s view of stored name i as it reads the blocks: the block's values
 * (their minimum and maximum, when the field's type has a range statistic), the block's
 * statistics of it, the segment's range and value list gathered at open, and the (value,
 * row) pairs that the index must list, as an order-free sum of their hashes.
 */
struct vname {
	uint32_t seen;                  /* 1 + the block whose values obs holds */
	uint32_t stats_of;              /* 1 + the block whose statistics stat and set are */
	const unsigned char *stat;      /* that block's first range statistic of the field's kind */
	const unsigned char *set;       /* and its first value set */
	struct seg_range obs;           /* minimum and maximum of that block's values */
	const struct seg_range *range;  /* the segment's range (s->full_stats), or NULL */
	const struct seg_values *values; /* the segment's list of its values, or NULL */
	bool indexed;                   /* the index lists its values (checked from format 6) */
	uint64_t pair_sum;              /* its pairs' hashes: the blocks' minus the index's */
	uint64_t in_blocks, in_index;   /* its pairs counted on each side */
	/* the last string value checked against the value lists and hashed for the index, in
	 * block last_of - 1: a dictionary column's values share their bytes, checked once */
	uint32_t last_of;
	const char *last;
	uint32_t last_len;
	uint64_t last_key;              /* its key_hash() */
};

/* One pair (stored name, value, row) of an event, for the index. */
struct vpair {
	uint64_t hash;
	uint32_t name;
};

struct verify {
	struct segment *s;
	struct vname *vn;
	uint32_t *by_id;      /* field id -> 1 + stored name (0: none) */
	unsigned nids;
	uint32_t *seen;       /* the stored names with values in the block, nseen of them */
	uint32_t nseen;
	uint64_t *block_sum;  /* per block, its pairs' hashes: the blocks' minus the index's */
	struct vpair *pairs;  /* one event's pairs, sorted to count each once as the index does */
	size_t pairs_cap;
	bool index;           /* check the index (format 6: folded keys, as index_key() makes) */
};

#define VERIFY_TEXT 64 /* a value in a message: an integer, a time, an address, a string's start */

static void verify_free(struct verify *v)
{
	mem_free(v->vn);
	mem_free(v->by_id);
	mem_free(v->seen);
	mem_free(v->block_sum);
	mem_free(v->pairs);
}

/* Every stored name resolved to its field id, and what verify keeps of each. */
static int verify_init(struct verify *v, struct segment *s, struct err *e)
{
	unsigned maxid = 0;

	memset(v, 0, sizeof(*v));
	v->s = s;
	v->index = s->version >= INDEX_FOLDED_VERSION;
	for (uint32_t i = 0; i < s->nnames; i++) {
		int id = resolve(s, i, e);

		if (id < 0)
			return id;
		maxid = MAX(maxid, (unsigned)id);
	}
	v->nids = maxid + 1;
	v->vn = mem_calloc(s->nnames + 1, sizeof(*v->vn));
	v->by_id = mem_calloc(v->nids, sizeof(*v->by_id));
	v->seen = mem_calloc(s->nnames + 1, sizeof(*v->seen));
	v->block_sum = mem_calloc(s->nblocks + 1, sizeof(*v->block_sum));
	if (!v->vn || !v->by_id || !v->seen || !v->block_sum)
		return err_set(e, -ENOMEM, "%s: out of memory verifying", s->path);
	for (uint32_t i = 0; i < s->nnames; i++) {
		const struct rname *n = &s->names[i];

		if (!v->by_id[n->id])
			v->by_id[n->id] = i + 1;
		v->vn[i].indexed = v->index && (n->type == FT_IP ||
						(n->type == FT_STR && is_indexed_name(n->name, n->len)));
	}
	/* the first entry of a field, as values_of() and segment_may_hold_range() find it */
	for (uint32_t j = s->nvalues; j-- > 0;)
		v->vn[s->values[j].name].values = &s->values[j];
	for (uint32_t j = s->nranges; j-- > 0;)
		v->vn[s->ranges[j].name].range = &s->ranges[j];
	return 0;
}

/* The block's first range statistic and value set of each field, as stat_of() finds them. */
static void verify_note_stats(struct verify *v, uint32_t block)
{
	const struct segment *s = v->s;
	const struct rblock *b = &s->blocks[block];

	for (uint32_t i = 0; i < b->nstats; i++) {
		const unsigned char *st = b->stats + (size_t)i * STAT_BYTES;
		uint32_t name = le_get32(st), kind = le_get32(st + 4);
		struct vname *vn = &v->vn[name];

		if (vn->stats_of != block + 1) {
			vn->stats_of = block + 1;
			vn->stat = vn->set = NULL;
		}
		if (kind == K_DICT && !vn->set)
			vn->set = st + 8;
		else if (kind && kind == range_kind(s->names[name].type) && !vn->stat)
			vn->stat = st + 8;
	}
}

/* A statistic's value (16 bytes, an integer in the first 8) of stored name as text. */
static void stat_text(const struct segment *s, uint32_t name, const unsigned char *p,
		      char out[VERIFY_TEXT])
{
	struct ipaddr a;
	int64_t i = (int64_t)le_get64(p);

	if (s->names[name].type == FT_IP) {
		memcpy(a.b, p, 16);
		ipaddr_format(&a, out);
	} else if (s->names[name].type == FT_TIME) {
		time_format_rfc3339(i, out);
	} else {
		snprintf(out, VERIFY_TEXT, "%" PRId64, i);
	}
}

/* Whether recorded range rec (a statistic's minimum and maximum) holds range obs. */
static bool range_holds(unsigned kind, const unsigned char *rec, const unsigned char *obs)
{
	return stat_cmp(kind, rec, obs) <= 0 && stat_cmp(kind, rec + 16, obs + 16) >= 0;
}

/*
 * The block's values of stored name lie outside whose ("the block's", "the segment's")
 * recorded range rec (NULL: there is none): the error names the block, the field, the
 * range and a value outside it.
 */
static int range_mismatch(const struct verify *v, uint32_t block, uint32_t name,
			  const char *whose, const unsigned char *rec, struct err *e)
{
	const struct segment *s = v->s;
	const struct vname *vn = &v->vn[name];
	const unsigned char *found = vn->obs.mm;
	char val[VERIFY_TEXT], lo[VERIFY_TEXT], hi[VERIFY_TEXT];

	if (rec && stat_cmp(vn->obs.kind, rec, found) <= 0)
		found += 16; /* the minimum is inside: the maximum is not */
	stat_text(s, name, found, val);
	if (!rec)
		return DAMAGED(-EBADMSG, s->blocks[block].off, "block %u: field %.*s: %s statistics "
			       "have no range of it, but the block holds the value %s (searches "
			       "would skip it)", block, (int)s->names[name].len, s->names[name].name,
			       whose, val);
	stat_text(s, name, rec, lo);
	stat_text(s, name, rec + 16, hi);
	return DAMAGED(-EBADMSG, s->blocks[block].off, "block %u: field %.*s: %s statistics give "
		       "the range [%s, %s], but the block holds the value %s (searches would skip "
		       "it)", block, (int)s->names[name].len, s->names[name].name, whose, lo, hi,
		       val);
}

/*
 * The block's values of stored name against the ranges that let a search skip the block
 * (segment_block_may_hold_range(): complete statistics only) and the segment
 * (segment_may_hold_range(): when all of its blocks' are complete).
 */
static int verify_range(const struct verify *v, uint32_t block, uint32_t name, struct err *e)
{
	const struct segment *s = v->s;
	const struct vname *vn = &v->vn[name];
	const unsigned char *stat = vn->stats_of == block + 1 ? vn->stat : NULL;

	if (s->blocks[block].full_stats && (!stat || !range_holds(vn->obs.kind, stat, vn->obs.mm)))
		return range_mismatch(v, block, name, "the block's", stat, e);
	if (s->full_stats && (!vn->range || !range_holds(vn->obs.kind, vn->range->mm, vn->obs.mm)))
		return range_mismatch(v, block, name, "the segment's",
				      vn->range ? vn->range->mm : NULL, e);
	return 0;
}

/* Widens stored name's range of the block's values by value val. */
static void verify_note_range(struct verify *v, uint32_t block, uint32_t name,
			      const struct event_value *val)
{
	struct vname *vn = &v->vn[name];
	unsigned kind = range_kind(v->s->names[name].type);
	unsigned char mm[32] = { 0 };

	if (kind == K_IP) {
		memcpy(mm, val->v.ip.b, 16);
		memcpy(mm + 16, val->v.ip.b, 16);
	} else {
		le_put64(mm, (uint64_t)val->v.i);
		le_put64(mm + 16, (uint64_t)val->v.i);
	}
	if (vn->seen == block + 1) {
		range_widen(&vn->obs, mm);
		return;
	}
	vn->seen = block + 1;
	vn->obs.kind = kind;
	memcpy(vn->obs.mm, mm, sizeof(mm));
	v->seen[v->nseen++] = name;
}

/* Whether string value val is the last one of its field that the block checked. */
static bool same_as_last(const struct vname *vn, uint32_t block, const struct event_value *val)
{
	return vn->last_of == block + 1 && vn->last == val->v.s && vn->last_len == val->len;
}

/* String value val of stored name is the last one checked (same_as_last()). */
static void verify_note_last(struct verify *v, uint32_t block, uint32_t name,
			     const struct event_value *val)
{
	struct vname *vn = &v->vn[name];

	vn->last_of = block + 1;
	vn->last = val->v.s;
	vn->last_len = val->len;
}

/*
 * A string value of stored name against the value lists that let a search skip the block
 * (segment_block_may_hold()) and the segment (segment_may_hold()).
 */
static int verify_value_set(const struct verify *v, uint32_t block, uint32_t name,
			    const struct event_value *val, struct err *e)
{
	const struct segment *s = v->s;
	const struct vname *vn = &v->vn[name];
	const unsigned char *set = vn->stats_of == block + 1 ? vn->set : NULL;
	const char *whose;
	uint64_t h;

	if (!set && (!vn->values || vn->values->blocks < s->nblocks))
		return 0; /* no list to check against: the common case, no hash computed */
	if (same_as_last(vn, block, val))
		return 0; /* checked (verify_note_last()) */
	h = value_hash(s->bkey, val->v.s, val->len);
	if (set && !set_holds(set, h))
		whose = "the block's";
	else if (!values_hold(s, vn->values, h))
		whose = "the segment's";
	else
		return 0;
	{
		/* a tenant's bytes, escaped: no control character reaches an operator's terminal */
		struct buf q = BUF_INIT(8 * VERIFY_TEXT);
		int rc;

		if (json_add_string(&q, val->v.s, MIN(val->len, (uint32_t)VERIFY_TEXT)) < 0 ||
		    buf_addch(&q, '\0') < 0)
			rc = err_set(e, -ENOMEM, "%s: out of memory", s->path);
		else
			rc = DAMAGED(-EBADMSG, s->blocks[block].off, "block %u: field %.*s: the "
				     "value %s is not in %s list of the field's values (searches "
				     "for it would skip it)", block, (int)s->names[name].len,
				     s->names[name].name, q.p, whose);
		buf_release(&q);
		return rc;
	}
}

static uint64_t key_hash(uint32_t name, const void *key, size_t len)
{
	return hash64(key, len, name);
}

/* A pair's hash from its key's (key_hash()) and its row: hash64()'s finish, of both. */
static uint64_t pair_hash(uint64_t key, uint64_t row)
{
	uint64_t h = key ^ (row * 0x9e3779b97f4a7c15ull);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/*
 * The index's pair of value val of stored name (indexed) in row into *pair; false for a
 * value the index leaves out (longer than INDEX_KEY_MAX). Its key as index_key() makes it.
 */
static bool pair_of(struct verify *v, uint32_t block, uint32_t name, const struct event_value *val,
		    uint64_t row, struct vpair *pair)
{
	struct vname *vn = &v->vn[name];
	char folded[INDEX_KEY_MAX];

	if (v->s->names[name].type == FT_IP) {
		pair->hash = pair_hash(key_hash(name, val->v.ip.b, 16), row);
		pair->name = name;
		return true;
	}
	if (val->len > INDEX_KEY_MAX)
		return false;
	if (!same_as_last(vn, block, val)) {
		ascii_lower(folded, val->v.s, val->len);
		vn->last_key = key_hash(name, folded, val->len);
	}
	pair->hash = pair_hash(vn->last_key, row);
	pair->name = name;
	return true;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct vpair *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Room for n pairs. */
static int pairs_reserve(struct verify *v, size_t n, struct err *e)
{
	struct vpair *p;

	if (n <= v->pairs_cap)
		return 0;
	if (!(p = mem_realloc(v->pairs, n * sizeof(*p))))
		return err_set(e, -ENOMEM, "%s: out of memory verifying", v->s->path);
	v->pairs = p;
	v->pairs_cap = n;
	return 0;
}

#define PAIRS_INSERTION 16 /* an event's pairs up to this many are sorted by insertion */

/*
 * An event's n pairs (v->pairs), each once (as posting_add() lists a row once per key),
 * added to their field's and their block's sums.
 */
static void verify_add_pairs(struct verify *v, uint32_t block, size_t n)
{
	struct vpair *p = v->pairs;

	if (n > PAIRS_INSERTION) {
		qsort(p, n, sizeof(*p), pair_cmp);
	} else {
		for (size_t k = 1; k < n; k++)
			for (size_t j = k; j && p[j].hash < p[j - 1].hash; j--) {
				struct vpair t = p[j];

				p[j] = p[j - 1];
				p[j - 1] = t;
			}
	}
	for (size_t k = 0; k < n; k++) {
		struct vname *vn = &v->vn[p[k].name];

		if (k && p[k].hash == p[k - 1].hash)
			continue;
		vn->pair_sum += p[k].hash;
		vn->in_blocks++;
		v->block_sum[block] += p[k].hash;
	}
}

/*
 * Row k's @timestamp t against the segment's time range (the footer's, which store stats
 * report) and its day (by which searches pick segments); the block's is verify_time's.
 */
static int verify_segment_time(const struct segment *s, uint32_t block, uint32_t k,
			       const struct event_value *t, struct err *e)
{
	char at[TIME_RFC3339_LEN], lo[TIME_RFC3339_LEN], hi[TIME_RFC3339_LEN];
	bool on_day = segment_day_of(t->v.i) == s->day;
	int y, m, d;

	if (on_day && s->has_time && t->v.i >= s->tmin && t->v.i <= s->tmax)
		return 0;
	time_format_rfc3339(t->v.i, at);
	if (!on_day) {
		time_civil_from_days(s->day, &y, &m, &d);
		return DAMAGED(-EBADMSG, s->blocks[block].off, "block %u: row %u has @timestamp "
			       "%s, not on the segment's day %04d-%02d-%02d (searches of its time "
			       "would not open this segment)", block, k, at, y, m, d);
	}
	if (!s->has_time)
		return DAMAGED(-EBADMSG, s->foot_off, "block %u: row %u has @timestamp %s, but the "
			       "footer says no event has one", block, k, at);
	time_format_rfc3339(s->tmin, lo);
	time_format_rfc3339(s->tmax, hi);
	return DAMAGED(-EBADMSG, s->foot_off, "block %u: row %u has @timestamp %s, outside the "
		       "footer's time range [%s, %s]", block, k, at, lo, hi);
}

/* Row k's @timestamp t against its block's time range (segment_block_overlaps()). */
static int verify_time(const struct segment *s, uint32_t block, uint32_t k,
		       const struct event_value *t, struct err *e)
{
	const struct rblock *b = &s->blocks[block];
	char at[TIME_RFC3339_LEN], lo[TIME_RFC3339_LEN], hi[TIME_RFC3339_LEN];

	if (b->has_time && t->v.i >= b->tmin && t->v.i <= b->tmax)
		return verify_segment_time(s, block, k, t, e);
	time_format_rfc3339(t->v.i, at);
	if (!b->has_time)
		return DAMAGED(-EBADMSG, b->off, "block %u: row %u has @timestamp %s, but the "
			       "block's header says no event has one (searches would skip it)",
			       block, k, at);
	time_format_rfc3339(b->tmin, lo);
	time_format_rfc3339(b->tmax, hi);
	return DAMAGED(-EBADMSG, b->off, "block %u: row %u has @timestamp %s, outside the block's "
		       "time range [%s, %s] (searches would skip it)", block, k, at, lo, hi);
}

/*
 * Row k's values against what lets a search skip its block and segment, their pairs for
 * the index into v->pairs (*npairs of them).
 */
static int verify_event(struct verify *v, uint32_t block, uint32_t k, const struct event *ev,
			size_t *npairs, struct err *e)
{
	const struct segment *s = v->s;
	uint64_t row = s->blocks[block].first_row + k;
	int rc;

	*npairs = 0;
	if ((rc = pairs_reserve(v, ev->n, e)) < 0)
		return rc;
	for (uint32_t j = 0; j < ev->n; j++) {
		const struct event_value *val = &ev->vals[j];
		uint32_t name = val->field < v->nids ? v->by_id[val->field] : 0;
		unsigned type;

		if (!name--)
			continue;
		type = s->names[name].type;
		if (val->field == FIELD_TIMESTAMP && (rc = verify_time(s, block, k, val, e)) < 0)
			return rc;
		if (range_kind(type))
			verify_note_range(v, block, name, val);
		else if (type == FT_STR && (rc = verify_value_set(v, block, name, val, e)) < 0)
			return rc;
		if (v->vn[name].indexed && pair_of(v, block, name, val, row, &v->pairs[*npairs]))
			(*npairs)++;
		if (type == FT_STR)
			verify_note_last(v, block, name, val);
	}
	return 0;
}

/*
 * A block's decoded events against what lets a search skip it: its time range, its
 * integer, time and IP statistics and value lists and the segment's, and its pairs for the
 * index (verify_index_sums()). Linear in the values and the block's statistics.
 */
static int verify_block(struct verify *v, uint32_t block, const struct event *evs, uint32_t n,
			struct err *e)
{
	int rc = 0;

	verify_note_stats(v, block);
	v->nseen = 0;
	for (uint32_t k = 0; k < n && rc == 0; k++) {
		size_t npairs;

		rc = verify_event(v, block, k, &evs[k], &npairs, e);
		if (rc == 0 && v->index)
			verify_add_pairs(v, block, npairs);
	}
	for (uint32_t j = 0; j < v->nseen && rc == 0; j++)
		rc = verify_range(v, block, v->seen[j], e);
	return rc;
}

/* An index entry's pairs taken from their field's and their block's sums. */
static void verify_note_entry(struct verify *v, const unsigned char *ent, const uint32_t *rows,
			      size_t n)
{
	const struct segment *s = v->s;
	uint32_t name = le_get32(ent);
	uint64_t kh = key_hash(name, entry_key(s, ent), le_get32(ent + 8));
	struct vname *vn = &v->vn[name];

	for (size_t k = 0; k < n; k++) {
		uint64_t h = pair_hash(kh, rows[k]);

		vn->pair_sum -= h;
		vn->in_index++;
		/* read_posting() keeps rows below the segment's events */
		v->block_sum[segment_row_block(s, rows[k])] -= h;
	}
}

/*
 * The index lists exactly the blocks' pairs: a field whose sums differ is named, with the
 * first block whose sum differs (a single pair missing or wrong shows in both).
 */
static int verify_index_sums(const struct verify *v, struct err *e)
{
	const struct segment *s = v->s;
	uint32_t name, block;

	for (name = 0; name < s->nnames; name++)
		if (v->vn[name].pair_sum || v->vn[name].in_blocks != v->vn[name].in_index)
			break;
	for (block = 0; block < s->nblocks; block++)
		if (v->block_sum[block])
			break;
	if (name == s->nnames && block == s->nblocks)
		return 0;
	if (name == s->nnames)
		return DAMAGED(-EBADMSG, s->top_off, "the index does not list the values of block "
			       "%u as they are", block);
	return DAMAGED(-EBADMSG, s->top_off, "the index does not list the values of field %.*s "
		       "as the blocks hold them (%llu value and row pairs listed, %llu held; block "
		       "%u differs first): lookups would miss events or name wrong ones",
		       (int)s->names[name].len, s->names[name].name,
		       (unsigned long long)v->vn[name].in_index,
		       (unsigned long long)v->vn[name].in_blocks, block);
}

int segment_verify(struct segment *s, struct err *e)
{
	struct verify v;
	struct arena a;
	int rc = check_origin(s, e);

	if (rc < 0)
		return rc;
	arena_init(&a, 1 << 20, (size_t)1 << 31);
	rc = verify_init(&v, s, e);
	for (uint32_t i = 0; i < s->nblocks && rc == 0; i++) {
		struct event *evs;
		uint32_t n;

		rc = segment_block_read(s, i, NULL, 0, &a, &evs, &n, e);
		if (rc == 0)
			rc = verify_block(&v, i, evs, n, e);
		arena_clear(&a);
	}
	arena_release(&a);
	if (rc == 0)
		rc = load_top(s, e);
	for (uint32_t j = 0; j < s->ndir && rc == 0; j++) {
		rc = load_dir(s, j, e);
		for (uint32_t i = 0; i < s->dir_n && rc == 0; i++) {
			uint32_t *rows;
			size_t n;

			rc = read_posting(s, dir_entry(s, i), &rows, &n, e);
			if (rc == 0 && v.index)
				verify_note_entry(&v, dir_entry(s, i), rows, n);
			if (rc == 0)
				mem_free(rows);
		}
	}
	if (rc == 0 && v.index)
		rc = verify_index_sums(&v, e);
	verify_free(&v);
	return rc;
}

/* ---- text search on templates and variables ------------------------------------------ */

/* The needles' tokens, lower case, and which of them an integer's or an address's text may hold. */
struct text_toks {
	const char *t[SEGMENT_TEXT_TOKENS];
	size_t len[SEGMENT_TEXT_TOKENS];
	unsigned n;
	uint32_t all, int_mask, ip_mask;
};

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Whether h holds n (lower case), ASCII case ignored. */
static bool has_lower(const char *h, size_t hl, const char *n, size_t nl)
{
	const unsigned char *p = (const unsigned char *)h, *q = (const unsigned char *)n;

	if (nl > hl)
		return false;
	for (size_t i = 0, last = hl - nl; i <= last; i++) {
		size_t k;

		if (lower(p[i]) != q[0])
			continue;
		for (k = 1; k < nl && lower(p[i + k]) == q[k]; k++)
			;
		if (k == nl)
			return true;
	}
	return false;
}

/* The tokens of text [p, p + len) that the needles' tokens not in have lie in. */
static uint32_t toks_in(const struct text_toks *tk, const char *p, size_t len, uint32_t have)
{
	for (unsigned i = 0; i < tk->n; i++)
		if (!(have & (1u << i)) && has_lower(p, len, tk->t[i], tk->len[i]))
			have |= 1u << i;
	return have;
}

static int text_toks_init(struct text_toks *tk, const char *const *needles, const size_t *lens,
			  size_t n, struct arena *a)
{
	memset(tk, 0, sizeof(*tk));
	for (size_t i = 0; i < n; i++) {
		const char *p = needles[i], *end = p + lens[i], *tok;
		size_t len;

		while (tk->n < SEGMENT_TEXT_TOKENS && segment_token_next(&p, end, &tok, &len)) {
			char *low = arena_alloc(a, len + 1);
			bool isint = true, isip = true;
			unsigned j;

			if (!low)
				return -ENOMEM;
			for (size_t k = 0; k < len; k++) {
				unsigned char c = lower((unsigned char)tok[k]);

				low[k] = (char)c;
				isint &= (c >= '0' && c <= '9') || c == '-';
				isip &= (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' ||
					c == ':';
			}
			for (j = 0; j < tk->n && (tk->len[j] != len || memcmp(tk->t[j], low, len)); j++)
				;
			if (j < tk->n)
				continue; /* the same token twice */
			tk->t[tk->n] = low;
			tk->len[tk->n] = len;
			tk->int_mask |= isint ? 1u << tk->n : 0;
			tk->ip_mask |= isip ? 1u << tk->n : 0;
			tk->n++;
		}
	}
	tk->all = tk->n == 32 ? UINT32_MAX : (1u << tk->n) - 1;
	return 0;
}

/* Every row of the block into rows. */
static void all_rows(uint32_t count, uint32_t *rows, uint32_t *nrows)
{
	for (uint32_t i = 0; i < count; i++)
		rows[i] = i;
	*nrows = count;
}

/*
 * The tokens the referenced string values hold, per reference and row: refmask[j][row]
 * for the field slot[name] == j. A dictionary column's entries are searched once each; the
 * first value of a field kept in the row area is searched where it is. A row without the
 * value keeps every token (the filter then sees the row: such a file is damaged).
 */
struct text_refs {
	uint32_t **mask;  /* [nref][count] */
	int32_t *slot;    /* [nnames]: -1, or the reference's j */
	bool *found;      /* [nref]: its column was read */
	uint32_t nref;
};

static int refs_dict(struct segment *s, uint32_t bi, const unsigned char *raw, size_t rawlen,
		     const struct text_toks *tk, struct arena *a, uint32_t *mask, struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	struct rd r = { raw, raw + rawlen, false };
	const unsigned char *bitmap = NULL;
	uint64_t ndict, next_new = 0;
	uint32_t *dm;

	if (!rd8(&r))
		bitmap = take(&r, (b->count + 7) / 8);
	ndict = rdv(&r);
	if (r.bad || ndict > b->count)
		goto damaged;
	dm = arena_alloc(a, (size_t)(ndict + 1) * sizeof(*dm));
	if (!dm)
		return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
	for (uint64_t i = 0; i < ndict && !r.bad; i++) {
		uint64_t l = rdv(&r);
		const unsigned char *p;

		if (l > rawlen || !(p = take(&r, (size_t)l)))
			goto damaged;
		dm[i] = toks_in(tk, (const char *)p, (size_t)l, 0);
	}
	for (uint32_t ev = 0; ev < b->count && !r.bad; ev++) {
		uint64_t k;

		if (bitmap && !(bitmap[ev / 8] & (1u << (ev % 8))))
			continue;
		k = rdv(&r);
		k = k ? k - 1 : next_new++; /* put_dict_indexes() */
		if (r.bad || k >= next_new || k >= ndict)
			goto damaged;
		mask[ev] = dm[k];
	}
	if (r.bad || r.p != r.end)
		goto damaged;
	return 0;
damaged:
	return DAMAGED(-EBADMSG, b->off, "block %u: a dictionary column is damaged", bi);
}

static int refs_rows(struct segment *s, uint32_t bi, const unsigned char *raw, size_t rawlen,
		     const struct text_toks *tk, struct text_refs *tr, uint32_t *seen)
{
	const struct rblock *b = &s->blocks[bi];
	struct rd r = { raw, raw + rawlen, false };

	for (uint32_t ev = 0; ev < b->count && !r.bad; ev++) {
		uint64_t nv = rdv(&r);

		if (nv > EVENT_MAX_VALUES)
			return -EBADMSG;
		for (uint64_t j = 0; j < nv && !r.bad; j++) {
			uint64_t name = rdv(&r), l;
			unsigned type;
			const unsigned char *p;
			int32_t k;

			if (r.bad || name >= s->nnames)
				return -EBADMSG;
			type = s->names[name].type;
			if (type == FT_IP) {
				(void)take(&r, 16);
				continue;
			}
			if (type != FT_STR) {
				(void)rdv(&r);
				continue;
			}
			l = rdv(&r);
			if (l > rawlen || !(p = take(&r, (size_t)l)))
				return -EBADMSG;
			k = tr->slot[name];
			if (k < 0 || tr->found[k] || seen[k] == ev + 1)
				continue;
			seen[k] = ev + 1; /* its first value in the row */
			tr->mask[k][ev] = toks_in(tk, (const char *)p, (size_t)l, 0);
		}
	}
	return r.bad || r.p != r.end ? -EBADMSG : 0;
}

/* Fills tr for the string fields of refs[0..nrefs) from the block's chunks. */
static int refs_masks(struct segment *s, uint32_t bi, size_t plain, uint32_t nchunks,
		      const unsigned char *dirp, const uint32_t *refs, uint32_t nrefs,
		      const struct text_toks *tk, struct arena *a, struct text_refs *tr,
		      struct err *e)
{
	const struct rblock *b = &s->blocks[bi];
	uint64_t data_off = 4 + (uint64_t)nchunks * CHUNK_DIR_BYTES;
	const unsigned char *rows_raw = NULL;
	uint32_t rows_len = 0, *seen;
	bool all_found = true;
	int rc;

	memset(tr, 0, sizeof(*tr));
	tr->slot = arena_alloc(a, ((size_t)s->nnames + 1) * sizeof(*tr->slot));
	tr->mask = arena_alloc(a, ((size_t)nrefs + 1) * sizeof(*tr->mask));
	tr->found = arena_alloc(a, (size_t)nrefs + 1);
	if (!tr->slot || !tr->mask || !tr->found)
		goto nomem;
	for (uint32_t i = 0; i < s->nnames; i++)
		tr->slot[i] = -1;
	for (uint32_t i = 0; i < nrefs; i++) {
		if (s->names[refs[i]].type != FT_STR || tr->slot[refs[i]] >= 0)
			continue;
		tr->mask[tr->nref] = arena_alloc(a, (size_t)b->count * sizeof(uint32_t) + 1);
		if (!tr->mask[tr->nref])
			goto nomem;
		for (uint32_t ev = 0; ev < b->count; ev++)
			tr->mask[tr->nref][ev] = tk->all;
		tr->found[tr->nref] = false;
		tr->slot[refs[i]] = (int32_t)tr->nref++;
	}
	if (!tr->nref)
		return 0;
	for (uint32_t c = 0; c < nchunks;
	     data_off += le_get32(dirp + c * CHUNK_DIR_BYTES + 8), c++) {
		const unsigned char *d = dirp + c * CHUNK_DIR_BYTES, *raw;
		uint32_t nm = le_get32(d), stored = le_get32(d + 8), rawlen = le_get32(d + 12);
		int32_t k;

		if (stored > plain - data_off || d[6] > 1 || (nm != NAME_NONE && nm >= s->nnames))
			return DAMAGED(-EBADMSG, b->off, "block %u: chunk %u is damaged", bi, c);
		if (d[4] == K_ROWS) {
			if ((rc = chunk_raw_keep(s, bi, s->scratch + data_off, stored, rawlen, d[6] == 1, a,
					    &rows_raw, e)) < 0)
				return rc;
			rows_len = rawlen;
			continue;
		}
		if (nm == NAME_NONE || (k = tr->slot[nm]) < 0)
			continue;
		if (d[4] != K_DICT || d[5] != E_DICT)
			continue; /* not a dictionary: its rows keep every token */
		if ((rc = chunk_raw_keep(s, bi, s->scratch + data_off, stored, rawlen, d[6] == 1, a, &raw,
				    e)) < 0 ||
		    (rc = refs_dict(s, bi, raw, rawlen, tk, a, tr->mask[k], e)) < 0)
			return rc;
		tr->found[k] = true;
	}
	for (uint32_t k = 0; k < tr->nref; k++)
		all_found &= tr->found[k];
	if (all_found || !rows_raw)
		return 0;
	seen = arena_alloc(a, (size_t)tr->nref * sizeof(*seen) + 1);
	if (!seen)
		goto nomem;
	memset(seen, 0, (size_t)tr->nref * sizeof(*seen));
	if (refs_rows(s, bi, rows_raw, rows_len, tk, tr, seen) < 0)
		return DAMAGED(-EBADMSG, b->off, "block %u: row area is damaged", bi);
	return 0;
nomem:
	return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, bi);
}

/* Per template: the tokens of its text, of its integers and addresses, its string references. */
struct text_tpl {
	uint32_t mask;
	uint32_t nrefs;
	uint32_t *refs; /* text_refs slots */
};

int segment_block_text_rows(struct segment *s, unsigned block, const char *const *needles,
			    const size_t *lens, size_t n, struct arena *a, uint32_t *rows,
			    uint32_t *nrows, struct err *e)
{
	const struct rblock *b;
	struct text_toks tk;
	struct text_refs tr;
	struct text_tpl *tt;
	struct clp_col c;
	const unsigned char *dirp = NULL, *raw = NULL;
	uint32_t nchunks, tname = UINT32_MAX, *refs = NULL, nrefs = 0, *dmask;
	uint64_t data_off, next_new = 0;
	size_t plain, rawlen = 0;
	struct rd r;
	int rc;

	*nrows = 0;
	if (block >= s->nblocks)
		return err_set(e, -ERANGE, "%s: no block %u (%u blocks)", s->path, block, s->nblocks);
	b = &s->blocks[block];
	if (text_toks_init(&tk, needles, lens, n, a) < 0)
		goto nomem;
	if (!tk.n) {
		all_rows(b->count, rows, nrows);
		return 0;
	}
	if ((rc = block_payload(s, block, &plain, e)) < 0)
		return rc;
	r = (struct rd){ s->scratch, s->scratch + plain, false };
	nchunks = rd32(&r);
	if (nchunks > MAX_COLUMNS + 1 || (uint64_t)nchunks * CHUNK_DIR_BYTES > plain - 4)
		return DAMAGED(-EBADMSG, b->off, "block %u: chunk directory is damaged", block);
	dirp = take(&r, (size_t)nchunks * CHUNK_DIR_BYTES);
	data_off = 4 + (uint64_t)nchunks * CHUNK_DIR_BYTES;
	for (uint32_t k = 0; k < nchunks; data_off += le_get32(dirp + k * CHUNK_DIR_BYTES + 8), k++) {
		const unsigned char *d = dirp + k * CHUNK_DIR_BYTES;
		uint32_t nm = le_get32(d), stored = le_get32(d + 8);

		if (stored > plain - data_off || d[6] > 1 || (nm != NAME_NONE && nm >= s->nnames))
			return DAMAGED(-EBADMSG, b->off, "block %u: chunk %u is damaged", block, k);
		if (d[4] != K_TEXT || nm == NAME_NONE || s->names[nm].len != 14 ||
		    memcmp(s->names[nm].name, "event.original", 14))
			continue;
		if (d[5] != E_CLP || s->names[nm].type != FT_STR)
			return DAMAGED(-EBADMSG, b->off, "block %u: column %.*s has a bad kind", block,
				       (int)s->names[nm].len, s->names[nm].name);
		rawlen = le_get32(d + 12);
		if ((rc = chunk_raw_keep(s, block, s->scratch + data_off, stored, (uint32_t)rawlen,
				    d[6] == 1, a, &raw, e)) < 0)
			return rc;
		tname = nm;
		break;
	}
	if (tname == UINT32_MAX) { /* no event.original column: every row may hold it */
		all_rows(b->count, rows, nrows);
		return 0;
	}
	if ((rc = clp_refs(s, block, raw, rawlen, a, &refs, &nrefs, e)) < 0 ||
	    (rc = clp_open(s, block, tname, raw, rawlen, a, &c, e)) < 0 ||
	    (rc = refs_masks(s, block, plain, nchunks, dirp, refs, nrefs, &tk, a, &tr, e)) < 0)
		return rc;
	tt = arena_alloc(a, (size_t)(c.ntpl + 1) * sizeof(*tt));
	dmask = arena_alloc(a, (size_t)(c.ndict + 1) * sizeof(*dmask));
	if (!tt || !dmask)
		goto nomem;
	for (uint64_t i = 0; i < c.ntpl; i++) {
		const struct clp_tpl *t = &c.tpls[i];
		uint32_t m = 0;

		tt[i].nrefs = 0;
		tt[i].refs = arena_alloc(a, ((size_t)t->nops + 1) * sizeof(*tt[i].refs));
		if (!tt[i].refs)
			goto nomem;
		for (uint32_t k = 0; k < t->nops; k++) {
			const struct clp_op *op = &t->ops[k];
			unsigned type;

			m = toks_in(&tk, (const char *)t->p + op->off, op->len, m);
			if (op->kind == CLP_INT)
				m |= tk.int_mask;
			if (op->kind != CLP_REF)
				continue;
			type = s->names[op->name].type; /* op->name < s->nnames: clp_open() */
			if (type == FT_INT) {
				m |= tk.int_mask;
			} else if (type == FT_IP) {
				m |= tk.ip_mask;
			} else if (type == FT_STR && tr.slot[op->name] >= 0) {
				tt[i].refs[tt[i].nrefs++] = (uint32_t)tr.slot[op->name];
			} else {
				return DAMAGED(-EBADMSG, b->off, "block %u: text refers to %.*s, a field "
					       "of type %s (damaged file)", block,
					       (int)s->names[op->name].len, s->names[op->name].name,
					       type_name(type));
			}
		}
		tt[i].mask = m;
	}
	for (uint64_t i = 0; i < c.ndict; i++)
		dmask[i] = c.dict[i].p ? toks_in(&tk, c.dict[i].p, c.dict[i].len, 0) : 0;
	for (uint32_t ev = 0; ev < b->count; ev++) {
		const struct clp_tpl *t;
		const struct text_tpl *x;
		uint64_t tid;
		uint32_t m;

		if (c.bitmap && !(c.bitmap[ev / 8] & (1u << (ev % 8)))) {
			rows[(*nrows)++] = ev; /* its text is elsewhere: let the filter see it */
			continue;
		}
		tid = rdv(&c.tr);
		if (c.tr.bad || tid >= c.ntpl)
			goto damaged;
		t = &c.tpls[tid];
		x = &tt[tid];
		m = x->mask;
		for (uint32_t v = 0; v < t->nvars; v++) {
			uint64_t code;

			if (t->kinds[v] != CLP_DICT) {
				clp_skip(&c.sub[t->stream[v]]);
				continue;
			}
			code = clp_next(&c.sub[t->stream[v]]);
			code = code ? code - 1 : next_new++; /* clp_dict_code() */
			if (code >= c.ndict)
				goto damaged;
			m |= dmask[code];
		}
		for (uint32_t k = 0; k < x->nrefs && m != tk.all; k++)
			m |= tr.mask[x->refs[k]][ev];
		if (m == tk.all)
			rows[(*nrows)++] = ev;
	}
	if (!clp_done(&c))
		goto damaged;
	return 0;
damaged:
	return DAMAGED(-EBADMSG, b->off, "block %u: text column event.original is damaged", block);
nomem:
	return err_set(e, -ENOMEM, "%s: block %u: out of memory (arena full)", s->path, block);
}
