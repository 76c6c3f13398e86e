/*
 * fuzz_jsonmap.c - libFuzzer target for the generic JSON decoder (fuzz_decoder.h) with a map
 * that reaches every conversion: nested paths, arrays, each field type, the timestamp.
 */
#include "parse/jsonmap.h"

static const char fuzz_yaml[] =
	"decoders:\n"
	"  json:\n"
	"    fuzz:\n"
	"      fields: { a: source.ip, a.b: source.port, c: tags, d.e.f: event.start,\n"
	"                g: user.name, h: app.h, i: event.duration }\n"
	"      timestamp: t\n"
	"    default:\n"
	"      fields: { x: message, y.z: destination.ip }\n";

#define FUZZ_FORMAT "json"
#define FUZZ_SETUP fuzz_configure(fuzz_yaml, jsonmap_configure)
#include "fuzz_decoder.h"
