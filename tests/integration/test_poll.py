"""The pollers under a real `koban serve`, against a local HTTPS server that speaks the wire
format of the Entra ID token endpoint, Microsoft Graph security and the Log Analytics query
API (msfake.py): paging by @odata.nextLink, throttling (429 Retry-After), a 5xx, a busy
token endpoint (503 with an HTTP-date Retry-After), an expired token, the overlap window
de-duplicated (also across a restart and a kill -9), the Log Analytics window with full
pages and a PartialError, secrets that are never logged, a secret file others may read
refused, a nextLink to another origin refused, and the public Graph alert sample. Exact
counts; waits are polls on the poller's own counters."""
import contextlib
import email.utils
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (FILE_OUTPUT, KOBAN, Instance, Suite, make_tls, poll, run,  # noqa: E402
                      samples, spool_lines, tempdir, value)
from msfake import Fake, iso  # noqa: E402

SECRET = "s3cr3t~with&special=chars%"
DIRECTORY = "contoso.onmicrosoft.com"
GRAPH_SAMPLE = os.path.join(samples("defender"), "graph-alerts_v2-alert.json")


@contextlib.contextmanager
def fake_services(client_secret=SECRET):
    """A temporary folder d with tenant "cloud" and the secret file (setup), a CA and the
    fake Entra ID/Graph/Log Analytics server (msfake.Fake) whose certificate it signed,
    accepting client_secret: yields (d, secret file, CA file, fake); closes the fake and
    removes d afterwards."""
    d = tempdir()
    fake = None
    try:
        secret = setup(d)
        ca, cert, key = make_tls(d)
        fake = Fake(cert, key, client_secret, DIRECTORY)
        yield d, secret, ca, fake
    finally:
        if fake:
            fake.close()
        shutil.rmtree(d, ignore_errors=True)


def format_for(d, wanted):
    """The decoder the pollers use by default when this build has it, else syslog (the
    records still arrive whole, in event.original)."""
    rc, _, _ = run(["parse", "--format", wanted], d, check=False, input="")
    return wanted if rc == 0 else "syslog"


def setup(d, tenant="cloud"):
    run(["tenant", "add", tenant], d)
    path = os.path.join(d, "graph.secret")
    with open(path, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(path, 0o600)
    return path


def poller_config(d, fake, ca, secret, body):
    path = os.path.join(d, "koban.yaml")
    with open(path, "w") as f:
        f.write("data_dir: ./var\n" + FILE_OUTPUT + "syslog:\n  max_message_size: 262144\n"
                "queues:\n  max_bytes: 67108864\npollers:\n" + body % {
                    "url": fake.url, "ca": ca, "secret": secret, "dir": DIRECTORY})
    return path


GRAPH = """  m365:
    type: graph
    tenant: cloud
    directory: %(dir)s
    client_id: 00000000-0000-0000-0000-0000000000aa
    client_secret_file: %(secret)s
    login_url: %(url)s
    api_url: %(url)s
    ca_file: %(ca)s
    interval: 1
    page_size: 3
    format: FORMAT
"""

LA = """  sentinel:
    type: loganalytics
    tenant: cloud
    directory: %(dir)s
    client_id: 00000000-0000-0000-0000-0000000000bb
    client_secret_file: %(secret)s
    login_url: %(url)s
    api_url: %(url)s
    ca_file: %(ca)s
    workspace: 0f1e0000-0000-0000-0000-000000000001
    tables: [SigninLogs, AuditLogs]
    interval: 1
    lag: 1
    overlap: 600
    page_size: 2
    format: FORMAT
"""


def alert(i, updated, title=None):
    return {"id": "da637%06d" % i, "incidentId": str(1000 + i), "status": "new",
            "severity": "high", "serviceSource": "microsoftDefenderForEndpoint",
            "title": title or "Suspicious PowerShell %d" % i,
            "createdDateTime": iso(updated - 60), "lastUpdateDateTime": iso(updated),
            "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                          "deviceDnsName": "ws-%03d.contoso.com" % i,
                          "ipInterfaces": ["10.1.0.%d" % i]}]}


