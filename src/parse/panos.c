/*
 * panos.c - PAN-OS CSV logs into ECS events.
 *
 * Three steps: find the payload (octet count, syslog header, the CSV anchor), split it
 * into cells (one pass, no copy unless a quoted value has doubled quotes), then write
 * every cell as panos.NAME from the type's column table and map the important columns
 * to ECS with the type's mapper. Column tables follow Palo Alto's syslog field
 * documentation for PAN-OS 10.x/11.x (and the observed 10.x/11.x CONFIG layout);
 * shorter rows of older releases simply stop early.
 */
#include "parse/panos.h"
#include "core/compat.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/event.h"
#include "core/field.h"
#include "core/ipaddr.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "parse/decoder.h"
#include "parse/logtext.h"
#include "parse/syslog.h"

#include <pthread.h>
#include <stdatomic.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LOG_MODULE "panos"
#include "core/log.h"

#define PREFIX "panos."
#define ECS_VALUES_MAX 64 /* ECS values one row maps to, at most (about 45 for TRAFFIC) */

/* ---- column tables ---- */

/*
 * NULL: a FUTURE_USE column, not kept (PAN-OS writes nothing meaningful there). Column 5,
 * between subtype and time_generated, is FUTURE_USE in PAN-OS's field docs for every log
 * type; firewalls write a number there (2049, 2305, 2561: said to be a config version)
 * and Cortex/Strata forwarding the PAN-OS version (9.1, 10.2), so a name would promise a
 * meaning PAN-OS does not. event.original keeps it.
 */
#define COMMON_COLS NULL, "receive_time", "serial", "type", "subtype", NULL, "time_generated"
/*
 * TRAFFIC, THREAT and DECRYPTION share columns 7 to 30. Column 21, once "Time Logged", is
 * FUTURE_USE in PAN-OS's field docs (8.x to 11.x): not kept, as the other FUTURE_USE
 * columns (event.original still has it).
 */
#define NET_COLS "src", "dst", "natsrc", "natdst", "rule", "srcuser", "dstuser", "app", \
	"vsys", "from", "to", "inbound_if", "outbound_if", "logset", NULL,                 \
	"sessionid", "repeatcnt", "sport", "dport", "natsport", "natdport", "flags", "proto", \
	"action"
#define DG_COLS "dg_hier_level_1", "dg_hier_level_2", "dg_hier_level_3", "dg_hier_level_4"
#define DEVICE_COLS(p) p "category", p "profile", p "model", p "vendor", p "osfamily", \
	p "osversion", p "host", p "mac"
#define APP_COLS "subcategory_of_app", "category_of_app", "technology_of_app", "risk_of_app", \
	"characteristic_of_app", "container_of_app", "tunneled_app", "is_saas_of_app",        \
	"sanctioned_state_of_app"

static const char *const traffic_cols[] = {
	COMMON_COLS, NET_COLS, "bytes", "bytes_sent", "bytes_received", "packets", "start",
	"elapsed", "category", NULL, "seqno", "actionflags", "srcloc", "dstloc", NULL,
	"pkts_sent", "pkts_received", "session_end_reason", DG_COLS, "vsys_name", "device_name",
	"action_source", "src_uuid", "dst_uuid", "tunnelid", "monitortag", "parent_session_id",
	"parent_start_time", "tunnel", "assoc_id", "chunks", "chunks_sent", "chunks_received",
	"rule_uuid", "http2_connection", "link_change_count", "policy_id", "link_switches",
	"sdwan_cluster", "sdwan_device_type", "sdwan_cluster_type", "sdwan_site",
	"dynusergroup_name", "xff_ip", DEVICE_COLS("src_"), DEVICE_COLS("dst_"),
	"container_id", "pod_namespace", "pod_name", "src_edl", "dst_edl", "hostid",
	"serialnumber", "src_dag", "dst_dag", "session_owner", "high_res_timestamp",
	"nssai_sst", "nssai_sd", APP_COLS, "offloaded",
};

static const char *const threat_cols[] = {
	COMMON_COLS, NET_COLS, "misc", "threatid", "category", "severity", "direction", "seqno",
	"actionflags", "srcloc", "dstloc", NULL, "contenttype", "pcap_id", "filedigest",
	"cloud", "url_idx", "user_agent", "filetype", "xff", "referer", "sender", "subject",
	"recipient", "reportid", DG_COLS, "vsys_name", "device_name", NULL, "src_uuid",
	"dst_uuid", "http_method", "tunnelid", "monitortag", "parent_session_id",
	"parent_start_time", "tunnel", "thr_category", "contentver", NULL, "assoc_id", "ppid",
	"http_headers", "url_category_list", "rule_uuid", "http2_connection",
	"dynusergroup_name", "xff_ip", DEVICE_COLS("src_"), DEVICE_COLS("dst_"),
	"container_id", "pod_namespace", "pod_name", "src_edl", "dst_edl", "hostid",
	"serialnumber", "domain_edl", "src_dag", "dst_dag", "partial_hash",
	"high_res_timestamp", "reason", "justification", "nssai_sst", APP_COLS,
	"cloud_reportid",
};

static const char *const decryption_cols[] = {
	COMMON_COLS, NET_COLS, "tunnel", NULL, NULL, "src_uuid", "dst_uuid", "rule_uuid",
	"hs_stage_c2f", "hs_stage_f2s", "tls_version", "tls_keyxchg", "tls_enc", "tls_auth",
	"policy_name", "ec_curve", "err_index", "root_status", "chain_status", "proxy_type",
	"cert_serial", "fingerprint", "notbefore", "notafter", "cert_ver", "cert_size",
	"cn_len", "issuer_len", "rootcn_len", "sni_len", "cert_flags", "cn", "issuer_cn",
	"root_cn", "sni", "error", "container_id", "pod_namespace", "pod_name", "src_edl",
	"dst_edl", "src_dag", "dst_dag", "high_res_timestamp", DEVICE_COLS("src_"),
	DEVICE_COLS("dst_"), "seqno", "actionflags", DG_COLS, "vsys_name", "device_name",
	"vsys_id", APP_COLS,
};

static const char *const system_cols[] = {
	COMMON_COLS, "vsys", "eventid", "object", NULL, NULL, "module", "severity",
	"description", "seqno", "actionflags", DG_COLS, "vsys_name", "device_name", NULL, NULL,
	"high_res_timestamp",
};

/* CONFIG as documented: the change details before seqno. */
static const char *const config_cols[] = {
	COMMON_COLS, "host", "vsys", "cmd", "admin", "client", "result", "path",
	"before_change_detail", "after_change_detail", "seqno", "actionflags", DG_COLS,
	"vsys_name", "device_name", "dg_id", "comment", NULL, "high_res_timestamp",
};

/* CONFIG as PAN-OS 10.x/11.x really write it: seqno at 14, the details at the end. */
static const char *const config_observed_cols[] = {
	COMMON_COLS, "host", "vsys", "cmd", "admin", "client", "result", "path", "seqno",
	"actionflags", DG_COLS, "vsys_name", "device_name", "dg_id", "comment", NULL,
	"high_res_timestamp", "before_change_detail", "after_change_detail",
};

