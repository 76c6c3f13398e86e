/* Unit tests of the rate-limited log lines of core/log. */
#include "core/log.h"
#include "t.h"

#include <pthread.h>
#include <stdatomic.h>

static void test_first_passes_then_counts(void)
{
	struct log_limit l = LOG_LIMIT_INIT(3600);
	uint64_t suppressed = 99;

	CHECK(log_limit_allow(&l, &suppressed));
	CHECK_INT(suppressed, 0);
	for (int i = 0; i < 5; i++)
		CHECK(!log_limit_allow(&l, &suppressed));
	CHECK_INT(atomic_load(&l.suppressed), 5);
}

static void test_interval_zero_always_allows_and_reports(void)
{
	struct log_limit l;
	uint64_t suppressed = 99;

	log_limit_init(&l, 0);
	CHECK(log_limit_allow(&l, &suppressed));
	CHECK_INT(suppressed, 0);
	atomic_store(&l.suppressed, 7); /* as if 7 were held back */
	CHECK(log_limit_allow(&l, &suppressed));
	CHECK_INT(suppressed, 7);
	CHECK_INT(atomic_load(&l.suppressed), 0);
}

static struct log_limit shared = LOG_LIMIT_INIT(3600);
static atomic_int allowed;

static void *hammer(void *arg)
{
	uint64_t s;

	for (int i = 0; i < 10000; i++)
		if (log_limit_allow(&shared, &s))
			atomic_fetch_add(&allowed, 1);
	return NULL;
}

static void test_threads_one_line_per_interval(void)
{
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(atomic_load(&allowed), 1);
	CHECK_INT(atomic_load(&shared.suppressed), 4 * 10000 - 1);
}

static void test_log_limited_macro(void)
{
	struct log_limit l = LOG_LIMIT_INIT(3600);

	/* below the level: neither written nor counted */
	log_set_level(LOG_LEVEL_ERROR);
	log_limited(&l, LOG_LEVEL_INFO, "not shown %d", 1);
	CHECK_INT(atomic_load(&l.suppressed), 0);
	CHECK_INT(atomic_load(&l.next_ns), 0);
	log_set_level(LOG_LEVEL_INFO);
	log_limited(&l, LOG_LEVEL_INFO, "shown once %d", 2);
	log_limited(&l, LOG_LEVEL_INFO, "held back %d", 3);
	CHECK_INT(atomic_load(&l.suppressed), 1);
}

int main(void)
{
	T_RUN(test_first_passes_then_counts);
	T_RUN(test_interval_zero_always_allows_and_reports);
	T_RUN(test_threads_one_line_per_interval);
	T_RUN(test_log_limited_macro);
	return t_done();
}
