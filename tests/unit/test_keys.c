/* Unit tests of the key store: creation, permissions, wrapping, erasure, sealing, signing. */
#include "store/keys.h"
#include "core/err.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[600];

static void fresh(const char *name)
{
	char cmd[700];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

static int mode_of(const char *name)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static void test_create_open_and_modes(void)
{
	struct err e = ERR_INIT;
	struct keys *k = NULL;

	fresh("create");
	CHECK_INT(keys_open(&k, dir, KEYS_READ, &e), -ENOENT);
	CHECK(strstr(e.msg, "master.key") != NULL);
	CHECK_INT(mode_of(""), -1); /* reading made nothing, not even the directory */
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	CHECK_INT(mode_of(""), 0700);
	CHECK_INT(mode_of("master.key"), 0600);
	CHECK_INT(mode_of("signing.key"), 0600);
	CHECK_INT(mode_of("signing.pub"), 0644);
	keys_close(k);
	CHECK_INT(keys_init(dir, &e), -EEXIST);
	CHECK(strstr(e.msg, "never replaces keys") != NULL);
	/* A secret readable by others is refused, naming the file and the fix. */
	{
		char path[700];

		snprintf(path, sizeof(path), "%s/master.key", dir);
		CHECK_INT(chmod(path, 0644), 0);
		CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), -EPERM);
		CHECK(strstr(e.msg, "master.key: mode 644") && strstr(e.msg, "chmod 600"));
		CHECK_INT(chmod(path, 0600), 0);
		CHECK_INT(keys_open(&k, dir, KEYS_READ, &e), 0);
		keys_close(k);
	}
}

static void test_tenant_keys_and_wrong_master(void)
{
	struct keys_data_key a, a2, b;
	struct err e = ERR_INIT;
	struct keys *k = NULL, *other = NULL;
	char cmd[3000], other_dir[700];

	fresh("tenants");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 7, false, &a, &e), -ENOENT);
	CHECK_INT(keys_tenant(k, 7, true, &a, &e), 0);
	CHECK_INT(keys_tenant(k, 8, true, &b, &e), 0);
	CHECK_INT(mode_of("tenant-7.key"), 0600);
	CHECK_INT(keys_tenant(k, 7, false, &a2, &e), 0);
	CHECK(!memcmp(a.key, a2.key, sizeof(a.key)) && !memcmp(a.id, a2.id, sizeof(a.id)));
	CHECK(memcmp(a.key, b.key, sizeof(a.key)) != 0);
	keys_close(k);

	/* Another installation's master key cannot open this tenant's data key. */
	snprintf(other_dir, sizeof(other_dir), "%s-other", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp '%s/tenant-7.key' '%s.key'", other_dir, dir,
		 other_dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&other, other_dir, KEYS_CREATE, &e), 0);
	snprintf(cmd, sizeof(cmd), "cp -p '%s.key' '%s/tenant-7.key'", other_dir, other_dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_tenant(other, 7, false, &a2, &e), -EKEYREJECTED);
	CHECK(strstr(e.msg, "does not open") != NULL);
	/* Nor does a key file renamed to another tenant. */
	keys_close(other);
	snprintf(cmd, sizeof(cmd), "cp -p '%s/tenant-7.key' '%s/tenant-9.key'", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&k, dir, KEYS_READ, &e), 0);
	CHECK_INT(keys_tenant(k, 9, false, &a2, &e), -EKEYREJECTED);
	keys_close(k);
}

/*
 * A handle keeps the keys it unwrapped, but only while their file is the one it read: a
 * file made readable by others, replaced or destroyed through another handle is refused
 * at once, as when nothing was kept.
 */
