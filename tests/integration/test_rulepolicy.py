"""Detection rules per tenant: `koban rule enable|disable|tune|policy|history` (their text and
JSON output, the checks of a tuning filter, usage errors) and GET /api/v1/rules/policy and
/history on the API listener (the same JSON lines, tenant-scoped: 403 across tenants)."""
import os
import shutil
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, api_request, api_tokens, json_lines, run,  # noqa: E402
                      tempdir, write_file)

# the command's name until it moves under `koban rule` (then: ["rule"])
RULE = ["rule"]

FILTER = "backup:\n  source.ip: 10.1.2.3\ncondition: backup\n"


def rule(d, *args, check=True):
    return run(RULE + list(args), d, check=check)


def setup(d):
    for t in ("city-a", "city-b"):
        run(["tenant", "add", t], d)
    write_file(d, "f.yml", FILTER)
    rule(d, "disable", "--tenant", "city-a", "--reason", "noisy on backups", "--by", "alice",
         "r-1")
    rule(d, "tune", "--tenant", "city-a", "--filter", "f.yml", "--reason", "backup server",
         "--by", "bob", "r-2")
    rule(d, "enable", "--tenant", "city-b", "--by", "carol", "r-3")


def test_cli():
    d = tempdir()
    try:
        setup(d)
        _, out, _ = rule(d, "policy", "--tenant", "city-a", "--json")
        rows = json_lines(out)
        assert [(r["rule"], r["enabled"], r["filter"], r["by"]) for r in rows] == [
            ("r-1", False, None, "alice"), ("r-2", None, FILTER, "bob")], rows
        assert all(r["tenant"] == "city-a" and r["changed"].endswith("Z") for r in rows), rows
        _, out, _ = rule(d, "policy", "--tenant", "city-a")
        lines = out.splitlines()
        assert lines[0].split() == ["RULE", "ENABLED", "TUNED", "CHANGED", "BY"], out
        assert lines[1].split()[:3] == ["r-1", "off", "no"], out
        assert lines[2].split()[:3] == ["r-2", "default", "yes"], out
        # the same again: nothing changes, no history entry
        _, out, _ = rule(d, "disable", "--tenant", "city-a", "--by", "alice", "r-1")
        assert "already disabled" in out, out
        rule(d, "enable", "--tenant", "city-a", "--reason", "fixed upstream", "r-1")
        _, out, _ = rule(d, "history", "--tenant", "city-a", "--json")
        h = json_lines(out)
        assert [(x["rule"], x["action"]) for x in h] == [
            ("r-1", "enable"), ("r-2", "tune"), ("r-1", "disable")], h
        assert h[0]["before"] == {"enabled": False, "filter": None}, h[0]
        assert h[0]["after"] == {"enabled": True, "filter": None}, h[0]
        assert h[0]["reason"] == "fixed upstream" and "(uid " in h[0]["by"], h[0]
        assert h[1]["after"]["filter"] == FILTER and h[1]["by"] == "bob", h[1]
        assert h[0]["id"] > h[1]["id"] > h[2]["id"], h
        _, out, _ = rule(d, "history", "--tenant", "city-a", "--json", "--limit", "1", "r-2")
        assert [x["action"] for x in json_lines(out)] == ["tune"], out
        _, out, _ = rule(d, "history", "--tenant", "city-a", "r-2")
        assert "backup server" in out and "source.ip: 10.1.2.3" in out, out
        # untune: the row goes (nothing else was set), the history keeps both filters
        rule(d, "tune", "--tenant", "city-a", "--clear", "--reason", "server gone", "r-2")
        _, out, _ = rule(d, "policy", "--tenant", "city-a", "--json")
        assert [r["rule"] for r in json_lines(out)] == ["r-1"], out
        _, out, _ = rule(d, "history", "--tenant", "city-a", "--json", "r-2")
        assert json_lines(out)[0]["before"]["filter"] == FILTER, out
        # one tenant's policy is not another's
        _, out, _ = rule(d, "policy", "--tenant", "city-b", "--json")
        assert [(r["rule"], r["enabled"]) for r in json_lines(out)] == [("r-3", True)], out
        status, _, err = rule(d, "policy", "--tenant", "nosuch", check=False)
        assert status == 1 and "no tenant 'nosuch'" in err, err
    finally:
        shutil.rmtree(d)