def originals(d, tenant="cloud"):
    return [e["event"]["original"] for e in spool_lines(d, tenant)]


def polls(k, poller, result="ok"):
    return value(k.metrics(), "koban_poller_polls_total", poller=poller, result=result)


def drain(k, d, poller):
    """Waits until every record the poller queued has been through the pipeline (and so is
    in the tenant's JSON file); returns the file's event.original values."""
    def done():
        m = k.metrics()
        queued = value(m, "koban_poller_records_total", poller=poller)
        seen = value(m, "koban_events_parsed_total", tenant="cloud") + \
            value(m, "koban_events_parse_failed_total", tenant="cloud")
        return seen == queued and value(m, "koban_queue_depth", tenant="cloud") == 0
    poll("the records through the pipeline", done)
    return originals(d)


def test_graph_paging_throttling_expired_token_and_overlap():
    with fake_services() as (d, secret, ca, fake):
        now = float(int(time.time()))  # whole seconds: exact in the fake's floats
        fake.alerts = [alert(i, now - 600 + i) for i in range(7)]  # 3 pages of 3
        fake.incidents = [{"id": "28282", "displayName": "Multi-stage incident",
                           "status": "active", "lastUpdateDateTime": iso(now - 300)},
                          {"id": "28283", "displayName": "Ransomware",
                           "status": "Active", "lastUpdateDateTime": iso(now - 200)}]
        # first page throttled once, then a 503, then the second page's token has expired
        fake.fault("graph", (429, {"Retry-After": "1"}), (503, {}), None, "expire")
        cfg = poller_config(d, fake, ca, secret,
                            GRAPH.replace("FORMAT", format_for(d, "m365")))
        k = Instance(d, cfg)
        poll("the first poll of both streams", lambda: polls(k, "m365") >= 2, timeout=90)
        got = drain(k, d, "m365")
        assert len(got) == 9, got
        ids = sorted(json.loads(o)["id"] for o in got)
        assert ids == sorted([a["id"] for a in fake.alerts] + ["28282", "28283"]), ids
        # each record exactly as the service sent it (one alert = one event)
        assert json.loads(got[0])["evidence"][0]["deviceDnsName"].startswith("ws-")
        m = k.metrics()
        assert value(m, "koban_poller_requests_total", poller="m365", result="throttled") == 1
        assert value(m, "koban_poller_requests_total", poller="m365", result="server_error") == 1
        assert value(m, "koban_poller_requests_total", poller="m365", result="unauthorized") == 1
        assert value(m, "koban_poller_tokens_total", poller="m365") == 2
        assert value(m, "koban_poller_records_total", poller="m365", stream="alerts_v2") == 7
        assert value(m, "koban_poller_records_total", poller="m365", stream="incidents") == 2
        assert fake.count("token", 200) == 2
        tok = [r for r in fake.requests if r["kind"] == "token"][0]
        assert tok["scope"] == "https://graph.microsoft.com/.default", tok
        assert all(r["headers"].get("Authorization", "").startswith("Bearer tok-")
                   for r in fake.requests if r["kind"] == "graph")
        wm = value(m, "koban_poller_watermark_seconds", poller="m365", stream="alerts_v2")
        assert abs(wm - (now - 600 + 6)) < 0.01, (wm, now)

        # The next polls re-read the overlap: nothing twice, counted as duplicates.
        done = polls(k, "m365")
        poll("two more polls", lambda: polls(k, "m365") >= done + 4, timeout=60)
        assert value(k.metrics(), "koban_poller_duplicates_total", poller="m365") >= 9
        # An alert updated and a new one: exactly those two arrive.
        fake.alerts[2] = alert(2, now - 100, "Suspicious PowerShell 2 (resolved)")
        fake.alerts.append(alert(7, now - 50))
        done = polls(k, "m365")
        poll("the update", lambda: polls(k, "m365") >= done + 4, timeout=60)
        got = drain(k, d, "m365")
        assert len(got) == 11, len(got)
        assert "Suspicious PowerShell 2 (resolved)" in got[9] + got[10]
        assert k.stop() == 0, k.log()
        assert SECRET not in k.log() and "tok-" not in k.log(), "a secret was logged"
        state = os.path.join(d, "var", "pollers", "m365.state")
        assert oct(os.stat(state).st_mode & 0o777) == "0o600"

        # Restarted: the saved watermark and keys hold; nothing is delivered again.
        before = fake.count("graph", 200)
        k = Instance(d, cfg)
        poll("a poll after the restart", lambda: polls(k, "m365") >= 2, timeout=60)
        drain(k, d, "m365")
        assert fake.count("graph", 200) > before
        assert value(k.metrics(), "koban_poller_records_total", poller="m365") == 0
        assert value(k.metrics(), "koban_poller_duplicates_total", poller="m365") >= 3
        assert k.stop() == 0, k.log()
        assert len(originals(d)) == 11


