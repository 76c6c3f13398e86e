"""Hostile senders against koban serve: slow-loris connections, TLS clients that never
handshake, one source opening too many connections, slow clients on the admin port, a
SIGTERM with a thousand throttled connections, and mutual TLS. Every case runs on
loopback (senders use addresses of 127.0.0.0/8 as their source) and is bounded in time;
the legitimate traffic beside the attack is checked with exact counts."""
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, file_output_config, loadgen, make_tls, run,  # noqa: E402
                      spool_lines, tempdir, value)

ALPHA = "127.0.0.2"


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def setup_alpha(d):
    run(["tenant", "add", "alpha"], d)
    run(["source", "add", "alpha-net", "--tenant", "alpha", "--cidr", ALPHA + "/32"], d)


def write_config(d, text):
    return file_output_config(d, text)


def connect_from(target, src, timeout=5):
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((host, int(port)))
    return s


def source(i):
    """The i-th attacker address: 127.0.1.1, 127.0.1.2, ..."""
    return "127.0.%d.%d" % (1 + i // 250, 1 + i % 250)


def wait_for(k, what, cond, timeout=30):
    """Polls /metrics until cond(metrics) holds; returns the metrics."""
    deadline = time.time() + timeout
    while True:
        m = k.metrics()
        if cond(m):
            return m
        if time.time() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.1)


