#!/usr/bin/python3
"""test_body_path.py - with body hooks in the chain, nginx still streams,
flushes, ranges and upgrades as it does alone (issue 17).

    /usr/bin/python3 test_body_path.py CASE      (exit 0 pass, 1 fail)

Each case puts a chain that only watches the body - the probe plugin with
every hook answering "continue" - in front of something nginx does well
on its own: an unbuffered stream, server-sent events, a 101 upgrade, a
range request, a HEAD, a streamed upload, gRPC streaming, a DAV PUT. It
then asserts what the client and the peer saw, with timings where the
behaviour is about time: a response that arrives whole but two seconds
late has not streamed. Where it helps, the same nginx also serves the
location without gwf, and the case asserts that too, so a failure says
"gwf differs from nginx alone", not "the test's premise is wrong".

Peers are real servers in threads on 127.0.0.1: the RawPeer of the
attack suite when the answer's bytes and timing are the point, a small
http.server that hashes a request body as it arrives (BodyRecorder)
when the upload is, and grpcio for gRPC. harness.py starts nginx and
fails a case on a dead worker or a sanitizer report; test_nginx.py's
helpers give the /metrics location and the leak check.
"""

import hashlib
import http.client
import http.server
import json
import os
import queue
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    Nginx, TestFailure, Upstream, asan_enabled, check, free_port, probe,
    request, run_case, tail, wait_for)
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, raw_get, raw_peer_class, server,
    strip_date)

HOOKS = ("request_headers", "request_body", "response_headers",
         "response_body")

# How soon bytes the peer sent must reach the client for them to count
# as streamed: far below the peer's own pauses (1.5 to 2 s).
PROMPT = 0.5


def observing(name="observe", tag="O", actions=None, **config):
    """A probe that runs every hook and lets everything through, unless
    `actions` says otherwise for some hooks."""
    acts = {hook: "continue" for hook in HOOKS}
    acts.update(actions or {})
    config.update({"tag": tag, "actions": acts})
    return probe(name, config)


OBSERVE = {"p.yaml": [observing()]}


def location(path, *directives):
    """`location path { directives }`; "gwf" stands for the observing
    chain."""
    body = " ".join(("gwf_extension default/observe" if d == "gwf" else d)
                    .rstrip(";") + ";" for d in directives)
    return "location %s { %s }" % (path, body)


