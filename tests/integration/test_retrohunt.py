"""Retro-hunting: events stored first, indicators imported afterwards, then `koban ti hunt`
(and serve's koban-retrohunt thread) raise retro-hunt alerts for the old sightings, with exact
counts: only within the look-back days, only in the tenants the indicator applies to, each
indicator hunted once (a second pass finds nothing new)."""
import datetime
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Instance, Suite, alert_list, poll, run, tempdir, total  # noqa: E402

BAD_IP = "203.0.113.9"
OTHER_IP = "198.51.100.20"
BAD_DOMAIN = "c2.evil.example"


def days_ago(n, hour=12):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=n)
    return t.replace(hour=hour, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(ago, host, ip, domain=None):
    """An event of host (its address 10.1.1.N for host nameN) to ip."""
    ev = {"@timestamp": days_ago(ago), "host": {"name": host},
          "source": {"ip": "10.1.1." + host[-1]}, "destination": {"ip": ip},
          "event": {"original": "fw %s -> %s" % (host, ip)}}
    if domain:
        ev["dns"] = {"question": {"name": domain}}
    return json.dumps(ev)


def ingest(d, tenant, lines):
    path = os.path.join(d, tenant + ".json")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    run(["ingest", "--tenant", tenant, "--format", "ecs", path], d)


def indicators(d, source, text, tenant=None):
    path = os.path.join(d, source + ".txt")
    with open(path, "w") as f:
        f.write(text)
    run(["ti", "import", "--source", source, path] + (["--tenant", tenant] if tenant else []), d)


def retro_alerts(d, tenant):
    return [a for a in alert_list(d, tenant) if a["rule"]["id"] == "koban-ti-retrohunt"]


def hunt(d, *args):
    _, out, err = run(["ti", "hunt"] + list(args), d)
    return out


def setup(d):
    for t in ("alpha", "beta"):
        run(["tenant", "add", t], d)
    ingest(d, "alpha", [
        event(2, "web1", BAD_IP),
        event(3, "web2", BAD_IP),
        event(40, "web3", BAD_IP),        # older than the 30 days looked back
        event(1, "web4", OTHER_IP),
    ])
    ingest(d, "beta", [
        event(1, "pc1", BAD_IP),          # alpha's own indicator: never beta's alert
        event(5, "pc2", OTHER_IP, BAD_DOMAIN + "."),
    ])


def test_cli_hunt():
    d = tempdir()
    try:
        setup(d)
        # nothing imported yet: a pass finds nothing
        out = hunt(d)
        assert "0 new indicators" in out and "0 alerts stored; caught up" in out, out
        indicators(d, "own", BAD_IP + "\n", tenant="alpha")
        out = hunt(d)
        assert "3 tenants, 1 new indicator, 3 events read, 2 with a sighting, 2 alerts " \
            "stored; caught up" in out, out  # alpha's 3 events of 30 days (and _unassigned)
        got = retro_alerts(d, "alpha")
        assert len(got) == 2, got
        # de-duplicated per indicator and host: the host that talked to it, two of them
        assert sorted(a["keys"]["host"] for a in got) == ["10.1.1.1", "10.1.1.2"], got
        for a in got:
            assert a["rule"]["tags"] == ["threat-intel", "ti.source.own", "retro-hunt"], a
            assert a["kind"] == "indicator" and a["n_events"] == 1, a
            assert a["keys"]["matched.field"] == "destination.ip", a
        assert retro_alerts(d, "beta") == []
        # hunted once: the next pass has nothing new
        out = hunt(d)
        assert "0 new indicators" in out and "0 alerts stored" in out, out
        assert len(retro_alerts(d, "alpha")) == 2
        # a global domain: beta's sub-domain sighting, only beta hunted with --tenant
        indicators(d, "feed", "evil.example\n")
        out = hunt(d, "--tenant", "beta")
        assert "1 tenant," in out and "1 alert stored" in out, out
        assert len(retro_alerts(d, "beta")) == 1
        # --days 2 for alpha's pass: its events are 1 to 40 days old, none has the domain
        out = hunt(d, "--tenant", "alpha", "--days", "2")
        assert "1 new indicator," in out and "0 alerts stored" in out, out
        rc, _, err = run(["ti", "hunt", "--days", "0"], d, check=False)
        assert rc == 2 and "--days '0': expected 1 to" in err, err
        rc, _, err = run(["ti", "hunt", "--tenant", "nosuch"], d, check=False)
        assert rc == 1 and "no tenant 'nosuch'" in err, err
    finally:
        shutil.rmtree(d)


def test_serve_thread():
    d = tempdir()
    inst = None
    try:
        setup(d)
        inst = Instance(d)
        indicators(d, "feed", OTHER_IP + "\n")
        got = poll("two retro-hunt alerts", lambda: len(retro_alerts(d, "alpha")) +
                   len(retro_alerts(d, "beta")) >= 2 or None, interval=0.5)
        assert got
        assert len(retro_alerts(d, "alpha")) == 1 and len(retro_alerts(d, "beta")) == 1
        m = inst.metrics()
        assert total(m, "koban_ti_retrohunt_alerts_total") == 2, m
        assert total(m, "koban_ti_retrohunt_events_total") == 5, m
        assert total(m, "koban_ti_retrohunt_suppressed_total") == 0, m
        assert total(m, "koban_ti_retrohunt_lost_total") == 0, m
    finally:
        if inst:
            inst.stop()
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_cli_hunt)
    s.run(test_serve_thread)
    s.done()
