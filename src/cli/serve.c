/*
 * serve.c - `koban serve`: the daemon.
 *
 * Wires the stages together (DESIGN.md section 1): listeners (and pollers) -> router -> fair queue ->
 * workers (parse, output). The output is the event store's sink (store/sink.h: sealed
 * records in the write-ahead log, group commit), and with output.file also the ECS JSON
 * files of store/spool.h. The main thread only starts and stops things and waits for
 * signals: SIGHUP reloads the configuration and the tenant/source table (and reopens the
 * JSON files), SIGTERM and SIGINT stop reading, drain the queues and exit.
 */
#include "cli/cli.h"
#include "core/compat.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "serve"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/fairq.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/pidfile.h"
#include "core/timeutil.h"
#include "core/worker.h"
#include "enrich/retrohunt.h"
#include "enrich/route.h"
#include "enrich/tilive.h"
#include "enrich/timatch.h"
#include "ingest/ackin.h"
#include "ingest/listener.h"
#include "ingest/poll.h"
#include "enrich/tifeed.h"
#include "ingest/relp.h"
#include "parse/decoder.h"
#include "pipeline/pipeline.h"
#include "portal/admin.h"
#include "store/keys.h"
#include "portal/ackpage.h"
#include "portal/api.h"
#include "portal/control.h"
#include "portal/ingest.h"
#include "respond/edl.h"
#include "store/meta.h"
#include "store/retention.h"
#include "detect/detect.h"
#include "soc/alert.h"
#include "notify/notify.h"
#include "soc/soc.h"
#include "store/seal.h"
#include "store/sink.h"
#include "store/spool.h"
#include "store/store.h"
#include "store/wal.h"

#define SERVE_USAGE                                                                     \
	"serve [-c FILE] [--syslog-udp ADDR:PORT] [--syslog-tcp ADDR:PORT]\n"           \
	"                   [--syslog-tls ADDR:PORT] [--relp ADDR:PORT] [--relp-tls ADDR:PORT]\n" \
	"                   [--admin ADDR:PORT] [--api ADDR:PORT]"

#define SPOOL_FLUSH_BYTES (1u << 20) /* a worker hands its buffer to the output past this */
#define SINK_FLUSH_MS 10000          /* at stop, waiting for the last group commit */
#define ACTIVITY_FLUSH_SECONDS 5     /* tenant activity and unassigned senders to koban.db */
#define OUTPUT_GRACE_MS 5000 /* at stop, a failing output is retried this long, then given up */
#define RETENTION_INTERVAL_S 86400 /* retention pass: at start, then daily */

/* Command-line overrides, applied again to every reloaded configuration. */
struct serve_overrides {
	const char *listener[5]; /* by enum listener_proto */
	const char *admin;
	const char *api;
};

struct serve {
	struct config *cfg;       /* the configuration the listeners were bound from */
	struct config *live;      /* the one in effect: cfg, or the last reloaded one */
	struct pidfile pid;       /* the data directory's lock, DATA_DIR/koban.pid */
	/* reloads, written by the main thread, read by /metrics */
	atomic_uint_fast64_t reloads_ok, reloads_failed;
	atomic_uint restart_pending; /* keys changed by the last reload that need a restart */
	struct serve_overrides ov;
	struct meta *meta;
	struct fairq *q;
	struct router *router;
	struct workers *workers;
	struct ingest *ingest;
	struct admin *admin;
	struct sink *sink;        /* the event store's write side */
	struct ackin *ackin;      /* acknowledged inputs (HTTP ingest, RELP) into the sink */
	struct api_ingest *http_ingest; /* POST /api/v1/ingest/{source} on the API listener */
	struct seal *seal;        /* the sealer: WAL records into segments */
	struct spool spool;       /* output.file */
	int spool_on;
	struct buf *copies;       /* by worker: the lines for the file output (output.file) */
	unsigned *copy_slots;     /* by worker: the fair-queue slot of its copy's lines */
	unsigned n_workers;
	struct pipeline *pipeline;
	struct store *store;         /* the main thread's handle: retention */
	struct retention *retention;
	struct alert_sink *alerts;   /* alerts into koban.db, with their retention (soc/alert.h) */
	struct soc *soc;             /* the stored alerts into incidents (koban-soc, soc/soc.h) */
	struct notify *notify;       /* notices of the decided incidents (koban-notify, notify/notify.h) */
	struct store *soc_store;     /* its store handle: evidence, terminals, evidence copies */
	struct detect *detect;       /* the rules on every event: workers, then ackin's slots */
	struct tilive *tilive;       /* the indicators' serving snapshot, kept current (koban-ti) */
	struct timatch *ti;          /* indicators matched on every event, first in detection */
	struct retrohunt *retrohunt; /* new indicators in the stored events (koban-retrohunt) */
	struct meta *retro_meta;     /* its own koban.db and store handles (its thread's) */
	struct store *retro_store;
	int64_t next_retention;      /* time_now_ns() of the next pass; 0: at start */
	struct cli_remote remote; /* what the control socket's commands need */
	struct control *control;  /* DATA_DIR/control.sock (portal/control.h) */
	struct api *api;          /* the API listener, when configured (portal/api.h) */
	struct poll *poll;        /* the pollers of the configuration (ingest/poll.h) */
	struct relp *relp;        /* the RELP listeners, when configured (ingest/relp.h) */
	struct tifeed *feeds;     /* ti.feeds and their thread koban-feeds (enrich/tifeed.h) */
	struct edl *edl;          /* External Dynamic Lists on the API listener (respond/edl.h) */
};

