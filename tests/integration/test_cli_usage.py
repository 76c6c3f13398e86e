"""Commands that behave alike: help for every command and sub-command, --version, -c before
or after the command and KOBAN_CONFIG, usage errors that say what was wrong (exit 2),
tenant export/import round trips."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import KOBAN, Suite, run, tempdir  # noqa: E402

VERBS = {
    "tenant": ["add", "list", "show", "remove", "export", "import"],
    "source": ["add", "list", "remove", "test", "unassigned"],
    "config": ["check", "example"],
    "store": ["stats", "verify", "retain"],
    "key": ["init"],
}


def test_help_everywhere():
    d = tempdir()
    try:
        status, out, err = run([], d, check=False)
        assert status == 2 and "usage: koban" in err and "commands:" in err, (status, err)
        for args in (["--help"], ["-h"], ["help"]):
            _, out, _ = run(args, d)
            assert "commands:" in out, out
        _, out, _ = run(["--version"], d)
        assert out.startswith("koban "), out
        _, out2, _ = run(["version"], d)
        assert out == out2
        for cmd in ("serve", "parse", "config", "tenant", "source"):
            _, a, _ = run(["help", cmd], d)
            _, b, _ = run([cmd, "--help"], d)
            assert a == b and a.startswith("usage: koban " + cmd), (cmd, a, b)
        for cmd, verbs in VERBS.items():
            for verb in verbs:
                _, a, _ = run(["help", cmd, verb], d)
                _, b, _ = run([cmd, verb, "--help"], d)
                _, c, _ = run([cmd, "help", verb], d)
                assert a == b == c, (cmd, verb, a, b, c)
                assert a.startswith("usage: koban %s %s" % (cmd, verb)), a
        # help did not create a data directory
        assert not os.path.exists(os.path.join(d, "var")), os.listdir(d)
    finally:
        shutil.rmtree(d)


def usage_error(d, args, message):
    status, out, err = run(args, d, check=False)
    assert status == 2, (args, status, out, err)
    assert message in err, (args, err)
    assert "usage: koban" in err, (args, err)


def test_usage_errors_exit_2_and_say_why():
    d = tempdir()
    try:
        usage_error(d, ["tenant"], "missing sub-command")
        usage_error(d, ["tenant", "frobnicate"], "unknown sub-command 'frobnicate'")
        usage_error(d, ["source", "--bogus", "list"], "unknown option '--bogus'")
        usage_error(d, ["tenant", "add"], "missing NAME")
        usage_error(d, ["tenant", "add", "a", "b"], "unexpected argument 'b'")
        usage_error(d, ["tenant", "add", "a", "--bogus"], "unknown option '--bogus'")
        usage_error(d, ["tenant", "add", "a", "-x"], "unknown option '-x'")
        usage_error(d, ["tenant", "list", "-c"], "option '-c' needs a value")
        usage_error(d, ["tenant", "export", "--yaml", "--yaml"], "repeated option '--yaml'")
        usage_error(d, ["tenant", "import"], "missing FILE")
        usage_error(d, ["tenant", "export", "--yaml=yes"], "option '--yaml' takes no value")
        usage_error(d, ["source", "add", "s", "--tenant", "t", "--cidr", "10.0.0.0/8",
                        "--cidr", "10.1.0.0/16"], "repeated option '--cidr'")
        usage_error(d, ["source", "add", "s", "--tenant", "t", "--cidr"],
                    "option '--cidr' needs a value")
        usage_error(d, ["source", "add", "s", "--cidr", "10.0.0.0/8"], "missing option '--tenant'")
        usage_error(d, ["source", "list", "extra"], "unexpected argument 'extra'")
        usage_error(d, ["source", "test"], "missing option '--ip'")
        usage_error(d, ["source", "test", "--ip", "300.1.1.1"], "--ip '300.1.1.1'")
        usage_error(d, ["source", "unassigned", "--top", "0"], "--top '0'")
        usage_error(d, ["serve", "--syslog-udp", "127.0.0.1:0", "--syslog-udp", "127.0.0.1:0"],
                    "repeated option '--syslog-udp'")
        usage_error(d, ["serve", "--nope"], "unknown option '--nope'")
        usage_error(d, ["parse", "--format"], "option '--format' needs a value")
        usage_error(d, ["parse", "a", "b"], "unexpected argument 'b'")
        usage_error(d, ["config", "check"], "missing FILE")
        usage_error(d, ["config", "nope"], "unknown sub-command 'nope'")
        usage_error(d, ["-c", "a.yaml", "tenant", "list", "-c", "b.yaml"], "repeated option '-c'")
        usage_error(d, ["help", "nope"], "unknown command 'nope'")
        status, _, err = run(["--bogus"], d, check=False)
        assert status == 2 and "unknown option '--bogus'" in err, err
        status, _, err = run(["nope"], d, check=False)
        assert status == 2 and "unknown command 'nope'" in err, err
    finally:
        shutil.rmtree(d)


def test_config_before_or_after_and_from_the_environment():
    d = tempdir()
    try:
        with open(os.path.join(d, "k.yaml"), "w") as f:
            f.write("data_dir: ./other\n")
        run(["-c", "k.yaml", "tenant", "add", "one"], d)
        run(["tenant", "-c", "k.yaml", "add", "two"], d)
        run(["tenant", "add", "three", "-c", "k.yaml"], d)
        run(["tenant", "add", "--config=k.yaml", "four"], d)
        env = dict(os.environ, KOBAN_CONFIG=os.path.join(d, "k.yaml"))
        p = subprocess.run([KOBAN, "tenant", "list"], cwd=d, env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        for name in ("one", "two", "three", "four"):
            assert "\n" + name + " " in p.stdout, p.stdout
        assert not os.path.exists(os.path.join(d, "var")), "a -c was ignored somewhere"
        # the database is named when a tenant is missing
        status, _, err = run(["-c", "k.yaml", "tenant", "show", "nobody"], d, check=False)
        assert status == 1 and "no tenant 'nobody' in ./other/koban.db" in err, err
        status, _, err = run(["tenant", "remove", "nobody"], d, check=False)
        assert status == 1 and "./var/koban.db" in err, err
        # a name in an error is escaped
        status, _, err = run(["tenant", "add", "bad'\x1b[31m"], d, check=False)
        assert status == 1 and "\\x27" in err and "\x1b" not in err, repr(err)
        # the config error for a tenants: key points at import
        with open(os.path.join(d, "t.yaml"), "w") as f:
            f.write("tenants:\n  - name: a\n")
        status, _, err = run(["config", "check", "t.yaml"], d, check=False)
        assert status == 1 and "unknown key 'tenants'" in err and "koban tenant import" in err, err
    finally:
        shutil.rmtree(d)


def export(d, *extra):
    return run(["tenant", "export"] + list(extra), d)[1]


def test_export_import_round_trip():
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        run(["tenant", "add", "city-b"], d)
        run(["source", "add", "fw-a", "--tenant", "city-a", "--cidr", "10.1.0.0/16",
             "--format", "rfc3164", "--tz", "Asia/Tokyo"], d)
        run(["source", "add", "rtr-b", "--tenant", "city-b", "--host", "rtr.b", "--listener", "tcp"], d)
        js = export(d)
        doc = json.loads(js)
        assert [t["name"] for t in doc["tenants"]] == ["city-a", "city-b"], doc
        assert doc["tenants"][0]["sources"] == [{"name": "fw-a", "cidr": "10.1.0.0/16",
                                                 "format": "rfc3164", "tz": "Asia/Tokyo"}], doc
        yml = export(d, "--yaml")
        for name, text in (("t.json", js), ("t.yaml", yml)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        # a fresh data directory gets the same tenants from either file
        for name in ("t.json", "t.yaml"):
            e = tempdir()
            try:
                shutil.copy(os.path.join(d, name), e)
                _, out, _ = run(["tenant", "import", name, "--dry-run"], e)
                assert "+ tenant city-a" in out and "+ source fw-a (tenant city-a)" in out, out
                assert "dry run: 4 changes, nothing written" in out, out
                assert not json.loads(export(e))["tenants"], "dry run wrote"
                _, out, _ = run(["tenant", "import", name], e)
                assert "4 changes written" in out, out
                assert export(e) == js, (export(e), js)
                _, out, _ = run(["tenant", "import", name], e)
                assert out.startswith("no changes"), out
            finally:
                shutil.rmtree(e)
        # edits: a changed CIDR, a new tenant, a source gone; the diff says each
        doc["tenants"][0]["sources"][0]["cidr"] = "10.0.0.0/15"
        doc["tenants"][1]["sources"] = []
        doc["tenants"].append({"name": "city-c", "sources": [{"name": "fw-c", "cidr": "10.3.0.0/16"}]})
        with open(os.path.join(d, "new.json"), "w") as f:
            json.dump(doc, f)
        _, out, _ = run(["tenant", "import", "new.json", "--dry-run"], d)
        assert "~ source fw-a (tenant city-a): cidr 10.1.0.0/16 -> 10.0.0.0/15" in out, out
        assert "+ tenant city-c" in out and "+ source fw-c (tenant city-c): cidr 10.3.0.0/16" in out
        assert "source rtr-b (tenant city-b) is not in the file: kept" in out, out
        assert "dry run: 3 changes" in out, out
        _, out, _ = run(["tenant", "import", "new.json", "--prune"], d)
        assert "- source rtr-b (tenant city-b)" in out and "4 changes written" in out, out
        _, out, _ = run(["tenant", "import", "new.json", "--prune"], d)
        assert out.startswith("no changes"), out
        # mistakes name the line; nothing is written
        with open(os.path.join(d, "bad.yaml"), "w") as f:
            f.write("tenants:\n  - name: ok\n  - name: x\n    sources:\n"
                    "      - name: s\n        cidr: 10.0.0.0/99\n")
        status, _, err = run(["tenant", "import", "bad.yaml"], d, check=False)
        assert status == 1 and "bad.yaml:5:" in err and "10.0.0.0/99" in err, err
        with open(os.path.join(d, "bad2.yaml"), "w") as f:
            f.write("tenants:\n  - name: ok\n    colour: red\n")
        status, _, err = run(["tenant", "import", "bad2.yaml"], d, check=False)
        assert status == 1 and "bad2.yaml:3:" in err and "colour" in err, err
        with open(os.path.join(d, "bad3.yaml"), "w") as f:
            f.write("tenants:\n  - name: ok\n    sources:\n      - {name: z, host: h, tz: Mars/Base}\n")
        status, _, err = run(["tenant", "import", "bad3.yaml"], d, check=False)
        assert status == 1 and "bad3.yaml:4:" in err and "Mars/Base" in err, err
        assert "\"ok\"" not in export(d)
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_help_everywhere)
    s.run(test_usage_errors_exit_2_and_say_why)
    s.run(test_config_before_or_after_and_from_the_environment)
    s.run(test_export_import_round_trip)
    s.done()
