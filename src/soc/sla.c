/*
 * sla.c - the SLA clocks of incidents: policies from soc.sla, the clocks' states, their
 * JSON form, and the check that records breaches (soc/sla.h).
 */
#include "soc/sla.h"
#include "core/compat.h"

#include <pthread.h>

#define LOG_MODULE "sla"
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/meta.h"

_Static_assert(CONFIG_SLA_CLOCKS == SLA_CLOCKS, "soc.sla has one key per clock");
_Static_assert((int)SLA_DECIDE == (int)META_CLOCK_DECIDED &&
		       (int)SLA_FIRST_REPORT == (int)META_CLOCK_REPORTED &&
		       (int)SLA_CONTACT == (int)META_CLOCK_CONTACTED &&
		       (int)SLA_ACKNOWLEDGE == (int)META_CLOCK_ACKNOWLEDGED &&
		       (int)SLA_CONTAIN == (int)META_CLOCK_CONTAINED,
	       "the SLA clocks are the incident's clocks, in the same order");

#define SLA_TENANTS_MAX 4096            /* tenants named in the breach counter */
#define COPY_ARENA_MAX ((size_t)64 << 20) /* one incident copied for its update */
#define CONTACT_MIN_LEVEL 2             /* the contact clock runs for High and Critical */

static const char *const clock_names[SLA_CLOCKS] = {
	"decide", "first_report", "contact", "acknowledge", "contain",
};
/* what each clock starts from, for the sentences on the timeline */
static const char *const start_names[SLA_CLOCKS] = {
	"detection", "detection", "the level decision", "detection", "detection",
};

struct tenant_policy {
	char *tenant;
	struct sla_policy p;
};

/* Breaches counted for one tenant, by clock. */
struct tenant_count {
	char *tenant;
	uint64_t n[SLA_CLOCKS];
};

struct sla {
	struct sla_policy def;
	struct tenant_policy *tenants;
	size_t n_tenants;
	bool metrics;

	pthread_mutex_t lock;        /* what follows, read by the metrics callbacks */
	struct tenant_count *counts;
	size_t n_counts;
	uint64_t open[SLA_CLOCKS];   /* the last check's open incidents with the clock running */
	int64_t least_ns[SLA_CLOCKS]; /* ... their least time left; valid when open[k] */
	uint64_t truncated;          /* checks that saw only the newest open incidents */
};

const char *sla_clock_name(enum sla_clock k)
{
	return (unsigned)k < SLA_CLOCKS ? clock_names[k] : "unknown";
}

/* ---- policies ---- */

static void policy_from_seconds(struct sla_policy *p, const uint32_t *seconds,
				const struct sla_policy *inherit)
{
	for (size_t k = 0; k < SLA_CLOCKS; k++)
		p->due_ns[k] = inherit && seconds[k] == CONFIG_SLA_INHERIT ?
				       inherit->due_ns[k] : (int64_t)seconds[k] * NS_PER_SEC;
}

/* The policies of c (the seed defaults when c is NULL). */
static int load_policies(struct sla *s, const struct config *c, struct err *e)
{
	struct config seed;
	int rc;

	if (!c) {
		if ((rc = config_defaults(&seed, e)) < 0)
			return rc;
		policy_from_seconds(&s->def, seed.soc_sla.due, NULL);
		config_release(&seed);
		return 0;
	}
	policy_from_seconds(&s->def, c->soc_sla.due, NULL);
	if (!c->soc_sla.n_tenants)
		return 0;
	if (!(s->tenants = mem_calloc(c->soc_sla.n_tenants, sizeof(*s->tenants))))
		return err_set(e, -ENOMEM, "sla: out of memory");
	for (; s->n_tenants < c->soc_sla.n_tenants; s->n_tenants++) {
		const struct config_sla_tenant *t = &c->soc_sla.tenants[s->n_tenants];
		struct tenant_policy *to = &s->tenants[s->n_tenants];

		if (!(to->tenant = mem_strdup(t->tenant)))
			return err_set(e, -ENOMEM, "sla: out of memory");
		policy_from_seconds(&to->p, t->due, &s->def);
	}
	return 0;
}