static const char *const globalprotect_cols[] = {
	COMMON_COLS, "vsys", "eventid", "stage", "auth_method", "tunnel_type", "srcuser",
	"srcregion", "machinename", "public_ip", "public_ipv6", "private_ip", "private_ipv6",
	"hostid", "serialnumber", "client_ver", "client_os", "client_os_ver", "repeatcnt",
	"reason", "error", "description", "status", "location", "login_duration",
	"connect_method", "error_code", "portal", "seqno", "actionflags", "high_res_timestamp",
	"selection_type", "response_time", "priority", "attempted_gateways", "gateway",
	DG_COLS, "vsys_name", "device_name", "vsys_id", "cluster_name",
};

static const char *const userid_cols[] = {
	COMMON_COLS, "vsys", "ip", "user", "datasourcename", "eventid", "repeatcnt", "timeout",
	"beginport", "endport", "datasource", "datasourcetype", "seqno", "actionflags", DG_COLS,
	"vsys_name", "device_name", "vsys_id", "factortype", "factorcompletiontime",
	"factorno", "ugflags", "userbysource", "tag_name", "high_res_timestamp",
};

static const char *const authentication_cols[] = {
	COMMON_COLS, "vsys", "ip", "user", "normalize_user", "object", "authpolicy",
	"repeatcnt", "authid", "vendor", "logprofile", "serverprofile", "description",
	"clienttype", "event", "factorno", "seqno", "actionflags", DG_COLS, "vsys_name",
	"device_name", "vsys_id", "authproto", "rule_uuid", "high_res_timestamp",
	DEVICE_COLS("src_"), "region", NULL, "user_agent", "sessionid",
};

static const char *const hipmatch_cols[] = {
	COMMON_COLS, "srcuser", "vsys", "machinename", "os", "src", "matchname", "repeatcnt",
	"matchtype", NULL, NULL, "seqno", "actionflags", DG_COLS, "vsys_name", "device_name",
	"vsys_id", "srcipv6", "hostid", "serialnumber", "mac", "high_res_timestamp",
	"cluster_name",
};

/* Types PAN-OS has that koban knows no columns of (CORRELATION, IPTAG, GTP...). */
static const char *const other_cols[] = { COMMON_COLS };

enum layout_id {
	L_TRAFFIC,
	L_THREAT,
	L_SYSTEM,
	L_CONFIG,
	L_CONFIG_OBSERVED,
	L_GLOBALPROTECT,
	L_USERID,
	L_AUTHENTICATION,
	L_DECRYPTION,
	L_HIPMATCH,
	L_OTHER,
	L_COUNT
};

struct layout {
	const char *type;    /* column 3 as written */
	const char *dataset; /* event.dataset */
	const char *const *cols;
	unsigned ncols;
};

#define LAYOUT(t, d, c) { t, d, c, ARRAY_SIZE(c) }
static const struct layout layouts[L_COUNT] = {
	[L_TRAFFIC] = LAYOUT("TRAFFIC", "panos.traffic", traffic_cols),
	[L_THREAT] = LAYOUT("THREAT", "panos.threat", threat_cols),
	[L_SYSTEM] = LAYOUT("SYSTEM", "panos.system", system_cols),
	[L_CONFIG] = LAYOUT("CONFIG", "panos.config", config_cols),
	[L_CONFIG_OBSERVED] = LAYOUT("CONFIG", "panos.config", config_observed_cols),
	[L_GLOBALPROTECT] = LAYOUT("GLOBALPROTECT", "panos.globalprotect", globalprotect_cols),
	[L_USERID] = LAYOUT("USERID", "panos.userid", userid_cols),
	[L_AUTHENTICATION] = LAYOUT("AUTHENTICATION", "panos.authentication",
				    authentication_cols),
	[L_DECRYPTION] = LAYOUT("DECRYPTION", "panos.decryption", decryption_cols),
	[L_HIPMATCH] = LAYOUT("HIPMATCH", "panos.hipmatch", hipmatch_cols),
	[L_OTHER] = LAYOUT(NULL, "panos.log", other_cols),
};

_Static_assert(ARRAY_SIZE(traffic_cols) == 115, "TRAFFIC has 115 columns (10.2/11.x)");
_Static_assert(ARRAY_SIZE(threat_cols) == 121, "THREAT has 121 columns (10.2/11.x)");
_Static_assert(ARRAY_SIZE(traffic_cols) <= PANOS_COLUMNS_MAX, "tables fit a row");
_Static_assert(ARRAY_SIZE(threat_cols) <= PANOS_COLUMNS_MAX, "tables fit a row");

/* Derived vendor fields (not columns). */
enum derived {
	D_THREAT_NAME,
	D_THREAT_ID,
	D_COUNT
};
static const char *const derived_names[D_COUNT] = {
	[D_THREAT_NAME] = PREFIX "threat.name",
	[D_THREAT_ID] = PREFIX "threat.id",
};

/* Field ids, resolved once: -1 for FUTURE_USE columns. */
static struct {
	int cols[L_COUNT][PANOS_COLUMNS_MAX];
	int derived[D_COUNT];
	bool all_str[L_COUNT]; /* every column of the table is FT_STR: event_add_vendor_str */
	int rc; /* field_intern's failure, if any */
} ids;
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;
/* panos.column_N for columns past a table, registered on first sight: id + 1, 0 unknown. */
static atomic_int extra_ids[PANOS_COLUMNS_MAX];

static int intern(const char *name, size_t len)
{
	char full[FIELD_NAME_MAX];
	int n = snprintf(full, sizeof(full), PREFIX "%.*s", (int)len, name);

	if (n < 0 || (size_t)n >= sizeof(full))
		return -EINVAL;
	return field_intern(full, (size_t)n, FT_STR);
}

static void ids_init(void)
{
	for (unsigned l = 0; l < L_COUNT; l++) {
		ids.all_str[l] = true;
		for (unsigned i = 0; i < layouts[l].ncols; i++) {
			const char *c = layouts[l].cols[i];
			int id = c ? intern(c, strlen(c)) : -1;

			if (c && id < 0 && !ids.rc)
				ids.rc = id;
			/* a name registered first with another type: event_add_str refuses it */
			if (id >= 0 && (id < FIELD_COUNT || field_type((unsigned)id) != FT_STR))
				ids.all_str[l] = false;
			ids.cols[l][i] = id;
		}
	}
	for (unsigned d = 0; d < D_COUNT; d++) {
		int id = field_intern(derived_names[d], strlen(derived_names[d]), FT_STR);

		if (id < 0 && !ids.rc)
			ids.rc = id;
		ids.derived[d] = id;
	}
	if (ids.rc)
		log_error("cannot register the panos.* fields: %s", strerror(-ids.rc));
}

