#!/usr/bin/python3
"""echo_backend.py - the backends behind the translator's tests.

An HTTP/1.1 server that answers every request with what it received, as
the Gateway API conformance suite's echo server does, so a test asserts
on what reached the backend (path as sent, method, headers, Host) and
on which backend it was (`backend`, `namespace`), never on generated
nginx text:

    {"path": "/a?b=1", "method": "GET", "host": "example.com",
     "headers": {"X-Foo": ["1", "2"], ...}, "backend": "infra-backend-v1",
     "namespace": "gateway-conformance-infra", "body_len": 0,
     "client": "127.0.0.1"}

`path` is the raw request target; header names are kept as received (a
test compares them without case), each with its values in order;
`client` is the peer's address (127.0.0.1 or ::1).

Hooks the tests need, read from the query string:

    delay=D        sleep D before answering: seconds ("0.5") or a Go
                   duration ("1s", "500ms"), as the conformance tests write
                   it (timeouts)
    status=N       answer N instead of 200 (retries: codes)
    fail=K&id=X    with status=N: only the first K requests carrying id X
                   answer N, later ones 200 (a request that succeeds after
                   K tries)
    fail_delay=D   sleep D first, but only when answering the failure
                   status (a backend that is slow when it fails: retries
                   on a backendRequest timeout)
    reset=K&id=X   the first K requests carrying id X get no answer: the
                   connection is reset (RST) once the request is read (a
                   backend that fails at the connection: retries without
                   codes)

and from one request header, as the conformance echo server reads it:

    X-Echo-Set-Header: Name:value,Name2:value2   these response headers

A GET with `Upgrade: websocket` is a WebSocket echo (RFC 6455): the
handshake is answered with 101, then every text or binary message comes
back as it was sent, pings get pongs, and a close is answered with a
close; the upgrade request is recorded like any other.

Every request is counted and recorded (.requests, .count(), .wait_count())
so mirror and retry tests see what arrived, including requests whose
answer no client ever reads (mirrors).

One backend listens on 127.0.0.1 and, when the machine has it, ::1 too
(the same port when it is free on both). Standard library only.

Also a gRPC echo (GrpcEchoBackend) when python3-grpcio is installed: raw
bytes, no protobuf; every method of every service answers a JSON body
like the HTTP one, with `path` "/<service>/<method>" and the metadata as
headers.

Run alone: echo_backend.py NAME [NAMESPACE] [PORT] serves until killed.
"""

import base64
import hashlib
import http.server
import importlib.util
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse

# grpcio's core logs every call that ends without grpc-status (a 404 from
# nginx, which the gRPC cases expect) as an error: keep the output clean.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*$")


