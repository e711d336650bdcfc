#!/usr/bin/python3
"""test_attack_ext_authz.py - hostile authorization servers against
ext_authz in the real nginx.

    /usr/bin/python3 test_attack_ext_authz.py CASE   (exit 0 pass, 1 fail)

The authz server is a RawPeer (raw_peer.py): it answers every check with
the attack (hang, close halfway, lie about framing, flood, ...) until the
test calls the attack off, then properly (200 with x-user: alice). nginx
has two routes on it: /closed/ (statusOnError 503) and /open/ (failOpen:
true). Each case asserts, for the hostile answers:

  - /closed/ gets exactly 503 and nothing reaches the upstream;
  - /open/ reaches the upstream unchanged (no header of the hostile
    answer: an error lets the request through, it never applies a
    broken answer);
  - gwf_ext_authz_checks_total counts error and failed_open, never
    allowed;
  - the wait is bounded by requestTimeout;

and then that the gateway recovered: the next check gets the server's
proper answer (x-user: alice on the upstream), never bytes left over on
a connection by the attack. The harness fails the case if a worker died
or a sanitizer spoke. The gRPC cases do the same over HTTP/2 (h2c), with
a raw HTTP/2 server written here (frames and HPACK literals by hand).
"""

import os
import struct
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Nginx, Upstream, check, echo_header, metric,
    request, run_case)
from attacks_lib import parse_responses, raw_exchange  # noqa: E402
from raw_peer import RawPeer, peak_rss_kib  # noqa: E402
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)

TIMEOUT_S = 0.3
FLOOD_GROWTH_KIB = 48 * 1024  # a flood may cost the worker this, not more
STATUS_ON_ERROR = 503
LOCATIONS = server(proxied("/closed/", "gwf_policy default/closed"),
                   proxied("/open/", "gwf_policy default/open"))


# ---------------------------------------------------------------------------
# Manifests: one authz Backend, a fail-closed and a fail-open extension
# ---------------------------------------------------------------------------

def manifests(port, grpc=False, timeout="%dms" % (TIMEOUT_S * 1000)):
    if grpc:
        service = {"grpcService": {"backendRef": {"name": "authz"},
                                   "requestTimeout": timeout}}
    else:
        service = {"httpService": {
            "backendRef": {"name": "authz"}, "requestTimeout": timeout,
            "authorizationResponse": {"headersToBackend": ["x-user"]}}}
    docs = [{"apiVersion": API, "kind": "Backend",
             "metadata": {"name": "authz"},
             "spec": {"static": {"hosts": [{"host": "127.0.0.1",
                                            "port": port}]}}}]
    for name, extra in (("closed", {"statusOnError": STATUS_ON_ERROR}),
                        ("open", {"failOpen": True})):
        ext = dict(service, **extra)
        docs.append({"apiVersion": API, "kind": "GatewayExtension",
                     "metadata": {"name": name}, "spec": {"extAuth": ext}})
        docs.append({"apiVersion": API, "kind": "TrafficPolicy",
                     "metadata": {"name": name},
                     "spec": {"extAuth": {"extensionRef": {"name": name}}}})
    return {"authz.yaml": docs}


def checks(ngx, result):
    return metric(get_metrics(ngx), "gwf_ext_authz_checks_total",
                  result=result) or 0


# ---------------------------------------------------------------------------
# The HTTP peer: the attack until the test calls it off, then 200s
# ---------------------------------------------------------------------------

ALLOW = (b"HTTP/1.1 200 OK\r\nx-user: alice\r\nContent-Length: 0\r\n"
         b"\r\n")


def http_peer(attack, at_accept=False, proper=ALLOW):
    """A behaviour: until peer.recovered is set, every check gets
    attack(conn), which returns True to go on serving that connection
    (at_accept: before its request is read); then every check gets
    `proper` (ALLOW).
    """
    def behaviour(conn, peer):
        if at_accept and not peer.recovered.is_set():
            attack(conn)
            return
        while not peer.stopping.is_set():
            if conn.read_http_request() is None:
                return
            if peer.recovered.is_set():
                conn.send(proper)
            elif not attack(conn):
                return
    return behaviour


