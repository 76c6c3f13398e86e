"""Threat-intelligence feeds over HTTPS (a local server with a throwaway CA): `koban ti fetch`
and `koban ti feeds` with exact counts: a list's first fetch, 304 on the second (the
If-None-Match sent), a changed list removing the vanished indicators, a 500 keeping the last
set and reported, HTTP Basic auth from a 0600 file, a TAXII collection over two pages, a MISP
feed with a withdrawn event, and the koban-feeds thread of serve with its metrics."""
import base64
import http.server
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Instance, Suite, https_serve, make_tls, poll, run, tempdir, value, write_config  # noqa: E402


class FeedServer:
    """An HTTPS server answering from self.routes: path (query included) -> (status,
    headers dict, body bytes), or a function of the request's headers giving that.
    self.requests records (path, headers) of every request."""

    def __init__(self, workdir):
        self.ca, cert, key = make_tls(workdir)
        self.routes = {}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                route = outer.routes.get(self.path)
                if route is None:
                    status, headers, body = 404, {}, b"not found"
                elif callable(route):
                    status, headers, body = route(self.headers)
                else:
                    status, headers, body = route
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd, self.base = https_serve(Handler, cert, key)

    def paths(self):
        return [p for p, _ in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def conditional(etag, body, content_type="text/plain"):
    """A route answering 304 when the request's If-None-Match is etag, else 200 with body."""
    def route(headers):
        if headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"ETag": etag, "Content-Type": content_type}, body
    return route


def feed_config(d, srv, feeds):
    """koban.yaml with ti.feeds: feeds is {name: {key: value}}; ca_file added to each."""
    text = "ti:\n  feeds:\n"
    for name, keys in feeds.items():
        text += "    %s:\n" % name
        for k, v in dict(keys, ca_file=srv.ca).items():
            text += "      %s: %s\n" % (k, json.dumps(v))
    return write_config(d, text)


def fetch(d, *names):
    return run(["ti", "fetch", "-c", "koban.yaml"] + list(names), d, check=False)


def values(d, source):
    rc, out, err = run(["ti", "list", "--json", "-c", "koban.yaml", "--source", source], d)
    return sorted(x["value"] for x in map(json.loads, out.splitlines()))


def feeds_json(d):
    rc, out, err = run(["ti", "feeds", "--json", "-c", "koban.yaml"], d)
    return {x["name"]: x for x in map(json.loads, out.splitlines())}


def test_list_feed():
    d = tempdir()
    srv = FeedServer(d)
    try:
        srv.routes["/ips.txt"] = conditional('"v1"', b"# bad addresses\n192.0.2.1\n192.0.2.2\n"
                                             b"evil.example\nnot a value\n")
        feed_config(d, srv, {"ips": {"url": srv.base + "/ips.txt", "format": "list"}})
        rc, out, err = fetch(d)
        assert rc == 0, (rc, out, err)
        assert out == "ips: 3 read, 3 new, 0 updated, 0 removed, 1 rejected; 3 indicators\n", out
        assert values(d, "ips") == ["192.0.2.1", "192.0.2.2", "evil.example"]
        rc, out, err = fetch(d, "ips")
        assert rc == 0 and out == "ips: unchanged, 3 indicators\n", (rc, out, err)
        assert srv.requests[-1][1].get("If-None-Match") == '"v1"', srv.requests[-1]
        assert "If-None-Match" not in srv.requests[0][1], srv.requests[0]
        # a changed list: 192.0.2.2 and evil.example vanish, 192.0.2.3 comes
        srv.routes["/ips.txt"] = conditional('"v2"', b"192.0.2.1\n192.0.2.3\n")
        rc, out, err = fetch(d)
        assert rc == 0, (rc, out, err)
        assert out == "ips: 2 read, 1 new, 1 updated, 2 removed, 0 rejected; 2 indicators\n", out
        assert values(d, "ips") == ["192.0.2.1", "192.0.2.3"]
        # a failing server keeps the last set and is reported
        srv.routes["/ips.txt"] = (500, {}, b"oops")
        rc, out, err = fetch(d)
        assert rc == 1 and out.startswith("ips: failed: ") and "HTTP status 500" in out, (rc, out)
        assert values(d, "ips") == ["192.0.2.1", "192.0.2.3"]
        f = feeds_json(d)["ips"]
        assert f["indicators"] == 2 and f["failures"] == 1, f
        assert "HTTP status 500" in f["last_error"] and f["last_success"], f
        # a 200 that yields no indicator (an error page) is refused too
        srv.routes["/ips.txt"] = (200, {}, b"<html>maintenance</html>\n")
        rc, out, err = fetch(d)
        assert rc == 1 and "no indicator in the document" in out, (rc, out)
        assert values(d, "ips") == ["192.0.2.1", "192.0.2.3"]
        assert feeds_json(d)["ips"]["failures"] == 2
        srv.routes["/ips.txt"] = conditional('"v3"', b"192.0.2.1\n")
        rc, out, err = fetch(d)
        assert rc == 0 and "1 removed" in out, (rc, out)
        f = feeds_json(d)["ips"]
        assert f["failures"] == 0 and f["last_error"] is None and f["indicators"] == 1, f
        rc, out, err = run(["ti", "feeds", "-c", "koban.yaml"], d)
        assert out.splitlines()[0].split()[:2] == ["NAME", "URL"], out
        assert out.splitlines()[1].split()[:2] == ["ips", srv.base + "/ips.txt"], out
        rc, out, err = fetch(d, "nosuch")
        assert rc == 2 and "no feed 'nosuch'" in err, (rc, err)
        # the feed moved: the old URL's validators are not sent to the new one
        srv.routes["/v2/ips.txt"] = conditional('"v3"', b"192.0.2.1\n192.0.2.4\n")
        feed_config(d, srv, {"ips": {"url": srv.base + "/v2/ips.txt", "format": "list"}})
        rc, out, err = fetch(d)
        assert rc == 0 and out.startswith("ips: 2 read, 1 new"), (rc, out, err)
        assert "If-None-Match" not in srv.requests[-1][1], srv.requests[-1]
        assert feeds_json(d)["ips"]["url"] == srv.base + "/v2/ips.txt"
    finally:
        srv.close()
        shutil.rmtree(d)


