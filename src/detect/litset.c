#include "detect/litset.h"
#include "core/compat.h"

#include <pthread.h>

#ifdef KOBAN_HYPERSCAN
#include <hs/hs.h>
#endif

#define LOG_MODULE "litset"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

/*
 * The portable engine is an Aho-Corasick automaton turned into a DFA. Its alphabet is
 * the byte classes of the ASCII-folded literals: every byte a literal uses (after
 * folding) is a class of its own, every other byte is class 0, so a row of the table has
 * as many entries as the literals have distinct bytes, not 256. A table entry is the row
 * offset of the next state (state * nclasses), with DFA_OUT set when that state ends
 * some literal, so the scan loop is one load and one test per byte.
 */
#define DFA_OUT 0x80000000u
#define NO_STATE UINT32_MAX
#define NO_LIT UINT32_MAX

struct lit {
	uint32_t id;
	uint32_t len;
	uint32_t next;	 /* next literal with the same folded bytes, or NO_LIT */
	uint32_t exact;	 /* offset of the bytes to confirm in set->exact, or NO_LIT (caseless) */
};

struct litset {
	enum litset_engine engine; /* PORTABLE or HYPERSCAN: what runs */
	size_t nlits;
	uint32_t id_limit;
	uint32_t *always; /* ids of the empty literals: they occur in every buffer */
	size_t nalways;

	/* portable */
	uint8_t cls[256];
	uint32_t nclasses;
	uint32_t nstates;
	uint32_t *depth;    /* per state: its length, in bytes; states are in breadth-first order */
	uint32_t *delta;    /* nstates * nclasses entries */
	uint32_t *out;      /* per state: first literal ending there, or NO_LIT */
	uint32_t *dict;     /* per state: nearest proper suffix state with literals, or NO_STATE */
	struct lit *lits;
	char *exact;	    /* the bytes of the case-sensitive literals */

#ifdef KOBAN_HYPERSCAN
	hs_database_t *db; /* NULL when every literal is empty */
	uint32_t *hs_ids;  /* Hyperscan pattern index -> id */
#endif
};

struct litset_scratch {
	const struct litset *set; /* compared, never read: the set may be freed first */
	uint32_t id_limit;
	uint64_t *bits;	 /* id_limit bits */
	uint32_t *found; /* the ids recorded, each once */
	size_t nfound;
	size_t cap;
#ifdef KOBAN_HYPERSCAN
	hs_scratch_t *hs;
#endif
};

static inline uint8_t fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

static inline void record(struct litset_scratch *sc, uint32_t id)
{
	uint64_t bit = (uint64_t)1 << (id & 63);

	if (sc->bits[id >> 6] & bit)
		return;
	sc->bits[id >> 6] |= bit;
	sc->found[sc->nfound++] = id; /* cap >= distinct ids, so it always fits */
}

static int check_literals(const struct litset_literal *lits, size_t n, uint32_t *id_limit,
			  struct err *e)
{
	uint32_t limit = 0;

	if (n > LITSET_MAX_LITERALS)
		return err_set(e, -E2BIG, "literal set: %zu literals, at most %u expected", n,
			       LITSET_MAX_LITERALS);
	for (size_t i = 0; i < n; i++) {
		if (lits[i].len > LITSET_MAX_LITERAL_LEN)
			return err_set(e, -EINVAL,
				       "literal set: literal %zu: %zu bytes, at most %u expected",
				       i, lits[i].len, LITSET_MAX_LITERAL_LEN);
		if (lits[i].len && !lits[i].bytes)
			return err_set(e, -EINVAL, "literal set: literal %zu: no bytes", i);
		if (lits[i].id >= LITSET_MAX_IDS)
			return err_set(e, -EINVAL,
				       "literal set: literal %zu: id %u, below %u expected", i,
				       lits[i].id, LITSET_MAX_IDS);
		if (lits[i].flags & ~LITSET_CASELESS)
			return err_set(e, -EINVAL,
				       "literal set: literal %zu: flags 0x%x, only LITSET_CASELESS "
				       "(0x%x) expected",
				       i, lits[i].flags, LITSET_CASELESS);
		limit = MAX(limit, lits[i].id + 1);
	}
	*id_limit = limit;
	return 0;
}

