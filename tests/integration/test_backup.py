"""koban store backup: a copy of the data directory, without the master and signing keys, that
koban opens as a data directory once they are put back; made with or without a running
`koban serve` (events only in the write-ahead log included), updated in place (segments kept,
copied or removed), and never written into a directory that holds something else."""
import contextlib
import filecmp
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, fw_ecs_lines, ingest_fw, poll, run,  # noqa: E402
                      search_events, tempdir, value)

SUMMARY = re.compile(r"^backup of (.+) into (.+): (\d+) segments \((\d+) copied, (\d+) kept, "
                     r"(\d+) removed\), (\d+) log records in (\d+) log files, koban\.db (\d+) "
                     r"bytes, (\d+) other files(?:, (\d+) damaged files? kept aside \(koban store "
                     r"verify names them\))?$")
KEYS_LINE = "master.key and signing.key are not in the backup: keep them apart " \
    "(docs/store.md, Backup and restore)"


def setup(d):
    """city-a (id 2) with 300 events and city-b (id 3) with 40, sealed by `koban ingest`."""
    run(["tenant", "add", "city-a"], d)
    run(["tenant", "add", "city-b"], d)
    ingest_fw(d, "city-a", 300, "city-a-secret")
    ingest_fw(d, "city-b", 40, "city-b-secret")


def backup(d, dest):
    """`koban store backup dest` run in d: its numbers S, C, K, R, L, F, B as a dict, after
    checking both lines of stdout, backup.info and that backup.partial is gone."""
    _, out, err = run(["store", "backup", dest], d)
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1] == KEYS_LINE, (out, err)
    m = SUMMARY.match(lines[0])
    assert m and m.group(2) == dest, lines[0]
    got = dict(zip("SCKRLFBOD", (int(g or 0) for g in m.groups()[2:])))
    with open(os.path.join(dest, "backup.info")) as f:
        info = f.read()
    assert info.startswith("koban backup\nversion: 1\n"), info
    fields = dict(line.split(": ", 1) for line in info.splitlines()[1:])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", fields["taken"]), info
    assert {"data-dir", "generation"} <= set(fields), info
    assert (fields["segments"], fields["log-records"]) == (str(got["S"]), str(got["L"])), info
    assert not os.path.exists(os.path.join(dest, "backup.partial"))
    assert got["B"] == os.path.getsize(os.path.join(dest, "koban.db")), (got, out)
    return got


def segs(root):
    """{tenants/N/NAME.seg: size} of the data directory (or backup) root."""
    out = {}
    base = os.path.join(root, "tenants")
    for t in os.listdir(base) if os.path.isdir(base) else []:
        for n in os.listdir(os.path.join(base, t)):
            if n.endswith(".seg") and not n.startswith("."):
                out["tenants/%s/%s" % (t, n)] = os.path.getsize(os.path.join(base, t, n))
    return out


@contextlib.contextmanager
def restored(dest, data):
    """A copy of the backup dest as the data directory of a new folder, with master.key and
    signing.key of the data directory data put into its keys/ (0600), and a configuration
    naming it: yields (folder, config); the folder is removed after."""
    r = tempdir()
    try:
        shutil.copytree(dest, os.path.join(r, "data"))
        for name in ("master.key", "signing.key"):
            to = os.path.join(r, "data", "keys", name)
            shutil.copyfile(os.path.join(data, "keys", name), to)
            os.chmod(to, 0o600)
        cfg = os.path.join(r, "restored.yaml")
        with open(cfg, "w") as f:
            f.write("data_dir: %s\n" % os.path.join(r, "data"))
        yield r, cfg
    finally:
        shutil.rmtree(r)


def count(r, cfg, tenant):
    rows = search_events(r, tenant, "| stats count()", config=cfg)
    assert len(rows) == 1, rows
    return rows[0]["count"]


def verify(r, cfg, expected):
    status, out, err = run(["-c", cfg, "store", "verify"], r, check=False)
    assert (status, out.splitlines()) == (0, expected), (status, out, err)


