"""Threat intelligence: `koban ti import|list|remove|lookup` with exact counts and exit codes:
lists and CSV (format detection, column maps, header lines), re-import updating, rejects by
line, every lookup kind, tenant scope isolation, removal, STIX bundles and MISP events."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Suite, run, tempdir  # noqa: E402

LIST = """# a plain list: comments and blank lines are ignored
192.0.2.7
198.51.100.0/24   # a network

2001:DB8::/32
Evil.Example.
https://Bad.Example:443/payload?x=1#frag
D41D8CD98F00B204E9800998ECF8427E
phish@evil.example
not a value
010.0.0.1
"""

CSV = """value,type,confidence,tags,description,expires
203.0.113.5,ip,90,c2;apt,"Beacon, seen twice",2099-01-01
c2.example,domain,,,,
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,sha256,70,,,
c2.example,md5,,,,
203.0.113.6,ip,101,,,
"""


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def summary(out):
    """The counts of an import's summary line: read, new, updated, rejected."""
    words = out.split()
    return [int(words[i]) for i in (1, 3, 5, 7)]


def lookup(d, value, tenant=None):
    args = ["ti", "lookup", "--json", value] + (["--tenant", tenant] if tenant else [])
    rc, out, _ = run(args, d, check=False)
    return rc, sorted((x["source"], x["value"], x["tenant"]) for x in map(json.loads, out.splitlines()))


def test_import_list():
    d = tempdir()
    try:
        path = write(d, "feed.txt", LIST)
        rc, out, err = run(["ti", "import", "--source", "feed1", path], d, check=False)
        assert rc == 3, (rc, err)
        assert summary(out) == [9, 7, 0, 2], out
        assert "feed.txt:10: 'not a value': expected one value per line" in err, err
        assert "feed.txt:11: '010.0.0.1': not an IP address" in err, err
        # again: the same 7 updated, nothing new
        rc, out, _ = run(["ti", "import", "--source", "feed1", path], d, check=False)
        assert rc == 3 and summary(out) == [9, 0, 7, 2], out
        _, out, _ = run(["ti", "list", "--json"], d)
        rows = [json.loads(x) for x in out.splitlines()]
        assert sorted((r["type"], r["value"]) for r in rows) == [
            ("domain", "evil.example"), ("email", "phish@evil.example"),
            ("ip", "192.0.2.7"), ("ip", "198.51.100.0/24"), ("ip", "2001:db8::/32"),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("url", "https://bad.example/payload?x=1")], rows
        assert all(r["imports"] == 2 and r["tenant"] is None for r in rows), rows
        # only good lines: exit 0; only bad lines: exit 1, nothing stored
        good = write(d, "good.txt", "192.0.2.99\n")
        rc, out, _ = run(["ti", "import", "--source", "feed2", good], d, check=False)
        assert rc == 0 and summary(out) == [1, 1, 0, 0], (rc, out)
        bad = write(d, "bad.txt", "nope\n# only a comment\n")
        rc, out, _ = run(["ti", "import", "--source", "feed3", bad], d, check=False)
        assert rc == 1 and summary(out) == [1, 0, 0, 1], (rc, out)
        _, out, _ = run(["ti", "list", "--source", "feed3"], d)
        assert out.splitlines()[1:] == [], out
    finally:
        shutil.rmtree(d)


def test_lookup_kinds():
    d = tempdir()
    try:
        run(["ti", "import", "--source", "feed1", write(d, "feed.txt", LIST)], d, check=False)
        cases = [
            ("192.0.2.7", [("feed1", "192.0.2.7", None)]),
            ("198.51.100.200", [("feed1", "198.51.100.0/24", None)]),
            ("2001:db8:1::5", [("feed1", "2001:db8::/32", None)]),
            ("www.EVIL.example", [("feed1", "evil.example", None)]),
            ("HTTPS://bad.example/payload?x=1", [("feed1", "https://bad.example/payload?x=1", None)]),
            ("d41d8cd98f00b204e9800998ECF8427E", [("feed1", "d41d8cd98f00b204e9800998ecf8427e", None)]),
            ("Phish@Evil.Example", [("feed1", "phish@evil.example", None)]),
        ]
        for value, want in cases:
            assert lookup(d, value) == (0, want), (value, lookup(d, value))
        for value in ("192.0.2.8", "198.51.101.1", "notevil.example", "https://bad.example/other"):
            assert lookup(d, value) == (1, []), value
        rc, out, err = run(["ti", "lookup", "192.0.2.8"], d, check=False)
        assert rc == 1 and out == "" and "matches no indicator" in err, (rc, out, err)
        rc, out, _ = run(["ti", "lookup", "198.51.100.1"], d, check=False)
        assert rc == 0 and out.startswith("ip 198.51.100.0/24: scope global, source feed1"), out
    finally:
        shutil.rmtree(d)


