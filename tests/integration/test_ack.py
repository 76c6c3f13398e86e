"""Acknowledgement (issue 11 part 3) against a real `koban serve`: incidents made by replaying
tests/data/scenarios/exploit_callback.log and entra_bruteforce.log with `koban ingest`, tokens
made here in Python from the documented format (docs/acknowledgement.md) and the key file serve
made (DATA_DIR/notify-ack.key), then: a GET shows the page and acknowledges nothing; a POST does
and the timeline says who, when and how; a second POST changes nothing, eight at once make one
acknowledgement; a Teams button's link (?via=teams) records how teams; expired, forged and
malformed tokens get 403 with a page that says why and shows no incident; a phone key press
played back by the Twilio stand-in (twiliofake.py) with a valid signature acknowledges, a forged
or missing signature changes nothing, another key repeats the prompt; status callbacks are
taken (204) only when signed."""
import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, Instance, Suite, api_request, api_tokens, json_lines,  # noqa: E402
                      make_tls, run, tempdir, write_config)
import twiliofake  # noqa: E402

TENANT = "city-b"
SCENARIOS = [os.path.join(DATA, "scenarios", f)
             for f in ("exploit_callback.log", "entra_bruteforce.log")]
PHONE_TOKEN = "fake-auth-token-1"
CALLEE = "+819012345678"


def make_token(key, tenant, incident, notice, expires_s):
    """ka1.TENANT.INCIDENT.NOTICE.EXPIRES.MAC, MAC = base64url(HMAC-SHA256(key, the rest))."""
    body = "ka1.%s.%d.%d.%d" % (tenant, incident, notice, expires_s)
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return body + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


class World:
    """One serve for every test: the tenant's incidents, API token, ack key and stand-in."""

    def __init__(self):
        self.d = d = tempdir()
        cfg = write_config(d)
        self.koban = lambda *a, **k: run(["-c", cfg] + list(a), d, **k)
        self.koban("tenant", "add", TENANT)
        for f in SCENARIOS:
            _, out, _ = self.koban("ingest", "--tenant", TENANT, "--format", "auto", "--tz",
                                   "Asia/Tokyo", f)
            assert "stored" in out, out
        incs = json_lines(self.koban("incident", "list", "--tenant", TENANT, "--json")[1])
        assert len(incs) == 4, incs
        self.incidents = sorted(i["id"] for i in incs)
        self.titles = {i["id"]: i["title"] for i in incs}
        self.tok = api_tokens(d, [TENANT])
        tokf = os.path.join(d, "var", "notify-phone.token")
        with open(tokf, "w") as f:
            f.write(PHONE_TOKEN + "\n")
        os.chmod(tokf, 0o600)
        self.inst = Instance(d, config=cfg, extra=["--api", "127.0.0.1:0"])
        self.base = "http://%s" % self.inst.api
        keyf = os.path.join(d, "var", "notify-ack.key")
        assert stat.S_IMODE(os.stat(keyf).st_mode) == 0o600
        with open(keyf) as f:
            self.key = bytes.fromhex(f.read().strip())
        assert len(self.key) == 32
        _, cert, keyfile = make_tls(d)
        self.fake = twiliofake.Fake(cert, keyfile, auth_token=PHONE_TOKEN)

    def close(self):
        self.fake.close()
        assert self.inst.stop() == 0, self.inst.log()

    def token(self, incident, notice=1, expires_in=3600):
        return make_token(self.key, TENANT, incident, notice, int(time.time()) + expires_in)

    def incident(self, iid):
        status, _, body = api_request("%s/api/v1/incidents/%d" % (self.base, iid),
                                      self.tok[TENANT])
        assert status == 200, body
        return json.loads(body)

    def timeline(self, iid):
        status, _, body = api_request("%s/api/v1/incidents/%d/timeline" % (self.base, iid),
                                      self.tok[TENANT])
        assert status == 200, body
        return json_lines(body)

    def acks(self, iid):
        return [e for e in self.timeline(iid) if e["action"] == "acknowledged"]


def acknowledged(inc):
    """The acknowledged clock of an incident of the API (ns since the epoch, 0: not yet)."""
    return (inc.get("incident") or inc)["clocks"]["acknowledged"]


W = None


