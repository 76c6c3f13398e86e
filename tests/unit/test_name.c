/*
 * Unit tests of core/name: the shapes of tenant, source, listener and zone names.
 */
#include "core/name.h"
#include "t.h"

#include <string.h>

#define S(x) x, strlen(x)

static void test_names(void)
{
	char long_name[NAME_TENANT_MAX + 2];

	CHECK(name_valid(S("edge-udp_1"), NAME_LISTENER_MAX));
	CHECK(!name_valid(S("Edge"), NAME_LISTENER_MAX));
	CHECK(!name_valid(S("a b"), NAME_LISTENER_MAX));
	CHECK(!name_valid(S(""), NAME_LISTENER_MAX));
	CHECK(!name_valid(NULL, 0, NAME_LISTENER_MAX));
	CHECK(!name_valid(S("a/../b"), NAME_TENANT_MAX));
	CHECK(name_valid("ab\0", 2, NAME_LISTENER_MAX));
	CHECK(!name_valid("ab\0", 3, NAME_LISTENER_MAX));
	memset(long_name, 'a', sizeof(long_name));
	CHECK(name_valid(long_name, NAME_TENANT_MAX, NAME_TENANT_MAX));
	CHECK(!name_valid(long_name, NAME_TENANT_MAX + 1, NAME_TENANT_MAX));
	CHECK(name_valid_new(S("city-1")));
	CHECK(!name_valid_new(S("_unassigned")));
	CHECK(!name_valid_new(S("-x")));
	CHECK(name_reserved(S("_unassigned")));
	CHECK(!name_reserved(S("demo")));
}

static void test_zones(void)
{
	static const char *const good[] = { "UTC", "Asia/Tokyo", "Etc/GMT+9", "Etc/GMT-14",
					    "America/Argentina/Buenos_Aires" };
	static const char *const bad[] = { "", "/etc/localtime", "Asia//Tokyo", "Asia/",
					   "../etc/passwd", "Asia/Tokyo.x", "Asia Tokyo" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		t_check(name_zone_valid(S(good[i])), __FILE__, __LINE__, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		t_check(!name_zone_valid(S(bad[i])), __FILE__, __LINE__, "%s", bad[i]);
	CHECK(!name_zone_valid("Asia/", 4 + 1));
	CHECK(name_zone_valid("Asia/Tokyo/", 10));
}

static void test_logsources(void)
{
	char long_value[66];

	CHECK(name_logsource_valid(S("process_creation"), 64));
	CHECK(name_logsource_valid(S("windows.sysmon-1"), 64));
	CHECK(!name_logsource_valid(S("Windows"), 64));
	CHECK(!name_logsource_valid(S("a b"), 64));
	CHECK(!name_logsource_valid(S("a/b"), 64));
	CHECK(!name_logsource_valid(S(""), 64));
	CHECK(!name_logsource_valid(NULL, 0, 64));
	memset(long_value, 'a', sizeof(long_value));
	CHECK(name_logsource_valid(long_value, 64, 64));
	CHECK(!name_logsource_valid(long_value, 65, 64));
	CHECK(name_logsource_valid(long_value, 65, 128));
}

int main(void)
{
	T_RUN(test_names);
	T_RUN(test_zones);
	T_RUN(test_logsources);
	return t_done();
}
