#!/usr/bin/python3
"""test_csrf_nginx.py - the csrf plugin inside the real nginx, through the
gwf module, reusing tests/nginx/harness.py (nginx in a temporary prefix
on a free loopback port, an echo upstream that reports what it got).

    /usr/bin/python3 test_csrf_nginx.py CASE   (exit 0 pass, 1 fail)

The destination origin is the Host the client sends (http.client sends
"127.0.0.1:<port>"); requests are written raw where the test needs
repeated headers.
"""

import os
import socket
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

import harness  # noqa: E402
from harness import API, Nginx, Upstream, check, request, run_case  # noqa: E402,E501
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)


def csrf_extension(name, config):
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"plugin": {"name": "csrf", "config": config}}}


def start(up):
    return Nginx(server(
        proxied("/enforced", "gwf_extension default/enforced"),
        proxied("/shadow", "gwf_extension default/shadow")),
        {"csrf.yaml": [
            csrf_extension("enforced", {
                "percentageEnabled": 100,
                "additionalOrigins": [
                    {"suffix": ".trusted.example"},
                    {"safeRegex": r"partner[0-9]+\.example:8443"}]}),
            csrf_extension("shadow", {"percentageShadowed": 100})]}, up)


def expect_refused(r, what):
    expect_status(r, 403, what)
    check(r.body == b"Invalid origin", "%s: body %r" % (what, r.body))
    check(r.header("x-upstream") is None, "%s reached the upstream" % what)


def expect_passed(r, what, method):
    expect_status(r, 200, what)
    check(r.header("x-upstream") == "echo" and r.json()["method"] == method,
          "%s: not proxied as %s: %r" % (what, method, r.body[:300]))


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def csrf_cross_origin_writes_are_refused_through_nginx():
    with Upstream() as up, start(up) as ngx:
        me = "http://127.0.0.1:%d" % ngx.port
        for method in ["POST", "PUT", "DELETE", "PATCH"]:
            r = request(ngx.port, method, "/enforced", body=b"x",
                        headers={"Origin": "https://evil.example"})
            expect_refused(r, method + " from evil.example")
        r = request(ngx.port, "POST", "/enforced", body=b"x",
                    headers={"Origin": me})
        expect_passed(r, "same-origin POST", "POST")
        r = request(ngx.port, "POST", "/enforced", body=b"x",
                    headers={"Referer": me + "/form"})
        expect_passed(r, "POST with a same-origin Referer", "POST")
        r = request(ngx.port, "POST", "/enforced", body=b"x")
        expect_refused(r, "POST without Origin or Referer")
        r = request(ngx.port, "POST", "/enforced", body=b"x",
                    headers={"Origin": "null"})
        expect_refused(r, "POST from Origin null")
        r = request(ngx.port, "GET", "/enforced",
                    headers={"Origin": "https://evil.example"})
        expect_passed(r, "GET from evil.example", "GET")
        for origin in ["https://a.trusted.example",
                       "https://partner7.example:8443"]:
            r = request(ngx.port, "POST", "/enforced", body=b"x",
                        headers={"Origin": origin})
            expect_passed(r, "POST from " + origin, "POST")
        r = request(ngx.port, "POST", "/enforced", body=b"x",
                    headers={"Origin": "https://partner7.example:84430"})
        expect_refused(r, "POST from a regex near-miss")
        r = request(ngx.port, "POST", "/enforced", body=b"x",
                    headers={"Origin": "https://" + "a" * 7000})
        expect_refused(r, "POST with a 7000-byte Origin")
        raw = raw_request(ngx.port, (
            "POST /enforced HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Origin: %s\r\nOrigin: %s\r\nContent-Length: 1\r\n"
            "Connection: close\r\n\r\nx" % (ngx.port, me, me)).encode())
        check(raw.startswith(b"HTTP/1.1 403") and
              raw.endswith(b"Invalid origin"),
              "two Origin lines: %r" % raw[:400])

        m = get_metrics(ngx)
        counts = {k: harness.metric(m, "gwf_csrf_%s_total" % k,
                                    instance="default/enforced")
                  for k in ["request_valid", "request_invalid",
                            "missing_source_origin"]}
        check(counts == {"request_valid": 4, "request_invalid": 9,
                         "missing_source_origin": 1},
              "metrics %r" % counts)
        check(up.hits == 5, "upstream hits %d, want 5: %r"
              % (up.hits, up.requests))
        assert_no_leaks(ngx)


