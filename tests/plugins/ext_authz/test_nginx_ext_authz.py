#!/usr/bin/python3
"""test_nginx_ext_authz.py - the ext_authz plugin in the real nginx.

    /usr/bin/python3 test_nginx_ext_authz.py CASE   (exit 0 pass, 1 fail)

Reuses tests/nginx/harness.py (nginx in a temporary prefix, the upstream
echo server, the leak check on gwf_streams_active / gwf_async_active).
The HTTP authorization server is authz_http.py's, run in this process on
its own loopback port; the gRPC one is authz_grpc.py, run as a child.
"""

import os
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

import authz_http  # noqa: E402
from harness import (  # noqa: E402
    API, HTTP_TIMEOUT, Background, Nginx, TestFailure, Upstream, check,
    echo_header, free_port, metric, request, run_case, wait_for)
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)


class AuthzHttp:
    """authz_http.py's server in a thread; .seen records every check."""

    def __enter__(self):
        self.srv = authz_http.Server(("127.0.0.1", 0), authz_http.Handler)
        self.seen = self.srv.seen = []
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


class AuthzGrpc:
    """authz_grpc.py as a child process (exits when its stdin closes)."""

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "authz_grpc.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = b""
        deadline = time.monotonic() + 10
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            ch = self.proc.stdout.read(1)
            if not ch:
                break
            line += ch
        if not line.startswith(b"PORT "):
            self.__exit__()
            raise TestFailure("authz_grpc.py did not start: %r" % line)
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def manifests(port, ext_auth):
    return {"authz.yaml": [
        {"apiVersion": API, "kind": "Backend", "metadata": {"name": "authz"},
         "spec": {"static": {"hosts": [{"host": "127.0.0.1",
                                        "port": port}]}}},
        {"apiVersion": API, "kind": "GatewayExtension",
         "metadata": {"name": "authz"}, "spec": {"extAuth": ext_auth}},
        {"apiVersion": API, "kind": "TrafficPolicy",
         "metadata": {"name": "api"},
         "spec": {"extAuth": {"extensionRef": {"name": "authz"},
                              "contextExtensions": {"team": "pay"}}}},
    ]}


def http_service(**extra):
    svc = {"backendRef": {"name": "authz"},
           "authorizationResponse": {
               "headersToBackend": ["x-user", "x-authz-conn",
                                    "x-authz-body", "x-authz-path"],
               "headersToClientOnSuccess": ["x-client-hello"]}}
    svc.update(extra)
    return svc


LOCATIONS = server(proxied("/", "gwf_policy default/api"))


# Answers cut short, by the last part of the checked path: each is what a
# server sent before closing the connection. "complete" is the control.
CUT_ANSWERS = {
    "status-only": b"HTTP/1.1 200 OK\r\n",
    "headers-without-end": b"HTTP/1.1 200 OK\r\nx-user: mallory\r\n",
    "header-line-cut": b"HTTP/1.1 200 OK\r\nx-user: mal",
    "content-length-short":
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "chunked-without-last-chunk":
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n",
    "chunked-without-trailer-end":
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
    "interim-only": b"HTTP/1.1 100 Continue\r\n\r\n",
    "deny-status-only": b"HTTP/1.1 403 Forbidden\r\n",
}
COMPLETE_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
# Answers whose body's end is left to interpretation (RFC 9112 6.3); what
# follows the body is another answer, smuggled.
SMUGGLED = b"HTTP/1.1 200 OK\r\nx-user: mallory\r\nContent-Length: 0\r\n\r\n"
AMBIGUOUS_ANSWERS = {
    "content-length-and-chunked":
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "two-content-lengths":
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: %d\r\n"
        b"\r\n" % len(SMUGGLED) + SMUGGLED,
}


class CutAuthz:
    """A raw socket authz server: reads one request per connection and
    answers it with CUT_ANSWERS or AMBIGUOUS_ANSWERS[last path segment]
    (or COMPLETE_ANSWER for .../complete), then closes. Counts the checks it received."""

    def __enter__(self):
        self.lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsn.bind(("127.0.0.1", 0))
        self.lsn.listen(64)
        self.lsn.settimeout(0.1)
        self.port = self.lsn.getsockname()[1]
        self.checks = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.lsn.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    target = data.split(b" ", 2)[1].decode("latin-1")
                    self.checks += 1
                    name = target.rsplit("/", 1)[-1]
                    conn.sendall(CUT_ANSWERS.get(
                        name, AMBIGUOUS_ANSWERS.get(name, COMPLETE_ANSWER)))
                    conn.shutdown(socket.SHUT_WR)
                except (OSError, IndexError):
                    pass

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join(5)
        self.lsn.close()


