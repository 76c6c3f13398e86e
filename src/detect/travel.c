#include "detect/travel.h"
#include "core/compat.h"

#include <math.h>
#include <stdatomic.h>

#define LOG_MODULE "travel"
#include "core/buf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "core/jsonin.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define EARTH_RADIUS_KM 6371.0088 /* the mean radius (IUGG) */
#define FIRST_BUCKETS 64
#define NS_PER_HOUR (3600.0 * 1e9)

/* Why a sign-in was not evaluated: koban_travel_skipped_total{reason}. */
enum skip { SKIP_NO_LOCATION, SKIP_NO_USER, SKIP_NO_TIME, SKIP_USER_TOO_LONG,
	    SKIP_TENANT_LIMIT, SKIPS };

static const char *const skip_names[SKIPS] = {
	"no_location", "no_user", "no_time", "user_too_long", "tenant_limit",
};

/* One user's last sign-in, in its tenant's hash table and recency list. */
struct user {
	struct user *hnext;
	struct user *newer, *older;
	uint64_t hash;
	struct travel_place last;
	size_t key_len;
	char key[]; /* lower-cased, not NUL-terminated */
};

struct tenant {
	char *name;
	struct user **buckets;
	size_t n_buckets;   /* a power of two */
	size_t n_users;
	struct user *newest, *oldest;
};

struct travel {
	struct travel_config c;
	/* few (a SOC's tenants) and only sign-ins look them up: a scan is enough */
	struct tenant *tenants;
	size_t n_tenants, cap_tenants;
	bool metrics;
	atomic_uint_fast64_t signins, hits, evicted, users;
	atomic_uint_fast64_t skipped[SKIPS];
};

void travel_config_default(struct travel_config *c)
{
	*c = (struct travel_config){
		.max_speed_kmh = 900, .min_distance_km = 500, .max_users = 100000,
		.max_tenants = 4096,
	};
}

/* ---- reading a sign-in from an event ---- */

static bool has_value(const struct event *ev, unsigned field, const char *want)
{
	size_t len = strlen(want);

	for (uint32_t i = 0; i < ev->n; i++)
		if (ev->vals[i].field == field && ev->vals[i].len == len &&
		    !memcmp(ev->vals[i].v.s, want, len))
			return true;
	return false;
}

/* A coordinate, a JSON number or a string of one, as degrees within [-limit, limit]. */
static bool degrees(const struct jsonin_value *v, double limit, double *out)
{
	char text[40], *end;

	if ((v->type != JSONIN_NUMBER && v->type != JSONIN_STRING) || !v->len ||
	    v->len >= sizeof(text) || !jsonin_is_number(v->s, v->len))
		return false;
	memcpy(text, v->s, v->len);
	text[v->len] = '\0';
	errno = 0;
	*out = strtod(text, &end);
	return !errno && end == text + v->len && isfinite(*out) && fabs(*out) <= limit;
}

/* source.geo.location, the geo_point {"lat":..,"lon":..}: both coordinates, in range. */
static bool geo_point(const struct event *ev, double *lat, double *lon)
{
	const struct event_value *p = event_get(ev, FIELD_SOURCE_GEO_LOCATION);
	struct jsonin j;
	struct jsonin_value k, v;
	bool has_lat = false, has_lon = false;
	int rc;

	if (!p)
		return false;
	jsonin_init(&j, p->v.s, p->len, ev->arena, 0);
	if (jsonin_value(&j, &v) < 0 || v.type != JSONIN_OBJECT)
		return false;
	while ((rc = jsonin_key(&j, &k)) > 0) {
		bool is_lat = jsonin_key_is(&k, "lat");

		if (!is_lat && !jsonin_key_is(&k, "lon")) {
			if (jsonin_skip_value(&j) < 0)
				return false;
		} else if (jsonin_value(&j, &v) < 0 ||
			   !degrees(&v, is_lat ? 90 : 180, is_lat ? lat : lon)) {
			return false;
		} else {
			*(is_lat ? &has_lat : &has_lon) = true;
		}
	}
	return rc == 0 && has_lat && has_lon;
}

