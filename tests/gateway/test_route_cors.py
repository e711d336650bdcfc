#!/usr/bin/python3
"""test_route_cors.py - the Gateway API's HTTPRoute filter `type: CORS`
(HTTPCORSFilter) through `gwf gateway render` and real nginx.

    /usr/bin/python3 test_route_cors.py [CASE]

The translator keeps a rule's CORS filter as the path of its node
(spec.rules[N].filters[M].cors); the rule's location gets
`gwf_route_filter "NS/ROUTE" "PATH";` and the runtime runs the cors
plugin configured with that node, first in the chain, winning over a
TrafficPolicy's cors. The routes are the conformance suite's
httproute-cors.yaml, this time written as HTTPRoute filters, with the
expectations of tests/plugins/cors/test_cors_nginx.py (which checks the
same filters as plugin configs): where the suite accepts several answers,
the one gwf gives is asserted exactly. A filter the plugin refuses fails
its rule closed (500) and the route's status names the field.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    NS, Env, Table, backend_ref, check, expect_backend, expect_condition,
    expect_status, exact, find_object, prefix, route, route_parent_status,
    rule, run_cases)

V1 = "infra-backend-v1"
KGW = "gateway.kgateway.dev/v1alpha1"
GW = "same-namespace"

CORS_HEADERS = ["access-control-allow-origin",
                "access-control-allow-credentials",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-expose-headers",
                "access-control-max-age"]

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


def cors_filter(config):
    return {"type": "CORS", "cors": config}


def cors_route(name="cors", routes=ROUTES):
    return route(name, [rule([exact(path)], [backend_ref(V1)],
                             filters=[cors_filter(config)])
                        for path, config in routes.items()])


def policy(name, spec, targets):
    return {"apiVersion": KGW, "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": dict(spec, targetRefs=targets)}


def gateway_target():
    return {"group": "gateway.networking.k8s.io", "kind": "Gateway",
            "name": GW}


def squash(value):
    return None if value is None else "".join(value.split())


def expect(r, what, status, headers, absent=(), allowed=None):
    """Exact status and header values; `absent` headers missing; each
    value also within the suite's accepted set (`allowed`)."""
    if isinstance(status, int):
        expect_status(r, status)
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


def preflight(env, path, origin, method, req_headers=None):
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if req_headers:
        headers["Access-Control-Request-Headers"] = req_headers
    return env.request(path, method="OPTIONS", headers=headers)


