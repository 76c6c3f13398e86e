/*
 * bench/poll - how fast a poller turns API responses into queued records (poll_parse,
 * ingest/poll.h): a Log Analytics query result of sign-in-like rows (12 columns, one of
 * them a dynamic object sent as JSON text) made into one JSON object per row, and Graph
 * alerts_v2 pages of alerts with evidence; each record is de-duplicated, copied into a
 * message and pushed to a fair queue and popped again, as in `koban serve` (no network, no
 * decoding: the decoders have their own figures).
 *
 *   build/release/bench/poll [ROWS] [ROUNDS]
 *
 * Prints "poll NAME: records/s per CPU-second, MB/s of response" for each case.
 */
#include "core/compat.h"

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "ingest/poll.h"
#include "lib/gen.h"

static void la_response(struct buf *b, unsigned rows)
{
	buf_adds(b, "{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":["
		 "{\"name\":\"TimeGenerated\",\"type\":\"datetime\"},"
		 "{\"name\":\"UserPrincipalName\",\"type\":\"string\"},"
		 "{\"name\":\"UserDisplayName\",\"type\":\"string\"},"
		 "{\"name\":\"IPAddress\",\"type\":\"string\"},"
		 "{\"name\":\"AppDisplayName\",\"type\":\"string\"},"
		 "{\"name\":\"ResultType\",\"type\":\"string\"},"
		 "{\"name\":\"ResultDescription\",\"type\":\"string\"},"
		 "{\"name\":\"ClientAppUsed\",\"type\":\"string\"},"
		 "{\"name\":\"CorrelationId\",\"type\":\"string\"},"
		 "{\"name\":\"LocationDetails\",\"type\":\"dynamic\"},"
		 "{\"name\":\"DurationMs\",\"type\":\"long\"},"
		 "{\"name\":\"Type\",\"type\":\"string\"},"
		 "{\"name\":\"_koban_ingested\",\"type\":\"datetime\"}],\"rows\":[");
	for (unsigned i = 0; i < rows; i++)
		buf_addf(b, "%s[\"2026-11-30T%02u:%02u:%02u.%07uZ\",\"user%u@city-a.example.jp\","
			 "\"\\u5c71\\u7530 \\u592a\\u90ce %u\",\"203.0.%u.%u\",\"Office 365 Exchange "
			 "Online\",\"%s\",\"%s\",\"Browser\",\"6f4c%04x-1b2c-4d5e-8f90-%012u\","
			 "\"{\\\"city\\\":\\\"Tokyo\\\",\\\"state\\\":\\\"Tokyo\\\","
			 "\\\"countryOrRegion\\\":\\\"JP\\\",\\\"geoCoordinates\\\":{\\\"latitude\\\":"
			 "35.6895,\\\"longitude\\\":139.6917}}\",%u,\"SigninLogs\","
			 "\"2026-11-30T%02u:%02u:%02u.%07uZ\"]", i ? "," : "", i / 3600 % 24,
			 i / 60 % 60, i % 60, i % 10000000, i % 5000, i, i / 256 % 256, i % 256,
			 i % 7 ? "0" : "50126", i % 7 ? "" : "Invalid username or password.",
			 i % 65536, i, i % 900, i / 3600 % 24, i / 60 % 60, i % 60, i % 10000000);
	buf_adds(b, "]}]}");
}

static void graph_page(struct buf *b, unsigned alerts)
{
	buf_adds(b, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#security/"
		 "alerts_v2\",\"value\":[");
	for (unsigned i = 0; i < alerts; i++)
		buf_addf(b, "%s{\"@odata.type\":\"#microsoft.graph.security.alert\",\"id\":"
			 "\"da6375%014u_-961444813\",\"incidentId\":\"%u\",\"status\":\"new\","
			 "\"severity\":\"medium\",\"classification\":null,\"determination\":null,"
			 "\"serviceSource\":\"microsoftDefenderForEndpoint\",\"detectionSource\":"
			 "\"antivirus\",\"title\":\"Suspicious PowerShell command line\",\"description\":"
			 "\"A suspicious PowerShell activity was observed on the machine.\","
			 "\"createdDateTime\":\"2026-11-30T01:%02u:%02u.1234567Z\",\"lastUpdateDateTime\":"
			 "\"2026-11-30T02:%02u:%02u.1234567Z\",\"mitreTechniques\":[\"T1059.001\"],"
			 "\"evidence\":[{\"@odata.type\":\"#microsoft.graph.security.deviceEvidence\","
			 "\"createdDateTime\":\"2026-11-30T01:00:00Z\",\"verdict\":\"unknown\","
			 "\"remediationStatus\":\"none\",\"mdeDeviceId\":\"%040u\",\"deviceDnsName\":"
			 "\"ws-%04u.city-a.example.jp\",\"osPlatform\":\"Windows10\",\"ipInterfaces\":"
			 "[\"10.1.%u.%u\"],\"loggedOnUsers\":[{\"accountName\":\"user%u\",\"domainName\":"
			 "\"CITY-A\"}]},{\"@odata.type\":\"#microsoft.graph.security.processEvidence\","
			 "\"processId\":%u,\"processCommandLine\":\"powershell.exe -nop -w hidden -enc "
			 "SQBFAFgA\",\"imageFile\":{\"sha256\":\"%064u\",\"fileName\":\"powershell.exe\","
			 "\"filePath\":\"C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\"}}]}",
			 i ? "," : "", i, 10000 + i, i / 60 % 60, i % 60, i / 60 % 60, i % 60, i,
			 i % 5000, i / 256 % 256, i % 256, i, 1000 + i, i);
	buf_adds(b, "]}");
}

static void run(const char *name, int type, const struct buf *body, unsigned rounds)
{
	size_t records = 0, n;
	double cpu = bench_cpu_s(), mb = 0;
	struct err e = ERR_INIT;
	int partial;

	for (unsigned r = 0; r < rounds; r++) {
		if (poll_parse(type, body->p, body->len, NULL, &n, &partial, &e) < 0) {
			fprintf(stderr, "poll %s: %s\n", name, e.msg);
			exit(1);
		}
		records += n;
		mb += (double)body->len / 1e6;
	}
	cpu = bench_cpu_s() - cpu;
	printf("poll %s: %.0f records/s per CPU-second, %.1f MB/s of response (%zu records, "
	       "%u rounds, %.2f CPU s)\n", name, (double)records / cpu, mb / cpu, records, rounds,
	       cpu);
}

int main(int argc, char **argv)
{
	unsigned rows = argc > 1 ? (unsigned)atoi(argv[1]) : 50000;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
	struct buf la = BUF_INIT(1u << 30), graph = BUF_INIT(1u << 30);

	la_response(&la, rows);
	graph_page(&graph, rows / 25 ? rows / 25 : 1);
	run("loganalytics rows", POLLER_LOGANALYTICS, &la, rounds);
	run("graph alerts", POLLER_GRAPH, &graph, rounds * 5);
	buf_release(&la);
	buf_release(&graph);
	return 0;
}
