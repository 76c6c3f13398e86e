"""notifyfake.py - a local HTTPS stand-in for the services koban's HTTP notification channels
post to (stdlib only): Microsoft Teams (a Workflows webhook taking an Adaptive Card, and the
legacy Office 365 connector taking a MessageCard), the PagerDuty Events API v2, and a
receiver of koban's signed webhooks. Wire formats: ../shared/ref/apis.md 5 and 6.2, and
docs/channels.md. (The phone service, Twilio, has its own fake.)

It answers as the services do and checks what it receives, recording every request:
  teams      POST /workflows/ID/triggers/manual/paths/invoke?api-version=1&sp=...&sv=1.0&sig=S
             -> 202 with an empty body, whatever the card (Workflows reports card errors only in
             the flow's run history); a wrong sig -> 401. Checked: {"type":"message",
             "attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
             "content":{"type":"AdaptiveCard","version","body":[...],"actions":[...]}}]},
             known element types, TextBlock text, FactSet facts, Action.OpenUrl url and title
             (Action.Submit / Action.Execute have no bot to receive them: an error), <= 28 KB.
  legacy     POST /webhookb2/ID/IncomingWebhook/ID/ID -> 200 with the body "1"; a card without
             summary or text -> 400 "Summary or Text is required."; throttling is answered as
             the connector does, 200 with "Microsoft Teams endpoint returned HTTP error 429".
  pagerduty  POST /v2/enqueue -> 202 {"status":"success","message":"Event processed",
             "dedup_key":...}; an invalid event (routing key, event_action, dedup_key <= 255,
             payload summary 1..1024 chars, source, severity, ISO 8601 timestamp, links) -> 400
             {"status":"invalid event","message":"Event object is invalid","errors":[...]}.
  webhook    POST /hook/ANY -> 200 {"ok":true} when X-Koban-Signature is "sha256=" HMAC-SHA256
             of X-Koban-Timestamp "." body under the secret and the timestamp is within 300 s;
             401 otherwise. The body must be koban's notice document.

Python API (tests/integration):
    fake = Fake(certfile, keyfile, routing_key="R" * 32, webhook_secret=b"...")
    fake.teams_url, fake.legacy_url, fake.pagerduty_url, fake.webhook_url
    fake.fault(kind, status, retry_after=None)  # the next request of kind gets this answer:
                                               # 429 (with Retry-After), 400, 500, 503, or
                                               # "throttle" (legacy: 429 inside a 200)
    fake.records(kind=None)  # [{"kind","method","path","headers","body","json","status",
                             #   "errors"}], oldest first; errors: what failed the checks
    fake.reset(); fake.close()

Command line (C unit tests start it as a child process):
    python3 notifyfake.py --dir DIR [--routing-key KEY] [--webhook-secret-file FILE]
makes a test CA and a certificate for 127.0.0.1 in DIR/tls (kobanlib.make_tls), writes one
line "ready BASE_URL CA_FILE TEAMS_SIG" to stdout and then answers commands read from stdin,
one line each:
    fault KIND STATUS [RETRY_AFTER]   -> "ok"
    count KIND                        -> "N INVALID" (requests of KIND, how many failed checks)
    last KIND                         -> the last record of KIND as one JSON line, or "null"
    reset                             -> "ok"
End of input stops it (so it never outlives the test that started it).
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kobanlib import https_serve, make_tls  # noqa: E402

KINDS = ("teams", "legacy", "pagerduty", "webhook")
TEAMS_MAX = 28 * 1024
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Column", "Container", "Image", "ImageSet",
            "ActionSet", "RichTextBlock", "Table"}
ACTIONS = {"Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility"}
SEVERITIES = {"critical", "error", "warning", "info"}
WINDOW = 300


def is_url(v):
    return isinstance(v, str) and re.match(r"^https?://[^\s/]+", v) is not None


def check_adaptive(doc):
    errs = []
    if not isinstance(doc, dict) or doc.get("type") != "message":
        return ['the top level is not {"type":"message",...}']
    atts = doc.get("attachments")
    if not isinstance(atts, list) or not atts:
        return ["'attachments' is missing or empty (the flow's foreach fails on Null)"]
    for a in atts:
        if a.get("contentType") != ADAPTIVE:
            errs.append("contentType is %r, not %s" % (a.get("contentType"), ADAPTIVE))
        card = a.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            errs.append("content is not an AdaptiveCard")
            continue
        if not isinstance(card.get("version"), str):
            errs.append("the card has no version")
        body = card.get("body")
        if not isinstance(body, list) or not body:
            errs.append("the card has no body")
            body = []

        def element(e, where):
            if not isinstance(e, dict) or e.get("type") not in ELEMENTS:
                errs.append("%s: unknown element %r" % (where, e))
                return
            if e["type"] == "TextBlock" and not isinstance(e.get("text"), str):
                errs.append("%s: a TextBlock without text" % where)
            if e["type"] == "FactSet":
                facts = e.get("facts")
                if not isinstance(facts, list) or not facts or not all(
                        isinstance(f, dict) and isinstance(f.get("title"), str) and
                        isinstance(f.get("value"), str) for f in facts):
                    errs.append("%s: a FactSet needs facts of title and value strings" % where)
            for sub in e.get("items", []) if isinstance(e.get("items"), list) else []:
                element(sub, where + ".items")
        for i, e in enumerate(body):
            element(e, "body[%d]" % i)
        for i, act in enumerate(card.get("actions", [])):
            t = act.get("type") if isinstance(act, dict) else None
            if t not in ACTIONS:
                errs.append("actions[%d]: %r has no receiver in a Workflows card" % (i, t))
            elif t == "Action.OpenUrl" and (not is_url(act.get("url")) or
                                            not isinstance(act.get("title"), str)):
                errs.append("actions[%d]: an Action.OpenUrl needs a title and a url" % i)
    return errs


def check_messagecard(doc):
    errs = []
    if not isinstance(doc, dict) or doc.get("@type") != "MessageCard":
        return ["not a MessageCard"]
    if doc.get("@context") != "http://schema.org/extensions":
        errs.append("@context is not http://schema.org/extensions")
    if not doc.get("summary") and not doc.get("text"):
        errs.append("Summary or Text is required.")
    tc = doc.get("themeColor")
    if tc is not None and not re.match(r"^[0-9A-Fa-f]{6}$", str(tc)):
        errs.append("themeColor %r is not RRGGBB" % tc)
    for s in doc.get("sections", []):
        for f in s.get("facts", []):
            if not isinstance(f.get("name"), str) or not isinstance(f.get("value"), str):
                errs.append("a fact needs name and value strings")
    for a in doc.get("potentialAction", []):
        if a.get("@type") != "OpenUri":
            errs.append("potentialAction %r needs actionable-message registration" %
                        a.get("@type"))
            continue
        targets = a.get("targets")
        if not a.get("name") or not isinstance(targets, list) or not targets or not all(
                t.get("os") in ("default", "iOS", "android", "windows") and is_url(t.get("uri"))
                for t in targets):
            errs.append("an OpenUri needs a name and targets of os and uri")
    return errs


def iso8601(v):
    try:
        datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return True
    except (ValueError, AttributeError):
        return False


def check_pagerduty(doc, routing_key):
    errs = []
    if not isinstance(doc, dict):
        return ["the event is not a JSON object"]
    if routing_key is not None and doc.get("routing_key") != routing_key:
        errs.append("Invalid routing key")
    action = doc.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errs.append("'event_action' is invalid")
    dk = doc.get("dedup_key")
    if dk is not None and (not isinstance(dk, str) or not dk or len(dk) > 255):
        errs.append("'dedup_key' must be 1 to 255 characters")
    if action in ("acknowledge", "resolve") and not dk:
        errs.append("'dedup_key' is required for %s" % action)
    if action == "trigger":
        p = doc.get("payload")
        if not isinstance(p, dict):
            return errs + ["'payload' is missing"]
        s = p.get("summary")
        if not isinstance(s, str) or not s.strip():
            errs.append("'payload.summary' is missing or blank")
        elif len(s) > 1024:
            errs.append("'payload.summary' is longer than 1024 characters")
        if not isinstance(p.get("source"), str) or not p.get("source"):
            errs.append("'payload.source' is missing or blank")
        if p.get("severity") not in SEVERITIES:
            errs.append("'payload.severity' must be one of critical, error, warning, info")
        if "timestamp" in p and not iso8601(p["timestamp"]):
            errs.append("'payload.timestamp' is not ISO 8601")
        for k in ("component", "group", "class"):
            if k in p and not isinstance(p[k], str):
                errs.append("'payload.%s' is not a string" % k)
        if "custom_details" in p and not isinstance(p["custom_details"], (dict, str)):
            errs.append("'payload.custom_details' is not an object")
    for ln in doc.get("links", []):
        if not isinstance(ln, dict) or not is_url(ln.get("href")):
            errs.append("a link needs an href")
    for im in doc.get("images", []):
        if not isinstance(im, dict) or not str(im.get("src", "")).startswith("https://"):
            errs.append("an image src must be https")
    if len(json.dumps(doc)) > 512 * 1024:
        errs.append("the event is larger than 512 KB")
    return errs


def check_webhook(headers, raw, secret):
    ts = headers.get("X-Koban-Timestamp", "")
    sig = headers.get("X-Koban-Signature", "")
    if not ts.isdigit():
        return ["X-Koban-Timestamp is missing or not whole seconds"]
    if abs(time.time() - int(ts)) > WINDOW:
        return ["X-Koban-Timestamp is outside the %d s window" % WINDOW]
    want = "sha256=" + hmac.new(secret, ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return ["X-Koban-Signature does not verify"]
    try:
        doc = json.loads(raw)
    except ValueError:
        return ["the body is not JSON"]
    errs = []
    if doc.get("type") != "koban.notice" or doc.get("version") != 1:
        errs.append("not a koban.notice version 1")
    for k, t in (("tenant", str), ("incident", int), ("level", int), ("message_id", str),
                 ("test", bool), ("notice", int), ("links", dict)):
        if not isinstance(doc.get(k), t):
            errs.append("%r is missing or not a %s" % (k, t.__name__))
    if isinstance(doc.get("level"), int) and not 0 <= doc["level"] <= 3:
        errs.append("level outside 0..3")
    return errs


class Fake:
    def __init__(self, certfile, keyfile, routing_key=None, webhook_secret=b"koban-test-secret"):
        self.routing_key = routing_key
        self.webhook_secret = webhook_secret
        self.teams_sig = hashlib.sha256(os.urandom(16)).hexdigest()[:43]
        self.lock = threading.Lock()
        self.faults = {k: [] for k in KINDS}
        self.requests = []
        self.httpd, self.url = https_serve(self._handler(), certfile, keyfile)
        self.teams_url = (self.url + "/workflows/3c1f7b9e/triggers/manual/paths/invoke"
                          "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" +
                          self.teams_sig)
        self.legacy_url = self.url + "/webhookb2/6e2f@9a1d/IncomingWebhook/0f4c/7d21"
        self.pagerduty_url = self.url + "/v2/enqueue"
        self.webhook_url = self.url + "/hook/soc"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault(self, kind, status, retry_after=None):
        with self.lock:
            self.faults[kind].append((status, retry_after))

    def records(self, kind=None):
        with self.lock:
            return [r for r in self.requests if kind is None or r["kind"] == kind]

    def reset(self):
        with self.lock:
            self.requests.clear()
            for q in self.faults.values():
                q.clear()

    # ---------------------------------------------------------------- answers

    def answer(self, kind, rec, raw, headers):
        """(status, extra headers, body bytes) for one request."""
        with self.lock:
            fault = self.faults[kind].pop(0) if self.faults[kind] else None
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        rec["json"] = doc
        if kind == "webhook":
            rec["errors"] = check_webhook(headers, raw, self.webhook_secret)
        elif doc is None:
            rec["errors"] = ["the body is not JSON"]
        elif kind == "teams":
            rec["errors"] = check_adaptive(doc)
        elif kind == "legacy":
            rec["errors"] = check_messagecard(doc)
        else:
            rec["errors"] = check_pagerduty(doc, self.routing_key)
        if not (headers.get("Content-Type") or "").startswith("application/json"):
            rec["errors"].append("Content-Type is not application/json")
        if kind in ("teams", "legacy") and len(raw) > TEAMS_MAX:
            rec["errors"].append("larger than 28 KB")
            return 413, {}, b'{"error":{"code":"RequestEntityTooLarge"}}'
        if fault:
            return self.fault_answer(kind, *fault)
        if kind == "teams":
            return 202, {}, b""
        if kind == "legacy":
            if "Summary or Text is required." in rec["errors"]:
                return 400, {}, b"Summary or Text is required."
            return 200, {}, b"1"
        if kind == "pagerduty":
            if rec["errors"]:
                return 400, {}, json.dumps({"status": "invalid event",
                                            "message": "Event object is invalid",
                                            "errors": rec["errors"]}).encode()
            return 202, {}, json.dumps({"status": "success", "message": "Event processed",
                                        "dedup_key": doc.get("dedup_key") or
                                        "d41d8cd98f00b204e9800998ecf8427e"}).encode()
        if rec["errors"]:
            return 401, {}, json.dumps({"error": rec["errors"][0]}).encode()
        return 200, {}, b'{"ok":true}'

    @staticmethod
    def fault_answer(kind, status, retry_after):
        h = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == "throttle":  # the legacy connector: 429 inside a 200
            return 200, {}, (b"Microsoft Teams endpoint returned HTTP error 429 with "
                             b"ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,"
                             b"cv=deadbeef.0.")
        status = int(status)
        if kind == "pagerduty":
            body = {400: {"status": "invalid event", "message": "Event object is invalid",
                          "errors": ["'payload.summary' is missing or blank"]},
                    429: {"status": "throttle event", "message": "Requests for this "
                          "service are arriving too quickly. Please retry later."}}.get(
                status, {"status": "error", "message": "internal error"})
        elif kind == "teams":
            body = {"error": {"code": "TooManyRequests" if status == 429 else
                              "BadRequest" if status == 400 else "InternalServerError",
                              "message": "Rate limit is exceeded." if status == 429 else
                              "The request failed."}}
        else:
            body = {"error": "fault %d" % status}
        return status, h, json.dumps(body).encode()

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                kind = ("teams" if u.path.startswith("/workflows/") else
                        "legacy" if u.path.startswith("/webhookb2/") else
                        "pagerduty" if u.path == "/v2/enqueue" else
                        "webhook" if u.path.startswith("/hook/") else None)
                headers = dict(self.headers.items())
                rec = {"kind": kind, "method": "POST", "path": u.path, "headers": headers,
                       "body": raw.decode("utf-8", "replace"), "json": None, "errors": []}
                if kind is None:
                    status, extra, body = 404, {}, b'{"error":"no such path"}'
                elif kind == "teams" and q.get("sig") != [fake.teams_sig]:
                    rec["errors"] = ["the sig of the URL is wrong"]
                    status, extra, body = 401, {}, json.dumps({"error": {
                        "code": "DirectApiAuthorizationRequired",
                        "message": "The request must be authenticated."}}).encode()
                else:
                    status, extra, body = fake.answer(kind, rec, raw, headers)
                rec["status"] = status
                with fake.lock:
                    fake.requests.append(rec)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                if body:
                    self.send_header("Content-Type", "application/json; charset=utf-8"
                                     if body[:1] == b"{" else "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()
        return H


def serve_commands(fake, ca):
    """The command-line protocol of the module's docstring, on stdin and stdout."""
    print("ready %s %s %s" % (fake.url, ca, fake.teams_sig), flush=True)
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "fault" and len(w) in (3, 4) and w[1] in KINDS:
            status = w[2] if w[2] == "throttle" else int(w[2])
            fake.fault(w[1], status, int(w[3]) if len(w) == 4 else None)
            out = "ok"
        elif w[0] == "count" and len(w) == 2:
            recs = fake.records(w[1])
            out = "%d %d" % (len(recs), sum(1 for r in recs if r["errors"]))
        elif w[0] == "last" and len(w) == 2:
            recs = fake.records(w[1])
            out = json.dumps(recs[-1] if recs else None, ensure_ascii=True)
        elif w[0] == "reset":
            fake.reset()
            out = "ok"
        else:
            out = "error unknown command"
        print(out, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--routing-key")
    ap.add_argument("--webhook-secret-file")
    a = ap.parse_args()
    ca, cert, key = make_tls(a.dir)
    secret = b"koban-test-secret"
    if a.webhook_secret_file:
        with open(a.webhook_secret_file, "rb") as f:
            secret = f.read().rstrip(b"\r\n")
    fake = Fake(cert, key, routing_key=a.routing_key, webhook_secret=secret)
    try:
        serve_commands(fake, ca)
    finally:
        fake.close()


if __name__ == "__main__":
    main()
