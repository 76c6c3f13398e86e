"""Tests of notifyfake.py, the HTTPS stand-in of the HTTP notification services: its checks
accept koban's golden bodies (tests/data/notify) and refuse broken ones, and its Python API
(urls, faults, records) answers as documented. The channels themselves are driven against
it by the unit test test_httpch."""
import copy
import hashlib
import hmac
import json
import os
import ssl
import time
import urllib.error
import urllib.request

from kobanlib import DATA, Suite, make_tls, tempdir
import notifyfake as nf


def golden(name):
    with open(os.path.join(DATA, "notify", name), encoding="utf-8") as f:
        return json.load(f)


def test_golden_bodies_pass_the_checks():
    for name in ("teams_adaptive_ja.json", "teams_adaptive_en_test.json"):
        assert nf.check_adaptive(golden(name)) == [], name
    for name in ("teams_legacy_ja.json", "teams_legacy_en_test.json"):
        assert nf.check_messagecard(golden(name)) == [], name
    for name in ("pagerduty_ja.json", "pagerduty_en_test.json"):
        assert nf.check_pagerduty(golden(name), "R0b1e2c3d4e5f6a7b8c9d0e1f2a3b4c5") == [], name


def test_broken_bodies_are_refused():
    card = golden("teams_adaptive_ja.json")
    bad = copy.deepcopy(card)
    bad["attachments"][0]["content"]["actions"][0]["type"] = "Action.Submit"
    assert len(nf.check_adaptive(bad)) == 1
    assert nf.check_adaptive({"text": "hi"}) == ['the top level is not {"type":"message",...}']
    bad = copy.deepcopy(card)
    del bad["attachments"]
    assert "attachments" in nf.check_adaptive(bad)[0]
    legacy = golden("teams_legacy_ja.json")
    del legacy["summary"]
    del legacy["sections"][0]["text"]
    assert nf.check_messagecard(legacy) == ["Summary or Text is required."]
    pd = golden("pagerduty_ja.json")
    pd["payload"]["severity"] = "high"
    pd["payload"]["summary"] = "x" * 1025
    pd["dedup_key"] = "d" * 256
    assert len(nf.check_pagerduty(pd, "R0b1e2c3d4e5f6a7b8c9d0e1f2a3b4c5")) == 3
    assert nf.check_pagerduty(golden("pagerduty_ja.json"), "other") == ["Invalid routing key"]


def post(ctx, url, body, headers=None):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers=dict({"Content-Type": "application/json"},
                                              **(headers or {})))
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def test_python_api():
    d = tempdir()
    ca, cert, key = make_tls(d)
    ctx = ssl.create_default_context(cafile=ca)
    fake = nf.Fake(cert, key, routing_key="R0b1e2c3d4e5f6a7b8c9d0e1f2a3b4c5",
                   webhook_secret=b"s3cret")
    try:
        card = json.dumps(golden("teams_adaptive_ja.json")).encode()
        assert post(ctx, fake.teams_url, card)[0:3:2] == (202, b"")
        assert post(ctx, fake.teams_url.replace("sig=", "sig=x"), card)[0] == 401
        assert post(ctx, fake.legacy_url, json.dumps(golden("teams_legacy_ja.json")).encode()
                    )[0:3:2] == (200, b"1")
        fake.fault("legacy", "throttle")
        s, _, body = post(ctx, fake.legacy_url, b"{}")
        assert s == 200 and b"HTTP error 429" in body
        st, _, body = post(ctx, fake.pagerduty_url, json.dumps(golden("pagerduty_ja.json")).encode())
        assert st == 202 and json.loads(body) == {"status": "success", "message":
                                                  "Event processed", "dedup_key": "koban.alpha.42"}
        fake.fault("pagerduty", 429, retry_after=9)
        st, h, _ = post(ctx, fake.pagerduty_url, json.dumps(golden("pagerduty_ja.json")).encode())
        assert st == 429 and h["Retry-After"] == "9"
        raw = json.dumps({"type": "koban.notice", "version": 1, "tenant": "alpha", "incident": 1,
                          "level": 3, "message_id": "<m>", "test": False, "notice": 1,
                          "links": {}}).encode()
        ts = str(int(time.time()))
        sig = "sha256=" + hmac.new(b"s3cret", ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        assert post(ctx, fake.webhook_url, raw, {"X-Koban-Timestamp": ts,
                                                 "X-Koban-Signature": sig})[0] == 200
        old = str(int(time.time()) - 301)
        sig_old = "sha256=" + hmac.new(b"s3cret", old.encode() + b"." + raw,
                                       hashlib.sha256).hexdigest()
        assert post(ctx, fake.webhook_url, raw, {"X-Koban-Timestamp": old,
                                                 "X-Koban-Signature": sig_old})[0] == 401
        assert [len(fake.records(k)) for k in nf.KINDS] == [2, 2, 2, 2]
        assert [sum(1 for r in fake.records(k) if r["errors"]) for k in nf.KINDS] == [1, 1, 0, 1]
        assert fake.records("webhook")[1]["errors"] == ["X-Koban-Timestamp is outside the 300 s window"]
        fake.reset()
        assert fake.records() == []
    finally:
        fake.close()


if __name__ == "__main__":
    s = Suite()
    s.run(test_golden_bodies_pass_the_checks)
    s.run(test_broken_bodies_are_refused)
    s.run(test_python_api)
    s.done()
