#!/usr/bin/python3
"""test_route_policies.py - the TrafficPolicy fields nginx does itself.

    /usr/bin/python3 test_route_policies.py [CASE]

kgateway's `timeouts`, `retry`, `headerModifiers`, `buffer`,
`compression`, `autoHostRewrite` and `urlRewrite` make no plugin: `gwf
gateway render` writes them as nginx directives in the locations the
policy reaches (host/gateway/read_route_policy.c, emit_nginx.c). Each case
renders manifests, starts nginx and asserts what the echo backend received
and what the client got: headers on both sides, a slow backend timing out
with 504, retries counted at the backend, a body over maxRequestSize
refused with 413, gzip by Accept-Encoding, the Host and the path
rewritten; header values from Secrets (each way secretRef names them,
across namespaces with and without a ReferenceGrant, a value with nginx
syntax in it arriving as it is, and a missing Secret or key, a value with
CR/LF or a key that is no header name failing closed without showing the
value); the precedence against the HTTPRoute's own filters and
timeouts; and the fields nginx cannot honour failing their rule closed
(500, the route's status naming the field) while other routes serve.
"""

import base64
import gzip
import os
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    NS, WEB_NS, Env, Table, backend_ref, check, expect_backend,
    expect_status, find_object, header_filter, prefix, reference_grant,
    response_header_filter, rewrite_filter, route, rule, run_cases)

V1 = "infra-backend-v1"
KGW = "gateway.kgateway.dev/v1alpha1"
GW = "same-namespace"


def policy(name, spec, targets):
    spec = dict(spec)
    spec["targetRefs"] = targets
    return {"apiVersion": KGW, "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def target(kind, name, section=None):
    t = {"group": "gateway.networking.k8s.io", "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def to_route(name):
    return [target("HTTPRoute", name)]


def simple(name, path, **kw):
    return route(name, [rule([prefix(path)], [backend_ref(V1)], **kw)])


def echo(r):
    expect_status(r, 200)
    return r.json()


def seen(record, name):
    """The values of request header `name` the backend received."""
    for k, v in record["headers"].items():
        if k.lower() == name.lower():
            return v
    return []


def settled_count(backend, path_prefix, timeout=3.0):
    last = -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = backend.count(path_prefix)
        if now == last:
            return now
        last = now
        time.sleep(0.2)
    return backend.count(path_prefix)


def route_messages(env, name):
    obj = find_object(env.status(), "HTTPRoute", name)
    check(obj is not None, "no status for HTTPRoute %s" % name)
    msgs = []
    for p in obj["status"].get("parents", []):
        for c in p.get("conditions", []):
            msgs.append("%s=%s: %s" % (c.get("type"), c.get("status"),
                                       c.get("message") or ""))
    return " | ".join(msgs)


# -- headerModifiers ----------------------------------------------------------


def header_modifiers_change_what_the_backend_and_the_client_see():
    with Env() as env:
        env.add(policy("hm", {"headerModifiers": {
            "request": {"set": [{"name": "X-Set", "value": "policy"}],
                        "add": [{"name": "X-Add", "value": "added"}],
                        "remove": ["X-Drop"]},
            "response": {"set": [{"name": "X-Resp-Set", "value": "r1"}],
                         "add": [{"name": "X-Resp-Add", "value": "r2"}],
                         "remove": ["X-Resp-Drop"]}}}, to_route("r")))
        env.add(simple("r", "/h"))
        env.add(simple("other", "/o"))
        env.start()
        t = Table()

        def modified():
            r = env.request("/h", headers=[
                ("X-Set", "client"), ("X-Add", "client"), ("X-Drop", "x"),
                ("X-Echo-Set-Header", "X-Resp-Drop:gone,X-Resp-Add:up")])
            rec = echo(r)
            check(seen(rec, "X-Set") == ["policy"], "X-Set %r"
                  % seen(rec, "X-Set"))
            check(seen(rec, "X-Add") == ["client", "added"], "X-Add %r"
                  % seen(rec, "X-Add"))
            check(seen(rec, "X-Drop") == [], "X-Drop reached the backend")
            check(r.header("X-Resp-Set") == "r1", "X-Resp-Set %r"
                  % r.header("X-Resp-Set"))
            check(r.header_all("X-Resp-Add") == ["up", "r2"],
                  "X-Resp-Add %r" % r.header_all("X-Resp-Add"))
            check(r.header("X-Resp-Drop") is None, "X-Resp-Drop reached "
                  "the client")

        def untouched():
            rec = echo(env.request("/o", headers=[("X-Drop", "x")]))
            check(seen(rec, "X-Drop") == ["x"], "another route lost X-Drop")
            check(seen(rec, "X-Set") == [], "another route got X-Set")
        t.run("targeted route", modified)
        t.run("other route", untouched)
        t.done()


def route_filters_win_on_requests_and_policy_wins_on_responses():
    """As Envoy runs kgateway's header_mutation filter around the route's
    own header changes: the policy's request headers first (the
    HTTPRoute's filter then sets over them), its response headers last."""
    with Env() as env:
        env.add(policy("hm", {"headerModifiers": {
            "request": {"set": [{"name": "X-Both", "value": "policy"}]},
            "response": {"set": [{"name": "X-Both-Resp",
                                  "value": "policy"}]}}}, to_route("r")))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)], filters=[
            header_filter(set=[("X-Both", "route")]),
            response_header_filter(set=[("X-Both-Resp", "route")])])]))
        env.start()
        r = env.request("/p")
        rec = echo(r)
        check(seen(rec, "X-Both") == ["route"], "X-Both %r"
              % seen(rec, "X-Both"))
        check(r.header_all("X-Both-Resp") == ["policy"], "X-Both-Resp %r"
              % r.header_all("X-Both-Resp"))