const struct sla_policy *sla_policy(const struct sla *s, const char *tenant)
{
	for (size_t i = 0; tenant && i < s->n_tenants; i++)
		if (!strcmp(s->tenants[i].tenant, tenant))
			return &s->tenants[i].p;
	return &s->def;
}

/* ---- the clocks ---- */

static int64_t clock_start(const struct meta_incident *inc, enum sla_clock k)
{
	return k == SLA_CONTACT ? inc->decided_ns : inc->detected_ns;
}

static int64_t clock_met(const struct meta_incident *inc, enum sla_clock k)
{
	switch (k) {
	case SLA_DECIDE:
		return inc->decided_ns;
	case SLA_FIRST_REPORT:
		return inc->reported_ns;
	case SLA_CONTACT:
		return inc->contacted_ns;
	case SLA_ACKNOWLEDGE:
		return inc->acknowledged_ns;
	default:
		return inc->contained_ns;
	}
}

static void compute_clock(const struct sla_policy *p, const struct meta_incident *inc,
			  int64_t now_ns, enum sla_clock k, struct sla_state *st)
{
	int64_t goal = p->due_ns[k];

	st->start_ns = clock_start(inc, k);
	st->met_ns = clock_met(inc, k);
	st->applies = goal > 0 && st->start_ns > 0 &&
		      (k != SLA_CONTACT || inc->level >= CONTACT_MIN_LEVEL);
	st->due_ns = st->applies ? st->start_ns + goal : 0;
	st->breached = false;
	if (!st->applies)
		return;
	if (st->met_ns)
		st->breached = st->met_ns > st->due_ns;
	else if (inc->closed_ns)
		/* closing stops an unmet clock: breached only if it was already late */
		st->applies = st->breached = inc->closed_ns > st->due_ns;
	else
		st->breached = now_ns > st->due_ns;
	if (!st->applies)
		st->due_ns = 0;
}

void sla_compute(const struct sla_policy *p, const struct meta_incident *inc, int64_t now_ns,
		 struct sla_state out[SLA_CLOCKS])
{
	for (size_t k = 0; k < SLA_CLOCKS; k++)
		compute_clock(p, inc, now_ns, (enum sla_clock)k, &out[k]);
}

/* Whole seconds from a to b, rounded toward minus infinity (negative when b is before a). */
static int64_t seconds_between(int64_t a, int64_t b)
{
	int64_t d = b - a;

	return d >= 0 ? d / NS_PER_SEC : -((-d + NS_PER_SEC - 1) / NS_PER_SEC);
}

/* ---- JSON ---- */

static int add_key(struct buf *b, const char *key)
{
	int rc = json_add_string(b, key, strlen(key));

	return err_first(rc, buf_addch(b, ':'));
}

static int add_time(struct buf *b, const char *key, int64_t ns)
{
	char t[TIME_RFC3339_LEN];
	size_t n = time_format_rfc3339(ns, t);
	int rc = add_key(b, key);

	return err_first(rc, ns ? json_add_string(b, t, n) : buf_adds(b, "null"));
}

/* {"start","due","met","breached","remaining_s"} of a clock that applies, else null. */
static int write_state(struct buf *b, const struct sla_state *st, int64_t now_ns)
{
	int rc;

	if (!st->applies)
		return buf_adds(b, "null");
	rc = buf_addch(b, '{');
	rc = err_first(rc, add_time(b, "start", st->start_ns));
	rc = err_first(rc, buf_addch(b, ','));
	rc = err_first(rc, add_time(b, "due", st->due_ns));
	rc = err_first(rc, buf_addch(b, ','));
	rc = err_first(rc, add_time(b, "met", st->met_ns));
	rc = err_first(rc, buf_addch(b, ','));
	rc = err_first(rc, add_key(b, "breached"));
	rc = err_first(rc, buf_adds(b, st->breached ? "true" : "false"));
	rc = err_first(rc, buf_addch(b, ','));
	rc = err_first(rc, add_key(b, "remaining_s"));
	/* a met clock has nothing left; a running one counts down, negative when overdue */
	if (st->met_ns)
		rc = err_first(rc, buf_adds(b, "null"));
	else
		rc = err_first(rc, buf_add_int(b, seconds_between(now_ns, st->due_ns)));
	return err_first(rc, buf_addch(b, '}'));
}