def test_loganalytics_window_pages_partial_and_dedupe():
    with fake_services() as (d, secret, ca, fake):
        now = float(int(time.time()))  # whole seconds: exact in the fake's floats
        cols = [("TimeGenerated", "datetime"), ("UserPrincipalName", "string"),
                ("ResultType", "string"), ("LocationDetails", "dynamic"), ("Count", "long"),
                ("Type", "string")]
        # five rows, two sharing one ingestion time across a page boundary (page_size 2)
        ing = [now - 300, now - 290, now - 280, now - 280, now - 270]
        fake.tables["SigninLogs"] = (cols, [
            (t, [iso(t - 30), "user%d@contoso.com" % i, "0" if i % 2 else "50126",
                 json.dumps({"city": "Tokyo", "countryOrRegion": "JP"}), 9007199254740993 + i,
                 "SigninLogs"]) for i, t in enumerate(ing)])
        fake.tables["AuditLogs"] = ([("TimeGenerated", "datetime"),
                                     ("OperationName", "string")],
                                    [(now - 250, [iso(now - 260), "Add member to group"])])
        # the first AuditLogs query reports a PartialError: rows kept, watermark not moved
        # a busy token endpoint first, with Retry-After as an HTTP date
        fake.fault("token", (503, {"Retry-After": email.utils.formatdate(time.time() + 1,
                                                                         usegmt=True)}))
        # (SigninLogs takes four queries: 2 rows, 2, the 2 of one instant, the last one)
        fake.fault("la", None, None, None, None, ("partial", "QueryTruncated"))
        cfg = poller_config(d, fake, ca, secret, LA.replace("FORMAT", format_for(d, "azure")))
        k = Instance(d, cfg)
        poll("a poll of both tables", lambda: polls(k, "sentinel") >= 1 and
             polls(k, "sentinel", "partial") >= 1, timeout=90)
        got = [json.loads(o) for o in drain(k, d, "sentinel")]
        signins = [g for g in got if g.get("Type") == "SigninLogs"]
        audits = [g for g in got if g.get("Type") == "AuditLogs"]
        assert len(signins) == 5 and len(audits) == 1, got
        assert sorted(g["UserPrincipalName"] for g in signins) == \
            ["user%d@contoso.com" % i for i in range(5)]
        # dynamic cells arrive as JSON, longs exactly, the helper column is gone
        assert signins[0]["LocationDetails"] == {"city": "Tokyo", "countryOrRegion": "JP"}
        assert sorted(g["Count"] for g in signins) == [9007199254740993 + i for i in range(5)]
        assert all("_koban_ingested" not in g for g in got)
        assert audits[0]["OperationName"] == "Add member to group"  # "Type" added
        queries = [r for r in fake.requests if r["kind"] == "la" and r["query"].split("\n")[2]
                   == "SigninLogs"]
        assert len(queries) >= 4
        # a full page makes the next query start inclusively at its last ingestion time;
        # a full page of one instant goes on after it
        assert ["_koban_ingested >= lo" in q["query"] for q in queries[:4]] == \
            [False, True, True, False], [q["query"] for q in queries[:4]]
        assert all(r["headers"].get("Content-Type") == "application/json" and
                   r["headers"].get("Prefer", "").startswith("wait=")
                   for r in fake.requests if r["kind"] == "la")
        tok = [r for r in fake.requests if r["kind"] == "token"]
        assert [r["status"] for r in tok] == [503, 200], tok
        assert tok[1]["scope"] == "https://api.loganalytics.io/.default", tok
        assert value(k.metrics(), "koban_poller_requests_total", poller="sentinel",
                     result="transport_error") == 1
        # the partial poll did not move the watermark: the next query has the same window start
        poll("a second AuditLogs query", lambda: len([
            r for r in list(fake.requests) if r["kind"] == "la" and
            r["query"].split("\n")[2] == "AuditLogs"]) >= 2)
        audit = [r["query"] for r in list(fake.requests) if r["kind"] == "la" and
                 r["query"].split("\n")[2] == "AuditLogs"]
        assert audit[0].split("\n")[0] == audit[1].split("\n")[0], audit[:2]
        assert value(k.metrics(), "koban_poller_watermark_seconds", poller="sentinel",
                     stream="SigninLogs") > now - 10

        # Later polls re-read the overlap: duplicates only; a new row arrives once.
        done = polls(k, "sentinel")
        poll("more polls", lambda: polls(k, "sentinel") >= done + 2, timeout=60)
        with fake.lock:
            fake.tables["SigninLogs"][1].append(
                (float(int(time.time())) - 5, [iso(now), "late@contoso.com", "0", "{}", 1,
                                   "SigninLogs"]))
        done = polls(k, "sentinel")
        poll("the late row", lambda: polls(k, "sentinel") >= done + 4, timeout=60)
        got = [json.loads(o) for o in drain(k, d, "sentinel")]
        assert len(got) == 7, [g.get("UserPrincipalName") for g in got]
        assert got[-1]["UserPrincipalName"] == "late@contoso.com"
        assert got[-1]["LocationDetails"] == {}
        assert value(k.metrics(), "koban_poller_duplicates_total", poller="sentinel") >= 6
        assert k.stop() == 0, k.log()
        assert SECRET not in k.log()


