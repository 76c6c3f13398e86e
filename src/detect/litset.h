/*
 * litset.h - the multi-pattern pass: which of a set of literals occur in a buffer.
 *
 * Detection runs the literals of every rule through one scan of an event, so that most
 * rules are never evaluated on most events (issue 8, part 2). A literal set is compiled
 * once from (bytes, length, id, flags) and then scanned any number of times:
 *
 *   struct litset_literal lits[] = {
 *           { "mimikatz", 8, 0, LITSET_CASELESS },
 *           { "/etc/passwd", 11, 1, 0 },
 *   };
 *   struct litset *set;
 *   struct litset_scratch *sc;
 *
 *   if (litset_new(&set, lits, 2, LITSET_ENGINE_AUTO, &e) < 0 ||
 *       litset_scratch_new(&sc, set, &e) < 0)
 *           ...;
 *   if (litset_scan(set, sc, line, len) == 0 && litset_scratch_has(sc, 1))
 *           ...; // "/etc/passwd" occurs in line
 *
 * Matching. A literal occurs when its bytes appear anywhere in the buffer (substring,
 * overlaps included: "aa" and "aaa" both occur in "aaa"). LITSET_CASELESS folds ASCII
 * letters only (A-Z = a-z); other bytes, UTF-8 included, compare exactly. Literals are raw
 * bytes: NUL and bytes >= 0x80 are allowed. An empty literal occurs in every buffer, the
 * empty buffer too. Several literals may share an id (a rule's literals, one literal for
 * several fields): the id is reported when any of them occurs. Each id is reported once
 * per scan however often its literals occur.
 *
 * Engines. With KOBAN_HYPERSCAN defined (the Makefile defines it when libhs is installed;
 * `make HS=0` builds without it) LITSET_ENGINE_AUTO uses Hyperscan (hs_compile_lit_multi,
 * block mode, HS_FLAG_SINGLEMATCH) when the CPU supports it; otherwise, and always with
 * LITSET_ENGINE_PORTABLE, a portable Aho-Corasick automaton (a DFA over the byte classes
 * the literals use, ASCII-folded; case-sensitive literals are confirmed with a comparison
 * at each folded match). Both give the same results; tests run both.
 *
 * Memory. litset_new copies what it needs: the caller's literal array and bytes may be
 * freed once it returns. All memory goes through core/mem.h (Hyperscan's too: the first
 * litset_new points Hyperscan's allocator at mem_alloc/mem_free). Limits: at most
 * LITSET_MAX_LITERALS literals of at most LITSET_MAX_LITERAL_LEN bytes, ids below
 * LITSET_MAX_IDS, a portable automaton of at most LITSET_MAX_DFA_BYTES, buffers of at most
 * UINT32_MAX bytes per scan.
 *
 * Threads. A compiled set is read-only: any number of threads may scan it at once, each
 * with its own scratch (litset_scratch_new), which holds the ids found by its last scans.
 * A scratch belongs to one set and one thread at a time. litset_free only when no thread
 * scans the set any more; the scratches may be freed before or after it, and their results
 * (has, found, clear) stay readable after it.
 */
#ifndef DETECT_LITSET_H
#define DETECT_LITSET_H

#include <stddef.h>
#include <stdint.h>

struct err;

#define LITSET_CASELESS 1u /* literal flag: ASCII letters match in either case */

#define LITSET_MAX_LITERALS (1u << 20)
#define LITSET_MAX_LITERAL_LEN 65536u
#define LITSET_MAX_IDS (1u << 24)
#define LITSET_MAX_DFA_BYTES ((size_t)512 << 20)

struct litset_literal {
	const char *bytes; /* may be NULL when len is 0 */
	size_t len;
	uint32_t id;    /* what a scan reports; several literals may share one */
	unsigned flags; /* LITSET_CASELESS or 0 */
};

enum litset_engine {
	LITSET_ENGINE_AUTO,	 /* Hyperscan when built in and the CPU supports it */
	LITSET_ENGINE_PORTABLE,	 /* Aho-Corasick, always available */
	LITSET_ENGINE_HYPERSCAN, /* -ENOTSUP when not built in or not supported here */
};

struct litset;
struct litset_scratch;

/*
 * Compiles n literals (n may be 0) into *out. 0, or -EINVAL (a literal or id over the
 * limits, unknown flags), -E2BIG (too many literals, automaton over its maximum), -ENOTSUP
 * (Hyperscan asked for and unavailable), -ENOMEM, -EIO (Hyperscan refused the set), with e
 * filled: which literal (index) and what was expected.
 */
int litset_new(struct litset **out, const struct litset_literal *lits, size_t n,
	       enum litset_engine engine, struct err *e);
void litset_free(struct litset *set);

/* "hyperscan" or "portable": the engine litset_new chose. */
const char *litset_engine_name(const struct litset *set);
/* The literals compiled, and one more than the highest id (0 for an empty set). */
size_t litset_literal_count(const struct litset *set);
uint32_t litset_id_limit(const struct litset *set);
/* Bytes the compiled set holds (Hyperscan's database included), for memory figures. */
size_t litset_memory(const struct litset *set);

/* Scratch for one thread's scans of set: 0, -ENOMEM or -ENOTSUP (Hyperscan), e filled. */
int litset_scratch_new(struct litset_scratch **out, const struct litset *set, struct err *e);
void litset_scratch_free(struct litset_scratch *sc);

/*
 * Scans (p, len) and records in sc the ids of the literals that occur in it, forgetting
 * those of earlier scans. 0, or -EFBIG (len over UINT32_MAX), -EINVAL (sc is not set's),
 * -EIO (Hyperscan failed; logged): then sc holds no ids.
 */
int litset_scan(const struct litset *set, struct litset_scratch *sc, const char *p, size_t len);
/*
 * The same, keeping the ids already recorded: several buffers of one event (its fields)
 * scanned as one, each id still reported once. An id is not reported because a literal
 * spans two buffers.
 */
int litset_scan_add(const struct litset *set, struct litset_scratch *sc, const char *p,
		    size_t len);
/* Forgets the ids recorded (what litset_scan does first). */
void litset_scratch_clear(struct litset_scratch *sc);

/* Whether id was recorded (0 for an id over the set's limit). */
int litset_scratch_has(const struct litset_scratch *sc, uint32_t id);
/* The ids recorded, each once, in the order found; valid until the next scan or clear. */
size_t litset_scratch_found(const struct litset_scratch *sc, const uint32_t **ids);

#endif
