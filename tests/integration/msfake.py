"""A local HTTPS stand-in for the Microsoft endpoints koban's pollers call (stdlib only).

It speaks the wire format of ../shared/ref/apis.md and intel-and-transports.md:
  - POST /{directory}/oauth2/v2.0/token  (client credentials, form body) -> a bearer token
    {"token_type":"Bearer","expires_in":3599,"access_token":...}; a wrong secret gets 401
    {"error":"invalid_client","error_description":"AADSTS7000215: ..."};
  - GET /v1.0/security/{alerts_v2,incidents}?$filter=lastUpdateDateTime ge T&$top=N
    -> {"@odata.context":...,"value":[...],"@odata.nextLink":absolute URL with $skiptoken};
  - POST /v1/workspaces/{id}/query with {"query": KQL} -> {"tables":[{"name":"PrimaryResult",
    "columns":[...],"rows":[...]}]}, windowed on the query's lo/hi and `take`, as the real
    service would evaluate koban's KQL.
Faults are queued per path kind ("token", "graph", "la") and answered before the real
reply: (429, {"Retry-After": "1"}), (503, {}), "expire" (the caller's token expires, so the
request gets a 401 InvalidAuthenticationToken), ("partial", code) for Log Analytics.
Every request is recorded (method, path, headers, body) for the tests to check.
"""
import datetime
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from kobanlib import https_serve


def iso(ts):
    """Unix seconds -> 2026-11-30T01:02:03.4560000Z (7 fraction digits, as Azure writes)."""
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (d.microsecond * 10)


def parse_iso(s):
    s = s.rstrip("Z")
    frac = 0.0
    if "." in s:
        s, f = s.split(".")
        frac = float("0." + f)
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return d.timestamp() + frac