def raw_request(port, data, timeout=HTTP_TIMEOUT):
    """Send raw bytes (a request the http.client would not write) on a
    connection of its own; returns (status, body) once nginx closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body
    except (IndexError, ValueError):
        raise TestFailure("no HTTP answer to %r: %r" % (data[:80], got[:200]))


def fail_open_manifests(port, ext_auth):
    """manifests() plus GatewayExtension/TrafficPolicy "open": the same
    service with failOpen true."""
    docs = manifests(port, ext_auth)
    docs["open.yaml"] = [
        {"apiVersion": API, "kind": "GatewayExtension",
         "metadata": {"name": "open"},
         "spec": {"extAuth": dict(ext_auth, failOpen=True)}},
        {"apiVersion": API, "kind": "TrafficPolicy",
         "metadata": {"name": "open"},
         "spec": {"extAuth": {"extensionRef": {"name": "open"}}}}]
    return docs


FAIL_OPEN_LOCATIONS = server(proxied("/", "gwf_policy default/api"),
                             proxied("/open/", "gwf_policy default/open"))


def nginx_allow_deny_and_error():
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": http_service()}),
            up) as ngx:
        r = request(ngx.port, "GET", "/allow/a?x=1",
                    headers={"x-secret": "s", "authorization": "Bearer t"})
        expect_status(r, 200, "allowed")
        rec = up.requests[-1]
        check(echo_header(rec, "x-user") == "alice",
              "upstream did not get x-user: %r" % rec["headers"])
        check(echo_header(rec, "x-authz-path") == "/allow/a?x=1",
              "authz saw path %r" % echo_header(rec, "x-authz-path"))
        check(echo_header(rec, "x-secret") is None,
              "x-secret was not removed: %r" % rec["headers"])
        check(r.header("x-client-hello") == "from-authz",
              "no x-client-hello on the response: %r" % r.headers)

        r = request(ngx.port, "GET", "/deny")
        expect_status(r, 401, "denied")
        check(r.body == b"denied by test", "denial body %r" % r.body)
        check(r.header("www-authenticate") == 'Bearer realm="test"',
              "denial headers %r" % r.headers)

        r = request(ngx.port, "GET", "/error")
        expect_status(r, 403, "authz 5xx")
        check(up.hits == 1, "denied requests reached the upstream")
        m = get_metrics(ngx)
        for result, n in (("allowed", 1), ("denied", 1), ("error", 1)):
            got = metric(m, "gwf_ext_authz_checks_total", result=result)
            check(got == n, "checks_total{result=%s} = %r" % (result, got))
        assert_no_leaks(ngx)


def nginx_connections_are_kept_alive():
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": http_service()}),
            up) as ngx:
        for i in range(1, 4):
            expect_status(request(ngx.port, "GET", "/allow"), 200)
            got = echo_header(up.requests[-1], "x-authz-conn")
            check(got == str(i), "check %d went on a connection that had "
                  "carried %s requests" % (i, got))
        assert_no_leaks(ngx)


def nginx_fail_open_and_status_on_error_when_authz_is_down():
    port = free_port()
    with Upstream() as up, Nginx(
            server(proxied("/", "gwf_policy default/api"),
                   proxied("/open", "gwf_policy default/open")),
            dict(manifests(port, {"httpService": http_service(),
                                  "statusOnError": 503}),
                 **{"open.yaml": [
                     {"apiVersion": API, "kind": "GatewayExtension",
                      "metadata": {"name": "open"},
                      "spec": {"extAuth": {"failOpen": True,
                                           "httpService": http_service()}}},
                     {"apiVersion": API, "kind": "TrafficPolicy",
                      "metadata": {"name": "open"},
                      "spec": {"extAuth": {"extensionRef":
                                           {"name": "open"}}}}]}),
            up) as ngx:
        expect_status(request(ngx.port, "GET", "/x"), 503, "authz down")
        expect_status(request(ngx.port, "GET", "/open/x"), 200,
                      "authz down, failOpen")
        check(up.hits == 1, "expected only the fail-open request upstream")
        assert_no_leaks(ngx)


def nginx_timeout_is_an_error():
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": http_service(
                requestTimeout="150ms")}), up) as ngx:
        r = request(ngx.port, "GET", "/slow")
        expect_status(r, 403, "authz too slow")
        check(r.elapsed < 2.0, "the timeout took %.2fs" % r.elapsed)
        assert_no_leaks(ngx)


def nginx_timeout_while_connecting_is_an_error():
    """A server whose accept queue is full: connects hang until the
    timeout, which removes a transfer that is still connecting (libcurl
    then closes its socket before it says so: no epoll alert may follow)."""
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    fillers = []
    try:
        for _ in range(4):  # fill the queue; further SYNs are dropped
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(lsn.getsockname())
            fillers.append(f)
        time.sleep(0.1)
        with Upstream() as up, Nginx(
                LOCATIONS, manifests(lsn.getsockname()[1], {
                    "httpService": http_service(requestTimeout="150ms")}),
                up) as ngx:
            for _ in range(3):
                r = request(ngx.port, "GET", "/allow")
                expect_status(r, 403, "connect never completes")
            check(up.hits == 0, "a request reached the upstream")
            assert_no_leaks(ngx)
    finally:
        for f in fillers:
            f.close()
        lsn.close()


def nginx_request_body_goes_to_authz():
    ext = {"httpService": http_service(),
           "withRequestBody": {"maxRequestBytes": 16}}
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, ext), up) as ngx:
        r = request(ngx.port, "POST", "/allow", body=b"hello body")
        expect_status(r, 200, "with body")
        rec = up.requests[-1]
        check(echo_header(rec, "x-authz-body") == "hello body",
              "authz saw body %r" % echo_header(rec, "x-authz-body"))
        check(rec["body"] == "hello body", "upstream body %r" % rec["body"])
        r = request(ngx.port, "POST", "/allow", body=b"x" * 100)
        expect_status(r, 413, "body over maxRequestBytes")
        r = request(ngx.port, "POST", "/allow", body=[b"x" * 10, b"y" * 10],
                    chunked=True)
        expect_status(r, 413, "chunked body over maxRequestBytes")
        check(up.hits == 1, "a refused body reached the upstream")
        assert_no_leaks(ngx)


def nginx_body_streams_when_the_check_does_not_need_it():
    """Without withRequestBody the check is made on the headers and the
    body streams to the upstream as nginx reads it: a 3 MB POST under
    client_max_body_size 20m is answered 200, not 413 (gwf_max_body,
    1m, bounds only bodies a plugin holds whole)."""
    big = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            server(proxied("/", "gwf_policy default/api; "
                                "client_max_body_size 20m")),
            manifests(authz.port, {"httpService": http_service()}),
            up) as ngx:
        r = request(ngx.port, "POST", "/allow", body=big)
        expect_status(r, 200, "3 MB POST")
        rec = up.requests[-1]
        check(rec["body_len"] == len(big) and
              rec["body"].encode("latin-1") == big,
              "the upstream got %d bytes" % rec["body_len"])
        check(echo_header(rec, "x-user") == "alice",
              "the check's answer was not applied: %r" % rec["headers"])
        assert_no_leaks(ngx)


def nginx_client_abort_cancels_the_check():
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": http_service(
                requestTimeout="10s")}), up) as ngx:
        s = socket.create_connection(("127.0.0.1", ngx.port), 5)
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.3)
        s.close()
        # The check is cancelled with the stream, long before the server's
        # 3 s answer or the 10 s timeout.
        assert_no_leaks(ngx, timeout=2.0)
        expect_status(request(ngx.port, "GET", "/allow"), 200,
                      "after the abort")
        check(up.hits == 1, "the aborted request reached the upstream")


def nginx_grpc_allow_and_deny():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"grpcService": {
                "backendRef": {"name": "authz"}}}), up) as ngx:
        r = request(ngx.port, "GET", "/allow", headers={"x-custom": "c"})
        expect_status(r, 200, "grpc allow")
        rec = up.requests[-1]
        for name, want in (("x-user", "alice"), ("x-grpc-ctx", "team=pay"),
                           ("x-grpc-custom", "c"),
                           ("x-grpc-source", "127.0.0.1")):
            check(echo_header(rec, name) == want,
                  "%s: %r" % (name, echo_header(rec, name)))
        r = request(ngx.port, "GET", "/deny")
        expect_status(r, 401, "grpc deny")
        check(r.body == b"grpc denied", "body %r" % r.body)
        expect_status(request(ngx.port, "GET", "/fail"), 403, "grpc failure")
        check(up.hits == 1, "denied requests reached the upstream")
        assert_no_leaks(ngx)


def nginx_concurrent_checks():
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": http_service()}),
            up, workers=2) as ngx:
        reqs = [Background(ngx.port, "GET", "/allow/%d" % i)
                for i in range(20)]
        for b in reqs:
            expect_status(b.result(), 200, "concurrent")
        check(up.hits == 20, "upstream saw %d requests" % up.hits)
        assert_no_leaks(ngx)


def nginx_concurrent_grpc_checks():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"grpcService": {
                "backendRef": {"name": "authz"},
                "requestTimeout": "5s"}}), up) as ngx:
        reqs = [Background(ngx.port, "GET", "/allow/%d" % i)
                for i in range(20)]
        for b in reqs:
            expect_status(b.result(), 200, "concurrent gRPC")
        check(up.hits == 20, "upstream saw %d requests" % up.hits)
        assert_no_leaks(ngx)


def nginx_reload_with_cached_connections():
    """worker_stop closes the kept-alive authz connections of the old
    worker cleanly (no alert), and the new worker opens its own."""
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": http_service()}),
            up) as ngx:
        expect_status(request(ngx.port, "GET", "/allow"), 200, "before")
        old = ngx.worker_pids()
        r = ngx.reload()
        check(r.returncode == 0, "reload failed: %s" % r.stderr)
        ngx.wait_reloaded(old)
        expect_status(request(ngx.port, "GET", "/allow"), 200, "after")
        check(echo_header(up.requests[-1], "x-authz-conn") == "1",
              "the new worker reused a connection of the old one")
        assert_no_leaks(ngx)


def nginx_cut_answer_is_an_error_not_an_allow():
    """An answer cut short (headers never ended, body short of its
    framing) is the service failing: statusOnError with failOpen false;
    with failOpen true the request goes on as for any failure, except
    when the cut answer had begun as a denial (deny-status-only): a
    denial never becomes an allow, so statusOnError there too."""
    began_as_denial = {"deny-status-only"}
    with CutAuthz() as authz, Upstream() as up, Nginx(
            FAIL_OPEN_LOCATIONS,
            fail_open_manifests(authz.port, {
                "httpService": {"backendRef": {"name": "authz"}},
                "statusOnError": 503}), up) as ngx:
        expect_status(request(ngx.port, "GET", "/x/complete"), 200,
                      "a complete 200 answer")
        check(up.hits == 1, "the allowed request did not reach the upstream")
        for name in CUT_ANSWERS:
            r = request(ngx.port, "GET", "/x/" + name)
            check(r.status == 503, "answer %s cut short: got %d, expected "
                  "statusOnError 503" % (name, r.status))
        check(up.hits == 1, "a request whose check was cut short reached "
              "the upstream (%d hits)" % up.hits)
        for name in CUT_ANSWERS:
            expect_status(request(ngx.port, "GET", "/open/" + name),
                          503 if name in began_as_denial else 200,
                          "failOpen, answer %s cut short" % name)
        opened = len(CUT_ANSWERS) - len(began_as_denial)
        check(up.hits == 1 + opened,
              "failOpen: upstream saw %d requests" % up.hits)
        check(authz.checks == 1 + 2 * len(CUT_ANSWERS),
              "the authz server got %d checks" % authz.checks)
        m = get_metrics(ngx)
        for result, n in (("allowed", 1),
                          ("error", len(CUT_ANSWERS) + len(began_as_denial)),
                          ("failed_open", opened)):
            got = metric(m, "gwf_ext_authz_checks_total", result=result)
            check(got == n, "checks_total{result=%s} = %r, expected %d"
                  % (result, got, n))
        assert_no_leaks(ngx)


def nginx_ambiguous_answer_length_is_an_error():
    """Two Content-Lengths, or Content-Length and chunked: the answer is
    an error (statusOnError), never its first or its smuggled reading."""
    with CutAuthz() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {
                "httpService": {"backendRef": {"name": "authz"}},
                "statusOnError": 503}), up) as ngx:
        for name in AMBIGUOUS_ANSWERS:
            r = request(ngx.port, "GET", "/x/" + name)
            check(r.status == 503, "answer %s: got %d, expected "
                  "statusOnError 503" % (name, r.status))
        check(up.hits == 0, "a request reached the upstream")
        expect_status(request(ngx.port, "GET", "/x/complete"), 200,
                      "a complete answer after them")
        assert_no_leaks(ngx)


LONG_METHOD = "A" * 70


def nginx_uncheckable_request_is_refused_even_with_fail_open():
    """A request the check cannot carry (a 70-byte method) is the
    client's fault: 400 without asking the authz server, never
    forwarded, whatever failOpen says."""
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            FAIL_OPEN_LOCATIONS,
            fail_open_manifests(authz.port, {"httpService": http_service()}),
            up) as ngx:
        for path in ("/open/allow", "/allow"):
            r = request(ngx.port, LONG_METHOD, path)
            check(r.status == 400, "%s %s: got %d, expected 400"
                  % (LONG_METHOD[:8] + "...", path, r.status))
        check(up.hits == 0, "an unchecked request reached the upstream")
        check(len(authz.seen) == 0, "the authz server was asked: %r"
              % authz.seen)
        expect_status(request(ngx.port, "GET", "/open/allow"), 200,
                      "an ordinary request after them")
        m = get_metrics(ngx)
        got = metric(m, "gwf_ext_authz_checks_total", result="invalid_request")
        check(got == 2, "checks_total{result=invalid_request} = %r" % got)
        check(metric(m, "gwf_ext_authz_checks_total",
                     result="failed_open") == 0,
              "a refused request counted as failed_open")
        assert_no_leaks(ngx)


def nginx_grpc_uncheckable_request_is_refused_even_with_fail_open():
    """gRPC mode: a header that is not UTF-8 cannot go into the
    CheckRequest (proto3 strings): 400, never forwarded, even with
    failOpen; the authz server's own failure on it is not a way around."""
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            FAIL_OPEN_LOCATIONS,
            fail_open_manifests(authz.port, {"grpcService": {
                "backendRef": {"name": "authz"}, "requestTimeout": "5s"}}),
            up) as ngx:
        for path in (b"/open/allow", b"/allow"):
            status, _ = raw_request(
                ngx.port, b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n"
                b"x-custom: \xff\xfe\r\nConnection: close\r\n\r\n")
            check(status == 400, "non-UTF-8 header on %r: got %d, "
                  "expected 400" % (path, status))
        status, _ = raw_request(ngx.port, LONG_METHOD.encode() +
                                b" /open/allow HTTP/1.1\r\nHost: h\r\n"
                                b"Connection: close\r\n\r\n")
        check(status == 400, "70-byte method: got %d, expected 400" % status)
        check(up.hits == 0, "an unchecked request reached the upstream")
        expect_status(request(ngx.port, "GET", "/open/allow"), 200,
                      "an ordinary request after them")
        assert_no_leaks(ngx)


