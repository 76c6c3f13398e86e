/*
 * bench/tifeeds - read rate of the threat-intelligence feed readers (enrich/stix,
 * enrich/misp) on generated documents, against the floor of validating the same bytes
 * with the JSON reader alone (jsonin_skip_value: no key compared, nothing kept).
 *
 * Generates in memory a STIX 2.1 bundle of N indicator objects (default 200,000: a
 * rotation of IPv4, IPv6 CIDR, domain, URL, SHA-256 patterns, every fourth one an OR of
 * two values, with valid_from, confidence, labels, description) and a MISP event of N
 * attributes (ip-dst|port, domain, url, filename|sha256, sha1, with tags and comments),
 * then reads each with a sink that only counts. Prints per case "NAME: MB/s,
 * indicators/s" per CPU-second of the process (a loaded machine gives per-core
 * figures) and the counts, which a peer must find equal.
 *
 *   build/release/bench/tifeeds [N]
 */
#include "core/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jsonin.h"
#include "enrich/misp.h"
#include "enrich/stix.h"
#include "lib/cpu.h"

static int count_add(void *ctx, const struct ti_indicator *ind)
{
	size_t *n = ctx;

	(*n)++;
	return 0;
}

static void count_reject(void *ctx, unsigned line, const char *reason)
{
	fprintf(stderr, "bench/tifeeds: unexpected reject %u: %s\n", line, reason);
	exit(1);
}

static const char hex[] = "0123456789abcdef";

/* 64 hex digits that differ per i. */
static void hash_of(unsigned i, char out[65])
{
	for (int k = 0; k < 64; k++)
		out[k] = hex[(i * 2654435761u >> (k % 28)) & 15];
	out[64] = '\0';
}

static int stix_pattern(struct buf *b, unsigned i)
{
	char h[65];

	hash_of(i, h);
	switch (i % 5) {
	case 0: return buf_addf(b, "[ipv4-addr:value = '10.%u.%u.%u']", i >> 16 & 255, i >> 8 & 255, i & 255);
	case 1: return buf_addf(b, "[ipv6-addr:value = '2001:db8:%x::/48']", i & 0xffff);
	case 2: return buf_addf(b, "[domain-name:value = 'host%u.bad.example'%s]", i,
				i % 4 ? "" : " OR domain-name:value = 'alt.bad.example'");
	case 3: return buf_addf(b, "[url:value = 'https://bad.example/p/%u?q=1']", i);
	default: return buf_addf(b, "[file:hashes.'SHA-256' = '%s']", h);
	}
}

