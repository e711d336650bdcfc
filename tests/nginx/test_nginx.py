#!/usr/bin/python3
"""test_nginx.py - the gwf nginx module against the real nginx.

    /usr/bin/python3 test_nginx.py CASE      (exit 0 pass, 1 fail)

One behaviour per case, each named after it; meson runs each case as its
own test (tests/nginx/meson.build), which also sets the environment
harness.py documents (module path, plugin directories, ASan).

Every case starts its own nginx in a temporary prefix, with the upstream
echo server of harness.py behind proxy_pass (the module runs chains in the
access phase, so test locations proxy rather than `return`), and a
`gwf_metrics` location used as the leak check: after the requests end,
gwf_streams_active and gwf_async_active must be back at 0.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    Background, Nginx, TestFailure, Upstream, check, direct_response,
    echo_header, free_port, metric, parse_metrics, probe, read_text,
    request, run_case, tail, wait_for)

METRICS_LOCATION = """
        location = /metrics { gwf_metrics; }
"""


def server(*locations):
    """A server block body: the given locations plus /metrics."""
    return "\n".join("        " + loc.strip() for loc in locations) + \
        METRICS_LOCATION


def proxied(path, *directives):
    """A location that runs gwf directives, then proxies to the upstream."""
    body = " ".join(d.rstrip(";") + ";" for d in directives)
    return "location %s { %s proxy_pass http://{UP}; }" % (path, body)


def get_metrics(ngx):
    r = request(ngx.port, "GET", "/metrics")
    check(r.status == 200, "GET /metrics answered %d: %r" % (r.status, r.body))
    return parse_metrics(r.text)


def assert_no_leaks(ngx, timeout=5.0):
    """Every gwf_streams_active and gwf_async_active series returns to 0.

    A worker publishes its snapshot once a second; the serving worker's
    own numbers are fresh: poll for a few seconds."""
    last = {}

    def settled():
        m = get_metrics(ngx)
        last.clear()
        last.update({k: v for k, v in m.items()
                     if k.startswith(("gwf_streams_active",
                                      "gwf_async_active"))})
        return last and all(v == 0 for v in last.values())
    if not wait_for(settled, timeout, interval=0.2):
        raise TestFailure("gauges did not return to 0 within %.0fs: %s"
                          % (timeout, last or "(no such series)"))


def expect_status(resp, status, what=""):
    check(resp.status == status,
          "%sexpected status %d, got %d; headers %r; body %r"
          % (what + ": " if what else "", status, resp.status, resp.headers,
             resp.body[:400]))


def wait_paused(ngx, tag, count=1, timeout=5.0):
    """Wait until the probe `tag` logged `count` request_headers hooks."""
    ngx.wait_log(r"probe %s request_headers " % re.escape(tag), timeout,
                 count)


# ---------------------------------------------------------------------------
# Direct responses
# ---------------------------------------------------------------------------

def direct_response_replies():
    manifests = {"dr.yaml": [
        direct_response(
            "maintenance", 503, "We are upgrading the shop.\n",
            content_type="text/html; charset=utf-8",
            headers=[{"name": "retry-after", "value": "3600"},
                     {"name": "set-cookie", "value": "a=1"},
                     {"name": "set-cookie", "value": "b=2"}]),
        direct_response("moved", 301,
                        headers={"location": "https://example.com/new",
                                 "cache-control": "no-store"}),
        direct_response("plain", 200, "hello\n"),
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/maint", "gwf_direct_response default/maintenance"),
            proxied("/moved", "gwf_direct_response default/moved"),
            proxied("/plain", "gwf_direct_response default/plain")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/maint/page")
        expect_status(r, 503, "/maint")
        check(r.body == b"We are upgrading the shop.\n",
              "/maint body: %r" % r.body)
        check(r.header("content-type") == "text/html; charset=utf-8",
              "/maint content-type: %r" % r.header("content-type"))
        check(r.header("content-length") == str(len(r.body)),
              "/maint content-length: %r" % r.header("content-length"))
        check(r.header("retry-after") == "3600",
              "/maint retry-after: %r" % r.headers)
        check(r.header_all("set-cookie") == ["a=1", "b=2"],
              "/maint set-cookie lines: %r" % r.header_all("set-cookie"))

        r = request(ngx.port, "GET", "/moved")
        expect_status(r, 301, "/moved")
        check(r.header("location") == "https://example.com/new",
              "/moved location: %r" % r.header("location"))
        check(r.header("cache-control") == "no-store",
              "/moved cache-control: %r" % r.header("cache-control"))
        check(r.body == b"" and r.header("content-length") == "0",
              "/moved: expected an empty body with content-length 0, got "
              "%r / %r" % (r.body, r.header("content-length")))
        check(r.header("content-type") is None,
              "/moved: no body, so no content-type; got %r"
              % r.header("content-type"))

        r = request(ngx.port, "GET", "/plain")
        expect_status(r, 200, "/plain")
        check(r.body == b"hello\n", "/plain body: %r" % r.body)
        check(r.header("content-type") == "text/plain; charset=utf-8",
              "/plain default content-type: %r" % r.header("content-type"))

        # HEAD: the headers without the body.
        r = request(ngx.port, "HEAD", "/plain")
        expect_status(r, 200, "HEAD /plain")
        check(r.body == b"", "HEAD /plain sent a body: %r" % r.body)

        # A request body is discarded: the connection stays usable for the
        # next request on it.
        conn = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=10)
        try:
            conn.request("POST", "/plain", body=b"x" * 5000)
            r1 = conn.getresponse()
            b1 = r1.read()
            conn.request("GET", "/maint")
            r2 = conn.getresponse()
            b2 = r2.read()
        finally:
            conn.close()
        check(r1.status == 200 and b1 == b"hello\n",
              "POST /plain: %d %r" % (r1.status, b1))
        check(r2.status == 503 and b2 == b"We are upgrading the shop.\n",
              "second request on the connection after a POST: %d %r"
              % (r2.status, b2))

        check(up.hits == 0, "the upstream was called %d time(s): %r"
              % (up.hits, up.requests))
        m = get_metrics(ngx)
        n = metric(m, "gwf_local_replies_total", instance="/maint",
                   status="503", details="direct_response")
        check(n == 2, "gwf_local_replies_total for /maint: %r" % n)
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# nginx -t
# ---------------------------------------------------------------------------

GOOD_DR = direct_response("hello", 200, "hello\n")

BAD_STATUS_YAML = """\
# A DirectResponse whose status is not a valid HTTP status.
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata:
  name: too-low
  namespace: default
spec:
  status: 99
  body: "never sent\\n"
