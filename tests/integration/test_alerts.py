"""Alerts: `koban alert add|list|show` (exit codes, the table, JSON lines, tenant scoping) and
GET /api/v1/alerts[/ID] on the API listener: the same lines as the CLI, a tenant token never
reading another tenant's alerts (403 naming it, 404 for its alert ids), SOC tokens naming the
tenant, since/limit, and the errors before any alert is read."""
import json
import os
import shutil
import sqlite3
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, alert_list, api_request, api_tokens, json_lines,  # noqa: E402
                      poll, run, tempdir, value)


def alert(rule, title, level="high", events=1, author="Jane Doe"):
    return {
        "kind": "sigma",
        "rule": {"id": rule, "title": title, "level": level, "author": author,
                 "status": "test", "link": "rules/sigma/%s.yml" % rule,
                 "tags": ["attack.t1110"], "references": ["https://example.org/" + rule]},
        "event_time": "2026-11-30T01:02:03Z",
        "group": {"user.name": "bob"},
        "keys": {"source.ip": "192.0.2.1"},
        "events": [{"@timestamp": "2026-11-30T01:02:0%dZ" % i, "n": i} for i in range(events)],
    }


def add(d, tenant, alerts, check=True):
    path = os.path.join(d, "alerts-%s.jsonl" % tenant)
    with open(path, "w") as f:
        for a in alerts:
            f.write((a if isinstance(a, str) else json.dumps(a)) + "\n")
    return run(["alert", "add", "--tenant", tenant, path], d, check=check)


def setup(d):
    for t in ("city-a", "city-b"):
        run(["tenant", "add", t], d)
    _, out, _ = add(d, "city-a", [alert("r%d" % i, "Rule %d" % i, events=i) for i in range(3)])
    ids_a = [int(x) for x in out.split()]
    _, out, _ = add(d, "city-b", [alert("b1", "city-b-secret")])
    ids_b = [int(x) for x in out.split()]
    return ids_a, ids_b, api_tokens(d, ("city-a", "city-b"))


def test_cli():
    d = tempdir()
    try:
        ids_a, ids_b, _ = setup(d)
        assert len(ids_a) == 3 and len(ids_b) == 1 and ids_b[0] not in ids_a, (ids_a, ids_b)
        _, out, _ = run(["alert", "list", "--tenant", "city-a"], d)
        rows = out.splitlines()
        assert rows[0].split() == ["ID", "DETECTED", "LEVEL", "KIND", "RULE", "TITLE"], out
        assert [r.split()[4] for r in rows[1:]] == ["r2", "r1", "r0"], out
        assert "city-b-secret" not in out
        lines = alert_list(d, "city-a", "--limit", "2")
        assert [a["rule"]["id"] for a in lines] == ["r2", "r1"], lines
        first = lines[1]
        assert first["tenant"] == "city-a" and first["rule"]["author"] == "Jane Doe", first
        assert first["rule"]["references"] == ["https://example.org/r1"], first
        assert first["n_events"] == 1 and "events" not in first, first
        assert first["group"] == {"user.name": "bob"}, first
        _, out, _ = run(["alert", "list", "--tenant", "city-a", "--since", "+1h"], d)
        assert len(out.splitlines()) == 1, out  # the header only
        # show: the events too; never another tenant's alert
        _, out, _ = run(["alert", "show", "--tenant", "city-a", "--json", str(ids_a[2])], d)
        one = json.loads(out)
        assert one["rule"]["id"] == "r2" and len(one["events"]) == 2, one
        assert one["events"][1] == {"@timestamp": "2026-11-30T01:02:01Z", "n": 1}, one
        _, out, _ = run(["alert", "show", "--tenant", "city-a", str(ids_a[1])], d)
        assert "author       Jane Doe" in out and "rules/sigma/r1.yml" in out, out
        rc, out, err = run(["alert", "show", "--tenant", "city-a", str(ids_b[0])], d,
                           check=False)
        assert rc == 1 and "secret" not in out + err and "no alert" in err, (rc, out, err)
        # usage errors: 2
        for args in (["list"], ["list", "--tenant", "city-a", "--limit", "0"],
                     ["list", "--tenant", "city-a", "--since", "soon"],
                     ["show", "--tenant", "city-a", "x"], ["show", "--tenant", "city-a"]):
            rc, _, err = run(["alert"] + args, d, check=False)
            assert rc == 2, (args, rc, err)
        rc, _, err = run(["alert", "list", "--tenant", "nosuch"], d, check=False)
        assert rc == 1 and "nosuch" in err, err
        # add: a bad line stops it, the lines before it are stored
        rc, out, err = add(d, "city-a", [alert("ok", "ok"), '{"rule": {"id": "x"}, "kind": "odd"}',
                                         alert("never", "never")], check=False)
        assert rc == 1 and ":2: " in err and "kind" in err and len(out.split()) == 1, (out, err)
        rc, _, err = add(d, "nosuch", [alert("x", "x")], check=False)
        assert rc == 1 and "nosuch" in err, err
        assert [a["rule"]["id"] for a in alert_list(d, "city-a")] == ["ok", "r2", "r1", "r0"]
        # what `alert show --json` prints, `alert add` takes back (another tenant, new id)
        _, out, _ = run(["alert", "show", "--tenant", "city-a", "--json", str(ids_a[2])], d)
        _, new, _ = add(d, "city-b", [out.strip()])
        _, back, _ = run(["alert", "show", "--tenant", "city-b", "--json", new.strip()], d)
        a, b = json.loads(out), json.loads(back)
        for k in ("id", "tenant", "detected"):
            del a[k], b[k]
        assert a == b, (a, b)
    finally:
        shutil.rmtree(d)