def answer(data, then_close=True):
    """An attack that sends `data`, then closes (or keeps the
    connection: the next request on it finds what `data` left over)."""
    def attack(conn):
        conn.send(data)
        return not then_close
    return attack


def then_hang(data):
    """An attack that sends `data`, then says nothing more."""
    def attack(conn):
        conn.send(data)
        conn.hang()
        return False
    return attack


def expect_error_outcome(attack, max_elapsed=TIMEOUT_S + 1.0, grpc=False,
                         at_accept=False, flood=False, hangs=False,
                         began_as_denial=False):
    """The shared script of the error cases (see the file's top); with
    flood, also that the worker's peak memory grew by less than
    FLOOD_GROWTH_KIB; with hangs (the server never completes its
    answer), that the error came at requestTimeout, not before; with
    began_as_denial (the broken answer's status said deny), that the
    fail-open route is refused too (403, the default statusOnError)."""
    min_elapsed = TIMEOUT_S * 0.9 if hangs else 0.0
    behaviour = grpc_peer(attack) if grpc else http_peer(attack, at_accept)
    with RawPeer(behaviour) as peer, Upstream() as up, Nginx(
            LOCATIONS, manifests(peer.port, grpc), up) as ngx:
        worker = ngx.worker_pids()[0]
        peak_before = peak_rss_kib(worker)
        r = request(ngx.port, "GET", "/closed/x",
                    headers={"authorization": "Bearer t"})
        expect_status(r, STATUS_ON_ERROR, "fail-closed route")
        check(min_elapsed <= r.elapsed < max_elapsed,
              "the error took %.2fs" % r.elapsed)
        check(up.hits == 0, "a fail-closed request reached the upstream")
        r = request(ngx.port, "GET", "/open/x")
        expect_status(r, 403 if began_as_denial else 200, "fail-open route")
        check(min_elapsed <= r.elapsed < max_elapsed,
              "the error took %.2fs" % r.elapsed)
        if began_as_denial:
            check(up.hits == 0, "a denied request reached the upstream")
        else:
            check(up.hits == 1, "the upstream saw %d requests" % up.hits)
            rec = up.requests[-1]
            check(rec["path"] == "/open/x", "upstream path %r" % rec["path"])
            check(echo_header(rec, "x-user") is None,
                  "a header of the broken answer reached the upstream: %r"
                  % echo_header(rec, "x-user"))
        check(peer.connections >= 1, "the authz server was never asked")
        if flood:
            grown = peak_rss_kib(worker) - peak_before
            check(grown < FLOOD_GROWTH_KIB, "the flood grew the worker by "
                  "%d KiB" % grown)
        counts = {k: checks(ngx, k) for k in
                  ("error", "failed_open", "allowed", "denied")}
        expected = {"error": 1, "failed_open": 1, "allowed": 0, "denied": 0}
        if began_as_denial:
            expected = {"error": 2, "failed_open": 0, "allowed": 0,
                        "denied": 0}
        check(counts == expected, "checks_total %r" % counts)
        # Recovery: the next check gets the server's own answer.
        peer.recovered.set()
        r = request(ngx.port, "GET", "/closed/after")
        expect_status(r, 200, "after the attack")
        got = echo_header(up.requests[-1], "x-user")
        check(got == "alice", "after the attack the upstream got x-user "
              "%r (a stale or smuggled answer?)" % got)
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# HTTP mode: time
# ---------------------------------------------------------------------------

def http_authz_hangs_request_timeout_is_honoured():
    def attack(conn):
        conn.hang()
        return False
    expect_error_outcome(attack, hangs=True)


def http_authz_drips_byte_by_byte_past_the_timeout():
    def attack(conn):
        conn.drip(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
                  b"Content-Length: 0\r\n\r\n", 0.05)
        return False
    expect_error_outcome(attack, hangs=True)


