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

In about a third of the cycles one tenant's data key file is damaged (a byte flipped) at a
random moment (or between two runs, when the kill comes first), and mended in a later one (the
last cycle at the latest): the sealer holds that tenant's records in its held log meanwhile
and seals them once the key opens again (at the next start, a `koban tenant erase`'s seal, a
stop), so kills land while records are held and while held logs are sealed. While its key is
damaged, that tenant's ingest is not acknowledged (HTTP 503, or 429 while the syslog workers
retry its events; `koban ingest` fails) and a search of it fails with the key's error (a
search racing the flip may do either), as do `store stats` and `store verify` once it has
segments; the other tenant's checks are unchanged, and at the end, after the mending, every
check covers both (no event held any more, no held log left).

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
from test_seal import flip_key_byte, tenant_id_of  # noqa: E402

TENANTS = ("city-a", "city-b")
CLIENTS = 2                  # HTTP clients posting at once
BATCH_MAX = 150              # events in a body, at most
FILE_MAX = 20000             # events in a file of `koban ingest`, at most
DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")  # event days: several segments per tenant
KINDS = ("any", "early", "start", "erase", "erase", "ingest", "search", "stop")
ID_RE = re.compile(r"\btid=(\d+)\b")
HELD_RE = re.compile(r"^(\S+): (\d+) events held", re.M)


class Ledger:
    """Every batch sent: its ids and whether it was acknowledged. Thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 0
        self.acked = []      # (tenant, batch: a list of ids) answered 200 / exit 0
        self.unknown = []    # (input, batch) without such an answer: in flight at the kill
        self.refused = []    # batches whose connection was refused: koban never saw them
        self.errors = []     # what a client thread saw that it should not have
        self.answers = collections.Counter()  # HTTP statuses other than 200, by tenant

    def take(self, n):
        with self.lock:
            first = self.next_id
            self.next_id += n
        return list(range(first, first + n))

    def record(self, what, ids, acked, tenant=None):
        """A batch sent through input what (http, ingest, tcp) for tenant, acknowledged or
        not."""
        with self.lock:
            if acked:
                self.acked.append((tenant, ids))
            else:
                self.unknown.append((what, ids))

    def record_refused(self, ids):
        with self.lock:
            self.refused.append(ids)

    def acked_ids(self):
        with self.lock:
            return {i for _, b in self.acked for i in b}

    def acked_by_tenant(self):
        """{tenant: the ids acknowledged for it}."""
        out = {t: set() for t in TENANTS}
        with self.lock:
            for t, b in self.acked:
                out[t].update(b)
        return out


class Keys:
    """The tenants' data key files (DATA_DIR/keys/tenant-N.key): at most one damaged at a
    time (a byte flipped, then utime: test_seal.flip_key_byte), mended by the same flip.
    Thread-safe: a timer of the cycle flips while the main thread searches; state() before and
    after a search tells whether the key of its tenant changed meanwhile."""

    def __init__(self, d):
        self.d = d
        self.ids = {t: tenant_id_of(d, t) for t in TENANTS}
        self.lock = threading.Lock()
        self.damaged = None  # the tenant whose key is damaged
        self.flips = 0       # flips so far
        self.pending = None  # the cycle's flip (schedule)
        self.since = None    # the cycle that damaged the key
        self.refused = 0     # searches that failed with the damaged key's error

    def path(self, t):
        return os.path.join(self.d, "var", "keys", "tenant-%d.key" % self.ids[t])

    def error(self, t):
        """What names the damaged key in an error of koban."""
        return "keys/tenant-%d.key" % self.ids[t]

    def state(self):
        with self.lock:
            return self.damaged, self.flips

    def schedule(self, t, damage, delay):
        """Damages (or mends) t's key in delay seconds, or at finish() if that comes first."""
        self.pending = job = {"tenant": t, "damage": damage, "at": None, "t0": time.time()}
        job["timer"] = threading.Timer(delay, self._flip, args=(job, True))
        job["timer"].daemon = True
        job["timer"].start()

    def _flip(self, job, running):
        with self.lock:
            if job["at"] is not None:
                return
            t = job["tenant"]
            assert (self.damaged is None) == job["damage"], (self.damaged, t)
            flip_key_byte(self.d, self.ids[t])
            self.damaged = t if job["damage"] else None
            self.flips += 1
            job["at"] = time.time() - job["t0"] if running else -1

    def finish(self):
        """The cycle's flip, done now (the daemon is down) if its moment has not come; what
        was done, for the cycle's notes."""
        job, self.pending = self.pending, None
        if not job:
            return None
        job["timer"].cancel()
        job["timer"].join()
        self._flip(job, False)
        return "%s's key (tenant-%d.key) %s %s" % (
            job["tenant"], self.ids[job["tenant"]], "damaged" if job["damage"] else "mended",
            "%.2f s into the cycle" % job["at"] if job["at"] >= 0 else "after the kill")


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
                ledger.answers["%d %s" % (status, tenant)] += 1
        if acked and body != {"events": len(ids), "decode_errors": 0}:
            ledger.errors.append("a batch of %d events answered %r" % (len(ids), body))
        ledger.record("http", ids, acked, tenant)
        if status in (429, 503):
            time.sleep(0.05)  # its tenant's key is damaged: not a loop of refusals


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


