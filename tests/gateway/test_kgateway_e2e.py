#!/usr/bin/python3
"""test_kgateway_e2e.py - kgateway's own e2e manifests, loaded as they
are, behaving as kgateway's e2e tests expect (issue 13, the judge).

    /usr/bin/python3 test_kgateway_e2e.py [CASE]

The manifests are tests/vectors/kgateway-e2e/<feature>/, unmodified
copies of kgateway's test/e2e/features/<feature>/testdata (README.md
there says from which commit). Each case writes them into the manifest
directory byte for byte, with one exception the harness makes for every
case: the `port` of a Gateway listener is logical and is mapped to a free
loopback port (harness.py's rule; a cluster maps it through its load
balancer). Beside them each case writes an overlay file, overlay.yaml,
with what kgateway's suite gets from elsewhere:

  - the suite's common Gateway when it lives in a setup file that is not
    part of the copied testdata;
  - Services the suite's setup deploys (httpbin, the kgateway-base
    backend, ext-authz) and an EndpointSlice for every Service the
    manifests route to, pointing at a stand-in started by the case:
    echo backends (echo_backend.py: they echo the request, as
    kgateway's echo-basic and httpbin do), the ext-authz server
    kgateway's extauth suite runs (kgw_authz_server.py), an RLS server
    counting with the ConfigMap the manifest carries
    (tests/plugins/rate_limit/rls_server.py), a Lambda stand-in;
  - Secrets the suite creates;
  - the cluster's DNS for a Backend's static host name
    (nginx.kgateway-base.svc): gwf and nginx run in a private mount
    namespace whose /etc/hosts names it (cluster_dns).

Deployments, Pods and ServiceAccounts in the manifests are not gwf's
business (it skips them with an info line). Every case then sends the
requests the kgateway e2e case sends and asserts what it asserts
(status codes, body substrings, headers; "eventually" and "eventually
consistently" as kgateway's assertions define them: a few tries, then
every one of a few more), through `gwf gateway render` and real nginx,
and asserts `gwf gateway status`: every kgateway object of the case
Accepted, every route whole (no rule failed closed, no unresolved
reference), or, for the cases kgateway itself refuses, Accepted False
with the field named. A case gwf cannot serve yet fails and says why.
"""

import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import echo_backend  # noqa: E402
from harness import (  # noqa: E402
    Env, Skip, Table, TestFailure, check, run_cases, to_yaml)

VECTORS = os.path.join(os.path.dirname(_HERE), "vectors", "kgateway-e2e")
RLS_SERVER = os.path.join(os.path.dirname(_HERE), "plugins", "rate_limit",
                          "rls_server.py")
KGW_CLASS = "kgateway"
GW_API = "gateway.networking.k8s.io/v1"

# The tokens of kgateway's jwt suite (test/e2e/features/jwt/suite.go),
# signed with the private half of the key in the manifests; claims
# iss https://dev.example.com, exp 4804324736, email dev1@ / dev2@.
BAD_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2Rldi5leGFtc"
    "GxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnR"
    "lcm5hbCIsImVtYWlsIjoiZGV2MkBrZ2F0ZXdheS5pbyIsImdyb3VwIjoiZW5naW5lZXJpb"
    "mciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9.pduAl6C0YofLSTUNcQuSd5dvrN-B8eE0pb"
    "OJJ9h5Fyh-k1HQQzSpZ47HJngclFmfcWk25qyJfLOnuVuA4PV6PwanPovL5YpdLlAbjHZP"
    "fDwsR1v8zUzb97yl-hbQzYCiA8coHO6rQE8hOYD59-DXkH6acuU8nVm3sv6VUA8zR5Xpx"
    "ZfJHJfRu8TZUFowk3FFrdh3nUSeeXLtm0YxN9uVEHKe3v_UEdMBUzri7wC1saKy7Ccpik"
    "pBwd7itPMpT87BL_f1LvJf7LUEChRC-sp2LYsyjT-rme4YufPp1vVi5dMSCpfmvB1XlgF"
    "KzmGBPKvDJPta1DNOmHqEmKmgOQBCmw")
DEV1_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2Rldi5leGFtc"
    "GxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnR"
    "lcm5hbCIsImVtYWlsIjoiZGV2MUBrZ2F0ZXdheS5pbyIsImdyb3VwIjoiZW5naW5lZXJpb"
    "mciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9.pqzk87Gny6mT8Gk7CVfkminm3u9CrNPhRt"
    "0oElwmfwZ7Jak1Ss4iOZ7MSZEgZFPxGiaz3DQyvos65dqbM_e4RaLYXb9fFYylaBl8kE8b"
    "hqMnXfPBNp9C4XTsSz4mR-eUvnkXXZ31dhMkoZvwIswWXR50wZ0rC6NF60Tye0sHJRdDcw"
    "L5778wDzLnualvtIiL-CbhWzXgRmjcrK3sbikLCHBjQiTEyBMPOVqS5NqJBgd7ZW1UASox"
    "uxjCLsN8tBIaAFSACf8FZggAh9vEUJ_uc39kvOKQ0vs0pxvoYtsMPcndBYhws6IUhx_iF_"
    "_qs_zz9mDNp8aMbXSlEdJG30wiRA")
DEV2_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2Rldi5leGFtc"
    "GxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnR"
    "lcm5hbCIsImVtYWlsIjoiZGV2MkBrZ2F0ZXdheS5pbyIsImdyb3VwIjoiZW5naW5lZXJpb"
    "mciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9.S0a_Lu2y0gaXBCnO3ydGJCnXt5R-QMxBvJ"
    "OjYOTzorcnUOcaOTMOd3fUBY8ojZR-f0xTEy6M6K1V0yKxeq6Mys9Le9SE6oabP6gttktn"
    "wL5c9e9rzMcmGz1NVyUBav2N8Yiuw7Va8gyIod02vJrllQteMfZSqoAUmDLmpFs3bvkIgM"
    "lWDtVAWPqoGJ4ZI-yf0WfTSmW-kFbaiIz4pQNm03Q9M_ZMiHyOTtCDZuc0pSQ0_uvjnqHr"
    "efBgJJkFEv58pVqZVJphEOAfl7CpWlT9dXiPVoMhy4RTezkfrjuCqvW7dDwGZGSUqLYDZs"
    "OJ8yeIdeW9LKMaGcPag1AbRCe4HQ")


