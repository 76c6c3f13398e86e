"""The CLI with and without a running daemon: search, store stats, store verify and tenant
erase give the same output and exit status whether they open the store themselves or go
through `koban serve`'s control socket; the socket refuses other users (SO_PEERCRED) even
when its file mode would let them in."""
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (KOBAN, Instance, Suite, api_request, api_tokens, fw_ecs_lines,  # noqa: E402
                      ingest_fw, poll, recv_to_eof, run, tempdir, value)


def setup(d):
    run(["tenant", "add", "city-a"], d)
    run(["tenant", "add", "city-b"], d)
    for t, n in (("city-a", 300), ("city-b", 40)):
        ingest_fw(d, t, n, t + "-secret")


# Each command as (args, stdin); the outputs are compared with and without the daemon.
COMMANDS = [
    (["search", "--tenant", "city-a", "--json", "| stats count() by destination.port | sort -count"], None),
    (["search", "--tenant", "city-a", "--limit", "3", "event.action: deny"], None),
    (["search", "--tenant", "city-a", "--json", "--limit", "5", "*"], None),
    (["search", "--tenant", "city-b", "| stats count() by event.action | sort event.action"], None),
    (["search", "--tenant", "city-b", "--json", "city-a-secret"], None),
    (["search", "--tenant", "nosuch", "*"], None),
    (["search", "--tenant", "../city-a", "*"], None),
    (["search", "--tenant", "city-a", "source.ip: ("], None),
    (["search", "--tenant", "city-a", "--from", "yesterday-ish", "*"], None),
    (["store", "stats"], None),
    (["store", "stats", "--tenant", "city-b"], None),
    (["store", "stats", "--tenant", "nosuch"], None),
    (["store", "verify"], None),
    (["tenant", "erase", "city-b"], ""),
    (["tenant", "erase", "_unassigned", "--yes"], None),
]


def run_all(d):
    out = []
    for args, stdin in COMMANDS:
        status, so, se = run(args, d, check=False, input=stdin)
        out.append((args, status, so, se))
    return out


def test_same_with_and_without_daemon():
    d = tempdir()
    try:
        setup(d)
        alone = run_all(d)
        inst = Instance(d)
        try:
            assert os.path.exists(os.path.join(d, "var", "control.sock"))
            mode = os.stat(os.path.join(d, "var", "control.sock")).st_mode & 0o777
            assert mode == 0o600, oct(mode)
            served = run_all(d)
            # the daemon really ran them: its log names the commands at debug level only,
            # so check the audit log's searches instead (counted below)
        finally:
            assert inst.stop() == 0
        for (args, s1, o1, e1), (_, s2, o2, e2) in zip(alone, served):
            assert (s1, o1, e1) == (s2, o2, e2), (args, (s1, o1, e1), (s2, o2, e2))
        statuses = [s for _, s, _, _ in alone]
        assert statuses == [0, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 1, 0, 2, 1], statuses
        assert json.loads(alone[0][2].splitlines()[0]) == {"destination.port": 443, "count": 200}
        assert alone[4][2] == ""  # city-b never sees city-a's events
        assert alone[1][3].startswith("koban: only the first 3 events shown"), alone[1]
        # each search that reached the store is audited, by the unix user, both ways
        with open(os.path.join(d, "var", "audit.log")) as f:
            audit = [json.loads(line) for line in f]
        searches = [a for a in audit if a["action"] == "search"]
        assert len(searches) == 2 * 6, len(searches)  # 6 searches name an existing tenant
        assert all("(uid %d)" % os.getuid() in a["who"] for a in searches), searches
    finally:
        shutil.rmtree(d)


