"""Detection in `koban serve` and `koban ingest`: a PAN-OS THREAT line received over TCP
syslog alerts through koban's bundled rule (with its author); a configured rule and an
event_count correlation over it alert per tenant; the correlation's state survives a
restart (saved at stop, read at start) and a SIGHUP reload; another tenant sees none of it;
`koban ingest` raises the same alerts with event time as the clock."""
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, alert_list, file_output_config, poll, run,  # noqa: E402
                      send_lines, serve_source, tempdir, write_file)

HERE = os.path.dirname(os.path.abspath(__file__))
THREAT_LOG = os.path.join(HERE, "..", "data", "parse", "panos", "threat.log")

RULES = """title: Evil keyword
id: 6a1d3c55-0000-4000-8000-00000000e001
name: evil
level: high
author: koban tests
detection:
  selection:
    message|contains: EVIL
  condition: selection
---
title: Three evils on one host
id: 6a1d3c55-0000-4000-8000-00000000e002
level: critical
author: koban tests
correlation:
  type: event_count
  rules: [evil]
  group-by: [host.name]
  timespan: 10m
  condition: {gte: 3}
generate: true
"""


def evil(host, second, text="EVIL"):
    return "<13>1 2026-03-15T03:00:%02dZ %s app - - - %s %d" % (second, host, text, second)


def wait_alert_list(d, tenant, n):
    return poll("%d alerts of %s" % (n, tenant), lambda: len(alert_list(d, tenant)) >= n and
                alert_list(d, tenant))


def by_kind(got, kind):
    return [a for a in got if a["kind"] == kind]


def setup(d):
    write_file(d, "rules/evil.yml", RULES)
    run(["tenant", "add", "beta"], d)
    run(["source", "add", "other", "--tenant", "beta", "--cidr", "127.0.0.3/32"], d)
    return serve_source(d, "fw", "127.0.0.2", tenant="alpha", config="detect:\n  rules: [rules]\n")


