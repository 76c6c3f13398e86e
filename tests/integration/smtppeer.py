#!/usr/bin/env python3
"""smtppeer.py - a small SMTP server for the tests of the smtp notification channel
(tests/unit/test_smtp.c starts it as a child process), and a reader of received messages.

  smtppeer.py tls DIR
      makes DIR/a (ca.pem, server.pem, server.key: a test CA and a certificate for 127.0.0.1)
      and DIR/b (another CA and its certificate) with kobanlib.make_tls.
  smtppeer.py serve --dir DIR --tls starttls|implicit|none [--cert F --key F]
                    [--auth plain|login] [--user U --password P]
                    [--rcpt-reply "550 5.1.1 ..."] [--data-reply "451 ..."]
      listens on 127.0.0.1 (a free port, written to DIR/port when ready), serves sessions one
      after another until killed; with --tls starttls every MAIL before STARTTLS gets 530.
      Each message goes to DIR/N.eml (as received, dot-unstuffed) and DIR/N.txt (summary).
  smtppeer.py parse FILE
      prints the summary of a message file (e.g. one that smtp-sink dumped).

The summary has one "key: value" line per fact, values with \\n and \\r escaped, so the C test
can look for exact lines: subject (decoded with Python's email package), from, to,
message-id, mime-version, content-type, parts (the content types of the leaves), text and html
(the decoded parts), max-line (the longest line of the raw message, without CRLF), defects
(the email package's count), and for served messages starttls, auth, user, password,
mail-from and rcpt.
"""
import argparse
import base64
import email
import email.policy
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def esc(s):
    return s.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def summary(raw):
    lines = raw.split(b"\n")
    max_line = max(len(x.rstrip(b"\r")) for x in lines) if lines else 0
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    defects = len(msg.defects)
    for key in ("subject", "from", "to", "message-id", "mime-version", "auto-submitted"):
        v = msg.get(key)
        out.append("%s: %s" % (key, esc(str(v)) if v is not None else "(none)"))
    out.append("content-type: %s" % msg.get_content_type())
    parts = []
    for p in msg.walk():
        defects += len(p.defects)
        if p.is_multipart():
            continue
        parts.append(p.get_content_type())
        if p.get_content_type() in ("text/plain", "text/html"):
            out.append("%s-charset: %s" % (p.get_content_subtype(), p.get_content_charset()))
            out.append("%s-cte: %s" % (p.get_content_subtype(), p["content-transfer-encoding"]))
            out.append("%s: %s" % (p.get_content_subtype() if p.get_content_subtype() != "plain"
                                   else "text", esc(p.get_content())))
    out.append("parts: %s" % ",".join(parts))
    out.append("max-line: %d" % max_line)
    out.append("defects: %d" % defects)
    return out