def parse_delay(text):
    """Seconds from "0.5", "2", "1s", "500ms" or "1m"; None if unreadable."""
    m = _DURATION.match(text or "")
    if not m:
        return None
    value = float(m.group(1))
    unit = m.group(2) or "s"
    return value / 1000.0 if unit == "ms" else value * (60 if unit == "m"
                                                         else 1)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gwf-echo"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    return total
                total += len(self.rfile.read(size))
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return len(self.rfile.read(n)) if n > 0 else 0

    def _handle(self):
        owner = self.server.owner
        body_len = self._read_body()
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name, []).append(value)
        record = {
            "path": self.path,
            "method": self.command,
            "host": self.headers.get("Host", ""),
            "headers": headers,
            "backend": owner.name,
            "namespace": owner.namespace,
            "body_len": body_len,
            "client": self.client_address[0],
        }
        owner._record(record)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)

        def arg(name):
            values = query.get(name)
            return values[0] if values else None

        reset = arg("reset")
        if reset is not None and reset.isdigit() and \
                owner._try("reset:" + (arg("id") or "")) <= int(reset):
            # SO_LINGER 0: close() sends RST (_Server.shutdown_request).
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.server.resets.add(self.connection)
            self.close_connection = True
            return
        if self.command == "GET" and \
                (self.headers.get("Upgrade") or "").lower() == "websocket":
            self._websocket()
            return

        delay = parse_delay(arg("delay")) if arg("delay") else None
        if delay:
            time.sleep(min(delay, 60.0))
        status = 200
        if arg("status") and arg("status").isdigit():
            status = int(arg("status"))
            fail = arg("fail")
            if fail is not None and fail.isdigit():
                tries = owner._try(arg("id") or "")
                if tries > int(fail):
                    status = 200
        fail_delay = parse_delay(arg("fail_delay")) \
            if arg("fail_delay") else None
        if fail_delay and status != 200:
            time.sleep(min(fail_delay, 60.0))
        extra = []
        for item in (self.headers.get("X-Echo-Set-Header") or "").split(","):
            name, sep, value = item.partition(":")
            if sep and name.strip():
                extra.append((name.strip(), value.strip()))
        payload = json.dumps(record).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _websocket(self):
        key = self.headers.get("Sec-WebSocket-Key") or ""
        accept = base64.b64encode(hashlib.sha1(
            (key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.connection.settimeout(30)
        try:
            while True:
                frame = read_ws_frame(self.rfile)
                if frame is None:
                    return
                opcode, payload = frame
                if opcode == 0x8:
                    self.wfile.write(ws_frame(0x8, payload[:2]))
                    self.wfile.flush()
                    return
                if opcode == 0x9:
                    opcode = 0xA
                elif opcode not in (0x1, 0x2):
                    continue
                self.wfile.write(ws_frame(opcode, payload))
                self.wfile.flush()
        except (OSError, ValueError):
            return

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle
    do_OPTIONS = do_CONNECT = do_TRACE = _handle


def ws_frame(opcode, payload, mask=None):
    """One final WebSocket frame; masked (4 bytes) when a client sends."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def read_ws_frame(f, limit=1 << 20):
    """(opcode, unmasked payload) of the next frame read from the file f;
    None at the end of the stream. Fragments are not joined (the tests
    send whole messages)."""
    head = f.read(2)
    if len(head) < 2:
        return None
    opcode = head[0] & 0x0F
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", f.read(8))[0]
    if n > limit:
        raise ValueError("WebSocket frame of %d bytes" % n)
    mask = f.read(4) if head[1] & 0x80 else None
    payload = f.read(n)
    if len(payload) < n:
        return None
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # bursts of connections: no SYN drops

    def __init__(self, *args, **kw):
        self.resets = set()
        super().__init__(*args, **kw)

    def shutdown_request(self, request):
        # A connection to reset: close() alone, no FIN first.
        if request in self.resets:
            self.resets.discard(request)
            self.close_request(request)
            return
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # A peer that went away first (nginx after a timeout, a client
        # that reset) is normal here; anything else is reported.
        if isinstance(sys.exc_info()[1], (BrokenPipeError,
                                          ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class EchoBackend:
    """One named echo server (a Service's endpoint) on loopback: host
    (default 127.0.0.1; any 127.x.y.z works on Linux) and, for 127.0.0.1,
    ::1 too. .port is the IPv4 port; .port6 the IPv6 one (None without
    ::1)."""

    def __init__(self, name, namespace="default", port=0, host="127.0.0.1"):
        self.name = name
        self.namespace = namespace
        self.host = host
        self.requests = []
        self._tries = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.server = _Server((host, port), _Handler)
        self.server.owner = self
        self.port = self.server.server_address[1]
        self.servers = [self.server]
        self.port6 = None
        if host == "127.0.0.1" and _has_ipv6_loopback():
            for want in (self.port, 0):
                try:
                    s6 = _Server6(("::1", want), _Handler)
                except OSError:
                    continue
                s6.owner = self
                self.port6 = s6.server_address[1]
                self.servers.append(s6)
                break
        self._threads = []

    # -- what arrived ------------------------------------------------------

    def _record(self, rec):
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    def _try(self, key):
        with self._lock:
            self._tries[key] = self._tries.get(key, 0) + 1
            return self._tries[key]

    def count(self, path_prefix=None):
        """Requests received (whose path starts with path_prefix)."""
        with self._lock:
            return sum(1 for r in self.requests
                       if path_prefix is None or
                       r["path"].startswith(path_prefix))

    def received(self, path_prefix=None):
        with self._lock:
            return [r for r in self.requests
                    if path_prefix is None or
                    r["path"].startswith(path_prefix)]

    def wait_count(self, n, path_prefix=None, timeout=5.0):
        """Wait until at least n requests (under path_prefix) arrived;
        returns the count then (less than n on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = sum(1 for r in self.requests
                          if path_prefix is None or
                          r["path"].startswith(path_prefix))
                left = deadline - time.monotonic()
                if got >= n or left <= 0:
                    return got
                self._cond.wait(min(left, 0.1))

    # -- life --------------------------------------------------------------

    def start(self):
        for s in self.servers:
            t = threading.Thread(target=s.serve_forever,
                                 kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def grpc_available():
    return importlib.util.find_spec("grpc") is not None


class GrpcEchoBackend:
    """A gRPC server (python3-grpcio) answering every unary call with a
    JSON echo of what it received (raw bytes in and out, no protobuf).

    Call it with channel.unary_unary("/svc/Method")(b"...") and read
    json.loads(reply): {"path", "metadata": {name: [values]}, "backend",
    "namespace", "body_len"}."""

    def __init__(self, name, namespace="default"):
        import grpc
        from concurrent import futures
        self.grpc = grpc
        self.name = name
        self.namespace = namespace
        self.requests = []
        self._lock = threading.Lock()
        owner = self

        class Generic(grpc.GenericRpcHandler):
            def service(self, details):
                method = details.method

                def unary(request, context):
                    md = {}
                    for k, v in context.invocation_metadata():
                        md.setdefault(k, []).append(
                            v if isinstance(v, str) else v.decode("latin-1"))
                    rec = {"path": method, "metadata": md,
                           "backend": owner.name,
                           "namespace": owner.namespace,
                           "body_len": len(request or b"")}
                    with owner._lock:
                        owner.requests.append(rec)
                    return json.dumps(rec).encode()
                return grpc.unary_unary_rpc_method_handler(unary)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((Generic(),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.port6 = None

    def count(self):
        with self._lock:
            return len(self.requests)

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop(0)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: %s NAME [NAMESPACE] [PORT]\n" % argv[0])
        return 2
    be = EchoBackend(argv[1], argv[2] if len(argv) > 2 else "default",
                     int(argv[3]) if len(argv) > 3 else 0)
    be.start()
    print("%s listening on 127.0.0.1:%d%s" % (
        be.name, be.port, " and [::1]:%d" % be.port6 if be.port6 else ""),
        flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        be.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