static void take_str(const struct event *ev, unsigned field, const char **s, size_t *len)
{
	if (!event_get_str(ev, field, s, len)) {
		*s = NULL;
		*len = 0;
	}
}

enum travel_read travel_signin_from_event(const struct event *ev, struct travel_signin *s)
{
	const struct event_value *t = event_get(ev, FIELD_TIMESTAMP);
	const struct event_value *ip = event_get(ev, FIELD_SOURCE_IP);

	*s = (struct travel_signin){ 0 };
	if (!has_value(ev, FIELD_EVENT_CATEGORY, "authentication") ||
	    !has_value(ev, FIELD_EVENT_OUTCOME, "success"))
		return TRAVEL_NOT_SIGNIN;
	if (!event_get_str(ev, FIELD_USER_ID, &s->user, &s->user_len) &&
	    !event_get_str(ev, FIELD_USER_EMAIL, &s->user, &s->user_len) &&
	    !event_get_str(ev, FIELD_USER_NAME, &s->user, &s->user_len))
		return TRAVEL_NO_USER;
	if (!t)
		return TRAVEL_NO_TIME;
	s->time_ns = t->v.i;
	if (!geo_point(ev, &s->lat, &s->lon))
		return TRAVEL_NO_LOCATION;
	take_str(ev, FIELD_SOURCE_GEO_COUNTRY_ISO_CODE, &s->country, &s->country_len);
	take_str(ev, FIELD_SOURCE_GEO_CITY_NAME, &s->city, &s->city_len);
	if (ip) {
		s->ip = ip->v.ip;
		s->has_ip = true;
	}
	return TRAVEL_SIGNIN;
}

void travel_count_unusable(struct travel *t, enum travel_read reason)
{
	enum skip k = reason == TRAVEL_NO_LOCATION ? SKIP_NO_LOCATION
		      : reason == TRAVEL_NO_USER   ? SKIP_NO_USER
		      : reason == TRAVEL_NO_TIME   ? SKIP_NO_TIME
						   : SKIPS;

	if (k != SKIPS)
		atomic_fetch_add_explicit(&t->skipped[k], 1, memory_order_relaxed);
}

/* ---- distance ---- */

static double radians(double deg)
{
	return deg * (M_PI / 180.0);
}

double travel_distance_km(double lat1, double lon1, double lat2, double lon2)
{
	double dlat = radians(lat2 - lat1), dlon = radians(lon2 - lon1);
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) * sin(dlon / 2);

	/* min: rounding may push a just past 1 for antipodal points */
	return 2 * EARTH_RADIUS_KM * asin(sqrt(MIN(a, 1.0)));
}

/* ---- state ---- */

int travel_new(struct travel **tp, const struct travel_config *c, struct err *e)
{
	struct travel *t;

	*tp = NULL;
	if (!(c->max_speed_kmh > 0) || !isfinite(c->max_speed_kmh))
		return err_set(e, -EINVAL, "travel.max_speed_kmh: expected a speed above 0");
	if (!(c->min_distance_km >= 0) || !isfinite(c->min_distance_km))
		return err_set(e, -EINVAL, "travel.min_distance_km: expected 0 or more");
	if (c->max_users < 1 || c->max_tenants < 1)
		return err_set(e, -EINVAL, "travel: max_users and max_tenants must be 1 or more");
	if (!(t = mem_calloc(1, sizeof(*t))))
		return err_set(e, -ENOMEM, "travel: out of memory");
	t->c = *c;
	*tp = t;
	return 0;
}

static void tenant_release(struct tenant *tn)
{
	for (struct user *u = tn->newest, *next; u; u = next) {
		next = u->older;
		mem_free(u);
	}
	mem_free(tn->buckets);
	mem_free(tn->name);
}

void travel_free(struct travel *t)
{
	if (!t)
		return;
	if (t->metrics)
		metrics_unregister(t); /* first: a scrape may be reading t */
	for (size_t i = 0; i < t->n_tenants; i++)
		tenant_release(&t->tenants[i]);
	mem_free(t->tenants);
	mem_free(t);
}

