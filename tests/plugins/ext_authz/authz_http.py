"""authz_http.py - an HTTP authorization server for the ext_authz tests.

Run with Debian's /usr/bin/python3; `authz_http.py CERT KEY` serves
HTTPS with that certificate. Listens on an ephemeral loopback port
and prints "PORT <n>" on stdout once ready; stops on SIGTERM or when its
stdin closes (so a test that dies never leaves it behind).

What it answers depends on the checked path (after any pathPrefix):

  .../allow...     200, and echoes what it received in x-authz-* headers
                   (the tests copy them to the upstream with
                   headersToBackend): method, path, the names of the
                   headers, some values, the body
  .../deny...      401 with a body and headers (www-authenticate,
                   x-deny-reason, x-internal)
  .../redirect     302 with location
  .../error        500
  .../flaky/KEY... 500 the first time that path is asked, then as above
  .../slow         200 after 3 s (the tests time out first)
  .../close        closes the connection without an answer
  .../big          200 with a 2 MiB body (too large to accept)
  .../headers-N    200 (or 401 when the path has /deny) with exactly N
                   header lines: content-length: 0, then x-h0: v ...
                   x-h<N-2>: v (maxAnswerHeaders)
  .../conn-named   200 (or 401 when the path has /deny) with
                   "connection: keep-alive, x-hop" and x-hop: 1,
                   x-user: alice: x-hop is hop-by-hop by that Connection

Each connection is kept alive (HTTP/1.1); x-authz-conn reports how many
requests this connection has carried, so tests can see reuse. When the
server object has a `seen` list, each check's method, raw request target
(`path`) and Host values are appended to it.
"""

import http.server
import os
import re
import signal
import socketserver
import sys
import threading
import time


FLAKY = {}
FLAKY_LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, headers, body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        self.requests_on_conn = getattr(self, "requests_on_conn", 0) + 1
        body = self._body()
        path = self.path
        seen = getattr(self.server, "seen", None)
        if seen is not None:  # a test asked for a record of each check
            seen.append({"method": self.command, "path": path,
                         "host": self.headers.get_all("host") or []})
        if path.endswith("/close"):
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if path.endswith("/slow"):
            time.sleep(3)
            self._send(200, [])
            return
        many = re.search(r"/headers-([0-9]+)$", path)
        if many:
            status = b"401 Unauthorized" if "/deny" in path else b"200 OK"
            lines = [b"HTTP/1.1 " + status, b"content-length: 0"]
            lines += [b"x-h%d: v" % i for i in range(int(many.group(1)) - 1)]
            self.wfile.write(b"\r\n".join(lines) + b"\r\n\r\n")
            return
        if "/flaky/" in path:  # 500 the first time each path is seen
            with FLAKY_LOCK:
                seen = FLAKY.get(path, 0)
                FLAKY[path] = seen + 1
            if seen == 0:
                self._send(500, [], b"try again")
                return
        if path.endswith("/error"):
            self._send(500, [("x-deny-reason", "boom")], b"server error")
            return
        if path.endswith("/big"):
            self._send(200, [], b"x" * (2 * 1024 * 1024))
            return
        if path.endswith("/conn-named"):
            self._send(401 if "/deny" in path else 200,
                       [("connection", "keep-alive, x-hop"), ("x-hop", "1"),
                        ("x-user", "alice")])
            return
        if path.endswith("/redirect"):
            self._send(302, [("location", "https://login.example/")])
            return
        if "/deny" in path:
            self._send(401, [("www-authenticate", 'Bearer realm="test"'),
                             ("x-deny-reason", "no token"),
                             ("x-internal", "secret")],
                       b"denied by test")
            return
        names = sorted({k.lower() for k in self.headers.keys()})
        echo = [
            ("x-user", "alice"),
            ("x-authz-method", self.command),
            ("x-authz-path", path),
            ("x-authz-seen", ",".join(names)),
            ("x-authz-auth", self.headers.get("authorization", "")),
            ("x-authz-host", self.headers.get("host", "")),
            ("x-authz-custom", self.headers.get("x-custom", "")),
            ("x-authz-added", self.headers.get("x-added", "")),
            ("x-authz-partial",
             self.headers.get("x-envoy-auth-partial-body", "")),
            ("x-authz-body", body.decode("latin-1")),
            ("x-authz-conn", str(self.requests_on_conn)),
            ("x-envoy-auth-headers-to-remove", "x-secret, x-other"),
            ("x-client-hello", "from-authz"),
            ("x-not-copied", "1"),
        ]
        self._send(200, echo)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # concurrent checks: no SYN drops


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 3:  # CERT KEY: serve HTTPS
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print("PORT %d" % srv.server_address[1], flush=True)
    # Exit when the test closes our stdin (or dies).
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
