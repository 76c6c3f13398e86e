#include "store/keys.h"
#include "core/compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "keys"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"

#define MAGIC_LEN 8
/*
 * A destroyed data key: its file overwritten with this magic and random bytes, then removed.
 * Read back (the removal did not reach the disk, or failed), it is an erased key, not a
 * damaged one, so that the erasure can be run again and finish.
 */
#define TOMBSTONE_MAGIC "KOBANDX1"
#define PATH_LEN 4096
#define WRAPPED_LEN (KEYS_ID_BYTES + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + \
		     KEYS_KEY_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define AD_PREFIX "koban-data-key"

_Static_assert(KEYS_SEAL_OVERHEAD == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
					     crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "seal overhead");
_Static_assert(KEYS_SIG_BYTES == crypto_sign_BYTES && KEYS_PUB_BYTES == crypto_sign_PUBLICKEYBYTES,
	       "Ed25519 sizes");

/*
 * Data keys unwrapped lately, each with the identity of the file it came from: a search
 * then costs one lstat, not an open, a read and an unwrap (keys_tenant).
 */
#define KEYS_CACHED 8
struct cached_key {
	uint64_t tenant;
	struct fileio_id file;
	struct keys_data_key dk;
	bool used;
};

struct keys {
	char *dir;
	unsigned char master[KEYS_KEY_BYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct cached_key cache[KEYS_CACHED];
	unsigned next;                 /* the slot a new key takes */
};

static int crypto_ready(struct err *e)
{
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium could not be initialised");
	return 0;
}

static int key_path(char out[PATH_LEN], const char *dir, const char *name, struct err *e)
{
	int n = snprintf(out, PATH_LEN, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_LEN)
		return err_set(e, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	return 0;
}

/*
 * Writes magic | data into a new file dir/name of the given mode, synced, through a
 * temporary file and a rename: a crash leaves no half-written key under its real name.
 * -EEXIST (nothing written) when dir/name exists: keys are never replaced.
 */
static int write_key_file(const char *dir, const char *name, const char *magic,
			  const void *data, size_t len, mode_t mode, struct err *e)
{
	unsigned char buf[MAGIC_LEN + 128];
	int rc;

	if (len > sizeof(buf) - MAGIC_LEN)
		return err_set(e, -EINVAL, "%s/%s: key file too large", dir, name);
	memcpy(buf, magic, MAGIC_LEN);
	memcpy(buf + MAGIC_LEN, data, len);
	rc = fileio_replace(dir, name, buf, MAGIC_LEN + len, mode, FILEIO_NOREPLACE, e);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

/*
 * Opens path for reading, a regular file (O_NONBLOCK: a FIFO in its place is refused, not
 * waited on) of mode 0600 or stricter when secret; *st its status. The descriptor, or a
 * negative code: never -EBADMSG, which is for a file read whole whose content is wrong.
 */
static int open_key_file(const char *path, bool secret, struct stat *st, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), rc = 0;

	if (fd < 0)
		return err_set(e, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		rc = err_set(e, -EINVAL, "%s: not a regular file", path);
	else if (secret && (st->st_mode & 077))
		rc = err_set(e, -EPERM, "%s: mode %03o lets others read a secret key "
				 "(expected 0600: chmod 600 %s)", path, st->st_mode & 0777, path);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Reads fd up to size bytes or its end (a short read of NFS or FUSE is not the end). */
static ssize_t read_up_to(int fd, unsigned char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n = 0;

	while (got < size && (n = read(fd, buf + got, size - got)) > 0)
		got += (size_t)n;
	return n < 0 ? -1 : (ssize_t)got;
}

/*
 * Reads path: exactly magic | len bytes; a secret must be mode 0600 or stricter. *id gets
 * the identity of the file read (NULL: not wanted). -EBADMSG only when the file was read
 * and its content is not such a key file (wrong magic or size): damaged, or another file;
 * a file that cannot be opened or read gives the system's error.
 */
static int read_key_id(const char *path, const char *magic, void *data, size_t len,
		       bool secret, struct fileio_id *id, struct err *e)
{
	unsigned char buf[MAGIC_LEN + 128 + 1];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open_key_file(path, secret, &st, e)) < 0)
		return fd;
	if (id)
		*id = fileio_id_of(&st);
	n = read_up_to(fd, buf, sizeof(buf));
	if (n < 0)
		rc = err_set(e, -errno, "cannot read %s: %s", path, strerror(errno));
	else if (n >= MAGIC_LEN && !memcmp(buf, TOMBSTONE_MAGIC, MAGIC_LEN))
		rc = err_set(e, -ENOENT, "%s: a destroyed key (erased; the file was not removed "
				 "yet)", path);
	else if (n != (ssize_t)(MAGIC_LEN + len) || memcmp(buf, magic, MAGIC_LEN))
		rc = err_set(e, -EBADMSG, "%s: not a koban key file of this kind (expected %zu "
				 "bytes starting with %.8s)", path, MAGIC_LEN + len, magic);
	else
		memcpy(data, buf + MAGIC_LEN, len);
	close(fd);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

static int read_key_path(const char *path, const char *magic, void *data, size_t len,
			 bool secret, struct err *e)
{
	return read_key_id(path, magic, data, len, secret, NULL, e);
}

static int read_key_file(const char *dir, const char *name, const char *magic, void *data,
			 size_t len, bool secret, struct err *e)
{
	char path[PATH_LEN];
	int rc = key_path(path, dir, name, e);

	return rc ? rc : read_key_path(path, magic, data, len, secret, e);
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_LEN];

	return key_path(path, dir, name, NULL) == 0 && access(path, F_OK) == 0;
}

int keys_init(const char *dir, struct err *e)
{
	unsigned char master[KEYS_KEY_BYTES], sk[crypto_sign_SECRETKEYBYTES],
		pk[crypto_sign_PUBLICKEYBYTES];
	int rc;

	if ((rc = crypto_ready(e)))
		return rc;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, -errno, "cannot create %s: %s", dir, strerror(errno));
	if (exists(dir, "master.key") || exists(dir, "signing.key") || exists(dir, "signing.pub"))
		return err_set(e, -EEXIST, "%s already holds keys; koban never replaces keys "
				 "(the data they open would be lost)", dir);
	randombytes_buf(master, sizeof(master));
	crypto_sign_keypair(pk, sk);
	rc = write_key_file(dir, "master.key", "KOBANMK1", master, sizeof(master), 0600, e);
	if (!rc)
		rc = write_key_file(dir, "signing.key", "KOBANSK1", sk, sizeof(sk), 0600, e);
	if (!rc)
		rc = write_key_file(dir, "signing.pub", "KOBANPK1", pk, sizeof(pk), 0644, e);
	sodium_memzero(master, sizeof(master));
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int keys_public_path(const char *signing, char *out, size_t size)
{
	size_t len = strlen(signing);
	int n;

	if (len > 4 && !strcmp(signing + len - 4, ".key"))
		n = snprintf(out, size, "%.*s.pub", (int)(len - 4), signing);
	else
		n = snprintf(out, size, "%s.pub", signing);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void tenant_file(char name[48], uint64_t tenant)
{
	snprintf(name, 48, "tenant-%llu.key", (unsigned long long)tenant);
}

/*
 * Calls fn for each data key file (tenant-N.key) of dir, in directory order, until fn
 * returns non-zero; that value, or 0. A directory that cannot be read has none.
 */
static int each_data_key(const char *dir, int (*fn)(void *ctx, uint64_t tenant), void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return 0;
	while (!rc && (de = readdir(d))) {
		unsigned long long id;
		char tail[8], name[48];

		/* only the name keys_tenant() gives: not tenant-01.key, tenant-+1.key */
		if (sscanf(de->d_name, "tenant-%llu.%7s", &id, tail) == 2 && !strcmp(tail, "key") &&
		    (tenant_file(name, id), !strcmp(name, de->d_name)))
			rc = fn(ctx, id);
	}
	closedir(d);
	return rc;
}

static int found_one(void *ctx, uint64_t tenant)
{
	return 1;
}

/* Whether dir holds a data key (tenant-N.key). */
static bool any_data_key(const char *dir)
{
	return each_data_key(dir, found_one, NULL) == 1;
}

bool keys_dir_used(const char *dir)
{
	return exists(dir, "master.id") || any_data_key(dir);
}

static void master_id(const unsigned char master[KEYS_KEY_BYTES], unsigned char id[32])
{
	static const char ctx[] = "koban-master-id";

	crypto_generichash(id, 32, master, KEYS_KEY_BYTES, (const unsigned char *)ctx,
			   sizeof(ctx) - 1);
}

/* What the data keys of a directory without master.id say of the master key. */
struct master_proof {
	struct keys *k;
	bool opened;           /* a data key opened: the master key is the right one */
	int rejected;          /* the first data key that did not open: -EKEYREJECTED */
	struct err first_fail; /* its message */
	struct err damaged;    /* the first damaged key file's message (code 0: none) */
};

/*
 * One data key tried with the master key. An erased key (a tombstone) or a damaged file
 * proves nothing either way and is passed over, so that one such file does not lock every
 * command out; a file that cannot be read (its mode, an I/O error) stops with its error.
 */
static int try_data_key(void *ctx, uint64_t tenant)
{
	struct master_proof *mp = ctx;
	struct keys_data_key dk;
	struct err te = ERR_INIT;
	int rc = keys_tenant(mp->k, tenant, false, &dk, &te);

	sodium_memzero(&dk, sizeof(dk));
	if (rc == 0) {
		mp->opened = true;
		return 1;
	}
	if (rc == -EKEYREJECTED && !mp->rejected) {
		mp->rejected = rc;
		mp->first_fail = te;
	}
	if (rc == -EBADMSG && !mp->damaged.code)
		mp->damaged = te;
	if (rc == -EKEYREJECTED || rc == -ENOENT || rc == -EBADMSG)
		return 0;
	mp->first_fail = te;
	return rc;
}

/*
 * The master key must be the one the data keys of dir were wrapped with: master.id says
 * which. A directory without it (made before it existed, restored without it, or never
 * opened) gets it once the master key has opened one of its data keys, or when it has
 * none yet; with only erased or damaged ones nothing is proved and nothing is written.
 */
static int check_master(struct keys *k, const char *master_path, bool write, struct err *e)
{
	struct master_proof mp = { .k = k, .first_fail = ERR_INIT, .damaged = ERR_INIT };
	unsigned char id[32], have[32];
	struct err we = ERR_INIT;
	bool proved;
	int rc;

	master_id(k->master, id);
	if (exists(k->dir, "master.id")) {
		if ((rc = read_key_file(k->dir, "master.id", "KOBANMI1", have, sizeof(have), false,
					e)))
			return rc;
		if (sodium_memcmp(id, have, sizeof(id)))
			return err_set(e, -EKEYREJECTED, "%s is not the master key the data keys in "
				       "%s were made with (%s/master.id names another): wrong "
				       "keys.master, or keys from another installation",
				       master_path, k->dir, k->dir);
		return 0;
	}
	rc = each_data_key(k->dir, try_data_key, &mp);
	if (rc < 0 || (!mp.opened && mp.rejected)) {
		if (e)
			*e = mp.first_fail;
		return rc < 0 ? rc : mp.rejected;
	}
	proved = mp.opened || !any_data_key(k->dir);
	/* Best effort: a read-only copy of a data directory still opens (checked above). */
	if (write && proved &&
	    write_key_file(k->dir, "master.id", "KOBANMI1", id, sizeof(id), 0644, &we))
		log_warn("%s (the master key is checked through a data key meanwhile)", we.msg);
	return 0;
}

int keys_open_files(struct keys **kp, const char *dir, const struct keys_files *files,
		    enum keys_access mode, struct err *e)
{
	const char *mfile = files ? files->master : NULL, *sfile = files ? files->signing : NULL;
	char mpath[PATH_LEN], spath[PATH_LEN], ppath[PATH_LEN];
	struct keys *k;
	int rc;

	*kp = NULL;
	if ((rc = crypto_ready(e)))
		return rc;
	if ((rc = key_path(mpath, dir, "master.key", e)) ||
	    (rc = key_path(spath, dir, "signing.key", e)))
		return rc;
	if (mfile && snprintf(mpath, sizeof(mpath), "%s", mfile) >= (int)sizeof(mpath))
		return err_set(e, -ENAMETOOLONG, "keys.master: path too long");
	if (sfile && snprintf(spath, sizeof(spath), "%s", sfile) >= (int)sizeof(spath))
		return err_set(e, -ENAMETOOLONG, "keys.signing: path too long");
	if (keys_public_path(spath, ppath, sizeof(ppath)))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", spath);
	if (mode == KEYS_CREATE && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, -errno, "cannot create %s: %s", dir, strerror(errno));
	/* A missing master key is made only on first use, never in place of a lost one. */
	if (access(mpath, F_OK) < 0) {
		if (mfile)
			return err_set(e, -ENOENT, "keys.master: %s: %s (the master key named in "
				       "the configuration is missing: mount its media or correct "
				       "keys.master)", mpath, strerror(errno));
		if (exists(dir, "master.id") || any_data_key(dir))
			return err_set(e, -ENOENT, "%s: no master key, but %s holds data keys "
				       "wrapped with one: restore master.key from its backup "
				       "(docs/store.md, Keys), or name it with keys.master in the "
				       "configuration", mpath, dir);
		if (mode != KEYS_CREATE)
			return err_set(e, -ENOENT, "%s is missing: restore %s from its backup "
				       "(docs/store.md, Keys), or name the key files in the "
				       "configuration's keys: section", mpath, dir);
		if (!sfile && (rc = keys_init(dir, e)))
			return rc;
		if (sfile)
			return err_set(e, -ENOENT, "%s: no master key; make the keys with `koban "
				       "key init` and name both in the configuration's keys: section",
				       mpath);
	}
	if (access(spath, F_OK) < 0)
		return err_set(e, -ENOENT, "%s%s: %s (the signing key of deletion certificates "
			       "is missing: %s)", sfile ? "keys.signing: " : "", spath,
			       strerror(errno),
			       sfile ? "mount its media or correct keys.signing"
			       : mfile ? "name the one `koban key init` made beside keys.master "
					 "with keys.signing, or restore it from its backup"
				       : "restore it from its backup");
	k = mem_calloc(1, sizeof(*k));
	if (!k || !(k->dir = mem_strdup(dir))) {
		mem_free(k);
		return err_set(e, -ENOMEM, "out of memory");
	}
	rc = read_key_path(mpath, "KOBANMK1", k->master, sizeof(k->master), true, e);
	if (!rc)
		rc = read_key_path(spath, "KOBANSK1", k->sk, sizeof(k->sk), true, e);
	if (!rc)
		rc = read_key_path(ppath, "KOBANPK1", k->pk, sizeof(k->pk), false, e);
	if (!rc && memcmp(k->sk + 32, k->pk, sizeof(k->pk)))
		rc = err_set(e, -EBADMSG, "%s is not the public half of %s", ppath, spath);
	if (!rc)
		rc = check_master(k, mpath, mode != KEYS_READ, e);
	if (rc) {
		keys_close(k);
		return rc;
	}
	*kp = k;
	return 0;
}

int keys_open(struct keys **kp, const char *dir, enum keys_access mode, struct err *e)
{
	return keys_open_files(kp, dir, NULL, mode, e);
}

void keys_close(struct keys *k)
{
	if (!k)
		return;
	mem_free(k->dir);
	sodium_memzero(k, sizeof(*k));
	mem_free(k);
}

/* ---- tenants' data keys ---- */

static void wrap_ad(unsigned char ad[sizeof(AD_PREFIX) - 1 + 8 + KEYS_ID_BYTES], uint64_t tenant,
		    const unsigned char id[KEYS_ID_BYTES])
{
	memcpy(ad, AD_PREFIX, sizeof(AD_PREFIX) - 1);
	for (int i = 0; i < 8; i++)
		ad[sizeof(AD_PREFIX) - 1 + i] = (unsigned char)(tenant >> (8 * i));
	memcpy(ad + sizeof(AD_PREFIX) - 1 + 8, id, KEYS_ID_BYTES);
}

static int tenant_create(struct keys *k, uint64_t tenant, struct keys_data_key *out,
			 struct err *e)
{
	unsigned char w[WRAPPED_LEN], ad[sizeof(AD_PREFIX) - 1 + 8 + KEYS_ID_BYTES];
	unsigned char *nonce = w + KEYS_ID_BYTES, *ct = nonce + 24;
	char name[48];
	int rc;

	randombytes_buf(out->key, sizeof(out->key));
	randombytes_buf(out->id, sizeof(out->id));
	memcpy(w, out->id, KEYS_ID_BYTES);
	randombytes_buf(nonce, 24);
	wrap_ad(ad, tenant, out->id);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, out->key, sizeof(out->key), ad,
						   sizeof(ad), NULL, nonce, k->master);
	tenant_file(name, tenant);
	rc = write_key_file(k->dir, name, "KOBANDK1", w, sizeof(w), 0600, e);
	if (rc)
		sodium_memzero(out, sizeof(*out));
	return rc;
}

static struct cached_key *cached_key(struct keys *k, uint64_t tenant)
{
	for (unsigned i = 0; i < KEYS_CACHED; i++)
		if (k->cache[i].used && k->cache[i].tenant == tenant)
			return &k->cache[i];
	return NULL;
}

static void forget_key(struct keys *k, uint64_t tenant)
{
	struct cached_key *c = cached_key(k, tenant);

	if (c)
		sodium_memzero(c, sizeof(*c));
}

static void remember_key(struct keys *k, uint64_t tenant, const struct fileio_id *file,
			 const struct keys_data_key *dk)
{
	struct cached_key *c = cached_key(k, tenant);

	if (!c) {
		c = &k->cache[k->next];
		k->next = (k->next + 1) % KEYS_CACHED;
	}
	*c = (struct cached_key){ .tenant = tenant, .file = *file, .dk = *dk, .used = true };
}

/*
 * The cached key of tenant when its file is still the one it was read from (a file
 * destroyed, replaced or chmod'ed since has another identity: read again, and refused
 * again if it must be); *gone when there is no file.
 */
static bool key_still_cached(struct keys *k, uint64_t tenant, const char *path,
			     struct keys_data_key *out, bool *gone)
{
	struct cached_key *c = cached_key(k, tenant);
	struct fileio_id now = { 0 };
	struct stat sb;
	bool found = lstat(path, &sb) == 0;

	*gone = !found && errno == ENOENT;
	if (found)
		now = fileio_id_of(&sb);
	if (!c)
		return false;
	if (!found || !fileio_id_same(&c->file, &now)) {
		sodium_memzero(c, sizeof(*c)); /* read again; not kept if refused */
		return false;
	}
	*out = c->dk;
	return true;
}

/* The data key in w (a key file's content) unwrapped into out; false (out cleared) if not. */
static bool unwrap(const struct keys *k, uint64_t tenant, const unsigned char w[WRAPPED_LEN],
		   struct keys_data_key *out)
{
	unsigned char ad[sizeof(AD_PREFIX) - 1 + 8 + KEYS_ID_BYTES];
	const unsigned char *nonce = w + KEYS_ID_BYTES, *ct = nonce + 24;

	memcpy(out->id, w, KEYS_ID_BYTES);
	wrap_ad(ad, tenant, out->id);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->key, NULL, NULL, ct,
						       KEYS_KEY_BYTES + 16, ad, sizeof(ad), nonce,
						       k->master) < 0) {
		sodium_memzero(out, sizeof(*out));
		return false;
	}
	return true;
}

