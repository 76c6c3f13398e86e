/*
 * teams.h - the `teams` notification channel (notify/channel.h): a notice posted to a
 * Microsoft Teams channel through a Workflows webhook as an Adaptive Card (format
 * `adaptive`, the default) or through a legacy Office 365 connector as a MessageCard
 * (format `legacy`). Wire formats: ../shared/ref/apis.md section 5; docs/channels.md.
 *
 * Keys of notify.channels.NAME (type teams):
 *   url_file  a file of mode 0600 holding the webhook URL (a Workflows URL carries its
 *             signature in the query: it is a secret, never printed; messages name only
 *             its host)
 *   url       the URL itself, only when it has no query and is no connector's (whose path
 *             holds its key): exactly one of url, url_file
 *   format    adaptive (default) | legacy
 *   ca_file, timeout, rate (notify/httppost.h); default rate 4 notices per second
 *
 * Success: 200 or 202 (Workflows answers 202 with an empty body; the connector 200 with
 * the body "1", and reports its throttling inside a 200 body, which is CHANNEL_FAILED_TEMP).
 * 429 is CHANNEL_FAILED_TEMP with the Retry-After seconds; see httppost_fail for the rest.
 * Teams reports no id: provider_id stays empty.
 *
 * Memory and threads: as channel.h says; teams_body() appends to the caller's buffer and
 * may run on any thread.
 */
#ifndef NOTIFY_TEAMS_H
#define NOTIFY_TEAMS_H

#include "notify/channel.h"

struct buf;

#define TEAMS_MESSAGE_MAX 28000 /* bytes of one message: Teams refuses larger ones */
#define TEAMS_TEXT_MAX 16000    /* bytes of a notice's text in a card (cut at a character) */

enum teams_format { TEAMS_ADAPTIVE, TEAMS_LEGACY };

extern const struct channel_ops teams_ops;

/*
 * The JSON message of notice n in format f into out (whose maximum should be at least
 * TEAMS_MESSAGE_MAX): 0, -ENOSPC when it would exceed TEAMS_MESSAGE_MAX, -ENOMEM.
 */
int teams_body(enum teams_format f, const struct notice *n, struct buf *out);

#endif
