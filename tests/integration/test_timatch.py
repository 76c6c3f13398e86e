"""Threat-intelligence matching of events (enrich/timatch): `koban ingest` enriches the events
it stores (threat.enrichments, read back by `koban search` and found by a query on it) and
raises one indicator alert; a running serve picks up `koban ti import` without a restart,
alerts once per indicator and host within the window, and counts the suppressed sighting."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, alert_list, file_output_config, poll, run,  # noqa: E402
                      search_events, send_lines, tempdir, value, write_file)

HERE = os.path.dirname(__file__)
TRAFFIC_LOG = os.path.join(HERE, "..", "data", "parse", "panos", "traffic.log")
BAD_IP = "203.0.113.80"  # the destination of the first TRAFFIC line


def first_traffic_line():
    with open(TRAFFIC_LOG) as f:
        line = f.readline().rstrip("\n")
    assert ",TRAFFIC," in line and ",10.10.1.20,%s," % BAD_IP in line, line
    return line


def import_feed(d, values, source="feed1", tenant=None):
    path = write_file(d, "feed-%s.txt" % source, "".join(v + "\n" for v in values))
    args = ["ti", "import", "--source", source, path] + (["--tenant", tenant] if tenant else [])
    run(args, d)


def enrichments(ev):
    return ev.get("threat", {}).get("enrichments", [])


def check_alert(a, host):
    assert a["kind"] == "indicator", a
    assert a["rule"]["id"] == "koban-ti", a
    assert a["rule"]["title"] == "Threat intelligence: ip %s (feed1)" % BAD_IP, a
    assert a["rule"]["level"] == "medium", a  # confidence unknown: medium
    assert a["rule"]["tags"] == ["threat-intel", "ti.source.feed1"], a
    assert a["keys"] == {"host": host, "indicator": BAD_IP, "indicator.confidence": None,
                         "indicator.source": "feed1", "indicator.type": "ip",
                         "matched.field": "destination.ip"}, a["keys"]


def test_ingest_and_search():
    d = tempdir()
    try:
        run(["tenant", "add", "alpha"], d)
        run(["tenant", "add", "beta"], d)
        import_feed(d, [BAD_IP])
        import_feed(d, ["10.10.1.20"], source="own-b", tenant="beta")  # beta's: not alpha's
        path = write_file(d, "fw.log", first_traffic_line() + "\n")
        run(["ingest", "--tenant", "alpha", "--format", "panos", path], d)
        got = search_events(d, "alpha")
        assert len(got) == 1, got
        enr = enrichments(got[0])
        assert len(enr) == 1, got[0]
        assert enr[0]["indicator"] == {"confidence": "Not Specified",
                                       "id": enr[0]["indicator"]["id"],
                                       "ip": BAD_IP, "provider": "feed1",
                                       "type": "ipv4-addr"}, enr
        assert enr[0]["matched"]["atomic"] == BAD_IP, enr
        assert enr[0]["matched"]["field"] == "destination.ip", enr
        assert enr[0]["matched"]["type"] == "indicator_match_rule", enr
        # the object's text is searchable as a string
        assert len(search_events(d, "alpha", 'threat.enrichments: "ipv4-addr"')) == 1
        assert search_events(d, "alpha", 'threat.enrichments: "domain-name"') == []
        alerts = alert_list(d, "alpha")
        assert len(alerts) == 1, alerts
        check_alert(alerts[0], "10.10.1.20")
        # an ECS line carrying enrichments keeps them as they are
        line = json.dumps({"@timestamp": "2026-12-01T00:00:00Z", "source": {"ip": "10.9.9.9"},
                           "threat": {"enrichments": [{"indicator": {"ip": "x"}, "n": [1]}]}})
        run(["ingest", "--tenant", "beta", "--format", "ecs",
             write_file(d, "ecs.json", line + "\n")], d)
        got = search_events(d, "beta")
        assert [enrichments(e) for e in got] == [[{"indicator": {"ip": "x"}, "n": [1]}]], got
        assert alert_list(d, "beta") == []
    finally:
        shutil.rmtree(d)


def test_serve_live_import_and_dedupe():
    d = tempdir()
    k = None
    try:
        run(["tenant", "add", "alpha"], d)
        run(["source", "add", "pa", "--tenant", "alpha", "--cidr", "127.0.0.2/32",
             "--format", "panos"], d)
        k = Instance(d, file_output_config(d))
        assert value(k.metrics(), "koban_ti_indicators") == 0
        import_feed(d, [BAD_IP])  # into the running serve's koban.db
        poll("the new snapshot", lambda: value(k.metrics(), "koban_ti_indicators") == 1)
        line = first_traffic_line()
        send_lines(k, "127.0.0.2", [line])
        got = poll("one alert", lambda: alert_list(d, "alpha"))
        assert len(got) == 1, got
        check_alert(got[0], "10.10.1.20")
        send_lines(k, "127.0.0.2", [line])  # within the window: no second alert
        m = k.wait_settled(expect_total=2)
        poll("the suppressed sighting",
             lambda: value(k.metrics(), "koban_ti_alerts_suppressed_total") == 1)
        m = k.metrics()
        assert value(m, "koban_ti_matches_total", type="ip") == 2, m
        assert value(m, "koban_ti_snapshot_loads_total", result="ok") == 2, m
        assert k.stop() == 0
        k = None
        assert len(alert_list(d, "alpha")) == 1
        got = search_events(d, "alpha")
        assert len(got) == 2 and all(len(enrichments(e)) == 1 for e in got), got
    finally:
        if k:
            k.stop()
        shutil.rmtree(d)


TI_RULE = """title: Known bad destination
id: ti-dst
logsource: {category: firewall}
detection:
  sel: {threat.enrichments|contains: 'destination.ip'}
  condition: sel
level: high
"""


def test_rule_test_sees_enrichments():
    """`koban rule test` loads koban.db's global indicators once: a rule on
    threat.enrichments matches the events they hit (none without koban.db)."""
    d = tempdir()
    try:
        write_file(d, "ti.yml", TI_RULE)
        events = [{"destination": {"ip": BAD_IP}}, {"destination": {"ip": "192.0.2.1"}}]
        write_file(d, "events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
        _, out, _ = run(["rule", "test", "--json", "ti.yml", "events.jsonl"], d)
        assert out == "", out
        assert not os.path.exists(os.path.join(d, "var", "koban.db"))
        import_feed(d, [BAD_IP])
        _, out, _ = run(["rule", "test", "--json", "ti.yml", "events.jsonl"], d)
        assert [json.loads(x) for x in out.splitlines()] == [
            {"rule": "ti-dst", "title": "Known bad destination", "line": 1}], out
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_ingest_and_search)
    s.run(test_serve_live_import_and_dedupe)
    s.run(test_rule_test_sees_enrichments)
    s.done()