static void test_kept_keys_follow_their_file(void)
{
	struct keys_data_key a, a2, b;
	struct err e = ERR_INIT;
	struct keys *k = NULL, *k2 = NULL;
	unsigned char hash[32];
	char path[800], cmd[2000];

	fresh("kept");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	CHECK_INT(keys_open(&k2, dir, KEYS_READ, &e), 0);
	if (!k || !k2)
		goto done;
	CHECK_INT(keys_tenant(k, 7, true, &a, &e), 0);
	CHECK_INT(keys_tenant(k, 8, true, &b, &e), 0);
	CHECK_INT(keys_tenant(k, 7, false, &a2, &e), 0);
	CHECK(!memcmp(a.key, a2.key, sizeof(a.key)) && !memcmp(a.id, a2.id, sizeof(a.id)));
	snprintf(path, sizeof(path), "%s/tenant-7.key", dir);
	CHECK_INT(chmod(path, 0644), 0);
	CHECK_INT(keys_tenant(k, 7, false, &a2, &e), -EPERM);
	CHECK_INT(chmod(path, 0600), 0);
	CHECK_INT(keys_tenant(k, 7, false, &a2, &e), 0);
	/* tenant 8's file in tenant 7's place: bound to tenant 8, it does not unwrap */
	snprintf(cmd, sizeof(cmd), "cp -p '%s/tenant-8.key' '%s/tenant-7.key'", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_tenant(k, 7, false, &a2, &e), -EKEYREJECTED);
	/* destroyed through another handle */
	CHECK_INT(keys_tenant(k, 8, false, &a2, &e), 0);
	CHECK_INT(keys_tenant_destroy(k2, 8, hash, NULL, NULL, &e), 0);
	CHECK_INT(keys_tenant(k, 8, false, &a2, &e), -ENOENT);
done:
	keys_close(k);
	keys_close(k2);
}

static void test_seal_and_erase(void)
{
	static const char text[] = "<14>Nov 30 02:00:00 fw1 deny 10.0.0.1 -> 10.0.0.2";
	unsigned char sealed[sizeof(text) + KEYS_SEAL_OVERHEAD], opened[sizeof(text)],
		hash[32], zero[32] = { 0 };
	struct keys_data_key dk, again;
	struct err e = ERR_INIT;
	struct keys *k = NULL;

	fresh("erase");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 3, true, &dk, &e), 0);
	CHECK_INT(keys_seal(&dk, 42, text, sizeof(text), sealed), 0);
	CHECK(memmem(sealed, sizeof(sealed), "deny", 4) == NULL);
	CHECK_INT(keys_unseal(&dk, 42, sealed, sizeof(sealed), opened), 0);
	CHECK(!memcmp(opened, text, sizeof(text)));
	/* Another block id, a flipped bit or a short input: refused. */
	CHECK_INT(keys_unseal(&dk, 43, sealed, sizeof(sealed), opened), -EBADMSG);
	sealed[30] ^= 1;
	CHECK_INT(keys_unseal(&dk, 42, sealed, sizeof(sealed), opened), -EBADMSG);
	sealed[30] ^= 1;
	CHECK_INT(keys_unseal(&dk, 42, sealed, 10, opened), -EBADMSG);

	CHECK_INT(keys_tenant_destroy(k, 3, hash, NULL, NULL, &e), 0);
	CHECK(memcmp(hash, zero, sizeof(hash)) != 0);
	CHECK_INT(mode_of("tenant-3.key"), -1);
	CHECK_INT(keys_tenant(k, 3, false, &again, &e), -ENOENT);
	CHECK_INT(keys_tenant_destroy(k, 3, hash, NULL, NULL, &e), -ENOENT);
	/*
	 * What a crash between the overwrite and the removal leaves: the file with the
	 * destroyed-key magic. It reads as erased, not as damage; only it is removed by
	 * keys_tenant_tombstone_remove, never a real key.
	 */
	{
		char path[sizeof(dir) + 16];
		FILE *f;

		snprintf(path, sizeof(path), "%s/tenant-3.key", dir);
		CHECK((f = fopen(path, "w")) != NULL);
		if (f) {
			fputs("KOBANDX1 and what was random bytes", f);
			fclose(f);
		}
		CHECK_INT(chmod(path, 0600), 0);
		err_clear(&e);
		CHECK_INT(keys_tenant(k, 3, false, &again, &e), -ENOENT);
		CHECK(strstr(e.msg, "tenant-3.key: a destroyed key") != NULL);
		CHECK_INT(keys_tenant_id_hash(k, 3, hash, NULL, &e), -ENOENT);
		CHECK_INT(keys_tenant_tombstone_remove(k, 3, &e), 0);
		CHECK_INT(mode_of("tenant-3.key"), -1);
		CHECK_INT(keys_tenant(k, 4, true, &again, &e), 0);
		CHECK_INT(keys_tenant_tombstone_remove(k, 4, &e), 0);
		CHECK_INT(mode_of("tenant-4.key"), 0600);
	}
	/* A new key for the tenant does not open what the old one sealed. */
	CHECK_INT(keys_tenant(k, 3, true, &again, &e), 0);
	CHECK_INT(keys_unseal(&again, 42, sealed, sizeof(sealed), opened), -EBADMSG);
	keys_close(k);
}