def in_parallel(*fns):
    """Run the functions at once, each in a thread; their results, in
    order. After all end, every failed part is reported, in order."""
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def run(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # reported below
            errors[i] = e
    threads = [threading.Thread(target=run, args=(i, fn), daemon=True)
               for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    check(not any(t.is_alive() for t in threads),
          "a parallel part did not end within 20 s")
    failed = [e for e in errors if e is not None]
    if len(failed) == 1:
        raise failed[0]
    if failed:
        raise TestFailure("%d parts failed:\n  " % len(failed) + "\n  ".join(
            "%s: %s" % (type(e).__name__, e) for e in failed))
    return results


# ---------------------------------------------------------------------------
# A client that sees when each byte arrives
# ---------------------------------------------------------------------------

class Exchange:
    """One HTTP/1.1 exchange over a raw socket. The answer's head is
    parsed, its body decoded as it arrives (Content-Length, chunked,
    until close, or raw bytes after a 101), and every arrival is timed,
    which is what tells a stream from a late whole."""

    def __init__(self, port, timeout=8.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.started = time.monotonic()
        self.method = None
        self.status = None
        self.headers = []
        self.head = b""
        self.head_at = None
        self.body = b""
        self.arrivals = []          # (monotonic time, len(body) then)
        self.framing = None         # length | chunked | close | none | raw
        self.done = False           # the framing says the body ended
        self.closed = False         # the server closed the connection
        self._buf = b""
        self._left = 0
        self._chunk_state = "size"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if self.method is None:
            self.method = data.split(b" ", 1)[0].decode()
        self.sock.sendall(data)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.closed:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            if self.framing == "close" or self.framing == "raw":
                self.done = True
            return False
        self._buf += data
        return True

    def read_head(self, timeout=5.0):
        """Wait for the answer's head; returns the status (None if it did
        not come in time)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._buf:
            if not self._recv(deadline):
                return None
        self.head_at = time.monotonic()
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        self.head = head
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = [tuple(s.strip() for s in line.split(":", 1))
                        for line in lines[1:]]
        te = (self.header("transfer-encoding") or "").lower()
        cl = self.header("content-length")
        if self.status == 101:
            self.framing = "raw"
        elif self.method == "HEAD" or self.status in (204, 304):
            self.framing, self.done = "none", True
        elif "chunked" in te:
            self.framing = "chunked"
        elif cl is not None:
            self.framing, self._left = "length", int(cl)
            self.done = self._left == 0
        else:
            self.framing = "close"
        self._decode()
        return self.status

    def _take(self, data):
        if data:
            self.body += data
            self.arrivals.append((time.monotonic(), len(self.body)))

    def _decode(self):
        if self.framing in ("raw", "close"):
            self._take(self._buf)
            self._buf = b""
        elif self.framing == "length":
            n = min(self._left, len(self._buf))
            self._take(self._buf[:n])
            self._buf, self._left = self._buf[n:], self._left - n
            self.done = self._left == 0
        elif self.framing == "chunked":
            self._decode_chunked()

    def _decode_chunked(self):
        while not self.done:
            if self._chunk_state == "size":
                line, sep, rest = self._buf.partition(b"\r\n")
                if not sep:
                    return
                self._left = int(line.split(b";")[0], 16)
                self._buf = rest
                self._chunk_state = "data" if self._left else "trailer"
            elif self._chunk_state == "data":
                n = min(self._left, len(self._buf))
                self._take(self._buf[:n])
                self._buf, self._left = self._buf[n:], self._left - n
                if self._left:
                    return
                self._chunk_state = "crlf"
            elif self._chunk_state == "crlf":
                if len(self._buf) < 2:
                    return
                self._buf = self._buf[2:]
                self._chunk_state = "size"
            else:  # trailer lines up to an empty one
                line, sep, rest = self._buf.partition(b"\r\n")
                if not sep:
                    return
                self._buf = rest
                if not line:
                    self.done = True

    def wait_body(self, pred, timeout):
        """Read until pred(body) holds, the body ends or `timeout`
        passes; returns pred(body)."""
        deadline = time.monotonic() + timeout
        while not pred(self.body):
            if self.done or not self._recv(deadline):
                return pred(self.body)
            self._decode()
        return True

    def wait_end(self, timeout):
        """Read until the body ends (by its framing) or the connection
        closes; returns whether the body ended."""
        deadline = time.monotonic() + timeout
        while not self.done and self._recv(deadline):
            self._decode()
        return self.done

    def arrived_at(self, n):
        """When the body first held `n` bytes (None: never)."""
        for t, length in self.arrivals:
            if length >= n:
                return t
        return None


def get_exchange(port, path, extra=b"", method="GET"):
    ex = Exchange(port)
    ex.send(b"%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
            % (method.encode(), path.encode(), extra))
    return ex


# ---------------------------------------------------------------------------
# Peers
# ---------------------------------------------------------------------------

def request_path(raw_request):
    return raw_request.split(b" ", 2)[1].decode()


class Script:
    """A RawPeer behaviour that answers by a script chosen by the request
    path: a list of bytes to send and floats (seconds to wait), then it
    closes. Records when each step's bytes were sent, per path."""

    def __init__(self, scripts):
        self.scripts = scripts          # {path substring: [step, ...]}
        self.sent_at = {}               # path -> [monotonic time, ...]
        self.requests = []

    def __call__(self, conn, peer):
        req = conn.read_http_request()
        if req is None:
            return
        self.requests.append(req)
        path = request_path(req)
        steps = next(s for key, s in self.scripts.items() if key in path)
        times = self.sent_at.setdefault(path, [])
        for step in steps:
            if isinstance(step, float):
                if peer.stopping.wait(step):
                    return
            else:
                conn.send(step)
                times.append(time.monotonic())


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _body_pieces(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b""):
                        pass
                    return
                while size:
                    piece = self.rfile.read(min(size, 65536))
                    if not piece:
                        raise EOFError
                    size -= len(piece)
                    yield piece
                self.rfile.readline(3)
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            piece = self.rfile.read1(min(left, 65536))
            if not piece:
                raise EOFError
            left -= len(piece)
            yield piece

    def _handle(self):
        rec = {"method": self.command, "path": self.path,
               "headers": dict(self.headers.items()),
               "head_at": time.monotonic(), "progress": [], "length": 0,
               "complete": False}
        self.server.owner.add(rec)
        digest = hashlib.sha256()
        try:
            for piece in self._body_pieces():
                digest.update(piece)
                rec["length"] += len(piece)
                rec["progress"].append((time.monotonic(), rec["length"]))
        except (EOFError, OSError, ValueError):
            self.close_connection = True
            return
        rec["sha256"] = digest.hexdigest()
        rec["complete"] = True
        out = json.dumps({"length": rec["length"],
                          "sha256": rec["sha256"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = do_PUT = do_GET = _handle


class BodyRecorder(Upstream):
    """An upstream that reads each request body as it comes, hashing it
    rather than keeping it: .records has, per request, when its head came
    (head_at), how much of its body had come when (progress), its length,
    sha256 and whether it came whole (complete). Answers 200 with
    {length, sha256}."""

    def __init__(self):
        self.records = []
        self._lock = threading.Lock()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                              _RecordingHandler)
        srv.daemon_threads = True
        srv.owner = self
        self.server = srv
        self.port = srv.server_address[1]
        self._thread = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05},
            daemon=True)

    def add(self, rec):
        with self._lock:
            self.records.append(rec)

    def received(self, path_part):
        """Bytes of body received so far by the first request whose path
        has `path_part` (None: no such request yet)."""
        with self._lock:
            for rec in self.records:
                if path_part in rec["path"]:
                    return rec["length"]
        return None


def pattern_bytes(n, seed=0):
    """n bytes that differ from block to block (a shift shows)."""
    out = bytearray()
    i = seed
    while len(out) < n:
        out += b"%08d" % i + b"-abcdefghijklmnopqrstuvwxyz-0123456789\n"
        i += 1
    return bytes(out[:n])


# ---------------------------------------------------------------------------
# 1. An unbuffered stream
# ---------------------------------------------------------------------------

PART1 = b"the first part of the answer\n"
REST = b"and the rest, two seconds later\n"
UPSTREAM_GAP = 2.0


def _stream_scripts():
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    return {
        "/length": [ok + b"Content-Length: %d\r\n\r\n"
                    % (len(PART1) + len(REST)), PART1, UPSTREAM_GAP, REST],
        "/chunked": [ok + b"Transfer-Encoding: chunked\r\n\r\n",
                     b"%x\r\n%s\r\n" % (len(PART1), PART1), UPSTREAM_GAP,
                     b"%x\r\n%s\r\n0\r\n\r\n" % (len(REST), REST)],
        # No length: the answer ends when the upstream closes.
        "/close": [ok + b"Connection: close\r\n\r\n", PART1, UPSTREAM_GAP,
                   REST],
    }


def _first_part_then_rest(port, path):
    ex = get_exchange(port, path, b"Connection: close\r\n")
    try:
        status = ex.read_head(timeout=UPSTREAM_GAP + 2)
        check(status == 200, "%s: %s" % (path, "no answer head in %.0f s"
                                         % (UPSTREAM_GAP + 2) if status is
                                         None else "head %r" % ex.head))
        ex.wait_body(lambda b: len(b) >= len(PART1), UPSTREAM_GAP + 1)
        first = ex.arrived_at(len(PART1))
        check(first is not None and first - ex.started < PROMPT,
              "%s: the first part (sent by the upstream at once) reached "
              "the client after %s s (the head after %.2f s), not within "
              "%.1f s; the upstream sent the rest %.1f s later, so the "
              "answer was held back"
              % (path, "never" if first is None else
                 "%.2f" % (first - ex.started), ex.head_at - ex.started,
                 PROMPT, UPSTREAM_GAP))
        ex.wait_end(UPSTREAM_GAP + 3)
        check(ex.body == PART1 + REST and ex.done,
              "%s: body %r (ended: %s)" % (path, ex.body, ex.done))
    finally:
        ex.close()


def unbuffered_stream_first_chunk_arrives_before_the_upstream_finishes():
    """proxy_buffering off: each part goes out as the upstream sends it,
    whether the upstream gave a length, chunked its answer or ends it by
    closing (the case measured at 3 s: the whole answer, at the end)."""
    script = Script(_stream_scripts())
    with raw_peer_class()(script) as peer, Nginx(server(
            location("/alone/", "proxy_buffering off",
                     "proxy_http_version 1.1",
                     "proxy_pass http://127.0.0.1:%d" % peer.port),
            location("/gwf/", "gwf", "proxy_buffering off",
                     "proxy_http_version 1.1",
                     "proxy_pass http://127.0.0.1:%d" % peer.port)),
            OBSERVE) as ngx:
        # All at once: each waits out the upstream's 2 s pause.
        in_parallel(*[
            (lambda p=p: _first_part_then_rest(ngx.port, p))
            for p in ("/alone/close", "/gwf/length", "/gwf/chunked",
                      "/gwf/close")])
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 2. Server-sent events
# ---------------------------------------------------------------------------

EVENTS = [b"id: %d\ndata: event %d\n\n" % (i, i) for i in range(3)]
EVENT_GAP = 0.7


def _sse_script(accel_no):
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nConnection: close\r\n")
    if accel_no:
        head += b"X-Accel-Buffering: no\r\n"
    steps = [head + b"\r\n"]
    for i, event in enumerate(EVENTS):
        if i:
            steps.append(EVENT_GAP)
        steps.append(event)
    return steps


def _events_one_by_one(port, path, script):
    ex = get_exchange(port, path)
    try:
        check(ex.read_head() == 200, "%s: head %r" % (path, ex.head))
        check(ex.header("content-type") == "text/event-stream",
              "%s: content-type %r" % (path, ex.header("content-type")))
        ex.wait_end(len(EVENTS) * EVENT_GAP + 3)
        check(ex.body == b"".join(EVENTS),
              "%s: the events came as %r" % (path, ex.body))
        sent = script.sent_at[path][1:]  # [0] is the head
        size = 0
        for i, event in enumerate(EVENTS):
            size += len(event)
            lag = ex.arrived_at(size) - sent[i]
            check(lag < PROMPT * 0.6,
                  "%s: event %d reached the client %.2f s after the "
                  "upstream sent it (events are %.1f s apart): the events "
                  "were held back" % (path, i, lag, EVENT_GAP))
    finally:
        ex.close()


def server_sent_events_flush_through_an_observing_chain():
    """An event stream reaches the client event by event, whether the
    upstream turns buffering off (X-Accel-Buffering: no) or the location
    does (proxy_buffering off)."""
    script = Script({"/accel": _sse_script(True),
                     "/unbuffered": _sse_script(False)})
    with raw_peer_class()(script) as peer, Nginx(server(
            location("/alone/", "proxy_pass http://127.0.0.1:%d"
                     % peer.port),
            location("/gwf/", "gwf",
                     "proxy_pass http://127.0.0.1:%d" % peer.port),
            location("/gwf-off/", "gwf", "proxy_buffering off",
                     "proxy_pass http://127.0.0.1:%d" % peer.port)),
            OBSERVE) as ngx:
        in_parallel(*[
            (lambda p=p: _events_one_by_one(ngx.port, p, script))
            for p in ("/alone/accel", "/gwf/accel", "/gwf-off/unbuffered")])
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 3. Upgrade
# ---------------------------------------------------------------------------

PUSHED = b"pushed by the upstream, unprompted\n"


def _upgrading_peer(conn, peer):
    req = conn.read_http_request()
    if req is None:
        return
    if b"upgrade: websocket" not in req.lower():
        conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n")
        return
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\n\r\n")
    conn.send(conn.read_exactly(5))     # the echo
    if peer.stopping.wait(0.3):
        return
    conn.send(PUSHED)
    while not peer.stopping.is_set():  # until the client goes
        conn.recv_some()


def _upgrade_both_ways(port, path):
    ex = get_exchange(port, path, b"Upgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n")
    try:
        status = ex.read_head(timeout=3.0)
        check(status == 101, "%s: expected 101, got %s" % (
            path, "no answer head in 3 s" if status is None
            else "head %r" % ex.head))
        took = ex.head_at - ex.started
        check(took < PROMPT, "%s: the 101 took %.2f s" % (path, took))
        ex.send(b"hello")
        check(ex.wait_body(lambda b: b == b"hello", 2.0),
              "%s: the echo of 'hello' came back as %r" % (path, ex.body))
        check(ex.wait_body(lambda b: b == b"hello" + PUSHED, 2.0),
              "%s: after the echo the client got %r, not the upstream's "
              "unprompted bytes" % (path, ex.body))
    finally:
        ex.close()


def upgrade_101_passes_at_once_and_carries_data_both_ways():
    peer_cls = raw_peer_class()
    with peer_cls(_upgrading_peer) as peer:
        upgrade = ("proxy_http_version 1.1",
                   "proxy_set_header Upgrade $http_upgrade",
                   'proxy_set_header Connection "upgrade"',
                   "proxy_pass http://127.0.0.1:%d" % peer.port)
        with Nginx(server(location("/alone/", *upgrade),
                          location("/ws/", "gwf", *upgrade)),
                   OBSERVE) as ngx:
            _upgrade_both_ways(ngx.port, "/alone/")
            _upgrade_both_ways(ngx.port, "/ws/")
            assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 4. An upstream that closes early
# ---------------------------------------------------------------------------

SHORT_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 100\r\n\r\nnine byte")


def upstream_closing_early_gives_what_nginx_alone_gives():
    """The upstream promises 100 bytes, sends 9 and closes: through an
    observing chain the client gets the same bytes as from nginx alone -
    the head with Content-Length: 100, the 9 bytes, then the close."""
    def answer(conn, peer):
        if conn.read_http_request() is not None:
            conn.send(SHORT_ANSWER)
    with raw_peer_class()(answer) as peer, Nginx(server(
            location("/alone", "proxy_pass http://127.0.0.1:%d" % peer.port),
            location("/gwf", "gwf",
                     "proxy_pass http://127.0.0.1:%d" % peer.port)),
            OBSERVE) as ngx:
        alone, _, alone_closed = raw_get(ngx.port, "/alone")
        check(alone.startswith(b"HTTP/1.1 200 OK\r\n") and
              b"\r\nContent-Length: 100\r\n" in alone and
              alone.endswith(b"\r\n\r\nnine byte") and alone_closed,
              "nginx alone: %r (closed: %s)" % (alone, alone_closed))
        data, elapsed, closed = raw_get(ngx.port, "/gwf")
        check(strip_date(data) == strip_date(alone),
              "through the chain the client got\n  %r\nnginx alone gives"
              "\n  %r" % (data, alone))
        check(closed and elapsed < 3.0, "closed: %s after %.2f s"
              % (closed, elapsed))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 5. HEAD
# ---------------------------------------------------------------------------

STATIC = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2)[:100]


def _write_static(ngx):
    d = os.path.join(ngx.prefix, "static")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "file.txt"), "wb") as f:
        f.write(STATIC)
    os.chmod(os.path.join(d, "file.txt"), 0o644)


