/*
 * source.c - `koban source add|list|remove`: the log sources of tenants, and the
 * aligned tables every command prints, with the escaping of their text (cli.h).
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <sodium.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fairq.h"
#include "core/ipaddr.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "enrich/route.h"
#include "parse/decoder.h"
#include "portal/ingest.h"
#include "store/meta.h"

#define ADD_USAGE                                                                   \
	"source add NAME --tenant T [--cidr CIDR] [--host NAME] [--listener L]\n"   \
	"                         [--format F] [--tz ZONE]\n"                          \
	"                         F: auto|panos|cef|leef|a10|azure|m365|squid|combined|bind|unbound|postfix|json|syslog|rfc3164|rfc5424"
#define LIST_USAGE "source list [--tenant T]"
#define REMOVE_USAGE "source remove NAME --tenant T"
#define TEST_USAGE "source test --ip IP [--host NAME] [--listener L]"
#define UNASSIGNED_USAGE "source unassigned [--top N]"
#define TOKEN_USAGE "source token NAME --tenant T [--revoke]"
#define ROUTING_RULE                                                                     \
	"A message goes to the tenant of the most specific matching source: the one with\n" \
	"more of listener, CIDR, host given; among as many, one with a listener first,\n"   \
	"then the longest CIDR prefix, then the oldest source. No match: _unassigned."

static const struct cli_verb source_verbs[] = {
	{ "add", ADD_USAGE,
	  "Adds a log source to a tenant. A source needs at least one of --cidr (the\n"
	  "sender's address), --host (the syslog HOSTNAME, any case) and --listener (a\n"
	  "listener name from the configuration); all given must match. Warns when the\n"
	  "CIDR overlaps a source of another tenant.\n" ROUTING_RULE },
	{ "list", LIST_USAGE, "Lists the sources of every tenant, or of one." },
	{ "remove", REMOVE_USAGE,
	  "Removes tenant T's source NAME (source names are scoped per tenant: two tenants\n"
	  "may each have a source of the same name); reload a running koban to apply." },
	{ "test", TEST_USAGE,
	  "Prints which source and tenant a message from IP (with HOSTNAME NAME, received\n"
	  "on listener L) would get and why, by the routing code `serve` runs.\n"
	  "Without --listener, sources that name a listener are not considered.\n"
	  ROUTING_RULE },
	{ "unassigned", UNASSIGNED_USAGE,
	  "Lists the senders whose messages matched no source and went to _unassigned,\n"
	  "busiest first (default: the top 20), as `serve` last saved them (every few\n"
	  "seconds and at stop). /metrics has koban_unassigned_sender_messages." },
	{ "token", TOKEN_USAGE,
	  "Makes the ingest token of tenant T's source NAME and prints it once (koban keeps\n"
	  "only its hash): the source then sends its events to the API listener as\n"
	  "POST /api/v1/ingest/NAME with \"Authorization: Bearer TOKEN\" (docs/api.md).\n"
	  "A source has one token: a new one replaces the old at once. --revoke removes it.\n"
	  "A source that only sends over HTTP is added with --listener " API_INGEST_LISTENER "." },
};

static const struct cli_command source_command = {
	"source",
	ADD_USAGE "\n       koban " LIST_USAGE "\n       koban " REMOVE_USAGE
	"\n       koban " TEST_USAGE "\n       koban " UNASSIGNED_USAGE "\n       koban " TOKEN_USAGE,
	"Log sources say which tenant a message belongs to.\n" ROUTING_RULE
	"\n`koban help source VERB` describes one sub-command.",
	source_verbs, ARRAY_SIZE(source_verbs),
};

#define SOURCE_COLUMNS 7
#define RELOAD_HINT "reload a running koban with SIGHUP to apply"

/* The code point of the valid UTF-8 sequence p[0..n) (n from json_utf8_len, 1 to 4). */
static uint32_t text_code_point(const unsigned char *p, size_t n)
{
	static const unsigned char lead_bits[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = p[0] & lead_bits[n];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3fu);
	return cp;
}

