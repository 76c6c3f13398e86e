/*
 * Unit tests of parse/cef, parse/leef and parse/a10: CEF header and extension escapes,
 * labels, key names, stamps, severity, the syslog tag trap, errors (the event kept raw),
 * the pair limit and its counter, an arena too small; LEEF 1.0/2.0 delimiters (header,
 * per source, detected), a delimiter inside a value; A10 CGN in CEF and ASCII, the HTTP
 * vport log; what "auto" picks; and every line of the shared CEF/LEEF/A10 samples.
 */
#include "parse/cef.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/a10.h"
#include "parse/decoder.h"
#include "parse/leef.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW INT64_C(1773543600000000000) /* 2026-03-15T03:00:00Z */

static struct arena arena;
static struct event ev;
static struct err err;

static int dec_source(const char *format, const char *msg, const char *source)
{
	int id = decoder_find(format, strlen(format));
	struct decode_opts o = { tz_get("Asia/Tokyo", 10, NULL), NOW, 0, 0, source };
	const struct decoder *d = decoder_pick(id < 0 ? 0 : (unsigned)id, msg, strlen(msg));

	arena_clear(&arena);
	event_init(&ev, &arena);
	err_clear(&err);
	return d->decode(&ev, msg, strlen(msg), &o, &err);
}

static int dec(const char *format, const char *msg)
{
	return dec_source(format, msg, NULL);
}

/* Every value of the field named name, as text joined by ','; "(absent)" when none. */
static const char *val(const char *name)
{
	static char out[4096];
	int f = field_lookup(name, strlen(name));
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t i = 0; f >= 0 && i < ev.n; i++) {
		const struct event_value *v = &ev.vals[i];
		char tmp[TIME_RFC3339_LEN + 64];

		if (v->field != (unsigned)f)
			continue;
		switch (field_type((unsigned)f)) {
		case FT_STR:
		case FT_OBJ:
			snprintf(tmp, sizeof(tmp), "%.*s", (int)v->len, v->v.s);
			break;
		case FT_INT:
		case FT_BOOL:
			snprintf(tmp, sizeof(tmp), "%lld", (long long)v->v.i);
			break;
		case FT_TIME:
			time_format_rfc3339(v->v.i, tmp);
			break;
		case FT_IP:
			ipaddr_format(&v->v.ip, tmp);
			break;
		}
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", used ? "," : "",
					 tmp);
	}
	return used ? out : "(absent)";
}

static unsigned long long drops(const char *decoder, const char *reason)
{
	struct buf out = BUF_INIT(1 << 20);
	char key[128];
	const char *p;
	unsigned long long n = 0;

	snprintf(key, sizeof(key),
		 "koban_decoder_values_dropped_total{decoder=\"%s\",reason=\"%s\"} ", decoder,
		 reason);
	if (metrics_render(&out) == 0 && buf_addch(&out, '\0') == 0 && (p = strstr(out.p, key)))
		n = strtoull(p + strlen(key), NULL, 10);
	buf_release(&out);
	return n;
}

/* ---------------------------------------------------------------- CEF */

static void test_cef_header_and_extension(void)
{
	CHECK_INT(dec("cef", "<134>Mar 15 10:00:00 fw1 CEF:0|Acme\\|Corp|Fire wall|1.0|100|"
			     "Port scan \\\\ detected|7|src=10.0.0.1 spt=1234 dst=2001:db8::1 dpt=80 "
			     "msg=line one\\nline two with a\\=b and spaces  act=blocked "
			     "proto=TCP suser=CORP\\\\alice request=http://x.example/?q=1"), 0);
	CHECK_STR(val("observer.vendor"), "Acme|Corp");
	CHECK_STR(val("observer.product"), "Fire wall");
	CHECK_STR(val("observer.version"), "1.0");
	CHECK_STR(val("event.code"), "100");
	CHECK_STR(val("cef.name"), "Port scan \\ detected");
	CHECK_STR(val("event.severity"), "7");
	CHECK_STR(val("cef.severity"), "7");
	CHECK_STR(val("source.ip"), "10.0.0.1");
	CHECK_STR(val("source.port"), "1234");
	CHECK_STR(val("destination.ip"), "2001:db8::1");
	CHECK_STR(val("destination.port"), "80");
	CHECK_STR(val("message"), "line one\nline two with a=b and spaces");
	CHECK_STR(val("cef.msg"), "line one\nline two with a=b and spaces");
	CHECK_STR(val("event.action"), "blocked");
	CHECK_STR(val("network.transport"), "tcp");
	CHECK_STR(val("network.iana_number"), "6");
	CHECK_STR(val("source.user.name"), "alice");
	CHECK_STR(val("source.user.domain"), "CORP");
	CHECK_STR(val("user.name"), "alice");
	CHECK_STR(val("related.user"), "alice");
	CHECK_STR(val("cef.suser"), "CORP\\alice");
	CHECK_STR(val("url.original"), "http://x.example/?q=1");
	CHECK_STR(val("related.ip"), "10.0.0.1,2001:db8::1");
	CHECK_STR(val("host.name"), "fw1");
	CHECK_STR(val("event.module"), "cef");
	CHECK_STR(val("event.dataset"), "cef.log");
	/* the header's stamp stays @timestamp when there is no rt */
	CHECK_STR(val("@timestamp"), "2026-03-15T01:00:00Z");
}