class Session:
    def __init__(self, conn, args, n):
        self.sock = conn
        self.args = args
        self.n = n
        self.rf = conn.makefile("rb")
        self.tls = args.tls == "implicit"
        self.facts = {"starttls": "no", "auth": "none", "user": "", "password": ""}

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def readline(self):
        line = self.rf.readline(65536)
        if not line:
            raise EOFError
        return line.rstrip(b"\r\n").decode("utf-8", "replace")

    def ehlo(self):
        lines = ["250-koban-smtppeer"]
        if self.args.tls == "starttls" and not self.tls:
            lines.append("250-STARTTLS")
        if self.args.auth and (self.tls or self.args.tls == "none"):
            lines.append("250-AUTH %s" % self.args.auth.upper())
        lines.append("250 8BITMIME")
        for x in lines:
            self.send(x)

    def auth(self, words):
        mech = words[1].upper() if len(words) > 1 else ""
        if mech == "PLAIN":
            data = words[2] if len(words) > 2 else None
            if data is None:
                self.send("334 ")
                data = self.readline()
            parts = base64.b64decode(data).split(b"\0")
            user, pw = parts[1].decode(), parts[2].decode()
        elif mech == "LOGIN":
            if len(words) > 2:
                user = base64.b64decode(words[2]).decode()
            else:
                self.send("334 VXNlcm5hbWU6")
                user = base64.b64decode(self.readline()).decode()
            self.send("334 UGFzc3dvcmQ6")
            pw = base64.b64decode(self.readline()).decode()
        else:
            self.send("504 5.5.4 mechanism not offered")
            return
        self.facts.update(auth=mech, user=user, password=pw)
        if user == self.args.user and pw == self.args.password:
            self.send("235 2.7.0 authenticated")
        else:
            self.send("535 5.7.8 authentication credentials invalid")

    def run(self):
        self.send("220 koban-smtppeer ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.readline()
            words = line.split(" ")
            verb = words[0].upper()
            if verb in ("EHLO", "HELO"):
                self.ehlo()
            elif verb == "STARTTLS" and self.args.tls == "starttls" and not self.tls:
                self.send("220 2.0.0 ready to start TLS")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.args.cert, self.args.key)
                self.sock = ctx.wrap_socket(self.sock, server_side=True)
                self.rf = self.sock.makefile("rb")
                self.tls = True
                self.facts["starttls"] = "yes"
            elif verb == "AUTH":
                self.auth(words)
            elif verb == "MAIL":
                if self.args.tls == "starttls" and not self.tls:
                    self.send("530 5.7.0 must issue a STARTTLS command first")
                    continue
                mail_from, rcpts = line[10:], []
                self.send("250 2.1.0 ok")
            elif verb == "RCPT":
                if self.args.rcpt_reply:
                    self.send(self.args.rcpt_reply)
                    continue
                rcpts.append(line[8:])
                self.send("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 no valid recipients")
                    continue
                self.send("354 end data with <CR><LF>.<CR><LF>")
                raw = []
                while True:
                    x = self.rf.readline(1 << 20)
                    if not x:
                        raise EOFError
                    if x == b".\r\n":
                        break
                    raw.append(x[1:] if x.startswith(b".") else x)
                if self.args.data_reply:
                    self.send(self.args.data_reply)
                    continue
                self.save(b"".join(raw), mail_from, rcpts)
                self.send("250 2.0.0 queued as %d" % self.n)
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.send("250 2.0.0 ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 command not recognized")

    def save(self, raw, mail_from, rcpts):
        base = os.path.join(self.args.dir, "%d" % self.n)
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        out = summary(raw)
        out += ["%s: %s" % (k, esc(v)) for k, v in sorted(self.facts.items())]
        out.append("mail-from: %s" % mail_from)
        out.append("rcpt: %s" % ",".join(rcpts))
        with open(base + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
        os.rename(base + ".tmp", base + ".txt")
        self.n += 1


def serve(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    n = 0
    while True:
        conn, _ = ls.accept()
        conn.settimeout(20)
        try:
            if args.tls == "implicit":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(args.cert, args.key)
                conn = ctx.wrap_socket(conn, server_side=True)
            s = Session(conn, args, n)
            try:
                s.run()
            finally:
                n = s.n
        except (EOFError, OSError, ssl.SSLError, ValueError, IndexError) as e:
            with open(os.path.join(args.dir, "errors"), "a") as f:
                f.write("%s\n" % e)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "tls":
        from kobanlib import make_tls
        for sub in ("a", "b"):
            os.makedirs(os.path.join(sys.argv[2], sub), exist_ok=True)
            make_tls(os.path.join(sys.argv[2], sub))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "parse":
        with open(sys.argv[2], "rb") as f:
            print("\n".join(summary(f.read())))
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["serve"])
    p.add_argument("--dir", required=True)
    p.add_argument("--tls", choices=["starttls", "implicit", "none"], required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", choices=["plain", "login"])
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--rcpt-reply")
    p.add_argument("--data-reply")
    serve(p.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
