/*
 * Unit tests of soc/terminal: PAN-OS, A10 CGN, Squid and web logs decoded by koban's own
 * decoders, imported into a real store in a temp directory, and the terminals behind their
 * addresses looked up; the asset inventory naming the host; tenant isolation; the JSON form.
 */
#include "soc/terminal.h"
#include "core/compat.h"

#include <errno.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/tz.h"
#include "enrich/assets.h"
#include "parse/decoder.h"
#include "store/meta.h"
#include "store/store.h"
#include "t.h"
#include "t_meta.h"
#include "t_store.h"

#define SEC INT64_C(1000000000)
#define T0 INT64_C(1773543600000000000) /* 2026-03-15T03:00:00Z = 12:00:00 JST */

/* PAN-OS TRAFFIC: generated at JST time TIME, SRC:SPORT -> DST:DPORT, NAT NATSRC:NATSPORT
 * -> NATDST:NATDPORT, user USER. */
#define PANOS(TIME, SRC, DST, NATSRC, NATDST, USER, SPORT, DPORT, NATSPORT, NATDPORT)            \
	"1,2026/03/15 " TIME ",012801096514,TRAFFIC,end,2561,2026/03/15 " TIME "," SRC "," DST \
	"," NATSRC "," NATDST ",allow-web," USER ",,ssl,vsys1,trust,untrust,ethernet1/2,"     \
	"ethernet1/1,fwd,2026/03/15 " TIME ",4242,1," SPORT "," DPORT "," NATSPORT ","        \
	NATDPORT ",0x400053,tcp,allow,7734,1758,5976,36,2026/03/15 11:50:00,586,"            \
	"computer-and-internet-info,0,99,0x0,10.0.0.0-10.255.255.255,Japan,0,16,20,tcp-fin,"   \
	"0,0,0,0,,PA-5220,from-policy,,,0,,0,,N/A,0,0,0,0,"                                    \
	"8ad0d8a4-1111-4222-8333-944445555666,0,0,,{link1,link2,link3},,,,,"

struct line {
	const char *format, *text;
	int64_t received_ns; /* the time of lines without one of their own (A10 ASCII) */
};

static const struct line tenant_a[] = {
	/* the NAT of 10.1.2.3, and the same outside port given to another host 10 min before */
	{ "panos", PANOS("11:59:59", "10.1.2.3", "198.51.100.80", "203.0.113.5", "198.51.100.80",
			 "CORP\\tanaka", "51514", "443", "40123", "443"), 0 },
	{ "panos", PANOS("11:50:00", "10.1.2.99", "198.51.100.80", "203.0.113.5", "198.51.100.80",
			 "", "50000", "443", "40123", "443"), 0 },
	/* a destination NAT to a server inside */
	{ "panos", PANOS("12:00:10", "192.0.2.44", "203.0.113.9", "0.0.0.0", "10.9.9.9", "",
			 "61000", "443", "0", "8443"), 0 },
	/* CGN: one port, and a block of ports an hour before */
	{ "a10", "NAT-TCP-C: 100.64.1.7:33000->198.51.100.20:41000 to 192.0.2.80:443",
	  T0 + 30 * SEC },
	{ "a10", "gw FIXED-NAT-PORTS 100.64.1.8->198.51.100.21:3000-4000", T0 - 3600 * SEC },
	/* a CGN record without the NAT port */
	{ "a10", "CEF:0|A10|CFW|6.0.0-P1|CGN 100|Nat Session Created|5|proto=TCP "
		 "src=100.64.1.9 sourceTranslatedAddress=198.51.100.22", T0 - 60 * SEC },
	/* a Squid client that authenticated, and a web log behind a proxy at 10.0.0.5 */
	{ "squid", "1773543610.049   5006 10.1.2.50 TCP_MISS/200 19763 CONNECT a.example:443 "
		   "suzuki DIRECT/198.51.100.3 -", 0 },
	{ "combined", "10.0.0.5 - - [15/Mar/2026:03:00:05 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" "
		      "\"curl/8\" \"10.1.2.77, 10.0.0.4\"", 0 },
};

/* another tenant: the same outside endpoint, nearer in time, must never be found for A */
static const struct line tenant_b[] = {
	{ "panos", PANOS("12:00:00", "10.66.6.6", "198.51.100.80", "203.0.113.5", "198.51.100.80",
			 "", "1111", "443", "40123", "443"), 0 },
};

struct lines {
	const struct line *v;
	size_t n;
};

static void decode_line(struct event *ev, int i, void *ctx)
{
	const struct lines *ls = ctx;
	const struct line *l = &ls->v[i];
	struct decode_opts o = { tz_get("Asia/Tokyo", 10, NULL), l->received_ns ? l->received_ns : T0,
				 0, 0, NULL };
	const struct decoder *d = decoder_get((unsigned)decoder_find(l->format, strlen(l->format)));
	struct err e = ERR_INIT;
	int rc = d->decode(ev, l->text, strlen(l->text), &o, &e);

	t_check(rc == 0, __FILE__, __LINE__, "line %d (%s): %s", i, l->format, e.msg);
}

