"""The notification engine (issue 11 parts 4-6) against a real `koban serve` with the real
channels and local peers: the phone channel against the Twilio stand-in (twiliofake.py), mail
through Postfix's smtp-sink, Teams through notifyfake.py. The issue's scenario: a Critical
incident on a national holiday (the tenant's policy declares today one: the law's holidays are
the calendar's unit tests) -> phone to on-call A; no acknowledgement within the step's `after`
(seconds here) -> phone to B + mail + Teams; B acknowledges by key press -> the chain stops
(the SOC lead is never paged) and the timeline has every notice and outcome. The same run with
koban killed (-9) and restarted between the two steps, with no duplicate notice. A retry test
(Teams answers 429, then 202), the delivery log through the CLI and the API, the metrics,
`koban notify test`. Last, the night of a law-given holiday: the scenario moved to 02:xx JST on
2026-11-23 and replayed with `koban ingest` (the events' time is the clock): the chain is planned
and logged, nothing sent."""
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import (DATA, Instance, Suite, api_tokens, json_lines, make_tls, run,  # noqa: E402
                      send_lines, tempdir, value)
import notifyfake  # noqa: E402
import twiliofake  # noqa: E402

TENANT = "city-b"
SCENARIO = os.path.join(DATA, "scenarios", "exploit_callback.log")
EXPLOIT = "63289322-84a3-4dbd-b3b4-28cc45cee04a"  # PAN-OS Critical Exploit Attempt
PHONE_TOKEN = "fake-auth-token-1"
ON_CALL_A, ON_CALL_B = "+819011110001", "+819022220002"
MAIL_TO = "soc-lead@example.jp"
LEAD = "lead@example.jp"
AFTER_S = 6  # the escalation step's `after`


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def secret_file(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def eventually(what, check, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            return check()
        except AssertionError as e:
            if time.time() > deadline:
                raise AssertionError("%s: %s" % (what, e))
        time.sleep(0.2)


class World:
    """A data directory with the tenant, its syslog source and policy, the peers (Twilio,
    smtp-sink, Teams) and the configuration of the channels; serve started by start()."""

    def __init__(self, after=AFTER_S, teams_fault=None, today_holiday=True):
        self.d = d = tempdir()
        self.inst = None
        self.ca, cert, key = make_tls(d)
        self.twilio = twiliofake.Fake(cert, key, auth_token=PHONE_TOKEN)
        self.http = notifyfake.Fake(cert, key)
        if teams_fault:
            self.http.fault("teams", teams_fault, retry_after=1)
        self.sink_dir = os.path.join(d, "sink")
        os.makedirs(self.sink_dir)
        os.chmod(self.sink_dir, 0o777)
        self.sink_port = free_port()
        argv = ["/usr/sbin/smtp-sink"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        self.sink = subprocess.Popen(argv + ["-d", self.sink_dir + "/msg.",
                                             "127.0.0.1:%d" % self.sink_port, "10"])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.sink_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.api_port = free_port()
        self.base = "https://127.0.0.1:%d" % self.api_port
        tok = secret_file(d, "twilio.token", PHONE_TOKEN)
        teams = secret_file(d, "teams.url", self.http.teams_url)
        self.cfg = os.path.join(d, "koban.yaml")
        with open(self.cfg, "w") as f:
            f.write("""data_dir: ./var
api:
  listen: 127.0.0.1:%(port)d
  tls: {cert: %(cert)s, key: %(key)s}
notify:
  ack_url: %(base)s
  lead: {channel: mail, to: %(lead)s, after: 4}
  retry: {attempts: 3, backoff: 1, max_backoff: 2}
  channels:
    phone:
      type: phone
      url: %(twilio)s
      account_sid: %(sid)s
      auth_token_file: %(tok)s
      from: "+815012345678"
      ca_file: %(ca)s
    mail:
      type: smtp
      url: smtp://127.0.0.1:%(sink)d
      from: koban@example.jp
      tls: none
    teams:
      type: teams
      url_file: %(teams)s
      ca_file: %(ca)s
""" % dict(port=self.api_port, cert=cert, key=key, base=self.base, lead=LEAD,
                       twilio=self.twilio.url, sid=self.twilio.sid, tok=tok, ca=self.ca,
                       sink=self.sink_port, teams=teams))
        self.koban = lambda *a, **k: run(["-c", self.cfg] + list(a), d, **k)
        self.koban("tenant", "add", TENANT)
        self.koban("source", "add", "fw", "--tenant", TENANT, "--cidr", "127.0.0.12/32",
                   "--format", "auto", "--tz", "Asia/Tokyo")
        self.policy(after, today_holiday)
        self.koban("tenant", "add", "city-z")
        self.tok = api_tokens(d, [TENANT, "city-z"])

    def policy(self, after, today_holiday):
        """today_holiday: today (JST) is a holiday of the tenant, so the holiday rule matches
        at any hour of a run through serve; else the rule takes the law's holidays, at night
        (00:00-06:00 JST) only."""
        today = (datetime.datetime.now(datetime.timezone.utc) +
                 datetime.timedelta(hours=9)).strftime("%Y-%m-%d")
        match = {"rules": [EXPLOIT], "min_level": 3, "days": ["holiday"]}
        if not today_holiday:
            match["hours"] = "00:00-06:00"
        body = json.dumps({
            "version": 1,
            "holidays": [{"date": today, "name": "テストの祝日", "name_en": "Test holiday"}]
            if today_holiday else [],
            "rules": [{
                "name": "holiday-critical",
                "match": match,
                "steps": [
                    {"channel": "phone", "to": [ON_CALL_A], "lang": "ja", "ack": True},
                    {"channel": "phone", "to": [ON_CALL_B], "lang": "ja", "ack": True,
                     "after": "%ds" % after},
                    {"channel": "mail", "to": [MAIL_TO], "lang": "ja", "after": "0s"},
                    {"channel": "teams", "to": ["soc-channel"], "lang": "en", "after": "0s"},
                ]}]})
        path = os.path.join(self.d, "policy.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        self.koban("notify", "policy", "set", "--tenant", TENANT, "--by", "test", path)

    def start(self):
        self.inst = Instance(self.d, config=self.cfg)
        return self.inst

    def send_scenario(self):
        with open(SCENARIO, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
        send_lines(self.inst, "127.0.0.12", lines)

    def incident(self):
        incs = json_lines(self.koban("incident", "list", "--tenant", TENANT, "--json")[1])
        mine = [i for i in incs if i.get("rule_id", i.get("rule", {}).get("id")
                                               if isinstance(i.get("rule"), dict) else
                                               i.get("rule")) == EXPLOIT]
        return mine[0] if mine else None

    def log(self, incident=None):
        args = ["notify", "log", "--tenant", TENANT, "--json"]
        if incident:
            args += ["--incident", str(incident)]
        return json_lines(self.koban(*args)[1])

    def timeline(self, iid):
        _, out, _ = self.koban("incident", "show", "--tenant", TENANT, "--json", str(iid))
        return json.loads(out)["timeline"]

    def mails(self):
        return sorted(f for f in os.listdir(self.sink_dir) if f.startswith("msg."))

    def close(self):
        if self.inst:
            rc = self.inst.stop()
            assert rc == 0, "serve ended with %s: %s" % (rc, self.inst.log()[-3000:])
        self.twilio.close()
        self.http.close()
        self.sink.terminate()
        self.sink.wait()
        shutil.rmtree(self.d, ignore_errors=True)


def api_get(w, path, token):
    """GET on serve's API listener (TLS with the test CA): (status, body)."""
    ctx = ssl.create_default_context(cafile=w.ca)
    req = urllib.request.Request(w.base + path)
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def critical_incident(w):
    def check():
        inc = w.incident()
        assert inc and inc["level"] == 3, inc
        return inc
    return eventually("the Critical incident", check, timeout=60)


def calls_to(w, number):
    return [c for c in w.twilio.calls if c["fields"]["To"] == number]


def press_one(w, call):
    action = twiliofake.gather_action(call["fields"]["Twiml"])
    assert action.startswith(w.base + "/ack/phone/"), action
    return w.twilio.press(action, "1", call=call, ca=w.ca)


def scenario(kill_between):
    w = World()
    try:
        w.start()
        w.send_scenario()
        inc = critical_incident(w)
        iid = inc["id"]
        # step 1: on-call A is called, at once
        eventually("the call to A", lambda: len(calls_to(w, ON_CALL_A)) == 1 or
                   (_ for _ in ()).throw(AssertionError(w.twilio.calls)))
        t_a = time.time()
        assert calls_to(w, ON_CALL_B) == [] and w.mails() == [] and w.http.records("teams") == []
        if kill_between:
            # killed between the steps: once step 1 is recorded as sent (a kill during a
            # hand-off would send it again after the restart, with the same message id)
            def a_sent():
                got = [n["state"] for n in w.log(iid) if n["to"] == ON_CALL_A]
                assert got == ["sent"], got
            eventually("step 1 recorded", a_sent)
            w.inst.signal(signal.SIGKILL)
            w.inst.proc.wait(timeout=10)
            w.inst.err.close()
            time.sleep(1)
            w.start()
        # no acknowledgement: step 2 after AFTER_S seconds: B, mail and Teams
        eventually("the call to B", lambda: len(calls_to(w, ON_CALL_B)) == 1 or
                   (_ for _ in ()).throw(AssertionError(w.twilio.calls)), timeout=AFTER_S + 20)
        assert time.time() - t_a >= AFTER_S - 1
        eventually("the mail", lambda: len(w.mails()) == 1 or
                   (_ for _ in ()).throw(AssertionError(w.mails())))
        eventually("the Teams card", lambda: len(w.http.records("teams")) == 1 or
                   (_ for _ in ()).throw(AssertionError(w.http.records())))
        # the peers record a request before koban has their answer: wait for all four to be
        # recorded as sent, so that only the lead is pending when B acknowledges
        def steps_sent():
            got = [n["state"] for n in w.log(iid) if not n["lead"]]
            assert got == ["sent"] * 4, got
        eventually("the four steps recorded", steps_sent)
        # B acknowledges by key press
        status, _, body = press_one(w, calls_to(w, ON_CALL_B)[0])
        assert status == 200, (status, body)
        # at once (the lead is due 4 s after the last step): the acknowledgement cancelled
        # the pending lead in its own transaction, and the queue gauge follows
        lead = [(n["state"], n["reason"]) for n in w.log(iid) if n["lead"]]
        assert lead == [("cancelled", "acknowledged before it was due")], lead
        assert value(w.inst.metrics(), "koban_notify_queue") == 0
        # the chain stops: the lead is never paged
        time.sleep(6)
        log = w.log(iid)
        states = sorted((n["channel"], n["to"], n["lead"], n["state"]) for n in log)
        assert states == [
            ("mail", LEAD, True, "cancelled"),
            ("mail", MAIL_TO, False, "sent"),
            ("phone", ON_CALL_A, False, "sent"),
            ("phone", ON_CALL_B, False, "sent"),
            ("teams", "soc-channel", False, "sent"),
        ], log
        assert len(w.twilio.calls) == 2, w.twilio.calls
        assert len(w.mails()) == 1, w.mails()
        assert len(w.http.records("teams")) == 1
        # the timeline: planned, four sends, acknowledged by B, escalation stopped
        tl = w.timeline(iid)
        notify = [e["why"] for e in tl if e["action"] == "notify"]
        assert any("planned" in s for s in notify), notify
        for who, chan in ((ON_CALL_A, "phone"), (ON_CALL_B, "phone"), (MAIL_TO, "mail"),
                          ("soc-channel", "teams")):
            assert len([s for s in notify if s.startswith("Sent ") and
                        " to %s by %s" % (who, chan) in s]) == 1, (who, notify)
        acks = [e for e in tl if e["action"] == "acknowledged"]
        assert len(acks) == 1 and acks[0]["actor"] == ON_CALL_B, acks
        assert any("Escalation stopped" in s for s in notify), notify
        # the contacted clock is set
        _, out, _ = w.koban("incident", "show", "--tenant", TENANT, "--json", str(iid))
        shown = json.loads(out)
        clocks = (shown.get("incident") or shown)["clocks"]
        assert clocks["contacted"] > 0 and clocks["acknowledged"] > 0, clocks
        # the API gives the same log (tenant-scoped)
        if kill_between:
            text = w.inst.log()
            assert text.count("being handed to a channel") == 0, text
    finally:
        w.close()


def test_holiday_escalation():
    scenario(kill_between=False)


def test_holiday_escalation_with_kill_9():
    scenario(kill_between=True)


def test_retry_after_429():
    """Teams answers 429 (Retry-After 1) to the first card: tried again, 202; two attempts."""
    w = World(after=1, teams_fault=429)
    try:
        w.start()
        w.send_scenario()
        iid = critical_incident(w)["id"]

        def teams_sent():
            n = [x for x in w.log(iid) if x["channel"] == "teams"]
            assert len(n) == 1 and n[0]["state"] == "sent", n
            return n[0]
        n = eventually("the Teams notice", teams_sent, timeout=30)
        assert [t["status"] for t in n["tries"]] == ["retry", "sent"], n
        assert "429" in n["tries"][0]["reason"], n
        assert [r["status"] for r in w.http.records("teams")] == [429, 202]
        m = w.inst.metrics()
        assert value(m, "koban_notify_notices_total", channel="teams", status="retry") == 1
        assert value(m, "koban_notify_notices_total", channel="teams", status="sent") == 1
        assert value(m, "koban_notify_notices_total", channel="phone", status="sent") == 2
        assert value(m, "koban_notify_decision_to_handoff_seconds_count") >= 1
        # the API's delivery log: the tenant's token reads its own, the same lines as the CLI
        status, body = api_get(w, "/api/v1/notify/log?incident=%d" % iid, w.tok[TENANT])
        assert status == 200, body
        assert [x["id"] for x in json_lines(body)] == [x["id"] for x in w.log(iid)]
        assert len(json_lines(body)) == 5
        status, body = api_get(w, "/api/v1/notify/log", w.tok["city-z"])
        assert status == 200 and body == "", body  # another tenant sees none of them
        status, body = api_get(w, "/api/v1/notify/log?tenant=%s&incident=%d" % (TENANT, iid),
                               w.tok["soc"])
        assert status == 200 and len(json_lines(body)) == 5, body
        status, body = api_get(w, "/api/v1/notify/log?incident=x", w.tok[TENANT])
        assert status == 400, body
        # `koban notify test`: a test mail through smtp-sink, a refused number by phone
        rc, out, err = w.koban("notify", "test", "--tenant", TENANT, "--channel", "mail",
                               "--to", "ops@example.jp", check=False)
        assert rc == 0 and out.startswith("sent id <koban.%s.test." % TENANT), (out, err)
        rc, out, err = w.koban("notify", "test", "--tenant", TENANT, "--channel", "phone",
                               "--to", "+15005550001", check=False)
        assert rc == 1 and out.startswith("failed: ") and PHONE_TOKEN not in out + err, \
            (out, err)
    finally:
        w.close()


def api_patch(w, path, token, body):
    """PATCH on serve's API listener with a JSON body: (status, body)."""
    ctx = ssl.create_default_context(cafile=w.ca)
    req = urllib.request.Request(w.base + path, data=json.dumps(body).encode(), method="PATCH")
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def set_match(w, **match):
    """The tenant's policy again, its rule's match changed (None: the key removed)."""
    _, out, _ = w.koban("notify", "policy", "show", "--tenant", TENANT)
    body = json.loads(out)
    for k, v in match.items():
        if v is None:
            body["rules"][0]["match"].pop(k, None)
        else:
            body["rules"][0]["match"][k] = v
    path = os.path.join(w.d, "policy2.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(body))
    w.koban("notify", "policy", "set", "--tenant", TENANT, "--by", "test", path)


def test_level_raised_by_hand():
    """The engine's Critical decision matches no rule (max_level 2): nothing is sent. The
    policy changes; an analyst lowers and raises the level with the CLI (another process)
    while serve runs: on-call A is called, once. Lowered and raised again through the API:
    nothing more (one notice per step). A acknowledges by key press."""
    w = World(after=30)
    try:
        set_match(w, max_level=2, min_level=2)
        w.start()
        w.send_scenario()
        iid = critical_incident(w)["id"]

        def silent():
            why = [e["why"] for e in w.timeline(iid) if e["action"] == "notify"]
            # (the engine may decide Medium first, then Critical: a silence each)
            assert why and all(x.startswith("No notice") for x in why), why
            assert "level 3 (Critical) > 2" in why[-1], why
        eventually("the decision's silence", silent)
        set_match(w, max_level=None, min_level=3)
        for level in ("2", "3"):
            w.koban("incident", "update", "--tenant", TENANT, "--level", level, "--why",
                    "seen by hand", "--by", "analyst", str(iid))
        eventually("the call to A", lambda: len(calls_to(w, ON_CALL_A)) == 1 or
                   (_ for _ in ()).throw(AssertionError(w.twilio.calls)))
        for level in (2, 3):
            status, body = api_patch(w, "/api/v1/incidents/%d" % iid, w.tok[TENANT],
                                     {"level": level, "why": "again by hand"})
            assert status == 200, (status, body)
        time.sleep(3)
        assert len(calls_to(w, ON_CALL_A)) == 1, w.twilio.calls
        status, _, body = press_one(w, calls_to(w, ON_CALL_A)[0])
        assert status == 200, (status, body)
        # the later steps (due in 30 s) are cancelled at once by the acknowledgement (in its
        # own transaction), not when they fall due; the queue gauge follows
        states = sorted((n["channel"], n["to"], n["lead"], n["state"]) for n in w.log(iid))
        assert states == [
            ("mail", LEAD, True, "cancelled"),
            ("mail", MAIL_TO, False, "cancelled"),
            ("phone", ON_CALL_A, False, "sent"),
            ("phone", ON_CALL_B, False, "cancelled"),
            ("teams", "soc-channel", False, "cancelled"),
        ], states
        assert value(w.inst.metrics(), "koban_notify_queue") == 0
        acks = [e for e in w.timeline(iid) if e["action"] == "acknowledged"]
        assert len(acks) == 1 and acks[0]["actor"] == ON_CALL_A, acks
        stopped = [e["why"] for e in w.timeline(iid) if e["action"] == "notify" and
                   e["why"].startswith("Escalation stopped")]
        assert stopped == ["Escalation stopped: the incident was acknowledged; 4 notices not "
                           "sent."], stopped
        assert len(w.twilio.calls) == 1 and w.mails() == [] and w.http.records("teams") == []
        planned = [e["why"] for e in w.timeline(iid) if e["action"] == "notify" and
                   "planned" in e["why"]]
        assert len(planned) == 1 and planned[0].startswith("5 notices planned for level"), \
            planned
    finally:
        w.close()


def holiday_night_lines():
    """The scenario moved from Tuesday 2026-11-24 10:38-11:04 JST to Monday 2026-11-23, a
    national holiday (勤労感謝の日), 02:38-03:04 JST."""
    with open(SCENARIO, encoding="utf-8") as f:
        text = f.read()
    for a, b in (("2026/11/24 10:", "2026/11/23 02:"), ("2026/11/24 11:", "2026/11/23 03:"),
                 ("2026-11-24T10:", "2026-11-23T02:"), ("2026-11-24T11:", "2026-11-23T03:"),
                 ("Nov 24 10:", "Nov 23 02:"), ("Nov 24 11:", "Nov 23 03:")):
        text = text.replace(a, b)
    assert "11/24" not in text and "11-24" not in text and "Nov 24" not in text
    return text


def test_replay_at_0200_on_a_national_holiday():
    """`koban ingest` of the scenario at 02:xx on 2026-11-23 (the law's holiday, no tenant
    holiday): the event time is the clock, so the night-holiday rule matches; the chain is
    planned and logged (A at the decision, B + mail + Teams `after` later, the lead after the
    last step) but nothing is sent without --notify."""
    w = World(after=300, today_holiday=False)
    try:
        path = os.path.join(w.d, "night.log")
        with open(path, "w", encoding="utf-8") as f:
            f.write(holiday_night_lines())
        _, out, _ = w.koban("ingest", "--tenant", TENANT, "--format", "auto", "--tz",
                            "Asia/Tokyo", path)
        assert "notices: 5 planned" in out, out
        inc = w.incident()
        assert inc["level"] == 3, inc
        log = w.log(inc["id"])
        got = [(n["channel"], n["to"], n["lead"], n["state"]) for n in log]
        assert got == [("phone", ON_CALL_A, False, "planned"),
                       ("phone", ON_CALL_B, False, "planned"),
                       ("mail", MAIL_TO, False, "planned"),
                       ("teams", "soc-channel", False, "planned"),
                       ("mail", LEAD, True, "planned")], log
        due = [n["due_ns"] - log[0]["decided_ns"] for n in log]
        assert due == [0, 300 * 10**9, 300 * 10**9, 300 * 10**9, 304 * 10**9], due
        decided = datetime.datetime.fromtimestamp(log[0]["decided_ns"] / 1e9,
                                                  datetime.timezone(datetime.timedelta(hours=9)))
        assert decided.strftime("%Y-%m-%d") == "2026-11-23" and 2 <= decided.hour < 4, decided
        assert w.twilio.calls == [] and w.mails() == [] and w.http.records() == []
        notify = [e["why"] for e in w.timeline(inc["id"]) if e["action"] == "notify"]
        assert any("planned for level Critical (policy rule holiday-critical" in s
                   for s in notify), notify
    finally:
        w.close()


def main():
    s = Suite()
    if not os.access("/usr/sbin/smtp-sink", os.X_OK):
        print("SKIP test_notify: no /usr/sbin/smtp-sink (the postfix package)")
        return
    s.run(test_holiday_escalation)
    s.run(test_holiday_escalation_with_kill_9)
    s.run(test_retry_after_429)
    s.run(test_level_raised_by_hand)
    s.run(test_replay_at_0200_on_a_national_holiday)
    s.done()


if __name__ == "__main__":
    main()
