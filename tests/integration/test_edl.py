"""External Dynamic Lists on the API listener: GET /edl/<tenant>/<list>.txt with EDL tokens
(HTTP Basic auth), the lines of each tenant (global and own indicators, the allow-lists),
401 without or with wrong credentials and for API tokens, 403 for another tenant's EDL
token, EDL tokens refused on /api/, 304 with the ETag and a new ETag once the indicators
change, `koban edl show` printing the served text, `koban edl allow`, and the drops in
koban_edl_dropped_total."""
import base64
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Instance, Suite, api_request, run, tempdir, value, write_config, \
    write_file  # noqa: E402

CONFIG = """
edl:
  lists:
    block-ips: { type: ip, sources: ["*"] }
    block-domains: { type: domain, sources: [feed1], min_confidence: 50 }
    top1: { type: ip, max_entries: 1 }
  allow: [192.0.2.53]
"""

FEED = """# a plain list: global indicators of source feed1
192.0.2.53
198.51.100.7
203.0.113.0/24
evil.example
www.bad.example
"""


def get(url, user=None, password=None, headers=()):
    req = urllib.request.Request(url)
    if user is not None:
        cred = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        req.add_header("Authorization", "Basic " + cred)
    for k, v in headers:
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def setup(d):
    cfg = write_config(d, CONFIG)
    for t in ("city-a", "city-b"):
        run(["tenant", "add", t], d)
    run(["ti", "import", "--source", "feed1", write_file(d, "feed.txt", FEED)], d)
    run(["ti", "import", "--source", "soc", "--tenant", "city-a",
         write_file(d, "own.txt", "198.51.100.99\n")], d)
    run(["edl", "allow", "add", "--tenant", "city-a", "203.0.113.0/25"], d)
    tok = {}
    for name, tenant in (("fw-a", "city-a"), ("fw-b", "city-b")):
        tok[name] = run(["token", "add", name, "--tenant", tenant, "--edl"], d)[1].strip()
    tok["api-a"] = run(["token", "add", "api-a", "--tenant", "city-a"], d)[1].strip()
    return cfg, tok