def _head_then_get(port, path):
    """HEAD then GET on one connection: a HEAD answer that carried any
    body bytes (a stray last chunk) would break the GET's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("HEAD", path)
        head = conn.getresponse()
        head_body = head.read()
        conn.request("GET", path)
        get = conn.getresponse()
        get_body = get.read()
    except (OSError, http.client.HTTPException) as e:
        raise TestFailure("HEAD then GET %s on one connection: %s: %s"
                          % (path, type(e).__name__, e))
    finally:
        conn.close()
    return head, head_body, get, get_body


def head_keeps_content_length():
    """HEAD through an observing chain, to a proxied upstream and to a
    static file: the Content-Length the GET would have, no body, no
    chunked framing, and the connection still good for the next request."""
    ngx = Nginx(server(location("/up/", "gwf", "proxy_pass http://{UP}"),
                       location("/static/", "gwf",
                                "alias {PREFIX}/static/")),
                OBSERVE, Upstream())
    _write_static(ngx)
    with ngx.upstream, ngx:
        for path, size in (("/up/big?n=1234", 1234),
                           ("/static/file.txt", len(STATIC))):
            head, head_body, get, get_body = _head_then_get(ngx.port, path)
            check(head.status == 200, "HEAD %s: %d" % (path, head.status))
            check(head.getheader("content-length") == str(size),
                  "HEAD %s: content-length %r, the GET's should be %d; "
                  "headers %r" % (path, head.getheader("content-length"),
                                  size, head.getheaders()))
            check(head.getheader("transfer-encoding") is None and
                  head_body == b"",
                  "HEAD %s: transfer-encoding %r, body %r"
                  % (path, head.getheader("transfer-encoding"), head_body))
            check(get.status == 200 and len(get_body) == size and
                  get.getheader("content-length") == str(size),
                  "GET %s after the HEAD: %d, %d bytes, content-length %r"
                  % (path, get.status, len(get_body),
                     get.getheader("content-length")))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 6. Ranges
# ---------------------------------------------------------------------------

def _range_and_plain(port, path, full):
    r = request(port, "GET", path, headers={"Range": "bytes=2-5"})
    check(r.status == 206, "GET %s with Range: bytes=2-5 answered %d "
          "(headers %r)" % (path, r.status, r.headers))
    check(r.header("content-range") == "bytes 2-5/%d" % len(full),
          "%s: content-range %r" % (path, r.header("content-range")))
    check(r.body == full[2:6] and r.header("content-length") == "4",
          "%s: body %r, content-length %r (expected %r)"
          % (path, r.body, r.header("content-length"), full[2:6]))
    r = request(port, "GET", path)
    check(r.status == 200 and r.body == full,
          "plain GET %s: %d, %d bytes" % (path, r.status, len(r.body)))
    check(r.header("accept-ranges") == "bytes",
          "plain GET %s: accept-ranges %r" % (path, r.header("accept-ranges")))
    check(r.header("content-length") == str(len(full)),
          "plain GET %s: content-length %r" % (path,
                                               r.header("content-length")))


def range_request_gets_206_through_an_observing_chain():
    """A static file and a proxied answer (proxy_force_ranges) behind an
    observing chain answer a range as nginx alone does."""
    ngx = Nginx(server(
        location("/static/", "gwf", "alias {PREFIX}/static/"),
        location("/up/", "gwf", "proxy_force_ranges on",
                 "proxy_pass http://{UP}"),
        location("/alone/", "proxy_force_ranges on",
                 "proxy_pass http://{UP}")), OBSERVE, Upstream())
    _write_static(ngx)
    proxied_body = (b"0123456789abcdef" * 7)[:100]
    with ngx.upstream, ngx:
        _range_and_plain(ngx.port, "/alone/big?n=100", proxied_body)
        _range_and_plain(ngx.port, "/static/file.txt", STATIC)
        _range_and_plain(ngx.port, "/up/big?n=100", proxied_body)
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 7 and 8. Framing: kept when plugins only observe, chunked when they
# change the body
# ---------------------------------------------------------------------------

def _framing(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def content_length_kept_when_plugins_only_observe():
    with Upstream() as up, Nginx(server(
            location("/up/", "gwf", "proxy_pass http://{UP}")),
            OBSERVE, up) as ngx:
        for n in (5000, 300000):
            resp, body = _framing(ngx.port, "/up/big?n=%d" % n)
            check(resp.status == 200 and len(body) == n,
                  "n=%d: %d, %d bytes" % (n, resp.status, len(body)))
            check(resp.getheader("content-length") == str(n) and
                  resp.getheader("transfer-encoding") is None,
                  "n=%d: content-length %r, transfer-encoding %r (the "
                  "upstream said Content-Length: %d)"
                  % (n, resp.getheader("content-length"),
                     resp.getheader("transfer-encoding"), n))
        assert_no_leaks(ngx)


def body_changing_plugin_gets_chunked_framing():
    """A plugin that says, from its response_headers hook, that it will
    change the body gets it chunked (its length is unknown until the
    end); one that holds the headers until it has the whole body gives
    the exact Content-Length of the new body."""
    replaced = "replaced by the chain\n"
    held = {"p.yaml": [observing(
        "observe", "H", actions={"response_headers": "buffer"},
        set_response_body=replaced)]}
    with Upstream() as up, Nginx(server(
            location("/up/", "gwf", "proxy_pass http://{UP}")),
            held, up) as ngx:
        resp, body = _framing(ngx.port, "/up/big?n=3000")
        check(resp.status == 200 and body == replaced.encode(),
              "buffered: %d %r" % (resp.status, body[:200]))
        check(resp.getheader("content-length") == str(len(replaced)) and
              resp.getheader("transfer-encoding") is None,
              "buffered: content-length %r, transfer-encoding %r"
              % (resp.getheader("content-length"),
                 resp.getheader("transfer-encoding")))
        assert_no_leaks(ngx)

    changing = {"p.yaml": [observing(
        "observe", "W", append_response_body="!",
        body_will_change=["response"])]}
    with Upstream() as up, Nginx(server(
            location("/up/", "gwf", "proxy_pass http://{UP}")),
            changing, up) as ngx:
        resp, body = _framing(ngx.port, "/up/big?n=3000")
        check(resp.status == 200 and
              body == (b"0123456789abcdef" * 188)[:3000] + b"!",
              "streamed: %d, %d bytes ending %r"
              % (resp.status, len(body), body[-20:]))
        check(resp.getheader("content-length") is None and
              resp.getheader("transfer-encoding") == "chunked",
              "streamed: content-length %r, transfer-encoding %r"
              % (resp.getheader("content-length"),
                 resp.getheader("transfer-encoding")))
        ngx.wait_log(r"probe W note: body_will_change response status=0")
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 9 and 10. Uploads
# ---------------------------------------------------------------------------

UPLOAD_SIZE = 100 << 20
UPLOAD_BLOCK = 64 << 10
RSS_GROWTH_LIMIT_KIB = 32 << 10


def _upload_blocks(size, digest):
    """The upload, made block by block as it is sent (never whole)."""
    base = pattern_bytes(UPLOAD_BLOCK)
    sent = 0
    i = 0
    while sent < size:
        block = (b"%016d" % i + base[16:])[:size - sent]
        digest.update(block)
        sent += len(block)
        i += 1
        yield block


def _worker_pid(ngx):
    pids = ngx.worker_pids()
    check(len(pids) == 1, "expected one worker, found %r" % pids)
    check(pids[0] != ngx.master_pid(), "the worker is the master?")
    return pids[0]


def upload_100mb_with_a_streaming_hook_stays_bounded_in_memory():
    """100 MB through a chain whose request_body hook only watches: the
    upstream gets every byte, and the worker's peak resident memory grows
    by less than 32 MB (nginx alone writes the body to a temp file; a
    streaming hook has no reason to hold it). Under ASan the memory
    figure is the sanitizer's, not ours: only the bytes are checked."""
    raw_peer_class()  # puts raw_peer.py on the path
    from raw_peer import peak_rss_kib
    with BodyRecorder() as up, Nginx(server(
            location("/up/", "gwf", "client_max_body_size 200m",
                     "proxy_pass http://{UP}")), OBSERVE, up) as ngx:
        worker = _worker_pid(ngx)
        r = request(ngx.port, "POST", "/up/warm", body=b"w" * 100000)
        expect_status(r, 200, "the warm-up POST")
        before = peak_rss_kib(worker)

        digest = hashlib.sha256()
        conn = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=30)
        try:
            conn.request("POST", "/up/big-upload",
                         body=_upload_blocks(UPLOAD_SIZE, digest),
                         headers={"Content-Length": str(UPLOAD_SIZE)})
            resp = conn.getresponse()
            answer = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise TestFailure("the 100 MB POST failed: %s: %s"
                              % (type(e).__name__, e))
        finally:
            conn.close()
        check(resp.status == 200, "the 100 MB POST answered %d: %r"
              % (resp.status, answer[:300]))
        got = json.loads(answer)
        check(got == {"length": UPLOAD_SIZE, "sha256": digest.hexdigest()},
              "the upstream got %r, the client sent %d bytes, sha256 %s"
              % (got, UPLOAD_SIZE, digest.hexdigest()))
        after = peak_rss_kib(worker)
        check(_worker_pid(ngx) == worker, "the worker changed")
        growth = after - before
        print("worker %d peak RSS: %d KiB before, %d KiB after (+%d KiB)"
              % (worker, before, after, growth))
        if asan_enabled():
            print("ASan build: the memory bound is not checked")
        else:
            check(growth < RSS_GROWTH_LIMIT_KIB,
                  "the worker's peak RSS grew by %d KiB for a 100 MB upload "
                  "(limit %d KiB): the body was held in memory"
                  % (growth, RSS_GROWTH_LIMIT_KIB))
        assert_no_leaks(ngx)