# ---------------------------------------------------------------------------
# Manifests: the vectors as they are, plus the overlay
# ---------------------------------------------------------------------------

def vector(feature, name):
    with open(os.path.join(VECTORS, feature, name), "rb") as f:
        return f.read().decode("utf-8")


_DOC_SPLIT = re.compile(r"(?m)^---[ \t]*$")
_LISTENER_PORT = re.compile(r"(?m)^(\s*(?:-\s+)?port:\s*)(\d+)(\s*)$")


def map_gateway_ports(env, text):
    """text with the listener ports of its Gateway documents mapped to
    real loopback ports (env.port), everything else byte for byte; and
    the real ports. Other documents are untouched."""
    parts = _DOC_SPLIT.split(text)
    seps = _DOC_SPLIT.findall(text)
    ports = []
    for i, doc in enumerate(parts):
        if re.search(r"(?m)^kind:\s*Gateway\s*$", doc) and \
                "gateway.networking.k8s.io" in doc:
            def repl(m):
                real = env.port(int(m.group(2)))
                ports.append(real)
                return "%s%d%s" % (m.group(1), real, m.group(3))
            parts[i] = _LISTENER_PORT.sub(repl, doc)
    out = parts[0]
    for sep, doc in zip(seps, parts[1:]):
        out += sep + doc
    return out, ports


class KgwEnv(Env):
    """An Env with no conformance backends or Gateway: the case adds the
    vectors (add_vector), the overlay documents (overlay) and the
    stand-ins; `gwf gateway` serves the GatewayClass kgateway."""

    def __init__(self):
        super().__init__(backends=[], base_gateway=False)
        self.infra = []
        self.overlay_docs = []
        self.wait_ports = []
        self.gateway_classes = [KGW_CLASS]
        self.render_extra = ["--gateway-class", KGW_CLASS]
        self.helpers = []   # objects with .stop()
        self.wrap = None    # a command prefix for gwf and nginx

    def add_vector(self, feature, name):
        text, ports = map_gateway_ports(self, vector(feature, name))
        self.files["%s--%s" % (feature.replace("/", "-"), name)] = text
        self.wait_ports.extend(ports)

    def overlay(self, *docs):
        for d in docs:
            if isinstance(d, list):
                self.overlay_docs.extend(d)
            else:
                self.overlay_docs.append(d)

    def gateway(self, name, ns, port, from_="All"):
        """A Gateway the suite's setup creates (not in the testdata)."""
        self.overlay({"apiVersion": GW_API, "kind": "Gateway",
                      "metadata": {"name": name, "namespace": ns},
                      "spec": {"gatewayClassName": KGW_CLASS,
                               "listeners": [{
                                   "name": "http", "port": self.port(port),
                                   "protocol": "HTTP",
                                   "allowedRoutes": {"namespaces": {
                                       "from": from_}}}]}})
        self.wait_ports.append(self.port(port))

    def echo(self, name, ns):
        be = echo_backend.EchoBackend(name, ns).start()
        self.backends["%s/%s" % (ns, name)] = be
        return be

    def write(self):
        self.files["overlay.yaml"] = to_yaml(self.overlay_docs)
        texts = sorted(self.files.items())
        for name, text in texts:
            path = os.path.join(self.manifest_dir, name)
            with open(path, "w") as f:
                f.write(text)

    def gwf(self, *args, timeout=30.0):
        cmd = list(self.wrap or []) + [self.exe] + list(args)
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not finish in %.0fs" % (cmd, timeout))

    def nginx_cmd(self, *extra):
        return list(self.wrap or []) + super().nginx_cmd(*extra)

    def start(self, wait_ports=None):
        return super().start(wait_ports or sorted(set(self.wait_ports)))

    def cleanup(self, check_logs=True):
        for h in self.helpers:
            try:
                h.stop()
            except Exception:
                pass
        self.helpers = []
        return super().cleanup(check_logs)


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name}}


def service(name, ns, ports):
    """A Service the suite's setup deploys. ports: [(name, port,
    targetPort)]."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "ClusterIP", "selector": {"app": name},
                     "ports": [{"name": n, "protocol": "TCP", "port": p,
                                "targetPort": t} for n, p, t in ports]}}


def endpoint_slice(svc, ns, ports, address="127.0.0.1", app_protocol=None):
    """The EndpointSlice a cluster keeps for a Service whose pod listens
    on real ports. ports: [(port name, real port)]."""
    eports = []
    for n, p in ports:
        e = {"name": n, "protocol": "TCP", "port": p}
        if app_protocol:
            e["appProtocol"] = app_protocol
        eports.append(e)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": svc + "-e2e01", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": eports,
            "endpoints": [{"addresses": [address],
                           "conditions": {"ready": True, "serving": True,
                                          "terminating": False}}]}


# ---------------------------------------------------------------------------
# Expectations
# ---------------------------------------------------------------------------

def expect(resp, status, body_contains=None, body_lacks=None, headers=None):
    what = getattr(resp, "request", "?")
    check(resp.status == status, "%s: status %d, expected %d; body %r"
          % (what, resp.status, status, resp.body[:300]))
    text = resp.body.decode("utf-8", "replace")
    if body_contains is not None:
        check(body_contains in text, "%s: body %r does not contain %r"
              % (what, text[:300], body_contains))
    if body_lacks is not None:
        check(body_lacks not in text, "%s: body %r contains %r"
              % (what, text[:300], body_lacks))
    for name, want in (headers or {}).items():
        got = resp.header_all(name)
        ok = (got and got[0] in want) if isinstance(want, tuple) \
            else got == [want]
        check(ok, "%s: response %s is %r, expected %r"
              % (what, name, got, want))


def upstream_header(resp, name):
    """A request header as the echo backend received it (names compared
    without case, as HTTP does: kgateway's echo server prints them
    canonicalized, X-Ext-Authz-Check-Result), or None."""
    try:
        rec = json.loads(resp.body)
    except ValueError:
        raise TestFailure("%s: body is not the echo: %r"
                          % (getattr(resp, "request", "?"), resp.body[:200]))
    vals = [v for k, vs in rec.get("headers", {}).items()
            if k.lower() == name.lower() for v in vs]
    return ",".join(vals) if vals else None


def conditions_of(obj):
    """Every condition of a status object: its own, each ancestor's (a
    policy) and each parent's (a route)."""
    st = obj.get("status") or {}
    out = list(st.get("conditions") or [])
    for key in ("ancestors", "parents"):
        for a in st.get(key) or []:
            out.extend(a.get("conditions") or [])
    return out


