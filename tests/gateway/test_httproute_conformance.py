#!/usr/bin/python3
"""test_httproute_conformance.py - HTTPRoutes served by `gwf gateway render`
and the real nginx, judged as the Gateway API conformance suite judges.

    /usr/bin/python3 test_httproute_conformance.py [CASE]

With a CASE: run it (exit 0 pass, 1 fail, 77 skip); meson runs each case
as its own test (tests/gateway/meson.build). Without: run them all and
print "N passed, N failed, N skipped".

The cases are our own versions of the suite's HTTP cases
(conformance/tests/httproute-*.go in kubernetes-sigs/gateway-api): the
same requests and expected outcomes, with manifests and code written
here. The suite runs in a cluster; here the same facts hold outside one
(harness.py): each Service's only endpoint is an echo backend
(echo_backend.py) that reports the request it received, listener ports
are free loopback ports standing for the ports the manifests name, and a
case asserts on what the client got and what the backend saw, never on
the generated nginx text. Status conditions are cases of their own
(`gwf gateway status -o json`), so a traffic case fails only for
traffic.
"""

import base64
import hashlib
import json
import os
import socket
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    APP_NS, NS, WEB_NS, Env, Skip, Table, backend_ref,
    TestFailure, check, exact, expect_backend, expect_condition,
    expect_redirect, expect_status, find_object, free_port, gateway,
    header_filter, listener, listener_status, match, mirror_filter, parent,
    prefix, redirect_filter, reference_grant, response_header_filter,
    rewrite_filter, route, route_parent_status, rule, run_cases, run_table,
    service_docs, tls_secret)

import echo_backend  # noqa: E402

V1, V2, V3 = "infra-backend-v1", "infra-backend-v2", "infra-backend-v3"


def to(name, **kw):
    """A backendRefs list of one Service."""
    return [backend_ref(name, **kw)]


# ---------------------------------------------------------------------------
# Matches and their precedence
# ---------------------------------------------------------------------------

def simple_route_in_same_namespace_serves_its_backend():
    with Env() as env:
        env.add(route("gateway-conformance-infra-test",
                      [rule(backends=to(V1))]))
        env.start()
        run_table(env, [dict(path="/", backend=V1),
                        dict(path="/any/thing?x=1", backend=V1)])


def exact_path_matches_only_that_path():
    with Env() as env:
        env.add(route("exact-matching", [
            rule([exact("/one")], to(V1)),
            rule([exact("/two")], to(V2))]))
        env.start()
        run_table(env, [
            dict(path="/one", backend=V1),
            dict(path="/two", backend=V2),
            dict(path="/", status=404),
            dict(path="/one/example", status=404),
            dict(path="/two/", status=404),
            dict(path="/Two", status=404)])


def path_match_order_prefers_exact_then_longest_prefix():
    with Env() as env:
        env.add(route("path-matching-order", [
            rule([exact("/match")], to(V1)),
            rule([exact("/match/exact")], to(V2)),
            rule([exact("/match/exact/one")], to(V3)),
            rule([prefix("/match/")], to(V3)),
            rule([prefix("/match/prefix/")], to(V1)),
            rule([prefix("/match/prefix/one")], to(V2))]))
        env.start()
        run_table(env, [
            dict(path="/match/exact/one", backend=V3),
            dict(path="/match/exact", backend=V2),
            dict(path="/match", backend=V1),
            dict(path="/match/prefix/one/any", backend=V2),
            dict(path="/match/prefix/any", backend=V1),
            dict(path="/match/any", backend=V3)])


def path_prefix_matches_whole_segments():
    with Env() as env:
        env.add(route("matching", [
            rule([prefix("/"), match(headers={"version": "one"})], to(V1)),
            rule([prefix("/v2"), match(headers={"version": "two"})],
                 to(V2))]))
        env.start()
        run_table(env, [
            dict(path="/", backend=V1),
            dict(path="/example", backend=V1),
            dict(path="/", headers={"Version": "one"}, backend=V1),
            dict(path="/v2", backend=V2),
            dict(path="/v2/example", backend=V2),
            dict(path="/", headers={"Version": "two"}, backend=V2),
            dict(path="/v2/", backend=V2),
            dict(path="/v2example", backend=V1),
            dict(path="/foo/v2/example", backend=V1)])


def header_matches_select_backend_and_all_must_hold():
    with Env() as env:
        env.add(route("header-matching", [
            rule([match(headers={"version": "one"})], to(V1)),
            rule([match(headers={"version": "two"})], to(V2)),
            rule([match(headers=[("version", "two"), ("color", "orange")])],
                 to(V1)),
            rule([match(headers={"color": "blue"}),
                  match(headers={"color": "green"})], to(V1)),
            rule([match(headers={"color": "red"}),
                  match(headers={"color": "yellow"})], to(V2))]))
        env.start()
        run_table(env, [
            dict(path="/", headers={"Version": "one"}, backend=V1),
            dict(path="/", headers={"Version": "two"}, backend=V2),
            dict(path="/", headers={"Version": "two", "Color": "orange"},
                 backend=V1),
            dict(path="/", headers={"Version": "two", "Color": "blue"},
                 backend=V2),
            dict(path="/", headers={"Color": "orange"}, status=404),
            dict(path="/", headers={"Some-Other-Header": "one"}, status=404),
            dict(path="/", headers={"Color": "blue"}, backend=V1),
            dict(path="/", headers={"Color": "green"}, backend=V1),
            dict(path="/", headers={"Color": "red"}, backend=V2),
            dict(path="/", headers={"Color": "yellow"}, backend=V2),
            dict(path="/", headers={"Color": "purple"}, status=404)])


def query_param_matches_select_backend():
    with Env() as env:
        env.add(route("query-param-matching", [
            rule([match(query={"animal": "whale"})], to(V1)),
            rule([match(query={"animal": "dolphin"})], to(V2)),
            rule([match(query=[("animal", "dolphin"), ("color", "blue")]),
                  match(query={"ANIMAL": "Whale"})], to(V3)),
            rule([match("/path1", query={"animal": "whale"})], to(V1)),
            rule([match(headers={"version": "one"},
                        query={"animal": "whale"})], to(V2)),
            rule([match("/path2", headers={"version": "two"},
                        query={"animal": "whale"})], to(V3)),
            rule([match("/path3", query={"animal": "shark"}),
                  match("/path4", headers={"version": "three"},
                        query={"animal": "kraken"})], to(V1)),
            rule([prefix("/path5")], to(V1)),
            rule([match(query={"animal": "hydra"})], to(V2)),
            rule([match(headers={"version": "four"})], to(V3))]))
        env.start()
        run_table(env, [
            dict(path="/?animal=whale", backend=V1),
            dict(path="/?animal=dolphin", backend=V2),
            dict(path="/?animal=dolphin&color=blue", backend=V3),
            dict(path="/?ANIMAL=Whale", backend=V3),
            dict(path="/?animal=whale&otherparam=irrelevant", backend=V1),
            dict(path="/?animal=dolphin&color=yellow", backend=V2),
            dict(path="/?color=blue", status=404),
            dict(path="/?animal=dog", status=404),
            dict(path="/?animal=whaledolphin", status=404),
            dict(path="/", status=404),
            dict(path="/path1?animal=whale", backend=V1),
            dict(path="/?animal=whale", headers={"version": "one"},
                 backend=V2),
            dict(path="/path2?animal=whale", headers={"version": "two"},
                 backend=V3),
            dict(path="/path3?animal=shark", backend=V1),
            dict(path="/path4?animal=kraken", headers={"version": "three"},
                 backend=V1),
            dict(path="/?animal=shark", status=404),
            dict(path="/path4?animal=kraken", status=404),
            dict(path="/path5?animal=hydra", backend=V1),
            dict(path="/?animal=hydra", headers={"version": "four"},
                 backend=V3)])


def method_matches_select_backend():
    with Env() as env:
        env.add(route("method-matching", [
            rule([match(method="POST")], to(V1)),
            rule([match(method="GET")], to(V2)),
            rule([match("/path1", method="GET")], to(V1)),
            rule([match(headers={"version": "one"}, method="PUT")], to(V2)),
            rule([match("/path2", headers={"version": "two"},
                        method="POST")], to(V3)),
            rule([match("/path3", method="PATCH"),
                  match("/path4", headers={"version": "three"},
                        method="DELETE")], to(V1)),
            rule([prefix("/path5")], to(V1)),
            rule([match(method="PATCH")], to(V2)),
            rule([match(headers={"version": "four"})], to(V3))]))
        env.start()
        run_table(env, [
            dict(method="POST", path="/", backend=V1),
            dict(method="GET", path="/", backend=V2),
            dict(method="HEAD", path="/", status=404),
            dict(method="GET", path="/path1", backend=V1),
            dict(method="PUT", path="/", headers={"version": "one"},
                 backend=V2),
            dict(method="POST", path="/path2", headers={"version": "two"},
                 backend=V3),
            dict(method="PATCH", path="/path3", backend=V1),
            dict(method="DELETE", path="/path4",
                 headers={"version": "three"}, backend=V1),
            dict(method="PUT", path="/", status=404),
            dict(method="DELETE", path="/path4", status=404),
            dict(method="PATCH", path="/path5", backend=V1),
            dict(method="PATCH", path="/", headers={"version": "four"},
                 backend=V2)])


def regular_expression_matches_on_path_header_and_query():
    with Env() as env:
        env.add(route("regex-matching", [
            rule([match("/api/v[0-9]+/items", "RegularExpression")], to(V1)),
            rule([match(headers=[("x-id", "^[0-9]{3}$",
                                  "RegularExpression")])], to(V2)),
            rule([match(query=[("q", "a.*z", "RegularExpression")])],
                 to(V3))]))
        env.start()
        run_table(env, [
            dict(path="/api/v1/items", backend=V1),
            dict(path="/api/v12/items", backend=V1),
            dict(path="/api/vX/items", status=404),
            # the whole path must match
            dict(path="/api/v1/items/more", status=404),
            dict(path="/x", headers={"X-Id": "123"}, backend=V2),
            dict(path="/x", headers={"X-Id": "1234"}, status=404),
            dict(path="/x?q=abcz", backend=V3),
            dict(path="/x?q=abc", status=404)])


def matching_across_routes_merges_rules_per_hostname():
    with Env() as env:
        env.add(route("matching-part1", [
            rule([prefix("/"), match(headers={"version": "one"})], to(V1))],
            hostnames=["example.com", "example.net"]))
        env.add(route("matching-part2", [
            rule([prefix("/v2"), match(headers={"version": "two"})],
                 to(V2))], hostnames=["example.com"]))
        env.start()
        run_table(env, [
            dict(host="example.com", path="/", backend=V1),
            dict(host="example.com", path="/example", backend=V1),
            dict(host="example.net", path="/example", backend=V1),
            dict(host="example.com", path="/example",
                 headers={"Version": "one"}, backend=V1),
            dict(host="example.com", path="/v2", backend=V2),
            dict(host="example.net", path="/v2", backend=V1),
            dict(host="example.com", path="/v2/example", backend=V2),
            dict(host="example.com", path="/", headers={"Version": "two"},
                 backend=V2)])


def equal_matches_across_routes_go_to_the_oldest_route():
    """Same match in two routes: the older creationTimestamp wins; with
    equal timestamps, the first by namespace/name."""
    with Env() as env:
        env.add(route("zz-older", [rule([prefix("/same")], to(V1))],
                      created="2024-01-01T00:00:00Z"))
        env.add(route("aa-newer", [rule([prefix("/same")], to(V2))],
                      created="2024-06-01T00:00:00Z"))
        env.add(route("bb-tie", [rule([prefix("/tie")], to(V3))],
                      created="2024-01-01T00:00:00Z"))
        env.add(route("cc-tie", [rule([prefix("/tie")], to(V1))],
                      created="2024-01-01T00:00:00Z"))
        env.start()
        run_table(env, [dict(path="/same", backend=V1),
                        dict(path="/tie/x", backend=V3)])