/*
 * Before a new data key is made for name: the master key that wraps it becomes the
 * directory's (the next check_master proves it with that key and writes master.id). Without
 * master.id, a master key that no data key opened is refused while a key file there refuses
 * it or says nothing (damaged: its backup, wrapped with the right master key, may come back);
 * with only erased keys, nothing is left that another master key could open. Checked at each
 * new key, not kept from keys_open: a daemon may erase the damaged key's tenant meanwhile.
 */
static int master_proved(struct keys *k, const char *name, struct err *e)
{
	struct master_proof mp = { .k = k, .first_fail = ERR_INIT, .damaged = ERR_INIT };
	int rc;

	if (exists(k->dir, "master.id"))
		return 0;
	if ((rc = each_data_key(k->dir, try_data_key, &mp)) < 0) {
		if (e)
			*e = mp.first_fail;
		return rc;
	}
	if (mp.opened || (!mp.rejected && !mp.damaged.code))
		return 0;
	return err_set(e, -EKEYREJECTED, "%s/%s: no new data key is made with a master key that "
		       "nothing proved: %s/master.id is missing and no data key there opens (%s); "
		       "restore master.id or that key file from a backup, or erase its tenant "
		       "(docs/store.md, Keys)", k->dir, name, k->dir,
		       mp.rejected ? mp.first_fail.msg : mp.damaged.msg);
}

