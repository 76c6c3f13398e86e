/*
 * leef.h - IBM QRadar Log Event Extended Format (LEEF 1.0 and 2.0).
 *
 * `[syslog header] LEEF:1.0|Vendor|Product|Version|EventID|k=v<TAB>k=v...` and
 * `LEEF:2.0|Vendor|Product|Version|EventID|DELIM|k=vDELIMk=v...` become one event: the
 * header in observer.* and event.code, every attribute under `leef.KEY`, the keys ECS
 * knows (LEEF's predefined ones and PAN-OS's) in their ECS fields (docs/parsing.md,
 * "LEEF").
 *
 * The attribute delimiter: LEEF 2.0's DELIM field (a character, or its code as x09 /
 * 0x09 / 0x005E), else the source's setting (`decoders.leef.sources.NAME`), else
 * `decoders.leef.delimiter`; `auto` (the default) detects it: TAB when the attributes
 * hold one, else `|` (PAN-OS writes LEEF 1.0 with `|`), else `^`. A piece without `=`
 * belongs to the value before it (a delimiter inside a value).
 *
 * Memory: values point into msg (zero copy); msg must outlive the event. leef_configure
 * keeps its own copy of the settings (main thread, at start, before any decode); decode
 * runs on any thread.
 */
#ifndef PARSE_LEEF_H
#define PARSE_LEEF_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct decode_opts;
struct err;
struct event;

#define LEEF_DELIM_MAX 4 /* bytes of a delimiter (a UTF-8 character) */

struct leef_delim {
	char s[LEEF_DELIM_MAX];
	unsigned len; /* 0: auto */
};

/*
 * A delimiter as configured or as LEEF 2.0's header gives it: "auto" (len 0), "tab", one
 * character (a UTF-8 sequence), or x / 0x and 1-4 hex digits naming one; never NUL, LF,
 * CR or '='. 0 and *d, or -EINVAL.
 */
int leef_delim_parse(const char *s, size_t len, struct leef_delim *d);

bool leef_sniff(const char *msg, size_t len);
int leef_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		struct err *e);
/* Reads decoders.leef from c (each delimiter checked, with FILE:LINE in e). */
int leef_configure(const struct config *c, struct err *e);

#endif