def page(method, url, data=None):
    status, ctype, body = api_request(url, method=method, data=data)
    return status, ctype, body


def test_get_does_not_acknowledge():
    iid = W.incidents[0]
    url = "%s/ack/%s" % (W.base, W.token(iid, notice=3))
    for _ in range(3):  # a mail scanner following the link, more than once
        status, ctype, body = page("GET", url)
        assert status == 200 and ctype == "text/html; charset=utf-8", (status, body)
        assert '<form method="post">' in body and "Acknowledge" in body, body
        assert "確認しました" in body
    assert not acknowledged(W.incident(iid)), W.incident(iid)
    assert W.acks(iid) == []


def test_post_acknowledges():
    iid = W.incidents[0]
    url = "%s/ack/%s" % (W.base, W.token(iid, notice=3))
    before = time.time()
    status, _, body = page("POST", url, b"ack=1")
    after = time.time()
    assert status == 200 and "確認を記録しました" in body and "Acknowledged" in body, body
    acks = W.acks(iid)
    assert len(acks) == 1, W.timeline(iid)
    a = acks[0]
    assert a["actor"] == "link", a
    assert a["detail"] == {"how": "web", "notice": 3, "by": "link"}, a
    assert a["why"] == "acknowledged by link (web link, notice 3)", a
    clocks = [e for e in W.timeline(iid) if e["action"] == "clock" and
              e["detail"] == {"clock": "acknowledged"}]
    assert len(clocks) == 1 and clocks[0]["actor"] == "link", W.timeline(iid)
    # the clock is the time of the POST
    clock = acknowledged(W.incident(iid))
    assert before - 1 <= clock / 1e9 <= after + 1, (clock, before, after)


def test_second_post_changes_nothing():
    iid = W.incidents[0]
    n = len(W.timeline(iid))
    clock = acknowledged(W.incident(iid))
    # another notice's link of the same incident: already acknowledged, by link, how web
    status, _, body = page("POST", "%s/ack/%s" % (W.base, W.token(iid, notice=4)))
    assert status == 200 and "すでに確認済みです" in body and "Already acknowledged" in body, body
    assert "link (web)" in body, body
    assert len(W.timeline(iid)) == n
    assert acknowledged(W.incident(iid)) == clock


def test_teams_button():
    """A Teams card's button opens the same page with ?via=teams: the form posts back to it,
    and how is teams."""
    iid = W.incidents[2]
    url = "%s/ack/%s?via=teams" % (W.base, W.token(iid, notice=12))
    status, _, body = page("GET", url)
    assert status == 200 and '<form method="post">' in body, body
    assert W.acks(iid) == []
    status, _, body = page("POST", url, b"ack=1")
    assert status == 200 and "Acknowledged" in body, body
    acks = W.acks(iid)
    assert len(acks) == 1 and acks[0]["detail"] == {"how": "teams", "notice": 12, "by": "link"}, \
        acks


