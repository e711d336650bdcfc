"""attacks_lib.py - what the attack suite (tests/attacks/) shares beyond
tests/nginx/harness.py: raw-socket clients that send bytes no well-behaved
library would send, a parser for the answers nginx gives on one
connection, and the base64url / HS256 helpers hostile tokens are made with.

Standard library only; run with Debian's /usr/bin/python3. A test script
imports it after putting tests/attacks on sys.path:

    sys.path.insert(0, os.path.join(HERE, ".."))
    from attacks_lib import *   # also re-exports harness and test_nginx

Stable on purpose: several folders import it. Add, never change a
signature.
"""

import base64
import hashlib
import hmac
import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(_HERE, "..", "nginx")))

from harness import (  # noqa: E402,F401
    API, Background, Nginx, TestFailure, Upstream, check, direct_response,
    echo_header, metric, parse_metrics, probe, request, run_case, tail,
    wait_for)
from test_nginx import (  # noqa: E402,F401
    assert_no_leaks, assert_probe_streams_freed, expect_status, get_metrics,
    proxied, server, wait_paused)

RAW_TIMEOUT = 5.0  # one raw exchange, start to end


def b64url(data):
    """base64url without padding (RFC 7515 section 2)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(header_json, payload_json, secret):
    """A compact JWS signed with HMAC-SHA256 over exactly the given header
    and payload bytes (str or bytes), so tests can sign JSON no library
    would emit (duplicate members, deep nesting, bad UTF-8)."""
    signing_input = b64url(header_json) + "." + b64url(payload_json)
    if isinstance(secret, str):
        secret = secret.encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def raw_exchange(port, data, timeout=RAW_TIMEOUT, shut_write=False):
    """Send `data` on a new connection and read until nginx closes it or
    `timeout` passes; returns every byte received. shut_write half-closes
    the connection after sending (the client has nothing more to say)."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    received = b""
    deadline = time.monotonic() + timeout
    try:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                part = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not part:
                break
            received += part
    finally:
        s.close()
    return received


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:120])


def parse_responses(data):
    """Split the bytes of one connection into its HTTP/1.1 responses
    (Content-Length or chunked bodies; a body without either runs to the
    end). A trailing fragment that is not a whole response fails."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        check(sep, "a partial response head: %r" % data[:300])
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        check(len(parts) >= 2 and parts[0].startswith("HTTP/1."),
              "not a status line: %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        resp = RawResponse(int(parts[1]), headers, b"")
        if (resp.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    _, _, rest = rest.partition(b"\r\n")
                    break
                body += rest[:size]
                rest = rest[size + 2:]
            resp.body = body
        elif resp.header("content-length") is not None:
            n = int(resp.header("content-length"))
            resp.body, rest = rest[:n], rest[n:]
        else:
            resp.body, rest = rest, b""
        out.append(resp)
        data = rest
    return out
