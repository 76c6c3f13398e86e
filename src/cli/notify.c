/*
 * notify.c - `koban notify SUB`: the notification commands (issue 11, docs/notify-policy.md).
 *
 * The dispatcher names every sub-command in subs[] (one line each): `policy` (show, set,
 * history, check a tenant's policy) and `explain` (which steps of the policy would fire for
 * an incident, and why) are here; the engine's `test` and `log` live in notifysend.c.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "notify/explain.h"
#include "notify/policy.h"
#include "store/meta.h"

#define SHOW_USAGE "notify policy show --tenant T [--json]"
#define SET_USAGE "notify policy set --tenant T [--by NAME] FILE"
#define HISTORY_USAGE "notify policy history --tenant T [--limit N] [--diff | --json]"
#define CHECK_USAGE "notify policy check [--tenant T] FILE"
#define EXPLAIN_USAGE "notify explain --tenant T --incident N [--at TIME] [--json]"
#define WHO_MAX 128
#define EXPLAIN_ARENA_MAX (8u << 20)
#define DIFF_LINES_MAX 40 /* lines of one side of a change shown by history --diff */

/* ---- koban notify policy ---- */

static const struct cli_verb policy_verbs[] = {
	{ "show", SHOW_USAGE,
	  "Prints the tenant's notification policy as it was set. --json: one object with its\n"
	  "version, when and by whom it was set, and the policy." },
	{ "set", SET_USAGE,
	  "Validates FILE (\"-\": standard input) and makes it the tenant's policy; the change is\n"
	  "recorded with who (--by, default the login name), when, and the text before and after.\n"
	  "A mistake is named by its JSON path: rules[2].steps[0].after: expected a duration ..." },
	{ "history", HISTORY_USAGE,
	  "Every change of the tenant's policy, newest first (--limit, default 20): the version,\n"
	  "when, by whom. --diff: with the lines that changed (- before, + after). --json: one\n"
	  "object a line with the whole text before and after." },
	{ "check", CHECK_USAGE,
	  "Validates FILE without storing it: prints the number of rules, or what is wrong." },
};

static const struct cli_command policy_command = {
	"notify policy", SHOW_USAGE "\n       koban " SET_USAGE "\n       koban " HISTORY_USAGE
	"\n       koban " CHECK_USAGE,
	"The tenants' notification policies (docs/notify-policy.md).\n"
	"`koban help notify policy VERB` describes one sub-command.",
	policy_verbs, ARRAY_SIZE(policy_verbs),
};

enum { SHOW, SET, HISTORY, CHECK };

struct policy_opts {
	const char *tenant, *by, *limit;
	bool json, diff;
	const char *pos[1];
	char who[WHO_MAX + 1];
	int64_t n;
};

static void show_policy(void *ctx, const struct meta_notify_policy *p)
{
	const struct policy_opts *op = ctx;
	struct buf out = BUF_INIT(4 * META_NOTIFY_POLICY_MAX);

	if (!op->json) {
		fputs(p->body, stdout);
		if (!*p->body || p->body[strlen(p->body) - 1] != '\n')
			putchar('\n');
		return;
	}
	if (explain_policy_json(p, &out) < 0)
		fprintf(stderr, "koban: notify policy show: out of memory\n");
	else
		printf("%s\n", out.p);
	buf_release(&out);
}

/* The lines of s[0..n) from line `from` (0-based) on, at most max of them, each after mark. */
static void print_lines(const char *s, size_t n, size_t from, size_t count, char mark)
{
	size_t line = 0, shown = 0;

	for (size_t i = 0; i < n && shown < count; line++) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) : n;

		if (line >= from) {
			if (shown == DIFF_LINES_MAX) {
				printf("    %c ... (%zu more lines)\n", mark, count - shown);
				return;
			}
			printf("    %c %.*s\n", mark, (int)(end - i), s + i);
			shown++;
		}
		i = end + 1;
	}
}

static size_t count_lines(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k + (n && s[n - 1] != '\n');
}

/*
 * What changed between before and after, as the lines between their common first and last
 * lines: "-" lines of before, "+" lines of after (at most DIFF_LINES_MAX each).
 */
