/*
 * keys.h - the installation's keys (libsodium): a master key that wraps every tenant's data
 * key, and an Ed25519 key that signs deletion certificates.
 *
 * Files, in a directory of mode 0700 (DATA_DIR/keys by default; `koban key init` can put
 * master and signing keys elsewhere, e.g. on separate media, and the configuration's keys:
 * section names them: struct keys_files), each of mode 0600 and refused when group or
 * others may read it:
 *   master.key     "KOBANMK1" | 32 random bytes
 *   signing.key    "KOBANSK1" | Ed25519 secret key (64 bytes: seed and public key)
 *   signing.pub    "KOBANPK1" | Ed25519 public key (32 bytes; mode 0644, may be published)
 *   tenant-N.key   a tenant's data key, wrapped by the master key:
 *                  "KOBANDK1" | key id (16) | nonce (24) |
 *                  XChaCha20-Poly1305(data key; AD = "koban-data-key" | tenant | key id)
 *   master.id      "KOBANMI1" | BLAKE2b-256 of the master key keyed "koban-master-id": which
 *                  master key the data keys of this directory are wrapped with (in the data
 *                  keys' directory, written on first open), so that another master key is
 *                  refused at once, and a missing one is never replaced by a new one.
 * The data keys (tenant-N.key, master.id) always stay in the keys directory of the data
 * directory; only the master and signing keys can live elsewhere.
 * A tenant's data never sits beside its key: the store keeps data under DATA_DIR/tenants/
 * and the keys here. Destroying a tenant's key file (overwritten, synced, removed) makes
 * every copy of its data unreadable: that is the crypto-erasure of a deletion certificate.
 *
 * Block encryption (keys_seal/keys_unseal): XChaCha20-Poly1305 with a random nonce and the
 * block id as associated data, so a block moved to another place or tenant fails to open.
 *
 * Errors name the file: a missing key, a wrong master key (the data key does not unwrap),
 * a damaged file or loose permissions; never garbage.
 *
 * A handle keeps the last 8 data keys it unwrapped with the identity of their files
 * (device, inode, size, times): keys_tenant() then costs one lstat; a file destroyed,
 * replaced or given other permissions since is read again (and refused again).
 *
 * Memory: keys_close() wipes every key it held. Threads: keys_open/keys_close on one
 * thread; keys_tenant* from one thread at a time; keys_seal, keys_unseal, keys_sign and
 * keys_verify from any thread.
 */
#ifndef STORE_KEYS_H
#define STORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct keys;

#define KEYS_ID_BYTES 16
#define KEYS_KEY_BYTES 32
#define KEYS_SIG_BYTES 64
#define KEYS_PUB_BYTES 32
#define KEYS_SEAL_OVERHEAD (24 + 16) /* nonce + tag */

struct keys_data_key {
	unsigned char key[KEYS_KEY_BYTES];
	unsigned char id[KEYS_ID_BYTES];
};

/* Creates master.key, signing.key and signing.pub in dir (made 0700); -EEXIST when any exists. */
int keys_init(const char *dir, struct err *e);

/* Where the master and signing keys are when not in the keys directory (config keys:). */
struct keys_files {
	const char *master;  /* NULL: DIR/master.key */
	const char *signing; /* NULL: DIR/signing.key; its public half is keys_public_path() */
};

/*
 * What keys_open_files() may write. Whether a data directory is new (holds no stored data)
 * is the caller's to know: the store decides (store_keys_open, store/store.h).
 */
enum keys_access {
	KEYS_READ,   /* nothing: a read-only command; dir is neither made nor written */
	KEYS_WRITE,  /* master.id once (a directory made before it existed); no key is made */
	KEYS_CREATE, /* KEYS_WRITE, and the keys made on first use: only for a data directory
		      * that holds no stored data (no segments, no WAL records) */
};

/*
 * Opens the keys: data keys in dir, the master and signing keys where files says (NULL:
 * all in dir). With KEYS_CREATE, dir is made and, on first use only (dir holds no master
 * key, no master.id and no data key, and files names no master), keys_init() makes the keys
 * in dir. Otherwise a missing master or signing key is -ENOENT naming the file and what to
 * do (restore it from its backup, or name it in the configuration). A master or signing
 * key that files names is never created: missing, it is an error naming the file and the
 * configuration key. A master key other than the one the data keys were wrapped with is
 * -EKEYREJECTED (checked with master.id, or by opening a data key).
 */
int keys_open_files(struct keys **k, const char *dir, const struct keys_files *files,
		    enum keys_access mode, struct err *e);
/*
 * Whether dir holds master.id or a data key: keys were used there, so they are never made
 * there again (keys_open_files then names what is missing).
 */