def http_authz_floods_an_endless_body():
    def attack(conn):
        conn.send(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        conn.flood(b"4000\r\n" + b"f" * 0x4000 + b"\r\n")
        return False
    expect_error_outcome(attack, flood=True)


# ---------------------------------------------------------------------------
# HTTP mode: answers cut short (a truncated answer is never an allow)
# ---------------------------------------------------------------------------

def http_authz_closes_at_once():
    expect_error_outcome(lambda conn: False, at_accept=True)


def http_authz_closes_after_the_status_line():
    expect_error_outcome(answer(b"HTTP/1.1 200 OK\r\n"))


def http_authz_closes_mid_headers():
    expect_error_outcome(answer(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
                                b"Content-Le"))


def http_authz_truncated_denial_is_an_error_not_a_denial():
    """The answer is cut after a denial's status line: an error (its
    headers cannot be trusted, so statusOnError, not the 401), and one
    that failOpen does not allow: the server had begun to deny."""
    expect_error_outcome(answer(b"HTTP/1.1 401 Unauthorized\r\n"
                                b"www-authenticate: Bearer\r\n"),
                         began_as_denial=True)


def http_authz_closes_mid_body_short_content_length():
    expect_error_outcome(answer(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
                                b"Content-Length: 100\r\n\r\nonly this"))


def http_authz_closes_mid_body_unterminated_chunked():
    expect_error_outcome(answer(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n"
                                b"5\r\nabcde\r\n"))


# ---------------------------------------------------------------------------
# HTTP mode: forged framing (ambiguous framing is an error, RFC 9112 6.1,
# and nothing left on the connection may answer a later check)
# ---------------------------------------------------------------------------

SMUGGLED = (b"HTTP/1.1 200 OK\r\nx-user: smuggled\r\nContent-Length: 0\r\n"
            b"\r\n")


def http_authz_content_length_and_chunked():
    expect_error_outcome(answer(
        b"HTTP/1.1 200 OK\r\nx-user: mallory\r\nContent-Length: 0\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED * 3,
        then_close=False))


def http_authz_two_different_content_lengths():
    expect_error_outcome(answer(
        b"HTTP/1.1 200 OK\r\nx-user: mallory\r\nContent-Length: 0\r\n"
        b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED * 3,
        then_close=False))


def http_authz_negative_content_length():
    expect_error_outcome(answer(
        b"HTTP/1.1 200 OK\r\nx-user: mallory\r\nContent-Length: -1\r\n"
        b"\r\nbody until close"))


def http_authz_huge_content_length():
    expect_error_outcome(then_hang(
        b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
        b"Content-Length: 99999999999999999999999999\r\n\r\nabc"))


def http_authz_content_length_over_the_answer_bound():
    """2 GiB announced: over the 1 MiB bound, an error without waiting
    for the bytes (or at the timeout: either way bounded)."""
    expect_error_outcome(then_hang(
        b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n"
        b"Content-Length: 2147483648\r\n\r\nabc"))


# ---------------------------------------------------------------------------
# HTTP mode: headers over the bounds (100 lines, 1 MiB)
# ---------------------------------------------------------------------------

def http_authz_too_many_header_lines():
    lines = b"".join(b"x-h%d: v\r\n" % i for i in range(150))
    expect_error_outcome(answer(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n" +
                                lines + b"Content-Length: 0\r\n\r\n",
                                then_close=False))


def http_authz_huge_header():
    big = b"x-big: " + b"b" * (1100 * 1024) + b"\r\n"
    expect_error_outcome(answer(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n" +
                                big + b"Content-Length: 0\r\n\r\n",
                                then_close=False))


# ---------------------------------------------------------------------------
# HTTP mode: interim answers (1xx is never a verdict)
# ---------------------------------------------------------------------------

def http_authz_100_continue_then_nothing():
    expect_error_outcome(then_hang(b"HTTP/1.1 100 Continue\r\n\r\n"),
                         hangs=True)


def http_authz_100_continue_then_close():
    expect_error_outcome(answer(b"HTTP/1.1 100 Continue\r\n\r\n"))


def http_authz_101_switching_protocols_then_nothing():
    """101 ends HTTP on the connection: an error at once (the SDK's
    HTTP/1.1 client refuses it), not a wait for requestTimeout."""
    expect_error_outcome(then_hang(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
        b"Connection: Upgrade\r\n\r\n"))


def http_authz_103_early_hints_then_nothing():
    expect_error_outcome(then_hang(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"),
        hangs=True)


# ---------------------------------------------------------------------------
# HTTP mode: complete answers with the statuses Envoy gives a meaning
# ---------------------------------------------------------------------------

def http_authz_5xx_is_an_error():
    """As Envoy's RawHttpClientImpl: a 5xx from the authz server is an
    error (statusOnError, or allowed with failOpen), never passed on."""
    expect_error_outcome(answer(
        b"HTTP/1.1 502 Bad Gateway\r\nx-user: mallory\r\n"
        b"Content-Length: 9\r\n\r\nupstream!", then_close=False))


def http_authz_redirect_is_a_denial_passed_to_the_client():
    """A 302 is a denial, on both routes (failOpen never turns a denial
    into an allow): the client gets the status, Location and body."""
    deny = (b"HTTP/1.1 302 Found\r\nLocation: https://login.example/?r=1"
            b"\r\nx-user: mallory\r\nContent-Length: 5\r\n\r\nlogin")
    with RawPeer(http_peer(answer(deny, then_close=False))) as peer, \
            Upstream() as up, \
            Nginx(LOCATIONS, manifests(peer.port), up) as ngx:
        for path in ("/closed/x", "/open/x"):
            r = request(ngx.port, "GET", path)
            expect_status(r, 302, path)
            check(r.header("location") == "https://login.example/?r=1",
                  "%s: location %r" % (path, r.header("location")))
            check(r.body == b"login", "%s: body %r" % (path, r.body))
        check(up.hits == 0, "a denied request reached the upstream")
        counts = {k: checks(ngx, k) for k in ("denied", "error", "allowed",
                                               "failed_open")}
        check(counts == {"denied": 2, "error": 0, "allowed": 0,
                         "failed_open": 0}, "checks_total %r" % counts)
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# Client-caused failures are never service failures (failOpen: true)
# ---------------------------------------------------------------------------

def raw_status(port, data, timeout):
    """Send raw request bytes (on one connection, closed by the request's
    Connection: close); the status of nginx's one answer."""
    return parse_responses(raw_exchange(port, data, timeout))[0].status


DENY = (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 15\r\n\r\n"
        b"checked, denied")


def expect_never_forwarded_unchecked(send, status, proper=ALLOW,
                                     locations=LOCATIONS):
    """`send(ngx)` makes an odd request on the fail-open route, whose
    authz server answers `proper`. The request must get `status`, never
    reach the upstream, and never count as a failed service: failOpen is
    for the service's failures, not for what the client sent."""
    with RawPeer(http_peer(None, proper=proper)) as peer, Upstream() as up, \
            Nginx(locations, manifests(peer.port), up) as ngx:
        peer.recovered.set()
        got = send(ngx)
        counts = {k: checks(ngx, k) for k in ("failed_open", "allowed")}
        check(counts["failed_open"] == 0,
              "the request was let through unchecked (status %d from the "
              "upstream?): checks_total %r" % (got, counts))
        check(got == status, "expected %d, got %d" % (status, got))
        check(up.hits == 0, "the request reached the upstream: %r"
              % [r["path"][:80] for r in up.requests])
        assert_no_leaks(ngx)


def client_70_char_method_is_refused_with_fail_open():
    """libcurl is given at most 63 method bytes: a longer method cannot be
    checked, which is the client's doing: 400, although the server would
    allow."""
    expect_never_forwarded_unchecked(
        lambda ngx: request(ngx.port, "M" * 70, "/open/x", body=b"x").status,
        400)


def client_huge_path_is_checked_with_fail_open():
    """A 9 MiB path (nginx is told to take it), over the plugin's 8 MB
    bound on the check's request target (libcurl's own: beyond it libcurl
    silently asked about "/" instead): the client's doing, refused 400
    with failOpen, never forwarded unchecked."""
    path = b"/open/" + b"a" * (9 << 20)
    expect_never_forwarded_unchecked(
        lambda ngx: raw_status(ngx.port, b"GET " + path + b" HTTP/1.1\r\n"
                               b"Host: localhost\r\nConnection: close\r\n"
                               b"\r\n", timeout=20),
        400, proper=DENY,
        locations="        large_client_header_buffers 4 12m;\n" + LOCATIONS)


# ---------------------------------------------------------------------------
# gRPC mode: a raw HTTP/2 server
# ---------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
CONTINUATION = 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + \
        struct.pack(">BBI", ftype, flags, stream) + payload


def hpack(headers):
    """A header block of literals without indexing (no Huffman)."""
    out = b""
    for name, value in headers:
        out += b"\x00" + bytes([len(name)]) + name + \
            bytes([len(value)]) + value
    return out


def read_frame(conn):
    head = conn.read_exactly(9)
    length = struct.unpack(">I", b"\0" + head[:3])[0]
    ftype, flags, stream = struct.unpack(">BBI", head[3:])
    return ftype, flags, stream & 0x7fffffff, conn.read_exactly(length)


def read_grpc_call(conn):
    """Settle SETTINGS and read one call to its END_STREAM; the stream
    id, or None when the client went away."""
    try:
        if conn.read_exactly(len(PREFACE)) != PREFACE:
            return None
        conn.send(frame(SETTINGS, 0, 0))
        while True:
            ftype, flags, stream, _ = read_frame(conn)
            if ftype == SETTINGS and not flags & ACK:
                conn.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                conn.send(frame(PING, ACK, 0, _))
            elif ftype in (HEADERS, DATA) and flags & END_STREAM:
                return stream
    except (EOFError, OSError):
        return None


def grpc_reply(stream, message, status=b"0"):
    """HEADERS 200, one DATA frame carrying `message` as it is (a whole
    gRPC frame, or whatever the attack wants), the grpc-status trailer."""
    return (frame(HEADERS, END_HEADERS, stream,
                  hpack([(b":status", b"200"),
                         (b"content-type", b"application/grpc")])) +
            frame(DATA, 0, stream, message) +
            frame(HEADERS, END_HEADERS | END_STREAM, stream,
                  hpack([(b"grpc-status", status)])))


def grpc_message(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


# An empty CheckResponse: no status, allowed; then the test checks
# x-user: alice, which an OkHttpResponse header carries:
#   CheckResponse.ok_response (3) { headers (2) { header (1) {key, value}}}
def _ok_with_user():
    def ld(num, data):
        return bytes([num << 3 | 2, len(data)]) + data
    hv = ld(1, ld(1, b"x-user") + ld(2, b"alice"))
    return ld(3, ld(2, hv))


GRPC_ALLOW = grpc_message(_ok_with_user())


def grpc_peer(attack):
    """As http_peer, one call per connection (h2c is not reused)."""
    def behaviour(conn, peer):
        stream = read_grpc_call(conn)
        if stream is None:
            return
        if peer.recovered.is_set():
            conn.send(grpc_reply(stream, GRPC_ALLOW))
            try:  # let the client close first
                conn.read_exactly(1 << 30)
            except (EOFError, OSError):
                pass
            return
        attack(conn, stream)
    return behaviour


def grpc_authz_hangs_request_timeout_is_honoured():
    expect_error_outcome(lambda conn, stream: conn.hang(), grpc=True,
                         hangs=True)


def grpc_authz_answers_garbage_instead_of_http2():
    def attack(conn, stream):
        conn.send(b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n\r\n" +
                  b"\xde\xad\xbe\xef" * 64)
        conn.hang()
    expect_error_outcome(attack, grpc=True)


def grpc_authz_resets_the_stream():
    def attack(conn, stream):
        conn.send(frame(RST_STREAM, 0, stream, struct.pack(">I", 2)))
        conn.hang()
    expect_error_outcome(attack, grpc=True)


def grpc_authz_sends_goaway():
    def attack(conn, stream):
        conn.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 2)))
        conn.hang()
    expect_error_outcome(attack, grpc=True)


