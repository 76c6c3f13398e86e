"""The event store's write side under a real `koban serve` (store/sink.h): every event a TCP
sender hands over is counted in koban_events_stored_total once committed and found by
`koban search` after a stop; a full disk under the write-ahead log (a small tmpfs) pauses TCP
senders, counts UDP drops as output_error and resumes by itself with nothing lost; a tenant
over its store quota has its events dropped and counted (reason quota) while another is not
touched, and a reload lifts the quota; `kill -9` loses nothing that was reported stored and
duplicates nothing, and the test prints how much of what a TCP sender wrote was lost."""
import os
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, fill_leaving, loadgen, loadgen_start,  # noqa: E402
                      poll, search_events, stored, tempdir, tmpfs_under,
                      udp_dropped_while_blocked, umount, value, write_config)
from test_serve import ALPHA, BETA, seqs, setup_tenants  # noqa: E402


def search(d, tenant):
    """Every event of tenant in the store, through `koban search --json` (no daemon)."""
    return search_events(d, tenant, config=os.path.join(d, "koban.yaml"))


def test_tcp_events_stored_and_found():
    d = tempdir()
    try:
        setup_tenants(d)
        k = Instance(d, write_config(d))
        n_alpha, n_beta = 20000, 5000
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", n_alpha, "--tag", "st")
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", BETA,
                "--count", n_beta, "--tag", "st")
        poll("alpha's and beta's events committed",
             lambda: stored(k, "alpha") == n_alpha and stored(k, "beta") == n_beta)
        m = k.metrics()
        assert value(m, "koban_events_parsed_total", tenant="alpha") == n_alpha
        assert value(m, "koban_events_dropped_total") == 0
        assert value(m, "koban_store_commits_total") > 0
        assert value(m, "koban_store_wal_bytes") > 0
        assert value(m, "koban_store_write_errors_total") == 0
        # exported, and 0: no commit failed
        assert [v for (n, l), v in m.items() if n == "koban_store_sync_errors_total"] == [0]
        assert [v for (n, l), v in m.items() if n == "koban_store_lost_events_total"
                and ("tenant", "alpha") in l] == [0]
        assert k.stop() == 0, k.log()
        # the file output is off by default: the store is the only output
        assert not os.path.exists(os.path.join(d, "var", "spool"))
        got = sorted(seqs(search(d, "alpha"), "st"))
        assert got == list(range(n_alpha)), "%d of %d, %d distinct" % (
            len(got), n_alpha, len(set(got)))
        assert sorted(seqs(search(d, "beta"), "st")) == list(range(n_beta))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_full_disk_back_pressure_then_no_loss():
    d = tempdir()
    wal = tmpfs_under(d, "var", "wal")
    k = None
    try:
        setup_tenants(d)
        k = Instance(d, write_config(d, "workers: 1\nqueues:\n  capacity: 200\n"))
        # Ballast: leave about 300 KiB free, less than the events' records need.
        ballast = fill_leaving(wal, 300 * 1024)
        n = 4000
        gen = loadgen_start("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                            "--count", n, "--size", 200, "--tag", "full")

        def blocked():
            m = k.metrics()
            return m if value(m, "koban_store_blocked", tenant="alpha") == 1 and \
                value(m, "koban_queue_depth", tenant="alpha") == 200 and \
                value(m, "koban_events_throttled_total", tenant="alpha") > 0 else None
        m = poll("the store to block and the queue to fill", blocked)
        assert value(m, "koban_store_write_errors_total", reason="no_space") > 0, m
        assert value(m, "koban_events_stored_total", tenant="alpha") < n
        assert value(m, "koban_events_dropped_total", tenant="alpha") == 0
        assert "events held, retrying" in k.log()

        # UDP for the blocked tenant: dropped, and counted as output_error.
        m, got_udp = udp_dropped_while_blocked(k, ALPHA, "alpha")

        # Space returns: everything resumes by itself, each TCP event stored once.
        os.remove(ballast)
        gen.communicate(timeout=120)
        assert gen.returncode == 0
        poll("every TCP event stored", lambda: stored(k, "alpha") == n)
        m = k.wait_settled(expect_total=n + got_udp)
        assert value(m, "koban_store_blocked", tenant="alpha") == 0
        assert value(m, "koban_events_dropped_total", tenant="alpha") == got_udp
        assert "writes to the event store resumed" in k.log()
        assert k.stop() == 0, k.log()
        k = None
        events = search(d, "alpha")
        got = sorted(seqs(events, "full"))
        assert got == list(range(n)), "%d of %d, %d distinct" % (len(got), n, len(set(got)))
        assert not seqs(events, "udp")
    finally:
        if k:
            k.stop()
        umount(wal)
        shutil.rmtree(d, ignore_errors=True)


def test_quota_drops_counted_and_reload_lifts_it():
    d = tempdir()
    try:
        setup_tenants(d)
        cfg = write_config(d, "store:\n  tenants:\n    alpha: { quota: 1 }\n")
        k = Instance(d, cfg)
        n, n_beta = 3000, 1000
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", n, "--tag", "q")
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", BETA,
                "--count", n_beta, "--tag", "q")

        def settled():
            m = k.metrics()
            done = value(m, "koban_events_stored_total", tenant="alpha") + \
                value(m, "koban_events_dropped_total", tenant="alpha", reason="quota")
            return m if done == n and \
                value(m, "koban_events_stored_total", tenant="beta") == n_beta else None
        m = poll("alpha's events stored or dropped, beta's stored", settled)
        kept = value(m, "koban_events_stored_total", tenant="alpha")
        assert kept > 0  # the first batch: the tenant had nothing stored yet
        assert value(m, "koban_events_dropped_total", tenant="alpha", reason="quota") > 0
        assert value(m, "koban_events_dropped_total", tenant="beta") == 0
        assert "tenant alpha is over its store quota (1 bytes)" in k.log(), k.log()
        assert value(m, "koban_store_quota_bytes", tenant="alpha") == 1
        assert value(m, "koban_store_quota_bytes", tenant="beta") == 0
        assert value(m, "koban_store_tenant_bytes", tenant="alpha") > 0

        # A reload that removes the quota applies at once.
        with open(cfg, "w") as f:
            f.write("data_dir: ./var\n")
        k.signal(signal.SIGHUP)
        poll("the reload", lambda: "'store.tenants' changed" in k.log())
        more = 500
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", more, "--tag", "more")
        poll("the new events stored", lambda: stored(k, "alpha") == kept + more)
        assert value(k.metrics(), "koban_store_quota_bytes", tenant="alpha") == 0
        assert k.stop() == 0, k.log()
        events = search(d, "alpha")
        assert len(seqs(events, "q")) == kept
        assert sorted(seqs(events, "more")) == list(range(more))
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Sender(threading.Thread):
    """One TCP connection writing "tag=kill seq=N" lines at about rate per second until the
    peer dies; self.sent counts the lines handed to the kernel."""

    def __init__(self, target, rate):
        super().__init__(daemon=True)
        host, port = target.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), source_address=(ALPHA, 0))
        self.rate = rate
        self.sent = 0
        self.stop = False

    def run(self):
        batch = max(1, self.rate // 100)
        t0 = time.time()
        try:
            while not self.stop:
                lines = "".join("<13>1 - host app - - - tag=kill seq=%d\n" % (self.sent + i)
                                for i in range(batch))
                self.sock.sendall(lines.encode())
                self.sent += batch
                delay = t0 + self.sent / self.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
        except OSError:
            pass


def test_kill9_loses_only_uncommitted():
    d = tempdir()
    try:
        setup_tenants(d)
        cfg = write_config(d, "workers: 1\nstore:\n  commit_interval_ms: 50\n")
        k = Instance(d, cfg)
        rate = 5000
        s = Sender(k.listeners["tcp"], rate)
        s.start()
        poll("events being stored", lambda: stored(k, "alpha") >= 2 * rate)
        before = stored(k, "alpha")  # all of it must survive
        k.proc.send_signal(signal.SIGKILL)
        k.proc.wait(timeout=30)
        s.stop = True
        s.join(timeout=30)
        k.err.close()
        sent = s.sent
        # The next start seals what the log holds; a clean stop seals the rest.
        k = Instance(d, cfg)
        assert k.stop() == 0, k.log()
        got = seqs(search(d, "alpha"), "kill")
        assert len(got) == len(set(got)), "duplicates after kill -9"
        got = sorted(got)
        assert got == list(range(len(got))), "a gap: what is kept is a prefix of what was sent"
        assert before <= len(got) <= sent, (before, len(got), sent)
        lost = sent - len(got)
        print("kill -9 at %d events/s over TCP: %d of %d written by the sender lost "
              "(%.0f ms of sending; %d were reported stored before the kill, all kept)" %
              (rate, lost, sent, 1000.0 * lost / rate, before))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_tcp_events_stored_and_found)
    s.run_with_tmpfs(test_full_disk_back_pressure_then_no_loss)
    s.run(test_quota_drops_counted_and_reload_lifts_it)
    s.run(test_kill9_loses_only_uncommitted)
    s.done()
