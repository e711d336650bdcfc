#!/usr/bin/python3
"""test_jwt_nginx.py - jwt_auth inside the real nginx, through the gwf
module, reusing tests/nginx/harness.py (nginx in a temporary prefix on a
free loopback port, the echo upstream).

    /usr/bin/python3 test_jwt_nginx.py CASE      (exit 0 pass, 1 fail)

Tokens and keys come from make_tokens.py (PyJWT, jwcrypto); the remote
case starts jwks_server.py (HTTPS, a test CA made by openssl) itself and
always stops it.
"""

import http.client
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
    API, Background, Nginx, TestFailure, Upstream, check, echo_header,
    parse_metrics, request, run_case, wait_for)
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
    """Each token verified in the stream the first time, and decided from
    the worker's cache before the stream after that (jwt_auth alone in
    the chain, ABI 0.9): the same request reaches the upstream either
    way. A forged token beside a cached one is still refused."""
    with tempfile.TemporaryDirectory() as tmp:
        fx = make_tokens(tmp)
        ext = jwt_extension({"local": {"inline": json.dumps(fx["jwks"])}})
        with Upstream() as up, Nginx(
                server("ignore_invalid_headers off;",
                       proxied("/api", "gwf_policy api")),
                manifests={"jwt.yaml": [ext, POLICY]}, upstream=up) as ngx:
            for rnd in ("verified", "cached"):
                for alg in ("RS256", "PS256", "ES256", "EdDSA", "HS256"):
                    r = request(ngx.port, "POST", "/api", body=b"q" * 3000,
                                headers=dict(bearer(fx, alg),
                                             **{"X-Sub": "x"}))
                    expect_status(r, 200, "%s %s" % (rnd, alg))
                    rec = up.requests[-1]
                    check(echo_header(rec, "x-sub") == "alice",
                          "%s %s: x-sub %r"
                          % (rnd, alg, echo_header(rec, "x-sub")))
                    check([k.lower() for k, _ in rec["headers"]].count(
                        "x-sub") == 1, "x-sub twice: %r" % rec["headers"])
                    check(echo_header(rec, "x-groups") == "admins,dev",
                          "x-groups %r" % echo_header(rec, "x-groups"))
                    check(echo_header(rec, "authorization") is None,
                          "the token reached the upstream")
                    check(rec["body"] == "q" * 3000,
                          "%s %s: body of %d bytes"
                          % (rnd, alg, rec["body_len"]))
            # A forged claim header in the middle, the token, and a header
            # nginx keeps with hash 0 (underscores only) at the end: the
            # forged header and the token still do not reach the upstream.
            r = request(ngx.port, "GET", "/api", headers={
                "X-Sub": "admin", "Accept": "a",
                "Authorization": bearer(fx, "RS256")["Authorization"],
                "_": "x"})
            expect_status(r, 200, "forged x-sub, then a hash-0 header")
            rec = up.requests[-1]
            check([v for k, v in rec["headers"] if k.lower() == "x-sub"] ==
                  ["alice"], "x-sub: %r" % rec["headers"])
            check(echo_header(rec, "authorization") is None,
                  "the token reached the upstream")
            hits = up.hits
            r = request(ngx.port, "GET", "/api?access_token=" +
                        fx["tokens"]["tampered_signature"],
                        headers=bearer(fx, "RS256"))
            expect_status(r, 401, "a forged token beside a cached one")
            check(up.hits == hits, "the upstream saw the forged token")
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
    remote_jwks_is_fetched_by_the_worker("https")


def case_jwt_remote_jwks_over_plain_http_is_fetched_by_the_worker():
    """kgateway allows an http:// JWKS URL (gwf warns at config time)."""
    remote_jwks_is_fetched_by_the_worker("http")


