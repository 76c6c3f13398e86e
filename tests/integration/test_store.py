"""koban ingest and koban search against a real data directory: ECS lines and syslog through
the pipeline, exit statuses and rejected lines, queries with pipes, time bounds, limits,
the audit log, and an attempt to read another tenant's events."""
import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import KOBAN, Instance, Suite, run, search_events as search, tempdir, write_config  # noqa: E402,E501


def ecs_lines(n, marker, day="2026-12-01"):
    """n firewall-like ECS events, one per minute from midnight UTC of day."""
    out = []
    for i in range(n):
        ev = {
            "@timestamp": "%sT%02d:%02d:00Z" % (day, i // 60 % 24, i % 60),
            "source": {"ip": "10.0.%d.1" % (i % 20)},
            "destination": {"ip": "203.0.113.7", "port": 443 if i % 3 else 22},
            "event": {"action": "deny" if i % 10 == 0 else "allow",
                      "original": "fw1 %s seq=%d %s" % ("deny" if i % 10 == 0 else "allow",
                                                        i, marker)},
        }
        out.append(json.dumps(ev))
    return "\n".join(out) + "\n"


def setup(d):
    run(["tenant", "add", "city-a"], d)
    run(["tenant", "add", "city-b"], d)
    with open(os.path.join(d, "a.json"), "w") as f:
        f.write(ecs_lines(1000, "alpha-secret"))
    with open(os.path.join(d, "b.log"), "w") as f:
        for i in range(50):
            f.write("<14>Dec  1 10:%02d:00 fw2 app[1]: beta line %d\n" % (i, i))


def test_ingest_and_search():
    d = tempdir()
    try:
        setup(d)
        _, out, _ = run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        assert out.startswith("stored 1000 events of 1000 lines in 1 segments"), out
        _, out, _ = run(["ingest", "--tenant", "city-b", "--tz", "UTC", "b.log"], d)
        assert out.startswith("stored 50 events of 50 lines"), out

        assert search(d, "city-a", "| stats count()") == [{"count": 1000}]
        assert search(d, "city-a", "event.action:", "deny", "|", "stats", "count()") == \
            [{"count": 100}]
        rows = search(d, "city-a", "| stats count() by destination.port | sort -count")
        assert rows == [{"destination.port": 443, "count": 666},
                        {"destination.port": 22, "count": 334}], rows
        assert search(d, "city-a", "source.ip: 10.0.3.1 | stats count()") == [{"count": 50}]
        # a `fields` before a stats leaves it only those fields: the others are null
        assert search(d, "city-a", "| fields event.original | stats count() by event.action") \
            == [{"event.action": None, "count": 1000}]
        rows = search(d, "city-a", "| fields event.action, event.original | fields event.action "
                      "| stats count() by event.action, destination.port | sort event.action")
        assert rows == [{"event.action": "allow", "destination.port": None, "count": 900},
                        {"event.action": "deny", "destination.port": None, "count": 100}], rows
        assert search(d, "city-a", '"seq=999" | stats count()') == [{"count": 1}]
        # time bounds from the options: the first hour only
        assert search(d, "city-a", "--from", "2026-12-01T00:00:00Z", "--to",
                      "2026-12-01T00:59:59Z", "| stats count()") == [{"count": 60}]
        # a date alone as --to takes that whole day (all 1000 events are of Dec 1), as
        # Elasticsearch rounds a date-only upper bound up; as --from, its midnight
        for bounds, want in ((["--to", "2026-12-01"], 1000), (["--to", "2026-11-30"], 0),
                             (["--from", "2026-12-01", "--to", "2026-12-01"], 1000),
                             (["--from", "2026-12-02"], 0),
                             (["--to", "2026-12-01T00:00:00Z"], 1)):
            assert search(d, "city-a", *bounds, "| stats count()") == [{"count": want}], bounds
        # events, newest first, with a limit
        evs = search(d, "city-a", "--limit", "2", "*")
        assert [e["event"]["original"].split()[2] for e in evs] == ["seq=999", "seq=998"], evs
        assert all(e["organization"]["id"] == "city-a" for e in evs)
        # syslog through the pipeline: decoded fields are searchable
        assert search(d, "city-b", "log.syslog.hostname: fw2 | stats count()") == [{"count": 50}]
        # the readable table
        _, out, _ = run(["search", "--tenant", "city-a",
                         "| stats count() by event.action | sort event.action"], d)
        assert out.splitlines() == ["event.action  count", "allow         900",
                                    "deny          100"], out
        _, out, _ = run(["search", "--tenant", "city-a", "--limit", "1",
                         'mimikatz or "seq=5 alpha-secret"'],
                        d)
        assert out.strip().endswith("fw1 allow seq=5 alpha-secret"), out
        # --limit 0: nothing, at once: no audit line below; the query is still checked
        for args in (["--limit", "0"], ["--json", "--limit", "0"]):
            assert run(["search", "--tenant", "city-a"] + args + ["*"], d) == (0, "", "")
            assert run(["search", "--tenant", "city-a"] + args + ["| stats count()"], d) == \
                (0, "", "")
        status, out, err = run(["search", "--tenant", "city-a", "--limit", "0", "a ||"], d,
                               check=False)
        assert (status, out) == (1, "") and "column 3" in err, (status, out, err)
        status, out, err = run(["search", "--tenant", "city-a", "--limit", "0", "--from", "now",
                                "--to", "-1d", "*"], d, check=False)
        assert (status, out) == (1, "") and "ends before it begins" in err, (status, out, err)
        # the audit line counts what was handed out: 2 events under --limit 2, not 3
        with open(os.path.join(d, "var", "audit.log")) as f:
            audit = [json.loads(line) for line in f]
        limited = [a for a in audit if a["query"] == "*"]
        assert [a["results"] for a in limited] == [2], limited
    finally:
        shutil.rmtree(d)


def test_table_says_what_it_left_out():
    """Without --json, a table or the events' lines stop at --limit (default 100) and say on
    standard error that more matched; a result set of exactly the limit, or --json, says
    nothing."""
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        more = "koban: only the first %d %s shown, more matched: use --limit N or --json " \
            "for more\n"

        def table(*args):
            status, out, err = run(["search", "--tenant", "city-a"] + list(args), d)
            return len(out.splitlines()), err

        assert table("*") == (100, more % (100, "events"))
        assert table("| fields event.action") == (101, more % (100, "events"))
        assert table("--limit", "1000", "*") == (1000, "")
        assert table("--limit", "999", "*") == (999, more % (999, "events"))
        # 20 addresses: rows under their header
        assert table("| stats count() by source.ip") == (21, "")
        assert table("--limit", "20", "| stats count() by source.ip") == (21, "")
        assert table("--limit", "5", "| stats count() by source.ip") == \
            (6, more % (5, "rows"))
        assert table("--limit", "1", "*") == (1, more % (1, "event"))
        assert table("--limit", "1", "| stats count() by source.ip") == (2, more % (1, "row"))
        status, out, err = run(["search", "--tenant", "city-a", "--json", "--limit", "2",
                                "*"], d)
        assert (len(out.splitlines()), err) == (2, ""), err
        # the audit line counts what was shown, not the one more read to know
        with open(os.path.join(d, "var", "audit.log")) as f:
            audit = [json.loads(line) for line in f]
        assert [a["results"] for a in audit if a["query"] == "*"] == [100, 1000, 999, 1, 2]
    finally:
        shutil.rmtree(d)


def stamped(*events):
    """ECS lines of (RFC 3339 time, event.original) pairs, in the order given."""
    return "".join(json.dumps({"@timestamp": t, "event": {"original": o}}) + "\n"
                   for t, o in events)


def test_newest_first():
    """Events come newest first by @timestamp whatever order they were ingested in (late
    logs, imports of old files): --limit, `| head` and the readable lines keep the newest."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        with open(os.path.join(d, "one.json"), "w") as f:
            f.write(stamped(("2026-12-01T10:00:00Z", "late event"),
                            ("2026-12-01T08:00:00Z", "early event")))
        with open(os.path.join(d, "two.json"), "w") as f:
            f.write(stamped(("2026-12-01T12:00:00Z", "noon event"),
                            ("2026-12-01T06:00:00Z", "dawn event"),
                            ("2026-11-30T23:00:00Z", "eve event")))
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "one.json"], d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "two.json"], d)

        def originals(*args):
            return [e["event"]["original"] for e in search(d, "city-a", *args)]

        newest = ["noon event", "late event", "early event", "dawn event", "eve event"]
        assert originals() == newest, originals()
        assert originals("--limit", "1", "*") == newest[:1]
        assert originals("--limit", "3", "*") == newest[:3]
        assert originals("| head 2") == newest[:2]
        assert originals("--limit", "1", "| head 2") == newest[:1]
        assert originals("event | head 2") == newest[:2]
        assert originals("| sort -@timestamp | head 2") == newest[:2]
        assert originals("| sort @timestamp") == newest[::-1]
        # the readable lines, at most --limit of them
        _, out, _ = run(["search", "--tenant", "city-a", "--limit", "2", "*"], d)
        assert [line.split(None, 1)[1] for line in out.splitlines()] == newest[:2], out
        # a head before a stats counts the newest: 2 of 12-01, none of 11-30
        rows = search(d, "city-a", "| head 2 | stats count() by event.original | "
                      "sort event.original")
        assert rows == [{"event.original": "late event", "count": 1},
                        {"event.original": "noon event", "count": 1}], rows
    finally:
        shutil.rmtree(d)


def test_quota_without_a_daemon():
    """koban ingest without a daemon keeps the store quota as the daemon does: a tenant at or
    over it is refused before anything is written; another tenant is not touched."""
    d = tempdir()
    try:
        setup(d)
        write_config(d, "store:\n  tenants:\n    city-a: { quota: 1 }\n")
        _, out, _ = run(["ingest", "-c", "koban.yaml", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        assert out.startswith("stored 1000 events"), out  # nothing stored yet: under it
        status, out, err = run(["ingest", "-c", "koban.yaml", "--tenant", "city-a", "--format", "ecs", "a.json"], d,
                               check=False)
        assert (status, out) == (1, "") and "tenant city-a is over its store quota (1 bytes;" \
            in err and "nothing stored" in err, (status, out, err)
        assert search(d, "city-a", "| stats count()") == [{"count": 1000}]
        _, out, _ = run(["ingest", "-c", "koban.yaml", "--tenant", "city-b", "b.log"], d)
        assert out.startswith("stored 50 events"), out
    finally:
        shutil.rmtree(d)


def test_tenants_stay_apart():
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        run(["ingest", "--tenant", "city-b", "b.log"], d)
        assert search(d, "city-b", "alpha-secret | stats count()") == [{"count": 0}]
        assert search(d, "city-b", "organization.id: city-a | stats count()") == [{"count": 0}]
        assert search(d, "city-b", "| stats count()") == [{"count": 50}]
        # city-a's segment copied into city-b's directory is refused, never read
        a_dir = os.path.join(d, "var", "tenants", "2")
        b_dir = os.path.join(d, "var", "tenants", "3")
        seg = sorted(os.listdir(a_dir))[0]
        shutil.copy(os.path.join(a_dir, seg), os.path.join(b_dir, "2026-12-01-0099.seg"))
        status, out, err = run(["search", "--tenant", "city-b", "--json", "alpha-secret"], d,
                               check=False)
        assert status == 1 and "alpha-secret" not in out, (out, err)
        assert "2026-12-01-0099.seg" in err, err
        # every search is audited
        with open(os.path.join(d, "var", "audit.log")) as f:
            lines = [json.loads(line) for line in f]
        assert len(lines) == 4, lines
        assert lines[0]["tenant"] == 3 and lines[0]["query"] == "alpha-secret | stats count()"
        assert lines[-1]["status"] != 0
    finally:
        shutil.rmtree(d)


def test_vendor_fields_in_a_new_process():
    """A field koban does not know (acme.*) is registered by the process that reads it: a
    search in a fresh process naming it must find the stored values, not treat it as a field
    no event has."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        with open(os.path.join(d, "v.json"), "w") as f:
            for i in range(300):
                f.write(json.dumps({"@timestamp": "2026-12-01T00:%02d:%02dZ" % (i // 60, i % 60),
                                    "acme": {"app": "app%d" % (i % 3), "score": i},
                                    "event": {"original": "acme line %d" % i}}) + "\n")
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "v.json"], d)
        assert search(d, "city-a", "acme.app: app1 | stats count()") == [{"count": 100}]
        assert search(d, "city-a", "* | stats count() by acme.app | sort acme.app") == [
            {"acme.app": "app0", "count": 100}, {"acme.app": "app1", "count": 100},
            {"acme.app": "app2", "count": 100}]
        evs = search(d, "city-a", '"acme line 299" or "acme line 298" | fields acme.app')
        assert evs == [{"acme": {"app": "app2"}}, {"acme": {"app": "app1"}}], evs
        # without --json, a `fields` pipe prints a table of those fields (a field the
        # events lack shows "-"), in a process that learnt the vendor field from the store
        _, out, _ = run(["search", "--tenant", "city-a",
                         '"acme line 299" or "acme line 298" | fields acme.app, acme.score, '
                         'acme.none'], d)
        assert out.splitlines() == ["acme.app  acme.score  acme.none", "app2      299         -",
                                    "app1      298         -"], out
        assert search(d, "city-a", "acme.nothing: x | stats count()") == [{"count": 0}]
    finally:
        shutil.rmtree(d)


