#!/usr/bin/python3
"""test_policies.py - kgateway's TrafficPolicy and DirectResponse on what
gwf serves, through `gwf gateway render` and real nginx.

    /usr/bin/python3 test_policies.py [CASE]

Each case writes Gateway API and kgateway manifests, renders them, starts
nginx with the module and the plugins (GWF_PLUGIN_DIRS) and checks what
clients get: attachment at every level (Gateway, listener, HTTPRoute, rule,
GRPCRoute, targetSelectors, ExtensionRef), kgateway's merging (the more
specific policy wins each field, the older wins among equals, a parent's
inherited-policy-priority annotation turns that around), `disable`, and
the fail-closed rule: a policy gwf cannot honour makes the routes it
reaches answer 500 and says why in `gwf gateway status`, while the rest of
the Gateway keeps serving.

The local rate limit (a token bucket in each worker, refilled once in 100
s here) is the policy most cases use as their witness: N requests pass,
the next is 429, so which policy won is visible in the count.
"""

import base64
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    NS, Env, Table, backend_ref, check, expect_backend, expect_condition,
    expect_status, find_object, gateway, listener, parent, prefix, route,
    rule, run_cases)

V1 = "infra-backend-v1"
KGW = "gateway.kgateway.dev/v1alpha1"
GW = "same-namespace"


def policy(name, spec, targets=None, selectors=None, created=None,
           ns=NS):
    meta = {"name": name, "namespace": ns}
    if created:
        meta["creationTimestamp"] = created
    spec = dict(spec)
    if targets is not None:
        spec["targetRefs"] = targets
    if selectors is not None:
        spec["targetSelectors"] = selectors
    return {"apiVersion": KGW, "kind": "TrafficPolicy", "metadata": meta,
            "spec": spec}


