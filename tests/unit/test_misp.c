/*
 * test_misp.c - MISP feed events and manifests into indicators: the type mapping and
 * composite values, to_ids, deleted attributes and objects, the event's tags and threat
 * level (which may follow the attributes), rejects, malformed JSON, allocation failures.
 * The documents are written here (MISP core format: Event, Attribute, Object, Tag).
 */
#include "enrich/misp.h"

#include <errno.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/jsonin.h"
#include "core/mem.h"
#include "t.h"
#include "ti_seam.h"

#define H64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define H40 "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
#define H32 "098f6bcd4621d373cade4e832627b4f6"

static const char event_doc[] =
	"{\"Event\": {\"uuid\": \"5f0f1d3e-0000-4000-8000-00000000e001\", "
	"\"info\": \"Phishing wave\", \"threat_level_id\": \"2\", \"published\": true,\n"
	"\"Attribute\": [\n"
	"{\"uuid\": \"a-01\", \"type\": \"ip-dst\", \"value\": \"198.51.100.7\", \"to_ids\": true, "
	"\"timestamp\": \"1767225600\", \"Tag\": [{\"name\": \"c2\"}, {\"name\": \"kill-chain\"}]},\n"
	"{\"uuid\": \"a-02\", \"type\": \"ip-dst|port\", \"value\": \"2001:db8::1|443\", \"to_ids\": \"1\"},\n"
	"{\"uuid\": \"a-03\", \"type\": \"domain|ip\", \"value\": \"bad.example|192.0.2.5\", \"to_ids\": 1},\n"
	"{\"uuid\": \"a-04\", \"type\": \"filename|sha256\", \"value\": \"a|b.exe|" H64 "\", "
	"\"to_ids\": true, \"comment\": \"dropper\"},\n"
	"{\"uuid\": \"a-05\", \"type\": \"ip-src\", \"value\": \"10.0.0.1\", \"to_ids\": false},\n"
	"{\"uuid\": \"a-06\", \"type\": \"AS\", \"value\": \"AS64500\", \"to_ids\": true},\n"
	"{\"uuid\": \"a-07\", \"type\": \"url\", \"value\": \"http://bad.example/x\", \"deleted\": true},\n"
	"{\"uuid\": \"a-08\", \"type\": \"ip-dst|port\", \"value\": \"198.51.100.9\", \"to_ids\": true},\n"
	"{\"uuid\": \"a-09\", \"type\": \"email-src\", \"value\": \"x@bad.example\", "
	"\"first_seen\": \"2026-01-01T09:00:00+09:00\", \"last_seen\": \"soon\"},\n"
	"{\"uuid\": \"a-10\", \"type\": \"hostname\", \"value\": \"mail.bad.example\", "
	"\"first_seen\": \"2026-01-01T09:00:00+09:00\", \"comment\": \"\"}],\n"
	"\"Object\": [\n"
	"{\"name\": \"file\", \"deleted\": false, \"Attribute\": [\n"
	"  {\"uuid\": \"a-11\", \"type\": \"md5\", \"value\": \"" H32 "\", \"to_ids\": true, "
	"\"object_relation\": \"md5\"},\n"
	"  {\"uuid\": \"a-12\", \"type\": \"filename\", \"value\": \"x.exe\", \"to_ids\": false}]},\n"
	"{\"name\": \"file\", \"deleted\": true, \"Attribute\": [\n"
	"  {\"uuid\": \"a-13\", \"type\": \"sha1\", \"value\": \"" H40 "\", \"to_ids\": true}]},\n"
	"{\"name\": \"empty\"}],\n"
	"\"Tag\": [{\"name\": \"tlp:green\", \"colour\": \"#33ff00\"}, {\"name\": \"c2\"}]}}\n";

#define COMMON " conf=60 tags=tlp:green,c2 desc=Phishing wave"

static int read_event(const char *doc, bool non_ids, struct ti_seam *s, struct misp_stats *st,
		      struct err *e)
{
	struct misp_options opt = { .include_non_ids = non_ids };

	ti_seam_init(s);
	return misp_event_read(doc, strlen(doc), &opt, &s->sink, st, e);
}

