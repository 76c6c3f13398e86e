/*
 * fuzz_jsonmap.c - libFuzzer target for the generic JSON decoder (fuzz_decoder.h) with a map
 * that reaches every conversion: nested paths, arrays, each field type, the timestamp.
 */
#include "core/config.h"
#include "core/err.h"
#include "parse/jsonmap.h"

#include <stdlib.h>

static void fuzz_maps(void)
{
	static const char yaml[] =
		"decoders:\n"
		"  json:\n"
		"    fuzz:\n"
		"      fields: { a: source.ip, a.b: source.port, c: tags, d.e.f: event.start,\n"
		"                g: user.name, h: app.h, i: event.duration }\n"
		"      timestamp: t\n"
		"    default:\n"
		"      fields: { x: message, y.z: destination.ip }\n";
	struct config c;
	struct err e = ERR_INIT;

	if (config_load_mem(&c, yaml, sizeof(yaml) - 1, "fuzz", &e) < 0 ||
	    jsonmap_configure(&c, &e) < 0)
		abort();
	config_release(&c);
}

#define FUZZ_FORMAT "json"
#define FUZZ_SETUP fuzz_maps()
#include "fuzz_decoder.h"