def target(kind, name, section=None):
    t = {"group": "gateway.networking.k8s.io", "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def local_limit(tokens):
    return {"rateLimit": {"local": {"tokenBucket": {
        "maxTokens": tokens, "tokensPerFill": 1, "fillInterval": "100s"}}}}


def passes(env, path, **kw):
    """How many requests to `path` pass before the first 429 (at most
    8; 8 means no limit was seen)."""
    for i in range(8):
        r = env.request(path, **kw)
        if r.status == 429:
            return i
        check(r.status == 200, "%s: status %d before any 429" % (path,
                                                                  r.status))
    return 8


def expect_passes(env, path, n, **kw):
    got = passes(env, path, **kw)
    check(got == n, "%s: %d requests passed before 429, expected %d"
          % (path, got, n))


def two_rules(name="r"):
    return route(name, [
        rule([prefix("/a")], [backend_ref(V1)], name="a"),
        rule([prefix("/b")], [backend_ref(V1)], name="b")])


def extension_ref(kind, name):
    return {"type": "ExtensionRef",
            "extensionRef": {"group": "gateway.kgateway.dev", "kind": kind,
                             "name": name}}


def accepted(env, kind, name):
    obj = find_object(env.status(), kind, name)
    check(obj is not None, "no status for %s %s" % (kind, name))
    return obj["status"]["conditions"]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- Attachment -------------------------------------------------------------


def gateway_policy_reaches_every_route():
    """kgateway's e2e TestLocalRateLimitForGateway: one bucket for the
    whole Gateway, so once /a spent it, every route is limited."""
    with Env() as env:
        env.add(policy("gw", local_limit(2), [target("Gateway", GW)]))
        env.add(two_rules(), route("other", [rule([prefix("/o")],
                                                  [backend_ref(V1)])]))
        env.start()
        expect_passes(env, "/a", 2)
        expect_passes(env, "/b", 0)
        expect_passes(env, "/o", 0)


def listener_policy_reaches_only_that_listener():
    with Env(base_gateway=False) as env:
        env.add(gateway(GW, [listener("one", 80), listener("two", 8080)]))
        env.add(policy("l", local_limit(1), [target("Gateway", GW, "two")]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_passes(env, "/", 8, port=80)
        expect_passes(env, "/", 1, port=8080)


def route_policy_reaches_each_of_its_rules_and_no_other_route():
    """One policy is one bucket, wherever it attaches: the route's two
    rules share it; another route is not limited."""
    with Env() as env:
        env.add(policy("p", local_limit(1), [target("HTTPRoute", "r")]))
        env.add(two_rules(), route("other", [rule([prefix("/o")],
                                                  [backend_ref(V1)])]))
        env.start()
        expect_passes(env, "/b", 1)
        expect_passes(env, "/a", 0)
        expect_passes(env, "/o", 8)


def section_name_reaches_the_named_rule_only():
    with Env() as env:
        env.add(policy("p", local_limit(1), [target("HTTPRoute", "r", "b")]))
        env.add(two_rules())
        env.start()
        expect_passes(env, "/a", 8)
        expect_passes(env, "/b", 1)


def target_selector_reaches_routes_by_label():
    with Env() as env:
        env.add(policy("p", local_limit(1), selectors=[
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
             "matchLabels": {"tier": "public"}}]))
        labelled = route("pub", [rule([prefix("/pub")], [backend_ref(V1)])])
        labelled["metadata"]["labels"] = {"tier": "public"}
        env.add(labelled, route("priv", [rule([prefix("/priv")],
                                              [backend_ref(V1)])]))
        env.start()
        expect_passes(env, "/pub", 1)
        expect_passes(env, "/priv", 8)


def grpc_route_policy_limits_its_calls():
    env = Env(backends=[])
    try:
        env.add_grpc_backend("grpc-echo")
    except BaseException:
        env.cleanup(check_logs=False)
        raise
    with env:
        env.add(policy("p", local_limit(2), [target("GRPCRoute", "g")]))
        env.add(route("g", [{"backendRefs": [
            {"name": "grpc-echo", "port": 8080}]}], kind="GRPCRoute"))
        env.start()
        method = "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo"
        codes = [env.grpc_call(method)[1] for _ in range(3)]
        check(codes[0] is None and codes[1] is None,
              "the first two calls should pass: %r" % codes)
        check(codes[2] is not None,
              "the third call should be refused by the limit: %r" % codes)


# -- ExtensionRef -----------------------------------------------------------


def extension_ref_direct_response_answers_in_place_of_backends():
    with Env() as env:
        env.add({"apiVersion": KGW, "kind": "DirectResponse",
                 "metadata": {"name": "teapot", "namespace": NS},
                 "spec": {"status": 418, "body": "short and stout"}})
        env.add(route("r", [
            rule([prefix("/tea")], filters=[
                extension_ref("DirectResponse", "teapot")]),
            rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        r = env.request("/tea")
        expect_status(r, 418)
        check(r.body == b"short and stout", "body %r" % r.body)
        expect_backend(env.request("/x"), V1)
        expect_condition(accepted(env, "DirectResponse", "teapot"),
                         "Accepted", True, "Accepted", "teapot")


def extension_ref_policy_outranks_target_refs():
    with Env() as env:
        env.add(policy("by-ref", local_limit(3), [target("HTTPRoute", "r",
                                                         "a")],
                       created="2020-01-01T00:00:00Z"))
        env.add(policy("by-filter", local_limit(1),
                       created="2025-01-01T00:00:00Z"))
        env.add(route("r", [rule([prefix("/a")], [backend_ref(V1)], name="a",
                                 filters=[extension_ref("TrafficPolicy",
                                                        "by-filter")])]))
        env.start()
        expect_passes(env, "/a", 1)


# -- Merging ----------------------------------------------------------------


def route_field_overrides_the_gateways_and_the_rest_is_kept():
    """The Gateway limits at 1 and sets a global limit field gwf checks;
    the route's own local limit of 3 wins its field only."""
    with Env() as env:
        env.add(policy("gw", local_limit(1), [target("Gateway", GW)]))
        env.add(policy("rt", local_limit(3), [target("HTTPRoute", "r")]))
        env.add(two_rules(), route("other", [rule([prefix("/o")],
                                                  [backend_ref(V1)])]))
        env.start()
        expect_passes(env, "/a", 3)
        expect_passes(env, "/o", 1)


def older_policy_wins_among_policies_of_one_level():
    with Env() as env:
        env.add(policy("young", local_limit(4), [target("HTTPRoute", "r")],
                       created="2025-06-01T00:00:00Z"))
        env.add(policy("old", local_limit(2), [target("HTTPRoute", "r")],
                       created="2021-06-01T00:00:00Z"))
        env.add(two_rules())
        env.start()
        expect_passes(env, "/a", 2)


def gateway_annotated_prefer_parent_overrides_routes():
    with Env(base_gateway=False) as env:
        gw = gateway(GW, [listener("http", 80)])
        gw["metadata"]["annotations"] = {
            "kgateway.dev/inherited-policy-priority":
                "ShallowMergePreferParent"}
        env.add(gw)
        env.add(policy("gw", local_limit(1), [target("Gateway", GW)]))
        env.add(policy("rt", local_limit(3), [target("HTTPRoute", "r")]))
        env.add(two_rules())
        env.start()
        expect_passes(env, "/a", 1)


def empty_local_limit_switches_off_the_gateways():
    with Env() as env:
        env.add(policy("gw", local_limit(1), [target("Gateway", GW)]))
        env.add(policy("off", {"rateLimit": {"local": {}}},
                       [target("HTTPRoute", "r", "b")]))
        env.add(two_rules())
        env.start()
        expect_passes(env, "/a", 1)
        expect_passes(env, "/b", 8)


def ext_auth_disable_switches_off_the_gateways_check():
    """The Gateway's ext-authz points at a server that is down, so every
    check fails (statusOnError 503); the route that disables it serves."""
    with Env() as env:
        port = closed_port()
        env.add({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "authz", "namespace": NS},
                 "spec": {"ports": [{"name": "http", "port": 80}]}},
                {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": "authz-1", "namespace": NS, "labels": {
                     "kubernetes.io/service-name": "authz"}},
                 "addressType": "IPv4",
                 "ports": [{"name": "http", "port": port}],
                 "endpoints": [{"addresses": ["127.0.0.1"]}]})
        env.add({"apiVersion": KGW, "kind": "GatewayExtension",
                 "metadata": {"name": "authz", "namespace": NS},
                 "spec": {"extAuth": {
                     "httpService": {"backendRef": {"name": "authz",
                                                    "port": 80}},
                     "statusOnError": 503}}})
        env.add(policy("gw", {"extAuth": {"extensionRef": {"name": "authz"}}},
                       [target("Gateway", GW)]))
        env.add(policy("off", {"extAuth": {"disable": {}}},
                       [target("HTTPRoute", "r", "b")]))
        env.add(two_rules())
        env.start()
        expect_status(env.request("/a"), 503)
        expect_backend(env.request("/b"), V1)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rsa_jwks_and_token():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()

    def num(n):
        return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    jwks = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256",
                      "n": num(pub.n), "e": num(pub.e)}]}
    head = _b64(json.dumps({"alg": "RS256", "kid": "k1",
                            "typ": "JWT"}).encode())
    body = _b64(json.dumps({"iss": "https://issuer.test", "sub": "alice",
                            "exp": int(time.time()) + 3600}).encode())
    sig = key.sign(("%s.%s" % (head, body)).encode(), padding.PKCS1v15(),
                   hashes.SHA256())
    return jwks, "%s.%s.%s" % (head, body, _b64(sig))


