"""The koban command line in an empty folder: help, config check/example, tenants and
sources (including an attempt to cross tenants), parse."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import DATA, Suite, run, tempdir  # noqa: E402


def test_help_lists_commands():
    d = tempdir()
    try:
        _, out, _ = run(["help"], d)
        for cmd in ("serve", "parse", "config", "tenant", "source"):
            assert "  " + cmd in out, out
        status, _, err = run(["no-such-command"], d, check=False)
        assert status == 2 and "unknown command" in err
    finally:
        shutil.rmtree(d)


def test_config_example_checks_and_errors_name_the_line():
    d = tempdir()
    try:
        _, example, _ = run(["config", "example"], d)
        with open(os.path.join(d, "k.yaml"), "w") as f:
            f.write(example)
        run(["config", "check", "k.yaml"], d)
        with open(os.path.join(d, "bad.yaml"), "w") as f:
            f.write("data_dir: ./var\nlog_level: info\nsyslg:\n  x: 1\n")
        status, _, err = run(["config", "check", "bad.yaml"], d, check=False)
        assert status == 1 and "bad.yaml:3" in err and "syslg" in err, err
        status, _, err = run(["tenant", "list", "-c", "bad.yaml"], d, check=False)
        assert status == 1 and "bad.yaml:3" in err, err
    finally:
        shutil.rmtree(d)


def test_tenants_and_sources():
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        run(["tenant", "add", "city-b"], d)
        assert os.path.exists(os.path.join(d, "var", "koban.db")), "data not under ./var"
        status, _, err = run(["tenant", "add", "city-a"], d, check=False)
        assert status == 1 and "exists" in err, err
        status, _, err = run(["tenant", "add", "Bad Name"], d, check=False)
        assert status == 1 and "Bad Name" in err, err
        status, _, err = run(["tenant", "add", "_unassigned"], d, check=False)
        assert status == 1, err
        run(["source", "add", "fw-a", "--tenant", "city-a", "--cidr", "10.1.0.0/16",
             "--format", "rfc3164", "--tz", "Asia/Tokyo"], d)
        run(["source", "add", "fw-b", "--tenant", "city-b", "--host", "fw-b.example"], d)
        status, _, err = run(["source", "add", "x", "--tenant", "city-a", "--cidr", "10.0.0.0/99"],
                             d, check=False)
        assert status == 1 and "10.0.0.0/99" in err, err
        status, _, err = run(["source", "add", "y", "--tenant", "nobody", "--cidr", "10.9.0.0/16"],
                             d, check=False)
        assert status == 1 and "nobody" in err, err
        status, _, _ = run(["source", "add", "z"], d, check=False)
        assert status == 2
        _, out, _ = run(["tenant", "list"], d)
        assert "city-a" in out and "city-b" in out and "_unassigned" in out, out
        # Isolation: one tenant's view never shows another's sources.
        _, out, _ = run(["source", "list", "--tenant", "city-a"], d)
        assert "fw-a" in out and "fw-b" not in out, out
        _, out, _ = run(["tenant", "show", "city-b"], d)
        assert "fw-b" in out and "fw-a" not in out, out
        run(["tenant", "remove", "city-b"], d)
        _, out, _ = run(["source", "list"], d)
        assert "fw-a" in out and "fw-b" not in out, out
        status, _, err = run(["tenant", "remove", "_unassigned"], d, check=False)
        assert status == 1, err
        # Source names are scoped per tenant: city-c may have its own fw-a.
        run(["tenant", "add", "city-c"], d)
        run(["source", "add", "fw-a", "--tenant", "city-c", "--cidr", "10.3.0.0/16"], d)
        status, _, err = run(["source", "add", "fw-a", "--tenant", "city-c", "--host", "h"], d,
                             check=False)
        assert status == 1 and "already exists in tenant 'city-c'" in err, err
        status, _, err = run(["source", "remove", "fw-a"], d, check=False)
        assert status == 2 and "--tenant" in err, err
        status, _, err = run(["source", "remove", "fw-a", "--tenant", "city-b"], d, check=False)
        assert status == 1 and "no source 'fw-a' in tenant 'city-b'" in err, err
        _, out, _ = run(["source", "remove", "fw-a", "--tenant", "city-a"], d)
        assert "source 'fw-a' of tenant 'city-a' removed" in out, out
        _, out, _ = run(["source", "list", "--tenant", "city-c"], d)
        assert "fw-a" in out and "10.3.0.0/16" in out, out
        _, out, _ = run(["source", "list", "--tenant", "city-a"], d)
        assert "fw-a" not in out, out
    finally:
        shutil.rmtree(d)


def test_parse_prints_ecs_json():
    d = tempdir()
    try:
        sample = os.path.join(DATA, "demo", "sample.log")
        # RFC 3164 stamps are read in the machine's zone: make it Tokyo's
        env_now = dict(os.environ, KOBAN_PARSE_NOW="2026-11-25T12:00:00Z", TZ="Asia/Tokyo")
        import subprocess
        from kobanlib import KOBAN
        p = subprocess.run([KOBAN, "parse", sample], cwd=d, capture_output=True, text=True,
                           env=env_now, timeout=60)
        lines = p.stdout.splitlines()
        with open(sample) as f:
            assert len(lines) == len(f.read().splitlines())
        events = [json.loads(line) for line in lines]
        for line in lines:
            keys = list(json.loads(line).keys())
            assert keys == sorted(keys), keys
        first = events[0]
        assert first["host"]["name"] == "gw-01", first
        assert first["process"]["name"] == "sshd" and first["process"]["pid"] == 2211
        assert first["log"]["syslog"]["priority"] == 38
        assert first["@timestamp"] == "2026-11-25T00:12:01Z", first["@timestamp"]  # JST
        sd = events[6]["log"]["syslog"]["structured_data"]["req@32473"]
        assert sd["path"] == "/wp-login.php", sd
        assert all("original" in e["event"] for e in events)
        # `make demo` replays these lines: each one decodes, and its time is its own stamp's
        # (the sample's morning in Tokyo), none the parse time of a line that failed
        assert p.returncode == 0, p.stderr
        for n, e in enumerate(events, 1):
            assert e["event"]["kind"] != "pipeline_error", (n, e.get("error"))
            assert e["@timestamp"].startswith("2026-11-25T00:1"), (n, e["@timestamp"])
        p = subprocess.run([KOBAN, "parse", "--format", "rfc5424", "-"], cwd=d, input="garbage\n",
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "1" in p.stderr, p.stderr
        garbage = json.loads(p.stdout)
        assert garbage["event"]["original"] == "garbage"
        assert garbage["event"]["kind"] == "pipeline_error" and garbage["error"]["message"]
        # a TZ that names no zone (a POSIX rule) is said, not silently taken as UTC
        p = subprocess.run([KOBAN, "parse", "-"], cwd=d, input="<13>Mar 15 10:00:00 h a: x\n",
                           capture_output=True, text=True, timeout=60,
                           env=dict(env_now, TZ="JST-9"))
        assert p.returncode == 0 and "TZ=JST-9 names no time zone koban knows" in p.stderr, \
            p.stderr
        # a path outside zoneinfo names what /etc/localtime gives anyway: nothing to say
        p = subprocess.run([KOBAN, "parse", "-"], cwd=d, input="<13>Mar 15 10:00:00 h a: x\n",
                           capture_output=True, text=True, timeout=60,
                           env=dict(env_now, TZ=":/etc/localtime"))
        assert p.returncode == 0 and p.stderr == "", p.stderr
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_help_lists_commands)
    s.run(test_config_example_checks_and_errors_name_the_line)
    s.run(test_tenants_and_sources)
    s.run(test_parse_prints_ecs_json)
    s.done()
