/*
 * evkeep.c - evidence copies kept with an incident, sealed with the tenant's data key
 * (soc/evkeep.h).
 *
 * A copy as stored (incident_events.sealed):
 *   "KEV1" | nonce (24) | XChaCha20-Poly1305(event; AD)
 *   AD = "koban-evkeep" | tenant id | incident id | sequence number   (each 8 bytes LE)
 * digest = BLAKE2b-256 of the event, keyed by a key derived from the data key (BLAKE2b-256
 * of the label "koban-evkeep-digest" keyed by the data key), so koban.db holds no plain
 * hash of an event.
 */
#include "soc/evkeep.h"
#include "core/compat.h"

#include <sodium.h>

#define LOG_MODULE "evkeep"
#include "core/err.h"
#include "core/le.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/keys.h"
#include "store/meta.h"
#include "store/store.h"

#define MAGIC "KEV1"
#define MAGIC_LEN 4
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HEAD_LEN (MAGIC_LEN + NONCE_LEN)
#define AD_LABEL "koban-evkeep"
#define AD_LEN (sizeof(AD_LABEL) - 1 + 3 * 8)
#define DIGEST_LABEL "koban-evkeep-digest"

_Static_assert(META_EVKEEP_DIGEST_LEN == crypto_generichash_BYTES, "digest length");

/* The tenant's data key, with the ids checked against koban.db. */
struct sealer {
	struct keys_data_key dk;
	uint64_t tenant_id;
	int64_t incident;
	const char *tenant;
	const char *json;            /* put: the event */
	size_t len;
	unsigned char *sealed;       /* put: the copy, mem_alloc'ed */
	unsigned char *plain;        /* list: one event, mem_alloc'ed (EVKEEP_EVENT_MAX) */
	int (*fn)(void *ctx, const char *json, size_t len);
	void *ctx;
	struct err *e;               /* list: the caller's */
	int64_t bad_seq;             /* list: the copy that did not open (0: none) */
	bool bad_format;             /* that copy is not in koban's format at all */
};

/* The data key of the tenant whose store id is tenant_id. */
static int open_key(struct store *st, const char *tenant, uint64_t tenant_id, struct sealer *s,
		    struct err *e)
{
	int rc;

	if ((rc = store_tenant_key(st, tenant_id, &s->dk, e)) < 0)
		return rc == -ENOENT ? err_set(e, rc, "tenant '%s' has no data key (never stored "
					       "events, or erased): no evidence copies", tenant)
				     : rc;
	return 0;
}

/* The key opened is the one of the tenant koban.db names: its id is the store's id. */
static int same_tenant(const struct sealer *s, int64_t id, struct err *e)
{
	if (id >= 0 && (uint64_t)id == s->tenant_id)
		return 0;
	return err_set(e, -EINVAL, "evidence copies: tenant id %llu is not the id of tenant '%s' "
		       "(%lld)", (unsigned long long)s->tenant_id, s->tenant, (long long)id);
}

static void close_key(struct sealer *s)
{
	sodium_memzero(&s->dk, sizeof(s->dk));
}

static void make_ad(const struct sealer *s, int64_t seq, unsigned char ad[AD_LEN])
{
	size_t n = sizeof(AD_LABEL) - 1;

	memcpy(ad, AD_LABEL, n);
	le_put64(ad + n, s->tenant_id);
	le_put64(ad + n + 8, (uint64_t)s->incident);
	le_put64(ad + n + 16, (uint64_t)seq);
}

static void make_digest(const struct sealer *s, unsigned char digest[META_EVKEEP_DIGEST_LEN])
{
	unsigned char key[crypto_generichash_KEYBYTES];

	crypto_generichash(key, sizeof(key), (const unsigned char *)DIGEST_LABEL,
			   sizeof(DIGEST_LABEL) - 1, s->dk.key, sizeof(s->dk.key));
	crypto_generichash(digest, META_EVKEEP_DIGEST_LEN, (const unsigned char *)s->json, s->len,
			   key, sizeof(key));
	sodium_memzero(key, sizeof(key));
}