def find(objs, kind, name, ns):
    for o in objs:
        m = o.get("metadata") or {}
        if o.get("kind") == kind and m.get("name") == name and \
                m.get("namespace", "default") == ns:
            return o
    raise TestFailure("gwf gateway status has no %s %s/%s; it has: %s"
                      % (kind, ns, name,
                         sorted("%s %s/%s" % (o.get("kind"),
                                              (o.get("metadata") or {}).get(
                                                  "namespace"),
                                              (o.get("metadata") or {}).get(
                                                  "name")) for o in objs)))


def expect_accepted(objs, kind, name, ns, accepted=True, field=None):
    """kind ns/name is Accepted (True), or not (False) with a message
    naming `field`."""
    obj = find(objs, kind, name, ns)
    conds = [c for c in conditions_of(obj) if c.get("type") == "Accepted"]
    check(conds, "%s %s/%s has no Accepted condition: %s"
          % (kind, ns, name, obj.get("status")))
    want = "True" if accepted else "False"
    bad = [c for c in conds if c.get("status") != want]
    check(not bad, "%s %s/%s: Accepted is not %s: %s"
          % (kind, ns, name, want, conds))
    if field is not None:
        msgs = " ".join(c.get("message") or "" for c in conds)
        check(field in msgs, "%s %s/%s: Accepted False but the message "
              "%r does not name %r" % (kind, ns, name, msgs, field))


def expect_route_whole(objs, kind, name, ns):
    """No rule of the route is left out or failed closed: no
    PartiallyInvalid True and ResolvedRefs not False."""
    obj = find(objs, kind, name, ns)
    for c in conditions_of(obj):
        if (c.get("type") == "PartiallyInvalid" and
                c.get("status") == "True") or \
                (c.get("type") == "ResolvedRefs" and
                 c.get("status") == "False"):
            raise TestFailure("%s %s/%s: %s %s: %s" % (
                kind, ns, name, c.get("type"), c.get("status"),
                c.get("message")))


def status_table(t, env, expected):
    """expected: [(kind, name, ns)] that must all be Accepted."""
    def run():
        objs = env.status()
        probs = []
        for kind, name, ns in expected:
            try:
                expect_accepted(objs, kind, name, ns)
                if kind in ("HTTPRoute", "GRPCRoute"):
                    expect_route_whole(objs, kind, name, ns)
            except TestFailure as e:
                probs.append(str(e))
        check(not probs, "status:\n    " + "\n    ".join(probs))
    t.run("gwf gateway status", run)


# ---------------------------------------------------------------------------
# JWT (test/e2e/features/jwt)
# ---------------------------------------------------------------------------

def jwt_env():
    """The jwt suite's setup: Gateway gw (default, port 8080) and httpbin
    (Service port 8000) - its setup.yaml is not part of the copied
    testdata."""
    env = KgwEnv()
    env.gateway("gw", "default", 8080)
    be = env.echo("httpbin", "default")
    env.overlay(service("httpbin", "default", [("http", 8000, 8080)]),
                endpoint_slice("httpbin", "default", [("http", be.port)]))
    return env


def jwt_get(env, path, token=None):
    hdrs = {"Authorization": "Bearer " + token} if token else None
    return env.request(path, host="httpbin", port=8080, headers=hdrs)


def jwt_authn_table(env, t):
    t.run("/status/200 without JWT: 200", lambda: expect(
        jwt_get(env, "/status/200"), 200))
    t.run("/get without JWT: 401 Jwt is missing", lambda: expect(
        jwt_get(env, "/get"), 401, "Jwt is missing"))
    t.run("/get with a JWT of another key: 401 Jwt verification fails",
          lambda: expect(jwt_get(env, "/get", BAD_JWT), 401,
                         "Jwt verification fails"))
    t.run("/get with dev1's JWT: 200", lambda: expect(
        jwt_get(env, "/get", DEV1_JWT), 200))


def jwt_rule_extension_ref_requires_a_token_on_that_rule():
    """TestJwtAuthentication (jwt.yaml)."""
    with jwt_env() as env:
        env.add_vector("jwt", "jwt.yaml")
        env.start()
        t = Table()
        jwt_authn_table(env, t)
        status_table(t, env, [
            ("HTTPRoute", "httpbin-route", "default"),
            ("TrafficPolicy", "jwt-policy", "default"),
            ("GatewayExtension", "basic-jwt-provider", "default")])
        t.done()


def jwt_route_target_requires_a_token_on_that_route():
    """TestJwtAuthenticationHTTPRoute (jwt-httproute.yaml)."""
    with jwt_env() as env:
        env.add_vector("jwt", "jwt-httproute.yaml")
        env.start()
        t = Table()
        jwt_authn_table(env, t)
        status_table(t, env, [
            ("HTTPRoute", "httpbin-route-get", "default"),
            ("HTTPRoute", "httpbin-route-status", "default"),
            ("TrafficPolicy", "jwt-policy", "default"),
            ("GatewayExtension", "basic-jwt-provider", "default")])
        t.done()