/* ---- small readers ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool span_eq(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n == l && !memcmp(p, lit, l);
}

/* Unsigned decimal p[0..n) within int64_t (PAN-OS sequence numbers use 63 bits), or -1. */
static int64_t parse_uint(const char *p, size_t n)
{
	uint64_t v = 0; /* 19 digits fit: the range is checked once, without a division */

	if (!n || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	return v > INT64_MAX ? -1 : (int64_t)v;
}

/* Value of two or four digits at p, or -1. */
static int digits(const char *p, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/*
 * "YYYY/MM/DD hh:mm:ss" (or '*' between date and time, as the IETF samples have) as
 * civil time, years 1970 to 2261 (what nanoseconds since 1970 can hold); 0 or -EINVAL.
 */
static int parse_local(const char *p, size_t n, struct civil_time *c)
{
	if (n != 19 || p[4] != '/' || p[7] != '/' || (p[10] != ' ' && p[10] != '*') ||
	    p[13] != ':' || p[16] != ':')
		return -EINVAL;
	*c = (struct civil_time){ digits(p, 4), digits(p + 5, 2), digits(p + 8, 2),
				  digits(p + 11, 2), digits(p + 14, 2), digits(p + 17, 2), 0 };
	if (c->year < 1970 || c->year > 2261 || c->month < 1 || c->month > 12 || c->day < 1 ||
	    c->day > time_days_in_month(c->year, c->month) || c->hour < 0 || c->hour > 23 ||
	    c->min < 0 || c->min > 59 || c->sec < 0 || c->sec > 59)
		return -EINVAL;
	return 0;
}

/* ---- finding the CSV ---- */

static bool is_type_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '-';
}

/* Length of a time column at p ("YYYY/MM/DD hh:mm:ss" or ISO 8601 up to ','), or 0. */
static size_t anchor_time(const char *p, size_t n)
{
	size_t i;

	if (n >= 19 && p[4] == '/' && p[7] == '/' && (p[10] == ' ' || p[10] == '*'))
		return 19;
	if (n < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T')
		return 0;
	for (i = 11; i < n && p[i] != ','; i++)
		if (p[i] == ' ')
			return 0;
	return i < n ? i : 0;
}

/*
 * Whether the CSV starts at msg[at]: digits, ',', a time, ',', a serial without ',',
 * ',', an upper-case TYPE, ','. Sets *type and *tlen.
 */
static bool anchor_at(const char *msg, size_t len, size_t at, const char **type,
		      size_t *tlen)
{
	const char *p = msg + at, *end = msg + len, *t;
	size_t tl;

	while (p < end && is_digit(*p))
		p++;
	if (p >= end || *p++ != ',')
		return false;
	if (!(tl = anchor_time(p, (size_t)(end - p))) || p + tl >= end || p[tl] != ',')
		return false;
	p += tl + 1;
	if (!(p = memchr(p, ',', (size_t)(end - p))))
		return false;
	t = ++p;
	while (p < end && is_type_char(*p))
		p++;
	if (p >= end || *p != ',' || p - t < 3 || p - t > 20)
		return false;
	*type = t;
	*tlen = (size_t)(p - t);
	return true;
}

/*
 * Offset of the CSV in msg (at 0 or after a space, within the window), or -1. Cheap on
 * other logs: only a ',' followed by a time can start the check.
 */
static ssize_t find_anchor(const char *msg, size_t len, const char **type, size_t *tlen)
{
	size_t window = len < PANOS_ANCHOR_WINDOW ? len : PANOS_ANCHOR_WINDOW;
	const char *c = msg, *end = msg + window;

	while ((c = memchr(c, ',', (size_t)(end - c)))) {
		const char *start = c;

		while (start > msg && is_digit(start[-1]))
			start--;
		if ((start == msg || start[-1] == ' ') && anchor_time(c + 1, len - (size_t)(c + 1 - msg)) &&
		    anchor_at(msg, len, (size_t)(start - msg), type, tlen))
			return start - msg;
		c++;
	}
	return -1;
}

bool panos_sniff(const char *msg, size_t len)
{
	const char *type;
	size_t tlen;

	return find_anchor(msg, len, &type, &tlen) >= 0;
}

/* ---- the CSV row ---- */

struct cell {
	const char *p;
	uint32_t len;
	bool quotes; /* quoted with doubled quotes inside: unescape before use */
};

struct row {
	struct cell c[PANOS_COLUMNS_MAX];
	unsigned n;
	bool quotes; /* some cell has doubled quotes: unescape_cells has work */
};

/* End of a `{...}` value starting at p (one past '}'), or NULL when it does not close. */
static const char *brace_end(const char *p, const char *end)
{
	unsigned depth = 0;

	for (; p < end; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return p + 1;
	}
	return NULL;
}

/*
 * Bit i set where p[i] is a ',' (up to 64 bytes), 16 at a time with SSE2 (which every
 * x86-64 has), so that a cell costs a count of trailing zeros, not a scan. With
 * want_special, *special gets the bits of the '"' and '{' as well (else 0).
 */
static inline uint64_t comma_mask(const char *p, const char *end, bool want_special,
				  uint64_t *special)
{
	size_t n = end - p < 64 ? (size_t)(end - p) : 64, i = 0;
	uint64_t m = 0, q = 0;

#ifdef __SSE2__
	const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"'),
		      brace = _mm_set1_epi8('{');

	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));

		m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) << i;
		if (want_special)
			q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(
				     _mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, brace))) << i;
	}
#endif
	for (; i < n; i++) {
		if (p[i] == ',')
			m |= UINT64_C(1) << i;
		else if (want_special && (p[i] == '"' || p[i] == '{'))
			q |= UINT64_C(1) << i;
	}
	*special = q;
	return m;
}

/* Whether a cell starting at p needs split_special: a quoted or a {...} value. */
static bool special_start(const char *p, const char *end)
{
	return p < end && (*p == '"' || *p == '{');
}

/* Whether p[0..n) holds a '"' or a '{' (most rows hold neither). */
static bool has_special(const char *p, size_t n)
{
	size_t i = 0;

#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), brace = _mm_set1_epi8('{');
	__m128i any = _mm_setzero_si128();

	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));

		any = _mm_or_si128(any, _mm_or_si128(_mm_cmpeq_epi8(v, quote),
						      _mm_cmpeq_epi8(v, brace)));
	}
	if (_mm_movemask_epi8(any))
		return true;
#endif
	for (; i < n; i++)
		if (p[i] == '"' || p[i] == '{')
			return true;
	return false;
}

/*
 * Cells up to the row's end or to the next cell that starts with '"' or '{' (looked for
 * only when special), or to the PANOS_COLUMNS_MAX-th, each ended by a ',' found in the
 * comma masks. Returns where that cell starts, or NULL when the row is done.
 */
static const char *split_plain(const char *p, const char *end, struct row *r, bool special)
{
	const char *start = p;
	unsigned n = r->n; /* a local: the cells' stores cannot alias it */

	for (const char *b = p; b < end; b += 64) {
		uint64_t specials, commas = comma_mask(b, end, special, &specials);

		for (; commas; commas &= commas - 1) {
			unsigned at = (unsigned)__builtin_ctzll(commas);

			if (n == PANOS_COLUMNS_MAX)
				break;
			r->c[n++] = (struct cell){ start, (uint32_t)(b + at - start), false };
			start = b + at + 1;
			/* the next cell's first byte: in this block's mask, or the next block's */
			if (special &&
			    (at < 63 ? (specials >> (at + 1)) & 1 : special_start(start, end))) {
				r->n = n;
				return start;
			}
		}
		if (n == PANOS_COLUMNS_MAX)
			break;
	}
	r->n = n;
	if (n == PANOS_COLUMNS_MAX)
		return start;
	r->c[r->n++] = (struct cell){ start, (uint32_t)(end - start), false };
	return NULL;
}

