"""The Azure Monitor decoder end to end: golden files of our own edge cases driven by
`koban parse` (tests/data/parse/azure: NAME.log in, NAME.json out, NAME.err the messages),
the public samples in ../shared/data/samples/azure (exact counts and key fields; skipped
without them), and `koban serve` splitting a {"records":[...]} envelope into one event per
record for a source whose format is azure.

KOBAN_UPDATE_GOLDEN=1 rewrites the golden files from the current build (review the diff)."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, Suite, check_golden, samples, send_lines,  # noqa: E402
                      serve_source, spool_lines, tempdir, value)
from kobanlib import parse as koban_parse  # noqa: E402

GOLDEN = os.path.join(DATA, "parse", "azure")
SAMPLES = samples("azure")
ALPHA = "127.0.0.2"


def parse(args, cwd, input=None):
    return koban_parse(["--tz", "UTC"] + args, cwd, input, tz="UTC")


def events_of(p):
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_parse_golden():
    names = sorted(n[:-4] for n in os.listdir(GOLDEN) if n.endswith(".log"))
    assert names == ["auto", "envelope", "errors", "firewall-ipv6", "intune", "loganalytics",
                     "quirks", "signins-apps"], names
    update = os.environ.get("KOBAN_UPDATE_GOLDEN") == "1"
    for name in names:
        fmt = "auto" if name == "auto" else "azure"
        check_golden(parse(["--format", fmt, name + ".log"], GOLDEN), GOLDEN, name, update)
    # what the files are about, said once more in plain words
    env = events_of(parse(["--format", "azure", "envelope.log"], GOLDEN))
    assert [e["event"]["dataset"] for e in env] == [
        "azure.signinlogs", "azure.firewall_logs", "azure.bastion", "azure.identity_protection",
        "azure"]
    # each record is its own event.original: the record's bytes, not the envelope
    assert all(e["event"]["original"].startswith('{"time"') for e in env[:4]), env
    # an empty envelope is still one (error) event: every message shows
    assert env[4]["event"]["kind"] == "pipeline_error" and \
        env[4]["event"]["original"] == '{"records":[]}', env[4]
    errs = events_of(parse(["--format", "azure", "errors.log"], GOLDEN))
    assert [e["event"]["kind"] for e in errs] == ["pipeline_error"] * 4
    la = events_of(parse(["--format", "azure", "loganalytics.log"], GOLDEN))
    assert [e["event"]["dataset"] for e in la] == [
        "azure.signinlogs", "azure.identity_protection", "azure.activitylogs",
        "azure.firewall_logs", "azure.intune_audit", "azure.application_gateway"]
    assert la[0]["user"]["name"] == "kato" and la[0]["source"]["ip"] == "192.0.2.61"
    assert la[0]["event"]["outcome"] == "failure" and la[0]["@timestamp"] == "2026-03-14T22:40:00Z"
    # service principal and managed identity sign-ins: no user, the app in service.name
    apps = events_of(parse(["--format", "azure", "signins-apps.log"], GOLDEN))
    assert [e["event"]["dataset"] for e in apps] == ["azure.signinlogs"] * 2
    assert [e["event"]["outcome"] for e in apps] == ["failure", "success"]
    assert apps[0]["event"]["code"] == "7000215" and apps[0]["service"]["name"] == "payroll-export"
    assert all("user" not in e for e in apps), apps
    assert "source" not in apps[1], apps[1]  # a managed identity's empty ipAddress is no source
    # Intune operational logs: resultType Success / Fail, the enrolling user from identity
    ops = events_of(parse(["--format", "azure", "intune.log"], GOLDEN))
    assert [e["event"]["dataset"] for e in ops] == ["azure.intune_operational"] * 2
    assert [e["event"]["outcome"] for e in ops] == ["success", "failure"]
    assert [e["user"]["name"] for e in ops] == ["tanaka", "sato"]
    auto = events_of(parse(["--format", "auto", "auto.log"], GOLDEN))
    assert [e["event"]["dataset"] for e in auto] == [
        "syslog", "azure.bastion", "azure.auditlogs", "azure.firewall_logs", "syslog"]


def sample(name):
    path = os.path.join(SAMPLES, name)
    p = parse(["--format", "azure", path], "/")
    assert p.returncode == 0, p.stderr
    ev = events_of(p)
    assert all(e["event"]["kind"] == "event" for e in ev), ev
    return ev


def test_public_samples():
    s = sample("signinlogs.ndjson")
    assert [e["event"]["dataset"] for e in s] == ["azure.signinlogs"] * 2
    assert [e["event"]["outcome"] for e in s] == ["failure"] * 2  # errorCode 50140
    assert s[0]["user"] == {"name": "test", "domain": "elastic.co", "email": "test@elastic.co",
                            "id": "8a4de8b5-095c-47d0-a96f-a75130c61d53",
                            "full_name": "Test LTest"}
    assert s[0]["source"]["ip"] == "81.2.69.144"
    assert s[0]["@timestamp"] == "2019-10-18T09:45:48.072989300Z"
    assert s[1]["message"].endswith("(MFA required)"), s[1]
    fw = sample("firewall-legacy-msg.ndjson")
    assert len(fw) == 6
    assert [e["event"]["type"] for e in fw] == [
        ["connection", "denied"], ["connection", "allowed"], ["connection"],
        ["connection", "denied"], ["connection", "denied"], ["connection", "allowed"]]
    assert fw[2]["destination"]["nat"] == {"ip": "10.0.0.2", "port": 3389}
    assert fw[3]["rule"]["id"] == "2028816" and fw[3]["event"]["risk_score"] == 3
    assert fw[4]["destination"]["domain"] == "ocsp.sca1b.amazontrust.com"
    assert fw[4]["rule"]["name"] == "Bot Networks"
    assert fw[5]["rule"] == {"name": "Permit_RFC1918", "ruleset": "Permit_RFC1918"}
    azfw = sample("firewall-azfw-structured.ndjson")
    assert [e["event"]["type"][-1] for e in azfw] == ["allowed", "allowed", "denied"]
    assert azfw[2]["rule"]["description"] == "Destination reported by Threat Intelligence"
    ag = sample("appgw-access-and-waf.ndjson")
    assert [e["event"]["dataset"] for e in ag] == ["azure.application_gateway"] * 3
    assert ag[0]["http"]["response"]["status_code"] == 404
    assert [e.get("rule", {}).get("id") for e in ag] == [None, "930130", "920320"]
    assert ag[2]["@timestamp"] == "2023-01-20T21:25:55Z"  # timeStamp
    au = sample("auditlogs.ndjson")
    assert [e["event"]["action"] for e in au] == ["Update device"] * 2
    assert "user" not in au[0] and au[1]["user"]["name"] == "UserName"
    act = sample("activitylogs.ndjson")
    assert [e["event"]["dataset"] for e in act] == ["azure.activitylogs"] * 2
    assert act[1]["azure"]["activitylogs"]["properties"]["requestBody"] == {
        "testData": {"myTest": "123"}}
    ure = sample("identity-protection-userriskevents.ndjson")
    assert ure[0]["@timestamp"] == "2022-08-22T18:07:16Z"  # US locale
    assert ure[0]["event"]["action"] == "anonymizedIPAddress"
    ru = sample("identity-protection-riskyusers.ndjson")
    assert ru[0]["user"]["name"] == "joe.danger" and ru[0]["log"]["level"] == "4"
    b = sample("bastion-auditlogs.json")
    assert b[0]["source"] == {"address": "131.107.159.86", "ip": "131.107.159.86", "port": 24039}
    assert b[0]["destination"]["ip"] == "172.16.1.5" and b[0]["network"]["protocol"] == "ssh"
    # every sample is claimed by "auto" too
    for name in sorted(os.listdir(SAMPLES)):
        p = parse(["--format", "auto", os.path.join(SAMPLES, name)], "/")
        assert all(e["event"]["module"] == "azure" for e in events_of(p)), name


def test_serve_splits_envelopes():
    d = tempdir()
    try:
        rec = '{"time":"2026-03-14T22:30:%02dZ","category":"SignInLogs","properties":' \
              '{"userPrincipalName":"u%d@pref.example.jp","status":{"errorCode":0}}}'
        lines = ['{"records":[%s]}' % ",".join(rec % (i, i) for i in range(3)),
                 '{"records":[%s]}' % ",".join(rec % (i, i) for i in range(3, 5)),
                 '{"records":[{"category":"SignInLogs"},]}',  # malformed: one error event
                 rec % (9, 9)]
        k = serve_source(d, "alpha-az", ALPHA, "azure")
        send_lines(k, ALPHA, lines)
        m = k.wait_settled(expect_total=len(lines))
        assert value(m, "koban_events_received_total", tenant="alpha") == 4
        assert k.stop() == 0
        events = spool_lines(d, "alpha")
        ok = [e for e in events if e["event"]["kind"] == "event"]
        bad = [e for e in events if e["event"]["kind"] == "pipeline_error"]
        assert sorted(e["user"]["name"] for e in ok) == ["u%d" % i for i in (0, 1, 2, 3, 4, 9)]
        assert all(e["event"]["dataset"] == "azure.signinlogs" for e in ok)
        assert len(bad) == 1 and bad[0]["event"]["original"] == lines[2], bad
        assert ok[0]["event"]["original"] == rec % (0, 0)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_parse_golden)
    s.run_with_path(SAMPLES, test_public_samples)
    s.run(test_serve_splits_envelopes)
    s.done()
