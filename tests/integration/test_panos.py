"""PAN-OS decoder end to end: golden files of `koban parse --format panos` (and auto) on
edge cases written for koban (tests/data/parse/panos), the public samples in
../shared/data/samples/panos, and a running `koban serve` that receives PAN-OS logs over
TCP syslog, octet-counted and LF-framed, into the decoded events of its source."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, Suite, check_golden, parse, samples, send_tcp,  # noqa: E402
                      serve_source, spool_lines, tempdir, value)

GOLDEN = os.path.join(DATA, "parse", "panos")
SAMPLES = samples("panos")
ALPHA = "127.0.0.2"


def test_golden():
    """NAME.log -> NAME.json (stdout) and NAME.err (stderr); auto-*.log run with --format auto.
    KOBAN_UPDATE_GOLDEN=1 rewrites the expected files from the current output."""
    names = sorted(n[:-4] for n in os.listdir(GOLDEN) if n.endswith(".log"))
    assert len(names) >= 10, names
    update = os.environ.get("KOBAN_UPDATE_GOLDEN") == "1"
    for name in names:
        fmt = "auto" if name.startswith("auto-") else "panos"
        p = parse(["--format", fmt, "--tz", "Asia/Tokyo", name + ".log"], GOLDEN)
        events = check_golden(p, GOLDEN, name, update)
        with open(os.path.join(GOLDEN, name + ".log")) as f:
            lines = [line for line in f.read().split("\n") if line]
        assert len(events) == len(lines), name  # one event per line, failed ones too
        for e in events:
            assert e["ecs"]["version"] == "8.17.0"
            if name == "errors":
                assert e["event"]["kind"] == "pipeline_error", e
                assert e["message"] == e["event"]["original"], e
            elif e["event"]["dataset"].startswith("panos"):  # auto-mixed: others' lines too
                assert e["event"]["module"] == "panos", e
                assert e["event"]["dataset"] == "panos." + name.split("-")[0] or \
                    name.startswith("auto-"), (name, e["event"]["dataset"])
                assert e["observer"]["vendor"] == "Palo Alto Networks", e
                assert e["event"]["original"] in lines, e


def test_samples():
    """Every public sample line decodes as the type its file holds (exact counts)."""
    want = {"traffic.log": (4, "panos.traffic"), "threat-url.log": (2, "panos.threat"),
            "threat-vuln-wildfire-spyware.log": (5, "panos.threat"),
            "threat-ietf-octet-counted.log": (1, "panos.threat"),
            "system.log": (2, "panos.system"), "config.log": (3, "panos.config"),
            "globalprotect.log": (3, "panos.globalprotect"), "userid.log": (2, "panos.userid"),
            "authentication.log": (1, "panos.authentication"),
            "decryption.log": (1, "panos.decryption")}
    d = tempdir()
    try:
        for name, (count, dataset) in sorted(want.items()):
            p = parse(["--format", "auto", "--tz", "Asia/Tokyo", os.path.join(SAMPLES, name)], d)
            assert p.returncode == 0, (name, p.stderr)
            events = [json.loads(line) for line in p.stdout.splitlines()]
            assert [e["event"]["dataset"] for e in events] == [dataset] * count, (name, events)
        p = parse(["--format", "panos", os.path.join(SAMPLES, "traffic.log")], d)
        first = json.loads(p.stdout.splitlines()[0])
        assert first["source"]["ip"] == "192.168.15.207", first
        assert first["source"]["nat"] == {"ip": "192.168.1.63", "port": 16418}, first
        assert first["destination"]["port"] == 443, first
        assert first["network"]["bytes"] == 7734 and first["source"]["bytes"] == 1758, first
        assert first["panos"]["sessionid"] == "22751", first
        assert first["event"]["reason"] == "tcp-fin", first
        assert first["observer"]["hostname"] == "PA-220", first
        p = parse(["--format", "panos", os.path.join(SAMPLES, "threat-vuln-wildfire-spyware.log")], d)
        wildfire = json.loads(p.stdout.splitlines()[2])
        assert wildfire["file"]["hash"]["sha256"].startswith("9e5c336d886db943"), wildfire
        assert wildfire["panos"]["reportid"] == "11069273395", wildfire
        assert wildfire["panos"]["threat"]["name"] == "Windows Dynamic Link Library (DLL)"
        # the LEEF and CEF lines of the PAN-OS folder are not PAN-OS CSV: auto leaves them
        p = parse(["--format", "auto", os.path.join(SAMPLES, "leef-and-cef.log")], d)
        assert all(json.loads(line)["event"]["dataset"] != "panos.traffic"
                   for line in p.stdout.splitlines())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def frames(lines):
    """RFC 6587 octet counting, as PAN-OS sends over TCP and TLS."""
    return b"".join(b"%d %s" % (len(line), line) for line in lines)


def test_serve_tcp():
    """A source with --format panos: octet-counted and LF-framed TCP messages all arrive decoded."""
    d = tempdir()
    try:
        with open(os.path.join(GOLDEN, "traffic.log"), "rb") as f:
            traffic = [line for line in f.read().split(b"\n") if line and b"<" in line[:1]]
        with open(os.path.join(GOLDEN, "threat.log"), "rb") as f:
            threat = [line for line in f.read().split(b"\n") if line]
        k = serve_source(d, "fw", ALPHA, "panos", ["--tz", "Asia/Tokyo"],
                         config="clock_skew_max: 0\n")
        send_tcp(k, ALPHA, frames(traffic * 50))
        send_tcp(k, ALPHA, b"".join(line + b"\n" for line in threat * 20) +
                 b"not a PAN-OS line\n")
        total = len(traffic) * 50 + len(threat) * 20 + 1
        m = k.wait_settled(expect_total=total)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == total - 1
        assert value(m, "koban_events_parse_failed_total", tenant="alpha") == 1
        assert k.stop() == 0
        events = spool_lines(d, "alpha")
        assert len(events) == total, len(events)
        datasets = [e["event"]["dataset"] for e in events]
        assert datasets.count("panos.traffic") == len(traffic) * 50
        assert datasets.count("panos.threat") == len(threat) * 20
        assert sum(e["event"]["kind"] == "alert" for e in events) == len(threat) * 20
        bad = [e for e in events if e["event"]["kind"] == "pipeline_error"]
        assert len(bad) == 1 and "no PAN-OS log" in bad[0]["error"]["message"], bad
        for e in events:
            assert e["organization"]["id"] == "alpha", e
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_golden)
    s.run_with_path(SAMPLES, test_samples)
    s.run(test_serve_tcp)
    s.done()