int keys_tenant(struct keys *k, uint64_t tenant, bool create, struct keys_data_key *out,
		struct err *e)
{
	unsigned char w[WRAPPED_LEN];
	char name[48], path[PATH_LEN];
	struct fileio_id file;
	bool gone;
	int rc;

	tenant_file(name, tenant);
	if ((rc = key_path(path, k->dir, name, e)))
		return rc;
	if (key_still_cached(k, tenant, path, out, &gone))
		return 0;
	if (gone && !create)
		return err_set(e, -ENOENT, "%s/%s: the tenant has no data key (erased, or the "
				 "key directory is not the one its data was written with)",
			       k->dir, name);
	/* -EEXIST: another handle or process made it first; this one reads the winner's */
	if (gone) {
		struct err ce = ERR_INIT; /* e stays clear when the winner's key is read */

		if ((rc = master_proved(k, name, e)))
			return rc;
		if ((rc = tenant_create(k, tenant, out, &ce)) != -EEXIST) {
			if (rc < 0 && e)
				*e = ce;
			return rc;
		}
	}
	if ((rc = read_key_id(path, "KOBANDK1", w, sizeof(w), true, &file, e)))
		return rc;
	if (!unwrap(k, tenant, w, out)) {
		sodium_memzero(w, sizeof(w));
		return err_set(e, -EKEYREJECTED, "%s/%s: the master key does not open this data "
				 "key (wrong master.key, or the file belongs to another tenant)",
			       k->dir, name);
	}
	sodium_memzero(w, sizeof(w));
	remember_key(k, tenant, &file, out);
	return 0;
}

