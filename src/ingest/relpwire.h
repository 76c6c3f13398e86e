/*
 * relpwire.h - the RELP wire format (librelp's doc/relp.md): frames, the `open` offers and
 * the `rsp` answers, as pure functions over bytes. The listener (ingest/relp.h) owns the
 * sockets; this module only reads and writes bytes, so it is unit tested and fuzzed alone.
 *
 *   FRAME   = TXNR SP COMMAND SP DATALEN [SP DATA] LF
 *   TXNR    = 1*9DIGIT          (0 only for the server's `serverclose` hint)
 *   COMMAND = 1*32ALPHA         (open, syslog, close; rsp and serverclose go the other way)
 *   DATALEN = 1*9DIGIT          (octets of DATA only: not the SP before it, not the LF)
 *
 * DATA is binary and may hold LF: only DATALEN delimits it, and the byte after it must be
 * LF. A frame that breaks this grammar is a protocol error: the stream cannot be
 * resynchronised (librelp does not try either) and the caller closes it. DATA longer than
 * the parser's maximum is cut to it (the frame says `truncated`) and the rest skipped,
 * so an oversized message is kept, cut and counted, instead of being resent forever by a
 * client that would get the same refusal again.
 *
 *   struct relpwire_parser p;
 *   struct relpwire_frame f;
 *   relpwire_init(&p, 65536);
 *   while ((rc = relpwire_next(&p, &data, &n, &f)) > 0)
 *           handle(f.txnr, f.cmd, f.data, f.len);
 *   if (rc < 0) close, logging relpwire_error(&p);
 *
 * Memory: a parser owns a buffer of at most max bytes for DATA split across reads,
 * allocated on first need and freed once a frame that needed more than RELPWIRE_KEEP bytes
 * was delivered. A frame's data points into that buffer or into the caller's bytes and is
 * valid until the next call. Not thread safe: one parser per connection.
 */
#ifndef INGEST_RELPWIRE_H
#define INGEST_RELPWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELPWIRE_DIGITS_MAX 9     /* TXNR and DATALEN: at most 9 digits */
#define RELPWIRE_CMD_MAX 32       /* longest command name */
#define RELPWIRE_TXNR_MAX 999999999u /* then the sequence wraps to 1 */
#define RELPWIRE_KEEP 4096        /* split-DATA buffers up to this size are kept */
#define RELPWIRE_RSP_MAX 128      /* an `rsp` frame of relpwire_rsp() fits this */
/* The software this server names in its offers. */
#define RELPWIRE_SOFTWARE "koban"

enum relpwire_cmd {
	RELPWIRE_OTHER,  /* any other command name: the caller answers 500 */
	RELPWIRE_OPEN,
	RELPWIRE_SYSLOG,
	RELPWIRE_CLOSE,
};

struct relpwire_frame {
	uint32_t txnr;
	enum relpwire_cmd cmd;
	char name[RELPWIRE_CMD_MAX + 1]; /* the command as sent (NUL-terminated) */
	const char *data;
	size_t len;                      /* <= the parser's max */
	bool truncated;                  /* DATALEN was larger than max: the rest was skipped */
};

enum relpwire_state {
	RELPWIRE_TXNR,
	RELPWIRE_CMD,
	RELPWIRE_LEN,
	RELPWIRE_SP_DATA, /* after DATALEN: SP (then DATA) or, when DATALEN is 0, LF */
	RELPWIRE_DATA,
	RELPWIRE_TRAILER,
};

struct relpwire_parser {
	size_t max;                /* longest DATA delivered */
	enum relpwire_state state;
	unsigned digits;           /* of the number being read */
	uint32_t txnr;
	size_t datalen;            /* DATALEN, then DATA bytes still to come */
	size_t total;              /* DATALEN as sent */
	char cmd[RELPWIRE_CMD_MAX + 1];
	unsigned cmd_len;
	bool started;              /* a byte of the current frame was read */
	char *part;                /* DATA split across reads: part[0..part_len) */
	size_t part_len, part_cap;
	size_t kept;               /* DATA bytes of this frame kept (<= max) */
	const char *error;         /* what was wrong, after a protocol error */
};

void relpwire_init(struct relpwire_parser *p, size_t max);
void relpwire_release(struct relpwire_parser *p);

/*
 * Consumes bytes of (*in, *n), advancing both. Returns 1 with a frame in *out (call again:
 * more may follow), 0 when the bytes are used up without completing one, -EPROTO on a
 * protocol error (relpwire_error() says what; the parser is then stuck in that error) or
 * -ENOMEM when the split-DATA buffer cannot be allocated.
 */
int relpwire_next(struct relpwire_parser *p, const char **in, size_t *n,
		  struct relpwire_frame *out);
/* True when part of a frame was read and the frame is not complete. */
bool relpwire_mid_frame(const struct relpwire_parser *p);
/* The protocol error, "" when there was none. */
const char *relpwire_error(const struct relpwire_parser *p);

/*
 * Checks the offers of an `open` command (lines "name=value[,value...]", separated by LF;
 * a leading LF is accepted too): 0 when relp_version is there and the client offers the
 * `syslog` command, else -EPROTO with *why set to the text for the 500 answer.
 */
int relpwire_check_open(const char *data, size_t len, const char **why);

/* Next transaction number after txnr: 1 after RELPWIRE_TXNR_MAX. */
uint32_t relpwire_txnr_next(uint32_t txnr);

/*
 * Writes the frame "TXNR rsp LEN CODE SP TEXT[LF EXTRA]LF" into out (at least
 * RELPWIRE_RSP_MAX bytes, plus extra_len); returns its length. text is at most 80 bytes
 * without LF (longer text is cut).
 */
size_t relpwire_rsp(char *out, uint32_t txnr, unsigned code, const char *text,
		    const char *extra, size_t extra_len);
/* The answer to a good `open`: relpwire_rsp with 200 OK and this server's offers. */
size_t relpwire_open_ok(char *out, uint32_t txnr);
/* The server's "0 serverclose 0\n" hint before it closes a session; its length. */
size_t relpwire_serverclose(char *out);

#endif