def test_csv_and_scopes():
    d = tempdir()
    try:
        for t in ("city-a", "city-b"):
            run(["tenant", "add", t], d)
        path = write(d, "own.csv", CSV)
        rc, out, err = run(["ti", "import", "--source", "own", "--tenant", "city-a", path], d,
                           check=False)
        assert rc == 3 and summary(out) == [5, 3, 0, 2], (rc, out, err)
        assert "own.csv:5: md5 'c2.example': a md5 is 32 hexadecimal digits" in err, err
        assert "own.csv:6: confidence '101': expected 0 to 100" in err, err
        # tenant city-a's indicators match for city-a only: city-b and global lookups try
        assert lookup(d, "203.0.113.5", "city-a") == (0, [("own", "203.0.113.5", "city-a")])
        assert lookup(d, "203.0.113.5", "city-b") == (1, [])
        assert lookup(d, "203.0.113.5") == (1, [])
        assert lookup(d, "x.c2.example", "city-b") == (1, [])
        _, out, _ = run(["ti", "lookup", "--json", "--tenant", "city-a", "203.0.113.5"], d)
        row = json.loads(out)
        assert row["tags"] == ["c2", "apt"] and row["confidence"] == 90, row
        assert row["description"] == "Beacon, seen twice", row
        assert row["expires"] == "2099-01-01T00:00:00Z", row
        # a global indicator matches for every tenant
        run(["ti", "import", "--source", "feed", write(d, "g.txt", "c2.example\n")], d)
        assert lookup(d, "x.c2.example", "city-b") == (0, [("feed", "c2.example", None)])
        assert lookup(d, "x.c2.example", "city-a") == (0, [("feed", "c2.example", None),
                                                            ("own", "c2.example", "city-a")])
        # list --tenant: the global ones and the tenant's
        _, out, _ = run(["ti", "list", "--tenant", "city-b", "--json"], d)
        assert [json.loads(x)["value"] for x in out.splitlines()] == ["c2.example"], out
        # a column map and an unknown tenant
        rc, out, _ = run(["ti", "import", "--source", "m", "--columns", "value=2,type=1",
                          write(d, "m.csv", "ip,192.0.2.50\n")], d, check=False)
        assert rc == 0 and summary(out) == [1, 1, 0, 0], out
        rc, _, err = run(["ti", "import", "--source", "own", "--tenant", "nosuch", path], d,
                         check=False)
        assert rc == 1 and "no tenant 'nosuch'" in err, err
        # removal: one value, then the rest of the source's scope
        rc, out, _ = run(["ti", "remove", "--source", "own", "--tenant", "city-a", "203.0.113.5"], d)
        assert out.startswith("1 indicator removed"), out
        assert lookup(d, "203.0.113.5", "city-a") == (1, [])
        rc, out, _ = run(["ti", "remove", "--source", "own", "--tenant", "city-a"], d)
        assert out.startswith("2 indicators removed"), out
        rc, out, _ = run(["ti", "remove", "--source", "own", "--tenant", "city-a"], d, check=False)
        assert rc == 1 and out.startswith("0 indicators removed"), out
    finally:
        shutil.rmtree(d)


def test_formats_and_usage():
    d = tempdir()
    try:
        stix = write(d, "b.json", json.dumps({"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "indicator", "spec_version": "2.1", "id": "indicator--1",
             "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.99'] OR [domain-name:value = 'c2.example']"},
            {"type": "indicator", "spec_version": "2.1", "id": "indicator--2",
             "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'x.example']"}]}))
        rc, out, err = run(["ti", "import", "--source", "s", stix], d, check=False)
        assert rc == 3 and summary(out) == [3, 2, 0, 1], (rc, out, err)
        assert "b.json:2: indicator--2: pattern byte 32: AND-ed comparisons" in err, err
        assert lookup(d, "a.c2.example")[0] == 0 and lookup(d, "192.0.2.99")[0] == 0
        misp = write(d, "e.json", json.dumps({"Event": {"uuid": "5e0f8a2c-0000-4000-8000-000000000001",
            "threat_level_id": "1", "Attribute": [
                {"type": "ip-dst", "value": "198.51.100.77", "to_ids": True},
                {"type": "sha256", "value": "A" * 64, "to_ids": True}]}}))
        rc, out, err = run(["ti", "import", "--source", "m", "--format", "misp", misp], d,
                           check=False)
        assert rc == 0 and summary(out) == [2, 2, 0, 0], (rc, out, err)
        assert lookup(d, "a" * 64)[0] == 0
        rc, _, err = run(["ti", "import", "--source", "s", "--format", "xml", stix], d, check=False)
        assert rc == 2 and "expected list, csv, stix or misp" in err, err
        rc, _, err = run(["ti", "import", stix], d, check=False)
        assert rc == 2 and "--source NAME is required" in err, err
        rc, _, err = run(["ti", "import", "--source", "Bad Name", stix], d, check=False)
        assert rc == 1, err
        rc, _, err = run(["ti", "import", "--source", "s", "--columns", "type=1", stix], d,
                         check=False)
        assert rc == 2 and "value=N is required" in err, err
        rc, _, err = run(["ti", "lookup", "hello world"], d, check=False)
        assert rc == 2, err
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_import_list)
    s.run(test_lookup_kinds)
    s.run(test_csv_and_scopes)
    s.run(test_formats_and_usage)
    s.done()