/*
 * Direction marks (U+061C, the Arabic letter mark, too: every Bidi_Control character),
 * embeddings, overrides and isolates, line and paragraph separators: they reorder or split
 * what the analyst reads.
 */
static bool text_reorders(uint32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * How the character at p[0..len) shows (cli_put_text): its *n bytes as they are (0) or as
 * the escape in esc (its length).
 */
static size_t text_escape(const unsigned char *p, size_t len, size_t *n, char esc[8])
{
	unsigned char c = p[0];
	uint32_t cp;
	int k = 0;

	*n = json_utf8_len(p, len);
	if (!*n) { /* not UTF-8 */
		*n = 1;
		return (size_t)snprintf(esc, 8, "\\x%02x", c);
	}
	cp = text_code_point(p, *n);
	if ((cp >= 0x80 && cp < 0xa0) || text_reorders(cp)) /* C1 controls too */
		k = snprintf(esc, 8, "\\u%04x", (unsigned)cp);
	else if (c == '\n' || c == '\r' || c == '\t')
		k = snprintf(esc, 8, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
	else if (c < 0x20 || c == 0x7f)
		k = snprintf(esc, 8, "\\x%02x", c);
	return (size_t)k;
}

/*
 * Columns a terminal gives the UTF-8 character at p[0..n): 2 for East Asian wide and
 * fullwidth characters (kanji, kana, hangul, fullwidth forms), else 1, so that a table of
 * Japanese names lines up.
 */
static size_t text_columns(const unsigned char *p, size_t n)
{
	uint32_t cp = text_code_point(p, n);

	return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
			       (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
			       (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
			       (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
			       (cp >= 0x20000 && cp <= 0x3fffd)
		       ? 2
		       : 1;
}

/* n bytes at p to f and out (either may be NULL): 0 or buf_add's error. */
static int put_bytes(FILE *f, struct buf *out, const char *p, size_t n)
{
	if (f)
		fwrite(p, 1, n, f); /* a write error: ferror(f) says, for the caller's fflush */
	return out ? buf_add(out, p, n) : 0;
}

/* text[0..len) escaped to f and out (either may be NULL); *shown: the columns it takes. */
static int put_text(FILE *f, struct buf *out, const char *text, size_t len, size_t *shown)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0, plain = 0; /* text[plain..i) shows as it is */
	int rc = 0;

	*shown = 0;
	while (i < len && !rc) {
		char esc[8];
		size_t n, k = text_escape(p + i, len - i, &n, esc);

		i += n;
		*shown += k ? k : text_columns(p + i - n, n);
		if (!k)
			continue;
		if (!(rc = put_bytes(f, out, text + plain, i - n - plain)))
			rc = put_bytes(f, out, esc, k);
		plain = i;
	}
	return rc ? rc : put_bytes(f, out, text + plain, len - plain);
}

size_t cli_put_text(FILE *f, const char *text, size_t len)
{
	size_t shown;

	(void)put_text(f, NULL, text, len, &shown); /* nothing to fail without a buffer */
	return shown;
}

int cli_add_text(struct buf *out, const char *text, size_t len)
{
	size_t shown;

	return put_text(NULL, out, text, len, &shown);
}

void cli_table_widen(size_t *width, const char *const *cells, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = cells[i] ? cli_put_text(NULL, cells[i], strlen(cells[i])) : 1;

		width[i] = MAX(width[i], len);
	}
}

void cli_table_row(const size_t *width, const char *const *cells, size_t n)
{
	cli_table_row_to(stdout, width, cells, n);
}

void cli_table_row_to(FILE *f, const size_t *width, const char *const *cells, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *cell = cells[i] ? cells[i] : "-";
		size_t len = cli_put_text(f, cell, strlen(cell));

		if (i + 1 < n)
			fprintf(f, "%*s  ", (int)(width[i] > len ? width[i] - len : 0), "");
		else
			fputc('\n', f);
	}
}

static const char *const source_header[SOURCE_COLUMNS] = {
	"NAME", "TENANT", "CIDR", "HOST", "LISTENER", "FORMAT", "TZ",
};

struct source_table {
	size_t width[SOURCE_COLUMNS];
	size_t rows;
};

static void source_cells(const struct meta_source *s, const char *cells[SOURCE_COLUMNS])
{
	cells[0] = s->name;
	cells[1] = s->tenant;
	cells[2] = s->cidr;
	cells[3] = s->host;
	cells[4] = s->listener;
	cells[5] = s->format;
	cells[6] = s->tz;
}

static void widen_source(void *ctx, const struct meta_source *s)
{
	struct source_table *t = ctx;
	const char *cells[SOURCE_COLUMNS];

	source_cells(s, cells);
	cli_table_widen(t->width, cells, SOURCE_COLUMNS);
	t->rows++;
}

static void print_source(void *ctx, const struct meta_source *s)
{
	struct source_table *t = ctx;
	const char *cells[SOURCE_COLUMNS];

	source_cells(s, cells);
	cli_table_row(t->width, cells, SOURCE_COLUMNS);
}

int cli_print_sources(struct meta *m, const char *tenant, struct err *e)
{
	struct source_table t = { .rows = 0 };
	int rc;

	cli_table_widen(t.width, source_header, SOURCE_COLUMNS);
	if ((rc = meta_source_list(m, tenant, widen_source, &t, e)) < 0)
		return rc;
	if (t.rows == 0) {
		printf("no sources (add one with `koban source add NAME --tenant %s --cidr CIDR`)\n",
		       tenant ? tenant : "TENANT");
		return 0;
	}
	cli_table_row(t.width, source_header, SOURCE_COLUMNS);
	return meta_source_list(m, tenant, print_source, &t, e);
}

/* ---- sub-commands ---- */

/* The store cannot know this machine's listeners: warn about a name that is not one. */
static void warn_unknown_listener(const char *listener, const struct config *c)
{
	size_t i;

	if (!strcmp(listener, API_INGEST_LISTENER)) /* HTTP ingest's: no syslog listener */
		return;
	for (i = 0; i < c->n_listeners; i++)
		if (!strcmp(c->listeners[i].name, listener))
			return;
	fprintf(stderr, "koban: warning: no listener '%s' in the configuration (", listener);
	for (i = 0; i < c->n_listeners; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", c->listeners[i].name);
	fprintf(stderr, "): the source matches nothing until there is one\n");
}

struct overlap {
	const struct meta_source *added;
	struct ipaddr net;
	unsigned prefix;
};

/* Warns about a source of another tenant whose CIDR overlaps the added one's. */
static void check_overlap(void *ctx, const struct meta_source *s)
{
	struct overlap *o = ctx;
	struct ipaddr net;
	unsigned prefix;

	if (!s->cidr || !strcmp(s->tenant, o->added->tenant) ||
	    ipaddr_parse_cidr(&net, &prefix, s->cidr, strlen(s->cidr)) < 0 ||
	    ipaddr_is_v4(&net) != ipaddr_is_v4(&o->net) ||
	    !ipaddr_in_prefix(prefix > o->prefix ? &net : &o->net,
			      prefix > o->prefix ? &o->net : &net, MIN(prefix, o->prefix)))
		return;
	fprintf(stderr, "koban: warning: cidr %s overlaps %s of source '%s' of tenant '%s': %s\n"
		"  (`koban source test --ip IP` shows which one a sender gets)\n",
		o->added->cidr, s->cidr, s->name, s->tenant,
		prefix == o->prefix ? "the same network; the older source wins unless one has "
				      "more criteria"
				    : "the longer prefix wins where both match");
}

/*
 * cli_getopt() for a verb that needs --tenant (*tenant is that option's target, set by
 * the parse): -1 to go on, else the exit status (help, or a usage error when it is missing).
 */
static int getopt_tenant(int argc, char **argv, const struct cli_args *a,
			 const char *const *tenant)
{
	int rc = cli_getopt(argc, argv, a);

	if (rc >= 0)
		return rc;
	if (!*tenant)
		return cli_usage_error(a->cmd, a->usage, "missing option '--tenant'");
	return -1;
}

static int source_add(const struct config *c, int argc, char **argv)
{
	struct meta *m = NULL;
	struct meta_source s = { .name = NULL };
	const struct cli_option opts[] = {
		CLI_VALUE("tenant", &s.tenant), CLI_VALUE("cidr", &s.cidr),
		CLI_VALUE("host", &s.host),     CLI_VALUE("listener", &s.listener),
		CLI_VALUE("format", &s.format), CLI_VALUE("tz", &s.tz),
	};
	static const char *const names[] = { "NAME" };
	const char *pos[1];
	struct cli_args a = { "source add", ADD_USAGE, source_verbs[0].about, opts,
			      ARRAY_SIZE(opts), pos, 1, 1, names };
	struct overlap o = { .added = &s };
	struct err e = ERR_INIT;
	int rc;

	if ((rc = getopt_tenant(argc, argv, &a, &s.tenant)) >= 0)
		return rc;
	s.name = pos[0];
	/* A zone this machine cannot load is refused here rather than ignored later. */
	if (meta_source_check(&s, &e) < 0 || (s.tz && !tz_get(s.tz, strlen(s.tz), &e)) ||
	    meta_open(&m, c->data_dir, &e) < 0 || meta_source_add(m, &s, &e) < 0)
		goto fail;
	if (s.listener)
		warn_unknown_listener(s.listener, c);
	if (s.cidr && ipaddr_parse_cidr(&o.net, &o.prefix, s.cidr, strlen(s.cidr)) == 0 &&
	    meta_source_list(m, NULL, check_overlap, &o, &e) < 0)
		goto fail;
	printf("source '%s' added to tenant '%s'; " RELOAD_HINT "\n", s.name, s.tenant);
	meta_close(m);
	return 0;
fail:
	meta_close(m);
	return cli_fail(&e);
}

static int source_list(const struct config *c, int argc, char **argv)
{
	struct meta *m = NULL;
	const char *tenant = NULL;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant) };
	struct cli_args a = { "source list", LIST_USAGE, source_verbs[1].about, opts,
			      ARRAY_SIZE(opts), NULL, 0, 0, NULL };
	struct err e = ERR_INIT;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (meta_open(&m, c->data_dir, &e) < 0 || cli_print_sources(m, tenant, &e) < 0)
		rc = cli_fail(&e);
	else
		rc = 0;
	meta_close(m);
	return rc;
}

static int source_remove(const struct config *c, int argc, char **argv)
{
	struct meta *m = NULL;
	const char *tenant = NULL;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant) };
	static const char *const names[] = { "NAME" };
	const char *pos[1];
	struct cli_args a = { "source remove", REMOVE_USAGE, source_verbs[2].about, opts,
			      ARRAY_SIZE(opts), pos, 1, 1, names };
	struct err e = ERR_INIT;
	int rc;

	if ((rc = getopt_tenant(argc, argv, &a, &tenant)) >= 0)
		return rc;
	if (meta_open(&m, c->data_dir, &e) < 0 || meta_source_remove(m, tenant, pos[0], &e) < 0) {
		meta_close(m);
		return cli_fail(&e);
	}
	meta_close(m);
	printf("source '%s' of tenant '%s' removed; " RELOAD_HINT "\n", pos[0], tenant);
	return 0;
}