def method_outranks_headers_and_more_headers_outrank_fewer():
    """Within the same path: a method match goes before header matches;
    more header matches before fewer; more query matches before fewer."""
    with Env() as env:
        env.add(route("precedence", [
            rule([match("/p", headers={"a": "1"})], to(V1)),
            rule([match("/p", method="GET")], to(V2)),
            rule([match("/q", headers={"a": "1"})], to(V1)),
            rule([match("/q", headers=[("a", "1"), ("b", "2")])], to(V2)),
            rule([match("/r", query={"a": "1"})], to(V1)),
            rule([match("/r", query=[("a", "1"), ("b", "2")])], to(V2))]))
        env.start()
        run_table(env, [
            dict(path="/p", headers={"A": "1"}, backend=V2),
            dict(method="POST", path="/p", headers={"A": "1"}, backend=V1),
            dict(path="/q", headers={"A": "1", "B": "2"}, backend=V2),
            dict(path="/q", headers={"A": "1"}, backend=V1),
            dict(path="/r?a=1&b=2", backend=V2),
            dict(path="/r?a=1", backend=V1)])


# ---------------------------------------------------------------------------
# Hostnames and listeners
# ---------------------------------------------------------------------------

def intersection_gateways():
    return [
        gateway("httproute-hostname-intersection", [
            listener("listener-1", 80, hostname="very.specific.com"),
            listener("listener-2", 80, hostname="*.wildcard.io"),
            listener("listener-3", 80, hostname="*.anotherwildcard.io")]),
        route("specific-host-matches-listener-specific-host",
              [rule([prefix("/s1")], to(V1))],
              parents=[parent("httproute-hostname-intersection", NS)],
              hostnames=["non.matching.com", "*.nonmatchingwildcard.io",
                         "very.specific.com"]),
        route("specific-host-matches-listener-wildcard-host",
              [rule([prefix("/s2")], to(V2))],
              parents=[parent("httproute-hostname-intersection", NS)],
              hostnames=["non.matching.com", "wildcard.io",
                         "foo.wildcard.io", "bar.wildcard.io",
                         "foo.bar.wildcard.io"]),
        route("wildcard-host-matches-listener-specific-host",
              [rule([prefix("/s3")], to(V3))],
              parents=[parent("httproute-hostname-intersection", NS)],
              hostnames=["non.matching.com", "*.specific.com"]),
        route("wildcard-host-matches-listener-wildcard-host",
              [rule([prefix("/s4")], to(V1))],
              parents=[parent("httproute-hostname-intersection", NS)],
              hostnames=["*.anotherwildcard.io"]),
        route("no-intersecting-hosts", [rule([prefix("/s5")], to(V2))],
              parents=[parent("httproute-hostname-intersection", NS)],
              hostnames=["specific.but.wrong.com", "wildcard.io"])]


def route_hostnames_intersect_listener_hostnames():
    with Env(base_gateway=False) as env:
        env.add(intersection_gateways())
        env.start()
        p = env.port(80)
        run_table(env, [
            dict(host="very.specific.com", path="/s1", backend=V1),
            dict(host="very.specific.com:%d" % p, path="/s1", backend=V1),
            dict(host="non.matching.com", path="/s1", status=404),
            dict(host="foo.nonmatchingwildcard.io", path="/s1", status=404),
            dict(host="foo.wildcard.io", path="/s1", status=404),
            dict(host="very.specific.com", path="/non-matching-prefix",
                 status=404),
            dict(host="foo.wildcard.io", path="/s2", backend=V2),
            dict(host="bar.wildcard.io", path="/s2", backend=V2),
            dict(host="foo.bar.wildcard.io", path="/s2", backend=V2),
            dict(host="non.matching.com", path="/s2", status=404),
            dict(host="wildcard.io", path="/s2", status=404),
            dict(host="very.specific.com", path="/s2", status=404),
            dict(host="foo.wildcard.io", path="/non-matching-prefix",
                 status=404),
            dict(host="very.specific.com", path="/s3", backend=V3),
            dict(host="non.matching.com", path="/s3", status=404),
            dict(host="foo.specific.com", path="/s3", status=404),
            dict(host="foo.wildcard.io", path="/s3", status=404),
            dict(host="foo.anotherwildcard.io", path="/s4", backend=V1),
            dict(host="bar.anotherwildcard.io", path="/s4", backend=V1),
            dict(host="foo.bar.anotherwildcard.io", path="/s4", backend=V1),
            dict(host="anotherwildcard.io", path="/s4", status=404),
            dict(host="foo.wildcard.io", path="/s4", status=404),
            dict(host="very.specific.com", path="/s4", status=404),
            dict(host="foo.anotherwildcard.io", path="/non-matching-prefix",
                 status=404),
            dict(host="specific.but.wrong.com", path="/s5", status=404),
            dict(host="wildcard.io", path="/s5", status=404)])


def route_hostnames_on_a_listener_without_hostname():
    with Env(base_gateway=False) as env:
        env.add(gateway("httproute-hostname-intersection-all",
                        [listener("listener-1", 80)]))
        env.add(route("httproute-hostname-intersection-all",
                      [rule(backends=to(V2))],
                      parents=[parent("httproute-hostname-intersection-all",
                                      NS)],
                      hostnames=["first.com", "sub.first.com", "second.com",
                                 "sub.second.com"]))
        env.start()
        run_table(env, [
            dict(host="first.com", path="/", backend=V2),
            dict(host="sub.first.com", path="/", backend=V2),
            dict(host="second.com", path="/", backend=V2),
            dict(host="sub.second.com", path="/", backend=V2),
            dict(host="third.com", path="/", status=404),
            dict(host="sub.third.com", path="/", status=404)])


def listener_hostnames_select_routes_by_section_name():
    gw = "httproute-listener-hostname-matching"
    with Env(base_gateway=False) as env:
        env.add(gateway(gw, [
            listener("listener-1", 80, hostname="bar.com"),
            listener("listener-2", 80, hostname="foo.bar.com"),
            listener("listener-3", 80, hostname="*.bar.com"),
            listener("listener-4", 80, hostname="*.foo.com")]))
        env.add(route("backend-v1", [rule(backends=to(V1))],
                      parents=[parent(gw, NS, "listener-1")]))
        env.add(route("backend-v2", [rule(backends=to(V2))],
                      parents=[parent(gw, NS, "listener-2")]))
        env.add(route("backend-v3", [rule(backends=to(V3))],
                      parents=[parent(gw, NS, "listener-3"),
                               parent(gw, NS, "listener-4")]))
        env.start()
        run_table(env, [
            dict(host="bar.com", path="/", backend=V1),
            dict(host="foo.bar.com", path="/", backend=V2),
            dict(host="baz.bar.com", path="/", backend=V3),
            dict(host="boo.bar.com", path="/", backend=V3),
            dict(host="multiple.prefixes.bar.com", path="/", backend=V3),
            dict(host="multiple.prefixes.foo.com", path="/", backend=V3),
            dict(host="foo.com", path="/", status=404),
            dict(host="no.matching.host", path="/", status=404)])


def listener_ports_select_routes_by_parent_port():
    gw = "httproute-listener-port-matching"
    with Env(base_gateway=False) as env:
        env.add(gateway(gw, [
            listener("listener-1", 80, hostname="foo.com"),
            listener("listener-2", 8080, hostname="foo.com"),
            listener("listener-3", 8080, hostname="bar.com"),
            listener("listener-4", 8090, hostname="foo.com"),
            listener("listener-5", 8090, hostname="bar.com")]))
        env.add(route("backend-v1", [rule(backends=to(V1))],
                      parents=[parent(gw, NS, port=80)]))
        env.add(route("backend-v2", [rule(backends=to(V2))],
                      parents=[parent(gw, NS, port=8080)]))
        env.add(route("backend-v3", [rule(backends=to(V3))],
                      parents=[parent(gw, NS, "listener-4", port=8090)]))
        env.start()
        p8080, p8090 = env.port(8080), env.port(8090)
        run_table(env, [
            dict(host="foo.com", path="/", port=80, backend=V1),
            dict(host="foo.com:%d" % p8080, path="/", port=8080, backend=V2),
            dict(host="bar.com:%d" % p8080, path="/", port=8080, backend=V2),
            dict(host="foo.com:%d" % p8090, path="/", port=8090, backend=V3),
            dict(host="bar.com:%d" % p8090, path="/", port=8090,
                 status=404)])


# ---------------------------------------------------------------------------
# Header modifiers
# ---------------------------------------------------------------------------

def request_header_modifier_sets_adds_and_removes():
    def f(**kw):
        return [header_filter(**kw)]
    with Env() as env:
        env.add(route("request-header-modifier", [
            rule([prefix("/set")], to(V1), f(set=[("X-Header-Set",
                                                   "set-overwrites-values")])),
            rule([prefix("/add")], to(V1), f(add=[("X-Header-Add",
                                                   "add-appends-values")])),
            rule([prefix("/remove")], to(V1), f(remove=["X-Header-Remove"])),
            rule([prefix("/multiple")], to(V1), f(
                set=[("X-Header-Set-1", "header-set-1"),
                     ("X-Header-Set-2", "header-set-2")],
                add=[("X-Header-Add-1", "header-add-1"),
                     ("X-Header-Add-2", "header-add-2"),
                     ("X-Header-Add-3", "header-add-3")],
                remove=["X-Header-Remove-1", "X-Header-Remove-2"])),
            rule([prefix("/case-insensitivity")], to(V1), f(
                set=[("X-Header-Set", "header-set")],
                add=[("X-Header-Add", "header-add")],
                remove=["X-Header-Remove"]))]))
        env.start()
        request_header_cases(env)


def request_header_cases(env):
    run_table(env, [
        dict(path="/set", headers={"Some-Other-Header": "val"}, backend=V1,
             expect_headers={"Some-Other-Header": "val",
                             "X-Header-Set": "set-overwrites-values"}),
        dict(path="/set", headers={"Some-Other-Header": "val",
                                   "X-Header-Set": "some-other-value"},
             backend=V1,
             expect_headers={"Some-Other-Header": "val",
                             "X-Header-Set": "set-overwrites-values"}),
        dict(path="/add", headers={"Some-Other-Header": "val"}, backend=V1,
             expect_headers={"Some-Other-Header": "val",
                             "X-Header-Add": "add-appends-values"}),
        dict(path="/add", headers={"Some-Other-Header": "val",
                                   "X-Header-Add": "some-other-value"},
             backend=V1,
             expect_headers={"Some-Other-Header": "val",
                             "X-Header-Add":
                             "some-other-value,add-appends-values"}),
        dict(path="/remove", headers={"X-Header-Remove": "val"}, backend=V1,
             expect_headers={}, absent=["X-Header-Remove"]),
        dict(path="/multiple", headers={"X-Header-Set-2": "set-val-2",
                                        "X-Header-Add-2": "add-val-2",
                                        "X-Header-Remove-2": "remove-val-2",
                                        "Another-Header":
                                        "another-header-val"},
             backend=V1,
             expect_headers={"X-Header-Set-1": "header-set-1",
                             "X-Header-Set-2": "header-set-2",
                             "X-Header-Add-1": "header-add-1",
                             "X-Header-Add-2": "add-val-2,header-add-2",
                             "X-Header-Add-3": "header-add-3",
                             "Another-Header": "another-header-val"},
             absent=["X-Header-Remove-1", "X-Header-Remove-2"]),
        dict(path="/case-insensitivity",
             headers={"x-header-set": "original-val-set",
                      "x-header-add": "original-val-add",
                      "x-header-remove": "original-val-remove",
                      "Another-Header": "another-header-val"},
             backend=V1,
             expect_headers={"X-Header-Set": "header-set",
                             "X-Header-Add": "original-val-add,header-add",
                             "Another-Header": "another-header-val"},
             absent=["X-Header-Remove"])])


