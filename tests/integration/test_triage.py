"""Triage: `koban triage test` on stored alerts against events ingested into the tenant's
store (the bundled rules, a rules directory, --now, --json, tenant isolation, exit codes) and
`koban triage attackers` (the SOC-wide view of addresses in alerts of several tenants)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Suite, json_lines, run, tempdir, write_file  # noqa: E402

EXPLOIT = {
    "@timestamp": "2026-11-30T10:00:00Z",
    "event": {"dataset": "panos.threat", "action": "alert", "type": ["allowed"]},
    "source": {"ip": "203.0.113.5"}, "destination": {"ip": "10.0.0.5"},
    "observer": {"serial_number": "0123"},
    "panos": {"sessionid": "777", "threat": {"name": "Apache Log4j RCE CVE-2021-44228"}},
}

EVIDENCE = [
    # the TRAFFIC log of the exploit's session: the server answered
    {"@timestamp": "2026-11-30T10:02:00Z", "event": {"dataset": "panos.traffic",
     "reason": "tcp-fin"}, "source": {"ip": "203.0.113.5"},
     "destination": {"ip": "10.0.0.5", "bytes": 50000}, "observer": {"serial_number": "0123"},
     "panos": {"sessionid": "777"}},
    # the victim's callback to a C2 server
    {"@timestamp": "2026-11-30T10:30:00Z", "event": {"dataset": "panos.threat",
     "action": "alert"}, "source": {"ip": "10.0.0.5"}, "destination": {"ip": "198.51.100.66"},
     "panos": {"subtype": "spyware", "threat": {"name": "Cobalt Strike C2"}}},
]


def alert_line(event):
    return json.dumps({
        "kind": "sigma",
        "rule": {"id": "exploit", "title": "Exploit", "level": "critical", "author": "",
                 "status": "test", "link": "", "tags": [], "references": []},
        "event_time": event["@timestamp"], "group": {},
        "keys": {"source.ip": event["source"]["ip"], "destination.ip": "10.0.0.5"},
        "events": [event],
    })


def setup(d):
    for t in ("acme", "globex"):
        run(["tenant", "add", t], d)
    run(["alert", "add", "--tenant", "acme", write_file(d, "a.jsonl", alert_line(EXPLOIT) + "\n")], d)


def verdict(d, tenant, alert, *args):
    return json.loads(run(["triage", "test", "--tenant", tenant, "--alert", str(alert),
                           "--json"] + list(args), d)[1])


def rule_ids(v):
    return [e["rule"] for e in v["evidence"]]


def test_test():
    d = tempdir()
    setup(d)
    # nothing in the store yet: the rule level alone, never more than 1
    v = verdict(d, "acme", 1, "--now", "2026-12-02T00:00:00Z")
    assert (v["level"], rule_ids(v), v["complete"], v["recheck"]) == (1, [], True, None), v
    assert v["why"] == "Level 1 from the alerts' rule level (critical): no evidence changed it.", v
    lines = "".join(json.dumps(e) + "\n" for e in EVIDENCE)
    _, out, _ = run(["ingest", "--tenant", "acme", "--format", "ecs", write_file(d, "ev.jsonl", lines)], d)
    # at 10:10 the answer is seen, the callback not yet; a window is still open
    v = verdict(d, "acme", 1, "--now", "2026-11-30T10:10:00Z")
    assert (v["level"], rule_ids(v), v["complete"]) == (2, ["panos-server-answered"], False), v
    assert v["recheck"] == "2026-11-30T10:15:00Z", v
    ev = v["evidence"][0]
    assert ev == {"rule": "panos-server-answered", "effect": "min", "level": 2,
                  "sentence": "The server answered: session 777 from 203.0.113.5 to 10.0.0.5 "
                              "carried 50000 bytes back (tcp-fin).",
                  "sentence_ja": ev["sentence_ja"], "at": "2026-11-30T10:02:00Z",
                  "events": ev["events"]}, ev
    assert ev["events"][0]["panos"]["sessionid"] == "777", ev
    # a day later: both evidences, 3, complete
    v = verdict(d, "acme", 1, "--now", "2026-12-02T00:00:00Z")
    assert (v["level"], rule_ids(v), v["complete"]) == (
        3, ["panos-server-answered", "victim-c2"], True), v
    assert v["why"].startswith("Level 3 (set, rule victim-c2): After the attack the victim "
                               "10.0.0.5 called a C2 server"), v
    # the text form
    _, out, _ = run(["triage", "test", "--tenant", "acme", "--alert", "1", "--now",
                     "2026-12-02T00:00:00Z"], d)
    assert out.splitlines()[0] == "level     3", out
    # globex reads none of acme's alerts, whatever the id
    status, _, err = run(["triage", "test", "--tenant", "globex", "--alert", "1"], d, check=False)
    assert status == 1 and "tenant 'globex' has no alert 1" in err, (status, err)
    # the same alert in globex finds none of acme's events
    run(["alert", "add", "--tenant", "globex", write_file(d, "b.jsonl", alert_line(EXPLOIT) + "\n")], d)
    v = verdict(d, "globex", 2, "--now", "2026-12-02T00:00:00Z")
    assert (v["level"], rule_ids(v)) == (1, ["attacker-several-tenants"]), v
    # a rules directory of one's own replaces the bundled set; its errors name FILE:LINE
    rules = os.path.join(d, "rules")
    os.mkdir(rules)
    write_file(rules, "mine.yml", "id: answered\ntitle: t\neffect: set\nlevel: 3\nsearch:\n"
               "  query: 'panos.sessionid: {panos.sessionid} and event.dataset: panos.traffic'\n"
               "sentence: 'Answered ({found.destination.bytes} bytes).'\n")
    v = verdict(d, "acme", 1, "--rules", rules, "--now", "2026-12-02T00:00:00Z")
    assert (v["level"], rule_ids(v)) == (3, ["answered"]), v
    assert v["evidence"][0]["sentence"] == "Answered (50000 bytes).", v
    write_file(rules, "mine.yml", "id: answered\ntitle: t\neffect: set\nlevel: 4\n")
    status, _, err = run(["triage", "test", "--tenant", "acme", "--alert", "1", "--rules", rules],
                         d, check=False)
    assert status == 1 and "mine.yml:4: level: expected an integer from 0 to 3" in err, err
    # usage errors
    status, _, err = run(["triage", "test", "--tenant", "acme"], d, check=False)
    assert status == 2 and "--alert ID are required" in err, err
    status, _, err = run(["triage", "test", "--tenant", "acme", "--alert", "x"], d, check=False)
    assert status == 2, err


def test_attackers():
    d = tempdir()
    setup(d)
    other = dict(EXPLOIT, source={"ip": "192.0.2.1"})
    run(["alert", "add", "--tenant", "globex",
         write_file(d, "b.jsonl", alert_line(EXPLOIT) + "\n" + alert_line(EXPLOIT) + "\n" +
                    alert_line(other) + "\n")], d)
    got = json_lines(run(["triage", "attackers", "--since", "2026-11-01", "--json"], d)[1])
    assert got == [{"ip": "203.0.113.5", "tenants": 2, "alerts": 3,
                    "first": "2026-11-30T10:00:00Z", "last": "2026-11-30T10:00:00Z",
                    "tenant_names": ["acme", "globex"]}], got
    got = json_lines(run(["triage", "attackers", "--since", "2026-11-01", "--min", "1",
                          "--json"], d)[1])
    assert [(a["ip"], a["tenants"]) for a in got] == [("203.0.113.5", 2), ("192.0.2.1", 1)], got
    _, out, _ = run(["triage", "attackers", "--since", "2026-11-01"], d)
    assert out.splitlines()[0].split()[:3] == ["ADDRESS", "TENANTS", "ALERTS"], out
    assert len(out.splitlines()) == 2, out
    assert json_lines(run(["triage", "attackers", "--since", "2026-12-01", "--json"], d)[1]) == []
    status, _, err = run(["triage", "attackers", "--min", "0"], d, check=False)
    assert status == 2, err


if __name__ == "__main__":
    s = Suite()
    s.run(test_test)
    s.run(test_attackers)
    s.done()