def test_secret_file_readable_by_others_is_refused():
    d = tempdir()
    try:
        secret = setup(d)
        os.chmod(secret, 0o644)
        ca, _, _ = make_tls(d)

        class NoServer:
            url = "https://127.0.0.1:9"
        cfg = poller_config(d, NoServer, ca, secret, GRAPH.replace("FORMAT", "syslog"))
        rc, out, err = run(["serve", "-c", cfg, "--syslog-udp", "127.0.0.1:0",
                            "--syslog-tcp", "127.0.0.1:0", "--admin", "127.0.0.1:0"], d,
                           check=False)
        assert rc != 0 and "has mode 0644: others may read it (chmod 600" in err, err
        assert SECRET not in err + out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_wrong_secret_and_foreign_next_link():
    """A refused secret fails the polls (the service's reason logged, the secret not); a
    nextLink to another origin is not followed (the first page's records are kept)."""
    with fake_services("another secret") as (d, secret, ca, fake):
        now = float(int(time.time()))  # whole seconds: exact in the fake's floats
        fake.alerts = [alert(i, now - 600 + i) for i in range(5)]
        cfg = poller_config(d, fake, ca, secret, GRAPH.replace("FORMAT", "syslog")
                            .replace("    page_size: 3\n", "    page_size: 3\n"
                                     "    incidents: false\n"))
        k = Instance(d, cfg)
        poll("a failed poll", lambda: polls(k, "m365", "failed") >= 1, timeout=60)
        assert "invalid_client: AADSTS7000215" in k.log(), k.log()
        assert value(k.metrics(), "koban_poller_records_total", poller="m365") == 0
        assert k.stop() == 0
        assert SECRET not in k.log()

        fake.secret = SECRET
        fake.next_link_host = "https://graph.example.net"
        k = Instance(d, cfg)
        poll("a refused nextLink", lambda: polls(k, "m365", "failed") >= 1, timeout=60)
        drain(k, d, "m365")
        assert "refused an @odata.nextLink to another origin" in k.log(), k.log()
        assert len(originals(d)) == 3
        assert value(k.metrics(), "koban_poller_watermark_seconds", poller="m365",
                     stream="alerts_v2") == 0
        assert not any(r["path"].startswith("https://graph.example.net") for r in fake.requests)
        assert k.stop() == 0