/* Writes len bytes of data into dir/name, mode 0600. */
static void put_file(const char *name, const void *data, size_t len)
{
	char path[700];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, data, len), (ssize_t)len);
	CHECK_INT(close(fd), 0);
}

/* dir/name's bytes into buf (size bytes at most); its length, -1 when it cannot be read. */
static ssize_t get_file(const char *name, void *buf, size_t size)
{
	char path[700];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	n = read(fd, buf, size);
	close(fd);
	return n;
}

/*
 * A data key file whose content is damaged (it reads, but it is no data key file: wrong
 * magic, wrong size) is refused by default; an erasure (damaged given) names it by the hash
 * of its bytes and destroys it all of it. A file that cannot be read is always refused.
 */
static void test_damaged_key_file(void)
{
	static unsigned char good[96], bad[6000], back[8192];
	static const struct {
		const char *what;
		size_t len;
	} damages[] = { { "bad magic", 96 }, { "truncated", 40 }, { "empty", 0 },
			{ "appended", 6000 }, { "one byte short", 95 } };
	unsigned char hash[32], want[32];
	struct keys_data_key dk;
	struct err e = ERR_INIT;
	struct keys *k = NULL;
	char path[700], keep[720];
	bool damaged, overwritten;

	fresh("damaged");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 5, true, &dk, &e), 0);
	CHECK_INT(get_file("tenant-5.key", good, sizeof(good)), 96);
	/* a good key: not damaged, the hash of its id */
	CHECK_INT(keys_tenant_id_hash(k, 5, hash, &damaged, &e), 0);
	CHECK(!damaged);
	crypto_generichash(want, 32, dk.id, sizeof(dk.id), NULL, 0);
	CHECK(!memcmp(hash, want, 32));
	snprintf(path, sizeof(path), "%s/tenant-5.key", dir);
	snprintf(keep, sizeof(keep), "%s/kept-link", dir);
	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		size_t len = damages[i].len;

		memset(bad, 0xa5, sizeof(bad));
		memcpy(bad, good, len < sizeof(good) ? len : sizeof(good));
		if (!strcmp(damages[i].what, "bad magic"))
			memcpy(bad, "KOBANXX1", 8);
		put_file("tenant-5.key", bad, len);
		crypto_generichash(want, 32, bad, len, NULL, 0);
		err_clear(&e);
		CHECK_INT(keys_tenant(k, 5, false, &dk, &e), -EBADMSG);
		CHECK_INT(keys_tenant_id_hash(k, 5, hash, NULL, &e), -EBADMSG);
		CHECK(strstr(e.msg, "tenant-5.key: not a koban key file") != NULL);
		CHECK_INT(keys_tenant_destroy(k, 5, hash, NULL, &overwritten, &e), -EBADMSG);
		CHECK(!overwritten);
		CHECK_INT(get_file("tenant-5.key", back, sizeof(back)), (ssize_t)len);
		CHECK(!memcmp(back, bad, len));
		err_clear(&e);
		CHECK_INT(keys_tenant_id_hash(k, 5, hash, &damaged, &e), 0);
		t_check(damaged && !memcmp(hash, want, 32) && !e.msg[0], __FILE__, __LINE__,
			"%s: not named by the hash of its bytes", damages[i].what);
		/* a second name for the file shows what the destruction left in its blocks */
		CHECK_INT(link(path, keep), 0);
		damaged = false;
		memset(hash, 0, sizeof(hash));
		CHECK_INT(keys_tenant_destroy(k, 5, hash, &damaged, &overwritten, &e), 0);
		CHECK(damaged && overwritten && !memcmp(hash, want, 32));
		CHECK_INT(mode_of("tenant-5.key"), -1);
		/* all of it overwritten, and at least a key's length */
		CHECK_INT(get_file("kept-link", back, sizeof(back)),
			  (ssize_t)(len > sizeof(good) ? len : sizeof(good)));
		CHECK(!memcmp(back, "KOBANDX1", 8));
		CHECK(memmem(back, sizeof(back), good + 8, 16) == NULL); /* the key id */
		CHECK(len < 6000 || memmem(back, len, bad + 5900, 64) == NULL); /* its tail */
		CHECK_INT(unlink(keep), 0);
		CHECK_INT(keys_tenant(k, 5, false, &dk, &e), -ENOENT);
	}
	/*
	 * The right magic and size, one bit of the key id flipped: the master key does not open
	 * it, so its id names nothing either; it is damaged, named by its bytes.
	 */
	CHECK_INT(keys_tenant(k, 5, true, &dk, &e), 0);
	CHECK_INT(get_file("tenant-5.key", good, sizeof(good)), 96);
	memcpy(bad, good, sizeof(good));
	bad[8] ^= 1;
	put_file("tenant-5.key", bad, sizeof(good));
	crypto_generichash(want, 32, bad, sizeof(good), NULL, 0);
	CHECK_INT(keys_tenant(k, 5, false, &dk, &e), -EKEYREJECTED);
	CHECK_INT(keys_tenant_id_hash(k, 5, hash, NULL, &e), -EBADMSG);
	CHECK(strstr(e.msg, "tenant-5.key: the master key does not open this data key") != NULL);
	err_clear(&e);
	CHECK_INT(keys_tenant_id_hash(k, 5, hash, &damaged, &e), 0);
	CHECK(damaged && !memcmp(hash, want, 32) && !e.msg[0]);
	memset(hash, 0, sizeof(hash));
	CHECK_INT(keys_tenant_destroy(k, 5, hash, &damaged, &overwritten, &e), 0);
	CHECK(damaged && overwritten && !memcmp(hash, want, 32));
	CHECK_INT(mode_of("tenant-5.key"), -1);
	/*
	 * A sparse 1 GiB file: its first MiB is overwritten, not all of it (which would fill
	 * the file system the WAL shares); what it allocates stays about that MiB.
	 */
	{
		struct stat st;

		put_file("tenant-5.key", "garbage", 7);
		CHECK_INT(truncate(path, (off_t)1 << 30), 0);
		CHECK_INT(link(path, keep), 0);
		CHECK_INT(keys_tenant_destroy(k, 5, hash, &damaged, &overwritten, &e), 0);
		CHECK(damaged && overwritten);
		CHECK_INT(stat(keep, &st), 0);
		CHECK(st.st_size == (off_t)1 << 30);
		t_check((uint64_t)st.st_blocks * 512 <= (2u << 20), __FILE__, __LINE__,
			"%llu bytes allocated for a sparse damaged key file",
			(unsigned long long)st.st_blocks * 512);
		CHECK_INT(get_file("kept-link", back, sizeof(back)), (ssize_t)sizeof(back));
		CHECK(!memcmp(back, "KOBANDX1", 8));
		CHECK_INT(unlink(keep), 0);
	}
	keys_close(k);
}

