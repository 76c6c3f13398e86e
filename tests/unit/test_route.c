/*
 * Unit tests of tenant attribution: matching, precedence, limits, and routing from
 * threads while the table is reloaded.
 *
 * The router is tested against the real metadata store, with small test doubles of the
 * fair queue, zones, syslog host peeking and config limits defined below, so that this
 * test depends on no other module's implementation. They replace every symbol route.c
 * takes from those modules, so the linker never pulls the real ones in.
 */
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/ipaddr.h"
#include "core/mem.h"
#include "core/tz.h"
#include "enrich/route.h"
#include "parse/decoder.h"
#include "parse/syslog.h"
#include "store/meta.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- test doubles ---- */

#define MAX_SLOTS 64

enum { D_FREE, D_LIVE, D_RETIRED };

static char slot_names[MAX_SLOTS][64];
static unsigned n_slots;
static uint32_t slot_eps[MAX_SLOTS];
static bool slots_full;
static int slot_state[MAX_SLOTS];
static unsigned slot_gen[MAX_SLOTS];
static struct tenant_stats slot_stats[MAX_SLOTS];

int fairq_slot(struct fairq *q, const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < n_slots; i++)
		if (slot_state[i] != D_FREE && strlen(slot_names[i]) == len &&
		    !memcmp(slot_names[i], name, len)) {
			slot_state[i] = D_LIVE;
			return (int)i;
		}
	for (i = 0; i < n_slots && slot_state[i] != D_FREE; i++)
		;
	if (slots_full || i == MAX_SLOTS || len >= sizeof(slot_names[0]))
		return -ENOSPC;
	memcpy(slot_names[i], name, len);
	slot_names[i][len] = '\0';
	slot_eps[i] = UINT32_MAX; /* "never set" */
	slot_state[i] = D_LIVE;
	slot_gen[i]++;
	memset(&slot_stats[i], 0, sizeof(slot_stats[i]));
	if (i == n_slots)
		n_slots++;
	return (int)i;
}

/* Frees every retired slot at once: these tests queue no messages. */
unsigned fairq_reclaim(struct fairq *q)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_slots; i++)
		if (slot_state[i] == D_RETIRED) {
			slot_state[i] = D_FREE;
			n++;
		}
	return n;
}

void fairq_slot_retire(struct fairq *q, unsigned slot)
{
	if (slot_state[slot] == D_LIVE)
		slot_state[slot] = D_RETIRED;
}

int fairq_slot_in_use(const struct fairq *q, unsigned slot)
{
	return slot < n_slots && slot_state[slot] == D_LIVE;
}

unsigned fairq_slot_count(const struct fairq *q)
{
	return n_slots;
}

unsigned fairq_slot_gen(const struct fairq *q, unsigned slot)
{
	return slot_gen[slot];
}

const char *fairq_slot_name(const struct fairq *q, unsigned slot)
{
	return slot < n_slots ? slot_names[slot] : NULL;
}

struct tenant_stats *fairq_stats(struct fairq *q, unsigned slot)
{
	return &slot_stats[slot];
}

void fairq_set_eps(struct fairq *q, unsigned slot, uint32_t eps)
{
	slot_eps[slot] = eps;
}

struct tz {
	const char *name;
};

static const struct tz zones[] = { { "Asia/Tokyo" }, { "UTC" }, { "Europe/Paris" } };

const struct tz *tz_get(const char *name, size_t len, struct err *e)
{
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (strlen(zones[i].name) == len && !memcmp(zones[i].name, name, len))
			return &zones[i];
	err_set(e, -ENOENT, "unknown time zone '%.*s'", (int)len, name);
	return NULL;
}

/* stands in for the decoder registry: ids as in this list */
int decoder_find(const char *name, size_t len)
{
	static const char *const names[] = { "auto", "rfc3164", "rfc5424" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && !memcmp(names[i], name, len))
			return (int)i;
	return -EINVAL;
}

int decoder_check(const char *name, struct err *e)
{
	int id = decoder_find(name, strlen(name));

	return id < 0 ? err_set(e, id, "format '%s': expected auto, rfc3164 or rfc5424", name) : id;
}

static atomic_long peeks;