def test_backup_restore_without_daemon():
    d = tempdir()
    try:
        setup(d)
        var, dest = os.path.join(d, "var"), os.path.join(d, "backup")
        got = backup(d, dest)
        assert (got["S"], got["C"], got["K"], got["R"], got["L"]) == (2, 2, 0, 0, 0), got
        assert segs(dest) == segs(var) and len(segs(var)) == 2, (segs(dest), segs(var))
        for name in segs(var):
            assert filecmp.cmp(os.path.join(var, name), os.path.join(dest, name), False), name
        keys = set(os.listdir(os.path.join(dest, "keys")))
        assert {"tenant-2.key", "tenant-3.key"} <= keys, keys
        assert "master.key" not in keys and "signing.key" not in keys, keys
        assert keys == set(os.listdir(os.path.join(var, "keys"))) - \
            {"master.key", "signing.key"}, keys
        with restored(dest, var) as (r, cfg):
            verify(r, cfg, ["city-a: 2026-12-01 segment 1: ok (300 events)",
                            "city-b: 2026-12-01 segment 1: ok (40 events)"])
            assert (count(r, cfg, "city-a"), count(r, cfg, "city-b")) == (300, 40)
            rows = search_events(r, "city-b", "city-a-secret | stats count()", config=cfg)
            assert rows == [{"count": 0}], rows
    finally:
        shutil.rmtree(d)


def test_backup_incremental():
    d = tempdir()
    try:
        setup(d)
        var, dest = os.path.join(d, "var"), os.path.join(d, "backup")
        got = backup(d, dest)
        assert (got["S"], got["C"], got["K"], got["R"]) == (2, 2, 0, 0), got
        ingest_fw(d, "city-a", 20, "later")  # a second segment of city-a's day
        assert len(segs(var)) == 3, segs(var)
        got = backup(d, dest)
        assert (got["S"], got["C"], got["K"], got["R"]) == (3, 1, 2, 0), got
        assert segs(dest) == segs(var), (segs(dest), segs(var))
        with restored(dest, var) as (r, cfg):
            assert (count(r, cfg, "city-a"), count(r, cfg, "city-b")) == (320, 40)
            rows = search_events(r, "city-a", "later | stats count()", config=cfg)
            assert rows == [{"count": 20}], rows
        b_segs = [n for n in segs(var) if n.startswith("tenants/3/")]
        assert len(b_segs) == 1, b_segs
        status, cert, err = run(["tenant", "erase", "city-b", "--yes"], d, check=False)
        assert status == 0 and cert.startswith("koban deletion certificate\n"), (status, err)
        got = backup(d, dest)
        assert (got["S"], got["C"], got["K"], got["R"]) == (2, 0, 2, len(b_segs)), got
        assert segs(dest) == segs(var) and len(segs(var)) == 2, (segs(dest), segs(var))
        assert not os.path.exists(os.path.join(dest, "tenants", "3"))
        assert not os.path.exists(os.path.join(dest, "keys", "tenant-3.key"))
        # the certificate is among the other files the backup holds
        assert filecmp.cmp(os.path.join(var, "certificates", "tenant-3.cert"),
                           os.path.join(dest, "certificates", "tenant-3.cert"), False)
        with restored(dest, var) as (r, cfg):
            assert count(r, cfg, "city-a") == 320
            status, _, err = run(["-c", cfg, "search", "--tenant", "city-b", "*"], r,
                                 check=False)
            assert status == 1 and "no tenant 'city-b'" in err, (status, err)
    finally:
        shutil.rmtree(d)


def test_backup_refuses_foreign_dir():
    d = tempdir()
    try:
        setup(d)
        foreign = os.path.join(d, "foreign")
        os.mkdir(foreign)
        with open(os.path.join(foreign, "x"), "w") as f:
            f.write("not a backup\n")
        status, out, err = run(["store", "backup", foreign], d, check=False)
        assert (status, out) == (1, "") and err.startswith("koban: ") and \
            "holds no koban backup" in err, (status, out, err)
        assert os.listdir(foreign) == ["x"], os.listdir(foreign)
        with open(os.path.join(foreign, "x")) as f:
            assert f.read() == "not a backup\n"
        # the parent must exist: nothing is made
        status, out, err = run(["store", "backup", os.path.join(d, "no", "dir")], d,
                               check=False)
        assert (status, out) == (1, "") and err.startswith("koban: "), (status, out, err)
        assert not os.path.exists(os.path.join(d, "no"))
        # an empty directory is taken; one left by an interrupted backup (backup.partial,
        # no backup.info) is updated in place
        empty = os.path.join(d, "empty")
        os.mkdir(empty)
        got = backup(d, empty)
        assert (got["S"], got["C"], got["K"], got["R"]) == (2, 2, 0, 0), got
        os.unlink(os.path.join(empty, "backup.info"))
        open(os.path.join(empty, "backup.partial"), "w").close()
        got = backup(d, empty)
        assert (got["S"], got["C"], got["K"], got["R"]) == (2, 0, 2, 0), got
        # neither may hold the other: a DIR inside the data directory is not even made, and
        # a data directory inside a backup is never mirrored away
        var = os.path.join(d, "var")
        status, out, err = run(["store", "backup", os.path.join(var, "inside")], d,
                               check=False)
        assert (status, out) == (1, "") and "is inside the data directory" in err, err
        assert not os.path.exists(os.path.join(var, "inside"))
        os.rename(var, os.path.join(empty, "live"))
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: %s\n" % os.path.join(empty, "live"))
        status, out, err = run(["-c", "koban.yaml", "store", "backup", empty], d, check=False)
        assert (status, out) == (1, "") and "the data directory" in err and \
            "is inside" in err, err
        assert os.path.isfile(os.path.join(empty, "live", "keys", "master.key"))
        os.rename(os.path.join(empty, "live"), var)
        os.unlink(os.path.join(d, "koban.yaml"))
    finally:
        shutil.rmtree(d)


