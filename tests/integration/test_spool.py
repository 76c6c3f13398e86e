"""The spool output under a real `koban serve`: log rotation by rename + SIGHUP loses and
splits no line; a full disk (a small tmpfs) pauses TCP senders, counts UDP drops as
output_error and the write errors by reason, and every TCP message arrives exactly once when
space returns; a spool file that cannot be opened is counted, and written once it can."""
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, file_output_config, fill_leaving,  # noqa: E402
                      loadgen, loadgen_start, poll, tempdir, tmpfs_under,
                      udp_dropped_while_blocked, umount, value)
from test_serve import ALPHA, BETA, seqs, setup_tenants  # noqa: E402


def read_lines(path):
    """Every line of path parsed as JSON; fails on a split or glued line."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    assert not data or data.endswith(b"\n"), "%s ends in a partial line" % path
    return [json.loads(line) for line in data.splitlines()]


def test_sighup_after_rename_writes_a_new_file():
    d = tempdir()
    try:
        setup_tenants(d)
        k = Instance(d, file_output_config(d))
        spool = os.path.join(d, "var", "spool", "alpha.ndjson")
        n = 20000
        gen = loadgen_start("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                            "--count", n, "--rate", 5000, "--tag", "rot")
        poll("the first lines", lambda: os.path.exists(spool) and os.path.getsize(spool) > 0)
        os.rename(spool, spool + ".1")
        # A broken configuration is refused by the reload, but the files are reopened all
        # the same: rotation does not depend on it.
        with open(os.path.join(d, "koban.yaml"), "a") as f:
            f.write("no_such_key: 1\n")
        k.signal(signal.SIGHUP)
        poll("the reopen", lambda: "closed 1 spool files" in k.log())
        # Sent after the reopen: all of it must be in the new file.
        after = 1000
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", after, "--tag", "after")
        gen.communicate(timeout=120)
        assert gen.returncode == 0
        m = k.wait_settled(expect_total=n + after)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == n + after
        assert k.stop() == 0, k.log()
        assert "reload failed" in k.log(), k.log()
        old, new = read_lines(spool + ".1"), read_lines(spool)
        assert len(old) + len(new) == n + after
        got = sorted(seqs(old, "rot") + seqs(new, "rot"))
        assert got == list(range(n)), "%d lines of %d, %d distinct" % (len(got), n, len(set(got)))
        assert sorted(seqs(new, "after")) == list(range(after))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def line_count(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def test_full_disk_back_pressure_then_no_loss():
    """Only the JSON files' directory is full here: the event store's own full disk is
    tested in test_sink.py."""
    d = tempdir()
    var = tmpfs_under(d, "var", "spool")
    k = None
    try:
        setup_tenants(d)
        k = Instance(d, file_output_config(d, "workers: 1\nqueues:\n  capacity: 200\n"))
        # Ballast: leave about 300 KiB free, less than the events' JSON needs.
        ballast = fill_leaving(var, 300 * 1024)
        spool = os.path.join(var, "alpha.ndjson")
        n = 4000
        gen = loadgen_start("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                            "--count", n, "--size", 200, "--tag", "full")

        def blocked():
            m = k.metrics()
            return m if value(m, "koban_output_blocked", tenant="alpha") == 1 and \
                value(m, "koban_queue_depth", tenant="alpha") == 200 and \
                value(m, "koban_events_throttled_total", tenant="alpha") > 0 else None
        m = poll("the output to block and the queue to fill", blocked)
        assert value(m, "koban_output_errors_total", tenant="alpha", reason="no_space") > 0, m
        # What is counted as parsed is in the file: nothing parsed and lost.
        parsed = value(m, "koban_events_parsed_total", tenant="alpha")
        assert parsed <= line_count(spool), (parsed, line_count(spool))
        assert value(m, "koban_events_dropped_total", tenant="alpha") == 0

        # UDP for the blocked tenant: dropped, and counted as output_error.
        m, got_udp = udp_dropped_while_blocked(k, ALPHA, "alpha")
        assert value(m, "koban_output_blocked", tenant="alpha") == 1

        # Space returns: everything resumes by itself.
        os.remove(ballast)
        gen.communicate(timeout=120)
        assert gen.returncode == 0
        m = k.wait_settled(expect_total=n + got_udp)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == n
        assert value(m, "koban_output_blocked", tenant="alpha") == 0
        assert value(m, "koban_events_dropped_total", tenant="alpha") == got_udp
        assert k.stop() == 0, k.log()
        k = None
        events = read_lines(spool)
        got = sorted(seqs(events, "full"))
        assert got == list(range(n)), "%d lines of %d, %d distinct" % (len(got), n, len(set(got)))
        assert not seqs(events, "udp")
    finally:
        if k:
            k.stop()
        umount(var)
        shutil.rmtree(d, ignore_errors=True)


def test_spool_open_failure_counted():
    d = tempdir()
    try:
        setup_tenants(d)
        spool = os.path.join(d, "var", "spool", "alpha.ndjson")
        os.makedirs(spool)  # a directory where the file should be
        k = Instance(d, file_output_config(d, "workers: 2\n"))
        n = 50
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", n, "--tag", "open")
        m = poll("an open error", lambda: (lambda m: m if value(
            m, "koban_output_errors_total", tenant="alpha", reason="open") >= 2 else None)(
                k.metrics()))
        assert value(m, "koban_output_blocked", tenant="alpha") == 1
        assert value(m, "koban_events_parsed_total", tenant="alpha") == 0
        assert "cannot open its spool file: Is a directory" in k.log()
        # alpha's failing output holds one worker; the other one still serves beta
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", BETA,
                "--count", 2000, "--tag", "beta")
        poll("beta's events", lambda: value(k.metrics(), "koban_events_parsed_total",
                                            tenant="beta") == 2000)
        assert value(k.metrics(), "koban_events_parsed_total", tenant="alpha") == 0
        os.rmdir(spool)
        m = k.wait_settled(expect_total=n + 2000)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == n
        assert value(m, "koban_events_dropped_total", tenant="alpha") == 0
        assert value(m, "koban_output_blocked", tenant="alpha") == 0
        assert k.stop() == 0, k.log()
        assert sorted(seqs(read_lines(spool), "open")) == list(range(n))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_output_error_at_stop_counted():
    """Still failing at SIGTERM: retried for the grace period, then counted as dropped."""
    d = tempdir()
    try:
        setup_tenants(d)
        spool = os.path.join(d, "var", "spool", "alpha.ndjson")
        os.makedirs(spool)
        k = Instance(d, file_output_config(d))
        n = 50
        loadgen("--proto", "tcp", "--target", k.listeners["tcp"], "--bind", ALPHA,
                "--count", n, "--tag", "stop")
        poll("all received", lambda: value(k.metrics(), "koban_events_received_total",
                                           tenant="alpha") == n)
        poll("an open error", lambda: value(k.metrics(), "koban_output_errors_total",
                                            tenant="alpha", reason="open") >= 1)
        k.signal(signal.SIGTERM)
        assert k.stop() == 0, k.log()
        assert "%d events held by a failing spool were dropped at stop" % n in k.log(), \
            k.log()
        assert os.path.isdir(spool)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_sighup_after_rename_writes_a_new_file)
    s.run_with_tmpfs(test_full_disk_back_pressure_then_no_loss)
    s.run(test_spool_open_failure_counted)
    s.run(test_output_error_at_stop_counted)
    s.done()