HALF = 64 << 10
CLIENT_PAUSE = 1.5


def _upload_in_two_halves(ngx, up, path):
    """Sends the head and the first half, waits CLIENT_PAUSE, sends the
    rest; returns (what the upstream had meanwhile, the exchange)."""
    body = pattern_bytes(2 * HALF)
    ex = Exchange(ngx.port)
    try:
        ex.send(b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                b"%d\r\n\r\n" % (path.encode(), len(body)) + body[:HALF])
        early = wait_for(lambda: (up.received(path) or 0) >= HALF,
                         CLIENT_PAUSE)
        seen = up.received(path)
        left = CLIENT_PAUSE - (time.monotonic() - ex.started)
        if left > 0:
            time.sleep(left)
        ex.send(body[HALF:])
        check(ex.read_head() == 200, "%s: head %r" % (path, ex.head))
        ex.wait_end(5)
        got = json.loads(ex.body)
        check(got == {"length": len(body),
                      "sha256": hashlib.sha256(body).hexdigest()},
              "%s: the upstream got %r" % (path, got))
    finally:
        ex.close()
    return bool(early), seen


def request_streams_with_proxy_request_buffering_off():
    """proxy_request_buffering off: the upstream has the request's head
    and the first half of its body while the client pauses, before the
    client sends the rest."""
    unbuffered = ("proxy_request_buffering off", "proxy_http_version 1.1",
                  "proxy_pass http://{UP}")
    with BodyRecorder() as up, Nginx(server(
            location("/alone/", *unbuffered),
            location("/gwf/", "gwf", *unbuffered)), OBSERVE, up) as ngx:
        for path in ("/alone/upload", "/gwf/upload"):
            early, seen = _upload_in_two_halves(ngx, up, path)
            check(early, "%s: while the client paused %.1f s after the "
                  "first %d bytes the upstream had %s of them"
                  % (path, CLIENT_PAUSE, HALF,
                     "no request (not even its head)" if seen is None
                     else "%d" % seen))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 11. gRPC
