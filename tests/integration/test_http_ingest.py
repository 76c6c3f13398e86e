"""HTTP ingest: POST /api/v1/ingest/{source} with a source's ingest token, against a real
`koban serve` (HTTP on loopback, and HTTPS): NDJSON, a JSON array, the Azure records
envelope, one object, gzip; the source's tenant, format and zone; tokens (missing, unknown,
replaced, another source's, an API token) refused; 413 by Content-Length, while reading a
chunked body and after inflating; a broken JSON body refused whole; 429 with Retry-After
over the store quota, with too many bodies in flight and on a full disk (nothing
acknowledged lost); and every event answered with 200 found again after a kill -9 (the
answer comes after the WAL commit)."""
import contextlib
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (Instance, Suite, fill_leaving, make_tls, poll,  # noqa: E402
                      recv_to_eof, run, search_events, tempdir, tmpfs_under, umount, value,
                      write_config)


def setup(d, config=""):
    path = write_config(d, config)
    tokens = {}
    for t in ("city-a", "city-b"):
        run(["-c", path, "tenant", "add", t], d)
    for t, name, fmt, tz in (("city-a", "fw", "rfc3164", "Asia/Tokyo"),
                             ("city-a", "azure", "auto", None),
                             ("city-b", "fw", "rfc5424", None)):
        args = ["-c", path, "source", "add", name, "--tenant", t, "--listener", "api",
                "--format", fmt] + (["--tz", tz] if tz else [])
        run(args, d)
        _, out, _ = run(["-c", path, "source", "token", name, "--tenant", t], d)
        tokens[t + "/" + name] = out.strip()
    return path, tokens


@contextlib.contextmanager
def api_instance(config=""):
    """A temporary folder d with setup(d, config) done and `koban serve` running there with
    its HTTP API on a free loopback port: yields (d, cfg, tokens, instance); stops the
    instance and removes d afterwards."""
    d = tempdir()
    try:
        cfg, tok = setup(d, config)
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        try:
            yield d, cfg, tok, k
        finally:
            k.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def post(api, path, token=None, body=b"", headers=None, chunked=False, ctx=None):
    """POST body (over HTTPS with ctx); returns (status, headers dict, JSON or text)."""
    host, port = api.rsplit(":", 1)
    c = http.client.HTTPSConnection(host, int(port), timeout=60, context=ctx) if ctx else \
        http.client.HTTPConnection(host, int(port), timeout=60)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    try:
        if chunked:
            c.request("POST", path, body=iter([body[i:i + 1000]
                                               for i in range(0, len(body), 1000)]),
                      headers=h, encode_chunked=True)
        else:
            c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        text = r.read().decode()
    except (ConnectionError, http.client.HTTPException) as e:
        return None, {}, str(e)
    finally:
        c.close()
    try:
        return r.status, dict(r.getheaders()), json.loads(text)
    except ValueError:
        return r.status, dict(r.getheaders()), text


def count(d, cfg, tenant, query="*"):
    return search_events(d, tenant, query, config=cfg)


def syslog_lines(n, tag):
    return "".join("<13>May  1 10:00:%02d host1 app: %s %d\n" % (i % 60, tag, i)
                   for i in range(n)).encode()