/*
 * What cannot be read is not damaged content: the key in it may be whole, so it is refused
 * whether damaged is asked for or not, and nothing is changed.
 */
static void test_unreadable_key_file(void)
{
	unsigned char hash[32], good[96], back[96];
	struct keys_data_key dk;
	struct err e = ERR_INIT;
	struct keys *k = NULL;
	char path[700], moved[720];
	bool damaged = true, overwritten = true;

	fresh("unreadable");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 6, true, &dk, &e), 0);
	CHECK_INT(get_file("tenant-6.key", good, sizeof(good)), 96);
	snprintf(path, sizeof(path), "%s/tenant-6.key", dir);
	snprintf(moved, sizeof(moved), "%s/moved", dir);
	CHECK_INT(rename(path, moved), 0);
	/* a directory in its place */
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(keys_tenant_id_hash(k, 6, hash, &damaged, &e), -EINVAL);
	CHECK(!damaged);
	CHECK(strstr(e.msg, "tenant-6.key: not a regular file") != NULL);
	CHECK_INT(keys_tenant_destroy(k, 6, hash, &damaged, &overwritten, &e), -EINVAL);
	CHECK(!damaged && !overwritten);
	CHECK_INT(rmdir(path), 0);
	/* a FIFO: refused at once, not waited on */
	CHECK_INT(mkfifo(path, 0600), 0);
	CHECK_INT(keys_tenant_destroy(k, 6, hash, &damaged, &overwritten, &e), -EINVAL);
	CHECK(!damaged && !overwritten);
	CHECK_INT(unlink(path), 0);
	/* a symbolic link to the key */
	CHECK_INT(symlink(moved, path), 0);
	CHECK_INT(keys_tenant_destroy(k, 6, hash, &damaged, &overwritten, &e), -ELOOP);
	CHECK(strstr(e.msg, "cannot open") != NULL);
	CHECK_INT(unlink(path), 0);
	/* readable by others: the key, damaged or not, must be made private first */
	CHECK_INT(rename(moved, path), 0);
	CHECK_INT(chmod(path, 0644), 0);
	CHECK_INT(keys_tenant_destroy(k, 6, hash, &damaged, &overwritten, &e), -EPERM);
	CHECK(!damaged && !overwritten);
	CHECK_INT(get_file("tenant-6.key", back, sizeof(back)), 96);
	CHECK(!memcmp(back, good, sizeof(good)));
	CHECK_INT(chmod(path, 0600), 0);
	CHECK_INT(keys_tenant(k, 6, false, &dk, &e), 0);
	keys_close(k);
}