def jwt_disable_switches_off_the_gateways_authentication():
    jwks, token = _rsa_jwks_and_token()
    with Env() as env:
        env.add({"apiVersion": KGW, "kind": "GatewayExtension",
                 "metadata": {"name": "jwt", "namespace": NS},
                 "spec": {"jwt": {"providers": [{
                     "name": "p", "issuer": "https://issuer.test",
                     "jwks": {"local": {"inline": json.dumps(jwks)}}}]}}})
        env.add(policy("gw", {"jwtAuth": {"extensionRef": {"name": "jwt"}}},
                       [target("Gateway", GW)]))
        env.add(policy("off", {"jwtAuth": {"disable": {}}},
                       [target("HTTPRoute", "r", "b")]))
        env.add(two_rules())
        env.start()
        t = Table()
        t.run("no token", lambda: expect_status(env.request("/a"), 401))
        t.run("token", lambda: expect_backend(env.request(
            "/a", headers={"Authorization": "Bearer " + token}), V1))
        t.run("disabled", lambda: expect_backend(env.request("/b"), V1))
        t.done()


# -- Fail closed ------------------------------------------------------------


def policy_with_a_field_gwf_lacks_fails_its_routes_closed():
    with Env() as env:
        env.add(policy("tf", {"transformation": {"request": {}}},
                       [target("HTTPRoute", "guarded")]))
        env.add(route("guarded", [rule([prefix("/private")],
                                       [backend_ref(V1)])]))
        env.add(route("open", [rule([prefix("/public")], [backend_ref(V1)])]))
        env.start()
        t = Table()
        t.run("guarded", lambda: expect_status(env.request("/private/x"), 500))
        t.run("open", lambda: expect_backend(env.request("/public/x"), V1))

        def status():
            conds = accepted(env, "TrafficPolicy", "tf")
            expect_condition(conds, "Accepted", False, "Invalid", "tf")
            msg = [c for c in conds if c["type"] == "Accepted"][0]["message"]
            check("spec.transformation" in msg,
                  "message %r does not name spec.transformation" % msg)
        t.run("status", status)
        t.done()


