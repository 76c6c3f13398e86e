/*
 * phone.h - the `phone` channel (issue 11 part 2): a voice call through a Twilio-compatible
 * API that says the notice and, when the notice asks for an acknowledgement, takes a key
 * press (1) through TwiML <Gather> whose action is the ack endpoint (portal/ackpage.h).
 *
 *   notify:
 *     channels:
 *       oncall-phone:
 *         type: phone
 *         url: https://api.twilio.com      # API base (default); https only
 *         account_sid: ACxxxxxxxx
 *         auth_token_file: /etc/koban/twilio.token   # mode 0600
 *         from: "+815012345678"            # E.164
 *         language: ja-JP                  # or en-US; the notice's lang wins
 *         voice: Polly.Mizuki              # optional
 *         repeat: 2                        # times the message is said (1..5)
 *         timeout: 30                      # seconds the phone rings (5..600)
 *         rate: 1                          # calls per second
 *         ca_file: /etc/koban/ca.pem       # optional CA bundle of the API
 *
 * send() POSTs {url}/2010-04-01/Accounts/{sid}/Calls.json with HTTP Basic sid:token and the
 * form fields To (the notice's recipient, E.164), From, Timeout, Twiml and, with an
 * acknowledgement token and notify.ack_url, StatusCallback ACK/ack/phone-status/TOKEN with
 * the events initiated ringing answered completed. 201 with {"sid": ...} is CHANNEL_SENT
 * (provider_id the call SID); 429, 5xx and transport errors CHANNEL_FAILED_TEMP; any other
 * answer CHANNEL_FAILED_PERM with Twilio's code and message.
 *
 * The TwiML builders are pure functions (any thread); the channel follows channel.h.
 */
#ifndef NOTIFY_PHONE_H
#define NOTIFY_PHONE_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct channel_ops;

#define PHONE_TWIML_MAX 4000   /* Twilio's limit of the Twiml parameter */
#define PHONE_REPEAT_MAX 5
#define PHONE_ACK_DIGIT "1"

extern const struct channel_ops phone_channel;

struct phone_prompt {
	const char *speech;    /* what is said (UTF-8) */
	const char *language;  /* "ja-JP", "en-US" */
	const char *voice;     /* NULL or "": the provider's default */
	int repeat;            /* 1..PHONE_REPEAT_MAX: times the prompt is said */
	const char *action;    /* the <Gather> action URL; NULL: no key press asked */
};

/* Appends the TwiML document of p to out: with an action, a <Gather> of one digit around the
 * speech and the request to press 1 (in the prompt's language), then a farewell when no key
 * was pressed. Text is XML-escaped; control characters become spaces. 0, -ENOSPC, -ENOMEM. */
int phone_twiml(const struct phone_prompt *p, struct buf *out);
/* Appends <Response><Say ...>text</Say><Hangup/></Response>. */
int phone_twiml_reply(const char *language, const char *voice, const char *text, struct buf *out);
/* Appends s[0..n) XML-escaped (& < > " ' as entities, control characters as spaces). */
int phone_xml_add(struct buf *out, const char *s, size_t n);
/* Whether s is an E.164 number: '+', a first digit 1-9, 2 to 15 digits in all. */
bool phone_e164_valid(const char *s);
/* True for a Japanese language tag ("ja", "ja-JP"). */
bool phone_lang_ja(const char *language);

#endif
