#!/usr/bin/python3
"""test_cors_nginx.py - the cors plugin inside the real nginx, through the
gwf module, reusing tests/nginx/harness.py (nginx in a temporary prefix
on a free loopback port, an echo upstream that reports what it got).

    /usr/bin/python3 test_cors_nginx.py CASE   (exit 0 pass, 1 fail)

The routes are the Gateway API conformance suite's httproute-cors.yaml
(its five CORS filters), each a GatewayExtension whose plugin config is
the filter as written there; the requests are the suite's
(httproute-cors.go). Where the suite accepts several answers, the one gwf
gives is asserted exactly, and it is checked to be among the suite's.
"""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

import harness  # noqa: E402
from harness import API, Nginx, Upstream, check, request, run_case  # noqa: E402,E501
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)

# The echo upstream answers every method the suite sends; a preflight
# that gwf forwards (a rejected origin) is an OPTIONS.
harness._EchoHandler.do_OPTIONS = harness._EchoHandler._handle

CORS_HEADERS = ["access-control-allow-origin",
                "access-control-allow-credentials",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-expose-headers",
                "access-control-max-age"]


def cors_extension(name, config):
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"plugin": {"name": "cors", "config": config}}}


# httproute-cors.yaml, filter by filter.
ROUTES = {
    "/cors-1": {
        "allowOrigins": ["https://www.foo.com", "https://*.bar.com"],
        "allowMethods": ["GET", "OPTIONS"],
        "allowHeaders": ["x-header-1", "x-header-2"],
        "exposeHeaders": ["x-header-3", "x-header-4"],
        "allowCredentials": True,
        "maxAge": 3600},
    "/cors-2": {
        "allowOrigins": ["https://www.foo.com"],
        "allowMethods": ["*"]},
    "/cors-wildcard-origin": {
        "allowOrigins": ["*"],
        "allowMethods": ["PUT"],
        "allowCredentials": False},
    "/cors-wildcard-methods-headers": {
        "allowOrigins": ["*"],
        "allowMethods": ["*"],
        "allowHeaders": ["*"],
        "allowCredentials": True},
    "/cors-wildcard-methods-headers-unauth": {
        "allowOrigins": ["*"],
        "allowMethods": ["*"],
        "allowHeaders": ["*"],
        "allowCredentials": False},
}


def start(up):
    exts, locations = [], []
    for i, (path, config) in enumerate(ROUTES.items()):
        name = "cors%d" % i
        exts.append(cors_extension(name, config))
        locations.append(proxied("= " + path, "gwf_extension default/" + name))
    return Nginx(server(*locations), {"cors.yaml": exts}, up)


def squash(value):
    return None if value is None else "".join(value.split())


def expect(r, what, status, headers, absent=(), allowed=None):
    """Exact status and header values; `absent` headers missing; each
    value also within the suite's accepted set (`allowed`)."""
    if isinstance(status, int):
        expect_status(r, status, what)
    else:
        check(r.status in status, "%s: status %d not in %r; %r"
              % (what, r.status, status, r.headers))
    for name, want in headers.items():
        got = r.header_all(name)
        check(got == [want], "%s: %s is %r, want [%r]" % (what, name, got,
                                                          want))
    for name in absent:
        check(r.header(name) is None, "%s: %s present: %r"
              % (what, name, r.header(name)))
    for name, values in (allowed or {}).items():
        check(squash(r.header(name)) in [squash(v) for v in values],
              "%s: %s %r not among the suite's %r"
              % (what, name, r.header(name), values))


def preflight(ngx, path, origin, method, req_headers=None):
    headers = {"Origin": origin, "access-control-request-method": method}
    if req_headers:
        headers["access-control-request-headers"] = req_headers
    return request(ngx.port, "OPTIONS", path, headers=headers)