def csrf_shadow_mode_lets_through_and_counts():
    with Upstream() as up, start(up) as ngx:
        r = request(ngx.port, "POST", "/shadow", body=b"x",
                    headers={"Origin": "https://evil.example"})
        expect_passed(r, "shadowed POST from evil.example", "POST")
        r = request(ngx.port, "DELETE", "/shadow")
        expect_passed(r, "shadowed DELETE without origin", "DELETE")
        m = get_metrics(ngx)
        invalid = harness.metric(m, "gwf_csrf_request_invalid_total",
                                 instance="default/shadow")
        missing = harness.metric(m, "gwf_csrf_missing_source_origin_total",
                                 instance="default/shadow")
        check(invalid == 2 and missing == 1,
              "shadow metrics invalid=%r missing=%r" % (invalid, missing))
        assert_no_leaks(ngx)


def csrf_bad_config_fails_nginx_t():
    ngx = Nginx(server(proxied("/", "gwf_extension default/bad")),
                {"bad.yaml": csrf_extension("bad", {
                    "percentageEnabled": 100, "percentageShadowed": 10,
                    "additionalOrigins": [{"safeRegex": "a(b"}]})})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0, "nginx -t exited 0:\n" + out)
    check("percentageShadowed: expected at most one of percentageEnabled "
          "and percentageShadowed, found both" in out,
          "nginx -t does not name percentageShadowed:\n" + out)
    check("additionalOrigins[0].safeRegex: expected a regular expression, "
          "found an error at byte 3" in out,
          "nginx -t does not name the regex:\n" + out)
    ngx.discard()


def csrf_and_cors_fields_of_one_traffic_policy_through_nginx():
    """A TrafficPolicy with `cors` and `csrf`, used with gwf_policy: the
    runtime makes one instance per field, runs cors first, so the csrf
    403 carries the CORS headers, and a preflight is answered by cors."""
    policy = {"apiVersion": API, "kind": "TrafficPolicy",
              "metadata": {"name": "api", "namespace": "default"},
              "spec": {"cors": {"allowOrigins": ["https://app.example"],
                                "allowMethods": ["PUT"]},
                       "csrf": {"percentageEnabled": 100}}}
    with Upstream() as up, Nginx(server(
            proxied("/", "gwf_policy default/api")),
            {"p.yaml": [policy]}, up) as ngx:
        r = request(ngx.port, "POST", "/", body=b"x",
                    headers={"Origin": "https://app.example"})
        expect_refused(r, "cross-origin POST")
        check(r.header("access-control-allow-origin") ==
              "https://app.example" and r.header("vary") == "Origin",
              "the 403 lacks the CORS headers: %r" % r.headers)
        r = request(ngx.port, "OPTIONS", "/", headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PUT"})
        expect_status(r, 200, "preflight")
        check(r.header("access-control-allow-methods") == "PUT" and
              r.header("x-upstream") is None,
              "preflight not answered by cors: %r" % r.headers)
        me = "http://127.0.0.1:%d" % ngx.port
        r = request(ngx.port, "PUT", "/", body=b"x", headers={"Origin": me})
        expect_passed(r, "same-origin PUT", "PUT")
        check(up.hits == 1, "upstream hits %d, want 1" % up.hits)
        assert_no_leaks(ngx)


CASES = {f.__name__: f for f in [
    csrf_and_cors_fields_of_one_traffic_policy_through_nginx,
    csrf_cross_origin_writes_are_refused_through_nginx,
    csrf_shadow_mode_lets_through_and_counts,
    csrf_bad_config_fails_nginx_t,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
