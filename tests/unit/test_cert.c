/* Unit tests of deletion certificates: writing, verifying, tampering, another signer. */
#include "store/cert.h"
#include "core/buf.h"
#include "core/err.h"
#include "store/keys.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define T0 INT64_C(1796083200000000000) /* 2026-12-01T00:00:00Z */

static struct keys *open_keys(const char *name)
{
	char dir[600];
	struct err e = ERR_INIT;
	struct keys *k = NULL;

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), name);
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	return k;
}

static void sample(struct cert_info *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->tenant, sizeof(c->tenant), "city-a");
	c->tenant_id = 7;
	c->erased_at_ns = T0;
	snprintf(c->erased_by, sizeof(c->erased_by), "alice (uid 1000) on soc1");
	c->events = 123456789;
	c->bytes = 9876543210;
	c->files = 4018;
	c->unreadable = 3;
	snprintf(c->days, sizeof(c->days), "2024-04-01 .. 2026-11-29");
	c->n_destroyed = 2;
	memset(c->destroyed[0], 0xab, 32);
	memset(c->destroyed[1], 0x01, 32);
}

static void test_round_trip(void)
{
	struct keys *k = open_keys("k1");
	struct buf out = BUF_INIT(CERT_MAX_BYTES);
	struct cert_info c, got;
	struct err e = ERR_INIT;
	enum cert_trust trust;
	unsigned char pub[32];

	if (!k)
		return;
	sample(&c);
	CHECK_INT(cert_write(&c, k, &out, &e), 0);
	{
		static const char head[] =
			"koban deletion certificate\nversion: 2\ntenant: city-a\n"
			"tenant-id: 7\nerased-at: 2026-12-01T00:00:00Z\n"
			"erased-by: alice (uid 1000) on soc1\nevents: 123456789\n"
			"bytes: 9876543210\nfiles: 4018\nunreadable-segments: 3\n"
			"days: 2024-04-01 .. 2026-11-29\n"
			"destroyed-key: blake2b-256:abababab";

		CHECK_MEM(out.p, sizeof(head) - 1, head);
	}
	keys_public(k, pub);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), 0);
	CHECK_INT(trust, CERT_SIGNED_BY_EXPECTED);
	CHECK_STR(got.tenant, "city-a");
	CHECK_INT(got.tenant_id, 7);
	CHECK_INT(got.erased_at_ns, T0);
	CHECK_INT(got.events, 123456789);
	CHECK_INT(got.bytes, 9876543210ULL);
	CHECK_INT(got.n_destroyed, 2);
	CHECK_INT(got.version, 2);
	CHECK_INT(got.unreadable, 3);
	CHECK(!memcmp(got.destroyed[1], c.destroyed[1], 32));
	CHECK_INT(cert_verify(out.p, out.len, NULL, &got, &trust, &e), 0);
	CHECK_INT(trust, CERT_SELF_SIGNED);
	buf_release(&out);
	keys_close(k);
}