# -- headerModifiers from Secrets ----------------------------------------------
#
# kgateway's HTTPHeader takes its value from a Secret (secretRef): name
# and key both given, name is the header and key the data key; only one,
# it is both; neither, every entry is a header named after its key.


def secret(name, string_data=None, data=None, ns=NS):
    d = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": name, "namespace": ns}}
    if string_data is not None:
        d["stringData"] = string_data
    if data is not None:
        d["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
    return d


def secret_ref(name, key=None, ns=None):
    r = {"name": name}
    if key is not None:
        r["key"] = key
    if ns is not None:
        r["namespace"] = ns
    return r


def from_secret(ref, name=None):
    h = {"secretRef": ref}
    if name is not None:
        h["name"] = name
    return h


def secret_env(env, modifiers, *secrets):
    """Policy hm with `modifiers` on route r (/s); route other (/o)."""
    env.add(*secrets)
    env.add(policy("hm", {"headerModifiers": modifiers}, to_route("r")))
    env.add(simple("r", "/s"))
    env.add(simple("other", "/o"))
    env.start()


def expect_failed_closed(env, field_text, hidden=None):
    """Route r answers 500 and its status names field_text; other still
    serves; `hidden` (a Secret's value) is in no status gwf prints."""
    expect_status(env.request("/s"), 500)
    msg = route_messages(env, "r")
    check(field_text in msg and "TrafficPolicy" in msg,
          "route status %r does not name %r" % (msg, field_text))
    if hidden is not None:
        out = env.gwf("gateway", "status", "-f", env.manifest_dir,
                      "-o", "json")
        check(hidden not in out.stdout and hidden not in out.stderr,
              "gwf gateway status shows the Secret's value")
    expect_backend(env.request("/o"), V1)


def secret_value_sets_a_request_header():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("tok", "token"), "X-Token")]}},
            secret("tok", {"token": "s3cr3t"}))
        rec = echo(env.request("/s", headers=[("X-Token", "client")]))
        check(seen(rec, "X-Token") == ["s3cr3t"], "X-Token %r"
              % seen(rec, "X-Token"))


def secret_value_is_added_after_the_clients_header():
    with Env() as env:
        secret_env(env, {"request": {"add": [from_secret(
            secret_ref("tok", "token"), "X-Token")]}},
            secret("tok", {"token": "s3cr3t"}))
        rec = echo(env.request("/s", headers=[("X-Token", "client")]))
        check(seen(rec, "X-Token") == ["client", "s3cr3t"], "X-Token %r"
              % seen(rec, "X-Token"))