def test_shapes_and_attribution():
    with api_instance() as (d, cfg, tok, k):
        fw = tok["city-a/fw"]
        # NDJSON of syslog lines: the source's format and zone (10:00 Tokyo = 01:00 UTC)
        status, hdr, body = post(k.api, "/api/v1/ingest/fw", fw, syslog_lines(250, "nd"))
        assert (status, body) == (200, {"events": 250, "decode_errors": 0}), (status, body)
        ev = count(d, cfg, "city-a", "nd")
        assert len(ev) == 250, len(ev)
        assert all(e["@timestamp"][10:16] == "T01:00" for e in ev), ev[0]["@timestamp"]
        assert {e["organization"]["id"] for e in ev} == {"city-a"}
        assert ev[0]["log"]["source"]["address"].startswith("127.0.0.1:")
        # CR LF, blank lines, gzip (RFC 3164 takes any line; decoding errors: below)
        raw = b"\r\n" + syslog_lines(3, "crlf").replace(b"\n", b"\r\n") + b"\n  \nnot syslog\n"
        status, _, body = post(k.api, "/api/v1/ingest/fw", fw, gzip.compress(raw),
                               {"Content-Encoding": "gzip"})
        assert (status, body) == (200, {"events": 4, "decode_errors": 0}), (status, body)
        assert len(count(d, cfg, "city-a", "crlf")) == 3
        # gzip members one after the other (cat a.gz b.gz) are one body
        two = gzip.compress(syslog_lines(2, "memb")) + gzip.compress(syslog_lines(3, "memb"))
        status, _, body = post(k.api, "/api/v1/ingest/fw", fw, two,
                               {"Content-Encoding": "gzip"})
        assert (status, body["events"]) == (200, 5), (status, body)
        status, _, body = post(k.api, "/api/v1/ingest/fw", fw, gzip.compress(b"x\n")[:-3],
                               {"Content-Encoding": "gzip"})
        assert status == 400 and "cut short" in body["error"], (status, body)
        assert len(count(d, cfg, "city-a", "syslog")) == 1
        # JSON: an array, the records envelope, one object (format auto)
        az = tok["city-a/azure"]
        recs = [{"time": "2026-11-01T00:00:0%dZ" % i, "category": "x", "n": "arr%d" % i}
                for i in range(3)]
        status, _, body = post(k.api, "/api/v1/ingest/azure", az, json.dumps(recs).encode(),
                               {"Content-Type": "application/json"})
        assert (status, body["events"]) == (200, 3), (status, body)
        env = {"records": [{"n": "env%d" % i, "s": "a\u00e9\\n"} for i in range(4)],
               "other": [1, 2]}
        status, _, body = post(k.api, "/api/v1/ingest/azure", az, json.dumps(env).encode())
        assert (status, body["events"]) == (200, 4), (status, body)
        status, _, body = post(k.api, "/api/v1/ingest/azure", az, b'{"n": "single"}')
        assert (status, body["events"]) == (200, 1), (status, body)
        originals = sorted(e["event"]["original"] for e in count(d, cfg, "city-a", "*")
                           if e["event"]["original"].startswith("{"))
        assert len(originals) == 3 + 4 + 1, originals
        assert '{"n": "env0", "s": "a\\u00e9\\\\n"}' in originals, originals
        # a broken JSON document is refused whole
        status, _, body = post(k.api, "/api/v1/ingest/azure", az, b'[{"n": "x1"}, {"n": ')
        assert status == 400 and "column 21" in body["error"], (status, body)
        status, _, body = post(k.api, "/api/v1/ingest/azure", az, b'{"n": "x2"}\n{"n": "x3"}',
                               {"Content-Type": "application/json"})
        assert status == 400, (status, body)
        # without a JSON type, objects line by line are NDJSON
        status, _, body = post(k.api, "/api/v1/ingest/azure", az, b'{"n": "x4"}\n{"n": "x5"}\n')
        assert (status, body["events"]) == (200, 2), (status, body)
        # a line longer than syslog.max_message_size (65536): kept cut, flagged, counted
        long = ("<13>May  1 10:00:00 host1 app: longline " + "L" * 70000 + "\n").encode()
        status, _, body = post(k.api, "/api/v1/ingest/fw", fw, long)
        assert (status, body["events"]) == (200, 1), (status, body)
        cut = count(d, cfg, "city-a", "longline")
        assert len(cut) == 1 and cut[0]["log"]["flags"] == ["truncated"], cut[0].get("log")
        assert len(cut[0]["event"]["original"]) == 65536, len(cut[0]["event"]["original"])
        assert len(count(d, cfg, "city-a", "*")) == 250 + 4 + 5 + 3 + 4 + 1 + 2 + 1
        # nothing reached the other tenant
        assert count(d, cfg, "city-b") == []
        m = k.metrics()
        assert value(m, "koban_ackin_events_total", result="written") == 270, m
        assert value(m, "koban_events_parsed_total", tenant="city-a") + \
            value(m, "koban_events_parse_failed_total", tenant="city-a") == 270
        assert value(m, "koban_events_truncated_total", tenant="city-a") == 1
        assert value(m, "koban_api_requests_total", result="ok") == 8
        assert value(m, "koban_api_requests_total", result="bad_request") == 3