/* BLAKE2b-256 of every byte of the key file at path (a damaged one: what names it). */
static int hash_key_file(const char *path, unsigned char hash[32], struct err *e)
{
	crypto_generichash_state h;
	unsigned char buf[4096];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open_key_file(path, true, &st, e)) < 0)
		return fd;
	crypto_generichash_init(&h, NULL, 0, 32);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_generichash_update(&h, buf, (unsigned long long)n);
	if (n < 0)
		rc = err_set(e, -errno, "cannot read %s: %s", path, strerror(errno));
	close(fd);
	crypto_generichash_final(&h, hash, 32);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(&h, sizeof(h));
	return rc;
}

int keys_tenant_id_hash(struct keys *k, uint64_t tenant, unsigned char id_hash[32],
			bool *damaged, struct err *e)
{
	unsigned char w[WRAPPED_LEN];
	struct keys_data_key dk;
	char name[48], path[PATH_LEN];
	struct err re = ERR_INIT; /* e stays clear when a damaged file is named by its bytes */
	int rc;

	if (damaged)
		*damaged = false;
	tenant_file(name, tenant);
	if ((rc = key_path(path, k->dir, name, e)))
		return rc;
	rc = read_key_path(path, "KOBANDK1", w, sizeof(w), true, &re);
	/*
	 * The right magic and size, but the master key (checked at keys_open) does not open it:
	 * a bit flipped in it, another tenant's file, or garbage. Its id may be any bytes, so it
	 * names nothing either.
	 */
	if (rc == 0 && !unwrap(k, tenant, w, &dk))
		rc = err_set(&re, -EBADMSG, "%s: the master key does not open this data key "
			     "(damaged, or another tenant's file)", path);
	sodium_memzero(&dk, sizeof(dk));
	if (rc == -EBADMSG && damaged) {
		/* read, but not a data key: its id is lost; the file is named by its bytes */
		sodium_memzero(w, sizeof(w));
		if ((rc = hash_key_file(path, id_hash, e)) == 0)
			*damaged = true;
		return rc;
	}
	if (rc) {
		sodium_memzero(w, sizeof(w));
		if (e)
			*e = re;
		return rc;
	}
	crypto_generichash(id_hash, 32, w, KEYS_ID_BYTES, NULL, 0);
	sodium_memzero(w, sizeof(w));
	return 0;
}