def secret_value_sets_a_response_header():
    with Env() as env:
        secret_env(env, {"response": {"set": [from_secret(
            secret_ref("tok", "token"), "X-Resp-Token")]}},
            secret("tok", data={"token": b"from-data"}))
        r = env.request("/s", headers=[
            ("X-Echo-Set-Header", "X-Resp-Token:backend")])
        expect_status(r, 200)
        check(r.header_all("X-Resp-Token") == ["from-data"],
              "X-Resp-Token %r" % r.header_all("X-Resp-Token"))


def secret_name_and_key_name_the_header_and_the_entry():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s", "entry"), "X-Header")]}},
            secret("s", {"entry": "v-entry", "X-Header": "v-header"}))
        rec = echo(env.request("/s"))
        check(seen(rec, "X-Header") == ["v-entry"], "X-Header %r"
              % seen(rec, "X-Header"))
        check(seen(rec, "entry") == [], "entry became a header")


def secret_key_alone_names_the_header():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s", "X-From-Key"))]}},
            secret("s", {"X-From-Key": "by-key", "X-Other": "no"}))
        rec = echo(env.request("/s"))
        check(seen(rec, "X-From-Key") == ["by-key"], "X-From-Key %r"
              % seen(rec, "X-From-Key"))
        check(seen(rec, "X-Other") == [], "another entry became a header")


def secret_name_alone_is_also_the_key():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s"), "X-By-Name")]}},
            secret("s", {"X-By-Name": "by-name", "X-Other": "no"}))
        rec = echo(env.request("/s"))
        check(seen(rec, "X-By-Name") == ["by-name"], "X-By-Name %r"
              % seen(rec, "X-By-Name"))
        check(seen(rec, "X-Other") == [], "another entry became a header")


def whole_secret_becomes_request_headers():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(secret_ref("s"))]}},
                   secret("s", {"X-A": "a", "X-C": "c"},
                          data={"X-B": b"b", "X-C": b"overridden"}))
        rec = echo(env.request("/s", headers=[("X-A", "client")]))
        got = [(n, seen(rec, n)) for n in ("X-A", "X-B", "X-C")]
        check(got == [("X-A", ["a"]), ("X-B", ["b"]), ("X-C", ["c"])],
              "headers %r" % got)


def secret_in_another_namespace_with_a_reference_grant_is_read():
    with Env() as env:
        env.add(reference_grant("tp-secrets", WEB_NS, NS,
                                from_kind="TrafficPolicy",
                                from_group="gateway.kgateway.dev",
                                to_kind="Secret"))
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s", "k", ns=WEB_NS), "X-K")]}},
            secret("s", {"k": "granted"}, ns=WEB_NS))
        rec = echo(env.request("/s"))
        check(seen(rec, "X-K") == ["granted"], "X-K %r" % seen(rec, "X-K"))


def secret_in_another_namespace_without_a_grant_fails_closed():
    with Env() as env:
        # A grant for HTTPRoutes does not cover TrafficPolicies.
        env.add(reference_grant("routes-only", WEB_NS, NS,
                                to_kind="Secret"))
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s", "k", ns=WEB_NS), "X-K")]}},
            secret("s", {"k": "not-granted"}, ns=WEB_NS))
        expect_failed_closed(env, "Secret %s/s is in another namespace and "
                             "no ReferenceGrant" % WEB_NS, "not-granted")


def missing_secret_fails_the_route_closed_and_says_so():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("absent", "k"), "X-K")]}})
        expect_failed_closed(env, "spec.headerModifiers.request.set[0]."
                             "secretRef: Secret %s/absent not found" % NS)


def missing_secret_key_fails_the_route_closed_and_says_so():
    with Env() as env:
        secret_env(env, {"response": {"add": [from_secret(
            secret_ref("s", "absent"), "X-K")]}},
            secret("s", {"k": "v"}))
        expect_failed_closed(env, "spec.headerModifiers.response.add[0]."
                             "secretRef: Secret %s/s has no key absent" % NS)


def secret_value_with_cr_lf_is_refused_without_showing_it():
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s", "k"), "X-K")]}},
            secret("s", data={"k": b"hidden-v\r\nX-Injected: 1"}))
        expect_failed_closed(env, "the value of key k in Secret %s/s is not "
                             "a header value" % NS, "hidden-v")
        check(env.backends[V1].count("/s") == 0, "the request reached the "
              "backend")


