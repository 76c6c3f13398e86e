/*
 * firstreport.c - `koban incident report show|edit|approve`: the first report of an
 * incident (soc/firstreport.h, docs/firstreport.md), dispatched by `koban incident`.
 *
 * show prints the stored report of a language; when the incident has none yet, it is
 * drafted first (both languages, stored as drafts). edit replaces the text with the
 * analyst's (from --file F, "-" for standard input), approve marks it approved, which
 * stops the incident's first-report clock.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "soc/firstreport.h"
#include "store/meta.h"

#define SHOW_USAGE "incident report show --tenant T [--lang ja|en] [--json] ID"
#define EDIT_USAGE "incident report edit --tenant T [--lang ja|en] [--by NAME] --file F ID"
#define APPROVE_USAGE "incident report approve --tenant T [--lang ja|en] [--by NAME] ID"
#define WHO_MAX 128

static const struct cli_verb report_verbs[] = {
	{ "show", SHOW_USAGE,
	  "Prints the first report of incident ID of tenant T in Japanese (the default) or\n"
	  "English, drafting it first when there is none yet. --json: one JSON object with\n"
	  "its status, who edited and approved it, and the text (docs/firstreport.md)." },
	{ "edit", EDIT_USAGE,
	  "Replaces the report's text with the file F (\"-\": standard input; UTF-8, at\n"
	  "most 256 KiB). An edited report is never redrafted. --by: who edited it\n"
	  "(default: the login name). An approved report cannot be edited." },
	{ "approve", APPROVE_USAGE,
	  "Approves the report as it stands: the incident's first-report clock stops at\n"
	  "the first approval, and the timeline records who approved it." },
};

static const struct cli_command report_command = {
	"incident report", SHOW_USAGE "\n       koban " EDIT_USAGE "\n       koban " APPROVE_USAGE,
	"The first reports of incidents (docs/firstreport.md).\n"
	"`koban help incident report VERB` describes one sub-command.",
	report_verbs, ARRAY_SIZE(report_verbs),
};

enum { SHOW, EDIT, APPROVE, N_VERBS };

struct report_opts {
	const char *tenant, *lang, *by, *file;
	bool json;
	const char *pos[1];
	int64_t id;
	char who[WHO_MAX + 1];
};

static void report_print(void *ctx, const struct meta_report *r)
{
	const struct report_opts *op = ctx;
	struct buf out = BUF_INIT(2 * META_REPORT_TEXT_MAX);

	if (!op->json) {
		fputs(r->text, stdout);
		if (!*r->text || r->text[strlen(r->text) - 1] != '\n')
			putchar('\n');
		return;
	}
	if (firstreport_write_json(r, &out) < 0)
		fprintf(stderr, "koban: incident report show: out of memory\n");
	else
		printf("%s\n", out.p);
	buf_release(&out);
}

static int report_show(const struct config *c, struct meta *m, const struct report_opts *op,
		       struct err *e)
{
	struct firstreport *fr = NULL;
	int rc = meta_report_get(m, op->tenant, op->id, op->lang, report_print, (void *)op, e);

	if (rc != -ENOENT)
		return rc;
	/* none yet: draft both languages now (they are stored like the engine's drafts) */
	if ((rc = firstreport_new(&fr, c->soc_report_templates, e)) < 0 ||
	    (rc = firstreport_refresh_stored(fr, m, op->tenant, op->id, time_now_ns(), e)) < 0)
		goto out;
	rc = meta_report_get(m, op->tenant, op->id, op->lang, report_print, (void *)op, e);
out:
	firstreport_free(fr);
	return rc;
}

/* Standard input, whole, NUL-terminated in in. */
static int read_stdin(struct buf *in, struct err *e)
{
	char chunk[8192];
	size_t n;
	int rc = 0;

	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if ((rc = buf_add(in, chunk, n)) < 0)
			return err_set(e, rc, "standard input: more than %d bytes", META_REPORT_TEXT_MAX);
	return ferror(stdin) ? err_set(e, -EIO, "standard input: read error") : 0;
}

/* The new text (mem_alloc'ed, NUL-terminated): the file F, or standard input for "-". */
static int read_text(const char *file, char **text, struct err *e)
{
	struct buf in = BUF_INIT(META_REPORT_TEXT_MAX);
	char *raw = NULL;
	size_t len = 0;
	int rc;

	if (!strcmp(file, "-"))
		rc = read_stdin(&in, e);
	else if ((rc = config_read_file(file, "report", META_REPORT_TEXT_MAX, &raw, &len, e)) == 0)
		rc = buf_add(&in, raw, len) < 0 ? err_set(e, -ENOMEM, "out of memory") : 0;
	if (rc == 0 && !(*text = mem_strndup(in.p, in.len)))
		rc = err_set(e, -ENOMEM, "out of memory");
	mem_free(raw);
	buf_release(&in);
	return rc;
}