static void test_event(void)
{
	struct ti_seam s;
	struct misp_stats st;
	struct err e = ERR_INIT;

	CHECK_INT(read_event(event_doc, false, &s, &st, &e), 0);
	CHECK_INT(s.n, 7);
	CHECK_STR(s.got[0], "ip 198.51.100.7 conf=60 last=1767225600000000000 "
			    "tags=tlp:green,c2,kill-chain desc=Phishing wave ref=a-01");
	CHECK_STR(s.got[1], "ip 2001:db8::1" COMMON " ref=a-02");
	CHECK_STR(s.got[2], "domain bad.example" COMMON " ref=a-03");
	CHECK_STR(s.got[3], "ip 192.0.2.5" COMMON " ref=a-03");
	CHECK_STR(s.got[4], "sha256 " H64 " conf=60 tags=tlp:green,c2 desc=dropper ref=a-04");
	CHECK_STR(s.got[5], "domain mail.bad.example conf=60 first=1767225600000000000 "
			    "tags=tlp:green,c2 desc=Phishing wave ref=a-10");
	CHECK_STR(s.got[6], "md5 " H32 COMMON " ref=a-11");
	CHECK_INT(s.n_rejects, 2);
	CHECK_STR(s.rejects[0],
		  "8: a-08: the value of a composite type needs two parts around '|'");
	CHECK_STR(s.rejects[1], "9: a-09: last_seen: expected an RFC 3339 time");
	CHECK_INT(st.attributes, 13);
	CHECK_INT(st.values, 7);
	CHECK_INT(st.rejected, 2);
	CHECK_INT(st.not_ids, 1);
	CHECK_INT(st.deleted, 2);
	CHECK_INT(st.unsupported, 2);
	CHECK_INT(st.n_skipped, 2);
	CHECK_STR(st.skipped[0].name, "AS");
	CHECK_INT(st.skipped[0].n, 1);
	CHECK_STR(st.skipped[1].name, "filename");
	CHECK_INT(st.skipped[1].n, 1);
}

/* Skipped types are counted by name, up to MISP_SKIPPED_TYPES_MAX names. */
static void test_skipped_types(void)
{
	struct ti_seam s;
	struct misp_stats st;
	struct err e = ERR_INIT;
	char doc[8192];
	size_t k = (size_t)snprintf(doc, sizeof(doc), "{\"Event\": {\"Attribute\": [");

	for (int i = 0; i < MISP_SKIPPED_TYPES_MAX + 2; i++)
		k += (size_t)snprintf(doc + k, sizeof(doc) - k, "{\"type\": \"t%d\", \"value\": \"v\"}, ",
				      i);
	snprintf(doc + k, sizeof(doc) - k, "{\"type\": \"t3\", \"value\": \"v\"}, "
		 "{\"type\": \"a-type-name-of-thirty-two-bytes!\", \"value\": \"v\"}]}}");
	CHECK_INT(read_event(doc, false, &s, &st, &e), 0);
	CHECK_INT(st.unsupported, MISP_SKIPPED_TYPES_MAX + 4);
	CHECK_INT(st.n_skipped, MISP_SKIPPED_TYPES_MAX);
	CHECK_STR(st.skipped[3].name, "t3");
	CHECK_INT(st.skipped[3].n, 2);
	CHECK_STR(st.skipped[MISP_SKIPPED_TYPES_MAX - 1].name, "t15");
}

static void test_non_ids(void)
{
	struct ti_seam s;
	struct misp_stats st;
	struct err e = ERR_INIT;

	CHECK_INT(read_event(event_doc, true, &s, &st, &e), 0);
	CHECK_INT(s.n, 8);
	CHECK_STR(s.got[5], "ip 10.0.0.1" COMMON " ref=a-05");
	CHECK_INT(st.not_ids, 0);
}

/* Every type of the map, each as its smallest attribute. */
static void test_types(void)
{
	static const struct {
		const char *type, *value, *want;
	} cases[] = {
		{ "ip-src", "192.0.2.0/24", "ip 192.0.2.0/24" },
		{ "ip-src|port", "192.0.2.1|8080", "ip 192.0.2.1" },
		{ "domain", "Bad.Example.", "domain Bad.Example." },
		{ "hostname|port", "h.example|25", "domain h.example" },
		{ "uri", "/evil", "url /evil" },
		{ "link", "https://x.example/", "url https://x.example/" },
		{ "sha1", H40, "sha1 " H40 },
		{ "filename|md5", "x|" H32, "md5 " H32 },
		{ "filename|sha1", "x.dll|" H40, "sha1 " H40 },
		{ "email", "a@b.example", "email a@b.example" },
		{ "email-dst", "c@d.example", "email c@d.example" },
	};
	char doc[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ti_seam s;
		struct misp_stats st;
		struct err e = ERR_INIT;

		snprintf(doc, sizeof(doc), "{\"Event\": {\"Attribute\": [{\"type\": \"%s\", "
			 "\"value\": \"%s\"}]}}", cases[i].type, cases[i].value);
		CHECK_INT(read_event(doc, false, &s, &st, &e), 0);
		CHECK_INT(s.n, 1);
		CHECK_STR(s.got[0], cases[i].want);
	}
}