static int collect_always(struct litset *set, const struct litset_literal *lits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		set->nalways += !lits[i].len;
	if (!set->nalways)
		return 0;
	set->always = mem_alloc(set->nalways * sizeof(*set->always));
	if (!set->always)
		return -ENOMEM;
	set->nalways = 0;
	for (size_t i = 0; i < n; i++)
		if (!lits[i].len)
			set->always[set->nalways++] = lits[i].id;
	return 0;
}

/* ---- the portable engine ---- */

static void build_classes(struct litset *set, const struct litset_literal *lits, size_t n)
{
	uint8_t used[256] = { 0 };

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < lits[i].len; j++)
			used[fold((uint8_t)lits[i].bytes[j])] = 1;
	set->nclasses = 1; /* class 0: every byte no literal uses */
	for (unsigned c = 0; c < 256; c++)
		if (used[c])
			used[c] = (uint8_t)set->nclasses++;
	for (unsigned c = 0; c < 256; c++)
		set->cls[c] = used[fold((uint8_t)c)];
}

/* One more state with an empty row; its index in *state. */
static int add_state(struct litset *set, uint32_t *cap, uint32_t *state, struct err *e)
{
	if (set->nstates == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 64;
		size_t bytes = (size_t)ncap * set->nclasses * sizeof(*set->delta);
		uint32_t *delta, *out;

		if (bytes > LITSET_MAX_DFA_BYTES) {
			ncap = (uint32_t)(LITSET_MAX_DFA_BYTES / sizeof(*set->delta) / set->nclasses);
			if (ncap <= *cap)
				return err_set(e, -E2BIG,
					       "literal set: the automaton needs more than %zu MiB "
					       "(%u states of %u classes); fewer or shorter literals "
					       "expected",
					       LITSET_MAX_DFA_BYTES >> 20, set->nstates, set->nclasses);
			bytes = (size_t)ncap * set->nclasses * sizeof(*set->delta);
		}
		delta = mem_realloc(set->delta, bytes);
		if (!delta)
			goto nomem;
		set->delta = delta;
		out = mem_realloc(set->out, (size_t)ncap * sizeof(*set->out));
		if (!out)
			goto nomem;
		set->out = out;
		*cap = ncap;
	}
	memset(set->delta + (size_t)set->nstates * set->nclasses, 0,
	       set->nclasses * sizeof(*set->delta));
	set->out[set->nstates] = NO_LIT;
	*state = set->nstates++;
	return 0;
nomem:
	return err_set(e, -ENOMEM, "literal set: out of memory for %u states", *cap);
}

/* The trie of the folded literals: row entries are child states, 0 for none. */
static int build_trie(struct litset *set, const struct litset_literal *lits, size_t n,
		      struct err *e)
{
	uint32_t cap = 0, root, exact_len = 0;
	int rc;

	rc = add_state(set, &cap, &root, e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct lit *l = &set->lits[i];
		uint32_t s = root;

		l->id = lits[i].id;
		l->len = (uint32_t)lits[i].len;
		l->exact = NO_LIT;
		l->next = NO_LIT;
		if (!l->len)
			continue;
		if (!(lits[i].flags & LITSET_CASELESS)) {
			memcpy(set->exact + exact_len, lits[i].bytes, l->len);
			l->exact = exact_len;
			exact_len += l->len;
		}
		for (size_t j = 0; j < l->len; j++) {
			/* an index, not a pointer: add_state may move the table */
			size_t at = (size_t)s * set->nclasses + set->cls[(uint8_t)lits[i].bytes[j]];

			if (!set->delta[at]) {
				uint32_t t;

				rc = add_state(set, &cap, &t, e);
				if (rc < 0)
					return rc;
				set->delta[at] = t;
			}
			s = set->delta[at];
		}
		l->next = set->out[s];
		set->out[s] = (uint32_t)i;
	}
	return 0;
}

/*
 * The table in breadth-first order (queue[i] is the state that becomes i), with row offsets
 * and DFA_OUT: the shallow states, where a scan spends most of its time, share cache lines.
 */