def remote_jwks_is_fetched_by_the_worker(scheme):
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
        with open(os.path.join(tmp, scheme + "_port" if scheme == "http"
                               else "port")) as f:
            port = int(f.read())
        os.chmod(os.path.join(tmp, "ca.pem"), 0o644)
        remote = {"url": "%s://127.0.0.1:%d/jwks.json" % (scheme, port),
                  "cacheDuration": "60s", "fetchTimeout": "5s"}
        if scheme == "https":
            remote["caFile"] = os.path.join(tmp, "ca.pem")
        ext = jwt_extension({"remote": remote})
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


class JwksPeer:
    """jwks_server.py in a temporary directory the workers can read,
    serving the fixture's keys; always stopped on exit."""

    def __init__(self, fx, delay_s=None):
        self.dir = tempfile.mkdtemp(prefix="gwf-jwt-nginx-")
        os.chmod(self.dir, 0o755)  # nginx workers may run as another user
        with open(os.path.join(self.dir, "jwks.json"), "w") as f:
            json.dump(fx["jwks"], f)
        if delay_s is not None:
            with open(os.path.join(self.dir, "delay"), "w") as f:
                f.write(str(delay_s))
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "jwks_server.py"),
             self.dir], stdin=subprocess.PIPE)
        port_file = os.path.join(self.dir, "port")
        check(wait_for(lambda: os.path.exists(port_file), 15),
              "jwks_server.py did not start")
        with open(port_file) as f:
            self.port = int(f.read())
        os.chmod(os.path.join(self.dir, "ca.pem"), 0o644)
        return self

    def remote(self, fetch_timeout):
        return {"remote": {"url": "https://127.0.0.1:%d/jwks.json" % self.port,
                           "caFile": os.path.join(self.dir, "ca.pem"),
                           "cacheDuration": "60s",
                           "fetchTimeout": fetch_timeout}}

    def fetches(self):
        try:
            with open(os.path.join(self.dir, "requests")) as f:
                return len(f.read().splitlines())
        except OSError:
            return 0

    def __exit__(self, *exc):
        if self.proc:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        subprocess.run(["rm", "-rf", self.dir], timeout=30)


def case_jwt_requests_woken_by_a_fetch_outlive_its_timeout_safely():
    """Issue 10, defect 1: requests that waited for a JWKS fetch (2 s) and
    were woken by it still live when fetchTimeout (3 s) passes, because
    their upstream answers after 4 s. Their wait timers must be gone: a
    timer left armed fired on the freed waiter (ASan: use after free;
    release builds: "double free or corruption", workers on signal 6)."""
    with tempfile.TemporaryDirectory() as tmp:
        fx = make_tokens(tmp)
        with JwksPeer(fx, delay_s=2) as peer:
            ext = jwt_extension(peer.remote("3s"))
            with Upstream() as up, Nginx(
                    server(proxied("/api", "gwf_policy api")),
                    manifests={"jwt.yaml": [ext, POLICY]},
                    upstream=up) as ngx:
                # The first worker's fetch, then a reload: the new worker
                # fetches again and every request below waits for it.
                ngx.wait_log(r"JWKS key\(s\) from", timeout=10)
                old = ngx.worker_pids()
                check(ngx.reload().returncode == 0, "nginx -s reload failed")
                ngx.wait_reloaded(old)
                started = time.monotonic()
                pending = [Background(ngx.port, "GET", "/api/slow?ms=4000",
                                      headers=bearer(fx, "ES256"),
                                      timeout=15)
                           for _ in range(20)]
                results = [b.result(timeout=25) for b in pending]
                for i, r in enumerate(results):
                    expect_status(r, 200, "request %d" % i)
                check(time.monotonic() - started >= 4.0,
                      "the upstream did not hold the requests past "
                      "fetchTimeout")
                check(up.hits == 20, "the upstream saw %d requests, "
                      "expected 20" % up.hits)
                check(all(echo_header(rec, "x-sub") == "alice"
                          for rec in up.requests),
                      "a request reached the upstream without its claims")
                # Past every waiter's timeout: nothing may fire now.
                time.sleep(1.0)
                ngx.wait_log(r"JWKS key\(s\) from", count=2)
                check(peer.fetches() == 2,
                      "%d JWKS fetches, expected 2 (one per worker)"
                      % peer.fetches())
                expect_status(request(ngx.port, "GET", "/api",
                                      headers=bearer(fx, "ES256")),
                              200, "after the storm")
                assert_streams_end_and_only_the_refresh_timer_stays(ngx)


