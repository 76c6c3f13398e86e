"""A local HTTPS stand-in for Twilio's Programmable Voice API and its callbacks (stdlib only).

It speaks the wire format of ../shared/ref/apis.md section 6.1:
  - POST /2010-04-01/Accounts/{AccountSid}/Calls.json, form-encoded, HTTP Basic
    AccountSid:AuthToken -> 201 {"sid": "CA" + 32 hex, "account_sid", "to", "from",
    "status": "queued", "direction": "outbound-api", ...}; bad credentials -> 401
    {"code": 20003, ...}; a To or From that is not E.164, or neither Url, Twiml nor
    ApplicationSid -> 400 {"code": 21211 | 21212 | 21205, "message", "more_info", "status"};
  - magic numbers for faults: To +15005550001 (Twilio's own "invalid number" test number)
    -> 400 21211, +815000000429 -> 429 with Retry-After: 7, +815000000503 -> 503;
  - the callbacks Twilio makes, played back when a test asks: press(url, digits) POSTs the
    <Gather> action form (CallSid, AccountSid, From, To, CallStatus, Direction, ApiVersion,
    Digits) and status(url, call_status) the StatusCallback form, both signed with
    X-Twilio-Signature = base64(HMAC-SHA1(auth token, URL + each parameter sorted by name,
    name then value)), or forged (forge=True: signed with another token).
Every request is recorded (path, headers, form as a list of pairs) for the tests to check.
"""
import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler

from kobanlib import https_serve

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def signature(token, url, pairs):
    """Twilio's X-Twilio-Signature of a POST to url with the form pairs [(name, value)]."""
    data = url + "".join(k + v for k, v in sorted(pairs))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def gather_action(twiml):
    """The action URL of the <Gather> of a TwiML document (XML-unescaped), or None."""
    m = re.search(r'<Gather [^>]*action="([^"]*)"', twiml)
    return html.unescape(m.group(1)) if m else None


class Fake:
    def __init__(self, certfile, keyfile, account_sid="AC" + "0123456789abcdef" * 2,
                 auth_token="fake-auth-token-1"):
        self.sid = account_sid
        self.token = auth_token
        self.lock = threading.Lock()
        self.requests = []   # every request: {"path", "headers", "form", "status"}
        self.calls = []      # the calls placed: {"sid", "form": [(k, v)], "fields": {k: v}}
        handler = self._handler()
        self.httpd, self.url = https_serve(handler, certfile, keyfile)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ the API

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body, rec, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                rec["status"] = status
                with fake.lock:
                    fake.requests.append(rec)

            def error(self, status, code, message, rec, headers=None):
                self.reply(status, {"code": code, "message": message,
                                    "more_info": "https://www.twilio.com/docs/errors/%d" % code,
                                    "status": status}, rec, headers)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
                rec = {"path": self.path, "headers": dict(self.headers.items()), "form": pairs,
                       "body": body}
                m = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/Calls\.json", self.path)
                if not m:
                    return self.error(404, 20404, "The requested resource %s was not found"
                                      % self.path, rec)
                want = "Basic " + base64.b64encode(
                    ("%s:%s" % (fake.sid, fake.token)).encode()).decode()
                if self.headers.get("Authorization") != want or m.group(1) != fake.sid:
                    return self.error(401, 20003, "Authenticate", rec)
                if self.headers.get("Content-Type", "").split(";")[0] != \
                        "application/x-www-form-urlencoded":
                    return self.error(400, 21200, "The body must be form-encoded", rec)
                fields = dict(pairs)
                to, frm = fields.get("To", ""), fields.get("From", "")
                if not E164.match(to) or to == "+15005550001":
                    return self.error(400, 21211, "The 'To' number %s is not a valid phone "
                                      "number." % to, rec)
                if not E164.match(frm):
                    return self.error(400, 21212, "The 'From' number %s is not a valid phone "
                                      "number." % frm, rec)
                if not any(k in fields for k in ("Url", "Twiml", "ApplicationSid")):
                    return self.error(400, 21205, "Url parameter is required.", rec)
                if to == "+815000000429":
                    return self.error(429, 20429, "Too Many Requests", rec, {"Retry-After": "7"})
                if to == "+815000000503":
                    return self.error(503, 20500, "Service Unavailable", rec)
                sid = "CA" + secrets.token_hex(16)
                with fake.lock:
                    fake.calls.append({"sid": sid, "form": pairs, "fields": fields})
                self.reply(201, {
                    "sid": sid, "account_sid": fake.sid, "to": to, "from": frm,
                    "status": "queued", "direction": "outbound-api", "duration": None,
                    "price": None, "price_unit": "USD",
                    "date_created": "Tue, 01 Dec 2026 04:00:00 +0000",
                    "uri": "/2010-04-01/Accounts/%s/Calls/%s.json" % (fake.sid, sid)}, rec)

        return H

    # ------------------------------------------------------------ the callbacks

    def _post(self, url, pairs, forge=False, ca=None, sign=True):
        """POSTs the form pairs to url as Twilio would; returns (status, content type, body)."""
        token = "forged-" + self.token if forge else self.token
        req = urllib.request.Request(url, method="POST",
                                     data=urllib.parse.urlencode(pairs).encode())
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        req.add_header("User-Agent", "TwilioProxy/1.1")
        if sign:
            req.add_header("X-Twilio-Signature", signature(token, url, pairs))
        ctx = ssl.create_default_context(cafile=ca) if ca else None
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def _call_pairs(self, call, status):
        f = call["fields"] if call else {"To": "+819012345678", "From": "+815012345678"}
        return [("AccountSid", self.sid), ("ApiVersion", "2010-04-01"),
                ("CallSid", call["sid"] if call else "CA" + "0" * 32),
                ("CallStatus", status), ("Called", f["To"]), ("Caller", f["From"]),
                ("Direction", "outbound-api"), ("From", f["From"]), ("To", f["To"])]

    def press(self, url, digits, call=None, forge=False, sign=True, ca=None):
        """The <Gather> action callback of call (a recorded call, or a made-up one) after
        the callee pressed digits."""
        pairs = self._call_pairs(call, "in-progress") + [("Digits", digits),
                                                         ("FinishedOnKey", "")]
        return self._post(url, pairs, forge=forge, ca=ca, sign=sign)

    def status(self, url, call_status, call=None, forge=False, ca=None, extra=()):
        """A StatusCallback of call with CallStatus call_status."""
        pairs = self._call_pairs(call, call_status) + [("SequenceNumber", "0"),
                                                       ("Timestamp",
                                                        "Tue, 01 Dec 2026 04:00:05 +0000")]
        pairs += list(extra)
        return self._post(url, pairs, forge=forge, ca=ca)
