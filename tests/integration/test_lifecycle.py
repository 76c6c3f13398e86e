"""The event store's life cycle from the command line: keys kept elsewhere (`koban key init`,
the keys: section) and clear errors for a missing or wrong key, retention by whole days
(`koban store retain`), and `koban store stats` with raw against stored bytes."""
import datetime
import json
import os
import shutil
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Instance, Suite, loadgen, run, tempdir, total, value  # noqa: E402
from test_serve import ALPHA, setup_tenants  # noqa: E402


def day(offset):
    """The UTC date offset days from today, as YYYY-MM-DD."""
    d = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)
    return d.isoformat()


def segments(d, tenant_id):
    path = os.path.join(d, "var", "tenants", str(tenant_id))
    return sorted(n for n in os.listdir(path) if n.endswith(".seg")) if os.path.isdir(path) else []


def ecs_lines(days, per_day, marker):
    """per_day ECS events on each day of days ("2026-12-01"), one per minute from 00:00."""
    out = []
    for day in days:
        for i in range(per_day):
            ev = {
                "@timestamp": "%sT%02d:%02d:00Z" % (day, i // 60 % 24, i % 60),
                "source": {"ip": "10.0.%d.1" % (i % 20)},
                "event": {"action": "allow",
                          "original": "fw1 allow seq=%d %s %s" % (i, day, marker)},
            }
            out.append(json.dumps(ev))
    return "\n".join(out) + "\n"


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)
    return name


def count(d, tenant, cfg=None):
    args = ["search", "--tenant", tenant, "--json", "| stats count()"]
    if cfg:
        args += ["-c", cfg]
    _, out, _ = run(args, d)
    return json.loads(out)["count"] if out.strip() else 0