def secret_value_with_dollar_quote_backslash_reaches_the_backend_as_is():
    value = 'a"b\\c $host ${uri} \'q\' {x};#'
    with Env() as env:
        secret_env(env, {"request": {"set": [from_secret(
            secret_ref("s", "k"), "X-K")]},
            "response": {"set": [from_secret(secret_ref("s", "k"),
                                             "X-Resp-K")]}},
            secret("s", data={"k": value.encode()}))
        r = env.request("/s")
        rec = echo(r)
        check(seen(rec, "X-K") == [value], "X-K %r, sent %r"
              % (seen(rec, "X-K"), value))
        check(r.header_all("X-Resp-K") == [value], "X-Resp-K %r"
              % r.header_all("X-Resp-K"))


def secret_key_that_is_not_a_header_name_is_refused():
    with Env() as env:
        secret_env(env, {"request": {"add": [from_secret(secret_ref("s"))]}},
                   secret("s", {"X-Fine": "ok", "not:a-name": "v"}))
        expect_failed_closed(env, "Secret %s/s has a key that is not a "
                             "header name" % NS)


# -- timeouts -----------------------------------------------------------------


def request_timeout_gives_504():
    with Env() as env:
        env.add(policy("t", {"timeouts": {"request": "500ms"}},
                       to_route("r")))
        env.add(simple("r", "/t"))
        env.start()
        t = Table()

        def slow():
            r = env.request("/t?delay=2s")
            expect_status(r, 504)
            check(r.elapsed < 1.5, "504 after %.2fs" % r.elapsed)
        t.run("fast", lambda: expect_backend(env.request("/t"), V1))
        t.run("slow", slow)
        t.done()


def stream_idle_timeout_ends_a_silent_backend_with_504():
    with Env() as env:
        env.add(policy("t", {"timeouts": {"streamIdle": "500ms"}},
                       to_route("r")))
        env.add(simple("r", "/t"))
        env.start()
        r = env.request("/t?delay=2s")
        expect_status(r, 504)
        check(r.elapsed < 1.5, "504 after %.2fs" % r.elapsed)
        expect_backend(env.request("/t?delay=100ms"), V1)


def route_timeout_outranks_a_gateway_policy_and_a_route_policy_outranks_it():
    """kgateway: a TrafficPolicy above the route gives way to the
    HTTPRoute's own timeouts; one on the route wins over them."""
    with Env() as env:
        env.add(policy("gw", {"timeouts": {"request": "300ms"}},
                       [target("Gateway", GW)]))
        env.add(policy("rt", {"timeouts": {"request": "300ms"}},
                       to_route("strict")))
        env.add(route("own", [rule([prefix("/own")], [backend_ref(V1)],
                                   timeouts={"request": "5s"})]))
        env.add(simple("none", "/none"))
        env.add(route("strict", [rule([prefix("/strict")], [backend_ref(V1)],
                                      timeouts={"request": "5s"})]))
        env.start()
        t = Table()
        t.run("own timeout kept", lambda: expect_backend(
            env.request("/own?delay=800ms"), V1))
        t.run("gateway policy", lambda: expect_status(
            env.request("/none?delay=800ms"), 504))
        t.run("route policy", lambda: expect_status(
            env.request("/strict?delay=800ms"), 504))
        t.done()


# -- retry --------------------------------------------------------------------


def retry_on_5xx_resends_up_to_attempts():
    with Env() as env:
        env.add(policy("rt", {"retry": {"attempts": 2, "retryOn": ["5xx"]}},
                       to_route("r")))
        env.add(simple("r", "/retry"))
        env.start()
        be = env.backends[V1]
        t = Table()
        for code, fail, want, tries in ((500, 1, 200, 2), (503, 2, 200, 3),
                                        (500, 3, 500, 3), (404, 1, 404, 1)):
            def one(code=code, fail=fail, want=want, tries=tries):
                target_ = "/retry?status=%d&fail=%d&id=%s" % (
                    code, fail, uuid.uuid4().hex)
                expect_status(env.request(target_), want)
                got = settled_count(be, target_)
                check(got == tries, "the backend saw %d tries, expected %d"
                      % (got, tries))
            t.run("status=%d fail=%d" % (code, fail), one)
        t.done()