/* The tenant's state, added when new; NULL past max_tenants (*rc 0) or out of memory. */
static struct tenant *tenant_get(struct travel *t, const char *name, int *rc)
{
	struct tenant *tn;

	*rc = 0;
	for (size_t i = 0; i < t->n_tenants; i++)
		if (!strcmp(t->tenants[i].name, name))
			return &t->tenants[i];
	if (t->n_tenants == t->c.max_tenants)
		return NULL;
	if (t->n_tenants == t->cap_tenants) {
		size_t cap = MIN(MAX(t->cap_tenants * 2, (size_t)8), (size_t)t->c.max_tenants);
		struct tenant *p = mem_realloc(t->tenants, cap * sizeof(*p));

		if (!p)
			goto nomem;
		t->tenants = p;
		t->cap_tenants = cap;
	}
	tn = &t->tenants[t->n_tenants];
	*tn = (struct tenant){ .name = mem_strdup(name) };
	if (!tn->name || !(tn->buckets = mem_calloc(FIRST_BUCKETS, sizeof(*tn->buckets)))) {
		mem_free(tn->name);
		goto nomem;
	}
	tn->n_buckets = FIRST_BUCKETS;
	t->n_tenants++;
	return tn;
nomem:
	*rc = -ENOMEM;
	return NULL;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* FNV-1a over the ASCII-lower-cased key: user names compare case-insensitively. */
static uint64_t key_hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++)
		h = (h ^ lower((unsigned char)s[i])) * UINT64_C(0x100000001b3);
	return h;
}