static struct store *world(void)
{
	static const struct lines a = { tenant_a, sizeof(tenant_a) / sizeof(tenant_a[0]) };
	static const struct lines b = { tenant_b, sizeof(tenant_b) / sizeof(tenant_b[0]) };
	struct meta *m = t_meta_open("alpha", "beta", NULL); /* makes the data directory */
	struct store *st = NULL;
	struct err e = ERR_INIT;

	if (m)
		meta_close(m);
	CHECK_INT(store_open(&st, t_meta_dir(), &e), 0);
	if (!st)
		return NULL;
	t_store_import(st, 1, (int)a.n, decode_line, (void *)&a, NULL);
	t_store_import(st, 2, (int)b.n, decode_line, (void *)&b, NULL);
	return st;
}

struct result {
	int rc;
	struct terminal t;
	char json[1024];
};

static struct result resolve(struct store *st, uint64_t tenant, const char *ip, uint16_t port,
			     int64_t window_ns, struct arena *a)
{
	struct result r;
	struct err e = ERR_INIT;
	struct buf b;

	memset(&r, 0, sizeof(r));
	r.rc = terminal_resolve(st, tenant, ip, port, T0, window_ns, a, &r.t, &e);
	if (r.rc < 0 && r.rc != -ENOENT)
		snprintf(r.json, sizeof(r.json), "error: %s", e.msg);
	if (r.rc == 0) {
		buf_init(&b, 4096);
		CHECK_INT(terminal_write_json(&r.t, &b), 0);
		snprintf(r.json, sizeof(r.json), "%s", b.p);
		buf_release(&b);
	}
	return r;
}

static void test_panos_nat(void)
{
	struct store *st = world();
	struct arena a;
	struct result r;

	arena_init(&a, 4096, 1 << 20);
	r = resolve(st, 1, "203.0.113.5", 40123, 0, &a);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.json, "{\"ip\": \"10.1.2.3\", \"port\": 51514, \"user\": \"tanaka\", "
		  "\"via\": \"panos-nat\", \"sentence\": \"203.0.113.5:40123 was 10.1.2.3:51514 "
		  "(user tanaka) behind the PAN-OS NAT at 2026-03-15T02:59:59Z\", \"at\": "
		  "\"2026-03-15T02:59:59Z\"}");
	/* any port: still the nearest */
	r = resolve(st, 1, "203.0.113.5", 0, 0, &a);
	CHECK_STR(r.t.ip, "10.1.2.3");
	CHECK_STR(r.t.sentence, "203.0.113.5 was 10.1.2.3:51514 (user tanaka) behind the PAN-OS "
		  "NAT at 2026-03-15T02:59:59Z");
	/* a window that leaves the nearest out finds the older mapping of the same port */
	r = resolve(st, 1, "203.0.113.5", 40123, 0, &a);
	CHECK_INT(r.rc, 0);
	CHECK_INT(terminal_resolve(st, 1, "203.0.113.5", 40123, T0 - 9 * 60 * SEC, 2 * 60 * SEC, &a,
				   &r.t, NULL), 0);
	CHECK_STR(r.t.ip, "10.1.2.99");
	CHECK(r.t.user == NULL);
	/* another port of the address: nothing */
	CHECK_INT(resolve(st, 1, "203.0.113.5", 40124, 0, &a).rc, -ENOENT);
	/* the destination NAT: the server inside; a destination that is not translated is no
	 * terminal (PAN-OS writes natdst = dst for a source NAT) */
	r = resolve(st, 1, "203.0.113.9", 443, 0, &a);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.t.sentence, "203.0.113.9:443 was 10.9.9.9:8443 behind the PAN-OS destination "
		  "NAT at 2026-03-15T03:00:10Z");
	CHECK_INT(resolve(st, 1, "198.51.100.80", 443, 0, &a).rc, -ENOENT);
	CHECK_INT(resolve(st, 1, "203.0.113.9", 80, 0, &a).rc, -ENOENT);
	arena_release(&a);
	store_close(st);
}

static void test_isolation(void)
{
	struct store *st = world();
	struct arena a;
	struct result r;

	arena_init(&a, 4096, 1 << 20);
	r = resolve(st, 2, "203.0.113.5", 40123, 0, &a);
	CHECK_STR(r.t.ip, "10.66.6.6");
	r = resolve(st, 1, "203.0.113.5", 40123, 0, &a);
	CHECK_STR(r.t.ip, "10.1.2.3");
	/* tenant 2 has no CGN, no proxy */
	CHECK_INT(resolve(st, 2, "198.51.100.20", 41000, 0, &a).rc, -ENOENT);
	CHECK_INT(resolve(st, 2, "10.0.0.5", 0, 0, &a).rc, -ENOENT);
	CHECK_INT(resolve(st, 3, "203.0.113.5", 40123, 0, &a).rc, -ENOENT); /* no data at all */
	arena_release(&a);
	store_close(st);
}

