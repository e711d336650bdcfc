#!/usr/bin/python3
"""test_jwt_attacks.py - hostile tokens and hostile JWKS servers thrown at
jwt_auth inside the real nginx.

    /usr/bin/python3 test_jwt_attacks.py CASE      (exit 0 pass, 1 fail)

Each case starts nginx (tests/nginx/harness.py) with the echo upstream
behind jwt_auth and asserts the exact answer, what the upstream received
(for a refused token: nothing), and, through the harness, that no worker
died and no sanitizer spoke. Token cases run against two providers with
the same keys: /local (jwks.local.inline) and /remote (jwks.remote from
hostile_jwks.py behaving well), since both paths choose keys differently.
Keys and tokens are made by jwt_fixture.py; the JWKS server cases use
hostile_jwks.py.
"""

import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

from attacks_lib import (  # noqa: E402
    API, Background, Nginx, TestFailure, Upstream, check, echo_header,
    expect_status, get_metrics, metric, parse_responses, proxied,
    raw_exchange, request, run_case, server, wait_for)
from hostile_jwks import HostileJwks  # noqa: E402
from jwt_fixture import SKEW_S, Keys, b64url, claims  # noqa: E402

TOKEN_PATHS = ("/local", "/remote")
MAX_TOKEN_LEN = 16384  # README: "at most 16384 bytes"
FETCH_FAILED = b"Jwks remote fetch is failed"


# ---------------------------------------------------------------------------
# Manifests and the gateway
# ---------------------------------------------------------------------------