def test_vendor_fields_only_in_the_wal():
    """Vendor fields of events only in the write-ahead log (a daemon killed before it sealed
    them) are found by a search in a fresh process, as those of the segments are: acme.app
    is in a segment and the WAL, acme.rule only in the WAL."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)

        def lines(first, rows):
            return "".join(json.dumps(dict({"@timestamp": "2026-12-01T10:00:%02dZ" % (first + i),
                                             "event": {"original": "acme %d" % (first + i)}},
                                            **row)) + "\n" for i, row in enumerate(rows))
        with open(os.path.join(d, "seg.json"), "w") as f:
            f.write(lines(0, [{"acme": {"app": "a1"}}]))
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "seg.json"], d)
        inst = Instance(d)
        try:
            wal = lines(10, [{"acme": {"app": "a1", "rule": "r1"}}, {"acme": {"rule": "r1"}},
                             {"acme": {"rule": "r2"}}, {}])
            _, out, _ = run(["ingest", "--tenant", "city-a", "--format", "ecs", "--no-wait",
                             "-"], d, input=wal)
            assert out.startswith("stored 4 events of 4 lines (through the running koban: "
                                  "committed to its write-ahead log, not sealed yet)"), out
        finally:
            inst.signal(signal.SIGKILL)
            inst.stop()
        _, out, _ = run(["store", "stats"], d)
        assert [line.split()[:4] for line in out.splitlines() if "unsealed" in line] == \
            [["city-a", "unsealed", "-", "4"]], out
        assert search(d, "city-a", "acme.rule: r1 | stats count()") == [{"count": 2}]
        evs = search(d, "city-a", "acme.rule: *")
        assert [e["event"]["original"] for e in evs] == ["acme 12", "acme 11", "acme 10"], evs
        evs = search(d, "city-a", "not acme.rule: r1")
        assert [e["event"]["original"] for e in evs] == ["acme 13", "acme 12", "acme 0"], evs
        rows = search(d, "city-a", "| stats count() by acme.rule | sort acme.rule")
        assert rows == [{"acme.rule": "r1", "count": 2}, {"acme.rule": "r2", "count": 1},
                        {"acme.rule": None, "count": 2}], rows
        assert search(d, "city-a", "acme.app: a1 and acme.rule: r1 | stats count()") == \
            [{"count": 1}]
        assert search(d, "city-a", "acme.nothing: x | stats count()") == [{"count": 0}]
    finally:
        shutil.rmtree(d)


def test_table_output_escapes_control_characters():
    """Without --json, values print with their control characters escaped: a newline in a
    log line cannot fake a second event on the analyst's terminal, nor an ESC start an
    escape sequence, in the events' lines, a `fields` table or a stats table; valid UTF-8
    (and a backslash) print as they are, bytes that are not UTF-8 as \\xHH; --json keeps
    the values as stored."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        original = ("sshd: Failed password for root\n2026-12-01T09:59:59Z  sshd: Accepted "
                    "password\tfor\rroot \x1b[31mred\x7f \x00 \x85 é 日本 C:\\temp "
                    "\u202egnp.exe\u2028\u2066 \u061cx")
        with open(os.path.join(d, "n.json"), "w") as f:
            f.write(json.dumps({"@timestamp": "2026-12-01T10:00:00Z",
                                "event": {"original": original},
                                "user": {"name": "ro\not"}}) + "\n")
        with open(os.path.join(d, "b.log"), "wb") as f:
            f.write(b"<14>1 2026-12-01T10:00:01Z fw2 app 1 - - raw \x9b[2J byte\n")
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "n.json"], d)
        run(["ingest", "--tenant", "city-a", "b.log"], d)
        escaped = ("sshd: Failed password for root\\n2026-12-01T09:59:59Z  sshd: Accepted "
                   "password\\tfor\\rroot \\x1b[31mred\\x7f \\x00 \\u0085 é 日本 C:\\temp "
                   "\\u202egnp.exe\\u2028\\u2066 \\u061cx")
        _, out, _ = run(["search", "--tenant", "city-a", "*"], d)
        assert out == ("2026-12-01T10:00:01Z  <14>1 2026-12-01T10:00:01Z fw2 app 1 - - raw "
                       "\\x9b[2J byte\n"
                       "2026-12-01T10:00:00Z  " + escaped + "\n"), out
        _, out, _ = run(["search", "--tenant", "city-a",
                         "user.name: * | fields user.name, event.original"], d)
        assert out == "user.name  event.original\nro\\not     " + escaped + "\n", out
        _, out, _ = run(["search", "--tenant", "city-a",
                         "| stats count() by user.name | sort user.name"], d)
        assert out == "user.name  count\nro\\not     1\n-          1\n", out
        # (JSON escapes no U+0085, where str.splitlines() would cut the line)
        _, out, _ = run(["search", "--tenant", "city-a", "--json", "user.name: *"], d)
        evs = [json.loads(line) for line in out.split("\n")[:-1]]
        assert [(e["user"]["name"], e["event"]["original"]) for e in evs] == \
            [("ro\not", original)], evs
    finally:
        shutil.rmtree(d)


