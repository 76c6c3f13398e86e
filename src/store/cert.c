#include "store/cert.h"
#include "core/compat.h"

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "store/keys.h"

#define HEADER "koban deletion certificate"

/* One line of printable text: nothing can hide in a certificate. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int add_hex(struct buf *out, const char *key, const char *alg, const unsigned char *b,
		   size_t n)
{
	char hex[2 * KEYS_SIG_BYTES + 1];

	sodium_bin2hex(hex, sizeof(hex), b, n);
	return buf_addf(out, "%s: %s:%s\n", key, alg, hex);
}

int cert_write(struct cert_info *info, struct keys *k, struct buf *out, struct err *e)
{
	unsigned char sig[KEYS_SIG_BYTES];
	char when[TIME_RFC3339_LEN];
	size_t start = out->len;
	int rc;

	if (!printable(info->tenant) || !printable(info->erased_by) || !printable(info->days))
		return err_set(e, -EINVAL, "certificate values must be printable text on one line");
	if (info->n_destroyed > CERT_MAX_KEYS || info->n_damaged > CERT_MAX_KEYS)
		return err_set(e, -EINVAL, "at most %d destroyed keys and %d damaged key files "
			       "per certificate", CERT_MAX_KEYS, CERT_MAX_KEYS);
	keys_public(k, info->signer);
	time_format_rfc3339(info->erased_at_ns, when);
	rc = buf_addf(out, HEADER "\nversion: %u\ntenant: %s\ntenant-id: %llu\nerased-at: %s\n"
		      "erased-by: %s\nevents: %llu\nbytes: %llu\nfiles: %llu\n"
		      "unreadable-segments: %llu\ndays: %s\n", info->n_damaged ? 3u : 2u,
		      info->tenant, (unsigned long long)info->tenant_id, when, info->erased_by,
		      (unsigned long long)info->events, (unsigned long long)info->bytes,
		      (unsigned long long)info->files, (unsigned long long)info->unreadable,
		      info->days);
	for (size_t i = 0; i < info->n_destroyed && !rc; i++)
		rc = add_hex(out, "destroyed-key", "blake2b-256", info->destroyed[i], 32);
	for (size_t i = 0; i < info->n_damaged && !rc; i++)
		rc = add_hex(out, "destroyed-damaged-key-file", "blake2b-256", info->damaged[i], 32);
	if (!rc)
		rc = add_hex(out, "signing-key", "ed25519", info->signer, 32);
	if (!rc) {
		keys_sign(k, out->p + start, out->len - start, sig);
		rc = add_hex(out, "signature", "ed25519", sig, sizeof(sig));
	}
	if (rc)
		return err_set(e, rc, "cannot write the certificate: %s", strerror(-rc));
	return 0;
}

/* ---- verifying ---- */

struct reader {
	const char *p, *end;
	unsigned line;
	const char *val; /* the current line's value */
	size_t val_len;
	struct err *e;
};

static int bad(struct reader *r, const char *what)
{
	return err_set(r->e, -EBADMSG, "line %u: expected %s", r->line, what);
}

/* Takes the next line if it is "key: value"; the value in r->val. */
static int take(struct reader *r, const char *key, const char *what)
{
	const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	size_t klen = strlen(key);

	r->line++;
	if (!nl || (size_t)(nl - r->p) < klen + 2 || memcmp(r->p, key, klen) ||
	    memcmp(r->p + klen, ": ", 2))
		return bad(r, what);
	r->val = r->p + klen + 2;
	r->val_len = (size_t)(nl - r->val);
	for (size_t i = 0; i < r->val_len; i++)
		if ((unsigned char)r->val[i] < 0x20 || r->val[i] == 0x7f)
			return bad(r, "printable text");
	r->p = nl + 1;
	return 0;
}

static bool peek(const struct reader *r, const char *key)
{
	size_t klen = strlen(key);

	return (size_t)(r->end - r->p) > klen && !memcmp(r->p, key, klen) && r->p[klen] == ':';
}

static int take_text(struct reader *r, const char *key, char *out, size_t size,
		     const char *what)
{
	int rc = take(r, key, what);

	if (rc)
		return rc;
	if (!r->val_len || r->val_len >= size)
		return bad(r, what);
	memcpy(out, r->val, r->val_len);
	out[r->val_len] = '\0';
	return 0;
}

static int take_number(struct reader *r, const char *key, uint64_t *v, const char *what)
{
	int rc = take(r, key, what);

	if (rc)
		return rc;
	*v = 0;
	if (!r->val_len || r->val_len > 19)
		return bad(r, what);
	for (size_t i = 0; i < r->val_len; i++) {
		if (r->val[i] < '0' || r->val[i] > '9')
			return bad(r, what);
		*v = *v * 10 + (uint64_t)(r->val[i] - '0');
	}
	return 0;
}

static int take_hex(struct reader *r, const char *key, const char *alg, unsigned char *out,
		    size_t n, const char *what)
{
	size_t alen = strlen(alg), got = 0;
	int rc = take(r, key, what);

	if (rc)
		return rc;
	if (r->val_len != alen + 1 + 2 * n || memcmp(r->val, alg, alen) || r->val[alen] != ':' ||
	    sodium_hex2bin(out, n, r->val + alen + 1, 2 * n, NULL, &got, NULL) < 0 || got != n)
		return bad(r, what);
	return 0;
}