"""


def control_config_ok(ngx):
    """nginx -t passes before the test breaks something: the failure that
    follows is the broken thing's, not the harness's."""
    res = ngx.test_config()
    check(res.returncode == 0,
          "nginx -t failed on the good configuration (exit %d):\n%s"
          % (res.returncode, res.stderr))


def nginx_t_fails_on_bad_manifest():
    ngx = Nginx(server(proxied("/", "gwf_direct_response default/hello")),
                {"good.yaml": GOOD_DR})
    control_config_ok(ngx)
    path = ngx.write_manifest("bad.yaml", BAD_STATUS_YAML)
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0,
          "nginx -t exited 0 with a DirectResponse of status 99:\n" + out)
    check(path + ":8:" in out,
          "nginx -t does not name %s:8 (the status line):\n%s" % (path, out))
    check("spec.status" in out, "nginx -t does not name spec.status:\n" + out)
    check("99" in out, "nginx -t does not show the value 99:\n" + out)
    check("[emerg]" in out, "nginx -t reports no [emerg]:\n" + out)
    ngx.discard()


def nginx_t_fails_on_unknown_reference():
    ngx = Nginx(server(proxied("/ok", "gwf_direct_response default/hello"),
                       proxied("/bad", "gwf_direct_response default/nope")),
                {"good.yaml": GOOD_DR})
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0,
          "nginx -t exited 0 with gwf_direct_response default/nope:\n" + out)
    check("default/nope" in out,
          "nginx -t does not name the reference default/nope:\n" + out)
    check("[emerg]" in out, "nginx -t reports no [emerg]:\n" + out)
    check(ngx.conf in out,
          "nginx -t does not name the nginx configuration file:\n" + out)
    # Control: the same configuration without the bad location passes.
    ngx.locations = server(proxied("/ok",
                                   "gwf_direct_response default/hello"))
    control_config_ok(ngx)
    ngx.discard()


def nginx_t_fails_on_missing_plugin():
    ext = probe("gone", {})
    ext["spec"]["plugin"]["name"] = "no_such_plugin"
    ngx = Nginx(server(proxied("/", "gwf_extension default/gone")),
                {"good.yaml": GOOD_DR})
    ngx.locations = server(proxied("/", "gwf_direct_response default/hello"))
    control_config_ok(ngx)
    ngx.locations = server(proxied("/", "gwf_extension default/gone"))
    path = ngx.write_manifest("ext.yaml", ext)
    res = ngx.test_config()
    out = res.stderr + res.stdout
    check(res.returncode != 0,
          "nginx -t exited 0 with a plugin that does not exist:\n" + out)
    check("no_such_plugin" in out,
          "nginx -t does not name the plugin no_such_plugin:\n" + out)
    check(path in out, "nginx -t does not name the manifest %s:\n%s"
          % (path, out))
    check("[emerg]" in out, "nginx -t reports no [emerg]:\n" + out)
    ngx.discard()


# ---------------------------------------------------------------------------
# Pauses
# ---------------------------------------------------------------------------

def pause_on_timer_then_resume():
    manifests = {"p.yaml": [
        probe("short", {"tag": "S",
                        "actions": {"request_headers": "pause_timer:100ms"}}),
        probe("long", {"tag": "L",
                       "actions": {"request_headers": "pause_timer:1500ms"}}),
        GOOD_DR,
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/short", "gwf_extension default/short"),
            proxied("/long", "gwf_extension default/long"),
            proxied("/fast", "gwf_direct_response default/hello"),
            "location /plain { proxy_pass http://{UP}; }"),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/short/x?y=1")
        expect_status(r, 200, "/short")
        check(r.json()["path"] == "/short/x?y=1",
              "the upstream saw %r" % r.json()["path"])
        check(r.elapsed >= 0.09,
              "a 100 ms pause answered after %.3fs" % r.elapsed)
        ngx.wait_log(r"probe S timer_fired")
        ngx.wait_log(r"probe S note: wake resume=0 ")

        # While /long is paused, the same (only) worker answers others.
        slow = Background(ngx.port, "GET", "/long")
        wait_paused(ngx, "L")
        t0 = time.monotonic()
        r = request(ngx.port, "GET", "/fast")
        expect_status(r, 200, "/fast during the pause")
        r2 = request(ngx.port, "GET", "/plain/during")
        expect_status(r2, 200, "/plain during the pause")
        took = time.monotonic() - t0
        check(took < 0.5, "requests during a pause took %.3fs: the worker "
              "is blocked" % took)
        check("probe L timer_fired" not in ngx.log(),
              "the 1500 ms timer fired before the other requests finished")
        r = slow.result()
        expect_status(r, 200, "/long")
        check(r.elapsed >= 1.4, "a 1500 ms pause answered after %.3fs"
              % r.elapsed)
        check(r.json()["path"] == "/long", "upstream saw %r" % r.json())
        m = get_metrics(ngx)
        check(metric(m, "gwf_pauses_total", instance="/long") == 1,
              "gwf_pauses_total{/long}: %r" % metric(m, "gwf_pauses_total",
                                                      instance="/long"))
        cnt = metric(m, "gwf_pause_seconds_count", instance="/short")
        check(cnt == 1, "gwf_pause_seconds_count{/short}: %r" % cnt)
        assert_no_leaks(ngx)


def _pause_then_resume(action, tag, wake_event, extra_check=None):
    manifests = {"p.yaml": probe("p", {"tag": tag,
                                       "actions": {"request_headers": action}})}
    with Upstream() as up, Nginx(server(
            proxied("/p", "gwf_extension default/p")), manifests, up) as ngx:
        for i in range(3):
            r = request(ngx.port, "POST" if i == 2 else "GET", "/p/%d" % i,
                        body=b"payload" if i == 2 else None)
            expect_status(r, 200, "/p/%d" % i)
            echo = r.json()
            check(echo["path"] == "/p/%d" % i, "upstream saw %r" % echo)
            if i == 2:
                check(echo["body"] == "payload",
                      "upstream got body %r" % echo["body"])
        ngx.wait_log(r"probe %s %s" % (tag, wake_event), count=3)
        ngx.wait_log(r"probe %s note: wake resume=0 " % tag, count=3)
        check(up.hits == 3, "upstream hits: %d" % up.hits)
        if extra_check:
            extra_check(ngx)
        assert_no_leaks(ngx)


def pause_on_fd_then_resume():
    def cancels(ngx):
        # The probe cancels its watch in the callback, then once more:
        # ids are never reused, so the second is GWF_ERR_NOT_FOUND (1).
        again = re.findall(r"probe F note: fd_cancel_again=(\d+)",
                           ngx.log())
        check(again == ["1"] * 3, "second fd_cancel answered %r, expected "
              "1 (GWF_ERR_NOT_FOUND) three times" % again)
        check("probe F note: fd_cancel=" not in ngx.log(),
              "the first fd_cancel failed:\n" + tail(ngx.log()))
    _pause_then_resume("pause_fd", "F", "fd_ready", cancels)


def pause_on_post_then_resume():
    _pause_then_resume("pause_post", "Q", "post_run")


def pause_deadline_gives_504():
    manifests = {"p.yaml": [
        probe("stuck", {"tag": "D", "actions": {"request_headers": "pause"}}),
        probe("stuckfd", {"tag": "E",
                          "actions": {"request_headers": "pause_fd_idle"}}),
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/stuck", "gwf_extension default/stuck"),
            proxied("/stuckfd", "gwf_extension default/stuckfd")),
            manifests, up, http_extra="    gwf_max_pause 200ms;") as ngx:
        for path in ("/stuck", "/stuckfd"):
            r = request(ngx.port, "GET", path)
            expect_status(r, 504, path)
            check(0.18 <= r.elapsed < 3.0,
                  "%s: the 200 ms pause deadline answered after %.3fs"
                  % (path, r.elapsed))
        check(up.hits == 0, "the upstream was called: %r" % up.requests)
        ngx.wait_log(r"did not resume the stream within 200 ms", count=2)
        m = get_metrics(ngx)
        for inst in ("/stuck", "/stuckfd"):
            n = metric(m, "gwf_local_replies_total", instance=inst,
                       status="504")
            check(n == 1, "gwf_local_replies_total{%s,504}: %r" % (inst, n))
        errs = metric(m, "gwf_errors_total")
        check(errs == 2, "gwf_errors_total: %r (series %r)"
              % (errs, {k: v for k, v in m.items()
                        if k.startswith("gwf_errors_total")}))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# Headers and bodies
# ---------------------------------------------------------------------------

def request_headers_rewritten():
    manifests = {"p.yaml": [
        probe("hdr", {"tag": "H",
                      "remove_request_header": ["x-remove-me"],
                      "set_request_header": {"x-added": "yes",
                                             "x-replace": "new"},
                      "add_request_header": {"x-multi": "second"}}),
        probe("path", {"tag": "R",
                       "set_request_header": {":path": "/rewritten/p?q=1"}}),
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/h", "gwf_extension default/hdr"),
            proxied("/path", "gwf_extension default/path")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/h", headers={
            "X-Remove-Me": "secret", "X-Replace": "old",
            "X-Multi": "first", "X-Keep": "kept"})
        expect_status(r, 200, "/h")
        echo = r.json()
        hdrs = [(k.lower(), v) for k, v in echo["headers"]]
        check(("x-added", "yes") in hdrs, "x-added missing: %r" % hdrs)
        check([v for k, v in hdrs if k == "x-replace"] == ["new"],
              "x-replace should be exactly [new]: %r" % hdrs)
        check(not [v for k, v in hdrs if k == "x-remove-me"],
              "x-remove-me reached the upstream: %r" % hdrs)
        check([v for k, v in hdrs if k == "x-multi"] == ["first", "second"],
              "x-multi should be [first, second]: %r" % hdrs)
        check(("x-keep", "kept") in hdrs, "x-keep lost: %r" % hdrs)

        r = request(ngx.port, "GET", "/path/original?a=b")
        expect_status(r, 200, "/path")
        check(r.json()["path"] == "/rewritten/p?q=1",
              "the :path rewrite did not reach the upstream: it saw %r"
              % r.json()["path"])
        assert_no_leaks(ngx)


def response_headers_rewritten():
    manifests = {"p.yaml": probe("resp", {
        "tag": "W",
        "remove_response_header": ["x-drop-me"],
        "set_response_header": {"x-upstream": "rewritten", "x-new": "1",
                                "content-type": "text/x-rewritten"},
        "add_response_header": {"x-added": "a"}})}
    with Upstream() as up, Nginx(server(
            proxied("/r", "gwf_extension default/resp")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/r")
        expect_status(r, 200, "/r")
        check(r.header_all("x-upstream") == ["rewritten"],
              "x-upstream: %r" % r.headers)
        check(r.header("x-new") == "1", "x-new missing: %r" % r.headers)
        check(r.header("x-added") == "a", "x-added missing: %r" % r.headers)
        check(r.header("x-drop-me") is None,
              "x-drop-me reached the client: %r" % r.headers)
        check(r.header_all("content-type") == ["text/x-rewritten"],
              "content-type: %r" % r.header_all("content-type"))
        # The body is the upstream's, untouched.
        check(r.json()["path"] == "/r", "body: %r" % r.body[:200])
        assert_no_leaks(ngx)


def request_body_rewritten():
    manifests = {"p.yaml": [
        probe("set", {"tag": "B", "set_request_body": "the new body",
                      "body_will_change": ["request"]}),
        probe("append", {"tag": "A", "append_request_body": "+tail",
                         "body_will_change": ["request"]}),
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/set", "gwf_extension default/set"),
            proxied("/append", "gwf_extension default/append")),
            manifests, up) as ngx:
        original = b"original body, longer than the new one " * 3
        r = request(ngx.port, "POST", "/set", body=original,
                    headers={"Content-Type": "text/plain"})
        expect_status(r, 200, "POST /set")
        echo = r.json()
        check(echo["body"] == "the new body",
              "the upstream got %r" % echo["body"])
        check(echo_header(echo, "content-length") == str(len("the new body")),
              "content-length at the upstream: %r (headers %r)"
              % (echo_header(echo, "content-length"), echo["headers"]))

        # A chunked request body: the upstream gets a Content-Length.
        def chunks():
            yield b"part one,"
            yield b"part two"
        r = request(ngx.port, "POST", "/append", body=chunks(),
                    chunked=True)
        expect_status(r, 200, "chunked POST /append")
        echo = r.json()
        check(echo["body"] == "part one,part two+tail",
              "the upstream got %r" % echo["body"])
        check(echo_header(echo, "content-length") == str(len(echo["body"])),
              "content-length at the upstream: %r"
              % echo_header(echo, "content-length"))
        check(echo_header(echo, "transfer-encoding") is None,
              "the upstream still got transfer-encoding: %r"
              % echo["headers"])

        # A larger body (written to a temp file by nginx) still works.
        big = bytes(range(48, 58)) * 20000
        r = request(ngx.port, "POST", "/append", body=big)
        expect_status(r, 200, "POST /append (200 kB)")
        echo = r.json()
        check(echo["body_len"] == len(big) + 5 and
              echo["body"].endswith("+tail") and
              echo["body"].encode("latin-1")[:len(big)] == big,
              "the upstream got %d bytes ending %r"
              % (echo["body_len"], echo["body"][-20:]))
        ngx.wait_log(r"probe B request_body eos=1 len=%d" % len(original))
        assert_no_leaks(ngx)


def response_body_rewritten():
    manifests = {"p.yaml": [
        probe("set", {"tag": "B", "set_response_body": "replaced body\n",
                      "body_will_change": ["response"]}),
        probe("append", {"tag": "A",
                         "actions": {"response_headers": "buffer"},
                         "append_response_body": "+tail"}),
    ]}
    with Upstream() as up, Nginx(server(
            proxied("/set", "gwf_extension default/set"),
            proxied("/append", "gwf_extension default/append")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/set")
        expect_status(r, 200, "/set")
        check(r.body == b"replaced body\n", "client got %r" % r.body[:300])
        cl = r.header("content-length")
        check(cl is None or cl == str(len(r.body)),
              "content-length %r does not match the %d-byte body"
              % (cl, len(r.body)))

        # A large, multi-buffer upstream body, buffered whole by the plugin.
        n = 300000
        r = request(ngx.port, "GET", "/append/big?n=%d" % n)
        pattern = b"0123456789abcdef"
        expected = (pattern * (n // 16 + 1))[:n] + b"+tail"
        expect_status(r, 200, "/append/big")
        check(r.body == expected,
              "client got %d bytes ending %r (expected %d ending %r)"
              % (len(r.body), r.body[-20:], len(expected), expected[-20:]))
        cl = r.header("content-length")
        check(cl is None or cl == str(len(r.body)),
              "content-length %r for a %d-byte body" % (cl, len(r.body)))
        assert_no_leaks(ngx)


def local_reply_from_request_body():
    manifests = {"p.yaml": probe("deny", {
        "tag": "Y",
        "actions": {"request_body": "reply:403"},
        "reply": {"body": "denied by body\n", "details": "probe_body",
                  "headers": {"x-why": "body"}}})}
    with Upstream() as up, Nginx(server(
            proxied("/deny", "gwf_extension default/deny")),
            manifests, up) as ngx:
        r = request(ngx.port, "POST", "/deny", body=b"please let me in")
        expect_status(r, 403, "POST /deny")
        check(r.body == b"denied by body\n", "body: %r" % r.body)
        check(r.header("x-why") == "body", "x-why: %r" % r.headers)
        check(r.header("content-length") == str(len(r.body)),
              "content-length: %r" % r.header("content-length"))
        check(r.header("x-upstream") is None, "upstream headers leaked")
        check(up.hits == 0, "the upstream was called: %r" % up.requests)
        ngx.wait_log(r"probe Y request_body eos=1 len=16")
        m = get_metrics(ngx)
        n = metric(m, "gwf_local_replies_total", instance="/deny",
                   status="403", details="probe_body")
        check(n == 1, "gwf_local_replies_total{/deny,403,probe_body}: %r" % n)
        assert_no_leaks(ngx)


def h2_server_with(directive):
    """A free port and an HTTP/2 (prior knowledge) server block on it whose
    one location runs `directive` and proxies to the upstream."""
    port = free_port()
    return port, """
    server {
        listen 127.0.0.1:%d http2;
        location / { %s; proxy_pass http://{UP}; }
    }
""" % (port, directive)


def early(name, tag, mode):
    """A GatewayExtension of the `early` test plugin (tests/conformance)."""
    return {"apiVersion": "gateway.kgateway.dev/v1alpha1",
            "kind": "GatewayExtension",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"plugin": {"name": "early",
                                "config": {"tag": tag, "early": mode}}}}


def early_answers_skip_the_stream():
    """A chain whose first plugin answers before the stream (ABI 0.8
    request_early; the `early` test plugin of tests/conformance): the
    answer as request_headers would send it - a copied reply with its
    body, a prepared one, the host's own 500 for a hook that paused
    without answering, HEAD without a body - and none of the plugin's
    stream hooks runs; one that does not answer goes on to the stream."""
    manifests = {"e.yaml": [early("reply", "R", "reply"),
                            early("prepared", "P", "prepared"),
                            early("pause", "Z", "pause"),
                            early("pass", "C", "continue")]}
    h2_port, h2_server = h2_server_with("gwf_extension default/reply")
    with Upstream() as up, Nginx(server(
            proxied("/reply", "gwf_extension default/reply"),
            proxied("/prepared", "gwf_extension default/prepared"),
            proxied("/pause", "gwf_extension default/pause"),
            proxied("/pass", "gwf_extension default/pass")),
            manifests, up, http_extra=h2_server) as ngx:
        # HTTP/2: the answer with its body. With a request body still
        # coming, nginx answers, then resets the stream (NO_ERROR), as for
        # its own `return`; curl may see the reset first (rc 92): the
        # access log tells what nginx answered.
        for method, args in (("GET", []),
                             ("POST", ["--data-binary", "x" * 3000])):
            out = subprocess.run(
                ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "10",
                 "-D", "-", "http://127.0.0.1:%d/h2" % h2_port] + args,
                capture_output=True, timeout=15)
            whole = (out.returncode == 0 and
                     out.stdout.startswith(b"HTTP/2 429") and
                     b"x-early: R" in out.stdout and
                     out.stdout.endswith(b"\r\n\r\nslow down\n"))
            check(whole or (method == "POST" and out.returncode == 92),
                  "HTTP/2 %s: %r %r" % (method, out.stdout, out.stderr))
            check(wait_for(lambda: re.search(
                r'"%s /h2 HTTP/2.0" 429 ' % method, ngx.access()), 5),
                "no HTTP/2 %s 429 in the access log:\n%s"
                % (method, ngx.access()))
        r = request(ngx.port, "POST", "/reply", body=b"x" * 5000)
        expect_status(r, 429, "POST /reply")
        check(r.body == b"slow down\n", "/reply body: %r" % r.body)
        check(r.header("retry-after") == "7" and r.header("x-early") == "R",
              "/reply headers: %r" % r.headers)
        check(r.header("content-length") == "10",
              "/reply content-length: %r" % r.headers)
        r = request(ngx.port, "HEAD", "/reply")
        expect_status(r, 429, "HEAD /reply")
        check(r.body == b"" and r.header("content-length") == "10",
              "HEAD /reply: %r %r" % (r.headers, r.body))
        r = request(ngx.port, "GET", "/prepared")
        expect_status(r, 418, "/prepared")
        check(r.body == b"prepared\n" and r.header("x-prepared") == "yes",
              "/prepared: %r %r" % (r.headers, r.body))
        r = request(ngx.port, "GET", "/pause")
        expect_status(r, 500, "/pause")
        check(r.body == b"internal error in a gateway filter\n",
              "/pause body: %r" % r.body)
        r = request(ngx.port, "GET", "/pass")
        expect_status(r, 200, "/pass")
        check(up.hits == 1, "the upstream saw %d requests" % up.hits)
        ngx.wait_log(r"early C request_headers")
        log = ngx.log()
        for tag in "RPZ":
            check(("early %s request_early" % tag) in log and
                  ("early %s request_headers" % tag) not in log,
                  "%s: request_early only, in:\n%s" % (tag, log[-3000:]))
        m = get_metrics(ngx)
        n = metric(m, "gwf_local_replies_total", instance="/reply",
                   status="429", details="early_reply")
        check(n == 2, "gwf_local_replies_total{/reply,429}: %r" % n)
        assert_no_leaks(ngx)


def prepared_values_are_the_requests_own():
    """A prepared reply sent with the request's values (ABI 0.10
    send_prepared_reply_values; the `early` test plugin in "values"
    mode): before the stream, each request gets its own retry-after and
    content-type (nginx's content type, its charset included) beside the
    prepared header and body, HEAD without the body; a value the host
    refuses (a DEL byte) sends nothing and the request goes on to the
    upstream; behind another plugin the same reply comes from the
    stream."""
    manifests = {"e.yaml": [early("values", "V", "values"),
                            early("pass", "C", "continue")]}
    with Upstream() as up, Nginx(server(
            proxied("/v", "gwf_extension default/values"),
            proxied("/behind", "gwf_extension default/pass; "
                    "gwf_extension default/values")),
            manifests, up) as ngx:
        for n, path in enumerate(("/v", "/behind", "/v")):
            value = str(3600 + n)
            r = request(ngx.port, "GET", path, headers={
                "x-value": value, "x-type": "text/csv; charset=utf-8"})
            expect_status(r, 429, "GET %s" % path)
            check(r.header("retry-after") == value and
                  r.header("content-type") == "text/csv; charset=utf-8" and
                  r.header("x-fixed") == "kept" and
                  r.header("content-length") == "7" and
                  r.body == b"values\n",
                  "%s: %r %r" % (path, r.headers, r.body))
            check([k.lower() for k, _ in r.headers].count("retry-after") == 1,
                  "%s: headers %r" % (path, r.headers))
            # nginx makes the prepared relative Location absolute.
            loc = r.header("location") or ""
            check(loc.startswith("http://") and loc.endswith("/placeholder"),
                  "%s: location %r" % (path, loc))
        # Every header replaced, the Location too: nginx's pointer to it
        # is the element with the replaced value.
        r = request(ngx.port, "GET", "/v", headers={
            "x-value": "5", "x-type": "text/html", "x-count": "4"})
        loc = r.header("location") or ""
        check(r.status == 429 and r.header("x-fixed") == "v2" and
              r.header("content-type") == "text/html" and
              loc.startswith("http://") and loc.endswith("/moved"),
              "every value: %r" % r.headers)
        r = request(ngx.port, "HEAD", "/v", headers={"x-value": "12"})
        expect_status(r, 429, "HEAD /v")
        check(r.header("retry-after") == "12" and
              r.header("content-type") == "text/plain" and r.body == b"",
              "HEAD /v: %r %r" % (r.headers, r.body))
        r = request(ngx.port, "POST", "/v", body=b"p" * 100000,
                    headers={"x-value": "1\x7f"})
        expect_status(r, 200, "POST /v with a refused value")
        check(up.hits == 1 and up.requests[-1]["body_len"] == 100000,
              "the upstream saw %d requests" % up.hits)
        log = ngx.log()
        check(log.count("early V note: values=2") == 2,
              "the refusals:\n%s" % log[-3000:])
        check(log.count("early V request_headers") == 2,
              "stream hooks of V (behind, refused):\n%s" % log[-3000:])
        assert_no_leaks(ngx)


def early_done_sends_the_changed_request_without_a_stream():
    """A plugin alone in its chain finishes the request before the stream
    (ABI 0.9 GWF_DONE; the `early` test plugin in "done" mode): the
    upstream gets the request as the hook changed it - a header set over
    the client's, one removed, the path rewritten - with its body as the
    client sent it, over HTTP/1.1 and HTTP/2, and no stream hook runs. A
    request finished so goes through no chain again after an internal
    redirect (try_files to a named location with the same chain)."""
    manifests = {"e.yaml": [early("done", "D", "done")]}
    h2_port, h2_server = h2_server_with("gwf_extension default/done")
    with Upstream() as up, Nginx(server(
            proxied("/x", "gwf_extension default/done"),
            "location /redir { gwf_extension default/done; "
            "root /nonexistent; try_files /nope @named; }",
            "location @named { gwf_extension default/done; "
            "proxy_pass http://{UP}; }"),
            manifests, up, http_extra=h2_server) as ngx:
        headers = {"x-drop": "secret", "x-early-done": "forged"}
        r = request(ngx.port, "POST", "/x?q=1", body=b"b" * 70000,
                    headers=headers)
        expect_status(r, 200, "POST /x")
        rec = up.requests[-1]
        check(rec["path"] == "/done", "upstream path %r" % rec["path"])
        check(echo_header(rec, "x-early-done") == "D",
              "x-early-done: %r" % rec["headers"])
        names = [k.lower() for k, _ in rec["headers"]
                 if k.lower() in ("x-drop", "x-early-done")]
        check(names == ["x-early-done"],
              "headers the upstream got: %r" % rec["headers"])
        check(rec["body"] == "b" * 70000, "body of %d bytes" % rec["body_len"])
        out = subprocess.run(
            ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "10",
             "-H", "x-drop: secret", "http://127.0.0.1:%d/h2" % h2_port],
            capture_output=True, timeout=15)
        check(out.returncode == 0, "HTTP/2: %r" % out.stderr)
        rec = json.loads(out.stdout)
        check(rec["path"] == "/done" and echo_header(rec, "x-early-done") ==
              "D" and echo_header(rec, "x-drop") is None,
              "HTTP/2 upstream request: %r" % rec)
        hits = up.hits
        r = request(ngx.port, "GET", "/redir", headers=headers)
        expect_status(r, 200, "GET /redir")
        check(up.hits == hits + 1, "the upstream saw %d" % (up.hits - hits))
        rec = up.requests[-1]
        check(echo_header(rec, "x-early-done") == "D" and
              echo_header(rec, "x-drop") is None,
              "/redir upstream request: %r" % rec)
        log = ngx.log()
        n = log.count("early D request_early")
        check(n == 3, "request_early ran %d times for 3 requests:\n%s"
              % (n, log[-3000:]))
        check("early D request_headers" not in log,
              "a stream hook ran:\n%s" % log[-3000:])
        check("early D note: attr=0 done=1 set=0 remove=0 path=0 response=3"
              in log, "the hook's writes:\n%s" % log[-3000:])
        m = get_metrics(ngx)
        n = metric(m, "gwf_streams_total", instance="/x")
        check(n == 1, "gwf_streams_total{/x}: %r" % n)
        assert_no_leaks(ngx)


def removed_header_beside_a_hash_zero_header_is_not_forwarded():
    """With ignore_invalid_headers off, nginx keeps a header named with
    underscores only and gives it hash 0, as gwf marks a removed one. A
    header removed in the middle of the list (gwf_request_header remove)
    with such a header at the end still does not reach the upstream: the
    end of the list leaves at once, and the count of elements to compact
    away stays right (it went to 0 with the other still there)."""
    with Upstream() as up, Nginx(server(
            "ignore_invalid_headers off;",
            proxied("/x", "gwf_request_header remove X-Internal")),
            {"d.yaml": direct_response("unused", 200)}, up) as ngx:
        r = request(ngx.port, "GET", "/x",
                    headers={"X-Internal": "secret", "Accept": "a", "_": "x"})
        expect_status(r, 200, "GET /x")
        rec = up.requests[-1]
        check(echo_header(rec, "x-internal") is None,
              "the removed header reached the upstream: %r" % rec["headers"])
        check(echo_header(rec, "accept") == "a",
              "accept: %r" % rec["headers"])


def local_reply_from_response_headers():
    manifests = {"p.yaml": probe("swap", {
        "tag": "Z",
        "actions": {"response_headers": "reply:502"},
        "reply": {"body": "replaced by the gateway\n",
                  "headers": {"x-replaced": "1"}, "details": "probe_resp"}})}
    with Upstream() as up, Nginx(server(
            proxied("/swap", "gwf_extension default/swap")),
            manifests, up) as ngx:
        for path in ("/swap", "/swap/big?n=200000"):
            before = up.hits
            r = request(ngx.port, "GET", path)
            expect_status(r, 502, path)
            check(r.body == b"replaced by the gateway\n",
                  "%s: body %r" % (path, r.body[:300]))
            check(r.header("x-replaced") == "1", "x-replaced: %r" % r.headers)
            check(r.header("x-upstream") is None and
                  r.header("x-drop-me") is None,
                  "upstream headers leaked into the reply: %r" % r.headers)
            check(r.header("content-length") == str(len(r.body)),
                  "content-length: %r" % r.header("content-length"))
            check(up.hits == before + 1,
                  "the upstream should have been called once")
        assert_no_leaks(ngx)


def buffered_request_body_over_limit_gives_413():
    manifests = {"p.yaml": probe("buf", {
        "tag": "K", "actions": {"request_headers": "buffer"}})}
    with Upstream() as up, Nginx(server(
            proxied("/buf", "gwf_extension default/buf")),
            manifests, up, http_extra="    gwf_max_body 1k;") as ngx:
        r = request(ngx.port, "POST", "/buf", body=b"s" * 100)
        expect_status(r, 200, "100-byte body under a 1k limit")
        check(r.json()["body"] == "s" * 100, "upstream body %r" % r.body)

        r = request(ngx.port, "POST", "/buf", body=b"L" * 4096)
        expect_status(r, 413, "4096-byte body (Content-Length) over 1k")

        def chunks():
            for _ in range(4):
                yield b"C" * 1024
        r = request(ngx.port, "POST", "/buf", body=chunks(), chunked=True)
        expect_status(r, 413, "4096-byte chunked body over 1k")
        check(up.hits == 1, "the upstream got the oversized bodies: %d hits"
              % up.hits)
        assert_no_leaks(ngx)


def invalid_request_body_gives_400_without_leak():
    """nginx rejects a request body after reading part of it (a chunked
    body that turns invalid in a later packet) while a chain that wants
    the body waits for it: the client gets nginx's 400 and the request,
    its stream and its connection are all freed."""
    manifests = {"p.yaml": probe("buf", {
        "tag": "K", "actions": {"request_headers": "buffer"}})}
    with Upstream() as up, Nginx(server(
            proxied("/buf", "gwf_extension default/buf")),
            manifests, up) as ngx:
        s = socket.create_connection(("127.0.0.1", ngx.port), 5)
        s.settimeout(5)
        try:
            s.sendall(b"POST /buf HTTP/1.1\r\nHost: localhost\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            wait_paused(ngx, "K")
            time.sleep(0.1)  # nginx is now waiting for more of the body
            s.sendall(b"not-a-chunk-size\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                part = s.recv(4096)
                if not part:
                    break
                data += part
        finally:
            s.close()
        check(data.startswith(b"HTTP/1.1 400 "),
              "expected nginx's 400, got %r" % data[:200])
        check(up.hits == 0, "the upstream was called")
        ngx.wait_log(r"client sent invalid chunked body")
        assert_no_leaks(ngx)
        ngx.wait_log(r"probe K stream_destroy")


# ---------------------------------------------------------------------------
# Client abort
# ---------------------------------------------------------------------------

def client_abort_while_paused():
    manifests = {"p.yaml": probe("abort", {
        "tag": "X", "actions": {"request_headers": "pause_timer:2s"}})}
    with Upstream() as up, Nginx(server(
            proxied("/abort", "gwf_extension default/abort"),
            "location /ok { proxy_pass http://{UP}; }"),
            manifests, up) as ngx:
        s = socket.create_connection(("127.0.0.1", ngx.port), 5)
        s.sendall(b"GET /abort HTTP/1.1\r\nHost: localhost\r\n\r\n")
        wait_paused(ngx, "X")
        time.sleep(0.1)
        s.close()
        t_closed = time.monotonic()

        m = {}

        def gauges_zero():
            m.clear()
            m.update(get_metrics(ngx))
            return metric(m, "gwf_streams_active", instance="/abort") == 0 \
                and metric(m, "gwf_async_active",
                           instance="default/abort") == 0
        check(wait_for(gauges_zero, 1.5, 0.1),
              "after the client went away: gwf_streams_active{/abort}=%r "
              "gwf_async_active{default/abort}=%r (expected 0 well before "
              "the 2 s timer)"
              % (metric(m, "gwf_streams_active", instance="/abort"),
                 metric(m, "gwf_async_active", instance="default/abort")))
        ngx.wait_log(r"probe X stream_complete")
        ngx.wait_log(r"probe X stream_destroy")
        check(wait_for(lambda: re.search(r'"GET /abort HTTP/1.1" 499 ',
                                         ngx.access()), 3),
              "the access log shows no 499 for /abort:\n" + ngx.access())
        check("client prematurely closed connection" in ngx.log(),
              "the error log does not show the client abort")
        # The 2 s timer belonged to the stream: it must never fire now.
        left = 2.3 - (time.monotonic() - t_closed)
        if left > 0:
            time.sleep(left)
        check("probe X timer_fired" not in ngx.log(),
              "the stream's timer fired after the stream was destroyed")
        r = request(ngx.port, "GET", "/ok")
        expect_status(r, 200, "/ok after the abort")
        check(up.hits == 1, "the aborted request reached the upstream")
        assert_no_leaks(ngx)


def timers_of_one_delay_keep_their_own_deadlines():
    """Stream timers of one delay wait in one queue behind one nginx timer
    (ngx_http_gwf_events.c). The head cancelled (its client went away),
    the others still end at their own deadlines, in order, and the
    cancelled one never fires."""
    manifests = {"p.yaml": probe("q", {
        "tag": "Q", "actions": {"request_headers": "pause_timer:600ms"}})}
    with Upstream() as up, Nginx(server(
            proxied("/q", "gwf_extension default/q")), manifests, up) as ngx:
        s = socket.create_connection(("127.0.0.1", ngx.port), 5)
        s.sendall(b"GET /q/head HTTP/1.1\r\nHost: localhost\r\n\r\n")
        wait_paused(ngx, "Q")
        time.sleep(0.15)
        second = Background(ngx.port, "GET", "/q/second")
        wait_paused(ngx, "Q", count=2)
        time.sleep(0.15)
        third = Background(ngx.port, "GET", "/q/third")
        wait_paused(ngx, "Q", count=3)
        s.close()  # the head's timer is cancelled with its stream
        ngx.wait_log(r"probe Q stream_destroy")
        for name, bg in (("second", second), ("third", third)):
            r = bg.result()
            expect_status(r, 200, "/q/" + name)
            check(r.elapsed >= 0.59, "/q/%s was answered after %.3fs, "
                  "before its 600 ms timer" % (name, r.elapsed))
        log = ngx.log()
        fired = len(re.findall(r"probe Q timer_fired", log))
        check(fired == 2, "%d timers fired (expected 2: the cancelled "
              "one never)" % fired)
        check(up.hits == 2, "the upstream saw %d requests" % up.hits)
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# Workers and metrics
# ---------------------------------------------------------------------------

def _served_by(ngx, path_prefix):
    """Worker pids that served requests for path_prefix (access log)."""
    pids = set()
    for line in ngx.access().splitlines():
        parts = line.split(" ")
        if len(parts) > 3 and parts[3].startswith(path_prefix):
            pids.add(int(parts[0]))
    return pids


def metrics_endpoint():
    manifests = {"m.yaml": [
        probe("p", {"tag": "M", "metric": True}),
        direct_response("hello", 200, "hello\n"),
    ]}
    n_proxy, n_direct = 40, 30
    with Upstream() as up, Nginx(server(
            proxied("/p", "gwf_extension default/p"),
            proxied("/dr", "gwf_direct_response default/hello")),
            manifests, up, workers=2, reuseport=True) as ngx:
        workers = ngx.worker_pids()
        check(len(workers) == 2, "expected 2 workers, found %r" % workers)
        for i in range(n_proxy):
            expect_status(request(ngx.port, "GET", "/p/%d" % i), 200)
        for i in range(n_direct):
            expect_status(request(ngx.port, "GET", "/dr/%d" % i), 200)
        def served():
            return _served_by(ngx, "/p/") | _served_by(ngx, "/dr/")
        check(wait_for(lambda: set(workers) <= served(), 3),
              "not both workers %r served requests (only %r): the sum "
              "across workers is not tested" % (workers, served()))
        time.sleep(1.2)
        want = {
            ("gwf_streams_total", (("instance", "/p"),)): n_proxy,
            ("gwf_streams_total", (("instance", "/dr"),)): n_direct,
            ("gwf_local_replies_total",
             (("instance", "/dr"), ("status", "200"),
              ("details", "direct_response"))): n_direct,
            ("gwf_direct_response_replies_total",
             (("instance", "default/hello"), ("status", "200"))): n_direct,
            ("gwf_probe_hooks_total",
             (("instance", "default/p"), ("hook", "request_headers"))):
                n_proxy,
            ("gwf_streams_active", (("instance", "/p"),)): 0,
            ("gwf_streams_active", (("instance", "/dr"),)): 0,
            ("gwf_probe_streams_active", (("instance", "default/p"),)): 0,
        }
        seen = {}
        text = [""]

        def all_match():
            r = request(ngx.port, "GET", "/metrics")
            expect_status(r, 200, "/metrics")
            text[0] = r.text
            m = parse_metrics(r.text)
            seen.clear()
            for (name, labels), value in want.items():
                seen[(name, labels)] = metric(m, name, **dict(labels))
            return all(seen[k] == v for k, v in want.items())
        if not wait_for(all_match, 3.0, 0.25):
            bad = {"%s%r" % k: (seen[k], v) for k, v in want.items()
                   if seen[k] != v}
            raise TestFailure("metrics (got, expected): %r\n--- /metrics:\n%s"
                              % (bad, text[0]))
        r = request(ngx.port, "GET", "/metrics")
        check((r.header("content-type") or "").startswith("text/plain"),
              "content-type of /metrics: %r" % r.header("content-type"))
        check("# TYPE gwf_streams_total counter" in r.text and
              r.text.count("# TYPE gwf_streams_total counter") == 1,
              "the summed text should have one TYPE line per metric")
        r = request(ngx.port, "POST", "/metrics", body=b"x")
        expect_status(r, 405, "POST /metrics")


def two_workers_each_start_plugin():
    manifests = {"p.yaml": probe("p", {"tag": "W"})}
    with Upstream() as up, Nginx(server(
            proxied("/p", "gwf_extension default/p")),
            manifests, up, workers=2) as ngx:
        got = ngx.wait_log(
            r"(\d+)#\d+: gwf default/p: probe W worker_start "
            r"index=(\d) count=(\d+)", count=2)
        workers = ngx.worker_pids()
        by_index = {}
        for pid, index, count in got:
            check(count == "2", "worker_start count=%s, expected 2" % count)
            by_index.setdefault(index, set()).add(int(pid))
        check(sorted(by_index) == ["0", "1"],
              "worker_start indexes %r, expected 0 and 1" % sorted(by_index))
        pids = by_index["0"] | by_index["1"]
        check(len(pids) == 2 and pids == set(workers),
              "worker_start ran in %r, the workers are %r" % (pids, workers))
        check("probe W worker_start" not in "\n".join(
            l for l in ngx.log().splitlines()
            if "%d#" % ngx.master_pid() in l),
              "worker_start ran in the master")
        expect_status(request(ngx.port, "GET", "/p"), 200)
        ngx.stop()
        stops = re.findall(r"(\d+)#\d+: gwf default/p: probe W worker_stop",
                           ngx.log())
        check(set(int(p) for p in stops) == set(workers),
              "worker_stop ran in %r, the workers were %r" % (stops, workers))


# ---------------------------------------------------------------------------
# Reload
# ---------------------------------------------------------------------------

def assert_probe_streams_freed(ngx, tags):
    """Every stream the probes `tags` created was destroyed (the leak
    check where no gwf_metrics location is configured)."""
    def balanced():
        log = ngx.log()
        return all(len(re.findall(r"probe %s stream_create" % t, log)) ==
                   len(re.findall(r"probe %s stream_destroy" % t, log))
                   for t in tags)
    if not wait_for(balanced, 5):
        log = ngx.log()
        raise TestFailure("streams created/destroyed: %r" % {
            t: (len(re.findall(r"probe %s stream_create" % t, log)),
                len(re.findall(r"probe %s stream_destroy" % t, log)))
            for t in tags})


def _reload_manifests(version):
    return [direct_response("hello", 200, "%s body\n" % version),
            probe("slow", {"tag": "V" + version,
                           "actions": {"request_headers":
                                       "pause_timer:1500ms"},
                           "set_request_header": {"x-config": version},
                           "set_response_header": {"x-config": version}})]


def _reload_and_wait(ngx, old_workers, expect_body):
    res = ngx.reload()
    check(res.returncode == 0, "nginx -s reload failed (%d): %s"
          % (res.returncode, res.stderr))
    got = [None]

    def new_body():
        got[0] = request(ngx.port, "GET", "/dr").body
        return got[0] == expect_body
    if not wait_for(new_body, 5, 0.1):
        crit = [l for l in ngx.log().splitlines()
                if re.search(r"\[(crit|alert|emerg)\]", l)]
        raise TestFailure(
            "5 s after nginx -s reload, /dr still answers %r (expected %r); "
            "workers before %r, now %r; error log:\n%s"
            % (got[0], expect_body, old_workers, ngx.worker_pids(),
               "\n".join(crit) or tail(ngx.log(), 30)))


def reload_takes_new_manifests():
    """No gwf_metrics here (see reload_with_gwf_metrics_takes_new_manifests):
    this case is about the manifests and the request in flight."""
    locations = (proxied("/dr", "gwf_direct_response default/hello"),
                 proxied("/slow", "gwf_extension default/slow"))
    with Upstream() as up, Nginx("\n".join("        " + l for l in locations),
                                 {"m.yaml": _reload_manifests("old")},
                                 up) as ngx:
        r = request(ngx.port, "GET", "/dr")
        check(r.body == b"old body\n", "before the reload: %r" % r.body)
        old_workers = ngx.worker_pids()
        inflight = Background(ngx.port, "GET", "/slow")
        wait_paused(ngx, "Vold")

        ngx.write_manifest("m.yaml", _reload_manifests("new"))
        _reload_and_wait(ngx, old_workers, b"new body\n")

        # The request paused across the reload finishes on the old config.
        try:
            r = inflight.result()
        except TestFailure as e:
            raise TestFailure(
                "the request paused on a timer during the reload did not "
                "complete: %s\n--- error.log:\n%s" % (e, tail(ngx.log(), 40)))
        expect_status(r, 200, "the in-flight request")
        echo = r.json()
        check(echo_header(echo, "x-config") == "old",
              "in-flight request: upstream saw x-config %r"
              % echo_header(echo, "x-config"))
        check(r.header("x-config") == "old",
              "in-flight request: response x-config %r (the old chain's "
              "response hook should have run)" % r.header("x-config"))
        check(r.elapsed >= 1.4, "in-flight request answered after %.3fs"
              % r.elapsed)
        # A new request uses the new chain.
        r = request(ngx.port, "GET", "/slow")
        expect_status(r, 200, "/slow on the new config")
        check(r.header("x-config") == "new",
              "new request: x-config %r" % r.header("x-config"))
        check(wait_for(lambda: not set(old_workers) & set(ngx.worker_pids()),
                       10), "the old worker did not exit")
        assert_probe_streams_freed(ngx, ["Vold", "Vnew"])


def reload_with_gwf_metrics_takes_new_manifests():
    with Upstream() as up, Nginx(server(
            proxied("/dr", "gwf_direct_response default/hello")),
            {"m.yaml": direct_response("hello", 200, "old body\n")},
            up) as ngx:
        r = request(ngx.port, "GET", "/dr")
        check(r.body == b"old body\n", "before the reload: %r" % r.body)
        old_workers = ngx.worker_pids()
        ngx.write_manifest("m.yaml",
                           direct_response("hello", 200, "new body\n"))
        _reload_and_wait(ngx, old_workers, b"new body\n")
        check(wait_for(lambda: not set(old_workers) & set(ngx.worker_pids()),
                       10), "the old worker did not exit")
        for _ in range(3):
            expect_status(request(ngx.port, "GET", "/dr"), 200)
        # The new cycle's runtime counts from zero; the old worker's
        # snapshot (another cycle) is not added in.
        m = get_metrics(ngx)
        n = metric(m, "gwf_streams_total", instance="/dr")
        check(n is not None and 3 <= n <= 4,
              "gwf_streams_total{/dr} after the reload: %r" % n)
        assert_no_leaks(ngx)


def reload_with_bad_manifests_keeps_serving():
    ngx = Nginx(server(proxied("/dr", "gwf_direct_response default/hello")),
                {"m.yaml": direct_response("hello", 200, "old body\n")},
                Upstream(), allowed_errors=[r"bad\.yaml:8:.*spec\.status"])
    ngx.upstream.start()
    try:
        with ngx:
            r = request(ngx.port, "GET", "/dr")
            check(r.body == b"old body\n", "before the reload: %r" % r.body)
            workers = ngx.worker_pids()
            # A change that would show if applied, plus a broken document.
            ngx.write_manifest("m.yaml",
                               direct_response("hello", 200, "new body\n"))
            bad = ngx.write_manifest("bad.yaml", BAD_STATUS_YAML)

            # nginx -s reload checks the configuration first and refuses.
            res = ngx.reload()
            check(res.returncode != 0,
                  "nginx -s reload accepted broken manifests:\n" + res.stderr)
            check(bad + ":8:" in res.stderr,
                  "nginx -s reload does not name %s:8:\n%s"
                  % (bad, res.stderr))

            # The master's own reload (SIGHUP) fails and keeps the old one.
            os.kill(ngx.master_pid(), signal.SIGHUP)
            ngx.wait_log(r"reconfiguring")
            got = ngx.wait_log(r"\[emerg\] \d+#\d+: gwf: %s:8:.*spec\.status"
                               % re.escape(bad))
            check(got, "no gwf error after the reload")
            time.sleep(0.5)
            check(ngx.worker_pids() == workers,
                  "the workers changed (%r -> %r) on a failed reload"
                  % (workers, ngx.worker_pids()))
            for _ in range(5):
                r = request(ngx.port, "GET", "/dr")
                expect_status(r, 200, "/dr after the failed reload")
                check(r.body == b"old body\n",
                      "after a failed reload /dr answers %r" % r.body)
            assert_no_leaks(ngx)
    finally:
        ngx.upstream.stop()


def fifo_manifest_is_refused_and_reload_keeps_serving():
    """A FIFO named like a manifest used to block nginx -t and the master
    (in open(), on reload) for good. It is refused at once, by name; the
    old configuration keeps serving, and the master still handles the
    next signal."""
    refused = r"pipe\.yaml: refused: a FIFO, not a regular file"
    ngx = Nginx(server(proxied("/dr", "gwf_direct_response default/hello")),
                {"m.yaml": direct_response("hello", 200, "old body\n")},
                Upstream(), allowed_errors=[refused])
    ngx.upstream.start()
    try:
        with ngx:
            expect_status(request(ngx.port, "GET", "/dr"), 200)
            workers = ngx.worker_pids()
            fifo = os.path.join(ngx.manifest_dir, "pipe.yaml")
            os.mkfifo(fifo)

            # nginx -t (bounded by the harness: it used to block).
            started = time.monotonic()
            res = ngx.test_config()
            out = res.stderr + res.stdout
            check(res.returncode != 0,
                  "nginx -t accepted a FIFO manifest:\n" + out)
            check(re.search(re.escape(fifo) + r": refused: a FIFO", out),
                  "nginx -t does not name the FIFO %s:\n%s" % (fifo, out))
            check(time.monotonic() - started < 10,
                  "nginx -t took %.1fs" % (time.monotonic() - started))

            # The master's reload refuses it and keeps the old workers.
            os.kill(ngx.master_pid(), signal.SIGHUP)
            ngx.wait_log(r"\[emerg\] \d+#\d+: gwf: .*" + refused)
            check(ngx.worker_pids() == workers,
                  "the workers changed (%r -> %r) on a refused reload"
                  % (workers, ngx.worker_pids()))
            for _ in range(3):
                r = request(ngx.port, "GET", "/dr")
                expect_status(r, 200, "/dr after the refused reload")
                check(r.body == b"old body\n",
                      "after a refused reload /dr answers %r" % r.body)

            # Not stuck: the next reload, without the FIFO, is taken.
            os.unlink(fifo)
            ngx.write_manifest("m.yaml",
                               direct_response("hello", 200, "new body\n"))
            os.kill(ngx.master_pid(), signal.SIGHUP)
            ngx.wait_reloaded(workers)
            check(wait_for(lambda: request(ngx.port, "GET", "/dr").body ==
                           b"new body\n", 5, 0.1),
                  "the reload after removing the FIFO was not applied")
    finally:
        ngx.upstream.stop()


# -- An upstream that fails under a response-body hook ---------------------
#
# A RawPeer (tests/attacks/ext_authz/raw_peer.py) answers the proxied
# request with the bytes a case needs, then closes or hangs. proxy_pass
# goes to it directly, with a short proxy_read_timeout.

RAW_READ_TIMEOUT_MS = 500
BROKEN_BODY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" \
    b"Content-Length: 500\r\n\r\nthe first bytes"


def raw_peer_class():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "attacks", "ext_authz"))
    from raw_peer import RawPeer
    return RawPeer


def raw_upstream(answer, then_hang=False):
    """A RawPeer behaviour: read the request, send `answer`, then close
    (or hang until the test ends)."""
    def behaviour(conn, peer):
        if conn.read_http_request() is None:
            return
        conn.send(answer)
        if then_hang:
            conn.hang()
    return behaviour


def raw_location(port, path, *directives):
    body = " ".join(d.rstrip(";") + ";" for d in directives)
    return ("location %s { %s proxy_pass http://127.0.0.1:%d; "
            "proxy_read_timeout %dms; }" % (path, body, port,
                                            RAW_READ_TIMEOUT_MS))


def raw_get(port, path, timeout=6.0):
    """GET over a plain socket (Connection: close), read until the server
    closes (or `timeout`): (bytes, seconds, closed). Sees what a client
    gets from a response that breaks off, which an HTTP client library
    hides."""
    start = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data, closed = b"", False
    try:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n"
                     b"Connection: close\r\n\r\n" % path.encode())
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    finally:
        sock.close()
    return data, time.monotonic() - start, closed


BUFFERING = probe("buffering", {"tag": "B", "actions": {
    "response_headers": "buffer", "response_body": "buffer"}})
STREAMING = probe("streaming", {"tag": "S", "actions": {
    "response_body": "continue"}})


def _broken_upstream_under_buffering_hook(then_hang, status):
    RawPeer = raw_peer_class()
    with RawPeer(raw_upstream(BROKEN_BODY, then_hang)) as peer, Nginx(
            server(raw_location(peer.port, "/b",
                                "gwf_extension default/buffering")),
            {"p.yaml": [BUFFERING]}) as ngx:
        r = request(ngx.port, "GET", "/b", timeout=6.0)
        expect_status(r, status, "/b")
        check(r.elapsed < 3.0, "the answer took %.2fs" % r.elapsed)
        check(b"the first bytes" not in r.body,
              "the broken body reached the client: %r" % r.body[:200])
        check(peer.connections == 1, "upstream connections: %d"
              % peer.connections)
        assert_no_leaks(ngx)


def upstream_closing_mid_body_under_a_buffering_hook_gives_502():
    """The hook never got its last buffer, so nothing went to the client
    yet: nginx's 502, at once."""
    _broken_upstream_under_buffering_hook(False, 502)


def upstream_timing_out_mid_body_under_a_buffering_hook_gives_504():
    _broken_upstream_under_buffering_hook(True, 504)


def strip_date(head):
    """An answer's bytes without its Date line, to compare two answers."""
    return b"\r\n".join(line for line in head.split(b"\r\n")
                         if not line.lower().startswith(b"date:"))


def upstream_closing_mid_body_under_a_streaming_hook_ends_as_nginx_alone():
    """The response was under way: the client gets the bytes so far and a
    closed connection, as from nginx without gwf (the observing hook kept
    the upstream's Content-Length, which the short body does not meet, so
    no client takes it for whole)."""
    RawPeer = raw_peer_class()
    with RawPeer(raw_upstream(BROKEN_BODY)) as peer, Nginx(
            server(raw_location(peer.port, "/s",
                                "gwf_extension default/streaming"),
                   raw_location(peer.port, "/alone")),
            {"p.yaml": [STREAMING]}) as ngx:
        alone, _, alone_closed = raw_get(ngx.port, "/alone")
        check(alone.startswith(b"HTTP/1.1 200 OK\r\n") and
              alone.endswith(b"\r\n\r\nthe first bytes") and alone_closed,
              "nginx alone: %r (closed: %s)" % (alone, alone_closed))
        data, elapsed, closed = raw_get(ngx.port, "/s")
        head, _, body = data.partition(b"\r\n\r\n")
        alone_head = alone.partition(b"\r\n\r\n")[0]
        check(strip_date(head) == strip_date(alone_head),
              "head: %r, nginx alone: %r" % (head, alone_head))
        check(body == b"the first bytes", "the client got %r" % body)
        check(closed and elapsed < 3.0, "closed: %s after %.2fs"
              % (closed, elapsed))
        assert_no_leaks(ngx)


def local_reply_after_an_http09_answer_has_a_status_line():
    """nginx's proxy takes bytes that are not HTTP for an HTTP/0.9 answer
    (no status line, no headers); a response hook's local reply is still
    a whole HTTP/1.1 response."""
    RawPeer = raw_peer_class()
    manifests = {"p.yaml": [probe("replier", {
        "tag": "R", "actions": {"response_headers": "reply:502"},
        "reply": {"body": "not an answer\n",
                  "headers": {"x-replied": "1"}}})]}
    with RawPeer(raw_upstream(b"mallory says hello\r\n\r\n")) as peer, \
            Nginx(server(raw_location(peer.port, "/g",
                                      "gwf_extension default/replier")),
                  manifests) as ngx:
        data, elapsed, _ = raw_get(ngx.port, "/g")
        head, _, body = data.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"),
              "no status line: %r" % data[:200])
        check(b"\r\nx-replied: 1" in head and
              b"\r\nContent-Length: 14" in head, "head: %r" % head)
        check(body == b"not an answer\n" and b"mallory" not in data,
              "body: %r" % body)
        check(elapsed < 3.0, "the answer took %.2fs" % elapsed)
        assert_no_leaks(ngx)