def state_watermarks(d, poller):
    path = os.path.join(d, "var", "pollers", poller + ".state")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {w[1]: int(w[2]) for w in (line.split() for line in f) if w[0] == "watermark"}


def test_kill_9_after_a_poll_resumes_from_the_state():
    """kill -9 once the state file holds both watermarks: the restarted poller goes on from
    them, sends the alert added meanwhile once and nothing it had sent before."""
    with fake_services() as (d, secret, ca, fake):
        now = float(int(time.time()))
        fake.alerts = [alert(i, now - 600 + i) for i in range(4)]
        fake.incidents = [{"id": "1", "status": "active", "lastUpdateDateTime": iso(now - 400)}]
        cfg = poller_config(d, fake, ca, secret, GRAPH.replace("FORMAT", "syslog"))
        k = Instance(d, cfg)
        poll("both watermarks saved", lambda: all(state_watermarks(d, "m365").get(s)
                                                   for s in ("alerts_v2", "incidents")))
        drain(k, d, "m365")
        k.proc.kill()
        k.proc.wait(timeout=30)
        k.err.close()
        assert len(originals(d)) == 5
        fake.alerts.append(alert(9, now - 30))
        k = Instance(d, cfg)
        poll("the new alert", lambda: value(k.metrics(), "koban_poller_records_total",
                                            poller="m365") >= 1)
        done = polls(k, "m365")
        poll("another poll", lambda: polls(k, "m365") >= done + 2)
        got = drain(k, d, "m365")
        assert sorted(json.loads(o)["id"] for o in got) == \
            sorted([a["id"] for a in fake.alerts] + ["1"]), got
        assert k.stop() == 0, k.log()


def test_public_graph_alert_sample():
    """The public Graph alerts_v2 sample (../shared/data/samples), served as a page of one
    with its lastUpdateDateTime moved into the window: one event whose event.original is the
    served record; decoded (not a pipeline_error) when this build has the m365 decoder."""
    with fake_services() as (d, secret, ca, fake):
        with open(GRAPH_SAMPLE) as f:
            sample = json.load(f)
        sample["lastUpdateDateTime"] = iso(float(int(time.time())) - 60)
        fake.alerts = [sample]
        fmt = format_for(d, "m365")
        cfg = poller_config(d, fake, ca, secret, GRAPH.replace("FORMAT", fmt)
                            .replace("    page_size: 3\n", "    incidents: false\n"))
        k = Instance(d, cfg)
        poll("a poll", lambda: polls(k, "m365") >= 1, timeout=60)
        got = drain(k, d, "m365")
        assert len(got) == 1 and json.loads(got[0]) == sample, got
        ev = spool_lines(d, "cloud")[0]
        if fmt == "m365":
            assert ev["event"]["kind"] != "pipeline_error", ev
        assert k.stop() == 0, k.log()