def test_tables_line_up_japanese():
    """A table's columns count the columns a terminal gives each character: a kanji or kana
    takes two, so a column of Japanese names lines up with ASCII ones."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        with open(os.path.join(d, "j.json"), "w") as f:
            for i, (name, action) in enumerate([("山田太郎", "logon"), ("bob", "logoff"),
                                                ("ｶﾀｶﾅ", "x")]):
                f.write(json.dumps({"@timestamp": "2026-12-01T10:00:0%dZ" % i,
                                    "user": {"name": name},
                                    "event": {"action": action}}) + "\n")
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "j.json"], d)
        _, out, _ = run(["search", "--tenant", "city-a",
                         "| fields user.name, event.action | sort user.name"], d)
        # halfwidth katakana take one column each; 山田太郎 eight
        assert out == ("user.name  event.action\n"
                       "bob        logoff\n"
                       "山田太郎   logon\n"
                       "ｶﾀｶﾅ       x\n"), out
    finally:
        shutil.rmtree(d)


def test_non_ascii_and_escaped_field_names():
    """A JSON key in Japanese (or with a space) is a field of that name: a query names it
    bare (non-ASCII characters) or with a backslash before each other character, in a
    filter, _exists_, stats, fields and sort, in a fresh process that learns it from the
    store."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        with open(os.path.join(d, "k.json"), "w") as f:
            for i in range(6):
                f.write(json.dumps({"@timestamp": "2026-12-01T10:00:0%dZ" % i,
                                    "部署": ["総務", "情報", "企画"][i % 3],
                                    "送信 元": "10.0.0.%d" % (i % 2),
                                    "event": {"original": "line %d" % i}}) + "\n")
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "k.json"], d)
        assert search(d, "city-a", "部署: 総務 | stats count()") == [{"count": 2}]
        assert search(d, "city-a", "部署:情報 and 送信\\ 元: 10.0.0.0 | stats count()") == [
            {"count": 1}]
        assert search(d, "city-a", "_exists_: 送信\\ 元 | stats count()") == [{"count": 6}]
        assert search(d, "city-a", "| stats count() by 部署 | sort 部署") == [
            {"部署": "企画", "count": 2}, {"部署": "情報", "count": 2},
            {"部署": "総務", "count": 2}]
        assert search(d, "city-a", '"line 5" | fields 部署, 送信\\ 元') == [
            {"部署": "企画", "送信 元": "10.0.0.1"}]
        # unescaped, a space ends the name: `送信` is a term and `元: …` a field no event has
        assert search(d, "city-a", "送信 元: 10.0.0.1 | stats count()") == [{"count": 0}]
    finally:
        shutil.rmtree(d)