/* ---- source test: the router's own decision ---- */

static int find_listener(const struct config *c, const char *name, unsigned *index,
			 struct err *e)
{
	struct buf names = BUF_INIT(4096);

	for (size_t i = 0; i < c->n_listeners; i++)
		if (!strcmp(c->listeners[i].name, name)) {
			*index = (unsigned)i;
			return 0;
		}
	for (size_t i = 0; i < c->n_listeners; i++)
		if (buf_addf(&names, "%s%s", i ? ", " : "", c->listeners[i].name))
			break;
	err_set(e, -ENOENT, "no listener '%s' in the configuration (%s)", name,
		names.len ? names.p : "none");
	buf_release(&names);
	return -ENOENT;
}

static void print_explain(const struct route_explain *x, const char *ip, const char *host,
			  const char *listener)
{
	printf("tenant    %s\n", x->tenant);
	if (x->source[0]) {
		printf("source    %s\n", x->source);
		printf("why       matches %s: the most specific matching source%s\n", x->criteria,
		       x->n_losers ? "" : " (no other source matches)");
		for (size_t i = 0; i < x->n_losers; i++)
			printf("%s %s\n", i ? "         " : "also     ", x->losers[i]);
	} else {
		printf("source    -\n");
		printf("why       none of the %zu sources that can match on %s%s%s matches %s%s%s\n",
		       x->candidates, listener ? "listener '" : "any listener",
		       listener ? listener : "", listener ? "'" : "", ip,
		       host ? " with host " : "", host ? host : "");
	}
	printf("format    %s\n", decoder_name(x->route.format));
	printf("zone      %s\n", x->route.tz ? tz_name(x->route.tz) : "(default)");
}

