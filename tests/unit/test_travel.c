/*
 * Unit tests of the impossible-travel detector: distances, hits and non-hits (speed,
 * minimum distance, same instant), out-of-order sign-ins, tenants kept apart, the bounded
 * state (LRU eviction, tenant limit), reading sign-ins from events, the hit's JSON, the
 * metrics and allocation failures.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "detect/travel.h"
#include "t.h"
#include "t_event.h"
#include "t_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define HOUR INT64_C(3600000000000)
#define T0 INT64_C(1780000000000000000)

struct city {
	const char *name, *country;
	double lat, lon;
};

static const struct city paris = { "Paris", "FR", 48.8566, 2.3522 };
static const struct city lyon = { "Lyon", "FR", 45.7640, 4.8357 };
static const struct city tokyo = { "Tokyo", "JP", 35.6762, 139.6503 };
static const struct city sydney = { "Sydney", "AU", -33.8688, 151.2093 };

static struct travel_signin at(const char *user, const struct city *c, int64_t t, uint64_t ref)
{
	struct travel_signin s = {
		.user = user, .user_len = strlen(user), .time_ns = t, .lat = c->lat, .lon = c->lon,
		.country = c->country, .country_len = strlen(c->country), .city = c->name,
		.city_len = strlen(c->name), .ref = ref,
	};

	return s;
}

static struct travel *new_travel(uint32_t max_users, uint32_t max_tenants)
{
	struct travel_config c;
	struct travel *t = NULL;
	struct err e = ERR_INIT;

	travel_config_default(&c);
	if (max_users)
		c.max_users = max_users;
	if (max_tenants)
		c.max_tenants = max_tenants;
	CHECK_INT(travel_new(&t, &c, &e), 0);
	return t;
}

static int feed(struct travel *t, const char *tenant, const char *user, const struct city *c,
		int64_t when, uint64_t ref, struct travel_hit *hit)
{
	struct travel_signin s = at(user, c, when, ref);

	return travel_feed(t, tenant, &s, hit);
}

static void test_distance(void)
{
	CHECK(fabs(travel_distance_km(paris.lat, paris.lon, tokyo.lat, tokyo.lon) - 9712) < 15);
	CHECK(fabs(travel_distance_km(paris.lat, paris.lon, lyon.lat, lyon.lon) - 392) < 5);
	CHECK(travel_distance_km(10, 20, 10, 20) == 0);
	CHECK(fabs(travel_distance_km(0, 0, 0, 180) - M_PI * 6371.0088) < 0.01);
	/* across the date line: the short way */
	CHECK(fabs(travel_distance_km(0, 179.5, 0, -179.5) - 111.2) < 0.5);
}

static void test_hits(void)
{
	struct travel *t = new_travel(0, 0);
	struct travel_hit hit;

	CHECK_INT(feed(t, "city-a", "alice@example.com", &paris, T0, 1, &hit), 0);
	/* Paris to Tokyo in one hour */
	CHECK_INT(feed(t, "city-a", "alice@example.com", &tokyo, T0 + HOUR, 2, &hit), 1);
	CHECK(fabs(hit.distance_km - 9712) < 15);
	CHECK(fabs(hit.speed_kmh - 9712) < 15);
	CHECK_STR(hit.from.city, "Paris");
	CHECK_STR(hit.to.city, "Tokyo");
	CHECK_INT(hit.from.ref, 1);
	CHECK_INT(hit.to.ref, 2);
	CHECK_INT(hit.to.time_ns, T0 + HOUR);
	/* Tokyo to Sydney (7,800 km) in ten hours: 780 km/h, possible */
	CHECK_INT(feed(t, "city-a", "alice@example.com", &sydney, T0 + 11 * HOUR, 3, &hit), 0);
	/* Paris to Lyon (392 km) in a minute: under the minimum distance */
	CHECK_INT(feed(t, "city-a", "bob", &paris, T0, 4, &hit), 0);
	CHECK_INT(feed(t, "city-a", "bob", &lyon, T0 + HOUR / 60, 5, &hit), 0);
	/* the same instant, far apart: infinitely fast */
	CHECK_INT(feed(t, "city-a", "carol", &paris, T0, 6, &hit), 0);
	CHECK_INT(feed(t, "city-a", "carol", &tokyo, T0, 7, &hit), 1);
	CHECK(isinf(hit.speed_kmh));
	/* user names compare without case */
	CHECK_INT(feed(t, "city-a", "ALICE@Example.com", &paris, T0 + 12 * HOUR, 8, &hit), 1);
	CHECK_STR(hit.from.city, "Sydney");
	travel_free(t);
}

