"""The phone channel (issue 11 part 2) against the Twilio stand-in (twiliofake.py), driven by
the unit test program build/.../tests/unit/test_phone (its test_send, which runs only here):
the calls it places carry exactly Twilio's form fields (HTTP Basic sid:token, To, From, Timeout,
Twiml with a <Gather> whose action is koban's /ack/phone/TOKEN, StatusCallback with the four
events), 429/503 are temporary, a refused number and bad credentials permanent. Then the whole
loop: the stand-in plays the key press of the call it received back to a real `koban serve`,
which acknowledges the incident."""
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import BUILD, Suite, make_tls  # noqa: E402
import twiliofake  # noqa: E402
from test_ack import CALLEE, TENANT, World  # noqa: E402

W = None


def run_send(fake, ca, token):
    env = dict(os.environ, KOBAN_TWILIOFAKE_URL=fake.url, KOBAN_TWILIOFAKE_CA=ca,
               KOBAN_TWILIOFAKE_SID=fake.sid, KOBAN_TWILIOFAKE_TOKEN=fake.token,
               KOBAN_ACK_BASE=W.base, KOBAN_ACK_TOKEN=token)
    p = subprocess.run([os.path.join(BUILD, "tests", "unit", "test_phone")], env=env,
                       capture_output=True, text=True, timeout=120)
    return p


def test_channel_against_stand_in():
    iid = W.incidents[0]
    token = W.token(iid, notice=5)
    ca = os.path.join(W.d, "tls", "ca.pem")
    p = run_send(W.fake, ca, token)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("PASS ") == 4 and "FAIL" not in p.stdout, p.stdout
    sends = [line for line in p.stdout.splitlines() if line.startswith("SEND ")]
    assert len(sends) == 7, p.stdout
    # exactly one call placed; the rest answered with the faults (the bad number refused
    # locally never reached the stand-in, the closed port neither)
    assert len(W.fake.calls) == 1, W.fake.calls
    assert [r["status"] for r in W.fake.requests] == [201, 429, 503, 400, 401], W.fake.requests
    req = W.fake.requests[0]
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["path"] == "/2010-04-01/Accounts/%s/Calls.json" % W.fake.sid
    form = req["form"]
    names = [k for k, _ in form]
    assert names == ["To", "From", "Timeout", "Twiml", "StatusCallback", "StatusCallbackMethod",
                     "StatusCallbackEvent", "StatusCallbackEvent", "StatusCallbackEvent",
                     "StatusCallbackEvent"], names
    f = dict(form)
    assert f["To"] == CALLEE and f["From"] == "+815012345678" and f["Timeout"] == "25", f
    assert [v for k, v in form if k == "StatusCallbackEvent"] == [
        "initiated", "ringing", "answered", "completed"]
    assert f["StatusCallback"] == "%s/ack/phone-status/%s" % (W.base, token), f
    assert f["StatusCallbackMethod"] == "POST"
    twiml = f["Twiml"]
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Gather '), twiml
    assert twiliofake.gather_action(twiml) == "%s/ack/phone/%s" % (W.base, token), twiml
    assert '<Say language="ja-JP" loop="2">koban からの緊急連絡です。' in twiml, twiml
    assert "1を押してください" in twiml, twiml
    assert len(twiml) <= 4000
    # the secret travels only in the Authorization header
    assert W.fake.token not in req["body"]


def test_key_press_of_the_call_acknowledges():
    iid = W.incidents[0]
    call = W.fake.calls[0]
    action = twiliofake.gather_action(call["fields"]["Twiml"])
    status, _, _ = W.fake.press(action, "1", call=call, forge=True)
    assert status == 403
    assert [e for e in W.timeline(iid) if e["action"] == "acknowledged"] == []
    status, _, body = W.fake.press(action, "1", call=call)
    assert status == 200 and "確認を記録しました" in body, body
    acks = [e for e in W.timeline(iid) if e["action"] == "acknowledged"]
    assert len(acks) == 1 and acks[0]["actor"] == CALLEE, acks
    assert acks[0]["detail"] == {"how": "phone", "notice": 5, "by": CALLEE}, acks
    # and its status callbacks are taken
    sc = call["fields"]["StatusCallback"]
    assert urllib.parse.urlparse(sc).path.startswith("/ack/phone-status/")
    for st in ("initiated", "ringing", "in-progress", "completed"):
        status, _, _ = W.fake.status(sc, st, call=call)
        assert status == 204
    assert W.inst.log().count("tenant %s notice 5: call " % TENANT) == 4


def main():
    global W
    s = Suite()
    W = World()
    try:
        s.run(test_channel_against_stand_in)
        s.run(test_key_press_of_the_call_acknowledges)
    finally:
        W.close()
    s.done()


if __name__ == "__main__":
    main()
