#include "enrich/retrohunt.h"
#include "core/err.h"
#include "core/mem.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct meta_indicator ind(const char *type, const char *value)
{
	return (struct meta_indicator){ .type = type, .value = value, .confidence = 90,
					.first_seen_ns = 1, .last_seen_ns = 1, .tags = "[]" };
}

static void put(struct meta *m, const char *source, const char *tenant, const char *type,
		const char *value)
{
	struct meta_indicator_put *p = NULL;
	struct meta_indicator i = ind(type, value);
	struct err e = ERR_INIT;
	bool added;

	CHECK_INT(meta_indicator_put_begin(m, source, tenant, &p, &e), 0);
	if (!p)
		return;
	CHECK_INT(meta_indicator_put(p, &i, &added, &e), 0);
	CHECK_INT(meta_indicator_put_end(p, true, &e), 0);
}

struct listed {
	char text[256];
};

static void listed(void *ctx, const struct meta_indicator *i)
{
	struct listed *l = ctx;
	size_t len = strlen(l->text);

	snprintf(l->text + len, sizeof(l->text) - len, "%s%lld:%s", len ? " " : "",
		 (long long)i->id, i->value);
}

/* "id:value ..." of the indicators (after, upto] applying to tenant. */
static const char *new_ones(struct meta *m, const char *tenant, int64_t after, int64_t upto,
			    int64_t limit)
{
	static struct listed l;
	struct err e = ERR_INIT;

	memset(&l, 0, sizeof(l));
	CHECK_INT(meta_retrohunt_indicators(m, tenant, after, upto, limit, listed, &l, &e), 0);
	return l.text;
}

static void test_state_swap(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);
	struct meta_retrohunt s, zero = { 0 }, one = { 0, 5, 100, 101 }, two = { 5, 0, 0, 0 };
	struct err e = ERR_INIT;
	bool swapped;

	if (!m)
		return;
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK(s.watermark == 0 && s.batch_end == 0 && s.cursor_ns == 0);
	CHECK_INT(meta_retrohunt_swap(m, "a", &zero, &one, &swapped, &e), 0);
	CHECK(swapped);
	/* a second hunter that read the old state does not move it back */
	CHECK_INT(meta_retrohunt_swap(m, "a", &zero, &two, &swapped, &e), 0);
	CHECK(!swapped);
	CHECK_INT(meta_retrohunt_swap(m, "a", &one, &two, &swapped, &e), 0);
	CHECK(swapped);
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK(s.watermark == 5 && s.batch_end == 0);
	/* tenant b's progress is its own */
	CHECK_INT(meta_retrohunt_get(m, "b", &s, &e), 0);
	CHECK(s.watermark == 0);
	CHECK_INT(meta_retrohunt_swap(m, "b", &zero, &(struct meta_retrohunt){ 7, 7, 0, 0 },
				      &swapped, &e), -EINVAL);
	CHECK_INT(meta_retrohunt_get(m, "nosuch", &s, &e), -ENOENT);
	CHECK_INT(meta_retrohunt_swap(m, "nosuch", &zero, &one, &swapped, &e), -ENOENT);
	CHECK_INT(meta_retrohunt_get(m, "../a", &s, &e), -EINVAL);
	meta_close(m);
}

/* Tenant a never gets b's indicators, whatever the bounds. */
static void test_indicators_isolation(void)
{
	struct meta *m = t_meta_open("a", "b", NULL);

	if (!m)
		return;
	put(m, "feed", NULL, "ip", "192.0.2.1");
	put(m, "own", "a", "ip", "192.0.2.2");
	put(m, "own", "b", "ip", "192.0.2.3");
	put(m, "feed", NULL, "domain", "evil.example");
	CHECK_STR(new_ones(m, "a", 0, 0, 100), "1:192.0.2.1 2:192.0.2.2 4:evil.example");
	CHECK_STR(new_ones(m, "b", 0, 0, 100), "1:192.0.2.1 3:192.0.2.3 4:evil.example");
	CHECK_STR(new_ones(m, "a", 1, 0, 100), "2:192.0.2.2 4:evil.example");
	CHECK_STR(new_ones(m, "a", 0, 3, 100), "1:192.0.2.1 2:192.0.2.2");
	CHECK_STR(new_ones(m, "b", 2, 3, 100), "3:192.0.2.3");
	CHECK_STR(new_ones(m, "a", 2, 3, 100), "");
	CHECK_STR(new_ones(m, "a", 0, 0, 1), "1:192.0.2.1");
	CHECK_STR(new_ones(m, META_UNASSIGNED, 0, 0, 100), "1:192.0.2.1 4:evil.example");
	meta_close(m);
}

/* An id that comes again once the highest rows are gone lowers the watermark under it. */
static void test_reused_id(void)
{
	struct meta *m = t_meta_open("a", NULL);
	struct meta_indicator_filter f = { .scope = META_TI_GLOBAL, .source = "feed" };
	struct meta_retrohunt s, zero = { 0 };
	struct err e = ERR_INIT;
	int64_t removed;
	bool swapped;

	if (!m)
		return;
	put(m, "old", NULL, "ip", "192.0.2.1");
	put(m, "feed", NULL, "ip", "192.0.2.2");
	put(m, "feed", NULL, "ip", "192.0.2.3");
	CHECK_INT(meta_retrohunt_swap(m, "a", &zero, &(struct meta_retrohunt){ 3, 0, 0, 0 },
				      &swapped, &e), 0);
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	CHECK_INT(removed, 2);
	put(m, "feed", NULL, "ip", "198.51.100.9"); /* takes id 2 again */
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK_INT(s.watermark, 1);
	CHECK_STR(new_ones(m, "a", s.watermark, 0, 100), "2:198.51.100.9");
	/* the same inside a batch: the batch starts again */
	CHECK_INT(meta_retrohunt_swap(m, "a", &s, &(struct meta_retrohunt){ 1, 2, 10, 5 },
				      &swapped, &e), 0);
	CHECK(swapped);
	CHECK_INT(meta_indicator_remove(m, &f, &removed, &e), 0);
	put(m, "feed", NULL, "ip", "198.51.100.10");
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK(s.watermark == 1 && s.batch_end == 0);
	/* re-importing a known indicator is no new row: the watermark stays */
	CHECK_INT(meta_retrohunt_swap(m, "a", &s, &(struct meta_retrohunt){ 2, 0, 0, 0 },
				      &swapped, &e), 0);
	put(m, "feed", NULL, "ip", "198.51.100.10");
	CHECK_INT(meta_retrohunt_get(m, "a", &s, &e), 0);
	CHECK_INT(s.watermark, 2);
	meta_close(m);
}

int main(void)
{
	T_RUN(test_state_swap);
	T_RUN(test_indicators_isolation);
	T_RUN(test_reused_id);
	return t_done();
}