def grpc_authz_bad_grpc_length_prefix():
    def attack(conn, stream):
        conn.send(grpc_reply(stream, b"\x00\x7f\xff\xff\xff" + b"\x00" * 8))
        conn.hang()
    expect_error_outcome(attack, grpc=True)


def grpc_authz_check_response_is_not_protobuf():
    def attack(conn, stream):
        conn.send(grpc_reply(stream, grpc_message(b"\xff\xff\xff\xff\x0f")))
        conn.hang()
    expect_error_outcome(attack, grpc=True)


def grpc_authz_floods_endless_data():
    """DATA frames without end (past the 1 MiB answer bound and the
    flow-control window): an error, memory bounded."""
    def attack(conn, stream):
        conn.send(frame(HEADERS, END_HEADERS, stream,
                        hpack([(b":status", b"200"),
                               (b"content-type", b"application/grpc")])) +
                  frame(DATA, 0, stream, grpc_message(b"\x0a" * 8)))
        conn.flood(frame(DATA, 0, stream, b"\x0a" * 16384) * 4)
    expect_error_outcome(attack, grpc=True, flood=True)


def grpc_authz_floods_continuation_frames():
    """A header block that never ends (HEADERS, then CONTINUATION frames
    without END_HEADERS): an error within requestTimeout, memory
    bounded (the class of CVE-2024-27316 / -28182)."""
    def attack(conn, stream):
        conn.send(frame(HEADERS, 0, stream,
                        hpack([(b":status", b"200")])))
        conn.flood(frame(CONTINUATION, 0, stream,
                         hpack([(b"x-f", b"f" * 100)] * 100)) * 8)
    expect_error_outcome(attack, grpc=True, flood=True)