static void test_threat_levels(void)
{
	static const char *const levels[] = { "1", "\"1\"", "\"3\"", "\"4\"", "9" };
	static const char *const want[] = { "url u conf=90", "url u conf=90", "url u conf=30",
					    "url u", "url u" };
	char doc[256];

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct ti_seam s;
		struct misp_stats st;
		struct err e = ERR_INIT;

		snprintf(doc, sizeof(doc), "{\"Event\": {\"threat_level_id\": %s, \"Attribute\": "
			 "[{\"type\": \"url\", \"value\": \"u\"}]}}", levels[i]);
		CHECK_INT(read_event(doc, false, &s, &st, &e), 0);
		CHECK_STR(s.got[0], want[i]);
	}
}

static void test_rejected_attributes(void)
{
	struct ti_seam s;
	struct misp_stats st;
	struct err e = ERR_INIT;
	const char *doc =
		"{\"Event\": {\"Attribute\": [5, {\"uuid\": \"b-2\", \"value\": \"x\"}, "
		"{\"uuid\": \"b-3\", \"type\": \"url\"}, {\"type\": \"url\", \"value\": \"\"}, "
		"{\"uuid\": \"b-5\", \"type\": \"url\", \"value\": \"u\", \"to_ids\": \"yes\"}, "
		"{\"uuid\": \"b-6\", \"type\": 7, \"value\": \"u\"}, "
		"{\"uuid\": \"b-7\", \"type\": \"url\", \"value\": \"u\", \"timestamp\": \"-1\"}, "
		"{\"uuid\": null, \"type\": \"url\", \"value\": \"ok\", \"Tag\": [3, {\"x\": 1}]}]}}";

	CHECK_INT(read_event(doc, false, &s, &st, &e), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.got[0], "url ok");
	CHECK_INT(st.tags_dropped, 2);
	CHECK_INT(s.n_rejects, 7);
	CHECK_STR(s.rejects[0], "1: attribute without a uuid: attribute: expected a JSON object");
	CHECK_STR(s.rejects[1], "2: b-2: no type");
	CHECK_STR(s.rejects[2], "3: b-3: no value");
	CHECK_STR(s.rejects[3], "4: attribute without a uuid: no value");
	CHECK_STR(s.rejects[4], "5: b-5: to_ids: expected true or false");
	CHECK_STR(s.rejects[5], "6: b-6: type: expected a string");
	CHECK_STR(s.rejects[6], "7: b-7: timestamp: expected Unix seconds");
}

/* More tokens than jsonin's default limit: the limit follows the document's length. */
static void test_large_event(void)
{
	static const char head[] = "{\"Event\": {\"Attribute\": [{\"type\": \"url\", "
				   "\"value\": \"u\", \"Tag\": [";
	size_t n = JSONIN_TOKENS_MAX + 1000, len = sizeof(head) - 1 + 3 * n + 8, k;
	char *doc = malloc(len);
	struct ti_seam s;
	struct misp_stats st;
	struct err e = ERR_INIT;

	if (!CHECK(doc))
		return;
	memcpy(doc, head, sizeof(head) - 1);
	k = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++, k += 3)
		memcpy(doc + k, i ? ",{}" : " {}", 3);
	memcpy(doc + k, "]}]}}", 5);
	ti_seam_init(&s);
	CHECK_INT(misp_event_read(doc, k + 5, NULL, &s.sink, &st, &e), 0);
	CHECK_STR(e.msg, "");
	CHECK_INT(s.n, 1);
	CHECK_INT(st.tags_dropped, n);
	free(doc);
}

static void test_malformed(void)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "[]", "not a MISP event: expected a JSON object" },
		{ "{\"response\": []}", "not a MISP event: no \"Event\" object" },
		{ "{\"Event\": []}", "\"Event\": expected an object" },
		{ "{\"Event\": {\"Attribute\": {}}}", "Event.Attribute: expected an array" },
		{ "{\"Event\": {\"Object\": [1]}}", "byte 2: Object: expected JSON objects" },
		{ "{\"Event\": {\"Object\": [{\"Attribute\": 1}]}}",
		  "Object.Attribute: expected an array" },
		{ "{\"Event\": {\"Attribute\": [{]}}", "column 27: expected a key string or '}', "
						       "found ']'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ti_seam s;
		struct misp_stats st;
		struct err e = ERR_INIT;

		CHECK_INT(read_event(cases[i].doc, false, &s, &st, &e), -EINVAL);
		CHECK_STR(e.msg, cases[i].msg);
	}
}