def closed_by_peer(s, timeout=5):
    """True when the other side closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def alpha_seqs(d, tag):
    out = []
    for e in spool_lines(d, "alpha"):
        msg = e.get("message", "")
        sd = e.get("log", {}).get("syslog", {}).get("structured_data", {})
        if sd.get("origin@32473", {}).get("tag") == tag and "seq=" in msg:
            out.append(int(msg.split("seq=")[1].split()[0]))
        elif ("tag=%s seq=" % tag) in msg:
            out.append(int(msg.split("tag=%s seq=" % tag)[1].split()[0]))
    return sorted(out)


def refused(m, reason):
    return value(m, "koban_connections_refused_total", reason=reason)


def evicted(m, reason):
    return value(m, "koban_connections_evicted_total", reason=reason)


class Trickler:
    """Sends one byte every `period` seconds on each socket (spread evenly), never a line
    end, until stopped; sockets the server closed are dropped."""

    def __init__(self, socks, period=2.0):
        self.socks = list(socks)
        self.period = period
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set() and self.socks:
            gap = self.period / len(self.socks)
            alive = []
            for s in self.socks:
                if self.stop.wait(gap):
                    return
                try:
                    s.send(b"x", socket.MSG_DONTWAIT)
                    alive.append(s)
                except OSError:
                    pass
            self.socks = alive

    def close(self):
        self.stop.set()
        self.thread.join()


def test_slow_loris_does_not_lock_out():
    """1,100 connections from 20 addresses, each trickling one byte every 2 s without ever
    finishing a line: a legitimate sender still gets its 2,000 messages through, the
    connections over the limit are refused or evict the oldest idle ones, and the
    trickling ones are closed at the frame deadline."""
    d = tempdir()
    socks = []
    trickler = None
    try:
        raise_fd_limit(4096)
        setup_alpha(d)
        k = Instance(d, write_config(d, "syslog:\n  tcp_frame_timeout: 6\n"))
        tcp = k.listeners["tcp"]
        for i in range(1100):
            try:
                s = connect_from(tcp, source(i // 55))
                s.send(b"<")
                socks.append(s)
            except OSError:
                pass  # refused while the server was full: counted below
        trickler = Trickler(socks)
        m = wait_for(k, "the listener to fill", lambda m: value(
            m, "koban_listener_active_connections", listener="tcp") >= 1000)
        # The legitimate sender arrives while the listener is full, once the tricklers
        # have had time to be quiet for the second that eviction asks for (each sends a
        # byte every 2 s, so about half of them are quiet that long at any moment).
        time.sleep(1.5)
        loadgen("--proto", "tcp", "--framing", "lf", "--target", tcp, "--bind", ALPHA,
                "--count", 2000, "--size", 200, "--tag", "legit")
        m = k.wait_settled(expect_total=2000)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == 2000, \
            "alpha parsed %d" % value(m, "koban_events_parsed_total", tenant="alpha")
        assert value(m, "koban_events_dropped_total", tenant="alpha") == 0
        over = refused(m, "max_connections") + evicted(m, "oldest_idle")
        assert refused(m, "listener_full") == 0  # no per-listener limit configured
        assert over >= 1100 - 1024 + 1, "only %d refused or evicted for room" % over
        assert evicted(m, "oldest_idle") >= 1, "the legitimate sender evicted nobody"
        # the tricklers never finish a message: closed at the frame deadline
        m = wait_for(k, "the frame deadline", lambda m: value(
            m, "koban_listener_active_connections", listener="tcp") == 0, timeout=30)
        assert evicted(m, "frame_timeout") > 0
        cut = value(m, "koban_listener_frames_cut_total", listener="tcp")
        assert cut == evicted(m, "frame_timeout") + evicted(m, "oldest_idle"), \
            "frames cut %d" % cut
        assert refused(m, "per_address") == 0
        trickler.close()
        trickler = None
        assert k.stop() == 0, k.log()
        assert alpha_seqs(d, "legit") == list(range(2000))
    finally:
        if trickler:
            trickler.close()
        for s in socks:
            s.close()
        shutil.rmtree(d, ignore_errors=True)


def test_per_address_limit_and_cut_frame():
    """70 connections from one address: 64 stay open, 6 are refused and counted; a frame
    cut short at close and empty UDP datagrams are counted."""
    d = tempdir()
    socks = []
    try:
        k = Instance(d, write_config(d, ""))
        tcp = k.listeners["tcp"]
        for _ in range(70):
            socks.append(connect_from(tcp, "127.0.0.9"))
        m = wait_for(k, "6 refusals", lambda m: refused(m, "per_address") == 6)
        assert value(m, "koban_listener_active_connections", listener="tcp") == 64
        assert sum(closed_by_peer(s, 0.2) for s in socks) == 6
        for s in socks:
            s.close()
        s = connect_from(tcp, "127.0.0.10")
        s.sendall(b"9 <13>whole10 <13>half")
        s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        host, port = k.listeners["udp"].rsplit(":", 1)
        for payload in (b"", b"\n", b"\r\n"):
            u.sendto(payload, (host, int(port)))
        u.close()
        m = wait_for(k, "the cut frame", lambda m: value(
            m, "koban_listener_frames_cut_total", listener="tcp") == 1)
        m = wait_for(k, "empty datagrams", lambda m: value(
            m, "koban_udp_empty_datagrams_total", listener="udp") == 3)
        assert value(m, "koban_listener_messages_total", listener="tcp") == 1
        assert k.stop() == 0, k.log()
    finally:
        for s in socks:
            s.close()
        shutil.rmtree(d, ignore_errors=True)


def test_tls_clients_that_never_handshake():
    """50 silent connections fill a TLS listener limited to 50: a real TLS sender evicts
    the oldest and gets all its messages through; the silent ones are closed at the
    10 s handshake deadline and counted."""
    d = tempdir()
    socks = []
    try:
        setup_alpha(d)
        ca, cert, key = make_tls(d)
        cfg = write_config(d, "syslog:\n  tcp_max_per_listener: 50\n  tls:\n    cert: %s\n"
                           "    key: %s\n" % (cert, key))
        k = Instance(d, cfg, ["--syslog-tls", "127.0.0.1:0"])
        tls = k.listeners["tls"]
        for i in range(50):
            socks.append(connect_from(tls, source(i // 10)))
        wait_for(k, "50 silent connections", lambda m: value(
            m, "koban_listener_active_connections", listener="tls") == 50)
        time.sleep(1.2)  # they are now idle long enough to be evicted
        loadgen("--proto", "tls", "--framing", "octet", "--target", tls, "--bind", ALPHA,
                "--ca", ca, "--count", 500, "--size", 200, "--tag", "tlslegit")
        m = k.wait_settled(expect_total=500)
        assert value(m, "koban_events_parsed_total", tenant="alpha") == 500
        assert evicted(m, "oldest_idle") == 1
        m = wait_for(k, "handshake timeouts", lambda m: evicted(
            m, "handshake_timeout") == 49, timeout=20)
        assert value(m, "koban_listener_tls_failures_total", listener="tls") == 49
        assert value(m, "koban_listener_active_connections", listener="tls") == 0
        assert refused(m, "listener_full") == 0
        assert k.stop() == 0, k.log()
        assert alpha_seqs(d, "tlslegit") == list(range(500))
    finally:
        for s in socks:
            s.close()
        shutil.rmtree(d, ignore_errors=True)


def scrape(k, timeout=5):
    with urllib.request.urlopen("http://%s/metrics" % k.admin, timeout=timeout) as r:
        return r.status, r.read()


def test_admin_answers_with_slow_clients():
    """40 clients trickling a request to the admin port from one address: 16 are kept,
    24 refused at once, and /metrics still answers the scraper; the 16 are closed when
    their request is not complete after 5 s. Tricklers on the scraper's own address hold
    it up for those 5 s at most."""
    d = tempdir()
    socks = []
    trickler = None
    try:
        k = Instance(d, write_config(d, ""))
        for _ in range(40):
            s = connect_from(k.admin, "127.0.0.20")
            s.send(b"G")
            socks.append(s)
        trickler = Trickler(socks, period=1.0)
        for _ in range(3):
            status, body = scrape(k)
            assert status == 200 and b"koban_connections_refused_total" in body
        assert sum(closed_by_peer(s, 0.2) for s in socks) == 24
        # the kept ones trickle on, but their request is late: closed at the deadline
        t0 = time.time()
        assert all(closed_by_peer(s, 10) for s in socks), "a trickler outlived the deadline"
        assert time.time() - t0 < 8
        trickler.close()
        # the same from the scraper's own address: it waits for the deadline, not forever
        mine = []
        for _ in range(16):
            s = connect_from(k.admin, "127.0.0.1")
            s.send(b"G")
            mine.append(s)
        socks += mine
        trickler = Trickler(mine, period=1.0)
        t0 = time.time()
        while True:
            try:
                status, _ = scrape(k)
                break
            except OSError:
                assert time.time() - t0 < 10, "the scraper stayed locked out"
                time.sleep(0.2)
        assert status == 200
        trickler.close()
        trickler = None
        assert value(k.metrics(), "koban_admin_requests_cut_total") >= 16
        assert k.stop() == 0, k.log()
    finally:
        if trickler:
            trickler.close()
        for s in socks:
            s.close()
        shutil.rmtree(d, ignore_errors=True)


def test_sigterm_deadline_with_throttled_connections():
    """1,000 connections all paused by an EPS limit of 1: SIGTERM still ends koban within
    its documented deadline (read-out 5 s + push 2 s, then the workers' drain)."""
    d = tempdir()
    socks = []
    try:
        raise_fd_limit(4096)
        setup_alpha(d)
        cfg = write_config(d, "syslog:\n  tcp_max_per_address: 0\nlimits:\n  default_eps: 1\n")
        k = Instance(d, cfg)
        tcp = k.listeners["tcp"]
        lines = b"".join(b"<13>Nov 30 02:00:00 h app: throttled %d\n" % i for i in range(200))
        for i in range(1000):
            s = connect_from(tcp, ALPHA)
            s.setblocking(False)
            try:
                s.send(lines)
            except BlockingIOError:
                pass
            socks.append(s)
        wait_for(k, "1,000 connections", lambda m: value(
            m, "koban_listener_active_connections", listener="tcp") == 1000)
        wait_for(k, "throttling", lambda m: value(
            m, "koban_events_throttled_total", tenant="alpha") >= 900)
        t0 = time.time()
        k.signal(signal.SIGTERM)
        status = k.proc.wait(timeout=60)
        took = time.time() - t0
        assert status == 0, k.log()
        assert took < 15, "SIGTERM took %.1f s" % took
        assert "error" not in k.log().replace("errors", ""), k.log()
    finally:
        for s in socks:
            s.close()
        shutil.rmtree(d, ignore_errors=True)


def make_client_cert(d, ca_name):
    """A client key and certificate signed by the CA ca_name (made when missing)."""
    t = os.path.join(d, "tls")
    os.makedirs(t, exist_ok=True)

    def ossl(*a):
        subprocess.run(["openssl"] + list(a), cwd=t, check=True, capture_output=True)
    if not os.path.exists(os.path.join(t, ca_name + ".pem")):
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ca_name + ".key", "-out", ca_name + ".pem", "-days", "2",
             "-subj", "/CN=" + ca_name)
    name = "client-" + ca_name
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=fw01")
    ossl("x509", "-req", "-in", name + ".csr", "-CA", ca_name + ".pem", "-CAkey",
         ca_name + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2")
    return (os.path.join(t, ca_name + ".pem"), os.path.join(t, name + ".pem"),
            os.path.join(t, name + ".key"))


def tls_send(target, server_ca, lines, cert=None):
    """Sends lines over TLS; True when the server kept the connection (its answer to a
    refused client certificate is an alert, seen on the next read)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(server_ca)
    if cert:
        ctx.load_cert_chain(*cert)
    host, port = target.rsplit(":", 1)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(5)
    raw.bind((ALPHA, 0))
    raw.connect((host, int(port)))
    try:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(b"".join(lines))
            s.settimeout(0.5)
            try:
                s.recv(1)  # session tickets or nothing; an alert when refused
            except socket.timeout:
                pass
            return True
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return False


def test_mutual_tls():
    """With syslog.tls.client_ca, a client certificate signed by that CA is accepted;
    no certificate, or one from another CA, is refused and counted."""
    d = tempdir()
    try:
        setup_alpha(d)
        server_ca, cert, key = make_tls(d)
        client_ca, ccert, ckey = make_client_cert(d, "clients-ca")
        _, ocert, okey = make_client_cert(d, "other-ca")
        cfg = write_config(d, "syslog:\n  tls:\n    cert: %s\n    key: %s\n    client_ca: %s\n"
                           % (cert, key, client_ca))
        k = Instance(d, cfg, ["--syslog-tls", "127.0.0.1:0"])
        tls = k.listeners["tls"]
        good = [b"<13>Nov 30 02:00:00 fw01 app: tag=mtls seq=%d\n" % i for i in range(100)]
        bad = [b"<13>Nov 30 02:00:00 fw01 app: tag=nocert seq=%d\n" % i for i in range(10)]
        assert tls_send(tls, server_ca, good, (ccert, ckey))
        tls_send(tls, server_ca, bad)
        tls_send(tls, server_ca, bad, (ocert, okey))
        m = wait_for(k, "two refused handshakes", lambda m: value(
            m, "koban_listener_tls_failures_total", listener="tls") == 2)
        m = k.wait_settled(expect_total=100)
        assert value(m, "koban_events_received_total") == 100, \
            "received %d" % value(m, "koban_events_received_total")
        assert k.stop() == 0, k.log()
        assert alpha_seqs(d, "mtls") == list(range(100))
        assert alpha_seqs(d, "nocert") == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_per_address_limit_and_cut_frame)
    s.run(test_mutual_tls)
    s.run(test_admin_answers_with_slow_clients)
    s.run(test_tls_clients_that_never_handshake)
    s.run(test_slow_loris_does_not_lock_out)
    s.run(test_sigterm_deadline_with_throttled_connections)
    s.done()