# ---------------------------------------------------------------------------
# Issue 18: a denial stays a denial; framing; answer size
# ---------------------------------------------------------------------------

def expect_denial_under_fail_open(behaviour, grpc, readable=True):
    """The fail-open route gets 403, never the upstream: a denial with a
    broken header is not an error for failOpen to allow. readable: the
    answer could be read (gRPC: the protobuf is whole), so it is the
    server's denial with its valid headers; else (an HTTP answer libcurl
    refuses halfway) an error that failOpen does not allow."""
    with RawPeer(behaviour) as peer, Upstream() as up, Nginx(
            LOCATIONS, manifests(peer.port, grpc), up) as ngx:
        r = request(ngx.port, "GET", "/open/x")
        expect_status(r, 403, "fail-open route, denied")
        check(up.hits == 0, "a denied request reached the upstream")
        counts = {k: checks(ngx, k) for k in ("denied", "failed_open")}
        if readable:
            check(r.header("x-good") == "yes",
                  "the denial's valid header is missing: %r" % r.headers)
            check(counts == {"denied": 1, "failed_open": 0},
                  "checks_total %r" % counts)
        else:
            check(counts["failed_open"] == 0, "checks_total %r" % counts)
        assert_no_leaks(ngx)


def http_authz_denial_with_invalid_headers_stays_a_denial():
    """A 403 whose header lines are broken (a space in a name, a line
    without a colon where a CR LF inside a value would have been)."""
    deny = (b"HTTP/1.1 403 Forbidden\r\nx reason: r\r\nx-bad: a\r\nb\r\n"
            b"x-good: yes\r\nContent-Length: 6\r\n\r\ndenied")
    expect_denial_under_fail_open(http_peer(answer(deny)), grpc=False,
                                  readable=False)