def test_record_over_max_message_size_is_kept_cut():
    """A Graph alert and a Log Analytics row longer than syslog.max_message_size (262144
    here) are not dropped: each is cut to it as HTTP ingest cuts a record (ackin_add), kept
    raw in event.original with log.flags: truncated and, its JSON being cut, stored as a
    pipeline_error with the decoder's reason; counted in koban_events_truncated_total and
    parse_failed. The records beside them arrive whole, the watermarks move past them, and
    later polls of the overlap send nothing twice."""
    with fake_services() as (d, secret, ca, fake):
        now = float(int(time.time()))  # whole seconds: exact in the fake's floats
        big_title = "A" * 300000
        fake.alerts = [alert(0, now - 600), alert(1, now - 500, big_title),
                       alert(2, now - 400), alert(3, now - 300)]  # pages of 3 and 1
        cols = [("TimeGenerated", "datetime"), ("UserPrincipalName", "string"),
                ("ResultType", "string"), ("Type", "string")]
        big_cell = "R" * 300000
        ing = [now - 300, now - 290, now - 280]  # page_size 2: the big row ends a page
        fake.tables["SigninLogs"] = (cols, [
            (t, [iso(t - 30), "user%d@contoso.com" % i, big_cell if i == 1 else "0",
                 "SigninLogs"]) for i, t in enumerate(ing)])
        gfmt, lfmt = format_for(d, "m365"), format_for(d, "azure")
        cfg = poller_config(d, fake, ca, secret,
                            GRAPH.replace("FORMAT", gfmt)
                            .replace("    page_size: 3\n", "    page_size: 3\n"
                                     "    incidents: false\n") +
                            LA.replace("FORMAT", lfmt)
                            .replace("[SigninLogs, AuditLogs]", "[SigninLogs]"))
        k = Instance(d, cfg)

        def through():
            m = k.metrics()
            seen = value(m, "koban_events_parsed_total", tenant="cloud") + \
                value(m, "koban_events_parse_failed_total", tenant="cloud")
            return polls(k, "m365") >= 1 and polls(k, "sentinel") >= 1 and seen == 7 and \
                value(m, "koban_poller_records_total") == 7
        poll("both polls through the pipeline", through, timeout=90)
        m = k.metrics()
        assert value(m, "koban_poller_records_total", poller="m365", stream="alerts_v2") == 4
        assert value(m, "koban_poller_records_total", poller="sentinel",
                     stream="SigninLogs") == 3
        assert value(m, "koban_events_truncated_total", tenant="cloud") == 2
        assert value(m, "koban_poller_polls_total", result="failed") == 0
        assert "koban_poller_records_dropped_total" not in {n for n, _ in m}
        max_size = 262144
        evs = spool_lines(d, "cloud")
        assert len(evs) == 7, [e["event"]["original"][:60] for e in evs]
        cut = [e for e in evs if e.get("log", {}).get("flags") == ["truncated"]]
        assert len(cut) == 2, [e.get("log") for e in evs]
        whole = [json.loads(e["event"]["original"]) for e in evs if e not in cut]
        # the Graph alert as served, cut to the maximum
        g = [e for e in cut if e["event"]["original"].startswith('{"id": ')]
        assert len(g) == 1, cut
        assert g[0]["event"]["original"] == json.dumps(fake.alerts[1])[:max_size]
        # the row as the poller builds it (columns by name), cut to the maximum
        la = [e for e in cut if e is not g[0]][0]
        head = '{"TimeGenerated":%s,"UserPrincipalName":"user1@contoso.com","ResultType":"' \
            % json.dumps(iso(ing[1] - 30))
        assert la["event"]["original"] == head + "R" * (max_size - len(head))
        if (gfmt, lfmt) == ("m365", "azure"):  # (without them, syslog: no JSON to cut)
            assert value(m, "koban_events_parse_failed_total", tenant="cloud") == 2
        if gfmt == "m365":
            assert g[0]["event"]["kind"] == "pipeline_error", g[0]
            at = json.dumps(fake.alerts[1]).index('"' + big_title) + 1  # the title's quote
            assert g[0]["error"]["message"] == "m365: column %d: expected '\"' to close the " \
                "string that starts here, found end of input" % at, g[0]["error"]
        if lfmt == "azure":
            assert la["event"]["kind"] == "pipeline_error", la
            assert la["error"]["message"] == "column %d: expected '\"' to close the string " \
                "that starts here, found end of input" % len(head), la["error"]
        # the neighbours whole
        assert sorted(w["id"] for w in whole if "id" in w) == \
            ["da637%06d" % i for i in (0, 2, 3)]
        assert sorted(w["UserPrincipalName"] for w in whole if "Type" in w) == \
            ["user0@contoso.com", "user2@contoso.com"]
        # the watermarks past the cut records
        assert value(m, "koban_poller_watermark_seconds", poller="m365",
                     stream="alerts_v2") == now - 300
        # (a Log Analytics watermark is the end of the window queried: now - lag)
        assert value(m, "koban_poller_watermark_seconds", poller="sentinel",
                     stream="SigninLogs") > ing[2]

        # Later polls re-read the overlap (both cut records in it): nothing twice.
        done = polls(k, "m365") + polls(k, "sentinel")
        poll("more polls", lambda: polls(k, "m365") + polls(k, "sentinel") >= done + 4,
             timeout=60)
        fake.alerts.append(alert(4, now - 50))
        done = polls(k, "m365") + polls(k, "sentinel")
        poll("the new alert", lambda: polls(k, "m365") + polls(k, "sentinel") >= done + 4,
             timeout=60)
        poll("the new alert through the pipeline",
             lambda: value(k.metrics(), "koban_events_parsed_total", tenant="cloud") +
             value(k.metrics(), "koban_events_parse_failed_total", tenant="cloud") == 8)
        m = k.metrics()
        assert value(m, "koban_poller_records_total") == 8
        assert value(m, "koban_events_truncated_total", tenant="cloud") == 2
        assert value(m, "koban_poller_duplicates_total", poller="m365") >= 4
        assert value(m, "koban_poller_duplicates_total", poller="sentinel") >= 3
        assert k.stop() == 0, k.log()
        evs = spool_lines(d, "cloud")
        assert len(evs) == 8, len(evs)
        assert json.loads(evs[-1]["event"]["original"])["id"] == "da637000004"