def jwt_claims_rbac_policy_allows_dev2_and_denies_dev1():
    """TestJwtAuthorization (jwt-rbac.yaml): a CEL rbac policy on the
    JWT payload (the rbac plugin, after jwt_auth in the chain). kgateway
    answers dev1 403 "RBAC: access denied" and dev2 200; without a token
    jwtAuth answers 401 first."""
    with jwt_env() as env:
        env.add_vector("jwt", "jwt-rbac.yaml")
        env.start()
        t = Table()
        t.run("/get with dev1's JWT: 403 RBAC: access denied",
              lambda: expect(jwt_get(env, "/get", DEV1_JWT), 403,
                             "RBAC: access denied"))
        t.run("/get with dev2's JWT: 200",
              lambda: expect(jwt_get(env, "/get", DEV2_JWT), 200))
        t.run("/get without JWT: 401 Jwt is missing", lambda: expect(
            jwt_get(env, "/get"), 401, "Jwt is missing"))
        t.run("/status/200 without JWT: 200 (no policy there)",
              lambda: expect(jwt_get(env, "/status/200"), 200))
        status_table(t, env, [
            ("HTTPRoute", "httpbin-route", "default"),
            ("TrafficPolicy", "jwt-rbac-policy", "default"),
            ("GatewayExtension", "basic-jwt-provider", "default")])
        t.done()


def jwt_disable_on_a_route_lifts_the_gateway_policy():
    """TestJwtDisable (jwt-disable.yaml)."""
    with jwt_env() as env:
        env.add_vector("jwt", "jwt-disable.yaml")
        env.start()
        t = Table()
        t.run("/get without JWT: 401 Jwt is missing", lambda: expect(
            jwt_get(env, "/get"), 401, "Jwt is missing"))
        t.run("/get with dev1's JWT: 200", lambda: expect(
            jwt_get(env, "/get", DEV1_JWT), 200))
        t.run("/status/200 (jwtAuth.disable) without JWT: 200",
              lambda: expect(jwt_get(env, "/status/200"), 200))
        status_table(t, env, [
            ("HTTPRoute", "httpbin-route-jwt", "default"),
            ("HTTPRoute", "httpbin-route-no-jwt", "default"),
            ("TrafficPolicy", "jwt-policy-gateway", "default"),
            ("TrafficPolicy", "jwt-policy-disabled", "default"),
            ("GatewayExtension", "basic-jwt-provider", "default")])
        t.done()


# ---------------------------------------------------------------------------
# Local rate limit (test/e2e/features/rate_limit/local)
# ---------------------------------------------------------------------------

def local_env(*files):
    """The local suite's setup on kgateway's base: service.yaml
    (simple-svc 8080 -> targetPort 3000) and the case's files."""
    env = base_env()
    env.add_vector("rate_limit/local", "service.yaml")
    for name in files:
        env.add_vector("rate_limit/local", name)
    be = env.echo("simple-svc", "kgateway-base")
    env.overlay(endpoint_slice("simple-svc", "kgateway-base",
                               [("http", be.port)]))
    return env


def local_get(env, path):
    return env.request(path, host="example.com", port=80)


EVENTUAL_TRIES = 5
CONSISTENT_TIMES = 3


def eventually(t, what, send, status):
    """kgateway's AssertEventualCurlResponse: the status within a few
    tries (the first one that matches ends it)."""
    def run():
        seen = []
        for _ in range(EVENTUAL_TRIES):
            r = send()
            seen.append(r.status)
            if r.status == status:
                return
            time.sleep(0.2)
        raise TestFailure("expected %d within %d tries, got %s"
                          % (status, EVENTUAL_TRIES, seen))
    t.run(what, run)


def eventually_consistently(t, what, send, status):
    """kgateway's AssertEventuallyConsistentCurlResponse: the status
    within a few tries, then on every one of the next few."""
    def run():
        seen = []
        for _ in range(EVENTUAL_TRIES):
            r = send()
            seen.append(r.status)
            if r.status == status:
                break
        else:
            raise TestFailure("expected %d within %d tries, got %s"
                              % (status, EVENTUAL_TRIES, seen))
        for _ in range(CONSISTENT_TIMES):
            r = send()
            seen.append(r.status)
            check(r.status == status, "expected %d consistently, got %s"
                  % (status, seen))
    t.run(what, run)


def local_status(t, env, routes, policies):
    status_table(t, env, [("HTTPRoute", r, "kgateway-base") for r in routes]
                 + [("TrafficPolicy", p, "kgateway-base") for p in policies])


def local_rate_limit_on_a_route_limits_only_that_route():
    """TestLocalRateLimitForRoute (httproutes.yaml,
    route-local-rate-limit.yaml: 1 token per 10 s on svc-route)."""
    with local_env("httproutes.yaml", "route-local-rate-limit.yaml") as env:
        env.start()
        t = Table()
        eventually(t, "/path1: 200", lambda: local_get(env, "/path1"), 200)
        eventually_consistently(t, "/path1 then: 429",
                                lambda: local_get(env, "/path1"), 429)
        eventually_consistently(t, "/path2: 200",
                                lambda: local_get(env, "/path2"), 200)
        local_status(t, env, ["svc-route", "svc-route-2"],
                     ["route-rl-policy"])
        t.done()


def local_rate_limit_on_the_gateway_limits_every_route():
    """TestLocalRateLimitForGateway (gw-local-rate-limit.yaml: 1 token per
    300 s on the Gateway)."""
    with local_env("httproutes.yaml", "gw-local-rate-limit.yaml") as env:
        env.start()
        t = Table()
        eventually(t, "/path1: 200", lambda: local_get(env, "/path1"), 200)
        eventually_consistently(t, "/path1 then: 429",
                                lambda: local_get(env, "/path1"), 429)
        eventually_consistently(t, "/path2: 429",
                                lambda: local_get(env, "/path2"), 429)
        local_status(t, env, ["svc-route", "svc-route-2"], ["gw-rl-policy"])
        t.done()


