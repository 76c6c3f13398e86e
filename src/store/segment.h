/*
 * segment.h - the immutable per-tenant, per-day segment file of the event store (format
 * version 6, reads 3 to 6; the layout is described for operators in docs/store.md, "Segments").
 *
 * A segment is written once by a struct segment_writer and then only read. Events go into
 * blocks of up to SEGMENT_BLOCK_EVENTS; inside a block the hot fields are stored column by
 * column (@timestamp and other times and integers delta- or dictionary-coded or as byte
 * planes, every IP field as a per-block dictionary, string fields as dictionaries,
 * event.original and message as text columns: CLP-style templates and variables, a token
 * that is another field's value of the event referenced instead of stored twice) and every
 * other value in a row area that names its field. Field NAMES are stored (a table in the
 * footer), never the process's field ids. Each chunk is zstd-compressed and the block payload is sealed with
 * the tenant's data key (keys_seal) under a block id derived from tenant, day, segment
 * number and block index, so blocks cannot be moved or swapped. In clear text, per block:
 * time range, event count, min/max of time, integer and IP fields (from format 6 over every
 * value, the row area's too, and the block says so), the value hashes of
 * string columns with at most 4 distinct values, a bloom filter over the tokens of the
 * string values (both hashed with a key derived from the data key) and checksums. Per segment: an inverted index (value -> row numbers) over the IP fields,
 * user.name, host.name, domains and file.hash.*, sealed like the blocks; from format 6 its
 * string keys are ASCII-lowercased, so that a lookup ignores case as a filter does. From
 * format 6 a MAC under another key derived from the data key authenticates all that clear
 * text (header, block headers, footer, trailer), and the seal ids hold the format's version.
 *
 * Crash safety: the writer writes DIR/.NAME.tmp, fsyncs it and renames it to DIR/NAME
 * (never replacing a file), then fsyncs DIR. A crash leaves at most a temp file, which
 * segment_name_parse() does not accept and segment_open() refuses (it has no trailer).
 *
 * Reading: segment_open() checks magic, version, header, footer and block-header checksums
 * and that the data key is the one the segment was written with, then that the clear text
 * is the writer's (format 6: the MAC; formats 3 to 5: the index's seal opens under the
 * file's version, so a newer file relabelled as older is refused), all before a block
 * header is used; a block's payload checksum and seal are checked when it is read
 * (segment_verify() checks everything). Damage is an error naming the file and the offset
 * (a failed MAC names the file), never garbage.
 *
 * Memory: a writer copies what it is given (for an event without event.original it measures
 * the raw size with event_write_json(), which takes scratch space from the event's arena).
 * Events returned by segment_block_read() and their strings live in the caller's arena
 * (a block of 4,096 firewall events takes 6 to 10 MB of it: give it large chunks, or each
 * block faults its pages in again). Row lists from segment_lookup() are the
 * caller's (mem_free). The reader maps the file read-only. segment_block_text_rows() keeps
 * the chunks it decompressed (at most 64 MiB) in the reader for the next read of the same
 * block, until another block is opened.
 *
 * Threads: a writer or a reader belongs to one thread at a time; different readers of the
 * same file may be used by different threads.
 */
#ifndef STORE_SEGMENT_H
#define STORE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fileio.h"
#include "core/ipaddr.h"
#include "store/range.h"

struct arena;
struct err;
struct event;
struct keys_data_key;
struct segment;
struct segment_writer;

#define SEGMENT_VERSION 6
#define SEGMENT_BLOCK_EVENTS 4096
#define SEGMENT_MAX_EVENTS (1u << 28) /* per segment: segment_writer_add says -EFBIG */
#define SEGMENT_NAME_MAX 64
#define SEGMENT_ZSTD_LEVEL 1 /* as small as 3 on firewall logs (docs/store.md), and faster */

/* File name of segment seq of day (days since 1970-01-01 UTC): "2026-11-30-0001.seg". */
int segment_name(char out[SEGMENT_NAME_MAX], uint32_t day, uint32_t seq);
/* 0 and (day, seq) when name is a segment's final name; -EINVAL otherwise (temp files too). */
int segment_name_parse(const char *name, uint32_t *day, uint32_t *seq);
/*
 * The day (days since 1970-01-01 UTC) whose segments hold an event of time ns (nanoseconds
 * since 1970): a search opens the segments of its time range's days only. Times before 1970
 * go to day 0.
 */