static void test_cef_tag_trap_and_prefixes(void)
{
	CHECK_INT(dec("auto", "<134>CEF:0|A|B|1|sig|Name|Low|src=192.0.2.1"), 0);
	CHECK_STR(val("observer.vendor"), "A");
	CHECK_STR(val("process.name"), "(absent)");
	CHECK_STR(val("event.severity"), "0");
	CHECK_STR(val("log.syslog.priority"), "134");
	/* a relay's host name in front, no syslog header */
	CHECK_INT(dec("auto", "relay-1 CEF:1|A|B|1|sig|Name|Very-High|"), 0);
	CHECK_STR(val("event.severity"), "9");
	CHECK_STR(val("cef.version"), "1");
	/* a relay that took "CEF" for a tag left "0|...": accepted when the format is cef */
	CHECK_INT(dec("cef", "0|A|B|1|sig|Name|5|dpt=53"), 0);
	CHECK_STR(val("destination.port"), "53");
	CHECK_STR(val("event.dataset"), "cef.log");
	CHECK_INT(dec("auto", "0|A|B|1|sig|Name|5|dpt=53"), 0); /* not sniffed */
	CHECK_STR(val("event.dataset"), "(absent)");
	CHECK_STR(val("cef.version"), "(absent)");
}

static void test_cef_labels_and_key_names(void)
{
	CHECK_INT(dec("cef", "CEF:0|Palo Alto Networks|PAN-OS|11.1|end|TRAFFIC|1|"
			     "cs1Label=Rule cs1=allow web deviceCustomString4Label=Source Zone "
			     "cs4=trust cs5=untrust cn1Label=Session ID cn1=42 "
			     "sourceAddress=198.51.100.7 deviceExternalId=0123 "
			     "PanOSRuleUUID=u-1 cs2Label=URL.Category cs2=news"), 0);
	CHECK_STR(val("cef.Rule"), "allow web");
	CHECK_STR(val("rule.name"), "allow web");
	CHECK_STR(val("cef.Source_Zone"), "trust");
	CHECK_STR(val("observer.ingress.zone"), "trust");
	CHECK_STR(val("cef.cs5"), "untrust"); /* no label: its key */
	CHECK_STR(val("cef.Session_ID"), "42");
	CHECK_STR(val("cef.URL_Category"), "news");
	CHECK_STR(val("cef.cs1"), "(absent)");
	CHECK_STR(val("cef.cs1Label"), "(absent)");
	CHECK_STR(val("cef.src"), "198.51.100.7"); /* full and short names: one field */
	CHECK_STR(val("source.ip"), "198.51.100.7");
	CHECK_STR(val("observer.serial_number"), "0123");
	CHECK_STR(val("cef.PanOSRuleUUID"), "u-1");
}

/*
 * Labels in Japanese: every non-ASCII byte becomes '_', so two labels of one byte length
 * gave one name and one value was lost; a hash of the label now tells them apart. ASCII
 * labels keep their names, so those that differ only in bytes that become '_' share one
 * field (its values an array, in order), by design: a hash on them would rename every
 * label with a space (cef.Source_Zone), which saved searches and rules name.
 */
static void test_cef_non_ascii_labels(void)
{
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|cs1Label=送信元部署 "
			     "cs1=soumu cs2Label=宛先部署名 cs2=jouhou "
			     "cs3Label=Source Zone cs3=trust cs4Label=Source/Zone cs4=dmz "
			     "cs5Label=Source_Zone cs5=untrust cs6Label=Source-Zone cs6=lan"), 0);
	CHECK_STR(val("cef.________________7550433e"), "soumu");
	CHECK_STR(val("cef.________________71465657"), "jouhou");
	CHECK_STR(val("cef.Source_Zone"), "trust,dmz,untrust");
	CHECK_STR(val("cef.Source-Zone"), "lan");
}

/* prefix, n '_'s and "_" hash: the name a long Japanese label gives. */
static const char *hashed_name(const char *prefix, size_t n, const char *hash)
{
	static char name[FIELD_NAME_MAX + 1];
	size_t plen = strlen(prefix);

	memcpy(name, prefix, plen);
	memset(name + plen, '_', n);
	snprintf(name + plen + n, sizeof(name) - plen - n, "_%s", hash);
	return name;
}

/*
 * A Japanese label near the field-name limit: its '_'s are cut so that prefix, '_'s and
 * hash make 256 bytes, where the hash once pushed it past the limit and the value was
 * lost. Two labels that differ only in their last character stay two fields; one that
 * fits exactly (81 characters, 243 bytes) is not cut. LEEF's longer prefix keeps one '_'
 * less. Nothing is counted as dropped.
 */
