/* Unit tests of acknowledgement (issue 11 part 3): the token format (a token made here and
 * its fields, expiry, forgery, malformed tokens with their reasons), the key file (made with
 * mode 0600 when missing, read back, refused when readable by others), the Twilio signature
 * (Twilio's documented example), form parsing, and the endpoints through ackpage_handle on a
 * koban.db with one incident: GET never acknowledges, POST does once, a second POST changes
 * nothing, phone callbacks need a valid signature, status callbacks reach the hook. */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "notify/ack.h"
#include "portal/ackpage.h"
#include "store/meta.h"
#include "t.h"
#include "t_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS 1000000000LL
#define NOW (1796000000LL * NS)

static struct ack_key *key_at(const char *name)
{
	char path[512];
	struct ack_key *k = NULL;
	struct err e = ERR_INIT;

	snprintf(path, sizeof(path), "%s/%s", t_tmp_dir(), name);
	if (ack_key_load(&k, path, &e) < 0)
		t_check(0, __FILE__, __LINE__, "ack_key_load: %s", e.msg);
	return k;
}

static void test_key_file(void)
{
	char path[512], again[512];
	struct ack_key *k = key_at("k1.key"), *k2 = NULL;
	struct err e = ERR_INIT;
	struct stat st;
	size_t len = 0;
	char *text;

	snprintf(path, sizeof(path), "%s/k1.key", t_tmp_dir());
	CHECK(k != NULL);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	text = t_read_file(path, &len);
	CHECK_INT(len, 65);
	CHECK(text && text[64] == '\n');
	free(text);
	/* read back: the same key makes the same token */
	CHECK_INT(ack_key_load(&k2, path, &e), 0);
	struct buf a = BUF_INIT(512), b = BUF_INIT(512);
	CHECK_INT(ack_token_make(k, "acme", 1, 2, NOW, &a, &e), 0);
	CHECK_INT(ack_token_make(k2, "acme", 1, 2, NOW, &b, &e), 0);
	CHECK_STR(a.p, b.p);
	ack_key_free(k2);
	k2 = NULL;
	/* readable by others: refused */
	CHECK_INT(chmod(path, 0644), 0);
	CHECK(ack_key_load(&k2, path, &e) < 0);
	CHECK(strstr(e.msg, "notify ack key") != NULL);
	CHECK(k2 == NULL);
	/* not a key */
	snprintf(again, sizeof(again), "%s/bad.key", t_tmp_dir());
	int fd = open(again, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "short\n", 6) == 6);
	close(fd);
	CHECK_INT(ack_key_load(&k2, again, &e), -EINVAL);
	CHECK(strstr(e.msg, "64 hexadecimal digits") != NULL);
	buf_release(&a);
	buf_release(&b);
	ack_key_free(k);
}