def test_japanese_text_is_one_token_per_run():
    """What docs/query.md promises of Japanese full text: a run without ASCII separators is
    one token (Japanese punctuation and U+3000 inside it), found whole by a word or phrase
    and in part only by wildcards, which count characters; no folding but ASCII case."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        texts = ["管理者がログインに失敗しました。", "ログイン失敗 user=山田",
                 "認証エラー、再試行", "ユーザー\u3000山田太郎", "ＡＢＣ"]
        with open(os.path.join(d, "j.json"), "w") as f:
            f.write(stamped(*[("2026-12-01T10:00:0%dZ" % i, t) for i, t in enumerate(texts)]))
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "j.json"], d)

        def found(q):
            return sorted(texts.index(e["event"]["original"]) for e in search(d, "city-a", q))

        for q, want in (("失敗", []), ('"失敗"', []), ("管理者がログインに失敗しました", []),
                        ('"管理者がログインに失敗しました。"', [0]), ("ログイン失敗", [1]),
                        ("山田", [1]), ("山田太郎", []), ("認証エラー", []),
                        ("*失敗*", [0, 1]), ("認証エラー*", [2]), ("*ログイン?失敗*", [0]),
                        ("event.original: *失敗*", [0, 1]), ("*山田*", [1, 3]),
                        ("ﾛｸﾞｲﾝ*", []), ("abc", []), ("ＡＢＣ", [4])):
            assert found(q) == want, (q, found(q), want)
    finally:
        shutil.rmtree(d)


def test_stats_read_every_value():
    """dc, min and max read every value of a multi-valued field as the segments store it
    (the second and later values apart from the first); over no value they are null."""
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        with open(os.path.join(d, "m.json"), "w") as f:
            for i, ips in enumerate([["192.0.2.1", "198.51.100.9"],
                                     ["192.0.2.2", "198.51.100.10"]]):
                f.write(json.dumps({"@timestamp": "2026-12-01T10:00:0%dZ" % i,
                                    "event": {"original": "m%d" % i},
                                    "related": {"ip": ips}}) + "\n")
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "m.json"], d)
        assert search(d, "city-a", "| stats count(), dc(related.ip), min(related.ip), "
                      "max(related.ip)") == [{"count": 2, "dc(related.ip)": 4,
                                              "min(related.ip)": "192.0.2.1",
                                              "max(related.ip)": "198.51.100.10"}]
        assert search(d, "city-a", "nomatch | stats count(), dc(related.ip), "
                      "sum(network.bytes), max(related.ip)") == [
            {"count": 0, "dc(related.ip)": None, "sum(network.bytes)": None,
             "max(related.ip)": None}]
    finally:
        shutil.rmtree(d)


def test_exit_statuses_and_errors():
    d = tempdir()
    try:
        setup(d)
        with open(os.path.join(d, "mixed.json"), "w") as f:
            f.write(ecs_lines(3, "m") + '{"broken\n' + '{"destination":{"port":"http"}}\n' +
                    '{"destination":{"port":70000}}\n')
        status, out, err = run(["ingest", "--tenant", "city-a", "--format", "ecs",
                                "mixed.json"], d, check=False)
        assert status == 3, (status, out, err)
        assert "stored 3 events of 6 lines" in out and "3 lines rejected" in out, out
        assert "mixed.json:4:" in err and "mixed.json:5:" in err, err
        assert ("mixed.json:6: column 24: field destination.port: expected an integer from "
                "0 to 65535 (a port), found 70000") in err, err
        with open(os.path.join(d, "bad.json"), "w") as f:
            f.write("not json\n")
        status, out, err = run(["ingest", "--tenant", "city-a", "--format", "ecs", "bad.json"],
                               d, check=False)
        assert status == 1 and "bad.json:1:" in err, (status, out, err)
        status, _, err = run(["ingest", "--tenant", "nobody", "a.json"], d, check=False)
        assert status == 1 and "nobody" in err and "koban.db" in err, err
        status, _, err = run(["ingest", "a.json"], d, check=False)
        assert status == 2 and "missing --tenant" in err, err
        status, _, err = run(["search", "--tenant", "city-a", "destination.port: http"], d,
                             check=False)
        assert status == 1 and "column 19" in err, err
        status, _, err = run(["search", "--tenant", "city-a", "--from", "yesterday", "*"], d,
                             check=False)
        assert status == 2 and "--from 'yesterday'" in err, err
        # the range the wrong way round is an error, not an empty result; relative times work
        status, out, err = run(["search", "--tenant", "city-a", "--from", "2026-12-02",
                                "--to", "2026-12-01", "*"], d, check=False)
        assert (status, out) == (1, "") and "the time range ends before it begins" in err, err
        status, out, err = run(["search", "--tenant", "city-a", "--from", "-1h", "--to", "now",
                                "--json", "* | stats count()"], d, check=False)
        assert status == 0 and json.loads(out)["count"] >= 0, (out, err)
        _, out, _ = run(["help", "search"], d)
        assert "audit.log" in out
    finally:
        shutil.rmtree(d)


def forge_bloom(seg):
    """Flips the last byte of block 0's bloom in segment file seg and recomputes the block
    header's checksum, as someone without the key could: only the MAC (format 6) tells."""
    with open(seg, "r+b") as f:
        data = bytearray(f.read())
        p = struct.unpack_from("<Q", data, len(data) - 24)[0] + 8  # the footer's names
        names = struct.unpack_from("<I", data, p)[0]
        p += 4
        for _ in range(names):
            p += 3 + struct.unpack_from("<H", data, p + 1)[0]
        off, hlen = struct.unpack_from("<QI", data, p + 4)  # block 0's entry
        data[off + hlen - 5] ^= 0xff
        struct.pack_into("<I", data, off + hlen - 4, zlib.crc32(bytes(data[off:off + hlen - 4])))
        f.seek(0)
        f.write(data)