def retry_status_codes_resend_only_those_codes():
    with Env() as env:
        env.add(policy("rt", {"retry": {"attempts": 1,
                                        "statusCodes": [429]}},
                       to_route("r")))
        env.add(simple("r", "/retry"))
        env.start()
        be = env.backends[V1]
        t = Table()
        for code, want, tries in ((429, 200, 2), (500, 500, 1)):
            def one(code=code, want=want, tries=tries):
                target_ = "/retry?status=%d&fail=1&id=%s" % (
                    code, uuid.uuid4().hex)
                expect_status(env.request(target_), want)
                got = settled_count(be, target_)
                check(got == tries, "the backend saw %d tries, expected %d"
                      % (got, tries))
            t.run("status=%d" % code, one)
        t.done()


def per_try_timeout_retries_a_slow_try():
    with Env() as env:
        env.add(policy("rt", {"retry": {"attempts": 1, "retryOn": ["5xx"],
                                        "perTryTimeout": "300ms"}},
                       to_route("r")))
        env.add(simple("r", "/retry"))
        env.start()
        be = env.backends[V1]
        target_ = "/retry?status=500&fail=1&fail_delay=2s&id=%s" \
            % uuid.uuid4().hex
        r = env.request(target_)
        expect_status(r, 200)
        check(r.elapsed < 1.5, "answered after %.2fs" % r.elapsed)
        got = settled_count(be, target_)
        check(got == 2, "the backend saw %d tries, expected 2" % got)


def route_policy_retry_outranks_the_httproute_retry():
    with Env() as env:
        env.add(policy("rt", {"retry": {"attempts": 0, "retryOn": ["5xx"]}},
                       to_route("r")))
        env.add(route("r", [rule([prefix("/retry")], [backend_ref(V1)],
                                 retry={"codes": [500], "attempts": 3})]))
        env.start()
        be = env.backends[V1]
        target_ = "/retry?status=500&fail=1&id=%s" % uuid.uuid4().hex
        expect_status(env.request(target_), 500)
        got = settled_count(be, target_)
        check(got == 1, "the backend saw %d tries, expected 1" % got)


# -- buffer -------------------------------------------------------------------


def max_request_size_refuses_a_larger_body_with_413():
    with Env() as env:
        env.add(policy("b", {"buffer": {"maxRequestSize": "1Ki"}},
                       to_route("r")))
        env.add(simple("r", "/up"))
        env.add(simple("other", "/free"))
        env.start()
        be = env.backends[V1]
        t = Table()

        def at_limit():
            rec = echo(env.request("/up/at", method="POST", body=b"a" * 1024))
            check(rec["body_len"] == 1024, "body_len %r" % rec["body_len"])

        def over():
            expect_status(env.request("/up/over", method="POST",
                                      body=b"a" * 1025), 413)
            check(be.count("/up/over") == 0, "the backend got the body")
        t.run("at the limit", at_limit)
        t.run("one byte over", over)
        t.run("other route", lambda: expect_backend(env.request(
            "/free", method="POST", body=b"a" * 4096), V1))
        t.done()


def max_request_size_above_nginx_default_lets_larger_bodies_through():
    with Env() as env:
        env.add(policy("b", {"buffer": {"maxRequestSize": "3Mi"}},
                       to_route("r")))
        env.add(simple("r", "/up"))
        env.start()
        t = Table()

        def two_mb():
            rec = echo(env.request("/up", method="POST",
                                   body=b"a" * (2 << 20)))
            check(rec["body_len"] == 2 << 20, "body_len %r" % rec["body_len"])
        t.run("2 MiB", two_mb)
        t.run("3 MiB + 1", lambda: expect_status(env.request(
            "/up", method="POST", body=b"a" * ((3 << 20) + 1)), 413))
        t.done()


# -- compression --------------------------------------------------------------