# The upstream gets the request's raw target and its own Host (or none).
SAME_VIEW_LOCATIONS = server(
    proxied("/", "gwf_policy default/api", "proxy_set_header Host $http_host"))
RAW_TARGETS = [
    (b"/allow/a%ffb/./c//d?q=%ff&r=\xff&s=%2F#frag\xff", b"Weird.Example:81"),
    (b"/allow/plain", None),  # HTTP/1.0 without Host
]


def send_same_view_requests(port, targets):
    for target, host in targets:
        if host is None:
            req = b"GET " + target + b" HTTP/1.0\r\n\r\n"
        else:
            req = (b"GET " + target + b" HTTP/1.1\r\nHost: " + host +
                   b"\r\nConnection: close\r\n\r\n")
        status, body = raw_request(port, req)
        check(status == 200, "GET %r: got %d %r" % (target, status, body))


def nginx_authz_sees_the_path_and_host_the_upstream_gets():
    """HTTP mode: the check's request target and Host are byte for byte
    what the upstream receives: fragment, %ff and raw bytes untouched; no
    Host when the client sent none (HTTP/1.0), not libcurl's."""
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            SAME_VIEW_LOCATIONS,
            manifests(authz.port, {"httpService": http_service()}),
            up) as ngx:
        send_same_view_requests(ngx.port, RAW_TARGETS)
        check(up.hits == len(RAW_TARGETS) and
              len(authz.seen) == len(RAW_TARGETS),
              "upstream %d, authz %d requests" % (up.hits, len(authz.seen)))
        for rec, seen in zip(up.requests, authz.seen):
            check(seen["path"] == rec["path"],
                  "authz saw target %r, the upstream %r"
                  % (seen["path"], rec["path"]))
            up_host = [v for k, v in rec["headers"] if k.lower() == "host"]
            check(seen["host"] == up_host, "authz saw Host %r, the upstream "
                  "%r" % (seen["host"], up_host))
        check(authz.seen[0]["path"].endswith("#frag\xff"),
              "the fragment did not reach the authz server: %r"
              % authz.seen[0]["path"])
        assert_no_leaks(ngx)


