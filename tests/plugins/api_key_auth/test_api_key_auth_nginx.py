#!/usr/bin/python3
"""test_api_key_auth_nginx.py - api_key_auth inside the real nginx,
through the gwf module, reusing tests/nginx/harness.py (nginx in a
temporary prefix on a free loopback port, the echo upstream that reports
what it received: path, headers).

    /usr/bin/python3 test_api_key_auth_nginx.py CASE   (exit 0 pass, 1 fail)

The plugin is named through a GatewayExtension
`plugin: {name: api_key_auth, config: <apiKeyAuth>}`.
"""

import os
import socket
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Nginx, Upstream, check, echo_header, metric, parse_metrics,
    request, run_case)
from test_nginx import assert_no_leaks, expect_status, proxied, server  # noqa: E402,E501

SECRET = {"apiVersion": "v1", "kind": "Secret",
          "metadata": {"name": "keys", "namespace": "default"},
          "stringData": {"client1": "k-123"},
          "data": {"client2": "ay00NTY="}}  # "k-456"

SOURCES = [{"header": "x-api-key"},
           {"query": "api_key"},
           {"cookie": "token"}]


def extension(config, name="ak"):
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"plugin": {"name": "api_key_auth", "config": config}}}


def nginx(config, up):
    return Nginx(server(proxied("/api", "gwf_extension default/ak")),
                 manifests={"ak.yaml": [SECRET, extension(config)]},
                 upstream=up)


def raw_status(port, lines):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def denied(r, what):
    """401 with Envoy's api_key_auth body (the details string is the
    test host's to check: test_api_key_auth.c)."""
    expect_status(r, 401, what)
    check(r.body == b"Client authentication failed.",
          "%s: body %r" % (what, r.body))


def case_api_key_auth_key_is_removed_and_client_id_forwarded():
    config = {"secretRef": {"name": "keys"}, "keySources": SOURCES,
              "clientIdHeader": "x-client-id"}
    with Upstream() as up, nginx(config, up) as ngx:
        r = request(ngx.port, "GET", "/api",
                    headers={"X-Api-Key": "k-123", "X-Client-Id": "forged"})
        expect_status(r, 200, "header")
        rec = up.requests[-1]
        check(echo_header(rec, "x-api-key") is None, "the key went upstream")
        check(echo_header(rec, "x-client-id") == "client1",
              "x-client-id %r" % echo_header(rec, "x-client-id"))
        r = request(ngx.port, "GET", "/api?a=1&api_key=k-456&b=%20")
        expect_status(r, 200, "query")
        rec = up.requests[-1]
        check(rec["path"] == "/api?a=1&b=%20", "path %r" % rec["path"])
        check(echo_header(rec, "x-client-id") == "client2",
              "x-client-id %r" % echo_header(rec, "x-client-id"))
        r = request(ngx.port, "GET", "/api?api_key=k-456")
        expect_status(r, 200, "only the key in the query")
        check(up.requests[-1]["path"] == "/api",
              "path %r" % up.requests[-1]["path"])
        r = request(ngx.port, "GET", "/api",
                    headers={"Cookie": "a=1; token=k-123; b=2"})
        expect_status(r, 200, "cookie")
        rec = up.requests[-1]
        check(echo_header(rec, "cookie") == "a=1; b=2",
              "cookie %r" % echo_header(rec, "cookie"))
        assert_no_leaks(ngx)


def case_api_key_auth_forward_credential_keeps_the_key():
    config = {"secretRef": {"name": "keys"}, "keySources": SOURCES,
              "forwardCredential": True}
    with Upstream() as up, nginx(config, up) as ngx:
        r = request(ngx.port, "GET", "/api", headers={"X-Api-Key": "k-123"})
        expect_status(r, 200, "header")
        check(echo_header(up.requests[-1], "x-api-key") == "k-123",
              "the key did not reach the upstream")
        check(echo_header(up.requests[-1], "x-client-id") is None,
              "a client id header without clientIdHeader")
        r = request(ngx.port, "GET", "/api?api_key=k-456&b=2")
        expect_status(r, 200, "query")
        check(up.requests[-1]["path"] == "/api?api_key=k-456&b=2",
              "path %r" % up.requests[-1]["path"])
        assert_no_leaks(ngx)