static bool key_equal(const struct user *u, uint64_t h, const char *s, size_t len)
{
	if (u->hash != h || u->key_len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (u->key[i] != (char)lower((unsigned char)s[i]))
			return false;
	return true;
}

static struct user **bucket(struct tenant *tn, uint64_t h)
{
	return &tn->buckets[h & (tn->n_buckets - 1)];
}

static void list_unlink(struct tenant *tn, struct user *u)
{
	*(u->newer ? &u->newer->older : &tn->newest) = u->older;
	*(u->older ? &u->older->newer : &tn->oldest) = u->newer;
	u->newer = u->older = NULL;
}

static void list_push(struct tenant *tn, struct user *u)
{
	u->older = tn->newest;
	u->newer = NULL;
	*(tn->newest ? &tn->newest->newer : &tn->oldest) = u;
	tn->newest = u;
}

static void hash_unlink(struct tenant *tn, struct user *u)
{
	struct user **p = bucket(tn, u->hash);

	while (*p != u)
		p = &(*p)->hnext;
	*p = u->hnext;
}

/* Doubles the table when it holds as many users as buckets; a failure keeps the old one. */
static void maybe_grow(struct tenant *tn)
{
	size_t n = tn->n_buckets * 2;
	struct user **b;

	if (tn->n_users < tn->n_buckets || !(b = mem_calloc(n, sizeof(*b))))
		return; /* a longer chain, not a loss */
	for (size_t i = 0; i < tn->n_buckets; i++) {
		for (struct user *u = tn->buckets[i], *next; u; u = next) {
			next = u->hnext;
			u->hnext = b[u->hash & (n - 1)];
			b[u->hash & (n - 1)] = u;
		}
	}
	mem_free(tn->buckets);
	tn->buckets = b;
	tn->n_buckets = n;
}

static void evict_oldest(struct travel *t, struct tenant *tn)
{
	struct user *u = tn->oldest;

	list_unlink(tn, u);
	hash_unlink(tn, u);
	tn->n_users--;
	mem_free(u);
	atomic_fetch_add_explicit(&t->evicted, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&t->users, 1, memory_order_relaxed);
}

static void copy_text(char out[TRAVEL_PLACE_TEXT + 1], const char *s, size_t len)
{
	len = s ? MIN(len, (size_t)TRAVEL_PLACE_TEXT) : 0;
	if (len)
		memcpy(out, s, len);
	out[len] = '\0';
}

static void place_from(struct travel_place *p, const struct travel_signin *s)
{
	p->time_ns = s->time_ns;
	p->lat = s->lat;
	p->lon = s->lon;
	copy_text(p->country, s->country, s->country_len);
	copy_text(p->city, s->city, s->city_len);
	p->ip = s->ip;
	p->has_ip = s->has_ip;
	p->ref = s->ref;
}

static int user_add(struct travel *t, struct tenant *tn, uint64_t h,
		    const struct travel_signin *s)
{
	struct user *u;

	if (tn->n_users == t->c.max_users)
		evict_oldest(t, tn);
	if (!(u = mem_alloc(sizeof(*u) + s->user_len)))
		return -ENOMEM;
	*u = (struct user){ .hash = h, .key_len = s->user_len };
	for (size_t i = 0; i < s->user_len; i++)
		u->key[i] = (char)lower((unsigned char)s->user[i]);
	place_from(&u->last, s);
	u->hnext = *bucket(tn, h);
	*bucket(tn, h) = u;
	list_push(tn, u);
	tn->n_users++;
	atomic_fetch_add_explicit(&t->users, 1, memory_order_relaxed);
	maybe_grow(tn);
	return 0;
}

/* Whether going from u's last sign-in to s is impossible; fills hit when it is. */
static bool impossible(const struct travel *t, const struct travel_place *last,
		       const struct travel_signin *s, struct travel_hit *hit)
{
	double km = travel_distance_km(last->lat, last->lon, s->lat, s->lon);
	double hours = fabs((double)s->time_ns - (double)last->time_ns) / NS_PER_HOUR;
	double speed = hours > 0 ? km / hours : INFINITY;

	if (km < t->c.min_distance_km || speed <= t->c.max_speed_kmh)
		return false;
	if (s->time_ns >= last->time_ns) {
		hit->from = *last;
		place_from(&hit->to, s);
	} else {
		place_from(&hit->from, s);
		hit->to = *last;
	}
	hit->distance_km = km;
	hit->speed_kmh = speed;
	return true;
}

static int skip(struct travel *t, enum skip why)
{
	atomic_fetch_add_explicit(&t->skipped[why], 1, memory_order_relaxed);
	return 0;
}

int travel_feed(struct travel *t, const char *tenant, const struct travel_signin *s,
		struct travel_hit *hit)
{
	struct tenant *tn;
	struct user *u;
	uint64_t h;
	int rc = 0;

	if (!s->user_len)
		return skip(t, SKIP_NO_USER);
	if (s->user_len > TRAVEL_USER_MAX)
		return skip(t, SKIP_USER_TOO_LONG);
	if (!isfinite(s->lat) || !isfinite(s->lon) || fabs(s->lat) > 90 || fabs(s->lon) > 180)
		return skip(t, SKIP_NO_LOCATION);
	if (!(tn = tenant_get(t, tenant, &rc)))
		return rc < 0 ? rc : skip(t, SKIP_TENANT_LIMIT);
	atomic_fetch_add_explicit(&t->signins, 1, memory_order_relaxed);
	h = key_hash(s->user, s->user_len);
	for (u = *bucket(tn, h); u && !key_equal(u, h, s->user, s->user_len); u = u->hnext)
		;
	if (!u)
		return user_add(t, tn, h, s);
	if (impossible(t, &u->last, s, hit)) {
		atomic_fetch_add_explicit(&t->hits, 1, memory_order_relaxed);
		rc = 1;
	}
	if (s->time_ns >= u->last.time_ns) /* an older sign-in never replaces a newer one */
		place_from(&u->last, s);
	list_unlink(tn, u);
	list_push(tn, u);
	return rc;
}

/* ---- the hit as JSON ---- */

static int add_number(struct buf *out, const char *key, double x, const char *fmt)
{
	char num[64];
	int rc;

	if (!isfinite(x))
		snprintf(num, sizeof(num), "null");
	else
		snprintf(num, sizeof(num), fmt, x);
	if ((rc = buf_adds(out, ", \"")) < 0 || (rc = buf_adds(out, key)) < 0 ||
	    (rc = buf_adds(out, "\": ")) < 0)
		return rc;
	return buf_adds(out, num);
}

static int add_text(struct buf *out, const char *key, const char *s)
{
	int rc;

	if (!*s)
		return 0;
	if ((rc = buf_adds(out, ", \"")) < 0 || (rc = buf_adds(out, key)) < 0 ||
	    (rc = buf_adds(out, "\": ")) < 0)
		return rc;
	return json_add_string(out, s, strlen(s));
}

static int add_place(struct buf *out, const char *key, const struct travel_place *p)
{
	char when[TIME_RFC3339_LEN], ip[IPADDR_STRLEN] = "";
	int rc;

	time_format_rfc3339(p->time_ns, when);
	if (p->has_ip)
		ipaddr_format(&p->ip, ip);
	if ((rc = buf_adds(out, ", \"")) < 0 || (rc = buf_adds(out, key)) < 0 ||
	    (rc = buf_adds(out, "\": {\"time\": \"")) < 0 || (rc = buf_adds(out, when)) < 0 ||
	    (rc = buf_adds(out, "\"")) < 0 || (rc = add_text(out, "ip", ip)) < 0 ||
	    (rc = add_text(out, "country", p->country)) < 0 ||
	    (rc = add_text(out, "city", p->city)) < 0 ||
	    (rc = add_number(out, "lat", p->lat, "%.6g")) < 0 ||
	    (rc = add_number(out, "lon", p->lon, "%.6g")) < 0)
		return rc;
	return buf_adds(out, "}");
}

int travel_hit_write_json(const struct travel_hit *hit, const char *user, size_t user_len,
			  struct buf *out)
{
	int rc;

	if ((rc = buf_adds(out, "{\"user\": ")) < 0 ||
	    (rc = json_add_string(out, user, user_len)) < 0 ||
	    (rc = add_number(out, "distance_km", hit->distance_km, "%.0f")) < 0 ||
	    (rc = add_number(out, "speed_kmh", hit->speed_kmh, "%.0f")) < 0 ||
	    (rc = add_place(out, "from", &hit->from)) < 0 ||
	    (rc = add_place(out, "to", &hit->to)) < 0)
		return rc;
	return buf_adds(out, "}");
}

/* ---- metrics ---- */

static uint64_t load(atomic_uint_fast64_t *x)
{
	return atomic_load_explicit(x, memory_order_relaxed);
}

static int collect_signins(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, load(&((struct travel *)ctx)->signins), NULL);
}