def response_compression_gzips_when_the_client_accepts_it():
    with Env() as env:
        env.add(policy("c", {"compression": {"responseCompression": {}}},
                       to_route("r")))
        env.add(simple("r", "/z"))
        env.start()
        t = Table()

        def accepted():
            r = env.request("/z", headers=[("Accept-Encoding", "gzip")])
            expect_status(r, 200)
            check(r.header("Content-Encoding") == "gzip",
                  "Content-Encoding %r" % r.header("Content-Encoding"))
            check("Accept-Encoding" in (r.header("Vary") or ""),
                  "Vary %r" % r.header("Vary"))
            rec = __import__("json").loads(gzip.decompress(r.body))
            check(rec["backend"] == V1, "decompressed %r" % rec)

        def not_accepted():
            r = env.request("/z")
            check(r.header("Content-Encoding") is None,
                  "Content-Encoding %r" % r.header("Content-Encoding"))
            check(echo(r)["backend"] == V1, "body")
        t.run("Accept-Encoding: gzip", accepted)
        t.run("no Accept-Encoding", not_accepted)
        t.done()


def compression_disabled_on_a_route_lifts_the_gateways():
    with Env() as env:
        env.add(policy("gw", {"compression": {"responseCompression": {}}},
                       [target("Gateway", GW)]))
        env.add(policy("off", {"compression": {"responseCompression": {
            "disable": {}}}}, to_route("plain")))
        env.add(simple("plain", "/plain"))
        env.add(simple("zipped", "/zipped"))
        env.start()
        t = Table()
        t.run("disabled", lambda: check(env.request("/plain", headers=[
            ("Accept-Encoding", "gzip")]).header("Content-Encoding") is None,
            "the route was compressed"))
        t.run("gateway's", lambda: check(env.request("/zipped", headers=[
            ("Accept-Encoding", "gzip")]).header("Content-Encoding") ==
            "gzip", "the gateway's compression did not apply"))
        t.done()


# -- autoHostRewrite, urlRewrite ---------------------------------------------


def auto_host_rewrite_sends_the_backends_host_name():
    with Env(backends=[(V1, NS)]) as env:
        be = env.backends[V1]
        env.add({"apiVersion": KGW, "kind": "Backend",
                 "metadata": {"name": "static-echo", "namespace": NS},
                 "spec": {"type": "Static", "static": {"hosts": [
                     {"host": "localhost", "port": be.port}]}}})
        env.add(policy("ah", {"autoHostRewrite": True},
                       to_route("r") + to_route("svc")))
        env.add(route("r", [rule([prefix("/static")], [backend_ref(
            "static-echo", port=None, group="gateway.kgateway.dev",
            kind="Backend")])]))
        env.add(route("kept", [rule([prefix("/kept")], [backend_ref(
            "static-echo", port=None, group="gateway.kgateway.dev",
            kind="Backend")], filters=[rewrite_filter(
                hostname="rewritten.example")])]))
        env.add(policy("ah2", {"autoHostRewrite": True}, to_route("kept")))
        env.add(simple("svc", "/svc"))
        env.start()
        t = Table()
        t.run("static backend", lambda: check(
            echo(env.request("/static", host="client.example"))["host"] ==
            "localhost", "Host not rewritten to the backend's name"))
        t.run("URLRewrite hostname wins", lambda: check(
            echo(env.request("/kept", host="client.example"))["host"] ==
            "rewritten.example", "the URLRewrite hostname did not win"))
        t.run("service of addresses", lambda: check(
            echo(env.request("/svc", host="client.example"))["host"] ==
            "client.example", "Host changed for a backend without a name"))
        t.done()


def url_rewrite_replaces_the_path_by_regex():
    with Env() as env:
        env.add(policy("u", {"urlRewrite": {"pathRegex": {
            "pattern": "^/api/([a-z]+)/(.*)$",
            "substitution": "/v2/\\2/\\1"}}}, to_route("r")))
        env.add(simple("r", "/api"))
        env.start()
        t = Table()
        t.run("rewritten", lambda: check(
            echo(env.request("/api/users/42?x=1"))["path"] ==
            "/v2/42/users?x=1", "path not rewritten"))
        t.run("no match kept", lambda: check(
            echo(env.request("/api/7"))["path"] == "/api/7",
            "an unmatched path changed"))
        t.done()


# -- Fail closed --------------------------------------------------------------