def nginx_grpc_authz_sees_the_path_and_host_the_upstream_gets():
    """gRPC mode: CheckRequest's path and host fields are the upstream's
    request target and Host (empty when it has none)."""
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            SAME_VIEW_LOCATIONS,
            manifests(authz.port, {"grpcService": {
                "backendRef": {"name": "authz"}, "requestTimeout": "5s"}}),
            up) as ngx:
        # UTF-8 only: other bytes are refused in gRPC mode (see above).
        send_same_view_requests(ngx.port, [
            (b"/allow/a%ffb/./c//d?q=%ff&s=%2F#frag", b"W.Ex:81"),
            (b"/allow/plain", None)])
        check(up.hits == 2, "upstream saw %d requests" % up.hits)
        for rec in up.requests:
            check(echo_header(rec, "x-grpc-path") == rec["path"],
                  "CheckRequest path %r, the upstream's %r"
                  % (echo_header(rec, "x-grpc-path"), rec["path"]))
            up_host = [v for k, v in rec["headers"] if k.lower() == "host"]
            grpc_host = echo_header(rec, "x-grpc-host") or ""
            check(([grpc_host] if grpc_host else []) == up_host,
                  "CheckRequest host %r, the upstream's %r"
                  % (grpc_host, up_host))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# Issue 18: every field of the gRPC answer, as Envoy applies it
