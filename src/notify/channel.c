#include "notify/channel.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/fileio.h"
#include "notify/phone.h"
#include "notify/smtp.h"
#include "notify/pagerduty.h"
#include "notify/teams.h"
#include "notify/webhook.h"

/*
 * Every channel type, in one place: a new type adds its ops here and nowhere else.
 * (Each type's ops are defined in its own module, e.g. notify/smtp.c.)
 */
static const struct channel_ops *const types[] = {
	&phone_channel,
	&smtp_channel,
	&teams_ops,
	&pagerduty_ops,
	&webhook_ops,
};

const struct channel_ops *channel_type(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(types); i++)
		if (strcmp(types[i]->type, type) == 0)
			return types[i];
	return NULL;
}

static char type_names[256];
static pthread_once_t type_names_once = PTHREAD_ONCE_INIT;

static void type_names_make(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		int k = snprintf(type_names + n, sizeof(type_names) - n, "%s%s", n ? ", " : "",
				 types[i]->type);

		if (k < 0 || (size_t)k >= sizeof(type_names) - n)
			break;
		n += (size_t)k;
	}
}

/* Made once, on the first call of any thread (the configuration may load on several). */
const char *channel_type_names(void)
{
	pthread_once(&type_names_once, type_names_make);
	return type_names;
}

const char *channel_conf_get(const struct channel_conf *c, const char *key, int *line)
{
	for (size_t i = 0; i < c->n_kv; i++)
		if (strcmp(c->kv[i].key, key) == 0) {
			if (line)
				*line = c->kv[i].line;
			return c->kv[i].value;
		}
	return NULL;
}

int channel_secret_read(const struct channel_conf *c, const char *key, bool required, char *out,
			size_t max, struct err *e)
{
	int line = 0;
	const char *path = channel_conf_get(c, key, &line);
	char what[256];

	out[0] = '\0';
	snprintf(what, sizeof(what), "%s:%d: notify.channels.%s.%s", c->file ? c->file : "",
		 line ? line : c->line, c->name, key);
	if (!path)
		return required ? err_set(e, -EINVAL, "%s: missing (a file of mode 0600 that holds "
					  "the secret)", what) : 0;
	return fileio_read_secret(path, what, out, max, e);
}
