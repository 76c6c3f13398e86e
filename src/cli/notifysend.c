/*
 * `koban notify test` (a test notice through a configured channel) and `koban notify log`
 * (the delivery log of a tenant's notices), docs/notify.md.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "notify/channel.h"
#include "notify/notify.h"
#include "soc/level.h"
#include "store/meta.h"

#define TEST_USAGE "notify test [-c FILE] --tenant T --channel NAME --to RECIPIENT [--lang ja|en]"
#define LOG_USAGE "notify log [-c FILE] --tenant T [--incident N] [--limit N] [--json]"

static const char *const status_names[] = { "sent", "delivered", "failed", "failed" };

int cmd_notify_test(int argc, char **argv)
{
	const char *tenant = NULL, *channel = NULL, *to = NULL, *lang = NULL;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant),
					   CLI_VALUE("channel", &channel), CLI_VALUE("to", &to),
					   CLI_VALUE("lang", &lang) };
	const struct cli_args a = {
		"notify test", TEST_USAGE,
		"Sends a test notice (it says it is a test) to RECIPIENT through the channel\n"
		"NAME of notify.channels, as the engine would, and prints the result: sent or\n"
		"delivered with the service's id, or failed with the reason. Exit status 0 when\n"
		"the service took it, 1 when it failed.",
		opts, ARRAY_SIZE(opts), NULL, 0, 0, NULL,
	};
	struct notify_test_result r;
	struct notify *n = NULL;
	struct err e = ERR_INIT;
	struct config c;
	int64_t tid;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (!tenant || !channel || !to)
		return cli_usage_error(a.cmd, a.usage, "--tenant, --channel and --to are required");
	if (lang && strcmp(lang, "ja") && strcmp(lang, "en"))
		return cli_usage_error(a.cmd, a.usage, "--lang: ja or en");
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	{
		const struct notify_config nc = { .cfg = &c, .send = true };

		if (level_configure(&c, &e) < 0 || cli_tenant_id(&c, tenant, &tid, &e) < 0 ||
		    notify_new(&n, &nc, &e) < 0) {
			rc = cli_fail(&e);
			goto out;
		}
	}
	rc = notify_test(n, tenant, channel, to, lang ? lang : "ja", &r, &e);
	if (rc < 0 && r.status != CHANNEL_FAILED_TEMP && r.status != CHANNEL_FAILED_PERM) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("%s", status_names[r.status & 3]);
	if (r.provider_id[0])
		printf(" id %s", r.provider_id);
	if (rc < 0)
		printf(": %s%s", r.reason, r.status == CHANNEL_FAILED_TEMP ? " (temporary)" : "");
	printf("\n");
	rc = rc < 0 ? 1 : 0;
out:
	notify_free(n);
	config_release(&c);
	return rc;
}

struct log_out {
	struct meta *m;
	const char *tenant;
	int rc;
	struct err *e;
};

static void fmt_time(int64_t ns, char out[TIME_RFC3339_LEN])
{
	if (ns > 0)
		time_format_rfc3339(ns, out);
	else
		snprintf(out, TIME_RFC3339_LEN, "-");
}

static void print_attempt(void *ctx, const struct meta_notice_attempt *at)
{
	char when[TIME_RFC3339_LEN];

	fmt_time(at->at_ns, when);
	printf("    %s %s%s%s%s%s\n", when, at->status, at->provider_id[0] ? " id " : "",
	       at->provider_id, at->reason[0] ? ": " : "", at->reason);
}

static void print_notice(void *ctx, const struct meta_notice *no)
{
	struct log_out *o = ctx;
	char due[TIME_RFC3339_LEN], step[16];

	if (o->rc < 0)
		return;
	fmt_time(no->due_ns, due);
	if (no->step == META_NOTICE_STEP_LEAD)
		snprintf(step, sizeof(step), "lead");
	else
		snprintf(step, sizeof(step), "%d", no->step + 1);
	if (no->incident)
		printf("%lld incident %lld", (long long)no->id, (long long)no->incident);
	else
		printf("%lld incidents %s", (long long)no->id, no->incidents);
	printf(" step %s %s -> %s due %s: %s%s%s\n", step, no->channel, no->recipient, due,
	       no->state, no->reason[0] ? " - " : "", no->reason);
	o->rc = meta_notice_attempts(o->m, o->tenant, no->id, print_attempt, o, o->e);
}

int cmd_notify_log(int argc, char **argv)
{
	const char *tenant = NULL, *incident = NULL, *limit = NULL;
	bool json = false;
	const struct cli_option opts[] = { CLI_VALUE("tenant", &tenant),
					   CLI_VALUE("incident", &incident),
					   CLI_VALUE("limit", &limit), CLI_FLAG("json", &json) };
	const struct cli_args a = {
		"notify log", LOG_USAGE,
		"The delivery log of the tenant's notices, oldest first (of one incident with\n"
		"--incident, aggregated notices listing it included): each notice's step,\n"
		"channel, recipient, due time and state (pending, sending, sent, delivered,\n"
		"failed, cancelled, planned), then each try. --json: one object per notice and\n"
		"line with its tries. --limit N notices (default 1000).",
		opts, ARRAY_SIZE(opts), NULL, 0, 0, NULL,
	};
	struct log_out o = { 0 };
	struct err e = ERR_INIT;
	struct config c;
	long long inc = 0, lim = 1000;
	char *end;
	int rc;

	if ((rc = cli_getopt(argc, argv, &a)) >= 0)
		return rc;
	if (!tenant)
		return cli_usage_error(a.cmd, a.usage, "--tenant T is required");
	if (incident && ((inc = strtoll(incident, &end, 10)) < 1 || *end))
		return cli_usage_error(a.cmd, a.usage, "--incident: an incident id (1 or more)");
	if (limit && ((lim = strtoll(limit, &end, 10)) < 1 || *end || lim > META_NOTICE_LIST_MAX))
		return cli_usage_error(a.cmd, a.usage, "--limit: 1 to %d", META_NOTICE_LIST_MAX);
	if ((rc = cli_load_config(&argc, argv, &c)))
		return rc;
	o.tenant = tenant;
	o.e = &e;
	if ((rc = meta_open(&o.m, c.data_dir, &e)) == 0) {
		if (json) {
			struct buf out;

			buf_init(&out, NOTIFY_LOG_MAX);
			if ((rc = notify_log_json(o.m, tenant, inc, lim, &out, &e)) == 0)
				fwrite(out.p, 1, out.len, stdout);
			buf_release(&out);
		} else if ((rc = meta_notice_list(o.m, tenant, inc, lim, print_notice, &o,
						  &e)) == 0) {
			rc = o.rc;
		}
	}
	if (rc < 0)
		rc = cli_fail(&e);
	meta_close(o.m);
	config_release(&c);
	return rc;
}