def nginx_error_answer_is_not_from_the_upstream():
    """GWF_ATTR_RESPONSE_FROM_UPSTREAM: "1" in response hooks for the
    upstream's answer, "0" for nginx's own 502 (refused) and 504 (timed
    out), which a plugin that judges the upstream's answer passes on."""
    RawPeer = raw_peer_class()
    manifests = {"p.yaml": [probe("origin", {
        "tag": "O", "log_attributes": True,
        "actions": {"response_body": "buffer"}})]}
    refused = free_port()
    with Upstream() as up, RawPeer(lambda conn, peer: conn.hang()) as peer, \
            Nginx(server(proxied("/up", "gwf_extension default/origin"),
                         raw_location(refused, "/refused",
                                      "gwf_extension default/origin"),
                         raw_location(peer.port, "/hangs",
                                      "gwf_extension default/origin")),
                  manifests, up) as ngx:
        for path, status, origin in (("/up", 200, "1"),
                                     ("/refused", 502, "0"),
                                     ("/hangs", 504, "0")):
            r = request(ngx.port, "GET", path, timeout=6.0)
            expect_status(r, status, path)
            log = read_text(ngx.error_log)
            notes = re.findall(r"attr response_from_upstream(\S*)", log)
            check(notes and notes[-1] == "=" + origin,
                  "%s: response_from_upstream %r" % (path, notes))
            check(len(notes) == [200, 502, 504].index(status) + 1,
                  "%s: %d notes" % (path, len(notes)))
        assert_no_leaks(ngx)