/* Naive: "<PRI>1 TIMESTAMP HOST ..." or "<PRI>Mmm dd hh:mm:ss HOST ...". */
int syslog_peek_host(const char *msg, size_t len, const char **host, size_t *hlen)
{
	const char *p = memchr(msg, '>', len), *end = msg + len, *sp;

	atomic_fetch_add(&peeks, 1);
	if (!p)
		return 0;
	p++;
	if (end - p > 2 && p[0] == '1' && p[1] == ' ') {
		p += 2;
		if (!(sp = memchr(p, ' ', (size_t)(end - p))))
			return 0;
		p = sp + 1;
	} else if (end - p > 16) {
		p += 16;
	} else {
		return 0;
	}
	sp = memchr(p, ' ', (size_t)(end - p));
	*host = p;
	*hlen = (size_t)((sp ? sp : end) - p);
	return *hlen > 0;
}

uint32_t config_tenant_eps(const struct config *c, const char *tenant)
{
	for (size_t i = 0; i < c->n_limits; i++)
		if (!strcmp(c->limits[i].tenant, tenant))
			return c->limits[i].eps;
	return c->default_eps;
}

/* ---- fixtures ---- */

static struct config_tenant_limit limits[] = { { (char *)"city-a", 500, 0 } };

static void test_config(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->timezone = (char *)"Asia/Tokyo";
	c->listeners[0].name = (char *)"udp";
	c->listeners[1].name = (char *)"tcp";
	c->listeners[2].name = (char *)"tls";
	c->n_listeners = 3;
	c->default_eps = 1000;
	c->limits = limits;
	c->n_limits = 1;
}

static void reset_slots(void)
{
	n_slots = 0;
	slots_full = false;
	memset(slot_state, 0, sizeof(slot_state));
}

static struct meta *open_fresh(void)
{
	char dir[256];
	struct meta *m = NULL;
	struct err e = ERR_INIT;

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), t_name());
	if (meta_open(&m, dir, &e) < 0)
		t_check(0, __FILE__, __LINE__, "meta_open: %s", e.msg);
	return m;
}

static void add_tenant(struct meta *m, const char *name)
{
	struct err e = ERR_INIT;

	if (meta_tenant_add(m, name, &e) < 0)
		t_check(0, __FILE__, __LINE__, "tenant %s: %s", name, e.msg);
}

static void add_source(struct meta *m, const struct meta_source *s)
{
	struct err e = ERR_INIT;

	if (meta_source_add(m, s, &e) < 0)
		t_check(0, __FILE__, __LINE__, "source %s: %s", s->name, e.msg);
}

static int slot_of(const char *name)
{
	for (unsigned i = 0; i < n_slots; i++)
		if (!strcmp(slot_names[i], name))
			return (int)i;
	return -1;
}

/* Name of the tenant a message from addr on listener is routed to. */
static const char *route_to(struct router *r, unsigned listener, const char *addr,
			    const char *msg, struct route *out)
{
	struct ipaddr ip;
	struct route tmp;

	if (!out)
		out = &tmp;
	if (ipaddr_parse(&ip, addr, strlen(addr)) < 0)
		return "(bad address)";
	router_route(r, listener, &ip, msg, strlen(msg), out);
	return out->tenant < n_slots ? slot_names[out->tenant] : "(bad slot)";
}

static struct router *new_router(void)
{
	struct router *r = NULL;
	struct err e = ERR_INIT;

	reset_slots();
	if (router_new(&r, (struct fairq *)&e, &e) < 0)
		t_check(0, __FILE__, __LINE__, "router_new: %s", e.msg);
	return r;
}

static int reload(struct router *r, struct meta *m, const struct config *c)
{
	struct err e = ERR_INIT;
	int rc = router_reload(r, m, c, &e);

	if (rc < 0 && !mem_failed_count())
		t_check(0, __FILE__, __LINE__, "router_reload: %s", e.msg);
	return rc;
}

#define MSG3164 "<13>Nov 25 12:00:00 %s sshd[1]: hello"

static const char *host_msg(const char *host)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), MSG3164, host);
	return buf;
}

/* ---- tests ---- */

static void test_before_reload_everything_is_unassigned(void)
{
	struct router *r = new_router();
	struct route out;

	CHECK_STR(route_to(r, 0, "10.0.0.1", "x", &out), "_unassigned");
	CHECK(out.tz == NULL);
	CHECK_INT(out.format, SYSLOG_AUTO);
	router_route(r, 99, NULL, "", 0, &out);
	CHECK_INT(out.tenant, slot_of("_unassigned"));
	router_free(r);
}