def found_ids(d, cfg, tenant, keys, where):
    """The ids of the events `koban search` finds, with repeats; None when the tenant's key
    is damaged: the search must then fail with its error (either way when the key was
    damaged or mended while it ran)."""
    before = keys.state()
    rc, out, err = run(["-c", cfg, "search", "--tenant", tenant, "--json",
                        "* | fields event.original"], d, check=False)
    after = keys.state()
    damaged = before[0] == tenant and after == before
    maybe = tenant in (before[0], after[0])
    if rc != 0 and maybe:
        assert keys.error(tenant) in err, "%s: the search of %s, its key damaged: %s" % (
            where, tenant, err)
        keys.refused += 1
        return None
    assert rc == 0, "%s: the search of %s failed (%d): %s" % (where, tenant, rc, err)
    assert not damaged, "%s: a search of %s found %d events with its key damaged" % (
        where, tenant, out.count("\n"))
    ids = [int(i) for i in ID_RE.findall(out)]
    assert len(ids) == out.count("\n"), "events without an id: %s" % out[:500]
    return ids


def check_exactly_once(d, cfg, ledger, keys, where, acked_before=None):
    """Every acknowledged id (or those of acked_before: {tenant: ids}) found exactly once,
    none twice, none never sent; returns ({tenant: events found, None when its key is
    damaged: not searched}, the ids found). Only the tenant whose key is damaged is left
    out (its search fails)."""
    counts = collections.Counter()
    per_tenant = {}
    by_tenant = ledger.acked_by_tenant() if acked_before is None else acked_before
    acked = set()
    for t in TENANTS:
        ids = found_ids(d, cfg, t, keys, where)
        per_tenant[t] = None if ids is None else len(ids)
        if ids is not None:
            counts.update(ids)
            acked |= by_tenant[t]
    twice = sorted(i for i, n in counts.items() if n > 1)
    assert not twice, "%s: %d ids found more than once, e.g. %s" % (where, len(twice), twice[:10])
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


def stats_events(d, cfg, tenant, keys=None):
    """(events in segments (the total), events not sealed yet) of `koban store stats`; None
    when the tenant's key is damaged (keys given) and it fails with its error (its segments
    do not open)."""
    rc, out, err = run(["-c", cfg, "store", "stats", "--tenant", tenant], d, check=False)
    if rc and keys and keys.state()[0] == tenant and keys.error(tenant) in err:
        return None
    assert rc == 0, "store stats of %s failed (%d): %s" % (tenant, rc, err)
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