static int take_time(struct reader *r, int64_t *ns)
{
	int rc = take(r, "erased-at", "'erased-at: TIME' (RFC 3339)");

	if (rc)
		return rc;
	if (!r->val_len || r->val[0] < '0' || r->val[0] > '9' ||
	    time_parse(r->val, r->val_len, 0, ns) < 0)
		return bad(r, "'erased-at: TIME' (RFC 3339)");
	return 0;
}

/* The lines "key: blake2b-256:HEX" that come next, at most CERT_MAX_KEYS, into out. */
static int take_hashes(struct reader *r, const char *key, unsigned char out[][32], size_t *n)
{
	char what[80], most[80];
	int rc;

	snprintf(what, sizeof(what), "'%s: blake2b-256:HEX'", key);
	snprintf(most, sizeof(most), "at most %d '%s' lines", CERT_MAX_KEYS, key);
	for (*n = 0; peek(r, key); (*n)++) {
		if (*n == CERT_MAX_KEYS)
			return bad(r, most);
		if ((rc = take_hex(r, key, "blake2b-256", out[*n], 32, what)))
			return rc;
	}
	return 0;
}

static int read_body(struct reader *r, struct cert_info *info)
{
	uint64_t version;
	int rc;

	r->line++;
	if ((size_t)(r->end - r->p) < sizeof(HEADER) || memcmp(r->p, HEADER "\n", sizeof(HEADER)))
		return bad(r, "'" HEADER "'");
	r->p += sizeof(HEADER);
	if ((rc = take_number(r, "version", &version, "'version: 1', 2 or 3")))
		return rc;
	if (version < 1 || version > 3)
		return bad(r, "'version: 1', 2 or 3 (a newer koban wrote this certificate)");
	info->version = (unsigned)version;
	if ((rc = take_text(r, "tenant", info->tenant, sizeof(info->tenant), "'tenant: NAME'")) ||
	    (rc = take_number(r, "tenant-id", &info->tenant_id, "'tenant-id: N'")) ||
	    (rc = take_time(r, &info->erased_at_ns)) ||
	    (rc = take_text(r, "erased-by", info->erased_by, sizeof(info->erased_by),
			    "'erased-by: WHO'")) ||
	    (rc = take_number(r, "events", &info->events, "'events: N'")) ||
	    (rc = take_number(r, "bytes", &info->bytes, "'bytes: N'")) ||
	    (rc = take_number(r, "files", &info->files, "'files: N'")) ||
	    (version >= 2 && (rc = take_number(r, "unreadable-segments", &info->unreadable,
					       "'unreadable-segments: N'"))) ||
	    (rc = take_text(r, "days", info->days, sizeof(info->days), "'days: RANGE'")))
		return rc;
	if ((rc = take_hashes(r, "destroyed-key", info->destroyed, &info->n_destroyed)))
		return rc;
	/* version 3 is version 2 with damaged key files, so it names at least one */
	if (version == 3 &&
	    (rc = take_hashes(r, "destroyed-damaged-key-file", info->damaged, &info->n_damaged)))
		return rc;
	if (version == 3 && !info->n_damaged) {
		r->line++; /* the line that should be one */
		return bad(r, "'destroyed-damaged-key-file: blake2b-256:HEX' (version 3)");
	}
	return take_hex(r, "signing-key", "ed25519", info->signer, 32,
			"'signing-key: ed25519:HEX'");
}

int cert_verify(const char *text, size_t len, const unsigned char *expected_pub,
		struct cert_info *info, enum cert_trust *trust, struct err *e)
{
	struct reader r = { text, text + len, 0, NULL, 0, e };
	unsigned char sig[KEYS_SIG_BYTES];
	size_t signed_len;
	int rc;

	memset(info, 0, sizeof(*info));
	if (len > CERT_MAX_BYTES)
		return err_set(e, -EBADMSG, "a certificate is at most %d bytes", CERT_MAX_BYTES);
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium could not be initialised");
	if ((rc = read_body(&r, info)))
		return rc;
	signed_len = (size_t)(r.p - text);
	if ((rc = take_hex(&r, "signature", "ed25519", sig, sizeof(sig),
			   "'signature: ed25519:HEX'")))
		return rc;
	if (r.p != r.end)
		return err_set(e, -EBADMSG, "line %u: nothing may follow the signature", r.line + 1);
	if (keys_verify(info->signer, text, signed_len, sig) < 0)
		return err_set(e, -EBADMSG, "the signature does not match: the certificate was "
				 "changed after it was signed");
	if (expected_pub && memcmp(expected_pub, info->signer, 32))
		return err_set(e, -EKEYREJECTED, "the certificate is intact but was signed by "
				 "another installation's key");
	*trust = expected_pub ? CERT_SIGNED_BY_EXPECTED : CERT_SELF_SIGNED;
	return 0;
}