def test_simultaneous_posts():
    """Eight clicks at once (several people, or one impatient one): one acknowledgement."""
    iid = W.incidents[3]
    results = []

    def click(n):
        results.append(page("POST", "%s/ack/%s" % (W.base, W.token(iid, notice=20 + n)))[:3:2])
    threads = [threading.Thread(target=click, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [st for st, _ in results] == [200] * 8, results
    assert sum("確認を記録しました" in body for _, body in results) == 1, results
    assert sum("すでに確認済みです" in body for _, body in results) == 7, results
    acks = W.acks(iid)
    assert len(acks) == 1, W.timeline(iid)


def test_refused_tokens():
    iid = W.incidents[1]
    title = W.titles[iid]
    good = W.token(iid)
    forged = make_token(b"\x01" * 32, TENANT, iid, 1, int(time.time()) + 3600)
    other_tenant = good.replace("ka1.%s." % TENANT, "ka1.city-a.", 1)
    cases = [
        (W.token(iid, expires_in=-5), "有効期限が切れています", "expired"),
        (forged, "署名が一致しません", "not genuine"),
        (other_tenant, "署名が一致しません", "not genuine"),
        (good[:-1] + ("A" if good[-1] != "A" else "B"), "署名が一致しません", "not genuine"),
        ("ka1.%s.%d.1.99999999999" % (TENANT, iid), "形式が正しくありません", "malformed"),
        ("nothing-here", "形式が正しくありません", "malformed"),
    ]
    for tok, ja, en in cases:
        for method in ("GET", "POST"):
            status, ctype, body = page(method, "%s/ack/%s" % (W.base, tok))
            assert status == 403 and ctype.startswith("text/html"), (tok, status, body)
            assert ja in body and en in body, (tok, body)
            assert title not in body and TENANT not in body, body
    assert W.acks(iid) == []
    # an API token opens nothing here, and /ack/ opens no API
    status, _, _ = api_request("%s/ack/%s" % (W.base, "x"), W.tok[TENANT])
    assert status == 403
    status, _, _ = api_request("%s/api/v1/incidents/%d" % (W.base, iid))
    assert status == 401


def test_phone_key_press():
    iid = W.incidents[1]
    tok = W.token(iid, notice=8)
    url = "%s/ack/phone/%s" % (W.base, tok)
    # another key: the prompt again, with the same action
    status, ctype, body = W.fake.press(url, "2")
    assert status == 200 and ctype == "text/xml; charset=utf-8", (status, body)
    assert twiliofake.gather_action(body) == url, body
    assert W.titles[iid] in body, body
    # forged, missing signature: 403, nothing changes
    status, _, _ = W.fake.press(url, "1", forge=True)
    assert status == 403
    status, _, _ = W.fake.press(url, "1", sign=False)
    assert status == 403
    # a signature for another URL (the token of another notice)
    other = "%s/ack/phone/%s" % (W.base, W.token(iid, notice=9))
    pairs = W.fake._call_pairs(None, "in-progress") + [("Digits", "1")]
    req = urllib.request.Request(url, method="POST",
                                 data=urllib.parse.urlencode(pairs).encode())
    req.add_header("X-Twilio-Signature", twiliofake.signature(PHONE_TOKEN, other, pairs))
    try:
        urllib.request.urlopen(req, timeout=30)
        raise AssertionError("a signature of another URL was taken")
    except urllib.error.HTTPError as e:
        assert e.code == 403
    assert W.acks(iid) == []
    assert not acknowledged(W.incident(iid))
    # key 1, signed: acknowledged by the number called, how phone
    status, _, body = W.fake.press(url, "1")
    assert status == 200 and "確認を記録しました" in body and "<Hangup/>" in body, body
    acks = W.acks(iid)
    assert len(acks) == 1, W.timeline(iid)
    assert acks[0]["actor"] == CALLEE, acks
    assert acks[0]["detail"] == {"how": "phone", "notice": 8, "by": CALLEE}, acks
    assert acknowledged(W.incident(iid))
    # pressed again: already, nothing changes
    n = len(W.timeline(iid))
    status, _, body = W.fake.press(url, "1")
    assert status == 200 and "すでに確認済み" in body, body
    assert len(W.timeline(iid)) == n


def test_phone_status_callback():
    iid = W.incidents[1]
    url = "%s/ack/phone-status/%s" % (W.base, W.token(iid, notice=8))
    for st in ("initiated", "ringing", "in-progress", "completed"):
        status, _, body = W.fake.status(url, st)
        assert status == 204 and body == "", (st, status, body)
    status, _, _ = W.fake.status(url, "busy", extra=[("SipResponseCode", "486")])
    assert status == 204
    status, _, _ = W.fake.status(url, "no-answer", forge=True)
    assert status == 403
    status, _, _ = W.fake.status(url, "exploded")
    assert status == 400
    log = W.inst.log()
    assert log.count("tenant %s notice 8: call " % TENANT) == 5, log
    assert "notice 8: call busy, SIP 486" in log, log
    assert "call no-answer" not in log, log


def main():
    global W
    s = Suite()
    W = World()
    try:
        s.run(test_get_does_not_acknowledge)
        s.run(test_post_acknowledges)
        s.run(test_second_post_changes_nothing)
        s.run(test_teams_button)
        s.run(test_simultaneous_posts)
        s.run(test_refused_tokens)
        s.run(test_phone_key_press)
        s.run(test_phone_status_callback)
    finally:
        W.close()
    s.done()


if __name__ == "__main__":
    main()
