/*
 * cert.h - deletion certificates: signed statements that a tenant's data was destroyed.
 *
 * A certificate is plain UTF-8 text, one "key: value" per line, readable by a person and
 * checkable by a program; its last line signs every byte before it with the installation's
 * Ed25519 key (store/keys.h):
 *
 *   koban deletion certificate
 *   version: 2
 *   tenant: city-a
 *   tenant-id: 7
 *   erased-at: 2026-11-30T02:30:00Z
 *   erased-by: alice (uid 1000) on soc1
 *   events: 123456789
 *   bytes: 12345678901
 *   files: 4018
 *   unreadable-segments: 0             (segments whose events could not be counted; not in
 *                                       version 1, which verifies as well)
 *   days: 2024-04-01 .. 2026-11-29
 *   destroyed-key: blake2b-256:3f2a…   (one line per destroyed data key: the hash of its id)
 *   destroyed-damaged-key-file: blake2b-256:77c0…
 *                                      (one line per destroyed data key file that was
 *                                       damaged, its key id unreadable: the hash of the
 *                                       file's bytes; only in version 3)
 *   signing-key: ed25519:9c1e…         (the public key; give people signing.pub to compare)
 *   signature: ed25519:…                (over every byte above this line)
 *
 * cert_write() writes version 3 only when a damaged key file is named, else version 2, so
 * that a koban that knows version 2 still reads every certificate it could have written,
 * and says "a newer koban" of the others. Versions 1 to 3 verify.
 *
 * cert_verify() checks the signature and the layout, and with an expected public key (from
 * the installation's signing.pub) that the certificate was made by that installation. Without
 * one it checks only against the certificate's own embedded key (CERT_SELF_SIGNED): that
 * proves integrity, not origin, since anyone can sign with a key of their own, so `koban cert
 * verify` never reports such a certificate as valid. Values are restricted to printable
 * text on one line, so that nothing can be hidden in a certificate.
 *
 * Threads: any. Memory: the caller's buffers; nothing is kept.
 */
#ifndef STORE_CERT_H
#define STORE_CERT_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct keys;

#define CERT_MAX_KEYS 64
#define CERT_MAX_BYTES 65536

struct cert_info {
	unsigned version;      /* cert_verify: the certificate's (cert_write writes 2, or 3
				  with n_damaged) */
	char tenant[64];
	uint64_t tenant_id;
	int64_t erased_at_ns;
	char erased_by[256];   /* who and where, e.g. "alice (uid 1000) on soc1" */
	uint64_t events, bytes, files;
	uint64_t unreadable;   /* segments whose events could not be counted */
	char days[64];         /* "2024-04-01 .. 2026-11-29", or "none" */
	unsigned char destroyed[CERT_MAX_KEYS][32]; /* BLAKE2b-256 of each key id */
	size_t n_destroyed;
	unsigned char damaged[CERT_MAX_KEYS][32];   /* BLAKE2b-256 of each destroyed key file
						       that was damaged (its id unreadable) */
	size_t n_damaged;
	unsigned char signer[32];
};

/* Writes the signed certificate of info into out (info->signer is set from k). */
int cert_write(struct cert_info *info, struct keys *k, struct buf *out, struct err *e);

enum cert_trust {
	CERT_SIGNED_BY_EXPECTED, /* matches the expected installation key */
	CERT_SELF_SIGNED,        /* no expected key given: intact, origin not checked */
};

/*
 * Checks text[0..len). expected_pub NULL: only the embedded key is used. Fills info and
 * *trust. -EBADMSG for a bad layout or signature, -EKEYREJECTED when the certificate was
 * signed by another key than expected_pub; e says which line.
 */
int cert_verify(const char *text, size_t len, const unsigned char *expected_pub,
		struct cert_info *info, enum cert_trust *trust, struct err *e);

#endif