def request_with_repeated_header(port, path, name, values):
    """GET `path` with header `name` sent once per value (http.client's
    dict of headers cannot repeat one)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path)
        for value in values:
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def case_jwt_repeated_token_header_is_never_half_verified():
    """Issue 10, defect 5: AllowMissing, tokenSource x-jwt "Bearer ". A
    first value without the prefix (`Basic Zm9v`) hid the second, forged
    token: 200, and both reached the upstream. Every value is a candidate
    now: the forged one is refused (401), a valid one is verified and
    removed with the header, and two tokens are ambiguous (401)."""
    with tempfile.TemporaryDirectory() as tmp:
        fx = make_tokens(tmp)
        ext = jwt_extension({"local": {"inline": json.dumps(fx["jwks"])}})
        spec = ext["spec"]["jwt"]
        spec["validationMode"] = "AllowMissing"
        spec["providers"][0]["tokenSource"] = {
            "header": {"header": "x-jwt", "prefix": "Bearer "}}
        with Upstream() as up, Nginx(
                server(proxied("/api", "gwf_policy api")),
                manifests={"jwt.yaml": [ext, POLICY]}, upstream=up) as ngx:
            forged = "Bearer " + fx["tokens"]["tampered_signature"]
            valid = "Bearer " + fx["tokens"]["RS256"]
            bob = "Bearer " + fx["tokens"]["bob"]
            for values in (["Basic Zm9v", forged], [forged, "Basic Zm9v"],
                           [valid, bob], [valid, forged]):
                status, body = request_with_repeated_header(
                    ngx.port, "/api", "X-Jwt", values)
                check(status == 401, "%s...: status %d, body %r"
                      % (values[0][:12], status, body[:200]))
            check(up.hits == 0, "the upstream saw %d requests" % up.hits)
            status, _ = request_with_repeated_header(
                ngx.port, "/api", "X-Jwt", ["Basic Zm9v", valid])
            check(status == 200, "Basic + valid: status %d" % status)
            rec = up.requests[-1]
            check(echo_header(rec, "x-sub") == "alice",
                  "x-sub %r" % echo_header(rec, "x-sub"))
            check(echo_header(rec, "x-jwt") is None,
                  "x-jwt reached the upstream: %r" % echo_header(rec, "x-jwt"))
            assert_no_leaks(ngx)


# kgateway's e2e test (test/e2e/features/jwt): its GatewayExtension's
# provider with the PEM key as it is there, and the tokens it sends.
E2E_PEM = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAruK9KacQjDePRyfG7oPI
aqAIyCeOCBIGB2nBbDLGp1Szdm7rsWcrzGf7Avpa/ijLV9huoNvpdflld4B+SaT7
m3EDDMDUyA4LayJC5JBI10Qfu3Qn8BEpcdN2uRiycXOzgsoIXneXp9hENlS5Vsr3
ur5BaBCc+BZZRRaXDTLy6KyD1Pyd6XRsxyZXt/SYOIww0NSt5u0CTyZUGJhQungJ
pI8Hhrzdf87mLZGZd16dOGObE5LqFwk2prN3D0+owLsA25WJOPZXizxpTB4tPvJu
YGATajDpzrHf+WXgOgvwyxaHJSN/fE+eFuRT3ooDaAuytsfYotsn4z/ajdEPSwXY
CwIDAQAB
-----END PUBLIC KEY-----
"""
E2E_DEV1 = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJodHRwczovL2Rldi5leGFtcGxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0"
    "IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnRlcm5hbCIsImVtYWlsIjoiZGV2MUBrZ2F0ZXdheS5p"
    "byIsImdyb3VwIjoiZW5naW5lZXJpbmciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9."
    "pqzk87Gny6mT8Gk7CVfkminm3u9CrNPhRt0oElwmfwZ7Jak1Ss4iOZ7MSZEgZFPxGiaz3DQy"
    "vos65dqbM_e4RaLYXb9fFYylaBl8kE8bhqMnXfPBNp9C4XTsSz4mR-eUvnkXXZ31dhMkoZvw"
    "IswWXR50wZ0rC6NF60Tye0sHJRdDcwL5778wDzLnualvtIiL-CbhWzXgRmjcrK3sbikLCHBj"
    "QiTEyBMPOVqS5NqJBgd7ZW1UASoxuxjCLsN8tBIaAFSACf8FZggAh9vEUJ_uc39kvOKQ0vs0"
    "pxvoYtsMPcndBYhws6IUhx_iF__qs_zz9mDNp8aMbXSlEdJG30wiRA")
