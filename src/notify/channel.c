#include "notify/channel.h"
#include "core/compat.h"

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
	NULL, /* keeps the list valid while it is being filled; not a type */
};

const struct channel_ops *channel_type(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(types); i++)
		if (types[i] && strcmp(types[i]->type, type) == 0)
			return types[i];
	return NULL;
}

const char *channel_type_names(void)
{
	static char names[256];
	size_t n = 0;

	if (names[0])
		return names;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (!types[i])
			continue;
		int k = snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "",
				 types[i]->type);
		if (k < 0 || (size_t)k >= sizeof(names) - n)
			break;
		n += (size_t)k;
	}
	return names;
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