def request_header_modifier_on_a_backend_ref():
    """The same filters written on the backendRef instead of the rule."""
    def b(**kw):
        return [backend_ref(V1, filters=[header_filter(**kw)])]
    with Env() as env:
        env.add(route("request-header-modifier-backend", [
            rule([prefix("/set")], b(set=[("X-Header-Set",
                                           "set-overwrites-values")])),
            rule([prefix("/add")], b(add=[("X-Header-Add",
                                           "add-appends-values")])),
            rule([prefix("/remove")], b(remove=["X-Header-Remove"])),
            rule([prefix("/multiple")], b(
                set=[("X-Header-Set-1", "header-set-1"),
                     ("X-Header-Set-2", "header-set-2")],
                add=[("X-Header-Add-1", "header-add-1"),
                     ("X-Header-Add-2", "header-add-2"),
                     ("X-Header-Add-3", "header-add-3")],
                remove=["X-Header-Remove-1", "X-Header-Remove-2"])),
            rule([prefix("/case-insensitivity")], b(
                set=[("X-Header-Set", "header-set")],
                add=[("X-Header-Add", "header-add")],
                remove=["X-Header-Remove"]))]))
        env.start()
        request_header_cases(env)


def backend_ref_header_filters_follow_the_chosen_backend():
    with Env() as env:
        env.add(route("request-header-modifier-backend-weights", [rule(
            backends=[backend_ref(V1, weight=10, filters=[header_filter(
                set=[("Backend", V1)])]),
                backend_ref(V2, weight=10, filters=[header_filter(
                    set=[("Backend", V2)])])])]))
        env.start()
        seen = set()
        t = Table()
        for i in range(100):
            def one():
                r = env.request("/")
                expect_status(r, 200)
                rec = r.json()
                got = [v for k, v in rec["headers"].items()
                       if k.lower() == "backend"]
                check(got == [[rec["backend"]]],
                      "request reached %s with Backend header %r"
                      % (rec["backend"], got))
                seen.add(rec["backend"])
            t.run("GET / #%d" % i, one)
        t.done()
        check(seen == {V1, V2}, "100 requests at weights 10/10 reached only"
              " %s" % sorted(seen))


def response_header_modifier_sets_adds_and_removes():
    def f(**kw):
        return [response_header_filter(**kw)]
    with Env() as env:
        env.add(route("response-header-modifier", [
            rule([prefix("/set")], to(V1), f(set=[("X-Header-Set",
                                                   "set-overwrites-values")])),
            rule([prefix("/add")], to(V1), f(add=[("X-Header-Add",
                                                   "add-appends-values")])),
            rule([prefix("/remove")], to(V1), f(remove=["X-Header-Remove"])),
            rule([prefix("/multiple")], to(V1), f(
                set=[("X-Header-Set-1", "header-set-1"),
                     ("X-Header-Set-2", "header-set-2")],
                add=[("X-Header-Add-1", "header-add-1"),
                     ("X-Header-Add-2", "header-add-2"),
                     ("X-Header-Add-3", "header-add-3")],
                remove=["X-Header-Remove-1", "X-Header-Remove-2"])),
            rule([prefix("/case-insensitivity")], to(V1), f(
                set=[("X-Header-Set", "header-set")],
                add=[("X-Header-Add", "header-add"),
                     ("x-lowercase-add", "lowercase-add"),
                     ("x-Mixedcase-ADD-1", "mixedcase-add-1"),
                     ("X-mixeDcase-add-2", "mixedcase-add-2"),
                     ("X-UPPERCASE-ADD", "uppercase-add")],
                remove=["X-Header-Remove"])),
            rule([prefix("/response-and-request-header-modifiers")], to(V1), [
                response_header_filter(
                    set=[("X-Header-Set-1", "header-set-1"),
                         ("X-Header-Set-2", "header-set-2")],
                    add=[("X-Header-Add-1", "header-add-1"),
                         ("X-Header-Add-2", "header-add-2")],
                    remove=["X-Header-Remove-1", "X-Header-Remove-2"]),
                header_filter(
                    set=[("X-Header-Set", "set-overwrites-values")],
                    add=[("X-Header-Add", "header-val-1"),
                         ("X-Header-Add-Append", "header-val-2")],
                    remove=["X-Header-Remove"])])]))
        env.start()

        def echo_set(d):
            """The backend sets these response headers (X-Echo-Set-Header)."""
            return ",".join("%s:%s" % kv for kv in d.items())

        def case(path, backend_sets, resp_headers, resp_absent=(),
                 req_headers=None, expect_headers=None, absent=()):
            hdrs = dict(req_headers or {})
            hdrs["X-Echo-Set-Header"] = echo_set(backend_sets)
            return dict(path=path, headers=hdrs, backend=V1,
                        expect_headers=expect_headers or {}, absent=absent,
                        resp_headers=resp_headers, resp_absent=resp_absent)
        run_table(env, [
            case("/set", {"Some-Other-Header": "val"},
                 {"Some-Other-Header": "val",
                  "X-Header-Set": "set-overwrites-values"}),
            case("/set", {"Some-Other-Header": "val",
                          "X-Header-Set": "some-other-value"},
                 {"Some-Other-Header": "val",
                  "X-Header-Set": "set-overwrites-values"}),
            case("/add", {"Some-Other-Header": "val"},
                 {"Some-Other-Header": "val",
                  "X-Header-Add": "add-appends-values"}),
            case("/add", {"Some-Other-Header": "val",
                          "X-Header-Add": "some-other-value"},
                 {"Some-Other-Header": "val",
                  "X-Header-Add": "some-other-value,add-appends-values"}),
            case("/remove", {"X-Header-Remove": "val"}, {},
                 ["X-Header-Remove"]),
            case("/multiple", {"X-Header-Set-2": "set-val-2",
                               "X-Header-Add-2": "add-val-2",
                               "X-Header-Remove-2": "remove-val-2",
                               "Another-Header": "another-header-val",
                               "X-Header-Remove-1": "val"},
                 {"X-Header-Set-1": "header-set-1",
                  "X-Header-Set-2": "header-set-2",
                  "X-Header-Add-1": "header-add-1",
                  "X-Header-Add-2": "add-val-2,header-add-2",
                  "X-Header-Add-3": "header-add-3",
                  "Another-Header": "another-header-val"},
                 ["X-Header-Remove-1", "X-Header-Remove-2"]),
            case("/case-insensitivity",
                 {"x-header-set": "original-val-set",
                  "x-header-add": "original-val-add",
                  "x-header-remove": "original-val-remove",
                  "Another-Header": "another-header-val"},
                 {"X-Header-Set": "header-set",
                  "X-Header-Add": "original-val-add,header-add",
                  "X-Lowercase-Add": "lowercase-add",
                  "X-Mixedcase-Add-1": "mixedcase-add-1",
                  "X-Mixedcase-Add-2": "mixedcase-add-2",
                  "X-Uppercase-Add": "uppercase-add",
                  "Another-Header": "another-header-val"},
                 ["x-header-remove"]),
            case("/response-and-request-header-modifiers",
                 {"X-Header-Set-2": "set-val-2",
                  "X-Header-Add-2": "add-val-2",
                  "X-Header-Remove-2": "remove-val-2",
                  "Another-Header": "another-header-val",
                  "X-Header-Remove-1": "remove-val-1",
                  "X-Header-Echo": "echo"},
                 {"X-Header-Set-1": "header-set-1",
                  "X-Header-Set-2": "header-set-2",
                  "X-Header-Add-1": "header-add-1",
                  "X-Header-Add-2": "add-val-2,header-add-2",
                  "Another-Header": "another-header-val",
                  "X-Header-Echo": "echo"},
                 ["X-Header-Remove-1", "X-Header-Remove-2"],
                 req_headers={"X-Header-Remove": "remove-val",
                              "X-Header-Add-Append": "append-val-1",
                              "X-Header-Echo": "echo"},
                 expect_headers={"X-Header-Add": "header-val-1",
                                 "X-Header-Set": "set-overwrites-values",
                                 "X-Header-Add-Append":
                                 "append-val-1,header-val-2",
                                 "X-Header-Echo": "echo"},
                 absent=["X-Header-Remove"])])


# ---------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------

def redirect_table(env, cases, port=80, tls=False, host=None):
    """cases: (path, status, scheme, host, port or None, location path);
    the request carries Host `host` (default 127.0.0.1:<real port>)."""
    t = Table()
    for c in cases:
        def one(c=c):
            r = env.request(c[0], port=port, tls=tls, host=host)
            expect_redirect(r, *c[1:])
        t.run(c[0], one)
    t.done()


def redirect_sets_hostname_and_status():
    with Env() as env:
        env.add(route("redirect-host-and-status", [
            rule([prefix("/hostname-redirect")],
                 filters=[redirect_filter(hostname="example.org")]),
            rule([prefix("/host-and-status")],
                 filters=[redirect_filter(hostname="example.org",
                                          status=301)])]))
        env.start()
        p = env.port(80)
        redirect_table(env, [
            ("/hostname-redirect", 302, "http", "example.org", p,
             "/hostname-redirect"),
            ("/host-and-status", 301, "http", "example.org", p,
             "/host-and-status")])


def redirect_replaces_path_prefix_or_full_path():
    with Env() as env:
        env.add(route("redirect-path", [
            rule([prefix("/original-prefix")], filters=[
                redirect_filter(prefix="/replacement-prefix")]),
            rule([prefix("/full")], filters=[
                redirect_filter(full="/full-path-replacement")]),
            rule([prefix("/path-and-host")], filters=[
                redirect_filter(hostname="example.org",
                                prefix="/replacement-prefix")]),
            rule([prefix("/path-and-status")], filters=[
                redirect_filter(prefix="/replacement-prefix", status=301)]),
            rule([prefix("/full-path-and-host")], filters=[
                redirect_filter(hostname="example.org",
                                full="/replacement-full")]),
            rule([prefix("/full-path-and-status")], filters=[
                redirect_filter(full="/replacement-full", status=301)])]))
        env.start()
        p = env.port(80)
        h = "127.0.0.1"
        redirect_table(env, [
            ("/original-prefix/lemon", 302, "http", h, p,
             "/replacement-prefix/lemon"),
            ("/full/path/original", 302, "http", h, p,
             "/full-path-replacement"),
            ("/path-and-host", 302, "http", "example.org", p,
             "/replacement-prefix"),
            ("/path-and-status", 301, "http", h, p, "/replacement-prefix"),
            ("/full-path-and-host", 302, "http", "example.org", p,
             "/replacement-full"),
            ("/full-path-and-status", 301, "http", h, p,
             "/replacement-full"),
            # the query string is kept
            ("/original-prefix/lemon?x=1", 302, "http", h, p,
             "/replacement-prefix/lemon?x=1")])


def redirect_sets_port():
    with Env() as env:
        env.add(route("redirect-port", [
            rule([prefix("/port")], filters=[redirect_filter(port=8083)]),
            rule([prefix("/port-and-host")], filters=[
                redirect_filter(hostname="example.org", port=8083)]),
            rule([prefix("/port-and-status")], filters=[
                redirect_filter(port=8083, status=301)]),
            rule([prefix("/port-and-host-and-status")], filters=[
                redirect_filter(port=8083, hostname="example.org",
                                status=302)])]))
        env.start()
        h = "127.0.0.1"
        redirect_table(env, [
            ("/port", 302, "http", h, 8083, "/port"),
            ("/port-and-host", 302, "http", "example.org", 8083,
             "/port-and-host"),
            ("/port-and-status", 301, "http", h, 8083, "/port-and-status"),
            ("/port-and-host-and-status", 302, "http", "example.org", 8083,
             "/port-and-host-and-status")])


def redirect_sets_scheme():
    with Env() as env:
        env.add(route("redirect-scheme", [
            rule([prefix("/scheme")], filters=[
                redirect_filter(scheme="https")]),
            rule([prefix("/scheme-and-host")], filters=[
                redirect_filter(hostname="example.org", scheme="https")]),
            rule([prefix("/scheme-and-status")], filters=[
                redirect_filter(scheme="https", status=301)]),
            rule([prefix("/scheme-and-host-and-status")], filters=[
                redirect_filter(scheme="https", status=302,
                                hostname="example.org")])]))
        env.start()
        h = "127.0.0.1"
        # A scheme without a port: the scheme's well-known port.
        redirect_table(env, [
            ("/scheme", 302, "https", h, None, "/scheme"),
            ("/scheme-and-host", 302, "https", "example.org", None,
             "/scheme-and-host"),
            ("/scheme-and-status", 301, "https", h, None,
             "/scheme-and-status"),
            ("/scheme-and-host-and-status", 302, "https", "example.org",
             None, "/scheme-and-host-and-status")])