int sla_write_json(const struct sla *s, const struct meta_incident *inc, int64_t now_ns,
		   struct buf *out)
{
	struct sla_state st[SLA_CLOCKS];
	int rc;

	sla_compute(sla_policy(s, inc->tenant), inc, now_ns, st);
	rc = buf_addch(out, '{');
	for (size_t k = 0; k < SLA_CLOCKS; k++) {
		if (k)
			rc = err_first(rc, buf_addch(out, ','));
		rc = err_first(rc, add_key(out, clock_names[k]));
		rc = err_first(rc, write_state(out, &st[k], now_ns));
	}
	return err_first(rc, buf_addch(out, '}'));
}

/* ---- metrics ---- */

static int collect_breaches(struct metrics_out *o, void *ctx)
{
	struct sla *s = ctx;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_counts && !rc; i++)
		for (size_t k = 0; k < SLA_CLOCKS && !rc; k++)
			rc = metrics_sample(o, s->counts[i].n[k], "tenant", s->counts[i].tenant,
					    "clock", clock_names[k], NULL);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int collect_open(struct metrics_out *o, void *ctx)
{
	struct sla *s = ctx;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t k = 0; k < SLA_CLOCKS && !rc; k++)
		rc = metrics_sample(o, s->open[k], "clock", clock_names[k], NULL);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* No sample for a clock that runs for no open incident. */
static int collect_remaining(struct metrics_out *o, void *ctx)
{
	struct sla *s = ctx;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t k = 0; k < SLA_CLOCKS && !rc; k++)
		if (s->open[k])
			rc = metrics_sample_double(o, (double)s->least_ns[k] / (double)NS_PER_SEC,
						   "clock", clock_names[k], NULL);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int collect_truncated(struct metrics_out *o, void *ctx)
{
	struct sla *s = ctx;
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->truncated;
	pthread_mutex_unlock(&s->lock);
	return metrics_sample(o, n, NULL);
}

static const struct metrics_family families[] = {
	{ "koban_incident_sla_breaches_total", METRICS_COUNTER,
	  "SLA clocks of incidents found breached, by tenant and clock.", collect_breaches },
	{ "koban_incident_sla_open", METRICS_GAUGE,
	  "Open incidents whose SLA clock is running (not met yet), by clock.", collect_open },
	{ "koban_incident_sla_remaining_seconds", METRICS_GAUGE,
	  "The least time left before an SLA clock's goal over the open incidents, by clock "
	  "(negative: overdue).", collect_remaining },
	{ "koban_incident_sla_truncated_checks_total", METRICS_COUNTER,
	  "SLA checks that saw only the newest open incidents (more than 10000 were open).",
	  collect_truncated },
};

/* ---- life cycle ---- */

