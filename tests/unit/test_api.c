/*
 * Unit tests of the API listener's start-up rules and its first answers: plain HTTP only on
 * loopback, TLS files in pairs, the bound address, and requests without a valid token, for
 * another tenant or with a malformed parameter refused before any search runs.
 */
#include "core/err.h"
#include "portal/api.h"
#include "store/meta.h"
#include "store/store.h"
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *data_dir(void)
{
	static char dir[256];

	snprintf(dir, sizeof(dir), "%s/%s", t_tmp_dir(), t_name());
	return dir;
}

/* GET path with an optional bearer token; the status code of the answer, or -1. */
static int http_get(const char *address, const char *path, const char *token, char *body,
		    size_t body_max)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char req[1024], resp[8192];
	const char *colon = strrchr(address, ':');
	size_t got = 0;
	ssize_t n;
	int fd, status = -1;

	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%s\r\n",
		 path, token ? "Authorization: Bearer " : "", token ? token : "",
		 token ? "\r\n" : "");
	if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
		while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
			got += (size_t)n;
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.1 %d", &status) != 1)
		return -1;
	{
		const char *b = strstr(resp, "\r\n\r\n");

		snprintf(body, body_max, "%s", b ? b + 4 : "");
	}
	return status;
}

static void test_start_rules(void)
{
	struct api *a = NULL;
	struct err e = ERR_INIT;
	struct api_config c = { .listen = "0.0.0.0:0", .data_dir = data_dir() };

	CHECK_INT(api_start(&a, &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "not a loopback address") != NULL);
	c.listen = "[::]:0";
	CHECK_INT(api_start(&a, &c, &e), -EINVAL);
	c.listen = "127.0.0.1:0";
	c.tls_cert = "/nonexistent.pem";
	CHECK_INT(api_start(&a, &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "go together") != NULL);
	c.tls_key = "/nonexistent.key";
	CHECK(api_start(&a, &c, &e) < 0); /* the files cannot be read */
	CHECK(strstr(e.msg, "nonexistent") != NULL);
	c.listen = "nonsense";
	c.tls_cert = c.tls_key = NULL;
	CHECK(api_start(&a, &c, &e) < 0);
	c.listen = "127.0.0.1:0";
	CHECK_INT(api_start(&a, &c, &e), 0);
	CHECK(strncmp(api_address(a), "127.0.0.1:", 10) == 0);
	CHECK(strcmp(api_address(a), "127.0.0.1:0") != 0);
	CHECK_STR(api_scheme(a), "http");
	api_stop(a);
	api_stop(NULL);
}

static void test_refusals(void)
{
	struct api *a = NULL;
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct api_config c = { .listen = "127.0.0.1:0", .data_dir = data_dir() };
	char tok[META_TOKEN_LEN + 1], path[512], body[4096];
	unsigned char h[META_TOKEN_HASH_LEN];
	bool took = false;

	CHECK_INT(meta_open(&m, data_dir(), &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-a", &e), 0);
	CHECK_INT(meta_tenant_add(m, "city-b", &e), 0);
	CHECK_INT(meta_token_new(tok, &e), 0);
	meta_token_hash(tok, strlen(tok), h);
	CHECK_INT(meta_token_add(m, "b-reader", "city-b", h, &e), 0);
	meta_close(m);
	CHECK_INT(api_start(&a, &c, &e), 0);
	CHECK_INT(http_get(api_address(a), "/api/v1/search?q=*", NULL, body, sizeof(body)), 401);
	CHECK(strstr(body, "\"error\"") != NULL);
	CHECK_INT(http_get(api_address(a), "/api/v1/search?q=*", "kbn_wrong", body, sizeof(body)),
		  401);
	CHECK_INT(http_get(api_address(a), "/api/v1/search?tenant=city-a", tok, body,
			   sizeof(body)), 403);
	CHECK_INT(http_get(api_address(a), "/api/v1/search?tenant=city-b%00", tok, body,
			   sizeof(body)), 400);
	CHECK_INT(http_get(api_address(a), "/api/v1/search?q=a%3A%28", tok, body, sizeof(body)),
		  400);
	CHECK(strstr(body, "column") != NULL);
	CHECK_INT(http_get(api_address(a), "/api/v1/search?limit=-5", tok, body, sizeof(body)),
		  400);
	CHECK_INT(http_get(api_address(a), "/api/v2/search", tok, body, sizeof(body)), 404);
	/* the token's own tenant: a stream (empty: nothing stored) */
	snprintf(path, sizeof(path), "/api/v1/search?q=*");
	CHECK_INT(http_get(api_address(a), path, tok, body, sizeof(body)), 200);
	/*
	 * as many searches running as may: 503, to be tried again. The slots are the daemon's,
	 * shared with the control socket's searches (test_control.py): one held elsewhere is
	 * one the API cannot take.
	 */
	store_test_max_searches(1);
	/* the search above gives its slot back as its thread ends, just after its answer */
	for (int i = 0; i < 500 && !(took = store_search_slot_take()); i++)
		usleep(10000);
	CHECK(took);
	CHECK(!store_search_slot_take()); /* the one slot is held: a second is refused */
	CHECK_INT(http_get(api_address(a), path, tok, body, sizeof(body)), 503);
	CHECK(strstr(body, "{\"error\":\"" STORE_SEARCHES_BUSY "\"}") != NULL);
	store_search_slot_give();
	store_test_max_searches(STORE_CLIENT_SEARCHES_MAX);
	CHECK_INT(http_get(api_address(a), path, tok, body, sizeof(body)), 200);
	api_stop(a);
}

int main(void)
{
	if (!t_tmp_dir())
		return 1;
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_start_rules);
	T_RUN(test_refusals);
	return t_done();
}
