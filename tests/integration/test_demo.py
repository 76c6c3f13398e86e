"""`make demo`'s script (scripts/demo) in a copy of the checkout's layout: koban starts on its
built-in defaults, the sample is replayed over TCP and UDP with its stamps moved to the last
minutes, every line is stored, decoded and found by a search of the last hour, no clock skew
is counted, and a second run stops the first koban before it starts its own."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, KOBAN, Suite, admin_metrics, poll, run, tempdir,  # noqa: E402
                      total)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PORTS = ((socket.SOCK_STREAM, 5514), (socket.SOCK_DGRAM, 5514), (socket.SOCK_STREAM, 8514))


def ports_taken():
    """Why the demo's fixed ports cannot be had here, or None."""
    for kind, port in PORTS:
        s = socket.socket(socket.AF_INET, kind)
        if kind == socket.SOCK_STREAM:  # as koban binds: a connection in TIME_WAIT is no bar
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            return "127.0.0.1:%d is in use (%s)" % (port, e)
        finally:
            s.close()
    return None


def checkout_copy():
    d = tempdir()
    os.makedirs(os.path.join(d, "scripts"))
    shutil.copy(os.path.join(ROOT, "scripts", "demo"), os.path.join(d, "scripts", "demo"))
    shutil.copytree(os.path.join(DATA, "demo"), os.path.join(d, "tests", "data", "demo"))
    os.symlink(KOBAN, os.path.join(d, "koban"))
    return d


def demo(d):
    p = subprocess.run(["bash", os.path.join(d, "scripts", "demo")], cwd="/", capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def metrics(out):
    admin = next(line.split()[-1] for line in out.splitlines()
                 if line.split()[:2] == ["listening", "admin"])
    return admin_metrics(admin)


def running(pid):
    """Whether pid is a process that has not ended (a zombie has)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(d):
    try:
        with open(os.path.join(d, "var", "koban.pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return  # the demo failed before it started koban
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    poll("koban %d to stop" % pid, lambda: not running(pid))


def stored_all(out, n):
    """The metrics once every one of the n events sent is stored (the demo waits 5 s at most)."""
    got = {}

    def counted():
        got.update(metrics(out))
        return total(got, "koban_events_stored_total") >= n
    poll("%d events stored" % n, counted)
    return got


def test_demo_replays_the_sample_as_of_now():
    d = checkout_copy()
    try:
        with open(os.path.join(d, "tests", "data", "demo", "sample.log")) as f:
            lines = len(f.read().splitlines())
        out = demo(d)
        assert "Replayed %d sample messages" % (2 * lines) in out, out
        m = stored_all(out, 2 * lines)
        assert total(m, "koban_events_stored_total") == 2 * lines, out
        assert total(m, "koban_events_clock_skew_total") == 0, out
        _, found, _ = run(["search", "--tenant", "demo", "--from", "-1h", "--json", "*"], d)
        events = [json.loads(line) for line in found.splitlines()]
        assert len(events) == 2 * lines, found
        assert not [e for e in events if e["event"]["kind"] == "pipeline_error"], found
        assert not [e for e in events if "clock_skew_seconds" in e.get("koban", {})], found
        with open(os.path.join(d, "var", "koban.pid")) as f:
            first_pid = f.read().strip()
        out = demo(d)  # again: the first koban is stopped, the sample sent once more
        assert "stopping the koban started earlier (pid %s)" % first_pid in out, out
        assert total(stored_all(out, 2 * lines), "koban_events_stored_total") == 2 * lines, out
        _, found, _ = run(["search", "--tenant", "demo", "--json", "| stats count()"], d)
        assert json.loads(found) == {"count": 4 * lines}, found
    finally:
        try:
            stop(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run_unless(ports_taken(), test_demo_replays_the_sample_as_of_now)
    s.done()