static void test_out_of_order(void)
{
	struct travel *t = new_travel(0, 0);
	struct travel_hit hit;

	CHECK_INT(feed(t, "city-a", "alice", &tokyo, T0 + 2 * HOUR, 1, &hit), 0);
	/* an older sign-in arrives late: compared, reported in time order, not kept */
	CHECK_INT(feed(t, "city-a", "alice", &paris, T0 + HOUR, 2, &hit), 1);
	CHECK_STR(hit.from.city, "Paris");
	CHECK_STR(hit.to.city, "Tokyo");
	/* Tokyo is still the last one: Tokyo an hour later is no travel at all */
	CHECK_INT(feed(t, "city-a", "alice", &tokyo, T0 + 3 * HOUR, 3, &hit), 0);
	travel_free(t);
}

static void test_tenants_apart(void)
{
	struct travel *t = new_travel(0, 2);
	struct travel_hit hit;
	struct buf out = BUF_INIT(1 << 16);

	CHECK_INT(feed(t, "city-a", "alice", &paris, T0, 1, &hit), 0);
	CHECK_INT(feed(t, "city-b", "alice", &tokyo, T0 + 60, 2, &hit), 0);
	/* a third tenant is past max_tenants: not evaluated, counted */
	CHECK_INT(feed(t, "city-c", "alice", &paris, T0, 3, &hit), 0);
	CHECK_INT(feed(t, "city-c", "alice", &tokyo, T0 + 60, 4, &hit), 0);
	CHECK_INT(travel_metrics_register(t), 0);
	CHECK_INT(t_metric("koban_travel_skipped_total{reason=\"tenant_limit\"}", -1), 2);
	CHECK_INT(t_metric("koban_travel_signins_total", -1), 2);
	CHECK_INT(t_metric("koban_travel_users", -1), 2);
	travel_free(t); /* unregisters */
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "koban_travel") == NULL);
	buf_release(&out);
}

static void test_lru(void)
{
	struct travel *t = new_travel(2, 0);
	struct travel_hit hit;

	CHECK_INT(feed(t, "city-a", "a", &paris, T0, 1, &hit), 0);
	CHECK_INT(feed(t, "city-a", "b", &paris, T0, 2, &hit), 0);
	CHECK_INT(feed(t, "city-a", "a", &paris, T0 + 1, 3, &hit), 0); /* a is the newer now */
	CHECK_INT(feed(t, "city-a", "c", &paris, T0, 4, &hit), 0);     /* b goes */
	CHECK_INT(feed(t, "city-a", "b", &tokyo, T0 + 2, 5, &hit), 0); /* forgotten: no hit */
	CHECK_INT(feed(t, "city-a", "c", &tokyo, T0 + 2, 6, &hit), 1); /* c was kept (a went) */
	CHECK_INT(travel_metrics_register(t), 0);
	CHECK_INT(t_metric("koban_travel_evicted_total", -1), 2);
	CHECK_INT(t_metric("koban_travel_users", -1), 2);
	CHECK_INT(t_metric("koban_travel_hits_total", -1), 1);
	travel_free(t);
}

/* Many users: the table grows and every user is still found. */
static void test_many_users(void)
{
	struct travel *t = new_travel(0, 0);
	struct travel_hit hit;
	char name[32];
	int hits = 0;

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		CHECK_INT(feed(t, "city-a", name, &paris, T0, (uint64_t)i, &hit), 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "USER%d", i);
		hits += feed(t, "city-a", name, &tokyo, T0 + HOUR, (uint64_t)i, &hit) == 1;
	}
	CHECK_INT(hits, 5000);
	travel_free(t);
}

static void test_skipped(void)
{
	struct travel *t = new_travel(0, 0);
	struct travel_hit hit;
	struct travel_signin s = at("alice", &paris, T0, 1);
	char long_name[TRAVEL_USER_MAX + 2];

	s.lat = 91;
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 0);
	s.lat = NAN;
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 0);
	s = at("", &paris, T0, 1);
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 0);
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	s = at(long_name, &paris, T0, 1);
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 0);
	travel_count_unusable(t, TRAVEL_NO_TIME);
	travel_count_unusable(t, TRAVEL_NOT_SIGNIN); /* not a sign-in: not counted */
	CHECK_INT(travel_metrics_register(t), 0);
	CHECK_INT(travel_metrics_register(t), -EEXIST);
	CHECK_INT(t_metric("koban_travel_skipped_total{reason=\"no_location\"}", -1), 2);
	CHECK_INT(t_metric("koban_travel_skipped_total{reason=\"no_user\"}", -1), 1);
	CHECK_INT(t_metric("koban_travel_skipped_total{reason=\"no_time\"}", -1), 1);
	CHECK_INT(t_metric("koban_travel_skipped_total{reason=\"user_too_long\"}", -1), 1);
	CHECK_INT(t_metric("koban_travel_signins_total", -1), 0);
	travel_free(t);
}