def test_records_refused_by_the_store_are_polled_again():
    """The tenant over its store quota: a page's batch is refused, the poll fails and the
    watermark stays. Its records must not then count as delivered (they were not stored):
    once a reload lifts the quota, the next poll stores exactly the records that were
    refused, none twice."""
    with fake_services() as (d, secret, ca, fake):
        now = float(int(time.time()))
        fake.alerts = [alert(i, now - 600 + i) for i in range(7)]  # pages of 3, 3 and 1
        body = GRAPH.replace("FORMAT", format_for(d, "m365")).replace(
            "    page_size: 3\n", "    page_size: 3\n    incidents: false\n")
        cfg = poller_config(d, fake, ca, secret, body)
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text + "store:\n  tenants:\n    cloud: { quota: 1 }\n")
        k = Instance(d, cfg)
        poll("a poll refused by the quota", lambda: polls(k, "m365", "failed") >= 1,
             timeout=90)
        stored = len(drain(k, d, "m365"))
        assert 0 < stored < 7, stored  # the first page: the tenant had nothing stored yet
        assert "over its store quota" in k.log(), k.log()

        with open(cfg, "w") as f:
            f.write(text)
        k.signal(signal.SIGHUP)
        poll("the reload", lambda: "'store.tenants' changed" in k.log())
        poll("a poll after it", lambda: polls(k, "m365") >= 1, timeout=60)
        poll("all seven stored", lambda: len(drain(k, d, "m365")) >= 7, timeout=60)
        done = polls(k, "m365")
        poll("one more poll", lambda: polls(k, "m365") >= done + 1, timeout=60)
        ids = sorted(json.loads(o)["id"] for o in drain(k, d, "m365"))
        assert ids == sorted(a["id"] for a in fake.alerts), ids
        assert k.stop() == 0, k.log()


if __name__ == "__main__":
    assert os.path.exists(KOBAN)
    s = Suite()
    s.run(test_graph_paging_throttling_expired_token_and_overlap)
    s.run(test_loganalytics_window_pages_partial_and_dedupe)
    s.run(test_secret_file_readable_by_others_is_refused)
    s.run(test_wrong_secret_and_foreign_next_link)
    s.run(test_kill_9_after_a_poll_resumes_from_the_state)
    s.run_with_path(GRAPH_SAMPLE, test_public_graph_alert_sample)
    s.run(test_record_over_max_message_size_is_kept_cut)
    s.run(test_records_refused_by_the_store_are_polled_again)
    s.done()