/* -1 to go on, or the exit status (0 after --help, 2 after a usage error). */
static int parse_args(int *argc, char **argv, struct serve_overrides *ov)
{
	const struct cli_option opts[] = {
		CLI_VALUE("syslog-udp", &ov->listener[0]),
		CLI_VALUE("syslog-tcp", &ov->listener[1]),
		CLI_VALUE("syslog-tls", &ov->listener[2]),
		CLI_VALUE("relp", &ov->listener[3]),
		CLI_VALUE("relp-tls", &ov->listener[4]),
		CLI_VALUE("admin", &ov->admin),
		CLI_VALUE("api", &ov->api),
	};
	const struct cli_args a = {
		"serve", SERVE_USAGE,
		"Runs the daemon: the syslog listeners of the configuration (or those given\n"
		"here, replacing the configured ones of that protocol), the RELP listeners\n"
		"(--relp, --relp-tls: acknowledged once stored), the workers and the\n"
		"admin HTTP listener (/metrics, /healthz), and with --api (or api.listen) the\n"
		"API listener (docs/api.md). SIGHUP reloads the configuration\n"
		"and the tenants; SIGTERM or SIGINT drains the queues and stops.",
		opts, ARRAY_SIZE(opts), NULL, 0, 0, NULL,
	};

	return cli_getopt(*argc, argv, &a);
}

static int apply_overrides(struct config *c, const struct serve_overrides *ov, struct err *e)
{
	static const enum listener_proto protos[] = { LISTENER_UDP, LISTENER_TCP, LISTENER_TLS,
						      LISTENER_RELP, LISTENER_RELP_TLS };

	for (size_t k = 0; k < ARRAY_SIZE(protos); k++)
		if (ov->listener[k] && config_set_listener(c, protos[k], ov->listener[k], e))
			return -EINVAL;
	if (ov->admin && config_set_admin(c, ov->admin, e))
		return -EINVAL;
	if (ov->api && config_set_api(c, ov->api, e))
		return -EINVAL;
	return 0;
}

/* ---- workers: the pipeline, wired to the fair queue, the sink and the file output ---- */

/*
 * struct pipeline_output.event: the event store's sink (binary batches, store/evcodec.h),
 * then (output.file) the tenant's JSON file. Each blocks while it fails (back-pressure) and
 * returns once the events are written, or given up at the drain deadline (then counted as
 * dropped output_error by the output).
 */
static void copy_deliver(struct serve *sv, unsigned worker)
{
	struct buf *copy = &sv->copies[worker];
	unsigned slot = sv->copy_slots[worker];
	int rc;

	if (!copy->len)
		return;
	rc = spool_deliver(&sv->spool, slot, fairq_slot_name(sv->q, slot), copy);
	(void)rc; /* counted and logged by the file output */
	buf_reset(copy);
}

static int serve_event(void *ctx, unsigned worker, unsigned slot, struct event *ev)
{
	struct serve *sv = ctx;
	int rc = sink_event(sv->sink, worker, slot, ev);

	if (sv->spool_on) {
		struct buf *copy = &sv->copies[worker];
		size_t mark;

		if (copy->len && (sv->copy_slots[worker] != slot || copy->len >= SPOOL_FLUSH_BYTES))
			copy_deliver(sv, worker);
		sv->copy_slots[worker] = slot;
		mark = copy->len;
		if (event_write_json(ev, copy) < 0 || buf_addch(copy, '\n') < 0) {
			size_t bytes = copy->len - mark;

			buf_truncate(copy, mark);
			spool_count_too_large(&sv->spool, slot, fairq_slot_name(sv->q, slot), bytes);
		}
	}
	return rc;
}

/* struct pipeline_output.flush: the end of a worker's batch of messages. */
static void serve_flush(void *ctx, unsigned worker)
{
	struct serve *sv = ctx;
	int rc = sink_commit(sv->sink, worker);

	(void)rc; /* counted and logged by the sink */
	if (sv->spool_on)
		copy_deliver(sv, worker);
}

static void output_too_large(void *ctx, unsigned slot, size_t bytes)
{
	struct serve *sv = ctx;

	sink_count_too_large(sv->sink, slot, bytes);
	if (sv->spool_on) /* the file output's own counter too */
		spool_count_too_large(&sv->spool, slot, fairq_slot_name(sv->q, slot), bytes);
}

static const char *tenant_name(void *ctx, unsigned slot)
{
	return fairq_slot_name(ctx, slot);
}

static unsigned tenant_gen(void *ctx, unsigned slot)
{
	return fairq_slot_gen(ctx, slot);
}

static void process_batch(void *ctx, unsigned index, struct msg **msgs, size_t n)
{
	struct serve *sv = ctx;
	struct pipeline_counts c = { 0 };
	struct tenant_stats *st;

	if (!n)
		return;
	st = fairq_stats(sv->q, msgs[0]->tenant);
	pipeline_batch(sv->pipeline, index, msgs, n, &c);
	atomic_fetch_add_explicit(&st->parsed, c.parsed, memory_order_relaxed);
	if (c.failed)
		atomic_fetch_add_explicit(&st->parse_failed, c.failed, memory_order_relaxed);
}

static unsigned worker_count(const struct config *c)
{
	unsigned n = c->workers;

	if (!n) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	return MIN(n, (unsigned)MIN(WORKERS_MAX, WAL_MAX_SHARDS - 1));
}