static void test_match_by_each_criterion(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;
	struct route out;

	test_config(&c);
	add_tenant(m, "city-a");
	add_tenant(m, "city-b");
	add_tenant(m, "lab");
	add_source(m, &(struct meta_source){ .name = "a-net", .tenant = "city-a",
					      .cidr = "10.1.0.0/16", .format = "rfc3164",
					      .tz = "Europe/Paris" });
	add_source(m, &(struct meta_source){ .name = "b-v6", .tenant = "city-b",
					      .cidr = "2001:db8:b::/48" });
	add_source(m, &(struct meta_source){ .name = "b-fw", .tenant = "city-b",
					      .host = "FW-B.example" });
	add_source(m, &(struct meta_source){ .name = "lab-tls", .tenant = "lab",
					      .listener = "tls", .format = "rfc5424" });
	CHECK_INT(reload(r, m, &c), 0);

	CHECK_STR(route_to(r, 0, "10.1.2.3", "x", &out), "city-a");
	CHECK_INT(out.format, SYSLOG_RFC3164);
	CHECK_STR(((const struct tz *)out.tz)->name, "Europe/Paris");
	CHECK_STR(route_to(r, 0, "10.2.0.1", "x", &out), "_unassigned");
	CHECK_STR(((const struct tz *)out.tz)->name, "Asia/Tokyo");
	CHECK_STR(route_to(r, 1, "2001:db8:b::7", "x", &out), "city-b");
	CHECK_STR(route_to(r, 1, "2001:db8:c::7", "x", &out), "_unassigned");
	/* Host names compare case-insensitively, RFC 3164 and RFC 5424 alike. */
	CHECK_STR(route_to(r, 0, "192.0.2.1", host_msg("fw-b.EXAMPLE"), &out), "city-b");
	CHECK_STR(route_to(r, 0, "192.0.2.1", "<13>1 2026-11-25T12:00:00Z fw-b.example a - - -",
			   &out), "city-b");
	CHECK_STR(route_to(r, 0, "192.0.2.1", host_msg("fw-b.example.org"), &out), "_unassigned");
	CHECK_STR(route_to(r, 0, "192.0.2.1", host_msg("fw-b"), &out), "_unassigned");
	CHECK_STR(route_to(r, 0, "192.0.2.1", "garbage", &out), "_unassigned");
	CHECK_STR(route_to(r, 2, "192.0.2.1", "x", &out), "lab");
	CHECK_INT(out.format, SYSLOG_RFC5424);
	CHECK_STR(route_to(r, 1, "192.0.2.1", "x", &out), "_unassigned");
	/* A listener index the config does not know only sees listener-less sources. */
	CHECK_STR(route_to(r, 77, "10.1.0.9", "x", &out), "city-a");
	CHECK_STR(route_to(r, 77, "192.0.2.1", "x", &out), "_unassigned");
	/* Without a peer address, CIDR sources cannot match. */
	router_route(r, 0, NULL, "x", 1, &out);
	CHECK_INT(out.tenant, slot_of("_unassigned"));
	router_free(r);
	meta_close(m);
}