# ---------------------------------------------------------------------------

GRPC_SERVICE = {"grpcService": {"backendRef": {"name": "authz"},
                                "requestTimeout": "5s"}}


def nginx_grpc_denial_with_invalid_headers_stays_a_denial_under_fail_open():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            FAIL_OPEN_LOCATIONS, fail_open_manifests(authz.port, GRPC_SERVICE),
            up) as ngx:
        r = request(ngx.port, "GET", "/open/deny-bad-header")
        expect_status(r, 403, "denial with invalid headers, failOpen")
        check(r.header("x-good") == "yes", "headers %r" % r.headers)
        check(r.header("x-bad") is None, "headers %r" % r.headers)
        check(r.body == b"denied", "body %r" % r.body)
        check(up.hits == 0, "a denied request reached the upstream")
        dropped = metric(get_metrics(ngx),
                         "gwf_ext_authz_dropped_headers_total")
        check(dropped == 3, "dropped_headers_total %r" % dropped)
        assert_no_leaks(ngx)


def nginx_grpc_query_parameters_reach_the_upstream_as_applied():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, GRPC_SERVICE), up) as ngx:
        r = request(ngx.port, "GET", "/query?api_key=k&a=old&b=1")
        expect_status(r, 200, "query mutations")
        path = up.requests[-1]["path"]
        check(path == "/query?a=new&b=1&q=a%20b%26c%23d",
              "upstream path %r" % path)
        assert_no_leaks(ngx)