/* Removes a destroyed (overwritten) key file for good: unlink, then sync the directory. */
static int remove_key_file(struct keys *k, const char *path, struct err *e)
{
	int rc;

	if (unlink(path) < 0)
		return err_set(e, -errno, "cannot remove %s (the key is destroyed already): %s",
			       path, strerror(errno));
	if ((rc = fileio_sync_dir(k->dir)) < 0)
		return err_set(e, rc, "cannot sync %s (the key is destroyed already): %s", k->dir,
			       strerror(-rc));
	return 0;
}

/*
 * A damaged key file is overwritten up to this size: koban's are 96 bytes, and a larger or
 * sparse one (`truncate -s 1T`) must not fill the file system the WAL shares; the rest of
 * its blocks are freed when it is removed.
 */
#define OVERWRITE_MAX (1u << 20)

/* Writes random bytes, the tombstone magic first at offset 0, over [from, to) of fd. */
static int write_junk(int fd, off_t from, off_t to)
{
	unsigned char junk[4096];
	int rc = 0;

	while (from < to && !rc) {
		size_t len = (size_t)MIN(to - from, (off_t)sizeof(junk));
		ssize_t n;

		randombytes_buf(junk, len);
		if (!from)
			memcpy(junk, TOMBSTONE_MAGIC, MAGIC_LEN);
		if ((n = pwrite(fd, junk, len, from)) > 0)
			from += n;
		else
			rc = n < 0 ? -errno : -EIO; /* 0: nothing written, which is no progress */
	}
	sodium_memzero(junk, sizeof(junk));
	return rc ? rc : fdatasync(fd) < 0 ? -errno : 0;
}