def test_bad_filters_and_usage():
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        cases = {
            "notyaml.yml": ("a: [1\n", "notyaml.yml:2: not YAML"),
            "nocond.yml": ("a:\n  x: 1\n", "no 'condition'"),
            "scalar.yml": ("a: 1\ncondition: a\n", "scalar.yml:1: a: expected a map"),
            "two.yml": ("a: {x: 1}\ncondition: a\n---\nb: {x: 1}\ncondition: b\n",
                        "more than one YAML document"),
        }
        for name, (text, want) in cases.items():
            write_file(d, name, text)
            status, _, err = rule(d, "tune", "--tenant", "city-a", "--filter", name,
                                  "--reason", "x", "r-1", check=False)
            assert status == 1 and want in err, (name, status, err)
        status, _, err = rule(d, "tune", "--tenant", "city-a", "--filter", "nosuch.yml",
                              "--reason", "x", "r-1", check=False)
        assert status == 1 and "nosuch.yml" in err, err
        status, _, err = rule(d, "tune", "--tenant", "city-a", "--filter", "/dev/null",
                              "--reason", "x", "r-1", check=False)
        assert status == 1 and "not a regular file" in err, err
        write_file(d, "empty.yml", "")
        status, _, err = rule(d, "tune", "--tenant", "city-a", "--filter", "empty.yml",
                              "--reason", "x", "r-1", check=False)
        assert status == 1 and "empty.yml: not YAML (or empty)" in err, err
        # nothing was stored by the refused changes
        _, out, _ = rule(d, "history", "--tenant", "city-a", "--json")
        assert out == "", out
        usage = [
            (["disable", "r-1"], "missing --tenant"),
            (["disable", "--tenant", "city-a"], "missing ID"),
            (["tune", "--tenant", "city-a", "--reason", "x", "r-1"], "--filter"),
            (["tune", "--tenant", "city-a", "--filter", "a", "--clear", "--reason", "x", "r"],
             "--filter"),
            (["tune", "--tenant", "city-a", "--filter", "a.yml", "r-1"], "--reason"),
            (["disable", "--tenant", "city-a", "--filter", "a.yml", "r-1"], "unknown option"),
            (["policy", "--tenant", "city-a", "r-1"], "unexpected argument"),
            (["history", "--tenant", "city-a", "--limit", "0"], "--limit"),
            (["history", "--tenant", "city-a", "--limit", "-3"], "--limit"),
            (["explode"], "unknown sub-command"),
            (["disable", "--tenant", "city-a", "--by", "x" * 200, "r-1"], "--by"),
        ]
        for args, want in usage:
            status, _, err = rule(d, *args, check=False)
            assert status == 2 and want in err, (args, status, err)
        # values the store refuses: exit 1 with the reason
        for args, want in ((["disable", "--tenant", "city-a", "has space"], "rule 'has space'"),
                           (["disable", "--tenant", "../x", "r-1"], "tenant name"),
                           (["disable", "--tenant", "city-a", "--reason", "a\x1bb", "r"],
                            "control character")):
            status, _, err = rule(d, *args, check=False)
            assert status == 1 and want in err, (args, status, err)
        status, out, _ = rule(d, "--help")
        assert status == 0 and "tune" in out and "history" in out, out
    finally:
        shutil.rmtree(d)


def get(base, token, what, **params):
    url = base + "/api/v1/rules/" + what
    if params:
        url += "?" + urllib.parse.urlencode(params)
    return api_request(url, token)


def test_api():
    d = tempdir()
    try:
        setup(d)
        tok = api_tokens(d, ("city-a", "city-b"))
        inst = Instance(d, extra=["--api", "127.0.0.1:0"])
        try:
            assert inst.api, "no 'listening api' line"
            base = "http://" + inst.api
            # the same lines as the CLI, for a tenant token and for a SOC token
            _, cli_policy, _ = rule(d, "policy", "--tenant", "city-a", "--json")
            _, cli_history, _ = rule(d, "history", "--tenant", "city-a", "--json")
            for token in (tok["city-a"], tok["soc"]):
                status, ctype, body = get(base, token, "policy", tenant="city-a")
                assert (status, ctype) == (200, "application/x-ndjson"), (status, body)
                assert body == cli_policy, (body, cli_policy)
                status, _, body = get(base, token, "history", tenant="city-a")
                assert status == 200 and body == cli_history, (body, cli_history)
            status, _, body = get(base, tok["city-a"], "policy")  # the token's own tenant
            assert status == 200 and body == cli_policy, body
            status, _, body = get(base, tok["city-a"], "history", rule="r-2", limit="1")
            assert status == 200 and [x["action"] for x in json_lines(body)] == ["tune"], body
            status, _, body = get(base, tok["city-b"], "policy")
            assert [r["rule"] for r in json_lines(body)] == ["r-3"], body
            # across tenants: 403, and nothing of city-a in the answer
            for what in ("policy", "history"):
                for other in ("city-a", "nosuch", "../city-a", "CITY-A"):
                    status, _, body = get(base, tok["city-b"], what, tenant=other)
                    assert status == 403 and "r-1" not in body, (what, other, status, body)
            # the SOC token must name a tenant that exists
            status, _, body = get(base, tok["soc"], "policy")
            assert status == 400 and "must name the tenant" in body, body
            status, _, body = get(base, tok["soc"], "policy", tenant="nosuch")
            assert status == 404, body
            status, _, body = get(base, tok["soc"], "history", tenant="../x")
            assert status == 400, body
            # authentication, bad parameters, other paths and methods
            status, _, body = get(base, None, "policy", tenant="city-a")
            assert status == 401, body
            for params in ({"limit": "0"}, {"limit": "x"}, {"limit": "100001"},
                           {"rule": "a b"}, {"rule": "a\x00b"}):
                status, _, body = get(base, tok["city-a"], "history", **params)
                assert status == 400, (params, status, body)
            status, _, body = get(base, tok["city-a"], "nothing")
            assert status == 404, body
            status, _, body = api_request(base + "/api/v1/rules/policy", tok["city-a"],
                                          method="POST", data=b"")
            assert status == 405, (status, body)
            # a change made while it runs shows at the next request
            rule(d, "disable", "--tenant", "city-b", "r-4")
            status, _, body = get(base, tok["city-b"], "policy")
            assert [r["rule"] for r in json_lines(body)] == ["r-3", "r-4"], body
        finally:
            assert inst.stop() == 0
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_cli)
    s.run(test_bad_filters_and_usage)
    s.run(test_api)
    s.done()