static void test_precedence(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;

	test_config(&c);
	add_tenant(m, "wide");
	add_tenant(m, "narrow");
	add_tenant(m, "both");
	add_tenant(m, "first");
	add_tenant(m, "second");
	add_tenant(m, "hosted");
	add_source(m, &(struct meta_source){ .name = "w", .tenant = "wide", .cidr = "10.0.0.0/8" });
	add_source(m, &(struct meta_source){ .name = "n", .tenant = "narrow",
					      .cidr = "10.9.0.0/16" });
	/* Two criteria beat one, however long the other's prefix. */
	add_source(m, &(struct meta_source){ .name = "b", .tenant = "both", .cidr = "10.0.0.0/8",
					      .listener = "tcp" });
	/* Same criteria and prefix: the older (lower id) source wins. */
	add_source(m, &(struct meta_source){ .name = "s1", .tenant = "first",
					      .cidr = "172.16.0.0/12" });
	add_source(m, &(struct meta_source){ .name = "s2", .tenant = "second",
					      .cidr = "172.16.0.0/12" });
	/* Same number of criteria: a CIDR beats no CIDR. */
	add_source(m, &(struct meta_source){ .name = "h", .tenant = "hosted", .host = "edge" });
	CHECK_INT(reload(r, m, &c), 0);

	CHECK_STR(route_to(r, 0, "10.1.1.1", "x", NULL), "wide");
	CHECK_STR(route_to(r, 0, "10.9.1.1", "x", NULL), "narrow");
	CHECK_STR(route_to(r, 1, "10.9.1.1", "x", NULL), "both");
	CHECK_STR(route_to(r, 1, "11.0.0.1", "x", NULL), "_unassigned");
	CHECK_STR(route_to(r, 0, "172.20.0.1", "x", NULL), "first");
	CHECK_STR(route_to(r, 0, "10.1.1.1", host_msg("edge"), NULL), "wide");
	CHECK_STR(route_to(r, 0, "192.0.2.1", host_msg("edge"), NULL), "hosted");

	/* Removing the older source hands its messages to the other one after a reload. */
	CHECK_INT(meta_source_remove(m, "first", "s1", &(struct err)ERR_INIT), 0);
	CHECK_STR(route_to(r, 0, "172.20.0.1", "x", NULL), "first");
	CHECK_INT(reload(r, m, &c), 0);
	CHECK_STR(route_to(r, 0, "172.20.0.1", "x", NULL), "second");
	router_free(r);
	meta_close(m);
}

static void test_all_three_criteria(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;

	test_config(&c);
	add_tenant(m, "t3");
	add_tenant(m, "t1");
	add_source(m, &(struct meta_source){ .name = "all", .tenant = "t3", .cidr = "10.0.0.0/8",
					      .host = "core1", .listener = "udp" });
	add_source(m, &(struct meta_source){ .name = "any", .tenant = "t1", .cidr = "10.0.0.5" });
	CHECK_INT(reload(r, m, &c), 0);
	CHECK_STR(route_to(r, 0, "10.0.0.5", host_msg("core1"), NULL), "t3");
	CHECK_STR(route_to(r, 0, "10.0.0.5", host_msg("core2"), NULL), "t1");
	CHECK_STR(route_to(r, 1, "10.0.0.5", host_msg("core1"), NULL), "t1");
	CHECK_STR(route_to(r, 0, "10.0.0.6", host_msg("core1"), NULL), "t3");
	CHECK_STR(route_to(r, 0, "11.0.0.6", host_msg("core1"), NULL), "_unassigned");
	router_free(r);
	meta_close(m);
}

static void test_host_peeked_only_when_needed(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;

	test_config(&c);
	add_tenant(m, "a");
	add_source(m, &(struct meta_source){ .name = "net", .tenant = "a", .cidr = "10.0.0.0/8" });
	add_source(m, &(struct meta_source){ .name = "h", .tenant = "a", .host = "x1",
					      .listener = "tcp" });
	CHECK_INT(reload(r, m, &c), 0);
	atomic_store(&peeks, 0);
	CHECK_STR(route_to(r, 0, "10.0.0.1", host_msg("zz"), NULL), "a");
	CHECK_STR(route_to(r, 0, "11.0.0.1", host_msg("zz"), NULL), "_unassigned");
	CHECK_INT(atomic_load(&peeks), 0);
	/* On tcp a host source exists: peeked once per message, not once per source. */
	CHECK_STR(route_to(r, 1, "11.0.0.1", host_msg("x1"), NULL), "a");
	CHECK_STR(route_to(r, 1, "11.0.0.1", host_msg("zz"), NULL), "_unassigned");
	CHECK_INT(atomic_load(&peeks), 2);
	router_free(r);
	meta_close(m);
}

static void test_unknown_listener_and_zone(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;
	struct route out;

	test_config(&c);
	add_tenant(m, "a");
	add_source(m, &(struct meta_source){ .name = "gone", .tenant = "a", .listener = "old-udp",
					      .cidr = "10.0.0.0/8" });
	add_source(m, &(struct meta_source){ .name = "odd-tz", .tenant = "a",
					      .cidr = "192.0.2.0/24", .tz = "Mars/Olympus" });
	CHECK_INT(reload(r, m, &c), 0);
	for (unsigned l = 0; l < 4; l++)
		CHECK_STR(route_to(r, l, "10.0.0.1", "x", &out), "_unassigned");
	CHECK_STR(route_to(r, 0, "192.0.2.7", "x", &out), "a");
	CHECK_STR(((const struct tz *)out.tz)->name, "Asia/Tokyo");
	router_free(r);
	meta_close(m);
}