uint32_t segment_day_of(int64_t ns);
#define SEGMENT_DAY_NS (86400 * INT64_C(1000000000)) /* a day's length in nanoseconds */

/*
 * Starts segment seq of tenant's day in dir (which must exist). -EEXIST when the final
 * file already exists. Nothing appears under the final name before segment_writer_finish().
 */
int segment_writer_open(struct segment_writer **w, const char *dir, uint64_t tenant,
			uint32_t day, uint32_t seq, const struct keys_data_key *dk,
			struct err *e);
/*
 * Copies ev into the segment. Events may arrive in any time order. Adds its raw size
 * (segment_info.raw_bytes) and encodes it when its block is full. -EFBIG when the
 * segment is full (SEGMENT_MAX_EVENTS, or its index past its memory bound): finish it and
 * start the next seq. Other errors (-ENOMEM, -EIO, ...) leave the writer usable only for
 * segment_writer_free().
 */
int segment_writer_add(struct segment_writer *w, const struct event *ev, struct err *e);
/* Events added so far. */
uint64_t segment_writer_count(const struct segment_writer *w);
/*
 * A number of the caller's stored in the footer (segment_info.tag; 0 by default), e.g. the
 * sealer's generation, so that recovery can tell which segments a crash left behind.
 */
void segment_writer_set_tag(struct segment_writer *w, uint64_t tag);
/* Writes the rest, fsyncs, renames to the final name, fsyncs dir. The writer stays to be freed. */
int segment_writer_finish(struct segment_writer *w, struct err *e);
/* Frees the writer; an unfinished segment's temp file is removed. */
void segment_writer_free(struct segment_writer *w);

/*
 * Opens path, written for tenant with data key dk. A segment of another tenant, written
 * with another key (-EKEYREJECTED), or damaged (-EBADMSG, the file and offset named) is
 * refused, as is one whose clear text was changed with its checksums recomputed (-EBADMSG,
 * "segment authentication failed": format 6's MAC; a file that says 3 to 5 whose index
 * does not open under that version's seal ids).
 */
int segment_open(struct segment **s, const char *path, uint64_t tenant,
		 const struct keys_data_key *dk, struct err *e);
void segment_close(struct segment *s);

struct segment_info {
	uint64_t tenant;
	uint32_t day, seq;
	uint32_t blocks;
	uint64_t events;
	int64_t tmin, tmax;  /* @timestamp range of all events (0, 0 when none has one) */
	uint64_t file_bytes;
	uint64_t raw_bytes;  /* the events' raw size: the sum of their event.original lengths,
				or of their JSON's (event_write_json) for events without one */
	uint64_t tag;        /* segment_writer_set_tag() */
};
void segment_get_info(const struct segment *s, struct segment_info *out);

/* The opened file as fstat() saw it when segment_open() mapped it: which file a handle reads. */
struct fileio_id segment_file(const struct segment *s);
/*
 * Frees what a handle kept of its last read (the decrypted block, its decompressed chunks,
 * the rebuilt line, the posting page) when larger than keep bytes: for a handle kept open
 * between searches. The footer, block headers and index top stay.
 */
void segment_trim(struct segment *s, size_t keep);

struct segment_block_info {
	uint64_t first_row; /* row number of the block's first event in the segment */
	uint32_t count;
	int64_t tmin, tmax; /* @timestamp range; tmin > tmax when no event has one */
};
void segment_block_get_info(const struct segment *s, unsigned block, struct segment_block_info *out);

/*
 * True when the block may hold an event with @timestamp in [from, to] (ns, inclusive); a
 * block of events without @timestamp matches only the unbounded range (INT64_MIN, INT64_MAX).
 */
bool segment_block_overlaps(const struct segment *s, unsigned block, int64_t from, int64_t to);
/*
 * Min and max of an integer or time field (ints) or an IP field in the block: 1 and the
 * range, 0 when the block has no statistic of it. When segment_block_stats_complete() the
 * range covers every value of the field in the block and 0 means it has none; otherwise
 * (formats 3 to 5) it covers each event's first value only (a second related.ip is in the
 * row area, outside it), and 0 means no event's first value.
 */
int segment_block_int_range(const struct segment *s, unsigned block, const char *field,
			    int64_t *min, int64_t *max);