def test_redirect():
    d = tempdir()
    srv = FeedServer(d)
    try:
        srv.routes["/old.txt"] = (301, {"Location": srv.base + "/new.txt", "ETag": '"redirect"'}, b"")
        srv.routes["/new.txt"] = (200, {}, b"192.0.2.77\n")
        srv.routes["/plain.txt"] = (302, {"Location": "http://127.0.0.1:1/x"}, b"")
        feed_config(d, srv, {"moved": {"url": srv.base + "/old.txt", "format": "list"},
                             "downgrade": {"url": srv.base + "/plain.txt", "format": "list"}})
        rc, out, err = fetch(d, "moved")
        assert rc == 0 and out.startswith("moved: 1 read, 1 new"), (rc, out, err)
        rc, out, err = fetch(d, "moved")  # the 301's ETag was not kept as the document's
        assert "If-None-Match" not in srv.requests[-2][1], srv.requests[-2]
        rc, out, err = fetch(d, "downgrade")
        assert rc == 1 and "downgrade: failed: " in out, (rc, out)
        assert values(d, "downgrade") == []
    finally:
        srv.close()
        shutil.rmtree(d)


def test_csv_feed_tenant_and_auth():
    d = tempdir()
    srv = FeedServer(d)
    try:
        run(["tenant", "add", "city-a"], d)
        run(["tenant", "add", "city-b"], d)
        expected = "Basic " + base64.b64encode(b"koban:s3cret").decode()

        def route(headers):
            if headers.get("Authorization") != expected:
                return 401, {}, b"who are you"
            return 200, {}, b"ioc,kind,score\nc2.example,domain,90\n203.0.113.9,ip,\n"
        srv.routes["/iocs.csv"] = route
        secret = os.path.join(d, "feed.secret")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        os.chmod(secret, 0o644)
        feed_config(d, srv, {"iocs": {"url": srv.base + "/iocs.csv", "format": "csv",
                                      "tenant": "city-a", "columns": "value=1,type=2,confidence=3",
                                      "confidence": 40, "username": "koban",
                                      "password_file": secret}})
        rc, out, err = fetch(d)
        assert rc == 1 and "has mode 0644" in out and "s3cret" not in out + err, (rc, out)
        rc, out, err = run(["config", "check", "koban.yaml"], d, check=False)
        assert rc == 1 and "ti.feeds.iocs.password_file: %s has mode 0644" % secret in err, err
        assert srv.requests == []
        os.chmod(secret, 0o600)
        rc, out, err = fetch(d)
        assert rc == 0 and out.startswith("iocs: 2 read, 2 new"), (rc, out, err)
        rc, out, _ = run(["ti", "list", "--json", "--tenant", "city-a"], d)
        got = sorted((x["value"], x["tenant"], x["confidence"]) for x in map(json.loads, out.splitlines()))
        assert got == [("203.0.113.9", "city-a", 40), ("c2.example", "city-a", 90)], got
        rc, out, _ = run(["ti", "list", "--json", "--tenant", "city-b"], d)
        assert out == "", out
        # the same source name in another tenant is untouched by the feed's prune
        src = os.path.join(d, "b.txt")
        with open(src, "w") as f:
            f.write("198.51.100.1\n")
        run(["ti", "import", "--source", "iocs", "--tenant", "city-b", src], d)
        srv.routes["/iocs.csv"] = lambda h: (200, {}, b"c2.example,domain,90\n") \
            if h.get("Authorization") == expected else (401, {}, b"")
        rc, out, err = fetch(d)
        assert rc == 0 and "1 removed" in out, (rc, out, err)
        rc, out, _ = run(["ti", "list", "--json", "--tenant", "city-b", "--source", "iocs"], d)
        got = sorted((x["value"], x["tenant"]) for x in map(json.loads, out.splitlines()))
        assert got == [("198.51.100.1", "city-b")], got
    finally:
        srv.close()
        shutil.rmtree(d)


