/* Unit tests of the tenants file of `koban tenant import`: both syntaxes, every mistake named
 * with its line, limits, and allocation failures. */
#include "store/tenantfile.h"
#include "core/err.h"
#include "core/mem.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int parse(const char *text, struct tenantfile **tf, struct err *e)
{
	return tenantfile_parse(tf, "t.yaml", text, strlen(text), e);
}

static void test_yaml_and_json(void)
{
	static const char *const texts[] = {
		"tenants:\n"
		"  - name: city-a\n"
		"    sources:\n"
		"      - name: fw-a\n"
		"        cidr: 10.1.0.0/16\n"
		"        tz: Asia/Tokyo\n"
		"      - { name: r1, host: rtr.example, listener: tls, format: rfc5424 }\n"
		"  - name: city-b\n"
		"    sources: []\n",
		"{\"tenants\": [{\"name\": \"city-a\", \"sources\": [\n"
		" {\"name\": \"fw-a\", \"cidr\": \"10.1.0.0/16\", \"tz\": \"Asia/Tokyo\"},\n"
		" {\"name\": \"r1\", \"host\": \"rtr.example\", \"listener\": \"tls\","
		" \"format\": \"rfc5424\"}]},\n"
		" {\"name\": \"city-b\"}]}\n",
	};

	for (size_t i = 0; i < 2; i++) {
		struct tenantfile *tf = NULL;
		struct err e = ERR_INIT;

		CHECK_INT(parse(texts[i], &tf, &e), 0);
		if (!tf) {
			t_check(0, __FILE__, __LINE__, "%s", e.msg);
			continue;
		}
		CHECK_INT(tf->n_tenants, 2);
		CHECK_INT(tf->n_sources, 2);
		CHECK_STR(tf->tenants[1].name, "city-b");
		CHECK_STR(tf->sources[0].s.tenant, "city-a");
		CHECK_STR(tf->sources[0].s.cidr, "10.1.0.0/16");
		CHECK_STR(tf->sources[0].s.format, "auto");
		CHECK(tf->sources[0].s.host == NULL);
		CHECK_STR(tf->sources[1].s.listener, "tls");
		CHECK_STR(tf->sources[1].s.format, "rfc5424");
		tenantfile_free(tf);
	}
}

static void test_mistakes_name_the_line(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "tenant:\n  - name: a\n", "t.yaml:1: unknown key (expected tenants): tenant" },
		{ "tenants: 3\n", "t.yaml: 'tenants': expected a list of tenants" },
		{ "- a\n", "t.yaml: expected a mapping with the key 'tenants'" },
		{ "tenants:\n  - name: a\n    colour: red\n", "t.yaml:3: unknown key in a tenant" },
		{ "tenants:\n  - name: Bad Name\n", "t.yaml:2: tenant name 'Bad Name'" },
		{ "tenants:\n  - sources: []\n", "t.yaml:2: a tenant without a name" },
		{ "tenants:\n  - name: a\n    sources:\n      - name: s\n        cidr: 10.0.0.0/99\n",
		  "t.yaml:4: cidr '10.0.0.0/99'" },
		{ "tenants:\n  - name: a\n    sources:\n      - name: s\n", "t.yaml:4: source 's': "
		  "give at least one" },
		{ "tenants:\n  - name: a\n    sources:\n      - name: s\n        cidr: [1]\n",
		  "t.yaml:5: expected a single value for cidr" },
		{ "tenants:\n  - name: a\n  - name: b\n  - name: a\n",
		  "t.yaml:4: tenant 'a' again (first at line 2)" },
		{ "tenants:\n  - name: a\n    sources:\n      - {name: s, host: h}\n"
		  "  - name: b\n    sources:\n      - {name: s, host: h}\n      - {name: s, host: i}\n",
		  "t.yaml:8: source 's' of tenant 'b' again (first at line 7)" },
		{ "tenants: [\n", "t.yaml:2: " },
		{ "tenants:\n  - name: \"a\\0b\"\n", "t.yaml:2: a NUL byte" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tenantfile *tf = NULL;
		struct err e = ERR_INIT;

		CHECK(parse(cases[i].text, &tf, &e) < 0);
		CHECK(tf == NULL);
		if (!strstr(e.msg, cases[i].want))
			t_check(0, __FILE__, __LINE__, "case %zu: %s", i, e.msg);
	}
}

static void test_load_and_limits(void)
{
	struct tenantfile *tf = NULL;
	struct err e = ERR_INIT;
	char path[512];
	FILE *f;

	CHECK_INT(tenantfile_load(&tf, "/nonexistent/t.yaml", &e), -ENOENT);
	CHECK(strstr(e.msg, "/nonexistent/t.yaml"));
	CHECK_INT(tenantfile_load(&tf, t_tmp_dir(), &e), -EINVAL);
	CHECK(strstr(e.msg, "expected a regular file"));
	snprintf(path, sizeof(path), "%s/t.yaml", t_tmp_dir());
	f = fopen(path, "w");
	fputs("tenants:\n  - name: a\n", f);
	fclose(f);
	CHECK_INT(tenantfile_load(&tf, path, &e), 0);
	CHECK(tf && tf->n_tenants == 1);
	tenantfile_free(tf);
	CHECK_INT(tenantfile_parse(&tf, "big", "x", TENANTFILE_MAX_BYTES + 1, &e), -EFBIG);
}

static void test_out_of_memory(void)
{
	const char *text = "tenants:\n  - name: a\n    sources:\n      - {name: s, cidr: 10.0.0.0/8}\n";

	for (int n = 0; n < 8; n++) {
		struct tenantfile *tf = NULL;
		struct err e = ERR_INIT;
		int rc;

		mem_fail_after(n);
		rc = parse(text, &tf, &e);
		mem_fail_after(-1);
		CHECK(rc == 0 || (rc < 0 && tf == NULL && e.msg[0]));
		tenantfile_free(tf);
	}
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	T_RUN(test_yaml_and_json);
	T_RUN(test_mistakes_name_the_line);
	T_RUN(test_load_and_limits);
	T_RUN(test_out_of_memory);
	return t_done();
}