static int source_test(const struct config *c, int argc, char **argv)
{
	struct meta *m = NULL;
	const char *ip = NULL, *host = NULL, *listener = NULL;
	const struct cli_option opts[] = {
		CLI_VALUE("ip", &ip), CLI_VALUE("host", &host), CLI_VALUE("listener", &listener),
	};
	struct cli_args a = { "source test", TEST_USAGE, source_verbs[3].about, opts,
			      ARRAY_SIZE(opts), NULL, 0, 0, NULL };
	struct fairq_config fc = { 1, 1, 1 };
	struct fairq *q = NULL;
	struct router *r = NULL;
	struct route_explain x;
	struct err e = ERR_INIT;
	struct ipaddr peer;
	unsigned index = CONFIG_MAX_LISTENERS; /* no configured listener */
	char msg[512];
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (!ip)
		return cli_usage_error(a.cmd, a.usage, "missing option '--ip'");
	if (ipaddr_parse(&peer, ip, strlen(ip)) < 0)
		return cli_usage_error(a.cmd, a.usage, "--ip '%s': expected an IPv4 or IPv6 "
				       "address", ip);
	if (host && (!*host || strpbrk(host, " \t\r\n") || strlen(host) > 255))
		return cli_usage_error(a.cmd, a.usage, "--host '%s': expected 1-255 characters "
				       "without spaces", host);
	if (listener && find_listener(c, listener, &index, &e) < 0)
		return cli_fail(&e);
	/* The message a device would send: RFC 5424 with the host name, or none. */
	snprintf(msg, sizeof(msg), "<13>1 2026-01-01T00:00:00Z %s koban-test - - - test",
		 host ? host : "-");
	rc = 1;
	log_set_level(LOG_LEVEL_WARN); /* the router's reload notes are not the answer */
	if (meta_open(&m, c->data_dir, &e) < 0 || fairq_new(&q, &fc, &e) < 0 ||
	    router_new(&r, q, &e) < 0 || router_reload(r, m, c, &e) < 0) {
		cli_fail(&e);
		goto out;
	}
	router_explain(r, index, &peer, msg, strlen(msg), &x);
	print_explain(&x, ip, host, listener);
	rc = 0;
out:
	router_free(r);
	fairq_free(q);
	meta_close(m);
	return rc;
}

