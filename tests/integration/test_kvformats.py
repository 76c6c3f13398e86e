"""CEF, LEEF and A10: golden files driven by `koban parse --format F` (tests/data/parse/cef,
leef, a10 and auto, written by hand), and the same decoders behind a running `koban serve`:
sources with a format of their own, a per-source LEEF delimiter from the configuration,
exact counts of decoded and failed events.

KOBAN_UPDATE_GOLDEN=1 rewrites the expected files from the current output."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (BUILD, DATA, Instance, Suite, check_golden, file_output_config,  # noqa: E402
                      parse, read_or_empty, run, send_lines, spool_lines, tempdir, value)

DIRS = {"cef": "cef", "leef": "leef", "a10": "a10", "auto": "auto"}
PAN_A = "127.0.0.2"
PAN_B = "127.0.0.3"
CGN = "127.0.0.4"


def test_parse_golden():
    update = os.environ.get("KOBAN_UPDATE_GOLDEN") == "1"
    files = 0
    for fmt, sub in DIRS.items():
        d = os.path.join(DATA, "parse", sub)
        for name in sorted(n[:-4] for n in os.listdir(d) if n.endswith(".log")):
            args = ["--format", fmt, "--tz", "Asia/Tokyo", name + ".log"]
            if os.path.exists(os.path.join(d, name + ".yaml")):
                args = ["-c", name + ".yaml"] + args
            events = check_golden(parse(args, d), d, name, update, label=sub + "/" + name)
            want_err = read_or_empty(os.path.join(d, name + ".err"))
            lines = [line for line in read_or_empty(os.path.join(d, name + ".log")).splitlines()
                     if line]
            assert len(events) == len(lines), (sub, name)  # a failed line is an event too
            failed = [e for e in events if e["event"]["kind"] == "pipeline_error"]
            assert len(failed) == len(want_err.splitlines()), (sub, name)
            for e in events:
                if e["event"]["kind"] == "pipeline_error":
                    assert e["message"] == e["event"]["original"], e
                    assert "observer" not in e, e
                elif fmt != "auto":
                    assert e["event"]["dataset"].split(".")[0] in (fmt, "a10"), e
            files += 1
    assert files >= 5, files


def test_auto_says_which_decoder():
    p = parse(["--tz", "Asia/Tokyo", "mixed.log"], os.path.join(DATA, "parse", "auto"))
    datasets = [json.loads(line)["event"]["dataset"] for line in p.stdout.splitlines()]
    assert datasets == ["cef.log", "leef.log", "a10.cgn", "syslog"], datasets


def test_bench_decodes_as_production():
    """bench/decode --format auto reads a failed guess as syslog, as koban parse does."""
    d = tempdir()
    try:
        path = os.path.join(d, "guess.log")
        with open(path, "w") as f:
            f.write("<13>Mar 15 10:00:00 host app: NAT-TCP-C: counter reset\n")
        datasets = [json.loads(line)["event"]["dataset"]
                    for line in parse(["guess.log"], d).stdout.splitlines()]
        assert datasets == ["syslog"], datasets
        p = subprocess.run([os.path.join(BUILD, "bench", "decode"), "--format", "auto",
                            "--seconds", "0.05", path], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        assert "(1 lines, 0 failed, syslog decoder)" in p.stdout, p.stdout
    finally:
        shutil.rmtree(d)


def test_serve_sources_with_formats():
    d = tempdir()
    try:
        run(["tenant", "add", "acme"], d)
        run(["source", "add", "pa-leef", "--tenant", "acme", "--cidr", PAN_A + "/32",
             "--format", "leef"], d)
        run(["source", "add", "pa-other", "--tenant", "acme", "--cidr", PAN_B + "/32",
             "--format", "leef"], d)
        run(["source", "add", "cgn", "--tenant", "acme", "--cidr", CGN + "/32",
             "--format", "a10", "--tz", "UTC"], d)
        cfg = file_output_config(d, "decoders:\n  leef:\n    delimiter: \"^\"\n"
                                    "    sources:\n      pa-leef: \"|\"\n")
        leef = "<14>Mar 15 12:00:00 pa LEEF:1.0|Palo Alto Networks|PAN-OS|11.1|allow|" \
               "src=10.0.0.1|RuleName=r1^x|dst=10.0.0.2"
        cgn = ["<134>Mar 15 12:00:00 cgn NAT-TCP-C: 100.64.0.1:1000<-->203.0.113.1:2000 "
               "to 198.51.100.1:443",
               "10.0.0.9 - - Sun Mar 15 12:00:09 2026 \"GET / HTTP/1.1\" 10 \"-\" \"ua\" vs:80",
               "<134>Mar 15 12:00:00 cgn CEF:0|A10|CFW|6.0|CGN 101|Nat Port Freed|5|proto=TCP",
               "<134>Mar 15 12:00:00 cgn NAT-TCP-C: broken"]
        k = Instance(d, cfg)
        send_lines(k, PAN_A, [leef])
        send_lines(k, PAN_B, [leef])
        send_lines(k, CGN, cgn)
        m = k.wait_settled(expect_total=6)
        assert value(m, "koban_events_parsed_total", tenant="acme") == 5
        assert value(m, "koban_events_parse_failed_total", tenant="acme") == 1
        assert value(m, "koban_decoder_values_dropped_total", decoder="cef") == 0
        assert k.stop() == 0
        events = spool_lines(d, "acme")
        assert len(events) == 6, events
        by_ip = {}
        for e in events:
            by_ip.setdefault(e["koban"]["log"]["source"]["ip"], []).append(e)
        a, b = by_ip[PAN_A][0], by_ip[PAN_B][0]
        # pa-leef splits at '|' (its own setting); pa-other at '^' (the global one)
        assert a["rule"]["name"] == "r1^x" and a["destination"]["ip"] == "10.0.0.2", a
        assert b["leef"]["src"] == "10.0.0.1|RuleName=r1" and "rule" not in b, b
        got = sorted((e["event"]["dataset"], e["event"]["kind"]) for e in by_ip[CGN])
        assert got == [("a10.cgn", "event"), ("a10.cgn", "event"), ("a10.cgn", "pipeline_error"),
                       ("a10.http", "event")], got
        http = [e for e in by_ip[CGN] if e["event"]["dataset"] == "a10.http"][0]
        assert http["@timestamp"] == "2026-03-15T12:00:09Z", http  # the source's zone: UTC
        bad = [e for e in by_ip[CGN] if e["event"]["kind"] == "pipeline_error"][0]
        assert bad["error"]["message"].startswith("offset 36: A10 CGN: expected an address"), bad
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_bad_delimiter_stops_the_start():
    d = tempdir()
    try:
        cfg = os.path.join(d, "koban.yaml")
        with open(cfg, "w") as f:
            f.write("data_dir: ./var\ndecoders:\n  leef:\n    delimiter: two\n")
        p = parse(["-c", cfg, "-"], d, input="x\n")
        assert p.returncode != 0, p
        assert "koban.yaml:4: decoders.leef.delimiter: 'two' is not a delimiter" in p.stderr, \
            p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_parse_golden)
    s.run(test_auto_says_which_decoder)
    s.run(test_bench_decodes_as_production)
    s.run(test_serve_sources_with_formats)
    s.run(test_bad_delimiter_stops_the_start)
    s.done()
