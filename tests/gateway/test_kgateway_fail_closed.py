#!/usr/bin/python3
"""test_kgateway_fail_closed.py - kgateway policies gwf does not apply yet
fail closed, through real nginx.

    /usr/bin/python3 test_kgateway_fail_closed.py [CASE]

A TrafficPolicy that targets an HTTPRoute (say, one that requires a JWT),
or an ExtensionRef filter to a kgateway kind, is given its meaning by
policy attachment (issue 13). Until then the rules they reach answer 500
and the route says why; serving them as if the policy were absent would
let anyone through. Rules nothing targets keep working.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    NS, Env, Table, backend_ref, check, expect_backend, expect_condition,
    expect_status, find_object, prefix, route, route_parent_status, rule,
    run_cases)

V1 = "infra-backend-v1"
KGW = "gateway.kgateway.dev/v1alpha1"


def traffic_policy(targets):
    return {"apiVersion": KGW, "kind": "TrafficPolicy",
            "metadata": {"name": "require-jwt", "namespace": NS},
            "spec": {"targetRefs": targets}}


def route_targeted_by_a_traffic_policy_answers_500_not_its_backend():
    with Env() as env:
        env.add(traffic_policy([{"group": "gateway.networking.k8s.io",
                                 "kind": "HTTPRoute", "name": "guarded"}]))
        env.add(route("guarded", [rule([prefix("/private")],
                                       [backend_ref(V1)])]))
        env.add(route("open", [rule([prefix("/public")], [backend_ref(V1)])]))
        env.start()
        t = Table()
        t.run("/private", lambda: expect_status(env.request("/private/x"),
                                                500))
        t.run("/public", lambda: expect_backend(env.request("/public/x"), V1))

        def status():
            objs = env.status()
            p = route_parent_status(find_object(objs, "HTTPRoute", "guarded"),
                                    "same-namespace")
            expect_condition(p["conditions"], "PartiallyInvalid", True,
                             "UnsupportedValue", "guarded")
            msg = [c for c in p["conditions"]
                   if c["type"] == "PartiallyInvalid"][0]["message"]
            check("TrafficPolicy %s/require-jwt" % NS in msg,
                  "message %r does not name the policy" % msg)
        t.run("status", status)
        t.done()


def extension_ref_filter_answers_500_not_its_backend():
    with Env() as env:
        env.add({"apiVersion": KGW, "kind": "DirectResponse",
                 "metadata": {"name": "teapot", "namespace": NS},
                 "spec": {"status": 418}})
        env.add(route("ext", [rule(
            [prefix("/")], [backend_ref(V1)],
            filters=[{"type": "ExtensionRef",
                      "extensionRef": {"group": "gateway.kgateway.dev",
                                       "kind": "DirectResponse",
                                       "name": "teapot"}}])]))
        env.start()
        expect_status(env.request("/x"), 500)


CASES = {f.__name__: f for f in [
    route_targeted_by_a_traffic_policy_answers_500_not_its_backend,
    extension_ref_filter_answers_500_not_its_backend,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