/* store.seal_threads, 0: one per online CPU (seal_start_files caps it). */
static unsigned seal_lanes(const struct config *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->store_seal_threads)
		return c->store_seal_threads;
	return cpus > 0 ? (unsigned)cpus : 1;
}

static int workers_init(struct serve *sv, struct err *e)
{
	struct pipeline_config pc = {
		.max_message_size = sv->cfg->max_message_size,
		.flush_bytes = SPOOL_FLUSH_BYTES,
		.clock_skew_max_ns = (int64_t)sv->cfg->clock_skew_max * NS_PER_SEC,
		.tenant_name = tenant_name,
		.tenant_gen = tenant_gen,
		.tenant_ctx = sv->q,
		.output = { NULL, output_too_large, sv, NULL, serve_event, serve_flush },
		.inspect = { detect_inspect, sv->detect },
		.metrics = true,
	};
	int rc;

	pc.workers = sv->n_workers;
	if ((rc = decoder_configure(sv->cfg, e)) < 0 ||
	    (rc = pipeline_new(&sv->pipeline, &pc, e)) < 0)
		return rc;
	return workers_start(&sv->workers, sv->q, sv->n_workers, process_batch, sv, e);
}

static void workers_release(struct serve *sv)
{
	pipeline_free(sv->pipeline);
	sv->pipeline = NULL;
	for (unsigned i = 0; sv->copies && i < sv->n_workers; i++)
		buf_release(&sv->copies[i]);
	mem_free(sv->copies);
	sv->copies = NULL;
	mem_free(sv->copy_slots);
	sv->copy_slots = NULL;
}

/* Acknowledged inputs decode on slots of their own: as many as workers, at least two. */
static unsigned ackin_slots(const struct serve *sv)
{
	return MIN(MAX(sv->n_workers, 2u), (unsigned)ACKIN_SLOTS_MAX);
}

/* ackin's slot w is detection's worker slot n_workers + w (after the workers' own). */
static void ackin_inspect(void *ctx, unsigned w, const struct pipeline_origin *o,
			  struct event *ev)
{
	struct serve *sv = ctx;

	detect_inspect(sv->detect, sv->n_workers + w, o, ev);
}

/*
 * Threat-intelligence matching for detection's worker slots: the indicators of koban.db
 * loaded now and whenever they change (enrich/tilive.h), hits as alerts into the sink.
 */
static int ti_init(struct serve *sv, unsigned slots, struct err *e)
{
	struct timatch_config tc = {
		.workers = slots, .alerts = sv->alerts, .metrics = true,
		.dedupe_window_ns = (int64_t)sv->cfg->ti_dedupe_window * NS_PER_SEC,
	};
	int rc;

	if ((rc = tilive_start(&sv->tilive, sv->cfg->data_dir, slots, true, e)) < 0)
		return rc;
	tc.live = tilive_live(sv->tilive);
	return timatch_new(&sv->ti, &tc, e);
}

/* After detection, whose workers use it; before the alert sink it pushes into. */
static void ti_release(struct serve *sv)
{
	timatch_free(sv->ti);
	sv->ti = NULL;
	tilive_free(sv->tilive);
	sv->tilive = NULL;
}

/* The SOC engine and its thread, before the alert sink that hands it every stored alert. */
static int soc_init(struct serve *sv, struct err *e)
{
	struct soc_config sc = { .cfg = sv->cfg, .threaded = true, .metrics = true };
	/* the notification engine hears of every level the SOC engine decides: made first */
	const struct notify_config nc = { .cfg = sv->cfg, .threaded = true, .send = true,
					  .metrics = true };
	int rc;

	if ((sv->cfg->notify.enabled && (rc = notify_new(&sv->notify, &nc, e)) < 0) ||
	    (rc = cli_store_open(&sv->soc_store, sv->cfg, true, e)) < 0)
		return rc;
	sc.store = sv->soc_store;
	sc.level_decided = notify_level_decided;
	sc.level_ctx = sv->notify;
	return soc_new(&sv->soc, &sc, e);
}

/* After the alert sink: the alerts queued are handled before the thread ends. */
static void soc_release(struct serve *sv)
{
	soc_free(sv->soc);
	sv->soc = NULL;
	notify_free(sv->notify);
	sv->notify = NULL;
	store_close(sv->soc_store);
	sv->soc_store = NULL;
}

/*
 * Detection, before the workers and acknowledged inputs that call it: the bundled and
 * configured rules, alerts into the alert sink, correlations on the detection thread with
 * their state in DATA_DIR/detect/.
 */
static int detect_init(struct serve *sv, struct err *e)
{
	struct detect_config dc = {
		.cfg = sv->cfg,
		.workers = sv->n_workers + ackin_slots(sv),
		.mode = DETECT_THREADED,
		.state = true,
		.meta = sv->meta, /* the tenants' rule policy, read at start and reload */
		.tenant_name = tenant_name,
		.tenant_ctx = sv->q,
		.metrics = true,
	};
	struct detect_counts k;
	int rc;

	if ((rc = soc_init(sv, e)) < 0)
		return rc;
	if ((rc = alert_sink_new(&sv->alerts, &(struct alert_sink_config){
					 .data_dir = sv->cfg->data_dir,
					 .retention_days = sv->cfg->alerts_retention_days,
					 .on_stored = soc_alert_stored, .ctx = sv->soc }, e)) ||
	    (rc = alert_sink_metrics_register(sv->alerts, e)))
		return rc;
	dc.alerts = sv->alerts;
	if ((rc = ti_init(sv, dc.workers, e)) < 0)
		return rc;
	dc.ti = sv->ti;
	if ((rc = detect_new(&sv->detect, &dc, e)) < 0)
		return rc;
	detect_counts(sv->detect, &k);
	log_info("detection: %zu rules, %zu correlations, %zu filters%s%zu rejected", k.rules,
		 k.correlations, k.filters, k.rejected ? " (see the warnings above), " : ", ",
		 k.rejected);
	return 0;
}

