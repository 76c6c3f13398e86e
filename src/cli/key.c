/*
 * key.c - `koban key init [--dir DIR]`: makes the installation's master and signing keys
 * (store/keys.h) in a directory of the operator's choice, e.g. on separate media, and says
 * how to name them in the configuration's keys: section. Also cli_store_open(), the one
 * place the CLI opens the event store with the configuration's key files.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/pidfile.h"
#include "store/keys.h"
#include "store/store.h"

#define INIT_USAGE "key init [-c FILE] [--dir DIR]"

static const struct cli_verb key_verbs[] = {
	{ "init", INIT_USAGE,
	  "Makes a new master key (it wraps every tenant's data key) and signing key (it\n"
	  "signs deletion certificates) in DIR (default: DATA_DIR/keys), with signing.pub\n"
	  "beside them. DIR is made with mode 0700, the secret files with 0600. Existing\n"
	  "keys are never replaced. Keys outside DATA_DIR/keys are used once the\n"
	  "configuration names them (printed):  keys: { master: FILE, signing: FILE }." },
};

static const struct cli_command key_command = {
	"key", INIT_USAGE, "  init  make the master and signing keys (e.g. on separate media)",
	key_verbs, ARRAY_SIZE(key_verbs),
};

int cli_store_open(struct store **st, const struct config *c, bool write, struct err *e)
{
	struct keys_files files = { .master = c->keys_master, .signing = c->keys_signing };

	return store_open_keys(st, c->data_dir, &files, write, e);
}

int cmd_key(int argc, char **argv)
{
	const char *dir = NULL;
	const struct cli_option opts[] = { CLI_VALUE("dir", &dir) };
	struct cli_args a = { "key init", INIT_USAGE, NULL, opts, ARRAY_SIZE(opts), NULL, 0, 0,
			      NULL };
	struct buf def = BUF_INIT(PATH_MAX);
	struct err e = ERR_INIT;
	char real[PATH_MAX];
	struct config c;
	bool in_data_dir;
	int rc;

	if ((rc = cli_verb_start(&argc, &argv, &key_command, &a, &c)) >= 0)
		return rc;
	rc = 1;
	if (buf_addf(&def, "%s/keys", c.data_dir) < 0) {
		err_set(&e, -ENAMETOOLONG, "%s/keys: path too long", c.data_dir);
		goto fail;
	}
	if (!dir && (c.keys_master || c.keys_signing)) {
		err_set(&e, -EINVAL, "the configuration names the keys elsewhere (keys.%s: %s): "
			"give --dir DIR for where to make new ones", c.keys_master ? "master" :
			"signing", c.keys_master ? c.keys_master : c.keys_signing);
		goto fail;
	}
	in_data_dir = !dir;
	/* DATA_DIR/keys: the data directory itself may not exist yet. */
	if (!dir && pidfile_make_data_dir(c.data_dir, &e) < 0)
		goto fail;
	if (!dir)
		dir = def.p;
	if (keys_init(dir, &e) < 0)
		goto fail;
	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	printf("created %s/master.key, %s/signing.key and %s/signing.pub\n", real, real, real);
	if (in_data_dir) {
		printf("koban uses them from there; back up master.key apart from the data\n");
	} else {
		printf("name them in the configuration (then restart koban):\n"
		       "keys:\n  master: %s/master.key\n  signing: %s/signing.key\n", real, real);
		if (!c.keys_master && access(def.p, F_OK) == 0) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/master.key", def.p);
			if (access(path, F_OK) == 0)
				printf("note: %s already holds a master key; data stored with it "
				       "cannot be read with the new one\n", def.p);
		}
	}
	rc = 0;
	goto out;
fail:
	cli_fail(&e);
out:
	buf_release(&def);
	config_release(&c);
	return rc;
}