def test_tokens_refused():
    d = tempdir()
    try:
        cfg, tok = setup(d)
        _, api_token, _ = run(["-c", cfg, "token", "add", "reader", "--tenant", "city-a"], d)
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        try:
            body = syslog_lines(2, "tok")
            status, hdr, _ = post(k.api, "/api/v1/ingest/fw", None, body)
            assert status == 401 and hdr.get("WWW-Authenticate") == "Bearer", (status, hdr)
            for bad in ("kbn_nope", api_token.strip(), tok["city-a/fw"] + "x"):
                assert post(k.api, "/api/v1/ingest/fw", bad, body)[0] == 401, bad
            # another source's token, even of the same name in another tenant
            status, _, b = post(k.api, "/api/v1/ingest/azure", tok["city-a/fw"], body)
            assert status == 403 and "source 'fw'" in b["error"], (status, b)
            status, _, _ = post(k.api, "/api/v1/ingest/fw", tok["city-a/azure"], body)
            assert status == 403
            # city-b's fw token stores into city-b, never city-a
            status, _, b = post(k.api, "/api/v1/ingest/fw", tok["city-b/fw"], body)
            assert status == 200 and b["decode_errors"] == 2, (status, b)  # rfc5424 source
            assert len(count(d, cfg, "city-b")) == 2 and count(d, cfg, "city-a") == []
            # a new token replaces the old one at once; --revoke removes it
            _, new, _ = run(["-c", cfg, "source", "token", "fw", "--tenant", "city-a"], d)
            assert post(k.api, "/api/v1/ingest/fw", tok["city-a/fw"], body)[0] == 401
            assert post(k.api, "/api/v1/ingest/fw", new.strip(), body)[0] == 200
            run(["-c", cfg, "source", "token", "fw", "--tenant", "city-a", "--revoke"], d)
            assert post(k.api, "/api/v1/ingest/fw", new.strip(), body)[0] == 401
            # an ingest token reads nothing
            host, port = k.api.rsplit(":", 1)
            c = http.client.HTTPConnection(host, int(port), timeout=30)
            c.request("GET", "/api/v1/search?q=*", headers={
                "Authorization": "Bearer " + tok["city-b/fw"]})
            assert c.getresponse().status == 401
            c.close()
            # GET on the ingest path
            c = http.client.HTTPConnection(host, int(port), timeout=30)
            c.request("GET", "/api/v1/ingest/fw")
            r = c.getresponse()
            assert r.status == 405 and r.getheader("Allow") == "POST", r.status
            c.close()
            assert len(count(d, cfg, "city-a")) == 2
            m = k.metrics()
            assert value(m, "koban_api_requests_total", result="unauthorized") == 7
            assert value(m, "koban_api_requests_total", result="forbidden") == 2
        finally:
            k.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_limits_and_back_pressure():
    with api_instance("api:\n  ingest_max_bytes: 4096\n"
                      "store:\n  tenants:\n    city-b: { quota: 1 }\n") as (d, cfg, tok, k):
        fw = tok["city-a/fw"]
        big = syslog_lines(200, "big")
        assert len(big) > 4096
        status, _, b = post(k.api, "/api/v1/ingest/fw", fw, big)
        assert status == 413 and "4096" in b["error"], (status, b)
        status, _, b = post(k.api, "/api/v1/ingest/fw", fw, big, chunked=True)
        assert status == 413, (status, b)
        bomb = gzip.compress(b"x" * 100000)
        status, _, b = post(k.api, "/api/v1/ingest/fw", fw, bomb, {"Content-Encoding": "gzip"})
        assert status == 413 and "inflated" in b["error"], (status, b)
        status, _, b = post(k.api, "/api/v1/ingest/fw", fw, b"x", {"Content-Encoding": "br"})
        assert status == 415, (status, b)
        status, _, b = post(k.api, "/api/v1/ingest/fw", fw, b"\x1f\x8bnot gzip",
                            {"Content-Encoding": "gzip"})
        assert status == 400, (status, b)
        assert count(d, cfg, "city-a") == []
        # over the quota: the first write fits (nothing stored yet), then 429
        fb = tok["city-b/fw"]
        line = b"<14>1 2026-11-01T00:00:00Z h a - - - quota\n"
        assert post(k.api, "/api/v1/ingest/fw", fb, line)[0] == 200
        status, hdr, b = post(k.api, "/api/v1/ingest/fw", fb, line * 3)
        assert status == 429 and hdr.get("Retry-After") == "5", (status, hdr, b)
        assert "quota" in b["error"] and "nothing was stored" in b["error"], b
        assert len(count(d, cfg, "city-b")) == 1
        m = k.metrics()
        assert value(m, "koban_api_requests_total", result="too_large") == 3
        assert value(m, "koban_api_requests_total", result="throttled") == 1
        assert value(m, "koban_ackin_events_total", result="failed") == 3


def open_partial(api, token, length, first):
    """A POST whose body has length bytes, of which only `first` are sent yet."""
    host, port = api.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=60)
    s.sendall(("POST /api/v1/ingest/fw HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n" % (token, length)).encode()
              + b"x" * first)
    return s