def conformance_cors_routes_as_httproute_filters():
    with Env() as env:
        env.add(cors_route())
        env.start()
        t = Table()

        def allowed_preflights():
            for origin in ["https://www.foo.com", "https://www.bar.com",
                           "https://xpto.www.bar.com"]:
                r = preflight(env, "/cors-1", origin, "GET",
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
                check(r.header("x-echo-backend") is None and
                      b"infra-backend" not in r.body,
                      "an allowed preflight reached the backend: %r" % r)

        def rejected_preflight_is_forwarded():
            r = preflight(env, "/cors-1", "https://foobar.com", "GET")
            expect(r, "preflight from foobar.com", [200, 204, 403], {},
                   absent=CORS_HEADERS)
            expect_backend(r, V1, method="OPTIONS")

        def simple_requests():
            for origin in ["https://www.foo.com", "https://www.bar.com"]:
                r = env.request("/cors-1", headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers":
                        "x-header-1, x-header-2"})
                expect(r, "GET /cors-1 from " + origin, 200, {
                    "access-control-allow-origin": origin,
                    "access-control-allow-credentials": "true",
                    "access-control-expose-headers": "x-header-3, x-header-4",
                    "vary": "Origin"},
                    absent=["access-control-max-age",
                            "access-control-allow-methods"])
                expect_backend(r, V1)
            r = env.request("/cors-1", headers={
                "Origin": "https://foobar.com",
                "Access-Control-Request-Method": "GET"})
            expect(r, "GET /cors-1 from foobar.com", 200, {"vary": "Origin"},
                   absent=CORS_HEADERS)

        def wildcard_methods_without_credentials():
            r = preflight(env, "/cors-2", "https://www.foo.com", "POST")
            expect(r, "preflight /cors-2", 200, {
                "access-control-allow-origin": "https://www.foo.com",
                "access-control-allow-methods": "POST",
                "access-control-max-age": "5"},
                absent=["access-control-allow-credentials"],
                allowed={"access-control-allow-methods": ["POST", "*"]})

        def wildcard_origin_is_echoed():
            for origin in ["https://foobar.com", "https://foobar.com:12345"]:
                r = preflight(env, "/cors-wildcard-origin", origin, "PUT")
                expect(r, "preflight wildcard origin " + origin, 200, {
                    "access-control-allow-origin": origin,
                    "access-control-allow-methods": "PUT"},
                    absent=["access-control-allow-credentials"],
                    allowed={"access-control-allow-origin": [origin, "*"]})
                r = env.request("/cors-wildcard-origin", method="PUT",
                                headers={"Origin": origin}, body=b"")
                expect(r, "PUT wildcard origin " + origin, 200, {
                    "access-control-allow-origin": origin},
                    absent=["access-control-allow-credentials"])

        def wildcard_methods_and_headers():
            for path, creds in [("/cors-wildcard-methods-headers", True),
                                ("/cors-wildcard-methods-headers-unauth",
                                 False)]:
                want = {"access-control-allow-origin":
                        "https://other.foo.com",
                        "access-control-allow-methods": "PUT",
                        "access-control-allow-headers":
                        "x-header-1, x-header-2"}
                if creds:
                    want["access-control-allow-credentials"] = "true"
                r = preflight(env, path, "https://other.foo.com", "PUT",
                              "x-header-1, x-header-2")
                expect(r, "preflight " + path, 200, want,
                       absent=[] if creds else
                       ["access-control-allow-credentials"])
                r = env.request(path, headers={
                    "Origin": "https://other.foo.com"})
                want = {"access-control-allow-origin":
                        "https://other.foo.com"}
                if creds:
                    want["access-control-allow-credentials"] = "true"
                expect(r, "GET " + path, 200, want,
                       absent=[] if creds else
                       ["access-control-allow-credentials"])

        def hostile_origins():
            r = env.request("/cors-wildcard-origin",
                            headers={"Origin": "null"})
            expect(r, "Origin null", 200, {}, absent=CORS_HEADERS)
            r = env.request("/cors-wildcard-origin",
                            headers={"Origin": "https://" + "a" * 6000 +
                                     ".com"})
            expect(r, "huge Origin", 200, {}, absent=CORS_HEADERS)
            r = env.request("/cors-1", method="OPTIONS", headers=[
                ("Origin", "https://www.foo.com"),
                ("Origin", "https://www.foo.com"),
                ("Access-Control-Request-Method", "GET")])
            expect(r, "two Origin lines", [200, 204, 403], {},
                   absent=CORS_HEADERS)
            expect_backend(r, V1, method="OPTIONS")

        t.run("allowed preflights answered by gwf", allowed_preflights)
        t.run("rejected preflight forwarded", rejected_preflight_is_forwarded)
        t.run("simple requests", simple_requests)
        t.run("allowMethods * without credentials",
              wildcard_methods_without_credentials)
        t.run("allowOrigins * echoes the origin", wildcard_origin_is_echoed)
        t.run("wildcard methods and headers", wildcard_methods_and_headers)
        t.run("hostile origins", hostile_origins)
        t.done()


