"""Assets: `koban asset import|list|show|add|update|remove|unknown` with exact counts and exit
codes (koban's CSV layout, a column map, Nessus and OpenVAS exports merged into the same
assets), tenant isolation in the CLI and the API (/api/v1/assets: GET, POST, PATCH, DELETE,
/unknown) with tenant and SOC tokens."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, api_request, api_tokens, json_lines, run,  # noqa: E402
                      tempdir, write_file)

INVENTORY = """Name,IP,Hostname,Owner,Criticality,Role,Software,CVEs
web01,10.0.0.5,web01.acme.example,Web team,high,server,"nginx 1.18.0; OpenSSL 1.1.1k",
db01,"10.0.1.0/24, 10.0.2.7",,DBA,critical,server,PostgreSQL 13.2,
bad,10.0.0.300,,,,,,
ws17,,WS17.acme.example.,,,pc,,
"""

NESSUS = """Plugin ID,CVE,CVSS v2.0 Base Score,Risk,Host,Protocol,Port,Name,Synopsis,Description,Solution,See Also,Plugin Output
42,CVE-2021-23017,7.5,High,10.0.0.5,tcp,80,nginx,s,"d, long",x,,
43,CVE-2022-41741,7.8,High,10.0.0.5,tcp,80,nginx,s,d,x,,
44,,,None,10.0.0.5,tcp,22,ssh,s,d,x,,
45,CVE-2019-0708,10.0,Critical,10.0.3.3,tcp,3389,rdp,s,d,x,,
"""

OPENVAS = """IP,Hostname,Port,Port Protocol,CVSS,Severity,Solution Type,NVT Name,Summary,Specific Result,NVT OID,CVEs
10.0.2.7,,5432,tcp,9.0,High,VendorFix,n,s,r,1.3.6.1.4.1.25623.1.0.9,"CVE-2023-2454,CVE-2023-2455"
"""


def assets(d, tenant=None):
    args = ["asset", "list", "--json"] + (["--tenant", tenant] if tenant else [])
    return {a["name"]: a for a in json_lines(run(args, d)[1])}


def setup(d):
    for t in ("acme", "globex"):
        run(["tenant", "add", t], d)


def test_cli_import_and_edit():
    d = tempdir()
    setup(d)
    path = write_file(d, "inventory.csv", INVENTORY)
    status, out, err = run(["asset", "import", "--tenant", "acme", path], d, check=False)
    assert status == 3, (status, out, err)
    assert out == "%s: 4 records, 3 new, 0 updated, 1 rejected (tenant acme)\n" % path, out
    assert err == "%s:4: address '10.0.0.300': expected an address or ADDRESS/LENGTH\n" % path
    got = assets(d, "acme")
    assert sorted(got) == ["db01", "web01", "ws17"], got
    web = got["web01"]
    assert web["addresses"] == ["10.0.0.5"] and web["criticality"] == "high", web
    assert web["software"] == [{"name": "nginx", "version": "1.18.0"},
                               {"name": "OpenSSL", "version": "1.1.1k"}], web
    assert got["db01"]["addresses"] == ["10.0.1.0/24", "10.0.2.7"], got["db01"]
    assert got["ws17"]["hostnames"] == ["ws17.acme.example"], got["ws17"]
    assert got["ws17"]["role"] == "pc" and got["ws17"]["criticality"] == "medium"
    # the same file again: nothing new
    status, out, _ = run(["asset", "import", "--tenant", "acme", path], d, check=False)
    assert status == 3 and "4 records, 0 new, 0 updated, 1 rejected" in out, out
    # scanner exports join the assets by address, or make new ones
    nessus = write_file(d, "scan.csv", NESSUS)
    _, out, _ = run(["asset", "import", "--tenant", "acme", nessus], d)
    assert "4 records, 1 new, 1 updated, 0 rejected" in out, out
    openvas = write_file(d, "openvas.csv", OPENVAS)
    _, out, _ = run(["asset", "import", "--tenant", "acme", "--format", "openvas", openvas], d)
    assert "1 records, 0 new, 1 updated, 0 rejected" in out, out
    got = assets(d, "acme")
    assert got["web01"]["cves"] == ["CVE-2021-23017", "CVE-2022-41741"], got["web01"]
    assert got["db01"]["cves"] == ["CVE-2023-2454", "CVE-2023-2455"], got["db01"]
    assert got["10.0.3.3"]["cves"] == ["CVE-2019-0708"], got
    # a column map without a header
    mapped = write_file(d, "mapped.csv", "core-sw,10.255.0.0/16,network\n")
    _, out, _ = run(["asset", "import", "--tenant", "acme", "--columns",
                     "name=1,addresses=2,role=3", mapped], d)
    assert "1 records, 1 new" in out, out
    # nothing in another tenant; list without --tenant shows both
    assert assets(d, "globex") == {}
    assert len(assets(d)) == 5
    # add, update, show, remove
    _, out, _ = run(["asset", "add", "--tenant", "globex", "--addresses", "10.0.0.5",
                     "--criticality", "Low", "--cves", "cve-2020-0001", "web01"], d)
    assert out.startswith("asset ") and out.endswith(" added (tenant globex)\n"), out
    gid = int(out.split()[1])
    status, _, err = run(["asset", "show", "--tenant", "acme", str(gid)], d, check=False)
    assert status == 1 and "has no asset %d" % gid in err, err
    status, _, _ = run(["asset", "remove", "--tenant", "acme", str(gid)], d, check=False)
    assert status == 1
    status, _, _ = run(["asset", "update", "--tenant", "acme", "--owner", "x", str(gid)], d,
                       check=False)
    assert status == 1
    _, out, _ = run(["asset", "update", "--tenant", "globex", "--owner", "Globex IT",
                     "--cves", "", "web01"], d)
    assert out == "asset %d updated (tenant globex)\n" % gid, out
    shown = json.loads(run(["asset", "show", "--tenant", "globex", "--json", "web01"], d)[1])
    assert shown["owner"] == "Globex IT" and shown["cves"] == [] and shown["id"] == gid
    assert shown["criticality"] == "low"
    status, _, err = run(["asset", "add", "--tenant", "globex", "web01"], d, check=False)
    assert status == 1 and "already" in err, err
    status, _, err = run(["asset", "add", "--tenant", "globex", "--role", "toaster", "t"], d,
                         check=False)
    assert status == 2 and "role 'toaster'" in err, err
    status, _, _ = run(["asset", "list", "--tenant", "nosuch"], d, check=False)
    assert status == 1
    _, out, _ = run(["asset", "remove", "--tenant", "globex", "web01"], d)
    assert out == "asset %d removed (tenant globex)\n" % gid, out
    assert assets(d, "globex") == {}
    # the table
    _, out, _ = run(["asset", "list", "--tenant", "acme"], d)
    assert out.splitlines()[0].split() == ["ID", "TENANT", "NAME", "CRITICALITY", "ROLE",
                                           "OWNER", "ADDRESSES"], out
    assert len(out.splitlines()) == 6, out
    # removing a tenant removes its assets (the rows, not only their listing)
    run(["tenant", "remove", "acme"], d)
    db = sqlite3.connect(os.path.join(d, "var", "koban.db"))
    try:
        assert db.execute("SELECT COUNT(*) FROM assets").fetchone() == (0,)
    finally:
        db.close()


def alert_line(keys):
    return json.dumps({
        "kind": "sigma",
        "rule": {"id": "r1", "title": "T", "level": "high", "author": "", "status": "test",
                 "link": "", "tags": [], "references": []},
        "event_time": "2026-11-30T01:02:03Z", "group": {}, "keys": keys, "events": [],
    })


def test_unknown_hosts():
    d = tempdir()
    setup(d)
    run(["asset", "import", "--tenant", "acme", write_file(d, "i.csv", INVENTORY)], d,
        check=False)
    lines = [alert_line({"source.ip": "203.0.113.9", "destination.ip": "10.0.0.5"}),
             alert_line({"source.ip": "10.9.9.9", "host.name": "ws99"}),
             alert_line({"source.ip": "10.9.9.9", "host.name": "WS17"}),
             alert_line({"source.ip": "10.0.1.200"})]
    run(["alert", "add", "--tenant", "acme", write_file(d, "a.jsonl", "\n".join(lines) + "\n")],
        d)
    run(["alert", "add", "--tenant", "globex",
         write_file(d, "b.jsonl", alert_line({"source.ip": "10.7.7.7"}) + "\n")], d)
    got = json_lines(run(["asset", "unknown", "--tenant", "acme", "--json"], d)[1])
    assert [(u["value"], u["kind"], u["alerts"]) for u in got] == [
        ("10.9.9.9", "ip", 2), ("ws99", "host", 1)], got
    got = json_lines(run(["asset", "unknown", "--tenant", "globex", "--json"], d)[1])
    assert [u["value"] for u in got] == ["10.7.7.7"], got
    _, out, _ = run(["asset", "unknown", "--tenant", "acme"], d)
    assert out.splitlines()[0].split()[:3] == ["HOST", "KIND", "ALERTS"], out
    assert len(out.splitlines()) == 3, out


def test_api():
    d = tempdir()
    setup(d)
    run(["asset", "import", "--tenant", "acme", write_file(d, "i.csv", INVENTORY)], d,
        check=False)
    tok = api_tokens(d, ["acme", "globex"])
    inst = Instance(d, extra=["--api", "127.0.0.1:0"])
    try:
        base = "http://%s/api/v1/assets" % inst.api
        status, ctype, body = api_request(base, tok["acme"])
        assert status == 200 and ctype == "application/x-ndjson", (status, body)
        got = {a["name"]: a for a in json_lines(body)}
        assert sorted(got) == ["db01", "web01", "ws17"], body
        web_id = got["web01"]["id"]
        # globex sees none of them, not even by id, and cannot change or remove them
        status, _, body = api_request(base, tok["globex"])
        assert (status, body) == (200, ""), body
        for method, data in (("GET", None), ("PATCH", b'{"owner": "x"}'), ("DELETE", None)):
            status, _, body = api_request("%s/%d" % (base, web_id), tok["globex"], method,
                                          data)
            assert status == 404, (method, status, body)
        status, _, _ = api_request(base + "?tenant=acme", tok["globex"])
        assert status == 403
        status, _, _ = api_request(base)
        assert status == 401
        # a SOC token names the tenant
        status, _, body = api_request(base, tok["soc"])
        assert status == 400, body
        status, _, body = api_request("%s/%d?tenant=acme" % (base, web_id), tok["soc"])
        assert status == 200 and json.loads(body)["name"] == "web01", body
        # POST, PATCH, DELETE
        new = {"name": "gw", "addresses": ["192.0.2.0/24"], "role": "network",
               "criticality": "critical", "software": [{"name": "PAN-OS", "version": "11.1.2"}],
               "cves": ["cve-2024-3400"]}
        status, ctype, body = api_request(base, tok["globex"], "POST",
                                          json.dumps(new).encode())
        assert status == 201 and ctype == "application/json", (status, body)
        gw = json.loads(body)
        assert gw["tenant"] == "globex" and gw["cves"] == ["CVE-2024-3400"], gw
        status, _, body = api_request(base, tok["globex"], "POST", json.dumps(new).encode())
        assert status == 409, body
        status, _, body = api_request(base, tok["globex"], "POST", b'{"role": "pc"}')
        assert status == 400 and "name" in body, body
        status, _, body = api_request(base, tok["globex"], "POST", b'{"name": "x", "ip": 1}')
        assert status == 400 and "unknown key" in body, body
        status, _, body = api_request(base, tok["globex"], "POST",
                                      b'{"name": "x", "addresses": ["10.0.0.1/8"]}')
        assert status == 400, body
        status, _, body = api_request("%s/%d" % (base, gw["id"]), tok["globex"], "PATCH",
                                      b'{"owner": "NetOps", "cves": []}')
        assert status == 200, body
        patched = json.loads(body)
        assert patched["owner"] == "NetOps" and patched["cves"] == [], patched
        assert patched["addresses"] == ["192.0.2.0/24"], patched
        status, _, body = api_request("%s/%d" % (base, gw["id"]), tok["globex"], "DELETE")
        assert (status, json.loads(body)) == (200, {"id": gw["id"], "removed": True}), body
        status, _, _ = api_request("%s/%d" % (base, gw["id"]), tok["globex"])
        assert status == 404
        status, _, _ = api_request(base, tok["globex"], "DELETE")
        assert status == 405
        status, _, _ = api_request(base + "/abc", tok["globex"])
        assert status == 404
        status, _, _ = api_request(base, tok["globex"], "POST", b"x" * (2 << 20))
        assert status == 413
        # the unknown hosts
        status, _, body = api_request(base + "/unknown", tok["acme"])
        assert (status, body) == (200, ""), body
        status, _, body = api_request(base + "/unknown?since=yesterday-ish", tok["acme"])
        assert status == 400, body
        # the CLI sees what the API wrote, and the other way round
        assert assets(d, "globex") == {}
        assert sorted(assets(d, "acme")) == ["db01", "web01", "ws17"]
    finally:
        inst.stop()


if __name__ == "__main__":
    s = Suite()
    s.run(test_cli_import_and_edit)
    s.run(test_unknown_hosts)
    s.run(test_api)
    s.done()