# ---------------------------------------------------------------------------

GRPC_GAP = 0.7
GRPC_WAIT = 2.0


class GrpcPeer:
    """A gRPC server (grpcio, raw bytes, no protobuf) with one method of
    each kind, recording when things happen on its side."""

    SERVICE = "gwf.test.Stream"

    def __init__(self):
        import grpc
        from concurrent import futures
        self.grpc = grpc
        self.stream_finished = threading.Event()
        self.first_seen = threading.Event()
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(
                lambda req, ctx: b"echo:" + req),
            "ServerStream": grpc.unary_stream_rpc_method_handler(
                self._server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(
                self._client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(
                lambda reqs, ctx: (b"pong:" + m for m in reqs)),
        }
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(self.SERVICE, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _server_stream(self, req, ctx):
        for i in range(3):
            if i:
                time.sleep(GRPC_GAP)
            yield b"msg%d" % i
        self.stream_finished.set()

    def _client_stream(self, reqs, ctx):
        got = []
        for m in reqs:
            got.append(m)
            self.first_seen.set()
        return b",".join(got)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(0)


def _grpc_checks(peer, channel):
    method = "/%s/" % GrpcPeer.SERVICE
    out = channel.unary_unary(method + "Unary")(b"hi", timeout=5)
    check(out == b"echo:hi", "unary: %r" % out)

    t0 = time.monotonic()
    replies = channel.unary_stream(method + "ServerStream")(b"go", timeout=8)
    first = next(replies)
    took = time.monotonic() - t0
    finished_first = peer.stream_finished.is_set()
    rest = list(replies)
    check([first] + rest == [b"msg0", b"msg1", b"msg2"],
          "server streaming: %r" % ([first] + rest))
    check(not finished_first and took < PROMPT,
          "server streaming: the first message (sent at once, the others "
          "%.1f s apart) arrived after %.2f s%s" % (
              GRPC_GAP, took, ", when the server had finished"
              if finished_first else ""))

    seen_before_second = []

    def client_messages():
        yield b"c0"
        seen_before_second.append(peer.first_seen.wait(GRPC_WAIT))
        yield b"c1"
        yield b"c2"
    out = channel.stream_unary(method + "ClientStream")(client_messages(),
                                                        timeout=8)
    check(out == b"c0,c1,c2", "client streaming: %r" % out)
    check(seen_before_second == [True],
          "client streaming: the server had not seen the first message "
          "%.1f s after the client sent it (the client had sent nothing "
          "more)" % GRPC_WAIT)

    pongs = queue.Queue()
    timely = []

    def pings():
        for i in range(3):
            yield b"p%d" % i
            try:
                pongs.get(timeout=GRPC_WAIT)
                timely.append(True)
            except queue.Empty:
                timely.append(False)
                return
    got = []
    for reply in channel.stream_stream(method + "Bidi")(pings(), timeout=8):
        got.append(reply)
        pongs.put(reply)
    check(timely == [True, True, True],
          "bidi: replies in time, ping by ping: %r (each reply must come "
          "before the next ping is sent); got %r" % (timely, got))
    check(got == [b"pong:p0", b"pong:p1", b"pong:p2"], "bidi: %r" % got)


def grpc_streaming_through_grpc_pass_with_a_body_hook():
    """grpc_pass behind an observing chain keeps gRPC's streams streaming
    in both directions, message by message."""
    import grpc
    h2_port = free_port()
    with GrpcPeer() as peer:
        http2_server = """
    server {
        listen 127.0.0.1:%d http2;
        location / { gwf_extension default/observe;
                     grpc_pass grpc://127.0.0.1:%d; }
    }
""" % (h2_port, peer.port)
        with Nginx(server(), OBSERVE, http_extra=http2_server) as ngx:
            channel = grpc.insecure_channel(
                "127.0.0.1:%d" % h2_port,
                options=[("grpc.enable_http_proxy", 0)])
            try:
                grpc.channel_ready_future(channel).result(timeout=5)
                _grpc_checks(peer, channel)
            except grpc.RpcError as e:
                raise TestFailure("gRPC call failed: %s %s"
                                  % (e.code(), e.details()))
            except grpc.FutureTimeoutError:
                raise TestFailure("no gRPC channel to nginx in 5 s")
            finally:
                channel.close()
            assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 12. DAV
# ---------------------------------------------------------------------------

def dav_put_with_a_request_body_hook_stores_the_file():
    """dav_methods PUT wants the body in a file, as nginx reads it; a
    chain with a request body hook must leave it so."""
    dav = ("root {PREFIX}/davroot", "dav_methods PUT",
           "create_full_put_path on", "dav_access user:rw all:r")
    ngx = Nginx(server(location("/alone/", *dav),
                       location("/dav/", "gwf", *dav)), OBSERVE)
    root = os.path.join(ngx.prefix, "davroot")
    for sub in ("alone", "dav"):
        os.makedirs(os.path.join(root, sub))
        os.chmod(os.path.join(root, sub), 0o777)  # the worker's user writes
    body = pattern_bytes(200000)
    with ngx:
        for path in ("/alone/a/b.txt", "/dav/a/b.txt"):
            r = request(ngx.port, "PUT", path, body=body)
            check(r.status == 201, "PUT %s answered %d: %r"
                  % (path, r.status, r.body[:300]))
            stored = os.path.join(root, path.lstrip("/"))
            with open(stored, "rb") as f:
                content = f.read()
            check(content == body, "%s holds %d bytes, not the %d sent"
                  % (stored, len(content), len(body)))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# 13. Hostile timing
# ---------------------------------------------------------------------------

UNBUFFERED_UPLOAD = ("proxy_request_buffering off", "proxy_http_version 1.1",
                     "proxy_pass http://{UP}")


def client_aborts_mid_upload_while_a_request_body_hook_pauses():
    """Each body chunk pauses the hook 200 ms; the client sends part of a
    1 MB body and closes. The hook saw chunks while the upload was under
    way, the stream completes, the upstream never gets the whole body,
    and the worker lives on."""
    manifests = {"p.yaml": [observing(
        "observe", "A", actions={"request_body": "pause_timer:200ms"})]}
    with BodyRecorder() as up, Nginx(server(
            location("/gwf/", "gwf", *UNBUFFERED_UPLOAD)),
            manifests, up) as ngx:
        ex = Exchange(ngx.port)
        ex.send(b"POST /gwf/abort HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Length: %d\r\n\r\n" % (1 << 20))
        for i in range(5):
            ex.send(pattern_bytes(16384, i * 1000))
            time.sleep(0.1)
        time.sleep(0.3)
        chunks_seen = len(re.findall(r"probe A request_body eos=0",
                                     ngx.log()))
        ex.close()
        ngx.wait_log(r"probe A stream_complete")
        ngx.wait_log(r"probe A stream_destroy")
        check(wait_for(lambda: re.search(r'"POST /gwf/abort HTTP/1.1" '
                                         r'(400|499) ', ngx.access()), 5),
              "the access log shows no 400/499 for the aborted upload:\n"
              + ngx.access())
        check(not any(rec["complete"] for rec in up.records),
              "the upstream got a whole request: %r"
              % [(r["path"], r["length"]) for r in up.records])
        r = request(ngx.port, "POST", "/gwf/after", body=b"still here")
        expect_status(r, 200, "a POST after the abort")
        assert_no_leaks(ngx)
        check(chunks_seen > 0,
              "the request_body hook saw no chunk of the 80 KB sent "
              "before the client closed (it only runs once the whole body "
              "is read):\n" + tail(ngx.log(), 20))


def local_reply_from_a_request_body_hook_mid_upload_reaches_the_client():
    """The request_body hook answers 413 at the first chunk of a 1 MB
    upload: the client gets the probe's 413 while it is still uploading,
    and the upstream never gets a whole request."""
    manifests = {"p.yaml": [observing(
        "observe", "R", actions={"request_body": "reply:413"},
        reply={"body": "too much for the probe\n", "details": "probe_body",
               "headers": {"x-probe": "413"}})]}
    with BodyRecorder() as up, Nginx(server(
            location("/gwf/", "gwf", *UNBUFFERED_UPLOAD)),
            manifests, up) as ngx:
        ex = Exchange(ngx.port)
        try:
            ex.send(b"POST /gwf/upload HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Length: %d\r\n\r\n" % (1 << 20) +
                    pattern_bytes(65536))
            status = ex.read_head(timeout=3.0)
            check(status == 413, "with 64 KB of a 1 MB upload sent, the "
                  "client got %s within 3 s" % (
                      "no answer" if status is None else "head %r" % ex.head))
            ex.wait_end(3)
            check(ex.body == b"too much for the probe\n" and
                  ex.header("x-probe") == "413",
                  "the 413 is not the probe's: %r %r" % (ex.head, ex.body))
        finally:
            ex.close()
        ngx.wait_log(r"probe R request_body eos=0")
        ngx.wait_log(r"probe R stream_destroy")
        check(not any(rec["complete"] for rec in up.records),
              "the upstream got a whole request: %r"
              % [(r["path"], r["length"]) for r in up.records])
        assert_no_leaks(ngx)


def request_body_hook_pausing_on_every_chunk_still_delivers_the_whole_body():
    """A request body hook that pauses on every chunk (a timer wakes it):
    nginx stops reading while it waits and reads on after each resume, so
    the whole body reaches the upstream, exactly, over HTTP/1.1 with
    request buffering on and off and over HTTP/2; the stream ends."""
    import subprocess
    manifests = {"p.yaml": [observing(
        "observe", "P", actions={"request_body": "pause_timer:5ms"})]}
    h2_port = free_port()
    h2_server = """
    server {
        listen 127.0.0.1:%d http2;
        client_max_body_size 10m;
        location / { gwf_extension default/observe; proxy_pass http://{UP}; }
    }
""" % h2_port
    body = pattern_bytes(600 * 1024, 7)
    want = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    with BodyRecorder() as up, Nginx(server(
            location("/buffered/", "gwf", "client_max_body_size 10m",
                     "proxy_pass http://{UP}"),
            location("/unbuffered/", "gwf", "client_max_body_size 10m",
                     *UNBUFFERED_UPLOAD)),
            manifests, up, http_extra=h2_server.replace(
                "{UP}", "127.0.0.1:%d" % up.port)) as ngx:
        for path in ("/buffered/u", "/unbuffered/u"):
            r = request(ngx.port, "POST", path, body=body)
            expect_status(r, 200, "POST " + path)
            check(json.loads(r.body) == want,
                  "%s: the upstream got %r" % (path, r.body[:200]))
        path = os.path.join(ngx.prefix, "upload.bin")
        with open(path, "wb") as f:
            f.write(body)
        out = subprocess.run(
            ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "15",
             "--data-binary", "@" + path,
             "http://127.0.0.1:%d/h2/u" % h2_port],
            capture_output=True, timeout=20)
        check(out.returncode == 0, "curl over HTTP/2: rc %d %r"
              % (out.returncode, out.stderr))
        check(json.loads(out.stdout) == want,
              "HTTP/2: the upstream got %r" % out.stdout[:200])
        check(len(re.findall(r"probe P request_body eos=0", ngx.log())) >= 6,
              "the hook did not see the bodies in chunks:\n"
              + tail(ngx.log(), 20))
        assert_no_leaks(ngx)


def http2_body_held_by_a_waiting_plugin_is_bounded_by_gwf_max_body():
    """HTTP/2 with nginx buffering the body gives the client its whole
    window, so nginx cannot be told to stop reading while a plugin waits:
    the chain takes the bytes, and once a waiting plugin would hold more
    than gwf_max_body the request is answered 413 rather than held in
    memory without bound. The worker lives on and the next upload
    passes."""
    import subprocess
    manifests = {"p.yaml": [observing(
        "observe", "W", actions={"request_body": "pause_timer:1s"})]}
    h2_port = free_port()
    h2_server = """
    server {
        listen 127.0.0.1:%d http2;
        client_max_body_size 20m;
        location / { gwf_extension default/observe; proxy_pass http://{UP}; }
    }
"""
    with BodyRecorder() as up, Nginx(
            server(), manifests, up,
            http_extra="gwf_max_body 256k;\n" + h2_server.replace(
                "{UP}", "127.0.0.1:%d" % up.port) % h2_port) as ngx:
        big = os.path.join(ngx.prefix, "big.bin")
        with open(big, "wb") as f:
            f.write(pattern_bytes(2 * 1024 * 1024, 3))

        def upload(path):
            return subprocess.run(
                ["curl", "-sS", "--http2-prior-knowledge", "--max-time",
                 "20", "-o", "/dev/null", "-w", "%{http_code}",
                 "--data-binary", "@" + path,
                 "http://127.0.0.1:%d/u" % h2_port],
                capture_output=True, timeout=25)
        out = upload(big)
        # nginx answers while the client still sends, then resets the
        # stream (NO_ERROR); curl may see the reset first (rc 92): the
        # access log tells what nginx answered.
        check(out.stdout == b"413" or out.returncode == 92,
              "2 MB upload held by a waiting plugin: %r %r"
              % (out.stdout, out.stderr))
        check(wait_for(lambda: re.search(r'"POST /u HTTP/2.0" 413 ',
                                         ngx.access()), 5),
              "the access log shows no 413 for the upload:\n" + ngx.access())
        check(not any(rec["complete"] for rec in up.records),
              "the upstream got a whole request: %r"
              % [(r["path"], r["length"]) for r in up.records])
        check("over gwf_max_body" in ngx.log(),
              "no error.log line says why:\n" + tail(ngx.log(), 20))
        small = os.path.join(ngx.prefix, "small.bin")
        with open(small, "wb") as f:
            f.write(pattern_bytes(1000, 4))
        out = upload(small)
        check(out.stdout == b"200", "a small upload after it: %r %r"
              % (out.stdout, out.stderr))
        assert_no_leaks(ngx)


CASES = {f.__name__: f for f in [
    unbuffered_stream_first_chunk_arrives_before_the_upstream_finishes,
    server_sent_events_flush_through_an_observing_chain,
    upgrade_101_passes_at_once_and_carries_data_both_ways,
    upstream_closing_early_gives_what_nginx_alone_gives,
    head_keeps_content_length,
    range_request_gets_206_through_an_observing_chain,
    content_length_kept_when_plugins_only_observe,
    body_changing_plugin_gets_chunked_framing,
    upload_100mb_with_a_streaming_hook_stays_bounded_in_memory,
    request_streams_with_proxy_request_buffering_off,
    grpc_streaming_through_grpc_pass_with_a_body_hook,
    dav_put_with_a_request_body_hook_stores_the_file,
    client_aborts_mid_upload_while_a_request_body_hook_pauses,
    local_reply_from_a_request_body_hook_mid_upload_reaches_the_client,
    request_body_hook_pausing_on_every_chunk_still_delivers_the_whole_body,
    http2_body_held_by_a_waiting_plugin_is_bounded_by_gwf_max_body,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
