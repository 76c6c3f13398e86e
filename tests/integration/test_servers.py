"""The server-log decoders (squid, combined, bind, unbound, postfix, json) through `koban
parse` and `koban serve`: golden files of edge cases, the public samples in
../shared/data/samples (exact counts and key fields), auto detection, per-source JSON field
maps and Postfix queue-id correlation in a running daemon.

Golden files: tests/data/parse/FORMAT/NAME.log, whose first line "#! format=F tz=Z
now=EPOCH [config=FILE]" gives the options; NAME.json is the expected standard output and
NAME.err the expected standard error (absent: none). KOBAN_UPDATE_GOLDEN=1 rewrites them.
"""
import json
import os
import shutil
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, PARSE_NOW, Instance, Suite, run, samples, spool_lines,  # noqa: E402
                      tempdir, value)
from kobanlib import parse as koban_parse  # noqa: E402

FORMATS = ["squid", "combined", "bind", "unbound", "postfix", "json"]
SAMPLES = samples("generic")


def parse(args, cwd, now=PARSE_NOW, input=None, tz="Asia/Tokyo"):
    return koban_parse(["--tz", tz] + args, cwd, input, now)


def golden_case(fmt, name):
    d = os.path.join(DATA, "parse", fmt)
    with open(os.path.join(d, name + ".log")) as f:
        head, body = f.read().split("\n", 1)
    assert head.startswith("#! "), head
    opts = dict(kv.split("=", 1) for kv in head[3:].split())
    args = ["--format", opts["format"]]
    if "config" in opts:
        args = ["-c", opts["config"]] + args
    p = parse(args + ["-"], d, now=opts["now"], input=body, tz=opts["tz"])
    paths = [os.path.join(d, name + ext) for ext in (".json", ".err")]
    if os.environ.get("KOBAN_UPDATE_GOLDEN"):
        for path, text in zip(paths, (p.stdout, p.stderr)):
            if text:
                with open(path, "w") as f:
                    f.write(text)
            elif os.path.exists(path):
                os.remove(path)
    want = [open(path).read() if os.path.exists(path) else "" for path in paths]
    assert p.stdout == want[0], "%s/%s.json differs:\n%s" % (fmt, name, p.stdout)
    assert p.stderr == want[1], "%s/%s.err differs:\n%s" % (fmt, name, p.stderr)
    assert p.returncode == (1 if want[1] else 0), (fmt, name, p.returncode)
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(events) == body.count("\n"), (fmt, name, len(events))
    for e in events:
        assert e["ecs"]["version"] == "8.17.0" and "original" in e["event"], e
        assert ("error" in e) == (e["event"]["kind"] == "pipeline_error"), e
    return events


def test_golden():
    for fmt in FORMATS:
        names = sorted(n[:-4] for n in os.listdir(os.path.join(DATA, "parse", fmt))
                       if n.endswith(".log"))
        assert names, fmt
        for name in names:
            golden_case(fmt, name)


def test_golden_key_fields():
    """What the golden files exist to show, asserted so a regenerated file cannot hide it."""
    pf = golden_case("postfix", "edge")
    sent = pf[5]
    assert sent["email"] == {"from": {"address": ["alice@example.com"]},
                             "local_id": "4F1A2B3C4D",
                             "message_id": "20260315.abc@example.com",
                             "subject": "Report from the team",
                             "to": {"address": ["bob@example.org"]}}, sent
    assert sent["source"]["ip"] == "192.0.2.30" and sent["user"]["name"] == "alice", sent
    assert sent["event"]["outcome"] == "success" and sent["postfix"]["size"] == 2048, sent
    assert "source" not in pf[6] and "message_id" not in pf[6]["email"], pf[6]  # mx2: not mx1's
    assert pf[7]["email"]["message_id"] == "20260315.abc@example.com", pf[7]
    assert pf[8]["event"]["action"] == "removed"
    assert "message_id" not in pf[9]["email"], pf[9]  # forgotten after "removed"
    assert pf[10]["event"]["outcome"] == "failure" and pf[10]["source"]["ip"] == "203.0.113.66"
    assert pf[14]["event"]["kind"] == "pipeline_error"
    sq = golden_case("squid", "edge")
    assert sq[0]["user"] == {"domain": "CORP", "name": "alice"}, sq[0]
    assert sq[0]["url"]["port"] == 8080 and sq[0]["url"]["query"] == "x=1&y=2", sq[0]
    assert sq[1]["event"]["type"] == ["access", "denied"], sq[1]
    assert [e["event"]["kind"] for e in sq[5:]] == ["pipeline_error"] * 4
    # the quote of a long token is cut at a character's boundary (13 of 14)
    assert sq[8]["error"]["message"] == "offset 49: BYTES '%s' is not a number" % ("あ" * 13)
    web = golden_case("combined", "edge")
    assert web[1]["user_agent"]["original"] == 'Mozilla/5.0 "quoted" agent', web[1]
    assert web[4]["destination"] == {"address": "www.example.com", "domain": "www.example.com",
                                     "port": 443}, web[4]
    assert web[3]["weblog"]["request"] == "\\x16\\x03\\x01\\x00\\xa5", web[3]
    assert web[4]["weblog"]["x_forwarded_for"] == "203.0.113.5", web[4]  # nginx "main"
    assert [e["event"]["kind"] for e in web[7:]] == ["pipeline_error"] * 3
    dns = golden_case("bind", "edge")
    assert dns[0]["bind"]["view"] == "internal" and dns[0]["@timestamp"] == "2026-03-15T02:59:00.123Z"
    assert dns[4]["event"]["dataset"] == "bind.log", dns[4]
    ub = golden_case("unbound", "edge")
    assert ub[1]["dns"]["response_code"] == "NXDOMAIN" and ub[1]["event"]["duration"] == 12345000
    assert ub[2]["dns"]["question"]["name"] == ".", ub[2]
    js = golden_case("json", "edge")
    assert js[0]["source"] == {"ip": "192.0.2.40", "port": 5353} and js[0]["tags"] == ["a", "b"]
    # names outside ECS are string fields: true is written as its JSON text
    assert js[0]["app"] == {"name": "caf\u00e9", "ok": "true", "pod": "web-1"}, js[0]