UNHONOURABLE = [
    ("retryon", {"retry": {"retryOn": ["retriable-4xx"]}},
     "spec.retry.retryOn[0]"),
    ("codes", {"retry": {"statusCodes": [409]}}, "spec.retry.statusCodes[0]"),
    ("decompress", {"compression": {"requestDecompression": {}}},
     "spec.compression.requestDecompression"),
    ("brotli", {"compression": {"responseCompression": {
        "libraries": ["Brotli"]}}},
     "spec.compression.responseCompression.libraries[0]"),
    ("host", {"headerModifiers": {"request": {"set": [
        {"name": "Host", "value": "x"}]}}},
     "spec.headerModifiers.request.set[0]"),
    ("secret", {"headerModifiers": {"request": {"set": [
        {"name": "X-Key", "secretRef": {"name": "s"}}]}}},
     "spec.headerModifiers.request.set[0].secretRef"),
    ("unanchored", {"urlRewrite": {"pathRegex": {
        "pattern": "foo", "substitution": "/bar"}}},
     "spec.urlRewrite.pathRegex.pattern"),
]


def fields_nginx_cannot_honour_fail_their_rule_closed_and_say_so():
    with Env() as env:
        for name, spec, _ in UNHONOURABLE:
            env.add(policy(name, spec, to_route(name)))
            env.add(simple(name, "/" + name))
        env.add(simple("open", "/open"))
        env.start()
        t = Table()
        for name, _, field in UNHONOURABLE:
            def one(name=name, field=field):
                expect_status(env.request("/" + name), 500)
                msg = route_messages(env, name)
                check(field in msg and "TrafficPolicy" in msg,
                      "route status %r does not name %s" % (msg, field))
            t.run(name, one)
        t.run("open", lambda: expect_backend(env.request("/open"), V1))
        t.done()


def overridden_policy_nginx_cannot_honour_still_fails_closed():
    """A Gateway policy asking for Brotli reaches the route although the
    route's own policy wins the compression field."""
    with Env() as env:
        env.add(policy("gw", {"compression": {"responseCompression": {
            "libraries": ["Brotli"]}}}, [target("Gateway", GW)]))
        env.add(policy("rt", {"compression": {"responseCompression": {}}},
                       to_route("r")))
        env.add(simple("r", "/r"))
        env.start()
        expect_status(env.request("/r"), 500)


CASES = {f.__name__: f for f in [
    header_modifiers_change_what_the_backend_and_the_client_see,
    route_filters_win_on_requests_and_policy_wins_on_responses,
    secret_value_sets_a_request_header,
    secret_value_is_added_after_the_clients_header,
    secret_value_sets_a_response_header,
    secret_name_and_key_name_the_header_and_the_entry,
    secret_key_alone_names_the_header,
    secret_name_alone_is_also_the_key,
    whole_secret_becomes_request_headers,
    secret_in_another_namespace_with_a_reference_grant_is_read,
    secret_in_another_namespace_without_a_grant_fails_closed,
    missing_secret_fails_the_route_closed_and_says_so,
    missing_secret_key_fails_the_route_closed_and_says_so,
    secret_value_with_cr_lf_is_refused_without_showing_it,
    secret_value_with_dollar_quote_backslash_reaches_the_backend_as_is,
    secret_key_that_is_not_a_header_name_is_refused,
    request_timeout_gives_504,
    stream_idle_timeout_ends_a_silent_backend_with_504,
    route_timeout_outranks_a_gateway_policy_and_a_route_policy_outranks_it,
    retry_on_5xx_resends_up_to_attempts,
    retry_status_codes_resend_only_those_codes,
    per_try_timeout_retries_a_slow_try,
    route_policy_retry_outranks_the_httproute_retry,
    max_request_size_refuses_a_larger_body_with_413,
    max_request_size_above_nginx_default_lets_larger_bodies_through,
    response_compression_gzips_when_the_client_accepts_it,
    compression_disabled_on_a_route_lifts_the_gateways,
    auto_host_rewrite_sends_the_backends_host_name,
    url_rewrite_replaces_the_path_by_regex,
    fields_nginx_cannot_honour_fail_their_rule_closed_and_say_so,
    overridden_policy_nginx_cannot_honour_still_fails_closed,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