static void test_token(void)
{
	struct ack_key *k = key_at("k2.key"), *other = key_at("k3.key");
	struct buf t = BUF_INIT(ACK_TOKEN_MAX);
	struct ack_claim c;
	struct err e = ERR_INIT;
	char *dot;

	CHECK_INT(ack_token_make(k, "city-b", 42, 7, NOW + 3600 * NS + 5, &t, &e), 0);
	CHECK(!strncmp(t.p, "ka1.city-b.42.7.1796003600.", 27));
	CHECK_INT(t.len, 27 + 43);
	CHECK(strspn(t.p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
	      t.len);
	CHECK_INT(ack_token_check(k, t.p, t.len, NOW, &c, &e), 0);
	CHECK_STR(c.tenant, "city-b");
	CHECK_INT(c.incident, 42);
	CHECK_INT(c.notice, 7);
	CHECK_INT(c.expires_ns, (1796003600LL) * NS);
	/* expired: the claim is filled, the reason says so */
	CHECK_INT(ack_token_check(k, t.p, t.len, NOW + 3600 * NS, &c, &e), -ESTALE);
	CHECK(strstr(e.msg, "expired") != NULL);
	CHECK_INT(c.incident, 42);
	/* another key: forged */
	CHECK_INT(ack_token_check(other, t.p, t.len, NOW, &c, &e), -EPERM);
	CHECK(strstr(e.msg, "not genuine") != NULL);
	CHECK_INT(c.incident, 0);
	CHECK_STR(c.tenant, "");
	/* a field changed: forged */
	t.p[11] = '3'; /* incident 42 -> 43 */
	CHECK_INT(ack_token_check(k, t.p, t.len, NOW, &c, &e), -EPERM);
	t.p[11] = '2';
	dot = strrchr(t.p, '.');
	dot[1] = dot[1] == 'A' ? 'B' : 'A';
	CHECK_INT(ack_token_check(k, t.p, t.len, NOW, &c, &e), -EPERM);
	/* malformed */
	static const char *const bad[] = {
		"", "ka1.", "ka2.acme.1.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.acme.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.ACME.1.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.acme.01.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.acme.0.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.acme.1.1.1.AAAA", "ka1.acme.1.-1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.acme.99999999999999999999.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka1.acme.1.1.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ack_token_check(k, bad[i], strlen(bad[i]), NOW, &c, &e);

		t_check(rc == -EINVAL, __FILE__, __LINE__, "bad token %zu: %d", i, rc);
		t_check(strstr(e.msg, "malformed") != NULL, __FILE__, __LINE__, "%s", e.msg);
	}
	/* make refuses what check would */
	buf_reset(&t);
	CHECK_INT(ack_token_make(k, "Bad Name", 1, 1, NOW, &t, &e), -EINVAL);
	CHECK_INT(ack_token_make(k, "acme", 0, 1, NOW, &t, &e), -EINVAL);
	CHECK_INT(t.len, 0);
	buf_release(&t);
	ack_key_free(k);
	ack_key_free(other);
}

static void test_signature(void)
{
	/* Twilio's documented example (twilio.com/docs/usage/webhooks/webhooks-security) */
	static const char body[] = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234"
				   "&From=%2B12349013030&To=%2B18005551212";
	struct ackpage_param pa[8];
	struct arena ar;
	char sig[32];
	int n;

	arena_init(&ar, 1024, 65536);
	n = ackpage_form_parse(body, strlen(body), &ar, pa, 8);
	CHECK_INT(n, 5);
	CHECK_MEM(pa[1].value, pa[1].value_len, "+12349013030");
	/* order of the body does not matter: reversed */
	struct ackpage_param rev[5] = { pa[4], pa[3], pa[2], pa[1], pa[0] };
	ackpage_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", rev, 5, sig);
	CHECK_STR(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
	/* forms: '+' is a space, empty pairs skipped, bad escapes refused, a limit */
	n = ackpage_form_parse("a=1+2&&b=%41%42&c", 17, &ar, pa, 8);
	CHECK_INT(n, 3);
	CHECK_MEM(pa[0].value, pa[0].value_len, "1 2");
	CHECK_MEM(pa[1].value, pa[1].value_len, "AB");
	CHECK_MEM(pa[2].name, pa[2].name_len, "c");
	CHECK_INT(pa[2].value_len, 0);
	CHECK_INT(ackpage_form_parse("a=%4", 4, &ar, pa, 8), -EINVAL);
	CHECK_INT(ackpage_form_parse("a=%zz", 5, &ar, pa, 8), -EINVAL);
	CHECK_INT(ackpage_form_parse("a&b&c", 5, &ar, pa, 2), -EINVAL);
	arena_release(&ar);
}

/* ---- the endpoints ---- */

struct hook_log {
	int n;
	char tenant[64], status[32], reason[128];
	int64_t notice;
};

static void on_status(void *ctx, const char *tenant, int64_t notice, const char *status,
		      const char *reason)
{
	struct hook_log *h = ctx;

	h->n++;
	snprintf(h->tenant, sizeof(h->tenant), "%s", tenant);
	snprintf(h->status, sizeof(h->status), "%s", status);
	snprintf(h->reason, sizeof(h->reason), "%s", reason);
	h->notice = notice;
}

struct tl {
	int n, acks, clocks;
	char actor[64], why[256], detail[256];
};

static void on_entry(void *ctx, const struct meta_incident_entry *en)
{
	struct tl *t = ctx;

	t->n++;
	if (!strcmp(en->action, "acknowledged")) {
		t->acks++;
		snprintf(t->actor, sizeof(t->actor), "%s", en->actor);
		snprintf(t->why, sizeof(t->why), "%s", en->why);
		snprintf(t->detail, sizeof(t->detail), "%s", en->detail);
	}
	if (!strcmp(en->action, "clock"))
		t->clocks++;
}

static struct tl timeline(struct meta *m, int64_t id)
{
	struct tl t = { 0 };
	struct err e = ERR_INIT;

	CHECK_INT(meta_incident_timeline(m, "acme", id, on_entry, &t, &e), 0);
	return t;
}

static unsigned req(struct ackpage *p, const char *method, const char *path, const char *body,
		    const char *sig, struct ackpage_answer *an)
{
	struct ackpage_request rq = { method, path, body, body ? strlen(body) : 0, sig, "https",
				      "soc.example", NULL, NOW };

	return ackpage_handle(p, &rq, an);
}

static int64_t add_incident(struct meta *m, const char *title)
{
	struct meta_incident inc = { .tenant = "acme", .title = title, .rule_id = "r-1",
				     .group_key = title, .level = 3, .status = "new", .owner = "",
				     .n_alerts = 1, .evidence = "[]", .entities = "{}",
				     .terminal = "{}", .first_ns = NOW, .last_ns = NOW,
				     .detected_ns = NOW, .updated_ns = NOW };
	struct err e = ERR_INIT;
	int64_t id = 0;

	CHECK_INT(meta_incident_add(m, &inc, &id, &e), 0);
	return id;
}

static void test_pages(void)
{
	struct meta *m = t_meta_open("acme", NULL);
	char keyf[512], tokf[512];
	struct hook_log hl = { 0 };
	struct ackpage_config c = { .data_dir = t_meta_dir(), .key_file = keyf,
				    .base_url = "https://soc.example/", .phone_token_file = tokf,
				    .hooks = { on_status, &hl } };
	struct ackpage *p = NULL;
	struct ack_key *k;
	struct buf tok = BUF_INIT(ACK_TOKEN_MAX), path = BUF_INIT(512);
	struct ackpage_answer an;
	struct err e = ERR_INIT;
	int64_t id;
	struct tl t;

	if (!m)
		return;
	id = add_incident(m, "Exploit <script> against web01");
	snprintf(keyf, sizeof(keyf), "%s/ack.key", t_tmp_dir());
	snprintf(tokf, sizeof(tokf), "%s/twilio.token", t_tmp_dir());
	int fd = open(tokf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "12345\n", 6) == 6);
	close(fd);
	CHECK_INT(ackpage_new(&p, &c, &e), 0);
	k = key_at("ack.key");
	CHECK_INT(ack_token_make(k, "acme", id, 9, NOW + 60 * NS, &tok, &e), 0);

	/* GET: the page, escaped, with a button; nothing acknowledged */
	CHECK_INT(req(p, "GET", tok.p, NULL, NULL, &an), 200);
	CHECK(strstr(an.body.p, "Exploit &lt;script&gt; against web01") != NULL);
	CHECK(strstr(an.body.p, "<form method=\"post\">") != NULL);
	CHECK(strstr(an.body.p, "Critical") != NULL);
	buf_release(&an.body);
	CHECK_INT(req(p, "HEAD", tok.p, NULL, NULL, &an), 200);
	buf_release(&an.body);
	t = timeline(m, id);
	CHECK_INT(t.acks, 0);
	/* POST: acknowledged once, by "link" (the recipient is unknown here), how web */
	CHECK_INT(req(p, "POST", tok.p, "ack=1", NULL, &an), 200);
	CHECK(strstr(an.body.p, "Acknowledged") != NULL);
	CHECK(strstr(an.body.p, "2026-11-30 09:53:20 JST (2026-11-30T00:53:20Z)") != NULL);
	buf_release(&an.body);
	t = timeline(m, id);
	CHECK_INT(t.acks, 1);
	CHECK_INT(t.clocks, 1);
	CHECK_STR(t.actor, "link");
	CHECK_STR(t.detail, "{\"how\":\"web\",\"notice\":9,\"by\":\"link\"}");
	CHECK_STR(t.why, "acknowledged by link (web link, notice 9)");
	/* again: already, nothing changed */
	CHECK_INT(req(p, "POST", tok.p, NULL, NULL, &an), 200);
	CHECK(strstr(an.body.p, "Already acknowledged") != NULL);
	CHECK(strstr(an.body.p, "link (web)") != NULL);
	buf_release(&an.body);
	t = timeline(m, id);
	CHECK_INT(t.acks, 1);
	CHECK_INT(t.n, 2);
	/* the GET now says who */
	CHECK_INT(req(p, "GET", tok.p, NULL, NULL, &an), 200);
	CHECK(strstr(an.body.p, "already been acknowledged") != NULL);
	CHECK(strstr(an.body.p, "<form") == NULL);
	buf_release(&an.body);
	/* refused: expired, forged, malformed; no tenant data in the page */
	buf_reset(&tok);
	CHECK_INT(ack_token_make(k, "acme", id, 9, NOW - NS, &tok, &e), 0);
	CHECK_INT(req(p, "POST", tok.p, NULL, NULL, &an), 403);
	CHECK(strstr(an.body.p, "expired") != NULL);
	CHECK(strstr(an.body.p, "web01") == NULL && strstr(an.body.p, "acme") == NULL);
	buf_release(&an.body);
	tok.p[tok.len - 1] = tok.p[tok.len - 1] == 'A' ? 'B' : 'A';
	CHECK_INT(req(p, "GET", tok.p, NULL, NULL, &an), 403);
	CHECK(strstr(an.body.p, "not genuine") != NULL);
	buf_release(&an.body);
	CHECK_INT(req(p, "GET", "nothing", NULL, NULL, &an), 403);
	CHECK(strstr(an.body.p, "malformed") != NULL);
	buf_release(&an.body);
	CHECK_INT(req(p, "DELETE", "nothing", NULL, NULL, &an), 405);
	CHECK_STR(an.allow, "GET, HEAD, POST");
	buf_release(&an.body);
	/* a valid token of an incident that does not exist */
	buf_reset(&tok);
	CHECK_INT(ack_token_make(k, "acme", id + 100, 9, NOW + NS, &tok, &e), 0);
	CHECK_INT(req(p, "GET", tok.p, NULL, NULL, &an), 404);
	buf_release(&an.body);

	/* phone: a second incident; the signature covers base_url + path and the form */
	int64_t id2 = add_incident(m, "Brute force");
	static const char form2[] = "AccountSid=AC1&CallSid=CA9&Digits=2&To=%2B819012345678";
	static const char form1[] = "AccountSid=AC1&CallSid=CA9&Digits=1&To=%2B819012345678";
	struct ackpage_param pa[8];
	struct arena ar;
	char sig[32];

	arena_init(&ar, 1024, 65536);
	buf_reset(&tok);
	CHECK_INT(ack_token_make(k, "acme", id2, 11, NOW + 60 * NS, &tok, &e), 0);
	CHECK_INT(buf_addf(&path, "phone/%s", tok.p), 0);
	char url[512];
	snprintf(url, sizeof(url), "https://soc.example/ack/%s", path.p);
	int n = ackpage_form_parse(form2, strlen(form2), &ar, pa, 8);
	ackpage_twilio_signature("12345", url, pa, (size_t)n, sig);
	CHECK_INT(req(p, "POST", path.p, form2, sig, &an), 200); /* key 2: the prompt again */
	CHECK_STR(an.content_type, "text/xml; charset=utf-8");
	CHECK(strstr(an.body.p, "<Gather input=\"dtmf\" numDigits=\"1\"") != NULL);
	CHECK(strstr(an.body.p, url) != NULL);
	CHECK(strstr(an.body.p, "Brute force") != NULL);
	buf_release(&an.body);
	CHECK_INT(timeline(m, id2).acks, 0);
	/* the signature of key 2 does not sign key 1; none at all; the GET is not allowed */
	CHECK_INT(req(p, "POST", path.p, form1, sig, &an), 403);
	buf_release(&an.body);
	CHECK_INT(req(p, "POST", path.p, form1, NULL, &an), 403);
	buf_release(&an.body);
	CHECK_INT(req(p, "GET", path.p, NULL, NULL, &an), 405);
	buf_release(&an.body);
	CHECK_INT(timeline(m, id2).acks, 0);
	/* Twilio may sign the URL with the scheme's port: accepted too (key 2: the prompt) */
	char url443[512];
	snprintf(url443, sizeof(url443), "https://soc.example:443/ack/%s", path.p);
	n = ackpage_form_parse(form2, strlen(form2), &ar, pa, 8);
	ackpage_twilio_signature("12345", url443, pa, (size_t)n, sig);
	CHECK_INT(req(p, "POST", path.p, form2, sig, &an), 200);
	buf_release(&an.body);
	snprintf(url443, sizeof(url443), "https://soc.example:444/ack/%s", path.p);
	ackpage_twilio_signature("12345", url443, pa, (size_t)n, sig);
	CHECK_INT(req(p, "POST", path.p, form2, sig, &an), 403);
	buf_release(&an.body);
	n = ackpage_form_parse(form1, strlen(form1), &ar, pa, 8);
	ackpage_twilio_signature("12345", url, pa, (size_t)n, sig);
	CHECK_INT(req(p, "POST", path.p, form1, sig, &an), 200);
	CHECK(strstr(an.body.p, "確認を記録しました。") != NULL);
	CHECK(strstr(an.body.p, "<Hangup/>") != NULL);
	buf_release(&an.body);
	t = timeline(m, id2);
	CHECK_INT(t.acks, 1);
	CHECK_STR(t.actor, "+819012345678");
	CHECK_STR(t.detail, "{\"how\":\"phone\",\"notice\":11,\"by\":\"+819012345678\"}");
	CHECK_INT(req(p, "POST", path.p, form1, sig, &an), 200);
	CHECK(strstr(an.body.p, "すでに確認済み") != NULL);
	buf_release(&an.body);
	CHECK_INT(timeline(m, id2).acks, 1);

	/* status callback: to the hook, 204; unsigned: 403 and no hook */
	static const char st[] = "CallSid=CA9&CallStatus=no-answer&ErrorCode=";
	buf_reset(&path);
	CHECK_INT(buf_addf(&path, "phone-status/%s", tok.p), 0);
	snprintf(url, sizeof(url), "https://soc.example/ack/%s", path.p);
	n = ackpage_form_parse(st, strlen(st), &ar, pa, 8);
	ackpage_twilio_signature("12345", url, pa, (size_t)n, sig);
	CHECK_INT(req(p, "POST", path.p, st, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &an), 403);
	buf_release(&an.body);
	CHECK_INT(hl.n, 0);
	CHECK_INT(req(p, "POST", path.p, st, sig, &an), 204);
	CHECK_INT(an.body.len, 0);
	buf_release(&an.body);
	CHECK_INT(hl.n, 1);
	CHECK_STR(hl.tenant, "acme");
	CHECK_INT(hl.notice, 11);
	CHECK_STR(hl.status, "no-answer");
	CHECK_STR(hl.reason, "");

	arena_release(&ar);
	buf_release(&tok);
	buf_release(&path);
	ack_key_free(k);
	ackpage_free(p);
	meta_close(m);
}

/* Every allocation failing in turn: a clean -ENOMEM, nothing half made (ASan sees leaks). */
static void test_alloc_failures(void)
{
	char keyf[512];
	struct ackpage_config c = { .data_dir = t_tmp_dir(), .key_file = keyf };
	struct err e = ERR_INIT;
	int ok = 0;

	snprintf(keyf, sizeof(keyf), "%s/alloc.key", t_tmp_dir());
	for (long n = 0; n < 20; n++) {
		struct ackpage *p = NULL;
		int rc;

		mem_fail_after(n);
		rc = ackpage_new(&p, &c, &e);
		mem_fail_after(-1);
		t_check(rc == 0 || rc == -ENOMEM, __FILE__, __LINE__, "%ld: %d %s", n, rc, e.msg);
		t_check((rc == 0) == (p != NULL), __FILE__, __LINE__, "%ld", n);
		ok += rc == 0;
		ackpage_free(p);
	}
	CHECK(ok > 0);
}

int main(void)
{
	T_RUN(test_key_file);
	T_RUN(test_token);
	T_RUN(test_signature);
	T_RUN(test_pages);
	T_RUN(test_alloc_failures);
	return t_done();
}