/*
 * The cell at p (a quoted value, or a {...} value that closes before a ','; a '{' that
 * does not is a plain value) into c; *next is its end (the ',' or the row's end).
 * 0, or -EINVAL with a message; base + (p - s) is p's offset in the message.
 */
static int split_special(const char *s, const char *p, const char *end, struct cell *c,
			 unsigned col, size_t base, const char **next, struct err *e)
{
	const char *v = p, *q, *b;

	c->quotes = false;
	if (*p == '{') {
		b = brace_end(p, end);
		q = b && (b == end || *b == ',') ? b : memchr(p, ',', (size_t)(end - p));
		c->p = p;
		c->len = (uint32_t)((q ? q : end) - p);
		*next = q ? q : end;
		return 0;
	}
	for (q = ++p;; q++) {
		if (!(q = memchr(q, '"', (size_t)(end - q))))
			return err_set(e, -EINVAL,
				       "offset %zu: column %u: quoted value "
				       "without its closing '\"'",
				       base + (size_t)(v - s), col);
		if (q + 1 < end && q[1] == '"') {
			c->quotes = true;
			q++;
			continue;
		}
		break;
	}
	c->p = p;
	c->len = (uint32_t)(q - p);
	if (q + 1 < end && q[1] != ',')
		return err_set(e, -EINVAL,
			       "offset %zu: column %u: expected ',' after the closing '\"'",
			       base + (size_t)(q + 1 - s), col);
	*next = q + 1;
	return 0;
}

/* Splits s[0..n) into r; base is s's offset in the message (for errors). */
static int split_row(const char *s, size_t n, struct row *r, size_t base, struct err *e)
{
	const char *p = s, *end = s + n;
	bool special = has_special(s, n);
	struct cell *c;
	int rc;

	r->n = 0;
	r->quotes = false;
	for (;;) {
		if (!special_start(p, end) && !(p = split_plain(p, end, r, special)))
			return 0;
		if (r->n == PANOS_COLUMNS_MAX)
			return err_set(e, -EINVAL, "offset %zu: more than %d PAN-OS columns",
				       base + (size_t)(p - s), PANOS_COLUMNS_MAX);
		c = &r->c[r->n++];
		if ((rc = split_special(s, p, end, c, r->n - 1, base, &p, e)) < 0)
			return rc;
		r->quotes |= c->quotes;
		if (p >= end)
			return 0;
		p++; /* the ',' */
	}
}

/* ---- the event ---- */

struct panos_ctx {
	struct event *ev;
	const struct decode_opts *o;
	struct row row;
	enum layout_id l;
	int rc; /* first failure of an event setter */
	const char *types[4];
	unsigned ntypes;
	bool local_time; /* a zone-less time was read in the source's zone */
};

static void check(struct panos_ctx *x, int rc)
{
	x->rc = err_first(x->rc, rc);
}

