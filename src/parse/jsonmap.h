/*
 * jsonmap.h - generic JSON lines with a field map from the configuration ("json").
 *
 * Each message is one JSON object (RFC 8259, read strictly by core/jsonin), alone or
 * after a syslog header. The source's map (`decoders: { json: { SOURCE: { fields:
 * { "key.path": "field.name" }, timestamp: KEY } } }`, or the map named "default") says
 * which keys become which event fields: a key path names nested objects with dots
 * ("user.login" is {"user":{"login":...}}; a key that has dots itself matches too). Values
 * are converted to the field's type: integers (also from digit strings), IP addresses
 * (which also go to related.ip), times (RFC 3339 strings or epoch seconds), booleans,
 * strings (numbers and booleans as their JSON text); an array gives a string or IP
 * field several values. Keys not mapped stay in event.original only. A value that cannot be
 * converted, or a message that is not a JSON object, fails the message with the column
 * and the key in the reason. The json format is never sniffed by "auto".
 *
 * Memory: values point into the message, unescaped strings into the event's arena. The
 * compiled maps (jsonmap_configure) live until the next configure or the process's end.
 *
 * Thread safety: jsonmap_configure from the main thread before decoding starts; decode
 * from any thread.
 */
#ifndef PARSE_JSONMAP_H
#define PARSE_JSONMAP_H

#include <stddef.h>

struct config;
struct decode_opts;
struct err;
struct event;

/*
 * Compiles c's decoders.json maps (field names interned once). Refuses targets the
 * pipeline owns (event.original, event.kind, ...). 0 or -EINVAL/-ENOMEM with e filled.
 */
int jsonmap_configure(const struct config *c, struct err *e);
int jsonmap_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		   struct err *e);

#endif