bool keys_dir_used(const char *dir);
/* keys_open_files() with every key in dir. */
int keys_open(struct keys **k, const char *dir, enum keys_access mode, struct err *e);
/* The public key file of a signing key file: ".key" at the end replaced by ".pub", else
 * ".pub" appended. -ENAMETOOLONG when it does not fit size bytes. */
int keys_public_path(const char *signing, char *out, size_t size);
void keys_close(struct keys *k);

/*
 * The data key of tenant: unwrapped from tenant-N.key, or (create) made and stored when the
 * tenant has none. -ENOENT without create; -EKEYREJECTED when the master key does not open it.
 * Create only for a tenant without stored data (store_writer_key, store/store.h, checks):
 * a key made in place of a lost one opens none of the data written before. Two handles (or
 * processes) that create the same tenant's key at once both get the one written first.
 * Nor is one made (-EKEYREJECTED) where nothing proved the master key: no master.id, and
 * no data key that opens it but one that is damaged or refuses it (keys.c: master_proved).
 */
int keys_tenant(struct keys *k, uint64_t tenant, bool create, struct keys_data_key *out,
		struct err *e);
/*
 * BLAKE2b-256 of the key id of the tenant's data key file (what keys_tenant_destroy() would
 * give), nothing changed. -ENOENT when the tenant has no key.
 * A damaged file (read whole, but not a data key file: wrong magic or size) is -EBADMSG
 * when damaged is NULL; else 0 with *damaged set and id_hash the BLAKE2b-256 of all its
 * bytes (its key id cannot be read: this names the file). A file that cannot be opened or
 * read, is not a regular file or lets others read it is always an error: the key in it may
 * be whole.
 */
int keys_tenant_id_hash(struct keys *k, uint64_t tenant, unsigned char id_hash[32],
			bool *damaged, struct err *e);
/*
 * keys_tenant_destroy() overwrites the key file with a "KOBANDX1" magic before removing it;
 * such a file left behind (the removal failed, or did not reach the disk before a crash) is
 * read as an erased key (-ENOENT). This removes it: 0 also when the tenant has no such file
 * (a real key is never touched). For a rerun of an interrupted erasure.
 */
int keys_tenant_tombstone_remove(struct keys *k, uint64_t tenant, struct err *e);
/*
 * Overwrites the key file at path as keys_tenant_destroy() does before it removes one (the
 * tombstone magic and random bytes over a key's length, then up to 1 MiB of the rest,
 * synced), and leaves it there: for copies of key files kept elsewhere (store/backup.h),
 * which the caller removes. -ENOENT (e set) when there is none.
 */
int keys_file_overwrite(const char *path, struct err *e);
/*
 * Destroys the tenant's data key file and sets id_hash to BLAKE2b-256 of its key id (for the
 * certificate). -ENOENT when the tenant has no key. damaged as for keys_tenant_id_hash():
 * NULL refuses a damaged file (-EBADMSG, nothing changed); else a damaged file is destroyed
 * too (its bytes overwritten, up to 1 MiB of a longer file), *damaged set and id_hash the
 * hash of its bytes. *overwritten (may be NULL): a key's length at the file's start was
 * overwritten on disk (written and synced), so it is destroyed even when the rest of the
 * overwrite or the removal of the file then failed (the error returned;
 * keys_tenant_tombstone_remove() later).
 */
int keys_tenant_destroy(struct keys *k, uint64_t tenant, unsigned char id_hash[32],
			bool *damaged, bool *overwritten, struct err *e);

/* out must hold len + KEYS_SEAL_OVERHEAD bytes. */
int keys_seal(const struct keys_data_key *dk, uint64_t block_id, const void *in, size_t len,
	      unsigned char *out);
/*
 * in holds len bytes (>= KEYS_SEAL_OVERHEAD); out len - KEYS_SEAL_OVERHEAD. -EBADMSG if
 * forged (or another key's, or another block id's); out then holds no plaintext.
 */
int keys_unseal(const struct keys_data_key *dk, uint64_t block_id, const unsigned char *in,
		size_t len, void *out);

void keys_sign(struct keys *k, const void *msg, size_t len, unsigned char sig[KEYS_SIG_BYTES]);
void keys_public(struct keys *k, unsigned char pub[KEYS_PUB_BYTES]);
/* Reads a signing.pub file (anywhere: given to whoever verifies certificates). */
int keys_read_public(const char *path, unsigned char pub[KEYS_PUB_BYTES], struct err *e);
/* 0 when sig is pub's signature of msg, else -EBADMSG. */
int keys_verify(const unsigned char pub[KEYS_PUB_BYTES], const void *msg, size_t len,
		const unsigned char sig[KEYS_SIG_BYTES]);

#endif