def jwt_extension(name, jwks, **provider):
    p = {"name": "idp", "issuer": "https://issuer.example",
         "audiences": ["api"], "jwks": jwks, "clockSkew": "%ds" % SKEW_S,
         "claimsToHeaders": [{"name": "sub", "header": "x-sub"},
                             {"name": "groups", "header": "x-groups"}]}
    p.update(provider)
    return {"apiVersion": API, "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"jwt": {"providers": [p]}}}


def jwt_policy(name, extension):
    return {"apiVersion": API, "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"jwtAuth": {"extensionRef": {"name": extension}}}}


def remote(peer, path, fetch_timeout="2s"):
    return {"remote": {"url": peer.url(path), "caFile": peer.ca_file,
                       "cacheDuration": "60s",
                       "fetchTimeout": fetch_timeout}}


class Gateway:
    """Keys, a JWKS peer, the upstream and nginx with one jwt location
    per entry of `routes` ({path: jwks config or callable(peer)}), plus
    /metrics. Default routes: /local (inline keys) and /remote (the peer's
    well-behaved /jwks.json)."""

    def __init__(self, routes=None, http_extra="", workers=1, keys=None):
        self.tmp = tempfile.mkdtemp(prefix="gwf-attack-jwt-")
        os.chmod(self.tmp, 0o755)  # nginx workers may run as another user
        self.keys = keys or Keys()
        self.peer = HostileJwks(self.tmp, self.keys.jwks)
        if routes is None:
            routes = {"/local": {"local": {"inline":
                                           json.dumps(self.keys.jwks)}},
                      "/remote": lambda peer: remote(peer, "/jwks.json")}
        self.routes = routes
        self.up = Upstream().start()
        self.ngx = Nginx(server(*[proxied(path, "gwf_policy " + self._id(path))
                                  for path in routes]),
                         {"jwt.yaml": self.manifests()}, self.up,
                         workers=workers, http_extra=http_extra)

    @staticmethod
    def _id(path):
        return "p" + path.strip("/").replace("/", "-").replace(".", "-")

    def manifests(self, **provider):
        docs = []
        for path, jwks in self.routes.items():
            extra = dict(provider)
            if isinstance(jwks, tuple):  # (jwks, provider fields)
                jwks, fields = jwks
                extra.update(fields)
            if callable(jwks):
                jwks = jwks(self.peer)
            docs.append(jwt_extension("e" + self._id(path), jwks, **extra))
            docs.append(jwt_policy(self._id(path), "e" + self._id(path)))
        return docs

    def __enter__(self):
        try:
            self.ngx.__enter__()
        except BaseException:
            self._release_peers()
            raise
        return self

    def _release_peers(self):
        self.peer.stop()
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __exit__(self, *exc):
        try:
            return self.ngx.__exit__(*exc)
        finally:
            self._release_peers()

    def get(self, path, token=None, headers=None, timeout=10.0):
        h = dict(headers or {})
        if token is not None:
            if isinstance(token, bytes):
                h["Authorization"] = b"Bearer " + token
            else:
                h["Authorization"] = "Bearer " + token
        return request(self.ngx.port, "GET", path, headers=h, timeout=timeout)


def expect_refused(gw, token, what, paths=TOKEN_PATHS, status=401):
    """The token is refused on every path, nothing reaches the upstream."""
    before = gw.up.hits
    for path in paths:
        r = gw.get(path, token)
        expect_status(r, status, "%s on %s" % (what, path))
        check('error="invalid_token"' in (r.header("www-authenticate") or ""),
              "%s on %s: www-authenticate %r"
              % (what, path, r.header("www-authenticate")))
    check(gw.up.hits == before,
          "%s: the upstream received %d request(s)"
          % (what, gw.up.hits - before))


def expect_allowed(gw, token, what, paths=TOKEN_PATHS):
    for path in paths:
        before = gw.up.hits
        r = gw.get(path, token)
        expect_status(r, 200, "%s on %s" % (what, path))
        check(gw.up.hits == before + 1, "%s: upstream hits %d -> %d"
              % (what, before, gw.up.hits))
        check(echo_header(gw.up.requests[-1], "x-sub") == "alice",
              "%s: x-sub %r" % (what, echo_header(gw.up.requests[-1],
                                                  "x-sub")))


def assert_streams_end(gw, timeout=5.0):
    """Every stream ended (gwf_streams_active back to 0 everywhere). The
    remote fetchers keep worker-scope timers, so gwf_async_active is not
    expected to be 0 here."""
    last = {}

    def settled():
        m = get_metrics(gw.ngx)
        last.clear()
        last.update({k: v for k, v in m.items()
                     if k.startswith("gwf_streams_active")})
        return last and all(v == 0 for v in last.values())
    if not wait_for(settled, timeout, interval=0.2):
        raise TestFailure("gwf_streams_active did not return to 0 within "
                          "%.0fs: %s" % (timeout, last))


# ---------------------------------------------------------------------------
# Hostile tokens
# ---------------------------------------------------------------------------

def case_alg_none_in_any_case_is_refused():
    with Gateway() as gw:
        valid = gw.keys.token("HS256")
        h, p, s = valid.split(".")
        expect_allowed(gw, valid, "the valid HS256 token (control)")
        for alg in ("none", "None", "NONE", "nOnE"):
            for kid in (None, "hs1", "rsa1"):
                header = {"alg": alg, "typ": "JWT"}
                if kid:
                    header["kid"] = kid
                hb = b64url(json.dumps(header))
                expect_refused(gw, hb + "." + p + ".", "alg %s kid %s, "
                               "empty signature" % (alg, kid))
                expect_refused(gw, hb + "." + p + "." + s,
                               "alg %s kid %s, with a signature" % (alg, kid))
                expect_refused(gw, hb + "." + p, "alg %s, two parts" % alg)


def case_hs256_keyed_with_the_rsa_public_key_is_refused():
    """The key-confusion forgery: HS256 whose HMAC key is the bytes of the
    server's RSA public key (PEM, PKCS#1 PEM, the JWK's JSON, its n)."""
    from cryptography.hazmat.primitives import serialization
    with Gateway() as gw:
        k = gw.keys
        secrets = {
            "SPKI PEM": k.rsa_public_pem(),
            "PKCS#1 PEM": k.rsa_public_pem(
                serialization.PublicFormat.PKCS1),
            "JWK JSON": json.dumps(k.rsa_jwk).encode(),
            "JWK JSON compact": json.dumps(k.rsa_jwk,
                                           separators=(",", ":")).encode(),
            "JWKS JSON": json.dumps(k.jwks).encode(),
            "n": k.rsa_jwk["n"].encode(),
        }
        for what, secret in secrets.items():
            for kid in ("rsa1", None):
                header = {"alg": "HS256", "typ": "JWT"}
                if kid:
                    header["kid"] = kid
                token = k.token(header=header, secret=secret)
                expect_refused(gw, token, "HS256 keyed with the RSA key's %s,"
                               " kid %s" % (what, kid))


def case_kid_of_another_key_type_is_refused():
    """A real signature by one key, under the kid of a key of another
    type or algorithm: the kid's key must not verify it and no other key
    may be tried instead."""
    with Gateway() as gw:
        k = gw.keys
        for alg in ("RS256", "ES256", "EdDSA", "HS256"):
            expect_allowed(gw, k.token(alg), "%s with its own kid" % alg)
        for alg, kid in (("RS256", "ec256"), ("RS256", "hs1"),
                         ("RS256", "ed1"), ("ES256", "rsa1"),
                         ("ES256", "ed1"), ("EdDSA", "ec256"),
                         ("EdDSA", "rsa1"), ("HS256", "rsa1"),
                         ("HS256", "ec256"), ("HS256", "ed1")):
            expect_refused(gw, k.token(alg, kid=kid),
                           "%s signed by its key, kid %s" % (alg, kid))
        # The header names one algorithm, the signature is another's.
        for alg, sign_alg in (("ES256", "RS256"), ("RS256", "ES256"),
                              ("RS256", "HS256"), ("PS256", "RS256"),
                              ("ES384", "ES256")):
            expect_refused(gw, k.token(header={"alg": alg, "kid": {
                "RS256": "rsa1", "ES256": "ec256", "HS256": "hs1",
                "PS256": "rsa1", "ES384": "ec256"}[alg]}, sign_alg=sign_alg),
                "header alg %s, signed %s" % (alg, sign_alg))


def _at_fresh_second():
    """Sleep to just after a second boundary; returns that second, so
    requests sent now are checked at the same `now` as the tokens."""
    t = time.time()
    time.sleep(1.02 - (t - int(t)))
    return int(time.time())


def case_exp_and_nbf_edges_are_exact():
    """With clockSkew 60 s: refused when now >= exp + skew or now + skew <
    nbf (filter.c), every edge at +-1 s, far past and far future. All
    requests of one round go out in the same second (in parallel); a
    round that spilled over the second is run again."""
    year100 = 100 * 365 * 86400
    with Gateway() as gw:
        for attempt in range(3):
            now = _at_fresh_second()
            cases = [
                ("exp now-skew-1", dict(exp=now - SKEW_S - 1), 401),
                ("exp now-skew", dict(exp=now - SKEW_S), 401),
                ("exp now-skew+1", dict(exp=now - SKEW_S + 1), 200),
                ("exp now", dict(exp=now), 200),
                ("exp now+skew+1", dict(exp=now + SKEW_S + 1), 200),
                ("exp 1 (far past)", dict(exp=1), 401),
                ("exp far future", dict(exp=now + year100), 200),
                ("nbf now+skew+1", dict(nbf=now + SKEW_S + 1), 401),
                ("nbf now+skew", dict(nbf=now + SKEW_S), 200),
                ("nbf now+skew-1", dict(nbf=now + SKEW_S - 1), 200),
                ("nbf now", dict(nbf=now), 200),
                ("nbf 0 (far past)", dict(nbf=0), 200),
                ("nbf far future", dict(nbf=now + year100), 401),
            ]
            before = gw.up.hits
            runs = [(what, status, Background(
                gw.ngx.port, "GET", "/local", headers={
                    "Authorization": "Bearer " + gw.keys.token(
                        payload=claims(now, iat=None, **changes))}))
                for what, changes, status in cases]
            results = [(what, status, bg.result()) for what, status, bg
                       in runs]
            if int(time.time()) != now:
                continue  # the clock moved on during the round: again
            for what, status, r in results:
                expect_status(r, status, what)
            allowed = sum(1 for _, _, status in cases if status == 200)
            check(gw.up.hits - before == allowed,
                  "the upstream got %d requests, expected %d"
                  % (gw.up.hits - before, allowed))
            return
        raise TestFailure("no round fitted in one second (machine too slow)")


def _token_of_length(keys, length):
    """A valid HS256 token exactly `length` characters long (a filler
    claim, and the header's own filler for the lengths base64url cannot
    make with the payload alone)."""
    for header_pad in range(4):
        header = {"alg": "HS256", "kid": "hs1", "x": "h" * header_pad}
        for fill in range(max(0, length * 3 // 4 - 400), length * 3 // 4):
            token = keys.token(header=header,
                               payload=claims(fill="f" * fill))
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise TestFailure("cannot make a token of %d characters" % length)


def case_token_size_bound_is_exact():
    """At most 16384 characters (README); nginx's header limit is raised so
    the plugin's bound is the one tested; beyond nginx's own limit nginx
    answers 400 before any plugin runs."""
    with Gateway(http_extra="    large_client_header_buffers 4 64k;") as gw:
        expect_allowed(gw, _token_of_length(gw.keys, MAX_TOKEN_LEN - 1),
                       "a valid token of %d" % (MAX_TOKEN_LEN - 1))
        expect_allowed(gw, _token_of_length(gw.keys, MAX_TOKEN_LEN),
                       "a valid token of exactly %d" % MAX_TOKEN_LEN)
        expect_refused(gw, _token_of_length(gw.keys, MAX_TOKEN_LEN + 1),
                       "a valid token of %d" % (MAX_TOKEN_LEN + 1))
        expect_refused(gw, _token_of_length(gw.keys, 60000),
                       "a valid token of 60000")
        before = gw.up.hits
        r = gw.get("/local", "A" * 70000)
        expect_status(r, 400, "a 70000-byte header (over nginx's 64k)")
        check(gw.up.hits == before, "the upstream got the 70000-byte token")


def case_malformed_token_shapes_are_refused():
    with Gateway() as gw:
        h, p, s = gw.keys.token().split(".")
        shapes = ["a.b.c.d.e", "...", ".....", "..", ".", "a", "a.b",
                  h + "." + p + "." + s + ".", h + "." + p + "." + s + "." + s,
                  "." + p + "." + s, h + ".." + s, h + "." + p + ".",
                  h + "." + p, h + "." + p + "." + s + "..",
                  h + "." + h + "." + s, p + "." + p + "." + s]
        for t in shapes:
            expect_refused(gw, t, "token %r" % t[:60])
        # Bearer with nothing after it: a present-but-empty token.
        for path in TOKEN_PATHS:
            r = request(gw.ngx.port, "GET", path,
                        headers={"Authorization": "Bearer "})
            expect_status(r, 401, "an empty bearer token on " + path)
        check(gw.up.hits == 0, "the upstream got %d requests" % gw.up.hits)


def case_deeply_nested_json_is_refused():
    """10,000 '[' in the header or the payload, and a correctly signed
    token whose header or payload nests 5,000 deep: refused, the worker
    survives (no recursion on attacker input without a bound)."""
    with Gateway(http_extra="    large_client_header_buffers 4 64k;") as gw:
        k = gw.keys
        deep = "[" * 5000 + "]" * 5000
        tokens = {
            "header of 10000 '['": b64url("[" * 10000) + "." +
            b64url(json.dumps(claims())) + ".c2ln",
            "signed payload of 10000 '['": k.token(payload="[" * 10000),
            "signed header nesting 5000 deep":
                k.token(header='{"alg":"HS256","kid":"hs1","x":%s}' % deep),
            "signed payload nesting 5000 deep":
                k.token(payload=json.dumps(claims())[:-1] +
                        ', "x": %s}' % deep),
            "signed payload of 2000 unclosed objects": k.token(
                payload='{"a":' * 2000),
        }
        for what, t in tokens.items():
            check(len(t) <= MAX_TOKEN_LEN, "%s is %d long" % (what, len(t)))
            expect_refused(gw, t, what)
        expect_allowed(gw, k.token(), "a valid token after them")


def case_duplicate_json_members_are_refused():
    """A JSON object with a member twice is ambiguous (RFC 7515 4: a
    duplicate header parameter must be rejected, and parsers disagree on
    which one wins): refused in the header and in the payload."""
    with Gateway() as gw:
        k = gw.keys
        now = int(time.time())
        body = json.dumps(claims(now))[1:-1]
        tokens = {
            "alg twice (same)":
                k.token(header='{"alg":"HS256","alg":"HS256","kid":"hs1"}'),
            "alg none then HS256":
                k.token(header='{"alg":"none","alg":"HS256","kid":"hs1"}'),
            "alg HS256 then none":
                k.token(header='{"alg":"HS256","kid":"hs1","alg":"none"}'),
            "kid twice": k.token(
                header='{"alg":"HS256","kid":"rsa1","kid":"hs1"}'),
            "exp twice (past, then future)": k.token(payload='{%s, '
                '"exp": %d, "exp": %d}' % (body.replace(
                    '"exp": %d, ' % (now + 3600), ""), now - 7200,
                    now + 3600)),
            "exp twice (future, then past)": k.token(payload='{%s, '
                '"exp": %d}' % (body, now - 7200)),
            "sub twice": k.token(payload='{%s, "sub": "mallory"}' % body),
            "aud twice": k.token(payload='{%s, "aud": "other"}' % body),
        }
        for what, t in tokens.items():
            expect_refused(gw, t, what)
        expect_allowed(gw, k.token(payload='{%s}' % body),
                       "the same claims without duplicates")


def case_bad_encodings_are_refused():
    with Gateway() as gw:
        k = gw.keys
        valid = k.token()
        h, p, s = valid.split(".")
        tokens = {
            "header not UTF-8": k.token(
                header=b'{"alg":"HS256","kid":"hs1","x":"\xff\xfe"}'),
            "payload not UTF-8": k.token(payload=json.dumps(claims())[:-1]
                                         .encode() + b', "x": "\xc3\x28"}'),
            "payload UTF-8 surrogate": k.token(
                payload=json.dumps(claims())[:-1].encode() +
                b', "x": "\xed\xa0\x80"}'),
            "'+' in the header": h[:3] + "+" + h[4:] + "." + p + "." + s,
            "'/' in the payload": h + "." + p[:5] + "/" + p[6:] + "." + s,
            "'*' in the signature": h + "." + p + "." + s[:7] + "*" + s[8:],
            "'%' in the signature": h + "." + p + "." + s[:7] + "%" + s[8:],
            "'=' padding on the signature": valid + "=",
            "'==' padding on the header": h + "==." + p + "." + s,
            "standard base64 signature": h + "." + p + "." +
            s.replace("-", "+").replace("_", "/") + "=",
            "stray bits in the signature's last character":
                h + "." + p + "." + s[:-1] +
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_"[("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789-_").index(s[-1]) | 1],
            "a space inside the payload": h + "." + p[:6] + " " + p[6:] +
            "." + s,
            "a tab inside the signature": h + "." + p + "." + s[:6] + "\t" +
            s[6:],
            "a byte 0xff inside the header": (h[:4] + "\udcff" + h[4:] + "." +
                                              p + "." + s).encode(
                                                  "utf-8", "surrogateescape"),
            "a NUL-free UTF-8 character inside the payload":
                (h + "." + p[:4] + "\u00e9" + p[4:] + "." + s).encode(),
        }
        # A signature without stray bits in the last character has the
        # low bits clear; make sure the tampered one really differs.
        check(tokens["stray bits in the signature's last character"] !=
              valid, "the stray-bits token equals the valid one")
        for what, t in tokens.items():
            expect_refused(gw, t, what)
        expect_allowed(gw, valid, "the valid token itself")
        # RFC 6750 2.1: credentials = "Bearer" 1*SP b64token.
        expect_allowed(gw, " " + valid, "two spaces after Bearer")


def case_tampered_payload_is_refused():
    with Gateway() as gw:
        k = gw.keys
        for alg in ("HS256", "RS256", "ES256", "EdDSA"):
            t = k.token(alg)
            h, p, s = t.split(".")
            forged = b64url(json.dumps(claims(sub="mallory")))
            expect_refused(gw, h + "." + forged + "." + s,
                           "%s with the payload replaced" % alg)
            other = k.token(alg, payload=claims(sub="bob")).split(".")
            expect_refused(gw, h + "." + other[1] + "." + s,
                           "%s with another token's payload" % alg)
            expect_refused(gw, h + "." + p + "." + other[2],
                           "%s with another token's signature" % alg)
            expect_allowed(gw, t, "%s untouched" % alg)


def case_two_tokens_in_one_request_are_refused():
    """Two tokens in the provider's place are ambiguous (the upstream may
    read another one than the plugin verified): refused whichever comes
    first, even when both are valid - in a custom header, in cookies and
    in the query. Two Authorization headers nginx refuses itself (400)."""
    keys = Keys()
    jwks = {"local": {"inline": json.dumps(keys.jwks)}}
    routes = {
        "/header": (jwks, {"tokenSource": {"header": {
            "header": "x-token", "prefix": "Bearer "}}}),
        "/cookie": (jwks, {"tokenSource": {"cookie": "tok"}}),
        "/query": (jwks, {"tokenSource": {"queryParameter": "tok"}}),
        "/local": jwks,
    }
    with Gateway(routes, keys=keys) as gw:
        k = gw.keys
        valid, bob = k.token(), k.token(payload=claims(sub="bob"))

        def raw(path, first, second):
            target, head = path, ""
            if path == "/header":
                head = ("X-Token: Bearer %s\r\nX-Token: Bearer %s\r\n"
                        % (first, second))
            elif path == "/cookie":
                head = "Cookie: tok=%s; tok=%s\r\n" % (first, second)
            elif path == "/query":
                target = "/query?tok=%s&tok=%s" % (first, second)
            else:
                head = ("Authorization: Bearer %s\r\n"
                        "Authorization: Bearer %s\r\n" % (first, second))
            return ("GET %s HTTP/1.1\r\nHost: localhost\r\n%s"
                    "Connection: close\r\n\r\n" % (target, head)).encode()

        for what, first, second in (
                ("valid then garbage", valid, "garbage"),
                ("garbage then valid", "garbage", valid),
                ("two valid tokens", valid, bob),
                ("the same token twice", valid, valid)):
            for path in routes:
                resps = parse_responses(raw_exchange(gw.ngx.port,
                                                     raw(path, first,
                                                         second)))
                want = 400 if path == "/local" else 401
                check([r.status for r in resps] == [want],
                      "%s on %s: %r, expected %d" % (what, path, resps, want))
        check(gw.up.hits == 0, "the upstream got %d requests" % gw.up.hits)
        # Control: one token in each place is accepted.
        r = request(gw.ngx.port, "GET", "/header",
                    headers={"X-Token": "Bearer " + valid})
        expect_status(r, 200, "one x-token")
        r = request(gw.ngx.port, "GET", "/cookie",
                    headers={"Cookie": "a=b; tok=" + valid})
        expect_status(r, 200, "one cookie")
        r = request(gw.ngx.port, "GET", "/query?x=1&tok=" + valid)
        expect_status(r, 200, "one query parameter")
        check(gw.up.hits == 3, "upstream hits %d" % gw.up.hits)


def case_claim_control_bytes_never_reach_the_upstream():
    """claimsToHeaders copies claims into request headers: a claim with CR,
    LF, NUL or another control byte (not HTAB) must never become a header
    value (header injection, request splitting). Correct: the request is
    refused, or it goes on without that header."""
    bad_values = ["evil\r\nx-injected: 1", "evil\nx-injected: 1",
                  "evil\rx-injected: 1", "a\x00b", "a\x01b", "a\x1bb",
                  "a\x7fb", "\r\n"]
    with Gateway() as gw:
        k = gw.keys
        for value in bad_values:
            for changes in (dict(sub=value), dict(groups=["ok", value])):
                t = k.token(payload=claims(**changes))
                for path in TOKEN_PATHS:
                    before = gw.up.hits
                    r = gw.get(path, t)
                    what = "%s on %s" % (changes, path)
                    check(r.status in (200, 401),
                          "%s: status %d" % (what, r.status))
                    if r.status == 401:
                        check(gw.up.hits == before,
                              "%s: refused but the upstream got it" % what)
                        continue
                    check(gw.up.hits == before + 1, "%s: upstream hits %d"
                          % (what, gw.up.hits - before))
                    rec = gw.up.requests[-1]
                    check(echo_header(rec, "x-injected") is None,
                          "%s: the upstream received x-injected" % what)
                    for name, v in rec["headers"]:
                        check(not any(ord(c) < 0x20 and c != "\t" or
                                      ord(c) == 0x7f for c in v),
                              "%s: the upstream received %s: %r"
                              % (what, name, v))
                    bad = "x-sub" if "sub" in changes else "x-groups"
                    check(echo_header(rec, bad) is None,
                          "%s: the upstream received %s: %r (expected the "
                          "header dropped)" % (what, bad,
                                               echo_header(rec, bad)))
        expect_allowed(gw, k.token(), "a clean token after them")


# ---------------------------------------------------------------------------
# Hostile JWKS servers
# ---------------------------------------------------------------------------

def _refused_for_want_of_keys(gw, path, what, max_s):
    before = gw.up.hits
    r = gw.get(path, gw.keys.token("RS256"))
    expect_status(r, 401, what)
    check(r.body.strip() == FETCH_FAILED,
          "%s: body %r, expected %r" % (what, r.body, FETCH_FAILED))
    check(r.elapsed <= max_s, "%s: answered after %.2fs (bound %.1fs)"
          % (what, r.elapsed, max_s))
    check(gw.up.hits == before, "%s: the upstream got the request" % what)
    return r


def case_remote_jwks_that_hangs_is_bounded_by_fetch_timeout():
    """The peer accepts and never answers: the request waiting for the
    first fetch gets 401 at fetchTimeout (1 s), the fetch's connection is
    closed, the next request is answered at once."""
    routes = {"/hang": lambda peer: remote(peer, "/hang", "1s")}
    with Gateway(routes) as gw:
        _refused_for_want_of_keys(gw, "/hang", "waiting on a hung JWKS", 3.0)
        check(wait_for(lambda: "/hang" in gw.peer.closed_after, 3),
              "the fetch's connection to the hung peer was never closed")
        check(gw.peer.closed_after["/hang"] < 3.0,
              "the hung fetch was closed after %.2fs (fetchTimeout 1s)"
              % gw.peer.closed_after["/hang"])
        _refused_for_want_of_keys(gw, "/hang", "after the failed fetch", 1.0)
        check(gw.peer.hits("/hang") == 1, "the peer got %d fetches"
              % gw.peer.hits("/hang"))
        assert_streams_end(gw)


def case_remote_jwks_garbage_is_refused():
    routes = {"/garbage": lambda peer: remote(peer, "/garbage")}
    with Gateway(routes) as gw:
        _refused_for_want_of_keys(gw, "/garbage", "after a garbage JWKS", 3.0)
        check(gw.peer.hits("/garbage") == 1, "fetches: %d"
              % gw.peer.hits("/garbage"))
        assert_streams_end(gw)


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def case_remote_jwks_of_1_gib_is_cut_at_the_bound():
    """The peer announces 1 GiB (with a length, and chunked without one)
    and streams it: the fetch stops at the 1 MiB bound, the worker's
    memory stays bounded, the request gets 401."""
    routes = {"/huge": lambda peer: remote(peer, "/huge", "5s"),
              "/huge-chunked": lambda peer: remote(peer, "/huge-chunked",
                                                   "5s")}
    with Gateway(routes) as gw:
        worker = gw.ngx.worker_pids()[0]
        for path in routes:
            _refused_for_want_of_keys(gw, path, "after a 1 GiB JWKS at " +
                                      path, 6.0)
            check(wait_for(lambda: path in gw.peer.sent, 5),
                  "%s: the peer is still streaming" % path)
            sent = gw.peer.sent[path]
            check(sent < 32 << 20, "%s: the worker read %d bytes before "
                  "closing (bound 1 MiB)" % (path, sent))
        rss_mb = _rss_kb(worker) / 1024.0
        limit = 1024 if os.environ.get("GWF_NGINX_ASAN") == "1" else 256
        check(rss_mb < limit, "worker RSS %.0f MiB after the huge JWKS"
              % rss_mb)
        check(worker in gw.ngx.worker_pids(), "the worker was replaced")
        assert_streams_end(gw)


def case_remote_jwks_redirect_is_not_followed():
    """README: a fetch fails on any HTTP status other than 200 - a 302 is
    not followed (libcurl's default, never enabled), so a JWKS URL cannot
    be bounced to another host. Control: the same redirect, followed by
    an HTTPS client that does follow, reaches the other server."""
    import ssl
    import urllib.request
    target_dir = tempfile.mkdtemp(prefix="gwf-attack-jwt-target-")
    routes = {"/redirect": lambda peer: remote(peer, "/redirect")}
    gw = Gateway(routes)
    target = HostileJwks(target_dir, gw.keys.jwks)
    gw.peer.redirect_to = target.url("/jwks.json")  # before nginx starts
    try:
        with gw:
            _refused_for_want_of_keys(gw, "/redirect",
                                      "after a 302 JWKS answer", 3.0)
            check(gw.peer.hits("/redirect") == 1,
                  "fetches: %d" % gw.peer.hits("/redirect"))
            check(target.hits("/jwks.json") == 0,
                  "the redirect was followed to the other server")
            ctx = ssl.create_default_context(cafile=gw.peer.ca_file)
            ctx.load_verify_locations(target.ca_file)
            with urllib.request.urlopen(gw.peer.url("/redirect"),
                                        context=ctx, timeout=5) as resp:
                check(json.loads(resp.read()) == gw.keys.jwks,
                      "control: the redirect does not lead to the JWKS")
            check(target.hits("/jwks.json") == 1,
                  "control: a following client did not reach the target")
            assert_streams_end(gw)
    finally:
        target.stop()
        shutil.rmtree(target_dir, ignore_errors=True)


def case_remote_jwks_half_response_is_refused():
    routes = {"/half": lambda peer: remote(peer, "/half")}
    with Gateway(routes) as gw:
        _refused_for_want_of_keys(gw, "/half", "after half a JWKS", 3.0)
        check(gw.peer.hits("/half") == 1, "fetches: %d"
              % gw.peer.hits("/half"))
        assert_streams_end(gw)


def _fetch_failed_because(gw, path, reason):
    """The worker logged the fetch from `path` as failed for `reason`
    (curl_easy_strerror of the code it acted on), keeping no keys."""
    pattern = (r"JWKS fetch from \S+%s failed: %s; no keys yet"
               % (re.escape(path), re.escape(reason)))
    check(wait_for(lambda: re.search(pattern, gw.ngx.log()), 3),
          "%s: no log line %r" % (path, pattern))


def case_remote_jwks_answer_cut_in_its_headers_is_refused():
    """The peer sends a status line (and maybe some headers), never the
    empty line that ends the header block, and closes. libcurl alone calls
    that a success with an empty body; the fetch must fail as a partial
    answer (gwf_curl_answer), the request gets 401."""
    routes = {"/status-only": lambda peer: remote(peer, "/status-only"),
              "/headers-cut": lambda peer: remote(peer, "/headers-cut")}
    with Gateway(routes) as gw:
        for path in routes:
            _refused_for_want_of_keys(gw, path, "after an answer cut at " +
                                      path, 3.0)
            _fetch_failed_because(gw, path, "Transferred a partial file")
            check(gw.peer.hits(path) == 1, "%s: fetches: %d"
                  % (path, gw.peer.hits(path)))
        assert_streams_end(gw)


def case_remote_jwks_with_ambiguous_framing_is_refused():
    """Content-Length beside Transfer-Encoding, or two different
    Content-Lengths (RFC 9112 6.3): whichever reading libcurl picks, the
    other may be what a cache or the real server meant. The body of each
    is a valid JWKS by one reading; the fetch must still fail, never give
    keys: the request gets 401."""
    routes = {"/cl-te": lambda peer: remote(peer, "/cl-te"),
              "/two-cl": lambda peer: remote(peer, "/two-cl")}
    with Gateway(routes) as gw:
        for path in routes:
            _refused_for_want_of_keys(gw, path, "after ambiguous framing "
                                      "at " + path, 3.0)
            _fetch_failed_because(gw, path, "Weird server reply")
            check(gw.peer.hits(path) == 1, "%s: fetches: %d"
                  % (path, gw.peer.hits(path)))
        assert_streams_end(gw)


def case_remote_jwks_byte_by_byte_is_cut_at_fetch_timeout():
    """One byte every 50 ms would take over a minute: fetchTimeout (1 s)
    bounds the whole fetch, not just the silence between bytes."""
    routes = {"/slow": lambda peer: remote(peer, "/slow?ms=50", "1s")}
    with Gateway(routes) as gw:
        _refused_for_want_of_keys(gw, "/slow", "after a byte-by-byte JWKS",
                                  3.0)
        check(wait_for(lambda: "/slow" in gw.peer.closed_after, 3),
              "the slow fetch was never closed")
        check(gw.peer.closed_after["/slow"] < 3.0,
              "the slow fetch was closed after %.2fs"
              % gw.peer.closed_after["/slow"])
        assert_streams_end(gw)


# ---------------------------------------------------------------------------
# Aborts and reloads while requests wait for keys
# ---------------------------------------------------------------------------

def _open_waiting(port, path, token, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (path, token))
                  .encode())
        socks.append(s)
    return socks


def _wait_streams(gw, instance, n, timeout=5.0):
    got = [None]

    def there():
        got[0] = metric(get_metrics(gw.ngx), "gwf_streams_active",
                        instance=instance)
        return got[0] == n
    check(wait_for(there, timeout, 0.1),
          "gwf_streams_active{instance=%r} is %r, expected %d"
          % (instance, got[0], n))


def case_client_aborts_while_waiting_for_jwks():
    """30 clients wait on a held fetch (answered later) and 30 on a hung
    one (ends at fetchTimeout), then all go away: when the fetches end
    nothing of the aborted requests may be touched; later requests
    work."""
    routes = {"/held": lambda peer: remote(peer, "/hold", "3s"),
              "/hung": lambda peer: remote(peer, "/hang", "1s")}
    with Gateway(routes) as gw:
        token = gw.keys.token("RS256")
        socks = _open_waiting(gw.ngx.port, "/held", token, 30)
        socks += _open_waiting(gw.ngx.port, "/hung", token, 30)
        _wait_streams(gw, "/held", 30)
        _wait_streams(gw, "/hung", 30)
        for s in socks:
            s.close()
        _wait_streams(gw, "/held", 0)
        _wait_streams(gw, "/hung", 0)
        gw.peer.release()         # the held fetch now succeeds
        time.sleep(1.2)           # and the hung one has timed out
        r = gw.get("/held", token)
        expect_status(r, 200, "/held after the aborts")
        _refused_for_want_of_keys(gw, "/hung", "/hung after the aborts", 1.0)
        check(gw.up.hits == 1, "the upstream got %d requests" % gw.up.hits)
        assert_streams_end(gw)


def case_wait_timer_is_gone_once_the_keys_arrive():
    """Requests wait for a held fetch (fetchTimeout 1 s); the keys come
    at once, the requests go on to a slow upstream (2 s) and are still
    alive when their wait's timeout would have fired: that timer must have
    ended with the wait (it used to fire on the freed waiter: a
    use-after-free that ASan reports)."""
    routes = {"/held": lambda peer: remote(peer, "/hold", "1s")}
    with Gateway(routes) as gw:
        token = gw.keys.token("RS256")
        waiting = [Background(gw.ngx.port, "GET", "/held/slow?ms=2000",
                              headers={"Authorization": "Bearer " + token})
                   for _ in range(5)]
        _wait_streams(gw, "/held", 5)
        gw.peer.release()
        for i, bg in enumerate(waiting):
            r = bg.result()
            expect_status(r, 200, "request %d" % i)
            check(r.elapsed >= 2.0, "request %d answered after %.2fs, "
                  "before the slow upstream did" % (i, r.elapsed))
        check(gw.up.hits == 5, "upstream hits %d" % gw.up.hits)
        assert_streams_end(gw)


def case_reload_while_requests_wait_for_jwks():
    """20 requests wait on a held JWKS fetch; nginx reloads with a new
    manifest meanwhile. When the keys come, each waiting request is
    answered by its old worker with the old config (x-sub), new requests
    use the new one (x-user), and the old worker exits cleanly."""
    routes = {"/held": lambda peer: remote(peer, "/hold", "5s")}
    with Gateway(routes) as gw:
        token = gw.keys.token("RS256")
        old_workers = gw.ngx.worker_pids()
        waiting = [Background(gw.ngx.port, "GET", "/held", headers={
            "Authorization": "Bearer " + token}) for _ in range(20)]
        _wait_streams(gw, "/held", 20)
        gw.ngx.write_manifest("jwt.yaml", gw.manifests(claimsToHeaders=[
            {"name": "sub", "header": "x-user"}]))
        res = gw.ngx.reload()
        check(res.returncode == 0, "nginx -s reload failed: %s" % res.stderr)
        # The old worker stays (its requests wait): wait for a new one.
        check(wait_for(lambda: set(gw.ngx.worker_pids()) - set(old_workers),
                       10), "no new worker after the reload")
        gw.ngx.wait_log(r"gracefully shutting down")
        gw.peer.release()
        for i, bg in enumerate(waiting):
            r = bg.result()
            expect_status(r, 200, "waiting request %d" % i)
            rec = r.json()
            check(echo_header(rec, "x-sub") == "alice" and
                  echo_header(rec, "x-user") is None,
                  "waiting request %d ran the new config: %r"
                  % (i, rec["headers"]))
        r = gw.get("/held", token)
        expect_status(r, 200, "a request after the reload")
        rec = r.json()
        check(echo_header(rec, "x-user") == "alice" and
              echo_header(rec, "x-sub") is None,
              "the new worker ran the old config: %r" % rec["headers"])
        check(wait_for(lambda: not set(old_workers) &
                       set(gw.ngx.worker_pids()), 10),
              "the old worker did not exit")
        check(re.search(r"worker process %d exited with code 0"
                        % old_workers[0], gw.ngx.log()),
              "the old worker did not exit with code 0")
        check(gw.up.hits == 21, "upstream hits %d" % gw.up.hits)
        assert_streams_end(gw)


CASES = {name[len("case_"):]: fn for name, fn in globals().items()
         if name.startswith("case_")}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
