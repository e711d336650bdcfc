#!/usr/bin/python3
"""test_listener_policies.py - kgateway's HTTPListenerPolicy and
ListenerPolicy access logs, through `gwf gateway render` and real nginx.

    /usr/bin/python3 test_listener_policies.py [CASE]

Each case writes a Gateway, routes to an echo backend and a listener
policy with `accessLog[].fileSink`, starts nginx, sends requests and reads
the line nginx wrote for each: every field is compared exactly (method,
path, protocol, status, a request header, the `?` fallback, the types
Envoy keeps in a jsonFormat, JSON escaping of a hostile header). The
fail-closed rule is checked too: a policy with a field, sink or operator
gwf cannot honour makes the routes of its Gateway answer 500 and says why
in `gwf gateway status`, while another Gateway keeps serving and logs
nothing of it.
"""

import json
import os
import re
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


def gw_target(name=GW, section=None):
    t = {"group": "gateway.networking.k8s.io", "kind": "Gateway",
         "name": name}
    if section:
        t["sectionName"] = section
    return t


def http_listener_policy(name, access_log, targets=None, extra=None):
    spec = {"targetRefs": targets or [gw_target()], "accessLog": access_log}
    spec.update(extra or {})
    return {"apiVersion": KGW, "kind": "HTTPListenerPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def listener_policy(name, spec):
    return {"apiVersion": KGW, "kind": "ListenerPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


# What kgateway's own e2e suites (rate_limit/global, extauth) log.
E2E_JSON = {
    "start_time": "%START_TIME%",
    "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "total_duration": "%DURATION%",
    "resp_upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "metatransform": "%DYNAMIC_METADATA(io.solo.transformation)%",
}


def file_sink(path, json_format=None, string_format=None):
    sink = {"path": path}
    if json_format is not None:
        sink["jsonFormat"] = json_format
    if string_format is not None:
        sink["stringFormat"] = string_format
    return {"fileSink": sink}


def read_lines(path, n, what="access log"):
    """The first n lines of path, waiting up to 5 s for nginx to write
    them (it writes each line when the request ends)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(len(lines) >= n, "%s %s: %d lines, expected %d: %r"
          % (what, path, len(lines), n, lines))
    return lines


def json_lines(path, n):
    """The JSON objects nginx logged to path (other lines skipped: nginx
    writes its own messages to the same file for /dev/stdout)."""
    deadline = time.monotonic() + 5
    while True:
        objs = []
        try:
            with open(path, "rb") as f:
                for line in f.read().decode("utf-8").splitlines():
                    if line.startswith("{"):
                        objs.append(json.loads(line))
        except FileNotFoundError:
            pass
        if len(objs) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(len(objs) == n, "%s: %d JSON lines, expected %d: %r"
          % (path, len(objs), n, objs))
    return objs


def expect_fields(got, want):
    for k, v in want.items():
        check(k in got, "no %r in %r" % (k, got))
        check(got[k] == v and type(got[k]) is type(v),
              "%s: %r (%s), expected %r (%s) in %r"
              % (k, got[k], type(got[k]).__name__, v, type(v).__name__, got))


def status_conditions(env, kind, name):
    obj = find_object(env.status(), kind, name)
    check(obj is not None, "no status for %s %s" % (kind, name))
    return obj["status"]["conditions"]


# -- Cases -------------------------------------------------------------------


def e2e_json_format_logs_each_request_with_its_fields():
    """kgateway's e2e jsonFormat: the `?` fallback picks :method and :path
    when X-Envoy-Original-* are absent, and the headers when present;
    RESPONSE_CODE and DURATION stay numbers, RESPONSE_FLAGS and
    DYNAMIC_METADATA have no value (null), as Envoy writes them."""
    with Env() as env:
        log = os.path.join(env.dir, "access.json")
        env.add(http_listener_policy("accesslog",
                                     [file_sink(log, json_format=E2E_JSON)]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_backend(env.request("/a/b?x=1",
                                   headers={"X-Request-Id": "req-1"}), V1)
        expect_backend(env.request("/c", method="POST", headers={
            "X-Envoy-Original-Method": "PUT",
            "X-Envoy-Original-Path": "/orig?y=2"}, body=b"hi"), V1)
        first, second = json_lines(log, 2)
        expect_fields(first, {
            "method": "GET", "path": "/a/b?x=1", "protocol": "HTTP/1.1",
            "response_code": 200, "response_flags": None,
            "resp_upstream_service_time": "", "request_id": "req-1",
            "metatransform": None})
        expect_fields(second, {
            "method": "PUT", "path": "/orig?y=2", "response_code": 200,
            "request_id": ""})
        check(list(first) == list(E2E_JSON),
              "members out of the manifest's order: %r" % list(first))
        for obj in (first, second):
            check(type(obj["total_duration"]) is int and
                  0 <= obj["total_duration"] < 5000,
                  "total_duration %r" % obj["total_duration"])
            check(obj["start_time"][:4].isdigit() and
                  obj["start_time"][10] == "T",
                  "start_time %r" % obj["start_time"])


def duration_and_connection_operators_log_what_nginx_measured():
    """%DURATION% is whole milliseconds (the backend sleeps 1.2 s),
    %BYTES_SENT% the body's length, the addresses are the client's, the
    listener's and the backend's, %RESPONSE_CODE% the backend's status,
    %START_TIME(%s)% Unix seconds, %HOSTNAME% this host's name."""
    with Env() as env:
        log = os.path.join(env.dir, "access.json")
        env.add(http_listener_policy("accesslog", [file_sink(
            log, json_format={"ms": "%DURATION%",
                              "bytes": "%BYTES_SENT%",
                              "client": "%DOWNSTREAM_REMOTE_ADDRESS%",
                              "ip": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                              "upstream": "%UPSTREAM_HOST%",
                              "code": "%RESPONSE_CODE%",
                              "local": "%DOWNSTREAM_LOCAL_ADDRESS%",
                              "sni": "%REQUESTED_SERVER_NAME%",
                              "host": "%HOSTNAME%",
                              "epoch": "%START_TIME(%s)%"})]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        r = env.request("/slow?delay=1.2s&status=202")
        expect_status(r, 202)
        (obj,) = json_lines(log, 1)
        check(type(obj["ms"]) is int and 1200 <= obj["ms"] < 4000,
              "duration %r ms for a 1.2 s backend" % obj["ms"])
        check(obj["bytes"] == len(r.body),
              "bytes %r, body %d" % (obj["bytes"], len(r.body)))
        check(re.fullmatch(r"127\.0\.0\.1:[0-9]+", obj["client"]) and
              obj["client"] != "127.0.0.1:%d" % env.port(80),
              "client %r" % obj["client"])
        check(obj["ip"] == "127.0.0.1", "ip %r" % obj["ip"])
        check(re.fullmatch(r"[0-9.]+:[0-9]+", obj["upstream"]),
              "upstream %r" % obj["upstream"])
        check(obj["code"] == 202, "code %r" % obj["code"])
        check(obj["local"] == "127.0.0.1:%d" % env.port(80),
              "local %r" % obj["local"])
        check(obj["sni"] == "", "sni %r without TLS" % obj["sni"])
        check(obj["host"] == socket.gethostname(), "host %r" % obj["host"])
        check(abs(int(obj["epoch"]) - time.time()) < 10,
              "epoch %r" % obj["epoch"])


def hostile_header_value_is_json_escaped():
    """Quotes, backslashes and control bytes in a header stay inside
    their JSON string: the line parses and the value comes back whole."""
    hostile = 'a"b\\c\x01d\te","injected":"1'
    with Env() as env:
        log = os.path.join(env.dir, "access.json")
        env.add(http_listener_policy("accesslog", [file_sink(
            log, json_format={"ua": "%REQ(User-Agent)%",
                              "cut": "%REQ(User-Agent):3%"})]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_backend(env.request("/", headers={"User-Agent": hostile}), V1)
        (obj,) = json_lines(log, 1)
        check(obj == {"ua": hostile, "cut": hostile[:3]},
              "logged %r, expected the header whole and cut to 3" % obj)


def string_format_writes_envoy_operators_as_one_line():
    fmt = ('[%PROTOCOL%] "%REQ(:METHOD)% %REQ(:PATH)%" %RESPONSE_CODE% '
           '%REQ(X-Who?:AUTHORITY)% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% '
           '100%% $x %BYTES_SENT% %RESP(X-Missing)%\n')
    with Env() as env:
        log = os.path.join(env.dir, "access.txt")
        env.add(http_listener_policy("accesslog",
                                     [file_sink(log, string_format=fmt)]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        r = env.request("/p?q=1", host="example.com",
                        headers={"X-Who": "alice"})
        expect_backend(r, V1)
        env.request("/p2", host="example.com")
        lines = read_lines(log, 2)
        size = len(r.body)
        want = ('[HTTP/1.1] "GET /p?q=1" 200 alice 127.0.0.1 100%% $x %d -'
                % size)
        check(lines[0] == want, "line %r, expected %r" % (lines[0], want))
        check(lines[1].startswith('[HTTP/1.1] "GET /p2" 200 example.com '),
              "fallback to :authority: %r" % lines[1])


def format_and_path_that_close_the_directive_stay_text():
    """A manifest cannot inject nginx directives: a format and a path
    holding quotes, ';', '{' and '#' are logged and opened as written."""
    fmt = 'x"; return 200 "pwned"; } # { %RESPONSE_CODE%'
    with Env() as env:
        log = os.path.join(env.dir, 'a"; error_log x; #.log')
        env.add(http_listener_policy("accesslog",
                                     [file_sink(log, string_format=fmt)]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_backend(env.request("/"), V1)
        lines = read_lines(log, 1)
        want = 'x"; return 200 "pwned"; } # { 200'
        check(lines == [want], "logged %r, expected %r" % (lines, want))


def stdout_sink_reaches_nginx_stdout():
    """/dev/stdout (what kgateway's e2e manifests use) is nginx's standard
    output: here the harness's nginx.stderr file."""
    with Env() as env:
        env.add(http_listener_policy("accesslog", [file_sink(
            "/dev/stdout", json_format={"path": "%REQ(:PATH)%",
                                        "code": "%RESPONSE_CODE%"})]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_backend(env.request("/to-stdout"), V1)
        (obj,) = json_lines(os.path.join(env.dir, "nginx.stderr"), 1)
        check(obj == {"path": "/to-stdout", "code": 200}, "logged %r" % obj)


def listener_policy_logs_per_port_and_not_for_another_gateway():
    """ListenerPolicy: the default on one port, perPort's on the other;
    a second Gateway's requests are in neither."""
    with Env(base_gateway=False) as env:
        default_log = os.path.join(env.dir, "default.json")
        port_log = os.path.join(env.dir, "port.json")
        env.add(gateway(GW, [listener("one", 80), listener("two", 8080)]))
        env.add(gateway("other", [listener("http", 8081)]))
        env.add(listener_policy("lp", {
            "targetRefs": [gw_target()],
            "default": {"httpSettings": {"accessLog": [file_sink(
                default_log, json_format={"p": "%REQ(:PATH)%"})]}},
            # perPort names the real port (the harness maps only the
            # Gateway's and parentRefs' ports).
            "perPort": [{"port": env.port(8080), "listener": {
                "httpSettings": {
                "accessLog": [file_sink(port_log, json_format={
                    "q": "%REQ(:PATH)%"})]}}}]}))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.add(route("o", [rule([prefix("/")], [backend_ref(V1)])],
                      parents=[parent("other")]))
        env.start()
        expect_backend(env.request("/other", port=8081), V1)
        expect_backend(env.request("/one", port=80), V1)
        expect_backend(env.request("/two", port=8080), V1)
        check(json_lines(default_log, 1) == [{"p": "/one"}],
              "default log")
        check(json_lines(port_log, 1) == [{"q": "/two"}], "per-port log")
        expect_condition(status_conditions(env, "ListenerPolicy", "lp"),
                         "Accepted", True, "Accepted", "lp")


def unsupported_field_fails_its_gateway_closed_and_says_so():
    """A grpcService sink gwf lacks: the Gateway's routes answer 500 and
    the policy is Accepted False naming the field; another Gateway keeps
    serving."""
    with Env(base_gateway=False) as env:
        env.add(gateway(GW, [listener("http", 80)]))
        env.add(gateway("other", [listener("http", 8081)]))
        env.add(http_listener_policy("als", [{"grpcService": {
            "logName": "x", "backendRef": {"name": "als", "port": 9}}}]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.add(route("o", [rule([prefix("/")], [backend_ref(V1)])],
                      parents=[parent("other")]))
        env.start()
        t = Table()
        t.run("targeted", lambda: expect_status(env.request("/x"), 500))
        t.run("other gateway",
              lambda: expect_backend(env.request("/x", port=8081), V1))

        def status():
            conds = status_conditions(env, "HTTPListenerPolicy", "als")
            c = expect_condition(conds, "Accepted", False, "Invalid", "als")
            check("spec.accessLog[0].grpcService" in c["message"],
                  "message %r does not name the field" % c["message"])
            expect_condition(conds, "Attached", True, "Attached", "als")
        t.run("status", status)
        t.done()


def unsupported_operator_fails_closed_and_names_it():
    with Env() as env:
        log = os.path.join(env.dir, "access.txt")
        env.add(http_listener_policy("accesslog", [file_sink(
            log, string_format="%UPSTREAM_CLUSTER%")]))
        env.add(route("r", [rule([prefix("/")], [backend_ref(V1)])]))
        env.start()
        expect_status(env.request("/"), 500)
        c = expect_condition(
            status_conditions(env, "HTTPListenerPolicy", "accesslog"),
            "Accepted", False, "Invalid", "accesslog")
        check("%UPSTREAM_CLUSTER%" in c["message"],
              "message %r does not name the operator" % c["message"])
        check(not os.path.exists(log), "a refused policy wrote a log")


CASES = {f.__name__: f for f in [
    e2e_json_format_logs_each_request_with_its_fields,
    duration_and_connection_operators_log_what_nginx_measured,
    hostile_header_value_is_json_escaped,
    string_format_writes_envoy_operators_as_one_line,
    format_and_path_that_close_the_directive_stay_text,
    stdout_sink_reaches_nginx_stdout,
    listener_policy_logs_per_port_and_not_for_another_gateway,
    unsupported_field_fails_its_gateway_closed_and_says_so,
    unsupported_operator_fails_closed_and_names_it,
]}

if __name__ == "__main__":
    sys.exit(run_cases(CASES, sys.argv))