static int gen_stix(struct buf *b, unsigned n)
{
	int rc = buf_adds(b, "{\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": [\n");

	for (unsigned i = 0; i < n && !rc; i++) {
		rc = buf_addf(b, "%s{\"type\": \"indicator\", \"spec_version\": \"2.1\", "
			      "\"id\": \"indicator--%08x-0000-4000-8000-000000000000\", "
			      "\"created\": \"2026-01-01T00:00:00.000Z\", "
			      "\"modified\": \"2026-01-01T00:00:00.000Z\", \"pattern_type\": \"stix\", "
			      "\"pattern\": \"", i ? ",\n" : "", i);
		rc = err_first(rc, stix_pattern(b, i));
		rc = err_first(rc, buf_addf(b, "\", \"valid_from\": \"2026-01-01T00:00:00Z\", "
					    "\"confidence\": %u, \"labels\": [\"malicious-activity\", "
					    "\"feed-%u\"], \"description\": \"generated indicator %u\"}",
					    i % 101, i % 7, i));
	}
	return err_first(rc, buf_adds(b, "]}\n"));
}

static int misp_attribute(struct buf *b, unsigned i)
{
	char h[65];

	hash_of(i, h);
	h[40] = '\0';
	switch (i % 5) {
	case 0: return buf_addf(b, "\"type\": \"ip-dst|port\", \"value\": \"10.%u.%u.%u|443\"", i >> 16 & 255, i >> 8 & 255, i & 255);
	case 1: return buf_addf(b, "\"type\": \"domain\", \"value\": \"host%u.bad.example\"", i);
	case 2: return buf_addf(b, "\"type\": \"url\", \"value\": \"https://bad.example/p/%u\"", i);
	case 3: hash_of(i, h);
		return buf_addf(b, "\"type\": \"filename|sha256\", \"value\": \"drop%u.exe|%s\"", i, h);
	default: return buf_addf(b, "\"type\": \"sha1\", \"value\": \"%s\"", h);
	}
}

static int gen_misp(struct buf *b, unsigned n)
{
	int rc = buf_adds(b, "{\"Event\": {\"uuid\": \"5f0f1d3e-0000-4000-8000-00000000e001\", "
			  "\"info\": \"generated event\", \"threat_level_id\": \"2\", "
			  "\"timestamp\": \"1767225600\", \"Attribute\": [\n");

	for (unsigned i = 0; i < n && !rc; i++) {
		rc = buf_addf(b, "%s{\"uuid\": \"%08x-0000-4000-8000-000000000000\", "
			      "\"category\": \"Network activity\", \"to_ids\": true, \"deleted\": false, "
			      "\"timestamp\": \"1767225600\", \"comment\": \"attribute %u\", "
			      "\"Tag\": [{\"name\": \"feed-%u\", \"colour\": \"#33ff00\"}], ",
			      i ? ",\n" : "", i, i, i % 7);
		rc = err_first(rc, misp_attribute(b, i));
		rc = err_first(rc, buf_addch(b, '}'));
	}
	return err_first(rc, buf_adds(b, "],\n\"Tag\": [{\"name\": \"tlp:green\"}]}}\n"));
}

/* The floor: the same bytes validated, every value skipped. */
static int jsonin_floor(const struct buf *b, struct err *e)
{
	struct jsonin j;

	jsonin_init(&j, b->p, b->len, NULL, 0);
	j.max_tokens = b->len; /* as the readers do */
	if (jsonin_skip_value(&j) < 0)
		return jsonin_error(&j, e);
	return jsonin_finish(&j, e);
}

static void report(const char *name, const struct buf *b, size_t values, double secs)
{
	printf("%-28s %7.1f MB/s  %10.0f indicators/s  (%zu indicators, %.1f MB, %.3f CPU-s)\n",
	       name, (double)b->len / 1e6 / secs, (double)values / secs, values,
	       (double)b->len / 1e6, secs);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
	struct buf stix = BUF_INIT((size_t)1 << 31), misp = BUF_INIT((size_t)1 << 31);
	struct err e = ERR_INIT;
	size_t count = 0;
	struct ti_sink sink = { count_add, count_reject, &count };
	double t;
	int rc;

	if (gen_stix(&stix, n) < 0 || gen_misp(&misp, n) < 0) {
		fprintf(stderr, "bench/tifeeds: cannot build the documents\n");
		return 1;
	}
	t = bench_cpu_seconds();
	if ((rc = jsonin_floor(&stix, &e)) < 0)
		goto fail;
	report("jsonin skip (STIX bytes)", &stix, 0, bench_cpu_seconds() - t);
	t = bench_cpu_seconds();
	if ((rc = stix_bundle_read(stix.p, stix.len, &sink, NULL, &e)) < 0)
		goto fail;
	report("stix_bundle_read", &stix, count, bench_cpu_seconds() - t);
	t = bench_cpu_seconds();
	if ((rc = jsonin_floor(&misp, &e)) < 0)
		goto fail;
	report("jsonin skip (MISP bytes)", &misp, 0, bench_cpu_seconds() - t);
	count = 0;
	t = bench_cpu_seconds();
	if ((rc = misp_event_read(misp.p, misp.len, NULL, &sink, NULL, &e)) < 0)
		goto fail;
	report("misp_event_read", &misp, count, bench_cpu_seconds() - t);
fail:
	buf_release(&stix);
	buf_release(&misp);
	if (rc < 0) {
		fprintf(stderr, "bench/tifeeds: %s\n", e.msg);
		return 1;
	}
	return 0;
}