def nginx_grpc_pseudo_header_removal_is_ignored():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, GRPC_SERVICE), up) as ngx:
        r = request(ngx.port, "GET", "/remove-pseudo",
                    headers={"x-secret": "s"})
        expect_status(r, 200, "headers_to_remove with :authority")
        rec = up.requests[-1]
        check(echo_header(rec, "x-secret") is None,
              "x-secret reached the upstream")
        check(echo_header(rec, "host") is not None, "no Host upstream")
        assert_no_leaks(ngx)


def nginx_grpc_overwrites_keep_the_last_value():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, GRPC_SERVICE), up) as ngx:
        r = request(ngx.port, "GET", "/last-wins", headers={"x-one": "c"})
        expect_status(r, 200, "append false twice")
        rec = up.requests[-1]
        ones = [v for k, v in rec["headers"] if k.lower() == "x-one"]
        check(ones == ["2"], "x-one upstream %r" % ones)
        check(r.header_all("x-upstream") == ["authz"],
              "x-upstream to the client %r" % r.header_all("x-upstream"))
        assert_no_leaks(ngx)


def nginx_grpc_client_partial_body_header_is_not_forwarded():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, GRPC_SERVICE), up) as ngx:
        r = request(ngx.port, "GET", "/allow",
                    headers={"x-envoy-auth-partial-body": "true"})
        expect_status(r, 200, "client's partial-body header")
        got = echo_header(up.requests[-1], "x-grpc-partial")
        check(got in (None, ""), "the authz server saw %r" % got)
        assert_no_leaks(ngx)