def _ld(num, data):
    """A length-delimited protobuf field (any length)."""
    n, size = len(data), b""
    while True:
        size += bytes([(n & 0x7f) | (0x80 if n > 0x7f else 0)])
        n >>= 7
        if not n:
            break
    return bytes([num << 3 | 2]) + size + data


def _header_option(name, value):
    return _ld(1, _ld(1, name) + _ld(2, value))


def grpc_authz_denial_with_invalid_headers_stays_a_denial():
    """PERMISSION_DENIED whose denied_response has headers with an invalid
    name ("x reason", "") and value ("a\r\nb")."""
    denied = (_ld(1, b"\x08\x93\x03") +  # HttpStatus 403
              _ld(2, _header_option(b"x reason", b"r")) +
              _ld(2, _header_option(b"", b"e")) +
              _ld(2, _header_option(b"x-bad", b"a\r\nb")) +
              _ld(2, _header_option(b"x-good", b"yes")))
    message = grpc_message(_ld(1, b"\x08\x07") + _ld(2, denied))

    def behaviour(conn, peer):
        stream = read_grpc_call(conn)
        if stream is not None:
            conn.send(grpc_reply(stream, message))
            conn.hang()
    expect_denial_under_fail_open(behaviour, grpc=True)


def grpc_authz_status_without_trailers_is_an_error():
    """grpc-status: 0 in the first HEADERS, then the allowing message
    with END_STREAM and no trailers: not a whole gRPC answer (Envoy
    fails it), so an error, never the allow it carries."""
    def attack(conn, stream):
        conn.send(frame(HEADERS, END_HEADERS, stream,
                        hpack([(b":status", b"200"),
                               (b"content-type", b"application/grpc"),
                               (b"grpc-status", b"0")])) +
                  frame(DATA, END_STREAM, stream, GRPC_ALLOW))
        conn.hang()
    expect_error_outcome(attack, grpc=True)