static void test_tampering(void)
{
	struct keys *k = open_keys("k2"), *other = open_keys("k3");
	struct buf out = BUF_INIT(CERT_MAX_BYTES);
	struct cert_info c, got;
	struct err e = ERR_INIT;
	enum cert_trust trust;
	unsigned char pub[32];
	char *copy;

	if (!k || !other)
		return;
	sample(&c);
	CHECK_INT(cert_write(&c, k, &out, &e), 0);
	copy = malloc(out.len + 1);
	/* Every single changed byte is caught: by the layout or by the signature. */
	for (size_t i = 0; i < out.len; i++) {
		memcpy(copy, out.p, out.len);
		copy[i] = copy[i] == '1' ? '2' : '1';
		t_check(cert_verify(copy, out.len, NULL, &got, &trust, &e) < 0, __FILE__, __LINE__,
			"byte %zu changed and still verified", i);
	}
	memcpy(copy, out.p, out.len);
	copy[out.len] = 'x';
	CHECK_INT(cert_verify(copy, out.len + 1, NULL, &got, &trust, &e), -EBADMSG);
	CHECK(strstr(e.msg, "nothing may follow the signature") != NULL);
	memcpy(copy, out.p, out.len);
	memcpy(strstr(copy, "events: 1") + 8, "2", 1);
	CHECK_INT(cert_verify(copy, out.len, NULL, &got, &trust, &e), -EBADMSG);
	CHECK(strstr(e.msg, "changed after it was signed") != NULL);
	free(copy);
	/* Intact, but from another installation. */
	keys_public(other, pub);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), -EKEYREJECTED);
	CHECK(strstr(e.msg, "another installation") != NULL);
	CHECK_INT(cert_verify("koban deletion certificate\nversion: 4\n", 38, NULL, &got, &trust,
			      &e), -EBADMSG);
	CHECK_STR(e.msg, "line 2: expected 'version: 1', 2 or 3 (a newer koban wrote this "
		  "certificate)");
	/* Values that would hide text are refused when writing. */
	snprintf(c.erased_by, sizeof(c.erased_by), "x\nsignature: forged");
	buf_reset(&out);
	CHECK_INT(cert_write(&c, k, &out, &e), -EINVAL);
	buf_release(&out);
	keys_close(k);
	keys_close(other);
}

/* Signs text (a certificate without its last line) with k: the signature line appended. */
static void sign_into(struct keys *k, struct buf *out, const char *text)
{
	unsigned char sig[KEYS_SIG_BYTES];
	char hex[2 * KEYS_SIG_BYTES + 1];

	buf_reset(out);
	CHECK_INT(buf_addf(out, "%s", text), 0);
	keys_sign(k, out->p, out->len, sig);
	for (size_t i = 0; i < sizeof(sig); i++)
		snprintf(hex + 2 * i, 3, "%02x", sig[i]);
	CHECK_INT(buf_addf(out, "signature: ed25519:%s\n", hex), 0);
}

/* Version 1 (before unreadable-segments) still verifies; version 2 needs the line. */
static void test_version_1(void)
{
	struct keys *k = open_keys("k4");
	struct buf out = BUF_INIT(CERT_MAX_BYTES);
	char body[2048], pubhex[65];
	struct cert_info got;
	struct err e = ERR_INIT;
	enum cert_trust trust;
	unsigned char pub[32];

	if (!k)
		return;
	keys_public(k, pub);
	for (size_t i = 0; i < sizeof(pub); i++)
		snprintf(pubhex + 2 * i, 3, "%02x", pub[i]);
	snprintf(body, sizeof(body),
		 "koban deletion certificate\nversion: 1\ntenant: city-a\ntenant-id: 7\n"
		 "erased-at: 2026-12-01T00:00:00Z\nerased-by: alice (uid 1000) on soc1\n"
		 "events: 5\nbytes: 6\nfiles: 1\ndays: none\nsigning-key: ed25519:%s\n", pubhex);
	sign_into(k, &out, body);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), 0);
	CHECK_INT(got.version, 1);
	CHECK_INT(got.unreadable, 0);
	CHECK_INT(got.events, 5);
	CHECK_INT(trust, CERT_SIGNED_BY_EXPECTED);
	memcpy(strstr(body, "version: 1"), "version: 2", 10);
	sign_into(k, &out, body);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), -EBADMSG);
	CHECK_STR(e.msg, "line 10: expected 'unreadable-segments: N'");
	buf_release(&out);
	keys_close(k);
}

/*
 * A damaged key file (its id unreadable) is named on a line of its own, by the hash of its
 * bytes: version 3, written only then, so that every other certificate stays version 2.
 */