# ---------------------------------------------------------------------------
# Many headers: every header operation of the module costs O(1) amortised
# ---------------------------------------------------------------------------

MANY = 40000


def _many_values(pairs, prefix):
    """{index: value} of the headers named <prefix><index>."""
    found = {}
    for k, v in pairs:
        k = k.lower()
        if k.startswith(prefix):
            found.setdefault(int(k[len(prefix):]), []).append(v)
    return found


def _check_many(found, side):
    check(len(found) == MANY,
          "%s: %d distinct x-many-* headers, expected %d"
          % (side, len(found), MANY))
    for i in (0, 1, 9999, 12345, MANY - 1):
        check(found.get(i) == ["v%d" % i],
              "%s: x-many-%d is %r, expected exactly ['v%d']"
              % (side, i, found.get(i), i))


def forty_thousand_headers_are_applied_without_blocking_the_worker():
    # Python's http.client (the upstream's parser and our client's) stops
    # at 100 headers by default.
    http.client._MAXHEADERS = 2 * MANY
    many = {"prefix": "x-many-", "count": MANY}
    # The probe then reads every header by position (count, then at(i)
    # for each), as a plugin forwarding all headers does.
    manifests = {"p.yaml": probe("many", {
        "tag": "M", "set_many_request_headers": many,
        "set_many_response_headers": many,
        "list_request_headers": True, "list_response_headers": True})}
    with Upstream() as up, Nginx(server(
            proxied("/many", "gwf_extension default/many"),
            proxied("/small")), manifests, up) as ngx:
        big = Background(ngx.port, "GET", "/many")
        # Requests to the same (only) worker while it applies the headers:
        # each must be answered at once, not after the whole batch.
        slowest = 0.0
        rounds = 0
        while rounds == 0 or not big.done():
            r = request(ngx.port, "GET", "/small")
            expect_status(r, 200, "/small beside /many")
            slowest = max(slowest, r.elapsed)
            rounds += 1
        r = big.result()
        expect_status(r, 200, "/many")
        check(slowest < 1.0,
              "a request beside the one setting %d headers waited %.2fs"
              % (MANY, slowest))
        _check_many(_many_values(r.headers, "x-many-"), "client")
        seen = [q for q in up.requests if q["path"] == "/many"]
        check(len(seen) == 1, "the upstream saw /many %d times" % len(seen))
        _check_many(_many_values(seen[0]["headers"], "x-many-"), "upstream")
        # Past the x-many-* ones: the client's Host and Connection on the
        # request; the upstream's X-Upstream, X-Drop-Me, Content-Type and
        # Content-Length on the response (Server and Date are nginx's).
        for side, others in (("request", 2), ("response", 4)):
            listed = ngx.wait_log(r"probe M note: %s lines=(\d+) "
                                  r"past_end=(\d+)" % side)[0]
            check(listed == (str(MANY + others), "1"),
                  "the plugin read %s headers by position: lines=%s "
                  "past_end=%s, expected %d and 1 (not found)"
                  % (side, listed[0], listed[1], MANY + others))
        assert_no_leaks(ngx)


