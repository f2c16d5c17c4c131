#!/usr/bin/env python3
"""Test HTTP(S) receiver for the alert plugin (python3 stdlib only).

Records every request as one JSON line in --out:
  {"t": unix_time, "path": ..., "headers": {...}, "body": <parsed JSON or null>,
   "raw": <text if not JSON>, "status": <what we answered>}
Behaviour is switched at run time with POST /_control {"mode": ..., ...}:
  ok        200 (default)
  fail      --status N (default 500), optional "retry_after"
  garbage   200 with a 1 MiB binary body and no Content-Length
  close     read the request, close without answering
  slow      wait "delay" seconds before answering 200 (slowloris)
  reject    400 with a body mentioning "bad event" for requests whose body
            contains "reject_me", 200 for the rest
A "count" in the control message applies the mode to that many requests,
then falls back to ok. "match" (text in the body) and "path" (exact request
path) restrict the mode to the requests a test means: several alert
instances may share one receiver, and their payloads carry the same text.
"""
import argparse
import json
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

state = {"mode": "ok", "status": 500, "retry_after": None, "delay": 0, "count": None, "match": None, "path": None}
lock = threading.Lock()
out = None


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle plus
        # the client's delayed ACK adds 40 ms to every answer.
        import socket
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, code, body=b"", headers=None, length=True):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        self._reply(200, b"receiver up\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.path == "/_control":
            with lock:
                state.update({"match": None, "path": None, **json.loads(data)})
            self._reply(200, b"ok\n")
            return
        with lock:
            mode = state["mode"]
            # "match"/"path": the mode applies only to the requests they
            # select (others are answered ok and do not use up "count"), so
            # a stray request cannot take a one-shot failure meant for a test.
            if (state.get("match") and state["match"].encode() not in data) or \
                    (state.get("path") and state["path"] != self.path):
                mode = "ok"
            elif state["count"] is not None:
                state["count"] -= 1
                if state["count"] < 0:
                    mode = state["mode"] = "ok"
                    state["count"] = None
                    state["match"] = None
                    state["path"] = None
            st = dict(state)
        text = data.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        status = 200
        if mode == "fail":
            status = st["status"]
        elif mode == "reject" and "reject_me" in text:
            status = 400
        elif mode == "close":
            status = 0
        rec = {"t": time.time(), "path": self.path, "status": status,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body, "raw": None if body is not None else text[:2000]}
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        if mode == "close":
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(st["delay"])
        if mode == "garbage":
            self._reply(200, bytes(range(256)) * 4096, length=False)
            self.close_connection = True
            return
        if status == 200:
            self._reply(200, b'{"status":"success"}')
        elif status == 400:
            self._reply(400, b'{"error":"bad event \x01\x02 <script>"}')
        else:
            h = {"Retry-After": str(st["retry_after"])} if st["retry_after"] is not None else {}
            self._reply(status, b"try later\n", h)


def main():
    global out
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    out = open(a.out, "a")
    srv = Server(("127.0.0.1", a.port), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