static void print_diff(const char *before, const char *after)
{
	size_t nb = strlen(before), na = strlen(after), head = 0, tail = 0, hl = 0, tl = 0;
	size_t lb, la;

	/* common leading whole lines */
	for (size_t i = 0; i < nb && i < na && before[i] == after[i]; i++)
		if (before[i] == '\n')
			head = i + 1, hl++;
	/* common trailing whole lines, not overlapping the head */
	for (size_t i = 1; i <= nb - head && i <= na - head && before[nb - i] == after[na - i]; i++)
		if (before[nb - i] == '\n' && i > 1)
			tail = i - 1, tl++;
	lb = count_lines(before, nb) - hl - tl;
	la = count_lines(after, na) - hl - tl;
	if (lb > count_lines(before, nb) || la > count_lines(after, na))
		return; /* the trimmed parts overlapped: nothing sensible to show */
	printf("    @@ line %zu @@\n", hl + 1);
	print_lines(before, nb, hl, lb, '-');
	print_lines(after, na, hl, la, '+');
	(void)tail;
}

static void show_change(void *ctx, const struct meta_notify_policy_change *c)
{
	const struct policy_opts *op = ctx;
	struct buf out = BUF_INIT(8 * META_NOTIFY_POLICY_MAX);
	char t[TIME_RFC3339_LEN];

	if (!op->json) {
		time_format_rfc3339(c->at_ns, t);
		printf("version %lld  %s  by %s  (%zu -> %zu bytes%s)\n", (long long)c->version, t,
		       c->actor, c->before ? strlen(c->before) : 0, strlen(c->after),
		       c->before ? "" : ", the first policy");
		if (c->before && op->diff)
			print_diff(c->before, c->after);
		return;
	}
	if (explain_change_json(c, &out) < 0)
		fprintf(stderr, "koban: notify policy history: out of memory\n");
	else
		printf("%s\n", out.p);
	buf_release(&out);
}

/* FILE, or standard input for "-", into *text (mem_alloc'ed, NUL-terminated, *len bytes). */
static int read_text(const char *file, char **text, size_t *len, struct err *e)
{
	struct buf in = BUF_INIT(META_NOTIFY_POLICY_MAX);
	char chunk[8192];
	size_t n;
	int rc = 0;

	if (strcmp(file, "-")) {
		char *raw = NULL;

		/* config_read_file() gives the bytes without a NUL: copied with one */
		if ((rc = config_read_file(file, "policy", META_NOTIFY_POLICY_MAX, &raw, len, e)) == 0 &&
		    !(*text = mem_strndup(raw, *len)))
			rc = err_set(e, -ENOMEM, "out of memory");
		mem_free(raw);
		return rc;
	}
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_add(&in, chunk, n) < 0)
			rc = err_set(e, -EINVAL, "standard input: more than %d bytes",
				     META_NOTIFY_POLICY_MAX);
	if (rc == 0 && ferror(stdin))
		rc = err_set(e, -EIO, "standard input: read error");
	if (rc == 0 && !(*text = mem_strndup(in.p, in.len)))
		rc = err_set(e, -ENOMEM, "out of memory");
	*len = in.len;
	buf_release(&in);
	return rc;
}

static int policy_check(const struct policy_opts *op, struct err *e)
{
	struct policy *p = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = read_text(op->pos[0], &text, &len, e)) == 0 &&
	    (rc = policy_parse(&p, strcmp(op->pos[0], "-") ? op->pos[0] : "standard input", text,
			       len, e)) == 0)
		printf("%s: ok, %zu rule%s\n", op->pos[0], policy_rules(p),
		       policy_rules(p) == 1 ? "" : "s");
	policy_free(p);
	mem_free(text);
	return rc;
}

static int policy_set(struct meta *m, const struct policy_opts *op, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	int64_t version = 0;
	bool changed = false;
	int rc;

	if ((rc = read_text(op->pos[0], &text, &len, e)) < 0)
		goto out;
	if (strlen(text) != len) {
		rc = err_set(e, -EINVAL, "%s: a NUL byte in the policy", op->pos[0]);
		goto out;
	}
	if ((rc = meta_notify_policy_set(m, op->tenant, text, op->who, time_now_ns(), &version,
					 &changed, e)) < 0)
		goto out;
	if (changed)
		printf("tenant %s: notification policy version %lld set by %s\n", op->tenant,
		       (long long)version, op->who);
	else
		printf("tenant %s: notification policy unchanged (version %lld)\n", op->tenant,
		       (long long)version);
out:
	mem_free(text);
	return rc;
}

