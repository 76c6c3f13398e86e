/*
 * admin.h - the admin HTTP listener (libmicrohttpd), loopback by default.
 *
 * Serves GET /metrics in the Prometheus text exposition format (version 0.0.4):
 *   koban_events_received_total{tenant="…",listener="…"}
 *   koban_events_parsed_total{tenant="…"}
 *   koban_events_parse_failed_total{tenant="…"}
 *   koban_events_truncated_total{tenant="…"}
 *   koban_events_throttled_total{tenant="…"}
 *   koban_events_dropped_total{tenant="…",reason="queue_full|rate_limit|no_memory|shutdown"}
 *   koban_queue_depth{tenant="…"}
 *   koban_listener_* {listener="…",protocol="…"} from struct listener_stats
 *     (koban_udp_receive_overflow_total for SO_RXQ_OVFL drops)
 * and GET /healthz ("ok"). Label values are escaped as the format requires.
 *
 * Start and stop from the main thread; requests are served on libmicrohttpd's thread.
 */
#ifndef PORTAL_ADMIN_H
#define PORTAL_ADMIN_H

struct buf;
struct err;
struct fairq;
struct ingest;
struct admin;

/* address "127.0.0.1:8514" or "[::1]:8514"; port 0 picks a free port. */
int admin_start(struct admin **a, const char *address, struct fairq *q, struct ingest *in,
		struct err *e);
/* The address actually bound. */
const char *admin_address(const struct admin *a);
void admin_stop(struct admin *a);
/* Renders the metrics text (used by the handler and by tests); in may be NULL. */
int admin_metrics_render(struct buf *out, struct fairq *q, struct ingest *in);

#endif