def redirect_port_and_scheme_follow_the_listener():
    with Env() as env:
        certs = env.certs()
        cert, key = certs.server("example", ["example.org"])
        env.add(tls_secret("tls-validity-checks-certificate", cert, key))
        env.add(gateway("same-namespace-with-http-listener-on-8080",
                        [listener("http", 8080)]))
        env.add(gateway("same-namespace-with-https-listener", [
            listener("https", 443, "HTTPS",
                     certs=["tls-validity-checks-certificate"])]))

        def r(path, **kw):
            return rule([prefix(path)], filters=[
                redirect_filter(hostname="example.org", **kw)])
        env.add(route("http-route-for-listener-on-port-80", [
            r("/scheme-nil-and-port-nil"),
            r("/scheme-nil-and-port-80", port=80),
            r("/scheme-nil-and-port-8080", port=8080),
            r("/scheme-https-and-port-nil", scheme="https"),
            r("/scheme-https-and-port-443", scheme="https", port=443),
            r("/scheme-https-and-port-8443", scheme="https", port=8443)]))
        env.add(route("http-route-for-listener-on-port-8080", [
            r("/scheme-nil-and-port-nil"),
            r("/scheme-nil-and-port-80", port=80),
            r("/scheme-https-and-port-nil", scheme="https")],
            parents=[parent("same-namespace-with-http-listener-on-8080")]))
        env.add(route("http-route-for-listener-on-port-443", [
            r("/scheme-nil-and-port-nil"),
            r("/scheme-nil-and-port-443", port=443),
            r("/scheme-nil-and-port-8443", port=8443),
            r("/scheme-http-and-port-nil", scheme="http"),
            r("/scheme-http-and-port-80", scheme="http", port=80),
            r("/scheme-http-and-port-8080", scheme="http", port=8080)],
            parents=[parent("same-namespace-with-https-listener")]))
        env.start()
        p80, p8080, p443 = env.port(80), env.port(8080), env.port(443)
        e = "example.org"
        t = Table()
        # Port 80 stands for a listener on a free port p80: with no scheme
        # and no port the Location keeps the listener's port.
        t.run("listener 80", lambda: redirect_table(env, [
            ("/scheme-nil-and-port-nil", 302, "http", e, p80,
             "/scheme-nil-and-port-nil"),
            ("/scheme-nil-and-port-80", 302, "http", e, 80,
             "/scheme-nil-and-port-80"),
            ("/scheme-nil-and-port-8080", 302, "http", e, 8080,
             "/scheme-nil-and-port-8080"),
            ("/scheme-https-and-port-nil", 302, "https", e, 443,
             "/scheme-https-and-port-nil"),
            ("/scheme-https-and-port-443", 302, "https", e, 443,
             "/scheme-https-and-port-443"),
            ("/scheme-https-and-port-8443", 302, "https", e, 8443,
             "/scheme-https-and-port-8443")],
            port=80, host="example.com:%d" % p80))
        t.run("listener 8080", lambda: redirect_table(env, [
            ("/scheme-nil-and-port-nil", 302, "http", e, p8080,
             "/scheme-nil-and-port-nil"),
            ("/scheme-nil-and-port-80", 302, "http", e, 80,
             "/scheme-nil-and-port-80"),
            ("/scheme-https-and-port-nil", 302, "https", e, 443,
             "/scheme-https-and-port-nil")],
            port=8080, host="example.com:%d" % p8080))
        t.run("listener 443", lambda: redirect_table(env, [
            ("/scheme-nil-and-port-nil", 302, "https", e, p443,
             "/scheme-nil-and-port-nil"),
            ("/scheme-nil-and-port-443", 302, "https", e, 443,
             "/scheme-nil-and-port-443"),
            ("/scheme-nil-and-port-8443", 302, "https", e, 8443,
             "/scheme-nil-and-port-8443"),
            ("/scheme-http-and-port-nil", 302, "http", e, 80,
             "/scheme-http-and-port-nil"),
            ("/scheme-http-and-port-80", 302, "http", e, 80,
             "/scheme-http-and-port-80"),
            ("/scheme-http-and-port-8080", 302, "http", e, 8080,
             "/scheme-http-and-port-8080")],
            port=443, tls=True, host="example.org:%d" % p443))
        t.done()


def redirect_with_303_307_308_status():
    with Env() as env:
        env.add(route("redirect-codes", [
            rule([prefix("/see-other")], filters=[redirect_filter(
                status=303)]),
            rule([prefix("/temporary")], filters=[redirect_filter(
                status=307)]),
            rule([prefix("/permanent")], filters=[redirect_filter(
                status=308)])]))
        env.start()
        p = env.port(80)
        t = Table()
        for method, path, status in (("POST", "/see-other", 303),
                                     ("GET", "/temporary", 307),
                                     ("GET", "/permanent", 308)):
            def one(method=method, path=path, status=status):
                r = env.request(path, method=method)
                expect_redirect(r, status, "http", "127.0.0.1", p, path)
            t.run(path, one)
        t.done()


def redirect_on_a_backend_ref():
    with Env() as env:
        env.add(route("backend-request-redirect", [
            rule([prefix("/full")], [backend_ref(V1, filters=[
                redirect_filter(full="/redirected-full")])]),
            rule([prefix("/prefix")], [backend_ref(V1, filters=[
                redirect_filter(prefix="/redirected-prefix")])])]))
        env.start()
        p = env.port(80)
        redirect_table(env, [
            ("/full/original", 302, "http", "127.0.0.1", p,
             "/redirected-full"),
            ("/prefix/original", 302, "http", "127.0.0.1", p,
             "/redirected-prefix/original")])
        check(env.backends[V1].count() == 0,
              "a redirect reached the backend: %r"
              % env.backends[V1].received())


# ---------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------

MODIFY = dict(set=[("X-Header-Set", "set-overwrites-values")],
              add=[("X-Header-Add", "header-val-1"),
                   ("X-Header-Add-Append", "header-val-2")],
              remove=["X-Header-Remove"])
MODIFY_SENT = {"X-Header-Remove": "remove-val",
               "X-Header-Add-Append": "append-val-1"}
MODIFY_SEEN = {"X-Header-Add": "header-val-1",
               "X-Header-Add-Append": "append-val-1,header-val-2",
               "X-Header-Set": "set-overwrites-values"}


def rewrite_replaces_host():
    with Env() as env:
        env.add(route("rewrite-host", [
            rule([prefix("/one")], to(V1),
                 [rewrite_filter("one.example.org")]),
            rule(None, to(V2), [rewrite_filter("example.org")]),
            rule([prefix("/rewrite-host-and-modify-headers")], to(V2), [
                rewrite_filter("test.example.org"),
                header_filter(**MODIFY)])],
            hostnames=["rewrite.example"]))
        env.start()
        run_table(env, [
            dict(host="rewrite.example", path="/one", backend=V1,
                 expect_host="one.example.org"),
            dict(host="rewrite.example", path="/two", backend=V2,
                 expect_host="example.org"),
            dict(host="rewrite.example",
                 path="/rewrite-host-and-modify-headers",
                 headers=MODIFY_SENT, backend=V2,
                 expect_host="test.example.org", expect_headers=MODIFY_SEEN,
                 absent=["X-Header-Remove"])])


def rewrite_replaces_path_prefix_or_full_path():
    with Env() as env:
        env.add(route("rewrite-path", [
            rule([prefix("/prefix/one")], to(V1),
                 [rewrite_filter(prefix="/one")]),
            rule([prefix("/strip-prefix")], to(V1),
                 [rewrite_filter(prefix="/")]),
            rule([prefix("/full/one")], to(V1), [rewrite_filter(full="/one")]),
            rule([prefix("/full/rewrite-path-and-modify-headers")], to(V1), [
                rewrite_filter(full="/test"), header_filter(**MODIFY)]),
            rule([prefix("/prefix/rewrite-path-and-modify-headers")], to(V1), [
                rewrite_filter(prefix="/prefix"), header_filter(**MODIFY)])]))
        env.start()
        sent = dict(MODIFY_SENT, **{"X-Header-Set": "set-val"})
        run_table(env, [
            dict(path="/prefix/one/two", backend=V1, expect_path="/one/two"),
            dict(path="/strip-prefix/three", backend=V1,
                 expect_path="/three"),
            dict(path="/strip-prefix", backend=V1, expect_path="/"),
            dict(path="/full/one/two", backend=V1, expect_path="/one"),
            dict(path="/full/rewrite-path-and-modify-headers/test",
                 headers=sent, backend=V1, expect_path="/test",
                 expect_headers=MODIFY_SEEN, absent=["X-Header-Remove"]),
            dict(path="/prefix/rewrite-path-and-modify-headers/one",
                 headers=sent, backend=V1, expect_path="/prefix/one",
                 expect_headers=MODIFY_SEEN, absent=["X-Header-Remove"]),
            # the query string is kept
            dict(path="/prefix/one/two?a=b", backend=V1,
                 expect_path="/one/two?a=b")])


def rewrite_on_a_backend_ref():
    with Env() as env:
        env.add(route("backend-url-rewrite", [
            rule([prefix("/full")], [backend_ref(V1, filters=[
                rewrite_filter(full="/rewritten-full")])]),
            rule([prefix("/prefix")], [backend_ref(V1, filters=[
                rewrite_filter(prefix="/rewritten-prefix")])])]))
        env.start()
        run_table(env, [
            dict(path="/full/original", backend=V1,
                 expect_path="/rewritten-full"),
            dict(path="/prefix/original", backend=V1,
                 expect_path="/rewritten-prefix/original")])


# ---------------------------------------------------------------------------
# Weights and mirrors
# ---------------------------------------------------------------------------

def within(count, n, p, sds=4.0):
    """Whether count is within sds standard deviations of a binomial
    (n, p) mean."""
    mean = n * p
    sd = (n * p * (1 - p)) ** 0.5
    return abs(count - mean) <= sds * sd


def weights_split_traffic_in_proportion():
    n = 500
    with Env() as env:
        env.add(route("weighted-backends", [rule(backends=[
            backend_ref(V1, weight=70), backend_ref(V2, weight=30),
            backend_ref(V3, weight=0)])]))
        env.start()
        counts = {V1: 0, V2: 0, V3: 0}
        for i in range(n):
            r = env.request("/?n=%d" % i)
            expect_status(r, 200)
            counts[r.json()["backend"]] += 1
        check(counts[V3] == 0, "weight 0 got traffic: %s" % counts)
        check(within(counts[V1], n, 0.7) and within(counts[V2], n, 0.3),
              "%d requests at weights 70/30/0 split as %s" % (n, counts))


def settled_count(backend, path_prefix, timeout=5.0):
    """The backend's request count once it stops changing (mirrors may
    arrive after the answers)."""
    last = -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = backend.count(path_prefix)
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    return backend.count(path_prefix)


def request_mirror_copies_each_request():
    with Env() as env:
        env.add(route("request-mirror", [
            rule([prefix("/mirror")], to(V1), [mirror_filter(V2)]),
            rule([prefix("/mirror-and-modify-headers")], to(V1), [
                header_filter(**MODIFY), mirror_filter(V2)])]))
        env.start()
        t = Table()
        for path, sent, seen, absent in (
                ("/mirror", {}, {}, ()),
                ("/mirror-and-modify-headers", MODIFY_SENT, MODIFY_SEEN,
                 ("X-Header-Remove",))):
            def one(path=path, sent=sent, seen=seen, absent=absent):
                target = "%s?request-id=%s" % (path, uuid.uuid4())
                r = env.request(target, headers=sent)
                expect_backend(r, V1, path=target, headers=seen,
                               absent=absent)
                mirror = env.backends[V2]
                check(mirror.wait_count(1, target) == 1 and
                      settled_count(mirror, target, 1.0) == 1,
                      "the mirror got %d copies of %s"
                      % (mirror.count(target), target))
            t.run(path, one)
        t.done()


