/* Unit tests of the RELP wire format: frames in every chunking, DATA with LF, DATALEN 0,
 * oversized DATA cut, protocol errors, offers, answers. */
#include "ingest/relpwire.h"
#include "core/mem.h"
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_OUT 16

struct got {
	uint32_t txnr[MAX_OUT];
	enum relpwire_cmd cmd[MAX_OUT];
	char name[MAX_OUT][RELPWIRE_CMD_MAX + 1];
	char data[MAX_OUT][512];
	size_t len[MAX_OUT];
	bool truncated[MAX_OUT];
	size_t n;
	int rc;
	char error[128];
};

/* Feeds s in chunks: split 0 = all at once, 1 = byte by byte, else random sizes 1..split. */
static void feed(struct got *g, size_t max, const char *s, size_t len, size_t split)
{
	struct relpwire_parser p;
	struct relpwire_frame f;
	size_t off = 0;

	memset(g, 0, sizeof(*g));
	relpwire_init(&p, max);
	while (off < len && g->rc == 0) {
		size_t k = split == 0 ? len : split == 1 ? 1 : 1 + (size_t)rand() % split;
		size_t n = k < len - off ? k : len - off;
		const char *in = s + off;
		int rc;

		off += n;
		while ((rc = relpwire_next(&p, &in, &n, &f)) > 0) {
			if (g->n < MAX_OUT) {
				g->txnr[g->n] = f.txnr;
				g->cmd[g->n] = f.cmd;
				memcpy(g->name[g->n], f.name, sizeof(f.name));
				memcpy(g->data[g->n], f.data, f.len < 512 ? f.len : 512);
				g->len[g->n] = f.len;
				g->truncated[g->n] = f.truncated;
			}
			g->n++;
		}
		if (rc < 0)
			g->rc = rc;
		else
			CHECK_INT(n, 0);
	}
	snprintf(g->error, sizeof(g->error), "%s", relpwire_error(&p));
	relpwire_release(&p);
}

static const char session[] =
	"1 open 86 relp_version=0\nrelp_software=librelp,1.13.0,http://librelp.adiscon.com\n"
	"commands=syslog\n"
	"2 syslog 15 <13>line1\nline2\n"
	"3 syslog 0\n"
	"4 close 0\n";

static void test_session_every_chunking(void)
{
	for (size_t split = 0; split < 40; split++) {
		struct got g;

		feed(&g, 1024, session, sizeof(session) - 1, split);
		CHECK_INT(g.rc, 0);
		CHECK_INT(g.n, 4);
		CHECK_INT(g.txnr[0], 1);
		CHECK_INT(g.cmd[0], RELPWIRE_OPEN);
		CHECK_INT(g.len[0], 86);
		CHECK_INT(g.cmd[1], RELPWIRE_SYSLOG);
		CHECK_MEM(g.data[1], g.len[1], "<13>line1\nline2"); /* the LF inside is kept */
		CHECK_INT(g.truncated[1], 0);
		CHECK_INT(g.txnr[2], 3);
		CHECK_INT(g.len[2], 0);
		CHECK_INT(g.cmd[3], RELPWIRE_CLOSE);
		CHECK_STR(g.name[3], "close");
	}
}

static void test_oversized_data_cut(void)
{
	static const char s[] = "7 syslog 10 0123456789\n8 syslog 3 abc\n";

	for (size_t split = 0; split < 12; split++) {
		struct got g;

		feed(&g, 4, s, sizeof(s) - 1, split);
		CHECK_INT(g.rc, 0);
		CHECK_INT(g.n, 2);
		CHECK_MEM(g.data[0], g.len[0], "0123");
		CHECK_INT(g.truncated[0], 1);
		CHECK_MEM(g.data[1], g.len[1], "abc");
		CHECK_INT(g.truncated[1], 0);
	}
}

static void test_other_command(void)
{
	struct got g;

	feed(&g, 64, "5 starttls 0\n", 13, 0);
	CHECK_INT(g.n, 1);
	CHECK_INT(g.cmd[0], RELPWIRE_OTHER);
	CHECK_STR(g.name[0], "starttls");
}

static void check_error(const char *s, const char *why)
{
	for (size_t split = 0; split < 3; split++) {
		struct got g;

		feed(&g, 64, s, strlen(s), split);
		CHECK_INT(g.rc, -EPROTO);
		CHECK(strstr(g.error, why) != NULL);
	}
}