def case_api_key_auth_missing_unknown_and_duplicate_are_refused():
    config = {"secretRef": {"name": "keys"}, "keySources": SOURCES}
    with Upstream() as up, nginx(config, up) as ngx:
        denied(request(ngx.port, "GET", "/api"), "missing")
        for bad in ("k-124", "k-12", "k-1234", "K-123", "client1",
                    "k" * 6000):
            denied(request(ngx.port, "GET", "/api",
                           headers={"X-Api-Key": bad}),
                   bad[:10])
        denied(request(ngx.port, "GET", "/api?api_key=k-123&api_key=x"),
               "query twice")
        status = raw_status(ngx.port, [
            "GET /api HTTP/1.1", "Host: x", "X-Api-Key: k-123",
            "X-Api-Key: k-123", "Connection: close"])
        check(status == 401, "two key headers: %d" % status)
        status = raw_status(ngx.port, [
            "GET /api HTTP/1.1", "Host: x", "Cookie: token=k-123",
            "Cookie: token=k-456", "Connection: close"])
        check(status == 401, "two key cookies: %d" % status)
        check(up.hits == 0, "a refused request reached the upstream")
        m = parse_metrics(request(ngx.port, "GET", "/metrics").text)
        for result, n in (("denied_missing", 1), ("denied_unknown", 6),
                          ("denied_ambiguous", 3)):
            got = metric(m, "gwf_api_key_auth_requests_total", result=result)
            check(got == n, "%s: %r" % (result, got))
        assert_no_leaks(ngx)


def case_api_key_auth_traffic_policy_selector_through_gwf_policy():
    """The TrafficPolicy field itself (the runtime's wiring): the Secrets
    are selected by label, the client id goes upstream."""
    labelled = dict(SECRET, metadata={"name": "keys", "namespace": "default",
                                      "labels": {"app": "api"}})
    other = {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "other", "namespace": "default"},
             "stringData": {"client9": "k-999"}}
    policy = {"apiVersion": API, "kind": "TrafficPolicy",
              "metadata": {"name": "api", "namespace": "default"},
              "spec": {"apiKeyAuth": {
                  "secretSelector": {"matchLabels": {"app": "api"}},
                  "clientIdHeader": "x-client-id"}}}
    with Upstream() as up, Nginx(
            server(proxied("/api", "gwf_policy default/api")),
            manifests={"ak.yaml": [labelled, other, policy]},
            upstream=up) as ngx:
        r = request(ngx.port, "GET", "/api", headers={"api-key": "k-456"})
        expect_status(r, 200, "selected key")
        rec = up.requests[-1]
        check(echo_header(rec, "x-client-id") == "client2",
              "x-client-id %r" % echo_header(rec, "x-client-id"))
        check(echo_header(rec, "api-key") is None, "the key went upstream")
        denied(request(ngx.port, "GET", "/api", headers={"api-key": "k-999"}),
               "a key of a Secret without the label")
        assert_no_leaks(ngx)


def case_api_key_auth_bad_config_fails_nginx_t():
    dup = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "dup", "namespace": "default"},
           "stringData": {"a": "same-key", "b": "same-key"}}
    ngx = Nginx(server(proxied("/api", "gwf_extension default/ak")),
                manifests={"ak.yaml": [dup, extension(
                    {"secretRef": {"name": "dup"}})]})
    res = ngx.test_config()
    out = res.stdout + res.stderr
    check(res.returncode != 0, "nginx -t accepted one key for two clients")
    check("same API key" in out, "nginx -t does not say why:\n%s" % out)
    check("same-key" not in out, "nginx -t printed the key:\n%s" % out)
    ngx.discard()


CASES = {name[len("case_"):]: fn for name, fn in globals().items()
         if name.startswith("case_")}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