def overridden_policy_gwf_cannot_honour_still_fails_closed():
    """A broader policy with a field gwf lacks reaches the rule even where
    a more specific one gives every field gwf runs: serving without it
    would drop what it asks for."""
    with Env() as env:
        env.add(policy("gw", dict(local_limit(1), transformation={
            "request": {}}), [target("Gateway", GW)]))
        env.add(policy("rt", local_limit(5), [target("HTTPRoute", "r")]))
        env.add(two_rules())
        env.start()
        expect_status(env.request("/a"), 500)


def policy_naming_a_missing_extension_fails_closed_and_says_so():
    with Env() as env:
        env.add(policy("p", {"extAuth": {"extensionRef": {"name": "nope"}}},
                       [target("HTTPRoute", "r", "a")]))
        env.add(two_rules())
        env.start()
        expect_status(env.request("/a"), 500)
        expect_backend(env.request("/b"), V1)
        conds = accepted(env, "TrafficPolicy", "p")
        expect_condition(conds, "Accepted", False, "Invalid", "p")
        msg = [c for c in conds if c["type"] == "Accepted"][0]["message"]
        check("GatewayExtension %s/nope not found" % NS in msg,
              "message %r" % msg)


def direct_response_the_plugin_refuses_fails_its_rule_closed():
    with Env() as env:
        env.add({"apiVersion": KGW, "kind": "DirectResponse",
                 "metadata": {"name": "bad", "namespace": NS},
                 "spec": {"status": 99}})
        env.add(route("r", [
            rule([prefix("/bad")], filters=[
                extension_ref("DirectResponse", "bad")]),
            rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_status(env.request("/bad"), 500)
        expect_backend(env.request("/x"), V1)
        expect_condition(accepted(env, "DirectResponse", "bad"), "Accepted",
                         False, "Invalid", "bad")


# -- cors, csrf, basicAuth, apiKeyAuth: plugins in chain order -------------

APP = "https://app.example"
BASIC_USER = "user:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="   # password "secret"
BASIC_OK = "Basic " + base64.b64encode(b"user:secret").decode()


def header_of(resp, name):
    for k, v in resp.headers:
        if k.lower() == name.lower():
            return v
    return None


def auth_gateway_policy():
    """The Gateway's policy: CORS for APP, CSRF enforced, basic auth."""
    return policy("gw-auth", {
        "cors": {"allowOrigins": [APP], "allowMethods": ["GET", "POST"]},
        "csrf": {"percentageEnabled": 100},
        "basicAuth": {"users": [BASIC_USER]}}, [target("Gateway", GW)])


def cors_runs_before_authentication_and_csrf_after_it():
    """Envoy's order as kgateway builds it: a CORS preflight carries no
    credentials and is answered by cors before basic auth could refuse
    it; CSRF is in kgateway's Route stage, after authentication, so a
    cross-origin POST without credentials gets basic auth's 401 and one
    with credentials gets csrf's 403."""
    with Env() as env:
        env.add(auth_gateway_policy())
        env.add(two_rules())
        env.start()
        t = Table()

        def preflight():
            r = env.request("/a", method="OPTIONS", headers={
                "Origin": APP, "Access-Control-Request-Method": "POST"})
            expect_status(r, 200)
            check(header_of(r, "Access-Control-Allow-Origin") == APP,
                  "preflight headers: %r" % r.headers)

        def no_credentials():
            r = env.request("/a")
            expect_status(r, 401)
            check((header_of(r, "WWW-Authenticate") or "").startswith(
                "Basic realm="), "401 headers: %r" % r.headers)

        def credentials():
            r = env.request("/a", headers={"Authorization": BASIC_OK,
                                           "Origin": APP})
            expect_backend(r, V1)
            check(header_of(r, "Access-Control-Allow-Origin") == APP,
                  "simple request from APP not decorated: %r" % r.headers)

        t.run("preflight answered without credentials", preflight)
        t.run("no credentials: 401", no_credentials)
        t.run("credentials: the backend", credentials)
        t.run("foreign POST, no credentials: 401 from basic auth",
              lambda: expect_status(env.request(
                  "/a", method="POST", body=b"",
                  headers={"Origin": "https://evil.example"}), 401))
        t.run("foreign POST, credentials: 403 from csrf",
              lambda: expect_status(env.request(
                  "/a", method="POST", body=b"",
                  headers={"Origin": "https://evil.example",
                           "Authorization": BASIC_OK}), 403))
        t.run("wrong password: 401", lambda: expect_status(env.request(
            "/a", headers={"Authorization": "Basic " + base64.b64encode(
                b"user:wrong").decode()}), 401))
        t.done()


def route_switches_basic_auth_off_and_asks_for_an_api_key_by_label():
    """Rule b's policy disables the Gateway's basicAuth and gives
    apiKeyAuth with a secretSelector: the runtime hands the plugin the
    Secrets whose labels match (web-keys), not the others (other-keys)."""
    with Env() as env:
        env.add(auth_gateway_policy())
        env.add(policy("keys", {
            "basicAuth": {"disable": {}},
            "apiKeyAuth": {"secretSelector": {"matchLabels": {"team": "web"}},
                           "keySources": [{"header": "x-api-key"}]}},
            [target("HTTPRoute", "r", "b")]))
        for name, team, key in [("web-keys", "web", "k-123"),
                                ("other-keys", "other", "k-456")]:
            env.add({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": name, "namespace": NS,
                                  "labels": {"team": team}},
                     "stringData": {"client-" + team: key}})
        env.add(two_rules())
        env.start()
        t = Table()
        t.run("b with the key", lambda: expect_backend(
            env.request("/b", headers={"x-api-key": "k-123"}), V1))
        t.run("b with an unselected Secret's key", lambda: expect_status(
            env.request("/b", headers={"x-api-key": "k-456"}), 401))
        t.run("b without a key", lambda: expect_status(env.request("/b"),
                                                       401))
        t.run("b with basic credentials only", lambda: expect_status(
            env.request("/b", headers={"Authorization": BASIC_OK}), 401))
        t.run("a still asks for basic auth", lambda: expect_status(
            env.request("/a", headers={"x-api-key": "k-123"}), 401))
        t.done()


CASES = {f.__name__: f for f in [
    gateway_policy_reaches_every_route,
    listener_policy_reaches_only_that_listener,
    route_policy_reaches_each_of_its_rules_and_no_other_route,
    section_name_reaches_the_named_rule_only,
    target_selector_reaches_routes_by_label,
    grpc_route_policy_limits_its_calls,
    extension_ref_direct_response_answers_in_place_of_backends,
    extension_ref_policy_outranks_target_refs,
    route_field_overrides_the_gateways_and_the_rest_is_kept,
    older_policy_wins_among_policies_of_one_level,
    gateway_annotated_prefer_parent_overrides_routes,
    empty_local_limit_switches_off_the_gateways,
    ext_auth_disable_switches_off_the_gateways_check,
    jwt_disable_switches_off_the_gateways_authentication,
    policy_with_a_field_gwf_lacks_fails_its_routes_closed,
    overridden_policy_gwf_cannot_honour_still_fails_closed,
    policy_naming_a_missing_extension_fails_closed_and_says_so,
    direct_response_the_plugin_refuses_fails_its_rule_closed,
    cors_runs_before_authentication_and_csrf_after_it,
    route_switches_basic_auth_off_and_asks_for_an_api_key_by_label,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