static int renumber(struct litset *set, const uint32_t *queue, uint32_t *perm, struct err *e)
{
	uint32_t nc = set->nclasses, n = set->nstates;
	uint32_t *delta = mem_alloc((size_t)n * nc * sizeof(*delta));
	uint32_t *out = mem_alloc((size_t)n * sizeof(*out));
	uint32_t *dict = mem_alloc((size_t)n * sizeof(*dict));
	uint32_t *depth = mem_alloc((size_t)n * sizeof(*depth));

	if (!delta || !out || !dict || !depth) {
		mem_free(delta);
		mem_free(out);
		mem_free(dict);
		mem_free(depth);
		return err_set(e, -ENOMEM, "literal set: out of memory for %u states", n);
	}
	for (uint32_t i = 0; i < n; i++)
		perm[queue[i]] = i;
	for (uint32_t i = 0; i < n; i++) {
		out[i] = set->out[queue[i]];
		depth[i] = set->depth[queue[i]];
		dict[i] = set->dict[queue[i]] == NO_STATE ? NO_STATE : perm[set->dict[queue[i]]];
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint32_t *from = set->delta + (size_t)queue[i] * nc;

		for (uint32_t c = 0; c < nc; c++) {
			uint32_t t = perm[from[c]];

			delta[(size_t)i * nc + c] =
				t * nc | (out[t] != NO_LIT || dict[t] != NO_STATE ? DFA_OUT : 0);
		}
	}
	mem_free(set->delta);
	mem_free(set->out);
	mem_free(set->dict);
	mem_free(set->depth);
	set->delta = delta;
	set->out = out;
	set->dict = dict;
	set->depth = depth;
	return 0;
}

/*
 * Breadth first, each state's failure (its longest proper suffix in the trie) is known
 * before its row is completed: a missing edge takes the failure's transition. dict links
 * a state to the nearest suffix state that ends literals, so a match reports all of them.
 */
static int build_dfa(struct litset *set, struct err *e)
{
	uint32_t nc = set->nclasses, head = 0, tail = 0;
	uint32_t *fail = mem_alloc((size_t)set->nstates * sizeof(*fail));
	uint32_t *queue = mem_alloc((size_t)set->nstates * sizeof(*queue));
	int rc = 0;

	set->dict = mem_alloc((size_t)set->nstates * sizeof(*set->dict));
	set->depth = mem_alloc((size_t)set->nstates * sizeof(*set->depth));
	if (!fail || !queue || !set->dict || !set->depth) {
		rc = err_set(e, -ENOMEM, "literal set: out of memory for %u states", set->nstates);
		goto fail;
	}
	fail[0] = 0;
	set->dict[0] = NO_STATE;
	set->depth[0] = 0;
	queue[tail++] = 0;
	while (head < tail) {
		uint32_t s = queue[head++], *row = set->delta + (size_t)s * nc;

		for (uint32_t c = 0; c < nc; c++) {
			uint32_t t = row[c];
			uint32_t via = s ? set->delta[(size_t)fail[s] * nc + c] : 0;

			if (!t) {
				row[c] = via;
				continue;
			}
			fail[t] = via;
			set->depth[t] = set->depth[s] + 1;
			set->dict[t] = set->out[via] != NO_LIT ? via : set->dict[via];
			queue[tail++] = t;
		}
	}
	rc = renumber(set, queue, fail, e); /* fail is done with: it holds the permutation */
fail:
	mem_free(fail);
	mem_free(queue);
	return rc;
}

static int portable_new(struct litset *set, const struct litset_literal *lits, size_t n,
			struct err *e)
{
	size_t exact = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (!(lits[i].flags & LITSET_CASELESS))
			exact += lits[i].len;
	if (exact > UINT32_MAX - LITSET_MAX_LITERAL_LEN)
		return err_set(e, -E2BIG, "literal set: %zu case-sensitive bytes, at most %u "
					  "expected", exact, UINT32_MAX - LITSET_MAX_LITERAL_LEN);
	set->lits = mem_calloc(n ? n : 1, sizeof(*set->lits));
	set->exact = mem_alloc(exact ? exact : 1);
	if (!set->lits || !set->exact)
		return err_set(e, -ENOMEM, "literal set: out of memory for %zu literals", n);
	build_classes(set, lits, n);
	rc = build_trie(set, lits, n, e);
	if (rc < 0)
		return rc;
	return build_dfa(set, e);
}

/* The state of a table entry (a row offset, maybe with DFA_OUT). */
static inline uint32_t state_of(const struct litset *set, uint32_t entry)
{
	return (entry & ~DFA_OUT) / set->nclasses;
}

