"""Helpers for koban's integration tests: throwaway instances, metrics, the load generator.

Each test prints PASS/FAIL/SKIP lines that tests/run counts. Everything runs on loopback
in a temporary directory; nothing outside it is touched.
"""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

KOBAN = os.environ.get("KOBAN_BIN", os.path.abspath("koban"))
BUILD = os.environ.get("KOBAN_BUILD", os.path.abspath("build/release"))
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
DATA = os.environ.get("KOBAN_TEST_DATA", os.path.abspath("tests/data"))
# the public samples, in a checkout next to koban's (tests that need them skip without it)
SHARED = os.environ.get("KOBAN_SHARED_DATA", os.path.abspath("../shared/data"))


def samples(kind):
    """The folder of the public samples of kind (SHARED/samples/kind); it may be absent."""
    return os.path.join(SHARED, "samples", kind)


def run(args, cwd, check=True, input=None):
    """Runs koban ARGS in cwd; returns (status, stdout, stderr)."""
    p = subprocess.run([KOBAN] + args, cwd=cwd, capture_output=True, text=True, input=input,
                       timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("koban %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p.returncode, p.stdout, p.stderr


class Instance:
    """A `koban serve` in its own folder with every listener on a free loopback port."""

    def __init__(self, workdir, config=None, extra=()):
        self.dir = workdir
        args = [KOBAN, "serve"]
        if config:
            args += ["-c", config]
        extra = list(extra)
        # a flag given in extra replaces the default (koban refuses a repeated flag)
        for flag in ("--syslog-udp", "--syslog-tcp", "--admin"):
            if flag not in extra:
                args += [flag, "127.0.0.1:0"]
        args += extra
        self.err = open(os.path.join(workdir, "koban.log"), "w")
        self.proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        self.listeners = {}
        self.admin = None
        self.api = self.api_scheme = None
        for line in self.proc.stdout:
            words = line.split()
            if words[:2] == ["listening", "syslog"]:
                self.listeners[words[2]] = words[4]
            elif words[:2] == ["listening", "admin"]:
                self.admin = words[3]
            elif words[:2] == ["listening", "api"]:
                self.api_scheme, self.api = words[2], words[3]
            elif words[:1] == ["ready"]:
                break
        if self.admin is None:
            self.proc.wait(timeout=10)
            raise AssertionError("koban serve did not start: " + self.log())

    def log(self):
        with open(os.path.join(self.dir, "koban.log")) as f:
            return f.read()

    def metrics(self):
        return admin_metrics(self.admin)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.err.close()

    def wait_settled(self, expect_total=None, timeout=120):
        """Waits until every received message is parsed (or failed) and nothing is
        queued, and, when given, until that total is reached. Returns the metrics."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            m = self.metrics()
            received = total(m, "koban_events_received_total")
            done = total(m, "koban_events_parsed_total") + total(m, "koban_events_parse_failed_total")
            dropped = total(m, "koban_events_dropped_total")
            depth = total(m, "koban_queue_depth")
            state = (received, done, dropped)
            if depth == 0 and done + dropped >= received and state == last and \
                    (expect_total is None or received >= expect_total):
                return m
            last = state
            time.sleep(0.3)
        raise AssertionError("koban did not settle: %r" % (last,))


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise AssertionError("bad metrics line: %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def admin_metrics(addr):
    """The metrics of the admin listener at addr (HOST:PORT), parsed."""
    with urllib.request.urlopen("http://%s/metrics" % addr, timeout=10) as r:
        return parse_metrics(r.read().decode())


def value(metrics, name, **labels):
    """Sum of the series of name whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, l), v in metrics.items() if n == name and want <= set(l))


def total(metrics, name):
    return value(metrics, name)