static void test_protocol_errors(void)
{
	check_error("x open 0\n", "transaction number");
	check_error(" 1 open 0\n", "transaction number");
	check_error("1234567890 open 0\n", "9 digits");
	check_error("1 op3n 0\n", "command name");
	check_error("1  open 0\n", "command name");
	check_error("1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 0\n", "32 letters");
	check_error("1 syslog x\n", "data length");
	check_error("1 syslog 1234567890 x\n", "9 digits");
	check_error("1 syslog 3 abcd\n", "not LF");
	check_error("1 syslog 3abc\n", "space before");
	check_error("1 syslog 0 x", "not LF");
	check_error("1 syslog 0x", "LF after a data length of 0");
}

static void test_mid_frame(void)
{
	struct relpwire_parser p;
	struct relpwire_frame f;
	const char *in = "1 syslog 5 ab";
	size_t n = strlen(in);

	relpwire_init(&p, 64);
	CHECK(!relpwire_mid_frame(&p));
	CHECK_INT(relpwire_next(&p, &in, &n, &f), 0);
	CHECK(relpwire_mid_frame(&p));
	in = "cde\n";
	n = 4;
	CHECK_INT(relpwire_next(&p, &in, &n, &f), 1);
	CHECK_MEM(f.data, f.len, "abcde");
	CHECK(!relpwire_mid_frame(&p));
	relpwire_release(&p);
}

static void test_no_memory(void)
{
	struct relpwire_parser p;
	struct relpwire_frame f;
	const char *in = "1 syslog 5 ab";
	size_t n = strlen(in);

	relpwire_init(&p, 64);
	mem_fail_after(0);
	CHECK_INT(relpwire_next(&p, &in, &n, &f), -ENOMEM);
	mem_fail_after(-1);
	relpwire_release(&p);
}

static void test_check_open(void)
{
	const char *why;

	CHECK_INT(relpwire_check_open("relp_version=0\nrelp_software=x\ncommands=syslog", 46,
				      &why), 0);
	CHECK_INT(relpwire_check_open("\nrelp_version=1\ncommands=foo,syslog", 35, &why), 0);
	CHECK_INT(relpwire_check_open("relp_version=0\ncommands=sys", 27, &why), -EPROTO);
	CHECK_STR(why, "required command not supported by client");
	CHECK_INT(relpwire_check_open("commands=syslog", 15, &why), -EPROTO);
	CHECK_STR(why, "required offer relp_version missing");
	CHECK_INT(relpwire_check_open("", 0, &why), -EPROTO);
}

static void test_answers(void)
{
	char out[RELPWIRE_RSP_MAX + 64];
	size_t n;

	n = relpwire_rsp(out, 2, 200, "OK", NULL, 0);
	CHECK_MEM(out, n, "2 rsp 6 200 OK\n");
	n = relpwire_rsp(out, 9, 500, "bad\nthing", NULL, 0);
	CHECK_MEM(out, n, "9 rsp 7 500 bad\n");
	n = relpwire_open_ok(out, 1);
	CHECK_MEM(out, n, "1 rsp 57 200 OK\nrelp_version=0\nrelp_software=koban\n"
		  "commands=syslog\n");
	n = relpwire_serverclose(out);
	CHECK_MEM(out, n, "0 serverclose 0\n");
	/* the answer parses as a frame whose DATALEN counts exactly its data */
	{
		struct got g;

		n = relpwire_open_ok(out, 1);
		feed(&g, 256, out, n, 0);
		CHECK_INT(g.n, 1);
		CHECK_INT(g.len[0], 57);
	}
}

static void test_txnr_wraps(void)
{
	CHECK_INT(relpwire_txnr_next(1), 2);
	CHECK_INT(relpwire_txnr_next(RELPWIRE_TXNR_MAX), 1);
}

int main(void)
{
	srand(7);
	T_RUN(test_session_every_chunking);
	T_RUN(test_oversized_data_cut);
	T_RUN(test_other_command);
	T_RUN(test_protocol_errors);
	T_RUN(test_mid_frame);
	T_RUN(test_no_memory);
	T_RUN(test_check_open);
	T_RUN(test_answers);
	T_RUN(test_txnr_wraps);
	return t_done();
}
