"""hostile_jwks.py - an HTTPS JWKS server that misbehaves on purpose, run
in a thread of the test (so the test sees what it did, when).

A remote JWKS is fetched by each nginx worker with libcurl; what a
hostile or broken identity provider can do to the gateway is decided by
how the fetch is bounded. The path of the request picks the behaviour:

    /jwks.json      200 with the JWKS (well-behaved)
    /hang           accept, read the request, never answer (until stop())
    /hold           wait until release() is called, then answer the JWKS
    /garbage        200 with a body that is not JSON
    /huge           200, Content-Length: 1 GiB, streamed until the peer
                    closes (.sent[path] counts what it took)
    /huge-chunked   the same without a length (chunked, endless)
    /redirect       302 to `redirect_to` (another server's JWKS)
    /half           200, Content-Length of the JWKS, half of it, close
    /slow?ms=N      the whole JWKS answer one byte every N ms
    /status-only    "HTTP/1.1 200 OK\r\n" and close (no headers, no end)
    /headers-cut    200 and a few headers, no empty line, close
    /cl-te          200 with Content-Length and Transfer-Encoding:
                    chunked; the chunked reading is the whole JWKS
    /two-cl         200 with two different Content-Lengths; the first
                    is the JWKS's length, the body the JWKS

The certificate (CN/SAN 127.0.0.1) and its CA come from jwks_server.py's
make_certs (tests/plugins/jwt_auth, reused read-only). Every request is
recorded in .requests as (path, time); .closed_after[path] is how long
after the request the client went away (for the bounded ones).
Every wait is bounded (HOLD_LIMIT_S), so a test can never hang on it.
"""

import json
import os
import socket
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get(
    "GWF_JWT_TEST_DIR", os.path.join(HERE, "..", "..", "plugins", "jwt_auth")))

from jwks_server import make_certs  # noqa: E402

HOLD_LIMIT_S = 20
GIB = 1 << 30


class HostileJwks:
    def __init__(self, directory, jwks):
        cert, key = make_certs(directory)
        self.ca_file = os.path.join(directory, "ca.pem")
        os.chmod(self.ca_file, 0o644)  # nginx workers may not be root
        self.body = json.dumps(jwks).encode()
        self.redirect_to = None
        self.requests = []
        self.sent = {}
        self.closed_after = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._release = threading.Event()
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def hits(self, path):
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def release(self):
        self._release.set()

    def stop(self):
        self._stop.set()
        self._release.set()
        self._thread.join(5)
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- serving ---------------------------------------------------------

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,),
                             daemon=True).start()

    def _connection(self, raw):
        raw.settimeout(5)
        try:
            conn = self._ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                part = conn.recv(4096)
                if not part:
                    return
                head += part
            target = head.split(b" ", 2)[1].decode("latin-1")
            path, _, query = target.partition("?")
            with self._lock:
                self.requests.append((path, time.monotonic()))
            self._answer(conn, path, query, time.monotonic())
        except (OSError, ssl.SSLError, IndexError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _head(self, status, reason, extra):
        return ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                "%sConnection: close\r\n\r\n"
                % (status, reason, extra)).encode()

    def _ok(self, body):
        return self._head(200, "OK", "Content-Length: %d\r\n" % len(body)) \
            + body

    def _wait_peer_gone(self, conn, limit):
        """Block until the client closes (or `limit`, or stop())."""
        deadline = time.monotonic() + limit
        conn.settimeout(0.05)
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn.recv(1) == b"":
                    return True
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                return True
        return False

    def _record_close(self, path, start):
        with self._lock:
            self.closed_after[path] = time.monotonic() - start

    def _answer(self, conn, path, query, start):
        if path == "/jwks.json":
            conn.sendall(self._ok(self.body))
        elif path == "/hang":
            if self._wait_peer_gone(conn, HOLD_LIMIT_S):
                self._record_close(path, start)
        elif path == "/hold":
            self._release.wait(HOLD_LIMIT_S)
            conn.sendall(self._ok(self.body))
        elif path == "/garbage":
            conn.sendall(self._ok(b"<html>\x00\xff not a JWKS {{{\n"))
        elif path in ("/huge", "/huge-chunked"):
            self._stream_huge(conn, path, start)
        elif path == "/redirect":
            conn.sendall(self._head(302, "Found", "Location: %s\r\n"
                                    "Content-Length: 0\r\n"
                                    % self.redirect_to))
        elif path == "/half":
            whole = self._ok(self.body)
            conn.sendall(whole[:len(whole) - len(self.body) // 2])
        elif path == "/status-only":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
        elif path == "/headers-cut":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n"
                         % len(self.body))
        elif path == "/cl-te":
            conn.sendall(self._head(200, "OK", "Content-Length: %d\r\n"
                                    "Transfer-Encoding: chunked\r\n"
                                    % len(self.body))
                         + b"%x\r\n" % len(self.body) + self.body
                         + b"\r\n0\r\n\r\n")
        elif path == "/two-cl":
            conn.sendall(self._head(200, "OK", "Content-Length: %d\r\n"
                                    "Content-Length: %d\r\n"
                                    % (len(self.body), len(self.body) + 7))
                         + self.body)
        elif path == "/slow":
            ms = int(query.partition("ms=")[2] or "50")
            self._send_slowly(conn, self._ok(self.body), ms / 1000.0, path,
                              start)
        else:
            conn.sendall(self._head(404, "Not Found", "Content-Length: 0\r\n"))

    def _stream_huge(self, conn, path, start):
        chunked = path.endswith("chunked")
        extra = "Transfer-Encoding: chunked\r\n" if chunked else \
            "Content-Length: %d\r\n" % GIB
        piece = b'{"keys": [' + b" " * 65526
        if chunked:
            piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
        sent = 0
        try:
            conn.sendall(self._head(200, "OK", extra))
            while sent < GIB and not self._stop.is_set():
                conn.sendall(piece)
                sent += len(piece)
        except (OSError, ssl.SSLError):
            self._record_close(path, start)
        with self._lock:
            self.sent[path] = sent

    def _send_slowly(self, conn, data, delay, path, start):
        try:
            for i in range(len(data)):
                if self._stop.is_set():
                    return
                conn.sendall(data[i:i + 1])
                time.sleep(delay)
        except (OSError, ssl.SSLError):
            self._record_close(path, start)