static void test_sink_stops(void)
{
	struct ti_seam s;
	struct misp_stats st;
	struct err e = ERR_INIT;

	ti_seam_init(&s);
	s.stop_after = 3;
	CHECK_INT(misp_event_read(event_doc, strlen(event_doc), NULL, &s.sink, &st, &e),
		  -ECANCELED);
	CHECK_STR(e.msg, "attribute 3: the indicator was not taken");
	CHECK_INT(st.values, 3);
}

static void test_alloc_failures(void)
{
	int rc = -ENOMEM;

	for (long n = 0; rc == -ENOMEM && n < 1000; n++) {
		struct ti_seam s;
		struct misp_stats st;
		struct err e = ERR_INIT;

		mem_fail_after(n);
		rc = read_event(event_doc, false, &s, &st, &e);
		mem_fail_after(-1);
		if (rc == -ENOMEM)
			CHECK(e.msg[0] != '\0');
		else
			CHECK_INT(s.n, 7);
	}
	CHECK_INT(rc, 0);
}

struct entries {
	char got[8][160];
	size_t n;
	size_t stop_at;
};

static int each_entry(void *ctx, const struct misp_manifest_entry *m)
{
	struct entries *en = ctx;

	if (en->stop_at && en->n + 1 == en->stop_at)
		return -ECANCELED;
	if (en->n == 8)
		return -ENOSPC;
	snprintf(en->got[en->n++], sizeof(en->got[0]), "%s %lld %d %s", m->uuid,
		 (long long)m->timestamp, m->threat_level, m->info);
	return 0;
}

static const char manifest_doc[] =
	"{\"5F0F1D3E-0000-4000-8000-00000000E001\": {\"info\": \"Phishing wave\", "
	"\"Orgc\": {\"name\": \"CERT\", \"uuid\": \"x\"}, \"analysis\": \"2\", \"threat_level_id\": \"2\", "
	"\"date\": \"2026-01-01\", \"timestamp\": \"1767225600\", \"Tag\": [{\"name\": \"tlp:green\"}]},\n"
	" \"5f0f1d3e-0000-4000-8000-00000000e002\": {\"timestamp\": 1767225601}}";

static void test_manifest(void)
{
	struct entries en = { .n = 0 };
	struct err e = ERR_INIT;

	CHECK_INT(misp_manifest_read(manifest_doc, strlen(manifest_doc), each_entry, &en, &e), 0);
	CHECK_INT(en.n, 2);
	CHECK_STR(en.got[0], "5f0f1d3e-0000-4000-8000-00000000e001 1767225600 2 Phishing wave");
	CHECK_STR(en.got[1], "5f0f1d3e-0000-4000-8000-00000000e002 1767225601 0 ");
	en = (struct entries){ .stop_at = 2 };
	CHECK_INT(misp_manifest_read(manifest_doc, strlen(manifest_doc), each_entry, &en, &e),
		  -ECANCELED);
	CHECK_STR(e.msg, "manifest entry 5f0f1d3e-0000-4000-8000-00000000e002: stopped");
	CHECK_INT(en.n, 1);
}

static void test_bad_manifests(void)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "[]", "not a MISP manifest: expected a JSON object" },
		{ "{\"../../etc/passwd\": {\"timestamp\": \"1\"}}",
		  "manifest byte 2: the key is no event UUID" },
		{ "{\"5f0f1d3e-0000-4000-8000-00000000e00g\": {\"timestamp\": \"1\"}}",
		  "manifest byte 2: the key is no event UUID" },
		{ "{\"5f0f1d3e-0000-4000-8000-00000000e001\": {\"timestamp\": \"x\"}}",
		  "manifest entry 5f0f1d3e-0000-4000-8000-00000000e001: no timestamp (Unix seconds)" },
		{ "{\"5f0f1d3e-0000-4000-8000-00000000e001\": 1}",
		  "manifest entry 5f0f1d3e-0000-4000-8000-00000000e001: expected an object" },
		{ "{\"5f0f1d3e-0000-4000-8000-00000000e001\": {\"timestamp\": 1},}",
		  "column 59: expected a key string after ',', found '}'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct entries en = { .n = 0 };
		struct err e = ERR_INIT;

		CHECK_INT(misp_manifest_read(cases[i].doc, strlen(cases[i].doc), each_entry, &en,
					     &e), -EINVAL);
		CHECK_STR(e.msg, cases[i].msg);
	}
}

int main(void)
{
	T_RUN(test_event);
	T_RUN(test_non_ids);
	T_RUN(test_skipped_types);
	T_RUN(test_types);
	T_RUN(test_threat_levels);
	T_RUN(test_rejected_attributes);
	T_RUN(test_large_event);
	T_RUN(test_malformed);
	T_RUN(test_sink_stops);
	T_RUN(test_alloc_failures);
	T_RUN(test_manifest);
	T_RUN(test_bad_manifests);
	return t_done();
}