static bool is_blank_char(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Column i trimmed of spaces, or false when absent or blank. Inline: the mappers read
 * about 45 cells a row, and an empty cell or one without spaces around is the rule.
 */
static inline bool cell(const struct panos_ctx *x, unsigned i, const char **p, size_t *n)
{
	const struct cell *c;
	const char *s, *e;

	if (i >= x->row.n || !x->row.c[i].len)
		return false;
	c = &x->row.c[i];
	s = c->p;
	e = c->p + c->len;
	if (is_blank_char(*s) || is_blank_char(e[-1])) {
		while (s < e && is_blank_char(*s))
			s++;
		while (e > s && is_blank_char(e[-1]))
			e--;
	}
	*p = s;
	*n = (size_t)(e - s);
	return e > s;
}

static void set_str(struct panos_ctx *x, unsigned field, const char *p, size_t n)
{
	check(x, event_set_str(x->ev, field, p, n));
}

/* A string literal into a field (its length known when compiling). */
#define set_lit(x, field, lit) set_str(x, field, "" lit, sizeof(lit) - 1)

static void set_cstr(struct panos_ctx *x, unsigned field, const char *s)
{
	set_str(x, field, s, strlen(s));
}

static void add_type(struct panos_ctx *x, const char *t)
{
	for (unsigned i = 0; i < x->ntypes; i++)
		if (!strcmp(x->types[i], t))
			return;
	if (x->ntypes < ARRAY_SIZE(x->types))
		x->types[x->ntypes++] = t;
}

/* Column i into a string field. */
static void map_str(struct panos_ctx *x, unsigned i, unsigned field)
{
	const char *p;
	size_t n;

	if (cell(x, i, &p, &n))
		set_str(x, field, p, n);
}

/* Column i into an integer field when it is a number. */
static int64_t map_int(struct panos_ctx *x, unsigned i, unsigned field)
{
	const char *p;
	size_t n;
	int64_t v;

	if (!cell(x, i, &p, &n) || (v = parse_uint(p, n)) < 0)
		return -1;
	check(x, event_set_int(x->ev, field, v));
	return v;
}

/* Column i into related.ip when it is an IP other than 0.0.0.0 (PAN-OS's "none"). */
static bool relate_ip(struct panos_ctx *x, unsigned i, struct ipaddr *ip)
{
	const char *p;
	size_t n;

	if (!cell(x, i, &p, &n) || ipaddr_parse(ip, p, n) < 0 || ipaddr_is_any(ip))
		return false;
	check(x, event_add_ip_once(x->ev, FIELD_RELATED_IP, ip));
	return true;
}

/* Column i into an IP field and related.ip. */
static bool map_ip(struct panos_ctx *x, unsigned i, unsigned field)
{
	struct ipaddr ip;

	if (!relate_ip(x, i, &ip))
		return false;
	check(x, event_set_ip(x->ev, field, &ip));
	return true;
}

/* Column i into source.ip (and related.ip) and, when it is one, source.address. */
static void map_source(struct panos_ctx *x, unsigned i)
{
	if (map_ip(x, i, FIELD_SOURCE_IP))
		map_str(x, i, FIELD_SOURCE_ADDRESS);
}

/* A plain event of category (none when NULL) and, when type is not NULL, that type. */
static void set_event(struct panos_ctx *x, const char *category, const char *type)
{
	set_lit(x, FIELD_EVENT_KIND, "event");
	if (category)
		set_cstr(x, FIELD_EVENT_CATEGORY, category);
	if (type)
		add_type(x, type);
}

/* A port column (0 means none). */
static void map_port(struct panos_ctx *x, unsigned i, unsigned field)
{
	const char *p;
	size_t n;
	int64_t v;

	if (cell(x, i, &p, &n) && (v = parse_uint(p, n)) > 0 &&
	    field_int_valid(field, v))
		check(x, event_set_int(x->ev, field, v));
}

/*
 * A user column: DOMAIN\user and user@domain are split into name and domain fields; the
 * name goes to related.user (the full string stays in the panos.* column).
 */
static void map_user(struct panos_ctx *x, unsigned i, unsigned name_f, unsigned domain_f,
		     bool also_user)
{
	const char *p, *s;
	size_t n, name_off = 0, name_len;

	if (!cell(x, i, &p, &n))
		return;
	name_len = n;
	if ((s = memchr(p, '\\', n))) {
		name_off = (size_t)(s - p) + 1;
		name_len = n - name_off;
		if (s > p) {
			set_str(x, domain_f, p, (size_t)(s - p));
			if (also_user)
				set_str(x, FIELD_USER_DOMAIN, p, (size_t)(s - p));
		}
	} else if ((s = memchr(p, '@', n)) && s > p && s + 1 < p + n) {
		name_len = (size_t)(s - p);
		set_str(x, domain_f, s + 1, n - name_len - 1);
		if (also_user)
			set_str(x, FIELD_USER_DOMAIN, s + 1, n - name_len - 1);
	}
	if (!name_len)
		return;
	set_str(x, name_f, p + name_off, name_len);
	if (also_user && name_f != FIELD_USER_NAME)
		set_str(x, FIELD_USER_NAME, p + name_off, name_len);
	check(x, event_add_str_once(x->ev, FIELD_RELATED_USER, p + name_off, name_len));
}

/* A device-local time column in the source's zone, or -1. */
static int64_t local_time(struct panos_ctx *x, unsigned i)
{
	const struct tz *z = x->o->tz ? x->o->tz : tz_local();
	struct civil_time c;
	const char *p;
	size_t n, bad;
	int64_t ns;

	if (!cell(x, i, &p, &n))
		return -1;
	if (parse_local(p, n, &c) == 0) {
		x->local_time = true;
		return tz_local_to_utc(z, &c);
	}
	/* Cortex-forwarded logs write ISO 8601 with a zone instead */
	return time_parse_rfc3339(p, n, &ns, &bad) == 0 ? ns : -1;
}

/* high_res_timestamp (ISO 8601 with its offset), when present and after 1970. */
static int64_t high_res_time(struct panos_ctx *x, unsigned i)
{
	const char *p;
	size_t n, bad;
	int64_t ns;

	if (!cell(x, i, &p, &n) || time_parse_rfc3339(p, n, &ns, &bad) < 0 || ns <= 0)
		return -1;
	return ns;
}

/* PAN-OS severity words as Elastic numbers them (lower is worse) and in log.level. */
static void map_severity(struct panos_ctx *x, unsigned i)
{
	static const char *const words[] = { "critical", "high", "medium", "low",
					     "informational" };
	const char *p;
	size_t n;

	if (!cell(x, i, &p, &n))
		return;
	set_str(x, FIELD_LOG_LEVEL, p, n);
	for (unsigned k = 0; k < ARRAY_SIZE(words); k++)
		if (span_eq(p, n, words[k]))
			check(x, event_set_int(x->ev, FIELD_EVENT_SEVERITY, k + 1));
}

/*
 * event.type allowed or denied: denied when the subtype is drop or deny (TRAFFIC of a
 * session the firewall dropped, which may carry the rule's action "allow", as Elastic maps
 * it) or the action (column 30) is not an allow word; neither without subtype and action.
 */
static void action_type(struct panos_ctx *x)
{
	static const char *const allowed[] = { "allow", "alert", "continue", "override" };
	const char *p;
	size_t n;

	if (cell(x, 4, &p, &n) && (span_eq(p, n, "drop") || span_eq(p, n, "deny"))) {
		add_type(x, "denied");
		return;
	}
	if (!cell(x, 30, &p, &n))
		return;
	for (unsigned k = 0; k < ARRAY_SIZE(allowed); k++)
		if (span_eq(p, n, allowed[k])) {
			add_type(x, "allowed");
			return;
		}
	add_type(x, "denied");
}

/* IANA protocol number of a transport name, as the string ECS wants, or NULL. */
static const char *iana_number(const char *p, size_t n)
{
	if (span_eq(p, n, "tcp"))
		return "6";
	if (span_eq(p, n, "udp"))
		return "17";
	if (span_eq(p, n, "icmp"))
		return "1";
	if (span_eq(p, n, "ipv6-icmp"))
		return "58";
	if (span_eq(p, n, "sctp"))
		return "132";
	return NULL;
}

/* Columns 7 to 30 of TRAFFIC, THREAT and DECRYPTION: the session. */
static void map_session(struct panos_ctx *x)
{
	const struct event_value *src;
	const char *p, *num;
	size_t n;

	map_source(x, 7);
	if (map_ip(x, 8, FIELD_DESTINATION_IP))
		map_str(x, 8, FIELD_DESTINATION_ADDRESS);
	if (map_ip(x, 9, FIELD_SOURCE_NAT_IP))
		map_port(x, 26, FIELD_SOURCE_NAT_PORT);
	if (map_ip(x, 10, FIELD_DESTINATION_NAT_IP))
		map_port(x, 27, FIELD_DESTINATION_NAT_PORT);
	map_port(x, 24, FIELD_SOURCE_PORT);
	map_port(x, 25, FIELD_DESTINATION_PORT);
	map_str(x, 11, FIELD_RULE_NAME);
	map_user(x, 12, FIELD_SOURCE_USER_NAME, FIELD_SOURCE_USER_DOMAIN, true);
	map_user(x, 13, FIELD_DESTINATION_USER_NAME, FIELD_DESTINATION_USER_DOMAIN, false);
	map_str(x, 14, FIELD_NETWORK_APPLICATION);
	map_str(x, 16, FIELD_OBSERVER_INGRESS_ZONE);
	map_str(x, 17, FIELD_OBSERVER_EGRESS_ZONE);
	map_str(x, 18, FIELD_OBSERVER_INGRESS_INTERFACE_NAME);
	map_str(x, 19, FIELD_OBSERVER_EGRESS_INTERFACE_NAME);
	if (cell(x, 29, &p, &n)) {
		set_str(x, FIELD_NETWORK_TRANSPORT, p, n);
		if ((num = iana_number(p, n)))
			set_cstr(x, FIELD_NETWORK_IANA_NUMBER, num);
	}
	if ((src = event_get(x->ev, FIELD_SOURCE_IP)) && ipaddr_is_v4(&src->v.ip))
		set_lit(x, FIELD_NETWORK_TYPE, "ipv4");
	else if (src)
		set_lit(x, FIELD_NETWORK_TYPE, "ipv6");
	map_str(x, 30, FIELD_EVENT_ACTION);
	action_type(x);
	set_lit(x, FIELD_EVENT_OUTCOME, "success"); /* the firewall did what it logs */
}

static void map_traffic(struct panos_ctx *x)
{
	const char *p;
	size_t n;
	int64_t start, elapsed;

	set_event(x, "network", "connection");
	if (cell(x, 4, &p, &n)) {
		if (span_eq(p, n, "start"))
			add_type(x, "start");
		else if (span_eq(p, n, "end"))
			add_type(x, "end");
	}
	map_session(x);
	map_int(x, 31, FIELD_NETWORK_BYTES);
	map_int(x, 32, FIELD_SOURCE_BYTES);
	map_int(x, 33, FIELD_DESTINATION_BYTES);
	map_int(x, 34, FIELD_NETWORK_PACKETS);
	map_int(x, 44, FIELD_SOURCE_PACKETS);
	map_int(x, 45, FIELD_DESTINATION_PACKETS);
	map_str(x, 41, FIELD_SOURCE_GEO_NAME);
	map_str(x, 42, FIELD_DESTINATION_GEO_NAME);
	map_str(x, 46, FIELD_EVENT_REASON);
	map_str(x, 65, FIELD_RULE_UUID);
	if ((start = local_time(x, 35)) >= 0) {
		check(x, event_set_time(x->ev, FIELD_EVENT_START, start));
		if (cell(x, 36, &p, &n) && (elapsed = parse_uint(p, n)) >= 0 &&
		    elapsed <= (INT64_MAX - start) / NS_PER_SEC) {
			check(x, event_set_int(x->ev, FIELD_EVENT_DURATION, elapsed * NS_PER_SEC));
			check(x, event_set_time(x->ev, FIELD_EVENT_END,
						start + elapsed * NS_PER_SEC));
		}
	}
}

/* "Name(1234)" into the derived threat fields and event.code. */
static void map_threat_id(struct panos_ctx *x, unsigned i)
{
	const char *p, *open;
	size_t n, idlen;

	if (!cell(x, i, &p, &n))
		return;
	if (p[n - 1] != ')' || !(open = memrchr(p, '(', n)) ||
	    parse_uint(open + 1, (size_t)(p + n - 1 - open - 1)) < 0) {
		check(x, event_add_str(x->ev, (unsigned)ids.derived[D_THREAT_NAME], p, n));
		return;
	}
	idlen = (size_t)(p + n - 1 - open - 1);
	check(x, event_add_str(x->ev, (unsigned)ids.derived[D_THREAT_ID], open + 1, idlen));
	set_str(x, FIELD_EVENT_CODE, open + 1, idlen);
	while (open > p && open[-1] == ' ')
		open--;
	if (open > p)
		check(x, event_add_str(x->ev, (unsigned)ids.derived[D_THREAT_NAME], p,
				       (size_t)(open - p)));
	else if (span_eq(open + 1, idlen, "9999")) /* url subtype: "(9999)" */
		check(x, event_add_str(x->ev, (unsigned)ids.derived[D_THREAT_NAME],
				       "URL-filtering", 13));
}

/* File subtypes: misc is a file name, or a path. */
static void map_file(struct panos_ctx *x, const char *p, size_t n)
{
	const char *base = p;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '/' || p[i] == '\\')
			base = p + i + 1;
	if (base > p)
		set_str(x, FIELD_FILE_PATH, p, n);
	if (base < p + n)
		set_str(x, FIELD_FILE_NAME, base, (size_t)(p + n - base));
}

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(p[i]) && !((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f'))
			return false;
	return true;
}

/* direction says which end is the client: client.* and server.* copy that end. */
static void map_direction(struct panos_ctx *x, const char *p, size_t n)
{
	bool c2s = span_eq(p, n, "client-to-server") || span_eq(p, n, "0");
	bool s2c = span_eq(p, n, "server-to-client") || span_eq(p, n, "1");
	const struct event_value *v;

	if (!c2s && !s2c)
		return;
	if ((v = event_get(x->ev, c2s ? FIELD_SOURCE_IP : FIELD_DESTINATION_IP)))
		check(x, event_set_ip(x->ev, FIELD_CLIENT_IP, &v->v.ip));
	if ((v = event_get(x->ev, c2s ? FIELD_SOURCE_PORT : FIELD_DESTINATION_PORT)))
		check(x, event_set_int(x->ev, FIELD_CLIENT_PORT, v->v.i));
	if ((v = event_get(x->ev, c2s ? FIELD_DESTINATION_IP : FIELD_SOURCE_IP)))
		check(x, event_set_ip(x->ev, FIELD_SERVER_IP, &v->v.ip));
	if ((v = event_get(x->ev, c2s ? FIELD_DESTINATION_PORT : FIELD_SOURCE_PORT)))
		check(x, event_set_int(x->ev, FIELD_SERVER_PORT, v->v.i));
}

static void map_threat(struct panos_ctx *x)
{
	const char *sub = "", *p;
	size_t subn = 0, n;

	set_lit(x, FIELD_EVENT_KIND, "alert");
	set_lit(x, FIELD_EVENT_CATEGORY, "intrusion_detection");
	check(x, event_add_str(x->ev, FIELD_EVENT_CATEGORY, "network", 7));
	cell(x, 4, &sub, &subn);
	map_session(x);
	if (span_eq(sub, subn, "virus") || span_eq(sub, subn, "wildfire-virus") ||
	    span_eq(sub, subn, "ml-virus")) {
		check(x, event_add_str(x->ev, FIELD_EVENT_CATEGORY, "malware", 7));
		add_type(x, "info");
	}
	if (span_eq(sub, subn, "url"))
		check(x, event_add_str(x->ev, FIELD_EVENT_CATEGORY, "web", 3));
	if (cell(x, 31, &p, &n)) {
		if (span_eq(sub, subn, "url"))
			check(x, logtext_set_url_host(x->ev, (struct logtext_span){ p, n }));
		else if (span_eq(sub, subn, "file") || span_eq(sub, subn, "virus") ||
			 span_eq(sub, subn, "wildfire") || span_eq(sub, subn, "wildfire-virus") ||
			 span_eq(sub, subn, "ml-virus") || span_eq(sub, subn, "data"))
			map_file(x, p, n);
	}
	map_threat_id(x, 32);
	map_severity(x, 34);
	if (cell(x, 35, &p, &n))
		map_direction(x, p, n);
	map_str(x, 38, FIELD_SOURCE_GEO_NAME);
	map_str(x, 39, FIELD_DESTINATION_GEO_NAME);
	if (cell(x, 43, &p, &n) && n == 64 && is_hex(p, n)) {
		set_str(x, FIELD_FILE_HASH_SHA256, p, n);
		check(x, event_add_str(x->ev, FIELD_RELATED_HASH, p, n));
	}
	map_str(x, 46, FIELD_USER_AGENT_ORIGINAL);
	map_str(x, 49, FIELD_HTTP_REQUEST_REFERRER);
	map_str(x, 63, FIELD_HTTP_REQUEST_METHOD);
	map_str(x, 76, FIELD_RULE_UUID);
}

static void map_decryption(struct panos_ctx *x)
{
	set_event(x, "network", "connection");
	map_session(x);
	map_str(x, 36, FIELD_RULE_UUID);
	map_str(x, 63, FIELD_DESTINATION_DOMAIN); /* the SNI, as ECS advises */
}

static void map_system(struct panos_ctx *x)
{
	set_event(x, NULL, NULL);
	map_str(x, 8, FIELD_EVENT_ACTION);
	map_severity(x, 13);
	map_str(x, 14, FIELD_MESSAGE);
}

/* Column i into event.outcome: "success" when it reads ok, "failure" when it reads failed. */
static void map_outcome(struct panos_ctx *x, unsigned i, const char *ok, const char *failed)
{
	const char *p;
	size_t n;

	if (!cell(x, i, &p, &n))
		return;
	if (span_eq(p, n, ok))
		set_lit(x, FIELD_EVENT_OUTCOME, "success");
	else if (span_eq(p, n, failed))
		set_lit(x, FIELD_EVENT_OUTCOME, "failure");
}

static void map_config(struct panos_ctx *x)
{
	const char *p;
	size_t n;

	set_event(x, "configuration", NULL);
	if (cell(x, 9, &p, &n)) {
		set_str(x, FIELD_EVENT_ACTION, p, n);
		add_type(x, span_eq(p, n, "delete") ? "deletion" : "change");
	}
	map_source(x, 7);
	map_user(x, 10, FIELD_USER_NAME, FIELD_USER_DOMAIN, false);
	map_outcome(x, 12, "Succeeded", "Failed");
}

/*
 * A GLOBALPROTECT row whose event id is a portal's or gateway's authentication of the
 * user (portal-auth, gateway-auth) is ECS's authentication, of type start when its status
 * is success (info otherwise), as a Defender logon or an Entra ID sign-in: impossible
 * travel and brute-force rules read it by category, outcome, user.name and source.ip.
 * Every other event id (prelogin, tunnel set-up, latency, logout...) stays network/info.
 */
static void map_globalprotect(struct panos_ctx *x)
{
	struct ipaddr inside;
	const char *p;
	size_t n;

	if (cell(x, 8, &p, &n) && (span_eq(p, n, "portal-auth") || span_eq(p, n, "gateway-auth")))
		set_event(x, "authentication",
			  cell(x, 28, &p, &n) && span_eq(p, n, "success") ? "start" : "info");
	else
		set_event(x, "network", "info");
	map_str(x, 8, FIELD_EVENT_ACTION);
	map_user(x, 12, FIELD_SOURCE_USER_NAME, FIELD_SOURCE_USER_DOMAIN, true);
	map_str(x, 13, FIELD_SOURCE_GEO_NAME);
	map_source(x, 15);
	relate_ip(x, 17, &inside); /* the address inside the tunnel */
	map_str(x, 27, FIELD_MESSAGE);
	map_outcome(x, 28, "success", "failure");
	map_str(x, 25, FIELD_EVENT_REASON);
}

static void map_userid(struct panos_ctx *x)
{
	set_event(x, "iam", "info");
	map_str(x, 4, FIELD_EVENT_ACTION);
	map_source(x, 8);
	map_user(x, 9, FIELD_SOURCE_USER_NAME, FIELD_SOURCE_USER_DOMAIN, true);
}

static void map_authentication(struct panos_ctx *x)
{
	set_event(x, "authentication", "info");
	map_str(x, 20, FIELD_EVENT_ACTION);
	map_source(x, 8);
	map_user(x, 9, FIELD_SOURCE_USER_NAME, FIELD_SOURCE_USER_DOMAIN, true);
	map_str(x, 18, FIELD_MESSAGE);
	map_str(x, 32, FIELD_RULE_UUID);
	map_str(x, 44, FIELD_USER_AGENT_ORIGINAL);
}

static void map_hipmatch(struct panos_ctx *x)
{
	set_event(x, "host", "info");
	map_user(x, 7, FIELD_SOURCE_USER_NAME, FIELD_SOURCE_USER_DOMAIN, true);
	map_source(x, 11);
	map_str(x, 12, FIELD_RULE_NAME); /* the HIP object or profile that matched */
}

static void map_other(struct panos_ctx *x)
{
	set_event(x, NULL, NULL);
}

struct layout_map {
	void (*map)(struct panos_ctx *x);
	int device_name; /* column of device_name, -1: none */
	int high_res;    /* column of high_res_timestamp, -1: none */
	int seqno;       /* column of seqno, -1: none */
};

static const struct layout_map maps[L_COUNT] = {
	[L_TRAFFIC] = { map_traffic, 52, 102, 39 },
	[L_THREAT] = { map_threat, 59, 107, 36 },
	[L_SYSTEM] = { map_system, 22, 25, 15 },
	[L_CONFIG] = { map_config, 23, 27, 16 },
	[L_CONFIG_OBSERVED] = { map_config, 21, 25, 14 },
	[L_GLOBALPROTECT] = { map_globalprotect, 47, 36, 34 },
	[L_USERID] = { map_userid, 25, 33, 18 },
	[L_AUTHENTICATION] = { map_authentication, 29, 33, 22 },
	[L_DECRYPTION] = { map_decryption, 96, 72, 89 },
	[L_HIPMATCH] = { map_hipmatch, 24, 30, 17 },
	[L_OTHER] = { map_other, -1, -1, -1 },
};

/* Which column table the row follows. */
static enum layout_id pick_layout(const char *type, size_t n, const struct row *r)
{
	for (unsigned l = 0; l < L_OTHER; l++) {
		if (l == L_CONFIG_OBSERVED || !span_eq(type, n, layouts[l].type))
			continue;
		if (l == L_CONFIG && r->n > 15 && parse_uint(r->c[14].p, r->c[14].len) >= 0 &&
		    r->c[15].len > 2 && !memcmp(r->c[15].p, "0x", 2) &&
		    is_hex(r->c[15].p + 2, r->c[15].len - 2))
			return L_CONFIG_OBSERVED;
		return (enum layout_id)l;
	}
	if (span_eq(type, n, "HIP-MATCH"))
		return L_HIPMATCH;
	return L_OTHER;
}

/* A column newer than koban's table is kept by its position: panos.column_N. */
static int extra_id(unsigned i)
{
	int id = atomic_load_explicit(&extra_ids[i], memory_order_relaxed) - 1;
	char name[32];

	if (id >= 0)
		return id;
	id = intern(name, (size_t)snprintf(name, sizeof(name), "column_%u", i));
	if (id >= 0)
		atomic_store_explicit(&extra_ids[i], id + 1, memory_order_relaxed);
	return id;
}

/* Quoted cells with doubled quotes, undone into the arena once for every later use. */
static int unescape_cells(struct panos_ctx *x)
{
	for (unsigned i = 0; x->row.quotes && i < x->row.n; i++) {
		struct cell *c = &x->row.c[i];
		char *q, *w;

		if (!c->quotes)
			continue;
		if (!(q = arena_alloc(x->ev->arena, c->len)))
			return -ENOMEM;
		w = q;
		for (uint32_t k = 0; k < c->len; k++) {
			*w++ = c->p[k];
			if (c->p[k] == '"')
				k++; /* "" is one quote */
		}
		c->p = q;
		c->len = (uint32_t)(w - q);
		c->quotes = false;
	}
	return 0;
}

/* Whether a cell holds only spaces (SYSTEM writes such cells): no value. */
static bool blank(const char *p, size_t n)
{
	if (*p != ' ')
		return false;
	while (n && *p == ' ')
		p++, n--;
	return n == 0;
}

/* Every cell with a value as panos.NAME, as the device wrote it (blank cells are absent). */
static int write_columns(struct panos_ctx *x)
{
	const struct layout *l = &layouts[x->l];
	const int *cols = ids.cols[x->l];
	/* the table's columns without a type check each when all are strings (always, unless
	 * a name was registered with another type first: then event_add_str refuses it) */
	unsigned i = 0, fast = ids.all_str[x->l] ? MIN(x->row.n, l->ncols) : 0;

	for (; i < fast; i++) {
		const struct cell *c = &x->row.c[i];

		if (c->len && cols[i] >= 0 && !blank(c->p, c->len))
			check(x, event_add_vendor_str(x->ev, (unsigned)cols[i], c->p, c->len));
	}
	for (; i < x->row.n; i++) {
		const struct cell *c = &x->row.c[i];
		int id;

		if (!c->len || blank(c->p, c->len))
			continue;
		id = i < l->ncols ? cols[i] : extra_id(i);
		if (id >= 0)
			check(x, event_add_str(x->ev, (unsigned)id, c->p, c->len));
	}
	return x->rc;
}

/* @timestamp: high_res_timestamp, else time_generated in the source's zone. */
static void map_time(struct panos_ctx *x)
{
	const struct layout_map *m = &maps[x->l];
	const struct tz *z = x->o->tz ? x->o->tz : tz_local();
	int64_t t = m->high_res >= 0 ? high_res_time(x, (unsigned)m->high_res) : -1;

	if (t < 0)
		t = local_time(x, 6);
	if (t >= 0)
		check(x, event_set_time(x->ev, FIELD_TIMESTAMP, t));
	if (x->local_time)
		set_str(x, FIELD_EVENT_TIMEZONE, tz_name(z), strlen(tz_name(z)));
}

static void map_common(struct panos_ctx *x)
{
	const struct layout_map *m = &maps[x->l];

	set_lit(x, FIELD_EVENT_MODULE, "panos");
	set_cstr(x, FIELD_EVENT_DATASET, layouts[x->l].dataset);
	set_lit(x, FIELD_OBSERVER_VENDOR, "Palo Alto Networks");
	set_lit(x, FIELD_OBSERVER_PRODUCT, "PAN-OS");
	set_lit(x, FIELD_OBSERVER_TYPE, "firewall");
	map_str(x, 2, FIELD_OBSERVER_SERIAL_NUMBER);
	if (m->device_name >= 0)
		map_str(x, (unsigned)m->device_name, FIELD_OBSERVER_HOSTNAME);
	if (m->seqno >= 0)
		map_int(x, (unsigned)m->seqno, FIELD_EVENT_SEQUENCE);
	m->map(x);
	for (unsigned i = 0; i < x->ntypes; i++)
		check(x, event_add_str(x->ev, FIELD_EVENT_TYPE, x->types[i],
				       strlen(x->types[i])));
	map_time(x);
}

/* ---- the message around the CSV ---- */

/* The length after "N " when N equals it (an octet-counted line), else 0. */
static size_t octet_count(const char *msg, size_t len)
{
	size_t i = 0;
	int64_t count;

	while (i < len && i < 10 && is_digit(msg[i]))
		i++;
	if (!i || i >= len || msg[i] != ' ' || msg[0] == '0')
		return 0;
	count = parse_uint(msg, i);
	return count > 0 && (size_t)count == len - i - 1 ? i + 1 : 0;
}

/*
 * A line that starts with a letter before its CSV carries a BSD header without PRI
 * ("Nov 30 16:09:08 PA-220 1,2018/..."): read it as the RFC 3164 decoder does (host.name,
 * the stamp), then forget the message, which the CSV replaces.
 */
static int bsd_without_pri(struct event *ev, const char *msg, size_t len,
			   const struct decode_opts *o, struct err *e)
{
	struct syslog_opts so = { SYSLOG_RFC3164, o->tz, o->received_ns, o->tenant,
				  o->tenant_gen };
	const struct event_value *m;
	int rc;

	if ((rc = syslog_parse(ev, msg, len, &so, e)) < 0)
		return rc;
	m = event_get(ev, FIELD_MESSAGE);
	if (m && m == &ev->vals[ev->n - 1])
		event_truncate(ev, ev->n - 1);
	return 0;
}

/* The failure contract: original, message (the whole text) and the receive time only. */
static int fail_event(struct event *ev, const char *msg, size_t len,
		      const struct decode_opts *o, int code)
{
	event_truncate(ev, 0);
	if (event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, len) < 0 ||
	    event_set_str(ev, FIELD_MESSAGE, msg, len) < 0 ||
	    event_set_time(ev, FIELD_EVENT_CREATED, o->received_ns) < 0 ||
	    event_set_time(ev, FIELD_TIMESTAMP, o->received_ns) < 0)
		return -ENOMEM;
	return code;
}