int sla_new(struct sla **out, const struct config *c, bool metrics, struct err *e)
{
	struct sla *s = mem_calloc(1, sizeof(*s));
	const char *failed = NULL;
	int rc;

	*out = NULL;
	if (!s)
		return err_set(e, -ENOMEM, "sla: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	if ((rc = load_policies(s, c, e)) < 0)
		goto fail;
	if (metrics) {
		rc = metrics_register_families(families, ARRAY_SIZE(families), s, &failed);
		if (rc < 0) {
			err_set(e, rc, "sla: cannot register the metric %s: %s", failed,
				strerror(-rc));
			goto fail;
		}
		s->metrics = true;
	}
	*out = s;
	return 0;
fail:
	sla_free(s);
	return rc;
}

void sla_free(struct sla *s)
{
	if (!s)
		return;
	if (s->metrics)
		metrics_unregister(s); /* first: a scrape may be reading s */
	for (size_t i = 0; i < s->n_tenants; i++)
		mem_free(s->tenants[i].tenant);
	mem_free(s->tenants);
	for (size_t i = 0; i < s->n_counts; i++)
		mem_free(s->counts[i].tenant);
	mem_free(s->counts);
	pthread_mutex_destroy(&s->lock);
	mem_free(s);
}

/* ---- the check ---- */

/*
 * The tenant's breach counts, added when new (under s->lock); past SLA_TENANTS_MAX tenants
 * the rest count under "_other". NULL when out of memory.
 */
static struct tenant_count *tenant_count(struct sla *s, const char *tenant)
{
	struct tenant_count *grown;
	char *name;

	for (size_t i = 0; i < s->n_counts; i++)
		if (!strcmp(s->counts[i].tenant, tenant))
			return &s->counts[i];
	if (s->n_counts >= SLA_TENANTS_MAX && strcmp(tenant, "_other"))
		return tenant_count(s, "_other");
	if (!(name = mem_strdup(tenant)))
		return NULL;
	if (!(grown = mem_realloc(s->counts, (s->n_counts + 1) * sizeof(*grown)))) {
		mem_free(name);
		return NULL;
	}
	s->counts = grown;
	memset(&grown[s->n_counts], 0, sizeof(*grown));
	grown[s->n_counts].tenant = name;
	return &grown[s->n_counts++];
}

/* An open incident with a clock newly breached, to record after the listing. */
struct pending {
	const char *tenant;          /* in the check's arena */
	int64_t id;
};

/* What a check gathers while the open incidents are listed. */
struct scan {
	struct sla *s;
	int64_t now_ns;
	uint64_t open[SLA_CLOCKS];
	int64_t least_ns[SLA_CLOCKS];
	struct arena *arena;
	struct pending *pending;     /* at most META_INCIDENT_LIST_MAX */
	size_t n_pending;
	size_t listed;
	int rc;                      /* the first error (-ENOMEM) */
};

/* The clocks breached now whose breach the incident does not record yet, as sla_breached bits. */
static int64_t new_breaches(const struct sla_state st[SLA_CLOCKS], int64_t recorded)
{
	int64_t bits = 0;

	for (size_t k = 0; k < SLA_CLOCKS; k++)
		if (st[k].applies && st[k].breached && !(recorded & (INT64_C(1) << k)))
			bits |= INT64_C(1) << k;
	return bits;
}

static void scan_incident(void *ctx, const struct meta_incident *inc)
{
	struct scan *sc = ctx;
	struct sla_state st[SLA_CLOCKS];

	sc->listed++;
	sla_compute(sla_policy(sc->s, inc->tenant), inc, sc->now_ns, st);
	for (size_t k = 0; k < SLA_CLOCKS; k++) {
		int64_t left = st[k].due_ns - sc->now_ns;

		if (!st[k].applies || st[k].met_ns)
			continue;
		if (!sc->open[k]++ || left < sc->least_ns[k])
			sc->least_ns[k] = left;
	}
	if (sc->rc || sc->n_pending >= META_INCIDENT_LIST_MAX || !new_breaches(st, inc->sla_breached))
		return;
	if (!(sc->pending[sc->n_pending].tenant = arena_strndup(sc->arena, inc->tenant,
								strlen(inc->tenant)))) {
		sc->rc = -ENOMEM;
		return;
	}
	sc->pending[sc->n_pending++].id = inc->id;
}

/* A copy of an incident (meta_incident_get's is only valid during the call). */
struct copy {
	struct arena *arena;
	struct meta_incident inc;
	bool found;
	int rc;
};

static void copy_string(struct copy *cp, const char **field)
{
	char *dup = arena_strndup(cp->arena, *field, strlen(*field));

	if (!dup)
		cp->rc = -ENOMEM;
	*field = dup ? dup : "";
}

static void copy_incident(void *ctx, const struct meta_incident *inc)
{
	struct copy *cp = ctx;
	const char **strings[] = { &cp->inc.tenant, &cp->inc.title, &cp->inc.rule_id,
				   &cp->inc.group_key, &cp->inc.status, &cp->inc.owner,
				   &cp->inc.evidence, &cp->inc.entities, &cp->inc.terminal };

	cp->inc = *inc;
	cp->found = true;
	for (size_t i = 0; i < ARRAY_SIZE(strings); i++)
		copy_string(cp, strings[i]);
}

/* "1 h 30 min", "15 min", "45 s" */
static void format_duration(int64_t seconds, char *out, size_t size)
{
	int64_t h = seconds / 3600, m = seconds % 3600 / 60, s = seconds % 60;
	size_t used = 0;

	out[0] = '\0';
	if (h)
		used += (size_t)snprintf(out + used, size - used, "%lld h", (long long)h);
	if (m && used < size)
		used += (size_t)snprintf(out + used, size - used, "%s%lld min", used ? " " : "",
					 (long long)m);
	if ((s || !seconds) && used < size)
		snprintf(out + used, size - used, "%s%lld s", used ? " " : "", (long long)s);
}

/* The timeline entry of one breach: detail {"clock","start","due","met","late_s"}, a sentence. */
static int log_breach(struct meta *m, const struct meta_incident *inc, const struct sla_policy *p,
		      const struct sla_state *st, enum sla_clock k, int64_t now_ns, struct err *e)
{
	struct buf detail = BUF_INIT(4096), why = BUF_INIT(4096);
	char goal[64], late[64], due[TIME_RFC3339_LEN];
	int64_t late_s = seconds_between(st->due_ns, st->met_ns ? st->met_ns : now_ns);
	struct meta_incident_entry en = { 0 };
	int rc;

	format_duration(p->due_ns[k] / NS_PER_SEC, goal, sizeof(goal));
	format_duration(late_s, late, sizeof(late));
	time_format_rfc3339(st->due_ns, due);
	rc = buf_addch(&detail, '{');
	rc = err_first(rc, add_key(&detail, "clock"));
	rc = err_first(rc, json_add_string(&detail, clock_names[k], strlen(clock_names[k])));
	rc = err_first(rc, buf_addch(&detail, ','));
	rc = err_first(rc, add_time(&detail, "start", st->start_ns));
	rc = err_first(rc, buf_addch(&detail, ','));
	rc = err_first(rc, add_time(&detail, "due", st->due_ns));
	rc = err_first(rc, buf_addch(&detail, ','));
	rc = err_first(rc, add_time(&detail, "met", st->met_ns));
	rc = err_first(rc, buf_addch(&detail, ','));
	rc = err_first(rc, add_key(&detail, "late_s"));
	rc = err_first(rc, buf_add_int(&detail, late_s));
	rc = err_first(rc, buf_addch(&detail, '}'));
	if (st->met_ns)
		rc = err_first(rc, buf_addf(&why, "The %s goal (%s from %s) was missed: due %s, met "
					    "%s late.", clock_names[k], goal, start_names[k], due,
					    late));
	else
		rc = err_first(rc, buf_addf(&why, "The %s goal (%s from %s) was missed: due %s, "
					    "not met yet.", clock_names[k], goal, start_names[k],
					    due));
	if (rc < 0) {
		rc = err_set(e, rc, "sla: out of memory");
		goto fail;
	}
	en.incident = inc->id;
	en.at_ns = now_ns;
	en.actor = "sla";
	en.action = "sla-breach";
	en.detail = detail.p;
	en.why = why.p;
	rc = meta_incident_log(m, inc->tenant, &en, e);
fail:
	buf_release(&detail);
	buf_release(&why);
	return rc;
}

/* Reads the pending incident into cp: 1 found, 0 gone (purged meanwhile), or an error. */
static int read_pending(struct meta *m, const struct pending *pd, struct copy *cp, struct err *e)
{
	int rc = meta_incident_get(m, pd->tenant, pd->id, copy_incident, cp, e);

	if (rc == -ENOENT) {
		err_clear(e);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (cp->rc < 0)
		return err_set(e, cp->rc, "sla: out of memory");
	return cp->found; /* a row that fails its checks is skipped by meta, with a warning */
}

/*
 * Records the new breaches of one incident, read again in the transaction that writes
 * them (an analyst's change made since the listing is kept): the bits and the timeline
 * entries, then counted and passed to fn. An incident gone meanwhile is skipped.
 */
static int record_breaches(struct sla *s, struct meta *m, const struct pending *pd,
			   struct arena *arena, int64_t now_ns, sla_breach_fn *fn, void *ctx,
			   struct err *e)
{
	struct copy cp = { .arena = arena };
	const struct sla_policy *p = sla_policy(s, pd->tenant);
	struct sla_state st[SLA_CLOCKS];
	struct tenant_count *tc;
	int64_t bits = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	tc = tenant_count(s, pd->tenant); /* before anything is written: nothing to undo */
	pthread_mutex_unlock(&s->lock);
	if (!tc)
		return err_set(e, -ENOMEM, "sla: out of memory counting breaches");
	if ((rc = meta_begin(m, e)) < 0)
		return rc;
	if ((rc = read_pending(m, pd, &cp, e)) > 0) {
		sla_compute(p, &cp.inc, now_ns, st);
		bits = new_breaches(st, cp.inc.sla_breached);
		cp.inc.sla_breached |= bits;
	}
	if (rc > 0 && bits)
		rc = meta_incident_update(m, &cp.inc, e);
	for (size_t k = 0; k < SLA_CLOCKS && rc >= 0; k++)
		if (bits & (INT64_C(1) << k))
			rc = log_breach(m, &cp.inc, p, &st[k], (enum sla_clock)k, now_ns, e);
	if (rc < 0 || !bits || (rc = meta_commit(m, e)) < 0) {
		meta_rollback(m); /* nothing written, or all of it undone */
		return rc < 0 ? rc : 0;
	}
	for (size_t k = 0; k < SLA_CLOCKS; k++) {
		if (!(bits & (INT64_C(1) << k)))
			continue;
		pthread_mutex_lock(&s->lock);
		tc = tenant_count(s, pd->tenant); /* found: counts only grow */
		tc->n[k]++;
		pthread_mutex_unlock(&s->lock);
		log_warn("incident %lld of tenant '%s': the %s SLA goal was missed",
			 (long long)cp.inc.id, cp.inc.tenant, clock_names[k]);
		if (fn)
			fn(ctx, &cp.inc, (enum sla_clock)k);
	}
	return 0;
}

int sla_check(struct sla *s, struct meta *m, int64_t now_ns, sla_breach_fn *fn, void *ctx,
	      struct err *e)
{
	struct meta_incident_filter f = { .status = "open", .min_level = -2,
					  .limit = META_INCIDENT_LIST_MAX };
	struct arena arena;
	struct scan sc = { .s = s, .now_ns = now_ns, .arena = &arena };
	int rc;

	arena_init(&arena, 65536, COPY_ARENA_MAX);
	if (!(sc.pending = mem_calloc(META_INCIDENT_LIST_MAX, sizeof(*sc.pending)))) {
		rc = err_set(e, -ENOMEM, "sla: out of memory");
		goto fail;
	}
	if ((rc = meta_incident_list(m, NULL, &f, scan_incident, &sc, e)) < 0)
		goto fail;
	if (sc.rc < 0) {
		rc = err_set(e, sc.rc, "sla: out of memory");
		goto fail;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->open, sc.open, sizeof(s->open));
	memcpy(s->least_ns, sc.least_ns, sizeof(s->least_ns));
	if (sc.listed >= META_INCIDENT_LIST_MAX)
		s->truncated++; /* the oldest open incidents were left out of this check */
	pthread_mutex_unlock(&s->lock);
	if (sc.listed >= META_INCIDENT_LIST_MAX)
		log_warn("more than %d open incidents: the SLA check saw the newest only",
			 META_INCIDENT_LIST_MAX);
	for (size_t i = 0; i < sc.n_pending && rc >= 0; i++) {
		struct arena copy;

		arena_init(&copy, 65536, COPY_ARENA_MAX);
		rc = record_breaches(s, m, &sc.pending[i], &copy, now_ns, fn, ctx, e);
		arena_release(&copy);
	}
fail:
	mem_free(sc.pending);
	arena_release(&arena);
	return rc;
}