static void test_eps_limits_for_every_tenant(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;

	test_config(&c);
	add_tenant(m, "city-a");
	add_tenant(m, "city-b");
	CHECK_INT(reload(r, m, &c), 0);
	CHECK_INT(slot_eps[slot_of("city-a")], 500);
	CHECK_INT(slot_eps[slot_of("city-b")], 1000);
	CHECK_INT(slot_eps[slot_of("_unassigned")], 1000);
	limits[0].eps = 0;
	c.default_eps = 7;
	CHECK_INT(reload(r, m, &c), 0);
	CHECK_INT(slot_eps[slot_of("city-a")], 0);
	CHECK_INT(slot_eps[slot_of("_unassigned")], 7);
	limits[0].eps = 500;
	router_free(r);
	meta_close(m);
}

/* A failed reload (memory, full slots) leaves the old table routing. */
static void test_failed_reload_keeps_old_table(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct config c;
	struct err e = ERR_INIT;
	int failures = 0;

	test_config(&c);
	add_tenant(m, "a");
	add_source(m, &(struct meta_source){ .name = "a1", .tenant = "a", .cidr = "10.0.0.0/8",
					      .host = "h" });
	CHECK_INT(reload(r, m, &c), 0);
	add_tenant(m, "b");
	add_source(m, &(struct meta_source){ .name = "b1", .tenant = "b", .cidr = "11.0.0.0/8" });
	for (long n = 0; n < 20; n++) {
		int rc;

		mem_fail_after(n);
		rc = reload(r, m, &c);
		mem_fail_after(-1);
		if (rc == 0)
			break;
		failures++;
		CHECK_INT(rc, -ENOMEM);
		CHECK_STR(route_to(r, 0, "11.0.0.1", "x", NULL), "_unassigned");
		CHECK_STR(route_to(r, 0, "10.0.0.1", host_msg("h"), NULL), "a");
	}
	CHECK(failures > 0);
	CHECK_STR(route_to(r, 0, "11.0.0.1", "x", NULL), "b");

	add_tenant(m, "c");
	add_source(m, &(struct meta_source){ .name = "c1", .tenant = "c", .cidr = "12.0.0.0/8" });
	slots_full = true;
	CHECK_INT(router_reload(r, m, &c, &e), -ENOSPC);
	CHECK(strstr(e.msg, "tenant 'c': no fair-queue slot left") != NULL);
	CHECK_STR(route_to(r, 0, "11.0.0.1", "x", NULL), "b");
	CHECK_STR(route_to(r, 0, "12.0.0.1", "x", NULL), "_unassigned");
	router_free(r);
	meta_close(m);
}

static void test_router_new_failures(void)
{
	struct router *r = NULL;
	struct err e = ERR_INIT;

	reset_slots();
	slots_full = true;
	CHECK_INT(router_new(&r, NULL, &e), -ENOSPC);
	CHECK(r == NULL);
	reset_slots();
	for (long n = 0; n < 2; n++) {
		mem_fail_after(n);
		CHECK_INT(router_new(&r, NULL, &e), -ENOMEM);
		mem_fail_after(-1);
		CHECK(r == NULL);
	}
}

/* ---- concurrency: listener threads route while the main thread reloads ---- */

struct routing_thread {
	pthread_t tid;
	struct router *r;
	atomic_bool *stop;
	long routed, wrong;
	int slot_a, slot_b, slot_none;
};

static void *route_loop(void *arg)
{
	struct routing_thread *th = arg;
	struct ipaddr a, b;
	struct route out;
	char msg[64];

	ipaddr_parse(&a, "10.0.0.1", 8);
	ipaddr_parse(&b, "2001:db8::1", 11);
	snprintf(msg, sizeof(msg), MSG3164, "hb");
	while (!atomic_load(th->stop)) {
		/* a is always routed to tenant a; b's source comes and goes. */
		router_route(th->r, 0, &a, msg, strlen(msg), &out);
		th->wrong += out.tenant != th->slot_a;
		router_route(th->r, 1, &b, msg, strlen(msg), &out);
		th->wrong += out.tenant != th->slot_b && out.tenant != th->slot_none;
		th->routed += 2;
	}
	return NULL;
}

