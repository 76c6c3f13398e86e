"""ECS fields on every path (decoded, failed, truncated, clock skew): golden files driven by
`koban parse`, and the same fields, counters and events from a running `koban serve`."""
import calendar
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, Suite, check_golden, parse, send_lines,  # noqa: E402
                      serve_source, spool_lines, tempdir, value)

ALPHA = "127.0.0.2"
GOLDEN = os.path.join(DATA, "ecs")


def check_common(e):
    """What every event carries, whatever happened to it."""
    assert e["ecs"]["version"] == "8.17.0", e
    assert e["event"]["kind"] in ("event", "pipeline_error"), e
    assert e["event"]["dataset"] == "syslog", e
    assert "ingested" in e["event"] and "created" in e["event"] and "@timestamp" in e, e
    assert "original" in e["event"], e
    assert ("error" in e) == (e["event"]["kind"] == "pipeline_error"), e
    assert "tenant" not in e, e


def test_parse_golden():
    names = sorted(n[:-4] for n in os.listdir(GOLDEN) if n.endswith(".log"))
    assert names == ["failed", "parsed", "truncated"], names
    for name in names:
        p = parse(["-c", "koban.yaml", name + ".log"], GOLDEN)
        events = check_golden(p, GOLDEN, name, out_ext=".golden")
        for e in events:
            check_common(e)
        if name == "failed":
            assert all(e["event"]["kind"] == "pipeline_error" for e in events)
        if name == "truncated":
            assert [e["log"]["flags"] for e in events] == [["truncated"]] * 2
            assert len(events[0]["event"]["original"]) == 480
            # 480 bytes would split the 150th "あ": the cut leaves it out whole
            assert events[1]["event"]["original"].encode() == \
                ("<13>Mar 15 12:00:01 fw01 app: x" + "あ" * 149).encode()
            assert events[1]["message"] == "x" + "あ" * 149
        if name == "parsed":
            assert [e.get("koban", {}).get("clock_skew_seconds") for e in events] == \
                [None, None, -32400, 7201]


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def bsd_stamp(t, offset):
    s = time.strftime("%b %d %H:%M:%S", time.gmtime(t + offset))
    return s[:4] + (" " + s[5:] if s[4] == "0" else s[4:])


def messages(now):
    return [
        "<34>1 %s fw01 sshd 42 - - Accepted password for alice" % rfc3339(now),
        "<13>%s fw01 app: stamped in Tokyo time" % bsd_stamp(now, 9 * 3600),
        "<13>1 %s host app - - - three hours ahead" % rfc3339(now + 3 * 3600),
        '<13>1 %s h a p m [x y="unterminated] msg' % rfc3339(now),
        "<999>%s fw01 app: PRI out of range" % bsd_stamp(now, 9 * 3600),
        "<13>%s fw01 app: %s" % (bsd_stamp(now, 9 * 3600), "x" * 570),
    ]


def comparable(e):
    """An event without what differs between serve and parse: origin and clock readings."""
    e = json.loads(json.dumps(e))
    for k in ("organization", "koban"):
        e.pop(k, None)
    e.get("log", {}).pop("source", None)
    e["event"].pop("created")
    e["event"].pop("ingested")
    if e["event"]["kind"] == "pipeline_error":
        e.pop("@timestamp")
    if "log" in e and not e["log"]:
        e.pop("log")
    return e


def test_serve_ecs_fields_and_parse_agree():
    d = tempdir()
    try:
        now = int(time.time())
        lines = messages(now)
        k = serve_source(d, "alpha-net", ALPHA, config="timezone: Asia/Tokyo\n"
                         "clock_skew_max: 7200\nsyslog:\n  max_message_size: 480\n")
        cfg = os.path.join(d, "koban.yaml")
        send_lines(k, ALPHA, lines)
        m = k.wait_settled(expect_total=len(lines))
        assert value(m, "koban_events_parsed_total", tenant="alpha") == 4
        assert value(m, "koban_events_parse_failed_total", tenant="alpha") == 2
        assert value(m, "koban_events_clock_skew_total", tenant="alpha", source="alpha-net") == 1
        assert k.stop() == 0
        events = spool_lines(d, "alpha")
        assert len(events) == len(lines), events
        for e in events:
            check_common(e)
            assert e["organization"] == {"id": "alpha", "name": "alpha"}, e
            assert e["log"]["source"]["address"].startswith(ALPHA + ":"), e
            assert e["koban"]["log"]["source"]["ip"] == ALPHA, e
        by_text = {e["event"]["original"]: e for e in events}
        assert by_text[lines[2]]["koban"]["clock_skew_seconds"] >= 3 * 3600 - 5
        assert "clock_skew_seconds" not in by_text[lines[1]]["koban"]
        assert by_text[lines[3]]["event"]["kind"] == "pipeline_error"
        assert "PARAM-VALUE" in by_text[lines[3]]["error"]["message"]
        cut = by_text[lines[5][:480]]
        assert cut["log"]["flags"] == ["truncated"], cut
        # koban parse runs the same pipeline: the same event for the same bytes
        p = parse(["-c", cfg, "-"], d, "".join(line + "\n" for line in lines), now=str(now))
        assert p.returncode == 1, p.stderr
        parsed = {e["event"]["original"]: e for e in map(json.loads, p.stdout.splitlines())}
        assert set(parsed) == set(by_text), (set(parsed) ^ set(by_text))
        for text, e in by_text.items():
            assert comparable(e) == comparable(parsed[text]), (e, parsed[text])
            assert ("clock_skew_seconds" in e.get("koban", {})) == \
                ("clock_skew_seconds" in parsed[text].get("koban", {})), text
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_default_zone_is_the_machines():
    """Without a timezone anywhere, RFC 3164 stamps are read in the machine's zone ($TZ here)."""
    d = tempdir()
    try:
        p = parse(["-"], d, "<13>Mar 14 23:00:00 h app: x\n", tz="America/New_York")
        e = json.loads(p.stdout)
        assert e["event"]["timezone"] == "America/New_York", e
        assert e["@timestamp"] == "2026-03-15T03:00:00Z", e  # EDT, UTC-4
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_parse_golden)
    s.run(test_serve_ecs_fields_and_parse_agree)
    s.run(test_default_zone_is_the_machines)
    s.done()