int segment_block_ip_range(const struct segment *s, unsigned block, const char *field,
			   struct ipaddr *min, struct ipaddr *max);
/* True when the block's integer, time and IP statistics cover every value (format 6 on). */
bool segment_block_stats_complete(const struct segment *s, unsigned block);
/*
 * Range push-down. r: a range of an integer, time or IP field (store/range.h); name is the
 * field's number
 * (segment_name_number(), once per segment; -1: the segment has no value of it). False
 * when no value of the field in the block lies in r, which only complete statistics tell
 * (the block's statistic of the field misses r, or it has none: no value); true when one
 * may, or when the block cannot tell (formats 3 to 5, or a field the segment stores as
 * another type).
 */
bool segment_block_may_hold_range(const struct segment *s, unsigned block, int name,
				  const struct value_range *r);
/*
 * The same for the whole segment, from its blocks' ranges gathered when it is opened
 * (when every block's statistics are complete): a search passes over a day whose ports or
 * addresses all miss the query's without a look at each block.
 */
bool segment_may_hold_range(const struct segment *s, int name, const struct value_range *r);

/*
 * Tokens (store/token.h): maximal runs of ASCII letters, digits, '_', bytes >= 0x80 and '.'
 * between two of those, compared without ASCII case; the bytes before *p and from end on
 * count as delimiters. Sets *tok, *len to the next token of [*p, end) and advances *p;
 * false when there is none.
 */
bool segment_token_next(const char **p, const char *end, const char **tok, size_t *len);
/*
 * False when no string value of the block (event.original included) has the token: the
 * block can be skipped. True may be a false positive (about 1%). From format 5 a text's
 * token that is the value of an address field of its event (a reference to it) is not in
 * the bloom: ask segment_address_blocks() too. In formats 3 and 4 every address field's
 * value is in the bloom as text.
 */
bool segment_block_may_contain(const struct segment *s, unsigned block, const char *token,
			       size_t len);
/*
 * The same in two steps, so that a search hashes each token once per segment rather than
 * once per block: the token's bloom hash under the segment's key (0 for a token the blooms
 * do not hold, which every block may contain: tokens of digits only, and every token in a
 * segment older than format 6, whose blooms cut words at another class), then the test of
 * one block.
 */
uint64_t segment_token_hash(const struct segment *s, const char *token, size_t len);
bool segment_block_may_contain_hash(const struct segment *s, unsigned block, uint64_t hash);

/*
 * Exact string values: a block's string column with at most 4 distinct values (and no
 * event with a second value of its field) keeps their hashes in its header. The segment's
 * number of field (-1: no event of the segment has it), once per segment; the hash of a
 * value (ASCII case ignored, as `field: value` compares); then, per block, false when the
 * field's values in the block are known and none is the value (or the segment lacks the
 * field), so a search for `event.dataset: azure.signinlogs` skips a firewall's blocks.
 */
int segment_name_number(const struct segment *s, const char *field);
uint64_t segment_value_hash(const struct segment *s, const char *value, size_t len);
bool segment_block_may_hold(const struct segment *s, unsigned block, int name, uint64_t hash);
/*
 * The same for the whole segment: false when every block lists the field's values and
 * none lists the value (the union, gathered at open, of up to 16 values), so that a search
 * skips a firewall's segment for `event.dataset: azure.signinlogs` without a look at each
 * of its blocks.
 */
bool segment_may_hold(const struct segment *s, int name, uint64_t hash);

/* True when field is covered by the inverted index (IP fields, users, hosts, domains, hashes). */
bool segment_field_indexed(const char *field);
/*
 * Row numbers (ascending, each once) of the events whose field has value, as a filter's
 * `field: value` compares: an IP field's address (value in text form), a string field's
 * whole value ignoring ASCII case. *rows is mem_alloc'ed (NULL when *n is 0). -ENOTSUP
 * (scan instead) when the field is not indexed, the value is longer than 1024 bytes (such
 * values are not in the index), or the field is a string field of a segment older than
 * format 6 (its keys kept the values' case: "Admin" would miss "admin").
 */
int segment_lookup(struct segment *s, const char *field, const char *value, size_t len,
		   uint32_t **rows, size_t *n, struct err *e);