def tenant_data_key(d, tenant):
    """Tenant N's data key, unwrapped with the master key (docs/store.md, "Keys") through
    libsodium: what a writer holds, so that a test can forge what only a writer's error
    could write."""
    sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
    keys = os.path.join(d, "var", "keys")
    with open(os.path.join(keys, "master.key"), "rb") as f:
        master = f.read()[8:]
    with open(os.path.join(keys, "tenant-%d.key" % tenant), "rb") as f:
        w = f.read()[8:]
    kid, nonce, ct = w[:16], w[16:40], w[40:]
    ad = b"koban-data-key" + struct.pack("<Q", tenant) + kid
    key = ctypes.create_string_buffer(32)
    assert sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        key, None, None, ct, ctypes.c_ulonglong(len(ct)), ad, ctypes.c_ulonglong(len(ad)),
        nonce, master) == 0
    return key.raw


def forge_statistic(seg, key, field):
    """Makes field's minimum in block 0's statistics its maximum, and rewrites the block
    header's checksum and the segment's MAC with the data key: a writer's error that the MAC
    cannot tell, which makes searches skip the block for the values below."""
    with open(seg, "r+b") as f:
        data = bytearray(f.read())
        foot, flen = struct.unpack_from("<QI", data, len(data) - 24)
        p, number, names = foot + 12, None, struct.unpack_from("<I", data, foot + 8)[0]
        for i in range(names):
            n = struct.unpack_from("<H", data, p + 1)[0]
            if data[p + 3:p + 3 + n] == field.encode():
                number = i
            p += 3 + n
        blocks = [struct.unpack_from("<QI", data, p + 4 + 28 * b)
                  for b in range(struct.unpack_from("<I", data, p)[0])]
        off, hlen = blocks[0]
        for j in range(struct.unpack_from("<I", data, off + 12)[0]):
            st = off + 44 + 40 * j
            if struct.unpack_from("<II", data, st) == (number, 1):
                data[st + 8:st + 16] = data[st + 24:st + 32]
        struct.pack_into("<I", data, off + hlen - 4, zlib.crc32(bytes(data[off:off + hlen - 4])))
        mac = hashlib.blake2b(key=hashlib.blake2b(b"koban-segment-mac-v1", key=key,
                                                  digest_size=32).digest(), digest_size=32)
        mac.update(data[:52])
        for o, h in blocks:
            mac.update(data[o:o + h])
        mac.update(data[foot:foot + flen - 36])
        mac.update(data[len(data) - 24:len(data) - 12])
        data[foot + flen - 36:foot + flen - 4] = mac.digest()
        struct.pack_into("<I", data, foot + flen - 4,
                         zlib.crc32(bytes(data[foot:foot + flen - 4])))
        f.seek(0)
        f.write(data)