def _upstream_headers(ngx, path, sent):
    """GET `path` with exactly the header lines `sent` (names in their
    case, repeats kept; no Accept-Encoding added) and return the headers
    the upstream echoed, names lower-cased, in order; the answer must be
    200."""
    conn = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    for name, value in sent:
        conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    check(resp.status == 200, "%s answered %d: %r" % (path, resp.status, body))
    return [(k.lower(), v) for k, v in json.loads(body)["headers"]]


def request_headers_set_after_remove_and_over_several_values():
    manifests = {"p.yaml": probe("hdr", {
        "tag": "Q",
        "remove_request_header": ["x-back", "x-gone"],
        "set_request_header": {"x-back": "new", "x-twice": "one"},
        "add_request_header": {"x-twice": "two"},
        "log_request_header": ["x-twice", "x-gone"],
        "list_request_headers": True})}
    with Upstream() as up, Nginx(server(
            proxied("/q", "gwf_extension default/hdr")),
            manifests, up) as ngx:
        hdrs = _upstream_headers(ngx, "/q", [
            ("X-Twice", "a"), ("X-Back", "old"), ("X-Twice", "b"),
            ("X-Gone", "g"), ("X-Keep", "k")])
        check([v for k, v in hdrs if k == "x-twice"] == ["one", "two"],
              "x-twice at the upstream: %r" % hdrs)
        check([v for k, v in hdrs if k == "x-back"] == ["new"],
              "x-back at the upstream: %r" % hdrs)
        check(not [v for k, v in hdrs if k == "x-gone"],
              "x-gone reached the upstream: %r" % hdrs)
        check([v for k, v in hdrs if k == "x-keep"] == ["k"],
              "x-keep at the upstream: %r" % hdrs)
        # The plugin's own view: get, count and every position agree.
        ngx.wait_log(r"probe Q note: request x-twice=one")
        ngx.wait_log(r"probe Q note: request x-gone status=\d+")
        listed = ngx.wait_log(
            r"probe Q note: request lines=(\d+) past_end=\d+ \[(.*)\]")[0]
        lines = listed[1].split("|")
        check(int(listed[0]) == len(lines), "count %s, lines %r"
              % (listed[0], lines))
        check([ln for ln in lines if not ln.lower().startswith("host:")
               and not ln.lower().startswith("connection:")] ==
              ["X-Keep: k", "x-back: new", "x-twice: one", "x-twice: two"],
              "the plugin listed %r" % lines)
        assert_no_leaks(ngx)