static void test_cef_long_non_ascii_labels(void)
{
	unsigned long long before = drops("cef", "bad_name");
	struct buf m = BUF_INIT(1 << 16);
	const char *last[] = { "署", "名" };

	CHECK_INT(buf_add(&m, "CEF:0|V|P|1|s|n|3|", 18), 0);
	for (int l = 1; l <= 3; l++) {
		CHECK_INT(buf_addf(&m, " cs%dLabel=", l), 0);
		for (int i = 0; i < (l < 3 ? 82 : 81); i++)
			CHECK_INT(buf_add(&m, "部", 3), 0);
		if (l < 3)
			CHECK_INT(buf_add(&m, last[l - 1], 3), 0);
		CHECK_INT(buf_addf(&m, " cs%d=v%d", l, l), 0);
	}
	CHECK_INT(buf_addch(&m, '\0'), 0);
	CHECK_INT(dec("cef", m.p), 0);
	CHECK_INT(strlen(hashed_name("cef.", 243, "8f7fb525")), FIELD_NAME_MAX);
	CHECK_STR(val(hashed_name("cef.", 243, "8f7fb525")), "v1");
	CHECK_STR(val(hashed_name("cef.", 243, "a66bd603")), "v2");
	CHECK_STR(val(hashed_name("cef.", 243, "174cc8b7")), "v3");
	CHECK_INT(drops("cef", "bad_name") - before, 0);

	before = drops("leef", "bad_name");
	buf_reset(&m);
	CHECK_INT(buf_add(&m, "LEEF:2.0|V|P|1|e|^|", 19), 0);
	for (int i = 0; i < 82; i++)
		CHECK_INT(buf_add(&m, "部", 3), 0);
	CHECK_INT(buf_add(&m, "署=v1", 7), 0);
	CHECK_INT(buf_addch(&m, '\0'), 0);
	CHECK_INT(dec("leef", m.p), 0);
	CHECK_STR(val(hashed_name("leef.", 242, "8f7fb525")), "v1");
	CHECK_INT(drops("leef", "bad_name") - before, 0);
	buf_release(&m);
}

static void test_cef_values(void)
{
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|smac=00:0c:29:aa:BB:0f dmac=nonsense in=100 "
			     "out=50 deviceDirection=1 outcome=Failure dvc=192.0.2.9 "
			     "dvchost=fw.example fileHash=abc requestContext=http://ref/ "
			     "app=HTTPS spt=notaport src=not-an-ip"), 0);
	CHECK_STR(val("source.mac"), "00-0C-29-AA-BB-0F");
	CHECK_STR(val("destination.mac"), "(absent)");
	CHECK_STR(val("cef.dmac"), "nonsense");
	CHECK_STR(val("source.bytes"), "100");
	CHECK_STR(val("destination.bytes"), "50");
	CHECK_STR(val("network.bytes"), "150");
	CHECK_STR(val("network.direction"), "outbound");
	CHECK_STR(val("event.outcome"), "failure");
	CHECK_STR(val("observer.ip"), "192.0.2.9");
	CHECK_STR(val("observer.hostname"), "fw.example");
	CHECK_STR(val("related.hosts"), "fw.example");
	CHECK_STR(val("related.hash"), "abc");
	CHECK_STR(val("http.request.referrer"), "http://ref/");
	CHECK_STR(val("network.application"), "https");
	CHECK_STR(val("source.port"), "(absent)");
	CHECK_STR(val("cef.spt"), "notaport");
	CHECK_STR(val("source.ip"), "(absent)");
	/* a repeated key keeps both values; a key without value is left out */
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|cat=a cat=b cs1= cn1=5 cs2= end"), 0);
	CHECK_STR(val("cef.cat"), "a,b");
	CHECK_STR(val("cef.cs1"), "(absent)");
	CHECK_STR(val("cef.cn1"), "5");
	CHECK_STR(val("cef.cs2"), " end"); /* "end" is no key: the value */
	/* '=' inside a value without a key before it stays in the value */
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|msg=a=b x=1"), 0);
	CHECK_STR(val("message"), "a=b");
	CHECK_STR(val("cef.x"), "1");
}

static void test_cef_times(void)
{
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|rt=1773540000123 start=Mar 15 2026 10:00:00 "
			     "end=Mar 15 2026 01:00:01.5 UTC"), 0);
	CHECK_STR(val("@timestamp"), "2026-03-15T02:00:00.123Z");
	CHECK_STR(val("event.start"), "2026-03-15T01:00:00Z"); /* the source's zone */
	CHECK_STR(val("event.end"), "2026-03-15T01:00:01.500Z");
	CHECK_STR(val("event.timezone"), "Asia/Tokyo");
	/* dtz gives the zone; no year: the latest not over 31 days ahead */
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|rt=Dec 31 23:00:00 dtz=UTC"), 0);
	CHECK_STR(val("@timestamp"), "2025-12-31T23:00:00Z");
	CHECK_STR(val("event.timezone"), "UTC");
	CHECK_INT(dec("cef", "CEF:0|V|P|1|s|n|3|rt=Mar 15 2026 10:00:00 +0900 "
			     "start=2026-03-15T12:00:00+09:00 end=Feb 30 2026 10:00:00"), 0);
	CHECK_STR(val("@timestamp"), "2026-03-15T01:00:00Z");
	CHECK_STR(val("event.start"), "2026-03-15T03:00:00Z");
	CHECK_STR(val("event.end"), "(absent)");
	CHECK_STR(val("cef.end"), "Feb 30 2026 10:00:00");
	CHECK_STR(val("event.timezone"), "(absent)");
}