static int ackin_init(struct serve *sv, struct err *e)
{
	const struct ackin_config ac = {
		.sink = sv->sink,
		.spool = sv->spool_on ? &sv->spool : NULL,
		.q = sv->q,
		.data_dir = sv->cfg->data_dir,
		.slots = ackin_slots(sv),
		.max_message_size = sv->cfg->max_message_size,
		.clock_skew_max_ns = (int64_t)sv->cfg->clock_skew_max * NS_PER_SEC,
		.metrics = true,
		.inspect = { ackin_inspect, sv },
	};

	return ackin_new(&sv->ackin, &ac, e);
}

/*
 * The sealer's busy hook (store/seal.h): at least as many messages queued as the workers take
 * in a round, none of them held back by an output (the workers would be idle, the queue
 * deep), and the store needs no sealing now (sink_held: the sealer frees the space a full
 * disk or a quota needs).
 */
static bool ingest_behind(void *ctx)
{
	struct serve *sv = ctx;

	return fairq_total_depth(sv->q) >= (size_t)sv->n_workers * WORKER_BATCH &&
	       fairq_output_blocked_slots(sv->q) == 0 && !sink_held(sv->sink);
}

/* The event store's sink (and the file output's buffers): before the workers. */
static int outputs_init(struct serve *sv, struct err *e)
{
	const struct keys_files keys = { sv->cfg->keys_master, sv->cfg->keys_signing };
	struct sink_config sc = {
		.data_dir = sv->cfg->data_dir,
		.keys = &keys,
		.workers = sv->n_workers,
		.commit_interval_ms = sv->cfg->store_commit_interval_ms,
		.q = sv->q,
		.cfg = sv->cfg,
		.metrics = true,
	};
	int rc;

	if (sv->cfg->output_file) {
		if ((rc = spool_init(&sv->spool, sv->cfg->data_dir, sv->q, e)))
			return rc;
		sv->spool_on = 1;
		sv->copies = mem_calloc(sv->n_workers, sizeof(*sv->copies));
		sv->copy_slots = mem_calloc(sv->n_workers, sizeof(*sv->copy_slots));
		if (!sv->copies || !sv->copy_slots)
			return err_set(e, -ENOMEM, "out of memory");
		for (unsigned i = 0; i < sv->n_workers; i++)
			buf_init(&sv->copies[i], WAL_MAX_PAYLOAD); /* above any worker buffer */
	}
	if ((rc = sink_open(&sv->sink, &sc, e)) < 0)
		return rc;
	/* seals what an earlier run left in the log first, then what this run appends */
	if ((rc = seal_start_files(&sv->seal, sv->cfg->data_dir, &keys, sink_wal(sv->sink),
				    seal_lanes(sv->cfg), e)) < 0)
		return rc;
	sink_attach_sealer(sv->sink, sv->seal); /* quotas: which log bytes are sealed */
	seal_set_busy(sv->seal, ingest_behind, sv);
	return ackin_init(sv, e);
}

/*
 * Retro-hunting (enrich/retrohunt.h) on the thread koban-retrohunt, with its own handles;
 * after the alert sink. A source looks back its feed's retrohunt_days, else ti.retrohunt_days.
 */
static int retrohunt_init(struct serve *sv, struct err *e)
{
	struct retrohunt_config rc_cfg = { .alerts = sv->alerts, .metrics = true };
	int rc;

	if ((rc = meta_open(&sv->retro_meta, sv->cfg->data_dir, e)) < 0 ||
	    (rc = cli_store_open(&sv->retro_store, sv->cfg, true, e)) < 0)
		return rc;
	cli_retrohunt_config(sv->cfg, &rc_cfg);
	rc_cfg.meta = sv->retro_meta;
	rc_cfg.store = sv->retro_store;
	if ((rc = retrohunt_new(&sv->retrohunt, &rc_cfg, e)) < 0)
		return rc;
	return retrohunt_start(sv->retrohunt, e);
}

static void retrohunt_release(struct serve *sv)
{
	retrohunt_free(sv->retrohunt); /* stops its thread first */
	sv->retrohunt = NULL;
	store_close(sv->retro_store);
	sv->retro_store = NULL;
	meta_close(sv->retro_meta);
	sv->retro_meta = NULL;
}

/* ---- acknowledged inputs: RELP ---- */

static bool has_relp(const struct config *c)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (config_proto_relp(c->listeners[i].proto))
			return true;
	return false;
}

/* The External Dynamic Lists of edl.lists, served by the API listener; before it. */
static int edl_init(struct serve *sv, struct err *e)
{
	if (!sv->cfg->n_edl_lists)
		return 0;
	if (!sv->cfg->api_listen)
		log_warn("edl.lists: the lists are served on the API listener, which is off "
			 "(api.listen)");
	return cli_edl_new(sv->cfg, true, &sv->edl, e);
}