E2E_BAD = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJodHRwczovL2Rldi5leGFtcGxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0"
    "IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnRlcm5hbCIsImVtYWlsIjoiZGV2MkBrZ2F0ZXdheS5p"
    "byIsImdyb3VwIjoiZW5naW5lZXJpbmciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9."
    "pduAl6C0YofLSTUNcQuSd5dvrN-B8eE0pbOJJ9h5Fyh-k1HQQzSpZ47HJngclFmfcWk25qyJ"
    "fLOnuVuA4PV6PwanPovL5YpdLlAbjHZPfDwsR1v8zUzb97yl-hbQzYCiA8coHO6rQE8hOYD5"
    "9-DXkH6acuU8nVm3sv6VUA8zR5XpxZfJHJfRu8TZUFowk3FFrdh3nUSeeXLtm0YxN9uVEHKe"
    "3v_UEdMBUzri7wC1saKy7CcpikpBwd7itPMpT87BL_f1LvJf7LUEChRC-sp2LYsyjT-rme4Y"
    "ufPp1vVi5dMSCpfmvB1XlgFKzmGBPKvDJPta1DNOmHqEmKmgOQBCmw")


def case_jwt_kgateway_e2e_pem_key_behaves_as_its_e2e_test_expects():
    ext = {"apiVersion": API, "kind": "GatewayExtension",
           "metadata": {"name": "basic-jwt-provider", "namespace": "default"},
           "spec": {"type": "JWT", "jwt": {"providers": [{
               "name": "my-example",
               "claimsToHeaders": [{"name": "org", "header": "x-org"},
                                   {"name": "email", "header": "x-email"}],
               "issuer": "https://dev.example.com",
               "jwks": {"local": {"inline": E2E_PEM}}}]}}}
    policy = {"apiVersion": API, "kind": "TrafficPolicy",
              "metadata": {"name": "jwt-policy", "namespace": "default"},
              "spec": {"jwtAuth": {"extensionRef": {
                  "name": "basic-jwt-provider"}}}}
    with Upstream() as up, Nginx(
            server(proxied("/get", "gwf_policy jwt-policy")),
            manifests={"jwt.yaml": [ext, policy]}, upstream=up) as ngx:
        r = request(ngx.port, "GET", "/get")
        expect_status(r, 401, "no token")
        check("Jwt is missing" in r.text, "body %r" % r.text[:200])
        r = request(ngx.port, "GET", "/get",
                    headers={"Authorization": "Bearer " + E2E_BAD})
        expect_status(r, 401, "badly signed token")
        check("Jwt verification fails" in r.text, "body %r" % r.text[:200])
        check(up.hits == 0, "the upstream saw %d requests" % up.hits)
        r = request(ngx.port, "GET", "/get",
                    headers={"Authorization": "Bearer " + E2E_DEV1})
        expect_status(r, 200, "dev1")
        rec = up.requests[-1]
        check(echo_header(rec, "x-email") == "dev1@kgateway.io",
              "x-email %r" % echo_header(rec, "x-email"))
        check(echo_header(rec, "x-org") == "internal",
              "x-org %r" % echo_header(rec, "x-org"))
        assert_no_leaks(ngx)


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