static void test_damaged_key_file(void)
{
	struct keys *k = open_keys("k5");
	struct buf out = BUF_INIT(CERT_MAX_BYTES);
	struct cert_info c, got;
	struct err e = ERR_INIT;
	enum cert_trust trust;
	unsigned char pub[32];
	char body[2048], pubhex[65], hash[65];
	const char *line;

	if (!k)
		return;
	sample(&c);
	c.n_destroyed = 0;
	c.n_damaged = 1;
	memset(c.damaged[0], 0xcd, 32);
	CHECK_INT(cert_write(&c, k, &out, &e), 0);
	{
		static const char head[] = "koban deletion certificate\nversion: 3\ntenant: ",
				  tail[] = "\ndays: 2024-04-01 .. 2026-11-29\n"
					   "destroyed-damaged-key-file: blake2b-256:cdcdcdcdcdcd"
					   "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
					   "\nsigning-key: ed25519:";

		CHECK_MEM(out.p, sizeof(head) - 1, head);
		line = strstr(out.p, "\ndays: ");
		CHECK(line && !strncmp(line, tail, sizeof(tail) - 1));
	}
	keys_public(k, pub);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), 0);
	CHECK_INT(got.version, 3);
	CHECK_INT(got.n_destroyed, 0);
	CHECK_INT(got.n_damaged, 1);
	CHECK(!memcmp(got.damaged[0], c.damaged[0], 32));
	CHECK_INT(got.unreadable, 3);
	/* written again from what was read: the same bytes (a rerun's certificate) */
	{
		struct buf again = BUF_INIT(CERT_MAX_BYTES);

		CHECK_INT(cert_write(&got, k, &again, &e), 0);
		CHECK(again.len == out.len && !memcmp(again.p, out.p, out.len));
		buf_release(&again);
	}
	/* with a good key beside it: destroyed-key lines first */
	c.n_destroyed = 1;
	buf_reset(&out);
	CHECK_INT(cert_write(&c, k, &out, &e), 0);
	CHECK(strstr(out.p, "\ndestroyed-key: blake2b-256:abab") <
	      strstr(out.p, "\ndestroyed-damaged-key-file: blake2b-256:cdcd"));
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), 0);
	CHECK_INT(got.n_destroyed, 1);
	CHECK_INT(got.n_damaged, 1);

	for (size_t i = 0; i < sizeof(pub); i++)
		snprintf(pubhex + 2 * i, 3, "%02x", pub[i]);
	memset(hash, 'c', 64);
	hash[64] = '\0';
	/* the line in a version 2 certificate: not part of that layout */
	snprintf(body, sizeof(body),
		 "koban deletion certificate\nversion: 2\ntenant: city-a\ntenant-id: 7\n"
		 "erased-at: 2026-12-01T00:00:00Z\nerased-by: alice (uid 1000) on soc1\n"
		 "events: 5\nbytes: 6\nfiles: 1\nunreadable-segments: 0\ndays: none\n"
		 "destroyed-damaged-key-file: blake2b-256:%s\nsigning-key: ed25519:%s\n",
		 hash, pubhex);
	sign_into(k, &out, body);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), -EBADMSG);
	CHECK_STR(e.msg, "line 12: expected 'signing-key: ed25519:HEX'");
	memcpy(strstr(body, "version: 2"), "version: 3", 10);
	sign_into(k, &out, body);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), 0);
	/* version 3 without one: refused (cert_write never writes it) */
	snprintf(body, sizeof(body),
		 "koban deletion certificate\nversion: 3\ntenant: city-a\ntenant-id: 7\n"
		 "erased-at: 2026-12-01T00:00:00Z\nerased-by: alice (uid 1000) on soc1\n"
		 "events: 5\nbytes: 6\nfiles: 1\nunreadable-segments: 0\ndays: none\n"
		 "destroyed-key: blake2b-256:%s\nsigning-key: ed25519:%s\n", hash, pubhex);
	sign_into(k, &out, body);
	CHECK_INT(cert_verify(out.p, out.len, pub, &got, &trust, &e), -EBADMSG);
	CHECK_STR(e.msg, "line 13: expected 'destroyed-damaged-key-file: blake2b-256:HEX' "
		  "(version 3)");
	/* at most CERT_MAX_KEYS of them */
	c.n_damaged = CERT_MAX_KEYS + 1;
	CHECK_INT(cert_write(&c, k, &out, &e), -EINVAL);
	buf_release(&out);
	keys_close(k);
}

int main(void)
{
	T_RUN(test_round_trip);
	T_RUN(test_tampering);
	T_RUN(test_version_1);
	T_RUN(test_damaged_key_file);
	return t_done();
}