/* After the API listener, whose requests read the lists. */
static void edl_release(struct serve *sv)
{
	edl_free(sv->edl);
	sv->edl = NULL;
}

/* The RELP listeners (bound by ingest_start), decoding through the shared ackin; after ingest. */
static int relp_init(struct serve *sv, struct err *e)
{
	int rc;

	if (!has_relp(sv->cfg))
		return 0;
	if ((rc = relp_start(&sv->relp, sv->ingest, sv->ackin, sv->cfg, e)) < 0)
		return rc;
	if ((rc = relp_metrics_register(sv->relp)) < 0)
		return err_set(e, rc, "cannot register the RELP metrics: %s", strerror(-rc));
	return 0;
}

/* ---- life cycle ---- */

static void print_listening(struct serve *sv)
{
	for (size_t i = 0; i < ingest_listener_count(sv->ingest); i++)
		printf("listening syslog %s %s %s\n", ingest_listener_name(sv->ingest, i),
		       config_proto_name(ingest_listener_proto(sv->ingest, i)),
		       ingest_listener_address(sv->ingest, i));
	printf("listening admin http %s\n", admin_address(sv->admin));
	if (sv->api)
		printf("listening api %s %s\n", api_scheme(sv->api), api_address(sv->api));
	printf("data %s\n", sv->cfg->data_dir);
	printf("ready pid %d\n", (int)getpid());
	fflush(stdout);
}

static void report_to_log(void *ctx, enum config_severity sev, const char *msg)
{
	if (sev == CONFIG_ERROR)
		log_error("%s", msg);
	else
		log_warn("%s", msg);
}

/*
 * The checks of `koban config check` (cli/config.c), before anything is bound or
 * created; then the data directory's lock, so that a second instance stops here.
 */
static int serve_check_and_lock(struct serve *sv, struct err *e)
{
	int rc, errors = config_check(sv->cfg, report_to_log, NULL);

	if (errors)
		return err_set(e, -EINVAL, "%s: %d configuration error%s (logged above); nothing "
			       "was started", sv->cfg->path ? sv->cfg->path : "configuration",
			       errors, errors == 1 ? "" : "s");
	if ((rc = pidfile_lock(&sv->pid, sv->cfg->data_dir, e)) < 0)
		return rc;
	return 0;
}

static int collect_reloads(struct metrics_out *o, void *ctx)
{
	struct serve *sv = ctx;
	int rc = metrics_sample(o, atomic_load(&sv->reloads_ok), "result", "ok", NULL);

	return err_first(rc, metrics_sample(o, atomic_load(&sv->reloads_failed), "result",
					    "failed", NULL));
}

static int collect_restart_pending(struct metrics_out *o, void *ctx)
{
	struct serve *sv = ctx;

	return metrics_sample(o, atomic_load(&sv->restart_pending), NULL);
}

static int serve_metrics_register(struct serve *sv, struct err *e)
{
	int rc = metrics_register("koban_config_reloads_total", METRICS_COUNTER,
				  "Configuration reloads (SIGHUP), by result: ok, or failed and "
				  "the running configuration kept.", collect_reloads, sv);

	if (rc == 0)
		rc = metrics_register("koban_config_restart_pending", METRICS_GAUGE,
				      "Keys the last reload changed that take effect only at the "
				      "next restart (named in the log).", collect_restart_pending, sv);
	if (rc < 0) {
		metrics_unregister(sv);
		return err_set(e, rc, "cannot register the reload metrics: %s", strerror(-rc));
	}
	return 0;
}

/*
 * The pollers (ingest/poll.h), once their tenants are known to exist: a poller's records
 * for a tenant that is not in koban.db could never be stored.
 */
static int pollers_start(struct serve *sv, struct err *e)
{
	for (size_t i = 0; i < sv->cfg->n_pollers; i++) {
		const struct config_poller *p = &sv->cfg->pollers[i];

		if (!cli_tenant_exists(sv->meta, p->tenant))
			return err_set(e, -ENOENT, "%s:%u: pollers.%s: tenant '%s' does not exist "
				       "(koban tenant add %s)", sv->cfg->path ? sv->cfg->path :
				       "configuration", p->line, p->name, p->tenant, p->tenant);
	}
	return poll_start(&sv->poll, sv->cfg, sv->q, sv->ackin, e);
}

/*
 * The threat-intelligence feeds (enrich/tifeed.h), once their tenants are known to exist:
 * the koban-feeds thread fetches each when due, into koban.db's indicators.
 */
static int feeds_init(struct serve *sv, struct err *e)
{
	const struct config *c = sv->cfg;
	const struct tifeed_config tc = { .feeds = c->ti_feeds, .n_feeds = c->n_ti_feeds,
					  .data_dir = c->data_dir,
					  .default_confidence = (int)c->ti_default_confidence,
					  .metrics = true };
	int rc;

	if (!c->n_ti_feeds)
		return 0;
	for (size_t i = 0; i < c->n_ti_feeds; i++) {
		const struct config_ti_feed *f = &c->ti_feeds[i];

		if (f->tenant && !cli_tenant_exists(sv->meta, f->tenant))
			return err_set(e, -ENOENT, "%s:%u: ti.feeds.%s: tenant '%s' does not exist "
				       "(koban tenant add %s)", c->path ? c->path : "config",
				       f->line, f->name, f->tenant, f->tenant);
	}
	if ((rc = tifeed_new(&sv->feeds, &tc, e)) < 0)
		return rc;
	return tifeed_start(sv->feeds, e);
}