/*
 * Overwrites the key file at path with the tombstone magic and random bytes, synced: first
 * a data key's length (a truncated file reads as a tombstone then), which destroys a key
 * (*overwritten true from there), then the rest of a longer, damaged file (it may hold a
 * key further on) up to OVERWRITE_MAX.
 */
static int overwrite_key_file(const char *path, bool *overwritten, struct err *e)
{
	const off_t key_len = MAGIC_LEN + WRAPPED_LEN;
	struct stat st;
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), rc = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		rc = -errno;
	else if (!(rc = write_junk(fd, 0, key_len)))
		*overwritten = true;
	if (!rc && st.st_size > key_len)
		rc = write_junk(fd, key_len, MIN(st.st_size, (off_t)OVERWRITE_MAX));
	if (fd >= 0)
		close(fd);
	return rc ? err_set(e, rc, "cannot overwrite %s: %s", path, strerror(-rc)) : 0;
}

int keys_file_overwrite(const char *path, struct err *e)
{
	bool done;

	return overwrite_key_file(path, &done, e);
}

int keys_tenant_destroy(struct keys *k, uint64_t tenant, unsigned char id_hash[32],
			bool *damaged, bool *overwritten, struct err *e)
{
	char name[48], path[PATH_LEN];
	bool done = false;
	int rc;

	if (overwritten)
		*overwritten = false;
	tenant_file(name, tenant);
	forget_key(k, tenant);
	if ((rc = key_path(path, k->dir, name, e)) ||
	    (rc = keys_tenant_id_hash(k, tenant, id_hash, damaged, e)))
		return rc;
	/*
	 * Overwrite before removing, so the wrapped key is not left in the freed blocks; the
	 * magic says so if the removal does not happen.
	 */
	rc = overwrite_key_file(path, &done, e);
	if (overwritten)
		*overwritten = done; /* on disk: a crash from here on leaves the tombstone */
	return rc ? rc : remove_key_file(k, path, e);
}