/*
 * keys_seal/keys_unseal speak libsodium's XChaCha20-Poly1305 to the byte on both sides of
 * KEYS_BULK_MIN (1,024; OpenSSL above it): what one seals the other opens, and a flipped
 * bit is refused with nothing of the plaintext left in the output.
 */
static void test_seal_is_xchacha20poly1305(void)
{
	static const size_t sizes[] = { 0, 1, 1023, 1024, 1025, 4096, 65537, 1 << 20 };
	size_t max = 1 << 20;
	unsigned char *text = malloc(max), *sealed = malloc(max + KEYS_SEAL_OVERHEAD),
		      *opened = malloc(max + 1), ad[8] = { 42 };
	struct keys_data_key dk;
	unsigned long long n;

	CHECK(sodium_init() >= 0);
	if (!text || !sealed || !opened)
		return;
	randombytes_buf(dk.key, sizeof(dk.key));
	randombytes_buf(text, max);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i], slen = len + KEYS_SEAL_OVERHEAD;

		CHECK_INT(keys_seal(&dk, 42, text, len, sealed), 0);
		CHECK_INT(crypto_aead_xchacha20poly1305_ietf_decrypt(opened, &n, NULL, sealed + 24,
								     slen - 24, ad, 8, sealed,
								     dk.key), 0);
		CHECK(n == len && !memcmp(opened, text, len));
		CHECK_INT(crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 24, &n, text, len, ad,
								     8, NULL, sealed, dk.key), 0);
		memset(opened, 0, len);
		CHECK_INT(keys_unseal(&dk, 42, sealed, slen, opened), 0);
		CHECK(!memcmp(opened, text, len));
		sealed[slen / 2] ^= 4; /* the nonce, the text or the tag */
		memset(opened, 0xaa, len);
		CHECK_INT(keys_unseal(&dk, 42, sealed, slen, opened), -EBADMSG);
		for (size_t j = 0; j < len && len >= 1024; j++)
			if (opened[j] != 0) {
				CHECK(!"plaintext left after a refused open");
				break;
			}
		sealed[slen / 2] ^= 4;
		CHECK_INT(keys_unseal(&dk, 43, sealed, slen, opened), -EBADMSG);
	}
	free(text);
	free(sealed);
	free(opened);
}

static void test_sign_verify(void)
{
	unsigned char sig[KEYS_SIG_BYTES], pub[KEYS_PUB_BYTES];
	struct err e = ERR_INIT;
	struct keys *k = NULL;
	char path[700];
	int fd;

	fresh("sign");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	keys_sign(k, "certificate", 11, sig);
	keys_public(k, pub);
	CHECK_INT(keys_verify(pub, "certificate", 11, sig), 0);
	CHECK_INT(keys_verify(pub, "certificatE", 11, sig), -EBADMSG);
	keys_close(k);
	/* A public key that is not the secret key's half is found at open. */
	snprintf(path, sizeof(path), "%s/signing.pub", dir);
	fd = open(path, O_RDWR);
	{
		unsigned char b = 0;

		/* flip the byte: a fixed value would equal the random one once in 256 runs */
		CHECK(pread(fd, &b, 1, 10) == 1);
		b ^= 0xff;
		CHECK(pwrite(fd, &b, 1, 10) == 1);
	}
	close(fd);
	CHECK_INT(keys_open(&k, dir, KEYS_READ, &e), -EBADMSG);
	CHECK(strstr(e.msg, "not the public half") != NULL);
	/* A truncated key file is named, not used. */
	snprintf(path, sizeof(path), "%s/master.key", dir);
	CHECK_INT(truncate(path, 20), 0);
	CHECK_INT(keys_open(&k, dir, KEYS_READ, &e), -EBADMSG);
	CHECK(strstr(e.msg, "master.key: not a koban key file") != NULL);
}

