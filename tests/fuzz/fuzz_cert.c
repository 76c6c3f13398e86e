/*
 * fuzz_cert.c - libFuzzer target for the deletion certificate reader.
 *
 * Any input either fails with a message or verifies; what verifies must have printable,
 * NUL-terminated values within their sizes.
 */
#include "store/cert.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct cert_info info;
	enum cert_trust trust;

	if (cert_verify((const char *)data, size, NULL, &info, &trust, &e) < 0) {
		if (!e.msg[0])
			abort();
		return 0;
	}
	if (strlen(info.tenant) >= sizeof(info.tenant) || info.n_destroyed > CERT_MAX_KEYS ||
	    info.n_damaged > CERT_MAX_KEYS || (info.version == 3) != (info.n_damaged > 0) ||
	    strchr(info.erased_by, '\n'))
		abort();
	return 0;
}