def kgateway_percentage_manifests(port):
    """kgateway's e2e percentage-enabled.yaml, in gwf's by-hand form: two
    extensions on one gRPC service (Service-like backendRef with a port),
    one checking no request, one every request."""
    docs = [{"apiVersion": API, "kind": "Backend",
             "metadata": {"name": "ext-authz"},
             "spec": {"static": {"hosts": [{"host": "127.0.0.1",
                                            "port": 1}]}}}]
    for name, percent in (("never", 0), ("always", 100)):
        docs.append({"apiVersion": API, "kind": "GatewayExtension",
                     "metadata": {"name": name + "-extauth"},
                     "spec": {"extAuth": {
                         "grpcService": {"backendRef": {
                             "name": "ext-authz", "port": port}},
                         "percentageEnabled": percent}}})
        docs.append({"apiVersion": API, "kind": "TrafficPolicy",
                     "metadata": {"name": name},
                     "spec": {"extAuth": {"extensionRef": {
                         "name": name + "-extauth"}}}})
    return {"authz.yaml": docs}


def nginx_percentage_enabled_0_skips_and_100_checks():
    with AuthzGrpc() as authz, Upstream() as up, Nginx(
            server(proxied("/never", "gwf_policy default/never"),
                   proxied("/always", "gwf_policy default/always")),
            kgateway_percentage_manifests(authz.port), up) as ngx:
        for _ in range(5):
            expect_status(request(ngx.port, "GET", "/never/deny"), 200,
                          "percentageEnabled 0: not checked")
            expect_status(request(ngx.port, "GET", "/always/deny"), 401,
                          "percentageEnabled 100: checked")
        check(up.hits == 5, "expected the 5 unchecked requests upstream, "
              "got %d" % up.hits)
        m = get_metrics(ngx)
        got = metric(m, "gwf_ext_authz_checks_total", result="skipped")
        check(got == 5, "checks_total{result=skipped} = %r" % got)
        assert_no_leaks(ngx)


def nginx_stat_prefix_labels_the_checks_metric():
    ext = {"httpService": http_service(), "statPrefix": "team-a"}
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, ext), up) as ngx:
        expect_status(request(ngx.port, "GET", "/allow"), 200)
        expect_status(request(ngx.port, "GET", "/deny"), 401)
        m = get_metrics(ngx)
        for result in ("allowed", "denied"):
            got = metric(m, "gwf_ext_authz_checks_total", result=result,
                         stat_prefix="team-a")
            check(got == 1, "checks_total{result=%s,stat_prefix=team-a} = %r"
                  % (result, got))
        assert_no_leaks(ngx)


def nginx_retry_recovers_a_failed_check():
    """retry with kgateway's default attempts (1): a check answered 500
    is tried again, after a back-off within baseInterval."""
    ext = {"httpService": http_service(
        retry={"backoff": {"baseInterval": "20ms"}})}
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, ext), up) as ngx:
        r = request(ngx.port, "GET", "/flaky/nginx/allow")
        expect_status(r, 200, "retried check")
        paths = [s["path"] for s in authz.seen]
        check(paths == ["/flaky/nginx/allow"] * 2,
              "authz saw %r, expected the check twice" % paths)
        assert_no_leaks(ngx)


