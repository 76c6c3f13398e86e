/*
 * fuzz_config.c - libFuzzer target for the configuration loader.
 *
 * Loads the input as YAML. When it loads, the result must hold sane values (store settings
 * of every store.tenants entry resolved, never the "inherit" marker), an override
 * must work on it, a reload's diff against the defaults and keeping the defaults'
 * restart-only keys must leave only live keys changed, and loading it again with the Nth allocation failing (N taken from
 * the input's first byte) must fail cleanly or give the same result.
 */
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_loaded(struct config *c)
{
	struct err e = ERR_INIT;

	if (c->n_listeners > CONFIG_MAX_LISTENERS || !c->data_dir || !c->timezone ||
	    c->workers > 64 || c->max_message_size < 480 || c->max_message_size > (16u << 20))
		abort();
	for (size_t i = 0; i < c->n_listeners; i++)
		if (!c->listeners[i].name || !c->listeners[i].address)
			abort();
	for (size_t i = 0; i < c->n_limits; i++)
		(void)config_tenant_eps(c, c->limits[i].tenant);
	if (c->store_commit_interval_ms < 1 || c->store_commit_interval_ms > 10000)
		abort();
	for (size_t i = 0; i < c->n_store_tenants; i++) {
		uint64_t quota;
		unsigned days;

		/* an entry's own value, or the section's: never the "inherit" marker */
		if (config_store_tenant(c, c->store_tenants[i].tenant, &quota, &days) != 1 ||
		    quota == CONFIG_STORE_INHERIT_QUOTA || days == CONFIG_STORE_INHERIT_RETENTION)
			abort();
	}
	if (config_set_listener(c, LISTENER_UDP, "127.0.0.1:0", &e) < 0 &&
	    c->n_listeners < CONFIG_MAX_LISTENERS && !strstr(e.msg, "already has that name"))
		abort();
}

static void count_restart(void *ctx, const char *key, bool live, const char *was,
			  const char *now)
{
	if (!live)
		++*(size_t *)ctx;
}

/* After keeping the running (default) values of restart-only keys, none differs. */
static void check_reload(struct config *c)
{
	struct err e = ERR_INIT;
	struct config running;
	size_t restart = 0;

	if (config_defaults(&running, &e) < 0)
		abort();
	(void)config_diff(&running, c, NULL, NULL);
	if (config_keep_restart_keys(c, &running, &e) < 0)
		abort();
	(void)config_diff(&running, c, count_restart, &restart);
	if (restart)
		abort();
	config_release(&running);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	struct config c;
	int rc = config_load_mem(&c, (const char *)data, size, "fuzz", &e);

	if (rc < 0) {
		if (!e.msg[0] || c.data_dir || c.n_listeners)
			abort();
		return 0;
	}
	check_loaded(&c);
	check_reload(&c);
	config_release(&c);

	if (size > 0) {
		mem_fail_after(data[0] % 32);
		rc = config_load_mem(&c, (const char *)data, size, "fuzz", &e);
		mem_fail_after(-1);
		if (rc == 0)
			config_release(&c);
		else if (rc != -ENOMEM || c.data_dir)
			abort();
	}
	return 0;
}
