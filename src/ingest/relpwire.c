#include "ingest/relpwire.h"
#include "core/compat.h"

#include "core/mem.h"

#define RSP_TEXT_MAX 80 /* librelp reads at most this much of an rsp's text */

void relpwire_init(struct relpwire_parser *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->max = max;
	p->state = RELPWIRE_TXNR;
}

void relpwire_release(struct relpwire_parser *p)
{
	mem_free(p->part);
	p->part = NULL;
	p->part_len = p->part_cap = 0;
}

static int fail(struct relpwire_parser *p, const char *why)
{
	p->error = why;
	return -EPROTO;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static enum relpwire_cmd command_of(const char *name)
{
	if (!strcmp(name, "syslog"))
		return RELPWIRE_SYSLOG;
	if (!strcmp(name, "open"))
		return RELPWIRE_OPEN;
	if (!strcmp(name, "close"))
		return RELPWIRE_CLOSE;
	return RELPWIRE_OTHER;
}

/* The frame is complete: fills out and makes the parser ready for the next one. */
static int deliver(struct relpwire_parser *p, const char *data, size_t len, bool truncated,
		   struct relpwire_frame *out)
{
	out->txnr = p->txnr;
	memcpy(out->name, p->cmd, p->cmd_len + 1);
	out->cmd = command_of(p->cmd);
	out->data = data;
	out->len = len;
	out->truncated = truncated;
	p->state = RELPWIRE_TXNR;
	p->started = false;
	p->digits = 0;
	p->txnr = 0;
	p->cmd_len = 0;
	p->cmd[0] = '\0';
	p->part_len = 0;
	p->kept = 0;
	p->datalen = 0;
	p->total = 0;
	return 1;
}

/* One byte of the header (TXNR SP COMMAND SP DATALEN); 1 when a frame ended (DATALEN 0). */
static int header_byte(struct relpwire_parser *p, char c, struct relpwire_frame *out)
{
	switch (p->state) {
	case RELPWIRE_TXNR:
		if (is_digit(c)) {
			if (++p->digits > RELPWIRE_DIGITS_MAX)
				return fail(p, "a transaction number of more than 9 digits");
			p->txnr = p->txnr * 10 + (uint32_t)(c - '0');
			return 0;
		}
		if (c == ' ' && p->digits) {
			p->state = RELPWIRE_CMD;
			return 0;
		}
		return fail(p, "expected a transaction number (digits, then a space)");
	case RELPWIRE_CMD:
		if (is_alpha(c)) {
			if (p->cmd_len == RELPWIRE_CMD_MAX)
				return fail(p, "a command name of more than 32 letters");
			p->cmd[p->cmd_len++] = c;
			p->cmd[p->cmd_len] = '\0';
			return 0;
		}
		if (c == ' ' && p->cmd_len) {
			p->state = RELPWIRE_LEN;
			p->digits = 0;
			return 0;
		}
		return fail(p, "expected a command name (letters, then a space)");
	case RELPWIRE_LEN:
		if (is_digit(c)) {
			if (++p->digits > RELPWIRE_DIGITS_MAX)
				return fail(p, "a data length of more than 9 digits");
			p->datalen = p->datalen * 10 + (size_t)(c - '0');
			return 0;
		}
		if (!p->digits)
			return fail(p, "expected a data length (digits)");
		if (c == '\n' && p->datalen == 0)
			return deliver(p, "", 0, false, out);
		if (c == ' ') {
			p->total = p->datalen;
			p->state = p->datalen ? RELPWIRE_DATA : RELPWIRE_TRAILER;
			return 0;
		}
		return fail(p, p->datalen ? "expected a space before the data"
					  : "expected the frame's LF after a data length of 0");
	default:
		return fail(p, "internal: header state");
	}
}

/* Makes room for this frame's kept DATA (at most max bytes). */
static int reserve_part(struct relpwire_parser *p, size_t want)
{
	char *np;

	if (want <= p->part_cap)
		return 0;
	np = mem_realloc(p->part, want);
	if (!np)
		return -ENOMEM;
	p->part = np;
	p->part_cap = want;
	return 0;
}

/*
 * DATA bytes: delivered in place when the whole DATA and its LF are in this read, else
 * copied (up to max; the rest skipped) until the DATA is complete.
 */
static int data_bytes(struct relpwire_parser *p, const char **in, size_t *n,
		      struct relpwire_frame *out)
{
	size_t take, keep;

	if (!p->part_len && !p->kept && p->datalen <= p->max && *n > p->datalen) {
		const char *d = *in;
		size_t len = p->datalen;

		if (d[len] != '\n')
			return fail(p, "the byte after the data is not LF (wrong data length?)");
		*in += len + 1;
		*n -= len + 1;
		return deliver(p, d, len, false, out);
	}
	take = MIN(*n, p->datalen);
	keep = p->kept < p->max ? MIN(take, p->max - p->kept) : 0;
	if (keep) {
		/* sized for the whole kept DATA at once: the data length is known */
		if (reserve_part(p, p->kept + MIN(p->datalen, p->max - p->kept)) < 0)
			return -ENOMEM;
		memcpy(p->part + p->part_len, *in, keep);
		p->part_len += keep;
		p->kept += keep;
	}
	*in += take;
	*n -= take;
	p->datalen -= take;
	if (!p->datalen)
		p->state = RELPWIRE_TRAILER;
	return 0;
}

int relpwire_next(struct relpwire_parser *p, const char **in, size_t *n,
		  struct relpwire_frame *out)
{
	if (p->error)
		return -EPROTO;
	/* a large buffer of the frame delivered last time is no longer in use */
	if (!p->started && p->part_cap > RELPWIRE_KEEP)
		relpwire_release(p);
	while (*n) {
		int rc;

		p->started = true;
		if (p->state == RELPWIRE_DATA) {
			rc = data_bytes(p, in, n, out);
		} else if (p->state == RELPWIRE_TRAILER) {
			char c = **in;

			if (c != '\n')
				return fail(p, "the byte after the data is not LF (wrong data "
					       "length?)");
			(*in)++;
			(*n)--;
			return deliver(p, p->part ? p->part : "", p->part_len, p->total > p->max,
				       out);
		} else {
			char c = **in;

			(*in)++;
			(*n)--;
			rc = header_byte(p, c, out);
		}
		if (rc)
			return rc;
	}
	return 0;
}

bool relpwire_mid_frame(const struct relpwire_parser *p)
{
	return p->started;
}

const char *relpwire_error(const struct relpwire_parser *p)
{
	return p->error ? p->error : "";
}

/* ---- offers and answers ---- */

/* True when the comma-separated list v[0..len) has the item want. */
static bool list_has(const char *v, size_t len, const char *want)
{
	size_t wl = strlen(want);

	while (len) {
		const char *comma = memchr(v, ',', len);
		size_t item = comma ? (size_t)(comma - v) : len;

		if (item == wl && !memcmp(v, want, wl))
			return true;
		if (!comma)
			break;
		len -= item + 1;
		v += item + 1;
	}
	return false;
}

int relpwire_check_open(const char *data, size_t len, const char **why)
{
	bool version = false, syslog = false;

	while (len) {
		const char *lf = memchr(data, '\n', len);
		size_t line = lf ? (size_t)(lf - data) : len;
		const char *eq = memchr(data, '=', line);

		if (eq) {
			size_t name = (size_t)(eq - data), vlen = line - name - 1;

			if (name == 12 && !memcmp(data, "relp_version", 12))
				version = true;
			else if (name == 8 && !memcmp(data, "commands", 8))
				syslog = syslog || list_has(eq + 1, vlen, "syslog");
		}
		if (!lf)
			break;
		len -= line + 1;
		data += line + 1;
	}
	if (!version) {
		*why = "required offer relp_version missing";
		return -EPROTO;
	}
	if (!syslog) {
		*why = "required command not supported by client";
		return -EPROTO;
	}
	*why = NULL;
	return 0;
}

uint32_t relpwire_txnr_next(uint32_t txnr)
{
	return txnr >= RELPWIRE_TXNR_MAX ? 1 : txnr + 1;
}

size_t relpwire_rsp(char *out, uint32_t txnr, unsigned code, const char *text,
		    const char *extra, size_t extra_len)
{
	size_t tlen = strnlen(text, RSP_TEXT_MAX), data, n;
	const char *lf = memchr(text, '\n', tlen);
	int head;

	if (lf)
		tlen = (size_t)(lf - text);
	data = 4 + tlen + (extra_len ? 1 + extra_len : 0); /* "CODE " TEXT [LF EXTRA] */
	head = snprintf(out, RELPWIRE_RSP_MAX, "%u rsp %zu %03u %.*s", txnr % 1000000000u, data,
			code % 1000u, (int)tlen, text);
	n = (size_t)head;
	if (extra_len) {
		out[n++] = '\n';
		memcpy(out + n, extra, extra_len);
		n += extra_len;
	}
	out[n++] = '\n';
	return n;
}

size_t relpwire_open_ok(char *out, uint32_t txnr)
{
	static const char offers[] = "relp_version=0\nrelp_software=" RELPWIRE_SOFTWARE
				     "\ncommands=syslog";

	return relpwire_rsp(out, txnr, 200, "OK", offers, sizeof(offers) - 1);
}

size_t relpwire_serverclose(char *out)
{
	static const char hint[] = "0 serverclose 0\n";

	memcpy(out, hint, sizeof(hint) - 1);
	return sizeof(hint) - 1;
}