/*
 * Keys on other media (`koban key init --dir`, config keys:): data keys stay in the data
 * directory's keys directory; a missing or wrong master key is an error, never replaced.
 */
static void test_key_files_elsewhere(void)
{
	char media[700], master[800], signing[800], pub[800], cmd[3000];
	struct keys_files files;
	struct keys_data_key a, a2;
	struct err e = ERR_INIT;
	struct keys *k = NULL;

	fresh("elsewhere");
	snprintf(media, sizeof(media), "%s-media", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s-other'", media, media);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_init(media, &e), 0);
	snprintf(master, sizeof(master), "%s/master.key", media);
	snprintf(signing, sizeof(signing), "%s/signing.key", media);
	files = (struct keys_files){ .master = master, .signing = signing };

	CHECK_INT(keys_public_path(signing, pub, sizeof(pub)), 0);
	CHECK(strlen(pub) > 11 && !strcmp(pub + strlen(pub) - 11, "signing.pub"));
	CHECK_INT(keys_public_path("/k/sig", pub, sizeof(pub)), 0);
	CHECK_STR(pub, "/k/sig.pub");
	CHECK_INT(keys_public_path("/k/sig.key", pub, 8), -ENAMETOOLONG);

	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 3, true, &a, &e), 0);
	keys_close(k);
	/* Nothing secret was made in the data directory: only the wrapped key and master.id. */
	CHECK_INT(mode_of("master.key"), -1);
	CHECK_INT(mode_of("signing.key"), -1);
	CHECK_INT(mode_of("tenant-3.key"), 0600);
	CHECK_INT(mode_of("master.id"), 0644);

	/* Without the configuration, koban does not make a new master key in its place. */
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), -ENOENT);
	CHECK(strstr(e.msg, "no master key, but") && strstr(e.msg, "keys.master"));
	CHECK(k == NULL);
	CHECK_INT(mode_of("master.key"), -1);

	/* The media is not mounted: the error names the file and the configuration key. */
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s-other'", media, media);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_CREATE, &e), -ENOENT);
	CHECK(!strncmp(e.msg, "keys.master: ", 13) && strstr(e.msg, master));
	CHECK_INT(mode_of("master.key"), -1);

	/* Another master key (keys of another installation) is refused at once. */
	CHECK_INT(keys_init(media, &e), 0);
	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_CREATE, &e), -EKEYREJECTED);
	CHECK(strstr(e.msg, "master.id") && strstr(e.msg, "wrong keys.master"));
	/* Also where master.id is missing (a directory made before it existed). */
	snprintf(cmd, sizeof(cmd), "rm '%s/master.id'", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_READ, &e), -EKEYREJECTED);
	CHECK(strstr(e.msg, "tenant-3.key") && strstr(e.msg, "does not open"));

	/* The right media again: it opens, master.id is written again, the key is the same. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s-other' '%s'", media, media, media);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_CREATE, &e), 0);
	if (k) {
		CHECK_INT(keys_tenant(k, 3, false, &a2, &e), 0);
		CHECK(!memcmp(a.key, a2.key, sizeof(a.key)));
		keys_close(k);
	}
	CHECK_INT(mode_of("master.id"), 0644);

	/* Only the master key named: the signing key is looked for in the keys directory. */
	files.signing = NULL;
	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_CREATE, &e), -ENOENT);
	CHECK(strstr(e.msg, "signing.key") && strstr(e.msg, "with keys.signing"));
	files.signing = signing;
	/* A signing key that the configuration names and that is gone. */
	files.signing = "/nonexistent/signing.key";
	CHECK_INT(keys_open_files(&k, dir, &files, KEYS_CREATE, &e), -ENOENT);
	CHECK(!strncmp(e.msg, "keys.signing: /nonexistent/signing.key", 38));
}

/*
 * Only KEYS_CREATE makes keys; KEYS_READ writes nothing (not master.id either), KEYS_WRITE
 * only master.id.
 */