static void test_config(void)
{
	struct travel_config c;
	struct travel *t = NULL;
	struct err e = ERR_INIT;

	travel_config_default(&c);
	CHECK(c.max_speed_kmh == 900 && c.min_distance_km == 500);
	c.max_speed_kmh = 0;
	CHECK_INT(travel_new(&t, &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "max_speed_kmh") != NULL);
	travel_config_default(&c);
	c.min_distance_km = NAN;
	CHECK_INT(travel_new(&t, &c, &e), -EINVAL);
	travel_config_default(&c);
	c.max_users = 0;
	CHECK_INT(travel_new(&t, &c, &e), -EINVAL);
	CHECK(t == NULL);
}

/* Sets a string field from a literal. */
static void set(struct event *ev, unsigned f, const char *s)
{
	CHECK_INT(event_set_str(ev, f, s, strlen(s)), 0);
}

static void test_from_event(void)
{
	static const char *const bad_points[] = {
		"{\"lat\":48.85,\"lon\":\"2.35x\"}", "{\"lat\":48.85}", "{\"lat\":91,\"lon\":0}",
		"{\"lat\":48.85,\"lon\":-180.5}", "{\"lat\":{\"lon\":1},\"lon\":1}",
		"{\"lat\":\" 48.85\",\"lon\":1}",
	};
	static const char point[] = "{\"lon\":\"-2.35\",\"alt\":[1,2],\"lat\":48.85}";
	struct arena a;
	struct event ev;
	struct travel_signin s;
	struct ipaddr ip;

	arena_init(&a, 4096, 1 << 20);
	event_init(&ev, &a);
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_NOT_SIGNIN);
	CHECK_INT(event_add_str(&ev, FIELD_EVENT_CATEGORY, "iam", 3), 0);
	CHECK_INT(event_add_str(&ev, FIELD_EVENT_CATEGORY, "authentication", 14), 0);
	set(&ev, FIELD_EVENT_OUTCOME, "failure");
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_NOT_SIGNIN);
	set(&ev, FIELD_EVENT_OUTCOME, "success");
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_NO_USER);
	set(&ev, FIELD_USER_NAME, "alice");
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_NO_TIME);
	CHECK_INT(event_set_time(&ev, FIELD_TIMESTAMP, T0), 0);
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_NO_LOCATION);
	/* source.geo.location, the geo_point object: both numbers (or strings of numbers) */
	for (size_t i = 0; i < sizeof(bad_points) / sizeof(bad_points[0]); i++) {
		CHECK_INT(event_add_obj(&ev, FIELD_SOURCE_GEO_LOCATION, bad_points[i],
					strlen(bad_points[i])), 0);
		CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_NO_LOCATION);
		event_truncate(&ev, ev.n - 1);
	}
	CHECK_INT(event_add_obj(&ev, FIELD_SOURCE_GEO_LOCATION, point, strlen(point)), 0);
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_SIGNIN);
	CHECK_MEM(s.user, s.user_len, "alice");
	CHECK(s.lat == 48.85 && s.lon == -2.35 && s.time_ns == T0 && !s.has_ip && !s.city);
	/* user.id first, then user.email; the place and the address */
	set(&ev, FIELD_USER_EMAIL, "alice@example.com");
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_SIGNIN);
	CHECK_MEM(s.user, s.user_len, "alice@example.com");
	set(&ev, FIELD_USER_ID, "u-1");
	set(&ev, FIELD_SOURCE_GEO_CITY_NAME, "Paris");
	set(&ev, FIELD_SOURCE_GEO_COUNTRY_ISO_CODE, "FR");
	CHECK_INT(ipaddr_parse(&ip, "192.0.2.1", 9), 0);
	CHECK_INT(event_set_ip(&ev, FIELD_SOURCE_IP, &ip), 0);
	CHECK_INT(travel_signin_from_event(&ev, &s), TRAVEL_SIGNIN);
	CHECK_MEM(s.user, s.user_len, "u-1");
	CHECK_MEM(s.city, s.city_len, "Paris");
	CHECK_MEM(s.country, s.country_len, "FR");
	CHECK(s.has_ip);
	arena_release(&a);
}