def test_bundled_rule_alerts():
    d = tempdir()
    k = None
    try:
        k = serve_source(d, "pa", "127.0.0.2", fmt="panos")
        with open(THREAT_LOG) as f:
            lines = [x.rstrip("\n") for x in f if x.strip()]
        send_lines(k, "127.0.0.2", lines)
        got = wait_alert_list(d, "alpha", 4)
        k.wait_settled()
        got = alert_list(d, "alpha")
        titles = sorted(a["rule"]["title"] for a in got)
        assert titles == ["PAN-OS Command and Control Traffic or DNS Sinkhole Hit",
                          "PAN-OS Critical Exploit Attempt", "PAN-OS Flood Protection Triggered",
                          "PAN-OS Malware Let Through"], titles
        crit = [a for a in got if a["rule"]["level"] == "critical"][0]
        assert crit["rule"]["author"] == "koban" and crit["kind"] == "sigma", crit
        assert crit["rule"]["link"] == "rules/sigma/panos_threat_exploit.yml", crit
        assert crit["keys"]["source.ip"] == "192.0.2.66", crit
        _, out, _ = run(["alert", "show", "--tenant", "alpha", "--json", str(crit["id"])], d)
        shown = json.loads(out)
        assert shown["events"][0]["panos"]["severity"] == "critical", shown
        m = k.metrics()
        assert m[("koban_detect_matches_total", frozenset({("level", "critical")}))] == 1
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_correlation_survives_restart_and_reload():
    d = tempdir()
    k = None
    try:
        k = setup(d)
        send_lines(k, "127.0.0.2", [evil("h1", 1), evil("h1", 2), evil("h1", 3, "benign")])
        send_lines(k, "127.0.0.3", [evil("h1", 4)])  # tenant beta: its own state
        got = wait_alert_list(d, "alpha", 2)
        assert len(by_kind(got, "sigma")) == 2 and not by_kind(got, "correlation"), got
        assert k.stop() == 0
        assert os.path.exists(os.path.join(d, "var", "detect", "correlation.state"))

        k = Instance(d, file_output_config(d, "detect:\n  rules: [rules]\n"))
        send_lines(k, "127.0.0.2", [evil("h1", 5), evil("h2", 6), evil("h2", 7)])
        got = wait_alert_list(d, "alpha", 6)
        corr = by_kind(got, "correlation")
        assert len(corr) == 1 and corr[0]["group"] == {"host.name": "h1"}, got
        assert corr[0]["rule"]["id"] == "6a1d3c55-0000-4000-8000-00000000e002", corr
        assert corr[0]["rule"]["author"] == "koban tests", corr
        assert corr[0]["n_events"] + corr[0]["events_omitted"] == 3, corr

        k.signal(signal.SIGHUP)
        poll("the reload", lambda: "reloaded" in k.log())
        send_lines(k, "127.0.0.2", [evil("h2", 8)])
        got = wait_alert_list(d, "alpha", 8)
        corr = by_kind(got, "correlation")
        assert sorted(c["group"]["host.name"] for c in corr) == ["h1", "h2"], got
        h2 = [c for c in corr if c["group"]["host.name"] == "h2"][0]
        assert h2["n_events"] == 3 and h2["events_omitted"] == 0, h2  # all seen by this run
        k.wait_settled()
        assert len(alert_list(d, "alpha")) == 8
        beta = alert_list(d, "beta")
        assert len(beta) == 1 and beta[0]["kind"] == "sigma", beta
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_tenant_policy():
    """A rule disabled for one tenant, tuned for another: read at start and on reload."""
    d = tempdir()
    k = None
    try:
        k = setup(d)
        evil_id = "6a1d3c55-0000-4000-8000-00000000e001"
        run(["rule", "disable", "--tenant", "beta", "--reason", "noisy here", evil_id], d)
        write_file(d, "tune.yml", "lab:\n  host.name: lab-*\ncondition: lab\n")
        run(["rule", "tune", "--tenant", "alpha", "--filter", "tune.yml", "--reason",
             "the lab runs tools", evil_id], d)
        k.signal(signal.SIGHUP)
        poll("the reload", lambda: "reloaded" in k.log())
        send_lines(k, "127.0.0.3", [evil("h1", 1)])
        send_lines(k, "127.0.0.2", [evil("lab-1", 2), evil("h1", 3)])
        got = wait_alert_list(d, "alpha", 1)
        k.wait_settled()
        m = k.metrics()
        sup = {r: m.get(("koban_detect_suppressed_total", frozenset({("reason", r)})), 0)
               for r in ("disabled", "tuned")}
        assert sup == {"disabled": 1, "tuned": 1}, sup
        got = alert_list(d, "alpha")
        assert len(got) == 1 and got[0]["keys"]["host.name"] == "h1", got
        assert alert_list(d, "beta") == []
        _, out, _ = run(["rule", "history", "--tenant", "beta", "--json"], d)
        assert json.loads(out.splitlines()[0])["reason"] == "noisy here", out
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_ingest_detects():
    d = tempdir()
    try:
        write_file(d, "rules/evil.yml", RULES)
        write_file(d, "koban.yaml", "data_dir: ./var\ndetect:\n  rules: [rules]\n")
        run(["tenant", "add", "alpha", "-c", "koban.yaml"], d)
        write_file(d, "in.log", "".join(evil("h9", s) + "\n" for s in (1, 2, 3, 4)))
        run(["ingest", "-c", "koban.yaml", "--tenant", "alpha", "--format", "rfc5424",
             "in.log"], d)
        got = alert_list(d, "alpha", "-c", "koban.yaml")
        assert len(by_kind(got, "sigma")) == 4, got
        corr = by_kind(got, "correlation")
        assert len(corr) == 1 and corr[0]["n_events"] == 3, got
        assert corr[0]["event_time"] == "2026-03-15T03:00:03Z", corr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_http_ingest_bundled_correlations():
    """Entra sign-ins POSTed to HTTP ingest (decoded on the acknowledged-input slots) raise
    the bundled brute-force, spray and MFA-fatigue alerts: the results `koban rule test`
    gives for the same lines (tests/rules/entra_signin), one alert each."""
    from test_http_ingest import post, setup  # noqa: E402
    case = os.path.join(HERE, "..", "rules", "entra_signin")
    with open(os.path.join(case, "expected.jsonl")) as f:
        want = sorted((r["rule"], json.dumps(r.get("group"), sort_keys=True))
                      for r in map(json.loads, f))
    d = tempdir()
    k = None
    try:
        cfg, tok = setup(d)
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        with open(os.path.join(case, "raw.log"), "rb") as f:
            status, _, body = post(k.api, "/api/v1/ingest/azure", tok["city-a/azure"], f.read())
        assert status == 200, (status, body)
        got = wait_alert_list(d, "city-a", len(want))
        k.wait_settled()
        got = sorted((a["rule"]["id"], json.dumps(a["group"] or None, sort_keys=True))
                     for a in alert_list(d, "city-a"))
        assert got == want, (got, want)
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def signin(user, time, lat, lon, city):
    return json.dumps({"@timestamp": time, "event": {"category": ["authentication"],
                                                    "outcome": "success", "dataset": "azure.signinlogs"},
                       "user": {"name": user}, "source": {"ip": "192.0.2.%d" % (len(city)),
                       "geo": {"city_name": city, "location": {"lat": lat, "lon": lon}}}})


def test_impossible_travel():
    """Two sign-ins of one user, Tokyo then Paris an hour apart: one built-in alert."""
    d = tempdir()
    try:
        run(["tenant", "add", "alpha"], d)
        write_file(d, "signins.json", "\n".join([
            signin("alice", "2026-03-15T01:00:00Z", 35.68, 139.69, "Tokyo"),
            signin("bob", "2026-03-15T01:10:00Z", 35.68, 139.69, "Tokyo"),
            signin("alice", "2026-03-15T02:00:00Z", 48.85, 2.35, "Paris"),
            signin("bob", "2026-03-15T09:10:00Z", 35.01, 135.77, "Kyoto"),
        ]) + "\n")
        run(["ingest", "--tenant", "alpha", "--format", "ecs", "signins.json"], d)
        got = alert_list(d, "alpha")
        assert len(got) == 1 and got[0]["kind"] == "builtin", got
        a = got[0]
        assert a["rule"]["id"] == "koban-impossible-travel" and a["rule"]["author"] == "koban", a
        assert a["keys"]["user"] == "alice" and a["keys"]["to"]["city"] == "Paris", a
        assert a["event_time"] == "2026-03-15T02:00:00Z" and a["n_events"] == 2, a
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_bundled_rule_alerts)
    s.run(test_correlation_survives_restart_and_reload)
    s.run(test_tenant_policy)
    s.run(test_http_ingest_bundled_correlations)
    s.run(test_ingest_detects)
    s.run(test_impossible_travel)
    s.done()
