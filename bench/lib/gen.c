#include "gen.h"
#include "core/compat.h"

#include <time.h>

#include "core/arena.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double bench_now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

double bench_cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

double bench_proc_cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static const char *const apps[] = { "ssl", "web-browsing", "dns", "ssh", "ms-rdp", "smtp",
				    "google-base", "office365-base", "ntp", "incomplete" };
static const char *const rules[] = { "allow-web", "allow-dns", "deny-all", "allow-mgmt",
				     "allow-mail", "block-tor" };
static const int ports[] = { 443, 80, 53, 22, 3389, 25, 123, 8080, 445, 993 };

int bench_gen_init(struct bench_gen *g, unsigned days, bool whole_seconds)
{
	g->days = days;
	g->whole_seconds = whole_seconds;
	g->f_app = field_intern("panos.app", 9, FT_STR);
	g->f_session = field_intern("panos.session_id", 16, FT_INT);
	g->f_from = field_intern("panos.from_zone", 15, FT_STR);
	g->f_to = field_intern("panos.to_zone", 13, FT_STR);
	g->f_packets = field_intern("panos.packets", 13, FT_INT);
	g->f_elapsed = field_intern("panos.elapsed", 13, FT_INT);
	g->f_serial = field_intern("observer.serial_number", 22, FT_STR);
	g->f_category = field_intern("event.category", 14, FT_STR);
	if (g->f_app < 0 || g->f_session < 0 || g->f_from < 0 || g->f_to < 0 ||
	    g->f_packets < 0 || g->f_elapsed < 0 || g->f_serial < 0 || g->f_category < 0)
		return -ENOSPC;
	return 0;
}

/* The line's CSV columns (numbered from 0 at "1," after the host name): where and how long. */
enum { C_SERIAL = 2, C_RULE = 11, C_USER = 12, C_APP = 14, C_FROM = 16, C_TO = 17,
       C_PROTO = 29, C_ACTION = 30, C_COLUMNS = 31 };

static void columns(const char *line, size_t len, const char *col[C_COLUMNS],
		    size_t coln[C_COLUMNS])
{
	const char *p = strstr(line, "fw-tokyo-01 ") + 12, *end = line + len;

	for (unsigned c = 0; c < C_COLUMNS; c++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));

		col[c] = p;
		coln[c] = comma ? (size_t)(comma - p) : (size_t)(end - p);
		p = comma ? comma + 1 : end;
	}
}

void bench_gen_event(const struct bench_gen *g, struct event *ev, struct arena *a,
		     unsigned long i, unsigned long n, char *line, size_t line_size,
		     struct bench_row *row)
{
	uint64_t r = mix(i), r2 = mix(r);
	unsigned s = (unsigned)(r % 1000), user = (unsigned)((r >> 10) % 200);
	const char *action = (r >> 20) % 10 < 8 ? "allow" : (r >> 20) % 10 == 8 ? "deny" : "drop";
	const char *app = apps[(r >> 24) % 10], *rule = rules[(r >> 28) % 6];
	int sport = 1024 + (int)((r >> 32) % 64000), dport = ports[(r >> 48) % 10];
	int natport = 1024 + (int)(r2 % 64000);
	int64_t ts = BENCH_T0 + (int64_t)((double)i / (double)n * g->days * BENCH_DAY_NS) +
		     (int64_t)(r2 >> 40) % 2000000000LL; /* up to 2 s out of order */
	long long bytes = (long long)(r2 % 200000), packets = (long long)(r2 % 300) + 1;
	unsigned long long session = 100000 + i;
	char nat[24], tsbuf[32];
	const char *col[C_COLUMNS], *orig;
	size_t coln[C_COLUMNS];
	struct ipaddr ip;
	time_t secs = (time_t)(ts / 1000000000);
	struct tm tm;
	int len;