static void test_route_while_reloading(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct routing_thread th[4];
	atomic_bool stop = false;
	struct config c;
	struct err e = ERR_INIT;
	long routed = 0, wrong = 0;

	test_config(&c);
	add_tenant(m, "a");
	add_tenant(m, "b");
	add_source(m, &(struct meta_source){ .name = "a1", .tenant = "a", .cidr = "10.0.0.0/8" });
	CHECK_INT(reload(r, m, &c), 0);
	for (size_t i = 0; i < 4; i++) {
		th[i] = (struct routing_thread){ .r = r, .stop = &stop, .slot_a = slot_of("a"),
						 .slot_b = slot_of("b"),
						 .slot_none = slot_of("_unassigned") };
		pthread_create(&th[i].tid, NULL, route_loop, &th[i]);
	}
	for (int i = 0; i < 200; i++) {
		if (i % 2 == 0)
			add_source(m, &(struct meta_source){ .name = "b1", .tenant = "b",
							      .cidr = "2001:db8::/32",
							      .host = "hb" });
		else
			CHECK_INT(meta_source_remove(m, "b", "b1", &e), 0);
		CHECK_INT(reload(r, m, &c), 0);
	}
	atomic_store(&stop, true);
	for (size_t i = 0; i < 4; i++) {
		pthread_join(th[i].tid, NULL);
		routed += th[i].routed;
		wrong += th[i].wrong;
	}
	CHECK(routed > 0);
	CHECK_INT(wrong, 0);
	router_free(r);
	meta_close(m);
}

/* A tenant's dedicated listener beats another tenant's CIDR (docs/tenants.md). */
static void test_listener_beats_other_tenants_cidr(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct route_explain x;
	struct ipaddr ip;
	struct config c;

	test_config(&c);
	add_tenant(m, "city-a");
	add_tenant(m, "city-b");
	add_source(m, &(struct meta_source){ .name = "a-net", .tenant = "city-a",
					      .cidr = "10.1.0.0/16" });
	add_source(m, &(struct meta_source){ .name = "b-port", .tenant = "city-b",
					      .listener = "tls" });
	add_source(m, &(struct meta_source){ .name = "b-fw", .tenant = "city-b",
					      .host = "fw" });
	CHECK_INT(reload(r, m, &c), 0);
	CHECK_STR(route_to(r, 2, "10.1.2.3", "x", NULL), "city-b");
	CHECK_STR(route_to(r, 0, "10.1.2.3", "x", NULL), "city-a");
	/* A CIDR beats a host name alone. */
	CHECK_STR(route_to(r, 0, "10.1.2.3", host_msg("fw"), NULL), "city-a");

	ipaddr_parse(&ip, "10.1.2.3", 8);
	router_explain(r, 2, &ip, host_msg("fw"), strlen(host_msg("fw")), &x);
	CHECK_STR(x.tenant, "city-b");
	CHECK_STR(x.source, "b-port");
	CHECK_STR(x.criteria, "listener 'tls'");
	CHECK_INT(x.n_losers, 2);
	CHECK(strstr(x.losers[0], "a-net (tenant city-a: cidr 10.1.0.0/16)"));
	CHECK(strstr(x.losers[1], "b-fw (tenant city-b: host 'fw')"));
	router_explain(r, 0, &ip, "x", 1, &x);
	CHECK_STR(x.source, "a-net");
	CHECK_INT(x.n_losers, 0);
	ipaddr_parse(&ip, "192.0.2.1", 9);
	router_explain(r, 0, &ip, "x", 1, &x);
	CHECK_STR(x.tenant, "_unassigned");
	CHECK_STR(x.source, "");
	CHECK_INT(x.candidates, 2);
	router_free(r);
	meta_close(m);
}

static void sender_row(void *ctx, const struct meta_sender *s)
{
	char *out = ctx;
	size_t len = strlen(out);

	snprintf(out + len, 256 - len, "%s%s=%lld", len ? " " : "", s->address,
		 (long long)s->count);
}

static void activity_row(void *ctx, const struct meta_tenant *t)
{
	char *out = ctx;
	size_t len = strlen(out);

	snprintf(out + len, 256 - len, "%s%s=%lld%s", len ? " " : "", t->name,
		 (long long)t->received, t->last_event_ns ? "+" : "");
}