def test_store_stats_and_verify():
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        with open(os.path.join(d, "b2.json"), "w") as f:
            f.write(ecs_lines(10, "x", day="2026-12-02"))
        run(["ingest", "--tenant", "city-b", "--format", "ecs", "b2.json"], d)
        _, out, _ = run(["store", "stats"], d)
        lines = out.splitlines()
        assert lines[0].split() == ["TENANT", "DAY", "SEGMENTS", "EVENTS", "RAW_BYTES",
                                    "STORED_BYTES", "RATIO", "B/EVENT"]
        assert lines[1].split()[:4] == ["city-a", "2026-12-01", "1", "1000"], out
        assert lines[2].split()[:4] == ["city-b", "2026-12-02", "1", "10"], out
        _, out, _ = run(["store", "stats", "--tenant", "city-b"], d)
        assert len(out.splitlines()) == 2, out
        _, out, _ = run(["store", "verify"], d)
        assert out.splitlines() == ["city-a: 2026-12-01 segment 1: ok (1000 events)",
                                    "city-b: 2026-12-02 segment 1: ok (10 events)"], out
        # one flipped byte: reported with file and offset, the other tenant still checked
        seg = os.path.join(d, "var", "tenants", "2", "2026-12-01-0001.seg")
        with open(seg, "r+b") as f:
            f.seek(os.path.getsize(seg) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xff]))
        status, out, err = run(["store", "verify"], d, check=False)
        assert status == 1, (status, out, err)
        assert out.startswith("city-a: DAMAGED: ") and "2026-12-01-0001.seg" in out, out
        assert "city-b: 2026-12-02 segment 1: ok (10 events)" in out, out
        # a segment that does not open (its header damaged): stats lists it too
        with open(seg, "r+b") as f:
            f.seek(20)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xff]))
        status, out, err = run(["store", "stats"], d, check=False)
        assert status == 1 and "listed above" in err, (status, out, err)
        lines = out.splitlines()
        assert lines[0].split()[0] == "TENANT", out  # the header comes first
        assert lines[1].startswith("city-a: DAMAGED: ") and "2026-12-01-0001.seg" in out, out
        status, _, err = run(["store", "stats", "--tenant", "nobody"], d, check=False)
        assert status == 1 and "no tenant 'nobody'" in err, err
        # city-b's bloom edited, its checksum recomputed: the MAC names the segment damaged
        segs = [os.path.join(r, n) for r, _, ns in os.walk(os.path.join(d, "var", "tenants"))
                for n in ns if n == "2026-12-02-0001.seg"]
        assert len(segs) == 1, segs
        forge_bloom(segs[0])
        status, out, err = run(["store", "verify", "--tenant", "city-b"], d, check=False)
        assert status == 1, (status, out, err)
        assert out.startswith("city-b: DAMAGED: ") and "authentication failed" in out, out
    finally:
        shutil.rmtree(d)


def test_store_verify_statistics():
    """A block statistic that leaves out a value the block holds (a writer's error, so its
    MAC is right): searches skip the block, and store verify names the block, the field,
    the range and the value."""
    d = tempdir()
    try:
        setup(d)
        with open(os.path.join(d, "b2.json"), "w") as f:
            f.write(ecs_lines(10, "x", day="2026-12-02"))
        run(["ingest", "--tenant", "city-b", "--format", "ecs", "b2.json"], d)
        _, out, _ = run(["store", "verify"], d)
        assert out.splitlines() == ["city-b: 2026-12-02 segment 1: ok (10 events)"], out
        assert search(d, "city-b", "destination.port: 22 | stats count()") == [{"count": 4}]
        segs = [os.path.join(r, n) for r, _, ns in os.walk(os.path.join(d, "var", "tenants"))
                for n in ns if n == "2026-12-02-0001.seg"]
        assert len(segs) == 1, segs
        seg = segs[0]
        tenant = int(os.path.basename(os.path.dirname(seg)))
        forge_statistic(seg, tenant_data_key(d, tenant), "destination.port")
        # the block is skipped: its four events with port 22 are missed
        assert search(d, "city-b", "destination.port: 22 | stats count()") == [{"count": 0}]
        status, out, err = run(["store", "verify"], d, check=False)
        assert status == 1, (status, out, err)
        rel = os.path.join(".", os.path.relpath(seg, d))  # as koban names it
        assert out == ("city-b: DAMAGED: %s: offset 52: block 0: field destination.port: the "
                       "block's statistics give the range [443, 443], but the block holds the "
                       "value 22 (searches would skip it)\n" % rel), out
    finally:
        shutil.rmtree(d)


def test_tenant_erase_and_certificate():
    d = tempdir()
    other = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        status, _, err = run(["tenant", "erase", "city-a"], d, check=False)
        assert status == 2 and "without --yes" in err, (status, err)
        assert search(d, "city-a", "| stats count()") == [{"count": 1000}]
        _, cert, err = run(["tenant", "erase", "city-a", "--yes"], d)
        assert cert.startswith("koban deletion certificate\nversion: 2\ntenant: city-a\n"), cert
        assert "unreadable-segments: 0\n" in cert, cert
        assert "events: 1000\n" in cert and "destroyed-key: blake2b-256:" in cert, cert
        assert not os.path.exists(os.path.join(d, "var", "tenants", "2"))
        assert not os.path.exists(os.path.join(d, "var", "keys", "tenant-2.key"))
        status, _, err = run(["search", "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "no tenant 'city-a'" in err, err
        with open(os.path.join(d, "cert.txt"), "w") as f:
            f.write(cert)
        _, out, _ = run(["cert", "verify", "cert.txt"], d)
        assert out.startswith("valid: tenant city-a (id 2)") and "signed by this installation" \
            in out, out
        # changed after signing: refused
        with open(os.path.join(d, "forged.txt"), "w") as f:
            f.write(cert.replace("events: 1000", "events: 100"))
        status, _, err = run(["cert", "verify", "forged.txt"], d, check=False)
        assert status == 1 and "changed after it was signed" in err, err
        # another installation's key: intact, but not theirs
        run(["tenant", "add", "x"], other)
        run(["ingest", "--tenant", "x", "--format", "ecs", os.path.join(d, "a.json")], other)
        status, _, err = run(["cert", "verify", "--key",
                              os.path.join(other, "var", "keys", "signing.pub"),
                              os.path.join(d, "cert.txt")], other, check=False)
        assert status == 1 and "another installation" in err, err
        # a certificate signed by any key, where there is no signing.pub to compare with:
        # never valid (anyone can sign one with a key of their own)
        _, forged, _ = run(["tenant", "erase", "x", "--yes"], other)
        auditor = os.path.join(other, "auditor")
        os.mkdir(auditor)
        with open(os.path.join(auditor, "cert.txt"), "w") as f:
            f.write(forged)
        status, out, err = run(["cert", "verify", "cert.txt"], auditor, check=False)
        assert status == 1 and out == "", (status, out, err)
        assert err == "koban: cannot verify: no public key; pass --key FILE with the " \
            "installation's signing.pub (only the certificate's integrity was checked: " \
            "anyone can sign one with a key of their own)\n", err
        status, out, err = run(["cert", "verify", "--key",
                                os.path.join(d, "var", "keys", "signing.pub"), "cert.txt"],
                               auditor, check=False)
        assert status == 1 and "another installation" in err, err
        status, out, _ = run(["cert", "verify", "--key",
                              os.path.join(other, "var", "keys", "signing.pub"), "cert.txt"],
                             auditor, check=False)
        assert status == 0 and out.startswith("valid: tenant x (id 2)"), out
    finally:
        shutil.rmtree(d)
        shutil.rmtree(other)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xff]))