/* ---- source unassigned ---- */

#define SENDER_COLUMNS 3

static const char *const sender_header[SENDER_COLUMNS] = { "ADDRESS", "MESSAGES", "LAST" };

struct sender_cells {
	char count[24];
	char last[TIME_RFC3339_LEN];
	const char *cells[SENDER_COLUMNS];
};

static void sender_cells(const struct meta_sender *s, struct sender_cells *sc)
{
	snprintf(sc->count, sizeof(sc->count), "%lld", (long long)s->count);
	time_format_rfc3339(s->last_ns - s->last_ns % NS_PER_SEC, sc->last);
	sc->cells[0] = s->address;
	sc->cells[1] = sc->count;
	sc->cells[2] = sc->last;
}

struct sender_table {
	size_t width[SENDER_COLUMNS];
	size_t rows;
};

static void widen_sender(void *ctx, const struct meta_sender *s)
{
	struct sender_table *t = ctx;
	struct sender_cells sc;

	sender_cells(s, &sc);
	cli_table_widen(t->width, sc.cells, SENDER_COLUMNS);
	t->rows++;
}

static void print_sender(void *ctx, const struct meta_sender *s)
{
	struct sender_table *t = ctx;
	struct sender_cells sc;

	sender_cells(s, &sc);
	cli_table_row(t->width, sc.cells, SENDER_COLUMNS);
}

