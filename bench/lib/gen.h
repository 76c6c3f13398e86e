/*
 * bench/lib/gen.h - the PAN-OS-like TRAFFIC events the store benchmarks generate
 * (bench/segment, bench/store): the same raw syslog line and parsed fields for the same
 * event number, so that their figures describe the same data.
 *
 * Event i of n: 1,000 source IPs, 200 users (a quarter of the events have none), ten
 * applications, six rules, a time spread evenly over `days` days from 2025-11-30T00:00Z
 * with up to 2 s of disorder.
 *
 * Memory: bench_gen_event() writes the raw line into the caller's buffer and copies it into
 * the caller's arena as event.original, first after @timestamp; the event's text fields
 * that are columns of the line point into that copy, as a decoder's do (store/evcodec.h
 * writes them as their place in it). The row points into the line. Threads: bench_gen_init() once (it interns field names), then
 * bench_gen_event() from any thread.
 */
#ifndef BENCH_LIB_GEN_H
#define BENCH_LIB_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct event;

#define BENCH_T0 1764460800000000000LL /* 2025-11-30T00:00:00Z */
#define BENCH_DAY_NS 86400000000000LL

struct bench_gen {
	unsigned days;       /* the events' time span */
	bool whole_seconds;  /* @timestamp as a parser reads it from the line (whole seconds) */
	int f_app, f_session, f_from, f_to, f_packets, f_elapsed, f_serial, f_category;
};

/* What a peer store (SQLite) gets of one event: the same values koban stores. */
struct bench_row {
	int64_t ts;
	char src[24], dst[24], usr[32]; /* usr "" when the event has no user */
	const char *action, *app, *rule;
	int sport, dport;
	long long bytes;
	const char *line;               /* the raw line (the caller's buffer), len bytes */
	int len;
};

/* Interns the PAN-OS fields; 0 or negative errno. */
int bench_gen_init(struct bench_gen *g, unsigned days, bool whole_seconds);
/* Event i of n into ev (event_init'ed on a), its raw line into line, its values into row. */
void bench_gen_event(const struct bench_gen *g, struct event *ev, struct arena *a,
		     unsigned long i, unsigned long n, char *line, size_t line_size,
		     struct bench_row *row);

/* Seconds of the monotonic clock, of this thread's CPU time, of the process's CPU time. */
double bench_now_s(void);
double bench_cpu_s(void);
double bench_proc_cpu_s(void);

#endif