static void feeds_release(struct serve *sv)
{
	tifeed_free(sv->feeds); /* aborts a transfer in progress; the last good set stays */
	sv->feeds = NULL;
}

static int serve_start(struct serve *sv, struct err *e)
{
	struct fairq_config fq = { sv->cfg->queue_capacity, sv->cfg->queue_max_bytes,
				   sv->cfg->queue_quantum };
	int rc;

	log_set_level(sv->cfg->log_level);
	if ((rc = serve_check_and_lock(sv, e)))
		return rc;
	if ((rc = meta_open(&sv->meta, sv->cfg->data_dir, e)))
		return rc;
	(void)config_check_tenants(sv->cfg, cli_tenant_exists, sv->meta, report_to_log,
				   NULL); /* warnings only, logged */
	if ((rc = fairq_new(&sv->q, &fq, e)))
		return rc;
	if ((rc = router_new(&sv->router, sv->q, e)) ||
	    (rc = router_reload(sv->router, sv->meta, sv->cfg, e)))
		return rc;
	sv->n_workers = worker_count(sv->cfg);
	if ((rc = detect_init(sv, e)) || (rc = outputs_init(sv, e)))
		return rc;
	if ((rc = workers_init(sv, e)))
		return rc;
	if ((rc = ingest_start(&sv->ingest, sv->cfg, sv->q, sv->router, e)))
		return rc;
	if ((rc = pollers_start(sv, e)) || (rc = feeds_init(sv, e)))
		return rc;
	if ((rc = fairq_metrics_register(sv->q)) || (rc = ingest_metrics_register(sv->ingest)) ||
	    (rc = poll_metrics_register(sv->poll)))
		return err_set(e, rc, "cannot register the metrics: %s", strerror(-rc));
	if ((rc = relp_init(sv, e)))
		return rc;
	if ((rc = serve_metrics_register(sv, e)))
		return rc;
	if ((rc = cli_store_open(&sv->store, sv->cfg, true, e)) ||
	    (rc = retention_new(&sv->retention, e)) ||
	    (rc = retention_metrics_register(sv->retention, e)))
		return rc;
	if ((rc = retrohunt_init(sv, e)))
		return rc;
	if ((rc = admin_start(&sv->admin, sv->cfg->admin_address, e)))
		return rc;
	if ((rc = edl_init(sv, e)))
		return rc;
	if (sv->cfg->api_listen) {
		const struct api_ingest_config ic = { sv->ackin, sv->q, sv->cfg->data_dir,
						      sv->cfg->timezone,
						      sv->cfg->api_ingest_max_bytes, true };
		struct api_config ac = { sv->cfg->api_listen, sv->cfg->api_tls_cert,
					 sv->cfg->api_tls_key, sv->cfg->data_dir,
					 sv->cfg->keys_master, sv->cfg->keys_signing, NULL,
					 sv->edl, sv->cfg->soc_report_templates,
					 soc_sla(sv->soc), NULL };
		/*
		 * The acknowledgement endpoints (portal/ackpage.h) with the notification engine's
		 * configuration: notify.ack_url, notify.ack_key_file, the first phone channel's
		 * auth token (it signs the phone callbacks; without one, DATA_DIR/notify-phone.token
		 * when that file exists), and the engine's hooks for delivery statuses and the
		 * recipients named on the timeline.
		 */
		char phone_token[4096];
		struct ackpage_config ack = {
			.data_dir = sv->cfg->data_dir, .key_file = sv->cfg->notify.ack_key_file,
			.base_url = sv->cfg->notify.ack_url,
			.hooks = { notify_status, sv->notify },
			.recipient = notify_recipient, .recipient_ctx = sv->notify,
			.acked = notify_acked, .acked_ctx = sv->notify,
		};

		for (size_t i = 0; i < sv->cfg->notify.n_channels && !ack.phone_token_file; i++) {
			const struct config_notify_channel *ch = &sv->cfg->notify.channels[i];

			if (strcmp(ch->type, "phone"))
				continue;
			for (size_t k = 0; k < ch->n_kv; k++) {
				if (!strcmp(ch->kv[k].key, "auth_token_file"))
					ack.phone_token_file = ch->kv[k].value;
				if (!strcmp(ch->kv[k].key, "language"))
					ack.phone_language = ch->kv[k].value;
			}
		}
		if (!ack.phone_token_file &&
		    (size_t)snprintf(phone_token, sizeof(phone_token), "%s/notify-phone.token",
				     sv->cfg->data_dir) < sizeof(phone_token) &&
		    access(phone_token, F_OK) == 0)
			ack.phone_token_file = phone_token;
		ac.ack = &ack;
		if ((rc = api_ingest_new(&sv->http_ingest, &ic, e)))
			return rc;
		ac.ingest = sv->http_ingest;
		if ((rc = api_start(&sv->api, &ac, e)))
			return rc;
	}
	sv->remote.cfg = sv->cfg;
	sv->remote.sink = sv->sink;
	sv->remote.seal = sv->seal;
	return control_start(&sv->control, sv->cfg->data_dir, cli_remote_handle, &sv->remote, e);
}

#define RELOAD_CHANGES_MAX 64 /* keys logged per reload (there are fewer keys) */

/* The changed keys of a reload, logged once it has succeeded. */
struct reload_changes {
	size_t n;
	unsigned restart;     /* of them, keys that need a restart */
	struct {
		char key[128];
		bool live;
		char was[201], now[201];
	} item[RELOAD_CHANGES_MAX];
};

