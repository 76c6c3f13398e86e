/*
 * bench/notify - the notification engine (notify/notify.h) as in `koban serve`: its thread
 * koban-notify, koban.db, the real webhook channel posting over HTTP to a local peer (a
 * thread of this program that answers 200 at once), the wall clock.
 *
 * Two phases:
 *   - calm: --calm N Critical incidents (default 300), one every 20 ms, each decided and handed
 *     to the engine as the SOC engine does; prints the p50, p99 and maximum from the decision
 *     to the first notice handed to the channel (its attempt's time), goal p99 <= 2 s;
 *   - storm: --storm N incidents (default 10,000) in --seconds S (default 60), 1 in 100
 *     Critical, the rest Medium of one scan rule. The plan (the policy's "frequency: 5 in the
 *     window -> aggregate"): a Medium incident goes to two recipients, individually until
 *     5 similar incidents were seen, then aggregated per --window W seconds (default 60);
 *     a Critical one goes at once to the on-call. Prints the notices per recipient against
 *     the policy's limit (4 individual + one per window touched) and the p99 and maximum of
 *     the Critical notices' decision-to-hand-off time (goal: none past 2 s).
 *
 *   build/release/bench/notify [--calm N] [--storm N] [--seconds S] [--window W] [--keep]
 */
#include "core/compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "notify/notify.h"
#include "store/meta.h"

#include "lib/metadir.h"

#define TENANT "bench"
#define NS INT64_C(1000000000)
#define GOAL_NS (2 * NS)

static void die(const char *what, const char *why)
{
	fprintf(stderr, "notify: %s: %s\n", what, why);
	exit(1);
}

/* ---- the local peer: answers every request 200 {"ok":true} and closes ---- */

static int peer_fd;
static volatile int peer_stop;
static unsigned long peer_requests;

