"""koban search sees events committed to the write-ahead log that are not sealed into segments
yet (no daemon running: the search reads DATA_DIR/wal itself), exactly once, only for the
searched tenant, and stops quietly at a record torn by a crash."""
import json
import os
import shutil
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Suite, run, tempdir  # noqa: E402


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


def search(d, tenant, *args):
    _, out, _ = run(["search", "--tenant", tenant, "--json"] + list(args), d)
    return [json.loads(line) for line in out.splitlines()]


def tenant_id(d, name):
    """The tenant's id: the directory its first import made."""
    before = set(os.listdir(os.path.join(d, "var", "tenants")))
    run(["ingest", "--tenant", name, "--format", "ecs", "-"], d,
        input=ecs(0, "sealed-" + name) + "\n")
    made = set(os.listdir(os.path.join(d, "var", "tenants"))) - before
    assert len(made) == 1, made
    return int(made.pop())


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
        # a sealer state past some records: those are in segments, not read again
        state = b"KOBANSST" + struct.pack("<IIQ", 1, 2, 1) + struct.pack("<QQ", 1, 0)
        with open(os.path.join(d, "var", "wal", "seal.state"), "wb") as f:
            f.write(state + struct.pack("<I", zlib.crc32(state) & 0xffffffff))
        assert search(d, "city-a", "walonly | stats count()") == [{"count": 5}]
        # a damaged sealer state is an error naming the file, never skipped
        with open(os.path.join(d, "var", "wal", "seal.state"), "wb") as f:
            f.write(b"KOBANSST broken")
        status, _, err = run(["search", "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "seal.state" in err, (status, err)
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_search_sees_unsealed_wal_records)
    s.done()