static void test_json(void)
{
	struct travel *t = new_travel(0, 0);
	struct travel_hit hit;
	struct travel_signin s = at("alice", &paris, T0, 1);
	struct buf out = BUF_INIT(4096);

	CHECK_INT(ipaddr_parse(&s.ip, "192.0.2.1", 9), 0);
	s.has_ip = true;
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 0);
	s = at("alice", &tokyo, T0, 2);
	s.city = NULL;
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 1);
	CHECK_INT(travel_hit_write_json(&hit, "alice", 5, &out), 0);
	CHECK_STR(out.p, "{\"user\": \"alice\", \"distance_km\": 9712, \"speed_kmh\": null, "
		  "\"from\": {\"time\": \"2026-05-28T20:26:40Z\", \"ip\": \"192.0.2.1\", "
		  "\"country\": \"FR\", \"city\": \"Paris\", \"lat\": 48.8566, \"lon\": 2.3522}, "
		  "\"to\": {\"time\": \"2026-05-28T20:26:40Z\", \"country\": \"JP\", "
		  "\"lat\": 35.6762, \"lon\": 139.65}}");
	buf_release(&out);
	buf_init(&out, 8);
	CHECK(travel_hit_write_json(&hit, "alice", 5, &out) < 0);
	buf_release(&out);
	travel_free(t);
}

static void test_out_of_memory(void)
{
	struct travel_hit hit;
	int failed = 0;

	for (long n = 0; n < 12; n++) {
		struct travel *t = new_travel(0, 0);
		char name[16];
		int rc = 0;

		mem_fail_after(n);
		for (int i = 0; i < 100 && rc >= 0; i++) {
			snprintf(name, sizeof(name), "u%d", i);
			rc = feed(t, i % 2 ? "city-a" : "city-b", name, &paris, T0, 0, &hit);
		}
		mem_fail_after(-1);
		CHECK(rc == 0 || rc == -ENOMEM);
		failed += rc == -ENOMEM;
		/* after a failure the state still works */
		CHECK(feed(t, "city-a", "u1", &tokyo, T0 + HOUR, 0, &hit) >= 0);
		travel_free(t);
	}
	CHECK(failed > 0);
}

/* An Entra ID sign-in record as Azure Monitor writes it, at time T from (lat, lon). */
static const char *entra_signin(char *out, size_t size, const char *time, const char *city,
				double lat, double lon, int error_code)
{
	snprintf(out, size,
		 "{\"time\":\"%s\",\"category\":\"SignInLogs\",\"operationName\":"
		 "\"Sign-in activity\",\"properties\":{\"userPrincipalName\":\"alice@example.com\","
		 "\"userId\":\"u-1\",\"ipAddress\":\"203.0.113.7\",\"status\":{\"errorCode\":%d},"
		 "\"location\":{\"city\":\"%s\",\"countryOrRegion\":\"XX\",\"geoCoordinates\":"
		 "{\"latitude\":%.4f,\"longitude\":%.4f}}}}", time, error_code, city, lat, lon);
	return out;
}

/* The whole chain: decoded Entra sign-ins (--format azure) into the detector. */
static void test_entra_signins(void)
{
	struct travel *t = new_travel(0, 0);
	struct travel_signin s;
	struct travel_hit hit;
	char rec[1024];

	CHECK_INT(t_decode("azure", entra_signin(rec, sizeof(rec), "2026-03-15T01:00:00Z", "Paris",
						 paris.lat, paris.lon, 0), 0, NULL), 0);
	CHECK_INT(travel_signin_from_event(&t_ev, &s), TRAVEL_SIGNIN);
	CHECK_MEM(s.user, s.user_len, "u-1");
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 0);
	/* a failed sign-in from Tokyo is not a sign-in to compare */
	CHECK_INT(t_decode("azure", entra_signin(rec, sizeof(rec), "2026-03-15T01:30:00Z", "Tokyo",
						 tokyo.lat, tokyo.lon, 50126), 0, NULL), 0);
	CHECK_INT(travel_signin_from_event(&t_ev, &s), TRAVEL_NOT_SIGNIN);
	CHECK_INT(t_decode("azure", entra_signin(rec, sizeof(rec), "2026-03-15T02:00:00Z", "Tokyo",
						 tokyo.lat, tokyo.lon, 0), 0, NULL), 0);
	CHECK_INT(travel_signin_from_event(&t_ev, &s), TRAVEL_SIGNIN);
	CHECK_INT(travel_feed(t, "city-a", &s, &hit), 1);
	CHECK_STR(hit.from.city, "Paris");
	CHECK_STR(hit.to.city, "Tokyo");
	CHECK(hit.to.has_ip);
	CHECK(fabs(hit.speed_kmh - 9712) < 15);
	travel_free(t);
}

int main(void)
{
	T_RUN(test_distance);
	T_RUN(test_hits);
	T_RUN(test_out_of_order);
	T_RUN(test_tenants_apart);
	T_RUN(test_lru);
	T_RUN(test_many_users);
	T_RUN(test_skipped);
	T_RUN(test_config);
	T_RUN(test_from_event);
	T_RUN(test_json);
	T_RUN(test_out_of_memory);
	T_RUN(test_entra_signins);
	return t_done();
}