/* Every literal ending at byte end - 1 of p, the automaton being in state. */
static void portable_report(const struct litset *set, struct litset_scratch *sc,
			    uint32_t state, const char *p, size_t end)
{
	for (uint32_t t = state; t != NO_STATE; t = set->dict[t]) {
		for (uint32_t i = set->out[t]; i != NO_LIT; i = set->lits[i].next) {
			const struct lit *l = &set->lits[i];

			if (l->exact == NO_LIT || !memcmp(set->exact + l->exact, p + end - l->len,
							 l->len))
				record(sc, l->id);
		}
	}
}

/* One automaton over p[from, to): the state it ends in. */
static uint32_t portable_run(const struct litset *set, struct litset_scratch *sc, const char *p,
			     size_t from, size_t to, uint32_t s)
{
	const uint32_t *delta = set->delta;
	const uint8_t *cls = set->cls;

	for (size_t i = from; i < to; i++) {
		s = delta[(s & ~DFA_OUT) + cls[(uint8_t)p[i]]];
		if (s & DFA_OUT)
			portable_report(set, sc, state_of(set, s), p, i + 1);
	}
	return s;
}

/*
 * A scan is bound by the latency of one table load per byte, each depending on the last.
 * Two automata over the two halves of a buffer overlap their loads. The first goes on past
 * the middle for as long as its state is longer than what the second has read: a literal
 * that began in the first half may end there. Once it is not, both automata are in the
 * same state (the longest suffix that is a trie prefix lies in the second half) and the
 * second finds whatever the first would. A literal found twice is recorded once.
 */
static void portable_scan(const struct litset *set, struct litset_scratch *sc, const char *p,
			  size_t len)
{
	const uint32_t *delta = set->delta;
	const uint8_t *cls = set->cls;
	size_t half = len / 2, i;
	uint32_t s1 = 0, s2 = 0;

	if (len < 64) {
		portable_run(set, sc, p, 0, len, 0);
		return;
	}
	for (i = 0; i < half; i++) {
		s1 = delta[(s1 & ~DFA_OUT) + cls[(uint8_t)p[i]]];
		s2 = delta[(s2 & ~DFA_OUT) + cls[(uint8_t)p[half + i]]];
		if ((s1 | s2) & DFA_OUT) {
			if (s1 & DFA_OUT)
				portable_report(set, sc, state_of(set, s1), p, i + 1);
			if (s2 & DFA_OUT)
				portable_report(set, sc, state_of(set, s2), p, half + i + 1);
		}
	}
	portable_run(set, sc, p, 2 * half, len, s2); /* the odd last byte */
	for (i = half; i < len && set->depth[state_of(set, s1)] > i - half; i++) {
		s1 = delta[(s1 & ~DFA_OUT) + cls[(uint8_t)p[i]]];
		if (s1 & DFA_OUT)
			portable_report(set, sc, state_of(set, s1), p, i + 1);
	}
}

/* ---- Hyperscan ---- */

#ifdef KOBAN_HYPERSCAN
static pthread_once_t hs_alloc_once = PTHREAD_ONCE_INIT;
static hs_error_t hs_alloc_rc;

static void hs_use_mem(void)
{
	hs_alloc_rc = hs_set_allocator(mem_alloc, mem_free);
}

static int hs_available(void)
{
	pthread_once(&hs_alloc_once, hs_use_mem);
	return hs_alloc_rc == HS_SUCCESS && hs_valid_platform() == HS_SUCCESS;
}

static int hyperscan_new(struct litset *set, const struct litset_literal *lits, size_t n,
			 struct err *e)
{
	size_t m = n - set->nalways;
	const char **exprs = mem_calloc(m ? m : 1, sizeof(*exprs));
	size_t *lens = mem_calloc(m ? m : 1, sizeof(*lens));
	unsigned *flags = mem_calloc(m ? m : 1, sizeof(*flags));
	unsigned *ids = mem_calloc(m ? m : 1, sizeof(*ids));
	hs_compile_error_t *cerr = NULL;
	hs_error_t hrc;
	int rc = 0;