def sample(name):
    return os.path.join(SAMPLES, name)


def events_of(args, path):
    p = parse(args + [path], os.path.dirname(path))
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_shared_samples():
    """Every public sample line decodes, with its format given and with auto detection."""
    cases = [("squid-access-native.log", "squid", "squid.access", 6),
             ("nginx-access-combined.log", "combined", "weblog.access", 4),
             ("bind-query.log", "bind", "bind.query", 6),
             ("unbound-query-reply.log", "unbound", None, 5)]
    for name, fmt, dataset, n in cases:
        for args in (["--format", fmt], []):
            evs = events_of(args, sample(name))
            assert len(evs) == n, (name, args, len(evs))
            assert all(e["event"]["kind"] == "event" for e in evs), (name, evs)
            assert all(e["event"]["module"] in (fmt, "weblog") for e in evs), (name, evs)
            if dataset:
                assert all(e["event"]["dataset"] == dataset for e in evs), (name, evs)
    sq = events_of(["--format", "squid"], sample("squid-access-native.log"))
    assert [e["http"]["response"].get("status_code") for e in sq] == [200, 200, 200, 407, 407, 200]
    assert sq[0]["url"]["domain"] == "login.yahoo.com" and sq[0]["destination"]["ip"] == "175.16.199.115"
    assert sq[0]["@timestamp"] == "2006-09-08T04:21:52.049Z" and sq[0]["event"]["duration"] == 5006000000
    web = events_of(["--format", "combined"], sample("nginx-access-combined.log"))
    assert [e["http"]["response"]["status_code"] for e in web] == [200, 404, 304, 206]
    assert web[3]["destination"]["domain"] == "lessons.example.com" and web[3]["source"]["ip"] == "192.168.0.1"
    assert web[3]["@timestamp"] == "2020-06-09T19:10:39Z"
    bind = events_of(["--format", "bind"], sample("bind-query.log"))
    assert [e["dns"]["question"]["type"] for e in bind] == ["AAAA", "AAAA", "A", "AAAA", "AAAA", "PTR"]
    assert bind[1]["network"]["transport"] == "tcp" and bind[0]["source"]["port"] == 55575
    ub = events_of(["--format", "unbound"], sample("unbound-query-reply.log"))
    assert [e["event"]["dataset"] for e in ub] == ["unbound.reply", "unbound.reply", "unbound.query",
                                                 "unbound.reply", "unbound.reply"]
    assert [e["dns"].get("response_code") for e in ub] == ["NOERROR", "NXDOMAIN", None, "NOERROR",
                                                           "NOERROR"]
    assert ub[4]["@timestamp"] == "2020-12-15T14:56:30Z" and ub[1]["unbound"]["from_cache"] is True
    pf = events_of(["--format", "postfix"], sample("postfix-msg-bodies.log"))
    assert len(pf) == 5 and all(e["event"]["kind"] == "event" for e in pf)
    assert [e["email"].get("local_id") for e in pf[1:]] == ["2298F5F619", "11FDF5F62A", "3D770111AF50",
                                                            "3D770111AF50"]
    assert [e["event"].get("outcome") for e in pf[1:4]] == ["unknown", "unknown", "failure"]
    assert pf[4]["email"]["subject"] == "Manquants LASTNAME GB Nouvelle version", pf[4]


