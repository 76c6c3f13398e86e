/*
 * channel.h - the delivery channels of notifications (issue 11): one interface that every
 * channel type implements (smtp, teams, phone, pagerduty, webhook), and the registry that
 * names them. The notification engine (notify/notify.h) renders a notice, hands it to the
 * channel of the policy step and records the result in the delivery log.
 *
 * A channel is configured under `notify.channels.NAME` with a `type` and the type's own
 * keys; the configuration hands them over as a struct channel_conf (key/value pairs with
 * their lines, the values as written). A type's open() validates its keys and refuses
 * unknown ones with "FILE:LINE: notify.channels.NAME.KEY: what was expected". A secret is
 * never a value: keys ending in `_file` name a file of mode 0600 or stricter that holds it
 * (channel_secret_read), and no secret appears in a message, a log line or a result.
 *
 * A notice is one message to one recipient, rendered already; the channel only encodes it
 * for its wire format. message_id is stable across retries of the same notice (the engine
 * retries; a channel never retries on its own), so a receiver that reports it can
 * de-duplicate.
 *
 * Results: send() returns 0 and fills r->status (CHANNEL_SENT: handed to the service,
 * CHANNEL_DELIVERED: the service reports it reached the person) and r->provider_id (the
 * service's id: Message-ID, call SID, dedup key), or a negative code with r->status
 * CHANNEL_FAILED_TEMP (worth a retry: timeout, 5xx, 429 with r->retry_after_s) or
 * CHANNEL_FAILED_PERM (4xx, refused recipient) and r->reason, a sentence without secrets.
 *
 * Memory: open() allocates the state that close() frees; a notice and a result belong to the
 * caller. Threads: open/close from one thread; send() of one state from one thread at a time
 * (the engine serialises per channel); different states are independent.
 */
#ifndef NOTIFY_CHANNEL_H
#define NOTIFY_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define CHANNEL_REASON_MAX 256
#define CHANNEL_PROVIDER_ID_MAX 128
#define CHANNEL_SECRET_MAX 4096 /* bytes of a secret file */

struct channel_kv {
	const char *key;   /* e.g. "url", "password_file" */
	const char *value; /* as written in the configuration */
	int line;          /* its line, for messages (0: unknown) */
};

struct channel_conf {
	const char *name;  /* NAME of notify.channels.NAME */
	const char *type;  /* its `type` */
	const char *file;  /* the configuration file, for messages ("" when none) */
	int line;          /* the line of NAME */
	const struct channel_kv *kv;
	size_t n_kv;       /* every key but `type` */
	const char *ack_base; /* notify.ack_url: the public base of /ack/ links, or NULL */
};

/* The value of key in c, or NULL; *line gets its line when line is not NULL. */
const char *channel_conf_get(const struct channel_conf *c, const char *key, int *line);

struct notice {
	const char *tenant;
	int64_t incident;      /* the incident's id */
	int64_t id;            /* the notice's id in the delivery log (unique, > 0) */
	const char *message_id; /* stable across retries: "<koban.TENANT.INCIDENT.ID@HOST>" form */
	const char *recipient; /* mail address, E.164 phone number, or "" for a channel-wide one */
	const char *lang;      /* "ja" or "en" */
	int level;             /* 0..3 */
	const char *level_name; /* the SOC's name of the level */
	const char *title;     /* the incident's title */
	const char *subject;   /* one line, UTF-8 */
	const char *text;      /* plain text body, UTF-8 */
	const char *html;      /* HTML body or NULL */
	const char *speech;    /* what a phone call says, or NULL (then subject) */
	const char *incident_url; /* the portal's page of the incident, or NULL */
	const char *ack_url;   /* https://BASE/ack/TOKEN when acknowledgement is asked, or NULL */
	const char *ack_token; /* TOKEN alone (Teams card action, phone key press), or NULL */
	bool test;             /* `koban notify test`: says so in the message */
};

enum channel_status { CHANNEL_SENT, CHANNEL_DELIVERED, CHANNEL_FAILED_TEMP, CHANNEL_FAILED_PERM };

struct channel_result {
	enum channel_status status;
	char provider_id[CHANNEL_PROVIDER_ID_MAX];
	char reason[CHANNEL_REASON_MAX];
	int retry_after_s;     /* > 0: the service asked to wait that long */
};

struct channel_ops {
	const char *type;      /* "smtp", "teams", "phone", "pagerduty", "webhook" */
	double rate_per_s;     /* default limit of notices per second (0: none); `rate` overrides */
	/* Validates c and prepares the state (reads secret files). -EINVAL with FILE:LINE: ... */
	int (*open)(const struct channel_conf *c, void **state, struct err *e);
	int (*send)(void *state, const struct notice *n, struct channel_result *r, struct err *e);
	void (*close)(void *state);
};

/* The type named type (NULL: none); the list of every type is in channel.c, in one place. */
const struct channel_ops *channel_type(const char *type);
/* The types' names, separated by ", ", for messages. */
const char *channel_type_names(void);

/*
 * Reads the secret file of key (c's value of key, a path) into out[0..max) NUL-terminated, the
 * trailing newline removed: -EINVAL when key is absent and required, -EACCES when the file is
 * readable by others (mode & 077), -ENOENT/-EIO otherwise; messages name the key and the path,
 * never the content. Returns 0 with out "" when absent and not required.
 */
int channel_secret_read(const struct channel_conf *c, const char *key, bool required, char *out,
			size_t max, struct err *e);

#endif