def cors_conformance_cases_through_nginx():
    with Upstream() as up, start(up) as ngx:
        # Preflights from allowed origins: answered by gwf, never the
        # upstream.
        for origin in ["https://www.foo.com", "https://www.bar.com",
                       "https://xpto.www.bar.com"]:
            r = preflight(ngx, "/cors-1", origin, "GET",
                          "x-header-1, x-header-2")
            expect(r, "preflight /cors-1 from " + origin, 200, {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": "GET, OPTIONS",
                "access-control-allow-headers": "x-header-1, x-header-2",
                "access-control-expose-headers": "x-header-3, x-header-4",
                "access-control-max-age": "3600",
                "access-control-allow-credentials": "true",
                "vary": "Origin",
                "content-length": "0"})
            check(r.body == b"", "preflight body: %r" % r.body)
        check(up.hits == 0, "allowed preflights reached the upstream: %r"
              % up.requests)

        # Preflight from a non-matching origin: forwarded as Envoy does
        # (the suite takes 200, 204 or 403 without allow-origin).
        r = preflight(ngx, "/cors-1", "https://foobar.com", "GET")
        expect(r, "preflight from foobar.com", [200, 204, 403], {},
               absent=CORS_HEADERS)
        check(r.header("x-upstream") == "echo",
              "the rejected preflight did not reach the upstream: %r"
              % r.headers)
        check(r.json()["method"] == "OPTIONS", "upstream got %r" % r.body)

        # Simple requests.
        for origin in ["https://www.foo.com", "https://www.bar.com"]:
            r = request(ngx.port, "GET", "/cors-1", headers={
                "Origin": origin, "access-control-request-method": "GET",
                "access-control-request-headers": "x-header-1, x-header-2"})
            expect(r, "GET /cors-1 from " + origin, 200, {
                "access-control-allow-origin": origin,
                "access-control-allow-credentials": "true",
                "access-control-expose-headers": "x-header-3, x-header-4",
                "vary": "Origin"},
                absent=["access-control-max-age",
                        "access-control-allow-methods"])
            check(r.header("x-upstream") == "echo", "not proxied: %r"
                  % r.headers)
        r = request(ngx.port, "GET", "/cors-1", headers={
            "Origin": "https://foobar.com",
            "access-control-request-method": "GET"})
        expect(r, "GET /cors-1 from foobar.com", 200, {"vary": "Origin"},
               absent=CORS_HEADERS)

        # allowMethods ["*"] without credentials.
        r = preflight(ngx, "/cors-2", "https://www.foo.com", "POST")
        expect(r, "preflight /cors-2", 200, {
            "access-control-allow-origin": "https://www.foo.com",
            "access-control-allow-methods": "POST",
            "access-control-max-age": "5"},
            absent=["access-control-allow-credentials"],
            allowed={"access-control-allow-methods": ["POST", "*"]})

        # allowOrigins ["*"]: the Origin is echoed, port and all.
        for origin in ["https://foobar.com", "https://foobar.com:12345"]:
            r = preflight(ngx, "/cors-wildcard-origin", origin, "PUT")
            expect(r, "preflight wildcard origin " + origin, 200, {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": "PUT"},
                absent=["access-control-allow-credentials"],
                allowed={"access-control-allow-origin": [origin, "*"]})
            r = request(ngx.port, "PUT", "/cors-wildcard-origin",
                        headers={"Origin": origin})
            expect(r, "PUT wildcard origin " + origin, 200, {
                "access-control-allow-origin": origin},
                absent=["access-control-allow-credentials"])

        # Wildcard methods and headers, with and without credentials.
        r = preflight(ngx, "/cors-wildcard-methods-headers",
                      "https://other.foo.com", "PUT",
                      "x-header-1, x-header-2")
        expect(r, "preflight wildcard methods+headers", 200, {
            "access-control-allow-origin": "https://other.foo.com",
            "access-control-allow-methods": "PUT",
            "access-control-allow-headers": "x-header-1, x-header-2",
            "access-control-allow-credentials": "true"})
        r = preflight(ngx, "/cors-wildcard-methods-headers-unauth",
                      "https://other.foo.com", "PUT",
                      "x-header-1, x-header-2")
        expect(r, "preflight wildcard methods+headers unauth", 200, {
            "access-control-allow-origin": "https://other.foo.com",
            "access-control-allow-methods": "PUT",
            "access-control-allow-headers": "x-header-1, x-header-2"},
            absent=["access-control-allow-credentials"])
        r = request(ngx.port, "GET", "/cors-wildcard-methods-headers",
                    headers={"Origin": "https://other.foo.com"})
        expect(r, "GET wildcard methods+headers", 200, {
            "access-control-allow-origin": "https://other.foo.com",
            "access-control-allow-credentials": "true"})
        r = request(ngx.port, "GET", "/cors-wildcard-methods-headers-unauth",
                    headers={"Origin": "https://other.foo.com"})
        expect(r, "GET wildcard methods+headers unauth", 200, {
            "access-control-allow-origin": "https://other.foo.com"},
            absent=["access-control-allow-credentials"])

        # Hostile input: a "null" origin, a 6000-byte origin, two Origin
        # lines (sent raw: http.client would merge a dict).
        r = request(ngx.port, "GET", "/cors-wildcard-origin",
                    headers={"Origin": "null"})
        expect(r, "Origin null", 200, {}, absent=CORS_HEADERS)
        r = request(ngx.port, "GET", "/cors-wildcard-origin",
                    headers={"Origin": "https://" + "a" * 6000 + ".com"})
        expect(r, "huge Origin", 200, {}, absent=CORS_HEADERS)
        raw = raw_request(ngx.port,
                          b"OPTIONS /cors-1 HTTP/1.1\r\nHost: x\r\n"
                          b"Origin: https://www.foo.com\r\n"
                          b"Origin: https://www.foo.com\r\n"
                          b"Access-Control-Request-Method: GET\r\n"
                          b"Connection: close\r\n\r\n")
        check(raw.startswith(b"HTTP/1.1 200") and
              b"access-control-allow-origin" not in raw.lower() and
              b"X-Upstream: echo" in raw,
              "two Origin lines: %r" % raw[:600])

        m = get_metrics(ngx)
        pre = harness.metric(m, "gwf_cors_requests_total",
                             outcome="preflight")
        check(pre == 8, "preflights counted %r, want 8: %r" % (pre, m))
        assert_no_leaks(ngx)


def raw_request(port, data):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def cors_bad_config_fails_nginx_t():
    ngx = Nginx(server(proxied("/", "gwf_extension default/bad")),
                {"bad.yaml": cors_extension("bad", {
                    "allowOrigins": ["*", "https://www.foo.com"],
                    "allowMethods": ["get"]})})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0, "nginx -t exited 0:\n" + out)
    check('allowOrigins[0]: expected "*" alone' in out,
          "nginx -t does not name allowOrigins[0]:\n" + out)
    check("allowMethods[0]: expected one of: GET" in out,
          "nginx -t does not name allowMethods[0]:\n" + out)
    ngx.discard()


CASES = {f.__name__: f for f in [
    cors_conformance_cases_through_nginx,
    cors_bad_config_fails_nginx_t,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