	if (g->whole_seconds)
		ts = (int64_t)secs * 1000000000;
	snprintf(row->src, sizeof(row->src), "10.%u.%u.%u", s / 250, s % 250, 10 + s % 7);
	snprintf(row->dst, sizeof(row->dst), "%u.%u.%u.%u", 23 + (unsigned)((r2 >> 8) % 180),
		 (unsigned)((r2 >> 16) % 256), (unsigned)((r2 >> 24) % 64),
		 (unsigned)((r2 >> 32) % 256));
	snprintf(nat, sizeof(nat), "198.51.100.%u", 1 + (unsigned)(r % 4));
	snprintf(row->usr, sizeof(row->usr), "corp\\user%03u", user);
	gmtime_r(&secs, &tm);
	strftime(tsbuf, sizeof(tsbuf), "%Y/%m/%d %H:%M:%S", &tm);
	len = snprintf(line, line_size,
		       "<14>%s fw-tokyo-01 1,%s,013201004321,TRAFFIC,end,2561,%s,%s,%s,%s,0.0.0.0,%s,"
		       "%s,,%s,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Log-Forwarding,%s,%llu,1,"
		       "%d,%d,%d,0,0x400053,tcp,%s,%lld,%lld,%lld,%lld,,%s,0,%llu,0x0,10.0.0.0-10.255.255.255,"
		       "United States,0,%lld,%lld,aged-out,0,0,0,0,,fw-tokyo-01,from-policy,,,0,,0,,N/A,0,0,0,0",
		       tsbuf, tsbuf, tsbuf, row->src, row->dst, nat, rule, (r & 3) ? row->usr : "",
		       app, tsbuf, session, sport, dport, natport, action, bytes + 100,
		       bytes / 3 + 50, bytes * 2 / 3 + 50, (long long)(r2 % 600), app,
		       (unsigned long long)(r2 >> 12) % 100000000ull, packets / 2 + 1, packets / 2);
	if (len < 0 || (size_t)len >= line_size)
		len = (int)line_size - 1;
	row->ts = ts;
	row->action = action;
	row->app = app;
	row->rule = rule;
	row->sport = sport;
	row->dport = dport;
	row->bytes = bytes + 100;
	row->line = line;
	row->len = len;
	if (!(r & 3))
		row->usr[0] = '\0';

	event_init(ev, a);
	event_set_time(ev, FIELD_TIMESTAMP, ts);
	/* as a decoder does: the line kept as event.original, its columns' text pointing into it */
	event_set_strdup(ev, FIELD_EVENT_ORIGINAL, line, (size_t)len);
	if (!event_get(ev, FIELD_EVENT_ORIGINAL) || !strstr(line, "fw-tokyo-01 "))
		abort(); /* the arena is sized for the events (the caller's) */
	orig = event_get(ev, FIELD_EVENT_ORIGINAL)->v.s;
	columns(orig, (size_t)len, col, coln);
	event_set_str(ev, FIELD_OBSERVER_VENDOR, "Palo Alto Networks", 18);
	event_set_str(ev, FIELD_OBSERVER_PRODUCT, "PAN-OS", 6);
	event_set_str(ev, FIELD_HOST_NAME, strstr(orig, "fw-tokyo-01"), 11);
	event_set_str(ev, (unsigned)g->f_serial, col[C_SERIAL], coln[C_SERIAL]);
	event_set_str(ev, FIELD_EVENT_KIND, "event", 5);
	event_set_str(ev, (unsigned)g->f_category, "network", 7);
	event_set_str(ev, FIELD_EVENT_ACTION, col[C_ACTION], coln[C_ACTION]);
	event_set_str(ev, FIELD_EVENT_OUTCOME, action[0] == 'a' ? "success" : "failure", 7);
	ipaddr_parse(&ip, row->src, strlen(row->src));
	event_set_ip(ev, FIELD_SOURCE_IP, &ip);
	event_set_int(ev, FIELD_SOURCE_PORT, sport);
	ipaddr_parse(&ip, row->dst, strlen(row->dst));
	event_set_ip(ev, FIELD_DESTINATION_IP, &ip);
	event_set_int(ev, FIELD_DESTINATION_PORT, dport);
	ipaddr_parse(&ip, nat, strlen(nat));
	event_set_ip(ev, FIELD_SOURCE_NAT_IP, &ip);
	event_set_int(ev, FIELD_SOURCE_NAT_PORT, natport);
	event_set_str(ev, FIELD_NETWORK_TRANSPORT, col[C_PROTO], coln[C_PROTO]);
	event_set_int(ev, FIELD_NETWORK_BYTES, bytes + 100);
	event_set_str(ev, FIELD_RULE_NAME, col[C_RULE], coln[C_RULE]);
	if (r & 3)
		event_set_str(ev, FIELD_USER_NAME, col[C_USER], coln[C_USER]);
	event_set_str(ev, (unsigned)g->f_app, col[C_APP], coln[C_APP]);
	event_set_int(ev, (unsigned)g->f_session, (int64_t)session);
	event_set_str(ev, (unsigned)g->f_from, col[C_FROM], coln[C_FROM]);
	event_set_str(ev, (unsigned)g->f_to, col[C_TO], coln[C_TO]);
	event_set_int(ev, (unsigned)g->f_packets, packets);
	event_set_int(ev, (unsigned)g->f_elapsed, (int64_t)(r2 % 600));
}
