"""The m365 decoder (Defender XDR records) end to end: golden files driven by `koban parse`
(--format m365 and auto), the public Defender samples, and a running `koban serve` with an
m365 source that receives records and containers of records over TCP."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, PARSE_NOW, Suite, check_golden, parse, samples,  # noqa: E402
                      send_lines, serve_source, spool_lines, tempdir, value)

GOLDEN = os.path.join(DATA, "parse", "m365")
SAMPLES = samples("defender")
ALPHA = "127.0.0.2"


def check_common(e):
    assert e["ecs"]["version"] == "8.17.0", e
    assert "original" in e["event"] and "@timestamp" in e, e
    assert e["event"]["dataset"].startswith("m365"), e
    if e["event"]["kind"] == "pipeline_error":
        assert e["error"]["message"].startswith("m365: "), e
    else:
        assert e["event"]["kind"] in ("alert", "event"), e
        assert e["event"]["module"] == "m365", e


def test_parse_golden():
    names = sorted(n[:-4] for n in os.listdir(GOLDEN) if n.endswith(".log"))
    assert names == ["endpoint", "failed", "graph", "hunting"], names
    update = os.environ.get("KOBAN_UPDATE_GOLDEN")
    for name in names:
        p = parse(["--format", "m365", name + ".log"], GOLDEN)
        for e in check_golden(p, GOLDEN, name, update):
            check_common(e)
        if name != "failed":
            # auto sniffs every line (and container) of these as m365: the same events
            a = parse(["--format", "auto", name + ".log"], GOLDEN)
            assert a.stdout == p.stdout, "auto differs for %s:\n%s" % (name, a.stdout)
    counts = {n: len(open(os.path.join(GOLDEN, n + ".json")).read().splitlines()) for n in names}
    # containers are split: one record, one event
    assert counts == {"endpoint": 2, "failed": 9, "graph": 8, "hunting": 13}, counts


def test_golden_fields():
    def load(name):
        with open(os.path.join(GOLDEN, name + ".json")) as f:
            return [json.loads(line) for line in f]

    g = load("graph")
    mde = g[0]
    assert mde["event"]["kind"] == "alert" and mde["event"]["severity"] == 4
    assert mde["host"]["name"] == "庁舎-PC-017.city.example.jp"
    assert mde["process"]["pid"] == 7216 and mde["process"]["name"] == "mimikatz.exe"
    assert mde["related"]["ip"] == ["192.0.2.17", "fe80::5efe:c000:211"], mde["related"]
    assert mde["related"]["user"] == ["tanaka", "tanaka@city.example.jp"], mde["related"]
    assert mde["threat"]["technique"]["id"] == ["T1003"]
    assert mde["m365"]["alert"]["evidence"]["type"] == [
        "deviceEvidence", "processEvidence", "fileEvidence", "userEvidence",
        "registryValueEvidence"]
    assert "resolvedDateTime" not in mde["m365"]["alert"]
    o365 = g[1]
    assert o365["email"]["direction"] == "inbound"
    assert o365["email"]["from"]["address"] == ["billing@evil.example"]
    assert o365["event"]["category"] == ["email"]
    assert [e["event"]["id"] for e in g[5:7]] == ["pg1", "pg2"]  # a Graph page, split
    assert "severity" not in g[6]["event"]  # unknownFutureValue has no number
    inc = g[7]
    assert inc["event"]["dataset"] == "m365.incident"
    assert inc["m365"]["incident"]["alerts"]["id"] == ["da638700000000000001_-1",
                                                       "da638700000000000002_-2"]
    e = load("endpoint")
    assert [x["event"]["dataset"] for x in e] == ["m365.endpoint_alert"] * 2
    assert e[0]["user"]["name"] == "kobayashi" and e[0]["rule"]["category"] == "Malware"
    assert e[0]["m365"]["alert"]["incidentId"] == "503"
    h = load("hunting")
    assert [x["event"]["dataset"] for x in h] == [
        "m365.hunting.alert_info", "m365.hunting.alert_evidence",
        "m365.hunting.device_process_events", "m365.hunting.device_network_events",
        "m365.hunting.email_events", "m365.hunting.identity_logon_events", "m365.hunting",
        "m365.hunting.device_registry_events", "m365.hunting.device_file_events",
        "m365.hunting.url_click_events", "m365.hunting.device_network_events",
        "m365.hunting.device_logon_events", "m365.hunting.device_logon_events"]
    assert h[0]["threat"]["technique"]["id"] == ["T1003"]
    assert h[3]["destination"] == {"ip": "203.0.113.66", "port": 443}
    # ports out of 0..65535 stay in the vendor fields only
    assert h[10]["source"] == {"ip": "10.1.0.5"} and h[10]["destination"] == {"ip": "203.0.113.99"}
    assert h[10]["m365"]["hunting"]["RemotePort"] == "70000"
    # a logon came from its remote end: RemoteIP/RemotePort are the source, Local* the device
    assert h[11]["source"] == {"ip": "192.0.2.7", "port": 50123} and "destination" not in h[11]
    assert h[12]["source"] == {"ip": "192.0.2.7", "port": 50124}, h[12]
    assert h[12]["destination"] == {"ip": "10.1.0.1", "port": 3389}, h[12]
    assert [h[i]["event"].get("outcome") for i in (5, 11, 12)] == ["failure", "failure", "success"]
    # logons are authentication, a successful one its start (as Entra ID sign-ins)
    assert [h[i]["event"].get("category") for i in (5, 11, 12)] == [["authentication"]] * 3
    assert [h[i]["event"].get("type") for i in (5, 11, 12)] == [["info"], ["info"], ["start"]]
    f = load("failed")
    # a US-locale time is no failure: line 3 is an alert, the time kept as text only
    assert [x["event"]["kind"] for x in f] == ["pipeline_error"] * 2 + ["alert"] + [
        "pipeline_error", "alert", "pipeline_error", "pipeline_error", "alert", "pipeline_error"]
    assert f[2]["m365"]["alert"]["lastUpdateDateTime"] == "3/15/2026 2:00:00 AM"
    assert f[2]["@timestamp"] == PARSE_NOW


def test_public_samples():
    d = tempdir()
    try:
        p = parse(["--format", "m365", os.path.join(SAMPLES, "graph-alerts_v2-alert.json")], d)
        assert p.returncode == 0, p.stderr
        (a,) = [json.loads(line) for line in p.stdout.splitlines()]
        assert a["event"]["dataset"] == "m365.alert" and a["event"]["kind"] == "alert"
        assert a["event"]["id"] == "da637551227677560813_-961444813"
        assert a["event"]["severity"] == 2 and a["@timestamp"] == "2021-05-02T14:19:01.326666700Z"
        assert a["event"]["category"] == ["host", "file", "process", "registry"]
        assert a["host"]["name"] == "tempDns" and a["process"]["pid"] == 4780
        assert a["related"]["ip"] == ["1.1.1.1"] and a["related"]["user"] == ["SYSTEM"]
        assert len(a["related"]["hash"]) == 2 and a["threat"]["technique"]["id"] == ["T1564"]
        assert a["m365"]["alert"]["evidence"]["type"] == [
            "deviceEvidence", "fileEvidence", "processEvidence", "registryKeyEvidence"]

        p = parse(["--format", "auto", os.path.join(SAMPLES, "mde-api-alert.ndjson")], d)
        assert p.returncode == 0, p.stderr
        m = [json.loads(line) for line in p.stdout.splitlines()]
        assert [x["event"]["dataset"] for x in m] == ["m365.endpoint_alert"] * 2
        assert [x["event"]["severity"] for x in m] == [3, 2]
        assert m[0]["process"]["name"] == "notepad.exe" and m[0]["process"]["pid"] == 4104
        assert m[0]["user"] == {"name": "administrator1", "domain": "TestServer4"}
        assert m[1]["file"]["name"] == "SB.xsl" and m[1]["event"]["category"] == ["file", "malware"]

        p = parse(["--format", "auto",
                   os.path.join(SAMPLES, "xdr-streaming-api-advancedhunting.ndjson")], d)
        assert p.returncode == 0, p.stderr
        x = [json.loads(line) for line in p.stdout.splitlines()]
        assert [e["event"]["dataset"] for e in x] == ["m365.hunting.alert_evidence",
                                                       "m365.hunting.alert_info"]
        assert x[0]["file"]["size"] == 27436 and x[0]["source"]["ip"] == "81.2.69.192"
        assert x[1]["threat"]["technique"]["id"] == ["T1078"]
        assert x[1]["event"]["severity"] == 3
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_serve_m365_source():
    """Records, a records envelope and a Graph page over TCP: one record, one event; a broken
    line is kept as a pipeline_error and counted."""
    d = tempdir()
    try:
        with open(os.path.join(GOLDEN, "hunting.log")) as f:
            hunting = f.read().splitlines()
        with open(os.path.join(GOLDEN, "graph.log")) as f:
            graph = f.read().splitlines()
        lines = hunting[:2] + graph[5:7] + ['{"@odata.type":"#microsoft.graph.security.alert",']
        k = serve_source(d, "defender", ALPHA, "m365")
        send_lines(k, ALPHA, lines)
        # 5 messages received; 4 + 3 records, 2 page alerts + 1 incident, 1 broken line
        m = k.wait_settled(expect_total=len(lines))
        assert value(m, "koban_events_parsed_total", tenant="alpha") == 10
        assert value(m, "koban_events_parse_failed_total", tenant="alpha") == 1
        assert k.stop() == 0
        events = spool_lines(d, "alpha")
        assert len(events) == 11, events
        kinds = sorted(e["event"]["kind"] for e in events)
        assert kinds == ["alert"] * 5 + ["event"] * 5 + ["pipeline_error"], kinds
        for e in events:
            check_common(e)
            assert e["organization"]["id"] == "alpha", e
        ids = [e["event"].get("id") for e in events if e["event"]["dataset"] != "m365.hunting"]
        assert "pg1" in ids and "pg2" in ids and "501" in ids, ids
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_parse_golden)
    s.run(test_golden_fields)
    s.run_with_path(SAMPLES, test_public_samples)
    s.run(test_serve_m365_source)
    s.done()