def test_erase_through_daemon():
    d = tempdir()
    try:
        setup(d)
        inst = Instance(d)
        try:
            # 10 more events only in the write-ahead log: the erasure counts them too
            status, out, err = run(["ingest", "--tenant", "city-b", "--format", "ecs",
                                    "--no-wait", "-"], d, check=False,
                                   input=fw_ecs_lines(10, "late"))
            assert status == 0, (out, err)
            status, cert, err = run(["tenant", "erase", "city-b", "--yes"], d, check=False)
            assert status == 0, err
            assert cert.startswith("koban deletion certificate"), cert
            assert "erased tenant 'city-b': 50 events" in err, err
            assert "by root (uid 0)" in cert or "(uid %d)" % os.getuid() in cert, cert
            with open(os.path.join(d, "cert.txt"), "w") as f:
                f.write(cert)
            _, out, _ = run(["cert", "verify", "cert.txt"], d)
            assert out.startswith("valid: tenant city-b"), out
            status, _, err = run(["search", "--tenant", "city-b", "*"], d, check=False)
            assert status == 1 and "no tenant 'city-b'" in err, err
            _, out, _ = run(["search", "--tenant", "city-a", "--json", "| stats count()"], d)
            assert json.loads(out) == {"count": 300}, out
            # the daemon reloaded by itself: the erased tenant's routes are gone
            deadline = 200
            while deadline and value(inst.metrics(), "koban_config_reloads_total",
                                     result="ok") != 1:
                deadline -= 1
                time.sleep(0.05)
            assert value(inst.metrics(), "koban_config_reloads_total", result="ok") == 1
        finally:
            assert inst.stop() == 0
    finally:
        shutil.rmtree(d)


def test_erase_damaged_key_through_daemon():
    """A damaged data key file does not stop an erasure through the daemon either, with
    events not sealed yet (held aside for the key): the certificate names the file by its hash,
    the sealer passes the erased tenant's records over, and the other tenant is untouched."""
    d = tempdir()
    try:
        setup(d)
        inst = Instance(d)
        try:
            status, out, err = run(["ingest", "--tenant", "city-b", "--format", "ecs",
                                    "--no-wait", "-"], d, check=False,
                                   input=fw_ecs_lines(10, "late"))
            assert status == 0, (out, err)
        finally:
            # killed before its sealer committed them (every 60 s): a running lane may have
            # read the key already and would seal them with it, however the file changes
            inst.signal(signal.SIGKILL)
            inst.stop()
        _, out, _ = run(["store", "stats", "--tenant", "city-b"], d)
        assert [line.split()[:4] for line in out.splitlines() if "unsealed" in line] == \
            [["city-b", "unsealed", "-", "10"]], out
        # ids: _unassigned 1, city-a 2, city-b 3
        key = os.path.join(d, "var", "keys", "tenant-3.key")
        with open(key, "rb") as f:
            good = f.read()
        bad = b"KOBANXX1" + good[8:]
        with open(key, "wb") as f:
            f.write(bad)
        inst = Instance(d)
        try:
            status, cert, err = run(["tenant", "erase", "city-b", "--yes"], d, check=False)
            assert status == 0, (status, cert, err)
            digest = hashlib.blake2b(bad, digest_size=32).hexdigest()
            assert cert.startswith("koban deletion certificate\nversion: 3\ntenant: city-b\n"), cert
            assert "destroyed-damaged-key-file: blake2b-256:%s\n" % digest in cert, cert
            # the 40 sealed events are in a segment that does not open; the 10 of the log
            # are counted by their records' headers
            assert "\nevents: 10\n" in cert and "\nunreadable-segments: 1\n" in cert, cert
            # the erasure's seal holds city-b's records in its held.log (its key does not
            # open), so it succeeds: a segment and the held log are the tenant's 2 files
            assert "could not be sealed first" not in err, err
            assert "erased tenant 'city-b': 10 events in 2 files (10 of them held in its " \
                "held log, not sealed since its key did not open: removed with its files); " \
                "1 segment could not be read" in err, err
            assert not os.path.exists(key)
            assert not os.path.exists(os.path.join(d, "var", "tenants", "3"))
            with open(os.path.join(d, "cert.txt"), "w") as f:
                f.write(cert)
            _, out, _ = run(["cert", "verify", "cert.txt"], d)
            assert out.startswith("valid: tenant city-b"), out
            # the other tenant goes on being stored and sealed: the erased tenant's records
            # are passed over (at the stop below, everything durable is sealed)
            status, out, err = run(["ingest", "--tenant", "city-a", "--format", "ecs", "-"], d,
                                   check=False, input=fw_ecs_lines(5, "after"))
            assert status == 0, (out, err)
            _, out, _ = run(["search", "--tenant", "city-a", "--json", "| stats count()"], d)
            assert json.loads(out) == {"count": 305}, out
        finally:
            assert inst.stop() == 0
        # and without the daemon: sealed, nothing of the erased tenant, nothing damaged
        _, out, _ = run(["search", "--tenant", "city-a", "--json", "| stats count()"], d)
        assert json.loads(out) == {"count": 305}, out
        _, out, _ = run(["store", "stats"], d)
        assert "city-b" not in out and "unsealed" not in out, out
        status, out, err = run(["store", "verify"], d, check=False)
        assert status == 0 and "damaged" not in out.lower(), (out, err)
        status, _, err = run(["search", "--tenant", "city-b", "*"], d, check=False)
        assert status == 1 and "no tenant 'city-b'" in err, err
    finally:
        shutil.rmtree(d)