	set->hs_ids = mem_calloc(m ? m : 1, sizeof(*set->hs_ids));
	if (!exprs || !lens || !flags || !ids || !set->hs_ids) {
		rc = err_set(e, -ENOMEM, "literal set: out of memory for %zu literals", n);
		goto fail;
	}
	for (size_t i = 0, k = 0; i < n; i++) {
		if (!lits[i].len)
			continue;
		exprs[k] = lits[i].bytes;
		lens[k] = lits[i].len;
		flags[k] = HS_FLAG_SINGLEMATCH |
			   (lits[i].flags & LITSET_CASELESS ? HS_FLAG_CASELESS : 0);
		ids[k] = (unsigned)k;
		set->hs_ids[k++] = lits[i].id;
	}
	if (!m)
		goto fail; /* nothing to compile: only the empty literals, reported always */
	hrc = hs_compile_lit_multi(exprs, flags, ids, lens, (unsigned)m, HS_MODE_BLOCK, NULL,
				   &set->db, &cerr);
	/* Hyperscan reports an allocation failure as a compile error with this message */
	if (hrc == HS_NOMEM || (hrc == HS_COMPILER_ERROR && cerr &&
				strstr(cerr->message, "Unable to allocate memory")))
		rc = err_set(e, -ENOMEM, "literal set: out of memory in Hyperscan");
	else if (hrc != HS_SUCCESS)
		rc = err_set(e, -EIO, "literal set: Hyperscan refused literal %d: %s",
			     cerr ? cerr->expression : -1, cerr ? cerr->message : "no message");
fail:
	hs_free_compile_error(cerr);
	mem_free(exprs);
	mem_free(lens);
	mem_free(flags);
	mem_free(ids);
	return rc;
}

static int on_hs_match(unsigned int id, unsigned long long from, unsigned long long to,
		       unsigned int flags, void *ctx)
{
	struct litset_scratch *sc = ctx;

	record(sc, sc->set->hs_ids[id]);
	return 0;
}

static int hyperscan_scan(const struct litset *set, struct litset_scratch *sc, const char *p,
			  size_t len)
{
	hs_error_t hrc;

	if (!set->db)
		return 0;
	hrc = hs_scan(set->db, p, (unsigned)len, 0, sc->hs, on_hs_match, sc);
	if (hrc != HS_SUCCESS) {
		log_error("hs_scan failed with code %d on %zu bytes", (int)hrc, len);
		return -EIO;
	}
	return 0;
}
#else
static int hs_available(void)
{
	return 0;
}
#endif

/* ---- the set ---- */

int litset_new(struct litset **out, const struct litset_literal *lits, size_t n,
	       enum litset_engine engine, struct err *e)
{
	struct litset *set = NULL;
	uint32_t id_limit = 0;
	int rc;

	*out = NULL;
	rc = check_literals(lits, n, &id_limit, e);
	if (rc < 0)
		return rc;
	if (engine == LITSET_ENGINE_HYPERSCAN && !hs_available())
		return err_set(e, -ENOTSUP, "literal set: Hyperscan is %s",
#ifdef KOBAN_HYPERSCAN
			       "not supported by this CPU"
#else
			       "not built in (koban was built without libhs)"
#endif
		);
	set = mem_calloc(1, sizeof(*set));
	if (!set)
		return err_set(e, -ENOMEM, "literal set: out of memory");
	set->nlits = n;
	set->id_limit = id_limit;
	set->engine = engine != LITSET_ENGINE_PORTABLE && hs_available() ? LITSET_ENGINE_HYPERSCAN
									  : LITSET_ENGINE_PORTABLE;
	if (collect_always(set, lits, n) < 0) {
		rc = err_set(e, -ENOMEM, "literal set: out of memory");
		goto fail;
	}
#ifdef KOBAN_HYPERSCAN
	if (set->engine == LITSET_ENGINE_HYPERSCAN)
		rc = hyperscan_new(set, lits, n, e);
	else
#endif
		rc = portable_new(set, lits, n, e);
	if (rc < 0)
		goto fail;
	*out = set;
	return 0;
fail:
	litset_free(set);
	return rc;
}

void litset_free(struct litset *set)
{
	if (!set)
		return;
#ifdef KOBAN_HYPERSCAN
	hs_free_database(set->db);
	mem_free(set->hs_ids);
#endif
	mem_free(set->always);
	mem_free(set->delta);
	mem_free(set->out);
	mem_free(set->dict);
	mem_free(set->depth);
	mem_free(set->lits);
	mem_free(set->exact);
	mem_free(set);
}

const char *litset_engine_name(const struct litset *set)
{
	return set->engine == LITSET_ENGINE_HYPERSCAN ? "hyperscan" : "portable";
}

size_t litset_literal_count(const struct litset *set)
{
	return set->nlits;
}