def loadgen(*args):
    """Runs the load generator to completion; returns its summary line."""
    p = subprocess.run([LOADGEN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError("loadgen %s: %s" % (" ".join(map(str, args)), p.stderr))
    return p.stdout.strip()


def loadgen_start(*args):
    return subprocess.Popen([LOADGEN] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


FILE_OUTPUT = "output:\n  file: true\n"


def poll(what, cond, timeout=60, interval=0.05):
    """Waits until cond() returns a true value and returns it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def tmpfs_under(workdir, *parts, size="4m"):
    """Mounts a tmpfs of size at workdir/parts... (made as needed) for a full disk; returns
    its path. Fails the test when it cannot (run those tests with Suite.run_with_tmpfs);
    umount() it before removing workdir."""
    path = os.path.join(workdir, *parts)
    ok, why = mount_tmpfs(path, size)
    assert ok, why
    return path


def umount(path):
    """Unmounts what tmpfs_under mounted at path (nothing mounted: nothing done)."""
    subprocess.run(["umount", path], capture_output=True)


def recv_to_eof(s):
    """Everything s receives until the other side closes; then closes s."""
    data = b""
    while True:
        got = s.recv(65536)
        if not got:
            break
        data += got
    s.close()
    return data


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return p.returncode == 0, p.stderr.strip()


def tmpfs_refused():
    """Why a tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN), or None."""
    d = tempdir()
    try:
        ok, why = mount_tmpfs(d, "64k")
        if ok:
            umount(d)
        return None if ok else why or "mount failed"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fill_leaving(directory, free):
    """Fills the file system of directory with a file `ballast` there until about free
    bytes are left; returns its path (remove it to give the space back)."""
    st = os.statvfs(directory)
    path = os.path.join(directory, "ballast")
    with open(path, "wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - free))
    return path


def udp_dropped_while_blocked(k, bind, tenant, count=300):
    """Sends count UDP messages from bind to instance k while tenant's output is blocked:
    each one received must be dropped with reason output_error (none for queue_full).
    Returns the metrics and how many were received."""
    loadgen("--proto", "udp", "--target", k.listeners["udp"], "--bind", bind,
            "--count", count, "--rate", 2000, "--tag", "udp")

    def counted():
        m = k.metrics()
        got = value(m, "koban_events_received_total", tenant=tenant, listener="udp")
        lost = value(m, "koban_udp_receive_overflow_total")
        return m if got + lost >= count and got > 0 and \
            value(m, "koban_events_dropped_total", tenant=tenant) >= got else None
    m = poll("the UDP drops", counted)
    got = value(m, "koban_events_received_total", tenant=tenant, listener="udp")
    assert value(m, "koban_events_dropped_total", tenant=tenant,
                 reason="output_error") == got, m
    assert value(m, "koban_events_dropped_total", tenant=tenant, reason="queue_full") == 0
    return m, got


def write_file(workdir, name, text):
    """Writes text to workdir/name, making the folders of name as needed; returns its path."""
    path = os.path.join(workdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_config(workdir, extra=""):
    """Writes workdir/koban.yaml: data_dir ./var, then extra; returns its path."""
    path = os.path.join(workdir, "koban.yaml")
    with open(path, "w") as f:
        f.write("data_dir: ./var\n" + extra)
    return path


def file_output_config(workdir, extra=""):
    """A koban.yaml in workdir with the ECS JSON file output on (off by default), so that
    spool_lines() can read what serve made; extra is appended."""
    return write_config(workdir, FILE_OUTPUT + extra)


def json_lines(text):
    """The JSON values of text, one a line (the --json output of koban's commands)."""
    return [json.loads(line) for line in text.splitlines()]


def alert_list(workdir, tenant, *args):
    """The alerts of `koban alert list --tenant tenant --json ARGS` run in workdir, newest
    first (ARGS such as --limit N, -c CONFIG)."""
    _, out, _ = run(["alert", "list", "--tenant", tenant, "--json"] + list(args), workdir)
    return json_lines(out)


def api_tokens(workdir, tenants):
    """Adds an API token tok-TENANT for each of tenants and a SOC token `ops` in workdir;
    returns their secrets as {tenant: secret, "soc": secret}."""
    tokens = {}
    for t in tenants:
        tokens[t] = run(["token", "add", "tok-" + t, "--tenant", t], workdir)[1].strip()
    tokens["soc"] = run(["token", "add", "ops", "--soc"], workdir)[1].strip()
    return tokens


def api_request(url, token=None, method="GET", data=None):
    """One HTTP request to koban's API listener, with `Authorization: Bearer token` when a
    token is given; returns (status, Content-Type, body text), for error statuses too."""
    req = urllib.request.Request(url, method=method, data=data)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def search_events(workdir, tenant, *args, config=None):
    """The events (or rows) of `koban search --tenant tenant --json ARGS` run in workdir with
    no daemon, ARGS "*" when none are given; config (-c) when given."""
    cmd = ["search"] + (["-c", config] if config else []) + ["--tenant", tenant, "--json"]
    _, out, _ = run(cmd + (list(args) or ["*"]), workdir)
    return [json.loads(line) for line in out.splitlines()]


def stored(k, tenant):
    """koban_events_stored_total of tenant in instance k: its events committed to the store."""
    return value(k.metrics(), "koban_events_stored_total", tenant=tenant)


def fw_ecs_lines(n, marker):
    """n firewall events of 2026-12-01 as ECS JSON lines, one a minute: 5 source IPs,
    port 22 every third event, action deny every tenth, marker in event.original."""
    out = []
    for i in range(n):
        out.append(json.dumps({
            "@timestamp": "2026-12-01T%02d:%02d:00Z" % (i // 60 % 24, i % 60),
            "source": {"ip": "10.0.%d.1" % (i % 5)},
            "destination": {"port": 443 if i % 3 else 22},
            "event": {"action": "deny" if i % 10 == 0 else "allow",
                      "original": "fw1 seq=%d %s" % (i, marker)},
        }))
    return "\n".join(out) + "\n"


def ingest_fw(workdir, tenant, n, marker):
    """Stores fw_ecs_lines(n, marker) for tenant with `koban ingest` (no daemon)."""
    path = os.path.join(workdir, tenant + ".json")
    with open(path, "w") as f:
        f.write(fw_ecs_lines(n, marker))
    run(["ingest", "--tenant", tenant, "--format", "ecs", path], workdir)


def spool_lines(workdir, tenant):
    path = os.path.join(workdir, "var", "spool", tenant + ".ndjson")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


# the clock of `koban parse` in the golden files (KOBAN_PARSE_NOW)
PARSE_NOW = "2026-03-15T03:00:00Z"


def parse(args, cwd, input=None, now=PARSE_NOW, tz=None):
    """Runs `koban parse ARGS` in cwd with its clock at now (KOBAN_PARSE_NOW, RFC 3339 or
    seconds) and $TZ set to tz, or unset (UTC) without one; returns the CompletedProcess,
    whatever the exit status (the caller checks it)."""
    env = dict(os.environ, KOBAN_PARSE_NOW=now)
    if tz:
        env["TZ"] = tz
    else:
        env.pop("TZ", None)
    return subprocess.run([KOBAN, "parse"] + args, cwd=cwd, capture_output=True, text=True,
                          env=env, input=input, timeout=60)


def read_or_empty(path):
    """The text of path, "" when there is no such file."""
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def write_or_remove(path, text):
    """Writes text to path; no text removes the file instead."""
    if text:
        with open(path, "w") as f:
            f.write(text)
    elif os.path.exists(path):
        os.unlink(path)


def check_golden(p, directory, name, update=False, out_ext=".json", label=None):
    """Checks a `koban parse` result p against the golden files of directory: NAME+out_ext
    holds the expected stdout, NAME.err the expected stderr (no file: none), and the exit
    status is 1 exactly when messages are expected. update first rewrites both files from p
    (an empty output removes its file). label names the case in failures (NAME by default).
    Returns the events of stdout, decoded."""
    label = label or name
    out_path = os.path.join(directory, name + out_ext)
    err_path = os.path.join(directory, name + ".err")
    if update:
        write_or_remove(out_path, p.stdout)
        write_or_remove(err_path, p.stderr)
    want_err = read_or_empty(err_path)
    assert p.stdout == read_or_empty(out_path), "%s%s differs:\n%s" % (label, out_ext, p.stdout)
    assert p.stderr == want_err, "%s.err differs:\n%s" % (label, p.stderr)
    assert p.returncode == (1 if want_err else 0), (label, p.returncode)
    return [json.loads(line) for line in p.stdout.splitlines()]


def serve_source(workdir, source, cidr_ip, fmt=None, source_args=(), tenant="alpha",
                 config=""):
    """Adds tenant and its source (cidr_ip/32, format fmt when given, then source_args) in
    workdir and starts `koban serve` with the file output on (file_output_config, config
    appended); returns the Instance (the caller stops it)."""
    run(["tenant", "add", tenant], workdir)
    args = ["source", "add", source, "--tenant", tenant, "--cidr", cidr_ip + "/32"]
    if fmt:
        args += ["--format", fmt]
    run(args + list(source_args), workdir)
    return Instance(workdir, file_output_config(workdir, config))


def send_tcp(k, source_ip, data):
    """Sends the bytes data to instance k's syslog TCP listener from source_ip, on one
    connection that is then closed."""
    host, port = k.listeners["tcp"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), source_address=(source_ip, 0))
    try:
        s.sendall(data)
    finally:
        s.close()


def send_lines(k, source_ip, lines):
    """send_tcp of the text lines, each ended by LF."""
    send_tcp(k, source_ip, "".join(line + "\n" for line in lines).encode())


def make_tls(workdir):
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    d = os.path.join(workdir, "tls")
    os.makedirs(d, exist_ok=True)

    def ossl(*a):
        subprocess.run(["openssl"] + list(a), cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=koban test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


def https_serve(handler, certfile, keyfile):
    """Serves handler (a BaseHTTPRequestHandler class) over TLS on a loopback port from a
    daemon thread: the server (shutdown() and server_close() stop it) and its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, "https://127.0.0.1:%d" % httpd.server_address[1]


def rule_command_missing():
    """Why `koban rule` cannot be run (no binary, or a koban without the command), or None."""
    if not os.path.exists(KOBAN):
        return "%s does not exist (build it, or set KOBAN_BIN)" % KOBAN
    p = subprocess.run([KOBAN, "help", "rule"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return "this koban has no `rule` command yet (`koban help rule`: %s)" % \
            (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[0]
    return None


def rule_files(roots, exts=(".yml", ".yaml")):
    """The paths of the files under the folders roots whose names end in one of exts (Sigma
    rule files by default), folder by folder as os.walk finds them."""
    for root in roots:
        for base, _, files in os.walk(root):
            for name in files:
                if name.endswith(exts):
                    yield os.path.join(base, name)


def named(name, fn, *args):
    """fn(*args) as a test function called name, for Suite (which prints a test's function
    name): one PASS/FAIL/SKIP line per case of a table."""
    def test():
        return fn(*args)
    test.__name__ = name
    return test


class Suite:
    """Runs test functions, printing PASS/FAIL/SKIP lines; exit status 1 on any failure.
    A test that returns False has printed its own SKIP line."""

    def __init__(self):
        self.failed = 0

    def run(self, fn, *args):
        try:
            if fn(*args) is False:
                return
            print("PASS %s" % fn.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            print("FAIL %s: %s" % (fn.__name__, e), flush=True)
            traceback.print_exc(file=sys.stdout)

    def run_unless(self, why, fn, *args):
        """Runs fn, or prints `SKIP fn: why` when there is a reason (why) not to."""
        if why:
            print("SKIP %s: %s" % (fn.__name__, why), flush=True)
        else:
            self.run(fn, *args)

    def run_with_path(self, path, fn, *args):
        """Runs fn when path (say samples(kind)) exists, else skips it."""
        self.run_unless(None if os.path.exists(path) else "%s is absent" % path, fn, *args)

    def run_with_tmpfs(self, fn, *args):
        """Runs fn where a tmpfs can be mounted (tmpfs_refused), else skips it."""
        refused = tmpfs_refused()
        self.run_unless(refused and "cannot mount a tmpfs: " + refused, fn, *args)

    def done(self):
        sys.exit(1 if self.failed else 0)


def tempdir():
    return tempfile.mkdtemp(prefix="koban-test-")