def request_headers_edited_past_the_scan_budget_stay_exact():
    """Removes, replaces, adds and reads of request headers in one hook,
    more than the passes over the list a stale index allows (HDR_SCANS,
    8): the first ones pass over the list and append to it alone, the
    rest go through the index built from it then. Whichever way each
    went, the plugin reads and the upstream receives exactly the edits."""
    removed = ["x-r%d" % i for i in range(1, 7)]
    manifests = {"p.yaml": probe("hdr", {
        "tag": "B",
        "remove_request_header": removed,
        "set_request_header": {"x-s1": "new1", "x-s2": "new2",
                               "x-s3": "new3"},
        "add_request_header": {"x-s3": "more3"},
        "log_request_header": ["x-s1", "x-s2", "x-s3", "x-r1"],
        "list_request_headers": True})}
    with Upstream() as up, Nginx(server(
            proxied("/b", "gwf_extension default/hdr")),
            manifests, up) as ngx:
        hdrs = _upstream_headers(
            ngx, "/b", [(name.upper(), "gone") for name in removed] +
            [("X-S1", "old1"), ("X-S3", "old3a"), ("X-Keep", "k"),
             ("X-S3", "old3b"), ("X-R3", "gone-too")])
        got = {k: [v for n, v in hdrs if n == k]
               for k in removed + ["x-s1", "x-s2", "x-s3", "x-keep"]}
        check(got == dict([(k, []) for k in removed] +
                          [("x-s1", ["new1"]), ("x-s2", ["new2"]),
                           ("x-s3", ["new3", "more3"]), ("x-keep", ["k"])]),
              "the upstream received %r" % hdrs)
        ngx.wait_log(r"probe B note: request x-s1=new1")
        ngx.wait_log(r"probe B note: request x-s2=new2")
        ngx.wait_log(r"probe B note: request x-s3=new3")
        ngx.wait_log(r"probe B note: request x-r1 status=\d+")
        listed = ngx.wait_log(
            r"probe B note: request lines=(\d+) past_end=\d+ \[(.*)\]")[0]
        lines = [ln for ln in listed[1].split("|")
                 if not ln.lower().startswith(("host:", "connection:"))]
        check(int(listed[0]) == len(listed[1].split("|")),
              "count %s, lines %r" % (listed[0], listed[1]))
        check(lines == ["X-Keep: k", "x-s1: new1", "x-s2: new2",
                        "x-s3: new3", "x-s3: more3"],
              "the plugin listed %r" % lines)
        assert_no_leaks(ngx)


