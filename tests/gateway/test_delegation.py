#!/usr/bin/python3
"""test_delegation.py - kgateway's HTTPRoute delegation through `gwf
gateway render` and real nginx.

    /usr/bin/python3 test_delegation.py [CASE]

A parent HTTPRoute attached to the Gateway hands a path prefix to child
HTTPRoutes (a backendRef of kind HTTPRoute, by name, by "*" or by the
delegation.kgateway.dev/label label); gwf flattens the tree into plain
rules (host/gateway/delegation.c). Each case writes the manifests, starts
nginx with the module and asks which echo backend answered: the child's
backend for a path within the parent's prefix, 404 for a child rule
outside it, 500 where delegation cannot resolve (no child, a cycle), and
the parent's TrafficPolicy reaching the children (a local rate limit as
the witness), overridden by a child's own unless the parent prefers the
parent. `gwf gateway status` says what each route got.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    APP_NS, NS, WEB_NS, Env, backend_ref, check, expect_backend,
    expect_condition, expect_status, find_object, header_filter, match,
    parent, prefix, route, rule, run_cases)

V1 = "infra-backend-v1"
V2 = "infra-backend-v2"
WEB = "web-backend"
KGW = "gateway.kgateway.dev/v1alpha1"
GW_GROUP = "gateway.networking.k8s.io"


def to_route(name="*", ns=None):
    ref = {"group": GW_GROUP, "kind": "HTTPRoute", "name": name}
    if ns is not None:
        ref["namespace"] = ns
    return ref


def names_parent(name="parent", ns=NS):
    return {"group": GW_GROUP, "kind": "HTTPRoute", "name": name,
            "namespace": ns}


def child(name, rules, ns=WEB_NS, parents=None, labels=None,
          annotations=None):
    r = route(name, rules, parents=parents or [], ns=ns)
    if not parents:
        del r["spec"]["parentRefs"]
    if labels:
        r["metadata"]["labels"] = labels
    if annotations:
        r["metadata"]["annotations"] = annotations
    return r


def web_ref():
    return backend_ref(WEB)


def local_limit(tokens):
    return {"rateLimit": {"local": {"tokenBucket": {
        "maxTokens": tokens, "tokensPerFill": 1, "fillInterval": "100s"}}}}


def policy(name, spec, target_name, ns):
    return {"apiVersion": KGW, "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": ns,
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": dict(spec, targetRefs=[{
                "group": GW_GROUP, "kind": "HTTPRoute",
                "name": target_name}])}


def passes(env, path):
    for i in range(6):
        r = env.request(path)
        if r.status == 429:
            return i
        check(r.status == 200, "%s: status %d before any 429"
              % (path, r.status))
    return 6


def route_status(env, name, ns):
    obj = find_object(env.status(), "HTTPRoute", name, ns)
    check(obj is not None, "no status for HTTPRoute %s/%s" % (ns, name))
    return obj["status"]["parents"]


def child_served_within_the_parent_prefix():
    """/team/... goes to the child's backend (another namespace); the
    parent's own rule keeps serving /other."""
    with Env() as env:
        env.add(route("parent", [
            rule([prefix("/team")], [to_route("child", WEB_NS)]),
            rule([prefix("/other")], [backend_ref(V1)])]))
        env.add(child("child", [rule([prefix("/team/app")], [web_ref()])],
                      parents=[names_parent()]))
        env.start()
        expect_backend(env.request("/team/app/x"), WEB, WEB_NS)
        expect_backend(env.request("/other"), V1)
        parents = route_status(env, "child", WEB_NS)
        check(len(parents) == 1 and
              parents[0]["parentRef"]["kind"] == "HTTPRoute" and
              parents[0]["parentRef"]["name"] == "parent",
              "child's parents: %r" % parents)
        expect_condition(parents[0]["conditions"], "Accepted", True)


def child_rule_outside_the_parent_prefix_is_not_served():
    with Env() as env:
        env.add(route("parent", [
            rule([prefix("/team")], [to_route("child", WEB_NS)])]))
        env.add(child("child", [
            rule([prefix("/team/in")], [web_ref()]),
            rule([prefix("/out")], [web_ref()])]))
        env.start()
        expect_backend(env.request("/team/in"), WEB, WEB_NS)
        expect_status(env.request("/out"), 404)