class Fake:
    def __init__(self, certfile, keyfile, secret, directory="contoso.onmicrosoft.com"):
        self.secret = secret
        self.directory = directory
        self.lock = threading.Lock()
        self.alerts = []        # Graph records (dicts)
        self.incidents = []
        self.tables = {}        # table -> (columns, [(ingestion ts, row list)])
        self.faults = {"token": [], "graph": [], "la": []}
        self.requests = []
        self.tokens = {}        # token -> scope
        self.expired = set()
        self.issued = 0
        self.next_link_host = None  # set to send nextLinks to another origin
        handler = self._handler()
        self.httpd, self.url = https_serve(handler, certfile, keyfile)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault(self, kind, *items):
        with self.lock:
            self.faults[kind].extend(items)

    def count(self, kind, status=None):
        with self.lock:
            return sum(1 for r in self.requests if r["kind"] == kind and
                       (status is None or r["status"] == status))

    # ---------------------------------------------------------------- handlers

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, kind, status, body=None, headers=None, rec=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                rec["status"] = status
                with fake.lock:
                    fake.requests.append(rec)

            def handle_one(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                path = self.path
                kind = ("token" if path.endswith("/oauth2/v2.0/token") else
                        "graph" if path.startswith("/v1.0/security/") else
                        "la" if "/v1/workspaces/" in path else "other")
                rec = {"kind": kind, "method": method, "path": path, "body": body,
                       "headers": dict(self.headers.items())}
                with fake.lock:
                    fault = fake.faults[kind].pop(0) if fake.faults.get(kind) else None
                if kind == "token":
                    return fake.token(self, rec, body, fault)
                if kind == "other":
                    return self.reply(kind, 404, {"error": {"code": "PathNotFoundError",
                                                            "message": "no such path"}},
                                      rec=rec)
                tok = (self.headers.get("Authorization") or "")[len("Bearer "):]
                if fault == "expire":
                    with fake.lock:
                        fake.expired.add(tok)
                    fault = None
                with fake.lock:
                    known, expired = tok in fake.tokens, tok in fake.expired
                if not known or expired:
                    return self.reply(kind, 401, {"error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token has expired or is not yet valid.",
                        "innerError": {"date": "2026-11-30T00:00:00",
                                       "request-id": "94fb3b52"}}}, rec=rec)
                if isinstance(fault, tuple) and fault[0] in (429, 500, 502, 503, 504):
                    if fault[0] == 429:
                        return self.reply(kind, 429, {"error": {
                            "code": "TooManyRequests", "innerError": {
                                "code": "429", "date": "2020-08-18T12:51:51",
                                "message": "Please retry after", "status": "429"},
                            "message": "Please retry again later."}}, fault[1], rec=rec)
                    return self.reply(kind, fault[0], {"error": {
                        "code": "ServiceUnavailable", "message": "try later"}}, fault[1],
                        rec=rec)
                if kind == "graph":
                    return fake.graph(self, rec)
                return fake.loganalytics(self, rec, body, fault)

            def do_GET(self):
                self.handle_one("GET")

            def do_POST(self):
                self.handle_one("POST")
        return H

    def token(self, h, rec, body, fault):
        form = urllib.parse.parse_qs(body)
        if isinstance(fault, tuple):
            return h.reply("token", fault[0], {"error": "temporarily_unavailable",
                                               "error_description": "AADSTS500000: busy"},
                           fault[1], rec=rec)
        if h.headers.get("Content-Type") != "application/x-www-form-urlencoded" or \
                form.get("grant_type") != ["client_credentials"]:
            return h.reply("token", 400, {"error": "invalid_request",
                                          "error_description": "AADSTS900144: grant_type"},
                           rec=rec)
        if form.get("client_secret") != [self.secret] or \
                h.path != "/%s/oauth2/v2.0/token" % self.directory:
            return h.reply("token", 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215], "timestamp": "2026-11-30 02:02:12Z",
                "trace_id": "255d1aef", "correlation_id": "fb3d2015"}, rec=rec)
        with self.lock:
            self.issued += 1
            tok = "tok-%d" % self.issued
            self.tokens[tok] = form.get("scope", [""])[0]
        rec["scope"] = form.get("scope", [""])[0]
        h.reply("token", 200, {"token_type": "Bearer", "expires_in": 3599,
                               "ext_expires_in": 3599, "access_token": tok}, rec=rec)

    def graph(self, h, rec):
        u = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(u.query)
        which = u.path.rsplit("/", 1)[1]
        m = re.fullmatch(r"lastUpdateDateTime ge (\S+)", q.get("$filter", [""])[0])
        if which not in ("alerts_v2", "incidents") or not m:
            return h.reply("graph", 400, {"error": {"code": "BadRequest",
                                                    "message": "bad filter"}}, rec=rec)
        since = parse_iso(m.group(1))
        top = int(q.get("$top", ["50"])[0])
        skip = int(q.get("$skiptoken", ["0"])[0])
        with self.lock:
            items = [a for a in (self.alerts if which == "alerts_v2" else self.incidents)
                     if parse_iso(a["lastUpdateDateTime"]) >= since]
        page = items[skip:skip + top]
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/" + which,
                "value": page}
        if skip + top < len(items):
            host = self.next_link_host or self.url
            body["@odata.nextLink"] = "%s/v1.0/security/%s?%s" % (host, which, urllib.parse.urlencode(
                {"$filter": q["$filter"][0], "$top": top, "$skiptoken": skip + top},
                quote_via=urllib.parse.quote))
        h.reply("graph", 200, body, rec=rec)

    def loganalytics(self, h, rec, body, fault):
        if h.headers.get("Content-Type") != "application/json":
            return h.reply("la", 200, None, rec=rec)  # the service's real pitfall
        kql = json.loads(body)["query"]
        rec["query"] = kql
        lo = parse_iso(re.search(r"let lo = datetime\((\S+)\);", kql).group(1))
        hi = parse_iso(re.search(r"let hi = datetime\((\S+)\);", kql).group(1))
        table = kql.split("\n")[2].strip()
        op = re.search(r"_koban_ingested (>=|>) lo", kql).group(1)
        take = int(re.search(r"\| take (\d+)", kql).group(1))
        with self.lock:
            columns, rows = self.tables.get(table, (None, None))
        if columns is None:
            return h.reply("la", 400, {"error": {"code": "BadArgumentError", "message":
                                                 "'%s' could not be resolved" % table}},
                           rec=rec)
        sel = [(ing, r) for ing, r in sorted(rows, key=lambda x: x[0])
               if (ing >= lo if op == ">=" else ing > lo) and ing <= hi][:take]
        cols = [{"name": c, "type": t} for c, t in columns] + \
            [{"name": "_koban_ingested", "type": "datetime"}]
        out = {"tables": [{"name": "PrimaryResult", "columns": cols,
                           "rows": [r + [iso(ing)] for ing, r in sel]}]}
        if isinstance(fault, tuple) and fault[0] == "partial":
            out["error"] = {"code": "PartialError", "message": "There were some errors when "
                            "processing your query.", "details": [{"code": fault[1]}]}
        h.reply("la", 200, out, rec=rec)
