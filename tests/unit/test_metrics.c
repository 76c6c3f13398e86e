/* Unit tests of the metrics registry: registration rules, rendering, escaping, unregister. */
#include "core/buf.h"
#include "core/metrics.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>

static int collect_two(struct metrics_out *o, void *ctx)
{
	int rc = metrics_sample(o, 7, "tenant", "city-a", "reason", "queue_full", NULL);

	if (!rc)
		rc = metrics_sample(o, 0, "tenant", "we\"ird\\na\nme", "reason", "shutdown", NULL);
	return rc;
}

static int collect_plain(struct metrics_out *o, void *ctx)
{
	return metrics_sample_double(o, 0.25, NULL);
}

static void test_render(void)
{
	int a, b;
	struct buf out = BUF_INIT(1 << 16);

	CHECK_INT(metrics_register("koban_test_dropped_total", METRICS_COUNTER,
				   "Dropped.\nSecond line \\", collect_two, &a), 0);
	CHECK_INT(metrics_register("koban_test_latency_seconds", METRICS_GAUGE, "Latency.",
				   collect_plain, &b), 0);
	CHECK_INT(metrics_render(&out), 0);
	CHECK_STR(out.p, "# HELP koban_test_dropped_total Dropped.\\nSecond line \\\\\n"
			 "# TYPE koban_test_dropped_total counter\n"
			 "koban_test_dropped_total{tenant=\"city-a\",reason=\"queue_full\"} 7\n"
			 "koban_test_dropped_total{tenant=\"we\\\"ird\\\\na\\nme\",reason=\"shutdown\"} 0\n"
			 "# HELP koban_test_latency_seconds Latency.\n"
			 "# TYPE koban_test_latency_seconds gauge\n"
			 "koban_test_latency_seconds 0.25\n");
	metrics_unregister(&a);
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK_STR(out.p, "# HELP koban_test_latency_seconds Latency.\n"
			 "# TYPE koban_test_latency_seconds gauge\n"
			 "koban_test_latency_seconds 0.25\n");
	metrics_unregister(&b);
	buf_reset(&out);
	CHECK_INT(metrics_render(&out), 0);
	CHECK_INT(out.len, 0);
	buf_release(&out);
}

static void test_register_rules(void)
{
	int a;

	CHECK_INT(metrics_register("1bad", METRICS_COUNTER, "", collect_plain, &a), -EINVAL);
	CHECK_INT(metrics_register("bad-name", METRICS_COUNTER, "", collect_plain, &a), -EINVAL);
	CHECK_INT(metrics_register("koban_ok", METRICS_COUNTER, "", NULL, &a), -EINVAL);
	CHECK_INT(metrics_register("koban_ok", METRICS_COUNTER, "", collect_plain, &a), 0);
	CHECK_INT(metrics_register("koban_ok", METRICS_GAUGE, "", collect_plain, &a), -EEXIST);
	metrics_unregister(&a);
	CHECK_INT(metrics_register("koban_ok", METRICS_GAUGE, "", collect_plain, &a), 0);
	metrics_unregister(&a);
}

static void test_full(void)
{
	static char names[METRICS_MAX_FAMILIES + 1][32];
	int a;

	for (int i = 0; i < METRICS_MAX_FAMILIES; i++) {
		snprintf(names[i], sizeof(names[i]), "koban_f%d", i);
		CHECK_INT(metrics_register(names[i], METRICS_GAUGE, "", collect_plain, &a), 0);
	}
	CHECK_INT(metrics_register("koban_one_more", METRICS_GAUGE, "", collect_plain, &a), -ENOSPC);
	metrics_unregister(&a);
	CHECK_INT(metrics_register("koban_one_more", METRICS_GAUGE, "", collect_plain, &a), 0);
	metrics_unregister(&a);
}

/* Families registered together: all of them, or none when one fails (named). */
static void test_families(void)
{
	static const struct metrics_family ok[] = {
		{ "t_fam_one_total", METRICS_COUNTER, "One.", collect_plain },
		{ "t_fam_two", METRICS_GAUGE, "Two.", collect_plain },
	};
	static const struct metrics_family bad[] = {
		{ "t_fam_three_total", METRICS_COUNTER, "Three.", collect_plain },
		{ "t fam four", METRICS_COUNTER, "Not a name.", collect_plain },
	};
	struct buf out = BUF_INIT(1 << 16);
	const char *failed = NULL;
	int a, b;

	CHECK_INT(metrics_register_families(ok, 2, &a, &failed), 0);
	CHECK(failed == NULL);
	CHECK_INT(metrics_register_families(bad, 2, &b, &failed), -EINVAL);
	CHECK_STR(failed, "t fam four");
	CHECK_INT(metrics_render(&out), 0);
	CHECK(strstr(out.p, "t_fam_two") != NULL);
	CHECK(strstr(out.p, "t_fam_three_total") == NULL); /* removed again: none or all */
	metrics_unregister(&a);
	buf_release(&out);
}

static int collect_histogram(struct metrics_out *o, void *ctx)
{
	static const double bounds[] = { 0.1, 1 };
	static const uint64_t counts[] = { 2, 1, 1 };
	static const uint64_t none[] = { 0, 0, 0 };
	int rc = metrics_sample_histogram(o, bounds, counts, 2, 3.5, NULL);

	if (!rc)
		rc = metrics_sample_histogram(o, bounds, none, 2, 0, "tenant", "b", NULL);
	return rc;
}

/* A histogram: cumulative buckets with le last, +Inf, _sum and _count, with and without labels. */
static void test_histogram(void)
{
	int h;
	struct buf out = BUF_INIT(1 << 16);

	CHECK_INT(metrics_register("koban_test_seconds", METRICS_HISTOGRAM, "Time.",
				   collect_histogram, &h), 0);
	CHECK_INT(metrics_render(&out), 0);
	CHECK_STR(out.p, "# HELP koban_test_seconds Time.\n"
			 "# TYPE koban_test_seconds histogram\n"
			 "koban_test_seconds_bucket{le=\"0.1\"} 2\n"
			 "koban_test_seconds_bucket{le=\"1\"} 3\n"
			 "koban_test_seconds_bucket{le=\"+Inf\"} 4\n"
			 "koban_test_seconds_sum 3.5\n"
			 "koban_test_seconds_count 4\n"
			 "koban_test_seconds_bucket{tenant=\"b\",le=\"0.1\"} 0\n"
			 "koban_test_seconds_bucket{tenant=\"b\",le=\"1\"} 0\n"
			 "koban_test_seconds_bucket{tenant=\"b\",le=\"+Inf\"} 0\n"
			 "koban_test_seconds_sum{tenant=\"b\"} 0\n"
			 "koban_test_seconds_count{tenant=\"b\"} 0\n");
	metrics_unregister(&h);
	buf_release(&out);
}

int main(void)
{
	T_RUN(test_histogram);
	T_RUN(test_families);
	T_RUN(test_render);
	T_RUN(test_register_rules);
	T_RUN(test_full);
	return t_done();
}
