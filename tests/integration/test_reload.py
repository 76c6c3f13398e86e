"""Reloading a running `koban serve`: SIGHUP applies EPS limits and the log level at once,
names every key that waits for a restart, and a broken file keeps the running
configuration; one instance per data directory (lock, pid file, `koban reload`); serve
refuses a configuration that `koban config check` rejects, before binding anything."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import KOBAN, Instance, Suite, loadgen, make_tls, run, tempdir, value  # noqa: E402


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def wait_log(k, text, count=1, timeout=20):
    """Polls the log until text occurs count times; returns the log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = k.log()
        if log.count(text) >= count:
            return log
        time.sleep(0.05)
    raise AssertionError("no %r (x%d) in the log:\n%s" % (text, count, k.log()))


def wait_dropped(k, want, timeout=30):
    """Polls /metrics until parsed + dropped of _unassigned reaches want; returns metrics."""
    deadline = time.time() + timeout
    while True:
        m = k.metrics()
        done = value(m, "koban_events_parsed_total", tenant="_unassigned") + \
            value(m, "koban_events_dropped_total", tenant="_unassigned")
        if done >= want or time.time() > deadline:
            return m
        time.sleep(0.1)


BASE = """log_level: info
limits:
  default_eps: 0
"""


def test_reload_eps_limit_and_broken_file():
    d = tempdir()
    try:
        cfg = os.path.join(d, "koban.yaml")
        write(cfg, BASE)
        k = Instance(d, config=cfg)
        udp = k.listeners["udp"]
        loadgen("--proto", "udp", "--target", udp, "--count", 50, "--tag", "before")
        m = k.wait_settled(expect_total=50)
        assert value(m, "koban_events_parsed_total", tenant="_unassigned") == 50
        assert value(m, "koban_events_dropped_total", reason="rate_limit") == 0

        # one event per second: 50 at once are mostly dropped, counted as rate_limit
        write(cfg, BASE.replace("default_eps: 0", "default_eps: 1"))
        k.signal(signal.SIGHUP)
        wait_log(k, "reload: 'limits.default_eps' changed from 0 to 1")
        wait_log(k, "reloaded " + cfg)
        loadgen("--proto", "udp", "--target", udp, "--count", 50, "--tag", "limited")
        m = k.wait_settled(expect_total=100)
        limited = value(m, "koban_events_dropped_total", tenant="_unassigned", reason="rate_limit")
        parsed = value(m, "koban_events_parsed_total", tenant="_unassigned")
        assert limited >= 1, "the new limit was not applied"
        assert parsed + limited == 100, (parsed, limited)

        # a file that does not load changes nothing: the limit stays
        m = k.metrics()
        assert value(m, "koban_config_reloads_total", result="ok") == 1
        assert value(m, "koban_config_reloads_total", result="failed") == 0
        write(cfg, "limits:\n  default_eps: [\n")
        k.signal(signal.SIGHUP)
        wait_log(k, "reload failed, keeping the running configuration: " + cfg + ":")
        m = k.metrics()
        assert value(m, "koban_config_reloads_total", result="ok") == 1
        assert value(m, "koban_config_reloads_total", result="failed") == 1
        loadgen("--proto", "udp", "--target", udp, "--count", 50, "--tag", "still")
        m = k.wait_settled(expect_total=150)
        still = value(m, "koban_events_dropped_total", tenant="_unassigned", reason="rate_limit")
        assert still > limited, "the broken file lifted the limit"
        assert "reload: 'limits.default_eps' changed from 1" not in k.log()

        # and a good file again lifts it
        write(cfg, BASE)
        k.signal(signal.SIGHUP)
        wait_log(k, "reload: 'limits.default_eps' changed from 1 to 0")
        wait_log(k, "reloaded " + cfg, count=2)
        loadgen("--proto", "udp", "--target", udp, "--count", 50, "--tag", "free")
        m = k.wait_settled(expect_total=200)
        assert value(m, "koban_events_dropped_total", reason="rate_limit") == still
        assert k.stop() == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def idle_connection(address):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.recv(1)  # returns b"" when koban closes the idle connection
    s.close()