static int report_edit(struct meta *m, const struct report_opts *op, struct err *e)
{
	char *text = NULL;
	int rc;

	if ((rc = read_text(op->file, &text, e)) < 0 ||
	    (rc = meta_report_edit(m, op->tenant, op->id, op->lang, text, op->who, time_now_ns(),
				   e)) < 0)
		goto out;
	printf("incident %lld: %s report edited by %s\n", (long long)op->id, op->lang, op->who);
out:
	mem_free(text);
	return rc;
}

static int report_approve(struct meta *m, const struct report_opts *op, struct err *e)
{
	int rc = firstreport_approve(m, op->tenant, op->id, op->lang, op->who, time_now_ns(), e);

	if (rc == 0)
		printf("incident %lld: %s report approved by %s\n", (long long)op->id, op->lang,
		       op->who);
	return rc;
}

/* The checks every verb shares: --tenant, the id, the language, who. 2: usage error. */
static int check_opts(struct report_opts *op, const struct cli_args *a)
{
	char *end = NULL;
	long long id;

	if (!op->tenant)
		return cli_usage_error(a->cmd, a->usage, "--tenant T is required");
	id = strtoll(op->pos[0], &end, 10);
	if (!*op->pos[0] || *end || id <= 0)
		return cli_usage_error(a->cmd, a->usage, "ID: expected an incident number, found '%s'",
				       op->pos[0]);
	op->id = id;
	if (!op->lang)
		op->lang = "ja";
	if (strcmp(op->lang, "ja") && strcmp(op->lang, "en"))
		return cli_usage_error(a->cmd, a->usage, "--lang: expected ja or en, found '%s'",
				       op->lang);
	if (op->by && (!*op->by || strlen(op->by) > WHO_MAX))
		return cli_usage_error(a->cmd, a->usage, "--by: 1 to %d bytes", WHO_MAX);
	if (op->by) {
		snprintf(op->who, sizeof(op->who), "%s", op->by);
	} else {
		const struct passwd *pw = getpwuid(getuid());

		snprintf(op->who, sizeof(op->who), "%s", pw ? pw->pw_name : "unknown");
	}
	return -1;
}

int cmd_incident_report(int argc, char **argv)
{
	static const char *const cmds[N_VERBS] = { "incident report show", "incident report edit",
						   "incident report approve" };
	static const char *const id_name[] = { "ID" };
	const struct cli_verb *verb;
	struct report_opts op = { 0 };
	const struct cli_option show_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_VALUE("lang", &op.lang), CLI_FLAG("json", &op.json) };
	const struct cli_option edit_opts[] = { CLI_VALUE("tenant", &op.tenant),
						CLI_VALUE("lang", &op.lang), CLI_VALUE("by", &op.by),
						CLI_VALUE("file", &op.file) };
	struct cli_args a = { .pos = op.pos, .min_pos = 1, .max_pos = 1, .pos_names = id_name };
	struct meta *m = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int which, rc;

	if ((rc = cli_verb(&argc, &argv, &report_command, &verb)) >= 0)
		return rc;
	which = (int)(verb - report_verbs);
	a.cmd = cmds[which];
	a.usage = verb->usage;
	a.about = verb->about;
	a.opts = which == SHOW ? show_opts : edit_opts;
	a.n_opts = which == SHOW ? ARRAY_SIZE(show_opts)
				 : ARRAY_SIZE(edit_opts) - (which == APPROVE); /* approve: no --file */
	if ((rc = cli_getopt(argc, argv, &a)) >= 0 || (rc = check_opts(&op, &a)) >= 0)
		return rc;
	if (which == EDIT && !op.file)
		return cli_usage_error(a.cmd, a.usage, "--file F is required");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	if ((rc = meta_open(&m, c.data_dir, &e)) == 0)
		rc = which == SHOW ? report_show(&c, m, &op, &e)
		     : which == EDIT ? report_edit(m, &op, &e)
				     : report_approve(m, &op, &e);
	if (rc < 0)
		rc = cli_fail(&e);
	meta_close(m);
	config_release(&c);
	return rc;
}
