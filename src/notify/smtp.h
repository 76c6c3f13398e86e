/*
 * smtp.h - the `smtp` channel of notifications (issue 11): a notice as one e-mail, submitted
 * with libcurl's SMTP client to a mail server (smtp:// with STARTTLS required, smtps:// with
 * implicit TLS, or plain SMTP to a loopback address only).
 *
 * Configuration, `notify.channels.NAME` with `type: smtp` (docs/channels.md):
 *   url            smtp://HOST[:PORT] or smtps://HOST[:PORT] (no user, path or query)
 *   from           "addr@example.org" or "表示名 <addr@example.org>"
 *   tls            starttls (default for smtp://) | implicit (smtps://) | none (loopback only)
 *   ca_file        the CA bundle that verifies the server (default: the system's)
 *   username       together with password_file (a file of mode 0600 holding the password)
 *   rate           notices per second (the engine's limit; validated here)
 *   timeout        seconds for a whole submission, 1..300 (default 30)
 *
 * The message (smtp_mime_build, a pure function): Date, From, To, Subject (RFC 2047 UTF-8
 * B encoded-words, folded so that no line passes 76 characters), Message-ID (the notice's),
 * MIME-Version, Auto-Submitted, and multipart/alternative with a text/plain and a text/html
 * part in UTF-8, base64 in lines of 76 characters; the acknowledgement link, when the notice
 * has one, is in both parts. CR, LF and other control characters can never start a header:
 * addresses, names and Message-IDs holding them are refused, a subject is always encoded
 * when it holds them.
 *
 * Results of send(): CHANNEL_SENT with provider_id = the Message-ID when the server took the
 * message (250 after DATA); CHANNEL_FAILED_TEMP for a 4xx reply, a refused or broken
 * connection, a timeout; CHANNEL_FAILED_PERM for a 5xx reply (the server's reply in reason),
 * a server certificate that does not verify, a server without STARTTLS when it is required,
 * refused credentials, a recipient that is no mail address. The channel never retries.
 *
 * Memory and threads: as struct channel_ops (notify/channel.h). smtp_mime_build writes into
 * the caller's buffer and may be called from any thread.
 */
#ifndef NOTIFY_SMTP_H
#define NOTIFY_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify/channel.h"

struct buf;
struct err;

#define SMTP_MESSAGE_MAX (2u * 1024 * 1024) /* bytes of one built message */
#define SMTP_ADDR_MAX 254                   /* bytes of an address (RFC 5321 path limit) */
#define SMTP_NAME_MAX 256                   /* bytes of a display name */
#define SMTP_URL_MAX 2048                   /* bytes of an acknowledgement link */
#define SMTP_TIMEOUT_MAX 300                /* seconds */

extern const struct channel_ops smtp_channel;

struct smtp_mime {
	const char *from_name;  /* display name (UTF-8) or NULL */
	const char *from_addr;  /* addr-spec, e.g. soc@example.org */
	const char *to_addr;    /* addr-spec */
	const char *subject;    /* UTF-8 (invalid bytes become U+FFFD) */
	const char *text;       /* plain text body, UTF-8, LF or CRLF lines */
	const char *html;       /* HTML body, or NULL: made from text */
	const char *ack_url;    /* http(s) link to acknowledge, or NULL */
	const char *lang;       /* "ja": Japanese labels, anything else: English */
	const char *message_id; /* "<left@right>" */
	const char *boundary;   /* 1..70 characters of [0-9A-Za-z'()+_,-./:=?] */
	int64_t date_ns;        /* the Date header (written in UTC) */
	bool test;              /* a test notice: the subject and both parts say so */
};

/*
 * Appends the whole message (CRLF lines) to out. -EINVAL with e naming the field for an
 * address, name, Message-ID, boundary or link that could break the header, -ENOSPC when it
 * would pass out->max or SMTP_MESSAGE_MAX.
 */
int smtp_mime_build(const struct smtp_mime *m, struct buf *out, struct err *e);

/* True when s[0..len) is an addr-spec koban sends to: ASCII local@domain, no quoting. */
bool smtp_addr_valid(const char *s, size_t len);

/*
 * Splits a `from` value ("addr" or "Name <addr>", the name optionally in double quotes) into
 * name[SMTP_NAME_MAX + 1] ("" when none) and addr[SMTP_ADDR_MAX + 1]; -EINVAL with a reason
 * in e (without the file and line, which the caller adds).
 */
int smtp_from_parse(const char *s, char *name, char *addr, struct err *e);

#endif