def local_rate_limit_on_the_route_overrides_the_gateways():
    """TestLocalRateLimitForGatewayAndRoute: the route's bucket (1 per
    10 s) replaces the Gateway's (1 per 300 s) on /path1."""
    with local_env("httproutes.yaml", "gw-local-rate-limit.yaml",
                   "route-local-rate-limit.yaml") as env:
        env.start()
        t = Table()
        eventually(t, "/path1: 200", lambda: local_get(env, "/path1"), 200)
        eventually_consistently(t, "/path1 then: 429",
                                lambda: local_get(env, "/path1"), 429)
        eventually_consistently(t, "/path2: 429",
                                lambda: local_get(env, "/path2"), 429)

        def refilled():
            deadline = time.monotonic() + 15
            seen = []
            while time.monotonic() < deadline:
                r = local_get(env, "/path1")
                seen.append(r.status)
                if r.status == 200:
                    return
                time.sleep(1)
            raise TestFailure("/path1 never answered 200 again within 15 s "
                              "(the route's bucket refills every 10 s): %s"
                              % seen)
        t.run("/path1 after the route's 10 s refill: 200", refilled)
        local_status(t, env, ["svc-route", "svc-route-2"],
                     ["gw-rl-policy", "route-rl-policy"])
        t.done()


def local_rate_limit_disabled_on_a_route_lifts_the_gateways():
    """TestLocalRateLimitDisabledForRoute
    (route-local-rate-limit-disabled.yaml: rateLimit.local: {})."""
    with local_env("httproutes.yaml", "gw-local-rate-limit.yaml",
                   "route-local-rate-limit-disabled.yaml") as env:
        env.start()
        t = Table()
        eventually(t, "/path1: 200", lambda: local_get(env, "/path1"), 200)
        eventually_consistently(t, "/path1 then: still 200",
                                lambda: local_get(env, "/path1"), 200)
        eventually_consistently(t, "/path2: 429",
                                lambda: local_get(env, "/path2"), 429)
        local_status(t, env, ["svc-route", "svc-route-2"],
                     ["gw-rl-policy", "route-rl-policy"])
        t.done()


def local_rate_limit_extension_ref_limits_only_its_rule():
    """TestLocalRateLimitForRouteUsingExtensionRef (extensionref-rl.yaml:
    1 token per 30 s on the /path2 rule)."""
    with local_env("extensionref-rl.yaml") as env:
        env.start()
        t = Table()
        eventually(t, "/path2: 200", lambda: local_get(env, "/path2"), 200)
        eventually_consistently(t, "/path2 then: 429",
                                lambda: local_get(env, "/path2"), 429)
        eventually_consistently(t, "/path1: 200",
                                lambda: local_get(env, "/path1"), 200)
        local_status(t, env, ["svc-route"], ["route-rl-policy"])
        t.done()


# ---------------------------------------------------------------------------
# Global rate limit (test/e2e/features/rate_limit/global)
# ---------------------------------------------------------------------------

class RlsServer:
    """tests/plugins/rate_limit/rls_server.py with the config the
    manifest's ConfigMap ratelimit-config holds (config.yaml)."""

    def __init__(self, directory, config_text):
        if not os.path.exists(RLS_SERVER):
            raise TestFailure("%s does not exist" % RLS_SERVER)
        self.config = os.path.join(directory, "ratelimit-config.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", RLS_SERVER, self.config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) < 2 or line[0] != "PORT":
            self.stop()
            raise TestFailure("rls_server.py did not start: %r %s"
                              % (line, self.proc.stderr.read()[-2000:]))
        self.port = int(line[1])

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def configmap_data(text, name, key):
    """data[key] of ConfigMap `name` in a manifest file."""
    import yaml
    for doc in yaml.safe_load_all(text):
        if doc and doc.get("kind") == "ConfigMap" and \
                doc["metadata"]["name"] == name:
            return doc["data"][key]
    raise TestFailure("no ConfigMap %s in the manifest" % name)


def global_env(case_file):
    env = KgwEnv()
    try:
        for name in ("common.yaml", "service.yaml", "rate-limit-server.yaml",
                     "routes.yaml", case_file):
            env.add_vector("rate_limit/global", name)
        be = env.echo("backend-0", "default")
        rls = RlsServer(env.dir, configmap_data(
            vector("rate_limit/global", "rate-limit-server.yaml"),
            "ratelimit-config", "config.yaml"))
        env.helpers.append(rls)
        env.overlay(
            endpoint_slice("backend-0", "default", [("http", be.port)]),
            endpoint_slice("ratelimit", "kgateway-test-extensions",
                           [("grpc", rls.port)],
                           app_protocol="kubernetes.io/h2c"))
    except BaseException:
        env.cleanup(check_logs=False)
        raise
    return env


def away_from_the_minute():
    """envoyproxy/ratelimit counts per minute in windows aligned to :00;
    kgateway's suite keeps its burst short for that reason. Start the
    burst at least 8 s before the next window."""
    s = time.time() % 60
    if s > 50:
        time.sleep(61 - s)


def global_get(env, path, user=None):
    return env.request(path, host="example.com", port=8080,
                       headers={"X-User-ID": user} if user else None)


def global_status(t, env, policy):
    status_table(t, env, [
        ("HTTPListenerPolicy", "accesslog", "default"),
        ("HTTPRoute", "test-route-1", "default"),
        ("HTTPRoute", "test-route-2", "default"),
        ("TrafficPolicy", policy, "default"),
        ("GatewayExtension", "global-ratelimit",
         "kgateway-test-extensions")])


def global_rate_limit_by_remote_address_limits_both_routes():
    """TestGlobalRateLimitByRemoteAddress (ip-rate-limit.yaml)."""
    with global_env("ip-rate-limit.yaml") as env:
        env.start()
        away_from_the_minute()
        t = Table()
        t.run("/path1 first: 200", lambda: expect(
            global_get(env, "/path1"), 200))
        for i in range(3):
            t.run("/path1 again #%d: 429" % (i + 1), lambda: expect(
                global_get(env, "/path1"), 429))
        for i in range(3):
            t.run("/path2 #%d (same client): 429" % (i + 1),
                  lambda: expect(global_get(env, "/path2"), 429))
        global_status(t, env, "ip-rate-limit")
        t.done()


def global_rate_limit_by_path_limits_each_path_alone():
    """TestGlobalRateLimitByPath (path-rate-limit.yaml)."""
    with global_env("path-rate-limit.yaml") as env:
        env.start()
        away_from_the_minute()
        t = Table()
        t.run("/path1 first: 200", lambda: expect(
            global_get(env, "/path1"), 200))
        for i in range(3):
            t.run("/path1 again #%d: 429" % (i + 1), lambda: expect(
                global_get(env, "/path1"), 429))
        for i in range(3):
            t.run("/path2 #%d (not targeted): 200" % (i + 1),
                  lambda: expect(global_get(env, "/path2"), 200))
        global_status(t, env, "path-rate-limit")
        t.done()