def test_key_init_elsewhere():
    d = tempdir()
    media = os.path.join(d, "media")
    try:
        # key init into another directory: made 0700/0600, and the config snippet printed
        _, out, _ = run(["key", "init", "--dir", "media"], d)
        assert "created %s/master.key" % media in out, out
        assert "keys:\n  master: %s/master.key\n  signing: %s/signing.key" % (media, media) in out
        assert stat.S_IMODE(os.stat(media).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(os.path.join(media, "master.key")).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.join(media, "signing.key")).st_mode) == 0o600
        status, _, err = run(["key", "init", "--dir", "media"], d, check=False)
        assert status == 1 and "never replaces keys" in err, err
        cfg = write(d, "koban.yaml", "data_dir: ./var\nkeys:\n  master: %s/master.key\n"
                    "  signing: %s/signing.key\n" % (media, media))

        # the store uses them: no master or signing key in the data directory
        run(["tenant", "add", "city-a"], d)
        write(d, "a.json", ecs_lines(["2026-12-01"], 30, "kilo"))
        run(["ingest", "-c", cfg, "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        keys = sorted(os.listdir(os.path.join(d, "var", "keys")))
        assert "master.key" not in keys and "signing.key" not in keys, keys
        assert count(d, "city-a", cfg) == 30

        # without the configuration: a clear error, and no new master key made
        status, _, err = run(["search", "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "no master key, but" in err and "keys.master" in err, err
        assert not os.path.exists(os.path.join(d, "var", "keys", "master.key"))

        # the media is gone: the error names the configuration key and the file
        os.rename(media, media + ".away")
        status, _, err = run(["search", "-c", cfg, "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "keys.master: %s/master.key" % media in err, err

        # another installation's master key: refused, never garbage
        run(["key", "init", "--dir", "media"], d)
        status, out, err = run(["search", "-c", cfg, "--tenant", "city-a", "*"], d,
                               check=False)
        assert status == 1 and "not the master key" in err and out == "", (out, err)
        shutil.rmtree(media)
        os.rename(media + ".away", media)
        assert count(d, "city-a", cfg) == 30
        # config check names a key file that is not there, with its line
        write(d, "bad.yaml", "data_dir: ./var\nkeys:\n  master: %s/nope.key\n" % media)
        status, _, err = run(["config", "check", "bad.yaml"], d, check=False)
        assert status == 1 and "bad.yaml:3: keys.master: cannot read" in err, err

        # erasure signs with the configured signing key; cert verify finds its public half
        _, cert, _ = run(["tenant", "erase", "-c", cfg, "city-a", "--yes"], d)
        write(d, "cert.txt", cert)
        _, out, _ = run(["cert", "verify", "-c", cfg, "cert.txt"], d)
        assert "signed by this installation's key" in out, out
        _, out, _ = run(["cert", "verify", "--key", "media/signing.pub", "cert.txt"], d)
        assert "signed by media/signing.pub" in out, out

        # key init without --dir while the configuration names keys elsewhere: refused
        status, _, err = run(["key", "init", "-c", cfg], d, check=False)
        assert status == 1 and "give --dir" in err, err
        assert not os.path.exists(os.path.join(d, "var", "keys", "master.key"))
        # key init without --dir: DATA_DIR/keys of a fresh data directory
        e = os.path.join(d, "fresh")
        os.mkdir(e)
        _, out, _ = run(["key", "init"], e)
        assert "fresh/var/keys/master.key" in out and "koban uses them" in out, out
    finally:
        shutil.rmtree(d)


RETAIN_CONFIG = """data_dir: ./var
store:
  retention_days: 7
  tenants:
    city-b: { retention_days: 0 }
"""


def setup_days(d):
    """city-a and city-b (ids 2, 3) with 20 events on each of 10 and 5 days ago and today."""
    run(["tenant", "add", "city-a"], d)
    run(["tenant", "add", "city-b"], d)
    write(d, "koban.yaml", RETAIN_CONFIG)
    write(d, "e.json", ecs_lines([day(-10), day(-5), day(0)], 20, "zulu"))
    for t in ("city-a", "city-b"):
        run(["ingest", "--tenant", t, "--format", "ecs", "e.json"], d)
    assert len(segments(d, 2)) == 3 and len(segments(d, 3)) == 3


def test_store_retain():
    d = tempdir()
    try:
        setup_days(d)
        # a dry run says what would go and removes nothing
        _, out, _ = run(["store", "retain", "-c", "koban.yaml", "--dry-run"], d)
        lines = out.splitlines()
        assert "city-a: keeps 7 days (from %s): would drop 1 day (%s .. %s): 1 segments, "\
            "20 events" % (day(-6), day(-10), day(-10)) in out, out
        assert "city-b: kept forever (retention_days 0)" in lines, out
        assert "_unassigned: keeps 7 days (from %s): nothing older" % day(-6) in lines, out
        assert lines[-1] == "dry run: nothing was removed", out
        assert len(segments(d, 2)) == 3
        # the real run: the oldest day of city-a only
        _, out, _ = run(["store", "retain", "-c", "koban.yaml", "--tenant", "city-a"], d)
        assert out.startswith("city-a: keeps 7 days (from %s): dropped 1 day" % day(-6)), out
        assert "city-b" not in out, out
        assert [n[:10] for n in segments(d, 2)] == [day(-5), day(0)]
        assert len(segments(d, 3)) == 3
        assert count(d, "city-a") == 40 and count(d, "city-b") == 60
        _, out, _ = run(["store", "retain", "-c", "koban.yaml", "--tenant", "city-a"], d)
        assert "nothing older" in out, out
        # the default (1827 days) drops nothing here
        _, out, _ = run(["store", "retain"], d)
        assert "dropped" not in out, out
        status, _, err = run(["store", "retain", "--tenant", "nobody"], d, check=False)
        assert status == 1 and "no tenant 'nobody'" in err, err
        status, _, err = run(["store", "retain", "--days", "3"], d, check=False)
        assert status == 2 and "usage: koban store retain" in err, err
        status, _, err = run(["key", "init", "extra"], d, check=False)
        assert status == 2 and "usage: koban key init" in err, err
    finally:
        shutil.rmtree(d)


def test_serve_applies_retention():
    d = tempdir()
    try:
        setup_days(d)
        srv = Instance(d, config="koban.yaml")
        try:
            deadline = time.time() + 60
            while total(srv.metrics(), "koban_store_retention_runs_total") < 1 and \
                    time.time() < deadline:
                time.sleep(0.1)  # a poll on the condition: the start-up pass has ended
            assert [n[:10] for n in segments(d, 2)] == [day(-5), day(0)]
            assert len(segments(d, 3)) == 3  # retention_days 0: kept forever
            m = srv.metrics()
            assert total(m, "koban_store_retention_dropped_segments_total") == 1, m
            assert total(m, "koban_store_retention_dropped_events_total") == 20
            assert total(m, "koban_store_retention_dropped_days_total") == 1
            assert total(m, "koban_store_retention_runs_total") == 1
            assert total(m, "koban_store_retention_failures_total") == 0
        finally:
            assert srv.stop() == 0
        assert "retention: tenant 2: dropped 1 day before %s" % day(-6) in srv.log(), srv.log()
    finally:
        shutil.rmtree(d)


def test_store_stats_raw_and_stored():
    d = tempdir()
    try:
        setup_days(d)
        _, out, _ = run(["store", "stats", "--tenant", "city-a"], d)
        lines = [ln.split() for ln in out.splitlines()]
        assert lines[0] == ["TENANT", "DAY", "SEGMENTS", "EVENTS", "RAW_BYTES", "STORED_BYTES",
                            "RATIO", "B/EVENT"], out
        assert [ln[:4] for ln in lines[1:]] == [
            ["city-a", day(-10), "1", "20"], ["city-a", day(-5), "1", "20"],
            ["city-a", day(0), "1", "20"], ["city-a", "total", "3", "60"]], out
        # raw bytes: the event.original lines, exactly
        raw = sum(len("fw1 allow seq=%d %s zulu" % (i, dd)) for dd in (day(-10),) for i in range(20))
        assert int(lines[1][4]) == raw, (raw, out)
        assert int(lines[4][4]) == 3 * raw, out
        stored = int(lines[1][5])
        assert stored == os.path.getsize(os.path.join(d, "var", "tenants", "2",
                                                      segments(d, 2)[0])), out
        assert abs(float(lines[1][6]) - raw / stored) < 0.01, out
        _, out, _ = run(["store", "stats"], d)
        assert [ln.split()[0] for ln in out.splitlines()[1:]] == ["city-a"] * 4 + ["city-b"] * 4
        # a segment the sealer replaced by a merged one (listed in seal.dropped until it is
        # deleted) is not counted twice
        n = (datetime.date.fromisoformat(day(-5)) - datetime.date(1970, 1, 1)).days
        write(d, os.path.join("var", "seal.dropped"), "2 %d 1 0\n" % n)
        _, out, _ = run(["store", "stats", "--tenant", "city-a"], d)
        lines = [ln.split() for ln in out.splitlines()]
        assert [ln[:4] for ln in lines[1:]] == [
            ["city-a", day(-10), "1", "20"], ["city-a", day(0), "1", "20"],
            ["city-a", "total", "2", "40"]], out
    finally:
        shutil.rmtree(d)


def test_serve_with_keys_elsewhere():
    d = tempdir()
    media = os.path.join(d, "media")
    try:
        setup_tenants(d)
        run(["key", "init", "--dir", "media"], d)
        cfg = write(d, "koban.yaml", "data_dir: ./var\nkeys:\n  master: %s/master.key\n"
                    "  signing: %s/signing.key\n" % (media, media))
        k = Instance(d, cfg)
        try:
            loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                    "--count", 500, "--tag", "ke")
            deadline = time.time() + 60
            while value(k.metrics(), "koban_events_stored_total", tenant="alpha") < 500 \
                    and time.time() < deadline:
                time.sleep(0.05)  # a poll on the condition
            assert value(k.metrics(), "koban_events_stored_total", tenant="alpha") == 500
        finally:
            assert k.stop() == 0, k.log()
        keys = sorted(os.listdir(os.path.join(d, "var", "keys")))
        assert "master.key" not in keys and "signing.key" not in keys, keys
        assert count(d, "alpha", cfg) == 500
        # the media gone: serve refuses to start, naming the key, and makes no new one
        os.rename(media, media + ".away")
        try:
            Instance(d, cfg)
            raise AssertionError("serve started without its master key")
        except AssertionError as e:
            assert "keys.master: cannot read %s/master.key" % media in str(e), e
        assert not os.path.exists(os.path.join(d, "var", "keys", "master.key"))
    finally:
        shutil.rmtree(d)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_keys_only_on_first_use():
    """Keys are made by the first import into a data directory without stored data; a
    read-only command makes nothing, and a lost keys/ or tenant key is refused, never
    replaced."""
    d = tempdir()
    var = os.path.join(d, "var")
    kdir = os.path.join(var, "keys")
    try:
        setup_tenants(d)
        # a read-only command on a new data directory: nothing found, nothing made
        status, out, err = run(["search", "--tenant", "alpha", "--json", "| stats count()"], d)
        assert status == 0 and not os.path.exists(kdir), (out, err)
        status, out, err = run(["store", "verify"], d)
        assert status == 0 and not os.path.exists(kdir), (out, err)
        # the first import makes them: 0700 directory, 0600 secrets
        write(d, "e.json", ecs_lines([day(0)], 30, "first"))
        run(["ingest", "--tenant", "alpha", "--format", "ecs", "e.json"], d)
        tid = [n for n in os.listdir(os.path.join(var, "tenants")) if segments(d, n)]
        assert len(tid) == 1, tid
        tkey = "tenant-%s.key" % tid[0]
        assert mode(kdir) == 0o700
        for name in ("master.key", "signing.key", tkey):
            assert mode(os.path.join(kdir, name)) == 0o600, name
        assert count(d, "alpha") == 30
        # the tenant's key lost while its segments exist: no new key
        os.rename(os.path.join(kdir, tkey), os.path.join(d, tkey))
        status, _, err = run(["ingest", "--tenant", "alpha", "--format", "ecs", "e.json"], d,
                             check=False)
        assert status == 1 and ("var/keys/%s is missing but the tenant holds stored data ("
                                % tkey) in err and "restore keys/ from its backup" in err, err
        assert not os.path.exists(os.path.join(kdir, tkey))
        os.rename(os.path.join(d, tkey), os.path.join(kdir, tkey))
        # keys/ lost: every command refuses, naming the file and the fix, and makes nothing
        os.rename(kdir, os.path.join(d, "keys.bak"))
        want = ("var/keys/master.key is missing but ./var holds stored data (", "restore keys/ "
                "from its backup (docs/store.md, Keys), or name the key files in the "
                "configuration")
        for args in (["search", "--tenant", "alpha", "--json", "| stats count()"],
                     ["store", "verify"],
                     ["ingest", "--tenant", "alpha", "--format", "ecs", "e.json"]):
            status, _, err = run(args, d, check=False)
            assert status == 1 and all(w in err for w in want), (args, err)
            assert not os.path.exists(kdir), args
        try:
            Instance(d)
            raise AssertionError("serve started without its keys")
        except AssertionError as e:
            assert all(w in str(e) for w in want), e
        assert not os.path.exists(kdir)
        # restored from the backup: everything opens again
        os.rename(os.path.join(d, "keys.bak"), kdir)
        assert count(d, "alpha") == 30
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_key_init_elsewhere)
    s.run(test_store_retain)
    s.run(test_serve_applies_retention)
    s.run(test_store_stats_raw_and_stored)
    s.run(test_serve_with_keys_elsewhere)
    s.run(test_keys_only_on_first_use)
    s.done()