def finish(s, rest):
    s.sendall(b"x" * (rest - 1) + b"\n")
    data = recv_to_eof(s)
    return int(data.split(b" ", 2)[1]), data


def test_bodies_in_flight_bounded():
    with api_instance("api:\n  ingest_max_bytes: 4096\n") as (d, cfg, tok, k):
        fw = tok["city-a/fw"]
        # four bodies of 3,900 bytes being received hold 15,600 of the 16,384 bytes
        held = [open_partial(k.api, fw, 4000, 3900) for _ in range(4)]
        poll("the bodies held", lambda: value(
            k.metrics(), "koban_api_ingest_inflight_bytes") == 4 * 3900)
        status, hdr, b = post(k.api, "/api/v1/ingest/fw", fw, b"y" * 1000 + b"\n")
        assert status == 429 and hdr.get("Retry-After") == "5", (status, b)
        assert "too many bodies" in b["error"], b
        for s in held:
            status, data = finish(s, 100)
            assert status == 200 and b'"events":1' in data, data
        poll("the budget given back", lambda: value(
            k.metrics(), "koban_api_ingest_inflight_bytes") == 0)
        assert post(k.api, "/api/v1/ingest/fw", fw, b"y" * 1000 + b"\n")[0] == 200
        assert len(count(d, cfg, "city-a")) == 5


def test_full_disk_429_then_no_loss():
    d = tempdir()
    wal = tmpfs_under(d, "var", "wal")
    k = None
    try:
        cfg, tok = setup(d)
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        ballast = fill_leaving(wal, 300 * 1024)
        acked, refused = 0, None
        for i in range(100):  # 100 x 200 lines: far more than 300 KiB of records
            body = syslog_lines(200, "disk%d" % i)
            status, hdr, b = post(k.api, "/api/v1/ingest/fw", tok["city-a/fw"], body)
            if status != 200:
                refused = (status, hdr, b, body)
                break
            acked += b["events"]
        assert refused, "the disk never filled"
        status, hdr, b, body = refused
        assert status == 429 and hdr.get("Retry-After") == "5", (status, b)
        assert "nothing was stored" in b["error"], b
        m = k.metrics()
        assert value(m, "koban_store_write_errors_total", reason="no_space") > 0
        # space returns: the sender's retry is stored, and nothing acknowledged was lost
        os.remove(ballast)
        status, _, b = post(k.api, "/api/v1/ingest/fw", tok["city-a/fw"], body)
        assert status == 200, (status, b)
        acked += b["events"]
        assert k.stop() == 0, k.log()
        k = None
        assert len(count(d, cfg, "city-a")) == acked
    finally:
        if k:
            k.stop()
        umount(wal)
        shutil.rmtree(d, ignore_errors=True)


def test_https():
    d = tempdir()
    try:
        ca, cert, key = make_tls(d)
        cfg, tok = setup(d, "api:\n  tls:\n    cert: %s\n    key: %s\n" % (cert, key))
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        try:
            assert k.api_scheme == "https", k.api_scheme
            ctx = ssl.create_default_context(cafile=ca)
            body = gzip.compress(syslog_lines(30, "tls"))
            status, _, b = post(k.api, "/api/v1/ingest/fw", tok["city-a/fw"], body,
                                {"Content-Encoding": "gzip"}, ctx=ctx)
            assert (status, b) == (200, {"events": 30, "decode_errors": 0}), (status, b)
            status, _, b = post(k.api, "/api/v1/ingest/fw", None, body, ctx=ctx)
            assert status == 401, (status, b)
            assert len(count(d, cfg, "city-a", "tls")) == 30
        finally:
            k.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_acknowledged_survives_kill():
    d = tempdir()
    try:
        cfg, tok = setup(d, "store:\n  commit_interval_ms: 200\n")
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        acked = 0
        try:
            for i in range(20):
                status, _, b = post(k.api, "/api/v1/ingest/fw", tok["city-a/fw"],
                                    syslog_lines(50, "kill%d" % i))
                assert status == 200, (status, b)
                acked += b["events"]
        finally:
            k.signal(signal.SIGKILL)
            k.proc.wait(timeout=30)
            k.err.close()
        assert acked == 1000
        k = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        try:
            assert len(count(d, cfg, "city-a")) == acked
        finally:
            k.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_shapes_and_attribution)
    s.run(test_tokens_refused)
    s.run(test_limits_and_back_pressure)
    s.run(test_bodies_in_flight_bounded)
    s.run(test_https)
    s.run_with_tmpfs(test_full_disk_429_then_no_loss)
    s.run(test_acknowledged_survives_kill)
    s.done()