def route_filter_wins_over_a_traffic_policy_cors():
    """A Gateway-wide TrafficPolicy allows https://policy.example; rule
    /filtered has its own CORS filter allowing https://filter.example.
    On /filtered only the filter applies (Envoy's per-route CORS config
    is the most specific); /plain keeps the policy's; the policy's other
    field (csrf) still runs on /filtered."""
    with Env() as env:
        env.add(policy("gw-cors", {
            "cors": {"allowOrigins": ["https://policy.example"],
                     "allowMethods": ["GET", "POST"]},
            "csrf": {"percentageEnabled": 100}}, [gateway_target()]))
        env.add(route("r", [
            rule([prefix("/filtered")], [backend_ref(V1)], filters=[
                cors_filter({"allowOrigins": ["https://filter.example"],
                             "allowMethods": ["GET"]})]),
            rule([prefix("/plain")], [backend_ref(V1)])]))
        env.start()
        t = Table()

        def filtered():
            r = preflight(env, "/filtered", "https://filter.example", "GET")
            expect(r, "filter origin on /filtered", 200, {
                "access-control-allow-origin": "https://filter.example",
                "access-control-allow-methods": "GET"})
            r = preflight(env, "/filtered", "https://policy.example", "GET")
            expect(r, "policy origin on /filtered", [200, 204, 403], {},
                   absent=CORS_HEADERS)
            expect_backend(r, V1, method="OPTIONS")

        def plain():
            r = preflight(env, "/plain", "https://policy.example", "GET")
            expect(r, "policy origin on /plain", 200, {
                "access-control-allow-origin": "https://policy.example",
                "access-control-allow-methods": "GET, POST"})
            r = preflight(env, "/plain", "https://filter.example", "GET")
            expect(r, "filter origin on /plain", [200, 204, 403], {},
                   absent=CORS_HEADERS)

        def csrf_still_runs():
            expect_status(env.request(
                "/filtered", method="POST", body=b"",
                headers={"Origin": "https://evil.example"}), 403)

        t.run("the filter on /filtered", filtered)
        t.run("the policy on /plain", plain)
        t.run("the policy's csrf on /filtered", csrf_still_runs)
        t.done()


def malformed_cors_filter_fails_its_rule_closed_with_the_field_path():
    """allowMethods ["get"] (the CRD's enum is upper case) and "*" beside
    an origin: the cors plugin refuses the filter, so its rule answers
    500 on each of its matches and the route says why, naming the fields
    (the first error, not a later "failed to configure"); the route's
    other rule and nginx keep serving."""
    with Env() as env:
        filters = [
            {"type": "RequestHeaderModifier",
             "requestHeaderModifier": {"set": [{"name": "x-a",
                                                "value": "1"}]}},
            cors_filter({"allowOrigins": ["*", "https://a.example"],
                         "allowMethods": ["get"]})]
        env.add(route("r", [
            rule([prefix("/bad"), prefix("/worse")], [backend_ref(V1)],
                 filters=filters),
            rule([prefix("/good")], [backend_ref(V1)])]))
        env.start()
        t = Table()
        t.run("bad rule answers 500",
              lambda: expect_status(env.request("/bad"), 500))
        t.run("bad rule's second match answers 500",
              lambda: expect_status(env.request("/worse"), 500))
        t.run("bad rule preflight answers 500", lambda: expect_status(
            preflight(env, "/bad", "https://a.example", "GET"), 500))
        t.run("other rule serves",
              lambda: expect_backend(env.request("/good"), V1))

        def status():
            obj = find_object(env.status(), "HTTPRoute", "r")
            p = route_parent_status(obj, GW)
            c = expect_condition(p["conditions"], "PartiallyInvalid", True,
                                 "UnsupportedValue", "route r")
            msg = c.get("message", "")
            for field in ["spec.rules[0].filters[1].cors.allowOrigins[0]",
                          "spec.rules[0].filters[1].cors.allowMethods[0]"]:
                check(field in msg, "message %r does not name %s"
                      % (msg, field))
            check("(the rule answers 500)" in msg, "message %r" % msg)
            expect_condition(p["conditions"], "Accepted", True, "Accepted",
                             "route r")
        t.run("status names the fields", status)
        t.done()


CASES = {f.__name__: f for f in [
    conformance_cors_routes_as_httproute_filters,
    route_filter_wins_over_a_traffic_policy_cors,
    malformed_cors_filter_fails_its_rule_closed_with_the_field_path,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