uint32_t litset_id_limit(const struct litset *set)
{
	return set->id_limit;
}

size_t litset_memory(const struct litset *set)
{
	size_t bytes = sizeof(*set) + set->nalways * sizeof(*set->always);

#ifdef KOBAN_HYPERSCAN
	if (set->engine == LITSET_ENGINE_HYPERSCAN) {
		size_t db = 0;

		if (set->db && hs_database_size(set->db, &db) != HS_SUCCESS)
			db = 0;
		return bytes + db + (set->nlits - set->nalways) * sizeof(*set->hs_ids);
	}
#endif
	for (size_t i = 0; i < set->nlits; i++)
		bytes += set->lits[i].exact != NO_LIT ? set->lits[i].len : 0;
	return bytes + (size_t)set->nstates * set->nclasses * sizeof(*set->delta) +
	       (size_t)set->nstates * (sizeof(*set->out) + sizeof(*set->dict) +
				       sizeof(*set->depth)) +
	       set->nlits * sizeof(*set->lits);
}

/* ---- scratch and scans ---- */

int litset_scratch_new(struct litset_scratch **out, const struct litset *set, struct err *e)
{
	struct litset_scratch *sc = mem_calloc(1, sizeof(*sc));
	int rc;

	*out = NULL;
	if (!sc)
		return err_set(e, -ENOMEM, "literal set scratch: out of memory");
	sc->set = set;
	sc->id_limit = set->id_limit;
	/* at most one entry per distinct id, and there are at most nlits of them */
	sc->cap = MIN((size_t)set->id_limit, set->nlits);
	sc->bits = mem_calloc(((size_t)set->id_limit + 63) / 64 + 1, sizeof(*sc->bits));
	sc->found = mem_alloc((sc->cap ? sc->cap : 1) * sizeof(*sc->found));
	if (!sc->bits || !sc->found) {
		rc = err_set(e, -ENOMEM, "literal set scratch: out of memory for %u ids",
			     set->id_limit);
		goto fail;
	}
#ifdef KOBAN_HYPERSCAN
	if (set->db) {
		hs_error_t hrc = hs_alloc_scratch(set->db, &sc->hs);

		if (hrc != HS_SUCCESS) {
			rc = err_set(e, hrc == HS_NOMEM ? -ENOMEM : -ENOTSUP,
				     "literal set scratch: hs_alloc_scratch failed with code %d",
				     (int)hrc);
			goto fail;
		}
	}
#endif
	*out = sc;
	return 0;
fail:
	litset_scratch_free(sc);
	return rc;
}

void litset_scratch_free(struct litset_scratch *sc)
{
	if (!sc)
		return;
#ifdef KOBAN_HYPERSCAN
	hs_free_scratch(sc->hs);
#endif
	mem_free(sc->bits);
	mem_free(sc->found);
	mem_free(sc);
}

void litset_scratch_clear(struct litset_scratch *sc)
{
	for (size_t i = 0; i < sc->nfound; i++)
		sc->bits[sc->found[i] >> 6] = 0;
	sc->nfound = 0;
}

int litset_scan_add(const struct litset *set, struct litset_scratch *sc, const char *p,
		    size_t len)
{
	int rc = 0;

	if (sc->set != set)
		return -EINVAL;
	if (len > UINT32_MAX)
		return -EFBIG;
	for (size_t i = 0; i < set->nalways; i++)
		record(sc, set->always[i]);
#ifdef KOBAN_HYPERSCAN
	if (set->engine == LITSET_ENGINE_HYPERSCAN)
		rc = hyperscan_scan(set, sc, p, len);
	else
#endif
		portable_scan(set, sc, p, len);
	if (rc < 0)
		litset_scratch_clear(sc);
	return rc;
}

int litset_scan(const struct litset *set, struct litset_scratch *sc, const char *p, size_t len)
{
	litset_scratch_clear(sc);
	return litset_scan_add(set, sc, p, len);
}

int litset_scratch_has(const struct litset_scratch *sc, uint32_t id)
{
	if (id >= sc->id_limit)
		return 0;
	return !!(sc->bits[id >> 6] & ((uint64_t)1 << (id & 63)));
}

size_t litset_scratch_found(const struct litset_scratch *sc, const uint32_t **ids)
{
	*ids = sc->found;
	return sc->nfound;
}
