#!/usr/bin/python3
"""test_rbac_nginx.py - the rbac plugin inside the real nginx, through the
gwf module (TrafficPolicy `rbac` used with gwf_policy), reusing
tests/nginx/harness.py (nginx in a temporary prefix on a free loopback
port, an echo upstream that reports what it got).

    /usr/bin/python3 test_rbac_nginx.py CASE   (exit 0 pass, 1 fail)

kgateway's jwt-rbac.yaml case runs through `gwf gateway` in
tests/gateway/test_kgateway_e2e.py; here jwt_auth and rbac share one
TrafficPolicy with tokens from tests/plugins/jwt_auth/make_tokens.py
(PyJWT), whose `groups` claim is a JSON array.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

import harness  # noqa: E402
from harness import API, Nginx, Upstream, check, request, run_case  # noqa: E402,E501
from test_nginx import (  # noqa: E402
    assert_no_leaks, expect_status, get_metrics, proxied, server)


def policy(name, rbac):
    return {"apiVersion": API, "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"rbac": rbac}}


def start(up):
    return Nginx(server(
        proxied("/", "gwf_policy default/allow"),
        proxied("/deny/", "gwf_policy default/deny"),
        proxied("/macro/", "gwf_policy default/macro")),
        {"rbac.yaml": [
            policy("allow", {"policy": {"matchExpressions": [
                "request.headers['x-role'] == 'admin' && "
                "request.method in ['GET', 'HEAD']",
                "request.path.startsWith('/public/')"]}}),
            policy("deny", {"action": "Deny", "policy": {"matchExpressions": [
                "request.headers['X-Block'] == '1'",  # any case, as Envoy
                "request.url_path.matches('^/deny/admin(/|$)')",
                # never true; over gwf's 64 KiB scratch it cannot be told
                "size(" + " + ".join(["request.headers['x-big']"] * 10) +
                ") < 0"]}}),
            policy("macro", {"policy": {"matchExpressions": [
                "['admin', 'ops'].exists(r, request.headers['x-role'] == r) "
                "&& request.time > timestamp('2020-01-01T00:00:00Z') && "
                "request.time - timestamp('2020-01-01T00:00:00Z') > "
                "duration('24h') && type(request.time) == "
                "google.protobuf.Timestamp",
                "request.headers['x-n'].size() > 0 && "
                "[1, 2, 3].map(x, x * int(request.headers['x-n']))"
                ".filter(y, y > 10).size() == 2",
                "request.time.getFullYear('+05:30') < 2000"]}})]}, up)


def expect_denied(r, what):
    expect_status(r, 403, what)
    check(r.body == b"RBAC: access denied", "%s: body %r" % (what, r.body))
    check(r.header("x-upstream") is None, "%s reached the upstream" % what)


def expect_passed(r, what):
    expect_status(r, 200, what)
    check(r.header("x-upstream") == "echo",
          "%s: not proxied: %r" % (what, r.body[:300]))


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def rbac_allow_policy_on_headers_path_and_method_through_nginx():
    with Upstream() as up, start(up) as ngx:
        expect_passed(request(ngx.port, "GET", "/x",
                              headers={"X-Role": "admin"}), "admin GET")
        expect_denied(request(ngx.port, "POST", "/x", body=b"x",
                              headers={"X-Role": "admin"}), "admin POST")
        expect_denied(request(ngx.port, "GET", "/x",
                              headers={"X-Role": "user"}), "user GET")
        expect_denied(request(ngx.port, "GET", "/x"),
                      "GET without x-role (a missing key is no match)")
        expect_passed(request(ngx.port, "POST", "/public/a", body=b"x"),
                      "POST under /public/")
        expect_denied(request(ngx.port, "GET", "/publicx"), "/publicx")
        # two x-role lines are joined "admin,admin": not 'admin'
        raw = raw_request(ngx.port, (
            "GET /x HTTP/1.1\r\nHost: a\r\nX-Role: admin\r\n"
            "X-Role: admin\r\nConnection: close\r\n\r\n").encode())
        check(raw.startswith(b"HTTP/1.1 403") and
              raw.endswith(b"RBAC: access denied"),
              "two x-role lines: %r" % raw[:400])
        expect_denied(request(ngx.port, "GET", "/x",
                              headers={"X-Role": "a" * 7000}),
                      "a 7000-byte x-role")
        m = get_metrics(ngx)
        allowed = harness.metric(m, "gwf_rbac_requests_total",
                                 outcome="allowed")
        denied = harness.metric(m, "gwf_rbac_requests_total",
                                outcome="denied")
        check(allowed == 2 and denied == 6,
              "metrics allowed=%r denied=%r" % (allowed, denied))
        check(up.hits == 2, "upstream hits %d, want 2" % up.hits)
        assert_no_leaks(ngx)


def rbac_deny_policy_refuses_matches_through_nginx():
    with Upstream() as up, start(up) as ngx:
        expect_passed(request(ngx.port, "GET", "/deny/x"), "plain request")
        expect_denied(request(ngx.port, "GET", "/deny/x",
                              headers={"X-Block": "1"}), "x-block: 1")
        expect_passed(request(ngx.port, "GET", "/deny/x",
                              headers={"X-Block": "2"}), "x-block: 2")
        expect_denied(request(ngx.port, "GET", "/deny/admin"), "/deny/admin")
        expect_denied(request(ngx.port, "GET", "/deny/admin/a?q=1"),
                      "/deny/admin/a?q=1")
        expect_passed(request(ngx.port, "GET", "/deny/administrator"),
                      "/deny/administrator")
        expect_passed(request(ngx.port, "GET", "/deny/x",
                              headers={"X-Big": "a" * 100}),
                      "an x-big of 100 bytes")
        # 10 x 7000 bytes overflow the scratch: a Deny policy gwf cannot
        # evaluate fails closed
        expect_denied(request(ngx.port, "GET", "/deny/x",
                              headers={"X-Big": "a" * 7000}),
                      "an x-big of 7000 bytes")
        m = get_metrics(ngx)
        check(harness.metric(m, "gwf_rbac_requests_total",
                             outcome="denied_limit") == 1,
              "denied_limit: %r" % harness.metric(
                  m, "gwf_rbac_requests_total", outcome="denied_limit"))
        check(up.hits == 4, "upstream hits %d, want 4" % up.hits)
        assert_no_leaks(ngx)


def rbac_macros_timestamps_and_types_through_nginx():
    with Upstream() as up, start(up) as ngx:
        expect_passed(request(ngx.port, "GET", "/macro/a",
                              headers={"X-Role": "ops"}), "x-role ops")
        expect_denied(request(ngx.port, "GET", "/macro/a",
                              headers={"X-Role": "dev"}), "x-role dev")
        # [n, 2n, 3n] has two items over 10 for n = 6 (12, 18), one for 5
        expect_passed(request(ngx.port, "GET", "/macro/a",
                              headers={"X-N": "6"}), "x-n 6")
        expect_denied(request(ngx.port, "GET", "/macro/a",
                              headers={"X-N": "5"}), "x-n 5")
        # int() of a non-number errs: no match, refused
        expect_denied(request(ngx.port, "GET", "/macro/a",
                              headers={"X-N": "x" * 5000}), "x-n junk")
        check(up.hits == 2, "upstream hits %d, want 2" % up.hits)
        assert_no_leaks(ngx)


def jwt_tokens(directory):
    out = os.path.join(directory, "tokens.json")
    subprocess.run(["/usr/bin/python3",
                    os.path.join(HERE, "..", "jwt_auth", "make_tokens.py"),
                    str(int(time.time())), out], check=True, timeout=60)
    with open(out) as f:
        return json.load(f)


PAYLOAD = "metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']"


def jwt_rbac_policy(name, expressions):
    return {"apiVersion": API, "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"jwtAuth": {"extensionRef": {"name": "jwt"}},
                     "rbac": {"policy": {"matchExpressions": expressions}}}}


def rbac_jwt_array_claim_through_jwt_auth_and_nginx():
    with tempfile.TemporaryDirectory() as tmp:
        fx = jwt_tokens(tmp)
        ext = {"apiVersion": API, "kind": "GatewayExtension",
               "metadata": {"name": "jwt", "namespace": "default"},
               "spec": {"jwt": {"providers": [{
                   "name": "idp", "issuer": "https://issuer.example",
                   "audiences": ["api"],
                   "jwks": {"local": {"inline": json.dumps(fx["jwks"])}}}]}}}
        manifests = {"jwt.yaml": [
            ext,
            # kgateway's e2e style, on the token's groups ["admins", "dev"]
            jwt_rbac_policy("admins", [
                "'admins' in %s['groups'] && %s['groups'].exists(g, "
                "g == 'dev') && size(%s.groups) == 2" % (
                    PAYLOAD, PAYLOAD, PAYLOAD)]),
            jwt_rbac_policy("ops", [
                "%s['groups'].exists(g, g == 'ops')" % PAYLOAD,
                "'ops' in %s.groups" % PAYLOAD])]}
        auth = {"Authorization": "Bearer " + fx["tokens"]["RS256"]}
        with Upstream() as up, Nginx(server(
                proxied("/admins", "gwf_policy default/admins"),
                proxied("/ops", "gwf_policy default/ops")),
                manifests, up) as ngx:
            expect_passed(request(ngx.port, "GET", "/admins", headers=auth),
                          "groups has admins")
            expect_denied(request(ngx.port, "GET", "/ops", headers=auth),
                          "groups lacks ops")
            r = request(ngx.port, "GET", "/admins")
            expect_status(r, 401, "no token: jwt_auth answers first")
            check(up.hits == 1, "upstream hits %d, want 1" % up.hits)
            assert_no_leaks(ngx)


def rbac_iana_time_zone_fails_nginx_t():
    ngx = Nginx(server(proxied("/", "gwf_policy default/bad")),
                {"bad.yaml": [policy("bad", {"policy": {"matchExpressions": [
                    "request.time.getHours('Europe/Paris') < 8"]}})]})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0, "nginx -t exited 0:\n" + out)
    check("spec.rbac.policy.matchExpressions[0]" in out and
          "time zone 'Europe/Paris' is not supported" in out and
          "at column 23" in out,
          "nginx -t does not name the time zone and column:\n" + out)
    ngx.discard()


def rbac_bad_expression_fails_nginx_t():
    ngx = Nginx(server(proxied("/", "gwf_policy default/bad")),
                {"bad.yaml": [policy("bad", {"policy": {"matchExpressions": [
                    "request.path == '/'",
                    "request.method == 'GET' && requestx.path == '/'"]}})]})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0, "nginx -t exited 0:\n" + out)
    check("spec.rbac.policy.matchExpressions[1]" in out and
          "at column 28 of" in out and "requestx.path" in out,
          "nginx -t does not name the expression and column:\n" + out)
    ngx.discard()


CASES = {f.__name__: f for f in [
    rbac_allow_policy_on_headers_path_and_method_through_nginx,
    rbac_deny_policy_refuses_matches_through_nginx,
    rbac_bad_expression_fails_nginx_t,
    rbac_macros_timestamps_and_types_through_nginx,
    rbac_iana_time_zone_fails_nginx_t,
    rbac_jwt_array_claim_through_jwt_auth_and_nginx,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
