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
    API, Background, Nginx, TestFailure, Upstream, check, echo_header,
    free_port, metric, request, run_case, wait_for)
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)


class AuthzHttp:
    """authz_http.py's server in a thread."""

    def __enter__(self):
        self.srv = authz_http.Server(("127.0.0.1", 0), authz_http.Handler)
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


CASES = {f.__name__: f for f in [
    nginx_allow_deny_and_error,
    nginx_connections_are_kept_alive,
    nginx_fail_open_and_status_on_error_when_authz_is_down,
    nginx_timeout_is_an_error,
    nginx_timeout_while_connecting_is_an_error,
    nginx_request_body_goes_to_authz,
    nginx_client_abort_cancels_the_check,
    nginx_grpc_allow_and_deny,
    nginx_concurrent_checks,
    nginx_concurrent_grpc_checks,
    nginx_reload_with_cached_connections,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