def test_edl():
    d = tempdir()
    cfg, tok = setup(d)
    _, out, _ = run(["edl", "allow", "list", "--tenant", "city-a"], d)
    assert out == "ip 203.0.113.0/25\n", out
    _, out, _ = run(["token", "list"], d)
    assert any(line.split()[:3] == ["fw-a", "city-a", "edl"] for line in out.splitlines()), out
    inst = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
    try:
        base = "http://%s/edl/" % inst.api
        status, h, body = get(base + "city-a/block-ips.txt", "fw-a", tok["fw-a"])
        assert status == 200, (status, body)
        assert h["Content-Type"].startswith("text/plain"), h
        # 192.0.2.53 allowed for everyone; 203.0.113.0/24 covers city-a's allowed /25
        assert body == "198.51.100.7\n198.51.100.99\n", body
        etag = h["ETag"]
        status, _, body = get(base + "city-b/block-ips.txt", "fw-b", tok["fw-b"])
        assert (status, body) == (200, "198.51.100.7\n203.0.113.0/24\n"), (status, body)
        status, _, body = get(base + "city-a/block-domains.txt", "fw-a", tok["fw-a"])
        assert (status, body) == (200, "evil.example\nwww.bad.example\n"), (status, body)
        # what `koban edl show` prints is what is served
        _, out, err = run(["edl", "show", "--tenant", "city-a", "block-ips", "-c", cfg], d)
        assert out == "198.51.100.7\n198.51.100.99\n" and etag in err, (out, err)
        # without, or with wrong, credentials: 401 asking for Basic
        status, h, _ = get(base + "city-a/block-ips.txt")
        assert status == 401 and h["WWW-Authenticate"].startswith("Basic"), (status, h)
        for user, pw in (("fw-a", tok["fw-b"]), ("fw-a", ""), ("nosuch", tok["fw-a"]),
                         ("api-a", tok["api-a"]), ("../fw-a", tok["fw-a"])):
            status, _, _ = get(base + "city-a/block-ips.txt", user, pw)
            assert status == 401, (user, status)
        status, _, _ = get(base + "city-a/block-ips.txt",
                           headers=[("Authorization", "Bearer " + tok["api-a"])])
        assert status == 401, status
        # another tenant's EDL token: refused, whatever list
        for path in ("city-a/block-ips.txt", "city-a/nosuch.txt"):
            status, _, body = get(base + path, "fw-b", tok["fw-b"])
            assert status == 403 and "198.51.100.99" not in body, (path, status, body)
        # an EDL token opens no API endpoint
        status, _, _ = api_request("http://%s/api/v1/search?q=*" % inst.api, tok["fw-a"])
        assert status == 401, status
        status, _, _ = api_request("http://%s/api/v1/alerts" % inst.api, tok["fw-a"])
        assert status == 401, status
        # unknown list, malformed paths
        for path in ("city-a/nosuch.txt", "city-a/block-ips", "city-a/", "city-a"):
            status, _, _ = get(base + path, "fw-a", tok["fw-a"])
            assert status == 404, (path, status)
        # 304 for the current ETag; a new indicator makes a new list and ETag
        status, h, body = get(base + "city-a/block-ips.txt", "fw-a", tok["fw-a"],
                              [("If-None-Match", etag)])
        assert (status, body, h.get("ETag")) == (304, "", etag), (status, body, h)
        run(["ti", "import", "--source", "feed2", write_file(d, "more.txt", "192.0.2.99\n")], d)
        status, h, body = get(base + "city-a/block-ips.txt", "fw-a", tok["fw-a"],
                              [("If-None-Match", etag)])
        assert status == 200 and body == "192.0.2.99\n198.51.100.7\n198.51.100.99\n", body
        assert h["ETag"] != etag, h
        # the cap: one entry, the others counted
        status, _, body = get(base + "city-b/top1.txt", "fw-b", tok["fw-b"])
        assert status == 200 and len(body.splitlines()) == 1, body
        m = inst.metrics()
        assert value(m, "koban_edl_dropped_total", tenant="city-a", list="block-ips",
                     reason="allow") == 2  # two builds, 192.0.2.53 each time
        assert value(m, "koban_edl_dropped_total", tenant="city-a", list="block-ips",
                     reason="allow_overlap") == 2
        assert value(m, "koban_edl_dropped_total", tenant="city-b", list="top1",
                     reason="cap") == 2  # 3 left after the allow-list (192.0.2.53)
        assert value(m, "koban_api_requests_total", result="not_modified") == 1
        # the allow-list edited while serving applies at the next request
        run(["edl", "allow", "add", "--tenant", "city-a", "192.0.2.99"], d)
        status, _, body = get(base + "city-a/block-ips.txt", "fw-a", tok["fw-a"])
        assert body == "198.51.100.7\n198.51.100.99\n", body
        status, _, _ = run(["edl", "allow", "remove", "--tenant", "city-a", "192.0.2.98"], d,
                           check=False)
        assert status == 1, status
    finally:
        inst.stop()


def test_tenant_name_reused():
    """A tenant removed and added again under its name is served none of the removed
    tenant's own indicators (its removal moves the indicators' generation)."""
    d = tempdir()
    cfg = write_config(d, "edl:\n  lists:\n    block-ips: { type: ip, sources: [\"*\"] }\n")
    run(["tenant", "add", "city-b"], d)
    run(["ti", "import", "--source", "soc", "--tenant", "city-b",
         write_file(d, "own.txt", "198.51.100.200\n")], d)
    tok = run(["token", "add", "fw-b", "--tenant", "city-b", "--edl"], d)[1].strip()
    inst = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
    try:
        url = "http://%s/edl/city-b/block-ips.txt" % inst.api
        status, _, body = get(url, "fw-b", tok)
        assert status == 200 and body == "198.51.100.200\n", (status, body)
        run(["tenant", "remove", "city-b"], d)
        run(["tenant", "add", "city-b"], d)
        tok2 = run(["token", "add", "fw-b2", "--tenant", "city-b", "--edl"], d)[1].strip()
        status, _, body = get(url, "fw-b2", tok2)
        assert status == 200 and body == "", (status, body)
        status, _, _ = get(url, "fw-b", tok)  # the removed tenant's token went with it
        assert status == 401, status
    finally:
        inst.stop()


if __name__ == "__main__":
    s = Suite()
    s.run(test_edl)
    s.run(test_tenant_name_reused)
    s.done()