static void test_what_each_access_writes(void)
{
	struct keys_data_key a;
	struct err e = ERR_INIT;
	struct keys *k = NULL;
	char cmd[1400];

	fresh("access");
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), -ENOENT);
	CHECK(strstr(e.msg, "master.key is missing: restore") &&
	      strstr(e.msg, "from its backup (docs/store.md, Keys)"));
	CHECK(k == NULL);
	CHECK_INT(mode_of(""), -1);
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK(!keys_dir_used(dir) || mode_of("master.id") == 0644);
	CHECK_INT(keys_tenant(k, 4, true, &a, &e), 0);
	keys_close(k);
	CHECK_INT(mode_of("master.id"), 0644);
	CHECK(keys_dir_used(dir));
	snprintf(cmd, sizeof(cmd), "rm '%s/master.id'", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&k, dir, KEYS_READ, &e), 0);
	keys_close(k);
	CHECK_INT(mode_of("master.id"), -1);
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), 0);
	keys_close(k);
	CHECK_INT(mode_of("master.id"), 0644);
	/* The master key lost beside a data key: no access makes a new one. */
	snprintf(cmd, sizeof(cmd), "mv '%s/master.key' '%s/master.key.bak'", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), -ENOENT);
	CHECK(strstr(e.msg, "no master key, but") != NULL);
	CHECK_INT(mode_of("master.key"), -1);
}

/*
 * A directory without master.id (restored without it, or older than it) proves the master
 * key through a data key that opens: erased and damaged key files beside it prove nothing
 * and no longer lock every command out; with none that opens, nothing is written.
 */
static void test_master_checked_past_damaged_keys(void)
{
	static const char tombstone[] = "KOBANDX1erased, not removed yet";
	unsigned char good[96], garbage[96];
	struct keys_data_key dk;
	struct err e = ERR_INIT;
	struct keys *k = NULL;
	char cmd[1400];

	fresh("proof");
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	for (uint64_t t = 1; t <= 4; t++)
		CHECK_INT(keys_tenant(k, t, true, &dk, &e), 0);
	keys_close(k);
	CHECK_INT(get_file("tenant-4.key", good, sizeof(good)), 96);
	memcpy(garbage, good, sizeof(garbage)); /* the right magic and size, another key */
	garbage[40] ^= 1;
	put_file("tenant-1.key", "KOBANXX1 damaged", 16);
	put_file("tenant-2.key", tombstone, sizeof(tombstone) - 1);
	put_file("tenant-3.key", garbage, sizeof(garbage));
	snprintf(cmd, sizeof(cmd), "rm '%s/master.id'", dir);
	CHECK_INT(system(cmd), 0);
	/* tenant 4's key opens: the master key is right, master.id is written again */
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), 0);
	keys_close(k);
	CHECK_INT(mode_of("master.id"), 0644);
	/* without it: only keys that prove nothing, the directory opens, nothing written */
	snprintf(cmd, sizeof(cmd), "rm '%s/master.id'", dir);
	CHECK_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm '%s/tenant-4.key' '%s/tenant-3.key'", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), 0);
	keys_close(k);
	CHECK_INT(mode_of("master.id"), -1);
	/* a key that does not open and none that does: a wrong master key, refused */
	put_file("tenant-3.key", garbage, sizeof(garbage));
	k = NULL;
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), -EKEYREJECTED);
	CHECK(k == NULL && strstr(e.msg, "tenant-3.key") && strstr(e.msg, "does not open"));
	CHECK_INT(mode_of("master.id"), -1);
	/* only tenant-N.key as keys_tenant() names it is a data key: tenant-03.key is not */
	snprintf(cmd, sizeof(cmd), "mv '%s/tenant-3.key' '%s/tenant-03.key'", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), 0);
	keys_close(k);
	CHECK(keys_dir_used(dir)); /* tenant-1.key and tenant-2.key */
	snprintf(cmd, sizeof(cmd), "rm '%s/tenant-1.key' '%s/tenant-2.key'", dir, dir);
	CHECK_INT(system(cmd), 0);
	CHECK(!keys_dir_used(dir));
}

/*
 * Without master.id and with no data key that opens, nothing proved the master key: a wrong
 * one must not become the directory's by wrapping a new tenant's key (the next keys_open
 * proves it with that key and writes master.id, refusing the right one from then on, and a
 * damaged key file restored from its backup no longer opens). While a damaged key file is
 * there, no key is made; with only erased ones there is nothing another master key could
 * open, and one is made, by the handle already open once the damaged file is gone.
 */