def test_reload_log_level_and_restart_keys():
    d = tempdir()
    try:
        cfg = os.path.join(d, "koban.yaml")
        write(cfg, "log_level: info\nworkers: 2\nsyslog:\n  tcp_idle_timeout: 1\n")
        k = Instance(d, config=cfg)
        tcp = k.listeners["tcp"]
        idle_connection(tcp)
        assert "closing idle connection" not in k.log()  # a debug line

        write(cfg, "log_level: debug\nworkers: 4\nsyslog:\n  tcp_idle_timeout: 1\n")
        k.signal(signal.SIGHUP)
        log = wait_log(k, "reloaded " + cfg)
        assert "reload: 'log_level' changed from info to debug" in log, log
        assert "reload: 'workers' changed from 2 to 4; takes effect at the next restart" in log
        assert value(k.metrics(), "koban_config_restart_pending") == 1
        idle_connection(tcp)
        wait_log(k, "closing idle connection")

        # warn: the next reload's info lines are no longer written, its warnings are
        write(cfg, "log_level: warn\nworkers: 4\nsyslog:\n  tcp_idle_timeout: 5\n")
        k.signal(signal.SIGHUP)
        wait_log(k, "reload: 'log_level' changed from debug to warn")
        log = wait_log(k, "reload: 'syslog.tcp_idle_timeout' changed from 1 to 5; takes "
                       "effect at the next restart")
        write(cfg, "log_level: warn\nworkers: 8\nsyslog:\n  tcp_idle_timeout: 5\n")
        k.signal(signal.SIGHUP)
        log = wait_log(k, "reload: 'workers' changed from 2 to 8")
        assert log.count("reloaded " + cfg) == 1, log  # the info lines are gone
        assert k.stop() == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_reload_that_breaks_a_command_line_override():
    """--syslog-tls needs syslog.tls in the file: a reloaded file without it is refused
    (and, under the sanitizers, freed), and the TLS listener goes on."""
    d = tempdir()
    try:
        _, cert, key = make_tls(d)
        cfg = os.path.join(d, "koban.yaml")
        tls = "syslog:\n  tls:\n    cert: %s\n    key: %s\n" % (cert, key)
        write(cfg, "log_level: info\n" + tls)
        k = Instance(d, config=cfg, extra=["--syslog-tls", "127.0.0.1:0"])
        write(cfg, "log_level: debug\n")
        k.signal(signal.SIGHUP)
        wait_log(k, "reload failed, keeping the running configuration: a tls listener needs "
                 "syslog.tls.cert")
        write(cfg, "log_level: debug\n" + tls)
        k.signal(signal.SIGHUP)
        log = wait_log(k, "reloaded " + cfg)
        assert "reload: 'log_level' changed from info to debug" in log, log
        assert "takes effect at the next restart" not in log, log
        assert k.stop() == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_one_instance_per_data_dir_and_koban_reload():
    d = tempdir()
    try:
        cfg = os.path.join(d, "koban.yaml")
        write(cfg, "log_level: info\n")
        pidfile = os.path.join(d, "var", "koban.pid")
        k = Instance(d, config=cfg)
        with open(pidfile) as f:
            assert int(f.read()) == k.proc.pid
        p = subprocess.run([KOBAN, "serve", "-c", cfg, "--syslog-udp", "127.0.0.1:0",
                            "--syslog-tcp", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
                           cwd=d, capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert "already running (pid %d)" % k.proc.pid in p.stderr, p.stderr
        assert "listening" not in p.stdout, p.stdout

        _, out, _ = run(["reload", "-c", cfg], d)
        assert "pid %d" % k.proc.pid in out, out
        wait_log(k, "reloaded " + cfg)
        assert k.stop() == 0
        assert not os.path.exists(pidfile), "pid file left after a clean stop"
        status, _, err = run(["reload", "-c", cfg], d, check=False)
        assert status == 1 and "not running" in err, err
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_serve_refuses_what_config_check_rejects():
    d = tempdir()
    try:
        cfg = os.path.join(d, "koban.yaml")
        write(cfg, "data_dir: ./data\nadmin:\n  listen: 127.0.0.1:0\nsyslog:\n  listeners:\n"
              "    - {name: a, protocol: tcp, listen: 127.0.0.1:6601}\n"
              "    - {name: b, protocol: tcp, listen: 0.0.0.0:6601}\n")
        status, out, err = run(["config", "check", cfg], d, check=False)
        assert status == 1, (status, out, err)
        assert cfg + ":7: syslog.listeners[1]: listener 'b' (tcp 0.0.0.0:6601) clashes" in err
        p = subprocess.run([KOBAN, "serve", "-c", cfg], cwd=d, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 1, p
        assert cfg + ":7: syslog.listeners[1]: listener 'b'" in p.stderr, p.stderr
        assert "listening" not in p.stdout
        assert not os.path.exists(os.path.join(d, "data")), "serve created data_dir"

        write(cfg, "admin:\n  listen: 0.0.0.0:8514\nlimits:\n  tenants:\n"
              "    nosuch: {eps: 1}\n")
        run(["tenant", "add", "demo"], d)  # makes var/koban.db
        status, out, err = run(["config", "check", cfg], d)
        assert out.strip() == cfg + ": ok, 2 warnings", out
        assert cfg + ":2: admin.listen: 0.0.0.0:8514 is not a loopback address" in err, err
        assert cfg + ":5: limits.tenants.nosuch: there is no tenant 'nosuch'" in err, err

    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_reload_eps_limit_and_broken_file)
    s.run(test_reload_log_level_and_restart_keys)
    s.run(test_reload_that_breaks_a_command_line_override)
    s.run(test_one_instance_per_data_dir_and_koban_reload)
    s.run(test_serve_refuses_what_config_check_rejects)
    s.done()