int keys_tenant_tombstone_remove(struct keys *k, uint64_t tenant, struct err *e)
{
	unsigned char magic[MAGIC_LEN];
	char name[48], path[PATH_LEN];
	ssize_t n = 0;
	int fd, rc;

	tenant_file(name, tenant);
	if ((rc = key_path(path, k->dir, name, e)))
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : err_set(e, -errno, "cannot open %s: %s", path,
						     strerror(errno));
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, TOMBSTONE_MAGIC, MAGIC_LEN))
		return 0; /* a key, not what is left of one */
	forget_key(k, tenant);
	return remove_key_file(k, path, e);
}

/* ---- blocks and signatures ---- */

static void block_ad(unsigned char ad[8], uint64_t block_id)
{
	for (int i = 0; i < 8; i++)
		ad[i] = (unsigned char)(block_id >> (8 * i));
}

/*
 * Payloads of KEYS_BULK_MIN bytes and more go through OpenSSL's ChaCha20-Poly1305, about
 * three times libsodium's speed here (vector code for the whole AEAD): XChaCha20-Poly1305 is
 * ChaCha20-Poly1305 (RFC 8439) under the subkey HChaCha20(key, nonce[0..16)) with the nonce
 * 0^4 || nonce[16..24) (draft-irtf-cfrg-xchacha, section 2.3), so the bytes are libsodium's
 * to the bit: either side opens what the other sealed (test_keys checks it both ways).
 * Shorter payloads stay with libsodium, where setting up a cipher context would cost more
 * than it saves. Without the cipher in OpenSSL (a provider that lacks it), libsodium does all.
 */
#define KEYS_BULK_MIN 1024
#define XNONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define XTAG crypto_aead_xchacha20poly1305_ietf_ABYTES