def stix_indicator(n, value):
    return {"type": "indicator", "spec_version": "2.1", "id": "indicator--%08d-0000-4000-8000-000000000000" % n,
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[ipv4-addr:value = '%s']" % value, "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z"}


def envelope(more, objects, nxt=None):
    e = {"more": more, "objects": objects}
    if nxt:
        e["next"] = nxt
    return json.dumps(e).encode()


def test_taxii_two_pages():
    d = tempdir()
    srv = FeedServer(d)
    try:
        coll = "/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"
        q = coll + "objects/?match[type]=indicator&limit=1000"
        taxii = {"Content-Type": "application/taxii+json;version=2.1"}
        srv.routes[q] = (200, dict(taxii, **{"X-TAXII-Date-Added-Last": "2026-01-01T00:00:01.000Z"}),
                         envelope(True, [stix_indicator(1, "192.0.2.10"), stix_indicator(2, "192.0.2.11")], "p2"))
        srv.routes[q + "&next=p2"] = (200, dict(taxii, **{"X-TAXII-Date-Added-Last": "2026-01-01T00:00:02.000Z"}),
                                      envelope(False, [stix_indicator(3, "192.0.2.12")]))
        feed_config(d, srv, {"isac": {"url": srv.base + coll, "format": "taxii"}})
        rc, out, err = fetch(d)
        assert rc == 0, (rc, out, err)
        assert out == "isac: 3 read, 3 new, 0 updated, 0 removed, 0 rejected; 3 indicators\n", out
        assert srv.paths() == [q, q + "&next=p2"], srv.paths()
        assert all(h.get("Accept") == "application/taxii+json;version=2.1" for _, h in srv.requests)
        assert values(d, "isac") == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
        # the next fetch asks for what was added after the watermark; nothing new
        later = q + "&added_after=2026-01-01T00%3A00%3A02.000Z"
        srv.routes[later] = (200, taxii, envelope(False, []))
        rc, out, err = fetch(d)
        assert rc == 0 and out == "isac: unchanged, 3 indicators\n", (rc, out, err, srv.paths())
        assert srv.paths()[-1] == later, srv.paths()
    finally:
        srv.close()
        shutil.rmtree(d)


def misp_event(uuid, ts, values):
    return json.dumps({"Event": {"uuid": uuid, "info": "test", "timestamp": str(ts), "threat_level_id": "2",
                                 "Attribute": [{"type": t, "value": v, "to_ids": True,
                                                "uuid": "%s" % uuid} for t, v in values]}}).encode()


def test_misp_feed():
    d = tempdir()
    srv = FeedServer(d)
    try:
        e1, e2 = "5e0f8a2c-0000-4000-8000-000000000001", "5e0f8a2c-0000-4000-8000-000000000002"
        manifest = {e1: {"info": "one", "timestamp": "100"}, e2: {"info": "two", "timestamp": "100"}}
        srv.routes["/misp/manifest.json"] = conditional('"m1"', json.dumps(manifest).encode())
        srv.routes["/misp/%s.json" % e1] = (200, {}, misp_event(e1, 100, [("ip-dst", "198.51.100.1"),
                                                                           ("domain", "shared.example")]))
        srv.routes["/misp/%s.json" % e2] = (200, {}, misp_event(e2, 100, [("md5", "d41d8cd98f00b204e9800998ecf8427e"),
                                                                           ("domain", "shared.example")]))
        key = os.path.join(d, "misp.key")
        with open(key, "w") as f:
            f.write("K3Y\n")
        os.chmod(key, 0o600)
        feed_config(d, srv, {"misp": {"url": srv.base + "/misp/", "format": "misp",
                                      "api_key_file": key}})
        rc, out, err = fetch(d)
        assert rc == 0, (rc, out, err)
        assert out == "misp: 4 read, 3 new, 1 updated, 0 removed, 0 rejected; 3 indicators\n", out
        assert [h.get("Authorization") for _, h in srv.requests] == ["K3Y"] * 3, srv.requests
        rc, out, err = fetch(d)
        assert rc == 0 and out == "misp: unchanged, 3 indicators\n", (rc, out)
        # e1 withdrawn, e2 changed: only e2 is fetched again
        manifest = {e2: {"info": "two", "timestamp": "200"}}
        srv.routes["/misp/manifest.json"] = conditional('"m2"', json.dumps(manifest).encode())
        srv.routes["/misp/%s.json" % e2] = (200, {}, misp_event(e2, 200, [("md5", "d41d8cd98f00b204e9800998ecf8427e"),
                                                                           ("domain", "shared.example"),
                                                                           ("url", "https://x.example/a")]))
        n = len(srv.requests)
        rc, out, err = fetch(d)
        assert rc == 0, (rc, out, err)
        assert out == "misp: 3 read, 1 new, 2 updated, 1 removed, 0 rejected; 3 indicators\n", out
        assert srv.paths()[n:] == ["/misp/manifest.json", "/misp/%s.json" % e2], srv.paths()[n:]
        assert values(d, "misp") == ["d41d8cd98f00b204e9800998ecf8427e", "https://x.example/a",
                                     "shared.example"]
    finally:
        srv.close()
        shutil.rmtree(d)


def test_serve_thread_and_metrics():
    d = tempdir()
    srv = FeedServer(d)
    k = None
    try:
        srv.routes["/good.txt"] = conditional('"g1"', b"192.0.2.50\n192.0.2.51\n")
        srv.routes["/bad.txt"] = (500, {}, b"oops")
        feed_config(d, srv, {"good": {"url": srv.base + "/good.txt", "format": "list"},
                             "bad": {"url": srv.base + "/bad.txt", "format": "list"},
                             "off": {"url": srv.base + "/off.txt", "format": "list",
                                     "enabled": False}})
        # what the bad feed had before (imported under its source) must survive its failure
        last = os.path.join(d, "last.txt")
        with open(last, "w") as f:
            f.write("198.51.100.9\n")
        run(["ti", "import", "--source", "bad", last], d)
        k = Instance(d, config=os.path.join(d, "koban.yaml"))

        def fetched():
            m = k.metrics()
            return m if value(m, "koban_ti_feed_fetches_total", feed="good", result="ok") == 1 and \
                value(m, "koban_ti_feed_fetches_total", feed="bad", result="failed") == 1 else None
        m = poll("both feeds fetched once", fetched)
        assert value(m, "koban_ti_feed_indicators", feed="good") == 2
        assert value(m, "koban_ti_feed_indicators", feed="bad") == 0
        assert value(m, "koban_ti_feed_last_success_seconds", feed="good") > 1.7e9
        assert value(m, "koban_ti_feed_last_success_seconds", feed="bad") == 0
        assert value(m, "koban_ti_feed_fetches_total", feed="off", result="ok") == 0
        assert "/off.txt" not in srv.paths()
        assert values(d, "good") == ["192.0.2.50", "192.0.2.51"]
        assert values(d, "bad") == ["198.51.100.9"]
        f = feeds_json(d)
        assert "HTTP status 500" in f["bad"]["last_error"] and f["bad"]["failures"] == 1, f
        assert f["good"]["last_error"] is None and f["good"]["indicators"] == 2, f
        assert f["off"]["last_success"] is None and not f["off"]["enabled"], f
        assert "fetch failed (the last good set is kept)" in k.log()
    finally:
        if k:
            assert k.stop() == 0, k.log()
        srv.close()
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_list_feed)
    s.run(test_redirect)
    s.run(test_csv_feed_tenant_and_auth)
    s.run(test_taxii_two_pages)
    s.run(test_misp_feed)
    s.run(test_serve_thread_and_metrics)
    s.done()