def request_mirror_percent_mirrors_that_share():
    n = 400
    with Env() as env:
        env.add(route("request-percentage-mirror", [
            rule([prefix("/percent-mirror")], to(V1),
                 [mirror_filter(V2, percent=20)]),
            rule([prefix("/percent-mirror-fraction")], to(V1),
                 [mirror_filter(V2, fraction=(25, 50))]),
            rule([prefix("/percent-mirror-and-modify-headers")], to(V1), [
                header_filter(**MODIFY), mirror_filter(V2, percent=35)])]))
        env.start()
        t = Table()
        for path, p in (("/percent-mirror", 0.2),
                        ("/percent-mirror-fraction", 0.5),
                        ("/percent-mirror-and-modify-headers", 0.35)):
            def one(path=path, p=p):
                for i in range(n):
                    r = env.request("%s?i=%d" % (path, i))
                    expect_status(r, 200)
                got = settled_count(env.backends[V2], path + "?")
                check(within(got, n, p),
                      "%s mirrored %d of %d requests, expected about %d"
                      % (path, got, n, n * p))
            t.run(path, one)
        t.done()


def multiple_mirrors_each_get_a_copy():
    with Env() as env:
        env.add(route("request-multiple-mirrors", [
            rule([prefix("/multi-mirror")], to(V1),
                 [mirror_filter(V2), mirror_filter(V3)]),
            rule([prefix("/multi-mirror-and-modify-request-headers")], to(V1),
                 [header_filter(**MODIFY), mirror_filter(V2),
                  mirror_filter(V3)])]))
        env.start()
        t = Table()
        for path, sent, seen in (
                ("/multi-mirror", {}, {}),
                ("/multi-mirror-and-modify-request-headers", MODIFY_SENT,
                 MODIFY_SEEN)):
            def one(path=path, sent=sent, seen=seen):
                target = "%s?request-id=%s" % (path, uuid.uuid4())
                r = env.request(target, headers=sent)
                expect_backend(r, V1, path=target, headers=seen)
                for m in (V2, V3):
                    be = env.backends[m]
                    check(be.wait_count(1, target) == 1 and
                          settled_count(be, target, 1.0) == 1,
                          "mirror %s got %d copies of %s"
                          % (m, be.count(target), target))
            t.run(path, one)
        t.done()


def unresolved_mirror_does_not_stop_the_request():
    with Env() as env:
        env.add(route("mirror-to-nowhere", [
            rule([prefix("/")], to(V1), [mirror_filter("nonexistent")])]))
        env.start()
        run_table(env, [dict(path="/x", backend=V1)])


# ---------------------------------------------------------------------------
# Timeouts and retries
# ---------------------------------------------------------------------------

def request_timeout_gives_504():
    with Env() as env:
        env.add(route("request-timeout", [
            rule([prefix("/request-timeout")], to(V1),
                 timeouts={"request": "500ms"}),
            rule([prefix("/disable-request-timeout")], to(V1),
                 timeouts={"request": "0s"})]))
        env.start()
        t = Table()

        def slow():
            # The backend would answer after 2 s: a 504 well before
            # that is the 500ms timeout.
            r = env.request("/request-timeout?delay=2s")
            expect_status(r, 504)
            check(r.elapsed < 1.5, "504 after %.2fs: the timeout is 500ms"
                  % r.elapsed)
        t.run("fast", lambda: expect_backend(env.request("/request-timeout"),
                                             V1))
        t.run("slow", slow)
        t.run("disabled", lambda: expect_backend(
            env.request("/disable-request-timeout?delay=1s"), V1))
        t.done()


def backend_request_timeout_gives_504():
    with Env() as env:
        env.add(route("backend-request-timeout", [
            rule([prefix("/backend-timeout")], to(V1),
                 timeouts={"backendRequest": "500ms"}),
            rule([prefix("/disable-backend-timeout")], to(V1),
                 timeouts={"backendRequest": "0s"})]))
        env.start()
        t = Table()

        def slow():
            # The backend would answer after 2 s: a 504 well before
            # that is the 500ms timeout.
            r = env.request("/backend-timeout?delay=2s")
            expect_status(r, 504)
            check(r.elapsed < 1.5, "504 after %.2fs: the timeout is 500ms"
                  % r.elapsed)
        t.run("fast", lambda: expect_backend(env.request("/backend-timeout"),
                                             V1))
        t.run("slow", slow)
        t.run("disabled", lambda: expect_backend(
            env.request("/disable-backend-timeout?delay=1s"), V1))
        t.done()


def retry_resends_on_listed_codes_up_to_attempts():
    """attempts is the number of retries after the first try: the backend
    sees exactly 1 + retries requests."""
    with Env() as env:
        env.add(route("retries", [
            rule([prefix("/retry/code-500-attempts-3")], to(V3),
                 retry={"codes": [500], "attempts": 3}),
            rule([prefix("/retry/code-all-attempts-2")], to(V3),
                 retry={"codes": [500, 502, 503, 504], "attempts": 2})]))
        env.start()
        be = env.backends[V3]
        t = Table()
        for path, code, fail, want, tries in (
                ("/retry/code-500-attempts-3", 500, 2, 200, 3),
                ("/retry/code-500-attempts-3", 500, 4, 500, 4),
                ("/retry/code-500-attempts-3", 503, 2, 503, 1),
                ("/retry/code-all-attempts-2", 500, 1, 200, 2),
                ("/retry/code-all-attempts-2", 500, 3, 500, 3),
                ("/retry/code-all-attempts-2", 502, 1, 200, 2),
                ("/retry/code-all-attempts-2", 502, 3, 502, 3),
                ("/retry/code-all-attempts-2", 503, 1, 200, 2),
                ("/retry/code-all-attempts-2", 503, 3, 503, 3),
                ("/retry/code-all-attempts-2", 504, 1, 200, 2),
                ("/retry/code-all-attempts-2", 504, 3, 504, 3)):
            def one(path=path, code=code, fail=fail, want=want, tries=tries):
                rid = uuid.uuid4().hex
                target = "%s?status=%d&fail=%d&id=%s" % (path, code, fail,
                                                         rid)
                r = env.request(target)
                expect_status(r, want)
                got = settled_count(be, target, 1.0)
                check(got == tries, "the backend saw %d tries, expected %d"
                      % (got, tries))
            t.run("%s status=%d fail=%d" % (path, code, fail), one)
        t.done()


def retry_resends_after_connection_errors_up_to_attempts():
    """A retry without codes retries a request whose connection the
    backend reset (no answer): with attempts 3 a backend that resets 2
    times serves the third try; one that resets 4 times leaves the
    client a 500 or 503, after exactly 1 + 3 tries."""
    with Env() as env:
        env.add(route("retries-connection-error", [
            rule([prefix("/retry/no-status-code-attempts-3")], to(V3),
                 retry={"attempts": 3})]))
        env.start()
        be = env.backends[V3]
        t = Table()
        for resets, want, tries in ((2, (200,), 3), (4, (500, 503), 4)):
            def one(resets=resets, want=want, tries=tries):
                target = "/retry/no-status-code-attempts-3?reset=%d&id=%s" \
                    % (resets, uuid.uuid4().hex)
                r = env.request(target)
                check(r.status in want, "%s: status %d, expected %s; body %r"
                      % (target, r.status, " or ".join(map(str, want)),
                         r.body[:200]))
                if r.status == 200:
                    expect_backend(r, V3, path=target)
                got = settled_count(be, target, 1.0)
                check(got == tries, "the backend saw %d tries, expected %d"
                      % (got, tries))
            t.run("reset %d times" % resets, one)
        t.done()


def backend_that_refuses_connections_answers_503():
    """A Service whose only endpoint refuses connections (nothing listens
    on its port): 503, with or without retries, never nginx's 502; a 502
    the backend itself answers still passes unchanged."""
    with Env(backends=[(V1, NS)]) as env:
        env.infra.extend(service_docs("refusing", NS, free_port()))
        env.add(route("refusing", [
            rule([prefix("/once")], to("refusing")),
            rule([prefix("/retried")], to("refusing"),
                 retry={"attempts": 3}),
            rule([prefix("/own-502")], to(V1))]))
        env.start()
        run_table(env, [dict(path="/once", status=503),
                        dict(path="/retried", status=503),
                        dict(path="/own-502?status=502", status=502)])


def retry_with_timeouts():
    with Env() as env:
        env.add(route("retries-with-timeouts", [
            rule([prefix("/retry/backend-request-timeout-200ms")], to(V3),
                 retry={"attempts": 2},
                 timeouts={"backendRequest": "200ms"}),
            rule([prefix("/retry/request-timeout-200ms")], to(V3),
                 retry={"codes": [500], "attempts": 5},
                 timeouts={"backendRequest": "200ms", "request": "400ms"})]))
        env.start()
        t = Table()
        for path, fail, delay, want in (
                ("/retry/backend-request-timeout-200ms", 2, "300ms", 200),
                ("/retry/backend-request-timeout-200ms", 3, "300ms", 504),
                ("/retry/request-timeout-200ms", 1, None, 200),
                ("/retry/request-timeout-200ms", 4, "100ms", 504)):
            def one(path=path, fail=fail, delay=delay, want=want):
                target = "%s?status=500&fail=%d&id=%s" % (path, fail,
                                                          uuid.uuid4().hex)
                if delay:
                    target += "&fail_delay=" + delay
                expect_status(env.request(target), want)
            t.run("%s fail=%d delay=%s" % (path, fail, delay), one)
        t.done()


def named_rules_serve_like_unnamed_ones():
    with Env() as env:
        env.add(route("http-named-rules", [
            rule([prefix("/named")], to(V1), name="named-rule"),
            rule([prefix("/unnamed")], to(V2))]))
        env.start()
        run_table(env, [dict(path="/named", backend=V1),
                        dict(path="/unnamed", backend=V2)])


# ---------------------------------------------------------------------------
# Namespaces, ReferenceGrant, invalid references
# ---------------------------------------------------------------------------

def backend_namespaces_gateway():
    return gateway("backend-namespaces", [listener(
        "http", 80, from_="Selector",
        selector={"gateway-conformance": "backend"})])


def cross_namespace_route_attaches_through_a_selector():
    with Env(base_gateway=False) as env:
        env.add(backend_namespaces_gateway())
        env.add(route("cross-namespace", [rule(backends=to("web-backend"))],
                      parents=[parent("backend-namespaces", NS)],
                      ns=WEB_NS))
        # A route in a namespace the selector does not pick: not attached.
        env.add(route("infra-route", [rule([prefix("/infra")], to(V1))],
                      parents=[parent("backend-namespaces", NS)]))
        env.start()
        run_table(env, [dict(path="/", backend="web-backend", ns=WEB_NS),
                        dict(path="/infra", backend="web-backend",
                             ns=WEB_NS)])


def reference_grant_permits_a_cross_namespace_backend():
    grant = reference_grant("reference-grant", WEB_NS, NS,
                            to_name="web-backend")
    with Env() as env:
        env.add(grant)
        env.add(route("reference-grant", [rule(backends=to(
            "web-backend", ns=WEB_NS))]))
        env.start()
        run_table(env, [dict(path="/", backend="web-backend", ns=WEB_NS)])
        # Without the grant the same route answers 500.
        env.remove_docs(lambda d: d.get("kind") == "ReferenceGrant")
        env.reload()
        run_table(env, [dict(path="/", status=500)])


