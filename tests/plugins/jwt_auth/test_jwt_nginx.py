#!/usr/bin/python3
"""test_jwt_nginx.py - jwt_auth inside the real nginx, through the gwf
module, reusing tests/nginx/harness.py (nginx in a temporary prefix on a
free loopback port, the echo upstream).

    /usr/bin/python3 test_jwt_nginx.py CASE      (exit 0 pass, 1 fail)

Tokens and keys come from make_tokens.py (PyJWT, jwcrypto); the remote
case starts jwks_server.py (HTTPS, a test CA made by openssl) itself and
always stops it.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GWF_NGINX_TEST_DIR",
                                  os.path.join(HERE, "..", "..", "nginx")))

from harness import (  # noqa: E402
    API, Nginx, TestFailure, Upstream, check, echo_header, parse_metrics,
    request, run_case, wait_for)
from test_nginx import assert_no_leaks, expect_status, proxied, server  # noqa: E402,E501

NOW = int(time.time())


def make_tokens(directory):
    out = os.path.join(directory, "tokens.json")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_tokens.py"),
                    str(NOW), out], check=True, timeout=60)
    with open(out) as f:
        return json.load(f)


def jwt_extension(jwks):
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": "jwt", "namespace": "default"},
            "spec": {"jwt": {"providers": [{
                "name": "idp", "issuer": "https://issuer.example",
                "audiences": ["api"], "jwks": jwks,
                "claimsToHeaders": [{"name": "sub", "header": "x-sub"},
                                    {"name": "groups",
                                     "header": "x-groups"}]}]}}}


POLICY = {"apiVersion": API, "kind": "TrafficPolicy",
          "metadata": {"name": "api", "namespace": "default"},
          "spec": {"jwtAuth": {"extensionRef": {"name": "jwt"}}}}


def assert_streams_end_and_only_the_refresh_timer_stays(ngx, timeout=5.0):
    last = {}

    def settled():
        m = parse_metrics(request(ngx.port, "GET", "/metrics").text)
        last.clear()
        last.update({k: v for k, v in m.items()
                     if k.startswith(("gwf_streams_active",
                                      "gwf_async_active"))})
        return last and all(
            v == (1 if k == 'gwf_async_active{instance="default/jwt"}'
                  else 0) for k, v in last.items())
    if not wait_for(settled, timeout, interval=0.2):
        raise TestFailure("expected streams 0 and one refresh timer within "
                          "%.0fs: %s" % (timeout, last))


def bearer(fx, name):
    return {"Authorization": "Bearer " + fx["tokens"][name]}


def case_jwt_valid_token_reaches_upstream_with_claim_headers():
    with tempfile.TemporaryDirectory() as tmp:
        fx = make_tokens(tmp)
        ext = jwt_extension({"local": {"inline": json.dumps(fx["jwks"])}})
        with Upstream() as up, Nginx(
                server(proxied("/api", "gwf_policy api")),
                manifests={"jwt.yaml": [ext, POLICY]}, upstream=up) as ngx:
            for alg in ("RS256", "PS256", "ES256", "EdDSA", "HS256"):
                r = request(ngx.port, "GET", "/api",
                            headers=dict(bearer(fx, alg), **{"X-Sub": "x"}))
                expect_status(r, 200, alg)
                rec = up.requests[-1]
                check(echo_header(rec, "x-sub") == "alice",
                      "%s: x-sub %r" % (alg, echo_header(rec, "x-sub")))
                check(echo_header(rec, "x-groups") == "admins,dev",
                      "x-groups %r" % echo_header(rec, "x-groups"))
                check(echo_header(rec, "authorization") is None,
                      "the token reached the upstream")
            assert_no_leaks(ngx)


def case_jwt_missing_invalid_and_wrong_audience_are_refused():
    with tempfile.TemporaryDirectory() as tmp:
        fx = make_tokens(tmp)
        ext = jwt_extension({"local": {"inline": json.dumps(fx["jwks"])}})
        with Upstream() as up, Nginx(
                server(proxied("/api", "gwf_policy api")),
                manifests={"jwt.yaml": [ext, POLICY]}, upstream=up) as ngx:
            r = request(ngx.port, "GET", "/api?q=1")
            expect_status(r, 401, "missing")
            check((r.header("www-authenticate") or "").startswith(
                      'Bearer realm="http://') and
                  r.header("www-authenticate").endswith('/api"'),
                  "www-authenticate %r" % r.header("www-authenticate"))
            for name in ("expired", "none", "tampered_signature",
                         "hs256_with_rsa_kid"):
                r = request(ngx.port, "GET", "/api", headers=bearer(fx, name))
                expect_status(r, 401, name)
                check('error="invalid_token"' in
                      (r.header("www-authenticate") or ""),
                      "%s: www-authenticate %r"
                      % (name, r.header("www-authenticate")))
            r = request(ngx.port, "GET", "/api",
                        headers=bearer(fx, "wrong_audience"))
            expect_status(r, 403, "wrong audience")
            check(up.hits == 0, "the upstream saw %d requests" % up.hits)
            assert_no_leaks(ngx)


def case_jwt_remote_jwks_is_fetched_over_https_by_the_worker():
    tmp = tempfile.mkdtemp(prefix="gwf-jwt-nginx-")
    os.chmod(tmp, 0o755)  # nginx workers may run as another user
    peer = None
    try:
        fx = make_tokens(tmp)
        with open(os.path.join(tmp, "jwks.json"), "w") as f:
            json.dump(fx["jwks"], f)
        peer = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "jwks_server.py"), tmp],
            stdin=subprocess.PIPE)
        port_file = os.path.join(tmp, "port")
        check(wait_for(lambda: os.path.exists(port_file), 15),
              "jwks_server.py did not start")
        with open(port_file) as f:
            port = int(f.read())
        os.chmod(os.path.join(tmp, "ca.pem"), 0o644)
        ext = jwt_extension({"remote": {
            "url": "https://127.0.0.1:%d/jwks.json" % port,
            "caFile": os.path.join(tmp, "ca.pem"),
            "cacheDuration": "60s", "fetchTimeout": "5s"}})
        with Upstream() as up, Nginx(
                server(proxied("/api", "gwf_policy api")),
                manifests={"jwt.yaml": [ext, POLICY]}, upstream=up) as ngx:
            r = request(ngx.port, "GET", "/api", headers=bearer(fx, "ES384"))
            expect_status(r, 200, "first request")
            r = request(ngx.port, "GET", "/api",
                        headers=bearer(fx, "tampered_signature"))
            expect_status(r, 401, "tampered")
            with open(os.path.join(tmp, "requests")) as f:
                fetches = len(f.read().splitlines())
            check(fetches == 1, "%d JWKS fetches, expected 1" % fetches)
            # A remote JWKS keeps one worker-scope timer (the refresh) for
            # as long as the worker lives: every stream must end, and the
            # instance may hold that timer and nothing more.
            assert_streams_end_and_only_the_refresh_timer_stays(ngx)
    finally:
        if peer:
            peer.stdin.close()
            try:
                peer.wait(10)
            except subprocess.TimeoutExpired:
                peer.kill()
                peer.wait(5)
        subprocess.run(["rm", "-rf", tmp], timeout=30)


def case_jwt_bad_config_fails_nginx_t():
    ext = jwt_extension({"local": {"inline": "{\"keys\": []}"}})
    ngx = Nginx(server(proxied("/api", "gwf_policy api")),
                manifests={"jwt.yaml": [ext, POLICY]})
    res = ngx.test_config()
    out = res.stdout + res.stderr
    check(res.returncode != 0, "nginx -t accepted a JWKS without keys")
    check("providers[0].jwks.local.inline" in out,
          "nginx -t output does not name the field:\n%s" % out)
    ngx.discard()


CASES = {name[len("case_"):]: fn for name, fn in globals().items()
         if name.startswith("case_")}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