def test_backup_leaves_secrets_and_the_data_directory_alone():
    """The master and signing keys stay out wherever the keys: section puts them in the data
    directory (by name or by their magic), and the backup writes nothing into the data
    directory (SQLite's -wal and -shm files of koban.db go at its close)."""
    d = tempdir()
    try:
        var = os.path.join(d, "var")
        os.makedirs(os.path.join(var, "mykeys"))
        with open(os.path.join(d, "koban.yaml"), "w") as f:
            f.write("data_dir: ./var\nkeys:\n  master: ./var/mykeys/m.key\n"
                    "  signing: ./var/mykeys/s.key\n")
        run(["-c", "koban.yaml", "key", "init", "--dir", os.path.join(var, "mykeys")], d)
        os.rename(os.path.join(var, "mykeys", "master.key"), os.path.join(var, "mykeys", "m.key"))
        os.rename(os.path.join(var, "mykeys", "signing.key"),
                  os.path.join(var, "mykeys", "s.key"))
        os.rename(os.path.join(var, "mykeys", "signing.pub"),
                  os.path.join(var, "mykeys", "s.pub"))
        run(["-c", "koban.yaml", "tenant", "add", "city-a"], d)
        _, out, err = run(["-c", "koban.yaml", "ingest", "--tenant", "city-a", "--format", "ecs",
                           "-"], d, input=fw_ecs_lines(5, "k"))
        before = sorted(os.listdir(var))
        dest = os.path.join(d, "backup")
        run(["-c", "koban.yaml", "store", "backup", dest], d)
        assert sorted(os.listdir(var)) == before, (before, sorted(os.listdir(var)))
        assert sorted(os.listdir(os.path.join(dest, "mykeys"))) == ["s.pub"], \
            os.listdir(os.path.join(dest, "mykeys"))
        for root, _, files in os.walk(dest):
            for n in files:
                with open(os.path.join(root, n), "rb") as f:
                    assert f.read(8) not in (b"KOBANMK1", b"KOBANSK1"), (root, n)
    finally:
        shutil.rmtree(d)