static int collect_hits(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, load(&((struct travel *)ctx)->hits), NULL);
}

static int collect_evicted(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, load(&((struct travel *)ctx)->evicted), NULL);
}

static int collect_users(struct metrics_out *o, void *ctx)
{
	return metrics_sample(o, load(&((struct travel *)ctx)->users), NULL);
}

static int collect_skipped(struct metrics_out *o, void *ctx)
{
	struct travel *t = ctx;
	int rc = 0;

	for (unsigned i = 0; i < SKIPS && !rc; i++)
		rc = metrics_sample(o, load(&t->skipped[i]), "reason", skip_names[i], NULL);
	return rc;
}

int travel_metrics_register(struct travel *t)
{
	static const struct metrics_family families[] = {
		{ "koban_travel_signins_total", METRICS_COUNTER,
		  "Successful sign-ins with a location the impossible-travel detector evaluated.",
		  collect_signins },
		{ "koban_travel_hits_total", METRICS_COUNTER,
		  "Impossible travels found (two sign-ins too far apart for the time between).",
		  collect_hits },
		{ "koban_travel_skipped_total", METRICS_COUNTER,
		  "Successful sign-ins the impossible-travel detector could not evaluate, by reason.",
		  collect_skipped },
		{ "koban_travel_evicted_total", METRICS_COUNTER,
		  "Users whose last sign-in was forgotten for a newer user (max_users per tenant).",
		  collect_evicted },
		{ "koban_travel_users", METRICS_GAUGE,
		  "Users whose last sign-in the impossible-travel detector keeps.", collect_users },
	};
	int rc;

	if (t->metrics)
		return -EEXIST; /* registered already: leave them */
	if ((rc = metrics_register_families(families, ARRAY_SIZE(families), t, NULL)) < 0)
		return rc; /* none or all */
	t->metrics = true;
	return 0;
}
