#!/usr/bin/python3
"""test_basic_auth_nginx.py - basic_auth inside the real nginx, through
the gwf module, reusing tests/nginx/harness.py (nginx in a temporary
prefix on a free loopback port, the echo upstream that reports what it
received).

    /usr/bin/python3 test_basic_auth_nginx.py CASE      (exit 0 pass, 1 fail)

The plugin is named through a GatewayExtension
`plugin: {name: basic_auth, config: <basicAuth>}`; the hashes are those
of vectors.htpasswd (which says how each was made).
"""

import base64
import os
import socket
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Nginx, Upstream, check, echo_header, request,
    run_case, parse_metrics, metric)
from test_nginx import assert_no_leaks, expect_status, proxied, server  # noqa: E402,E501

SHA_LINE = "sha:{SHA}xO2etOilyqtV8o1RvvnmkeBx7QI="


def vectors():
    with open(os.path.join(HERE, "vectors.htpasswd")) as f:
        return f.read()


def extension(config, name="ba"):
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"plugin": {"name": "basic_auth", "config": config}}}


def secret(name, key, text):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "default"},
            "data": {key: base64.b64encode(text.encode()).decode()}}


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


def raw_request(port, lines):
    """Send a request written by hand (repeated headers); the status."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def denied(r, body, what):
    expect_status(r, 401, what)
    check(r.body.decode() == body, "%s: body %r" % (what, r.body))
    check(r.header("www-authenticate") is not None and
          r.header("www-authenticate").startswith('Basic realm="http://'),
          "%s: www-authenticate %r" % (what, r.header("www-authenticate")))


def case_basic_auth_valid_credentials_reach_upstream_with_authorization():
    with Upstream() as up, Nginx(
            server(proxied("/api", "gwf_extension default/ba")),
            manifests={"ba.yaml": [extension({"users": [SHA_LINE]})]},
            upstream=up) as ngx:
        r = request(ngx.port, "GET", "/api", headers=basic("sha", "sha-pass"))
        expect_status(r, 200, "valid")
        rec = up.requests[-1]
        check(echo_header(rec, "authorization") == basic(
            "sha", "sha-pass")["Authorization"],
              "authorization upstream %r" % echo_header(rec, "authorization"))
        assert_no_leaks(ngx)


def case_basic_auth_missing_wrong_and_malformed_are_refused():
    with Upstream() as up, Nginx(
            server(proxied("/api", "gwf_extension default/ba")),
            manifests={"ba.yaml": [extension({"users": [SHA_LINE]})]},
            upstream=up) as ngx:
        r = request(ngx.port, "GET", "/api?q=1")
        denied(r, "User authentication failed. Missing username and "
               "password.", "missing")
        check(r.header("www-authenticate") ==
              'Basic realm="http://127.0.0.1:%d/api"' % ngx.port,
              "realm %r" % r.header("www-authenticate"))
        r = request(ngx.port, "GET", "/api", headers=basic("sha", "wrong"))
        denied(r, "User authentication failed. Invalid username/password "
               "combination.", "wrong password")
        r = request(ngx.port, "GET", "/api",
                    headers={"Authorization": "Bearer abc"})
        denied(r, "User authentication failed. Expect 'Basic' auth scheme.",
               "bearer")
        for bad in ("Basic !!!!", "Basic c2hhc2hhLXBhc3M=",
                    "Basic OnNoYS1wYXNz", "Basic " + "A" * 6000):
            r = request(ngx.port, "GET", "/api",
                        headers={"Authorization": bad})
            denied(r, "User authentication failed. Invalid basic "
                   "credential format.", bad[:20])
        good = basic("sha", "sha-pass")["Authorization"]
        status = raw_request(ngx.port, [
            "GET /api HTTP/1.1", "Host: x", "Authorization: " + good,
            "Authorization: " + good, "Connection: close"])
        # nginx itself answers 400 to a repeated Authorization header
        # (it keeps one per request); the plugin refuses it too (401) on a
        # host that lets both through (test_basic_auth.c).
        check(status in (400, 401), "two Authorization headers: %d" % status)
        check(up.hits == 0, "a refused request reached the upstream")
        m = parse_metrics(request(ngx.port, "GET", "/metrics").text)
        check(metric(m, "gwf_basic_auth_requests_total",
                     result="denied_malformed") == (5 if status == 401 else 4),
              "denied_malformed %r" % metric(
                  m, "gwf_basic_auth_requests_total",
                  result="denied_malformed"))
        assert_no_leaks(ngx)


def case_basic_auth_secret_htpasswd_with_every_hash_format():
    users = [("sha", "sha-pass"), ("apr", "apr-pass"), ("md5", "md5-pass"),
             ("bcb", "bcrypt-pass"), ("bca", "bcrypt-a"),
             ("rasmus", "rasmuslerdorf")]
    docs = [secret("users", ".htpasswd", vectors()),
            extension({"secretRef": {"name": "users"}})]
    with Upstream() as up, Nginx(
            server(proxied("/api", "gwf_extension default/ba")),
            manifests={"ba.yaml": docs}, upstream=up) as ngx:
        for user, password in users:
            for _ in range(2):  # the second one from the worker's cache
                r = request(ngx.port, "GET", "/api",
                            headers=basic(user, password))
                expect_status(r, 200, user)
            r = request(ngx.port, "GET", "/api",
                        headers=basic(user, password + "x"))
            expect_status(r, 401, user + " wrong")
        check(up.hits == 2 * len(users), "upstream hits %d" % up.hits)
        assert_no_leaks(ngx)


def case_basic_auth_traffic_policy_secret_through_gwf_policy():
    """The TrafficPolicy field itself (the runtime's wiring), with the
    users in a Secret under a named key."""
    policy = {"apiVersion": API, "kind": "TrafficPolicy",
              "metadata": {"name": "api", "namespace": "default"},
              "spec": {"basicAuth": {"secretRef": {"name": "users",
                                                   "key": "auth"}}}}
    with Upstream() as up, Nginx(
            server(proxied("/api", "gwf_policy default/api")),
            manifests={"ba.yaml": [secret("users", "auth", vectors()),
                                   policy]},
            upstream=up) as ngx:
        r = request(ngx.port, "GET", "/api", headers=basic("apr", "apr-pass"))
        expect_status(r, 200, "apr")
        r = request(ngx.port, "GET", "/api", headers=basic("apr", "apr-pasS"))
        denied(r, "User authentication failed. Invalid username/password "
               "combination.", "wrong password")
        check(up.hits == 1, "upstream hits %d" % up.hits)
        assert_no_leaks(ngx)


def case_basic_auth_bad_config_fails_nginx_t():
    ngx = Nginx(server(proxied("/api", "gwf_extension default/ba")),
                manifests={"ba.yaml": [extension(
                    {"users": [SHA_LINE, "eve:plaintext"]})]})
    res = ngx.test_config()
    out = res.stdout + res.stderr
    check(res.returncode != 0, "nginx -t accepted a plain-text password")
    check("users[1]" in out and "unsupported password hash" in out,
          "nginx -t output does not name the line:\n%s" % out)
    check("plaintext" not in out, "nginx -t printed the password:\n%s" % out)
    ngx.discard()


CASES = {name[len("case_"):]: fn for name, fn in globals().items()
         if name.startswith("case_")}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