static void test_cef_errors_keep_the_raw_event(void)
{
	static const struct {
		const char *msg, *error;
	} cases[] = {
		{ "<13>Mar 15 10:00:00 h CEF:0|V|P|1|s",
		  "offset 35: CEF header has 4 of its 7 fields (expected "
		  "CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension)" },
		{ "CEF:x|V|P|1|s|n|3|a=b", "offset 4: CEF version 'x' is not a number" },
		{ "<13>Mar 15 10:00:00 h app: text", "offset 27: no 'CEF:' (expected "
		  "CEF:Version|Vendor|...)" },
		{ "CEF:0|V|P|1|s|n|3|novalue here", "offset 18: CEF extension: expected key=value" },
		{ "CEF:0|V|P|1|s|n|3| =c", "offset 19: CEF extension: expected key=value" },
		{ "<999>CEF:0|V|P|1|s|n|3|a=b", "offset 1: PRI 999 out of range (0 to 191)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(dec("cef", cases[i].msg), -EINVAL);
		CHECK_STR(err.msg, cases[i].error);
		CHECK_STR(val("message"), cases[i].msg);
		CHECK_STR(val("event.original"), cases[i].msg);
		CHECK_STR(val("@timestamp"), "2026-03-15T03:00:00Z");
		CHECK_STR(val("observer.vendor"), "(absent)");
		CHECK_STR(val("host.name"), "(absent)");
		CHECK_INT(ev.n, 4);
	}
}

static void test_cef_pair_limit(void)
{
	struct buf m = BUF_INIT(1 << 20);
	unsigned long long before = drops("cef", "too_many");

	CHECK_INT(buf_add(&m, "CEF:0|V|P|1|s|n|3|", 18), 0);
	for (int i = 0; i < CEF_MAX_PAIRS + 10; i++) {
		char kv[32];
		int n = snprintf(kv, sizeof(kv), "cat=%d ", i);

		CHECK_INT(buf_add(&m, kv, (size_t)n), 0);
	}
	CHECK_INT(buf_addch(&m, '\0'), 0);
	CHECK_INT(dec("cef", m.p), 0);
	CHECK(strstr(val("cef.cat"), ",255") && !strstr(val("cef.cat"), ",256"));
	CHECK_INT(drops("cef", "too_many") - before, 10);
	/* a label too long for a field name: counted, the value only in event.original */
	before = drops("cef", "bad_name");
	buf_reset(&m);
	CHECK_INT(buf_add(&m, "CEF:0|V|P|1|s|n|3|cs1=x cs1Label=", 33), 0);
	for (int i = 0; i < 300; i++)
		CHECK_INT(buf_addch(&m, 'L'), 0);
	CHECK_INT(buf_addch(&m, '\0'), 0);
	CHECK_INT(dec("cef", m.p), 0);
	CHECK_INT(drops("cef", "bad_name") - before, 1);
	CHECK_STR(val("cef.cs1"), "(absent)");
	buf_release(&m);
}

/* A tenant's senders register at most SYSLOG_SD_TENANT_BUDGET new names; the rest count. */
static void test_cef_name_budget(void)
{
	struct decode_opts o = { NULL, NOW, 7, 1, NULL };
	unsigned long long before = drops("cef", "name_budget");
	struct buf m = BUF_INIT(1 << 20);
	int names = 0;

	for (int msg = 0; msg < 5; msg++) {
		buf_reset(&m);
		CHECK_INT(buf_add(&m, "CEF:0|V|P|1|s|n|3|", 18), 0);
		for (int i = 0; i < 250; i++, names++)
			CHECK_INT(buf_addf(&m, "budgetKey%d=v ", names), 0);
		arena_clear(&arena);
		event_init(&ev, &arena);
		CHECK_INT(cef_decode(&ev, m.p, m.len, &o, &err), 0);
	}
	CHECK_INT(drops("cef", "name_budget") - before, 1250 - 1024);
	CHECK_STR(val("cef.budgetKey1249"), "(absent)");
	CHECK_STR(val("cef.budgetKey0"), "(absent)"); /* the last message's first key is 1000 */
	buf_release(&m);
}

/* An arena too small for the record: a clean error and the raw event. */
static void test_cef_arena_full(void)
{
	struct arena small;
	struct decode_opts o = { NULL, NOW, 0, 0, NULL };
	const char *m = "CEF:0|V|P|1|s|n|3|src=10.0.0.1";

	arena_init(&small, 1024, 4096);
	event_init(&ev, &small);
	err_clear(&err);
	CHECK_INT(cef_decode(&ev, m, strlen(m), &o, &err), -ENOMEM);
	CHECK_STR(err.msg, "cef: out of memory");
	CHECK_STR(val("message"), m);
	arena_release(&small);
}

static void test_cef_time_parser(void)
{
	const struct tz *utc = tz_get("UTC", 3, NULL);
	int64_t ns = 0;
	bool zoned;
	static const char *const bad[] = { "", "Foo 15 10:00:00", "Mar 15 25:00:00",
					   "Mar 15 2026 10:00:00 Nowhere/Zone", "12ab",
					   "Mar 15 2026 10:00", "-5", "Mar 15 1012 10:00:00",
					   "Jan 01 9999 00:00:00 UTC" };

	CHECK_INT(cef_parse_time("Mar  5 10:00:00", 15, utc, NOW, &ns, &zoned), 0);
	CHECK_INT(ns, INT64_C(1772704800000000000)); /* 2026-03-05T10:00:00Z */
	CHECK(!zoned);
	CHECK_INT(cef_parse_time("Mar 15 2026 10:00:00 America/New_York", 37, utc, NOW, &ns,
				 &zoned), 0);
	CHECK_INT(ns, INT64_C(1773583200000000000)); /* 14:00Z (EDT) */
	CHECK(zoned);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(cef_parse_time(bad[i], strlen(bad[i]), utc, NOW, &ns, &zoned), -EINVAL);
}

/* ---------------------------------------------------------------- LEEF */

static void test_leef_delimiters(void)
{
	CHECK_INT(dec("auto", "<14>Mar 15 10:00:00 qr LEEF:1.0|IBM|QRadar|7.5|Login|"
			      "src=10.1.1.1\tusrName=bob\tsev=6\tmsg=a|b"), 0);
	CHECK_STR(val("event.dataset"), "leef.log");
	CHECK_STR(val("leef.src"), "10.1.1.1");
	CHECK_STR(val("source.ip"), "10.1.1.1");
	CHECK_STR(val("user.name"), "bob");
	CHECK_STR(val("event.severity"), "6");
	CHECK_STR(val("leef.msg"), "a|b"); /* TAB was detected: '|' is text */
	CHECK_STR(val("event.code"), "Login");
	CHECK_STR(val("observer.vendor"), "IBM");
	/* PAN-OS: LEEF 1.0 with '|' */
	CHECK_INT(dec("auto", "LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|11.1|allow|"
			      "cat=TRAFFIC|src=10.0.0.1|RuleName=r1|Application=SSL|"
			      "SourceZone=trust|devTime=Sep 17 2025 11:45:34 GMT"), 0);
	CHECK_STR(val("leef.cat"), "TRAFFIC");
	CHECK_STR(val("rule.name"), "r1");
	CHECK_STR(val("network.application"), "ssl");
	CHECK_STR(val("observer.ingress.zone"), "trust");
	CHECK_STR(val("@timestamp"), "2025-09-17T11:45:34Z");
	/* LEEF 2.0: the header's delimiter, as a character or in hex */
	CHECK_INT(dec("leef", "LEEF:2.0|V|P|1|E|^|src=10.0.0.2^dst=10.0.0.3^text=x|y"), 0);
	CHECK_STR(val("destination.ip"), "10.0.0.3");
	CHECK_STR(val("leef.text"), "x|y");
	CHECK_INT(dec("leef", "LEEF:2.0|V|P|1|E|x5E|src=10.0.0.2^dstPort=53"), 0);
	CHECK_STR(val("destination.port"), "53");
	CHECK_INT(dec("leef", "LEEF:2.0|V|P|1|E|0x09|src=10.0.0.2\tdstPort=54"), 0);
	CHECK_STR(val("destination.port"), "54");
	/* 2.0 without the delimiter field: the attributes follow EventID */
	CHECK_INT(dec("leef", "LEEF:2.0|V|P|1|E|src=10.0.0.4\tdstPort=55"), 0);
	CHECK_STR(val("source.ip"), "10.0.0.4");
	CHECK_STR(val("destination.port"), "55");
	/* a piece without '=' continues the value; no attributes at all is fine */
	CHECK_INT(dec("leef", "LEEF:1.0|V|P|1|E|a=1|2|b=3"), 0);
	CHECK_STR(val("leef.a"), "1|2");
	CHECK_STR(val("leef.b"), "3");
	CHECK_INT(dec("leef", "LEEF:1.0|V|P|1|E"), 0);
	CHECK_STR(val("leef.event_id"), "E");
}

static void test_leef_configured_delimiter(void)
{
	struct config c;
	struct err e = ERR_INIT;
	const char *yaml = "decoders:\n  leef:\n    delimiter: \"^\"\n    sources:\n"
			   "      pa: \"|\"\n";
	const char *m = "LEEF:1.0|V|P|1|E|a=1|b=2^c=3\td=4";

	CHECK_INT(config_load_mem(&c, yaml, strlen(yaml), "t.yaml", &e), 0);
	CHECK_INT(leef_configure(&c, &e), 0);
	CHECK_INT(dec_source("leef", m, "pa"), 0);
	CHECK_STR(val("leef.a"), "1");
	CHECK_STR(val("leef.b"), "2^c=3\td=4");
	CHECK_INT(dec_source("leef", m, "other"), 0);
	CHECK_STR(val("leef.a"), "1|b=2");
	CHECK_STR(val("leef.c"), "3\td=4");
	config_release(&c);
	/* a bad delimiter stops the start with the line */
	yaml = "decoders:\n  leef:\n    sources:\n      pa: xyz\n";
	CHECK_INT(config_load_mem(&c, yaml, strlen(yaml), "t.yaml", &e), 0);
	CHECK_INT(leef_configure(&c, &e), -EINVAL);
	CHECK_STR(e.msg, "(config):4: decoders.leef.sources: 'xyz' is not a delimiter (expected "
			 "auto, tab, one character or its code in hex such as x09)");
	config_release(&c);
	CHECK_INT(config_defaults(&c, &e), 0);
	CHECK_INT(leef_configure(&c, &e), 0);
	config_release(&c);
}

static void count_change(void *ctx, const char *key, bool live, const char *was,
			 const char *now)
{
	int *n = ctx;

	if (!strncmp(key, "decoders.leef.", 14) && !live)
		(*n)++;
}

/* decoders.leef needs a restart: a reload reports it and keeps the running values. */
static void test_leef_settings_on_reload(void)
{
	struct config running, next;
	struct err e = ERR_INIT;
	const char *a = "decoders:\n  leef:\n    delimiter: tab\n    sources: { pa: \"|\" }\n";
	const char *b = "decoders:\n  leef:\n    delimiter: x5E\n    sources: { pb: \"^\" }\n";
	int changed = 0;

	CHECK_INT(config_load_mem(&running, a, strlen(a), "a.yaml", &e), 0);
	CHECK_INT(config_load_mem(&next, b, strlen(b), "b.yaml", &e), 0);
	CHECK_INT(config_diff(&running, &next, count_change, &changed), 2);
	CHECK_INT(changed, 2);
	CHECK_INT(config_keep_restart_keys(&next, &running, &e), 0);
	CHECK_STR(next.leef_delimiter, "tab");
	CHECK_INT(next.n_leef_sources, 1);
	CHECK_STR(next.leef_sources[0].source, "pa");
	CHECK_STR(next.leef_sources[0].delimiter, "|");
	CHECK_INT(config_diff(&running, &next, NULL, NULL), 0);
	config_release(&running);
	config_release(&next);
}

static void test_leef_delim_parse(void)
{
	struct leef_delim d;
	static const char *const bad[] = { "", "ab", "xZZ", "x3D", "0x0", "=", "x0A",
					   "x12345", "\xC3", "xD800" };

	CHECK_INT(leef_delim_parse("auto", 4, &d), 0);
	CHECK_INT(d.len, 0);
	CHECK_INT(leef_delim_parse("TAB", 3, &d), 0);
	CHECK(d.len == 1 && d.s[0] == '\t');
	CHECK_INT(leef_delim_parse("|", 1, &d), 0);
	CHECK(d.len == 1 && d.s[0] == '|');
	CHECK_INT(leef_delim_parse("0x5e", 4, &d), 0);
	CHECK(d.len == 1 && d.s[0] == '^');
	CHECK_INT(leef_delim_parse("x00A7", 5, &d), 0); /* § */
	CHECK(d.len == 2 && !memcmp(d.s, "\xC2\xA7", 2));
	CHECK_INT(leef_delim_parse("\xC2\xA7", 2, &d), 0);
	CHECK(d.len == 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(leef_delim_parse(bad[i], strlen(bad[i]), &d), -EINVAL);
}

/* devTime read by devTimeFormat (Java SimpleDateFormat), else by the usual forms. */
static void test_leef_dev_time_format(void)
{
	static const struct {
		const char *attrs, *stamp, *zone;
	} cases[] = {
		{ "devTimeFormat=yyyy-MM-dd HH:mm:ss.SSS Z\tdevTime=2026-03-15 12:00:00.250 +0900",
		  "2026-03-15T03:00:00.250Z", "(absent)" },
		{ "devTime=15/03/2026 12:00:01\tdevTimeFormat=dd/MM/yyyy HH:mm:ss",
		  "2026-03-15T03:00:01Z", "Asia/Tokyo" },
		{ "devTimeFormat=EEE, d MMMM yyyy hh:mm:ss a z\tdevTime=Sun, 15 March 2026 "
		  "01:00:02 PM UTC", "2026-03-15T13:00:02Z", "(absent)" },
		{ "devTimeFormat='at' HH:mm:ss 'on' MMM dd\tdevTime=at 11:00:03 on Mar 15",
		  "2026-03-15T02:00:03Z", "Asia/Tokyo" },
		{ "devTimeFormat=yyyyMMddHHmmssX\tdevTime=20260315030004Z", "2026-03-15T03:00:04Z",
		  "(absent)" },
		/* the pattern does not fit: the usual forms */
		{ "devTimeFormat=yyyy-MM-dd\tdevTime=Mar 15 2026 03:00:05 GMT",
		  "2026-03-15T03:00:05Z", "(absent)" },
		/* fits neither: @timestamp stays the receive time, the text stays in leef.devTime */
		{ "devTimeFormat=yyyy-MM-dd\tdevTime=2026-02-30", "2026-03-15T03:00:00Z", "(absent)" },
		{ "devTimeFormat=hh:mm a\tdevTime=13:00 PM", "2026-03-15T03:00:00Z", "(absent)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char m[512];

		snprintf(m, sizeof(m), "LEEF:1.0|V|P|1|E|%s", cases[i].attrs);
		CHECK_INT(dec("leef", m), 0);
		CHECK_STR(val("@timestamp"), cases[i].stamp);
		CHECK_STR(val("event.timezone"), cases[i].zone);
	}
}

static void test_leef_errors(void)
{
	CHECK_INT(dec("leef", "<13>Mar 15 10:00:00 h LEEF:1.0|V|P"), -EINVAL);
	CHECK_STR(err.msg, "offset 34: LEEF header has 2 of its 5 fields (expected "
			   "LEEF:Version|Vendor|Product|Version|EventID|attributes)");
	CHECK_STR(val("message"), "<13>Mar 15 10:00:00 h LEEF:1.0|V|P");
	CHECK_INT(dec("leef", "LEEF:1.x|V|P|1|E|a=b"), -EINVAL);
	CHECK_STR(err.msg, "offset 5: LEEF version '1.x' is not a number such as 1.0 or 2.0");
	CHECK_INT(dec("leef", "just text"), -EINVAL);
	CHECK_STR(err.msg, "offset 0: no 'LEEF:' (expected LEEF:Version|Vendor|...)");
}

/* ---------------------------------------------------------------- A10 */

static void test_a10_cef(void)
{
	CHECK_INT(dec("auto", "<134>Mar 15 10:00:00 cgn0 CEF:0|A10|CFW|6.0.0-P1|CGN 106|Nat Port "
			      "Batch Pool Allocated|5|proto=UDP src=100.65.140.73 "
			      "sourceTranslatedAddress=99.99.99.12 sourceTranslatedPort=22016 "
			      "cn3=22271 cn3Label=Last Nat Port"), 0);
	CHECK_STR(val("event.module"), "a10");
	CHECK_STR(val("event.dataset"), "a10.cgn");
	CHECK_STR(val("a10.cgn.class"), "106");
	CHECK_STR(val("event.action"), "nat-port-batch-pool-allocated");
	CHECK_STR(val("event.category"), "network");
	CHECK_STR(val("event.type"), "connection,start");
	CHECK_STR(val("source.nat.ip"), "99.99.99.12");
	CHECK_STR(val("a10.cgn.nat_port_first"), "22016");
	CHECK_STR(val("a10.cgn.nat_port_last"), "22271");
	CHECK_STR(val("cef.Last_Nat_Port"), "22271");
	CHECK_STR(val("network.transport"), "udp");
	CHECK_INT(dec("a10", "CEF:0|A10|ADC|6.0.7|CGN 103|Nat Session Deleted|5|proto=TCP"), 0);
	CHECK_STR(val("event.type"), "connection,end");
	CHECK_INT(dec("cef", "CEF:0|A10|ADC|6.0.7|WAF 1|Blocked|5|src=10.0.0.1"), 0);
	CHECK_STR(val("event.dataset"), "a10.log");
	CHECK_STR(val("a10.cgn.class"), "(absent)");
}

static void test_a10_ascii(void)
{
	CHECK_INT(dec("auto", "<134>Mar 15 10:00:00 cgn1 NAT-TCP-C: 10.0.0.1:40123<->"
			      "203.0.113.5:443, 192.0.2.1:51234<-->203.0.113.5:443"), 0);
	CHECK_STR(val("event.dataset"), "a10.cgn");
	CHECK_STR(val("a10.cgn.log_type"), "session");
	CHECK_STR(val("a10.cgn.event"), "C");
	CHECK_STR(val("source.ip"), "10.0.0.1");
	CHECK_STR(val("source.port"), "40123");
	CHECK_STR(val("destination.ip"), "203.0.113.5");
	CHECK_STR(val("source.nat.ip"), "192.0.2.1");
	CHECK_STR(val("source.nat.port"), "51234");
	CHECK_STR(val("host.name"), "cgn1");
	CHECK_STR(val("process.name"), "(absent)"); /* "NAT-TCP-C:" is no syslog tag */
	CHECK_STR(val("event.type"), "connection,start");
	/* port mapping, deleted; the reverse half written server first */
	CHECK_INT(dec("a10", "NAT-UDP-D: 10.0.0.2:5000<-->192.0.2.2:6000 to 198.51.100.1:53"), 0);
	CHECK_STR(val("a10.cgn.log_type"), "port_mapping");
	CHECK_STR(val("destination.port"), "53");
	CHECK_STR(val("source.nat.port"), "6000");
	CHECK_STR(val("event.type"), "connection,end");
	CHECK_INT(dec("a10", "NAT-TCP-U: 10.0.0.1:1<->203.0.113.5:443,203.0.113.5:443<-->"
			     "192.0.2.1:2"), 0);
	CHECK_STR(val("source.nat.ip"), "192.0.2.1");
	CHECK_STR(val("event.type"), "connection,info");
	CHECK_INT(dec("a10", "gw FIXED-NAT-PORTS 10.10.10.172->192.168.9.173:3000-4000"), 0);
	CHECK_STR(val("a10.cgn.log_type"), "fixed_nat");
	CHECK_STR(val("a10.cgn.nat_port_first"), "3000");
	CHECK_STR(val("a10.cgn.nat_port_last"), "4000");
	CHECK_STR(val("host.name"), "gw");
	CHECK_STR(val("network.transport"), "(absent)");
	/* errors */
	CHECK_INT(dec("a10", "NAT-TCP-C: 10.0.0.1:1 ?? 10.0.0.2:2"), -EINVAL);
	CHECK_STR(err.msg, "offset 22: A10 CGN: expected '->', '<-->', 'to', ',' or the end");
	CHECK_STR(val("message"), "NAT-TCP-C: 10.0.0.1:1 ?? 10.0.0.2:2");
	CHECK_INT(dec("a10", "NAT-TCP-C: 10.0.0.1:1"), -EINVAL);
	CHECK_INT(dec("a10", "NAT-TCP-C: 10.0.0.1:1, 10.0.0.2:2 to 10.0.0.3:3"), -EINVAL);
	CHECK_INT(dec("a10", "NAT-TCP-C: nothing"), -EINVAL);
	CHECK_STR(err.msg, "offset 11: A10 CGN: expected an address (IPv4[:PORT] or [IPv6]:PORT)");
}

static void test_a10_http(void)
{
	CHECK_INT(dec("a10", "20.20.20.23 - - Mon Apr 23 23:38:13 2012 \"GET /a?b HTTP/1.0\" 177 "
			     "\"http://r/\" \"Wget/1.12 (linux-gnu)\" vs1:80"), 0);
	CHECK_STR(val("event.dataset"), "a10.http");
	CHECK_STR(val("@timestamp"), "2012-04-23T14:38:13Z");
	CHECK_STR(val("source.ip"), "20.20.20.23");
	CHECK_STR(val("http.request.method"), "GET");
	CHECK_STR(val("url.original"), "/a?b");
	CHECK_STR(val("http.version"), "1.0");
	CHECK_STR(val("http.response.body.bytes"), "177");
	CHECK_STR(val("http.request.referrer"), "http://r/");
	CHECK_STR(val("user_agent.original"), "Wget/1.12 (linux-gnu)");
	CHECK_STR(val("a10.http.virtual_server"), "vs1");
	CHECK_STR(val("destination.port"), "80");
	CHECK_INT(dec("a10", "20.20.20.23 - - Mon Apr 23 23:38:13 2012 \"GET / HTTP/1.0\" x"),
		  -EINVAL);
	CHECK_STR(err.msg, "offset 58: A10 HTTP log: expected SIZE \"REFERER\" \"USER-AGENT\" "
			   "VSERVER:VPORT");
	CHECK_INT(dec("a10", "20.20.20.23 x \"GET\""), -EINVAL);
	CHECK_INT(dec("a10", "2001:db8::7 - - Mon Apr 23 23:38:13 2012 \"GET / HTTP/1.0\" 1 \"-\" "
			     "\"-\" vs:8080"), 0);
	CHECK_STR(val("source.ip"), "2001:db8::7");
	CHECK_STR(val("destination.port"), "8080");
}

static void test_auto_picks(void)
{
	static const struct {
		const char *msg, *decoder;
	} cases[] = {
		{ "<134>Mar 15 10:00:00 h CEF:0|V|P|1|s|n|3|a=b", "cef" },
		{ "<134>1 2026-03-15T10:00:00Z h - - - - CEF:0|V|P|1|s|n|3|a=b", "cef" },
		{ "LEEF:2.0|V|P|1|E|^|a=b", "leef" },
		{ "<14>Mar 15 10:00:00 h NAT-TCP-C: 10.0.0.1:1<->10.0.0.2:2", "a10" },
		{ "<14>Mar 15 10:00:00 h FIXED-NAT-PORTS 10.0.0.1->10.0.0.2:1-2", "a10" },
		{ "<14>Mar 15 10:00:00 h app: the CEF: word and LEEF:x", "syslog" },
		{ "<14>Mar 15 10:00:00 h app: SNAT-TCP-C: 1", "syslog" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *m = cases[i].msg;

		CHECK_STR(decoder_pick(DECODER_AUTO, m, strlen(m))->name, cases[i].decoder);
	}
}

/* Every line of the shared A10 and PAN-OS LEEF/CEF samples decodes (exact counts). */
static void test_shared_samples(void)
{
	static const struct {
		const char *file, *format;
		int lines, datasets_a10, datasets_leef, nat, rules;
	} files[] = {
		{ "a10/a10-cgn-cef.log", "cef", 4, 4, 0, 4, 0 },
		{ "a10/a10-cgn-ascii-format.txt", "a10", 3, 3, 0, 2, 0 },
		{ "panos/leef-and-cef.log", "auto", 3, 0, 2, 2, 3 },
	};
	const char *root = t_shared_dir();

	if (!root) {
		t_skip("../shared absent: the public samples are not checked");
		return;
	}
	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		char path[1024];
		size_t len = 0;
		char *text;
		int lines = 0, a10 = 0, leef = 0, nat = 0, rules = 0;

		snprintf(path, sizeof(path), "%s/samples/%s", root, files[k].file);
		if (!(text = t_read_file(path, &len))) {
			CHECK(!"sample missing");
			continue;
		}
		for (char *p = text, *end = text + len; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));

			if (nl)
				*nl = '\0';
			if (*p && *p != '#') {
				CHECK_INT(dec(files[k].format, p), 0);
				if (err.msg[0])
					fprintf(stderr, "%s: %s\n", p, err.msg);
				lines++;
				a10 += !strncmp(val("event.dataset"), "a10.", 4);
				leef += !strcmp(val("event.dataset"), "leef.log");
				nat += strcmp(val("source.nat.ip"), "(absent)") != 0;
				rules += strcmp(val("rule.name"), "(absent)") != 0;
			}
			p = nl ? nl + 1 : end;
		}
		CHECK_INT(lines, files[k].lines);
		CHECK_INT(a10, files[k].datasets_a10);
		CHECK_INT(leef, files[k].datasets_leef);
		CHECK_INT(nat, files[k].nat);
		CHECK_INT(rules, files[k].rules);
		free(text);
	}
}

int main(void)
{
	arena_init(&arena, 1 << 16, 1 << 24);
	T_RUN(test_cef_header_and_extension);
	T_RUN(test_cef_tag_trap_and_prefixes);
	T_RUN(test_cef_labels_and_key_names);
	T_RUN(test_cef_non_ascii_labels);
	T_RUN(test_cef_long_non_ascii_labels);
	T_RUN(test_cef_values);
	T_RUN(test_cef_times);
	T_RUN(test_cef_errors_keep_the_raw_event);
	T_RUN(test_cef_arena_full);
	T_RUN(test_cef_time_parser);
	T_RUN(test_leef_delimiters);
	T_RUN(test_leef_configured_delimiter);
	T_RUN(test_leef_settings_on_reload);
	T_RUN(test_leef_delim_parse);
	T_RUN(test_leef_dev_time_format);
	T_RUN(test_leef_errors);
	T_RUN(test_a10_cef);
	T_RUN(test_a10_ascii);
	T_RUN(test_a10_http);
	T_RUN(test_auto_picks);
	T_RUN(test_shared_samples);
	/* last: the counter needs the metric registered (what serve's start does) */
	{
		struct err e = ERR_INIT;

		CHECK_INT(cef_configure(NULL, &e), 0);
	}
	T_RUN(test_cef_pair_limit);
	T_RUN(test_cef_name_budget);
	arena_release(&arena);
	return t_done();
}