def get(base, token, path="/api/v1/alerts", raw_query=None, method="GET", **params):
    url = base + path
    if raw_query is not None:
        url += "?" + raw_query
    elif params:
        url += "?" + urllib.parse.urlencode(params)
    return api_request(url, token, method, b"x" if method == "POST" else None)


def test_api_isolation():
    d = tempdir()
    try:
        ids_a, ids_b, tok = setup(d)
        inst = Instance(d, extra=["--api", "127.0.0.1:0"])
        try:
            base = "http://" + inst.api
            # the same lines as the CLI
            status, ctype, body = get(base, tok["city-a"])
            _, cli, _ = run(["alert", "list", "--tenant", "city-a", "--json"], d)
            assert (status, ctype) == (200, "application/x-ndjson") and body == cli, (status, body)
            assert len(body.splitlines()) == 3 and "city-b-secret" not in body
            status, _, body = get(base, tok["city-a"], tenant="city-a", limit="1")
            assert status == 200 and [a["rule"]["id"] for a in json_lines(body)] == ["r2"], body
            status, _, body = get(base, tok["city-a"], since="+1h")
            assert (status, body) == (200, ""), body
            # one alert, with its events: the CLI's object
            status, ctype, body = get(base, tok["city-a"], path="/api/v1/alerts/%d" % ids_a[1])
            _, cli, _ = run(["alert", "show", "--tenant", "city-a", "--json", str(ids_a[1])], d)
            assert (status, ctype) == (200, "application/json"), (status, body)
            assert json.loads(body) == json.loads(cli) and len(json.loads(body)["events"]) == 1
            # a tenant token asking another tenant's alerts: 403, nothing of theirs
            for other in ("city-b", "_unassigned", "nosuch", "../city-b", "CITY-B"):
                status, _, body = get(base, tok["city-a"], tenant=other)
                assert status == 403 and "secret" not in body, (other, status, body)
                status, _, body = get(base, tok["city-a"], tenant=other,
                                      path="/api/v1/alerts/%d" % ids_b[0])
                assert status == 403 and "secret" not in body, (other, status, body)
            # ... or another tenant's alert by its id: 404, as for an id nobody has
            for path in ("/api/v1/alerts/%d" % ids_b[0], "/api/v1/alerts/999999"):
                status, _, body = get(base, tok["city-a"], path=path)
                assert status == 404 and "secret" not in body, (path, status, body)
            for raw in ("tenant=city-a&tenant=city-b", "tenant=city-b&tenant=city-a"):
                status, _, body = get(base, tok["city-a"], raw_query=raw)
                assert "secret" not in body, (raw, status, body)
            # the SOC token names the tenant, and must
            status, _, body = get(base, tok["soc"], tenant="city-b")
            assert status == 200 and [a["rule"]["title"] for a in json_lines(body)] \
                == ["city-b-secret"], body
            status, _, body = get(base, tok["soc"], tenant="city-a",
                                  path="/api/v1/alerts/%d" % ids_b[0])
            assert status == 404 and "secret" not in body, body
            status, _, body = get(base, tok["soc"])
            assert status == 400 and "must name the tenant" in body, body
            status, _, body = get(base, tok["soc"], tenant="nosuch")
            assert status == 404, body
            # errors before any alert is read
            for k, v in (("limit", "0"), ("limit", "10001"), ("limit", "x"), ("since", "soon")):
                status, _, body = get(base, tok["city-a"], **{k: v})
                assert status == 400 and k in body, (k, v, status, body)
            for path in ("/api/v1/alerts/", "/api/v1/alerts/x", "/api/v1/alerts/1x",
                         "/api/v1/alerts/-1"):
                status, _, body = get(base, tok["city-a"], path=path)
                assert status == 400 and "alert id" in body, (path, status, body)
            status, _, _ = get(base, tok["city-a"], path="/api/v1/alertsx")
            assert status == 404
            status, _, _ = get(base, tok["city-a"], method="POST")
            assert status == 405
            status, _, body = get(base, None)
            assert status == 401, body
            # a revoked token stops at once
            run(["token", "revoke", "tok-city-a"], d)
            status, _, _ = get(base, tok["city-a"])
            assert status == 401
        finally:
            assert inst.stop() == 0
    finally:
        shutil.rmtree(d)


def test_serve_retention():
    """serve's alert sink removes alerts past alerts.retention_days when it starts."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        _, out, _ = add(d, "city-a", [alert("old", "old"), alert("recent", "recent")])
        old = int(out.split()[0])
        db = sqlite3.connect(os.path.join(d, "var", "koban.db"))
        day = 86400 * 10**9
        db.execute("UPDATE alerts SET detected_ns = ? WHERE id = ?",
                   (time.time_ns() - 31 * day, old))
        db.commit()
        db.close()
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: var\nalerts:\n  retention_days: 30\n")
        inst = Instance(d, config=os.path.join(d, "koban.yaml"))
        try:
            m = poll("the first alert retention pass",
                     lambda: (lambda m: m if value(m, "koban_alerts_pruned_total") == 1 else None)
                     (inst.metrics()))
            for reason in ("queue_full", "no_memory", "invalid", "no_tenant", "store_error"):
                assert value(m, "koban_alerts_dropped_total", reason=reason) == 0, reason
            assert value(m, "koban_alerts_queued") == 0
        finally:
            assert inst.stop() == 0
        got = alert_list(d, "city-a")
        assert [a["rule"]["id"] for a in got] == ["recent"], got
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_cli)
    s.run(test_api_isolation)
    s.run(test_serve_retention)
    s.done()