def global_rate_limit_by_user_header_limits_each_user():
    """TestGlobalRateLimitByUserID (user-rate-limit.yaml)."""
    with global_env("user-rate-limit.yaml") as env:
        env.start()
        away_from_the_minute()
        t = Table()
        t.run("/path1 user1 first: 200", lambda: expect(
            global_get(env, "/path1", "user1"), 200))
        for i in range(3):
            t.run("/path1 user1 again #%d: 429" % (i + 1), lambda: expect(
                global_get(env, "/path1", "user1"), 429))
        t.run("/path1 user2: 200", lambda: expect(
            global_get(env, "/path1", "user2"), 200))
        global_status(t, env, "user-rate-limit")
        t.done()


def combined_local_and_global_rate_limit_limits_the_route():
    """TestCombinedLocalAndGlobalRateLimit (combined-rate-limit.yaml):
    local 3 tokens per 30 s and the global generic descriptor
    service=premium-api (1 per minute)."""
    with global_env("combined-rate-limit.yaml") as env:
        env.start()
        away_from_the_minute()
        t = Table()
        t.run("/path1 first: 200", lambda: expect(
            global_get(env, "/path1"), 200))
        for i in range(3):
            t.run("/path1 again #%d: 429" % (i + 1), lambda: expect(
                global_get(env, "/path1"), 429))
        global_status(t, env, "combined-rate-limit")
        t.done()


# ---------------------------------------------------------------------------
# The kgateway-base Gateway (test/e2e/tests/manifests)
# ---------------------------------------------------------------------------

def base_env():
    """kgateway's base setup (test/e2e/tests/manifests/kgateway-base.yaml,
    copied): namespace kgateway-base, Gateway `gateway` (HTTP 80, routes
    from all namespaces), Service `backend` and its Deployment."""
    env = KgwEnv()
    env.add_vector("base", "kgateway-base.yaml")
    return env


# ---------------------------------------------------------------------------
# DirectResponse (test/e2e/features/directresponse)
# ---------------------------------------------------------------------------

def httpbin_env():
    """The directresponse suite's setup (its setup.yaml is not part of
    the copied testdata): namespace httpbin and Service httpbin:8000,
    on kgateway's base."""
    env = base_env()
    be = env.echo("httpbin", "httpbin")
    env.overlay(namespace("httpbin"),
                service("httpbin", "httpbin", [("http", 8000, 8080)]),
                endpoint_slice("httpbin", "httpbin", [("http", be.port)]))
    return env


def direct_response_answers_robots_txt():
    """TestBasicDirectResponse (basic-direct-response.yaml)."""
    with httpbin_env() as env:
        env.add_vector("directresponse", "basic-direct-response.yaml")
        env.start()
        t = Table()
        t.run("/robots.txt: 200 Disallow: /custom", lambda: expect(
            env.request("/robots.txt", host="www.example.com", port=80),
            200, "Disallow: /custom"))
        status_table(t, env, [
            ("HTTPRoute", "httpbin", "httpbin"),
            ("DirectResponse", "robots-txt", "httpbin")])
        t.done()


def direct_responses_of_a_parent_and_a_delegated_child_route():
    """TestDelegation (basic-delegation-direct-response.yaml): a parent
    route delegating `/` to the HTTPRoutes of namespace httpbin, each
    with a DirectResponse."""
    with httpbin_env() as env:
        env.add_vector("directresponse",
                       "basic-delegation-direct-response.yaml")
        env.start()
        t = Table()

        def get(path):
            return env.request(path, host="www.example.com", port=80)
        t.run("/headers: 200 from httpbin (the child's backend)",
              lambda: expect(get("/headers"), 200, '"headers"'))
        t.run("/parent: 302 Hello from parent", lambda: expect(
            get("/parent"), 302, "Hello from parent"))
        t.run("/child: 302 Hello from child", lambda: expect(
            get("/child"), 302, "Hello from child"))
        status_table(t, env, [
            ("HTTPRoute", "gateway", "kgateway-base"),
            ("HTTPRoute", "httpbin", "httpbin"),
            ("DirectResponse", "parent-dr", "kgateway-base"),
            ("DirectResponse", "child-dr", "httpbin")])
        t.done()


def direct_response_body_format_json_answers_the_request_path():
    """TestBodyFormatJSON (body-format-json.yaml): bodyFormat.json
    {path: %REQ(:path)%}. kgateway's test expects Content-Type
    text/plain and notes that application/json is right once Envoy's fix
    is released: either passes here."""
    with httpbin_env() as env:
        env.add_vector("directresponse", "body-format-json.yaml")
        env.start()
        t = Table()

        def data_json():
            r = env.request("/data.json", host="www.example.com", port=80)
            expect(r, 200, None, headers={"Content-Type": (
                "text/plain", "application/json")})
            try:
                body = json.loads(r.body)
            except ValueError:
                raise TestFailure("/data.json: body %r is not JSON" % r.body)
            check(body == {"path": "/data.json"},
                  "/data.json: body %r, expected {\"path\":\"/data.json\"}"
                  % body)
        t.run("/data.json: 200 {\"path\":\"/data.json\"}", data_json)
        t.run("/headers: httpbin", lambda: expect(
            env.request("/headers", host="www.example.com", port=80), 200,
            '"backend": "httpbin"'))
        status_table(t, env, [
            ("HTTPRoute", "httpbin", "httpbin"),
            ("DirectResponse", "data-json", "httpbin")])
        t.done()


# ---------------------------------------------------------------------------
# Backends (test/e2e/features/backends)
# ---------------------------------------------------------------------------

