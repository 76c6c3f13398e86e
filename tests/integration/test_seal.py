"""koban search sees events committed to the write-ahead log that are not sealed into segments
yet, exactly once, only for the searched tenant: records written by hand with no daemon
(stopping quietly at a record torn by a crash), and events a running `koban serve` received
over TCP while its sealer has not committed them (then sealed when it stops)."""
import json
import os
import shutil
import signal
import sqlite3
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, loadgen, poll, run, tempdir, value,  # noqa: E402
                      search_events as search)
from test_serve import ALPHA, BETA, setup_tenants  # noqa: E402


def ecs(i, marker, day="2026-12-01"):
    return json.dumps({
        "@timestamp": "%sT10:%02d:%02dZ" % (day, i // 60 % 60, i % 60),
        "source": {"ip": "10.1.0.%d" % (i % 9)},
        "event": {"action": "allow", "original": "fw9 allow seq=%d %s" % (i, marker)},
    })


def record(lsn, tenant, lines):
    """A WAL record (docs/store.md, format version 1) with a clear-text payload (flags 0)."""
    payload = "".join(line + "\n" for line in lines).encode()
    rest = struct.pack("<QQII", lsn, tenant, len(lines), 0)
    crc = zlib.crc32(payload, zlib.crc32(rest)) & 0xffffffff
    return struct.pack("<II", len(payload), crc) + rest + payload


def write_wal(d, shard, first_lsn, records, torn=b""):
    sdir = os.path.join(d, "var", "wal", "shard-%02d" % shard)
    os.makedirs(sdir, exist_ok=True)
    with open(os.path.join(sdir, "%016x.wal" % first_lsn), "wb") as f:
        f.write(b"KOBANWAL" + struct.pack("<IIQ", 1, shard, first_lsn))
        for r in records:
            f.write(r)
        f.write(torn)


def tenant_id(d, name):
    """The tenant's id: the directory its first import made."""
    before = set(os.listdir(os.path.join(d, "var", "tenants")))
    run(["ingest", "--tenant", name, "--format", "ecs", "-"], d,
        input=ecs(0, "sealed-" + name) + "\n")
    made = set(os.listdir(os.path.join(d, "var", "tenants"))) - before
    assert len(made) == 1, made
    return int(made.pop())


def city_a(d):
    """Tenant city-a in d, with one event sealed by an import: its id."""
    run(["tenant", "add", "city-a"], d)
    os.makedirs(os.path.join(d, "var", "tenants"), exist_ok=True)
    return tenant_id(d, "city-a")


def test_search_sees_unsealed_wal_records():
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        run(["tenant", "add", "city-b"], d)
        os.makedirs(os.path.join(d, "var", "tenants"), exist_ok=True)
        a = tenant_id(d, "city-a")
        b = tenant_id(d, "city-b")
        recs = [record(1, a, [ecs(i, "walonly") for i in range(1, 6)]),
                record(2, b, [ecs(i, "other-tenant") for i in range(1, 4)]),
                record(3, a, [ecs(i, "walonly") for i in range(6, 11)])]
        # the last record was being written when the machine stopped: half of it is there
        torn = record(4, a, [ecs(99, "torn")])[:40]
        write_wal(d, 0, 1, recs, torn)
        write_wal(d, 1, 1, [record(1, a, [ecs(i, "shard1") for i in range(20, 24)])])

        assert search(d, "city-a", "| stats count()") == [{"count": 1 + 10 + 4}]
        assert search(d, "city-a", "walonly | stats count()") == [{"count": 10}]
        assert search(d, "city-a", '"seq=7 walonly" | stats count()') == [{"count": 1}]
        assert search(d, "city-a", "torn | stats count()") == [{"count": 0}]
        assert search(d, "city-a", "other-tenant | stats count()") == [{"count": 0}]
        assert search(d, "city-b", "| stats count()") == [{"count": 1 + 3}]
        # newest first: the WAL's records before the sealed segments
        evs = search(d, "city-a", "--limit", "1", "*")
        assert evs[0]["event"]["original"].endswith("walonly") or \
            evs[0]["event"]["original"].endswith("shard1"), evs
        # the table output reads them too
        _, out, _ = run(["search", "--tenant", "city-a", "seq=23"], d)
        assert "fw9 allow seq=23 shard1" in out, out
        # store stats shows what only the WAL holds, per tenant, counted from record headers
        _, out, _ = run(["store", "stats"], d)
        rows = {line.split()[0]: line.split()[3] for line in out.splitlines()[1:]
                if line.split()[1] == "unsealed"}
        assert rows == {"city-a": "14", "city-b": "3"}, out
        # a sealer state past some records: those are in segments, not read again
        state = b"KOBANSST" + struct.pack("<IIQ", 1, 2, 1) + struct.pack("<QQ", 1, 0)
        with open(os.path.join(d, "var", "seal.state"), "wb") as f:
            f.write(state + struct.pack("<I", zlib.crc32(state) & 0xffffffff))
        assert search(d, "city-a", "walonly | stats count()") == [{"count": 5}]
        # a damaged sealer state is an error naming the file, never skipped
        with open(os.path.join(d, "var", "seal.state"), "wb") as f:
            f.write(b"KOBANSST broken")
        status, _, err = run(["search", "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "seal.state" in err, (status, err)
    finally:
        shutil.rmtree(d)


def count(d, tenant, query):
    rows = search(d, tenant, "-c", os.path.join(d, "koban.yaml"), query + " | stats count()")
    return rows[0]["count"] if rows else 0


def test_daemon_events_searchable_before_sealing():
    name = "test_daemon_events_searchable_before_sealing"
    d = tempdir()
    k = None
    try:
        setup_tenants(d)
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: ./var\n")
        k = Instance(d, os.path.join(d, "koban.yaml"))
        if ("koban_store_seal_backlog_events", frozenset()) not in k.metrics():
            print("SKIP %s: this koban serve does not run the sealer (branch sinkw)" % name)
            return False
        n = 3000
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", n, "--tag", "us")
        poll("the events committed to the WAL",
             lambda: value(k.metrics(), "koban_events_stored_total", tenant="alpha") == n)
        # durable and not in committed segments (a generation lasts 60 s), whether the
        # sealer has read them yet or not: in the backlog as soon as they are stored
        m = k.metrics()
        assert value(m, "koban_store_seal_backlog_events") == n, \
            value(m, "koban_store_seal_backlog_events")
        assert value(m, "koban_store_sealed_events_total") == 0, m
        assert not os.path.exists(os.path.join(d, "var", "seal.state"))
        # a search in another process finds every one, once, while only the WAL holds them
        assert count(d, "alpha", "*") == n
        assert count(d, "alpha", '"seq=2999"') == 1
        assert count(d, "beta", "*") == 0
        assert k.stop() == 0, k.log()
        k = None
        # the stop sealed them: the same answers from segments
        assert os.path.exists(os.path.join(d, "var", "seal.state"))
        segs = [f for f in os.listdir(os.path.join(d, "var", "tenants"))]
        assert segs, "no tenant directory"
        assert count(d, "alpha", "*") == n
        assert count(d, "alpha", '"seq=2999"') == 1
        return True
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_missing_wal_file_named_at_start():
    """A WAL file moved away (docs/store.md: what to do with a damaged one): a search without
    a daemon stops at the gap; `koban serve` starts anyway, logs and counts the records
    missing, names them in the log, and seals the rest; afterwards every reader goes past."""
    d = tempdir()
    k = None
    try:
        a = city_a(d)
        write_wal(d, 0, 1, [record(1, a, [ecs(i, "kept") for i in range(1, 4)]),
                            record(2, a, [ecs(i, "kept") for i in range(4, 6)])])
        # 0000000000000003.wal, with records 3 to 9, was moved away: wider than the 4
        # records a lane's sealer reads at a time
        write_wal(d, 0, 10, [record(10, a, [ecs(i, "kept") for i in range(6, 13)])])
        status, _, err = run(["search", "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "records are missing" in err, (status, err)
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: ./var\nstore:\n  seal_threads: 2\n")
        k = Instance(d, os.path.join(d, "koban.yaml"))
        m = k.metrics()
        assert value(m, "koban_store_wal_missing_records") == 7, m
        assert "records 3 to 9 are missing before 000000000000000a.wal" in k.log(), k.log()
        assert count(d, "city-a", "kept") == 12
        assert k.stop() == 0, k.log()
        k = None
        assert count(d, "city-a", "kept") == 12
        assert count(d, "city-a", "*") == 13
        # the stop sealed them all: the log holds nothing unsealed
        _, out, _ = run(["store", "stats"], d)
        assert "unsealed" not in out, out
        # the next start finds nothing missing: the range is named
        k = Instance(d, os.path.join(d, "koban.yaml"))
        assert value(k.metrics(), "koban_store_wal_missing_records") == 0
        assert count(d, "city-a", "*") == 13
        assert k.stop() == 0, k.log()
        k = None
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_damaged_wal_record_before_whole_ones_kept():
    """A committed record damaged in the middle of a shard's last file, whole records after
    it: `koban serve` cuts the log there (as a torn end) but keeps the bytes cut beside the
    file, logs and counts the whole records after it; `koban store verify` names the file
    (exit 1) until it is removed."""
    d = tempdir()
    k = None
    try:
        a = city_a(d)
        recs = [record(lsn, a, [ecs(lsn * 10 + i, "rec%d" % lsn) for i in range(lsn)])
                for lsn in range(1, 6)]
        write_wal(d, 0, 1, recs)
        path = os.path.join(d, "var", "wal", "shard-00", "%016x.wal" % 1)
        bad = 24 + len(recs[0])  # record 2, its payload's first byte flipped
        with open(path, "r+b") as f:
            f.seek(bad + 32)
            b = f.read(1)
            f.seek(bad + 32)
            f.write(bytes([b[0] ^ 0x20]))
        with open(path, "rb") as f:
            cut = f.read()[bad:]
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: ./var\n")
        k = Instance(d, os.path.join(d, "koban.yaml"))
        assert value(k.metrics(), "koban_store_wal_cut_records_kept") == 3
        assert k.stop() == 0, k.log()
        k = None
        assert "3 whole records (12 events) after it" in open(os.path.join(d, "koban.log")).read()
        kept = [f for f in os.listdir(os.path.dirname(path)) if ".wal.cut-" in f]
        assert len(kept) == 1, kept
        with open(os.path.join(os.path.dirname(path), kept[0]), "rb") as f:
            assert f.read() == cut
        assert count(d, "city-a", "rec1") == 1
        assert count(d, "city-a", "rec3") == 0
        status, out, _ = run(["store", "verify"], d, check=False)
        assert status == 1, (status, out)
        assert "write-ahead log: DAMAGED: ./var/wal/shard-00/%s: records cut off" % kept[0] \
            in out, out
        os.unlink(os.path.join(os.path.dirname(path), kept[0]))
        status, out, _ = run(["store", "verify"], d, check=False)
        assert status == 0 and "DAMAGED" not in out, (status, out)
        return True
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def flip_key_byte(d, tenant):
    """Damages (or, flipped again, mends) a byte inside the tenant's wrapped data key."""
    path = os.path.join(d, "var", "keys", "tenant-%d.key" % tenant)
    with open(path, "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 0x5a]))
    os.utime(path)  # another time: read again, never taken from a cache


def test_damaged_key_holds_one_tenant():
    """One tenant's damaged key file does not stop sealing: its events wait in
    tenants/N/held.log (koban_store_held_events, `store verify`, `store stats` say so), the
    other tenant's are sealed; once the key is mended a running daemon seals them by itself,
    each found once."""
    name = "test_damaged_key_holds_one_tenant"
    d = tempdir()
    k = None
    try:
        setup_tenants(d)
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: ./var\nstore:\n  seal_threads: 2\n")
        conf = os.path.join(d, "koban.yaml")
        # a segment first (an ingest without a daemon seals), then 700 in the WAL only
        run(["ingest", "--tenant", "alpha", "--format", "ecs", "-"], d,
            input=ecs(0, "sealed-alpha") + "\n")
        k = Instance(d, conf)
        if ("koban_store_held_events", frozenset()) not in k.metrics():
            print("SKIP %s: this koban serve has no held logs" % name)
            return False
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", 700, "--tag", "al")
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", BETA,
                "--count", 500, "--tag", "be")
        poll("the events committed to the WAL",
             lambda: value(k.metrics(), "koban_events_stored_total", tenant="alpha") == 700 and
             value(k.metrics(), "koban_events_stored_total", tenant="beta") == 500)
        alpha = tenant_id_of(d, "alpha")
        # killed before its sealer committed them (every 60 s): a running lane may have read
        # alpha's key already and would seal with it, however the file changes
        k.signal(signal.SIGKILL)
        k.stop()
        flip_key_byte(d, alpha)
        k = Instance(d, conf)
        assert k.stop() == 0, k.log()  # its first pass and the stop seal: beta's only
        k = None
        held = os.path.join(d, "var", "tenants", str(alpha), "held.log")
        assert os.path.exists(held)
        assert count(d, "beta", "*") == 500
        # its segment does not open (the key's error), its held events are said all the same
        status, out, err = run(["store", "verify"], d, check=False)
        assert status == 1 and "tenant-%d.key" % alpha in err, (status, out, err)
        assert "alpha: 700 events held" in out, out
        status, out, err = run(["store", "stats", "--tenant", "alpha"], d, check=False)
        assert status == 1 and "tenant-%d.key" % alpha in err, (status, out, err)
        assert "unsealed" in out and " 700 " in out and "empty" not in out, out
        k = Instance(d, conf)
        assert value(k.metrics(), "koban_store_held_events") == 700
        flip_key_byte(d, alpha)  # mended: sealed within SEAL_HELD_RETRY_MS
        poll("the held events sealed",
             lambda: value(k.metrics(), "koban_store_held_events") == 0, timeout=30)
        assert not os.path.exists(held)
        assert value(k.metrics(), "koban_store_sealed_events_total", tenant_id=str(alpha)) \
            == 700
        assert count(d, "alpha", "*") == 701
        assert count(d, "alpha", '"seq=699"') == 1
        assert count(d, "beta", "*") == 500
        assert k.stop() == 0, k.log()
        k = None
        assert count(d, "alpha", "*") == 701
        return True
    finally:
        if k:
            k.stop()
        shutil.rmtree(d, ignore_errors=True)


def tenant_id_of(d, name):
    """The tenant's id in koban.db (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "var", "koban.db"), uri=True)
    try:
        return db.execute("SELECT id FROM tenants WHERE name = ?", (name,)).fetchone()[0]
    finally:
        db.close()


if __name__ == "__main__":
    s = Suite()
    s.run(test_search_sees_unsealed_wal_records)
    s.run(test_daemon_events_searchable_before_sealing)
    s.run(test_missing_wal_file_named_at_start)
    s.run(test_damaged_wal_record_before_whole_ones_kept)
    s.run(test_damaged_key_holds_one_tenant)
    s.done()
