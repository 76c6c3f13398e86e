/*
 * fuzz_ack.c - libFuzzer target for what the acknowledgement endpoints read from anyone:
 * the token in the path (notify/ack.h) and a callback's form body (portal/ackpage.h).
 *
 * The first byte chooses. '0'..'4' (or anything even): the rest is a token, checked against a
 * fixed key at a fixed time; a token that checks (or only expired) must be made again, byte
 * for byte, by ack_token_make from its claim (the format has one spelling per claim). Odd:
 * the rest is a form body, parsed into at most ACKPAGE_PARAMS_MAX pairs whose lengths stay
 * within the body, then signed as Twilio would.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "notify/ack.h"
#include "portal/ackpage.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW (1796000000LL * 1000000000LL)

static struct ack_key *key(void)
{
	static struct ack_key *k;
	char dir[] = "/tmp/fuzz_ack.XXXXXX", path[64];
	struct err e = ERR_INIT;
	FILE *f;

	if (k)
		return k;
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/k", dir);
	if (!(f = fopen(path, "w")))
		abort();
	fputs("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", f);
	fclose(f);
	if (chmod(path, 0600) < 0 || ack_key_load(&k, path, &e) < 0)
		abort();
	unlink(path);
	rmdir(dir);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;

	if (!size)
		return 0;
	if (!(data[0] & 1)) {
		struct ack_claim c;
		struct err e = ERR_INIT;
		struct buf again = BUF_INIT(ACK_TOKEN_MAX);
		int rc = ack_token_check(key(), p, n, NOW, &c, &e);

		if (rc != 0 && rc != -EINVAL && rc != -EPERM && rc != -ESTALE)
			abort();
		if (rc < 0 && !e.msg[0])
			abort();
		if (rc == 0 || rc == -ESTALE) {
			if (ack_token_make(key(), c.tenant, c.incident, c.notice, c.expires_ns, &again,
					   &e) < 0 || again.len != n || memcmp(again.p, p, n))
				abort();
		}
		buf_release(&again);
		return 0;
	}
	struct ackpage_param pa[ACKPAGE_PARAMS_MAX];
	struct arena a;
	char sig[32];
	int k;

	arena_init(&a, 4096, 4 * n + 4096);
	k = ackpage_form_parse(p, n, &a, pa, ACKPAGE_PARAMS_MAX);
	if (k > ACKPAGE_PARAMS_MAX || (k < 0 && k != -EINVAL && k != -ENOMEM))
		abort();
	for (int i = 0; i < k; i++)
		if (pa[i].name_len > n || pa[i].value_len > n || pa[i].name[pa[i].name_len] ||
		    pa[i].value[pa[i].value_len])
			abort();
	if (k >= 0) {
		ackpage_twilio_signature("token", "https://soc.example/ack/phone/x", pa, (size_t)k,
					 sig);
		if (strlen(sig) != 28)
			abort();
	}
	arena_release(&a);
	return 0;
}