static void test_a10_cgn(void)
{
	struct store *st = world();
	struct arena a;
	struct result r;

	arena_init(&a, 4096, 1 << 20);
	r = resolve(st, 1, "198.51.100.20", 41000, 0, &a);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.json, "{\"ip\": \"100.64.1.7\", \"port\": 33000, \"via\": \"a10-cgn\", "
		  "\"sentence\": \"198.51.100.20:41000 was 100.64.1.7:33000 behind the A10 CGN at "
		  "2026-03-15T03:00:30Z\", \"at\": \"2026-03-15T03:00:30Z\"}");
	CHECK_INT(resolve(st, 1, "198.51.100.20", 41001, 0, &a).rc, -ENOENT);
	/* a port block: an hour before, beyond the default window */
	CHECK_INT(resolve(st, 1, "198.51.100.21", 3500, 0, &a).rc, -ENOENT);
	r = resolve(st, 1, "198.51.100.21", 3500, 2 * 3600 * SEC, &a);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.t.sentence, "198.51.100.21:3500 was 100.64.1.8 (ports 3000-4000 of a block) "
		  "behind the A10 CGN at 2026-03-15T02:00:00Z");
	CHECK_INT(r.t.port, 0);
	CHECK_INT(resolve(st, 1, "198.51.100.21", 4001, 2 * 3600 * SEC, &a).rc, -ENOENT);
	/* no port in the log: the address alone, said so */
	r = resolve(st, 1, "198.51.100.22", 5000, 0, &a);
	CHECK_STR(r.t.sentence, "198.51.100.22:5000 was 100.64.1.9 behind the A10 CGN (the log "
		  "names no port) at 2026-03-15T02:59:00Z");
	arena_release(&a);
	store_close(st);
}

static void test_proxies(void)
{
	struct store *st = world();
	struct arena a;
	struct result r;

	arena_init(&a, 4096, 1 << 20);
	r = resolve(st, 1, "10.0.0.5", 0, 0, &a);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.json, "{\"ip\": \"10.1.2.77\", \"via\": \"proxy-xff\", \"sentence\": "
		  "\"10.0.0.5 was 10.1.2.77 behind the proxy (X-Forwarded-For of the web log) at "
		  "2026-03-15T03:00:05Z\", \"at\": \"2026-03-15T03:00:05Z\"}");
	r = resolve(st, 1, "10.1.2.50", 0, 0, &a);
	CHECK_INT(r.rc, 0);
	CHECK_STR(r.t.via, "proxy-client");
	CHECK_STR(r.t.sentence, "10.1.2.50 was 10.1.2.50 (user suzuki) in the proxy log at "
		  "2026-03-15T03:00:10.049Z");
	/* an address only seen as a destination, an IPv6 address: nothing, not an error */
	CHECK_INT(resolve(st, 1, "198.51.100.3", 0, 0, &a).rc, -ENOENT);
	CHECK_INT(resolve(st, 1, "2001:db8::1", 443, 0, &a).rc, -ENOENT);
	arena_release(&a);
	store_close(st);
}

static void test_errors(void)
{
	struct store *st = world();
	struct err e = ERR_INIT;
	struct terminal t;
	struct arena a;

	arena_init(&a, 4096, 1 << 20);
	CHECK_INT(terminal_resolve(st, 1, "203.0.113.5 or *", 0, T0, 0, &a, &t, &e), -EINVAL);
	CHECK_STR(e.msg, "terminal: '203.0.113.5 or *' is not an IP address");
	CHECK_INT(terminal_resolve(st, 1, "203.0.113.5", 0, T0, -1, &a, &t, &e), -EINVAL);
	arena_release(&a);
	/* an arena too small for the answer */
	arena_init(&a, 64, 64);
	CHECK_INT(terminal_resolve(st, 1, "203.0.113.5", 40123, T0, 0, &a, &t, &e), -ENOMEM);
	arena_release(&a);
	/* the store's allocations failing one after another: errors, never a wrong answer */
	for (long n = 0; n < 400; n += 7) {
		int rc;

		arena_init(&a, 4096, 1 << 20);
		mem_fail_after(n);
		rc = terminal_resolve(st, 1, "203.0.113.5", 40123, T0, 0, &a, &t, &e);
		mem_fail_after(-1);
		t_check(rc == -ENOMEM || (rc == 0 && !strcmp(t.ip, "10.1.2.3")), __FILE__, __LINE__,
			"after %ld allocations: %d %s", n, rc, rc ? e.msg : t.ip);
		arena_release(&a);
	}
	store_close(st);
}