static void note_change(void *ctx, const char *key, bool live, const char *was,
			const char *now)
{
	struct reload_changes *ch = ctx;

	ch->restart += !live;
	if (ch->n < RELOAD_CHANGES_MAX) {
		snprintf(ch->item[ch->n].key, sizeof(ch->item[ch->n].key), "%s", key);
		ch->item[ch->n].live = live;
		snprintf(ch->item[ch->n].was, sizeof(ch->item[ch->n].was), "%s", was);
		snprintf(ch->item[ch->n].now, sizeof(ch->item[ch->n].now), "%s", now);
	}
	ch->n++;
}

/* One line per changed key: applied now (info), or waiting for a restart (warning). */
static void log_changes(const struct reload_changes *ch)
{
	for (size_t i = 0; i < ch->n && i < RELOAD_CHANGES_MAX; i++) {
		if (ch->item[i].live)
			log_info("reload: '%s' changed from %s to %s", ch->item[i].key,
				 ch->item[i].was, ch->item[i].now);
		else
			log_warn("reload: '%s' changed from %s to %s; takes effect at the next "
				 "restart", ch->item[i].key, ch->item[i].was, ch->item[i].now);
	}
}

static void free_config(struct config *c)
{
	if (!c)
		return;
	config_release(c);
	mem_free(c);
}

/*
 * SIGHUP: reads the file again and applies what a running daemon can (log level, time
 * zone, EPS limits, tenants and sources from the database); every other changed key is
 * named in a warning and keeps its running value. A file that does not load changes
 * nothing.
 */
static void serve_reload(struct serve *sv)
{
	const char *path = sv->cfg->path;
	struct config *c = mem_calloc(1, sizeof(*c));
	struct reload_changes *ch = mem_calloc(1, sizeof(*ch));
	struct err e = ERR_INIT;
	bool ok = false;
	size_t changed;

	if (!c || !ch) {
		log_error("reload failed, keeping the running configuration: out of memory");
		goto done;
	}
	if (config_load(c, path, &e) < 0) {
		log_error("reload failed, keeping the running configuration: %s", e.msg);
		goto done; /* a failed load leaves nothing to release */
	}
	if (apply_overrides(c, &sv->ov, &e) < 0) {
		log_error("reload failed, keeping the running configuration: %s", e.msg);
		config_release(c);
		goto done;
	}
	/* names the changes before the running restart-only values replace them in c */
	changed = config_diff(sv->live, c, note_change, ch);
	if (config_keep_restart_keys(c, sv->live, &e) < 0 ||
	    router_reload(sv->router, sv->meta, c, &e) < 0) {
		log_error("reload failed, keeping the running configuration: %s", e.msg);
		config_release(c);
		goto done;
	}
	sink_set_config(sv->sink, c); /* the quotas; before the old configuration is freed */
	alert_sink_set_retention(sv->alerts, c->alerts_retention_days);
	if (detect_reload(sv->detect, c, &e) < 0) /* the rest of the reload still applies */
		log_error("detection rules not reloaded, the running ones stay: %s", e.msg);
	tilive_kick(sv->tilive); /* the indicators loaded again, expired ones left out */
	log_changes(ch);
	(void)config_check_tenants(c, cli_tenant_exists, sv->meta, report_to_log, NULL); /* logged */
	log_set_level(c->log_level);
	pipeline_set_clock_skew_max(sv->pipeline, (int64_t)c->clock_skew_max * NS_PER_SEC);
	log_info("reloaded %s: %zu key%s changed, tenants and sources read again",
		 path ? path : "built-in defaults", changed, changed == 1 ? "" : "s");
	if (sv->live != sv->cfg)
		free_config(sv->live);
	sv->live = c;
	c = NULL;
	atomic_store(&sv->restart_pending, ch->restart);
	ok = true;
done:
	atomic_fetch_add(ok ? &sv->reloads_ok : &sv->reloads_failed, 1);
	mem_free(c);
	mem_free(ch);
}

/* What the router saw, into koban.db for `tenant list` and `source unassigned`. */
static void flush_activity(struct serve *sv)
{
	struct err e = ERR_INIT;

	if (sv->router && sv->meta && router_flush(sv->router, sv->meta, &e) < 0)
		log_warn("saving tenant activity: %s", e.msg);
}