def test_erase_counts_the_log_without_daemon():
    """Without a daemon, the erasure counts the tenant's events that a killed daemon left
    unsealed in the write-ahead log (their records' headers say how many); the next daemon
    passes them over."""
    d = tempdir()
    try:
        setup(d)
        inst = Instance(d)
        try:
            status, out, err = run(["ingest", "--tenant", "city-b", "--format", "ecs",
                                    "--no-wait", "-"], d, check=False,
                                   input=fw_ecs_lines(10, "late"))
            assert status == 0 and out == ("stored 10 events of 10 lines (through the running "
                                           "koban: committed to its write-ahead log, not "
                                           "sealed yet)\n"), (out, err)
        finally:
            inst.signal(signal.SIGKILL)
            inst.stop()
        # its segment, and the temp and lock files of a segment the killed sealer had begun
        # (when its lane had read the records already): all of them erased
        files = len(os.listdir(os.path.join(d, "var", "tenants", "3")))
        status, cert, err = run(["tenant", "erase", "city-b", "--yes"], d, check=False)
        assert status == 0, (status, cert, err)
        assert "\nevents: 50\n" in cert, cert
        assert err.startswith("erased tenant 'city-b': 50 events in %d files and the " % files +
                              "write-ahead log (10 events not sealed yet, left there "
                              "unreadable: the sealer passes them over); keep"), err
        inst = Instance(d)
        assert inst.stop() == 0
        _, out, _ = run(["store", "stats"], d)
        assert "city-b" not in out and "unsealed" not in out, out
        _, out, _ = run(["search", "--tenant", "city-a", "--json", "| stats count()"], d)
        assert json.loads(out) == {"count": 300}, out
    finally:
        shutil.rmtree(d)