static int policy_run(struct meta *m, int which, struct policy_opts *op, struct err *e)
{
	switch (which) {
	case SHOW:
		return meta_notify_policy_get(m, op->tenant, show_policy, op, e);
	case SET:
		return policy_set(m, op, e);
	default:
		return meta_notify_policy_history(m, op->tenant, op->n, show_change, op, e);
	}
}

static void who_am_i(struct policy_opts *op)
{
	const struct passwd *pw;

	if (op->by) {
		snprintf(op->who, sizeof(op->who), "%s", op->by);
		return;
	}
	pw = getpwuid(getuid());
	snprintf(op->who, sizeof(op->who), "%s", pw ? pw->pw_name : "unknown");
}

static int cmd_notify_policy(int argc, char **argv)
{
	static const char *const cmds[] = { "notify policy show", "notify policy set",
					    "notify policy history", "notify policy check" };
	static const char *const file_name[] = { "FILE" };
	const struct cli_verb *verb;
	struct policy_opts op = { .n = 20 };
	const struct cli_option show_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_FLAG("json", &op.json) };
	const struct cli_option set_opts[] = { CLI_VALUE("tenant", &op.tenant), CLI_VALUE("by", &op.by) };
	const struct cli_option history_opts[] = { CLI_VALUE("tenant", &op.tenant),
						   CLI_VALUE("limit", &op.limit),
						   CLI_FLAG("diff", &op.diff),
						   CLI_FLAG("json", &op.json) };
	const struct cli_option check_opts[] = { CLI_VALUE("tenant", &op.tenant) };
	struct cli_args a = { .pos = op.pos, .pos_names = file_name };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int which, rc;

	if ((rc = cli_verb(&argc, &argv, &policy_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - policy_verbs);
	a.cmd = cmds[which];
	a.usage = verb->usage;
	a.about = verb->about;
	switch (which) {
	case SHOW:
		a.opts = show_opts, a.n_opts = ARRAY_SIZE(show_opts);
		break;
	case SET:
		a.opts = set_opts, a.n_opts = ARRAY_SIZE(set_opts);
		a.min_pos = a.max_pos = 1;
		break;
	case HISTORY:
		a.opts = history_opts, a.n_opts = ARRAY_SIZE(history_opts);
		break;
	default:
		a.opts = check_opts, a.n_opts = ARRAY_SIZE(check_opts);
		a.min_pos = a.max_pos = 1;
	}
	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (op.diff && op.json)
		return cli_usage_error(a.cmd, a.usage, "--diff or --json, not both");
	if (!op.tenant && which != CHECK)
		return cli_usage_error(a.cmd, a.usage, "--tenant T is required");
	if (op.limit) {
		char *end = NULL;
		long long n = strtoll(op.limit, &end, 10);

		if (!*op.limit || *end || n < 1 || n > META_NOTIFY_HISTORY_MAX)
			return cli_usage_error(a.cmd, a.usage, "--limit: expected 1 to %d, found '%s'",
					       META_NOTIFY_HISTORY_MAX, op.limit);
		op.n = n;
	}
	if (op.by && (!*op.by || strlen(op.by) > WHO_MAX))
		return cli_usage_error(a.cmd, a.usage, "--by: 1 to %d bytes", WHO_MAX);
	who_am_i(&op);
	if (which == CHECK)
		return policy_check(&op, &e) < 0 ? cli_fail(&e) : 0;
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) == 0)
		rc = policy_run(m, which, &op, &e);
	if (rc < 0)
		rc = cli_fail(&e);
	meta_close(m);
	config_release(&c);
	return rc;
}

/* ---- koban notify explain ---- */

