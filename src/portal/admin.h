/*
 * admin.h - the admin HTTP listener (libmicrohttpd), loopback by default.
 *
 * Serves GET /metrics: whatever is registered with the metrics registry (core/metrics.h),
 * in the Prometheus text exposition format (version 0.0.4); the families are listed in
 * docs/metrics.md. And GET /healthz ("ok").
 *
 * Start and stop from the main thread; requests are served on libmicrohttpd's thread.
 */
#ifndef PORTAL_ADMIN_H
#define PORTAL_ADMIN_H

struct err;
struct admin;

/* address "127.0.0.1:8514" or "[::1]:8514"; port 0 picks a free port. */
int admin_start(struct admin **a, const char *address, struct err *e);
/* The address actually bound. */
const char *admin_address(const struct admin *a);
void admin_stop(struct admin *a);

#endif