static void test_unproved_master_makes_no_key(void)
{
	static const char tombstone[] = "KOBANDX1erased, not removed yet";
	struct keys_data_key dk;
	struct err e = ERR_INIT;
	struct keys *k = NULL;
	char other[700], cmd[2200];

	fresh("unproved");
	snprintf(other, sizeof(other), "%s-other", dir);
	CHECK_INT(keys_open(&k, dir, KEYS_CREATE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 1, true, &dk, &e), 0);
	CHECK_INT(keys_tenant(k, 2, true, &dk, &e), 0);
	keys_close(k);
	k = NULL;
	put_file("tenant-1.key", "KOBANXX1 damaged", 16);
	put_file("tenant-2.key", tombstone, sizeof(tombstone) - 1);
	/* another installation's master key in place of this one, master.id lost */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && rm '%s/master.id'", other, dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_open(&k, other, KEYS_CREATE, &e), 0);
	keys_close(k);
	k = NULL;
	snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/master.key'", other, dir);
	CHECK_INT(system(cmd), 0);
	/* it opens (nothing says it is wrong, and nothing can be read with it) */
	CHECK_INT(keys_open(&k, dir, KEYS_WRITE, &e), 0);
	if (!k)
		return;
	CHECK_INT(keys_tenant(k, 3, true, &dk, &e), -EKEYREJECTED);
	CHECK(strstr(e.msg, "tenant-3.key: no new data key") && strstr(e.msg, "master.id") &&
	      strstr(e.msg, "tenant-1.key: not a koban key file"));
	CHECK_INT(mode_of("tenant-3.key"), -1);
	CHECK_INT(mode_of("master.id"), -1);
	/* the damaged key erased meanwhile (only a tombstone left): the key is made */
	snprintf(cmd, sizeof(cmd), "rm '%s/tenant-1.key'", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(keys_tenant(k, 3, true, &dk, &e), 0);
	CHECK_INT(mode_of("tenant-3.key"), 0600);
	keys_close(k);
}

#define RACERS 4
#define RACE_ROUNDS 50

struct racer {
	struct keys *k;
	uint64_t tenant;
	pthread_barrier_t *go;
	struct keys_data_key dk;
	int rc;
	char msg[600];
};

static void *race_tenant_key(void *arg)
{
	struct racer *r = arg;
	struct err e = ERR_INIT;

	pthread_barrier_wait(r->go);
	r->rc = keys_tenant(r->k, r->tenant, true, &r->dk, &e);
	snprintf(r->msg, sizeof(r->msg), "%s", e.msg);
	return NULL;
}

/*
 * Handles (processes) that make a new tenant's key at the same moment all succeed with the
 * key written first: the others read it instead of failing with "already exists".
 */
static void test_concurrent_first_key(void)
{
	struct racer r[RACERS];
	pthread_barrier_t go;
	struct err e = ERR_INIT;
	unsigned failed = 0, differ = 0, msgs = 0;

	fresh("race");
	memset(r, 0, sizeof(r));
	for (int i = 0; i < RACERS; i++)
		CHECK_INT(keys_open(&r[i].k, dir, i ? KEYS_READ : KEYS_CREATE, &e), 0);
	for (uint64_t t = 1; t <= RACE_ROUNDS && r[RACERS - 1].k; t++) {
		pthread_t th[RACERS];

		pthread_barrier_init(&go, NULL, RACERS);
		for (int i = 0; i < RACERS; i++) {
			r[i].tenant = t;
			r[i].go = &go;
			CHECK_INT(pthread_create(&th[i], NULL, race_tenant_key, &r[i]), 0);
		}
		for (int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < RACERS; i++) {
			if (r[i].rc && failed++ == 0)
				fprintf(stderr, "tenant %llu: %s\n", (unsigned long long)t, r[i].msg);
			msgs += !r[i].rc && r[i].msg[0]; /* a success leaves no message behind */
			if (memcmp(&r[i].dk, &r[0].dk, sizeof(r[0].dk)))
				differ++;
		}
	}
	CHECK_INT(failed, 0);
	CHECK_INT(differ, 0);
	CHECK_INT(msgs, 0);
	for (int i = 0; i < RACERS; i++)
		keys_close(r[i].k);
}

int main(void)
{
	T_RUN(test_create_open_and_modes);
	T_RUN(test_tenant_keys_and_wrong_master);
	T_RUN(test_kept_keys_follow_their_file);
	T_RUN(test_seal_and_erase);
	T_RUN(test_damaged_key_file);
	T_RUN(test_unreadable_key_file);
	T_RUN(test_seal_is_xchacha20poly1305);
	T_RUN(test_sign_verify);
	T_RUN(test_key_files_elsewhere);
	T_RUN(test_what_each_access_writes);
	T_RUN(test_master_checked_past_damaged_keys);
	T_RUN(test_unproved_master_makes_no_key);
	T_RUN(test_concurrent_first_key);
	return t_done();
}