def test_erase_damaged_segment():
    """A segment that does not open (a flipped byte in its header) does not stop the erasure:
    the key is destroyed, every file removed, and the certificate says what was not read."""
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        tdir = os.path.join(d, "var", "tenants", "2")
        seg = os.path.join(tdir, "2026-12-01-0001.seg")
        flip(seg, 8)
        with open(os.path.join(tdir, ".2026-12-01-0002.seg.tmp"), "w") as f:
            f.write("half a segment")
        size = os.path.getsize(seg) + 14
        status, cert, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
        assert status == 0, (status, cert, err)
        assert "\nevents: 0\nbytes: %d\nfiles: 2\nunreadable-segments: 1\n" \
            "days: 2026-12-01 .. 2026-12-01\ndestroyed-key: blake2b-256:" % size in cert, cert
        assert err.startswith("erased tenant 'city-a': 0 events in 2 files; 1 segment could "
                              "not be read: its events are not counted; keep the "
                              "certificate"), err
        assert not os.path.exists(tdir)
        assert not os.path.exists(os.path.join(d, "var", "keys", "tenant-2.key"))
        with open(os.path.join(d, "cert.txt"), "w") as f:
            f.write(cert)
        _, out, _ = run(["cert", "verify", "cert.txt"], d)
        assert out.splitlines()[1:] == ["1 segment could not be read when erased: its events "
                                        "are not counted",
                                        "signed by this installation's key"], out
    finally:
        shutil.rmtree(d)


@contextlib.contextmanager
def city_a_stored():
    """A new data directory (setup()) with city-a's events of a.json stored; removed after."""
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        yield d
    finally:
        shutil.rmtree(d)


def test_erase_damaged_key():
    """A data key file whose content is damaged (it reads, but is no data key file) does not
    stop the erasure: it is overwritten and removed, the files go, and the certificate names
    the file by the hash of its bytes (version 3). One that cannot be read (a directory in
    its place) refuses, and nothing is erased."""
    damages = [
        ("bad magic", lambda key: b"KOBANXX1" + key[8:]),
        ("truncated", lambda key: key[:40]),
        ("empty", lambda key: b""),
        ("garbage appended", lambda key: key + b"\0" * 5000),
        ("garbage", lambda key: bytes(range(256)) * 3),
    ]
    for what, damage in damages:
        with city_a_stored() as d:
            tdir = os.path.join(d, "var", "tenants", "2")
            key = os.path.join(d, "var", "keys", "tenant-2.key")
            with open(key, "rb") as f:
                good = f.read()
            assert len(good) == 96 and good.startswith(b"KOBANDK1"), good
            bad = damage(good)
            with open(key, "wb") as f:
                f.write(bad)
            size = sum(os.path.getsize(os.path.join(tdir, n)) for n in os.listdir(tdir))
            files = len(os.listdir(tdir))
            status, cert, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
            assert status == 0, (what, status, cert, err)
            digest = hashlib.blake2b(bad, digest_size=32).hexdigest()
            assert cert.startswith("koban deletion certificate\nversion: 3\ntenant: city-a\n"
                                   "tenant-id: 2\n"), (what, cert)
            body = "\nevents: 0\nbytes: %d\nfiles: %d\nunreadable-segments: 1\n" \
                "days: 2026-12-01 .. 2026-12-01\ndestroyed-damaged-key-file: blake2b-256:%s\n" \
                "signing-key: ed25519:" % (size, files, digest)
            assert body in cert and "destroyed-key:" not in cert, (what, cert)
            assert err == "erased tenant 'city-a': 0 events in %d files; 1 segment could not " \
                "be read: its events are not counted; the data key file was damaged (its " \
                "key id could not be read): it was overwritten and removed all the same, and " \
                "the certificate names it by the hash of its bytes " \
                "(destroyed-damaged-key-file); keep the certificate (koban cert verify FILE " \
                "checks it; a copy is in ./var/certificates/tenant-2.cert)\n" % files, \
                (what, err)
            assert not os.path.exists(tdir), what
            assert not os.path.exists(key), what
            _, out, _ = run(["tenant", "list"], d)
            assert "city-a" not in out and "city-b" in out, (what, out)
            with open(os.path.join(d, "cert.txt"), "w") as f:
                f.write(cert)
            _, out, _ = run(["cert", "verify", "cert.txt"], d)
            assert out.splitlines()[1:] == [
                "1 data key file was damaged when erased (its key id could not be read): "
                "named by the BLAKE2b-256 of its bytes",
                "1 segment could not be read when erased: its events are not counted",
                "signed by this installation's key"], (what, out)
            assert out.startswith("valid: tenant city-a (id 2) erased at ") and \
                out.splitlines()[0].endswith(": 0 events, %d bytes, %d files, 1 data key "
                                             "destroyed" % (size, files)), (what, out)
            with open(os.path.join(d, "var", "certificates", "tenant-2.cert")) as f:
                assert f.read() == cert, what

    # a damaged key destroyed, the erasure interrupted after (a file it cannot remove): the
    # rerun prints the same version 3 certificate
    with city_a_stored() as d:
        key = os.path.join(d, "var", "keys", "tenant-2.key")
        with open(key, "wb") as f:
            f.write(b"KOBANDK1 cut short")
        sub = os.path.join(d, "var", "tenants", "2", "sub")
        os.mkdir(sub)
        status, cert, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
        assert status == 1 and "\nversion: 3\n" in cert, (status, cert, err)
        assert "\ndestroyed-damaged-key-file: blake2b-256:%s\n" % \
            hashlib.blake2b(b"KOBANDK1 cut short", digest_size=32).hexdigest() in cert, cert
        assert err.splitlines()[0] == "koban: cannot remove ./var/tenants/2/sub: Is a " \
            "directory", err
        assert not os.path.exists(key)
        os.rmdir(sub)
        status, again, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
        assert status == 0 and again == cert, (status, again, err)
        assert not os.path.exists(os.path.join(d, "var", "tenants", "2"))

    # a directory in place of the key file: an I/O error, not damaged content; the key may
    # be whole elsewhere (restored, remounted): nothing is erased
    with city_a_stored() as d:
        tdir = os.path.join(d, "var", "tenants", "2")
        key = os.path.join(d, "var", "keys", "tenant-2.key")
        before = sorted(os.listdir(tdir))
        os.rename(key, key + ".moved")
        os.mkdir(key, 0o700)
        status, cert, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
        assert status == 1 and cert == "", (status, cert, err)
        assert err == "koban: ./var/keys/tenant-2.key: not a regular file (the tenant's data " \
            "key may be whole but cannot be read: nothing was erased; fix this and erase " \
            "again)\n", err
        assert sorted(os.listdir(tdir)) == before
        assert os.path.isdir(key) and os.listdir(key) == []
        assert not os.path.exists(os.path.join(d, "var", "certificates", "tenant-2.cert"))
        _, out, _ = run(["tenant", "list"], d)
        assert "city-a" in out, out
        # put back, the key opens the data it was never separated from
        os.rmdir(key)
        os.rename(key + ".moved", key)
        assert search(d, "city-a", "| stats count()") == [{"count": 1000}]


