"""Notification policies: `koban notify policy show|set|history|check` and `koban notify
explain` over incidents written into koban.db as the engine would (exact texts and exit
codes), and the API (/api/v1/notify/policy, .../policy/history, /api/v1/notify/explain)
against a real `koban serve`, with tenant isolation."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, api_request, api_tokens, json_lines, run,  # noqa: E402
                      tempdir, write_file)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "data", "notify", "policy.json")
NS = 10**9
# 2026-05-04T02:00:00+09:00 (みどりの日, a Monday), 2026-05-07T10:00:00+09:00 (a Thursday)
HOLIDAY_NIGHT = 1777827600 * NS
THURSDAY_10 = 1778115600 * NS


def add_incident(d, tenant, rule, level, decided_ns, tags=(), alert=True):
    """An incident of tenant with one alert of rule (tags) in d's koban.db; returns its id.
    Without the alert (alert=False) a running serve's SOC engine has nothing to evaluate it
    again from, so its level stays as written."""
    db = sqlite3.connect(os.path.join(d, "var", "koban.db"))
    try:
        tid = db.execute("SELECT id FROM tenants WHERE name = ?", (tenant,)).fetchone()[0]
        cur = db.execute(
            "INSERT INTO incidents (tenant_id, title, rule_id, group_key, level, status, owner,"
            " n_alerts, evidence, entities, terminal, first_ns, last_ns, detected_ns,"
            " decided_ns, reported_ns, contacted_ns, acknowledged_ns, contained_ns, closed_ns,"
            " sla_breached, updated_ns) VALUES (?, ?, ?, ?, ?, 'new', '', 1, '[]',"
            " '{\"users\":[],\"hosts\":[],\"ips\":[]}', '{}', ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?)",
            (tid, "Incident of " + rule, rule, rule + "|x", level, decided_ns - 60 * NS,
             decided_ns - 60 * NS, decided_ns - 30 * NS, decided_ns, decided_ns))
        iid = cur.lastrowid
        if not alert:
            db.commit()
            return iid
        cur = db.execute(
            "INSERT INTO alerts (tenant_id, kind, rule_id, rule_title, rule_level, rule_author,"
            " rule_status, rule_link, rule_tags, rule_references, event_ns, detected_ns,"
            " group_fields, key_fields, events, n_events, events_omitted) VALUES (?, 'sigma',"
            " ?, 'T', 'high', '', '', '', ?, '[]', ?, ?, '{}', '{}', '', 0, 0)",
            (tid, rule, json.dumps(list(tags)), decided_ns - 60 * NS, decided_ns - 30 * NS))
        db.execute("INSERT INTO incident_alerts VALUES (?, ?)", (iid, cur.lastrowid))
        db.commit()
        return iid
    finally:
        db.close()


def example_text():
    with open(EXAMPLE, encoding="utf-8") as f:
        return f.read()


def setup():
    d = tempdir()
    for t in ("alpha", "beta"):
        run(["tenant", "add", t], d)
    return d


def test_policy_cli():
    d = setup()
    text = example_text()
    write_file(d, "policy.json", text)
    write_file(d, "bad.json", text.replace('"after": "5m"', '"after": "5 minutes"'))
    status, out, err = run(["notify", "policy", "check", "policy.json"], d)
    assert out == "policy.json: ok, 6 rules\n", out
    status, out, err = run(["notify", "policy", "check", "bad.json"], d, check=False)
    assert status == 1 and err == (
        'koban: bad.json: rules[2].steps[1].after: expected a duration like "5m" '
        '(s, m, h, d; at most 30d) (found "5 minutes")\n'), (status, err)
    status, _, err = run(["notify", "policy", "show", "--tenant", "alpha"], d, check=False)
    assert status == 1 and err == "koban: tenant 'alpha' has no notification policy\n", err
    status, _, err = run(["notify", "policy", "show"], d, check=False)
    assert status == 2 and "--tenant T is required" in err, err
    _, out, _ = run(["notify", "policy", "set", "--tenant", "alpha", "--by", "ana",
                     "policy.json"], d)
    assert out == "tenant alpha: notification policy version 1 set by ana\n", out
    _, out, _ = run(["notify", "policy", "set", "--tenant", "alpha", "--by", "ana",
                     "policy.json"], d)
    assert out == "tenant alpha: notification policy unchanged (version 1)\n", out
    status, _, err = run(["notify", "policy", "set", "--tenant", "alpha", "bad.json"], d,
                         check=False)
    assert status == 1 and "notification policy: rules[2].steps[1].after: expected a " \
        "duration" in err, err
    v2 = text.replace('"after": "5m"', '"after": "3m"')
    _, out, _ = run(["notify", "policy", "set", "--tenant", "alpha", "--by", "bob", "-"], d,
                    input=v2)
    assert out == "tenant alpha: notification policy version 2 set by bob\n", out
    _, out, _ = run(["notify", "policy", "show", "--tenant", "alpha"], d)
    assert out == v2 if v2.endswith("\n") else v2 + "\n", out
    _, out, _ = run(["notify", "policy", "show", "--tenant", "alpha", "--json"], d)
    got = json.loads(out)
    assert (got["tenant"], got["version"], got["actor"], len(got["policy"]["rules"])) == \
        ("alpha", 2, "bob", 6), got
    _, out, _ = run(["notify", "policy", "history", "--tenant", "alpha", "--json"], d)
    hist = json_lines(out)
    assert [(h["version"], h["actor"]) for h in hist] == [(2, "bob"), (1, "ana")], hist
    assert hist[0]["before"] == json.loads(text) and hist[0]["after"] == json.loads(v2)
    assert hist[1]["before"] is None, hist[1]
    _, out, _ = run(["notify", "policy", "history", "--tenant", "alpha", "--limit", "1"], d)
    assert out.startswith("version 2  ") and " by bob  (" in out and out.count("\n") == 1, out
    _, out, _ = run(["notify", "policy", "history", "--tenant", "alpha", "--limit", "1",
                     "--diff"], d)
    lines = out.splitlines()
    assert len(lines) == 4 and lines[1] == "    @@ line 35 @@" and \
        lines[2].startswith("    -") and lines[2].endswith('"after": "5m" },') and \
        lines[3].startswith("    +") and lines[3].endswith('"after": "3m" },'), out
    # beta's history and policy are its own
    _, out, _ = run(["notify", "policy", "history", "--tenant", "beta"], d)
    assert out == "", out
    status, _, err = run(["notify", "policy", "show", "--tenant", "beta"], d, check=False)
    assert status == 1, err


def test_explain_cli():
    d = setup()
    write_file(d, "policy.json", example_text())
    run(["notify", "policy", "set", "--tenant", "alpha", "policy.json"], d)
    iid = add_incident(d, "alpha", "panos-threat-critical", 3, HOLIDAY_NIGHT,
                       ["attack.initial_access", "cve.2024-3400"])
    _, out, _ = run(["notify", "explain", "--tenant", "alpha", "--incident", str(iid)], d)
    assert out.startswith("incident %d of tenant alpha: level 3 (Critical), rule "
                          "panos-threat-critical, 2 tags\n" % iid), out
    assert "decision time: 2026-05-04 02:00:00 JST" in out, out
    assert "policy version 1: rule 'night-critical' matched\n" in out, out
    assert "  step 1 at 2026-05-04 02:00:00 JST (+0s): phone to +819011110002, template " \
        "critical (ja), acknowledgement required\n" in out, out
    assert "  step 2 at 2026-05-04 02:05:00 JST (+300s): phone to +819022220001" in out, out
    assert "  - rule 'night-critical' matched: level 3 >= 2, 2026-05-04 (Monday) is a " \
        "national holiday (みどりの日)\n" in out, out
    assert "  - rule 'storm' did not match: level 3 (Critical) > 1\n" in out, out
    _, out, _ = run(["notify", "explain", "--tenant", "alpha", "--incident", str(iid),
                     "--json"], d)
    got = json.loads(out)
    assert (got["policy_rule"], got["matched"], got["held"], got["level"], got["at"]) == \
        ("night-critical", True, False, 3, "2026-05-03T17:00:00Z"), got
    assert got["tags"] == ["attack.initial_access", "cve.2024-3400"], got
    assert [(s["channel"], s["to"], s["at"]) for s in got["steps"]] == [
        ("phone", ["+819011110002"], "2026-05-03T17:00:00Z"),
        ("phone", ["+819022220001"], "2026-05-03T17:05:00Z"),
        ("mail", ["soc-lead@example.jp", "cio@city.example.jp"], "2026-05-03T17:05:00Z"),
        ("teams", ["soc-channel"], "2026-05-03T17:05:00Z")], got["steps"]
    assert len(got["reasons"]) == 10, got["reasons"]
    # another time: a business morning
    _, out, _ = run(["notify", "explain", "--tenant", "alpha", "--incident", str(iid),
                     "--at", "2026-05-07T10:00:00+09:00", "--json"], d)
    got = json.loads(out)
    assert got["policy_rule"] == "office-hours" and got["steps"][0]["channel"] == "teams", got
    # a storm: five scans of one rule in ten minutes are one aggregated notice
    scans = [add_incident(d, "alpha", "panos-scan-tcp", 1, THURSDAY_10 - k * 60 * NS)
             for k in range(5)]
    add_incident(d, "alpha", "panos-scan-tcp", 1, THURSDAY_10 - 20 * 60 * NS)  # outside
    add_incident(d, "beta", "panos-scan-tcp", 1, THURSDAY_10)  # another tenant's
    _, out, _ = run(["notify", "explain", "--tenant", "alpha", "--incident", str(scans[0]),
                     "--json"], d)
    got = json.loads(out)
    assert (got["policy_rule"], got["similar"], got["aggregate"], got["window_s"]) == \
        ("storm", 5, True, 600), got
    _, out, _ = run(["notify", "explain", "--tenant", "alpha", "--incident", str(scans[1])], d)
    assert "similar incidents of rule panos-scan-tcp in the last 600s: 4\n" in out, out
    assert "rule 'storm' matched, one aggregated notice" not in out, out
    # tenant isolation, errors
    status, _, err = run(["notify", "explain", "--tenant", "beta", "--incident", str(iid)], d,
                         check=False)
    assert status == 1 and err == "koban: tenant 'beta' has no incident %d\n" % iid, err
    biid = add_incident(d, "beta", "x", 2, HOLIDAY_NIGHT)
    status, _, err = run(["notify", "explain", "--tenant", "beta", "--incident", str(biid)], d,
                         check=False)
    assert status == 1 and "tenant 'beta' has no notification policy" in err, err
    status, _, err = run(["notify", "explain", "--tenant", "alpha", "--incident", "x"], d,
                         check=False)
    assert status == 2 and "--incident: expected an incident number" in err, err
    status, _, err = run(["notify", "explain", "--tenant", "alpha", "--incident", "1",
                          "--at", "yesterday"], d, check=False)
    assert status == 2 and "--at: expected" in err, err
    status, out, _ = run(["notify", "--help"], d)
    assert status == 0 and "koban notify explain" in out, out
    status, _, err = run(["notify", "frobnicate"], d, check=False)
    assert status == 2 and "unknown sub-command 'frobnicate'" in err, err
    _, out, _ = run(["--help"], d)
    assert "  notify " in out, out


def test_api():
    d = setup()
    tok = api_tokens(d, ["alpha", "beta"])
    iid = add_incident(d, "alpha", "panos-threat-critical", 3, HOLIDAY_NIGHT, alert=False)
    text = example_text()
    inst = Instance(d, extra=["--api", "127.0.0.1:0"])
    try:
        base = "http://%s/api/v1/notify/" % inst.api
        status, _, body = api_request(base + "policy", tok["alpha"])
        assert status == 404 and "no notification policy" in body, (status, body)
        bad = text.replace('"after": "5m"', '"after": "5 minutes"').encode()
        status, _, body = api_request(base + "policy", tok["alpha"], "PUT", bad)
        assert status == 400 and json.loads(body)["error"] == (
            'notification policy: rules[2].steps[1].after: expected a duration like "5m" '
            '(s, m, h, d; at most 30d) (found "5 minutes")'), (status, body)
        status, ctype, body = api_request(base + "policy", tok["alpha"], "PUT", text.encode())
        got = json.loads(body)
        assert status == 200 and ctype == "application/json" and \
            (got["tenant"], got["version"], got["actor"]) == ("alpha", 1, "tok-alpha"), body
        status, _, body = api_request(base + "policy?tenant=alpha", tok["soc"])
        assert status == 200 and json.loads(body)["policy"] == json.loads(text), body
        status, ctype, body = api_request(base + "policy/history?tenant=alpha", tok["soc"])
        hist = json_lines(body)
        assert status == 200 and ctype == "application/x-ndjson" and \
            [(h["version"], h["actor"], h["before"]) for h in hist] == [(1, "tok-alpha", None)]
        status, _, body = api_request(base + "explain?incident=%d" % iid, tok["alpha"])
        got = json.loads(body)
        assert status == 200 and got["policy_rule"] == "night-critical" and \
            len(got["steps"]) == 4, (status, body)
        status, _, body = api_request(
            base + "explain?tenant=alpha&incident=%d&at=2026-05-07T10:00:00%%2B09:00" % iid,
            tok["soc"])
        assert status == 200 and json.loads(body)["policy_rule"] == "office-hours", body
        # beta reaches nothing of alpha's, and its own change stays its own
        status, _, body = api_request(base + "policy?tenant=alpha", tok["beta"])
        assert status == 403, (status, body)
        status, _, body = api_request(base + "policy/history?tenant=alpha", tok["beta"])
        assert status == 403, (status, body)
        status, _, body = api_request(base + "explain?incident=%d" % iid, tok["beta"])
        assert status == 404, (status, body)
        status, _, body = api_request(base + "policy", tok["beta"], "PUT", b'{"rules": []}')
        assert status == 200 and json.loads(body)["tenant"] == "beta", body
        status, _, body = api_request(base + "policy", tok["alpha"])
        assert json.loads(body)["version"] == 1 and \
            json.loads(body)["policy"] == json.loads(text), body
        status, _, body = api_request(base + "policy/history", tok["beta"])
        assert [h["actor"] for h in json_lines(body)] == ["tok-beta"], body
        # errors
        status, _, _ = api_request(base + "policy", tok["alpha"], "DELETE")
        assert status == 405
        status, _, _ = api_request(base + "explain?incident=abc", tok["alpha"])
        assert status == 400
        status, _, _ = api_request(base + "explain", tok["alpha"])
        assert status == 400
        status, _, _ = api_request(base + "rotations", tok["alpha"])
        assert status == 404
        status, _, _ = api_request(base + "policy")
        assert status == 401
        status, _, _ = api_request(base + "policy", tok["soc"])
        assert status == 400  # a SOC token names the tenant
    finally:
        inst.stop()


if __name__ == "__main__":
    s = Suite()
    s.run(test_policy_cli)
    s.run(test_explain_cli)
    s.run(test_api)
    s.done()