def test_ingest_through_daemon():
    d = tempdir()
    try:
        run(["tenant", "add", "city-a"], d)
        run(["tenant", "add", "city-b"], d)
        with open(os.path.join(d, "a.json"), "w") as f:
            f.write(fw_ecs_lines(500, "alpha"))
            f.write("not json\n")
            f.write(fw_ecs_lines(1, "tail"))
        with open(os.path.join(d, "b.log"), "w") as f:
            for i in range(20):
                f.write("<14>Dec  1 10:%02d:00 fw2 app[1]: beta line %d\n" % (i, i))
        alone = run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d,
                    check=False)
        assert alone[0] == 3 and "a.json:501: " in alone[2], alone
        assert alone[1].startswith("stored 501 events of 502 lines in "), alone
        inst = Instance(d)
        try:
            served = run(["ingest", "--tenant", "city-a", "--format", "ecs", "a.json"], d,
                         check=False)
            # the same rejects and status; the summary says where the events went
            assert (served[0], served[2]) == (alone[0], alone[2]), (served, alone)
            assert served[1] == ("stored 501 events of 502 lines (through the running koban: "
                                 "committed to its write-ahead log and sealed into "
                                 "segments), 1 lines rejected\n"), served
            # sealed when it returned: nothing of them left in the log
            _, out, _ = run(["store", "stats"], d)
            assert "unsealed" not in out, out
            # syslog lines through the pipeline, from standard input
            with open(os.path.join(d, "b.log")) as f:
                status, out, err = run(["ingest", "--tenant", "city-b", "--tz", "UTC", "-"], d,
                                       check=False, input=f.read())
            assert status == 0 and out.startswith("stored 20 events of 20 lines"), (out, err)
            # found at once, before the sealer ran or not: committed is searchable
            _, out, _ = run(["search", "--tenant", "city-a", "--json", "| stats count()"], d)
            assert json.loads(out) == {"count": 1002}, out
            _, out, _ = run(["search", "--tenant", "city-b", "--json",
                             "log.syslog.hostname: fw2 | stats count()"], d)
            assert json.loads(out) == {"count": 20}, out
            status, _, err = run(["ingest", "--tenant", "nosuch", "a.json"], d, check=False)
            assert status == 1 and "no tenant 'nosuch'" in err, err
        finally:
            assert inst.stop() == 0
        # after the stop everything is sealed: the same counts without the daemon
        _, out, _ = run(["search", "--tenant", "city-a", "--json", "| stats count()"], d)
        assert json.loads(out) == {"count": 1002}, out
        _, out, _ = run(["search", "--tenant", "city-b", "--json", "beta | stats count()"], d)
        assert json.loads(out) == {"count": 20}, out
    finally:
        shutil.rmtree(d)


def test_lock_without_socket():
    """A daemon that holds the lock but has no socket yet (starting) is waited for; when it
    goes away the command opens the store itself, with the usual output."""
    import fcntl
    d = tempdir()
    try:
        setup(d)
        _, expected, _ = run(["store", "stats"], d)
        with open(os.path.join(d, "var", "koban.pid"), "w") as f:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            f.write("%d\n" % os.getpid())
            f.flush()
            p = subprocess.Popen([KOBAN, "store", "stats"], cwd=d, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(0.3)  # the command is waiting for the socket (or has not looked yet)
        # the lock is gone with the file's close
        out, err = p.communicate(timeout=60)
        assert (p.returncode, out, err) == (0, expected, ""), (p.returncode, out, err)
    finally:
        shutil.rmtree(d)


def frame(t, payload):
    return struct.pack("<I", len(payload) + 1) + t + payload


def test_peer_uid_checked():
    if os.getuid() != 0:
        print("SKIP test_peer_uid_checked: needs root to act as another user")
        return
    d = tempdir()
    try:
        setup(d)
        inst = Instance(d)
        try:
            sock = os.path.join(d, "var", "control.sock")
            # open the door wide: only the peer check stands in the way
            os.chmod(d, 0o755)
            os.chmod(os.path.join(d, "var"), 0o755)
            os.chmod(sock, 0o666)
            req = frame(b"Q", b"cmd\0store stats\0")
            # the daemon may close before the request is even sent: no answer either way
            code = ("import socket,sys\n"
                    "s=socket.socket(socket.AF_UNIX)\n"
                    "s.connect(sys.argv[1])\n"
                    "s.settimeout(20)\n"
                    "data=b''\n"
                    "try:\n"
                    "    s.sendall(bytes.fromhex(sys.argv[2]))\n"
                    "    while True:\n"
                    "        b=s.recv(65536)\n"
                    "        if not b: break\n"
                    "        data+=b\n"
                    "except (BrokenPipeError, ConnectionResetError):\n"
                    "    pass\n"
                    "print(len(data))\n")
            p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                sys.executable, "-c", code, sock, req.hex()],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0 and p.stdout.strip() == "0", (p.stdout, p.stderr)
            assert "refused a control connection of uid 65534" in inst.log(), inst.log()
            assert value(inst.metrics(), "koban_control_refused_total") == 1
            # the owner gets an answer over the same socket
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.sendall(req)
            data = recv_to_eof(s)
            assert b"city-a" in data and data.endswith(frame(b"X", struct.pack("<I", 0))), data
            # a malformed request ends the connection without running anything
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.sendall(struct.pack("<I", 0xFFFFFFF0) + b"Q")
            assert s.recv(10) == b""
            s.close()
        finally:
            assert inst.stop() == 0
        assert not os.path.exists(os.path.join(d, "var", "control.sock"))
    finally:
        shutil.rmtree(d)


