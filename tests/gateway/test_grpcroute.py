#!/usr/bin/python3
"""test_grpcroute.py - GRPCRoutes served by `gwf gateway render` and nginx.

    /usr/bin/python3 test_grpcroute.py [CASE]

Our own versions of the Gateway API conformance suite's GRPCRoute cases
(conformance/tests/grpcroute-*.go): service/method and header matches,
weights, request header modifiers, listener hostnames, named rules. The
backends are gRPC echo servers (echo_backend.GrpcEchoBackend,
python3-grpcio) behind Services whose port says appProtocol
kubernetes.io/h2c; the client is grpcio over cleartext HTTP/2 to the
listener. A call that matches no rule ends with
UNIMPLEMENTED, as the suite expects (nginx's 404 without grpc-status).
Without python3-grpcio every case is skipped.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    NS, Env, Table, backend_ref, check, expect_condition, find_object,
    gateway, header_filter, listener, parent, prefix, route,
    route_parent_status, rule, run_cases)

G1, G2, G3 = ("grpc-infra-backend-v1", "grpc-infra-backend-v2",
              "grpc-infra-backend-v3")
SVC = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"


def grpc_env(backends=(G1, G2), base_gateway=True):
    env = Env(backends=[], base_gateway=base_gateway)
    try:
        for name in backends:
            env.add_grpc_backend(name)
    except BaseException:
        env.cleanup(check_logs=False)
        raise
    return env


def grpc_route(name, rules, **kw):
    return route(name, rules, kind="GRPCRoute", **kw)


def method_match(method=None, service=SVC, type=None):
    m = {"service": service}
    if method is not None:
        m["method"] = method
    if type is not None:
        m["type"] = type
    return {"method": m}


def header_match(**headers):
    return {"headers": [{"name": k, "value": v} for k, v in headers.items()]}


def meta_values(rec, name):
    return rec["metadata"].get(name.lower())


def expect_served(env, method, backend, metadata=(), what=None,
                  authority=None):
    rec, code = env.grpc_call(method, metadata, authority=authority)
    check(rec is not None, "%s%s: the call failed with %s, expected %s"
          % (what or method, " " + repr(metadata) if metadata else "", code,
             backend))
    check(rec["backend"] == backend and rec["path"] == method,
          "%s: served by %s as %s, expected %s as %s"
          % (what or method, rec["backend"], rec["path"], backend, method))
    return rec


def expect_unimplemented(env, method, metadata=(), authority=None):
    import grpc
    rec, code = env.grpc_call(method, metadata, authority=authority)
    check(rec is None and code == grpc.StatusCode.UNIMPLEMENTED,
          "%s %r%s: expected UNIMPLEMENTED, got %s"
          % (method, metadata, " :authority " + authority if authority
             else "", code if rec is None else rec))


def grpc_exact_method_match_selects_backend():
    with grpc_env() as env:
        env.add(grpc_route("exact-matching", [
            rule([method_match("Echo")], [backend_ref(G1)]),
            rule([method_match("EchoTwo")], [backend_ref(G2)])]))
        env.start()
        t = Table()
        t.run("Echo", lambda: expect_served(env, "/%s/Echo" % SVC, G1))
        t.run("EchoTwo", lambda: expect_served(env, "/%s/EchoTwo" % SVC,
                                               G2))
        t.run("EchoThree", lambda: expect_unimplemented(
            env, "/%s/EchoThree" % SVC))
        t.done()


def grpc_service_only_match_takes_every_method():
    with grpc_env() as env:
        env.add(grpc_route("service-matching", [
            rule([method_match()], [backend_ref(G1)]),
            rule([method_match("Special")], [backend_ref(G2)])]))
        env.start()
        t = Table()
        t.run("Echo", lambda: expect_served(env, "/%s/Echo" % SVC, G1))
        t.run("Special", lambda: expect_served(env, "/%s/Special" % SVC,
                                               G2))
        t.run("other service", lambda: expect_unimplemented(
            env, "/other.Service/Echo"))
        t.done()


def grpc_header_matches_select_backend():
    with grpc_env() as env:
        env.add(grpc_route("grpc-header-matching", [
            rule([header_match(version="one")], [backend_ref(G1)]),
            rule([header_match(version="two")], [backend_ref(G2)]),
            rule([{"headers": [{"name": "version", "value": "two"},
                               {"name": "color", "value": "orange"}]}],
                 [backend_ref(G1)]),
            rule([header_match(color="blue"), header_match(color="green")],
                 [backend_ref(G1)]),
            rule([header_match(color="red"), header_match(color="yellow")],
                 [backend_ref(G2)])]))
        env.start()
        m = "/%s/Echo" % SVC
        t = Table()
        for md, want in (((("version", "one"),), G1),
                         ((("version", "two"),), G2),
                         ((("version", "two"), ("color", "orange")), G1),
                         ((("version", "two"), ("color", "blue")), G2),
                         ((("color", "orange"),), None),
                         ((("some-other-header", "one"),), None),
                         ((("color", "blue"),), G1),
                         ((("color", "green"),), G1),
                         ((("color", "red"),), G2),
                         ((("color", "yellow"),), G2),
                         ((("color", "purple"),), None)):
            if want:
                t.run(repr(md), lambda md=md, want=want: expect_served(
                    env, m, want, md))
            else:
                t.run(repr(md), lambda md=md: expect_unimplemented(
                    env, m, md))
        t.done()


def grpc_request_header_modifier_sets_adds_and_removes():
    with grpc_env() as env:
        env.add(grpc_route("grpc-request-header-modifier", [
            rule([method_match("Echo")], [backend_ref(G1)], [header_filter(
                set=[("X-Header-Set", "set-overwrites-values")],
                add=[("X-Header-Add", "add-appends-values")],
                remove=["X-Header-Remove"])])]))
        env.start()
        rec = expect_served(env, "/%s/Echo" % SVC, G1, (
            ("x-header-set", "some-other-value"),
            ("x-header-add", "some-other-value"),
            ("x-header-remove", "this-should-be-removed"),
            ("some-other-header", "val")))
        got = {k: meta_values(rec, k) for k in (
            "x-header-set", "x-header-add", "x-header-remove",
            "some-other-header")}
        add = got["x-header-add"] or []
        check(got["x-header-set"] == ["set-overwrites-values"] and
              (add == ["some-other-value", "add-appends-values"] or
               add == ["some-other-value,add-appends-values"]) and
              got["x-header-remove"] is None and
              got["some-other-header"] == ["val"],
              "metadata at the backend: %s" % got)


def grpc_weights_split_calls():
    n = 200
    with grpc_env() as env:
        env.add(grpc_route("grpc-weighted", [rule(backends=[
            backend_ref(G1, weight=70), backend_ref(G2, weight=30)])]))
        env.start()
        counts = {G1: 0, G2: 0}
        for _ in range(n):
            rec, code = env.grpc_call("/%s/Echo" % SVC)
            check(rec is not None, "a call failed with %s" % code)
            counts[rec["backend"]] += 1
        sd = (n * 0.7 * 0.3) ** 0.5
        check(abs(counts[G1] - n * 0.7) <= 4 * sd,
              "%d calls at weights 70/30 split as %s" % (n, counts))


def grpc_route_on_a_plain_port_serving_httproutes_is_refused():
    """nginx 1.22 speaks HTTP/1.1 or cleartext HTTP/2 on a plain port,
    never both: the older HTTPRoute keeps the port and serves HTTP/1.1;
    the GRPCRoute is refused there (NotAllowedByListeners, the status says
    why) instead of being reported Accepted and answering nothing."""
    with Env(backends=[("infra-backend-v1", NS)]) as env:
        env.add_grpc_backend(G1)
        # Hostnames of their own: the spec already forbids an HTTPRoute
        # and a GRPCRoute one hostname on one listener; here they only
        # share the port.
        env.add(grpc_route("grpc", [rule([method_match("Echo")],
                                         [backend_ref(G1)])],
                           hostnames=["grpc.example.com"],
                           created="2026-02-01T00:00:00Z"))
        env.add(route("http", [rule([prefix("/")],
                                    [backend_ref("infra-backend-v1")])],
                      hostnames=["http.example.com"],
                      created="2026-01-01T00:00:00Z"))
        env.start()
        t = Table()

        def http():
            r = env.request("/plain", host="http.example.com")
            check(r.status == 200 and r.json()["backend"] ==
                  "infra-backend-v1", "HTTP/1.1 GET /plain: %r" % r)
        t.run("HTTP/1.1 served", http)

        def status():
            objs = env.status()
            p = route_parent_status(find_object(objs, "GRPCRoute", "grpc"),
                                    "same-namespace")
            cond = expect_condition(p["conditions"], "Accepted", False,
                                    "NotAllowedByListeners", "GRPCRoute")
            check("cleartext HTTP/2" in cond.get("message", ""),
                  "message %r does not say why" % cond.get("message"))
            h = route_parent_status(find_object(objs, "HTTPRoute", "http"),
                                    "same-namespace")
            expect_condition(h["conditions"], "Accepted", True, "Accepted",
                             "HTTPRoute")
        t.run("GRPCRoute refused in its status", status)
        t.done()


def grpc_listener_hostnames_select_routes_by_section_name():
    """Four listeners on one port (bar.com, foo.bar.com, *.bar.com,
    *.foo.com), a GRPCRoute per sectionName: the call's :authority picks
    the listener, the most specific hostname first; a name no listener
    has gets UNIMPLEMENTED."""
    gw = "grpcroute-listener-hostname-matching"
    with grpc_env((G1, G2, G3), base_gateway=False) as env:
        env.add(gateway(gw, [listener("listener-1", 80, hostname="bar.com"),
                             listener("listener-2", 80,
                                      hostname="foo.bar.com"),
                             listener("listener-3", 80,
                                      hostname="*.bar.com"),
                             listener("listener-4", 80,
                                      hostname="*.foo.com")]))
        for name, sections, backend in (
                ("backend-v1", ["listener-1"], G1),
                ("backend-v2", ["listener-2"], G2),
                ("backend-v3", ["listener-3", "listener-4"], G3)):
            env.add(grpc_route(name, [rule(backends=[backend_ref(backend)])],
                               parents=[parent(gw, NS, section=s)
                                        for s in sections]))
        env.start()
        method = "/%s/Echo" % SVC
        t = Table()
        for authority, backend in (
                ("bar.com", G1), ("foo.bar.com", G2), ("baz.bar.com", G3),
                ("boo.bar.com", G3), ("multiple.prefixes.bar.com", G3),
                ("multiple.prefixes.foo.com", G3), ("foo.com", None),
                ("no.matching.host", None)):
            if backend:
                t.run(authority, lambda a=authority, b=backend: expect_served(
                    env, method, b, what=a, authority=a))
            else:
                t.run(authority, lambda a=authority: expect_unimplemented(
                    env, method, authority=a))
        t.done()


def grpc_named_rules_serve_like_unnamed_ones():
    with grpc_env() as env:
        env.add(grpc_route("grpc-named-rules", [
            rule([method_match("Echo")], [backend_ref(G1)],
                 name="named-rule"),
            rule([method_match("EchoTwo")], [backend_ref(G2)])]))
        env.start()
        t = Table()
        t.run("Echo", lambda: expect_served(env, "/%s/Echo" % SVC, G1))
        t.run("EchoTwo", lambda: expect_served(env, "/%s/EchoTwo" % SVC,
                                               G2))
        t.done()


CASES = {f.__name__: f for f in [
    grpc_exact_method_match_selects_backend,
    grpc_service_only_match_takes_every_method,
    grpc_header_matches_select_backend,
    grpc_request_header_modifier_sets_adds_and_removes,
    grpc_weights_split_calls,
    grpc_route_on_a_plain_port_serving_httproutes_is_refused,
    grpc_listener_hostnames_select_routes_by_section_name,
    grpc_named_rules_serve_like_unnamed_ones,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