def response_headers_set_after_remove_and_over_several_values():
    manifests = {"p.yaml": probe("hdr", {
        "tag": "S",
        "remove_response_header": ["x-upstream", "x-drop-me"],
        "set_response_header": {"x-upstream": "new", "x-twice": "one"},
        "add_response_header": {"x-twice": "two"},
        "log_response_header": ["x-twice", "x-drop-me"],
        "list_response_headers": True})}
    with Upstream() as up, Nginx(server(
            proxied("/s", "gwf_extension default/hdr")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/s")
        expect_status(r, 200, "/s")
        check(r.header_all("x-upstream") == ["new"],
              "x-upstream: %r" % r.headers)
        check(r.header_all("x-twice") == ["one", "two"],
              "x-twice: %r" % r.headers)
        check(r.header("x-drop-me") is None,
              "x-drop-me reached the client: %r" % r.headers)
        ngx.wait_log(r"probe S note: response x-twice=one")
        ngx.wait_log(r"probe S note: response x-drop-me status=\d+")
        listed = ngx.wait_log(
            r"probe S note: response lines=(\d+) past_end=\d+ \[(.*)\]")[0]
        lines = listed[1].split("|")
        check(int(listed[0]) == len(lines), "count %s, lines %r"
              % (listed[0], lines))
        names = [ln.split(":")[0].lower() for ln in lines]
        check(names.count("x-upstream") == 1 and names.count("x-twice") == 2
              and "x-drop-me" not in names
              and names[-2:] == ["content-type", "content-length"],
              "the plugin listed %r" % lines)
        assert_no_leaks(ngx)


def special_headers_removed_on_request_and_response():
    # Host, User-Agent and Content-Type are also fields of headers_in that
    # nginx's variables read; Content-Length and Content-Type of the
    # response live outside the list. Removing them must reach both.
    manifests = {"p.yaml": probe("special", {
        "tag": "X",
        "remove_request_header": ["host", "user-agent", "content-type"],
        "set_request_header": {"host": "set.example"},
        "remove_response_header": ["content-length", "content-type"],
        "set_response_header": {"location": "http://other.example/x"}})}
    seen = ("proxy_set_header X-Seen-Host $http_host; "
            "proxy_set_header X-Seen-UA $http_user_agent; "
            "proxy_set_header X-Seen-CT $content_type")
    with Upstream() as up, Nginx(server(
            proxied("/x", "gwf_extension default/special", seen)),
            manifests, up) as ngx:
        r = request(ngx.port, "POST", "/x", body=b"payload", headers={
            "User-Agent": "agent/1", "Content-Type": "text/plain"})
        expect_status(r, 200, "/x")
        check(r.header("content-length") is None,
              "content-length reached the client: %r" % r.headers)
        check(r.header("content-type") is None,
              "content-type reached the client: %r" % r.headers)
        check(r.header("transfer-encoding") == "chunked",
              "without a length the body is chunked: %r" % r.headers)
        check(r.header_all("location") == ["http://other.example/x"],
              "location: %r" % r.headers)
        echo = r.json()
        check(echo["body"] == "payload", "body at the upstream: %r" % echo)
        check(echo_header(echo, "x-seen-host") == "set.example",
              "$http_host at the upstream: %r" % echo["headers"])
        check(echo_header(echo, "x-seen-ua") is None,
              "$http_user_agent still set: %r" % echo["headers"])
        check(echo_header(echo, "x-seen-ct") is None,
              "$content_type still set: %r" % echo["headers"])
        check(echo_header(echo, "user-agent") is None,
              "user-agent reached the upstream: %r" % echo["headers"])
        check(echo_header(echo, "content-type") is None,
              "content-type reached the upstream: %r" % echo["headers"])
        assert_no_leaks(ngx)


# What nginx reads through its own pointers at request lines (the
# headers_in fields and the Cookie array), sent on to the upstream.
SEEN_BY_NGINX = ("proxy_set_header X-Seen-UA $http_user_agent; "
                 "proxy_set_header X-Seen-Cookie $http_cookie; "
                 "proxy_set_header X-Seen-XFF $http_x_forwarded_for; "
                 "proxy_set_header X-Seen-Referer $http_referer")


def request_fields_follow_headers_moved_by_a_removal():
    # A removal before them moves the request's later lines up when the
    # list is compacted in place; nginx's own pointers at them (a field
    # such as headers_in.user_agent, the array of Cookie lines) must move
    # with them, or $http_user_agent would read the line now in that slot.
    manifests = {"p.yaml": probe("gone", {
        "tag": "M",
        "remove_request_header": ["x-gone"],
        "add_request_header": {"x-added": "late"}})}
    with Upstream() as up, Nginx(server(
            proxied("/m", "gwf_extension default/gone", SEEN_BY_NGINX)),
            manifests, up) as ngx:
        hdrs = _upstream_headers(ngx, "/m", [
            ("X-Gone", "1"), ("Cookie", "a=1"),
            ("X-Gone", "2"), ("User-Agent", "agent/7"), ("X-Mid", "m"),
            ("Cookie", "b=2"), ("Referer", "http://r.example/"),
            ("X-Last", "z")])
        got = dict(hdrs)
        check(got.get("x-seen-ua") == "agent/7",
              "$http_user_agent at the upstream: %r" % hdrs)
        check(got.get("x-seen-cookie") == "a=1; b=2",
              "$http_cookie at the upstream: %r" % hdrs)
        check(got.get("x-seen-referer") == "http://r.example/",
              "$http_referer at the upstream: %r" % hdrs)
        check(not [v for k, v in hdrs if k == "x-gone"],
              "x-gone reached the upstream: %r" % hdrs)
        check([(k, v) for k, v in hdrs if k in ("x-mid", "x-last", "x-added")]
              == [("x-mid", "m"), ("x-last", "z"), ("x-added", "late")],
              "the lines after the removed ones: %r" % hdrs)
        assert_no_leaks(ngx)


def request_compaction_across_list_parts_keeps_order_and_fields():
    # nginx keeps request lines in parts of 20: with 60 lines and every
    # third removed, the compaction moves lines across parts, and the
    # fields nginx points at (User-Agent, Referer, the Cookie lines) sit
    # in the later parts.
    gone = ["x-g%02d" % i for i in range(0, 60, 3)]
    manifests = {"p.yaml": probe("many", {
        "tag": "P", "remove_request_header": gone})}
    sent = []
    for i in range(60):
        name = "x-g%02d" % i if i % 3 == 0 else "x-k%02d" % i
        sent.append((name, "v%02d" % i))
    sent[31] = ("Cookie", "c=31")
    sent[40] = ("X-Forwarded-For", "10.0.0.40")
    sent[44] = ("User-Agent", "agent/44")
    sent[47] = ("X-Forwarded-For", "10.0.0.47")
    sent[52] = ("Cookie", "c=52")
    sent[58] = ("Referer", "http://r.example/58")
    with Upstream() as up, Nginx(server(
            proxied("/p", "gwf_extension default/many", SEEN_BY_NGINX)),
            manifests, up) as ngx:
        hdrs = _upstream_headers(ngx, "/p", sent)
        got = dict(hdrs)
        check(got.get("x-seen-ua") == "agent/44",
              "$http_user_agent at the upstream: %r" % hdrs)
        check(got.get("x-seen-cookie") == "c=31; c=52",
              "$http_cookie at the upstream: %r" % hdrs)
        check(got.get("x-seen-referer") == "http://r.example/58",
              "$http_referer at the upstream: %r" % hdrs)
        check(got.get("x-seen-xff") == "10.0.0.40, 10.0.0.47",
              "$http_x_forwarded_for at the upstream: %r" % hdrs)
        kept = [(k.lower(), v) for k, v in sent
                if not k.lower().startswith("x-g")]
        check([(k, v) for k, v in hdrs if k.startswith("x-k") or
               k in ("cookie", "user-agent", "referer", "x-forwarded-for")]
              == kept,
              "the lines kept, in order: %r" % hdrs)
        assert_no_leaks(ngx)


def many_cookie_lines_after_a_removal_all_reach_http_cookie():
    # nginx's array of Cookie lines is made again from the compacted list
    # in one pass: 90 lines behind a removed one, in 5 list parts, all
    # read by $http_cookie in order (the echo upstream takes at most 100
    # header lines).
    manifests = {"p.yaml": probe("crumbs", {
        "tag": "C", "remove_request_header": ["x-gone"]})}
    sent = [("X-Gone", "1")] + [("Cookie", "c%03d=%d" % (i, i))
                                for i in range(90)]
    with Upstream() as up, Nginx(server(
            proxied("/c", "gwf_extension default/crumbs", SEEN_BY_NGINX)),
            manifests, up) as ngx:
        hdrs = _upstream_headers(ngx, "/c", sent)
        check(dict(hdrs).get("x-seen-cookie") ==
              "; ".join(v for _, v in sent[1:]),
              "$http_cookie at the upstream: %r" % dict(hdrs).get(
                  "x-seen-cookie"))
        check(not [v for k, v in hdrs if k == "x-gone"],
              "x-gone reached the upstream")
        assert_no_leaks(ngx)


def removed_range_is_not_honoured():
    # nginx keeps a pointer at the Range line (headers_in.range) that the
    # range filter reads: a Range a plugin removed must not cut the
    # response, as it would if only the line were dropped.
    manifests = {"p.yaml": probe("norange", {
        "tag": "R", "remove_request_header": ["range"]})}
    with Upstream() as up, Nginx(server(
            proxied("/r", "gwf_extension default/norange",
                    "proxy_force_ranges on"),
            proxied("/plain", "proxy_force_ranges on")),
            manifests, up) as ngx:
        r = request(ngx.port, "GET", "/plain", headers={"Range": "bytes=0-3"})
        expect_status(r, 206, "/plain with a Range (the control)")
        r = request(ngx.port, "GET", "/r", headers={"Range": "bytes=0-3"})
        expect_status(r, 200, "/r with the Range removed")
        check(r.header("content-range") is None,
              "content-range on the answer: %r" % r.headers)
        check(r.json()["path"] == "/r", "the whole body: %r" % r.body)
        assert_no_leaks(ngx)


def _policies_for_field_tests():
    """Policy `both`: a local limit of 1 and an ext-authz whose server is
    down (every check answers 503); policy `tf`: a field gwf lacks
    (transformation)."""
    return {"p.yaml": [
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "Backend", "metadata": {"name": "dead"},
         "spec": {"static": {"hosts": [{"host": "127.0.0.1", "port": 9}]}}},
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "GatewayExtension", "metadata": {"name": "authz"},
         "spec": {"extAuth": {"httpService": {"backendRef": {
             "name": "dead", "kind": "Backend"}}, "statusOnError": 503}}},
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "TrafficPolicy", "metadata": {"name": "both"},
         "spec": {"extAuth": {"extensionRef": {"name": "authz"}},
                  "rateLimit": {"local": {"tokenBucket": {
                      "maxTokens": 1, "fillInterval": "100s"}}}}},
        {"apiVersion": "gateway.kgateway.dev/v1alpha1",
         "kind": "TrafficPolicy", "metadata": {"name": "tf"},
         "spec": {"transformation": {"request": {}}}},
    ]}