def check_stats_and_verify(d, cfg, keys, per_tenant, where):
    """`store stats` counts what the search found; `store verify` finds no damage; returns
    {tenant: events held} of verify. A tenant whose key is damaged (not searched) has only
    its held events checked, when stats and verify get that far: with segments, they fail
    with the key's error (exit 1), and the other tenants are still checked in full."""
    unsealed_of = {}
    for t in TENANTS:
        got = stats_events(d, cfg, t, keys)
        if got is None:
            continue
        sealed, unsealed_of[t] = got
        assert per_tenant[t] is None or sealed + unsealed_of[t] == per_tenant[t], \
            "%s: store stats of %s counts %d + %d unsealed, the search %d" % (
                where, t, sealed, unsealed_of[t], per_tenant[t])
    rc, out, err = run(["-c", cfg, "store", "verify"], d, check=False)
    damaged = keys.state()[0]
    assert rc == 0 or damaged and "DAMAGED" not in out and err and all(
        keys.error(damaged) in line for line in err.splitlines()), \
        "%s: store verify (%d): %s%s" % (where, rc, out, err)
    held = {t: int(n) for t, n in HELD_RE.findall(out)}
    for t, n in held.items():
        # held events are among the unsealed ones
        assert t in TENANTS and n <= unsealed_of.get(t, n), \
            "%s: store verify: %s holds %d events, store stats counts %d unsealed" % (
                where, t, n, unsealed_of.get(t, 0))
    return held


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


def plan_key(keys, rng, n, last):
    """The key's flip of cycle n (last: the last one), if any: (tenant, damage or mend,
    seconds into the cycle). A tenant's key is damaged in about a third of the cycles (once
    it exists: made by the tenant's first event), mended in a later one (the last at the
    latest) in about as many."""
    u, delay, which = rng.random(), rng.uniform(0, 1.5), rng.choice(TENANTS)
    damaged, _ = keys.state()
    if damaged is None and u < 0.6 and not last and os.path.exists(keys.path(which)):
        keys.since = n
        return which, True, delay
    if damaged is not None and keys.since < n and (u < 0.6 or last):
        return damaged, False, delay
    return None