static void serve_stop(struct serve *sv)
{
	int64_t t0 = time_now_ns();
	size_t left;

	control_stop(sv->control); /* first: its commands use what follows */
	sv->control = NULL;
	feeds_release(sv);
	api_stop(sv->api); /* waits for its requests: ingest ones for their commits */
	sv->api = NULL;
	edl_release(sv);
	relp_stop(sv->relp); /* before ingest_stop, which closes its listening sockets */
	api_ingest_free(sv->http_ingest);
	sv->http_ingest = NULL;
	ingest_stop(sv->ingest);
	poll_stop(sv->poll); /* like the listeners: nothing new once the queues drain */
	left = sv->q ? fairq_total_depth(sv->q) : 0;
	if (sv->q)
		fairq_close(sv->q);
	if (sv->spool_on) /* a failing output is given up after the grace, counted */
		spool_stop(&sv->spool, OUTPUT_GRACE_MS);
	if (sv->sink)
		sink_stop(sv->sink, OUTPUT_GRACE_MS);
	if (sv->workers)
		workers_stop(sv->workers);
	sv->workers = NULL;
	if (sv->sink && sink_flush(sv->sink, SINK_FLUSH_MS) < 0)
		log_warn("the last events were not committed within %d ms; they are in the log's "
			 "files and counted as stored once committed", SINK_FLUSH_MS);
	if (sv->sink)
		sink_attach_sealer(sv->sink, NULL);
	seal_stop(sv->seal); /* seals everything durable; before the log is closed */
	sv->seal = NULL;
	if (sv->q)
		log_info("drained %zu queued messages in %.3f s", left,
			 (double)(time_now_ns() - t0) / 1e9);
	flush_activity(sv); /* after the drain: every message counted */
	retrohunt_release(sv); /* before the alert sink it pushes into */
	detect_free(sv->detect); /* after the workers and ackin's users: correlations drained */
	sv->detect = NULL;
	ti_release(sv);
	alert_sink_free(sv->alerts); /* after detection: stores every alert it raised */
	sv->alerts = NULL;
	soc_release(sv); /* after the alert sink, which hands it the last alerts */
	if (sv->admin)
		admin_stop(sv->admin);
	metrics_unregister(sv);
	retention_free(sv->retention);
	sv->retention = NULL;
	store_close(sv->store);
	sv->store = NULL;
	relp_free(sv->relp); /* before ingest_free: its metrics name ingest's listeners */
	sv->relp = NULL;
	ingest_free(sv->ingest); /* after the admin listener, which reads its stats */
	sv->ingest = NULL;
	poll_free(sv->poll);
	sv->poll = NULL;
	ackin_free(sv->ackin); /* after its users (above) and the admin listener; before the sink */
	sv->ackin = NULL;
	sink_close(sv->sink); /* after the admin listener, which reads its metrics */
	sv->sink = NULL;
	workers_release(sv);
	if (sv->spool_on)
		spool_release(&sv->spool);
	if (sv->router)
		router_free(sv->router);
	if (sv->q)
		fairq_free(sv->q);
	if (sv->meta)
		meta_close(sv->meta);
	if (sv->live != sv->cfg)
		free_config(sv->live);
	sv->live = NULL;
	pidfile_release(&sv->pid);
}

/*
 * Connections, spool files and the database all need descriptors; the usual soft limit
 * (1024) equals the default tcp_max_connections, so take the hard limit.
 */
static void raise_fd_limit(const struct config *c)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)c->tcp_max_connections + 256)
		log_warn("open file limit %llu is low for tcp_max_connections %u (raise ulimit -n)",
			 (unsigned long long)rl.rlim_cur, c->tcp_max_connections);
}

/*
 * Each tenant's retention (store.retention_days, live on reload), at start and then once a
 * day; a failed tenant is logged and counted, and the next pass tries again.
 */
static void retain_if_due(struct serve *sv)
{
	struct err e = ERR_INIT;
	int64_t now = time_now_ns();

	if (now < sv->next_retention)
		return;
	sv->next_retention = now + (int64_t)RETENTION_INTERVAL_S * NS_PER_SEC;
	if (retention_run(sv->retention, sv->store, sv->meta, sv->live, NULL, now, false, NULL,
			  NULL, &e) < 0)
		log_error("retention pass failed (the next one tries again): %s", e.msg);
}

/*
 * Blocks until SIGTERM/SIGINT, reloading on every SIGHUP, saving activity and applying
 * retention meanwhile.
 */
static void wait_for_signals(struct serve *sv, const sigset_t *set)
{
	const struct timespec tick = { ACTIVITY_FLUSH_SECONDS, 0 };
	int64_t next = time_now_ns() + ACTIVITY_FLUSH_SECONDS * NS_PER_SEC;

	for (;;) {
		int sig;

		retain_if_due(sv);
		sig = sigtimedwait(set, NULL, &tick);

		/* by the clock, so a stream of SIGHUPs does not hold the saving back */
		if (time_now_ns() >= next) {
			flush_activity(sv);
			next = time_now_ns() + ACTIVITY_FLUSH_SECONDS * NS_PER_SEC;
		}
		if (sig == SIGHUP) {
			/* first: rotation must work even when the new configuration is refused */
			if (sv->spool_on)
				spool_reopen(&sv->spool);
			serve_reload(sv);
		} else if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: stopping", sig);
			return;
		}
	}
}

int cmd_serve(int argc, char **argv)
{
	struct serve sv = { 0 };
	struct config cfg;
	struct err e = ERR_INIT;
	sigset_t set;
	int rc;

	if ((rc = cli_load_config(&argc, argv, &cfg)))
		return rc;
	if ((rc = parse_args(&argc, argv, &sv.ov)) >= 0) {
		config_release(&cfg);
		return rc;
	}
	sv.cfg = sv.live = &cfg;
	sv.pid.fd = -1;
	if (apply_overrides(&cfg, &sv.ov, &e)) {
		config_release(&cfg);
		return cli_fail(&e);
	}
	/* Every thread inherits the blocked mask; only the main thread takes signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Listener threads allocate messages and workers free them: keep freed memory in
	 * the heap rather than trimming it and growing it again at every burst.
	 */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	raise_fd_limit(&cfg);

	if (serve_start(&sv, &e)) {
		serve_stop(&sv);
		config_release(&cfg);
		return cli_fail(&e);
	}
	print_listening(&sv);
	wait_for_signals(&sv, &set);
	serve_stop(&sv);
	config_release(&cfg);
	return 0;
}