def reference_grant_that_does_not_match_gives_500():
    with Env() as env:
        env.add(
            reference_grant("reference-grant-wrong-namespace", NS, NS,
                            to_name="web-backend"),
            reference_grant("reference-grant-wrong-from-group", WEB_NS, NS,
                            from_group="not-the-group-youre-looking-for",
                            to_name="web-backend"),
            reference_grant("reference-grant-wrong-from-kind", WEB_NS, NS,
                            from_kind="Gateway", to_name="web-backend"),
            reference_grant("reference-grant-wrong-from-namespace", WEB_NS,
                            "not-the-namespace-youre-looking-for",
                            to_name="web-backend"),
            reference_grant("reference-grant-wrong-to-group", WEB_NS, NS,
                            to_group="not-the-group-youre-looking-for",
                            to_name="web-backend"),
            reference_grant("reference-grant-wrong-to-kind", WEB_NS, NS,
                            to_kind="Secret", to_name="web-backend"),
            reference_grant("reference-grant-wrong-to-name", WEB_NS, NS,
                            to_name="not-the-service-youre-looking-for"))
        env.add(route("reference-grant", [rule(backends=to(
            "web-backend", ns=WEB_NS))]))
        env.start()
        run_table(env, [dict(path="/", status=500)])
        check(env.backends["web-backend"].count() == 0,
              "an unpermitted backend got traffic")


def reference_grant_for_one_service_leaves_the_other_invalid():
    with Env() as env:
        env.add(reference_grant("invalid-reference-grant", APP_NS, NS,
                                to_name="app-backend-v1"))
        env.add(route("invalid-reference-grant", [
            rule([prefix("/v2")], to("app-backend-v2", ns=APP_NS)),
            rule(backends=to("app-backend-v1", ns=APP_NS))]))
        env.start()
        run_table(env, [dict(path="/v2", status=500),
                        dict(path="/", backend="app-backend-v1", ns=APP_NS)])


def nonexistent_backend_gives_500():
    with Env() as env:
        env.add(route("invalid-nonexistent-backend-ref", [rule(
            backends=to("nonexistent", ns=NS))]))
        env.start()
        run_table(env, [dict(path="/", status=500)])


def unknown_backend_kind_gives_500():
    with Env() as env:
        env.add(route("invalid-backend-ref-unknown-kind", [rule(
            backends=to(V1, kind="NonExistent",
                        group="unknownkind.example.com"))]))
        env.start()
        run_table(env, [dict(path="/v2", status=500)])
        check(env.backends[V1].count() == 0,
              "a ref of unknown kind reached the Service of that name")


def cross_namespace_backend_without_grant_gives_500():
    with Env() as env:
        env.add(route("invalid-cross-namespace-backend-ref", [rule(
            backends=to("web-backend", ns=WEB_NS))]))
        env.start()
        run_table(env, [dict(path="/", status=500)])


def invalid_backend_keeps_its_share_of_weight_as_500():
    n = 200
    with Env() as env:
        env.add(route("half-invalid", [rule(backends=[
            backend_ref(V1, weight=50), backend_ref("nonexistent",
                                                    weight=50)])]))
        env.start()
        ok = errors = 0
        for i in range(n):
            r = env.request("/?i=%d" % i)
            if r.status == 200:
                expect_backend(r, V1)
                ok += 1
            else:
                expect_status(r, 500)
                errors += 1
        check(within(ok, n, 0.5), "%d of %d answered 200 at 50/50 with one "
              "invalid ref (%d got 500)" % (ok, n, errors))


def omitted_backend_refs_give_500():
    with Env() as env:
        env.add(route("omitted-backendrefs", [
            rule([exact("/omitted-no-forward")]),
            rule([exact("/empty-no-forward")], []),
            rule([prefix("/")], to(V1))]))
        env.start()
        run_table(env, [dict(path="/forward", backend=V1),
                        dict(path="/omitted-no-forward", status=500),
                        dict(path="/empty-no-forward", status=500)])


def route_from_a_namespace_the_listener_does_not_allow_is_not_attached():
    with Env() as env:
        env.add(route("invalid-cross-namespace-parent-ref",
                      [rule(backends=to("web-backend"))],
                      parents=[parent("same-namespace", NS)], ns=WEB_NS))
        env.start()
        run_table(env, [dict(path="/", status=404)])


def parent_ref_port_matching_no_listener_is_not_attached():
    with Env() as env:
        env.add(route("httproute-listener-not-matching-route-port",
                      [rule(backends=to(V1, kind="Service"))],
                      parents=[parent("same-namespace", NS, port=81)]))
        env.start()
        run_table(env, [dict(path="/", status=404)])


def parent_ref_section_name_matching_no_listener_is_not_attached():
    with Env() as env:
        env.add(route("httproute-listener-not-matching-section-name",
                      [rule(backends=to(V1, kind="Service"))],
                      parents=[parent("same-namespace", NS, "http1",
                                      port=80)]))
        env.start()
        run_table(env, [dict(path="/", status=404)])


def parent_ref_section_name_with_another_port_is_not_attached():
    gw = "gateway-with-one-not-matching-port-and-section-name-route"
    with Env(base_gateway=False) as env:
        env.add(gateway(gw, [listener("http", 80, from_="All",
                                      kinds=["HTTPRoute"])]))
        env.add(route("httproute-listener-section-name-not-matching-port",
                      [rule(backends=to(V1, kind="Service"))],
                      parents=[parent(gw, NS, "http", port=81)]))
        env.start()
        run_table(env, [dict(path="/", status=404)])


def listener_for_other_route_kinds_does_not_take_httproutes():
    """A listener whose allowedRoutes.kinds names only GRPCRoute: an
    HTTPRoute naming it is not attached."""
    gw = "grpcroutes-only"
    with Env(base_gateway=False) as env:
        env.add(gateway(gw, [listener("http", 80, kinds=["GRPCRoute"])]))
        env.add(route("disallowed-kind", [rule(backends=to(V1))],
                      parents=[parent(gw, NS)]))
        env.start()
        run_table(env, [dict(path="/", status=404)])


def gateway_of_another_class_is_not_served():
    with Env(base_gateway=False) as env:
        env.add(gateway("same-namespace", [listener("http", 80)]))
        env.add(gateway("theirs", [listener("http", 8080)],
                        cls="another-controller"))
        env.add(route("ours", [rule(backends=to(V1))]))
        env.add(route("their-route", [rule(backends=to(V2))],
                      parents=[parent("theirs")]))
        env.start()
        run_table(env, [dict(path="/", backend=V1)])
        try:
            r = env.request("/", port=8080)
        except TestFailure:
            r = None  # nothing listens there: right
        check(r is None, "a Gateway of another class answered %r" % r)


# ---------------------------------------------------------------------------
# HTTPS listeners
# ---------------------------------------------------------------------------

def https_listener_terminates_tls_per_sni():
    with Env(base_gateway=False) as env:
        certs = env.certs()
        c1, k1 = certs.server("default", ["example.org",
                                          "unknown-example.org"])
        c2, k2 = certs.server("second", ["second-example.org"])
        env.add(tls_secret("tls-validity-checks-certificate", c1, k1))
        env.add(tls_secret("tls-second-example", c2, k2))
        env.add(gateway("same-namespace-with-https-listener", [
            listener("https", 443, "HTTPS",
                     certs=["tls-validity-checks-certificate"]),
            listener("https-with-hostname", 443, "HTTPS",
                     hostname="second-example.org",
                     certs=["tls-second-example"])]))
        env.add(route("httproute-https-test", [rule(backends=to(V1))],
                      parents=[parent("same-namespace-with-https-listener")],
                      hostnames=["example.org"]))
        env.add(route("httproute-https-test-no-hostname",
                      [rule(backends=to(V2))],
                      parents=[parent("same-namespace-with-https-listener",
                                      section="https-with-hostname")]))
        env.start()
        # The client checks the certificate against the name it asked
        # for: second-example.org passes only with the second cert.
        run_table(env, [
            dict(host="example.org", path="/", port=443, backend=V1),
            dict(host="unknown-example.org", path="/", port=443, status=404),
            dict(host="second-example.org", path="/", port=443,
                 backend=V2)], port=443, tls=True)


def https_listener_answers_421_when_sni_and_host_pick_different_listeners():
    """Extended (GatewayHTTPSListenerDetectMisdirectedRequests): on one
    HTTPS port, a request whose Host belongs to another listener than the
    one its SNI chose gets 421."""
    gw = "same-namespace-with-https-listener"
    with Env(base_gateway=False) as env:
        cert, key = env.certs().server("all", [
            "example.org", "second-example.org", "*.wildcard.org",
            "unknown-example.org"])
        env.add(tls_secret("tls-validity-checks-certificate", cert, key))
        c = ["tls-validity-checks-certificate"]
        env.add(gateway(gw, [
            listener("https", 443, "HTTPS", certs=c),
            listener("https-with-hostname", 443, "HTTPS",
                     hostname="second-example.org", certs=c),
            listener("https-with-wildcard-hostname", 443, "HTTPS",
                     hostname="*.wildcard.org", certs=c),
            listener("https-with-hostname-matching-wildcard", 443, "HTTPS",
                     hostname="fourth-example.wildcard.org", certs=c)]))
        for i, (section, be, hosts) in enumerate((
                ("https", V1, ["example.org"]),
                ("https-with-hostname", V2, None),
                ("https-with-wildcard-hostname", V3, None),
                ("https-with-hostname-matching-wildcard", V1, None)), 1):
            env.add(route("https-listener-detect-misdirected-requests-test-%d"
                          % i, [rule([prefix("/detect-misdirected-requests")],
                                     to(be))],
                          parents=[parent(gw, section=section)],
                          hostnames=hosts))
        env.start()
        p = "/detect-misdirected-requests"
        cases = []
        for sni, host, want in (
                ("example.org", "example.org", V1),
                ("example.org", "second-example.org", 421),
                ("example.org", "unknown-example.org", 404),
                ("second-example.org", "second-example.org", V2),
                ("second-example.org", "example.org", 421),
                ("second-example.org", "unknown-example.org", 421),
                ("third-example.wildcard.org", "third-example.wildcard.org",
                 V3),
                ("third-example.wildcard.org", "fith-example.wildcard.org",
                 V3),
                ("third-example.wildcard.org", "fourth-example.wildcard.org",
                 421),
                ("third-example.wildcard.org", "second-example.org", 421),
                ("third-example.wildcard.org", "unknown-example.org", 421),
                ("fourth-example.wildcard.org",
                 "fourth-example.wildcard.org", V1),
                ("fourth-example.wildcard.org", "fith-example.wildcard.org",
                 421),
                ("unknown-example.org", "example.org", V1),
                ("unknown-example.org", "unknown-example.org", 404)):
            if isinstance(want, int):
                cases.append(dict(sni=sni, host=host, path=p, status=want))
            else:
                cases.append(dict(sni=sni, host=host, path=p, backend=want))
        run_table(env, cases, port=443, tls=True)


# ---------------------------------------------------------------------------
# Backends: IPv6 endpoints, kinds the reader skips
# ---------------------------------------------------------------------------

def ipv6_endpoint_slice_is_served():
    with Env(backends=[(V1, NS)]) as env:
        env.add_backend("six", NS, ipv6=True)
        env.add(route("six", [rule(backends=to("six"))]))
        env.start()
        rec = expect_backend(env.request("/"), "six", path="/")
        check(rec["client"] == "::1", "the backend was reached from %r, "
              "not over IPv6 loopback" % rec["client"])


def unrelated_kinds_are_skipped():
    with Env() as env:
        env.add({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": V1, "namespace": NS},
                 "spec": {"replicas": 1, "selector": {"matchLabels": {
                     "app": V1}}, "template": {"metadata": {"labels": {
                         "app": V1}}, "spec": {"containers": [{
                             "name": "echo", "image": "echo:1"}]}}}},
                {"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": "sa", "namespace": NS}})
        env.add(route("simple", [rule(backends=to(V1))]))
        env.start()
        run_table(env, [dict(path="/", backend=V1)])