static int cmd_notify_explain(int argc, char **argv)
{
	const char *tenant = NULL, *incident = NULL, *at = NULL;
	bool json = false;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant),
					   CLI_VALUE("incident", &incident), CLI_VALUE("at", &at),
					   CLI_FLAG("json", &json) };
	struct cli_args a = {
		.cmd = "notify explain", .usage = EXPLAIN_USAGE,
		.about = "Which rule of the tenant's notification policy matches incident N, which\n"
			 "steps would fire when (from the decision time: --at TIME, else the time its\n"
			 "level was decided) and why, with the reasons of the rules that did not match.\n"
			 "TIME: RFC 3339 (2026-05-04T02:00:00+09:00), a date, or relative (-1h).\n"
			 "Similar incidents of the same rule within the matched rule's window are\n"
			 "counted from koban.db.",
		.opts = opts, .n_opts = ARRAY_SIZE(opts),
	};
	struct buf out = BUF_INIT(1u << 20);
	struct explain x = { 0 };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct arena ar;
	struct config c;
	int64_t now = time_now_ns(), at_ns = 0, id;
	char *end = NULL;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (!tenant || !incident)
		return cli_usage_error(a.cmd, a.usage, "--tenant T and --incident N are required");
	id = strtoll(incident, &end, 10);
	if (!*incident || *end || id < 1)
		return cli_usage_error(a.cmd, a.usage, "--incident: expected an incident number, "
				       "found '%s'", incident);
	if (at && time_parse(at, strlen(at), now, &at_ns) < 0)
		return cli_usage_error(a.cmd, a.usage, "--at: expected an RFC 3339 time, a date or "
				       "a relative time such as -1h, found '%s'", at);
	if (at && !at_ns)
		at_ns = 1; /* the epoch itself: any instant but "not given" */
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	arena_init(&ar, 16384, EXPLAIN_ARENA_MAX);
	if ((rc = meta_open(&m, c.data_dir, &e)) == 0 &&
	    (rc = explain_incident(m, tenant, id, at_ns, now, &ar, &x, &e)) == 0) {
		rc = json ? explain_write_json(&x, &out) : explain_write_text(&x, &out);
		if (rc < 0)
			err_set(&e, rc, "the explanation is too large");
		else
			printf("%s%s", out.p, json ? "\n" : "");
		explain_release(&x);
	}
	if (rc < 0)
		rc = cli_fail(&e);
	buf_release(&out);
	arena_release(&ar);
	meta_close(m);
	config_release(&c);
	return rc;
}

/* ---- the dispatcher ---- */

struct notify_sub {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *about;
};

static const struct notify_sub subs[] = {
	{ "policy", cmd_notify_policy, "notify policy show|set|history|check ...",
	  "show, set, check a tenant's notification policy, or its history" },
	{ "explain", cmd_notify_explain, EXPLAIN_USAGE,
	  "which policy steps would fire for an incident, when, and why" },
	{ "test", cmd_notify_test, "notify test --tenant T --channel NAME --to RECIPIENT",
	  "send a test notice through a channel and print the result (docs/notify.md)" },
	{ "log", cmd_notify_log, "notify log --tenant T [--incident N] [--json]",
	  "the delivery log of the tenant's notices and their tries (docs/notify.md)" },
};

static void notify_help(FILE *f)
{
	fprintf(f, "usage: koban notify SUB ...\n\nNotifications (docs/notify-policy.md):\n");
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		fprintf(f, "  koban %s\n      %s\n", subs[i].usage, subs[i].about);
	fprintf(f, "\n`koban notify SUB --help` describes one.\n");
}

int cmd_notify(int argc, char **argv)
{
	int skip = 1;

	/* -c FILE may precede the sub-command, as for every command */
	if (argc > 2 && (!strcmp(argv[1], "-c") || !strcmp(argv[1], "--config"))) {
		int rc = cli_set_config("notify", "notify SUB ...", argv[2]);

		if (rc)
			return rc;
		skip = 3;
	}
	if (argc <= skip || !strcmp(argv[skip], "-h") || !strcmp(argv[skip], "--help") ||
	    !strcmp(argv[skip], "help")) {
		if (argc > skip + 1 && !strcmp(argv[skip], "help"))
			for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
				if (!strcmp(argv[skip + 1], subs[i].name)) {
					char *args[] = { argv[skip + 1], (char *)"--help", NULL };

					return subs[i].fn(2, args);
				}
		notify_help(argc <= skip ? stderr : stdout);
		return argc <= skip ? 2 : 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (!strcmp(argv[skip], subs[i].name))
			return subs[i].fn(argc - skip, argv + skip);
	fprintf(stderr, "koban: notify: unknown sub-command '%s'\n", argv[skip]);
	notify_help(stderr);
	return 2;
}