class NginxStandIn:
    """What the suite's nginx Pod answers: nginx's default page, on
    ADDRESS:8080 (the static Backend names port 8080 of a host name)."""

    PAGE = (b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!"
            b"</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n"
            b"</body>\n</html>\n")

    def __init__(self, address):
        page = self.PAGE

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *a):
                pass
        self.server = http.server.ThreadingHTTPServer((address, 8080), H)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def cluster_dns(env, names):
    """Resolve `names` to a loopback address of their own for gwf and
    nginx, as the cluster's DNS would: /etc/hosts plus those names,
    bind-mounted over /etc/hosts in a private mount namespace that only
    the gwf and nginx commands run in. The address."""
    if os.geteuid() != 0:
        raise Skip("needs root for a private mount namespace (unshare -m)")
    addr = "127.%d.%d.%d" % (77, os.getpid() % 250 + 1,
                             int(time.time()) % 250 + 1)
    hosts = os.path.join(env.dir, "hosts")
    with open("/etc/hosts") as f:
        base = f.read()
    with open(hosts, "w") as f:
        f.write(base + "\n%s %s\n" % (addr, " ".join(names)))
    env.wrap = ["unshare", "-m", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', hosts]
    return addr


def static_backend_serves_its_host_name():
    """TestConfigureBackingDestinationsWithUpstream (base.yaml,
    backend.yaml): a Backend static host nginx.kgateway-base.svc:8080."""
    with base_env() as env:
        env.add_vector("backends", "base.yaml")
        env.add_vector("backends", "backend.yaml")
        addr = cluster_dns(env, ["nginx.kgateway-base.svc"])
        try:
            env.helpers.append(NginxStandIn(addr))
        except OSError as e:
            raise TestFailure("cannot listen on %s:8080: %s" % (addr, e))
        env.start()
        t = Table()
        t.run("example.com /: 200 nginx", lambda: expect(
            env.request("/", host="example.com", port=80), 200,
            "Welcome to nginx!"))
        status_table(t, env, [
            ("HTTPRoute", "example-route", "kgateway-base"),
            ("Backend", "nginx-static", "kgateway-base")])
        t.done()


def backend_with_a_missing_secret_is_not_accepted():
    """TestBackendWithRuntimeError (backend-error.yaml, then
    backend-update-error.yaml): an aws Backend whose auth Secret is
    missing, then holds no access_key/secret_key, is Accepted False
    naming the Secret; its route fails closed."""
    with base_env() as env:
        env.add_vector("backends", "backend-error.yaml")
        env.start()
        t = Table()
        t.run("www.example.com /: 500", lambda: expect(
            env.request("/", host="www.example.com", port=80), 500))
        t.run("status: Backend Accepted False naming the Secret",
              lambda: expect_accepted(
                  env.status(), "Backend", "example-aws-backend",
                  "kgateway-base", False, "lambda-secret"))

        def after_update():
            env.add_vector("backends", "backend-update-error.yaml")
            expect_accepted(env.status(), "Backend", "example-aws-backend",
                            "kgateway-base", False, "accessKey")
        t.run("status with a Secret without accessKey/secretKey: Accepted "
              "False naming accessKey", after_update)
        t.done()


# ---------------------------------------------------------------------------
# ExtAuth (test/e2e/features/extauth)
# ---------------------------------------------------------------------------

def ext_auth_percentage_enabled_0_skips_and_100_checks_every_request():
    """TestPercentageEnabledExtAuthPolicy (percentage-enabled.yaml):
    never-extauth (percentageEnabled 0) and always-extauth (100) on
    ext-authz:4444, the server kgateway's suite runs."""
    import kgw_authz_server
    with base_env() as env:
        env.add_vector("extauth", "common.yaml")
        env.add_vector("extauth", "percentage-enabled.yaml")
        be = env.echo("backend", "kgateway-base")
        authz = kgw_authz_server.AuthzServer().start()
        env.helpers.append(authz)
        env.overlay(
            endpoint_slice("backend", "kgateway-base", [("http", be.port)]),
            service("ext-authz", "kgateway-base", [("grpc", 4444, 9000)]),
            endpoint_slice("ext-authz", "kgateway-base",
                           [("grpc", authz.port)],
                           app_protocol="kubernetes.io/h2c"))
        env.start()

        def get(host, value):
            return env.request("/", host=host, port=80,
                               headers={"x-ext-authz": value})
        t = Table()

        def never():
            before = len(authz.checks)
            r = get("neverauthed.com", "deny")
            expect(r, 200)
            check(upstream_header(r, "X-Ext-Authz-Check-Result") is None,
                  "neverauthed.com: the backend saw %r"
                  % upstream_header(r, "X-Ext-Authz-Check-Result"))
            check(len(authz.checks) == before,
                  "percentageEnabled 0 asked the auth service %d times"
                  % (len(authz.checks) - before))
        t.run("neverauthed.com deny: 200, not checked", never)

        def always():
            r = get("alwaysauthed.com", "allow")
            expect(r, 200)
            got = upstream_header(r, "X-Ext-Authz-Check-Result")
            check(got == "allowed", "alwaysauthed.com: the backend saw "
                  "X-Ext-Authz-Check-Result %r, expected 'allowed'" % got)
        t.run("alwaysauthed.com allow: 200 with the check result", always)
        t.run("alwaysauthed.com deny: 403", lambda: expect(
            get("alwaysauthed.com", "deny"), 403))
        status_table(t, env, [
            ("HTTPListenerPolicy", "accesslog", "kgateway-base"),
            ("HTTPRoute", "route-example-never-authed", "kgateway-base"),
            ("HTTPRoute", "route-example-always-authed", "kgateway-base"),
            ("TrafficPolicy", "never-authed-route-policy", "kgateway-base"),
            ("TrafficPolicy", "always-authed-route-policy",
             "kgateway-base"),
            ("GatewayExtension", "never-extauth", "kgateway-base"),
            ("GatewayExtension", "always-extauth", "kgateway-base")])
        t.done()


# ---------------------------------------------------------------------------
# Lambda (test/e2e/features/lambda)
# ---------------------------------------------------------------------------

class LambdaStandIn:
    """What localstack answers for kgateway's hello-function over plain
    HTTP. Invoke (POST /2015-03-31/functions/NAME[:QUALIFIER]/
    invocations, SigV4-signed) runs what the suite's function does:
    {"statusCode": 200, "body": JSON of {"message": "Hello from Lambda
    <qualifier or NAME>", "input": <the event it got>}}; with
    X-Amz-Invocation-Type: Event, 202 and no body. Anything unsigned or
    elsewhere: 403. Requests are recorded (.requests)."""

    def __init__(self):
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def _answer(self, status, body=b"", ctype=None):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append({"path": self.path,
                                       "headers": dict(self.headers),
                                       "body": body})
                m = re.match(r"^/2015-03-31/functions/([^/:]+)(?::([^/]+))?"
                             r"/invocations$", self.path.split("?")[0])
                signed = (self.headers.get("Authorization") or "") \
                    .startswith("AWS4-HMAC-SHA256 ")
                if not m or not signed:
                    return self._answer(403)
                if self.headers.get("X-Amz-Invocation-Type") == "Event":
                    return self._answer(202)
                try:
                    event = json.loads(body) if body else None
                except ValueError:
                    event = body.decode("utf-8", "replace")
                alias = urllib.parse.unquote(m.group(2) or m.group(1))
                out = json.dumps({"statusCode": 200, "body": json.dumps(
                    {"message": "Hello from Lambda %s" % alias,
                     "input": event})}).encode()
                self._answer(200, out, "application/json")

            def log_message(self, *a):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def lambda_env(name):
    """The lambda suite's setup (not in the copied testdata): namespace
    lambda-test, Gateway lambda-gateway on 8080, Secret aws-creds; and,
    as the suite does before applying, the endpointURL placeholder
    http://172.18.0.2:31566 replaced by the stand-in's address."""
    env = KgwEnv()
    fn = LambdaStandIn()
    env.helpers.append(fn)
    env.overlay(namespace("lambda-test"))
    env.gateway("lambda-gateway", "lambda-test", 8080, from_="Same")
    env.overlay({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                 "metadata": {"name": "aws-creds",
                              "namespace": "lambda-test"},
                 "data": {k: base64.b64encode(v).decode() for k, v in (
                     ("accessKey", b"AKIDEXAMPLE"),
                     ("secretKey", b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE")
                 )}})
    text = vector("lambda", name).replace(
        "http://172.18.0.2:31566", "http://127.0.0.1:%d" % fn.port)
    env.files["lambda--" + name] = text
    return env, fn


def lambda_backend_invokes_the_function_with_and_without_payload_transform():
    """TestLambdaBackendRouting (lambda-backend.yaml, today's schema):
    /lambda answers the function's body; /lambda/no-payload-transform
    (payloadTransformMode None) with body {} answers the function's raw
    answer, without Envoy's request fields."""
    env, fn = lambda_env("lambda-backend.yaml")
    with env:
        env.start()
        t = Table()
        t.run("/lambda: 200 Hello from Lambda", lambda: expect(
            env.request("/lambda", host="www.example.com", port=8080), 200,
            "Hello from Lambda"))

        def raw():
            r = env.request("/lambda/no-payload-transform",
                            host="www.example.com", port=8080,
                            method="POST", body=b"{}")
            expect(r, 200, "Hello from Lambda")
            for word in ("raw_path", "method", "headers",
                         "query_string_parameters", "is_base64_encoded"):
                expect(r, 200, None, word)
        t.run("/lambda/no-payload-transform {}: 200, no Envoy fields", raw)
        status_table(t, env, [
            ("HTTPRoute", "lambda-route", "lambda-test"),
            ("Backend", "lambda-backend", "lambda-test"),
            ("Backend", "lambda-without-payload-transform", "lambda-test")])
        t.done()


def lambda_retired_schema_case(name):
    """kgateway's lambda testdata as the index holds it
    (test/kubernetes/e2e/features/lambda, before the move to test/e2e)
    writes `type: aws` and `auth: {secret: ...}`: today's Backend CRD
    refuses both (type is an enum AWS|Static|..., auth.type is required
    and the Secret is auth.secretRef), so kgateway would never store
    this Backend and its route has no backend. gwf must refuse it too,
    by name, and fail the route closed - never invoke the function with
    a half-read config."""
    env, fn = lambda_env(name)
    with env:
        env.start()
        t = Table()

        def refused():
            expect(env.request("/lambda", host="www.example.com",
                               port=8080), 500)
            check(not fn.requests, "the Lambda stand-in was called: %s"
                  % fn.requests)
        t.run("/lambda: 500, the function is not called", refused)
        t.run("status: Backend Accepted False naming spec.type",
              lambda: expect_accepted(env.status(), "Backend",
                                      "lambda-backend", "lambda-test",
                                      False, "spec.type"))
        t.done()


def lambda_async_backend_of_the_retired_schema_is_refused_by_name():
    """lambda-async.yaml (TestLambdaBackendAsyncRouting's manifest)."""
    lambda_retired_schema_case("lambda-async.yaml")


CASES = {f.__name__: f for f in [
    jwt_rule_extension_ref_requires_a_token_on_that_rule,
    jwt_route_target_requires_a_token_on_that_route,
    jwt_claims_rbac_policy_allows_dev2_and_denies_dev1,
    jwt_disable_on_a_route_lifts_the_gateway_policy,
    local_rate_limit_on_a_route_limits_only_that_route,
    local_rate_limit_on_the_gateway_limits_every_route,
    local_rate_limit_on_the_route_overrides_the_gateways,
    local_rate_limit_disabled_on_a_route_lifts_the_gateways,
    local_rate_limit_extension_ref_limits_only_its_rule,
    global_rate_limit_by_remote_address_limits_both_routes,
    global_rate_limit_by_path_limits_each_path_alone,
    global_rate_limit_by_user_header_limits_each_user,
    combined_local_and_global_rate_limit_limits_the_route,
    direct_response_answers_robots_txt,
    direct_responses_of_a_parent_and_a_delegated_child_route,
    direct_response_body_format_json_answers_the_request_path,
    static_backend_serves_its_host_name,
    backend_with_a_missing_secret_is_not_accepted,
    ext_auth_percentage_enabled_0_skips_and_100_checks_every_request,
    lambda_backend_invokes_the_function_with_and_without_payload_transform,
    lambda_async_backend_of_the_retired_schema_is_refused_by_name,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