def kubectl_json_list_is_read():
    """Routes in a JSON file holding a `kind: List`, as `kubectl get -o
    json` writes it."""
    with Env() as env:
        items = env._mapped([
            route("from-list-a", [rule([prefix("/a")], to(V1))]),
            route("from-list-b", [rule([prefix("/b")], to(V2))])])
        env.files["routes.json"] = json.dumps(
            {"apiVersion": "v1", "kind": "List", "metadata": {},
             "items": items}, indent=4) + "\n"
        env.start()
        run_table(env, [dict(path="/a", backend=V1),
                        dict(path="/b", backend=V2)])


def external_name_service_resolves_by_dns():
    """A Service of type ExternalName (localhost) reached on the
    backendRef's port."""
    with Env(backends=[(V1, NS)]) as env:
        be = env.backends[V1]
        env.add({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "external", "namespace": NS},
                 "spec": {"type": "ExternalName", "externalName": "localhost",
                          "ports": [{"name": "http", "port": be.port,
                                     "protocol": "TCP"}]}})
        env.add(route("to-external", [rule(backends=to("external",
                                                       port=be.port))]))
        env.start()
        run_table(env, [dict(path="/ext", backend=V1)])


def all_namespaces_listener_takes_routes_from_any_namespace():
    with Env(base_gateway=False) as env:
        env.add(gateway("all-namespaces", [listener("http", 80,
                                                    from_="All")]))
        env.add(route("web", [rule([prefix("/web")], to("web-backend"))],
                      parents=[parent("all-namespaces", NS)], ns=WEB_NS))
        env.add(route("infra", [rule([prefix("/infra")], to(V1))],
                      parents=[parent("all-namespaces")]))
        env.start()
        run_table(env, [dict(path="/web", backend="web-backend", ns=WEB_NS),
                        dict(path="/infra", backend=V1)])


def endpoints_that_are_not_ready_get_no_traffic():
    """An EndpointSlice endpoint with ready: false is not used; a Service
    with no ready endpoint answers 503 or 500 (never the unready one)."""
    with Env(backends=[(V1, NS)]) as env:
        unready = env.backends[V1]
        env.infra.extend(service_docs("unready", NS, unready.port,
                                      ready=False))
        env.add(route("unready", [rule(backends=to("unready"))]))
        env.start()
        r = env.request("/u")
        check(r.status in (500, 502, 503),
              "a Service with no ready endpoint answered %d %r"
              % (r.status, r.body[:200]))
        check(unready.count() == 0, "the unready endpoint got traffic")


def endpoints_of_a_service_in_two_slices_share_its_traffic():
    """A Service whose two endpoints (127.0.0.1 and 127.0.0.2, same port)
    are in two EndpointSlices, as a large Service's are: both serve."""
    import echo_backend
    with Env(backends=[]) as env:
        a = echo_backend.EchoBackend("multi-a", NS).start()
        env.backends["multi-a"] = a
        try:
            b = echo_backend.EchoBackend("multi-b", NS, a.port,
                                         host="127.0.0.2").start()
        except OSError as e:
            raise Skip("cannot listen on 127.0.0.2:%d: %s" % (a.port, e))
        env.backends["multi-b"] = b
        svc, slice_a = service_docs("multi", NS, a.port)
        _, slice_b = service_docs("multi", NS, a.port,
                                  addresses=("127.0.0.2",))
        slice_b["metadata"]["name"] = "multi-q9w8e"
        env.infra.extend([svc, slice_a, slice_b])
        env.add(route("multi", [rule(backends=to("multi"))]))
        env.start()
        counts = {"multi-a": 0, "multi-b": 0}
        for i in range(100):
            r = env.request("/?i=%d" % i)
            expect_status(r, 200)
            counts[r.json()["backend"]] += 1
        check(min(counts.values()) >= 10,
              "100 requests over two endpoints went %s" % counts)


def route_attached_to_two_gateways_serves_on_each():
    """One route with two Gateways as parents serves on both; each
    Gateway's own route only on it. (In a cluster the Gateways have
    addresses of their own; here each listens on a port of its own.)"""
    with Env() as env:
        env.add(gateway("all-namespaces", [listener("http", 8080,
                                                    from_="All")]))
        env.add(route("multiple-gateways-shared-route",
                      [rule([prefix("/shared")], to(V1))],
                      parents=[parent("same-namespace"),
                               parent("all-namespaces")]))
        env.add(route("same-namespace-dedicated-route",
                      [rule([prefix("/")], to(V2))],
                      parents=[parent("same-namespace")]))
        env.add(route("all-namespaces-dedicated-route",
                      [rule([prefix("/")], to(V3))],
                      parents=[parent("all-namespaces")]))
        env.start()
        run_table(env, [dict(path="/shared", backend=V1),
                        dict(path="/", backend=V2),
                        dict(path="/shared", backend=V1, port=8080),
                        dict(path="/", backend=V3, port=8080)])


def headless_and_manual_endpoint_slice_services_are_served():
    """Services as httproute-service-types writes them: one without a
    selector whose EndpointSlices are written by hand, a headless one
    (clusterIP None) whose slice the cluster made from its selector, and
    a headless one with hand-written slices. Port names, not numbers,
    join Service and slice (the Service says targetPort 3000, the slice
    the real port); the IPv6 slices have no endpoints at all."""
    with Env(backends=[(V1, NS)]) as env:
        real = env.backends[V1].port

        def service(name, headless, selector):
            spec = {"ports": [{"name": "first-port", "protocol": "TCP",
                               "port": 8080, "targetPort": 3000}]}
            if headless:
                spec["clusterIP"] = "None"
            if selector:
                spec["selector"] = {"app": V1}
            return {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": NS},
                    "spec": spec}

        def slice_(svc, family, address=None):
            d = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": "%s-%s" % (svc, family.lower()),
                              "namespace": NS, "labels": {
                                  "kubernetes.io/service-name": svc}},
                 "addressType": family,
                 "ports": [{"name": "first-port", "port": real,
                            "protocol": "TCP"}]}
            if address:
                d["endpoints"] = [{"addresses": [address], "conditions": {
                    "ready": True, "serving": True, "terminating": False},
                    "targetRef": {"kind": "Pod", "name": V1 + "-5d4c8",
                                  "namespace": NS}}]
            return d
        env.add(service("manual-endpointslices", False, False),
                slice_("manual-endpointslices", "IPv4", "127.0.0.1"),
                slice_("manual-endpointslices", "IPv6"),
                service("headless", True, True),
                slice_("headless", "IPv4", "127.0.0.1"),
                service("headless-manual-endpointslices", True, False),
                slice_("headless-manual-endpointslices", "IPv4",
                       "127.0.0.1"),
                slice_("headless-manual-endpointslices", "IPv6"))
        env.add(route("service-types", [
            rule([exact("/" + n)], to(n))
            for n in ("manual-endpointslices", "headless",
                      "headless-manual-endpointslices")]))
        env.start()
        run_table(env, [dict(path="/manual-endpointslices", backend=V1),
                        dict(path="/headless", backend=V1),
                        dict(path="/headless-manual-endpointslices",
                             backend=V1)])


def add_service_port(env, name, svc_port, port_name, app_protocol):
    """Another port on the Service `name` (and its EndpointSlice), to the
    same backend: as the suite's backends have an h2c and a ws port."""
    real = env.backends[name].port
    for d in env.infra:
        if d["metadata"]["name"] == name and d["kind"] == "Service":
            d["spec"]["ports"].append({
                "name": port_name, "protocol": "TCP", "port": svc_port,
                "targetPort": real, "appProtocol": app_protocol})
        elif d["metadata"].get("labels", {}).get(
                "kubernetes.io/service-name") == name:
            d["ports"].append({"name": port_name, "protocol": "TCP",
                               "port": real, "appProtocol": app_protocol})


def websocket_upgrade_reaches_the_backend_and_data_flows_both_ways():
    """A backendRef to a Service port with appProtocol kubernetes.io/ws:
    the client's upgrade reaches the backend (101 with its accept key),
    then a text and a binary message come back as sent."""
    with Env(backends=[(V1, NS)]) as env:
        add_service_port(env, V1, 8082, "third-port", "kubernetes.io/ws")
        env.add(route("backend-protocol-ws", [rule(backends=to(V1,
                                                               port=8082))]))
        env.start()
        key = base64.b64encode(os.urandom(16)).decode()
        accept = base64.b64encode(hashlib.sha1(
            (key + echo_backend._WS_GUID).encode()).digest()).decode()
        with socket.create_connection(("127.0.0.1", env.port(80)),
                                      10) as s:
            s.sendall(("GET /ws HTTP/1.1\r\nHost: gateway\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13"
                       "\r\nOrigin: ws://gateway/websocket\r\n\r\n"
                       % key).encode())
            f = s.makefile("rb")
            status = f.readline().decode("latin-1").strip()
            headers = {}
            while True:
                line = f.readline().decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            check(status.startswith("HTTP/1.1 101"),
                  "upgrade answered %r %r" % (status, headers))
            check(headers.get("sec-websocket-accept") == accept,
                  "Sec-WebSocket-Accept %r, expected %r"
                  % (headers.get("sec-websocket-accept"), accept))
            check(env.backends[V1].count("/ws") == 1,
                  "the backend did not see the upgrade request")
            for opcode, msg in ((0x1, b"Websocket Support!"),
                                (0x2, bytes([1, 2, 3, 4, 5, 6, 7]))):
                s.sendall(echo_backend.ws_frame(opcode, msg, os.urandom(4)))
                got = echo_backend.read_ws_frame(f)
                check(got == (opcode, msg), "sent %r (opcode %d), got %r"
                      % (msg, opcode, got))
            s.sendall(echo_backend.ws_frame(0x8, b"\x03\xe8",
                                            os.urandom(4)))
            got = echo_backend.read_ws_frame(f)
            check(got is not None and got[0] == 0x8,
                  "close answered with %r" % (got,))


def kgateway_static_backend_is_served():
    """A backendRef to a kgateway Backend of type Static: its host and
    port."""
    with Env(backends=[(V1, NS)]) as env:
        be = env.backends[V1]
        env.add({"apiVersion": "gateway.kgateway.dev/v1alpha1",
                 "kind": "Backend",
                 "metadata": {"name": "static-echo", "namespace": NS},
                 "spec": {"type": "Static", "static": {"hosts": [
                     {"host": "127.0.0.1", "port": be.port}]}}})
        env.add(route("to-static", [rule(backends=[backend_ref(
            "static-echo", port=None, group="gateway.kgateway.dev",
            kind="Backend")])]))
        env.start()
        run_table(env, [dict(path="/static", backend=V1)])


# ---------------------------------------------------------------------------
# Status (`gwf gateway status -o json`)
# ---------------------------------------------------------------------------

def status_of(env, route_name, gw="same-namespace", ns=NS, gw_ns=NS):
    objs = env.status()
    return route_parent_status(find_object(objs, "HTTPRoute", route_name,
                                           ns), gw, gw_ns), objs


def status_valid_route_is_accepted_with_resolved_refs():
    with Env() as env:
        env.add(route("good", [rule(backends=to(V1))]))
        p, objs = status_of(env, "good")
        expect_condition(p["conditions"], "Accepted", True, "Accepted",
                         "route good")
        expect_condition(p["conditions"], "ResolvedRefs", True,
                         "ResolvedRefs", "route good")
        gw = find_object(objs, "Gateway", "same-namespace")
        expect_condition(gw["status"]["conditions"], "Accepted", True,
                         "Accepted", "gateway")
        expect_condition(gw["status"]["conditions"], "Programmed", True,
                         "Programmed", "gateway")
        ln = listener_status(gw, "http")
        check(ln.get("attachedRoutes") == 1,
              "listener http: attachedRoutes %r, expected 1"
              % ln.get("attachedRoutes"))
        for t in ("Accepted", "Programmed", "ResolvedRefs"):
            expect_condition(ln.get("conditions"), t, True, None,
                             "listener http")
        kinds = [k.get("kind") for k in ln.get("supportedKinds") or []]
        check("HTTPRoute" in kinds, "listener supportedKinds %r" % kinds)