def test_backup_while_serving_with_unsealed_events():
    d = tempdir()
    k = None
    try:
        setup(d)
        var, dest = os.path.join(d, "var"), os.path.join(d, "backup")
        sealed = segs(var)
        k = Instance(d)
        # committed to the write-ahead log through the daemon; its sealer commits a
        # generation only after 60 s: none of them is in a committed segment yet
        for tenant, n in (("city-a", 25), ("city-b", 10)):
            _, out, _ = run(["ingest", "--tenant", tenant, "--format", "ecs", "--no-wait", "-"],
                            d, input=fw_ecs_lines(n, "walonly"))
            assert out.startswith("stored %d events of %d lines (through the running koban: "
                                  "committed to its write-ahead log, not sealed yet)"
                                  % (n, n)), out
        poll("the backlog", lambda: value(k.metrics(), "koban_store_seal_backlog_events") == 35)
        got = backup(d, dest)
        assert (got["S"], got["C"], got["K"], got["R"]) == (2, 2, 0, 0), got
        assert got["L"] >= 2 and got["F"] >= 1, got  # a record per batch and tenant at least
        wal = [n for _, _, ns in os.walk(os.path.join(dest, "wal")) for n in ns
               if n.endswith(".wal")]
        assert len(wal) == got["F"], (wal, got)
        assert segs(dest) == sealed, (segs(dest), sealed)
        for name in ("control.sock", "koban.pid", "seal.journal", "spool"):
            assert not os.path.exists(os.path.join(dest, name)), name
        # the daemon still answers, and finds the events of the log too
        assert count(d, None, "city-a") == 325
        assert k.stop() == 0, k.log()
        k = None
        with restored(dest, var) as (r, cfg):
            verify(r, cfg, ["city-a: 2026-12-01 segment 1: ok (300 events)",
                            "city-b: 2026-12-01 segment 1: ok (40 events)"])
            assert (count(r, cfg, "city-a"), count(r, cfg, "city-b")) == (325, 50)
            rows = search_events(r, "city-a", "walonly | stats count()", config=cfg)
            assert rows == [{"count": 25}], rows
            # the events of the log are there as records not sealed yet
            _, out, _ = run(["-c", cfg, "store", "stats"], r)
            rows = {line.split()[0]: line.split()[3] for line in out.splitlines()[1:]
                    if len(line.split()) > 3 and line.split()[1] == "unsealed"}
            assert rows == {"city-a": "25", "city-b": "10"}, out
            # a koban started on it seals them, once
            k2 = Instance(r, cfg)
            try:
                assert k2.stop() == 0, k2.log()
            finally:
                k2.stop()
            assert (count(r, cfg, "city-a"), count(r, cfg, "city-b")) == (325, 50)
            _, out, _ = run(["-c", cfg, "store", "stats"], r)
            assert "unsealed" not in out, out
            status, out, err = run(["-c", cfg, "store", "verify"], r, check=False)
            assert status == 0 and "DAMAGED" not in out, (status, out, err)
    finally:
        if k:
            k.stop()
        shutil.rmtree(d)


def test_backup_keeps_damaged_copies():
    """What store verify names for a person to look at is backed up too, so that a restore
    names it as well: a held log's damaged copy (a salvage's) and bytes the write-ahead log's
    replay cut and kept; one dealt with (removed) leaves the backup at its next run."""
    d = tempdir()
    try:
        setup(d)
        var, dest = os.path.join(d, "var"), os.path.join(d, "backup")
        held = os.path.join(var, "tenants", "2", "held.log.damaged-1796000000")
        sdir = os.path.join(var, "wal", "shard-00")
        os.makedirs(sdir, exist_ok=True)
        cut = os.path.join(sdir, "0000000000000001.wal.cut-1796000001")
        for path, data in ((held, b"KOBANHL1" + bytes(range(40))), (cut, bytes(range(77)))):
            with open(path, "wb") as f:
                f.write(data)
        got = backup(d, dest)
        assert got["D"] == 2, got
        assert filecmp.cmp(held, os.path.join(dest, "tenants", "2", os.path.basename(held)),
                           False)
        assert filecmp.cmp(cut, os.path.join(dest, "wal", "shard-00", os.path.basename(cut)),
                           False)
        with restored(dest, var) as (r, cfg):
            status, out, _ = run(["-c", cfg, "store", "verify"], r, check=False)
            assert status == 1, (status, out)
            assert "city-a: held events: DAMAGED: " in out and os.path.basename(held) in out, out
            assert "write-ahead log: DAMAGED: " in out and os.path.basename(cut) in out, out
            assert (count(r, cfg, "city-a"), count(r, cfg, "city-b")) == (300, 40)
        os.unlink(held)
        got = backup(d, dest)
        assert got["D"] == 1, got
        assert not os.path.exists(os.path.join(dest, "tenants", "2", os.path.basename(held)))
        os.unlink(cut)
        got = backup(d, dest)
        assert got["D"] == 0, got
        assert not os.path.exists(os.path.join(dest, "wal", "shard-00", os.path.basename(cut)))
        with restored(dest, var) as (r, cfg):
            status, out, _ = run(["-c", cfg, "store", "verify"], r, check=False)
            assert status == 0 and "DAMAGED" not in out, (status, out)
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_backup_restore_without_daemon)
    s.run(test_backup_incremental)
    s.run(test_backup_refuses_foreign_dir)
    s.run(test_backup_leaves_secrets_and_the_data_directory_alone)
    s.run(test_backup_while_serving_with_unsealed_events)
    s.run(test_backup_keeps_damaged_copies)
    s.done()