def wildcard_selects_every_child_that_accepts_the_parent():
    """name "*": children with no parentRefs or naming the parent; one
    naming another parent is left out."""
    with Env() as env:
        env.add(route("parent", [rule([prefix("/")], [to_route("*", APP_NS)])]))
        env.add(child("one", [rule([prefix("/one")], [backend_ref(
                    V1, ns=NS)])], ns=APP_NS),
                child("two", [rule([prefix("/two")], [backend_ref(
                    V2, ns=NS)])], ns=APP_NS,
                      parents=[names_parent()]),
                child("three", [rule([prefix("/three")], [backend_ref(
                    V1, ns=NS)])], ns=APP_NS,
                      parents=[names_parent("someone-else")]))
        # The children's backends live in NS: a ReferenceGrant lets them.
        env.add({"apiVersion": "gateway.networking.k8s.io/v1beta1",
                 "kind": "ReferenceGrant",
                 "metadata": {"name": "app-to-infra", "namespace": NS},
                 "spec": {"from": [{"group": GW_GROUP, "kind": "HTTPRoute",
                                    "namespace": APP_NS}],
                          "to": [{"group": "", "kind": "Service"}]}})
        env.start()
        expect_backend(env.request("/one"), V1)
        expect_backend(env.request("/two"), V2)
        expect_status(env.request("/three"), 404)


def label_selects_children_in_every_namespace():
    with Env() as env:
        env.add(route("parent", [rule([prefix("/")], [{
            "group": "delegation.kgateway.dev", "kind": "label",
            "name": "web", "namespace": "all"}])]))
        env.add(child("labelled", [rule([prefix("/l")], [web_ref()])],
                      labels={"delegation.kgateway.dev/label": "web"}),
                child("unlabelled", [rule([prefix("/u")], [web_ref()])]))
        env.start()
        expect_backend(env.request("/l"), WEB, WEB_NS)
        expect_status(env.request("/u"), 404)


def unresolved_delegation_answers_500():
    with Env() as env:
        env.add(route("parent", [
            rule([prefix("/gone")], [to_route("nobody", WEB_NS)]),
            rule([prefix("/ok")], [backend_ref(V1)])]))
        env.start()
        expect_status(env.request("/gone"), 500)
        expect_backend(env.request("/ok"), V1)
        expect_condition(route_status(env, "parent", NS)[0]["conditions"],
                         "ResolvedRefs", False, "BackendNotFound")


def delegation_cycle_answers_500_and_is_reported():
    """parent -> loop -> parent: the rule going back answers 500 and the
    child's status says RefNotPermitted; nginx still starts."""
    with Env() as env:
        p = route("parent", [rule([prefix("/c")], [to_route("loop", WEB_NS)])],
                  parents=[parent(), names_parent("loop", WEB_NS)])
        env.add(p, child("loop", [rule([prefix("/c")], [to_route(
            "parent", NS)])], parents=[names_parent()]))
        env.start()
        expect_status(env.request("/c"), 500)
        expect_condition(route_status(env, "loop", WEB_NS)[0]["conditions"],
                         "ResolvedRefs", False, "RefNotPermitted")


def child_inherits_the_parents_header_filter():
    with Env() as env:
        env.add(route("parent", [rule(
            [prefix("/")], [to_route("child", WEB_NS)],
            filters=[header_filter(set=[("x-delegated-by", "parent")])])]))
        env.add(child("child", [rule([prefix("/h")], [web_ref()])]))
        env.start()
        expect_backend(env.request("/h"), WEB, WEB_NS,
                       headers={"x-delegated-by": "parent"})


def child_headers_must_include_the_parents():
    with Env() as env:
        env.add(route("parent", [rule(
            [match("/", headers={"x-team": "a"})],
            [to_route("child", WEB_NS)])]))
        env.add(child("child", [
            rule([match("/with", headers={"x-team": "a"})], [web_ref()]),
            rule([prefix("/without")], [web_ref()])]))
        env.start()
        expect_backend(env.request("/with", headers={"x-team": "a"}), WEB,
                       WEB_NS)
        expect_status(env.request("/with"), 404)
        expect_status(env.request("/without", headers={"x-team": "a"}), 404)


def parent_route_policy_reaches_children_and_child_overrides():
    """The parent's limit (2) reaches child `plain`; child `own` has its
    own limit (1), which wins its field."""
    with Env() as env:
        env.add(policy("parent-limit", local_limit(2), "parent", NS),
                policy("own-limit", local_limit(1), "own", WEB_NS))
        env.add(route("parent", [rule([prefix("/")], [to_route("*", WEB_NS)])]))
        env.add(child("plain", [rule([prefix("/plain")], [web_ref()])]),
                child("own", [rule([prefix("/own")], [web_ref()])]))
        env.start()
        got = passes(env, "/own")
        check(got == 1, "/own: %d passed before 429, expected 1" % got)
        got = passes(env, "/plain")
        check(got == 2, "/plain: %d passed before 429, expected 2" % got)


