/*
 * cert.c - `koban cert verify FILE [--key signing.pub]`: checks a deletion certificate
 * (store/cert.h). Without --key the installation's own DATA_DIR/keys/signing.pub is the
 * expected signer. A certificate is valid only when signed by that key: when there is no key
 * to compare with, only its integrity can be checked, which proves nothing about who signed
 * it (anyone can sign with a key of their own), so that is an error (exit 1), never "valid".
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "store/cert.h"
#include "store/keys.h"

#define VERIFY_USAGE "cert verify FILE [--key signing.pub]"

static const struct cli_verb cert_verbs[] = {
	{ "verify", VERIFY_USAGE,
	  "Checks a deletion certificate written by `koban tenant erase`: its layout and\n"
	  "its Ed25519 signature, made by the installation whose public key is --key FILE\n"
	  "(default: this installation's signing.pub: beside keys.signing when the\n"
	  "configuration names it, else DATA_DIR/keys/signing.pub). Exit status 0 when\n"
	  "it is valid, 1 when it is not or when there is no public key to check the\n"
	  "signer against (on another machine, give --key the installation's signing.pub)." },
};

static const struct cli_command cert_command = {
	"cert", VERIFY_USAGE, "  verify  check a deletion certificate", cert_verbs,
	ARRAY_SIZE(cert_verbs),
};

/* The expected signer: --key, else this installation's key when it has one (*have). */
static int expected_key(const struct config *c, const char *key, unsigned char pub[32],
			bool *have, struct err *e)
{
	struct buf path = BUF_INIT(4096);
	int rc;

	*have = false;
	if (key) {
		if ((rc = keys_read_public(key, pub, e)) == 0)
			*have = true;
		return rc;
	}
	if (c->keys_signing) { /* keys.signing: its public half is beside it */
		char pubfile[4096];

		rc = keys_public_path(c->keys_signing, pubfile, sizeof(pubfile));
		if (rc == 0)
			rc = buf_addf(&path, "%s", pubfile);
	} else {
		rc = buf_addf(&path, "%s/keys/signing.pub", c->data_dir);
	}
	if (rc == 0 &&
	    access(path.p, F_OK) == 0 && (rc = keys_read_public(path.p, pub, e)) == 0)
		*have = true;
	buf_release(&path);
	return rc;
}

static void print_valid(const struct cert_info *ci, const char *key)
{
	char when[TIME_RFC3339_LEN];

	time_format_rfc3339(ci->erased_at_ns, when);
	printf("valid: tenant %s (id %llu) erased at %s by %s: %llu events, %llu bytes, "
	       "%llu files, %zu data key%s destroyed\n",
	       ci->tenant, (unsigned long long)ci->tenant_id, when, ci->erased_by,
	       (unsigned long long)ci->events, (unsigned long long)ci->bytes,
	       (unsigned long long)ci->files, ci->n_destroyed + ci->n_damaged,
	       ci->n_destroyed + ci->n_damaged == 1 ? "" : "s");
	if (ci->n_damaged)
		printf("%zu data key file%s damaged when erased (%s key id could not be read): "
		       "named by the BLAKE2b-256 of %s bytes\n", ci->n_damaged,
		       ci->n_damaged == 1 ? " was" : "s were", ci->n_damaged == 1 ? "its" : "their",
		       ci->n_damaged == 1 ? "its" : "their");
	if (ci->unreadable)
		printf("%llu segment%s could not be read when erased: %s events are not counted\n",
		       (unsigned long long)ci->unreadable, ci->unreadable == 1 ? "" : "s",
		       ci->unreadable == 1 ? "its" : "their");
	printf("signed by %s\n", key ? key : "this installation's key");
}

int cmd_cert(int argc, char **argv)
{
	static const char *const names[] = { "FILE" };
	const char *key = NULL, *pos[1] = { NULL };
	const struct cli_option opts[] = { CLI_VALUE("key", &key) };
	struct cli_args a = { "cert verify", VERIFY_USAGE, NULL, opts, ARRAY_SIZE(opts), pos,
			      1, 1, names };
	struct err e = ERR_INIT;
	struct cert_info ci;
	enum cert_trust trust;
	unsigned char pub[32];
	struct config c;
	bool have;
	size_t len;
	char *text = NULL;
	int rc;

	if ((rc = cli_verb_start(&argc, &argv, &cert_command, &a, &c)) >= 0)
		return rc;
	rc = 1;
	if (expected_key(&c, key, pub, &have, &e) < 0 ||
	    config_read_file(pos[0], "certificate", CERT_MAX_BYTES, &text, &len, &e) < 0 ||
	    cert_verify(text, len, have ? pub : NULL, &ci, &trust, &e) < 0) {
		cli_fail(&e);
	} else if (trust != CERT_SIGNED_BY_EXPECTED) { /* intact, but signed by whom? */
		fprintf(stderr, "koban: cannot verify: no public key; pass --key FILE with the "
				"installation's signing.pub (only the certificate's integrity was "
				"checked: anyone can sign one with a key of their own)\n");
	} else {
		print_valid(&ci, key);
		rc = 0;
	}
	mem_free(text);
	config_release(&c);
	return rc;
}
