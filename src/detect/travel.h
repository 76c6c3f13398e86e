/*
 * travel.h - the impossible-travel detector: a built-in detection Sigma cannot express.
 *
 * Per tenant and user it keeps the last successful sign-in that carried a location (time,
 * latitude/longitude, country, city, address, the caller's event reference). A new one
 * that is at least min_distance_km away and would need more than max_speed_kmh to get
 * there in the time between the two is a hit carrying both sign-ins; the new sign-in then
 * becomes the last one. Sign-ins may arrive out of order: the speed uses the time between
 * them whichever came first, and only a later sign-in replaces the stored one.
 *
 * Bounded state: at most max_users users per tenant (the least recently signed-in user is
 * forgotten for a new one: koban_travel_evicted_total) and max_tenants tenants (a sign-in of
 * a tenant past the limit is not evaluated). Every sign-in not evaluated is counted in
 * koban_travel_skipped_total{reason}: no_location, no_user, no_time, user_too_long,
 * tenant_limit.
 * docs/detection.md, "Impossible travel".
 *
 * Memory: the detector owns its state (core/mem.h); travel_free() releases it. Strings of a
 * struct travel_signin are (pointer, length), read during the call and copied (the user
 * key, the country and city cut at TRAVEL_PLACE_TEXT bytes). A struct travel_hit is a
 * plain value.
 *
 * Threads: fed from ONE thread (the detection loop): travel_feed/travel_free are not
 * locked. The counters are atomics, read by the metrics callback on the admin thread.
 */
#ifndef DETECT_TRAVEL_H
#define DETECT_TRAVEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ipaddr.h"

struct buf;
struct err;
struct event;
struct travel;

#define TRAVEL_PLACE_TEXT 64   /* bytes kept of a country or city name */
#define TRAVEL_USER_MAX 512    /* longer user names are not tracked (counted) */

struct travel_config {
	double max_speed_kmh;    /* faster is a hit; default 900 (an airliner) */
	double min_distance_km;  /* nearer is never a hit; default 500 (geolocation noise) */
	uint32_t max_users;      /* per tenant; default 100,000 */
	uint32_t max_tenants;    /* default 4,096 */
};

/* The defaults above. */
void travel_config_default(struct travel_config *c);

/* One successful sign-in, as the caller read it from an event. */
struct travel_signin {
	const char *user;       /* the key: user.id, else user.email, else user.name */
	size_t user_len;
	int64_t time_ns;
	double lat, lon;        /* degrees */
	const char *country;    /* may be NULL */
	size_t country_len;
	const char *city;       /* may be NULL */
	size_t city_len;
	struct ipaddr ip;
	bool has_ip;
	uint64_t ref;           /* the caller's reference to the event (line, offset, id) */
};

/* A sign-in as kept and reported. */
struct travel_place {
	int64_t time_ns;
	double lat, lon;
	char country[TRAVEL_PLACE_TEXT + 1];
	char city[TRAVEL_PLACE_TEXT + 1];
	struct ipaddr ip;
	bool has_ip;
	uint64_t ref;
};

struct travel_hit {
	struct travel_place from;   /* the earlier of the two sign-ins */
	struct travel_place to;     /* the later */
	double distance_km;
	double speed_kmh;           /* INFINITY when both happened at the same instant */
};

/* What travel_signin_from_event() found. */
enum travel_read {
	TRAVEL_SIGNIN,        /* a successful sign-in with a user, a time and coordinates */
	TRAVEL_NOT_SIGNIN,    /* not a successful authentication: nothing to do */
	TRAVEL_NO_LOCATION,   /* a successful sign-in without usable coordinates */
	TRAVEL_NO_USER,       /* ... without a user */
	TRAVEL_NO_TIME,       /* ... without @timestamp */
};

/*
 * Reads a sign-in from a decoded event: event.category authentication with event.outcome
 * success, the user (user.id, else user.email, else user.name), @timestamp,
 * source.geo.location ({"lat":..,"lon":..}, numbers or strings of numbers, in range),
 * source.geo.country_iso_code, source.geo.city_name and
 * source.ip. Strings point into the event. s->ref is set to 0.
 */
enum travel_read travel_signin_from_event(const struct event *ev, struct travel_signin *s);

/* -EINVAL for a configuration out of range (e names the key), -ENOMEM. */
int travel_new(struct travel **t, const struct travel_config *c, struct err *e);
void travel_free(struct travel *t);

/*
 * Feeds one sign-in of tenant (a name, NUL-terminated). Returns 1 with *hit filled for an
 * impossible travel, 0 otherwise (including a sign-in not tracked: counted), -ENOMEM.
 */
int travel_feed(struct travel *t, const char *tenant, const struct travel_signin *s,
		struct travel_hit *hit);
/* Counts an event travel_signin_from_event() found unusable (reason != TRAVEL_SIGNIN). */
void travel_count_unusable(struct travel *t, enum travel_read reason);

/*
 * The hit as a JSON object (the alert's key fields), without a newline:
 * {"user": "...", "distance_km": 9712, "speed_kmh": 14568, "from": {"time": "...",
 *  "ip": "...", "country": "...", "city": "...", "lat": 48.85, "lon": 2.35}, "to": {...}}
 * ("speed_kmh": null for the same instant; absent parts left out).
 */
int travel_hit_write_json(const struct travel_hit *hit, const char *user, size_t user_len,
			  struct buf *out);

/* Great-circle distance in km between two points given in degrees (haversine). */
double travel_distance_km(double lat1, double lon1, double lat2, double lon2);

/*
 * koban_travel_signins_total, koban_travel_hits_total, koban_travel_skipped_total{reason},
 * koban_travel_evicted_total and koban_travel_users (gauge); travel_free() unregisters them.
 */
int travel_metrics_register(struct travel *t);

#endif
