"""kill -9 torture of a running `koban serve`: every acknowledged event is stored exactly once.

Cycle after cycle, two clients POST bodies of uniquely numbered events to the HTTP ingest
API (200 only after the WAL commit), a third sends syslog over TCP (no acknowledgement), and
`koban ingest` sends files through the daemon's control socket (exit 0: all stored), while
koban is killed with SIGKILL at a random moment: during its start; right after it, while the
sealer seals what the previous run left; while a `koban tenant erase` through the daemon
makes it seal everything and merge small segments; during `koban ingest`; during a search;
while a SIGTERM stop drains and seals; or at any other time. Each run has its own number of
workers (so of WAL shards), sealer lanes and commit interval. koban is started again on the
same data directory for the next cycle. Every batch is recorded as acknowledged (200, exit 0)
or not. At the end, with the daemon running and again with the store opened by the CLI:
every acknowledged event is found exactly once, no event twice, none that koban never
received; `koban store verify` finds no damage; `koban store stats` counts what the search
finds; the sealer's metrics after the last start are exact (it seals what the log held, its
backlog returns to 0, no errors, no loss). A search during a cycle finds what was
acknowledged before it exactly once; after about a third of the kills the CLI checks the data
directory as the kill left it, with no daemon (half the time after a `koban ingest` there).

The cycles' kinds, timings, sizes and settings come from a seeded generator; the seed is
printed (KOBAN_TORTURE_SEED=N replays its choices; the threads' timing still varies).
KOBAN_TORTURE_CYCLES (default 15, about 20 s) runs a longer torture, e.g.
KOBAN_TORTURE_CYCLES=200, which adds runs of a minute (the sealer's own commit and merge);
KOBAN_TORTURE_KEEP=1 keeps the data directory of a failed run (docs/serve.md)."""
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (KOBAN, Instance, Suite, poll, read_or_empty, run, tempdir,  # noqa: E402
                      total, value, write_config)
from test_http_ingest import post  # noqa: E402

TENANTS = ("city-a", "city-b")
CLIENTS = 2                  # HTTP clients posting at once
BATCH_MAX = 150              # events in a body, at most
FILE_MAX = 20000             # events in a file of `koban ingest`, at most
DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")  # event days: several segments per tenant
KINDS = ("any", "early", "start", "erase", "erase", "ingest", "search", "stop")
ID_RE = re.compile(r"\btid=(\d+)\b")


