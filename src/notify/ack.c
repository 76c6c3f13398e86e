#include "notify/ack.h"
#include "core/compat.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/name.h"

#define ACK_KEY_LEN 32
#define ACK_MAC_B64_LEN 43 /* base64url of 32 bytes, no padding */
#define ACK_KEY_TEXT_MAX 256
#define NS_PER_S 1000000000LL

struct ack_key {
	unsigned char k[ACK_KEY_LEN];
};

static int key_parse(struct ack_key *k, const char *text, const char *path, struct err *e)
{
	size_t bin_len = 0;

	if (strlen(text) != 2 * ACK_KEY_LEN ||
	    sodium_hex2bin(k->k, sizeof(k->k), text, 2 * ACK_KEY_LEN, NULL, &bin_len, NULL) != 0 ||
	    bin_len != ACK_KEY_LEN)
		return err_set(e, -EINVAL, "%s: expected 64 hexadecimal digits (a 32-byte key)", path);
	return 0;
}

static int key_make(const char *path, struct err *e)
{
	unsigned char raw[ACK_KEY_LEN];
	char text[2 * ACK_KEY_LEN + 2];
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int rc;

	if (slash && (size_t)(slash - path) >= sizeof(dir))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", path);
	if (slash) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (slash == path)
			snprintf(dir, sizeof(dir), "/");
	} else {
		snprintf(dir, sizeof(dir), ".");
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(text, sizeof(text), raw, sizeof(raw));
	text[2 * ACK_KEY_LEN] = '\n';
	text[2 * ACK_KEY_LEN + 1] = '\0';
	rc = fileio_replace(dir, slash ? slash + 1 : path, text, 2 * ACK_KEY_LEN + 1, 0600,
			    FILEIO_NOREPLACE, e);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(text, sizeof(text));
	if (rc == -EEXIST) /* another process made it first: read theirs */
		rc = 0;
	return rc;
}

int ack_key_load(struct ack_key **out, const char *path, struct err *e)
{
	char text[ACK_KEY_TEXT_MAX];
	struct ack_key *k = NULL;
	struct err e2 = ERR_INIT;
	int rc;

	*out = NULL;
	rc = fileio_read_secret(path, "notify ack key", text, sizeof(text), &e2);
	if (rc == -ENOENT) {
		if ((rc = key_make(path, e)) < 0)
			return rc;
		rc = fileio_read_secret(path, "notify ack key", text, sizeof(text), &e2);
	}
	if (rc < 0) {
		err_set(e, rc, "%s", e2.msg);
		goto fail;
	}
	if (!(k = mem_calloc(1, sizeof(*k)))) {
		rc = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = key_parse(k, text, path, e)) < 0)
		goto fail;
	sodium_memzero(text, sizeof(text));
	*out = k;
	return 0;
fail:
	sodium_memzero(text, sizeof(text));
	ack_key_free(k);
	return rc;
}

void ack_key_free(struct ack_key *k)
{
	if (!k)
		return;
	sodium_memzero(k, sizeof(*k));
	mem_free(k);
}

static void mac_b64(const struct ack_key *k, const char *p, size_t n, char out[ACK_MAC_B64_LEN + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256(mac, (const unsigned char *)p, n, k->k);
	sodium_bin2base64(out, ACK_MAC_B64_LEN + 1, mac, sizeof(mac),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int ack_token_make(const struct ack_key *k, const char *tenant, int64_t incident, int64_t notice,
		   int64_t expires_ns, struct buf *out, struct err *e)
{
	char mac[ACK_MAC_B64_LEN + 1];
	size_t start = out->len;
	int rc;

	if (!tenant || !name_valid(tenant, strlen(tenant), NAME_TENANT_MAX))
		return err_set(e, -EINVAL, "ack token: invalid tenant name");
	if (incident < 1 || notice < 1 || expires_ns < NS_PER_S)
		return err_set(e, -EINVAL, "ack token: incident, notice and expiry must be positive");
	rc = buf_addf(out, ACK_TOKEN_PREFIX "%s.%lld.%lld.%lld", tenant, (long long)incident,
		      (long long)notice, (long long)(expires_ns / NS_PER_S));
	if (rc < 0)
		return err_set(e, rc, "ack token: out of room");
	mac_b64(k, out->p + start, out->len - start, mac);
	if ((rc = buf_addch(out, '.')) < 0 || (rc = buf_add(out, mac, ACK_MAC_B64_LEN)) < 0) {
		buf_truncate(out, start);
		return err_set(e, rc, "ack token: out of room");
	}
	return 0;
}

/* A decimal of 1..19 digits without a leading zero, at most INT64_MAX; *v its value. */
static bool parse_id(const char *p, size_t n, int64_t *v)
{
	uint64_t x = 0;

	if (n < 1 || n > 19 || p[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX)
		return false;
	*v = (int64_t)x;
	return true;
}

int ack_token_check(const struct ack_key *k, const char *tok, size_t len, int64_t now_ns,
		    struct ack_claim *out, struct err *e)
{
	const char *field[5], *end = tok + len;
	size_t flen[5];
	char want[ACK_MAC_B64_LEN + 1];
	int64_t expires_s = 0;
	size_t plen = strlen(ACK_TOKEN_PREFIX);
	const char *p;

	memset(out, 0, sizeof(*out));
	if (len > ACK_TOKEN_MAX || len < plen || memcmp(tok, ACK_TOKEN_PREFIX, plen))
		return err_set(e, -EINVAL, "the acknowledgement link is malformed (not a koban "
			       "token)");
	p = tok + plen;
	for (int i = 0; i < 5; i++) {
		const char *dot = i < 4 ? memchr(p, '.', (size_t)(end - p)) : end;

		if (!dot)
			return err_set(e, -EINVAL, "the acknowledgement link is malformed (a part "
				       "is missing)");
		field[i] = p;
		flen[i] = (size_t)(dot - p);
		p = dot < end ? dot + 1 : end;
	}
	if (!name_valid(field[0], flen[0], NAME_TENANT_MAX) ||
	    !parse_id(field[1], flen[1], &out->incident) ||
	    !parse_id(field[2], flen[2], &out->notice) || !parse_id(field[3], flen[3], &expires_s) ||
	    expires_s > INT64_MAX / NS_PER_S || flen[4] != ACK_MAC_B64_LEN) {
		memset(out, 0, sizeof(*out));
		return err_set(e, -EINVAL, "the acknowledgement link is malformed (a part is "
			       "invalid)");
	}
	mac_b64(k, tok, (size_t)(field[4] - 1 - tok), want);
	if (sodium_memcmp(want, field[4], ACK_MAC_B64_LEN) != 0) {
		memset(out, 0, sizeof(*out));
		return err_set(e, -EPERM, "the acknowledgement link is not genuine (its signature "
			       "does not match)");
	}
	memcpy(out->tenant, field[0], flen[0]);
	out->tenant[flen[0]] = '\0';
	out->expires_ns = expires_s * NS_PER_S;
	if (now_ns >= out->expires_ns)
		return err_set(e, -ESTALE, "the acknowledgement link has expired");
	return 0;
}
