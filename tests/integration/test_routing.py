"""Routing you can see: `koban source test` answers what `serve` does with the same traffic
(CIDR, longer prefix, host name, a dedicated listener against another tenant's CIDR,
unassigned); `tenant list` shows what serve received; `source unassigned` and /metrics name the
unassigned senders; a removed tenant leaves /metrics after a reload."""
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Instance, Suite, loadgen, run, tempdir, value  # noqa: E402

# (tag, sender, host name, listener, count, the tenant it must reach)
CASES = [
    ("longer-prefix", "127.0.0.2", "h1", "udp", 11, "beta"),
    ("cidr", "127.0.0.4", "h1", "udp", 13, "alpha"),
    ("host", "127.0.0.9", "gw.example", "udp", 17, "gamma"),
    ("nobody", "127.0.0.9", "h1", "udp", 19, "_unassigned"),
    ("listener-over-cidr", "127.0.0.4", "h1", "tcp", 23, "delta"),
    ("two-criteria", "127.0.0.3", "h1", "tcp", 29, "epsilon"),
    ("cidr-over-host", "127.0.0.4", "gw.example", "udp", 31, "alpha"),
]


def setup(d):
    for t in ("alpha", "beta", "gamma", "delta", "epsilon"):
        run(["tenant", "add", t], d)
    run(["source", "add", "a-net", "--tenant", "alpha", "--cidr", "127.0.0.0/29"], d)
    _, _, err = run(["source", "add", "b-one", "--tenant", "beta", "--cidr", "127.0.0.2"], d)
    assert "overlaps 127.0.0.0/29 of source 'a-net' of tenant 'alpha'" in err, err
    run(["source", "add", "g-host", "--tenant", "gamma", "--host", "GW.example"], d)
    run(["source", "add", "d-port", "--tenant", "delta", "--listener", "tcp"], d)
    run(["source", "add", "e-both", "--tenant", "epsilon", "--listener", "tcp",
         "--cidr", "127.0.0.3/32"], d)


def answer(d, sender, host, listener):
    """The tenant `koban source test` names for a message."""
    _, out, _ = run(["source", "test", "--ip", sender, "--host", host, "--listener", listener], d)
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    return lines["tenant"].strip(), out


def send(k, tag, sender, host, listener, count):
    args = ["--proto", listener, "--target", k.listeners[listener], "--bind", sender,
            "--host", host, "--count", count, "--size", 120, "--tag", tag]
    if listener == "udp":
        args += ["--rate", 2000]
    loadgen(*args)


def test_source_test_matches_serve():
    d = tempdir()
    try:
        setup(d)
        expect = {}
        for tag, sender, host, listener, n, tenant in CASES:
            got, out = answer(d, sender, host, listener)
            assert got == tenant, "%s: source test says %s, want %s\n%s" % (tag, got, tenant, out)
            expect[tenant] = expect.get(tenant, 0) + n
        _, out = answer(d, "127.0.0.4", "h1", "tcp")
        assert "source    d-port" in out and "a-net (tenant alpha" in out, out

        k = Instance(d)
        total = 0
        so_far = {}
        for tag, sender, host, listener, n, tenant in CASES:
            send(k, tag, sender, host, listener, n)
            total += n
            so_far[tenant] = so_far.get(tenant, 0) + n
            # one case at a time, so a difference names the case
            m = k.wait_settled(expect_total=total)
            got = value(m, "koban_events_received_total", tenant=tenant, listener=listener)
            assert got == so_far[tenant], \
                "%s: serve routed %d to %s" % (tag, got, tenant)
        m = k.wait_settled(expect_total=total)
        for tenant, want in expect.items():
            got = value(m, "koban_events_received_total", tenant=tenant)
            assert got == want, "serve routed %d to %s, source test said %d" % (got, tenant, want)
        assert value(m, "koban_unassigned_sender_messages", address="127.0.0.9") == 19, \
            [kv for kv in m.items() if kv[0][0] == "koban_unassigned_sender_messages"]
        assert k.stop() == 0

        _, out, _ = run(["tenant", "list"], d)
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
        for tenant, want in expect.items():
            assert rows[tenant][2] == str(want), (tenant, out)
            assert rows[tenant][3] != "-", out
        _, out, _ = run(["source", "unassigned"], d)
        lines = out.splitlines()
        assert lines[0].split() == ["ADDRESS", "MESSAGES", "LAST"], out
        assert lines[1].split()[:2] == ["127.0.0.9", "19"], out
        # counts add up over runs
        k = Instance(d)
        send(k, "again", "127.0.0.9", "h1", "udp", 5)
        k.wait_settled(expect_total=5)
        assert k.stop() == 0
        _, out, _ = run(["source", "unassigned", "--top", "1"], d)
        assert out.splitlines()[1].split()[:2] == ["127.0.0.9", "24"], out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def wait_for(cond, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_removed_tenant_leaves_metrics():
    d = tempdir()
    try:
        setup(d)
        k = Instance(d)
        send(k, "d1", "127.0.0.4", "h1", "tcp", 7)
        m = k.wait_settled(expect_total=7)
        assert value(m, "koban_events_received_total", tenant="delta") == 7
        run(["tenant", "remove", "delta"], d)
        k.signal(signal.SIGHUP)

        def delta_gone():
            return not any(("tenant", "delta") in labels for (_, labels) in k.metrics())
        wait_for(delta_gone, "tenant delta to leave /metrics")
        # what went to delta now goes to alpha, as source test says
        assert answer(d, "127.0.0.4", "h1", "tcp")[0] == "alpha"
        send(k, "d2", "127.0.0.4", "h1", "tcp", 9)
        m = k.wait_settled(expect_total=9)
        assert value(m, "koban_events_received_total", tenant="alpha") == 9
        # tenants come and go through reloads; their slots are reused
        for i in range(30):
            run(["tenant", "add", "churn-%d" % i], d)
            if i:
                run(["tenant", "remove", "churn-%d" % (i - 1)], d)
            k.signal(signal.SIGHUP)
            wait_for(lambda: ("tenant", "churn-%d" % i) in
                     {kv for (_, labels) in k.metrics() for kv in labels},
                     "churn-%d in /metrics" % i)
        assert "freed the fair-queue slots" in k.log(), k.log()
        assert k.stop() == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_source_test_matches_serve)
    s.run(test_removed_tenant_leaves_metrics)
    s.done()