class Ledger:
    """Every batch sent: its ids and whether it was acknowledged. Thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 0
        self.acked = []      # batches (lists of ids) answered 200 / exit 0
        self.unknown = []    # (input, batch) without such an answer: in flight at the kill
        self.refused = []    # batches whose connection was refused: koban never saw them
        self.errors = []     # what a client thread saw that it should not have
        self.answers = collections.Counter()  # HTTP statuses other than 200

    def take(self, n):
        with self.lock:
            first = self.next_id
            self.next_id += n
        return list(range(first, first + n))

    def record(self, what, ids, acked):
        """A batch sent through input what (http, ingest, tcp), acknowledged or not."""
        with self.lock:
            if acked:
                self.acked.append(ids)
            else:
                self.unknown.append((what, ids))

    def record_refused(self, ids):
        with self.lock:
            self.refused.append(ids)

    def acked_ids(self):
        with self.lock:
            return {i for b in self.acked for i in b}


def syslog_body(ids):
    return "".join("<13>1 %sT%02d:%02d:%02d.000Z host%d app - - - torture tid=%d\n" %
                   (DAYS[i % len(DAYS)], i // 3600 % 24, i // 60 % 60, i % 60, i % 7, i)
                   for i in ids).encode()


def ecs_file(path, ids):
    with open(path, "w") as f:
        for i in ids:
            f.write(json.dumps({
                "@timestamp": "%sT%02d:%02d:%02dZ" % (DAYS[i % len(DAYS)], i // 3600 % 24,
                                                      i // 60 % 60, i % 60),
                "event": {"original": "ingested tid=%d" % i}}) + "\n")


def configure(d, rng):
    """koban.yaml for the next run: the workers (so the WAL's shards: the acknowledged
    inputs' shard is the one past the workers'), the sealer's lanes and the commit interval
    change from run to run."""
    workers, interval, lanes = rng.randint(1, 3), rng.choice((1, 20, 100)), rng.randint(1, 2)
    return write_config(d, "workers: %d\nstore:\n  commit_interval_ms: %d\n  seal_threads: %d\n"
                        % (workers, interval, lanes)), "workers %d, commit %d ms, lanes %d" % (
                            workers, interval, lanes)


def setup(d, rng):
    cfg, _ = configure(d, rng)
    tokens = {}
    for t in TENANTS:
        run(["-c", cfg, "tenant", "add", t], d)
        run(["-c", cfg, "source", "add", "fw", "--tenant", t, "--listener", "api",
             "--format", "rfc5424"], d)
        tokens[t] = run(["-c", cfg, "source", "token", "fw", "--tenant", t], d)[1].strip()
    # syslog over TCP (no acknowledgement: each id at most once) to the workers' shards
    run(["-c", cfg, "source", "add", "net", "--tenant", TENANTS[0], "--cidr", "127.0.0.1/32",
         "--format", "rfc5424"], d)
    return cfg, tokens


def client(k, tenant, token, ledger, rng, stop, slow):
    """Posts batches to k until stop is set (one a second while slow is); each batch is
    recorded once it is answered or its connection fails (the kill)."""
    while not stop.is_set():
        if slow.is_set():
            time.sleep(1)
        ids = ledger.take(rng.randint(1, BATCH_MAX))
        status, _, body = post(k.api, "/api/v1/ingest/fw", token, syslog_body(ids))
        if status is None and "Connection refused" in body:
            ledger.record_refused(ids)
            continue
        acked = status == 200
        if status not in (200, None):
            with ledger.lock:
                ledger.answers[status] += 1
        if acked and body != {"events": len(ids), "decode_errors": 0}:
            ledger.errors.append("a batch of %d events answered %r" % (len(ids), body))
        ledger.record("http", ids, acked)


def tcp_client(k, ledger, rng, stop, slow):
    """Sends syslog lines over TCP until stop is set or the connection breaks (one batch a
    second while slow is set); every batch is unacknowledged (syslog has no answer)."""
    host, port = k.listeners["tcp"].rsplit(":", 1)
    try:
        s = socket.create_connection((host, int(port)), timeout=10)
    except OSError:
        return
    with s:
        while not stop.is_set():
            if slow.is_set():
                time.sleep(1)
            ids = ledger.take(rng.randint(1, 50))
            try:
                s.sendall(syslog_body(ids))
            except OSError:
                ledger.record("tcp", ids, False)
                return
            ledger.record("tcp", ids, False)
            time.sleep(0.01)


def koban(cfg, d, args):
    return subprocess.Popen([KOBAN, "-c", cfg] + args, cwd=d, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def found_ids(d, cfg, tenant):
    """The ids of the events `koban search` finds, with repeats."""
    _, out, _ = run(["-c", cfg, "search", "--tenant", tenant, "--json",
                     "* | fields event.original"], d)
    ids = [int(i) for i in ID_RE.findall(out)]
    assert len(ids) == out.count("\n"), "events without an id: %s" % out[:500]
    return ids


def check_exactly_once(d, cfg, ledger, where, acked_before=None):
    """Every acknowledged id (or those of acked_before) found exactly once, none twice,
    none never sent; returns ({tenant: events found}, the ids found)."""
    counts = collections.Counter()
    per_tenant = {}
    for t in TENANTS:
        ids = found_ids(d, cfg, t)
        per_tenant[t] = len(ids)
        counts.update(ids)
    twice = sorted(i for i, n in counts.items() if n > 1)
    assert not twice, "%s: %d ids found more than once, e.g. %s" % (where, len(twice), twice[:10])
    acked = ledger.acked_ids() if acked_before is None else acked_before
    lost = sorted(acked - set(counts))
    assert not lost, "%s: %d acknowledged ids lost, e.g. %s" % (where, len(lost), lost[:10])
    with ledger.lock:
        refused = {i for b in ledger.refused for i in b}
    stray = sorted(i for i in counts if i >= ledger.next_id or i in refused)
    assert not stray, "%s: ids koban never received found: %s" % (where, stray[:10])
    return per_tenant, set(counts)


def unknown_summary(ledger, found):
    """How many unacknowledged batches of each input are stored whole, in part, not at all;
    an HTTP body (one WAL record: under ACKIN_FLUSH_BYTES) is never stored in part."""
    got = collections.defaultdict(lambda: [0, 0, 0])
    for what, b in ledger.unknown:
        n = sum(1 for i in b if i in found)
        got[what][0 if n == len(b) else 1 if n else 2] += 1
    assert got["http"][1] == 0, "%d HTTP bodies stored in part" % got["http"][1]
    return "; ".join("%s %d whole, %d in part, %d absent" % ((what,) + tuple(got[what]))
                     for what in sorted(got))


def stats_events(d, cfg, tenant):
    """(events in segments (the total), events not sealed yet) of `koban store stats`."""
    _, out, _ = run(["-c", cfg, "store", "stats", "--tenant", tenant], d)
    sealed = unsealed = 0
    days = {}
    for line in out.splitlines()[1:]:
        w = line.split()
        if w[1] == "unsealed":
            unsealed += int(w[3])
        elif w[1] != "total":
            days[w[1]] = int(w[3])
    sealed = sum(days.values())
    return sealed, unsealed


def check_stats_and_verify(d, cfg, per_tenant, where):
    for t in TENANTS:
        sealed, unsealed = stats_events(d, cfg, t)
        assert sealed + unsealed == per_tenant[t], \
            "%s: store stats of %s counts %d + %d unsealed, the search %d" % (
                where, t, sealed, unsealed, per_tenant[t])
    rc, out, err = run(["-c", cfg, "store", "verify"], d, check=False)
    assert rc == 0, "%s: store verify: %s%s" % (where, out, err)


def sealing_moved(k, before):
    """Whether the sealer committed since the metrics before were taken."""
    m = k.metrics()
    return any(total(m, name) > total(before, name)
               for name in ("koban_store_sealed_segments_total",
                            "koban_store_segments_merged_total"))


def sane(m, where):
    """m, once no series is negative or absurdly large (a counter or gauge that wrapped)."""
    for (name, labels), v in m.items():
        assert 0 <= v < 1e15, "%s: %s%s is %r" % (where, name, dict(labels), v)
    return m


def kill(k):
    k.signal(signal.SIGKILL)
    rc = k.proc.wait(timeout=30)
    k.err.close()
    return rc


def cycle(d, tokens, ledger, rng, n, notes, long_run, t0, logged):
    """One run of the daemon, killed with SIGKILL; returns the kind of the cycle."""
    kind = rng.choice(KINDS + (("minute",) if long_run else ()))
    cfg, how = configure(d, rng)
    print("cycle %d at %.0f s: %s (%s); %d batches acknowledged so far" % (
        n, time.time() - t0, kind, how, len(ledger.acked)), flush=True)
    if kind == "early":
        # killed during its start (the WAL's replay, the sealer's recovery), then run again
        with open(os.path.join(d, "early.log"), "w") as log:
            p = subprocess.Popen([KOBAN, "-c", cfg, "serve", "--syslog-udp", "127.0.0.1:0",
                                  "--syslog-tcp", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                                  "--api", "127.0.0.1:0"], cwd=d, stdout=subprocess.DEVNULL,
                                 stderr=log)
            time.sleep(rng.uniform(0, 0.2))
            p.kill()
            assert p.wait(timeout=30) == -signal.SIGKILL, read_or_empty(log.name)
    k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
    stop, slow = threading.Event(), threading.Event()
    threads = [threading.Thread(target=client, args=(k, TENANTS[c % len(TENANTS)],
                                                     tokens[TENANTS[c % len(TENANTS)]],
                                                     ledger, random.Random(rng.random()), stop,
                                                     slow))
               for c in range(CLIENTS)]
    threads.append(threading.Thread(target=tcp_client, args=(k, ledger,
                                                             random.Random(rng.random()), stop,
                                                             slow)))
    for th in threads:
        th.start()
    side = None
    try:
        if kind == "start":
            # while the sealer seals what the previous run left (its first pass)
            time.sleep(rng.uniform(0, 0.15))
        elif kind == "erase":
            # a seal of everything durable and a merge of small segments, on demand
            time.sleep(rng.uniform(0.1, 0.6))
            junk = "junk%d" % n
            run(["-c", cfg, "tenant", "add", junk], d)
            before = k.metrics()
            side = ("erase", None, koban(cfg, d, ["tenant", "erase", junk, "--yes"]))
            how = rng.random()
            if how < 0.4:
                time.sleep(rng.uniform(0, 0.15))
            elif how < 0.7:
                check_exactly_once(d, cfg, ledger, "cycle %d, a search during an erasure" % n,
                                   ledger.acked_ids())
            else:
                # once the sealer shows it has committed: in the merge, the checkpoints (or
                # once the erasure is over: nothing was left to seal)
                poll("the erasure's seal", lambda: sealing_moved(k, before) or
                     side[2].poll() is not None, timeout=30, interval=0.002)
        elif kind == "ingest":
            time.sleep(rng.uniform(0.1, 0.6))
            ids = ledger.take(rng.randint(1, FILE_MAX))
            path = os.path.join(d, "batch%d.json" % n)
            ecs_file(path, ids)
            side = ("ingest", ids, koban(cfg, d, ["ingest", "--tenant", rng.choice(TENANTS),
                                                  "--format", "ecs", path]))
            time.sleep(rng.uniform(0, 0.15))
        elif kind == "search":
            # a search while everything moves sees what was acknowledged before it, once
            time.sleep(rng.uniform(0.2, 0.8))
            check_exactly_once(d, cfg, ledger, "cycle %d, a search while posting" % n,
                               ledger.acked_ids())
            time.sleep(rng.uniform(0, 0.2))
        elif kind == "minute":
            # the sealer's own commit (a generation's age) and first merge, a minute in
            slow.set()  # a minute of events at full speed would slow every later search
            time.sleep(55)
            before = k.metrics()  # after the start's own commit
            slow.clear()
            poll("the sealer's commit", lambda: sealing_moved(k, before), timeout=60,
                 interval=0.002)
            time.sleep(rng.uniform(0, 0.05))
        elif kind == "stop":
            # a SIGTERM first: killed while the stop drains and seals everything
            time.sleep(rng.uniform(0.1, 1))
            k.signal(signal.SIGTERM)
            time.sleep(rng.uniform(0, 0.1))
        else:  # any, early
            time.sleep(rng.uniform(0, 1.5))
        if kind != "stop":
            m = sane(k.metrics(), "cycle %d" % n)
            for name in ("koban_store_sealed_segments_total",
                         "koban_store_segments_merged_total"):
                notes[name[12:]] += total(m, name)
    finally:
        rc = kill(k)
        stop.set()
        for th in threads:
            th.join(timeout=60)
    for line in k.log().splitlines():
        w = line.split(" ", 3)
        if len(w) == 4 and w[1] in ("warn", "error"):
            logged[w[1] + " " + re.sub(r"\d+", "N", w[3])[:150]] += 1
    # koban ends only by the kill, or by the SIGTERM of a stop before it
    assert rc == -signal.SIGKILL or (kind == "stop" and rc == 0), \
        "cycle %d: koban ended with %d before the kill: %s" % (n, rc, k.log()[-3000:])
    if rc == 0:
        notes["stopped before the kill"] += 1
    assert not ledger.errors, ledger.errors[:5]
    if side:
        what, ids, p = side
        out, err = p.communicate(timeout=60)
        if what == "ingest":
            ledger.record("ingest", ids, p.returncode == 0)
        notes[what + (" done" if p.returncode == 0 else " cut")] += 1
        if p.returncode:
            print("cycle %d: %s cut by the kill (exit %d): %s" % (
                n, what, p.returncode, err.strip()), flush=True)
    if rng.random() < 0.3:
        # what the CLI finds in the data directory as the kill left it (a journal of a
        # generation not committed, a torn record, reservations of segment numbers)
        if rng.random() < 0.5:
            # a `koban ingest` of its own into it: the next start's clean-up of the generation
            # the kill cut must leave its segments alone
            ids = ledger.take(rng.randint(1, 2000))
            path = os.path.join(d, "alone%d.json" % n)
            ecs_file(path, ids)
            run(["-c", cfg, "ingest", "--tenant", rng.choice(TENANTS), "--format", "ecs", path],
                d)
            ledger.record("ingest", ids, True)
            notes["ingest with no daemon"] += 1
        per_tenant, _ = check_exactly_once(d, cfg, ledger, "cycle %d, no daemon after the kill"
                                           % n)
        check_stats_and_verify(d, cfg, per_tenant, "cycle %d, no daemon after the kill" % n)
        notes["checked after the kill"] += 1
    return kind


def test_kill9_torture():
    seed = int(os.environ.get("KOBAN_TORTURE_SEED") or random.SystemRandom().randrange(1 << 32))
    cycles = int(os.environ.get("KOBAN_TORTURE_CYCLES") or 15)
    print("torture: seed %d, %d cycles (KOBAN_TORTURE_SEED=%d replays)" % (seed, cycles, seed),
          flush=True)
    rng = random.Random(seed)
    d = tempdir()
    ok = False
    try:
        cfg, tokens = setup(d, rng)
        ledger = Ledger()
        notes = collections.Counter()
        logged = collections.Counter()  # warnings and errors of koban's log, by message
        t0 = time.time()
        for n in range(cycles):
            notes[cycle(d, tokens, ledger, rng, n, notes, cycles > 50, t0, logged)] += 1
        t1 = time.time()
        # what the last run left in the log, as the CLI sees it before the next start
        left = sum(stats_events(d, cfg, t)[1] for t in TENANTS)
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        try:
            m = poll("the sealer's backlog at 0",
                     lambda: (lambda m: m if value(m, "koban_store_seal_backlog_events") == 0
                              else None)(k.metrics()), timeout=60)
            sane(m, "after the last start")
            assert total(m, "koban_store_sealed_events_total") == left, \
                (total(m, "koban_store_sealed_events_total"), left)
            for name in ("koban_store_seal_errors_total", "koban_store_seal_skipped_total",
                         "koban_store_lost_events_total", "koban_store_sync_errors_total",
                         "koban_events_stored_total"):
                assert total(m, name) == 0, (name, total(m, name))
            per_tenant, _ = check_exactly_once(d, cfg, ledger, "daemon running")
            check_stats_and_verify(d, cfg, per_tenant, "daemon running")
        finally:
            assert k.stop() == 0, k.log()
        per_tenant, found = check_exactly_once(d, cfg, ledger, "no daemon")
        check_stats_and_verify(d, cfg, per_tenant, "no daemon")
        assert all(stats_events(d, cfg, t)[1] == 0 for t in TENANTS)
        print("torture: %d cycles in %.0f s (%s); %d events stored, %d acknowledged batches "
              "(%d events) all found once; other answers %s; unacknowledged batches: %s; "
              "checks %.0f s" % (
                  cycles, t1 - t0, ", ".join("%s %d" % kv for kv in sorted(notes.items())),
                  sum(per_tenant.values()), len(ledger.acked), len(ledger.acked_ids()),
                  dict(ledger.answers) or "none", unknown_summary(ledger, found), time.time() - t1), flush=True)
        for what, times in sorted(logged.items()):
            print("torture: logged %d times: %s" % (times, what))
        ok = True
    finally:
        if ok or not os.environ.get("KOBAN_TORTURE_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("torture: the data directory is kept in %s" % d, flush=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_kill9_torture)
    s.done()