static int source_unassigned(const struct config *c, int argc, char **argv)
{
	struct meta *m = NULL;
	const char *top = NULL;
	const struct cli_option opts[] = { CLI_VALUE("top", &top) };
	struct cli_args a = { "source unassigned", UNASSIGNED_USAGE, source_verbs[4].about, opts,
			      ARRAY_SIZE(opts), NULL, 0, 0, NULL };
	struct sender_table t = { .rows = 0 };
	struct err e = ERR_INIT;
	long long n = 20;
	char *end;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (top) {
		errno = 0;
		n = strtoll(top, &end, 10);
		if (errno || end == top || *end || n < 1 || n > 1000)
			return cli_usage_error(a.cmd, a.usage, "--top '%s': expected 1-1000", top);
	}
	cli_table_widen(t.width, sender_header, SENDER_COLUMNS);
	rc = 1;
	if (meta_open(&m, c->data_dir, &e) < 0 || meta_sender_list(m, n, widen_sender, &t, &e) < 0)
		goto fail;
	if (!t.rows) {
		printf("no unassigned senders recorded (serve saves them every few seconds)\n");
		rc = 0;
		goto out;
	}
	cli_table_row(t.width, sender_header, SENDER_COLUMNS);
	if (meta_sender_list(m, n, print_sender, &t, &e) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	cli_fail(&e);
out:
	meta_close(m);
	return rc;
}

/* ---- source token: the ingest token of a source (HTTP ingest) ---- */

static int source_token(const struct config *c, int argc, char **argv)
{
	const char *tenant = NULL;
	bool revoke = false;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant),
					   CLI_FLAG("revoke", &revoke) };
	static const char *const names[] = { "NAME" };
	const char *pos[1];
	struct cli_args a = { "source token", TOKEN_USAGE, source_verbs[5].about, opts,
			      ARRAY_SIZE(opts), pos, 1, 1, names };
	char secret[META_TOKEN_LEN + 1];
	unsigned char hash[META_TOKEN_HASH_LEN];
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	int rc;

	if ((rc = getopt_tenant(argc, argv, &a, &tenant)) >= 0)
		return rc;
	if ((rc = meta_open(&m, c->data_dir, &e)) == 0 && revoke &&
	    (rc = meta_source_token_revoke(m, tenant, pos[0], &e)) == 0)
		fprintf(stderr, "the ingest token of source '%s' of tenant '%s' was revoked\n",
			pos[0], tenant);
	if (rc == 0 && !revoke && (rc = meta_token_new(secret, &e)) == 0) {
		meta_token_hash(secret, strlen(secret), hash);
		if ((rc = meta_source_token_set(m, tenant, pos[0], hash, &e)) == 0) {
			printf("%s\n", secret);
			fprintf(stderr, "ingest token of source '%s' of tenant '%s' made (any earlier "
				"one no longer works); it is shown only now\n", pos[0], tenant);
		}
		sodium_memzero(secret, sizeof(secret));
	}
	meta_close(m);
	return rc < 0 ? cli_fail(&e) : 0;
}

int cmd_source(int argc, char **argv)
{
	const struct cli_verb *verb;
	struct config c;
	int rc;

	if ((rc = cli_verb(&argc, &argv, &source_command, &verb)) >= 0)
		return rc;
	/* --help answers before anything is loaded */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: koban %s\n\n%s\n", verb->usage, verb->about);
			return 0;
		}
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if (!strcmp(verb->name, "add"))
		rc = source_add(&c, argc, argv);
	else if (!strcmp(verb->name, "list"))
		rc = source_list(&c, argc, argv);
	else if (!strcmp(verb->name, "remove"))
		rc = source_remove(&c, argc, argv);
	else if (!strcmp(verb->name, "test"))
		rc = source_test(&c, argc, argv);
	else if (!strcmp(verb->name, "token"))
		rc = source_token(&c, argc, argv);
	else
		rc = source_unassigned(&c, argc, argv);
	config_release(&c);
	return rc;
}