def test_erase_failure_keeps_certificate():
    """Once the key is destroyed the certificate is printed whatever fails after, kept in
    DATA_DIR/certificates, and a rerun finishes and prints the same one."""
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        run(["ingest", "--tenant", "city-b", "--format", "ecs", "a.json"], d)
        sub = os.path.join(d, "var", "tenants", "2", "sub")
        os.mkdir(sub)  # unlink(2) fails on a directory, root or not
        status, cert, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
        assert status == 1, (status, cert, err)
        assert cert.startswith("koban deletion certificate\n") and "events: 1000\n" in cert \
            and "destroyed-key: blake2b-256:" in cert, cert
        kept = os.path.join(d, "var", "certificates", "tenant-2.cert")
        lines = err.splitlines()
        assert lines[0] == "koban: cannot remove ./var/tenants/2/sub: Is a directory", err
        assert lines[1].startswith("erased tenant 'city-a': 1000 events in 2 files; keep the "
                                   "certificate (koban cert verify FILE checks it; a copy is "
                                   "in ./var/certificates/tenant-2.cert)"), err
        assert lines[2].startswith("koban: the data key is destroyed") and \
            "run `koban tenant erase city-a` again" in lines[2], err
        assert not os.path.exists(os.path.join(d, "var", "keys", "tenant-2.key"))
        with open(kept) as f:
            assert f.read() == cert
        assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
        _, out, _ = run(["tenant", "list"], d)
        assert "city-a" in out, out
        os.rmdir(sub)
        # what a crash between the key's overwrite and its removal leaves: the file, its
        # magic saying destroyed (read as an erased key); the rerun removes it
        tomb = os.path.join(d, "var", "keys", "tenant-2.key")
        fd = os.open(tomb, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"KOBANDX1" + os.urandom(72))
        os.close(fd)
        status, again, err = run(["tenant", "erase", "city-a", "--yes"], d, check=False)
        assert status == 0 and again == cert, (status, again, err)
        assert not os.path.exists(tomb)
        assert not os.path.exists(os.path.join(d, "var", "tenants", "2"))
        _, out, _ = run(["tenant", "list"], d)
        assert "city-a" not in out, out
        # the certificate cannot be written to standard output: the kept copy stays
        with open("/dev/full", "w") as full:
            p = subprocess.run([KOBAN, "tenant", "erase", "city-b", "--yes"], cwd=d,
                               stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert "koban: cannot write the certificate: No space left on device" in p.stderr, \
            p.stderr
        _, out, _ = run(["cert", "verify", os.path.join("var", "certificates",
                                                        "tenant-3.cert")], d)
        assert out.startswith("valid: tenant city-b (id 3)") and "1000 events" in out, out
    finally:
        shutil.rmtree(d)


def test_erase_confirmed_on_a_terminal():
    """Without --yes on a terminal, the tenant's name must be typed."""
    d = tempdir()
    try:
        setup(d)
        run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d)

        def erase(typed):
            master, slave = os.openpty()
            try:
                p = subprocess.Popen([KOBAN, "tenant", "erase", "city-a"], cwd=d, stdin=slave,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
                os.close(slave)
                slave = None
                os.write(master, typed)
                out, err = p.communicate(timeout=60)
            finally:
                os.close(master)
                if slave is not None:
                    os.close(slave)
            return p.returncode, out, err

        status, out, err = erase(b"city-b\n")
        assert status == 1 and out == "", (status, out, err)
        assert err == "This destroys every stored event of tenant 'city-a' for good.\n" \
            "Type the tenant's name to erase it: koban: not confirmed; nothing was erased\n", err
        assert search(d, "city-a", "| stats count()") == [{"count": 1000}]
        status, out, err = erase(b"city-a\n")
        assert status == 0 and out.startswith("koban deletion certificate\n"), (status, err)
        assert "events: 1000\n" in out, out
        assert not os.path.exists(os.path.join(d, "var", "keys", "tenant-2.key"))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_ingest_and_search)
    s.run(test_table_says_what_it_left_out)
    s.run(test_newest_first)
    s.run(test_quota_without_a_daemon)
    s.run(test_tenants_stay_apart)
    s.run(test_vendor_fields_in_a_new_process)
    s.run(test_vendor_fields_only_in_the_wal)
    s.run(test_table_output_escapes_control_characters)
    s.run(test_tables_line_up_japanese)
    s.run(test_non_ascii_and_escaped_field_names)
    s.run(test_japanese_text_is_one_token_per_run)
    s.run(test_stats_read_every_value)
    s.run(test_exit_statuses_and_errors)
    s.run(test_store_stats_and_verify)
    s.run(test_store_verify_statistics)
    s.run(test_tenant_erase_and_certificate)
    s.run(test_erase_damaged_segment)
    s.run(test_erase_damaged_key)
    s.run(test_erase_failure_keeps_certificate)
    s.run(test_erase_confirmed_on_a_terminal)
    s.done()