BUSY = "too many searches at once: try again"


def test_search_cap_shared_with_api():
    """`koban search` through the daemon takes one of the 8 search slots that the API's
    searches take: with 8 held by CLI searches whose output nobody reads, a ninth is refused
    with the API's own words and the API answers 503; once they end, both search again."""
    d = tempdir()
    held = []
    try:
        run(["tenant", "add", "city-a"], d)
        ingest_fw(d, "city-a", 20000, "cap")  # megabytes of JSON: more than the pipes hold
        tok = api_tokens(d, ["city-a"])["city-a"]
        inst = Instance(d, extra=["--api", "127.0.0.1:0"])
        url = "%s://%s/api/v1/search?q=*&limit=1" % (inst.api_scheme, inst.api)

        def hold_all():
            """Whether 8 searches each hold a slot, once their first event is out (nobody
            reads the rest); when one is refused (a slot not given back yet), none is left."""
            new = [subprocess.Popen([KOBAN, "search", "--tenant", "city-a", "--json", "*"],
                                    cwd=d, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                   for _ in range(8)]
            held.extend(new)
            if all(p.stdout.readline().startswith(b"{") for p in new):
                return True
            for p in new:
                p.kill()
                p.wait()
            return False

        try:
            assert hold_all()
            # a search of nothing (--limit 0) takes a slot too: a ninth is refused
            assert run(["search", "--tenant", "city-a", "--limit", "0", "*"], d,
                       check=False) == (1, "", "koban: " + BUSY + "\n")
            status, _, body = api_request(url, tok)
            assert (status, json.loads(body)) == (503, {"error": BUSY}), (status, body)
            for p in held:
                p.kill()
                p.wait()
            # the daemon sees each reader gone and gives its slot back
            def counted():
                status, out, _ = run(["search", "--tenant", "city-a", "--json",
                                      "| stats count()"], d, check=False)
                return status == 0 and json.loads(out) == {"count": 20000}
            poll("the slots given back", counted)
            status, _, body = api_request(url, tok)
            assert status == 200 and len(body.splitlines()) == 1, (status, body)
            # all 8 given back: 8 hold them again, and a ninth is refused
            poll("all 8 slots given back", hold_all)
            assert run(["search", "--tenant", "city-a", "--limit", "0", "*"], d,
                       check=False) == (1, "", "koban: " + BUSY + "\n")
        finally:
            for p in held:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            assert inst.stop() == 0
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_same_with_and_without_daemon)
    s.run(test_erase_through_daemon)
    s.run(test_erase_damaged_key_through_daemon)
    s.run(test_erase_counts_the_log_without_daemon)
    s.run(test_ingest_through_daemon)
    s.run(test_lock_without_socket)
    s.run(test_peer_uid_checked)
    s.run(test_search_cap_shared_with_api)
    s.done()