def test_auto_mixed_file():
    """auto picks each line's format on its own; JSON lines are never sniffed as json."""
    lines = [
        "1773543000.123    250 192.0.2.10 TCP_MISS/200 5120 GET http://a.example/ - DIRECT/198.51.100.7 text/html",
        '192.0.2.1 - - [15/Mar/2026:11:00:00 +0900] "GET / HTTP/1.1" 200 1 "-" "-"',
        "<30>Mar 15 11:59:02 ns1 named[1234]: client 192.0.2.55#1234 (a.example): query: a.example IN A + (192.0.2.1)",
        "Mar 15 11:58:22 dns2 unbound: [2001:0] info: 192.0.2.21 a.example. A IN",
        "<22>Mar 15 11:00:00 mx1 postfix/smtpd[100]: connect from c.example[192.0.2.30]",
        '{"src":"192.0.2.40"}',
        "<13>Mar 15 11:00:00 host app: plain text",
    ]
    d = tempdir()
    try:
        p = parse(["-"], d, input="\n".join(lines) + "\n")
        assert p.returncode == 0, p.stderr
        got = [json.loads(line)["event"]["dataset"] for line in p.stdout.splitlines()]
        assert got == ["squid.access", "weblog.access", "bind.query", "unbound.query", "postfix.log",
                       "syslog", "syslog"], got
    finally:
        shutil.rmtree(d, ignore_errors=True)


def send_tcp(k, lines):
    host, port = k.listeners["tcp"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.sendall("".join(line + "\n" for line in lines).encode())
    s.close()


def test_serve_json_map_per_source_and_postfix():
    """A running daemon decodes with each source's format: json with that source's own map,
    postfix with correlation (its metrics counted); a failed line is kept and counted."""
    d = tempdir()
    try:
        run(["tenant", "add", "alpha"], d)
        run(["source", "add", "app", "--tenant", "alpha", "--cidr", "127.0.0.1/32",
             "--format", "json"], d)
        cfg = os.path.join(d, "koban.yaml")
        with open(cfg, "w") as f:
            f.write("data_dir: ./var\noutput:\n  file: true\ntimezone: Asia/Tokyo\n"
                    "decoders:\n  json:\n    app:\n      fields: { who: user.name, n: event.sequence }\n"
                    "      timestamp: at\n    default:\n      fields: { who: host.name }\n")
        k = Instance(d, cfg)
        lines = ['{"who":"alice","n":3,"at":"2026-03-15T03:00:00Z"}', '{"who":"bob","n":"x"}']
        send_tcp(k, lines)
        m = k.wait_settled(expect_total=2)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == 1, m
        assert value(m, "koban_events_parse_failed_total", tenant="alpha") == 1, m
        assert value(m, "koban_postfix_queue_ids") == 0, m
        assert k.stop() == 0
        evs = spool_lines(d, "alpha")
        assert len(evs) == 2, evs
        assert evs[0]["user"]["name"] == "alice" and evs[0]["event"]["sequence"] == 3, evs[0]
        assert evs[0]["@timestamp"] == "2026-03-15T03:00:00Z" and "host" not in evs[0], evs[0]
        assert evs[1]["event"]["kind"] == "pipeline_error", evs[1]
        assert "field event.sequence" in evs[1]["error"]["message"], evs[1]

        run(["source", "remove", "app", "--tenant", "alpha"], d)
        run(["source", "add", "mail", "--tenant", "alpha", "--cidr", "127.0.0.1/32",
             "--format", "postfix"], d)
        k = Instance(d, cfg)
        send_tcp(k, [
            "<22>Mar 15 11:00:01 mx1 postfix/smtpd[1]: 0A1B2C3D4E: client=c.example[192.0.2.30]",
            "<22>Mar 15 11:00:02 mx1 postfix/qmgr[2]: 0A1B2C3D4E: from=<a@example.com>, size=10, nrcpt=1 (queue active)",
            "<22>Mar 15 11:00:03 mx1 postfix/smtp[3]: 0A1B2C3D4E: to=<b@example.org>, relay=none, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)",
        ])
        m = k.wait_settled(expect_total=3)
        assert value(m, "koban_postfix_queue_ids") == 1, m
        assert value(m, "koban_postfix_queue_ids_dropped_total", reason="full") == 0, m
        assert k.stop() == 0
        evs = spool_lines(d, "alpha")[2:]
        assert len(evs) == 3, evs
        assert evs[2]["email"]["from"]["address"] == ["a@example.com"], evs[2]
        assert evs[2]["source"]["ip"] == "192.0.2.30", evs[2]
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_golden)
    s.run(test_golden_key_fields)
    s.run_with_path(SAMPLES, test_shared_samples)
    s.run(test_auto_mixed_file)
    s.run(test_serve_json_map_per_source_and_postfix)
    s.done()