def parent_preferring_parent_overrides_the_child():
    with Env() as env:
        env.add(policy("parent-limit", local_limit(2), "parent", NS),
                policy("own-limit", local_limit(1), "own", WEB_NS))
        p = route("parent", [rule([prefix("/")], [to_route("own", WEB_NS)])])
        p["metadata"]["annotations"] = {
            "kgateway.dev/inherited-policy-priority":
                "ShallowMergePreferParent"}
        env.add(p, child("own", [rule([prefix("/own")], [web_ref()])]))
        env.start()
        got = passes(env, "/own")
        check(got == 2, "/own: %d passed before 429, expected 2" % got)


def child_selecting_itself_answers_500_as_kgateway_cyclic():
    """kgateway's e2e TestCyclic (cyclic.yaml): root delegates to
    team2-root, which delegates to every route of team2, where svc2
    delegates to every route of team2, itself included. svc2's path
    answers 500 and its status says "cyclic reference detected"; root's
    other prefix keeps serving."""
    with Env() as env:
        env.add(route("root", [
            rule([prefix("/anything/team1")], [to_route("*", APP_NS)]),
            rule([prefix("/anything/team2")], [to_route("*", "team2-root")])]))
        env.add(child("svc1", [rule([prefix("/anything/team1/foo")],
                                    [backend_ref(V1, ns=NS)])], ns=APP_NS),
                child("team2-root", [rule([prefix("/anything/team2/")],
                                          [to_route("*", WEB_NS)])],
                      ns="team2-root", parents=[names_parent("root")]),
                child("svc2", [rule([prefix("/anything/team2/foo")],
                                    [to_route("*", WEB_NS)])]))
        env.add({"apiVersion": "gateway.networking.k8s.io/v1beta1",
                 "kind": "ReferenceGrant",
                 "metadata": {"name": "app-to-infra", "namespace": NS},
                 "spec": {"from": [{"group": GW_GROUP, "kind": "HTTPRoute",
                                    "namespace": APP_NS}],
                          "to": [{"group": "", "kind": "Service"}]}})
        env.start()
        expect_backend(env.request("/anything/team1/foo"), V1)
        expect_status(env.request("/anything/team2/foo"), 500)
        conds = route_status(env, "svc2", WEB_NS)[0]["conditions"]
        c = expect_condition(conds, "ResolvedRefs", False, "RefNotPermitted")
        check("cyclic reference detected" in c.get("message", ""),
              "svc2's ResolvedRefs message: %r" % c.get("message"))


def child_with_hostnames_answers_500_as_kgateway_invalid_child():
    """kgateway's e2e TestInvalidChild: a child with spec.hostnames is
    refused ("spec.hostnames must be unset"); the parent rule that only
    had it answers 500."""
    with Env() as env:
        env.add(route("parent", [
            rule([prefix("/team2")], [to_route("child", WEB_NS)])]))
        env.add(route("child", [rule([prefix("/team2/x")], [web_ref()])],
                      parents=[names_parent()], hostnames=["team2.example"],
                      ns=WEB_NS))
        env.start()
        expect_status(env.request("/team2/x"), 500)
        c = expect_condition(route_status(env, "child", WEB_NS)[0][
            "conditions"], "Accepted", False, "UnsupportedValue")
        check("spec.hostnames must be unset" in c.get("message", ""),
              "child's Accepted message: %r" % c.get("message"))


CASES = {f.__name__: f for f in [
    child_served_within_the_parent_prefix,
    child_rule_outside_the_parent_prefix_is_not_served,
    wildcard_selects_every_child_that_accepts_the_parent,
    label_selects_children_in_every_namespace,
    unresolved_delegation_answers_500,
    delegation_cycle_answers_500_and_is_reported,
    child_inherits_the_parents_header_filter,
    child_headers_must_include_the_parents,
    parent_route_policy_reaches_children_and_child_overrides,
    parent_preferring_parent_overrides_the_child,
    child_selecting_itself_answers_500_as_kgateway_cyclic,
    child_with_hostnames_answers_500_as_kgateway_invalid_child,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
