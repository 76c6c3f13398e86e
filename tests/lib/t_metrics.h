/*
 * t_metrics.h - reading the metrics registry (core/metrics) in unit tests: the value of one
 * sample in what GET /metrics would show now. Shared by test_alert, test_correl and
 * test_travel.
 *
 * Memory: nothing is kept; each call renders into a buffer of its own and frees it.
 * Threads: the test's thread (metrics_render takes the registry's lock).
 */
#ifndef TESTS_T_METRICS_H
#define TESTS_T_METRICS_H

/*
 * The value of the sample series (a family name with its labels as rendered, for example
 * koban_alerts_dropped_total{reason="invalid"}) in a fresh metrics_render(), or missing
 * when no sample line is series followed by its value, or the render fails.
 */
long long t_metric(const char *series, long long missing);

#endif