/* meta_evkeep_add's seal: the event for the copy k. */
static int seal(void *ctx, struct meta_evkeep *k, struct err *e)
{
	struct sealer *s = ctx;
	unsigned char ad[AD_LEN];
	unsigned long long clen;
	int rc;

	if ((rc = same_tenant(s, k->tenant_id, e)) < 0)
		return rc;
	if (!(s->sealed = mem_alloc(HEAD_LEN + s->len + TAG_LEN)))
		return err_set(e, -ENOMEM, "out of memory sealing an event copy");
	memcpy(s->sealed, MAGIC, MAGIC_LEN);
	randombytes_buf(s->sealed + MAGIC_LEN, NONCE_LEN);
	make_ad(s, k->seq, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s->sealed + HEAD_LEN, &clen,
						   (const unsigned char *)s->json, s->len, ad,
						   sizeof(ad), NULL, s->sealed + MAGIC_LEN, s->dk.key);
	k->sealed = s->sealed;
	k->sealed_len = HEAD_LEN + (size_t)clen;
	return 0;
}

int evkeep_put(struct store *st, struct meta *m, const char *tenant, uint64_t tenant_id,
	       int64_t incident, const char *json, size_t len, struct err *e)
{
	struct sealer s = { .tenant_id = tenant_id, .incident = incident, .tenant = tenant,
			    .json = json, .len = len };
	unsigned char digest[META_EVKEEP_DIGEST_LEN];
	int64_t seq = 0;
	int rc;

	if (!json || !len || len > EVKEEP_EVENT_MAX)
		return err_set(e, -EMSGSIZE, "evidence copy of incident %lld: %zu bytes, expected "
			       "1-%d", (long long)incident, len, EVKEEP_EVENT_MAX);
	if ((rc = open_key(st, tenant, tenant_id, &s, e)) < 0)
		goto out;
	make_digest(&s, digest);
	rc = meta_evkeep_add(m, tenant, incident, digest, EVKEEP_EVENTS_MAX, time_now_ns(), seal,
			     &s, &seq, e);
	if (rc == 0 && seq)
		log_debug("tenant %s: incident %lld keeps event copy %lld (%zu bytes)", tenant,
			  (long long)incident, (long long)seq, len);
out:
	close_key(&s);
	mem_free(s.sealed);
	return rc;
}

/* meta_evkeep_list's callback: one copy opened and handed on. */
static int open_copy(void *ctx, const struct meta_evkeep *k)
{
	struct sealer *s = ctx;
	unsigned char ad[AD_LEN];
	unsigned long long n;
	int rc;

	if ((rc = same_tenant(s, k->tenant_id, s->e)) < 0)
		return rc;
	s->bad_seq = k->seq;
	if (k->sealed_len < HEAD_LEN + TAG_LEN || memcmp(k->sealed, MAGIC, MAGIC_LEN) ||
	    k->sealed_len - HEAD_LEN - TAG_LEN > EVKEEP_EVENT_MAX) {
		s->bad_format = true;
		return -EBADMSG;
	}
	make_ad(s, k->seq, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->plain, &n, NULL, k->sealed + HEAD_LEN,
						       k->sealed_len - HEAD_LEN, ad, sizeof(ad),
						       k->sealed + MAGIC_LEN, s->dk.key) != 0)
		return -EBADMSG;
	s->bad_seq = 0;
	return s->fn(s->ctx, (const char *)s->plain, (size_t)n);
}

int evkeep_list(struct store *st, struct meta *m, const char *tenant, uint64_t tenant_id,
		int64_t incident, int (*fn)(void *ctx, const char *json, size_t len), void *ctx,
		struct err *e)
{
	struct sealer s = { .tenant_id = tenant_id, .incident = incident, .tenant = tenant,
			    .fn = fn, .ctx = ctx, .e = e };
	int rc;

	if (!(s.plain = mem_alloc(EVKEEP_EVENT_MAX)))
		return err_set(e, -ENOMEM, "out of memory reading event copies");
	if ((rc = open_key(st, tenant, tenant_id, &s, e)) < 0)
		goto out;
	rc = meta_evkeep_list(m, tenant, incident, open_copy, &s, e);
	if (rc < 0 && s.bad_seq)
		rc = err_set(e, -EBADMSG, s.bad_format ?
			     "tenant '%s', incident %lld: event copy %lld is not in koban's format "
			     "(damaged)" :
			     "tenant '%s', incident %lld: event copy %lld does not open with the "
			     "tenant's data key (a key replaced since, or the copy was altered)",
			     tenant, (long long)incident, (long long)s.bad_seq);
out:
	close_key(&s);
	sodium_memzero(s.plain, EVKEEP_EVENT_MAX);
	mem_free(s.plain);
	return rc;
}