def _data_frames(stream, payload):
    """`payload` in DATA frames of the default 16 KiB maximum, the last
    one ending nothing (the trailers end the stream)."""
    return b"".join(frame(DATA, 0, stream, payload[i:i + 16384])
                    for i in range(0, len(payload), 16384))


def grpc_authz_40000_headers_are_refused_quickly():
    """An OK answer with x-user and 40,000 more headers (about 700 KB,
    under the 1 MiB answer bound): over maxAnswerHeaders (100), so an
    error (the service's fault), reached in well under a second instead
    of seconds of header work; nothing of it reaches the upstream."""
    ok = _ld(2, _header_option(b"x-user", b"alice"))
    ok += b"".join(_ld(2, _header_option(b"x-h%d" % i, b"v"))
                   for i in range(40000))
    message = grpc_message(_ld(1, b"") + _ld(3, ok))

    def attack(conn, stream):
        conn.send(frame(HEADERS, END_HEADERS, stream,
                        hpack([(b":status", b"200"),
                               (b"content-type", b"application/grpc")])) +
                  _data_frames(stream, message) +
                  frame(HEADERS, END_HEADERS | END_STREAM, stream,
                        hpack([(b"grpc-status", b"0")])))
        conn.hang()
    expect_error_outcome(attack, grpc=True, max_elapsed=TIMEOUT_S + 0.7)


CASES = {f.__name__: f for f in [
    http_authz_hangs_request_timeout_is_honoured,
    http_authz_drips_byte_by_byte_past_the_timeout,
    http_authz_floods_an_endless_body,
    http_authz_closes_at_once,
    http_authz_closes_after_the_status_line,
    http_authz_closes_mid_headers,
    http_authz_truncated_denial_is_an_error_not_a_denial,
    http_authz_closes_mid_body_short_content_length,
    http_authz_closes_mid_body_unterminated_chunked,
    http_authz_content_length_and_chunked,
    http_authz_two_different_content_lengths,
    http_authz_negative_content_length,
    http_authz_huge_content_length,
    http_authz_content_length_over_the_answer_bound,
    http_authz_too_many_header_lines,
    http_authz_huge_header,
    http_authz_100_continue_then_nothing,
    http_authz_100_continue_then_close,
    http_authz_101_switching_protocols_then_nothing,
    http_authz_103_early_hints_then_nothing,
    http_authz_5xx_is_an_error,
    http_authz_redirect_is_a_denial_passed_to_the_client,
    client_70_char_method_is_refused_with_fail_open,
    client_huge_path_is_checked_with_fail_open,
    grpc_authz_hangs_request_timeout_is_honoured,
    grpc_authz_answers_garbage_instead_of_http2,
    grpc_authz_resets_the_stream,
    grpc_authz_sends_goaway,
    grpc_authz_bad_grpc_length_prefix,
    grpc_authz_check_response_is_not_protobuf,
    grpc_authz_floods_endless_data,
    grpc_authz_floods_continuation_frames,
    http_authz_denial_with_invalid_headers_stays_a_denial,
    grpc_authz_denial_with_invalid_headers_stays_a_denial,
    grpc_authz_status_without_trailers_is_an_error,
    grpc_authz_40000_headers_are_refused_quickly,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