def status_nonexistent_backend_is_backend_not_found():
    with Env() as env:
        env.add(route("invalid-nonexistent-backend-ref", [rule(
            backends=to("nonexistent"))]))
        p, _ = status_of(env, "invalid-nonexistent-backend-ref")
        expect_condition(p["conditions"], "Accepted", True, None, "route")
        expect_condition(p["conditions"], "ResolvedRefs", False,
                         "BackendNotFound", "route")


def status_unknown_backend_kind_is_invalid_kind():
    with Env() as env:
        env.add(route("invalid-backend-ref-unknown-kind", [rule(
            backends=to(V1, kind="NonExistent",
                        group="unknownkind.example.com"))]))
        p, _ = status_of(env, "invalid-backend-ref-unknown-kind")
        expect_condition(p["conditions"], "ResolvedRefs", False,
                         "InvalidKind", "route")


def status_cross_namespace_backend_without_grant_is_ref_not_permitted():
    with Env() as env:
        env.add(route("invalid-cross-namespace-backend-ref", [rule(
            backends=to("web-backend", ns=WEB_NS))]))
        p, _ = status_of(env, "invalid-cross-namespace-backend-ref")
        expect_condition(p["conditions"], "ResolvedRefs", False,
                         "RefNotPermitted", "route")
        env.add(reference_grant("grant", WEB_NS, NS, to_name="web-backend"))
        p, _ = status_of(env, "invalid-cross-namespace-backend-ref")
        expect_condition(p["conditions"], "ResolvedRefs", True,
                         "ResolvedRefs", "route with the grant")


def status_route_from_disallowed_namespace_is_not_allowed_by_listeners():
    with Env() as env:
        env.add(route("invalid-cross-namespace-parent-ref",
                      [rule(backends=to("web-backend"))],
                      parents=[parent("same-namespace", NS)], ns=WEB_NS))
        p, objs = status_of(env, "invalid-cross-namespace-parent-ref",
                            ns=WEB_NS)
        expect_condition(p["conditions"], "Accepted", False,
                         "NotAllowedByListeners", "route")
        ln = listener_status(find_object(objs, "Gateway", "same-namespace"),
                             "http")
        check(ln.get("attachedRoutes") == 0,
              "attachedRoutes %r, expected 0" % ln.get("attachedRoutes"))


def status_parent_ref_port_or_section_mismatch_is_no_matching_parent():
    with Env() as env:
        env.add(route("port-81", [rule(backends=to(V1))],
                      parents=[parent("same-namespace", NS, port=81)]))
        env.add(route("section-http1", [rule(backends=to(V1))],
                      parents=[parent("same-namespace", NS, "http1",
                                      port=80)]))
        env.add(route("section-http-port-81", [rule(backends=to(V1))],
                      parents=[parent("same-namespace", NS, "http",
                                      port=81)]))
        objs = env.status()
        t = Table()
        for name in ("port-81", "section-http1", "section-http-port-81"):
            def one(name=name):
                p = route_parent_status(find_object(objs, "HTTPRoute", name),
                                        "same-namespace")
                expect_condition(p["conditions"], "Accepted", False,
                                 "NoMatchingParent", name)
            t.run(name, one)
        t.run("attachedRoutes", lambda: check(
            listener_status(find_object(objs, "Gateway", "same-namespace"),
                            "http").get("attachedRoutes") == 0,
            "attachedRoutes is not 0"))
        t.done()


def status_disallowed_kind_is_not_allowed_by_listeners():
    gw = "tlsroutes-only"
    with Env(base_gateway=False) as env:
        env.add(gateway(gw, [dict(listener("tls", 443, "TLS",
                                           kinds=["TLSRoute"]),
                                  tls={"mode": "Passthrough"})]))
        env.add(route("disallowed-kind", [rule(backends=to(V1))],
                      parents=[parent(gw, NS)]))
        p, objs = status_of(env, "disallowed-kind", gw=gw)
        expect_condition(p["conditions"], "Accepted", False,
                         "NotAllowedByListeners", "route")
        expect_condition(p["conditions"], "ResolvedRefs", True, None,
                         "route")


def status_hostnames_without_intersection_are_no_matching_listener_hostname():
    with Env(base_gateway=False) as env:
        env.add(intersection_gateways())
        objs = env.status()
        p = route_parent_status(find_object(objs, "HTTPRoute",
                                            "no-intersecting-hosts"),
                                "httproute-hostname-intersection")
        expect_condition(p["conditions"], "Accepted", False,
                         "NoMatchingListenerHostname", "route")
        gw = find_object(objs, "Gateway", "httproute-hostname-intersection")
        got = {n: listener_status(gw, n).get("attachedRoutes")
               for n in ("listener-1", "listener-2", "listener-3")}
        check(got == {"listener-1": 2, "listener-2": 1, "listener-3": 1},
              "attachedRoutes %s, expected listener-1: 2, listener-2: 1, "
              "listener-3: 1" % got)


def status_https_listener_with_a_missing_secret_is_invalid_certificate_ref():
    with Env(base_gateway=False) as env:
        env.add(gateway("https-gw", [listener("https", 443, "HTTPS",
                                              certs=["no-such-secret"])]))
        objs = env.status()
        ln = listener_status(find_object(objs, "Gateway", "https-gw"),
                             "https")
        expect_condition(ln.get("conditions"), "ResolvedRefs", False,
                         "InvalidCertificateRef", "listener https")


def status_partially_invalid_route_is_accepted_with_ref_not_permitted():
    """A ReferenceGrant for app-backend-v1 only: the route's rule to
    app-backend-v2 is not permitted, so the route stays Accepted and its
    ResolvedRefs is False, RefNotPermitted (its traffic:
    reference_grant_for_one_service_leaves_the_other_invalid)."""
    with Env() as env:
        env.add(reference_grant("invalid-reference-grant", APP_NS, NS,
                                to_name="app-backend-v1"))
        env.add(route("invalid-reference-grant", [
            rule([prefix("/v2")], to("app-backend-v2", ns=APP_NS)),
            rule(backends=to("app-backend-v1", ns=APP_NS))]))
        p, _ = status_of(env, "invalid-reference-grant")
        expect_condition(p["conditions"], "Accepted", True, None, "route")
        expect_condition(p["conditions"], "ResolvedRefs", False,
                         "RefNotPermitted", "route")


def status_observed_generation_follows_metadata_generation():
    """Every condition's observedGeneration is the object's
    metadata.generation, and a changed route (generation bumped, another
    backend) gets the new one, still Accepted with ResolvedRefs."""
    with Env() as env:
        r = route("observed-generation-bump", [rule(backends=to(V1))])
        r["metadata"]["generation"] = 1
        env.add(r)

        def expect_generation(gen):
            p, objs = status_of(env, "observed-generation-bump")
            expect_condition(p["conditions"], "Accepted", True, None,
                             "route")
            expect_condition(p["conditions"], "ResolvedRefs", True, None,
                             "route")
            got = [(c["type"], c.get("observedGeneration"))
                   for c in p["conditions"]]
            check(all(g == gen for _, g in got),
                  "route conditions' observedGeneration %r, expected %d"
                  % (got, gen))
        expect_generation(1)
        r["metadata"]["generation"] = 2
        r["spec"]["rules"][0]["backendRefs"][0]["name"] = V2
        expect_generation(2)


def status_reports_only_gateways_of_our_class():
    with Env() as env:
        env.add(gateway("theirs", [listener("http", 8080)],
                        cls="another-controller"))
        objs = env.status()
        find_object(objs, "Gateway", "same-namespace")
        theirs = [o for o in objs if o.get("kind") == "Gateway" and
                  o["metadata"]["name"] == "theirs"]
        check(not theirs or not (theirs[0].get("status") or {}).get(
            "conditions"), "status for another class's Gateway: %s" % theirs)


CASES = {f.__name__: f for f in [
    simple_route_in_same_namespace_serves_its_backend,
    exact_path_matches_only_that_path,
    path_match_order_prefers_exact_then_longest_prefix,
    path_prefix_matches_whole_segments,
    header_matches_select_backend_and_all_must_hold,
    query_param_matches_select_backend,
    method_matches_select_backend,
    regular_expression_matches_on_path_header_and_query,
    matching_across_routes_merges_rules_per_hostname,
    equal_matches_across_routes_go_to_the_oldest_route,
    method_outranks_headers_and_more_headers_outrank_fewer,
    route_hostnames_intersect_listener_hostnames,
    route_hostnames_on_a_listener_without_hostname,
    listener_hostnames_select_routes_by_section_name,
    listener_ports_select_routes_by_parent_port,
    request_header_modifier_sets_adds_and_removes,
    request_header_modifier_on_a_backend_ref,
    backend_ref_header_filters_follow_the_chosen_backend,
    response_header_modifier_sets_adds_and_removes,
    redirect_sets_hostname_and_status,
    redirect_replaces_path_prefix_or_full_path,
    redirect_sets_port,
    redirect_sets_scheme,
    redirect_port_and_scheme_follow_the_listener,
    redirect_with_303_307_308_status,
    redirect_on_a_backend_ref,
    rewrite_replaces_host,
    rewrite_replaces_path_prefix_or_full_path,
    rewrite_on_a_backend_ref,
    weights_split_traffic_in_proportion,
    request_mirror_copies_each_request,
    request_mirror_percent_mirrors_that_share,
    multiple_mirrors_each_get_a_copy,
    unresolved_mirror_does_not_stop_the_request,
    request_timeout_gives_504,
    backend_request_timeout_gives_504,
    retry_resends_on_listed_codes_up_to_attempts,
    retry_resends_after_connection_errors_up_to_attempts,
    backend_that_refuses_connections_answers_503,
    retry_with_timeouts,
    named_rules_serve_like_unnamed_ones,
    cross_namespace_route_attaches_through_a_selector,
    reference_grant_permits_a_cross_namespace_backend,
    reference_grant_that_does_not_match_gives_500,
    reference_grant_for_one_service_leaves_the_other_invalid,
    nonexistent_backend_gives_500,
    unknown_backend_kind_gives_500,
    cross_namespace_backend_without_grant_gives_500,
    invalid_backend_keeps_its_share_of_weight_as_500,
    omitted_backend_refs_give_500,
    route_from_a_namespace_the_listener_does_not_allow_is_not_attached,
    parent_ref_port_matching_no_listener_is_not_attached,
    parent_ref_section_name_matching_no_listener_is_not_attached,
    parent_ref_section_name_with_another_port_is_not_attached,
    listener_for_other_route_kinds_does_not_take_httproutes,
    gateway_of_another_class_is_not_served,
    https_listener_terminates_tls_per_sni,
    https_listener_answers_421_when_sni_and_host_pick_different_listeners,
    ipv6_endpoint_slice_is_served,
    unrelated_kinds_are_skipped,
    kubectl_json_list_is_read,
    external_name_service_resolves_by_dns,
    all_namespaces_listener_takes_routes_from_any_namespace,
    endpoints_that_are_not_ready_get_no_traffic,
    endpoints_of_a_service_in_two_slices_share_its_traffic,
    route_attached_to_two_gateways_serves_on_each,
    headless_and_manual_endpoint_slice_services_are_served,
    websocket_upgrade_reaches_the_backend_and_data_flows_both_ways,
    kgateway_static_backend_is_served,
    status_valid_route_is_accepted_with_resolved_refs,
    status_nonexistent_backend_is_backend_not_found,
    status_unknown_backend_kind_is_invalid_kind,
    status_cross_namespace_backend_without_grant_is_ref_not_permitted,
    status_route_from_disallowed_namespace_is_not_allowed_by_listeners,
    status_parent_ref_port_or_section_mismatch_is_no_matching_parent,
    status_disallowed_kind_is_not_allowed_by_listeners,
    status_hostnames_without_intersection_are_no_matching_listener_hostname,
    status_https_listener_with_a_missing_secret_is_invalid_certificate_ref,
    status_partially_invalid_route_is_accepted_with_ref_not_permitted,
    status_observed_generation_follows_metadata_generation,
    status_reports_only_gateways_of_our_class,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
