/*
 * Unit tests of enrich/ti: type recognition and the canonical form of every type.
 */
#include "enrich/ti.h"
#include "core/err.h"
#include "t.h"

#include <errno.h>
#include <string.h>

static void check_norm(enum ti_type type, const char *in, const char *want, int line)
{
	char out[TI_VALUE_BUF];
	size_t len = 0;
	struct err e = ERR_INIT;
	int rc = ti_normalize(type, in, strlen(in), out, &len, &e);

	if (!want) {
		t_check(rc == -EINVAL && e.msg[0], __FILE__, line, "'%s' refused (got %d '%.*s')",
			in, rc, rc ? 0 : (int)len, out);
		return;
	}
	t_check(rc == 0 && len == strlen(want) && !strcmp(out, want), __FILE__, line,
		"'%s' -> '%s': got %d '%s' %s", in, want, rc, rc ? "" : out, e.msg);
}

#define NORM(t, in, want) check_norm((t), (in), (want), __LINE__)

static void test_ip(void)
{
	NORM(TI_IP, "192.0.2.7", "192.0.2.7");
	NORM(TI_IP, "192.0.2.7/32", "192.0.2.7");
	NORM(TI_IP, "198.51.100.77/24", "198.51.100.0/24");
	NORM(TI_IP, "10.0.0.0/8", "10.0.0.0/8");
	NORM(TI_IP, "0.0.0.0/0", "0.0.0.0/0");
	NORM(TI_IP, "2001:DB8:0:0::1", "2001:db8::1");
	NORM(TI_IP, "2001:db8::1/128", "2001:db8::1");
	NORM(TI_IP, "2001:db8:ffff::/33", "2001:db8:8000::/33");
	NORM(TI_IP, "::ffff:192.0.2.1", "192.0.2.1");
	NORM(TI_IP, "::ffff:0:0/95", NULL);
	NORM(TI_IP, "192.0.2.256", NULL);
	NORM(TI_IP, "010.0.0.1", NULL);
	NORM(TI_IP, "10.0.0.0/33", NULL);
	NORM(TI_IP, "example.com", NULL);
}

static void test_domain(void)
{
	NORM(TI_DOMAIN, "Evil.EXAMPLE.com.", "evil.example.com");
	NORM(TI_DOMAIN, "*.example.org", "example.org");
	NORM(TI_DOMAIN, "xn--bcher-kva.example", "xn--bcher-kva.example");
	NORM(TI_DOMAIN, "B\xc3\xbc" "cher.Example", "b\xc3\xbc" "cher.example");
	NORM(TI_DOMAIN, "_dmarc.example.com", "_dmarc.example.com");
	NORM(TI_DOMAIN, "localhost", "localhost");
	NORM(TI_DOMAIN, "a..b", NULL);
	NORM(TI_DOMAIN, ".", NULL);
	NORM(TI_DOMAIN, "exa mple.com", NULL);
	NORM(TI_DOMAIN, "a/b.com", NULL);
	NORM(TI_DOMAIN, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", NULL);
}

static void test_url(void)
{
	NORM(TI_URL, "HTTP://Evil.Example.COM:80/Path/X?Q=1#frag", "http://evil.example.com/Path/X?Q=1");
	NORM(TI_URL, "https://example.com:443", "https://example.com/");
	NORM(TI_URL, "https://example.com:8443/a", "https://example.com:8443/a");
	NORM(TI_URL, "http://example.com:0080/", "http://example.com/");
	NORM(TI_URL, "http://User:Pw@Example.com/", "http://User:Pw@example.com/");
	NORM(TI_URL, "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x");
	NORM(TI_URL, "http://example.com?a=b", "http://example.com/?a=b");
	NORM(TI_URL, "ftp://files.example.net:21/a.exe", "ftp://files.example.net/a.exe");
	NORM(TI_URL, "example.com/path", NULL);
	NORM(TI_URL, "http:///path", NULL);
	NORM(TI_URL, "http://example.com:99999/", NULL);
	NORM(TI_URL, "http://example.com:8x/", NULL);
	NORM(TI_URL, "http://[::1/", NULL);
	NORM(TI_URL, "http://exa mple.com/", NULL);
}

static void test_hash_email(void)
{
	NORM(TI_MD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e");
	NORM(TI_SHA1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
	     "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	NORM(TI_SHA256, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	NORM(TI_MD5, "d41d8cd98f00b204e9800998ecf8427", NULL);
	NORM(TI_SHA1, "d41d8cd98f00b204e9800998ecf8427e", NULL);
	NORM(TI_MD5, "g41d8cd98f00b204e9800998ecf8427e", NULL);
	NORM(TI_EMAIL, "Phish@Evil.Example.", "phish@evil.example");
	NORM(TI_EMAIL, "a@b@evil.example", "a@b@evil.example");
	NORM(TI_EMAIL, "@evil.example", NULL);
	NORM(TI_EMAIL, "user@", NULL);
	NORM(TI_EMAIL, "us er@example.com", NULL);
}

static void check_guess(const char *s, int want, int line)
{
	enum ti_type t = TI_N_TYPES;
	struct err e = ERR_INIT;
	int rc = ti_guess_type(s, strlen(s), &t, &e);

	if (want < 0)
		t_check(rc == -EINVAL && e.msg[0], __FILE__, line, "'%s' not recognised (got %s)",
			s, rc ? "error" : ti_type_name(t));
	else
		t_check(rc == 0 && (int)t == want, __FILE__, line, "'%s' is %s: got %d %s", s,
			ti_type_name((enum ti_type)want), rc, rc ? e.msg : ti_type_name(t));
}

#define GUESS(s, want) check_guess((s), (want), __LINE__)

static void test_guess(void)
{
	GUESS("192.0.2.1", TI_IP);
	GUESS("10.0.0.0/8", TI_IP);
	GUESS("2001:db8::/32", TI_IP);
	GUESS("evil.example.com", TI_DOMAIN);
	GUESS("*.evil.example", TI_DOMAIN);
	GUESS("https://evil.example/x", TI_URL);
	GUESS("phish@evil.example", TI_EMAIL);
	GUESS("d41d8cd98f00b204e9800998ecf8427e", TI_MD5);
	GUESS("da39a3ee5e6b4b0d3255bfef95601890afd80709", TI_SHA1);
	GUESS("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", TI_SHA256);
	GUESS("1.2.3.4.5", -1);
	GUESS("localhost", -1);
	GUESS("hello world", -1);
	GUESS("", -1);
	GUESS("deadbeef", -1);
}

static void test_type_names(void)
{
	enum ti_type t;

	for (int i = 0; i < TI_N_TYPES; i++) {
		const char *n = ti_type_name((enum ti_type)i);

		CHECK_INT(ti_type_parse(n, strlen(n), &t), 0);
		CHECK_INT(t, i);
	}
	CHECK_INT(ti_type_parse("SHA-256", 7, &t), 0);
	CHECK_INT(t, TI_SHA256);
	CHECK_INT(ti_type_parse("ipv6", 4, &t), 0);
	CHECK_INT(t, TI_IP);
	CHECK_INT(ti_type_parse("md", 2, &t), -EINVAL);
	CHECK_STR(ti_type_name((enum ti_type)99), "?");
}

int main(void)
{
	T_RUN(test_ip);
	T_RUN(test_domain);
	T_RUN(test_url);
	T_RUN(test_hash_email);
	T_RUN(test_guess);
	T_RUN(test_type_names);
	return t_done();
}