static struct assets *inventory(void)
{
	struct assets *as = NULL;
	struct assets_entry *en;
	struct assets_import_stats stats = { 0 };
	struct err e = ERR_INIT;
	struct meta *m;

	if (meta_open(&m, t_meta_dir(), &e) < 0) {
		t_check(0, __FILE__, __LINE__, "meta_open: %s", e.msg);
		return NULL;
	}
	CHECK_INT(assets_new(&as, &e), 0);
	CHECK_INT(assets_add_new(as, "alpha", "pc-042", &en, &e), 0);
	CHECK_INT(assets_entry_set(as, en, ASSETS_COL_HOSTNAMES, "PC-042.corp.example", 19, true,
				   &e), 0);
	CHECK_INT(assets_entry_set(as, en, ASSETS_COL_ADDRESSES, "10.1.2.0/24", 11, true, &e), 0);
	CHECK_INT(assets_store(as, m, &stats, &e), 0);
	meta_close(m);
	return as;
}

static void test_assets(void)
{
	struct store *st = world();
	struct assets *as = inventory();
	struct terminal t;
	struct arena a;
	struct result r;

	arena_init(&a, 4096, 1 << 20);
	r = resolve(st, 1, "203.0.113.5", 40123, 0, &a);
	CHECK_INT(terminal_name_host(&r.t, as, "beta", &a), 0); /* another tenant's assets */
	CHECK_INT(terminal_name_host(&r.t, as, "alpha", &a), 1);
	CHECK_STR(r.t.host, "pc-042.corp.example");
	CHECK_STR(r.t.sentence, "203.0.113.5:40123 was 10.1.2.3:51514 (pc-042.corp.example, user "
		  "tanaka) behind the PAN-OS NAT at 2026-03-15T02:59:59Z");
	CHECK_INT(terminal_name_host(&r.t, as, "alpha", &a), 0); /* named already */
	r = resolve(st, 1, "10.0.0.5", 0, 0, &a);
	CHECK_INT(terminal_name_host(&r.t, as, "alpha", &a), 1);
	CHECK_STR(r.t.sentence, "10.0.0.5 was 10.1.2.77 (pc-042.corp.example) behind the proxy "
		  "(X-Forwarded-For of the web log) at 2026-03-15T03:00:05Z");
	r = resolve(st, 1, "198.51.100.20", 41000, 0, &a);
	CHECK_INT(terminal_name_host(&r.t, as, "alpha", &a), 0); /* 100.64.1.7: no asset */
	CHECK(r.t.host == NULL);
	/* an address inside, mapped by no log */
	CHECK_INT(terminal_direct("10.1.2.200", as, "alpha", T0, &a, &t), 0);
	CHECK_STR(t.via, "direct");
	CHECK_STR(t.sentence, "10.1.2.200 was 10.1.2.200 (pc-042.corp.example) in the asset "
		  "inventory (no NAT or proxy log maps it) at 2026-03-15T03:00:00Z");
	CHECK_INT(terminal_direct("10.1.3.1", as, "alpha", T0, &a, &t), -ENOENT);
	CHECK_INT(terminal_direct("10.1.2.200", as, "beta", T0, &a, &t), -ENOENT);
	CHECK_INT(terminal_direct("10.1.2.200", NULL, "alpha", T0, &a, &t), -ENOENT);
	arena_release(&a);
	assets_free(as);
	store_close(st);
}

static void test_json(void)
{
	struct terminal t = { .ip = "10.1.2.3", .via = "direct" };
	struct buf b;

	buf_init(&b, 4096);
	CHECK_INT(terminal_write_json(&t, &b), 0);
	CHECK_STR(b.p, "{\"ip\": \"10.1.2.3\", \"via\": \"direct\"}");
	buf_reset(&b);
	memset(&t, 0, sizeof(t));
	CHECK_INT(terminal_write_json(&t, &b), 0);
	CHECK_STR(b.p, "{}");
	buf_reset(&b);
	t.user = "a\"b";
	t.host = "PC\n1";
	CHECK_INT(terminal_write_json(&t, &b), 0);
	CHECK_STR(b.p, "{\"host\": \"PC\\n1\", \"user\": \"a\\\"b\"}");
	buf_release(&b);
	buf_init(&b, 10); /* the buffer's maximum */
	t.sentence = "a sentence longer than ten bytes";
	CHECK(terminal_write_json(&t, &b) < 0);
	buf_release(&b);
}

int main(void)
{
	T_RUN(test_panos_nat);
	T_RUN(test_isolation);
	T_RUN(test_a10_cgn);
	T_RUN(test_proxies);
	T_RUN(test_errors);
	T_RUN(test_assets);
	T_RUN(test_json);
	return t_done();
}