static EVP_CIPHER *bulk_cipher;
static pthread_once_t bulk_once = PTHREAD_ONCE_INIT;

static void bulk_init(void)
{
	bulk_cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

static bool bulk_ok(size_t len)
{
	if (len < KEYS_BULK_MIN || len > INT_MAX)
		return false;
	pthread_once(&bulk_once, bulk_init);
	return bulk_cipher != NULL;
}

/*
 * XChaCha20-Poly1305 through OpenSSL: in[0..len) to out[0..len) and tag (seal), or back
 * with the tag checked (open). 0, or -EBADMSG when the tag does not match (open) or
 * OpenSSL fails: the callers then let libsodium do it.
 */
static int bulk_aead(bool seal, const unsigned char *key, const unsigned char nonce[XNONCE],
		     const unsigned char *ad, size_t ad_len, const unsigned char *in, size_t len,
		     unsigned char *out, unsigned char tag[XTAG])
{
	unsigned char subkey[32], iv[12] = { 0 };
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, rc = -EBADMSG;

	crypto_core_hchacha20(subkey, nonce, key, NULL);
	memcpy(iv + 4, nonce + 16, 8);
	if (!ctx || EVP_CipherInit_ex(ctx, bulk_cipher, NULL, subkey, iv, seal) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 || n != (int)len)
		goto fail;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, XTAG, tag) != 1)
		goto fail;
	if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1 || n != 0)
		goto fail;
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, XTAG, tag) != 1)
		goto fail;
	rc = 0;
fail:
	sodium_memzero(subkey, sizeof(subkey));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int keys_seal(const struct keys_data_key *dk, uint64_t block_id, const void *in, size_t len,
	      unsigned char *out)
{
	unsigned char ad[8];

	block_ad(ad, block_id);
	randombytes_buf(out, XNONCE);
	if (bulk_ok(len) && !bulk_aead(true, dk->key, out, ad, sizeof(ad), in, len, out + XNONCE,
				       out + XNONCE + len))
		return 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + XNONCE, NULL, in, len, ad, sizeof(ad),
						   NULL, out, dk->key);
	return 0;
}

int keys_unseal(const struct keys_data_key *dk, uint64_t block_id, const unsigned char *in,
		size_t len, void *out)
{
	unsigned char ad[8], tag[XTAG];

	if (len < KEYS_SEAL_OVERHEAD)
		return -EBADMSG;
	block_ad(ad, block_id);
	if (bulk_ok(len - KEYS_SEAL_OVERHEAD)) {
		memcpy(tag, in + len - XTAG, XTAG);
		if (!bulk_aead(false, dk->key, in, ad, sizeof(ad), in + XNONCE,
			       len - KEYS_SEAL_OVERHEAD, out, tag))
			return 0;
		/*
		 * OpenSSL decrypts before it checks the tag: leave nothing of it. A refusal may
		 * also be OpenSSL failing (out of memory), which must not pass for a forgery
		 * (the sealer would skip the record for good): libsodium decides.
		 */
		sodium_memzero(out, len - KEYS_SEAL_OVERHEAD);
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + XNONCE,
						       len - XNONCE, ad, sizeof(ad), in,
						       dk->key) < 0)
		return -EBADMSG;
	return 0;
}

void keys_sign(struct keys *k, const void *msg, size_t len, unsigned char sig[KEYS_SIG_BYTES])
{
	crypto_sign_detached(sig, NULL, msg, len, k->sk);
}

void keys_public(struct keys *k, unsigned char pub[KEYS_PUB_BYTES])
{
	memcpy(pub, k->pk, KEYS_PUB_BYTES);
}

int keys_read_public(const char *path, unsigned char pub[KEYS_PUB_BYTES], struct err *e)
{
	char dir[PATH_LEN];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 1;

	if (n >= sizeof(dir))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", path);
	memcpy(dir, slash ? path : ".", n);
	dir[n] = '\0';
	return read_key_file(dir, slash ? slash + 1 : path, "KOBANPK1", pub, KEYS_PUB_BYTES,
			     false, e);
}

int keys_verify(const unsigned char pub[KEYS_PUB_BYTES], const void *msg, size_t len,
		const unsigned char sig[KEYS_SIG_BYTES])
{
	if (sodium_init() < 0)
		return -EIO;
	return crypto_sign_verify_detached(sig, msg, len, pub) == 0 ? 0 : -EBADMSG;
}