def cycle(d, tokens, ledger, keys, rng, n, last, notes, long_run, t0, logged):
    """One run of the daemon, killed with SIGKILL; returns the kind of the cycle."""
    kind = rng.choice(KINDS + (("minute",) if long_run else ()))
    cfg, how = configure(d, rng)
    flip = plan_key(keys, rng, n, last)
    damaged = keys.state()[0]
    print("cycle %d at %.0f s: %s (%s)%s%s; %d batches acknowledged so far" % (
        n, time.time() - t0, kind, how, "; %s's key damaged" % damaged if damaged else "",
        "; %s's key to be %s" % (flip[0], "damaged" if flip[1] else "mended") if flip else "",
        len(ledger.acked)), flush=True)
    if flip:
        keys.schedule(*flip)
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
                check_exactly_once(d, cfg, ledger, keys,
                                   "cycle %d, a search during an erasure" % n,
                                   ledger.acked_by_tenant())
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
            t = rng.choice(TENANTS)
            side = ("ingest", (t, ids), koban(cfg, d, ["ingest", "--tenant", t, "--format",
                                                       "ecs", path]))
            time.sleep(rng.uniform(0, 0.15))
        elif kind == "search":
            # a search while everything moves sees what was acknowledged before it, once
            time.sleep(rng.uniform(0.2, 0.8))
            check_exactly_once(d, cfg, ledger, keys, "cycle %d, a search while posting" % n,
                               ledger.acked_by_tenant())
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
            held = value(m, "koban_store_held_events")
            if held:
                notes["runs holding events"] += 1
                notes["held events at most"] = max(notes["held events at most"], held)
    finally:
        rc = kill(k)
        stop.set()
        for th in threads:
            th.join(timeout=60)
        done = keys.finish()
    if done:
        print("cycle %d: %s" % (n, done), flush=True)
        notes["key " + done.split()[3] + (" after the kill" if "kill" in done else "")] += 1
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
            ledger.record("ingest", ids[1], p.returncode == 0, ids[0])
        refused = p.returncode and what == "ingest" and keys.error(ids[0]) in err
        notes[what + (" done" if p.returncode == 0 else " refused: damaged key" if refused
                      else " cut")] += 1
        if p.returncode:
            print("cycle %d: %s %s (exit %d): %s" % (
                n, what + (" for " + ids[0] if what == "ingest" else ""),
                "refused" if refused else "cut by the kill", p.returncode, err.strip()),
                flush=True)
    if rng.random() < 0.3:
        # what the CLI finds in the data directory as the kill left it (a journal of a
        # generation not committed, a torn record, reservations of segment numbers)
        if rng.random() < 0.5:
            # a `koban ingest` of its own into it: the next start's clean-up of the generation
            # the kill cut must leave its segments alone
            ids = ledger.take(rng.randint(1, 2000))
            path = os.path.join(d, "alone%d.json" % n)
            ecs_file(path, ids)
            t = rng.choice(TENANTS)
            rc, _, err = run(["-c", cfg, "ingest", "--tenant", t, "--format", "ecs", path], d,
                             check=False)
            if keys.state()[0] == t:
                # its key is damaged: refused with the key's error
                assert rc != 0 and keys.error(t) in err, \
                    "cycle %d: an ingest with no daemon, %s's key damaged: %d %s" % (
                        n, t, rc, err)
                ledger.record("ingest", ids, False, t)
                notes["ingest with no daemon refused: damaged key"] += 1
            else:
                assert rc == 0, "cycle %d: an ingest with no daemon: %s" % (n, err)
                ledger.record("ingest", ids, True, t)
                notes["ingest with no daemon"] += 1
        per_tenant, _ = check_exactly_once(d, cfg, ledger, keys,
                                           "cycle %d, no daemon after the kill" % n)
        held = check_stats_and_verify(d, cfg, keys, per_tenant,
                                      "cycle %d, no daemon after the kill" % n)
        if held:
            print("cycle %d: store verify: %s" % (n, ", ".join(
                "%s holds %d events" % kv for kv in sorted(held.items()))), flush=True)
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
        keys = Keys(d)
        notes = collections.Counter()
        logged = collections.Counter()  # warnings and errors of koban's log, by message
        t0 = time.time()
        for n in range(cycles):
            notes[cycle(d, tokens, ledger, keys, rng, n, n == cycles - 1, notes, cycles > 50,
                        t0, logged)] += 1
        t1 = time.time()
        notes["searches refused: damaged key"] = keys.refused
        assert keys.state()[0] is None, "a key is still damaged after the last cycle"
        # what the last run left in the log and in held logs, as the CLI sees it before the
        # next start (held events are counted among the unsealed ones)
        left = sum(stats_events(d, cfg, t)[1] for t in TENANTS)
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        try:
            # the held logs (their keys mended) are sealed too
            m = poll("the sealer's backlog and held events at 0",
                     lambda: (lambda m: m if value(m, "koban_store_seal_backlog_events") == 0
                              and value(m, "koban_store_held_events") == 0 else None)(
                                  k.metrics()), timeout=60)
            if total(m, "koban_store_sealed_events_total") != left:
                time.sleep(1)  # the counter and the gauges are not updated at once
                m = k.metrics()
            sane(m, "after the last start")
            assert total(m, "koban_store_sealed_events_total") == left, \
                (total(m, "koban_store_sealed_events_total"), left)
            assert value(m, "koban_store_held_events") == 0
            for name in ("koban_store_seal_errors_total", "koban_store_seal_skipped_total",
                         "koban_store_lost_events_total", "koban_store_sync_errors_total",
                         "koban_events_stored_total"):
                assert total(m, name) == 0, (name, total(m, name))
            per_tenant, _ = check_exactly_once(d, cfg, ledger, keys, "daemon running")
            assert None not in per_tenant.values(), per_tenant
            assert check_stats_and_verify(d, cfg, keys, per_tenant, "daemon running") == {}
        finally:
            assert k.stop() == 0, k.log()
        per_tenant, found = check_exactly_once(d, cfg, ledger, keys, "no daemon")
        assert None not in per_tenant.values(), per_tenant
        assert check_stats_and_verify(d, cfg, keys, per_tenant, "no daemon") == {}
        assert all(stats_events(d, cfg, t)[1] == 0 for t in TENANTS)
        held = [t for t in TENANTS if os.path.exists(os.path.join(
            d, "var", "tenants", str(keys.ids[t]), "held.log"))]
        assert not held, "held logs left: %s" % held
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