static void test_flush_activity_and_senders(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct err e = ERR_INIT;
	struct config c;
	char text[256] = "";

	test_config(&c);
	add_tenant(m, "city-a");
	add_tenant(m, "idle");
	add_source(m, &(struct meta_source){ .name = "a-net", .tenant = "city-a",
					      .cidr = "10.1.0.0/16" });
	CHECK_INT(reload(r, m, &c), 0);
	for (int i = 0; i < 3; i++)
		route_to(r, 0, "10.1.0.1", "x", NULL);
	for (int i = 0; i < 5; i++)
		route_to(r, 0, "192.0.2.7", "x", NULL);
	route_to(r, 0, "2001:db8::9", "x", NULL);
	CHECK_INT(router_flush(r, m, &e), 0);
	CHECK_INT(router_flush(r, m, &e), 0); /* nothing new: nothing added */
	route_to(r, 0, "192.0.2.7", "x", NULL);
	CHECK_INT(router_flush(r, m, &e), 0);
	CHECK_INT(meta_tenant_list(m, activity_row, text, &e), 0);
	CHECK_STR(text, "_unassigned=7+ city-a=3+ idle=0");
	text[0] = '\0';
	CHECK_INT(meta_sender_list(m, 10, sender_row, text, &e), 0);
	CHECK_STR(text, "192.0.2.7=6 2001:db8::9=1");
	/* A flood of one-off addresses does not push the steady sender out. */
	for (int i = 0; i < 3000; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.51.%d.%d", i / 250, i % 250);
		route_to(r, 0, addr, "x", NULL);
	}
	route_to(r, 0, "192.0.2.7", "x", NULL);
	CHECK_INT(router_flush(r, m, &e), 0);
	text[0] = '\0';
	CHECK_INT(meta_sender_list(m, 1, sender_row, text, &e), 0);
	CHECK_STR(text, "192.0.2.7=7");
	router_free(r);
	meta_close(m);
}

/* 5,000 tenants added and removed through reloads never run out of the 64 test slots. */
static void test_tenant_churn_reuses_slots(void)
{
	struct meta *m = open_fresh();
	struct router *r = new_router();
	struct err e = ERR_INIT;
	struct config c;
	char name[32], cidr[32];

	test_config(&c);
	for (int t = 0; t < 5000; t++) {
		snprintf(name, sizeof(name), "t%d", t);
		snprintf(cidr, sizeof(cidr), "10.%d.%d.0/24", t / 256 % 256, t % 256);
		add_tenant(m, name);
		add_source(m, &(struct meta_source){ .name = name, .tenant = name, .cidr = cidr });
		if (t >= 3) {
			snprintf(name, sizeof(name), "t%d", t - 3);
			if (meta_tenant_remove(m, name, &e) < 0)
				CHECK_INT(e.code, 0);
		}
		if (reload(r, m, &c) < 0)
			break;
		snprintf(cidr, sizeof(cidr), "10.%d.%d.1", t / 256 % 256, t % 256);
		snprintf(name, sizeof(name), "t%d", t);
		if (strcmp(route_to(r, 0, cidr, "x", NULL), name)) {
			CHECK_STR(route_to(r, 0, cidr, "x", NULL), name);
			break;
		}
	}
	CHECK(n_slots <= 8);
	CHECK_INT(slot_state[slot_of("t4999")], D_LIVE);
	router_free(r);
	meta_close(m);
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	log_set_level(LOG_LEVEL_ERROR); /* the reload warnings are expected here */
	T_RUN(test_before_reload_everything_is_unassigned);
	T_RUN(test_match_by_each_criterion);
	T_RUN(test_precedence);
	T_RUN(test_all_three_criteria);
	T_RUN(test_host_peeked_only_when_needed);
	T_RUN(test_unknown_listener_and_zone);
	T_RUN(test_eps_limits_for_every_tenant);
	T_RUN(test_failed_reload_keeps_old_table);
	T_RUN(test_router_new_failures);
	T_RUN(test_route_while_reloading);
	T_RUN(test_listener_beats_other_tenants_cidr);
	T_RUN(test_flush_activity_and_senders);
	T_RUN(test_tenant_churn_reuses_slots);
	return t_done();
}