def nginx_route_with_request_body_goes_to_authz():
    """TrafficPolicy.extAuth.withRequestBody: the route's checks carry
    the body although the extension sends none."""
    with AuthzHttp() as authz, Upstream() as up:
        docs = manifests(authz.port, {"httpService": http_service()})
        docs["authz.yaml"][2]["spec"]["extAuth"]["withRequestBody"] = {
            "maxRequestBytes": 16}
        with Nginx(LOCATIONS, docs, up) as ngx:
            r = request(ngx.port, "POST", "/allow", body=b"route body")
            expect_status(r, 200, "with the route's body settings")
            got = echo_header(up.requests[-1], "x-authz-body")
            check(got == "route body", "authz saw body %r" % got)
            expect_status(request(ngx.port, "POST", "/allow",
                                  body=b"x" * 100), 413, "over the route's max")
            assert_no_leaks(ngx)


def nginx_client_abort_during_retry_backoff_leaves_nothing():
    """A client that leaves while its check waits to be retried: the
    retry timer goes with the stream, no check is sent again (the
    jittered wait is at most 1s here; the test watches for 1.5s)."""
    ext = {"httpService": http_service(
        requestTimeout="10s",
        retry={"attempts": 3, "backoff": {"baseInterval": "1s",
                                          "maxInterval": "1s"}})}
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, ext), up) as ngx:
        s = socket.create_connection(("127.0.0.1", ngx.port), 5)
        s.sendall(b"GET /error HTTP/1.1\r\nHost: localhost\r\n\r\n")
        check(wait_for(lambda: len(authz.seen) >= 1, 5),
              "the first check did not reach the authz server")
        s.close()
        sent = len(authz.seen)
        assert_no_leaks(ngx, timeout=2.0)
        time.sleep(1.5)
        check(len(authz.seen) == sent,
              "the check was tried again after the client left: %r"
              % [x["path"] for x in authz.seen])
        check(up.hits == 0, "the aborted request reached the upstream")


def nginx_headers_to_add_renders_request_values():
    """headersToAdd values are Envoy format strings, rendered for each
    check from the client's request."""
    svc = http_service(authorizationRequest={"headersToAdd": {
        "x-added": "%REQ(x-custom)% %REQ(:method)% 100%%"}})
    svc["authorizationResponse"]["headersToBackend"].append("x-authz-added")
    with AuthzHttp() as authz, Upstream() as up, Nginx(
            LOCATIONS, manifests(authz.port, {"httpService": svc}),
            up) as ngx:
        for value in ("one", "two"):
            r = request(ngx.port, "GET", "/allow",
                        headers={"x-custom": value})
            expect_status(r, 200)
            got = echo_header(up.requests[-1], "x-authz-added")
            check(got == "%s GET 100%%" % value,
                  "authz got x-added %r" % got)
        assert_no_leaks(ngx)


CASES = {f.__name__: f for f in [
    nginx_allow_deny_and_error,
    nginx_connections_are_kept_alive,
    nginx_fail_open_and_status_on_error_when_authz_is_down,
    nginx_timeout_is_an_error,
    nginx_timeout_while_connecting_is_an_error,
    nginx_request_body_goes_to_authz,
    nginx_body_streams_when_the_check_does_not_need_it,
    nginx_client_abort_cancels_the_check,
    nginx_grpc_allow_and_deny,
    nginx_concurrent_checks,
    nginx_concurrent_grpc_checks,
    nginx_reload_with_cached_connections,
    nginx_cut_answer_is_an_error_not_an_allow,
    nginx_ambiguous_answer_length_is_an_error,
    nginx_uncheckable_request_is_refused_even_with_fail_open,
    nginx_grpc_uncheckable_request_is_refused_even_with_fail_open,
    nginx_authz_sees_the_path_and_host_the_upstream_gets,
    nginx_grpc_authz_sees_the_path_and_host_the_upstream_gets,
    nginx_grpc_denial_with_invalid_headers_stays_a_denial_under_fail_open,
    nginx_grpc_query_parameters_reach_the_upstream_as_applied,
    nginx_grpc_pseudo_header_removal_is_ignored,
    nginx_grpc_overwrites_keep_the_last_value,
    nginx_grpc_client_partial_body_header_is_not_forwarded,
    nginx_percentage_enabled_0_skips_and_100_checks,
    nginx_stat_prefix_labels_the_checks_metric,
    nginx_retry_recovers_a_failed_check,
    nginx_route_with_request_body_goes_to_authz,
    nginx_client_abort_during_retry_backoff_leaves_nothing,
    nginx_headers_to_add_renders_request_values,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