static void *peer_main(void *arg)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				     "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
	char buf[65536];

	while (!peer_stop) {
		int c = accept(peer_fd, NULL, NULL);
		size_t have = 0, need = 0;
		char *hdr_end = NULL;

		if (c < 0)
			continue;
		for (;;) {
			ssize_t r = read(c, buf + have, sizeof(buf) - 1 - have);

			if (r <= 0)
				break;
			have += (size_t)r;
			buf[have] = '\0';
			if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
				const char *cl = strcasestr(buf, "content-length:");

				need = (size_t)(hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
			}
			if (hdr_end && have >= need)
				break;
			if (have >= sizeof(buf) - 1)
				break;
		}
		if (write(c, answer, sizeof(answer) - 1) < 0)
			perror("peer write");
		close(c);
		__atomic_add_fetch(&peer_requests, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int peer_start(pthread_t *t)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;

	if ((peer_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(peer_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(peer_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(peer_fd, 512) < 0 ||
	    getsockname(peer_fd, (struct sockaddr *)&a, &len) < 0)
		die("peer", strerror(errno));
	if (pthread_create(t, NULL, peer_main, NULL))
		die("peer", "cannot start its thread");
	return ntohs(a.sin_port);
}

/* ---- the plan: the storm policy ---- */

static const char *const oncall[] = { "oncall" };
static const char *const soc[] = { "soc-a", "soc-b" };
static int64_t window_ns = 60 * NS;

static int plan(void *ctx, const struct meta_incident *inc, uint64_t similar, int64_t at_ns,
		struct arena *a, struct notify_plan *out, struct err *e)
{
	static struct notify_step crit = { "hook", oncall, 1, NULL, "en", false, 0 };
	static struct notify_step med = { "hook", soc, 2, NULL, "ja", false, 0 };

	*out = (struct notify_plan){ .rule_name = inc->level >= 3 ? "critical" : "storm",
				     .matched = true, .n_steps = 1, .window_ns = window_ns };
	out->steps = inc->level >= 3 ? &crit : &med;
	out->aggregate = inc->level < 3 && similar >= 5;
	return 0;
}

/* ---- measuring ---- */

struct lat {
	int64_t *v;
	size_t n, cap;
	struct meta *m;
	int64_t min_id;
	unsigned long per_recipient[3]; /* soc-a, soc-b, oncall */
	size_t pending;
};

struct first_try {
	int64_t at;
};

static void take_try(void *ctx, const struct meta_notice_attempt *a)
{
	struct first_try *f = ctx;

	if (!f->at && (!strcmp(a->status, "sent") || !strcmp(a->status, "delivered")))
		f->at = a->at_ns;
}

static void see_notice(void *ctx, const struct meta_notice *no)
{
	struct lat *l = ctx;
	struct first_try f = { 0 };
	struct err e = ERR_INIT;

	if (no->id <= l->min_id)
		return;
	if (!strcmp(no->recipient, "soc-a"))
		l->per_recipient[0]++;
	else if (!strcmp(no->recipient, "soc-b"))
		l->per_recipient[1]++;
	else
		l->per_recipient[2]++;
	if (strcmp(no->state, "sent")) {
		l->pending++;
		return;
	}
	if (strcmp(no->recipient, "oncall"))
		return;
	if (meta_notice_attempts(l->m, TENANT, no->id, take_try, &f, &e) < 0)
		die("attempts", e.msg);
	if (l->n < l->cap && f.at)
		l->v[l->n++] = f.at - no->decided_ns;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct lat *l, double p)
{
	if (!l->n)
		return 0;
	return (double)l->v[(size_t)((double)(l->n - 1) * p)] / 1e9;
}

static void measure(struct meta *m, int64_t min_id, size_t cap, struct lat *l)
{
	struct err e = ERR_INIT;

	memset(l, 0, sizeof(*l));
	l->m = m;
	l->min_id = min_id;
	l->cap = cap;
	if (!(l->v = calloc(cap ? cap : 1, sizeof(*l->v))))
		die("measure", "out of memory");
	if (meta_notice_list(m, TENANT, 0, META_NOTICE_LIST_MAX, see_notice, l, &e) < 0)
		die("notices", e.msg);
	qsort(l->v, l->n, sizeof(*l->v), cmp64);
}

static void take_max(void *ctx, const struct meta_notice *no)
{
	int64_t *max = ctx;

	if (no->id > *max)
		*max = no->id;
}

static int64_t max_notice(struct meta *m)
{
	struct err e = ERR_INIT;
	int64_t max = 0;

	if (meta_notice_list(m, TENANT, 0, META_NOTICE_LIST_MAX, take_max, &max, &e) < 0)
		die("notices", e.msg);
	return max;
}

static int64_t add_incident(struct meta *m, int level, const char *rule, int64_t now)
{
	const struct meta_incident inc = {
		.tenant = TENANT, .title = level >= 3 ? "Exploit answered by the server" :
		"Port scan", .rule_id = rule, .group_key = rule, .level = level, .status = "new",
		.owner = "", .n_alerts = 1, .evidence = "[]", .entities = "{}", .terminal = "{}",
		.first_ns = now, .last_ns = now, .detected_ns = now, .decided_ns = now,
		.updated_ns = now,
	};
	struct err e = ERR_INIT;
	int64_t id;

	if (meta_incident_add(m, &inc, &id, &e) < 0)
		die("incident", e.msg);
	return id;
}

static void sleep_until(int64_t wall_ns)
{
	int64_t left = wall_ns - time_now_ns();
	struct timespec ts;

	if (left <= 0)
		return;
	ts.tv_sec = left / NS;
	ts.tv_nsec = left % NS;
	nanosleep(&ts, NULL);
}

/* Waits until no notice is pending (at most max_s seconds). */
static void settle(struct notify *n, double max_s)
{
	int64_t end = time_now_ns() + (int64_t)(max_s * 1e9);

	while (time_now_ns() < end && notify_next_due(n))
		sleep_until(time_now_ns() + NS / 20);
}

int main(int argc, char **argv)
{
	long calm = 300, storm = 10000, seconds = 60, window = 60;
	bool keep = false;
	char dir[] = "/tmp/koban-bench-notify-XXXXXX", text[8192], secret[256];
	struct config c;
	struct notify *n = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct lat l;
	pthread_t peer;
	int port;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--keep"))
			keep = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--calm"))
			calm = atol(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--storm"))
			storm = atol(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
			seconds = atol(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--window"))
			window = atol(argv[++i]);
		else
			die("usage", "notify [--calm N] [--storm N] [--seconds S] [--window W] [--keep]");
	}
	if (calm < 1 || storm < 1 || seconds < 1 || window < 1)
		die("usage", "counts and times are at least 1");
	window_ns = window * NS;
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	port = peer_start(&peer);
	snprintf(secret, sizeof(secret), "%s/hook.secret", dir);
	{
		FILE *f = fopen(secret, "w");

		if (!f || fputs("bench-secret-0123456789abcdef0123456789\n", f) < 0 || fclose(f))
			die(secret, strerror(errno));
		chmod(secret, 0600);
	}
	snprintf(text, sizeof(text),
		 "data_dir: %s/var\nnotify:\n  retry: {attempts: 3, backoff: 1, max_backoff: 2}\n"
		 "  channels:\n    hook: {type: webhook, url: \"http://127.0.0.1:%d/hook\", "
		 "secret_file: %s}\n", dir, port, secret);
	if (config_load_mem(&c, text, strlen(text), "bench.yml", &e) < 0 ||
	    meta_open(&m, c.data_dir, &e) < 0 || meta_tenant_add(m, TENANT, &e) < 0)
		die("setup", e.msg);
	{
		const struct notify_config nc = { .cfg = &c, .threaded = true, .send = true,
						  .metrics = false, .plan = plan };

		if (notify_new(&n, &nc, &e) < 0)
			die("notify", e.msg);
	}

	/* calm: one Critical incident every 20 ms */
	{
		int64_t start = time_now_ns();

		for (long i = 0; i < calm; i++) {
			int64_t now;

			sleep_until(start + i * (NS / 50));
			now = time_now_ns();
			notify_level_decided(n, TENANT, add_incident(m, 3, "exploit", now), -1, 3, now);
		}
		settle(n, 30);
		measure(m, 0, (size_t)calm, &l);
		printf("calm: %ld Critical incidents at 50/s: decision -> hand-off p50 %.3f s, "
		       "p99 %.3f s, max %.3f s (goal p99 <= 2 s: %s); %zu not sent\n", calm,
		       pct(&l, 0.5), pct(&l, 0.99), pct(&l, 1.0),
		       pct(&l, 0.99) <= 2.0 ? "met" : "MISSED", l.pending);
		free(l.v);
	}

	/* storm: N incidents in S seconds, 1 in 100 Critical */
	{
		int64_t first = max_notice(m), start = time_now_ns(), win_start;
		long windows, crit = 0;
		double limit;

		for (long i = 0; i < storm; i++) {
			int level = i % 100 == 50 ? 3 : 1;
			int64_t now;

			sleep_until(start + (int64_t)((double)i * (double)seconds * 1e9 / (double)storm));
			now = time_now_ns();
			crit += level == 3;
			notify_level_decided(n, TENANT, add_incident(m, level, level == 3 ? "exploit" :
							       "scan", now), -1, level, now);
		}
		win_start = start - start % window_ns;
		windows = (long)((time_now_ns() - win_start) / window_ns) + 1;
		/* the aggregated notices are due at their window's end */
		settle(n, (double)window + 30);
		measure(m, first, (size_t)crit, &l);
		limit = 4 + (double)windows;
		printf("storm: %ld incidents in %ld s (%ld Critical): notices per recipient "
		       "soc-a %lu, soc-b %lu (policy limit: 4 individual + %ld aggregated = %.0f: %s), "
		       "oncall %lu; Critical decision -> hand-off p99 %.3f s, max %.3f s (goal <= 2 s: "
		       "%s); %zu not sent; %lu requests at the peer\n",
		       storm, seconds, crit, l.per_recipient[0], l.per_recipient[1], windows, limit,
		       (double)l.per_recipient[0] <= limit && (double)l.per_recipient[1] <= limit ?
		       "within" : "EXCEEDED", l.per_recipient[2], pct(&l, 0.99), pct(&l, 1.0),
		       pct(&l, 1.0) <= 2.0 ? "met" : "MISSED", l.pending,
		       __atomic_load_n(&peer_requests, __ATOMIC_RELAXED));
		free(l.v);
	}
	notify_free(n);
	peer_stop = 1;
	shutdown(peer_fd, SHUT_RDWR);
	close(peer_fd);
	pthread_join(peer, NULL);
	meta_close(m);
	config_release(&c);
	if (!keep) {
		char path[512];

		remove(secret);
		snprintf(path, sizeof(path), "%s/var/notify-ack.key", dir);
		remove(path);
		snprintf(path, sizeof(path), "%s/var", dir);
		bench_metadir_remove(path, "notify");
		rmdir(dir);
	}
	return 0;
}