/* Block holding row, or -ERANGE. */
int segment_row_block(const struct segment *s, uint64_t row);
/*
 * The blocks where an address field (any) holds addr, from the index: blocks[b] set to 1 or
 * 0 for each of the segment's blocks (segment_get_info's count). Returns 0, or 1 without
 * looking anything up when the segment's blooms hold its address fields' values (formats 3
 * and 4: segment_block_may_contain() alone answers), or a negative code (a damaged index).
 */
int segment_address_blocks(struct segment *s, const struct ipaddr *addr, unsigned char *blocks,
			   struct err *e);

/*
 * Decodes a block into *n events allocated from arena (strings included), whole events
 * when fields is NULL, else only the values of the nfields field ids listed. Field ids are
 * resolved from the stored names (registered when new). Errors name file and offset.
 */
int segment_block_read(struct segment *s, unsigned block, const unsigned *fields,
		       size_t nfields, struct arena *arena, struct event **evs, uint32_t *n,
		       struct err *e);
/*
 * Like segment_block_read(), but only the nrows rows listed (numbers relative to the block,
 * strictly ascending, each below the block's count): *n is nrows and (*evs)[i] is row
 * rows[i]. Only those rows' values are copied out; the block is still unsealed whole and
 * the chunks of the fields asked for decompressed. -EINVAL (with a message) for a bad list;
 * nrows 0 gives *n 0 without reading.
 */
int segment_block_read_rows(struct segment *s, unsigned block, const uint32_t *rows,
			    size_t nrows, const unsigned *fields, size_t nfields,
			    struct arena *arena, struct event **evs, uint32_t *n, struct err *e);
/*
 * The rows of the block (relative, ascending) whose event.original may contain each of the
 * n needles (ASCII case ignored), into rows[0..*nrows), which must hold the block's count:
 * a superset of the rows that do, and so of those where a needle is a full-text word or
 * phrase (whole tokens: store/match.h decides), found from the block's templates, its
 * variable dictionary and the values its lines refer to, without rebuilding a line (each
 * of a needle's tokens, segment_token_next(), lies within one template's text or one
 * variable's, where its bytes are looked for).
 * Only the first SEGMENT_TEXT_TOKENS tokens are looked for; rows without event.original in
 * the block's text column (their text is elsewhere, or they have none and a full-text
 * search looks at message) are always given, and every row when no needle has a token.
 * Decodes only the text column and the string columns its lines refer to; what it
 * allocates comes from arena. Errors name file and offset.
 */
#define SEGMENT_TEXT_TOKENS 32
int segment_block_text_rows(struct segment *s, unsigned block, const char *const *needles,
			    const size_t *lens, size_t n, struct arena *arena, uint32_t *rows,
			    uint32_t *nrows, struct err *e);
/*
 * The field ids of every field name the segment holds (registered when new) into
 * ids[0..*n), so that a reader can ask for all fields but some. -E2BIG (e not filled) when
 * there are more than max; a name stored with another type than koban knows: -EPROTO.
 */
int segment_field_ids(struct segment *s, unsigned *ids, size_t max, size_t *n, struct err *e);
/*
 * Reads every block and the index: checksums, seals, encoding, and the MAC again. Then
 * what a search skips on against the values decoded (docs/store.md, "Damage and keys"):
 * each @timestamp in its block's time range; each integer, time and IP value in its block's
 * complete statistic of the field (one must exist) and in the segment's range; each string
 * value of a listed field in its block's and the segment's list; from format 6, the index
 * listing exactly the blocks' (field, value, row) pairs. -EBADMSG naming the block and the
 * field (for a range, the range and a value outside it); nothing is repaired. Linear in the
 * values and statistics.
 */
int segment_verify(struct segment *s, struct err *e);

/*
 * For tests and the fuzz harness only (tests/fuzz/fuzz_segment.c), never on a stored file:
 * rewrites the MAC of the format 6 segment image file[0..size) for data key dk, and the
 * footer checksum after it, so that bytes changed on purpose get past segment_open()'s MAC
 * check to the parsers behind it. The image must frame as a segment (magic, version 6, a
 * good trailer, a footer whose block table and block headers parse): else -EBADMSG or
 * -EPROTO (e filled) and nothing is written. Other checksums are left as they are.
 */
int segment_mac_rewrite(unsigned char *file, size_t size, const struct keys_data_key *dk,
			struct err *e);

#endif