int panos_decode(struct event *ev, const char *msg, size_t len, const struct decode_opts *o,
		 struct err *e)
{
	struct panos_ctx ctx, *x = &ctx;
	const char *m = msg, *payload, *type;
	size_t n = len, plen, tlen, skip;
	ssize_t at;
	int rc;

	pthread_once(&ids_once, ids_init);
	if (ids.rc)
		return fail_event(ev, msg, len, o,
				  err_set(e, ids.rc, "cannot register the panos.* fields: %s",
					  strerror(-ids.rc)));
	skip = octet_count(msg, len);
	m += skip;
	n -= skip;
	if (n && m[0] >= 'A' && m[0] <= 'Z' && (at = find_anchor(m, n, &type, &tlen)) > 0) {
		rc = bsd_without_pri(ev, m, n, o, e);
		payload = m + at;
		plen = n - (size_t)at;
	} else {
		rc = decoder_syslog_payload(ev, m, n, o, &payload, &plen, e);
	}
	if (rc < 0)
		return fail_event(ev, msg, len, o, rc);
	if (skip && (rc = event_set_str(ev, FIELD_EVENT_ORIGINAL, msg, len)) < 0)
		return fail_event(ev, msg, len, o, err_set(e, rc, "cannot build the event"));
	if ((at = find_anchor(payload, plen, &type, &tlen)) < 0)
		return fail_event(ev, msg, len, o,
				  err_set(e, -EINVAL,
					  "offset %zu: no PAN-OS log (expected "
					  "FUTURE_USE,receive_time,serial,TYPE,... within %d bytes)",
					  (size_t)(payload - msg), PANOS_ANCHOR_WINDOW));
	payload += at;
	plen -= (size_t)at;
	x->ev = ev;
	x->o = o;
	x->rc = 0;
	x->ntypes = 0;
	x->local_time = false;
	if ((rc = split_row(payload, plen, &x->row, (size_t)(payload - msg), e)) < 0)
		return fail_event(ev, msg, len, o, rc);
	if (x->row.n < 7)
		return fail_event(ev, msg, len, o,
				  err_set(e, -EINVAL,
					  "offset %zu: PAN-OS %.*s row of %u columns (expected at "
					  "least 7, up to time_generated)",
					  (size_t)(payload - msg), (int)tlen, type, x->row.n));
	x->l = pick_layout(type, tlen, &x->row);
	/* every column plus the ECS mapping, in one allocation */
	if ((rc = event_reserve(ev, ev->n + x->row.n + ECS_VALUES_MAX)) < 0 ||
	    (rc = unescape_cells(x)) < 0 || (rc = write_columns(x)) < 0)
		return fail_event(ev, msg, len, o,
				  err_set(e, rc, "cannot build the event: %s", strerror(-rc)));
	map_common(x);
	if (x->rc < 0)
		return fail_event(ev, msg, len, o,
				  err_set(e, x->rc, "cannot build the event: %s",
					  strerror(-x->rc)));
	return 0;
}
