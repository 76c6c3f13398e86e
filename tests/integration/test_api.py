"""The API listener: GET /api/v1/search with tenant and SOC tokens, the same JSON lines as
`koban search --json`, tenant isolation (a tenant token naming another tenant, tenant names
with path tricks, repeated parameters, a revoked token), HTTPS, plain HTTP refused off
loopback, and the audit log naming the token."""
import json
import os
import shutil
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Instance, Suite, ingest_fw, make_tls, run, tempdir, value  # noqa: E402


def setup(d):
    tokens = {}
    for t, n in (("city-a", 120), ("city-b", 30)):
        run(["tenant", "add", t], d)
        ingest_fw(d, t, n, t + "-secret")
        _, out, _ = run(["token", "add", "tok-" + t, "--tenant", t], d)
        tokens[t] = out.strip()
    _, out, _ = run(["token", "add", "ops", "--soc"], d)
    tokens["soc"] = out.strip()
    return tokens


def get(base, token, ctx=None, raw_query=None, **params):
    url = base + "/api/v1/search"
    if raw_query is not None:
        url += "?" + raw_query
    elif params:
        url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def lines(body):
    return [json.loads(line) for line in body.splitlines()]


def test_search_and_isolation():
    d = tempdir()
    try:
        tok = setup(d)
        inst = Instance(d, extra=["--api", "127.0.0.1:0"])
        try:
            assert inst.api, "no 'listening api' line"
            base = "http://" + inst.api
            # the same lines as the CLI
            q = "| stats count() by destination.port | sort -count"
            status, ctype, body = get(base, tok["city-a"], q=q)
            assert status == 200 and ctype == "application/x-ndjson", (status, body)
            _, cli, _ = run(["search", "--tenant", "city-a", "--json", q], d)
            assert body == cli, (body, cli)
            status, _, body = get(base, tok["city-a"], q="event.action: deny", limit="4")
            _, cli, _ = run(["search", "--tenant", "city-a", "--json", "--limit", "4",
                             "event.action: deny"], d)
            assert status == 200 and body == cli and len(lines(body)) == 4, body
            # no limit: every match, as the CLI with --json
            status, _, body = get(base, tok["city-b"], q="*")
            assert status == 200 and len(lines(body)) == 30, body
            assert all(e["organization"]["id"] == "city-b" for e in lines(body))
            # limit=0: an empty answer at once, nothing read (no audit line, at the end)
            status, _, body = get(base, tok["city-b"], q="limit-zero", limit="0")
            assert (status, body) == (200, ""), (status, body)
            # a tenant token naming its own tenant is fine; another is refused
            status, _, body = get(base, tok["city-b"], tenant="city-b", q="| stats count()")
            assert (status, lines(body)) == (200, [{"count": 30}]), body
            for other in ("city-a", "_unassigned", "nosuch", "../city-a", "city-a/..", "",
                          "CITY-A", "city-b%2f..%2fcity-a"):
                if other == "":
                    continue
                status, _, body = get(base, tok["city-b"], tenant=other, q="*")
                assert status == 403 and "city-a-secret" not in body, (other, status, body[:200])
            # repeated tenant parameters: the token's tenant wins or the request is refused
            for raw in ("tenant=city-b&tenant=city-a&q=*", "tenant=city-a&tenant=city-b&q=*"):
                status, _, body = get(base, tok["city-b"], raw_query=raw)
                assert "city-a-secret" not in body, (raw, body[:200])
            # the query text cannot reach another tenant either
            for q in ("city-a-secret", "organization.id: city-a", "_exists_: source.ip"):
                status, _, body = get(base, tok["city-b"], q=q)
                assert status == 200 and "city-a-secret" not in body, (q, body[:200])
            # the SOC token names a tenant, and must
            status, _, body = get(base, tok["soc"], tenant="city-a", q="| stats count()")
            assert (status, lines(body)) == (200, [{"count": 120}]), body
            status, _, body = get(base, tok["soc"], q="*")
            assert status == 400 and "must name the tenant" in body, body
            for bad in ("../city-a", "city-a/../city-b", "/etc", "city-a\x00", "a" * 80,
                        "%2e%2e"):
                status, _, body = get(base, tok["soc"], tenant=bad, q="*")
                assert status == 400 and "secret" not in body, (bad, status, body[:200])
            status, _, body = get(base, tok["soc"], tenant="city-a", q="*\x00city-b")
            assert status == 400 and "NUL" in body, body[:200]
            status, _, body = get(base, tok["soc"], tenant="nosuch", q="*")
            assert status == 404, body
            # authentication
            status, _, body = get(base, None, q="*")
            assert status == 401 and "token" in body, body
            status, _, body = get(base, "kbn_" + "A" * 43, q="*")
            assert status == 401, body
            status, _, body = get(base, tok["soc"][:-1], tenant="city-a", q="*")
            assert status == 401, body
            # errors before the stream: a 400 naming the column
            status, ctype, body = get(base, tok["soc"], tenant="city-a", q="source.ip: (")
            assert status == 400 and ctype == "application/json" and "column" in body, body
            for k, v in (("from", "soon"), ("to", "later"), ("limit", "-1"), ("limit", "x")):
                status, _, body = get(base, tok["soc"], tenant="city-a", q="*", **{k: v})
                assert status == 400 and k in body, (k, v, body)
            # a value of the wrong type, a bad CIDR, pipes that cannot follow: 400 too, not a
            # 200 whose last line is the error
            for q, want in (("destination.port: https", "column 19: expected a whole number"),
                            ("source.ip: 10.0.0.0/33", "column 12: expected an IP address"),
                            ("* | stats count() | stats count()", "column")):
                status, ctype, body = get(base, tok["soc"], tenant="city-a", q=q)
                assert status == 400 and ctype == "application/json" and want in body, \
                    (q, status, body)
            status, _, body = get(base, tok["soc"], tenant="city-a", q="*",
                                  **{"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
            assert status == 400 and "from is later than to" in body, body
            status, _, body = get(base, tok["soc"], tenant="city-a", q="*",
                                  **{"from": "2026-12-01T01:00:00Z",
                                     "to": "2026-12-01T01:09:59Z"})
            assert len(lines(body)) == 10, body
            # a date alone as `to` takes that whole day, as in Elasticsearch
            for to, want in (("2026-12-01", 120), ("2026-11-30", 0)):
                status, _, body = get(base, tok["soc"], tenant="city-a",
                                      q="| stats count()", to=to)
                assert (status, lines(body)) == (200, [{"count": want}]), (to, body)
            # other paths and methods
            req = urllib.request.Request(base + "/api/v1/nothing")
            req.add_header("Authorization", "Bearer " + tok["soc"])
            try:
                urllib.request.urlopen(req, timeout=30)
                raise AssertionError("found /api/v1/nothing")
            except urllib.error.HTTPError as e:
                assert e.code == 404
            req = urllib.request.Request(base + "/api/v1/search?tenant=city-a", data=b"x",
                                         method="POST")
            req.add_header("Authorization", "Bearer " + tok["soc"])
            try:
                urllib.request.urlopen(req, timeout=30)
                raise AssertionError("POST accepted")
            except urllib.error.HTTPError as e:
                assert e.code == 405
            m = inst.metrics()
            counts = {r: value(m, "koban_api_requests_total", result=r)
                      for r in ("ok", "forbidden", "unauthorized", "method_not_allowed",
                                "not_found", "bad_request")}
            # 7 other tenants and one repeated parameter naming city-a first
            assert counts == {"ok": 13, "forbidden": 8, "unauthorized": 3,
                              "method_not_allowed": 1, "not_found": 2, "bad_request": 17}, counts
            # revoked: refused at the next request, no reload
            run(["token", "revoke", "tok-city-a"], d)
            status, _, _ = get(base, tok["city-a"], q="*")
            assert status == 401
            # removing a tenant removes its tokens
            run(["tenant", "remove", "city-b"], d)
            status, _, _ = get(base, tok["city-b"], q="*")
            assert status == 401
        finally:
            assert inst.stop() == 0
        with open(os.path.join(d, "var", "audit.log")) as f:
            audit = [json.loads(line) for line in f]
        who = [a["who"] for a in audit]
        assert "token tok-city-a" in who and "token ops" in who and "token tok-city-b" in who, who
        ops = [a for a in audit if a["who"] == "token ops" and a["query"] == "| stats count()"]
        assert ops and ops[0]["results"] == 1, ops
        assert [a for a in audit if a["query"] == "limit-zero"] == []
        # the secrets are nowhere in koban.db
        with open(os.path.join(d, "var", "koban.db"), "rb") as f:
            db = f.read()
        for t in tok.values():
            assert t.encode() not in db
    finally:
        shutil.rmtree(d)


def test_search_newest_first():
    """Events come newest first by @timestamp, not as stored: a late import through the
    daemon (its write-ahead log) of an event newer and one older than the 120 sealed ones;
    limit=N gives the N newest, and the lines are those of the CLI."""
    d = tempdir()
    try:
        tok = setup(d)
        inst = Instance(d, extra=["--api", "127.0.0.1:0"])
        try:
            base = "http://" + inst.api
            with open(os.path.join(d, "late.json"), "w") as f:
                for t, o in (("2026-12-01T05:00:00Z", "api-newest"),
                             ("2026-11-30T05:00:00Z", "api-oldest")):
                    f.write(json.dumps({"@timestamp": t, "event": {"original": o}}) + "\n")
            run(["ingest", "--tenant", "city-a", "--format", "ecs", "late.json"], d)
            status, _, body = get(base, tok["city-a"], q="*", limit="1")
            assert status == 200 and [e["event"]["original"] for e in lines(body)] == \
                ["api-newest"], body
            status, _, body = get(base, tok["city-a"], q="*")
            evs = lines(body)
            assert len(evs) == 122 and evs[0]["event"]["original"] == "api-newest" and \
                evs[-1]["event"]["original"] == "api-oldest", body[:300]
            stamps = [e["@timestamp"] for e in evs]
            assert stamps == sorted(stamps, reverse=True), stamps
            _, cli, _ = run(["search", "--tenant", "city-a", "--json", "*"], d)
            assert body == cli
        finally:
            assert inst.stop() == 0
    finally:
        shutil.rmtree(d)


def test_https_and_loopback_rule():
    d = tempdir()
    try:
        tok = setup(d)
        ca, cert, key = make_tls(d)
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: ./var\napi:\n  listen: 127.0.0.1:0\n  tls:\n"
                    "    cert: %s\n    key: %s\n" % (cert, key))
        inst = Instance(d, config=os.path.join(d, "koban.yaml"))
        try:
            assert inst.api_scheme == "https", inst.api_scheme
            ctx = ssl.create_default_context(cafile=ca)
            status, _, body = get("https://" + inst.api, tok["city-a"], ctx=ctx,
                                  q="| stats count()")
            assert (status, lines(body)) == (200, [{"count": 120}]), body
        finally:
            assert inst.stop() == 0
        # plain HTTP off loopback: config check and serve refuse it
        with open(os.path.join(d, "open.yaml"), "w") as f:
            f.write("data_dir: ./var\napi:\n  listen: 0.0.0.0:0\n")
        status, out, err = run(["config", "check", "-c", "open.yaml"], d, check=False)
        assert status == 1 and "not a loopback address" in out + err, (out, err)
        status, _, err = run(["serve", "--syslog-udp", "127.0.0.1:0", "--syslog-tcp",
                              "127.0.0.1:0", "--admin", "127.0.0.1:0", "--api", "0.0.0.0:0"],
                             d, check=False)
        assert status == 1 and "not a loopback address" in err, err
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_search_and_isolation)
    s.run(test_search_newest_first)
    s.run(test_https_and_loopback_rule)
    s.done()