def gwf_policy_with_fields_runs_only_those_fields():
    """`gwf_policy both rateLimit.local`: the local limit runs (1, then
    429) and the ext-authz of the same policy does not (no 503); the
    whole policy, for contrast, answers 503."""
    manifests = _policies_for_field_tests()
    del manifests["p.yaml"][3]
    with Upstream() as up, Nginx(server(
            proxied("/limit", "gwf_policy default/both rateLimit.local"),
            proxied("/whole", "gwf_policy default/both")),
            manifests, up) as ngx:
        expect_status(request(ngx.port, "GET", "/limit"), 200, "/limit 1")
        expect_status(request(ngx.port, "GET", "/limit"), 429, "/limit 2")
        expect_status(request(ngx.port, "GET", "/whole"), 503, "/whole")


def gwf_policy_unknown_or_repeated_field_is_refused():
    for directives, want in [
            (["gwf_policy default/both rateLimit.locale"],
             'unknown field "rateLimit.locale"'),
            (["gwf_policy default/both extAuth",
              "gwf_policy default/both extAuth"],
             'field "extAuth" is already given')]:
        ngx = Nginx(server(proxied("/", *directives)),
                    _policies_for_field_tests())
        res = ngx.test_config()
        out = res.stderr + res.stdout
        check(res.returncode != 0, "nginx -t passed with %r:\n%s"
              % (directives, out))
        check(want in out, "nginx -t does not say %r:\n%s" % (want, out))
        ngx.discard()


def manifests_check_referenced_ignores_documents_no_chain_uses():
    """A TrafficPolicy with a field gwf lacks fails nginx -t by default;
    with `gwf_manifests_check referenced` only what the chains use is
    checked, and the same set serves."""
    manifests = _policies_for_field_tests()
    ngx = Nginx(server(proxied("/", "gwf_policy default/both "
                                    "rateLimit.local")), manifests)
    res = ngx.test_config()
    check(res.returncode != 0 and
          "spec.transformation" in res.stderr + res.stdout,
          "nginx -t should refuse the unused tf policy by default:\n%s"
          % (res.stderr + res.stdout))
    ngx.discard()
    with Upstream() as up, Nginx(server(
            proxied("/", "gwf_policy default/both rateLimit.local")),
            manifests, up,
            http_extra="    gwf_manifests_check referenced;") as ngx:
        expect_status(request(ngx.port, "GET", "/"), 200, "/")
        expect_status(request(ngx.port, "GET", "/"), 429, "/ again")


CASES = {f.__name__: f for f in [
    direct_response_replies,
    nginx_t_fails_on_bad_manifest,
    nginx_t_fails_on_unknown_reference,
    nginx_t_fails_on_missing_plugin,
    pause_on_timer_then_resume,
    pause_on_fd_then_resume,
    pause_on_post_then_resume,
    pause_deadline_gives_504,
    request_headers_rewritten,
    response_headers_rewritten,
    request_body_rewritten,
    response_body_rewritten,
    local_reply_from_request_body,
    early_answers_skip_the_stream,
    prepared_values_are_the_requests_own,
    early_done_sends_the_changed_request_without_a_stream,
    removed_header_beside_a_hash_zero_header_is_not_forwarded,
    local_reply_from_response_headers,
    buffered_request_body_over_limit_gives_413,
    invalid_request_body_gives_400_without_leak,
    client_abort_while_paused,
    timers_of_one_delay_keep_their_own_deadlines,
    metrics_endpoint,
    two_workers_each_start_plugin,
    reload_takes_new_manifests,
    reload_with_gwf_metrics_takes_new_manifests,
    reload_with_bad_manifests_keeps_serving,
    fifo_manifest_is_refused_and_reload_keeps_serving,
    upstream_closing_mid_body_under_a_buffering_hook_gives_502,
    upstream_timing_out_mid_body_under_a_buffering_hook_gives_504,
    upstream_closing_mid_body_under_a_streaming_hook_ends_as_nginx_alone,
    local_reply_after_an_http09_answer_has_a_status_line,
    nginx_error_answer_is_not_from_the_upstream,
    forty_thousand_headers_are_applied_without_blocking_the_worker,
    request_headers_set_after_remove_and_over_several_values,
    request_headers_edited_past_the_scan_budget_stay_exact,
    response_headers_set_after_remove_and_over_several_values,
    special_headers_removed_on_request_and_response,
    request_fields_follow_headers_moved_by_a_removal,
    request_compaction_across_list_parts_keeps_order_and_fields,
    many_cookie_lines_after_a_removal_all_reach_http_cookie,
    removed_range_is_not_honoured,
    gwf_policy_with_fields_runs_only_those_fields,
    gwf_policy_unknown_or_repeated_field_is_refused,
    manifests_check_referenced_ignores_documents_no_chain_uses,
]}

if __name__ == "__main__":
    sys.exit(run_case(CASES, sys.argv))
